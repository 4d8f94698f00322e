/*  test_part_link: the agent's links to the coordinators of an HA group
 *  (part_link.c), against fake coordinators.
 *
 *  The agent (part_agent over the in-memory resource manager part_mem)
 *  runs in a thread of this test with --coordinator "A,B"; each fake
 *  coordinator is a ROUTER on an ephemeral loopback port served from the
 *  test's thread: it reads what the agent sends (decoded with tpc_msg)
 *  and answers with hand-written JSON.  A follower answers a hello with
 *  an error TPC_ENOT_LEADER (-19); a leader with hello.  The agent holds
 *  one prepared gid from the start, so it must ask the leader about it
 *  (recovery query) and never a follower.  Every wait is for a message,
 *  bounded by a deadline.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "part_agent.h"
#include "part_mem.h"
#include "tpc_clock.h"
#include "tpc_error.h"
#include "tpc_msg.h"
#include "tpc_test.h"

#define S_GID "tpc_c1_1_5"
#define S_WAIT_MS 10000

typedef struct {
    void *router;
    char endpoint[128];
    zmq_msg_t peer;             /* routing id of the agent (last seen) */
    bool has_peer;
    int hellos, queries, others;
} s_coord_t;

typedef struct {
    void *zctx;
    s_coord_t a, b;
    part_mem_t *mem;
    part_agent_t *agent;
    int stop[2];
    pthread_t thread;
    char list[300];             /* --coordinator A,B (the agent keeps the
                                   pointer) */
} s_fx_t;

static void
s_coord_open (s_fx_t *fx, s_coord_t *c)
{
    memset (c, 0, sizeof *c);
    c->router = zmq_socket (fx->zctx, ZMQ_ROUTER);
    int linger = 0;
    zmq_setsockopt (c->router, ZMQ_LINGER, &linger, sizeof linger);
    CU_ASSERT_EQUAL_FATAL (zmq_bind (c->router, "tcp://127.0.0.1:*"), 0);
    size_t len = sizeof c->endpoint;
    zmq_getsockopt (c->router, ZMQ_LAST_ENDPOINT, c->endpoint, &len);
    zmq_msg_init (&c->peer);
}

static void
s_coord_close (s_coord_t *c)
{
    if (c->router)
        zmq_close (c->router);
    c->router = NULL;
    zmq_msg_close (&c->peer);
}

/*  Send one frame (printf format) to the agent last heard on C.          */
static void
s_say (s_coord_t *c, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

static void
s_say (s_coord_t *c, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start (ap, fmt);
    int n = vsnprintf (buf, sizeof buf, fmt, ap);
    va_end (ap);
    if (!c->has_peer)
        return;
    zmq_msg_t id;
    zmq_msg_init (&id);
    zmq_msg_copy (&id, &c->peer);
    zmq_msg_send (&id, c->router, ZMQ_SNDMORE);
    zmq_send (c->router, buf, (size_t) n, 0);
}

/*  The next message from the agent on C, or NULL after MS.                */
static tpc_msg_t *
s_next (s_coord_t *c, int ms)
{
    int64_t deadline = tpc_now_ms () + ms;
    for (;;) {
        int64_t left = deadline - tpc_now_ms ();
        if (left <= 0)
            return NULL;
        zmq_pollitem_t item = { c->router, 0, ZMQ_POLLIN, 0 };
        if (zmq_poll (&item, 1, (long) left) <= 0)
            continue;
        zmq_msg_close (&c->peer);
        zmq_msg_init (&c->peer);
        if (zmq_msg_recv (&c->peer, c->router, 0) < 0)
            continue;
        c->has_peer = true;
        zmq_msg_t body;
        zmq_msg_init (&body);
        zmq_msg_recv (&body, c->router, 0);
        tpc_msg_t *msg = NULL;
        int rc = tpc_msg_decode (zmq_msg_data (&body), zmq_msg_size (&body),
                                 NULL, &msg, NULL, 0);
        zmq_msg_close (&body);
        CU_ASSERT_EQUAL (rc, 0);
        if (rc)
            continue;
        if (msg->type == TPC_MSG_HELLO)
            c->hellos++;
        else if (msg->type == TPC_MSG_QUERY)
            c->queries++;
        else
            c->others++;
        return msg;
    }
}

static void
s_follower_answer (s_coord_t *c, const char *leader)
{
    s_say (c, "{\"v\":1,\"type\":\"error\",\"rid\":0,\"code\":-19,"
           "\"message\":\"this coordinator is not the leader of its "
           "group\",\"leader\":\"%s\"}", leader);
}

/*  Serve C until a message of TYPE comes (returned), answering hellos as
 *  a leader (LEADER true) or a follower.  NULL after MS.                 */
static tpc_msg_t *
s_serve_for (s_coord_t *c, bool leader, tpc_msg_type_t type, int ms)
{
    int64_t deadline = tpc_now_ms () + ms;
    while (tpc_now_ms () < deadline) {
        tpc_msg_t *msg = s_next (c, (int) (deadline - tpc_now_ms ()));
        if (!msg)
            return NULL;
        if (msg->type == type)
            return msg;
        if (msg->type == TPC_MSG_HELLO) {
            if (leader)
                s_say (c, "{\"v\":1,\"type\":\"hello\",\"name\":\"c1\"}");
            else
                s_follower_answer (c, "");
        }
        tpc_msg_destroy (&msg);
    }
    return NULL;
}

static tpc_msg_t *
s_serve_until (s_coord_t *c, bool leader, tpc_msg_type_t type)
{
    return s_serve_for (c, leader, type, S_WAIT_MS);
}

/*  Answer hellos on C as a follower for a while, with no wait: what
 *  arrived is counted.                                                   */
static void
s_follow_pending (s_coord_t *c)
{
    tpc_msg_t *msg;
    while ((msg = s_next (c, 1))) {
        if (msg->type == TPC_MSG_HELLO)
            s_follower_answer (c, "");
        tpc_msg_destroy (&msg);
    }
}

static void *
s_agent_run (void *arg)
{
    s_fx_t *fx = arg;
    part_agent_run (fx->agent);
    return NULL;
}

static void
s_fx_start (s_fx_t *fx)
{
    memset (fx, 0, sizeof *fx);
    fx->zctx = zmq_ctx_new ();
    s_coord_open (fx, &fx->a);
    s_coord_open (fx, &fx->b);
    fx->mem = part_mem_new (NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL (fx->mem);
    CU_ASSERT_EQUAL_FATAL (part_mem_add_prepared (fx->mem, S_GID), 0);
    CU_ASSERT_EQUAL_FATAL (pipe (fx->stop), 0);
    snprintf (fx->list, sizeof fx->list, "%s, %s", fx->a.endpoint,
              fx->b.endpoint);
    part_agent_config_t cfg = {
        .name = "db1", .endpoint = fx->list, .heartbeat_ms = 100,
        .stop_fd = fx->stop[0],
    };
    char err[512] = "";
    fx->agent = part_agent_new (&cfg, part_mem_rm (fx->mem), err, sizeof err);
    if (!fx->agent)
        fprintf (stderr, "part_agent_new: %s\n", err);
    CU_ASSERT_PTR_NOT_NULL_FATAL (fx->agent);
    CU_ASSERT_EQUAL_FATAL (pthread_create (&fx->thread, NULL, s_agent_run,
                                           fx), 0);
}

static void
s_fx_stop (s_fx_t *fx)
{
    CU_ASSERT_EQUAL (write (fx->stop[1], "x", 1), 1);
    pthread_join (fx->thread, NULL);
    CU_ASSERT_EQUAL (part_agent_failed (fx->agent), 0);
    part_agent_destroy (&fx->agent);
    part_mem_destroy (&fx->mem);
    close (fx->stop[0]);
    close (fx->stop[1]);
    s_coord_close (&fx->a);
    s_coord_close (&fx->b);
    zmq_ctx_term (fx->zctx);
}

/*  Settle S_GID from coordinator C: decide aborted, wait for the ack.    */
static void
s_decide_and_ack (s_coord_t *c)
{
    s_say (c, "{\"v\":1,\"type\":\"decide\",\"gid\":\"" S_GID "\","
           "\"outcome\":\"aborted\"}");
    tpc_msg_t *ack = s_serve_until (c, true, TPC_MSG_ACK);
    CU_ASSERT_PTR_NOT_NULL_FATAL (ack);
    CU_ASSERT_STRING_EQUAL (ack->gid, S_GID);
    CU_ASSERT_EQUAL (ack->outcome, TPC_OUTCOME_ABORTED);
    tpc_msg_destroy (&ack);
}

/*  A is a follower, B the leader: the agent keeps both links, asks B
 *  about its prepared gid, and answers B's decide on B.                  */
static void
test_follower_first (void)
{
    s_fx_t fx;
    s_fx_start (&fx);
    /* A says not_leader to the agent's first hello */
    tpc_msg_t *hello = s_next (&fx.a, S_WAIT_MS);
    CU_ASSERT_PTR_NOT_NULL_FATAL (hello);
    CU_ASSERT_EQUAL (hello->type, TPC_MSG_HELLO);
    tpc_msg_destroy (&hello);
    s_follower_answer (&fx.a, fx.b.endpoint);
    /* B answers as leader; the query comes to B */
    tpc_msg_t *q = s_serve_until (&fx.b, true, TPC_MSG_QUERY);
    CU_ASSERT_PTR_NOT_NULL_FATAL (q);
    CU_ASSERT_STRING_EQUAL (q->gid, S_GID);
    tpc_msg_destroy (&q);
    s_decide_and_ack (&fx.b);
    /* A, a follower, keeps getting hellos (the link is kept), and
     * nothing else */
    int h0 = fx.a.hellos;
    hello = s_serve_for (&fx.a, false, TPC_MSG_TYPE_COUNT, 1000);
    CU_ASSERT_PTR_NULL (hello);         /* nothing but hellos for 1 s */
    tpc_msg_destroy (&hello);
    CU_ASSERT (fx.a.hellos > h0);
    CU_ASSERT_EQUAL (fx.a.queries, 0);
    CU_ASSERT_EQUAL (fx.a.others, 0);
    printf ("\n    follower got %d hellos, 0 queries; leader %d queries",
            fx.a.hellos, fx.b.queries);
    s_fx_stop (&fx);
}

/*  A is the leader and dies with the agent's query unanswered; B, a
 *  follower so far, takes over (answers hellos as leader): the agent
 *  asks B, and serves B's decide.                                        */
static void
test_leader_dies (void)
{
    s_fx_t fx;
    s_fx_start (&fx);
    tpc_msg_t *q = s_serve_until (&fx.a, true, TPC_MSG_QUERY);
    CU_ASSERT_PTR_NOT_NULL_FATAL (q);
    CU_ASSERT_STRING_EQUAL (q->gid, S_GID);
    tpc_msg_destroy (&q);
    s_follow_pending (&fx.b);
    CU_ASSERT_EQUAL (fx.b.queries, 0);
    /* A dies unanswering; B wins the election */
    s_coord_close (&fx.a);
    zmq_msg_init (&fx.a.peer);          /* s_fx_stop closes it again */
    int64_t t0 = tpc_now_ms ();
    q = s_serve_until (&fx.b, true, TPC_MSG_QUERY);
    CU_ASSERT_PTR_NOT_NULL_FATAL (q);
    CU_ASSERT_STRING_EQUAL (q->gid, S_GID);
    tpc_msg_destroy (&q);
    printf ("\n    new leader asked after %lld ms",
            (long long) (tpc_now_ms () - t0));
    s_decide_and_ack (&fx.b);
    s_fx_stop (&fx);
}

int
main (void)
{
    static const tpc_test_case_t cases[] = {
        { "follower_first", test_follower_first },
        { "leader_dies", test_leader_dies },
        { NULL, NULL }
    };
    static const tpc_test_suite_t suites[] = {
        { "part_link", NULL, NULL, cases },
        { NULL, NULL, NULL, NULL }
    };
    return tpc_test_main ("test_part_link", suites);
}
