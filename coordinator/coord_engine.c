/*  coord_engine: two-phase commit with presumed abort, and Skeen's
 *  three-phase commit, as a pure state machine (see coord_engine.h for
 *  events and actions).  One engine over several files that share
 *  coord_engine_int.h (its top lists them); this one holds the state
 *  diagram below, the public entry points and the decision core (abort,
 *  commit and pre-commit decisions, durability, timers).
 *
 *  PER-TRANSACTION STATE MACHINE (gid = tpc_<id>_<epoch>_<seq>); each arrow
 *  names the function that takes it.
 *
 *                        begin (ce_on_begin)
 *                             |
 *  exec: work(then=none)      v         commit, 0 participants:
 *  worked ok: result   +-------------+  reply committed -> ENDED(committed)
 *  (ce_on_exec,         |   ACTIVE    |
 *   ce_on_worked)       +-------------+
 *      commit, >= 2 parts:  |   |   |  commit, 1 part: work(then=commit)
 *      prepare to each      |   |   +---------------------------+
 *      (ce_on_commit)        |   |  rollback, txn timeout,       |
 *                           |   |  worked failed, send failed,  |
 *  submit, >= 2 parts:      |   |  part gone (ce_abort)          |
 *  work(then=prepare)       |   +------------> ABORTING         |
 *  (ce_on_submit) ---+       |                                   v
 *                   v       v      submit, 1 part:        +----------+
 *                +-------------+   work(then=commit) ---> | ONEPHASE |
 *                |  PREPARING  |                          +----------+
 *                +-------------+              ack: reply its outcome, ENDED
 *   vote no, vote   |   |   |                 vote timeout: client gets
 *   timeout, txn    |   |   |                   EIN_DOUBT; forgotten
 *   timeout,        |   |   |                   abort_linger_ms later
 *   rollback, send  |   |   |                 send failed: -> ABORTING
 *   failed          |   |   |  every vote in, all readonly: reply
 *   (ce_abort)       |   |   +- committed, no record, no phase 2
 *   -> ABORTING <---+   |      -> ENDED(committed) (ce_votes_complete)
 *                       |
 *   every vote in, >= 1 yes: append COMMIT(gid, yes voters), FORCED,
 *   ticket t (ce_votes_complete)
 *                       v
 *         +------------------------+
 *         | COMMITTING, !durable   |  every send that depends on it is held
 *         +------------------------+
 *                       | coord_engine_durable(>= t) (s_commit_durable)
 *                       v
 *         +------------------------+  decide(committed) to each yes voter,
 *         | COMMITTING, durable    |  resent 100 ms doubling to 5 s and at
 *         +------------------------+  its hello; reply_on=decision: reply
 *                       |             now; applied: at the last ack or
 *                       |             ack_wait_ms later (ce_txn_due)
 *                       | every yes voter acked: append END, lazy
 *                       v (ce_on_ack, ce_commit_finished)
 *                ENDED(committed)
 *
 *         +------------------------+  decide(aborted) at once to each
 *         |        ABORTING        |  participant that did not vote no or
 *         +------------------------+  readonly, resent until acked or
 *                       |             abort_linger_ms passed; ABORT record,
 *                       |             lazy, if prepares went out
 *                       | acks in from every member waited for (not: one
 *                       | not connected that never voted yes,
 *                       | ce_abort_waits_for), or lingered, and an
 *                       | interactive client heard the outcome (or its
 *                       | deadline passed); an unacked member not
 *                       | connected is owed its decide(aborted) at its
 *                       | next hello (ce_agent_owe_abort)
 *                       v (ce_abort_settle)
 *                 ENDED(aborted)
 *
 *  THREE-PHASE COMMIT (t->p3: the begin/submit's protocol, else
 *  cfg.protocol; only with >= 2 participants, one keeps ONEPHASE).  The
 *  prepare / work(then=prepare) is the CanCommit: protocol 3pc, parts =
 *  every participant's name sorted, peers = their agents' hello.peer
 *  ("" = none).  ACTIVE, PREPARING and ABORTING are as above; then:
 *
 *   PREPARING, every vote in, >= 1 yes: append PRECOMMIT(gid, yes
 *   voters), FORCED, ticket p (ce_votes_complete, s_precommit_begin)
 *                       v
 *         +------------------------+  nothing sent; status/query:
 *         | PRECOMMITTING, !durable|  in_progress
 *         +------------------------+
 *                       | coord_engine_durable(>= p) (s_precommit_durable)
 *                       v
 *         +------------------------+  precommit to each yes voter, resent
 *         | PRECOMMITTING, durable |  with the decide backoff and at its
 *         +------------------------+  hello while it has not answered
 *           |           |        |    precommitted; uncertain/unknown/
 *           |           |        |    silence change nothing: NO timeout
 *           |           |        |    (txn, vote, agent gone, send failed)
 *           |           |        |    leaves this state (ce_on_state)
 *   state precommitted  |   state aborted from any (a termination leader
 *   from every yes      |   decided): ABORT forced (not waited for),
 *   voter, or state     |   decide(aborted) to every yes voter
 *                       |   -> ABORTING (ce_abort)
 *   committed from any  |
 *   (a leader decided): +--> rollback: refused (TPC_ESTATE); commit
 *   append COMMIT,           retry: answered at the outcome; resolve:
 *   FORCED                   refused
 *   (ce_commit_decide) -> COMMITTING, !durable, and on exactly as 2PC
 *
 *  A yes voter that votes readonly is out of phase 2 as in 2PC: it gets no
 *  precommit and is not in PRECOMMIT nor COMMIT.  Replay: a PRECOMMIT
 *  without a later COMMIT/ABORT/END/HEURISTIC is a live PRECOMMITTING,
 *  durable; checkpoints copy it (coord_engine_foreach_precommitting).
 *
 *  ENDED is not a state in memory: the transaction is removed from the table
 *  and its gid and outcome go to a bounded cache of recent ends, so status
 *  and retried commits still get the right answer for a while.
 *
 *  INVARIANTS
 *  - A decide(committed), a client's outcome "committed" for a transaction
 *    with a COMMIT record, a status/answer "committed": only after
 *    coord_engine_durable() covered the COMMIT record's ticket.  Before,
 *    status and query answer in_progress.
 *  - A decision never changes: COMMITTING and ABORTING accept only acks;
 *    votes, worked replies, timeouts and rollbacks there change nothing.
 *  - 2PC: after a yes vote only the coordinator decides (there is no path
 *    from a participant's message to a commit without every vote being
 *    in).  3PC: no COMMIT record without a durable PRECOMMIT record, and
 *    then only when every yes voter answered precommitted or one answered
 *    committed; after the PRECOMMIT record only an agent's `state aborted`
 *    aborts (the decision of a termination leader, not a timeout).
 *  - A precommit leaves only after its PRECOMMIT record is durable: no
 *    participant is pre-committed without it, so presumed abort stays
 *    right for a gid with no record.
 *  - Readonly voters are out of phase 2 and out of the COMMIT record; if no
 *    one voted yes there is no record at all (nothing to recover).
 *  - One participant = one phase: work(then=commit); the agent decides, the
 *    coordinator logs nothing.
 *  - Presumed abort: a gid of this coordinator that is neither live nor
 *    remembered as committed is aborted (for an agent's query about a gid
 *    of an earlier boot, only once the other agents confirmed no database
 *    committed it: "Presumed abort, checked"); a live undecided gid is
 *    in_progress, never presumed aborted.  A gid of another coordinator,
 *    or of a future epoch, is answered in_progress (not ours to presume).
 *  - One gid, one outcome: an operator's heuristic only ever confirms a
 *    decision or settles a gid with no known outcome; a gid is issued
 *    only if no record names it.
 *  - One reply per request: a second commit of a gid whose outcome a
 *    request already waits for is answered TPC_EIN_DOUBT at once.
 *  - An abort ends without the ack of a participant that cannot be
 *    reached and never voted yes (ce_abort_waits_for): ending it in
 *    memory only stops the resends, and an ABORT answer stays right for
 *    that participant whatever it did: never asked to prepare, it holds
 *    nothing prepared (its open work is rolled back by the
 *    decide(aborted) owed to it at its next hello, or by its restart);
 *    asked, and prepared with its vote lost, it queries, and the ended
 *    gid, or later the forgotten one, is answered aborted by presumed
 *    abort (the ABORT record, written once prepares went out, keeps a
 *    replay from reviving it).  Nothing can commit it: no COMMIT record
 *    exists, and the outcome_of check finds no committed marker since
 *    no participant committed.  So `list` stops counting it in flight.
 *  - Stale messages (worked for an old seq, a vote outside PREPARING, an
 *    ack for a gid not waiting for that agent's ack) are ignored.  A yes
 *    vote for a gid presumed aborted gets decide(aborted) so the agent does
 *    not keep a prepared transaction until its next restart.
 *
 *  TIMERS
 *  Each transaction has one wake time derived from its state (deadline,
 *  vote deadline, resend time, ack-wait end, linger end) and sits in a
 *  binary min-heap keyed by it; agents' liveness is swept every heartbeat.
 *  The shell keeps one timer: the WAKE action / coord_engine_next_wake().
 *
 *  AGENT RESTART
 *  A hello with a boot id never heard from that agent (s_reborn in
 *  coord_agent.c; the first one heard does not count) says its process
 *  restarted: its ACTIVE work and the PREPARING gids it has not voted on
 *  abort at once, a ONEPHASE on it gets its outcome unknown at once
 *  (s_agent_reborn, coord_agent.c), and every pending decide/precommit
 *  goes to it at once; no timer is waited for.
 */
#include "coord_engine_int.h"

/* ---------------------------------------------------------------------
 *  Decisions: abort, commit, pre-commit, and what their records' durability
 *  lets go out
 */

/*  A decide(OUTCOME) for GID, or NULL (out of memory: the sticky error).  */
tpc_msg_t *
ce_decide_msg (coord_engine_t *self, const char *gid, tpc_outcome_t outcome)
{
    tpc_msg_t *msg = ce_msg (self, TPC_MSG_DECIDE);
    if (msg) {
        msg->outcome = outcome;
        if (tpc_msg_set_str (&msg->gid, gid)) {
            self->err = TPC_ENOMEM;
            tpc_msg_destroy (&msg);
        }
    }
    return msg;
}

/*  Send the decision to every phase-2 participant that has not acked and
 *  whose agent is connected (ONLY_AGENT: just that one).                 */
void
ce_drive (coord_engine_t *self, ce_txn_t *t, const char *only_agent)
{
    tpc_outcome_t outcome = t->state == CE_COMMITTING ? TPC_OUTCOME_COMMITTED
                                                     : TPC_OUTCOME_ABORTED;
    for (size_t i = 0; i < t->nparts; i++) {
        ce_member_t *p = &t->parts[i];
        if (!p->phase2 || p->acked)
            continue;
        if (only_agent && strcmp (only_agent, p->name))
            continue;
        if (!ce_agent_connected (self, p->name))
            continue;
        ce_to_agent (self, p->name, ce_decide_msg (self, t->gid, outcome));
    }
}

/*  Copy the string SRC into DST of SIZE bytes, cut to fit.              */
static void
s_copy (char *dst, size_t size, const char *src)
{
    size_t n = strnlen (src, size - 1);
    memcpy (dst, src, n);
    dst[n] = '\0';
}

tpc_record_t *
ce_record_new (coord_engine_t *self, tpc_rec_type_t type, const ce_txn_t *t)
{
    /* two per transaction: not calloc (the struct is 4.4 KiB, its parts
     * mostly unused): only what tpc_record_encode reads is set        */
    tpc_record_t *rec = malloc (sizeof *rec);
    if (!rec) {
        self->err = TPC_ENOMEM;
        return NULL;
    }
    rec->type = type;
    rec->epoch = 0;
    rec->nparts = 0;
    rec->outcome = 0;
    rec->reason[0] = '\0';
    s_copy (rec->gid, sizeof rec->gid, t->gid);
    if (type == TPC_REC_COMMIT || type == TPC_REC_ABORT
        || type == TPC_REC_PRECOMMIT)
        for (size_t i = 0; i < t->nparts && rec->nparts < TPC_RECORD_PARTS_MAX;
             i++)
            if (t->parts[i].phase2)
                s_copy (rec->parts[rec->nparts++], TPC_RECORD_NAME_MAX,
                        t->parts[i].name);
    return rec;
}

/*  Does an ABORTING transaction still wait for member P's ack?  Not once
 *  it acked, and not while its agent is not connected if it never voted
 *  yes: nothing the coordinator knows of is prepared there, and if a
 *  lost vote left it prepared all the same, presumed abort answers its
 *  query "aborted" (see INVARIANTS).  A yes voter is waited for (up to
 *  abort_linger_ms), so its locks go at its next hello.                  */
bool
ce_abort_waits_for (coord_engine_t *self, const ce_member_t *p)
{
    return p->phase2 && !p->acked
           && (p->vote == TPC_VOTE_YES || ce_agent_connected (self, p->name));
}

/*  ABORTING: forget T once phase 2 is over (every member acked, or is
 *  not waited for, or the linger passed) and its client is done.  A
 *  member whose agent is not connected then is owed its decide(aborted)
 *  at its next connect.  Returns true if T was freed.                    */
bool
ce_abort_settle (coord_engine_t *self, ce_txn_t *t, uint64_t now)
{
    size_t waits = 0;
    for (size_t i = 0; i < t->nparts; i++)
        waits += ce_abort_waits_for (self, &t->parts[i]);
    if (t->nunacked > 0 && !t->lingered && now >= t->linger_until) {
        t->lingered = true;
        ce_log (self, 0, "%s: aborted, %zu participant(s) never acked; "
                "presumed abort covers them", t->gid, t->nunacked);
    }
    if (t->client_open && now >= t->deadline)
        t->client_open = false;     /* it will not learn the reason */
    if ((waits == 0 || t->lingered) && !t->client_open) {
        for (size_t i = 0; i < t->nparts; i++) {
            const ce_member_t *p = &t->parts[i];
            if (p->phase2 && !p->acked
                && !ce_agent_connected (self, p->name)) {
                ce_log (self, 0, "%s: aborted; '%s' is not connected: its "
                        "decide(aborted) goes at its next hello", t->gid,
                        p->name);
                ce_agent_owe_abort (self, p->name, t->gid);
            }
        }
        ce_forget (self, t, CE_END_ABORTED);
        return true;
    }
    ce_reschedule (self, t);
    return false;
}

/*  Decide abort for an undecided T (reason already set).  Returns true if
 *  T was freed.                                                           */
bool
ce_abort (coord_engine_t *self, ce_txn_t *t, uint64_t now)
{
    assert (t->state == CE_ACTIVE || t->state == CE_PREPARING
            || t->state == CE_ONEPHASE
            || (t->state == CE_PRECOMMITTING && t->pc_durable));
    const char *reason = t->reason ? t->reason : "aborted";
    bool was_pc = t->state == CE_PRECOMMITTING;
    if (!t->aborted_at)
        t->aborted_at = now;
    if (was_pc)
        self->precommitting--;
    ce_log (self, 0, "%s: abort: %s", t->gid, reason);
    if (t->exec.set) {
        ce_reply_error (self, t->exec.id, t->exec.len, t->exec.rid,
                        TPC_EABORTED, t->gid, "transaction aborted: %s",
                        reason);
        ce_req_clear (&t->exec);
    }
    t->state = CE_ABORTING;
    t->nunacked = 0;
    for (size_t i = 0; i < t->nparts; i++) {
        ce_member_t *p = &t->parts[i];
        p->phase2 = p->vote != TPC_VOTE_NO && p->vote != TPC_VOTE_READONLY;
        p->acked = false;
        t->nunacked += p->phase2;
    }
    /* after a durable PRECOMMIT the ABORT is forced too (its sync is not
     * waited for: an abort may be heard early).  Lost in a crash, the
     * replayed PRECOMMIT would make this coordinator ask the agents again,
     * and an agent that has forgotten the gid by then answers unknown:
     * the transaction would wait for ever. */
    if (t->must_log_abort)
        ce_append (self, ce_record_new (self, TPC_REC_ABORT, t), was_pc);
    ce_answer_done (self, t, TPC_OUTCOME_ABORTED, reason);
    t->backoff = self->cfg.resend_min_ms;
    t->resend_at = now + t->backoff;
    t->linger_until = now + self->cfg.abort_linger_ms;
    t->lingered = false;
    ce_drive (self, t, NULL);
    return ce_abort_settle (self, t, now);
}

/*  T waits in the FIFO for coord_engine_durable(>= t->ticket).           */
static void
s_durable_wait (coord_engine_t *self, ce_txn_t *t)
{
    t->dnext = NULL;
    if (self->dtail)
        self->dtail->dnext = t;
    else
        self->dhead = t;
    self->dtail = t;
}

/*  Decide commit for T (every phase-2 participant voted yes; 3PC: and
 *  pre-committed, or one reported committed): force the COMMIT record.  */
void
ce_commit_decide (coord_engine_t *self, ce_txn_t *t)
{
    size_t yes = 0;
    for (size_t i = 0; i < t->nparts; i++) {
        t->parts[i].acked = false;
        yes += t->parts[i].phase2;
    }
    if (t->state == CE_PRECOMMITTING) {
        self->precommitting--;
        t->decided_at = self->now;
    }
    t->state = CE_COMMITTING;
    self->committing++;
    t->nunacked = yes;
    t->durable = false;
    t->ticket = ce_append (self, ce_record_new (self, TPC_REC_COMMIT, t),
                           true);
    s_durable_wait (self, t);
    ce_log (self, 0, "%s: commit decided (%zu yes), waiting for ticket %"
            PRIu64 " to be durable", t->gid, yes, t->ticket);
    ce_reschedule (self, t);
}

/*  3PC, every vote in: force the PRECOMMIT record; precommit goes out
 *  once it is durable (s_precommit_durable).                              */
static void
s_precommit_begin (coord_engine_t *self, ce_txn_t *t, size_t yes)
{
    for (size_t i = 0; i < t->nparts; i++)
        t->parts[i].precommitted = false;
    t->state = CE_PRECOMMITTING;
    self->precommitting++;
    t->nunacked = yes;
    t->pc_durable = false;
    t->ticket = ce_append (self, ce_record_new (self, TPC_REC_PRECOMMIT, t),
                           true);
    s_durable_wait (self, t);
    ce_log (self, 0, "%s: every vote yes (%zu), pre-commit waiting for "
            "ticket %" PRIu64 " to be durable", t->gid, yes, t->ticket);
    ce_reschedule (self, t);
}

/*  Every vote of a PREPARING T is in and none is no.                     */
void
ce_votes_complete (coord_engine_t *self, ce_txn_t *t, uint64_t now)
{
    size_t yes = 0;
    for (size_t i = 0; i < t->nparts; i++) {
        t->parts[i].phase2 = t->parts[i].vote == TPC_VOTE_YES;
        t->parts[i].acked = false;
        yes += t->parts[i].phase2;
    }
    if (yes == 0) {
        ce_log (self, 0, "%s: committed (every participant read-only)",
                t->gid);
        ce_answer_done (self, t, TPC_OUTCOME_COMMITTED, NULL);
        ce_forget (self, t, CE_END_COMMITTED);
        return;
    }
    t->voted_at = now;
    if (t->p3)
        s_precommit_begin (self, t, yes);
    else
        ce_commit_decide (self, t);
}

/*  Send precommit to every phase-2 participant of a PRECOMMITTING T that
 *  has not answered precommitted and whose agent is connected
 *  (ONLY_AGENT: just that one).                                          */
void
ce_precommit_drive (coord_engine_t *self, ce_txn_t *t, const char *only_agent)
{
    for (size_t i = 0; i < t->nparts; i++) {
        ce_member_t *p = &t->parts[i];
        if (!p->phase2 || p->precommitted)
            continue;
        if (only_agent && strcmp (only_agent, p->name))
            continue;
        if (!ce_agent_connected (self, p->name))
            continue;
        tpc_msg_t *msg = ce_msg (self, TPC_MSG_PRECOMMIT);
        if (msg && tpc_msg_set_str (&msg->gid, t->gid)) {
            self->err = TPC_ENOMEM;
            tpc_msg_destroy (&msg);
        }
        ce_to_agent (self, p->name, msg);
    }
}

/*  The PRECOMMIT record of T is durable: precommit to everyone.          */
static void
s_precommit_durable (coord_engine_t *self, ce_txn_t *t, uint64_t now)
{
    t->pc_durable = true;
    t->backoff = self->cfg.resend_min_ms;
    t->resend_at = now + t->backoff;
    ce_precommit_drive (self, t, NULL);
    ce_reschedule (self, t);
}

/*  The COMMIT record of T is durable: tell everyone.                     */
static void
s_commit_durable (coord_engine_t *self, ce_txn_t *t, uint64_t now)
{
    t->durable = true;
    t->durable_at = now;
    t->backoff = self->cfg.resend_min_ms;
    t->resend_at = now + t->backoff;
    t->ack_wait_until = now + self->cfg.ack_wait_ms;
    ce_drive (self, t, NULL);
    if (self->cfg.reply_on == COORD_REPLY_ON_DECISION)
        ce_answer_done (self, t, TPC_OUTCOME_COMMITTED, NULL);
    ce_reschedule (self, t);
}

/*  Every yes voter of a committed T acked.                               */
void
ce_commit_finished (coord_engine_t *self, ce_txn_t *t)
{
    ce_append (self, ce_record_new (self, TPC_REC_END, t), false);
    ce_answer_done (self, t, TPC_OUTCOME_COMMITTED, NULL);
    ce_log (self, 0, "%s: committed and applied everywhere", t->gid);
    ce_forget (self, t, CE_END_COMMITTED);
}

/* ---------------------------------------------------------------------
 *  Timers
 */

/*  T's wake time has come.                                               */
void
ce_txn_due (coord_engine_t *self, ce_txn_t *t, uint64_t now)
{
    switch (t->state) {
    case CE_ACTIVE:
        if (now >= t->deadline) {
            ce_set_reason (self, t, "transaction timeout");
            ce_abort (self, t, now);
            return;
        }
        break;
    case CE_PREPARING:
        if (now >= t->vote_deadline) {
            const char *who = "?";
            for (size_t i = 0; i < t->nparts; i++)
                if (t->parts[i].asked && t->parts[i].vote == TPC_VOTE_NONE) {
                    who = t->parts[i].name;
                    break;
                }
            ce_set_reason (self, t, "vote timeout: no vote from '%s'", who);
            ce_abort (self, t, now);
            return;
        }
        if (now >= t->deadline) {
            ce_set_reason (self, t, "transaction timeout");
            ce_abort (self, t, now);
            return;
        }
        break;
    case CE_ONEPHASE:
        if (!t->outcome_unknown && now >= t->vote_deadline) {
            t->outcome_unknown = true;
            t->linger_until = now + self->cfg.abort_linger_ms;
            ce_log (self, 1, "%s: one-phase commit on '%s' not acknowledged: "
                    "outcome unknown", t->gid, t->parts[0].name);
        }
        if (t->outcome_unknown && t->done.set) {
            ce_reply_error (self, t->done.id, t->done.len, t->done.rid,
                            TPC_EIN_DOUBT, t->gid,
                            "one-phase commit on '%s' not acknowledged: "
                            "outcome unknown", t->parts[0].name);
            ce_req_clear (&t->done);
        }
        if (t->outcome_unknown && now >= t->linger_until) {
            ce_forget (self, t, CE_END_UNKNOWN);
            return;
        }
        break;
    case CE_COMMITTING:
        if (!t->durable)
            break;
        if (t->nunacked > 0 && now >= t->resend_at) {
            ce_drive (self, t, NULL);
            t->backoff = CE_MIN (t->backoff * 2, self->cfg.resend_max_ms);
            t->resend_at = now + t->backoff;
        }
        if (t->done.set && !t->replied && now >= t->ack_wait_until)
            ce_answer_done (self, t, TPC_OUTCOME_COMMITTED, NULL);
        break;
    case CE_ABORTING:
        if (t->nunacked > 0 && !t->lingered && now >= t->resend_at
            && now < t->linger_until) {
            ce_drive (self, t, NULL);
            t->backoff = CE_MIN (t->backoff * 2, self->cfg.resend_max_ms);
            t->resend_at = now + t->backoff;
        }
        ce_abort_settle (self, t, now);
        return;
    case CE_PRECOMMITTING:
        if (t->pc_durable && t->nunacked > 0 && now >= t->resend_at) {
            ce_precommit_drive (self, t, NULL);
            uint64_t was = t->backoff;
            t->backoff = CE_MIN (t->backoff * 2, self->cfg.resend_max_ms);
            t->resend_at = now + t->backoff;
            if (was < t->backoff && t->backoff == self->cfg.resend_max_ms) {
                const char *who = "?";
                for (size_t i = 0; i < t->nparts; i++)
                    if (t->parts[i].phase2 && !t->parts[i].precommitted) {
                        who = t->parts[i].name;
                        break;
                    }
                ce_log (self, 1, "%s: pre-committed, still no 'precommitted' "
                        "from %zu participant(s) (e.g. '%s'); three-phase "
                        "commit never times out here: precommit is resent "
                        "every %" PRIu64 " ms", t->gid, t->nunacked, who,
                        t->backoff);
            }
        }
        break;
    }
    ce_reschedule (self, t);
}

/*  End of every public event: report a changed wake time, return the
 *  sticky error.                                                          */
static int
s_finish (coord_engine_t *self)
{
    uint64_t w = coord_engine_next_wake (self);
    if (w != self->wake_reported) {
        self->wake_reported = w;
        coord_action_t act = { .type = COORD_ACT_WAKE, .at = w };
        ce_push (self, &act);
    }
    int rc = self->err;
    self->err = 0;
    return rc;
}

/* ---------------------------------------------------------------------
 *  Public API
 */

coord_engine_t *
coord_engine_new (const coord_engine_config_t *cfg)
{
    if (!cfg || tpc_coord_id_valid (cfg->coord_id))
        return NULL;
    coord_engine_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    snprintf (self->coord_id, sizeof self->coord_id, "%s", cfg->coord_id);
    self->cfg = *cfg;
    self->cfg.coord_id = self->coord_id;
#define S_DEFAULT(f, v) if (!self->cfg.f) self->cfg.f = (v)
    S_DEFAULT (txn_timeout_ms, 60000);
    S_DEFAULT (vote_timeout_ms, 10000);
    S_DEFAULT (ack_wait_ms, 5000);
    S_DEFAULT (resend_min_ms, 100);
    S_DEFAULT (resend_max_ms, 5000);
    S_DEFAULT (heartbeat_ms, 1000);
    S_DEFAULT (abort_linger_ms, 60000);
    S_DEFAULT (max_txns, 100000);
    S_DEFAULT (ended_cache, 16384);
    S_DEFAULT (list_max, 10000);
    S_DEFAULT (max_stmts, 10000);
    S_DEFAULT (max_txns_per_client, 10000);
    S_DEFAULT (max_result_rows, 100000);
#undef S_DEFAULT
    if (self->cfg.resend_max_ms < self->cfg.resend_min_ms)
        self->cfg.resend_max_ms = self->cfg.resend_min_ms;
    self->txns = zhashx_new ();
    self->agents = zhashx_new ();
    self->ended = zhashx_new ();
    self->ring = calloc (self->cfg.ended_cache, sizeof *self->ring);
    self->owners = zhashx_new ();
    self->heuristics = zhashx_new ();
    if (self->heuristics)
        zhashx_set_destructor (self->heuristics, ce_heur_destroy);
    self->asks = zhashx_new ();
    if (self->asks)
        zhashx_set_destructor (self->asks, ce_ask_destroy);
    self->unconfirmed = zhashx_new ();
    if (!self->txns || !self->agents || !self->ended || !self->ring
        || !self->owners || !self->heuristics || !self->asks
        || !self->unconfirmed) {
        coord_engine_destroy (&self);
        return NULL;
    }
    zhashx_set_destructor (self->agents, ce_agent_destroy);
    self->next_sweep = COORD_NEVER;
    self->wake_reported = COORD_NEVER;
    return self;
}

void
coord_engine_destroy (coord_engine_t **self_p)
{
    coord_engine_t *self = *self_p;
    if (!self)
        return;
    if (self->txns) {
        for (ce_txn_t *t = zhashx_first (self->txns); t;
             t = zhashx_next (self->txns))
            ce_txn_free (&t);
        zhashx_destroy (&self->txns);
    }
    zhashx_destroy (&self->agents);
    zhashx_destroy (&self->ended);
    zhashx_destroy (&self->owners);
    zhashx_destroy (&self->heuristics);
    zhashx_destroy (&self->asks);
    zhashx_destroy (&self->unconfirmed);
    for (size_t i = 0; i < self->nresolving; i++)
        ce_req_clear (&self->resolving[i].req);
    free (self->resolving);
    while (self->qn > 0) {
        coord_action_clear (&self->q[self->qhead++]);
        self->qn--;
    }
    free (self->q);
    free (self->ring);
    free (self->heap);
    free (self->due);
    free (self);
    *self_p = NULL;
}

int
coord_engine_start (coord_engine_t *self, uint64_t epoch, uint64_t now)
{
    if (self->started)
        return TPC_ESTATE;
    if (epoch == 0 || epoch <= self->replayed_epoch)
        return TPC_EINVAL;
    self->now = now;
    self->started = true;
    self->epoch = epoch;
    self->seq = 0;
    for (ce_txn_t *t = zhashx_first (self->txns); t;
         t = zhashx_next (self->txns)) {
        t->created = now;
        t->backoff = self->cfg.resend_min_ms;
        t->resend_at = now + t->backoff;
        ce_reschedule (self, t);
    }
    self->next_sweep = now + self->cfg.heartbeat_ms;
    self->ask_grace_until = now + 2 * self->cfg.heartbeat_ms;
    if (self->committing > 0)
        ce_log (self, 0, "%zu decided transaction(s) to drive to the end",
                self->committing);
    if (self->precommitting > 0)
        ce_log (self, 0, "%zu pre-committed transaction(s) (3PC) to drive "
                "to a decision", self->precommitting);
    return s_finish (self);
}

int
coord_engine_client (coord_engine_t *self, const void *id, size_t len,
                     const tpc_msg_t *msg, uint64_t now)
{
    return coord_engine_client_as (self, id, len, NULL, msg, now);
}

int
coord_engine_client_as (coord_engine_t *self, const void *id, size_t len,
                        const char *owner, const tpc_msg_t *msg,
                        uint64_t now)
{
    const uint8_t *cid = id;
    char conn[2 * 64 + 8];
    self->now = now;
    if (!owner) {               /* the connection: its routing id, in hex */
        size_t n = len < 64 ? len : 64;
        memcpy (conn, "conn:", 5);
        static const char digits[] = "0123456789abcdef";
        for (size_t i = 0; i < n; i++) {     /* per request: no snprintf */
            conn[5 + 2 * i] = digits[cid[i] >> 4];
            conn[5 + 2 * i + 1] = digits[cid[i] & 15];
        }
        conn[5 + 2 * n] = '\0';
        owner = conn;
    }
    if (!self->started) {
        ce_reply_error (self, cid, len, msg->rid, TPC_EBUSY, NULL,
                        "coordinator is recovering: retry later");
        return s_finish (self);
    }
    ce_txn_t *t = NULL;
    switch (msg->type) {
    case TPC_MSG_BEGIN:
        ce_on_begin (self, cid, len, msg, owner, now);
        break;
    case TPC_MSG_SUBMIT:
        ce_on_submit (self, cid, len, msg, owner, now);
        break;
    case TPC_MSG_RESOLVE:
        ce_on_resolve (self, cid, len, msg, now);
        break;
    case TPC_MSG_SUMMARY:
        ce_on_summary (self, cid, len, msg, now);
        break;
    case TPC_MSG_STATUS:
        if (msg->gid)
            ce_on_status (self, cid, len, msg);
        else
            ce_reply_error (self, cid, len, msg->rid, TPC_EINVAL, NULL,
                            "gid missing");
        break;
    case TPC_MSG_LIST:
        ce_on_list (self, cid, len, msg, now);
        break;
    case TPC_MSG_EXEC:
    case TPC_MSG_COMMIT:
    case TPC_MSG_ROLLBACK:
        if (!msg->gid) {
            ce_reply_error (self, cid, len, msg->rid, TPC_EINVAL, NULL,
                            "gid missing");
            break;
        }
        t = ce_txn_lookup (self, msg->gid);
        if (!t)
            ce_on_gone_gid (self, cid, len, msg);
        else if (msg->type == TPC_MSG_EXEC)
            ce_on_exec (self, cid, len, msg, t);
        else if (msg->type == TPC_MSG_COMMIT)
            ce_on_commit (self, cid, len, msg, t, now);
        else
            ce_on_rollback (self, cid, len, msg, t, now);
        break;
    default:
        ce_reply_error (self, cid, len, msg->rid, TPC_EPROTO, NULL,
                        "'%s' is not a client request",
                        tpc_msg_type_name (msg->type));
        break;
    }
    return s_finish (self);
}

int
coord_engine_agent (coord_engine_t *self, const char *name,
                    const tpc_msg_t *msg, uint64_t now)
{
    self->now = now;
    if (!ce_name_valid (name)) {
        ce_log (self, 1, "message from an agent with an invalid name dropped");
        return s_finish (self);
    }
    if (msg->type != TPC_MSG_HELLO && !msg->gid) {
        ce_log (self, 1, "agent '%s' sent '%s' without a gid: dropped", name,
                tpc_msg_type_name (msg->type));
        return s_finish (self);
    }
    if (msg->type != TPC_MSG_HELLO && !ce_agent_connected (self, name)) {
        /* a message proves it is there; treat it as a hello */
        tpc_msg_t hello = { .type = TPC_MSG_HELLO };
        ce_on_hello (self, name, &hello, now);
    }
    switch (msg->type) {
    case TPC_MSG_HELLO:
        ce_on_hello (self, name, msg, now);
        break;
    case TPC_MSG_WORKED:
        ce_on_worked (self, name, msg, now);
        break;
    case TPC_MSG_VOTE:
        ce_on_vote (self, name, msg, now);
        break;
    case TPC_MSG_ACK:
        ce_on_ack (self, name, msg, now);
        break;
    case TPC_MSG_QUERY:
        ce_on_query (self, name, msg);
        break;
    case TPC_MSG_STATE:
        ce_on_state (self, name, msg, now);
        break;
    case TPC_MSG_KNOWN:
        ce_on_known (self, name, msg);
        break;
    default:
        ce_log (self, 1, "agent '%s' sent '%s', not an agent message: dropped",
                name, tpc_msg_type_name (msg->type));
        break;
    }
    return s_finish (self);
}

int
coord_engine_agent_gone (coord_engine_t *self, const char *name,
                         uint64_t now)
{
    self->now = now;
    ce_agent_gone (self, name, "reported by the shell");
    return s_finish (self);
}

int
coord_engine_send_failed (coord_engine_t *self, const char *name,
                          const tpc_msg_t *msg, uint64_t now)
{
    self->now = now;
    ce_agent_gone (self, name, "not reachable");
    if (msg && msg->type == TPC_MSG_OUTCOME_OF) {
        ce_ask_unreachable (self, name, msg->gid);
        return s_finish (self);
    }
    ce_txn_t *t = msg ? ce_txn_lookup (self, msg->gid) : NULL;
    size_t idx;
    ce_member_t *p = t ? ce_member_find (t, name, &idx) : NULL;
    if (!t || !p)
        return s_finish (self);
    if (msg->type == TPC_MSG_WORK && msg->then == TPC_THEN_NONE) {
        if (t->state != CE_ACTIVE || !t->exec.set || t->exec_part != idx
            || t->exec_seq != msg->seq)
            return s_finish (self);
        ce_reply_error (self, t->exec.id, t->exec.len, t->exec.rid,
                        TPC_EUNKNOWN_PART, t->gid,
                        "participant '%s' is not connected", name);
        ce_req_clear (&t->exec);
        if (p->seq == 1 && idx == t->nparts - 1) {
            t->nparts--;        /* it never heard of gid: forget it */
            return s_finish (self);
        }
        ce_set_reason (self, t, "participant '%s' unreachable", name);
        ce_abort (self, t, now);
    }
    else if ((msg->type == TPC_MSG_WORK || msg->type == TPC_MSG_PREPARE)
             && (t->state == CE_PREPARING || t->state == CE_ONEPHASE)) {
        /* not queued anywhere: nobody can have committed it */
        ce_set_reason (self, t, "participant '%s' unreachable", name);
        ce_abort (self, t, now);
    }
    return s_finish (self);
}

int
coord_engine_durable (coord_engine_t *self, uint64_t ticket, uint64_t now)
{
    self->now = now;
    while (self->dhead && self->dhead->ticket <= ticket) {
        ce_txn_t *t = self->dhead;
        self->dhead = t->dnext;
        if (!self->dhead)
            self->dtail = NULL;
        t->dnext = NULL;
        if (t->state == CE_PRECOMMITTING)
            s_precommit_durable (self, t, now);
        else
            s_commit_durable (self, t, now);
    }
    ce_resolves_durable (self, ticket, now);
    return s_finish (self);
}

int
coord_engine_retry (coord_engine_t *self, const char *gid, uint64_t now,
                    char *why, size_t whylen)
{
    self->now = now;
    ce_txn_t *t = gid ? ce_txn_lookup (self, gid) : NULL;
    if (!t) {
        snprintf (why, whylen, "%s is not a live transaction",
                  gid ? gid : "(none)");
        return TPC_EUNKNOWN_GID;
    }
    bool resend = (t->state == CE_COMMITTING && t->durable && t->nunacked)
                  || (t->state == CE_ABORTING && t->nunacked && !t->lingered
                      && now < t->linger_until)
                  || (t->state == CE_PRECOMMITTING && t->pc_durable
                      && t->nunacked);
    if (!resend) {
        snprintf (why, whylen, "%s (%s) has no decision waiting to be "
                  "resent", gid, ce_state_names[t->state]);
        return TPC_ESTATE;
    }
    ce_log (self, 1, "%s: retry now, asked by an operator", gid);
    /* due now, with a fresh backoff: ce_txn_due resends and reschedules */
    t->backoff = self->cfg.resend_min_ms;
    t->resend_at = now;
    ce_txn_due (self, t, now);
    return s_finish (self);
}

int
coord_engine_tick (coord_engine_t *self, uint64_t now)
{
    self->now = now;
    if (self->started && now >= self->next_sweep) {
        ce_sweep_agents (self, now);
        self->next_sweep = now + self->cfg.heartbeat_ms;
    }
    size_t n = 0;
    while (self->heap_n > 0 && self->heap[0]->wake <= now) {
        ce_txn_t *t = self->heap[0];
        ce_heap_remove (self, t);
        if (n == self->due_cap) {
            size_t cap = self->due_cap ? self->due_cap * 2 : 256;
            ce_txn_t **d = realloc (self->due, cap * sizeof *d);
            if (!d) {
                self->err = TPC_ENOMEM;
                ce_reschedule (self, t);
                break;
            }
            self->due = d;
            self->due_cap = cap;
        }
        self->due[n++] = t;
    }
    /* handling one transaction never frees another one */
    for (size_t i = 0; i < n; i++)
        ce_txn_due (self, self->due[i], now);
    ce_asks_due (self, now);
    return s_finish (self);
}

uint64_t
coord_engine_next_wake (coord_engine_t *self)
{
    uint64_t w = self->heap_n ? self->heap[0]->wake : COORD_NEVER;
    w = CE_MIN (w, ce_asks_wake (self));
    return CE_MIN (w, self->next_sweep);
}

bool
coord_engine_pop (coord_engine_t *self, coord_action_t *out)
{
    if (self->qn == 0)
        return false;
    *out = self->q[self->qhead++];
    if (--self->qn == 0)
        self->qhead = 0;
    return true;
}

void
coord_action_clear (coord_action_t *act)
{
    if (!act)
        return;
    free (act->client);
    tpc_msg_destroy (&act->msg);
    free (act->rec);
    free (act->text);
    free (act->parts);
    memset (act, 0, sizeof *act);
}

size_t
coord_engine_live (coord_engine_t *self)
{
    return zhashx_size (self->txns);
}

void
coord_engine_stats (coord_engine_t *self, coord_engine_stats_t *out)
{
    memset (out, 0, sizeof *out);
    out->live = zhashx_size (self->txns);
    out->in_doubt = ce_count_in_doubt (self, self->now, NULL);
    for (ce_agent_t *a = zhashx_first (self->agents); a;
         a = zhashx_next (self->agents))
        out->agents_connected += a->connected;
    out->heuristic = zhashx_size (self->heuristics);
    out->agent_connects = self->agent_connects;
    out->committed = self->n_committed;
    out->aborted = self->n_aborted;
}

size_t
coord_engine_unfinished (coord_engine_t *self)
{
    return self->committing + self->precommitting;
}

uint64_t
coord_engine_replayed_epoch (coord_engine_t *self)
{
    return self->replayed_epoch;
}

uint64_t
coord_engine_last_ticket (coord_engine_t *self)
{
    return self->tickets;
}
