/*  coord_server_int.h: what the files of coord_server share (not
 *  installed).  coord_server.c holds the loop, the sockets and the
 *  dispatch; coord_server_log.c the decision log around it: opening it
 *  (replay, the report of a cut tail, the epoch and its high-water mark),
 *  appends, checkpoints and the sync thread that does group commit.
 */
#ifndef COORD_SERVER_INT_H
#define COORD_SERVER_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coord_console.h"
#include "coord_http.h"
#include "coord_metrics.h"
#include "coord_route.h"
#include "coord_server.h"
#include "coord_store.h"
#include "tpc_curve.h"
#include "tpc_io.h"
#include "tpc_log.h"
#include "tpc_monitor.h"
#include "tpc_record.h"
#include "tpc_trace.h"
#include "tpc_zap.h"

#define CS_EXIT_LOG_FAILED 3     /* append/sync failed: stop at once */
#define CS_RECBUF 8192           /* > largest encoded record (~4.3 KiB) */
#define CS_HWM 100000            /* queued messages per peer */
#define CS_MONITOR_MS 200        /* socket monitors are read this often */


/*  The sync thread: runs tpc_log_sync() for the loop, so that the loop
 *  goes on reading, deciding and sending while the disk works.  The loop
 *  asks (want_*), the thread makes the log durable up to want_lsn, then
 *  publishes want_ticket as done_ticket and writes to the eventfd the loop
 *  polls.  Only the loop feeds coord_engine_durable(), with done_ticket:
 *  so a decide(committed) still leaves only after the fdatasync covering
 *  its COMMIT record returned 0.  A failed sync ends the process from the
 *  thread at once (cs_fatal_log).                                         */
typedef struct {
    pthread_t thread;
    bool running;
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    uint64_t want_lsn, want_ticket; /* newest request */
    bool want_commit;               /* ... covers a COMMIT record */
    bool want_precommit;            /* ... covers a PRECOMMIT record */
    uint64_t done_ticket;           /* durable up to this ticket */
    bool done_commit;               /* a COMMIT became durable, not yet
                                       seen by the loop */
    bool done_precommit;            /* the same for a PRECOMMIT (3PC) */
    uint64_t applied_ticket;        /* loop: given to the engine so far */
    uint64_t pend_lsn, pend_ticket; /* loop: asked in this pass, not yet
                                       handed over (cs_sync_flush) */
    bool pend_commit, pend_precommit;
    bool stop;
    int efd;                        /* eventfd: done_ticket moved */
} cs_syncer_t;

/*  The decides and 3PC precommits (per gid, from the engine) held for
 *  one agent while the loop performs a batch of actions; sent as one
 *  "decides" / "precommits" frame per TPC_MSG_BATCH_MAX gids when the
 *  batch ends (coord_server.c).                                          */
typedef struct {
    char agent[TPC_RECORD_NAME_MAX];
    tpc_msg_t **msgs;               /* owned */
    size_t n, cap;
} cs_batch_t;

struct coord_server {
    coord_server_config_t cfg;
    char id[TPC_COORD_ID_MAX];
    coord_engine_t *engine;
    coord_store_t *store;       /* the decision records (coord_store.h) */
    tpc_crash_t *crash;         /* crash points (tpc_crash.h) */
    char (*partial)[TPC_GID_MAX];   /* coord.commit_partial: the gids
                                       whose first decide(committed) frame
                                       left in this s_perform pass (their
                                       other agents' frames wait) */
    size_t npartial, partial_cap;
    void *ctx, *clients, *agents;
    tpc_monitor_t *monitor[2];  /* disconnects of agents, clients */
    char client_ep[256], agent_ep[256];
    tpc_msg_limits_t limits;
    uint64_t epoch, replayed;
    size_t unfinished_start;
    tpc_record_t rec;           /* replay scratch */
    uint8_t recbuf[CS_RECBUF];
    cs_syncer_t syncer;          /* group commit off the loop */
    uint64_t ckpt_records, ckpt_bytes;
    size_t finished;            /* recover_only: gids ended */
    tpc_io_failsync_t failsync; /* coord.log_sync (failsync): the log's I/O,
                                   its fdatasyncs failing once serving */
    char errbuf[256];           /* replay errors */
    char cut_gids[1024];        /* gids of the log tail cut at open */
    coord_route_t *route;       /* agent name <-> connection */
    tpc_zap_t *zap;             /* CURVE on: the ZAP handler */
    tpc_curve_cert_t cert;      /* ... and this coordinator's keys */
    char security[96];
    coord_metrics_t *metrics;   /* NULL: no metrics endpoint */
    coord_console_t *console;   /* NULL: no console (--http) */
    coord_http_t *http;         /* the console's server (and /metrics) */
    coord_http_t *http_metrics; /* --metrics-bind's, when elsewhere */
    uint64_t metrics_at;        /* next publication of the gauges */
    uint64_t monitor_at;        /* next read of the socket monitors */
    uint64_t replay_said;       /* replay progress: last line, ms */
    atomic_bool deposed;        /* HA: lease lost, nothing is sent */
    tpc_trace_t *trace;         /* --trace-file, or NULL (off) */
    int64_t trace_in, trace_durable;    /* coord_server_trace.c */
    cs_batch_t *batches;        /* decides held per agent (s_perform) */
    size_t nbatches, batches_cap;
};

/* coord_server.c */
void cs_say (coord_server_t *self, int level, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));
void cs_fatal_log (const char *what, int rc) __attribute__ ((noreturn));
void cs_fatal (const char *what, int rc) __attribute__ ((noreturn));

/* coord_server_log.c */
int cs_log_open (coord_server_t *self, char *errbuf, size_t errlen);
uint64_t cs_append_record (coord_server_t *self, const tpc_record_t *rec);
void cs_maybe_checkpoint (coord_server_t *self);
void cs_sync_request (coord_server_t *self, uint64_t lsn, uint64_t ticket,
                      tpc_rec_type_t type);
void cs_sync_flush (coord_server_t *self);
int cs_sync_init (coord_server_t *self, char *errbuf, size_t errlen);
int cs_sync_start (coord_server_t *self);
void cs_sync_stop (coord_server_t *self);

/* coord_server_trace.c: the latency trace's marks (no-ops when off) */
int cs_trace_open (coord_server_t *self, char *errbuf, size_t errlen);
void cs_trace_in (coord_server_t *self, const tpc_msg_t *msg, bool client);
void cs_trace_out (coord_server_t *self, const tpc_msg_t *msg);
void cs_trace_append (coord_server_t *self, const tpc_record_t *rec);

#endif
