/*  part_pg_int.h: what the files of the PostgreSQL resource manager share
 *  (not installed).  part_pg.c holds the part_rm_t entry points and the
 *  jobs, part_pg_conn.c the connections (life, backoff, rounds, the pool,
 *  the epoll set), part_pg_stmt.c the per-session statement cache, and
 *  part_pg_ops.c the SQL of each operation: a {start, done} pair per
 *  operation.  Words used: a JOB is one operation; it runs as ROUNDS on
 *  one connection (see part_pg.c).
 */
#ifndef PART_PG_INT_H
#define PART_PG_INT_H

#include <czmq.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

#include "part_pg.h"
#include "tpc_gid.h"

#define PART_PG_SEEN 64         /* statement cache: hashes seen once */

/*  A job of part_pg's own, not the engine's: the marker retention's
 *  DELETE (part_pg.c).  Its completion is never emitted.                  */
#define PART_PG_OP_PURGE ((part_rm_op_t) PART_RM_OP_COUNT)
#define PART_PG_OP_COUNT (PART_RM_OP_COUNT + 1)
#define PART_PG_PURGE_BATCH 1000    /* rows one retention DELETE removes */

typedef enum { C_DOWN, C_CONNECTING, C_READY } part_pg_cstate_t;

typedef struct part_pg_job part_pg_job_t;
struct part_pg_job {
    uint64_t req;
    part_rm_op_t op;
    char gid[TPC_GID_MAX];
    size_t nstmts;
    tpc_stmt_t *stmts;          /* EXEC, PREPARE, COMMIT_ONEPHASE: copy */
    int step;                   /* PREPARE: 1 prepare, 2 read-only: commit */
    /* completion */
    int status;
    char *error;
    char sqlstate[6];
    PGresult *result;           /* EXEC, RECOVER: rows (owned) */
    bool readonly;
    bool keep_readonly;         /* PREPARE: see part_rm_req_t */
    tpc_outcome_t outcome;
    long long count;            /* PURGE: rows deleted */
    part_pg_job_t *next;
};

typedef struct {
    part_pg_job_t *head, *tail;
    size_t size;
} part_pg_jobq_t;

/*  A statement prepared on one session (see part_pg_stmt.c).      */
typedef struct {
    uint64_t hash;
    char *sql;
    int nparams;
    bool live;                  /* the server has it (its Parse succeeded) */
    unsigned id;                /* server-side name "tpc_s<id>" */
    char name[16];              /* ... that name, written once */
} part_pg_stmt_t;

/*  One protocol command of a round: what it is and which query's result
 *  slot it reports into.                                                  */
typedef enum { I_UNNAMED, I_PREPARE, I_NAMED } part_pg_item_kind_t;

typedef struct {
    part_pg_item_kind_t kind;
    int slot;                   /* the query (index into res) */
    int stmt;                   /* I_PREPARE, I_NAMED: cache entry, else -1 */
    uint64_t hash;              /* I_UNNAMED of a cacheable query, else 0 */
    ExecStatusType status;      /* what came back (PGRES_FATAL_ERROR: none) */
    char sqlstate[6];
} part_pg_item_t;

typedef struct part_pg_conn {
    size_t index;
    PGconn *pq;
    part_pg_cstate_t state;
    PostgresPollingStatusType polling;
    uint64_t retry_at;          /* DOWN: next attempt */
    uint64_t deadline;          /* CONNECTING: give up */
    uint64_t backoff;
    PGcancel *cancel;
    bool pinned;
    char gid[TPC_GID_MAX];
    bool begun;                 /* BEGIN sent for the pinned transaction */
    part_pg_job_t *job;
    bool cleaning;              /* internal ROLLBACK / DISCARD ALL round */
    bool dirty;                 /* ran client statements since the reset */
    bool dirty_full;            /* ... and one may have touched prepared
                                   statements: only DISCARD ALL will do */
    bool in_round;
    bool want_write;            /* PQflush has more to send */
    int wfd;                    /* socket registered in the epoll set, -1 */
    uint32_t wev;               /* ... with these events */
    int nq;                     /* queries in the round */
    bool resets;                /* the round undoes the session state */
    int base;                   /* 1 when the round starts with our BEGIN */
    PGresult **res;             /* result of each query (the first error
                                   of its commands, else its last result) */
    part_pg_item_t *items;            /* the round's commands */
    int nitems, ii;             /* ... how many, the one being read */
    int cap;                    /* res holds cap, items 2 * cap: kept from
                                   round to round (freed with the pool) */
    part_pg_stmt_t *stmts;            /* statement cache, stmt_cache entries */
    size_t nstmts;
    uint64_t seen[PART_PG_SEEN];      /* statements that ran once, unnamed */
    size_t seen_next;
    unsigned next_id;
} part_pg_conn_t;

struct part_pg {
    part_rm_t rm;
    part_pg_config_t cfg;
    char *conninfo;
    part_pg_conn_t *conns;
    size_t npool;
    size_t pinned;
    zhashx_t *pins;             /* gid -> part_pg_conn_t * */
    zhashx_t *lost;             /* gid -> 1: its connection broke */
    zhashx_t *plain;            /* gid -> 1: found prepared under its bare
                                   name (prepared by hand or by an older
                                   agent), not under gid@oid */
    char gsuffix[16];           /* "@<oid of this database>" */
    part_pg_jobq_t wait_any;          /* phase 2, recovery: any free connection */
    part_pg_jobq_t wait_begin;        /* BEGINs waiting for a connection */
    part_pg_jobq_t done;              /* completions to emit */
    bool need_connected;
    bool had_ready;             /* a connection is READY since the last outage */
    bool outage_logged;
    bool dispatching, dispatch_again;
    int epfd;                   /* epoll set of the sessions' sockets */
    bool epoll_idle;            /* polled(): the poll found epfd idle, the
                                   next process() skips its epoll_wait */
    struct epoll_event *evs;    /* process(): what epoll_wait reports */
    uint64_t now;
    uint64_t purge_at;          /* marker retention: next DELETE (0: not
                                   scheduled yet) */
    bool purging;               /* ... its job is running */
};

typedef struct {
    const char *sql;
    int nparams;
    const char *const *params;
    bool cache;                 /* may be prepared once per session */
} part_pg_query_t;

/* part_pg.c */
void part_pg_log (part_pg_t *self, int level, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));
/*  A copy of TEXT without trailing white space, or NULL.                 */
char *part_pg_trimmed (const char *text);
void part_pg_jobq_push (part_pg_jobq_t *q, part_pg_job_t *job);
part_pg_job_t *part_pg_jobq_pop (part_pg_jobq_t *q);
/*  Finish JOB with STATUS and ERROR (copied) and queue its completion.   */
void part_pg_complete (part_pg_t *self, part_pg_job_t *job, int status,
                       const char *error, const char *sqlstate);

/* part_pg_conn.c: connections, rounds, the pool, the epoll set */
void part_pg_notice (void *arg, const char *message);
bool part_pg_conn_free (const part_pg_conn_t *c);
size_t part_pg_pin_limit (const part_pg_t *self);
void part_pg_pin (part_pg_t *self, part_pg_conn_t *c, const char *gid);
void part_pg_unpin (part_pg_t *self, part_pg_conn_t *c);
size_t part_pg_ready_count (const part_pg_t *self);
void part_pg_round_reset (part_pg_conn_t *c);
/*  part_pg_round_reset, then free C's round buffers (the pool goes).     */
void part_pg_round_free (part_pg_conn_t *c);
void part_pg_conn_close (part_pg_t *self, part_pg_conn_t *c);
/*  No connection is usable: BEGINs cannot wait for one.                  */
void part_pg_outage (part_pg_t *self);
void part_pg_conn_ready (part_pg_t *self, part_pg_conn_t *c);
void part_pg_connect_start (part_pg_t *self, part_pg_conn_t *c);
void part_pg_connect_step (part_pg_t *self, part_pg_conn_t *c);
/*  Send N queries and a Sync.  0, or -1 when the connection broke (its
 *  job has been completed with TPC_ECONNECT).                            */
int part_pg_send_round (part_pg_t *self, part_pg_conn_t *c,
                        const part_pg_query_t *q, int n, int base);
void part_pg_ready_step (part_pg_t *self, part_pg_conn_t *c);
/*  C finished its work: back to the pool once its session is idle.      */
void part_pg_release (part_pg_t *self, part_pg_conn_t *c);
/*  Give free connections to waiting work: phase 2 first, then BEGINs.   */
void part_pg_dispatch (part_pg_t *self);
void part_pg_watch (part_pg_t *self, part_pg_conn_t *c);

/* part_pg_stmt.c: the statement cache */
bool part_pg_send_query (part_pg_t *self, part_pg_conn_t *c,
                         const part_pg_query_t *q, int slot);
void part_pg_stmts_settle (part_pg_conn_t *c);
void part_pg_stmts_clear (part_pg_conn_t *c);

/* part_pg_ops.c: the SQL of each operation */
/*  Run JOB on C (C takes it).                                             */
void part_pg_start (part_pg_t *self, part_pg_conn_t *c, part_pg_job_t *job);
/*  The round on C is over (its results are in C): finish its job, or
 *  start the job's next round.                                            */
void part_pg_on_round (part_pg_t *self, part_pg_conn_t *c);

#endif
