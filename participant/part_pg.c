/*  part_pg: PostgreSQL resource manager over libpq's asynchronous API.
 *
 *  Each connection is non-blocking and in pipeline mode.  An operation is
 *  a JOB; a job runs as one or more ROUNDS on one connection: a round is
 *  some queries sent back to back, then a Sync, then the results read as
 *  they arrive (one or more PGresults, then NULL, per query; then
 *  PGRES_PIPELINE_SYNC).  After a failing query PostgreSQL skips the rest
 *  of the round (PGRES_PIPELINE_ABORTED) up to the Sync.
 *
 *  The files (sharing part_pg_int.h):
 *    part_pg.c       this: the part_rm_t entry points (submit, interrupt,
 *                    pollfds, timeout, process), the job queues and
 *                    completions, start (the database checks) and stop;
 *    part_pg_conn.c  the connections: their life (diagram there), backoff,
 *                    rounds, the pool (pins, release, dispatch), epoll;
 *    part_pg_stmt.c  the per-session cache of prepared statements;
 *    part_pg_ops.c   the SQL of each operation, a {start, done} pair each.
 *
 *  MARKER RETENTION.  tpc_marker would grow by a row per transaction for
 *  ever.  What a row is for:
 *    'C' (inserted inside the transaction, it commits with it) answers a
 *        repeated decide(committed), an outcome_of or a tombstone's
 *        verdict once the gid is no longer prepared, and its key fences a
 *        late copy of a one-phase work that already committed;
 *    'T' (tombstone) fences a late PREPARE or one-phase work of an aborted
 *        gid: its INSERT of the marker fails on the key.
 *  Both matter only while a message about the gid can still arrive: the
 *  coordinator resends decide until every yes voter acked (and again
 *  after a restart, for a COMMIT without END), an in-doubt agent asks, a
 *  copy of a work is late in the network or in a lost session's backend.
 *  The rule: a row goes when it is older than the retention (default 7
 *  days, the agent's --marker-retention-s) AND no prepared transaction of
 *  the cluster names its gid (gid, or gid@oid of any database: a gid
 *  still prepared somewhere is still being driven, its decide may still
 *  come here).  The agent cannot see when the coordinator forgot a gid
 *  (it forgets by count, not by time), so age stands for it: the
 *  retention must exceed the longest a transaction may stay unfinished
 *  (a participant or coordinator down, an in-doubt gid waiting for an
 *  operator) and the longest a message may be late.  Wrong only beyond
 *  that, and then: a repeated decide(committed) of a gid whose 'C' went
 *  is acked "aborted" (the coordinator logs a HEURISTIC report; the data
 *  is committed all the same); a late PREPARE of an aborted gid whose 'T'
 *  went votes yes to a coordinator that presumes abort, so it is rolled
 *  back; only a one-phase work delayed past the retention could commit
 *  unfenced.  A status question about a gid older than the retention can
 *  no longer be answered from the markers.  The DELETE (part_pg.h) runs
 *  a minute after start, then every marker_purge_ms, on a free session
 *  when no work waits, 1000 rows at a time; its own lock_timeout keeps it
 *  from holding a session behind a lock.
 */
#include "part_pg_int.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tpc_error.h"

void
part_pg_log (part_pg_t *self, int level, const char *fmt, ...)
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
char *
part_pg_trimmed (const char *text)
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

void
part_pg_jobq_push (part_pg_jobq_t *q, part_pg_job_t *job)
{
    job->next = NULL;
    if (q->tail)
        q->tail->next = job;
    else
        q->head = job;
    q->tail = job;
    q->size++;
}

part_pg_job_t *
part_pg_jobq_pop (part_pg_jobq_t *q)
{
    part_pg_job_t *job = q->head;
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
s_job_free (part_pg_job_t **job_p)
{
    part_pg_job_t *job = *job_p;
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
void
part_pg_complete (part_pg_t *self, part_pg_job_t *job, int status, const char *error,
                        const char *sqlstate)
{
    job->status = status;
    if (status != 0) {
        free (job->error);
        job->error = part_pg_trimmed (error ? error : tpc_strerror (status));
        part_rm_copy (job->sqlstate, sizeof job->sqlstate, sqlstate);
    }
    part_pg_jobq_push (&self->done, job);
}

/* ------------------------------------------------------------------ */
/*  The part_rm_t table                                               */

static part_pg_job_t *
s_job_new (const part_rm_req_t *req)
{
    part_pg_job_t *job = calloc (1, sizeof *job);
    if (!job)
        return NULL;
    job->req = req->req;
    job->op = req->op;
    job->keep_readonly = req->keep_readonly;
    if (req->gid)
        part_rm_copy (job->gid, sizeof job->gid, req->gid);
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

static part_pg_conn_t *
s_find_free (part_pg_t *self)
{
    for (size_t i = 0; i < self->npool; i++)
        if (part_pg_conn_free (&self->conns[i]))
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
    part_pg_job_t *job = s_job_new (req);
    if (!job)
        return TPC_ENOMEM;
    size_t waiting = self->wait_any.size + self->wait_begin.size;
    char msg[160];
    part_pg_conn_t *c;
    switch (req->op) {
    case PART_RM_BEGIN:
        zhashx_delete (self->lost, job->gid);
        if (zhashx_lookup (self->pins, job->gid))
            part_pg_complete (self, job, TPC_ESTATE, "transaction already open", NULL);
        else if (part_pg_ready_count (self) == 0)
            part_pg_complete (self, job, TPC_ECONNECT,
                              "not connected to PostgreSQL", NULL);
        else if (self->pinned < part_pg_pin_limit (self) && (c = s_find_free (self))) {
            part_pg_pin (self, c, job->gid);
            part_pg_complete (self, job, 0, NULL, NULL);
        }
        else if (waiting >= self->cfg.queue_max) {
            snprintf (msg, sizeof msg, "busy: all %zu PostgreSQL connections "
                      "are in use and %zu operations wait", self->npool, waiting);
            part_pg_complete (self, job, TPC_EBUSY, msg, NULL);
        }
        else
            part_pg_jobq_push (&self->wait_begin, job);
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
                part_pg_complete (self, job, 0, NULL, NULL);
            else if (lost)
                part_pg_complete (self, job, TPC_ECONNECT, "connection to PostgreSQL "
                                  "lost: the transaction was rolled back", "08006");
            else
                part_pg_complete (self, job, TPC_EUNKNOWN_GID,
                                  "no open transaction", NULL);
        }
        else if (c->job || c->in_round)
            part_pg_complete (self, job, TPC_ESTATE, "an operation is already "
                              "running for this transaction", NULL);
        else
            part_pg_start (self, c, job);
        break;
    default:
        if ((c = s_find_free (self)))
            part_pg_start (self, c, job);
        else if (waiting >= self->cfg.queue_max) {
            snprintf (msg, sizeof msg, "busy: %zu operations wait for a "
                      "PostgreSQL connection", waiting);
            part_pg_complete (self, job, TPC_EBUSY, msg, NULL);
        }
        else
            part_pg_jobq_push (&self->wait_any, job);
        break;
    }
    return 0;
}

static void
s_interrupt (void *self_, const char *gid)
{
    part_pg_t *self = self_;
    /* a BEGIN still waiting for a connection */
    part_pg_jobq_t keep = { NULL, NULL, 0 };
    part_pg_job_t *job;
    while ((job = part_pg_jobq_pop (&self->wait_begin))) {
        if (!strcmp (job->gid, gid))
            part_pg_complete (self, job, TPC_EABORTED, "interrupted while waiting "
                              "for a PostgreSQL connection", NULL);
        else
            part_pg_jobq_push (&keep, job);
    }
    self->wait_begin = keep;
    /* a statement running on its pinned connection */
    part_pg_conn_t *c = zhashx_lookup (self->pins, gid);
    if (c && c->job && c->cancel) {
        char err[256];
        if (!PQcancel (c->cancel, err, sizeof err))
            part_pg_log (self, PART_PG_WARNING, "%s: cancel request failed: %s", gid, err);
    }
}

/*  One descriptor for the whole pool: the epoll set, readable when any
 *  session has something to do.                                           */
static size_t
s_pollfds (void *self_, part_rm_pollfd_t *fds, size_t max)
{
    part_pg_t *self = self_;
    for (size_t i = 0; i < self->npool; i++)
        part_pg_watch (self, &self->conns[i]);
    if (max < 1)
        return 0;
    fds[0].fd = self->epfd;
    fds[0].events = POLLIN;
    return 1;
}

static void
s_polled (void *self_, const short *revents, size_t n)
{
    part_pg_t *self = self_;
    self->epoll_idle = n >= 1 && !(revents[0] & (POLLIN | POLLERR | POLLHUP));
}

static int64_t
s_timeout (void *self_, uint64_t now_ms)
{
    part_pg_t *self = self_;
    if (self->need_connected || self->done.head)
        return 0;
    int64_t best = -1;
    for (size_t i = 0; i < self->npool; i++) {
        part_pg_conn_t *c = &self->conns[i];
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
    if (self->cfg.marker_retention_s && !self->purging) {
        int64_t left = self->purge_at <= now_ms ? 0
                       : (int64_t) (self->purge_at - now_ms);
        if (best < 0 || left < best)
            best = left;
    }
    return best;
}

/*  Build the completion of JOB and hand it to EMIT.                      */
static void
s_emit_job (part_pg_t *self, part_pg_job_t *job, part_rm_emit_fn *emit, void *arg)
{
    (void) self;
    part_rm_result_t res = {
        .req = job->req, .op = job->op,
        .gid = job->op == PART_RM_RECOVER ? NULL : job->gid,
        .status = job->status, .error = job->error, .affected = -1,
        .readonly = job->readonly, .outcome = job->outcome
    };
    part_rm_copy (res.sqlstate, sizeof res.sqlstate, job->sqlstate);
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

/* ------------------------------------------------------------------ */
/*  Marker retention (the rule is at the top of this file)              */

#define S_PURGE_FIRST_MS 60000      /* first DELETE after start, at most */
#define S_PURGE_BUSY_MS 1000        /* no free session: try again in */

/*  Start the retention's DELETE when it is due and a session is free
 *  with no work waiting for one.                                         */
static void
s_purge_maybe (part_pg_t *self)
{
    if (!self->cfg.marker_retention_s || self->purging)
        return;
    if (!self->purge_at) {
        uint64_t first = self->cfg.marker_purge_ms < S_PURGE_FIRST_MS
                         ? self->cfg.marker_purge_ms : S_PURGE_FIRST_MS;
        self->purge_at = self->now + first;
        return;
    }
    if (self->now < self->purge_at)
        return;
    part_pg_conn_t *c = NULL;
    if (!self->wait_any.head && !self->wait_begin.head)
        c = s_find_free (self);
    part_pg_job_t *job = c ? calloc (1, sizeof *job) : NULL;
    if (!job) {
        self->purge_at = self->now + S_PURGE_BUSY_MS;
        return;
    }
    job->op = PART_PG_OP_PURGE;
    self->purging = true;
    part_pg_start (self, c, job);
}

/*  The DELETE of JOB is over: log it, schedule the next.                */
static void
s_purge_finished (part_pg_t *self, const part_pg_job_t *job)
{
    self->purging = false;
    uint64_t every = self->cfg.marker_purge_ms;
    self->purge_at = self->now + every;
    if (job->status != 0)
        part_pg_log (self, PART_PG_WARNING, "tpc_marker retention: DELETE "
                     "failed, next try in %llu ms: %s",
                     (unsigned long long) every, job->error ? job->error : "?");
    else if (job->count > 0) {
        part_pg_log (self, PART_PG_VERBOSE, "tpc_marker: removed %lld rows "
                     "older than %llu s whose gids are not prepared", job->count,
                     (unsigned long long) self->cfg.marker_retention_s);
        if (job->count >= PART_PG_PURGE_BATCH)
            self->purge_at = self->now;         /* more: go on at once */
    }
}

static void
s_process (void *self_, uint64_t now_ms, part_rm_emit_fn *emit, void *arg)
{
    part_pg_t *self = self_;
    if (now_ms > self->now)
        self->now = now_ms;
    for (size_t i = 0; i < self->npool; i++) {
        part_pg_conn_t *c = &self->conns[i];
        if (c->state == C_DOWN && self->now >= c->retry_at)
            part_pg_connect_start (self, c);
        if (c->state == C_CONNECTING)
            part_pg_connect_step (self, c);
    }
    /* Only the READY sessions the epoll set reports are stepped: a wake-up
     * costs one system call, not one recv() per session of the pool; and
     * none when the agent's poll just found the set idle (s_polled: the
     * set is level-triggered, what came since makes the next poll wake) */
    int n = self->epoll_idle ? 0
            : epoll_wait (self->epfd, self->evs, (int) self->npool, 0);
    self->epoll_idle = false;
    for (int k = 0; k < n; k++) {
        size_t i = (size_t) self->evs[k].data.u64;
        part_pg_conn_t *c = i < self->npool ? &self->conns[i] : NULL;
        /* stepping one may have closed another: check it is still it */
        if (c && c->state == C_READY && c->pq && c->wfd >= 0
            && PQsocket (c->pq) == c->wfd)
            part_pg_ready_step (self, c);
    }
    part_pg_dispatch (self);
    s_purge_maybe (self);
    if (self->need_connected) {
        self->need_connected = false;
        part_rm_result_t ev = { .op = PART_RM_CONNECTED, .affected = -1 };
        emit (arg, &ev);
    }
    part_pg_job_t *job;
    while ((job = part_pg_jobq_pop (&self->done))) {
        if (job->op == PART_PG_OP_PURGE)
            s_purge_finished (self, job);
        else
            s_emit_job (self, job, emit, arg);
        s_job_free (&job);
    }
}

/* ------------------------------------------------------------------ */
/*  Start and stop                                                    */

/*  The primary message of the error in R (or the connection's), trimmed;
 *  NULL when out of memory.                                             */
static char *
s_errmsg (PGconn *pq, const PGresult *r)
{
    const char *m = r ? PQresultErrorField (r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    return part_pg_trimmed (m && *m ? m : r ? PQresultErrorMessage (r)
                                            : PQerrorMessage (pq));
}

/*  The marker table: created only when missing (the agent's role needs no
 *  CREATE when its owner made it), then the role's rights on it checked:
 *  SELECT, INSERT, and DELETE when the retention runs.  A missing one is
 *  named, with the SQL its owner runs (README: "The agent's database
 *  role").                                                               */
static int
s_setup_marker (part_pg_t *self, PGconn *pq, char *errbuf, size_t errlen)
{
    int rc = TPC_EDB;
    char *msg = NULL;
    const char *grant = self->cfg.marker_retention_s ? "SELECT, INSERT, DELETE"
                                                      : "SELECT, INSERT";
    PGresult *r = PQexec (pq, "SELECT quote_ident(current_user), "
                          "to_regclass('tpc_marker') IS NOT NULL");
    if (PQresultStatus (r) != PGRES_TUPLES_OK || PQntuples (r) != 1) {
        msg = s_errmsg (pq, r);
        snprintf (errbuf, errlen, "cannot look for the marker table "
                  "tpc_marker: %s", msg ? msg : "?");
        goto cleanup;
    }
    char role[128];
    snprintf (role, sizeof role, "%s", PQgetvalue (r, 0, 0));
    bool exists = PQgetvalue (r, 0, 1)[0] == 't';
    PQclear (r);
    r = NULL;
    if (!exists) {
        r = PQexec (pq, PART_PG_MARKER_DDL);
        if (PQresultStatus (r) != PGRES_COMMAND_OK) {
            msg = s_errmsg (pq, r);
            snprintf (errbuf, errlen, "cannot create the marker table "
                      "tpc_marker: %s\nhint: the schema's owner (or a "
                      "superuser) runs in this database: %s; GRANT %s ON "
                      "tpc_marker TO %s", msg ? msg : "?",
                      PART_PG_MARKER_DDL, grant, role);
            rc = TPC_ECONFIG;
            goto cleanup;
        }
        PQclear (r);
    }
    r = PQexec (pq, "SELECT has_table_privilege('tpc_marker', 'SELECT'), "
                "has_table_privilege('tpc_marker', 'INSERT'), "
                "has_table_privilege('tpc_marker', 'DELETE')");
    if (PQresultStatus (r) != PGRES_TUPLES_OK || PQntuples (r) != 1) {
        msg = s_errmsg (pq, r);
        snprintf (errbuf, errlen, "cannot read the rights on tpc_marker: %s",
                  msg ? msg : "?");
        goto cleanup;
    }
    static const char *const names[3] = { "SELECT", "INSERT", "DELETE" };
    char lacks[64] = "";
    int nlacks = 0;
    for (int i = 0; i < (self->cfg.marker_retention_s ? 3 : 2); i++)
        if (PQgetvalue (r, 0, i)[0] != 't') {
            size_t n = strlen (lacks);
            snprintf (lacks + n, sizeof lacks - n, "%s%s", n ? ", " : "", names[i]);
            nlacks++;
        }
    if (nlacks) {
        bool del_only = nlacks == 1 && !strcmp (lacks, "DELETE");
        snprintf (errbuf, errlen, "the role %s lacks %s on tpc_marker%s\n"
                  "hint: the table's owner runs: GRANT %s ON tpc_marker TO %s",
                  role, lacks, del_only ? " (DELETE is for the marker "
                  "retention; without one it is not needed)" : "", grant, role);
        rc = TPC_ECONFIG;
        goto cleanup;
    }
    PQclear (r);
    /* a table of that name, but not ours */
    r = PQexec (pq, "SELECT gid, kind, at FROM tpc_marker LIMIT 0");
    if (PQresultStatus (r) != PGRES_TUPLES_OK) {
        msg = s_errmsg (pq, r);
        snprintf (errbuf, errlen, "tpc_marker is not the agent's marker table "
                  "(%s): %s", PART_PG_MARKER_DDL, msg ? msg : "?");
        rc = TPC_ECONFIG;
        goto cleanup;
    }
    rc = 0;
cleanup:
    free (msg);
    PQclear (r);
    return rc;
}

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
        msg = part_pg_trimmed (PQresultErrorMessage (r));
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
    r = NULL;
    rc = s_setup_marker (self, pq, errbuf, errlen);
    if (rc != 0)
        goto cleanup;
    rc = TPC_EDB;
    r = PQexec (pq, "SELECT oid FROM pg_database WHERE datname = "
                "current_database()");
    if (PQresultStatus (r) != PGRES_TUPLES_OK || PQntuples (r) != 1) {
        msg = part_pg_trimmed (PQresultErrorMessage (r));
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
        msg = part_pg_trimmed (PQresultErrorMessage (r));
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
    if (!self->cfg.marker_purge_ms)
        self->cfg.marker_purge_ms = 3600000;
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
                                                sizeof (part_pg_stmt_t)))) {
            snprintf (errbuf, errlen, "out of memory");
            part_pg_destroy (&self);
            return NULL;
        }
    }
    PGconn *pq = PQconnectdb (self->conninfo);
    if (!pq || PQstatus (pq) != CONNECTION_OK) {
        char *msg = part_pg_trimmed (pq ? PQerrorMessage (pq) : "out of memory");
        snprintf (errbuf, errlen, "cannot connect to PostgreSQL: %s", msg ? msg : "?");
        free (msg);
        PQfinish (pq);
        part_pg_destroy (&self);
        return NULL;
    }
    PQsetNoticeProcessor (pq, part_pg_notice, self);
    if (s_setup (self, pq, errbuf, errlen) != 0) {
        PQfinish (pq);
        part_pg_destroy (&self);
        return NULL;
    }
    self->conns[0].pq = pq;
    part_pg_conn_ready (self, &self->conns[0]);
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
    self->rm.polled = s_polled;
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
            part_pg_conn_close (self, &self->conns[i]);
            part_pg_round_free (&self->conns[i]);
            free (self->conns[i].stmts);
        }
        free (self->conns);
    }
    part_pg_job_t *job;
    while ((job = part_pg_jobq_pop (&self->wait_any)))
        s_job_free (&job);
    while ((job = part_pg_jobq_pop (&self->wait_begin)))
        s_job_free (&job);
    while ((job = part_pg_jobq_pop (&self->done)))
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
    return part_pg_ready_count (self);
}
