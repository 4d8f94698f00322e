/*  test_client: libtpc and tpcctl against a fake coordinator.
 *
 *  The fake is a ROUTER socket on an ephemeral TCP port, served by a thread
 *  of this test.  Each test installs a script: a function that receives
 *  every decoded request and answers with raw JSON text (hand-written, so
 *  the client is checked against bytes, not against our own encoder), with
 *  nothing (to provoke a timeout), with stale or malformed replies.  Every
 *  request is recorded so the test can assert what the client sent.  The
 *  tpcctl cases run the built binary and check its stdout and exit status.
 */

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "tpc_client.h"
#include "tpc_clock.h"
#include "tpc_error.h"
#include "tpc_msg.h"
#include "tpc_test.h"

#ifndef TPCCTL_PATH
#define TPCCTL_PATH "./tpcctl"
#endif

#define S_GID "tpc_c1_1_7"
#define S_MAX_REQS 16

typedef struct s_fake s_fake_t;
typedef void (s_script_fn) (s_fake_t *fake, const tpc_msg_t *req, int n);

struct s_fake {
    void *ctx;
    void *router;
    char endpoint[128];
    pthread_t thread;
    atomic_bool stop;
    s_script_fn *_Atomic script;
    zmq_msg_t peer;             /* routing id of the request being served */
    pthread_mutex_t lock;
    int nreqs;                  /* requests received (decoded or not) */
    tpc_msg_t *reqs[S_MAX_REQS];
    int bad_reqs;               /* requests our codec refused */
    atomic_bool die;            /* a script sets it: the fake closes its
                                   socket (a coordinator that died) */
};

static s_fake_t s_fake;         /* one fake per test, set up/torn down */
static s_fake_t s_fake2;        /* a second member of an HA group, started
                                   by the tests that need it */

/*  Send one reply frame (printf format) to the peer being served.         */
static void
s_reply (s_fake_t *fake, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

static void
s_reply (s_fake_t *fake, const char *fmt, ...)
{
    char buf[4096];
    va_list ap;
    va_start (ap, fmt);
    int n = vsnprintf (buf, sizeof buf, fmt, ap);
    va_end (ap);
    zmq_msg_t id;
    zmq_msg_init (&id);
    zmq_msg_copy (&id, &fake->peer);
    zmq_msg_send (&id, fake->router, ZMQ_SNDMORE);
    zmq_send (fake->router, buf, (size_t) n, 0);
}

static void *
s_fake_run (void *arg)
{
    s_fake_t *fake = arg;
    while (!atomic_load (&fake->stop)) {
        zmq_pollitem_t item = { fake->router, 0, ZMQ_POLLIN, 0 };
        if (zmq_poll (&item, 1, 20) <= 0)
            continue;
        zmq_msg_init (&fake->peer);
        if (zmq_msg_recv (&fake->peer, fake->router, 0) < 0)
            continue;
        zmq_msg_t body;
        zmq_msg_init (&body);
        zmq_msg_recv (&body, fake->router, 0);
        tpc_msg_t *req = NULL;
        int rc = tpc_msg_decode (zmq_msg_data (&body), zmq_msg_size (&body),
                                 NULL, &req, NULL, 0);
        zmq_msg_close (&body);
        pthread_mutex_lock (&fake->lock);
        int n = fake->nreqs++;
        if (rc)
            fake->bad_reqs++;
        else if (n < S_MAX_REQS)
            fake->reqs[n] = req;
        pthread_mutex_unlock (&fake->lock);
        s_script_fn *script = atomic_load (&fake->script);
        if (!rc && script)
            script (fake, req, n);
        if (rc || n >= S_MAX_REQS)
            tpc_msg_destroy (&req);
        zmq_msg_close (&fake->peer);
        if (atomic_load (&fake->die)) {
            zmq_close (fake->router);
            fake->router = NULL;
            break;
        }
    }
    return NULL;
}

static int
s_fake_start_on (s_fake_t *f)
{
    memset (f, 0, sizeof *f);
    pthread_mutex_init (&f->lock, NULL);
    f->ctx = zmq_ctx_new ();
    f->router = zmq_socket (f->ctx, ZMQ_ROUTER);
    int linger = 0;
    zmq_setsockopt (f->router, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_bind (f->router, "tcp://127.0.0.1:*"))
        return -1;
    size_t len = sizeof f->endpoint;
    zmq_getsockopt (f->router, ZMQ_LAST_ENDPOINT, f->endpoint, &len);
    return pthread_create (&f->thread, NULL, s_fake_run, f);
}

static int
s_fake_start (void)
{
    return s_fake_start_on (&s_fake);
}

static void
s_fake_stop_on (s_fake_t *f)
{
    atomic_store (&f->stop, true);
    pthread_join (f->thread, NULL);
    if (f->router)
        zmq_close (f->router);
    zmq_ctx_term (f->ctx);
    for (int i = 0; i < S_MAX_REQS; i++)
        tpc_msg_destroy (&f->reqs[i]);
    pthread_mutex_destroy (&f->lock);
}

static void
s_fake_stop (void)
{
    s_fake_stop_on (&s_fake);
}

/*  Request number N as fake F decoded it (NULL if none).                 */
static const tpc_msg_t *
s_req_of (s_fake_t *f, int n)
{
    pthread_mutex_lock (&f->lock);
    const tpc_msg_t *r = n < S_MAX_REQS ? f->reqs[n] : NULL;
    pthread_mutex_unlock (&f->lock);
    return r;
}

static const tpc_msg_t *
s_req (int n)
{
    return s_req_of (&s_fake, n);
}

static int
s_nreqs_of (s_fake_t *f)
{
    pthread_mutex_lock (&f->lock);
    int n = f->nreqs;
    pthread_mutex_unlock (&f->lock);
    return n;
}

static int
s_nreqs (void)
{
    return s_nreqs_of (&s_fake);
}

static tpc_client_t *
s_client (int timeout_ms)
{
    tpc_client_opts_t opts = { .timeout_ms = timeout_ms };
    return tpc_client_new (s_fake.endpoint, &opts);
}

/*  An endpoint where nothing listens: bind a port, then let it go.        */
static void
s_dead_endpoint (char *buf, size_t size)
{
    void *ctx = zmq_ctx_new ();
    void *s = zmq_socket (ctx, ZMQ_ROUTER);
    zmq_bind (s, "tcp://127.0.0.1:*");
    zmq_getsockopt (s, ZMQ_LAST_ENDPOINT, buf, &size);
    zmq_close (s);
    zmq_ctx_term (ctx);
}

static int
s_setup (void)
{
    return s_fake_start ();
}

/*  Fails the suite if the client ever sent what our codec refuses.       */
static int
s_teardown (void)
{
    int bad = s_fake.bad_reqs;
    s_fake_stop ();
    if (bad)
        fprintf (stderr, "test_client: %d request(s) did not decode\n", bad);
    return bad ? -1 : 0;
}

/* ---------------------------------------------------------------------- */
/*  Scripts.                                                              */

#define RID(req) ((unsigned long long) (req)->rid)

/*  A well-behaved coordinator for the interactive API.                   */
static void
s_script_interactive (s_fake_t *f, const tpc_msg_t *req, int n)
{
    (void) n;
    switch (req->type) {
    case TPC_MSG_BEGIN:
        s_reply (f, "{\"v\":1,\"type\":\"begun\",\"rid\":%llu,\"gid\":\""
                 S_GID "\"}", RID (req));
        break;
    case TPC_MSG_EXEC:
        s_reply (f, "{\"v\":1,\"type\":\"result\",\"rid\":%llu,\"gid\":\"%s\","
                 "\"columns\":[\"id\",\"owner\"],\"rows\":[[\"1\",\"ann\"],"
                 "[\"2\",null]],\"affected\":2}", RID (req), req->gid);
        break;
    case TPC_MSG_COMMIT:
        s_reply (f, "{\"v\":1,\"type\":\"outcome\",\"rid\":%llu,\"gid\":\"%s\","
                 "\"outcome\":\"committed\"}", RID (req), req->gid);
        break;
    case TPC_MSG_ROLLBACK:
        s_reply (f, "{\"v\":1,\"type\":\"outcome\",\"rid\":%llu,\"gid\":\"%s\","
                 "\"outcome\":\"aborted\",\"reason\":\"rolled back by "
                 "client\"}", RID (req), req->gid);
        break;
    case TPC_MSG_SUBMIT:
        s_reply (f, "{\"v\":1,\"type\":\"outcome\",\"rid\":%llu,\"gid\":\""
                 S_GID "\",\"outcome\":\"committed\"}", RID (req));
        break;
    case TPC_MSG_STATUS:
        s_reply (f, "{\"v\":1,\"type\":\"txstatus\",\"rid\":%llu,\"gid\":\"%s\","
                 "\"state\":\"prepared\",\"outcome\":\"in_progress\"}",
                 RID (req), req->gid);
        break;
    case TPC_MSG_LIST:
        s_reply (f, "{\"v\":1,\"type\":\"txlist\",\"rid\":%llu,\"txns\":["
                 "{\"gid\":\"" S_GID "\",\"state\":\"prepared\",\"age_ms\":1500,"
                 "\"parts\":[\"db1\",\"db2\"]},{\"gid\":\"tpc_c1_1_9\","
                 "\"state\":\"active\",\"age_ms\":3,\"parts\":[]}]}",
                 RID (req));
        break;
    default:
        break;
    }
}

/*  Every decision is "aborted", with a reason.                            */
static void
s_script_aborts (s_fake_t *f, const tpc_msg_t *req, int n)
{
    (void) n;
    s_reply (f, "{\"v\":1,\"type\":\"outcome\",\"rid\":%llu,\"gid\":\"%s\","
             "\"outcome\":\"aborted\",\"reason\":\"db2 voted no: "
             "insufficient funds\"}", RID (req), req->gid ? req->gid : S_GID);
}

/*  Every request fails with a database error.                            */
static void
s_script_db_error (s_fake_t *f, const tpc_msg_t *req, int n)
{
    (void) n;
    s_reply (f, "{\"v\":1,\"type\":\"error\",\"rid\":%llu,\"code\":-11,"
             "\"message\":\"db1: relation \\\"nope\\\" does not exist\","
             "\"gid\":\"" S_GID "\"}", RID (req));
}

static void
s_script_unknown_gid (s_fake_t *f, const tpc_msg_t *req, int n)
{
    (void) n;
    s_reply (f, "{\"v\":1,\"type\":\"error\",\"rid\":%llu,\"code\":-300,"
             "\"message\":\"no transaction %s\"}", RID (req),
             req->gid ? req->gid : "?");
}

/*  Request 0 gets no answer; later ones first get a stale reply carrying
 *  request 0's rid, then their own.                                      */
static void
s_script_stale (s_fake_t *f, const tpc_msg_t *req, int n)
{
    if (n == 0)
        return;
    s_reply (f, "{\"v\":1,\"type\":\"txstatus\",\"rid\":1,\"gid\":\"%s\","
             "\"state\":\"committed\",\"outcome\":\"committed\"}", req->gid);
    s_reply (f, "{\"v\":1,\"type\":\"txstatus\",\"rid\":%llu,\"gid\":\"%s\","
             "\"state\":\"aborted\",\"outcome\":\"aborted\"}", RID (req),
             req->gid);
}

/*  A different kind of garbage for each request number.                  */
static void
s_script_malformed (s_fake_t *f, const tpc_msg_t *req, int n)
{
    switch (n) {
    case 0:
        s_reply (f, "this is { not json");
        break;
    case 1:                     /* a reply lacking required fields */
        s_reply (f, "{\"v\":1,\"type\":\"txstatus\",\"rid\":%llu}",
                 RID (req));
        break;
    case 2: {                   /* two frames */
        zmq_msg_t id;
        zmq_msg_init (&id);
        zmq_msg_copy (&id, &f->peer);
        zmq_msg_send (&id, f->router, ZMQ_SNDMORE);
        zmq_send (f->router, "{}", 2, ZMQ_SNDMORE);
        zmq_send (f->router, "{}", 2, 0);
        break;
    }
    case 3:                     /* the wrong type of reply */
        s_reply (f, "{\"v\":1,\"type\":\"begun\",\"rid\":%llu,\"gid\":\"%s\"}",
                 RID (req), req->gid);
        break;
    case 4:                     /* a commit answered with garbage */
        s_reply (f, "\xff\xfe garbage");
        break;
    case 5:                     /* a reply about another transaction */
        s_reply (f, "{\"v\":1,\"type\":\"outcome\",\"rid\":%llu,\"gid\":"
                 "\"tpc_c1_1_999\",\"outcome\":\"committed\"}", RID (req));
        break;
    default:                    /* then behave */
        s_script_interactive (f, req, n);
        break;
    }
}

/*  Interactive, but a commit is answered "aborted" with a reason.        */
static void
s_script_commit_aborts (s_fake_t *f, const tpc_msg_t *req, int n)
{
    if (req->type == TPC_MSG_COMMIT)
        s_script_aborts (f, req, n);
    else
        s_script_interactive (f, req, n);
}

/*  Interactive, but a commit is never answered: in doubt, gid known.     */
static void
s_script_commit_silent (s_fake_t *f, const tpc_msg_t *req, int n)
{
    if (req->type != TPC_MSG_COMMIT)
        s_script_interactive (f, req, n);
}

/*  A summary with IN_DOUBT (the request number n: 0, then 1 ...) in
 *  doubt; a status of an ended transaction the coordinator no longer
 *  lists.                                                                */
static void
s_script_summary (s_fake_t *f, const tpc_msg_t *req, int n)
{
    if (req->type == TPC_MSG_SUMMARY)
        s_reply (f, "{\"v\":1,\"type\":\"txsummary\",\"rid\":%llu,"
                 "\"in_flight\":%d,\"in_doubt\":%d,\"committed\":5,"
                 "\"aborted\":1,\"heuristic\":0,\"oldest_ms\":%d,"
                 "\"agents\":[\"db1\"]}", RID (req), n, n, n * 420);
    else if (req->type == TPC_MSG_STATUS)
        s_reply (f, "{\"v\":1,\"type\":\"txstatus\",\"rid\":%llu,"
                 "\"gid\":\"%s\",\"state\":\"committed\","
                 "\"outcome\":\"committed\"}", RID (req), req->gid);
    else if (req->type == TPC_MSG_LIST)
        s_reply (f, "{\"v\":1,\"type\":\"txlist\",\"rid\":%llu,"
                 "\"txns\":[]}", RID (req));
}

/*  Silence: the coordinator took the request and never answered.         */
static void
s_script_silent (s_fake_t *f, const tpc_msg_t *req, int n)
{
    (void) f; (void) req; (void) n;
}

/* ---------------------------------------------------------------------- */
/*  libtpc                                                                */

static void
test_begin_exec_rows (void)
{
    atomic_store (&s_fake.script, s_script_interactive);
    tpc_client_t *c = s_client (2000);
    CU_ASSERT_PTR_NOT_NULL_FATAL (c);
    char gid[TPC_CLIENT_GID_MAX];
    tpc_txn_opts_t opts = { .timeout_ms = 5000, .protocol = "3pc" };
    CU_ASSERT_EQUAL (tpc_begin (c, &opts, gid), 0);
    CU_ASSERT_STRING_EQUAL (gid, S_GID);
    const tpc_msg_t *r = s_req (0);
    CU_ASSERT_PTR_NOT_NULL_FATAL (r);
    CU_ASSERT_EQUAL (r->type, TPC_MSG_BEGIN);
    CU_ASSERT_EQUAL (r->rid, 1);
    CU_ASSERT_EQUAL (r->timeout_ms, 5000);
    CU_ASSERT (r->has_protocol && r->protocol == TPC_PROTO_3PC);

    const char *params[] = { "7", NULL, "o'brien \"quoted\" ünï" };
    tpc_result_t *res = NULL;
    CU_ASSERT_EQUAL (tpc_exec (c, gid, "db1",
                               "SELECT id, owner FROM acct WHERE id <> $1 "
                               "OR owner IS NOT DISTINCT FROM $2 OR owner = $3",
                               3, params, &res), 0);
    r = s_req (1);
    CU_ASSERT_PTR_NOT_NULL_FATAL (r);
    CU_ASSERT_EQUAL (r->type, TPC_MSG_EXEC);
    CU_ASSERT_EQUAL (r->rid, 2);
    CU_ASSERT_STRING_EQUAL (r->gid, S_GID);
    CU_ASSERT_STRING_EQUAL (r->on, "db1");
    CU_ASSERT_PTR_NOT_NULL (strstr (r->sql, "$3"));
    CU_ASSERT_EQUAL_FATAL (r->nparams, 3);
    CU_ASSERT_STRING_EQUAL (r->params[0], "7");
    CU_ASSERT_PTR_NULL (r->params[1]);
    CU_ASSERT_STRING_EQUAL (r->params[2], params[2]);

    CU_ASSERT_PTR_NOT_NULL_FATAL (res);
    CU_ASSERT_EQUAL (tpc_result_ncolumns (res), 2);
    CU_ASSERT_STRING_EQUAL (tpc_result_column (res, 0), "id");
    CU_ASSERT_STRING_EQUAL (tpc_result_column (res, 1), "owner");
    CU_ASSERT_PTR_NULL (tpc_result_column (res, 2));
    CU_ASSERT_EQUAL (tpc_result_nrows (res), 2);
    CU_ASSERT_STRING_EQUAL (tpc_result_value (res, 0, 0), "1");
    CU_ASSERT_STRING_EQUAL (tpc_result_value (res, 0, 1), "ann");
    CU_ASSERT_STRING_EQUAL (tpc_result_value (res, 1, 0), "2");
    CU_ASSERT_PTR_NULL (tpc_result_value (res, 1, 1));
    CU_ASSERT (tpc_result_is_null (res, 1, 1));
    CU_ASSERT (!tpc_result_is_null (res, 1, 0));
    CU_ASSERT_PTR_NULL (tpc_result_value (res, 2, 0));
    CU_ASSERT_EQUAL (tpc_result_affected (res), 2);
    tpc_result_destroy (&res);
    CU_ASSERT_PTR_NULL (res);
    tpc_result_destroy (&res);

    /* bad arguments are refused before anything is sent */
    CU_ASSERT_EQUAL (tpc_exec (c, "not-a-gid", "db1", "SELECT 1", 0, NULL,
                               NULL), TPC_CLIENT_EINVAL);
    CU_ASSERT_PTR_NOT_NULL (strstr (tpc_client_errmsg (c), "not-a-gid"));
    CU_ASSERT_EQUAL (tpc_exec (c, gid, NULL, "SELECT 1", 0, NULL, NULL),
                     TPC_CLIENT_EINVAL);
    tpc_txn_opts_t bad = { .protocol = "4pc" };
    CU_ASSERT_EQUAL (tpc_begin (c, &bad, gid), TPC_CLIENT_EINVAL);
    CU_ASSERT_EQUAL (s_nreqs (), 2);
    tpc_client_destroy (&c);
    CU_ASSERT_PTR_NULL (c);
    tpc_client_destroy (&c);
}

static void
test_commit_rollback (void)
{
    atomic_store (&s_fake.script, s_script_interactive);
    tpc_client_t *c = s_client (2000);
    CU_ASSERT_PTR_NOT_NULL_FATAL (c);
    tpc_client_outcome_t outcome = TPC_CLIENT_OUTCOME_UNKNOWN;
    char reason[64] = "junk";
    CU_ASSERT_EQUAL (tpc_commit (c, S_GID, &outcome, reason, sizeof reason),
                     0);
    CU_ASSERT_EQUAL (outcome, TPC_CLIENT_COMMITTED);
    CU_ASSERT_STRING_EQUAL (reason, "");
    CU_ASSERT_EQUAL (s_req (0)->type, TPC_MSG_COMMIT);
    CU_ASSERT_STRING_EQUAL (s_req (0)->gid, S_GID);

    CU_ASSERT_EQUAL (tpc_rollback (c, S_GID, &outcome, reason, sizeof reason),
                     0);
    CU_ASSERT_EQUAL (outcome, TPC_CLIENT_ABORTED);
    CU_ASSERT_STRING_EQUAL (reason, "rolled back by client");
    CU_ASSERT_EQUAL (s_req (1)->type, TPC_MSG_ROLLBACK);

    atomic_store (&s_fake.script, s_script_aborts);
    char small[8];
    CU_ASSERT_EQUAL (tpc_commit (c, S_GID, &outcome, small, sizeof small),
                     TPC_CLIENT_EABORTED);
    CU_ASSERT_EQUAL (outcome, TPC_CLIENT_ABORTED);
    CU_ASSERT_STRING_EQUAL (small, "db2 vot");      /* truncated, NUL'd */
    CU_ASSERT_PTR_NOT_NULL (strstr (tpc_client_errmsg (c),
                                    "insufficient funds"));
    /* outcome and reason are optional */
    CU_ASSERT_EQUAL (tpc_commit (c, S_GID, NULL, NULL, 0),
                     TPC_CLIENT_EABORTED);
    tpc_client_destroy (&c);
}

/*  Clients sharing the caller's ZeroMQ context (opts.zmq_context): both
 *  work, destroying one leaves the context (and the other) working, and
 *  the caller can terminate it once both are gone.                       */
static void
test_shared_context (void)
{
    atomic_store (&s_fake.script, s_script_interactive);
    void *ctx = zmq_ctx_new ();
    CU_ASSERT_PTR_NOT_NULL_FATAL (ctx);
    tpc_client_opts_t opts = { .timeout_ms = 2000, .zmq_context = ctx };
    tpc_client_t *a = tpc_client_new (s_fake.endpoint, &opts);
    tpc_client_t *b = tpc_client_new (s_fake.endpoint, &opts);
    CU_ASSERT_PTR_NOT_NULL_FATAL (a);
    CU_ASSERT_PTR_NOT_NULL_FATAL (b);
    tpc_client_outcome_t outcome = TPC_CLIENT_OUTCOME_UNKNOWN;
    CU_ASSERT_EQUAL (tpc_commit (a, S_GID, &outcome, NULL, 0), 0);
    CU_ASSERT_EQUAL (outcome, TPC_CLIENT_COMMITTED);
    tpc_client_destroy (&a);
    outcome = TPC_CLIENT_OUTCOME_UNKNOWN;
    CU_ASSERT_EQUAL (tpc_commit (b, S_GID, &outcome, NULL, 0), 0);
    CU_ASSERT_EQUAL (outcome, TPC_CLIENT_COMMITTED);
    tpc_client_destroy (&b);
    CU_ASSERT_EQUAL (s_nreqs (), 2);
    CU_ASSERT_EQUAL (zmq_ctx_term (ctx), 0);    /* no socket left in it */
}

static void
test_submit (void)
{
    atomic_store (&s_fake.script, s_script_interactive);
    tpc_client_t *c = s_client (2000);
    CU_ASSERT_PTR_NOT_NULL_FATAL (c);
    const char *p1[] = { "10", "1" };
    const char *p2[] = { "10", NULL };
    tpc_client_stmt_t stmts[] = {
        { "db1", "UPDATE acct SET bal = bal - $1 WHERE id = $2", 2, p1 },
        { "db2", "UPDATE acct SET bal = bal + $1 WHERE id = coalesce($2, 1)",
          2, p2 },
        { "db2", "INSERT INTO audit VALUES ('transfer')", 0, NULL },
    };
    char gid[TPC_CLIENT_GID_MAX];
    tpc_client_outcome_t outcome;
    char reason[128];
    tpc_txn_opts_t opts = { .protocol = "2pc" };
    CU_ASSERT_EQUAL (tpc_submit (c, stmts, 3, &opts, gid, &outcome, reason,
                                 sizeof reason), 0);
    CU_ASSERT_EQUAL (outcome, TPC_CLIENT_COMMITTED);
    CU_ASSERT_STRING_EQUAL (gid, S_GID);
    const tpc_msg_t *r = s_req (0);
    CU_ASSERT_PTR_NOT_NULL_FATAL (r);
    CU_ASSERT_EQUAL (r->type, TPC_MSG_SUBMIT);
    CU_ASSERT (r->has_protocol && r->protocol == TPC_PROTO_2PC);
    CU_ASSERT_EQUAL (r->timeout_ms, 0);
    CU_ASSERT_EQUAL_FATAL (r->nstmts, 3);
    CU_ASSERT_STRING_EQUAL (r->stmts[0].on, "db1");
    CU_ASSERT_STRING_EQUAL (r->stmts[1].on, "db2");
    CU_ASSERT_STRING_EQUAL (r->stmts[1].sql, stmts[1].sql);
    CU_ASSERT_EQUAL_FATAL (r->stmts[1].nparams, 2);
    CU_ASSERT_STRING_EQUAL (r->stmts[1].params[0], "10");
    CU_ASSERT_PTR_NULL (r->stmts[1].params[1]);
    CU_ASSERT_EQUAL (r->stmts[2].nparams, 0);

    atomic_store (&s_fake.script, s_script_aborts);
    CU_ASSERT_EQUAL (tpc_submit (c, stmts, 2, NULL, gid, &outcome, reason,
                                 sizeof reason), TPC_CLIENT_EABORTED);
    CU_ASSERT_EQUAL (outcome, TPC_CLIENT_ABORTED);
    CU_ASSERT_STRING_EQUAL (gid, S_GID);
    CU_ASSERT_STRING_EQUAL (reason, "db2 voted no: insufficient funds");
    CU_ASSERT (!s_req (1)->has_protocol);

    /* a statement without its participant is refused locally */
    tpc_client_stmt_t nowhere = { NULL, "SELECT 1", 0, NULL };
    CU_ASSERT_EQUAL (tpc_submit (c, &nowhere, 1, NULL, gid, &outcome, NULL,
                                 0), TPC_CLIENT_EINVAL);
    CU_ASSERT_EQUAL (tpc_submit (c, stmts, 0, NULL, gid, &outcome, NULL, 0),
                     TPC_CLIENT_EINVAL);
    CU_ASSERT_EQUAL (s_nreqs (), 2);
    tpc_client_destroy (&c);
}

static void
test_status_list (void)
{
    atomic_store (&s_fake.script, s_script_interactive);
    tpc_client_t *c = s_client (2000);
    CU_ASSERT_PTR_NOT_NULL_FATAL (c);
    tpc_client_outcome_t outcome;
    char state[32];
    CU_ASSERT_EQUAL (tpc_status (c, S_GID, &outcome, state, sizeof state), 0);
    CU_ASSERT_EQUAL (outcome, TPC_CLIENT_IN_PROGRESS);
    CU_ASSERT_STRING_EQUAL (state, "prepared");
    CU_ASSERT_STRING_EQUAL (tpc_client_outcome_name (outcome), "in_progress");

    tpc_txlist_t *list = NULL;
    CU_ASSERT_EQUAL (tpc_list (c, &list), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL (list);
    CU_ASSERT_EQUAL (tpc_txlist_size (list), 2);
    CU_ASSERT_STRING_EQUAL (tpc_txlist_gid (list, 0), S_GID);
    CU_ASSERT_STRING_EQUAL (tpc_txlist_state (list, 0), "prepared");
    CU_ASSERT_EQUAL (tpc_txlist_age_ms (list, 0), 1500);
    CU_ASSERT_EQUAL (tpc_txlist_nparts (list, 0), 2);
    CU_ASSERT_STRING_EQUAL (tpc_txlist_part (list, 0, 1), "db2");
    CU_ASSERT_PTR_NULL (tpc_txlist_part (list, 0, 2));
    CU_ASSERT_EQUAL (tpc_txlist_nparts (list, 1), 0);
    CU_ASSERT_PTR_NULL (tpc_txlist_gid (list, 2));
    tpc_txlist_destroy (&list);
    CU_ASSERT_PTR_NULL (list);
    tpc_client_destroy (&c);
}

/*  The coordinator's answer to a request it could not read: rid 0.       */
static void
s_script_rid0_error (s_fake_t *f, const tpc_msg_t *req, int n)
{
    (void) n;
    (void) req;
    s_reply (f, "{\"v\":1,\"type\":\"error\",\"rid\":0,\"code\":-102,"
             "\"message\":\"message is not valid JSON\"}");
}

/*  Regression: an error with rid 0 may answer an OLDER request of ours, so
 *  it must not count as a definite failure of a commit: in doubt.        */
static void
test_rid0_error_is_doubt (void)
{
    atomic_store (&s_fake.script, s_script_rid0_error);
    tpc_client_t *c = s_client (2000);
    CU_ASSERT_PTR_NOT_NULL_FATAL (c);
    tpc_client_outcome_t outcome = TPC_CLIENT_COMMITTED;
    CU_ASSERT_EQUAL (tpc_commit (c, S_GID, &outcome, NULL, 0),
                     TPC_CLIENT_EIN_DOUBT);
    CU_ASSERT_EQUAL (outcome, TPC_CLIENT_OUTCOME_UNKNOWN);
    char gid[TPC_CLIENT_GID_MAX];
    tpc_client_stmt_t st = { "db1", "SELECT 1", 0, NULL };
    CU_ASSERT_EQUAL (tpc_submit (c, &st, 1, NULL, gid, &outcome, NULL, 0),
                     TPC_CLIENT_EIN_DOUBT);
    CU_ASSERT (strstr (tpc_client_errmsg (c), "not valid JSON") != NULL);
    tpc_client_destroy (&c);
}

static void
test_error_reply (void)
{
    atomic_store (&s_fake.script, s_script_db_error);
    tpc_client_t *c = s_client (2000);
    CU_ASSERT_PTR_NOT_NULL_FATAL (c);
    tpc_result_t *res = (tpc_result_t *) 1;
    CU_ASSERT_EQUAL (tpc_exec (c, S_GID, "db1", "SELECT * FROM nope", 0, NULL,
                               &res), TPC_CLIENT_EDB);
    CU_ASSERT_PTR_NULL (res);
    CU_ASSERT_STRING_EQUAL (tpc_client_errmsg (c),
                            "db1: relation \"nope\" does not exist");
    CU_ASSERT_STRING_EQUAL (tpc_client_strerror (TPC_CLIENT_EDB),
                            "database error");

    /* an error reply to submit still hands back the gid it names */
    char gid[TPC_CLIENT_GID_MAX];
    tpc_client_outcome_t outcome;
    tpc_client_stmt_t st = { "db1", "SELECT * FROM nope", 0, NULL };
    CU_ASSERT_EQUAL (tpc_submit (c, &st, 1, NULL, gid, &outcome, NULL, 0),
                     TPC_CLIENT_EDB);
    CU_ASSERT_STRING_EQUAL (gid, S_GID);
    CU_ASSERT_EQUAL (outcome, TPC_CLIENT_OUTCOME_UNKNOWN);

    atomic_store (&s_fake.script, s_script_unknown_gid);
    CU_ASSERT_EQUAL (tpc_status (c, "tpc_c1_1_42", &outcome, NULL, 0),
                     TPC_CLIENT_EUNKNOWN_GID);
    CU_ASSERT_STRING_EQUAL (tpc_client_errmsg (c),
                            "no transaction tpc_c1_1_42");
    tpc_client_destroy (&c);
}

static void
test_timeout_in_doubt (void)
{
    atomic_store (&s_fake.script, s_script_silent);
    tpc_client_t *c = s_client (300);
    CU_ASSERT_PTR_NOT_NULL_FATAL (c);
    tpc_client_outcome_t outcome = TPC_CLIENT_COMMITTED;
    char reason[32] = "junk";
    CU_ASSERT_EQUAL (tpc_commit (c, S_GID, &outcome, reason, sizeof reason),
                     TPC_CLIENT_EIN_DOUBT);
    CU_ASSERT_EQUAL (outcome, TPC_CLIENT_OUTCOME_UNKNOWN);
    CU_ASSERT_STRING_EQUAL (reason, "");
    CU_ASSERT_PTR_NOT_NULL (strstr (tpc_client_errmsg (c), "tpc_status"));
    CU_ASSERT_PTR_NOT_NULL (strstr (tpc_client_errmsg (c), S_GID));
    CU_ASSERT_EQUAL (s_nreqs (), 1);   /* it was sent: hence the doubt */

    char gid[TPC_CLIENT_GID_MAX] = "junk";
    tpc_client_stmt_t st = { "db1", "UPDATE t SET x = 1", 0, NULL };
    CU_ASSERT_EQUAL (tpc_submit (c, &st, 1, NULL, gid, &outcome, NULL, 0),
                     TPC_CLIENT_EIN_DOUBT);
    CU_ASSERT_EQUAL (outcome, TPC_CLIENT_OUTCOME_UNKNOWN);
    CU_ASSERT_STRING_EQUAL (gid, "");
    CU_ASSERT_EQUAL (tpc_rollback (c, S_GID, &outcome, NULL, 0),
                     TPC_CLIENT_EIN_DOUBT);

    /* requests that decide nothing simply time out */
    CU_ASSERT_EQUAL (tpc_begin (c, NULL, gid), TPC_CLIENT_ETIMEDOUT);
    CU_ASSERT_EQUAL (tpc_status (c, S_GID, &outcome, NULL, 0),
                     TPC_CLIENT_ETIMEDOUT);
    tpc_client_destroy (&c);

    /* nobody listening: nothing is sent, and the caller is told so */
    char dead[128];
    s_dead_endpoint (dead, sizeof dead);
    tpc_client_opts_t opts = { .timeout_ms = 200 };
    c = tpc_client_new (dead, &opts);
    CU_ASSERT_PTR_NOT_NULL_FATAL (c);
    CU_ASSERT_EQUAL (tpc_commit (c, S_GID, &outcome, NULL, 0),
                     TPC_CLIENT_ECONNECT);
    CU_ASSERT_EQUAL (outcome, TPC_CLIENT_OUTCOME_UNKNOWN);
    CU_ASSERT_PTR_NOT_NULL (strstr (tpc_client_errmsg (c), "not reachable"));
    tpc_client_destroy (&c);
}

static void
test_stale_reply (void)
{
    atomic_store (&s_fake.script, s_script_stale);
    tpc_client_t *c = s_client (300);
    CU_ASSERT_PTR_NOT_NULL_FATAL (c);
    tpc_client_outcome_t outcome;
    char state[32];
    CU_ASSERT_EQUAL (tpc_status (c, S_GID, &outcome, state, sizeof state),
                     TPC_CLIENT_ETIMEDOUT);
    /* the second call sees the stale answer (rid 1) first: it must skip it */
    CU_ASSERT_EQUAL (tpc_status (c, S_GID, &outcome, state, sizeof state), 0);
    CU_ASSERT_EQUAL (s_req (1)->rid, 2);
    CU_ASSERT_EQUAL (outcome, TPC_CLIENT_ABORTED);
    CU_ASSERT_STRING_EQUAL (state, "aborted");
    tpc_client_destroy (&c);
}

static void
test_malformed_reply (void)
{
    atomic_store (&s_fake.script, s_script_malformed);
    tpc_client_t *c = s_client (1000);
    CU_ASSERT_PTR_NOT_NULL_FATAL (c);
    tpc_client_outcome_t outcome;
    char state[32];
    /* 0: not JSON */
    CU_ASSERT_EQUAL (tpc_status (c, S_GID, &outcome, state, sizeof state),
                     TPC_CLIENT_EPROTO);
    CU_ASSERT_PTR_NOT_NULL (strstr (tpc_client_errmsg (c), "malformed"));
    CU_ASSERT_PTR_NOT_NULL (strstr (tpc_client_errmsg (c), "TPC_EMSG_SYNTAX"));
    /* 1: required fields missing */
    CU_ASSERT_EQUAL (tpc_status (c, S_GID, &outcome, state, sizeof state),
                     TPC_CLIENT_EPROTO);
    CU_ASSERT_PTR_NOT_NULL (strstr (tpc_client_errmsg (c), "malformed"));
    /* 2: two frames */
    CU_ASSERT_EQUAL (tpc_status (c, S_GID, &outcome, state, sizeof state),
                     TPC_CLIENT_EPROTO);
    CU_ASSERT_PTR_NOT_NULL (strstr (tpc_client_errmsg (c), "frames"));
    /* 3: the wrong reply type */
    CU_ASSERT_EQUAL (tpc_status (c, S_GID, &outcome, state, sizeof state),
                     TPC_CLIENT_EPROTO);
    CU_ASSERT_PTR_NOT_NULL (strstr (tpc_client_errmsg (c), "\"begun\""));
    /* 4, 5: a commit answered with garbage, or about another gid: doubt */
    CU_ASSERT_EQUAL (tpc_commit (c, S_GID, &outcome, NULL, 0),
                     TPC_CLIENT_EIN_DOUBT);
    CU_ASSERT_EQUAL (outcome, TPC_CLIENT_OUTCOME_UNKNOWN);
    CU_ASSERT_PTR_NOT_NULL (strstr (tpc_client_errmsg (c), "malformed"));
    CU_ASSERT_EQUAL (tpc_commit (c, S_GID, &outcome, NULL, 0),
                     TPC_CLIENT_EIN_DOUBT);
    CU_ASSERT_EQUAL (outcome, TPC_CLIENT_OUTCOME_UNKNOWN);
    CU_ASSERT_PTR_NOT_NULL (strstr (tpc_client_errmsg (c), "tpc_c1_1_999"));
    /* 6: and the client still works */
    CU_ASSERT_EQUAL (tpc_status (c, S_GID, &outcome, state, sizeof state), 0);
    CU_ASSERT_STRING_EQUAL (state, "prepared");
    tpc_client_destroy (&c);
}

static void
test_client_new (void)
{
    tpc_client_t *c = tpc_client_new ("no-such-transport://x", NULL);
    CU_ASSERT_PTR_NULL (c);
    tpc_client_opts_t bad = { .timeout_ms = -1 };
    CU_ASSERT_PTR_NULL (tpc_client_new (s_fake.endpoint, &bad));
    c = tpc_client_new (NULL, NULL);  /* default endpoint: lazy connect */
    CU_ASSERT_PTR_NOT_NULL (c);
    tpc_client_destroy (&c);
    CU_ASSERT_STRING_EQUAL (tpc_client_errmsg (NULL), "");

    /* a request over the size limit is refused before it is sent */
    atomic_store (&s_fake.script, s_script_interactive);
    tpc_client_opts_t small = { .timeout_ms = 1000, .max_msg_size = 100 };
    c = tpc_client_new (s_fake.endpoint, &small);
    CU_ASSERT_PTR_NOT_NULL_FATAL (c);
    char sql[200];
    memset (sql, 'x', sizeof sql - 1);
    sql[sizeof sql - 1] = '\0';
    CU_ASSERT_EQUAL (tpc_exec (c, S_GID, "db1", sql, 0, NULL, NULL),
                     TPC_CLIENT_EMSG_TOO_BIG);
    CU_ASSERT_EQUAL (s_nreqs (), 0);
    /* a reply over the limit is a protocol error, not a crash */
    tpc_txlist_t *list = NULL;
    CU_ASSERT_EQUAL (tpc_list (c, &list), TPC_CLIENT_EPROTO);
    CU_ASSERT_PTR_NULL (list);
    CU_ASSERT_PTR_NOT_NULL (strstr (tpc_client_errmsg (c), "TOO_BIG"));
    tpc_client_destroy (&c);
}

/* ---------------------------------------------------------------------- */
/*  tpcctl                                                                */

/*  Run tpcctl with ARGV (NULL-terminated, without argv[0]); its stdout
 *  goes to OUT (SIZE bytes, NUL-terminated).  Returns the exit status, or
 *  -1 if it did not exit normally.  ENV_COORD, if not NULL, is put in
 *  TPC_COORDINATOR (else that variable is removed).                      */
static int
s_tpcctl (const char *env_coord, char *out, size_t size, ...)
{
    const char *argv[32] = { TPCCTL_PATH };
    int argc = 1;
    va_list ap;
    va_start (ap, size);
    const char *a;
    while ((a = va_arg (ap, const char *)) && argc < 31)
        argv[argc++] = a;
    va_end (ap);
    argv[argc] = NULL;

    int fds[2];
    if (pipe (fds))
        return -1;
    pid_t pid = fork ();
    if (pid == 0) {
        dup2 (fds[1], 1);
        close (fds[0]);
        close (fds[1]);
        if (env_coord)
            setenv ("TPC_COORDINATOR", env_coord, 1);
        else
            unsetenv ("TPC_COORDINATOR");
        execv (TPCCTL_PATH, (char *const *) argv);
        _exit (127);
    }
    close (fds[1]);
    size_t got = 0;
    ssize_t n;
    while ((n = read (fds[0], out + got, size - 1 - got)) > 0)
        got += (size_t) n;
    out[got] = '\0';
    close (fds[0]);
    int status;
    waitpid (pid, &status, 0);
    return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

#define TPCCTL(out, ...) s_tpcctl (NULL, out, sizeof out, __VA_ARGS__, NULL)

static void
test_tpcctl_usage (void)
{
    char out[8192];
    CU_ASSERT_EQUAL (TPCCTL (out, "help"), 0);
    CU_ASSERT_PTR_NOT_NULL (strstr (out, "exit codes"));
    CU_ASSERT_PTR_NOT_NULL (strstr (out, "4  outcome in doubt"));
    CU_ASSERT_EQUAL (s_tpcctl (NULL, out, sizeof out, NULL), 2);
    CU_ASSERT_EQUAL (TPCCTL (out, "frobnicate"), 2);
    CU_ASSERT_EQUAL (TPCCTL (out, "exec"), 2);
    CU_ASSERT_EQUAL (TPCCTL (out, "exec", "--on", "db1"), 2);
    CU_ASSERT_EQUAL (TPCCTL (out, "exec", "--param", "1", "--on", "db1",
                             "SELECT 1"), 2);
    CU_ASSERT_EQUAL (TPCCTL (out, "exec", "--on", "db1", "SELECT 1",
                             "--protocol", "4pc"), 2);
    CU_ASSERT_EQUAL (TPCCTL (out, "exec", "--on", "db1", "SELECT 1",
                             "stray"), 2);
    CU_ASSERT_EQUAL (TPCCTL (out, "--timeout-ms", "abc", "list"), 2);
    CU_ASSERT_EQUAL (TPCCTL (out, "--timeout-ms", "0", "list"), 2);
    CU_ASSERT_EQUAL (TPCCTL (out, "list", "--coordinator"), 2);
    CU_ASSERT_EQUAL (TPCCTL (out, "list", "extra"), 2);
    CU_ASSERT_EQUAL (TPCCTL (out, "status", S_GID, S_GID), 2);
    CU_ASSERT_EQUAL (TPCCTL (out, "resolve", S_GID, "commit"), 2);
    CU_ASSERT_EQUAL (TPCCTL (out, "resolve", S_GID, "--force"), 2);
    CU_ASSERT_EQUAL (TPCCTL (out, "keygen", "bad name", "/tmp"), 2);
    CU_ASSERT_EQUAL (TPCCTL (out, "status", "not_a_gid"), 2);
    CU_ASSERT_EQUAL (TPCCTL (out, "show", S_GID, S_GID), 2);
    CU_ASSERT_EQUAL (TPCCTL (out, "--coordinator", "bogus", "list"), 2);
    /* `log` is handed to its own module, argv from the command word on */
    CU_ASSERT_EQUAL (TPCCTL (out, "log", "--help"), 0);
    CU_ASSERT_PTR_NOT_NULL (strstr (out, "tpcctl log dump"));
    CU_ASSERT_EQUAL (TPCCTL (out, "log", "verify", "/nonexistent/tpc/log"), 1);
    CU_ASSERT_EQUAL (s_nreqs (), 0);    /* none of these reached the fake */
}

static void
test_tpcctl_unreachable (void)
{
    char out[4096], dead[128];
    s_dead_endpoint (dead, sizeof dead);
    CU_ASSERT_EQUAL (TPCCTL (out, "--coordinator", dead, "--timeout-ms",
                             "200", "list"), 3);
    CU_ASSERT_EQUAL (TPCCTL (out, "--coordinator", dead, "--timeout-ms",
                             "200", "exec", "--on", "db1", "SELECT 1"), 3);
    CU_ASSERT_STRING_EQUAL (out, "");
    /* the endpoint can come from the environment */
    CU_ASSERT_EQUAL (s_tpcctl (dead, out, sizeof out, "--timeout-ms", "200",
                               "status", S_GID, NULL), 3);
    /* a silent coordinator: no reply is "unreachable" for a read ... */
    atomic_store (&s_fake.script, s_script_silent);
    CU_ASSERT_EQUAL (TPCCTL (out, "--coordinator", s_fake.endpoint,
                             "--timeout-ms", "200", "list"), 3);
    /* ... and for a transaction that was begun, nothing run, nothing
     * committed: unreachable too                                         */
    CU_ASSERT_EQUAL (TPCCTL (out, "--coordinator", s_fake.endpoint,
                             "--timeout-ms", "200", "exec", "--on", "db1",
                             "UPDATE t SET x = 1"), 3);
    CU_ASSERT_EQUAL (s_nreqs (), 2);
    /* a commit with no answer is "in doubt", and the gid is known (exec
     * begins first, so that the operator can ask `status GID`)           */
    atomic_store (&s_fake.script, s_script_commit_silent);
    CU_ASSERT_EQUAL (TPCCTL (out, "--coordinator", s_fake.endpoint,
                             "--timeout-ms", "300", "exec", "--on", "db1",
                             "UPDATE t SET x = 1"), 4);
    printf ("\n    commit unanswered: exit 4: %s", out);
    CU_ASSERT_PTR_NOT_NULL (strstr (out, "\nin_doubt gid=" S_GID "\n"));
    /* under --json an error is one JSON object on stdout, same exit     */
    CU_ASSERT_EQUAL (TPCCTL (out, "--coordinator", dead, "--timeout-ms",
                             "200", "--json", "list"), 3);
    printf ("\n    --json unreachable: %s", out);
    cJSON *doc = cJSON_Parse (out);
    CU_ASSERT_PTR_NOT_NULL_FATAL (doc);
    cJSON *e = cJSON_GetObjectItem (doc, "error");
    CU_ASSERT_PTR_NOT_NULL_FATAL (e);
    CU_ASSERT (cJSON_IsNumber (cJSON_GetObjectItem (e, "code")));
    CU_ASSERT_PTR_NOT_NULL (cJSON_GetStringValue (cJSON_GetObjectItem (
                            e, "name")));
    cJSON_Delete (doc);
}

static void
test_tpcctl_exec (void)
{
    char out[4096];
    atomic_store (&s_fake.script, s_script_interactive);
    CU_ASSERT_EQUAL (TPCCTL (out, "--coordinator", s_fake.endpoint, "exec",
                             "--on", "db1",
                             "UPDATE acct SET bal = bal - $1 WHERE id = $2",
                             "--param", "10", "--param", "1",
                             "--on", "db2",
                             "UPDATE acct SET bal = bal + $1 WHERE id = $2",
                             "--param", "10", "--null",
                             "--protocol", "3pc", "--txn-timeout-ms", "9000"),
                     0);
    /* exec runs begin, exec ..., commit: the gid is known before the
     * commit, and rows come back (the fake answers rows to any exec)     */
    const tpc_msg_t *r = s_req (0);
    CU_ASSERT_PTR_NOT_NULL_FATAL (r);
    CU_ASSERT_EQUAL (r->type, TPC_MSG_BEGIN);
    CU_ASSERT (r->has_protocol && r->protocol == TPC_PROTO_3PC);
    CU_ASSERT_EQUAL (r->timeout_ms, 9000);
    r = s_req (1);
    CU_ASSERT_PTR_NOT_NULL_FATAL (r);
    CU_ASSERT_EQUAL (r->type, TPC_MSG_EXEC);
    CU_ASSERT_STRING_EQUAL (r->on, "db1");
    CU_ASSERT_EQUAL_FATAL (r->nparams, 2);
    CU_ASSERT_STRING_EQUAL (r->params[1], "1");
    r = s_req (2);
    CU_ASSERT_PTR_NOT_NULL_FATAL (r);
    CU_ASSERT_STRING_EQUAL (r->on, "db2");
    CU_ASSERT_EQUAL_FATAL (r->nparams, 2);
    CU_ASSERT_PTR_NULL (r->params[1]);
    r = s_req (3);
    CU_ASSERT_PTR_NOT_NULL_FATAL (r);
    CU_ASSERT_EQUAL (r->type, TPC_MSG_COMMIT);

    atomic_store (&s_fake.script, s_script_commit_aborts);
    CU_ASSERT_EQUAL (s_tpcctl (s_fake.endpoint, out, sizeof out, "exec",
                               "--on", "db1", "UPDATE t SET x = 1", NULL), 1);
    CU_ASSERT_PTR_NOT_NULL (strstr (out, "aborted gid=" S_GID
                            " reason=db2 voted no: insufficient funds\n"));

    atomic_store (&s_fake.script, s_script_db_error);
    CU_ASSERT_EQUAL (TPCCTL (out, "--coordinator", s_fake.endpoint, "--json",
                             "exec", "--on", "db1", "SELECT * FROM nope"), 1);
    cJSON *doc = cJSON_Parse (out);
    CU_ASSERT_PTR_NOT_NULL_FATAL (doc);
    CU_ASSERT_STRING_EQUAL (cJSON_GetStringValue (
                            cJSON_GetObjectItem (doc, "outcome")), "error");
    cJSON *e = cJSON_GetObjectItem (doc, "error");
    CU_ASSERT_PTR_NOT_NULL_FATAL (e);
    CU_ASSERT_EQUAL (cJSON_GetObjectItem (e, "code")->valueint, -11);
    CU_ASSERT_STRING_EQUAL (cJSON_GetStringValue (
                            cJSON_GetObjectItem (e, "name")), "TPC_EDB");
    cJSON_Delete (doc);
}

/*  A SELECT's rows are printed (item 14): unaligned text, NULL empty,
 *  and in --json an array per statement.                                */
static void
test_tpcctl_exec_rows (void)
{
    char out[4096];
    atomic_store (&s_fake.script, s_script_interactive);
    CU_ASSERT_EQUAL (TPCCTL (out, "--coordinator", s_fake.endpoint, "exec",
                             "--on", "db1", "SELECT id, owner FROM acct"), 0);
    printf ("\n    exec SELECT:\n%s", out);
    CU_ASSERT_STRING_EQUAL (out, "id|owner\n1|ann\n2|\n(2 rows)\n"
                            "committed gid=" S_GID "\n");
    CU_ASSERT_EQUAL (TPCCTL (out, "--coordinator", s_fake.endpoint, "exec",
                             "--on", "db1", "SELECT id, owner FROM acct",
                             "--json"), 0);
    printf ("    exec SELECT --json: %s", out);
    cJSON *doc = cJSON_Parse (out);
    CU_ASSERT_PTR_NOT_NULL_FATAL (doc);
    CU_ASSERT_STRING_EQUAL (cJSON_GetStringValue (
                            cJSON_GetObjectItem (doc, "outcome")), "committed");
    cJSON *res = cJSON_GetArrayItem (cJSON_GetObjectItem (doc, "results"), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL (res);
    CU_ASSERT_STRING_EQUAL (cJSON_GetStringValue (
                            cJSON_GetObjectItem (res, "on")), "db1");
    cJSON *rows = cJSON_GetObjectItem (res, "rows");
    CU_ASSERT_EQUAL (cJSON_GetArraySize (rows), 2);
    CU_ASSERT_STRING_EQUAL (cJSON_GetStringValue (cJSON_GetArrayItem (
                            cJSON_GetArrayItem (rows, 0), 1)), "ann");
    CU_ASSERT (cJSON_IsNull (cJSON_GetArrayItem (cJSON_GetArrayItem (rows, 1),
                                                 1)));
    CU_ASSERT_EQUAL (cJSON_GetObjectItem (res, "affected")->valueint, 2);
    cJSON_Delete (doc);
}

/*  begin, exec --gid, commit, rollback by hand (item 14).                */
static void
test_tpcctl_interactive (void)
{
    char out[4096];
    const char *ep = s_fake.endpoint;
    atomic_store (&s_fake.script, s_script_interactive);
    CU_ASSERT_EQUAL (TPCCTL (out, "--coordinator", ep, "begin", "--protocol",
                             "3pc", "--txn-timeout-ms", "60000"), 0);
    printf ("\n    begin: %s", out);
    CU_ASSERT_STRING_EQUAL (out, S_GID "\n");
    const tpc_msg_t *r = s_req (0);
    CU_ASSERT_PTR_NOT_NULL_FATAL (r);
    CU_ASSERT_EQUAL (r->type, TPC_MSG_BEGIN);
    CU_ASSERT_EQUAL (r->timeout_ms, 60000);
    CU_ASSERT_EQUAL (TPCCTL (out, "--coordinator", ep, "exec", "--gid", S_GID,
                             "--on", "db1", "SELECT id, owner FROM acct WHERE "
                             "id = $1", "--param", "1"), 0);
    printf ("    exec --gid:\n%s", out);
    CU_ASSERT_STRING_EQUAL (out, "id|owner\n1|ann\n2|\n(2 rows)\n"
                            "open gid=" S_GID "\n");
    r = s_req (1);
    CU_ASSERT_PTR_NOT_NULL_FATAL (r);
    CU_ASSERT_EQUAL (r->type, TPC_MSG_EXEC);
    CU_ASSERT_STRING_EQUAL (r->gid, S_GID);
    CU_ASSERT_EQUAL (s_nreqs (), 2);    /* no commit */
    CU_ASSERT_EQUAL (TPCCTL (out, "--coordinator", ep, "commit", S_GID), 0);
    CU_ASSERT_STRING_EQUAL (out, "committed gid=" S_GID "\n");
    CU_ASSERT_EQUAL (TPCCTL (out, "--coordinator", ep, "--json", "rollback",
                             S_GID), 0);
    printf ("    rollback --json: %s", out);
    CU_ASSERT_PTR_NOT_NULL (strstr (out, "\"outcome\":\"aborted\""));
    CU_ASSERT_EQUAL (TPCCTL (out, "--coordinator", ep, "rollback", S_GID), 0);
    CU_ASSERT_STRING_EQUAL (out, "aborted gid=" S_GID
                            " reason=rolled back by client\n");
    r = s_req (4);
    CU_ASSERT_PTR_NOT_NULL_FATAL (r);
    CU_ASSERT_EQUAL (r->type, TPC_MSG_ROLLBACK);
    /* usage: a gid is needed and checked; --gid takes no --protocol      */
    CU_ASSERT_EQUAL (TPCCTL (out, "commit"), 2);
    CU_ASSERT_EQUAL (TPCCTL (out, "rollback", "nogid"), 2);
    CU_ASSERT_EQUAL (TPCCTL (out, "begin", "extra"), 2);
    CU_ASSERT_EQUAL (TPCCTL (out, "exec", "--gid", "nogid", "--on", "db1",
                             "SELECT 1"), 2);
    CU_ASSERT_EQUAL (TPCCTL (out, "exec", "--gid", S_GID, "--on", "db1",
                             "SELECT 1", "--protocol", "3pc"), 2);
    CU_ASSERT_EQUAL (s_nreqs (), 5);
}

/*  --version; `status` exits 4 while transactions are in doubt (item
 *  15); show --json of an ended transaction says what is not known
 *  (item 13).                                                           */
static void
test_tpcctl_version_summary (void)
{
    char out[4096];
    const char *ep = s_fake.endpoint;
    CU_ASSERT_EQUAL (TPCCTL (out, "--version"), 0);
    printf ("\n    --version: %s", out);
    CU_ASSERT_STRING_EQUAL (out, "tpcctl (tpc) " TPC_VERSION "\n");
    atomic_store (&s_fake.script, s_script_summary);
    /* request 0: nothing in doubt */
    CU_ASSERT_EQUAL (TPCCTL (out, "--coordinator", ep, "status"), 0);
    CU_ASSERT_PTR_NOT_NULL (strstr (out, "in_doubt=0"));
    /* request 1: one in doubt */
    CU_ASSERT_EQUAL (TPCCTL (out, "--coordinator", ep, "status"), 4);
    printf ("    status, in doubt: exit 4: %s", out);
    CU_ASSERT_PTR_NOT_NULL (strstr (out, "in_doubt=1"));
    CU_ASSERT_EQUAL (TPCCTL (out, "--coordinator", ep, "status", "--json"), 4);
    cJSON *doc = cJSON_Parse (out);
    CU_ASSERT_PTR_NOT_NULL_FATAL (doc);
    CU_ASSERT_EQUAL (cJSON_GetObjectItem (doc, "in_doubt")->valueint, 2);
    cJSON_Delete (doc);
    CU_ASSERT_EQUAL (TPCCTL (out, "--coordinator", ep, "--json", "show",
                             S_GID), 0);
    printf ("    show --json, ended: %s", out);
    doc = cJSON_Parse (out);
    CU_ASSERT_PTR_NOT_NULL_FATAL (doc);
    CU_ASSERT_STRING_EQUAL (cJSON_GetStringValue (
                            cJSON_GetObjectItem (doc, "outcome")), "committed");
    CU_ASSERT (cJSON_IsFalse (cJSON_GetObjectItem (doc, "in_flight")));
    CU_ASSERT (cJSON_IsNull (cJSON_GetObjectItem (doc, "participants")));
    CU_ASSERT (cJSON_IsNull (cJSON_GetObjectItem (doc, "age_ms")));
    cJSON_Delete (doc);
    CU_ASSERT_EQUAL (TPCCTL (out, "--coordinator", ep, "show", S_GID), 0);
    CU_ASSERT_PTR_NOT_NULL (strstr (out, "participants: (not known"));
    /* --json before `log` reaches it; its errors are JSON too            */
    CU_ASSERT_EQUAL (TPCCTL (out, "--json", "log", "verify",
                             "/nonexistent/tpc/log"), 1);
    printf ("    --json log verify missing: %s", out);
    doc = cJSON_Parse (out);
    CU_ASSERT_PTR_NOT_NULL_FATAL (doc);
    CU_ASSERT_PTR_NOT_NULL (cJSON_GetObjectItem (doc, "error"));
    cJSON_Delete (doc);
}

static void
test_tpcctl_read (void)
{
    char out[8192];
    const char *ep = s_fake.endpoint;
    atomic_store (&s_fake.script, s_script_interactive);
    CU_ASSERT_EQUAL (TPCCTL (out, "--coordinator", ep, "status", S_GID), 0);
    CU_ASSERT_STRING_EQUAL (out, "gid=" S_GID
                            " outcome=in_progress state=prepared\n");

    CU_ASSERT_EQUAL (TPCCTL (out, "list", "--coordinator", ep), 0);
    CU_ASSERT_PTR_NOT_NULL (strstr (out, S_GID));
    CU_ASSERT_PTR_NOT_NULL (strstr (out, "db1,db2"));
    CU_ASSERT_PTR_NOT_NULL (strstr (out, "1500"));

    CU_ASSERT_EQUAL (TPCCTL (out, "--json", "--coordinator", ep, "list"), 0);
    cJSON *doc = cJSON_Parse (out);
    CU_ASSERT_PTR_NOT_NULL_FATAL (doc);
    cJSON *txns = cJSON_GetObjectItem (doc, "txns");
    CU_ASSERT_EQUAL (cJSON_GetArraySize (txns), 2);
    cJSON *t0 = cJSON_GetArrayItem (txns, 0);
    CU_ASSERT_STRING_EQUAL (cJSON_GetStringValue (
                            cJSON_GetObjectItem (t0, "gid")), S_GID);
    CU_ASSERT_EQUAL (cJSON_GetObjectItem (t0, "age_ms")->valueint, 1500);
    CU_ASSERT_EQUAL (cJSON_GetArraySize (
                     cJSON_GetObjectItem (t0, "participants")), 2);
    cJSON_Delete (doc);

    CU_ASSERT_EQUAL (TPCCTL (out, "--coordinator", ep, "show", S_GID,
                             "--json"), 0);
    doc = cJSON_Parse (out);
    CU_ASSERT_PTR_NOT_NULL_FATAL (doc);
    CU_ASSERT_STRING_EQUAL (cJSON_GetStringValue (
                            cJSON_GetObjectItem (doc, "state")), "prepared");
    CU_ASSERT_STRING_EQUAL (cJSON_GetStringValue (
                            cJSON_GetObjectItem (doc, "outcome")),
                            "in_progress");
    CU_ASSERT (cJSON_IsTrue (cJSON_GetObjectItem (doc, "in_flight")));
    cJSON *parts = cJSON_GetObjectItem (doc, "participants");
    CU_ASSERT_STRING_EQUAL (cJSON_GetStringValue (
                            cJSON_GetArrayItem (parts, 1)), "db2");
    cJSON_Delete (doc);

    CU_ASSERT_EQUAL (TPCCTL (out, "--coordinator", ep, "show", S_GID), 0);
    CU_ASSERT_PTR_NOT_NULL (strstr (out, "participants: db1 db2"));

    CU_ASSERT_EQUAL (TPCCTL (out, "--coordinator", ep, "--json", "status",
                             S_GID), 0);
    doc = cJSON_Parse (out);
    CU_ASSERT_PTR_NOT_NULL (doc);
    cJSON_Delete (doc);

    atomic_store (&s_fake.script, s_script_unknown_gid);
    CU_ASSERT_EQUAL (TPCCTL (out, "--coordinator", ep, "status",
                             "tpc_c1_1_42"), 1);
    CU_ASSERT_STRING_EQUAL (out, "");
    CU_ASSERT_EQUAL (TPCCTL (out, "--coordinator", ep, "--json", "status",
                             "tpc_c1_1_42"), 1);
    printf ("\n    --json status, unknown gid: %s", out);
    doc = cJSON_Parse (out);
    CU_ASSERT_PTR_NOT_NULL_FATAL (doc);
    cJSON *e = cJSON_GetObjectItem (doc, "error");
    CU_ASSERT_PTR_NOT_NULL_FATAL (e);
    CU_ASSERT_EQUAL (cJSON_GetObjectItem (e, "code")->valueint, -300);
    CU_ASSERT_STRING_EQUAL (cJSON_GetStringValue (
                            cJSON_GetObjectItem (e, "name")),
                            "TPC_EUNKNOWN_GID");
    CU_ASSERT_PTR_NOT_NULL (strstr (cJSON_GetStringValue (
                            cJSON_GetObjectItem (e, "message")),
                            "tpc_c1_1_42"));
    cJSON_Delete (doc);
}

/* ---------------------------------------------------------------------- */
/*  HA groups: endpoint lists, not_leader, failover.                      */

/*  A follower that knows the leader: s_fake.                              */
static void
s_script_follower_named (s_fake_t *f, const tpc_msg_t *req, int n)
{
    (void) n;
    s_reply (f, "{\"v\":1,\"type\":\"error\",\"rid\":%llu,\"code\":-19,"
             "\"message\":\"this coordinator is not the leader of its "
             "group\",\"leader\":\"%s\"}", RID (req), s_fake.endpoint);
}

/*  A follower that does not know the leader (yet).                        */
static void
s_script_follower_unknown (s_fake_t *f, const tpc_msg_t *req, int n)
{
    (void) n;
    s_reply (f, "{\"v\":1,\"type\":\"error\",\"rid\":%llu,\"code\":-19,"
             "\"message\":\"this coordinator is not the leader of its "
             "group\",\"leader\":\"\"}", RID (req));
}

/*  A leader that dies with the commit on it: no reply, link closed.       */
static void
s_script_dies_at_commit (s_fake_t *f, const tpc_msg_t *req, int n)
{
    (void) n;
    if (req->type == TPC_MSG_COMMIT)
        atomic_store (&f->die, true);
    else
        s_script_interactive (f, req, n);
}

/*  The new leader after a takeover: knows S_GID committed.                */
static void
s_script_took_over (s_fake_t *f, const tpc_msg_t *req, int n)
{
    (void) n;
    if (req->type == TPC_MSG_STATUS)
        s_reply (f, "{\"v\":1,\"type\":\"txstatus\",\"rid\":%llu,"
                 "\"gid\":\"%s\",\"state\":\"committed\","
                 "\"outcome\":\"committed\"}", RID (req), req->gid);
    else
        s_script_interactive (f, req, n);
}

static tpc_client_t *
s_group_client (const char *first, const char *second, int timeout_ms)
{
    char list[300];
    snprintf (list, sizeof list, "%s, %s", first, second);
    tpc_client_opts_t opts = { .timeout_ms = timeout_ms };
    return tpc_client_new (list, &opts);
}

static void
test_ha_not_leader_named (void)
{
    CU_ASSERT_EQUAL_FATAL (s_fake_start_on (&s_fake2), 0);
    atomic_store (&s_fake2.script, s_script_follower_named);
    atomic_store (&s_fake.script, s_script_interactive);
    tpc_client_t *c = s_group_client (s_fake2.endpoint, "tcp://127.0.0.1:1",
                                      5000);
    CU_ASSERT_PTR_NOT_NULL_FATAL (c);
    char gid[TPC_CLIENT_GID_MAX];
    CU_ASSERT_EQUAL (tpc_begin (c, NULL, gid), 0);
    CU_ASSERT_STRING_EQUAL (gid, S_GID);
    /* the follower saw the begin once, the leader (not in the list) once */
    CU_ASSERT_EQUAL (s_nreqs_of (&s_fake2), 1);
    CU_ASSERT_EQUAL (s_nreqs (), 1);
    CU_ASSERT_EQUAL (s_req (0)->type, TPC_MSG_BEGIN);
    /* the client stays with the leader */
    tpc_client_outcome_t oc;
    CU_ASSERT_EQUAL (tpc_commit (c, gid, &oc, NULL, 0), 0);
    CU_ASSERT_EQUAL (oc, TPC_CLIENT_COMMITTED);
    CU_ASSERT_EQUAL (s_nreqs_of (&s_fake2), 1);
    CU_ASSERT_EQUAL (s_nreqs (), 2);
    tpc_client_destroy (&c);
    /* one endpoint, a follower: the error reaches the caller */
    tpc_client_opts_t opts = { .timeout_ms = 2000 };
    c = tpc_client_new (s_fake2.endpoint, &opts);
    CU_ASSERT_EQUAL (tpc_begin (c, NULL, gid), TPC_ENOT_LEADER);
    tpc_client_destroy (&c);
    s_fake_stop_on (&s_fake2);
}

static void
test_ha_not_leader_unknown (void)
{
    CU_ASSERT_EQUAL_FATAL (s_fake_start_on (&s_fake2), 0);
    atomic_store (&s_fake2.script, s_script_follower_unknown);
    atomic_store (&s_fake.script, s_script_interactive);
    tpc_client_t *c = s_group_client (s_fake2.endpoint, s_fake.endpoint,
                                      5000);
    CU_ASSERT_PTR_NOT_NULL_FATAL (c);
    tpc_client_outcome_t oc;
    char state[32];
    CU_ASSERT_EQUAL (tpc_status (c, S_GID, &oc, state, sizeof state), 0);
    CU_ASSERT_STRING_EQUAL (state, "prepared");
    CU_ASSERT_EQUAL (s_nreqs_of (&s_fake2), 1);
    CU_ASSERT_EQUAL (s_nreqs (), 1);
    tpc_client_destroy (&c);
    /* every member a follower (an election under way): asked in turn,
     * with a pause after each round, until the deadline: not_leader */
    atomic_store (&s_fake.script, s_script_follower_unknown);
    c = s_group_client (s_fake2.endpoint, s_fake.endpoint, 1000);
    int64_t t0 = tpc_now_ms ();
    CU_ASSERT_EQUAL (tpc_status (c, S_GID, &oc, NULL, 0), TPC_ENOT_LEADER);
    int64_t took = tpc_now_ms () - t0;
    CU_ASSERT (took >= 1000 && took < 3000);
    int asked = s_nreqs_of (&s_fake2) + s_nreqs () - 2;
    printf ("\n    no leader known: asked %d times in %lld ms", asked,
            (long long) took);
    CU_ASSERT (asked >= 4 && asked <= 40);
    tpc_client_destroy (&c);
    s_fake_stop_on (&s_fake2);
}

static void
test_ha_first_down (void)
{
    char dead[128];
    s_dead_endpoint (dead, sizeof dead);
    atomic_store (&s_fake.script, s_script_interactive);
    tpc_client_t *c = s_group_client (dead, s_fake.endpoint, 10000);
    CU_ASSERT_PTR_NOT_NULL_FATAL (c);
    char gid[TPC_CLIENT_GID_MAX];
    int64_t t0 = tpc_now_ms ();
    CU_ASSERT_EQUAL (tpc_begin (c, NULL, gid), 0);
    int64_t took = tpc_now_ms () - t0;
    printf ("\n    first member down: begin answered in %lld ms",
            (long long) took);
    CU_ASSERT (took < 5000);    /* one member's connect wait, not the
                                   call's whole timeout */
    CU_ASSERT_EQUAL (s_nreqs (), 1);
    tpc_client_destroy (&c);
    /* every member down: tried in turn until the deadline, nothing sent */
    char dead2[128];
    s_dead_endpoint (dead2, sizeof dead2);
    c = s_group_client (dead, dead2, 2500);
    CU_ASSERT_PTR_NOT_NULL_FATAL (c);
    t0 = tpc_now_ms ();
    CU_ASSERT_EQUAL (tpc_begin (c, NULL, gid), TPC_ECONNECT);
    took = tpc_now_ms () - t0;
    CU_ASSERT (took >= 2500 && took < 5000);
    CU_ASSERT_PTR_NOT_NULL (strstr (tpc_client_errmsg (c), "no member"));
    printf ("\n    every member down: %lld ms, %s", (long long) took,
            tpc_client_errmsg (c));
    tpc_client_destroy (&c);
    /* a list with an empty member is refused */
    tpc_client_opts_t opts = { .timeout_ms = 1000 };
    CU_ASSERT_PTR_NULL (tpc_client_new ("tcp://127.0.0.1:1,,", &opts));
    CU_ASSERT_PTR_NULL (tpc_client_new (",tcp://127.0.0.1:1", &opts));
}

static void
test_ha_commit_lost_then_status (void)
{
    CU_ASSERT_EQUAL_FATAL (s_fake_start_on (&s_fake2), 0);
    atomic_store (&s_fake2.script, s_script_dies_at_commit);
    atomic_store (&s_fake.script, s_script_took_over);
    tpc_client_t *c = s_group_client (s_fake2.endpoint, s_fake.endpoint,
                                      10000);
    CU_ASSERT_PTR_NOT_NULL_FATAL (c);
    char gid[TPC_CLIENT_GID_MAX];
    CU_ASSERT_EQUAL_FATAL (tpc_begin (c, NULL, gid), 0);
    tpc_client_outcome_t oc = TPC_CLIENT_OUTCOME_UNKNOWN;
    int rc = tpc_commit (c, gid, &oc, NULL, 0);
    printf ("\n    commit lost with its leader: rc %d, %s", rc,
            tpc_client_errmsg (c));
    CU_ASSERT_EQUAL (rc, 0);
    CU_ASSERT_EQUAL (oc, TPC_CLIENT_COMMITTED);
    /* the commit went to the dead leader only; the new one was asked
     * for the status, never sent the commit again */
    CU_ASSERT_EQUAL (s_nreqs_of (&s_fake2), 2);
    CU_ASSERT_EQUAL (s_req_of (&s_fake2, 1)->type, TPC_MSG_COMMIT);
    CU_ASSERT (s_nreqs () >= 1);
    for (int i = 0; i < s_nreqs () && i < S_MAX_REQS; i++)
        CU_ASSERT_EQUAL (s_req (i)->type, TPC_MSG_STATUS);
    tpc_client_destroy (&c);
    s_fake_stop_on (&s_fake2);
}

/*  tpcctl --coordinator with a group's list: a follower first.          */
static void
test_ha_tpcctl_list (void)
{
    CU_ASSERT_EQUAL_FATAL (s_fake_start_on (&s_fake2), 0);
    atomic_store (&s_fake2.script, s_script_follower_named);
    atomic_store (&s_fake.script, s_script_interactive);
    char out[8192], list[300];
    snprintf (list, sizeof list, "%s,%s", s_fake2.endpoint, s_fake.endpoint);
    CU_ASSERT_EQUAL (TPCCTL (out, "--coordinator", list, "status", S_GID),
                     0);
    CU_ASSERT_STRING_EQUAL (out, "gid=" S_GID
                            " outcome=in_progress state=prepared\n");
    CU_ASSERT_EQUAL (s_nreqs_of (&s_fake2), 1);
    CU_ASSERT_EQUAL (s_nreqs (), 1);
    /* every member a follower with no leader: exit 3, not acted on */
    atomic_store (&s_fake.script, s_script_follower_unknown);
    atomic_store (&s_fake2.script, s_script_follower_unknown);
    CU_ASSERT_EQUAL (TPCCTL (out, "--coordinator", list, "--timeout-ms",
                             "500", "status", S_GID), 3);
    s_fake_stop_on (&s_fake2);
}

static const tpc_test_case_t s_cases[] = {
    { "begin_exec_rows", test_begin_exec_rows },
    { "commit_rollback", test_commit_rollback },
    { "submit", test_submit },
    { "status_list", test_status_list },
    { "error_reply", test_error_reply },
    { "rid0_error_is_doubt", test_rid0_error_is_doubt },
    { "timeout_in_doubt", test_timeout_in_doubt },
    { "stale_reply", test_stale_reply },
    { "malformed_reply", test_malformed_reply },
    { "client_new", test_client_new },
    { "shared_context", test_shared_context },
    { "tpcctl_usage", test_tpcctl_usage },
    { "tpcctl_unreachable", test_tpcctl_unreachable },
    { "tpcctl_exec", test_tpcctl_exec },
    { "tpcctl_read", test_tpcctl_read },
    { "tpcctl_exec_rows", test_tpcctl_exec_rows },
    { "tpcctl_interactive", test_tpcctl_interactive },
    { "tpcctl_version_summary", test_tpcctl_version_summary },
    { "ha_not_leader_named", test_ha_not_leader_named },
    { "ha_not_leader_unknown", test_ha_not_leader_unknown },
    { "ha_first_down", test_ha_first_down },
    { "ha_commit_lost_then_status", test_ha_commit_lost_then_status },
    { "ha_tpcctl_list", test_ha_tpcctl_list },
    { NULL, NULL }
};

#define S_NCASES (sizeof s_cases / sizeof s_cases[0] - 1)

int
main (void)
{
    /* one suite per case, so that each case meets a fresh fake */
    static tpc_test_case_t one[S_NCASES][2];
    static tpc_test_suite_t suites[S_NCASES + 1];
    for (size_t i = 0; i < S_NCASES; i++) {
        one[i][0] = s_cases[i];
        one[i][1] = (tpc_test_case_t) { NULL, NULL };
        suites[i] = (tpc_test_suite_t) { s_cases[i].name, s_setup,
                                         s_teardown, one[i] };
    }
    suites[S_NCASES] = (tpc_test_suite_t) { NULL, NULL, NULL, NULL };
    return tpc_test_main ("test_client", suites);
}
