/*  test_bad_input: hostile and broken input against the live daemons.
 *
 *  Two throwaway PostgreSQL clusters, the real tpc-coordinator (restarted
 *  once, so that gids of an older boot exist to ask about) with two real
 *  agents db1 and db2, and a third real agent, dbx (a second database in
 *  db1's cluster), connected to a fake coordinator written here.  Then:
 *
 *    client socket   garbage, truncated JSON, wrong types, every decoder
 *                    refusal, over --max-msg-bytes, several frames, agent
 *                    messages, unknown and foreign gids: each gets an
 *                    "error" (the decoder's code) or the documented reply
 *    agent socket    (a fake agent) the same garbage, decide/answer sent
 *                    the wrong way, bad routing ids, query/vote/ack/worked
 *                    for unknown gids: dropped with a log line, or the
 *                    presumed-abort answer
 *    agent           (from the fake coordinator) garbage, several frames,
 *                    wrong message types, malformed gids, decide/prepare/
 *                    answer for unknown gids: dropped with a log line, or
 *                    the truthful ack / vote no
 *
 *  and after each: the daemons are alive and serving, the databases are
 *  as they were (rows, balances, no prepared transaction, no commit
 *  marker), and at the end a real transaction commits through them.
 */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "tpc_client.h"
#include "tpc_error.h"
#include "tpc_harness.h"
#include "tpc_msg.h"
#include "tpc_test.h"

#define MAX_MSG 65536           /* the coordinator's --max-msg-bytes */
#define WAIT_MS 5000
#define COORD_ID "bad"
#define OLD_GID "tpc_" COORD_ID "_1_424242"   /* boot 1: presumed aborted */
#define NEW_GID "tpc_" COORD_ID "_2_99999999" /* boot 2, not issued yet */
#define FOREIGN_GID "tpc_zzz_1_1"

typedef struct {
    char *dir;
    char db[2][512];            /* conninfo of db1, db2 */
    char dbx[600];              /* conninfo of dbx (in db1's cluster) */
    char dbdir[2][512];
    char logdir[512];
    char cep[64], aep[64], fep[64];   /* client, agent, fake coordinator */
    unsigned char dbx_id[256];        /* dbx's routing id at the fake: */
    size_t dbx_idlen;                 /* its ROUTER assigns it */
    tpc_proc_t coord;
    tpc_proc_t agent[3];        /* db1, db2 -> coordinator; dbx -> fake */
    void *ctx;
    void *fake;                 /* ROUTER the dbx agent connects to */
    int64_t sum[3], rows[3];    /* acct as set up, per database */
} s_world_t;

static s_world_t W;

/* ---------------------------------------------------------------- setup */

static int
s_start_coord (void)
{
    char log[400];
    if (snprintf (log, sizeof log, "%s/coordinator.log", W.dir) >= (int) sizeof log)
        return -1;
    char maxmsg[32];
    snprintf (maxmsg, sizeof maxmsg, "%d", MAX_MSG);
    char *args[] = { "--id", COORD_ID, "--bind", W.cep, "--agent-bind",
                     W.aep, "--log-dir", W.logdir, "--max-msg-bytes", maxmsg,
                     "--vote-timeout-ms", "3000", "--verbose",
                     "--insecure-plaintext", NULL };
    return tpc_harness_start_coord (&W.coord, args, NULL, log);
}

static int
s_start_agent (int i, const char *name, const char *conninfo, const char *ep)
{
    char log[400], file[600];
    if (snprintf (log, sizeof log, "%s/agent-%s.log", W.dir, name) >= (int) sizeof log)
        return -1;
    snprintf (file, sizeof file, "%s/%s.conninfo", W.dir, name);
    if (tpc_harness_write_line (file, conninfo))
        return -1;
    /* dbx's fake coordinator reads (and answers hellos) only within its
     * own test: with the default heartbeat dbx would find its link dead
     * meanwhile and remake it, and the fake would then address a routing
     * id read from a stale hello of a closed connection */
    char *args[] = { "--name", (char *) name, "--coordinator", (char *) ep,
                     "--pg-file", file, "--verbose", "--insecure-plaintext",
                     i == 2 ? "--heartbeat-ms" : NULL, "600000", NULL };
    return tpc_harness_start_agent (&W.agent[i], args, NULL, log);
}

/*  A probe transaction reads on db1 and db2: the coordinator knows both. */
static int
s_wait_agents (void)
{
    static const char *const names[] = { "db1", "db2" };
    return tpc_harness_wait_agents (W.cep, NULL, names, 2,
                                    TPC_HARNESS_BY_PROBE);
}

static const char *
s_conninfo (int i)
{
    return i < 2 ? W.db[i] : W.dbx;
}

static int
s_setup (void)
{
    memset (&W, 0, sizeof W);
    W.dir = tpc_test_tmpdir ("badinput");
    if (!W.dir)
        return -1;
    if (tpc_harness_pg_world (W.dir, 2, W.dbdir, W.db, NULL)
        || tpc_harness_sql (W.db[0], "CREATE DATABASE dbx"))
        return -1;
    snprintf (W.dbx, sizeof W.dbx, "%s dbname=dbx", W.db[0]);
    for (int i = 0; i < 3; i++) {
        if (tpc_harness_sql (s_conninfo (i),
                             TPC_HARNESS_ACCT_SQL ("100")))
            return -1;
        W.sum[i] = 1000;
        W.rows[i] = 10;
    }
    snprintf (W.logdir, sizeof W.logdir, "%s/log", W.dir);
    snprintf (W.cep, sizeof W.cep, "tcp://127.0.0.1:%d", tpc_harness_free_port ());
    snprintf (W.aep, sizeof W.aep, "tcp://127.0.0.1:%d", tpc_harness_free_port ());
    snprintf (W.fep, sizeof W.fep, "tcp://127.0.0.1:%d", tpc_harness_free_port ());
    /* boot 1, then boot 2: gids of boot 1 are history */
    if (s_start_coord () || tpc_proc_kill (&W.coord, SIGTERM, 5000) != 0
        || s_start_coord ())
        return -1;
    W.ctx = zmq_ctx_new ();
    W.fake = zmq_socket (W.ctx, ZMQ_ROUTER);
    int one = 1, linger = 0;
    if (!W.fake || zmq_setsockopt (W.fake, ZMQ_ROUTER_MANDATORY, &one, sizeof one)
        || zmq_setsockopt (W.fake, ZMQ_LINGER, &linger, sizeof linger)
        || zmq_bind (W.fake, W.fep))
        return -1;
    if (s_start_agent (0, "db1", W.db[0], W.aep)
        || s_start_agent (1, "db2", W.db[1], W.aep)
        || s_start_agent (2, "dbx", W.dbx, W.fep))
        return -1;
    return s_wait_agents ();
}

static int
s_teardown (void)
{
    if (W.fake)
        zmq_close (W.fake);
    if (W.ctx)
        zmq_ctx_term (W.ctx);
    tpc_harness_stop (&W.coord, W.agent, 3);
    tpc_harness_clean (&W.dir, 2);
    return 0;
}

/* -------------------------------------------------------------- helpers */

/*  A DEALER on EP, with routing id ID (NULL: ZeroMQ picks one).          */
static void *
s_dealer (const char *ep, const void *id, size_t idlen)
{
    void *s = zmq_socket (W.ctx, ZMQ_DEALER);
    CU_ASSERT_PTR_NOT_NULL_FATAL (s);
    int linger = 0;
    zmq_setsockopt (s, ZMQ_LINGER, &linger, sizeof linger);
    if (id)
        zmq_setsockopt (s, ZMQ_ROUTING_ID, id, idlen);
    CU_ASSERT_EQUAL_FATAL (zmq_connect (s, ep), 0);
    return s;
}

/*  Send LEN bytes as one frame (MORE: more frames follow).               */
static void
s_send (void *sock, const void *buf, size_t len, bool more)
{
    CU_ASSERT (zmq_send (sock, buf, len, more ? ZMQ_SNDMORE : 0) == (int) len);
}

static void
s_send_str (void *sock, const char *s)
{
    s_send (sock, s, strlen (s), false);
}

/*  The next message on SOCK (skipping a ROUTER's routing-id frame when
 *  ROUTER), decoded; NULL if none within TIMEOUT_MS.  Hellos are skipped
 *  when SKIP_HELLO.                                                       */
static tpc_msg_t *
s_recv (void *sock, bool router, int timeout_ms, bool skip_hello)
{
    int64_t end = tpc_now_ms () + timeout_ms;
    while (tpc_now_ms () < end) {
        zmq_pollitem_t it = { .socket = sock, .events = ZMQ_POLLIN };
        if (zmq_poll (&it, 1, 50) <= 0)
            continue;
        zmq_msg_t frame;
        zmq_msg_init (&frame);
        if (router) {
            zmq_msg_recv (&frame, sock, 0);     /* routing id: dbx's */
            W.dbx_idlen = zmq_msg_size (&frame) < sizeof W.dbx_id
                          ? zmq_msg_size (&frame) : 0;
            memcpy (W.dbx_id, zmq_msg_data (&frame), W.dbx_idlen);
            zmq_msg_close (&frame);
            zmq_msg_init (&frame);
        }
        if (zmq_msg_recv (&frame, sock, 0) < 0) {
            zmq_msg_close (&frame);
            return NULL;
        }
        tpc_msg_t *msg = NULL;
        char err[256];
        int rc = tpc_msg_decode (zmq_msg_data (&frame), zmq_msg_size (&frame),
                                 NULL, &msg, err, sizeof err);
        CU_ASSERT_EQUAL (rc, 0);
        if (rc)
            fprintf (stderr, "undecodable reply: %s\n", err);
        zmq_msg_close (&frame);
        if (msg && router && msg->type == TPC_MSG_HELLO) {
            /* answered, as a coordinator does: the agent's link lives */
            static const char hello[] = "{\"v\":1,\"type\":\"hello\","
                                        "\"name\":\"fake\"}";
            zmq_send (sock, W.dbx_id, W.dbx_idlen, ZMQ_SNDMORE);
            zmq_send (sock, hello, sizeof hello - 1, 0);
        }
        if (msg && skip_hello && msg->type == TPC_MSG_HELLO) {
            tpc_msg_destroy (&msg);
            continue;
        }
        return msg;
    }
    return NULL;
}

/*  The reply to what was just sent on the client socket C must be an
 *  "error" with CODE.                                                     */
static void
s_expect_error (void *c, int code, const char *what)
{
    tpc_msg_t *m = s_recv (c, false, WAIT_MS, false);
    CU_ASSERT_PTR_NOT_NULL (m);
    if (!m) {
        fprintf (stderr, "%s: no reply\n", what);
        return;
    }
    CU_ASSERT_EQUAL (m->type, TPC_MSG_ERROR);
    CU_ASSERT_EQUAL (m->code, code);
    CU_ASSERT (m->message && *m->message);
    if (m->type != TPC_MSG_ERROR || m->code != code)
        fprintf (stderr, "%s: got %s code %d (%s), want %d\n", what,
                 tpc_msg_type_name (m->type), m->code,
                 m->message ? m->message : "", code);
    tpc_msg_destroy (&m);
}

/*  Wait for NEEDLE in the log of P after OFFSET.                         */
static void
s_expect_log (const tpc_proc_t *p, long offset, const char *needle)
{
    int rc = tpc_proc_wait_log (p, needle, offset, WAIT_MS);
    CU_ASSERT_EQUAL (rc, 0);
    if (rc)
        fprintf (stderr, "no log line \"%s\" in %s\n", needle, p->log);
}

/*  A JSON text of exactly SIZE bytes: a "list" request padded with
 *  spaces (valid JSON, only too big).                                    */
static char *
s_padded (size_t size)
{
    const char *head = "{\"v\":1,\"type\":\"list\",\"rid\":9";
    char *buf = malloc (size + 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL (buf);
    memset (buf, ' ', size);
    memcpy (buf, head, strlen (head));
    buf[size - 1] = '}';
    buf[size] = '\0';
    return buf;
}

/*  Every daemon still runs, and every database is as set up.            */
static void
s_check_unharmed (void)
{
    CU_ASSERT (W.coord.pid > 0 && kill (W.coord.pid, 0) == 0
               && waitpid (W.coord.pid, NULL, WNOHANG) == 0);
    for (int i = 0; i < 3; i++) {
        CU_ASSERT (W.agent[i].pid > 0 && kill (W.agent[i].pid, 0) == 0
                   && waitpid (W.agent[i].pid, NULL, WNOHANG) == 0);
        const char *ci = s_conninfo (i);
        CU_ASSERT_EQUAL (tpc_harness_sql_int (ci, "SELECT count(*) FROM acct"),
                         W.rows[i]);
        CU_ASSERT_EQUAL (tpc_harness_sql_int (ci, "SELECT sum(bal) FROM acct"),
                         W.sum[i]);
        CU_ASSERT_EQUAL (tpc_harness_sql_int (ci,
                         "SELECT count(*) FROM pg_prepared_xacts"), 0);
    }
    /* no commit marker of a gid this test made up */
    for (int i = 0; i < 3; i++)
        CU_ASSERT_EQUAL (tpc_harness_sql_int (s_conninfo (i),
                         "SELECT count(*) FROM tpc_marker WHERE kind = 'C'"
                         " AND (gid LIKE 'tpc_fake%' OR gid LIKE 'tpc_zzz%'"
                         " OR gid IN ('" OLD_GID "', '" NEW_GID "'))"), 0);
}

/* ---------------------------------------------------- the client socket */

static void
test_client_garbage (void)
{
    void *c = s_dealer (W.cep, NULL, 0);
    static const struct { const char *in; int code; } cases[] = {
        { "hello world", TPC_EMSG_SYNTAX },
        { "", TPC_EMSG_SYNTAX },
        { "{\"v\":1,\"type\":\"status\",\"rid\":1", TPC_EMSG_SYNTAX },
        { "{\"v\":1,\"type\":\"status\",\"rid\":1,\"gid\":\"tpc_", TPC_EMSG_SYNTAX },
        { "{\"v\":1,\"type\":\"list\",\"rid\":01}", TPC_EMSG_SYNTAX },
        { "\xef\xbb\xbf{\"v\":1,\"type\":\"list\",\"rid\":1}", TPC_EMSG_SYNTAX },
        { "\xff\xfe\x00garbage", TPC_EMSG_NOT_UTF8 },
        { "{\"v\":1,\"type\":\"list\",\"rid\":1,\"x\":\"\xc0\xaf\"}", TPC_EMSG_NOT_UTF8 },
        { "{\"v\":1,\"type\":\"list\",\"rid\":1} {}", TPC_EMSG_TRAILING },
        { "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
          TPC_EMSG_TOO_DEEP },
        { "[\"list\"]", TPC_EMSG_NOT_OBJECT },
        { "42", TPC_EMSG_NOT_OBJECT },
        { "{\"v\":3,\"type\":\"list\",\"rid\":1}", TPC_EMSG_VERSION },
        { "{\"type\":\"list\",\"rid\":1}", TPC_EMSG_NO_VERSION },
        { "{\"v\":\"1\",\"type\":\"list\",\"rid\":1}", TPC_EMSG_NO_VERSION },
        { "{\"v\":1,\"type\":\"launch\",\"rid\":1}", TPC_EMSG_UNKNOWN_TYPE },
        { "{\"v\":1,\"type\":7,\"rid\":1}", TPC_EMSG_UNKNOWN_TYPE },
        { "{\"v\":1,\"type\":\"commit\",\"rid\":1}", TPC_EMSG_MISSING_FIELD },
        { "{\"v\":1,\"type\":\"submit\",\"rid\":1,\"stmts\":[{\"sql\":\"x\"}]}",
          TPC_EMSG_MISSING_FIELD },
        { "{\"v\":1,\"type\":\"commit\",\"rid\":\"1\",\"gid\":\"" OLD_GID "\"}",
          TPC_EMSG_FIELD_TYPE },
        { "{\"v\":1,\"type\":\"exec\",\"rid\":1,\"gid\":\"" OLD_GID "\","
          "\"on\":\"db1\",\"sql\":[\"SELECT 1\"]}", TPC_EMSG_FIELD_TYPE },
        { "{\"v\":1,\"type\":\"submit\",\"rid\":1,\"stmts\":{}}", TPC_EMSG_FIELD_TYPE },
        { "{\"v\":1,\"type\":\"list\",\"rid\":1,\"x\":1}", TPC_EMSG_UNKNOWN_FIELD },
        { "{\"v\":1,\"type\":\"list\",\"rid\":-1}", TPC_EMSG_FIELD_VALUE },
        { "{\"v\":1,\"type\":\"list\",\"rid\":1.5}", TPC_EMSG_FIELD_VALUE },
        { "{\"v\":1,\"type\":\"list\",\"rid\":1,\"rid\":2}", TPC_EMSG_FIELD_VALUE },
        { "{\"v\":1,\"type\":\"begin\",\"rid\":1,\"protocol\":\"4pc\"}",
          TPC_EMSG_FIELD_VALUE },
        { "{\"v\":1,\"type\":\"list\",\"rid\":99999999999999999999}",
          TPC_EMSG_FIELD_VALUE },
        { "{\"v\":1,\"type\":\"status\",\"rid\":1,\"gid\":\"not a gid\"}",
          TPC_EMSG_BAD_GID },
        { "{\"v\":1,\"type\":\"commit\",\"rid\":1,\"gid\":\"tpc_x_1_1; DROP TABLE acct\"}",
          TPC_EMSG_BAD_GID },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        s_send_str (c, cases[i].in);
        s_expect_error (c, cases[i].code, cases[i].in);
    }
    /* a NUL byte inside */
    s_send (c, "{\"v\":1,\"type\":\"list\",\0\"rid\":1}", 29, false);
    s_expect_error (c, TPC_EMSG_NOT_UTF8, "NUL byte");
    /* messages that are not client requests */
    s_send_str (c, "{\"v\":1,\"type\":\"vote\",\"gid\":\"" OLD_GID "\",\"vote\":\"yes\"}");
    s_expect_error (c, TPC_EPROTO, "a vote on the client socket");
    s_send_str (c, "{\"v\":1,\"type\":\"decide\",\"gid\":\"" OLD_GID "\","
                "\"outcome\":\"committed\"}");
    s_expect_error (c, TPC_EPROTO, "a decide on the client socket");
    s_send_str (c, "{\"v\":1,\"type\":\"error\",\"rid\":1,\"code\":-1,"
                "\"message\":\"me too\"}");
    s_expect_error (c, TPC_EPROTO, "an error on the client socket");
    zmq_close (c);
    s_check_unharmed ();
}

static void
test_client_frames_and_size (void)
{
    void *c = s_dealer (W.cep, NULL, 0);
    /* two and three frames */
    s_send (c, "{\"v\":1,", 7, true);
    s_send_str (c, "\"type\":\"list\",\"rid\":1}");
    s_expect_error (c, TPC_EPROTO, "two frames");
    s_send (c, "", 0, true);
    s_send (c, "{\"v\":1,\"type\":\"list\",\"rid\":1}", 29, true);
    s_send_str (c, "x");
    s_expect_error (c, TPC_EPROTO, "three frames");
    /* just at the limit: served; one byte over: refused by the decoder */
    char *big = s_padded (MAX_MSG);
    s_send (c, big, MAX_MSG, false);
    tpc_msg_t *m = s_recv (c, false, WAIT_MS, false);
    CU_ASSERT (m && m->type == TPC_MSG_TXLIST && m->rid == 9);
    tpc_msg_destroy (&m);
    free (big);
    big = s_padded (MAX_MSG + 1);
    s_send (c, big, MAX_MSG + 1, false);
    s_expect_error (c, TPC_EMSG_TOO_BIG, "limit + 1");
    free (big);
    /* over the limit (1.5 x, still read): the error names the request's
     * rid wherever "rid" stands in the frame and however it is spaced;
     * "rid" keys in nested objects and inside strings do not count */
    const char *shapes[] = {
        "{\"v\":1,\"type\":\"list\",\"pad\":\"%s\",\"rid\":77}",
        "{ \"pad\" : \"%s\" ,\n \"type\":\"list\", \"rid\" :\t78 , \"v\":1 }",
        "{\"x\":{\"rid\":5},\"s\":\"\\\"rid\\\":6\",\"pad\":[\"%s\"],"
        "\"v\":1,\"type\":\"list\",\"rid\":79}",
    };
    for (int i = 0; i < 3; i++) {
        size_t padlen = MAX_MSG + MAX_MSG / 2;
        char *pad = malloc (padlen + 1);
        CU_ASSERT_PTR_NOT_NULL_FATAL (pad);
        memset (pad, 'p', padlen);
        pad[padlen] = '\0';
        size_t n = padlen + 256;
        big = malloc (n);
        CU_ASSERT_PTR_NOT_NULL_FATAL (big);
        int len = snprintf (big, n, shapes[i], pad);
        free (pad);
        s_send (c, big, (size_t) len, false);
        free (big);
        m = s_recv (c, false, WAIT_MS, false);
        CU_ASSERT (m && m->type == TPC_MSG_ERROR
                   && m->code == TPC_EMSG_TOO_BIG);
        CU_ASSERT (m && m->rid == (uint64_t) (77 + i));
        if (m && m->rid != (uint64_t) (77 + i))
            fprintf (stderr, "oversized request %d: error with rid %llu, "
                     "want %d\n", i, (unsigned long long) m->rid, 77 + i);
        tpc_msg_destroy (&m);
    }
    /* far over: ZeroMQ itself (ZMQ_MAXMSGSIZE) drops the connection
     * before the bytes are read into memory; nothing is answered, the
     * coordinator says so in its log and serves the next connection */
    void *h = s_dealer (W.cep, NULL, 0);
    size_t huge = 4u * MAX_MSG + 8192;
    big = s_padded (huge);
    long off = tpc_proc_log_size (&W.coord);
    s_send (h, big, huge, false);
    free (big);
    m = s_recv (h, false, 1000, false);
    CU_ASSERT_PTR_NULL (m);
    tpc_msg_destroy (&m);
    s_expect_log (&W.coord, off, "client connection dropped");
    zmq_close (h);
    s_send_str (c, "{\"v\":1,\"type\":\"list\",\"rid\":10}");
    m = s_recv (c, false, WAIT_MS, false);
    CU_ASSERT (m && m->type == TPC_MSG_TXLIST && m->rid == 10);
    tpc_msg_destroy (&m);
    zmq_close (c);
    s_check_unharmed ();
}

static void
test_client_unknown_gids (void)
{
    void *c = s_dealer (W.cep, NULL, 0);
    tpc_msg_t *m;
    /* status of a gid that is neither live nor remembered: not known
     * (never "aborted" without a check: it may have committed long ago),
     * whether not issued yet or another coordinator's; one of an old boot
     * is checked with the agents' markers and says how it knows */
    const char *gids[] = { OLD_GID, NEW_GID, FOREIGN_GID };
    for (int i = 0; i < 3; i++) {
        char buf[512];
        snprintf (buf, sizeof buf, "{\"v\":1,\"type\":\"status\",\"rid\":3,"
                  "\"gid\":\"%s\"}", gids[i]);
        s_send_str (c, buf);
        if (i > 0) {
            s_expect_error (c, TPC_EUNKNOWN_GID, buf);
            continue;
        }
        m = s_recv (c, false, WAIT_MS, false);
        CU_ASSERT_PTR_NOT_NULL_FATAL (m);
        CU_ASSERT_EQUAL (m->type, TPC_MSG_TXSTATUS);
        CU_ASSERT (m->state && !strcmp (m->state, "no_record"));
        CU_ASSERT (m->outcome != TPC_OUTCOME_COMMITTED);
        CU_ASSERT (m->reason && strstr (m->reason, "no record"));
        tpc_msg_destroy (&m);
    }
    /* commit, rollback, exec on gids nobody began */
    for (int i = 0; i < 3; i++) {
        char buf[512];
        snprintf (buf, sizeof buf, "{\"v\":1,\"type\":\"commit\",\"rid\":4,"
                  "\"gid\":\"%s\"}", gids[i]);
        s_send_str (c, buf);
        s_expect_error (c, TPC_EUNKNOWN_GID, buf);
        snprintf (buf, sizeof buf, "{\"v\":1,\"type\":\"rollback\",\"rid\":5,"
                  "\"gid\":\"%s\"}", gids[i]);
        s_send_str (c, buf);
        s_expect_error (c, TPC_EUNKNOWN_GID, buf);
        snprintf (buf, sizeof buf, "{\"v\":1,\"type\":\"exec\",\"rid\":6,"
                  "\"gid\":\"%s\",\"on\":\"db1\",\"sql\":\"DELETE FROM acct\"}",
                  gids[i]);
        s_send_str (c, buf);
        s_expect_error (c, TPC_EUNKNOWN_GID, buf);
    }
    /* a participant nobody knows, in a real transaction and in a submit */
    s_send_str (c, "{\"v\":1,\"type\":\"begin\",\"rid\":7}");
    m = s_recv (c, false, WAIT_MS, false);
    CU_ASSERT_FATAL (m && m->type == TPC_MSG_BEGUN && m->gid);
    char gid[128];
    snprintf (gid, sizeof gid, "%s", m->gid);
    tpc_msg_destroy (&m);
    char buf[512];
    snprintf (buf, sizeof buf, "{\"v\":1,\"type\":\"exec\",\"rid\":8,\"gid\":\"%s\","
              "\"on\":\"nobody\",\"sql\":\"DELETE FROM acct\"}", gid);
    s_send_str (c, buf);
    s_expect_error (c, TPC_EUNKNOWN_PART, buf);
    snprintf (buf, sizeof buf, "{\"v\":1,\"type\":\"rollback\",\"rid\":9,"
              "\"gid\":\"%s\"}", gid);
    s_send_str (c, buf);
    m = s_recv (c, false, WAIT_MS, false);
    CU_ASSERT (m && m->type == TPC_MSG_OUTCOME && m->outcome == TPC_OUTCOME_ABORTED);
    tpc_msg_destroy (&m);
    s_send_str (c, "{\"v\":1,\"type\":\"submit\",\"rid\":10,\"stmts\":["
                "{\"on\":\"db1\",\"sql\":\"DELETE FROM acct\"},"
                "{\"on\":\"nobody\",\"sql\":\"DELETE FROM acct\"}]}");
    s_expect_error (c, TPC_EUNKNOWN_PART, "submit to an unknown participant");
    zmq_close (c);
    s_check_unharmed ();
}

/*  The next reply on C must answer RID: an "error", or an "outcome"
 *  that is "aborted" (nothing may commit here).                          */
static void
s_expect_refusal (void *c, uint64_t rid, const char *what)
{
    tpc_msg_t *m = s_recv (c, false, WAIT_MS, false);
    CU_ASSERT_PTR_NOT_NULL (m);
    bool ok = m && m->rid == rid
              && (m->type == TPC_MSG_ERROR
                  || (m->type == TPC_MSG_OUTCOME
                      && m->outcome == TPC_OUTCOME_ABORTED));
    CU_ASSERT (ok);
    if (!ok)
        fprintf (stderr, "%s: got %s\n", what,
                 m ? tpc_msg_type_name (m->type) : "no reply");
    tpc_msg_destroy (&m);
}

/*  Requests that parse but make no sense.                                */
static void
test_client_nonsense (void)
{
    void *c = s_dealer (W.cep, NULL, 0);
    s_send_str (c, "{\"v\":1,\"type\":\"submit\",\"rid\":1,\"stmts\":[]}");
    s_expect_refusal (c, 1, "submit without statements");
    /* (a begin with protocol 3pc is served since issue 6) */
    s_send_str (c, "{\"v\":1,\"type\":\"commit\",\"rid\":2,\"gid\":\""
                OLD_GID "\"}");
    s_expect_refusal (c, 2, "commit of a gid never issued");
    s_send_str (c, "{\"v\":1,\"type\":\"submit\",\"rid\":3,\"stmts\":["
                "{\"on\":\"db1\",\"sql\":\"DELETE FROM acct\"},"
                "{\"on\":\"db2\",\"sql\":\"SELECT 1/0\"}]}");
    s_expect_refusal (c, 3, "submit with a failing statement");
    s_send_str (c, "{\"v\":1,\"type\":\"submit\",\"rid\":4,\"stmts\":["
                "{\"on\":\"db1\",\"sql\":\"DELETE FROM acct WHERE id = $1\","
                "\"params\":[\"x\"]},"
                "{\"on\":\"db2\",\"sql\":\"DELETE FROM acct\"}]}");
    s_expect_refusal (c, 4, "submit with a bad parameter");
    s_send_str (c, "{\"v\":1,\"type\":\"submit\",\"rid\":5,\"stmts\":["
                "{\"on\":\"db1\",\"sql\":\"DELETE FROM acct; COMMIT\"},"
                "{\"on\":\"db2\",\"sql\":\"DELETE FROM acct\"}]}");
    s_expect_refusal (c, 5, "submit with two statements in one");
    s_send_str (c, "{\"v\":1,\"type\":\"submit\",\"rid\":6,\"stmts\":["
                "{\"on\":\"db1\",\"sql\":\"DELETE FROM acct\"},"
                "{\"on\":\"db2\",\"sql\":\"PREPARE TRANSACTION 'tpc_zzz_1_2'\"}]}");
    s_expect_refusal (c, 6, "submit that prepares by itself");
    /* transaction control smuggled into the statements must not end the
     * transaction on one participant while the others roll back */
    static const char *ctl[] = { "COMMIT", "END", "COMMIT AND CHAIN",
        " /* hi */ commit", "ROLLBACK", "ABORT", "ROLLBACK AND CHAIN",
        "PREPARE TRANSACTION 'tpc_zzz_1_3'", "PREPARE TRANSACTION 'evil'",
        "prepare\\ttransaction 'evil2'" };
    for (size_t i = 0; i < sizeof ctl / sizeof ctl[0]; i++) {
        char b[1024];
        snprintf (b, sizeof b, "{\"v\":1,\"type\":\"submit\",\"rid\":%zu,"
                  "\"stmts\":["
                  "{\"on\":\"db1\",\"sql\":\"UPDATE acct SET bal = bal - 30 WHERE id = 3\"},"
                  "{\"on\":\"db1\",\"sql\":\"%s\"},"
                  "{\"on\":\"db1\",\"sql\":\"UPDATE acct SET bal = bal - 30 WHERE id = 4\"},"
                  "{\"on\":\"db2\",\"sql\":\"UPDATE acct SET bal = bal + 60 WHERE id = 3\"}]}",
                  100 + i, ctl[i]);
        s_send_str (c, b);
        s_expect_refusal (c, 100 + i, ctl[i]);
        CU_ASSERT_EQUAL (tpc_harness_sql_int (W.db[0], "SELECT sum(bal) FROM acct"),
                         W.sum[0]);
        CU_ASSERT_EQUAL (tpc_harness_sql_int (W.db[0],
                         "SELECT count(*) FROM pg_prepared_xacts"), 0);
    }
    /* an interactive transaction used out of order */
    s_send_str (c, "{\"v\":1,\"type\":\"begin\",\"rid\":7,"
                "\"timeout_ms\":86400000}");
    tpc_msg_t *m = s_recv (c, false, WAIT_MS, false);
    CU_ASSERT_FATAL (m && m->type == TPC_MSG_BEGUN && m->gid);
    char gid[128], buf[512];
    snprintf (gid, sizeof gid, "%s", m->gid);
    tpc_msg_destroy (&m);
    snprintf (buf, sizeof buf, "{\"v\":1,\"type\":\"exec\",\"rid\":8,"
              "\"gid\":\"%s\",\"on\":\"db1\",\"sql\":\"DELETE FROM acct\"}", gid);
    s_send_str (c, buf);
    m = s_recv (c, false, WAIT_MS, false);
    CU_ASSERT (m && m->type == TPC_MSG_RESULT && m->affected == 10);
    tpc_msg_destroy (&m);
    snprintf (buf, sizeof buf, "{\"v\":1,\"type\":\"exec\",\"rid\":9,"
              "\"gid\":\"%s\",\"on\":\"db2\",\"sql\":\"ROLLBACK\"}", gid);
    s_send_str (c, buf);
    m = s_recv (c, false, WAIT_MS, false);
    CU_ASSERT (m && m->rid == 9);
    tpc_msg_destroy (&m);
    snprintf (buf, sizeof buf, "{\"v\":1,\"type\":\"rollback\",\"rid\":10,"
              "\"gid\":\"%s\"}", gid);
    s_send_str (c, buf);
    snprintf (buf, sizeof buf, "{\"v\":1,\"type\":\"commit\",\"rid\":11,"
              "\"gid\":\"%s\"}", gid);
    s_send_str (c, buf);
    s_expect_refusal (c, 10, "rollback");
    s_expect_refusal (c, 11, "commit after rollback");
    snprintf (buf, sizeof buf, "{\"v\":1,\"type\":\"exec\",\"rid\":12,"
              "\"gid\":\"%s\",\"on\":\"db1\",\"sql\":\"DELETE FROM acct\"}", gid);
    s_send_str (c, buf);
    s_expect_refusal (c, 12, "exec after rollback");
    zmq_close (c);
    int64_t end = tpc_now_ms () + 10000;
    while (tpc_now_ms () < end
           && tpc_harness_sql_int (W.db[0], "SELECT count(*) FROM pg_prepared_xacts")
              + tpc_harness_sql_int (W.db[1], "SELECT count(*) FROM pg_prepared_xacts") > 0)
        usleep (50 * 1000);
    s_check_unharmed ();
}

/* ----------------------------------------------------- the agent socket */

static void
test_agent_socket_garbage (void)
{
    void *a = s_dealer (W.aep, "fake1", 5);
    long off = tpc_proc_log_size (&W.coord);
    s_send_str (a, "not json at all");
    s_expect_log (&W.coord, off, "agent 'fake1': malformed message dropped");
    off = tpc_proc_log_size (&W.coord);
    s_send_str (a, "{\"v\":1,\"type\":\"vote\",\"gid\":\"" OLD_GID "\"}");
    s_expect_log (&W.coord, off, "TPC_EMSG_MISSING_FIELD");
    off = tpc_proc_log_size (&W.coord);
    s_send_str (a, "{\"v\":1,\"type\":\"ack\",\"gid\":\"" OLD_GID "\","
                "\"outcome\":\"maybe\"}");
    s_expect_log (&W.coord, off, "TPC_EMSG_FIELD_VALUE");
    off = tpc_proc_log_size (&W.coord);
    s_send (a, "{\"v\":1,", 7, true);
    s_send_str (a, "\"type\":\"hello\"}");
    s_expect_log (&W.coord, off, "agent 'fake1': 2 frames instead of one");
    off = tpc_proc_log_size (&W.coord);
    char *big = s_padded (MAX_MSG + 1);
    s_send (a, big, MAX_MSG + 1, false);
    free (big);
    s_expect_log (&W.coord, off, "TPC_EMSG_TOO_BIG");
    /* messages that only the coordinator sends */
    off = tpc_proc_log_size (&W.coord);
    s_send_str (a, "{\"v\":1,\"type\":\"decide\",\"gid\":\"" OLD_GID "\","
                "\"outcome\":\"committed\"}");
    s_expect_log (&W.coord, off, "agent 'fake1' sent 'decide', not an agent message");
    off = tpc_proc_log_size (&W.coord);
    s_send_str (a, "{\"v\":1,\"type\":\"answer\",\"gid\":\"" OLD_GID "\","
                "\"outcome\":\"committed\"}");
    s_expect_log (&W.coord, off, "agent 'fake1' sent 'answer', not an agent message");
    off = tpc_proc_log_size (&W.coord);
    s_send_str (a, "{\"v\":1,\"type\":\"commit\",\"rid\":1,\"gid\":\"" OLD_GID "\"}");
    s_expect_log (&W.coord, off, "agent 'fake1' sent 'commit', not an agent message");
    zmq_close (a);
    /* routing ids that are no agent name */
    static const char zero_id[] = "\0bad";
    const char *ids[] = { zero_id, "bad name!",
        "a123456789012345678901234567890123456789012345678901234567890123" };
    size_t lens[] = { 4, 9, 64 };
    const char *lines[] = { "without a valid routing id",
                            "without a valid routing id",
                            "without a valid routing id" };
    for (int i = 0; i < 3; i++) {
        off = tpc_proc_log_size (&W.coord);
        a = s_dealer (W.aep, ids[i], lens[i]);
        s_send_str (a, "{\"v\":1,\"type\":\"query\",\"gid\":\"" OLD_GID "\"}");
        s_expect_log (&W.coord, off, lines[i]);
        tpc_msg_t *m = s_recv (a, false, 500, false);
        CU_ASSERT_PTR_NULL (m);
        tpc_msg_destroy (&m);
        zmq_close (a);
    }
    s_check_unharmed ();
}

static void
test_agent_socket_unknown_gids (void)
{
    void *a = s_dealer (W.aep, "fake2", 5);
    tpc_msg_t *m;
    /* query: never presumed abort for a gid not yet issued nor for another
     * coordinator's; nor for our own old boot's while an agent this
     * coordinator knows ('fake1', gone) might have committed it (presumed
     * abort is checked with every known agent: test_coord_engine) */
    const char *gids[] = { OLD_GID, NEW_GID, FOREIGN_GID };
    const tpc_outcome_t want[] = { TPC_OUTCOME_IN_PROGRESS,
                                   TPC_OUTCOME_IN_PROGRESS,
                                   TPC_OUTCOME_IN_PROGRESS };
    for (int i = 0; i < 3; i++) {
        char buf[256];
        snprintf (buf, sizeof buf, "{\"v\":1,\"type\":\"query\",\"gid\":\"%s\"}",
                  gids[i]);
        s_send_str (a, buf);
        m = s_recv (a, false, WAIT_MS, false);
        CU_ASSERT (m && m->type == TPC_MSG_ANSWER && !strcmp (m->gid, gids[i])
                   && m->outcome == want[i]);
        tpc_msg_destroy (&m);
    }
    /* a yes vote nobody asked for: ignored, and not told to roll back:
     * not for a gid of an earlier boot with no record (its presumed abort
     * is checked when the agent asks: test_coord_engine), nor of this boot
     * not issued yet, nor foreign */
    long off = tpc_proc_log_size (&W.coord);
    s_send_str (a, "{\"v\":1,\"type\":\"vote\",\"gid\":\"" OLD_GID "\",\"vote\":\"yes\"}");
    s_expect_log (&W.coord, off, "stale yes vote from 'fake2' ignored");
    s_send_str (a, "{\"v\":1,\"type\":\"vote\",\"gid\":\"" NEW_GID "\",\"vote\":\"yes\"}");
    s_send_str (a, "{\"v\":1,\"type\":\"vote\",\"gid\":\"" FOREIGN_GID "\",\"vote\":\"yes\"}");
    m = s_recv (a, false, 1000, false);
    CU_ASSERT_PTR_NULL (m);
    tpc_msg_destroy (&m);
    /* acks and results for nothing */
    off = tpc_proc_log_size (&W.coord);
    s_send_str (a, "{\"v\":1,\"type\":\"ack\",\"gid\":\"" OLD_GID "\","
                "\"outcome\":\"committed\"}");
    s_expect_log (&W.coord, off, "stale ack from 'fake2' ignored");
    off = tpc_proc_log_size (&W.coord);
    s_send_str (a, "{\"v\":1,\"type\":\"worked\",\"gid\":\"" NEW_GID "\",\"seq\":1,"
                "\"ok\":true,\"columns\":[\"a\"],\"rows\":[[\"1\"]],\"affected\":1}");
    s_expect_log (&W.coord, off, "stale worked seq 1 from 'fake2' ignored");
    /* a hello listing prepared gids it cannot have */
    s_send_str (a, "{\"v\":1,\"type\":\"hello\",\"name\":\"db1\","
                "\"prepared\":[\"" OLD_GID "\",\"" FOREIGN_GID "\"]}");
    m = s_recv (a, false, 1000, false);
    tpc_msg_destroy (&m);
    zmq_close (a);
    s_check_unharmed ();
}

/* ------------------------------------- the agent, from a fake coordinator */

/*  Send JSON (or any bytes) to the dbx agent through the fake ROUTER.    */
static void
s_to_dbx (const void *buf, size_t len)
{
    CU_ASSERT (zmq_send (W.fake, W.dbx_id, W.dbx_idlen, ZMQ_SNDMORE)
               == (int) W.dbx_idlen);
    CU_ASSERT (zmq_send (W.fake, buf, len, 0) == (int) len);
}

static void
s_to_dbx_str (const char *s)
{
    s_to_dbx (s, strlen (s));
}

static tpc_msg_t *
s_from_dbx (int timeout_ms)
{
    return s_recv (W.fake, true, timeout_ms, true);
}

static void
test_agent_from_fake_coordinator (void)
{
    tpc_proc_t *ag = &W.agent[2];
    /* the agent says hello: it is connected */
    tpc_msg_t *m = s_recv (W.fake, true, WAIT_MS, false);
    CU_ASSERT_FATAL (m && m->type == TPC_MSG_HELLO);
    tpc_msg_destroy (&m);

    static const char *garbage[] = {
        "not json", "", "{\"v\":1,\"type\":\"work\"", "[1,2,3]",
        "{\"v\":9,\"type\":\"decide\",\"gid\":\"tpc_fake_1_1\",\"outcome\":\"aborted\"}",
        "{\"v\":1,\"type\":\"decide\",\"gid\":\"tpc_fake_1_1\"}",
        "{\"v\":1,\"type\":\"decide\",\"gid\":\"tpc_fake_1_1\",\"outcome\":\"in_progress\"}",
        "{\"v\":1,\"type\":\"decide\",\"gid\":\"x'; ROLLBACK PREPARED 'y\",\"outcome\":\"aborted\"}",
        "{\"v\":1,\"type\":\"work\",\"gid\":\"tpc_fake_1_1\",\"seq\":1,\"stmts\":[],"
        "\"then\":\"later\"}",
        "{\"v\":1,\"type\":\"prepare\",\"gid\":7}",
        "\xc3\x28",
    };
    for (size_t i = 0; i < sizeof garbage / sizeof garbage[0]; i++) {
        long off = tpc_proc_log_size (ag);
        s_to_dbx_str (garbage[i]);
        s_expect_log (ag, off, "bad message from the coordinator ignored");
    }
    /* over the decoder's limit (1 MiB: the agent uses the default) */
    size_t huge = 2u * 1024 * 1024;
    char *big = s_padded (huge);
    long off = tpc_proc_log_size (ag);
    s_to_dbx (big, huge);
    free (big);
    s_expect_log (ag, off, "bad message from the coordinator ignored");
    /* several frames */
    off = tpc_proc_log_size (ag);
    CU_ASSERT (zmq_send (W.fake, W.dbx_id, W.dbx_idlen, ZMQ_SNDMORE)
               == (int) W.dbx_idlen);
    CU_ASSERT (zmq_send (W.fake, "{}", 2, ZMQ_SNDMORE) == 2);
    CU_ASSERT (zmq_send (W.fake, "{}", 2, 0) == 2);
    s_expect_log (ag, off, "multi-frame message ignored");
    /* messages only agents or clients send */
    const char *wrong[] = {
        "{\"v\":1,\"type\":\"vote\",\"gid\":\"tpc_fake_1_1\",\"vote\":\"yes\"}",
        "{\"v\":1,\"type\":\"begin\",\"rid\":1}",
    };
    const char *wrong_line[] = { "unexpected vote from the coordinator ignored",
                                 "unexpected begin from the coordinator ignored" };
    for (int i = 0; i < 2; i++) {
        off = tpc_proc_log_size (ag);
        s_to_dbx_str (wrong[i]);
        s_expect_log (ag, off, wrong_line[i]);
    }
    m = s_from_dbx (500);
    CU_ASSERT_PTR_NULL (m);             /* none of that was answered */
    tpc_msg_destroy (&m);

    /* unknown gids: the truth from the database, never a guess */
    s_to_dbx_str ("{\"v\":1,\"type\":\"decide\",\"gid\":\"tpc_fake_1_7\","
                  "\"outcome\":\"committed\"}");
    m = s_from_dbx (WAIT_MS);
    CU_ASSERT (m && m->type == TPC_MSG_ACK && !strcmp (m->gid, "tpc_fake_1_7")
               && m->outcome == TPC_OUTCOME_ABORTED);
    tpc_msg_destroy (&m);
    s_to_dbx_str ("{\"v\":1,\"type\":\"decide\",\"gid\":\"tpc_fake_1_8\","
                  "\"outcome\":\"aborted\"}");
    m = s_from_dbx (WAIT_MS);
    CU_ASSERT (m && m->type == TPC_MSG_ACK && !strcmp (m->gid, "tpc_fake_1_8")
               && m->outcome == TPC_OUTCOME_ABORTED);
    tpc_msg_destroy (&m);
    s_to_dbx_str ("{\"v\":1,\"type\":\"prepare\",\"gid\":\"tpc_fake_1_9\"}");
    m = s_from_dbx (WAIT_MS);
    CU_ASSERT (m && m->type == TPC_MSG_VOTE && !strcmp (m->gid, "tpc_fake_1_9")
               && m->vote == TPC_VOTE_NO);
    tpc_msg_destroy (&m);
    off = tpc_proc_log_size (ag);
    s_to_dbx_str ("{\"v\":1,\"type\":\"answer\",\"gid\":\"tpc_fake_1_10\","
                  "\"outcome\":\"committed\"}");
    s_expect_log (ag, off, "tpc_fake_1_10: stale answer committed ignored");
    /* a tombstone stops a late prepare of the aborted gid */
    s_to_dbx_str ("{\"v\":1,\"type\":\"work\",\"gid\":\"tpc_fake_1_8\",\"seq\":1,"
                  "\"stmts\":[{\"sql\":\"DELETE FROM acct\"}],\"then\":\"prepare\"}");
    m = s_from_dbx (WAIT_MS);
    CU_ASSERT (m && m->type == TPC_MSG_VOTE && m->vote == TPC_VOTE_NO);
    tpc_msg_destroy (&m);

    /* and the agent still does real work: a read, one phase */
    s_to_dbx_str ("{\"v\":1,\"type\":\"work\",\"gid\":\"tpc_fake_1_11\",\"seq\":1,"
                  "\"stmts\":[{\"sql\":\"SELECT sum(bal) FROM acct\"}],"
                  "\"then\":\"none\"}");
    m = s_from_dbx (WAIT_MS);
    CU_ASSERT (m && m->type == TPC_MSG_WORKED && m->ok && m->nrows == 1
               && m->cells && m->cells[0] && !strcmp (m->cells[0], "1000"));
    tpc_msg_destroy (&m);
    s_to_dbx_str ("{\"v\":1,\"type\":\"decide\",\"gid\":\"tpc_fake_1_11\","
                  "\"outcome\":\"aborted\"}");
    m = s_from_dbx (WAIT_MS);
    CU_ASSERT (m && m->type == TPC_MSG_ACK && m->outcome == TPC_OUTCOME_ABORTED);
    tpc_msg_destroy (&m);
    s_check_unharmed ();
}

/* ----------------------------------------------------------- afterwards */

static void
test_real_transaction_commits (void)
{
    s_check_unharmed ();
    tpc_client_opts_t o = { .timeout_ms = 10000 };
    tpc_client_t *c = tpc_client_new (W.cep, &o);
    CU_ASSERT_PTR_NOT_NULL_FATAL (c);
    const char *dp[] = { "30", "1" }, *cp[] = { "30", "2" };
    tpc_client_stmt_t st[2] = {
        { "db1", "UPDATE acct SET bal = bal - $1 WHERE id = $2", 2, dp },
        { "db2", "UPDATE acct SET bal = bal + $1 WHERE id = $2", 2, cp },
    };
    char gid[TPC_CLIENT_GID_MAX], reason[256];
    tpc_client_outcome_t out;
    CU_ASSERT_EQUAL (tpc_submit (c, st, 2, NULL, gid, &out, reason, sizeof reason), 0);
    CU_ASSERT_EQUAL (out, TPC_CLIENT_COMMITTED);
    tpc_client_destroy (&c);
    CU_ASSERT_EQUAL (tpc_harness_sql_int (W.db[0], "SELECT bal FROM acct WHERE id = 1"), 70);
    CU_ASSERT_EQUAL (tpc_harness_sql_int (W.db[1], "SELECT bal FROM acct WHERE id = 2"), 130);
    W.sum[0] -= 30;
    W.sum[1] += 30;
    int64_t end = tpc_now_ms () + 10000;
    while (tpc_now_ms () < end
           && tpc_harness_sql_int (W.db[0], "SELECT count(*) FROM pg_prepared_xacts")
              + tpc_harness_sql_int (W.db[1], "SELECT count(*) FROM pg_prepared_xacts") > 0)
        usleep (50 * 1000);
    s_check_unharmed ();
}

static const tpc_test_case_t s_cases[] = {
    { "client_garbage", test_client_garbage },
    { "client_frames_and_size", test_client_frames_and_size },
    { "client_unknown_gids", test_client_unknown_gids },
    { "client_nonsense", test_client_nonsense },
    { "agent_socket_garbage", test_agent_socket_garbage },
    { "agent_socket_unknown_gids", test_agent_socket_unknown_gids },
    { "agent_from_fake_coordinator", test_agent_from_fake_coordinator },
    { "real_transaction_commits", test_real_transaction_commits },
    { NULL, NULL }
};

int
main (void)
{
    const tpc_test_suite_t suites[] = {
        { "bad_input", s_setup, s_teardown, s_cases },
        { NULL, NULL, NULL, NULL }
    };
    return tpc_test_main ("test_bad_input", suites);
}
