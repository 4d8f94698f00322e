/*  part_p3: the agent's three-phase commit (part of part_engine, over
 *  part_engine_int.h; pure like it): the durable 3PC state of each gid,
 *  precommit and getstate (the coordinator's and the peers'), and the
 *  termination protocol run among the participants when the coordinator
 *  falls silent.  The 2PC record machine a 3PC gid also has is drawn in
 *  part_engine.c.
 *
 *  THREE-PHASE COMMIT (prepare / work then=prepare with protocol 3pc;
 *  ARCHITECTURE.md, "Three-phase commit").  Besides its record, such a
 *  gid has a 3PC state (pe_p3_t), made durable through io->persist
 *  BEFORE the engine acts on it: fdatasync'd before persist returns, or
 *  (the agent shell's group commit) before any action queued after the
 *  call leaves, so one fdatasync covers every gid of a loop turn.  Each arrow
 *  names its function (s_start_prepare, s_on_prepared and pe_phase2 are
 *  in part_engine.c).
 *
 *   (none) --prepare (s_start_prepare): persist UNCERTAIN (with the
 *             CanCommit's parts and peers) FIRST, then PREPARE (kept even
 *             read-only: keep_readonly), timer unarmed; PREPARE durable
 *             (s_on_prepared): VOTE YES, timer armed------> UNCERTAIN
 *             (persist missing or failing: vote no, never prepared, ROLLBACK;
 *             PREPARE failed: persist ABORTED, vote no)
 *   UNCERTAIN --precommit (coordinator or leader; s_p3_precommit):
 *             persist, reply state precommitted-----------> PRECOMMITTED
 *   UNCERTAIN --the coordinator's precommit after a peer's getstate was
 *             answered (hardened): reply state uncertain--> UNCERTAIN
 *   UNCERTAIN | PRECOMMITTED --decide | answer committed|aborted (any
 *             path; pe_phase2): persist, then COMMIT/ROLLBACK PREPARED,
 *             then ack (the coordinator's) or state (a peer's)
 *             ---------------------------------------> COMMITTED | ABORTED
 *   COMMITTED | ABORTED --p3_forget_ms (pe_p3_tick)-----> (none)
 *
 *  Termination, per undecided gid (s_p3_round, s_p3_evaluate, pe_p3_tick):
 *
 *   WAIT    --p3_timeout_ms since the last state change: getstate to
 *             every other participant----------------------> COLLECT
 *   COLLECT --all replied, or p3_collect_ms: R = self + responders;
 *             leader = lowest name in R holding a state (not UNKNOWN)
 *             - any COMMITTED: decide committed; else any ABORTED:
 *               decide aborted (leader or not)
 *             - not the leader--------------------------------> FOLLOW
 *             - leader: any PRECOMMITTED: own
 *               PRECOMMITTED durable, precommit to R's uncertain
 *               ones----------------------------------------> LEAD
 *               (none uncertain: decide committed); else decide
 *               aborted.  A decision: persist, send decide to R,
 *               apply here (s_p3_conclude)----------> COMMITTED | ABORTED
 *   FOLLOW  --p3_timeout_ms without the leader's word------> COLLECT
 *   LEAD    --all precommitted (or one committed): decide committed;
 *             one aborted: decide aborted; p3_collect_ms: ---> COLLECT
 *   any     --a precommit (accepted)-----------------------> WAIT
 *
 *  3PC INVARIANTS
 *  - vote yes only after UNCERTAIN is durable; state precommitted only
 *    after PRECOMMITTED is; COMMIT/ROLLBACK PREPARED (and a leader's
 *    decide to its peers) only after COMMITTED/ABORTED is.  A failed
 *    persist changes nothing (logged; the shell stops the process).
 *  - a durable decision is never changed: a contradicting decide or
 *    answer applies the durable one (the ack tells the truth).
 *  - hardened (answered a peer's getstate while UNCERTAIN, memory only):
 *    the coordinator's precommit is answered "uncertain" until decided.
 *  - a decision (COMMITTED/ABORTED) seen in a round is adopted by any
 *    member, leader or not (rules 1 and 2); rules 3 and 4 only by the
 *    leader.  A decided agent never runs termination again, so waiting
 *    for it to lead would wait for ever.
 *  - a participant that cannot be asked (no peer endpoint, no peer link,
 *    peer_send failed, not on the list) makes the round incomplete: then
 *    only a decision seen is adopted, never rule 3 or 4 (a silent peer is
 *    taken for crashed, an unasked one is not); the coordinator (and the
 *    2PC query path) settles the gid.
 *  - UNCERTAIN is durable before the database prepares, so no prepared
 *    3PC gid ever lacks its state, and a 3PC prepare never votes readonly
 *    (part_rm keep_readonly): UNKNOWN means "never voted yes".  A peer's
 *    decide about a gid with no 3PC state here is never applied; a peer
 *    request from an agent not among the gid's participants is ignored.
 *  - a gid restored undecided (this agent was down) leads only a round
 *    that reached every participant (it may adopt a decision it sees):
 *    a round it missed may have decided without it.  For the same reason
 *    it reports PRECOMMITTED as UNCERTAIN to a peer's getstate.
 *  - getstate is answered with the durable state; a gid never voted yes
 *    on and aborted here says "aborted", anything else "unknown".
 *  - a peer's decide is answered with "state" at once (the durable
 *    decision); acks go only to the coordinator, for its own messages.
 */
#include "part_engine_int.h"

#include <czmq.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tpc_error.h"
#include "tpc_gid.h"

static const char *const s_term_names[] = { "wait", "collect", "follow", "lead" };

/* ------------------------------------------------------------------ */
/*  Three-phase commit: durable state per gid                          */

bool
pe_p3_is_decided (tpc_p3_t state)
{
    return state == TPC_P3_COMMITTED || state == TPC_P3_ABORTED;
}

static void
s_p3_unlink (part_engine_t *self, pe_p3_t *p3)
{
    if (p3->prev)
        p3->prev->next = p3->next;
    else if (p3->in_done)
        self->done_head = p3->next;
    else
        self->live = p3->next;
    if (p3->next)
        p3->next->prev = p3->prev;
    else if (p3->in_done)
        self->done_tail = p3->prev;
    p3->prev = p3->next = NULL;
}

static void
s_p3_free (pe_p3_t **p3_p)
{
    pe_p3_t *p3 = *p3_p;
    if (!p3)
        return;
    tpc_strv_free (&p3->parts, p3->nparts);
    tpc_strv_free (&p3->peers, p3->nparts);
    free (p3->seen);
    free (p3->heard);
    free (p3->pending);
    free (p3);
    *p3_p = NULL;
}

/*  A new entry, not yet in the engine (s_p3_insert), or NULL.            */
static pe_p3_t *
s_p3_new (const char *gid, tpc_p3_t state, size_t nparts, char *const *parts,
          size_t npeers, char *const *peers)
{
    pe_p3_t *p3 = calloc (1, sizeof *p3);
    if (!p3)
        return NULL;
    snprintf (p3->gid, sizeof p3->gid, "%s", gid);
    p3->state = state;
    p3->nparts = nparts;
    if (tpc_strv_copy (&p3->parts, nparts, parts, nparts) != 0
        || tpc_strv_copy (&p3->peers, nparts, peers, npeers) != 0
        || (nparts && (!(p3->seen = calloc (nparts, sizeof *p3->seen))
                       || !(p3->heard = calloc (nparts, sizeof *p3->heard))
                       || !(p3->pending = calloc (nparts, sizeof *p3->pending)))))
        s_p3_free (&p3);
    return p3;
}

/*  Put P3 on the list its state belongs to (live, or the done FIFO).    */
static void
s_p3_link (part_engine_t *self, pe_p3_t *p3)
{
    p3->in_done = pe_p3_is_decided (p3->state);
    if (p3->in_done) {
        p3->prev = self->done_tail;
        p3->next = NULL;
        if (self->done_tail)
            self->done_tail->next = p3;
        else
            self->done_head = p3;
        self->done_tail = p3;
    }
    else {
        p3->prev = NULL;
        p3->next = self->live;
        if (self->live)
            self->live->prev = p3;
        self->live = p3;
    }
}

/*  Hand P3 to the engine, replacing any entry of its gid.                */
static int
s_p3_insert (part_engine_t *self, pe_p3_t *p3)
{
    pe_p3_t *old = zhashx_lookup (self->p3s, p3->gid);
    if (old) {
        s_p3_unlink (self, old);
        zhashx_delete (self->p3s, old->gid);
        s_p3_free (&old);
    }
    if (zhashx_insert (self->p3s, p3->gid, p3) != 0)
        return TPC_ENOMEM;
    s_p3_link (self, p3);
    return 0;
}

void
pe_p3_remove (part_engine_t *self, pe_p3_t *p3)
{
    s_p3_unlink (self, p3);
    zhashx_delete (self->p3s, p3->gid);
    s_p3_free (&p3);
}

pe_p3_t *
pe_p3_lookup (part_engine_t *self, const char *gid)
{
    return gid ? zhashx_lookup (self->p3s, gid) : NULL;
}

/*  Make STATE durable (io->persist) and only then adopt it.  On failure
 *  nothing changes: the shell stops the process.                         */
static int
s_p3_persist (part_engine_t *self, pe_p3_t *p3, tpc_p3_t state)
{
    int rc = TPC_EINVAL;
    if (self->io.persist)
        rc = self->io.persist (self->io.arg, p3->gid, state, p3->nparts,
                               p3->parts, p3->peers);
    if (rc != 0) {
        pe_log (self, PE_WARNING, "%s: 3PC state %s could not be made durable%s: not "
               "acted on", p3->gid, tpc_p3_name (state),
               self->io.persist ? "" : " (no state log)");
        return rc < 0 ? rc : TPC_EIO;
    }
    if (p3->state == state)
        pe_log (self, PE_VERBOSE, "%s: 3pc %s durable", p3->gid, tpc_p3_name (state));
    else
        pe_log (self, PE_VERBOSE, "%s: 3pc %s -> %s", p3->gid, tpc_p3_name (p3->state),
               tpc_p3_name (state));
    bool move = pe_p3_is_decided (state) != pe_p3_is_decided (p3->state);
    if (move)
        s_p3_unlink (self, p3);
    p3->state = state;
    if (move)
        s_p3_link (self, p3);
    return 0;
}

/*  Undecided P3 waits for the coordinator (or a leader) from now on.     */
void
pe_p3_wait (part_engine_t *self, pe_p3_t *p3, uint64_t now)
{
    p3->phase = PE_WAIT;
    p3->at = now + self->cfg.p3_timeout_ms;
    if (p3->nparts)
        memset (p3->pending, 0, p3->nparts * sizeof *p3->pending);
}

/*  Make the decision OUTCOME durable.  0, or the persist failure; a gid
 *  already decided keeps its decision (TPC_ESTATE if it differs).        */
int
pe_p3_decide (part_engine_t *self, pe_p3_t *p3, tpc_outcome_t outcome,
             uint64_t now)
{
    tpc_p3_t want = outcome == TPC_OUTCOME_COMMITTED ? TPC_P3_COMMITTED
                                                     : TPC_P3_ABORTED;
    if (p3->state == want)
        return 0;
    if (pe_p3_is_decided (p3->state))
        return TPC_ESTATE;
    int rc = s_p3_persist (self, p3, want);
    if (rc == 0) {
        pe_p3_wait (self, p3, now);
        p3->at = now + self->cfg.p3_forget_ms;
    }
    return rc;
}

tpc_outcome_t
pe_p3_outcome (tpc_p3_t state)
{
    return state == TPC_P3_COMMITTED ? TPC_OUTCOME_COMMITTED
           : state == TPC_P3_ABORTED ? TPC_OUTCOME_ABORTED : TPC_OUTCOME_NONE;
}

/*  3PC: make GID's UNCERTAIN, with MSG's CanCommit (participants, peer
 *  endpoints), durable BEFORE the database prepares (called by
 *  s_start_prepare).  NULL, or why it could not be (static text: the
 *  vote will be no).                                                     */
const char *
pe_p3_uncertain (part_engine_t *self, const char *gid, const tpc_msg_t *msg)
{
    /* a crash between UNCERTAIN and PREPARE must not leave a prepared
     * transaction that only a (maybe dead) coordinator could settle */
    const char *why = NULL;
    pe_p3_t *p3 = NULL;
    if (pe_p3_lookup (self, gid))
        why = "the agent already holds a three-phase commit state for "
              "this transaction";
    else if (!(p3 = s_p3_new (gid, TPC_P3_UNCERTAIN, msg->nparts,
                              msg->parts, msg->npeers, msg->peers)))
        why = "out of memory in the agent";
    else if (s_p3_persist (self, p3, TPC_P3_UNCERTAIN) != 0)
        why = self->io.persist
              ? "the agent could not make its three-phase commit state "
                "durable"
              : "three-phase commit needs the agent's state log "
                "(--state-dir)";
    else if (s_p3_insert (self, p3) != 0)
        why = "out of memory in the agent";
    else {
        /* no termination while the database prepares (its statements
         * may run long): the timer starts with the yes vote */
        p3->phase = PE_WAIT;
        p3->at = UINT64_MAX;
        p3 = NULL;
    }
    if (p3)
        s_p3_free (&p3);
    return why;
}

/* ------------------------------------------------------------------ */
/*  Three-phase commit: precommit, getstate, termination               */

/*  What this agent says about GID: its durable 3PC state; a transaction
 *  it never voted yes on and aborted says ABORTED (it can only abort,
 *  though nothing durable backs that); else UNKNOWN.                     */
static tpc_p3_t
s_p3_state_of (part_engine_t *self, const char *gid)
{
    pe_p3_t *p3 = pe_p3_lookup (self, gid);
    if (p3)
        return p3->state;
    pe_rec_t *rec = zhashx_lookup (self->recs, gid);
    return rec && rec->state == PE_ABORTED ? TPC_P3_ABORTED : TPC_P3_UNKNOWN;
}

/*  state {GID, STATE, SEQ} (SEQ: the request's round, 0 = none).        */
static tpc_msg_t *
s_state_msg (const char *gid, tpc_p3_t state, uint64_t seq)
{
    tpc_msg_t *msg = pe_msg (TPC_MSG_STATE, gid, NULL);
    if (msg) {
        msg->p3 = state;
        msg->seq = seq;
    }
    return msg;
}

static void
s_peer_reply (part_engine_t *self, const void *from, size_t from_len,
              tpc_msg_t *msg)
{
    if (!msg) {
        pe_log (self, PE_WARNING, "out of memory: a reply to a peer is lost");
        return;
    }
    if (!self->io.peer_link) {
        pe_log (self, PE_WARNING, "%s: no peer link: %s reply dropped", msg->gid,
               tpc_msg_type_name (msg->type));
        tpc_msg_destroy (&msg);
        return;
    }
    part_action_t act = { .type = PART_ACT_PEER_REPLY, .msg = msg,
                          .from = malloc (from_len ? from_len : 1),
                          .from_len = from_len };
    if (act.from)
        memcpy (act.from, from, from_len);
    if (!act.from || pe_push (self, &act) != 0) {
        part_action_clear (&act);
        pe_log (self, PE_WARNING, "out of memory: a reply to a peer is lost");
    }
}

/*  Send TYPE (getstate, precommit, decide OUTCOME) about P3's gid to
 *  participant I.  0, or non-zero when it could not be sent.             */
static int
s_peer_send (part_engine_t *self, pe_p3_t *p3, size_t i, tpc_msg_type_t type,
             tpc_outcome_t outcome)
{
    if (!self->io.peer_link || !*p3->peers[i])
        return TPC_ECONNECT;
    tpc_msg_t *msg = pe_msg (type, p3->gid, NULL);
    if (msg && tpc_msg_set_str (&msg->name, self->name) != 0)
        tpc_msg_destroy (&msg);         /* the asker names itself */
    if (!msg)
        return TPC_ENOMEM;
    msg->outcome = outcome;
    msg->seq = p3->round;       /* echoed in the reply: stale ones known */
    pe_log (self, PE_VERBOSE, "%s: -> %s %s%s%s", p3->gid, p3->parts[i],
           tpc_msg_type_name (type), outcome ? " " : "",
           outcome ? tpc_outcome_name (outcome) : "");
    part_action_t act = { .type = PART_ACT_PEER_SEND, .msg = msg,
                          .name = strdup (p3->parts[i]),
                          .endpoint = strdup (p3->peers[i]),
                          .gid = strdup (p3->gid), .peer_type = type,
                          .round = p3->round };
    if (!act.name || !act.endpoint || !act.gid) {
        part_action_clear (&act);
        return TPC_ENOMEM;
    }
    return pe_push (self, &act);
}

static bool
s_p3_is_self (part_engine_t *self, const pe_p3_t *p3, size_t i)
{
    return strcmp (p3->parts[i], self->name) == 0;
}

/*  Is NAME (a peer request's sender) one of P3's participants?          */
static bool
s_p3_member (const pe_p3_t *p3, const char *name)
{
    for (size_t i = 0; name && i < p3->nparts; i++)
        if (strcmp (p3->parts[i], name) == 0)
            return true;
    return false;
}

/*  Apply GID's decision to the database like a decide, acking nobody.    */
static void
s_apply (part_engine_t *self, const char *gid, tpc_outcome_t outcome,
         uint64_t now)
{
    tpc_msg_t *msg = pe_msg (TPC_MSG_DECIDE, gid, NULL);
    if (!msg) {
        pe_log (self, PE_WARNING, "%s: out of memory: decision %s not applied yet", gid,
               tpc_outcome_name (outcome));
        return;
    }
    msg->outcome = outcome;
    pe_handle (self, msg, false, true, now);
}

/*  The termination leader decides OUTCOME: durable first, then every
 *  other member of R hears it, then the database here applies it.       */
static void
s_p3_conclude (part_engine_t *self, pe_p3_t *p3, tpc_outcome_t outcome,
               uint64_t now)
{
    int rc = pe_p3_decide (self, p3, outcome, now);
    if (rc == TPC_ESTATE)
        outcome = pe_p3_outcome (p3->state);
    else if (rc != 0) {
        pe_p3_wait (self, p3, now);          /* not durable: not acted on */
        return;
    }
    pe_log (self, PE_VERBOSE, "%s: termination round %llu decided %s", p3->gid,
           (unsigned long long) p3->round, tpc_outcome_name (outcome));
    for (size_t i = 0; i < p3->nparts; i++)
        if (p3->heard[i] && !s_p3_is_self (self, p3, i))
            s_peer_send (self, p3, i, TPC_MSG_DECIDE, outcome);
    char gid[TPC_GID_MAX];
    snprintf (gid, sizeof gid, "%s", p3->gid);
    s_apply (self, gid, outcome, now);
}

/*  The collection is over: R = this agent and every member that replied.
 *  The leader is the lowest name in R among those holding a 3PC state (a
 *  member that says UNKNOWN never voted yes and never runs termination,
 *  so it could never lead).  Any member may adopt a decision it saw.    */
static void
s_p3_evaluate (part_engine_t *self, pe_p3_t *p3, uint64_t now)
{
    const char *leader = self->name;
    bool any_c = p3->state == TPC_P3_COMMITTED;
    bool any_a = p3->state == TPC_P3_ABORTED;
    bool any_p = p3->state == TPC_P3_PRECOMMITTED;
    size_t nr = 1;
    for (size_t i = 0; i < p3->nparts; i++) {
        if (!p3->heard[i] || s_p3_is_self (self, p3, i))
            continue;
        nr++;
        any_c |= p3->seen[i] == TPC_P3_COMMITTED;
        any_a |= p3->seen[i] == TPC_P3_ABORTED;
        any_p |= p3->seen[i] == TPC_P3_PRECOMMITTED;
        if (p3->seen[i] != TPC_P3_UNKNOWN && strcmp (p3->parts[i], leader) < 0)
            leader = p3->parts[i];
    }
    /* A site back from a crash may have missed a round that decided
     * without it (Skeen's recovered site): it leads only a round that
     * reached every participant, else it may only adopt a decision.      */
    bool blocked = p3->restored && nr < p3->nparts;
    bool lead = !p3->incomplete && !blocked && leader == self->name;
    /* A decision seen anywhere is final: anyone adopts it (rules 1 and 2
     * need no leader; a decided leader would never lead again).          */
    if (!lead && !any_c && !any_a) {
        int level = p3->round > 1 ? PE_VERBOSE : PE_WARNING;  /* say once */
        if (p3->incomplete)
            pe_log (self, level, "%s: termination cannot run (a participant "
                    "has no known peer endpoint): waiting for the "
                    "coordinator", p3->gid);
        else if (blocked)
            pe_log (self, level, "%s: back from a crash, %zu of %zu "
                    "participants reached: waiting for all, a decision or "
                    "the coordinator", p3->gid, nr, p3->nparts);
        else
            pe_log (self, PE_VERBOSE, "%s: termination round %llu: %s leads (%zu "
                   "reached): waiting", p3->gid,
                   (unsigned long long) p3->round, leader, nr);
        pe_p3_wait (self, p3, now);
        p3->phase = PE_FOLLOW;
        return;
    }
    /* rules 1 and 2: a decision taken anywhere is the decision */
    if (any_c) {
        s_p3_conclude (self, p3, TPC_OUTCOME_COMMITTED, now);
        return;
    }
    if (any_a) {
        s_p3_conclude (self, p3, TPC_OUTCOME_ABORTED, now);
        return;
    }
    /* rule 4: nobody reached is pre-committed, so no one can have
     * committed (the coordinator commits only with every ack) */
    if (!any_p) {
        s_p3_conclude (self, p3, TPC_OUTCOME_ABORTED, now);
        return;
    }
    /* rule 3: bring every uncertain member to pre-committed, then commit */
    if (p3->state == TPC_P3_UNCERTAIN
        && s_p3_persist (self, p3, TPC_P3_PRECOMMITTED) != 0) {
        pe_p3_wait (self, p3, now);
        return;
    }
    /* (phase and pending are set before anything is sent: a reply may
     * come back from inside peer_send) */
    size_t n = 0;
    p3->phase = PE_LEAD;
    p3->at = now + self->cfg.p3_collect_ms;
    for (size_t i = 0; i < p3->nparts; i++) {
        p3->pending[i] = p3->heard[i] && !s_p3_is_self (self, p3, i)
                         && p3->seen[i] == TPC_P3_UNCERTAIN;
        n += p3->pending[i];
    }
    if (n == 0) {
        s_p3_conclude (self, p3, TPC_OUTCOME_COMMITTED, now);
        return;
    }
    pe_log (self, PE_VERBOSE, "%s: termination round %llu: leading, %zu precommit(s) "
           "to send", p3->gid, (unsigned long long) p3->round, n);
    uint64_t round = p3->round;
    for (size_t i = 0; i < p3->nparts; i++)
        if (p3->pending[i] && p3->phase == PE_LEAD && p3->round == round)
            s_peer_send (self, p3, i, TPC_MSG_PRECOMMIT, TPC_OUTCOME_NONE);
}

/*  ROUND's getstates are out (or failed): evaluate once nobody is left to
 *  wait for.                                                             */
static void
s_p3_collected (part_engine_t *self, pe_p3_t *p3, uint64_t round,
                uint64_t now)
{
    if (p3->phase != PE_COLLECT || p3->round != round
        || pe_p3_is_decided (p3->state))
        return;
    for (size_t i = 0; i < p3->nparts; i++)
        if (p3->pending[i])
            return;
    s_p3_evaluate (self, p3, now);          /* nobody left to wait for */
}

/*  TERMINATION: ask every other participant for its state.              */
static void
s_p3_round (part_engine_t *self, pe_p3_t *p3, uint64_t now)
{
    p3->round++;
    p3->phase = PE_COLLECT;
    p3->at = now + self->cfg.p3_collect_ms;
    bool found = false;
    for (size_t i = 0; i < p3->nparts; i++)
        found |= s_p3_is_self (self, p3, i);
    p3->incomplete = !found;        /* no list, or not one we are on */
    /* everyone to ask is pending before the first send is queued */
    for (size_t i = 0; i < p3->nparts; i++) {
        p3->heard[i] = false;
        p3->seen[i] = TPC_P3_UNKNOWN;
        p3->pending[i] = false;
        if (s_p3_is_self (self, p3, i))
            continue;
        if (!self->io.peer_link || !*p3->peers[i])
            p3->incomplete = true;
        else
            p3->pending[i] = true;
    }
    pe_log (self, PE_VERBOSE, "%s: %s, nothing heard: termination round %llu",
           p3->gid, tpc_p3_name (p3->state), (unsigned long long) p3->round);
    uint64_t round = p3->round;
    for (size_t i = 0; i < p3->nparts; i++) {
        if (!p3->pending[i] || p3->phase != PE_COLLECT || p3->round != round)
            continue;
        /* one that does not answer is taken for crashed (the model's
         * reliable timeouts), one we could not even ask is not */
        if (s_peer_send (self, p3, i, TPC_MSG_GETSTATE, TPC_OUTCOME_NONE) != 0) {
            p3->pending[i] = false;
            p3->incomplete = true;
        }
    }
    s_p3_collected (self, p3, round, now);
}

/*  A getstate of P3's ROUND failed: stop waiting for participant NAME.   */
void
pe_p3_peer_failed (part_engine_t *self, const part_action_t *act,
                   uint64_t now)
{
    pe_p3_t *p3 = act->gid ? pe_p3_lookup (self, act->gid) : NULL;
    if (!p3 || !act->name || act->peer_type != TPC_MSG_GETSTATE
        || p3->phase != PE_COLLECT || p3->round != act->round)
        return;
    for (size_t i = 0; i < p3->nparts; i++)
        if (p3->pending[i] && strcmp (p3->parts[i], act->name) == 0) {
            p3->pending[i] = false;
            p3->incomplete = true;
            s_p3_collected (self, p3, act->round, now);
            return;
        }
}

/*  A precommit for GID (FROM_COORD: the coordinator's, else a leader's).
 *  Returns the state to reply, or -1: no reply (not durable).            */
static int
s_p3_precommit (part_engine_t *self, const char *gid, bool from_coord,
                uint64_t now)
{
    pe_p3_t *p3 = pe_p3_lookup (self, gid);
    if (!p3)
        return (int) s_p3_state_of (self, gid);
    if (p3->state == TPC_P3_UNCERTAIN) {
        if (from_coord && p3->hardened) {
            /* a termination has started: the leader's word settles it */
            pe_log (self, PE_VERBOSE, "%s: coordinator's precommit refused: "
                   "termination running", gid);
            return TPC_P3_UNCERTAIN;
        }
        if (s_p3_persist (self, p3, TPC_P3_PRECOMMITTED) != 0)
            return -1;
        pe_p3_wait (self, p3, now);
    }
    return (int) p3->state;
}

/*  A precommit or getstate from the coordinator: reply with the state.  */
void
pe_p3_on_coord (part_engine_t *self, const tpc_msg_t *msg, uint64_t now)
{
    int state = msg->type == TPC_MSG_PRECOMMIT
                ? s_p3_precommit (self, msg->gid, true, now)
                : (int) s_p3_state_of (self, msg->gid);
    if (state >= 0)
        pe_send (self, s_state_msg (msg->gid, (tpc_p3_t) state, 0));
}

void
part_engine_on_peer_request (part_engine_t *self, const char *name,
                             const void *from, size_t from_len,
                             tpc_msg_t **msg_p, uint64_t now)
{
    tpc_msg_t *msg = *msg_p;
    *msg_p = NULL;
    if (!msg)
        return;
    if ((msg->type != TPC_MSG_GETSTATE && msg->type != TPC_MSG_PRECOMMIT
         && msg->type != TPC_MSG_DECIDE)
        || tpc_gid_parse (msg->gid, NULL) != 0) {
        pe_log (self, PE_WARNING, "unexpected %s from a peer ignored",
               tpc_msg_type_name (msg->type));
        tpc_msg_destroy (&msg);
        return;
    }
    pe_log (self, PE_VERBOSE, "%s: <- peer %s", msg->gid, tpc_msg_type_name (msg->type));
    char gid[TPC_GID_MAX];
    snprintf (gid, sizeof gid, "%s", msg->gid);
    pe_p3_t *p3 = pe_p3_lookup (self, gid);
    if (p3 && !s_p3_member (p3, name)) {
        /* only the gid's own participants take part in its termination:
         * anyone else's getstate would harden this agent, its decide
         * settle the gid */
        pe_log (self, PE_WARNING, "%s: %s from '%.63s', not a participant of it: "
               "ignored", gid, tpc_msg_type_name (msg->type),
               name ? name : "?");
        tpc_msg_destroy (&msg);
        return;
    }
    int state = -1;
    switch (msg->type) {
    case TPC_MSG_GETSTATE:
        state = (int) s_p3_state_of (self, gid);
        /* back from a crash, a pre-committed gid is reported uncertain to
         * a termination round: a round that ran while this agent was down
         * may have aborted without it, and its PRECOMMITTED must not make
         * another leader commit (simulation seed 440283).  Its own
         * leadership (every participant reached) uses the true state. */
        if (p3 && p3->restored && state == TPC_P3_PRECOMMITTED)
            state = TPC_P3_UNCERTAIN;
        if (p3 && p3->state == TPC_P3_UNCERTAIN && !p3->hardened) {
            pe_log (self, PE_VERBOSE, "%s: a peer runs the termination protocol: the "
                   "coordinator's precommit is refused from now on", gid);
            p3->hardened = true;
        }
        break;
    case TPC_MSG_PRECOMMIT:
        state = s_p3_precommit (self, gid, false, now);
        break;
    default:                            /* decide */
        if (msg->outcome != TPC_OUTCOME_COMMITTED
            && msg->outcome != TPC_OUTCOME_ABORTED)
            break;
        int rc = p3 ? pe_p3_decide (self, p3, msg->outcome, now) : 0;
        if (rc != 0 && rc != TPC_ESTATE)
            break;                      /* not durable: not acted on */
        if (p3 && pe_p3_is_decided (p3->state)
            && pe_p3_outcome (p3->state) != msg->outcome)
            pe_log (self, PE_WARNING, "%s: a peer's decide %s contradicts the durable "
                   "decision %s", gid, tpc_outcome_name (msg->outcome),
                   tpc_p3_name (p3->state));
        state = (int) s_p3_state_of (self, gid);
        s_peer_reply (self, from, from_len,
                      s_state_msg (gid, (tpc_p3_t) state, msg->seq));
        /* with no 3PC state here, this agent never voted yes on GID in a
         * three-phase commit (UNCERTAIN is durable before any prepare), or
         * forgot it long ago: nothing is applied.  A commit would only
         * leave an "aborted" tombstone for a committed gid, and an abort
         * could roll back a 2PC gid the coordinator alone decides (a no
         * vote rolls itself back). */
        if (p3)
            s_apply (self, gid, msg->outcome, now);
        state = -1;
        break;
    }
    if (state >= 0)
        s_peer_reply (self, from, from_len,
                      s_state_msg (gid, (tpc_p3_t) state, msg->seq));
    tpc_msg_destroy (&msg);
}

void
part_engine_on_peer_reply (part_engine_t *self, const char *name,
                           tpc_msg_t **msg_p, uint64_t now)
{
    tpc_msg_t *msg = *msg_p;
    *msg_p = NULL;
    if (!msg)
        return;
    pe_p3_t *p3 = msg->type == TPC_MSG_STATE ? pe_p3_lookup (self, msg->gid) : NULL;
    size_t i = 0;
    if (p3 && name)
        while (i < p3->nparts && strcmp (p3->parts[i], name) != 0)
            i++;
    if (!p3 || !name || i == p3->nparts || !p3->pending[i]
        || pe_p3_is_decided (p3->state)
        || (p3->phase != PE_COLLECT && p3->phase != PE_LEAD)
        || (msg->seq && msg->seq != p3->round)) {  /* an earlier round's */
        pe_log (self, PE_VERBOSE, "%s: %s from %s ignored", msg->gid ? msg->gid : "?",
               tpc_msg_type_name (msg->type), name ? name : "?");
        tpc_msg_destroy (&msg);
        return;
    }
    tpc_p3_t state = msg->p3;
    tpc_msg_destroy (&msg);
    pe_log (self, PE_VERBOSE, "%s: <- %s state %s", p3->gid, name, tpc_p3_name (state));
    if (p3->phase == PE_COLLECT) {
        p3->heard[i] = true;
        p3->seen[i] = state;
        p3->pending[i] = false;
        for (size_t k = 0; k < p3->nparts; k++)
            if (p3->pending[k])
                return;
        s_p3_evaluate (self, p3, now);          /* everybody answered */
        return;
    }
    /* LEAD: waiting for the uncertain ones to pre-commit */
    if (state == TPC_P3_COMMITTED || state == TPC_P3_ABORTED) {
        s_p3_conclude (self, p3, pe_p3_outcome (state), now);
        return;
    }
    if (state != TPC_P3_PRECOMMITTED)
        return;
    p3->pending[i] = false;
    for (size_t k = 0; k < p3->nparts; k++)
        if (p3->pending[k])
            return;
    s_p3_conclude (self, p3, TPC_OUTCOME_COMMITTED, now);
}

/*  Due 3PC timers: arm restored entries, forget decided ones, run the
 *  termination protocol for the undecided.                               */
void
pe_p3_tick (part_engine_t *self, uint64_t now)
{
    if (self->p3_unarmed)
        pe_p3_arm_restored (self, now);
    while (self->done_head && self->done_head->at <= now) {
        pe_log (self, PE_VERBOSE, "%s: 3pc state forgotten", self->done_head->gid);
        pe_p3_remove (self, self->done_head);
    }
    size_t n = 0;
    for (pe_p3_t *p = self->live; p; p = p->next)
        if (p->at <= now)
            n++;
    if (!n)
        return;
    char (*due)[TPC_GID_MAX] = calloc (n, sizeof *due);
    if (!due)
        return;
    size_t k = 0;
    for (pe_p3_t *p = self->live; p && k < n; p = p->next)
        if (p->at <= now)
            snprintf (due[k++], TPC_GID_MAX, "%s", p->gid);
    for (k = 0; k < n; k++) {
        pe_p3_t *p3 = pe_p3_lookup (self, due[k]);
        if (!p3 || pe_p3_is_decided (p3->state) || p3->at > now)
            continue;
        if (p3->phase == PE_COLLECT)
            s_p3_evaluate (self, p3, now);      /* collect_ms are over */
        else {
            if (p3->phase != PE_WAIT)
                pe_log (self, PE_VERBOSE, "%s: %s phase over: new termination round",
                       p3->gid, s_term_names[p3->phase]);
            s_p3_round (self, p3, now);
        }
    }
    free (due);
}

uint64_t
pe_p3_next_at (part_engine_t *self, uint64_t at, uint64_t now)
{
    if (self->p3_unarmed)
        return now;
    for (pe_p3_t *p = self->live; p; p = p->next)
        if (p->at < at)
            at = p->at;
    /* decided entries are forgotten in order */
    if (self->done_head && self->done_head->at < at)
        at = self->done_head->at;
    return at;
}

int
part_engine_restore (part_engine_t *self, const char *gid, tpc_p3_t state,
                     size_t nparts, char *const *parts, char *const *peers)
{
    if (!gid || tpc_gid_parse (gid, NULL) != 0 || state < TPC_P3_UNCERTAIN
        || state > TPC_P3_ABORTED || (nparts && !parts))
        return TPC_EINVAL;
    pe_p3_t *p3 = s_p3_new (gid, state, nparts, parts, peers ? nparts : 0, peers);
    if (!p3)
        return TPC_ENOMEM;
    p3->at = 0;                     /* armed at start (or the next tick) */
    p3->restored = !pe_p3_is_decided (state);
    int rc = s_p3_insert (self, p3);
    if (rc != 0) {
        s_p3_free (&p3);
        return rc;
    }
    self->p3_unarmed = true;
    pe_log (self, PE_VERBOSE, "%s: restored 3pc state %s", gid, tpc_p3_name (state));
    return 0;
}

/*  Arm what part_engine_restore put in: undecided ones wait p3_timeout_ms
 *  from NOW, decided ones are remembered p3_forget_ms from NOW.          */
void
pe_p3_arm_restored (part_engine_t *self, uint64_t now)
{
    for (pe_p3_t *p = self->live; p; p = p->next)
        if (p->at == 0)
            pe_p3_wait (self, p, now);
    /* restored decided ones go to the tail of the done FIFO (its times
     * stay in order) */
    size_t n = 0;
    for (pe_p3_t *p = self->done_head; p; p = p->next)
        n++;
    pe_p3_t *p = self->done_head;
    for (size_t i = 0; i < n && p; i++) {
        pe_p3_t *next = p->next;
        if (p->at == 0) {
            s_p3_unlink (self, p);
            p->at = now + self->cfg.p3_forget_ms;
            s_p3_link (self, p);
        }
        p = next;
    }
    self->p3_unarmed = false;
}

tpc_p3_t
part_engine_p3 (part_engine_t *self, const char *gid)
{
    pe_p3_t *p3 = pe_p3_lookup (self, gid);
    return p3 ? p3->state : TPC_P3_UNKNOWN;
}
