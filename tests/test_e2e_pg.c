/*  test_e2e_pg: tpc end to end with real parts.
 *
 *  Two throwaway PostgreSQL clusters (db1, db2), the real tpc-coordinator
 *  and two real tpc-participant agents, driven through libtpc.  Each case
 *  asserts what is in the databases afterwards (rows, balances, prepared
 *  transactions left, marker rows) and, where it matters, the decision log.
 *  PostgreSQL missing is a failure, never a skip.
 */
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
#include "tpc_log.h"
#include "tpc_record.h"
#include "tpc_test.h"

#define PREPARED_SQL "SELECT count(*) FROM pg_prepared_xacts WHERE database = current_database()"

typedef struct {
    char *dir;
    char db[2][512];            /* conninfo */
    char dbdir[2][512];
    char logdir[512];
    char cep[64], aep[64];      /* client and agent endpoints */
    tpc_proc_t coord;
    tpc_proc_t agent[2];
    char *coord_env[4];
    char *agent_env[2][4];
    bool default_vote_timeout;  /* start the coordinator without
                                   --vote-timeout-ms (10 s) */
    int64_t agent_ready_ms[2];  /* when its last ready line was seen */
} s_world_t;

static s_world_t W;

static int s_wait_agents (void);

static void
s_path (char *buf, size_t size, const char *name)
{
    snprintf (buf, size, "%s/%s", W.dir, name);
}

static int
s_start_coord (char *const env[])
{
    char log[480];
    s_path (log, sizeof log, "coordinator.log");
    char *args[] = { "--id", "e2e", "--bind", W.cep, "--agent-bind",
                     W.aep, "--log-dir", W.logdir, "--txn-timeout-ms",
                     "20000", "--insecure-plaintext",
                     W.default_vote_timeout ? NULL : "--vote-timeout-ms",
                     "2000", NULL };
    if (tpc_harness_start_coord (&W.coord, args, env, log))
        return -1;
    return W.agent[0].pid > 0 && W.agent[1].pid > 0 ? s_wait_agents () : 0;
}

/*  Start agent I and wait for its ready line (W.agent_ready_ms).      */
static int
s_spawn_agent (int i, char *const env[])
{
    char log[480], name[8], file[480], tag[32];
    snprintf (name, sizeof name, "db%d", i + 1);
    snprintf (tag, sizeof tag, "agent-db%d.log", i + 1);
    s_path (log, sizeof log, tag);
    snprintf (tag, sizeof tag, "db%d.conninfo", i + 1);
    s_path (file, sizeof file, tag);
    if (tpc_harness_write_line (file, W.db[i]))
        return -1;
    char *args[] = { "--name", name, "--coordinator", W.aep,
                     "--pg-file", file, "--insecure-plaintext", NULL };
    if (tpc_harness_start_agent (&W.agent[i], args, env, log))
        return -1;
    W.agent_ready_ms[i] = tpc_now_ms ();
    return 0;
}

static int
s_start_agent (int i, char *const env[])
{
    if (s_spawn_agent (i, env))
        return -1;
    return W.agent[1 - i].pid > 0 && W.coord.pid > 0 ? s_wait_agents () : 0;
}

/*  Wait until the coordinator knows both agents (after a restart they
 *  reconnect and say hello): a probe transaction reads on each.          */
static int
s_wait_agents (void)
{
    static const char *const names[] = { "db1", "db2" };
    return tpc_harness_wait_agents (W.cep, NULL, names, 2,
                                    TPC_HARNESS_BY_PROBE);
}

static int
s_setup (void)
{
    memset (&W, 0, sizeof W);
    W.dir = tpc_test_tmpdir ("e2e");
    if (!W.dir)
        return -1;
    if (tpc_harness_pg_world (W.dir, 2, W.dbdir, W.db,
                              TPC_HARNESS_ACCT_SQL ("100")))
        return -1;
    s_path (W.logdir, sizeof W.logdir, "log");
    snprintf (W.cep, sizeof W.cep, "tcp://127.0.0.1:%d", tpc_harness_free_port ());
    snprintf (W.aep, sizeof W.aep, "tcp://127.0.0.1:%d", tpc_harness_free_port ());
    if (s_start_coord (NULL) || s_start_agent (0, NULL) || s_start_agent (1, NULL))
        return -1;
    return 0;
}

static int
s_teardown (void)
{
    tpc_harness_stop (&W.coord, W.agent, 2);
    tpc_harness_clean (&W.dir, 2);
    return 0;
}

/*  Sum of balances in db I, and the balance of account ID.               */
static int64_t
s_sum (int i)
{
    return tpc_harness_sql_int (W.db[i], "SELECT sum(bal) FROM acct");
}

static int64_t
s_bal (int i, int id)
{
    char sql[128];
    snprintf (sql, sizeof sql, "SELECT bal FROM acct WHERE id = %d", id);
    return tpc_harness_sql_int (W.db[i], sql);
}

static int64_t
s_prepared (int i)
{
    return tpc_harness_sql_int (W.db[i], PREPARED_SQL);
}

/*  Wait until neither database holds a prepared transaction.             */
static int64_t
s_wait_no_prepared (int timeout_ms)
{
    int64_t end = tpc_now_ms () + timeout_ms, n;
    do {
        n = s_prepared (0) + s_prepared (1);
        if (n == 0)
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

/*  A transfer of AMOUNT from account FROM in db1 to account TO in db2.   */
static int
s_transfer (tpc_client_t *c, const char *amount, const char *from,
            const char *to, char *gid, tpc_client_outcome_t *out)
{
    const char *dp[] = { amount, from }, *cp[] = { amount, to };
    tpc_client_stmt_t st[2] = {
        { "db1", "UPDATE acct SET bal = bal - $1 WHERE id = $2", 2, dp },
        { "db2", "UPDATE acct SET bal = bal + $1 WHERE id = $2", 2, cp },
    };
    char reason[256];
    return tpc_submit (c, st, 2, NULL, gid, out, reason, sizeof reason);
}

static int
s_log_count (const char *gid, int type)
{
    return tpc_harness_log_count (W.logdir, gid, type);
}

/* ---------------------------------------------------------------- cases */

static void
test_commit_two_databases (void)
{
    tpc_client_t *c = s_client (10000);
    char gid[TPC_CLIENT_GID_MAX];
    tpc_client_outcome_t out;
    int64_t b1 = s_bal (0, 1), b2 = s_bal (1, 2);
    CU_ASSERT_EQUAL (s_transfer (c, "30", "1", "2", gid, &out), 0);
    CU_ASSERT_EQUAL (out, TPC_CLIENT_COMMITTED);
    CU_ASSERT_EQUAL (s_wait_no_prepared (10000), 0);
    CU_ASSERT_EQUAL (s_bal (0, 1), b1 - 30);
    CU_ASSERT_EQUAL (s_bal (1, 2), b2 + 30);
    CU_ASSERT_EQUAL (s_log_count (gid, TPC_REC_COMMIT), 1);
    /* the marker rows prove phase 2 idempotence has what it needs */
    char sql[256];
    snprintf (sql, sizeof sql, "SELECT count(*) FROM tpc_marker WHERE gid = '%s'", gid);
    CU_ASSERT_EQUAL (tpc_harness_sql_int (W.db[0], sql), 1);
    CU_ASSERT_EQUAL (tpc_harness_sql_int (W.db[1], sql), 1);
    tpc_client_outcome_t st;
    CU_ASSERT_EQUAL (tpc_status (c, gid, &st, NULL, 0), 0);
    CU_ASSERT_EQUAL (st, TPC_CLIENT_COMMITTED);
    tpc_client_destroy (&c);
}

static void
test_interactive_rollback (void)
{
    tpc_client_t *c = s_client (10000);
    char gid[TPC_CLIENT_GID_MAX];
    int64_t s1 = s_sum (0), s2 = s_sum (1);
    CU_ASSERT_EQUAL_FATAL (tpc_begin (c, NULL, gid), 0);
    tpc_result_t *r = NULL;
    CU_ASSERT_EQUAL (tpc_exec (c, gid, "db1", "UPDATE acct SET bal = bal - 1", 0, NULL, &r), 0);
    CU_ASSERT_EQUAL (tpc_result_affected (r), 10);
    tpc_result_destroy (&r);
    CU_ASSERT_EQUAL (tpc_exec (c, gid, "db2", "SELECT bal FROM acct WHERE id = $1",
                               1, (const char *[]) { "3" }, &r), 0);
    CU_ASSERT_EQUAL (tpc_result_nrows (r), 1);
    tpc_result_destroy (&r);
    tpc_client_outcome_t out;
    CU_ASSERT_EQUAL (tpc_rollback (c, gid, &out, NULL, 0), 0);
    CU_ASSERT_EQUAL (out, TPC_CLIENT_ABORTED);
    CU_ASSERT_EQUAL (s_wait_no_prepared (10000), 0);
    CU_ASSERT_EQUAL (s_sum (0), s1);
    CU_ASSERT_EQUAL (s_sum (1), s2);
    tpc_client_destroy (&c);
}

static void
test_no_vote_aborts_both (void)
{
    tpc_client_t *c = s_client (10000);
    char gid[TPC_CLIENT_GID_MAX];
    tpc_client_outcome_t out;
    int64_t s1 = s_sum (0), s2 = s_sum (1);
    /* overdraft: the CHECK fails on db1, db1 votes no */
    int rc = s_transfer (c, "100000", "1", "2", gid, &out);
    CU_ASSERT_EQUAL (rc, TPC_CLIENT_EABORTED);
    CU_ASSERT_EQUAL (out, TPC_CLIENT_ABORTED);
    CU_ASSERT (strstr (tpc_client_errmsg (c), "check") != NULL
               || strstr (tpc_client_errmsg (c), "violat") != NULL);
    CU_ASSERT_EQUAL (s_wait_no_prepared (10000), 0);
    CU_ASSERT_EQUAL (s_sum (0), s1);
    CU_ASSERT_EQUAL (s_sum (1), s2);
    CU_ASSERT_EQUAL (s_log_count (gid, TPC_REC_COMMIT), 0);
    tpc_client_destroy (&c);
}

static void
test_readonly_and_one_phase (void)
{
    tpc_client_t *c = s_client (10000);
    char gid[TPC_CLIENT_GID_MAX], reason[256];
    tpc_client_outcome_t out;
    /* one participant: one phase, no decision record */
    tpc_client_stmt_t one[1] = {
        { "db1", "UPDATE acct SET bal = bal + 5 WHERE id = 9", 0, NULL } };
    int64_t b = s_bal (0, 9);
    CU_ASSERT_EQUAL (tpc_submit (c, one, 1, NULL, gid, &out, reason, sizeof reason), 0);
    CU_ASSERT_EQUAL (out, TPC_CLIENT_COMMITTED);
    CU_ASSERT_EQUAL (s_bal (0, 9), b + 5);
    CU_ASSERT_EQUAL (s_log_count (gid, TPC_REC_COMMIT), 0);
    /* db2 only reads: it votes read-only and stays out of phase 2; the
     * decision record names db1 alone */
    tpc_client_stmt_t ro[2] = {
        { "db1", "UPDATE acct SET bal = bal + 1 WHERE id = 9", 0, NULL },
        { "db2", "SELECT sum(bal) FROM acct", 0, NULL } };
    CU_ASSERT_EQUAL (tpc_submit (c, ro, 2, NULL, gid, &out, reason, sizeof reason), 0);
    CU_ASSERT_EQUAL (out, TPC_CLIENT_COMMITTED);
    CU_ASSERT_EQUAL (s_bal (0, 9), b + 6);
    CU_ASSERT_EQUAL (s_wait_no_prepared (10000), 0);
    char sql[256];
    snprintf (sql, sizeof sql, "SELECT count(*) FROM tpc_marker WHERE gid = '%s'", gid);
    CU_ASSERT_EQUAL (tpc_harness_sql_int (W.db[1], sql), 0);
    tpc_client_destroy (&c);
}

static void
test_coordinator_killed_after_decision (void)
{
    /* restart the coordinator with the debug hook armed */
    tpc_proc_kill (&W.coord, SIGTERM, 5000);
    char *env[] = { "TPC_CRASH_POINT=coord.after_fsync", NULL };
    CU_ASSERT_EQUAL_FATAL (s_start_coord (env), 0);
    int64_t b1 = s_bal (0, 4), b2 = s_bal (1, 4);
    tpc_client_t *c = s_client (3000);
    char gid[TPC_CLIENT_GID_MAX];
    tpc_client_outcome_t out;
    int rc = s_transfer (c, "7", "4", "4", gid, &out);
    CU_ASSERT_NOT_EQUAL (rc, 0);                   /* no answer: in doubt */
    int st = tpc_proc_wait (&W.coord, 5000);
    CU_ASSERT (st != -1 && WIFEXITED (st) && WEXITSTATUS (st) == 99);
    /* both prepared, nothing committed yet */
    CU_ASSERT_EQUAL (s_prepared (0), 1);
    CU_ASSERT_EQUAL (s_prepared (1), 1);
    CU_ASSERT_EQUAL (s_bal (0, 4), b1);
    CU_ASSERT_EQUAL_FATAL (s_start_coord (NULL), 0);
    CU_ASSERT_EQUAL (s_wait_no_prepared (15000), 0);
    CU_ASSERT_EQUAL (s_bal (0, 4), b1 - 7);
    CU_ASSERT_EQUAL (s_bal (1, 4), b2 + 7);
    tpc_client_destroy (&c);
}

static void
test_agent_killed_after_prepare (void)
{
    tpc_proc_kill (&W.agent[1], SIGTERM, 5000);
    char *env[] = { "TPC_CRASH_POINT=agent.after_prepare", NULL };
    CU_ASSERT_EQUAL_FATAL (s_start_agent (1, env), 0);
    int64_t s1 = s_sum (0), s2 = s_sum (1);
    tpc_client_t *c = s_client (10000);
    char gid[TPC_CLIENT_GID_MAX];
    tpc_client_outcome_t out;
    s_transfer (c, "3", "5", "5", gid, &out);
    /* db2's agent died before voting: the vote timeout aborts */
    CU_ASSERT_EQUAL (out, TPC_CLIENT_ABORTED);
    int st = tpc_proc_wait (&W.agent[1], 5000);
    CU_ASSERT (st != -1 && WIFEXITED (st) && WEXITSTATUS (st) == 99);
    CU_ASSERT_EQUAL (s_prepared (1), 1);           /* left prepared */
    CU_ASSERT_EQUAL_FATAL (s_start_agent (1, NULL), 0);
    CU_ASSERT_EQUAL (s_wait_no_prepared (15000), 0);  /* recovery finished it */
    CU_ASSERT_EQUAL (s_sum (0), s1);
    CU_ASSERT_EQUAL (s_sum (1), s2);
    tpc_client_destroy (&c);
}

static void
test_postgres_restart_while_prepared (void)
{
    tpc_proc_kill (&W.coord, SIGTERM, 5000);
    char *env[] = { "TPC_CRASH_POINT=coord.after_fsync", NULL };
    CU_ASSERT_EQUAL_FATAL (s_start_coord (env), 0);
    int64_t b1 = s_bal (0, 6), b2 = s_bal (1, 6);
    tpc_client_t *c = s_client (3000);
    char gid[TPC_CLIENT_GID_MAX];
    tpc_client_outcome_t out;
    s_transfer (c, "2", "6", "6", gid, &out);
    tpc_proc_wait (&W.coord, 5000);
    CU_ASSERT_EQUAL (s_prepared (0), 1);
    /* crash db1 (immediate stop) and bring it back */
    CU_ASSERT_EQUAL (tpc_harness_pg_cmd ("kill", W.dbdir[0]), 0);
    char ci[512];
    CU_ASSERT_EQUAL_FATAL (tpc_harness_pg_start (W.dbdir[0], ci, sizeof ci), 0);
    CU_ASSERT_STRING_EQUAL (ci, W.db[0]);
    CU_ASSERT_EQUAL (s_prepared (0), 1);           /* survived the crash */
    CU_ASSERT_EQUAL_FATAL (s_start_coord (NULL), 0);
    CU_ASSERT_EQUAL (s_wait_no_prepared (20000), 0);
    CU_ASSERT_EQUAL (s_bal (0, 6), b1 - 2);
    CU_ASSERT_EQUAL (s_bal (1, 6), b2 + 2);
    /* the agent still works after the database came back */
    CU_ASSERT_EQUAL (s_transfer (c, "1", "6", "6", gid, &out), 0);
    CU_ASSERT_EQUAL (s_bal (0, 6), b1 - 3);
    tpc_client_destroy (&c);
}

static void
test_participant_never_answers (void)
{
    int64_t s1 = s_sum (0), s2 = s_sum (1);
    kill (W.agent[1].pid, SIGSTOP);
    tpc_client_t *c = s_client (10000);
    char gid[TPC_CLIENT_GID_MAX];
    tpc_client_outcome_t out;
    int64_t t0 = tpc_now_ms ();
    s_transfer (c, "1", "7", "7", gid, &out);
    CU_ASSERT_EQUAL (out, TPC_CLIENT_ABORTED);     /* vote timeout */
    CU_ASSERT (tpc_now_ms () - t0 < 8000);
    kill (W.agent[1].pid, SIGCONT);
    CU_ASSERT_EQUAL (s_wait_no_prepared (15000), 0);
    CU_ASSERT_EQUAL (s_sum (0), s1);
    CU_ASSERT_EQUAL (s_sum (1), s2);
    tpc_client_destroy (&c);
}

static void
test_lost_reply_resolved_by_status (void)
{
    tpc_client_t *c = s_client (1000);
    char gid[TPC_CLIENT_GID_MAX];
    int64_t b1 = s_bal (0, 8);
    CU_ASSERT_EQUAL_FATAL (tpc_begin (c, NULL, gid), 0);
    CU_ASSERT_EQUAL (tpc_exec (c, gid, "db1", "UPDATE acct SET bal = bal - 4 WHERE id = 8", 0, NULL, NULL), 0);
    CU_ASSERT_EQUAL (tpc_exec (c, gid, "db2", "UPDATE acct SET bal = bal + 4 WHERE id = 8", 0, NULL, NULL), 0);
    /* the coordinator stalls: the commit's reply does not come in time */
    kill (W.coord.pid, SIGSTOP);
    tpc_client_outcome_t out = TPC_CLIENT_OUTCOME_UNKNOWN;
    int rc = tpc_commit (c, gid, &out, NULL, 0);
    CU_ASSERT_EQUAL (rc, TPC_CLIENT_EIN_DOUBT);
    CU_ASSERT_EQUAL (out, TPC_CLIENT_OUTCOME_UNKNOWN);
    kill (W.coord.pid, SIGCONT);
    tpc_client_outcome_t st = TPC_CLIENT_OUTCOME_UNKNOWN;
    for (int i = 0; i < 50 && st != TPC_CLIENT_COMMITTED; i++) {
        tpc_status (c, gid, &st, NULL, 0);
        usleep (100 * 1000);
    }
    CU_ASSERT_EQUAL (st, TPC_CLIENT_COMMITTED);
    CU_ASSERT_EQUAL (s_wait_no_prepared (10000), 0);
    CU_ASSERT_EQUAL (s_bal (0, 8), b1 - 4);
    tpc_client_destroy (&c);
}

/*  The state letter of process PID (R, S, T = stopped, ...; '?' gone).   */
static char
s_proc_state (pid_t pid)
{
    char path[64], buf[512];
    snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
    FILE *f = fopen (path, "r");
    if (!f)
        return '?';
    size_t n = fread (buf, 1, sizeof buf - 1, f);
    fclose (f);
    buf[n] = '\0';
    const char *p = strrchr (buf, ')');
    return p && p[1] == ' ' ? p[2] : '?';
}


static void
test_crash_point_commit_sent_first_of_two (void)
{
    /* the coordinator dies right after the FIRST decide(committed) left:
     * one participant may have committed, the other is surely prepared */
    tpc_proc_kill (&W.coord, SIGTERM, 5000);
    char *env[] = { "TPC_CRASH_POINT=coord.commit_sent", "TPC_CRASH_AT=1", NULL };
    CU_ASSERT_EQUAL_FATAL (s_start_coord (env), 0);
    int64_t b1 = s_bal (0, 2), b2 = s_bal (1, 3);
    tpc_client_t *c = s_client (3000);
    char gid[TPC_CLIENT_GID_MAX], log[600];
    tpc_client_outcome_t out;
    CU_ASSERT_NOT_EQUAL (s_transfer (c, "5", "2", "3", gid, &out), 0);
    int st = tpc_proc_wait (&W.coord, 5000);
    CU_ASSERT (st != -1 && WIFEXITED (st) && WEXITSTATUS (st) == 99);
    s_path (log, sizeof log, "coordinator.log");
    CU_ASSERT (tpc_harness_file_has (log, "tpc-crash: coord.commit_sent pass 1"));
    int64_t prepared = s_prepared (0) + s_prepared (1);
    CU_ASSERT (prepared >= 1 && prepared <= 2);
    CU_ASSERT_EQUAL_FATAL (s_start_coord (NULL), 0);
    CU_ASSERT_EQUAL (s_wait_no_prepared (15000), 0);
    CU_ASSERT_EQUAL (s_bal (0, 2), b1 - 5);
    CU_ASSERT_EQUAL (s_bal (1, 3), b2 + 5);
    tpc_client_destroy (&c);
}

static void
test_crash_point_agent_after_commit_prepared (void)
{
    /* db2's agent dies after COMMIT PREPARED, before its ack: the decision
     * is resent when it is back, answered from the marker, and ENDed */
    tpc_proc_kill (&W.agent[1], SIGTERM, 5000);
    char *env[] = { "TPC_CRASH_POINT=agent.after_commit_prepared", NULL };
    CU_ASSERT_EQUAL_FATAL (s_start_agent (1, env), 0);
    int64_t b1 = s_bal (0, 3), b2 = s_bal (1, 2);
    tpc_client_t *c = s_client (10000);
    char gid[TPC_CLIENT_GID_MAX];
    tpc_client_outcome_t out;
    CU_ASSERT_EQUAL (s_transfer (c, "4", "3", "2", gid, &out), 0);
    CU_ASSERT_EQUAL (out, TPC_CLIENT_COMMITTED);
    int st = tpc_proc_wait (&W.agent[1], 5000);
    CU_ASSERT (st != -1 && WIFEXITED (st) && WEXITSTATUS (st) == 99);
    CU_ASSERT_EQUAL (s_prepared (1), 0);
    CU_ASSERT_EQUAL (s_bal (1, 2), b2 + 4);
    CU_ASSERT_EQUAL (s_log_count (gid, TPC_REC_END), 0);   /* ack missing */
    CU_ASSERT_EQUAL_FATAL (s_start_agent (1, NULL), 0);
    int ends = 0;
    for (int i = 0; i < 100 && ends == 0; i++) {
        ends = s_log_count (gid, TPC_REC_END);
        if (!ends)
            usleep (100 * 1000);
    }
    CU_ASSERT_EQUAL (ends, 1);
    CU_ASSERT_EQUAL (s_wait_no_prepared (10000), 0);
    CU_ASSERT_EQUAL (s_bal (0, 3), b1 - 4);
    CU_ASSERT_EQUAL (s_bal (1, 2), b2 + 4);
    tpc_client_destroy (&c);
}

static void
test_crash_point_postgres_dies_at_agent_prepare (void)
{
    /* db1's agent freezes right after PREPARE TRANSACTION (stop action);
     * PostgreSQL db1 crashes under it; the agent then runs on into its dead
     * sessions.  The transaction aborts (vote timeout) and the prepared one
     * left in db1 must be rolled back once db1 is back.                    */
    tpc_proc_kill (&W.agent[0], SIGTERM, 5000);
    char *env[] = { "TPC_CRASH_POINT=agent.after_prepare",
                    "TPC_CRASH_ACTION=stop", NULL };
    CU_ASSERT_EQUAL_FATAL (s_start_agent (0, env), 0);
    int64_t s1 = s_sum (0), s2 = s_sum (1);
    tpc_client_t *c = s_client (10000);
    char gid[TPC_CLIENT_GID_MAX];
    tpc_client_outcome_t out = TPC_CLIENT_OUTCOME_UNKNOWN;
    s_transfer (c, "6", "9", "9", gid, &out);
    CU_ASSERT_EQUAL (out, TPC_CLIENT_ABORTED);         /* vote timeout */
    char state = '?';
    for (int i = 0; i < 50 && (state = s_proc_state (W.agent[0].pid)) != 'T'; i++)
        usleep (100 * 1000);
    CU_ASSERT_EQUAL_FATAL (state, 'T');
    CU_ASSERT_EQUAL (s_prepared (0), 1);
    CU_ASSERT_EQUAL (tpc_harness_pg_cmd ("kill", W.dbdir[0]), 0);
    kill (W.agent[0].pid, SIGCONT);
    usleep (300 * 1000);
    char ci[512];
    CU_ASSERT_EQUAL_FATAL (tpc_harness_pg_start (W.dbdir[0], ci, sizeof ci), 0);
    CU_ASSERT_EQUAL (s_wait_no_prepared (20000), 0);
    CU_ASSERT_EQUAL (s_sum (0), s1);
    CU_ASSERT_EQUAL (s_sum (1), s2);
    /* the same agent process carries on */
    CU_ASSERT (s_proc_state (W.agent[0].pid) != '?');
    CU_ASSERT_EQUAL (s_transfer (c, "1", "9", "9", gid, &out), 0);
    CU_ASSERT_EQUAL (out, TPC_CLIENT_COMMITTED);
    CU_ASSERT_EQUAL (s_sum (0), s1 - 1);
    tpc_client_destroy (&c);
}

/*  One transfer in flight, on its own thread and client.                */
typedef struct {
    const char *acct;           /* from this account in db1 to it in db2 */
    pthread_t thread;
    int rc;
    tpc_client_outcome_t out;
    int64_t done_ms;            /* when its reply came */
} s_flight_t;

static void *
s_flight_run (void *arg)
{
    s_flight_t *f = arg;
    tpc_client_t *c = s_client (30000);
    char gid[TPC_CLIENT_GID_MAX];
    f->out = TPC_CLIENT_OUTCOME_UNKNOWN;
    f->rc = c ? s_transfer (c, "1", f->acct, f->acct, gid, &f->out) : -1;
    f->done_ms = tpc_now_ms ();
    tpc_client_destroy (&c);
    return NULL;
}

static void
test_agent_restart_frees_its_work (void)
{
    /* the default vote timeout (10 s), which a restarted agent's work must
     * not wait for; db2's agent freezes right after its first PREPARE */
    tpc_proc_kill (&W.coord, SIGTERM, 5000);
    W.default_vote_timeout = true;
    CU_ASSERT_EQUAL_FATAL (s_start_coord (NULL), 0);
    tpc_proc_kill (&W.agent[1], SIGTERM, 5000);
    char *env[] = { "TPC_CRASH_POINT=agent.after_prepare",
                    "TPC_CRASH_ACTION=stop", NULL };
    long off = tpc_proc_log_size (&W.agent[1]);
    CU_ASSERT_EQUAL_FATAL (s_start_agent (1, env), 0);
    int64_t s1 = s_sum (0), s2 = s_sum (1);
    s_flight_t f[4] = { { .acct = "1" }, { .acct = "2" }, { .acct = "3" },
                        { .acct = "4" } };
    CU_ASSERT_EQUAL_FATAL (pthread_create (&f[0].thread, NULL, s_flight_run,
                                           &f[0]), 0);
    /* db2's agent holds a prepared transaction it has not voted on */
    CU_ASSERT_EQUAL_FATAL (tpc_proc_wait_log (
        &W.agent[1], "tpc-crash: agent.after_prepare pass 1 action=stop",
        off, 10000), 0);
    char state = '?';
    for (int i = 0; i < 500 && (state = s_proc_state (W.agent[1].pid)) != 'T'; i++)
        usleep (10 * 1000);
    CU_ASSERT_EQUAL_FATAL (state, 'T');
    /* three more, whose work waits unread for the frozen agent */
    for (int i = 1; i < 4; i++)
        CU_ASSERT_EQUAL_FATAL (pthread_create (&f[i].thread, NULL,
                                               s_flight_run, &f[i]), 0);
    /* every one in flight: db1 prepared all four (voted yes), db2 one */
    int64_t p1 = 0, p2 = 0, end = tpc_now_ms () + 10000;
    while ((p1 = s_prepared (0)) != 4 && tpc_now_ms () < end)
        usleep (10 * 1000);
    p2 = s_prepared (1);
    CU_ASSERT_EQUAL_FATAL (p1, 4);
    CU_ASSERT_EQUAL_FATAL (p2, 1);
    /* SIGKILL it and start it again */
    tpc_proc_kill (&W.agent[1], SIGKILL, 5000);
    CU_ASSERT_EQUAL_FATAL (s_spawn_agent (1, NULL), 0);
    int64_t ready = W.agent_ready_ms[1], last = ready;
    for (int i = 0; i < 4; i++) {
        pthread_join (f[i].thread, NULL);
        CU_ASSERT_EQUAL (f[i].out, TPC_CLIENT_ABORTED);
        if (f[i].done_ms > last)
            last = f[i].done_ms;
    }
    /* no prepared transaction left in either database */
    int64_t n = -1;
    end = tpc_now_ms () + 20000;
    while ((n = s_prepared (0) + s_prepared (1)) != 0
           && tpc_now_ms () < end)
        usleep (10 * 1000);
    CU_ASSERT_EQUAL (n, 0);
    int64_t clean = tpc_now_ms ();
    if (clean > last)
        last = clean;
    printf ("\nrecovery agent_back_ms_max=%lld\n", (long long) (last - ready));
    fflush (stdout);
    CU_ASSERT (last - ready <= 1000);
    CU_ASSERT_EQUAL (s_sum (0), s1);
    CU_ASSERT_EQUAL (s_sum (1), s2);
    char log[600];
    s_path (log, sizeof log, "coordinator.log");
    CU_ASSERT (tpc_harness_file_has (log, "agent 'db2' restarted"));
    /* back to the suite's coordinator (2 s vote timeout) */
    CU_ASSERT_EQUAL (s_wait_agents (), 0);
    tpc_proc_kill (&W.coord, SIGTERM, 5000);
    W.default_vote_timeout = false;
    CU_ASSERT_EQUAL (s_start_coord (NULL), 0);
}

static const tpc_test_case_t s_cases[] = {
    { "commit_two_databases", test_commit_two_databases },
    { "interactive_rollback", test_interactive_rollback },
    { "no_vote_aborts_both", test_no_vote_aborts_both },
    { "readonly_and_one_phase", test_readonly_and_one_phase },
    { "coordinator_killed_after_decision", test_coordinator_killed_after_decision },
    { "agent_killed_after_prepare", test_agent_killed_after_prepare },
    { "postgres_restart_while_prepared", test_postgres_restart_while_prepared },
    { "participant_never_answers", test_participant_never_answers },
    { "lost_reply_resolved_by_status", test_lost_reply_resolved_by_status },
    { "crash_point_commit_sent_first_of_two",
      test_crash_point_commit_sent_first_of_two },
    { "crash_point_agent_after_commit_prepared",
      test_crash_point_agent_after_commit_prepared },
    { "crash_point_postgres_dies_at_agent_prepare",
      test_crash_point_postgres_dies_at_agent_prepare },
    { "agent_restart_frees_its_work", test_agent_restart_frees_its_work },
    { NULL, NULL }
};

int
main (void)
{
    const tpc_test_suite_t suites[] = {
        { "e2e_pg", s_setup, s_teardown, s_cases },
        { NULL, NULL, NULL, NULL }
    };
    return tpc_test_main ("test_e2e_pg", suites);
}
