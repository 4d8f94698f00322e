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
#include <libpq-fe.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tpc_error.h"
#include "tpc_gid.h"

#define S_MAX_PARAMS 65535
#define S_LOST_MAX 10000

typedef enum { C_DOWN, C_CONNECTING, C_READY } s_cstate_t;

typedef struct s_job s_job_t;
struct s_job {
    uint64_t req;
    part_rm_op_t op;
    char gid[TPC_GID_MAX];
    size_t nstmts;
    tpc_stmt_t *stmts;          /* EXEC: deep copy */
    int step;                   /* PREPARE: 0 check, 1 prepare, 2 commit */
    /* completion */
    int status;
    char *error;
    char sqlstate[6];
    PGresult *result;           /* EXEC, RECOVER: rows (owned) */
    bool readonly;
    tpc_outcome_t outcome;
    s_job_t *next;
};

typedef struct {
    s_job_t *head, *tail;
    size_t size;
} s_jobq_t;

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
    bool in_round;
    bool want_write;            /* PQflush has more to send */
    int nq, qi;                 /* queries in the round, query being read */
    int base;                   /* 1 when the round starts with our BEGIN */
    PGresult **res;             /* last result of each query */
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
    s_jobq_t wait_any;          /* phase 2, recovery: any free connection */
    s_jobq_t wait_begin;        /* BEGINs waiting for a connection */
    s_jobq_t done;              /* completions to emit */
    bool need_connected;
    bool had_ready;             /* a connection is READY since the last outage */
    bool outage_logged;
    bool dispatching, dispatch_again;
    uint64_t now;
};

typedef struct {
    const char *sql;
    int nparams;
    const char *const *params;
} s_query_t;

static void s_dispatch (part_pg_t *self);
static void s_release (part_pg_t *self, s_conn_t *c);
static void s_on_round (part_pg_t *self, s_conn_t *c);

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
    c->nq = c->qi = c->base = 0;
    c->in_round = false;
}

static void
s_conn_close (s_conn_t *c)
{
    s_round_reset (c);
    if (c->cancel)
        PQfreeCancel (c->cancel);
    c->cancel = NULL;
    if (c->pq)
        PQfinish (c->pq);
    c->pq = NULL;
    c->want_write = false;
    c->cleaning = false;
    c->dirty = false;
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
    s_conn_close (c);
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
    s_conn_close (c);
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

/*  Send N queries and a Sync.  0, or -1 when the connection broke (its
 *  job has been completed with TPC_ECONNECT).                            */
static int
s_send_round (part_pg_t *self, s_conn_t *c, const s_query_t *q, int n, int base)
{
    for (int i = 0; i < n; i++)
        if (!PQsendQueryParams (c->pq, q[i].sql, q[i].nparams, NULL,
                                q[i].params, NULL, NULL, 0))
            goto broken;
    if (!PQpipelineSync (c->pq))
        goto broken;
    c->res = calloc ((size_t) n, sizeof *c->res);
    if (!c->res)
        goto broken;
    c->nq = n;
    c->qi = 0;
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
            if (c->qi < c->nq)
                c->qi++;
            else
                break;
            continue;
        }
        if (PQresultStatus (r) == PGRES_PIPELINE_SYNC) {
            PQclear (r);
            c->in_round = false;
            s_on_round (self, c);
            return;
        }
        if (c->qi < c->nq) {
            PQclear (c->res[c->qi]);
            c->res[c->qi] = r;
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

static void
s_start_exec (part_pg_t *self, s_conn_t *c, s_job_t *job)
{
    s_query_t *q = calloc (job->nstmts ? job->nstmts : 1, sizeof *q);
    if (!q) {
        c->job = NULL;
        s_complete (self, job, TPC_ENOMEM, NULL, NULL);
        return;
    }
    for (size_t i = 0; i < job->nstmts; i++) {
        if (job->stmts[i].nparams > S_MAX_PARAMS) {
            free (q);
            c->job = NULL;
            s_complete (self, job, TPC_EDB, "too many parameters in one "
                        "statement (at most 65535)", "54000");
            return;
        }
        if (s_ends_transaction (job->stmts[i].sql)) {
            free (q);
            c->job = NULL;
            s_complete (self, job, TPC_EDB, "COMMIT, ROLLBACK, END, ABORT and "
                        "PREPARE TRANSACTION are not allowed in work: the "
                        "coordinator ends every transaction", "25000");
            return;
        }
        q[i].sql = job->stmts[i].sql;
        q[i].nparams = (int) job->stmts[i].nparams;
        q[i].params = (const char *const *) job->stmts[i].params;
    }
    c->dirty = true;
    s_send_txn_round (self, c, q, (int) job->nstmts);
    free (q);
}

static void
s_start (part_pg_t *self, s_conn_t *c, s_job_t *job)
{
    c->job = job;
    const char *gidp[1] = { job->gid };
    char sql[200];
    switch (job->op) {
    case PART_RM_EXEC:
        if (job->nstmts == 0) {
            c->job = NULL;
            s_complete (self, job, 0, NULL, NULL);
            return;
        }
        s_start_exec (self, c, job);
        return;
    case PART_RM_PREPARE: {
        s_query_t q = { "SELECT pg_current_xact_id_if_assigned() IS NULL", 0, NULL };
        job->step = 0;
        s_send_txn_round (self, c, &q, 1);
        return;
    }
    case PART_RM_COMMIT_ONEPHASE: {
        s_query_t q[2] = {
            { "INSERT INTO tpc_marker (gid) SELECT $1::text "
              "WHERE pg_current_xact_id_if_assigned() IS NOT NULL", 1, gidp },
            { "COMMIT", 0, NULL }
        };
        s_send_txn_round (self, c, q, 2);
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
            s_query_t q = { "ROLLBACK", 0, NULL };
            s_send_round (self, c, &q, 1, 0);
        }
        return;
    case PART_RM_COMMIT_PREPARED:
    case PART_RM_ROLLBACK_PREPARED: {
        /* the gid passed tpc_gid_parse: [A-Za-z0-9_] only */
        snprintf (sql, sizeof sql, "%s PREPARED '%s'",
                  job->op == PART_RM_COMMIT_PREPARED ? "COMMIT" : "ROLLBACK",
                  job->gid);
        s_query_t q = { sql, 0, NULL };
        s_send_round (self, c, &q, 1, 0);
        return;
    }
    case PART_RM_OUTCOME_OF: {
        s_query_t q = { "SELECT (SELECT kind FROM tpc_marker WHERE gid = $1), "
                        "EXISTS (SELECT 1 FROM pg_prepared_xacts WHERE gid = $1)",
                        1, gidp };
        s_send_round (self, c, &q, 1, 0);
        return;
    }
    case PART_RM_TOMBSTONE: {
        s_query_t q[4] = {
            { "BEGIN", 0, NULL },
            { "SET LOCAL lock_timeout = '5s'", 0, NULL },
            { "WITH ins AS (INSERT INTO tpc_marker (gid, kind) VALUES ($1, 'T') "
              "ON CONFLICT (gid) DO NOTHING RETURNING kind) "
              "SELECT kind FROM ins UNION ALL "
              "SELECT kind FROM tpc_marker WHERE gid = $1", 1, gidp },
            { "COMMIT", 0, NULL }
        };
        s_send_round (self, c, q, 4, 0);
        return;
    }
    case PART_RM_RECOVER: {
        s_query_t q = { "SELECT gid FROM pg_prepared_xacts WHERE database = "
                        "current_database() AND gid LIKE 'tpc\\_%'", 0, NULL };
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
    s_job_t *job = c->job;
    if (!job) {                         /* our own cleanup round */
        int e = s_first_error (c);
        if (e >= 0) {
            char *why = s_trimmed (c->res[e] ? PQresultErrorMessage (c->res[e])
                                             : PQerrorMessage (c->pq));
            s_log (self, 0, "connection %zu: cleanup failed (%s): re-opening it",
                   c->index, why ? why : "?");
            free (why);
            s_conn_close (c);
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
        if (e >= 0) {
            s_complete_pgerr (self, c, job, c->res[e]);
            s_txn_over (self, c);
            return;
        }
        if (job->step == 0) {
            bool ro = PQntuples (last) == 1 && PQgetvalue (last, 0, 0)[0] == 't';
            s_round_reset (c);
            c->job = job;
            if (ro) {
                job->step = 2;
                s_query_t q = { "COMMIT", 0, NULL };
                s_send_round (self, c, &q, 1, 0);
            }
            else {
                job->step = 1;
                char sql[200];
                snprintf (sql, sizeof sql, "PREPARE TRANSACTION '%s'", job->gid);
                const char *gidp[1] = { job->gid };
                s_query_t q[2] = {
                    { "INSERT INTO tpc_marker (gid) VALUES ($1)", 1, gidp },
                    { sql, 0, NULL }
                };
                s_send_round (self, c, q, 2, 0);
            }
            return;
        }
        if (job->step == 1 && s_tag_is (last, "PREPARE TRANSACTION"))
            s_complete (self, job, 0, NULL, NULL);   /* durable: vote yes */
        else if (job->step == 2 && s_tag_is (last, "COMMIT")) {
            job->readonly = true;
            s_complete (self, job, 0, NULL, NULL);
        }
        else
            s_complete (self, job, TPC_EDB, "the transaction was rolled back "
                        "instead of prepared", "40000");
        s_txn_over (self, c);
        return;
    case PART_RM_COMMIT_ONEPHASE:
        if (e >= 0)
            s_complete_pgerr (self, c, job, c->res[e]);
        else if (!s_tag_is (last, "COMMIT"))
            s_complete (self, job, TPC_EDB, "the transaction was rolled back "
                        "instead of committed", "40000");
        else
            s_complete (self, job, 0, NULL, NULL);
        s_txn_over (self, c);
        return;
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
        c->dirty = false;
        c->cleaning = true;
        s_query_t q = { "DISCARD ALL", 0, NULL };
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
        s_query_t q = { "ROLLBACK", 0, NULL };
        s_send_round (self, c, &q, 1, 0);
        return;
    }
    /* still not idle after ROLLBACK, or in an unknown state: start over */
    s_log (self, 0, "connection %zu left in a transaction: re-opening it", c->index);
    s_conn_close (c);
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
    if (req->gid)
        snprintf (job->gid, sizeof job->gid, "%s", req->gid);
    if (req->op != PART_RM_EXEC || req->nstmts == 0)
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

static size_t
s_pollfds (void *self_, part_rm_pollfd_t *fds, size_t max)
{
    part_pg_t *self = self_;
    size_t n = 0;
    for (size_t i = 0; i < self->npool && n < max; i++) {
        s_conn_t *c = &self->conns[i];
        if (c->state == C_DOWN || !c->pq || PQsocket (c->pq) < 0)
            continue;
        fds[n].fd = PQsocket (c->pq);
        if (c->state == C_CONNECTING)
            fds[n].events = c->polling == PGRES_POLLING_READING ? POLLIN : POLLOUT;
        else
            fds[n].events = POLLIN | (c->want_write ? POLLOUT : 0);
        n++;
    }
    return n;
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
            for (size_t i = 0; i < n; i++)
                cells[i] = PQgetvalue (r, (int) i, 0);
            res.ngids = n;
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
        else if (c->state == C_READY)
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
    (void) self;
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
    self->npool = self->cfg.pool;
    self->conninfo = strdup (config->conninfo);
    self->cfg.conninfo = NULL;          /* never kept where it may be logged */
    self->conns = calloc (self->npool, sizeof *self->conns);
    self->pins = zhashx_new ();
    self->lost = zhashx_new ();
    if (!self->conninfo || !self->conns || !self->pins || !self->lost) {
        snprintf (errbuf, errlen, "out of memory");
        part_pg_destroy (&self);
        return NULL;
    }
    for (size_t i = 0; i < self->npool; i++) {
        self->conns[i].index = i;
        self->conns[i].state = C_DOWN;
        self->conns[i].backoff = self->cfg.backoff_min_ms;
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
            s_conn_close (&self->conns[i]);
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
