/*  coord_metrics: atomic counters and a tiny HTTP server for Prometheus
 *  (see coord_metrics.h for the metrics and the server's rules).
 *
 *  A histogram keeps one atomic count per bucket (not cumulative), an
 *  atomic count and an atomic sum in microseconds; rendering reads them
 *  without a lock, so one scrape may see a sample counted in _count and
 *  not yet in its bucket (never the reverse order of magnitude), which
 *  Prometheus tolerates.                                                 */
#include "coord_metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tpc_clock.h"

#define S_NBUCKETS 14           /* 13 bounds and +Inf */
#define S_REQ_MAX 8192
#define S_REQ_MS 2000

static const double s_bounds[S_NBUCKETS - 1] = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10
};

typedef struct {
    _Atomic uint64_t bucket[S_NBUCKETS];
    _Atomic uint64_t count;
    _Atomic uint64_t sum_us;
} s_hist_t;

enum { S_COMMITTED, S_ABORTED, S_UNKNOWN, S_NOUTCOMES };
enum { S_PREPARE, S_PRECOMMIT, S_DECIDE, S_COMMIT, S_NPHASES };

struct coord_metrics {
    int listen_fd;
    int stop[2];
    int port;
    pthread_t thread;
    bool running;
    _Atomic uint64_t ended[S_NOUTCOMES];
    s_hist_t txn, phase[S_NPHASES], sync;
    _Atomic uint64_t syncs;
    _Atomic uint64_t in_flight, in_doubt, heuristic, agents, agent_connects;
};

static const char *s_outcome_label[S_NOUTCOMES] = {
    "committed", "aborted", "unknown"
};
static const char *s_phase_label[S_NPHASES] = {
    "prepare", "precommit", "decide", "commit"
};

static void
s_observe (s_hist_t *h, uint64_t us)
{
    double sec = (double) us / 1e6;
    int b = 0;
    while (b < S_NBUCKETS - 1 && sec > s_bounds[b])
        b++;
    atomic_fetch_add_explicit (&h->bucket[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit (&h->sum_us, us, memory_order_relaxed);
    atomic_fetch_add_explicit (&h->count, 1, memory_order_relaxed);
}

void
coord_metrics_ended (coord_metrics_t *self, const coord_action_t *act)
{
    if (!self)
        return;
    int o = act->outcome == TPC_OUTCOME_COMMITTED ? S_COMMITTED
          : act->outcome == TPC_OUTCOME_ABORTED ? S_ABORTED : S_UNKNOWN;
    atomic_fetch_add_explicit (&self->ended[o], 1, memory_order_relaxed);
    s_observe (&self->txn, act->age_ms * 1000);
    const uint64_t ms[S_NPHASES] = { act->prepare_ms, act->precommit_ms,
                                     act->decide_ms, act->commit_ms };
    for (int i = 0; i < S_NPHASES; i++)
        if (ms[i] != COORD_NEVER)
            s_observe (&self->phase[i], ms[i] * 1000);
}

void
coord_metrics_sync (coord_metrics_t *self, uint64_t us)
{
    if (!self)
        return;
    atomic_fetch_add_explicit (&self->syncs, 1, memory_order_relaxed);
    s_observe (&self->sync, us);
}

void
coord_metrics_publish (coord_metrics_t *self,
                       const coord_engine_stats_t *st)
{
    if (!self)
        return;
    atomic_store_explicit (&self->in_flight, st->live, memory_order_relaxed);
    atomic_store_explicit (&self->in_doubt, st->in_doubt,
                           memory_order_relaxed);
    atomic_store_explicit (&self->heuristic, st->heuristic,
                           memory_order_relaxed);
    atomic_store_explicit (&self->agents, st->agents_connected,
                           memory_order_relaxed);
    atomic_store_explicit (&self->agent_connects, st->agent_connects,
                           memory_order_relaxed);
}

/* ---------------------------------------------------------------------
 *  Rendering
 */

typedef struct {
    char *p;
    size_t n, cap;
    bool failed;
} s_buf_t;

static void
s_put (s_buf_t *b, const char *fmt, ...) __attribute__ ((format (printf, 2,
                                                                 3)));

static void
s_put (s_buf_t *b, const char *fmt, ...)
{
    for (int attempt = 0; attempt < 2 && !b->failed; attempt++) {
        va_list ap;
        va_start (ap, fmt);
        int n = vsnprintf (b->p + b->n, b->cap - b->n, fmt, ap);
        va_end (ap);
        if (n < 0) {
            b->failed = true;
            return;
        }
        if ((size_t) n < b->cap - b->n) {
            b->n += (size_t) n;
            return;
        }
        size_t cap = (b->cap + (size_t) n) * 2;
        char *p = realloc (b->p, cap);
        if (!p) {
            b->failed = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
}

static uint64_t
s_get (_Atomic uint64_t *v)
{
    return atomic_load_explicit (v, memory_order_relaxed);
}

/*  NAME's series (LABEL may be "" or `phase="x"`).                       */
static void
s_put_hist (s_buf_t *b, const char *name, const char *label, s_hist_t *h)
{
    uint64_t cum = 0;
    for (int i = 0; i < S_NBUCKETS; i++) {
        cum += s_get (&h->bucket[i]);
        char le[32];
        if (i < S_NBUCKETS - 1)
            snprintf (le, sizeof le, "%g", s_bounds[i]);
        else
            snprintf (le, sizeof le, "+Inf");
        s_put (b, "%s_bucket{%s%sle=\"%s\"} %" PRIu64 "\n", name, label,
               *label ? "," : "", le, cum);
    }
    uint64_t sum = s_get (&h->sum_us);
    s_put (b, "%s_sum%s%s%s %" PRIu64 ".%06" PRIu64 "\n", name,
           *label ? "{" : "", label, *label ? "}" : "", sum / 1000000,
           sum % 1000000);
    s_put (b, "%s_count%s%s%s %" PRIu64 "\n", name, *label ? "{" : "",
           label, *label ? "}" : "", s_get (&h->count));
}

static void
s_render (coord_metrics_t *self, s_buf_t *b)
{
    s_put (b, "# HELP tpc_transactions_total Transactions ended, by "
           "outcome.\n# TYPE tpc_transactions_total counter\n");
    for (int i = 0; i < S_NOUTCOMES; i++)
        s_put (b, "tpc_transactions_total{outcome=\"%s\"} %" PRIu64 "\n",
               s_outcome_label[i], s_get (&self->ended[i]));
    s_put (b, "# HELP tpc_transaction_seconds From begin to end.\n"
           "# TYPE tpc_transaction_seconds histogram\n");
    s_put_hist (b, "tpc_transaction_seconds", "", &self->txn);
    s_put (b, "# HELP tpc_phase_seconds Phases of a commit: prepare "
           "(prepares sent to every vote in), precommit (3PC: every vote in "
           "to every participant pre-committed), decide (to the COMMIT "
           "record durable), commit (durable to every ack).\n"
           "# TYPE tpc_phase_seconds histogram\n");
    for (int i = 0; i < S_NPHASES; i++) {
        char label[32];
        snprintf (label, sizeof label, "phase=\"%s\"", s_phase_label[i]);
        s_put_hist (b, "tpc_phase_seconds", label, &self->phase[i]);
    }
    s_put (b, "# HELP tpc_log_fdatasyncs_total fdatasync calls on the "
           "decision log (group commit: one covers many decisions).\n"
           "# TYPE tpc_log_fdatasyncs_total counter\n"
           "tpc_log_fdatasyncs_total %" PRIu64 "\n", s_get (&self->syncs));
    s_put (b, "# HELP tpc_log_sync_seconds Duration of a decision log "
           "sync.\n# TYPE tpc_log_sync_seconds histogram\n");
    s_put_hist (b, "tpc_log_sync_seconds", "", &self->sync);
    s_put (b, "# HELP tpc_transactions_in_flight Live transactions.\n"
           "# TYPE tpc_transactions_in_flight gauge\n"
           "tpc_transactions_in_flight %" PRIu64 "\n"
           "# HELP tpc_transactions_in_doubt Prepared somewhere, not yet "
           "applied everywhere.\n"
           "# TYPE tpc_transactions_in_doubt gauge\n"
           "tpc_transactions_in_doubt %" PRIu64 "\n"
           "# HELP tpc_heuristic_resolutions Transactions an operator "
           "resolved by force.\n# TYPE tpc_heuristic_resolutions gauge\n"
           "tpc_heuristic_resolutions %" PRIu64 "\n"
           "# HELP tpc_agents_connected Agents connected now.\n"
           "# TYPE tpc_agents_connected gauge\n"
           "tpc_agents_connected %" PRIu64 "\n"
           "# HELP tpc_agent_connections_total Agents (re)connecting.\n"
           "# TYPE tpc_agent_connections_total counter\n"
           "tpc_agent_connections_total %" PRIu64 "\n",
           s_get (&self->in_flight), s_get (&self->in_doubt),
           s_get (&self->heuristic), s_get (&self->agents),
           s_get (&self->agent_connects));
}

/* ---------------------------------------------------------------------
 *  HTTP
 */

static void
s_write_all (int fd, const char *p, size_t n)
{
    uint64_t end = (uint64_t) tpc_now_ms () + S_REQ_MS;
    while (n > 0 && (uint64_t) tpc_now_ms () < end) {
        ssize_t w = send (fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd pf = { .fd = fd, .events = POLLOUT };
            poll (&pf, 1, 100);
            continue;
        }
        if (w <= 0)
            return;
        p += w;
        n -= (size_t) w;
    }
}

static void
s_respond (int fd, int code, const char *reason, const char *type,
           const char *body, size_t len)
{
    char head[256];
    int n = snprintf (head, sizeof head, "HTTP/1.0 %d %s\r\nContent-Type: "
                      "%s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                      code, reason, type, len);
    s_write_all (fd, head, (size_t) n);
    s_write_all (fd, body, len);
}

/*  Read one request from FD and answer it.                               */
static void
s_serve (coord_metrics_t *self, int fd)
{
    char req[S_REQ_MAX + 1];
    size_t n = 0;
    uint64_t end = (uint64_t) tpc_now_ms () + S_REQ_MS;
    while (n < S_REQ_MAX && !memmem (req, n, "\r\n\r\n", 4)
           && !memmem (req, n, "\n\n", 2)) {
        uint64_t now = (uint64_t) tpc_now_ms ();
        if (now >= end)
            return;
        struct pollfd pf = { .fd = fd, .events = POLLIN };
        if (poll (&pf, 1, (int) (end - now)) <= 0)
            continue;
        ssize_t r = recv (fd, req + n, S_REQ_MAX - n, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return;
        n += (size_t) r;
    }
    req[n] = '\0';
    static const char text[] = "text/plain; charset=utf-8";
    if (strncmp (req, "GET ", 4)) {
        s_respond (fd, 405, "Method Not Allowed", text, "GET only\n", 9);
        return;
    }
    const char *path = strchr (req, ' ') + 1;
    size_t plen = strcspn (path, " ?\r\n");
    if (plen != 8 || strncmp (path, "/metrics", 8)) {
        s_respond (fd, 404, "Not Found", text, "try /metrics\n", 13);
        return;
    }
    s_buf_t b = { .cap = 8192 };
    b.p = malloc (b.cap);
    if (b.p)
        s_render (self, &b);
    if (!b.p || b.failed)
        s_respond (fd, 500, "Internal Server Error", text, "out of memory\n",
                   14);
    else
        s_respond (fd, 200, "OK", "text/plain; version=0.0.4; "
                   "charset=utf-8", b.p, b.n);
    free (b.p);
}

static void *
s_run (void *arg)
{
    coord_metrics_t *self = arg;
    for (;;) {
        struct pollfd pf[2] = { { .fd = self->stop[0], .events = POLLIN },
                                { .fd = self->listen_fd, .events = POLLIN } };
        int rc = poll (pf, 2, -1);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc < 0 || pf[0].revents)
            break;
        if (pf[1].revents & POLLIN) {
            int fd = accept (self->listen_fd, NULL, NULL);
            if (fd >= 0) {
                s_serve (self, fd);
                close (fd);
            }
        }
    }
    return NULL;
}

coord_metrics_t *
coord_metrics_new (const char *bind_to, char *errbuf, size_t errlen)
{
    char dummy[8], host[256];
    if (!errbuf) {
        errbuf = dummy;
        errlen = sizeof dummy;
    }
    const char *colon = bind_to ? strrchr (bind_to, ':') : NULL;
    if (!colon || colon == bind_to || (size_t) (colon - bind_to)
                                      >= sizeof host) {
        snprintf (errbuf, errlen, "--metrics-bind '%s': give HOST:PORT, e.g. "
                  "127.0.0.1:9464", bind_to ? bind_to : "");
        return NULL;
    }
    memcpy (host, bind_to, (size_t) (colon - bind_to));
    host[colon - bind_to] = '\0';
    coord_metrics_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (errbuf, errlen, "out of memory");
        return NULL;
    }
    self->listen_fd = self->stop[0] = self->stop[1] = -1;
    struct addrinfo hints = { .ai_family = AF_UNSPEC,
                              .ai_socktype = SOCK_STREAM,
                              .ai_flags = AI_PASSIVE | AI_NUMERICSERV },
                    *ai = NULL;
    int grc = getaddrinfo (host, colon + 1, &hints, &ai);
    if (grc) {
        snprintf (errbuf, errlen, "--metrics-bind %s: %s", bind_to,
                  gai_strerror (grc));
        goto fail;
    }
    self->listen_fd = socket (ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (self->listen_fd < 0
        || setsockopt (self->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one,
                       sizeof one)
        || bind (self->listen_fd, ai->ai_addr, ai->ai_addrlen)
        || listen (self->listen_fd, 16)) {
        snprintf (errbuf, errlen, "--metrics-bind %s: %s", bind_to,
                  strerror (errno));
        goto fail;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname (self->listen_fd, (struct sockaddr *) &ss, &sl) == 0)
        self->port = ntohs (ss.ss_family == AF_INET6
                            ? ((struct sockaddr_in6 *) &ss)->sin6_port
                            : ((struct sockaddr_in *) &ss)->sin_port);
    if (pipe (self->stop) != 0
        || pthread_create (&self->thread, NULL, s_run, self) != 0) {
        snprintf (errbuf, errlen, "cannot start the metrics thread");
        goto fail;
    }
    self->running = true;
    freeaddrinfo (ai);
    return self;
fail:
    if (ai)
        freeaddrinfo (ai);
    coord_metrics_destroy (&self);
    return NULL;
}

void
coord_metrics_destroy (coord_metrics_t **self_p)
{
    coord_metrics_t *self = *self_p;
    if (!self)
        return;
    if (self->running && write (self->stop[1], "x", 1) == 1)
        pthread_join (self->thread, NULL);
    if (self->listen_fd >= 0)
        close (self->listen_fd);
    if (self->stop[0] >= 0)
        close (self->stop[0]);
    if (self->stop[1] >= 0)
        close (self->stop[1]);
    free (self);
    *self_p = NULL;
}

int
coord_metrics_port (coord_metrics_t *self)
{
    return self ? self->port : 0;
}
