/*  part_pg_ops: the SQL of each operation of the PostgreSQL resource
 *  manager (listed in part_pg.h): what its round sends (start) and how
 *  its results finish the job (done, from part_pg_on_round).  Also the
 *  screening of a client's statements (what may not run in a work) and
 *  the session reset that ends a transaction which ran them.
 */
#include "part_pg_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tpc_error.h"

#define S_MAX_PARAMS 65535      /* the protocol's limit per statement */


/* ------------------------------------------------------------------ */
/*  Ending a round                                                     */

/*  Finish JOB with the database error in result R (NULL: no result).    */
static void
s_complete_pgerr (part_pg_t *self, part_pg_conn_t *c, part_pg_job_t *job,
                  const PGresult *r)
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
    part_pg_complete (self, job, status, msg, state);
}

/*  Index of the first query of the round that did not succeed, or -1.   */
static int
s_first_error (const part_pg_conn_t *c)
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
s_txn_over (part_pg_t *self, part_pg_conn_t *c)
{
    part_pg_round_reset (c);
    part_pg_unpin (self, c);
    part_pg_release (self, c);
}

/*  A round that leaves no transaction open is over: clean up, free C.   */
static void
s_round_over (part_pg_t *self, part_pg_conn_t *c)
{
    part_pg_round_reset (c);
    part_pg_release (self, c);
}

/* ------------------------------------------------------------------ */
/*  A client's statements: screening, session reset                    */

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
 *      it) get a full DISCARD ALL from part_pg_release(), a round of its own,
 *      which also empties the statement cache.
 *  What slips through: session state other than GUCs created by a
 *  function whose call does not name it (DISCARD ALL on every transaction
 *  would catch it, for a fifth of the throughput).                       */
static const part_pg_query_t s_reset_gucs[] = {
    { "RESET ALL", 0, NULL, true },
};
#define S_RESET_MAX 1
/*  Rounds of up to this many queries build their list on the stack.     */
#define S_LOCAL_QUERIES 16

/*  Send QUERIES (N of them) for the pinned transaction of C, preceded by
 *  BEGIN when it was not sent yet.                                       */
static int
s_send_txn_round (part_pg_t *self, part_pg_conn_t *c,
                  const part_pg_query_t *queries, int n)
{
    part_pg_query_t local[S_LOCAL_QUERIES];
    part_pg_query_t *q = (size_t) n + 1 <= S_LOCAL_QUERIES
                         ? memset (local, 0, sizeof local)
                         : calloc ((size_t) n + 1, sizeof *q);
    if (!q) {
        part_pg_job_t *job = c->job;
        c->job = NULL;
        part_pg_complete (self, job, TPC_ENOMEM, NULL, NULL);
        return -1;
    }
    int base = 0;
    if (!c->begun) {
        q[0].sql = "BEGIN";
        base = 1;
    }
    memcpy (q + base, queries, (size_t) n * sizeof *q);
    c->begun = true;
    int rc = part_pg_send_round (self, c, q, n + base, base);
    if (q != local)
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
    /* one pass over SQL (not one strcasestr per word): at each byte only
     * the words starting with its letter are compared */
    static const char *const words[] = {
        "role", "authorization", "advisory", "temp", "listen", "cursor",
        "declare", "prepare", "deallocate", "discard"
    };
    for (const char *p = sql; *p; p++) {
        char l = (char) (*p | 0x20);    /* ASCII letters: lower case */
        if (l != 'r' && l != 'a' && l != 't' && l != 'l' && l != 'c'
            && l != 'd' && l != 'p')
            continue;
        for (size_t i = 0; i < sizeof words / sizeof *words; i++)
            if (words[i][0] == l
                && !strncasecmp (p, words[i], strlen (words[i])))
                return true;
    }
    return false;
}

/*  The statements of JOB, then TAIL (NTAIL queries), in one round on C.  */
static void
s_start_stmts (part_pg_t *self, part_pg_conn_t *c, part_pg_job_t *job,
                           const part_pg_query_t *tail, int ntail)
{
    const char *refused = NULL, *state = NULL;
    int status = TPC_EDB;
    size_t nq = job->nstmts + S_RESET_MAX + (size_t) ntail + 1;
    part_pg_query_t local[S_LOCAL_QUERIES];
    part_pg_query_t *q = nq <= S_LOCAL_QUERIES
                         ? memset (local, 0, sizeof local)
                         : calloc (nq, sizeof *q);
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
        if (q != local)
            free (q);
        c->job = NULL;
        part_pg_complete (self, job, status, refused, state);
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
    if (q != local)
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

/*  A, B, C and D (NULL: nothing) one after the other in BUF of SIZE bytes
 *  (> 0), cut to fit like snprintf: the SQL and names built for every
 *  transaction, without snprintf's format parsing.  Returns BUF.         */
static const char *
s_cat (char *buf, size_t size, const char *a, const char *b, const char *c,
       const char *d)
{
    const char *parts[4] = { a, b, c, d };
    size_t n = 0;
    for (size_t i = 0; i < 4; i++) {
        if (!parts[i])
            continue;
        size_t k = strlen (parts[i]);
        if (k > size - 1 - n)
            k = size - 1 - n;
        memcpy (buf + n, parts[i], k);
        n += k;
    }
    buf[n] = '\0';
    return buf;
}

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
    return s_cat (buf, TPC_GID_MAX + 16, gid, self->gsuffix, NULL, NULL);
}

/* ------------------------------------------------------------------ */
/*  EXEC: the work's statements, in the transaction left open          */

static void
s_exec_start (part_pg_t *self, part_pg_conn_t *c, part_pg_job_t *job)
{
    if (job->nstmts == 0) {
        c->job = NULL;
        part_pg_complete (self, job, 0, NULL, NULL);
        return;
    }
    s_start_stmts (self, c, job, NULL, 0);
}

static void
s_exec_done (part_pg_t *self, part_pg_conn_t *c, part_pg_job_t *job, int e,
             PGresult *last)
{
    if (e >= 0)
        s_complete_pgerr (self, c, job, c->res[e]);
    else if (PQtransactionStatus (c->pq) != PQTRANS_INTRANS)
        part_pg_complete (self, job, TPC_EDB, "a statement ended the "
                          "transaction (COMMIT, ROLLBACK and PREPARE "
                          "TRANSACTION are not allowed in work)", "25000");
    else {
        job->result = last;
        c->res[c->nq - 1] = NULL;
        part_pg_complete (self, job, 0, NULL, NULL);
    }
    part_pg_round_reset (c);            /* the transaction stays pinned */
}

/* ------------------------------------------------------------------ */
/*  PREPARE, COMMIT_ONEPHASE: the statements, the marker, then PREPARE
 *  TRANSACTION or COMMIT; a read-only PREPARE then COMMIT PREPARED       */

static void
s_end_start (part_pg_t *self, part_pg_conn_t *c, part_pg_job_t *job)
{
    const char *gidp[1] = { job->gid };
    char sql[200];
    /* the gid passed tpc_gid_parse: [A-Za-z0-9_] only */
    if (job->op == PART_RM_PREPARE)
        s_cat (sql, sizeof sql, "PREPARE TRANSACTION '", job->gid,
               self->gsuffix, "'");
    else
        s_cat (sql, sizeof sql, "COMMIT", NULL, NULL, NULL);
    part_pg_query_t q[2] = {
        { job->keep_readonly ? S_MARKER_ALWAYS_SQL : S_MARKER_SQL, 1, gidp,
          true },
        { sql, 0, NULL, false }
    };
    job->step = 1;
    s_start_stmts (self, c, job, q, 2);
}

/*  Nothing written, yet prepared: commit it, then vote readonly (the rare
 *  case pays a second round trip so that the common one needs one).     */
static void
s_prepare_readonly (part_pg_t *self, part_pg_conn_t *c, part_pg_job_t *job)
{
    char sql[200];
    part_pg_unpin (self, c);
    part_pg_round_reset (c);
    c->job = job;
    job->step = 2;
    s_cat (sql, sizeof sql, "COMMIT PREPARED '", job->gid, self->gsuffix,
           "'");
    part_pg_query_t q = { sql, 0, NULL, false };
    part_pg_send_round (self, c, &q, 1, 0);
}

static void
s_end_done (part_pg_t *self, part_pg_conn_t *c, part_pg_job_t *job, int e,
            PGresult *last)
{
    const char *tag = job->op == PART_RM_PREPARE ? "PREPARE TRANSACTION"
                                                 : "COMMIT";
    if (e >= 0)
        s_complete_pgerr (self, c, job, c->res[e]);
    else if (!s_tag_is (last, tag))
        part_pg_complete (self, job, TPC_EDB, job->op == PART_RM_PREPARE
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
            s_prepare_readonly (self, c, job);
            return;
        }
        /* PREPARE: durable, vote yes */
        part_pg_complete (self, job, 0, NULL, NULL);
    }
    s_txn_over (self, c);
}

static void
s_prepare_done (part_pg_t *self, part_pg_conn_t *c, part_pg_job_t *job,
                int e, PGresult *last)
{
    if (job->step != 2) {
        s_end_done (self, c, job, e, last);
        return;
    }
    /* read-only: its COMMIT PREPARED */
    if (e >= 0) {
        /* it stays prepared: say so the way a lost session does, so that
         * an abort rolls it back */
        char msg[600];
        const char *m = c->res[e] ? PQresultErrorMessage (c->res[e]) : "";
        snprintf (msg, sizeof msg, "read-only transaction prepared but "
                  "not committed: %s", m && *m ? m : PQerrorMessage (c->pq));
        part_pg_complete (self, job, TPC_ECONNECT, msg, NULL);
    }
    else {
        job->readonly = true;
        part_pg_complete (self, job, 0, NULL, NULL);
    }
    s_round_over (self, c);
}

/* ------------------------------------------------------------------ */
/*  ROLLBACK: of the open transaction (nothing to send before BEGIN)    */

static void
s_rollback_start (part_pg_t *self, part_pg_conn_t *c, part_pg_job_t *job)
{
    if (!c->begun) {
        c->job = NULL;
        part_pg_complete (self, job, 0, NULL, NULL);
        part_pg_unpin (self, c);
        part_pg_release (self, c);
        return;
    }
    part_pg_query_t q = { "ROLLBACK", 0, NULL, false };
    part_pg_send_round (self, c, &q, 1, 0);
}

static void
s_rollback_done (part_pg_t *self, part_pg_conn_t *c, part_pg_job_t *job,
                 int e, PGresult *last)
{
    (void) e;
    (void) last;
    part_pg_complete (self, job, 0, NULL, NULL);
    s_txn_over (self, c);
}

/* ------------------------------------------------------------------ */
/*  COMMIT PREPARED, ROLLBACK PREPARED (phase 2, any free connection)   */

static void
s_finish_start (part_pg_t *self, part_pg_conn_t *c, part_pg_job_t *job)
{
    char sql[200], pggid[TPC_GID_MAX + 16];
    /* the gid passed tpc_gid_parse: [A-Za-z0-9_] only */
    s_cat (sql, sizeof sql, job->op == PART_RM_COMMIT_PREPARED
           ? "COMMIT PREPARED '" : "ROLLBACK PREPARED '",
           s_pg_gid (self, job->gid, pggid), "'", NULL);
    part_pg_query_t q = { sql, 0, NULL, false };
    part_pg_send_round (self, c, &q, 1, 0);
}

static void
s_finish_done (part_pg_t *self, part_pg_conn_t *c, part_pg_job_t *job,
               int e, PGresult *last)
{
    (void) last;
    if (e >= 0)
        s_complete_pgerr (self, c, job, c->res[e]);
    else
        part_pg_complete (self, job, 0, NULL, NULL);
    s_round_over (self, c);
}

/* ------------------------------------------------------------------ */
/*  OUTCOME_OF: the marker and pg_prepared_xacts                        */

static void
s_outcome_start (part_pg_t *self, part_pg_conn_t *c, part_pg_job_t *job)
{
    char pggid[TPC_GID_MAX + 16];
    const char *p2[2] = { job->gid, s_pg_gid (self, job->gid, pggid) };
    part_pg_query_t q = { "SELECT (SELECT kind FROM tpc_marker WHERE gid = $1), "
                          "EXISTS (SELECT 1 FROM pg_prepared_xacts WHERE gid = $2)",
                          2, p2, false };
    part_pg_send_round (self, c, &q, 1, 0);
}

static void
s_outcome_done (part_pg_t *self, part_pg_conn_t *c, part_pg_job_t *job,
                int e, PGresult *last)
{
    if (e >= 0)
        s_complete_pgerr (self, c, job, c->res[e]);
    else if (PQntuples (last) != 1)
        part_pg_complete (self, job, TPC_EDB,
                          "marker lookup returned no row", NULL);
    else {
        bool prepared = PQgetvalue (last, 0, 1)[0] == 't';
        char kind = PQgetisnull (last, 0, 0) ? 0 : PQgetvalue (last, 0, 0)[0];
        job->outcome = prepared ? TPC_OUTCOME_IN_PROGRESS
                       : kind == 'C' ? TPC_OUTCOME_COMMITTED
                       : TPC_OUTCOME_ABORTED;
        part_pg_complete (self, job, 0, NULL, NULL);
    }
    s_round_over (self, c);
}

/* ------------------------------------------------------------------ */
/*  TOMBSTONE: an abort marker, unless a commit marker is there         */

static void
s_tombstone_start (part_pg_t *self, part_pg_conn_t *c, part_pg_job_t *job)
{
    const char *gidp[1] = { job->gid };
    part_pg_query_t q[4] = {
        { "BEGIN", 0, NULL, false },
        { "SET LOCAL lock_timeout = '5s'", 0, NULL, false },
        { "WITH ins AS (INSERT INTO tpc_marker (gid, kind) VALUES ($1, 'T') "
          "ON CONFLICT (gid) DO NOTHING RETURNING kind) "
          "SELECT kind FROM ins UNION ALL "
          "SELECT kind FROM tpc_marker WHERE gid = $1", 1, gidp, false },
        { "COMMIT", 0, NULL, false }
    };
    part_pg_send_round (self, c, q, 4, 0);
}

static void
s_tombstone_done (part_pg_t *self, part_pg_conn_t *c, part_pg_job_t *job,
                  int e, PGresult *last)
{
    if (e >= 0)
        s_complete_pgerr (self, c, job, c->res[e]);
    else if (PQntuples (c->res[2]) != 1 || !s_tag_is (last, "COMMIT"))
        part_pg_complete (self, job, TPC_EDB, "tombstone raced with a "
                          "concurrent marker insert; retry", "40001");
    else {
        job->outcome = PQgetvalue (c->res[2], 0, 0)[0] == 'C'
                       ? TPC_OUTCOME_COMMITTED : TPC_OUTCOME_ABORTED;
        part_pg_complete (self, job, 0, NULL, NULL);
    }
    s_round_over (self, c);
}

/* ------------------------------------------------------------------ */
/*  RECOVER: this database's prepared tpc gids                          */

static void
s_recover_start (part_pg_t *self, part_pg_conn_t *c, part_pg_job_t *job)
{
    (void) job;
    part_pg_query_t q = { "SELECT gid FROM pg_prepared_xacts WHERE database = "
                          "current_database() AND gid LIKE 'tpc\\_%'", 0, NULL,
                          false };
    part_pg_send_round (self, c, &q, 1, 0);
}

static void
s_recover_done (part_pg_t *self, part_pg_conn_t *c, part_pg_job_t *job,
                int e, PGresult *last)
{
    if (e >= 0)
        s_complete_pgerr (self, c, job, c->res[e]);
    else {
        job->result = last;
        c->res[c->nq - 1] = NULL;
        part_pg_complete (self, job, 0, NULL, NULL);
    }
    s_round_over (self, c);
}

/* ------------------------------------------------------------------ */
/*  PURGE (part_pg's own job, see "Marker retention" in part_pg.c): the
 *  old markers of gids no prepared transaction of the cluster names (a
 *  database's agent prepares gid@oid, by hand or an older agent gid)    */

static void
s_purge_start (part_pg_t *self, part_pg_conn_t *c, part_pg_job_t *job)
{
    (void) job;
    char secs[24];
    snprintf (secs, sizeof secs, "%llu",
              (unsigned long long) self->cfg.marker_retention_s);
    const char *p[1] = { secs };
#define S_STR2(x) #x
#define S_STR(x) S_STR2 (x)
    part_pg_query_t q[4] = {
        { "BEGIN", 0, NULL, false },
        { "SET LOCAL lock_timeout = '1s'", 0, NULL, false },
        { "DELETE FROM tpc_marker WHERE gid IN (SELECT m.gid FROM tpc_marker m "
          "WHERE m.at < now() - make_interval(secs => $1::float8) "
          "AND NOT EXISTS (SELECT 1 FROM pg_prepared_xacts x "
          "WHERE split_part(x.gid, '@', 1) = m.gid) "
          "LIMIT " S_STR (PART_PG_PURGE_BATCH) ")", 1, p, false },
        { "COMMIT", 0, NULL, false }
    };
#undef S_STR
#undef S_STR2
    part_pg_send_round (self, c, q, 4, 0);
}

static void
s_purge_done (part_pg_t *self, part_pg_conn_t *c, part_pg_job_t *job,
              int e, PGresult *last)
{
    if (e >= 0)
        s_complete_pgerr (self, c, job, c->res[e]);
    else if (!s_tag_is (last, "COMMIT"))
        part_pg_complete (self, job, TPC_EDB, "the DELETE was rolled back",
                          NULL);
    else {
        const char *n = PQcmdTuples (c->res[2]);
        job->count = n && *n ? strtoll (n, NULL, 10) : 0;
        part_pg_complete (self, job, 0, NULL, NULL);
    }
    s_round_over (self, c);
}

/* ------------------------------------------------------------------ */
/*  The operation table                                                */

/*  start: send JOB's first round on C (C->job is JOB), or finish JOB at
 *  once (then C->job is NULL again).  done: JOB's round on C is over (C->job
 *  already NULL); E is the first query that failed, or -1, LAST the last
 *  query's result; finish JOB and free or keep C, or send its next round
 *  (C->job JOB again).                                                    */
typedef void s_start_fn (part_pg_t *self, part_pg_conn_t *c,
                         part_pg_job_t *job);
typedef void s_done_fn (part_pg_t *self, part_pg_conn_t *c, part_pg_job_t *job,
                        int e, PGresult *last);

typedef struct {
    s_start_fn *start;
    s_done_fn *done;
} s_op_t;

/*  BEGIN only pins a connection (part_pg.c); CONNECTED is an event.       */
static const s_op_t s_ops[PART_PG_OP_COUNT] = {
    [PART_RM_EXEC]              = { s_exec_start, s_exec_done },
    [PART_RM_PREPARE]           = { s_end_start, s_prepare_done },
    [PART_RM_COMMIT_ONEPHASE]   = { s_end_start, s_end_done },
    [PART_RM_ROLLBACK]          = { s_rollback_start, s_rollback_done },
    [PART_RM_COMMIT_PREPARED]   = { s_finish_start, s_finish_done },
    [PART_RM_ROLLBACK_PREPARED] = { s_finish_start, s_finish_done },
    [PART_RM_OUTCOME_OF]        = { s_outcome_start, s_outcome_done },
    [PART_RM_TOMBSTONE]         = { s_tombstone_start, s_tombstone_done },
    [PART_RM_RECOVER]           = { s_recover_start, s_recover_done },
    [PART_PG_OP_PURGE]          = { s_purge_start, s_purge_done },
};

void
part_pg_start (part_pg_t *self, part_pg_conn_t *c, part_pg_job_t *job)
{
    c->job = job;
    if ((unsigned) job->op >= PART_PG_OP_COUNT || !s_ops[job->op].start) {
        c->job = NULL;
        part_pg_complete (self, job, TPC_EINVAL, NULL, NULL);
        return;
    }
    s_ops[job->op].start (self, c, job);
}

/*  Our own cleanup round (ROLLBACK, DISCARD ALL) is over.                */
static void
s_cleanup_done (part_pg_t *self, part_pg_conn_t *c)
{
    int e = s_first_error (c);
    if (e >= 0) {
        char *why = part_pg_trimmed (c->res[e] ? PQresultErrorMessage (c->res[e])
                                               : PQerrorMessage (c->pq));
        part_pg_log (self, PART_PG_WARNING, "connection %zu: cleanup failed (%s): "
                     "re-opening it", c->index, why ? why : "?");
        free (why);
        part_pg_conn_close (self, c);
        c->state = C_DOWN;
        c->retry_at = self->now;
        part_pg_outage (self);
        return;
    }
    s_round_over (self, c);
}

void
part_pg_on_round (part_pg_t *self, part_pg_conn_t *c)
{
    part_pg_job_t *job = c->job;
    if (!job) {
        s_cleanup_done (self, c);
        return;
    }
    int e = s_first_error (c);
    PGresult *last = c->nq ? c->res[c->nq - 1] : NULL;
    c->job = NULL;
    s_done_fn *done = s_ops[job->op].done ? s_ops[job->op].done : s_finish_done;
    done (self, c, job, e, last);
}
