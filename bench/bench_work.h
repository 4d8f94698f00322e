/*  bench_work: what tpc_bench asks of a workload (one per --mode).
 *
 *  A workload is a table of three functions.  tpc_bench opens one session
 *  per client thread before the clock starts, calls run() once per
 *  transfer from that thread only, and closes the session at the end.
 *  A session is used by one thread; different sessions share nothing.
 *
 *  The transfer: move AMOUNT from accounts row FROM on the first database
 *  to row TO on the second, i.e. one one-row UPDATE on each.
 */
#ifndef BENCH_WORK_H
#define BENCH_WORK_H

#include <stddef.h>
#include <stdint.h>

/*  Settings of a run, shared read-only by every session.                 */
typedef struct {
    const char *db1;            /* libpq conninfo (bare, floor, plain) */
    const char *db2;            /* mixed-bare: a MariaDB conninfo FILE */
    const char *coordinator;    /* tpc endpoint (tpc) */
    const char *part1;          /* participant names (tpc) */
    const char *part2;
    const char *protocol;       /* tpc: "2pc", "3pc" or NULL (coordinator's) */
    void *zmq_context;          /* tpc: one context for every session */
    int lock_timeout_ms;        /* SET lock_timeout on every connection */
    int timeout_ms;             /* tpc client call timeout */
} bench_work_config_t;

typedef struct {
    uint32_t from;              /* row id on db1, 1 .. rows */
    uint32_t to;                /* row id on db2, 1 .. rows */
    uint32_t amount;            /* 1 .. 100 */
    uint64_t seq;               /* per session, from 1; for unique gids */
} bench_txn_t;

typedef struct {
    const char *name;
    /*  A session for client number THREAD, or NULL with a sentence in
     *  ERR (connection refused, ...).                                    */
    void *(*open) (const bench_work_config_t *cfg, int thread,
                   char *err, size_t errlen);
    /*  One transfer.  0 when it committed; -1 when it did not (counted as
     *  an error, the run goes on) with a sentence in ERR.  A failed
     *  transfer leaves nothing prepared behind.                          */
    int (*run) (void *session, const bench_txn_t *txn, char *err, size_t errlen);
    /*  Close; *session_p becomes NULL.  A no-op on NULL.                 */
    void (*close) (void **session_p);
} bench_work_t;

#endif
