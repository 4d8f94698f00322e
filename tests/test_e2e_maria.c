/*  test_e2e_maria: tpc end to end across two engines.
 *
 *  One throwaway PostgreSQL cluster (agent "pg") and one throwaway MariaDB
 *  server (agent "maria", tpc-participant --backend maria), the real
 *  tpc-coordinator, driven through libtpc, tpcctl and the bank example.
 *  Money moves from acct in PostgreSQL to acct in MariaDB; each case
 *  asserts what is in both databases afterwards: balances, the sum over
 *  both, prepared transactions left (pg_prepared_xacts AND XA RECOVER).
 *  A missing server is a failure, never a skip.
 */
#include <mysql.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tpc_client.h"
#include "tpc_harness.h"
#include "tpc_test.h"

#define PG_PREPARED_SQL "SELECT count(*) FROM pg_prepared_xacts WHERE database = current_database()"
#define MARIA_ACCT_SQL \
    "CREATE TABLE acct (id int PRIMARY KEY, bal bigint NOT NULL CHECK (bal >= 0))" \
    " ENGINE=InnoDB;" \
    "INSERT INTO acct SELECT seq, 100 FROM seq_1_to_10;"
#define S_THREADS 8
#define S_PER_THREAD 10

typedef struct {
    char *dir;
    char pg[1][512], pgdir[1][512];         /* conninfo, cluster dir */
    char maria[1][512], mariadir[1][512];
    char logdir[512];
    char cep[64], aep[64];
    tpc_proc_t coord;
    tpc_proc_t agent[2];                    /* 0: pg, 1: maria */
} s_world_t;

static s_world_t W;

static void
s_path (char *buf, size_t size, const char *name)
{
    snprintf (buf, size, "%s/%s", W.dir, name);
}

static int
s_wait_agents (void)
{
    static const char *const names[] = { "pg", "maria" };
    return tpc_harness_wait_agents (W.cep, NULL, names, 2, TPC_HARNESS_BY_PROBE);
}

static int
s_start_agent_env (int i, char *const env[])
{
    char log[480], file[480];
    s_path (log, sizeof log, i == 0 ? "agent-pg.log" : "agent-maria.log");
    s_path (file, sizeof file, i == 0 ? "pg.conninfo" : "maria.conninfo");
    if (tpc_harness_write_line (file, i == 0 ? W.pg[0] : W.maria[0]))
        return -1;
    char *pg_args[] = { "--name", "pg", "--coordinator", W.aep,
                        "--pg-file", file, "--insecure-plaintext", NULL };
    char *maria_args[] = { "--name", "maria", "--coordinator", W.aep,
                           "--backend", "maria", "--maria-file", file,
                           "--insecure-plaintext", NULL };
    return tpc_harness_start_agent (&W.agent[i], i == 0 ? pg_args : maria_args,
                                    env, log);
}

static int
s_start_agent (int i)
{
    return s_start_agent_env (i, NULL);
}

static int
s_start_coord (char *const env[])
{
    char log[480];
    s_path (log, sizeof log, "coordinator.log");
    char *args[] = { "--id", "e2em", "--bind", W.cep, "--agent-bind", W.aep,
                     "--log-dir", W.logdir, "--txn-timeout-ms", "20000",
                     "--vote-timeout-ms", "5000", "--insecure-plaintext", NULL };
    return tpc_harness_start_coord (&W.coord, args, env, log);
}

static int
s_teardown (void)
{
    tpc_harness_stop (&W.coord, W.agent, 2);
    if (W.dir)
        tpc_harness_maria_destroy (W.dir, 1);
    tpc_harness_clean (&W.dir, 1);
    return 0;
}

/*  CUnit runs no cleanup after a failed init: a failed setup tears down
 *  itself (else its mariadbd and postgres outlive the test).             */
static int
s_setup (void)
{
    memset (&W, 0, sizeof W);
    W.dir = tpc_test_tmpdir ("e2e-maria");
    if (!W.dir)
        return -1;
    if (tpc_harness_pg_world (W.dir, 1, W.pgdir, W.pg, TPC_HARNESS_ACCT_SQL ("100"))
        || tpc_harness_maria_world (W.dir, 1, W.mariadir, W.maria, MARIA_ACCT_SQL))
        goto fail;
    s_path (W.logdir, sizeof W.logdir, "log");
    snprintf (W.cep, sizeof W.cep, "tcp://127.0.0.1:%d", tpc_harness_free_port ());
    snprintf (W.aep, sizeof W.aep, "tcp://127.0.0.1:%d", tpc_harness_free_port ());
    if (s_start_coord (NULL) || s_start_agent (0) || s_start_agent (1) || s_wait_agents ())
        goto fail;
    return 0;
fail:
    s_teardown ();
    return -1;
}

/* ------------------------------------------------------------- helpers */

static int64_t
s_pg_sum (void)
{
    return tpc_harness_sql_int (W.pg[0], "SELECT sum(bal) FROM acct");
}

static int64_t
s_maria_sum (void)
{
    return tpc_harness_maria_sql_int (W.maria[0], "SELECT sum(bal) FROM acct");
}

static int64_t
s_pg_bal (int id)
{
    char sql[96];
    snprintf (sql, sizeof sql, "SELECT bal FROM acct WHERE id = %d", id);
    return tpc_harness_sql_int (W.pg[0], sql);
}

static int64_t
s_maria_bal (int id)
{
    char sql[96];
    snprintf (sql, sizeof sql, "SELECT bal FROM acct WHERE id = %d", id);
    return tpc_harness_maria_sql_int (W.maria[0], sql);
}

/*  Prepared transactions left: PostgreSQL's plus the XA branches of
 *  MariaDB, the rows of XA RECOVER (no table lists them).               */
static int64_t
s_xa_recover (void)
{
    void *c = tpc_harness_maria_connect (W.maria[0]);
    int64_t n = -1;
    if (c && mysql_query (c, "XA RECOVER") == 0) {
        MYSQL_RES *res = mysql_store_result (c);
        if (res) {
            n = (int64_t) mysql_num_rows (res);
            mysql_free_result (res);
        }
    }
    tpc_harness_maria_close (&c);
    return n;
}

static int64_t
s_prepared (void)
{
    int64_t a = tpc_harness_sql_int (W.pg[0], PG_PREPARED_SQL), b = s_xa_recover ();
    return a < 0 || b < 0 ? -1 : a + b;
}

static int64_t
s_wait_no_prepared (int timeout_ms)
{
    int64_t end = tpc_now_ms () + timeout_ms, n;
    do {
        if ((n = s_prepared ()) == 0)
            return 0;
        usleep (100 * 1000);
    } while (tpc_now_ms () < end);
    return n;
}

static tpc_client_t *
s_client (int timeout_ms)
{
    tpc_client_opts_t o = { .timeout_ms = timeout_ms };
    return tpc_client_new (W.cep, &o);
}

/*  AMOUNT from account FROM in PostgreSQL to account TO in MariaDB.      */
static int
s_transfer (tpc_client_t *c, int amount, int from, int to, char *gid,
            tpc_client_outcome_t *out)
{
    char a[16], f[16], t[16];
    snprintf (a, sizeof a, "%d", amount);
    snprintf (f, sizeof f, "%d", from);
    snprintf (t, sizeof t, "%d", to);
    const char *dp[] = { a, f }, *cp[] = { a, t };
    const tpc_client_stmt_t st[2] = {
        { "pg", "UPDATE acct SET bal = bal - $1 WHERE id = $2", 2, dp },
        { "maria", "UPDATE acct SET bal = bal + $1 WHERE id = $2", 2, cp },
    };
    char reason[256];
    return tpc_submit (c, st, 2, NULL, gid, out, reason, sizeof reason);
}

/*  Run the shell command CMD; its stdout (up to SIZE - 1 bytes) in OUT.
 *  Exit status, or -1.                                                   */
static int
s_run (const char *cmd, char *out, size_t size)
{
    FILE *f = popen (cmd, "r");
    if (!f)
        return -1;
    size_t got = fread (out, 1, size - 1, f);
    out[got] = '\0';
    int st = pclose (f);
    return WIFEXITED (st) ? WEXITSTATUS (st) : -1;
}

/* ---------------------------------------------------------------- cases */

static void
test_transfer_pg_to_maria (void)
{
    tpc_client_t *c = s_client (15000);
    CU_ASSERT_PTR_NOT_NULL_FATAL (c);
    char gid[TPC_CLIENT_GID_MAX];
    tpc_client_outcome_t out = TPC_CLIENT_OUTCOME_UNKNOWN;
    int64_t p = s_pg_bal (1), m = s_maria_bal (2);
    CU_ASSERT_EQUAL (s_transfer (c, 7, 1, 2, gid, &out), 0);
    CU_ASSERT_EQUAL (out, TPC_CLIENT_COMMITTED);
    CU_ASSERT_EQUAL (s_pg_bal (1), p - 7);
    CU_ASSERT_EQUAL (s_maria_bal (2), m + 7);
    CU_ASSERT_EQUAL (s_wait_no_prepared (5000), 0);
    tpc_client_destroy (&c);
}

typedef struct {
    pthread_t thread;
    int id;
    int committed, aborted, other;
} s_worker_t;

static void *
s_worker (void *arg)
{
    s_worker_t *w = arg;
    tpc_client_t *c = s_client (30000);
    for (int i = 0; c && i < S_PER_THREAD; i++) {
        char gid[TPC_CLIENT_GID_MAX];
        tpc_client_outcome_t out = TPC_CLIENT_OUTCOME_UNKNOWN;
        /* rows 1..10 on each side, some overdrafts vote no */
        int from = 1 + (w->id + i) % 10, to = 1 + (w->id * 3 + i) % 10;
        int rc = s_transfer (c, 1 + (w->id * 7 + i * 13) % 40, from, to, gid, &out);
        if (rc == 0 && out == TPC_CLIENT_COMMITTED)
            w->committed++;
        else if (out == TPC_CLIENT_ABORTED)
            w->aborted++;
        else
            w->other++;
    }
    if (!c)
        w->other = S_PER_THREAD;
    tpc_client_destroy (&c);
    return NULL;
}

static void
test_concurrent_transfers (void)
{
    int64_t total = s_pg_sum () + s_maria_sum ();
    int64_t p0 = s_pg_sum ();
    s_worker_t w[S_THREADS];
    memset (w, 0, sizeof w);
    for (int i = 0; i < S_THREADS; i++) {
        w[i].id = i;
        CU_ASSERT_EQUAL_FATAL (pthread_create (&w[i].thread, NULL, s_worker, &w[i]), 0);
    }
    int committed = 0, aborted = 0, other = 0;
    for (int i = 0; i < S_THREADS; i++) {
        pthread_join (w[i].thread, NULL);
        committed += w[i].committed;
        aborted += w[i].aborted;
        other += w[i].other;
    }
    printf ("\ne2e_maria concurrent: transfers=%d committed=%d aborted=%d other=%d\n",
            S_THREADS * S_PER_THREAD, committed, aborted, other);
    CU_ASSERT_EQUAL (other, 0);
    CU_ASSERT (committed > 0);
    CU_ASSERT_EQUAL (s_wait_no_prepared (10000), 0);
    /* the sum over both databases is constant, no balance is negative */
    CU_ASSERT_EQUAL (s_pg_sum () + s_maria_sum (), total);
    CU_ASSERT (s_pg_sum () < p0);
    CU_ASSERT_EQUAL (tpc_harness_sql_int (W.pg[0], "SELECT count(*) FROM acct WHERE bal < 0"), 0);
    CU_ASSERT_EQUAL (tpc_harness_maria_sql_int (W.maria[0], "SELECT count(*) FROM acct WHERE bal < 0"), 0);
}

static void
test_statement_error_on_maria_aborts_both (void)
{
    tpc_client_t *c = s_client (15000);
    CU_ASSERT_PTR_NOT_NULL_FATAL (c);
    int64_t p = s_pg_sum (), m = s_maria_sum ();
    int64_t rows = tpc_harness_sql_int (W.pg[0], "SELECT count(*) FROM acct");
    /* PostgreSQL's side cannot fail: a new row */
    const char *np[] = { "100" };
    tpc_client_stmt_t st[3] = {
        { "pg", "INSERT INTO acct VALUES ($1, 0)", 1, np },
        { "maria", "UPDATE acct SET bal = bal + 5 WHERE id = 3", 0, NULL },
        { "maria", "INSERT INTO no_such_table VALUES (1)", 0, NULL },
    };
    char gid[TPC_CLIENT_GID_MAX], reason[256] = "";
    tpc_client_outcome_t out = TPC_CLIENT_OUTCOME_UNKNOWN;
    int rc = tpc_submit (c, st, 3, NULL, gid, &out, reason, sizeof reason);
    CU_ASSERT_EQUAL (rc, TPC_CLIENT_EABORTED);
    CU_ASSERT_EQUAL (out, TPC_CLIENT_ABORTED);
    /* the server's message reaches the client */
    if (!strstr (reason, "no_such_table"))
        fprintf (stderr, "reason: %s\n", reason);
    CU_ASSERT_PTR_NOT_NULL (strstr (reason, "no_such_table"));
    CU_ASSERT_EQUAL (s_wait_no_prepared (5000), 0);
    CU_ASSERT_EQUAL (tpc_harness_sql_int (W.pg[0], "SELECT count(*) FROM acct"), rows);
    CU_ASSERT_EQUAL (s_pg_sum (), p);
    CU_ASSERT_EQUAL (s_maria_sum (), m);

    /* an overdraft in MariaDB (its CHECK) rolls back PostgreSQL's credit */
    const char *cp[] = { "1000", "4" };
    tpc_client_stmt_t st2[2] = {
        { "pg", "UPDATE acct SET bal = bal + $1 WHERE id = $2", 2, cp },
        { "maria", "UPDATE acct SET bal = bal - 1000 WHERE id = 4", 0, NULL },
    };
    out = TPC_CLIENT_OUTCOME_UNKNOWN;
    rc = tpc_submit (c, st2, 2, NULL, gid, &out, reason, sizeof reason);
    CU_ASSERT_EQUAL (rc, TPC_CLIENT_EABORTED);
    CU_ASSERT_EQUAL (out, TPC_CLIENT_ABORTED);
    CU_ASSERT_EQUAL (s_wait_no_prepared (5000), 0);
    CU_ASSERT_EQUAL (s_pg_sum (), p);
    CU_ASSERT_EQUAL (s_maria_sum (), m);
    tpc_client_destroy (&c);
}

static void
test_tpcctl_exec_pg_and_maria (void)
{
    int64_t p = s_pg_bal (5), m = s_maria_bal (6);
    char cmd[1024], out[4096];
    snprintf (cmd, sizeof cmd, "'%s/tpcctl' --coordinator '%s' exec"
              " --on pg 'UPDATE acct SET bal = bal - 3 WHERE id = 5'"
              " --on maria 'UPDATE acct SET bal = bal + 3 WHERE id = 6' 2>&1",
              tpc_harness_builddir (), W.cep);
    int rc = s_run (cmd, out, sizeof out);
    if (rc != 0)
        fprintf (stderr, "tpcctl exec: %s\n", out);
    CU_ASSERT_EQUAL (rc, 0);
    CU_ASSERT_EQUAL (s_pg_bal (5), p - 3);
    CU_ASSERT_EQUAL (s_maria_bal (6), m + 3);
    /* a failing MariaDB statement: tpcctl says aborted, nothing changed */
    snprintf (cmd, sizeof cmd, "'%s/tpcctl' --coordinator '%s' exec"
              " --on pg 'UPDATE acct SET bal = bal - 3 WHERE id = 5'"
              " --on maria 'UPDATE acct SET bal = bal - 100000 WHERE id = 6' 2>&1",
              tpc_harness_builddir (), W.cep);
    rc = s_run (cmd, out, sizeof out);
    CU_ASSERT_NOT_EQUAL (rc, 0);
    /* the CHECK's error, MariaDB's number in it */
    CU_ASSERT_PTR_NOT_NULL (strstr (out, "4025"));
    CU_ASSERT_EQUAL (s_pg_bal (5), p - 3);
    CU_ASSERT_EQUAL (s_maria_bal (6), m + 3);
    CU_ASSERT_EQUAL (s_wait_no_prepared (5000), 0);
}

/*  The bank example across the two engines: setup, many concurrent
 *  transfers (either direction, some interactive), and its checker.      */
static void
test_bank_mixed_engines (void)
{
    char cmd[2048], out[4096], pgfile[480], mfile[480], ledger[480];
    s_path (pgfile, sizeof pgfile, "pg.conninfo");
    s_path (mfile, sizeof mfile, "maria.conninfo");
    s_path (ledger, sizeof ledger, "bank.ledger");
    const char *bank = "examples/bank/bank";
    snprintf (cmd, sizeof cmd, "'%s/%s' setup --db \"$(cat '%s')\" --maria-file '%s'"
              " --accounts 50 --balance 100 2>&1", tpc_harness_builddir (), bank,
              pgfile, mfile);
    CU_ASSERT_EQUAL_FATAL (s_run (cmd, out, sizeof out), 0);
    snprintf (cmd, sizeof cmd, "'%s/%s' run --coordinator '%s' --on pg --on maria"
              " --accounts 50 --transfers 200 --clients 8 --interactive 3"
              " --timeout-ms 15000 --seed 7 --ledger '%s' 2>&1",
              tpc_harness_builddir (), bank, W.cep, ledger);
    int rc = s_run (cmd, out, sizeof out);
    printf ("\n%s", out);
    CU_ASSERT_EQUAL (rc, 0);
    CU_ASSERT_PTR_NOT_NULL (strstr (out, "in_doubt=0"));
    snprintf (cmd, sizeof cmd, "'%s/%s' check --db \"$(cat '%s')\" --maria-file '%s'"
              " --accounts 50 --balance 100 --ledger '%s' --wait-ms 10000",
              tpc_harness_builddir (), bank, pgfile, mfile, ledger);
    rc = s_run (cmd, out, sizeof out);
    printf ("%s", out);
    fflush (stdout);
    CU_ASSERT_EQUAL (rc, 0);
    CU_ASSERT_PTR_NOT_NULL (strstr (out, "verdict=OK"));
    CU_ASSERT_PTR_NOT_NULL (strstr (out, "prepared_left=0"));
    CU_ASSERT_PTR_NOT_NULL (strstr (out, "engines=postgresql,mariadb"));
    CU_ASSERT_EQUAL (s_prepared (), 0);
}

/*  The coordinator dies right after its commit decision is durable, with
 *  both branches prepared; mariadbd is SIGKILLed and restarted meanwhile.
 *  The XA branch survives the crash, and the restarted coordinator with
 *  the reconnected agent commits it on both sides.                       */
static void
test_mariadb_restart_while_prepared (void)
{
    tpc_proc_kill (&W.coord, SIGTERM, 5000);
    char *env[] = { "TPC_CRASH_POINT=coord.after_fsync", NULL };
    CU_ASSERT_EQUAL_FATAL (s_start_coord (env), 0);
    CU_ASSERT_EQUAL_FATAL (s_wait_agents (), 0);
    int64_t p = s_pg_bal (8), m = s_maria_bal (8);
    tpc_client_t *c = s_client (3000);
    CU_ASSERT_PTR_NOT_NULL_FATAL (c);
    char gid[TPC_CLIENT_GID_MAX];
    tpc_client_outcome_t out = TPC_CLIENT_OUTCOME_UNKNOWN;
    CU_ASSERT_NOT_EQUAL (s_transfer (c, 2, 8, 8, gid, &out), 0);  /* in doubt */
    int st = tpc_proc_wait (&W.coord, 5000);
    CU_ASSERT (st != -1 && WIFEXITED (st) && WEXITSTATUS (st) == 99);
    CU_ASSERT_EQUAL (tpc_harness_sql_int (W.pg[0], PG_PREPARED_SQL), 1);
    CU_ASSERT_EQUAL (s_xa_recover (), 1);
    /* crash mariadbd and bring it back: the branch is still prepared */
    CU_ASSERT_EQUAL (tpc_harness_maria_cmd ("kill", W.mariadir[0]), 0);
    char ci[512];
    CU_ASSERT_EQUAL_FATAL (tpc_harness_maria_start (W.mariadir[0], ci, sizeof ci), 0);
    CU_ASSERT_STRING_EQUAL (ci, W.maria[0]);
    CU_ASSERT_EQUAL (s_xa_recover (), 1);
    CU_ASSERT_EQUAL (s_maria_bal (8), m);
    CU_ASSERT_EQUAL_FATAL (s_start_coord (NULL), 0);
    CU_ASSERT_EQUAL (s_wait_no_prepared (20000), 0);
    CU_ASSERT_EQUAL (s_pg_bal (8), p - 2);
    CU_ASSERT_EQUAL (s_maria_bal (8), m + 2);
    /* the MariaDB agent works again after its server came back */
    CU_ASSERT_EQUAL (s_wait_agents (), 0);
    tpc_client_destroy (&c);
    c = s_client (15000);
    out = TPC_CLIENT_OUTCOME_UNKNOWN;
    CU_ASSERT_EQUAL (s_transfer (c, 1, 8, 8, gid, &out), 0);
    CU_ASSERT_EQUAL (out, TPC_CLIENT_COMMITTED);
    CU_ASSERT_EQUAL (s_maria_bal (8), m + 3);
    tpc_client_destroy (&c);
}

/*  The MariaDB agent dies right after its XA PREPARE, before it votes:
 *  the coordinator aborts (the agent restarted before it voted), and the
 *  restarted agent finds the branch (XA RECOVER) and rolls it back - its
 *  own marker row, locked by the prepared branch, must not stall it.     */
static void
test_maria_agent_killed_after_prepare (void)
{
    tpc_proc_kill (&W.agent[1], SIGTERM, 5000);
    char *env[] = { "TPC_CRASH_POINT=agent.after_prepare", NULL };
    CU_ASSERT_EQUAL_FATAL (s_start_agent_env (1, env), 0);
    CU_ASSERT_EQUAL_FATAL (s_wait_agents (), 0);
    int64_t p = s_pg_sum (), m = s_maria_sum ();
    tpc_client_t *c = s_client (15000);
    CU_ASSERT_PTR_NOT_NULL_FATAL (c);
    char gid[TPC_CLIENT_GID_MAX];
    tpc_client_outcome_t out = TPC_CLIENT_OUTCOME_UNKNOWN;
    s_transfer (c, 3, 9, 9, gid, &out);
    int st = tpc_proc_wait (&W.agent[1], 5000);
    CU_ASSERT (st != -1 && WIFEXITED (st) && WEXITSTATUS (st) == 99);
    CU_ASSERT_EQUAL (s_xa_recover (), 1);              /* left prepared */
    CU_ASSERT_EQUAL_FATAL (s_start_agent (1), 0);
    CU_ASSERT_EQUAL (out, TPC_CLIENT_ABORTED);
    CU_ASSERT_EQUAL (s_wait_no_prepared (15000), 0);   /* recovery undid it */
    CU_ASSERT_EQUAL (s_pg_sum (), p);
    CU_ASSERT_EQUAL (s_maria_sum (), m);
    tpc_client_destroy (&c);
    CU_ASSERT_EQUAL (s_wait_agents (), 0);
}

static const tpc_test_case_t s_cases[] = {
    { "transfer_pg_to_maria", test_transfer_pg_to_maria },
    { "concurrent_transfers", test_concurrent_transfers },
    { "statement_error_on_maria_aborts_both", test_statement_error_on_maria_aborts_both },
    { "tpcctl_exec_pg_and_maria", test_tpcctl_exec_pg_and_maria },
    { "bank_mixed_engines", test_bank_mixed_engines },
    { "mariadb_restart_while_prepared", test_mariadb_restart_while_prepared },
    { "maria_agent_killed_after_prepare", test_maria_agent_killed_after_prepare },
    { NULL, NULL }
};

int
main (void)
{
    const tpc_test_suite_t suites[] = {
        { "e2e_maria", s_setup, s_teardown, s_cases },
        { NULL, NULL, NULL, NULL }
    };
    return tpc_test_main ("test_e2e_maria", suites);
}
