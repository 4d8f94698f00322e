/*  test_part_maria: the MariaDB resource manager (participant/part_maria)
 *  driven in this process, the way the agent drives it (submit, pollfds,
 *  timeout, process), against a real throwaway mariadbd (scripts/mariatmp).
 *  Asserts what MariaDB holds afterwards: rows, XA RECOVER, the marker
 *  table; every test ends with no prepared branch left.  A missing
 *  MariaDB fails the suite (never skips).
 */
#include <mysql.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "part_maria.h"
#include "tpc_error.h"
#include "tpc_gid.h"
#include "tpc_harness.h"
#include "tpc_test.h"

static char *s_dir;
static char s_mdir[600];
static char s_conninfo[512];

/* ------------------------------------------------------------------ */
/*  Driving a resource manager                                         */

#define S_RES 512

typedef struct {
    bool got;
    int status;
    char error[512];
    char sqlstate[6];
    bool readonly;
    tpc_outcome_t outcome;
    size_t ngids;
    char gids[64][TPC_GID_MAX];
    size_t nrows, ncols;
    char cell[128];             /* first cell of the last row, "" = NULL */
    int64_t affected;
} s_res_t;

static s_res_t s_res[S_RES];
static int s_connected;         /* CONNECTED events seen */
static uint64_t s_next_req = 1;

static void
s_emit (void *arg, const part_rm_result_t *r)
{
    (void) arg;
    if (r->op == PART_RM_CONNECTED) {
        s_connected++;
        return;
    }
    s_res_t *o = &s_res[r->req % S_RES];
    memset (o, 0, sizeof *o);
    o->got = true;
    o->status = r->status;
    snprintf (o->error, sizeof o->error, "%s", r->error ? r->error : "");
    snprintf (o->sqlstate, sizeof o->sqlstate, "%s", r->sqlstate);
    o->readonly = r->readonly;
    o->outcome = r->outcome;
    o->affected = r->affected;
    o->nrows = r->nrows;
    o->ncols = r->ncolumns;
    if (r->nrows && r->ncolumns) {
        const char *c = r->cells[(r->nrows - 1) * r->ncolumns];
        snprintf (o->cell, sizeof o->cell, "%s", c ? c : "");
    }
    for (size_t i = 0; i < r->ngids && i < 64; i++)
        snprintf (o->gids[o->ngids++], TPC_GID_MAX, "%s", r->gids[i]);
}

/*  One turn of the agent's loop: poll the RM's descriptors as long as
 *  its timeout says (at most 50 ms), then process.                       */
static void
s_turn (const part_rm_t *rm)
{
    part_rm_pollfd_t fds[256];
    struct pollfd p[256];
    size_t n = rm->pollfds (rm->self, fds, 256);
    for (size_t i = 0; i < n; i++)
        p[i] = (struct pollfd) { .fd = fds[i].fd, .events = fds[i].events };
    int64_t t = rm->timeout (rm->self, (uint64_t) tpc_now_ms ());
    if (t < 0 || t > 50)
        t = 50;
    poll (p, (nfds_t) n, (int) t);
    rm->process (rm->self, (uint64_t) tpc_now_ms (), s_emit, NULL);
}

static uint64_t
s_submit (const part_rm_t *rm, part_rm_op_t op, const char *gid,
          const char *const *sql, size_t n)
{
    tpc_stmt_t st[8];
    memset (st, 0, sizeof st);
    for (size_t i = 0; i < n; i++)
        st[i].sql = (char *) sql[i];
    uint64_t req = s_next_req++;
    s_res[req % S_RES].got = false;
    part_rm_req_t r = { .req = req, .op = op, .gid = gid, .nstmts = n,
                        .stmts = st };
    CU_ASSERT_EQUAL_FATAL (rm->submit (rm->self, &r, (uint64_t) tpc_now_ms ()), 0);
    return req;
}

/*  Wait (30 s at most) for REQ's completion.                             */
static s_res_t *
s_wait (const part_rm_t *rm, uint64_t req)
{
    int64_t end = tpc_now_ms () + 30000;
    while (!s_res[req % S_RES].got && tpc_now_ms () < end)
        s_turn (rm);
    CU_ASSERT_FATAL (s_res[req % S_RES].got);
    return &s_res[req % S_RES];
}

static s_res_t *
s_do (const part_rm_t *rm, part_rm_op_t op, const char *gid,
      const char *const *sql, size_t n)
{
    return s_wait (rm, s_submit (rm, op, gid, sql, n));
}

#define S_OP(rm, op, gid) s_do (rm, op, gid, NULL, 0)
#define S_SQL(rm, op, gid, ...) \
    s_do (rm, op, gid, (const char *const[]) { __VA_ARGS__ }, \
          sizeof ((const char *const[]) { __VA_ARGS__ }) / sizeof (char *))

static part_maria_t *
s_rm_new (const char *agent, size_t pool)
{
    char err[1024] = "";
    part_maria_config_t cfg = { .conninfo = s_conninfo, .agent = agent,
                                .pool = pool };
    part_maria_t *m = part_maria_new (&cfg, err, sizeof err);
    if (!m)
        fprintf (stderr, "part_maria_new: %s\n", err);
    CU_ASSERT_PTR_NOT_NULL_FATAL (m);
    /* wait until the whole pool is open */
    const part_rm_t *rm = part_maria_rm (m);
    int64_t end = tpc_now_ms () + 20000;
    while (part_maria_connected (m) < pool && tpc_now_ms () < end)
        s_turn (rm);
    CU_ASSERT_EQUAL_FATAL (part_maria_connected (m), pool);
    return m;
}

/* ------------------------------------------------------------------ */
/*  What MariaDB holds                                                 */

static int64_t
s_int (const char *sql)
{
    return tpc_harness_maria_sql_int (s_conninfo, sql);
}

/*  Rows of XA RECOVER (every branch prepared on the server).             */
static int
s_xa_left (void)
{
    void *c = tpc_harness_maria_connect (s_conninfo);
    int n = -1;
    if (c && !mysql_query (c, "XA RECOVER")) {
        MYSQL_RES *r = mysql_store_result (c);
        n = r ? (int) mysql_num_rows (r) : -1;
        if (r)
            mysql_free_result (r);
    }
    tpc_harness_maria_close (&c);
    return n;
}

/*  After a failed assert: which server answers on s_conninfo (its data
 *  directory should be s_mdir's), and the branches it holds prepared.     */
static void
s_server_report (void)
{
    void *c = tpc_harness_maria_connect (s_conninfo);
    MYSQL_RES *r = NULL;
    MYSQL_ROW row;
    if (c && !mysql_query (c, "SELECT @@port, @@datadir")
        && (r = mysql_store_result (c)) && (row = mysql_fetch_row (r)))
        fprintf (stderr, "  server: port %s, datadir %s (ours: %s/data)\n",
                 row[0], row[1], s_mdir);
    if (r)
        mysql_free_result (r);
    r = NULL;
    if (c && !mysql_query (c, "XA RECOVER") && (r = mysql_store_result (c)))
        while ((row = mysql_fetch_row (r)))
            fprintf (stderr, "  prepared: %s\n", row[3] ? row[3] : "?");
    if (r)
        mysql_free_result (r);
    tpc_harness_maria_close (&c);
}

static void
s_reset_table (void)
{
    /* the tests reuse gids: their markers go too */
    CU_ASSERT_EQUAL (tpc_harness_maria_sql (s_conninfo, "DELETE FROM t; "
                     "DELETE FROM tpc_marker"), 0);
}

#define G1 "tpc_c1_1_1"
#define G2 "tpc_c1_1_2"
#define G3 "tpc_c1_1_3"
/* 79 bytes: gtrid 64, the rest in bqual */
#define GLONG "tpc_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef_9999999999999999999_9999999999999999999"

/* ------------------------------------------------------------------ */
/*  Tests                                                              */

static void
test_prepare_commit (void)
{
    part_maria_t *m = s_rm_new ("a1", 3);
    const part_rm_t *rm = part_maria_rm (m);
    s_reset_table ();
    CU_ASSERT_EQUAL (S_OP (rm, PART_RM_BEGIN, G1)->status, 0);
    s_res_t *r = S_SQL (rm, PART_RM_EXEC, G1, "INSERT INTO t VALUES (1, 10)",
                        "INSERT INTO t VALUES (2, 20)");
    CU_ASSERT_EQUAL (r->status, 0);
    CU_ASSERT_EQUAL (r->affected, 1);
    r = S_SQL (rm, PART_RM_EXEC, G1, "SELECT k, v FROM t ORDER BY k");
    CU_ASSERT_EQUAL (r->status, 0);
    CU_ASSERT_EQUAL (r->nrows, 2);
    CU_ASSERT_EQUAL (r->ncols, 2);
    CU_ASSERT_STRING_EQUAL (r->cell, "2");
    r = S_OP (rm, PART_RM_PREPARE, G1);
    CU_ASSERT_EQUAL (r->status, 0);
    CU_ASSERT_FALSE (r->readonly);
    CU_ASSERT_EQUAL (s_xa_left (), 1);
    r = S_OP (rm, PART_RM_RECOVER, NULL);
    CU_ASSERT_EQUAL (r->status, 0);
    CU_ASSERT_EQUAL_FATAL (r->ngids, 1);
    CU_ASSERT_STRING_EQUAL (r->gids[0], G1);
    r = S_OP (rm, PART_RM_OUTCOME_OF, G1);
    CU_ASSERT_EQUAL (r->status, 0);
    CU_ASSERT_EQUAL (r->outcome, TPC_OUTCOME_IN_PROGRESS);
    CU_ASSERT_EQUAL (s_int ("SELECT COUNT(*) FROM t"), 0);
    CU_ASSERT_EQUAL (S_OP (rm, PART_RM_COMMIT_PREPARED, G1)->status, 0);
    CU_ASSERT_EQUAL (s_int ("SELECT SUM(v) FROM t"), 30);
    CU_ASSERT_EQUAL (s_int ("SELECT COUNT(*) FROM tpc_marker WHERE gid = '"
                            G1 "' AND kind = 'C'"), 1);
    r = S_OP (rm, PART_RM_OUTCOME_OF, G1);
    CU_ASSERT_EQUAL (r->outcome, TPC_OUTCOME_COMMITTED);
    /* phase 2 again: not prepared any more */
    r = S_OP (rm, PART_RM_COMMIT_PREPARED, G1);
    CU_ASSERT_EQUAL (r->status, TPC_ENOENT);
    CU_ASSERT_EQUAL (S_OP (rm, PART_RM_ROLLBACK_PREPARED, G1)->status,
                     TPC_ENOENT);
    /* prepare, then roll back */
    CU_ASSERT_EQUAL (S_OP (rm, PART_RM_BEGIN, G2)->status, 0);
    CU_ASSERT_EQUAL (S_SQL (rm, PART_RM_PREPARE, G2,
                            "INSERT INTO t VALUES (3, 30)")->status, 0);
    CU_ASSERT_EQUAL (S_OP (rm, PART_RM_ROLLBACK_PREPARED, G2)->status, 0);
    CU_ASSERT_EQUAL (s_int ("SELECT COUNT(*) FROM t WHERE k = 3"), 0);
    CU_ASSERT_EQUAL (S_OP (rm, PART_RM_OUTCOME_OF, G2)->outcome,
                     TPC_OUTCOME_ABORTED);
    CU_ASSERT_EQUAL (s_xa_left (), 0);
    part_maria_destroy (&m);
    CU_ASSERT_PTR_NULL (m);
}

static void
test_readonly_onephase_rollback (void)
{
    part_maria_t *m = s_rm_new ("a1", 2);
    const part_rm_t *rm = part_maria_rm (m);
    s_reset_table ();
    /* a branch that only read votes readonly and leaves nothing */
    CU_ASSERT_EQUAL (S_OP (rm, PART_RM_BEGIN, G1)->status, 0);
    CU_ASSERT_EQUAL (S_SQL (rm, PART_RM_EXEC, G1, "SELECT 1")->status, 0);
    s_res_t *r = S_OP (rm, PART_RM_PREPARE, G1);
    CU_ASSERT_EQUAL (r->status, 0);
    CU_ASSERT_TRUE (r->readonly);
    CU_ASSERT_EQUAL (s_xa_left (), 0);
    CU_ASSERT_EQUAL (s_int ("SELECT COUNT(*) FROM tpc_marker WHERE gid = '"
                            G1 "'"), 0);
    /* keep_readonly: prepared all the same, with its marker */
    CU_ASSERT_EQUAL (S_OP (rm, PART_RM_BEGIN, G2)->status, 0);
    uint64_t req = s_next_req++;
    part_rm_req_t kr = { .req = req, .op = PART_RM_PREPARE, .gid = G2,
                         .keep_readonly = true };
    CU_ASSERT_EQUAL (rm->submit (rm->self, &kr, (uint64_t) tpc_now_ms ()), 0);
    r = s_wait (rm, req);
    CU_ASSERT_EQUAL (r->status, 0);
    CU_ASSERT_FALSE (r->readonly);
    CU_ASSERT_EQUAL (s_xa_left (), 1);
    CU_ASSERT_EQUAL (S_OP (rm, PART_RM_COMMIT_PREPARED, G2)->status, 0);
    CU_ASSERT_EQUAL (s_int ("SELECT COUNT(*) FROM tpc_marker WHERE gid = '"
                            G2 "'"), 1);
    /* one phase: statements and commit in one round trip */
    CU_ASSERT_EQUAL (S_OP (rm, PART_RM_BEGIN, G3)->status, 0);
    CU_ASSERT_EQUAL (S_SQL (rm, PART_RM_COMMIT_ONEPHASE, G3,
                            "INSERT INTO t VALUES (5, 50)")->status, 0);
    CU_ASSERT_EQUAL (s_int ("SELECT v FROM t WHERE k = 5"), 50);
    CU_ASSERT_EQUAL (s_int ("SELECT COUNT(*) FROM tpc_marker WHERE gid = '"
                            G3 "' AND kind = 'C'"), 1);
    /* rollback of an open branch; of one never begun; of no transaction */
    CU_ASSERT_EQUAL (S_OP (rm, PART_RM_BEGIN, "tpc_c1_1_4")->status, 0);
    CU_ASSERT_EQUAL (S_SQL (rm, PART_RM_EXEC, "tpc_c1_1_4",
                            "INSERT INTO t VALUES (6, 60)")->status, 0);
    CU_ASSERT_EQUAL (S_OP (rm, PART_RM_ROLLBACK, "tpc_c1_1_4")->status, 0);
    CU_ASSERT_EQUAL (s_int ("SELECT COUNT(*) FROM t WHERE k = 6"), 0);
    CU_ASSERT_EQUAL (S_OP (rm, PART_RM_BEGIN, "tpc_c1_1_5")->status, 0);
    CU_ASSERT_EQUAL (S_OP (rm, PART_RM_ROLLBACK, "tpc_c1_1_5")->status, 0);
    CU_ASSERT_EQUAL (S_OP (rm, PART_RM_ROLLBACK, "tpc_c1_1_6")->status, 0);
    CU_ASSERT_EQUAL (S_SQL (rm, PART_RM_EXEC, "tpc_c1_1_6", "SELECT 1")->status,
                     TPC_EUNKNOWN_GID);
    CU_ASSERT_EQUAL (S_OP (rm, PART_RM_PREPARE, "tpc_c1_1_6")->status,
                     TPC_EUNKNOWN_GID);
    /* a bad gid never reaches SQL */
    part_rm_req_t bad = { .req = 1, .op = PART_RM_BEGIN, .gid = "x'; DROP" };
    CU_ASSERT_EQUAL (rm->submit (rm->self, &bad, (uint64_t) tpc_now_ms ()),
                     TPC_EINVAL);
    /* parameters: $1.. become escaped literals, NULL stays NULL */
    CU_ASSERT_EQUAL (S_OP (rm, PART_RM_BEGIN, "tpc_c1_1_7")->status, 0);
    char *params[2] = { "7", NULL };
    tpc_stmt_t st = { .sql = "INSERT INTO t2 (k, v, note) VALUES ($1, 70, $2)",
                      .nparams = 2, .params = params };
    tpc_stmt_t st2 = { .sql = "UPDATE t2 SET note = $1 WHERE k = 7 AND "
                       "note IS NULL AND '$1' = '$1'", .nparams = 1,
                       .params = (char *[]) { "it's \\ \"odd\"" } };
    tpc_stmt_t sts[2] = { st, st2 };
    req = s_next_req++;
    part_rm_req_t pr = { .req = req, .op = PART_RM_COMMIT_ONEPHASE,
                         .gid = "tpc_c1_1_7", .nstmts = 2, .stmts = sts };
    CU_ASSERT_EQUAL (rm->submit (rm->self, &pr, (uint64_t) tpc_now_ms ()), 0);
    r = s_wait (rm, req);
    CU_ASSERT_EQUAL (r->status, 0);
    CU_ASSERT_EQUAL (s_int ("SELECT COUNT(*) FROM t2 WHERE k = 7 AND note = "
                            "'it''s \\\\ \"odd\"'"), 1);
    CU_ASSERT_EQUAL (s_xa_left (), 0);
    part_maria_destroy (&m);
}

static void
test_statement_error (void)
{
    part_maria_t *m = s_rm_new ("a1", 2);
    const part_rm_t *rm = part_maria_rm (m);
    s_reset_table ();
    CU_ASSERT_EQUAL (S_OP (rm, PART_RM_BEGIN, G1)->status, 0);
    CU_ASSERT_EQUAL (S_SQL (rm, PART_RM_EXEC, G1,
                            "INSERT INTO t VALUES (1, 1)")->status, 0);
    s_res_t *r = S_SQL (rm, PART_RM_EXEC, G1, "SELECT * FROM no_such_table");
    CU_ASSERT_EQUAL (r->status, TPC_EDB);
    CU_ASSERT_STRING_EQUAL (r->sqlstate, "42S02");
    CU_ASSERT_PTR_NOT_NULL (strstr (r->error, "no_such_table"));
    CU_ASSERT_EQUAL (S_OP (rm, PART_RM_ROLLBACK, G1)->status, 0);
    /* a failing statement in PREPARE: vote no, nothing prepared or kept */
    CU_ASSERT_EQUAL (S_OP (rm, PART_RM_BEGIN, G2)->status, 0);
    r = S_SQL (rm, PART_RM_PREPARE, G2, "INSERT INTO t VALUES (2, 2)",
               "INSERT INTO t VALUES (2, 2)");
    CU_ASSERT_EQUAL (r->status, TPC_EDB);
    CU_ASSERT_STRING_EQUAL (r->sqlstate, "23000");
    CU_ASSERT_PTR_NOT_NULL (strstr (r->error, "Duplicate"));
    /* a statement that would end the branch is refused by the server */
    CU_ASSERT_EQUAL (S_OP (rm, PART_RM_BEGIN, G3)->status, 0);
    r = S_SQL (rm, PART_RM_EXEC, G3, "INSERT INTO t VALUES (3, 3)", "COMMIT");
    CU_ASSERT_EQUAL (r->status, TPC_EDB);
    CU_ASSERT_EQUAL (S_OP (rm, PART_RM_ROLLBACK, G3)->status, 0);
    CU_ASSERT_EQUAL (s_int ("SELECT COUNT(*) FROM t"), 0);
    CU_ASSERT_EQUAL (s_xa_left (), 0);
    /* the pool recovered from the closed sessions */
    CU_ASSERT_EQUAL (S_OP (rm, PART_RM_BEGIN, G1)->status, 0);
    CU_ASSERT_EQUAL (S_SQL (rm, PART_RM_COMMIT_ONEPHASE, G1,
                            "INSERT INTO t VALUES (9, 9)")->status, 0);
    CU_ASSERT_EQUAL (s_int ("SELECT COUNT(*) FROM t"), 1);
    part_maria_destroy (&m);
}

static void
test_tombstone (void)
{
    part_maria_t *m = s_rm_new ("a1", 2);
    const part_rm_t *rm = part_maria_rm (m);
    s_reset_table ();
    /* rollback racing prepare: the tombstone comes first, the late
     * PREPARE fails on the marker's key and leaves nothing prepared */
    s_res_t *r = S_OP (rm, PART_RM_TOMBSTONE, G1);
    CU_ASSERT_EQUAL (r->status, 0);
    CU_ASSERT_EQUAL (r->outcome, TPC_OUTCOME_ABORTED);
    CU_ASSERT_EQUAL (S_OP (rm, PART_RM_BEGIN, G1)->status, 0);
    r = S_SQL (rm, PART_RM_PREPARE, G1, "INSERT INTO t VALUES (1, 1)");
    CU_ASSERT_EQUAL (r->status, TPC_EDB);
    CU_ASSERT_PTR_NOT_NULL (strstr (r->error, "Duplicate"));
    CU_ASSERT_EQUAL (s_xa_left (), 0);
    CU_ASSERT_EQUAL (s_int ("SELECT COUNT(*) FROM t"), 0);
    /* a second tombstone: still aborted; OUTCOME_OF agrees */
    CU_ASSERT_EQUAL (S_OP (rm, PART_RM_TOMBSTONE, G1)->outcome,
                     TPC_OUTCOME_ABORTED);
    CU_ASSERT_EQUAL (S_OP (rm, PART_RM_OUTCOME_OF, G1)->outcome,
                     TPC_OUTCOME_ABORTED);
    /* a tombstone after a commit reports the commit */
    CU_ASSERT_EQUAL (S_OP (rm, PART_RM_BEGIN, G2)->status, 0);
    CU_ASSERT_EQUAL (S_SQL (rm, PART_RM_COMMIT_ONEPHASE, G2,
                            "INSERT INTO t VALUES (2, 2)")->status, 0);
    CU_ASSERT_EQUAL (S_OP (rm, PART_RM_TOMBSTONE, G2)->outcome,
                     TPC_OUTCOME_COMMITTED);
    part_maria_destroy (&m);
}

/*  G prepared by an RM that is then destroyed (its sessions closed).     */
static void
s_prepare_and_drop (const char *agent, const char *gid, const char *sql)
{
    part_maria_t *m = s_rm_new (agent, 2);
    const part_rm_t *rm = part_maria_rm (m);
    CU_ASSERT_EQUAL (S_OP (rm, PART_RM_BEGIN, gid)->status, 0);
    CU_ASSERT_EQUAL (S_SQL (rm, PART_RM_PREPARE, gid, sql)->status, 0);
    part_maria_destroy (&m);
}

static void
test_recover_after_disconnect (void)
{
    s_reset_table ();
    s_prepare_and_drop ("a1", G1, "INSERT INTO t VALUES (1, 1)");
    s_prepare_and_drop ("a1", GLONG, "INSERT INTO t VALUES (2, 2)");
    CU_ASSERT_EQUAL (s_xa_left (), 2);
    part_maria_t *m = s_rm_new ("a1", 2);
    const part_rm_t *rm = part_maria_rm (m);
    s_res_t *r = S_OP (rm, PART_RM_RECOVER, NULL);
    CU_ASSERT_EQUAL (r->status, 0);
    CU_ASSERT_EQUAL_FATAL (r->ngids, 2);
    bool g1 = false, glong = false;
    for (size_t i = 0; i < r->ngids; i++) {
        g1 |= !strcmp (r->gids[i], G1);
        glong |= !strcmp (r->gids[i], GLONG);
    }
    CU_ASSERT_TRUE (g1);
    CU_ASSERT_TRUE (glong);
    CU_ASSERT_EQUAL (S_OP (rm, PART_RM_COMMIT_PREPARED, G1)->status, 0);
    CU_ASSERT_EQUAL (S_OP (rm, PART_RM_OUTCOME_OF, GLONG)->outcome,
                     TPC_OUTCOME_IN_PROGRESS);
    CU_ASSERT_EQUAL (S_OP (rm, PART_RM_COMMIT_PREPARED, GLONG)->status, 0);
    CU_ASSERT_EQUAL (S_OP (rm, PART_RM_OUTCOME_OF, GLONG)->outcome,
                     TPC_OUTCOME_COMMITTED);
    CU_ASSERT_EQUAL (s_int ("SELECT COUNT(*) FROM t"), 2);
    CU_ASSERT_EQUAL (s_xa_left (), 0);
    part_maria_destroy (&m);
}

/*  OUTCOME_OF racing the branch's XA COMMIT, made deterministic.  Both
 *  RMs work in database tgate (one branch name), whose tpc_marker is a
 *  view: one committed row of tgate.g, read first (the read view opens),
 *  then the gate - GET_LOCK, held here - then the marker rows.  RM B's
 *  OUTCOME_OF waits at the gate while RM A commits the branch.  A marker
 *  read BEFORE XA RECOVER then misses the 'C' and RECOVER no longer lists
 *  the gid: ABORTED for a committed gid.  XA RECOVER first lists it (a
 *  later read sees a commit made before it): IN_PROGRESS, never ABORTED. */
static void
test_outcome_races_commit (void)
{
    void *h = tpc_harness_maria_connect (s_conninfo);
    CU_ASSERT_PTR_NOT_NULL_FATAL (h);
    char ddl[1024];
    snprintf (ddl, sizeof ddl, PART_MARIA_MARKER_DDL, "tgate");
    CU_ASSERT_EQUAL_FATAL (tpc_harness_maria_conn_sql (h,
        "DROP DATABASE IF EXISTS tgate; CREATE DATABASE tgate"), 0);
    CU_ASSERT_EQUAL_FATAL (tpc_harness_maria_conn_sql (h, ddl), 0);
    CU_ASSERT_EQUAL_FATAL (tpc_harness_maria_conn_sql (h,
        "RENAME TABLE tgate.tpc_marker TO tgate.m; "
        "CREATE TABLE tgate.g (x INT) ENGINE=InnoDB; "
        "INSERT INTO tgate.g VALUES (1); "
        "CREATE FUNCTION tgate.gate (x INT) RETURNS INT NOT DETERMINISTIC "
        "RETURN x + GET_LOCK ('tpc_gate', 60) + RELEASE_LOCK ('tpc_gate'); "
        "CREATE VIEW tgate.tpc_marker AS SELECT m.branch, m.gid, m.kind, "
        "m.at FROM tgate.g STRAIGHT_JOIN tgate.m WHERE tgate.gate (g.x) > 0; "
        "DELETE FROM t"), 0);
    char ci[600];
    const char *db = strstr (s_conninfo, "database=tpc");
    CU_ASSERT_PTR_NOT_NULL_FATAL (db);
    snprintf (ci, sizeof ci, "%.*sdatabase=tgate%s", (int) (db - s_conninfo),
              s_conninfo, db + strlen ("database=tpc"));
    part_maria_t *m[2] = { NULL, NULL };
    for (int i = 0; i < 2; i++) {
        char err[1024] = "";
        part_maria_config_t cfg = { .conninfo = ci, .agent = "a1", .pool = 1 };
        m[i] = part_maria_new (&cfg, err, sizeof err);
        if (!m[i])
            fprintf (stderr, "part_maria_new: %s\n", err);
        CU_ASSERT_PTR_NOT_NULL_FATAL (m[i]);
        int64_t end = tpc_now_ms () + 20000;
        while (part_maria_connected (m[i]) < 1 && tpc_now_ms () < end)
            s_turn (part_maria_rm (m[i]));
        CU_ASSERT_EQUAL_FATAL (part_maria_connected (m[i]), 1);
    }
    const part_rm_t *ra = part_maria_rm (m[0]), *rb = part_maria_rm (m[1]);
    CU_ASSERT_EQUAL (S_OP (ra, PART_RM_BEGIN, G1)->status, 0);
    CU_ASSERT_EQUAL (S_SQL (ra, PART_RM_PREPARE, G1,
                            "INSERT INTO tpc.t VALUES (1, 1)")->status, 0);
    CU_ASSERT_EQUAL_FATAL (tpc_harness_maria_conn_sql (h,
                           "DO GET_LOCK ('tpc_gate', 10)"), 0);
    uint64_t req = s_submit (rb, PART_RM_OUTCOME_OF, G1, NULL, 0);
    /* RM B's marker read waits at the gate, its read view open */
    int64_t waiting = 0, end = tpc_now_ms () + 30000;
    while (waiting < 1 && tpc_now_ms () < end) {
        s_turn (rb);
        waiting = s_int ("SELECT COUNT(*) FROM information_schema.PROCESSLIST "
                         "WHERE STATE = 'User lock'");
    }
    CU_ASSERT_EQUAL (waiting, 1);
    /* the branch commits now; then the gate opens */
    CU_ASSERT_EQUAL (S_OP (ra, PART_RM_COMMIT_PREPARED, G1)->status, 0);
    CU_ASSERT_EQUAL (tpc_harness_maria_conn_sql (h, "DO RELEASE_LOCK "
                                                 "('tpc_gate')"), 0);
    s_res_t *r = s_wait (rb, req);
    CU_ASSERT_EQUAL (r->status, 0);
    CU_ASSERT_NOT_EQUAL (r->outcome, TPC_OUTCOME_ABORTED);
    printf ("\npart_maria outcome_races_commit outcome=%s\n",
            r->outcome == TPC_OUTCOME_ABORTED ? "aborted"
            : r->outcome == TPC_OUTCOME_IN_PROGRESS ? "in_progress"
            : r->outcome == TPC_OUTCOME_COMMITTED ? "committed" : "?");
    CU_ASSERT_EQUAL (S_OP (rb, PART_RM_OUTCOME_OF, G1)->outcome,
                     TPC_OUTCOME_COMMITTED);
    CU_ASSERT_EQUAL (s_int ("SELECT COUNT(*) FROM t WHERE k = 1"), 1);
    CU_ASSERT_EQUAL (s_xa_left (), 0);
    part_maria_destroy (&m[1]);
    part_maria_destroy (&m[0]);
    CU_ASSERT_EQUAL (tpc_harness_maria_conn_sql (h, "DROP DATABASE tgate; "
                                                 "DELETE FROM t"), 0);
    tpc_harness_maria_close (&h);
}

static void
test_recover_after_server_kill (void)
{
    part_maria_t *m = s_rm_new ("a1", 2);
    const part_rm_t *rm = part_maria_rm (m);
    s_reset_table ();
    CU_ASSERT_EQUAL (S_OP (rm, PART_RM_BEGIN, G1)->status, 0);
    CU_ASSERT_EQUAL (S_SQL (rm, PART_RM_PREPARE, G1,
                            "INSERT INTO t VALUES (1, 1)")->status, 0);
    /* and one prepared by an agent that is gone too (both crashes) */
    s_prepare_and_drop ("a1", G2, "INSERT INTO t VALUES (2, 2)");
    int before = s_connected;
    CU_ASSERT_EQUAL_FATAL (tpc_harness_maria_cmd ("kill", s_mdir), 0);
    char ci[512];
    CU_ASSERT_EQUAL_FATAL (tpc_harness_maria_start (s_mdir, ci, sizeof ci), 0);
    CU_ASSERT_STRING_EQUAL (ci, s_conninfo);        /* same port */
    /* the RM sees its idle sessions close and reconnects: CONNECTED */
    int64_t end = tpc_now_ms () + 20000;
    while ((s_connected == before || part_maria_connected (m) < 2)
           && tpc_now_ms () < end)
        s_turn (rm);
    CU_ASSERT_TRUE (s_connected > before);
    s_res_t *r = S_OP (rm, PART_RM_RECOVER, NULL);
    CU_ASSERT_EQUAL (r->status, 0);
    CU_ASSERT_EQUAL (r->ngids, 2);
    CU_ASSERT_EQUAL (S_OP (rm, PART_RM_COMMIT_PREPARED, G1)->status, 0);
    CU_ASSERT_EQUAL (S_OP (rm, PART_RM_ROLLBACK_PREPARED, G2)->status, 0);
    CU_ASSERT_EQUAL (s_int ("SELECT COUNT(*) FROM t WHERE k = 1"), 1);
    CU_ASSERT_EQUAL (s_int ("SELECT COUNT(*) FROM t WHERE k = 2"), 0);
    CU_ASSERT_EQUAL (s_xa_left (), 0);
    part_maria_destroy (&m);
}

static void
test_two_participants (void)
{
    part_maria_t *a = s_rm_new ("bank_a", 2), *b = s_rm_new ("bank_b", 2);
    CU_ASSERT_STRING_NOT_EQUAL (part_maria_branch (a), part_maria_branch (b));
    const part_rm_t *ra = part_maria_rm (a), *rb = part_maria_rm (b);
    s_reset_table ();
    /* one gid, one server, one database, two branches */
    CU_ASSERT_EQUAL (S_OP (ra, PART_RM_BEGIN, G1)->status, 0);
    CU_ASSERT_EQUAL (S_OP (rb, PART_RM_BEGIN, G1)->status, 0);
    CU_ASSERT_EQUAL (S_SQL (ra, PART_RM_PREPARE, G1,
                            "INSERT INTO t VALUES (1, 1)")->status, 0);
    CU_ASSERT_EQUAL (S_SQL (rb, PART_RM_PREPARE, G1,
                            "INSERT INTO t VALUES (2, 2)")->status, 0);
    CU_ASSERT_EQUAL (s_xa_left (), 2);
    s_res_t *r = S_OP (ra, PART_RM_RECOVER, NULL);
    CU_ASSERT_EQUAL (r->ngids, 1);
    r = S_OP (rb, PART_RM_RECOVER, NULL);
    CU_ASSERT_EQUAL (r->ngids, 1);
    CU_ASSERT_EQUAL (S_OP (ra, PART_RM_COMMIT_PREPARED, G1)->status, 0);
    CU_ASSERT_EQUAL (S_OP (rb, PART_RM_OUTCOME_OF, G1)->outcome,
                     TPC_OUTCOME_IN_PROGRESS);
    CU_ASSERT_EQUAL (S_OP (rb, PART_RM_ROLLBACK_PREPARED, G1)->status, 0);
    CU_ASSERT_EQUAL (S_OP (ra, PART_RM_OUTCOME_OF, G1)->outcome,
                     TPC_OUTCOME_COMMITTED);
    CU_ASSERT_EQUAL (S_OP (rb, PART_RM_OUTCOME_OF, G1)->outcome,
                     TPC_OUTCOME_ABORTED);
    CU_ASSERT_EQUAL (s_int ("SELECT COUNT(*) FROM t WHERE k = 1"), 1);
    CU_ASSERT_EQUAL (s_int ("SELECT COUNT(*) FROM t WHERE k = 2"), 0);
    CU_ASSERT_EQUAL (s_xa_left (), 0);
    part_maria_destroy (&a);
    part_maria_destroy (&b);
}

static void
test_deadlock_votes_no (void)
{
    part_maria_t *m = s_rm_new ("a1", 2);
    const part_rm_t *rm = part_maria_rm (m);
    s_reset_table ();
    CU_ASSERT_EQUAL (tpc_harness_maria_sql (s_conninfo, "INSERT INTO t VALUES "
                     "(1, 1), (2, 2), (100, 0), (101, 0), (102, 0), (103, 0)"),
                     0);
    void *other = tpc_harness_maria_connect (s_conninfo);
    CU_ASSERT_PTR_NOT_NULL_FATAL (other);
    /* OTHER holds row 2 and more rows (InnoDB picks the lighter
     * transaction, the RM's, as the victim) */
    CU_ASSERT_EQUAL (tpc_harness_maria_conn_sql (other, "BEGIN; UPDATE t SET "
                     "v = v + 1 WHERE k = 2 OR k >= 100"), 0);
    CU_ASSERT_EQUAL (S_OP (rm, PART_RM_BEGIN, G1)->status, 0);
    CU_ASSERT_EQUAL (S_SQL (rm, PART_RM_EXEC, G1,
                            "UPDATE t SET v = v + 1 WHERE k = 1")->status, 0);
    /* the PREPARE's statement waits for row 2 ... */
    uint64_t req = s_submit (rm, PART_RM_PREPARE, G1,
                             (const char *const[]) { "UPDATE t SET v = v + 1 "
                                                     "WHERE k = 2" }, 1);
    int64_t end = tpc_now_ms () + 10000;
    bool waiting = false;
    while (!waiting && tpc_now_ms () < end) {
        s_turn (rm);
        waiting = s_int ("SELECT COUNT(*) FROM information_schema.INNODB_TRX "
                         "WHERE trx_state = 'LOCK WAIT'") >= 1;
    }
    CU_ASSERT_TRUE_FATAL (waiting);
    /* ... and OTHER now wants row 1: a deadlock */
    CU_ASSERT_EQUAL (tpc_harness_maria_conn_sql (other, "UPDATE t SET v = v + 1 "
                     "WHERE k = 1"), 0);
    s_res_t *r = s_wait (rm, req);
    CU_ASSERT_EQUAL (r->status, TPC_EDB);
    CU_ASSERT_STRING_EQUAL (r->sqlstate, "40001");
    CU_ASSERT_PTR_NOT_NULL (strstr (r->error, "1213"));
    CU_ASSERT_PTR_NOT_NULL (strstr (r->error, "Deadlock"));
    CU_ASSERT_EQUAL (tpc_harness_maria_conn_sql (other, "COMMIT"), 0);
    tpc_harness_maria_close (&other);
    CU_ASSERT_EQUAL (s_xa_left (), 0);
    CU_ASSERT_EQUAL (s_int ("SELECT v FROM t WHERE k = 1"), 2);  /* OTHER's */
    CU_ASSERT_EQUAL (s_int ("SELECT v FROM t WHERE k = 2"), 3);
    part_maria_destroy (&m);
}

static void
test_lock_wait_timeout_votes_no (void)
{
    part_maria_t *m = s_rm_new ("a1", 2);
    const part_rm_t *rm = part_maria_rm (m);
    s_reset_table ();
    CU_ASSERT_EQUAL (tpc_harness_maria_sql (s_conninfo,
                     "INSERT INTO t VALUES (1, 1)"), 0);
    void *other = tpc_harness_maria_connect (s_conninfo);
    CU_ASSERT_PTR_NOT_NULL_FATAL (other);
    CU_ASSERT_EQUAL (tpc_harness_maria_conn_sql (other, "BEGIN; UPDATE t SET "
                     "v = 5 WHERE k = 1"), 0);
    CU_ASSERT_EQUAL (S_OP (rm, PART_RM_BEGIN, G1)->status, 0);
    CU_ASSERT_EQUAL (S_SQL (rm, PART_RM_EXEC, G1, "SET SESSION "
                            "innodb_lock_wait_timeout = 1")->status, 0);
    s_res_t *r = S_SQL (rm, PART_RM_PREPARE, G1, "UPDATE t SET v = 7 WHERE k = 1");
    CU_ASSERT_EQUAL (r->status, TPC_EDB);
    CU_ASSERT_PTR_NOT_NULL (strstr (r->error, "1205"));
    CU_ASSERT_PTR_NOT_NULL (strstr (r->error, "Lock wait timeout"));
    CU_ASSERT_EQUAL (tpc_harness_maria_conn_sql (other, "ROLLBACK"), 0);
    tpc_harness_maria_close (&other);
    CU_ASSERT_EQUAL (s_xa_left (), 0);
    CU_ASSERT_EQUAL (s_int ("SELECT v FROM t WHERE k = 1"), 1);
    part_maria_destroy (&m);
}

/*  G1's EXEC waits for a row lock of *OTHER's open transaction and is
 *  interrupted: its session closed, G1 lost.                            */
static void
s_interrupted (const part_rm_t *rm, void **other)
{
    s_reset_table ();
    CU_ASSERT_EQUAL (tpc_harness_maria_sql (s_conninfo,
                     "INSERT INTO t VALUES (1, 1)"), 0);
    *other = tpc_harness_maria_connect (s_conninfo);
    CU_ASSERT_PTR_NOT_NULL_FATAL (*other);
    CU_ASSERT_EQUAL (tpc_harness_maria_conn_sql (*other, "BEGIN; UPDATE t SET "
                     "v = 5 WHERE k = 1"), 0);
    CU_ASSERT_EQUAL (S_OP (rm, PART_RM_BEGIN, G1)->status, 0);
    uint64_t req = s_submit (rm, PART_RM_EXEC, G1, (const char *const[]) {
                             "UPDATE t SET v = 7 WHERE k = 1" }, 1);
    int64_t end = tpc_now_ms () + 10000;
    bool waiting = false;
    while (!waiting && tpc_now_ms () < end) {
        s_turn (rm);
        waiting = s_int ("SELECT COUNT(*) FROM information_schema.PROCESSLIST "
                         "WHERE INFO LIKE 'UPDATE t SET v = 7%'") >= 1;
    }
    CU_ASSERT_TRUE_FATAL (waiting);
    rm->interrupt (rm->self, G1);
    s_res_t *r = s_wait (rm, req);
    CU_ASSERT_EQUAL (r->status, TPC_EABORTED);
    /* the statement stopped on the server while *OTHER still holds the
     * row (closing the session alone left it waiting for the lock, then
     * running: up to innodb_lock_wait_timeout of locks held by nobody) */
    end = tpc_now_ms () + 10000;
    int64_t running = 1;
    while (running && tpc_now_ms () < end) {
        s_turn (rm);
        running = s_int ("SELECT COUNT(*) FROM information_schema.PROCESSLIST "
                         "WHERE INFO LIKE 'UPDATE t SET v = 7%'");
    }
    CU_ASSERT_EQUAL (running, 0);
}

/*  A lost session's gid is remembered until its next operation, whatever
 *  it is (a tombstone, phase 2): no entry left behind per lost session.  */
static void
test_lost_forgotten (void)
{
    part_maria_t *m = s_rm_new ("a1", 2);
    const part_rm_t *rm = part_maria_rm (m);
    void *other = NULL;
    s_interrupted (rm, &other);
    CU_ASSERT_EQUAL (part_maria_lost_count (m), 1);
    CU_ASSERT_EQUAL (S_OP (rm, PART_RM_TOMBSTONE, G1)->outcome,
                     TPC_OUTCOME_ABORTED);
    CU_ASSERT_EQUAL (part_maria_lost_count (m), 0);
    CU_ASSERT_EQUAL (tpc_harness_maria_conn_sql (other, "COMMIT"), 0);
    tpc_harness_maria_close (&other);
    CU_ASSERT_EQUAL (s_xa_left (), 0);
    part_maria_destroy (&m);
}

/*  interrupt() of a statement blocked on a lock: it completes at once
 *  (TPC_EABORTED), the branch goes when the server ends the statement.   */
static void
test_interrupt (void)
{
    part_maria_t *m = s_rm_new ("a1", 2);
    const part_rm_t *rm = part_maria_rm (m);
    void *other = NULL;
    s_interrupted (rm, &other);
    CU_ASSERT_EQUAL (S_SQL (rm, PART_RM_EXEC, G1, "SELECT 1")->status,
                     TPC_ECONNECT);
    CU_ASSERT_EQUAL (tpc_harness_maria_conn_sql (other, "COMMIT"), 0);
    tpc_harness_maria_close (&other);
    /* the other session's write stands; the interrupted one never ran */
    CU_ASSERT_EQUAL (s_int ("SELECT v FROM t WHERE k = 1"), 5);
    CU_ASSERT_EQUAL (s_xa_left (), 0);
    /* the pool is whole again */
    int64_t end = tpc_now_ms () + 20000;
    while (part_maria_connected (m) < 2 && tpc_now_ms () < end)
        s_turn (rm);
    CU_ASSERT_EQUAL (part_maria_connected (m), 2);
    part_maria_destroy (&m);
}

/*  KILL CONNECTION every idle session of database tpc but the asker's
 *  (the process list is live, unlike INNODB_TRX's 0.1 s cache); how many. */
static int
s_kill_sessions (void)
{
    void *c = tpc_harness_maria_connect (s_conninfo);
    int n = -1;
    MYSQL_RES *r = NULL;
    if (!c || mysql_query (c, "SELECT ID FROM information_schema.PROCESSLIST "
                           "WHERE ID <> CONNECTION_ID() AND DB = 'tpc' AND "
                           "COMMAND = 'Sleep'")
        || !(r = mysql_store_result (c)))
        goto cleanup;
    n = 0;
    MYSQL_ROW row;
    while ((row = mysql_fetch_row (r))) {
        char kill[64];
        snprintf (kill, sizeof kill, "KILL CONNECTION %s", row[0]);
        if (tpc_harness_maria_conn_sql (c, kill) == 0)
            n++;
    }
cleanup:
    if (r)
        mysql_free_result (r);
    tpc_harness_maria_close (&c);
    return n;
}

static void
test_phase2_elsewhere (void)
{
    part_maria_t *m = s_rm_new ("a1", 2);
    const part_rm_t *rm = part_maria_rm (m);
    s_reset_table ();
    /* The trap itself, by hand: while the preparing session is open,
     * another session cannot commit the branch (XAER_NOTA) */
    void *prep = tpc_harness_maria_connect (s_conninfo);
    CU_ASSERT_PTR_NOT_NULL_FATAL (prep);
    CU_ASSERT_EQUAL (tpc_harness_maria_conn_sql (prep, "XA START 'trap'; "
                     "INSERT INTO t VALUES (50, 50); XA END 'trap'; "
                     "XA PREPARE 'trap'"), 0);
    CU_ASSERT_EQUAL (tpc_harness_maria_sql (s_conninfo, "XA COMMIT 'trap'"), -1);
    tpc_harness_maria_close (&prep);
    /* once it is gone (the server may take a moment), any session can */
    int64_t end = tpc_now_ms () + 10000;
    while (tpc_harness_maria_sql (s_conninfo, "XA COMMIT 'trap'") != 0
           && tpc_now_ms () < end)
        ;
    CU_ASSERT_EQUAL (s_int ("SELECT COUNT(*) FROM t WHERE k = 50"), 1);

    /* the normal path: phase 2 on the session that prepared */
    CU_ASSERT_EQUAL (S_OP (rm, PART_RM_BEGIN, G1)->status, 0);
    CU_ASSERT_EQUAL (S_SQL (rm, PART_RM_PREPARE, G1,
                            "INSERT INTO t VALUES (1, 1)")->status, 0);
    CU_ASSERT_EQUAL (S_OP (rm, PART_RM_COMMIT_PREPARED, G1)->status, 0);
    /* the preparing session killed after PREPARE: phase 2 elsewhere */
    CU_ASSERT_EQUAL (S_OP (rm, PART_RM_BEGIN, G2)->status, 0);
    CU_ASSERT_EQUAL (S_SQL (rm, PART_RM_PREPARE, G2,
                            "INSERT INTO t VALUES (2, 2)")->status, 0);
    /* every session of the RM is killed, the preparing one among them */
    CU_ASSERT_EQUAL (s_kill_sessions (), 2);
    CU_ASSERT_EQUAL (S_OP (rm, PART_RM_COMMIT_PREPARED, G2)->status, 0);
    /* a parked session closed to make room: phase 2 on another one */
    CU_ASSERT_EQUAL (S_OP (rm, PART_RM_BEGIN, G3)->status, 0);
    CU_ASSERT_EQUAL (S_SQL (rm, PART_RM_PREPARE, G3,
                            "INSERT INTO t VALUES (3, 3)")->status, 0);
    CU_ASSERT_EQUAL (S_OP (rm, PART_RM_BEGIN, "tpc_c1_1_8")->status, 0);
    uint64_t req = s_submit (rm, PART_RM_BEGIN, "tpc_c1_1_9", NULL, 0);
    CU_ASSERT_EQUAL (S_OP (rm, PART_RM_ROLLBACK, "tpc_c1_1_8")->status, 0);
    CU_ASSERT_EQUAL (s_wait (rm, req)->status, 0);
    CU_ASSERT_EQUAL (S_OP (rm, PART_RM_ROLLBACK_PREPARED, G3)->status, 0);
    CU_ASSERT_EQUAL (S_OP (rm, PART_RM_ROLLBACK, "tpc_c1_1_9")->status, 0);
    CU_ASSERT_EQUAL (s_int ("SELECT COUNT(*) FROM t WHERE k IN (1, 2)"), 2);
    CU_ASSERT_EQUAL (s_int ("SELECT COUNT(*) FROM t WHERE k = 3"), 0);
    CU_ASSERT_EQUAL (s_xa_left (), 0);
    part_maria_destroy (&m);
}

static void
test_many_concurrent (void)
{
    enum { N = 40 };
    part_maria_t *m = s_rm_new ("a1", 4);
    const part_rm_t *rm = part_maria_rm (m);
    s_reset_table ();
    char gid[N][TPC_GID_MAX], sql[N][64];
    uint64_t req[N];
    int stage[N];
    for (int i = 0; i < N; i++) {
        snprintf (gid[i], TPC_GID_MAX, "tpc_c1_2_%d", i + 1);
        snprintf (sql[i], 64, "INSERT INTO t VALUES (%d, %d)", i + 1, i + 1);
        req[i] = s_submit (rm, PART_RM_BEGIN, gid[i], NULL, 0);
        stage[i] = 0;
    }
    int done = 0, fails = 0;
    int64_t end = tpc_now_ms () + 60000;
    while (done < N && tpc_now_ms () < end) {
        s_turn (rm);
        for (int i = 0; i < N; i++) {
            s_res_t *r = &s_res[req[i] % S_RES];
            if (stage[i] == 3 || !r->got)
                continue;
            if (r->status != 0) {
                fprintf (stderr, "  %s stage %d: %s\n", gid[i], stage[i],
                         r->error);
                fails++;
                stage[i] = 3;
                done++;
                continue;
            }
            if (stage[i] == 0)
                req[i] = s_submit (rm, PART_RM_PREPARE, gid[i],
                                   (const char *const[]) { sql[i] }, 1);
            else if (stage[i] == 1)
                req[i] = s_submit (rm, PART_RM_COMMIT_PREPARED, gid[i], NULL, 0);
            else
                done++;
            stage[i]++;
        }
    }
    CU_ASSERT_EQUAL (done, N);
    CU_ASSERT_EQUAL (fails, 0);
    int64_t rows = s_int ("SELECT COUNT(*) FROM t");
    CU_ASSERT_EQUAL (rows, N);
    if (rows != N) {
        /* which of them are missing, and what else is there */
        fprintf (stderr, "  %lld rows, not %d:", (long long) rows, N);
        for (int i = 0; i < N; i++) {
            char q[80];
            snprintf (q, sizeof q, "SELECT COUNT(*) FROM t WHERE k = %d", i + 1);
            if (s_int (q) != 1)
                fprintf (stderr, " %s", gid[i]);
        }
        fprintf (stderr, "; rows outside 1..%d: %lld\n", N, (long long) s_int (
                 "SELECT COUNT(*) FROM t WHERE k NOT BETWEEN 1 AND 40"));
        s_server_report ();
    }
    CU_ASSERT_EQUAL (s_xa_left (), 0);
    part_maria_destroy (&m);
}

static void
test_bad_setup (void)
{
    char err[1024];
    part_maria_config_t cfg = { .conninfo = "host=127.0.0.1 dbname=x" };
    CU_ASSERT_PTR_NULL (part_maria_new (&cfg, err, sizeof err));
    CU_ASSERT_PTR_NOT_NULL (strstr (err, "unknown key"));
    cfg.conninfo = "host=127.0.0.1 port=1 user=root database=tpc";
    CU_ASSERT_PTR_NULL (part_maria_new (&cfg, err, sizeof err));
    CU_ASSERT_PTR_NOT_NULL (strstr (err, "cannot connect"));
    cfg.conninfo = "port=3306 database=tpc";
    CU_ASSERT_PTR_NULL (part_maria_new (&cfg, err, sizeof err));
    CU_ASSERT_PTR_NOT_NULL (strstr (err, "host="));
    cfg.conninfo = "host=127.0.0.1 port=99999 database=tpc";
    CU_ASSERT_PTR_NULL (part_maria_new (&cfg, err, sizeof err));
    CU_ASSERT_PTR_NOT_NULL (strstr (err, "port"));
    /* a setting that would make a prepare undurable is refused */
    void *c = tpc_harness_maria_connect (s_conninfo);
    CU_ASSERT_PTR_NOT_NULL_FATAL (c);
    CU_ASSERT_EQUAL (tpc_harness_maria_conn_sql (c, "SET GLOBAL "
                     "innodb_flush_log_at_trx_commit = 2"), 0);
    cfg.conninfo = s_conninfo;
    CU_ASSERT_PTR_NULL (part_maria_new (&cfg, err, sizeof err));
    CU_ASSERT_PTR_NOT_NULL (strstr (err, "innodb_flush_log_at_trx_commit"));
    CU_ASSERT_EQUAL (tpc_harness_maria_conn_sql (c, "SET GLOBAL "
                     "innodb_flush_log_at_trx_commit = 1"), 0);
    tpc_harness_maria_close (&c);
}

/*  An account without CREATE: a clear refusal while the marker table is
 *  missing, and the table its owner made used as is.                     */
static void
test_least_privilege (void)
{
    int rc = tpc_harness_maria_sql (s_conninfo, "CREATE USER IF NOT EXISTS "
                                    "lp@'127.0.0.1' IDENTIFIED BY 'pw'; GRANT "
                                    "SELECT, INSERT, UPDATE, DELETE ON tpc.* "
                                    "TO lp@'127.0.0.1'; DROP TABLE IF EXISTS "
                                    "tpc_marker");
    if (rc)
        s_server_report ();         /* a branch left prepared blocks DROP */
    CU_ASSERT_EQUAL_FATAL (rc, 0);
    char ci[600], err[1024];
    const char *port = strstr (s_conninfo, "port=");
    CU_ASSERT_PTR_NOT_NULL_FATAL (port);
    snprintf (ci, sizeof ci, "host=127.0.0.1 %.*s user=lp password=pw "
              "database=tpc", (int) strcspn (port, " "), port);
    part_maria_config_t cfg = { .conninfo = ci, .agent = "lp", .pool = 2 };
    CU_ASSERT_PTR_NULL (part_maria_new (&cfg, err, sizeof err));
    CU_ASSERT_PTR_NOT_NULL (strstr (err, "cannot create the marker table"));
    CU_ASSERT_PTR_NOT_NULL (strstr (err, "hint: "));
    /* the owner's agent makes it */
    part_maria_t *m = s_rm_new ("a1", 1);
    part_maria_destroy (&m);
    s_reset_table ();
    m = part_maria_new (&cfg, err, sizeof err);
    if (!m)
        fprintf (stderr, "  %s\n", err);
    CU_ASSERT_PTR_NOT_NULL_FATAL (m);
    const part_rm_t *rm = part_maria_rm (m);
    int64_t end = tpc_now_ms () + 20000;
    while (part_maria_connected (m) < 2 && tpc_now_ms () < end)
        s_turn (rm);
    CU_ASSERT_EQUAL (S_OP (rm, PART_RM_BEGIN, G1)->status, 0);
    CU_ASSERT_EQUAL (S_SQL (rm, PART_RM_PREPARE, G1,
                            "INSERT INTO t VALUES (1, 1)")->status, 0);
    CU_ASSERT_EQUAL (S_OP (rm, PART_RM_RECOVER, NULL)->ngids, 1);
    CU_ASSERT_EQUAL (S_OP (rm, PART_RM_COMMIT_PREPARED, G1)->status, 0);
    CU_ASSERT_EQUAL (s_int ("SELECT COUNT(*) FROM t"), 1);
    CU_ASSERT_EQUAL (s_xa_left (), 0);
    part_maria_destroy (&m);
}

/*  The binary log: refused with binlog_format != ROW or sync_binlog != 1,
 *  accepted (and XA works) with both.                                    */
static void
test_binlog_settings (void)
{
    char dir[700], ci[512], err[1024];
    snprintf (dir, sizeof dir, "%s/maria_binlog", s_dir);
    setenv ("TPC_MARIA_ARGS", "--log-bin=binlog --binlog-format=MIXED "
            "--sync-binlog=0", 1);
    int rc = tpc_harness_maria_start (dir, ci, sizeof ci);
    unsetenv ("TPC_MARIA_ARGS");
    CU_ASSERT_EQUAL_FATAL (rc, 0);
    CU_ASSERT_EQUAL (tpc_harness_maria_sql_int (ci, "SELECT @@log_bin"), 1);
    part_maria_config_t cfg = { .conninfo = ci, .agent = "b", .pool = 2 };
    CU_ASSERT_PTR_NULL (part_maria_new (&cfg, err, sizeof err));
    CU_ASSERT_PTR_NOT_NULL (strstr (err, "binlog_format = ROW"));
    CU_ASSERT_EQUAL (tpc_harness_maria_sql (ci, "SET GLOBAL binlog_format = "
                     "'ROW'; SET GLOBAL sync_binlog = 1; CREATE TABLE b (k "
                     "INT PRIMARY KEY) ENGINE=InnoDB"), 0);
    part_maria_t *m = part_maria_new (&cfg, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL (m);
    const part_rm_t *rm = part_maria_rm (m);
    int64_t end = tpc_now_ms () + 20000;
    while (part_maria_connected (m) < 2 && tpc_now_ms () < end)
        s_turn (rm);
    CU_ASSERT_EQUAL (S_OP (rm, PART_RM_BEGIN, G1)->status, 0);
    CU_ASSERT_EQUAL (S_SQL (rm, PART_RM_PREPARE, G1,
                            "INSERT INTO b VALUES (1)")->status, 0);
    CU_ASSERT_EQUAL (S_OP (rm, PART_RM_COMMIT_PREPARED, G1)->status, 0);
    CU_ASSERT_EQUAL (tpc_harness_maria_sql_int (ci, "SELECT COUNT(*) FROM b"),
                     1);
    part_maria_destroy (&m);
    CU_ASSERT_EQUAL (tpc_harness_maria_cmd ("destroy", dir), 0);
}

/* ------------------------------------------------------------------ */

static int s_suite_clean (void);

/*  A failed init cleans up itself (CUnit runs no cleanup after it).      */
static int
s_suite_init (void)
{
    s_dir = tpc_test_tmpdir ("part_maria");
    if (!s_dir)
        return -1;
    snprintf (s_mdir, sizeof s_mdir, "%s/maria1", s_dir);
    if (tpc_harness_maria_start (s_mdir, s_conninfo, sizeof s_conninfo)
        || tpc_harness_maria_sql (s_conninfo, "CREATE TABLE t (k INT PRIMARY "
                                  "KEY, v BIGINT NOT NULL) ENGINE=InnoDB; "
                                  "CREATE TABLE t2 (k INT PRIMARY KEY, "
                                  "v BIGINT, note TEXT) ENGINE=InnoDB")) {
        s_suite_clean ();
        return -1;
    }
    return 0;
}

static int
s_suite_clean (void)
{
    tpc_harness_maria_destroy (s_dir, 1);
    if (!getenv ("TPC_TEST_KEEP"))
        tpc_test_rmtree (s_dir);
    else
        fprintf (stderr, "kept %s\n", s_dir);
    free (s_dir);
    s_dir = NULL;
    return 0;
}

static const tpc_test_case_t s_cases[] = {
    { "prepare_commit", test_prepare_commit },
    { "readonly_onephase_rollback", test_readonly_onephase_rollback },
    { "statement_error", test_statement_error },
    { "tombstone", test_tombstone },
    { "recover_after_disconnect", test_recover_after_disconnect },
    { "recover_after_server_kill", test_recover_after_server_kill },
    { "outcome_races_commit", test_outcome_races_commit },
    { "two_participants", test_two_participants },
    { "deadlock_votes_no", test_deadlock_votes_no },
    { "lock_wait_timeout_votes_no", test_lock_wait_timeout_votes_no },
    { "phase2_elsewhere", test_phase2_elsewhere },
    { "interrupt", test_interrupt },
    { "lost_forgotten", test_lost_forgotten },
    { "many_concurrent", test_many_concurrent },
    { "bad_setup", test_bad_setup },
    { "binlog_settings", test_binlog_settings },
    { "least_privilege", test_least_privilege },
    { NULL, NULL }
};

int
main (void)
{
    const tpc_test_suite_t suites[] = {
        { "part_maria", s_suite_init, s_suite_clean, s_cases },
        { NULL, NULL, NULL, NULL }
    };
    return tpc_test_main ("test_part_maria", suites);
}
