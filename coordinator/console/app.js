/*  coordinator/console/app.js: the operator console (plain JavaScript,
 *  no library, no build step), over the JSON API of docs/CONSOLE.md.
 *
 *  One page, five views chosen by the URL's hash:
 *
 *    #/overview            counters polled from /api/v1/overview every
 *                          second; outcomes and latency of the last
 *                          minutes from /api/v1/series drawn as SVG
 *    #/transactions?state=S&min_age_ms=N&participant=P&prefix=G&offset=N&limit=N
 *                          /api/v1/transactions with those filters; pages
 *    #/tx/GID              /api/v1/transactions/GID: participants, votes,
 *                          acks, timeline; the actions retry / resolve
 *    #/agents              /api/v1/agents: up/down, heartbeat, and what
 *                          each database holds prepared against the log
 *    #/audit               /api/v1/audit: operators' resolves and retries
 *
 *  Life of a view: route() tears the old one down (its poll timer is
 *  cleared, its pending answers are dropped by generation number), builds
 *  the new skeleton once, then calls its refresh() now and again after
 *  each answer (a timeout chain, so polls never overlap).  Refreshes only
 *  replace data nodes, so what the operator types (a reason) survives.
 *
 *  Rules kept everywhere:
 *    - every string that comes from the API reaches the page as a text
 *      node (el() / textContent); innerHTML is never used, so a gid, a
 *      statement or an error holding "<script>" shows as those characters;
 *    - the admin token is typed by the operator, kept in sessionStorage
 *      (this tab only) and sent only as the X-TPC-Token header; requests
 *      carry no cookies (credentials: "omit");
 *    - actions are enabled only when the coordinator says the token is
 *      good (writable) and the transaction's state allows them, and each
 *      needs a reason;
 *    - no inline script or style (the server's CSP is default-src 'self'):
 *      looks come from style.css classes, charts are SVG elements.
 *
 *  Ids and data-* attributes are stable; tests/console/
 *  test_console_browser.py relies on them (ov-committed, ov-agents-down,
 *  tx-table, tx-row-GID, tl-list, reason, token, btn-resolve-commit,
 *  audit-table, agent-row-NAME ...).
 */
(function () {
    'use strict';

    var API = '/api/v1';
    var TOKEN_KEY = 'tpc-console-token';
    var SVG_NS = 'http://www.w3.org/2000/svg';
    var STATES = ['active', 'preparing', 'onephase', 'committing',
                  'aborting', 'precommitting', 'ended'];
    var PAGE_SIZES = [25, 50, 100, 500];

    /* the page's one piece of state */
    var app = {
        gen: 0,             /* bumped per route: stale answers are dropped */
        timer: null,        /* the current view's next poll */
        writable: false,    /* the coordinator accepted our token */
        onWritable: null    /* the current view's hook when that changes */
    };

    /* ---------------------------------------------------------------- */
    /*  DOM helpers: text only, never markup                             */

    /*  el('td', {id: 'x', 'class': 'y', 'data-z': 1}, 'text', node ...)
     *  Children that are strings or numbers become text nodes; null and
     *  undefined are skipped.                                           */
    function el(tag, attrs) {
        var node = document.createElement(tag);
        s_attrs(node, attrs);
        for (var i = 2; i < arguments.length; i++)
            s_append(node, arguments[i]);
        return node;
    }

    function svg(tag, attrs) {
        var node = document.createElementNS(SVG_NS, tag);
        s_attrs(node, attrs);
        for (var i = 2; i < arguments.length; i++)
            s_append(node, arguments[i]);
        return node;
    }

    function s_attrs(node, attrs) {
        if (!attrs)
            return;
        Object.keys(attrs).forEach(function (k) {
            var v = attrs[k];
            if (v === null || v === undefined || v === false)
                return;
            node.setAttribute(k, v === true ? '' : String(v));
        });
    }

    function s_append(node, kid) {
        if (kid === null || kid === undefined)
            return;
        if (Array.isArray(kid)) {
            kid.forEach(function (k) { s_append(node, k); });
            return;
        }
        if (typeof kid === 'object' && kid.nodeType)
            node.appendChild(kid);
        else
            node.appendChild(document.createTextNode(String(kid)));
    }

    function setText(id, value) {
        var node = document.getElementById(id);
        if (node)
            node.textContent = value === null || value === undefined
                               ? '' : String(value);
        return node;
    }

    function str(v) {
        return v === null || v === undefined ? '' : String(v);
    }

    /* ---------------------------------------------------------------- */
    /*  Formatting                                                       */

    function fmtMs(ms) {
        if (ms === null || ms === undefined || isNaN(ms))
            return '–';
        ms = Number(ms);
        if (ms < 1000)
            return Math.round(ms) + ' ms';
        if (ms < 60000)
            return (ms % 1000 === 0 ? String(ms / 1000)
                                    : (ms / 1000).toFixed(1)) + ' s';
        if (ms < 3600000)
            return Math.floor(ms / 60000) + ' min'
                   + (ms % 60000 >= 1000 ? ' ' + Math.floor((ms % 60000)
                                                            / 1000) + ' s'
                                         : '');
        return Math.floor(ms / 3600000) + ' h '
               + Math.floor((ms % 3600000) / 60000) + ' min';
    }

    function fmtRate(v) {
        if (v === null || v === undefined || isNaN(v))
            return '–';
        v = Number(v);
        return v >= 100 ? v.toFixed(0) : v.toFixed(1);
    }

    function fmtCount(v) {
        if (v === null || v === undefined || isNaN(v))
            return '–';
        return Number(v).toLocaleString('en-US');
    }

    function fmtTime(unixMs) {
        if (!unixMs)
            return '–';
        var d = new Date(Number(unixMs));
        return isNaN(d.getTime()) ? str(unixMs) : d.toISOString()
            .replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
    }

    function txHref(gid) {
        return '#/tx/' + encodeURIComponent(gid);
    }

    function gidLink(gid, attrs) {
        var a = el('a', attrs || {}, str(gid));
        a.setAttribute('href', txHref(str(gid)));
        a.setAttribute('data-gid', str(gid));
        return a;
    }

    /* ---------------------------------------------------------------- */
    /*  The API                                                          */

    function ApiError(status, message) {
        this.status = status;
        this.message = message;
    }

    function token() {
        try {
            return sessionStorage.getItem(TOKEN_KEY) || '';
        } catch (e) {
            return '';
        }
    }

    /*  GET PATH, or POST BODY (an object, sent as JSON) to PATH.
     *  Resolves to the parsed JSON; rejects with an ApiError whose
     *  message is the server's {"error": ...} text when it gave one.    */
    function api(path, body) {
        var headers = { 'Accept': 'application/json' };
        var tok = token();
        if (tok)
            headers['X-TPC-Token'] = tok;
        var init = { method: 'GET', headers: headers, cache: 'no-store',
                     credentials: 'omit' };
        if (body !== undefined) {
            init.method = 'POST';
            headers['Content-Type'] = 'application/json';
            init.body = JSON.stringify(body);
        }
        return fetch(API + path, init).then(function (res) {
            setConn(true);
            return res.text().then(function (txt) {
                var json = null;
                try {
                    json = txt ? JSON.parse(txt) : null;
                } catch (e) {
                    json = null;
                }
                if (!res.ok)
                    throw new ApiError(res.status, json && json.error
                                       ? str(json.error)
                                       : 'HTTP ' + res.status);
                if (json === null)
                    throw new ApiError(res.status, 'not JSON: ' + path);
                return json;
            });
        }, function (e) {
            setConn(false);
            throw new ApiError(0, 'coordinator unreachable ('
                               + str(e && e.message) + ')');
        });
    }

    function setConn(ok) {
        var node = document.getElementById('conn-status');
        if (!node || node.getAttribute('data-ok') === String(ok))
            return;
        node.textContent = ok ? 'connected' : 'unreachable';
        node.className = 'status ' + (ok ? 'ok' : 'bad');
        node.setAttribute('data-ok', String(ok));
    }

    function setWritable(w, refused) {
        var node = document.getElementById('writable');
        w = !!w;
        node.textContent = w ? 'writable' : refused ? 'token refused'
                                                    : 'read-only';
        node.className = 'badge ' + (w ? 'rw' : refused ? 'bad' : 'ro');
        node.setAttribute('data-writable', String(w));
        if (w !== app.writable) {
            app.writable = w;
            if (app.onWritable)
                app.onWritable();
        }
    }

    function checkToken() {
        return api('/whoami').then(function (r) {
            setWritable(r.writable, !r.writable && token() !== '');
        }, function (e) {
            setWritable(false, token() !== ''
                               && (e.status === 401 || e.status === 403));
        });
    }

    /* ---------------------------------------------------------------- */
    /*  Routing                                                          */

    function parseHash() {
        var h = location.hash.replace(/^#\/?/, '');
        var q = '';
        var i = h.indexOf('?');
        if (i >= 0) {
            q = h.slice(i + 1);
            h = h.slice(0, i);
        }
        var parts = h.split('/').filter(Boolean).map(function (p) {
            try {
                return decodeURIComponent(p);
            } catch (e) {
                return p;
            }
        });
        return { name: parts[0] || 'overview', arg: parts[1] || '',
                 params: new URLSearchParams(q) };
    }

    var VIEWS = {};

    function route() {
        var r = parseHash();
        var view = VIEWS[r.name] || VIEWS.overview;
        app.gen++;
        clearTimeout(app.timer);
        app.timer = null;
        app.onWritable = null;
        var main = document.getElementById('view');
        main.replaceChildren();
        main.setAttribute('data-view', view.name);
        var nav = document.querySelectorAll('#nav a');
        for (var i = 0; i < nav.length; i++)
            nav[i].classList.toggle('current',
                                    nav[i].id === 'nav-' + view.nav);
        document.title = 'tpc console: ' + view.title(r);
        var refresh = view.mount(main, r);
        s_poll(app.gen, refresh, view.period);
    }

    /*  Call REFRESH now and PERIOD ms after each answer, while the route
     *  of generation GEN is current.  REFRESH returns a promise.        */
    function s_poll(gen, refresh, period) {
        if (gen !== app.gen)
            return;
        refresh(gen).catch(function () { /* shown by the view */ })
            .then(function () {
                if (gen === app.gen && period)
                    app.timer = setTimeout(function () {
                        s_poll(gen, refresh, period);
                    }, period);
            });
    }

    function current(gen) {
        return gen === app.gen;
    }

    function errorBox(id) {
        return el('p', { id: id, 'class': 'error', hidden: true });
    }

    function showError(id, err) {
        var node = document.getElementById(id);
        if (!node)
            return;
        if (err) {
            node.textContent = err.message || str(err);
            node.hidden = false;
        } else {
            node.textContent = '';
            node.hidden = true;
        }
    }

    /* ---------------------------------------------------------------- */
    /*  Overview                                                         */

    function card(id, label, cls) {
        return el('div', { 'class': 'card' + (cls ? ' ' + cls : ''),
                           id: id + '-card' },
                  el('div', { 'class': 'card-label' }, label),
                  el('div', { 'class': 'card-value', id: id }, '–'));
    }

    VIEWS.overview = {
        name: 'overview', nav: 'overview', period: 1000,
        title: function () { return 'overview'; },
        mount: function (main) {
            main.appendChild(el('h1', null, 'Overview'));
            main.appendChild(errorBox('ov-error'));
            main.appendChild(el('div', { 'class': 'cards' },
                card('ov-tps-committed', 'committed / s'),
                card('ov-tps-aborted', 'aborted / s'),
                card('ov-in-flight', 'in flight'),
                card('ov-in-doubt', 'in doubt'),
                card('ov-oldest-in-doubt', 'oldest in doubt'),
                card('ov-agents-up', 'agents up'),
                card('ov-agents-down', 'agents down'),
                card('ov-committed', 'committed'),
                card('ov-aborted', 'aborted')));
            main.appendChild(el('p', { id: 'ov-info', 'class': 'muted' }));
            main.appendChild(el('div', { 'class': 'charts' },
                el('div', null,
                   el('h2', null, 'Outcomes per second'),
                   el('div', { id: 'ov-chart-outcomes', 'class': 'chart' })),
                el('div', null,
                   el('h2', null, 'Latency, p50 and p99 (ms)'),
                   el('div', { id: 'ov-chart-latency', 'class': 'chart' }))));
            var tick = 0;
            return function (gen) {
                var seriesToo = tick++ % 2 === 0;   /* every 2 s */
                var p = api('/overview').then(function (o) {
                    if (current(gen))
                        s_overview_show(o);
                });
                if (seriesToo)
                    p = Promise.all([p, api('/series').then(function (s) {
                        if (current(gen))
                            s_series_show(s);
                    })]);
                return p.then(function () {
                    showError('ov-error', null);
                }, function (e) {
                    if (current(gen))
                        showError('ov-error', e);
                    throw e;
                });
            };
        }
    };

    function s_flag(id, on) {
        var c = document.getElementById(id + '-card');
        if (c)
            c.classList.toggle('alert', !!on);
    }

    function s_overview_show(o) {
        setText('ov-tps-committed', fmtRate(o.tps_committed));
        setText('ov-tps-aborted', fmtRate(o.tps_aborted));
        setText('ov-in-flight', fmtCount(o.in_flight));
        setText('ov-in-doubt', fmtCount(o.in_doubt));
        setText('ov-oldest-in-doubt', o.in_doubt ? fmtMs(o.oldest_in_doubt_ms)
                                                 : '–');
        setText('ov-agents-up', fmtCount(o.agents_up));
        setText('ov-agents-down', fmtCount(o.agents_down));
        setText('ov-committed', fmtCount(o.committed));
        setText('ov-aborted', fmtCount(o.aborted));
        /* raw numbers for scripts and tests */
        ['committed', 'aborted', 'in_flight', 'in_doubt', 'agents_up',
         'agents_down'].forEach(function (k) {
            var n = document.getElementById('ov-' + k.replace('_', '-'));
            if (n)
                n.setAttribute('data-value', str(o[k]));
        });
        s_flag('ov-in-doubt', o.in_doubt > 0);
        s_flag('ov-oldest-in-doubt', o.in_doubt > 0);
        s_flag('ov-agents-down', o.agents_down > 0);
        setText('ov-info', 'tpc ' + str(o.version) + ' · coordinator '
                + str(o.coordinator_id) + ' · epoch ' + str(o.epoch)
                + ' · up ' + fmtMs(o.uptime_ms));
        setText('coord-id', str(o.coordinator_id));
        if (typeof o.writable === 'boolean')
            setWritable(o.writable, !o.writable && token() !== '');
    }

    function s_series_show(s) {
        var pts = (s && Array.isArray(s.points)) ? s.points : [];
        var step = Number(s.interval_ms) || 1000;
        var perSec = 1000 / step;
        /* the last minute at least, up to the 5 minutes the API keeps */
        var win = 60000;
        pts.forEach(function (p) {
            if (p.t_ms_ago > win)
                win = p.t_ms_ago;
        });
        win = Math.ceil(win / 60000) * 60000;
        function line(key, scale) {
            return pts.map(function (p) {
                var v = p[key];
                return { x: Number(p.t_ms_ago),
                         y: v === null || v === undefined ? null
                                                          : Number(v) * scale };
            });
        }
        drawChart(document.getElementById('ov-chart-outcomes'), win, step, [
            { name: 'committed', cls: 'committed', pts: line('committed',
                                                             perSec) },
            { name: 'aborted', cls: 'aborted', pts: line('aborted', perSec) }
        ], '/s', true);
        drawChart(document.getElementById('ov-chart-latency'), win, step, [
            { name: 'p50', cls: 'p50', pts: line('p50_ms', 1) },
            { name: 'p99', cls: 'p99', pts: line('p99_ms', 1) }
        ], ' ms', false);
    }

    /*  SERIES ({name, cls, pts: [{x: ms ago, y}]}) over the last WIN ms,
     *  one point per STEP ms, as one SVG in BOX (its old chart replaced):
     *  STACKED bars (the series add up) or lines with a dot per point.  */
    function drawChart(box, win, step, series, unit, stacked) {
        if (!box)
            return;
        var W = 600, H = 220, L = 56, R = 8, T = 8, B = 22;
        var max = 0, n = 0, sums = {};
        series.forEach(function (s) {
            s.pts.forEach(function (p) {
                if (p.y === null || isNaN(p.y))
                    return;
                sums[p.x] = (stacked ? sums[p.x] || 0 : 0) + p.y;
                if (sums[p.x] > max)
                    max = sums[p.x];
                if (p.y > max)
                    max = p.y;
            });
            n = Math.max(n, s.pts.length);
        });
        max = s_nice(max);
        var chart = svg('svg', { viewBox: '0 0 ' + W + ' ' + H,
                                 'class': 'chart-svg', role: 'img',
                                 'data-points': n,
                                 'aria-label': series.map(function (s) {
                                     return s.name;
                                 }).join(', ') });
        function X(ago) {
            return L + (W - L - R) * (1 - Math.min(ago, win) / win);
        }
        function Y(v) {
            return T + (H - T - B) * (1 - v / max);
        }
        [0, 0.5, 1].forEach(function (f) {
            var y = Y(max * f);
            chart.appendChild(svg('line', { x1: L, x2: W - R, y1: y, y2: y,
                                            'class': 'grid' }));
            chart.appendChild(svg('text', { x: L - 4, y: y + 4,
                                            'class': 'axis',
                                            'text-anchor': 'end' },
                                  s_round(max * f) + unit));
        });
        [win, win / 2, 0].forEach(function (ago, i) {
            chart.appendChild(svg('text', {
                x: X(ago), y: H - 6, 'class': 'axis',
                'text-anchor': i === 0 ? 'start' : i === 2 ? 'end' : 'middle'
            }, ago ? '-' + fmtMs(ago) : 'now'));
        });
        var base = {};      /* stacked: each interval's height so far */
        var bw = Math.max(1, (W - L - R) * step / win - 1);
        series.forEach(function (s) {
            if (!stacked)
                return;
            s.pts.forEach(function (p) {
                if (p.y === null || isNaN(p.y) || !(p.y > 0))
                    return;
                var below = base[p.x] || 0;
                base[p.x] = below + p.y;
                chart.appendChild(svg('rect', {
                    x: (X(p.x) - bw).toFixed(1), width: bw.toFixed(1),
                    y: Y(below + p.y).toFixed(1),
                    height: Math.max(0.5, Y(below) - Y(below + p.y))
                        .toFixed(1),
                    'class': 'bar ' + s.cls }));
            });
        });
        series.forEach(function (s) {
            if (stacked)
                return;
            var d = '', pen = false;
            s.pts.slice().sort(function (a, b) { return b.x - a.x; })
                .forEach(function (p) {
                    if (p.y === null || isNaN(p.y) || isNaN(p.x)) {
                        pen = false;
                        return;
                    }
                    d += (pen ? 'L' : 'M') + X(p.x).toFixed(1) + ' '
                         + Y(p.y).toFixed(1);
                    pen = true;
                });
            if (d)
                chart.appendChild(svg('path', { d: d, 'class': 'line '
                                                + s.cls }));
            if (s.pts.length <= 120)
                s.pts.forEach(function (p) {
                    if (p.y !== null && !isNaN(p.y))
                        chart.appendChild(svg('circle', {
                            cx: X(p.x).toFixed(1), cy: Y(p.y).toFixed(1),
                            r: 2, 'class': 'dot ' + s.cls }));
                });
        });
        var legend = el('div', { 'class': 'legend' });
        series.forEach(function (s) {
            var last = null;
            s.pts.forEach(function (p) {
                if (p.y !== null && (last === null || p.x < last.x))
                    last = p;
            });
            legend.appendChild(el('span', { 'class': 'key ' + s.cls },
                                  s.name + (last ? ' ' + s_round(last.y)
                                                   + unit : '')));
        });
        box.replaceChildren(chart, legend);
    }

    function s_nice(v) {
        if (!(v > 0))
            return 1;
        var p = Math.pow(10, Math.floor(Math.log10(v)));
        var steps = [1, 2, 2.5, 5, 10];
        for (var i = 0; i < steps.length; i++)
            if (v <= steps[i] * p)
                return steps[i] * p;
        return 10 * p;
    }

    function s_round(v) {
        return v >= 10 ? Math.round(v) : Math.round(v * 10) / 10;
    }

    /* ---------------------------------------------------------------- */
    /*  Transactions                                                     */

    var TX_FILTERS = ['state', 'min_age_ms', 'participant', 'prefix'];

    VIEWS.transactions = {
        name: 'transactions', nav: 'transactions', period: 2000,
        title: function () { return 'transactions'; },
        mount: function (main, r) {
            var q = r.params;
            var limit = Number(q.get('limit')) || 50;
            var offset = Math.max(0, Number(q.get('offset')) || 0);
            main.appendChild(el('h1', null, 'Transactions'));
            var stateSel = el('select', { id: 'tx-filter-state',
                                          name: 'state' },
                              el('option', { value: '' }, 'any'));
            STATES.forEach(function (s) {
                stateSel.appendChild(el('option', { value: s }, s));
            });
            if (q.get('state') && STATES.indexOf(q.get('state')) < 0)
                stateSel.appendChild(el('option', { value: q.get('state') },
                                        q.get('state')));
            stateSel.value = q.get('state') || '';
            var ageIn = el('input', { id: 'tx-filter-min-age', type: 'number',
                                      min: 0, step: 'any', name: 'min_age_s',
                                      placeholder: 'seconds' });
            if (q.get('min_age_ms'))
                ageIn.value = String(Number(q.get('min_age_ms')) / 1000);
            var partIn = el('input', { id: 'tx-filter-participant',
                                       name: 'participant',
                                       placeholder: 'db1' });
            partIn.value = q.get('participant') || '';
            var prefIn = el('input', { id: 'tx-filter-prefix', name: 'prefix',
                                       placeholder: 'tpc_c1_' });
            prefIn.value = q.get('prefix') || '';
            var sizeSel = el('select', { id: 'tx-filter-limit',
                                         name: 'limit' });
            PAGE_SIZES.forEach(function (n) {
                sizeSel.appendChild(el('option', { value: n }, n));
            });
            sizeSel.value = String(PAGE_SIZES.indexOf(limit) >= 0 ? limit
                                                                  : 50);
            var form = el('form', { id: 'tx-filter', 'class': 'filters' },
                          el('label', null, 'state ', stateSel),
                          el('label', null, 'min age (s) ', ageIn),
                          el('label', null, 'participant ', partIn),
                          el('label', null, 'gid prefix ', prefIn),
                          el('label', null, 'per page ', sizeSel),
                          el('button', { id: 'tx-apply', type: 'submit' },
                             'apply'),
                          el('button', { id: 'tx-reset', type: 'button' },
                             'reset'));
            form.addEventListener('submit', function (ev) {
                ev.preventDefault();
                var p = new URLSearchParams();
                if (stateSel.value)
                    p.set('state', stateSel.value);
                if (ageIn.value.trim() !== '')
                    p.set('min_age_ms', String(Math.round(
                        Number(ageIn.value) * 1000)));
                if (partIn.value.trim())
                    p.set('participant', partIn.value.trim());
                if (prefIn.value.trim())
                    p.set('prefix', prefIn.value.trim());
                if (sizeSel.value !== '50')
                    p.set('limit', sizeSel.value);
                s_go_tx(p);
            });
            form.querySelector('#tx-reset').addEventListener('click',
                function () { s_go_tx(new URLSearchParams()); });
            main.appendChild(form);
            main.appendChild(errorBox('tx-error'));
            var tbody = el('tbody', { id: 'tx-body' });
            main.appendChild(el('table', { id: 'tx-table', 'class': 'grid' },
                el('thead', null, el('tr', null,
                    el('th', null, 'gid'), el('th', null, 'state'),
                    el('th', null, 'outcome'), el('th', null, 'age'),
                    el('th', null, 'participants'),
                    el('th', null, 'needs'))),
                tbody));
            var prev = el('button', { id: 'tx-prev', type: 'button' },
                          '‹ previous');
            var next = el('button', { id: 'tx-next', type: 'button' },
                          'next ›');
            main.appendChild(el('div', { 'class': 'pager' }, prev,
                                el('span', { id: 'tx-range' }), next));
            function page(to) {
                var p = new URLSearchParams(q.toString());
                if (to > 0)
                    p.set('offset', String(to));
                else
                    p.delete('offset');
                s_go_tx(p);
            }
            prev.addEventListener('click', function () {
                page(Math.max(0, offset - limit));
            });
            next.addEventListener('click', function () {
                page(offset + limit);
            });
            return function (gen) {
                var p = new URLSearchParams();
                TX_FILTERS.forEach(function (k) {
                    if (q.get(k))
                        p.set(k, q.get(k));
                });
                p.set('limit', String(limit));
                p.set('offset', String(offset));
                return api('/transactions?' + p.toString())
                    .then(function (res) {
                        if (!current(gen))
                            return;
                        showError('tx-error', null);
                        s_tx_rows(tbody, res.items || []);
                        var total = Number(res.total) || 0;
                        var items = (res.items || []).length;
                        setText('tx-range', total === 0 ? 'none'
                                : (offset + 1) + '–' + (offset + items)
                                  + ' of ' + total);
                        document.getElementById('tx-range')
                            .setAttribute('data-total', String(total));
                        prev.disabled = offset === 0;
                        next.disabled = offset + items >= total;
                    }, function (e) {
                        if (current(gen)) {
                            showError('tx-error', e);
                            tbody.replaceChildren();
                        }
                        throw e;
                    });
            };
        }
    };

    function s_go_tx(params) {
        var qs = params.toString();
        location.hash = '#/transactions' + (qs ? '?' + qs : '');
    }

    function s_tx_rows(tbody, items) {
        var rows = items.map(function (t) {
            var needs = [];
            if (t.in_doubt)
                needs.push(el('span', { 'class': 'tag doubt' }, 'in doubt'));
            if (t.waiting)
                needs.push(el('span', { 'class': 'tag wait' }, 'waiting'));
            return el('tr', { id: 'tx-row-' + str(t.gid),
                              'data-gid': str(t.gid),
                              'data-state': str(t.state),
                              'data-in-doubt': String(!!t.in_doubt),
                              'data-waiting': String(!!t.waiting) },
                      el('td', null, gidLink(t.gid)),
                      el('td', null, el('span', { 'class': 'state '
                                                  + str(t.state) },
                                        str(t.state))),
                      el('td', null, str(t.outcome || '–')),
                      el('td', { 'class': 'num' }, fmtMs(t.age_ms)),
                      el('td', null, (t.participants || []).map(str)
                                         .join(', ')),
                      el('td', null, needs));
        });
        if (!rows.length)
            rows.push(el('tr', { 'class': 'empty' },
                         el('td', { colspan: 6 },
                            'no transaction matches')));
        tbody.replaceChildren.apply(tbody, rows);
    }

    /* ---------------------------------------------------------------- */
    /*  One transaction                                                  */

    VIEWS.tx = {
        name: 'tx', nav: 'transactions', period: 2000,
        title: function (r) { return r.arg; },
        mount: function (main, r) {
            var gid = r.arg;
            var gen0 = app.gen;         /* this view's generation */
            var known = null;           /* the last detail we got */
            var busy = false;           /* a POST is under way */
            main.appendChild(el('p', { 'class': 'crumbs' },
                                el('a', { href: '#/transactions' },
                                   '‹ transactions')));
            main.appendChild(el('h1', null, 'Transaction ',
                                el('span', { id: 'txd-gid', 'class': 'mono' },
                                   gid)));
            main.appendChild(errorBox('txd-error'));
            main.appendChild(el('dl', { id: 'txd-facts', 'class': 'facts' },
                el('dt', null, 'state'), el('dd', { id: 'txd-state' }, '–'),
                el('dt', null, 'outcome'), el('dd', { id: 'txd-outcome' },
                                                  '–'),
                el('dt', null, 'age'), el('dd', { id: 'txd-age' }, '–'),
                el('dt', null, 'needs'), el('dd', { id: 'txd-needs' }, '–'),
                el('dt', null, 'reason'), el('dd', { id: 'txd-reason',
                                                     'class': 'reason' },
                                                 '–')));

            var reason = el('textarea', { id: 'reason', rows: 2,
                                          maxlength: 128,
                                          placeholder: 'why (required, '
                                          + 'kept in the log and the audit '
                                          + 'trail)' });
            var bRetry = el('button', { id: 'btn-retry', type: 'button',
                                        disabled: true }, 'retry now');
            var bCommit = el('button', { id: 'btn-resolve-commit',
                                         type: 'button', disabled: true,
                                         'class': 'danger' },
                             'resolve commit');
            var bAbort = el('button', { id: 'btn-resolve-abort',
                                        type: 'button', disabled: true,
                                        'class': 'danger' },
                            'resolve abort');
            main.appendChild(el('section', { id: 'actions', 'class': 'box' },
                el('h2', null, 'Actions'),
                el('label', { 'for': 'reason' }, 'reason'), reason,
                el('div', { 'class': 'buttons' }, bRetry, bCommit, bAbort),
                el('p', { id: 'action-hint', 'class': 'muted' }),
                el('p', { id: 'action-result', hidden: true })));

            var parts = el('tbody', { id: 'txd-parts-body' });
            main.appendChild(el('h2', null, 'Participants'));
            main.appendChild(el('table', { id: 'txd-parts', 'class': 'grid' },
                el('thead', null, el('tr', null,
                    el('th', null, 'participant'), el('th', null, 'vote'),
                    el('th', null, 'reason'), el('th', null, 'acked'))),
                parts));
            var tl = el('ol', { id: 'tl-list', 'class': 'timeline' });
            main.appendChild(el('h2', null, 'Timeline'));
            main.appendChild(tl);

            function flags(t) {
                /* the detail's own flags when the server gives them;
                 * else the state tells */
                var inDoubt = typeof t.in_doubt === 'boolean' ? t.in_doubt
                    : t.state === 'committing' || t.state === 'precommitting'
                      || (t.state === 'preparing'
                          && (t.participants || []).some(function (p) {
                              return p.vote === 'yes';
                          }));
                var waiting = typeof t.waiting === 'boolean' ? t.waiting
                                                              : false;
                /* retry resends a decision on backoff: the server says
                 * when one waits (retryable); else go by "waiting" */
                var retry = typeof t.retryable === 'boolean' ? t.retryable
                                                              : waiting;
                return { inDoubt: inDoubt, waiting: waiting, retry: retry };
            }

            function update() {
                var why = '';
                var f = known ? flags(known) : { inDoubt: false,
                                                 waiting: false,
                                                 retry: false };
                var hasReason = reason.value.trim() !== '';
                if (!app.writable)
                    why = 'Read-only: paste the admin token at the top to '
                          + 'act.';
                else if (!known)
                    why = 'Unknown transaction.';
                else if (!f.inDoubt && !f.retry)
                    why = 'Nothing to do: the transaction is neither in '
                          + 'doubt nor waiting.';
                else if (!hasReason)
                    why = 'Type a reason to enable the actions.';
                var ok = app.writable && known && hasReason && !busy;
                bRetry.disabled = !(ok && f.retry);
                bCommit.disabled = !(ok && f.inDoubt);
                bAbort.disabled = !(ok && f.inDoubt);
                setText('action-hint', why);
            }
            app.onWritable = update;
            reason.addEventListener('input', update);

            function act(what, body) {
                if (!reason.value.trim())
                    return;
                busy = true;
                update();
                var res = document.getElementById('action-result');
                res.hidden = false;
                res.className = 'pending';
                res.textContent = what + '…';
                api('/transactions/' + encodeURIComponent(gid) + '/'
                    + body.path, body.json).then(function (ans) {
                    res.className = 'ok';
                    res.textContent = what + ': done'
                        + (ans && ans.outcome ? ' (outcome '
                           + str(ans.outcome) + ')' : '')
                        + (ans && ans.error ? ': ' + str(ans.error) : '');
                    reason.value = '';
                }, function (e) {
                    res.className = 'error';
                    res.textContent = what + ' refused ('
                        + (e.status || 'no answer') + '): ' + e.message;
                }).then(function () {
                    busy = false;
                    refresh(gen0).catch(function () {});
                });
            }
            bRetry.addEventListener('click', function () {
                act('retry', { path: 'retry',
                               json: { reason: reason.value.trim() } });
            });
            bCommit.addEventListener('click', function () {
                act('resolve commit', { path: 'resolve',
                    json: { outcome: 'commit',
                            reason: reason.value.trim() } });
            });
            bAbort.addEventListener('click', function () {
                act('resolve abort', { path: 'resolve',
                    json: { outcome: 'abort',
                            reason: reason.value.trim() } });
            });

            function refresh(gen) {
                return api('/transactions/' + encodeURIComponent(gid))
                    .then(function (t) {
                        if (!current(gen))
                            return;
                        known = t;
                        showError('txd-error', null);
                        s_detail_show(t, flags(t), parts, tl);
                        update();
                    }, function (e) {
                        if (!current(gen))
                            return;
                        if (e.status === 404 || e.status === 400) {
                            known = null;
                            setText('txd-state', '–');
                        }
                        showError('txd-error', e);
                        update();
                        throw e;
                    });
            }
            update();
            return refresh;
        }
    };

    function s_detail_show(t, f, parts, tl) {
        var st = setText('txd-state', str(t.state));
        st.className = 'state ' + str(t.state);
        setText('txd-outcome', str(t.outcome || 'not decided'));
        setText('txd-age', fmtMs(t.age_ms));
        setText('txd-reason', str(t.reason) || '–');
        var needs = [];
        if (f.inDoubt)
            needs.push('in doubt');
        if (f.waiting)
            needs.push('waiting');
        var nd = setText('txd-needs', needs.length ? needs.join(', ')
                                                   : 'nothing');
        nd.setAttribute('data-in-doubt', String(f.inDoubt));
        nd.setAttribute('data-waiting', String(f.waiting));
        nd.setAttribute('data-retryable', String(f.retry));
        var rows = (t.participants || []).map(function (p) {
            return el('tr', { id: 'part-row-' + str(p.name),
                              'data-name': str(p.name),
                              'data-vote': str(p.vote),
                              'data-acked': String(!!p.acked) },
                      el('td', null, str(p.name)),
                      el('td', null, el('span', { 'class': 'vote '
                                                  + str(p.vote || 'none') },
                                        str(p.vote || '–'))),
                      el('td', { 'class': 'reason' }, str(p.reason)),
                      el('td', null, p.acked ? 'yes' : 'no'));
        });
        if (!rows.length)
            rows.push(el('tr', { 'class': 'empty' },
                         el('td', { colspan: 4 }, t.state === 'ended'
                            ? 'ended: the coordinator keeps only its outcome '
                              + 'and timings'
                            : 'no participant yet')));
        parts.replaceChildren.apply(parts, rows);
        var items = (t.timeline || []).map(function (e, i) {
            return el('li', { 'data-event': str(e.event), 'data-i': i,
                              'class': 'ev ' + str(e.event) },
                      el('span', { 'class': 'tl-t' },
                         '+' + fmtMs(e.t_ms)),
                      el('span', { 'class': 'tl-ev' }, str(e.event)),
                      el('span', { 'class': 'tl-detail' }, str(e.detail)));
        });
        if (!items.length)
            items.push(el('li', { 'class': 'empty' }, 'no events'));
        tl.replaceChildren.apply(tl, items);
    }

    /* ---------------------------------------------------------------- */
    /*  Agents                                                           */

    VIEWS.agents = {
        name: 'agents', nav: 'agents', period: 2000,
        title: function () { return 'agents'; },
        mount: function (main) {
            main.appendChild(el('h1', null, 'Agents'));
            main.appendChild(errorBox('agents-error'));
            var tbody = el('tbody', { id: 'agents-body' });
            main.appendChild(el('table', { id: 'agents-table',
                                           'class': 'grid' },
                el('thead', null, el('tr', null,
                    el('th', null, 'agent'), el('th', null, 'status'),
                    el('th', null, 'last heartbeat'),
                    el('th', null, 'address'), el('th', null, 'in flight'),
                    el('th', null, 'prepared in its database'),
                    el('th', null, 'as of'))),
                tbody));
            main.appendChild(el('h2', null, 'Database against log'));
            main.appendChild(el('p', { 'class': 'muted' },
                'What each database reports prepared (the agent\'s '
                + 'RECOVER list) compared with the coordinator\'s log.'));
            var cmp = el('div', { id: 'agents-cmp' });
            main.appendChild(cmp);
            return function (gen) {
                return api('/agents').then(function (res) {
                    if (!current(gen))
                        return;
                    showError('agents-error', null);
                    s_agents_show(tbody, cmp, res.items || []);
                }, function (e) {
                    if (current(gen))
                        showError('agents-error', e);
                    throw e;
                });
            };
        }
    };

    function s_gid_list(id, gids, flagged) {
        var ul = el('ul', { id: id, 'class': 'gids' + (flagged && gids.length
                                                      ? ' flagged' : ''),
                            'data-count': gids.length });
        gids.forEach(function (g) {
            ul.appendChild(el('li', { 'data-gid': str(g) }, gidLink(g)));
        });
        if (!gids.length)
            ul.appendChild(el('li', { 'class': 'none' }, 'none'));
        return ul;
    }

    function s_agents_show(tbody, cmp, items) {
        items = items.slice().sort(function (a, b) {
            return str(a.name) < str(b.name) ? -1
                 : str(a.name) > str(b.name) ? 1 : 0;
        });
        var rows = items.map(function (a) {
            var up = !!a.connected;
            return el('tr', { id: 'agent-row-' + str(a.name),
                              'data-name': str(a.name),
                              'data-connected': String(up) },
                      el('td', null, str(a.name)),
                      el('td', null, el('span', { 'class': 'status '
                                                  + (up ? 'ok' : 'bad') },
                                        up ? 'up' : 'down')),
                      el('td', { 'class': 'num' },
                         a.last_heartbeat_ms_ago === null
                         || a.last_heartbeat_ms_ago === undefined
                         ? 'never' : fmtMs(a.last_heartbeat_ms_ago) + ' ago'),
                      el('td', { 'class': 'mono' }, str(a.address || '–')),
                      el('td', { 'class': 'num' }, fmtCount(a.in_flight)),
                      el('td', { 'class': 'num' },
                         fmtCount((a.db_prepared || []).length)),
                      el('td', { 'class': 'num' },
                         a.db_prepared_at_ms_ago === null
                         || a.db_prepared_at_ms_ago === undefined
                         ? 'not yet' : fmtMs(a.db_prepared_at_ms_ago)
                                       + ' ago'));
        });
        if (!rows.length)
            rows.push(el('tr', { 'class': 'empty' },
                         el('td', { colspan: 7 }, 'no agent has said hello')));
        tbody.replaceChildren.apply(tbody, rows);
        var blocks = items.map(function (a) {
            var name = str(a.name);
            var unknown = a.prepared_unknown_to_log || [];
            var decided = a.decided_still_prepared || [];
            return el('div', { id: 'agent-cmp-' + name, 'class': 'box cmp' },
                el('h3', null, name),
                el('div', { 'class': 'cols' },
                   el('div', null,
                      el('h4', null, 'prepared in the database, unknown to '
                                     + 'the log'),
                      s_gid_list('agent-unknown-' + name, unknown, true)),
                   el('div', null,
                      el('h4', null, 'decided in the log, still prepared '
                                     + 'in the database'),
                      s_gid_list('agent-decided-' + name, decided, true)),
                   el('div', null,
                      el('h4', null, 'all prepared in the database'),
                      s_gid_list('agent-prepared-' + name,
                                 a.db_prepared || [], false))));
        });
        cmp.replaceChildren.apply(cmp, blocks);
    }

    /* ---------------------------------------------------------------- */
    /*  Audit                                                            */

    VIEWS.audit = {
        name: 'audit', nav: 'audit', period: 3000,
        title: function () { return 'audit'; },
        mount: function (main) {
            main.appendChild(el('h1', null, 'Audit trail'));
            main.appendChild(el('p', { 'class': 'muted' },
                'Operators\' resolves (HEURISTIC records in the log) and '
                + 'retries, newest first.'));
            main.appendChild(errorBox('audit-error'));
            var tbody = el('tbody', { id: 'audit-body' });
            main.appendChild(el('table', { id: 'audit-table',
                                           'class': 'grid' },
                el('thead', null, el('tr', null,
                    el('th', null, 'time'), el('th', null, 'gid'),
                    el('th', null, 'action'), el('th', null, 'outcome'),
                    el('th', null, 'reason'), el('th', null, 'who'))),
                tbody));
            return function (gen) {
                return api('/audit').then(function (res) {
                    if (!current(gen))
                        return;
                    showError('audit-error', null);
                    var items = (res.items || []).slice().sort(
                        function (a, b) { return (b.t || 0) - (a.t || 0); });
                    var rows = items.map(function (a) {
                        return el('tr', { 'data-gid': str(a.gid),
                                          'data-action': str(a.action),
                                          'class': 'audit-row' },
                                  el('td', { 'class': 'mono' }, fmtTime(a.t)),
                                  el('td', null, gidLink(a.gid)),
                                  el('td', null, str(a.action)),
                                  el('td', null, str(a.outcome || '–')),
                                  el('td', { 'class': 'reason' },
                                     str(a.reason)),
                                  el('td', null, str(a.who || '–')));
                    });
                    if (!rows.length)
                        rows.push(el('tr', { 'class': 'empty' },
                                     el('td', { colspan: 6 },
                                        'no operator action yet')));
                    tbody.replaceChildren.apply(tbody, rows);
                }, function (e) {
                    if (current(gen))
                        showError('audit-error', e);
                    throw e;
                });
            };
        }
    };

    /* ---------------------------------------------------------------- */
    /*  Start                                                            */

    function start() {
        var tokIn = document.getElementById('token');
        tokIn.value = token();
        function save() {
            try {
                if (tokIn.value)
                    sessionStorage.setItem(TOKEN_KEY, tokIn.value);
                else
                    sessionStorage.removeItem(TOKEN_KEY);
            } catch (e) { /* storage off: the token lives in the field */ }
            checkToken();
        }
        tokIn.addEventListener('change', save);
        document.getElementById('token-form').addEventListener('submit',
            function (ev) {
                ev.preventDefault();    /* Enter: keep the page, save */
                save();
            });
        document.getElementById('token-clear').addEventListener('click',
            function () {
                tokIn.value = '';
                save();
            });
        window.addEventListener('hashchange', route);
        checkToken();
        route();
    }

    if (document.readyState === 'loading')
        document.addEventListener('DOMContentLoaded', start);
    else
        start();
}());
