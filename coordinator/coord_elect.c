/*  coord_elect: leader election on etcd (see coord_elect.h for the keys,
 *  the value of the leader key and the states).  etcd's v3 JSON gateway
 *  (coord_etcd_http: endpoints, libcurl, TLS, auth): keys and values are
 *  base64 in the JSON, int64 fields decimal strings.
 */
#include "coord_elect.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "coord_etcd_http.h"
#include "tpc_clock.h"
#include "tpc_error.h"

struct coord_elect {
    coord_etcd_http_t *http;    /* endpoints, curl, TLS, auth */
    char key[256];
    char *value;                /* our leader key value (JSON) */
    char member[128];
    uint64_t ttl_ms, timeout_ms;
    pthread_mutex_t io;         /* one request at a time */
    int64_t lease;              /* 0: none */
    /* the keepalive thread */
    pthread_t thread;
    bool running;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool stop;
    int64_t deadline_ms;        /* lease good until (our clock); 0 none */
    void (*lost) (void *arg);
    void *lost_arg;
};

/* ---------------------------------------------------------------------
 *  base64 (etcd's JSON carries keys and values so)
 */

/*  Base64 of the string TEXT; NULL when out of memory.                 */
static char *
s_b64_encode (const char *text)
{
    return coord_etcd_b64_encode (text, strlen (text));
}

/*  Decode base64 TEXT into OUT (NUL-terminated, at most SIZE - 1 bytes);
 *  false when it is not base64 or too long.                             */
static bool
s_b64_decode (const char *text, char *out, size_t size)
{
    uint8_t *raw = NULL;
    size_t n = 0;
    bool ok = !coord_etcd_b64_decode (text, &raw, &n) && n < size;
    if (ok)
        memcpy (out, raw, n + 1);
    free (raw);
    return ok;
}

/* ---------------------------------------------------------------------
 *  HTTP
 */

/*  POST BODY to /v3/PATH; *REPLY the parsed answer of an HTTP 200.  An
 *  endpoint that does not answer moves to the next.  0, TPC_ECONNECT,
 *  TPC_EIO (not 200), TPC_EPROTO, TPC_ENOMEM.                           */
static int
s_post (coord_elect_t *self, const char *path, cJSON *body, cJSON **reply)
{
    pthread_mutex_lock (&self->io);
    int rc = coord_etcd_http_post (self->http, path, body,
                                   COORD_ETCD_ROTATE_ALL | COORD_ETCD_QUIET,
                                   reply);
    pthread_mutex_unlock (&self->io);
    return rc;
}

/* ---------------------------------------------------------------------
 *  Life cycle
 */

coord_elect_t *
coord_elect_new (const coord_elect_config_t *cfg, char *errbuf,
                 size_t errlen)
{
    coord_elect_t *self = calloc (1, sizeof *self);
    cJSON *v = NULL;
    if (!self)
        goto fail;
    pthread_mutex_init (&self->io, NULL);
    pthread_mutex_init (&self->mu, NULL);
    /* the keepalive's timed wait runs on the monotonic clock: a step of
     * the wall clock must not stretch or skip a renewal                 */
    pthread_condattr_t ca;
    pthread_condattr_init (&ca);
    pthread_condattr_setclock (&ca, CLOCK_MONOTONIC);
    pthread_cond_init (&self->cond, &ca);
    pthread_condattr_destroy (&ca);
    self->ttl_ms = (cfg->ttl_ms ? cfg->ttl_ms + 999 : 2000) / 1000 * 1000;
    if (self->ttl_ms < 1000)
        self->ttl_ms = 1000;
    self->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : 2000;
    if (self->timeout_ms > self->ttl_ms / 3)
        self->timeout_ms = self->ttl_ms / 3;
    snprintf (self->key, sizeof self->key, "%sleader", cfg->prefix);
    snprintf (self->member, sizeof self->member, "%s", cfg->member);
    *errbuf = '\0';
    coord_etcd_http_config_t hcfg = {
        .endpoints = cfg->endpoints, .auth = cfg->auth,
        .timeout_ms = self->timeout_ms };
    if (coord_etcd_http_new (&hcfg, &self->http, errbuf, errlen)) {
        if (!*errbuf)
            snprintf (errbuf, errlen, "out of memory (leader election)");
        goto fail_said;
    }
    v = cJSON_CreateObject ();
    if (!v || !cJSON_AddStringToObject (v, "id", cfg->id)
        || !cJSON_AddStringToObject (v, "member", cfg->member)
        || !cJSON_AddStringToObject (v, "client", cfg->client_ep)
        || !cJSON_AddStringToObject (v, "agent", cfg->agent_ep)
        || !cJSON_AddNumberToObject (v, "pid", (double) getpid ())
        || !(self->value = cJSON_PrintUnformatted (v)))
        goto fail;
    cJSON_Delete (v);
    return self;
fail:
    snprintf (errbuf, errlen, "out of memory (leader election)");
fail_said:
    cJSON_Delete (v);
    coord_elect_destroy (&self);
    return NULL;
}

void
coord_elect_destroy (coord_elect_t **self_p)
{
    coord_elect_t *self = self_p ? *self_p : NULL;
    if (!self)
        return;
    if (self->running) {
        pthread_mutex_lock (&self->mu);
        self->stop = true;
        pthread_cond_signal (&self->cond);
        pthread_mutex_unlock (&self->mu);
        pthread_join (self->thread, NULL);
    }
    coord_etcd_http_destroy (&self->http);
    free (self->value);
    pthread_cond_destroy (&self->cond);
    pthread_mutex_destroy (&self->mu);
    pthread_mutex_destroy (&self->io);
    free (self);
    *self_p = NULL;
}

/* ---------------------------------------------------------------------
 *  The leader key
 */

/*  Fill OUT from a kv of a range answer (NULL: no leader).              */
static void
s_leader_from_kv (const cJSON *kv, coord_elect_leader_t *out)
{
    memset (out, 0, sizeof *out);
    if (!kv)
        return;
    out->create_rev = coord_etcd_get_i64 (kv, "create_revision");
    out->lease = coord_etcd_get_i64 (kv, "lease");
    const cJSON *val = cJSON_GetObjectItemCaseSensitive (kv, "value");
    char text[1024];
    cJSON *v = cJSON_IsString (val)
               && s_b64_decode (val->valuestring, text, sizeof text)
               ? cJSON_Parse (text) : NULL;
    const cJSON *f;
    if ((f = cJSON_GetObjectItemCaseSensitive (v, "member"))
        && cJSON_IsString (f))
        snprintf (out->member, sizeof out->member, "%s", f->valuestring);
    if ((f = cJSON_GetObjectItemCaseSensitive (v, "client"))
        && cJSON_IsString (f))
        snprintf (out->client, sizeof out->client, "%s", f->valuestring);
    if ((f = cJSON_GetObjectItemCaseSensitive (v, "agent"))
        && cJSON_IsString (f))
        snprintf (out->agent, sizeof out->agent, "%s", f->valuestring);
    cJSON_Delete (v);
}

int
coord_elect_read (coord_elect_t *self, coord_elect_leader_t *out)
{
    memset (out, 0, sizeof *out);
    cJSON *body = cJSON_CreateObject (), *reply = NULL;
    char *k = s_b64_encode (self->key);
    int rc = TPC_ENOMEM;
    if (!body || !k || !cJSON_AddStringToObject (body, "key", k))
        goto cleanup;
    rc = s_post (self, "kv/range", body, &reply);
    if (rc)
        goto cleanup;
    s_leader_from_kv (cJSON_GetArrayItem (
        cJSON_GetObjectItemCaseSensitive (reply, "kvs"), 0), out);
cleanup:
    free (k);
    cJSON_Delete (body);
    cJSON_Delete (reply);
    return rc;
}

/*  A new lease of ttl_ms (whole seconds); 0 or an error.               */
static int
s_grant (coord_elect_t *self)
{
    cJSON *body = cJSON_CreateObject (), *reply = NULL;
    char ttl[24];
    snprintf (ttl, sizeof ttl, "%" PRIu64, self->ttl_ms / 1000);
    int rc = TPC_ENOMEM;
    if (!body || !cJSON_AddStringToObject (body, "TTL", ttl))
        goto cleanup;
    int64_t t0 = tpc_now_ms ();
    rc = s_post (self, "lease/grant", body, &reply);
    if (rc)
        goto cleanup;
    self->lease = coord_etcd_get_i64 (reply, "ID");
    int64_t granted = coord_etcd_get_i64 (reply, "TTL");
    if (!self->lease || granted <= 0) {
        rc = TPC_EPROTO;
        goto cleanup;
    }
    self->ttl_ms = (uint64_t) granted * 1000;
    pthread_mutex_lock (&self->mu);
    self->deadline_ms = t0 + (int64_t) self->ttl_ms;
    pthread_mutex_unlock (&self->mu);
cleanup:
    cJSON_Delete (body);
    cJSON_Delete (reply);
    return rc;
}

int
coord_elect_campaign (coord_elect_t *self, coord_elect_leader_t *out)
{
    memset (out, 0, sizeof *out);
    int rc = s_grant (self);
    if (rc)
        return rc;
    char lease[24];
    snprintf (lease, sizeof lease, "%" PRId64, self->lease);
    char *k = s_b64_encode (self->key), *v = s_b64_encode (self->value);
    cJSON *txn = cJSON_CreateObject (), *reply = NULL;
    cJSON *cmp = txn ? cJSON_AddArrayToObject (txn, "compare") : NULL;
    cJSON *suc = txn ? cJSON_AddArrayToObject (txn, "success") : NULL;
    cJSON *fai = txn ? cJSON_AddArrayToObject (txn, "failure") : NULL;
    cJSON *c = cJSON_CreateObject (), *s = cJSON_CreateObject (),
          *f = cJSON_CreateObject ();
    rc = TPC_ENOMEM;
    bool added = fai && cJSON_AddItemToArray (cmp, c)
                 && cJSON_AddItemToArray (suc, s)
                 && cJSON_AddItemToArray (fai, f);
    if (!added) {
        cJSON_Delete (c);
        cJSON_Delete (s);
        cJSON_Delete (f);
    }
    cJSON *put = added ? cJSON_AddObjectToObject (s, "request_put") : NULL;
    cJSON *rng = added ? cJSON_AddObjectToObject (f, "request_range") : NULL;
    if (!k || !v || !put || !rng
        || !cJSON_AddStringToObject (c, "key", k)
        || !cJSON_AddStringToObject (c, "target", "CREATE")
        || !cJSON_AddStringToObject (c, "result", "EQUAL")
        || !cJSON_AddStringToObject (c, "create_revision", "0")
        || !cJSON_AddStringToObject (put, "key", k)
        || !cJSON_AddStringToObject (put, "value", v)
        || !cJSON_AddStringToObject (put, "lease", lease)
        || !cJSON_AddStringToObject (rng, "key", k))
        goto cleanup;
    rc = s_post (self, "kv/txn", txn, &reply);
    if (rc)
        goto cleanup;
    if (cJSON_IsTrue (cJSON_GetObjectItemCaseSensitive (reply,
                                                        "succeeded"))) {
        s_leader_from_kv (NULL, out);
        out->create_rev = coord_etcd_get_i64 (cJSON_GetObjectItemCaseSensitive (
                                         reply, "header"), "revision");
        out->lease = self->lease;
        cJSON *me = cJSON_Parse (self->value);
        const cJSON *m = cJSON_GetObjectItemCaseSensitive (me, "member"),
                    *ce = cJSON_GetObjectItemCaseSensitive (me, "client"),
                    *ae = cJSON_GetObjectItemCaseSensitive (me, "agent");
        snprintf (out->member, sizeof out->member, "%s",
                  cJSON_IsString (m) ? m->valuestring : "");
        snprintf (out->client, sizeof out->client, "%s",
                  cJSON_IsString (ce) ? ce->valuestring : "");
        snprintf (out->agent, sizeof out->agent, "%s",
                  cJSON_IsString (ae) ? ae->valuestring : "");
        cJSON_Delete (me);
        rc = out->create_rev > 0 ? 1 : TPC_EPROTO;
        goto cleanup;
    }
    const cJSON *resp = cJSON_GetArrayItem (
        cJSON_GetObjectItemCaseSensitive (reply, "responses"), 0);
    const cJSON *range = cJSON_GetObjectItemCaseSensitive (resp,
                                                           "response_range");
    s_leader_from_kv (cJSON_GetArrayItem (
        cJSON_GetObjectItemCaseSensitive (range, "kvs"), 0), out);
    /* s_post re-sends the txn to the next endpoint after a timeout: when
     * the first one landed, the retry's compare fails on OUR key        */
    rc = out->create_rev > 0 && out->lease == self->lease ? 1 : 0;
cleanup:
    free (k);
    free (v);
    cJSON_Delete (txn);
    cJSON_Delete (reply);
    return rc;
}

/* ---------------------------------------------------------------------
 *  Keepalive
 */

/*  One renewal: the TTL etcd gives back (0: the lease is gone), or a
 *  negative error (no answer).                                          */
static int64_t
s_keepalive (coord_elect_t *self)
{
    cJSON *body = cJSON_CreateObject (), *reply = NULL;
    char id[24];
    snprintf (id, sizeof id, "%" PRId64, self->lease);
    int64_t ttl = TPC_ENOMEM;
    if (!body || !cJSON_AddStringToObject (body, "ID", id))
        goto cleanup;
    int rc = s_post (self, "lease/keepalive", body, &reply);
    if (rc) {
        ttl = rc;
        goto cleanup;
    }
    /* the gateway wraps a stream's answers in {"result": ...} */
    const cJSON *r = cJSON_GetObjectItemCaseSensitive (reply, "result");
    ttl = coord_etcd_get_i64 (r ? r : reply, "TTL");
cleanup:
    cJSON_Delete (body);
    cJSON_Delete (reply);
    return ttl;
}

static void *
s_keeper (void *arg)
{
    coord_elect_t *self = arg;
    pthread_mutex_lock (&self->mu);
    while (!self->stop) {
        struct timespec ts;
        clock_gettime (CLOCK_MONOTONIC, &ts);
        uint64_t ns = (uint64_t) ts.tv_nsec + self->ttl_ms / 4 * 1000000;
        ts.tv_sec += (time_t) (ns / 1000000000);
        ts.tv_nsec = (long) (ns % 1000000000);
        pthread_cond_timedwait (&self->cond, &self->mu, &ts);
        if (self->stop)
            break;
        /* a pause (SIGSTOP, a VM freeze) past the deadline: lost, whatever
         * a late renewal would say                                       */
        if (tpc_now_ms () >= self->deadline_ms)
            break;
        pthread_mutex_unlock (&self->mu);
        int64_t t0 = tpc_now_ms ();
        int64_t ttl = s_keepalive (self);
        pthread_mutex_lock (&self->mu);
        if (ttl == 0)
            break;
        if (ttl > 0 && t0 + ttl * 1000 > self->deadline_ms)
            self->deadline_ms = t0 + ttl * 1000;
    }
    bool lost = !self->stop;
    self->deadline_ms = 0;
    pthread_mutex_unlock (&self->mu);
    if (lost && self->lost)
        self->lost (self->lost_arg);
    return NULL;
}

int
coord_elect_keep (coord_elect_t *self, void (*lost) (void *arg), void *arg)
{
    if (self->running || !self->lease)
        return TPC_ESTATE;
    self->lost = lost;
    self->lost_arg = arg;
    self->stop = false;
    if (pthread_create (&self->thread, NULL, s_keeper, self))
        return TPC_ENOMEM;
    self->running = true;
    return 0;
}

void
coord_elect_resign (coord_elect_t *self)
{
    if (!self)
        return;
    pthread_mutex_lock (&self->mu);
    self->stop = true;
    pthread_cond_signal (&self->cond);
    pthread_mutex_unlock (&self->mu);
    /* the keepalive thread ends before the lease does: it renews
     * nothing more, and is not running LOST after the caller returns   */
    if (self->running) {
        pthread_join (self->thread, NULL);
        self->running = false;
    }
    if (!self->lease)
        return;
    cJSON *body = cJSON_CreateObject (), *reply = NULL;
    char id[24];
    snprintf (id, sizeof id, "%" PRId64, self->lease);
    if (body && cJSON_AddStringToObject (body, "ID", id))
        (void) s_post (self, "lease/revoke", body, &reply);
    cJSON_Delete (body);
    cJSON_Delete (reply);
    self->lease = 0;
}

void
coord_elect_abandon (coord_elect_t *self, uint64_t budget_ms)
{
    int64_t lease = self ? self->lease : 0;
    if (!lease)
        return;
    char body[64];
    snprintf (body, sizeof body, "{\"ID\":\"%" PRId64 "\"}", lease);
    long each = (long) (budget_ms / coord_etcd_http_count (self->http));
    if (each < 50)
        each = 50;
    /* a handle of its own: the keepalive may be in a request; the first
     * member that answers at all revoked it, or it is gone             */
    (void) coord_etcd_http_post_fresh (self->http, "lease/revoke", body,
                                       each);
}

const char *
coord_elect_key (coord_elect_t *self)
{
    return self->key;
}

const char *
coord_elect_member (coord_elect_t *self)
{
    return self->member;
}

uint64_t
coord_elect_ttl_ms (coord_elect_t *self)
{
    return self->ttl_ms;
}

uint64_t
coord_elect_ttl_left_ms (coord_elect_t *self)
{
    pthread_mutex_lock (&self->mu);
    int64_t left = self->deadline_ms ? self->deadline_ms - tpc_now_ms () : 0;
    pthread_mutex_unlock (&self->mu);
    return left > 0 ? (uint64_t) left : 0;
}
