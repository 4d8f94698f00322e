/*  test_coord_engine: the pure 2PC/3PC engine driven by scripted events (fake
 *  agents, a fake clock, fake log durability); every test asserts the
 *  actions it queued: messages, log records and when they may go out.    */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord_engine.h"
#include "tpc_error.h"
#include "tpc_test.h"

/* ---------------------------------------------------------------------
 *  Fixture: an engine, a clock, the drained actions and a fake log
 */

typedef struct {
    uint8_t type;
    char gid[TPC_GID_MAX];
    char parts[256];            /* "a,b" */
    bool forced;
    uint64_t ticket;
} fx_rec_t;

typedef struct {
    coord_engine_t *e;
    uint64_t now;
    coord_action_t *a;          /* CLIENT, AGENT and ENDED actions drained */
    size_t n, cap;
    fx_rec_t *log;              /* APPEND actions, in order */
    size_t nlog, caplog;
    uint64_t wake;              /* last WAKE */
    uint64_t ticket;            /* highest forced ticket appended */
    size_t ndropped;            /* actions not kept (keep == false) */
    bool keep;
} fx_t;

static const uint8_t C1[] = { 0, 'c', '1' };
static const uint8_t C2[] = { 0, 'c', '2' };

static void
fx_clear (fx_t *fx)
{
    for (size_t i = 0; i < fx->n; i++)
        coord_action_clear (&fx->a[i]);
    fx->n = 0;
}

/*  Every message the engine emits must survive the wire: encode it and
 *  decode it back strictly.                                              */
static void
fx_wire_check (const tpc_msg_t *msg)
{
    char *buf = NULL;
    size_t len = 0;
    int rc = tpc_msg_encode (msg, &buf, &len);
    CU_ASSERT_EQUAL (rc, 0);
    if (rc) {
        fprintf (stderr, "cannot encode a '%s'\n",
                 tpc_msg_type_name (msg->type));
        return;
    }
    tpc_msg_t *back = NULL;
    char err[256] = "";
    rc = tpc_msg_decode (buf, len, NULL, &back, err, sizeof err);
    CU_ASSERT_EQUAL (rc, 0);
    if (rc)
        fprintf (stderr, "cannot decode %s: %s\n", buf, err);
    else
        CU_ASSERT_EQUAL (back->type, msg->type);
    tpc_msg_destroy (&back);
    free (buf);
}

static void
fx_drain (fx_t *fx)
{
    coord_action_t act;
    while (coord_engine_pop (fx->e, &act)) {
        if (act.type == COORD_ACT_APPEND) {
            if (fx->nlog == fx->caplog) {
                fx->caplog = fx->caplog ? fx->caplog * 2 : 64;
                fx->log = realloc (fx->log, fx->caplog * sizeof *fx->log);
            }
            fx_rec_t *r = &fx->log[fx->nlog++];
            memset (r, 0, sizeof *r);
            r->type = (uint8_t) act.rec->type;
            snprintf (r->gid, sizeof r->gid, "%s", act.rec->gid);
            for (size_t i = 0; i < act.rec->nparts; i++) {
                size_t l = strlen (r->parts);
                snprintf (r->parts + l, sizeof r->parts - l, "%s%s",
                          i ? "," : "", act.rec->parts[i]);
            }
            r->forced = act.forced;
            r->ticket = act.ticket;
            if (act.forced)
                fx->ticket = act.ticket;
            coord_action_clear (&act);
            continue;
        }
        if (act.type == COORD_ACT_WAKE)
            fx->wake = act.at;
        if (act.type == COORD_ACT_LOG || act.type == COORD_ACT_WAKE
            || !fx->keep) {
            if (act.type != COORD_ACT_LOG && act.type != COORD_ACT_WAKE)
                fx->ndropped++;
            coord_action_clear (&act);
            continue;
        }
        if (act.type == COORD_ACT_CLIENT || act.type == COORD_ACT_AGENT)
            fx_wire_check (act.msg);
        if (fx->n == fx->cap) {
            fx->cap = fx->cap ? fx->cap * 2 : 64;
            fx->a = realloc (fx->a, fx->cap * sizeof *fx->a);
        }
        fx->a[fx->n++] = act;
    }
}

static fx_t *
fx_new_cfg (const coord_engine_config_t *cfg)
{
    fx_t *fx = calloc (1, sizeof *fx);
    fx->e = coord_engine_new (cfg);
    fx->now = 1000000;
    fx->keep = true;
    CU_ASSERT_PTR_NOT_NULL_FATAL (fx->e);
    return fx;
}

static fx_t *
fx_new_started (const coord_engine_config_t *cfg)
{
    fx_t *fx = fx_new_cfg (cfg);
    CU_ASSERT_EQUAL (coord_engine_start (fx->e, 1, fx->now), 0);
    fx_drain (fx);
    return fx;
}

static fx_t *
fx_new (void)
{
    coord_engine_config_t cfg = { .coord_id = "c1" };
    return fx_new_started (&cfg);
}

static void
fx_destroy (fx_t **fx_p)
{
    fx_t *fx = *fx_p;
    fx_clear (fx);
    free (fx->a);
    free (fx->log);
    coord_engine_destroy (&fx->e);
    CU_ASSERT_PTR_NULL (fx->e);
    free (fx);
    *fx_p = NULL;
}

/*  Feed a message (destroyed afterwards) and drain.                     */
static void
fx_client (fx_t *fx, const uint8_t *cid, tpc_msg_t *msg)
{
    CU_ASSERT_EQUAL (coord_engine_client (fx->e, cid, 3, msg, fx->now), 0);
    tpc_msg_destroy (&msg);
    fx_drain (fx);
}

static void
fx_agent (fx_t *fx, const char *name, tpc_msg_t *msg)
{
    CU_ASSERT_EQUAL (coord_engine_agent (fx->e, name, msg, fx->now), 0);
    tpc_msg_destroy (&msg);
    fx_drain (fx);
}

static void
fx_advance (fx_t *fx, uint64_t ms)
{
    fx->now += ms;
    CU_ASSERT_EQUAL (coord_engine_tick (fx->e, fx->now), 0);
    fx_drain (fx);
}

static void
fx_durable (fx_t *fx)
{
    CU_ASSERT_EQUAL (coord_engine_durable (fx->e, fx->ticket, fx->now), 0);
    fx_drain (fx);
}

/* --- message builders ------------------------------------------------ */

static tpc_msg_t *
m_new (tpc_msg_type_t type, uint64_t rid, const char *gid)
{
    tpc_msg_t *m = tpc_msg_new (type);
    CU_ASSERT_PTR_NOT_NULL_FATAL (m);
    m->rid = rid;
    if (gid)
        tpc_msg_set_str (&m->gid, gid);
    return m;
}

/*  submit: pairs of (participant, sql), NULL terminated.                 */
static tpc_msg_t *
m_submit (uint64_t rid, ...)
{
    tpc_msg_t *m = m_new (TPC_MSG_SUBMIT, rid, NULL);
    va_list ap;
    va_start (ap, rid);
    const char *on;
    while ((on = va_arg (ap, const char *))) {
        const char *sql = va_arg (ap, const char *);
        tpc_msg_add_stmt (m, on, sql, 0, NULL);
    }
    va_end (ap);
    return m;
}

static tpc_msg_t *
m_exec (uint64_t rid, const char *gid, const char *on, const char *sql)
{
    tpc_msg_t *m = m_new (TPC_MSG_EXEC, rid, gid);
    tpc_msg_set_str (&m->on, on);
    tpc_msg_set_str (&m->sql, sql);
    return m;
}

static tpc_msg_t *
m_hello (const char *name)
{
    tpc_msg_t *m = m_new (TPC_MSG_HELLO, 0, NULL);
    tpc_msg_set_str (&m->name, name);
    return m;
}

static tpc_msg_t *
m_vote (const char *gid, tpc_vote_t vote, const char *reason)
{
    tpc_msg_t *m = m_new (TPC_MSG_VOTE, 0, gid);
    m->vote = vote;
    if (reason)
        tpc_msg_set_str (&m->reason, reason);
    return m;
}

static tpc_msg_t *
m_ack (const char *gid, tpc_outcome_t outcome)
{
    tpc_msg_t *m = m_new (TPC_MSG_ACK, 0, gid);
    m->outcome = outcome;
    return m;
}

static tpc_msg_t *
m_worked (const char *gid, uint64_t seq, bool ok, const char *reason)
{
    tpc_msg_t *m = m_new (TPC_MSG_WORKED, 0, gid);
    m->seq = seq;
    m->ok = ok;
    if (ok) {
        const char *cols[] = { "n" }, *cells[] = { "42" };
        tpc_msg_set_rows (m, 1, cols, 1, cells);
        m->affected = 1;
        m->has_result = true;
    }
    if (reason)
        tpc_msg_set_str (&m->reason, reason);
    return m;
}

static tpc_msg_t *m_known (const char *gid, tpc_p3_t state);

/* --- finders ------------------------------------------------------------ */

/*  Number of drained AGENT actions to AGENT (NULL = any) of TYPE.        */
static size_t
fx_count_agent (fx_t *fx, const char *agent, tpc_msg_type_t type)
{
    size_t k = 0;
    for (size_t i = 0; i < fx->n; i++)
        if (fx->a[i].type == COORD_ACT_AGENT && fx->a[i].msg->type == type
            && (!agent || strcmp (fx->a[i].agent, agent) == 0))
            k++;
    return k;
}

static const tpc_msg_t *
fx_find_agent (fx_t *fx, const char *agent, tpc_msg_type_t type)
{
    for (size_t i = 0; i < fx->n; i++)
        if (fx->a[i].type == COORD_ACT_AGENT && fx->a[i].msg->type == type
            && strcmp (fx->a[i].agent, agent) == 0)
            return fx->a[i].msg;
    return NULL;
}

static size_t
fx_count_client (fx_t *fx)
{
    size_t k = 0;
    for (size_t i = 0; i < fx->n; i++)
        k += fx->a[i].type == COORD_ACT_CLIENT;
    return k;
}

/*  The client reply with RID (to client CID), or NULL.                  */
static const tpc_msg_t *
fx_reply (fx_t *fx, const uint8_t *cid, uint64_t rid)
{
    for (size_t i = 0; i < fx->n; i++)
        if (fx->a[i].type == COORD_ACT_CLIENT && fx->a[i].msg->rid == rid
            && fx->a[i].client_len == 3
            && memcmp (fx->a[i].client, cid, 3) == 0)
            return fx->a[i].msg;
    return NULL;
}

static size_t
fx_count_log (fx_t *fx, uint8_t type)
{
    size_t k = 0;
    for (size_t i = 0; i < fx->nlog; i++)
        k += fx->log[i].type == type;
    return k;
}

static const fx_rec_t *
fx_find_log (fx_t *fx, uint8_t type, const char *gid)
{
    for (size_t i = 0; i < fx->nlog; i++)
        if (fx->log[i].type == type && strcmp (fx->log[i].gid, gid) == 0)
            return &fx->log[i];
    return NULL;
}

static size_t
fx_count_ended (fx_t *fx, tpc_outcome_t outcome)
{
    size_t k = 0;
    for (size_t i = 0; i < fx->n; i++)
        k += fx->a[i].type == COORD_ACT_ENDED && fx->a[i].outcome == outcome;
    return k;
}

/*  Status of GID as the client sees it: outcome, and state into STATE.  */
static tpc_outcome_t
fx_status (fx_t *fx, const char *gid, char *state, size_t size)
{
    fx_clear (fx);
    fx_client (fx, C2, m_new (TPC_MSG_STATUS, 999, gid));
    const tpc_msg_t *r = fx_reply (fx, C2, 999);
    CU_ASSERT_PTR_NOT_NULL_FATAL (r);
    CU_ASSERT_EQUAL_FATAL (r->type, TPC_MSG_TXSTATUS);
    if (state)
        snprintf (state, size, "%s", r->state);
    tpc_outcome_t o = r->outcome;
    fx_clear (fx);
    return o;
}

/*  What an agent's query for GID is answered.                           */
static tpc_outcome_t
fx_query (fx_t *fx, const char *agent, const char *gid)
{
    fx_clear (fx);
    fx_agent (fx, agent, m_new (TPC_MSG_QUERY, 0, gid));
    const tpc_msg_t *r = fx_find_agent (fx, agent, TPC_MSG_ANSWER);
    CU_ASSERT_PTR_NOT_NULL_FATAL (r);
    CU_ASSERT_STRING_EQUAL (r->gid, gid);
    tpc_outcome_t o = r->outcome;
    fx_clear (fx);
    return o;
}

static void
fx_hellos (fx_t *fx, const char *const *names)
{
    for (; *names; names++)
        fx_agent (fx, *names, m_hello (*names));
    fx_clear (fx);
}

/*  Submit one statement per agent in NAMES; returns the gid (static).    */
static const char *
fx_submit (fx_t *fx, uint64_t rid, const char *const *names)
{
    static char gid[TPC_GID_MAX];
    tpc_msg_t *m = m_new (TPC_MSG_SUBMIT, rid, NULL);
    for (const char *const *n = names; *n; n++)
        tpc_msg_add_stmt (m, *n, "UPDATE t SET x = x + 1", 0, NULL);
    fx_clear (fx);
    fx_client (fx, C1, m);
    const tpc_msg_t *w = fx_find_agent (fx, names[0], TPC_MSG_WORK);
    CU_ASSERT_PTR_NOT_NULL_FATAL (w);
    snprintf (gid, sizeof gid, "%s", w->gid);
    return gid;
}

static const char *const AB[] = { "a", "b", NULL };
static const char *const ABC[] = { "a", "b", "c", NULL };

/* ---------------------------------------------------------------------
 *  Tests
 */

static void
test_two_phase_commit (void)
{
    fx_t *fx = fx_new ();
    fx_hellos (fx, AB);
    fx_client (fx, C1, m_submit (7, "a", "UPDATE x SET v = 1",
                                 "b", "UPDATE y SET v = 2",
                                 "a", "UPDATE x SET v = 3", NULL));
    /* one work per participant, all its statements, then=prepare */
    CU_ASSERT_EQUAL (fx_count_agent (fx, NULL, TPC_MSG_WORK), 2);
    const tpc_msg_t *wa = fx_find_agent (fx, "a", TPC_MSG_WORK);
    const tpc_msg_t *wb = fx_find_agent (fx, "b", TPC_MSG_WORK);
    CU_ASSERT_PTR_NOT_NULL_FATAL (wa);
    CU_ASSERT_PTR_NOT_NULL_FATAL (wb);
    CU_ASSERT_EQUAL (wa->then, TPC_THEN_PREPARE);
    CU_ASSERT_EQUAL (wa->seq, 1);
    CU_ASSERT_EQUAL (wa->nstmts, 2);
    CU_ASSERT_STRING_EQUAL (wa->stmts[0].sql, "UPDATE x SET v = 1");
    CU_ASSERT_STRING_EQUAL (wa->stmts[1].sql, "UPDATE x SET v = 3");
    CU_ASSERT_PTR_NULL (wa->stmts[0].on);
    CU_ASSERT_EQUAL (wb->nstmts, 1);
    CU_ASSERT_STRING_EQUAL (wa->gid, "tpc_c1_1_1");
    CU_ASSERT_STRING_EQUAL (wb->gid, "tpc_c1_1_1");
    CU_ASSERT_EQUAL (fx_count_client (fx), 0);
    const char *gid = "tpc_c1_1_1";
    char state[32];
    CU_ASSERT_EQUAL (fx_status (fx, gid, state, sizeof state),
                     TPC_OUTCOME_IN_PROGRESS);
    CU_ASSERT_STRING_EQUAL (state, "preparing");

    fx_agent (fx, "a", m_vote (gid, TPC_VOTE_YES, NULL));
    CU_ASSERT_EQUAL (fx->nlog, 0);
    fx_agent (fx, "b", m_vote (gid, TPC_VOTE_YES, NULL));
    /* decision record, forced, and nothing sent yet */
    CU_ASSERT_EQUAL_FATAL (fx->nlog, 1);
    CU_ASSERT_EQUAL (fx->log[0].type, TPC_REC_COMMIT);
    CU_ASSERT_STRING_EQUAL (fx->log[0].gid, gid);
    CU_ASSERT_STRING_EQUAL (fx->log[0].parts, "a,b");
    CU_ASSERT (fx->log[0].forced);
    CU_ASSERT_EQUAL (fx->log[0].ticket, 1);
    CU_ASSERT_EQUAL (fx_count_agent (fx, NULL, TPC_MSG_DECIDE), 0);
    CU_ASSERT_EQUAL (fx_count_client (fx), 0);
    /* not durable: still in progress for everybody, even after time */
    fx_advance (fx, 3000);
    CU_ASSERT_EQUAL (fx_count_agent (fx, NULL, TPC_MSG_DECIDE), 0);
    CU_ASSERT_EQUAL (fx_query (fx, "a", gid), TPC_OUTCOME_IN_PROGRESS);
    CU_ASSERT_EQUAL (fx_status (fx, gid, state, sizeof state),
                     TPC_OUTCOME_IN_PROGRESS);
    CU_ASSERT_STRING_EQUAL (state, "committing");
    CU_ASSERT_EQUAL (coord_engine_durable (fx->e, 0, fx->now), 0);
    fx_drain (fx);
    CU_ASSERT_EQUAL (fx_count_agent (fx, NULL, TPC_MSG_DECIDE), 0);

    fx_durable (fx);
    CU_ASSERT_EQUAL (fx_count_agent (fx, NULL, TPC_MSG_DECIDE), 2);
    const tpc_msg_t *d = fx_find_agent (fx, "b", TPC_MSG_DECIDE);
    CU_ASSERT_PTR_NOT_NULL_FATAL (d);
    CU_ASSERT_EQUAL (d->outcome, TPC_OUTCOME_COMMITTED);
    CU_ASSERT_EQUAL (fx_count_client (fx), 0);      /* reply_on applied */
    CU_ASSERT_EQUAL (fx_query (fx, "a", gid), TPC_OUTCOME_COMMITTED);
    CU_ASSERT_EQUAL (fx_status (fx, gid, NULL, 0), TPC_OUTCOME_COMMITTED);
    CU_ASSERT_EQUAL (coord_engine_unfinished (fx->e), 1);

    fx_agent (fx, "a", m_ack (gid, TPC_OUTCOME_COMMITTED));
    fx_agent (fx, "a", m_ack (gid, TPC_OUTCOME_COMMITTED));  /* duplicate */
    CU_ASSERT_EQUAL (fx->nlog, 1);
    CU_ASSERT_EQUAL (fx_count_client (fx), 0);
    fx_agent (fx, "b", m_ack (gid, TPC_OUTCOME_COMMITTED));
    CU_ASSERT_EQUAL_FATAL (fx->nlog, 2);
    CU_ASSERT_EQUAL (fx->log[1].type, TPC_REC_END);
    CU_ASSERT_FALSE (fx->log[1].forced);
    const tpc_msg_t *r = fx_reply (fx, C1, 7);
    CU_ASSERT_PTR_NOT_NULL_FATAL (r);
    CU_ASSERT_EQUAL (r->type, TPC_MSG_OUTCOME);
    CU_ASSERT_EQUAL (r->outcome, TPC_OUTCOME_COMMITTED);
    CU_ASSERT_STRING_EQUAL (r->gid, gid);
    CU_ASSERT_EQUAL (fx_count_ended (fx, TPC_OUTCOME_COMMITTED), 1);
    CU_ASSERT_EQUAL (coord_engine_live (fx->e), 0);
    CU_ASSERT_EQUAL (coord_engine_unfinished (fx->e), 0);
    /* ended: still known as committed; stale ack ignored */
    CU_ASSERT_EQUAL (fx_status (fx, gid, state, sizeof state),
                     TPC_OUTCOME_COMMITTED);
    CU_ASSERT_STRING_EQUAL (state, "ended");
    CU_ASSERT_EQUAL (fx_query (fx, "b", gid), TPC_OUTCOME_COMMITTED);
    fx_agent (fx, "b", m_ack (gid, TPC_OUTCOME_COMMITTED));
    CU_ASSERT_EQUAL (fx->n, 0);
    CU_ASSERT_EQUAL (fx->nlog, 2);
    fx_destroy (&fx);
}

static void
test_reply_on_decision (void)
{
    coord_engine_config_t cfg = { .coord_id = "c1",
                                  .reply_on = COORD_REPLY_ON_DECISION };
    fx_t *fx = fx_new_started (&cfg);
    fx_hellos (fx, AB);
    const char *gid = fx_submit (fx, 5, AB);
    fx_agent (fx, "a", m_vote (gid, TPC_VOTE_YES, NULL));
    fx_agent (fx, "b", m_vote (gid, TPC_VOTE_YES, NULL));
    CU_ASSERT_PTR_NULL (fx_reply (fx, C1, 5));
    fx_durable (fx);
    const tpc_msg_t *r = fx_reply (fx, C1, 5);
    CU_ASSERT_PTR_NOT_NULL_FATAL (r);
    CU_ASSERT_EQUAL (r->outcome, TPC_OUTCOME_COMMITTED);
    /* the reply is in the queue after the decides, never before them */
    size_t i_reply = 0, i_decide = 0;
    for (size_t i = 0; i < fx->n; i++) {
        if (fx->a[i].type == COORD_ACT_CLIENT)
            i_reply = i;
        if (fx->a[i].type == COORD_ACT_AGENT)
            i_decide = i;
    }
    CU_ASSERT (i_decide < i_reply);
    fx_destroy (&fx);
}

static void
test_ack_wait (void)
{
    fx_t *fx = fx_new ();                   /* applied, ack_wait 5000 */
    fx_hellos (fx, AB);
    const char *gid = fx_submit (fx, 5, AB);
    fx_agent (fx, "a", m_vote (gid, TPC_VOTE_YES, NULL));
    fx_agent (fx, "b", m_vote (gid, TPC_VOTE_YES, NULL));
    fx_durable (fx);
    fx_agent (fx, "a", m_ack (gid, TPC_OUTCOME_COMMITTED));
    fx_clear (fx);
    /* keep b alive and silent on acks */
    for (int i = 0; i < 9; i++) {
        fx_advance (fx, 500);
        fx_agent (fx, "b", m_hello ("b"));
    }
    CU_ASSERT_PTR_NULL (fx_reply (fx, C1, 5));
    fx_advance (fx, 600);
    const tpc_msg_t *r = fx_reply (fx, C1, 5);
    CU_ASSERT_PTR_NOT_NULL_FATAL (r);
    CU_ASSERT_EQUAL (r->outcome, TPC_OUTCOME_COMMITTED);
    /* still driven to the end: b hears decide again, END after its ack */
    CU_ASSERT_EQUAL (coord_engine_live (fx->e), 1);
    CU_ASSERT_PTR_NULL (fx_find_log (fx, TPC_REC_END, gid));
    fx_agent (fx, "b", m_ack (gid, TPC_OUTCOME_COMMITTED));
    CU_ASSERT_PTR_NOT_NULL (fx_find_log (fx, TPC_REC_END, gid));
    CU_ASSERT_EQUAL (coord_engine_live (fx->e), 0);
    fx_destroy (&fx);
}

static void
test_one_phase (void)
{
    fx_t *fx = fx_new ();
    fx_hellos (fx, AB);
    fx_client (fx, C1, m_submit (3, "a", "INSERT 1", "a", "INSERT 2", NULL));
    const tpc_msg_t *w = fx_find_agent (fx, "a", TPC_MSG_WORK);
    CU_ASSERT_PTR_NOT_NULL_FATAL (w);
    CU_ASSERT_EQUAL (w->then, TPC_THEN_COMMIT);
    CU_ASSERT_EQUAL (w->nstmts, 2);
    CU_ASSERT_EQUAL (fx_count_agent (fx, NULL, TPC_MSG_PREPARE), 0);
    char gid[TPC_GID_MAX];
    snprintf (gid, sizeof gid, "%s", w->gid);
    char state[32];
    CU_ASSERT_EQUAL (fx_status (fx, gid, state, sizeof state),
                     TPC_OUTCOME_IN_PROGRESS);
    CU_ASSERT_STRING_EQUAL (state, "onephase");
    fx_agent (fx, "a", m_ack (gid, TPC_OUTCOME_COMMITTED));
    const tpc_msg_t *r = fx_reply (fx, C1, 3);
    CU_ASSERT_PTR_NOT_NULL_FATAL (r);
    CU_ASSERT_EQUAL (r->outcome, TPC_OUTCOME_COMMITTED);
    CU_ASSERT_EQUAL (fx->nlog, 0);          /* no decision record at all */
    CU_ASSERT_EQUAL (fx_count_agent (fx, NULL, TPC_MSG_DECIDE), 0);
    CU_ASSERT_EQUAL (coord_engine_live (fx->e), 0);
    CU_ASSERT_EQUAL (fx_status (fx, gid, NULL, 0), TPC_OUTCOME_COMMITTED);

    /* interactive, one participant: work then=commit with no statement */
    fx_clear (fx);
    fx_client (fx, C1, m_new (TPC_MSG_BEGIN, 10, NULL));
    r = fx_reply (fx, C1, 10);
    CU_ASSERT_PTR_NOT_NULL_FATAL (r);
    CU_ASSERT_EQUAL (r->type, TPC_MSG_BEGUN);
    snprintf (gid, sizeof gid, "%s", r->gid);
    CU_ASSERT_STRING_EQUAL (gid, "tpc_c1_1_2");
    fx_client (fx, C1, m_exec (11, gid, "b", "UPDATE z SET v = 0"));
    w = fx_find_agent (fx, "b", TPC_MSG_WORK);
    CU_ASSERT_PTR_NOT_NULL_FATAL (w);
    CU_ASSERT_EQUAL (w->then, TPC_THEN_NONE);
    CU_ASSERT_EQUAL (w->seq, 1);
    fx_agent (fx, "b", m_worked (gid, 1, true, NULL));
    fx_clear (fx);
    fx_client (fx, C1, m_new (TPC_MSG_COMMIT, 12, gid));
    w = fx_find_agent (fx, "b", TPC_MSG_WORK);
    CU_ASSERT_PTR_NOT_NULL_FATAL (w);
    CU_ASSERT_EQUAL (w->then, TPC_THEN_COMMIT);
    CU_ASSERT_EQUAL (w->seq, 2);
    CU_ASSERT_EQUAL (w->nstmts, 0);
    fx_agent (fx, "b", m_ack (gid, TPC_OUTCOME_ABORTED));
    r = fx_reply (fx, C1, 12);
    CU_ASSERT_PTR_NOT_NULL_FATAL (r);
    CU_ASSERT_EQUAL (r->outcome, TPC_OUTCOME_ABORTED);
    CU_ASSERT_EQUAL (fx->nlog, 0);
    CU_ASSERT_EQUAL (fx_status (fx, gid, NULL, 0), TPC_OUTCOME_ABORTED);
    fx_destroy (&fx);
}

/*  no_onephase (--ha): one participant goes two phases, with a forced
 *  COMMIT record (the fenced decision), submit and interactive alike.  */
static void
test_no_onephase (void)
{
    coord_engine_config_t cfg = { .coord_id = "c1", .no_onephase = true };
    fx_t *fx = fx_new_started (&cfg);
    fx_hellos (fx, AB);
    fx_client (fx, C1, m_submit (3, "a", "INSERT 1", NULL));
    const tpc_msg_t *w = fx_find_agent (fx, "a", TPC_MSG_WORK);
    CU_ASSERT_PTR_NOT_NULL_FATAL (w);
    CU_ASSERT_EQUAL (w->then, TPC_THEN_PREPARE);
    char gid[TPC_GID_MAX];
    snprintf (gid, sizeof gid, "%s", w->gid);
    fx_agent (fx, "a", m_vote (gid, TPC_VOTE_YES, NULL));
    CU_ASSERT_EQUAL_FATAL (fx->nlog, 1);
    CU_ASSERT_EQUAL (fx->log[0].type, TPC_REC_COMMIT);
    CU_ASSERT_STRING_EQUAL (fx->log[0].parts, "a");
    CU_ASSERT (fx->log[0].forced);
    CU_ASSERT_EQUAL (fx_count_agent (fx, NULL, TPC_MSG_DECIDE), 0);
    fx_durable (fx);
    CU_ASSERT_EQUAL (fx_count_agent (fx, "a", TPC_MSG_DECIDE), 1);

    /* interactive, one participant: commit sends prepare, not commit */
    fx_clear (fx);
    fx_client (fx, C1, m_new (TPC_MSG_BEGIN, 10, NULL));
    const tpc_msg_t *r = fx_reply (fx, C1, 10);
    CU_ASSERT_PTR_NOT_NULL_FATAL (r);
    snprintf (gid, sizeof gid, "%s", r->gid);
    fx_client (fx, C1, m_exec (11, gid, "b", "UPDATE z SET v = 0"));
    fx_agent (fx, "b", m_worked (gid, 1, true, NULL));
    fx_clear (fx);
    fx_client (fx, C1, m_new (TPC_MSG_COMMIT, 12, gid));
    CU_ASSERT_EQUAL (fx_count_agent (fx, "b", TPC_MSG_PREPARE), 1);
    CU_ASSERT_PTR_NULL (fx_find_agent (fx, "b", TPC_MSG_WORK));
    fx_destroy (&fx);
}

static void
test_one_phase_no_ack (void)
{
    fx_t *fx = fx_new ();
    fx_hellos (fx, AB);
    static const char *const A[] = { "a", NULL };
    char gid[TPC_GID_MAX];
    snprintf (gid, sizeof gid, "%s", fx_submit (fx, 4, A));
    fx_advance (fx, 10001);
    const tpc_msg_t *r = fx_reply (fx, C1, 4);
    CU_ASSERT_PTR_NOT_NULL_FATAL (r);
    CU_ASSERT_EQUAL (r->type, TPC_MSG_ERROR);
    CU_ASSERT_EQUAL (r->code, TPC_EIN_DOUBT);
    /* never presumed aborted while it might be committing */
    CU_ASSERT_EQUAL (fx_status (fx, gid, NULL, 0), TPC_OUTCOME_IN_PROGRESS);
    /* a late ack still settles it */
    fx_agent (fx, "a", m_ack (gid, TPC_OUTCOME_COMMITTED));
    CU_ASSERT_EQUAL (coord_engine_live (fx->e), 0);
    CU_ASSERT_EQUAL (fx_status (fx, gid, NULL, 0), TPC_OUTCOME_COMMITTED);
    fx_destroy (&fx);
}

static void
test_readonly (void)
{
    fx_t *fx = fx_new ();
    fx_hellos (fx, ABC);
    const char *gid = fx_submit (fx, 1, ABC);
    fx_agent (fx, "a", m_vote (gid, TPC_VOTE_READONLY, NULL));
    fx_agent (fx, "b", m_vote (gid, TPC_VOTE_YES, NULL));
    fx_agent (fx, "c", m_vote (gid, TPC_VOTE_YES, NULL));
    CU_ASSERT_EQUAL_FATAL (fx->nlog, 1);
    CU_ASSERT_STRING_EQUAL (fx->log[0].parts, "b,c");   /* a left out */
    fx_clear (fx);
    fx_durable (fx);
    CU_ASSERT_EQUAL (fx_count_agent (fx, "a", TPC_MSG_DECIDE), 0);
    CU_ASSERT_EQUAL (fx_count_agent (fx, "b", TPC_MSG_DECIDE), 1);
    CU_ASSERT_EQUAL (fx_count_agent (fx, "c", TPC_MSG_DECIDE), 1);
    fx_agent (fx, "b", m_ack (gid, TPC_OUTCOME_COMMITTED));
    fx_agent (fx, "c", m_ack (gid, TPC_OUTCOME_COMMITTED));
    CU_ASSERT_PTR_NOT_NULL (fx_reply (fx, C1, 1));
    CU_ASSERT_EQUAL (fx_count_log (fx, TPC_REC_END), 1);

    /* everybody read-only: committed, no record, no phase 2 */
    fx->nlog = 0;
    fx_clear (fx);
    gid = fx_submit (fx, 2, AB);
    fx_agent (fx, "a", m_vote (gid, TPC_VOTE_READONLY, NULL));
    fx_agent (fx, "b", m_vote (gid, TPC_VOTE_READONLY, NULL));
    const tpc_msg_t *r = fx_reply (fx, C1, 2);
    CU_ASSERT_PTR_NOT_NULL_FATAL (r);
    CU_ASSERT_EQUAL (r->outcome, TPC_OUTCOME_COMMITTED);
    CU_ASSERT_EQUAL (fx->nlog, 0);
    CU_ASSERT_EQUAL (fx_count_agent (fx, NULL, TPC_MSG_DECIDE), 0);
    CU_ASSERT_EQUAL (coord_engine_live (fx->e), 0);
    fx_destroy (&fx);
}

static void
test_vote_no (void)
{
    fx_t *fx = fx_new ();
    fx_hellos (fx, ABC);
    char gid[TPC_GID_MAX];
    snprintf (gid, sizeof gid, "%s", fx_submit (fx, 1, ABC));
    fx_agent (fx, "a", m_vote (gid, TPC_VOTE_YES, NULL));
    fx_agent (fx, "b", m_vote (gid, TPC_VOTE_NO, "duplicate key"));
    const tpc_msg_t *r = fx_reply (fx, C1, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL (r);
    CU_ASSERT_EQUAL (r->outcome, TPC_OUTCOME_ABORTED);
    CU_ASSERT_PTR_NOT_NULL_FATAL (r->reason);
    CU_ASSERT_PTR_NOT_NULL (strstr (r->reason, "duplicate key"));
    CU_ASSERT_PTR_NOT_NULL (strstr (r->reason, "'b'"));
    /* the yes voter and the silent one hear abort, the no voter does not */
    CU_ASSERT_EQUAL (fx_count_agent (fx, "a", TPC_MSG_DECIDE), 1);
    CU_ASSERT_EQUAL (fx_count_agent (fx, "b", TPC_MSG_DECIDE), 0);
    CU_ASSERT_EQUAL (fx_count_agent (fx, "c", TPC_MSG_DECIDE), 1);
    CU_ASSERT_EQUAL (fx_find_agent (fx, "a", TPC_MSG_DECIDE)->outcome,
                     TPC_OUTCOME_ABORTED);
    /* abort is not forced and there is no COMMIT */
    CU_ASSERT_EQUAL (fx_count_log (fx, TPC_REC_COMMIT), 0);
    const fx_rec_t *ab = fx_find_log (fx, TPC_REC_ABORT, gid);
    CU_ASSERT_PTR_NOT_NULL_FATAL (ab);
    CU_ASSERT_FALSE (ab->forced);
    CU_ASSERT_EQUAL (fx_query (fx, "a", gid), TPC_OUTCOME_ABORTED);
    /* c's late yes never changes the decision */
    fx_clear (fx);
    fx_agent (fx, "c", m_vote (gid, TPC_VOTE_YES, NULL));
    CU_ASSERT_EQUAL (fx_count_log (fx, TPC_REC_COMMIT), 0);
    CU_ASSERT_EQUAL (fx_count_agent (fx, "c", TPC_MSG_DECIDE), 1);
    CU_ASSERT_EQUAL (fx_find_agent (fx, "c", TPC_MSG_DECIDE)->outcome,
                     TPC_OUTCOME_ABORTED);
    fx_agent (fx, "a", m_ack (gid, TPC_OUTCOME_ABORTED));
    fx_agent (fx, "c", m_ack (gid, TPC_OUTCOME_ABORTED));
    CU_ASSERT_EQUAL (coord_engine_live (fx->e), 0);
    CU_ASSERT_EQUAL (fx_query (fx, "c", gid), TPC_OUTCOME_ABORTED);
    CU_ASSERT_EQUAL (fx_count_log (fx, TPC_REC_END), 0);
    fx_destroy (&fx);
}

static void
test_vote_timeout (void)
{
    coord_engine_config_t cfg = { .coord_id = "c1", .vote_timeout_ms = 2000,
                                  .heartbeat_ms = 10000 };
    fx_t *fx = fx_new_started (&cfg);
    fx_hellos (fx, AB);
    char gid[TPC_GID_MAX];
    snprintf (gid, sizeof gid, "%s", fx_submit (fx, 1, AB));
    fx_agent (fx, "a", m_vote (gid, TPC_VOTE_YES, NULL));
    CU_ASSERT (fx->wake <= fx->now + 2000);
    fx_advance (fx, 1999);
    CU_ASSERT_PTR_NULL (fx_reply (fx, C1, 1));
    CU_ASSERT_EQUAL (fx_query (fx, "a", gid), TPC_OUTCOME_IN_PROGRESS);
    fx_advance (fx, 1);
    const tpc_msg_t *r = fx_reply (fx, C1, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL (r);
    CU_ASSERT_EQUAL (r->outcome, TPC_OUTCOME_ABORTED);
    CU_ASSERT_PTR_NOT_NULL (strstr (r->reason, "vote timeout"));
    CU_ASSERT_EQUAL (fx_count_agent (fx, "a", TPC_MSG_DECIDE), 1);
    CU_ASSERT_EQUAL (fx_count_agent (fx, "b", TPC_MSG_DECIDE), 1);
    CU_ASSERT_EQUAL (fx_count_log (fx, TPC_REC_COMMIT), 0);
    /* b's vote arrives late: decision stays abort */
    fx_clear (fx);
    fx_agent (fx, "b", m_vote (gid, TPC_VOTE_YES, NULL));
    CU_ASSERT_EQUAL (fx_count_log (fx, TPC_REC_COMMIT), 0);
    CU_ASSERT_EQUAL (fx_count_agent (fx, "b", TPC_MSG_DECIDE), 1);
    CU_ASSERT_EQUAL (fx_find_agent (fx, "b", TPC_MSG_DECIDE)->outcome,
                     TPC_OUTCOME_ABORTED);
    CU_ASSERT_EQUAL (fx_status (fx, gid, NULL, 0), TPC_OUTCOME_ABORTED);
    fx_destroy (&fx);
}

static void
test_txn_timeout (void)
{
    coord_engine_config_t cfg = { .coord_id = "c1", .heartbeat_ms = 100000 };
    fx_t *fx = fx_new_started (&cfg);
    fx_hellos (fx, AB);
    tpc_msg_t *b = m_new (TPC_MSG_BEGIN, 1, NULL);
    b->timeout_ms = 500;
    fx_client (fx, C1, b);
    char gid[TPC_GID_MAX];
    snprintf (gid, sizeof gid, "%s", fx_reply (fx, C1, 1)->gid);
    fx_client (fx, C1, m_exec (2, gid, "a", "UPDATE t SET x = 1"));
    fx_agent (fx, "a", m_worked (gid, 1, true, NULL));
    fx_clear (fx);
    fx_advance (fx, 499);
    CU_ASSERT_EQUAL (fx_count_agent (fx, NULL, TPC_MSG_DECIDE), 0);
    fx_advance (fx, 1);
    CU_ASSERT_EQUAL (fx_count_agent (fx, "a", TPC_MSG_DECIDE), 1);
    CU_ASSERT_EQUAL (fx_find_agent (fx, "a", TPC_MSG_DECIDE)->outcome,
                     TPC_OUTCOME_ABORTED);
    /* the client comes back too late */
    fx_clear (fx);
    fx_client (fx, C1, m_new (TPC_MSG_COMMIT, 3, gid));
    const tpc_msg_t *r = fx_reply (fx, C1, 3);
    CU_ASSERT_PTR_NOT_NULL_FATAL (r);
    CU_ASSERT_EQUAL (r->type, TPC_MSG_OUTCOME);
    CU_ASSERT_EQUAL (r->outcome, TPC_OUTCOME_ABORTED);

    /* the default timeout (60 s) applies to submit too, vote pending */
    coord_engine_config_t cfg2 = { .coord_id = "c1",
                                   .vote_timeout_ms = 120000,
                                   .heartbeat_ms = 100000 };
    fx_t *fx2 = fx_new_started (&cfg2);
    fx_hellos (fx2, AB);
    fx_submit (fx2, 9, AB);
    fx_advance (fx2, 59999);
    CU_ASSERT_PTR_NULL (fx_reply (fx2, C1, 9));
    fx_advance (fx2, 1);
    r = fx_reply (fx2, C1, 9);
    CU_ASSERT_PTR_NOT_NULL_FATAL (r);
    CU_ASSERT_EQUAL (r->outcome, TPC_OUTCOME_ABORTED);
    CU_ASSERT_PTR_NOT_NULL (strstr (r->reason, "transaction timeout"));
    fx_destroy (&fx2);
    fx_destroy (&fx);
}

static void
test_query_answers (void)
{
    fx_t *fx = fx_new ();
    fx_hellos (fx, AB);
    /* unknown gid of ours: presumed abort; another coordinator's or a
     * gid not issued yet: not ours to presume */
    CU_ASSERT_EQUAL (fx_query (fx, "a", "tpc_c1_1_77"),
                     TPC_OUTCOME_IN_PROGRESS);
    const char *gid = fx_submit (fx, 1, AB);
    CU_ASSERT_EQUAL (fx_query (fx, "a", gid), TPC_OUTCOME_IN_PROGRESS);
    fx_submit (fx, 2, AB);
    fx_client (fx, C1, m_new (TPC_MSG_ROLLBACK, 3, "tpc_c1_1_2"));
    CU_ASSERT_EQUAL (fx_query (fx, "a", "tpc_c1_1_2"), TPC_OUTCOME_ABORTED);
    CU_ASSERT_EQUAL (fx_query (fx, "a", "tpc_other_1_1"),
                     TPC_OUTCOME_IN_PROGRESS);
    CU_ASSERT_EQUAL (fx_query (fx, "a", "tpc_c1_9_1"),
                     TPC_OUTCOME_IN_PROGRESS);
    /* status: unknown of ours aborted, foreign is an error */
    char state[32];
    CU_ASSERT_EQUAL (fx_status (fx, "tpc_c1_1_2", state, sizeof state),
                     TPC_OUTCOME_ABORTED);
    fx_client (fx, C1, m_new (TPC_MSG_STATUS, 5, "tpc_other_1_1"));
    const tpc_msg_t *r = fx_reply (fx, C1, 5);
    CU_ASSERT_PTR_NOT_NULL_FATAL (r);
    CU_ASSERT_EQUAL (r->type, TPC_MSG_ERROR);
    CU_ASSERT_EQUAL (r->code, TPC_EUNKNOWN_GID);
    fx_destroy (&fx);

    /* an old epoch never seen in the log: presumed abort */
    coord_engine_config_t cfg = { .coord_id = "c1" };
    fx = fx_new_cfg (&cfg);
    tpc_record_t ep = { .type = TPC_REC_EPOCH, .epoch = 4 };
    CU_ASSERT_EQUAL (coord_engine_replay (fx->e, &ep), 0);
    CU_ASSERT_EQUAL (coord_engine_start (fx->e, 5, fx->now), 0);
    fx_drain (fx);
    /* (not before every live agent had the time to say hello: see
     * presumed_abort_checked) */
    CU_ASSERT_EQUAL (fx_query (fx, "a", "tpc_c1_4_1"),
                     TPC_OUTCOME_IN_PROGRESS);
    fx_advance (fx, 2000);
    CU_ASSERT_EQUAL (fx_query (fx, "a", "tpc_c1_4_1"), TPC_OUTCOME_ABORTED);
    /* but a client is never told "aborted" for a gid whose outcome was
     * forgotten (regression: it was, for committed gids evicted from the
     * cache of ended transactions or dropped by a checkpoint) without
     * the agents' check of their markers (status_checked) */
    fx_clear (fx);
    fx_client (fx, C1, m_new (TPC_MSG_STATUS, 6, "tpc_c1_4_1"));
    CU_ASSERT_PTR_NULL (fx_reply (fx, C1, 6));
    CU_ASSERT_EQUAL (fx_count_agent (fx, "a", TPC_MSG_OUTCOME_OF), 1);
    fx_agent (fx, "a", m_known ("tpc_c1_4_1", TPC_P3_ABORTED));
    r = fx_reply (fx, C1, 6);
    CU_ASSERT_PTR_NOT_NULL_FATAL (r);
    CU_ASSERT_EQUAL_FATAL (r->type, TPC_MSG_TXSTATUS);
    CU_ASSERT_EQUAL (r->outcome, TPC_OUTCOME_ABORTED);
    CU_ASSERT (r->reason && strstr (r->reason, "(checked with a; "));
    fx_destroy (&fx);
    /* with no agent to check the markers with, it is not known */
    fx = fx_new_cfg (&cfg);
    CU_ASSERT_EQUAL (coord_engine_replay (fx->e, &ep), 0);
    CU_ASSERT_EQUAL (coord_engine_start (fx->e, 5, fx->now), 0);
    fx_advance (fx, 2000);
    fx_client (fx, C1, m_new (TPC_MSG_STATUS, 7, "tpc_c1_4_1"));
    r = fx_reply (fx, C1, 7);
    CU_ASSERT_PTR_NOT_NULL_FATAL (r);
    CU_ASSERT_EQUAL_FATAL (r->type, TPC_MSG_TXSTATUS);
    CU_ASSERT_EQUAL (r->outcome, TPC_OUTCOME_IN_PROGRESS);
    CU_ASSERT_STRING_EQUAL (r->state, "no_record");
    CU_ASSERT (r->reason && strstr (r->reason, "no agent is known"));
    fx_destroy (&fx);
}

static tpc_record_t *
rec_commit (const char *gid, const char *p1, const char *p2)
{
    static tpc_record_t r;
    memset (&r, 0, sizeof r);
    r.type = TPC_REC_COMMIT;
    snprintf (r.gid, sizeof r.gid, "%s", gid);
    snprintf (r.parts[r.nparts++], TPC_RECORD_NAME_MAX, "%s", p1);
    if (p2)
        snprintf (r.parts[r.nparts++], TPC_RECORD_NAME_MAX, "%s", p2);
    return &r;
}

static tpc_record_t *
rec_gid (tpc_rec_type_t type, const char *gid)
{
    static tpc_record_t r;
    memset (&r, 0, sizeof r);
    r.type = type;
    snprintf (r.gid, sizeof r.gid, "%s", gid);
    return &r;
}

static int
s_collect (void *arg, const tpc_record_t *rec, size_t nacked)
{
    char *out = arg;
    size_t l = strlen (out);
    snprintf (out + l, 512 - l, "%s[%zu/%zu];", rec->gid, nacked,
              rec->nparts);
    return 0;
}

static void
test_replay_restart (void)
{
    coord_engine_config_t cfg = { .coord_id = "c1" };
    fx_t *fx = fx_new_cfg (&cfg);
    tpc_record_t ep = { .type = TPC_REC_EPOCH, .epoch = 1 };
    coord_engine_t *e = fx->e;
    CU_ASSERT_EQUAL (coord_engine_replay (e, &ep), 0);
    CU_ASSERT_EQUAL (coord_engine_replay (e, rec_commit ("tpc_c1_1_1", "a",
                                                         "b")), 0);
    CU_ASSERT_EQUAL (coord_engine_replay (e, rec_commit ("tpc_c1_1_2", "a",
                                                         NULL)), 0);
    CU_ASSERT_EQUAL (coord_engine_replay (e, rec_gid (TPC_REC_END,
                                                      "tpc_c1_1_2")), 0);
    CU_ASSERT_EQUAL (coord_engine_replay (e, rec_gid (TPC_REC_ABORT,
                                                      "tpc_c1_1_3")), 0);
    ep.epoch = 2;
    CU_ASSERT_EQUAL (coord_engine_replay (e, &ep), 0);
    /* a checkpoint's copy of a live COMMIT is harmless */
    CU_ASSERT_EQUAL (coord_engine_replay (e, rec_commit ("tpc_c1_1_1", "a",
                                                         "b")), 0);
    CU_ASSERT_EQUAL (coord_engine_replayed_epoch (e), 2);
    CU_ASSERT_EQUAL (coord_engine_unfinished (e), 1);
    CU_ASSERT_EQUAL (coord_engine_live (e), 1);
    CU_ASSERT_EQUAL (coord_engine_start (e, 2, fx->now), TPC_EINVAL);
    CU_ASSERT_EQUAL (coord_engine_start (e, 3, fx->now), 0);
    CU_ASSERT_EQUAL (coord_engine_start (e, 4, fx->now), TPC_ESTATE);
    CU_ASSERT_EQUAL (coord_engine_replay (e, &ep), TPC_ESTATE);
    fx_drain (fx);
    /* nobody connected yet: nothing sent */
    CU_ASSERT_EQUAL (fx_count_agent (fx, NULL, TPC_MSG_DECIDE), 0);
    char walk[512] = "";
    CU_ASSERT_EQUAL (coord_engine_foreach_decided (e, s_collect, walk), 0);
    CU_ASSERT_STRING_EQUAL (walk, "tpc_c1_1_1[0/2];");

    fx_agent (fx, "a", m_hello ("a"));
    CU_ASSERT_EQUAL (fx_count_agent (fx, "a", TPC_MSG_DECIDE), 1);
    CU_ASSERT_EQUAL (fx_find_agent (fx, "a", TPC_MSG_DECIDE)->outcome,
                     TPC_OUTCOME_COMMITTED);
    CU_ASSERT_STRING_EQUAL (fx_find_agent (fx, "a", TPC_MSG_DECIDE)->gid,
                            "tpc_c1_1_1");
    CU_ASSERT_EQUAL (fx_query (fx, "a", "tpc_c1_1_1"), TPC_OUTCOME_COMMITTED);
    CU_ASSERT_EQUAL (fx_query (fx, "a", "tpc_c1_1_2"), TPC_OUTCOME_COMMITTED);
    CU_ASSERT_EQUAL (fx_query (fx, "a", "tpc_c1_1_3"), TPC_OUTCOME_ABORTED);
    /* no record of an earlier boot's gid, and b (named in the log) is not
     * connected: it may have committed it, so no presumed abort yet */
    CU_ASSERT_EQUAL (fx_query (fx, "a", "tpc_c1_1_9"),
                     TPC_OUTCOME_IN_PROGRESS);
    CU_ASSERT_EQUAL (fx_status (fx, "tpc_c1_1_1", NULL, 0),
                     TPC_OUTCOME_COMMITTED);
    /* a does not ack: resent after the backoff, only to a */
    fx_advance (fx, 100);
    CU_ASSERT_EQUAL (fx_count_agent (fx, "a", TPC_MSG_DECIDE), 1);
    fx_agent (fx, "a", m_ack ("tpc_c1_1_1", TPC_OUTCOME_COMMITTED));
    walk[0] = '\0';
    coord_engine_foreach_decided (e, s_collect, walk);
    CU_ASSERT_STRING_EQUAL (walk, "tpc_c1_1_1[1/2];");
    fx_clear (fx);
    fx_agent (fx, "b", m_hello ("b"));
    CU_ASSERT_EQUAL (fx_count_agent (fx, "b", TPC_MSG_DECIDE), 1);
    CU_ASSERT_EQUAL (fx_count_agent (fx, "a", TPC_MSG_DECIDE), 0);
    fx_agent (fx, "b", m_ack ("tpc_c1_1_1", TPC_OUTCOME_COMMITTED));
    CU_ASSERT_PTR_NOT_NULL (fx_find_log (fx, TPC_REC_END, "tpc_c1_1_1"));
    CU_ASSERT_EQUAL (fx_count_ended (fx, TPC_OUTCOME_COMMITTED), 1);
    CU_ASSERT_EQUAL (coord_engine_unfinished (e), 0);
    /* new gids use the new epoch */
    const char *gid = fx_submit (fx, 1, AB);
    CU_ASSERT_STRING_EQUAL (gid, "tpc_c1_3_1");
    fx_destroy (&fx);
}

static void
test_resend_backoff (void)
{
    coord_engine_config_t cfg = { .coord_id = "c1", .heartbeat_ms = 2000 };
    fx_t *fx = fx_new_started (&cfg);
    fx_hellos (fx, AB);
    const char *gid = fx_submit (fx, 1, AB);
    fx_agent (fx, "a", m_vote (gid, TPC_VOTE_YES, NULL));
    fx_agent (fx, "b", m_vote (gid, TPC_VOTE_YES, NULL));
    fx_durable (fx);
    fx_agent (fx, "a", m_ack (gid, TPC_OUTCOME_COMMITTED));
    /* b stays connected but does not ack: 100, 200, 400, 800 ms ... */
    uint64_t expect[] = { 100, 200, 400, 800, 1600, 3200, 5000, 5000 };
    for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++) {
        fx_clear (fx);
        fx_agent (fx, "b", m_hello ("b"));
        fx_advance (fx, expect[i] - 1);
        fx_agent (fx, "b", m_hello ("b"));
        CU_ASSERT_EQUAL (fx_count_agent (fx, "b", TPC_MSG_DECIDE), 0);
        fx_advance (fx, 1);
        CU_ASSERT_EQUAL (fx_count_agent (fx, "b", TPC_MSG_DECIDE), 1);
        CU_ASSERT_EQUAL (fx_count_agent (fx, "a", TPC_MSG_DECIDE), 0);
    }
    /* b goes silent: marked gone after 3 heartbeats, nothing sent to it */
    fx_clear (fx);
    fx_advance (fx, 3500);
    fx_clear (fx);
    fx_advance (fx, 5000);
    CU_ASSERT_EQUAL (fx_count_agent (fx, "b", TPC_MSG_DECIDE), 0);
    /* its hello brings the decision again at once */
    fx_agent (fx, "b", m_hello ("b"));
    CU_ASSERT_EQUAL (fx_count_agent (fx, "b", TPC_MSG_DECIDE), 1);
    /* the shell says it is gone: nothing until its hello */
    fx_clear (fx);
    CU_ASSERT_EQUAL (coord_engine_agent_gone (fx->e, "b", fx->now), 0);
    fx_advance (fx, 5000);
    CU_ASSERT_EQUAL (fx_count_agent (fx, "b", TPC_MSG_DECIDE), 0);
    fx_agent (fx, "b", m_hello ("b"));
    CU_ASSERT_EQUAL (fx_count_agent (fx, "b", TPC_MSG_DECIDE), 1);
    /* a send that fails marks it gone; it is resent at the next hello */
    fx_clear (fx);
    tpc_msg_t *d = m_new (TPC_MSG_DECIDE, 0, gid);
    d->outcome = TPC_OUTCOME_COMMITTED;
    CU_ASSERT_EQUAL (coord_engine_send_failed (fx->e, "b", d, fx->now), 0);
    tpc_msg_destroy (&d);
    fx_drain (fx);
    CU_ASSERT_EQUAL (coord_engine_live (fx->e), 1);
    fx_agent (fx, "b", m_hello ("b"));
    CU_ASSERT_EQUAL (fx_count_agent (fx, "b", TPC_MSG_DECIDE), 1);
    fx_agent (fx, "b", m_ack (gid, TPC_OUTCOME_COMMITTED));
    CU_ASSERT_EQUAL (coord_engine_live (fx->e), 0);
    fx_destroy (&fx);
}

static void
test_stale_and_duplicates (void)
{
    fx_t *fx = fx_new ();
    fx_hellos (fx, ABC);
    char gid[TPC_GID_MAX];
    snprintf (gid, sizeof gid, "%s", fx_submit (fx, 1, AB));
    /* vote from a non-participant, ack before any decision, worked for
     * nothing, query-less garbage: all ignored */
    fx_agent (fx, "c", m_vote (gid, TPC_VOTE_NO, "meddling"));
    fx_agent (fx, "a", m_ack (gid, TPC_OUTCOME_COMMITTED));
    fx_agent (fx, "a", m_worked (gid, 1, false, "boom"));
    CU_ASSERT_EQUAL (fx_count_client (fx), 0);
    CU_ASSERT_EQUAL (coord_engine_live (fx->e), 1);
    fx_agent (fx, "a", m_vote (gid, TPC_VOTE_YES, NULL));
    fx_agent (fx, "a", m_vote (gid, TPC_VOTE_NO, "changed my mind"));
    fx_agent (fx, "b", m_vote (gid, TPC_VOTE_YES, NULL));
    CU_ASSERT_EQUAL (fx_count_log (fx, TPC_REC_COMMIT), 1);
    /* before durability: acks and repeated votes change nothing */
    fx_clear (fx);
    fx_agent (fx, "a", m_ack (gid, TPC_OUTCOME_COMMITTED));
    fx_agent (fx, "b", m_vote (gid, TPC_VOTE_NO, "late no"));
    CU_ASSERT_EQUAL (fx->n, 0);
    fx_durable (fx);
    CU_ASSERT_EQUAL (fx_count_agent (fx, NULL, TPC_MSG_DECIDE), 2);
    CU_ASSERT_EQUAL (fx_find_agent (fx, "a", TPC_MSG_DECIDE)->outcome,
                     TPC_OUTCOME_COMMITTED);
    /* rollback now is refused; status still committed */
    fx_clear (fx);
    fx_client (fx, C1, m_new (TPC_MSG_ROLLBACK, 2, gid));
    CU_ASSERT_EQUAL (fx_reply (fx, C1, 2)->code, TPC_ESTATE);
    CU_ASSERT_EQUAL (fx_status (fx, gid, NULL, 0), TPC_OUTCOME_COMMITTED);
    /* a repeated vote after the decision: the decision is resent */
    fx_agent (fx, "a", m_vote (gid, TPC_VOTE_YES, NULL));
    CU_ASSERT_EQUAL (fx_count_agent (fx, "a", TPC_MSG_DECIDE), 1);
    fx_agent (fx, "a", m_ack (gid, TPC_OUTCOME_COMMITTED));
    fx_agent (fx, "b", m_ack (gid, TPC_OUTCOME_COMMITTED));
    fx_agent (fx, "b", m_ack (gid, TPC_OUTCOME_COMMITTED));
    CU_ASSERT_EQUAL (fx_count_log (fx, TPC_REC_END), 1);
    CU_ASSERT_EQUAL (fx_count_log (fx, TPC_REC_COMMIT), 1);
    /* ack, vote for gids never seen */
    fx_clear (fx);
    fx_agent (fx, "a", m_ack ("tpc_c1_1_50", TPC_OUTCOME_COMMITTED));
    fx_agent (fx, "a", m_vote ("tpc_zz_1_50", TPC_VOTE_YES, NULL));
    CU_ASSERT_EQUAL (fx_count_agent (fx, NULL, TPC_MSG_DECIDE), 0);
    /* a yes for a gid of ours presumed aborted: tell it to roll back */
    fx_client (fx, C1, m_new (TPC_MSG_BEGIN, 3, NULL));
    char g2[TPC_GID_MAX];
    snprintf (g2, sizeof g2, "%s", fx_reply (fx, C1, 3)->gid);
    fx_client (fx, C1, m_new (TPC_MSG_ROLLBACK, 4, g2));
    fx_clear (fx);
    fx_agent (fx, "b", m_vote (g2, TPC_VOTE_YES, NULL));
    CU_ASSERT_EQUAL (fx_count_agent (fx, "b", TPC_MSG_DECIDE), 1);
    CU_ASSERT_EQUAL (fx_find_agent (fx, "b", TPC_MSG_DECIDE)->outcome,
                     TPC_OUTCOME_ABORTED);
    /* a yes for a committed, ended gid is not answered with an abort */
    fx_clear (fx);
    fx_agent (fx, "b", m_vote (gid, TPC_VOTE_YES, NULL));
    CU_ASSERT_EQUAL (fx_count_agent (fx, NULL, TPC_MSG_DECIDE), 0);
    /* invalid agent name, message types that are not agent messages */
    fx_agent (fx, "bad name", m_hello ("bad name"));
    fx_agent (fx, "a", m_new (TPC_MSG_BEGIN, 1, NULL));
    CU_ASSERT_EQUAL (fx->n, 0);
    fx_destroy (&fx);
}

static void
test_interactive (void)
{
    fx_t *fx = fx_new ();
    fx_hellos (fx, AB);
    fx_client (fx, C1, m_new (TPC_MSG_BEGIN, 1, NULL));
    char gid[TPC_GID_MAX];
    snprintf (gid, sizeof gid, "%s", fx_reply (fx, C1, 1)->gid);
    fx_clear (fx);
    fx_client (fx, C1, m_exec (2, gid, "a", "SELECT 42"));
    const tpc_msg_t *w = fx_find_agent (fx, "a", TPC_MSG_WORK);
    CU_ASSERT_PTR_NOT_NULL_FATAL (w);
    CU_ASSERT_EQUAL (w->then, TPC_THEN_NONE);
    CU_ASSERT_EQUAL (w->nstmts, 1);
    CU_ASSERT_STRING_EQUAL (w->stmts[0].sql, "SELECT 42");
    /* one exec at a time */
    fx_client (fx, C1, m_exec (3, gid, "b", "SELECT 1"));
    CU_ASSERT_EQUAL (fx_reply (fx, C1, 3)->code, TPC_EBUSY);
    fx_client (fx, C1, m_new (TPC_MSG_COMMIT, 4, gid));
    CU_ASSERT_EQUAL (fx_reply (fx, C1, 4)->code, TPC_ESTATE);
    fx_agent (fx, "a", m_worked (gid, 1, true, NULL));
    const tpc_msg_t *r = fx_reply (fx, C1, 2);
    CU_ASSERT_PTR_NOT_NULL_FATAL (r);
    CU_ASSERT_EQUAL (r->type, TPC_MSG_RESULT);
    CU_ASSERT_EQUAL (r->ncolumns, 1);
    CU_ASSERT_EQUAL (r->nrows, 1);
    CU_ASSERT_STRING_EQUAL (r->cells[0], "42");
    CU_ASSERT_EQUAL (r->affected, 1);
    /* exec on an unknown participant: error, transaction unharmed */
    fx_client (fx, C1, m_exec (5, gid, "zz", "SELECT 1"));
    CU_ASSERT_EQUAL (fx_reply (fx, C1, 5)->code, TPC_EUNKNOWN_PART);
    fx_client (fx, C1, m_exec (6, gid, "b", "UPDATE t SET x = 2"));
    fx_agent (fx, "b", m_worked (gid, 1, true, NULL));
    fx_client (fx, C1, m_exec (7, gid, "a", "UPDATE t SET x = 3"));
    CU_ASSERT_EQUAL (fx_find_agent (fx, "a", TPC_MSG_WORK)->seq, 1);
    fx_clear (fx);
    fx_agent (fx, "a", m_worked (gid, 1, true, NULL));   /* stale seq */
    CU_ASSERT_EQUAL (fx_count_client (fx), 0);
    tpc_msg_t *nores = m_new (TPC_MSG_WORKED, 0, gid);   /* no result set */
    nores->seq = 2;
    nores->ok = true;
    fx_agent (fx, "a", nores);
    r = fx_reply (fx, C1, 7);
    CU_ASSERT_PTR_NOT_NULL_FATAL (r);
    CU_ASSERT_EQUAL (r->type, TPC_MSG_RESULT);
    CU_ASSERT_EQUAL (r->ncolumns, 0);
    CU_ASSERT_EQUAL (r->affected, -1);
    /* list shows it with both participants */
    fx_clear (fx);
    fx->now += 250;
    fx_client (fx, C2, m_new (TPC_MSG_LIST, 8, NULL));
    r = fx_reply (fx, C2, 8);
    CU_ASSERT_PTR_NOT_NULL_FATAL (r);
    CU_ASSERT_EQUAL_FATAL (r->ntxns, 1);
    CU_ASSERT_STRING_EQUAL (r->txns[0].gid, gid);
    CU_ASSERT_STRING_EQUAL (r->txns[0].state, "active");
    CU_ASSERT_EQUAL (r->txns[0].age_ms, 250);
    CU_ASSERT_EQUAL_FATAL (r->txns[0].nparts, 2);
    CU_ASSERT_STRING_EQUAL (r->txns[0].parts[0], "a");
    CU_ASSERT_STRING_EQUAL (r->txns[0].parts[1], "b");
    /* commit: prepare to each, then the usual */
    fx_clear (fx);
    fx_client (fx, C1, m_new (TPC_MSG_COMMIT, 9, gid));
    CU_ASSERT_EQUAL (fx_count_agent (fx, "a", TPC_MSG_PREPARE), 1);
    CU_ASSERT_EQUAL (fx_count_agent (fx, "b", TPC_MSG_PREPARE), 1);
    fx_agent (fx, "a", m_vote (gid, TPC_VOTE_YES, NULL));
    fx_agent (fx, "b", m_vote (gid, TPC_VOTE_YES, NULL));
    fx_durable (fx);
    fx_agent (fx, "a", m_ack (gid, TPC_OUTCOME_COMMITTED));
    fx_agent (fx, "b", m_ack (gid, TPC_OUTCOME_COMMITTED));
    r = fx_reply (fx, C1, 9);
    CU_ASSERT_PTR_NOT_NULL_FATAL (r);
    CU_ASSERT_EQUAL (r->outcome, TPC_OUTCOME_COMMITTED);
    /* a retried commit after the end still says committed */
    fx_clear (fx);
    fx_client (fx, C2, m_new (TPC_MSG_COMMIT, 10, gid));
    CU_ASSERT_EQUAL (fx_reply (fx, C2, 10)->outcome, TPC_OUTCOME_COMMITTED);
    fx_destroy (&fx);
}

static void
test_worked_failure_dooms (void)
{
    fx_t *fx = fx_new ();
    fx_hellos (fx, AB);
    fx_client (fx, C1, m_new (TPC_MSG_BEGIN, 1, NULL));
    char gid[TPC_GID_MAX];
    snprintf (gid, sizeof gid, "%s", fx_reply (fx, C1, 1)->gid);
    fx_client (fx, C1, m_exec (2, gid, "a", "UPDATE t SET x = 1"));
    fx_agent (fx, "a", m_worked (gid, 1, true, NULL));
    fx_client (fx, C1, m_exec (3, gid, "b", "INSERT dup"));
    fx_clear (fx);
    fx_agent (fx, "b", m_worked (gid, 1, false,
                                 "duplicate key value violates ..."));
    const tpc_msg_t *r = fx_reply (fx, C1, 3);
    CU_ASSERT_PTR_NOT_NULL_FATAL (r);
    CU_ASSERT_EQUAL (r->type, TPC_MSG_ERROR);
    CU_ASSERT_EQUAL (r->code, TPC_EDB);
    CU_ASSERT_PTR_NOT_NULL (strstr (r->message, "duplicate key"));
    /* the others roll back now */
    CU_ASSERT_EQUAL (fx_count_agent (fx, "a", TPC_MSG_DECIDE), 1);
    /* more exec: aborted; commit: aborted with the reason */
    fx_client (fx, C1, m_exec (4, gid, "a", "SELECT 1"));
    CU_ASSERT_EQUAL (fx_reply (fx, C1, 4)->code, TPC_EABORTED);
    fx_agent (fx, "a", m_ack (gid, TPC_OUTCOME_ABORTED));
    fx_agent (fx, "b", m_ack (gid, TPC_OUTCOME_ABORTED));
    CU_ASSERT_EQUAL (coord_engine_live (fx->e), 1);  /* client not done */
    fx_client (fx, C1, m_new (TPC_MSG_COMMIT, 5, gid));
    r = fx_reply (fx, C1, 5);
    CU_ASSERT_PTR_NOT_NULL_FATAL (r);
    CU_ASSERT_EQUAL (r->type, TPC_MSG_OUTCOME);
    CU_ASSERT_EQUAL (r->outcome, TPC_OUTCOME_ABORTED);
    CU_ASSERT_PTR_NOT_NULL (strstr (r->reason, "duplicate key"));
    CU_ASSERT_EQUAL (coord_engine_live (fx->e), 0);
    CU_ASSERT_EQUAL (fx->nlog, 0);          /* nothing prepared: no record */
    fx_destroy (&fx);

    /* the client never comes back and an agent never acks: the client's
     * deadline passes, then the linger; no busy timer in between */
    coord_engine_config_t cfg = { .coord_id = "c1", .txn_timeout_ms = 1000,
                                  .abort_linger_ms = 10000,
                                  .heartbeat_ms = 100000 };
    fx = fx_new_started (&cfg);
    fx_hellos (fx, AB);
    fx_client (fx, C1, m_new (TPC_MSG_BEGIN, 1, NULL));
    snprintf (gid, sizeof gid, "%s", fx_reply (fx, C1, 1)->gid);
    fx_client (fx, C1, m_exec (2, gid, "a", "x"));
    fx_agent (fx, "a", m_worked (gid, 1, false, "boom"));
    for (int i = 0; i < 40; i++) {
        fx_advance (fx, 250);
        CU_ASSERT (coord_engine_next_wake (fx->e) > fx->now);
    }
    CU_ASSERT_EQUAL (coord_engine_live (fx->e), 0);
    CU_ASSERT_EQUAL (fx_status (fx, gid, NULL, 0), TPC_OUTCOME_ABORTED);
    fx_destroy (&fx);
}

static void
test_rollback (void)
{
    fx_t *fx = fx_new ();
    fx_hellos (fx, AB);
    /* during PREPARING: the pending commit and the rollback say aborted */
    fx_client (fx, C1, m_new (TPC_MSG_BEGIN, 1, NULL));
    char gid[TPC_GID_MAX];
    snprintf (gid, sizeof gid, "%s", fx_reply (fx, C1, 1)->gid);
    fx_client (fx, C1, m_exec (2, gid, "a", "x"));
    fx_agent (fx, "a", m_worked (gid, 1, true, NULL));
    fx_client (fx, C1, m_exec (3, gid, "b", "y"));
    fx_agent (fx, "b", m_worked (gid, 1, true, NULL));
    fx_client (fx, C1, m_new (TPC_MSG_COMMIT, 4, gid));
    fx_agent (fx, "a", m_vote (gid, TPC_VOTE_YES, NULL));
    fx_clear (fx);
    fx_client (fx, C2, m_new (TPC_MSG_ROLLBACK, 5, gid));
    CU_ASSERT_EQUAL (fx_reply (fx, C1, 4)->outcome, TPC_OUTCOME_ABORTED);
    CU_ASSERT_EQUAL (fx_reply (fx, C2, 5)->outcome, TPC_OUTCOME_ABORTED);
    CU_ASSERT_EQUAL (fx_count_agent (fx, NULL, TPC_MSG_DECIDE), 2);
    fx_agent (fx, "b", m_vote (gid, TPC_VOTE_YES, NULL));
    CU_ASSERT_EQUAL (fx_count_log (fx, TPC_REC_COMMIT), 0);
    /* an empty transaction commits with nothing to do */
    fx_clear (fx);
    fx_client (fx, C1, m_new (TPC_MSG_BEGIN, 6, NULL));
    snprintf (gid, sizeof gid, "%s", fx_reply (fx, C1, 6)->gid);
    fx_client (fx, C1, m_new (TPC_MSG_COMMIT, 7, gid));
    CU_ASSERT_EQUAL (fx_reply (fx, C1, 7)->outcome, TPC_OUTCOME_COMMITTED);
    /* rollback of an active transaction */
    fx_client (fx, C1, m_new (TPC_MSG_BEGIN, 8, NULL));
    snprintf (gid, sizeof gid, "%s", fx_reply (fx, C1, 8)->gid);
    fx_client (fx, C1, m_exec (9, gid, "a", "x"));
    fx_clear (fx);
    fx_client (fx, C1, m_new (TPC_MSG_ROLLBACK, 10, gid));
    CU_ASSERT_EQUAL (fx_reply (fx, C1, 10)->outcome, TPC_OUTCOME_ABORTED);
    CU_ASSERT_EQUAL (fx_reply (fx, C1, 9)->code, TPC_EABORTED);
    CU_ASSERT_EQUAL (fx_count_agent (fx, "a", TPC_MSG_DECIDE), 1);
    fx_destroy (&fx);
}

static void
test_send_failed (void)
{
    fx_t *fx = fx_new ();
    fx_hellos (fx, AB);
    /* work(then=prepare) could not be sent: abort at once */
    char gid[TPC_GID_MAX];
    snprintf (gid, sizeof gid, "%s", fx_submit (fx, 1, AB));
    tpc_msg_t *w = m_new (TPC_MSG_WORK, 0, gid);
    w->then = TPC_THEN_PREPARE;
    w->seq = 1;
    CU_ASSERT_EQUAL (coord_engine_send_failed (fx->e, "b", w, fx->now), 0);
    tpc_msg_destroy (&w);
    fx_drain (fx);
    const tpc_msg_t *r = fx_reply (fx, C1, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL (r);
    CU_ASSERT_EQUAL (r->outcome, TPC_OUTCOME_ABORTED);
    CU_ASSERT_PTR_NOT_NULL (strstr (r->reason, "unreachable"));
    /* b is now gone: submits and execs naming it are refused */
    fx_clear (fx);
    fx_client (fx, C1, m_submit (2, "a", "x", "b", "y", NULL));
    CU_ASSERT_EQUAL (fx_reply (fx, C1, 2)->code, TPC_EUNKNOWN_PART);
    CU_ASSERT_EQUAL (fx_count_agent (fx, NULL, TPC_MSG_WORK), 0);
    /* the first exec on a participant whose send fails: error, and the
     * transaction goes on without it */
    fx_agent (fx, "b", m_hello ("b"));
    fx_client (fx, C1, m_new (TPC_MSG_BEGIN, 3, NULL));
    snprintf (gid, sizeof gid, "%s", fx_reply (fx, C1, 3)->gid);
    fx_client (fx, C1, m_exec (4, gid, "b", "x"));
    w = m_new (TPC_MSG_WORK, 0, gid);
    w->seq = 1;
    CU_ASSERT_EQUAL (coord_engine_send_failed (fx->e, "b", w, fx->now), 0);
    tpc_msg_destroy (&w);
    fx_drain (fx);
    CU_ASSERT_EQUAL (fx_reply (fx, C1, 4)->code, TPC_EUNKNOWN_PART);
    fx_client (fx, C1, m_exec (5, gid, "a", "y"));
    fx_agent (fx, "a", m_worked (gid, 1, true, NULL));
    fx_clear (fx);
    fx_client (fx, C1, m_new (TPC_MSG_COMMIT, 6, gid));
    /* only a is left: one phase */
    const tpc_msg_t *c = fx_find_agent (fx, "a", TPC_MSG_WORK);
    CU_ASSERT_PTR_NOT_NULL_FATAL (c);
    CU_ASSERT_EQUAL (c->then, TPC_THEN_COMMIT);
    fx_destroy (&fx);
}

static void
test_bad_requests (void)
{
    coord_engine_config_t cfg = { .coord_id = "c1", .max_txns = 2 };
    fx_t *fx = fx_new_cfg (&cfg);
    /* before start: busy */
    fx_client (fx, C1, m_new (TPC_MSG_BEGIN, 1, NULL));
    CU_ASSERT_EQUAL (fx_reply (fx, C1, 1)->code, TPC_EBUSY);
    CU_ASSERT_EQUAL (coord_engine_start (fx->e, 1, fx->now), 0);
    fx_hellos (fx, AB);
    fx_clear (fx);
    fx_client (fx, C1, m_new (TPC_MSG_VOTE, 2, "tpc_c1_1_1"));
    CU_ASSERT_EQUAL (fx_reply (fx, C1, 2)->code, TPC_EPROTO);
    fx_client (fx, C1, m_new (TPC_MSG_COMMIT, 3, "tpc_c1_1_1"));
    CU_ASSERT_EQUAL (fx_reply (fx, C1, 3)->code, TPC_EUNKNOWN_GID);
    fx_client (fx, C1, m_exec (4, "tpc_c1_1_1", "a", "x"));
    CU_ASSERT_EQUAL (fx_reply (fx, C1, 4)->code, TPC_EUNKNOWN_GID);
    tpc_msg_t *b = m_new (TPC_MSG_BEGIN, 5, NULL);
    b->protocol = TPC_PROTO_3PC;
    b->has_protocol = true;
    fx_client (fx, C1, b);          /* 3pc is served now */
    CU_ASSERT_EQUAL (fx_reply (fx, C1, 5)->type, TPC_MSG_BEGUN);
    fx_client (fx, C1, m_new (TPC_MSG_ROLLBACK, 55,
                              fx_reply (fx, C1, 5)->gid));
    fx_client (fx, C1, m_new (TPC_MSG_SUBMIT, 6, NULL));
    CU_ASSERT_EQUAL (fx_reply (fx, C1, 6)->code, TPC_EINVAL);
    fx_client (fx, C1, m_submit (7, "a", "x", "nosuch", "y", NULL));
    CU_ASSERT_EQUAL (fx_reply (fx, C1, 7)->code, TPC_EUNKNOWN_PART);
    CU_ASSERT_EQUAL (coord_engine_live (fx->e), 0);
    /* the limit on live transactions */
    fx_client (fx, C1, m_new (TPC_MSG_BEGIN, 8, NULL));
    fx_client (fx, C1, m_new (TPC_MSG_BEGIN, 9, NULL));
    fx_client (fx, C1, m_new (TPC_MSG_BEGIN, 10, NULL));
    CU_ASSERT_EQUAL (fx_reply (fx, C1, 9)->type, TPC_MSG_BEGUN);
    CU_ASSERT_EQUAL (fx_reply (fx, C1, 10)->code, TPC_EBUSY);
    /* replies always carry the right rid and go to the asking client */
    fx_client (fx, C2, m_new (TPC_MSG_STATUS, 11, "tpc_c1_1_1"));
    CU_ASSERT_PTR_NULL (fx_reply (fx, C1, 11));
    CU_ASSERT_PTR_NOT_NULL (fx_reply (fx, C2, 11));
    /* invalid config */
    coord_engine_config_t bad = { .coord_id = "bad_id" };
    CU_ASSERT_PTR_NULL (coord_engine_new (&bad));
    fx_destroy (&fx);
}

static void
test_many_concurrent (void)
{
    enum { N = 10000 };
    coord_engine_config_t cfg = { .coord_id = "c1",
                                  .reply_on = COORD_REPLY_ON_APPLIED };
    fx_t *fx = fx_new_started (&cfg);
    fx_hellos (fx, AB);
    fx->keep = false;
    for (uint64_t i = 1; i <= N; i++) {
        tpc_msg_t *m = m_submit (i, "a", "UPDATE t SET x = x + 1",
                                 "b", "UPDATE t SET x = x - 1", NULL);
        CU_ASSERT_EQUAL (coord_engine_client (fx->e, C1, 3, m, fx->now), 0);
        tpc_msg_destroy (&m);
    }
    fx_drain (fx);
    CU_ASSERT_EQUAL (fx->ndropped, 2 * N);          /* 2 works each */
    CU_ASSERT_EQUAL (coord_engine_live (fx->e), N);
    char gid[TPC_GID_MAX];
    for (uint64_t i = 1; i <= N; i++) {
        snprintf (gid, sizeof gid, "tpc_c1_1_%" PRIu64, i);
        fx_agent (fx, "b", m_vote (gid, TPC_VOTE_YES, NULL));
        fx_agent (fx, "a", m_vote (gid, TPC_VOTE_YES, NULL));
    }
    CU_ASSERT_EQUAL (fx_count_log (fx, TPC_REC_COMMIT), N);
    CU_ASSERT_EQUAL (coord_engine_unfinished (fx->e), N);
    CU_ASSERT_EQUAL (fx->ticket, N);
    fx->ndropped = 0;
    fx_durable (fx);                        /* one sync for all: group */
    CU_ASSERT_EQUAL (fx->ndropped, 2 * N);  /* 2 decides each */
    fx->ndropped = 0;
    for (uint64_t i = N; i >= 1; i--) {
        snprintf (gid, sizeof gid, "tpc_c1_1_%" PRIu64, i);
        fx_agent (fx, "a", m_ack (gid, TPC_OUTCOME_COMMITTED));
        fx_agent (fx, "b", m_ack (gid, TPC_OUTCOME_COMMITTED));
    }
    CU_ASSERT_EQUAL (fx_count_log (fx, TPC_REC_END), N);
    CU_ASSERT_EQUAL (fx->ndropped, 2 * N);  /* outcome + ENDED each */
    CU_ASSERT_EQUAL (coord_engine_live (fx->e), 0);
    CU_ASSERT_EQUAL (coord_engine_unfinished (fx->e), 0);
    CU_ASSERT_EQUAL (coord_engine_next_wake (fx->e) > fx->now, true);
    fx_destroy (&fx);
}

static void
test_many_timeouts (void)
{
    /* thousands of timers in the heap fire in deadline order */
    enum { N = 3000 };
    coord_engine_config_t cfg = { .coord_id = "c1", .heartbeat_ms = 1000000 };
    fx_t *fx = fx_new_started (&cfg);
    fx_hellos (fx, AB);
    for (uint64_t i = 1; i <= N; i++) {
        tpc_msg_t *b = m_new (TPC_MSG_BEGIN, i, NULL);
        b->timeout_ms = 1000 + (i * 7919) % 5000;   /* shuffled */
        CU_ASSERT_EQUAL (coord_engine_client (fx->e, C1, 3, b, fx->now), 0);
        tpc_msg_destroy (&b);
    }
    fx_drain (fx);
    fx_clear (fx);
    size_t left = N;
    for (uint64_t t = 0; t < 6000; t += 250) {
        fx_advance (fx, 250);
        fx_clear (fx);
        size_t expect = 0;
        for (uint64_t i = 1; i <= N; i++)
            expect += 1000 + (i * 7919) % 5000 > t + 250;
        CU_ASSERT_EQUAL (coord_engine_live (fx->e), expect);
        left = expect;
    }
    CU_ASSERT_EQUAL (left, 0);
    fx_destroy (&fx);
}

/* ---------------------------------------------------------------------
 *  Three-phase commit
 */

static tpc_msg_t *
m_hello_peer (const char *name, const char *peer)
{
    tpc_msg_t *m = m_hello (name);
    if (peer)
        tpc_msg_set_str (&m->peer, peer);
    return m;
}

static tpc_msg_t *
m_state (const char *gid, tpc_p3_t p3)
{
    tpc_msg_t *m = m_new (TPC_MSG_STATE, 0, gid);
    m->p3 = p3;
    return m;
}

/*  Agents a and b (with peer endpoints) and c (none) say hello.          */
static void
fx_hellos3 (fx_t *fx)
{
    fx_agent (fx, "a", m_hello_peer ("a", "tcp://10.0.0.1:7500"));
    fx_agent (fx, "b", m_hello_peer ("b", "tcp://10.0.0.2:7500"));
    fx_agent (fx, "c", m_hello_peer ("c", "tcp://10.0.0.3:7500"));
    fx_clear (fx);
}

/*  Submit one statement per agent in NAMES with protocol PROTO (< 0: not
 *  given); returns the gid (static).                                     */
static const char *
fx_submit_proto (fx_t *fx, uint64_t rid, const char *const *names,
                 int proto)
{
    static char gid[TPC_GID_MAX];
    tpc_msg_t *m = m_new (TPC_MSG_SUBMIT, rid, NULL);
    for (const char *const *n = names; *n; n++)
        tpc_msg_add_stmt (m, *n, "UPDATE t SET x = x + 1", 0, NULL);
    if (proto >= 0) {
        m->protocol = (tpc_proto_t) proto;
        m->has_protocol = true;
    }
    fx_clear (fx);
    fx_client (fx, C1, m);
    const tpc_msg_t *w = fx_find_agent (fx, names[0], TPC_MSG_WORK);
    CU_ASSERT_PTR_NOT_NULL_FATAL (w);
    snprintf (gid, sizeof gid, "%s", w->gid);
    return gid;
}

/*  Votes yes from every name in NAMES, then PRECOMMIT made durable.      */
static void
fx_precommit (fx_t *fx, const char *gid, const char *const *names)
{
    for (const char *const *n = names; *n; n++)
        fx_agent (fx, *n, m_vote (gid, TPC_VOTE_YES, NULL));
    CU_ASSERT_PTR_NOT_NULL_FATAL (fx_find_log (fx, TPC_REC_PRECOMMIT, gid));
    fx_clear (fx);
    fx_durable (fx);
}

static void
test_p3_commit (void)
{
    fx_t *fx = fx_new ();
    fx_hellos3 (fx);
    /* statements on b first: parts still go sorted, peers alongside */
    tpc_msg_t *m = m_submit (7, "b", "UPDATE y SET v = 2",
                             "a", "UPDATE x SET v = 1", NULL);
    m->protocol = TPC_PROTO_3PC;
    m->has_protocol = true;
    fx_client (fx, C1, m);
    CU_ASSERT_EQUAL (fx_count_agent (fx, NULL, TPC_MSG_WORK), 2);
    const char *gid = "tpc_c1_1_1";
    const char *const who[] = { "a", "b" };
    for (int k = 0; k < 2; k++) {
        const tpc_msg_t *w = fx_find_agent (fx, who[k], TPC_MSG_WORK);
        CU_ASSERT_PTR_NOT_NULL_FATAL (w);
        CU_ASSERT_STRING_EQUAL (w->gid, gid);
        CU_ASSERT_EQUAL (w->then, TPC_THEN_PREPARE);
        CU_ASSERT (w->has_protocol);
        CU_ASSERT_EQUAL (w->protocol, TPC_PROTO_3PC);
        CU_ASSERT_EQUAL (w->nstmts, 1);
        CU_ASSERT_EQUAL_FATAL (w->nparts, 2);
        CU_ASSERT_EQUAL_FATAL (w->npeers, 2);
        CU_ASSERT_STRING_EQUAL (w->parts[0], "a");
        CU_ASSERT_STRING_EQUAL (w->parts[1], "b");
        CU_ASSERT_STRING_EQUAL (w->peers[0], "tcp://10.0.0.1:7500");
        CU_ASSERT_STRING_EQUAL (w->peers[1], "tcp://10.0.0.2:7500");
    }
    char state[32];
    fx_agent (fx, "a", m_vote (gid, TPC_VOTE_YES, NULL));
    CU_ASSERT_EQUAL (fx->nlog, 0);
    fx_clear (fx);
    fx_agent (fx, "b", m_vote (gid, TPC_VOTE_YES, NULL));
    /* PRECOMMIT forced, and no precommit (nor anything) before durable */
    CU_ASSERT_EQUAL_FATAL (fx->nlog, 1);
    CU_ASSERT_EQUAL (fx->log[0].type, TPC_REC_PRECOMMIT);
    CU_ASSERT_STRING_EQUAL (fx->log[0].gid, gid);
    CU_ASSERT_STRING_EQUAL (fx->log[0].parts, "b,a");   /* yes voters */
    CU_ASSERT (fx->log[0].forced);
    CU_ASSERT_EQUAL (fx->n, 0);
    fx_advance (fx, 3000);
    CU_ASSERT_EQUAL (fx_count_agent (fx, NULL, TPC_MSG_PRECOMMIT), 0);
    CU_ASSERT_EQUAL (fx_status (fx, gid, state, sizeof state),
                     TPC_OUTCOME_IN_PROGRESS);
    CU_ASSERT_STRING_EQUAL (state, "precommitting");
    CU_ASSERT_EQUAL (fx_query (fx, "a", gid), TPC_OUTCOME_IN_PROGRESS);
    CU_ASSERT_EQUAL (coord_engine_unfinished (fx->e), 1);
    /* durable: precommit to each yes voter */
    fx_durable (fx);
    CU_ASSERT_EQUAL (fx_count_agent (fx, "a", TPC_MSG_PRECOMMIT), 1);
    CU_ASSERT_EQUAL (fx_count_agent (fx, "b", TPC_MSG_PRECOMMIT), 1);
    CU_ASSERT_EQUAL (fx_count_agent (fx, "c", TPC_MSG_PRECOMMIT), 0);
    CU_ASSERT_STRING_EQUAL (fx_find_agent (fx, "a", TPC_MSG_PRECOMMIT)->gid,
                            gid);
    CU_ASSERT_EQUAL (fx_count_client (fx), 0);
    fx_clear (fx);
    /* a pre-committed, b still uncertain: no decision */
    fx_agent (fx, "a", m_state (gid, TPC_P3_PRECOMMITTED));
    fx_agent (fx, "b", m_state (gid, TPC_P3_UNCERTAIN));
    fx_agent (fx, "a", m_state (gid, TPC_P3_PRECOMMITTED));    /* again */
    CU_ASSERT_EQUAL (fx->nlog, 1);
    CU_ASSERT_EQUAL (fx->n, 0);
    CU_ASSERT_EQUAL (fx_query (fx, "b", gid), TPC_OUTCOME_IN_PROGRESS);
    /* the resend goes to b only */
    fx_advance (fx, 100);
    CU_ASSERT_EQUAL (fx_count_agent (fx, "b", TPC_MSG_PRECOMMIT), 1);
    CU_ASSERT_EQUAL (fx_count_agent (fx, "a", TPC_MSG_PRECOMMIT), 0);
    fx_clear (fx);
    /* b pre-committed: COMMIT forced, decide held until durable */
    fx_agent (fx, "b", m_state (gid, TPC_P3_PRECOMMITTED));
    CU_ASSERT_EQUAL_FATAL (fx->nlog, 2);
    CU_ASSERT_EQUAL (fx->log[1].type, TPC_REC_COMMIT);
    CU_ASSERT_STRING_EQUAL (fx->log[1].parts, "b,a");
    CU_ASSERT (fx->log[1].forced);
    CU_ASSERT (fx->log[1].ticket > fx->log[0].ticket);
    CU_ASSERT_EQUAL (fx_count_agent (fx, NULL, TPC_MSG_DECIDE), 0);
    CU_ASSERT_EQUAL (fx_query (fx, "a", gid), TPC_OUTCOME_IN_PROGRESS);
    CU_ASSERT_EQUAL (fx_status (fx, gid, state, sizeof state),
                     TPC_OUTCOME_IN_PROGRESS);
    CU_ASSERT_STRING_EQUAL (state, "committing");
    fx_durable (fx);
    CU_ASSERT_EQUAL (fx_count_agent (fx, NULL, TPC_MSG_DECIDE), 2);
    CU_ASSERT_EQUAL (fx_find_agent (fx, "a", TPC_MSG_DECIDE)->outcome,
                     TPC_OUTCOME_COMMITTED);
    CU_ASSERT_EQUAL (fx_count_client (fx), 0);      /* reply_on applied */
    fx_agent (fx, "a", m_ack (gid, TPC_OUTCOME_COMMITTED));
    fx_agent (fx, "b", m_ack (gid, TPC_OUTCOME_COMMITTED));
    CU_ASSERT_EQUAL_FATAL (fx->nlog, 3);
    CU_ASSERT_EQUAL (fx->log[2].type, TPC_REC_END);
    const tpc_msg_t *r = fx_reply (fx, C1, 7);
    CU_ASSERT_PTR_NOT_NULL_FATAL (r);
    CU_ASSERT_EQUAL (r->outcome, TPC_OUTCOME_COMMITTED);
    CU_ASSERT_EQUAL (fx_count_ended (fx, TPC_OUTCOME_COMMITTED), 1);
    for (size_t i = 0; i < fx->n; i++)
        if (fx->a[i].type == COORD_ACT_ENDED) {
            /* metrics: votes in at +0, every pre-commit in 3100 ms later
             * (the 3 s before durable, the 100 ms resend) */
            CU_ASSERT_EQUAL (fx->a[i].precommit_ms, 3100);
            CU_ASSERT_EQUAL (fx->a[i].decide_ms, 0);
            CU_ASSERT_EQUAL (fx->a[i].commit_ms, 0);
        }
    CU_ASSERT_EQUAL (coord_engine_live (fx->e), 0);
    CU_ASSERT_EQUAL (coord_engine_unfinished (fx->e), 0);
    CU_ASSERT_EQUAL (fx_count_log (fx, TPC_REC_ABORT), 0);
    fx_destroy (&fx);
}

/*  Found by the simulation (seed 2427): a CanCommit naming an agent with
 *  no known peer endpoint leaves the agents unable to terminate without
 *  the coordinator.  Such a 3PC transaction aborts at once, saying why;
 *  nothing is sent as a CanCommit.                                       */
static void
test_p3_missing_peer (void)
{
    fx_t *fx = fx_new ();
    fx_agent (fx, "a", m_hello_peer ("a", "tcp://10.0.0.1:7500"));
    fx_agent (fx, "b", m_hello ("b"));
    fx_clear (fx);
    const char *const ab[] = { "a", "b", NULL };
    tpc_msg_t *m = m_new (TPC_MSG_SUBMIT, 1, NULL);
    for (size_t i = 0; i < 2; i++)
        tpc_msg_add_stmt (m, ab[i], "UPDATE t SET x = x + 1", 0, NULL);
    m->protocol = TPC_PROTO_3PC;
    m->has_protocol = true;
    fx_client (fx, C1, m);
    const tpc_msg_t *r = fx_reply (fx, C1, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL (r);
    CU_ASSERT_EQUAL (r->outcome, TPC_OUTCOME_ABORTED);
    CU_ASSERT (r->reason && strstr (r->reason, "'b' announced none"));
    CU_ASSERT_EQUAL (fx_count_agent (fx, NULL, TPC_MSG_WORK), 0);
    CU_ASSERT_EQUAL (fx_count_log (fx, TPC_REC_PRECOMMIT), 0);
    /* once b says where its peers reach it, 3PC goes ahead */
    fx_agent (fx, "b", m_hello_peer ("b", "tcp://10.0.0.2:7500"));
    fx_clear (fx);
    fx_submit_proto (fx, 2, ab, TPC_PROTO_3PC);
    CU_ASSERT_EQUAL (fx_count_agent (fx, NULL, TPC_MSG_WORK), 2);
    /* 2PC never needs peer endpoints */
    fx_agent (fx, "b", m_hello ("b"));
    fx_clear (fx);
    fx_submit_proto (fx, 3, ab, TPC_PROTO_2PC);
    CU_ASSERT_EQUAL (fx_count_agent (fx, NULL, TPC_MSG_WORK), 2);
    fx_destroy (&fx);
}

static void
test_p3_vote_no (void)
{
    fx_t *fx = fx_new ();
    fx_hellos3 (fx);
    const char *gid = fx_submit_proto (fx, 1, ABC, TPC_PROTO_3PC);
    const tpc_msg_t *w = fx_find_agent (fx, "c", TPC_MSG_WORK);
    CU_ASSERT_EQUAL_FATAL (w->npeers, 3);
    CU_ASSERT_STRING_EQUAL (w->peers[2], "tcp://10.0.0.3:7500");
    fx_agent (fx, "a", m_vote (gid, TPC_VOTE_YES, NULL));
    fx_agent (fx, "b", m_vote (gid, TPC_VOTE_NO, "constraint"));
    CU_ASSERT_EQUAL (fx_count_log (fx, TPC_REC_PRECOMMIT), 0);
    CU_ASSERT_EQUAL (fx_count_log (fx, TPC_REC_COMMIT), 0);
    CU_ASSERT_PTR_NOT_NULL (fx_find_log (fx, TPC_REC_ABORT, gid));
    CU_ASSERT (!fx_find_log (fx, TPC_REC_ABORT, gid)->forced);  /* lazy */
    CU_ASSERT_EQUAL (fx_count_agent (fx, NULL, TPC_MSG_PRECOMMIT), 0);
    CU_ASSERT_EQUAL (fx_find_agent (fx, "a", TPC_MSG_DECIDE)->outcome,
                     TPC_OUTCOME_ABORTED);
    CU_ASSERT_EQUAL (fx_count_agent (fx, "b", TPC_MSG_DECIDE), 0);
    CU_ASSERT_EQUAL (fx_reply (fx, C1, 1)->outcome, TPC_OUTCOME_ABORTED);
    /* a late yes from c changes nothing */
    fx_agent (fx, "c", m_vote (gid, TPC_VOTE_YES, NULL));
    CU_ASSERT_EQUAL (fx_count_log (fx, TPC_REC_PRECOMMIT), 0);
    fx_destroy (&fx);
}

/*  PRECOMMITTING, one reports aborted (a termination leader decided):
 *  everybody gets decide aborted, never a COMMIT.                        */
static void
test_p3_state_aborted (void)
{
    fx_t *fx = fx_new ();
    fx_hellos3 (fx);
    const char *gid = fx_submit_proto (fx, 1, ABC, TPC_PROTO_3PC);
    fx_precommit (fx, gid, ABC);
    CU_ASSERT_EQUAL (fx_count_agent (fx, NULL, TPC_MSG_PRECOMMIT), 3);
    fx_clear (fx);
    fx_agent (fx, "a", m_state (gid, TPC_P3_PRECOMMITTED));
    fx_agent (fx, "b", m_state (gid, TPC_P3_PRECOMMITTED));
    fx_agent (fx, "c", m_state (gid, TPC_P3_ABORTED));
    CU_ASSERT_EQUAL (fx_count_log (fx, TPC_REC_COMMIT), 0);
    const fx_rec_t *ab = fx_find_log (fx, TPC_REC_ABORT, gid);
    CU_ASSERT_PTR_NOT_NULL_FATAL (ab);
    CU_ASSERT_STRING_EQUAL (ab->parts, "a,b,c");
    /* forced: lost in a crash, the replayed PRECOMMIT would ask agents
     * that may have forgotten the gid by then */
    CU_ASSERT (ab->forced);
    for (int k = 0; k < 3; k++) {
        const tpc_msg_t *d = fx_find_agent (fx, ABC[k], TPC_MSG_DECIDE);
        CU_ASSERT_PTR_NOT_NULL_FATAL (d);
        CU_ASSERT_EQUAL (d->outcome, TPC_OUTCOME_ABORTED);
    }
    const tpc_msg_t *r = fx_reply (fx, C1, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL (r);
    CU_ASSERT_EQUAL (r->outcome, TPC_OUTCOME_ABORTED);
    CU_ASSERT_EQUAL (fx_query (fx, "a", gid), TPC_OUTCOME_ABORTED);
    /* the decision stands: a late committed changes nothing */
    fx_agent (fx, "a", m_state (gid, TPC_P3_COMMITTED));
    CU_ASSERT_EQUAL (fx_count_log (fx, TPC_REC_COMMIT), 0);
    for (int k = 0; k < 3; k++)
        fx_agent (fx, ABC[k], m_ack (gid, TPC_OUTCOME_ABORTED));
    CU_ASSERT_EQUAL (coord_engine_live (fx->e), 0);
    CU_ASSERT_EQUAL (coord_engine_unfinished (fx->e), 0);
    CU_ASSERT_EQUAL (fx_count_ended (fx, TPC_OUTCOME_ABORTED), 1);
    fx_destroy (&fx);
}

/*  PRECOMMITTING, one reports committed (a termination leader decided):
 *  commit at once, whatever the others said so far.                     */
static void
test_p3_state_committed (void)
{
    fx_t *fx = fx_new ();
    fx_hellos3 (fx);
    const char *gid = fx_submit_proto (fx, 1, ABC, TPC_PROTO_3PC);
    fx_precommit (fx, gid, ABC);
    fx_clear (fx);
    fx_agent (fx, "a", m_state (gid, TPC_P3_UNCERTAIN));
    fx_agent (fx, "b", m_state (gid, TPC_P3_COMMITTED));
    const fx_rec_t *c = fx_find_log (fx, TPC_REC_COMMIT, gid);
    CU_ASSERT_PTR_NOT_NULL_FATAL (c);
    CU_ASSERT (c->forced);
    CU_ASSERT_STRING_EQUAL (c->parts, "a,b,c");
    CU_ASSERT_EQUAL (fx_count_agent (fx, NULL, TPC_MSG_DECIDE), 0);
    fx_durable (fx);
    CU_ASSERT_EQUAL (fx_count_agent (fx, NULL, TPC_MSG_DECIDE), 3);
    CU_ASSERT_EQUAL (fx_find_agent (fx, "a", TPC_MSG_DECIDE)->outcome,
                     TPC_OUTCOME_COMMITTED);
    CU_ASSERT_EQUAL (fx_count_log (fx, TPC_REC_ABORT), 0);
    /* a stale state of the old phase is ignored */
    fx_clear (fx);
    fx_agent (fx, "c", m_state (gid, TPC_P3_PRECOMMITTED));
    CU_ASSERT_EQUAL (fx->n, 0);
    for (int k = 0; k < 3; k++)
        fx_agent (fx, ABC[k], m_ack (gid, TPC_OUTCOME_COMMITTED));
    CU_ASSERT_PTR_NOT_NULL (fx_find_log (fx, TPC_REC_END, gid));
    CU_ASSERT_EQUAL (fx_reply (fx, C1, 1)->outcome, TPC_OUTCOME_COMMITTED);
    CU_ASSERT_EQUAL (coord_engine_unfinished (fx->e), 0);
    fx_destroy (&fx);
}

/*  PRECOMMITTING and silence (or only uncertain/unknown): precommit is
 *  resent with the decide backoff, forever; no timeout decides.         */
static void
test_p3_silence (void)
{
    coord_engine_config_t cfg = { .coord_id = "c1", .txn_timeout_ms = 2000,
                                  .vote_timeout_ms = 1000,
                                  .abort_linger_ms = 1000 };
    fx_t *fx = fx_new_started (&cfg);
    fx_hellos3 (fx);
    const char *gid = fx_submit_proto (fx, 1, AB, TPC_PROTO_3PC);
    fx_precommit (fx, gid, AB);
    fx_clear (fx);
    /* 100, 200, 400, ... 5000 ms: resent to both */
    size_t sent = 0;
    for (int i = 0; i < 120; i++) {
        fx->now += 500;
        CU_ASSERT_EQUAL (coord_engine_tick (fx->e, fx->now), 0);
        fx_drain (fx);
        /* keep the agents alive */
        fx_agent (fx, "a", m_hello_peer ("a", "tcp://10.0.0.1:7500"));
        fx_agent (fx, "b", m_hello_peer ("b", "tcp://10.0.0.2:7500"));
        if (i == 3)
            fx_agent (fx, "a", m_state (gid, TPC_P3_UNKNOWN));
        if (i == 4)
            fx_agent (fx, "b", m_state (gid, TPC_P3_UNCERTAIN));
    }
    sent = fx_count_agent (fx, "a", TPC_MSG_PRECOMMIT);
    CU_ASSERT (sent >= 10 && sent <= 20);
    CU_ASSERT_EQUAL (fx_count_agent (fx, "b", TPC_MSG_PRECOMMIT), sent);
    CU_ASSERT_EQUAL (fx_count_log (fx, TPC_REC_COMMIT), 0);
    CU_ASSERT_EQUAL (fx_count_log (fx, TPC_REC_ABORT), 0);
    CU_ASSERT_EQUAL (fx_count_agent (fx, NULL, TPC_MSG_DECIDE), 0);
    CU_ASSERT_EQUAL (fx_count_client (fx), 0);
    CU_ASSERT_EQUAL (coord_engine_live (fx->e), 1);
    /* the client may not roll it back; an operator may not resolve it */
    fx_clear (fx);
    fx_client (fx, C2, m_new (TPC_MSG_ROLLBACK, 2, gid));
    CU_ASSERT_EQUAL (fx_reply (fx, C2, 2)->code, TPC_ESTATE);
    tpc_msg_t *res = m_new (TPC_MSG_RESOLVE, 3, gid);
    res->outcome = TPC_OUTCOME_ABORTED;
    fx_client (fx, C2, res);
    CU_ASSERT_EQUAL (fx_reply (fx, C2, 3)->code, TPC_ESTATE);
    /* b goes away: nothing sent to it; its hello brings precommit again */
    CU_ASSERT_EQUAL (coord_engine_agent_gone (fx->e, "b", fx->now), 0);
    fx_clear (fx);
    for (int i = 0; i < 12; i++) {
        fx_advance (fx, 500);
        fx_agent (fx, "a", m_hello_peer ("a", "tcp://10.0.0.1:7500"));
    }
    CU_ASSERT_EQUAL (fx_count_agent (fx, "b", TPC_MSG_PRECOMMIT), 0);
    CU_ASSERT (fx_count_agent (fx, "a", TPC_MSG_PRECOMMIT) >= 1);
    fx_clear (fx);
    fx_agent (fx, "b", m_hello_peer ("b", "tcp://10.0.0.2:7500"));
    CU_ASSERT_EQUAL (fx_count_agent (fx, "b", TPC_MSG_PRECOMMIT), 1);
    /* a repeated yes vote is reminded of the precommit */
    fx_clear (fx);
    fx_agent (fx, "a", m_vote (gid, TPC_VOTE_YES, NULL));
    CU_ASSERT_EQUAL (fx_count_agent (fx, "a", TPC_MSG_PRECOMMIT), 1);
    /* a send failure of a precommit aborts nothing */
    const tpc_msg_t *pc = fx_find_agent (fx, "a", TPC_MSG_PRECOMMIT);
    CU_ASSERT_EQUAL (coord_engine_send_failed (fx->e, "a", pc, fx->now), 0);
    fx_drain (fx);
    CU_ASSERT_EQUAL (fx_count_log (fx, TPC_REC_ABORT), 0);
    CU_ASSERT_EQUAL (coord_engine_live (fx->e), 1);
    fx_agent (fx, "a", m_hello_peer ("a", "tcp://10.0.0.1:7500"));
    fx_agent (fx, "a", m_state (gid, TPC_P3_PRECOMMITTED));
    fx_agent (fx, "b", m_state (gid, TPC_P3_PRECOMMITTED));
    CU_ASSERT_PTR_NOT_NULL (fx_find_log (fx, TPC_REC_COMMIT, gid));
    fx_destroy (&fx);
}

static tpc_record_t *
rec_parts (tpc_rec_type_t type, const char *gid, const char *p1,
           const char *p2)
{
    tpc_record_t *r = rec_commit (gid, p1, p2);
    r->type = type;
    return r;
}

static void
test_p3_replay (void)
{
    coord_engine_config_t cfg = { .coord_id = "c1" };
    fx_t *fx = fx_new_cfg (&cfg);
    coord_engine_t *e = fx->e;
    tpc_record_t ep = { .type = TPC_REC_EPOCH, .epoch = 1 };
    CU_ASSERT_EQUAL (coord_engine_replay (e, &ep), 0);
    /* 1: pre-committed, undecided; 2: then committed; 3: then aborted;
     * 4: then ended */
    CU_ASSERT_EQUAL (coord_engine_replay (e, rec_parts (
        TPC_REC_PRECOMMIT, "tpc_c1_1_1", "a", "b")), 0);
    CU_ASSERT_EQUAL (coord_engine_replay (e, rec_parts (
        TPC_REC_PRECOMMIT, "tpc_c1_1_2", "a", "b")), 0);
    CU_ASSERT_EQUAL (coord_engine_replay (e, rec_parts (
        TPC_REC_PRECOMMIT, "tpc_c1_1_3", "a", "b")), 0);
    CU_ASSERT_EQUAL (coord_engine_replay (e, rec_parts (
        TPC_REC_PRECOMMIT, "tpc_c1_1_4", "a", "b")), 0);
    CU_ASSERT_EQUAL (coord_engine_live (e), 4);
    CU_ASSERT_EQUAL (coord_engine_unfinished (e), 4);
    CU_ASSERT_EQUAL (coord_engine_replay (e, rec_commit ("tpc_c1_1_2", "a",
                                                         "b")), 0);
    CU_ASSERT_EQUAL (coord_engine_replay (e, rec_parts (
        TPC_REC_ABORT, "tpc_c1_1_3", "a", "b")), 0);
    CU_ASSERT_EQUAL (coord_engine_replay (e, rec_commit ("tpc_c1_1_4", "a",
                                                         "b")), 0);
    CU_ASSERT_EQUAL (coord_engine_replay (e, rec_gid (TPC_REC_END,
                                                      "tpc_c1_1_4")), 0);
    /* a checkpoint's copies change nothing */
    CU_ASSERT_EQUAL (coord_engine_replay (e, rec_parts (
        TPC_REC_PRECOMMIT, "tpc_c1_1_1", "a", "b")), 0);
    CU_ASSERT_EQUAL (coord_engine_replay (e, rec_parts (
        TPC_REC_PRECOMMIT, "tpc_c1_1_3", "a", "b")), 0);
    CU_ASSERT_EQUAL (coord_engine_live (e), 2);
    CU_ASSERT_EQUAL (coord_engine_unfinished (e), 2);
    char walk[512] = "";
    CU_ASSERT_EQUAL (coord_engine_foreach_precommitting (e, s_collect, walk),
                     0);
    CU_ASSERT_STRING_EQUAL (walk, "tpc_c1_1_1[0/2];");
    walk[0] = '\0';
    CU_ASSERT_EQUAL (coord_engine_foreach_decided (e, s_collect, walk), 0);
    CU_ASSERT_STRING_EQUAL (walk, "tpc_c1_1_2[0/2];");
    CU_ASSERT_EQUAL (coord_engine_start (e, 2, fx->now), 0);
    fx_drain (fx);
    CU_ASSERT_EQUAL (fx_count_agent (fx, NULL, TPC_MSG_PRECOMMIT), 0);
    /* a says hello: precommit for 1, decide for 2 */
    fx_agent (fx, "a", m_hello ("a"));
    CU_ASSERT_EQUAL (fx_count_agent (fx, "a", TPC_MSG_PRECOMMIT), 1);
    CU_ASSERT_STRING_EQUAL (fx_find_agent (fx, "a", TPC_MSG_PRECOMMIT)->gid,
                            "tpc_c1_1_1");
    CU_ASSERT_EQUAL (fx_count_agent (fx, "a", TPC_MSG_DECIDE), 1);
    CU_ASSERT_STRING_EQUAL (fx_find_agent (fx, "a", TPC_MSG_DECIDE)->gid,
                            "tpc_c1_1_2");
    char state[32];
    CU_ASSERT_EQUAL (fx_query (fx, "a", "tpc_c1_1_1"),
                     TPC_OUTCOME_IN_PROGRESS);
    CU_ASSERT_EQUAL (fx_query (fx, "a", "tpc_c1_1_3"), TPC_OUTCOME_ABORTED);
    CU_ASSERT_EQUAL (fx_query (fx, "a", "tpc_c1_1_4"),
                     TPC_OUTCOME_COMMITTED);
    CU_ASSERT_EQUAL (fx_status (fx, "tpc_c1_1_1", state, sizeof state),
                     TPC_OUTCOME_IN_PROGRESS);
    CU_ASSERT_STRING_EQUAL (state, "precommitting");
    /* list shows the state name */
    fx_client (fx, C2, m_new (TPC_MSG_LIST, 5, NULL));
    const tpc_msg_t *l = fx_reply (fx, C2, 5);
    CU_ASSERT_PTR_NOT_NULL_FATAL (l);
    CU_ASSERT_EQUAL_FATAL (l->ntxns, 2);
    CU_ASSERT_STRING_EQUAL (l->txns[0].state, "precommitting");
    CU_ASSERT_STRING_EQUAL (l->txns[1].state, "committing");
    fx_clear (fx);
    fx_agent (fx, "a", m_state ("tpc_c1_1_1", TPC_P3_PRECOMMITTED));
    CU_ASSERT_EQUAL (fx_count_log (fx, TPC_REC_COMMIT), 0);
    walk[0] = '\0';
    coord_engine_foreach_precommitting (e, s_collect, walk);
    CU_ASSERT_STRING_EQUAL (walk, "tpc_c1_1_1[1/2];");
    /* b says hello later: its precommit; then the decision */
    fx_agent (fx, "b", m_hello ("b"));
    CU_ASSERT_EQUAL (fx_count_agent (fx, "b", TPC_MSG_PRECOMMIT), 1);
    CU_ASSERT_EQUAL (fx_count_agent (fx, "a", TPC_MSG_PRECOMMIT), 0);
    fx_agent (fx, "b", m_state ("tpc_c1_1_1", TPC_P3_PRECOMMITTED));
    const fx_rec_t *c = fx_find_log (fx, TPC_REC_COMMIT, "tpc_c1_1_1");
    CU_ASSERT_PTR_NOT_NULL_FATAL (c);
    CU_ASSERT (c->forced);
    CU_ASSERT_STRING_EQUAL (c->parts, "a,b");
    fx_clear (fx);
    fx_durable (fx);
    CU_ASSERT_EQUAL (fx_count_agent (fx, NULL, TPC_MSG_DECIDE), 2);
    walk[0] = '\0';
    coord_engine_foreach_precommitting (e, s_collect, walk);
    CU_ASSERT_STRING_EQUAL (walk, "");
    CU_ASSERT_EQUAL (coord_engine_unfinished (e), 2);     /* both committing */
    fx_destroy (&fx);
}

/*  The default protocol, the one-phase path, readonly votes, interactive
 *  transactions and 2PC beside 3PC.                                      */
static void
test_p3_default_and_paths (void)
{
    coord_engine_config_t cfg = { .coord_id = "c1",
                                  .protocol = TPC_PROTO_3PC };
    fx_t *fx = fx_new_started (&cfg);
    fx_hellos3 (fx);
    /* one participant: one phase, no CanCommit, nothing logged */
    static const char *const A[] = { "a", NULL };
    const char *gid = fx_submit_proto (fx, 1, A, -1);
    const tpc_msg_t *w = fx_find_agent (fx, "a", TPC_MSG_WORK);
    CU_ASSERT_EQUAL (w->then, TPC_THEN_COMMIT);
    CU_ASSERT_FALSE (w->has_protocol);
    CU_ASSERT_EQUAL (w->nparts, 0);
    fx_agent (fx, "a", m_ack (gid, TPC_OUTCOME_COMMITTED));
    CU_ASSERT_EQUAL (fx_reply (fx, C1, 1)->outcome, TPC_OUTCOME_COMMITTED);
    CU_ASSERT_EQUAL (fx->nlog, 0);
    /* 2pc asked explicitly: a plain prepare, COMMIT without PRECOMMIT */
    gid = fx_submit_proto (fx, 2, AB, TPC_PROTO_2PC);
    w = fx_find_agent (fx, "a", TPC_MSG_WORK);
    CU_ASSERT_FALSE (w->has_protocol);
    CU_ASSERT_EQUAL (w->nparts, 0);
    fx_agent (fx, "a", m_vote (gid, TPC_VOTE_YES, NULL));
    fx_agent (fx, "b", m_vote (gid, TPC_VOTE_YES, NULL));
    CU_ASSERT_PTR_NOT_NULL (fx_find_log (fx, TPC_REC_COMMIT, gid));
    CU_ASSERT_EQUAL (fx_count_log (fx, TPC_REC_PRECOMMIT), 0);
    fx_durable (fx);
    fx_agent (fx, "a", m_ack (gid, TPC_OUTCOME_COMMITTED));
    fx_agent (fx, "b", m_ack (gid, TPC_OUTCOME_COMMITTED));
    CU_ASSERT_EQUAL (fx_reply (fx, C1, 2)->outcome, TPC_OUTCOME_COMMITTED);
    /* interactive, default 3pc: the prepare is the CanCommit */
    fx_clear (fx);
    fx_client (fx, C1, m_new (TPC_MSG_BEGIN, 3, NULL));
    char g[TPC_GID_MAX];
    snprintf (g, sizeof g, "%s", fx_reply (fx, C1, 3)->gid);
    fx_client (fx, C1, m_exec (4, g, "c", "UPDATE z SET v = 1"));
    fx_agent (fx, "c", m_worked (g, 1, true, NULL));
    fx_client (fx, C1, m_exec (5, g, "b", "SELECT 1"));
    fx_agent (fx, "b", m_worked (g, 1, true, NULL));
    fx_clear (fx);
    fx_client (fx, C1, m_new (TPC_MSG_COMMIT, 6, g));
    const tpc_msg_t *p = fx_find_agent (fx, "c", TPC_MSG_PREPARE);
    CU_ASSERT_PTR_NOT_NULL_FATAL (p);
    CU_ASSERT (p->has_protocol && p->protocol == TPC_PROTO_3PC);
    CU_ASSERT_EQUAL_FATAL (p->nparts, 2);
    CU_ASSERT_STRING_EQUAL (p->parts[0], "b");
    CU_ASSERT_STRING_EQUAL (p->parts[1], "c");
    CU_ASSERT_STRING_EQUAL (p->peers[0], "tcp://10.0.0.2:7500");
    CU_ASSERT_STRING_EQUAL (p->peers[1], "tcp://10.0.0.3:7500");
    /* b votes readonly anyway: it leaves, and is never pre-committed */
    fx_agent (fx, "b", m_vote (g, TPC_VOTE_READONLY, NULL));
    fx_agent (fx, "c", m_vote (g, TPC_VOTE_YES, NULL));
    const fx_rec_t *pr = fx_find_log (fx, TPC_REC_PRECOMMIT, g);
    CU_ASSERT_PTR_NOT_NULL_FATAL (pr);
    CU_ASSERT_STRING_EQUAL (pr->parts, "c");
    fx_clear (fx);
    fx_durable (fx);
    CU_ASSERT_EQUAL (fx_count_agent (fx, "c", TPC_MSG_PRECOMMIT), 1);
    CU_ASSERT_EQUAL (fx_count_agent (fx, "b", TPC_MSG_PRECOMMIT), 0);
    /* another commit while the first waits: refused at once (in doubt);
     * the first gets the outcome */
    fx_client (fx, C1, m_new (TPC_MSG_COMMIT, 7, g));
    const tpc_msg_t *busy = fx_reply (fx, C1, 7);
    CU_ASSERT (busy && busy->code == TPC_EIN_DOUBT);
    fx_agent (fx, "c", m_state (g, TPC_P3_PRECOMMITTED));
    const fx_rec_t *cr = fx_find_log (fx, TPC_REC_COMMIT, g);
    CU_ASSERT_PTR_NOT_NULL_FATAL (cr);
    CU_ASSERT_STRING_EQUAL (cr->parts, "c");
    fx_clear (fx);
    fx_durable (fx);
    CU_ASSERT_EQUAL (fx_count_agent (fx, "c", TPC_MSG_DECIDE), 1);
    CU_ASSERT_EQUAL (fx_count_agent (fx, "b", TPC_MSG_DECIDE), 0);
    fx_agent (fx, "c", m_ack (g, TPC_OUTCOME_COMMITTED));
    const tpc_msg_t *done = fx_reply (fx, C1, 6);
    CU_ASSERT (done && done->outcome == TPC_OUTCOME_COMMITTED);
    CU_ASSERT_EQUAL (coord_engine_live (fx->e), 0);
    /* the vote timeout still aborts a 3PC transaction before PRECOMMIT */
    gid = fx_submit_proto (fx, 8, AB, -1);
    CU_ASSERT (fx_find_agent (fx, "a", TPC_MSG_WORK)->has_protocol);
    fx_agent (fx, "a", m_vote (gid, TPC_VOTE_YES, NULL));
    fx_advance (fx, 10000);
    CU_ASSERT_EQUAL (fx_reply (fx, C1, 8)->outcome, TPC_OUTCOME_ABORTED);
    CU_ASSERT_EQUAL (fx_count_log (fx, TPC_REC_PRECOMMIT), 1);  /* g's */
    CU_ASSERT_PTR_NULL (fx_find_log (fx, TPC_REC_PRECOMMIT, gid));
    fx_destroy (&fx);
}

/* ---------------------------------------------------------------------
 *  An agent that restarted (a new boot id in its hello)
 */

static tpc_msg_t *
m_hello_boot (const char *name, const char *peer, const char *boot)
{
    tpc_msg_t *m = m_hello_peer (name, peer);
    tpc_msg_set_str (&m->boot, boot);
    return m;
}

/*  Drained AGENT actions to AGENT of TYPE about GID (outcome OUTCOME if
 *  not TPC_OUTCOME_NONE).                                                */
static size_t
fx_count_sent (fx_t *fx, const char *agent, tpc_msg_type_t type,
               const char *gid, tpc_outcome_t outcome)
{
    size_t k = 0;
    for (size_t i = 0; i < fx->n; i++) {
        const tpc_msg_t *m = fx->a[i].msg;
        if (fx->a[i].type == COORD_ACT_AGENT && m->type == type
            && !strcmp (fx->a[i].agent, agent) && m->gid
            && !strcmp (m->gid, gid)
            && (outcome == TPC_OUTCOME_NONE || m->outcome == outcome))
            k++;
    }
    return k;
}

static void
test_agent_restart (void)
{
    /* vote timeout and heartbeat far away: nothing below is a timer */
    coord_engine_config_t cfg = { .coord_id = "c1", .vote_timeout_ms = 10000,
                                  .heartbeat_ms = 100000 };
    fx_t *fx = fx_new_started (&cfg);
    /* the first boot ids heard are nobody's new incarnation */
    fx_agent (fx, "a", m_hello_boot ("a", NULL, "00000000000000aa"));
    fx_agent (fx, "b", m_hello_boot ("b", NULL, "00000000000000b1"));
    CU_ASSERT_EQUAL (fx->n, 0);
    char g1[TPC_GID_MAX], g2[TPC_GID_MAX], g3[TPC_GID_MAX];
    char g4[TPC_GID_MAX], g5[TPC_GID_MAX], state[32];
    /* g1: a voted yes, b has not voted */
    snprintf (g1, sizeof g1, "%s", fx_submit (fx, 1, AB));
    fx_agent (fx, "a", m_vote (g1, TPC_VOTE_YES, NULL));
    /* g2: committed, durable, a acked, b's ack pending */
    snprintf (g2, sizeof g2, "%s", fx_submit (fx, 2, AB));
    fx_agent (fx, "a", m_vote (g2, TPC_VOTE_YES, NULL));
    fx_agent (fx, "b", m_vote (g2, TPC_VOTE_YES, NULL));
    fx_durable (fx);
    fx_agent (fx, "a", m_ack (g2, TPC_OUTCOME_COMMITTED));
    /* g3: b voted yes, a has not voted: b's yes is in its database */
    snprintf (g3, sizeof g3, "%s", fx_submit (fx, 3, AB));
    fx_agent (fx, "b", m_vote (g3, TPC_VOTE_YES, NULL));
    /* g4: interactive, b worked in it (an open transaction on b) */
    fx_client (fx, C1, m_new (TPC_MSG_BEGIN, 4, NULL));
    snprintf (g4, sizeof g4, "%s", fx_reply (fx, C1, 4)->gid);
    fx_client (fx, C1, m_exec (40, g4, "b", "UPDATE t SET x = 1"));
    fx_agent (fx, "b", m_worked (g4, 1, true, NULL));
    /* g5: one phase on b, no ack yet */
    static const char *const B[] = { "b", NULL };
    snprintf (g5, sizeof g5, "%s", fx_submit (fx, 5, B));
    fx_clear (fx);

    /* the same boot id again (a heartbeat): nothing changes */
    fx_agent (fx, "b", m_hello_boot ("b", NULL, "00000000000000b1"));
    CU_ASSERT_EQUAL (fx->n, 0);
    /* a hello without a boot id (made up for another message, or an older
     * agent) is no new incarnation either */
    fx_agent (fx, "b", m_hello ("b"));
    CU_ASSERT_EQUAL (fx->n, 0);
    /* nor is a boot id that is not hex (a warning, nothing else) */
    fx_agent (fx, "b", m_hello_boot ("b", NULL, "b3\nforged log line"));
    fx_agent (fx, "b", m_hello_boot ("b", NULL,
                                     "000000000000000000000000000000000b"));
    CU_ASSERT_EQUAL (fx->n, 0);
    CU_ASSERT_EQUAL (fx_status (fx, g1, state, sizeof state),
                     TPC_OUTCOME_IN_PROGRESS);
    CU_ASSERT_STRING_EQUAL (state, "preparing");

    /* b restarted: a new boot id, and no clock advance */
    fx_agent (fx, "b", m_hello_boot ("b", NULL, "00000000000000b2"));
    const tpc_msg_t *r = fx_reply (fx, C1, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL (r);
    CU_ASSERT_EQUAL (r->type, TPC_MSG_OUTCOME);
    CU_ASSERT_EQUAL (r->outcome, TPC_OUTCOME_ABORTED);
    CU_ASSERT_PTR_NOT_NULL (r->reason && strstr (r->reason, "restarted"));
    CU_ASSERT_EQUAL (fx_count_sent (fx, "a", TPC_MSG_DECIDE, g1,
                                    TPC_OUTCOME_ABORTED), 1);
    CU_ASSERT_EQUAL (fx_count_sent (fx, "b", TPC_MSG_DECIDE, g1,
                                    TPC_OUTCOME_ABORTED), 1);
    CU_ASSERT_PTR_NOT_NULL (fx_find_log (fx, TPC_REC_ABORT, g1));
    /* the pending decision goes to the new b at once */
    CU_ASSERT_EQUAL (fx_count_sent (fx, "b", TPC_MSG_DECIDE, g2,
                                    TPC_OUTCOME_COMMITTED), 1);
    CU_ASSERT_EQUAL (fx_count_sent (fx, "a", TPC_MSG_DECIDE, g2,
                                    TPC_OUTCOME_NONE), 0);
    /* b voted yes on g3: not its lost work; a still votes */
    CU_ASSERT_PTR_NULL (fx_reply (fx, C1, 3));
    CU_ASSERT_EQUAL (fx_count_sent (fx, "a", TPC_MSG_DECIDE, g3,
                                    TPC_OUTCOME_NONE), 0);
    CU_ASSERT_EQUAL (fx_count_sent (fx, "b", TPC_MSG_DECIDE, g3,
                                    TPC_OUTCOME_NONE), 0);
    /* the one-phase commit on b can no longer be acked: in doubt now */
    r = fx_reply (fx, C1, 5);
    CU_ASSERT_PTR_NOT_NULL_FATAL (r);
    CU_ASSERT_EQUAL (r->type, TPC_MSG_ERROR);
    CU_ASSERT_EQUAL (r->code, TPC_EIN_DOUBT);
    /* statuses and b's recovery queries are answered at once */
    CU_ASSERT_EQUAL (fx_status (fx, g1, NULL, 0), TPC_OUTCOME_ABORTED);
    CU_ASSERT_EQUAL (fx_status (fx, g4, NULL, 0), TPC_OUTCOME_ABORTED);
    CU_ASSERT_EQUAL (fx_status (fx, g3, state, sizeof state),
                     TPC_OUTCOME_IN_PROGRESS);
    CU_ASSERT_STRING_EQUAL (state, "preparing");
    CU_ASSERT_EQUAL (fx_query (fx, "b", g1), TPC_OUTCOME_ABORTED);
    CU_ASSERT_EQUAL (fx_query (fx, "b", g3), TPC_OUTCOME_IN_PROGRESS);
    /* a late hello of the dead incarnation (queued on its old connection)
     * is no restart: the new b's work stays */
    fx_client (fx, C1, m_exec (60, NULL, "b", "SELECT 1"));
    fx_client (fx, C1, m_new (TPC_MSG_BEGIN, 6, NULL));
    char g6[TPC_GID_MAX];
    snprintf (g6, sizeof g6, "%s", fx_reply (fx, C1, 6)->gid);
    fx_client (fx, C1, m_exec (61, g6, "b", "UPDATE t SET x = 2"));
    fx_agent (fx, "b", m_worked (g6, 1, true, NULL));
    fx_clear (fx);
    fx_agent (fx, "b", m_hello_boot ("b", NULL, "00000000000000b1"));
    fx_agent (fx, "b", m_hello_boot ("b", NULL, "00000000000000b2"));
    CU_ASSERT_EQUAL (fx->n, 0);
    CU_ASSERT_EQUAL (fx_status (fx, g6, state, sizeof state),
                     TPC_OUTCOME_IN_PROGRESS);
    CU_ASSERT_STRING_EQUAL (state, "active");
    fx_client (fx, C1, m_new (TPC_MSG_COMMIT, 41, g4));
    r = fx_reply (fx, C1, 41);
    CU_ASSERT_PTR_NOT_NULL_FATAL (r);
    CU_ASSERT_EQUAL (r->outcome, TPC_OUTCOME_ABORTED);
    /* g3 goes on: a votes yes, commit */
    fx_clear (fx);
    fx_agent (fx, "a", m_vote (g3, TPC_VOTE_YES, NULL));
    CU_ASSERT_PTR_NOT_NULL (fx_find_log (fx, TPC_REC_COMMIT, g3));
    fx_destroy (&fx);
}

static void
test_p3_agent_restart (void)
{
    coord_engine_config_t cfg = { .coord_id = "c1", .vote_timeout_ms = 10000,
                                  .heartbeat_ms = 100000 };
    fx_t *fx = fx_new_started (&cfg);
    fx_agent (fx, "a", m_hello_boot ("a", "tcp://10.0.0.1:7500", "a1"));
    fx_agent (fx, "b", m_hello_boot ("b", "tcp://10.0.0.2:7500", "b1"));
    fx_clear (fx);
    char g1[TPC_GID_MAX], g2[TPC_GID_MAX], state[32];
    /* g1: CanCommit, a voted yes, b not */
    snprintf (g1, sizeof g1, "%s", fx_submit_proto (fx, 1, AB, TPC_PROTO_3PC));
    fx_agent (fx, "a", m_vote (g1, TPC_VOTE_YES, NULL));
    /* g2: pre-committing, a answered precommitted, b not yet */
    snprintf (g2, sizeof g2, "%s", fx_submit_proto (fx, 2, AB, TPC_PROTO_3PC));
    fx_precommit (fx, g2, AB);
    fx_agent (fx, "a", m_state (g2, TPC_P3_PRECOMMITTED));
    fx_clear (fx);
    fx_agent (fx, "b", m_hello_boot ("b", "tcp://10.0.0.2:7500", "b2"));
    /* unvoted: aborted at once */
    const tpc_msg_t *r = fx_reply (fx, C1, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL (r);
    CU_ASSERT_EQUAL (r->outcome, TPC_OUTCOME_ABORTED);
    CU_ASSERT_EQUAL (fx_count_sent (fx, "a", TPC_MSG_DECIDE, g1,
                                    TPC_OUTCOME_ABORTED), 1);
    /* pre-committed: no timeout leaves it, a restart neither; the
     * precommit goes to the new b at once */
    CU_ASSERT_PTR_NULL (fx_reply (fx, C1, 2));
    CU_ASSERT_EQUAL (fx_count_sent (fx, "b", TPC_MSG_PRECOMMIT, g2,
                                    TPC_OUTCOME_NONE), 1);
    CU_ASSERT_EQUAL (fx_count_sent (fx, "a", TPC_MSG_PRECOMMIT, g2,
                                    TPC_OUTCOME_NONE), 0);
    CU_ASSERT_EQUAL (fx_count_sent (fx, "b", TPC_MSG_DECIDE, g2,
                                    TPC_OUTCOME_NONE), 0);
    CU_ASSERT_EQUAL (fx_status (fx, g2, state, sizeof state),
                     TPC_OUTCOME_IN_PROGRESS);
    CU_ASSERT_STRING_EQUAL (state, "precommitting");
    fx_agent (fx, "b", m_state (g2, TPC_P3_PRECOMMITTED));
    CU_ASSERT_PTR_NOT_NULL (fx_find_log (fx, TPC_REC_COMMIT, g2));
    fx_destroy (&fx);
}

/* ---------------------------------------------------------------------
 *  Issue 12: resolve and gid issue; one reply per request
 */

/*  Replies (any type) to client CID with RID.                          */
static size_t
fx_count_reply (fx_t *fx, const uint8_t *cid, uint64_t rid)
{
    size_t k = 0;
    for (size_t i = 0; i < fx->n; i++)
        k += fx->a[i].type == COORD_ACT_CLIENT && fx->a[i].msg->rid == rid
             && fx->a[i].client_len == 3
             && memcmp (fx->a[i].client, cid, 3) == 0;
    return k;
}

/*  An operator's resolve of GID to OUTCOME from C2 (rid RID), made
 *  durable; returns the reply, or NULL.                                  */
static const tpc_msg_t *
fx_resolve (fx_t *fx, uint64_t rid, const char *gid, tpc_outcome_t outcome)
{
    tpc_msg_t *m = m_new (TPC_MSG_RESOLVE, rid, gid);
    m->outcome = outcome;
    tpc_msg_set_str (&m->reason, "test");
    fx_client (fx, C2, m);
    fx_durable (fx);
    return fx_reply (fx, C2, rid);
}

/*  A resolve of a gid this coordinator has not issued is refused: it
 *  would decide the transaction that gets the gid next (the black-box
 *  finding: the next begin was handed it, rolled back, and status and the
 *  agents' queries said committed).  The gid issued next carries no
 *  heuristic, commits as usual, and a resolve of it afterwards is
 *  refused too.                                                          */
static void
test_resolve_unissued (void)
{
    fx_t *fx = fx_new ();
    fx_hellos (fx, AB);
    const tpc_msg_t *r = fx_resolve (fx, 1, "tpc_c1_1_1",
                                     TPC_OUTCOME_ABORTED);
    CU_ASSERT_PTR_NOT_NULL_FATAL (r);
    CU_ASSERT_EQUAL (r->type, TPC_MSG_ERROR);
    CU_ASSERT_EQUAL (r->code, TPC_EUNKNOWN_GID);
    CU_ASSERT (r->message && strstr (r->message, "tpc_c1_1_1 was never "
                                     "issued by this coordinator"));
    /* a later epoch is not this coordinator's to decide either */
    r = fx_resolve (fx, 2, "tpc_c1_7_1", TPC_OUTCOME_COMMITTED);
    CU_ASSERT (r && r->type == TPC_MSG_ERROR
               && r->code == TPC_EUNKNOWN_GID);
    CU_ASSERT_EQUAL (fx_count_log (fx, TPC_REC_HEURISTIC), 0);
    /* the next begin: a gid with no heuristic, committed as usual */
    fx_clear (fx);
    fx_client (fx, C1, m_new (TPC_MSG_BEGIN, 3, NULL));
    char gid[TPC_GID_MAX];
    snprintf (gid, sizeof gid, "%s", fx_reply (fx, C1, 3)->gid);
    char state[32];
    CU_ASSERT_EQUAL (fx_status (fx, gid, state, sizeof state),
                     TPC_OUTCOME_IN_PROGRESS);
    CU_ASSERT_STRING_EQUAL (state, "active");
    fx_client (fx, C1, m_exec (4, gid, "a", "UPDATE t SET x = 1"));
    fx_agent (fx, "a", m_worked (gid, 1, true, NULL));
    fx_client (fx, C1, m_exec (5, gid, "b", "UPDATE t SET x = 2"));
    fx_agent (fx, "b", m_worked (gid, 1, true, NULL));
    fx_client (fx, C1, m_new (TPC_MSG_COMMIT, 6, gid));
    fx_agent (fx, "a", m_vote (gid, TPC_VOTE_YES, NULL));
    fx_agent (fx, "b", m_vote (gid, TPC_VOTE_YES, NULL));
    fx_durable (fx);
    fx_agent (fx, "a", m_ack (gid, TPC_OUTCOME_COMMITTED));
    fx_agent (fx, "b", m_ack (gid, TPC_OUTCOME_COMMITTED));
    r = fx_reply (fx, C1, 6);
    CU_ASSERT (r && r->outcome == TPC_OUTCOME_COMMITTED);
    CU_ASSERT_EQUAL (fx_status (fx, gid, state, sizeof state),
                     TPC_OUTCOME_COMMITTED);
    CU_ASSERT_STRING_EQUAL (state, "ended");
    CU_ASSERT_EQUAL (fx_query (fx, "a", gid), TPC_OUTCOME_COMMITTED);
    /* decided: a resolve either way is refused, nothing is recorded */
    r = fx_resolve (fx, 7, gid, TPC_OUTCOME_ABORTED);
    CU_ASSERT (r && r->type == TPC_MSG_ERROR && r->code == TPC_ESTATE
               && strstr (r->message, "already has outcome committed"));
    r = fx_resolve (fx, 8, gid, TPC_OUTCOME_COMMITTED);
    CU_ASSERT (r && r->type == TPC_MSG_ERROR && r->code == TPC_ESTATE);
    CU_ASSERT_EQUAL (fx_count_log (fx, TPC_REC_HEURISTIC), 0);
    CU_ASSERT_EQUAL (fx_query (fx, "b", gid), TPC_OUTCOME_COMMITTED);
    fx_destroy (&fx);
}

static int
s_count_heur (void *arg, const tpc_record_t *rec, size_t nacked)
{
    (void) nacked;
    *(int *) arg += rec->type == TPC_REC_HEURISTIC;
    return 0;
}

static tpc_record_t *
rec_heur (const char *gid, int outcome, const char *reason)
{
    static tpc_record_t r;
    memset (&r, 0, sizeof r);
    r.type = TPC_REC_HEURISTIC;
    snprintf (r.gid, sizeof r.gid, "%s", gid);
    r.outcome = (uint8_t) outcome;
    snprintf (r.reason, sizeof r.reason, "%s", reason);
    return &r;
}

/*  A log written before that refusal: an operator's HEURISTIC for a gid
 *  not issued then.  (1) Issue never collides with it: begin skips every
 *  sequence number some record names.  (2) Where the gid was issued and
 *  decided after all, the logged decision wins over the heuristic, in
 *  status, in the answer to a query, and for a resolve.                 */
static void
test_resolve_log_heuristic_no_collision (void)
{
    coord_engine_config_t cfg = { .coord_id = "c1" };
    fx_t *fx = fx_new_cfg (&cfg);
    coord_engine_t *e = fx->e;
    tpc_record_t ep = { .type = TPC_REC_EPOCH, .epoch = 1 };
    CU_ASSERT_EQUAL (coord_engine_replay (e, &ep), 0);
    /* 1_1: resolved abort before issue, then committed; 1_2: resolved
     * commit before issue, then aborted */
    CU_ASSERT_EQUAL (coord_engine_replay (e, rec_heur (
        "tpc_c1_1_1", 2, "resolve --force: x")), 0);
    CU_ASSERT_EQUAL (coord_engine_replay (e, rec_commit ("tpc_c1_1_1", "a",
                                                         "b")), 0);
    CU_ASSERT_EQUAL (coord_engine_replay (e, rec_gid (TPC_REC_END,
                                                      "tpc_c1_1_1")), 0);
    CU_ASSERT_EQUAL (coord_engine_replay (e, rec_heur (
        "tpc_c1_1_2", 1, "resolve --force: x")), 0);
    CU_ASSERT_EQUAL (coord_engine_replay (e, rec_gid (TPC_REC_ABORT,
                                                      "tpc_c1_1_2")), 0);
    /* resolved ahead of this very boot's epoch */
    CU_ASSERT_EQUAL (coord_engine_replay (e, rec_heur (
        "tpc_c1_2_1", 1, "resolve --force: x")), 0);
    CU_ASSERT_EQUAL (coord_engine_replay (e, rec_heur (
        "tpc_c1_2_2", 2, "resolve --force: x")), 0);
    CU_ASSERT_EQUAL (coord_engine_start (e, 2, fx->now), 0);
    fx_drain (fx);
    fx_hellos (fx, AB);
    char state[32];
    CU_ASSERT_EQUAL (fx_status (fx, "tpc_c1_1_1", state, sizeof state),
                     TPC_OUTCOME_COMMITTED);
    CU_ASSERT_STRING_EQUAL (state, "ended");
    CU_ASSERT_EQUAL (fx_query (fx, "a", "tpc_c1_1_1"),
                     TPC_OUTCOME_COMMITTED);
    CU_ASSERT_EQUAL (fx_status (fx, "tpc_c1_1_2", state, sizeof state),
                     TPC_OUTCOME_ABORTED);
    CU_ASSERT_EQUAL (fx_query (fx, "b", "tpc_c1_1_2"), TPC_OUTCOME_ABORTED);
    const tpc_msg_t *r = fx_resolve (fx, 1, "tpc_c1_1_1",
                                     TPC_OUTCOME_ABORTED);
    CU_ASSERT (r && r->type == TPC_MSG_ERROR && r->code == TPC_ESTATE);
    r = fx_resolve (fx, 2, "tpc_c1_1_2", TPC_OUTCOME_COMMITTED);
    CU_ASSERT (r && r->type == TPC_MSG_ERROR && r->code == TPC_ESTATE);
    /* the checkpoint keeps only what the log did not contradict */
    int n = 0;
    CU_ASSERT_EQUAL (coord_engine_foreach_resolved (e, s_count_heur, &n),
                     0);
    CU_ASSERT_EQUAL (n, 2);
    /* begin and submit skip 2_1 and 2_2 */
    fx_clear (fx);
    fx_client (fx, C1, m_new (TPC_MSG_BEGIN, 3, NULL));
    const tpc_msg_t *b = fx_reply (fx, C1, 3);
    CU_ASSERT_PTR_NOT_NULL_FATAL (b);
    CU_ASSERT_STRING_EQUAL (b->gid, "tpc_c1_2_3");
    CU_ASSERT_STRING_EQUAL (fx_submit (fx, 4, AB), "tpc_c1_2_4");
    CU_ASSERT_EQUAL (fx_status (fx, "tpc_c1_2_3", state, sizeof state),
                     TPC_OUTCOME_IN_PROGRESS);
    CU_ASSERT_STRING_EQUAL (state, "active");
    fx_destroy (&fx);
}

/*  Two commits of one gid: every request gets exactly one reply.  The
 *  first requester gets the outcome; another commit meanwhile (same
 *  client with another rid, or another client) gets TPC_EIN_DOUBT at
 *  once; the very same request again (a duplicate) gets nothing more.   */
static void
test_two_commits_two_replies (void)
{
    fx_t *fx = fx_new ();
    fx_hellos (fx, AB);
    fx_client (fx, C1, m_new (TPC_MSG_BEGIN, 1, NULL));
    char gid[TPC_GID_MAX];
    snprintf (gid, sizeof gid, "%s", fx_reply (fx, C1, 1)->gid);
    fx_client (fx, C1, m_exec (2, gid, "a", "UPDATE t SET x = 1"));
    fx_agent (fx, "a", m_worked (gid, 1, true, NULL));
    fx_client (fx, C1, m_exec (3, gid, "b", "UPDATE t SET x = 2"));
    fx_agent (fx, "b", m_worked (gid, 1, true, NULL));
    fx_clear (fx);
    fx_client (fx, C1, m_new (TPC_MSG_COMMIT, 10, gid));
    fx_client (fx, C1, m_new (TPC_MSG_COMMIT, 10, gid));    /* duplicate */
    fx_client (fx, C1, m_new (TPC_MSG_COMMIT, 11, gid));
    fx_client (fx, C2, m_new (TPC_MSG_COMMIT, 12, gid));
    CU_ASSERT_EQUAL (fx_count_reply (fx, C1, 10), 0);
    const tpc_msg_t *r = fx_reply (fx, C1, 11);
    CU_ASSERT (r && r->type == TPC_MSG_ERROR && r->code == TPC_EIN_DOUBT
               && strstr (r->message, "already being committed by another "
                          "request"));
    r = fx_reply (fx, C2, 12);
    CU_ASSERT (r && r->type == TPC_MSG_ERROR && r->code == TPC_EIN_DOUBT);
    CU_ASSERT_EQUAL (fx_count_agent (fx, "a", TPC_MSG_PREPARE), 1);
    fx_agent (fx, "a", m_vote (gid, TPC_VOTE_YES, NULL));
    fx_agent (fx, "b", m_vote (gid, TPC_VOTE_YES, NULL));
    fx_durable (fx);
    fx_agent (fx, "a", m_ack (gid, TPC_OUTCOME_COMMITTED));
    fx_agent (fx, "b", m_ack (gid, TPC_OUTCOME_COMMITTED));
    r = fx_reply (fx, C1, 10);
    CU_ASSERT (r && r->type == TPC_MSG_OUTCOME
               && r->outcome == TPC_OUTCOME_COMMITTED);
    CU_ASSERT_EQUAL (fx_count_reply (fx, C1, 10), 1);
    CU_ASSERT_EQUAL (fx_count_reply (fx, C1, 11), 1);
    CU_ASSERT_EQUAL (fx_count_reply (fx, C2, 12), 1);
    /* once the outcome is known, a commit is answered with it */
    fx_client (fx, C2, m_new (TPC_MSG_COMMIT, 13, gid));
    r = fx_reply (fx, C2, 13);
    CU_ASSERT (r && r->outcome == TPC_OUTCOME_COMMITTED);

    /* a submit's gid: a commit from another client does not take its
     * reply */
    fx_clear (fx);
    snprintf (gid, sizeof gid, "%s", fx_submit (fx, 20, AB));
    fx_client (fx, C2, m_new (TPC_MSG_COMMIT, 21, gid));
    r = fx_reply (fx, C2, 21);
    CU_ASSERT (r && r->code == TPC_EIN_DOUBT);
    fx_agent (fx, "a", m_vote (gid, TPC_VOTE_NO, "nope"));
    r = fx_reply (fx, C1, 20);
    CU_ASSERT (r && r->outcome == TPC_OUTCOME_ABORTED);
    CU_ASSERT_EQUAL (fx_count_reply (fx, C2, 21), 1);
    fx_destroy (&fx);
}



/* ---------------------------------------------------------------------
 *  Presumed abort, checked: a query for a gid of an earlier boot with no
 *  record asks the other agents (outcome_of) before answering aborted.
 */

static tpc_msg_t *
m_known (const char *gid, tpc_p3_t state)
{
    tpc_msg_t *m = m_new (TPC_MSG_KNOWN, 0, gid);
    m->p3 = state;
    return m;
}

/*  An engine at epoch 2 after a log holding only EPOCH 1 (the COMMIT of
 *  tpc_c1_1_5 was lost), with agents a and b connected and the start's
 *  grace over.                                                           */
static fx_t *
fx_new_lost_tail (void)
{
    coord_engine_config_t cfg = { .coord_id = "c1" };
    fx_t *fx = fx_new_cfg (&cfg);
    tpc_record_t ep = { .type = TPC_REC_EPOCH, .epoch = 1 };
    CU_ASSERT_EQUAL (coord_engine_replay (fx->e, &ep), 0);
    CU_ASSERT_EQUAL (coord_engine_start (fx->e, 2, fx->now), 0);
    fx_drain (fx);
    fx_advance (fx, 2000);
    fx_hellos (fx, AB);
    return fx;
}

static void
test_presumed_abort_checked (void)
{
    const char *gid = "tpc_c1_1_5";
    fx_t *fx = fx_new_lost_tail ();
    /* a holds gid prepared and asks: not answered "aborted" at once, b is
     * asked what its database knows */
    fx_clear (fx);
    fx_agent (fx, "a", m_new (TPC_MSG_QUERY, 0, gid));
    CU_ASSERT_PTR_NULL (fx_find_agent (fx, "a", TPC_MSG_ANSWER));
    const tpc_msg_t *o = fx_find_agent (fx, "b", TPC_MSG_OUTCOME_OF);
    CU_ASSERT_PTR_NOT_NULL_FATAL (o);
    CU_ASSERT_STRING_EQUAL (o->gid, gid);
    CU_ASSERT_EQUAL (fx_count_agent (fx, "a", TPC_MSG_OUTCOME_OF), 0);
    /* a asks again meanwhile: still no answer, b not asked twice */
    fx_clear (fx);
    fx_agent (fx, "a", m_new (TPC_MSG_QUERY, 0, gid));
    CU_ASSERT_EQUAL (fx->n, 0);
    /* b committed it: the commit is logged again, forced, naming a and b;
     * nothing is said before it is durable */
    fx_agent (fx, "b", m_known (gid, TPC_P3_COMMITTED));
    const fx_rec_t *c = fx_find_log (fx, TPC_REC_COMMIT, gid);
    CU_ASSERT_PTR_NOT_NULL_FATAL (c);
    CU_ASSERT (c->forced);
    CU_ASSERT_STRING_EQUAL (c->parts, "a,b");
    CU_ASSERT_EQUAL (fx_count_agent (fx, NULL, TPC_MSG_DECIDE), 0);
    CU_ASSERT_EQUAL (fx_count_agent (fx, NULL, TPC_MSG_ANSWER), 0);
    CU_ASSERT_EQUAL (fx_query (fx, "a", gid), TPC_OUTCOME_IN_PROGRESS);
    /* durable: committed to both, and so is every later query */
    fx_clear (fx);
    fx_durable (fx);
    CU_ASSERT_EQUAL (fx_count_agent (fx, "a", TPC_MSG_DECIDE), 1);
    CU_ASSERT_EQUAL (fx_count_agent (fx, "b", TPC_MSG_DECIDE), 1);
    CU_ASSERT_EQUAL (fx_find_agent (fx, "a", TPC_MSG_DECIDE)->outcome,
                     TPC_OUTCOME_COMMITTED);
    CU_ASSERT_EQUAL (fx_query (fx, "a", gid), TPC_OUTCOME_COMMITTED);
    CU_ASSERT_EQUAL (fx_status (fx, gid, NULL, 0), TPC_OUTCOME_COMMITTED);
    fx_agent (fx, "a", m_ack (gid, TPC_OUTCOME_COMMITTED));
    fx_agent (fx, "b", m_ack (gid, TPC_OUTCOME_COMMITTED));
    CU_ASSERT_PTR_NOT_NULL (fx_find_log (fx, TPC_REC_END, gid));
    CU_ASSERT_EQUAL (coord_engine_live (fx->e), 0);
    /* a stale known changes nothing */
    fx_agent (fx, "b", m_known (gid, TPC_P3_ABORTED));
    CU_ASSERT_EQUAL (fx_query (fx, "a", gid), TPC_OUTCOME_COMMITTED);
    fx_destroy (&fx);

    /* b has it prepared too (uncertain), or never had it (aborted): the
     * presumed abort stands, nothing is logged */
    tpc_p3_t nots[] = { TPC_P3_UNCERTAIN, TPC_P3_ABORTED };
    for (size_t i = 0; i < 2; i++) {
        fx = fx_new_lost_tail ();
        fx_clear (fx);
        fx_agent (fx, "a", m_new (TPC_MSG_QUERY, 0, gid));
        CU_ASSERT_PTR_NULL (fx_find_agent (fx, "a", TPC_MSG_ANSWER));
        fx_agent (fx, "b", m_known (gid, nots[i]));
        o = fx_find_agent (fx, "a", TPC_MSG_ANSWER);
        CU_ASSERT_PTR_NOT_NULL_FATAL (o);
        CU_ASSERT_EQUAL (o->outcome, TPC_OUTCOME_ABORTED);
        CU_ASSERT_EQUAL (fx->nlog, 0);
        fx_destroy (&fx);
    }
}

static void
test_presumed_abort_unsure (void)
{
    const char *gid = "tpc_c1_1_5";
    /* right after the start (agents may still be coming): in_progress,
     * nobody asked */
    coord_engine_config_t cfg = { .coord_id = "c1" };
    fx_t *fx = fx_new_cfg (&cfg);
    tpc_record_t ep = { .type = TPC_REC_EPOCH, .epoch = 1 };
    CU_ASSERT_EQUAL (coord_engine_replay (fx->e, &ep), 0);
    CU_ASSERT_EQUAL (coord_engine_start (fx->e, 2, fx->now), 0);
    fx_drain (fx);
    fx_hellos (fx, AB);
    CU_ASSERT_EQUAL (fx_query (fx, "a", gid), TPC_OUTCOME_IN_PROGRESS);
    CU_ASSERT_EQUAL (fx_count_agent (fx, "b", TPC_MSG_OUTCOME_OF), 0);
    fx_destroy (&fx);

    /* b silent: at the deadline (3 heartbeats) in_progress, not aborted */
    fx = fx_new_lost_tail ();
    fx_clear (fx);
    fx_agent (fx, "a", m_new (TPC_MSG_QUERY, 0, gid));
    CU_ASSERT_EQUAL (fx_count_agent (fx, "b", TPC_MSG_OUTCOME_OF), 1);
    CU_ASSERT (fx->wake <= fx->now + 3000);
    fx_agent (fx, "a", m_hello ("a"));
    fx_agent (fx, "b", m_hello ("b"));
    fx_advance (fx, 2999);
    CU_ASSERT_PTR_NULL (fx_find_agent (fx, "a", TPC_MSG_ANSWER));
    fx_agent (fx, "a", m_hello ("a"));
    fx_agent (fx, "b", m_hello ("b"));
    fx_advance (fx, 1);
    const tpc_msg_t *o = fx_find_agent (fx, "a", TPC_MSG_ANSWER);
    CU_ASSERT_PTR_NOT_NULL_FATAL (o);
    CU_ASSERT_EQUAL (o->outcome, TPC_OUTCOME_IN_PROGRESS);
    /* its late answer is stale; the next query asks again */
    fx_agent (fx, "b", m_known (gid, TPC_P3_UNCERTAIN));
    fx_clear (fx);
    fx_agent (fx, "a", m_new (TPC_MSG_QUERY, 0, gid));
    CU_ASSERT_EQUAL (fx_count_agent (fx, "b", TPC_MSG_OUTCOME_OF), 1);
    /* 3PC: b pre-committed (a termination may commit) or cannot tell:
     * in_progress */
    fx_agent (fx, "b", m_known (gid, TPC_P3_PRECOMMITTED));
    o = fx_find_agent (fx, "a", TPC_MSG_ANSWER);
    CU_ASSERT_PTR_NOT_NULL_FATAL (o);
    CU_ASSERT_EQUAL (o->outcome, TPC_OUTCOME_IN_PROGRESS);
    fx_clear (fx);
    fx_agent (fx, "a", m_new (TPC_MSG_QUERY, 0, gid));
    fx_agent (fx, "b", m_known (gid, TPC_P3_UNKNOWN));
    o = fx_find_agent (fx, "a", TPC_MSG_ANSWER);
    CU_ASSERT_PTR_NOT_NULL_FATAL (o);
    CU_ASSERT_EQUAL (o->outcome, TPC_OUTCOME_IN_PROGRESS);
    /* b unreachable (the send fails): in_progress at once */
    fx_clear (fx);
    fx_agent (fx, "a", m_new (TPC_MSG_QUERY, 0, gid));
    tpc_msg_t *sent = m_new (TPC_MSG_OUTCOME_OF, 0, gid);
    CU_ASSERT_EQUAL (coord_engine_send_failed (fx->e, "b", sent, fx->now), 0);
    tpc_msg_destroy (&sent);
    fx_drain (fx);
    o = fx_find_agent (fx, "a", TPC_MSG_ANSWER);
    CU_ASSERT_PTR_NOT_NULL_FATAL (o);
    CU_ASSERT_EQUAL (o->outcome, TPC_OUTCOME_IN_PROGRESS);
    /* b gone (not connected): in_progress without asking anybody */
    CU_ASSERT_EQUAL (fx_query (fx, "a", gid), TPC_OUTCOME_IN_PROGRESS);
    /* b back and clear: aborted */
    fx_agent (fx, "b", m_hello ("b"));
    fx_clear (fx);
    fx_agent (fx, "a", m_new (TPC_MSG_QUERY, 0, gid));
    fx_agent (fx, "b", m_known (gid, TPC_P3_ABORTED));
    o = fx_find_agent (fx, "a", TPC_MSG_ANSWER);
    CU_ASSERT_PTR_NOT_NULL_FATAL (o);
    CU_ASSERT_EQUAL (o->outcome, TPC_OUTCOME_ABORTED);
    fx_destroy (&fx);
}

/*  An engine at epoch 2 whose log names agent c (tpc_c1_1_2 committed on
 *  a and c, ended), with a and b connected, c down, the start's grace
 *  over.                                                                 */
static fx_t *
fx_new_c_down (void)
{
    coord_engine_config_t cfg = { .coord_id = "c1" };
    fx_t *fx = fx_new_cfg (&cfg);
    tpc_record_t ep = { .type = TPC_REC_EPOCH, .epoch = 1 };
    CU_ASSERT_EQUAL (coord_engine_replay (fx->e, &ep), 0);
    CU_ASSERT_EQUAL (coord_engine_replay (fx->e, rec_commit ("tpc_c1_1_2",
                                                             "a", "c")), 0);
    CU_ASSERT_EQUAL (coord_engine_replay (fx->e, rec_gid (TPC_REC_END,
                                                          "tpc_c1_1_2")), 0);
    CU_ASSERT_EQUAL (coord_engine_start (fx->e, 2, fx->now), 0);
    fx_drain (fx);
    fx_advance (fx, 2000);
    fx_hellos (fx, AB);
    return fx;
}

/*  A checked presumed abort that cannot be confirmed (c, named in the
 *  log, is down) answers in_progress; the operator's resolve of the gid
 *  is then taken, not refused as "presumed abort", and the queries follow
 *  it.  A gid of an earlier boot that no query left unconfirmed is still
 *  refused (nobody is known to hold it: it may have ended committed).    */
static void
test_presumed_abort_resolvable (void)
{
    const char *gid = "tpc_c1_1_5";
    fx_t *fx = fx_new_c_down ();
    const tpc_msg_t *r = fx_resolve (fx, 1, gid, TPC_OUTCOME_ABORTED);
    CU_ASSERT (r && r->type == TPC_MSG_ERROR && r->code == TPC_ESTATE
               && strstr (r->message, "presumed abort"));
    fx_clear (fx);
    fx_agent (fx, "a", m_new (TPC_MSG_QUERY, 0, gid));
    fx_agent (fx, "b", m_known (gid, TPC_P3_ABORTED));
    r = fx_find_agent (fx, "a", TPC_MSG_ANSWER);
    CU_ASSERT_PTR_NOT_NULL_FATAL (r);
    CU_ASSERT_EQUAL (r->outcome, TPC_OUTCOME_IN_PROGRESS);
    /* stuck: the operator decides */
    r = fx_resolve (fx, 2, gid, TPC_OUTCOME_ABORTED);
    CU_ASSERT_PTR_NOT_NULL_FATAL (r);
    if (r->type == TPC_MSG_ERROR)
        fprintf (stderr, "\nresolve refused: %s\n", r->message);
    CU_ASSERT_EQUAL (r->type, TPC_MSG_OUTCOME);
    CU_ASSERT_EQUAL (r->outcome, TPC_OUTCOME_ABORTED);
    const fx_rec_t *h = fx_find_log (fx, TPC_REC_HEURISTIC, gid);
    CU_ASSERT (h && h->forced);
    CU_ASSERT_EQUAL (fx_query (fx, "a", gid), TPC_OUTCOME_ABORTED);
    char state[32];
    CU_ASSERT_EQUAL (fx_status (fx, gid, state, sizeof state),
                     TPC_OUTCOME_ABORTED);
    CU_ASSERT_STRING_EQUAL (state, "heuristic");
    /* the same for a commit, where c committed and is gone for good */
    const char *g2 = "tpc_c1_1_6";
    fx_clear (fx);
    fx_agent (fx, "a", m_new (TPC_MSG_QUERY, 0, g2));
    fx_agent (fx, "b", m_known (g2, TPC_P3_UNCERTAIN));
    r = fx_find_agent (fx, "a", TPC_MSG_ANSWER);
    CU_ASSERT (r && r->outcome == TPC_OUTCOME_IN_PROGRESS);
    r = fx_resolve (fx, 3, g2, TPC_OUTCOME_COMMITTED);
    CU_ASSERT (r && r->type == TPC_MSG_OUTCOME
               && r->outcome == TPC_OUTCOME_COMMITTED);
    CU_ASSERT_EQUAL (fx_query (fx, "a", g2), TPC_OUTCOME_COMMITTED);
    CU_ASSERT_EQUAL (fx_query (fx, "b", g2), TPC_OUTCOME_COMMITTED);
    fx_destroy (&fx);
}

/*  A resolve taken while a round is pending wins over it: b's later
 *  "committed" is not followed by a forced COMMIT (a's answer waits for
 *  the resolve's record), and a resolve made durable first answers the
 *  pending asker at once.                                                */
static void
test_presumed_abort_resolve_in_round (void)
{
    const char *gid = "tpc_c1_1_5";
    fx_t *fx = fx_new_lost_tail ();
    fx_clear (fx);
    fx_agent (fx, "a", m_new (TPC_MSG_QUERY, 0, gid));
    CU_ASSERT_EQUAL (fx_count_agent (fx, "b", TPC_MSG_OUTCOME_OF), 1);
    tpc_msg_t *m = m_new (TPC_MSG_RESOLVE, 1, gid);
    m->outcome = TPC_OUTCOME_ABORTED;
    tpc_msg_set_str (&m->reason, "test");
    fx_client (fx, C2, m);
    CU_ASSERT_PTR_NOT_NULL (fx_find_log (fx, TPC_REC_HEURISTIC, gid));
    fx_clear (fx);
    fx_agent (fx, "b", m_known (gid, TPC_P3_COMMITTED));
    CU_ASSERT_PTR_NULL (fx_find_log (fx, TPC_REC_COMMIT, gid));
    CU_ASSERT_EQUAL (fx_count_agent (fx, NULL, TPC_MSG_DECIDE), 0);
    const tpc_msg_t *o = fx_find_agent (fx, "a", TPC_MSG_ANSWER);
    CU_ASSERT (o && o->outcome == TPC_OUTCOME_IN_PROGRESS);
    fx_durable (fx);
    o = fx_reply (fx, C2, 1);
    CU_ASSERT (o && o->type == TPC_MSG_OUTCOME
               && o->outcome == TPC_OUTCOME_ABORTED);
    CU_ASSERT_EQUAL (fx_query (fx, "a", gid), TPC_OUTCOME_ABORTED);
    CU_ASSERT_PTR_NULL (fx_find_log (fx, TPC_REC_COMMIT, gid));
    fx_destroy (&fx);

    /* durable before b answers: a is answered the resolve's outcome */
    fx = fx_new_lost_tail ();
    fx_clear (fx);
    fx_agent (fx, "a", m_new (TPC_MSG_QUERY, 0, gid));
    o = fx_resolve (fx, 1, gid, TPC_OUTCOME_COMMITTED);
    CU_ASSERT (o && o->type == TPC_MSG_OUTCOME);
    o = fx_find_agent (fx, "a", TPC_MSG_ANSWER);
    CU_ASSERT (o && o->outcome == TPC_OUTCOME_COMMITTED);
    fx_clear (fx);
    fx_agent (fx, "b", m_known (gid, TPC_P3_COMMITTED));
    CU_ASSERT_EQUAL (fx->n, 0);
    CU_ASSERT_PTR_NULL (fx_find_log (fx, TPC_REC_COMMIT, gid));
    fx_destroy (&fx);
}

/*  The lost COMMIT may be the only record naming c: a record of the cut
 *  tail makes c known, so a's query waits for c instead of presuming
 *  abort, and c's "committed" commits it everywhere.                     */
static void
test_presumed_abort_cut_names (void)
{
    const char *gid = "tpc_c1_1_5";
    coord_engine_config_t cfg = { .coord_id = "c1" };
    fx_t *fx = fx_new_cfg (&cfg);
    tpc_record_t ep = { .type = TPC_REC_EPOCH, .epoch = 1 };
    CU_ASSERT_EQUAL (coord_engine_replay (fx->e, &ep), 0);
    CU_ASSERT_EQUAL (coord_engine_note_cut (fx->e, rec_commit (gid, "a",
                                                               "c")), 0);
    CU_ASSERT_EQUAL (coord_engine_start (fx->e, 2, fx->now), 0);
    CU_ASSERT_EQUAL (coord_engine_note_cut (fx->e, rec_commit (gid, "a",
                                                               "c")),
                     TPC_ESTATE);
    fx_drain (fx);
    fx_advance (fx, 2000);
    fx_agent (fx, "a", m_hello ("a"));
    CU_ASSERT_EQUAL (fx_query (fx, "a", gid), TPC_OUTCOME_IN_PROGRESS);
    fx_agent (fx, "c", m_hello ("c"));
    fx_clear (fx);
    fx_agent (fx, "a", m_new (TPC_MSG_QUERY, 0, gid));
    CU_ASSERT_EQUAL (fx_count_agent (fx, "c", TPC_MSG_OUTCOME_OF), 1);
    fx_agent (fx, "c", m_known (gid, TPC_P3_COMMITTED));
    const fx_rec_t *c = fx_find_log (fx, TPC_REC_COMMIT, gid);
    CU_ASSERT_PTR_NOT_NULL_FATAL (c);
    CU_ASSERT (c->forced);
    CU_ASSERT_STRING_EQUAL (c->parts, "a,c");
    fx_durable (fx);
    CU_ASSERT_EQUAL (fx_count_agent (fx, "a", TPC_MSG_DECIDE), 1);
    CU_ASSERT_EQUAL (fx_query (fx, "a", gid), TPC_OUTCOME_COMMITTED);
    fx_destroy (&fx);
}

/*  A yes vote for a gid of an earlier boot with no record is not told
 *  "aborted" at once: that would skip the check with the other agents
 *  (the agent's own query goes through it).  One of this boot presumed
 *  aborted still is.                                                     */
static void
test_presumed_abort_yes_vote (void)
{
    const char *gid = "tpc_c1_1_5";
    fx_t *fx = fx_new_lost_tail ();
    fx_clear (fx);
    fx_agent (fx, "a", m_vote (gid, TPC_VOTE_YES, NULL));
    CU_ASSERT_EQUAL (fx_count_agent (fx, NULL, TPC_MSG_DECIDE), 0);
    CU_ASSERT_EQUAL (fx_count_agent (fx, NULL, TPC_MSG_ANSWER), 0);
    /* its query asks b, which committed it: committed */
    fx_agent (fx, "a", m_new (TPC_MSG_QUERY, 0, gid));
    fx_agent (fx, "b", m_known (gid, TPC_P3_COMMITTED));
    fx_durable (fx);
    CU_ASSERT_EQUAL (fx_query (fx, "a", gid), TPC_OUTCOME_COMMITTED);
    fx_destroy (&fx);
}

/*  The txstatus reply to the status request RID of client CID, or NULL
 *  (printed when REASON is wanted and absent).                           */
static const tpc_msg_t *
fx_txstatus (fx_t *fx, const uint8_t *cid, uint64_t rid)
{
    const tpc_msg_t *r = fx_reply (fx, cid, rid);
    if (r && r->type != TPC_MSG_TXSTATUS) {
        fprintf (stderr, "\nstatus %" PRIu64 ": %s %s\n", rid,
                 tpc_msg_type_name (r->type), r->message ? r->message : "");
        return NULL;
    }
    if (r)
        fprintf (stderr, "\nstatus %" PRIu64 ": %s %s: %s\n", rid,
                 tpc_outcome_name (r->outcome), r->state,
                 r->reason ? r->reason : "(no reason)");
    return r;
}

/*  A status of a gid of an earlier boot with no record (a coordinator
 *  crash before the decision) waits for the agents' check of their
 *  markers and says how it knows: aborted when every known agent says
 *  not committed, a forced COMMIT when one says committed, in_progress
 *  with the reason otherwise.                                            */
static void
test_status_checked (void)
{
    const char *gid = "tpc_c1_1_5";
    /* every agent answers not committed: aborted, nothing logged */
    fx_t *fx = fx_new_lost_tail ();
    fx_clear (fx);
    fx_client (fx, C1, m_new (TPC_MSG_STATUS, 1, gid));
    CU_ASSERT_EQUAL (fx_count_client (fx), 0);
    CU_ASSERT_EQUAL (fx_count_agent (fx, "a", TPC_MSG_OUTCOME_OF), 1);
    CU_ASSERT_EQUAL (fx_count_agent (fx, "b", TPC_MSG_OUTCOME_OF), 1);
    /* a second status joins the round */
    fx_client (fx, C2, m_new (TPC_MSG_STATUS, 2, gid));
    CU_ASSERT_EQUAL (fx_count_agent (fx, "b", TPC_MSG_OUTCOME_OF), 1);
    fx_agent (fx, "a", m_known (gid, TPC_P3_ABORTED));
    CU_ASSERT_EQUAL (fx_count_client (fx), 0);
    fx_agent (fx, "b", m_known (gid, TPC_P3_UNCERTAIN));
    const tpc_msg_t *r = fx_txstatus (fx, C1, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL (r);
    CU_ASSERT_EQUAL (r->outcome, TPC_OUTCOME_ABORTED);
    CU_ASSERT_STRING_EQUAL (r->state, "no_record");
    CU_ASSERT (r->reason && strstr (r->reason, "no participant's marker says "
                                    "committed (checked with a, b; "));
    r = fx_txstatus (fx, C2, 2);
    CU_ASSERT (r && r->outcome == TPC_OUTCOME_ABORTED);
    CU_ASSERT_EQUAL (fx->nlog, 0);
    fx_destroy (&fx);

    /* b's marker says committed: the forced COMMIT path of a query; the
     * status says so, and is committed once the record is durable */
    fx = fx_new_lost_tail ();
    fx_clear (fx);
    fx_client (fx, C1, m_new (TPC_MSG_STATUS, 1, gid));
    fx_agent (fx, "b", m_known (gid, TPC_P3_COMMITTED));
    const fx_rec_t *c = fx_find_log (fx, TPC_REC_COMMIT, gid);
    CU_ASSERT_PTR_NOT_NULL_FATAL (c);
    CU_ASSERT (c->forced);
    CU_ASSERT_STRING_EQUAL (c->parts, "b");
    r = fx_txstatus (fx, C1, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL (r);
    CU_ASSERT_EQUAL (r->outcome, TPC_OUTCOME_IN_PROGRESS);
    CU_ASSERT (r->reason && strstr (r->reason, "marker on 'b' says "
                                    "committed"));
    CU_ASSERT_EQUAL (fx_count_agent (fx, NULL, TPC_MSG_DECIDE), 0);
    fx_durable (fx);
    CU_ASSERT_EQUAL (fx_count_agent (fx, "b", TPC_MSG_DECIDE), 1);
    CU_ASSERT_EQUAL (fx_status (fx, gid, NULL, 0), TPC_OUTCOME_COMMITTED);
    fx_destroy (&fx);

    /* b silent: in_progress at the round's deadline, saying who */
    fx = fx_new_lost_tail ();
    fx_clear (fx);
    fx_client (fx, C1, m_new (TPC_MSG_STATUS, 1, gid));
    fx_agent (fx, "a", m_known (gid, TPC_P3_ABORTED));
    fx_agent (fx, "a", m_hello ("a"));
    fx_agent (fx, "b", m_hello ("b"));
    fx_advance (fx, 2999);
    CU_ASSERT_EQUAL (fx_count_client (fx), 0);
    fx_advance (fx, 1);
    r = fx_txstatus (fx, C1, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL (r);
    CU_ASSERT_EQUAL (r->outcome, TPC_OUTCOME_IN_PROGRESS);
    CU_ASSERT (r->reason && strstr (r->reason, "'b' did not answer"));
    /* a query joins a status's round: both hear the same */
    fx_clear (fx);
    fx_client (fx, C1, m_new (TPC_MSG_STATUS, 2, gid));
    fx_agent (fx, "a", m_new (TPC_MSG_QUERY, 0, gid));
    fx_agent (fx, "b", m_known (gid, TPC_P3_ABORTED));
    r = fx_txstatus (fx, C1, 2);
    CU_ASSERT (r && r->outcome == TPC_OUTCOME_ABORTED);
    r = fx_find_agent (fx, "a", TPC_MSG_ANSWER);
    CU_ASSERT (r && r->outcome == TPC_OUTCOME_ABORTED);
    fx_destroy (&fx);

    /* c, named in the log, is down: in_progress, saying so */
    fx = fx_new_c_down ();
    fx_clear (fx);
    fx_client (fx, C1, m_new (TPC_MSG_STATUS, 1, gid));
    fx_agent (fx, "a", m_known (gid, TPC_P3_ABORTED));
    fx_agent (fx, "b", m_known (gid, TPC_P3_ABORTED));
    r = fx_txstatus (fx, C1, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL (r);
    CU_ASSERT_EQUAL (r->outcome, TPC_OUTCOME_IN_PROGRESS);
    CU_ASSERT (r->reason && strstr (r->reason, "'c' is not connected"));
    fx_destroy (&fx);

    /* right after the start: in_progress at once, nobody asked */
    coord_engine_config_t cfg = { .coord_id = "c1" };
    fx = fx_new_cfg (&cfg);
    tpc_record_t ep = { .type = TPC_REC_EPOCH, .epoch = 1 };
    CU_ASSERT_EQUAL (coord_engine_replay (fx->e, &ep), 0);
    CU_ASSERT_EQUAL (coord_engine_start (fx->e, 2, fx->now), 0);
    fx_drain (fx);
    fx_hellos (fx, AB);
    fx_client (fx, C1, m_new (TPC_MSG_STATUS, 1, gid));
    r = fx_txstatus (fx, C1, 1);
    CU_ASSERT (r && r->outcome == TPC_OUTCOME_IN_PROGRESS);
    CU_ASSERT_EQUAL (fx_count_agent (fx, NULL, TPC_MSG_OUTCOME_OF), 0);
    fx_destroy (&fx);
}

/*  The list entry of GID (list request RID from C2), or NULL.           */
static const tpc_txinfo_t *
fx_list_entry (fx_t *fx, uint64_t rid, const char *gid)
{
    fx_client (fx, C2, m_new (TPC_MSG_LIST, rid, NULL));
    const tpc_msg_t *r = fx_reply (fx, C2, rid);
    CU_ASSERT_PTR_NOT_NULL_FATAL (r);
    for (size_t i = 0; i < r->ntxns; i++)
        if (!strcmp (r->txns[i].gid, gid))
            return &r->txns[i];
    return NULL;
}

/*  A transaction aborted because an agent is down, where nothing was
 *  prepared on it, ends once the reachable participants acked: it is not
 *  left "aborting" (in flight) for as long as the agent is down; the
 *  down agent gets its decide(aborted) at its next hello.  A yes voter
 *  that is down is still waited for.  list names whom it waits for.     */
static void
test_abort_agent_down (void)
{
    fx_t *fx = fx_new ();
    fx_hellos (fx, AB);
    fx_client (fx, C1, m_new (TPC_MSG_BEGIN, 1, NULL));
    char gid[TPC_GID_MAX];
    snprintf (gid, sizeof gid, "%s", fx_reply (fx, C1, 1)->gid);
    fx_client (fx, C1, m_exec (2, gid, "a", "UPDATE t SET x = 1"));
    const tpc_txinfo_t *e = fx_list_entry (fx, 3, gid);
    CU_ASSERT_PTR_NOT_NULL_FATAL (e);
    CU_ASSERT (e->nwaiting == 1 && !strcmp (e->waiting[0], "a"));
    fx_agent (fx, "a", m_worked (gid, 1, true, NULL));
    fx_client (fx, C1, m_exec (4, gid, "b", "UPDATE t SET x = 1"));
    fx_agent (fx, "b", m_worked (gid, 1, true, NULL));
    /* b goes down; the commit aborts it (nothing prepared anywhere) */
    CU_ASSERT_EQUAL (coord_engine_agent_gone (fx->e, "b", fx->now),
                     0);
    fx_clear (fx);
    fx_client (fx, C1, m_new (TPC_MSG_COMMIT, 5, gid));
    const tpc_msg_t *r = fx_reply (fx, C1, 5);
    CU_ASSERT (r && r->outcome == TPC_OUTCOME_ABORTED);
    CU_ASSERT_EQUAL (fx_count_agent (fx, "a", TPC_MSG_DECIDE), 1);
    CU_ASSERT_EQUAL (fx_count_agent (fx, "b", TPC_MSG_DECIDE), 0);
    e = fx_list_entry (fx, 6, gid);
    CU_ASSERT_PTR_NOT_NULL_FATAL (e);
    CU_ASSERT_STRING_EQUAL (e->state, "aborting");
    CU_ASSERT (e->nwaiting == 1 && !strcmp (e->waiting[0], "a"));
    /* a acks: ended, though b never did; status says so */
    fx_clear (fx);
    fx_agent (fx, "a", m_ack (gid, TPC_OUTCOME_ABORTED));
    CU_ASSERT_EQUAL (fx_count_ended (fx, TPC_OUTCOME_ABORTED), 1);
    CU_ASSERT_EQUAL (coord_engine_live (fx->e), 0);
    CU_ASSERT_PTR_NULL (fx_list_entry (fx, 7, gid));
    char state[32];
    CU_ASSERT_EQUAL (fx_status (fx, gid, state, sizeof state),
                     TPC_OUTCOME_ABORTED);
    CU_ASSERT_STRING_EQUAL (state, "ended");
    /* b back: its open work is told to roll back, once */
    fx_agent (fx, "b", m_hello ("b"));
    r = fx_find_agent (fx, "b", TPC_MSG_DECIDE);
    CU_ASSERT (r && !strcmp (r->gid, gid)
               && r->outcome == TPC_OUTCOME_ABORTED);
    CU_ASSERT_EQUAL (fx_query (fx, "b", gid), TPC_OUTCOME_ABORTED);
    fx_agent (fx, "b", m_ack (gid, TPC_OUTCOME_ABORTED));     /* stale */
    CU_ASSERT_EQUAL (coord_engine_agent_gone (fx->e, "b", fx->now),
                     0);
    fx_clear (fx);
    fx_agent (fx, "b", m_hello ("b"));
    CU_ASSERT_EQUAL (fx_count_agent (fx, "b", TPC_MSG_DECIDE), 0);

    /* submit: b asked to prepare, down before it voted (its vote may be
     * lost): not waited for either; a, a yes voter, is */
    const char *g2 = fx_submit (fx, 10, AB);
    char gid2[TPC_GID_MAX];
    snprintf (gid2, sizeof gid2, "%s", g2);
    fx_agent (fx, "a", m_vote (gid2, TPC_VOTE_YES, NULL));
    CU_ASSERT_EQUAL (coord_engine_agent_gone (fx->e, "b", fx->now),
                     0);
    fx_advance (fx, 10000);                 /* the vote timeout */
    r = fx_reply (fx, C1, 10);
    CU_ASSERT (r && r->outcome == TPC_OUTCOME_ABORTED);
    CU_ASSERT_PTR_NOT_NULL (fx_find_log (fx, TPC_REC_ABORT, gid2));
    e = fx_list_entry (fx, 11, gid2);
    CU_ASSERT_PTR_NOT_NULL_FATAL (e);
    CU_ASSERT (e->nwaiting == 1 && !strcmp (e->waiting[0], "a"));
    fx_agent (fx, "a", m_ack (gid2, TPC_OUTCOME_ABORTED));
    CU_ASSERT_EQUAL (coord_engine_live (fx->e), 0);
    CU_ASSERT_EQUAL (fx_query (fx, "b", gid2), TPC_OUTCOME_ABORTED);

    /* a yes voter that is down is waited for, until the linger passes */
    fx_agent (fx, "b", m_hello ("b"));
    g2 = fx_submit (fx, 20, AB);
    snprintf (gid2, sizeof gid2, "%s", g2);
    fx_agent (fx, "a", m_vote (gid2, TPC_VOTE_YES, NULL));
    CU_ASSERT_EQUAL (coord_engine_agent_gone (fx->e, "a", fx->now),
                     0);
    fx_agent (fx, "b", m_vote (gid2, TPC_VOTE_NO, "no"));
    e = fx_list_entry (fx, 21, gid2);
    CU_ASSERT_PTR_NOT_NULL_FATAL (e);
    CU_ASSERT_STRING_EQUAL (e->state, "aborting");
    CU_ASSERT (e->nwaiting == 1 && !strcmp (e->waiting[0], "a"));
    fx_advance (fx, 60000);
    CU_ASSERT_EQUAL (coord_engine_live (fx->e), 0);
    fx_clear (fx);
    fx_agent (fx, "a", m_hello ("a"));
    r = fx_find_agent (fx, "a", TPC_MSG_DECIDE);
    CU_ASSERT (r && !strcmp (r->gid, gid2)
               && r->outcome == TPC_OUTCOME_ABORTED);
    fx_destroy (&fx);
}

/*  The operator console's view (coord_view.c) and "retry now": votes and
 *  acks with their times, the in-doubt and waiting flags, the agents'
 *  prepared gids from their hellos against the log, resolves; a retry
 *  resends the decision at once only when one is waiting to be resent. */
static void
test_console_view_retry (void)
{
    fx_t *fx = fx_new ();
    fx_hellos (fx, AB);
    const char *g = fx_submit (fx, 1, AB);
    char gid[TPC_GID_MAX], why[256];
    snprintf (gid, sizeof gid, "%s", g);
    CU_ASSERT_EQUAL (coord_engine_retry (fx->e, gid, fx->now, why,
                                         sizeof why), TPC_ESTATE);
    CU_ASSERT_EQUAL (coord_engine_retry (fx->e, "tpc_c1_1_99", fx->now, why,
                                         sizeof why), TPC_EUNKNOWN_GID);
    fx->now += 5;
    fx_agent (fx, "a", m_vote (gid, TPC_VOTE_YES, NULL));
    fx->now += 5;
    fx_agent (fx, "b", m_vote (gid, TPC_VOTE_YES, NULL));
    fx_durable (fx);
    fx->now += 5;
    fx_agent (fx, "a", m_ack (gid, TPC_OUTCOME_COMMITTED));
    /* a's hello lists the gid and one this coordinator never logged */
    tpc_msg_t *h = m_hello ("a");
    tpc_msg_strv_push (&h->gids, &h->ngids, gid);
    tpc_msg_strv_push (&h->gids, &h->ngids, "tpc_c1_1_77");
    tpc_msg_strv_push (&h->gids, &h->ngids, "tpc_other_1_1");
    fx_agent (fx, "a", h);

    coord_view_t *v = coord_engine_view (fx->e, 10, fx->now + 100);
    CU_ASSERT_PTR_NOT_NULL_FATAL (v);
    CU_ASSERT_EQUAL (v->live, 1);
    CU_ASSERT_EQUAL_FATAL (v->ntxns, 1);
    coord_view_txn_t *t = &v->txns[0];
    CU_ASSERT_STRING_EQUAL (t->gid, gid);
    CU_ASSERT_STRING_EQUAL (t->state, "committing");
    CU_ASSERT_EQUAL (t->outcome, TPC_OUTCOME_COMMITTED);
    CU_ASSERT (t->in_doubt && t->waiting && t->backoff);
    CU_ASSERT_EQUAL (t->age_ms, 115);
    CU_ASSERT_EQUAL_FATAL (t->nparts, 2);
    CU_ASSERT_EQUAL (t->parts[0].vote, TPC_VOTE_YES);
    CU_ASSERT_EQUAL (t->parts[0].vote_at, 5);
    CU_ASSERT_EQUAL (t->parts[1].vote_at, 10);
    CU_ASSERT (t->parts[0].acked && !t->parts[1].acked);
    CU_ASSERT_EQUAL (t->parts[0].ack_at, 15);
    CU_ASSERT_EQUAL (t->parts[1].ack_at, COORD_NEVER);
    CU_ASSERT (t->parts[1].waiting);
    CU_ASSERT_EQUAL (t->durable_at, 10);
    CU_ASSERT_EQUAL (t->aborted_at, COORD_NEVER);
    CU_ASSERT_EQUAL (v->stats.in_doubt, 1);
    CU_ASSERT_EQUAL_FATAL (v->nagents, 2);
    for (size_t i = 0; i < v->nagents; i++) {
        coord_view_agent_t *a = &v->agents[i];
        CU_ASSERT_EQUAL (a->in_flight, 1);
        if (strcmp (a->name, "a"))
            continue;
        CU_ASSERT (a->connected);
        CU_ASSERT_EQUAL (a->nprepared, 3);
        CU_ASSERT_EQUAL_FATAL (a->nunknown, 1);
        CU_ASSERT_STRING_EQUAL (a->unknown[0], "tpc_c1_1_77");
        CU_ASSERT_EQUAL_FATAL (a->ndecided, 1);
        CU_ASSERT_STRING_EQUAL (a->decided[0], gid);
        CU_ASSERT_EQUAL (a->prepared_ago_ms, 100);
    }
    coord_view_destroy (&v);
    coord_view_destroy (&v);
    CU_ASSERT_PTR_NULL (v);

    /* retry now: the decide goes to b again at once, not to a (acked) */
    fx_clear (fx);
    CU_ASSERT_EQUAL (coord_engine_retry (fx->e, gid, fx->now, why,
                                         sizeof why), 0);
    fx_drain (fx);
    CU_ASSERT_EQUAL (fx_count_agent (fx, "b", TPC_MSG_DECIDE), 1);
    CU_ASSERT_EQUAL (fx_count_agent (fx, "a", TPC_MSG_DECIDE), 0);

    /* b acks: the transaction ends, nothing left to retry */
    fx_agent (fx, "b", m_ack (gid, TPC_OUTCOME_COMMITTED));
    CU_ASSERT_EQUAL (coord_engine_retry (fx->e, gid, fx->now, why,
                                         sizeof why), TPC_EUNKNOWN_GID);
    CU_ASSERT (strstr (why, "not a live transaction") != NULL);
    v = coord_engine_view (fx->e, 10, fx->now);
    CU_ASSERT_PTR_NOT_NULL_FATAL (v);
    CU_ASSERT_EQUAL (v->ntxns, 0);
    CU_ASSERT_EQUAL (v->stats.committed, 1);
    coord_view_destroy (&v);
    fx_destroy (&fx);
}

static const tpc_test_case_t s_cases[] = {
    { "two_phase_commit", test_two_phase_commit },
    { "reply_on_decision", test_reply_on_decision },
    { "ack_wait", test_ack_wait },
    { "one_phase", test_one_phase },
    { "one_phase_no_ack", test_one_phase_no_ack },
    { "no_onephase", test_no_onephase },
    { "readonly", test_readonly },
    { "vote_no", test_vote_no },
    { "vote_timeout", test_vote_timeout },
    { "txn_timeout", test_txn_timeout },
    { "query_answers", test_query_answers },
    { "replay_restart", test_replay_restart },
    { "resend_backoff", test_resend_backoff },
    { "stale_and_duplicates", test_stale_and_duplicates },
    { "interactive", test_interactive },
    { "worked_failure_dooms", test_worked_failure_dooms },
    { "rollback", test_rollback },
    { "send_failed", test_send_failed },
    { "bad_requests", test_bad_requests },
    { "many_concurrent", test_many_concurrent },
    { "many_timeouts", test_many_timeouts },
    { "p3_commit", test_p3_commit },
    { "p3_missing_peer", test_p3_missing_peer },
    { "p3_vote_no", test_p3_vote_no },
    { "p3_state_aborted", test_p3_state_aborted },
    { "p3_state_committed", test_p3_state_committed },
    { "p3_silence", test_p3_silence },
    { "p3_replay", test_p3_replay },
    { "p3_default_and_paths", test_p3_default_and_paths },
    { "agent_restart", test_agent_restart },
    { "p3_agent_restart", test_p3_agent_restart },
    { "resolve_unissued", test_resolve_unissued },
    { "resolve_log_heuristic_no_collision",
      test_resolve_log_heuristic_no_collision },
    { "two_commits_two_replies", test_two_commits_two_replies },
    { "presumed_abort_checked", test_presumed_abort_checked },
    { "presumed_abort_unsure", test_presumed_abort_unsure },
    { "presumed_abort_resolvable", test_presumed_abort_resolvable },
    { "presumed_abort_resolve_in_round",
      test_presumed_abort_resolve_in_round },
    { "presumed_abort_cut_names", test_presumed_abort_cut_names },
    { "presumed_abort_yes_vote", test_presumed_abort_yes_vote },
    { "status_checked", test_status_checked },
    { "abort_agent_down", test_abort_agent_down },
    { "console_view_retry", test_console_view_retry },
    { NULL, NULL }
};

int
main (void)
{
    const tpc_test_suite_t suites[] = {
        { "coord_engine", NULL, NULL, s_cases },
        { NULL, NULL, NULL, NULL }
    };
    return tpc_test_main ("test_coord_engine", suites);
}
