/*  test_e2e_etcd: tpc end to end with its decisions on etcd.
 *
 *  A 3-member etcd cluster (scripts/etcdtmp), two throwaway PostgreSQL
 *  clusters, the real tpc-coordinator started with --store etcd://... and
 *  no log directory at all, and two real agents, driven through libtpc.
 *  The coordinator is killed (at a crash point after the decision became
 *  durable on etcd, and with SIGKILL under a load of bank transfers) and
 *  started again on the same etcd: it must find its decisions there,
 *  finish the in-doubt transactions, and leave the bank balanced with
 *  nothing prepared.  With 2 of 3 etcd members killed it must stop
 *  (exit 3) without acknowledging the decision it could not write.
 *  etcd faults under load (below): one member killed (service goes on),
 *  two of three (no acknowledged transfer lost, nothing mixed, stop, then
 *  finish once the quorum is back), all down (an erroring write is never
 *  acknowledged).  etcd or PostgreSQL missing is a failure.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tpc_client.h"
#include "tpc_harness.h"
#include "tpc_test.h"

#define PREPARED_SQL "SELECT count(*) FROM pg_prepared_xacts WHERE database = current_database()"
#define S_CLIENTS 4
/* --store-timeout-ms: a write of unknown fate is retried within 3 x this
 * in all (coord_store_etcd.c), so a coordinator that cannot write stops
 * within 3 x this of the write's start; the tests wait that plus a margin
 * for a loaded machine (CI runs under ASan too)                         */
#define S_STORE_TIMEOUT "5000"
#define S_EXIT_WAIT_MS (3 * 5000 + 10000)

typedef struct {
    char *dir;
    char db[2][512];            /* conninfo */
    char dbdir[2][512];
    char etcd_dir[512], eps[512], store[600];
    char cep[64], aep[64];      /* client and agent endpoints */
    tpc_proc_t coord;
    tpc_proc_t agent[2];
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
    static const char *const names[] = { "db1", "db2" };
    return tpc_harness_wait_agents (W.cep, NULL, names, 2,
                                    TPC_HARNESS_BY_PROBE);
}

/*  The coordinator on etcd: no --log-dir.                                */
static int
s_start_coord (char *const env[])
{
    char log[480];
    s_path (log, sizeof log, "coordinator.log");
    char *args[] = { "--id", "e2eetcd", "--store", W.store, "--bind", W.cep,
                     "--agent-bind", W.aep, "--txn-timeout-ms", "20000",
                     "--vote-timeout-ms", "2000", "--store-timeout-ms",
                     S_STORE_TIMEOUT, "--checkpoint-records", "50",
                     "--insecure-plaintext", NULL };
    if (tpc_harness_start_coord (&W.coord, args, env, log))
        return -1;
    return W.agent[0].pid > 0 && W.agent[1].pid > 0 ? s_wait_agents () : 0;
}

static int
s_start_agent (int i)
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
    return tpc_harness_start_agent (&W.agent[i], args, NULL, log);
}

static int
s_setup (void)
{
    memset (&W, 0, sizeof W);
    W.dir = tpc_test_tmpdir ("e2e_etcd");
    if (!W.dir)
        return -1;
    s_path (W.etcd_dir, sizeof W.etcd_dir, "etcd");
    if (tpc_harness_etcd_start (W.etcd_dir, 3, W.eps, sizeof W.eps))
        return -1;
    snprintf (W.store, sizeof W.store, "etcd://%s", W.eps);
    if (tpc_harness_pg_world (W.dir, 2, W.dbdir, W.db,
                              TPC_HARNESS_ACCT_SQL ("100")))
        return -1;
    snprintf (W.cep, sizeof W.cep, "tcp://127.0.0.1:%d",
              tpc_harness_free_port ());
    snprintf (W.aep, sizeof W.aep, "tcp://127.0.0.1:%d",
              tpc_harness_free_port ());
    if (s_start_coord (NULL) || s_start_agent (0) || s_start_agent (1)
        || s_wait_agents ())
        return -1;
    return 0;
}

static int
s_teardown (void)
{
    tpc_harness_stop (&W.coord, W.agent, 2);
    tpc_harness_etcd_cmd ("destroy", W.etcd_dir, NULL);
    tpc_harness_clean (&W.dir, 2);
    return 0;
}

static int64_t
s_sum (int i)
{
    return tpc_harness_sql_int (W.db[i], "SELECT sum(bal) FROM acct");
}

static int64_t
s_prepared (int i)
{
    return tpc_harness_sql_int (W.db[i], PREPARED_SQL);
}

/*  Wait until neither database holds a prepared transaction; the number
 *  left.                                                                 */
static int64_t
s_wait_no_prepared (int timeout_ms)
{
    int64_t end = tpc_now_ms () + timeout_ms, n;
    do {
        n = s_prepared (0) + s_prepared (1);
        if (n == 0)
            return 0;
        usleep (50 * 1000);
    } while (tpc_now_ms () < end);
    return n;
}

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

/* ---------------------------------------------------------------- cases */

static void
test_commit_on_etcd (void)
{
    char log[480];
    s_path (log, sizeof log, "coordinator.log");
    CU_ASSERT (tpc_harness_file_has (log, "ready id=e2eetcd epoch=1 "));
    tpc_client_opts_t o = { .timeout_ms = 10000 };
    tpc_client_t *c = tpc_client_new (W.cep, &o);
    CU_ASSERT_PTR_NOT_NULL_FATAL (c);
    char gid[TPC_CLIENT_GID_MAX];
    tpc_client_outcome_t out;
    CU_ASSERT_EQUAL (s_transfer (c, "5", "1", "1", gid, &out), 0);
    CU_ASSERT_EQUAL (out, TPC_CLIENT_COMMITTED);
    CU_ASSERT_EQUAL (s_wait_no_prepared (10000), 0);
    CU_ASSERT_EQUAL (s_sum (0), 995);
    CU_ASSERT_EQUAL (s_sum (1), 1005);
    tpc_client_destroy (&c);
    /* the records are on etcd, under the default prefix /tpc/<id>/ */
    CU_ASSERT (tpc_harness_etcd_keys (W.eps, "/tpc/e2eetcd/b/") >= 2);
    char v[64] = "";
    CU_ASSERT_EQUAL (tpc_harness_etcdctl (W.eps, "get --print-value-only "
                                          "/tpc/e2eetcd/epoch", v, sizeof v),
                     0);
    CU_ASSERT_STRING_EQUAL (v, "1\n");
}

static void
test_killed_after_decision (void)
{
    tpc_proc_kill (&W.coord, SIGTERM, 5000);
    char *env[] = { "TPC_CRASH_POINT=coord.after_fsync", NULL };
    CU_ASSERT_EQUAL_FATAL (s_start_coord (env), 0);
    int64_t s1 = s_sum (0), s2 = s_sum (1);
    tpc_client_opts_t o = { .timeout_ms = 3000 };
    tpc_client_t *c = tpc_client_new (W.cep, &o);
    char gid[TPC_CLIENT_GID_MAX];
    tpc_client_outcome_t out;
    CU_ASSERT_NOT_EQUAL (s_transfer (c, "7", "4", "4", gid, &out), 0);
    int st = tpc_proc_wait (&W.coord, 5000);
    CU_ASSERT (st != -1 && WIFEXITED (st) && WEXITSTATUS (st) == 99);
    tpc_client_destroy (&c);
    /* decided on etcd, sent to nobody: both prepared */
    CU_ASSERT_EQUAL (s_prepared (0), 1);
    CU_ASSERT_EQUAL (s_prepared (1), 1);
    long at = tpc_proc_log_size (&W.coord);
    CU_ASSERT_EQUAL_FATAL (s_start_coord (NULL), 0);
    CU_ASSERT_EQUAL (tpc_proc_wait_log (&W.coord, "in_doubt=1 ", at, 1000),
                     0);
    CU_ASSERT_EQUAL (s_wait_no_prepared (15000), 0);
    CU_ASSERT_EQUAL (s_sum (0), s1 - 7);
    CU_ASSERT_EQUAL (s_sum (1), s2 + 7);
}

typedef struct {
    atomic_bool stop;
    atomic_long acked;          /* committed, and the client was told */
    atomic_long unknown;        /* no answer: in doubt */
    atomic_long aborted;
} s_load_t;

typedef struct {
    s_load_t *load;
    int n;
} s_worker_t;

static void *
s_worker_main (void *arg)
{
    s_worker_t *w = arg;
    tpc_client_opts_t o = { .timeout_ms = 3000 };
    tpc_client_t *c = tpc_client_new (W.cep, &o);
    for (long i = 0; c && !atomic_load (&w->load->stop); i++) {
        char from[8], to[8], gid[TPC_CLIENT_GID_MAX];
        snprintf (from, sizeof from, "%ld", 1 + (w->n * 3 + i) % 10);
        snprintf (to, sizeof to, "%ld", 1 + (w->n * 7 + i) % 10);
        tpc_client_outcome_t out = TPC_CLIENT_OUTCOME_UNKNOWN;
        int rc = s_transfer (c, "1", from, to, gid, &out);
        if (rc == 0 && out == TPC_CLIENT_COMMITTED)
            atomic_fetch_add (&w->load->acked, 1);
        else if (out == TPC_CLIENT_ABORTED)
            atomic_fetch_add (&w->load->aborted, 1);
        else
            atomic_fetch_add (&w->load->unknown, 1);
    }
    tpc_client_destroy (&c);
    return NULL;
}

static void
test_sigkill_under_load (void)
{
    int64_t s1 = s_sum (0), s2 = s_sum (1);
    s_load_t load = { 0 };
    s_worker_t w[S_CLIENTS];
    pthread_t t[S_CLIENTS];
    for (int i = 0; i < S_CLIENTS; i++) {
        w[i] = (s_worker_t) { .load = &load, .n = i };
        CU_ASSERT_EQUAL_FATAL (pthread_create (&t[i], NULL, s_worker_main,
                                               &w[i]), 0);
    }
    /* kill once transfers are flowing */
    int64_t end = tpc_now_ms () + 20000;
    while (atomic_load (&load.acked) < 40 && tpc_now_ms () < end)
        usleep (5 * 1000);
    CU_ASSERT (atomic_load (&load.acked) >= 40);
    int st = tpc_proc_kill (&W.coord, SIGKILL, 5000);
    CU_ASSERT (st != -1 && WIFSIGNALED (st));
    long acked_at_kill = atomic_load (&load.acked);
    atomic_store (&load.stop, true);
    for (int i = 0; i < S_CLIENTS; i++)
        pthread_join (t[i], NULL);
    int64_t prepared_at_kill = s_prepared (0) + s_prepared (1);
    int64_t t0 = tpc_now_ms ();
    CU_ASSERT_EQUAL_FATAL (s_start_coord (NULL), 0);
    int64_t left = s_wait_no_prepared (20000);
    int64_t finished_ms = tpc_now_ms () - t0;
    CU_ASSERT_EQUAL (left, 0);
    /* every transfer moved 1 from db1 to db2, whole or not at all */
    int64_t d1 = s1 - s_sum (0), d2 = s_sum (1) - s2;
    long acked = atomic_load (&load.acked);
    CU_ASSERT_EQUAL (d1, d2);
    CU_ASSERT (d1 >= acked);                            /* none lost */
    CU_ASSERT (d1 <= acked + atomic_load (&load.unknown));
    /* checkpoints every 50 records (--checkpoint-records; 40 acked
     * transfers append 80 COMMIT and END records) keep the keyspace
     * bounded: the first batches are gone                               */
    long batches = tpc_harness_etcd_keys (W.eps, "/tpc/e2eetcd/b/");
    CU_ASSERT (batches >= 1 && batches <= 120);
    CU_ASSERT_EQUAL (tpc_harness_etcd_keys (W.eps, "/tpc/e2eetcd/b/"
                                            "0000000000000001"), 0);
    printf ("\ne2e etcd sigkill clients=%d acked=%ld acked_at_kill=%ld "
            "in_doubt=%ld prepared_at_kill=%lld moved=%lld "
            "in_doubt_finished_ms=%lld mixed=%d lost=%d prepared_left=%lld "
            "batches=%ld\n",
            S_CLIENTS, acked, acked_at_kill, atomic_load (&load.unknown),
            (long long) prepared_at_kill, (long long) d1,
            (long long) finished_ms, d1 != d2, d1 < acked, (long long) left,
            batches);
    fflush (stdout);
}

/*  etcd loses its quorum while a decision is being written: the decision
 *  is never acknowledged, the coordinator stops (exit 3, like a failed
 *  fdatasync); with the quorum back and the coordinator restarted, the
 *  transfer ends whole one way or the other and nothing stays prepared. */
static void
test_quorum_lost_stops (void)
{
    int64_t s1 = s_sum (0), s2 = s_sum (1);
    CU_ASSERT_EQUAL_FATAL (tpc_harness_etcd_cmd ("kill", W.etcd_dir, "1 2"),
                           0);
    tpc_client_opts_t o = { .timeout_ms = 8000 };
    tpc_client_t *c = tpc_client_new (W.cep, &o);
    char gid[TPC_CLIENT_GID_MAX];
    tpc_client_outcome_t out = TPC_CLIENT_OUTCOME_UNKNOWN;
    int rc = s_transfer (c, "7", "2", "2", gid, &out);
    CU_ASSERT (rc != 0 && out != TPC_CLIENT_COMMITTED);
    tpc_client_destroy (&c);
    int st = tpc_proc_wait (&W.coord, S_EXIT_WAIT_MS);
    CU_ASSERT (st != -1 && WIFEXITED (st) && WEXITSTATUS (st) == 3);
    char log[480];
    s_path (log, sizeof log, "coordinator.log");
    CU_ASSERT (tpc_harness_file_has (log, "FATAL: the etcd write of the "
                                     "decision records failed"));
    int64_t prepared = s_prepared (0) + s_prepared (1);
    CU_ASSERT_EQUAL (prepared, 2);
    char eps[512];
    CU_ASSERT_EQUAL_FATAL (tpc_harness_etcd_start (W.etcd_dir, 3, eps,
                                                   sizeof eps), 0);
    CU_ASSERT_EQUAL_FATAL (s_start_coord (NULL), 0);
    CU_ASSERT_EQUAL (s_wait_no_prepared (20000), 0);
    /* whole: moved on both sides or on neither */
    int64_t d1 = s1 - s_sum (0), d2 = s_sum (1) - s2;
    CU_ASSERT_EQUAL (d1, d2);
    CU_ASSERT (d1 == 0 || d1 == 7);
    printf ("\ne2e etcd quorum_lost coordinator_exit=%d acknowledged=0 "
            "prepared_at_stop=%lld outcome=%s mixed=%d prepared_left=0\n",
            st != -1 && WIFEXITED (st) ? WEXITSTATUS (st) : -1,
            (long long) prepared, d1 ? "committed" : "aborted", d1 != d2);
    fflush (stdout);
}

/* ------------------------------------------------------- etcd faults
 *  Under a load of S_CLIENTS transfer loops (each moves 1 from db1 to
 *  db2): one member killed (service goes on), two of three killed (no
 *  decision acknowledged that is not on etcd, nothing mixed, the
 *  coordinator stops and, restarted once the quorum is back, finishes
 *  everything), every member down (a write that errors is never
 *  acknowledged).
 */

typedef struct {
    s_load_t load;
    s_worker_t w[S_CLIENTS];
    pthread_t t[S_CLIENTS];
    int64_t s1, s2;             /* the sums before */
} s_run_t;

static int
s_run_start (s_run_t *r)
{
    memset (r, 0, sizeof *r);
    r->s1 = s_sum (0);
    r->s2 = s_sum (1);
    for (int i = 0; i < S_CLIENTS; i++) {
        r->w[i] = (s_worker_t) { .load = &r->load, .n = i };
        if (pthread_create (&r->t[i], NULL, s_worker_main, &r->w[i]))
            return -1;
    }
    return 0;
}

/*  Wait until N more transfers were acknowledged than AFTER; the count. */
static long
s_run_wait_acked (s_run_t *r, long after, long n, int timeout_ms)
{
    int64_t end = tpc_now_ms () + timeout_ms;
    while (atomic_load (&r->load.acked) < after + n && tpc_now_ms () < end)
        usleep (5 * 1000);
    return atomic_load (&r->load.acked);
}

static void
s_run_stop (s_run_t *r)
{
    atomic_store (&r->load.stop, true);
    for (int i = 0; i < S_CLIENTS; i++)
        pthread_join (r->t[i], NULL);
}

/*  The bank check once nothing is prepared: every transfer whole, none
 *  acknowledged lost.  *MOVED: transfers that moved money.  True if it
 *  holds.                                                                */
static bool
s_run_check (s_run_t *r, int64_t *moved)
{
    int64_t d1 = r->s1 - s_sum (0), d2 = s_sum (1) - r->s2;
    long acked = atomic_load (&r->load.acked);
    *moved = d1;
    CU_ASSERT_EQUAL (d1, d2);                           /* nothing mixed */
    CU_ASSERT (d1 >= acked);                            /* none lost */
    CU_ASSERT (d1 <= acked + atomic_load (&r->load.unknown));
    return d1 == d2 && d1 >= acked
           && d1 <= acked + atomic_load (&r->load.unknown);
}

static bool
s_coord_alive (void)
{
    return tpc_proc_wait (&W.coord, 0) == -1 && W.coord.pid > 0;
}

/*  Account 11 (balance 100) in both databases, once: the rows the load
 *  (accounts 1-10) never touches, so a transfer after a stop is not held
 *  by the row lock of a load transaction its agent still has open.       */
static void
s_spare_account (void)
{
    for (int i = 0; i < 2; i++)
        CU_ASSERT_EQUAL (tpc_harness_sql (W.db[i], "INSERT INTO acct VALUES "
                                          "(11, 100) ON CONFLICT DO "
                                          "NOTHING"), 0);
}

/*  Print the coordinator log's lines about etcd (a failed case's why).   */
static void
s_show_etcd_lines (void)
{
    char path[480], line[512];
    s_path (path, sizeof path, "coordinator.log");
    FILE *f = fopen (path, "r");
    while (f && fgets (line, sizeof line, f))
        if (strstr (line, "etcd") || strstr (line, "FATAL"))
            printf ("  coordinator.log: %s", line);
    if (f)
        fclose (f);
}

/*  The member the coordinator talks to (etcd's Raft leader: the store
 *  writes to the leader) is SIGKILLed under load: the store moves to
 *  another member, the coordinator keeps deciding, transfers keep being
 *  acknowledged.                                                         */
static void
test_member_killed_under_load (void)
{
    if (!s_coord_alive ())
        CU_ASSERT_EQUAL_FATAL (s_start_coord (NULL), 0);
    s_run_t r;
    CU_ASSERT_EQUAL_FATAL (s_run_start (&r), 0);
    long before = s_run_wait_acked (&r, 0, 30, 20000);
    CU_ASSERT (before >= 30);
    int leader = tpc_harness_etcd_leader (W.eps);
    CU_ASSERT_FATAL (leader >= 1);
    char member[16];
    snprintf (member, sizeof member, "%d", leader);
    CU_ASSERT_EQUAL (tpc_harness_etcd_cmd ("kill", W.etcd_dir, member), 0);
    long at_kill = atomic_load (&r.load.acked);
    long after = s_run_wait_acked (&r, at_kill, 30, 20000) - at_kill;
    s_run_stop (&r);
    bool alive = s_coord_alive ();
    CU_ASSERT (after >= 30);                            /* service goes on */
    CU_ASSERT (alive);
    if (!alive || after < 30)
        s_show_etcd_lines ();
    int64_t left = s_wait_no_prepared (20000), moved = 0;
    CU_ASSERT_EQUAL (left, 0);
    bool ok = s_run_check (&r, &moved);
    printf ("\ne2e etcd member_killed clients=%d acked_before=%ld "
            "acked_after=%ld in_doubt=%ld moved=%lld coordinator_alive=%d "
            "mixed=%d lost=%d prepared_left=%lld killed=leader(m%d)\n",
            S_CLIENTS, at_kill,
            after, atomic_load (&r.load.unknown), (long long) moved, alive,
            !ok, moved < atomic_load (&r.load.acked), (long long) left,
            leader);
    fflush (stdout);
    char eps[512];
    CU_ASSERT_EQUAL (tpc_harness_etcd_start (W.etcd_dir, 3, eps, sizeof eps),
                     0);
}

/*  Two of three members SIGKILLed under load: the coordinator cannot
 *  write a decision and stops (exit 3) without acknowledging it; every
 *  acknowledged transfer is on etcd (none lost once it is back); the
 *  quorum back and the coordinator restarted, everything finishes whole
 *  and new transfers commit.                                             */
static void
test_quorum_lost_under_load (void)
{
    if (!s_coord_alive ())
        CU_ASSERT_EQUAL_FATAL (s_start_coord (NULL), 0);
    s_run_t r;
    CU_ASSERT_EQUAL_FATAL (s_run_start (&r), 0);
    CU_ASSERT (s_run_wait_acked (&r, 0, 30, 20000) >= 30);
    CU_ASSERT_EQUAL (tpc_harness_etcd_cmd ("kill", W.etcd_dir, "2 3"), 0);
    long at_kill = atomic_load (&r.load.acked);
    int st = tpc_proc_wait (&W.coord, S_EXIT_WAIT_MS);
    CU_ASSERT (st != -1 && WIFEXITED (st) && WEXITSTATUS (st) == 3);
    long at_stop = atomic_load (&r.load.acked);
    s_run_stop (&r);
    int64_t prepared = s_prepared (0) + s_prepared (1);
    char eps[512];
    CU_ASSERT_EQUAL_FATAL (tpc_harness_etcd_start (W.etcd_dir, 3, eps,
                                                   sizeof eps), 0);
    int64_t t0 = tpc_now_ms ();
    CU_ASSERT_EQUAL_FATAL (s_start_coord (NULL), 0);
    int64_t left = s_wait_no_prepared (20000), moved = 0;
    int64_t finished_ms = tpc_now_ms () - t0;
    CU_ASSERT_EQUAL (left, 0);
    bool ok = s_run_check (&r, &moved);
    /* service resumes */
    s_spare_account ();
    tpc_client_opts_t o = { .timeout_ms = 10000 };
    tpc_client_t *c = tpc_client_new (W.cep, &o);
    char gid[TPC_CLIENT_GID_MAX];
    tpc_client_outcome_t out = TPC_CLIENT_OUTCOME_UNKNOWN;
    CU_ASSERT_EQUAL (s_transfer (c, "1", "11", "11", gid, &out), 0);
    CU_ASSERT_EQUAL (out, TPC_CLIENT_COMMITTED);
    tpc_client_destroy (&c);
    printf ("\ne2e etcd quorum_lost_under_load clients=%d acked_at_kill=%ld "
            "acked_after_kill=%ld coordinator_exit=%d prepared_at_stop=%lld "
            "in_doubt=%ld moved=%lld finished_ms=%lld mixed=%d lost=%d "
            "prepared_left=%lld resumed=%d\n", S_CLIENTS, at_kill,
            at_stop - at_kill, st != -1 && WIFEXITED (st)
            ? WEXITSTATUS (st) : -1, (long long) prepared,
            atomic_load (&r.load.unknown), (long long) moved,
            (long long) finished_ms, !ok,
            moved < atomic_load (&r.load.acked), (long long) left,
            out == TPC_CLIENT_COMMITTED);
    fflush (stdout);
}

/*  Every member down: the decision's write errors (connection refused on
 *  each endpoint), the transfer is not acknowledged, the coordinator
 *  stops; with etcd back it ends whole.                                  */
static void
test_all_members_down (void)
{
    if (!s_coord_alive ())
        CU_ASSERT_EQUAL_FATAL (s_start_coord (NULL), 0);
    s_spare_account ();
    int64_t s1 = s_sum (0), s2 = s_sum (1);
    CU_ASSERT_EQUAL_FATAL (tpc_harness_etcd_cmd ("kill", W.etcd_dir, NULL),
                           0);
    tpc_client_opts_t o = { .timeout_ms = 8000 };
    tpc_client_t *c = tpc_client_new (W.cep, &o);
    char gid[TPC_CLIENT_GID_MAX];
    tpc_client_outcome_t out = TPC_CLIENT_OUTCOME_UNKNOWN;
    int rc = s_transfer (c, "9", "11", "11", gid, &out);
    CU_ASSERT (rc != 0 && out != TPC_CLIENT_COMMITTED);
    tpc_client_destroy (&c);
    int st = tpc_proc_wait (&W.coord, S_EXIT_WAIT_MS);
    CU_ASSERT (st != -1 && WIFEXITED (st) && WEXITSTATUS (st) == 3);
    char eps[512];
    CU_ASSERT_EQUAL_FATAL (tpc_harness_etcd_start (W.etcd_dir, 3, eps,
                                                   sizeof eps), 0);
    CU_ASSERT_EQUAL_FATAL (s_start_coord (NULL), 0);
    CU_ASSERT_EQUAL (s_wait_no_prepared (20000), 0);
    int64_t d1 = s1 - s_sum (0), d2 = s_sum (1) - s2;
    CU_ASSERT_EQUAL (d1, d2);
    CU_ASSERT (d1 == 0 || d1 == 9);
    printf ("\ne2e etcd all_down coordinator_exit=%d acknowledged=%d "
            "outcome=%s mixed=%d\n", st != -1 && WIFEXITED (st)
            ? WEXITSTATUS (st) : -1, out == TPC_CLIENT_COMMITTED,
            d1 ? "committed" : "aborted", d1 != d2);
    fflush (stdout);
}

static const tpc_test_case_t s_cases[] = {
    { "commit_on_etcd", test_commit_on_etcd },
    { "killed_after_decision", test_killed_after_decision },
    { "sigkill_under_load", test_sigkill_under_load },
    { "quorum_lost_stops", test_quorum_lost_stops },
    { "member_killed_under_load", test_member_killed_under_load },
    { "quorum_lost_under_load", test_quorum_lost_under_load },
    { "all_members_down", test_all_members_down },
    { NULL, NULL }
};

int
main (void)
{
    const tpc_test_suite_t suites[] = {
        { "e2e_etcd", s_setup, s_teardown, s_cases },
        { NULL, NULL, NULL, NULL }
    };
    return tpc_test_main ("test_e2e_etcd", suites);
}
