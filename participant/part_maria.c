/*  part_maria: the MariaDB resource manager (see part_maria.h) - the
 *  part_rm_t entry points, the jobs and their queues, start/stop.  The
 *  sessions are in part_maria_conn.c (their life drawn in
 *  part_maria_int.h), the SQL of each operation in part_maria_ops.c.
 *
 *  Everything runs on the agent's thread through Connector/C's
 *  non-blocking calls: each *_start / *_cont returns the MYSQL_WAIT_*
 *  flags it needs; pollfds() hands the agent the session's socket with
 *  those events, process() polls the sockets once (timeout 0) and
 *  continues every session whose socket is ready or whose
 *  mysql_get_timeout_value_ms() ran out.
 *
 *  BLOCKING LEFT: a host= that is a name is resolved inside
 *  mysql_real_connect_start (getaddrinfo, blocking: give an IP address or
 *  a socket path); mysql_close sends COM_QUIT (a few bytes on a socket
 *  whose buffer is empty) without waiting for an answer.
 */
#include "part_maria_int.h"

#include <errno.h>
#include <mysqld_error.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tpc_crc32c.h"
#include "tpc_error.h"

void
part_maria_log (part_maria_t *self, int level, const char *fmt, ...)
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

void
part_maria_jobq_push (part_maria_jobq_t *q, part_maria_job_t *job)
{
    job->next = NULL;
    if (q->tail)
        q->tail->next = job;
    else
        q->head = job;
    q->tail = job;
    q->size++;
}

part_maria_job_t *
part_maria_jobq_pop (part_maria_jobq_t *q)
{
    part_maria_job_t *job = q->head;
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
s_job_free (part_maria_job_t **job_p)
{
    part_maria_job_t *job = *job_p;
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
    if (job->result)
        mysql_free_result (job->result);
    for (size_t i = 0; i < job->ngids; i++)
        free (job->gids[i]);
    free (job->gids);
    free (job);
    *job_p = NULL;
}

void
part_maria_complete (part_maria_t *self, part_maria_job_t *job, int status,
                     const char *error, const char *sqlstate)
{
    job->status = status;
    if (status != 0) {
        free (job->error);
        job->error = strdup (error ? error : tpc_strerror (status));
        snprintf (job->sqlstate, sizeof job->sqlstate, "%s",
                  sqlstate ? sqlstate : "");
    }
    part_maria_jobq_push (&self->done, job);
}

bool
part_maria_err_lost (unsigned err)
{
    return err >= 2000 && err < 3000;       /* CR_*: client side */
}

/* ------------------------------------------------------------------ */
/*  The part_rm_t table                                               */

static part_maria_job_t *
s_job_new (const part_rm_req_t *req)
{
    part_maria_job_t *job = calloc (1, sizeof *job);
    if (!job)
        return NULL;
    job->req = req->req;
    job->op = req->op;
    job->keep_readonly = req->keep_readonly;
    job->affected = -1;
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
                if (src->params[j]
                    && !(dst->params[j] = strdup (src->params[j])))
                    goto fail;
        }
    }
    return job;
fail:
    s_job_free (&job);
    return NULL;
}

static part_maria_conn_t *
s_find_free (part_maria_t *self)
{
    for (size_t i = 0; i < self->npool; i++)
        if (part_maria_conn_free (&self->conns[i]))
            return &self->conns[i];
    return NULL;
}

static int
s_submit (void *self_, const part_rm_req_t *req, uint64_t now_ms)
{
    part_maria_t *self = self_;
    if (now_ms > self->now)
        self->now = now_ms;
    if ((unsigned) req->op >= PART_RM_OP_COUNT || req->op == PART_RM_CONNECTED)
        return TPC_EINVAL;
    if (req->op != PART_RM_RECOVER && tpc_gid_parse (req->gid, NULL) != 0)
        return TPC_EINVAL;
    part_maria_job_t *job = s_job_new (req);
    if (!job)
        return TPC_ENOMEM;
    size_t waiting = self->wait_any.size + self->wait_begin.size;
    char msg[160];
    part_maria_conn_t *c;
    switch (req->op) {
    case PART_RM_BEGIN:
        zhashx_delete (self->lost, job->gid);
        if (zhashx_lookup (self->pins, job->gid))
            part_maria_complete (self, job, TPC_ESTATE,
                                 "transaction already open", NULL);
        else if (part_maria_ready_count (self) == 0)
            part_maria_complete (self, job, TPC_ECONNECT,
                                 "not connected to MariaDB", NULL);
        else if (self->pinned < part_maria_pin_limit (self)
                 && (c = s_find_free (self))) {
            part_maria_pin (self, c, job->gid);
            part_maria_complete (self, job, 0, NULL, NULL);
        }
        else if (waiting >= self->cfg.queue_max) {
            snprintf (msg, sizeof msg, "busy: all %zu MariaDB sessions are "
                      "in use and %zu operations wait", self->npool, waiting);
            part_maria_complete (self, job, TPC_EBUSY, msg, NULL);
        }
        else {
            part_maria_jobq_push (&self->wait_begin, job);
            part_maria_dispatch (self);
        }
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
                part_maria_complete (self, job, 0, NULL, NULL);
            else if (lost)
                part_maria_complete (self, job, TPC_ECONNECT, "session to "
                                     "MariaDB lost: the transaction was "
                                     "rolled back", "08S01");
            else
                part_maria_complete (self, job, TPC_EUNKNOWN_GID,
                                     "no open transaction", NULL);
        }
        else if (c->job || c->in_round)
            part_maria_complete (self, job, TPC_ESTATE, "an operation is "
                                 "already running for this transaction",
                                 NULL);
        else
            part_maria_start (self, c, job);
        break;
    default:
        c = NULL;
        /* phase 2 or a tombstone ends gid: no lost mark to keep */
        if (req->op != PART_RM_RECOVER && req->op != PART_RM_OUTCOME_OF)
            zhashx_delete (self->lost, job->gid);
        if (req->op == PART_RM_COMMIT_PREPARED
            || req->op == PART_RM_ROLLBACK_PREPARED) {
            /* the session that prepared gid, while it still holds it */
            part_maria_conn_t *p = zhashx_lookup (self->parks, job->gid);
            if (p && p->state == C_READY && !p->job && !p->in_round)
                c = p;
        }
        if (!c)
            c = s_find_free (self);
        if (c)
            part_maria_start (self, c, job);
        else if (waiting >= self->cfg.queue_max) {
            snprintf (msg, sizeof msg, "busy: %zu operations wait for a "
                      "MariaDB session", waiting);
            part_maria_complete (self, job, TPC_EBUSY, msg, NULL);
        }
        else {
            part_maria_wait_any (self, job, 0);
            part_maria_dispatch (self);
        }
        break;
    }
    return 0;
}

static void
s_interrupt (void *self_, const char *gid)
{
    part_maria_t *self = self_;
    part_maria_jobq_t keep = { NULL, NULL, 0 };
    part_maria_job_t *job;
    while ((job = part_maria_jobq_pop (&self->wait_begin))) {
        if (!strcmp (job->gid, gid))
            part_maria_complete (self, job, TPC_EABORTED, "interrupted while "
                                 "waiting for a MariaDB session", NULL);
        else
            part_maria_jobq_push (&keep, job);
    }
    self->wait_begin = keep;
    /* a statement running on its pinned session: the session is closed,
     * and its server thread killed from another session - closing alone
     * does not stop it (the server notices only when the statement ends,
     * holding its locks meanwhile: a lock wait lasts up to
     * innodb_lock_wait_timeout); the kill rolls the branch back at once */
    part_maria_conn_t *c = zhashx_lookup (self->pins, gid);
    if (c && c->job && c->in_round
        && (c->job->op == PART_RM_EXEC || c->job->op == PART_RM_BEGIN)) {
        job = c->job;
        c->job = NULL;
        c->kill_tid = c->m ? mysql_thread_id (c->m) : 0;
        part_maria_complete (self, job, TPC_EABORTED, "interrupted: the "
                             "MariaDB session was closed", NULL);
        zhashx_update (self->lost, gid, (void *) 1);
        part_maria_unpin (self, c);
        part_maria_conn_reset (self, c);
        part_maria_dispatch (self);
    }
}

/*  The poll events C waits for: those of its pending call, or POLLIN on
 *  an idle session (the server closing it: KILL, shutdown, a crash).     */
static short
s_events (const part_maria_conn_t *c)
{
    if (!c->m)
        return 0;
    if (c->wait & (MYSQL_WAIT_READ | MYSQL_WAIT_WRITE | MYSQL_WAIT_EXCEPT))
        return (short) ((c->wait & MYSQL_WAIT_READ ? POLLIN : 0)
                        | (c->wait & MYSQL_WAIT_WRITE ? POLLOUT : 0)
                        | (c->wait & MYSQL_WAIT_EXCEPT ? POLLPRI : 0));
    if (c->state == C_READY && !c->in_round)
        return POLLIN;
    return 0;
}

static size_t
s_pollfds (void *self_, part_rm_pollfd_t *fds, size_t max)
{
    part_maria_t *self = self_;
    size_t n = 0;
    for (size_t i = 0; i < self->npool && n < max; i++) {
        part_maria_conn_t *c = &self->conns[i];
        short ev = s_events (c);
        if (!ev)
            continue;
        fds[n].fd = (int) mysql_get_socket (c->m);
        fds[n].events = ev;
        if (fds[n].fd >= 0)
            n++;
    }
    return n;
}

static int64_t
s_timeout (void *self_, uint64_t now_ms)
{
    part_maria_t *self = self_;
    if (self->need_connected || self->done.head)
        return 0;
    int64_t best = -1;
#define S_AT(t) do { int64_t left_ = (t) <= now_ms ? 0 \
                     : (int64_t) ((t) - now_ms); \
                     if (best < 0 || left_ < best) best = left_; } while (0)
    for (size_t i = 0; i < self->npool; i++) {
        part_maria_conn_t *c = &self->conns[i];
        if (c->state == C_DOWN)
            S_AT (c->retry_at);
        else if (c->state == C_CONNECTING || c->state == C_SETUP)
            S_AT (c->deadline);
        if (c->wait & MYSQL_WAIT_TIMEOUT)
            S_AT (c->wait_until);
    }
    for (part_maria_job_t *j = self->wait_any.head; j; j = j->next)
        if (j->not_before)
            S_AT (j->not_before);
#undef S_AT
    return best;
}

/*  Build the completion of JOB and hand it to EMIT.                      */
static void
s_emit_job (part_maria_job_t *job, part_rm_emit_fn *emit, void *arg)
{
    part_rm_result_t res = {
        .req = job->req, .op = job->op,
        .gid = job->op == PART_RM_RECOVER ? NULL : job->gid,
        .status = job->status, .error = job->error, .affected = -1,
        .readonly = job->readonly, .outcome = job->outcome
    };
    snprintf (res.sqlstate, sizeof res.sqlstate, "%s", job->sqlstate);
    const char **columns = NULL, **cells = NULL;
    if (job->status == 0 && job->op == PART_RM_EXEC) {
        res.affected = job->affected;
        MYSQL_RES *r = job->result;
        if (r) {
            size_t ncols = mysql_num_fields (r);
            size_t nrows = (size_t) mysql_num_rows (r);
            MYSQL_FIELD *f = mysql_fetch_fields (r);
            columns = calloc (ncols + 1, sizeof *columns);
            cells = calloc (ncols * nrows + 1, sizeof *cells);
            if (!columns || !cells) {
                res.status = TPC_ENOMEM;
                res.error = "out of memory for the result rows";
            }
            else {
                for (size_t j = 0; j < ncols; j++)
                    columns[j] = f[j].name;
                mysql_data_seek (r, 0);
                for (size_t i = 0; i < nrows; i++) {
                    MYSQL_ROW row = mysql_fetch_row (r);
                    for (size_t j = 0; row && j < ncols; j++)
                        cells[i * ncols + j] = row[j];
                }
                res.ncolumns = ncols;
                res.columns = columns;
                res.nrows = nrows;
                res.cells = cells;
                res.affected = (int64_t) nrows;
            }
        }
    }
    else if (job->status == 0 && job->op == PART_RM_RECOVER) {
        res.ngids = job->ngids;
        res.gids = (const char *const *) job->gids;
    }
    emit (arg, &res);
    free (columns);
    free (cells);
}

static void
s_process (void *self_, uint64_t now_ms, part_rm_emit_fn *emit, void *arg)
{
    part_maria_t *self = self_;
    if (now_ms > self->now)
        self->now = now_ms;
    struct pollfd pfd[256];
    size_t idx[256], n = 0;
    for (size_t i = 0; i < self->npool; i++) {
        part_maria_conn_t *c = &self->conns[i];
        if (c->state == C_DOWN && self->now >= c->retry_at) {
            part_maria_connect_start (self, c);
            continue;
        }
        if ((c->state == C_CONNECTING || c->state == C_SETUP)
            && self->now >= c->deadline) {
            part_maria_connect_failed (self, c, "connect timed out");
            continue;
        }
        if (c->m && (c->wait & MYSQL_WAIT_TIMEOUT)
            && self->now >= c->wait_until) {
            part_maria_drive (self, c, MYSQL_WAIT_TIMEOUT);
            continue;
        }
        short ev = s_events (c);
        if (ev && n < sizeof pfd / sizeof pfd[0]) {
            pfd[n].fd = (int) mysql_get_socket (c->m);
            pfd[n].events = ev;
            pfd[n].revents = 0;
            idx[n++] = i;
        }
    }
    if (n && poll (pfd, (nfds_t) n, 0) > 0) {
        for (size_t k = 0; k < n; k++) {
            part_maria_conn_t *c = &self->conns[idx[k]];
            short re = pfd[k].revents;
            if (!re || !c->m || (int) mysql_get_socket (c->m) != pfd[k].fd)
                continue;
            if (!c->wait) {
                /* an idle session readable: the server closed it */
                if (c->state == C_READY && !c->in_round) {
                    part_maria_log (self, 1, "MariaDB closed session %zu",
                                    c->index);
                    part_maria_conn_lost (self, c, "MariaDB closed the "
                                          "session", false);
                }
                continue;
            }
            int flags = 0;
            if (re & (POLLIN | POLLHUP | POLLERR))
                flags |= MYSQL_WAIT_READ;
            if (re & (POLLOUT | POLLHUP | POLLERR))
                flags |= MYSQL_WAIT_WRITE;
            if (re & POLLPRI)
                flags |= MYSQL_WAIT_EXCEPT;
            part_maria_drive (self, c, flags & (c->wait | MYSQL_WAIT_READ));
        }
    }
    part_maria_dispatch (self);
    if (self->need_connected) {
        self->need_connected = false;
        part_rm_result_t ev = { .op = PART_RM_CONNECTED, .affected = -1 };
        emit (arg, &ev);
    }
    part_maria_job_t *job;
    while ((job = part_maria_jobq_pop (&self->done))) {
        s_emit_job (job, emit, arg);
        s_job_free (&job);
    }
}

/* ------------------------------------------------------------------ */
/*  Start and stop                                                    */

/*  Run SQL blocking on M; its first row's first N columns as strings
 *  into OUT (NULL = SQL NULL, as ""); 0 or -1.                           */
static int
s_query_row (MYSQL *m, const char *sql, char out[][64], size_t n)
{
    if (mysql_query (m, sql))
        return -1;
    MYSQL_RES *r = mysql_store_result (m);
    if (!r || !n) {
        if (r)
            mysql_free_result (r);
        return n ? -1 : 0;
    }
    MYSQL_ROW row = mysql_fetch_row (r);
    int rc = row && mysql_num_fields (r) >= n ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < n; i++)
        snprintf (out[i], 64, "%s", row[i] ? row[i] : "");
    mysql_free_result (r);
    return rc;
}

static int
s_setup (part_maria_t *self, MYSQL *m, char *errbuf, size_t errlen)
{
    int rc = TPC_ECONFIG;
    char v[6][64];
    unsigned long ver = mysql_get_server_version (m);
    if (ver < 100500 || !strstr (mysql_get_server_info (m), "MariaDB")) {
        snprintf (errbuf, errlen, "server %s is not MariaDB 10.5 or newer: "
                  "tpc-participant --backend maria needs MariaDB >= 10.5 "
                  "(prepared XA branches that survive a disconnect)",
                  mysql_get_server_info (m));
        goto cleanup;
    }
    /* the isolation level is @@transaction_isolation since MariaDB 11.1
     * (@@tx_isolation deprecated there), only @@tx_isolation before */
    const char *iso[] = { "transaction_isolation", "tx_isolation" };
    int q = -1;
    for (size_t i = 0; i < 2 && q; i++) {
        char settings[256];
        snprintf (settings, sizeof settings, "SELECT @@log_bin, "
                  "@@binlog_format, @@sync_binlog, "
                  "@@innodb_flush_log_at_trx_commit, @@%s, "
                  "@@innodb_page_size", iso[i]);
        q = s_query_row (m, settings, v, 6);
        if (q && mysql_errno (m) != ER_UNKNOWN_SYSTEM_VARIABLE)
            break;
    }
    if (q) {
        rc = TPC_EDB;
        snprintf (errbuf, errlen, "cannot read the server's settings: %s",
                  mysql_error (m));
        goto cleanup;
    }
    if (strcmp (v[3], "1") != 0) {
        snprintf (errbuf, errlen, "MariaDB has innodb_flush_log_at_trx_commit"
                  " = %s: an XA PREPARE would not be durable when it returns"
                  "\nhint: set innodb_flush_log_at_trx_commit = 1", v[3]);
        goto cleanup;
    }
    if (!strcmp (v[0], "1")
        && (strcmp (v[1], "ROW") != 0 || strcmp (v[2], "1") != 0)) {
        snprintf (errbuf, errlen, "MariaDB's binary log is on with "
                  "binlog_format = %s and sync_binlog = %s: tpc needs the "
                  "binary log off, or binlog_format = ROW and sync_binlog = 1"
                  " (an XA PREPARE logged durably and replayed exactly)",
                  v[1], v[2]);
        goto cleanup;
    }
    self->serializable = !strcmp (v[4], "SERIALIZABLE");
    char sql[1024];
    /* created only when missing: an account without CREATE can use a
     * table its owner made */
    snprintf (sql, sizeof sql, "SELECT COUNT(*) FROM information_schema."
              "TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = "
              "'tpc_marker'");
    if (s_query_row (m, sql, v, 1)) {
        rc = TPC_EDB;
        snprintf (errbuf, errlen, "cannot look for the marker table: %s",
                  mysql_error (m));
        goto cleanup;
    }
    bool exists = strcmp (v[0], "0") != 0;
    snprintf (sql, sizeof sql, PART_MARIA_MARKER_DDL, self->db);
    if (!exists && mysql_query (m, sql)) {
        snprintf (errbuf, errlen, "cannot create the marker table %s."
                  "tpc_marker: %s\nhint: run as an account that may: %s",
                  self->db, mysql_error (m), sql);
        goto cleanup;
    }
    snprintf (sql, sizeof sql, "SELECT branch, gid, kind, at FROM "
              "%s.tpc_marker LIMIT 0", self->db);
    if (s_query_row (m, sql, NULL, 0)) {
        snprintf (errbuf, errlen, "%s.tpc_marker is not the agent's marker "
                  "table (" PART_MARIA_MARKER_DDL "): %s", self->db,
                  self->db, mysql_error (m));
        goto cleanup;
    }
    if (s_query_row (m, "SELECT COUNT(*) FROM information_schema."
                     "SESSION_STATUS WHERE VARIABLE_NAME = 'HANDLER_WRITE'",
                     v, 1) || strcmp (v[0], "1") != 0) {
        snprintf (errbuf, errlen, "cannot read the session's Handler_write "
                  "in information_schema.SESSION_STATUS (the read-only "
                  "test): %s", mysql_error (m));
        goto cleanup;
    }
    if (mysql_query (m, "XA RECOVER")) {
        snprintf (errbuf, errlen, "cannot run XA RECOVER: %s",
                  mysql_error (m));
        goto cleanup;
    }
    MYSQL_RES *r = mysql_store_result (m);
    if (r)
        mysql_free_result (r);
    rc = 0;
cleanup:
    return rc;
}

part_maria_t *
part_maria_new (const part_maria_config_t *config, char *errbuf,
                size_t errlen)
{
    char dummy[8];
    if (!errbuf) {
        errbuf = dummy;
        errlen = sizeof dummy;
    }
    if (!config || !config->conninfo) {
        snprintf (errbuf, errlen, "no MariaDB connection line given");
        return NULL;
    }
    part_maria_t *self = calloc (1, sizeof *self);
    MYSQL *m = NULL;
    if (!self) {
        snprintf (errbuf, errlen, "out of memory");
        return NULL;
    }
    if (tpc_maria_conninfo_parse (config->conninfo, &self->ci, errbuf,
                                  errlen))
        goto fail;
    self->cfg = *config;
    self->cfg.conninfo = NULL;          /* never kept where it may be logged */
    if (!self->cfg.agent)
        self->cfg.agent = "";
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
    if (self->cfg.pool > 250) {
        snprintf (errbuf, errlen, "a MariaDB pool of %zu sessions: at most "
                  "250", self->cfg.pool);
        goto fail;
    }
    for (const char *p = self->ci.database; *p; p++)
        if (*p == '`') {
            snprintf (errbuf, errlen, "maria conninfo: a database name with "
                      "a backquote");
            goto fail;
        }
    snprintf (self->db, sizeof self->db, "`%s`", self->ci.database);
    uint32_t crc = tpc_crc32c (0, self->ci.database, strlen (self->ci.database));
    crc = tpc_crc32c (crc, "/", 1);
    crc = tpc_crc32c (crc, self->cfg.agent, strlen (self->cfg.agent));
    snprintf (self->branch, sizeof self->branch, "%08x", (unsigned) crc);
    self->npool = self->cfg.pool;
    self->conns = calloc (self->npool, sizeof *self->conns);
    self->pins = zhashx_new ();
    self->parks = zhashx_new ();
    self->lost = zhashx_new ();
    if (!self->conns || !self->pins || !self->parks || !self->lost) {
        snprintf (errbuf, errlen, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < self->npool; i++) {
        self->conns[i].index = i;
        self->conns[i].state = C_DOWN;
        self->conns[i].backoff = self->cfg.backoff_min_ms;
    }
    m = mysql_init (NULL);
    unsigned timeout = (unsigned) ((self->cfg.connect_timeout_ms + 999) / 1000);
    if (m)
        mysql_options (m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
    if (!m || !mysql_real_connect (m, *self->ci.host ? self->ci.host : NULL,
                                   self->ci.user, self->ci.password,
                                   self->ci.database, self->ci.port,
                                   *self->ci.socket ? self->ci.socket : NULL,
                                   0)) {
        snprintf (errbuf, errlen, "cannot connect to MariaDB: %s",
                  m ? mysql_error (m) : "out of memory");
        goto fail;
    }
    if (s_setup (self, m, errbuf, errlen) != 0)
        goto fail;
    mysql_close (m);
    m = NULL;
    /* the pool opens from process(): every session DOWN, due now */
    self->rm.name = "maria";
    self->rm.self = self;
    self->rm.submit = s_submit;
    self->rm.interrupt = s_interrupt;
    self->rm.pollfds = s_pollfds;
    self->rm.timeout = s_timeout;
    self->rm.process = s_process;
    return self;
fail:
    if (m)
        mysql_close (m);
    part_maria_destroy (&self);
    return NULL;
}

void
part_maria_destroy (part_maria_t **self_p)
{
    part_maria_t *self = *self_p;
    if (!self)
        return;
    if (self->conns) {
        for (size_t i = 0; i < self->npool; i++) {
            s_job_free (&self->conns[i].job);
            part_maria_conn_close (self, &self->conns[i]);
            free (self->conns[i].res);
        }
        free (self->conns);
    }
    part_maria_job_t *job;
    while ((job = part_maria_jobq_pop (&self->wait_any)))
        s_job_free (&job);
    while ((job = part_maria_jobq_pop (&self->wait_begin)))
        s_job_free (&job);
    while ((job = part_maria_jobq_pop (&self->done)))
        s_job_free (&job);
    zhashx_destroy (&self->pins);
    zhashx_destroy (&self->parks);
    zhashx_destroy (&self->lost);
    memset (&self->ci, 0, sizeof self->ci);     /* the password */
    free (self);
    *self_p = NULL;
}

const part_rm_t *
part_maria_rm (part_maria_t *self)
{
    return &self->rm;
}

size_t
part_maria_lost_count (part_maria_t *self)
{
    return zhashx_size (self->lost);
}

size_t
part_maria_connected (part_maria_t *self)
{
    return part_maria_ready_count (self);
}

const char *
part_maria_branch (const part_maria_t *self)
{
    return self->branch;
}
