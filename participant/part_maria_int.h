/*  part_maria_int.h: what the files of the MariaDB resource manager share
 *  (not installed).  part_maria.c holds the part_rm_t entry points, the
 *  jobs and start/stop; part_maria_conn.c the sessions (life, backoff,
 *  rounds, the pool); part_maria_ops.c the SQL of each operation.
 *  Words as in part_pg: a JOB is one operation; it runs as ROUNDS on one
 *  session; a round is one multi-statement text sent with
 *  mysql_real_query, whose results are read one by one (store_result,
 *  next_result) until the last or the first error (the server runs no
 *  statement after a failed one).
 */
#ifndef PART_MARIA_INT_H
#define PART_MARIA_INT_H

#include <czmq.h>
#include <mysql.h>
#include <stdbool.h>
#include <stdint.h>

#include "part_maria.h"
#include "tpc_gid.h"
#include "tpc_maria_conninfo.h"

/*  A session's life:
 *
 *        retry_at passed          connect done          SET SESSION done
 *  DOWN ----------------> CONNECTING ----------> SETUP -----------------> READY
 *   ^                         |                    |                       |
 *   +---- failed / timeout ---+--------------------+---- lost, closed -----+
 *
 *  READY: free, or PINNED (an open branch of gid), or PARKED (holding
 *  gid's prepared branch, see part_maria_ops.c "PHASE 2"); IN_ROUND when
 *  a round runs.                                                          */
typedef enum { C_DOWN, C_CONNECTING, C_SETUP, C_READY } part_maria_cstate_t;

/*  Which Connector/C call of a round is pending.                         */
typedef enum { Q_NONE, Q_CONNECT, Q_QUERY, Q_STORE, Q_NEXT } part_maria_qphase_t;

typedef struct part_maria_job part_maria_job_t;
struct part_maria_job {
    uint64_t req;
    part_rm_op_t op;
    char gid[TPC_GID_MAX];
    size_t nstmts;
    tpc_stmt_t *stmts;          /* EXEC, PREPARE, COMMIT_ONEPHASE: copy */
    bool keep_readonly;
    int step;                   /* the op's rounds (part_maria_ops.c) */
    int tries;                  /* phase 2: NOTA while still listed */
    uint64_t not_before;        /* waiting: not dispatched before */
    /* completion */
    int status;
    char *error;
    char sqlstate[6];
    MYSQL_RES *result;          /* EXEC: the last statement's rows */
    int64_t affected;
    bool readonly;
    tpc_outcome_t outcome;
    char **gids;                /* RECOVER */
    size_t ngids;
    part_maria_job_t *next;
};

typedef struct {
    part_maria_job_t *head, *tail;
    size_t size;
} part_maria_jobq_t;

/*  One statement's result in a round.                                    */
typedef struct {
    MYSQL_RES *res;             /* rows, or NULL */
    int64_t affected;           /* -1 for a result set */
} part_maria_res_t;

typedef struct part_maria_conn {
    size_t index;
    MYSQL *m;
    part_maria_cstate_t state;
    part_maria_qphase_t phase;
    int wait;                   /* MYSQL_WAIT_* of the pending call */
    uint64_t wait_until;        /* MYSQL_WAIT_TIMEOUT: when */
    uint64_t retry_at;          /* DOWN: next attempt */
    uint64_t deadline;          /* CONNECTING, SETUP: give up */
    uint64_t backoff;
    bool pinned;
    bool begun;                 /* XA START sent for the pinned gid */
    bool parked;                /* holds gid's prepared branch */
    uint64_t parked_at;
    char gid[TPC_GID_MAX];
    part_maria_job_t *job;
    bool in_round;
    char *sql;                  /* the round's text */
    part_maria_res_t *res;      /* the round's results so far */
    size_t nres, cap;
    unsigned err;               /* the round's error (0 = none) */
    char errstate[6];
    char *errmsg;
    unsigned long kill_tid;     /* the server thread of this session's
                                   interrupted predecessor, still running
                                   its statement: KILL CONNECTION it from
                                   the next free session (0 = none) */
} part_maria_conn_t;

struct part_maria {
    part_rm_t rm;
    part_maria_config_t cfg;
    tpc_maria_conninfo_t ci;
    char branch[9];             /* the xid's branch tag */
    char db[140];               /* `database`, backquoted */
    bool serializable;          /* the server's default isolation is
                                   SERIALIZABLE: sessions keep it */
    part_maria_conn_t *conns;
    size_t npool;
    size_t pinned;
    zhashx_t *pins;             /* gid -> session (pinned) */
    zhashx_t *parks;            /* gid -> session (parked) */
    zhashx_t *lost;             /* gid -> 1: its session broke */
    part_maria_jobq_t wait_any;     /* phase 2, recovery: any free session */
    part_maria_jobq_t wait_begin;   /* BEGINs waiting for a session */
    part_maria_jobq_t done;         /* completions to emit */
    bool need_connected;
    bool had_ready;
    bool outage_logged;
    bool dispatching, dispatch_again;
    uint64_t now;
};

/* part_maria.c */
void part_maria_log (part_maria_t *self, int level, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));
void part_maria_jobq_push (part_maria_jobq_t *q, part_maria_job_t *job);
part_maria_job_t *part_maria_jobq_pop (part_maria_jobq_t *q);
/*  Finish JOB with STATUS and ERROR (copied) and queue its completion.   */
void part_maria_complete (part_maria_t *self, part_maria_job_t *job,
                          int status, const char *error,
                          const char *sqlstate);
/*  Send SQL (taken: freed by the round) as C's round.                    */
void part_maria_round (part_maria_t *self, part_maria_conn_t *c, char *sql);
/*  C broke or was closed (WHY): its pinned branch is lost, its job fails
 *  with TPC_ECONNECT, it is opened again (now, or after its backoff).  */
void part_maria_conn_lost (part_maria_t *self, part_maria_conn_t *c,
                           const char *why, bool retry_now);
/*  Close C's session (the server rolls back its open branch and detaches
 *  its prepared one) and open it again at once.                          */
void part_maria_conn_reset (part_maria_t *self, part_maria_conn_t *c);
void part_maria_unpin (part_maria_t *self, part_maria_conn_t *c);
void part_maria_park (part_maria_t *self, part_maria_conn_t *c);
void part_maria_unpark (part_maria_t *self, part_maria_conn_t *c);
/*  C's job is over: C goes back to the pool (unless pinned or parked).   */
void part_maria_release (part_maria_t *self, part_maria_conn_t *c);
/*  Queue JOB for any free session (not before NOT_BEFORE).               */
void part_maria_wait_any (part_maria_t *self, part_maria_job_t *job,
                          uint64_t not_before);
/*  A client error (the session broke), not the server's refusal.         */
bool part_maria_err_lost (unsigned err);

/* part_maria_conn.c: sessions, rounds, the pool */
size_t part_maria_ready_count (const part_maria_t *self);
/*  READY, not pinned, not parked, idle.                                  */
bool part_maria_conn_free (const part_maria_conn_t *c);
/*  Sessions transactions may pin (one stays free when pool >= 2).        */
size_t part_maria_pin_limit (const part_maria_t *self);
void part_maria_pin (part_maria_t *self, part_maria_conn_t *c,
                     const char *gid);
/*  Give free sessions to waiting work (see part_maria_conn.c).          */
void part_maria_dispatch (part_maria_t *self);
/*  DOWN -> CONNECTING (retry_at passed); a failed attempt back to DOWN.  */
void part_maria_connect_start (part_maria_t *self, part_maria_conn_t *c);
void part_maria_connect_failed (part_maria_t *self, part_maria_conn_t *c,
                                const char *why);
/*  Start (FLAGS < 0) or continue (FLAGS: the MYSQL_WAIT_* that happened)
 *  C's pending call, and the calls after it that finish at once.         */
void part_maria_drive (part_maria_t *self, part_maria_conn_t *c, int flags);
/*  Close C's MYSQL handle (DOWN), its round and parking forgotten.       */
void part_maria_conn_close (part_maria_t *self, part_maria_conn_t *c);

/* part_maria_ops.c */
/*  Run JOB on C (C takes it).                                            */
void part_maria_start (part_maria_t *self, part_maria_conn_t *c,
                       part_maria_job_t *job);
/*  The round on C is over (its results or error are in C).               */
void part_maria_on_round (part_maria_t *self, part_maria_conn_t *c);
/*  'gtrid','bqual',formatID of GID into BUF.                             */
void part_maria_xid (const part_maria_t *self, const char *gid, char *buf,
                     size_t size);

#endif
