/*  test_e3pc: three-phase commit end to end with real parts.
 *
 *  Three throwaway PostgreSQL clusters (one per agent: agents sharing a
 *  cluster would collide on prepared-transaction gids), the real
 *  tpc-coordinator (--protocol 3pc) and three real tpc-participant agents,
 *  each with a 3PC state log (--state-dir) and a peer link (--peer-bind),
 *  plain text (--insecure-plaintext).  Cases:
 *    - the happy path through libtpc and tpcctl (--protocol 3pc): rows on
 *      all three, nothing prepared, PRECOMMIT and COMMIT in the
 *      coordinator's log, UNCERTAIN -> PRECOMMITTED -> COMMITTED in each
 *      agent's state log;
 *    - the coordinator dies (crash point coord.precommit_acked, not
 *      restarted) after one participant pre-committed: the agents' timers
 *      run out, the termination protocol commits on all three;
 *    - the coordinator dies once its PRECOMMIT is durable but before any
 *      precommit left (coord.precommit_logged): all three are uncertain,
 *      termination aborts on all three;
 *    - an agent dies once PRECOMMITTED is durable, before replying
 *      (agent.after_precommit): restarted, it restores the state and the
 *      coordinator commits;
 *    - an agent's state log fails (fdatasync EIO, test hook): the agent
 *      stops with exit status 3 before voting, the transaction aborts, its
 *      prepared transaction is rolled back once it is back;
 *    - the peer link under CURVE (an agent with the in-memory backend, no
 *      database needed): a peer whose key is in --peer-keys gets answers,
 *      an unknown key, plain text, or a known key speaking under another
 *      agent's name get nothing; and the agent's own DEALER finds a peer's
 *      server key by name in --peer-keys (it asks the test, posing as that
 *      peer, during the termination of a gid restored from its state log).
 *  Each case asserts the databases (rows, pg_prepared_xacts) afterwards.
 *  PostgreSQL missing is a failure, never a skip.
 */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <zmq.h>

#include "part_state.h"
#include "tpc_client.h"
#include "tpc_curve.h"
#include "tpc_error.h"
#include "tpc_msg.h"
#include "tpc_harness.h"
#include "tpc_log.h"
#include "tpc_record.h"
#include "tpc_test.h"

#define N_AGENTS 3
#define P3_TIMEOUT_MS 1500
#define PREPARED_SQL "SELECT count(*) FROM pg_prepared_xacts"

typedef struct {
    char *dir;
    char db[N_AGENTS][512];     /* conninfo */
    char dbdir[N_AGENTS][512];
    char logdir[512];
    char cep[64], aep[64];      /* client and agent endpoints */
    char pep[N_AGENTS][64];     /* peer endpoints */
    tpc_proc_t coord;
    tpc_proc_t agent[N_AGENTS];
} s_world_t;

static s_world_t W;

static void
s_path (char *buf, size_t size, const char *name)
{
    snprintf (buf, size, "%s/%s", W.dir, name);
}

/*  Wait until the coordinator knows every agent: a probe transaction
 *  reads on each.                                                        */
static int
s_wait_agents (void)
{
    static const char *const names[N_AGENTS] = { "db1", "db2", "db3" };
    return tpc_harness_wait_agents (W.cep, NULL, names, N_AGENTS,
                                    TPC_HARNESS_BY_PROBE);
}

static int
s_start_coord (char *const env[])
{
    char log[480];
    s_path (log, sizeof log, "coordinator.log");
    char *args[] = { "--id", "e3pc", "--bind", W.cep, "--agent-bind",
                     W.aep, "--log-dir", W.logdir, "--vote-timeout-ms",
                     "3000", "--txn-timeout-ms", "20000", "--protocol", "3pc",
                     "--insecure-plaintext", NULL };
    if (tpc_harness_start_coord (&W.coord, args, env, log))
        return -1;
    return s_wait_agents ();
}

static int
s_start_agent (int i, char *const env[])
{
    char log[480], name[16], file[480], state[480], tag[32], timeout[16];
    snprintf (name, sizeof name, "db%d", i + 1);
    snprintf (tag, sizeof tag, "agent-db%d.log", i + 1);
    s_path (log, sizeof log, tag);
    snprintf (tag, sizeof tag, "db%d.conninfo", i + 1);
    s_path (file, sizeof file, tag);
    snprintf (tag, sizeof tag, "state-db%d", i + 1);
    s_path (state, sizeof state, tag);
    snprintf (timeout, sizeof timeout, "%d", P3_TIMEOUT_MS);
    if (tpc_harness_write_line (file, W.db[i]))
        return -1;
    char *args[] = { "--name", name, "--coordinator", W.aep,
                     "--pg-file", file, "--state-dir", state,
                     "--peer-bind", W.pep[i], "--p3-timeout-ms", timeout,
                     "--insecure-plaintext", NULL };
    return tpc_harness_start_agent (&W.agent[i], args, env, log);
}

static int
s_setup (void)
{
    memset (&W, 0, sizeof W);
    W.dir = tpc_test_tmpdir ("e3pc");
    if (!W.dir)
        return -1;
    if (tpc_harness_pg_world (W.dir, N_AGENTS, W.dbdir, W.db,
                              "CREATE TABLE t (k text PRIMARY KEY,"
                              " v int NOT NULL)"))
        return -1;
    for (int i = 0; i < N_AGENTS; i++)
        snprintf (W.pep[i], sizeof W.pep[i], "tcp://127.0.0.1:%d",
                  tpc_harness_free_port ());
    s_path (W.logdir, sizeof W.logdir, "log");
    snprintf (W.cep, sizeof W.cep, "tcp://127.0.0.1:%d", tpc_harness_free_port ());
    snprintf (W.aep, sizeof W.aep, "tcp://127.0.0.1:%d", tpc_harness_free_port ());
    for (int i = 0; i < N_AGENTS; i++)
        if (s_start_agent (i, NULL))
            return -1;
    return s_start_coord (NULL);
}

static int
s_teardown (void)
{
    tpc_harness_stop (&W.coord, W.agent, N_AGENTS);
    tpc_harness_clean (&W.dir, N_AGENTS);
    return 0;
}

/* ------------------------------------------------------------- helpers */

static int64_t
s_prepared (int i)
{
    return tpc_harness_sql_int (W.db[i], PREPARED_SQL);
}

/*  Rows with key K in db I.                                              */
static int64_t
s_rows (int i, const char *k)
{
    char sql[256];
    snprintf (sql, sizeof sql, "SELECT count(*) FROM t WHERE k = '%s'", k);
    return tpc_harness_sql_int (W.db[i], sql);
}

/*  Wait until, in every database, key K has WANT rows and nothing is
 *  prepared; returns the milliseconds it took, or -1 on timeout.        */
static int64_t
s_wait_settled (const char *k, int64_t want, int timeout_ms)
{
    int64_t t0 = tpc_now_ms (), end = t0 + timeout_ms;
    do {
        bool done = true;
        for (int i = 0; i < N_AGENTS && done; i++)
            done = s_prepared (i) == 0 && s_rows (i, k) == want;
        if (done)
            return tpc_now_ms () - t0;
        usleep (100 * 1000);
    } while (tpc_now_ms () < end);
    return -1;
}

/*  The transaction: insert (K, 1) on each of the three databases, begun
 *  with protocol 3pc, then commit (interactive, so GID is known even when
 *  the commit's answer never comes).  Returns tpc_commit's result, or -1
 *  if the work failed.                                                   */
static int
s_insert3 (tpc_client_t *c, const char *k, char *gid,
           tpc_client_outcome_t *out)
{
    const char *p[] = { k };
    tpc_txn_opts_t to = { .protocol = "3pc" };
    if (tpc_begin (c, &to, gid) != 0)
        return -1;
    for (int i = 0; i < N_AGENTS; i++) {
        char on[16];
        snprintf (on, sizeof on, "db%d", i + 1);
        if (tpc_exec (c, gid, on, "INSERT INTO t VALUES ($1, 1)", 1, p, NULL))
            return -1;
    }
    char reason[256];
    return tpc_commit (c, gid, out, reason, sizeof reason);
}

static tpc_client_t *
s_client (int timeout_ms)
{
    tpc_client_opts_t o = { .timeout_ms = timeout_ms };
    return tpc_client_new (W.cep, &o);
}

static int
s_log_count (const char *gid, int type)
{
    return tpc_harness_log_count (W.logdir, gid, type);
}

/*  The 3PC states of GID in agent I's state log, in order, as letters
 *  (U uncertain, P precommitted, C committed, A aborted).                */
typedef struct { const char *gid; char seq[32]; size_t n; } s_states_t;

static int
s_states_cb (void *arg, const tpc_log_rec_t *rec, const void *p, size_t len)
{
    s_states_t *s = arg;
    char *gid = NULL, **parts = NULL, **peers = NULL;
    tpc_p3_t state;
    uint64_t at;
    size_t n = 0;
    if (rec->type != PART_STATE_REC_P3
        || part_state_decode (p, len, &gid, &state, &at, &n, &parts, &peers))
        return 0;
    if (!strcmp (gid, s->gid) && s->n + 1 < sizeof s->seq)
        s->seq[s->n++] = "?UPCA"[state];
    free (gid);
    part_state_strv_free (parts, peers, n);
    return 0;
}

static void
s_agent_states (int i, const char *gid, char *out, size_t size)
{
    char dir[600], tag[32], err[256];
    snprintf (tag, sizeof tag, "state-db%d", i + 1);
    s_path (dir, sizeof dir, tag);
    s_states_t s = { .gid = gid };
    tpc_log_scan (dir, s_states_cb, &s, NULL, err, sizeof err);
    snprintf (out, size, "%s", s.seq);
}

static bool
s_proc_alive (const tpc_proc_t *p)
{
    return p->pid > 0 && kill (p->pid, 0) == 0
           && waitpid (p->pid, NULL, WNOHANG) == 0;
}


/* ---------------------------------------------------------------- cases */

static void
test_happy_path (void)
{
    tpc_client_t *c = s_client (10000);
    char gid[TPC_CLIENT_GID_MAX];
    tpc_client_outcome_t out = TPC_CLIENT_OUTCOME_UNKNOWN;
    CU_ASSERT_EQUAL (s_insert3 (c, "happy", gid, &out), 0);
    CU_ASSERT_EQUAL (out, TPC_CLIENT_COMMITTED);
    CU_ASSERT (s_wait_settled ("happy", 1, 10000) >= 0);
    CU_ASSERT_EQUAL (s_log_count (gid, TPC_REC_PRECOMMIT), 1);
    CU_ASSERT_EQUAL (s_log_count (gid, TPC_REC_COMMIT), 1);
    for (int i = 0; i < N_AGENTS; i++) {
        char seq[32];
        s_agent_states (i, gid, seq, sizeof seq);
        CU_ASSERT_STRING_EQUAL (seq, "UPC");
    }

    /* tpcctl, with the protocol on its command line */
    char cmd[2048], outpath[600];
    s_path (outpath, sizeof outpath, "tpcctl.out");
    snprintf (cmd, sizeof cmd, "%s/tpcctl --coordinator %s --timeout-ms 10000 "
              "exec --protocol 3pc --on db1 \"INSERT INTO t VALUES ('ctl', 2)\" "
              "--on db2 \"INSERT INTO t VALUES ('ctl', 2)\" "
              "--on db3 \"INSERT INTO t VALUES ('ctl', 2)\" > %s 2>&1",
              tpc_harness_builddir (), W.cep, outpath);
    int st = system (cmd);
    CU_ASSERT (WIFEXITED (st) && WEXITSTATUS (st) == 0);
    CU_ASSERT (tpc_harness_file_has (outpath, "committed gid="));
    CU_ASSERT (s_wait_settled ("ctl", 1, 10000) >= 0);
    tpc_client_destroy (&c);
}

static void
test_coordinator_dies_after_one_precommit_ack (void)
{
    /* the coordinator dies when the first `state precommitted` comes in
     * and is not restarted: at least one agent is pre-committed, so the
     * termination protocol must commit everywhere                        */
    tpc_proc_kill (&W.coord, SIGTERM, 5000);
    char *env[] = { "TPC_CRASH_POINT=coord.precommit_acked", "TPC_CRASH_AT=1",
                    NULL };
    CU_ASSERT_EQUAL_FATAL (s_start_coord (env), 0);
    tpc_client_t *c = s_client (2000);
    char gid[TPC_CLIENT_GID_MAX], log[600];
    tpc_client_outcome_t out = TPC_CLIENT_OUTCOME_UNKNOWN;
    int64_t t0 = tpc_now_ms ();
    CU_ASSERT_NOT_EQUAL (s_insert3 (c, "acked", gid, &out), 0);
    int st = tpc_proc_wait (&W.coord, 5000);
    CU_ASSERT (st != -1 && WIFEXITED (st) && WEXITSTATUS (st) == 99);
    s_path (log, sizeof log, "coordinator.log");
    CU_ASSERT (tpc_harness_file_has (log, "tpc-crash: coord.precommit_acked pass 1"));
    /* settled within p3_timeout_ms and a few seconds of the commit */
    CU_ASSERT (s_wait_settled ("acked", 1, 10000) >= 0);
    int64_t took = tpc_now_ms () - t0;
    CU_ASSERT (took < P3_TIMEOUT_MS + 5000);
    fprintf (stderr, "  termination committed, %lld ms after the commit\n",
             (long long) took);
    for (int i = 0; i < N_AGENTS; i++) {
        CU_ASSERT_EQUAL (s_rows (i, "acked"), 1);
        CU_ASSERT_EQUAL (s_prepared (i), 0);
        char seq[32];
        s_agent_states (i, gid, seq, sizeof seq);
        CU_ASSERT (strlen (seq) >= 2 && seq[strlen (seq) - 1] == 'C');
        CU_ASSERT (strchr (seq, 'A') == NULL);
    }
    /* the coordinator is back: its PRECOMMIT replays, the agents answer
     * committed, and it commits too                                      */
    CU_ASSERT_EQUAL_FATAL (s_start_coord (NULL), 0);
    tpc_client_outcome_t so = TPC_CLIENT_OUTCOME_UNKNOWN;
    for (int i = 0; i < 100 && so != TPC_CLIENT_COMMITTED; i++) {
        tpc_status (c, gid, &so, NULL, 0);
        if (so != TPC_CLIENT_COMMITTED)
            usleep (100 * 1000);
    }
    CU_ASSERT_EQUAL (so, TPC_CLIENT_COMMITTED);
    tpc_client_destroy (&c);
}

static void
test_coordinator_dies_after_precommit_logged (void)
{
    /* PRECOMMIT durable, no precommit sent: every agent is uncertain, so
     * the termination protocol must abort everywhere                     */
    tpc_proc_kill (&W.coord, SIGTERM, 5000);
    char *env[] = { "TPC_CRASH_POINT=coord.precommit_logged", "TPC_CRASH_AT=1",
                    NULL };
    CU_ASSERT_EQUAL_FATAL (s_start_coord (env), 0);
    tpc_client_t *c = s_client (2000);
    char gid[TPC_CLIENT_GID_MAX], log[600];
    tpc_client_outcome_t out = TPC_CLIENT_OUTCOME_UNKNOWN;
    int64_t t0 = tpc_now_ms ();
    CU_ASSERT_NOT_EQUAL (s_insert3 (c, "logged", gid, &out), 0);
    int st = tpc_proc_wait (&W.coord, 5000);
    CU_ASSERT (st != -1 && WIFEXITED (st) && WEXITSTATUS (st) == 99);
    s_path (log, sizeof log, "coordinator.log");
    CU_ASSERT (tpc_harness_file_has (log, "tpc-crash: coord.precommit_logged pass 1"));
    CU_ASSERT_EQUAL (s_log_count (gid, TPC_REC_PRECOMMIT), 1);
    /* settled within p3_timeout_ms and a few seconds of the commit */
    CU_ASSERT (s_wait_settled ("logged", 0, 10000) >= 0);
    int64_t took = tpc_now_ms () - t0;
    CU_ASSERT (took < P3_TIMEOUT_MS + 5000);
    fprintf (stderr, "  termination aborted, %lld ms after the commit\n",
             (long long) took);
    for (int i = 0; i < N_AGENTS; i++) {
        CU_ASSERT_EQUAL (s_rows (i, "logged"), 0);
        CU_ASSERT_EQUAL (s_prepared (i), 0);
        char seq[32];
        s_agent_states (i, gid, seq, sizeof seq);
        CU_ASSERT_STRING_EQUAL (seq, "UA");
    }
    /* the restarted coordinator learns the abort from the agents */
    CU_ASSERT_EQUAL_FATAL (s_start_coord (NULL), 0);
    tpc_client_outcome_t so = TPC_CLIENT_OUTCOME_UNKNOWN;
    for (int i = 0; i < 100 && so != TPC_CLIENT_ABORTED; i++) {
        tpc_status (c, gid, &so, NULL, 0);
        if (so != TPC_CLIENT_ABORTED)
            usleep (100 * 1000);
    }
    CU_ASSERT_EQUAL (so, TPC_CLIENT_ABORTED);
    for (int i = 0; i < N_AGENTS; i++)
        CU_ASSERT_EQUAL (s_rows (i, "logged"), 0);
    tpc_client_destroy (&c);
}


static void
test_agent_dies_after_precommit (void)
{
    /* db1 dies right after making PRECOMMITTED durable, before its reply
     * (crash point agent.after_precommit): the coordinator cannot commit
     * without it and keeps asking it; db2 and db3, pre-committed and then
     * hearing nothing, may commit by termination meanwhile (a member was
     * pre-committed); db1 restarts, restores PRECOMMITTED from its state
     * log and ends committed too, and so does the coordinator           */
    tpc_proc_kill (&W.agent[0], SIGTERM, 5000);
    char *env[] = { "TPC_CRASH_POINT=agent.after_precommit", "TPC_CRASH_AT=1",
                    NULL };
    CU_ASSERT_EQUAL_FATAL (s_start_agent (0, env), 0);
    CU_ASSERT_EQUAL_FATAL (s_wait_agents (), 0);
    tpc_client_t *c = s_client (2000);
    char gid[TPC_CLIENT_GID_MAX], log[600];
    tpc_client_outcome_t out = TPC_CLIENT_OUTCOME_UNKNOWN;
    int rc = s_insert3 (c, "agentpc", gid, &out);
    int st = tpc_proc_wait (&W.agent[0], 5000);
    CU_ASSERT (st != -1 && WIFEXITED (st) && WEXITSTATUS (st) == 99);
    s_path (log, sizeof log, "agent-db1.log");
    CU_ASSERT (tpc_harness_file_has (log, "tpc-crash: agent.after_precommit pass 1"));
    CU_ASSERT_NOT_EQUAL (rc, 0);                /* no answer yet */
    char seq[32];
    s_agent_states (0, gid, seq, sizeof seq);
    CU_ASSERT_STRING_EQUAL (seq, "UP");
    CU_ASSERT_EQUAL (s_rows (0, "agentpc"), 0);  /* db1 did not commit */
    CU_ASSERT_EQUAL_FATAL (s_start_agent (0, NULL), 0);
    CU_ASSERT (tpc_harness_file_has (log, "1 of them undecided"));
    CU_ASSERT (s_wait_settled ("agentpc", 1, 10000) >= 0);
    tpc_client_outcome_t so = TPC_CLIENT_OUTCOME_UNKNOWN;
    for (int i = 0; i < 50 && so != TPC_CLIENT_COMMITTED; i++) {
        tpc_status (c, gid, &so, NULL, 0);
        if (so != TPC_CLIENT_COMMITTED)
            usleep (100 * 1000);
    }
    CU_ASSERT_EQUAL (so, TPC_CLIENT_COMMITTED);
    for (int i = 0; i < N_AGENTS; i++) {
        s_agent_states (i, gid, seq, sizeof seq);
        CU_ASSERT (*seq && seq[strlen (seq) - 1] == 'C');
        CU_ASSERT (strchr (seq, 'A') == NULL);
    }
    tpc_client_destroy (&c);
}

static void
test_agent_state_log_fails (void)
{
    /* db3's state log cannot make UNCERTAIN durable (its first fdatasync
     * after start fails): db3 must stop before it votes (exit 3), the
     * coordinator's vote timeout aborts, and once db3 is back its
     * prepared transaction is rolled back                                */
    tpc_proc_kill (&W.agent[2], SIGTERM, 5000);
    char *env[] = { "TPC_CRASH_POINT=agent.state_sync",
                    "TPC_CRASH_ACTION=failsync", NULL };
    CU_ASSERT_EQUAL_FATAL (s_start_agent (2, env), 0);
    CU_ASSERT_EQUAL_FATAL (s_wait_agents (), 0);
    tpc_client_t *c = s_client (10000);
    char gid[TPC_CLIENT_GID_MAX], log[600];
    tpc_client_outcome_t out = TPC_CLIENT_OUTCOME_UNKNOWN;
    CU_ASSERT_NOT_EQUAL (s_insert3 (c, "diskfail", gid, &out), 0);
    CU_ASSERT_EQUAL (out, TPC_CLIENT_ABORTED);
    int st = tpc_proc_wait (&W.agent[2], 5000);
    CU_ASSERT (st != -1 && WIFEXITED (st) && WEXITSTATUS (st) == 3);
    s_path (log, sizeof log, "agent-db3.log");
    CU_ASSERT (tpc_harness_file_has (log, "FATAL: cannot make the 3PC state uncertain"));
    CU_ASSERT (tpc_harness_file_has (log, "stopped: the 3PC state log failed"));
    CU_ASSERT_EQUAL (s_rows (0, "diskfail"), 0);
    CU_ASSERT_EQUAL (s_rows (1, "diskfail"), 0);
    /* db3 prepared, then could not record it: never voted yes (the
     * engine's rollback may or may not have run before the stop)         */
    CU_ASSERT (s_prepared (2) == 0 || s_prepared (2) == 1);
    CU_ASSERT_EQUAL (s_rows (2, "diskfail"), 0);
    CU_ASSERT_EQUAL_FATAL (s_start_agent (2, NULL), 0);
    CU_ASSERT (s_wait_settled ("diskfail", 0, 15000) >= 0);
    /* and db3 serves 3PC again */
    CU_ASSERT_EQUAL (s_insert3 (c, "diskback", gid, &out), 0);
    CU_ASSERT_EQUAL (out, TPC_CLIENT_COMMITTED);
    CU_ASSERT (s_wait_settled ("diskback", 1, 10000) >= 0);
    tpc_client_destroy (&c);
}

/* ------------------------------------------------------ peer link CURVE */

/*  A DEALER in CTX with routing id ID (NULL: none), a CURVE client with the key pair
 *  in SECRET (NULL = plain text) towards SERVER_PUBLIC, connected to EP.  */
static void *
s_dealer (void *ctx, const char *id, const char *secret,
          const char *server_public, const char *ep)
{
    void *sock = zmq_socket (ctx, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt (sock, ZMQ_LINGER, &linger, sizeof linger);
    if (id)
        zmq_setsockopt (sock, ZMQ_ROUTING_ID, id, strlen (id));
    if (secret) {
        tpc_curve_cert_t cert;
        char err[256];
        if (tpc_curve_cert_load (secret, true, &cert, err, sizeof err) != 0
            || tpc_curve_client_setup (sock, &cert, server_public) != 0) {
            zmq_close (sock);
            return NULL;
        }
    }
    zmq_connect (sock, ep);
    return sock;
}

/*  Send getstate(GID) as agent NAME (NULL: no name field) on SOCK and
 *  wait up to WAIT_MS for the reply's state; -1 when no (decodable state)
 *  reply came.                                                           */
static int
s_getstate (void *sock, const char *name, const char *gid, int wait_ms)
{
    tpc_msg_t *m = tpc_msg_new (TPC_MSG_GETSTATE);
    char *buf = NULL;
    size_t len = 0;
    tpc_msg_set_str (&m->gid, gid);
    if (name)
        tpc_msg_set_str (&m->name, name);
    tpc_msg_encode (m, &buf, &len);
    tpc_msg_destroy (&m);
    zmq_send (sock, buf, len, ZMQ_DONTWAIT);
    free (buf);
    zmq_pollitem_t it = { .socket = sock, .events = ZMQ_POLLIN };
    if (zmq_poll (&it, 1, wait_ms) != 1)
        return -1;
    char reply[4096];
    int n = zmq_recv (sock, reply, sizeof reply, 0);
    tpc_msg_t *r = NULL;
    if (n <= 0 || tpc_msg_decode (reply, (size_t) n, NULL, &r, NULL, 0) != 0)
        return -1;
    int state = r->type == TPC_MSG_STATE ? (int) r->p3 : -1;
    tpc_msg_destroy (&r);
    return state;
}

static void
test_peer_link_curve (void)
{
    char keys[600], allowed[600], state[600], log[600], err[256];
    s_path (keys, sizeof keys, "keys");
    s_path (allowed, sizeof allowed, "peer-keys");
    s_path (state, sizeof state, "state-m1");
    s_path (log, sizeof log, "agent-m1.log");
    CU_ASSERT_EQUAL_FATAL (mkdir (keys, 0700), 0);
    CU_ASSERT_EQUAL_FATAL (mkdir (allowed, 0755), 0);
    const char *names[] = { "m1", "m2", "m3", "coord" };
    char pub[4][TPC_CURVE_KEY_Z85];
    for (int i = 0; i < 4; i++)
        CU_ASSERT_EQUAL_FATAL (tpc_curve_keygen (keys, names[i], pub[i], err,
                                                 sizeof err), 0);
    /* m1 and m2 are agents of this system; m3 is not */
    for (int i = 0; i < 2; i++) {
        char cmd[1400];
        snprintf (cmd, sizeof cmd, "cp %s/%s.key %s/", keys, names[i], allowed);
        CU_ASSERT_EQUAL_FATAL (system (cmd), 0);
    }
    /* the test poses as m2: a CURVE server with m2's keys */
    char m2_ep[64], m1_ep[64];
    snprintf (m2_ep, sizeof m2_ep, "tcp://127.0.0.1:%d", tpc_harness_free_port ());
    snprintf (m1_ep, sizeof m1_ep, "tcp://127.0.0.1:%d", tpc_harness_free_port ());
    void *ctx = zmq_ctx_new ();
    void *m2 = zmq_socket (ctx, ZMQ_ROUTER);
    tpc_curve_cert_t m2cert;
    char path[700];
    snprintf (path, sizeof path, "%s/m2.key_secret", keys);
    CU_ASSERT_EQUAL_FATAL (tpc_curve_cert_load (path, true, &m2cert, err,
                                                sizeof err), 0);
    int linger = 0;
    zmq_setsockopt (m2, ZMQ_LINGER, &linger, sizeof linger);
    CU_ASSERT_EQUAL_FATAL (tpc_curve_server_setup (m2, &m2cert, "test"), 0);
    CU_ASSERT_EQUAL_FATAL (zmq_bind (m2, m2_ep), 0);
    /* m1's state log holds an uncertain gid with parts m1, m2: after its
     * p3 timeout m1 runs termination and asks m2 (the test) over CURVE */
    const char *gid = "tpc_curvetest_1_1";
    {
        part_state_config_t sc = { .dir = state };
        part_state_t *ps = NULL;
        char *parts[] = { "m1", "m2" }, *peers[] = { m1_ep, m2_ep };
        CU_ASSERT_EQUAL_FATAL (part_state_open (&sc, 1, &ps, err, sizeof err), 0);
        CU_ASSERT_EQUAL (part_state_put (ps, gid, TPC_P3_UNCERTAIN, 2, parts,
                                         peers, 1), 0);
        part_state_destroy (&ps);
    }
    char bin[480], secret[700], coordpub[700], timeout[16];
    snprintf (bin, sizeof bin, "%s/tpc-participant", tpc_harness_builddir ());
    snprintf (secret, sizeof secret, "%s/m1.key_secret", keys);
    snprintf (coordpub, sizeof coordpub, "%s/coord.key", keys);
    snprintf (timeout, sizeof timeout, "%d", P3_TIMEOUT_MS);
    char coord_ep[64];
    snprintf (coord_ep, sizeof coord_ep, "tcp://127.0.0.1:%d",
              tpc_harness_free_port ());
    char *argv[] = { bin, "--name", "m1", "--backend", "mem",
                     "--coordinator", coord_ep, "--curve-secret", secret,
                     "--coordinator-public", coordpub, "--state-dir", state,
                     "--peer-bind", m1_ep, "--peer-keys", allowed,
                     "--p3-timeout-ms", timeout, NULL };
    tpc_proc_t agent = { 0 };
    CU_ASSERT_EQUAL_FATAL (tpc_proc_spawn (&agent, argv, NULL, log), 0);
    CU_ASSERT_EQUAL (tpc_proc_wait_log (&agent, "ready", 0, 10000), 0);
    CU_ASSERT (tpc_harness_file_has (log, "1 gid(s) restored, 1 of them undecided"));

    /* the agent's DEALER: getstate naming m1 (its routing id is the
     * ROUTER's choice), over CURVE with m2's server key found by name in
     * --peer-keys                                                        */
    zmq_pollitem_t it = { .socket = m2, .events = ZMQ_POLLIN };
    bool asked = false;
    int64_t end = tpc_now_ms () + P3_TIMEOUT_MS + 5000;
    while (!asked && tpc_now_ms () < end) {
        if (zmq_poll (&it, 1, 200) != 1)
            continue;
        char id[64] = "", body[4096];
        int idn = zmq_recv (m2, id, sizeof id - 1, 0);
        int n = zmq_recv (m2, body, sizeof body, 0);
        tpc_msg_t *m = NULL;
        if (idn > 0 && n > 0
            && tpc_msg_decode (body, (size_t) n, NULL, &m, NULL, 0) == 0) {
            id[idn] = '\0';
            asked = m->type == TPC_MSG_GETSTATE && m->name
                    && !strcmp (m->name, "m1") && !strcmp (m->gid, gid);
        }
        tpc_msg_destroy (&m);
    }
    CU_ASSERT (asked);

    /* the agent's ROUTER */
    char m1pub[TPC_CURVE_KEY_Z85];
    snprintf (m1pub, sizeof m1pub, "%s", pub[0]);
    snprintf (path, sizeof path, "%s/m2.key_secret", keys);
    void *ok = s_dealer (ctx, NULL, path, m1pub, m1_ep);
    CU_ASSERT_EQUAL (s_getstate (ok, "m2", "tpc_curvetest_1_99", 5000),
                     TPC_P3_UNKNOWN);
    int st = s_getstate (ok, NULL, gid, 2000);      /* the key names it */
    CU_ASSERT (st == TPC_P3_UNCERTAIN || st == TPC_P3_ABORTED);
    void *spoof = s_dealer (ctx, NULL, path, m1pub, m1_ep);   /* m2's key */
    CU_ASSERT_EQUAL (s_getstate (spoof, "m3", gid, 1000), -1);
    CU_ASSERT (tpc_harness_file_has (log, "says it is agent m3 but its key "
                                     "is agent m2"));
    snprintf (path, sizeof path, "%s/m3.key_secret", keys);
    void *stranger = s_dealer (ctx, NULL, path, m1pub, m1_ep);
    CU_ASSERT_EQUAL (s_getstate (stranger, "m3", gid, 1000), -1);
    void *plain = s_dealer (ctx, NULL, NULL, NULL, m1_ep);
    CU_ASSERT_EQUAL (s_getstate (plain, "m2", gid, 1000), -1);
    CU_ASSERT (s_proc_alive (&agent));

    int status = tpc_proc_kill (&agent, SIGTERM, 5000);
    CU_ASSERT (status != -1 && WIFEXITED (status) && WEXITSTATUS (status) == 0);
    zmq_close (ok);
    zmq_close (spoof);
    zmq_close (stranger);
    zmq_close (plain);
    zmq_close (m2);
    zmq_ctx_term (ctx);
}

static const tpc_test_case_t s_cases[] = {
    { "happy_path", test_happy_path },
    { "coordinator_dies_after_one_precommit_ack",
      test_coordinator_dies_after_one_precommit_ack },
    { "coordinator_dies_after_precommit_logged",
      test_coordinator_dies_after_precommit_logged },
    { "agent_dies_after_precommit", test_agent_dies_after_precommit },
    { "agent_state_log_fails", test_agent_state_log_fails },
    { "peer_link_curve", test_peer_link_curve },
    { NULL, NULL }
};

int
main (void)
{
    const tpc_test_suite_t suites[] = {
        { "e3pc", s_setup, s_teardown, s_cases },
        { NULL, NULL, NULL, NULL }
    };
    return tpc_test_main ("test_e3pc", suites);
}
