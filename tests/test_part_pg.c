/*  test_part_pg: the tpc-participant binary against a real, throwaway
 *  PostgreSQL (scripts/pgtmp) and a scripted coordinator (a ZeroMQ ROUTER
 *  in this process).  Asserts what PostgreSQL holds afterwards: rows,
 *  pg_prepared_xacts, the marker table; every test ends with no prepared
 *  transaction left.  A missing PostgreSQL fails the suite (never skips).
 */
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

/* ------------------------------------------------------------------ */
/*  Scripted coordinator                                               */

static int
s_send_to (const char *agent, tpc_msg_t *msg)
{
    char *buf = NULL;
    size_t len = 0;
    int rc = tpc_msg_encode (msg, &buf, &len);
    tpc_msg_destroy (&msg);
    if (rc != 0)
        return rc;
    rc = -1;
    if (zmq_send (s_router, agent, strlen (agent), ZMQ_SNDMORE) >= 0
        && zmq_send (s_router, buf, len, 0) >= 0)
        rc = 0;
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
    char id[128], buf[65536];
    int n = zmq_recv (s_router, id, sizeof id, 0);
    if (n < 0)
        return NULL;
    n = zmq_recv (s_router, buf, sizeof buf, 0);
    if (n < 0 || n > (int) sizeof buf)
        return NULL;
    tpc_msg_t *msg = NULL;
    char err[256];
    if (tpc_msg_decode (buf, (size_t) n, NULL, &msg, err, sizeof err) != 0) {
        fprintf (stderr, "  coordinator: undecodable message: %s\n", err);
        return NULL;
    }
    return msg;
}

static bool
s_match (const tpc_msg_t *m, tpc_msg_type_t type, const char *gid)
{
    return m->type == type && (!gid || (m->gid && !strcmp (m->gid, gid)));
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
    int64_t end = tpc_harness_now_ms () + timeout_ms;
    for (;;) {
        int64_t left = end - tpc_harness_now_ms ();
        if (left <= 0)
            return NULL;
        tpc_msg_t *m = s_recv_one ((int) left);
        if (!m)
            continue;
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
 *  not NULL, check "prepared_found=FOUND").  DEBUG_EXIT sets the crash
 *  hook.  Returns 0 when ready.                                          */
static int s_agent_start_with (s_agent_t *a, const char *name, bool debug_exit,
                               const char *found, const char *pool,
                               const char *queue);

static int
s_agent_start (s_agent_t *a, const char *name, bool debug_exit, const char *found)
{
    return s_agent_start_with (a, name, debug_exit, found, "4", "1024");
}

static int
s_agent_start_with (s_agent_t *a, const char *name, bool debug_exit,
                    const char *found, const char *pool, const char *queue)
{
    memset (a, 0, sizeof *a);
    snprintf (a->name, sizeof a->name, "%s", name);
    snprintf (a->log, sizeof a->log, "%s/agent-%d.log", s_dir, ++s_nlog);
    char bin[600];
    snprintf (bin, sizeof bin, "%s/tpc-participant", tpc_harness_builddir ());
    char *argv[] = {
        bin, "--name", a->name, "--coordinator", s_endpoint,
        "--pg-file", s_pgfile, "--pool", (char *) pool, "--queue",
        (char *) queue, "-v", "--insecure-plaintext", NULL
    };
    char *env[] = { "TPC_AGENT_DEBUG_EXIT_AFTER_PREPARE=1", NULL };
    if (tpc_proc_spawn (&a->proc, argv, debug_exit ? env : NULL, a->log) != 0)
        return -1;
    char needle[128];
    snprintf (needle, sizeof needle, "ready name=%s backend=pg prepared_found=%s",
              name, found ? found : "");
    if (tpc_proc_wait_log (&a->proc, needle, 0, 20000) != 0) {
        fprintf (stderr, "  agent %s not ready (log %s)\n", name, a->log);
        return -1;
    }
    /* it is connected once its hello arrived */
    tpc_msg_t *hello = s_expect (TPC_MSG_HELLO, NULL, 5000);
    int rc = hello && hello->name && !strcmp (hello->name, name) ? 0 : -1;
    tpc_msg_destroy (&hello);
    return rc;
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
    return gid ? s_int ("SELECT count(*) FROM pg_prepared_xacts WHERE gid = '%s'", gid)
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
    CU_ASSERT_FATAL (s_agent_start_with (&a, "bank5", false, "0", "2", "1") == 0);
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
    CU_ASSERT_FATAL (s_agent_start_with (&a, "bank6", false, "0", "3", "1024") == 0);
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
    CU_ASSERT (WIFEXITED (st) && WEXITSTATUS (st) == 1);
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
    CU_ASSERT_FATAL (s_agent_start_with (&a, "bank10", false, "0", "1", "1024") == 0);
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

static const tpc_test_case_t s_cases[] = {
    { "prepare_commit", test_prepare_commit },
    { "tombstone", test_tombstone },
    { "errors_and_readonly", test_errors_and_readonly },
    { "agent_crash_after_prepare", test_agent_crash_after_prepare },
    { "postgres_restart", test_postgres_restart },
    { "pool_queue_and_cancel", test_pool_queue_and_cancel },
    { "many_concurrent", test_many_concurrent },
    { "no_prepared_transactions", test_no_prepared_transactions },
    { "transaction_control_refused", test_transaction_control_refused },
    { "session_reset", test_session_reset },
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
