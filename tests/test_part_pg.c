/*  test_part_pg: the tpc-participant binary against a real, throwaway
 *  PostgreSQL (scripts/pgtmp) and a scripted coordinator (a ZeroMQ ROUTER
 *  in this process).  Asserts what PostgreSQL holds afterwards: rows,
 *  pg_prepared_xacts, the marker table; every test ends with no prepared
 *  transaction left.  A missing PostgreSQL fails the suite (never skips).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "tpc_harness.h"
#include "tpc_msg.h"
#include "tpc_test.h"

#define BACKLOG 1024

static char *s_dir;                 /* temp dir: cluster, logs, files */
static char s_conninfo[512];
static char s_pgfile[600];
static void *s_zctx;
static void *s_router;
static char s_endpoint[128];
static tpc_msg_t *s_backlog[BACKLOG];
static size_t s_nbacklog;
static int s_nlog;                  /* agent log files made */

/*  The ROUTER assigns each agent connection its routing id (agents choose
 *  none, issue 12): an agent's name maps to the connection of its current
 *  incarnation, known by its hello's boot id.                            */
#define PEERS 64
typedef struct {
    char name[64];
    char boot[40];                  /* current incarnation, "" = none yet */
    unsigned char id[256];
    size_t idlen;
} s_peer_t;
static s_peer_t s_peers[PEERS];
static unsigned char s_last_id[256];  /* routing id of the last message */
static size_t s_last_idlen;

/* ------------------------------------------------------------------ */
/*  Scripted coordinator                                               */

static s_peer_t *
s_peer (const char *name)
{
    for (size_t i = 0; i < PEERS; i++)
        if (!strcmp (s_peers[i].name, name))
            return &s_peers[i];
    for (size_t i = 0; i < PEERS; i++)
        if (!s_peers[i].name[0]) {
            snprintf (s_peers[i].name, sizeof s_peers[i].name, "%s", name);
            return &s_peers[i];
        }
    return NULL;
}

static int
s_send_to (const char *agent, tpc_msg_t *msg)
{
    char *buf = NULL;
    size_t len = 0;
    int rc = tpc_msg_encode (msg, &buf, &len);
    tpc_msg_destroy (&msg);
    if (rc != 0)
        return rc;
    /* the agent's connection is known from its hello, and may be remade
     * (a new routing id): wait, bounded, while the ROUTER (mandatory)
     * says EHOSTUNREACH */
    rc = -1;
    int64_t end = tpc_now_ms () + 10000;
    for (;;) {
        const s_peer_t *p = s_peer (agent);
        if (p && p->idlen
            && zmq_send (s_router, p->id, p->idlen, ZMQ_SNDMORE) >= 0) {
            if (zmq_send (s_router, buf, len, 0) >= 0)
                rc = 0;
            break;
        }
        if ((p && p->idlen && errno != EHOSTUNREACH)
            || tpc_now_ms () >= end)
            break;
        zmq_poll (NULL, 0, 5);
    }
    free (buf);
    return rc;
}

/*  Receive one message (any agent) within TIMEOUT_MS, or NULL.          */
static tpc_msg_t *
s_recv_one (int timeout_ms)
{
    zmq_pollitem_t it = { .socket = s_router, .events = ZMQ_POLLIN };
    if (zmq_poll (&it, 1, timeout_ms) <= 0)
        return NULL;
    char buf[65536];
    int n = zmq_recv (s_router, s_last_id, sizeof s_last_id, 0);
    if (n < 0)
        return NULL;
    s_last_idlen = (size_t) n < sizeof s_last_id ? (size_t) n : 0;
    n = zmq_recv (s_router, buf, sizeof buf, 0);
    if (n < 0 || n > (int) sizeof buf)
        return NULL;
    tpc_msg_t *msg = NULL;
    char err[256];
    if (tpc_msg_decode (buf, (size_t) n, NULL, &msg, err, sizeof err) != 0) {
        fprintf (stderr, "  coordinator: undecodable message: %s\n", err);
        return NULL;
    }
    if (msg->type == TPC_MSG_HELLO && msg->name && s_last_idlen) {
        /* answered, as the coordinator does, so the agent's link lives;
         * the current incarnation's hello says where it is now */
        static const char back[] = "{\"v\":1,\"type\":\"hello\","
                                   "\"name\":\"scripted\"}";
        zmq_send (s_router, s_last_id, s_last_idlen, ZMQ_SNDMORE);
        zmq_send (s_router, back, sizeof back - 1, 0);
        s_peer_t *p = s_peer (msg->name);
        if (p && p->boot[0] && msg->boot && !strcmp (p->boot, msg->boot)) {
            memcpy (p->id, s_last_id, s_last_idlen);
            p->idlen = s_last_idlen;
        }
    }
    return msg;
}

static bool
s_match (const tpc_msg_t *m, tpc_msg_type_t type, const char *gid)
{
    return m->type == type && (!gid || (m->gid && !strcmp (m->gid, gid)));
}

/*  An "acks" frame *M_P (taken): one "ack" per gid into the backlog.    */
static void
s_unbatch_acks (tpc_msg_t **m_p)
{
    tpc_msg_t *b = *m_p;
    for (int c = 0; c < 2; c++) {
        char **v = c ? b->aborts : b->commits;
        size_t n = c ? b->naborts : b->ncommits;
        for (size_t k = 0; k < n && s_nbacklog < BACKLOG; k++) {
            tpc_msg_t *a = tpc_msg_new (TPC_MSG_ACK);
            CU_ASSERT_FATAL (a && !tpc_msg_set_str (&a->gid, v[k]));
            a->outcome = c ? TPC_OUTCOME_ABORTED : TPC_OUTCOME_COMMITTED;
            s_backlog[s_nbacklog++] = a;
        }
    }
    tpc_msg_destroy (m_p);
}

/*  The first message of TYPE (about GID unless NULL) within TIMEOUT_MS;
 *  others are kept for later calls, hellos dropped.                      */
static tpc_msg_t *
s_expect (tpc_msg_type_t type, const char *gid, int timeout_ms)
{
    for (size_t i = 0; i < s_nbacklog; i++)
        if (s_match (s_backlog[i], type, gid)) {
            tpc_msg_t *m = s_backlog[i];
            memmove (&s_backlog[i], &s_backlog[i + 1],
                     (s_nbacklog - i - 1) * sizeof m);
            s_nbacklog--;
            return m;
        }
    int64_t end = tpc_now_ms () + timeout_ms;
    for (;;) {
        int64_t left = end - tpc_now_ms ();
        if (left <= 0)
            return NULL;
        tpc_msg_t *m = s_recv_one ((int) left);
        if (!m)
            continue;
        if (m->type == TPC_MSG_ACKS) {
            /* a batch (protocol 2): one ack per gid, in the backlog */
            s_unbatch_acks (&m);
            return s_expect (type, gid, (int) (end - tpc_now_ms ()));
        }
        if (s_match (m, type, gid))
            return m;
        if (m->type == TPC_MSG_HELLO || s_nbacklog == BACKLOG)
            tpc_msg_destroy (&m);
        else
            s_backlog[s_nbacklog++] = m;
    }
}

static void
s_backlog_clear (void)
{
    for (size_t i = 0; i < s_nbacklog; i++)
        tpc_msg_destroy (&s_backlog[i]);
    s_nbacklog = 0;
}

static tpc_msg_t *
s_new (tpc_msg_type_t type, const char *gid)
{
    tpc_msg_t *m = tpc_msg_new (type);
    CU_ASSERT_PTR_NOT_NULL_FATAL (m);
    tpc_msg_set_str (&m->gid, gid);
    return m;
}

/*  work {gid, seq, [sql with params], then}.                            */
static void
s_work (const char *agent, const char *gid, uint64_t seq, tpc_then_t then,
        const char *sql, size_t nparams, const char *const *params)
{
    tpc_msg_t *m = s_new (TPC_MSG_WORK, gid);
    m->seq = seq;
    m->then = then;
    tpc_msg_add_stmt (m, NULL, sql, nparams, params);
    CU_ASSERT_EQUAL (s_send_to (agent, m), 0);
}

static void
s_simple (const char *agent, tpc_msg_type_t type, const char *gid,
          tpc_outcome_t outcome)
{
    tpc_msg_t *m = s_new (type, gid);
    m->outcome = outcome;
    CU_ASSERT_EQUAL (s_send_to (agent, m), 0);
}

static tpc_vote_t
s_vote_of (const char *gid, char *reason, size_t size)
{
    tpc_msg_t *m = s_expect (TPC_MSG_VOTE, gid, 10000);
    CU_ASSERT_PTR_NOT_NULL (m);
    if (!m)
        return TPC_VOTE_NONE;
    tpc_vote_t v = m->vote;
    if (reason)
        snprintf (reason, size, "%s", m->reason ? m->reason : "");
    tpc_msg_destroy (&m);
    return v;
}

static tpc_outcome_t
s_ack_of (const char *gid)
{
    tpc_msg_t *m = s_expect (TPC_MSG_ACK, gid, 15000);
    CU_ASSERT_PTR_NOT_NULL (m);
    tpc_outcome_t o = m ? m->outcome : TPC_OUTCOME_NONE;
    tpc_msg_destroy (&m);
    return o;
}

/* ------------------------------------------------------------------ */
/*  The agent process                                                  */

typedef struct {
    tpc_proc_t proc;
    char name[64];
    char log[700];
} s_agent_t;

/*  Start tpc-participant NAME; wait for its ready line (and, if FOUND is
 *  not NULL, check "prepared_found=FOUND").  DEBUG_EXIT arms crash point
 *  agent.after_prepare.  Returns 0 when ready.                  */
static int s_agent_start_with (s_agent_t *a, const char *name, bool debug_exit,
                               const char *found, const char *pool,
                               const char *queue, const char *stmt_cache);
/*  The same with more flags (EXTRA, NULL-terminated, at most 6).         */
static int s_agent_start_args (s_agent_t *a, const char *name, const char *found,
                               const char *const *extra);

static int
s_agent_start (s_agent_t *a, const char *name, bool debug_exit, const char *found)
{
    return s_agent_start_with (a, name, debug_exit, found, "4", "1024", NULL);
}

static int s_agent_spawn (s_agent_t *a, const char *name, bool debug_exit,
                          const char *found, const char *pool,
                          const char *queue, const char *stmt_cache,
                          const char *const *extra);

static int
s_agent_start_with (s_agent_t *a, const char *name, bool debug_exit,
                    const char *found, const char *pool, const char *queue,
                    const char *stmt_cache)
{
    return s_agent_spawn (a, name, debug_exit, found, pool, queue, stmt_cache,
                          NULL);
}

static int
s_agent_start_args (s_agent_t *a, const char *name, const char *found,
                    const char *const *extra)
{
    return s_agent_spawn (a, name, false, found, "4", "1024", NULL, extra);
}

static int
s_agent_spawn (s_agent_t *a, const char *name, bool debug_exit,
               const char *found, const char *pool, const char *queue,
               const char *stmt_cache, const char *const *extra)
{
    memset (a, 0, sizeof *a);
    snprintf (a->name, sizeof a->name, "%s", name);
    snprintf (a->log, sizeof a->log, "%s/agent-%d.log", s_dir, ++s_nlog);
    char bin[600];
    snprintf (bin, sizeof bin, "%s/tpc-participant", tpc_harness_builddir ());
    char *argv[] = {
        bin, "--name", a->name, "--coordinator", s_endpoint,
        "--pg-file", s_pgfile, "--pool", (char *) pool, "--queue",
        (char *) queue, "-v", "--insecure-plaintext", NULL, NULL, NULL,
        NULL, NULL, NULL, NULL, NULL, NULL
    };
    int n = 13;
    if (stmt_cache) {
        argv[n++] = "--stmt-cache";
        argv[n++] = (char *) stmt_cache;
    }
    for (size_t i = 0; extra && extra[i] && n < 21; i++)
        argv[n++] = (char *) extra[i];
    char *env[] = { "TPC_CRASH_POINT=agent.after_prepare", NULL };
    if (tpc_proc_spawn (&a->proc, argv, debug_exit ? env : NULL, a->log) != 0)
        return -1;
    char needle[128];
    snprintf (needle, sizeof needle, "ready name=%s backend=pg prepared_found=%s",
              name, found ? found : "");
    if (tpc_proc_wait_log (&a->proc, needle, 0, 20000) != 0) {
        fprintf (stderr, "  agent %s not ready (log %s)\n", name, a->log);
        return -1;
    }
    /* it is connected once its hello arrived: the first with a boot id
     * other than its stopped incarnation's (whose late hellos may come
     * first) names this incarnation and its connection */
    s_peer_t *p = s_peer (name);
    if (!p)
        return -1;
    char old[sizeof p->boot];
    snprintf (old, sizeof old, "%s", p->boot);
    p->boot[0] = 0;
    p->idlen = 0;
    int64_t end = tpc_now_ms () + 5000;
    while (tpc_now_ms () < end) {
        tpc_msg_t *hello = s_expect (TPC_MSG_HELLO, NULL,
                                     (int) (end - tpc_now_ms ()));
        bool ours = hello && hello->name && !strcmp (hello->name, name)
                    && hello->boot && strcmp (hello->boot, old) != 0
                    && s_last_idlen;
        if (ours) {
            snprintf (p->boot, sizeof p->boot, "%s", hello->boot);
            memcpy (p->id, s_last_id, s_last_idlen);
            p->idlen = s_last_idlen;
        }
        tpc_msg_destroy (&hello);
        if (ours)
            return 0;
    }
    return -1;
}

static void
s_agent_stop (s_agent_t *a)
{
    if (a->proc.pid > 0) {
        int st = tpc_proc_kill (&a->proc, SIGTERM, 10000);
        CU_ASSERT (WIFEXITED (st) && WEXITSTATUS (st) == 0);
    }
    s_backlog_clear ();
}

static bool
s_log_has (const char *path, const char *needle)
{
    FILE *f = fopen (path, "r");
    if (!f)
        return false;
    char line[4096];
    bool found = false;
    while (!found && fgets (line, sizeof line, f))
        found = strstr (line, needle) != NULL;
    fclose (f);
    return found;
}

static int
s_log_count (const char *path, const char *needle)
{
    FILE *f = fopen (path, "r");
    if (!f)
        return -1;
    char line[4096];
    int n = 0;
    while (fgets (line, sizeof line, f))
        n += strstr (line, needle) != NULL;
    fclose (f);
    return n;
}

/* ------------------------------------------------------------------ */
/*  SQL checks                                                         */

static int64_t
s_int (const char *fmt, const char *arg)
{
    char sql[512];
    snprintf (sql, sizeof sql, fmt, arg);
    return tpc_harness_sql_int (s_conninfo, sql);
}

static int64_t
s_prepared (const char *gid)
{
    /* the agent prepares gid as gid@<database oid> */
    return gid ? s_int ("SELECT count(*) FROM pg_prepared_xacts "
                        "WHERE split_part(gid, '@', 1) = '%s'", gid)
               : tpc_harness_sql_int (s_conninfo, "SELECT count(*) FROM pg_prepared_xacts");
}

static int64_t
s_rows (const char *id)
{
    return s_int ("SELECT count(*) FROM acct WHERE id = %s", id);
}

/*  'C', 'T' or 0 (no marker).                                            */
static char
s_marker (const char *gid)
{
    int64_t v = s_int ("SELECT coalesce((SELECT ascii(kind) FROM tpc_marker "
                       "WHERE gid = '%s'), 0)", gid);
    return (char) v;
}

/* ------------------------------------------------------------------ */

static int
s_suite_init (void)
{
    s_dir = tpc_test_tmpdir ("part-pg");
    if (!s_dir)
        return -1;
    char cluster[600];
    snprintf (cluster, sizeof cluster, "%s/pg", s_dir);
    if (tpc_harness_pg_start (cluster, s_conninfo, sizeof s_conninfo) != 0) {
        fprintf (stderr, "test_part_pg: PostgreSQL is required and could not be "
                 "started (scripts/pgtmp): FAIL\n");
        return -1;
    }
    /* the agent reads its conninfo from a file; the password is a canary
     * that must never show up in its log (trust auth ignores it) */
    snprintf (s_pgfile, sizeof s_pgfile, "%s/conninfo", s_dir);
    FILE *f = fopen (s_pgfile, "w");
    if (!f)
        return -1;
    fprintf (f, "%s password=canary-secret-42\n", s_conninfo);
    fclose (f);
    if (tpc_harness_sql (s_conninfo, "CREATE TABLE acct (id int PRIMARY KEY, "
                         "bal int NOT NULL CHECK (bal >= 0))") != 0)
        return -1;
    s_zctx = zmq_ctx_new ();
    s_router = zmq_socket (s_zctx, ZMQ_ROUTER);
    int one = 1, linger = 0;
    zmq_setsockopt (s_router, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    zmq_setsockopt (s_router, ZMQ_ROUTER_HANDOVER, &one, sizeof one);
    zmq_setsockopt (s_router, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_bind (s_router, "tcp://127.0.0.1:*") != 0)
        return -1;
    size_t len = sizeof s_endpoint;
    zmq_getsockopt (s_router, ZMQ_LAST_ENDPOINT, s_endpoint, &len);
    return 0;
}

static int
s_suite_clean (void)
{
    s_backlog_clear ();
    if (s_router)
        zmq_close (s_router);
    if (s_zctx)
        zmq_ctx_term (s_zctx);
    if (s_dir) {
        char cluster[600];
        snprintf (cluster, sizeof cluster, "%s/pg", s_dir);
        tpc_harness_pg_cmd ("destroy", cluster);
        if (getenv ("TPC_TEST_KEEP"))
            fprintf (stderr, "test_part_pg: logs kept in %s\n", s_dir);
        else
            tpc_test_rmtree (s_dir);
        free (s_dir);
    }
    return 0;
}

/* ------------------------------------------------------------------ */

static void
test_prepare_commit (void)
{
    s_agent_t a;
    CU_ASSERT_FATAL (s_agent_start (&a, "bank1", false, "0") == 0);
    const char *g = "tpc_t_1_1";
    const char *p1[] = { "1", "100" };
    s_work (a.name, g, 1, TPC_THEN_NONE, "INSERT INTO acct VALUES ($1, $2)", 2, p1);
    tpc_msg_t *w = s_expect (TPC_MSG_WORKED, g, 10000);
    CU_ASSERT_FATAL (w != NULL);
    CU_ASSERT (w->ok && w->has_result && w->affected == 1 && w->seq == 1);
    tpc_msg_destroy (&w);
    const char *p2[] = { "1" };
    s_work (a.name, g, 2, TPC_THEN_NONE, "SELECT bal, NULL::text AS note FROM acct "
            "WHERE id = $1", 1, p2);
    w = s_expect (TPC_MSG_WORKED, g, 10000);
    CU_ASSERT_FATAL (w != NULL);
    CU_ASSERT (w->ok && w->ncolumns == 2 && w->nrows == 1);
    if (w->ok && w->ncolumns == 2 && w->nrows == 1) {
        CU_ASSERT_STRING_EQUAL (w->columns[0], "bal");
        CU_ASSERT_STRING_EQUAL (w->cells[0], "100");
        CU_ASSERT_PTR_NULL (w->cells[1]);
    }
    tpc_msg_destroy (&w);

    s_simple (a.name, TPC_MSG_PREPARE, g, 0);
    CU_ASSERT_EQUAL (s_vote_of (g, NULL, 0), TPC_VOTE_YES);
    CU_ASSERT_EQUAL (s_prepared (g), 1);
    CU_ASSERT_EQUAL (s_rows ("1"), 0);          /* not committed yet */

    s_simple (a.name, TPC_MSG_DECIDE, g, TPC_OUTCOME_COMMITTED);
    CU_ASSERT_EQUAL (s_ack_of (g), TPC_OUTCOME_COMMITTED);
    CU_ASSERT_EQUAL (s_rows ("1"), 1);
    CU_ASSERT_EQUAL (s_prepared (g), 0);
    CU_ASSERT_EQUAL (s_marker (g), 'C');
    /* repeated decide: answered from the marker */
    s_simple (a.name, TPC_MSG_DECIDE, g, TPC_OUTCOME_COMMITTED);
    CU_ASSERT_EQUAL (s_ack_of (g), TPC_OUTCOME_COMMITTED);

    /* prepared, then aborted */
    const char *g2 = "tpc_t_1_2";
    const char *p3[] = { "2", "50" };
    s_work (a.name, g2, 1, TPC_THEN_PREPARE, "INSERT INTO acct VALUES ($1, $2)", 2, p3);
    CU_ASSERT_EQUAL (s_vote_of (g2, NULL, 0), TPC_VOTE_YES);
    s_simple (a.name, TPC_MSG_DECIDE, g2, TPC_OUTCOME_ABORTED);
    CU_ASSERT_EQUAL (s_ack_of (g2), TPC_OUTCOME_ABORTED);
    CU_ASSERT_EQUAL (s_rows ("2"), 0);
    CU_ASSERT_EQUAL (s_marker (g2), 0);

    s_agent_stop (&a);
    CU_ASSERT (!s_log_has (a.log, "canary-secret-42"));
    CU_ASSERT_EQUAL (s_prepared (NULL), 0);
}

static void
test_tombstone (void)
{
    s_agent_t a;
    CU_ASSERT_FATAL (s_agent_start (&a, "bank1", false, "0") == 0);
    const char *g = "tpc_t_1_3";
    s_simple (a.name, TPC_MSG_DECIDE, g, TPC_OUTCOME_ABORTED);
    CU_ASSERT_EQUAL (s_ack_of (g), TPC_OUTCOME_ABORTED);
    CU_ASSERT_EQUAL (s_marker (g), 'T');
    const char *p[] = { "3", "1" };
    s_work (a.name, g, 1, TPC_THEN_PREPARE, "INSERT INTO acct VALUES ($1, $2)", 2, p);
    CU_ASSERT_EQUAL (s_vote_of (g, NULL, 0), TPC_VOTE_NO);
    s_agent_stop (&a);

    /* a new agent does not remember: the tombstone's key refuses it */
    CU_ASSERT_FATAL (s_agent_start (&a, "bank1", false, "0") == 0);
    char why[512];
    s_work (a.name, g, 1, TPC_THEN_PREPARE, "INSERT INTO acct VALUES ($1, $2)", 2, p);
    CU_ASSERT_EQUAL (s_vote_of (g, why, sizeof why), TPC_VOTE_NO);
    CU_ASSERT (strstr (why, "duplicate key") != NULL);
    CU_ASSERT_EQUAL (s_rows ("3"), 0);
    /* and a commit decision for it gets the truth */
    s_simple (a.name, TPC_MSG_DECIDE, g, TPC_OUTCOME_COMMITTED);
    CU_ASSERT_EQUAL (s_ack_of (g), TPC_OUTCOME_ABORTED);
    s_agent_stop (&a);
    CU_ASSERT_EQUAL (s_prepared (NULL), 0);
}

static void
test_errors_and_readonly (void)
{
    s_agent_t a;
    CU_ASSERT_FATAL (s_agent_start (&a, "bank2", false, "0") == 0);
    CU_ASSERT_EQUAL (tpc_harness_sql (s_conninfo, "INSERT INTO acct VALUES (20, 10)"), 0);
    char why[512];
    /* check constraint: vote no with PostgreSQL's message */
    const char *g = "tpc_t_2_1";
    const char *p[] = { "20" };
    s_work (a.name, g, 1, TPC_THEN_PREPARE,
            "UPDATE acct SET bal = bal - 1000 WHERE id = $1", 1, p);
    CU_ASSERT_EQUAL (s_vote_of (g, why, sizeof why), TPC_VOTE_NO);
    CU_ASSERT (strstr (why, "violates check constraint") != NULL);
    CU_ASSERT_EQUAL (s_int ("SELECT bal FROM acct WHERE id = %s", "20"), 10);

    /* duplicate key in work: worked error, then prepare votes no */
    const char *g2 = "tpc_t_2_2";
    s_work (a.name, g2, 1, TPC_THEN_NONE, "INSERT INTO acct VALUES (20, 1)", 0, NULL);
    tpc_msg_t *w = s_expect (TPC_MSG_WORKED, g2, 10000);
    CU_ASSERT_FATAL (w != NULL);
    CU_ASSERT (!w->ok && w->reason && strstr (w->reason, "duplicate key"));
    tpc_msg_destroy (&w);
    s_simple (a.name, TPC_MSG_PREPARE, g2, 0);
    CU_ASSERT_EQUAL (s_vote_of (g2, NULL, 0), TPC_VOTE_NO);

    /* read-only: committed locally, vote readonly, nothing prepared */
    const char *g3 = "tpc_t_2_3";
    s_work (a.name, g3, 1, TPC_THEN_PREPARE, "SELECT count(*) FROM acct", 0, NULL);
    CU_ASSERT_EQUAL (s_vote_of (g3, NULL, 0), TPC_VOTE_READONLY);
    CU_ASSERT_EQUAL (s_prepared (g3), 0);
    CU_ASSERT_EQUAL (s_marker (g3), 0);

    /* one-phase commit */
    const char *g4 = "tpc_t_2_4";
    s_work (a.name, g4, 1, TPC_THEN_COMMIT, "INSERT INTO acct VALUES (21, 5)", 0, NULL);
    CU_ASSERT_EQUAL (s_ack_of (g4), TPC_OUTCOME_COMMITTED);
    CU_ASSERT_EQUAL (s_rows ("21"), 1);
    CU_ASSERT_EQUAL (s_marker (g4), 'C');

    /* a statement may not end the transaction behind the agent's back */
    const char *g5 = "tpc_t_2_5";
    s_work (a.name, g5, 1, TPC_THEN_NONE, "COMMIT", 0, NULL);
    w = s_expect (TPC_MSG_WORKED, g5, 10000);
    CU_ASSERT (w && !w->ok);
    tpc_msg_destroy (&w);

    /* work then=prepare runs its statements and the prepare in one round:
     * several statements, then a yes vote; commit applies them all */
    const char *g6 = "tpc_t_2_6";
    const char *p6[] = { "24" };
    tpc_msg_t *m = s_new (TPC_MSG_WORK, g6);
    m->seq = 1;
    m->then = TPC_THEN_PREPARE;
    tpc_msg_add_stmt (m, NULL, "INSERT INTO acct VALUES ($1, 3)", 1, p6);
    tpc_msg_add_stmt (m, NULL, "SELECT count(*) FROM acct", 0, NULL);
    tpc_msg_add_stmt (m, NULL, "UPDATE acct SET bal = bal + 4 WHERE id = 24", 0, NULL);
    CU_ASSERT_EQUAL (s_send_to (a.name, m), 0);
    CU_ASSERT_EQUAL (s_vote_of (g6, NULL, 0), TPC_VOTE_YES);
    CU_ASSERT_EQUAL (s_prepared (g6), 1);
    CU_ASSERT_EQUAL (s_rows ("24"), 0);             /* not yet visible */
    s_simple (a.name, TPC_MSG_DECIDE, g6, TPC_OUTCOME_COMMITTED);
    CU_ASSERT_EQUAL (s_ack_of (g6), TPC_OUTCOME_COMMITTED);
    CU_ASSERT_EQUAL (s_int ("SELECT bal FROM acct WHERE id = %s", "24"), 7);
    CU_ASSERT_EQUAL (s_marker (g6), 'C');

    /* a later statement of the same round failing: vote no, nothing of
     * the work stays, no marker */
    const char *g7 = "tpc_t_2_7";
    m = s_new (TPC_MSG_WORK, g7);
    m->seq = 1;
    m->then = TPC_THEN_PREPARE;
    tpc_msg_add_stmt (m, NULL, "INSERT INTO acct VALUES (25, 1)", 0, NULL);
    tpc_msg_add_stmt (m, NULL, "INSERT INTO acct VALUES (25, 2)", 0, NULL);
    CU_ASSERT_EQUAL (s_send_to (a.name, m), 0);
    CU_ASSERT_EQUAL (s_vote_of (g7, why, sizeof why), TPC_VOTE_NO);
    CU_ASSERT (strstr (why, "duplicate key") != NULL);
    CU_ASSERT_EQUAL (s_rows ("25"), 0);
    CU_ASSERT_EQUAL (s_prepared (g7), 0);
    CU_ASSERT_EQUAL (s_marker (g7), 0);

    /* a COMMIT among the statements of a prepare or a one-phase commit:
     * refused before the marker, the rest rolled back, nothing prepared */
    const char *g8 = "tpc_t_2_8";
    m = s_new (TPC_MSG_WORK, g8);
    m->seq = 1;
    m->then = TPC_THEN_PREPARE;
    tpc_msg_add_stmt (m, NULL, "COMMIT", 0, NULL);
    tpc_msg_add_stmt (m, NULL, "INSERT INTO acct VALUES (26, 1)", 0, NULL);
    CU_ASSERT_EQUAL (s_send_to (a.name, m), 0);
    CU_ASSERT_EQUAL (s_vote_of (g8, why, sizeof why), TPC_VOTE_NO);
    CU_ASSERT (strstr (why, "not allowed in work") != NULL);
    CU_ASSERT_EQUAL (s_rows ("26"), 0);
    CU_ASSERT_EQUAL (s_prepared (g8), 0);
    CU_ASSERT_EQUAL (s_marker (g8), 0);
    const char *g9 = "tpc_t_2_9";
    m = s_new (TPC_MSG_WORK, g9);
    m->seq = 1;
    m->then = TPC_THEN_COMMIT;
    tpc_msg_add_stmt (m, NULL, "COMMIT", 0, NULL);
    tpc_msg_add_stmt (m, NULL, "INSERT INTO acct VALUES (27, 1)", 0, NULL);
    CU_ASSERT_EQUAL (s_send_to (a.name, m), 0);
    CU_ASSERT_EQUAL (s_ack_of (g9), TPC_OUTCOME_ABORTED);
    CU_ASSERT_EQUAL (s_rows ("27"), 0);
    CU_ASSERT_NOT_EQUAL (s_marker (g9), 'C');   /* none, or a tombstone */

    /* read-only with several statements and parameters: readonly, and the
     * connection it used is clean for the next transaction */
    const char *g10 = "tpc_t_2_10";
    m = s_new (TPC_MSG_WORK, g10);
    m->seq = 1;
    m->then = TPC_THEN_PREPARE;
    tpc_msg_add_stmt (m, NULL, "SELECT bal FROM acct WHERE id = $1", 1, p6);
    tpc_msg_add_stmt (m, NULL, "SELECT 1", 0, NULL);
    CU_ASSERT_EQUAL (s_send_to (a.name, m), 0);
    CU_ASSERT_EQUAL (s_vote_of (g10, NULL, 0), TPC_VOTE_READONLY);
    CU_ASSERT_EQUAL (s_prepared (g10), 0);
    CU_ASSERT_EQUAL (s_marker (g10), 0);

    s_agent_stop (&a);
    CU_ASSERT_EQUAL (s_prepared (NULL), 0);
}

static void
test_agent_crash_after_prepare (void)
{
    s_agent_t a;
    CU_ASSERT_FATAL (s_agent_start (&a, "bank3", true, "0") == 0);
    const char *g = "tpc_t_3_1";
    s_work (a.name, g, 1, TPC_THEN_PREPARE, "INSERT INTO acct VALUES (30, 7)", 0, NULL);
    int st = tpc_proc_wait (&a.proc, 10000);
    CU_ASSERT (WIFEXITED (st) && WEXITSTATUS (st) == 99);
    CU_ASSERT_PTR_NULL (s_expect (TPC_MSG_VOTE, g, 200));   /* never sent */
    CU_ASSERT_EQUAL (s_prepared (g), 1);

    /* restart: it finds the gid, asks, and asks again while in progress */
    CU_ASSERT_FATAL (s_agent_start (&a, "bank3", false, "1") == 0);
    tpc_msg_t *q = s_expect (TPC_MSG_QUERY, g, 5000);
    CU_ASSERT_PTR_NOT_NULL (q);
    tpc_msg_destroy (&q);
    s_simple (a.name, TPC_MSG_ANSWER, g, TPC_OUTCOME_IN_PROGRESS);
    q = s_expect (TPC_MSG_QUERY, g, 3000);
    CU_ASSERT_PTR_NOT_NULL (q);
    tpc_msg_destroy (&q);
    CU_ASSERT_EQUAL (s_prepared (g), 1);
    s_simple (a.name, TPC_MSG_ANSWER, g, TPC_OUTCOME_COMMITTED);
    CU_ASSERT_EQUAL (s_ack_of (g), TPC_OUTCOME_COMMITTED);
    CU_ASSERT_EQUAL (s_rows ("30"), 1);
    CU_ASSERT_EQUAL (s_prepared (g), 0);
    s_agent_stop (&a);

    /* once more, and this time the answer is abort */
    CU_ASSERT_FATAL (s_agent_start (&a, "bank3", true, "0") == 0);
    const char *g2 = "tpc_t_3_2";
    s_work (a.name, g2, 1, TPC_THEN_PREPARE, "INSERT INTO acct VALUES (31, 7)", 0, NULL);
    st = tpc_proc_wait (&a.proc, 10000);
    CU_ASSERT (WIFEXITED (st) && WEXITSTATUS (st) == 99);
    CU_ASSERT_FATAL (s_agent_start (&a, "bank3", false, "1") == 0);
    q = s_expect (TPC_MSG_QUERY, g2, 5000);
    CU_ASSERT_PTR_NOT_NULL (q);
    tpc_msg_destroy (&q);
    s_simple (a.name, TPC_MSG_ANSWER, g2, TPC_OUTCOME_ABORTED);
    CU_ASSERT_EQUAL (s_ack_of (g2), TPC_OUTCOME_ABORTED);
    CU_ASSERT_EQUAL (s_rows ("31"), 0);
    s_agent_stop (&a);
    CU_ASSERT_EQUAL (s_prepared (NULL), 0);
}

static void
test_postgres_restart (void)
{
    s_agent_t a;
    CU_ASSERT_FATAL (s_agent_start (&a, "bank4", false, "0") == 0);
    const char *g = "tpc_t_4_1", *open = "tpc_t_4_2";
    s_work (a.name, g, 1, TPC_THEN_PREPARE, "INSERT INTO acct VALUES (40, 1)", 0, NULL);
    CU_ASSERT_EQUAL (s_vote_of (g, NULL, 0), TPC_VOTE_YES);
    s_work (a.name, open, 1, TPC_THEN_NONE, "INSERT INTO acct VALUES (41, 1)", 0, NULL);
    tpc_msg_t *w = s_expect (TPC_MSG_WORKED, open, 10000);
    CU_ASSERT (w && w->ok);
    tpc_msg_destroy (&w);

    /* crash PostgreSQL (no checkpoint), start it again */
    char cluster[600];
    snprintf (cluster, sizeof cluster, "%s/pg", s_dir);
    CU_ASSERT_EQUAL_FATAL (tpc_harness_pg_cmd ("kill", cluster), 0);
    char again[512];
    CU_ASSERT_EQUAL_FATAL (tpc_harness_pg_start (cluster, again, sizeof again), 0);
    CU_ASSERT_EQUAL (s_prepared (g), 1);       /* survived the crash */

    /* the open transaction died with its connection */
    s_work (a.name, open, 2, TPC_THEN_PREPARE, "INSERT INTO acct VALUES (42, 1)", 0, NULL);
    CU_ASSERT_EQUAL (s_vote_of (open, NULL, 0), TPC_VOTE_NO);
    /* the prepared one is asked about after the reconnect and committed */
    tpc_msg_t *q = s_expect (TPC_MSG_QUERY, g, 15000);
    CU_ASSERT_PTR_NOT_NULL (q);
    tpc_msg_destroy (&q);
    s_simple (a.name, TPC_MSG_DECIDE, g, TPC_OUTCOME_COMMITTED);
    CU_ASSERT_EQUAL (s_ack_of (g), TPC_OUTCOME_COMMITTED);
    CU_ASSERT_EQUAL (s_rows ("40"), 1);
    CU_ASSERT_EQUAL (s_rows ("41"), 0);
    CU_ASSERT_EQUAL (s_rows ("42"), 0);

    /* and it serves new work */
    const char *g3 = "tpc_t_4_3";
    s_work (a.name, g3, 1, TPC_THEN_COMMIT, "INSERT INTO acct VALUES (43, 1)", 0, NULL);
    CU_ASSERT_EQUAL (s_ack_of (g3), TPC_OUTCOME_COMMITTED);
    CU_ASSERT_EQUAL (s_rows ("43"), 1);
    s_agent_stop (&a);
    CU_ASSERT_EQUAL (s_prepared (NULL), 0);
}

static void
test_pool_queue_and_cancel (void)
{
    /* pool 2: one connection for transactions, one kept for phase 2 */
    s_agent_t a;
    CU_ASSERT_FATAL (s_agent_start_with (&a, "bank5", false, "0", "2", "1", NULL) == 0);
    const char *ga = "tpc_t_5_1", *gb = "tpc_t_5_2", *gc = "tpc_t_5_3";
    s_work (a.name, ga, 1, TPC_THEN_NONE, "INSERT INTO acct VALUES (50, 1)", 0, NULL);
    tpc_msg_t *w = s_expect (TPC_MSG_WORKED, ga, 10000);
    CU_ASSERT (w && w->ok);
    tpc_msg_destroy (&w);
    s_work (a.name, gb, 1, TPC_THEN_NONE, "INSERT INTO acct VALUES (50, 2)", 0, NULL);
    s_work (a.name, gc, 1, TPC_THEN_NONE, "INSERT INTO acct VALUES (51, 1)", 0, NULL);
    w = s_expect (TPC_MSG_WORKED, gc, 10000);           /* queue full */
    CU_ASSERT (w && !w->ok && w->reason && !strcmp (w->reason, "busy"));
    tpc_msg_destroy (&w);
    CU_ASSERT_PTR_NULL (s_expect (TPC_MSG_WORKED, gb, 300));  /* waits */

    /* A prepares (its connection is free again): B gets it and blocks on
     * A's uncommitted key 50 */
    s_simple (a.name, TPC_MSG_PREPARE, ga, 0);
    CU_ASSERT_EQUAL (s_vote_of (ga, NULL, 0), TPC_VOTE_YES);
    CU_ASSERT_PTR_NULL (s_expect (TPC_MSG_WORKED, gb, 300));
    /* the coordinator gives up on B: the blocked statement is cancelled */
    s_simple (a.name, TPC_MSG_DECIDE, gb, TPC_OUTCOME_ABORTED);
    w = s_expect (TPC_MSG_WORKED, gb, 10000);
    CU_ASSERT (w && !w->ok);
    tpc_msg_destroy (&w);
    CU_ASSERT_EQUAL (s_ack_of (gb), TPC_OUTCOME_ABORTED);
    CU_ASSERT_EQUAL (s_marker (gb), 'T');
    CU_ASSERT_EQUAL (s_prepared (ga), 1);

    /* the same when the blocked statement rides with its prepare (work
     * then=prepare): cancelled, vote no, rolled back, nothing prepared */
    const char *ge = "tpc_t_5_5";
    s_work (a.name, ge, 1, TPC_THEN_PREPARE, "INSERT INTO acct VALUES (50, 3)", 0, NULL);
    CU_ASSERT_PTR_NULL (s_expect (TPC_MSG_VOTE, ge, 300));
    s_simple (a.name, TPC_MSG_DECIDE, ge, TPC_OUTCOME_ABORTED);
    CU_ASSERT_EQUAL (s_vote_of (ge, NULL, 0), TPC_VOTE_NO);
    CU_ASSERT_EQUAL (s_ack_of (ge), TPC_OUTCOME_ABORTED);
    CU_ASSERT_EQUAL (s_prepared (ge), 0);
    CU_ASSERT_EQUAL (s_marker (ge), 'T');

    /* phase 2 while the transaction connection is taken again */
    const char *gd = "tpc_t_5_4";
    s_work (a.name, gd, 1, TPC_THEN_NONE, "INSERT INTO acct VALUES (52, 1)", 0, NULL);
    w = s_expect (TPC_MSG_WORKED, gd, 10000);
    CU_ASSERT (w && w->ok);
    tpc_msg_destroy (&w);
    s_simple (a.name, TPC_MSG_DECIDE, ga, TPC_OUTCOME_COMMITTED);
    CU_ASSERT_EQUAL (s_ack_of (ga), TPC_OUTCOME_COMMITTED);
    s_simple (a.name, TPC_MSG_DECIDE, gd, TPC_OUTCOME_ABORTED);
    CU_ASSERT_EQUAL (s_ack_of (gd), TPC_OUTCOME_ABORTED);
    CU_ASSERT_EQUAL (s_int ("SELECT bal FROM acct WHERE id = %s", "50"), 1);
    CU_ASSERT_EQUAL (s_rows ("51"), 0);
    CU_ASSERT_EQUAL (s_rows ("52"), 0);
    s_agent_stop (&a);
    CU_ASSERT_EQUAL (s_prepared (NULL), 0);
}

static void
test_many_concurrent (void)
{
    /* 90 transactions at once through 3 connections (pgtmp allows 100
     * prepared transactions): all wait their turn, all prepare, half
     * commit, half abort */
    enum { N = 90 };
    s_agent_t a;
    CU_ASSERT_FATAL (s_agent_start_with (&a, "bank6", false, "0", "3", "1024", NULL) == 0);
    char gid[N][64];
    for (int i = 0; i < N; i++) {
        snprintf (gid[i], sizeof gid[i], "tpc_t_6_%d", i + 1);
        char id[16], sql[128];
        snprintf (id, sizeof id, "%d", 1000 + i);
        snprintf (sql, sizeof sql, "INSERT INTO acct VALUES (%s, 1)", id);
        s_work (a.name, gid[i], 1, TPC_THEN_PREPARE, sql, 0, NULL);
    }
    int yes = 0;
    for (int i = 0; i < N; i++)
        yes += s_vote_of (gid[i], NULL, 0) == TPC_VOTE_YES;
    CU_ASSERT_EQUAL (yes, N);
    CU_ASSERT_EQUAL (s_prepared (NULL), N);
    for (int i = 0; i < N; i++)
        s_simple (a.name, TPC_MSG_DECIDE, gid[i],
                  i % 2 ? TPC_OUTCOME_ABORTED : TPC_OUTCOME_COMMITTED);
    int right = 0;
    for (int i = 0; i < N; i++)
        right += s_ack_of (gid[i]) == (i % 2 ? TPC_OUTCOME_ABORTED
                                             : TPC_OUTCOME_COMMITTED);
    CU_ASSERT_EQUAL (right, N);
    CU_ASSERT_EQUAL (tpc_harness_sql_int (s_conninfo, "SELECT count(*) FROM acct "
                                          "WHERE id BETWEEN 1000 AND 1199"), N / 2);
    s_agent_stop (&a);
    CU_ASSERT_EQUAL (s_prepared (NULL), 0);
}

/*  One transaction on agent A: work GID then=prepare SQL (NPARAMS, P),
 *  commit it when it votes yes.  Returns the vote.                       */
static tpc_vote_t
s_transfer (const char *agent, const char *gid, const char *sql,
            size_t nparams, const char *const *p)
{
    s_work (agent, gid, 1, TPC_THEN_PREPARE, sql, nparams, p);
    tpc_vote_t v = s_vote_of (gid, NULL, 0);
    if (v == TPC_VOTE_YES) {
        s_simple (agent, TPC_MSG_DECIDE, gid, TPC_OUTCOME_COMMITTED);
        CU_ASSERT_EQUAL (s_ack_of (gid), TPC_OUTCOME_COMMITTED);
    }
    return v;
}

static void
test_statement_cache (void)
{
    /* pool 2: every transaction runs on the same session */
    s_agent_t a;
    CU_ASSERT_FATAL (s_agent_start_with (&a, "bank7", false, "0", "2", "1024", NULL) == 0);
    CU_ASSERT_EQUAL (tpc_harness_sql (s_conninfo, "INSERT INTO acct VALUES (70, 100)"), 0);
    const char *upd = "UPDATE acct SET bal = bal - $2 WHERE id = $1";
    const char *one[] = { "70", "1" }, *lots[] = { "70", "1000" };
    char gid[32];
    /* the same UPDATE five times: unnamed, then prepared, then by name;
     * the marker INSERT the same way */
    for (int i = 1; i <= 5; i++) {
        snprintf (gid, sizeof gid, "tpc_t_7_%d", i);
        CU_ASSERT_EQUAL (s_transfer (a.name, gid, upd, 2, one), TPC_VOTE_YES);
    }
    CU_ASSERT_EQUAL (s_int ("SELECT bal FROM acct WHERE id = %s", "70"), 95);
    /* the UPDATE, the marker INSERT and the session reset (RESET ALL) */
    CU_ASSERT_EQUAL (s_log_count (a.log, "preparing tpc_s"), 3);
    CU_ASSERT_EQUAL (s_log_count (a.log, ": RESET ALL"), 1);
    CU_ASSERT_EQUAL (s_log_count (a.log, ": UPDATE acct SET bal = bal - $2"), 1);
    CU_ASSERT_EQUAL (s_log_count (a.log, ": INSERT INTO tpc_marker"), 1);
    for (int i = 1; i <= 5; i++) {
        snprintf (gid, sizeof gid, "tpc_t_7_%d", i);
        CU_ASSERT_EQUAL (s_marker (gid), 'C');
    }

    /* a prepared statement failing at run time: the database's message */
    char why[512];
    s_work (a.name, "tpc_t_7_6", 1, TPC_THEN_PREPARE, upd, 2, lots);
    CU_ASSERT_EQUAL (s_vote_of ("tpc_t_7_6", why, sizeof why), TPC_VOTE_NO);
    CU_ASSERT (strstr (why, "violates check constraint") != NULL);
    CU_ASSERT_EQUAL (s_marker ("tpc_t_7_6"), 0);
    CU_ASSERT_EQUAL (s_transfer (a.name, "tpc_t_7_7", upd, 2, one), TPC_VOTE_YES);

    /* statements that return rows are never prepared; their rows are right */
    for (int i = 8; i <= 10; i++) {
        snprintf (gid, sizeof gid, "tpc_t_7_%d", i);
        s_work (a.name, gid, 1, TPC_THEN_NONE, "SELECT bal FROM acct WHERE id = $1",
                1, one);
        tpc_msg_t *w = s_expect (TPC_MSG_WORKED, gid, 10000);
        CU_ASSERT (w && w->ok && w->nrows == 1 && w->cells[0]
                   && !strcmp (w->cells[0], "94"));
        tpc_msg_destroy (&w);
        s_simple (a.name, TPC_MSG_DECIDE, gid, TPC_OUTCOME_ABORTED);
        CU_ASSERT_EQUAL (s_ack_of (gid), TPC_OUTCOME_ABORTED);
    }
    CU_ASSERT_EQUAL (s_log_count (a.log, ": SELECT bal FROM acct"), 0);

    /* a statement that drops every prepared statement: the session gets a
     * full DISCARD ALL before reuse and its cache starts over */
    s_work (a.name, "tpc_t_7_11", 1, TPC_THEN_NONE, "DEALLOCATE ALL", 0, NULL);
    tpc_msg_t *w = s_expect (TPC_MSG_WORKED, "tpc_t_7_11", 10000);
    CU_ASSERT (w && w->ok);
    tpc_msg_destroy (&w);
    s_simple (a.name, TPC_MSG_DECIDE, "tpc_t_7_11", TPC_OUTCOME_ABORTED);
    CU_ASSERT_EQUAL (s_ack_of ("tpc_t_7_11"), TPC_OUTCOME_ABORTED);
    for (int i = 12; i <= 15; i++) {
        snprintf (gid, sizeof gid, "tpc_t_7_%d", i);
        CU_ASSERT_EQUAL (s_transfer (a.name, gid, upd, 2, one), TPC_VOTE_YES);
    }
    CU_ASSERT_EQUAL (s_int ("SELECT bal FROM acct WHERE id = %s", "70"), 90);
    CU_ASSERT_EQUAL (s_log_count (a.log, ": UPDATE acct SET bal = bal - $2"), 2);
    s_agent_stop (&a);
    CU_ASSERT_EQUAL (s_prepared (NULL), 0);

    /* --stmt-cache 0: nothing is prepared, everything still works */
    CU_ASSERT_FATAL (s_agent_start_with (&a, "bank7b", false, "0", "2", "1024",
                                         "0") == 0);
    for (int i = 16; i <= 18; i++) {
        snprintf (gid, sizeof gid, "tpc_t_7_%d", i);
        CU_ASSERT_EQUAL (s_transfer (a.name, gid, upd, 2, one), TPC_VOTE_YES);
    }
    CU_ASSERT_EQUAL (s_int ("SELECT bal FROM acct WHERE id = %s", "70"), 87);
    CU_ASSERT_EQUAL (s_log_count (a.log, "preparing tpc_s"), 0);
    s_agent_stop (&a);
    CU_ASSERT_EQUAL (s_prepared (NULL), 0);
}

static void
test_no_prepared_transactions (void)
{
    /* a cluster with max_prepared_transactions = 0: refuse with a hint */
    char cluster[600], conninfo[512];
    snprintf (cluster, sizeof cluster, "%s/pg0", s_dir);
    setenv ("TPC_PG_MAX_PREPARED", "0", 1);
    int rc = tpc_harness_pg_start (cluster, conninfo, sizeof conninfo);
    unsetenv ("TPC_PG_MAX_PREPARED");
    CU_ASSERT_EQUAL_FATAL (rc, 0);
    char bin[600], log[700];
    snprintf (bin, sizeof bin, "%s/tpc-participant", tpc_harness_builddir ());
    snprintf (log, sizeof log, "%s/agent-noprep.log", s_dir);
    char *argv[] = { bin, "--name", "x", "--pg", conninfo, "--coordinator",
                     s_endpoint, "--insecure-plaintext", NULL };
    tpc_proc_t p;
    CU_ASSERT_EQUAL (tpc_proc_spawn (&p, argv, NULL, log), 0);
    int st = tpc_proc_wait (&p, 20000);
    CU_ASSERT (WIFEXITED (st) && WEXITSTATUS (st) == 2);
    CU_ASSERT (s_log_has (log, "set max_prepared_transactions to a value > 0 "
                          "in postgresql.conf and restart PostgreSQL"));
    tpc_harness_pg_cmd ("destroy", cluster);
}

/*  Found by test_bad_input: a statement such as COMMIT in a client's work
 *  used to run, committing this participant's part on its own (and its
 *  earlier statements with it) while the others rolled back; PREPARE
 *  TRANSACTION 'x' left a prepared transaction no coordinator knows, with
 *  its locks.  Now the agent refuses such statements before any runs.   */
static void
test_transaction_control_refused (void)
{
    s_agent_t a;
    CU_ASSERT_FATAL (s_agent_start (&a, "bank9", false, "0") == 0);
    static const char *ctl[] = {
        "COMMIT", "commit work", "COMMIT AND CHAIN", "END", "end transaction",
        "  /* a /* nested */ comment */ -- and a line\n Commit",
        "ROLLBACK", "ROLLBACK AND CHAIN", "rollback work", "ABORT",
        "PREPARE TRANSACTION 'evil'", "prepare\ttransaction 'tpc_zzz_1_1'",
        "COMMIT PREPARED 'tpc_t_9_1'", "ROLLBACK PREPARED 'tpc_t_9_1'",
    };
    for (size_t i = 0; i < sizeof ctl / sizeof ctl[0]; i++) {
        char gid[32], id[16];
        snprintf (gid, sizeof gid, "tpc_t_9_%zu", i + 10);
        snprintf (id, sizeof id, "%zu", 90 + i);
        const char *p[] = { id };
        tpc_msg_t *m = s_new (TPC_MSG_WORK, gid);
        m->seq = 1;
        m->then = TPC_THEN_PREPARE;
        tpc_msg_add_stmt (m, NULL, "INSERT INTO acct VALUES ($1, 1)", 1, p);
        tpc_msg_add_stmt (m, NULL, ctl[i], 0, NULL);
        CU_ASSERT_EQUAL (s_send_to (a.name, m), 0);
        char why[512];
        CU_ASSERT_EQUAL (s_vote_of (gid, why, sizeof why), TPC_VOTE_NO);
        CU_ASSERT (strstr (why, "not allowed in work") != NULL);
        CU_ASSERT_EQUAL (s_rows (id), 0);
        CU_ASSERT_EQUAL (s_prepared (NULL), 0);
    }
    /* savepoints, and a prepared statement, are fine */
    const char *gid = "tpc_t_9_1";
    tpc_msg_t *m = s_new (TPC_MSG_WORK, gid);
    m->seq = 1;
    m->then = TPC_THEN_COMMIT;
    tpc_msg_add_stmt (m, NULL, "INSERT INTO acct VALUES (80, 1)", 0, NULL);
    tpc_msg_add_stmt (m, NULL, "SAVEPOINT s", 0, NULL);
    tpc_msg_add_stmt (m, NULL, "INSERT INTO acct VALUES (81, 1)", 0, NULL);
    tpc_msg_add_stmt (m, NULL, "ROLLBACK TO SAVEPOINT s", 0, NULL);
    tpc_msg_add_stmt (m, NULL, "INSERT INTO acct VALUES (82, 1)", 0, NULL);
    tpc_msg_add_stmt (m, NULL, "rollback work to s", 0, NULL);
    tpc_msg_add_stmt (m, NULL, "RELEASE SAVEPOINT s", 0, NULL);
    tpc_msg_add_stmt (m, NULL, "PREPARE q AS SELECT 1", 0, NULL);
    tpc_msg_add_stmt (m, NULL, "EXECUTE q", 0, NULL);
    CU_ASSERT_EQUAL (s_send_to (a.name, m), 0);
    CU_ASSERT_EQUAL (s_ack_of (gid), TPC_OUTCOME_COMMITTED);
    CU_ASSERT_EQUAL (s_rows ("80"), 1);
    CU_ASSERT_EQUAL (s_rows ("81"), 0);
    CU_ASSERT_EQUAL (s_rows ("82"), 0);
    s_agent_stop (&a);
    CU_ASSERT_EQUAL (s_prepared (NULL), 0);
}

/*  Found by test_bad_input: the pool handed the next transaction a
 *  connection as the last one left it: after one client's SET search_path
 *  or CREATE TEMP TABLE tpc_marker, every later transaction on that
 *  connection failed (relation does not exist; cannot PREPARE a
 *  transaction that has operated on temporary objects).  Now a connection
 *  that ran client statements is reset (DISCARD ALL) before reuse.      */
static void
test_session_reset (void)
{
    s_agent_t a;
    CU_ASSERT_FATAL (s_agent_start_with (&a, "bank10", false, "0", "1", "1024", NULL) == 0);
    CU_ASSERT_EQUAL_FATAL (tpc_harness_sql (s_conninfo, "CREATE SCHEMA evil; "
                           "CREATE TABLE evil.acct (id int PRIMARY KEY, bal int)"), 0);
    static const char *poison[] = {
        "SET search_path = evil, public",
        "CREATE TEMP TABLE tpc_marker (gid text PRIMARY KEY, kind char(1) "
        "NOT NULL DEFAULT 'C', at timestamptz DEFAULT now())",
        "SET default_transaction_read_only = on",
        "PREPARE ins (int) AS INSERT INTO acct VALUES ($1, 1)",
    };
    for (size_t i = 0; i < sizeof poison / sizeof poison[0]; i++) {
        char g1[32], g2[32], id[16];
        snprintf (g1, sizeof g1, "tpc_t_10_%zu", 2 * i + 1);
        snprintf (g2, sizeof g2, "tpc_t_10_%zu", 2 * i + 2);
        snprintf (id, sizeof id, "%zu", 100 + i);
        s_work (a.name, g1, 1, TPC_THEN_COMMIT, poison[i], 0, NULL);
        CU_ASSERT_EQUAL (s_ack_of (g1), TPC_OUTCOME_COMMITTED);
        /* the next transaction, on the same (only) connection */
        const char *p[] = { id };
        s_work (a.name, g2, 1, TPC_THEN_PREPARE,
                "INSERT INTO acct VALUES ($1, 1)", 1, p);
        char why[512] = "";
        CU_ASSERT_EQUAL (s_vote_of (g2, why, sizeof why), TPC_VOTE_YES);
        if (*why)
            fprintf (stderr, "  after \"%s\": %s\n", poison[i], why);
        s_simple (a.name, TPC_MSG_DECIDE, g2, TPC_OUTCOME_COMMITTED);
        CU_ASSERT_EQUAL (s_ack_of (g2), TPC_OUTCOME_COMMITTED);
        CU_ASSERT_EQUAL (s_rows (id), 1);
        CU_ASSERT_EQUAL (s_marker (g2), 'C');
    }
    CU_ASSERT_EQUAL (tpc_harness_sql_int (s_conninfo,
                     "SELECT count(*) FROM evil.acct"), 0);
    s_agent_stop (&a);
    CU_ASSERT_EQUAL (s_prepared (NULL), 0);
}

/*  The same for transactions that PREPARE (the reset rides inside them):
 *  a SET through a function is undone by the RESET ALL before the
 *  marker; a session advisory lock (named in the text) by DISCARD ALL.  */
static void
test_session_reset_prepared (void)
{
    s_agent_t a;
    CU_ASSERT_FATAL (s_agent_start_with (&a, "bank11", false, "0", "1", "1024", NULL) == 0);
    CU_ASSERT_EQUAL_FATAL (tpc_harness_sql (s_conninfo, "CREATE SCHEMA evil2; "
                           "CREATE TABLE evil2.acct (id int PRIMARY KEY, bal int)"), 0);
    static const char *poison[] = {
        "SELECT set_config('search_path', 'evil2, public', false)",
        "SELECT pg_advisory_lock(4242)",
    };
    for (size_t i = 0; i < sizeof poison / sizeof poison[0]; i++) {
        char g1[32], g2[32], id[16];
        snprintf (g1, sizeof g1, "tpc_t_11_%zu", 2 * i + 1);
        snprintf (g2, sizeof g2, "tpc_t_11_%zu", 2 * i + 2);
        snprintf (id, sizeof id, "%zu", 110 + i);
        const char *p[] = { id };
        tpc_msg_t *m = s_new (TPC_MSG_WORK, g1);
        m->seq = 1;
        m->then = TPC_THEN_PREPARE;
        tpc_msg_add_stmt (m, NULL, poison[i], 0, NULL);
        tpc_msg_add_stmt (m, NULL, "UPDATE acct SET bal = bal WHERE id = 0", 0, NULL);
        tpc_msg_add_stmt (m, NULL, "INSERT INTO acct VALUES ($1, 1)", 1, p);
        CU_ASSERT_EQUAL (s_send_to (a.name, m), 0);
        CU_ASSERT_EQUAL (s_vote_of (g1, NULL, 0), TPC_VOTE_YES);
        s_simple (a.name, TPC_MSG_DECIDE, g1, TPC_OUTCOME_COMMITTED);
        CU_ASSERT_EQUAL (s_ack_of (g1), TPC_OUTCOME_COMMITTED);
        CU_ASSERT_EQUAL (s_marker (g1), 'C');   /* the real marker table */
        /* the next transaction, on the same (only) connection */
        snprintf (id, sizeof id, "%zu", 120 + i);
        s_work (a.name, g2, 1, TPC_THEN_PREPARE,
                "INSERT INTO acct VALUES ($1, 1)", 1, p);
        CU_ASSERT_EQUAL (s_vote_of (g2, NULL, 0), TPC_VOTE_YES);
        s_simple (a.name, TPC_MSG_DECIDE, g2, TPC_OUTCOME_COMMITTED);
        CU_ASSERT_EQUAL (s_ack_of (g2), TPC_OUTCOME_COMMITTED);
        CU_ASSERT_EQUAL (s_rows (id), 1);
        CU_ASSERT_EQUAL (s_marker (g2), 'C');
    }
    /* the first transaction's INSERT ran under its own search_path; the
     * second's did not */
    CU_ASSERT_EQUAL (tpc_harness_sql_int (s_conninfo,
                     "SELECT count(*) FROM evil2.acct"), 1);
    /* the advisory lock did not stay with the agent's session */
    CU_ASSERT_EQUAL (tpc_harness_sql_int (s_conninfo,
                     "SELECT pg_try_advisory_lock(4242)::int"), 1);
    s_agent_stop (&a);
    CU_ASSERT_EQUAL (s_prepared (NULL), 0);
}


/*  Two agents on two databases of ONE cluster prepare the same gid: the
 *  cluster's prepared-transaction names are shared, so each agent prepares
 *  gid@<its database's oid> (before: the second PREPARE failed, "identifier
 *  already in use", and the transaction could only abort).  And a gid
 *  prepared under its bare name (by hand, or by an older agent) is still
 *  found by recovery and committed under that name.                      */
static void
test_same_gid_two_databases (void)
{
    CU_ASSERT_FATAL (tpc_harness_sql (s_conninfo, "CREATE DATABASE tppdb2") == 0);
    char conn2[700], file2[sizeof s_pgfile], saved[sizeof s_pgfile];
    snprintf (conn2, sizeof conn2, "%s dbname=tppdb2", s_conninfo);
    CU_ASSERT_FATAL (tpc_harness_sql (conn2, "CREATE TABLE acct (id int "
                                      "PRIMARY KEY, bal int NOT NULL)") == 0);
    snprintf (file2, sizeof file2, "%s/conninfo2", s_dir);
    FILE *f = fopen (file2, "w");
    CU_ASSERT_FATAL (f != NULL);
    fprintf (f, "%s\n", conn2);
    fclose (f);

    s_agent_t a, b;
    CU_ASSERT_FATAL (s_agent_start (&a, "samedb1", false, NULL) == 0);
    snprintf (saved, sizeof saved, "%s", s_pgfile);
    snprintf (s_pgfile, sizeof s_pgfile, "%s", file2);
    int rc = s_agent_start (&b, "samedb2", false, NULL);
    snprintf (s_pgfile, sizeof s_pgfile, "%s", saved);
    CU_ASSERT_FATAL (rc == 0);

    const char *g = "tpc_t_70_1";
    const char *p1[] = { "71", "5" };
    s_work (a.name, g, 1, TPC_THEN_PREPARE, "INSERT INTO acct VALUES ($1, $2)", 2, p1);
    char why[512] = "";
    CU_ASSERT_EQUAL (s_vote_of (g, why, sizeof why), TPC_VOTE_YES);
    if (*why)
        fprintf (stderr, "test_part_pg: first database voted: %s\n", why);
    s_work (b.name, g, 1, TPC_THEN_PREPARE, "INSERT INTO acct VALUES ($1, $2)", 2, p1);
    CU_ASSERT_EQUAL (s_vote_of (g, why, sizeof why), TPC_VOTE_YES);
    if (*why)
        fprintf (stderr, "test_part_pg: second database voted: %s\n", why);
    CU_ASSERT_EQUAL (s_prepared (g), 2);        /* one per database */
    s_simple (a.name, TPC_MSG_DECIDE, g, TPC_OUTCOME_COMMITTED);
    CU_ASSERT_EQUAL (s_ack_of (g), TPC_OUTCOME_COMMITTED);
    s_simple (b.name, TPC_MSG_DECIDE, g, TPC_OUTCOME_COMMITTED);
    CU_ASSERT_EQUAL (s_ack_of (g), TPC_OUTCOME_COMMITTED);
    CU_ASSERT_EQUAL (s_rows ("71"), 1);
    CU_ASSERT_EQUAL (tpc_harness_sql_int (conn2, "SELECT count(*) FROM acct "
                                          "WHERE id = 71"), 1);
    CU_ASSERT_EQUAL (s_prepared (g), 0);
    s_agent_stop (&b);

    /* a bare-named prepared gid: recovery finds it, phase 2 names it so */
    const char *g2 = "tpc_t_70_2";
    CU_ASSERT_FATAL (tpc_harness_sql (s_conninfo, "BEGIN; INSERT INTO acct "
                                      "VALUES (72, 1); PREPARE TRANSACTION "
                                      "'tpc_t_70_2'") == 0);
    s_agent_stop (&a);
    CU_ASSERT_FATAL (s_agent_start (&a, "samedb1", false, "1") == 0);
    s_simple (a.name, TPC_MSG_DECIDE, g2, TPC_OUTCOME_COMMITTED);
    CU_ASSERT_EQUAL (s_ack_of (g2), TPC_OUTCOME_COMMITTED);
    CU_ASSERT_EQUAL (s_rows ("72"), 1);
    CU_ASSERT_EQUAL (s_prepared (NULL), 0);
    s_agent_stop (&a);
}

/*  Spawn the agent on conninfo file PGFILE with EXTRA flags (NULL-ended)
 *  and expect it to refuse to start: exit 2 with NEEDLE in its log.     */
static void
s_agent_refused (const char *pgfile, const char *const *extra,
                 const char *needle)
{
    char bin[600], log[700];
    snprintf (bin, sizeof bin, "%s/tpc-participant", tpc_harness_builddir ());
    snprintf (log, sizeof log, "%s/agent-%d.log", s_dir, ++s_nlog);
    char *argv[12] = { bin, "--name", "refused", "--pg-file", (char *) pgfile,
                       "--coordinator", s_endpoint, "--insecure-plaintext" };
    for (size_t i = 0, n = 8; extra && extra[i] && n < 11; i++)
        argv[n++] = (char *) extra[i];
    tpc_proc_t p;
    CU_ASSERT_EQUAL_FATAL (tpc_proc_spawn (&p, argv, NULL, log), 0);
    int st = tpc_proc_wait (&p, 20000);
    CU_ASSERT (WIFEXITED (st) && WEXITSTATUS (st) == 2);
    bool found = s_log_has (log, needle);
    CU_ASSERT (found);
    if (!found)
        fprintf (stderr, "  agent log %s lacks \"%s\"\n", log, needle);
}

/*  Issue 20 item 5: a least-privilege role.  With tpc_marker created by
 *  its owner beforehand and only the grants README lists ("The agent's
 *  database role"), the agent starts and works (it used to run CREATE
 *  TABLE IF NOT EXISTS and stop on PostgreSQL 15: "permission denied for
 *  schema public").  A missing grant or a missing table is refused at
 *  start with a sentence naming it and the SQL that fixes it.           */
static void
test_least_privilege_role (void)
{
    CU_ASSERT_FATAL (tpc_harness_sql (s_conninfo, "CREATE DATABASE tpclp") == 0);
    char owner[700], agent[800], file[sizeof s_pgfile], saved[sizeof s_pgfile];
    snprintf (owner, sizeof owner, "%s dbname=tpclp", s_conninfo);
    snprintf (agent, sizeof agent, "%s dbname=tpclp user=tpclp", s_conninfo);
    /* README's SQL, run by the owner (the application's table: its own
     * grants) */
    CU_ASSERT_FATAL (tpc_harness_sql (owner,
        "CREATE ROLE tpclp LOGIN; "
        "GRANT USAGE ON SCHEMA public TO tpclp; "
        "CREATE TABLE acct (id int PRIMARY KEY, bal int NOT NULL); "
        "GRANT SELECT, INSERT, UPDATE, DELETE ON acct TO tpclp; "
        "CREATE TABLE tpc_marker (gid text PRIMARY KEY, "
        "kind char(1) NOT NULL DEFAULT 'C', "
        "at timestamptz NOT NULL DEFAULT now()); "
        "GRANT SELECT, INSERT, DELETE ON tpc_marker TO tpclp") == 0);
    /* PostgreSQL 15: no CREATE on schema public for tpclp */
    CU_ASSERT_EQUAL (tpc_harness_sql_int (agent, "SELECT has_schema_privilege"
                                          "('public', 'CREATE')::int"), 0);
    snprintf (file, sizeof file, "%s/conninfo-lp", s_dir);
    FILE *f = fopen (file, "w");
    CU_ASSERT_FATAL (f != NULL);
    fprintf (f, "%s\n", agent);
    fclose (f);

    s_agent_t a;
    const char *purge[] = { "--marker-retention-s", "3600",
                            "--marker-purge-ms", "50", NULL };
    snprintf (saved, sizeof saved, "%s", s_pgfile);
    snprintf (s_pgfile, sizeof s_pgfile, "%s", file);
    int rc = s_agent_start_args (&a, "lp1", "0", purge);
    snprintf (s_pgfile, sizeof s_pgfile, "%s", saved);
    if (rc != 0)
        fprintf (stderr, "test_part_pg: least-privilege agent did not start: "
                 "see %s\n", a.log);
    CU_ASSERT_FATAL (rc == 0);
    const char *g = "tpc_t_90_1";
    const char *p[] = { "91", "5" };
    s_work (a.name, g, 1, TPC_THEN_PREPARE, "INSERT INTO acct VALUES ($1, $2)", 2, p);
    CU_ASSERT_EQUAL (s_vote_of (g, NULL, 0), TPC_VOTE_YES);
    s_simple (a.name, TPC_MSG_DECIDE, g, TPC_OUTCOME_COMMITTED);
    CU_ASSERT_EQUAL (s_ack_of (g), TPC_OUTCOME_COMMITTED);
    s_simple (a.name, TPC_MSG_DECIDE, g, TPC_OUTCOME_COMMITTED);  /* repeated */
    CU_ASSERT_EQUAL (s_ack_of (g), TPC_OUTCOME_COMMITTED);
    const char *g2 = "tpc_t_90_2";
    s_simple (a.name, TPC_MSG_DECIDE, g2, TPC_OUTCOME_ABORTED);   /* tombstone */
    CU_ASSERT_EQUAL (s_ack_of (g2), TPC_OUTCOME_ABORTED);
    CU_ASSERT_EQUAL (tpc_harness_sql_int (owner, "SELECT count(*) FROM acct "
                                          "WHERE id = 91"), 1);
    CU_ASSERT_EQUAL (tpc_harness_sql_int (owner, "SELECT count(*) FROM tpc_marker "
                                          "WHERE gid IN ('tpc_t_90_1', "
                                          "'tpc_t_90_2')"), 2);
    /* the retention's DELETE works with these grants too */
    CU_ASSERT_FATAL (tpc_harness_sql (owner, "UPDATE tpc_marker SET at = now() "
                                      "- interval '2 hours' WHERE gid = "
                                      "'tpc_t_90_2'") == 0);
    int64_t end = tpc_now_ms () + 15000;
    while (tpc_now_ms () < end
           && tpc_harness_sql_int (owner, "SELECT count(*) FROM tpc_marker "
                                   "WHERE gid = 'tpc_t_90_2'") != 0)
        zmq_poll (NULL, 0, 20);
    CU_ASSERT_EQUAL (tpc_harness_sql_int (owner, "SELECT count(*) FROM tpc_marker "
                                          "WHERE gid IN ('tpc_t_90_1', "
                                          "'tpc_t_90_2')"), 1);
    CU_ASSERT (!s_log_has (a.log, "retention: DELETE failed"));
    s_agent_stop (&a);

    /* a grant missing: named, with the GRANT to run */
    CU_ASSERT_FATAL (tpc_harness_sql (owner, "REVOKE DELETE ON tpc_marker "
                                      "FROM tpclp") == 0);
    s_agent_refused (file, NULL, "lacks DELETE on tpc_marker");
    s_agent_refused (file, NULL, "GRANT SELECT, INSERT, DELETE ON tpc_marker "
                     "TO tpclp");
    /* ... DELETE is only for the retention: without it, none is needed */
    const char *keep[] = { "--marker-retention-s", "0", NULL };
    snprintf (s_pgfile, sizeof s_pgfile, "%s", file);
    rc = s_agent_start_args (&a, "lp1", "0", keep);
    snprintf (s_pgfile, sizeof s_pgfile, "%s", saved);
    CU_ASSERT_FATAL (rc == 0);
    s_agent_stop (&a);
    CU_ASSERT_FATAL (tpc_harness_sql (owner, "REVOKE INSERT ON tpc_marker "
                                      "FROM tpclp") == 0);
    s_agent_refused (file, keep, "lacks INSERT on tpc_marker");
    /* no table, and no right to create one: the owner's SQL is the hint */
    CU_ASSERT_FATAL (tpc_harness_sql (owner, "DROP TABLE tpc_marker") == 0);
    s_agent_refused (file, NULL, "cannot create the marker table tpc_marker");
    s_agent_refused (file, NULL, "hint: the schema's owner (or a superuser) runs");
    CU_ASSERT_EQUAL (s_prepared (NULL), 0);
}

/*  Issue 20 item 16: the marker retention.  A row older than
 *  --marker-retention-s goes, unless a prepared transaction (of any
 *  database of the cluster) still names its gid; a recent row stays.  The
 *  rows are aged by SQL, not by waiting.                                 */
static void
test_marker_retention (void)
{
    const char *old_c = "tpc_t_95_1", *old_t = "tpc_t_95_2",
               *held = "tpc_t_95_3", *recent = "tpc_t_95_4";
    int64_t oid = tpc_harness_sql_int (s_conninfo, "SELECT oid FROM pg_database "
                                       "WHERE datname = current_database()");
    char sql[900];
    snprintf (sql, sizeof sql,
              "CREATE TABLE IF NOT EXISTS tpc_marker (gid text PRIMARY KEY, "
              "kind char(1) NOT NULL DEFAULT 'C', "
              "at timestamptz NOT NULL DEFAULT now()); "
              "INSERT INTO tpc_marker (gid, kind, at) VALUES "
              "('%s', 'C', now() - interval '2 hours'), "
              "('%s', 'T', now() - interval '2 hours'), "
              "('%s', 'C', now() - interval '2 hours'), "
              "('%s', 'C', now())", old_c, old_t, held, recent);
    CU_ASSERT_FATAL (tpc_harness_sql (s_conninfo, sql) == 0);
    /* HELD is still prepared here (by hand: under its gid@oid name) */
    snprintf (sql, sizeof sql, "BEGIN; INSERT INTO acct VALUES (96, 1); "
              "PREPARE TRANSACTION '%s@%lld'", held, (long long) oid);
    CU_ASSERT_FATAL (tpc_harness_sql (s_conninfo, sql) == 0);
    CU_ASSERT_EQUAL (s_prepared (held), 1);

    s_agent_t a;
    const char *args[] = { "--marker-retention-s", "3600",
                           "--marker-purge-ms", "100", NULL };
    CU_ASSERT_FATAL (s_agent_start_args (&a, "ret1", NULL, args) == 0);
    /* wait (bounded) for the old rows to go: one DELETE saw all four */
    int64_t end = tpc_now_ms () + 15000;
    while (tpc_now_ms () < end && (s_marker (old_c) || s_marker (old_t)))
        zmq_poll (NULL, 0, 20);
    CU_ASSERT_EQUAL (s_marker (old_c), 0);
    CU_ASSERT_EQUAL (s_marker (old_t), 0);
    CU_ASSERT_EQUAL (s_marker (held), 'C');
    CU_ASSERT_EQUAL (s_marker (recent), 'C');
    CU_ASSERT (s_log_has (a.log, "tpc_marker: removed 2 rows"));
    /* once HELD is no longer prepared, its row goes too */
    snprintf (sql, sizeof sql, "ROLLBACK PREPARED '%s@%lld'", held,
              (long long) oid);
    CU_ASSERT_FATAL (tpc_harness_sql (s_conninfo, sql) == 0);
    end = tpc_now_ms () + 15000;
    while (tpc_now_ms () < end && s_marker (held))
        zmq_poll (NULL, 0, 20);
    CU_ASSERT_EQUAL (s_marker (held), 0);
    CU_ASSERT_EQUAL (s_marker (recent), 'C');
    s_agent_stop (&a);
    CU_ASSERT_EQUAL (s_prepared (NULL), 0);
}

static const tpc_test_case_t s_cases[] = {
    { "prepare_commit", test_prepare_commit },
    { "tombstone", test_tombstone },
    { "errors_and_readonly", test_errors_and_readonly },
    { "agent_crash_after_prepare", test_agent_crash_after_prepare },
    { "postgres_restart", test_postgres_restart },
    { "pool_queue_and_cancel", test_pool_queue_and_cancel },
    { "many_concurrent", test_many_concurrent },
    { "statement_cache", test_statement_cache },
    { "no_prepared_transactions", test_no_prepared_transactions },
    { "transaction_control_refused", test_transaction_control_refused },
    { "session_reset", test_session_reset },
    { "session_reset_prepared", test_session_reset_prepared },
    { "same_gid_two_databases", test_same_gid_two_databases },
    { "least_privilege_role", test_least_privilege_role },
    { "marker_retention", test_marker_retention },
    { NULL, NULL }
};

int
main (void)
{
    const tpc_test_suite_t suites[] = {
        { "part_pg", s_suite_init, s_suite_clean, s_cases },
        { NULL, NULL, NULL, NULL }
    };
    return tpc_test_main ("test_part_pg", suites);
}
