/*  coord_etcd_http: one connection to an etcd cluster's v3 JSON gateway,
 *  shared by the decision store (coord_store_etcd.c) and the leader
 *  election (coord_elect.c): the endpoint list and which one is in use,
 *  one libcurl handle (timeouts, protocol, headers), the POST of a JSON
 *  body to /v3/<path> and the parse of the answer, base64 (etcd's JSON
 *  carries keys and values so), TLS and etcd authentication.
 *
 *  ENDPOINTS  "etcd://h:p[,h:p...]" (HTTP; the scheme may be left out)
 *             or "etcds://h:p[,h:p...]" (HTTPS: the server's certificate
 *             is checked against cacert, or the system's CAs).
 *  TLS        cert + key: a client certificate (etcd --client-cert-auth).
 *  AUTH       user_file: a file whose first line is "user:password" (never
 *             on a command line).  new() asks /v3/auth/authenticate for a
 *             token, sent as the "Authorization" header of every request;
 *             an answer "invalid auth token" (the token expired, a member
 *             restarted) makes one new authenticate and one re-send.
 *
 *  Not thread-safe: the caller sends one request at a time, except
 *  coord_etcd_http_post_fresh, which uses a handle of its own.
 */
#ifndef COORD_ETCD_HTTP_H_INCLUDED
#define COORD_ETCD_HTTP_H_INCLUDED

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*  TLS and authentication settings (all NULL: plain HTTP, no auth).      */
typedef struct {
    const char *cacert;         /* PEM CA bundle for the server certificate */
    const char *cert;           /* PEM client certificate ... */
    const char *key;            /* ... and its key (both or neither) */
    const char *user_file;      /* "user:password" on its first line */
} coord_etcd_auth_t;

typedef struct {
    const char *endpoints;      /* etcd://h:p,... or etcds://h:p,... */
    coord_etcd_auth_t auth;
    uint64_t timeout_ms;        /* one request */
    uint64_t connect_timeout_ms;    /* 0 = timeout_ms */
    void (*warn) (void *arg, const char *text);  /* NULL = stderr */
    void *warn_arg;
} coord_etcd_http_config_t;

typedef struct coord_etcd_http coord_etcd_http_t;

/*  Parse the endpoints, check the files, set up curl and (user_file)
 *  authenticate.  0, or an error with a sentence in ERRBUF: TPC_ECONFIG
 *  (bad endpoints, a missing or unreadable file), TPC_EAUTH (etcd refused
 *  the user: its message), TPC_ECONNECT / TPC_ETIMEDOUT (no endpoint
 *  answered: the endpoint and curl's reason, e.g. a TLS handshake),
 *  TPC_ENOMEM.                                                          */
int coord_etcd_http_new (const coord_etcd_http_config_t *cfg,
                         coord_etcd_http_t **out, char *errbuf,
                         size_t errlen);

/*  Idempotent; *self_p becomes NULL.                                     */
void coord_etcd_http_destroy (coord_etcd_http_t **self_p);

/*  post flags                                                            */
#define COORD_ETCD_ROTATE_ALL 1u    /* any failure (timeout, not HTTP 200)
                                       moves to the next endpoint and
                                       sends again, each endpoint once;
                                       default: only a refused connection
                                       does, other failures return */
#define COORD_ETCD_QUIET 2u         /* no warning */

/*  POST BODY to /v3/PATH on the endpoint in use; *REPLY the parsed answer
 *  of an HTTP 200.  0, TPC_ETIMEDOUT, TPC_ECONNECT (no endpoint answered,
 *  TLS failed), TPC_EIO (etcd said no: its message is warned and kept),
 *  TPC_EPROTO, TPC_ENOMEM.                                              */
int coord_etcd_http_post (coord_etcd_http_t *self, const char *path,
                          const cJSON *body, unsigned flags, cJSON **reply);

/*  One POST of TEXT to /v3/PATH at endpoint AT only, quietly; 0 and
 *  *REPLY on an HTTP 200 with JSON, else a negative error.              */
int coord_etcd_http_post_at (coord_etcd_http_t *self, size_t at,
                             const char *path, const char *text,
                             cJSON **reply);

/*  POST TEXT to /v3/PATH on a fresh handle (safe while another thread is
 *  in a request on SELF), each endpoint in turn with EACH_MS, until one
 *  answers anything in HTTP.  true when one did.                        */
bool coord_etcd_http_post_fresh (coord_etcd_http_t *self, const char *path,
                                 const char *text, long each_ms);

/*  The request timeout from now on (ms).                                 */
void coord_etcd_http_set_timeout (coord_etcd_http_t *self, uint64_t ms);
uint64_t coord_etcd_http_timeout (const coord_etcd_http_t *self);

size_t coord_etcd_http_count (const coord_etcd_http_t *self);
size_t coord_etcd_http_current (const coord_etcd_http_t *self);
void coord_etcd_http_use (coord_etcd_http_t *self, size_t at);
void coord_etcd_http_next (coord_etcd_http_t *self);
/*  "host:port" of endpoint AT (the one in use: current()).              */
const char *coord_etcd_http_endpoint (const coord_etcd_http_t *self,
                                      size_t at);
/*  The last failure in a sentence ("" none).                             */
const char *coord_etcd_http_error (const coord_etcd_http_t *self);

/*  Base64 of LEN bytes, NUL-terminated; NULL when out of memory.        */
char *coord_etcd_b64_encode (const void *data, size_t len);
/*  Decode TEXT into a new buffer *OUT (NUL-terminated, *LEN bytes
 *  without it).  0, TPC_EPROTO (not base64), TPC_ENOMEM.                 */
int coord_etcd_b64_decode (const char *text, uint8_t **out, size_t *len);
/*  An int64 field: a decimal string in etcd's JSON (proto3 int64).      */
int64_t coord_etcd_get_i64 (const cJSON *obj, const char *name);

#endif
