/*  coord_http: /metrics and the operator console over libmicrohttpd (see
 *  coord_http.h for the rules, docs/CONSOLE.md for the API).
 *
 *  A request's life (one connection thread, s_handler called again and
 *  again by libmicrohttpd):
 *
 *    first call   headers in: make its s_req_t; a POST announcing a body
 *                 over S_BODY_MAX is answered 413 at once
 *    body calls   append to s_req_t.body; past S_BODY_MAX: drop, and
 *                 remember (413 at the end)
 *    last call    route: /metrics, /api/v1/..., a static file
 *    completed    s_completed frees the s_req_t
 */
#include "coord_http.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "coord_assets.h"
#include "tpc_error.h"
#include "tpc_gid.h"

#define S_BODY_MAX 4096
#define S_CONNECTIONS 64
#define S_TOKEN_MAX 256
#define S_LIMIT_MAX 500
#define S_LIMIT_DEFAULT 50

struct coord_http {
    coord_http_config_t cfg;
    struct MHD_Daemon *daemon;
    int port;
    char token[S_TOKEN_MAX + 1];
    size_t token_len;           /* 0: no token, read-only */
    char coord_id[TPC_COORD_ID_MAX];
    char version[64];
};

typedef struct {
    char body[S_BODY_MAX + 1];
    size_t len;
    bool too_big;
} s_req_t;

/* ---------------------------------------------------------------------
 *  Responses
 */

static enum MHD_Result
s_respond (struct MHD_Connection *conn, unsigned code, const char *type,
           const void *body, size_t len, bool nocache)
{
    struct MHD_Response *r = MHD_create_response_from_buffer (
        len, (void *) body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    /* an HTTP/1.0 status line, as the server before it said (scrapers
     * match it); keep-alive only when the client asks */
    MHD_set_response_options (r, MHD_RF_HTTP_1_0_SERVER, MHD_RO_END);
    MHD_add_response_header (r, "Content-Type", type);
    MHD_add_response_header (r, "Content-Security-Policy",
                             "default-src 'self'");
    MHD_add_response_header (r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header (r, "X-Frame-Options", "DENY");
    MHD_add_response_header (r, "Referrer-Policy", "no-referrer");
    MHD_add_response_header (r, "Cache-Control",
                             nocache ? "no-store" : "no-cache");
    enum MHD_Result rc = MHD_queue_response (conn, code, r);
    MHD_destroy_response (r);
    return rc;
}

/*  JSON text of ITEM with <, > and & escaped (only strings hold them).  */
static char *
s_json_text (const cJSON *item)
{
    char *raw = cJSON_PrintUnformatted (item);
    if (!raw)
        return NULL;
    size_t extra = 0;
    for (const char *p = raw; *p; p++)
        extra += (*p == '<' || *p == '>' || *p == '&') ? 5 : 0;
    char *out = malloc (strlen (raw) + extra + 1), *q = out;
    for (const char *p = raw; out && *p; p++) {
        if (*p == '<' || *p == '>' || *p == '&') {
            sprintf (q, "\\u%04x", (unsigned) *p);
            q += 6;
        }
        else
            *q++ = *p;
    }
    if (out)
        *q = '\0';
    cJSON_free (raw);
    return out;
}

/*  Send J (taken) with CODE.                                             */
static enum MHD_Result
s_json (struct MHD_Connection *conn, unsigned code, cJSON *j)
{
    char *text = j ? s_json_text (j) : NULL;
    cJSON_Delete (j);
    if (!text) {
        static const char oom[] = "{\"error\":\"out of memory\"}";
        return s_respond (conn, 500, "application/json", oom,
                          sizeof oom - 1, true);
    }
    enum MHD_Result rc = s_respond (conn, code, "application/json", text,
                                    strlen (text), true);
    free (text);
    return rc;
}

static enum MHD_Result
s_error (struct MHD_Connection *conn, unsigned code, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

static enum MHD_Result
s_error (struct MHD_Connection *conn, unsigned code, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (text, sizeof text, fmt, ap);
    va_end (ap);
    cJSON *j = cJSON_CreateObject ();
    if (j)
        cJSON_AddStringToObject (j, "error", text);
    return s_json (conn, code, j);
}

/* ---------------------------------------------------------------------
 *  Small helpers
 */

/*  Constant time in the token's length: every byte is compared.         */
static bool
s_token_ok (coord_http_t *self, const char *given)
{
    if (!self->token_len || !given)
        return false;
    size_t n = strlen (given);
    volatile unsigned char diff = (unsigned char) (n != self->token_len);
    for (size_t i = 0; i < self->token_len; i++)
        diff |= (unsigned char) (self->token[i]
                                 ^ (i < n ? (unsigned char) given[i] : 0));
    return diff == 0;
}

static bool
s_writable (coord_http_t *self, struct MHD_Connection *conn)
{
    return s_token_ok (self, MHD_lookup_connection_value (
                                 conn, MHD_HEADER_KIND, "X-TPC-Token"));
}

static const char *
s_arg (struct MHD_Connection *conn, const char *name)
{
    return MHD_lookup_connection_value (conn, MHD_GET_ARGUMENT_KIND, name);
}

/*  Query argument NAME as an integer in [MIN, MAX] (DEF when absent).
 *  false when it is not one.                                             */
static bool
s_arg_u64 (struct MHD_Connection *conn, const char *name, uint64_t min,
           uint64_t max, uint64_t def, uint64_t *out)
{
    const char *v = s_arg (conn, name);
    *out = def;
    if (!v)
        return true;
    if (!*v || strlen (v) > 15)
        return false;
    uint64_t n = 0;
    for (const char *p = v; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        n = n * 10 + (uint64_t) (*p - '0');
    }
    if (n < min || n > max)
        return false;
    *out = n;
    return true;
}

static cJSON *
s_ms (uint64_t ms)
{
    return ms == COORD_NEVER ? cJSON_CreateNull ()
                             : cJSON_CreateNumber ((double) ms);
}

static const char *
s_outcome (tpc_outcome_t o)
{
    return o == TPC_OUTCOME_COMMITTED ? "committed"
         : o == TPC_OUTCOME_ABORTED ? "aborted" : NULL;
}

static cJSON *
s_str_or_null (const char *s)
{
    return s ? cJSON_CreateString (s) : cJSON_CreateNull ();
}

static const char *
s_vote (tpc_vote_t v)
{
    return v == TPC_VOTE_YES ? "yes" : v == TPC_VOTE_NO ? "no"
         : v == TPC_VOTE_READONLY ? "readonly" : NULL;
}

static cJSON *
s_strv (char **v, size_t n)
{
    cJSON *a = cJSON_CreateArray ();
    for (size_t i = 0; a && i < n; i++)
        cJSON_AddItemToArray (a, cJSON_CreateString (v[i]));
    return a;
}

/* ---------------------------------------------------------------------
 *  GET /api/v1/...
 */

static enum MHD_Result
s_overview (coord_http_t *self, struct MHD_Connection *conn,
            const coord_console_snap_t *s)
{
    const coord_view_t *v = s->view;
    cJSON *j = cJSON_CreateObject ();
    if (!j)
        return s_json (conn, 500, NULL);
    uint64_t c = 0, a = 0;
    size_t n = s->npoints < 5 ? s->npoints : 5;
    for (size_t i = s->npoints - n; i < s->npoints; i++) {
        c += s->points[i].committed;
        a += s->points[i].aborted;
    }
    size_t up = 0, down = 0;
    for (size_t i = 0; i < v->nagents; i++)
        v->agents[i].connected ? up++ : down++;
    cJSON_AddStringToObject (j, "version", self->version);
    cJSON_AddStringToObject (j, "coordinator_id", self->coord_id);
    cJSON_AddNumberToObject (j, "epoch", (double) v->epoch);
    cJSON_AddNumberToObject (j, "uptime_ms", (double) s->uptime_ms);
    cJSON_AddNumberToObject (j, "committed", (double) v->stats.committed);
    cJSON_AddNumberToObject (j, "aborted", (double) v->stats.aborted);
    cJSON_AddNumberToObject (j, "tps_committed", n ? (double) c / n : 0);
    cJSON_AddNumberToObject (j, "tps_aborted", n ? (double) a / n : 0);
    cJSON_AddNumberToObject (j, "in_flight", (double) v->live);
    cJSON_AddNumberToObject (j, "in_doubt", (double) v->stats.in_doubt);
    cJSON_AddNumberToObject (j, "oldest_in_doubt_ms",
                             (double) v->oldest_in_doubt_ms);
    cJSON_AddNumberToObject (j, "agents_up", (double) up);
    cJSON_AddNumberToObject (j, "agents_down", (double) down);
    cJSON_AddNumberToObject (j, "heuristic", (double) v->stats.heuristic);
    cJSON_AddBoolToObject (j, "writable", s_writable (self, conn));
    return s_json (conn, 200, j);
}

static const char *const s_states[] = {
    "active", "preparing", "onephase", "committing", "aborting",
    "precommitting", "ended", NULL
};

static cJSON *
s_item (const coord_view_txn_t *t)
{
    cJSON *o = cJSON_CreateObject ();
    if (!o)
        return NULL;
    cJSON_AddStringToObject (o, "gid", t->gid);
    cJSON_AddStringToObject (o, "state", t->state);
    cJSON_AddItemToObject (o, "outcome", s_str_or_null (s_outcome (
                                                 t->outcome)));
    cJSON_AddNumberToObject (o, "age_ms", (double) t->age_ms);
    cJSON *p = cJSON_AddArrayToObject (o, "participants");
    for (size_t i = 0; p && i < t->nparts; i++)
        cJSON_AddItemToArray (p, cJSON_CreateString (t->parts[i].name));
    cJSON_AddBoolToObject (o, "in_doubt", t->in_doubt);
    cJSON_AddBoolToObject (o, "waiting", t->waiting);
    cJSON_AddBoolToObject (o, "retryable", t->backoff);
    cJSON_AddStringToObject (o, "reason", t->reason);
    return o;
}

static cJSON *
s_ended_item (const coord_console_ended_t *e)
{
    cJSON *o = cJSON_CreateObject ();
    if (!o)
        return NULL;
    cJSON_AddStringToObject (o, "gid", e->gid);
    cJSON_AddStringToObject (o, "state", "ended");
    cJSON_AddItemToObject (o, "outcome", s_str_or_null (s_outcome (
                                                 e->outcome)));
    cJSON_AddNumberToObject (o, "age_ms", (double) (e->age_ms + e->ago_ms));
    cJSON_AddArrayToObject (o, "participants");
    cJSON_AddBoolToObject (o, "in_doubt", false);
    cJSON_AddBoolToObject (o, "waiting", false);
    cJSON_AddBoolToObject (o, "retryable", false);
    cJSON_AddStringToObject (o, "reason", e->reason);
    return o;
}

static bool
s_has_part (const coord_view_txn_t *t, const char *name)
{
    for (size_t i = 0; i < t->nparts; i++)
        if (!strcmp (t->parts[i].name, name))
            return true;
    return false;
}

static enum MHD_Result
s_transactions (struct MHD_Connection *conn, const coord_console_snap_t *s)
{
    const char *state = s_arg (conn, "state");
    const char *part = s_arg (conn, "participant");
    const char *prefix = s_arg (conn, "prefix");
    uint64_t min_age, limit, offset;
    if (state && *state) {
        size_t i = 0;
        while (s_states[i] && strcmp (s_states[i], state))
            i++;
        if (!s_states[i])
            return s_error (conn, 400, "state: give one of active, "
                            "preparing, onephase, committing, aborting, "
                            "precommitting, ended");
    }
    else
        state = NULL;
    if (!s_arg_u64 (conn, "min_age_ms", 0, UINT64_C (999999999999999), 0,
                    &min_age))
        return s_error (conn, 400, "min_age_ms: give a whole number of "
                        "milliseconds");
    if (!s_arg_u64 (conn, "limit", 1, S_LIMIT_MAX, S_LIMIT_DEFAULT, &limit))
        return s_error (conn, 400, "limit: give a whole number from 1 to %d",
                        S_LIMIT_MAX);
    if (!s_arg_u64 (conn, "offset", 0, UINT64_C (999999999999999), 0,
                    &offset))
        return s_error (conn, 400, "offset: give a whole number from 0");
    if (part && (!*part || strlen (part) >= TPC_RECORD_NAME_MAX))
        return s_error (conn, 400, "participant: give an agent's name");
    if (prefix && strlen (prefix) >= TPC_GID_MAX)
        return s_error (conn, 400, "prefix: longer than any gid");
    cJSON *j = cJSON_CreateObject ();
    cJSON *items = j ? cJSON_AddArrayToObject (j, "items") : NULL;
    if (!items) {
        cJSON_Delete (j);
        return s_json (conn, 500, NULL);
    }
    size_t total = 0, plen = prefix ? strlen (prefix) : 0;
    bool ended = state && !strcmp (state, "ended");
    const coord_view_t *v = s->view;
    for (size_t i = 0; !ended && i < v->ntxns; i++) {
        const coord_view_txn_t *t = &v->txns[i];
        if ((state && strcmp (t->state, state)) || t->age_ms < min_age
            || (part && !s_has_part (t, part))
            || (prefix && strncmp (t->gid, prefix, plen)))
            continue;
        if (total >= offset && total < offset + limit)
            cJSON_AddItemToArray (items, s_item (t));
        total++;
    }
    for (size_t i = 0; ended && i < s->nended; i++) {
        const coord_console_ended_t *e = &s->ended[i];
        if (e->age_ms + e->ago_ms < min_age || part
            || (prefix && strncmp (e->gid, prefix, plen)))
            continue;
        if (total >= offset && total < offset + limit)
            cJSON_AddItemToArray (items, s_ended_item (e));
        total++;
    }
    cJSON_AddNumberToObject (j, "total", (double) total);
    cJSON_AddNumberToObject (j, "offset", (double) offset);
    cJSON_AddNumberToObject (j, "limit", (double) limit);
    cJSON_AddNumberToObject (j, "live", (double) v->live);
    cJSON_AddBoolToObject (j, "truncated", v->live > v->ntxns);
    return s_json (conn, 200, j);
}

/* -- one transaction and its timeline -------------------------------- */

typedef struct {
    uint64_t t;
    int order;
    const char *event;
    char detail[400];
} s_event_t;

typedef struct {
    s_event_t *v;
    size_t n, cap;
} s_events_t;

static void
s_ev (s_events_t *e, uint64_t t, const char *event, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));

static void
s_ev (s_events_t *e, uint64_t t, const char *event, const char *fmt, ...)
{
    if (t == COORD_NEVER)
        return;
    if (e->n == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 16;
        s_event_t *v = realloc (e->v, cap * sizeof *v);
        if (!v)
            return;
        e->v = v;
        e->cap = cap;
    }
    s_event_t *x = &e->v[e->n];
    x->t = t;
    x->order = (int) e->n++;
    x->event = event;
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (x->detail, sizeof x->detail, fmt, ap);
    va_end (ap);
}

static int
s_ev_cmp (const void *a, const void *b)
{
    const s_event_t *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return x->order - y->order;
}

/*  The operator's resolve of GID in the snapshot, or NULL.               */
static const coord_view_resolve_t *
s_resolve_of (const coord_console_snap_t *s, const char *gid)
{
    for (size_t i = 0; i < s->view->nresolves; i++)
        if (!strcmp (s->view->resolves[i].gid, gid))
            return &s->view->resolves[i];
    return NULL;
}

/*  Retries and the resolve of GID, begun AGE_MS before the snapshot.     */
static void
s_ev_ops (s_events_t *e, const coord_console_snap_t *s, const char *gid,
          uint64_t age_ms)
{
    for (size_t i = s->nretries; i-- > 0;)
        if (!strcmp (s->retries[i].gid, gid) && s->retries[i].ago_ms <= age_ms)
            s_ev (e, age_ms - s->retries[i].ago_ms, "retry", "%s",
                  s->retries[i].reason);
    const coord_view_resolve_t *r = s_resolve_of (s, gid);
    if (r)
        s_ev (e, r->ago_ms != COORD_NEVER && r->ago_ms <= age_ms
                 ? age_ms - r->ago_ms : age_ms, "resolve", "%s: %s",
              s_outcome (r->outcome) ? s_outcome (r->outcome) : "?",
              r->reason);
}

static void
s_ev_live (s_events_t *e, const coord_view_txn_t *t)
{
    s_ev (e, 0, "begin", "%zu participant(s)", t->nparts);
    s_ev (e, t->prepare_at == COORD_NEVER ? 0 : t->prepare_at, "work_sent",
          t->prepare_at == COORD_NEVER ? "work sent"
                                       : "prepare sent to the participants");
    for (size_t i = 0; i < t->nparts; i++) {
        const coord_view_part_t *p = &t->parts[i];
        s_ev (e, p->vote_at, "vote", "%s: %s%s%s", p->name,
              s_vote (p->vote) ? s_vote (p->vote) : "?",
              p->vote == TPC_VOTE_NO && *t->reason ? ": " : "",
              p->vote == TPC_VOTE_NO ? t->reason : "");
    }
    uint64_t commit_at = t->decided_at != COORD_NEVER ? t->decided_at
                                                      : t->voted_at;
    if (t->aborted_at != COORD_NEVER)
        s_ev (e, t->aborted_at, "decision", "abort%s%s",
              *t->reason ? ": " : "", t->reason);
    else if (t->durable_at != COORD_NEVER || !strcmp (t->state, "committing"))
        s_ev (e, commit_at, "decision", "commit");
    s_ev (e, t->durable_at, "durable", "COMMIT record durable");
    s_ev (e, t->durable_at, "decide_sent", "decide(committed) sent");
    if (t->aborted_at != COORD_NEVER)
        s_ev (e, t->aborted_at, "decide_sent", "decide(aborted) sent");
    for (size_t i = 0; i < t->nparts; i++)
        s_ev (e, t->parts[i].ack_at, "ack", "%s", t->parts[i].name);
}

static void
s_ev_ended (s_events_t *e, const coord_console_ended_t *x)
{
    s_ev (e, 0, "begin", "%s", "");
    s_ev (e, 0, "work_sent", "%s", "");
    uint64_t t = x->prepare_ms == COORD_NEVER ? COORD_NEVER : x->prepare_ms;
    s_ev (e, t, "vote", "every vote in after %" PRIu64 " ms",
          x->prepare_ms);
    if (t != COORD_NEVER && x->decide_ms != COORD_NEVER) {
        s_ev (e, t, "decision", "commit");
        s_ev (e, t + x->decide_ms, "durable", "COMMIT record durable");
        s_ev (e, t + x->decide_ms, "decide_sent", "decide(committed) sent");
    }
    else
        s_ev (e, x->age_ms, "decision", "%s%s%s",
              x->outcome == TPC_OUTCOME_COMMITTED ? "commit" : "abort",
              *x->reason ? ": " : "", x->reason);
    s_ev (e, x->age_ms, "ack", "the last ack: %s",
          s_outcome (x->outcome) ? s_outcome (x->outcome) : "outcome unknown");
}

static enum MHD_Result
s_transaction (struct MHD_Connection *conn, const coord_console_snap_t *s,
               const char *gid)
{
    tpc_gid_t g;
    if (tpc_gid_parse (gid, &g))
        return s_error (conn, 400, "'%.80s' is not a gid (tpc_<coordinator>"
                        "_<epoch>_<seq>)", gid);
    const coord_view_txn_t *t = NULL;
    for (size_t i = 0; i < s->view->ntxns && !t; i++)
        if (!strcmp (s->view->txns[i].gid, gid))
            t = &s->view->txns[i];
    const coord_console_ended_t *x = NULL;
    for (size_t i = 0; i < s->nended && !t && !x; i++)
        if (!strcmp (s->ended[i].gid, gid))
            x = &s->ended[i];
    const coord_view_resolve_t *r = s_resolve_of (s, gid);
    if (!t && !x && !r)
        return s_error (conn, 404, "%s: no such transaction in memory (live, "
                        "recently ended or resolved)", gid);
    cJSON *j = cJSON_CreateObject ();
    cJSON *parts = j ? cJSON_AddArrayToObject (j, "participants") : NULL;
    cJSON *tl = j ? cJSON_AddArrayToObject (j, "timeline") : NULL;
    s_events_t ev = { 0 };
    if (!tl)
        goto cleanup;
    cJSON_AddStringToObject (j, "gid", gid);
    uint64_t age = 0;
    if (t) {
        age = t->age_ms;
        cJSON_AddStringToObject (j, "state", t->state);
        cJSON_AddItemToObject (j, "outcome",
                               s_str_or_null (s_outcome (t->outcome)));
        cJSON_AddBoolToObject (j, "in_doubt", t->in_doubt);
        cJSON_AddBoolToObject (j, "waiting", t->waiting);
        cJSON_AddBoolToObject (j, "retryable", t->backoff);
        cJSON_AddStringToObject (j, "reason", t->reason);
        for (size_t i = 0; i < t->nparts; i++) {
            const coord_view_part_t *p = &t->parts[i];
            cJSON *o = cJSON_CreateObject ();
            if (!o)
                break;
            cJSON_AddStringToObject (o, "name", p->name);
            cJSON_AddItemToObject (o, "vote", s_str_or_null (s_vote (
                                                  p->vote)));
            cJSON_AddItemToObject (o, "reason", p->vote == TPC_VOTE_NO
                                   ? cJSON_CreateString (t->reason)
                                   : cJSON_CreateNull ());
            cJSON_AddBoolToObject (o, "acked", p->acked);
            cJSON_AddBoolToObject (o, "waiting", p->waiting);
            cJSON_AddItemToArray (parts, o);
        }
        s_ev_live (&ev, t);
    }
    else {
        age = x ? x->age_ms + x->ago_ms : 0;
        cJSON_AddStringToObject (j, "state", x ? "ended" : "heuristic");
        tpc_outcome_t o = x ? x->outcome : r->outcome;
        if (r)
            o = r->outcome;
        cJSON_AddItemToObject (j, "outcome", s_str_or_null (s_outcome (o)));
        cJSON_AddBoolToObject (j, "in_doubt", false);
        cJSON_AddBoolToObject (j, "waiting", false);
        cJSON_AddBoolToObject (j, "retryable", false);
        cJSON_AddStringToObject (j, "reason", r ? r->reason
                                            : x ? x->reason : "");
        if (x)
            s_ev_ended (&ev, x);
        if (r && r->ago_ms != COORD_NEVER && age < r->ago_ms)
            age = r->ago_ms;
    }
    cJSON_AddNumberToObject (j, "age_ms", (double) age);
    s_ev_ops (&ev, s, gid, age);
    qsort (ev.v, ev.n, sizeof *ev.v, s_ev_cmp);
    for (size_t i = 0; i < ev.n; i++) {
        cJSON *o = cJSON_CreateObject ();
        if (!o)
            break;
        cJSON_AddNumberToObject (o, "t_ms", (double) ev.v[i].t);
        cJSON_AddStringToObject (o, "event", ev.v[i].event);
        cJSON_AddStringToObject (o, "detail", ev.v[i].detail);
        cJSON_AddItemToArray (tl, o);
    }
cleanup:
    free (ev.v);
    return s_json (conn, 200, j);
}

static enum MHD_Result
s_agents (struct MHD_Connection *conn, const coord_console_snap_t *s)
{
    cJSON *j = cJSON_CreateObject ();
    cJSON *items = j ? cJSON_AddArrayToObject (j, "items") : NULL;
    const coord_view_t *v = s->view;
    for (size_t i = 0; items && i < v->nagents; i++) {
        const coord_view_agent_t *a = &v->agents[i];
        cJSON *o = cJSON_CreateObject ();
        if (!o)
            break;
        cJSON_AddStringToObject (o, "name", a->name);
        cJSON_AddBoolToObject (o, "connected", a->connected);
        cJSON_AddNumberToObject (o, "last_heartbeat_ms_ago",
                                 (double) a->hello_ago_ms);
        cJSON_AddItemToObject (o, "address", *a->peer
                               ? cJSON_CreateString (a->peer)
                               : cJSON_CreateNull ());
        cJSON_AddNumberToObject (o, "in_flight", (double) a->in_flight);
        cJSON_AddItemToObject (o, "db_prepared", s_strv (a->prepared,
                                                         a->nprepared));
        cJSON_AddItemToObject (o, "prepared_unknown_to_log",
                               s_strv (a->unknown, a->nunknown));
        cJSON_AddItemToObject (o, "decided_still_prepared",
                               s_strv (a->decided, a->ndecided));
        cJSON_AddItemToObject (o, "db_prepared_at_ms_ago",
                               s_ms (a->prepared_ago_ms));
        cJSON_AddItemToArray (items, o);
    }
    return s_json (conn, 200, j);
}

static enum MHD_Result
s_series (struct MHD_Connection *conn, const coord_console_snap_t *s)
{
    cJSON *j = cJSON_CreateObject ();
    if (j)
        cJSON_AddNumberToObject (j, "interval_ms", 1000);
    cJSON *pts = j ? cJSON_AddArrayToObject (j, "points") : NULL;
    for (size_t i = 0; pts && i < s->npoints; i++) {
        const coord_console_point_t *p = &s->points[i];
        cJSON *o = cJSON_CreateObject ();
        if (!o)
            break;
        cJSON_AddNumberToObject (o, "t_ms_ago",
                                 (double) ((s->npoints - i) * 1000));
        cJSON_AddNumberToObject (o, "committed", (double) p->committed);
        cJSON_AddNumberToObject (o, "aborted", (double) p->aborted);
        cJSON_AddNumberToObject (o, "p50_ms", (double) p->p50_ms);
        cJSON_AddNumberToObject (o, "p99_ms", (double) p->p99_ms);
        cJSON_AddItemToArray (pts, o);
    }
    return s_json (conn, 200, j);
}

typedef struct {
    uint64_t t;                 /* unix ms, 0 = not known (replayed) */
    cJSON *o;
} s_audit_t;

static int
s_audit_cmp (const void *a, const void *b)
{
    const s_audit_t *x = a, *y = b;
    return x->t == y->t ? 0 : x->t > y->t ? -1 : 1;
}

static enum MHD_Result
s_audit (struct MHD_Connection *conn, const coord_console_snap_t *s)
{
    const coord_view_t *v = s->view;
    size_t n = v->nresolves + s->nretries, k = 0;
    s_audit_t *all = calloc (n ? n : 1, sizeof *all);
    cJSON *j = cJSON_CreateObject ();
    cJSON *items = j ? cJSON_AddArrayToObject (j, "items") : NULL;
    if (!all || !items) {
        free (all);
        cJSON_Delete (j);
        return s_json (conn, 500, NULL);
    }
    static const char tag[] = "resolve --force: ";
    for (size_t i = 0; i < v->nresolves; i++) {
        const coord_view_resolve_t *r = &v->resolves[i];
        const char *why = r->reason, *who = "tpcctl";
        if (!strncmp (why, tag, sizeof tag - 1))
            why += sizeof tag - 1;
        else
            who = "coordinator";        /* a heuristic outcome an agent
                                           reported */
        if (!strncmp (why, CONSOLE_WHO ": ", sizeof CONSOLE_WHO + 1)) {
            why += sizeof CONSOLE_WHO + 1;
            who = CONSOLE_WHO;
        }
        uint64_t t = r->ago_ms == COORD_NEVER ? 0 : s->unix_ms - r->ago_ms;
        cJSON *o = cJSON_CreateObject ();
        if (!o)
            break;
        cJSON_AddItemToObject (o, "t", t ? cJSON_CreateNumber ((double) t)
                                         : cJSON_CreateNull ());
        cJSON_AddStringToObject (o, "gid", r->gid);
        cJSON_AddStringToObject (o, "action", "resolve");
        cJSON_AddItemToObject (o, "outcome", s_str_or_null (s_outcome (
                                                   r->outcome)));
        cJSON_AddStringToObject (o, "reason", why);
        cJSON_AddStringToObject (o, "who", who);
        all[k++] = (s_audit_t) { t, o };
    }
    for (size_t i = 0; i < s->nretries; i++) {
        const coord_console_retry_t *r = &s->retries[i];
        cJSON *o = cJSON_CreateObject ();
        if (!o)
            break;
        cJSON_AddNumberToObject (o, "t", (double) r->unix_ms);
        cJSON_AddStringToObject (o, "gid", r->gid);
        cJSON_AddStringToObject (o, "action", "retry");
        cJSON_AddNullToObject (o, "outcome");
        cJSON_AddStringToObject (o, "reason", r->reason);
        cJSON_AddStringToObject (o, "who", CONSOLE_WHO);
        all[k++] = (s_audit_t) { r->unix_ms, o };
    }
    qsort (all, k, sizeof *all, s_audit_cmp);
    for (size_t i = 0; i < k; i++)
        cJSON_AddItemToArray (items, all[i].o);
    free (all);
    return s_json (conn, 200, j);
}

/* ---------------------------------------------------------------------
 *  POST /api/v1/transactions/{gid}/(retry|resolve)
 */

static enum MHD_Result
s_action (coord_http_t *self, struct MHD_Connection *conn, s_req_t *req,
          const char *gid, const char *action)
{
    const char *token = MHD_lookup_connection_value (conn, MHD_HEADER_KIND,
                                                     "X-TPC-Token");
    if (!self->token_len)
        return s_error (conn, 403, "read-only console: the coordinator has "
                        "no --http-token-file");
    if (!token)
        return s_error (conn, 401, "writes need the header X-TPC-Token");
    if (!s_token_ok (self, token))
        return s_error (conn, 403, "wrong X-TPC-Token");
    const char *type = MHD_lookup_connection_value (conn, MHD_HEADER_KIND,
                                                    "Content-Type");
    if (!type || strncmp (type, "application/json", 16)
        || (type[16] && type[16] != ';' && type[16] != ' '))
        return s_error (conn, 415, "give Content-Type: application/json");
    if (req->too_big)
        return s_error (conn, 413, "a body of at most %d bytes",
                        S_BODY_MAX);
    tpc_gid_t g;
    if (tpc_gid_parse (gid, &g))
        return s_error (conn, 400, "'%.80s' is not a gid", gid);
    bool resolve = !strcmp (action, "resolve");
    if (!resolve && strcmp (action, "retry"))
        return s_error (conn, 404, "no action '%.40s' (retry, resolve)",
                        action);
    req->body[req->len] = '\0';
    cJSON *body = cJSON_ParseWithLength (req->body, req->len);
    const cJSON *reason = cJSON_GetObjectItemCaseSensitive (body, "reason");
    const cJSON *outcome = cJSON_GetObjectItemCaseSensitive (body,
                                                             "outcome");
    enum MHD_Result rc;
    tpc_outcome_t want = TPC_OUTCOME_NONE;
    if (!cJSON_IsObject (body)) {
        rc = s_error (conn, 400, "the body must be a JSON object");
        goto cleanup;
    }
    if (!cJSON_IsString (reason) || !*reason->valuestring
        || strlen (reason->valuestring) > CONSOLE_REASON_MAX) {
        rc = s_error (conn, 400, "reason: give why, 1 to %d bytes",
                      CONSOLE_REASON_MAX);
        goto cleanup;
    }
    if (resolve) {
        if (cJSON_IsString (outcome)
            && !strcmp (outcome->valuestring, "commit"))
            want = TPC_OUTCOME_COMMITTED;
        else if (cJSON_IsString (outcome)
                 && !strcmp (outcome->valuestring, "abort"))
            want = TPC_OUTCOME_ABORTED;
        else {
            rc = s_error (conn, 400, "outcome: give \"commit\" or "
                          "\"abort\"");
            goto cleanup;
        }
    }
    char text[256] = "";
    tpc_outcome_t got = TPC_OUTCOME_NONE;
    int err = coord_console_command (self->cfg.console, resolve
                                     ? CONSOLE_RESOLVE : CONSOLE_RETRY, gid,
                                     want, reason->valuestring, &got, text,
                                     sizeof text);
    if (err) {
        unsigned code = err == TPC_EUNKNOWN_GID ? 404
                      : err == TPC_ESTATE || err == TPC_EBUSY ? 409
                      : err == TPC_EINVAL ? 400
                      : err == TPC_ETIMEDOUT ? 504 : 500;
        rc = s_error (conn, code, "%s", *text ? text : tpc_strerror (err));
        goto cleanup;
    }
    cJSON *j = cJSON_CreateObject ();
    if (j) {
        cJSON_AddStringToObject (j, "gid", gid);
        cJSON_AddStringToObject (j, "action", action);
        cJSON_AddItemToObject (j, "outcome", s_str_or_null (
                                   resolve ? s_outcome (got) : NULL));
        cJSON_AddStringToObject (j, "reason", reason->valuestring);
        cJSON_AddStringToObject (j, "detail", text);
    }
    rc = s_json (conn, 200, j);
cleanup:
    cJSON_Delete (body);
    return rc;
}

/* ---------------------------------------------------------------------
 *  Routing
 */

static enum MHD_Result
s_api (coord_http_t *self, struct MHD_Connection *conn, s_req_t *req,
       const char *method, const char *path)
{
    bool get = !strcmp (method, "GET") || !strcmp (method, "HEAD");
    bool post = !strcmp (method, "POST");
    static const char txp[] = "transactions/";
    if (!strncmp (path, txp, sizeof txp - 1) && post) {
        char gid[TPC_GID_MAX];
        const char *g = path + sizeof txp - 1, *slash = strchr (g, '/');
        if (!slash || (size_t) (slash - g) >= sizeof gid)
            return s_error (conn, 404, "POST /api/v1/transactions/{gid}/"
                            "retry or .../resolve");
        memcpy (gid, g, (size_t) (slash - g));
        gid[slash - g] = '\0';
        return s_action (self, conn, req, gid, slash + 1);
    }
    if (!get)
        return s_error (conn, 405, "%s is not allowed here", method);
    if (!strcmp (path, "whoami")) {
        cJSON *j = cJSON_CreateObject ();
        if (j)
            cJSON_AddBoolToObject (j, "writable", s_writable (self, conn));
        return s_json (conn, 200, j);
    }
    bool known = !strcmp (path, "overview") || !strcmp (path, "agents")
                 || !strcmp (path, "series") || !strcmp (path, "audit")
                 || !strcmp (path, "transactions")
                 || !strncmp (path, txp, sizeof txp - 1);
    if (!known)
        return s_error (conn, 404, "no such endpoint: /api/v1/%.60s", path);
    coord_console_snap_t *s = coord_console_snap_get (self->cfg.console);
    if (!s)
        return s_error (conn, 503, "the coordinator gave no snapshot");
    enum MHD_Result rc;
    if (!strcmp (path, "overview"))
        rc = s_overview (self, conn, s);
    else if (!strcmp (path, "agents"))
        rc = s_agents (conn, s);
    else if (!strcmp (path, "series"))
        rc = s_series (conn, s);
    else if (!strcmp (path, "audit"))
        rc = s_audit (conn, s);
    else if (!strcmp (path, "transactions"))
        rc = s_transactions (conn, s);
    else
        rc = s_transaction (conn, s, path + sizeof txp - 1);
    coord_console_snap_put (self->cfg.console, &s);
    return rc;
}

static const char *
s_type_of (const char *path)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        { ".html", "text/html; charset=utf-8" },
        { ".js", "text/javascript; charset=utf-8" },
        { ".css", "text/css; charset=utf-8" },
        { ".json", "application/json" },
        { ".svg", "image/svg+xml" },
        { ".png", "image/png" },
        { ".ico", "image/x-icon" },
        { ".txt", "text/plain; charset=utf-8" },
    };
    const char *dot = strrchr (path, '.');
    for (size_t i = 0; dot && i < sizeof types / sizeof *types; i++)
        if (!strcmp (dot, types[i].ext))
            return types[i].type;
    return "application/octet-stream";
}

static enum MHD_Result
s_static (struct MHD_Connection *conn, const char *method, const char *path)
{
    if (strcmp (method, "GET") && strcmp (method, "HEAD"))
        return s_error (conn, 405, "%s is not allowed here", method);
    const char *name = !strcmp (path, "/") ? "index.html" : path + 1;
    for (size_t i = 0; i < coord_nassets; i++)
        if (!strcmp (coord_assets[i].path, name))
            return s_respond (conn, 200, s_type_of (name),
                              coord_assets[i].data, coord_assets[i].len,
                              false);
    static const char text[] = "not found\n";
    return s_respond (conn, 404, "text/plain; charset=utf-8", text,
                      sizeof text - 1, false);
}

static enum MHD_Result
s_metrics (coord_http_t *self, struct MHD_Connection *conn,
           const char *method)
{
    static const char ctype[] = "text/plain; charset=utf-8";
    if (strcmp (method, "GET") && strcmp (method, "HEAD")) {
        static const char text[] = "GET only\n";
        return s_respond (conn, 405, ctype, text, sizeof text - 1, true);
    }
    char *out = NULL;
    size_t len = 0;
    if (!self->cfg.metrics || coord_metrics_render (self->cfg.metrics, &out,
                                                    &len)) {
        static const char text[] = "no metrics\n";
        return s_respond (conn, 500, ctype, text, sizeof text - 1, true);
    }
    enum MHD_Result rc = s_respond (conn, 200, "text/plain; version=0.0.4; "
                                    "charset=utf-8", out, len, true);
    free (out);
    return rc;
}

static enum MHD_Result
s_handler (void *cls, struct MHD_Connection *conn, const char *url,
           const char *method, const char *version, const char *upload,
           size_t *upload_size, void **con_cls)
{
    coord_http_t *self = cls;
    s_req_t *req = *con_cls;
    (void) version;
    if (!req) {
        if (!(req = calloc (1, sizeof *req)))
            return MHD_NO;
        *con_cls = req;
        const char *cl = MHD_lookup_connection_value (
            conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull (cl, NULL, 10) > S_BODY_MAX)
            return s_error (conn, 413, "a body of at most %d bytes",
                            S_BODY_MAX);
        return MHD_YES;
    }
    if (*upload_size) {
        if (req->len + *upload_size > S_BODY_MAX)
            req->too_big = true;
        else {
            memcpy (req->body + req->len, upload, *upload_size);
            req->len += *upload_size;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (!strcmp (url, "/metrics"))
        return s_metrics (self, conn, method);
    if (!self->cfg.console) {
        static const char text[] = "try /metrics\n";
        return s_respond (conn, 404, "text/plain; charset=utf-8", text,
                          sizeof text - 1, true);
    }
    static const char api[] = "/api/v1/";
    if (!strncmp (url, api, sizeof api - 1))
        return s_api (self, conn, req, method, url + sizeof api - 1);
    return s_static (conn, method, url);
}

static void
s_completed (void *cls, struct MHD_Connection *conn, void **con_cls,
             enum MHD_RequestTerminationCode toe)
{
    (void) cls;
    (void) conn;
    (void) toe;
    free (*con_cls);
    *con_cls = NULL;
}

/* ---------------------------------------------------------------------
 *  Life
 */

/*  The token file's first line, trimmed; 0 or -1 with ERRBUF set.       */
static int
s_read_token (coord_http_t *self, const char *file, char *errbuf,
              size_t errlen)
{
    FILE *f = fopen (file, "r");
    char line[S_TOKEN_MAX + 2] = "";
    if (!f || !fgets (line, sizeof line, f)) {
        snprintf (errbuf, errlen, "--http-token-file %s: cannot read it",
                  file);
        if (f)
            fclose (f);
        return -1;
    }
    fclose (f);
    size_t n = strcspn (line, "\r\n");
    while (n && (line[n - 1] == ' ' || line[n - 1] == '\t'))
        n--;
    if (n < 16 || n > S_TOKEN_MAX) {
        snprintf (errbuf, errlen, "--http-token-file %s: the first line must "
                  "be a token of 16 to %d characters", file, S_TOKEN_MAX);
        return -1;
    }
    memcpy (self->token, line, n);
    self->token[n] = '\0';
    self->token_len = n;
    explicit_bzero (line, sizeof line);
    return 0;
}

/*  BIND into *AI; 0 or -1 with ERRBUF set.                               */
static int
s_resolve (const char *flag, const char *bind_to, struct addrinfo **ai,
           char *errbuf, size_t errlen)
{
    char host[256] = "127.0.0.1";
    const char *port = bind_to;
    const char *colon = strrchr (bind_to, ':');
    if (colon) {
        size_t n = (size_t) (colon - bind_to);
        if (n >= sizeof host) {
            snprintf (errbuf, errlen, "%s '%s': host too long", flag,
                      bind_to);
            return -1;
        }
        if (n) {
            memcpy (host, bind_to, n);
            host[n] = '\0';
            if (host[0] == '[' && host[n - 1] == ']') {
                memmove (host, host + 1, n - 2);
                host[n - 2] = '\0';
            }
        }
        port = colon + 1;
    }
    if (!*port || strspn (port, "0123456789") != strlen (port)
        || atoi (port) > 65535) {
        snprintf (errbuf, errlen, "%s '%s': give HOST:PORT, :PORT or PORT, "
                  "e.g. 127.0.0.1:9464", flag, bind_to);
        return -1;
    }
    struct addrinfo hints = { .ai_family = AF_UNSPEC,
                              .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
    int rc = getaddrinfo (host, port, &hints, ai);
    if (rc) {
        snprintf (errbuf, errlen, "%s %s: %s", flag, bind_to,
                  gai_strerror (rc));
        return -1;
    }
    return 0;
}

coord_http_t *
coord_http_new (const coord_http_config_t *cfg, char *errbuf, size_t errlen)
{
    char dummy[8];
    if (!errbuf) {
        errbuf = dummy;
        errlen = sizeof dummy;
    }
    const char *flag = cfg->flag ? cfg->flag : "--http";
    struct addrinfo *ai = NULL;
    coord_http_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (errbuf, errlen, "out of memory");
        return NULL;
    }
    self->cfg = *cfg;
    snprintf (self->coord_id, sizeof self->coord_id, "%s",
              cfg->coord_id ? cfg->coord_id : "");
    snprintf (self->version, sizeof self->version, "%s",
              cfg->version ? cfg->version : "");
    if ((cfg->token_file && cfg->console
         && s_read_token (self, cfg->token_file, errbuf, errlen))
        || s_resolve (flag, cfg->bind ? cfg->bind : "", &ai, errbuf, errlen))
        goto fail;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD
                     | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    self->daemon = MHD_start_daemon (
        flags, 0, NULL, NULL, s_handler, self,
        MHD_OPTION_SOCK_ADDR, ai->ai_addr,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned) S_CONNECTIONS,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned) 10,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) 16384,
        MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned) 1,
        MHD_OPTION_NOTIFY_COMPLETED, s_completed, self,
        MHD_OPTION_END);
    if (!self->daemon) {
        snprintf (errbuf, errlen, "%s %s: cannot listen (address in use or "
                  "not local?)", flag, cfg->bind);
        goto fail;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info (
        self->daemon, MHD_DAEMON_INFO_BIND_PORT);
    self->port = info ? info->port : 0;
    freeaddrinfo (ai);
    return self;
fail:
    if (ai)
        freeaddrinfo (ai);
    coord_http_destroy (&self);
    return NULL;
}

void
coord_http_destroy (coord_http_t **self_p)
{
    coord_http_t *self = *self_p;
    if (!self)
        return;
    if (self->daemon)
        MHD_stop_daemon (self->daemon);
    explicit_bzero (self->token, sizeof self->token);
    free (self);
    *self_p = NULL;
}

int
coord_http_port (coord_http_t *self)
{
    return self ? self->port : 0;
}
