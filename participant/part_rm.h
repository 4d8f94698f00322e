/*  part_rm: the resource-manager interface of the agent (like the XA switch).
 *
 *  The agent engine (part_engine) never talks to a database directly: it
 *  SUBMITS operations to a resource manager (RM) through this function
 *  table, and each one COMPLETES later, exactly once, through process().
 *  Everything is asynchronous so one single-threaded agent serves many
 *  concurrent transactions: the shell polls the RM's file descriptors next
 *  to its ZeroMQ socket and calls process() when one is ready or when the
 *  RM's timeout() has expired.
 *
 *  OPERATIONS (gid = the tpc gid, validated by the RM with tpc_gid_parse
 *  before it goes anywhere near SQL)
 *
 *    BEGIN              open gid's transaction; it PINS one database session
 *                       until PREPARE / COMMIT_ONEPHASE / ROLLBACK ends it.
 *                       When every session is taken the request waits in a
 *                       bounded FIFO; beyond it: status TPC_EBUSY.
 *    EXEC               run stmts[] in order inside gid's transaction; the
 *                       result (columns, rows, affected) is the LAST one's;
 *                       the first failure stops the batch (status TPC_EDB,
 *                       error = the database's message).  The transaction
 *                       stays open (in error) until ROLLBACK.
 *    PREPARE            first run stmts[] if any (as EXEC would; the rows
 *                       are not reported), in the same round trip.  Then:
 *                       if the transaction wrote nothing (and
 *                       keep_readonly is not set), commit it and
 *                       complete with readonly = true.  Otherwise insert the
 *                       commit marker (gid, kind 'C') and prepare it; status
 *                       0 means the database reported the prepare durable.
 *                       On any failure (a statement's included: TPC_EDB
 *                       with its message) the transaction is rolled back.
 *                       Either way the session is released.
 *    COMMIT_ONEPHASE    first run stmts[] if any, as PREPARE does; then
 *                       insert the commit marker (only if the transaction
 *                       wrote something) and commit; releases the session.
 *    ROLLBACK           roll the open transaction back and release the
 *                       session; success if gid has no open transaction.
 *    COMMIT_PREPARED    phase 2 on ANY free session.  TPC_ENOENT: gid is not
 *    ROLLBACK_PREPARED  prepared (any more).
 *    OUTCOME_OF         what the database knows about gid: outcome
 *                       COMMITTED (commit marker present), IN_PROGRESS (still
 *                       prepared), ABORTED (neither, or a tombstone).
 *    TOMBSTONE          insert marker (gid, 'T') unless gid already has one;
 *                       outcome = what the marker now says (COMMITTED if a
 *                       commit marker was there first, else ABORTED).  A
 *                       later PREPARE of gid then fails on the marker's key.
 *    RECOVER            list the tpc gids the database holds prepared.
 *
 *  Besides completions, process() reports the event CONNECTED (req 0) when
 *  the RM goes from "no usable session" to "at least one" - at start and
 *  after every reconnect - so the engine reruns recovery.
 *
 *  STATUS of a completion: 0, or TPC_EDB (the database refused: error text
 *  and sqlstate set), TPC_ECONNECT (the session broke: an open transaction
 *  on it is lost; a phase-2 operation's effect is unknown - retry it),
 *  TPC_EBUSY (queue full), TPC_ENOENT (see above), TPC_EUNKNOWN_GID (no
 *  open transaction for an EXEC/PREPARE/COMMIT_ONEPHASE), TPC_EABORTED
 *  (interrupted by interrupt()), TPC_ESTATE (an operation on gid already in
 *  flight).
 *
 *  RULES FOR CALLERS
 *  - At most one operation per gid in flight (the engine serialises).
 *  - submit() copies what it needs; REQ may be freed when it returns.  It
 *    returns 0 (one completion will follow) or TPC_EINVAL (bad gid or op:
 *    nothing follows).  It never calls back into the caller.
 *  - A completion's pointers are valid only during the emit callback; the
 *    callback may submit new operations.
 *  - interrupt(gid) is best effort: a BEGIN still waiting for a session, or
 *    a BEGIN/EXEC running for gid, completes early with an error.  Used when
 *    the coordinator aborts a transaction whose statement is blocked.
 *
 *  A SECOND ENGINE: part_maria (MariaDB through XA, Connector/C's
 *  non-blocking API) sits behind this table next to part_pg, without
 *  touching the engine or the agent; its mapping and MariaDB's traps are
 *  in participant/part_maria_ops.c.
 */
#ifndef PART_RM_H
#define PART_RM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tpc_msg.h"

typedef enum {
    PART_RM_CONNECTED = 0,      /* event, not an operation */
    PART_RM_BEGIN,
    PART_RM_EXEC,
    PART_RM_PREPARE,
    PART_RM_COMMIT_ONEPHASE,
    PART_RM_ROLLBACK,
    PART_RM_COMMIT_PREPARED,
    PART_RM_ROLLBACK_PREPARED,
    PART_RM_OUTCOME_OF,
    PART_RM_TOMBSTONE,
    PART_RM_RECOVER,
    PART_RM_OP_COUNT
} part_rm_op_t;

typedef struct {
    uint64_t req;               /* caller's id, echoed in the completion */
    part_rm_op_t op;
    const char *gid;            /* every op but RECOVER */
    size_t nstmts;              /* EXEC, PREPARE, COMMIT_ONEPHASE */
    const tpc_stmt_t *stmts;    /* the same; "on" is ignored */
    bool keep_readonly;         /* PREPARE: a transaction that wrote
                                   nothing is prepared all the same (its
                                   commit marker written), never completed
                                   readonly: three-phase commit never votes
                                   readonly */
} part_rm_req_t;

typedef struct {
    uint64_t req;               /* 0 for the CONNECTED event */
    part_rm_op_t op;
    const char *gid;            /* NULL for RECOVER and CONNECTED */
    int status;                 /* 0 or a tpc_err_t, see STATUS above */
    const char *error;          /* readable reason when status != 0 */
    char sqlstate[6];           /* TPC_EDB: the database's code, else "" */
    /* EXEC: the last statement's result */
    size_t ncolumns;
    const char *const *columns;
    size_t nrows;
    const char *const *cells;   /* nrows * ncolumns; NULL = SQL NULL */
    int64_t affected;           /* -1 = not applicable */
    /* PREPARE */
    bool readonly;
    /* OUTCOME_OF, TOMBSTONE */
    tpc_outcome_t outcome;
    /* RECOVER */
    size_t ngids;
    const char *const *gids;
} part_rm_result_t;

typedef struct {
    int fd;
    short events;               /* POLLIN and/or POLLOUT */
} part_rm_pollfd_t;

typedef void (part_rm_emit_fn) (void *arg, const part_rm_result_t *result);

/*  The function table.  SELF is the backend's object; the table and SELF
 *  are owned by the backend (part_pg, part_mem) and live as long as it.   */
typedef struct part_rm {
    const char *name;           /* "pg", "maria", "mem" */
    void *self;
    /*  Queue REQ; see RULES.  NOW_MS: a monotonic clock in milliseconds. */
    int (*submit) (void *self, const part_rm_req_t *req, uint64_t now_ms);
    /*  Best-effort interruption of gid's running or waiting work.        */
    void (*interrupt) (void *self, const char *gid);
    /*  Fill at most MAX descriptors to poll; returns how many.           */
    size_t (*pollfds) (void *self, part_rm_pollfd_t *fds, size_t max);
    /*  Milliseconds until process() must run even without I/O (0 = now,
     *  -1 = only on I/O).                                                */
    int64_t (*timeout) (void *self, uint64_t now_ms);
    /*  Do the I/O that is possible without blocking and EMIT every
     *  completion and event that is ready.                               */
    void (*process) (void *self, uint64_t now_ms, part_rm_emit_fn *emit,
                     void *arg);
    /*  Optional (NULL: never called).  After a poll of the descriptors
     *  pollfds() gave, before the process() that follows it: REVENTS[i]
     *  is what the poll found on fds[i] (N of them).  The next process()
     *  may then skip the I/O the poll showed has nothing for it; a
     *  process() without a polled() before it does all of its I/O.      */
    void (*polled) (void *self, const short *revents, size_t n);
} part_rm_t;

/*  "begin", "exec", ... for logs.                                        */
const char *part_rm_op_name (part_rm_op_t op);

/*  Copy SRC (NULL: "") into DST of SIZE bytes (> 0), cut to fit, always
 *  terminated: the agent's hot paths copy gids and SQLSTATEs this way
 *  rather than with snprintf ("%s"), a tenth of the instructions.        */
static inline void
part_rm_copy (char *dst, size_t size, const char *src)
{
    size_t n = src ? strlen (src) : 0;
    if (n >= size)
        n = size - 1;
    if (n)
        memcpy (dst, src, n);
    dst[n] = '\0';
}

#endif
