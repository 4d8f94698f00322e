/*  test_part_engine: the agent's state machine driven with the in-memory
 *  resource manager (part_mem) and a scripted coordinator.  Time is a
 *  variable; every message the engine sends is captured and checked, and
 *  so is what the "database" holds afterwards (prepared set, markers,
 *  committed writes, open transactions).  For three-phase commit the test
 *  also plays the other agents (peer requests and replies) and the state
 *  log (a fake io->persist that records, in order with every send, what
 *  was made durable, and can be told to fail).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "part_engine.h"
#include "part_mem.h"
#include "tpc_error.h"
#include "tpc_test.h"

#define MAX_OUT 512
#define MAX_EV 512

/*  A message sent over the peer link: to NAME (peer_send) or as a reply
 *  to the request token FROM (peer_reply).                               */
typedef struct {
    char name[64];
    tpc_msg_t *msg;
} s_peer_out_t;

/*  One io->persist call and what the database looked like then.          */
typedef struct {
    char gid[64];
    tpc_p3_t state;
    size_t nparts;
    bool prepared;              /* gid still prepared in part_mem */
    uint64_t phase2_ops;        /* COMMIT/ROLLBACK PREPARED submitted */
} s_persisted_t;

typedef struct {
    part_mem_t *mem;
    part_engine_t *eng;
    part_engine_config_t cfg;
    uint64_t now;
    tpc_msg_t *out[MAX_OUT];
    size_t nout;
    /* three-phase commit */
    bool p3;                    /* give the engine peer_* and persist */
    bool persist_fails;
    s_peer_out_t peer[MAX_OUT]; /* peer_send and peer_reply, in order */
    size_t npeer;
    s_persisted_t pers[MAX_EV];
    size_t npers;
    char ev[MAX_EV][96];        /* every send, peer message and persist */
    size_t nev;
    /* peers that answer from inside peer_send (as a simulation might):
     * getstate with sync_state[i] (when > 0), precommit with precommitted */
    int sync_state[3];
    /* the shell fails actions: the next REFUSE submits, sends to PEER_DOWN */
    int refuse;
    const char *peer_down;
} s_fx_t;

static void
s_event (s_fx_t *fx, const char *what, const tpc_msg_t *msg, const char *to)
{
    if (fx->nev >= MAX_EV)
        return;
    const char *detail = "";
    if (msg && msg->type == TPC_MSG_VOTE)
        detail = tpc_vote_name (msg->vote);
    else if (msg && msg->type == TPC_MSG_STATE)
        detail = tpc_p3_name (msg->p3);
    else if (msg && (msg->type == TPC_MSG_ACK || msg->type == TPC_MSG_DECIDE))
        detail = tpc_outcome_name (msg->outcome);
    snprintf (fx->ev[fx->nev++], sizeof fx->ev[0], "%s%s%s %s %s %s", what,
              to ? " " : "", to ? to : "", msg ? tpc_msg_type_name (msg->type) : "",
              detail, msg && msg->gid ? msg->gid : "");
}

/*  Index of the first event starting with PREFIX, or -1.                 */
static int
s_ev (s_fx_t *fx, const char *prefix)
{
    for (size_t i = 0; i < fx->nev; i++)
        if (strncmp (fx->ev[i], prefix, strlen (prefix)) == 0)
            return (int) i;
    return -1;
}

static int
s_send (void *arg, tpc_msg_t **msg_p)
{
    s_fx_t *fx = arg;
    s_event (fx, "send", *msg_p, NULL);
    if (fx->nout < MAX_OUT)
        fx->out[fx->nout++] = *msg_p;
    else
        tpc_msg_destroy (msg_p);
    *msg_p = NULL;
    return 0;
}

static void
s_log (void *arg, int level, const char *line)
{
    (void) arg;
    if (level == 1 || getenv ("TPC_TEST_VERBOSE"))   /* 1 = warning */
        fprintf (stderr, "  engine: %s\n", line);
}

typedef int (s_send_fn) (void *arg, tpc_msg_t **msg_p);
typedef int (s_peer_send_fn) (void *arg, const char *name,
                              const char *endpoint, tpc_msg_t **msg_p);
typedef int (s_peer_reply_fn) (void *arg, const void *from, size_t from_len,
                               tpc_msg_t **msg_p);

/*  Execute the actions ENG queued, in order, through the callbacks the
 *  engine once called itself (so the recorded lists stay what they were);
 *  a refused submit or peer send is reported back to the engine.         */
static void
s_drain_with (part_engine_t *eng, const part_rm_t *rm, uint64_t now,
              void *arg, s_send_fn *send, s_peer_send_fn *peer_send,
              s_peer_reply_fn *peer_reply, int *refuse)
{
    part_action_t act;
    while (eng && part_engine_pop (eng, &act)) {
        int rc = 0;
        switch (act.type) {
        case PART_ACT_SEND:
            send (arg, &act.msg);
            break;
        case PART_ACT_PEER_SEND:
            if (peer_send (arg, act.name, act.endpoint, &act.msg) != 0)
                part_engine_peer_failed (eng, &act, now);
            break;
        case PART_ACT_PEER_REPLY:
            peer_reply (arg, act.from, act.from_len, &act.msg);
            break;
        case PART_ACT_SUBMIT:
            if (refuse && *refuse > 0) {
                --*refuse;
                rc = TPC_ENOMEM;
            }
            else
                rc = rm->submit (rm->self, &act.req, now);
            if (rc != 0)
                part_engine_submit_refused (eng, &act, rc, now);
            break;
        case PART_ACT_INTERRUPT:
            rm->interrupt (rm->self, act.gid);
            break;
        case PART_ACT_LOG:
            s_log (arg, act.level, act.text);
            break;
        }
        part_action_clear (&act);
    }
}

static int s_peer_send (void *arg, const char *name, const char *endpoint,
                        tpc_msg_t **msg_p);
static int s_peer_reply (void *arg, const void *from, size_t from_len,
                         tpc_msg_t **msg_p);

/*  After every call of the fixture's engine.                             */
static void
s_drain (s_fx_t *fx)
{
    s_drain_with (fx->eng, part_mem_rm (fx->mem), fx->now, fx, s_send,
                  s_peer_send, s_peer_reply, &fx->refuse);
}

static void
s_emit (void *arg, const part_rm_result_t *res)
{
    s_fx_t *fx = arg;
    part_engine_on_result (fx->eng, res, fx->now);
    s_drain (fx);
}

/*  Run everything that is due now.                                       */
static void
s_pump (s_fx_t *fx)
{
    const part_rm_t *rm = part_mem_rm (fx->mem);
    for (int guard = 0; guard < 1000; guard++) {
        bool did = false;
        if (rm->timeout (rm->self, fx->now) == 0) {
            rm->process (rm->self, fx->now, s_emit, fx);
            did = true;
        }
        if (part_engine_timeout (fx->eng, fx->now) == 0) {
            part_engine_tick (fx->eng, fx->now);
            s_drain (fx);
            did = true;
        }
        if (!did)
            return;
    }
    CU_FAIL ("engine and RM never settle");
}

/*  Let MS milliseconds pass, running every timer on its time.            */
static void
s_wait (s_fx_t *fx, uint64_t ms)
{
    const part_rm_t *rm = part_mem_rm (fx->mem);
    uint64_t end = fx->now + ms;
    s_pump (fx);
    while (fx->now < end) {
        int64_t a = rm->timeout (rm->self, fx->now);
        int64_t b = part_engine_timeout (fx->eng, fx->now);
        int64_t step = a < 0 ? b : b < 0 ? a : a < b ? a : b;
        if (step < 0 || fx->now + (uint64_t) step > end)
            fx->now = end;
        else
            fx->now += step ? (uint64_t) step : 1;
        s_pump (fx);
    }
}

static int
s_peer_push (s_fx_t *fx, const char *name, tpc_msg_t **msg_p)
{
    if (fx->npeer < MAX_OUT) {
        snprintf (fx->peer[fx->npeer].name, sizeof fx->peer[0].name, "%s", name);
        fx->peer[fx->npeer++].msg = *msg_p;
    }
    else
        tpc_msg_destroy (msg_p);
    *msg_p = NULL;
    return 0;
}

static int
s_peer_send (void *arg, const char *name, const char *endpoint,
             tpc_msg_t **msg_p)
{
    s_fx_t *fx = arg;
    CU_ASSERT (endpoint && strstr (endpoint, name));    /* tcp://<name> */
    if (fx->peer_down && !strcmp (fx->peer_down, name)) {
        tpc_msg_destroy (msg_p);
        return TPC_ECONNECT;
    }
    s_event (fx, "peer_send", *msg_p, name);
    tpc_msg_type_t type = (*msg_p)->type;
    char gid[64];
    snprintf (gid, sizeof gid, "%s", (*msg_p)->gid);
    s_peer_push (fx, name, msg_p);
    for (size_t i = 0; i < 3; i++) {
        static const char *const names[] = { "a1", "b2", "c3" };
        if (strcmp (names[i], name) || fx->sync_state[i] <= 0
            || (type != TPC_MSG_GETSTATE && type != TPC_MSG_PRECOMMIT))
            continue;
        tpc_msg_t *r = tpc_msg_new (TPC_MSG_STATE);
        tpc_msg_set_str (&r->gid, gid);
        r->p3 = type == TPC_MSG_PRECOMMIT ? TPC_P3_PRECOMMITTED
                                          : (tpc_p3_t) fx->sync_state[i];
        part_engine_on_peer_reply (fx->eng, name, &r, fx->now);
    }
    return 0;
}

/*  The request token is the asking peer's name (as a ROUTER id would).   */
static int
s_peer_reply (void *arg, const void *from, size_t from_len, tpc_msg_t **msg_p)
{
    s_fx_t *fx = arg;
    char name[64];
    snprintf (name, sizeof name, "%.*s", (int) from_len, (const char *) from);
    s_event (fx, "peer_reply", *msg_p, name);
    return s_peer_push (fx, name, msg_p);
}

static int
s_persist (void *arg, const char *gid, tpc_p3_t state, size_t nparts,
           char *const *parts, char *const *peers)
{
    s_fx_t *fx = arg;
    s_drain (fx);               /* what the engine queued comes first */
    CU_ASSERT (nparts == 0 || (parts && peers));
    if (fx->persist_fails) {
        s_event (fx, "persist_failed", NULL, tpc_p3_name (state));
        return TPC_EIO;
    }
    char what[64];
    snprintf (what, sizeof what, "persist %s %s", tpc_p3_name (state), gid);
    s_event (fx, what, NULL, NULL);
    if (fx->npers < MAX_EV) {
        s_persisted_t *p = &fx->pers[fx->npers++];
        snprintf (p->gid, sizeof p->gid, "%s", gid);
        p->state = state;
        p->nparts = nparts;
        p->prepared = part_mem_is_prepared (fx->mem, gid);
        p->phase2_ops = part_mem_submitted (fx->mem, PART_RM_COMMIT_PREPARED)
                        + part_mem_submitted (fx->mem, PART_RM_ROLLBACK_PREPARED);
    }
    return 0;
}

/*  The last persist of GID, or NULL.                                     */
static s_persisted_t *
s_persisted (s_fx_t *fx, const char *gid)
{
    for (size_t i = fx->npers; i-- > 0;)
        if (!strcmp (fx->pers[i].gid, gid))
            return &fx->pers[i];
    return NULL;
}

static void
s_engine_new (s_fx_t *fx)
{
    part_engine_io_t io = { .arg = fx };
    fx->cfg.verbose = getenv ("TPC_TEST_VERBOSE") != NULL;
    if (fx->p3) {
        io.peer_link = true;
        io.persist = s_persist;
    }
    fx->eng = part_engine_new (&fx->cfg, &io);
    CU_ASSERT_PTR_NOT_NULL_FATAL (fx->eng);
    part_engine_start (fx->eng, fx->now);
    s_drain (fx);
}

static void
s_clear_out (s_fx_t *fx)
{
    for (size_t i = 0; i < fx->nout; i++)
        tpc_msg_destroy (&fx->out[i]);
    fx->nout = 0;
    for (size_t i = 0; i < fx->npeer; i++)
        tpc_msg_destroy (&fx->peer[i].msg);
    fx->npeer = 0;
    fx->nev = 0;
}

static void
s_setup (s_fx_t *fx, size_t pool, size_t queue_max)
{
    memset (fx, 0, sizeof *fx);
    part_mem_config_t mc = { .pool = pool, .queue_max = queue_max };
    fx->mem = part_mem_new (&mc);
    CU_ASSERT_PTR_NOT_NULL_FATAL (fx->mem);
    fx->cfg.name = "agent1";
    fx->cfg.boot = 0xb0071dULL;
    fx->now = 1000;
    s_engine_new (fx);
    s_pump (fx);
    CU_ASSERT (part_engine_ready (fx->eng, NULL));
}

static void
s_teardown (s_fx_t *fx)
{
    s_clear_out (fx);
    part_engine_destroy (&fx->eng);
    part_engine_destroy (&fx->eng);     /* idempotent */
    CU_ASSERT_PTR_NULL (fx->eng);
    part_mem_destroy (&fx->mem);
}

/*  Restart the agent: a new engine on the same "database".              */
static void
s_restart (s_fx_t *fx)
{
    part_engine_destroy (&fx->eng);
    part_mem_reconnect (fx->mem);
    s_clear_out (fx);
    s_engine_new (fx);
}

/*  Remove and return the first sent message of TYPE about GID (NULL gid:
 *  any), or NULL.                                                        */
static tpc_msg_t *
s_take (s_fx_t *fx, tpc_msg_type_t type, const char *gid)
{
    for (size_t i = 0; i < fx->nout; i++) {
        tpc_msg_t *m = fx->out[i];
        if (m->type != type || (gid && (!m->gid || strcmp (m->gid, gid))))
            continue;
        memmove (&fx->out[i], &fx->out[i + 1], (fx->nout - i - 1) * sizeof m);
        fx->nout--;
        return m;
    }
    return NULL;
}

static size_t
s_count (s_fx_t *fx, tpc_msg_type_t type, const char *gid)
{
    size_t n = 0;
    for (size_t i = 0; i < fx->nout; i++)
        if (fx->out[i]->type == type
            && (!gid || (fx->out[i]->gid && !strcmp (fx->out[i]->gid, gid))))
            n++;
    return n;
}

static void
s_deliver (s_fx_t *fx, tpc_msg_t *msg)
{
    CU_ASSERT_PTR_NOT_NULL_FATAL (msg);
    part_engine_on_message (fx->eng, &msg, fx->now);
    s_drain (fx);
    CU_ASSERT_PTR_NULL (msg);
}

/*  work {gid, seq, stmts, then}: NSQL statements without parameters.    */
static void
s_work (s_fx_t *fx, const char *gid, uint64_t seq, tpc_then_t then,
        size_t nsql, const char *const *sql)
{
    tpc_msg_t *m = tpc_msg_new (TPC_MSG_WORK);
    CU_ASSERT_PTR_NOT_NULL_FATAL (m);
    tpc_msg_set_str (&m->gid, gid);
    m->seq = seq;
    m->then = then;
    for (size_t i = 0; i < nsql; i++)
        tpc_msg_add_stmt (m, NULL, sql[i], 0, NULL);
    s_deliver (fx, m);
}

static void
s_work1 (s_fx_t *fx, const char *gid, uint64_t seq, tpc_then_t then,
         const char *sql)
{
    s_work (fx, gid, seq, then, 1, &sql);
}

static void
s_gid_msg (s_fx_t *fx, tpc_msg_type_t type, const char *gid,
           tpc_outcome_t outcome)
{
    tpc_msg_t *m = tpc_msg_new (type);
    CU_ASSERT_PTR_NOT_NULL_FATAL (m);
    tpc_msg_set_str (&m->gid, gid);
    m->outcome = outcome;
    s_deliver (fx, m);
}

/*  Expect a vote V (reason containing WHY if not NULL) for GID.         */
static void
s_expect_vote (s_fx_t *fx, const char *gid, tpc_vote_t v, const char *why)
{
    tpc_msg_t *m = s_take (fx, TPC_MSG_VOTE, gid);
    CU_ASSERT_PTR_NOT_NULL (m);
    if (!m)
        return;
    CU_ASSERT_EQUAL (m->vote, v);
    if (v != TPC_VOTE_NO)
        CU_ASSERT_PTR_NULL (m->reason);
    if (why) {
        CU_ASSERT (m->reason && strstr (m->reason, why));
        if (!m->reason || !strstr (m->reason, why))
            fprintf (stderr, "  reason was: %s\n", m->reason ? m->reason : "(null)");
    }
    tpc_msg_destroy (&m);
}

static void
s_expect_ack (s_fx_t *fx, const char *gid, tpc_outcome_t o)
{
    tpc_msg_t *m = s_take (fx, TPC_MSG_ACK, gid);
    CU_ASSERT_PTR_NOT_NULL (m);
    if (m)
        CU_ASSERT_EQUAL (m->outcome, o);
    tpc_msg_destroy (&m);
}

static void
s_expect_worked (s_fx_t *fx, const char *gid, uint64_t seq, bool ok,
                 const char *why)
{
    tpc_msg_t *m = s_take (fx, TPC_MSG_WORKED, gid);
    CU_ASSERT_PTR_NOT_NULL (m);
    if (!m)
        return;
    CU_ASSERT_EQUAL (m->seq, seq);
    CU_ASSERT_EQUAL (m->ok, ok);
    CU_ASSERT_EQUAL (m->has_result, ok);
    if (why)
        CU_ASSERT (m->reason && strstr (m->reason, why));
    tpc_msg_destroy (&m);
}

#define G1 "tpc_c1_1_1"
#define G2 "tpc_c1_1_2"
#define G3 "tpc_c1_1_3"
#define G4 "tpc_c1_1_4"

/* ------------------------------------------------------------------ */

/*  A submit the RM refuses (part_engine_submit_refused) is retried after
 *  retry_ms; the work then runs.                                         */
static void
test_submit_refused (void)
{
    s_fx_t fx;
    s_setup (&fx, 0, 0);
    s_clear_out (&fx);
    fx.refuse = 1;
    s_work1 (&fx, G1, 1, TPC_THEN_NONE, "INSERT a");
    s_pump (&fx);
    CU_ASSERT_EQUAL (fx.refuse, 0);
    CU_ASSERT_EQUAL (s_count (&fx, TPC_MSG_WORKED, G1), 0);
    CU_ASSERT (!part_mem_is_open (fx.mem, G1));
    s_wait (&fx, 500);
    s_expect_worked (&fx, G1, 1, true, NULL);
    CU_ASSERT (part_mem_is_open (fx.mem, G1));
    s_teardown (&fx);
}

static void
test_two_phase_commit (void)
{
    s_fx_t fx;
    s_setup (&fx, 0, 0);
    tpc_msg_t *hello = s_take (&fx, TPC_MSG_HELLO, NULL);
    CU_ASSERT (hello && hello->name && !strcmp (hello->name, "agent1"));
    /* this process's boot id, in every hello */
    CU_ASSERT (hello && hello->boot
               && !strcmp (hello->boot, "0000000000b0071d"));
    tpc_msg_destroy (&hello);

    const char *two[] = { "INSERT a", "SELECT x" };
    s_work (&fx, G1, 1, TPC_THEN_NONE, 2, two);
    s_pump (&fx);
    tpc_msg_t *w = s_take (&fx, TPC_MSG_WORKED, G1);
    CU_ASSERT_FATAL (w != NULL);
    CU_ASSERT (w->ok && w->has_result);
    CU_ASSERT_EQUAL (w->seq, 1);
    /* the last statement's result */
    CU_ASSERT_EQUAL (w->ncolumns, 1);
    CU_ASSERT_EQUAL (w->nrows, 1);
    CU_ASSERT (w->nrows == 1 && w->cells[0] && !strcmp (w->cells[0], "x"));
    tpc_msg_destroy (&w);
    CU_ASSERT (part_mem_is_open (fx.mem, G1));

    s_work1 (&fx, G1, 2, TPC_THEN_NONE, "UPDATE b");
    s_pump (&fx);
    s_expect_worked (&fx, G1, 2, true, NULL);

    /* prepare: no vote before the RM reported the prepare durable */
    s_gid_msg (&fx, TPC_MSG_PREPARE, G1, 0);
    CU_ASSERT_EQUAL (s_count (&fx, TPC_MSG_VOTE, G1), 0);
    CU_ASSERT_STRING_EQUAL (part_engine_state (fx.eng, G1), "preparing");
    CU_ASSERT (!part_mem_is_prepared (fx.mem, G1));
    s_pump (&fx);
    CU_ASSERT (part_mem_is_prepared (fx.mem, G1));
    s_expect_vote (&fx, G1, TPC_VOTE_YES, NULL);
    CU_ASSERT_STRING_EQUAL (part_engine_state (fx.eng, G1), "prepared");
    CU_ASSERT_EQUAL (part_mem_open_count (fx.mem), 0);    /* session freed */

    /* the heartbeat lists it */
    s_wait (&fx, 1000);
    hello = s_take (&fx, TPC_MSG_HELLO, NULL);
    CU_ASSERT (hello && hello->ngids == 1 && !strcmp (hello->gids[0], G1));
    CU_ASSERT (hello && hello->boot
               && !strcmp (hello->boot, "0000000000b0071d"));
    tpc_msg_destroy (&hello);

    s_gid_msg (&fx, TPC_MSG_DECIDE, G1, TPC_OUTCOME_COMMITTED);
    s_pump (&fx);
    s_expect_ack (&fx, G1, TPC_OUTCOME_COMMITTED);
    CU_ASSERT_EQUAL (part_mem_committed_writes (fx.mem), 2);
    CU_ASSERT_EQUAL (part_mem_marker (fx.mem, G1), 'C');
    CU_ASSERT_EQUAL (part_mem_prepared_count (fx.mem), 0);
    CU_ASSERT_EQUAL (part_engine_size (fx.eng), 0);
    s_teardown (&fx);
}

static void
test_work_then_prepare_and_abort (void)
{
    s_fx_t fx;
    s_setup (&fx, 0, 0);
    s_work1 (&fx, G1, 1, TPC_THEN_PREPARE, "INSERT a");
    s_pump (&fx);
    s_expect_vote (&fx, G1, TPC_VOTE_YES, NULL);
    /* the statements rode with the prepare: one RM operation after BEGIN */
    CU_ASSERT_EQUAL (part_mem_submitted (fx.mem, PART_RM_EXEC), 0);
    CU_ASSERT_EQUAL (part_mem_submitted (fx.mem, PART_RM_PREPARE), 1);
    s_gid_msg (&fx, TPC_MSG_DECIDE, G1, TPC_OUTCOME_ABORTED);
    s_pump (&fx);
    s_expect_ack (&fx, G1, TPC_OUTCOME_ABORTED);
    CU_ASSERT_EQUAL (part_mem_prepared_count (fx.mem), 0);
    CU_ASSERT_EQUAL (part_mem_committed_writes (fx.mem), 0);
    CU_ASSERT_EQUAL (part_mem_marker (fx.mem, G1), 0);

    /* abort while the statements riding with the prepare are blocked:
     * they are interrupted, the vote is no, and since the cancel might
     * have hit PREPARE itself the gid is rolled back as maybe prepared */
    const char *slow[] = { "INSERT b", "SLEEP 60000" };
    uint64_t rbp = part_mem_submitted (fx.mem, PART_RM_ROLLBACK_PREPARED);
    s_work (&fx, G2, 1, TPC_THEN_PREPARE, 2, slow);
    s_pump (&fx);
    CU_ASSERT_EQUAL (s_count (&fx, TPC_MSG_VOTE, G2), 0);
    s_gid_msg (&fx, TPC_MSG_DECIDE, G2, TPC_OUTCOME_ABORTED);
    s_pump (&fx);
    s_expect_vote (&fx, G2, TPC_VOTE_NO, NULL);
    s_expect_ack (&fx, G2, TPC_OUTCOME_ABORTED);
    CU_ASSERT_EQUAL (part_mem_submitted (fx.mem, PART_RM_ROLLBACK_PREPARED),
                     rbp + 1);
    CU_ASSERT_EQUAL (part_mem_prepared_count (fx.mem), 0);
    CU_ASSERT_EQUAL (part_mem_open_count (fx.mem), 0);
    CU_ASSERT_EQUAL (part_mem_marker (fx.mem, G2), 'T');
    s_teardown (&fx);
}

static void
test_readonly (void)
{
    s_fx_t fx;
    s_setup (&fx, 0, 0);
    s_work1 (&fx, G1, 1, TPC_THEN_PREPARE, "SELECT 1");
    s_pump (&fx);
    s_expect_vote (&fx, G1, TPC_VOTE_READONLY, NULL);
    CU_ASSERT_EQUAL (part_mem_prepared_count (fx.mem), 0);
    CU_ASSERT_EQUAL (part_mem_open_count (fx.mem), 0);
    CU_ASSERT_EQUAL (part_engine_size (fx.eng), 0);
    CU_ASSERT_EQUAL (part_mem_marker (fx.mem, G1), 0);
    s_teardown (&fx);
}

static void
test_one_phase (void)
{
    s_fx_t fx;
    s_setup (&fx, 0, 0);
    const char *two[] = { "INSERT a", "INSERT b" };
    s_work (&fx, G1, 1, TPC_THEN_COMMIT, 2, two);
    s_pump (&fx);
    s_expect_ack (&fx, G1, TPC_OUTCOME_COMMITTED);
    CU_ASSERT_EQUAL (part_mem_committed_writes (fx.mem), 2);
    CU_ASSERT_EQUAL (part_mem_marker (fx.mem, G1), 'C');
    CU_ASSERT_EQUAL (part_engine_size (fx.eng), 0);

    /* a failing statement: ack aborted with the database's message */
    const char *bad[] = { "INSERT a", "FAIL no such table" };
    s_work (&fx, G2, 1, TPC_THEN_COMMIT, 2, bad);
    s_pump (&fx);
    tpc_msg_t *m = s_take (&fx, TPC_MSG_ACK, G2);
    CU_ASSERT (m && m->outcome == TPC_OUTCOME_ABORTED && m->reason
               && !strcmp (m->reason, "no such table"));
    tpc_msg_destroy (&m);
    CU_ASSERT_EQUAL (part_mem_committed_writes (fx.mem), 2);
    CU_ASSERT_EQUAL (part_mem_open_count (fx.mem), 0);

    /* the session died during COMMIT: the marker tells the truth */
    part_mem_fail_next (fx.mem, PART_RM_COMMIT_ONEPHASE, TPC_ECONNECT,
                        "server closed the connection", true);
    s_work1 (&fx, G3, 1, TPC_THEN_COMMIT, "INSERT c");
    s_pump (&fx);
    s_expect_ack (&fx, G3, TPC_OUTCOME_COMMITTED);
    CU_ASSERT_EQUAL (part_mem_committed_writes (fx.mem), 3);
    part_mem_fail_next (fx.mem, PART_RM_COMMIT_ONEPHASE, TPC_ECONNECT,
                        "server closed the connection", false);
    s_work1 (&fx, G4, 1, TPC_THEN_COMMIT, "INSERT d");
    s_pump (&fx);
    s_expect_ack (&fx, G4, TPC_OUTCOME_ABORTED);
    CU_ASSERT_EQUAL (part_mem_committed_writes (fx.mem), 3);
    s_teardown (&fx);
}

static void
test_no_vote_on_failure (void)
{
    s_fx_t fx;
    s_setup (&fx, 0, 0);
    /* a statement fails inside work then=prepare: vote no, rolled back */
    const char *bad[] = { "INSERT a", "FAIL duplicate key value violates x" };
    s_work (&fx, G1, 1, TPC_THEN_PREPARE, 2, bad);
    s_pump (&fx);
    s_expect_vote (&fx, G1, TPC_VOTE_NO, "duplicate key value violates x");
    CU_ASSERT_EQUAL (part_mem_open_count (fx.mem), 0);
    CU_ASSERT (!part_mem_is_prepared (fx.mem, G1));
    CU_ASSERT_STRING_EQUAL (part_engine_state (fx.eng, G1), "aborted");

    /* worked error, then the coordinator still asks to prepare */
    s_work1 (&fx, G2, 1, TPC_THEN_NONE, "FAIL division by zero");
    s_pump (&fx);
    s_expect_worked (&fx, G2, 1, false, "division by zero");
    CU_ASSERT_EQUAL (part_mem_open_count (fx.mem), 0);
    s_gid_msg (&fx, TPC_MSG_PREPARE, G2, 0);
    s_pump (&fx);
    s_expect_vote (&fx, G2, TPC_VOTE_NO, "division by zero");
    s_work1 (&fx, G2, 2, TPC_THEN_NONE, "INSERT x");
    s_pump (&fx);
    s_expect_worked (&fx, G2, 2, false, "aborted");

    /* the prepare itself fails: vote no with the database's message */
    part_mem_fail_next (fx.mem, PART_RM_PREPARE, TPC_EDB,
                        "could not fsync file", false);
    s_work1 (&fx, G3, 1, TPC_THEN_PREPARE, "INSERT a");
    s_pump (&fx);
    s_expect_vote (&fx, G3, TPC_VOTE_NO, "could not fsync file");
    CU_ASSERT (!part_mem_is_prepared (fx.mem, G3));
    CU_ASSERT_EQUAL (part_mem_open_count (fx.mem), 0);

    /* the prepare happened but its answer was lost: vote no, and the
     * prepared transaction is rolled back (see lost_prepare_rolled_back);
     * a decide aborted is still acked */
    part_mem_fail_next (fx.mem, PART_RM_PREPARE, TPC_ECONNECT,
                        "server closed the connection", true);
    s_work1 (&fx, G4, 1, TPC_THEN_PREPARE, "INSERT a");
    s_pump (&fx);
    s_expect_vote (&fx, G4, TPC_VOTE_NO, "lost during prepare");
    CU_ASSERT_EQUAL (part_mem_prepared_count (fx.mem), 0);
    s_gid_msg (&fx, TPC_MSG_DECIDE, G4, TPC_OUTCOME_ABORTED);
    s_pump (&fx);
    s_expect_ack (&fx, G4, TPC_OUTCOME_ABORTED);
    CU_ASSERT_EQUAL (part_mem_prepared_count (fx.mem), 0);

    /* prepare of a gid nobody began */
    s_gid_msg (&fx, TPC_MSG_PREPARE, "tpc_c1_9_9", 0);
    s_pump (&fx);
    s_expect_vote (&fx, "tpc_c1_9_9", TPC_VOTE_NO, "unknown transaction");
    CU_ASSERT_EQUAL (part_mem_committed_writes (fx.mem), 0);
    s_teardown (&fx);
}

static void
test_decide_idempotent (void)
{
    s_fx_t fx;
    s_setup (&fx, 0, 0);
    s_work1 (&fx, G1, 1, TPC_THEN_PREPARE, "INSERT a");
    s_pump (&fx);
    s_expect_vote (&fx, G1, TPC_VOTE_YES, NULL);
    s_gid_msg (&fx, TPC_MSG_DECIDE, G1, TPC_OUTCOME_COMMITTED);
    s_pump (&fx);
    s_expect_ack (&fx, G1, TPC_OUTCOME_COMMITTED);

    /* repeated commit: not prepared any more, answered from the marker */
    uint64_t before = part_mem_submitted (fx.mem, PART_RM_OUTCOME_OF);
    s_gid_msg (&fx, TPC_MSG_DECIDE, G1, TPC_OUTCOME_COMMITTED);
    s_pump (&fx);
    s_expect_ack (&fx, G1, TPC_OUTCOME_COMMITTED);
    CU_ASSERT_EQUAL (part_mem_submitted (fx.mem, PART_RM_OUTCOME_OF), before + 1);
    /* a contradicting late abort gets the truth too */
    s_gid_msg (&fx, TPC_MSG_DECIDE, G1, TPC_OUTCOME_ABORTED);
    s_pump (&fx);
    s_expect_ack (&fx, G1, TPC_OUTCOME_COMMITTED);
    CU_ASSERT_EQUAL (part_mem_committed_writes (fx.mem), 1);
    CU_ASSERT_EQUAL (part_mem_marker (fx.mem, G1), 'C');

    /* the same after an agent restart */
    s_restart (&fx);
    s_pump (&fx);
    s_gid_msg (&fx, TPC_MSG_DECIDE, G1, TPC_OUTCOME_COMMITTED);
    s_pump (&fx);
    s_expect_ack (&fx, G1, TPC_OUTCOME_COMMITTED);

    /* abort of a gid never seen: tombstone, and a later prepare votes no */
    s_gid_msg (&fx, TPC_MSG_DECIDE, G2, TPC_OUTCOME_ABORTED);
    s_pump (&fx);
    s_expect_ack (&fx, G2, TPC_OUTCOME_ABORTED);
    CU_ASSERT_EQUAL (part_mem_marker (fx.mem, G2), 'T');
    s_gid_msg (&fx, TPC_MSG_DECIDE, G2, TPC_OUTCOME_ABORTED);
    s_pump (&fx);
    s_expect_ack (&fx, G2, TPC_OUTCOME_ABORTED);
    s_work1 (&fx, G2, 1, TPC_THEN_PREPARE, "INSERT late");
    s_pump (&fx);
    s_expect_vote (&fx, G2, TPC_VOTE_NO, NULL);
    /* ... also when the agent no longer remembers it: the marker's key */
    s_restart (&fx);
    s_pump (&fx);
    s_work1 (&fx, G2, 1, TPC_THEN_PREPARE, "INSERT late");
    s_pump (&fx);
    s_expect_vote (&fx, G2, TPC_VOTE_NO, "duplicate key");
    CU_ASSERT (!part_mem_is_prepared (fx.mem, G2));
    /* ... and a decide committed for it tells the truth: aborted */
    s_gid_msg (&fx, TPC_MSG_DECIDE, G2, TPC_OUTCOME_COMMITTED);
    s_pump (&fx);
    s_expect_ack (&fx, G2, TPC_OUTCOME_ABORTED);
    CU_ASSERT_EQUAL (part_mem_committed_writes (fx.mem), 1);

    /* abort of an open transaction: rollback + tombstone */
    s_work1 (&fx, G3, 1, TPC_THEN_NONE, "INSERT a");
    s_pump (&fx);
    s_expect_worked (&fx, G3, 1, true, NULL);
    s_gid_msg (&fx, TPC_MSG_DECIDE, G3, TPC_OUTCOME_ABORTED);
    s_pump (&fx);
    s_expect_ack (&fx, G3, TPC_OUTCOME_ABORTED);
    CU_ASSERT_EQUAL (part_mem_open_count (fx.mem), 0);
    CU_ASSERT_EQUAL (part_mem_marker (fx.mem, G3), 'T');
    s_teardown (&fx);
}

static void
test_recovery (void)
{
    s_fx_t fx;
    memset (&fx, 0, sizeof fx);
    fx.mem = part_mem_new (NULL);
    CU_ASSERT_EQUAL (part_mem_add_prepared (fx.mem, G1), 0);
    CU_ASSERT_EQUAL (part_mem_add_prepared (fx.mem, G2), 0);
    CU_ASSERT_EQUAL (part_mem_add_prepared (fx.mem, "tpc_c1_1_5"), 0);
    fx.cfg.name = "agent1";
    fx.now = 5000;
    s_engine_new (&fx);
    CU_ASSERT (!part_engine_ready (fx.eng, NULL));
    s_pump (&fx);
    size_t found = 0;
    CU_ASSERT (part_engine_ready (fx.eng, &found));
    CU_ASSERT_EQUAL (found, 3);
    CU_ASSERT_EQUAL (s_count (&fx, TPC_MSG_QUERY, G1), 1);
    CU_ASSERT_EQUAL (s_count (&fx, TPC_MSG_QUERY, G2), 1);
    CU_ASSERT_EQUAL (s_count (&fx, TPC_MSG_QUERY, "tpc_c1_1_5"), 1);
    s_clear_out (&fx);

    s_gid_msg (&fx, TPC_MSG_ANSWER, G1, TPC_OUTCOME_COMMITTED);
    s_gid_msg (&fx, TPC_MSG_ANSWER, G2, TPC_OUTCOME_IN_PROGRESS);
    s_pump (&fx);
    s_expect_ack (&fx, G1, TPC_OUTCOME_COMMITTED);
    CU_ASSERT (!part_mem_is_prepared (fx.mem, G1));
    CU_ASSERT_EQUAL (part_mem_marker (fx.mem, G1), 'C');
    CU_ASSERT (part_mem_is_prepared (fx.mem, G2));
    /* unanswered and in_progress gids are asked again every second */
    s_clear_out (&fx);
    s_wait (&fx, 999);
    CU_ASSERT_EQUAL (s_count (&fx, TPC_MSG_QUERY, NULL), 0);
    s_wait (&fx, 1);
    CU_ASSERT_EQUAL (s_count (&fx, TPC_MSG_QUERY, G2), 1);
    CU_ASSERT_EQUAL (s_count (&fx, TPC_MSG_QUERY, "tpc_c1_1_5"), 1);
    CU_ASSERT_EQUAL (s_count (&fx, TPC_MSG_QUERY, G1), 0);
    s_clear_out (&fx);
    s_wait (&fx, 3000);
    CU_ASSERT_EQUAL (s_count (&fx, TPC_MSG_QUERY, G2), 3);
    s_clear_out (&fx);
    s_gid_msg (&fx, TPC_MSG_ANSWER, G2, TPC_OUTCOME_ABORTED);
    s_gid_msg (&fx, TPC_MSG_DECIDE, "tpc_c1_1_5", TPC_OUTCOME_COMMITTED);
    s_pump (&fx);
    s_expect_ack (&fx, G2, TPC_OUTCOME_ABORTED);
    s_expect_ack (&fx, "tpc_c1_1_5", TPC_OUTCOME_COMMITTED);
    CU_ASSERT_EQUAL (part_mem_prepared_count (fx.mem), 0);
    /* a late duplicate answer changes nothing */
    s_gid_msg (&fx, TPC_MSG_ANSWER, G2, TPC_OUTCOME_COMMITTED);
    s_pump (&fx);
    CU_ASSERT_EQUAL (part_mem_marker (fx.mem, G2), 0);
    CU_ASSERT_EQUAL (fx.nout, 0);
    s_wait (&fx, 2000);
    CU_ASSERT_EQUAL (s_count (&fx, TPC_MSG_QUERY, NULL), 0);

    /* the database restarts while G3 is prepared and G4 open */
    s_work1 (&fx, G3, 1, TPC_THEN_PREPARE, "INSERT a");
    s_work1 (&fx, G4, 1, TPC_THEN_NONE, "INSERT a");
    s_pump (&fx);
    s_expect_vote (&fx, G3, TPC_VOTE_YES, NULL);
    s_expect_worked (&fx, G4, 1, true, NULL);
    part_mem_crash (fx.mem);
    s_work1 (&fx, G4, 2, TPC_THEN_PREPARE, "INSERT b");
    s_pump (&fx);
    s_expect_vote (&fx, G4, TPC_VOTE_NO, NULL);
    /* a decide while the database is down waits, then applies */
    s_gid_msg (&fx, TPC_MSG_DECIDE, G3, TPC_OUTCOME_COMMITTED);
    s_wait (&fx, 2000);
    CU_ASSERT_EQUAL (s_count (&fx, TPC_MSG_ACK, G3), 0);
    CU_ASSERT (part_mem_is_prepared (fx.mem, G3));
    part_mem_set_down (fx.mem, false);
    s_pump (&fx);
    s_expect_ack (&fx, G3, TPC_OUTCOME_COMMITTED);
    CU_ASSERT_EQUAL (part_mem_prepared_count (fx.mem), 0);
    CU_ASSERT_EQUAL (part_mem_submitted (fx.mem, PART_RM_RECOVER), 2);
    s_teardown (&fx);
}

static void
test_reconnect_queries (void)
{
    s_fx_t fx;
    s_setup (&fx, 0, 0);
    s_work1 (&fx, G1, 1, TPC_THEN_PREPARE, "INSERT a");
    s_pump (&fx);
    s_expect_vote (&fx, G1, TPC_VOTE_YES, NULL);
    s_clear_out (&fx);
    part_mem_crash (fx.mem);
    part_mem_set_down (fx.mem, false);
    s_pump (&fx);
    /* recovery after the reconnect asks about the prepared gid */
    CU_ASSERT_EQUAL (s_count (&fx, TPC_MSG_QUERY, G1), 1);
    s_gid_msg (&fx, TPC_MSG_ANSWER, G1, TPC_OUTCOME_COMMITTED);
    s_pump (&fx);
    s_expect_ack (&fx, G1, TPC_OUTCOME_COMMITTED);
    CU_ASSERT_EQUAL (part_mem_committed_writes (fx.mem), 1);

    /* an agent crash after PREPARE, before the vote: the new agent finds
     * the gid and finishes it per the answer */
    s_work1 (&fx, G2, 1, TPC_THEN_PREPARE, "INSERT a");
    s_pump (&fx);
    s_restart (&fx);
    s_pump (&fx);
    size_t found = 0;
    CU_ASSERT (part_engine_ready (fx.eng, &found));
    CU_ASSERT_EQUAL (found, 1);
    CU_ASSERT_EQUAL (s_count (&fx, TPC_MSG_QUERY, G2), 1);
    s_gid_msg (&fx, TPC_MSG_ANSWER, G2, TPC_OUTCOME_ABORTED);
    s_pump (&fx);
    s_expect_ack (&fx, G2, TPC_OUTCOME_ABORTED);
    CU_ASSERT_EQUAL (part_mem_prepared_count (fx.mem), 0);
    CU_ASSERT_EQUAL (part_mem_committed_writes (fx.mem), 1);
    s_teardown (&fx);
}

/*  Regression: a coordinator that restarted forgets an undecided gid
 *  (presumed abort pushes nothing), so an agent that voted yes must ask
 *  by itself: after doubt_ms, and at once when the coordinator connection
 *  comes back.  Before the fix the gid stayed prepared for ever.         */
static void
test_yes_voter_asks_when_no_decision (void)
{
    s_fx_t fx;
    s_setup (&fx, 0, 0);
    s_work1 (&fx, G1, 1, TPC_THEN_PREPARE, "INSERT a");
    s_pump (&fx);
    s_expect_vote (&fx, G1, TPC_VOTE_YES, NULL);
    s_clear_out (&fx);
    s_wait (&fx, 2000);
    CU_ASSERT_EQUAL (s_count (&fx, TPC_MSG_QUERY, G1), 0);  /* not yet */
    s_wait (&fx, 1500);
    CU_ASSERT_EQUAL (s_count (&fx, TPC_MSG_QUERY, G1), 1);  /* doubt_ms */
    s_clear_out (&fx);
    s_gid_msg (&fx, TPC_MSG_ANSWER, G1, TPC_OUTCOME_IN_PROGRESS);
    s_wait (&fx, 1100);
    CU_ASSERT_EQUAL (s_count (&fx, TPC_MSG_QUERY, G1), 1);  /* asks again */
    s_gid_msg (&fx, TPC_MSG_ANSWER, G1, TPC_OUTCOME_ABORTED);
    s_pump (&fx);
    s_expect_ack (&fx, G1, TPC_OUTCOME_ABORTED);
    CU_ASSERT_EQUAL (part_mem_prepared_count (fx.mem), 0);

    /* the coordinator connection comes back: every yes-voted gid is
     * queried at once, and a hello goes out */
    s_work1 (&fx, G2, 1, TPC_THEN_PREPARE, "INSERT a");
    s_pump (&fx);
    s_expect_vote (&fx, G2, TPC_VOTE_YES, NULL);
    s_clear_out (&fx);
    part_engine_coordinator_up (fx.eng, fx.now);
    s_drain (&fx);
    CU_ASSERT_EQUAL (s_count (&fx, TPC_MSG_QUERY, G2), 1);
    CU_ASSERT_EQUAL (s_count (&fx, TPC_MSG_HELLO, NULL), 1);
    s_gid_msg (&fx, TPC_MSG_ANSWER, G2, TPC_OUTCOME_COMMITTED);
    s_pump (&fx);
    s_expect_ack (&fx, G2, TPC_OUTCOME_COMMITTED);
    CU_ASSERT_EQUAL (part_mem_prepared_count (fx.mem), 0);
    CU_ASSERT_EQUAL (part_mem_committed_writes (fx.mem), 1);
    s_teardown (&fx);
}

/*  Regression (review #1): the session breaks during PREPARE after the
 *  database prepared: the agent votes no and the coordinator sends no
 *  decide to a no-voter.  The periodic sweep must find the prepared gid
 *  and roll it back; before the fix it stayed prepared for ever.         */
static void
test_sweep_rolls_back_lost_prepare (void)
{
    s_fx_t fx;
    s_setup (&fx, 0, 0);
    part_mem_fail_next (fx.mem, PART_RM_PREPARE, TPC_ECONNECT,
                        "connection lost", true);
    s_work1 (&fx, G1, 1, TPC_THEN_PREPARE, "INSERT a");
    s_pump (&fx);
    s_expect_vote (&fx, G1, TPC_VOTE_NO, NULL);
    /* (the agent now rolls it back at once: lost_prepare_rolled_back;
     * the sweep stays the safety net) */
    s_clear_out (&fx);
    s_wait (&fx, 11000);                                 /* one sweep */
    CU_ASSERT_FALSE (part_mem_is_prepared (fx.mem, G1));
    CU_ASSERT_EQUAL (part_mem_prepared_count (fx.mem), 0);
    CU_ASSERT_EQUAL (part_mem_committed_writes (fx.mem), 0);
    s_teardown (&fx);
}

/*  Regression (review #2): an open (unprepared) transaction whose
 *  coordinator restarted and forgot it kept its session pinned for ever.
 *  The agent asks about open transactions on reconnect and every sweep;
 *  "aborted" rolls them back, "in_progress" leaves them alone.           */
static void
test_forgotten_open_transaction_rolled_back (void)
{
    s_fx_t fx;
    s_setup (&fx, 0, 0);
    s_work1 (&fx, G1, 1, TPC_THEN_NONE, "INSERT a");
    s_pump (&fx);
    s_expect_worked (&fx, G1, 1, true, NULL);
    CU_ASSERT (part_mem_is_open (fx.mem, G1));
    s_clear_out (&fx);
    part_engine_coordinator_up (fx.eng, fx.now);
    s_drain (&fx);
    CU_ASSERT_EQUAL (s_count (&fx, TPC_MSG_QUERY, G1), 1);
    s_clear_out (&fx);
    s_gid_msg (&fx, TPC_MSG_ANSWER, G1, TPC_OUTCOME_IN_PROGRESS);
    s_pump (&fx);
    CU_ASSERT (part_mem_is_open (fx.mem, G1));          /* still live */
    s_wait (&fx, 11000);                                 /* a sweep asks */
    CU_ASSERT (s_count (&fx, TPC_MSG_QUERY, G1) >= 1);
    s_clear_out (&fx);
    s_gid_msg (&fx, TPC_MSG_ANSWER, G1, TPC_OUTCOME_ABORTED);
    s_pump (&fx);
    CU_ASSERT_FALSE (part_mem_is_open (fx.mem, G1));
    CU_ASSERT_EQUAL (part_mem_marker (fx.mem, G1), 'T');  /* tombstone */
    CU_ASSERT_EQUAL (part_mem_open_count (fx.mem), 0);
    /* a late prepare of that gid votes no */
    s_gid_msg (&fx, TPC_MSG_PREPARE, G1, 0);
    s_pump (&fx);
    s_expect_vote (&fx, G1, TPC_VOTE_NO, NULL);
    s_teardown (&fx);
}

static void
test_duplicates_and_stale (void)
{
    s_fx_t fx;
    s_setup (&fx, 0, 0);
    s_clear_out (&fx);
    s_work1 (&fx, G1, 1, TPC_THEN_NONE, "INSERT a");
    s_work1 (&fx, G1, 1, TPC_THEN_NONE, "INSERT a");     /* duplicate */
    s_work1 (&fx, G1, 2, TPC_THEN_NONE, "INSERT b");     /* waits its turn */
    s_pump (&fx);
    CU_ASSERT_EQUAL (s_count (&fx, TPC_MSG_WORKED, G1), 2);
    s_expect_worked (&fx, G1, 1, true, NULL);
    s_expect_worked (&fx, G1, 2, true, NULL);
    s_work1 (&fx, G1, 2, TPC_THEN_NONE, "INSERT b");     /* old seq */
    s_pump (&fx);
    CU_ASSERT_EQUAL (fx.nout, 0);

    s_gid_msg (&fx, TPC_MSG_PREPARE, G1, 0);
    s_gid_msg (&fx, TPC_MSG_PREPARE, G1, 0);             /* while preparing */
    s_pump (&fx);
    s_expect_vote (&fx, G1, TPC_VOTE_YES, NULL);
    CU_ASSERT_EQUAL (fx.nout, 0);
    s_gid_msg (&fx, TPC_MSG_PREPARE, G1, 0);             /* again: still yes */
    s_pump (&fx);
    s_expect_vote (&fx, G1, TPC_VOTE_YES, NULL);
    s_work1 (&fx, G1, 3, TPC_THEN_NONE, "INSERT c");     /* after prepare */
    s_pump (&fx);
    s_expect_worked (&fx, G1, 3, false, "already prepared");
    CU_ASSERT (part_mem_is_prepared (fx.mem, G1));

    /* answers nobody asked for, messages an agent never gets */
    s_gid_msg (&fx, TPC_MSG_ANSWER, G1, TPC_OUTCOME_ABORTED);
    s_gid_msg (&fx, TPC_MSG_ANSWER, G2, TPC_OUTCOME_COMMITTED);
    s_gid_msg (&fx, TPC_MSG_VOTE, G1, 0);
    tpc_msg_t *bad = tpc_msg_new (TPC_MSG_DECIDE);
    tpc_msg_set_str (&bad->gid, "tpc_bad");
    bad->outcome = TPC_OUTCOME_ABORTED;
    s_deliver (&fx, bad);
    s_pump (&fx);
    CU_ASSERT_EQUAL (fx.nout, 0);
    CU_ASSERT (part_mem_is_prepared (fx.mem, G1));

    /* two decides in a row: both acked, one commit */
    s_gid_msg (&fx, TPC_MSG_DECIDE, G1, TPC_OUTCOME_COMMITTED);
    s_gid_msg (&fx, TPC_MSG_DECIDE, G1, TPC_OUTCOME_COMMITTED);
    s_pump (&fx);
    CU_ASSERT_EQUAL (s_count (&fx, TPC_MSG_ACK, G1), 1);
    s_expect_ack (&fx, G1, TPC_OUTCOME_COMMITTED);
    CU_ASSERT_EQUAL (part_mem_committed_writes (fx.mem), 2);

    /* work for a transaction the agent never began (seq > 1) */
    s_work1 (&fx, G2, 2, TPC_THEN_NONE, "INSERT a");
    s_pump (&fx);
    s_expect_worked (&fx, G2, 2, false, "unknown transaction");
    CU_ASSERT_EQUAL (part_mem_open_count (fx.mem), 0);

    /* a gap in seq aborts the transaction */
    s_work1 (&fx, G3, 1, TPC_THEN_NONE, "INSERT a");
    s_pump (&fx);
    s_expect_worked (&fx, G3, 1, true, NULL);
    s_work1 (&fx, G3, 3, TPC_THEN_NONE, "INSERT c");
    s_pump (&fx);
    s_expect_worked (&fx, G3, 3, false, "expected");
    CU_ASSERT_EQUAL (part_mem_open_count (fx.mem), 0);
    s_gid_msg (&fx, TPC_MSG_PREPARE, G3, 0);
    s_pump (&fx);
    s_expect_vote (&fx, G3, TPC_VOTE_NO, NULL);
    s_teardown (&fx);
}

static void
test_abort_interrupts_statement (void)
{
    s_fx_t fx;
    s_setup (&fx, 0, 0);
    s_clear_out (&fx);
    s_work1 (&fx, G1, 1, TPC_THEN_NONE, "SLEEP 60000");
    s_work1 (&fx, G1, 2, TPC_THEN_PREPARE, "INSERT x");  /* queued behind */
    s_wait (&fx, 100);
    CU_ASSERT_EQUAL (fx.nout, 0);
    s_gid_msg (&fx, TPC_MSG_DECIDE, G1, TPC_OUTCOME_ABORTED);
    s_pump (&fx);
    s_expect_worked (&fx, G1, 1, false, "aborted");
    s_expect_vote (&fx, G1, TPC_VOTE_NO, "aborted");
    s_expect_ack (&fx, G1, TPC_OUTCOME_ABORTED);
    CU_ASSERT_EQUAL (part_mem_open_count (fx.mem), 0);
    CU_ASSERT_EQUAL (part_mem_marker (fx.mem, G1), 'T');
    CU_ASSERT (fx.now < 2000);

    /* abort while PREPARE runs: roll the prepared transaction back */
    s_work1 (&fx, G2, 1, TPC_THEN_PREPARE, "INSERT a");
    s_gid_msg (&fx, TPC_MSG_DECIDE, G2, TPC_OUTCOME_ABORTED);
    s_pump (&fx);
    s_expect_ack (&fx, G2, TPC_OUTCOME_ABORTED);
    CU_ASSERT_EQUAL (part_mem_prepared_count (fx.mem), 0);
    CU_ASSERT_EQUAL (part_mem_committed_writes (fx.mem), 0);
    s_teardown (&fx);
}

static void
test_busy (void)
{
    s_fx_t fx;
    s_setup (&fx, 1, 1);
    s_clear_out (&fx);
    const char *slow[] = { "INSERT a", "SLEEP 100" };
    s_work (&fx, G1, 1, TPC_THEN_NONE, 2, slow);
    s_work1 (&fx, G2, 1, TPC_THEN_NONE, "INSERT a");     /* waits */
    s_work1 (&fx, G3, 1, TPC_THEN_PREPARE, "INSERT a");  /* overflow */
    s_pump (&fx);
    s_expect_vote (&fx, G3, TPC_VOTE_NO, "busy");
    CU_ASSERT_EQUAL (s_count (&fx, TPC_MSG_WORKED, NULL), 0);
    s_wait (&fx, 100);
    s_expect_worked (&fx, G1, 1, true, NULL);
    CU_ASSERT_EQUAL (s_count (&fx, TPC_MSG_WORKED, G2), 0);  /* G1 holds it */
    s_gid_msg (&fx, TPC_MSG_PREPARE, G1, 0);
    s_pump (&fx);
    s_expect_vote (&fx, G1, TPC_VOTE_YES, NULL);
    s_expect_worked (&fx, G2, 1, true, NULL);                /* its turn */
    s_gid_msg (&fx, TPC_MSG_DECIDE, G1, TPC_OUTCOME_COMMITTED);
    s_gid_msg (&fx, TPC_MSG_DECIDE, G2, TPC_OUTCOME_ABORTED);
    s_pump (&fx);
    s_expect_ack (&fx, G1, TPC_OUTCOME_COMMITTED);
    s_expect_ack (&fx, G2, TPC_OUTCOME_ABORTED);
    CU_ASSERT_EQUAL (part_mem_open_count (fx.mem), 0);
    s_teardown (&fx);
}

static void
test_forget (void)
{
    s_fx_t fx;
    memset (&fx, 0, sizeof fx);
    fx.mem = part_mem_new (NULL);
    fx.cfg.name = "agent1";
    fx.cfg.forget_ms = 5000;
    fx.now = 1;
    s_engine_new (&fx);
    s_pump (&fx);
    s_work1 (&fx, G1, 1, TPC_THEN_NONE, "FAIL x");
    s_pump (&fx);
    CU_ASSERT_STRING_EQUAL (part_engine_state (fx.eng, G1), "aborted");
    s_wait (&fx, 4900);
    CU_ASSERT_PTR_NOT_NULL (part_engine_state (fx.eng, G1));
    s_wait (&fx, 200);
    CU_ASSERT_PTR_NULL (part_engine_state (fx.eng, G1));
    CU_ASSERT_EQUAL (part_engine_size (fx.eng), 0);
    s_teardown (&fx);
}

/*  Found by the seeded simulation (tests/sim, seed 367 at the time, before
 *  the periodic sweep of main, which now also catches it later): a
 *  PREPARE whose session broke after PostgreSQL prepared the transaction
 *  votes no; the coordinator aborts but sends no decide to a no voter, so
 *  the prepared transaction (and its locks) stayed until the agent's next
 *  recovery.  The agent now rolls it back by itself, unasked, and acks
 *  nothing.                                                              */
static void
test_lost_prepare_rolled_back (void)
{
    s_fx_t fx;
    s_setup (&fx, 0, 0);
    part_mem_fail_next (fx.mem, PART_RM_PREPARE, TPC_ECONNECT,
                        "server closed the connection", true);
    s_work1 (&fx, G1, 1, TPC_THEN_PREPARE, "INSERT a");
    s_pump (&fx);
    s_expect_vote (&fx, G1, TPC_VOTE_NO, "lost during prepare");
    CU_ASSERT (!part_mem_is_prepared (fx.mem, G1));
    CU_ASSERT_EQUAL (part_mem_prepared_count (fx.mem), 0);
    CU_ASSERT_EQUAL (part_mem_committed_writes (fx.mem), 0);
    CU_ASSERT_EQUAL (s_count (&fx, TPC_MSG_ACK, NULL), 0);
    CU_ASSERT_STRING_EQUAL (part_engine_state (fx.eng, G1), "aborted");
    /* a late prepare still votes no; nothing is ever committed */
    s_gid_msg (&fx, TPC_MSG_PREPARE, G1, 0);
    s_pump (&fx);
    s_expect_vote (&fx, G1, TPC_VOTE_NO, NULL);
    s_wait (&fx, 5000);
    CU_ASSERT_EQUAL (part_mem_prepared_count (fx.mem), 0);
    CU_ASSERT_EQUAL (part_mem_committed_writes (fx.mem), 0);
    s_teardown (&fx);
}

/*  Found by the seeded simulation (tests/sim --seed 2276, --seed 3364
 *  without the fix): a second copy of a one-phase work (then=commit)
 *  arriving after the first committed ran again, failed on the commit
 *  marker's key (or, at seq > 1, met no record) and was acked "aborted";
 *  the coordinator told the client aborted although the database had
 *  committed.  The ack now comes from the marker (TOMBSTONE's verdict),
 *  and a one-phase work that fails leaves a tombstone so no late copy
 *  can commit it.                                                        */
static void
test_onephase_repeat_acks_truth (void)
{
    s_fx_t fx;
    s_setup (&fx, 0, 0);
    const char *two[] = { "INSERT a", "INSERT b" };
    s_work (&fx, G1, 1, TPC_THEN_COMMIT, 2, two);
    s_pump (&fx);
    s_expect_ack (&fx, G1, TPC_OUTCOME_COMMITTED);
    CU_ASSERT_EQUAL (part_engine_size (fx.eng), 0);
    s_work (&fx, G1, 1, TPC_THEN_COMMIT, 2, two);
    s_pump (&fx);
    s_expect_ack (&fx, G1, TPC_OUTCOME_COMMITTED);
    CU_ASSERT_EQUAL (part_mem_committed_writes (fx.mem), 2);
    CU_ASSERT_EQUAL (part_mem_open_count (fx.mem), 0);
    CU_ASSERT_EQUAL (part_mem_marker (fx.mem, G1), 'C');
    /* interactive: a copy of the last work (seq 2, then=commit) after
     * the record is gone is acked committed too (it was "unknown
     * transaction: aborted") */
    s_work1 (&fx, G3, 1, TPC_THEN_NONE, "INSERT c");
    s_pump (&fx);
    s_expect_worked (&fx, G3, 1, true, NULL);
    s_work (&fx, G3, 2, TPC_THEN_COMMIT, 0, NULL);
    s_pump (&fx);
    s_expect_ack (&fx, G3, TPC_OUTCOME_COMMITTED);
    s_work (&fx, G3, 2, TPC_THEN_COMMIT, 0, NULL);
    s_pump (&fx);
    s_expect_ack (&fx, G3, TPC_OUTCOME_COMMITTED);
    CU_ASSERT_EQUAL (part_mem_committed_writes (fx.mem), 3);
    /* a commit-time failure is aborted, with the database's message, and
     * leaves a tombstone: a late copy (after the record is forgotten) of
     * a transiently failed work must not commit what was acked aborted */
    part_mem_fail_next (fx.mem, PART_RM_COMMIT_ONEPHASE, TPC_EDB,
                        "could not serialize access", false);
    s_work1 (&fx, G2, 1, TPC_THEN_COMMIT, "INSERT d");
    s_pump (&fx);
    tpc_msg_t *m = s_take (&fx, TPC_MSG_ACK, G2);
    CU_ASSERT (m && m->outcome == TPC_OUTCOME_ABORTED && m->reason
               && strstr (m->reason, "could not serialize access"));
    tpc_msg_destroy (&m);
    CU_ASSERT_EQUAL (part_mem_marker (fx.mem, G2), 'T');
    s_wait (&fx, 61000);
    CU_ASSERT_PTR_NULL (part_engine_state (fx.eng, G2));
    s_clear_out (&fx);
    s_work1 (&fx, G2, 1, TPC_THEN_COMMIT, "INSERT d");
    s_pump (&fx);
    s_expect_ack (&fx, G2, TPC_OUTCOME_ABORTED);
    CU_ASSERT_EQUAL (part_mem_committed_writes (fx.mem), 3);
    CU_ASSERT_EQUAL (part_mem_open_count (fx.mem), 0);
    /* the same after a failed statement */
    const char *bad[] = { "INSERT e", "FAIL no such table" };
    s_work (&fx, G4, 1, TPC_THEN_COMMIT, 2, bad);
    s_pump (&fx);
    s_expect_ack (&fx, G4, TPC_OUTCOME_ABORTED);
    CU_ASSERT_EQUAL (part_mem_marker (fx.mem, G4), 'T');
    CU_ASSERT_EQUAL (part_mem_open_count (fx.mem), 0);
    s_teardown (&fx);
}

/*  Found by the seeded simulation (tests/sim --seed 1901 without the
 *  fix): a late copy of a work (seq 1) re-opened a transaction after its
 *  gid had ended committed (here: read-only at this agent).  Asked about
 *  it, the coordinator answers "committed", which left the copy open for
 *  ever (only "aborted" rolled an open transaction back).  Any final
 *  answer now rolls an open copy back; in_progress leaves it.           */
static void
test_stray_open_copy_rolled_back (void)
{
    s_fx_t fx;
    s_setup (&fx, 0, 0);
    s_work1 (&fx, G1, 1, TPC_THEN_NONE, "INSERT a");
    s_pump (&fx);
    s_expect_worked (&fx, G1, 1, true, NULL);
    s_clear_out (&fx);
    part_engine_coordinator_up (fx.eng, fx.now);
    s_drain (&fx);
    CU_ASSERT_EQUAL (s_count (&fx, TPC_MSG_QUERY, G1), 1);
    s_gid_msg (&fx, TPC_MSG_ANSWER, G1, TPC_OUTCOME_IN_PROGRESS);
    s_pump (&fx);
    CU_ASSERT (part_mem_is_open (fx.mem, G1));
    s_gid_msg (&fx, TPC_MSG_ANSWER, G1, TPC_OUTCOME_COMMITTED);
    s_pump (&fx);
    CU_ASSERT_FALSE (part_mem_is_open (fx.mem, G1));
    CU_ASSERT_EQUAL (part_mem_open_count (fx.mem), 0);
    CU_ASSERT_EQUAL (part_mem_committed_writes (fx.mem), 0);
    CU_ASSERT_EQUAL (part_mem_marker (fx.mem, G1), 'T');
    CU_ASSERT_STRING_EQUAL (part_engine_state (fx.eng, G1), "aborted");
    /* a copy of a gid that committed here: the tombstone says so */
    s_work1 (&fx, G2, 1, TPC_THEN_COMMIT, "INSERT b");
    s_pump (&fx);
    s_expect_ack (&fx, G2, TPC_OUTCOME_COMMITTED);
    s_work1 (&fx, G2, 1, TPC_THEN_NONE, "INSERT b");
    s_pump (&fx);
    s_expect_worked (&fx, G2, 1, true, NULL);
    s_clear_out (&fx);
    s_gid_msg (&fx, TPC_MSG_ANSWER, G2, TPC_OUTCOME_COMMITTED);
    s_pump (&fx);
    CU_ASSERT_EQUAL (part_mem_open_count (fx.mem), 0);
    CU_ASSERT_EQUAL (part_mem_committed_writes (fx.mem), 1);
    CU_ASSERT_EQUAL (part_mem_marker (fx.mem, G2), 'C');
    s_teardown (&fx);
}

/*  Found by the crash matrix (agent.after_prepare, CI): a restarted
 *  agent's ROLLBACK PREPARED raced with its crashed incarnation's PREPARE
 *  (still running in PostgreSQL), found nothing and went for a tombstone,
 *  which then waited for ever on the marker that prepared transaction
 *  holds (lock timeout, retried).  A tombstone failing with 55P03 now
 *  lists the prepared transactions; the gid, prepared after all, becomes
 *  in doubt and the coordinator's answer settles it.                    */
static void
test_tombstone_blocked_by_prepared (void)
{
    s_fx_t fx;
    s_setup (&fx, 0, 0);
    s_clear_out (&fx);
    /* prepared by the crashed incarnation, after this one's first listing */
    CU_ASSERT_EQUAL (part_mem_add_prepared (fx.mem, G1), 0);
    part_mem_fail_next (fx.mem, PART_RM_ROLLBACK_PREPARED, TPC_ENOENT,
                        "prepared transaction does not exist", false);
    part_mem_fail_next (fx.mem, PART_RM_TOMBSTONE, TPC_EDB,
                        "canceling statement due to lock timeout", false);
    part_mem_fail_sqlstate (fx.mem, PART_RM_TOMBSTONE, "55P03");
    s_gid_msg (&fx, TPC_MSG_DECIDE, G1, TPC_OUTCOME_ABORTED);
    s_pump (&fx);
    /* listed again: in doubt, asked */
    CU_ASSERT (s_count (&fx, TPC_MSG_QUERY, G1) >= 1);
    CU_ASSERT (part_mem_is_prepared (fx.mem, G1));
    s_gid_msg (&fx, TPC_MSG_ANSWER, G1, TPC_OUTCOME_ABORTED);
    s_pump (&fx);
    CU_ASSERT_FALSE (part_mem_is_prepared (fx.mem, G1));
    s_expect_ack (&fx, G1, TPC_OUTCOME_ABORTED);
    s_teardown (&fx);
}

/*  The same with MariaDB (crash matrix, TPC_CRASH_ENGINES=pg,maria,
 *  agent.after_prepare): its lock wait timeout on the marker (error 1205)
 *  comes with SQLSTATE HY000, not 55P03; the tombstone was retried for
 *  ever and the branch stayed in XA RECOVER.                            */
static void
test_tombstone_blocked_by_prepared_mariadb (void)
{
    s_fx_t fx;
    s_setup (&fx, 0, 0);
    s_clear_out (&fx);
    CU_ASSERT_EQUAL (part_mem_add_prepared (fx.mem, G1), 0);
    part_mem_fail_next (fx.mem, PART_RM_ROLLBACK_PREPARED, TPC_ENOENT,
                        "XAER_NOTA: Unknown XID", false);
    part_mem_fail_next (fx.mem, PART_RM_TOMBSTONE, TPC_EDB,
                        "Lock wait timeout exceeded; try restarting "
                        "transaction (MariaDB error 1205)", false);
    part_mem_fail_sqlstate (fx.mem, PART_RM_TOMBSTONE, "HY000");
    s_gid_msg (&fx, TPC_MSG_DECIDE, G1, TPC_OUTCOME_ABORTED);
    s_pump (&fx);
    CU_ASSERT (s_count (&fx, TPC_MSG_QUERY, G1) >= 1);
    CU_ASSERT (part_mem_is_prepared (fx.mem, G1));
    s_gid_msg (&fx, TPC_MSG_ANSWER, G1, TPC_OUTCOME_ABORTED);
    s_pump (&fx);
    CU_ASSERT_FALSE (part_mem_is_prepared (fx.mem, G1));
    s_expect_ack (&fx, G1, TPC_OUTCOME_ABORTED);
    s_teardown (&fx);
}

/* ------------------------------------------------------------------ */
/*  Three-phase commit                                                 */

static const char *const s_names3[] = { "a1", "b2", "c3" };
static const char *const s_peers3[] = { "tcp://a1", "tcp://b2", "tcp://c3" };

/*  An agent called NAME with a state log and a peer link (p3 timers 2000
 *  / 500 ms, decided gids remembered 10 s).                              */
static void
s_setup3 (s_fx_t *fx, const char *name)
{
    memset (fx, 0, sizeof *fx);
    fx->mem = part_mem_new (NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL (fx->mem);
    fx->p3 = true;
    fx->cfg.name = name;
    fx->cfg.peer_endpoint = "tcp://me:7500";
    fx->cfg.p3_forget_ms = 10000;
    fx->now = 1000;
    s_engine_new (fx);
    s_pump (fx);
    CU_ASSERT (part_engine_ready (fx->eng, NULL));
    s_clear_out (fx);
}

/*  work seq 1 then=prepare, protocol 3pc, among a1, b2, c3 at PEERS.     */
static void
s_work3p (s_fx_t *fx, const char *gid, const char *sql,
          const char *const *peers)
{
    tpc_msg_t *m = tpc_msg_new (TPC_MSG_WORK);
    CU_ASSERT_PTR_NOT_NULL_FATAL (m);
    tpc_msg_set_str (&m->gid, gid);
    m->seq = 1;
    m->then = TPC_THEN_PREPARE;
    m->has_protocol = true;
    m->protocol = TPC_PROTO_3PC;
    tpc_msg_add_stmt (m, NULL, sql, 0, NULL);
    for (size_t i = 0; i < 3; i++) {
        tpc_msg_strv_push (&m->parts, &m->nparts, s_names3[i]);
        tpc_msg_strv_push (&m->peers, &m->npeers, peers[i]);
    }
    s_deliver (fx, m);
}

static void
s_work3 (s_fx_t *fx, const char *gid, const char *sql)
{
    s_work3p (fx, gid, sql, s_peers3);
}

/*  A 3PC transaction voted yes here.                                     */
static void
s_voted3 (s_fx_t *fx, const char *gid)
{
    s_work3 (fx, gid, "INSERT a");
    s_pump (fx);
    s_expect_vote (fx, gid, TPC_VOTE_YES, NULL);
    CU_ASSERT_EQUAL (part_engine_p3 (fx->eng, gid), TPC_P3_UNCERTAIN);
    CU_ASSERT (part_mem_is_prepared (fx->mem, gid));
    s_clear_out (fx);
}

/*  Remove and return the first peer message of TYPE about GID to (or
 *  replying to) NAME, or NULL.                                           */
static tpc_msg_t *
s_peer_take (s_fx_t *fx, const char *name, tpc_msg_type_t type, const char *gid)
{
    for (size_t i = 0; i < fx->npeer; i++) {
        tpc_msg_t *m = fx->peer[i].msg;
        if (m->type != type || strcmp (fx->peer[i].name, name)
            || (gid && (!m->gid || strcmp (m->gid, gid))))
            continue;
        memmove (&fx->peer[i], &fx->peer[i + 1],
                 (fx->npeer - i - 1) * sizeof fx->peer[0]);
        fx->npeer--;
        return m;
    }
    return NULL;
}

static size_t
s_peer_count (s_fx_t *fx, tpc_msg_type_t type)
{
    size_t n = 0;
    for (size_t i = 0; i < fx->npeer; i++)
        n += fx->peer[i].msg->type == type;
    return n;
}

/*  The same, about GID only.                                             */
static size_t
s_peer_count_gid (s_fx_t *fx, tpc_msg_type_t type, const char *gid)
{
    size_t n = 0;
    for (size_t i = 0; i < fx->npeer; i++)
        n += fx->peer[i].msg->type == type && fx->peer[i].msg->gid
             && !strcmp (fx->peer[i].msg->gid, gid);
    return n;
}

/*  Expect a peer message TYPE about GID to NAME (state S / outcome O when
 *  not 0).                                                               */
static void
s_expect_peer (s_fx_t *fx, const char *name, tpc_msg_type_t type,
               const char *gid, int s_or_o)
{
    tpc_msg_t *m = s_peer_take (fx, name, type, gid);
    CU_ASSERT_PTR_NOT_NULL (m);
    if (!m) {
        fprintf (stderr, "  no %s to %s\n", tpc_msg_type_name (type), name);
        return;
    }
    if (type == TPC_MSG_STATE)
        CU_ASSERT_EQUAL ((int) m->p3, s_or_o);
    if (type == TPC_MSG_DECIDE)
        CU_ASSERT_EQUAL ((int) m->outcome, s_or_o);
    tpc_msg_destroy (&m);
}

static void
s_expect_state (s_fx_t *fx, const char *gid, tpc_p3_t state)
{
    tpc_msg_t *m = s_take (fx, TPC_MSG_STATE, gid);
    CU_ASSERT_PTR_NOT_NULL (m);
    if (m)
        CU_ASSERT_EQUAL (m->p3, state);
    tpc_msg_destroy (&m);
}

/*  Peer NAME replies state S about GID.                                  */
static void
s_peer_state (s_fx_t *fx, const char *name, const char *gid, tpc_p3_t state)
{
    tpc_msg_t *m = tpc_msg_new (TPC_MSG_STATE);
    CU_ASSERT_PTR_NOT_NULL_FATAL (m);
    tpc_msg_set_str (&m->gid, gid);
    m->p3 = state;
    part_engine_on_peer_reply (fx->eng, name, &m, fx->now);
    s_drain (fx);
    CU_ASSERT_PTR_NULL (m);
}

/*  The same, echoing round SEQ.                                          */
static void
s_peer_state_seq (s_fx_t *fx, const char *name, const char *gid,
                  tpc_p3_t state, uint64_t seq)
{
    tpc_msg_t *m = tpc_msg_new (TPC_MSG_STATE);
    CU_ASSERT_PTR_NOT_NULL_FATAL (m);
    tpc_msg_set_str (&m->gid, gid);
    m->p3 = state;
    m->seq = seq;
    part_engine_on_peer_reply (fx->eng, name, &m, fx->now);
    s_drain (fx);
    CU_ASSERT_PTR_NULL (m);
}

/*  Peer NAME asks TYPE (getstate, precommit, decide O) about GID.        */
static void
s_peer_ask (s_fx_t *fx, const char *name, tpc_msg_type_t type, const char *gid,
            tpc_outcome_t outcome)
{
    tpc_msg_t *m = tpc_msg_new (type);
    CU_ASSERT_PTR_NOT_NULL_FATAL (m);
    tpc_msg_set_str (&m->gid, gid);
    m->outcome = outcome;
    part_engine_on_peer_request (fx->eng, name, name, strlen (name), &m,
                                 fx->now);
    s_drain (fx);
    CU_ASSERT_PTR_NULL (m);
}

/*  The coordinator drives a 3PC gid: UNCERTAIN durable before the
 *  database prepares (a crash in between must not leave a prepared
 *  transaction only a dead coordinator could settle), vote yes only after
 *  the prepare, state reply only after PRECOMMITTED is, COMMIT PREPARED only
 *  after COMMITTED is; getstate answered; forgotten after p3_forget_ms. */
static void
test_3pc_coordinator_path (void)
{
    s_fx_t fx;
    s_setup3 (&fx, "b2");
    tpc_msg_t *hello = NULL;
    s_wait (&fx, 1000);
    hello = s_take (&fx, TPC_MSG_HELLO, NULL);
    CU_ASSERT (hello && hello->peer && !strcmp (hello->peer, "tcp://me:7500"));
    tpc_msg_destroy (&hello);
    s_clear_out (&fx);

    s_work3 (&fx, G1, "INSERT a");
    s_pump (&fx);
    int pu = s_ev (&fx, "persist uncertain " G1);
    int vy = s_ev (&fx, "send vote yes " G1);
    CU_ASSERT (pu >= 0 && vy > pu);
    s_persisted_t *p = s_persisted (&fx, G1);
    CU_ASSERT (p && p->state == TPC_P3_UNCERTAIN && p->nparts == 3
               && !p->prepared);        /* persisted BEFORE the prepare */
    CU_ASSERT (part_mem_is_prepared (fx.mem, G1));
    s_expect_vote (&fx, G1, TPC_VOTE_YES, NULL);
    CU_ASSERT_EQUAL (part_engine_p3 (fx.eng, G1), TPC_P3_UNCERTAIN);

    /* getstate from the coordinator: answered, nothing changes */
    s_gid_msg (&fx, TPC_MSG_GETSTATE, G1, 0);
    s_expect_state (&fx, G1, TPC_P3_UNCERTAIN);

    s_clear_out (&fx);
    s_gid_msg (&fx, TPC_MSG_PRECOMMIT, G1, 0);
    int pp = s_ev (&fx, "persist precommitted " G1);
    int sp = s_ev (&fx, "send state precommitted " G1);
    CU_ASSERT (pp >= 0 && sp > pp);
    s_expect_state (&fx, G1, TPC_P3_PRECOMMITTED);
    CU_ASSERT_EQUAL (part_engine_p3 (fx.eng, G1), TPC_P3_PRECOMMITTED);
    /* a repeated precommit: the same answer, nothing persisted again */
    size_t npers = fx.npers;
    s_gid_msg (&fx, TPC_MSG_PRECOMMIT, G1, 0);
    s_expect_state (&fx, G1, TPC_P3_PRECOMMITTED);
    CU_ASSERT_EQUAL (fx.npers, npers);

    uint64_t ops = part_mem_submitted (fx.mem, PART_RM_COMMIT_PREPARED);
    s_gid_msg (&fx, TPC_MSG_DECIDE, G1, TPC_OUTCOME_COMMITTED);
    p = s_persisted (&fx, G1);
    CU_ASSERT (p && p->state == TPC_P3_COMMITTED && p->prepared
               && p->phase2_ops == ops);
    s_pump (&fx);
    s_expect_ack (&fx, G1, TPC_OUTCOME_COMMITTED);
    CU_ASSERT_EQUAL (part_mem_committed_writes (fx.mem), 1);
    CU_ASSERT_EQUAL (part_mem_prepared_count (fx.mem), 0);
    CU_ASSERT_EQUAL (part_engine_p3 (fx.eng, G1), TPC_P3_COMMITTED);
    /* no termination for a decided gid; getstate answers committed */
    s_clear_out (&fx);
    s_wait (&fx, 5000);
    CU_ASSERT_EQUAL (s_peer_count (&fx, TPC_MSG_GETSTATE), 0);
    s_peer_ask (&fx, "c3", TPC_MSG_GETSTATE, G1, 0);
    s_expect_peer (&fx, "c3", TPC_MSG_STATE, G1, TPC_P3_COMMITTED);
    /* a repeated decide is acked from the database, as in 2PC */
    s_gid_msg (&fx, TPC_MSG_DECIDE, G1, TPC_OUTCOME_COMMITTED);
    s_pump (&fx);
    s_expect_ack (&fx, G1, TPC_OUTCOME_COMMITTED);
    s_wait (&fx, 5100);                 /* p3_forget_ms after the decision */
    CU_ASSERT_EQUAL (part_engine_p3 (fx.eng, G1), TPC_P3_UNKNOWN);
    s_peer_ask (&fx, "c3", TPC_MSG_GETSTATE, G1, 0);
    s_expect_peer (&fx, "c3", TPC_MSG_STATE, G1, TPC_P3_UNKNOWN);

    /* abort: ABORTED durable before ROLLBACK PREPARED */
    s_voted3 (&fx, G2);
    ops = part_mem_submitted (fx.mem, PART_RM_ROLLBACK_PREPARED);
    s_gid_msg (&fx, TPC_MSG_DECIDE, G2, TPC_OUTCOME_ABORTED);
    p = s_persisted (&fx, G2);
    CU_ASSERT (p && p->state == TPC_P3_ABORTED && p->prepared);
    s_pump (&fx);
    CU_ASSERT_EQUAL (part_mem_submitted (fx.mem, PART_RM_ROLLBACK_PREPARED), ops + 1);
    s_expect_ack (&fx, G2, TPC_OUTCOME_ABORTED);
    CU_ASSERT_EQUAL (part_mem_prepared_count (fx.mem), 0);
    CU_ASSERT_EQUAL (part_mem_committed_writes (fx.mem), 1);
    /* a precommit after the decision says so */
    s_gid_msg (&fx, TPC_MSG_PRECOMMIT, G2, 0);
    s_expect_state (&fx, G2, TPC_P3_ABORTED);
    s_teardown (&fx);
}

/*  No state log, or one that fails: never a yes vote; the prepared
 *  transaction is rolled back.  A failing persist later changes nothing.*/
static void
test_3pc_persist_failure (void)
{
    s_fx_t fx;
    /* no io->persist at all */
    memset (&fx, 0, sizeof fx);
    fx.mem = part_mem_new (NULL);
    fx.cfg.name = "a1";
    fx.now = 1000;
    s_engine_new (&fx);
    s_pump (&fx);
    s_clear_out (&fx);
    s_work3 (&fx, G1, "INSERT a");
    s_pump (&fx);
    s_expect_vote (&fx, G1, TPC_VOTE_NO, "state log");
    /* never even prepared: a crash could leave it prepared with no state */
    CU_ASSERT_EQUAL (part_mem_submitted (fx.mem, PART_RM_PREPARE), 0);
    CU_ASSERT_EQUAL (part_mem_prepared_count (fx.mem), 0);
    CU_ASSERT_EQUAL (part_engine_p3 (fx.eng, G1), TPC_P3_UNKNOWN);
    /* asked by a peer it says aborted (it never voted yes) */
    CU_ASSERT_STRING_EQUAL (part_engine_state (fx.eng, G1), "aborted");
    s_teardown (&fx);

    /* persist fails */
    s_setup3 (&fx, "a1");
    fx.persist_fails = true;
    s_work3 (&fx, G1, "INSERT a");
    s_pump (&fx);
    s_expect_vote (&fx, G1, TPC_VOTE_NO, "durable");
    CU_ASSERT_EQUAL (s_ev (&fx, "send vote yes"), -1);
    CU_ASSERT_EQUAL (part_mem_submitted (fx.mem, PART_RM_PREPARE), 0);
    CU_ASSERT_EQUAL (part_mem_prepared_count (fx.mem), 0);
    CU_ASSERT_EQUAL (part_engine_p3 (fx.eng, G1), TPC_P3_UNKNOWN);
    s_peer_ask (&fx, "b2", TPC_MSG_GETSTATE, G1, 0);
    s_expect_peer (&fx, "b2", TPC_MSG_STATE, G1, TPC_P3_ABORTED);

    /* precommit and decide not durable: not acted on, no reply */
    fx.persist_fails = false;
    s_voted3 (&fx, G2);
    fx.persist_fails = true;
    s_gid_msg (&fx, TPC_MSG_PRECOMMIT, G2, 0);
    CU_ASSERT_EQUAL (s_count (&fx, TPC_MSG_STATE, G2), 0);
    CU_ASSERT_EQUAL (part_engine_p3 (fx.eng, G2), TPC_P3_UNCERTAIN);
    s_gid_msg (&fx, TPC_MSG_DECIDE, G2, TPC_OUTCOME_COMMITTED);
    s_pump (&fx);
    CU_ASSERT_EQUAL (s_count (&fx, TPC_MSG_ACK, G2), 0);
    CU_ASSERT (part_mem_is_prepared (fx.mem, G2));
    CU_ASSERT_EQUAL (part_mem_committed_writes (fx.mem), 0);
    CU_ASSERT_EQUAL (part_engine_p3 (fx.eng, G2), TPC_P3_UNCERTAIN);
    /* the store works again: the coordinator's resend goes through */
    fx.persist_fails = false;
    s_gid_msg (&fx, TPC_MSG_DECIDE, G2, TPC_OUTCOME_COMMITTED);
    s_pump (&fx);
    s_expect_ack (&fx, G2, TPC_OUTCOME_COMMITTED);
    CU_ASSERT_EQUAL (part_mem_committed_writes (fx.mem), 1);
    s_teardown (&fx);
}

/*  A read-only 3PC transaction: three-phase commit never votes readonly
 *  (an agent that left would answer UNKNOWN to a termination round, and a
 *  leader's commit could not be applied there), so the RM keeps it
 *  prepared (keep_readonly), the vote is yes and the state UNCERTAIN.    */
static void
test_3pc_readonly (void)
{
    s_fx_t fx;
    s_setup3 (&fx, "a1");
    s_work3 (&fx, G1, "SELECT 1");
    s_pump (&fx);
    s_expect_vote (&fx, G1, TPC_VOTE_YES, NULL);
    CU_ASSERT_EQUAL (fx.npers, 1);
    CU_ASSERT_EQUAL (part_engine_p3 (fx.eng, G1), TPC_P3_UNCERTAIN);
    CU_ASSERT (part_mem_is_prepared (fx.mem, G1));
    s_gid_msg (&fx, TPC_MSG_DECIDE, G1, TPC_OUTCOME_COMMITTED);
    s_pump (&fx);
    s_expect_ack (&fx, G1, TPC_OUTCOME_COMMITTED);
    CU_ASSERT_EQUAL (part_engine_p3 (fx.eng, G1), TPC_P3_COMMITTED);
    CU_ASSERT_FALSE (part_mem_is_prepared (fx.mem, G1));
    s_teardown (&fx);
}

/*  (a) the coordinator is silent; this agent has the lowest name; the
 *  peers say {precommitted, uncertain}: precommit to the uncertain one,
 *  then decide committed to both and commit here.                        */
static void
test_3pc_term_precommitted_commits (void)
{
    s_fx_t fx;
    s_setup3 (&fx, "a1");
    s_voted3 (&fx, G1);
    s_wait (&fx, 1999);
    CU_ASSERT_EQUAL (s_peer_count (&fx, TPC_MSG_GETSTATE), 0);
    s_wait (&fx, 1);
    s_expect_peer (&fx, "b2", TPC_MSG_GETSTATE, G1, 0);
    s_expect_peer (&fx, "c3", TPC_MSG_GETSTATE, G1, 0);
    CU_ASSERT_EQUAL (fx.npeer, 0);
    s_peer_state (&fx, "b2", G1, TPC_P3_PRECOMMITTED);
    CU_ASSERT_EQUAL (fx.npeer, 0);              /* c3 not heard yet */
    s_peer_state (&fx, "c3", G1, TPC_P3_UNCERTAIN);
    /* own PRECOMMITTED durable, then precommit to c3 only */
    int pp = s_ev (&fx, "persist precommitted " G1);
    int pc = s_ev (&fx, "peer_send c3 precommit");
    CU_ASSERT (pp >= 0 && pc > pp);
    s_expect_peer (&fx, "c3", TPC_MSG_PRECOMMIT, G1, 0);
    CU_ASSERT_EQUAL (fx.npeer, 0);
    CU_ASSERT_EQUAL (part_engine_p3 (fx.eng, G1), TPC_P3_PRECOMMITTED);
    s_peer_state (&fx, "c3", G1, TPC_P3_PRECOMMITTED);
    int pc2 = s_ev (&fx, "persist committed " G1);
    int d2 = s_ev (&fx, "peer_send b2 decide committed");
    int d3 = s_ev (&fx, "peer_send c3 decide committed");
    CU_ASSERT (pc2 >= 0 && d2 > pc2 && d3 > pc2);
    s_expect_peer (&fx, "b2", TPC_MSG_DECIDE, G1, TPC_OUTCOME_COMMITTED);
    s_expect_peer (&fx, "c3", TPC_MSG_DECIDE, G1, TPC_OUTCOME_COMMITTED);
    s_pump (&fx);
    CU_ASSERT_EQUAL (part_engine_p3 (fx.eng, G1), TPC_P3_COMMITTED);
    CU_ASSERT_EQUAL (part_mem_committed_writes (fx.mem), 1);
    CU_ASSERT_EQUAL (part_mem_prepared_count (fx.mem), 0);
    CU_ASSERT_EQUAL (part_mem_marker (fx.mem, G1), 'C');
    CU_ASSERT_EQUAL (s_count (&fx, TPC_MSG_ACK, NULL), 0);   /* nobody asked */
    /* the coordinator comes back: the precommit is answered committed,
     * its decide is acked from the database */
    s_gid_msg (&fx, TPC_MSG_PRECOMMIT, G1, 0);
    s_expect_state (&fx, G1, TPC_P3_COMMITTED);
    s_gid_msg (&fx, TPC_MSG_DECIDE, G1, TPC_OUTCOME_COMMITTED);
    s_pump (&fx);
    s_expect_ack (&fx, G1, TPC_OUTCOME_COMMITTED);
    CU_ASSERT_EQUAL (part_mem_committed_writes (fx.mem), 1);
    /* late replies change nothing */
    s_peer_state (&fx, "b2", G1, TPC_P3_ABORTED);
    s_pump (&fx);
    CU_ASSERT_EQUAL (part_engine_p3 (fx.eng, G1), TPC_P3_COMMITTED);
    s_teardown (&fx);
}

/*  (b) all uncertain (c3 silent: it is out of R after p3_collect_ms):
 *  decide aborted, rolled back.                                          */
static void
test_3pc_term_all_uncertain_aborts (void)
{
    s_fx_t fx;
    s_setup3 (&fx, "a1");
    s_voted3 (&fx, G1);
    s_wait (&fx, 2000);
    CU_ASSERT_EQUAL (s_peer_count (&fx, TPC_MSG_GETSTATE), 2);
    s_clear_out (&fx);
    s_peer_state (&fx, "b2", G1, TPC_P3_UNCERTAIN);
    s_wait (&fx, 499);
    CU_ASSERT_EQUAL (part_engine_p3 (fx.eng, G1), TPC_P3_UNCERTAIN);
    CU_ASSERT_EQUAL (fx.npeer, 0);
    s_wait (&fx, 1);
    CU_ASSERT_EQUAL (part_engine_p3 (fx.eng, G1), TPC_P3_ABORTED);
    s_expect_peer (&fx, "b2", TPC_MSG_DECIDE, G1, TPC_OUTCOME_ABORTED);
    CU_ASSERT_EQUAL (fx.npeer, 0);              /* not to silent c3 */
    s_pump (&fx);
    CU_ASSERT_EQUAL (part_mem_prepared_count (fx.mem), 0);
    CU_ASSERT_EQUAL (part_mem_committed_writes (fx.mem), 0);
    /* the coordinator's precommit now meets "aborted": it cannot commit */
    s_gid_msg (&fx, TPC_MSG_PRECOMMIT, G1, 0);
    s_expect_state (&fx, G1, TPC_P3_ABORTED);
    CU_ASSERT_EQUAL (part_engine_p3 (fx.eng, G1), TPC_P3_ABORTED);
    s_teardown (&fx);
}

/*  (c) a peer says committed -> commit; (d) a peer says aborted -> abort
 *  (even when another one is pre-committed).                             */
static void
test_3pc_term_follows_decision (void)
{
    s_fx_t fx;
    s_setup3 (&fx, "a1");
    s_voted3 (&fx, G1);
    s_voted3 (&fx, G2);
    s_wait (&fx, 2000);
    CU_ASSERT_EQUAL (s_peer_count (&fx, TPC_MSG_GETSTATE), 4);
    s_clear_out (&fx);
    s_peer_state (&fx, "b2", G1, TPC_P3_UNCERTAIN);
    s_peer_state (&fx, "c3", G1, TPC_P3_COMMITTED);
    s_peer_state (&fx, "b2", G2, TPC_P3_PRECOMMITTED);
    s_peer_state (&fx, "c3", G2, TPC_P3_ABORTED);
    s_pump (&fx);
    CU_ASSERT_EQUAL (part_engine_p3 (fx.eng, G1), TPC_P3_COMMITTED);
    CU_ASSERT_EQUAL (part_engine_p3 (fx.eng, G2), TPC_P3_ABORTED);
    s_expect_peer (&fx, "b2", TPC_MSG_DECIDE, G1, TPC_OUTCOME_COMMITTED);
    s_expect_peer (&fx, "c3", TPC_MSG_DECIDE, G1, TPC_OUTCOME_COMMITTED);
    s_expect_peer (&fx, "b2", TPC_MSG_DECIDE, G2, TPC_OUTCOME_ABORTED);
    s_expect_peer (&fx, "c3", TPC_MSG_DECIDE, G2, TPC_OUTCOME_ABORTED);
    CU_ASSERT_EQUAL (s_peer_count (&fx, TPC_MSG_PRECOMMIT), 0);
    CU_ASSERT_EQUAL (part_mem_committed_writes (fx.mem), 1);
    CU_ASSERT_EQUAL (part_mem_marker (fx.mem, G1), 'C');
    CU_ASSERT_EQUAL (part_mem_prepared_count (fx.mem), 0);
    s_teardown (&fx);
}

/*  (e) not the leader: wait for the leader's precommit and decide; when
 *  the leader stays silent, a new round without it makes this agent the
 *  leader.                                                               */
static void
test_3pc_term_follower (void)
{
    s_fx_t fx;
    s_setup3 (&fx, "b2");
    s_voted3 (&fx, G1);
    s_wait (&fx, 2000);
    s_expect_peer (&fx, "a1", TPC_MSG_GETSTATE, G1, 0);
    s_expect_peer (&fx, "c3", TPC_MSG_GETSTATE, G1, 0);
    s_peer_state (&fx, "a1", G1, TPC_P3_UNCERTAIN);
    s_peer_state (&fx, "c3", G1, TPC_P3_PRECOMMITTED);
    /* a1 leads: nothing from here */
    s_wait (&fx, 1999);
    CU_ASSERT_EQUAL (fx.npeer, 0);
    CU_ASSERT_EQUAL (part_engine_p3 (fx.eng, G1), TPC_P3_UNCERTAIN);
    /* the leader's precommit is obeyed, its decide applied */
    s_peer_ask (&fx, "a1", TPC_MSG_PRECOMMIT, G1, 0);
    s_expect_peer (&fx, "a1", TPC_MSG_STATE, G1, TPC_P3_PRECOMMITTED);
    CU_ASSERT_EQUAL (part_engine_p3 (fx.eng, G1), TPC_P3_PRECOMMITTED);
    s_wait (&fx, 100);
    s_peer_ask (&fx, "a1", TPC_MSG_DECIDE, G1, TPC_OUTCOME_COMMITTED);
    s_expect_peer (&fx, "a1", TPC_MSG_STATE, G1, TPC_P3_COMMITTED);
    s_pump (&fx);
    CU_ASSERT_EQUAL (part_engine_p3 (fx.eng, G1), TPC_P3_COMMITTED);
    CU_ASSERT_EQUAL (part_mem_committed_writes (fx.mem), 1);
    CU_ASSERT_EQUAL (part_mem_prepared_count (fx.mem), 0);
    CU_ASSERT_EQUAL (s_count (&fx, TPC_MSG_ACK, NULL), 0);
    CU_ASSERT_EQUAL (fx.npeer, 0);

    /* the leader goes silent after the first round */
    s_voted3 (&fx, G2);
    s_wait (&fx, 2000);
    s_expect_peer (&fx, "a1", TPC_MSG_GETSTATE, G2, 0);
    s_expect_peer (&fx, "c3", TPC_MSG_GETSTATE, G2, 0);
    s_peer_state (&fx, "a1", G2, TPC_P3_UNCERTAIN);
    s_peer_state (&fx, "c3", G2, TPC_P3_UNCERTAIN);
    s_wait (&fx, 1999);
    CU_ASSERT_EQUAL (fx.npeer, 0);
    s_wait (&fx, 1);                    /* p3_timeout_ms: a new round */
    s_expect_peer (&fx, "a1", TPC_MSG_GETSTATE, G2, 0);
    s_expect_peer (&fx, "c3", TPC_MSG_GETSTATE, G2, 0);
    s_peer_state (&fx, "c3", G2, TPC_P3_UNCERTAIN);
    s_wait (&fx, 500);                  /* a1 never answers: b2 leads */
    CU_ASSERT_EQUAL (part_engine_p3 (fx.eng, G2), TPC_P3_ABORTED);
    s_expect_peer (&fx, "c3", TPC_MSG_DECIDE, G2, TPC_OUTCOME_ABORTED);
    CU_ASSERT_EQUAL (fx.npeer, 0);
    s_pump (&fx);
    CU_ASSERT_EQUAL (part_mem_prepared_count (fx.mem), 0);
    CU_ASSERT_EQUAL (part_mem_committed_writes (fx.mem), 1);

    /* a peer that says UNKNOWN (never voted yes: read-only there) never
     * leads, even with the lowest name */
    s_voted3 (&fx, G3);
    s_wait (&fx, 2000);
    s_peer_state (&fx, "a1", G3, TPC_P3_UNKNOWN);
    s_peer_state (&fx, "c3", G3, TPC_P3_PRECOMMITTED);
    s_expect_peer (&fx, "c3", TPC_MSG_DECIDE, G3, TPC_OUTCOME_COMMITTED);
    s_expect_peer (&fx, "a1", TPC_MSG_DECIDE, G3, TPC_OUTCOME_COMMITTED);
    s_pump (&fx);
    CU_ASSERT_EQUAL (part_engine_p3 (fx.eng, G3), TPC_P3_COMMITTED);
    CU_ASSERT_EQUAL (part_mem_committed_writes (fx.mem), 2);
    s_teardown (&fx);
}

/*  A decision seen is adopted by a non-leader; a participant without a
 *  peer endpoint cannot be asked, so no round concludes by rule 3 or 4
 *  (it might be alive and pre-committed): the gid waits.                */
static void
s_expect_no_decision (s_fx_t *fx, const char *gid)
{
    CU_ASSERT_EQUAL (part_engine_p3 (fx->eng, gid), TPC_P3_UNCERTAIN);
    CU_ASSERT_EQUAL (s_peer_count (fx, TPC_MSG_DECIDE), 0);
    CU_ASSERT (part_mem_is_prepared (fx->mem, gid));
}

static void
test_3pc_term_adopt_and_incomplete (void)
{
    s_fx_t fx;
    s_setup3 (&fx, "c3");
    s_voted3 (&fx, G1);
    s_wait (&fx, 2000);
    s_peer_state (&fx, "a1", G1, TPC_P3_UNCERTAIN);
    s_peer_state (&fx, "b2", G1, TPC_P3_COMMITTED);
    s_pump (&fx);
    CU_ASSERT_EQUAL (part_engine_p3 (fx.eng, G1), TPC_P3_COMMITTED);
    CU_ASSERT_EQUAL (part_mem_committed_writes (fx.mem), 1);
    s_clear_out (&fx);

    const char *const nob2[] = { "tcp://a1", "", "tcp://c3" };
    s_work3p (&fx, G2, "INSERT b", nob2);
    s_pump (&fx);
    s_expect_vote (&fx, G2, TPC_VOTE_YES, NULL);
    s_clear_out (&fx);
    s_wait (&fx, 2000);
    s_expect_peer (&fx, "a1", TPC_MSG_GETSTATE, G2, 0);
    CU_ASSERT_EQUAL (fx.npeer, 0);                      /* b2: no endpoint */
    s_peer_state (&fx, "a1", G2, TPC_P3_UNCERTAIN);     /* would be rule 4 */
    s_pump (&fx);
    s_expect_no_decision (&fx, G2);
    s_wait (&fx, 2000);                                 /* again */
    s_expect_peer (&fx, "a1", TPC_MSG_GETSTATE, G2, 0);
    s_wait (&fx, 500);                                  /* a1 silent */
    s_expect_no_decision (&fx, G2);
    s_wait (&fx, 1999);                                 /* FOLLOW-like wait */
    CU_ASSERT_EQUAL (fx.npeer, 0);
    s_wait (&fx, 1);
    s_expect_peer (&fx, "a1", TPC_MSG_GETSTATE, G2, 0);
    s_peer_state (&fx, "a1", G2, TPC_P3_ABORTED);       /* a decision */
    s_pump (&fx);
    CU_ASSERT_EQUAL (part_engine_p3 (fx.eng, G2), TPC_P3_ABORTED);
    CU_ASSERT_FALSE (part_mem_is_prepared (fx.mem, G2));
    CU_ASSERT_EQUAL (part_mem_committed_writes (fx.mem), 1);
    s_teardown (&fx);
}

/*  A peer the shell cannot reach (part_engine_peer_failed) is not waited
 *  for: b2's reply ends the round at once, and since c3 was never asked
 *  the round is incomplete: no decision (a silent c3 would have been
 *  taken for crashed after p3_collect_ms, and G1 aborted).               */
static void
test_3pc_term_peer_unreachable (void)
{
    s_fx_t fx;
    s_setup3 (&fx, "a1");
    s_voted3 (&fx, G1);
    fx.peer_down = "c3";
    s_wait (&fx, 2000);
    CU_ASSERT_EQUAL (s_peer_count (&fx, TPC_MSG_GETSTATE), 1);
    s_clear_out (&fx);
    s_peer_state (&fx, "b2", G1, TPC_P3_UNCERTAIN);
    s_pump (&fx);
    s_wait (&fx, 500);
    CU_ASSERT_EQUAL (part_engine_p3 (fx.eng, G1), TPC_P3_UNCERTAIN);
    s_expect_no_decision (&fx, G1);
    s_teardown (&fx);
}

/*  Replies that come back from inside peer_send are counted (a
 *  simulation may deliver them at once).                                 */
static void
test_3pc_term_sync_replies (void)
{
    s_fx_t fx;
    s_setup3 (&fx, "a1");
    s_voted3 (&fx, G1);
    fx.sync_state[1] = TPC_P3_PRECOMMITTED;
    fx.sync_state[2] = TPC_P3_UNCERTAIN;
    s_wait (&fx, 2000);
    s_pump (&fx);
    CU_ASSERT_EQUAL (part_engine_p3 (fx.eng, G1), TPC_P3_COMMITTED);
    s_expect_peer (&fx, "c3", TPC_MSG_PRECOMMIT, G1, 0);
    s_expect_peer (&fx, "b2", TPC_MSG_DECIDE, G1, TPC_OUTCOME_COMMITTED);
    s_expect_peer (&fx, "c3", TPC_MSG_DECIDE, G1, TPC_OUTCOME_COMMITTED);
    CU_ASSERT_EQUAL (part_mem_committed_writes (fx.mem), 1);
    s_teardown (&fx);
}

/*  (f) termination-mode hardening: after answering a peer's getstate
 *  while uncertain, the coordinator's precommit gets "state uncertain";
 *  the leader's precommit is obeyed.                                     */
static void
test_3pc_hardening (void)
{
    s_fx_t fx;
    s_setup3 (&fx, "b2");
    s_voted3 (&fx, G1);
    s_peer_ask (&fx, "a1", TPC_MSG_GETSTATE, G1, 0);
    s_expect_peer (&fx, "a1", TPC_MSG_STATE, G1, TPC_P3_UNCERTAIN);
    s_gid_msg (&fx, TPC_MSG_PRECOMMIT, G1, 0);
    s_expect_state (&fx, G1, TPC_P3_UNCERTAIN);
    CU_ASSERT_EQUAL (part_engine_p3 (fx.eng, G1), TPC_P3_UNCERTAIN);
    CU_ASSERT_EQUAL (s_ev (&fx, "persist precommitted"), -1);
    s_peer_ask (&fx, "a1", TPC_MSG_PRECOMMIT, G1, 0);
    s_expect_peer (&fx, "a1", TPC_MSG_STATE, G1, TPC_P3_PRECOMMITTED);
    CU_ASSERT_EQUAL (part_engine_p3 (fx.eng, G1), TPC_P3_PRECOMMITTED);
    /* pre-committed now: the coordinator's precommit gets that too */
    s_gid_msg (&fx, TPC_MSG_PRECOMMIT, G1, 0);
    s_expect_state (&fx, G1, TPC_P3_PRECOMMITTED);
    /* the coordinator's decide is obeyed as ever */
    s_gid_msg (&fx, TPC_MSG_DECIDE, G1, TPC_OUTCOME_COMMITTED);
    s_pump (&fx);
    s_expect_ack (&fx, G1, TPC_OUTCOME_COMMITTED);
    CU_ASSERT_EQUAL (part_mem_committed_writes (fx.mem), 1);

    /* a getstate from the coordinator does not harden */
    s_voted3 (&fx, G2);
    s_gid_msg (&fx, TPC_MSG_GETSTATE, G2, 0);
    s_expect_state (&fx, G2, TPC_P3_UNCERTAIN);
    s_gid_msg (&fx, TPC_MSG_PRECOMMIT, G2, 0);
    s_expect_state (&fx, G2, TPC_P3_PRECOMMITTED);
    s_teardown (&fx);
}

/*  Restart: the state log is replayed before start.  An UNCERTAIN gid
 *  (prepared in the database) is asked about (2PC query) and, with no
 *  answer, settled by termination after p3_timeout_ms; a COMMITTED one
 *  still prepared is committed unasked and answers getstate until
 *  p3_forget_ms.                                                         */
static void
test_3pc_restore (void)
{
    s_fx_t fx;
    memset (&fx, 0, sizeof fx);
    fx.mem = part_mem_new (NULL);
    CU_ASSERT_EQUAL (part_mem_add_prepared (fx.mem, G1), 0);
    CU_ASSERT_EQUAL (part_mem_add_prepared (fx.mem, G2), 0);
    fx.p3 = true;
    fx.cfg.name = "a1";
    fx.cfg.p3_forget_ms = 10000;
    fx.now = 7000;
    part_engine_io_t io = { .arg = &fx, .peer_link = true,
                            .persist = s_persist };
    fx.eng = part_engine_new (&fx.cfg, &io);
    CU_ASSERT_PTR_NOT_NULL_FATAL (fx.eng);
    char *parts[3], *peers[3];
    for (size_t i = 0; i < 3; i++) {
        parts[i] = (char *) s_names3[i];
        peers[i] = (char *) s_peers3[i];
    }
    CU_ASSERT_EQUAL (part_engine_restore (fx.eng, G1, TPC_P3_UNCERTAIN, 3,
                                          parts, peers), 0);
    CU_ASSERT_EQUAL (part_engine_restore (fx.eng, G2, TPC_P3_PRECOMMITTED, 3,
                                          parts, peers), 0);
    /* the later record of a gid wins */
    CU_ASSERT_EQUAL (part_engine_restore (fx.eng, G2, TPC_P3_COMMITTED, 3,
                                          parts, peers), 0);
    CU_ASSERT_EQUAL (part_engine_restore (fx.eng, "tpc_bad", TPC_P3_COMMITTED,
                                          0, NULL, NULL), TPC_EINVAL);
    CU_ASSERT_EQUAL (part_engine_restore (fx.eng, G3, TPC_P3_UNKNOWN, 0, NULL,
                                          NULL), TPC_EINVAL);
    CU_ASSERT_EQUAL (part_engine_p3 (fx.eng, G1), TPC_P3_UNCERTAIN);
    CU_ASSERT_EQUAL (part_engine_p3 (fx.eng, G2), TPC_P3_COMMITTED);
    part_engine_start (fx.eng, fx.now);
    s_drain (&fx);
    s_pump (&fx);
    /* G2: committed unasked (it was decided here), nothing persisted */
    CU_ASSERT_FALSE (part_mem_is_prepared (fx.mem, G2));
    CU_ASSERT_EQUAL (part_mem_marker (fx.mem, G2), 'C');
    CU_ASSERT_EQUAL (s_count (&fx, TPC_MSG_QUERY, G2), 0);
    CU_ASSERT_EQUAL (s_count (&fx, TPC_MSG_ACK, G2), 0);
    /* G1: in doubt, asked; in_progress keeps it waiting */
    CU_ASSERT_EQUAL (s_count (&fx, TPC_MSG_QUERY, G1), 1);
    s_gid_msg (&fx, TPC_MSG_ANSWER, G1, TPC_OUTCOME_IN_PROGRESS);
    s_pump (&fx);
    CU_ASSERT (part_mem_is_prepared (fx.mem, G1));
    CU_ASSERT_EQUAL (fx.npers, 0);
    s_clear_out (&fx);
    s_wait (&fx, 1999);
    CU_ASSERT_EQUAL (s_peer_count (&fx, TPC_MSG_GETSTATE), 0);
    s_wait (&fx, 1);
    s_expect_peer (&fx, "b2", TPC_MSG_GETSTATE, G1, 0);
    s_expect_peer (&fx, "c3", TPC_MSG_GETSTATE, G1, 0);
    s_peer_state (&fx, "b2", G1, TPC_P3_UNCERTAIN);
    s_peer_state (&fx, "c3", G1, TPC_P3_UNKNOWN);
    s_pump (&fx);
    CU_ASSERT_EQUAL (part_engine_p3 (fx.eng, G1), TPC_P3_ABORTED);
    CU_ASSERT_EQUAL (part_mem_prepared_count (fx.mem), 0);
    s_expect_peer (&fx, "b2", TPC_MSG_DECIDE, G1, TPC_OUTCOME_ABORTED);
    /* G2 is remembered p3_forget_ms after the start */
    s_peer_ask (&fx, "b2", TPC_MSG_GETSTATE, G2, 0);
    s_expect_peer (&fx, "b2", TPC_MSG_STATE, G2, TPC_P3_COMMITTED);
    s_wait (&fx, 10000 - 2000);
    CU_ASSERT_EQUAL (part_engine_p3 (fx.eng, G2), TPC_P3_UNKNOWN);
    CU_ASSERT_EQUAL (part_engine_p3 (fx.eng, G1), TPC_P3_ABORTED);
    s_teardown (&fx);
}

/*  Agent a1 back from a crash: GID prepared in its database and restored
 *  in STATE (among a1, b2, c3) from its state log; started, outbox empty. */
static void
s_restored3 (s_fx_t *fx, const char *gid, tpc_p3_t state)
{
    memset (fx, 0, sizeof *fx);
    fx->mem = part_mem_new (NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL (fx->mem);
    CU_ASSERT_EQUAL (part_mem_add_prepared (fx->mem, gid), 0);
    fx->p3 = true;
    fx->cfg.name = "a1";
    fx->cfg.p3_forget_ms = 10000;
    fx->now = 7000;
    part_engine_io_t io = { .arg = fx, .peer_link = true,
                            .persist = s_persist };
    fx->eng = part_engine_new (&fx->cfg, &io);
    CU_ASSERT_PTR_NOT_NULL_FATAL (fx->eng);
    char *parts[3], *peers[3];
    for (size_t i = 0; i < 3; i++) {
        parts[i] = (char *) s_names3[i];
        peers[i] = (char *) s_peers3[i];
    }
    CU_ASSERT_EQUAL (part_engine_restore (fx->eng, gid, state, 3, parts,
                                          peers), 0);
    part_engine_start (fx->eng, fx->now);
    s_drain (fx);
    s_pump (fx);
    s_clear_out (fx);
}

/*  Found by the simulation (seed 11913): p0, pre-committed, committed
 *  alone while p1 was down; p1 came back and, with p0 now down, aborted
 *  alone by rule 4.  A gid restored undecided (this agent was down) may
 *  lead only a round that reached EVERY participant; it may still adopt a
 *  decision it sees.  And (seed 1022): a peer's decide committed about a
 *  gid this agent holds no 3PC state of (it never voted yes) is not
 *  applied: it would leave an "aborted" tombstone for a committed gid.  */
static void
test_3pc_recovered_site (void)
{
    s_fx_t fx;
    s_restored3 (&fx, G1, TPC_P3_UNCERTAIN);
    s_wait (&fx, 2000);
    CU_ASSERT_EQUAL (s_peer_count (&fx, TPC_MSG_GETSTATE), 2);
    s_clear_out (&fx);
    /* only b2 answers (c3 is down): a1 would lead, but was down itself */
    s_peer_state (&fx, "b2", G1, TPC_P3_UNCERTAIN);
    s_wait (&fx, 500);
    CU_ASSERT_EQUAL (part_engine_p3 (fx.eng, G1), TPC_P3_UNCERTAIN);
    CU_ASSERT_EQUAL (s_peer_count (&fx, TPC_MSG_DECIDE), 0);
    CU_ASSERT (part_mem_is_prepared (fx.mem, G1));
    /* the next round reaches c3, which committed while a1 was down */
    s_clear_out (&fx);
    s_wait (&fx, 2000);
    CU_ASSERT (s_peer_count (&fx, TPC_MSG_GETSTATE) >= 2);
    s_clear_out (&fx);
    s_peer_state (&fx, "b2", G1, TPC_P3_UNCERTAIN);
    s_peer_state (&fx, "c3", G1, TPC_P3_COMMITTED);
    s_pump (&fx);
    s_wait (&fx, 500);
    CU_ASSERT_EQUAL (part_engine_p3 (fx.eng, G1), TPC_P3_COMMITTED);
    CU_ASSERT_FALSE (part_mem_is_prepared (fx.mem, G1));
    CU_ASSERT_EQUAL (part_mem_marker (fx.mem, G1), 'C');

    /* a decide committed about a gid never voted on here: not applied */
    s_clear_out (&fx);
    s_peer_ask (&fx, "b2", TPC_MSG_DECIDE, G3, TPC_OUTCOME_COMMITTED);
    s_pump (&fx);
    s_expect_peer (&fx, "b2", TPC_MSG_STATE, G3, TPC_P3_UNKNOWN);
    CU_ASSERT_EQUAL (part_mem_marker (fx.mem, G3), 0);     /* no tombstone */
    CU_ASSERT_EQUAL (part_engine_p3 (fx.eng, G3), TPC_P3_UNKNOWN);
    s_teardown (&fx);
}

/*  Review findings: (a) a peer request about a 3PC gid from an agent that
 *  is not one of its participants is ignored (it would harden this agent
 *  or settle the gid); (b) a peer's decide about a gid this agent holds no
 *  3PC state of is never applied - here a 2PC gid the coordinator alone
 *  decides; (c) the 3PC timer starts with the yes vote, not while the
 *  database prepares (long statements would start a termination).      */
static void
test_3pc_peer_requests_checked (void)
{
    s_fx_t fx;
    s_setup3 (&fx, "a1");
    s_voted3 (&fx, G1);
    s_peer_ask (&fx, "zz9", TPC_MSG_GETSTATE, G1, 0);
    s_peer_ask (&fx, "zz9", TPC_MSG_DECIDE, G1, TPC_OUTCOME_ABORTED);
    s_pump (&fx);
    CU_ASSERT_EQUAL (fx.npeer, 0);                  /* no answer at all */
    CU_ASSERT_EQUAL (part_engine_p3 (fx.eng, G1), TPC_P3_UNCERTAIN);
    /* not hardened: the coordinator's precommit is obeyed */
    s_gid_msg (&fx, TPC_MSG_PRECOMMIT, G1, 0);
    s_expect_state (&fx, G1, TPC_P3_PRECOMMITTED);

    /* (b) a 2PC gid, prepared: a peer's decide aborted changes nothing */
    tpc_msg_t *w = tpc_msg_new (TPC_MSG_WORK);
    CU_ASSERT_PTR_NOT_NULL_FATAL (w);
    tpc_msg_set_str (&w->gid, G2);
    w->seq = 1;
    w->then = TPC_THEN_PREPARE;
    tpc_msg_add_stmt (w, NULL, "INSERT b", 0, NULL);
    s_deliver (&fx, w);
    s_pump (&fx);
    s_expect_vote (&fx, G2, TPC_VOTE_YES, NULL);
    s_clear_out (&fx);
    s_peer_ask (&fx, "b2", TPC_MSG_DECIDE, G2, TPC_OUTCOME_ABORTED);
    s_pump (&fx);
    s_expect_peer (&fx, "b2", TPC_MSG_STATE, G2, TPC_P3_UNKNOWN);
    CU_ASSERT (part_mem_is_prepared (fx.mem, G2));
    s_gid_msg (&fx, TPC_MSG_DECIDE, G2, TPC_OUTCOME_COMMITTED);
    s_pump (&fx);
    s_expect_ack (&fx, G2, TPC_OUTCOME_COMMITTED);

    /* (c) statements that run 3 s ride with the 3PC prepare */
    s_clear_out (&fx);
    const char *slow[] = { "INSERT c", "SLEEP 3000" };
    w = tpc_msg_new (TPC_MSG_WORK);
    CU_ASSERT_PTR_NOT_NULL_FATAL (w);
    tpc_msg_set_str (&w->gid, G3);
    w->seq = 1;
    w->then = TPC_THEN_PREPARE;
    w->has_protocol = true;
    w->protocol = TPC_PROTO_3PC;
    for (size_t i = 0; i < 2; i++)
        tpc_msg_add_stmt (w, NULL, slow[i], 0, NULL);
    for (size_t i = 0; i < 3; i++) {
        tpc_msg_strv_push (&w->parts, &w->nparts, s_names3[i]);
        tpc_msg_strv_push (&w->peers, &w->npeers, s_peers3[i]);
    }
    s_deliver (&fx, w);
    s_pump (&fx);
    s_wait (&fx, 2900);
    CU_ASSERT_EQUAL (s_peer_count_gid (&fx, TPC_MSG_GETSTATE, G3), 0);
    s_wait (&fx, 200);
    s_expect_vote (&fx, G3, TPC_VOTE_YES, NULL);
    s_wait (&fx, 1700);                 /* the vote came at about 3000 */
    CU_ASSERT_EQUAL (s_peer_count_gid (&fx, TPC_MSG_GETSTATE, G3), 0);
    s_wait (&fx, 400);                  /* p3_timeout_ms after the vote */
    CU_ASSERT_EQUAL (s_peer_count_gid (&fx, TPC_MSG_GETSTATE, G3), 2);
    s_teardown (&fx);
}

/*  Found by the simulation (seed 440283): p2, pre-committed, was down
 *  while p0 and p1 found only UNCERTAIN and p0 aborted by rule 4; p0 went
 *  down before p1 heard it, p2 came back, and p1 led a round over {p1,
 *  p2}: p2's PRECOMMITTED made it commit.  A site back from a crash now
 *  reports a pre-committed gid as uncertain to a termination round (a
 *  precommit, which only a leader on the commit path sends, is answered
 *  truthfully).                                                          */
static void
test_3pc_recovered_precommitted (void)
{
    s_fx_t fx;
    s_restored3 (&fx, G1, TPC_P3_PRECOMMITTED);
    s_peer_ask (&fx, "b2", TPC_MSG_GETSTATE, G1, 0);
    s_expect_peer (&fx, "b2", TPC_MSG_STATE, G1, TPC_P3_UNCERTAIN);
    CU_ASSERT_EQUAL (part_engine_p3 (fx.eng, G1), TPC_P3_PRECOMMITTED);
    s_peer_ask (&fx, "b2", TPC_MSG_PRECOMMIT, G1, 0);
    s_expect_peer (&fx, "b2", TPC_MSG_STATE, G1, TPC_P3_PRECOMMITTED);
    /* decided, it tells the truth again */
    s_peer_ask (&fx, "b2", TPC_MSG_DECIDE, G1, TPC_OUTCOME_COMMITTED);
    s_pump (&fx);
    s_clear_out (&fx);
    s_peer_ask (&fx, "c3", TPC_MSG_GETSTATE, G1, 0);
    s_expect_peer (&fx, "c3", TPC_MSG_STATE, G1, TPC_P3_COMMITTED);
    s_teardown (&fx);
}

/*  A reply of an earlier termination round is stale (seq echoes the
 *  round).  a1, back from a crash, leads only a round that reaches every
 *  participant: round 1 hears only b2; in round 2 c3's late round-1
 *  "uncertain" arrives first.  Taken for its round-2 answer, a1 would
 *  have everyone and abort by rule 4, although c3 is pre-committed by
 *  now; ignored, c3's fresh "precommitted" leads to commit.             */
static void
test_3pc_stale_round_reply (void)
{
    s_fx_t fx;
    s_restored3 (&fx, G1, TPC_P3_UNCERTAIN);
    s_wait (&fx, 2000);                         /* round 1 */
    tpc_msg_t *ask = s_peer_take (&fx, "c3", TPC_MSG_GETSTATE, G1);
    CU_ASSERT_PTR_NOT_NULL_FATAL (ask);
    uint64_t round1 = ask->seq;
    CU_ASSERT (round1 >= 1);
    tpc_msg_destroy (&ask);
    s_clear_out (&fx);
    s_peer_state_seq (&fx, "b2", G1, TPC_P3_UNCERTAIN, round1);
    s_wait (&fx, 500);                          /* c3 silent: blocked */
    CU_ASSERT_EQUAL (part_engine_p3 (fx.eng, G1), TPC_P3_UNCERTAIN);
    s_clear_out (&fx);
    s_wait (&fx, 2000);                         /* round 2 */
    ask = s_peer_take (&fx, "c3", TPC_MSG_GETSTATE, G1);
    CU_ASSERT_PTR_NOT_NULL_FATAL (ask);
    CU_ASSERT_EQUAL (ask->seq, round1 + 1);
    tpc_msg_destroy (&ask);
    s_clear_out (&fx);
    s_peer_state_seq (&fx, "c3", G1, TPC_P3_UNCERTAIN, round1);  /* stale */
    s_peer_state_seq (&fx, "b2", G1, TPC_P3_UNCERTAIN, round1 + 1);
    s_pump (&fx);
    CU_ASSERT_EQUAL (part_engine_p3 (fx.eng, G1), TPC_P3_UNCERTAIN);
    CU_ASSERT (part_mem_is_prepared (fx.mem, G1));
    s_peer_state_seq (&fx, "c3", G1, TPC_P3_PRECOMMITTED, round1 + 1);
    s_pump (&fx);
    /* rule 3: a1 pre-commits itself and asks b2 to */
    CU_ASSERT_EQUAL (part_engine_p3 (fx.eng, G1), TPC_P3_PRECOMMITTED);
    s_expect_peer (&fx, "b2", TPC_MSG_PRECOMMIT, G1, 0);
    CU_ASSERT (part_mem_is_prepared (fx.mem, G1));
    s_teardown (&fx);
}

/*  A separate prepare message carries the CanCommit too; an abort while
 *  the 3PC prepare runs: no state kept, vote no, rolled back, acked.    */
static void
test_3pc_prepare_message_and_early_abort (void)
{
    s_fx_t fx;
    s_setup3 (&fx, "a1");
    s_work1 (&fx, G1, 1, TPC_THEN_NONE, "INSERT a");
    s_pump (&fx);
    s_expect_worked (&fx, G1, 1, true, NULL);
    tpc_msg_t *m = tpc_msg_new (TPC_MSG_PREPARE);
    CU_ASSERT_PTR_NOT_NULL_FATAL (m);
    tpc_msg_set_str (&m->gid, G1);
    m->has_protocol = true;
    m->protocol = TPC_PROTO_3PC;
    for (size_t i = 0; i < 3; i++) {
        tpc_msg_strv_push (&m->parts, &m->nparts, s_names3[i]);
        tpc_msg_strv_push (&m->peers, &m->npeers, s_peers3[i]);
    }
    s_deliver (&fx, m);
    s_pump (&fx);
    CU_ASSERT (s_ev (&fx, "persist uncertain " G1) >= 0);
    s_expect_vote (&fx, G1, TPC_VOTE_YES, NULL);
    s_persisted_t *p = s_persisted (&fx, G1);
    CU_ASSERT (p && p->nparts == 3);
    s_clear_out (&fx);
    s_wait (&fx, 2000);                 /* its termination asks the peers */
    CU_ASSERT_EQUAL (s_peer_count (&fx, TPC_MSG_GETSTATE), 2);

    /* abort while the statements riding with the 3PC prepare run */
    const char *slow[] = { "INSERT b", "SLEEP 100" };
    tpc_msg_t *w = tpc_msg_new (TPC_MSG_WORK);
    CU_ASSERT_PTR_NOT_NULL_FATAL (w);
    tpc_msg_set_str (&w->gid, G2);
    w->seq = 1;
    w->then = TPC_THEN_PREPARE;
    w->has_protocol = true;
    w->protocol = TPC_PROTO_3PC;
    for (size_t i = 0; i < 2; i++)
        tpc_msg_add_stmt (w, NULL, slow[i], 0, NULL);
    for (size_t i = 0; i < 3; i++) {
        tpc_msg_strv_push (&w->parts, &w->nparts, s_names3[i]);
        tpc_msg_strv_push (&w->peers, &w->npeers, s_peers3[i]);
    }
    s_deliver (&fx, w);
    s_pump (&fx);
    s_gid_msg (&fx, TPC_MSG_DECIDE, G2, TPC_OUTCOME_ABORTED);
    s_wait (&fx, 200);
    s_expect_vote (&fx, G2, TPC_VOTE_NO, NULL);
    s_expect_ack (&fx, G2, TPC_OUTCOME_ABORTED);
    /* UNCERTAIN was durable before the prepare; the no vote makes it
     * ABORTED, so a termination round hears the truth */
    s_persisted_t *p2 = s_persisted (&fx, G2);
    CU_ASSERT (p2 && p2->state == TPC_P3_ABORTED);
    CU_ASSERT_EQUAL (part_engine_p3 (fx.eng, G2), TPC_P3_ABORTED);
    CU_ASSERT_FALSE (part_mem_is_prepared (fx.mem, G2));
    CU_ASSERT_EQUAL (part_mem_open_count (fx.mem), 0);
    s_teardown (&fx);
}

/*  The 2PC query path works for 3PC gids: "in_progress" keeps waiting,
 *  "committed" is obeyed (COMMITTED durable first).                      */
static void
test_3pc_query_answer (void)
{
    s_fx_t fx;
    s_setup3 (&fx, "a1");
    s_voted3 (&fx, G1);
    part_engine_coordinator_up (fx.eng, fx.now);
    s_drain (&fx);
    CU_ASSERT_EQUAL (s_count (&fx, TPC_MSG_QUERY, G1), 1);
    s_gid_msg (&fx, TPC_MSG_ANSWER, G1, TPC_OUTCOME_IN_PROGRESS);
    s_pump (&fx);
    CU_ASSERT_EQUAL (part_engine_p3 (fx.eng, G1), TPC_P3_UNCERTAIN);
    CU_ASSERT (part_mem_is_prepared (fx.mem, G1));
    s_wait (&fx, 1000);
    CU_ASSERT_EQUAL (s_count (&fx, TPC_MSG_QUERY, G1), 2);
    uint64_t ops = part_mem_submitted (fx.mem, PART_RM_COMMIT_PREPARED);
    s_gid_msg (&fx, TPC_MSG_ANSWER, G1, TPC_OUTCOME_COMMITTED);
    s_persisted_t *p = s_persisted (&fx, G1);
    CU_ASSERT (p && p->state == TPC_P3_COMMITTED && p->prepared
               && p->phase2_ops == ops);
    s_pump (&fx);
    s_expect_ack (&fx, G1, TPC_OUTCOME_COMMITTED);
    CU_ASSERT_EQUAL (part_mem_committed_writes (fx.mem), 1);
    CU_ASSERT_EQUAL (part_engine_p3 (fx.eng, G1), TPC_P3_COMMITTED);
    /* a contradicting late decide cannot undo the durable decision */
    s_gid_msg (&fx, TPC_MSG_DECIDE, G1, TPC_OUTCOME_ABORTED);
    s_pump (&fx);
    s_expect_ack (&fx, G1, TPC_OUTCOME_COMMITTED);
    CU_ASSERT_EQUAL (part_engine_p3 (fx.eng, G1), TPC_P3_COMMITTED);
    CU_ASSERT_EQUAL (part_mem_committed_writes (fx.mem), 1);
    s_teardown (&fx);
}

/* ------------------------------------------------------------------ */
/*  Three engines, a peer network, no coordinator after a point        */

#define NET_MAX 256

typedef struct s_net s_net_t;

typedef struct {
    s_net_t *net;
    const char *name;
    part_mem_t *mem;
    part_engine_t *eng;
    bool down;                  /* crashed: hears nothing, says nothing */
} s_agent_t;

typedef struct {
    char to[8];
    char from[8];
    bool reply;
    tpc_msg_t *msg;
} s_wire_t;

struct s_net {
    uint64_t now;
    s_agent_t ag[3];
    s_wire_t wire[NET_MAX];
    size_t nwire;
    size_t votes_yes;
};

static int
s_net_send (void *arg, tpc_msg_t **msg_p)
{
    s_agent_t *a = arg;
    if ((*msg_p)->type == TPC_MSG_VOTE && (*msg_p)->vote == TPC_VOTE_YES)
        a->net->votes_yes++;
    tpc_msg_destroy (msg_p);            /* the coordinator is gone */
    return 0;
}

static int
s_net_push (s_agent_t *a, const char *to, bool reply, tpc_msg_t **msg_p)
{
    s_net_t *net = a->net;
    if (a->down || net->nwire >= NET_MAX) {
        tpc_msg_destroy (msg_p);
        return 0;
    }
    s_wire_t *w = &net->wire[net->nwire++];
    snprintf (w->to, sizeof w->to, "%s", to);
    snprintf (w->from, sizeof w->from, "%s", a->name);
    w->reply = reply;
    w->msg = *msg_p;
    *msg_p = NULL;
    return 0;
}

static int
s_net_peer_send (void *arg, const char *name, const char *endpoint,
                 tpc_msg_t **msg_p)
{
    (void) endpoint;
    return s_net_push (arg, name, false, msg_p);
}

static int
s_net_peer_reply (void *arg, const void *from, size_t from_len,
                  tpc_msg_t **msg_p)
{
    char to[8];
    snprintf (to, sizeof to, "%.*s", (int) from_len, (const char *) from);
    return s_net_push (arg, to, true, msg_p);
}

static void s_net_drain (s_agent_t *a);

static int
s_net_persist (void *arg, const char *gid, tpc_p3_t state, size_t nparts,
               char *const *parts, char *const *peers)
{
    (void) gid; (void) state; (void) nparts; (void) parts; (void) peers;
    s_net_drain (arg);          /* what the engine queued comes first */
    return 0;
}

/*  After every call of agent A's engine.                                 */
static void
s_net_drain (s_agent_t *a)
{
    s_drain_with (a->eng, part_mem_rm (a->mem), a->net->now, a, s_net_send,
                  s_net_peer_send, s_net_peer_reply, NULL);
}

static void
s_net_emit (void *arg, const part_rm_result_t *res)
{
    s_agent_t *a = arg;
    part_engine_on_result (a->eng, res, a->net->now);
    s_net_drain (a);
}

static void
s_net_setup (s_net_t *net)
{
    memset (net, 0, sizeof *net);
    net->now = 1000;
    for (size_t i = 0; i < 3; i++) {
        s_agent_t *a = &net->ag[i];
        a->net = net;
        a->name = s_names3[i];
        a->mem = part_mem_new (NULL);
        CU_ASSERT_PTR_NOT_NULL_FATAL (a->mem);
        part_engine_config_t cfg = { .name = a->name };
        part_engine_io_t io = { .arg = a, .peer_link = true,
                                .persist = s_net_persist };
        a->eng = part_engine_new (&cfg, &io);
        CU_ASSERT_PTR_NOT_NULL_FATAL (a->eng);
        part_engine_start (a->eng, net->now);
        s_net_drain (a);
    }
}

static void
s_net_teardown (s_net_t *net)
{
    for (size_t i = 0; i < net->nwire; i++)
        tpc_msg_destroy (&net->wire[i].msg);
    for (size_t i = 0; i < 3; i++) {
        part_engine_destroy (&net->ag[i].eng);
        part_mem_destroy (&net->ag[i].mem);
    }
}

/*  Deliver the wire and run what is due, until nothing moves.            */
static void
s_net_pump (s_net_t *net)
{
    for (int guard = 0; guard < 10000; guard++) {
        bool did = false;
        for (size_t i = 0; i < 3; i++) {
            s_agent_t *a = &net->ag[i];
            const part_rm_t *rm = part_mem_rm (a->mem);
            if (rm->timeout (rm->self, net->now) == 0) {
                rm->process (rm->self, net->now, s_net_emit, a);
                did = true;
            }
            if (!a->down && part_engine_timeout (a->eng, net->now) == 0) {
                part_engine_tick (a->eng, net->now);
                s_net_drain (a);
                did = true;
            }
        }
        if (net->nwire) {
            s_wire_t w = net->wire[0];
            memmove (&net->wire[0], &net->wire[1],
                     (net->nwire - 1) * sizeof net->wire[0]);
            net->nwire--;
            s_agent_t *to = NULL;
            for (size_t i = 0; i < 3; i++)
                if (!strcmp (net->ag[i].name, w.to))
                    to = &net->ag[i];
            if (!to || to->down)
                tpc_msg_destroy (&w.msg);
            else if (w.reply)
                part_engine_on_peer_reply (to->eng, w.from, &w.msg, net->now);
            else
                part_engine_on_peer_request (to->eng, w.from, w.from,
                                             strlen (w.from), &w.msg,
                                             net->now);
            s_net_drain (to);
            did = true;
        }
        if (!did)
            return;
    }
    CU_FAIL ("the network never settles");
}

static void
s_net_wait (s_net_t *net, uint64_t ms)
{
    uint64_t end = net->now + ms;
    s_net_pump (net);
    while (net->now < end) {
        int64_t step = -1;
        for (size_t i = 0; i < 3; i++) {
            const part_rm_t *rm = part_mem_rm (net->ag[i].mem);
            int64_t a = rm->timeout (rm->self, net->now);
            int64_t b = net->ag[i].down ? -1
                        : part_engine_timeout (net->ag[i].eng, net->now);
            if (a >= 0 && (step < 0 || a < step))
                step = a;
            if (b >= 0 && (step < 0 || b < step))
                step = b;
        }
        if (step < 0 || net->now + (uint64_t) step > end)
            net->now = end;
        else
            net->now += step ? (uint64_t) step : 1;
        s_net_pump (net);
    }
}

/*  Every agent votes yes on GID; then the coordinator precommits the
 *  agents in PRECOMMIT (a bit mask) and vanishes.                        */
static void
s_net_run (s_net_t *net, const char *gid, unsigned precommit)
{
    for (size_t i = 0; i < 3; i++) {
        s_agent_t *a = &net->ag[i];
        tpc_msg_t *m = tpc_msg_new (TPC_MSG_WORK);
        tpc_msg_set_str (&m->gid, gid);
        m->seq = 1;
        m->then = TPC_THEN_PREPARE;
        m->has_protocol = true;
        m->protocol = TPC_PROTO_3PC;
        tpc_msg_add_stmt (m, NULL, "INSERT x", 0, NULL);
        for (size_t k = 0; k < 3; k++) {
            tpc_msg_strv_push (&m->parts, &m->nparts, s_names3[k]);
            tpc_msg_strv_push (&m->peers, &m->npeers, s_peers3[k]);
        }
        part_engine_on_message (a->eng, &m, net->now);
        s_net_drain (a);
    }
    s_net_pump (net);
    for (size_t i = 0; i < 3; i++) {
        if (!(precommit & (1u << i)))
            continue;
        tpc_msg_t *m = tpc_msg_new (TPC_MSG_PRECOMMIT);
        tpc_msg_set_str (&m->gid, gid);
        part_engine_on_message (net->ag[i].eng, &m, net->now);
        s_net_drain (&net->ag[i]);
    }
    s_net_pump (net);
}

/*  What the live agents' databases did with GID: 'C' all committed, 'A'
 *  all rolled back, '?' still prepared somewhere, 'X' mixed.            */
static char
s_net_outcome (s_net_t *net, const char *gid)
{
    int c = 0, a = 0, p = 0, n = 0;
    for (size_t i = 0; i < 3; i++) {
        if (net->ag[i].down)
            continue;
        n++;
        part_mem_t *mem = net->ag[i].mem;
        if (part_mem_is_prepared (mem, gid))
            p++;
        else if (part_mem_marker (mem, gid) == 'C')
            c++;
        else
            a++;
    }
    return p ? '?' : c == n ? 'C' : a == n ? 'A' : 'X';
}

/*  The agents settle among themselves, consistently: one of them
 *  pre-committed -> all commit; none -> all abort; the lowest-named
 *  (the natural leader) crashed -> the next one leads.                   */
static void
test_3pc_three_agents_terminate (void)
{
    s_net_t net;
    s_net_setup (&net);
    s_net_pump (&net);
    s_net_run (&net, G1, 0x4);                  /* only c3 pre-committed */
    CU_ASSERT_EQUAL (net.votes_yes, 3);
    s_net_wait (&net, 5000);
    CU_ASSERT_EQUAL (s_net_outcome (&net, G1), 'C');
    for (size_t i = 0; i < 3; i++)
        CU_ASSERT_EQUAL (part_engine_p3 (net.ag[i].eng, G1), TPC_P3_COMMITTED);

    s_net_run (&net, G2, 0);                    /* nobody pre-committed */
    s_net_wait (&net, 5000);
    CU_ASSERT_EQUAL (s_net_outcome (&net, G2), 'A');
    for (size_t i = 0; i < 3; i++)
        CU_ASSERT_EQUAL (part_engine_p3 (net.ag[i].eng, G2), TPC_P3_ABORTED);

    s_net_run (&net, G3, 0x2);                  /* b2 pre-committed ... */
    net.ag[0].down = true;                      /* ... a1 crashed */
    s_net_wait (&net, 10000);
    CU_ASSERT_EQUAL (s_net_outcome (&net, G3), 'C');
    CU_ASSERT_EQUAL (part_engine_p3 (net.ag[1].eng, G3), TPC_P3_COMMITTED);
    CU_ASSERT_EQUAL (part_engine_p3 (net.ag[2].eng, G3), TPC_P3_COMMITTED);
    /* a1 comes back (its memory intact here): it learns the decision */
    net.ag[0].down = false;
    s_net_wait (&net, 5000);
    CU_ASSERT_EQUAL (s_net_outcome (&net, G3), 'C');
    CU_ASSERT_EQUAL (part_engine_p3 (net.ag[0].eng, G3), TPC_P3_COMMITTED);
    s_net_teardown (&net);
}


/*  outcome_of: what the database (or the engine) knows of a gid, for the
 *  coordinator's presumed-abort check.                                   */
static tpc_p3_t
s_expect_known (s_fx_t *fx, const char *gid)
{
    tpc_msg_t *m = s_take (fx, TPC_MSG_KNOWN, gid);
    CU_ASSERT_PTR_NOT_NULL (m);
    tpc_p3_t state = m ? m->p3 : (tpc_p3_t) -1;
    tpc_msg_destroy (&m);
    return state;
}

static void
test_outcome_of (void)
{
    s_fx_t fx;
    s_setup (&fx, 0, 0);
    /* G1 committed and forgotten by the engine: the marker says committed */
    s_work1 (&fx, G1, 1, TPC_THEN_PREPARE, "UPDATE a");
    s_pump (&fx);
    s_expect_vote (&fx, G1, TPC_VOTE_YES, NULL);
    s_gid_msg (&fx, TPC_MSG_DECIDE, G1, TPC_OUTCOME_COMMITTED);
    s_pump (&fx);
    s_expect_ack (&fx, G1, TPC_OUTCOME_COMMITTED);
    CU_ASSERT_EQUAL (part_engine_size (fx.eng), 0);
    s_clear_out (&fx);
    uint64_t asked = part_mem_submitted (fx.mem, PART_RM_OUTCOME_OF);
    s_gid_msg (&fx, TPC_MSG_OUTCOME_OF, G1, 0);
    CU_ASSERT_EQUAL (s_count (&fx, TPC_MSG_KNOWN, G1), 0);   /* db first */
    s_pump (&fx);
    CU_ASSERT_EQUAL (s_expect_known (&fx, G1), TPC_P3_COMMITTED);
    CU_ASSERT_EQUAL (part_mem_submitted (fx.mem, PART_RM_OUTCOME_OF),
                     asked + 1);
    CU_ASSERT_EQUAL (part_engine_size (fx.eng), 0);     /* no record made */

    /* G2 prepared here, undecided: uncertain, from memory */
    s_work1 (&fx, G2, 1, TPC_THEN_PREPARE, "UPDATE b");
    s_pump (&fx);
    s_expect_vote (&fx, G2, TPC_VOTE_YES, NULL);
    s_gid_msg (&fx, TPC_MSG_OUTCOME_OF, G2, 0);
    CU_ASSERT_EQUAL (s_expect_known (&fx, G2), TPC_P3_UNCERTAIN);
    /* its commit decided, COMMIT PREPARED still running: committed */
    s_gid_msg (&fx, TPC_MSG_DECIDE, G2, TPC_OUTCOME_COMMITTED);
    s_gid_msg (&fx, TPC_MSG_OUTCOME_OF, G2, 0);
    CU_ASSERT_EQUAL (s_expect_known (&fx, G2), TPC_P3_COMMITTED);
    s_pump (&fx);
    s_expect_ack (&fx, G2, TPC_OUTCOME_COMMITTED);

    /* G3 never seen: aborted (not prepared, no commit marker) */
    s_gid_msg (&fx, TPC_MSG_OUTCOME_OF, G3, 0);
    s_pump (&fx);
    CU_ASSERT_EQUAL (s_expect_known (&fx, G3), TPC_P3_ABORTED);
    CU_ASSERT_EQUAL (part_engine_size (fx.eng), 0);

    /* G4 prepared by an earlier incarnation, not yet listed: uncertain */
    CU_ASSERT_EQUAL (part_mem_add_prepared (fx.mem, G4), 0);
    s_gid_msg (&fx, TPC_MSG_OUTCOME_OF, G4, 0);
    s_pump (&fx);
    CU_ASSERT_EQUAL (s_expect_known (&fx, G4), TPC_P3_UNCERTAIN);

    /* the database cannot answer: unknown (never "aborted") */
    part_mem_fail_next (fx.mem, PART_RM_OUTCOME_OF, TPC_ECONNECT,
                        "server closed the connection", false);
    s_gid_msg (&fx, TPC_MSG_OUTCOME_OF, G1, 0);
    s_pump (&fx);
    CU_ASSERT_EQUAL (s_expect_known (&fx, G1), TPC_P3_UNKNOWN);
    /* a one-phase commit still running may fail yet (a lock timeout, a
     * deferred constraint): unknown, never committed nor aborted */
    s_work1 (&fx, "tpc_c1_1_5", 1, TPC_THEN_COMMIT, "UPDATE e");
    s_gid_msg (&fx, TPC_MSG_OUTCOME_OF, "tpc_c1_1_5", 0);
    CU_ASSERT_EQUAL (s_expect_known (&fx, "tpc_c1_1_5"), TPC_P3_UNKNOWN);
    s_pump (&fx);
    s_expect_ack (&fx, "tpc_c1_1_5", TPC_OUTCOME_COMMITTED);
    /* nothing of this changed a decision or the database */
    CU_ASSERT_EQUAL (part_mem_marker (fx.mem, G1), 'C');
    CU_ASSERT_EQUAL (part_mem_marker (fx.mem, G3), 0);
    CU_ASSERT (part_mem_is_prepared (fx.mem, G4));
    s_teardown (&fx);
}

static const tpc_test_case_t s_cases[] = {
    { "two_phase_commit", test_two_phase_commit },
    { "submit_refused", test_submit_refused },
    { "work_then_prepare_and_abort", test_work_then_prepare_and_abort },
    { "readonly", test_readonly },
    { "one_phase", test_one_phase },
    { "no_vote_on_failure", test_no_vote_on_failure },
    { "decide_idempotent", test_decide_idempotent },
    { "recovery", test_recovery },
    { "reconnect_queries", test_reconnect_queries },
    { "yes_voter_asks_when_no_decision", test_yes_voter_asks_when_no_decision },
    { "sweep_rolls_back_lost_prepare", test_sweep_rolls_back_lost_prepare },
    { "forgotten_open_transaction_rolled_back", test_forgotten_open_transaction_rolled_back },
    { "duplicates_and_stale", test_duplicates_and_stale },
    { "abort_interrupts_statement", test_abort_interrupts_statement },
    { "busy", test_busy },
    { "forget", test_forget },
    { "lost_prepare_rolled_back", test_lost_prepare_rolled_back },
    { "onephase_repeat_acks_truth", test_onephase_repeat_acks_truth },
    { "stray_open_copy_rolled_back", test_stray_open_copy_rolled_back },
    { "tombstone_blocked_by_prepared", test_tombstone_blocked_by_prepared },
    { "tombstone_blocked_by_prepared_mariadb",
      test_tombstone_blocked_by_prepared_mariadb },
    { "3pc_coordinator_path", test_3pc_coordinator_path },
    { "3pc_persist_failure", test_3pc_persist_failure },
    { "3pc_readonly", test_3pc_readonly },
    { "3pc_term_precommitted_commits", test_3pc_term_precommitted_commits },
    { "3pc_term_all_uncertain_aborts", test_3pc_term_all_uncertain_aborts },
    { "3pc_term_follows_decision", test_3pc_term_follows_decision },
    { "3pc_term_follower", test_3pc_term_follower },
    { "3pc_term_adopt_and_incomplete", test_3pc_term_adopt_and_incomplete },
    { "3pc_term_peer_unreachable", test_3pc_term_peer_unreachable },
    { "3pc_term_sync_replies", test_3pc_term_sync_replies },
    { "3pc_hardening", test_3pc_hardening },
    { "3pc_restore", test_3pc_restore },
    { "3pc_recovered_site", test_3pc_recovered_site },
    { "3pc_peer_requests_checked", test_3pc_peer_requests_checked },
    { "3pc_stale_round_reply", test_3pc_stale_round_reply },
    { "3pc_recovered_precommitted", test_3pc_recovered_precommitted },
    { "3pc_query_answer", test_3pc_query_answer },
    { "3pc_prepare_message_and_early_abort",
      test_3pc_prepare_message_and_early_abort },
    { "3pc_three_agents_terminate", test_3pc_three_agents_terminate },
    { "outcome_of", test_outcome_of },
    { NULL, NULL }
};

int
main (void)
{
    const tpc_test_suite_t suites[] = {
        { "part_engine", NULL, NULL, s_cases },
        { NULL, NULL, NULL, NULL }
    };
    return tpc_test_main ("test_part_engine", suites);
}
