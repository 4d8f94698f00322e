/*  bench_mixed: hand-written 2PC across PostgreSQL and MariaDB (see
 *  bench_mixed.h for the statements and the failure rules).
 *
 *  Life of one transfer:
 *
 *    idle --send db1 "BEGIN; UPDATE; PREPARE TRANSACTION"----+
 *         --db2 "XA START; UPDATE; XA END; XA PREPARE"-------+--> both prepared
 *                 | a failure on either side                 |
 *                 v                                          v
 *           s_undo: db1 ROLLBACK [PREPARED],      COMMIT PREPARED + XA COMMIT
 *                   db2 XA END + XA ROLLBACK      (s_resolve_* retry with
 *                   -> idle, counted as an error   reconnects) -> idle
 *
 *  Reads (once per session) the first line of the MariaDB conninfo file
 *  (format: common/tpc_maria_conninfo.h).
 */
#include "bench_mixed.h"

#include <libpq-fe.h>
#include <mysql.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tpc_maria_conninfo.h"

#define S_RETRIES 5
#define S_RETRY_SLEEP_MS 100
#define S_GID_MAX 64
#define S_SQL_MAX 384
#define S_SQLSTATE_UNDEFINED_OBJECT "42704"
#define S_ER_XAER_NOTA 1397         /* XAER_NOTA: unknown XID */

typedef struct {
    PGconn *pg;
    MYSQL *my;
    tpc_maria_conninfo_t ci;
    int thread;
    long pid;
    int lock_timeout_ms;
} s_session_t;

static void
s_sleep_ms (int ms)
{
    struct timespec ts = { ms / 1000, (long) (ms % 1000) * 1000000L };
    nanosleep (&ts, NULL);
}

/*  The first failure is the story: copy it to ERR unless ERR has one.    */
static void
s_err (char *err, size_t errlen, const char *side, const char *what, const char *text)
{
    if (!err || errlen == 0 || err[0])
        return;
    size_t n = text ? strlen (text) : 0;
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == ' '))
        n--;
    snprintf (err, errlen, "%s: %s: %.*s", side, what, (int) n, text ? text : "");
    for (char *p = err; *p; p++)
        if (*p == '\n')
            *p = ' ';
}

static void
s_err_note (char *err, size_t errlen, const char *note)
{
    size_t used = strlen (err);
    if (used + 1 < errlen)
        snprintf (err + used, errlen - used, "%s%s", used ? "; " : "", note);
}

/*  FILE's first line into CI.  0 or -1 with the reason in ERR.          */
static int
s_ci_read (const char *file, tpc_maria_conninfo_t *ci, char *err, size_t errlen)
{
    char line[1024], why[256];
    FILE *f = fopen (file, "r");
    if (!f) {
        snprintf (err, errlen, "cannot read the MariaDB conninfo file %s", file);
        return -1;
    }
    char *got = fgets (line, sizeof line, f);
    fclose (f);
    if (!got || tpc_maria_conninfo_parse (line, ci, why, sizeof why) != 0) {
        snprintf (err, errlen, "%s: %s", file, got ? why : "empty");
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------- MariaDB */

/*  Run SQL (maybe several statements) on db2 and drain every result.  0
 *  when all succeeded and statement number UPDATE_AT (from 0; -1: none)
 *  changed exactly one row; else -1 (story in ERR, *ERRNO_OUT = the
 *  server's error number or 0).                                         */
static int
s_my_run (s_session_t *s, const char *sql, int update_at, char *err,
          size_t errlen, unsigned *errno_out)
{
    unsigned dummy;
    unsigned *eno = errno_out ? errno_out : &dummy;
    *eno = 0;
    if (mysql_real_query (s->my, sql, (unsigned long) strlen (sql))) {
        *eno = mysql_errno (s->my);
        s_err (err, errlen, "db2", sql, mysql_error (s->my));
        return -1;
    }
    int rc = 0, st, at = 0;
    do {
        MYSQL_RES *res = mysql_store_result (s->my);
        if (res)
            mysql_free_result (res);
        else if (at == update_at && mysql_affected_rows (s->my) != 1) {
            s_err (err, errlen, "db2", "UPDATE", "no such row in accounts (UPDATE changed no row)");
            rc = -1;
        }
        at++;
        st = mysql_next_result (s->my);
        if (st > 0) {
            *eno = mysql_errno (s->my);
            s_err (err, errlen, "db2", sql, mysql_error (s->my));
            rc = -1;
        }
    } while (st == 0);
    return rc;
}

static int
s_my_connect (s_session_t *s, char *err, size_t errlen)
{
    if (s->my)
        mysql_close (s->my);
    s->my = mysql_init (NULL);
    if (!s->my) {
        snprintf (err, errlen, "out of memory");
        return -1;
    }
    const tpc_maria_conninfo_t *ci = &s->ci;
    if (!mysql_real_connect (s->my, ci->socket[0] ? NULL : ci->host,
                             ci->user[0] ? ci->user : NULL,
                             ci->password[0] ? ci->password : NULL,
                             ci->database[0] ? ci->database : NULL, ci->port,
                             ci->socket[0] ? ci->socket : NULL,
                             CLIENT_MULTI_STATEMENTS)) {
        s_err (err, errlen, "db2", "connect", mysql_error (s->my));
        return -1;
    }
    char sql[S_SQL_MAX];
    int secs = (s->lock_timeout_ms + 999) / 1000;
    snprintf (sql, sizeof sql, "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ;"
              " SET SESSION innodb_lock_wait_timeout = %d", secs < 1 ? 1 : secs);
    char scratch[256] = "";
    if (s_my_run (s, sql, -1, scratch, sizeof scratch, NULL) < 0) {
        s_err (err, errlen, "db2", "session settings", scratch);
        return -1;
    }
    return 0;
}

/*  XA COMMIT or XA ROLLBACK GID, with reconnects; XAER_NOTA counts as
 *  done (a lost reply, or nothing prepared).  0 or -1.                  */
static int
s_my_resolve (s_session_t *s, const char *gid, bool commit)
{
    char sql[S_SQL_MAX], scratch[256];
    snprintf (sql, sizeof sql, "XA %s '%s'", commit ? "COMMIT" : "ROLLBACK", gid);
    for (int attempt = 0; attempt < S_RETRIES; attempt++) {
        scratch[0] = '\0';
        if (attempt > 0) {
            s_sleep_ms (S_RETRY_SLEEP_MS);
            if (s_my_connect (s, scratch, sizeof scratch) < 0)
                continue;
        }
        unsigned eno;
        if (s_my_run (s, sql, -1, scratch, sizeof scratch, &eno) == 0 || eno == S_ER_XAER_NOTA)
            return 0;
    }
    return -1;
}

/*  Leave db2 with no branch of GID active or prepared.                  */
static int
s_my_undo (s_session_t *s, const char *gid)
{
    char sql[S_SQL_MAX], scratch[256] = "";
    snprintf (sql, sizeof sql, "XA END '%s'", gid);
    s_my_run (s, sql, -1, scratch, sizeof scratch, NULL);     /* may be ended */
    return s_my_resolve (s, gid, false);
}

/* ---------------------------------------------------------- PostgreSQL */

static int
s_pg_check (PGresult *r, PGconn *c, const char *what, char *err, size_t errlen)
{
    ExecStatusType st = PQresultStatus (r);
    if (st != PGRES_COMMAND_OK) {
        const char *msg = r ? PQresultErrorMessage (r) : PQerrorMessage (c);
        s_err (err, errlen, "db1", what, msg && *msg ? msg : PQresStatus (st));
        return -1;
    }
    if (strncmp (PQcmdStatus (r), "UPDATE", 6) == 0 && strcmp (PQcmdTuples (r), "1") != 0) {
        s_err (err, errlen, "db1", what, "no such row in accounts (UPDATE changed no row)");
        return -1;
    }
    return 0;
}

static int
s_pg_collect (s_session_t *s, const char *what, char *err, size_t errlen)
{
    int rc = 0, results = 0;
    PGresult *r;
    while ((r = PQgetResult (s->pg)) != NULL) {
        results++;
        if (rc == 0 && s_pg_check (r, s->pg, what, err, errlen) < 0)
            rc = -1;
        PQclear (r);
    }
    if (rc == 0 && (results == 0 || PQstatus (s->pg) != CONNECTION_OK)) {
        s_err (err, errlen, "db1", what, PQerrorMessage (s->pg));
        rc = -1;
    }
    return rc;
}

static int
s_pg_session (s_session_t *s)
{
    char sql[S_SQL_MAX];
    snprintf (sql, sizeof sql, "SET lock_timeout = %d", s->lock_timeout_ms);
    PGresult *r = PQexec (s->pg, sql);
    int rc = PQresultStatus (r) == PGRES_COMMAND_OK ? 0 : -1;
    PQclear (r);
    return rc;
}

static int
s_pg_resolve (s_session_t *s, const char *gid, bool commit)
{
    char sql[S_SQL_MAX];
    snprintf (sql, sizeof sql, "%s PREPARED '%s'", commit ? "COMMIT" : "ROLLBACK", gid);
    for (int attempt = 0; attempt < S_RETRIES; attempt++) {
        if (attempt > 0)
            s_sleep_ms (S_RETRY_SLEEP_MS);
        if (PQstatus (s->pg) != CONNECTION_OK) {
            PQreset (s->pg);
            if (PQstatus (s->pg) != CONNECTION_OK || s_pg_session (s) < 0)
                continue;
        }
        PGresult *r = PQexec (s->pg, sql);
        const char *state = PQresultErrorField (r, PG_DIAG_SQLSTATE);
        bool done = PQresultStatus (r) == PGRES_COMMAND_OK
                    || (state && strcmp (state, S_SQLSTATE_UNDEFINED_OBJECT) == 0);
        PQclear (r);
        if (done)
            return 0;
    }
    return -1;
}

static int
s_pg_undo (s_session_t *s, const char *gid, bool maybe_prepared)
{
    if (PQstatus (s->pg) == CONNECTION_OK) {
        PGTransactionStatusType ts = PQtransactionStatus (s->pg);
        if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR)
            PQclear (PQexec (s->pg, "ROLLBACK"));
    }
    if (maybe_prepared)
        return s_pg_resolve (s, gid, false);
    if (PQstatus (s->pg) != CONNECTION_OK) {
        PQreset (s->pg);
        return PQstatus (s->pg) == CONNECTION_OK ? s_pg_session (s) : -1;
    }
    return 0;
}

/* -------------------------------------------------------------- workload */

static int
s_run (void *session, const bench_txn_t *t, char *err, size_t errlen)
{
    s_session_t *s = session;
    char gid[2][S_GID_MAX], sql[2][S_SQL_MAX];
    err[0] = '\0';
    for (int k = 0; k < 2; k++)
        snprintf (gid[k], S_GID_MAX, "bench_%ld_%d_%llu_%d", s->pid, s->thread,
                  (unsigned long long) t->seq, k + 1);
    snprintf (sql[0], sizeof sql[0], "BEGIN; UPDATE accounts SET balance = balance - %u"
              " WHERE id = %u; PREPARE TRANSACTION '%s'", t->amount, t->from, gid[0]);
    snprintf (sql[1], sizeof sql[1], "XA START '%s'; UPDATE accounts SET balance ="
              " balance + %u WHERE id = %u; XA END '%s'; XA PREPARE '%s'",
              gid[1], t->amount, t->to, gid[1], gid[1]);

    /* phase 1: db1's query goes out, db2's runs meanwhile, then db1's */
    bool sent = PQsendQuery (s->pg, sql[0]) == 1;
    if (!sent)
        s_err (err, errlen, "db1", "send", PQerrorMessage (s->pg));
    int bad2 = s_my_run (s, sql[1], 1, err, errlen, NULL);
    int bad1 = sent ? s_pg_collect (s, "BEGIN; UPDATE; PREPARE TRANSACTION", err, errlen) : -1;
    if (bad1 || bad2) {
        if (s_pg_undo (s, gid[0], sent) < 0 && sent) {
            s_err_note (err, errlen, "left prepared:");
            s_err_note (err, errlen, gid[0]);
        }
        if (s_my_undo (s, gid[1]) < 0) {
            s_err_note (err, errlen, "left prepared:");
            s_err_note (err, errlen, gid[1]);
        }
        return -1;
    }

    /* phase 2: commit, on the connections that prepared */
    snprintf (sql[0], sizeof sql[0], "COMMIT PREPARED '%s'", gid[0]);
    snprintf (sql[1], sizeof sql[1], "XA COMMIT '%s'", gid[1]);
    int rc = 0;
    sent = PQsendQuery (s->pg, sql[0]) == 1;
    char scratch[256] = "";
    if (s_my_run (s, sql[1], -1, scratch, sizeof scratch, NULL) < 0
        && s_my_resolve (s, gid[1], true) < 0) {
        s_err (err, errlen, "db2", "XA COMMIT", scratch);
        s_err_note (err, errlen, "left prepared:");
        s_err_note (err, errlen, gid[1]);
        rc = -1;
    }
    bool done = sent && s_pg_collect (s, "COMMIT PREPARED", err, errlen) == 0;
    if (!done && s_pg_resolve (s, gid[0], true) < 0) {
        s_err_note (err, errlen, "left prepared:");
        s_err_note (err, errlen, gid[0]);
        rc = -1;
    }
    return rc;
}

static void
s_close (void **session_p)
{
    if (!session_p || !*session_p)
        return;
    s_session_t *s = *session_p;
    if (s->pg)
        PQfinish (s->pg);
    if (s->my)
        mysql_close (s->my);
    free (s);
    *session_p = NULL;
}

static void *
s_open (const bench_work_config_t *cfg, int thread, char *err, size_t errlen)
{
    s_session_t *s = calloc (1, sizeof *s);
    if (!s) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    s->thread = thread;
    s->pid = (long) getpid ();
    s->lock_timeout_ms = cfg->lock_timeout_ms;
    err[0] = '\0';
    if (!cfg->db1 || !cfg->db2) {
        snprintf (err, errlen, "--db1 CONNINFO (PostgreSQL) and --db2 FILE (MariaDB) are required");
        goto fail;
    }
    s->pg = PQconnectdb (cfg->db1);
    if (PQstatus (s->pg) != CONNECTION_OK) {
        s_err (err, errlen, "db1", "connect", PQerrorMessage (s->pg));
        goto fail;
    }
    if (s_pg_session (s) < 0) {
        s_err (err, errlen, "db1", "SET lock_timeout", PQerrorMessage (s->pg));
        goto fail;
    }
    if (s_ci_read (cfg->db2, &s->ci, err, errlen) < 0 || s_my_connect (s, err, errlen) < 0)
        goto fail;
    return s;
fail:
    s_close ((void **) &s);
    return NULL;
}

static const bench_work_t s_work = { "mixed-bare", s_open, s_run, s_close };

const bench_work_t *
bench_mixed_bare (void)
{
    return &s_work;
}
