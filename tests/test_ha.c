/*  test_ha: coordinator high availability on etcd (issue 15), end to end.
 *
 *  A 3-member etcd cluster (scripts/etcdtmp), two throwaway PostgreSQL
 *  clusters holding the bank (accounts 1..10 at 100 on each side), two
 *  real tpc-coordinators of ONE id started with --ha on that etcd, and
 *  two real agents.  One coordinator leads, the other follows (answers
 *  TPC_ENOT_LEADER naming the leader).  The agents take one coordinator
 *  endpoint: when the leader changes, the test restarts them on the new
 *  leader's agent endpoint at once (libtpc and the agents following the
 *  leader themselves is another part of issue 15).
 *
 *  Cases: the follower refuses and names the leader; SIGKILL of the
 *  leader under 16 clients of transfers (the follower takes over and
 *  every in-doubt transaction ends within 2 x the lease TTL of the kill);
 *  the two-phase coordinator crash points prepare_sent, votes_in,
 *  before_decision (no decision: aborted), after_decision_append (not
 *  durable: aborted), after_fsync (decision durable, nothing sent),
 *  commit_sent (mid phase 2), before_end (all acked, no END); split brain: the leader SIGSTOPped (a crash point with
 *  action=stop) right after the last vote of a transfer, past its lease,
 *  the follower takes over and commits new transfers, the old one is
 *  SIGCONTed: its first act is the decision write, which etcd refuses
 *  (fenced_writes >= 1), it sends nothing and rejoins as a follower.
 *  The leader cut from etcd (every member SIGSTOPped) stops deciding.
 *  Last, the group again with CURVE keys (curve_group): the follower
 *  refuses an unlisted key as the leader does, failover still works.
 *  Every case ends with the bank whole and nothing prepared.
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
#include "tpc_error.h"
#include "tpc_harness.h"
#include "tpc_test.h"

#define PREPARED_SQL "SELECT count(*) FROM pg_prepared_xacts WHERE database = current_database()"
#define S_CLIENTS 16
#define S_TTL_MS 4000     /* the lease: a takeover takes about that */
#define S_TTL_TEXT "4000"

typedef struct {
    char *dir;
    char db[2][512];            /* conninfo */
    char dbdir[2][512];
    char etcd_dir[512], eps[512], store[600];
    char cep[2][64], aep[2][64];    /* per coordinator */
    tpc_proc_t coord[2];
    tpc_proc_t agent[2];
    int leader;                 /* index of the leading coordinator */
    bool curve;                 /* CURVE keys in KEYS (case curve_group) */
    char keys[520];
} s_world_t;

static s_world_t W;

static void
s_path (char *buf, size_t size, const char *name)
{
    snprintf (buf, size, "%s/%s", W.dir, name);
}

/*  KEYS/private/NAME.key_secret (SECRET) or NAME.key, in one of four
 *  rotating buffers.                                                     */
static const char *
s_key (const char *name, bool secret)
{
    static char buf[4][700];
    static int n;
    char *p = buf[n++ % 4];
    snprintf (p, 700, "%s/private/%s.key%s", W.keys, name,
              secret ? "_secret" : "");
    return p;
}

static int
s_start_coord (int i, char *const env[])
{
    char log[480], name[32], dirs[3][600];
    snprintf (name, sizeof name, "coord%d.log", i + 1);
    s_path (log, sizeof log, name);
    snprintf (dirs[0], sizeof dirs[0], "%s/clients", W.keys);
    snprintf (dirs[1], sizeof dirs[1], "%s/admins", W.keys);
    snprintf (dirs[2], sizeof dirs[2], "%s/agents", W.keys);
    char *args[] = { "--id", "ha", "--store", W.store, "--ha",
                     "--lease-ttl-ms", S_TTL_TEXT, "--bind", W.cep[i],
                     "--agent-bind", W.aep[i], "--txn-timeout-ms", "20000",
                     "--vote-timeout-ms", "2000", "--store-timeout-ms",
                     "1000", "--heartbeat-ms", "300", "--insecure-plaintext",
                     getenv ("TPC_HA_KEEP") ? "--verbose" : NULL, NULL,
                     NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL };
    if (W.curve) {              /* the plaintext flag becomes the keys */
        char **a = args;
        while (strcmp (*a, "--insecure-plaintext"))
            a++;
        *a++ = "--curve-secret";
        *a++ = (char *) s_key ("coordinator", true);
        *a++ = "--allow-clients";
        *a++ = dirs[0];
        *a++ = "--allow-admins";
        *a++ = dirs[1];
        *a++ = "--allow-agents";
        *a++ = dirs[2];
        *a++ = getenv ("TPC_HA_KEEP") ? "--verbose" : NULL;
    }
    return tpc_harness_start_coord (&W.coord[i], args, env, log);
}

/*  Client options: TIMEOUT_MS, and with CURVE the key pair NAME.         */
static tpc_client_opts_t
s_opts (const char *name, int timeout_ms)
{
    tpc_client_opts_t o = { .timeout_ms = timeout_ms };
    if (W.curve) {
        o.curve_secret_file = s_key (name, true);
        o.curve_server_file = s_key ("coordinator", false);
    }
    return o;
}

/*  The agents, on both coordinators' agent endpoints.                  */
static int
s_start_agents (void)
{
    char eps[160];
    snprintf (eps, sizeof eps, "%s,%s", W.aep[0], W.aep[1]);
    for (int a = 0; a < 2; a++) {
        char log[480], name[8], file[480], tag[32];
        snprintf (name, sizeof name, "db%d", a + 1);
        snprintf (tag, sizeof tag, "agent-db%d.log", a + 1);
        s_path (log, sizeof log, tag);
        snprintf (tag, sizeof tag, "db%d.conninfo", a + 1);
        s_path (file, sizeof file, tag);
        if (tpc_harness_write_line (file, W.db[a]))
            return -1;
        char *args[] = { "--name", name, "--coordinator", eps,
                         "--pg-file", file, "--heartbeat-ms", "300",
                         "--insecure-plaintext", NULL, NULL, NULL, NULL };
        if (W.curve) {              /* in place of --insecure-plaintext */
            args[8] = "--curve-secret";
            args[9] = (char *) s_key (name, true);
            args[10] = "--coordinator-public";
            args[11] = (char *) s_key ("coordinator", false);
        }
        if (tpc_harness_start_agent (&W.agent[a], args, NULL, log))
            return -1;
    }
    return 0;
}

static int
s_wait_agents (int i)
{
    static const char *const names[] = { "db1", "db2" };
    tpc_client_opts_t o = s_opts ("ops", 2000);
    return tpc_harness_wait_agents (W.cep[i], &o, names, 2,
                                    TPC_HARNESS_BY_SUMMARY);
}

/*  The size of coordinator I's log now (0 when there is none yet).     */
static long
s_log_size (int i)
{
    char log[480], name[32];
    snprintf (name, sizeof name, "coord%d.log", i + 1);
    s_path (log, sizeof log, name);
    FILE *f = fopen (log, "r");
    long n = 0;
    if (f && fseek (f, 0, SEEK_END) == 0)
        n = ftell (f);
    if (f)
        fclose (f);
    return n;
}

/*  Start coordinator I with ENV and wait for its follower line.         */
static int
s_start_follower (int i, char *const env[])
{
    long at = s_log_size (i);
    if (s_start_coord (i, env))
        return -1;
    return tpc_proc_wait_log (&W.coord[i], "follower id=ha ", at, 5000);
}

/*  A transfer of AMOUNT through coordinator COORD from a thread.       */
typedef struct {
    int coord;
    const char *amount;
    int timeout_ms;
    int rc;
    pthread_t thread;
} s_async_t;

static int s_transfer_on (int i, const char *amount, int timeout_ms);

static void *
s_async_main (void *arg)
{
    s_async_t *a = arg;
    a->rc = s_transfer_on (a->coord, a->amount, a->timeout_ms);
    return NULL;
}

/*  Wait for coordinator I's "leader id=ha" line after OFFSET.           */
static int
s_wait_leader (int i, long offset, int timeout_ms)
{
    return tpc_proc_wait_log (&W.coord[i], "leader id=ha ", offset,
                              timeout_ms);
}

/*  Occurrences of NEEDLE in coordinator I's log after OFFSET.           */
static int
s_count (int i, const char *needle, long offset)
{
    FILE *f = fopen (W.coord[i].log, "r");
    int n = 0;
    char line[2048];
    if (!f)
        return -1;
    if (offset > 0)
        fseek (f, offset, SEEK_SET);
    while (fgets (line, sizeof line, f))
        n += strstr (line, needle) != NULL;
    fclose (f);
    return n;
}

static int
s_setup (void)
{
    memset (&W, 0, sizeof W);
    W.dir = tpc_test_tmpdir ("ha");
    if (!W.dir)
        return -1;
    s_path (W.etcd_dir, sizeof W.etcd_dir, "etcd");
    if (tpc_harness_etcd_start (W.etcd_dir, 3, W.eps, sizeof W.eps))
        return -1;
    snprintf (W.store, sizeof W.store, "etcd://%s", W.eps);
    if (tpc_harness_pg_world (W.dir, 2, W.dbdir, W.db,
                              TPC_HARNESS_ACCT_SQL ("100")))
        return -1;
    /* 1000 accounts: the load's transfers seldom wait for a row lock that
     * an in-doubt transaction holds (one that does prepares only once the
     * in-doubt one ended, and its agent asks about it doubt_ms later)     */
    for (int i = 0; i < 2; i++)
        if (tpc_harness_sql (W.db[i], "INSERT INTO acct SELECT g, 100 FROM "
                             "generate_series (11, 1000) g"))
            return -1;
    for (int i = 0; i < 2; i++) {
        snprintf (W.cep[i], sizeof W.cep[i], "tcp://127.0.0.1:%d",
                  tpc_harness_free_port ());
        snprintf (W.aep[i], sizeof W.aep[i], "tcp://127.0.0.1:%d",
                  tpc_harness_free_port ());
    }
    /* the first one leads: the second is started once it does */
    if (s_start_coord (0, NULL) || s_wait_leader (0, 0, 10000)
        || s_start_coord (1, NULL)
        || tpc_proc_wait_log (&W.coord[1], "follower id=ha ", 0, 10000)
        || s_start_agents () || s_wait_agents (0))
        return -1;
    W.leader = 0;
    return 0;
}

static int
s_teardown (void)
{
    for (int i = 0; i < 2; i++)
        if (W.coord[i].pid > 0)
            kill (W.coord[i].pid, SIGCONT);     /* a failed split brain */
    tpc_harness_stop (&W.coord[1], NULL, 0);
    tpc_harness_stop (&W.coord[0], W.agent, 2);
    tpc_harness_etcd_cmd ("destroy", W.etcd_dir, NULL);
    if (getenv ("TPC_HA_KEEP"))        /* debugging: keep the logs */
        printf ("\ntest_ha: logs kept in %s\n", W.dir);
    else
        tpc_harness_clean (&W.dir, 2);
    return 0;
}

static int64_t
s_sum (int i)
{
    return tpc_harness_sql_int (W.db[i], "SELECT sum(bal) FROM acct");
}

static int64_t
s_prepared (void)
{
    return tpc_harness_sql_int (W.db[0], PREPARED_SQL)
           + tpc_harness_sql_int (W.db[1], PREPARED_SQL);
}

/*  Wait until no database holds a prepared transaction; the number left. */
static int64_t
s_wait_no_prepared (int timeout_ms)
{
    int64_t end = tpc_now_ms () + timeout_ms, n;
    do {
        n = s_prepared ();
        if (n == 0)
            return 0;
        usleep (20 * 1000);
    } while (tpc_now_ms () < end);
    return n;
}

static int
s_transfer (tpc_client_t *c, const char *amount, const char *from,
            const char *to, tpc_client_outcome_t *out)
{
    const char *dp[] = { amount, from }, *cp[] = { amount, to };
    tpc_client_stmt_t st[2] = {
        { "db1", "UPDATE acct SET bal = bal - $1 WHERE id = $2", 2, dp },
        { "db2", "UPDATE acct SET bal = bal + $1 WHERE id = $2", 2, cp },
    };
    char reason[256], gid[TPC_CLIENT_GID_MAX];
    return tpc_submit (c, st, 2, NULL, gid, out, reason, sizeof reason);
}

/*  One transfer of AMOUNT through coordinator I: 0 committed.          */
static int
s_transfer_on (int i, const char *amount, int timeout_ms)
{
    tpc_client_opts_t o = s_opts ("app", timeout_ms);
    tpc_client_t *c = tpc_client_new (W.cep[i], &o);
    tpc_client_outcome_t out = TPC_CLIENT_OUTCOME_UNKNOWN;
    int rc = c ? s_transfer (c, amount, "3", "3", &out) : -1;
    tpc_client_destroy (&c);
    return rc == 0 && out == TPC_CLIENT_COMMITTED ? 0 : -1;
}

/*  The follower (1 - leader) restarted with ENV, the leader stopped
 *  cleanly (it resigns: the follower takes over at once) and started
 *  again as a follower, the agents moved: the armed one leads.  0 / -1. */
static int
s_rotate (char *const env[])
{
    int l = W.leader, f = 1 - l;
    tpc_proc_kill (&W.coord[f], SIGTERM, 5000);
    if (s_start_follower (f, env))
        return -1;
    long at = tpc_proc_log_size (&W.coord[f]);
    tpc_proc_kill (&W.coord[l], SIGTERM, 5000);
    if (s_wait_leader (f, at, 10000) || s_wait_agents (f)
        || s_start_follower (l, NULL))
        return -1;
    W.leader = f;
    return 0;
}

/* ---------------------------------------------------------------- cases */

static void
test_follower_refuses (void)
{
    int f = 1 - W.leader;
    CU_ASSERT (tpc_harness_file_has (W.coord[f].log, "follower id=ha "
                                     "leader=tcp://127.0.0.1:"));
    CU_ASSERT (tpc_harness_file_has (W.coord[f].log, W.cep[W.leader]));
    int64_t s1 = s_sum (0);
    tpc_client_opts_t o = { .timeout_ms = 3000 };
    /* one endpoint, the follower's: refused, TPC_ENOT_LEADER */
    tpc_client_t *c = tpc_client_new (W.cep[f], &o);
    CU_ASSERT_PTR_NOT_NULL_FATAL (c);
    tpc_client_outcome_t out = TPC_CLIENT_OUTCOME_UNKNOWN;
    int rc = s_transfer (c, "5", "1", "1", &out);
    CU_ASSERT_EQUAL (rc, -19);
    CU_ASSERT_NOT_EQUAL (out, TPC_CLIENT_COMMITTED);
    tpc_client_destroy (&c);
    CU_ASSERT_EQUAL (s_sum (0), s1);
    /* the group's list, follower first: libtpc follows the leader the
     * follower names, and the transfer commits once                    */
    char group[160];
    snprintf (group, sizeof group, "%s,%s", W.cep[f], W.cep[W.leader]);
    c = tpc_client_new (group, &o);
    CU_ASSERT_PTR_NOT_NULL_FATAL (c);
    out = TPC_CLIENT_OUTCOME_UNKNOWN;
    rc = s_transfer (c, "5", "1", "1", &out);
    CU_ASSERT_EQUAL (rc, 0);
    CU_ASSERT_EQUAL (out, TPC_CLIENT_COMMITTED);
    tpc_client_destroy (&c);
    CU_ASSERT_EQUAL (s_wait_no_prepared (5000), 0);
    CU_ASSERT_EQUAL (s_sum (0), s1 - 5);
    /* tpcctl cluster: each member's view, a leader and a follower       */
    char cmd[1024], out_text[4096] = "";
    snprintf (cmd, sizeof cmd, "%s/tpcctl --coordinator %s,%s cluster",
              tpc_harness_builddir (), W.cep[W.leader], W.cep[f]);
    FILE *p = popen (cmd, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL (p);
    size_t n = fread (out_text, 1, sizeof out_text - 1, p);
    out_text[n] = '\0';
    int st = pclose (p);
    printf ("\n%s", out_text);
    CU_ASSERT (st != -1 && WIFEXITED (st) && WEXITSTATUS (st) == 0);
    CU_ASSERT (strstr (out_text, "role=leader") != NULL);
    CU_ASSERT (strstr (out_text, "role=follower") != NULL);
    char want[256];
    snprintf (want, sizeof want, "cluster leader=%s members=2 answered=2",
              W.cep[W.leader]);
    CU_ASSERT (strstr (out_text, want) != NULL);
    CU_ASSERT (strstr (out_text, "revision=0\nmember") == NULL);
    /* the follower served nothing: its log has no transaction */
    CU_ASSERT_FALSE (tpc_harness_file_has (W.coord[f].log, "submit"));
}

typedef struct {
    atomic_bool stop;
    atomic_long acked;          /* committed, and the client was told */
    atomic_long unknown;        /* no answer: in doubt */
} s_load_t;

typedef struct {
    s_load_t *load;
    int n, coord;
} s_worker_t;

static void *
s_worker_main (void *arg)
{
    s_worker_t *w = arg;
    tpc_client_opts_t o = { .timeout_ms = 3000 };
    tpc_client_t *c = tpc_client_new (W.cep[w->coord], &o);
    for (long i = 0; c && !atomic_load (&w->load->stop); i++) {
        char from[8], to[8];
        snprintf (from, sizeof from, "%ld", 1 + (w->n * 61 + i * 7) % 1000);
        snprintf (to, sizeof to, "%ld", 1 + (w->n * 37 + i * 13) % 1000);
        tpc_client_outcome_t out = TPC_CLIENT_OUTCOME_UNKNOWN;
        int rc = s_transfer (c, "1", from, to, &out);
        if (rc == 0 && out == TPC_CLIENT_COMMITTED)
            atomic_fetch_add (&w->load->acked, 1);
        else if (out != TPC_CLIENT_ABORTED)
            atomic_fetch_add (&w->load->unknown, 1);
        if (rc && out != TPC_CLIENT_ABORTED)
            break;              /* its coordinator is gone */
    }
    tpc_client_destroy (&c);
    return NULL;
}

static void
test_failover_under_load (void)
{
    int l = W.leader, f = 1 - l;
    int64_t s1 = s_sum (0), s2 = s_sum (1);
    s_load_t load = { 0 };
    s_worker_t w[S_CLIENTS];
    pthread_t t[S_CLIENTS];
    for (int i = 0; i < S_CLIENTS; i++) {
        w[i] = (s_worker_t) { .load = &load, .n = i, .coord = l };
        CU_ASSERT_EQUAL_FATAL (pthread_create (&t[i], NULL, s_worker_main,
                                               &w[i]), 0);
    }
    int64_t end = tpc_now_ms () + 30000;
    while (atomic_load (&load.acked) < 100 && tpc_now_ms () < end)
        usleep (5 * 1000);
    CU_ASSERT (atomic_load (&load.acked) >= 100);
    long at = tpc_proc_log_size (&W.coord[f]);
    int64_t t0 = tpc_now_ms ();
    int st = tpc_proc_kill (&W.coord[l], SIGKILL, 5000);
    atomic_store (&load.stop, true);    /* each ends its call in flight */
    CU_ASSERT (st != -1 && WIFSIGNALED (st));
    int64_t prepared_at_kill = s_prepared ();
    CU_ASSERT_EQUAL_FATAL (s_wait_leader (f, at, 4 * S_TTL_MS), 0);
    int64_t takeover_ms = tpc_now_ms () - t0;
    int64_t left = s_wait_no_prepared (4 * S_TTL_MS);
    int64_t finished_ms = tpc_now_ms () - t0;
    atomic_store (&load.stop, true);
    for (int i = 0; i < S_CLIENTS; i++)
        pthread_join (t[i], NULL);
    W.leader = f;
    CU_ASSERT_EQUAL (left, 0);
    CU_ASSERT (finished_ms <= 2 * S_TTL_MS);
    int64_t d1 = s1 - s_sum (0), d2 = s_sum (1) - s2;
    long acked = atomic_load (&load.acked);
    CU_ASSERT_EQUAL (d1, d2);
    CU_ASSERT (d1 >= acked);
    CU_ASSERT (d1 <= acked + atomic_load (&load.unknown));
    /* the new leader serves */
    CU_ASSERT_EQUAL (s_wait_agents (f), 0);
    CU_ASSERT_EQUAL (s_transfer_on (f, "1", 10000), 0);
    printf ("\nha failover kills=1 clients=%d acked=%ld in_doubt=%ld "
            "prepared_at_kill=%lld takeover_ms_max=%lld "
            "in_doubt_finished_ms_max=%lld lease_ttl_ms=%d mixed=%d lost=%d "
            "prepared_left=%lld\n", S_CLIENTS, acked,
            atomic_load (&load.unknown), (long long) prepared_at_kill,
            (long long) takeover_ms, (long long) finished_ms, S_TTL_MS,
            d1 != d2, d1 < acked, (long long) left);
    fflush (stdout);
    /* the killed one comes back as a follower */
    CU_ASSERT_EQUAL (s_start_follower (l, NULL), 0);
}

/*  The leader dies at crash point POINT in a transfer of 7: the follower
 *  takes over and ends it (COMMITTED: moved, else not).                 */
static void
s_crash_case (const char *point, bool committed)
{
    char envp[96];
    snprintf (envp, sizeof envp, "TPC_CRASH_POINT=coord.%s", point);
    char *env[] = { envp, NULL };
    CU_ASSERT_EQUAL_FATAL (s_rotate (env), 0);
    int l = W.leader, f = 1 - l;
    int64_t s1 = s_sum (0), s2 = s_sum (1);
    long at = tpc_proc_log_size (&W.coord[f]);
    s_async_t a = { .coord = l, .amount = "7", .timeout_ms = 3000 };
    CU_ASSERT_EQUAL_FATAL (pthread_create (&a.thread, NULL, s_async_main,
                                           &a), 0);
    int st = tpc_proc_wait (&W.coord[l], 5000);
    int64_t t0 = tpc_now_ms ();
    CU_ASSERT (st != -1 && WIFEXITED (st) && WEXITSTATUS (st) == 99);
    CU_ASSERT_EQUAL_FATAL (s_wait_leader (f, at, 4 * S_TTL_MS), 0);
    int64_t takeover_ms = tpc_now_ms () - t0;
    int64_t left = s_wait_no_prepared (4 * S_TTL_MS);
    int64_t finished_ms = tpc_now_ms () - t0;
    W.leader = f;
    pthread_join (a.thread, NULL);
    if (a.rc == 0)                      /* told after the failover */
        CU_ASSERT (committed);
    int64_t d1 = s1 - s_sum (0), d2 = s_sum (1) - s2;
    CU_ASSERT_EQUAL (left, 0);
    CU_ASSERT (finished_ms <= 2 * S_TTL_MS);
    CU_ASSERT_EQUAL (d1, d2);
    CU_ASSERT_EQUAL (d1, committed ? 7 : 0);
    printf ("\nha crash point=coord.%s kills=1 takeover_ms_max=%lld "
            "in_doubt_finished_ms_max=%lld outcome=%s mixed=%d lost=0 "
            "prepared_left=%lld\n", point, (long long) takeover_ms,
            (long long) finished_ms, d1 ? "committed" : "aborted", d1 != d2,
            (long long) left);
    fflush (stdout);
    CU_ASSERT_EQUAL (s_wait_agents (f), 0);
    CU_ASSERT_EQUAL (s_start_follower (l, NULL), 0);
}

static void
test_crash_after_fsync (void)
{
    s_crash_case ("after_fsync", true);
}

static void
test_crash_before_decision (void)
{
    s_crash_case ("before_decision", false);
}

static void
test_crash_commit_sent (void)
{
    s_crash_case ("commit_sent", true);
}

static void
test_crash_prepare_sent (void)
{
    s_crash_case ("prepare_sent", false);
}

static void
test_crash_votes_in (void)
{
    s_crash_case ("votes_in", false);
}

static void
test_crash_after_decision_append (void)
{
    s_crash_case ("after_decision_append", false);     /* not durable */
}

static void
test_crash_before_end (void)
{
    s_crash_case ("before_end", true);
}

static void
test_split_brain (void)
{
    char *env[] = { "TPC_CRASH_POINT=coord.before_decision",
                    "TPC_CRASH_ACTION=stop", NULL };
    CU_ASSERT_EQUAL_FATAL (s_rotate (env), 0);
    int l = W.leader, f = 1 - l;
    int64_t s1 = s_sum (0), s2 = s_sum (1);
    long at_f = tpc_proc_log_size (&W.coord[f]);
    long at_l = tpc_proc_log_size (&W.coord[l]);
    /* the last vote reaches the leader, which stops before its decision
     * write; the client hears nothing                                  */
    CU_ASSERT_NOT_EQUAL (s_transfer_on (l, "9", 1500), 0);
    CU_ASSERT_EQUAL_FATAL (tpc_proc_wait_log (&W.coord[l], "tpc-crash: "
                                              "coord.before_decision",
                                              at_l, 1000), 0);
    /* past its lease, the follower takes over; the transfer's votes
     * reached nobody else: presumed aborted                           */
    CU_ASSERT_EQUAL_FATAL (s_wait_leader (f, at_f, 4 * S_TTL_MS), 0);
    W.leader = f;
    CU_ASSERT_EQUAL (s_wait_no_prepared (4 * S_TTL_MS), 0);
    CU_ASSERT_EQUAL (s_sum (0), s1);
    CU_ASSERT_EQUAL (s_wait_agents (f), 0);
    int committed = 0;
    for (int i = 0; i < 5; i++)
        committed += s_transfer_on (f, "1", 10000) == 0;
    CU_ASSERT_EQUAL (committed, 5);
    /* the deposed one wakes: its decision write is refused, it sends
     * nothing and follows                                              */
    long at = tpc_proc_log_size (&W.coord[l]);
    CU_ASSERT_EQUAL (kill (W.coord[l].pid, SIGCONT), 0);
    CU_ASSERT_EQUAL (tpc_proc_wait_log (&W.coord[l], "follower id=ha ", at,
                                        4 * S_TTL_MS), 0);
    int fenced = s_count (l, "etcd: write refused", at);
    CU_ASSERT (fenced >= 1);
    CU_ASSERT (tpc_harness_file_has (W.coord[l].log, "rejoining as a "
                                     "follower"));
    CU_ASSERT_EQUAL (s_wait_no_prepared (5000), 0);
    int64_t d1 = s1 - s_sum (0), d2 = s_sum (1) - s2;
    CU_ASSERT_EQUAL (d1, d2);
    CU_ASSERT_EQUAL (d1, committed);    /* the 9 never moved */
    /* the new leader still serves; the old one refuses */
    CU_ASSERT_EQUAL (s_transfer_on (f, "1", 10000), 0);
    CU_ASSERT_NOT_EQUAL (s_transfer_on (l, "1", 3000), 0);
    /* the re-executed process is an ordinary follower: SIGTERM stops it
     * cleanly; it comes back for the next case                         */
    int st = tpc_proc_kill (&W.coord[l], SIGTERM, 5000);
    CU_ASSERT (st != -1 && WIFEXITED (st) && WEXITSTATUS (st) == 0);
    CU_ASSERT_EQUAL (s_start_follower (l, NULL), 0);
    printf ("\nha split-brain fenced_writes=%d committed_by_new=%d "
            "old_acknowledged=0 mixed=%d prepared_left=%lld\n", fenced,
            committed, d1 != d2, (long long) s_prepared ());
    fflush (stdout);
}

/*  SIG to every etcd member (scripts/etcdtmp's DIR/m<i>/pid).          */
static void
s_etcd_signal (int sig)
{
    for (int i = 1; i <= 3; i++) {
        char path[600];
        snprintf (path, sizeof path, "%s/m%d/pid", W.etcd_dir, i);
        FILE *f = fopen (path, "r");
        long pid = 0;
        if (f && fscanf (f, "%ld", &pid) == 1 && pid > 0)
            kill ((pid_t) pid, sig);
        if (f)
            fclose (f);
    }
}

/*  The leader cut from etcd (every member SIGSTOPped): the transfer in
 *  flight is never acknowledged, the leader's store write fails and it
 *  stops serving (rejoins as a follower); with etcd back a leader serves
 *  again, the transfer ends whole and nothing stays prepared.          */
static void
test_cut_from_etcd (void)
{
    int l = W.leader;
    int64_t s1 = s_sum (0), s2 = s_sum (1);
    long at[2] = { s_log_size (0), s_log_size (1) };
    s_etcd_signal (SIGSTOP);
    int rc = s_transfer_on (l, "4", 3000);
    CU_ASSERT_NOT_EQUAL (rc, 0);
    int deposed = tpc_proc_wait_log (&W.coord[l], "rejoining as a follower",
                                     at[l], 4 * S_TTL_MS);
    CU_ASSERT_EQUAL (deposed, 0);
    s_etcd_signal (SIGCONT);
    /* a leader again, either one */
    int leader = -1;
    for (int64_t end = tpc_now_ms () + 20000;
         leader < 0 && tpc_now_ms () < end;)
        for (int i = 0; i < 2 && leader < 0; i++)
            if (!tpc_proc_wait_log (&W.coord[i], "leader id=ha ", at[i], 100))
                leader = i;
    CU_ASSERT_FATAL (leader >= 0);
    W.leader = leader;
    CU_ASSERT_EQUAL (s_wait_no_prepared (15000), 0);
    int64_t d1 = s1 - s_sum (0), d2 = s_sum (1) - s2;
    CU_ASSERT_EQUAL (d1, d2);
    CU_ASSERT (d1 == 0 || d1 == 4);
    CU_ASSERT_EQUAL (s_wait_agents (leader), 0);
    CU_ASSERT_EQUAL (s_transfer_on (leader, "1", 10000), 0);
    printf ("\nha cut_from_etcd acknowledged=%d deposed=%d outcome=%s "
            "mixed=%d prepared_left=%lld\n", rc == 0, deposed == 0,
            d1 ? "committed" : "aborted", d1 != d2,
            (long long) s_prepared ());
    fflush (stdout);
}

/*  A transfer of AMOUNT (account 1 to 1) through EPS as key NAME: the
 *  return code of tpc_submit, 0 only when committed.                   */
static int
s_transfer_as (const char *eps, const char *name, const char *amount)
{
    tpc_client_opts_t o = s_opts (name, 5000);
    tpc_client_t *c = tpc_client_new (eps, &o);
    tpc_client_outcome_t out = TPC_CLIENT_OUTCOME_UNKNOWN;
    int rc = c ? s_transfer (c, amount, "1", "1", &out) : TPC_ENOMEM;
    tpc_client_destroy (&c);
    return rc == 0 && out != TPC_CLIENT_COMMITTED ? TPC_EPROTO : rc;
}

/*  CURVE in an HA group: the plain group stopped, both coordinators
 *  started again with a key pair and the allow-lists, the agents and
 *  clients with keys.  The follower refuses an unlisted key at the
 *  handshake (TPC_EAUTH) as the leader does, and answers a listed one
 *  TPC_ENOT_LEADER; through the group's list the transfer commits.
 *  SIGKILL of the leader: the follower takes over, the agents follow it,
 *  a transfer through the list commits, the unlisted key is still
 *  refused, the bank is whole and nothing stays prepared.              */
static void
test_curve_group (void)
{
    int l = W.leader, f = 1 - l;
    tpc_proc_kill (&W.coord[f], SIGTERM, 5000);
    for (int a = 0; a < 2; a++)
        tpc_proc_kill (&W.agent[a], SIGTERM, 5000);
    tpc_proc_kill (&W.coord[l], SIGTERM, 5000);
    snprintf (W.keys, sizeof W.keys, "%s/keys", W.dir);
    const char *names[] = { "coordinator", "app", "ops", "db1", "db2",
                            "stranger" };
    const char *roles[] = { NULL, "clients", "admins", "agents", "agents",
                            NULL };
    CU_ASSERT_EQUAL_FATAL (tpc_harness_curve_keys (W.keys, names, roles, 6),
                           0);
    W.curve = true;
    long at[2] = { s_log_size (0), s_log_size (1) };
    CU_ASSERT_EQUAL_FATAL (s_start_coord (l, NULL), 0);
    CU_ASSERT_EQUAL_FATAL (s_wait_leader (l, at[l], 10000), 0);
    CU_ASSERT_EQUAL_FATAL (s_start_coord (f, NULL), 0);
    CU_ASSERT_EQUAL_FATAL (tpc_proc_wait_log (&W.coord[f], "follower id=ha ",
                                              at[f], 10000), 0);
    CU_ASSERT_EQUAL_FATAL (s_start_agents (), 0);
    CU_ASSERT_EQUAL_FATAL (s_wait_agents (l), 0);
    int64_t s1 = s_sum (0), s2 = s_sum (1);
    char group[160];
    snprintf (group, sizeof group, "%s,%s", W.cep[f], W.cep[l]);
    int unlisted_f = s_transfer_as (W.cep[f], "stranger", "5");
    int listed_f = s_transfer_as (W.cep[f], "app", "5");
    int via_group = s_transfer_as (group, "app", "5");
    CU_ASSERT_EQUAL (unlisted_f, TPC_EAUTH);
    CU_ASSERT_EQUAL (listed_f, TPC_ENOT_LEADER);
    CU_ASSERT_EQUAL (via_group, 0);
    /* failover */
    at[f] = s_log_size (f);
    int64_t t0 = tpc_now_ms ();
    tpc_proc_kill (&W.coord[l], SIGKILL, 5000);
    CU_ASSERT_EQUAL_FATAL (s_wait_leader (f, at[f], 4 * S_TTL_MS), 0);
    int64_t takeover = tpc_now_ms () - t0;
    W.leader = f;
    CU_ASSERT_EQUAL_FATAL (s_wait_agents (f), 0);
    int after = s_transfer_as (group, "app", "5");
    int unlisted_l = s_transfer_as (W.cep[f], "stranger", "5");
    CU_ASSERT_EQUAL (after, 0);
    CU_ASSERT_EQUAL (unlisted_l, TPC_EAUTH);
    CU_ASSERT_EQUAL (s_start_follower (l, NULL), 0);
    CU_ASSERT_EQUAL (s_wait_no_prepared (10000), 0);
    int64_t d1 = s1 - s_sum (0), d2 = s_sum (1) - s2;
    CU_ASSERT_EQUAL (d1, 10);
    CU_ASSERT_EQUAL (d2, 10);
    printf ("\nha curve_group follower_unlisted=%s follower_listed=%s "
            "takeover_ms=%lld leader_unlisted=%s committed=%d mixed=%d "
            "prepared_left=%lld\n", tpc_errname (unlisted_f),
            tpc_errname (listed_f), (long long) takeover,
            tpc_errname (unlisted_l), (via_group == 0) + (after == 0),
            d1 != d2, (long long) s_prepared ());
    fflush (stdout);
}

static const tpc_test_case_t s_cases[] = {
    { "follower_refuses", test_follower_refuses },
    { "failover_under_load", test_failover_under_load },
    { "crash_after_fsync", test_crash_after_fsync },
    { "crash_before_decision", test_crash_before_decision },
    { "crash_commit_sent", test_crash_commit_sent },
    { "crash_prepare_sent", test_crash_prepare_sent },
    { "crash_votes_in", test_crash_votes_in },
    { "crash_after_decision_append", test_crash_after_decision_append },
    { "crash_before_end", test_crash_before_end },
    { "split_brain", test_split_brain },
    { "cut_from_etcd", test_cut_from_etcd },
    { "curve_group", test_curve_group },
    { NULL, NULL }
};

int
main (void)
{
    const tpc_test_suite_t suites[] = {
        { "ha", s_setup, s_teardown, s_cases },
        { NULL, NULL, NULL, NULL }
    };
    return tpc_test_main ("test_ha", suites);
}
