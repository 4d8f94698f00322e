/*  part_engine: the agent's per-transaction state machine.
 *
 *  One record per gid the agent is working on.  Exactly one RM operation
 *  per record is in flight (rec->req); messages that arrive meanwhile wait
 *  in the record's queue, except "decide aborted", which is noted at once
 *  (rec->want) and interrupts a running statement.
 *
 *   UNKNOWN --work seq 1: BEGIN (pins a session), EXEC--> ACTIVE
 *   ACTIVE  --work seq n: EXEC, reply worked-----------> ACTIVE
 *   ACTIVE  --BEGIN/statement fails: reply the failure,
 *             ROLLBACK--------------------------------> ABORTED
 *   ACTIVE  --work then=commit: COMMIT_ONEPHASE--------> COMMITTING
 *   ACTIVE  --decide aborted: interrupt, ROLLBACK------> ROLLING_BACK
 *             (decide committed here is a coordinator bug: the same,
 *             and the ack says aborted)
 *   ACTIVE  --prepare | work then=prepare: PREPARE-----> PREPARING
 *             (a work's statements ride with its PREPARE or
 *             COMMIT_ONEPHASE: one RM operation, one round trip)
 *   PREPARING --RM: read-only (committed): vote readonly-> DONE
 *   PREPARING --RM: failed: vote no-------------------> ABORTED
 *   PREPARING --RM: prepared, durable: VOTE YES--------> PREPARED
 *   UNKNOWN --RECOVER lists gid (in doubt: query every
 *             query_ms until answered)----------------> PREPARED
 *   PREPARED --decide|answer committed: COMMIT_PREPARED-> COMMITTING
 *   PREPARED --decide|answer aborted: ROLLBACK_PREPARED-> ROLLING_BACK
 *   UNKNOWN --decide committed: COMMIT_PREPARED--------> COMMITTING
 *   UNKNOWN --decide aborted: ROLLBACK_PREPARED--------> ROLLING_BACK
 *   COMMITTING --done: ack committed-------------------> DONE
 *   COMMITTING --not prepared: OUTCOME_OF (marker)-----> DONE | ABORTED
 *   ACTIVE | COMMITTING | UNKNOWN --a one-phase work that cannot commit
 *             (BEGIN, statement or COMMIT failed; unknown gid at seq > 1):
 *             [ROLLBACK,] TOMBSTONE, ack its verdict-> ROLLING_BACK
 *   ROLLING_BACK --ROLLBACK_PREPARED done: ack aborted--> ABORTED
 *   ROLLING_BACK --open txn: ROLLBACK, then TOMBSTONE;
 *                  not prepared: TOMBSTONE; ack truth--> ABORTED | DONE
 *   ABORTED --decide: ROLLBACK_PREPARED if it may be
 *             prepared, else TOMBSTONE (or ack at once
 *             when the tombstone is known)------------> ROLLING_BACK
 *   ABORTED --forget_ms idle---------------------------> UNKNOWN
 *
 *   DONE = the record is freed; the database (prepared set, marker
 *   table) still answers every later message about the gid.
 *
 *   outcome_of (the coordinator checks a presumed abort) changes no
 *   state: it is answered "known" at once from the 3PC state or the
 *   record (COMMITTING: committed; PREPARING, PREPARED: uncertain;
 *   ACTIVE, ROLLING_BACK, ABORTED: aborted), else from an OUTCOME_OF on
 *   the RM outside any record (pe_on_outcome_of, pe_on_inquired: marker
 *   'C': committed; still prepared: uncertain; else aborted; failed:
 *   unknown).
 *
 *  Failed phase-2 steps (lost session, database busy) are retried after
 *  retry_ms; the RM queues them until the database is back.
 *
 *  INVARIANTS
 *  - vote yes is sent only from the PREPARE completion with status 0 and
 *    not read-only (the RM reported the prepare durable), or again for a
 *    gid in PREPARED.  Every other path to a vote says no (or readonly).
 *  - ack says what is true in the database: COMMIT/ROLLBACK PREPARED
 *    succeeded, or, when gid is not prepared, its marker (commit marker
 *    -> committed, none or tombstone -> aborted).  A repeated decide is
 *    therefore answered from the marker: phase 2 is idempotent.
 *  - an abort of a gid that is not prepared leaves a tombstone, so a late
 *    PREPARE of that gid fails on the marker's key and votes no.  So does
 *    a one-phase work that does not commit: a late copy of it can never
 *    commit, and its ack is the tombstone's verdict (committed if the
 *    commit marker was there first).
 *  - a gid that was never voted yes on (ABORTED) but is found prepared is
 *    rolled back without asking, and so is one whose PREPARE lost its
 *    session (vote no: it may be prepared all the same); every other
 *    prepared gid found by RECOVER (at start and on every reconnect) is
 *    queried until answered.
 *  - duplicate or stale messages (old work seq, second prepare, late
 *    answer, stale completion) never change a decision.
 *
 *  The engine spans five files over part_engine_int.h (SQLite-VDBE
 *  style, every one pure): this one (the diagram above, coordinator
 *  messages, RM completions, time, the entry points), part_rec.c
 *  (records, their queue and timers, RM submission, messages to the
 *  coordinator), part_p3.c (three-phase commit: its own diagram, the
 *  durable 3PC state and the termination protocol), part_recover.c
 *  (recovery listings and outcome_of answers).
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

const char *const pe_state_names[] = {
    "active", "preparing", "prepared", "committing", "rolling_back", "aborted"
};

static pe_rec_t *s_advance (part_engine_t *self, pe_rec_t *rec, uint64_t now);

/* ------------------------------------------------------------------ */
/*  Phase 2 and the end of a record                                    */

/*  Start phase 2 for a prepared gid (ACK: the coordinator wants an ack).
 *  A 3PC gid's decision is made durable first; if that fails nothing
 *  happens (TPC_EIO).  A decision that contradicts the durable one is
 *  replaced by it: the ack then tells the truth.                         */
int
pe_phase2 (part_engine_t *self, pe_rec_t *rec, tpc_outcome_t outcome, bool ack,
          uint64_t now)
{
    pe_p3_t *p3 = pe_p3_lookup (self, rec->gid);
    if (p3 && pe_p3_is_decided (p3->state)
        && pe_p3_outcome (p3->state) != outcome) {
        pe_log (self, PE_WARNING, "%s: %s contradicts the durable 3PC decision: %s "
               "applied", rec->gid, tpc_outcome_name (outcome),
               tpc_p3_name (p3->state));
        outcome = pe_p3_outcome (p3->state);
    }
    else if (p3 && pe_p3_decide (self, p3, outcome, now) != 0)
        return TPC_EIO;
    pe_timer_clear (self, rec);
    rec->in_doubt = false;
    rec->decision = outcome;
    if (ack)
        rec->ack_wanted = true;
    pe_set_state (self, rec, outcome == TPC_OUTCOME_COMMITTED
                            ? PE_COMMITTING : PE_ROLLING_BACK, now);
    pe_submit (self, rec, outcome == TPC_OUTCOME_COMMITTED
                         ? PART_RM_COMMIT_PREPARED : PART_RM_ROLLBACK_PREPARED, now);
    return 0;
}

/*  The outcome is known: ack it if asked and settle the record.  Returns
 *  the record, or NULL when it was released (committed).                 */
static pe_rec_t *
s_done (part_engine_t *self, pe_rec_t *rec, tpc_outcome_t outcome,
        const char *reason, uint64_t now)
{
    if (rec->ack_wanted)
        pe_ack (self, rec->gid, outcome, reason);
    rec->ack_wanted = false;
    rec->decision = TPC_OUTCOME_NONE;
    rec->in_doubt = false;
    pe_timer_clear (self, rec);
    if (outcome == TPC_OUTCOME_COMMITTED) {
        pe_log (self, PE_VERBOSE, "%s: committed", rec->gid);
        pe_rec_release (self, rec, now);
        return NULL;
    }
    pe_set_reason (rec, reason ? reason : "aborted");
    pe_set_state (self, rec, PE_ABORTED, now);
    return rec;
}

/*  A one-phase work (then=commit) that cannot commit here: roll back
 *  what is open, then TOMBSTONE; the ack (wanted) is its verdict.  So a
 *  copy of the work arriving late (after the record is forgotten) can
 *  never commit what was acked aborted, and a copy of a committed one is
 *  acked committed.                                                      */
static void
s_onephase_fail (part_engine_t *self, pe_rec_t *rec, const char *why,
                 uint64_t now)
{
    tpc_msg_destroy (&rec->cur);
    pe_set_reason (rec, why ? why : "one-phase commit failed");
    rec->decision = TPC_OUTCOME_ABORTED;
    rec->ack_wanted = true;
    pe_set_state (self, rec, PE_ROLLING_BACK, now);
    pe_submit (self, rec, rec->begun ? PART_RM_ROLLBACK : PART_RM_TOMBSTONE,
              now);
}

/* ------------------------------------------------------------------ */
/*  Coordinator messages                                               */

static void s_after_exec (part_engine_t *self, pe_rec_t *rec,
                          const part_rm_result_t *res, uint64_t now);

/*  PREPARE, asked by MSG (a prepare or a work then=prepare); with
 *  protocol 3pc its CanCommit (participants, peer endpoints) is kept for
 *  the UNCERTAIN record made when the prepare is durable.                */
static void
s_start_prepare (part_engine_t *self, pe_rec_t *rec, const tpc_msg_t *msg,
                 uint64_t now)
{
    if (msg->has_protocol && msg->protocol == TPC_PROTO_3PC && !rec->p3) {
        rec->p3 = true;
        rec->p3_why = pe_p3_uncertain (self, rec->gid, msg);
    }
    if (rec->p3 && rec->p3_why) {
        /* nothing durable: never prepare (found by the simulation, seed
         * 7464: a crash would leave a prepared gid with no 3PC state, which
         * only a coordinator could settle); vote no and roll back */
        const char *why = rec->p3_why;
        rec->p3 = false;
        rec->p3_why = NULL;
        if (msg == rec->cur)
            tpc_msg_destroy (&rec->cur);    /* its statements never ran */
        pe_vote (self, rec->gid, TPC_VOTE_NO, why);
        pe_set_reason (rec, why);
        rec->want = TPC_OUTCOME_ABORTED;
        s_advance (self, rec, now);
        return;
    }
    rec->maybe_prepared = true;
    rec->interrupted = false;
    pe_set_state (self, rec, PE_PREPARING, now);
    pe_submit (self, rec, PART_RM_PREPARE, now);
}

/*  The session is pinned: run the current work.  Statements followed by
 *  a prepare or a one-phase commit go to the RM as ONE operation (their
 *  statements ride along in rec->cur), so the database sees them, the
 *  marker and PREPARE TRANSACTION / COMMIT in one round trip.             */
static void
s_run_work (part_engine_t *self, pe_rec_t *rec, uint64_t now)
{
    tpc_msg_t *work = rec->cur;
    switch (work->then) {
    case TPC_THEN_PREPARE:
        s_start_prepare (self, rec, work, now);
        break;
    case TPC_THEN_COMMIT:
        rec->decision = TPC_OUTCOME_COMMITTED;
        rec->ack_wanted = true;
        pe_set_state (self, rec, PE_COMMITTING, now);
        pe_submit (self, rec, PART_RM_COMMIT_ONEPHASE, now);
        break;
    default:
        if (work->nstmts)
            pe_submit (self, rec, PART_RM_EXEC, now);
        else
            s_after_exec (self, rec, NULL, now);
        break;
    }
}

static void
s_start_work (part_engine_t *self, pe_rec_t *rec, tpc_msg_t *msg, uint64_t now)
{
    rec->cur = msg;
    if (!rec->begun)
        pe_submit (self, rec, PART_RM_BEGIN, now);
    else
        s_run_work (self, rec, now);
}

/*  A work with then=none ran: reply its result.                          */
static void
s_after_exec (part_engine_t *self, pe_rec_t *rec, const part_rm_result_t *res,
              uint64_t now)
{
    (void) now;
    tpc_msg_t *work = rec->cur;
    rec->cur = NULL;
    pe_worked_ok (self, work, res);
    tpc_msg_destroy (&work);
}

static void
s_on_work (part_engine_t *self, pe_rec_t *rec, tpc_msg_t *msg, bool queued,
           uint64_t now)
{
    if (!rec) {
        if (msg->seq != 1) {
            const char *why = "unknown transaction: the agent has no open "
                              "transaction for it (lost in a restart?)";
            if (msg->then == TPC_THEN_COMMIT
                && (rec = pe_rec_new (self, msg->gid, PE_ACTIVE))) {
                rec->seq = msg->seq;
                s_onephase_fail (self, rec, why, now);
            }
            else
                pe_reply_failure (self, msg, why);
            goto drop;
        }
        rec = pe_rec_new (self, msg->gid, PE_ACTIVE);
        if (!rec) {
            pe_reply_failure (self, msg, "out of memory in the agent");
            goto drop;
        }
        rec->seq = 1;
        s_start_work (self, rec, msg, now);
        return;
    }
    if (!queued) {
        if (msg->seq <= rec->seq) {
            pe_log (self, PE_VERBOSE, "%s: duplicate work seq %llu ignored", rec->gid,
                   (unsigned long long) msg->seq);
            goto drop;
        }
        uint64_t expected = rec->seq + 1;
        rec->seq = msg->seq;
        if (rec->state == PE_ACTIVE && !rec->want && msg->seq != expected) {
            char why[128];
            snprintf (why, sizeof why, "work seq %llu arrived, %llu expected: "
                      "transaction aborted", (unsigned long long) msg->seq,
                      (unsigned long long) expected);
            pe_reply_failure (self, msg, why);
            pe_set_reason (rec, why);
            rec->want = TPC_OUTCOME_ABORTED;
            if (rec->req)
                pe_interrupt (self, rec->gid);
            tpc_msg_destroy (&msg);
            s_advance (self, rec, now);
            return;
        }
    }
    if (rec->state != PE_ACTIVE || rec->want) {
        char why[256];
        if (rec->state == PE_ABORTED)
            snprintf (why, sizeof why, "transaction aborted: %s",
                      rec->reason ? rec->reason : "?");
        else
            snprintf (why, sizeof why, "transaction is %s",
                      rec->want ? "being aborted" : "already prepared or decided");
        pe_reply_failure (self, msg, why);
        goto drop;
    }
    if (pe_busy (rec) || (!queued && rec->qhead)) {
        pe_enqueue (self, rec, msg, false);
        return;
    }
    s_start_work (self, rec, msg, now);
    return;
drop:
    tpc_msg_destroy (&msg);
}

static void
s_on_prepare (part_engine_t *self, pe_rec_t *rec, tpc_msg_t *msg, bool queued,
              uint64_t now)
{
    /* no record: whatever a 3PC state says (UNCERTAIN is durable BEFORE
     * the database prepares), nothing here proves the gid prepared; a gid
     * the database holds prepared has a record (PREPARED) once recovery
     * listed it */
    if (!rec)
        pe_vote (self, msg->gid, TPC_VOTE_NO, "unknown transaction");
    else if (rec->state == PE_ACTIVE && !rec->want) {
        if (pe_busy (rec) || (!queued && rec->qhead)) {
            pe_enqueue (self, rec, msg, false);
            return;
        }
        s_start_prepare (self, rec, msg, now);
    }
    else if (rec->state == PE_PREPARED)
        pe_vote (self, rec->gid, TPC_VOTE_YES, NULL);
    else if (rec->state == PE_ABORTED)
        pe_vote (self, rec->gid, TPC_VOTE_NO, rec->reason);
    else if (rec->state == PE_ROLLING_BACK || rec->want)
        pe_vote (self, rec->gid, TPC_VOTE_NO, "transaction is being aborted");
    else
        pe_log (self, PE_VERBOSE, "%s: prepare ignored in state %s", rec->gid,
               pe_state_names[rec->state]);
    tpc_msg_destroy (&msg);
}

/*  Answer queued work and prepare messages: the transaction is aborting. */
static void
s_purge_work (part_engine_t *self, pe_rec_t *rec, const char *reason)
{
    pe_qmsg_t *keep = NULL, *tail = NULL;
    pe_qmsg_t *q = rec->qhead;
    while (q) {
        pe_qmsg_t *next = q->next;
        if (q->msg->type == TPC_MSG_WORK || q->msg->type == TPC_MSG_PREPARE) {
            pe_reply_failure (self, q->msg, reason);
            tpc_msg_destroy (&q->msg);
            free (q);
        }
        else {
            q->next = NULL;
            if (tail)
                tail->next = q;
            else
                keep = q;
            tail = q;
        }
        q = next;
    }
    rec->qhead = keep;
    rec->qtail = tail;
}

/*  A decide (NOACK: applied for 3PC on a peer's or a termination's
 *  decision; nobody gets an ack).                                        */
static void
s_on_decide (part_engine_t *self, pe_rec_t *rec, tpc_msg_t *msg, bool queued,
             bool noack, uint64_t now)
{
    tpc_outcome_t outcome = msg->outcome;
    if (outcome != TPC_OUTCOME_COMMITTED && outcome != TPC_OUTCOME_ABORTED) {
        pe_log (self, PE_WARNING, "%s: decide with outcome %s ignored", msg->gid,
               tpc_outcome_name (outcome));
        goto drop;
    }
    if (!rec) {
        /* not ours in memory: the database (prepared set, marker) knows */
        rec = pe_rec_new (self, msg->gid, PE_PREPARED);
        if (!rec) {
            pe_log (self, PE_WARNING, "%s: out of memory: decide dropped", msg->gid);
            goto drop;
        }
        rec->maybe_prepared = true;
        if (pe_phase2 (self, rec, outcome, !noack, now) != 0)
            pe_rec_free (self, rec);     /* 3PC state not durable: as before */
        goto drop;
    }
    switch (rec->state) {
    case PE_COMMITTING:
    case PE_ROLLING_BACK:
        if (!noack)
            rec->ack_wanted = true;     /* the truth comes when it is done */
        break;
    case PE_PREPARED:
        if (pe_busy (rec) || (!queued && rec->qhead)) {
            pe_enqueue (self, rec, msg, noack);
            return;
        }
        pe_phase2 (self, rec, outcome, !noack, now);
        break;
    case PE_PREPARING:
        if (outcome == TPC_OUTCOME_ABORTED) {
            rec->want = TPC_OUTCOME_ABORTED;
            if (!noack)
                rec->ack_wanted = true;
            if (rec->req && rec->cur && rec->cur->nstmts && !rec->interrupted) {
                /* its statements may be blocked: cancel them.  Should the
                 * cancel land on PREPARE TRANSACTION itself, a failure is
                 * no proof that nothing is prepared (see s_on_prepared). */
                rec->interrupted = true;
                pe_interrupt (self, rec->gid);
            }
            break;
        }
        pe_enqueue (self, rec, msg, noack);
        return;
    case PE_ACTIVE:
        if (outcome == TPC_OUTCOME_COMMITTED)
            pe_log (self, PE_WARNING, "%s: decide committed for a transaction never "
                   "prepared here: rolled back", rec->gid);
        pe_set_reason (rec, outcome == TPC_OUTCOME_COMMITTED
                      ? "decide committed but the transaction was never prepared"
                      : "aborted by the coordinator");
        rec->want = TPC_OUTCOME_ABORTED;
        if (!noack)
            rec->ack_wanted = true;
        s_purge_work (self, rec, "aborted by the coordinator");
        if (rec->req)
            pe_interrupt (self, rec->gid);
        s_advance (self, rec, now);
        break;
    case PE_ABORTED:
        /* never voted yes: whatever the message says, abort is the truth */
        if (pe_busy (rec) || (!queued && rec->qhead)) {
            pe_enqueue (self, rec, msg, noack);
            return;
        }
        if (!noack)
            rec->ack_wanted = true;
        rec->want = TPC_OUTCOME_ABORTED;
        s_advance (self, rec, now);
        break;
    }
drop:
    tpc_msg_destroy (&msg);
}

static void
s_on_answer (part_engine_t *self, pe_rec_t *rec, tpc_msg_t *msg, uint64_t now)
{
    if (rec && rec->state == PE_ACTIVE && !pe_busy (rec) && !rec->qhead
        && (msg->outcome == TPC_OUTCOME_ABORTED
            || msg->outcome == TPC_OUTCOME_COMMITTED)) {
        /* the coordinator no longer knows this open transaction, or is done
         * with the gid without it (a late copy of a work re-opened it after
         * the gid ended: any final answer): roll it back (and leave a
         * tombstone) as a decide aborted would                            */
        pe_log (self, PE_WARNING, "%s: open transaction unknown to the coordinator: "
               "rolled back", rec->gid);
        msg->type = TPC_MSG_DECIDE;
        msg->outcome = TPC_OUTCOME_ABORTED;
        s_on_decide (self, rec, msg, true, false, now);
        return;
    }
    if (!rec || !rec->in_doubt || rec->state != PE_PREPARED || pe_busy (rec)) {
        pe_log (self, PE_VERBOSE, "%s: stale answer %s ignored", msg->gid,
               tpc_outcome_name (msg->outcome));
    }
    else if (msg->outcome == TPC_OUTCOME_COMMITTED
             || msg->outcome == TPC_OUTCOME_ABORTED) {
        pe_log (self, PE_VERBOSE, "%s: answer %s", rec->gid, tpc_outcome_name (msg->outcome));
        pe_phase2 (self, rec, msg->outcome, true, now);
    }
    else
        pe_timer_set (self, rec, now + self->cfg.query_ms);   /* ask again */
    tpc_msg_destroy (&msg);
}

void
pe_handle (part_engine_t *self, tpc_msg_t *msg, bool queued, bool noack,
          uint64_t now)
{
    pe_rec_t *rec = zhashx_lookup (self->recs, msg->gid);
    switch (msg->type) {
    case TPC_MSG_WORK:
        s_on_work (self, rec, msg, queued, now);
        break;
    case TPC_MSG_PREPARE:
        s_on_prepare (self, rec, msg, queued, now);
        break;
    case TPC_MSG_DECIDE:
        s_on_decide (self, rec, msg, queued, noack, now);
        break;
    case TPC_MSG_ANSWER:
        s_on_answer (self, rec, msg, now);
        break;
    default:
        tpc_msg_destroy (&msg);
        break;
    }
}

void
part_engine_on_message (part_engine_t *self, tpc_msg_t **msg_p, uint64_t now)
{
    tpc_msg_t *msg = *msg_p;
    *msg_p = NULL;
    if (!msg)
        return;
    switch (msg->type) {
    case TPC_MSG_WORK:
    case TPC_MSG_PREPARE:
    case TPC_MSG_DECIDE:
    case TPC_MSG_ANSWER:
    case TPC_MSG_PRECOMMIT:
    case TPC_MSG_GETSTATE:
    case TPC_MSG_OUTCOME_OF:
        if (tpc_gid_parse (msg->gid, NULL) != 0) {
            pe_log (self, PE_WARNING, "%s with a malformed gid ignored",
                   tpc_msg_type_name (msg->type));
            tpc_msg_destroy (&msg);
            return;
        }
        pe_log (self, PE_VERBOSE, "%s: <- %s", msg->gid, tpc_msg_type_name (msg->type));
        if (msg->type == TPC_MSG_OUTCOME_OF) {
            pe_on_outcome_of (self, msg->gid, now);
            tpc_msg_destroy (&msg);
            break;
        }
        if (msg->type == TPC_MSG_PRECOMMIT || msg->type == TPC_MSG_GETSTATE) {
            pe_p3_on_coord (self, msg, now);
            tpc_msg_destroy (&msg);
            break;
        }
        pe_handle (self, msg, false, false, now);
        break;
    default:
        pe_log (self, PE_WARNING, "unexpected %s from the coordinator ignored",
               tpc_msg_type_name (msg->type));
        tpc_msg_destroy (&msg);
        break;
    }
}

/* ------------------------------------------------------------------ */
/*  RM completions                                                     */

static pe_rec_t *
s_on_begun (part_engine_t *self, pe_rec_t *rec, const part_rm_result_t *res,
            uint64_t now)
{
    if (res->status == 0) {
        rec->begun = true;
        if (rec->want) {
            pe_reply_failure (self, rec->cur, "aborted by the coordinator");
            tpc_msg_destroy (&rec->cur);
        }
        else
            s_run_work (self, rec, now);
        return rec;
    }
    const char *why = res->status == TPC_EBUSY ? "busy" : res->error;
    if (rec->cur->then == TPC_THEN_COMMIT && !rec->want) {
        s_onephase_fail (self, rec, why, now);
        return rec;
    }
    pe_reply_failure (self, rec->cur, why);
    tpc_msg_destroy (&rec->cur);
    pe_set_reason (rec, why);
    pe_set_state (self, rec, PE_ABORTED, now);
    return rec;
}

static pe_rec_t *
s_on_executed (part_engine_t *self, pe_rec_t *rec, const part_rm_result_t *res,
               uint64_t now)
{
    if (res->status == 0 && !rec->want) {
        s_after_exec (self, rec, res, now);
        return rec;
    }
    const char *why = rec->want ? "aborted by the coordinator" : res->error;
    if (rec->cur->then == TPC_THEN_COMMIT && !rec->want) {
        s_onephase_fail (self, rec, why, now);
        return rec;
    }
    pe_reply_failure (self, rec->cur, why);
    tpc_msg_destroy (&rec->cur);
    if (!rec->want) {
        pe_set_reason (rec, why);
        pe_set_state (self, rec, PE_ABORTED, now);
        pe_submit (self, rec, PART_RM_ROLLBACK, now);
    }
    return rec;
}

/*  Only here may a vote yes be born: the RM said the prepare is durable. */
static pe_rec_t *
s_on_prepared (part_engine_t *self, pe_rec_t *rec, const part_rm_result_t *res,
               uint64_t now)
{
    rec->begun = false;
    tpc_msg_destroy (&rec->cur);        /* statements that rode along */
    if (res->status == 0 && res->readonly && rec->p3) {
        /* cannot happen (a 3PC PREPARE keeps a read-only transaction
         * prepared): the in-memory state goes; the durable UNCERTAIN comes
         * back after a restart as an uncertain member, which is harmless */
        pe_p3_t *p3 = pe_p3_lookup (self, rec->gid);
        if (p3 && !rec->p3_why && p3->state == TPC_P3_UNCERTAIN)
            pe_p3_remove (self, p3);
        rec->p3 = false;
    }
    if (res->status == 0 && res->readonly) {
        pe_vote (self, rec->gid, TPC_VOTE_READONLY, NULL);
        if (!rec->want) {
            pe_rec_release (self, rec, now);
            return NULL;
        }
        rec->maybe_prepared = false;
        pe_set_reason (rec, "aborted by the coordinator");
        pe_set_state (self, rec, PE_ABORTED, now);
        return rec;
    }
    const char *why = res->status == TPC_ECONNECT
                      ? "connection to the database lost during prepare"
                      : res->error;
    bool prepared = res->status == 0;
    if (rec->p3) {
        /* 3PC: UNCERTAIN was made durable before the PREPARE (or could not
         * be: rec->p3_why); the vote is yes only if it still stands */
        pe_p3_t *p3 = rec->p3_why ? NULL : pe_p3_lookup (self, rec->gid);
        if (prepared) {
            const char *refuse = NULL;
            if (rec->want)
                refuse = "aborted by the coordinator";
            else if (rec->p3_why)
                refuse = rec->p3_why;
            else if (!p3 || p3->state != TPC_P3_UNCERTAIN)
                refuse = "the termination protocol settled this transaction "
                         "while it was being prepared";
            else
                pe_p3_wait (self, p3, now);  /* the timer runs from the vote */
            if (refuse) {
                why = refuse;
                prepared = false;
                rec->interrupted = true;    /* it IS prepared: roll it back */
            }
        }
        if (!prepared && p3 && p3->state == TPC_P3_UNCERTAIN)
            (void) pe_p3_decide (self, p3, TPC_OUTCOME_ABORTED, now);
        rec->p3_why = NULL;
    }
    if (prepared) {
        pe_set_state (self, rec, PE_PREPARED, now);
        pe_vote (self, rec->gid, TPC_VOTE_YES, NULL);
        /* Should the decision never come (a coordinator that restarted
         * forgot an undecided gid: presumed abort pushes nothing), start
         * asking after doubt_ms; a decide clears this timer.  (in_doubt
         * is set only when we ask: answers nobody asked for are ignored.) */
        pe_timer_set (self, rec, now + self->cfg.doubt_ms);
        return rec;
    }
    pe_vote (self, rec->gid, TPC_VOTE_NO, why);
    /* A lost session, or a cancel that may have hit PREPARE TRANSACTION
     * itself, may have prepared it after all.  We voted no, so it can only
     * abort, and the coordinator sends no decide to a no voter: roll it
     * back now rather than leave it prepared (and its locks held) until
     * the next recovery.                                                 */
    rec->maybe_prepared = res->status == TPC_ECONNECT || rec->interrupted;
    if (rec->maybe_prepared)
        rec->want = TPC_OUTCOME_ABORTED;
    pe_set_reason (rec, why);
    pe_set_state (self, rec, PE_ABORTED, now);
    return rec;
}

static pe_rec_t *
s_on_onephase (part_engine_t *self, pe_rec_t *rec, const part_rm_result_t *res,
               uint64_t now)
{
    rec->begun = false;
    tpc_msg_destroy (&rec->cur);        /* statements that rode along */
    if (res->status == 0)
        return s_done (self, rec, TPC_OUTCOME_COMMITTED, NULL, now);
    /* Did this COMMIT happen after all (a lost session), or an earlier
     * one (a repeated work fails on the marker's key)?  TOMBSTONE settles
     * it for good and its verdict is the ack (s_onephase_fail).          */
    s_onephase_fail (self, rec, res->error, now);
    return rec;
}

static pe_rec_t *
s_on_rolled_back (part_engine_t *self, pe_rec_t *rec,
                  const part_rm_result_t *res, uint64_t now)
{
    (void) res;             /* a failed ROLLBACK lost its session: same end */
    rec->begun = false;
    if (rec->state == PE_ROLLING_BACK)
        pe_submit (self, rec, PART_RM_TOMBSTONE, now);
    return rec;
}

static pe_rec_t *
s_on_phase2 (part_engine_t *self, pe_rec_t *rec, const part_rm_result_t *res,
             uint64_t now)
{
    bool commit = res->op == PART_RM_COMMIT_PREPARED;
    if (res->status == 0)
        return s_done (self, rec, commit ? TPC_OUTCOME_COMMITTED
                                         : TPC_OUTCOME_ABORTED, NULL, now);
    if (res->status == TPC_ENOENT) {
        /* not prepared (any more): the marker says what happened */
        pe_submit (self, rec, commit ? PART_RM_OUTCOME_OF : PART_RM_TOMBSTONE, now);
        return rec;
    }
    pe_log (self, PE_WARNING, "%s: %s failed, retrying: %s", rec->gid,
           part_rm_op_name (res->op), res->error ? res->error : "?");
    pe_retry (self, rec, res->op, now);
    return rec;
}

static pe_rec_t *
s_on_outcome (part_engine_t *self, pe_rec_t *rec, const part_rm_result_t *res,
              uint64_t now)
{
    if (res->status != 0) {
        pe_retry (self, rec, PART_RM_OUTCOME_OF, now);
        return rec;
    }
    if (res->outcome == TPC_OUTCOME_IN_PROGRESS) {
        /* still prepared: apply the decision again */
        pe_retry (self, rec, rec->decision == TPC_OUTCOME_ABORTED
                 ? PART_RM_ROLLBACK_PREPARED : PART_RM_COMMIT_PREPARED, now);
        return rec;
    }
    const char *why = res->outcome == rec->decision ? NULL
                      : "the transaction is not prepared and left no commit marker";
    return s_done (self, rec, res->outcome, why, now);
}

static pe_rec_t *
s_on_tombstone (part_engine_t *self, pe_rec_t *rec, const part_rm_result_t *res,
                uint64_t now)
{
    if (res->status != 0) {
        pe_log (self, PE_WARNING, "%s: tombstone failed, retrying: %s", rec->gid,
               res->error ? res->error : "?");
        pe_retry (self, rec, PART_RM_TOMBSTONE, now);
        /* a lock timeout on the marker: a transaction of this gid holds
         * it, prepared after all (a PREPARE of a crashed incarnation was
         * still running when ROLLBACK PREPARED found nothing): list the
         * prepared ones now, which turns this record into an in-doubt one
         * (pe_on_recovered).  Any database error counts, not only
         * PostgreSQL's 55P03: MariaDB says lock wait timeout (1205) with
         * the generic SQLSTATE HY000, and a listing too many is cheap. */
        if (res->status == TPC_EDB) {
            if (self->recover_req)
                self->recover_again = true;
            else
                pe_submit_recover (self, now);
        }
        return rec;
    }
    rec->tombstoned = res->outcome != TPC_OUTCOME_COMMITTED;
    return s_done (self, rec, res->outcome, res->outcome == TPC_OUTCOME_COMMITTED
                   ? "the transaction had committed" : rec->reason, now);
}

void
part_engine_on_result (part_engine_t *self, const part_rm_result_t *res,
                       uint64_t now)
{
    if (res->op == PART_RM_CONNECTED) {
        part_engine_on_connected (self, now);
        return;
    }
    if (res->op == PART_RM_RECOVER) {
        pe_on_recovered (self, res, now);
        return;
    }
    if (pe_on_inquired (self, res))
        return;
    pe_rec_t *rec = res->gid ? zhashx_lookup (self->recs, res->gid) : NULL;
    if (!rec || rec->req != res->req) {
        pe_log (self, PE_VERBOSE, "%s: stale %s completion ignored",
               res->gid ? res->gid : "?", part_rm_op_name (res->op));
        return;
    }
    rec->req = 0;
    if (res->status != 0)
        pe_log (self, PE_VERBOSE, "%s: %s failed: %s", rec->gid, part_rm_op_name (res->op),
               res->error ? res->error : tpc_strerror (res->status));
    switch (res->op) {
    case PART_RM_BEGIN:
        rec = s_on_begun (self, rec, res, now);
        break;
    case PART_RM_EXEC:
        rec = s_on_executed (self, rec, res, now);
        break;
    case PART_RM_PREPARE:
        rec = s_on_prepared (self, rec, res, now);
        break;
    case PART_RM_COMMIT_ONEPHASE:
        rec = s_on_onephase (self, rec, res, now);
        break;
    case PART_RM_ROLLBACK:
        rec = s_on_rolled_back (self, rec, res, now);
        break;
    case PART_RM_COMMIT_PREPARED:
    case PART_RM_ROLLBACK_PREPARED:
        rec = s_on_phase2 (self, rec, res, now);
        break;
    case PART_RM_OUTCOME_OF:
        rec = s_on_outcome (self, rec, res, now);
        break;
    case PART_RM_TOMBSTONE:
        rec = s_on_tombstone (self, rec, res, now);
        break;
    default:
        break;
    }
    if (rec)
        s_advance (self, rec, now);
}

/*  An idle record does what it owes: a wanted abort, then its queue.    */
static pe_rec_t *
s_advance (part_engine_t *self, pe_rec_t *rec, uint64_t now)
{
    while (rec && !pe_busy (rec)) {
        if (rec->want == TPC_OUTCOME_ABORTED) {
            rec->want = TPC_OUTCOME_NONE;
            switch (rec->state) {
            case PE_ACTIVE:
                rec->decision = TPC_OUTCOME_ABORTED;
                pe_set_state (self, rec, PE_ROLLING_BACK, now);
                pe_submit (self, rec, rec->begun ? PART_RM_ROLLBACK
                                                : PART_RM_TOMBSTONE, now);
                break;
            case PE_PREPARED:
                pe_phase2 (self, rec, TPC_OUTCOME_ABORTED, false, now);
                break;
            case PE_ABORTED:
                if (rec->tombstoned && !rec->maybe_prepared) {
                    rec = s_done (self, rec, TPC_OUTCOME_ABORTED, rec->reason, now);
                    continue;
                }
                rec->decision = TPC_OUTCOME_ABORTED;
                pe_set_state (self, rec, PE_ROLLING_BACK, now);
                pe_submit (self, rec, rec->maybe_prepared
                          ? PART_RM_ROLLBACK_PREPARED : PART_RM_TOMBSTONE, now);
                break;
            default:
                break;
            }
            continue;
        }
        bool noack = false;
        tpc_msg_t *msg = pe_dequeue (rec, &noack);
        if (!msg)
            break;
        char gid[TPC_GID_MAX];
        snprintf (gid, sizeof gid, "%s", rec->gid);
        pe_handle (self, msg, true, noack, now);
        if (zhashx_lookup (self->recs, gid) != rec)
            rec = NULL;
    }
    return rec;
}

/* ------------------------------------------------------------------ */
/*  Time                                                               */

static void
s_hello (part_engine_t *self)
{
    tpc_msg_t *msg = tpc_msg_new (TPC_MSG_HELLO);
    char boot[17];
    snprintf (boot, sizeof boot, "%016" PRIx64, self->cfg.boot);
    if (msg && (tpc_msg_set_str (&msg->name, self->name) != 0
                || tpc_msg_set_str (&msg->peer, self->peer_endpoint) != 0
                || (self->cfg.boot
                    && tpc_msg_set_str (&msg->boot, boot) != 0)))
        tpc_msg_destroy (&msg);
    if (msg) {
        for (pe_rec_t *rec = zhashx_first (self->recs); rec;
             rec = zhashx_next (self->recs)) {
            if (msg->ngids >= self->cfg.hello_max_gids)
                break;
            if (rec->state == PE_PREPARED)
                tpc_msg_strv_push (&msg->gids, &msg->ngids, rec->gid);
        }
    }
    pe_send (self, msg);
}

void
part_engine_start (part_engine_t *self, uint64_t now)
{
    self->started = true;
    if (self->p3_unarmed)
        pe_p3_arm_restored (self, now);
    s_hello (self);
    self->hello_at = now + self->cfg.heartbeat_ms;
}

void
part_engine_coordinator_up (part_engine_t *self, uint64_t now)
{
    if (!self->started)
        return;
    s_hello (self);
    self->hello_at = now + self->cfg.heartbeat_ms;
    /* The coordinator may have restarted: every gid we voted yes on is in
     * doubt until it answers again.                                      */
    for (pe_rec_t *rec = zhashx_first (self->recs); rec;
         rec = zhashx_next (self->recs))
        if (rec->state == PE_PREPARED && !pe_busy (rec) && !rec->qhead) {
            rec->in_doubt = true;
            pe_query (self, rec->gid);
            pe_timer_set (self, rec, now + self->cfg.query_ms);
        }
        else if (rec->state == PE_ACTIVE && !pe_busy (rec) && !rec->qhead)
            pe_query (self, rec->gid);
}

void
part_engine_tick (part_engine_t *self, uint64_t now)
{
    if (self->started && now >= self->hello_at) {
        s_hello (self);
        self->hello_at = now + self->cfg.heartbeat_ms;
    }
    if (self->recover_at && now >= self->recover_at)
        pe_submit_recover (self, now);
    /* collect due records first: handling one may change the list */
    size_t n = 0;
    for (pe_rec_t *r = self->timers; r; r = r->tnext)
        if (r->next_at <= now)
            n++;
    if (n) {
        char (*due)[TPC_GID_MAX] = calloc (n, sizeof *due);
        if (due) {
            size_t i = 0;
            for (pe_rec_t *r = self->timers; r && i < n; r = r->tnext)
                if (r->next_at <= now)
                    snprintf (due[i++], TPC_GID_MAX, "%s", r->gid);
            for (i = 0; i < n; i++) {
                pe_rec_t *rec = zhashx_lookup (self->recs, due[i]);
                if (!rec || !rec->in_timers || rec->next_at > now)
                    continue;
                if (rec->retry_op) {
                    part_rm_op_t op = rec->retry_op;
                    rec->retry_op = 0;
                    pe_timer_clear (self, rec);
                    pe_submit (self, rec, op, now);
                }
                else if (rec->state == PE_PREPARED && !rec->req) {
                    rec->in_doubt = true;   /* in doubt or doubt_ms passed */
                    pe_query (self, rec->gid);
                    pe_timer_set (self, rec, now + self->cfg.query_ms);
                }
                else
                    pe_timer_clear (self, rec);
            }
            free (due);
        }
    }
    pe_p3_tick (self, now);
    while (self->fhead && self->fhead->forget_at <= now) {
        pe_rec_t *rec = self->fhead;
        if (pe_busy (rec) || rec->qhead || rec->want)
            pe_forget_append (self, rec, now);
        else {
            pe_log (self, PE_VERBOSE, "%s: forgotten", rec->gid);
            pe_rec_free (self, rec);
        }
    }
}

int64_t
part_engine_timeout (part_engine_t *self, uint64_t now)
{
    uint64_t at = UINT64_MAX;
    if (self->started)
        at = self->hello_at;
    if (self->recover_at && self->recover_at < at)
        at = self->recover_at;
    for (pe_rec_t *r = self->timers; r; r = r->tnext)
        if (r->next_at < at)
            at = r->next_at;
    if (self->fhead && self->fhead->forget_at < at)
        at = self->fhead->forget_at;
    at = pe_p3_next_at (self, at, now);
    if (at == UINT64_MAX)
        return -1;
    return at <= now ? 0 : (int64_t) (at - now);
}

/* ------------------------------------------------------------------ */

part_engine_t *
part_engine_new (const part_engine_config_t *config,
                 const part_engine_io_t *io)
{
    if (!config || !config->name)
        return NULL;
    part_engine_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->cfg = *config;
    if (!self->cfg.heartbeat_ms)
        self->cfg.heartbeat_ms = 1000;
    if (!self->cfg.query_ms)
        self->cfg.query_ms = 1000;
    if (!self->cfg.doubt_ms)
        self->cfg.doubt_ms = 3000;
    if (!self->cfg.sweep_ms)
        self->cfg.sweep_ms = 10000;
    if (!self->cfg.retry_ms)
        self->cfg.retry_ms = 500;
    if (!self->cfg.forget_ms)
        self->cfg.forget_ms = 60000;
    if (!self->cfg.hello_max_gids)
        self->cfg.hello_max_gids = 256;
    if (!self->cfg.p3_timeout_ms)
        self->cfg.p3_timeout_ms = 2000;
    if (!self->cfg.p3_collect_ms)
        self->cfg.p3_collect_ms = 500;
    if (!self->cfg.p3_forget_ms)
        self->cfg.p3_forget_ms = 600000;
    self->name = strdup (config->name);
    self->peer_endpoint = config->peer_endpoint && *config->peer_endpoint
                          ? strdup (config->peer_endpoint) : NULL;
    self->recs = zhashx_new ();
    self->p3s = zhashx_new ();
    if (!self->name || !self->recs || !self->p3s
        || (config->peer_endpoint && *config->peer_endpoint
            && !self->peer_endpoint)) {
        part_engine_destroy (&self);
        return NULL;
    }
    self->cfg.name = self->name;
    self->cfg.peer_endpoint = self->peer_endpoint;
    if (io)
        self->io = *io;
    return self;
}

void
part_engine_destroy (part_engine_t **self_p)
{
    part_engine_t *self = *self_p;
    if (!self)
        return;
    if (self->recs) {
        pe_rec_t *rec;
        while ((rec = zhashx_first (self->recs))) {
            pe_qmsg_t *q = pe_rec_free (self, rec);
            while (q) {
                pe_qmsg_t *next = q->next;
                tpc_msg_destroy (&q->msg);
                free (q);
                q = next;
            }
        }
        zhashx_destroy (&self->recs);
    }
    if (self->p3s) {
        pe_p3_t *p3;
        while ((p3 = zhashx_first (self->p3s)))
            pe_p3_remove (self, p3);
        zhashx_destroy (&self->p3s);
    }
    while (self->inqs) {
        pe_inq_t *next = self->inqs->next;
        free (self->inqs);
        self->inqs = next;
    }
    part_action_t act;
    while (part_engine_pop (self, &act))
        part_action_clear (&act);
    free (self->peer_endpoint);
    free (self->name);
    free (self);
    *self_p = NULL;
}

bool
part_engine_pop (part_engine_t *self, part_action_t *out)
{
    pe_act_t *node = self->qhead;
    if (!node)
        return false;
    self->qhead = node->next;
    if (!self->qhead)
        self->qtail = NULL;
    *out = node->act;
    free (node);
    return true;
}

void
part_action_clear (part_action_t *act)
{
    if (!act)
        return;
    tpc_msg_destroy (&act->msg);
    free (act->name);
    free (act->endpoint);
    free (act->from);
    free (act->gid);
    free (act->text);
    memset (act, 0, sizeof *act);
}

void
part_engine_submit_refused (part_engine_t *self, const part_action_t *act,
                            int rc, uint64_t now)
{
    if (act->type != PART_ACT_SUBMIT)
        return;
    if (!pe_recover_refused (self, act->req.req, now))
        pe_rec_refused (self, act->req.req, rc, now);
}

void
part_engine_peer_failed (part_engine_t *self, const part_action_t *act,
                         uint64_t now)
{
    if (act->type == PART_ACT_PEER_SEND)
        pe_p3_peer_failed (self, act, now);
}

bool
part_engine_ready (part_engine_t *self, size_t *found)
{
    if (found)
        *found = self->found;
    return self->ready;
}

const char *
part_engine_state (part_engine_t *self, const char *gid)
{
    pe_rec_t *rec = gid ? zhashx_lookup (self->recs, gid) : NULL;
    return rec ? pe_state_names[rec->state] : NULL;
}

size_t
part_engine_size (part_engine_t *self)
{
    return zhashx_size (self->recs);
}
