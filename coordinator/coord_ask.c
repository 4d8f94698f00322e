
/*  coord_ask: presumed abort, checked (outcome_of), a part of the
 *  coordinator engine (one engine over several files sharing
 *  coord_engine_int.h; the transaction state diagram is in coord_engine.c).
 *
 *  A query for a gid of an EARLIER boot with no record (no live
 *  transaction, no end remembered, no heuristic) would be answered
 *  "aborted" by presumed abort.  But the record may be missing because the
 *  log lost it (a damaged last record is cut as a torn tail), while a
 *  participant already applied its COMMIT.  So before presuming, the
 *  coordinator asks the other agents what their databases know (gids of
 *  this boot need no check: their records are in memory).
 *
 *  Whom to ask: the coordinator cannot know a lost gid's participants, and
 *  a 2PC agent that restarted no longer knows them either, so every agent
 *  it knows is asked: those that said hello since this boot and those the
 *  replayed log names (agents that may be down now).  For 2 *
 *  heartbeat_ms after the start such queries are answered in_progress, so
 *  every live agent has said hello before any abort is presumed.
 *
 *    query(gid), no record, earlier boot (ce_ask_start)
 *        |  outcome_of to every other known agent that is connected;
 *        |  the asker counts as "uncertain" (it holds gid prepared)
 *        v
 *     ASKING (ce_ask_t, deadline now + 3 * heartbeat_ms) -- more queries
 *        |                                     for gid join as askers
 *        |  known from each asked agent (ce_on_known), or the deadline,
 *        |  or a send failed (ce_ask_unreachable)
 *        v  (ce_ask_settle)
 *     - any "committed": the gid committed somewhere, so commit it
 *       everywhere: a transaction in COMMITTING whose participants are
 *       the askers and every agent that answered committed, uncertain or
 *       precommitted; COMMIT record FORCED; decide(committed) goes out
 *       only once it is durable (s_commit_durable in coord_engine.c),
 *       exactly as a decided 2PC commit, and a later query is answered
 *       committed.
 *     - else any "precommitted" (3PC: a termination may commit) or
 *       "unknown" (cannot tell), an agent that did not answer in time, a
 *       known agent not connected or not asked: answer in_progress (the
 *       agent asks again; the next query runs a new round).
 *     - else (every known agent answered uncertain or aborted): the
 *       presumed abort stands: answer aborted.
 *  Known agents: those that said hello this boot, and those named by a
 *  replayed record or by a record of the tail the log cut at open
 *  (coord_engine_note_cut: a lost COMMIT may be the only record naming
 *  a participant that committed).  A yes vote for such a gid is not
 *  answered decide(aborted) either: the agent's query runs the round.
 *  Nothing is remembered after a round but whether it could not confirm
 *  the presumed abort (answered in_progress: self->unconfirmed, this
 *  boot).  Such a gid, or one with a round pending, is resolvable
 *  too: an operator may decide it either way (ce_on_resolve), and
 *  the resolve wins over a round: a round that settles while the
 *  HEURISTIC record is written answers in_progress and never logs a
 *  COMMIT, and once it is durable the askers hear its outcome
 *  (s_ask_overruled).  It costs a round only on this recovery path,
 *  never on a normal commit.  Known limit: an agent that is gone for
 *  good keeps such queries in_progress until it returns or an operator
 *  resolves the gid.
 *
 *  A client's status of such a gid (ce_ask_status; typically after a
 *  coordinator crash before the decision) runs the same round, or joins
 *  the one running, with no asker: its reply waits for the round (the
 *  engine never blocks: the request is kept in ask->waiters) and says
 *  how the coordinator knows (txstatus.reason): committed found (state
 *  of the forced COMMIT: committing, then committed once durable),
 *  "aborted" with state no_record when every known agent answered not
 *  committed ("checked with db1, db2"), else in_progress, no_record,
 *  naming the agent that kept it open (or: no agent known at all; or
 *  the start's grace).  Only a round an agent asked makes a gid
 *  resolvable (self->unconfirmed): a status alone may name a one-phase
 *  gid, committed on an agent that is down, which no operator may abort.
 *  Known limit: the check covers the agents known (hello this boot, or
 *  named by the log); a one-phase gid is in no record, so a status of
 *  one whose only participant has not said hello since this boot, and
 *  was never in a logged transaction, cannot see its marker: the reason
 *  names the agents checked.
 */
#include "coord_engine_int.h"

typedef struct {
    char name[TPC_RECORD_NAME_MAX];
    bool asker;                 /* sent the query: holds gid prepared */
    bool asked;                 /* outcome_of sent, known awaited */
    bool answered;
    tpc_p3_t state;             /* its known (asker: uncertain) */
} s_askmember_t;

struct ce_ask {
    char gid[TPC_GID_MAX];
    uint64_t deadline;
    bool missing;               /* a known agent could not be asked */
    char missing_name[TPC_RECORD_NAME_MAX];     /* the first of them */
    s_askmember_t *parts;
    size_t nparts, capparts;
    ce_req_t *waiters;          /* status requests waiting for the round */
    size_t nwaiters;
};

void
ce_ask_destroy (void **item)
{
    ce_ask_t *ask = *item;
    if (ask) {
        free (ask->parts);
        for (size_t i = 0; i < ask->nwaiters; i++)
            ce_req_clear (&ask->waiters[i]);
        free (ask->waiters);
    }
    free (ask);
    *item = NULL;
}

static s_askmember_t *
s_ask_part (coord_engine_t *self, ce_ask_t *ask, const char *name, bool add)
{
    for (size_t i = 0; i < ask->nparts; i++)
        if (!strcmp (ask->parts[i].name, name))
            return &ask->parts[i];
    if (!add)
        return NULL;
    if (ask->nparts == ask->capparts) {
        size_t cap = ask->capparts ? ask->capparts * 2 : 4;
        s_askmember_t *p = realloc (ask->parts, cap * sizeof *p);
        if (!p) {
            self->err = TPC_ENOMEM;
            return NULL;
        }
        ask->parts = p;
        ask->capparts = cap;
    }
    s_askmember_t *p = &ask->parts[ask->nparts++];
    memset (p, 0, sizeof *p);
    snprintf (p->name, sizeof p->name, "%s", name);
    return p;
}

/*  Agents named in a replayed record are known (not connected) agents:
 *  a lost gid may have committed on them.                                */
void
ce_ask_note_parts (coord_engine_t *self, const tpc_record_t *rec)
{
    for (size_t i = 0; i < rec->nparts && i < TPC_RECORD_PARTS_MAX; i++) {
        const char *name = rec->parts[i];
        if (!ce_name_valid (name) || zhashx_lookup (self->agents, name))
            continue;
        ce_agent_t *a = calloc (1, sizeof *a);
        if (!a) {
            self->err = TPC_ENOMEM;
            return;
        }
        snprintf (a->name, sizeof a->name, "%s", name);
        zhashx_insert (self->agents, name, a);
    }
}

static void
s_ask_answer (coord_engine_t *self, const ce_ask_t *ask,
              tpc_outcome_t outcome)
{
    for (size_t i = 0; i < ask->nparts; i++)
        if (ask->parts[i].asker) {
            tpc_msg_t *answer = ce_msg (self, TPC_MSG_ANSWER);
            if (!answer)
                return;
            answer->outcome = outcome;
            ce_keep_err (self, tpc_msg_set_str (&answer->gid, ask->gid));
            ce_to_agent (self, ask->parts[i].name, answer);
        }
}

/*  Answer every status request waiting for ASK's round: STATE, OUTCOME
 *  and how the coordinator knows (REASON).                               */
static void
s_ask_tell (coord_engine_t *self, ce_ask_t *ask, const char *state,
            tpc_outcome_t outcome, const char *fmt, ...)
    __attribute__ ((format (printf, 5, 6)));

static void
s_ask_tell (coord_engine_t *self, ce_ask_t *ask, const char *state,
            tpc_outcome_t outcome, const char *fmt, ...)
{
    if (ask->nwaiters == 0)
        return;
    char reason[512];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (reason, sizeof reason, fmt, ap);
    va_end (ap);
    for (size_t i = 0; i < ask->nwaiters; i++) {
        ce_req_t *w = &ask->waiters[i];
        ce_reply_status (self, w->id, w->len, w->rid, ask->gid, state,
                         outcome, reason);
        ce_req_clear (w);
    }
    ask->nwaiters = 0;
}

/*  The agents that answered ASK (askers included), "a, b" into BUF.     */
static const char *
s_ask_checked (const ce_ask_t *ask, char *buf, size_t size)
{
    size_t at = 0;
    buf[0] = 0;
    for (size_t i = 0; i < ask->nparts && at < size; i++)
        if (ask->parts[i].answered)
            at += (size_t) snprintf (buf + at, size - at, "%s%s",
                                     at ? ", " : "", ask->parts[i].name);
    return buf;
}

/*  Some agent reported GID committed: commit it everywhere it is held.   */
static void
s_ask_commit (coord_engine_t *self, const ce_ask_t *ask, const char *who)
{
    ce_log (self, 1, "%s: no record of it, but '%s' reports it committed: "
            "commit logged again (was the log's tail lost?)", ask->gid, who);
    ce_txn_t *t = ce_txn_add (self, ask->gid, CE_PREPARING);
    if (!t)
        return;
    t->created = self->now;
    t->deadline = COORD_NEVER;
    for (size_t i = 0; i < ask->nparts; i++) {
        const s_askmember_t *ap = &ask->parts[i];
        if (!ap->asker && !(ap->answered
                            && (ap->state == TPC_P3_COMMITTED
                                || ap->state == TPC_P3_UNCERTAIN
                                || ap->state == TPC_P3_PRECOMMITTED)))
            continue;
        ce_member_t *p = ce_member_add (self, t, ap->name);
        if (p) {
            p->vote = TPC_VOTE_YES;
            p->asked = p->phase2 = true;
        }
    }
    ce_commit_decide (self, t);
}

/*  Is a resolve of GID waiting for its record?                          */
static bool
s_resolve_pending (coord_engine_t *self, const char *gid)
{
    for (size_t i = 0; i < self->nresolving; i++)
        if (!strcmp (self->resolving[i].gid, gid))
            return true;
    return false;
}

/*  Has something other than the round settled ASK's gid meanwhile (an
 *  operator's resolve, durable or being written)?  Then the askers hear
 *  that (in_progress while the resolve is written), never a commit the
 *  round found (COMMITTED: who reported it), and ASK is freed.          */
static bool
s_ask_overruled (coord_engine_t *self, ce_ask_t *ask, const char *committed)
{
    ce_view_t v = ce_view (self, ask->gid);
    bool pending = !strcmp (v.state, "unknown")
                   && s_resolve_pending (self, ask->gid);
    if (!pending && !strcmp (v.state, "unknown"))
        return false;
    tpc_outcome_t out = pending ? TPC_OUTCOME_IN_PROGRESS : v.answer;
    s_ask_tell (self, ask, pending ? "unknown" : v.state,
                pending ? TPC_OUTCOME_IN_PROGRESS : v.outcome, "%s",
                pending ? "an operator's resolve is being written: ask again"
                        : "settled meanwhile");
    if (committed && out != TPC_OUTCOME_COMMITTED)
        ce_log (self, 1, "%s: '%s' reports it committed, but an operator "
                "resolves it (%s): the resolve stands (heuristic damage?)",
                ask->gid, committed, pending ? "being written" : v.state);
    else
        ce_log (self, 0, "%s: settled meanwhile (%s): answered %s", ask->gid,
                pending ? "a resolve being written" : v.state,
                tpc_outcome_name (out));
    s_ask_answer (self, ask, out);
    zhashx_delete (self->unconfirmed, ask->gid);
    zhashx_delete (self->asks, ask->gid);
    return true;
}

/*  Every answer is in, or the time is up (TIMED_OUT): decide what the
 *  askers hear, and forget ASK (freed).                                   */
void
ce_ask_settle (coord_engine_t *self, ce_ask_t *ask, bool timed_out)
{
    const char *committed = NULL, *blocking = NULL, *why = NULL;
    bool any = false;           /* some agent answered (or asked) */
    bool asked_by_agent = false;        /* not only status requests */
    for (size_t i = 0; i < ask->nparts; i++) {
        const s_askmember_t *ap = &ask->parts[i];
        any = any || ap->answered;
        asked_by_agent = asked_by_agent || ap->asker;
        if (ap->answered && ap->state == TPC_P3_COMMITTED && !committed)
            committed = ap->name;
        else if (!blocking && !ap->asker
                 && (!ap->answered || ap->state == TPC_P3_PRECOMMITTED
                     || ap->state == TPC_P3_UNKNOWN)) {
            blocking = ap->name;
            why = !ap->answered ? (ap->asked ? "did not answer in time"
                                             : "could not be reached")
                  : ap->state == TPC_P3_PRECOMMITTED
                  ? "is pre-committed (three-phase commit may commit it)"
                  : "cannot tell (its database did not answer)";
        }
    }
    if (s_ask_overruled (self, ask, committed))
        return;
    if (!blocking && ask->missing) {
        blocking = ask->missing_name;
        why = "is not connected (its marker may say committed)";
    }
    /* an agent known now but not asked (it said hello meanwhile) */
    for (ce_agent_t *a = zhashx_first (self->agents); a && !blocking;
         a = zhashx_next (self->agents))
        if (!s_ask_part (self, ask, a->name, false)) {
            blocking = a->name;
            why = "connected after the check began";
        }
    char checked[256];
    s_ask_checked (ask, checked, sizeof checked);
    if (committed && !ce_txn_lookup (self, ask->gid)) {
        zhashx_delete (self->unconfirmed, ask->gid);
        s_ask_commit (self, ask, committed);
        ce_view_t v = ce_view (self, ask->gid);
        s_ask_tell (self, ask, v.state, v.outcome, "no record, but the "
                    "marker on '%s' says committed: the commit is logged "
                    "again and sent to every participant (ask again)",
                    committed);
    }
    else if (committed || blocking) {
        ce_log (self, 0, "%s: no record; presumed abort not confirmed "
                "(agent '%s' did not answer, cannot tell, may commit, or is "
                "not connected): answered in_progress", ask->gid,
                blocking ? blocking : committed ? committed : "?");
        s_ask_answer (self, ask, TPC_OUTCOME_IN_PROGRESS);
        s_ask_tell (self, ask, "no_record", TPC_OUTCOME_IN_PROGRESS,
                    "no record, and no participant's marker says committed "
                    "so far, but '%s' %s: ask again, or settle it with "
                    "`tpcctl resolve`%s%s%s", blocking ? blocking : committed,
                    blocking ? why : "is being committed",
                    *checked ? " (checked with " : "", checked,
                    *checked ? ")" : "");
        /* resolvable only if an agent holds it prepared: a status alone
         * may ask about a one-phase gid, committed on an agent that is
         * down, which no operator may abort */
        if (asked_by_agent
            && zhashx_size (self->unconfirmed) < self->cfg.ended_cache)
            zhashx_update (self->unconfirmed, ask->gid, (void *) 1);
    }
    else if (!any) {
        /* a status alone, and no agent to ask: nothing is known */
        s_ask_tell (self, ask, "no_record", TPC_OUTCOME_IN_PROGRESS,
                    "no record, and no agent is known to ask about its "
                    "marker: ask again once the participants' agents are "
                    "connected");
    }
    else {
        zhashx_delete (self->unconfirmed, ask->gid);
        ce_log (self, 0, "%s: no record, no agent committed it%s: presumed "
                "abort", ask->gid, timed_out ? "" : " (every one answered)");
        s_ask_answer (self, ask, TPC_OUTCOME_ABORTED);
        s_ask_tell (self, ask, "no_record", TPC_OUTCOME_ABORTED,
                    "no record, and no participant's marker says committed "
                    "(checked with %s; a one-phase gid's agent that is "
                    "neither connected since the restart nor named in the "
                    "log, or a marker older than its agent's "
                    "--marker-retention-s, is not seen)", checked);
    }
    zhashx_delete (self->asks, ask->gid);
}

static ce_ask_t *s_ask_open (coord_engine_t *self, const char *gid,
                             const char *asker);

/*  Settle ASK if every agent asked has answered.                        */
static void
s_ask_settle_if_done (coord_engine_t *self, ce_ask_t *ask)
{
    for (size_t i = 0; i < ask->nparts; i++)
        if (ask->parts[i].asked && !ask->parts[i].answered)
            return;
    ce_ask_settle (self, ask, false);
}

/*  A query from NAME for GID, whose view V presumes abort: check it with
 *  the other agents first.  Returns true when the query is taken (answered
 *  in_progress, or pending), false to answer V as before.                */
bool
ce_ask_start (coord_engine_t *self, const char *name, const char *gid,
              const ce_view_t *v)
{
    tpc_gid_t g;
    if (v->answer != TPC_OUTCOME_ABORTED || strcmp (v->state, "unknown")
        || tpc_gid_parse (gid, &g) || g.epoch >= self->epoch)
        return false;
    if (self->now < self->ask_grace_until) {
        ce_log (self, 0, "%s: no record; agents may still be connecting: "
                "answered in_progress", gid);
        tpc_msg_t *answer = ce_msg (self, TPC_MSG_ANSWER);
        if (answer) {
            answer->outcome = TPC_OUTCOME_IN_PROGRESS;
            ce_keep_err (self, tpc_msg_set_str (&answer->gid, gid));
            ce_to_agent (self, name, answer);
        }
        return true;
    }
    ce_ask_t *ask = zhashx_lookup (self->asks, gid);
    if (ask) {
        s_askmember_t *p = s_ask_part (self, ask, name, true);
        if (p) {
            p->asker = true;
            if (p->asked && !p->answered) {
                p->answered = true;     /* it holds gid prepared */
                p->state = TPC_P3_UNCERTAIN;
            }
            s_ask_settle_if_done (self, ask);
        }
        return true;
    }
    s_ask_open (self, gid, name);
    return true;
}

/*  A status request (client ID, LEN, RID) for GID, whose view V has no
 *  record: for a gid of an earlier boot, the reply waits for the same
 *  check as an agent's query (a round already running, or a new one)
 *  and says how the coordinator knows.  Returns false when V is not such
 *  a gid (the caller answers as before).                                 */
bool
ce_ask_status (coord_engine_t *self, const uint8_t *id, size_t len,
               uint64_t rid, const char *gid, const ce_view_t *v)
{
    tpc_gid_t g;
    if (v->foreign || strcmp (v->state, "unknown") || tpc_gid_parse (gid, &g)
        || g.epoch >= self->epoch)
        return false;
    if (self->now < self->ask_grace_until) {
        ce_reply_status (self, id, len, rid, gid, "no_record",
                         TPC_OUTCOME_IN_PROGRESS, "no record, and the "
                         "coordinator started moments ago: the agents that "
                         "would check the participants' markers may still "
                         "be connecting (ask again in a few seconds)");
        return true;
    }
    ce_ask_t *ask = zhashx_lookup (self->asks, gid);
    if (!ask)
        ask = s_ask_open (self, gid, NULL);
    if (!ask)
        return true;            /* the sticky error */
    ce_req_t *w = realloc (ask->waiters, (ask->nwaiters + 1) * sizeof *w);
    if (!w) {
        self->err = TPC_ENOMEM;
        return true;
    }
    ask->waiters = w;
    memset (&w[ask->nwaiters], 0, sizeof *w);
    ce_req_set (self, &w[ask->nwaiters], id, len, rid);
    ask->nwaiters++;
    s_ask_settle_if_done (self, ask);
    return true;
}

/*  Start a round for GID: outcome_of to every other known agent that is
 *  connected.  ASKER, an agent's query, counts as uncertain, and the
 *  round settles at once if nobody is left to wait for: NULL is
 *  returned.  ASKER NULL (a status request): the round is returned (NULL
 *  on failure), and the caller adds its waiter before it may settle.    */
static ce_ask_t *
s_ask_open (coord_engine_t *self, const char *gid, const char *asker)
{
    ce_ask_t *ask = calloc (1, sizeof *ask);
    if (!ask) {
        self->err = TPC_ENOMEM;
        return NULL;
    }
    snprintf (ask->gid, sizeof ask->gid, "%s", gid);
    ask->deadline = self->now + 3 * self->cfg.heartbeat_ms;
    zhashx_insert (self->asks, ask->gid, ask);
    s_askmember_t *me = asker ? s_ask_part (self, ask, asker, true) : NULL;
    if (me) {
        me->asker = me->answered = true;
        me->state = TPC_P3_UNCERTAIN;
    }
    for (ce_agent_t *a = zhashx_first (self->agents); a;
         a = zhashx_next (self->agents)) {
        if (asker && !strcmp (a->name, asker))
            continue;
        if (!a->connected) {
            if (!ask->missing)
                snprintf (ask->missing_name, sizeof ask->missing_name, "%s",
                          a->name);
            ask->missing = true;
            continue;
        }
        s_askmember_t *p = s_ask_part (self, ask, a->name, true);
        tpc_msg_t *msg = ce_msg (self, TPC_MSG_OUTCOME_OF);
        if (!p || !msg || tpc_msg_set_str (&msg->gid, gid)) {
            self->err = TPC_ENOMEM;
            tpc_msg_destroy (&msg);
            continue;
        }
        p->asked = true;
        ce_to_agent (self, a->name, msg);
    }
    ce_log (self, 0, "%s: no record: asking the %sagents before "
            "presuming abort", gid, asker ? "other " : "");
    if (!asker)
        return ask;
    s_ask_settle_if_done (self, ask);
    return NULL;
}

/*  known: agent NAME's answer to an outcome_of.                          */
void
ce_on_known (coord_engine_t *self, const char *name, const tpc_msg_t *msg)
{
    ce_ask_t *ask = zhashx_lookup (self->asks, msg->gid);
    s_askmember_t *p = ask ? s_ask_part (self, ask, name, false) : NULL;
    if (!p || !p->asked || p->answered) {
        ce_log (self, 0, "%s: stale known %s from '%s' ignored", msg->gid,
                tpc_p3_name (msg->p3), name);
        return;
    }
    p->answered = true;
    p->state = msg->p3;
    if (msg->p3 == TPC_P3_COMMITTED)
        ce_ask_settle (self, ask, false);
    else
        s_ask_settle_if_done (self, ask);
}

/*  An outcome_of to NAME could not be sent.                              */
void
ce_ask_unreachable (coord_engine_t *self, const char *name, const char *gid)
{
    ce_ask_t *ask = gid ? zhashx_lookup (self->asks, gid) : NULL;
    s_askmember_t *p = ask ? s_ask_part (self, ask, name, false) : NULL;
    if (!p || !p->asked || p->answered)
        return;
    p->asked = false;
    if (!ask->missing)
        snprintf (ask->missing_name, sizeof ask->missing_name, "%s", name);
    ask->missing = true;
    s_ask_settle_if_done (self, ask);
}

/*  The earliest deadline of a pending round (COORD_NEVER: none).        */
uint64_t
ce_asks_wake (coord_engine_t *self)
{
    uint64_t w = COORD_NEVER;
    for (ce_ask_t *ask = zhashx_first (self->asks); ask;
         ask = zhashx_next (self->asks))
        w = CE_MIN (w, ask->deadline);
    return w;
}

void
ce_asks_due (coord_engine_t *self, uint64_t now)
{
    ce_ask_t *ask = zhashx_first (self->asks);
    while (ask) {
        if (now >= ask->deadline) {
            ce_ask_settle (self, ask, true);     /* deletes it */
            ask = zhashx_first (self->asks);    /* the cursor is gone */
        }
        else
            ask = zhashx_next (self->asks);
    }
}

void
ce_on_query (coord_engine_t *self, const char *name, const tpc_msg_t *msg)
{
    ce_view_t v = ce_view (self, msg->gid);
    if (v.foreign)
        ce_log (self, 1, "agent '%s' asks about %s, which is not this "
                "coordinator's: answered in_progress", name, msg->gid);
    if (ce_ask_start (self, name, msg->gid, &v))
        return;
    tpc_msg_t *answer = ce_msg (self, TPC_MSG_ANSWER);
    if (!answer)
        return;
    answer->outcome = v.answer;
    ce_keep_err (self, tpc_msg_set_str (&answer->gid, msg->gid));
    ce_to_agent (self, name, answer);
}
