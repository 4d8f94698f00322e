/*  coord_elect: leader election on etcd (see coord_elect.h for the keys,
 *  the value of the leader key and the states).  etcd's v3 JSON gateway:
 *  keys and values are base64 in the JSON, int64 fields decimal strings.
 */
#include "coord_elect.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tpc_clock.h"
#include "tpc_error.h"

typedef struct {
    char *data;
    size_t len, cap;
} s_buf_t;

struct coord_elect {
    char **eps;
    size_t neps, cur;
    char key[256];
    char *value;                /* our leader key value (JSON) */
    char member[128];
    uint64_t ttl_ms, timeout_ms;
    CURL *curl;
    struct curl_slist *headers;
    s_buf_t reply;
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

static const char s_b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *
s_b64_encode (const char *text)
{
    const uint8_t *p = (const uint8_t *) text;
    size_t len = strlen (text);
    char *out = malloc ((len + 2) / 3 * 4 + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t) p[i] << 16
                     | (i + 1 < len ? (uint32_t) p[i + 1] << 8 : 0)
                     | (i + 2 < len ? p[i + 2] : 0);
        *o++ = s_b64[v >> 18];
        *o++ = s_b64[(v >> 12) & 63];
        *o++ = i + 1 < len ? s_b64[(v >> 6) & 63] : '=';
        *o++ = i + 2 < len ? s_b64[v & 63] : '=';
    }
    *o = '\0';
    return out;
}

/*  Decode base64 TEXT into OUT (NUL-terminated, at most SIZE - 1 bytes);
 *  false when it is not base64 or too long.                             */
static bool
s_b64_decode (const char *text, char *out, size_t size)
{
    size_t n = strlen (text), o = 0;
    if (n % 4)
        return false;
    for (size_t i = 0; i < n; i += 4) {
        uint32_t w = 0;
        int pad = 0;
        for (int k = 0; k < 4; k++) {
            const char *c = text[i + k] ? strchr (s_b64, text[i + k]) : NULL;
            if (text[i + k] == '=' && k >= 2 && i + 4 == n)
                pad++;
            else if (!c || pad)
                return false;
            w = w << 6 | (c ? (uint32_t) (c - s_b64) : 0);
        }
        for (int k = 0; k < 3 - pad; k++) {
            if (o + 1 >= size)
                return false;
            out[o++] = (char) (w >> (16 - 8 * k));
        }
    }
    out[o] = '\0';
    return true;
}

static int64_t
s_get_i64 (const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive (obj, name);
    if (cJSON_IsString (v))
        return strtoll (v->valuestring, NULL, 10);
    if (cJSON_IsNumber (v))
        return (int64_t) v->valuedouble;
    return 0;
}

/* ---------------------------------------------------------------------
 *  HTTP
 */

static size_t
s_on_data (char *ptr, size_t size, size_t nmemb, void *arg)
{
    s_buf_t *b = arg;
    size_t len = size * nmemb;
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + len + 1)
            cap *= 2;
        char *p = realloc (b->data, cap);
        if (!p)
            return 0;
        b->data = p;
        b->cap = cap;
    }
    memcpy (b->data + b->len, ptr, len);
    b->len += len;
    b->data[b->len] = '\0';
    return len;
}

/*  POST BODY to /v3/PATH; *REPLY the parsed answer of an HTTP 200.  An
 *  endpoint that does not answer moves to the next.  0, TPC_ECONNECT,
 *  TPC_EIO (not 200), TPC_EPROTO, TPC_ENOMEM.                           */
static int
s_post (coord_elect_t *self, const char *path, cJSON *body, cJSON **reply)
{
    *reply = NULL;
    char *text = cJSON_PrintUnformatted (body);
    if (!text)
        return TPC_ENOMEM;
    int rc = TPC_ECONNECT;
    pthread_mutex_lock (&self->io);
    for (size_t tries = 0; tries < self->neps; tries++) {
        char url[512];
        snprintf (url, sizeof url, "http://%s/v3/%s", self->eps[self->cur],
                  path);
        self->reply.len = 0;
        if (self->reply.data)
            self->reply.data[0] = '\0';
        curl_easy_setopt (self->curl, CURLOPT_URL, url);
        curl_easy_setopt (self->curl, CURLOPT_POSTFIELDS, text);
        curl_easy_setopt (self->curl, CURLOPT_POSTFIELDSIZE,
                          (long) strlen (text));
        long status = 0;
        if (curl_easy_perform (self->curl) != CURLE_OK) {
            self->cur = (self->cur + 1) % self->neps;
            continue;
        }
        curl_easy_getinfo (self->curl, CURLINFO_RESPONSE_CODE, &status);
        if (status != 200) {
            rc = TPC_EIO;
            self->cur = (self->cur + 1) % self->neps;
            continue;
        }
        *reply = self->reply.data ? cJSON_Parse (self->reply.data) : NULL;
        rc = *reply ? 0 : TPC_EPROTO;
        break;
    }
    pthread_mutex_unlock (&self->io);
    free (text);
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
    char *copy = NULL;
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
    const char *spec = cfg->endpoints ? cfg->endpoints : "";
    if (!strncmp (spec, "etcd://", 7))
        spec += 7;
    copy = strdup (spec);
    if (!copy)
        goto fail;
    char *save = NULL;
    for (char *t = strtok_r (copy, ",", &save); t;
         t = strtok_r (NULL, ",", &save)) {
        char **eps = realloc (self->eps, (self->neps + 1) * sizeof *eps);
        if (!eps)
            goto fail;
        self->eps = eps;
        if (!(eps[self->neps] = strdup (t)))
            goto fail;
        self->neps++;
    }
    if (!self->neps) {
        snprintf (errbuf, errlen, "no etcd endpoint in '%s'", spec);
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
    if (curl_global_init (CURL_GLOBAL_DEFAULT) != CURLE_OK
        || !(self->curl = curl_easy_init ())
        || !(self->headers = curl_slist_append (NULL, "Content-Type: "
                                                "application/json")))
        goto fail;
    curl_easy_setopt (self->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt (self->curl, CURLOPT_TIMEOUT_MS, (long) self->timeout_ms);
    curl_easy_setopt (self->curl, CURLOPT_CONNECTTIMEOUT_MS,
                      (long) self->timeout_ms);
    curl_easy_setopt (self->curl, CURLOPT_HTTPHEADER, self->headers);
    curl_easy_setopt (self->curl, CURLOPT_WRITEFUNCTION, s_on_data);
    curl_easy_setopt (self->curl, CURLOPT_WRITEDATA, &self->reply);
    cJSON_Delete (v);
    free (copy);
    return self;
fail:
    snprintf (errbuf, errlen, "out of memory (leader election)");
fail_said:
    cJSON_Delete (v);
    free (copy);
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
    if (self->curl)
        curl_easy_cleanup (self->curl);
    curl_slist_free_all (self->headers);
    for (size_t i = 0; i < self->neps; i++)
        free (self->eps[i]);
    free (self->eps);
    free (self->value);
    free (self->reply.data);
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
    out->create_rev = s_get_i64 (kv, "create_revision");
    out->lease = s_get_i64 (kv, "lease");
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
    self->lease = s_get_i64 (reply, "ID");
    int64_t granted = s_get_i64 (reply, "TTL");
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
        out->create_rev = s_get_i64 (cJSON_GetObjectItemCaseSensitive (
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
    ttl = s_get_i64 (r ? r : reply, "TTL");
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

static size_t
s_discard (char *ptr, size_t size, size_t nmemb, void *arg)
{
    (void) ptr;
    (void) arg;
    return size * nmemb;
}

void
coord_elect_abandon (coord_elect_t *self, uint64_t budget_ms)
{
    int64_t lease = self ? self->lease : 0;
    CURL *c = lease ? curl_easy_init () : NULL;
    if (!c)
        return;
    char body[64];
    snprintf (body, sizeof body, "{\"ID\":\"%" PRId64 "\"}", lease);
    long each = (long) (budget_ms / self->neps);
    if (each < 50)
        each = 50;
    curl_easy_setopt (c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt (c, CURLOPT_TIMEOUT_MS, each);
    curl_easy_setopt (c, CURLOPT_CONNECTTIMEOUT_MS, each);
    curl_easy_setopt (c, CURLOPT_HTTPHEADER, self->headers);
    curl_easy_setopt (c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt (c, CURLOPT_WRITEFUNCTION, s_discard);
    for (size_t i = 0; i < self->neps; i++) {
        char url[512];
        snprintf (url, sizeof url, "http://%s/v3/lease/revoke",
                  self->eps[i]);
        curl_easy_setopt (c, CURLOPT_URL, url);
        long status = 0;
        if (curl_easy_perform (c) == CURLE_OK
            && curl_easy_getinfo (c, CURLINFO_RESPONSE_CODE, &status)
               == CURLE_OK
            && status > 0)      /* etcd answered: revoked or gone */
            break;
    }
    curl_easy_cleanup (c);
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
