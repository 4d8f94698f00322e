/*  part_maria_ops: the SQL of each MariaDB operation (see part_maria.h
 *  for the xid and the marker table, part_maria_int.h for rounds).
 *
 *  'xid' below is 'gtrid','bqual',formatID; M is `<database>`.tpc_marker;
 *  B the branch tag.  One line = one round trip (a multi-statement text):
 *
 *    BEGIN              nothing yet: pins a session; XA START goes with
 *                       the first statements
 *    EXEC               [XA START xid; SET @tpc_w = W;] stmt1; ... stmtN
 *    PREPARE            [XA START xid; SET @tpc_w = W;] stmt1; ...; stmtN;
 *                       INSERT INTO M (branch, gid) SELECT B, gid FROM DUAL
 *                       WHERE W > @tpc_w; XA END xid; XA PREPARE xid
 *                       - ONE round trip for a work's statements and its
 *                       prepare.  W = the session's Handler_write +
 *                       Handler_update + Handler_delete counters
 *                       (information_schema.SESSION_STATUS; temporary
 *                       tables count apart), so W grew iff the branch
 *                       wrote a row.  (information_schema.INNODB_TRX's
 *                       trx_rows_modified is a cache refreshed every 0.1 s:
 *                       not usable.)  The INSERT's row count is the read-only
 *                       test: 0 rows (and no keep_readonly) -> XA COMMIT
 *                       xid on the same session, completed readonly (a
 *                       second round trip for the rare case).  Any error:
 *                       the session is closed (the server rolls the branch
 *                       back) and the vote is no with the server's
 *                       message and SQLSTATE (1205 lock wait timeout, 1213
 *                       deadlock, 1062 on M: a tombstone came first).
 *    COMMIT_ONEPHASE    [XA START xid;] stmts; the same INSERT; XA END xid;
 *                       XA COMMIT xid ONE PHASE
 *    ROLLBACK           XA END xid; XA ROLLBACK xid (nothing if XA START
 *                       was never sent; on any error the session is
 *                       closed, which rolls the branch back)
 *    COMMIT_PREPARED    XA COMMIT xid    } on the session that prepared it
 *    ROLLBACK_PREPARED  XA ROLLBACK xid  } if it still holds it, else any
 *    OUTCOME_OF         XA RECOVER; SELECT kind FROM M WHERE branch = B
 *                       AND gid = g (in this order: a gid RECOVER no
 *                       longer lists committed before the SELECT, whose
 *                       fresh read view sees the 'C'; the other order
 *                       could miss both and say aborted)
 *    TOMBSTONE          SET STATEMENT innodb_lock_wait_timeout = 5 FOR
 *                       INSERT IGNORE INTO M VALUES (B, g, 'T'); SELECT kind
 *                       FROM M WHERE branch = B AND gid = g
 *    RECOVER            XA RECOVER, rows of our formatID and branch only
 *    interrupt()        of a running EXEC: its session is closed and
 *                       KILL CONNECTION <its thread id> runs on the next
 *                       free session (a round of no job): closing alone
 *                       left the statement running on the server, e.g.
 *                       waiting for a row lock up to
 *                       innodb_lock_wait_timeout while holding its own
 *                       (tests/test_part_maria.c, "interrupt")
 *
 *  Work statements are sent as written, separated by ";\n" (a trailing
 *  ';' is cut); their parameters $1..$N (outside quotes) are replaced by
 *  literals escaped with mysql_real_escape_string (NULL for a NULL).  A
 *  statement that would end the transaction (COMMIT, DDL...) is refused
 *  by the server inside an XA branch (XAER_RMFAIL).
 *
 *  PHASE 2 - the MariaDB trap.  Found on 10.11 (tests/test_part_maria.c,
 *  "phase2_elsewhere"): while the session that ran XA PREPARE is open,
 *  the prepared branch stays attached to it - XA COMMIT xid from any
 *  other session fails with 1397 XAER_NOTA although XA RECOVER lists the
 *  xid, and the preparing session itself can run nothing transactional
 *  but XA COMMIT/ROLLBACK of it (1399 XAER_RMFAIL).  Only when it
 *  disconnects is the branch detached, and then any session can end it.
 *  So, decided:
 *    - after a yes vote the preparing session is PARKED: it holds the
 *      branch, and phase 2 of that gid runs on it (no reconnect, the
 *      common fast path);
 *    - when work waits and no session is free, the oldest parked session
 *      is closed and opened again: its branch is detached and phase 2
 *      runs on any session later;
 *    - phase 2 on any session that gets 1397 asks XA RECOVER in the next
 *      round: listed -> the branch is still attached to a session the
 *      server has not finished closing (ours just closed, or killed):
 *      tried again 20 ms later, up to 250 times (5 s), then TPC_ECONNECT
 *      (unknown: the engine retries); not listed -> TPC_ENOENT (not
 *      prepared any more: the engine answers from the marker).
 *    - a parked session found broken when phase 2 comes: the operation
 *      goes to any session (the server detached the branch on the break).
 */
#include "part_maria_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tpc_error.h"

#define S_NOTA 1397                 /* ER_XAER_NOTA */
/*  The session's row writes so far (the read-only test).                 */
#define S_WRITES "(SELECT SUM(VARIABLE_VALUE) FROM " \
    "information_schema.SESSION_STATUS WHERE VARIABLE_NAME IN " \
    "('HANDLER_WRITE', 'HANDLER_UPDATE', 'HANDLER_DELETE'))"
#define S_RETRY_MS 20
#define S_RETRY_MAX 250

void
part_maria_xid (const part_maria_t *self, const char *gid, char *buf,
                size_t size)
{
    size_t len = strlen (gid);
    size_t gl = len > 64 ? 64 : len;
    snprintf (buf, size, "'%.*s','%s.%s',%ld", (int) gl, gid, self->branch,
              gid + gl, PART_MARIA_FORMAT_ID);
}

/*  Append STMT to F with its parameters as literals; 0, or -1 with a
 *  sentence in WHY.                                                      */
static int
s_put_stmt (MYSQL *m, FILE *f, const tpc_stmt_t *stmt, char *why,
            size_t whylen)
{
    const char *s = stmt->sql;
    size_t n = strlen (s);
    while (n && (s[n - 1] == ';' || s[n - 1] == ' ' || s[n - 1] == '\n'
                 || s[n - 1] == '\t' || s[n - 1] == '\r'))
        n--;
    char quote = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (quote) {
            fputc (ch, f);
            if (ch == '\\' && quote != '`' && i + 1 < n)
                fputc (s[++i], f);
            else if (ch == quote)
                quote = 0;
            continue;
        }
        if (ch == '\'' || ch == '"' || ch == '`') {
            quote = ch;
            fputc (ch, f);
            continue;
        }
        if (ch != '$' || stmt->nparams == 0 || i + 1 >= n
            || s[i + 1] < '1' || s[i + 1] > '9') {
            fputc (ch, f);
            continue;
        }
        size_t k = 0, j = i + 1;
        while (j < n && s[j] >= '0' && s[j] <= '9' && k < 100000)
            k = k * 10 + (size_t) (s[j++] - '0');
        if (k > stmt->nparams) {
            snprintf (why, whylen, "parameter $%zu of a statement is not "
                      "given (%zu given)", k, stmt->nparams);
            return -1;
        }
        const char *p = stmt->params[k - 1];
        if (!p)
            fputs ("NULL", f);
        else {
            size_t plen = strlen (p);
            char *esc = malloc (plen * 2 + 1);
            if (!esc) {
                snprintf (why, whylen, "out of memory");
                return -1;
            }
            mysql_real_escape_string (m, esc, p, (unsigned long) plen);
            fprintf (f, "'%s'", esc);
            free (esc);
        }
        i = j - 1;
    }
    return 0;
}

/*  The work round of JOB on C: [XA START;] its statements, then TAIL
 *  (may be NULL).  NULL with the job completed on failure.               */
static char *
s_work_sql (part_maria_t *self, part_maria_conn_t *c, part_maria_job_t *job,
            const char *tail, size_t *nsent)
{
    char *buf = NULL, why[200] = "";
    size_t len = 0, n = 0;
    char xid[200];
    part_maria_xid (self, job->gid, xid, sizeof xid);
    FILE *f = open_memstream (&buf, &len);
    if (!f) {
        part_maria_complete (self, job, TPC_ENOMEM, NULL, NULL);
        return NULL;
    }
    if (!c->begun) {
        fprintf (f, "XA START %s;\nSET @tpc_w = " S_WRITES, xid);
        n += 2;
    }
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < job->nstmts; i++) {
        const char *s = job->stmts[i].sql;
        if (!s[strspn (s, " \t\r\n;")])
            continue;                   /* empty */
        if (n)
            fputs (";\n", f);
        rc = s_put_stmt (c->m, f, &job->stmts[i], why, sizeof why);
        n++;
    }
    if (rc == 0 && tail) {
        if (n)
            fputs (";\n", f);
        fputs (tail, f);
    }
    if (fclose (f) != 0 || rc != 0) {
        free (buf);
        part_maria_complete (self, job, rc ? TPC_EINVAL : TPC_ENOMEM,
                             rc ? why : NULL, NULL);
        return NULL;
    }
    *nsent = n;
    return buf;
}

static char *
s_printf (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));
static char *
s_printf (const char *fmt, ...)
{
    char *out = NULL;
    va_list ap;
    va_start (ap, fmt);
    if (vasprintf (&out, fmt, ap) < 0)
        out = NULL;
    va_end (ap);
    return out;
}

/*  The marker INSERT of JOB: conditional on the branch having written,
 *  unless KEEP.                                                          */
static void
s_marker_insert (part_maria_t *self, const part_maria_job_t *job, bool keep,
                 char *buf, size_t size)
{
    if (keep)
        snprintf (buf, size, "INSERT INTO %s.tpc_marker (branch, gid) "
                  "VALUES ('%s', '%s')", self->db, self->branch, job->gid);
    else
        snprintf (buf, size, "INSERT INTO %s.tpc_marker (branch, gid) "
                  "SELECT '%s', '%s' FROM DUAL WHERE " S_WRITES " > @tpc_w",
                  self->db, self->branch, job->gid);
}

void
part_maria_start (part_maria_t *self, part_maria_conn_t *c,
                  part_maria_job_t *job)
{
    char xid[200], ins[600], tail[1100];
    size_t n = 0;
    char *sql = NULL;
    c->job = job;
    job->step = 1;
    part_maria_xid (self, job->gid, xid, sizeof xid);
    switch (job->op) {
    case PART_RM_EXEC:
        sql = s_work_sql (self, c, job, NULL, &n);
        if (sql && n == 0) {
            /* nothing to run */
            free (sql);
            c->job = NULL;
            part_maria_complete (self, job, 0, NULL, NULL);
            part_maria_release (self, c);
            return;
        }
        break;
    case PART_RM_PREPARE:
        s_marker_insert (self, job, job->keep_readonly, ins, sizeof ins);
        snprintf (tail, sizeof tail, "%s;\nXA END %s;\nXA PREPARE %s", ins,
                  xid, xid);
        sql = s_work_sql (self, c, job, tail, &n);
        break;
    case PART_RM_COMMIT_ONEPHASE:
        s_marker_insert (self, job, false, ins, sizeof ins);
        snprintf (tail, sizeof tail, "%s;\nXA END %s;\nXA COMMIT %s ONE PHASE",
                  ins, xid, xid);
        sql = s_work_sql (self, c, job, tail, &n);
        break;
    case PART_RM_ROLLBACK:
        if (!c->begun) {
            c->job = NULL;
            part_maria_unpin (self, c);
            part_maria_complete (self, job, 0, NULL, NULL);
            part_maria_release (self, c);
            return;
        }
        sql = s_printf ("XA END %s;\nXA ROLLBACK %s", xid, xid);
        break;
    case PART_RM_COMMIT_PREPARED:
        sql = s_printf ("XA COMMIT %s", xid);
        break;
    case PART_RM_ROLLBACK_PREPARED:
        sql = s_printf ("XA ROLLBACK %s", xid);
        break;
    case PART_RM_OUTCOME_OF:
        sql = s_printf ("XA RECOVER;\nSELECT kind FROM %s.tpc_marker WHERE "
                        "branch = '%s' AND gid = '%s'", self->db, self->branch,
                        job->gid);
        break;
    case PART_RM_TOMBSTONE:
        sql = s_printf ("SET STATEMENT innodb_lock_wait_timeout = 5 FOR "
                        "INSERT IGNORE INTO %s.tpc_marker (branch, gid, kind) "
                        "VALUES ('%s', '%s', 'T');\nSELECT kind FROM "
                        "%s.tpc_marker WHERE branch = '%s' AND gid = '%s'",
                        self->db, self->branch, job->gid, self->db,
                        self->branch, job->gid);
        break;
    case PART_RM_RECOVER:
        sql = strdup ("XA RECOVER");
        break;
    default:
        c->job = NULL;
        part_maria_complete (self, job, TPC_EINVAL, "unknown operation", NULL);
        part_maria_release (self, c);
        return;
    }
    if (!sql) {
        if (c->job == job && (job->op == PART_RM_EXEC || job->op == PART_RM_PREPARE
                              || job->op == PART_RM_COMMIT_ONEPHASE))
            ;   /* s_work_sql completed it */
        else
            part_maria_complete (self, job, TPC_ENOMEM, NULL, NULL);
        c->job = NULL;
        part_maria_release (self, c);
        return;
    }
    part_maria_round (self, c, sql);
}

/* ------------------------------------------------------------------ */
/*  Results                                                           */

/*  Does the XA RECOVER result R list our xid of GID?  The gids of every
 *  row of ours go to JOB->gids when JOB.                                 */
static bool
s_recover_rows (part_maria_t *self, MYSQL_RES *r, const char *gid,
                part_maria_job_t *job)
{
    bool found = false;
    if (!r || mysql_num_fields (r) < 4)
        return false;
    size_t nrows = (size_t) mysql_num_rows (r);
    if (job && !(job->gids = calloc (nrows + 1, sizeof *job->gids)))
        return false;
    mysql_data_seek (r, 0);
    MYSQL_ROW row;
    while ((row = mysql_fetch_row (r))) {
        unsigned long *lens = mysql_fetch_lengths (r);
        if (!row[0] || !row[1] || !row[2] || !row[3]
            || strtol (row[0], NULL, 10) != PART_MARIA_FORMAT_ID)
            continue;
        size_t gl = (size_t) strtoul (row[1], NULL, 10);
        size_t bl = (size_t) strtoul (row[2], NULL, 10);
        if (gl + bl != lens[3] || gl == 0 || gl > 64 || bl < 9 || bl > 64
            || memcmp (row[3] + gl, self->branch, 8) != 0
            || row[3][gl + 8] != '.')
            continue;
        char g[TPC_GID_MAX + 64];
        snprintf (g, sizeof g, "%.*s%.*s", (int) gl, row[3], (int) (bl - 9),
                  row[3] + gl + 9);
        if (tpc_gid_parse (g, NULL) != 0)
            continue;
        if (gid && !strcmp (g, gid))
            found = true;
        if (job && (job->gids[job->ngids] = strdup (g)))
            job->ngids++;
    }
    return found;
}

/*  The first column of the first row of R, or NULL.                      */
static const char *
s_cell (MYSQL_RES *r)
{
    if (!r)
        return NULL;
    mysql_data_seek (r, 0);
    MYSQL_ROW row = mysql_fetch_row (r);
    return row && mysql_num_fields (r) >= 1 ? row[0] : NULL;
}

/*  C's round failed (C->err): the server's refusal as TPC_EDB.           */
static void
s_fail_db (part_maria_t *self, part_maria_conn_t *c, part_maria_job_t *job)
{
    char msg[600];
    snprintf (msg, sizeof msg, "%s (MariaDB error %u)",
              c->errmsg ? c->errmsg : "?", c->err);
    part_maria_complete (self, job, TPC_EDB, msg, c->errstate);
}

/*  The work's branch failed on C: vote no, close the session (the server
 *  rolls the branch back).                                               */
static void
s_abort_branch (part_maria_t *self, part_maria_conn_t *c,
                part_maria_job_t *job)
{
    s_fail_db (self, c, job);
    c->job = NULL;
    part_maria_unpin (self, c);
    part_maria_conn_reset (self, c);
}

static void
s_done_phase2 (part_maria_t *self, part_maria_conn_t *c,
               part_maria_job_t *job)
{
    bool mine = c->parked && !strcmp (c->gid, job->gid);
    if (job->step == 1 && !c->err) {
        if (mine)
            part_maria_unpark (self, c);
        c->job = NULL;
        part_maria_complete (self, job, 0, NULL, NULL);
        part_maria_release (self, c);
        return;
    }
    if (c->err && part_maria_err_lost (c->err)) {
        c->job = NULL;
        if (mine) {
            /* the parked session broke: the branch is detached now */
            part_maria_conn_lost (self, c, "session lost", false);
            part_maria_wait_any (self, job, 0);
        }
        else {
            part_maria_complete (self, job, TPC_ECONNECT, "session to MariaDB "
                                 "lost during phase 2: the outcome is "
                                 "unknown, retry", "08S01");
            part_maria_conn_lost (self, c, "session lost", false);
        }
        return;
    }
    if (job->step == 1 && c->err == S_NOTA) {
        job->step = 2;
        part_maria_round (self, c, strdup ("XA RECOVER"));
        return;
    }
    if (job->step == 1 || c->err) {
        c->job = NULL;
        s_fail_db (self, c, job);
        part_maria_release (self, c);
        return;
    }
    /* step 2: the XA RECOVER after 1397 */
    bool listed = c->nres >= 1 && s_recover_rows (self, c->res[0].res,
                                                  job->gid, NULL);
    c->job = NULL;
    if (!listed)
        part_maria_complete (self, job, TPC_ENOENT, "not prepared (XAER_NOTA)",
                             "XAE04");
    else if (++job->tries > S_RETRY_MAX)
        part_maria_complete (self, job, TPC_ECONNECT, "the prepared branch "
                             "stays attached to another MariaDB session "
                             "(XAER_NOTA while XA RECOVER lists it)", "XAE04");
    else {
        /* attached to a session: ours parked (detach it), or one the
         * server is still closing */
        part_maria_conn_t *p = zhashx_lookup (self->parks, job->gid);
        if (p && !p->job && !p->in_round)
            part_maria_conn_reset (self, p);
        job->step = 0;
        part_maria_wait_any (self, job, self->now + S_RETRY_MS);
    }
    part_maria_release (self, c);
}

static void s_done_work (part_maria_t *self, part_maria_conn_t *c,
                         part_maria_job_t *job);
static void s_done_query (part_maria_t *self, part_maria_conn_t *c,
                          part_maria_job_t *job);

void
part_maria_on_round (part_maria_t *self, part_maria_conn_t *c)
{
    part_maria_job_t *job = c->job;
    if (!job) {
        part_maria_release (self, c);
        return;
    }
    bool had_start = job->step == 1 && !c->begun
                     && (job->op == PART_RM_EXEC || job->op == PART_RM_PREPARE
                         || job->op == PART_RM_COMMIT_ONEPHASE);
    if (had_start && c->nres >= 1)
        c->begun = true;            /* XA START went through */
    if (job->op == PART_RM_COMMIT_PREPARED
        || job->op == PART_RM_ROLLBACK_PREPARED) {
        s_done_phase2 (self, c, job);
        return;
    }
    if (c->err && part_maria_err_lost (c->err)) {
        char why[400];
        snprintf (why, sizeof why, "session to MariaDB lost: %s",
                  c->errmsg ? c->errmsg : "?");
        part_maria_conn_lost (self, c, why, false);
        return;
    }
    if (job->op == PART_RM_OUTCOME_OF || job->op == PART_RM_TOMBSTONE
        || job->op == PART_RM_RECOVER)
        s_done_query (self, c, job);
    else
        s_done_work (self, c, job);
}

/*  EXEC, PREPARE, COMMIT_ONEPHASE, ROLLBACK: C's round is over.          */
static void
s_done_work (part_maria_t *self, part_maria_conn_t *c, part_maria_job_t *job)
{
    switch (job->op) {
    case PART_RM_EXEC:
        c->job = NULL;
        if (c->err)
            s_fail_db (self, c, job);
        else {
            part_maria_res_t *last = &c->res[c->nres - 1];
            job->result = last->res;
            job->affected = last->affected;
            last->res = NULL;
            part_maria_complete (self, job, 0, NULL, NULL);
        }
        part_maria_release (self, c);
        return;
    case PART_RM_PREPARE:
        if (c->err) {
            s_abort_branch (self, c, job);
            return;
        }
        if (job->step == 1 && c->nres >= 3 && !job->keep_readonly
            && c->res[c->nres - 3].affected == 0) {
            char xid[200];
            part_maria_xid (self, job->gid, xid, sizeof xid);
            job->step = 2;
            part_maria_round (self, c, s_printf ("XA COMMIT %s", xid));
            return;
        }
        c->job = NULL;
        job->readonly = job->step == 2;
        part_maria_unpin (self, c);
        if (!job->readonly)
            part_maria_park (self, c);
        part_maria_complete (self, job, 0, NULL, NULL);
        part_maria_release (self, c);
        return;
    case PART_RM_COMMIT_ONEPHASE:
        if (c->err) {
            s_abort_branch (self, c, job);
            return;
        }
        c->job = NULL;
        part_maria_unpin (self, c);
        part_maria_complete (self, job, 0, NULL, NULL);
        part_maria_release (self, c);
        return;
    case PART_RM_ROLLBACK:
        c->job = NULL;
        part_maria_unpin (self, c);
        part_maria_complete (self, job, 0, NULL, NULL);
        if (c->err)
            part_maria_conn_reset (self, c);
        else
            part_maria_release (self, c);
        return;
    default:
        c->job = NULL;
        part_maria_complete (self, job, TPC_EINVAL, "unknown operation",
                             NULL);
        part_maria_release (self, c);
        return;
    }
}

/*  OUTCOME_OF, TOMBSTONE, RECOVER: C's round is over.                    */
static void
s_done_query (part_maria_t *self, part_maria_conn_t *c, part_maria_job_t *job)
{
    switch (job->op) {
    case PART_RM_OUTCOME_OF:
        c->job = NULL;
        if (c->err)
            s_fail_db (self, c, job);
        else {
            bool listed = c->nres >= 1
                          && s_recover_rows (self, c->res[0].res, job->gid,
                                             NULL);
            const char *kind = c->nres >= 2 ? s_cell (c->res[1].res) : NULL;
            job->outcome = kind && kind[0] == 'C' ? TPC_OUTCOME_COMMITTED
                         : listed ? TPC_OUTCOME_IN_PROGRESS
                         : TPC_OUTCOME_ABORTED;
            part_maria_complete (self, job, 0, NULL, NULL);
        }
        part_maria_release (self, c);
        return;
    case PART_RM_TOMBSTONE:
        c->job = NULL;
        if (c->err)
            s_fail_db (self, c, job);
        else {
            const char *kind = c->nres >= 2 ? s_cell (c->res[1].res) : NULL;
            job->outcome = kind && kind[0] == 'C' ? TPC_OUTCOME_COMMITTED
                                                   : TPC_OUTCOME_ABORTED;
            part_maria_complete (self, job, 0, NULL, NULL);
        }
        part_maria_release (self, c);
        return;
    case PART_RM_RECOVER:
        c->job = NULL;
        if (c->err)
            s_fail_db (self, c, job);
        else {
            (void) s_recover_rows (self, c->nres ? c->res[0].res : NULL,
                                   NULL, job);
            part_maria_complete (self, job, 0, NULL, NULL);
        }
        part_maria_release (self, c);
        return;
    default:
        c->job = NULL;
        part_maria_complete (self, job, TPC_EINVAL, "unknown operation",
                             NULL);
        part_maria_release (self, c);
        return;
    }
}
