/*  test_ops: limits, `resolve --force` and `status` (operations).
 *
 *  Engine suite (pure, scripted like test_coord_engine): each limit gives
 *  its error and changes nothing else; resolve is refused while the
 *  coordinator drives a gid or when it contradicts a decision, takes
 *  effect only once its HEURISTIC record is durable, survives replay and
 *  checkpoints; the summary counts.
 *
 *  Daemon suite (real processes, two throwaway PostgreSQL clusters, CURVE
 *  keys): a coordinator with small limits refuses each bound with its
 *  error and keeps serving (a transfer commits after each); then a
 *  transaction is made stuck on purpose (the coordinator dies right after
 *  its COMMIT is durable and its disk is "lost": a replacement coordinator
 *  with a new id and an empty log takes over the endpoints and answers the
 *  agents' queries in_progress forever), and `tpcctl resolve ... --force`
 *  with an admin key settles it: both databases commit, `tpcctl show`
 *  says heuristic, the log holds the HEURISTIC record, and a restart keeps
 *  it.  A resolve of a gid cB has not issued yet is refused, and the
 *  begin that gets that gid next rolls back with no heuristic.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "coord_engine.h"
#include "tpc_client.h"
#include "tpc_curve.h"
#include "tpc_error.h"
#include "tpc_harness.h"
#include "tpc_log.h"
#include "tpc_record.h"
#include "tpc_test.h"

/* =====================================================================
 *  Engine suite
 */

typedef struct {
    coord_engine_t *e;
    uint64_t now;
    tpc_msg_t *client[64];      /* replies to clients, in order */
    size_t nclient;
    tpc_msg_t *agent[64];       /* messages to agents */
    char agent_to[64][TPC_RECORD_NAME_MAX];
    size_t nagent;
    tpc_record_t log[64];       /* appended records */
    bool forced[64];
    size_t nlog;
    uint64_t ticket;            /* highest forced ticket */
} ex_t;

static const uint8_t K1[] = { 0, 'k', '1' };

static void
ex_clear (ex_t *x)
{
    for (size_t i = 0; i < x->nclient; i++)
        tpc_msg_destroy (&x->client[i]);
    for (size_t i = 0; i < x->nagent; i++)
        tpc_msg_destroy (&x->agent[i]);
    x->nclient = x->nagent = 0;
}

static void
ex_drain (ex_t *x)
{
    coord_action_t a;
    while (coord_engine_pop (x->e, &a)) {
        if (a.type == COORD_ACT_CLIENT && x->nclient < 64) {
            x->client[x->nclient++] = a.msg;
            a.msg = NULL;
        }
        else if (a.type == COORD_ACT_AGENT && x->nagent < 64) {
            snprintf (x->agent_to[x->nagent], TPC_RECORD_NAME_MAX, "%s",
                      a.agent);
            x->agent[x->nagent++] = a.msg;
            a.msg = NULL;
        }
        else if (a.type == COORD_ACT_APPEND && x->nlog < 64) {
            x->forced[x->nlog] = a.forced;
            x->log[x->nlog++] = *a.rec;
            if (a.forced)
                x->ticket = a.ticket;
        }
        coord_action_clear (&a);
    }
}

static ex_t *
ex_new (const coord_engine_config_t *cfg, bool start)
{
    ex_t *x = calloc (1, sizeof *x);
    coord_engine_config_t c = cfg ? *cfg : (coord_engine_config_t) { 0 };
    c.coord_id = "c1";
    x->e = coord_engine_new (&c);
    CU_ASSERT_PTR_NOT_NULL_FATAL (x->e);
    x->now = 5000000;
    if (start) {
        CU_ASSERT_EQUAL (coord_engine_start (x->e, 2, x->now), 0);
        ex_drain (x);
    }
    return x;
}

static void
ex_destroy (ex_t **x_p)
{
    ex_t *x = *x_p;
    ex_clear (x);
    coord_engine_destroy (&x->e);
    free (x);
    *x_p = NULL;
}

/*  A client request of TYPE (GID may be NULL) from owner OWNER.          */
static const tpc_msg_t *
ex_req (ex_t *x, const char *owner, tpc_msg_type_t type, const char *gid,
        tpc_outcome_t outcome)
{
    tpc_msg_t *m = tpc_msg_new (type);
    m->rid = 77;
    if (gid)
        tpc_msg_set_str (&m->gid, gid);
    m->outcome = outcome;
    ex_clear (x);
    CU_ASSERT_EQUAL (coord_engine_client_as (x->e, K1, sizeof K1, owner, m,
                                             x->now), 0);
    tpc_msg_destroy (&m);
    ex_drain (x);
    return x->nclient ? x->client[x->nclient - 1] : NULL;
}

static void
ex_agent (ex_t *x, const char *name, tpc_msg_type_t type, const char *gid,
          tpc_outcome_t outcome, tpc_vote_t vote)
{
    tpc_msg_t *m = tpc_msg_new (type);
    if (type == TPC_MSG_HELLO)
        tpc_msg_set_str (&m->name, name);
    if (gid)
        tpc_msg_set_str (&m->gid, gid);
    m->outcome = outcome;
    m->vote = vote;
    ex_clear (x);
    CU_ASSERT_EQUAL (coord_engine_agent (x->e, name, m, x->now), 0);
    tpc_msg_destroy (&m);
    ex_drain (x);
}

static int
ex_code (const tpc_msg_t *m)
{
    return m && m->type == TPC_MSG_ERROR ? m->code : 0;
}

static void
ex_replay (ex_t *x, tpc_rec_type_t type, const char *gid, const char *parts,
           uint8_t outcome, const char *reason)
{
    tpc_record_t r;
    memset (&r, 0, sizeof r);
    r.type = type;
    r.epoch = 1;
    snprintf (r.gid, sizeof r.gid, "%s", gid ? gid : "");
    for (const char *p = parts; p && *p;) {
        size_t n = strcspn (p, ",");
        snprintf (r.parts[r.nparts++], TPC_RECORD_NAME_MAX, "%.*s", (int) n,
                  p);
        p += n + (p[n] == ',');
    }
    r.outcome = outcome;
    snprintf (r.reason, sizeof r.reason, "%s", reason ? reason : "");
    CU_ASSERT_EQUAL (coord_engine_replay (x->e, &r), 0);
}

static void
test_engine_limits (void)
{
    coord_engine_config_t cfg = { .max_stmts = 2, .max_txns = 4,
                                  .max_txns_per_client = 2,
                                  .max_result_rows = 3 };
    ex_t *x = ex_new (&cfg, true);
    ex_agent (x, "a", TPC_MSG_HELLO, NULL, 0, 0);
    /* statements per transaction: a submit of 3 */
    tpc_msg_t *m = tpc_msg_new (TPC_MSG_SUBMIT);
    for (int i = 0; i < 3; i++)
        tpc_msg_add_stmt (m, "a", "UPDATE t SET x = 1", 0, NULL);
    ex_clear (x);
    coord_engine_client_as (x->e, K1, sizeof K1, "k1", m, x->now);
    tpc_msg_destroy (&m);
    ex_drain (x);
    CU_ASSERT_EQUAL (ex_code (x->client[0]), TPC_ELIMIT);
    CU_ASSERT_EQUAL (x->nagent, 0);                  /* nothing ran */
    CU_ASSERT_EQUAL (coord_engine_live (x->e), 0);
    /* ... and execs of an interactive one: the third is refused, the
     * transaction stays open */
    const tpc_msg_t *r = ex_req (x, "k1", TPC_MSG_BEGIN, NULL, 0);
    CU_ASSERT_EQUAL_FATAL (r->type, TPC_MSG_BEGUN);
    char gid[TPC_GID_MAX];
    snprintf (gid, sizeof gid, "%s", r->gid);
    for (int i = 0; i < 3; i++) {
        m = tpc_msg_new (TPC_MSG_EXEC);
        tpc_msg_set_str (&m->gid, gid);
        tpc_msg_set_str (&m->on, "a");
        tpc_msg_set_str (&m->sql, i == 2 ? "SELECT 3" : "UPDATE t SET x=1");
        ex_clear (x);
        coord_engine_client_as (x->e, K1, sizeof K1, "k1", m, x->now);
        tpc_msg_destroy (&m);
        ex_drain (x);
        if (i < 2) {
            CU_ASSERT_EQUAL (x->nagent, 1);
            tpc_msg_t *w = tpc_msg_new (TPC_MSG_WORKED);
            tpc_msg_set_str (&w->gid, gid);
            w->seq = x->agent[0]->seq;
            w->ok = true;
            ex_clear (x);
            coord_engine_agent (x->e, "a", w, x->now);
            tpc_msg_destroy (&w);
            ex_drain (x);
            CU_ASSERT_EQUAL (x->client[0]->type, TPC_MSG_RESULT);
        }
        else {
            CU_ASSERT_EQUAL (ex_code (x->client[0]), TPC_ELIMIT);
            CU_ASSERT_EQUAL (x->nagent, 0);
        }
    }
    CU_ASSERT_EQUAL (coord_engine_live (x->e), 1);
    /* transactions per client: k1 has 1, may open 1 more; k2 is apart */
    CU_ASSERT_EQUAL (ex_req (x, "k1", TPC_MSG_BEGIN, NULL, 0)->type,
                     TPC_MSG_BEGUN);
    r = ex_req (x, "k1", TPC_MSG_BEGIN, NULL, 0);
    CU_ASSERT_EQUAL (ex_code (r), TPC_EBUSY);
    CU_ASSERT (strstr (r->message, "per client") != NULL);
    CU_ASSERT_EQUAL (ex_req (x, "k2", TPC_MSG_BEGIN, NULL, 0)->type,
                     TPC_MSG_BEGUN);
    CU_ASSERT_EQUAL (ex_req (x, "k2", TPC_MSG_BEGIN, NULL, 0)->type,
                     TPC_MSG_BEGUN);
    /* in total: 4 */
    r = ex_req (x, "k3", TPC_MSG_BEGIN, NULL, 0);
    CU_ASSERT_EQUAL (ex_code (r), TPC_EBUSY);
    CU_ASSERT (strstr (r->message, "4 transactions in flight") != NULL);
    /* k1 rolls its first back: its budget has room again */
    CU_ASSERT_EQUAL (ex_req (x, "k1", TPC_MSG_ROLLBACK, gid, 0)->type,
                     TPC_MSG_OUTCOME);
    ex_agent (x, "a", TPC_MSG_ACK, gid, TPC_OUTCOME_ABORTED, 0);
    CU_ASSERT_EQUAL (ex_req (x, "k1", TPC_MSG_BEGIN, NULL, 0)->type,
                     TPC_MSG_BEGUN);
    /* result rows: 4 rows, over 3: error, and the transaction aborts */
    snprintf (gid, sizeof gid, "%s", x->client[0]->gid);
    m = tpc_msg_new (TPC_MSG_EXEC);
    tpc_msg_set_str (&m->gid, gid);
    tpc_msg_set_str (&m->on, "a");
    tpc_msg_set_str (&m->sql, "SELECT g FROM generate_series(1,4) g");
    ex_clear (x);
    coord_engine_client_as (x->e, K1, sizeof K1, "k1", m, x->now);
    tpc_msg_destroy (&m);
    ex_drain (x);
    tpc_msg_t *w = tpc_msg_new (TPC_MSG_WORKED);
    tpc_msg_set_str (&w->gid, gid);
    w->seq = x->agent[0]->seq;
    w->ok = true;
    const char *col[] = { "g" }, *cells[] = { "1", "2", "3", "4" };
    tpc_msg_set_rows (w, 1, col, 4, cells);
    w->affected = 4;
    ex_clear (x);
    coord_engine_agent (x->e, "a", w, x->now);
    tpc_msg_destroy (&w);
    ex_drain (x);
    CU_ASSERT_EQUAL (ex_code (x->client[0]), TPC_ELIMIT);
    CU_ASSERT (x->nagent == 1 && x->agent[0]->type == TPC_MSG_DECIDE
               && x->agent[0]->outcome == TPC_OUTCOME_ABORTED);
    r = ex_req (x, "k1", TPC_MSG_COMMIT, gid, 0);
    CU_ASSERT (r->type == TPC_MSG_OUTCOME
               && r->outcome == TPC_OUTCOME_ABORTED
               && strstr (r->reason, "over the limit") != NULL);
    ex_destroy (&x);
}

/*  A decided transaction whose phase 2 cannot end (a participant gone).  */
static void
test_engine_resolve_decided (void)
{
    const char *g = "tpc_c1_1_5";
    ex_t *x = ex_new (NULL, false);
    ex_replay (x, TPC_REC_EPOCH, NULL, NULL, 0, NULL);
    ex_replay (x, TPC_REC_COMMIT, g, "a,b", 0, NULL);
    CU_ASSERT_EQUAL (coord_engine_start (x->e, 2, x->now), 0);
    ex_drain (x);
    ex_agent (x, "a", TPC_MSG_HELLO, NULL, 0, 0);
    ex_agent (x, "b", TPC_MSG_HELLO, NULL, 0, 0);
    ex_agent (x, "a", TPC_MSG_ACK, g, TPC_OUTCOME_COMMITTED, 0);
    /* b is connected and owes an ack: the coordinator is driving */
    const tpc_msg_t *r = ex_req (x, NULL, TPC_MSG_RESOLVE, g,
                                 TPC_OUTCOME_COMMITTED);
    CU_ASSERT_EQUAL (ex_code (r), TPC_ESTATE);
    CU_ASSERT (strstr (r->message, "still driving") != NULL);
    CU_ASSERT_EQUAL (coord_engine_agent_gone (x->e, "b", x->now), 0);
    ex_drain (x);
    /* a contradiction is never accepted */
    r = ex_req (x, NULL, TPC_MSG_RESOLVE, g, TPC_OUTCOME_ABORTED);
    CU_ASSERT_EQUAL (ex_code (r), TPC_ESTATE);
    CU_ASSERT (strstr (r->message, "contradict") != NULL);
    size_t before = x->nlog;
    r = ex_req (x, NULL, TPC_MSG_RESOLVE, g, TPC_OUTCOME_COMMITTED);
    CU_ASSERT_PTR_NULL (r);                 /* no reply before durable */
    CU_ASSERT_EQUAL_FATAL (x->nlog, before + 1);
    CU_ASSERT (x->log[before].type == TPC_REC_HEURISTIC
               && x->forced[before] && x->log[before].outcome == 1
               && strstr (x->log[before].reason, "never acked: b"));
    /* still committing until the record is durable */
    r = ex_req (x, NULL, TPC_MSG_STATUS, g, 0);
    CU_ASSERT_STRING_EQUAL (r->state, "committing");
    ex_clear (x);
    CU_ASSERT_EQUAL (coord_engine_durable (x->e, x->ticket, x->now), 0);
    ex_drain (x);
    CU_ASSERT_EQUAL_FATAL (x->nclient, 1);
    CU_ASSERT (x->client[0]->type == TPC_MSG_OUTCOME
               && x->client[0]->outcome == TPC_OUTCOME_COMMITTED);
    CU_ASSERT_EQUAL (x->log[x->nlog - 1].type, TPC_REC_END);
    CU_ASSERT_EQUAL (coord_engine_live (x->e), 0);
    CU_ASSERT_EQUAL (coord_engine_unfinished (x->e), 0);
    r = ex_req (x, NULL, TPC_MSG_STATUS, g, 0);
    CU_ASSERT (!strcmp (r->state, "heuristic")
               && r->outcome == TPC_OUTCOME_COMMITTED);
    /* b comes back and asks: committed */
    ex_agent (x, "b", TPC_MSG_QUERY, g, 0, 0);
    CU_ASSERT (x->nagent == 1 && x->agent[0]->type == TPC_MSG_ANSWER
               && x->agent[0]->outcome == TPC_OUTCOME_COMMITTED);
    r = ex_req (x, NULL, TPC_MSG_SUMMARY, NULL, 0);
    CU_ASSERT (r->type == TPC_MSG_TXSUMMARY && r->heuristic == 1
               && r->in_doubt == 0 && r->committed == 1);
    ex_destroy (&x);
}

static void
test_engine_resolve_refusals (void)
{
    ex_t *x = ex_new (NULL, false);
    ex_replay (x, TPC_REC_EPOCH, NULL, NULL, 0, NULL);
    ex_replay (x, TPC_REC_COMMIT, "tpc_c1_1_2", "a", 0, NULL);
    ex_replay (x, TPC_REC_END, "tpc_c1_1_2", NULL, 0, NULL);
    CU_ASSERT_EQUAL (coord_engine_start (x->e, 2, x->now), 0);
    ex_drain (x);
    /* live and undecided */
    const tpc_msg_t *r = ex_req (x, NULL, TPC_MSG_BEGIN, NULL, 0);
    char gid[TPC_GID_MAX];
    snprintf (gid, sizeof gid, "%s", r->gid);
    r = ex_req (x, NULL, TPC_MSG_RESOLVE, gid, TPC_OUTCOME_ABORTED);
    CU_ASSERT_EQUAL (ex_code (r), TPC_ESTATE);
    CU_ASSERT (strstr (r->message, "still driving") != NULL);
    /* presumed abort (this coordinator's, no record) and a known end */
    r = ex_req (x, NULL, TPC_MSG_RESOLVE, "tpc_c1_1_3",
                TPC_OUTCOME_COMMITTED);
    CU_ASSERT_EQUAL (ex_code (r), TPC_ESTATE);
    CU_ASSERT (strstr (r->message, "presumed abort") != NULL);
    r = ex_req (x, NULL, TPC_MSG_RESOLVE, "tpc_c1_1_2", TPC_OUTCOME_ABORTED);
    CU_ASSERT_EQUAL (ex_code (r), TPC_ESTATE);
    CU_ASSERT_EQUAL (x->nlog, 0);                   /* nothing recorded */
    /* a gid it cannot decide: another coordinator's */
    r = ex_req (x, NULL, TPC_MSG_RESOLVE, "tpc_cX_4_4",
                TPC_OUTCOME_ABORTED);
    CU_ASSERT_PTR_NULL (r);
    uint64_t t = x->ticket;
    r = ex_req (x, NULL, TPC_MSG_RESOLVE, "tpc_cX_4_4",
                TPC_OUTCOME_ABORTED);
    CU_ASSERT_EQUAL (ex_code (r), TPC_EBUSY);       /* being written */
    ex_agent (x, "a", TPC_MSG_QUERY, "tpc_cX_4_4", 0, 0);
    CU_ASSERT (x->agent[0]->outcome == TPC_OUTCOME_IN_PROGRESS);
    ex_clear (x);
    coord_engine_durable (x->e, t, x->now);
    ex_drain (x);
    CU_ASSERT (x->nclient == 1 && x->client[0]->outcome
               == TPC_OUTCOME_ABORTED);
    ex_agent (x, "a", TPC_MSG_QUERY, "tpc_cX_4_4", 0, 0);
    CU_ASSERT (x->agent[0]->outcome == TPC_OUTCOME_ABORTED);
    /* the same again is answered; the opposite is refused */
    r = ex_req (x, NULL, TPC_MSG_RESOLVE, "tpc_cX_4_4",
                TPC_OUTCOME_ABORTED);
    CU_ASSERT (r && r->type == TPC_MSG_OUTCOME);
    r = ex_req (x, NULL, TPC_MSG_RESOLVE, "tpc_cX_4_4",
                TPC_OUTCOME_COMMITTED);
    CU_ASSERT_EQUAL (ex_code (r), TPC_ESTATE);
    CU_ASSERT (strstr (r->message, "already resolved") != NULL);
    ex_destroy (&x);
}

static int
s_count_rec (void *arg, const tpc_record_t *rec, size_t nacked)
{
    (void) nacked;
    int *n = arg;
    *n += rec->type == TPC_REC_HEURISTIC;
    return 0;
}

/*  Replay: an operator's HEURISTIC record is a decision (its gid is
 *  answered so, and a live COMMIT it settled is not driven again); one
 *  that records what an agent reported is history only.                 */
static void
test_engine_resolve_replay (void)
{
    ex_t *x = ex_new (NULL, false);
    ex_replay (x, TPC_REC_EPOCH, NULL, NULL, 0, NULL);
    ex_replay (x, TPC_REC_COMMIT, "tpc_c1_1_1", "a,b", 0, NULL);
    ex_replay (x, TPC_REC_HEURISTIC, "tpc_c1_1_1", NULL, 1,
               "resolve --force: disk of b lost");
    ex_replay (x, TPC_REC_HEURISTIC, "tpc_cZ_9_9", NULL, 2,
               "resolve --force: by an operator");
    ex_replay (x, TPC_REC_COMMIT, "tpc_c1_1_4", "a", 0, NULL);
    ex_replay (x, TPC_REC_HEURISTIC, "tpc_c1_1_4", NULL, 2,
               "a: rolled back by hand");
    CU_ASSERT_EQUAL (coord_engine_start (x->e, 2, x->now), 0);
    ex_drain (x);
    CU_ASSERT_EQUAL (coord_engine_unfinished (x->e), 1);     /* 1_4 only */
    const tpc_msg_t *r = ex_req (x, NULL, TPC_MSG_STATUS, "tpc_cZ_9_9", 0);
    CU_ASSERT (!strcmp (r->state, "heuristic")
               && r->outcome == TPC_OUTCOME_ABORTED);
    r = ex_req (x, NULL, TPC_MSG_STATUS, "tpc_c1_1_1", 0);
    CU_ASSERT (r->outcome == TPC_OUTCOME_COMMITTED);
    r = ex_req (x, NULL, TPC_MSG_STATUS, "tpc_c1_1_4", 0);
    CU_ASSERT_STRING_EQUAL (r->state, "committing");
    int n = 0;
    CU_ASSERT_EQUAL (coord_engine_foreach_resolved (x->e, s_count_rec, &n),
                     0);
    CU_ASSERT_EQUAL (n, 2);
    ex_destroy (&x);
}

static void
test_engine_summary (void)
{
    ex_t *x = ex_new (NULL, true);
    ex_agent (x, "zeta", TPC_MSG_HELLO, NULL, 0, 0);
    ex_agent (x, "alpha", TPC_MSG_HELLO, NULL, 0, 0);
    tpc_msg_t *m = tpc_msg_new (TPC_MSG_SUBMIT);
    tpc_msg_add_stmt (m, "zeta", "UPDATE t SET x = 1", 0, NULL);
    tpc_msg_add_stmt (m, "alpha", "UPDATE t SET x = 1", 0, NULL);
    ex_clear (x);
    coord_engine_client (x->e, K1, sizeof K1, m, x->now);
    tpc_msg_destroy (&m);
    ex_drain (x);
    char gid[TPC_GID_MAX];
    snprintf (gid, sizeof gid, "%s", x->agent[0]->gid);
    const tpc_msg_t *r = ex_req (x, NULL, TPC_MSG_SUMMARY, NULL, 0);
    CU_ASSERT (r->in_flight == 1 && r->in_doubt == 0);
    x->now += 700;
    ex_agent (x, "zeta", TPC_MSG_VOTE, gid, 0, TPC_VOTE_YES);
    r = ex_req (x, NULL, TPC_MSG_SUMMARY, NULL, 0);
    CU_ASSERT (r->in_doubt == 1 && r->oldest_ms == 700);
    CU_ASSERT (r->nagents == 2 && !strcmp (r->agents[0], "alpha")
               && !strcmp (r->agents[1], "zeta"));
    ex_agent (x, "alpha", TPC_MSG_VOTE, gid, 0, TPC_VOTE_NO);
    ex_agent (x, "zeta", TPC_MSG_ACK, gid, TPC_OUTCOME_ABORTED, 0);
    r = ex_req (x, NULL, TPC_MSG_SUMMARY, NULL, 0);
    CU_ASSERT (r->in_flight == 0 && r->in_doubt == 0 && r->aborted == 1
               && r->committed == 0);
    ex_destroy (&x);
}

/* =====================================================================
 *  Daemon suite
 */

#define PREPARED_SQL "SELECT count(*) FROM pg_prepared_xacts " \
                     "WHERE database = current_database()"

typedef struct {
    char *dir;
    char db[2][512], dbdir[2][512];
    char keys[600];
    char cep[64], aep[64];
    tpc_proc_t coord, agent[2];
} s_world_t;

static s_world_t W;

static const char *
s_key (const char *name, bool secret)
{
    static char buf[8][700];
    static int i;
    char *p = buf[i++ % 8];
    snprintf (p, 700, "%s/private/%s.key%s", W.keys, name,
              secret ? "_secret" : "");
    return p;
}

/*  Start coordinator ID on log dir LOGDIR with the small limits; ENV may
 *  hold a test hook.                                                     */
static int
s_start_coord (const char *id, const char *logdir, char *const env[])
{
    char log[700], dirs[3][700];
    snprintf (log, sizeof log, "%s/coordinator-%s.log", W.dir, id);
    snprintf (dirs[0], sizeof dirs[0], "%s/clients", W.keys);
    snprintf (dirs[1], sizeof dirs[1], "%s/admins", W.keys);
    snprintf (dirs[2], sizeof dirs[2], "%s/agents", W.keys);
    char *args[] = {
        "--id", (char *) id, "--bind", W.cep, "--agent-bind", W.aep,
        "--log-dir", (char *) logdir, "--curve-secret",
        (char *) s_key ("coordinator", true), "--allow-clients", dirs[0],
        "--allow-admins", dirs[1], "--allow-agents", dirs[2],
        "--max-stmts", "4", "--max-txns", "5", "--max-txns-per-client", "3",
        "--max-result-rows", "50", "--max-msg-bytes", "65536",
        "--vote-timeout-ms", "3000", NULL
    };
    return tpc_harness_start_coord (&W.coord, args, env, log);
}

static int
s_start_agent (int i)
{
    char log[700], file[700], name[8];
    snprintf (name, sizeof name, "db%d", i + 1);
    snprintf (log, sizeof log, "%s/agent-%s.log", W.dir, name);
    snprintf (file, sizeof file, "%s/%s.conninfo", W.dir, name);
    if (tpc_harness_write_line (file, W.db[i]))
        return -1;
    char *args[] = { "--name", name, "--coordinator", W.aep,
                     "--pg-file", file, "--curve-secret",
                     (char *) s_key (name, true), "--coordinator-public",
                     (char *) s_key ("coordinator", false), "--heartbeat-ms",
                     "200", NULL };
    return tpc_harness_start_agent (&W.agent[i], args, NULL, log);
}

static tpc_client_t *
s_client (const char *key)
{
    tpc_client_opts_t o = { .timeout_ms = 5000,
                            .curve_secret_file = s_key (key, true),
                            .curve_server_file = s_key ("coordinator",
                                                        false) };
    return tpc_client_new (W.cep, &o);
}

static int
s_wait_agents (void)
{
    static const char *const names[] = { "db1", "db2" };
    tpc_client_opts_t o = { .timeout_ms = 5000,
                            .curve_secret_file = s_key ("ops", true),
                            .curve_server_file = s_key ("coordinator",
                                                        false) };
    return tpc_harness_wait_agents (W.cep, &o, names, 2,
                                    TPC_HARNESS_BY_SUMMARY);
}

static int
s_setup_world (void)
{
    memset (&W, 0, sizeof W);
    W.dir = tpc_test_tmpdir ("ops");
    if (!W.dir)
        return -1;
    snprintf (W.keys, sizeof W.keys, "%s/keys", W.dir);
    const char *names[] = { "coordinator", "app", "ops", "db1", "db2" };
    const char *roles[] = { NULL, "clients", "admins", "agents", "agents" };
    if (tpc_harness_curve_keys (W.keys, names, roles, 5)
        || tpc_harness_pg_world (W.dir, 2, W.dbdir, W.db,
                                 TPC_HARNESS_ACCT_SQL ("1000")))
        return -1;
    snprintf (W.cep, sizeof W.cep, "tcp://127.0.0.1:%d",
              tpc_harness_free_port ());
    snprintf (W.aep, sizeof W.aep, "tcp://127.0.0.1:%d",
              tpc_harness_free_port ());
    char logdir[700];
    snprintf (logdir, sizeof logdir, "%s/log-cA", W.dir);
    if (s_start_coord ("cA", logdir, NULL) || s_start_agent (0)
        || s_start_agent (1))
        return -1;
    return s_wait_agents ();
}

static int
s_teardown_world (void)
{
    tpc_harness_stop (&W.coord, W.agent, 2);
    tpc_harness_clean (&W.dir, 2);
    return 0;
}

static int64_t
s_bal (int i)
{
    return tpc_harness_sql_int (W.db[i], "SELECT bal FROM acct WHERE id=1");
}

static int64_t
s_prepared (void)
{
    return tpc_harness_sql_int (W.db[0], PREPARED_SQL)
           + tpc_harness_sql_int (W.db[1], PREPARED_SQL);
}

/*  db1 account 1 -10, db2 account 1 +10 with client C.                   */
static int
s_transfer (tpc_client_t *c, char *gid)
{
    const char *p[] = { "10" };
    tpc_client_stmt_t st[2] = {
        { "db1", "UPDATE acct SET bal = bal - $1 WHERE id = 1", 1, p },
        { "db2", "UPDATE acct SET bal = bal + $1 WHERE id = 1", 1, p },
    };
    char reason[256], dummy[TPC_CLIENT_GID_MAX];
    tpc_client_outcome_t out;
    return tpc_submit (c, st, 2, NULL, gid ? gid : dummy, &out, reason,
                       sizeof reason);
}

/*  The daemon still serves: a transfer commits and moves 10.             */
static bool
s_still_serving (tpc_client_t *c)
{
    int64_t b1 = s_bal (0), b2 = s_bal (1);
    return s_transfer (c, NULL) == 0 && s_bal (0) == b1 - 10
           && s_bal (1) == b2 + 10;
}

static void
test_daemon_limits (void)
{
    tpc_client_t *app = s_client ("app"), *ops = s_client ("ops");
    int64_t b1 = s_bal (0);
    char gid[TPC_CLIENT_GID_MAX];
    int passed = 0;

    /* message size: a 70 kB statement, over --max-msg-bytes 65536 */
    char *big = malloc (70001);
    memset (big, ' ', 70000);
    memcpy (big, "SELECT 1", 8);
    big[70000] = '\0';
    tpc_client_stmt_t st[] = { { "db1", big, 0, NULL },
                               { "db2", "SELECT 1", 0, NULL } };
    char reason[256];
    tpc_client_outcome_t out;
    int rc = tpc_submit (app, st, 2, NULL, gid, &out, reason, sizeof reason);
    free (big);
    CU_ASSERT_EQUAL (rc, TPC_EMSG_TOO_BIG);
    CU_ASSERT (s_bal (0) == b1);
    bool ok = rc == TPC_EMSG_TOO_BIG && s_still_serving (app);
    printf ("\n    limit message_size: %s, daemon serving: %s",
            tpc_errname (rc), ok ? "yes" : "NO");
    passed += ok;

    /* statements per transaction (4): a submit of 5, then 5 execs */
    tpc_client_stmt_t five[5];
    for (int i = 0; i < 5; i++)
        five[i] = (tpc_client_stmt_t) {
            i % 2 ? "db2" : "db1", "UPDATE acct SET bal = bal + 1 "
            "WHERE id = 2", 0, NULL };
    b1 = tpc_harness_sql_int (W.db[0], "SELECT bal FROM acct WHERE id=2");
    rc = tpc_submit (app, five, 5, NULL, gid, &out, reason, sizeof reason);
    CU_ASSERT_EQUAL (rc, TPC_ELIMIT);
    ok = rc == TPC_ELIMIT;
    CU_ASSERT_EQUAL_FATAL (tpc_begin (app, NULL, gid), 0);
    for (int i = 0; i < 5; i++) {
        rc = tpc_exec (app, gid, "db1", "UPDATE acct SET bal = bal + 1 "
                       "WHERE id = 2", 0, NULL, NULL);
        CU_ASSERT_EQUAL (rc, i < 4 ? 0 : TPC_ELIMIT);
        ok = ok && rc == (i < 4 ? 0 : TPC_ELIMIT);
    }
    /* the four that ran commit; the refused one did not run */
    CU_ASSERT_EQUAL (tpc_commit (app, gid, &out, NULL, 0), 0);
    int64_t b2 = tpc_harness_sql_int (W.db[0],
                                      "SELECT bal FROM acct WHERE id=2");
    CU_ASSERT_EQUAL (b2, b1 + 4);
    ok = ok && b2 == b1 + 4 && s_still_serving (app);
    printf ("\n    limit statements_per_txn: %s, 4 of 5 ran and "
            "committed, daemon serving: %s", tpc_errname (TPC_ELIMIT),
            ok ? "yes" : "NO");
    passed += ok;

    /* in flight per client (3) and in total (5) */
    char g[5][TPC_CLIENT_GID_MAX];
    ok = true;
    for (int i = 0; i < 3; i++)
        ok = ok && tpc_begin (app, NULL, g[i]) == 0;
    rc = tpc_begin (app, NULL, gid);
    CU_ASSERT_EQUAL (rc, TPC_EBUSY);
    CU_ASSERT (strstr (tpc_client_errmsg (app), "per client") != NULL);
    ok = ok && rc == TPC_EBUSY;
    printf ("\n    limit txns_per_client: %s (\"%s\")", tpc_errname (rc),
            tpc_client_errmsg (app));
    ok = ok && tpc_begin (ops, NULL, g[3]) == 0
         && tpc_begin (ops, NULL, g[4]) == 0;
    rc = tpc_begin (ops, NULL, gid);
    CU_ASSERT_EQUAL (rc, TPC_EBUSY);
    CU_ASSERT (strstr (tpc_client_errmsg (ops), "5 transactions in flight")
               != NULL);
    ok = ok && rc == TPC_EBUSY;
    printf ("\n    limit txns_total: %s (\"%s\")", tpc_errname (rc),
            tpc_client_errmsg (ops));
    for (int i = 0; i < 5; i++)
        ok = ok && tpc_rollback (i < 3 ? app : ops, g[i], &out, NULL, 0)
             == 0;
    ok = ok && s_still_serving (app);
    CU_ASSERT (ok);
    printf ("\n    after rollback, daemon serving: %s", ok ? "yes" : "NO");
    passed += ok;

    /* result rows (50) */
    CU_ASSERT_EQUAL_FATAL (tpc_begin (app, NULL, gid), 0);
    tpc_result_t *res = NULL;
    rc = tpc_exec (app, gid, "db1", "SELECT g FROM generate_series(1,50) g",
                   0, NULL, &res);
    ok = rc == 0 && tpc_result_nrows (res) == 50;
    tpc_result_destroy (&res);
    rc = tpc_exec (app, gid, "db1", "SELECT g FROM generate_series(1,51) g",
                   0, NULL, &res);
    CU_ASSERT_EQUAL (rc, TPC_ELIMIT);
    CU_ASSERT_PTR_NULL (res);
    ok = ok && rc == TPC_ELIMIT;
    rc = tpc_commit (app, gid, &out, reason, sizeof reason);
    CU_ASSERT_EQUAL (rc, TPC_EABORTED);
    ok = ok && rc == TPC_EABORTED && s_prepared () == 0
         && s_still_serving (app);
    printf ("\n    limit result_rows: %s, the transaction aborted (%s), "
            "daemon serving: %s\n", tpc_errname (TPC_ELIMIT), reason,
            ok ? "yes" : "NO");
    passed += ok;
    printf ("    limits passed=%d total=4\n", passed);
    CU_ASSERT_EQUAL (passed, 4);
    tpc_client_destroy (&app);
    tpc_client_destroy (&ops);
}

/*  Run tpcctl with the keys of KEY (NULL: none); OUT gets stdout+stderr. */
static int
s_tpcctl (const char *key, char *out, size_t size, ...)
{
    char cmd[8192];
    int n = snprintf (cmd, sizeof cmd, "TPC_COORDINATOR='%s' ", W.cep);
    if (key)
        n += snprintf (cmd + n, sizeof cmd - (size_t) n,
                       "TPC_CURVE_SECRET='%s' TPC_COORDINATOR_PUBLIC='%s' ",
                       s_key (key, true), s_key ("coordinator", false));
    n += snprintf (cmd + n, sizeof cmd - (size_t) n, "'%s/tpcctl'",
                   tpc_harness_builddir ());
    va_list ap;
    va_start (ap, size);
    const char *a;
    while ((a = va_arg (ap, const char *)))
        n += snprintf (cmd + n, sizeof cmd - (size_t) n, " '%s'", a);
    va_end (ap);
    snprintf (cmd + n, sizeof cmd - (size_t) n, " 2>&1");
    FILE *f = popen (cmd, "r");
    size_t got = f ? fread (out, 1, size - 1, f) : 0;
    out[got] = '\0';
    int st = f ? pclose (f) : -1;
    return WIFEXITED (st) ? WEXITSTATUS (st) : -1;
}

#define TPCCTL(key, out, ...) s_tpcctl (key, out, sizeof out, __VA_ARGS__, \
                                        (const char *) NULL)

static int
s_heuristics_in_log (const char *dir, const char *gid)
{
    char cmd[2048], line[1024];
    snprintf (cmd, sizeof cmd, "'%s/tpcctl' log dump '%s'",
              tpc_harness_builddir (), dir);
    FILE *f = popen (cmd, "r");
    int n = 0;
    while (f && fgets (line, sizeof line, f))
        n += strstr (line, "type=HEURISTIC") && strstr (line, gid);
    if (f)
        pclose (f);
    return n;
}

static void
test_daemon_resolve_stuck (void)
{
    char out[8192], logA[700], logB[700];
    snprintf (logA, sizeof logA, "%s/log-cA", W.dir);
    snprintf (logB, sizeof logB, "%s/log-cB", W.dir);
    /* cA again, set to die right after its first COMMIT is durable */
    tpc_proc_kill (&W.coord, SIGTERM, 5000);
    char *env[] = { "TPC_CRASH_POINT=coord.after_fsync", NULL };
    CU_ASSERT_EQUAL_FATAL (s_start_coord ("cA", logA, env), 0);
    CU_ASSERT_EQUAL_FATAL (s_wait_agents (), 0);
    int64_t b1 = s_bal (0), b2 = s_bal (1);
    tpc_client_t *app = s_client ("app");
    char gid[TPC_CLIENT_GID_MAX] = "";
    const char *p[] = { "10" };
    CU_ASSERT_EQUAL_FATAL (tpc_begin (app, NULL, gid), 0);
    CU_ASSERT_EQUAL (tpc_exec (app, gid, "db1", "UPDATE acct SET bal = bal "
                               "- $1 WHERE id = 1", 1, p, NULL), 0);
    CU_ASSERT_EQUAL (tpc_exec (app, gid, "db2", "UPDATE acct SET bal = bal "
                               "+ $1 WHERE id = 1", 1, p, NULL), 0);
    int rc = tpc_commit (app, gid, NULL, NULL, 0);
    tpc_client_destroy (&app);
    CU_ASSERT_EQUAL (rc, TPC_EIN_DOUBT);
    int st = tpc_proc_wait (&W.coord, 5000);
    CU_ASSERT (WIFEXITED (st) && WEXITSTATUS (st) == 99);
    CU_ASSERT_EQUAL (s_prepared (), 2);
    /* the disk of cA is lost: cB takes its endpoints with an empty log */
    CU_ASSERT_EQUAL_FATAL (s_start_coord ("cB", logB, NULL), 0);
    CU_ASSERT_EQUAL_FATAL (s_wait_agents (), 0);
    /* stuck: the agents ask, cB cannot decide another coordinator's gid */
    usleep (2500 * 1000);
    CU_ASSERT_EQUAL (s_prepared (), 2);
    CU_ASSERT_EQUAL (TPCCTL ("app", out, "list"), 0);
    /* tpc_cA_... belongs to no live coordinator */
    CU_ASSERT_EQUAL (TPCCTL ("app", out, "show", gid), 1);
    CU_ASSERT (strstr (out, "does not belong") != NULL);
    printf ("\n    stuck: %s prepared in both databases, cB answers "
            "in_progress", gid);

    /* refusals: no --force; a client key; a transaction cB is driving */
    CU_ASSERT_EQUAL (TPCCTL ("ops", out, "resolve", gid, "commit"), 2);
    CU_ASSERT (strstr (out, "--force") != NULL);
    CU_ASSERT_EQUAL (TPCCTL ("app", out, "resolve", gid, "commit",
                             "--force"), 1);
    CU_ASSERT (strstr (out, "admin key") != NULL);
    /* nor a gid cB has not issued yet: it would decide the next begin
     * (issue 12: that begin rolled back, and cB then said committed) */
    CU_ASSERT_EQUAL (TPCCTL ("ops", out, "resolve", "tpc_cB_1_1", "commit",
                             "--force", "--reason", "x"), 1);
    CU_ASSERT (strstr (out, "never issued by this coordinator") != NULL);
    printf ("\n    resolve of a gid not issued: %s", out);
    tpc_client_t *ops = s_client ("ops");
    char live[TPC_CLIENT_GID_MAX];
    CU_ASSERT_EQUAL_FATAL (tpc_begin (ops, NULL, live), 0);
    CU_ASSERT_STRING_EQUAL (live, "tpc_cB_1_1");
    CU_ASSERT_EQUAL (tpc_exec (ops, live, "db1", "UPDATE acct SET bal = "
                               "bal WHERE id = 3", 0, NULL, NULL), 0);
    CU_ASSERT_EQUAL (TPCCTL ("ops", out, "resolve", live, "abort",
                             "--force"), 1);
    CU_ASSERT (strstr (out, "still driving") != NULL);
    CU_ASSERT_EQUAL (tpc_rollback (ops, live, NULL, NULL, 0), 0);
    CU_ASSERT_EQUAL (TPCCTL ("app", out, "show", live), 0);
    CU_ASSERT (strstr (out, "outcome:      aborted")
               && !strstr (out, "heuristic"));
    CU_ASSERT_EQUAL (s_heuristics_in_log (logB, live), 0);
    CU_ASSERT_EQUAL (s_heuristics_in_log (logB, gid), 0);
    CU_ASSERT_EQUAL (s_prepared (), 2);

    /* the operator settles it */
    CU_ASSERT_EQUAL (TPCCTL ("ops", out, "resolve", gid, "commit", "--force",
                             "--reason", "cA lost its disk"), 0);
    CU_ASSERT (strstr (out, "resolved") && strstr (out, "heuristic=yes"));
    int64_t end = tpc_now_ms () + 10000;
    while (s_prepared () > 0 && tpc_now_ms () < end)
        usleep (100 * 1000);
    CU_ASSERT_EQUAL (s_prepared (), 0);
    CU_ASSERT_EQUAL (s_bal (0), b1 - 10);
    CU_ASSERT_EQUAL (s_bal (1), b2 + 10);
    CU_ASSERT_EQUAL (s_heuristics_in_log (logB, gid), 1);
    CU_ASSERT_EQUAL (TPCCTL ("app", out, "show", gid), 0);
    CU_ASSERT (strstr (out, "state:        heuristic")
               && strstr (out, "outcome:      committed"));
    CU_ASSERT_EQUAL (TPCCTL ("app", out, "status"), 0);
    CU_ASSERT (strstr (out, "heuristic=1") && strstr (out, "agents=2 db1,"
                                                             "db2"));
    printf ("\n    resolved: prepared left %" PRId64 ", db1 %+" PRId64
            ", db2 %+" PRId64 "; tpcctl status: %s", s_prepared (),
            s_bal (0) - b1, s_bal (1) - b2, out);

    /* the decision survives a restart of cB */
    tpc_proc_kill (&W.coord, SIGTERM, 5000);
    CU_ASSERT_EQUAL_FATAL (s_start_coord ("cB", logB, NULL), 0);
    CU_ASSERT_EQUAL (TPCCTL ("app", out, "--json", "show", gid), 0);
    CU_ASSERT (strstr (out, "\"state\":\"heuristic\"")
               && strstr (out, "\"outcome\":\"committed\""));
    tpc_client_destroy (&ops);
    CU_ASSERT_EQUAL (s_wait_agents (), 0);
}

/*  tpcctl against the real daemons (issue 20 items 14, 15): exec prints
 *  a SELECT's rows; begin, exec --gid, commit and rollback by hand; the
 *  summary exits 0 with nothing in doubt.                                */
static void
test_daemon_tpcctl_rows_interactive (void)
{
    char out[8192], want[256], gid[TPC_CLIENT_GID_MAX];
    int64_t b1 = s_bal (0);
    CU_ASSERT_EQUAL (TPCCTL ("app", out, "exec", "--on", "db1",
                             "SELECT id, bal FROM acct WHERE id = $1",
                             "--param", "1"), 0);
    printf ("\n    exec SELECT:\n%s", out);
    snprintf (want, sizeof want, "id|bal\n1|%" PRId64 "\n(1 row)\n"
              "committed gid=tpc_", b1);
    CU_ASSERT (strncmp (out, want, strlen (want)) == 0);

    /* begin prints the bare gid */
    CU_ASSERT_EQUAL (TPCCTL ("app", out, "begin"), 0);
    CU_ASSERT_EQUAL (sscanf (out, "%79s", gid), 1);
    CU_ASSERT (strncmp (gid, "tpc_", 4) == 0 && !strchr (out, ' '));
    CU_ASSERT_EQUAL (TPCCTL ("app", out, "exec", "--gid", gid, "--on", "db1",
                             "UPDATE acct SET bal = bal + 5 WHERE id = 1"),
                     0);
    snprintf (want, sizeof want, "open gid=%s\n", gid);
    CU_ASSERT_STRING_EQUAL (out, want);
    CU_ASSERT_EQUAL (s_bal (0), b1);            /* not committed yet */
    CU_ASSERT_EQUAL (TPCCTL ("app", out, "exec", "--gid", gid, "--on", "db1",
                             "SELECT bal FROM acct WHERE id = 1"), 0);
    snprintf (want, sizeof want, "bal\n%" PRId64 "\n(1 row)\nopen gid=%s\n",
              b1 + 5, gid);
    CU_ASSERT_STRING_EQUAL (out, want);         /* sees its own update */
    CU_ASSERT_EQUAL (TPCCTL ("app", out, "commit", gid), 0);
    snprintf (want, sizeof want, "committed gid=%s\n", gid);
    CU_ASSERT_STRING_EQUAL (out, want);
    printf ("    begin/exec --gid/commit: %s", out);
    CU_ASSERT_EQUAL (s_bal (0), b1 + 5);

    /* rolled back: nothing changes */
    CU_ASSERT_EQUAL (TPCCTL ("app", out, "begin", "--txn-timeout-ms",
                             "60000"), 0);
    CU_ASSERT_EQUAL (sscanf (out, "%79s", gid), 1);
    CU_ASSERT_EQUAL (TPCCTL ("app", out, "exec", "--gid", gid, "--on", "db1",
                             "UPDATE acct SET bal = bal - 5 WHERE id = 1"),
                     0);
    CU_ASSERT_EQUAL (TPCCTL ("app", out, "rollback", gid), 0);
    CU_ASSERT (strncmp (out, "aborted gid=", 12) == 0);
    printf ("    rollback: %s", out);
    CU_ASSERT_EQUAL (TPCCTL ("app", out, "exec", "--on", "db1",
                             "UPDATE acct SET bal = bal - 5 WHERE id = 1"),
                     0);
    CU_ASSERT_EQUAL (s_bal (0), b1);
    /* a failed statement: the exec rolls its transaction back, exit 1 */
    CU_ASSERT_EQUAL (TPCCTL ("app", out, "--json", "exec", "--on", "db1",
                             "SELECT * FROM no_such_table"), 1);
    printf ("    exec, bad SQL, --json: %s", out);
    CU_ASSERT (strstr (out, "\"name\":\"TPC_EDB\"") != NULL);
    CU_ASSERT_EQUAL (s_prepared (), 0);
    /* nothing in doubt: status exits 0 */
    CU_ASSERT_EQUAL (TPCCTL ("app", out, "status"), 0);
    CU_ASSERT (strstr (out, "in_doubt=0") != NULL);
}

/*  Run `tpcctl status GID` (key app) into OUT until its outcome is no
 *  longer in_progress or 15 s passed; its exit status.                  */
static int
s_status_settled (char *out, size_t size, const char *gid)
{
    int64_t end = tpc_now_ms () + 15000;
    int rc;
    while ((rc = s_tpcctl ("app", out, size, "status", gid,
                           (const char *) NULL)) == 0
           && strstr (out, "outcome=in_progress") && tpc_now_ms () < end)
        usleep (200 * 1000);
    return rc;
}

/*  Poll `tpcctl CMD...` (key app) into OUT until it has (WANT) or lacks
 *  (!WANT) TEXT, for at most MS; whether it did.                         */
static bool
s_tpcctl_until (char *out, size_t size, const char *cmd, const char *arg,
                const char *text, bool want, int ms)
{
    int64_t end = tpc_now_ms () + ms;
    for (;;) {
        s_tpcctl ("app", out, size, cmd, arg, (const char *) NULL);
        if ((strstr (out, text) != NULL) == want)
            return true;
        if (tpc_now_ms () >= end)
            return false;
        usleep (100 * 1000);
    }
}

/*  Issue 20.  Item 8: the coordinator dies before the decision; after
 *  its restart `tpcctl status` of the gid (of the earlier epoch, with no
 *  record) answers from the agents' check of their markers, and says
 *  how it knows.  Item 11: a transaction aborted because an agent is
 *  down leaves `list` once the reachable participant acked, not
 *  abort_linger_ms (60 s) later.                                         */
static void
test_daemon_no_record_status (void)
{
    char out[8192], logA[700], gid[TPC_CLIENT_GID_MAX] = "";
    snprintf (logA, sizeof logA, "%s/log-cA", W.dir);
    tpc_client_t *app = s_client ("app");
    CU_ASSERT_EQUAL_FATAL (tpc_begin (app, NULL, gid), 0);
    CU_ASSERT_EQUAL (tpc_exec (app, gid, "db1", "SELECT 1", 0, NULL, NULL),
                     0);
    CU_ASSERT_EQUAL (tpc_exec (app, gid, "db2", "SELECT 1", 0, NULL, NULL),
                     0);
    tpc_client_destroy (&app);
    tpc_proc_kill (&W.coord, SIGKILL, 5000);
    CU_ASSERT_EQUAL_FATAL (s_start_coord ("cA", logA, NULL), 0);
    CU_ASSERT_EQUAL_FATAL (s_wait_agents (), 0);
    CU_ASSERT_EQUAL (s_status_settled (out, sizeof out, gid), 0);
    CU_ASSERT (strstr (out, "outcome=aborted state=no_record reason=no "
                       "record, and no participant's marker says "
                       "committed (checked with ")
               && strstr (out, "db1") && strstr (out, "db2"));
    printf ("\n    after a crash before the decision: %s", out);
    CU_ASSERT_EQUAL (TPCCTL ("app", out, "show", gid), 0);
    CU_ASSERT (strstr (out, "reason:       no record, and no participant's")
               != NULL);

    /* db2 down after its work ran: the commit aborts, and the transaction
     * ends once db1 acked */
    app = s_client ("app");
    CU_ASSERT_EQUAL_FATAL (tpc_begin (app, NULL, gid), 0);
    CU_ASSERT_EQUAL (tpc_exec (app, gid, "db1", "SELECT 1", 0, NULL, NULL),
                     0);
    CU_ASSERT_EQUAL (tpc_exec (app, gid, "db2", "SELECT 1", 0, NULL, NULL),
                     0);
    tpc_proc_kill (&W.agent[1], SIGTERM, 5000);
    CU_ASSERT (s_tpcctl_until (out, sizeof out, "status", NULL, "agents=1 ",
                               true, 10000));
    char reason[256] = "";
    CU_ASSERT_EQUAL (tpc_commit (app, gid, NULL, reason, sizeof reason),
                     TPC_EABORTED);
    tpc_client_destroy (&app);
    CU_ASSERT (strstr (reason, "'db2' is not connected") != NULL);
    CU_ASSERT (s_tpcctl_until (out, sizeof out, "list", NULL, gid, false,
                               3000));
    CU_ASSERT_EQUAL (TPCCTL ("app", out, "status", gid), 0);
    CU_ASSERT (strstr (out, "outcome=aborted state=ended") != NULL);
    printf ("\n    aborted with db2 down, gone from list: %s", out);
    CU_ASSERT_EQUAL_FATAL (s_start_agent (1), 0);
    CU_ASSERT_EQUAL (s_wait_agents (), 0);
}

static const tpc_test_case_t s_engine_cases[] = {
    { "engine_limits", test_engine_limits },
    { "engine_resolve_decided", test_engine_resolve_decided },
    { "engine_resolve_refusals", test_engine_resolve_refusals },
    { "engine_resolve_replay", test_engine_resolve_replay },
    { "engine_summary", test_engine_summary },
    { NULL, NULL }
};

static const tpc_test_case_t s_daemon_cases[] = {
    { "daemon_limits", test_daemon_limits },
    { "daemon_tpcctl_rows_interactive", test_daemon_tpcctl_rows_interactive },
    { "daemon_no_record_status", test_daemon_no_record_status },
    { "daemon_resolve_stuck", test_daemon_resolve_stuck },
    { NULL, NULL }
};

int
main (void)
{
    signal (SIGPIPE, SIG_IGN);
    const tpc_test_suite_t suites[] = {
        { "ops_engine", NULL, NULL, s_engine_cases },
        { "ops_daemon", s_setup_world, s_teardown_world, s_daemon_cases },
        { NULL, NULL, NULL, NULL }
    };
    return tpc_test_main ("test_ops", suites);
}
