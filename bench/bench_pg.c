/*  bench_pg: the libpq workloads of tpc_bench (bare, floor, plain).
 *
 *  Life of one bare/floor transfer on database k (k = 1, 2):
 *
 *    idle --BEGIN+UPDATE--> open --PREPARE--> prepared --COMMIT PREPARED--> idle
 *      \                     |                   |
 *       \                    +-- failure: ROLLBACK (s_undo)
 *        \                   once PREPARE was sent (maybe_prepared) and
 *         \                  the other side failed: ROLLBACK PREPARED
 *          +-- both prepared: the decision is commit, s_finish retries
 *              COMMIT PREPARED with reconnects, never rolls back
 *
 *  Invariant: run() returns with no transaction open on either connection
 *  and with nothing it prepared left prepared, unless a server stayed
 *  unreachable through every retry (the error then names the gid).
 */
#include "bench_pg.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define S_RETRIES 5                 /* reconnects for COMMIT/ROLLBACK PREPARED */
#define S_RETRY_SLEEP_MS 100
#define S_GID_MAX 64
#define S_SQL_MAX 256
#define S_SQLSTATE_UNDEFINED_OBJECT "42704" /* no such prepared transaction */

typedef struct {
    PGconn *conn[2];
    int thread;
    long pid;
    int lock_timeout_ms;
} s_session_t;

typedef enum { S_BARE, S_FLOOR, S_PLAIN } s_kind_t;

static void
s_sleep_ms (int ms)
{
    struct timespec ts = { ms / 1000, (long) (ms % 1000) * 1000000L };
    nanosleep (&ts, NULL);
}

/*  Copy TEXT (without trailing newlines) to ERR prefixed with "dbK: ",
 *  unless ERR already holds a message: the first failure is the story.   */
static void
s_err (char *err, size_t errlen, int k, const char *what, const char *text)
{
    if (!err || errlen == 0 || err[0])
        return;
    size_t n = text ? strlen (text) : 0;
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == ' '))
        n--;
    snprintf (err, errlen, "db%d: %s: %.*s", k + 1, what, (int) n, text ? text : "");
    for (char *p = err; *p; p++)
        if (*p == '\n')
            *p = ' ';           /* PostgreSQL's CONTEXT lines: one line */
}

/*  Append NOTE to ERR (after the first failure's text).                  */
static void
s_err_note (char *err, size_t errlen, const char *note)
{
    size_t used = strlen (err);
    if (used + 1 < errlen)
        snprintf (err + used, errlen - used, "%s%s", used ? "; " : "", note);
}

static int
s_set_session (s_session_t *s, int k, char *err, size_t errlen)
{
    char sql[S_SQL_MAX];
    snprintf (sql, sizeof sql, "SET lock_timeout = %d", s->lock_timeout_ms);
    PGresult *r = PQexec (s->conn[k], sql);
    int rc = PQresultStatus (r) == PGRES_COMMAND_OK ? 0 : -1;
    if (rc < 0)
        s_err (err, errlen, k, "SET lock_timeout", PQerrorMessage (s->conn[k]));
    PQclear (r);
    return rc;
}

/*  Bring connection K back after it broke.  0 or -1.                     */
static int
s_reconnect (s_session_t *s, int k)
{
    if (PQstatus (s->conn[k]) == CONNECTION_OK)
        return 0;
    PQreset (s->conn[k]);
    if (PQstatus (s->conn[k]) != CONNECTION_OK)
        return -1;
    return s_set_session (s, k, NULL, 0);
}

/*  Judge one result: 0 if it succeeded (and, for an UPDATE, changed
 *  exactly one row), else -1 with the story in ERR.                      */
static int
s_check (PGresult *r, PGconn *c, int k, const char *what, char *err, size_t errlen)
{
    ExecStatusType st = PQresultStatus (r);
    if (st != PGRES_COMMAND_OK) {
        const char *msg = r ? PQresultErrorMessage (r) : PQerrorMessage (c);
        s_err (err, errlen, k, what, msg && *msg ? msg : PQresStatus (st));
        return -1;
    }
    if (strncmp (PQcmdStatus (r), "UPDATE", 6) == 0 && strcmp (PQcmdTuples (r), "1") != 0) {
        s_err (err, errlen, k, what, "no such row in accounts (UPDATE changed no row)");
        return -1;
    }
    return 0;
}

/*  One statement on connection K, waited for.  0 or -1.                  */
static int
s_exec (s_session_t *s, int k, const char *sql, int nparams,
        const char *const *params, char *err, size_t errlen)
{
    PGconn *c = s->conn[k];
    PGresult *r = nparams > 0
        ? PQexecParams (c, sql, nparams, NULL, params, NULL, NULL, 0)
        : PQexec (c, sql);
    int rc = s_check (r, c, k, sql, err, errlen);
    PQclear (r);
    return rc;
}

/*  Every result of the query in flight on connection K.  0 if all of them
 *  succeeded, -1 otherwise (the results are drained either way).        */
static int
s_collect (s_session_t *s, int k, const char *what, char *err, size_t errlen)
{
    PGconn *c = s->conn[k];
    int rc = 0, results = 0;
    PGresult *r;
    while ((r = PQgetResult (c)) != NULL) {
        results++;
        if (rc == 0 && s_check (r, c, k, what, err, errlen) < 0)
            rc = -1;
        PQclear (r);
    }
    if (rc == 0 && (results == 0 || PQstatus (c) != CONNECTION_OK)) {
        s_err (err, errlen, k, what, PQerrorMessage (c));
        rc = -1;
    }
    return rc;
}

static int
s_send (s_session_t *s, int k, const char *sql, char *err, size_t errlen)
{
    if (PQsendQuery (s->conn[k], sql))
        return 0;
    s_err (err, errlen, k, sql, PQerrorMessage (s->conn[k]));
    return -1;
}

/*  COMMIT PREPARED or ROLLBACK PREPARED GID on K, with reconnects; "no
 *  such prepared transaction" counts as done (a lost earlier reply, or a
 *  PREPARE that never happened).  0 or -1.                               */
static int
s_resolve (s_session_t *s, int k, const char *gid, bool commit)
{
    char sql[S_SQL_MAX];
    snprintf (sql, sizeof sql, "%s PREPARED '%s'", commit ? "COMMIT" : "ROLLBACK", gid);
    for (int attempt = 0; attempt < S_RETRIES; attempt++) {
        if (attempt > 0)
            s_sleep_ms (S_RETRY_SLEEP_MS);
        if (s_reconnect (s, k) < 0)
            continue;
        PGresult *r = PQexec (s->conn[k], sql);
        const char *state = PQresultErrorField (r, PG_DIAG_SQLSTATE);
        bool done = PQresultStatus (r) == PGRES_COMMAND_OK
                    || (state && strcmp (state, S_SQLSTATE_UNDEFINED_OBJECT) == 0);
        PQclear (r);
        if (done)
            return 0;
    }
    return -1;
}

/*  Leave connection K with no transaction open and GID not prepared.     */
static int
s_undo (s_session_t *s, int k, const char *gid, bool maybe_prepared)
{
    if (PQstatus (s->conn[k]) == CONNECTION_OK) {
        PGTransactionStatusType ts = PQtransactionStatus (s->conn[k]);
        if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR) {
            PGresult *r = PQexec (s->conn[k], "ROLLBACK");
            PQclear (r);
        }
    }
    /*  A broken connection took its open transaction with it; a prepared
     *  one survives it and must be rolled back by name.                  */
    if (maybe_prepared)
        return s_resolve (s, k, gid, false);
    return s_reconnect (s, k);
}

static void
s_gid (const s_session_t *s, uint64_t seq, int k, char *buf)
{
    snprintf (buf, S_GID_MAX, "bench_%ld_%d_%llu_%d", s->pid, s->thread,
              (unsigned long long) seq, k + 1);
}

/*  The "BEGIN; UPDATE ...; <tail>" query of one side.                    */
static void
s_query (const bench_txn_t *t, int k, const char *tail, char *buf, size_t len)
{
    snprintf (buf, len, "BEGIN; UPDATE accounts SET balance = balance %c %u "
              "WHERE id = %u; %s", k == 0 ? '-' : '+', t->amount,
              k == 0 ? t->from : t->to, tail);
}

static int
s_run_bare (s_session_t *s, const bench_txn_t *t, char *err, size_t errlen)
{
    static const char *update[2] = {
        "UPDATE accounts SET balance = balance - $1 WHERE id = $2",
        "UPDATE accounts SET balance = balance + $1 WHERE id = $2"
    };
    char gid[2][S_GID_MAX], sql[S_SQL_MAX], amount[16], row[2][16];
    bool maybe_prepared[2] = { false, false };
    snprintf (amount, sizeof amount, "%u", t->amount);
    snprintf (row[0], sizeof row[0], "%u", t->from);
    snprintf (row[1], sizeof row[1], "%u", t->to);
    for (int k = 0; k < 2; k++)
        s_gid (s, t->seq, k, gid[k]);

    for (int k = 0; k < 2; k++) {
        const char *params[2] = { amount, row[k] };
        if (s_exec (s, k, "BEGIN", 0, NULL, err, errlen) < 0
            || s_exec (s, k, update[k], 2, params, err, errlen) < 0)
            goto undo;
        snprintf (sql, sizeof sql, "PREPARE TRANSACTION '%s'", gid[k]);
        maybe_prepared[k] = true;
        if (s_exec (s, k, sql, 0, NULL, err, errlen) < 0)
            goto undo;
    }
    int rc = 0;
    for (int k = 0; k < 2; k++) {
        snprintf (sql, sizeof sql, "COMMIT PREPARED '%s'", gid[k]);
        if (s_exec (s, k, sql, 0, NULL, err, errlen) < 0
            && s_resolve (s, k, gid[k], true) < 0) {
            s_err_note (err, errlen, "left prepared:");
            s_err_note (err, errlen, gid[k]);
            rc = -1;
        }
    }
    return rc;

undo:
    for (int k = 0; k < 2; k++)
        if (s_undo (s, k, gid[k], maybe_prepared[k]) < 0 && maybe_prepared[k]) {
            s_err_note (err, errlen, "left prepared:");
            s_err_note (err, errlen, gid[k]);
        }
    return -1;
}

static int
s_run_floor (s_session_t *s, const bench_txn_t *t, char *err, size_t errlen)
{
    char gid[2][S_GID_MAX], tail[S_GID_MAX + 32], sql[2][S_SQL_MAX];
    bool maybe_prepared[2] = { false, false }, sent[2];
    int failed = 0;
    for (int k = 0; k < 2; k++) {
        s_gid (s, t->seq, k, gid[k]);
        snprintf (tail, sizeof tail, "PREPARE TRANSACTION '%s'", gid[k]);
        s_query (t, k, tail, sql[k], sizeof sql[k]);
    }
    for (int k = 0; k < 2; k++) {
        sent[k] = s_send (s, k, sql[k], err, errlen) == 0;
        maybe_prepared[k] = sent[k];
        failed += !sent[k];
    }
    for (int k = 0; k < 2; k++)
        if (sent[k] && s_collect (s, k, "BEGIN; UPDATE; PREPARE TRANSACTION", err, errlen) < 0)
            failed++;
    if (failed) {
        for (int k = 0; k < 2; k++)
            if (s_undo (s, k, gid[k], maybe_prepared[k]) < 0 && maybe_prepared[k]) {
                s_err_note (err, errlen, "left prepared:");
                s_err_note (err, errlen, gid[k]);
            }
        return -1;
    }
    for (int k = 0; k < 2; k++) {
        snprintf (sql[k], sizeof sql[k], "COMMIT PREPARED '%s'", gid[k]);
        sent[k] = s_send (s, k, sql[k], err, errlen) == 0;
    }
    int rc = 0;
    for (int k = 0; k < 2; k++) {
        bool done = sent[k] && s_collect (s, k, "COMMIT PREPARED", err, errlen) == 0;
        if (!done && s_resolve (s, k, gid[k], true) < 0) {
            s_err_note (err, errlen, "left prepared:");
            s_err_note (err, errlen, gid[k]);
            rc = -1;
        }
    }
    return rc;
}

static int
s_run_plain (s_session_t *s, const bench_txn_t *t, char *err, size_t errlen)
{
    char sql[2][S_SQL_MAX];
    bool sent[2];
    int failed = 0;
    for (int k = 0; k < 2; k++) {
        s_query (t, k, "COMMIT", sql[k], sizeof sql[k]);
        sent[k] = s_send (s, k, sql[k], err, errlen) == 0;
        failed += !sent[k];
    }
    for (int k = 0; k < 2; k++)
        if (sent[k] && s_collect (s, k, "BEGIN; UPDATE; COMMIT", err, errlen) < 0)
            failed++;
    if (failed)
        for (int k = 0; k < 2; k++)
            s_undo (s, k, NULL, false);
    return failed ? -1 : 0;
}

static void
s_close (void **session_p)
{
    if (!session_p || !*session_p)
        return;
    s_session_t *s = *session_p;
    for (int k = 0; k < 2; k++)
        if (s->conn[k])
            PQfinish (s->conn[k]);
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
    for (int k = 0; k < 2; k++) {
        const char *info = k == 0 ? cfg->db1 : cfg->db2;
        if (!info) {
            snprintf (err, errlen, "--db%d CONNINFO is required", k + 1);
            goto fail;
        }
        s->conn[k] = PQconnectdb (info);
        if (PQstatus (s->conn[k]) != CONNECTION_OK) {
            s_err (err, errlen, k, "connect", PQerrorMessage (s->conn[k]));
            goto fail;
        }
        if (s_set_session (s, k, err, errlen) < 0)
            goto fail;
    }
    return s;
fail:
    s_close ((void **) &s);
    return NULL;
}

static int
s_run (s_kind_t kind, void *session, const bench_txn_t *t, char *err, size_t errlen)
{
    err[0] = '\0';
    switch (kind) {
    case S_BARE: return s_run_bare (session, t, err, errlen);
    case S_FLOOR: return s_run_floor (session, t, err, errlen);
    case S_PLAIN: return s_run_plain (session, t, err, errlen);
    }
    return -1;
}

static int
s_bare (void *session, const bench_txn_t *t, char *err, size_t errlen)
{
    return s_run (S_BARE, session, t, err, errlen);
}

static int
s_floor (void *session, const bench_txn_t *t, char *err, size_t errlen)
{
    return s_run (S_FLOOR, session, t, err, errlen);
}

static int
s_plain (void *session, const bench_txn_t *t, char *err, size_t errlen)
{
    return s_run (S_PLAIN, session, t, err, errlen);
}

static const bench_work_t s_works[] = {
    { "bare", s_open, s_bare, s_close },
    { "floor", s_open, s_floor, s_close },
    { "plain", s_open, s_plain, s_close },
};

const bench_work_t *
bench_pg_bare (void)
{
    return &s_works[S_BARE];
}

const bench_work_t *
bench_pg_floor (void)
{
    return &s_works[S_FLOOR];
}

const bench_work_t *
bench_pg_plain (void)
{
    return &s_works[S_PLAIN];
}
