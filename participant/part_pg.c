/*  part_pg: PostgreSQL resource manager over libpq's asynchronous API.
 *
 *  Each connection is non-blocking and in pipeline mode.  An operation is
 *  a JOB; a job runs as one or more ROUNDS on one connection: a round is
 *  some queries sent back to back, then a Sync, then the results read as
 *  they arrive (one or more PGresults, then NULL, per query; then
 *  PGRES_PIPELINE_SYNC).  After a failing query PostgreSQL skips the rest
 *  of the round (PGRES_PIPELINE_ABORTED) up to the Sync.
 *
 *  Connection life:
 *
 *      DOWN --retry_at--> CONNECTING --PQconnectPoll OK--> READY
 *        ^                    | failed / timed out           |
 *        +--------------------+<-------- broken (EOF, error)-+
 *
 *  A READY connection is FREE (no pin, no round), PINNED to a gid (its
 *  transaction is open there, maybe idle between operations), or running a
 *  round.  It returns to the free pool only when PQtransactionStatus is
 *  IDLE: otherwise an internal ROLLBACK round runs first, and if even that
 *  leaves a transaction the connection is re-opened.  A connection that
 *  ran a client's statements is reset (DISCARD ALL, its own round) before
 *  it is free again: a SET, a temporary table or a SET ROLE of one
 *  transaction must not reach the next one (a temporary tpc_marker would
 *  even take the agent's own marker rows).  A failed cleanup round
 *  re-opens the connection.
 *
 *  When the last READY connection breaks, waiting BEGINs fail (there is no
 *  database to wait for) while phase-2 work keeps waiting; when the first
 *  connection comes back the CONNECTED event is reported (recovery).
 */
#include "part_pg.h"

#include <czmq.h>
#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <sys/epoll.h>
#include <unistd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tpc_error.h"
#include "tpc_gid.h"

#define S_MAX_PARAMS 65535
#define S_LOST_MAX 10000
#define S_SEEN 64               /* statement cache: hashes seen once */

typedef enum { C_DOWN, C_CONNECTING, C_READY } s_cstate_t;

typedef struct s_job s_job_t;
struct s_job {
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
    s_job_t *next;
};

typedef struct {
    s_job_t *head, *tail;
    size_t size;
} s_jobq_t;

/*  A statement prepared on one session (see STATEMENT CACHE above).      */
typedef struct {
    uint64_t hash;
    char *sql;
    int nparams;
    bool live;                  /* the server has it (its Parse succeeded) */
    unsigned id;                /* server-side name "tpc_s<id>" */
} s_stmt_t;

/*  One protocol command of a round: what it is and which query's result
 *  slot it reports into.                                                  */
typedef enum { I_UNNAMED, I_PREPARE, I_NAMED } s_item_kind_t;

typedef struct {
    s_item_kind_t kind;
    int slot;                   /* the query (index into res) */
    int stmt;                   /* I_PREPARE, I_NAMED: cache entry, else -1 */
    uint64_t hash;              /* I_UNNAMED of a cacheable query, else 0 */
    ExecStatusType status;      /* what came back (PGRES_FATAL_ERROR: none) */
    char sqlstate[6];
} s_item_t;

typedef struct s_conn {
    size_t index;
    PGconn *pq;
    s_cstate_t state;
    PostgresPollingStatusType polling;
    uint64_t retry_at;          /* DOWN: next attempt */
    uint64_t deadline;          /* CONNECTING: give up */
    uint64_t backoff;
    PGcancel *cancel;
    bool pinned;
    char gid[TPC_GID_MAX];
    bool begun;                 /* BEGIN sent for the pinned transaction */
    s_job_t *job;
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
    s_item_t *items;            /* the round's commands */
    int nitems, ii;             /* ... how many, the one being read */
    s_stmt_t *stmts;            /* statement cache, stmt_cache entries */
    size_t nstmts;
    uint64_t seen[S_SEEN];      /* statements that ran once, unnamed */
    size_t seen_next;
    unsigned next_id;
} s_conn_t;

struct part_pg {
    part_rm_t rm;
    part_pg_config_t cfg;
    char *conninfo;
    s_conn_t *conns;
    size_t npool;
    size_t pinned;
    zhashx_t *pins;             /* gid -> s_conn_t * */
    zhashx_t *lost;             /* gid -> 1: its connection broke */
    zhashx_t *plain;            /* gid -> 1: found prepared under its bare
                                   name (prepared by hand or by an older
                                   agent), not under gid@oid */
    char gsuffix[16];           /* "@<oid of this database>" */
    s_jobq_t wait_any;          /* phase 2, recovery: any free connection */
    s_jobq_t wait_begin;        /* BEGINs waiting for a connection */
    s_jobq_t done;              /* completions to emit */
    bool need_connected;
    bool had_ready;             /* a connection is READY since the last outage */
    bool outage_logged;
    bool dispatching, dispatch_again;
    int epfd;                   /* epoll set of the sessions' sockets */
    struct epoll_event *evs;    /* process(): what epoll_wait reports */
    uint64_t now;
};

typedef struct {
    const char *sql;
    int nparams;
    const char *const *params;
    bool cache;                 /* may be prepared once per session */
} s_query_t;

static void s_dispatch (part_pg_t *self);
static void s_release (part_pg_t *self, s_conn_t *c);
static void s_on_round (part_pg_t *self, s_conn_t *c);
static void s_txn_over (part_pg_t *self, s_conn_t *c);

/* ------------------------------------------------------------------ */
/*  Small helpers                                                      */

static void
s_log (part_pg_t *self, int level, const char *fmt, ...)
{
    if (!self->cfg.log)
        return;
    char line[512];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (line, sizeof line, fmt, ap);
    va_end (ap);
    self->cfg.log (self->cfg.log_arg, level, line);
}

/*  A copy of TEXT without trailing white space, or NULL.                 */
static char *
s_trimmed (const char *text)
{
    if (!text)
        text = "";
    char *copy = strdup (text);
    if (!copy)
        return NULL;
    size_t n = strlen (copy);
    while (n && (copy[n - 1] == '\n' || copy[n - 1] == ' ' || copy[n - 1] == '\r'))
        copy[--n] = '\0';
    return copy;
}

static void
s_notice (void *arg, const char *message)
{
    part_pg_t *self = arg;
    char *m = s_trimmed (message);
    s_log (self, 1, "postgres: %s", m ? m : "");
    free (m);
}

static void
s_jobq_push (s_jobq_t *q, s_job_t *job)
{
    job->next = NULL;
    if (q->tail)
        q->tail->next = job;
    else
        q->head = job;
    q->tail = job;
    q->size++;
}

static s_job_t *
s_jobq_pop (s_jobq_t *q)
{
    s_job_t *job = q->head;
    if (!job)
        return NULL;
    q->head = job->next;
    if (!q->head)
        q->tail = NULL;
    q->size--;
    job->next = NULL;
    return job;
}

static void
s_job_free (s_job_t **job_p)
{
    s_job_t *job = *job_p;
    if (!job)
        return;
    for (size_t i = 0; i < job->nstmts; i++) {
        free (job->stmts[i].sql);
        for (size_t j = 0; j < job->stmts[i].nparams; j++)
            free (job->stmts[i].params[j]);
        free (job->stmts[i].params);
    }
    free (job->stmts);
    free (job->error);
    PQclear (job->result);
    free (job);
    *job_p = NULL;
}

/*  Finish JOB with STATUS and ERROR (copied) and queue its completion.   */
static void
s_complete (part_pg_t *self, s_job_t *job, int status, const char *error,
            const char *sqlstate)
{
    job->status = status;
    if (status != 0) {
        free (job->error);
        job->error = s_trimmed (error ? error : tpc_strerror (status));
        snprintf (job->sqlstate, sizeof job->sqlstate, "%s", sqlstate ? sqlstate : "");
    }
    s_jobq_push (&self->done, job);
}

/*  Finish JOB with the database error in result R (NULL: no result).    */
static void
s_complete_pgerr (part_pg_t *self, s_conn_t *c, s_job_t *job, const PGresult *r)
{
    const char *msg = r ? PQresultErrorMessage (r) : NULL;
    if (!msg || !*msg)
        msg = c->pq ? PQerrorMessage (c->pq) : "no result from PostgreSQL";
    if (!msg || !*msg)
        msg = r ? PQresStatus (PQresultStatus (r)) : "no result from PostgreSQL";
    const char *state = r ? PQresultErrorField (r, PG_DIAG_SQLSTATE) : NULL;
    int status = TPC_EDB;
    if (state && !strcmp (state, "42704")
        && (job->op == PART_RM_COMMIT_PREPARED || job->op == PART_RM_ROLLBACK_PREPARED))
        status = TPC_ENOENT;
    s_complete (self, job, status, msg, state);
}

static bool
s_free (const s_conn_t *c)
{
    return c->state == C_READY && !c->pinned && !c->job && !c->in_round
           && !c->cleaning;
}

static size_t
s_pin_limit (const part_pg_t *self)
{
    return self->npool >= 2 ? self->npool - 1 : 1;
}

static void
s_pin (part_pg_t *self, s_conn_t *c, const char *gid)
{
    c->pinned = true;
    c->begun = false;
    snprintf (c->gid, sizeof c->gid, "%s", gid);
    zhashx_insert (self->pins, c->gid, c);
    self->pinned++;
}

static void
s_unpin (part_pg_t *self, s_conn_t *c)
{
    if (!c->pinned)
        return;
    zhashx_delete (self->pins, c->gid);
    self->pinned--;
    c->pinned = false;
    c->begun = false;
    c->gid[0] = '\0';
}

static size_t
s_ready_count (const part_pg_t *self)
{
    size_t n = 0;
    for (size_t i = 0; i < self->npool; i++)
        n += self->conns[i].state == C_READY;
    return n;
}

/* ------------------------------------------------------------------ */
/*  Connections                                                        */

static void
s_round_reset (s_conn_t *c)
{
    if (c->res) {
        for (int i = 0; i < c->nq; i++)
            PQclear (c->res[i]);
        free (c->res);
    }
    c->res = NULL;
    free (c->items);
    c->items = NULL;
    c->nq = c->base = c->nitems = c->ii = 0;
    c->resets = false;
    c->in_round = false;
}

/*  Forget every prepared statement of C (the session is gone, or the
 *  server lost them).                                                     */
static void
s_stmts_clear (s_conn_t *c)
{
    for (size_t i = 0; i < c->nstmts; i++)
        free (c->stmts[i].sql);
    c->nstmts = 0;
    memset (c->seen, 0, sizeof c->seen);
}

/*  Take C's socket out of the epoll set (before libpq closes it).        */
static void
s_unwatch (part_pg_t *self, s_conn_t *c)
{
    if (c->wfd >= 0 && self->epfd >= 0)
        epoll_ctl (self->epfd, EPOLL_CTL_DEL, c->wfd, NULL);
    c->wfd = -1;
    c->wev = 0;
}

static void
s_conn_close (part_pg_t *self, s_conn_t *c)
{
    s_unwatch (self, c);
    s_round_reset (c);
    s_stmts_clear (c);
    if (c->cancel)
        PQfreeCancel (c->cancel);
    c->cancel = NULL;
    if (c->pq)
        PQfinish (c->pq);
    c->pq = NULL;
    c->want_write = false;
    c->cleaning = false;
    c->dirty = c->dirty_full = false;
}

static void
s_schedule_retry (part_pg_t *self, s_conn_t *c)
{
    c->state = C_DOWN;
    c->retry_at = self->now + c->backoff;
    c->backoff = c->backoff * 2 > self->cfg.backoff_max_ms
                 ? self->cfg.backoff_max_ms : c->backoff * 2;
}

/*  No connection is usable: BEGINs cannot wait for one.                  */
static void
s_outage (part_pg_t *self)
{
    if (s_ready_count (self) > 0)
        return;
    self->had_ready = false;
    s_job_t *job;
    while ((job = s_jobq_pop (&self->wait_begin)))
        s_complete (self, job, TPC_ECONNECT, "not connected to PostgreSQL", NULL);
}

/*  C broke (WHY): fail its job, lose its transaction, reconnect later.   */
static void
s_conn_broken (part_pg_t *self, s_conn_t *c, const char *why)
{
    char *reason = s_trimmed (why && *why ? why : "connection broken");
    s_log (self, 0, "connection %zu to PostgreSQL lost: %s", c->index,
           reason ? reason : "?");
    s_job_t *job = c->job;
    c->job = NULL;
    if (job) {
        char msg[600];
        snprintf (msg, sizeof msg, "connection to PostgreSQL lost: %s",
                  reason ? reason : "?");
        s_complete (self, job, job->op == PART_RM_ROLLBACK ? 0 : TPC_ECONNECT,
                    msg, "08006");
    }
    else if (c->pinned && zhashx_size (self->lost) < S_LOST_MAX)
        zhashx_insert (self->lost, c->gid, (void *) 1);
    free (reason);
    s_unpin (self, c);
    s_conn_close (self, c);
    s_schedule_retry (self, c);
    s_outage (self);
}

static void
s_conn_ready (part_pg_t *self, s_conn_t *c)
{
    PQsetNoticeProcessor (c->pq, s_notice, self);
    if (PQsetnonblocking (c->pq, 1) != 0 || PQenterPipelineMode (c->pq) != 1) {
        s_conn_broken (self, c, PQerrorMessage (c->pq));
        return;
    }
    c->cancel = PQgetCancel (c->pq);
    c->state = C_READY;
    c->backoff = self->cfg.backoff_min_ms;
    if (!self->had_ready) {
        self->had_ready = true;
        self->need_connected = true;
        self->outage_logged = false;
        s_log (self, 1, "connected to PostgreSQL");
    }
    s_dispatch (self);
}

static void
s_connect_failed (part_pg_t *self, s_conn_t *c, const char *why)
{
    char *reason = s_trimmed (why);
    s_log (self, self->outage_logged ? 1 : 0,
           "cannot connect to PostgreSQL (connection %zu, next try in %llu ms): %s",
           c->index, (unsigned long long) c->backoff, reason ? reason : "?");
    self->outage_logged = true;
    free (reason);
    s_conn_close (self, c);
    s_schedule_retry (self, c);
}

static void
s_connect_start (part_pg_t *self, s_conn_t *c)
{
    c->pq = PQconnectStart (self->conninfo);
    if (!c->pq) {
        s_connect_failed (self, c, "out of memory");
        return;
    }
    if (PQstatus (c->pq) == CONNECTION_BAD) {
        s_connect_failed (self, c, PQerrorMessage (c->pq));
        return;
    }
    c->state = C_CONNECTING;
    c->polling = PGRES_POLLING_WRITING;
    c->deadline = self->now + self->cfg.connect_timeout_ms;
}

static bool
s_fd_ready (int fd, short events)
{
    struct pollfd p = { .fd = fd, .events = events };
    return poll (&p, 1, 0) > 0;
}

static void
s_connect_step (part_pg_t *self, s_conn_t *c)
{
    if (self->now >= c->deadline) {
        s_connect_failed (self, c, "timed out");
        return;
    }
    int fd = PQsocket (c->pq);
    short ev = c->polling == PGRES_POLLING_READING ? POLLIN : POLLOUT;
    if (fd >= 0 && !s_fd_ready (fd, ev))
        return;
    PostgresPollingStatusType st = PQconnectPoll (c->pq);
    if (st == PGRES_POLLING_OK)
        s_conn_ready (self, c);
    else if (st == PGRES_POLLING_FAILED)
        s_connect_failed (self, c, PQerrorMessage (c->pq));
    else
        c->polling = st;
}

/*  FNV-1a of SQL and NPARAMS; never 0.                                   */
static uint64_t
s_hash (const char *sql, int nparams)
{
    uint64_t h = 14695981039346656037ull ^ (uint64_t) nparams;
    for (const unsigned char *p = (const unsigned char *) sql; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    return h ? h : 1;
}

static int
s_stmt_find (const s_conn_t *c, uint64_t h, const s_query_t *q)
{
    for (size_t i = 0; i < c->nstmts; i++)
        if (c->stmts[i].hash == h && c->stmts[i].nparams == q->nparams
            && !strcmp (c->stmts[i].sql, q->sql))
            return (int) i;
    return -1;
}

static bool
s_seen (const s_conn_t *c, uint64_t h)
{
    for (size_t i = 0; i < S_SEEN; i++)
        if (c->seen[i] == h)
            return true;
    return false;
}

/*  Queue the commands of query Q (number SLOT) on C: the prepared
 *  statement if the session has it, a Parse of it first when Q ran here
 *  before and the cache has room, else an unnamed statement.  false when
 *  libpq refused (no memory, connection broken).                        */
static bool
s_send_query (part_pg_t *self, s_conn_t *c, const s_query_t *q, int slot)
{
    uint64_t h = q->cache && self->cfg.stmt_cache ? s_hash (q->sql, q->nparams) : 0;
    int k = h ? s_stmt_find (c, h, q) : -1;
    char name[24];
    if (k < 0 && h && s_seen (c, h) && c->nstmts < self->cfg.stmt_cache) {
        char *copy = strdup (q->sql);
        if (copy) {
            k = (int) c->nstmts++;
            c->stmts[k] = (s_stmt_t) { .hash = h, .sql = copy,
                                       .nparams = q->nparams, .live = false,
                                       .id = ++c->next_id };
            snprintf (name, sizeof name, "tpc_s%u", c->stmts[k].id);
            s_log (self, 1, "connection %zu: preparing %s: %.80s", c->index,
                   name, q->sql);
            if (!PQsendPrepare (c->pq, name, q->sql, q->nparams, NULL))
                return false;
            c->items[c->nitems++] = (s_item_t) { I_PREPARE, slot, k, 0,
                                                 PGRES_FATAL_ERROR, "" };
        }
    }
    if (k >= 0) {
        snprintf (name, sizeof name, "tpc_s%u", c->stmts[k].id);
        if (!PQsendQueryPrepared (c->pq, name, q->nparams, q->params, NULL,
                                  NULL, 0))
            return false;
        c->items[c->nitems++] = (s_item_t) { I_NAMED, slot, k, 0,
                                             PGRES_FATAL_ERROR, "" };
        return true;
    }
    if (!PQsendQueryParams (c->pq, q->sql, q->nparams, NULL, q->params,
                            NULL, NULL, 0))
        return false;
    c->items[c->nitems++] = (s_item_t) { I_UNNAMED, slot, -1, h,
                                         PGRES_FATAL_ERROR, "" };
    return true;
}

/*  The round is over: keep what the server now holds.  A Parse that
 *  succeeded makes its statement usable; one that failed (or never ran)
 *  is dropped; an unnamed statement that ran and returned no rows is
 *  noted, to be prepared when it comes again (statements returning rows
 *  are never prepared: a schema change could change their row type, which
 *  a prepared statement refuses); a prepared statement the server no
 *  longer knows (26000, e.g. DEALLOCATE ALL) empties the cache.          */
static void
s_stmts_settle (s_conn_t *c)
{
    bool lost = false;
    for (int i = 0; i < c->nitems; i++) {
        s_item_t *it = &c->items[i];
        if (it->kind == I_PREPARE)
            c->stmts[it->stmt].live = it->status == PGRES_COMMAND_OK;
        else if (it->kind == I_UNNAMED && it->hash
                 && it->status == PGRES_COMMAND_OK && !s_seen (c, it->hash)) {
            c->seen[c->seen_next] = it->hash;
            c->seen_next = (c->seen_next + 1) % S_SEEN;
        }
        else if (it->kind == I_NAMED && !strcmp (it->sqlstate, "26000"))
            lost = true;
    }
    if (lost) {
        s_stmts_clear (c);
        return;
    }
    /* drop entries whose Parse did not succeed (they are the newest) */
    while (c->nstmts && !c->stmts[c->nstmts - 1].live) {
        free (c->stmts[c->nstmts - 1].sql);
        c->nstmts--;
    }
}

/*  SESSION RESET.  A connection that ran a client's statements goes back to
 *  the pool only after the session state they may have left is undone: a
 *  SET (search_path, a role), an advisory lock, a temporary table, a
 *  cursor WITH HOLD, a LISTEN, a prepared statement must not reach the
 *  next transaction.  Two weights:
 *    - every transaction that ran client statements ends with RESET ALL,
 *      INSIDE the transaction right before the marker and PREPARE
 *      TRANSACTION / COMMIT, in the same round trip: the GUCs a statement
 *      or a function SET are back to their defaults when it prepares or
 *      commits (and the marker goes to the real tpc_marker under the
 *      default search_path);
 *    - a statement whose text mentions any other kind of session state
 *      (s_needs_discard: role, authorization, advisory, temp, listen,
 *      cursor, declare, prepare, deallocate, discard, case-insensitive,
 *      anywhere) or a transaction that failed (its RESET rolled back with
 *      it) get a full DISCARD ALL from s_release(), a round of its own,
 *      which also empties the statement cache.
 *  What slips through: session state other than GUCs created by a
 *  function whose call does not name it (DISCARD ALL on every transaction
 *  would catch it, for a fifth of the throughput).                       */
static const s_query_t s_reset_gucs[] = {
    { "RESET ALL", 0, NULL, true },
};
#define S_RESET_MAX 1

/*  Send N queries and a Sync.  0, or -1 when the connection broke (its
 *  job has been completed with TPC_ECONNECT).                            */
static int
s_send_round (part_pg_t *self, s_conn_t *c, const s_query_t *q, int n, int base)
{
    c->res = calloc ((size_t) n, sizeof *c->res);
    c->items = calloc ((size_t) n * 2, sizeof *c->items);
    if (!c->res || !c->items)
        goto broken;
    c->nq = n;
    c->nitems = c->ii = 0;
    for (int i = 0; i < n; i++)
        if (!s_send_query (self, c, &q[i], i))
            goto broken;
    if (!PQpipelineSync (c->pq))
        goto broken;
    c->base = base;
    c->in_round = true;
    int r = PQflush (c->pq);
    if (r < 0)
        goto broken;
    c->want_write = r == 1;
    return 0;
broken:
    s_conn_broken (self, c, PQerrorMessage (c->pq));
    return -1;
}

/*  Read what has arrived of the current round.                           */
static void
s_read_results (part_pg_t *self, s_conn_t *c)
{
    while (c->in_round && !PQisBusy (c->pq)) {
        PGresult *r = PQgetResult (c->pq);
        if (!r) {
            if (PQstatus (c->pq) == CONNECTION_BAD)
                break;
            if (c->ii < c->nitems)
                c->ii++;
            else
                break;
            continue;
        }
        ExecStatusType st = PQresultStatus (r);
        if (st == PGRES_PIPELINE_SYNC) {
            PQclear (r);
            c->in_round = false;
            s_stmts_settle (c);
            s_on_round (self, c);
            return;
        }
        if (c->ii < c->nitems) {
            s_item_t *it = &c->items[c->ii];
            const char *state = PQresultErrorField (r, PG_DIAG_SQLSTATE);
            it->status = st;
            snprintf (it->sqlstate, sizeof it->sqlstate, "%s", state ? state : "");
            PGresult **slot = &c->res[it->slot];
            ExecStatusType was = *slot ? PQresultStatus (*slot) : PGRES_COMMAND_OK;
            if (was == PGRES_COMMAND_OK || was == PGRES_TUPLES_OK
                || was == PGRES_EMPTY_QUERY) {
                PQclear (*slot);        /* keep the first error of a query */
                *slot = r;
            }
            else
                PQclear (r);
        }
        else
            PQclear (r);
    }
    if (c->pq && PQstatus (c->pq) == CONNECTION_BAD)
        s_conn_broken (self, c, PQerrorMessage (c->pq));
}

static void
s_ready_step (part_pg_t *self, s_conn_t *c)
{
    if (c->want_write) {
        int r = PQflush (c->pq);
        if (r < 0) {
            s_conn_broken (self, c, PQerrorMessage (c->pq));
            return;
        }
        c->want_write = r == 1;
    }
    if (!PQconsumeInput (c->pq)) {
        s_conn_broken (self, c, PQerrorMessage (c->pq));
        return;
    }
    if (c->in_round)
        s_read_results (self, c);
    else if (PQstatus (c->pq) == CONNECTION_BAD)
        s_conn_broken (self, c, PQerrorMessage (c->pq));
    else {
        PGnotify *n;
        while ((n = PQnotifies (c->pq)))
            PQfreemem (n);
    }
}

/* ------------------------------------------------------------------ */
/*  Jobs: starting rounds                                              */

/*  Send QUERIES (N of them) for the pinned transaction of C, preceded by
 *  BEGIN when it was not sent yet.                                       */
static int
s_send_txn_round (part_pg_t *self, s_conn_t *c, const s_query_t *queries, int n)
{
    s_query_t *q = calloc ((size_t) n + 1, sizeof *q);
    if (!q) {
        s_job_t *job = c->job;
        c->job = NULL;
        s_complete (self, job, TPC_ENOMEM, NULL, NULL);
        return -1;
    }
    int base = 0;
    if (!c->begun) {
        q[0].sql = "BEGIN";
        base = 1;
    }
    memcpy (q + base, queries, (size_t) n * sizeof *q);
    c->begun = true;
    int rc = s_send_round (self, c, q, n + base, base);
    free (q);
    return rc;
}

/*  Skip white space and comments (-- to the end of the line, nested
 *  slash-star) from P on.                                               */
static const char *
s_skip_blank (const char *p)
{
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'
               || *p == '\f' || *p == '\v')
            p++;
        if (p[0] == '-' && p[1] == '-') {
            while (*p && *p != '\n')
                p++;
        }
        else if (p[0] == '/' && p[1] == '*') {
            int depth = 0;
            do {
                if (p[0] == '/' && p[1] == '*') {
                    depth++;
                    p += 2;
                }
                else if (p[0] == '*' && p[1] == '/') {
                    depth--;
                    p += 2;
                }
                else
                    p++;
            } while (*p && depth > 0);
        }
        else
            return p;
    }
}

/*  The next word at *P (after blanks) equals WORD, ignoring case; *P is
 *  moved past it when it does.                                          */
static bool
s_word (const char **p, const char *word)
{
    const char *q = s_skip_blank (*p);
    size_t n = strlen (word);
    if (strncasecmp (q, word, n))
        return false;
    char next = q[n];
    if ((next >= 'a' && next <= 'z') || (next >= 'A' && next <= 'Z')
        || (next >= '0' && next <= '9') || next == '_' || next == '$'
        || (unsigned char) next >= 0x80)
        return false;
    *p = q + n;
    return true;
}

/*  True when SQL would end or prepare the transaction the agent holds
 *  open: COMMIT, END, ROLLBACK (but not ROLLBACK [WORK|TRANSACTION] TO, a
 *  savepoint), ABORT, PREPARE TRANSACTION, and the PREPARED forms.  Run,
 *  such a statement commits this participant's part on its own (or
 *  prepares it under a name no coordinator knows) while the others roll
 *  back.  The first keyword decides: the extended protocol runs one
 *  command per query, and every other way to end a transaction (CALL or
 *  DO with COMMIT inside) fails inside a transaction block.             */
static bool
s_ends_transaction (const char *sql)
{
    const char *p = sql;
    if (s_word (&p, "commit") || s_word (&p, "end") || s_word (&p, "abort"))
        return true;
    if (s_word (&p, "prepare"))
        return s_word (&p, "transaction");
    if (s_word (&p, "rollback")) {
        if (!s_word (&p, "work"))
            s_word (&p, "transaction");
        return !s_word (&p, "to");
    }
    return false;
}

/*  True when SQL may leave session state that RESET ALL does not undo
 *  (see SESSION RESET): the session then gets DISCARD ALL before reuse.  */
static bool
s_needs_discard (const char *sql)
{
    static const char *const words[] = {
        "role", "authorization", "advisory", "temp", "listen", "cursor",
        "declare", "prepare", "deallocate", "discard"
    };
    for (size_t i = 0; i < sizeof words / sizeof *words; i++)
        if (strcasestr (sql, words[i]))
            return true;
    return false;
}

/*  The statements of JOB, then TAIL (NTAIL queries), in one round on C.  */
static void
s_start_stmts (part_pg_t *self, s_conn_t *c, s_job_t *job,
               const s_query_t *tail, int ntail)
{
    const char *refused = NULL, *state = NULL;
    int status = TPC_EDB;
    s_query_t *q = calloc (job->nstmts + S_RESET_MAX + (size_t) ntail + 1,
                           sizeof *q);
    if (!q)
        status = TPC_ENOMEM;
    for (size_t i = 0; q && !refused && i < job->nstmts; i++) {
        if (job->stmts[i].nparams > S_MAX_PARAMS) {
            refused = "too many parameters in one statement (at most 65535)";
            state = "54000";
        }
        else if (s_ends_transaction (job->stmts[i].sql)) {
            refused = "COMMIT, ROLLBACK, END, ABORT and PREPARE TRANSACTION "
                      "are not allowed in work: the coordinator ends every "
                      "transaction";
            state = "25000";
        }
        q[i].sql = job->stmts[i].sql;
        q[i].nparams = (int) job->stmts[i].nparams;
        q[i].params = (const char *const *) job->stmts[i].params;
        q[i].cache = true;
    }
    if (!q || refused) {
        /* nothing was sent; a PREPARE or one-phase COMMIT ends the
         * transaction either way (rolled back), an EXEC leaves it open */
        free (q);
        c->job = NULL;
        s_complete (self, job, status, refused, state);
        if (job->op != PART_RM_EXEC)
            s_txn_over (self, c);
        return;
    }
    for (size_t i = 0; i < job->nstmts; i++) {
        c->dirty = true;
        c->dirty_full |= s_needs_discard (job->stmts[i].sql);
    }
    /* the transaction ends in this round: undo its session state before
     * the tail (see SESSION RESET) */
    int nreset = 0;
    if (ntail && c->dirty && !c->dirty_full) {
        nreset = (int) (sizeof s_reset_gucs / sizeof *s_reset_gucs);
        memcpy (q + job->nstmts, s_reset_gucs, (size_t) nreset * sizeof *q);
        c->resets = true;
    }
    if (ntail)
        memcpy (q + job->nstmts + nreset, tail, (size_t) ntail * sizeof *q);
    s_send_txn_round (self, c, q, (int) job->nstmts + nreset + ntail);
    free (q);
}

/*  Ends PREPARE and COMMIT_ONEPHASE rounds, before PREPARE TRANSACTION /
 *  COMMIT: the commit marker, only if the transaction wrote something (its
 *  row count then tells whether it did).  No statement of the round can
 *  have ended the transaction: s_ends_transaction() refused those.       */
#define S_MARKER_SQL "INSERT INTO tpc_marker (gid) SELECT $1::text " \
                     "WHERE pg_current_xact_id_if_assigned() IS NOT NULL"
/*  The same when a read-only transaction must be prepared all the same
 *  (keep_readonly: three-phase commit): the marker is always written.   */
#define S_MARKER_ALWAYS_SQL "INSERT INTO tpc_marker (gid) VALUES ($1::text)"

/*  The name GID is prepared under in PostgreSQL: "gid@oid", the oid of
 *  this database, so that two agents on two databases of one cluster
 *  (whose prepared-transaction names are cluster-wide) can prepare the
 *  same tpc gid; or the bare gid when recovery found it so.  BUF holds
 *  TPC_GID_MAX + 16 bytes.                                               */
static const char *
s_pg_gid (part_pg_t *self, const char *gid, char *buf)
{
    if (zhashx_lookup (self->plain, gid))
        return gid;
    snprintf (buf, TPC_GID_MAX + 16, "%s%s", gid, self->gsuffix);
    return buf;
}

static void
s_start (part_pg_t *self, s_conn_t *c, s_job_t *job)
{
    c->job = job;
    const char *gidp[1] = { job->gid };
    char sql[200], pggid[TPC_GID_MAX + 16];
    switch (job->op) {
    case PART_RM_EXEC:
        if (job->nstmts == 0) {
            c->job = NULL;
            s_complete (self, job, 0, NULL, NULL);
            return;
        }
        s_start_stmts (self, c, job, NULL, 0);
        return;
    case PART_RM_PREPARE:
    case PART_RM_COMMIT_ONEPHASE: {
        /* the gid passed tpc_gid_parse: [A-Za-z0-9_] only */
        if (job->op == PART_RM_PREPARE)
            snprintf (sql, sizeof sql, "PREPARE TRANSACTION '%s%s'", job->gid,
                      self->gsuffix);
        else
            snprintf (sql, sizeof sql, "COMMIT");
        s_query_t q[2] = {
            { job->keep_readonly ? S_MARKER_ALWAYS_SQL : S_MARKER_SQL, 1, gidp,
              true },
            { sql, 0, NULL, false }
        };
        job->step = 1;
        s_start_stmts (self, c, job, q, 2);
        return;
    }
    case PART_RM_ROLLBACK:
        if (!c->begun) {
            c->job = NULL;
            s_complete (self, job, 0, NULL, NULL);
            s_unpin (self, c);
            s_release (self, c);
            return;
        }
        {
            s_query_t q = { "ROLLBACK", 0, NULL, false };
            s_send_round (self, c, &q, 1, 0);
        }
        return;
    case PART_RM_COMMIT_PREPARED:
    case PART_RM_ROLLBACK_PREPARED: {
        /* the gid passed tpc_gid_parse: [A-Za-z0-9_] only */
        snprintf (sql, sizeof sql, "%s PREPARED '%s'",
                  job->op == PART_RM_COMMIT_PREPARED ? "COMMIT" : "ROLLBACK",
                  s_pg_gid (self, job->gid, pggid));
        s_query_t q = { sql, 0, NULL, false };
        s_send_round (self, c, &q, 1, 0);
        return;
    }
    case PART_RM_OUTCOME_OF: {
        const char *p2[2] = { job->gid, s_pg_gid (self, job->gid, pggid) };
        s_query_t q = { "SELECT (SELECT kind FROM tpc_marker WHERE gid = $1), "
                        "EXISTS (SELECT 1 FROM pg_prepared_xacts WHERE gid = $2)",
                        2, p2, false };
        s_send_round (self, c, &q, 1, 0);
        return;
    }
    case PART_RM_TOMBSTONE: {
        s_query_t q[4] = {
            { "BEGIN", 0, NULL, false },
            { "SET LOCAL lock_timeout = '5s'", 0, NULL, false },
            { "WITH ins AS (INSERT INTO tpc_marker (gid, kind) VALUES ($1, 'T') "
              "ON CONFLICT (gid) DO NOTHING RETURNING kind) "
              "SELECT kind FROM ins UNION ALL "
              "SELECT kind FROM tpc_marker WHERE gid = $1", 1, gidp, false },
            { "COMMIT", 0, NULL, false }
        };
        s_send_round (self, c, q, 4, 0);
        return;
    }
    case PART_RM_RECOVER: {
        s_query_t q = { "SELECT gid FROM pg_prepared_xacts WHERE database = "
                        "current_database() AND gid LIKE 'tpc\\_%'", 0, NULL, false };
        s_send_round (self, c, &q, 1, 0);
        return;
    }
    default:
        c->job = NULL;
        s_complete (self, job, TPC_EINVAL, NULL, NULL);
        return;
    }
}

/* ------------------------------------------------------------------ */
/*  Jobs: a round finished                                             */

/*  Index of the first query of the round that did not succeed, or -1.   */
static int
s_first_error (const s_conn_t *c)
{
    for (int i = 0; i < c->nq; i++) {
        if (!c->res[i])
            return i;
        ExecStatusType st = PQresultStatus (c->res[i]);
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK
            && st != PGRES_EMPTY_QUERY)
            return i;
    }
    return -1;
}

static bool
s_tag_is (const PGresult *r, const char *tag)
{
    return r && PQresultStatus (r) == PGRES_COMMAND_OK
           && !strcmp (PQcmdStatus ((PGresult *) r), tag);
}

/*  The pinned transaction of C ended (or failed): unpin, clean up.       */
static void
s_txn_over (part_pg_t *self, s_conn_t *c)
{
    s_round_reset (c);
    s_unpin (self, c);
    s_release (self, c);
}

static void
s_on_round (part_pg_t *self, s_conn_t *c)
{
    char sql[200];
    s_job_t *job = c->job;
    if (!job) {                         /* our own cleanup round */
        int e = s_first_error (c);
        if (e >= 0) {
            char *why = s_trimmed (c->res[e] ? PQresultErrorMessage (c->res[e])
                                             : PQerrorMessage (c->pq));
            s_log (self, 0, "connection %zu: cleanup failed (%s): re-opening it",
                   c->index, why ? why : "?");
            free (why);
            s_conn_close (self, c);
            c->state = C_DOWN;
            c->retry_at = self->now;
            s_outage (self);
            return;
        }
        s_round_reset (c);
        s_release (self, c);
        return;
    }
    int e = s_first_error (c);
    PGresult *last = c->nq ? c->res[c->nq - 1] : NULL;
    c->job = NULL;
    switch (job->op) {
    case PART_RM_EXEC:
        if (e >= 0)
            s_complete_pgerr (self, c, job, c->res[e]);
        else if (PQtransactionStatus (c->pq) != PQTRANS_INTRANS)
            s_complete (self, job, TPC_EDB, "a statement ended the transaction "
                        "(COMMIT, ROLLBACK and PREPARE TRANSACTION are not "
                        "allowed in work)", "25000");
        else {
            job->result = last;
            c->res[c->nq - 1] = NULL;
            s_complete (self, job, 0, NULL, NULL);
        }
        s_round_reset (c);
        return;
    case PART_RM_PREPARE:
        if (job->step == 2) {           /* read-only: its COMMIT PREPARED */
            if (e >= 0) {
                /* it stays prepared: say so the way a lost session does,
                 * so that an abort rolls it back */
                char msg[600];
                const char *m = c->res[e] ? PQresultErrorMessage (c->res[e]) : "";
                snprintf (msg, sizeof msg, "read-only transaction prepared but "
                          "not committed: %s", m && *m ? m : PQerrorMessage (c->pq));
                s_complete (self, job, TPC_ECONNECT, msg, NULL);
            }
            else {
                job->readonly = true;
                s_complete (self, job, 0, NULL, NULL);
            }
            break;
        }
        /* fall through */
    case PART_RM_COMMIT_ONEPHASE: {
        const char *tag = job->op == PART_RM_PREPARE ? "PREPARE TRANSACTION"
                                                     : "COMMIT";
        if (e >= 0)
            s_complete_pgerr (self, c, job, c->res[e]);
        else if (!s_tag_is (last, tag))
            s_complete (self, job, TPC_EDB, job->op == PART_RM_PREPARE
                        ? "the transaction was rolled back instead of prepared"
                        : "the transaction was rolled back instead of committed",
                        "40000");
        else {
            /* committed or prepared: so are its resets */
            if (c->resets)
                c->dirty = false;
            const char *n = PQcmdTuples (c->res[c->nq - 2]);
            bool wrote = n && *n && strcmp (n, "0") != 0;
            if (job->op == PART_RM_PREPARE && !wrote) {
                /* nothing written, yet prepared: commit it, then vote
                 * readonly (the rare case pays a second round trip so that
                 * the common one needs one) */
                s_unpin (self, c);
                s_round_reset (c);
                c->job = job;
                job->step = 2;
                snprintf (sql, sizeof sql, "COMMIT PREPARED '%s%s'", job->gid,
                          self->gsuffix);
                s_query_t q = { sql, 0, NULL, false };
                s_send_round (self, c, &q, 1, 0);
                return;
            }
            s_complete (self, job, 0, NULL, NULL);  /* PREPARE: durable, vote yes */
        }
        s_txn_over (self, c);
        return;
    }
    case PART_RM_ROLLBACK:
        s_complete (self, job, 0, NULL, NULL);
        s_txn_over (self, c);
        return;
    case PART_RM_OUTCOME_OF:
        if (e >= 0)
            s_complete_pgerr (self, c, job, c->res[e]);
        else if (PQntuples (last) != 1)
            s_complete (self, job, TPC_EDB, "marker lookup returned no row", NULL);
        else {
            bool prepared = PQgetvalue (last, 0, 1)[0] == 't';
            char kind = PQgetisnull (last, 0, 0) ? 0 : PQgetvalue (last, 0, 0)[0];
            job->outcome = prepared ? TPC_OUTCOME_IN_PROGRESS
                           : kind == 'C' ? TPC_OUTCOME_COMMITTED
                           : TPC_OUTCOME_ABORTED;
            s_complete (self, job, 0, NULL, NULL);
        }
        break;
    case PART_RM_TOMBSTONE:
        if (e >= 0)
            s_complete_pgerr (self, c, job, c->res[e]);
        else if (PQntuples (c->res[2]) != 1 || !s_tag_is (last, "COMMIT"))
            s_complete (self, job, TPC_EDB, "tombstone raced with a concurrent "
                        "marker insert; retry", "40001");
        else {
            job->outcome = PQgetvalue (c->res[2], 0, 0)[0] == 'C'
                           ? TPC_OUTCOME_COMMITTED : TPC_OUTCOME_ABORTED;
            s_complete (self, job, 0, NULL, NULL);
        }
        break;
    case PART_RM_RECOVER:
        if (e >= 0)
            s_complete_pgerr (self, c, job, c->res[e]);
        else {
            job->result = last;
            c->res[c->nq - 1] = NULL;
            s_complete (self, job, 0, NULL, NULL);
        }
        break;
    default:                            /* COMMIT/ROLLBACK PREPARED */
        if (e >= 0)
            s_complete_pgerr (self, c, job, c->res[e]);
        else
            s_complete (self, job, 0, NULL, NULL);
        break;
    }
    s_round_reset (c);
    s_release (self, c);
}

/*  C finished its work: back to the pool once its session is idle.      */
static void
s_release (part_pg_t *self, s_conn_t *c)
{
    if (c->state != C_READY || c->pinned || c->job || c->in_round)
        return;
    PGTransactionStatusType ts = PQtransactionStatus (c->pq);
    if (ts == PQTRANS_IDLE && c->dirty) {
        c->dirty = c->dirty_full = false;
        c->cleaning = true;
        s_stmts_clear (c);              /* DISCARD ALL deallocates them */
        s_query_t q = { "DISCARD ALL", 0, NULL, false };
        s_send_round (self, c, &q, 1, 0);
        return;
    }
    if (ts == PQTRANS_IDLE) {
        c->cleaning = false;
        s_dispatch (self);
        return;
    }
    if ((ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR) && !c->cleaning) {
        c->cleaning = true;
        s_query_t q = { "ROLLBACK", 0, NULL, false };
        s_send_round (self, c, &q, 1, 0);
        return;
    }
    /* still not idle after ROLLBACK, or in an unknown state: start over */
    s_log (self, 0, "connection %zu left in a transaction: re-opening it", c->index);
    s_conn_close (self, c);
    c->state = C_DOWN;
    c->retry_at = self->now;
    s_outage (self);
}

/*  Give free connections to waiting work: phase 2 first, then BEGINs.   */
static void
s_dispatch (part_pg_t *self)
{
    if (self->dispatching) {
        self->dispatch_again = true;
        return;
    }
    self->dispatching = true;
    do {
        self->dispatch_again = false;
        for (size_t i = 0; i < self->npool; i++) {
            s_conn_t *c = &self->conns[i];
            if (!s_free (c))
                continue;
            if (self->wait_any.head)
                s_start (self, c, s_jobq_pop (&self->wait_any));
            else if (self->wait_begin.head && self->pinned < s_pin_limit (self)) {
                s_job_t *job = s_jobq_pop (&self->wait_begin);
                s_pin (self, c, job->gid);
                s_complete (self, job, 0, NULL, NULL);
            }
        }
    } while (self->dispatch_again);
    self->dispatching = false;
}

/* ------------------------------------------------------------------ */
/*  The part_rm_t table                                                */

static s_job_t *
s_job_new (const part_rm_req_t *req)
{
    s_job_t *job = calloc (1, sizeof *job);
    if (!job)
        return NULL;
    job->req = req->req;
    job->op = req->op;
    job->keep_readonly = req->keep_readonly;
    if (req->gid)
        snprintf (job->gid, sizeof job->gid, "%s", req->gid);
    if ((req->op != PART_RM_EXEC && req->op != PART_RM_PREPARE
         && req->op != PART_RM_COMMIT_ONEPHASE) || req->nstmts == 0)
        return job;
    job->stmts = calloc (req->nstmts, sizeof *job->stmts);
    if (!job->stmts)
        goto fail;
    job->nstmts = req->nstmts;
    for (size_t i = 0; i < req->nstmts; i++) {
        const tpc_stmt_t *src = &req->stmts[i];
        tpc_stmt_t *dst = &job->stmts[i];
        if (!(dst->sql = strdup (src->sql ? src->sql : "")))
            goto fail;
        if (src->nparams) {
            if (!(dst->params = calloc (src->nparams, sizeof *dst->params)))
                goto fail;
            dst->nparams = src->nparams;
            for (size_t j = 0; j < src->nparams; j++)
                if (src->params[j] && !(dst->params[j] = strdup (src->params[j])))
                    goto fail;
        }
    }
    return job;
fail:
    s_job_free (&job);
    return NULL;
}

static s_conn_t *
s_find_free (part_pg_t *self)
{
    for (size_t i = 0; i < self->npool; i++)
        if (s_free (&self->conns[i]))
            return &self->conns[i];
    return NULL;
}

static int
s_submit (void *self_, const part_rm_req_t *req, uint64_t now_ms)
{
    part_pg_t *self = self_;
    if (now_ms > self->now)
        self->now = now_ms;
    if ((unsigned) req->op >= PART_RM_OP_COUNT || req->op == PART_RM_CONNECTED)
        return TPC_EINVAL;
    if (req->op != PART_RM_RECOVER && tpc_gid_parse (req->gid, NULL) != 0)
        return TPC_EINVAL;
    s_job_t *job = s_job_new (req);
    if (!job)
        return TPC_ENOMEM;
    size_t waiting = self->wait_any.size + self->wait_begin.size;
    char msg[160];
    s_conn_t *c;
    switch (req->op) {
    case PART_RM_BEGIN:
        zhashx_delete (self->lost, job->gid);
        if (zhashx_lookup (self->pins, job->gid))
            s_complete (self, job, TPC_ESTATE, "transaction already open", NULL);
        else if (s_ready_count (self) == 0)
            s_complete (self, job, TPC_ECONNECT, "not connected to PostgreSQL", NULL);
        else if (self->pinned < s_pin_limit (self) && (c = s_find_free (self))) {
            s_pin (self, c, job->gid);
            s_complete (self, job, 0, NULL, NULL);
        }
        else if (waiting >= self->cfg.queue_max) {
            snprintf (msg, sizeof msg, "busy: all %zu PostgreSQL connections "
                      "are in use and %zu operations wait", self->npool, waiting);
            s_complete (self, job, TPC_EBUSY, msg, NULL);
        }
        else
            s_jobq_push (&self->wait_begin, job);
        break;
    case PART_RM_EXEC:
    case PART_RM_PREPARE:
    case PART_RM_COMMIT_ONEPHASE:
    case PART_RM_ROLLBACK:
        c = zhashx_lookup (self->pins, job->gid);
        if (!c) {
            bool lost = zhashx_lookup (self->lost, job->gid) != NULL;
            zhashx_delete (self->lost, job->gid);
            if (req->op == PART_RM_ROLLBACK)
                s_complete (self, job, 0, NULL, NULL);
            else if (lost)
                s_complete (self, job, TPC_ECONNECT, "connection to PostgreSQL "
                            "lost: the transaction was rolled back", "08006");
            else
                s_complete (self, job, TPC_EUNKNOWN_GID, "no open transaction", NULL);
        }
        else if (c->job || c->in_round)
            s_complete (self, job, TPC_ESTATE, "an operation is already "
                        "running for this transaction", NULL);
        else
            s_start (self, c, job);
        break;
    default:
        if ((c = s_find_free (self)))
            s_start (self, c, job);
        else if (waiting >= self->cfg.queue_max) {
            snprintf (msg, sizeof msg, "busy: %zu operations wait for a "
                      "PostgreSQL connection", waiting);
            s_complete (self, job, TPC_EBUSY, msg, NULL);
        }
        else
            s_jobq_push (&self->wait_any, job);
        break;
    }
    return 0;
}

static void
s_interrupt (void *self_, const char *gid)
{
    part_pg_t *self = self_;
    /* a BEGIN still waiting for a connection */
    s_jobq_t keep = { NULL, NULL, 0 };
    s_job_t *job;
    while ((job = s_jobq_pop (&self->wait_begin))) {
        if (!strcmp (job->gid, gid))
            s_complete (self, job, TPC_EABORTED, "interrupted while waiting "
                        "for a PostgreSQL connection", NULL);
        else
            s_jobq_push (&keep, job);
    }
    self->wait_begin = keep;
    /* a statement running on its pinned connection */
    s_conn_t *c = zhashx_lookup (self->pins, gid);
    if (c && c->job && c->cancel) {
        char err[256];
        if (!PQcancel (c->cancel, err, sizeof err))
            s_log (self, 0, "%s: cancel request failed: %s", gid, err);
    }
}

/*  Is FD the open socket of a session other than C?                     */
static bool
s_fd_taken (const part_pg_t *self, const s_conn_t *c, int fd)
{
    for (size_t i = 0; i < self->npool; i++) {
        const s_conn_t *o = &self->conns[i];
        if (o != c && o->state != C_DOWN && o->pq && PQsocket (o->pq) == fd)
            return true;
    }
    return false;
}

/*  Bring C's entry in the epoll set in line with what C waits for: a
 *  CONNECTING socket what PQconnectPoll asked, a READY one input (and
 *  output while a send is unfinished).  A system call only on change.    */
static void
s_watch (part_pg_t *self, s_conn_t *c)
{
    int fd = c->state != C_DOWN && c->pq ? PQsocket (c->pq) : -1;
    uint32_t ev = 0;
    if (fd >= 0 && c->state == C_CONNECTING)
        ev = c->polling == PGRES_POLLING_READING ? EPOLLIN : EPOLLOUT;
    else if (fd >= 0)
        ev = EPOLLIN | (c->want_write ? EPOLLOUT : 0);
    if (fd != c->wfd) {
        /* libpq changed sockets (closing the old one, whose number another
         * session may have since): drop the old entry unless reused */
        if (c->wfd >= 0 && !s_fd_taken (self, c, c->wfd))
            epoll_ctl (self->epfd, EPOLL_CTL_DEL, c->wfd, NULL);
        c->wfd = -1;
        c->wev = 0;
    }
    if (fd < 0 || ev == c->wev)
        return;
    struct epoll_event e = { .events = ev, .data.u64 = c->index };
    int rc = epoll_ctl (self->epfd, c->wfd < 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &e);
    if (rc < 0 && errno == EEXIST)
        rc = epoll_ctl (self->epfd, EPOLL_CTL_MOD, fd, &e);
    else if (rc < 0 && errno == ENOENT)
        rc = epoll_ctl (self->epfd, EPOLL_CTL_ADD, fd, &e);
    if (rc == 0) {
        c->wfd = fd;
        c->wev = ev;
    }
    else
        s_log (self, 0, "connection %zu: epoll_ctl failed: %s", c->index,
               strerror (errno));
}

/*  One descriptor for the whole pool: the epoll set, readable when any
 *  session has something to do.                                           */
static size_t
s_pollfds (void *self_, part_rm_pollfd_t *fds, size_t max)
{
    part_pg_t *self = self_;
    for (size_t i = 0; i < self->npool; i++)
        s_watch (self, &self->conns[i]);
    if (max < 1)
        return 0;
    fds[0].fd = self->epfd;
    fds[0].events = POLLIN;
    return 1;
}

static int64_t
s_timeout (void *self_, uint64_t now_ms)
{
    part_pg_t *self = self_;
    if (self->need_connected || self->done.head)
        return 0;
    int64_t best = -1;
    for (size_t i = 0; i < self->npool; i++) {
        s_conn_t *c = &self->conns[i];
        uint64_t at;
        if (c->state == C_DOWN)
            at = c->retry_at;
        else if (c->state == C_CONNECTING)
            at = c->deadline;
        else
            continue;
        int64_t left = at <= now_ms ? 0 : (int64_t) (at - now_ms);
        if (best < 0 || left < best)
            best = left;
    }
    return best;
}

/*  Build the completion of JOB and hand it to EMIT.                      */
static void
s_emit_job (part_pg_t *self, s_job_t *job, part_rm_emit_fn *emit, void *arg)
{
    (void) self;
    part_rm_result_t res = {
        .req = job->req, .op = job->op,
        .gid = job->op == PART_RM_RECOVER ? NULL : job->gid,
        .status = job->status, .error = job->error, .affected = -1,
        .readonly = job->readonly, .outcome = job->outcome
    };
    snprintf (res.sqlstate, sizeof res.sqlstate, "%s", job->sqlstate);
    const char **columns = NULL, **cells = NULL;
    PGresult *r = job->status == 0 ? job->result : NULL;
    if (r && job->op == PART_RM_EXEC) {
        size_t ncols = (size_t) PQnfields (r), nrows = (size_t) PQntuples (r);
        columns = calloc (ncols + 1, sizeof *columns);
        cells = calloc (ncols * nrows + 1, sizeof *cells);
        if (!columns || !cells) {
            res.status = TPC_ENOMEM;
            res.error = "out of memory for the result rows";
        }
        else {
            for (size_t j = 0; j < ncols; j++)
                columns[j] = PQfname (r, (int) j);
            for (size_t i = 0; i < nrows; i++)
                for (size_t j = 0; j < ncols; j++)
                    cells[i * ncols + j] = PQgetisnull (r, (int) i, (int) j)
                                           ? NULL : PQgetvalue (r, (int) i, (int) j);
            res.ncolumns = ncols;
            res.columns = columns;
            res.nrows = nrows;
            res.cells = cells;
            const char *t = PQcmdTuples (r);
            res.affected = t && *t ? strtoll (t, NULL, 10) : -1;
        }
    }
    else if (r && job->op == PART_RM_RECOVER) {
        size_t n = (size_t) PQntuples (r);
        cells = calloc (n + 1, sizeof *cells);
        if (!cells) {
            res.status = TPC_ENOMEM;
            res.error = "out of memory for the prepared gids";
        }
        else {
            /* gid@oid -> gid (in place: the result is ours); a bare gid
             * is remembered so that phase 2 names it so */
            size_t k = 0;
            for (size_t i = 0; i < n; i++) {
                char *g = PQgetvalue (r, (int) i, 0);
                char *at = strchr (g, '@');
                if (at && strcmp (at, self->gsuffix) != 0)
                    continue;           /* not this database's naming */
                if (at)
                    *at = '\0';
                else
                    zhashx_update (self->plain, g, (void *) 1);
                cells[k++] = g;
            }
            res.ngids = k;
            res.gids = cells;
        }
    }
    emit (arg, &res);
    free (columns);
    free (cells);
}

static void
s_process (void *self_, uint64_t now_ms, part_rm_emit_fn *emit, void *arg)
{
    part_pg_t *self = self_;
    if (now_ms > self->now)
        self->now = now_ms;
    for (size_t i = 0; i < self->npool; i++) {
        s_conn_t *c = &self->conns[i];
        if (c->state == C_DOWN && self->now >= c->retry_at)
            s_connect_start (self, c);
        if (c->state == C_CONNECTING)
            s_connect_step (self, c);
    }
    /* Only the READY sessions the epoll set reports are stepped: a wake-up
     * costs one system call, not one recv() per session of the pool.      */
    int n = epoll_wait (self->epfd, self->evs, (int) self->npool, 0);
    for (int k = 0; k < n; k++) {
        size_t i = (size_t) self->evs[k].data.u64;
        s_conn_t *c = i < self->npool ? &self->conns[i] : NULL;
        /* stepping one may have closed another: check it is still it */
        if (c && c->state == C_READY && c->pq && c->wfd >= 0
            && PQsocket (c->pq) == c->wfd)
            s_ready_step (self, c);
    }
    s_dispatch (self);
    if (self->need_connected) {
        self->need_connected = false;
        part_rm_result_t ev = { .op = PART_RM_CONNECTED, .affected = -1 };
        emit (arg, &ev);
    }
    s_job_t *job;
    while ((job = s_jobq_pop (&self->done))) {
        s_emit_job (self, job, emit, arg);
        s_job_free (&job);
    }
}

/* ------------------------------------------------------------------ */

static int
s_setup (part_pg_t *self, PGconn *pq, char *errbuf, size_t errlen)
{
    int rc = TPC_EDB;
    PGresult *r = NULL;
    char *msg = NULL;
    if (PQserverVersion (pq) < 130000) {
        snprintf (errbuf, errlen, "PostgreSQL %d is too old: tpc-participant "
                  "needs PostgreSQL 13 or newer", PQserverVersion (pq));
        goto cleanup;
    }
    r = PQexec (pq, "SHOW max_prepared_transactions");
    if (PQresultStatus (r) != PGRES_TUPLES_OK || PQntuples (r) != 1) {
        msg = s_trimmed (PQresultErrorMessage (r));
        snprintf (errbuf, errlen, "cannot read max_prepared_transactions: %s",
                  msg ? msg : "?");
        goto cleanup;
    }
    if (atoi (PQgetvalue (r, 0, 0)) <= 0) {
        snprintf (errbuf, errlen, "PostgreSQL has max_prepared_transactions = "
                  "%s, so it cannot prepare transactions\nhint: set "
                  "max_prepared_transactions to a value > 0 in postgresql.conf "
                  "and restart PostgreSQL", PQgetvalue (r, 0, 0));
        rc = TPC_ECONFIG;
        goto cleanup;
    }
    PQclear (r);
    r = PQexec (pq, PART_PG_MARKER_DDL);
    if (PQresultStatus (r) != PGRES_COMMAND_OK) {
        msg = s_trimmed (PQresultErrorMessage (r));
        snprintf (errbuf, errlen, "cannot create the marker table tpc_marker: %s",
                  msg ? msg : "?");
        goto cleanup;
    }
    PQclear (r);
    r = PQexec (pq, "SELECT oid FROM pg_database WHERE datname = "
                "current_database()");
    if (PQresultStatus (r) != PGRES_TUPLES_OK || PQntuples (r) != 1) {
        msg = s_trimmed (PQresultErrorMessage (r));
        snprintf (errbuf, errlen, "cannot read the database's oid: %s",
                  msg ? msg : "?");
        goto cleanup;
    }
    snprintf (self->gsuffix, sizeof self->gsuffix, "@%s", PQgetvalue (r, 0, 0));
    /* gids prepared under their bare name (by an agent older than the
     * gid@oid naming, or by hand) must be named so from the first phase-2
     * operation on, before any RECOVER: a decide that arrives first would
     * otherwise miss the prepared transaction and ack "aborted" */
    PQclear (r);
    r = PQexec (pq, "SELECT gid FROM pg_prepared_xacts WHERE database = "
                "current_database() AND gid LIKE 'tpc\\_%' AND "
                "strpos(gid, '@') = 0");
    if (PQresultStatus (r) != PGRES_TUPLES_OK) {
        msg = s_trimmed (PQresultErrorMessage (r));
        snprintf (errbuf, errlen, "cannot list the prepared transactions: %s",
                  msg ? msg : "?");
        goto cleanup;
    }
    for (int i = 0; i < PQntuples (r); i++)
        zhashx_update (self->plain, PQgetvalue (r, i, 0), (void *) 1);
    rc = 0;
cleanup:
    free (msg);
    PQclear (r);
    return rc;
}

part_pg_t *
part_pg_new (const part_pg_config_t *config, char *errbuf, size_t errlen)
{
    char dummy[8];
    if (!errbuf) {
        errbuf = dummy;
        errlen = sizeof dummy;
    }
    if (!config || !config->conninfo) {
        snprintf (errbuf, errlen, "no PostgreSQL connection string given");
        return NULL;
    }
    part_pg_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (errbuf, errlen, "out of memory");
        return NULL;
    }
    self->epfd = -1;
    self->cfg = *config;
    if (!self->cfg.pool)
        self->cfg.pool = 8;
    if (!self->cfg.queue_max)
        self->cfg.queue_max = 1024;
    if (!self->cfg.connect_timeout_ms)
        self->cfg.connect_timeout_ms = 10000;
    if (!self->cfg.backoff_min_ms)
        self->cfg.backoff_min_ms = 100;
    if (!self->cfg.backoff_max_ms)
        self->cfg.backoff_max_ms = 5000;
    if (self->cfg.no_stmt_cache)
        self->cfg.stmt_cache = 0;
    else if (!self->cfg.stmt_cache)
        self->cfg.stmt_cache = 64;
    self->npool = self->cfg.pool;
    self->conninfo = strdup (config->conninfo);
    self->cfg.conninfo = NULL;          /* never kept where it may be logged */
    self->conns = calloc (self->npool, sizeof *self->conns);
    self->evs = calloc (self->npool, sizeof *self->evs);
    self->epfd = epoll_create1 (EPOLL_CLOEXEC);
    self->pins = zhashx_new ();
    self->lost = zhashx_new ();
    self->plain = zhashx_new ();
    if (!self->conninfo || !self->conns || !self->evs || self->epfd < 0
        || !self->pins || !self->lost || !self->plain) {
        snprintf (errbuf, errlen, "out of memory");
        part_pg_destroy (&self);
        return NULL;
    }
    for (size_t i = 0; i < self->npool; i++) {
        self->conns[i].index = i;
        self->conns[i].state = C_DOWN;
        self->conns[i].backoff = self->cfg.backoff_min_ms;
        self->conns[i].wfd = -1;
        if (self->cfg.stmt_cache
            && !(self->conns[i].stmts = calloc (self->cfg.stmt_cache,
                                                sizeof (s_stmt_t)))) {
            snprintf (errbuf, errlen, "out of memory");
            part_pg_destroy (&self);
            return NULL;
        }
    }
    PGconn *pq = PQconnectdb (self->conninfo);
    if (!pq || PQstatus (pq) != CONNECTION_OK) {
        char *msg = s_trimmed (pq ? PQerrorMessage (pq) : "out of memory");
        snprintf (errbuf, errlen, "cannot connect to PostgreSQL: %s", msg ? msg : "?");
        free (msg);
        PQfinish (pq);
        part_pg_destroy (&self);
        return NULL;
    }
    PQsetNoticeProcessor (pq, s_notice, self);
    if (s_setup (self, pq, errbuf, errlen) != 0) {
        PQfinish (pq);
        part_pg_destroy (&self);
        return NULL;
    }
    self->conns[0].pq = pq;
    s_conn_ready (self, &self->conns[0]);
    if (self->conns[0].state != C_READY) {
        snprintf (errbuf, errlen, "cannot switch the PostgreSQL connection to "
                  "non-blocking pipeline mode");
        part_pg_destroy (&self);
        return NULL;
    }
    self->rm.name = "pg";
    self->rm.self = self;
    self->rm.submit = s_submit;
    self->rm.interrupt = s_interrupt;
    self->rm.pollfds = s_pollfds;
    self->rm.timeout = s_timeout;
    self->rm.process = s_process;
    return self;
}

void
part_pg_destroy (part_pg_t **self_p)
{
    part_pg_t *self = *self_p;
    if (!self)
        return;
    if (self->conns) {
        for (size_t i = 0; i < self->npool; i++) {
            s_job_free (&self->conns[i].job);
            s_conn_close (self, &self->conns[i]);
            free (self->conns[i].stmts);
        }
        free (self->conns);
    }
    s_job_t *job;
    while ((job = s_jobq_pop (&self->wait_any)))
        s_job_free (&job);
    while ((job = s_jobq_pop (&self->wait_begin)))
        s_job_free (&job);
    while ((job = s_jobq_pop (&self->done)))
        s_job_free (&job);
    zhashx_destroy (&self->pins);
    zhashx_destroy (&self->lost);
    zhashx_destroy (&self->plain);
    free (self->evs);
    if (self->epfd >= 0)
        close (self->epfd);
    free (self->conninfo);
    free (self);
    *self_p = NULL;
}

const part_rm_t *
part_pg_rm (part_pg_t *self)
{
    return &self->rm;
}

size_t
part_pg_connected (part_pg_t *self)
{
    return s_ready_count (self);
}
