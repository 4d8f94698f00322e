/*  coord_http: the coordinator's HTTP server, on libmicrohttpd: GET
 *  /metrics (coord_metrics) and, with the console on, the operator
 *  console: its page (the files of coordinator/console/, embedded at
 *  build time: coord_assets.h) and its JSON API under /api/v1/ (docs/
 *  CONSOLE.md has the contract).
 *
 *  One thread per connection (at most S_CONNECTIONS), each request within
 *  10 s; an URL and its headers within 16 KiB (libmicrohttpd answers
 *  414/431 beyond), a body within 4 KiB (413).  Reads are served from
 *  the console's snapshot, writes go to the loop and wait for its answer
 *  (coord_console.h): the server never touches the engine.
 *
 *  Writes (POST) need the header "X-TPC-Token: <the token file's first
 *  line>", compared in constant time (no token file: every write is 403,
 *  the console is read-only; no header 401, a wrong one 403), and
 *  "Content-Type: application/json" (415 otherwise): a form another site
 *  posts cannot carry either.  Every response says
 *  "Content-Security-Policy: default-src 'self'" and "X-Content-Type-
 *  Options: nosniff"; the API's "Cache-Control: no-store".  JSON strings
 *  escape <, > and & (\u003c ...), so a statement's text can never be
 *  markup.
 */
#ifndef COORD_HTTP_H
#define COORD_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "coord_console.h"
#include "coord_metrics.h"

typedef struct coord_http coord_http_t;

typedef struct {
    const char *bind;           /* "HOST:PORT", ":PORT" or "PORT" (host
                                   127.0.0.1); port 0 = any free port */
    const char *flag;           /* the flag named in errors */
    coord_metrics_t *metrics;   /* GET /metrics; NULL: 404 */
    coord_console_t *console;   /* the console; NULL: /metrics only */
    const char *token_file;     /* the write token; NULL: read-only */
    const char *coord_id;
    const char *version;
} coord_http_config_t;

/*  Listen and serve; NULL with a sentence in ERRBUF.                    */
coord_http_t *coord_http_new (const coord_http_config_t *cfg, char *errbuf,
                              size_t errlen);

/*  Stop serving (waits for the connection threads); *self_p becomes
 *  NULL.  Idempotent.                                                    */
void coord_http_destroy (coord_http_t **self_p);

/*  The port bound.                                                       */
int coord_http_port (coord_http_t *self);

#endif
