/*  coord_etcd_http: one connection to etcd's v3 JSON gateway (see
 *  coord_etcd_http.h): endpoints, one libcurl handle, JSON POSTs, TLS,
 *  the auth token, base64.  No byte-level format of its own: the bodies
 *  are etcd's (keys and values base64, int64 fields decimal strings).
 */
#include "coord_etcd_http.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tpc_error.h"

typedef struct {
    char *data;
    size_t len, cap;
} s_buf_t;

struct coord_etcd_http {
    char **eps;                 /* "host:port" */
    size_t neps, cur;           /* cur: the endpoint in use */
    bool tls;
    char *cacert, *cert, *key;
    char *user, *password;      /* NULL: no etcd auth */
    uint64_t timeout_ms, connect_timeout_ms;
    void (*warn) (void *arg, const char *text);
    void *warn_arg;
    CURL *curl;
    pthread_mutex_t hmu;        /* headers, token: post_fresh reads them */
    struct curl_slist *headers;
    char *token;
    s_buf_t reply;
    char curl_err[CURL_ERROR_SIZE];
    char error[768];            /* the last failure */
};

/* ---------------------------------------------------------------------
 *  base64, JSON
 */

static const char s_b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *
coord_etcd_b64_encode (const void *data, size_t len)
{
    const uint8_t *p = data;
    char *out = malloc ((len + 2) / 3 * 4 + 1), *o = out;
    if (!out)
        return NULL;
    size_t i = 0;
    for (; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t) p[i] << 16 | (uint32_t) p[i + 1] << 8 | p[i + 2];
        *o++ = s_b64[v >> 18];
        *o++ = s_b64[(v >> 12) & 63];
        *o++ = s_b64[(v >> 6) & 63];
        *o++ = s_b64[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t) p[i] << 16
                     | (i + 1 < len ? (uint32_t) p[i + 1] << 8 : 0);
        *o++ = s_b64[v >> 18];
        *o++ = s_b64[(v >> 12) & 63];
        *o++ = i + 1 < len ? s_b64[(v >> 6) & 63] : '=';
        *o++ = '=';
    }
    *o = '\0';
    return out;
}

static int
s_b64_val (char c)
{
    const char *p = c ? strchr (s_b64, c) : NULL;
    return p ? (int) (p - s_b64) : -1;
}

int
coord_etcd_b64_decode (const char *text, uint8_t **out, size_t *len)
{
    size_t n = strlen (text);
    *out = NULL;
    *len = 0;
    if (n % 4)
        return TPC_EPROTO;
    uint8_t *buf = malloc (n / 4 * 3 + 1);
    if (!buf)
        return TPC_ENOMEM;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 4) {
        int v[4];
        for (int k = 0; k < 4; k++)
            v[k] = text[i + k] == '=' && i + 4 == n && k >= 2
                   ? 0 : s_b64_val (text[i + k]);
        if (v[0] < 0 || v[1] < 0 || v[2] < 0 || v[3] < 0
            || (text[i + 2] == '=' && text[i + 3] != '=')) {
            free (buf);
            return TPC_EPROTO;
        }
        uint32_t w = (uint32_t) v[0] << 18 | (uint32_t) v[1] << 12
                     | (uint32_t) v[2] << 6 | (uint32_t) v[3];
        buf[o++] = (uint8_t) (w >> 16);
        if (text[i + 2] != '=')
            buf[o++] = (uint8_t) (w >> 8);
        if (text[i + 3] != '=')
            buf[o++] = (uint8_t) w;
    }
    buf[o] = '\0';
    *out = buf;
    *len = o;
    return 0;
}

int64_t
coord_etcd_get_i64 (const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive (obj, name);
    if (cJSON_IsString (v))
        return strtoll (v->valuestring, NULL, 10);
    if (cJSON_IsNumber (v))
        return (int64_t) v->valuedouble;
    return 0;
}

/* ---------------------------------------------------------------------
 *  Messages
 */

static void
s_fail (coord_etcd_http_t *self, bool quiet, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

/*  Warn the last failure unless QUIET.                                   */
static void
s_say (coord_etcd_http_t *self, bool quiet)
{
    if (quiet)
        return;
    if (self->warn)
        self->warn (self->warn_arg, self->error);
    else
        fprintf (stderr, "etcd: %s\n", self->error);
}

/*  Keep the last failure; warn it unless QUIET.                          */
static void
s_fail (coord_etcd_http_t *self, bool quiet, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (self->error, sizeof self->error, fmt, ap);
    va_end (ap);
    if (quiet)
        return;
    if (self->warn)
        self->warn (self->warn_arg, self->error);
    else
        fprintf (stderr, "etcd: %s\n", self->error);
}

/*  etcd's message in an error answer ("error" in 3.4, "message" later).  */
static const char *
s_etcd_message (const cJSON *reply, const char *raw)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive (reply, "error");
    if (!cJSON_IsString (m))
        m = cJSON_GetObjectItemCaseSensitive (reply, "message");
    return cJSON_IsString (m) ? m->valuestring : raw ? raw : "";
}

/*  curl's reason for CC: its error buffer when it has one.               */
static const char *
s_curl_reason (coord_etcd_http_t *self, CURLcode cc)
{
    return self->curl_err[0] ? self->curl_err : curl_easy_strerror (cc);
}

/* ---------------------------------------------------------------------
 *  curl
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

static size_t
s_discard (char *ptr, size_t size, size_t nmemb, void *arg)
{
    (void) ptr;
    (void) arg;
    return size * nmemb;
}

/*  A new header list: JSON, no Expect, and the token TOKEN (may be
 *  NULL).  NULL when out of memory.                                      */
static struct curl_slist *
s_headers (const char *token)
{
    struct curl_slist *h = curl_slist_append (NULL, "Content-Type: "
                                              "application/json");
    if (h && !curl_slist_append (h, "Expect:")) {
        curl_slist_free_all (h);
        return NULL;
    }
    if (h && token) {
        size_t n = strlen (token) + 32;
        char *line = malloc (n);
        if (line)
            snprintf (line, n, "Authorization: %s", token);
        if (!line || !curl_slist_append (h, line)) {
            curl_slist_free_all (h);
            h = NULL;
        }
        free (line);
    }
    return h;
}

/*  TLS, protocol and the common options on handle C.                     */
static void
s_setup (coord_etcd_http_t *self, CURL *c)
{
    curl_easy_setopt (c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt (c, CURLOPT_PROTOCOLS_STR, self->tls ? "https" : "http");
    if (self->cacert)
        curl_easy_setopt (c, CURLOPT_CAINFO, self->cacert);
    if (self->cert)
        curl_easy_setopt (c, CURLOPT_SSLCERT, self->cert);
    if (self->key)
        curl_easy_setopt (c, CURLOPT_SSLKEY, self->key);
}

static void
s_url (coord_etcd_http_t *self, char *url, size_t len, size_t at,
       const char *path)
{
    snprintf (url, len, "%s://%s/v3/%s", self->tls ? "https" : "http",
              self->eps[at], path);
}

/*  One POST of TEXT to /v3/PATH at endpoint AT on the main handle: the
 *  answer in self->reply, *STATUS its HTTP status.                       */
static CURLcode
s_perform (coord_etcd_http_t *self, size_t at, const char *path,
           const char *text, long *status)
{
    char url[512];
    s_url (self, url, sizeof url, at, path);
    self->reply.len = 0;        /* and no old text: an empty body is empty */
    if (self->reply.data)
        self->reply.data[0] = '\0';
    self->curl_err[0] = '\0';
    *status = 0;
    curl_easy_setopt (self->curl, CURLOPT_URL, url);
    curl_easy_setopt (self->curl, CURLOPT_POSTFIELDS, text);
    curl_easy_setopt (self->curl, CURLOPT_POSTFIELDSIZE, (long) strlen (text));
    CURLcode cc = curl_easy_perform (self->curl);
    if (cc == CURLE_OK)
        curl_easy_getinfo (self->curl, CURLINFO_RESPONSE_CODE, status);
    return cc;
}

/* ---------------------------------------------------------------------
 *  Authentication
 */

/*  Read "user:password" (first line) from PATH.  0, or TPC_ECONFIG with
 *  a sentence in ERRBUF, TPC_ENOMEM.                                     */
static int
s_read_user (coord_etcd_http_t *self, const char *path, char *errbuf,
             size_t errlen)
{
    char line[1024] = "";
    FILE *f = fopen (path, "r");
    if (!f) {
        snprintf (errbuf, errlen, "etcd user file %s: %s", path,
                  strerror (errno));
        return TPC_ECONFIG;
    }
    bool ok = fgets (line, sizeof line, f) != NULL;
    fclose (f);
    line[strcspn (line, "\r\n")] = '\0';
    char *colon = strchr (line, ':');
    if (!ok || !colon || colon == line) {
        snprintf (errbuf, errlen, "etcd user file %s: its first line is not "
                  "user:password", path);
        return TPC_ECONFIG;
    }
    *colon = '\0';
    self->user = strdup (line);
    self->password = strdup (colon + 1);
    memset (line, 0, sizeof line);
    return self->user && self->password ? 0 : TPC_ENOMEM;
}

/*  Ask for a new token (each endpoint in turn while none answers) and
 *  make it the Authorization header.  0, TPC_EAUTH (etcd refused: its
 *  message in self->error), TPC_ECONNECT / TPC_ETIMEDOUT, TPC_EPROTO,
 *  TPC_ENOMEM.                                                           */
static int
s_authenticate (coord_etcd_http_t *self, bool quiet)
{
    cJSON *body = cJSON_CreateObject (), *reply = NULL;
    char *text = NULL;
    int rc = TPC_ENOMEM;
    if (!body || !cJSON_AddStringToObject (body, "name", self->user)
        || !cJSON_AddStringToObject (body, "password", self->password)
        || !(text = cJSON_PrintUnformatted (body)))
        goto cleanup;
    /* no old token on the authenticate request itself */
    pthread_mutex_lock (&self->hmu);
    struct curl_slist *h = s_headers (NULL);
    if (h) {
        curl_slist_free_all (self->headers);
        self->headers = h;
        free (self->token);
        self->token = NULL;
        curl_easy_setopt (self->curl, CURLOPT_HTTPHEADER, self->headers);
    }
    pthread_mutex_unlock (&self->hmu);
    if (!h)
        goto cleanup;
    rc = TPC_ECONNECT;
    CURLcode cc = CURLE_OK;
    long status = 0;
    for (size_t tries = 0; tries < self->neps; tries++) {
        cc = s_perform (self, self->cur, "auth/authenticate", text, &status);
        if (cc == CURLE_OK)
            break;
        s_fail (self, true, "auth/authenticate: %s (endpoint %s)",
                s_curl_reason (self, cc), self->eps[self->cur]);
        self->cur = (self->cur + 1) % self->neps;
    }
    if (cc != CURLE_OK) {
        rc = cc == CURLE_OPERATION_TIMEDOUT ? TPC_ETIMEDOUT : TPC_ECONNECT;
        s_say (self, quiet);
        goto cleanup;
    }
    reply = self->reply.len ? cJSON_Parse (self->reply.data) : NULL;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive (reply, "token");
    if (status != 200 || !cJSON_IsString (t) || !*t->valuestring) {
        s_fail (self, quiet, "etcd %s refused user '%s': %s",
                self->eps[self->cur], self->user,
                status == 200 ? "no token in its answer (is auth enabled?)"
                : s_etcd_message (reply, self->reply.data));
        rc = status == 200 ? TPC_EPROTO : TPC_EAUTH;
        goto cleanup;
    }
    rc = TPC_ENOMEM;
    pthread_mutex_lock (&self->hmu);
    h = s_headers (t->valuestring);
    if (h) {
        curl_slist_free_all (self->headers);
        self->headers = h;
        self->token = strdup (t->valuestring);
        curl_easy_setopt (self->curl, CURLOPT_HTTPHEADER, self->headers);
    }
    pthread_mutex_unlock (&self->hmu);
    if (h && self->token)
        rc = 0;
cleanup:
    if (text)
        memset (text, 0, strlen (text));
    free (text);
    cJSON_Delete (body);
    cJSON_Delete (reply);
    return rc;
}

/* ---------------------------------------------------------------------
 *  Requests
 */

int
coord_etcd_http_post (coord_etcd_http_t *self, const char *path,
                      const cJSON *body, unsigned flags, cJSON **reply)
{
    *reply = NULL;
    bool quiet = flags & COORD_ETCD_QUIET;
    bool rotate_all = flags & COORD_ETCD_ROTATE_ALL;
    bool reauthed = false;
    char *text = cJSON_PrintUnformatted (body);
    if (!text)
        return TPC_ENOMEM;
    int rc = TPC_ECONNECT;
    CURLcode cc = CURLE_OK;
    long status = 0;
    for (size_t tries = 0; tries < self->neps; tries++) {
        cc = s_perform (self, self->cur, path, text, &status);
        if (cc == CURLE_OK && status != 200 && self->user && !reauthed
            && strstr (self->reply.data ? self->reply.data : "",
                       "invalid auth token")) {
            /* the token expired or its member forgot it: once more */
            s_fail (self, quiet, "%s: etcd %s: invalid auth token; "
                    "authenticating again", path, self->eps[self->cur]);
            reauthed = true;
            tries--;
            if ((rc = s_authenticate (self, quiet)))
                goto cleanup;
            rc = TPC_ECONNECT;
            continue;
        }
        if (cc == CURLE_OK && (status == 200 || !rotate_all)) {
            rc = 0;
            break;
        }
        if (cc == CURLE_OK) {       /* rotate_all: not 200 */
            cJSON *r = self->reply.len ? cJSON_Parse (self->reply.data)
                                       : NULL;
            s_fail (self, true, "%s: etcd %s answered HTTP %ld: %s", path,
                    self->eps[self->cur], status,
                    s_etcd_message (r, self->reply.data));
            cJSON_Delete (r);
            rc = TPC_EIO;
        }
        else {
            s_fail (self, true, "%s: %s (endpoint %s)", path,
                    s_curl_reason (self, cc), self->eps[self->cur]);
            rc = cc == CURLE_OPERATION_TIMEDOUT ? TPC_ETIMEDOUT
                                                : TPC_ECONNECT;
        }
        if (cc == CURLE_COULDNT_CONNECT || rotate_all) {
            self->cur = (self->cur + 1) % self->neps;
            continue;
        }
        break;
    }
    if (rc) {
        s_say (self, quiet);
        goto cleanup;
    }
    *reply = self->reply.len ? cJSON_Parse (self->reply.data) : NULL;
    if (status != 200) {
        s_fail (self, quiet, "%s: etcd %s answered HTTP %ld: %s", path,
                self->eps[self->cur], status,
                s_etcd_message (*reply, self->reply.data));
        cJSON_Delete (*reply);
        *reply = NULL;
        rc = TPC_EIO;
    }
    else if (!*reply) {
        s_fail (self, quiet, "%s: etcd %s answered %s", path,
                self->eps[self->cur], self->reply.len
                ? "something that is not JSON" : "an empty body");
        rc = TPC_EPROTO;
    }
cleanup:
    free (text);
    return rc;
}

int
coord_etcd_http_post_at (coord_etcd_http_t *self, size_t at,
                         const char *path, const char *text, cJSON **reply)
{
    *reply = NULL;
    long status = 0;
    CURLcode cc = s_perform (self, at % self->neps, path, text, &status);
    if (cc != CURLE_OK)
        return cc == CURLE_OPERATION_TIMEDOUT ? TPC_ETIMEDOUT : TPC_ECONNECT;
    if (status != 200)
        return TPC_EIO;
    *reply = self->reply.len ? cJSON_Parse (self->reply.data) : NULL;
    return *reply ? 0 : TPC_EPROTO;
}

bool
coord_etcd_http_post_fresh (coord_etcd_http_t *self, const char *path,
                            const char *text, long each_ms)
{
    CURL *c = curl_easy_init ();
    if (!c)
        return false;
    pthread_mutex_lock (&self->hmu);
    struct curl_slist *h = s_headers (self->token);
    pthread_mutex_unlock (&self->hmu);
    s_setup (self, c);
    curl_easy_setopt (c, CURLOPT_TIMEOUT_MS, each_ms);
    curl_easy_setopt (c, CURLOPT_CONNECTTIMEOUT_MS, each_ms);
    curl_easy_setopt (c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt (c, CURLOPT_POSTFIELDS, text);
    curl_easy_setopt (c, CURLOPT_WRITEFUNCTION, s_discard);
    bool answered = false;
    for (size_t i = 0; i < self->neps && !answered; i++) {
        char url[512];
        s_url (self, url, sizeof url, i, path);
        curl_easy_setopt (c, CURLOPT_URL, url);
        long status = 0;
        answered = curl_easy_perform (c) == CURLE_OK
                   && curl_easy_getinfo (c, CURLINFO_RESPONSE_CODE, &status)
                      == CURLE_OK
                   && status > 0;
    }
    curl_easy_cleanup (c);
    curl_slist_free_all (h);
    return answered;
}

/* ---------------------------------------------------------------------
 *  Life cycle, accessors
 */

/*  Split "etcd://h:p,h:p" / "etcds://..." into self->eps.  0,
 *  TPC_ECONFIG, TPC_ENOMEM.                                              */
static int
s_parse_endpoints (coord_etcd_http_t *self, const char *spec)
{
    if (!spec)
        return TPC_ECONFIG;
    if (!strncmp (spec, "etcd://", 7))
        spec += 7;
    else if (!strncmp (spec, "etcds://", 8)) {
        spec += 8;
        self->tls = true;
    }
    char *copy = strdup (spec), *save = NULL;
    if (!copy)
        return TPC_ENOMEM;
    int rc = 0;
    for (char *t = strtok_r (copy, ",", &save); t && !rc;
         t = strtok_r (NULL, ",", &save)) {
        const char *colon = strrchr (t, ':');
        char **eps = realloc (self->eps, (self->neps + 1) * sizeof *eps);
        if (!colon || colon == t || !colon[1]
            || strspn (colon + 1, "0123456789") != strlen (colon + 1)
            || strlen (t) > 255)
            rc = TPC_ECONFIG;
        else if (!eps || !(eps[self->neps] = strdup (t)))
            rc = TPC_ENOMEM;
        if (eps)
            self->eps = eps;
        if (!rc)
            self->neps++;
    }
    free (copy);
    return rc ? rc : self->neps ? 0 : TPC_ECONFIG;
}

/*  Copy PATH into *OUT after checking it can be read.  0, TPC_ECONFIG
 *  (ERRBUF), TPC_ENOMEM.                                                 */
static int
s_file (const char *what, const char *path, char **out, char *errbuf,
        size_t errlen)
{
    if (!path)
        return 0;
    FILE *f = fopen (path, "r");
    if (!f) {
        snprintf (errbuf, errlen, "etcd %s %s: %s", what, path,
                  strerror (errno));
        return TPC_ECONFIG;
    }
    fclose (f);
    *out = strdup (path);
    return *out ? 0 : TPC_ENOMEM;
}

int
coord_etcd_http_new (const coord_etcd_http_config_t *cfg,
                     coord_etcd_http_t **out, char *errbuf, size_t errlen)
{
    *out = NULL;
    coord_etcd_http_t *self = calloc (1, sizeof *self);
    if (!self)
        return TPC_ENOMEM;
    pthread_mutex_init (&self->hmu, NULL);
    self->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : 5000;
    self->connect_timeout_ms = cfg->connect_timeout_ms
                               ? cfg->connect_timeout_ms : self->timeout_ms;
    self->warn = cfg->warn;
    self->warn_arg = cfg->warn_arg;
    int rc = s_parse_endpoints (self, cfg->endpoints);
    if (rc == TPC_ECONFIG) {
        snprintf (errbuf, errlen, "'%s' is not etcd://HOST:PORT[,HOST:PORT"
                  "...] or etcds://...", cfg->endpoints ? cfg->endpoints
                                                      : "");
        goto fail;
    }
    if (rc)
        goto fail;
    rc = TPC_ECONFIG;
    if (!cfg->auth.cert != !cfg->auth.key) {
        snprintf (errbuf, errlen, "an etcd client certificate needs both "
                  "its certificate and its key file");
        goto fail;
    }
    if (!self->tls && (cfg->auth.cacert || cfg->auth.cert)) {
        snprintf (errbuf, errlen, "a CA or client certificate for etcd "
                  "needs etcds://HOST:PORT (HTTPS), not '%s'",
                  cfg->endpoints);
        goto fail;
    }
    if ((rc = s_file ("CA file", cfg->auth.cacert, &self->cacert, errbuf,
                      errlen))
        || (rc = s_file ("certificate file", cfg->auth.cert, &self->cert,
                         errbuf, errlen))
        || (rc = s_file ("key file", cfg->auth.key, &self->key, errbuf,
                         errlen))
        || (cfg->auth.user_file
            && (rc = s_read_user (self, cfg->auth.user_file, errbuf,
                                  errlen))))
        goto fail;
    rc = TPC_ENOMEM;
    if (curl_global_init (CURL_GLOBAL_DEFAULT) != CURLE_OK
        || !(self->curl = curl_easy_init ())
        || !(self->headers = s_headers (NULL)))
        goto fail;
    s_setup (self, self->curl);
    curl_easy_setopt (self->curl, CURLOPT_TIMEOUT_MS, (long) self->timeout_ms);
    curl_easy_setopt (self->curl, CURLOPT_CONNECTTIMEOUT_MS,
                      (long) self->connect_timeout_ms);
    curl_easy_setopt (self->curl, CURLOPT_HTTPHEADER, self->headers);
    curl_easy_setopt (self->curl, CURLOPT_WRITEFUNCTION, s_on_data);
    curl_easy_setopt (self->curl, CURLOPT_WRITEDATA, &self->reply);
    curl_easy_setopt (self->curl, CURLOPT_ERRORBUFFER, self->curl_err);
    if (self->user && (rc = s_authenticate (self, true))) {
        snprintf (errbuf, errlen, "%s", self->error);
        goto fail;
    }
    *out = self;
    return 0;
fail:
    coord_etcd_http_destroy (&self);
    return rc;
}

void
coord_etcd_http_destroy (coord_etcd_http_t **self_p)
{
    coord_etcd_http_t *self = self_p ? *self_p : NULL;
    if (!self)
        return;
    if (self->curl)
        curl_easy_cleanup (self->curl);
    curl_slist_free_all (self->headers);
    for (size_t i = 0; i < self->neps; i++)
        free (self->eps[i]);
    free (self->eps);
    free (self->cacert);
    free (self->cert);
    free (self->key);
    free (self->user);
    if (self->password)
        memset (self->password, 0, strlen (self->password));
    free (self->password);
    free (self->token);
    free (self->reply.data);
    pthread_mutex_destroy (&self->hmu);
    free (self);
    *self_p = NULL;
}

void
coord_etcd_http_set_timeout (coord_etcd_http_t *self, uint64_t ms)
{
    curl_easy_setopt (self->curl, CURLOPT_TIMEOUT_MS, (long) ms);
}

uint64_t
coord_etcd_http_timeout (const coord_etcd_http_t *self)
{
    return self->timeout_ms;
}

size_t
coord_etcd_http_count (const coord_etcd_http_t *self)
{
    return self->neps;
}

size_t
coord_etcd_http_current (const coord_etcd_http_t *self)
{
    return self->cur;
}

void
coord_etcd_http_use (coord_etcd_http_t *self, size_t at)
{
    self->cur = at % self->neps;
}

void
coord_etcd_http_next (coord_etcd_http_t *self)
{
    self->cur = (self->cur + 1) % self->neps;
}

const char *
coord_etcd_http_endpoint (const coord_etcd_http_t *self, size_t at)
{
    return self->eps[at % self->neps];
}

const char *
coord_etcd_http_error (const coord_etcd_http_t *self)
{
    return self->error;
}
