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
 */
#include "part_engine.h"

#include <czmq.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tpc_error.h"
#include "tpc_gid.h"

typedef enum {
    S_ACTIVE, S_PREPARING, S_PREPARED, S_COMMITTING, S_ROLLING_BACK, S_ABORTED
} s_state_t;

static const char *const s_state_names[] = {
    "active", "preparing", "prepared", "committing", "rolling_back", "aborted"
};

typedef struct s_qmsg {
    tpc_msg_t *msg;
    struct s_qmsg *next;
} s_qmsg_t;

typedef struct s_rec s_rec_t;
struct s_rec {
    char gid[TPC_GID_MAX];
    s_state_t state;
    uint64_t req;               /* RM operation in flight, 0 = none */
    part_rm_op_t op;            /* ... and which */
    part_rm_op_t retry_op;      /* to resubmit at next_at, 0 = none */
    uint64_t seq;               /* highest work seq accepted */
    tpc_msg_t *cur;             /* the work being executed */
    s_qmsg_t *qhead, *qtail;    /* messages waiting for the record */
    bool begun;                 /* BEGIN succeeded: a session is pinned */
    bool maybe_prepared;        /* PREPARE was sent: the db may hold gid */
    bool ack_wanted;            /* send ack when the outcome is known */
    bool in_doubt;              /* found by RECOVER: query until answered */
    bool tombstoned;            /* a tombstone for gid is committed */
    tpc_outcome_t want;         /* ABORTED: abort as soon as idle */
    tpc_outcome_t decision;     /* COMMITTING / ROLLING_BACK: target */
    char *reason;               /* why ABORTED */
    uint64_t next_at;           /* timer (query or retry), 0 = none */
    uint64_t forget_at;         /* ABORTED: drop the record after */
    s_rec_t *tprev, *tnext;     /* timer list (records with next_at) */
    bool in_timers;
    s_rec_t *fprev, *fnext;     /* forget FIFO (ABORTED records) */
    bool in_forget;
};

struct part_engine {
    part_engine_config_t cfg;
    char *name;
    const part_rm_t *rm;
    part_engine_io_t io;
    zhashx_t *recs;             /* gid -> s_rec_t */
    s_rec_t *timers;
    s_rec_t *fhead, *ftail;
    uint64_t next_req;
    uint64_t hello_at;
    bool started;
    uint64_t recover_req;       /* RECOVER in flight */
    bool recover_again;         /* reconnected while it ran */
    uint64_t recover_at;        /* retry RECOVER, 0 = none */
    bool ready;
    size_t found;
};

static s_rec_t *s_advance (part_engine_t *self, s_rec_t *rec, uint64_t now);
static void s_handle (part_engine_t *self, tpc_msg_t *msg, bool queued,
                      uint64_t now);

/* ------------------------------------------------------------------ */
/*  Logging and messages                                               */

static void
s_log (part_engine_t *self, int level, const char *fmt, ...)
{
    if (!self->io.log)
        return;
    char line[512];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (line, sizeof line, fmt, ap);
    va_end (ap);
    self->io.log (self->io.arg, level, line);
}

static void
s_send (part_engine_t *self, tpc_msg_t *msg)
{
    if (!msg) {
        s_log (self, 0, "out of memory: a reply to the coordinator is lost");
        return;
    }
    self->io.send (self->io.arg, &msg);
    tpc_msg_destroy (&msg);
}

static tpc_msg_t *
s_msg (tpc_msg_type_t type, const char *gid, const char *reason)
{
    tpc_msg_t *msg = tpc_msg_new (type);
    if (!msg)
        return NULL;
    if ((gid && tpc_msg_set_str (&msg->gid, gid) != 0)
        || (reason && tpc_msg_set_str (&msg->reason, reason) != 0))
        tpc_msg_destroy (&msg);
    return msg;
}

static void
s_vote (part_engine_t *self, const char *gid, tpc_vote_t vote,
        const char *reason)
{
    tpc_msg_t *msg = s_msg (TPC_MSG_VOTE, gid, vote == TPC_VOTE_NO ? reason : NULL);
    if (msg)
        msg->vote = vote;
    s_log (self, 1, "%s: vote %s%s%s", gid, tpc_vote_name (vote),
           vote == TPC_VOTE_NO ? ": " : "", vote == TPC_VOTE_NO ? reason : "");
    s_send (self, msg);
}

static void
s_ack (part_engine_t *self, const char *gid, tpc_outcome_t outcome,
       const char *reason)
{
    tpc_msg_t *msg = s_msg (TPC_MSG_ACK, gid, reason);
    if (msg)
        msg->outcome = outcome;
    s_log (self, 1, "%s: ack %s", gid, tpc_outcome_name (outcome));
    s_send (self, msg);
}

static void
s_query (part_engine_t *self, const char *gid)
{
    s_log (self, 1, "%s: query", gid);
    s_send (self, s_msg (TPC_MSG_QUERY, gid, NULL));
}

/*  Reply "it failed" to a work or prepare message, in the shape its
 *  sender waits for.                                                     */
static void
s_reply_failure (part_engine_t *self, const tpc_msg_t *msg, const char *reason)
{
    if (!reason || !*reason)
        reason = "failed";
    if (msg->type == TPC_MSG_PREPARE
        || (msg->type == TPC_MSG_WORK && msg->then == TPC_THEN_PREPARE))
        s_vote (self, msg->gid, TPC_VOTE_NO, reason);
    else if (msg->type == TPC_MSG_WORK && msg->then == TPC_THEN_COMMIT)
        s_ack (self, msg->gid, TPC_OUTCOME_ABORTED, reason);
    else if (msg->type == TPC_MSG_WORK) {
        tpc_msg_t *out = s_msg (TPC_MSG_WORKED, msg->gid, reason);
        if (out) {
            out->seq = msg->seq;
            out->ok = false;
        }
        s_log (self, 1, "%s: worked seq %llu failed: %s", msg->gid,
               (unsigned long long) msg->seq, reason);
        s_send (self, out);
    }
}

static void
s_worked_ok (part_engine_t *self, const tpc_msg_t *work,
             const part_rm_result_t *res)
{
    tpc_msg_t *out = s_msg (TPC_MSG_WORKED, work->gid, NULL);
    if (!out) {
        s_send (self, NULL);
        return;
    }
    out->seq = work->seq;
    out->ok = true;
    out->has_result = true;
    out->affected = res ? res->affected : -1;
    if (res && tpc_msg_set_rows (out, res->ncolumns, res->columns,
                                 res->nrows, res->cells) != 0) {
        /* no memory for the rows: say so rather than send a wrong result */
        out->ok = false;
        out->has_result = false;
        tpc_msg_set_str (&out->reason, "out of memory in the agent");
    }
    s_send (self, out);
}

/* ------------------------------------------------------------------ */
/*  Records, timers, forgetting                                        */

static void
s_timer_clear (part_engine_t *self, s_rec_t *rec)
{
    if (rec->in_timers) {
        if (rec->tprev)
            rec->tprev->tnext = rec->tnext;
        else
            self->timers = rec->tnext;
        if (rec->tnext)
            rec->tnext->tprev = rec->tprev;
        rec->tprev = rec->tnext = NULL;
        rec->in_timers = false;
    }
    rec->next_at = 0;
}

static void
s_timer_set (part_engine_t *self, s_rec_t *rec, uint64_t at)
{
    if (!rec->in_timers) {
        rec->tprev = NULL;
        rec->tnext = self->timers;
        if (self->timers)
            self->timers->tprev = rec;
        self->timers = rec;
        rec->in_timers = true;
    }
    rec->next_at = at ? at : 1;
}

static void
s_forget_remove (part_engine_t *self, s_rec_t *rec)
{
    if (!rec->in_forget)
        return;
    if (rec->fprev)
        rec->fprev->fnext = rec->fnext;
    else
        self->fhead = rec->fnext;
    if (rec->fnext)
        rec->fnext->fprev = rec->fprev;
    else
        self->ftail = rec->fprev;
    rec->fprev = rec->fnext = NULL;
    rec->in_forget = false;
}

static void
s_forget_append (part_engine_t *self, s_rec_t *rec, uint64_t now)
{
    s_forget_remove (self, rec);
    rec->forget_at = now + self->cfg.forget_ms;
    rec->fprev = self->ftail;
    rec->fnext = NULL;
    if (self->ftail)
        self->ftail->fnext = rec;
    else
        self->fhead = rec;
    self->ftail = rec;
    rec->in_forget = true;
}

static void
s_set_state (part_engine_t *self, s_rec_t *rec, s_state_t state, uint64_t now)
{
    if (rec->state == S_ABORTED && state != S_ABORTED)
        s_forget_remove (self, rec);
    if (state == S_ABORTED && (rec->state != S_ABORTED || !rec->in_forget))
        s_forget_append (self, rec, now);
    if (rec->state != state)
        s_log (self, 1, "%s: %s -> %s", rec->gid, s_state_names[rec->state],
               s_state_names[state]);
    rec->state = state;
}

static void
s_set_reason (s_rec_t *rec, const char *reason)
{
    if (!reason)
        return;
    char *copy = strdup (reason);
    if (copy) {
        free (rec->reason);
        rec->reason = copy;
    }
}

static s_rec_t *
s_rec_new (part_engine_t *self, const char *gid, s_state_t state)
{
    s_rec_t *rec = calloc (1, sizeof *rec);
    if (!rec)
        return NULL;
    snprintf (rec->gid, sizeof rec->gid, "%s", gid);
    rec->state = state;
    if (zhashx_insert (self->recs, rec->gid, rec) != 0) {
        free (rec);
        return NULL;
    }
    return rec;
}

/*  Free REC; the messages that waited for it are returned (as a list).   */
static s_qmsg_t *
s_rec_free (part_engine_t *self, s_rec_t *rec)
{
    s_qmsg_t *queue = rec->qhead;
    s_timer_clear (self, rec);
    s_forget_remove (self, rec);
    tpc_msg_destroy (&rec->cur);
    free (rec->reason);
    zhashx_delete (self->recs, rec->gid);
    free (rec);
    return queue;
}

/*  The record is done with: drop it and handle what waited for it as new
 *  messages.                                                             */
static void
s_rec_release (part_engine_t *self, s_rec_t *rec, uint64_t now)
{
    s_qmsg_t *q = s_rec_free (self, rec);
    while (q) {
        s_qmsg_t *next = q->next;
        s_handle (self, q->msg, false, now);
        free (q);
        q = next;
    }
}

static void
s_enqueue (part_engine_t *self, s_rec_t *rec, tpc_msg_t *msg)
{
    s_qmsg_t *q = calloc (1, sizeof *q);
    if (!q) {
        s_log (self, 0, "%s: out of memory: %s dropped", rec->gid,
               tpc_msg_type_name (msg->type));
        tpc_msg_destroy (&msg);
        return;
    }
    q->msg = msg;
    if (rec->qtail)
        rec->qtail->next = q;
    else
        rec->qhead = q;
    rec->qtail = q;
}

static tpc_msg_t *
s_dequeue (s_rec_t *rec)
{
    s_qmsg_t *q = rec->qhead;
    if (!q)
        return NULL;
    rec->qhead = q->next;
    if (!rec->qhead)
        rec->qtail = NULL;
    tpc_msg_t *msg = q->msg;
    free (q);
    return msg;
}

static bool
s_busy (const s_rec_t *rec)
{
    return rec->req != 0 || rec->retry_op != 0;
}

/* ------------------------------------------------------------------ */
/*  RM operations                                                      */

static void
s_retry (part_engine_t *self, s_rec_t *rec, part_rm_op_t op, uint64_t now)
{
    rec->retry_op = op;
    s_timer_set (self, rec, now + self->cfg.retry_ms);
}

static void
s_submit (part_engine_t *self, s_rec_t *rec, part_rm_op_t op, uint64_t now)
{
    part_rm_req_t req = { .req = ++self->next_req, .op = op, .gid = rec->gid };
    if (op == PART_RM_EXEC && rec->cur) {
        req.nstmts = rec->cur->nstmts;
        req.stmts = rec->cur->stmts;
    }
    rec->req = req.req;
    rec->op = op;
    s_log (self, 1, "%s: %s", rec->gid, part_rm_op_name (op));
    int rc = self->rm->submit (self->rm->self, &req, now);
    if (rc != 0) {
        /* refused at once (no memory): try the same step again later */
        s_log (self, 0, "%s: %s refused by the resource manager: %s",
               rec->gid, part_rm_op_name (op), tpc_strerror (rc));
        rec->req = 0;
        s_retry (self, rec, op, now);
    }
}

static void
s_submit_recover (part_engine_t *self, uint64_t now)
{
    self->recover_at = 0;
    part_rm_req_t req = { .req = ++self->next_req, .op = PART_RM_RECOVER };
    self->recover_req = req.req;
    if (self->rm->submit (self->rm->self, &req, now) != 0) {
        self->recover_req = 0;
        self->recover_at = now + self->cfg.retry_ms;
    }
}

/*  Start phase 2 for a prepared gid.                                     */
static void
s_phase2 (part_engine_t *self, s_rec_t *rec, tpc_outcome_t outcome, uint64_t now)
{
    s_timer_clear (self, rec);
    rec->in_doubt = false;
    rec->decision = outcome;
    rec->ack_wanted = true;
    s_set_state (self, rec, outcome == TPC_OUTCOME_COMMITTED
                            ? S_COMMITTING : S_ROLLING_BACK, now);
    s_submit (self, rec, outcome == TPC_OUTCOME_COMMITTED
                         ? PART_RM_COMMIT_PREPARED : PART_RM_ROLLBACK_PREPARED, now);
}

/*  The outcome is known: ack it if asked and settle the record.  Returns
 *  the record, or NULL when it was released (committed).                 */
static s_rec_t *
s_done (part_engine_t *self, s_rec_t *rec, tpc_outcome_t outcome,
        const char *reason, uint64_t now)
{
    if (rec->ack_wanted)
        s_ack (self, rec->gid, outcome, reason);
    rec->ack_wanted = false;
    rec->decision = TPC_OUTCOME_NONE;
    rec->in_doubt = false;
    s_timer_clear (self, rec);
    if (outcome == TPC_OUTCOME_COMMITTED) {
        s_log (self, 1, "%s: committed", rec->gid);
        s_rec_release (self, rec, now);
        return NULL;
    }
    s_set_reason (rec, reason ? reason : "aborted");
    s_set_state (self, rec, S_ABORTED, now);
    return rec;
}

/*  A one-phase work (then=commit) that cannot commit here: roll back
 *  what is open, then TOMBSTONE; the ack (wanted) is its verdict.  So a
 *  copy of the work arriving late (after the record is forgotten) can
 *  never commit what was acked aborted, and a copy of a committed one is
 *  acked committed.                                                      */
static void
s_onephase_fail (part_engine_t *self, s_rec_t *rec, const char *why,
                 uint64_t now)
{
    tpc_msg_destroy (&rec->cur);
    s_set_reason (rec, why ? why : "one-phase commit failed");
    rec->decision = TPC_OUTCOME_ABORTED;
    rec->ack_wanted = true;
    s_set_state (self, rec, S_ROLLING_BACK, now);
    s_submit (self, rec, rec->begun ? PART_RM_ROLLBACK : PART_RM_TOMBSTONE,
              now);
}

/* ------------------------------------------------------------------ */
/*  Coordinator messages                                               */

/*  Run the current work's statements (or go straight to its "then").    */
static void s_after_exec (part_engine_t *self, s_rec_t *rec,
                          const part_rm_result_t *res, uint64_t now);

static void
s_start_work (part_engine_t *self, s_rec_t *rec, tpc_msg_t *msg, uint64_t now)
{
    rec->cur = msg;
    if (!rec->begun)
        s_submit (self, rec, PART_RM_BEGIN, now);
    else if (msg->nstmts)
        s_submit (self, rec, PART_RM_EXEC, now);
    else
        s_after_exec (self, rec, NULL, now);
}

static void
s_start_prepare (part_engine_t *self, s_rec_t *rec, uint64_t now)
{
    rec->maybe_prepared = true;
    s_set_state (self, rec, S_PREPARING, now);
    s_submit (self, rec, PART_RM_PREPARE, now);
}

static void
s_after_exec (part_engine_t *self, s_rec_t *rec, const part_rm_result_t *res,
              uint64_t now)
{
    tpc_msg_t *work = rec->cur;
    rec->cur = NULL;
    switch (work->then) {
    case TPC_THEN_PREPARE:
        s_start_prepare (self, rec, now);
        break;
    case TPC_THEN_COMMIT:
        rec->decision = TPC_OUTCOME_COMMITTED;
        rec->ack_wanted = true;
        s_set_state (self, rec, S_COMMITTING, now);
        s_submit (self, rec, PART_RM_COMMIT_ONEPHASE, now);
        break;
    default:
        s_worked_ok (self, work, res);
        break;
    }
    tpc_msg_destroy (&work);
}

static void
s_on_work (part_engine_t *self, s_rec_t *rec, tpc_msg_t *msg, bool queued,
           uint64_t now)
{
    if (!rec) {
        if (msg->seq != 1) {
            const char *why = "unknown transaction: the agent has no open "
                              "transaction for it (lost in a restart?)";
            if (msg->then == TPC_THEN_COMMIT
                && (rec = s_rec_new (self, msg->gid, S_ACTIVE))) {
                rec->seq = msg->seq;
                s_onephase_fail (self, rec, why, now);
            }
            else
                s_reply_failure (self, msg, why);
            goto drop;
        }
        rec = s_rec_new (self, msg->gid, S_ACTIVE);
        if (!rec) {
            s_reply_failure (self, msg, "out of memory in the agent");
            goto drop;
        }
        rec->seq = 1;
        s_start_work (self, rec, msg, now);
        return;
    }
    if (!queued) {
        if (msg->seq <= rec->seq) {
            s_log (self, 1, "%s: duplicate work seq %llu ignored", rec->gid,
                   (unsigned long long) msg->seq);
            goto drop;
        }
        uint64_t expected = rec->seq + 1;
        rec->seq = msg->seq;
        if (rec->state == S_ACTIVE && !rec->want && msg->seq != expected) {
            char why[128];
            snprintf (why, sizeof why, "work seq %llu arrived, %llu expected: "
                      "transaction aborted", (unsigned long long) msg->seq,
                      (unsigned long long) expected);
            s_reply_failure (self, msg, why);
            s_set_reason (rec, why);
            rec->want = TPC_OUTCOME_ABORTED;
            if (rec->req)
                self->rm->interrupt (self->rm->self, rec->gid);
            tpc_msg_destroy (&msg);
            s_advance (self, rec, now);
            return;
        }
    }
    if (rec->state != S_ACTIVE || rec->want) {
        char why[256];
        if (rec->state == S_ABORTED)
            snprintf (why, sizeof why, "transaction aborted: %s",
                      rec->reason ? rec->reason : "?");
        else
            snprintf (why, sizeof why, "transaction is %s",
                      rec->want ? "being aborted" : "already prepared or decided");
        s_reply_failure (self, msg, why);
        goto drop;
    }
    if (s_busy (rec) || (!queued && rec->qhead)) {
        s_enqueue (self, rec, msg);
        return;
    }
    s_start_work (self, rec, msg, now);
    return;
drop:
    tpc_msg_destroy (&msg);
}

static void
s_on_prepare (part_engine_t *self, s_rec_t *rec, tpc_msg_t *msg, bool queued,
              uint64_t now)
{
    if (!rec)
        s_vote (self, msg->gid, TPC_VOTE_NO, "unknown transaction");
    else if (rec->state == S_ACTIVE && !rec->want) {
        if (s_busy (rec) || (!queued && rec->qhead)) {
            s_enqueue (self, rec, msg);
            return;
        }
        s_start_prepare (self, rec, now);
    }
    else if (rec->state == S_PREPARED)
        s_vote (self, rec->gid, TPC_VOTE_YES, NULL);
    else if (rec->state == S_ABORTED)
        s_vote (self, rec->gid, TPC_VOTE_NO, rec->reason);
    else if (rec->state == S_ROLLING_BACK || rec->want)
        s_vote (self, rec->gid, TPC_VOTE_NO, "transaction is being aborted");
    else
        s_log (self, 1, "%s: prepare ignored in state %s", rec->gid,
               s_state_names[rec->state]);
    tpc_msg_destroy (&msg);
}

/*  Answer queued work and prepare messages: the transaction is aborting. */
static void
s_purge_work (part_engine_t *self, s_rec_t *rec, const char *reason)
{
    s_qmsg_t *keep = NULL, *tail = NULL;
    s_qmsg_t *q = rec->qhead;
    while (q) {
        s_qmsg_t *next = q->next;
        if (q->msg->type == TPC_MSG_WORK || q->msg->type == TPC_MSG_PREPARE) {
            s_reply_failure (self, q->msg, reason);
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

static void
s_on_decide (part_engine_t *self, s_rec_t *rec, tpc_msg_t *msg, bool queued,
             uint64_t now)
{
    tpc_outcome_t outcome = msg->outcome;
    if (outcome != TPC_OUTCOME_COMMITTED && outcome != TPC_OUTCOME_ABORTED) {
        s_log (self, 0, "%s: decide with outcome %s ignored", msg->gid,
               tpc_outcome_name (outcome));
        goto drop;
    }
    if (!rec) {
        /* not ours in memory: the database (prepared set, marker) knows */
        rec = s_rec_new (self, msg->gid, S_PREPARED);
        if (!rec) {
            s_log (self, 0, "%s: out of memory: decide dropped", msg->gid);
            goto drop;
        }
        rec->maybe_prepared = true;
        s_phase2 (self, rec, outcome, now);
        goto drop;
    }
    switch (rec->state) {
    case S_COMMITTING:
    case S_ROLLING_BACK:
        rec->ack_wanted = true;         /* the truth comes when it is done */
        break;
    case S_PREPARED:
        if (s_busy (rec) || (!queued && rec->qhead)) {
            s_enqueue (self, rec, msg);
            return;
        }
        s_phase2 (self, rec, outcome, now);
        break;
    case S_PREPARING:
        if (outcome == TPC_OUTCOME_ABORTED) {
            rec->want = TPC_OUTCOME_ABORTED;
            rec->ack_wanted = true;
            break;
        }
        s_enqueue (self, rec, msg);
        return;
    case S_ACTIVE:
        if (outcome == TPC_OUTCOME_COMMITTED)
            s_log (self, 0, "%s: decide committed for a transaction never "
                   "prepared here: rolled back", rec->gid);
        s_set_reason (rec, outcome == TPC_OUTCOME_COMMITTED
                      ? "decide committed but the transaction was never prepared"
                      : "aborted by the coordinator");
        rec->want = TPC_OUTCOME_ABORTED;
        rec->ack_wanted = true;
        s_purge_work (self, rec, "aborted by the coordinator");
        if (rec->req)
            self->rm->interrupt (self->rm->self, rec->gid);
        s_advance (self, rec, now);
        break;
    case S_ABORTED:
        /* never voted yes: whatever the message says, abort is the truth */
        if (s_busy (rec) || (!queued && rec->qhead)) {
            s_enqueue (self, rec, msg);
            return;
        }
        rec->ack_wanted = true;
        rec->want = TPC_OUTCOME_ABORTED;
        s_advance (self, rec, now);
        break;
    }
drop:
    tpc_msg_destroy (&msg);
}

static void
s_on_answer (part_engine_t *self, s_rec_t *rec, tpc_msg_t *msg, uint64_t now)
{
    if (rec && rec->state == S_ACTIVE && !s_busy (rec) && !rec->qhead
        && (msg->outcome == TPC_OUTCOME_ABORTED
            || msg->outcome == TPC_OUTCOME_COMMITTED)) {
        /* the coordinator no longer knows this open transaction, or is done
         * with the gid without it (a late copy of a work re-opened it after
         * the gid ended: any final answer): roll it back (and leave a
         * tombstone) as a decide aborted would                            */
        s_log (self, 0, "%s: open transaction unknown to the coordinator: "
               "rolled back", rec->gid);
        msg->type = TPC_MSG_DECIDE;
        msg->outcome = TPC_OUTCOME_ABORTED;
        s_on_decide (self, rec, msg, true, now);
        return;
    }
    if (!rec || !rec->in_doubt || rec->state != S_PREPARED || s_busy (rec)) {
        s_log (self, 1, "%s: stale answer %s ignored", msg->gid,
               tpc_outcome_name (msg->outcome));
    }
    else if (msg->outcome == TPC_OUTCOME_COMMITTED
             || msg->outcome == TPC_OUTCOME_ABORTED) {
        s_log (self, 1, "%s: answer %s", rec->gid, tpc_outcome_name (msg->outcome));
        s_phase2 (self, rec, msg->outcome, now);
    }
    else
        s_timer_set (self, rec, now + self->cfg.query_ms);   /* ask again */
    tpc_msg_destroy (&msg);
}

static void
s_handle (part_engine_t *self, tpc_msg_t *msg, bool queued, uint64_t now)
{
    s_rec_t *rec = zhashx_lookup (self->recs, msg->gid);
    switch (msg->type) {
    case TPC_MSG_WORK:
        s_on_work (self, rec, msg, queued, now);
        break;
    case TPC_MSG_PREPARE:
        s_on_prepare (self, rec, msg, queued, now);
        break;
    case TPC_MSG_DECIDE:
        s_on_decide (self, rec, msg, queued, now);
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
        if (tpc_gid_parse (msg->gid, NULL) != 0) {
            s_log (self, 0, "%s with a malformed gid ignored",
                   tpc_msg_type_name (msg->type));
            tpc_msg_destroy (&msg);
            return;
        }
        s_log (self, 1, "%s: <- %s", msg->gid, tpc_msg_type_name (msg->type));
        s_handle (self, msg, false, now);
        break;
    default:
        s_log (self, 0, "unexpected %s from the coordinator ignored",
               tpc_msg_type_name (msg->type));
        tpc_msg_destroy (&msg);
        break;
    }
}

/* ------------------------------------------------------------------ */
/*  RM completions                                                     */

static s_rec_t *
s_on_begun (part_engine_t *self, s_rec_t *rec, const part_rm_result_t *res,
            uint64_t now)
{
    if (res->status == 0) {
        rec->begun = true;
        if (rec->want) {
            s_reply_failure (self, rec->cur, "aborted by the coordinator");
            tpc_msg_destroy (&rec->cur);
        }
        else if (rec->cur->nstmts)
            s_submit (self, rec, PART_RM_EXEC, now);
        else
            s_after_exec (self, rec, NULL, now);
        return rec;
    }
    const char *why = res->status == TPC_EBUSY ? "busy" : res->error;
    if (rec->cur->then == TPC_THEN_COMMIT && !rec->want) {
        s_onephase_fail (self, rec, why, now);
        return rec;
    }
    s_reply_failure (self, rec->cur, why);
    tpc_msg_destroy (&rec->cur);
    s_set_reason (rec, why);
    s_set_state (self, rec, S_ABORTED, now);
    return rec;
}

static s_rec_t *
s_on_executed (part_engine_t *self, s_rec_t *rec, const part_rm_result_t *res,
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
    s_reply_failure (self, rec->cur, why);
    tpc_msg_destroy (&rec->cur);
    if (!rec->want) {
        s_set_reason (rec, why);
        s_set_state (self, rec, S_ABORTED, now);
        s_submit (self, rec, PART_RM_ROLLBACK, now);
    }
    return rec;
}

/*  Only here may a vote yes be born: the RM said the prepare is durable. */
static s_rec_t *
s_on_prepared (part_engine_t *self, s_rec_t *rec, const part_rm_result_t *res,
               uint64_t now)
{
    rec->begun = false;
    if (res->status == 0 && res->readonly) {
        s_vote (self, rec->gid, TPC_VOTE_READONLY, NULL);
        if (!rec->want) {
            s_rec_release (self, rec, now);
            return NULL;
        }
        rec->maybe_prepared = false;
        s_set_reason (rec, "aborted by the coordinator");
        s_set_state (self, rec, S_ABORTED, now);
        return rec;
    }
    if (res->status == 0) {
        s_set_state (self, rec, S_PREPARED, now);
        s_vote (self, rec->gid, TPC_VOTE_YES, NULL);
        /* Should the decision never come (a coordinator that restarted
         * forgot an undecided gid: presumed abort pushes nothing), start
         * asking after doubt_ms; a decide clears this timer.  (in_doubt
         * is set only when we ask: answers nobody asked for are ignored.) */
        s_timer_set (self, rec, now + self->cfg.doubt_ms);
        return rec;
    }
    const char *why = res->status == TPC_ECONNECT
                      ? "connection to the database lost during prepare"
                      : res->error;
    s_vote (self, rec->gid, TPC_VOTE_NO, why);
    /* A lost session may have prepared it after all.  We voted no, so it
     * can only abort, and the coordinator sends no decide to a no voter:
     * roll it back now rather than leave it prepared (and its locks held)
     * until the next recovery.                                          */
    rec->maybe_prepared = res->status == TPC_ECONNECT;
    if (rec->maybe_prepared)
        rec->want = TPC_OUTCOME_ABORTED;
    s_set_reason (rec, why);
    s_set_state (self, rec, S_ABORTED, now);
    return rec;
}

static s_rec_t *
s_on_onephase (part_engine_t *self, s_rec_t *rec, const part_rm_result_t *res,
               uint64_t now)
{
    rec->begun = false;
    if (res->status == 0)
        return s_done (self, rec, TPC_OUTCOME_COMMITTED, NULL, now);
    /* Did this COMMIT happen after all (a lost session), or an earlier
     * one (a repeated work fails on the marker's key)?  TOMBSTONE settles
     * it for good and its verdict is the ack (s_onephase_fail).          */
    s_onephase_fail (self, rec, res->error, now);
    return rec;
}

static s_rec_t *
s_on_rolled_back (part_engine_t *self, s_rec_t *rec,
                  const part_rm_result_t *res, uint64_t now)
{
    (void) res;             /* a failed ROLLBACK lost its session: same end */
    rec->begun = false;
    if (rec->state == S_ROLLING_BACK)
        s_submit (self, rec, PART_RM_TOMBSTONE, now);
    return rec;
}

static s_rec_t *
s_on_phase2 (part_engine_t *self, s_rec_t *rec, const part_rm_result_t *res,
             uint64_t now)
{
    bool commit = res->op == PART_RM_COMMIT_PREPARED;
    if (res->status == 0)
        return s_done (self, rec, commit ? TPC_OUTCOME_COMMITTED
                                         : TPC_OUTCOME_ABORTED, NULL, now);
    if (res->status == TPC_ENOENT) {
        /* not prepared (any more): the marker says what happened */
        s_submit (self, rec, commit ? PART_RM_OUTCOME_OF : PART_RM_TOMBSTONE, now);
        return rec;
    }
    s_log (self, 0, "%s: %s failed, retrying: %s", rec->gid,
           part_rm_op_name (res->op), res->error ? res->error : "?");
    s_retry (self, rec, res->op, now);
    return rec;
}

static s_rec_t *
s_on_outcome (part_engine_t *self, s_rec_t *rec, const part_rm_result_t *res,
              uint64_t now)
{
    if (res->status != 0) {
        s_retry (self, rec, PART_RM_OUTCOME_OF, now);
        return rec;
    }
    if (res->outcome == TPC_OUTCOME_IN_PROGRESS) {
        /* still prepared: apply the decision again */
        s_retry (self, rec, rec->decision == TPC_OUTCOME_ABORTED
                 ? PART_RM_ROLLBACK_PREPARED : PART_RM_COMMIT_PREPARED, now);
        return rec;
    }
    const char *why = res->outcome == rec->decision ? NULL
                      : "the transaction is not prepared and left no commit marker";
    return s_done (self, rec, res->outcome, why, now);
}

static s_rec_t *
s_on_tombstone (part_engine_t *self, s_rec_t *rec, const part_rm_result_t *res,
                uint64_t now)
{
    if (res->status != 0) {
        s_log (self, 0, "%s: tombstone failed, retrying: %s", rec->gid,
               res->error ? res->error : "?");
        s_retry (self, rec, PART_RM_TOMBSTONE, now);
        return rec;
    }
    rec->tombstoned = res->outcome != TPC_OUTCOME_COMMITTED;
    return s_done (self, rec, res->outcome, res->outcome == TPC_OUTCOME_COMMITTED
                   ? "the transaction had committed" : rec->reason, now);
}

static void
s_on_recovered (part_engine_t *self, const part_rm_result_t *res, uint64_t now)
{
    if (res->req != self->recover_req)
        return;
    self->recover_req = 0;
    if (res->status != 0) {
        s_log (self, 0, "listing prepared transactions failed, retrying: %s",
               res->error ? res->error : "?");
        self->recover_at = now + self->cfg.retry_ms;
        return;
    }
    s_log (self, res->ngids ? 0 : 1, "recovery: %zu prepared transaction(s) "
           "found", res->ngids);
    for (size_t i = 0; i < res->ngids; i++) {
        const char *gid = res->gids[i];
        if (tpc_gid_parse (gid, NULL) != 0)
            continue;
        s_rec_t *rec = zhashx_lookup (self->recs, gid);
        if (!rec) {
            rec = s_rec_new (self, gid, S_PREPARED);
            if (!rec)
                continue;
            rec->maybe_prepared = true;
        }
        if (s_busy (rec) || rec->qhead)
            continue;           /* its own flow will settle it */
        if (rec->state == S_PREPARED) {
            rec->in_doubt = true;
            s_query (self, gid);
            s_timer_set (self, rec, now + self->cfg.query_ms);
        }
        else if (rec->state == S_ABORTED) {
            /* we never voted yes: roll it back without asking */
            rec->maybe_prepared = true;
            rec->tombstoned = false;
            rec->decision = TPC_OUTCOME_ABORTED;
            s_set_state (self, rec, S_ROLLING_BACK, now);
            s_submit (self, rec, PART_RM_ROLLBACK_PREPARED, now);
        }
    }
    /* Open transactions the coordinator may have forgotten (it restarted,
     * or its abort was lost): ask; "aborted" rolls them back.  The sweep
     * repeats every sweep_ms: a prepared gid whose session broke during
     * PREPARE (we voted no) or whose decision was lost is found again.   */
    for (s_rec_t *rec = zhashx_first (self->recs); rec;
         rec = zhashx_next (self->recs))
        if (rec->state == S_ACTIVE && !s_busy (rec) && !rec->qhead)
            s_query (self, rec->gid);
    if (!self->ready) {
        self->ready = true;
        self->found = res->ngids;
    }
    self->recover_at = now + self->cfg.sweep_ms;
    if (self->recover_again) {
        self->recover_again = false;
        s_submit_recover (self, now);
    }
}

void
part_engine_on_connected (part_engine_t *self, uint64_t now)
{
    s_log (self, 1, "database connected: listing prepared transactions");
    if (self->recover_req)
        self->recover_again = true;
    else
        s_submit_recover (self, now);
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
        s_on_recovered (self, res, now);
        return;
    }
    s_rec_t *rec = res->gid ? zhashx_lookup (self->recs, res->gid) : NULL;
    if (!rec || rec->req != res->req) {
        s_log (self, 1, "%s: stale %s completion ignored",
               res->gid ? res->gid : "?", part_rm_op_name (res->op));
        return;
    }
    rec->req = 0;
    if (res->status != 0)
        s_log (self, 1, "%s: %s failed: %s", rec->gid, part_rm_op_name (res->op),
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
static s_rec_t *
s_advance (part_engine_t *self, s_rec_t *rec, uint64_t now)
{
    while (rec && !s_busy (rec)) {
        if (rec->want == TPC_OUTCOME_ABORTED) {
            rec->want = TPC_OUTCOME_NONE;
            switch (rec->state) {
            case S_ACTIVE:
                rec->decision = TPC_OUTCOME_ABORTED;
                s_set_state (self, rec, S_ROLLING_BACK, now);
                s_submit (self, rec, rec->begun ? PART_RM_ROLLBACK
                                                : PART_RM_TOMBSTONE, now);
                break;
            case S_PREPARED:
                s_phase2 (self, rec, TPC_OUTCOME_ABORTED, now);
                break;
            case S_ABORTED:
                if (rec->tombstoned && !rec->maybe_prepared) {
                    rec = s_done (self, rec, TPC_OUTCOME_ABORTED, rec->reason, now);
                    continue;
                }
                rec->decision = TPC_OUTCOME_ABORTED;
                s_set_state (self, rec, S_ROLLING_BACK, now);
                s_submit (self, rec, rec->maybe_prepared
                          ? PART_RM_ROLLBACK_PREPARED : PART_RM_TOMBSTONE, now);
                break;
            default:
                break;
            }
            continue;
        }
        tpc_msg_t *msg = s_dequeue (rec);
        if (!msg)
            break;
        char gid[TPC_GID_MAX];
        snprintf (gid, sizeof gid, "%s", rec->gid);
        s_handle (self, msg, true, now);
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
    if (msg && tpc_msg_set_str (&msg->name, self->name) != 0)
        tpc_msg_destroy (&msg);
    if (msg) {
        for (s_rec_t *rec = zhashx_first (self->recs); rec;
             rec = zhashx_next (self->recs)) {
            if (msg->ngids >= self->cfg.hello_max_gids)
                break;
            if (rec->state == S_PREPARED)
                tpc_msg_strv_push (&msg->gids, &msg->ngids, rec->gid);
        }
    }
    s_send (self, msg);
}

void
part_engine_start (part_engine_t *self, uint64_t now)
{
    self->started = true;
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
    for (s_rec_t *rec = zhashx_first (self->recs); rec;
         rec = zhashx_next (self->recs))
        if (rec->state == S_PREPARED && !s_busy (rec) && !rec->qhead) {
            rec->in_doubt = true;
            s_query (self, rec->gid);
            s_timer_set (self, rec, now + self->cfg.query_ms);
        }
        else if (rec->state == S_ACTIVE && !s_busy (rec) && !rec->qhead)
            s_query (self, rec->gid);
}

void
part_engine_tick (part_engine_t *self, uint64_t now)
{
    if (self->started && now >= self->hello_at) {
        s_hello (self);
        self->hello_at = now + self->cfg.heartbeat_ms;
    }
    if (self->recover_at && now >= self->recover_at)
        s_submit_recover (self, now);
    /* collect due records first: handling one may change the list */
    size_t n = 0;
    for (s_rec_t *r = self->timers; r; r = r->tnext)
        if (r->next_at <= now)
            n++;
    if (n) {
        char (*due)[TPC_GID_MAX] = calloc (n, sizeof *due);
        if (due) {
            size_t i = 0;
            for (s_rec_t *r = self->timers; r && i < n; r = r->tnext)
                if (r->next_at <= now)
                    snprintf (due[i++], TPC_GID_MAX, "%s", r->gid);
            for (i = 0; i < n; i++) {
                s_rec_t *rec = zhashx_lookup (self->recs, due[i]);
                if (!rec || !rec->in_timers || rec->next_at > now)
                    continue;
                if (rec->retry_op) {
                    part_rm_op_t op = rec->retry_op;
                    rec->retry_op = 0;
                    s_timer_clear (self, rec);
                    s_submit (self, rec, op, now);
                }
                else if (rec->state == S_PREPARED && !rec->req) {
                    rec->in_doubt = true;   /* in doubt or doubt_ms passed */
                    s_query (self, rec->gid);
                    s_timer_set (self, rec, now + self->cfg.query_ms);
                }
                else
                    s_timer_clear (self, rec);
            }
            free (due);
        }
    }
    while (self->fhead && self->fhead->forget_at <= now) {
        s_rec_t *rec = self->fhead;
        if (s_busy (rec) || rec->qhead || rec->want)
            s_forget_append (self, rec, now);
        else {
            s_log (self, 1, "%s: forgotten", rec->gid);
            s_rec_free (self, rec);
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
    for (s_rec_t *r = self->timers; r; r = r->tnext)
        if (r->next_at < at)
            at = r->next_at;
    if (self->fhead && self->fhead->forget_at < at)
        at = self->fhead->forget_at;
    if (at == UINT64_MAX)
        return -1;
    return at <= now ? 0 : (int64_t) (at - now);
}

/* ------------------------------------------------------------------ */

part_engine_t *
part_engine_new (const part_engine_config_t *config, const part_rm_t *rm,
                 const part_engine_io_t *io)
{
    if (!config || !config->name || !rm || !io || !io->send)
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
    self->name = strdup (config->name);
    self->recs = zhashx_new ();
    if (!self->name || !self->recs) {
        part_engine_destroy (&self);
        return NULL;
    }
    self->cfg.name = self->name;
    self->rm = rm;
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
        s_rec_t *rec;
        while ((rec = zhashx_first (self->recs))) {
            s_qmsg_t *q = s_rec_free (self, rec);
            while (q) {
                s_qmsg_t *next = q->next;
                tpc_msg_destroy (&q->msg);
                free (q);
                q = next;
            }
        }
        zhashx_destroy (&self->recs);
    }
    free (self->name);
    free (self);
    *self_p = NULL;
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
    s_rec_t *rec = gid ? zhashx_lookup (self->recs, gid) : NULL;
    return rec ? s_state_names[rec->state] : NULL;
}

size_t
part_engine_size (part_engine_t *self)
{
    return zhashx_size (self->recs);
}
