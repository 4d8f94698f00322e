/*  test_curve: CurveZMQ and ZAP end to end, with real processes.
 *
 *  Two throwaway PostgreSQL clusters (db1, db2), a tpc-coordinator with
 *  CURVE keys and allow-lists (clients, admins, agents), two
 *  tpc-participant agents with their own keys.  Keys are made with
 *  tpc_curve_keygen (what `tpcctl keygen` runs).
 *
 *  THE MATRIX (as libzmq's CURVE tests): one transfer attempt per case,
 *  db1 -10 and db2 +10 through libtpc; the valid key commits, every other
 *  case is refused at the handshake (TPC_EAUTH, nothing sent) and nothing
 *  changes in either database (balances, sums, prepared transactions,
 *  marker rows).  It prints exactly `curve-matrix passed=<n> total=<n>`.
 *
 *      valid               the client's own key pair, the right server key
 *      garbage_server_key  a well-formed server key that is not the
 *                          coordinator's
 *      garbage_client_pub  the client's secret with a public key that
 *                          does not belong to it
 *      garbage_client_sec  a listed public key with a secret that does
 *                          not belong to it (an impersonation attempt)
 *      unlisted_key        a well-formed key pair nobody listed
 *      plain_client        no CURVE at all
 *      wrong_role          an agent's key pair used as a client
 *
 *  Then: more wrong-role cases (a client key asks for resolve; an agent
 *  with a client key; an agent whose key names another agent), the
 *  daemons' refusal to start without keys, key files (format, modes,
 *  czmq's zcert files read), and a wire capture: a TCP relay in this
 *  process copies every byte between client and coordinator and between
 *  an agent and the coordinator during a transfer; with CURVE none of the
 *  JSON (type names, SQL, gid) may appear, while the same relay in front
 *  of a plain-text coordinator sees it.  Routing: a socket with db2's key
 *  and routing id "db1" says hello as db1 and is refused, while db1 keeps
 *  working; a relay that stops forwarding without closing makes db1
 *  notice its dead link and reconnect.
 */
#include <arpa/inet.h>
#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "tpc_client.h"
#include "tpc_curve.h"
#include "tpc_error.h"
#include "tpc_harness.h"
#include "tpc_test.h"

#define PREPARED_SQL "SELECT count(*) FROM pg_prepared_xacts " \
                     "WHERE database = current_database()"

typedef struct {
    char *dir;
    char db[2][512];
    char dbdir[2][512];
    char logdir[600], keys[600];
    char cep[64], aep[64];
    tpc_proc_t coord, agent[2];
} s_world_t;

static s_world_t W;

/*  DIR/private/NAME.key_secret and DIR/private/NAME.key.                 */
static const char *
s_sec (const char *name)
{
    static char buf[4][700];
    static int i;
    char *p = buf[i++ % 4];
    snprintf (p, 700, "%s/private/%s.key_secret", W.keys, name);
    return p;
}

static const char *
s_pub (const char *name)
{
    static char buf[4][700];
    static int i;
    char *p = buf[i++ % 4];
    snprintf (p, 700, "%s/private/%s.key", W.keys, name);
    return p;
}

/*  P's log path (as tpc_proc_spawn would set it), for the log helpers.   */
static void
s_set_log (tpc_proc_t *p, const char *path)
{
    memset (p, 0, sizeof *p);
    size_t n = strlen (path);
    if (n >= sizeof p->log)
        n = sizeof p->log - 1;
    memcpy (p->log, path, n);
}

static int
s_copy_file (const char *from, const char *to)
{
    char cmd[2048];
    snprintf (cmd, sizeof cmd, "cp '%s' '%s'", from, to);
    return system (cmd) == 0 ? 0 : -1;
}

/*  A certificate file written by hand (for garbage keys).                */
static int
s_write_cert (const char *path, const char *name, const char *pub,
              const char *sec)
{
    int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return -1;
    char text[512];
    int n = snprintf (text, sizeof text, "metadata\n    name = \"%s\"\n"
                      "curve\n    public-key = \"%s\"\n%s%s%s", name, pub,
                      sec ? "    secret-key = \"" : "", sec ? sec : "",
                      sec ? "\"\n" : "");
    int rc = write (fd, text, (size_t) n) == n ? 0 : -1;
    close (fd);
    return rc;
}

static int
s_start_coord (tpc_proc_t *p, const char *id, const char *logdir,
               bool plain, const char *cep, const char *aep)
{
    char log[700], dirs[3][700];
    snprintf (log, sizeof log, "%s/coordinator-%s.log", W.dir, id);
    snprintf (dirs[0], sizeof dirs[0], "%s/clients", W.keys);
    snprintf (dirs[1], sizeof dirs[1], "%s/admins", W.keys);
    snprintf (dirs[2], sizeof dirs[2], "%s/agents", W.keys);
    char *curve[] = { "--id", (char *) id, "--bind", (char *) cep,
                      "--agent-bind", (char *) aep, "--log-dir",
                      (char *) logdir, "--curve-secret",
                      (char *) s_sec ("coordinator"), "--allow-clients",
                      dirs[0], "--allow-admins", dirs[1], "--allow-agents",
                      dirs[2], "--vote-timeout-ms", "3000", NULL };
    char *plaintext[] = { "--id", (char *) id, "--bind", (char *) cep,
                          "--agent-bind", (char *) aep, "--log-dir",
                          (char *) logdir, "--insecure-plaintext", NULL };
    return tpc_harness_start_coord (p, plain ? plaintext : curve, NULL, log);
}

/*  Agent I (db1/db2) with key KEY (NULL: its own), named NAME (NULL: its
 *  own), connecting to EP (NULL: the agent endpoint); LOG gets a tag.    */
static int
s_spawn_agent (tpc_proc_t *p, int i, const char *name, const char *key,
               const char *ep, const char *tag)
{
    char log[700], file[700], own[8];
    snprintf (own, sizeof own, "db%d", i + 1);
    snprintf (log, sizeof log, "%s/agent-%s.log", W.dir, tag);
    snprintf (file, sizeof file, "%s/db%d.conninfo", W.dir, i + 1);
    if (tpc_harness_write_line (file, W.db[i]))
        return -1;
    char *args[] = { "--name", (char *) (name ? name : own),
                     "--coordinator", (char *) (ep ? ep : W.aep),
                     "--pg-file", file, "--curve-secret",
                     (char *) s_sec (key ? key : own),
                     "--coordinator-public", (char *) s_pub ("coordinator"),
                     "--heartbeat-ms", "200", NULL };
    return tpc_harness_start_agent (p, args, NULL, log);
}

static tpc_client_t *
s_client_keys (const char *ep, const char *sec, const char *srv,
               int timeout_ms)
{
    tpc_client_opts_t o = { .timeout_ms = timeout_ms,
                            .curve_secret_file = sec,
                            .curve_server_file = srv };
    return tpc_client_new (ep, &o);
}

static tpc_client_t *
s_client_as (const char *name, int timeout_ms)
{
    return s_client_keys (W.cep, s_sec (name), s_pub ("coordinator"),
                          timeout_ms);
}

/*  Wait until the coordinator lists agents db1 and db2 as connected.     */
static int
s_wait_agents (const char *ep)
{
    static const char *const names[] = { "db1", "db2" };
    tpc_client_opts_t o = { .timeout_ms = 2000,
                            .curve_secret_file = s_sec ("ops"),
                            .curve_server_file = s_pub ("coordinator") };
    return tpc_harness_wait_agents (ep, &o, names, 2, TPC_HARNESS_BY_SUMMARY);
}

static int
s_setup (void)
{
    memset (&W, 0, sizeof W);
    W.dir = tpc_test_tmpdir ("curve");
    if (!W.dir)
        return -1;
    snprintf (W.keys, sizeof W.keys, "%s/keys", W.dir);
    const char *names[] = { "coordinator", "app", "ops", "db1", "db2",
                            "stranger" };
    const char *roles[] = { NULL, "clients", "admins", "agents", "agents",
                            NULL };
    if (tpc_harness_curve_keys (W.keys, names, roles, 6)
        || tpc_harness_pg_world (W.dir, 2, W.dbdir, W.db,
                                 TPC_HARNESS_ACCT_SQL ("1000")))
        return -1;
    snprintf (W.logdir, sizeof W.logdir, "%s/log", W.dir);
    snprintf (W.cep, sizeof W.cep, "tcp://127.0.0.1:%d",
              tpc_harness_free_port ());
    snprintf (W.aep, sizeof W.aep, "tcp://127.0.0.1:%d",
              tpc_harness_free_port ());
    if (s_start_coord (&W.coord, "c1", W.logdir, false, W.cep, W.aep)
        || s_spawn_agent (&W.agent[0], 0, NULL, NULL, NULL, "db1")
        || s_spawn_agent (&W.agent[1], 1, NULL, NULL, NULL, "db2"))
        return -1;
    return s_wait_agents (W.cep);
}

static int
s_teardown (void)
{
    tpc_harness_stop (&W.coord, W.agent, 2);
    tpc_harness_clean (&W.dir, 2);
    return 0;
}

/*  What the databases hold, to prove that nothing changed.               */
typedef struct {
    int64_t bal1, bal2, sum1, sum2, prepared, markers;
} s_state_t;

static s_state_t
s_state (void)
{
    s_state_t s;
    s.bal1 = tpc_harness_sql_int (W.db[0], "SELECT bal FROM acct WHERE id=1");
    s.bal2 = tpc_harness_sql_int (W.db[1], "SELECT bal FROM acct WHERE id=1");
    s.sum1 = tpc_harness_sql_int (W.db[0], "SELECT sum(bal) FROM acct");
    s.sum2 = tpc_harness_sql_int (W.db[1], "SELECT sum(bal) FROM acct");
    s.prepared = tpc_harness_sql_int (W.db[0], PREPARED_SQL)
                 + tpc_harness_sql_int (W.db[1], PREPARED_SQL);
    s.markers = tpc_harness_sql_int (W.db[0], "SELECT count(*) FROM "
                                     "tpc_marker")
                + tpc_harness_sql_int (W.db[1], "SELECT count(*) FROM "
                                       "tpc_marker");
    return s;
}

static bool
s_same (s_state_t a, s_state_t b)
{
    return a.bal1 == b.bal1 && a.bal2 == b.bal2 && a.sum1 == b.sum1
           && a.sum2 == b.sum2 && a.prepared == b.prepared
           && a.markers == b.markers;
}

/*  db1 account 1 -10, db2 account 1 +10.  Returns tpc_submit's code.     */
static int
s_transfer (tpc_client_t *c, char *gid)
{
    const char *p[] = { "10" };
    tpc_client_stmt_t st[2] = {
        { "db1", "UPDATE acct SET bal = bal - $1 WHERE id = 1", 1, p },
        { "db2", "UPDATE acct SET bal = bal + $1 WHERE id = 1", 1, p },
    };
    char reason[256];
    tpc_client_outcome_t out;
    return tpc_submit (c, st, 2, NULL, gid, &out, reason, sizeof reason);
}

/* --------------------------------------------------------------- matrix */

typedef struct {
    const char *name;
    const char *secret;         /* client key pair file, NULL = plain */
    const char *server;         /* server public key file */
    bool valid;
} s_case_t;

static void
test_curve_matrix (void)
{
    char garbage[4][700], pub[TPC_CURVE_KEY_Z85], sec[TPC_CURVE_KEY_Z85];
    tpc_curve_cert_t app;
    char err[256];
    CU_ASSERT_EQUAL_FATAL (tpc_curve_cert_load (s_sec ("app"), true, &app,
                                                err, sizeof err), 0);
    /* a well-formed key pair nobody has: its halves make the garbage */
    CU_ASSERT_EQUAL_FATAL (zmq_curve_keypair (pub, sec), 0);
    snprintf (garbage[0], sizeof garbage[0], "%s/garbage-server.key", W.dir);
    snprintf (garbage[1], sizeof garbage[1], "%s/garbage-pub.key_secret",
              W.dir);
    snprintf (garbage[2], sizeof garbage[2], "%s/garbage-sec.key_secret",
              W.dir);
    CU_ASSERT_EQUAL_FATAL (s_write_cert (garbage[0], "coordinator", pub,
                                         NULL), 0);
    CU_ASSERT_EQUAL_FATAL (s_write_cert (garbage[1], "app", pub,
                                         app.secret_key), 0);
    CU_ASSERT_EQUAL_FATAL (s_write_cert (garbage[2], "app", app.public_key,
                                         sec), 0);
    const char *srv = s_pub ("coordinator");
    char cases_sec[7][700];
    snprintf (cases_sec[0], 700, "%s", s_sec ("app"));
    snprintf (cases_sec[1], 700, "%s", s_sec ("app"));
    snprintf (cases_sec[4], 700, "%s", s_sec ("stranger"));
    snprintf (cases_sec[6], 700, "%s", s_sec ("db1"));
    const s_case_t cases[] = {
        { "valid", cases_sec[0], srv, true },
        { "garbage_server_key", cases_sec[1], garbage[0], false },
        { "garbage_client_pub", garbage[1], srv, false },
        { "garbage_client_sec", garbage[2], srv, false },
        { "unlisted_key", cases_sec[4], srv, false },
        { "plain_client", NULL, NULL, false },
        { "wrong_role", cases_sec[6], srv, false },
    };
    int total = (int) (sizeof cases / sizeof cases[0]), passed = 0;
    for (int i = 0; i < total; i++) {
        const s_case_t *k = &cases[i];
        s_state_t before = s_state ();
        tpc_client_t *c = s_client_keys (W.cep, k->secret, k->server, 3000);
        bool ok = c != NULL;
        char gid[TPC_CLIENT_GID_MAX] = "";
        int rc = c ? s_transfer (c, gid) : TPC_EINVAL;
        s_state_t after = s_state ();
        if (k->valid)
            ok = ok && rc == 0 && after.bal1 == before.bal1 - 10
                 && after.bal2 == before.bal2 + 10 && after.sum1 + after.sum2
                 == before.sum1 + before.sum2 && after.prepared == 0;
        else
            ok = ok && rc == TPC_EAUTH && !*gid && s_same (before, after);
        printf ("\n    curve-matrix case=%s result=%s code=%s%s%s",
                k->name, rc == 0 ? "committed" : "refused", tpc_errname (rc),
                ok ? "" : " UNEXPECTED: ",
                ok ? "" : (c ? tpc_client_errmsg (c) : "no client"));
        passed += ok;
        tpc_client_destroy (&c);
    }
    printf ("\ncurve-matrix passed=%d total=%d\n", passed, total);
    CU_ASSERT_EQUAL (passed, total);
    CU_ASSERT_EQUAL (total, 7);
}

/* ----------------------------------------------------------- wrong role */

static int
s_log_has (const char *path, const char *needle)
{
    tpc_proc_t p;
    s_set_log (&p, path);
    return tpc_proc_wait_log (&p, needle, 0, 1) == 0;
}

/*  A client key may run transactions but not resolve; an admin key may. */
static void
test_client_key_cannot_resolve (void)
{
    tpc_client_t *c = s_client_as ("app", 5000);
    char gid[TPC_CLIENT_GID_MAX];
    CU_ASSERT_EQUAL (s_transfer (c, gid), 0);
    CU_ASSERT_EQUAL (tpc_resolve (c, "tpc_other_1_1", TPC_CLIENT_COMMITTED,
                                  NULL), TPC_EPERM);
    CU_ASSERT (strstr (tpc_client_errmsg (c), "admin key") != NULL);
    tpc_client_outcome_t out;
    char state[64];
    /* nothing was recorded: the gid is still unknown to the coordinator */
    CU_ASSERT_EQUAL (tpc_status (c, "tpc_other_1_1", &out, state,
                                 sizeof state), TPC_EUNKNOWN_GID);
    /* the client still works after the refusal */
    CU_ASSERT_EQUAL (s_transfer (c, gid), 0);
    tpc_client_destroy (&c);
}

/*  An agent process holding a client key is refused at the handshake; an
 *  agent holding another agent's key refuses to start (issue 20 item 9:
 *  it used to say "ready" and be dropped at every hello); an agent whose
 *  key the coordinator lists under another name is told so by the
 *  coordinator, logs it and exits 2.                                     */
static void
test_agent_wrong_keys (void)
{
    tpc_proc_t bad[2];
    /* a client's key pair (named app) used by an agent named app */
    CU_ASSERT_EQUAL_FATAL (s_spawn_agent (&bad[0], 0, "app", "app", NULL,
                                          "app-clientkey"), 0);
    /* db2's key under --name db4: refused at start */
    char bin[600], log[700], file[700];
    snprintf (bin, sizeof bin, "%s/tpc-participant", tpc_harness_builddir ());
    snprintf (log, sizeof log, "%s/agent-db4-db2key.log", W.dir);
    snprintf (file, sizeof file, "%s/db1.conninfo", W.dir);
    char *db4[] = { bin, "--name", "db4", "--coordinator", W.aep,
                    "--pg-file", file, "--curve-secret",
                    (char *) s_sec ("db2"),
                    "--coordinator-public", (char *) s_pub ("coordinator"),
                    NULL };
    CU_ASSERT_EQUAL_FATAL (tpc_proc_spawn (&bad[1], db4, NULL, log), 0);
    int st = tpc_proc_wait (&bad[1], 10000);
    CU_ASSERT (st != -1 && WIFEXITED (st) && WEXITSTATUS (st) == 2);
    CU_ASSERT (s_log_has (log, "is the key of agent 'db2', not of 'db4' "
                          "(--name)"));
    CU_ASSERT (!s_log_has (log, "ready"));
    usleep (1500 * 1000);       /* several heartbeats */
    tpc_client_t *c = s_client_as ("ops", 5000);
    tpc_summary_t s;
    CU_ASSERT_EQUAL (tpc_summary (c, &s), 0);
    CU_ASSERT_EQUAL (s.nagents, 2);
    for (size_t i = 0; i < s.nagents; i++)
        CU_ASSERT (!strcmp (s.agents[i], "db1") || !strcmp (s.agents[i],
                                                            "db2"));
    tpc_summary_clear (&s);
    s_state_t before = s_state ();
    for (int i = 0; i < 2; i++) {
        const char *p[] = { "10" };
        tpc_client_stmt_t st[2] = {
            { "db1", "UPDATE acct SET bal = bal - $1 WHERE id = 1", 1, p },
            { i ? "db4" : "app", "SELECT 1", 0, NULL },
        };
        char gid[TPC_CLIENT_GID_MAX], reason[128];
        tpc_client_outcome_t out;
        CU_ASSERT_EQUAL (tpc_submit (c, st, 2, NULL, gid, &out, reason,
                                     sizeof reason), TPC_EUNKNOWN_PART);
    }
    CU_ASSERT (s_same (before, s_state ()));
    tpc_client_destroy (&c);
    char clog[700];
    snprintf (clog, sizeof clog, "%s/coordinator-c1.log", W.dir);
    CU_ASSERT (s_log_has (clog, "refused a CURVE handshake on the agent "
                          "endpoint"));
    tpc_proc_kill (&bad[0], SIGTERM, 5000);

    /* db11's own key, listed by the coordinator as agent db12's: the
     * coordinator refuses its hello and tells it why */
    char priv[700], err[256], to[700];
    tpc_curve_cert_t db11;
    snprintf (priv, sizeof priv, "%s/private", W.keys);
    CU_ASSERT_EQUAL_FATAL (tpc_curve_keygen (priv, "db11", NULL, err,
                                             sizeof err), 0);
    CU_ASSERT_EQUAL_FATAL (tpc_curve_cert_load (s_sec ("db11"), true, &db11,
                                                err, sizeof err), 0);
    snprintf (to, sizeof to, "%s/agents/db12.key", W.keys);
    CU_ASSERT_EQUAL_FATAL (s_write_cert (to, "db12", db11.public_key, NULL),
                           0);
    snprintf (log, sizeof log, "%s/agent-db11-as-db12.log", W.dir);
    char *db11a[] = { bin, "--name", "db11", "--coordinator", W.aep,
                     "--pg-file", file, "--curve-secret",
                     (char *) s_sec ("db11"),
                     "--coordinator-public", (char *) s_pub ("coordinator"),
                     "--heartbeat-ms", "200", NULL };
    tpc_proc_t p7;
    CU_ASSERT_EQUAL_FATAL (tpc_proc_spawn (&p7, db11a, NULL, log), 0);
    st = tpc_proc_wait (&p7, 20000);
    CU_ASSERT (st != -1 && WIFEXITED (st) && WEXITSTATUS (st) == 2);
    CU_ASSERT (s_log_has (log, "the coordinator refused this key for name "
                          "'db11': the key is agent db12's"));
    CU_ASSERT (s_log_has (log, "stopped: refused by the coordinator"));
    CU_ASSERT (s_log_has (clog, "hello as 'db11' with the key of agent:db12 "
                          "refused"));
    unlink (to);
}

/*  An agent trusts only the coordinator key it was given: with another
 *  key (even a listed agent key of its own) it never completes a
 *  handshake, so it can take no command; with the right one it does.     */
static void
test_agent_trusts_only_its_coordinator (void)
{
    char priv[700], err[256], to[700];
    snprintf (priv, sizeof priv, "%s/private", W.keys);
    CU_ASSERT_EQUAL_FATAL (tpc_curve_keygen (priv, "db5", NULL, err,
                                             sizeof err), 0);
    snprintf (to, sizeof to, "%s/agents/db5.key", W.keys);
    CU_ASSERT_EQUAL_FATAL (s_copy_file (s_pub ("db5"), to), 0);
    char bin[600], log[700], file[700];
    snprintf (bin, sizeof bin, "%s/tpc-participant", tpc_harness_builddir ());
    snprintf (file, sizeof file, "%s/db1.conninfo", W.dir);
    tpc_client_t *c = s_client_as ("ops", 5000);
    for (int right = 0; right < 2; right++) {
        snprintf (log, sizeof log, "%s/agent-db5-%d.log", W.dir, right);
        char *argv[] = { bin, "--name", "db5", "--coordinator", W.aep,
                         "--pg-file", file, "--curve-secret",
                         (char *) s_sec ("db5"), "--coordinator-public",
                         (char *) s_pub (right ? "coordinator" : "stranger"),
                         "--heartbeat-ms", "200", NULL };
        tpc_proc_t p;
        CU_ASSERT_EQUAL_FATAL (tpc_proc_spawn (&p, argv, NULL, log), 0);
        CU_ASSERT_EQUAL (tpc_proc_wait_log (&p, "ready", 0, 20000), 0);
        size_t n = 0;
        for (int i = 0; i < 20; i++) {
            tpc_summary_t s;
            if (tpc_summary (c, &s) == 0)
                n = s.nagents;
            tpc_summary_clear (&s);
            if (n == 3)
                break;
            usleep (100 * 1000);
        }
        CU_ASSERT_EQUAL (n, right ? 3 : 2);
        if (!right)
            CU_ASSERT_EQUAL (tpc_proc_wait_log (&p, "CURVE handshake", 0,
                                                100), 0);
        tpc_proc_kill (&p, SIGTERM, 5000);
    }
    tpc_client_destroy (&c);
    unlink (to);
}

/*  An agent's peer link (three-phase commit) refuses an unlisted key with
 *  the ZAP handler the coordinator uses too; its log line names the agent
 *  (tpc-participant), not the coordinator (issue 12).                    */
static void
test_agent_peer_refusal_named (void)
{
    char priv[700], err[256], bin[600], log[700], file[700], pep[64];
    snprintf (priv, sizeof priv, "%s/private", W.keys);
    CU_ASSERT_EQUAL_FATAL (tpc_curve_keygen (priv, "db6", NULL, err,
                                             sizeof err), 0);
    snprintf (bin, sizeof bin, "%s/tpc-participant", tpc_harness_builddir ());
    snprintf (log, sizeof log, "%s/agent-db6-peer.log", W.dir);
    snprintf (file, sizeof file, "%s/db1.conninfo", W.dir);
    snprintf (pep, sizeof pep, "tcp://127.0.0.1:%d", tpc_harness_free_port ());
    char peers[700];
    snprintf (peers, sizeof peers, "%s/agents", W.keys);
    char *argv[] = { bin, "--name", "db6", "--coordinator", W.aep,
                     "--pg-file", file, "--curve-secret",
                     (char *) s_sec ("db6"), "--coordinator-public",
                     (char *) s_pub ("coordinator"), "--peer-bind", pep,
                     "--peer-keys", peers, "--heartbeat-ms", "200", NULL };
    tpc_proc_t p;
    CU_ASSERT_EQUAL_FATAL (tpc_proc_spawn (&p, argv, NULL, log), 0);
    CU_ASSERT_EQUAL (tpc_proc_wait_log (&p, "ready", 0, 20000), 0);
    /* a stranger knocks on the peer link */
    tpc_client_t *c = s_client_keys (pep, s_sec ("stranger"), s_pub ("db6"),
                                     3000);
    tpc_summary_t s;
    CU_ASSERT_EQUAL (tpc_summary (c, &s), TPC_EAUTH);
    tpc_client_destroy (&c);
    CU_ASSERT_EQUAL (tpc_proc_wait_log (&p, "tpc-participant: refused a "
                                        "CURVE handshake", 0, 5000), 0);
    CU_ASSERT_NOT_EQUAL (tpc_proc_wait_log (&p, "tpc-coordinator:", 0, 1),
                         0);
    tpc_proc_kill (&p, SIGTERM, 5000);
}

/* ------------------------------------------------------- starting rules */

static int
s_run_status (char *const argv[], const char *log, const char *needle)
{
    tpc_proc_t p;
    if (tpc_proc_spawn (&p, argv, NULL, log))
        return -1;
    int st = tpc_proc_wait (&p, 10000);
    if (needle && tpc_proc_wait_log (&p, needle, 0, 1)) {
        fprintf (stderr, "no '%s' in %s\n", needle, log);
        return -1;
    }
    return WIFEXITED (st) ? WEXITSTATUS (st) : -1;
}

static void
test_daemons_refuse_without_keys (void)
{
    char coord[600], agent[600], log[700], ldir[700], loose[700];
    snprintf (coord, sizeof coord, "%s/tpc-coordinator",
              tpc_harness_builddir ());
    snprintf (agent, sizeof agent, "%s/tpc-participant",
              tpc_harness_builddir ());
    snprintf (ldir, sizeof ldir, "%s/log-refuse", W.dir);
    snprintf (log, sizeof log, "%s/refuse-1.log", W.dir);
    char *c1[] = { coord, "--id", "x", "--log-dir", ldir, "--bind",
                   "tcp://127.0.0.1:1", NULL };
    CU_ASSERT_EQUAL (s_run_status (c1, log, "refusing to start without "
                                   "authentication"), 2);
    snprintf (log, sizeof log, "%s/refuse-2.log", W.dir);
    char *a1[] = { agent, "--name", "x", "--backend", "mem", NULL };
    CU_ASSERT_EQUAL (s_run_status (a1, log, "refusing to start without "
                                   "authentication"), 2);
    /* a secret key file others may read is refused, as ssh does */
    snprintf (loose, sizeof loose, "%s/loose.key_secret", W.dir);
    CU_ASSERT_EQUAL (s_copy_file (s_sec ("coordinator"), loose), 0);
    chmod (loose, 0644);
    snprintf (log, sizeof log, "%s/refuse-3.log", W.dir);
    char *c2[] = { coord, "--id", "x", "--log-dir", ldir, "--curve-secret",
                   loose, "--allow-agents", W.keys, "--allow-clients",
                   W.keys, NULL };
    CU_ASSERT_EQUAL (s_run_status (c2, log, "chmod 600"), 2);
    /* keys and --insecure-plaintext together make no sense */
    snprintf (log, sizeof log, "%s/refuse-4.log", W.dir);
    char *a2[] = { agent, "--name", "x", "--backend", "mem",
                   "--insecure-plaintext", "--curve-secret",
                   (char *) s_sec ("db1"), "--coordinator-public",
                   (char *) s_pub ("coordinator"), NULL };
    CU_ASSERT_EQUAL (s_run_status (a2, log, "contradict"), 2);
    /* the plain-text mode says so loudly */
    snprintf (log, sizeof log, "%s/refuse-5.log", W.dir);
    tpc_proc_t p;
    char *c3[] = { coord, "--id", "x", "--log-dir", ldir, "--bind",
                   "tcp://127.0.0.1:0", "--agent-bind", "tcp://127.0.0.1:0",
                   "--insecure-plaintext", NULL };
    CU_ASSERT_EQUAL_FATAL (tpc_proc_spawn (&p, c3, NULL, log), 0);
    CU_ASSERT_EQUAL (tpc_proc_wait_log (&p, "security=plaintext", 0, 10000),
                     0);
    /* with CURVE the ready line counts the keys, each key named once
     * (issue 20 item 15: it said clients= and agents= twice) */
    char clog[700];
    snprintf (clog, sizeof clog, "%s/coordinator-c1.log", W.dir);
    CU_ASSERT (s_log_has (clog, "security=curve client_keys=1 admin_keys=1 "
                          "agent_keys=2 "));
    CU_ASSERT (!s_log_has (clog, "security=curve clients="));
    CU_ASSERT (s_log_has (log, "WARNING: --insecure-plaintext: NO "
                          "AUTHENTICATION, NO ENCRYPTION"));
    tpc_proc_kill (&p, SIGTERM, 5000);
}

/* ------------------------------------------------------------ key files */

static void
test_key_files (void)
{
    char dir[700], err[512], pub[TPC_CURVE_KEY_Z85];
    snprintf (dir, sizeof dir, "%s/kf", W.dir);
    CU_ASSERT_EQUAL_FATAL (mkdir (dir, 0700), 0);
    CU_ASSERT_EQUAL (tpc_curve_keygen (dir, "k1", pub, err, sizeof err), 0);
    CU_ASSERT (tpc_curve_key_valid (pub));
    /* never overwritten */
    CU_ASSERT_EQUAL (tpc_curve_keygen (dir, "k1", NULL, err, sizeof err),
                     TPC_EEXIST);
    CU_ASSERT_EQUAL (tpc_curve_keygen (dir, "bad/name", NULL, err,
                                       sizeof err), TPC_EINVAL);
    char path[800];
    struct stat st;
    snprintf (path, sizeof path, "%s/k1.key_secret", dir);
    CU_ASSERT (stat (path, &st) == 0 && (st.st_mode & 0777) == 0600);
    tpc_curve_cert_t c;
    CU_ASSERT_EQUAL (tpc_curve_cert_load (path, true, &c, err, sizeof err),
                     0);
    CU_ASSERT_STRING_EQUAL (c.public_key, pub);
    CU_ASSERT_STRING_EQUAL (c.name, "k1");
    CU_ASSERT (tpc_curve_key_valid (c.secret_key));
    snprintf (path, sizeof path, "%s/k1.key", dir);
    CU_ASSERT (stat (path, &st) == 0 && (st.st_mode & 0777) == 0644);
    CU_ASSERT_EQUAL (tpc_curve_cert_load (path, false, &c, err, sizeof err),
                     0);
    CU_ASSERT_EQUAL (c.secret_key[0], '\0');
    /* a public certificate is not a key pair */
    CU_ASSERT_EQUAL (tpc_curve_cert_load (path, true, &c, err, sizeof err),
                     TPC_EPERM);       /* 0644: refused before parsing */
    chmod (path, 0600);
    CU_ASSERT_EQUAL (tpc_curve_cert_load (path, true, &c, err, sizeof err),
                     TPC_ECONFIG);
    CU_ASSERT (strstr (err, "public certificate") != NULL);
    /* czmq writes and reads the same format */
    zcert_t *z = zcert_new ();
    zcert_set_meta (z, "name", "%s", "fromczmq");
    snprintf (path, sizeof path, "%s/z.key", dir);
    CU_ASSERT_EQUAL (zcert_save (z, path), 0);   /* z.key, z.key_secret */
    snprintf (path, sizeof path, "%s/z.key_secret", dir);
    chmod (path, 0600);
    CU_ASSERT_EQUAL (tpc_curve_cert_load (path, true, &c, err, sizeof err),
                     0);
    CU_ASSERT_STRING_EQUAL (c.public_key, zcert_public_txt (z));
    CU_ASSERT_STRING_EQUAL (c.secret_key, zcert_secret_txt (z));
    CU_ASSERT_STRING_EQUAL (c.name, "fromczmq");
    zcert_destroy (&z);
    snprintf (path, sizeof path, "%s/k1.key_secret", dir);
    z = zcert_load (path);
    CU_ASSERT_PTR_NOT_NULL (z);
    if (z)
        CU_ASSERT_STRING_EQUAL (zcert_public_txt (z), pub);
    zcert_destroy (&z);
    /* garbage */
    const char *bad[] = {
        "curve\n    public-key = \"short\"\n",
        "metadata\n    name = \"x\"\n",
        "curve\n    public-key = \"0123456789012345678901234567890123456789\"\n"
        "    secret-key = \"~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~\"\n",
    };
    for (size_t i = 0; i < 3; i++) {
        snprintf (path, sizeof path, "%s/bad%zu.key_secret", dir, i);
        FILE *f = fopen (path, "w");
        fputs (bad[i], f);
        fclose (f);
        chmod (path, 0600);
        CU_ASSERT_EQUAL (tpc_curve_cert_load (path, true, &c, err,
                                              sizeof err), TPC_ECONFIG);
    }
    snprintf (path, sizeof path, "%s/none.key", dir);
    CU_ASSERT_EQUAL (tpc_curve_cert_load (path, false, &c, err, sizeof err),
                     TPC_ENOENT);
}

/*  Keys are read again when an allow-list directory changes: a key added
 *  while the coordinator runs is accepted, a key removed is refused.      */
static void
test_allow_list_reload (void)
{
    char to[700];
    snprintf (to, sizeof to, "%s/clients/stranger.key", W.keys);
    tpc_client_t *c = s_client_as ("stranger", 3000);
    tpc_summary_t s;
    CU_ASSERT_EQUAL (tpc_summary (c, &s), TPC_EAUTH);
    tpc_client_destroy (&c);
    CU_ASSERT_EQUAL_FATAL (s_copy_file (s_pub ("stranger"), to), 0);
    c = s_client_as ("stranger", 3000);
    CU_ASSERT_EQUAL (tpc_summary (c, &s), 0);
    tpc_summary_clear (&s);
    tpc_client_destroy (&c);
    unlink (to);
    c = s_client_as ("stranger", 3000);
    CU_ASSERT_EQUAL (tpc_summary (c, &s), TPC_EAUTH);
    tpc_client_destroy (&c);
}

/* -------------------------------------------------------------- capture */

/*  A TCP relay: accepts on a free port, connects each accepted link to
 *  the target port, copies bytes both ways and keeps a copy of all.      */
typedef struct {
    int listen_fd, target_port, stop_fd[2];    /* stop_fd: 'x' stops,
                                                   'f' freezes */
    pthread_t thread;
    char *seen;
    size_t nseen, capseen;
    pthread_mutex_t lock;
} s_relay_t;

static void
s_relay_keep (s_relay_t *r, const char *buf, size_t n)
{
    pthread_mutex_lock (&r->lock);
    if (r->nseen + n > r->capseen) {
        size_t cap = (r->nseen + n) * 2;
        char *p = realloc (r->seen, cap);
        if (p) {
            r->seen = p;
            r->capseen = cap;
        }
    }
    if (r->nseen + n <= r->capseen) {
        memcpy (r->seen + r->nseen, buf, n);
        r->nseen += n;
    }
    pthread_mutex_unlock (&r->lock);
}

static void *
s_relay_run (void *arg)
{
    s_relay_t *r = arg;
    enum { MAXL = 16 };
    int a[MAXL], b[MAXL], n = 0;
    bool frozen[MAXL] = { false };  /* kept open, nothing passes */
    for (;;) {
        struct pollfd pf[2 + 2 * MAXL];
        pf[0] = (struct pollfd) { .fd = r->stop_fd[0], .events = POLLIN };
        pf[1] = (struct pollfd) { .fd = r->listen_fd, .events = POLLIN };
        for (int i = 0; i < n; i++) {
            short ev = frozen[i] ? 0 : POLLIN;
            pf[2 + 2 * i] = (struct pollfd) { .fd = a[i], .events = ev };
            pf[3 + 2 * i] = (struct pollfd) { .fd = b[i], .events = ev };
        }
        if (poll (pf, (nfds_t) (2 + 2 * n), 1000) < 0 && errno != EINTR)
            break;
        if (pf[0].revents) {
            char cmd = 'x';
            if (read (r->stop_fd[0], &cmd, 1) != 1 || cmd != 'f')
                break;
            for (int i = 0; i < n; i++)
                frozen[i] = true;
            continue;
        }
        if ((pf[1].revents & POLLIN) && n < MAXL) {
            int fa = accept (r->listen_fd, NULL, NULL);
            int fb = socket (AF_INET, SOCK_STREAM, 0);
            struct sockaddr_in to = { .sin_family = AF_INET,
                                      .sin_port = htons (r->target_port),
                                      .sin_addr.s_addr =
                                          htonl (INADDR_LOOPBACK) };
            if (fa >= 0 && fb >= 0
                && connect (fb, (struct sockaddr *) &to, sizeof to) == 0) {
                frozen[n] = false;
                a[n] = fa;
                b[n++] = fb;
            }
            else {
                if (fa >= 0)
                    close (fa);
                if (fb >= 0)
                    close (fb);
            }
        }
        for (int i = 0; i < n; i++) {
            bool dead = false;
            for (int dir = 0; dir < 2 && !dead; dir++) {
                struct pollfd *p = &pf[2 + 2 * i + dir];
                if (!p->revents)
                    continue;
                char buf[65536];
                ssize_t got = read (p->fd, buf, sizeof buf);
                if (got <= 0) {
                    dead = true;
                    break;
                }
                s_relay_keep (r, buf, (size_t) got);
                int out = dir == 0 ? b[i] : a[i];
                for (ssize_t off = 0; off < got;) {
                    ssize_t w = write (out, buf + off, (size_t) (got - off));
                    if (w <= 0) {
                        dead = true;
                        break;
                    }
                    off += w;
                }
            }
            if (dead) {
                close (a[i]);
                close (b[i]);
                a[i] = a[n - 1];
                b[i] = b[n - 1];
                frozen[i] = frozen[n - 1];
                n--;
                i = n;          /* pf indexes are stale: poll again */
            }
        }
    }
    for (int i = 0; i < n; i++) {
        close (a[i]);
        close (b[i]);
    }
    return NULL;
}

/*  Start a relay to TARGET_PORT; *PORT gets its own.                      */
static int
s_relay_start (s_relay_t *r, int target_port, int *port)
{
    memset (r, 0, sizeof *r);
    pthread_mutex_init (&r->lock, NULL);
    r->target_port = target_port;
    r->listen_fd = socket (AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt (r->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = { .sin_family = AF_INET,
                             .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    if (bind (r->listen_fd, (struct sockaddr *) &a, sizeof a)
        || listen (r->listen_fd, 16)
        || getsockname (r->listen_fd, (struct sockaddr *) &a, &len)
        || pipe (r->stop_fd))
        return -1;
    *port = ntohs (a.sin_port);
    return pthread_create (&r->thread, NULL, s_relay_run, r);
}

static void
s_relay_stop (s_relay_t *r)
{
    if (write (r->stop_fd[1], "x", 1) != 1)
        return;
    pthread_join (r->thread, NULL);
    close (r->stop_fd[0]);
    close (r->stop_fd[1]);
    close (r->listen_fd);
    free (r->seen);
    pthread_mutex_destroy (&r->lock);
}

/*  The connections open now stay open but carry nothing more (a link
 *  that died without a reset); new ones are relayed as before.          */
static void
s_relay_freeze (s_relay_t *r)
{
    CU_ASSERT (write (r->stop_fd[1], "f", 1) == 1);
}

static bool
s_seen (s_relay_t *r, const char *needle)
{
    pthread_mutex_lock (&r->lock);
    bool found = r->nseen && memmem (r->seen, r->nseen, needle,
                                     strlen (needle)) != NULL;
    pthread_mutex_unlock (&r->lock);
    return found;
}

static int
s_port_of (const char *ep)
{
    const char *colon = strrchr (ep, ':');
    return colon ? atoi (colon + 1) : -1;
}

static void
test_capture_no_plaintext (void)
{
    /* CURVE: a relay in front of the client endpoint, and agent db1
     * restarted behind a relay in front of the agent endpoint */
    s_relay_t rc, ra;
    int cport, aport;
    CU_ASSERT_EQUAL_FATAL (s_relay_start (&rc, s_port_of (W.cep), &cport),
                           0);
    CU_ASSERT_EQUAL_FATAL (s_relay_start (&ra, s_port_of (W.aep), &aport),
                           0);
    char cep[64], aep[64];
    snprintf (cep, sizeof cep, "tcp://127.0.0.1:%d", cport);
    snprintf (aep, sizeof aep, "tcp://127.0.0.1:%d", aport);
    tpc_proc_kill (&W.agent[0], SIGTERM, 5000);
    CU_ASSERT_EQUAL_FATAL (s_spawn_agent (&W.agent[0], 0, NULL, NULL, aep,
                                          "db1-relayed"), 0);
    CU_ASSERT_EQUAL (s_wait_agents (W.cep), 0);
    tpc_client_t *c = s_client_keys (cep, s_sec ("app"),
                                     s_pub ("coordinator"), 5000);
    char gid[TPC_CLIENT_GID_MAX] = "";
    CU_ASSERT_EQUAL (s_transfer (c, gid), 0);
    tpc_client_destroy (&c);
    usleep (300 * 1000);
    const char *words[] = { "\"type\"", "submit", "UPDATE", "acct",
                            "prepare", "\"vote\"", "committed", gid };
    size_t hits = 0;
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        hits += s_seen (&rc, words[i]) + s_seen (&ra, words[i]);
    CU_ASSERT (rc.nseen > 0 && ra.nseen > 0);
    CU_ASSERT (s_seen (&rc, "CURVE") && s_seen (&ra, "CURVE"));
    CU_ASSERT_EQUAL (hits, 0);
    printf ("\n    capture curve: client link %zu bytes, agent link %zu "
            "bytes, plaintext JSON hits=%zu (mechanism name \"CURVE\" seen "
            "in the greeting)", rc.nseen, ra.nseen, hits);
    s_relay_stop (&rc);
    s_relay_stop (&ra);
    tpc_proc_kill (&W.agent[0], SIGTERM, 5000);
    CU_ASSERT_EQUAL (s_spawn_agent (&W.agent[0], 0, NULL, NULL, NULL, "db1"),
                     0);
    CU_ASSERT_EQUAL (s_wait_agents (W.cep), 0);

    /* control: the same relay in front of a plain-text coordinator sees
     * the JSON in clear */
    tpc_proc_t plain;
    char logdir[700], pcep[64], paep[64];
    snprintf (logdir, sizeof logdir, "%s/log-plain", W.dir);
    snprintf (pcep, sizeof pcep, "tcp://127.0.0.1:%d",
              tpc_harness_free_port ());
    snprintf (paep, sizeof paep, "tcp://127.0.0.1:%d",
              tpc_harness_free_port ());
    CU_ASSERT_EQUAL_FATAL (s_start_coord (&plain, "plain", logdir, true,
                                          pcep, paep), 0);
    CU_ASSERT_EQUAL_FATAL (s_relay_start (&rc, s_port_of (pcep), &cport), 0);
    snprintf (cep, sizeof cep, "tcp://127.0.0.1:%d", cport);
    tpc_client_opts_t o = { .timeout_ms = 5000 };
    c = tpc_client_new (cep, &o);
    CU_ASSERT_EQUAL (s_transfer (c, gid), TPC_EUNKNOWN_PART);
    tpc_client_destroy (&c);
    usleep (200 * 1000);
    CU_ASSERT (s_seen (&rc, "\"type\":\"submit\"") && s_seen (&rc, "UPDATE"));
    printf ("\n    capture plaintext (control): \"type\":\"submit\" and "
            "the SQL seen in clear: %s\n",
            s_seen (&rc, "\"type\":\"submit\"") ? "yes" : "no");
    s_relay_stop (&rc);
    tpc_proc_kill (&plain, SIGTERM, 5000);
}

/* ------------------------------------------------------ connection lost */

/*  A coordinator that dies during the handshake: one TCP connection is
 *  accepted, its first bytes read, then reset; nothing listens after.    */
typedef struct {
    int fd;
    pthread_t thread;
} s_resetter_t;

static void *
s_resetter_run (void *arg)
{
    s_resetter_t *r = arg;
    int c = accept (r->fd, NULL, NULL);
    if (c >= 0) {
        char buf[64];
        (void) read (c, buf, sizeof buf);       /* the client's greeting */
        struct linger lg = { 1, 0 };            /* close = RST */
        setsockopt (c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        close (c);
    }
    close (r->fd);
    return NULL;
}

static int
s_resetter_start (s_resetter_t *r, char *ep, size_t size)
{
    r->fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET };
    a.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    if (r->fd < 0 || bind (r->fd, (struct sockaddr *) &a, sizeof a)
        || listen (r->fd, 4)
        || getsockname (r->fd, (struct sockaddr *) &a, &alen))
        return -1;
    snprintf (ep, size, "tcp://127.0.0.1:%d", ntohs (a.sin_port));
    return pthread_create (&r->thread, NULL, s_resetter_run, r);
}

typedef struct {
    tpc_client_t *c;
    const char *gid;
    int rc;
} s_exec_job_t;

static void *
s_exec_run (void *arg)
{
    s_exec_job_t *j = arg;
    j->rc = tpc_exec (j->c, j->gid, "db1", "SELECT pg_sleep(20)", 0, NULL,
                      NULL);
    return NULL;
}

static bool
s_is_connlost (int rc, tpc_client_t *c)
{
    bool ok = rc == TPC_ECONNLOST
              && strstr (tpc_client_errmsg (c), "connection lost")
              && !strstr (tpc_client_errmsg (c), "handshake failed");
    if (!ok)
        fprintf (stderr, "\n    want connection lost, got %s: %s\n",
                 tpc_errname (rc), tpc_client_errmsg (c));
    return ok;
}

/*  A connection lost because the coordinator died is reported as lost
 *  (TPC_ECONNLOST), not as a refused handshake (TPC_EAUTH): reset during
 *  the handshake, or closed while a request waits for its reply (the
 *  coordinator killed mid-request).  A wrong key is still TPC_EAUTH
 *  (issue 12).                                                           */
static void
test_connection_lost_is_not_eauth (void)
{
    /* 1. reset during the handshake, nobody listening after */
    s_resetter_t r;
    char ep[64];
    CU_ASSERT_EQUAL_FATAL (s_resetter_start (&r, ep, sizeof ep), 0);
    tpc_client_t *c = s_client_keys (ep, s_sec ("app"), s_pub ("coordinator"),
                                     1500);
    tpc_summary_t s;
    int rc = tpc_summary (c, &s);
    CU_ASSERT (s_is_connlost (rc, c));
    tpc_client_destroy (&c);
    pthread_join (r.thread, NULL);
    /* 2. the coordinator killed while a statement runs */
    c = s_client_as ("app", 8000);
    char gid[TPC_CLIENT_GID_MAX];
    CU_ASSERT_EQUAL_FATAL (tpc_begin (c, NULL, gid), 0);
    s_exec_job_t job = { c, gid, 0 };
    pthread_t t;
    CU_ASSERT_EQUAL_FATAL (pthread_create (&t, NULL, s_exec_run, &job), 0);
    int64_t running = 0;
    for (int i = 0; i < 500 && running == 0; i++) {
        running = tpc_harness_sql_int (W.db[0], "SELECT count(*) FROM "
                                       "pg_stat_activity WHERE state = "
                                       "'active' AND query LIKE "
                                       "'SELECT pg_sleep(20)%'");
        if (running == 0)
            usleep (20 * 1000);
    }
    CU_ASSERT_EQUAL (running, 1);
    int64_t t0 = tpc_now_ms ();
    tpc_proc_kill (&W.coord, SIGKILL, 5000);
    pthread_join (t, NULL);
    int64_t waited = tpc_now_ms () - t0;
    CU_ASSERT (s_is_connlost (job.rc, c));
    printf ("\n    coordinator killed mid-request: %s after %lld ms (%s)\n",
            tpc_errname (job.rc), (long long) waited, tpc_client_errmsg (c));
    tpc_client_destroy (&c);
    tpc_harness_sql (W.db[0], "SELECT pg_cancel_backend (pid) FROM "
                     "pg_stat_activity WHERE query LIKE "
                     "'SELECT pg_sleep(20)%'");
    CU_ASSERT_EQUAL_FATAL (s_start_coord (&W.coord, "c1", W.logdir, false,
                                          W.cep, W.aep), 0);
    CU_ASSERT_EQUAL (s_wait_agents (W.cep), 0);
    /* 3. wrong keys are still refused handshakes */
    c = s_client_as ("stranger", 3000);
    CU_ASSERT_EQUAL (tpc_summary (c, &s), TPC_EAUTH);
    tpc_client_destroy (&c);
    c = s_client_keys (W.cep, s_sec ("app"), s_pub ("stranger"), 3000);
    CU_ASSERT_EQUAL (tpc_summary (c, &s), TPC_EAUTH);
    tpc_client_destroy (&c);
    /* and the restarted coordinator serves */
    c = s_client_as ("app", 5000);
    CU_ASSERT_EQUAL (s_transfer (c, gid), 0);
    tpc_client_destroy (&c);
}

/*  A key the coordinator does not accept is named as such as soon as the
 *  ZAP handler says no: TPC_EAUTH, "refused this client's key", never a
 *  connect timeout (both timeouts are 30 s here, so an answer before 6 s
 *  comes from the refusal, with plenty of slack for a loaded machine).   */
static void
test_wrong_key_named_at_once (void)
{
    tpc_client_opts_t o = { .timeout_ms = 30000, .connect_timeout_ms = 30000,
                            .curve_secret_file = s_sec ("stranger"),
                            .curve_server_file = s_pub ("coordinator") };
    tpc_client_t *c = tpc_client_new (W.cep, &o);
    CU_ASSERT_PTR_NOT_NULL_FATAL (c);
    tpc_summary_t s;
    int64_t t0 = tpc_now_ms ();
    CU_ASSERT_EQUAL (tpc_summary (c, &s), TPC_EAUTH);
    int64_t waited = tpc_now_ms () - t0;
    printf ("\n    unlisted key: %s after %lld ms: %s", tpc_errname (TPC_EAUTH),
            (long long) waited, tpc_client_errmsg (c));
    CU_ASSERT (waited < 6000);
    CU_ASSERT_PTR_NOT_NULL (strstr (tpc_client_errmsg (c), "the coordinator "
                                    "refused this client's key"));
    tpc_client_destroy (&c);

    /* an HA group's list: a member down is skipped (1 s), the refusal
     * by the next is TPC_EAUTH at once, not skipped as if it were down
     * (every member has the same key), and names that member            */
    char list[300];
    snprintf (list, sizeof list, "tcp://127.0.0.1:1,%s", W.cep);
    c = tpc_client_new (list, &o);
    CU_ASSERT_PTR_NOT_NULL_FATAL (c);
    t0 = tpc_now_ms ();
    CU_ASSERT_EQUAL (tpc_summary (c, &s), TPC_EAUTH);
    waited = tpc_now_ms () - t0;
    printf ("\n    unlisted key, a group's list: after %lld ms: %s",
            (long long) waited, tpc_client_errmsg (c));
    CU_ASSERT (waited < 6000);
    CU_ASSERT_PTR_NOT_NULL (strstr (tpc_client_errmsg (c), "the coordinator "
                                    "refused this client's key"));
    CU_ASSERT_PTR_NOT_NULL (strstr (tpc_client_errmsg (c), W.cep));
    tpc_client_destroy (&c);
}

/* -------------------------------------------------- routing takeover */

/*  ZeroMQ's handshake: a DEALER with routing id ID and agent KEY's key
 *  pair, connected to the agent endpoint.                               */
static void *
s_agent_dealer (void *ctx, const char *id, const char *key)
{
    tpc_curve_cert_t cert, srv;
    char err[256];
    void *sock = zmq_socket (ctx, ZMQ_DEALER);
    int linger = 0;
    CU_ASSERT_PTR_NOT_NULL_FATAL (sock);
    zmq_setsockopt (sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt (sock, ZMQ_ROUTING_ID, id, strlen (id));
    CU_ASSERT_EQUAL_FATAL (tpc_curve_cert_load (s_sec (key), true, &cert,
                                                err, sizeof err), 0);
    CU_ASSERT_EQUAL_FATAL (tpc_curve_cert_load (s_pub ("coordinator"), false,
                                                &srv, err, sizeof err), 0);
    CU_ASSERT_EQUAL_FATAL (tpc_curve_client_setup (sock, &cert,
                                                   srv.public_key), 0);
    CU_ASSERT_EQUAL_FATAL (zmq_connect (sock, W.aep), 0);
    return sock;
}

/*  The coordinator lists exactly db1 and db2.                             */
static void
s_assert_two_agents (void)
{
    tpc_client_t *c = s_client_as ("ops", 5000);
    tpc_summary_t s;
    CU_ASSERT_EQUAL (tpc_summary (c, &s), 0);
    CU_ASSERT_EQUAL (s.nagents, 2);
    for (size_t i = 0; i < s.nagents; i++)
        CU_ASSERT (!strcmp (s.agents[i], "db1") || !strcmp (s.agents[i],
                                                            "db2"));
    tpc_summary_clear (&s);
    tpc_client_destroy (&c);
}

/*  A transfer commits: db1 -10, db2 +10, nothing left prepared.          */
static void
s_assert_transfer_commits (void)
{
    s_state_t before = s_state ();
    tpc_client_t *c = s_client_as ("app", 8000);
    char gid[TPC_CLIENT_GID_MAX] = "";
    int rc = s_transfer (c, gid);
    CU_ASSERT_EQUAL (rc, 0);
    if (rc)
        printf ("\n    transfer: %s (%s)", tpc_errname (rc),
                tpc_client_errmsg (c));
    tpc_client_destroy (&c);
    s_state_t after = s_state ();
    CU_ASSERT_EQUAL (after.bal1, before.bal1 - 10);
    CU_ASSERT_EQUAL (after.bal2, before.bal2 + 10);
    CU_ASSERT_EQUAL (after.prepared, 0);
}

/*  Issue 12 item 2: a peer holding db2's key connects with routing id
 *  "db1" and says hello as db1.  It is refused and the real db1 loses
 *  nothing: both agents listed, transactions on db1 commit, and the
 *  impostor hears nothing meant for db1 (not even a hello answer), only
 *  its refusal.                                                          */
static void
test_agent_takeover_refused (void)
{
    void *ctx = zmq_ctx_new ();
    void *evil = s_agent_dealer (ctx, "db1", "db2");
    long off = tpc_proc_log_size (&W.coord);
    const char *hello = "{\"v\":2,\"type\":\"hello\",\"name\":\"db1\"}";
    CU_ASSERT (zmq_send (evil, hello, strlen (hello), 0) >= 0);
    CU_ASSERT_EQUAL (tpc_proc_wait_log (&W.coord, "agent:db2", off, 10000),
                     0);
    s_assert_two_agents ();
    s_assert_transfer_commits ();
    /* all it hears is its refusal (issue 20 item 9: said, not silent) */
    zmq_pollitem_t it = { .socket = evil, .events = ZMQ_POLLIN };
    CU_ASSERT_EQUAL (zmq_poll (&it, 1, 1000), 1);
    char buf[1024] = "";
    int n = zmq_recv (evil, buf, sizeof buf - 1, ZMQ_DONTWAIT);
    CU_ASSERT (n > 0);
    buf[n > 0 ? n : 0] = '\0';
    CU_ASSERT (strstr (buf, "\"type\":\"error\"") != NULL);
    CU_ASSERT (strstr (buf, "refused this key for name 'db1': the key is "
                       "agent db2's") != NULL);
    CU_ASSERT_EQUAL (zmq_poll (&it, 1, 0), 0);
    /* the impostor leaving changes nothing either */
    zmq_close (evil);
    s_assert_transfer_commits ();
    s_assert_two_agents ();
    zmq_ctx_term (ctx);
}

/*  A link that dies without a reset (a relay that stops forwarding but
 *  keeps the connection open): db1's hellos go unanswered, it notices,
 *  makes a new connection, and transactions on db1 commit again.        */
static void
test_agent_dead_link_reconnects (void)
{
    s_relay_t ra;
    int aport;
    CU_ASSERT_EQUAL_FATAL (s_relay_start (&ra, s_port_of (W.aep), &aport),
                           0);
    char aep[64];
    snprintf (aep, sizeof aep, "tcp://127.0.0.1:%d", aport);
    tpc_proc_kill (&W.agent[0], SIGTERM, 5000);
    CU_ASSERT_EQUAL_FATAL (s_spawn_agent (&W.agent[0], 0, NULL, NULL, aep,
                                          "db1-deadlink"), 0);
    CU_ASSERT_EQUAL (s_wait_agents (W.cep), 0);
    s_assert_transfer_commits ();
    long off = tpc_proc_log_size (&W.agent[0]);
    s_relay_freeze (&ra);
    CU_ASSERT_EQUAL (tpc_proc_wait_log (&W.agent[0], "the link is dead; "
                                        "reconnecting", off, 15000), 0);
    CU_ASSERT_EQUAL (tpc_proc_wait_log (&W.agent[0], "the coordinator "
                                        "answers again", off, 15000), 0);
    s_assert_two_agents ();
    s_assert_transfer_commits ();
    s_relay_stop (&ra);
    tpc_proc_kill (&W.agent[0], SIGTERM, 5000);
    CU_ASSERT_EQUAL (s_spawn_agent (&W.agent[0], 0, NULL, NULL, NULL, "db1"),
                     0);
    CU_ASSERT_EQUAL (s_wait_agents (W.cep), 0);
}

/* ------------------------------------------------ peer link takeover */

/*  A DEALER to the peer link at EP of the agent whose public key is SRV,
 *  with agent KEY's key pair and routing id ID (NULL: none, the ROUTER
 *  assigns one); it never reconnects, so a cut link stays cut.  With MON
 *  (an inproc endpoint), its successful handshakes are reported there. */
static void *
s_peer_dealer (void *ctx, const char *ep, const char *id, const char *key,
               const char *srv_name, const char *mon)
{
    tpc_curve_cert_t cert, srv;
    char err[256];
    void *sock = zmq_socket (ctx, ZMQ_DEALER);
    int linger = 0, never = -1, sndtimeo = 5000;
    CU_ASSERT_PTR_NOT_NULL_FATAL (sock);
    zmq_setsockopt (sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt (sock, ZMQ_RECONNECT_IVL, &never, sizeof never);
    zmq_setsockopt (sock, ZMQ_SNDTIMEO, &sndtimeo, sizeof sndtimeo);
    if (id)
        zmq_setsockopt (sock, ZMQ_ROUTING_ID, id, strlen (id));
    CU_ASSERT_EQUAL_FATAL (tpc_curve_cert_load (s_sec (key), true, &cert,
                                                err, sizeof err), 0);
    CU_ASSERT_EQUAL_FATAL (tpc_curve_cert_load (s_pub (srv_name), false,
                                                &srv, err, sizeof err), 0);
    CU_ASSERT_EQUAL_FATAL (tpc_curve_client_setup (sock, &cert,
                                                   srv.public_key), 0);
    if (mon)
        CU_ASSERT_EQUAL_FATAL (zmq_socket_monitor (sock, mon,
                               ZMQ_EVENT_HANDSHAKE_SUCCEEDED), 0);
    CU_ASSERT_EQUAL_FATAL (zmq_connect (sock, ep), 0);
    return sock;
}

/*  Send a getstate of tpc_pz_1_1 with round SEQ (and NAME, if any) on
 *  SOCK; true if a state reply of that round arrives within WAIT_MS.     */
static bool
s_peer_ask (void *sock, const char *name, int seq, int wait_ms)
{
    char req[160], want[32], buf[512];
    if (name)
        snprintf (req, sizeof req, "{\"v\":1,\"type\":\"getstate\",\"gid\":"
                  "\"tpc_pz_1_1\",\"seq\":%d,\"name\":\"%s\"}", seq, name);
    else
        snprintf (req, sizeof req, "{\"v\":1,\"type\":\"getstate\",\"gid\":"
                  "\"tpc_pz_1_1\",\"seq\":%d}", seq);
    snprintf (want, sizeof want, "\"seq\":%d", seq);
    if (zmq_send (sock, req, strlen (req), 0) < 0)
        return false;
    zmq_pollitem_t it = { .socket = sock, .events = ZMQ_POLLIN };
    while (wait_ms >= 0 && zmq_poll (&it, 1, wait_ms) == 1) {
        int n = zmq_recv (sock, buf, sizeof buf - 1, 0);
        if (n < 0)
            return false;
        buf[n < (int) sizeof buf ? n : (int) sizeof buf - 1] = '\0';
        if (strstr (buf, "\"type\":\"state\"") && strstr (buf, want))
            return true;
    }
    return false;
}

/*  Issue 12 item 2, the agents' own peer link (3PC termination): a peer
 *  holding db2's key connects to agent db7's peer socket with routing id
 *  "db1" while db1 is connected, and asks as db1.  db1 loses nothing: its
 *  next request is answered on its own connection, and the impostor hears
 *  nothing.  A request naming db1 with db2's key is refused, the warning
 *  naming both.                                                          */
static void
test_agent_peer_takeover_refused (void)
{
    char priv[700], err[256], bin[600], log[700], file[700], pep[64];
    char peers[700];
    snprintf (priv, sizeof priv, "%s/private", W.keys);
    CU_ASSERT_EQUAL_FATAL (tpc_curve_keygen (priv, "db7", NULL, err,
                                             sizeof err), 0);
    snprintf (bin, sizeof bin, "%s/tpc-participant", tpc_harness_builddir ());
    snprintf (log, sizeof log, "%s/agent-db7-peer.log", W.dir);
    snprintf (file, sizeof file, "%s/db1.conninfo", W.dir);
    snprintf (pep, sizeof pep, "tcp://127.0.0.1:%d", tpc_harness_free_port ());
    snprintf (peers, sizeof peers, "%s/agents", W.keys);
    char *argv[] = { bin, "--name", "db7", "--coordinator", W.aep,
                     "--pg-file", file, "--curve-secret",
                     (char *) s_sec ("db7"), "--coordinator-public",
                     (char *) s_pub ("coordinator"), "--peer-bind", pep,
                     "--peer-keys", peers, "--heartbeat-ms", "200", NULL };
    tpc_proc_t p;
    CU_ASSERT_EQUAL_FATAL (tpc_proc_spawn (&p, argv, NULL, log), 0);
    CU_ASSERT_EQUAL (tpc_proc_wait_log (&p, "ready", 0, 20000), 0);
    void *ctx = zmq_ctx_new ();
    /* db1 as agents were: routing id its name, its key's name */
    void *real = s_peer_dealer (ctx, pep, "db1", "db1", "db7", NULL);
    CU_ASSERT (s_peer_ask (real, NULL, 1, 10000));
    /* the impostor: db2's key, routing id "db1" */
    void *evil = s_peer_dealer (ctx, pep, "db1", "db2", "db7",
                                "inproc://evil-mon");
    void *mon = zmq_socket (ctx, ZMQ_PAIR);
    CU_ASSERT_EQUAL_FATAL (zmq_connect (mon, "inproc://evil-mon"), 0);
    CU_ASSERT_FALSE (s_peer_ask (evil, "db1", 2, 0));
    zmq_pollitem_t mi = { .socket = mon, .events = ZMQ_POLLIN };
    CU_ASSERT_EQUAL (zmq_poll (&mi, 1, 10000), 1);  /* handshake done */
    /* db1's next request is answered on db1's connection */
    CU_ASSERT (s_peer_ask (real, NULL, 3, 5000));
    zmq_pollitem_t ei = { .socket = evil, .events = ZMQ_POLLIN };
    CU_ASSERT_EQUAL (zmq_poll (&ei, 1, 0), 0);
    /* a request naming db1 under db2's key: refused, both named */
    long off = tpc_proc_log_size (&p);
    void *evil2 = s_peer_dealer (ctx, pep, NULL, "db2", "db7", NULL);
    CU_ASSERT_FALSE (s_peer_ask (evil2, "db1", 4, 0));
    CU_ASSERT_EQUAL (tpc_proc_wait_log (&p, "says it is agent db1 but its "
                                        "key is agent db2", off, 10000), 0);
    zmq_pollitem_t e2 = { .socket = evil2, .events = ZMQ_POLLIN };
    CU_ASSERT_EQUAL (zmq_poll (&e2, 1, 0), 0);
    CU_ASSERT (s_peer_ask (real, "db1", 5, 5000));
    zmq_close (evil2);
    zmq_close (mon);
    zmq_close (evil);
    zmq_close (real);
    zmq_ctx_term (ctx);
    tpc_proc_kill (&p, SIGTERM, 5000);
}

static const tpc_test_case_t s_cases[] = {
    { "curve_matrix", test_curve_matrix },
    { "client_key_cannot_resolve", test_client_key_cannot_resolve },
    { "agent_wrong_keys", test_agent_wrong_keys },
    { "agent_trusts_only_its_coordinator",
      test_agent_trusts_only_its_coordinator },
    { "agent_peer_refusal_named", test_agent_peer_refusal_named },
    { "daemons_refuse_without_keys", test_daemons_refuse_without_keys },
    { "key_files", test_key_files },
    { "allow_list_reload", test_allow_list_reload },
    { "capture_no_plaintext", test_capture_no_plaintext },
    { "connection_lost_is_not_eauth", test_connection_lost_is_not_eauth },
    { "wrong_key_named_at_once", test_wrong_key_named_at_once },
    { "agent_takeover_refused", test_agent_takeover_refused },
    { "agent_dead_link_reconnects", test_agent_dead_link_reconnects },
    { "agent_peer_takeover_refused", test_agent_peer_takeover_refused },
    { NULL, NULL }
};

int
main (void)
{
    signal (SIGPIPE, SIG_IGN);
    const tpc_test_suite_t suites[] = {
        { "curve", s_setup, s_teardown, s_cases },
        { NULL, NULL, NULL, NULL }
    };
    return tpc_test_main ("test_curve", suites);
}
