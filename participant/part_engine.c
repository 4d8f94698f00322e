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
 *   the RM outside any record (s_on_outcome_of, s_on_inquired: marker
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
 *  THREE-PHASE COMMIT (prepare / work then=prepare with protocol 3pc;
 *  ARCHITECTURE.md, "Three-phase commit").  Besides its record above, such a gid has a 3PC state
 *  (s_p3_t), made durable through io->persist (fdatasync'd by the shell)
 *  BEFORE the engine acts on it.  Each arrow names its function.
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
 *             path; s_phase2): persist, then COMMIT/ROLLBACK PREPARED,
 *             then ack (the coordinator's) or state (a peer's)
 *             ---------------------------------------> COMMITTED | ABORTED
 *   COMMITTED | ABORTED --p3_forget_ms (s_p3_tick)-----> (none)
 *
 *  Termination, per undecided gid (s_p3_round, s_p3_evaluate, s_p3_tick):
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
#include "part_engine.h"

#include <czmq.h>
#include <inttypes.h>
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
    bool noack;                 /* a decide applied for 3PC (a peer's or a
                                   termination's): ack nobody */
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
    bool interrupted;           /* interrupt() sent during a PREPARE that
                                   carried statements */
    bool p3;                    /* PREPARING for three-phase commit: its
                                   UNCERTAIN was made durable BEFORE the
                                   PREPARE went out (s_p3_t), ... */
    const char *p3_why;         /* ... or could not be (static text): the
                                   vote will be no */
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

/*  A gid's three-phase commit state (see the diagram above).  Kept apart
 *  from its s_rec_t: it is born when UNCERTAIN is durable and outlives the
 *  database work (a decided gid answers getstate for p3_forget_ms).      */
typedef enum { T_WAIT, T_COLLECT, T_FOLLOW, T_LEAD } s_term_t;

static const char *const s_term_names[] = { "wait", "collect", "follow", "lead" };

typedef struct s_p3 s_p3_t;
struct s_p3 {
    char gid[TPC_GID_MAX];
    tpc_p3_t state;             /* durable (io->persist returned 0) */
    size_t nparts;
    char **parts;               /* the CanCommit's participants (sorted) */
    char **peers;               /* their peer endpoints, "" = unknown */
    bool hardened;              /* answered a peer's getstate while UNCERTAIN */
    bool restored;              /* read back from the state log: this agent
                                   was down, and may have missed a round
                                   that decided without it */
    s_term_t phase;             /* undecided: where termination stands */
    bool incomplete;            /* this round could not ask everybody */
    uint64_t round;             /* termination rounds run (logs) */
    uint64_t at;                /* undecided: phase deadline; decided: forget
                                   time; 0 = arm at the next tick */
    tpc_p3_t *seen;             /* per part: its reply this round */
    bool *heard;                /* per part: replied this round */
    bool *pending;              /* per part: asked (COLLECT) or sent a
                                   precommit (LEAD), no answer yet */
    bool in_done;               /* in the done FIFO, else the live list */
    s_p3_t *prev, *next;
};

/*  An outcome_of the coordinator asked about a gid this engine holds no
 *  record of: the RM's OUTCOME_OF (a read on any free session, so it may
 *  run beside a record's own operation) answers it.                      */
typedef struct s_inq s_inq_t;
struct s_inq {
    uint64_t req;
    char gid[TPC_GID_MAX];
    s_inq_t *next;
};

struct part_engine {
    part_engine_config_t cfg;
    char *name;
    char *peer_endpoint;
    zhashx_t *p3s;              /* gid -> s_p3_t */
    s_p3_t *live;               /* undecided 3PC gids */
    s_p3_t *done_head, *done_tail;   /* decided ones, in forget order */
    bool p3_unarmed;            /* restored entries wait for their timers */
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
    s_inq_t *inqs;              /* outcome_of asked of the RM (no record) */
};

static s_rec_t *s_advance (part_engine_t *self, s_rec_t *rec, uint64_t now);
static void s_handle (part_engine_t *self, tpc_msg_t *msg, bool queued,
                      bool noack, uint64_t now);

/* ------------------------------------------------------------------ */
/*  Logging and messages                                               */

static void
s_log (part_engine_t *self, int level, const char *fmt, ...)
{
    if (!self->io.log || (level > 0 && !self->cfg.verbose))
        return;                 /* nobody would print it: do not format it */
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
        s_handle (self, q->msg, false, q->noack, now);
        free (q);
        q = next;
    }
}

static void
s_enqueue (part_engine_t *self, s_rec_t *rec, tpc_msg_t *msg, bool noack)
{
    s_qmsg_t *q = calloc (1, sizeof *q);
    if (!q) {
        s_log (self, 0, "%s: out of memory: %s dropped", rec->gid,
               tpc_msg_type_name (msg->type));
        tpc_msg_destroy (&msg);
        return;
    }
    q->msg = msg;
    q->noack = noack;
    if (rec->qtail)
        rec->qtail->next = q;
    else
        rec->qhead = q;
    rec->qtail = q;
}

static tpc_msg_t *
s_dequeue (s_rec_t *rec, bool *noack)
{
    s_qmsg_t *q = rec->qhead;
    if (!q)
        return NULL;
    rec->qhead = q->next;
    if (!rec->qhead)
        rec->qtail = NULL;
    tpc_msg_t *msg = q->msg;
    *noack = q->noack;
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
    part_rm_req_t req = { .req = ++self->next_req, .op = op, .gid = rec->gid,
                          .keep_readonly = op == PART_RM_PREPARE && rec->p3 };
    if ((op == PART_RM_EXEC || op == PART_RM_PREPARE
         || op == PART_RM_COMMIT_ONEPHASE) && rec->cur) {
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

/* ------------------------------------------------------------------ */
/*  Three-phase commit: durable state per gid                          */

static bool
s_p3_is_decided (tpc_p3_t state)
{
    return state == TPC_P3_COMMITTED || state == TPC_P3_ABORTED;
}

static void
s_p3_unlink (part_engine_t *self, s_p3_t *p3)
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
s_p3_free (s_p3_t **p3_p)
{
    s_p3_t *p3 = *p3_p;
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
static s_p3_t *
s_p3_new (const char *gid, tpc_p3_t state, size_t nparts, char *const *parts,
          size_t npeers, char *const *peers)
{
    s_p3_t *p3 = calloc (1, sizeof *p3);
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
s_p3_link (part_engine_t *self, s_p3_t *p3)
{
    p3->in_done = s_p3_is_decided (p3->state);
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
s_p3_insert (part_engine_t *self, s_p3_t *p3)
{
    s_p3_t *old = zhashx_lookup (self->p3s, p3->gid);
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

static void
s_p3_remove (part_engine_t *self, s_p3_t *p3)
{
    s_p3_unlink (self, p3);
    zhashx_delete (self->p3s, p3->gid);
    s_p3_free (&p3);
}

static s_p3_t *
s_p3_lookup (part_engine_t *self, const char *gid)
{
    return gid ? zhashx_lookup (self->p3s, gid) : NULL;
}

/*  Make STATE durable (io->persist) and only then adopt it.  On failure
 *  nothing changes: the shell stops the process.                         */
static int
s_p3_persist (part_engine_t *self, s_p3_t *p3, tpc_p3_t state)
{
    int rc = TPC_EINVAL;
    if (self->io.persist)
        rc = self->io.persist (self->io.arg, p3->gid, state, p3->nparts,
                               p3->parts, p3->peers);
    if (rc != 0) {
        s_log (self, 0, "%s: 3PC state %s could not be made durable%s: not "
               "acted on", p3->gid, tpc_p3_name (state),
               self->io.persist ? "" : " (no state log)");
        return rc < 0 ? rc : TPC_EIO;
    }
    if (p3->state == state)
        s_log (self, 1, "%s: 3pc %s durable", p3->gid, tpc_p3_name (state));
    else
        s_log (self, 1, "%s: 3pc %s -> %s", p3->gid, tpc_p3_name (p3->state),
               tpc_p3_name (state));
    bool move = s_p3_is_decided (state) != s_p3_is_decided (p3->state);
    if (move)
        s_p3_unlink (self, p3);
    p3->state = state;
    if (move)
        s_p3_link (self, p3);
    return 0;
}

/*  Undecided P3 waits for the coordinator (or a leader) from now on.     */
static void
s_p3_wait (part_engine_t *self, s_p3_t *p3, uint64_t now)
{
    p3->phase = T_WAIT;
    p3->at = now + self->cfg.p3_timeout_ms;
    if (p3->nparts)
        memset (p3->pending, 0, p3->nparts * sizeof *p3->pending);
}

/*  Make the decision OUTCOME durable.  0, or the persist failure; a gid
 *  already decided keeps its decision (TPC_ESTATE if it differs).        */
static int
s_p3_decide (part_engine_t *self, s_p3_t *p3, tpc_outcome_t outcome,
             uint64_t now)
{
    tpc_p3_t want = outcome == TPC_OUTCOME_COMMITTED ? TPC_P3_COMMITTED
                                                     : TPC_P3_ABORTED;
    if (p3->state == want)
        return 0;
    if (s_p3_is_decided (p3->state))
        return TPC_ESTATE;
    int rc = s_p3_persist (self, p3, want);
    if (rc == 0) {
        s_p3_wait (self, p3, now);
        p3->at = now + self->cfg.p3_forget_ms;
    }
    return rc;
}

static tpc_outcome_t
s_p3_outcome (tpc_p3_t state)
{
    return state == TPC_P3_COMMITTED ? TPC_OUTCOME_COMMITTED
           : state == TPC_P3_ABORTED ? TPC_OUTCOME_ABORTED : TPC_OUTCOME_NONE;
}

/*  Start phase 2 for a prepared gid (ACK: the coordinator wants an ack).
 *  A 3PC gid's decision is made durable first; if that fails nothing
 *  happens (TPC_EIO).  A decision that contradicts the durable one is
 *  replaced by it: the ack then tells the truth.                         */
static int
s_phase2 (part_engine_t *self, s_rec_t *rec, tpc_outcome_t outcome, bool ack,
          uint64_t now)
{
    s_p3_t *p3 = s_p3_lookup (self, rec->gid);
    if (p3 && s_p3_is_decided (p3->state)
        && s_p3_outcome (p3->state) != outcome) {
        s_log (self, 0, "%s: %s contradicts the durable 3PC decision: %s "
               "applied", rec->gid, tpc_outcome_name (outcome),
               tpc_p3_name (p3->state));
        outcome = s_p3_outcome (p3->state);
    }
    else if (p3 && s_p3_decide (self, p3, outcome, now) != 0)
        return TPC_EIO;
    s_timer_clear (self, rec);
    rec->in_doubt = false;
    rec->decision = outcome;
    if (ack)
        rec->ack_wanted = true;
    s_set_state (self, rec, outcome == TPC_OUTCOME_COMMITTED
                            ? S_COMMITTING : S_ROLLING_BACK, now);
    s_submit (self, rec, outcome == TPC_OUTCOME_COMMITTED
                         ? PART_RM_COMMIT_PREPARED : PART_RM_ROLLBACK_PREPARED, now);
    return 0;
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

static void s_after_exec (part_engine_t *self, s_rec_t *rec,
                          const part_rm_result_t *res, uint64_t now);

/*  PREPARE, asked by MSG (a prepare or a work then=prepare); with
 *  protocol 3pc its CanCommit (participants, peer endpoints) is kept for
 *  the UNCERTAIN record made when the prepare is durable.                */
static void
s_start_prepare (part_engine_t *self, s_rec_t *rec, const tpc_msg_t *msg,
                 uint64_t now)
{
    if (msg->has_protocol && msg->protocol == TPC_PROTO_3PC && !rec->p3) {
        /* 3PC: UNCERTAIN, with the CanCommit, durable BEFORE the database
         * prepares: a crash in between must not leave a prepared
         * transaction that only a (maybe dead) coordinator could settle */
        rec->p3 = true;
        rec->p3_why = NULL;
        s_p3_t *p3 = NULL;
        if (s_p3_lookup (self, rec->gid))
            rec->p3_why = "the agent already holds a three-phase commit "
                          "state for this transaction";
        else if (!(p3 = s_p3_new (rec->gid, TPC_P3_UNCERTAIN, msg->nparts,
                                  msg->parts, msg->npeers, msg->peers)))
            rec->p3_why = "out of memory in the agent";
        else if (s_p3_persist (self, p3, TPC_P3_UNCERTAIN) != 0)
            rec->p3_why = self->io.persist
                          ? "the agent could not make its three-phase "
                            "commit state durable"
                          : "three-phase commit needs the agent's state "
                            "log (--state-dir)";
        else if (s_p3_insert (self, p3) != 0)
            rec->p3_why = "out of memory in the agent";
        else {
            /* no termination while the database prepares (its statements
             * may run long): the timer starts with the yes vote */
            p3->phase = T_WAIT;
            p3->at = UINT64_MAX;
            p3 = NULL;
        }
        if (p3)
            s_p3_free (&p3);
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
        s_vote (self, rec->gid, TPC_VOTE_NO, why);
        s_set_reason (rec, why);
        rec->want = TPC_OUTCOME_ABORTED;
        s_advance (self, rec, now);
        return;
    }
    rec->maybe_prepared = true;
    rec->interrupted = false;
    s_set_state (self, rec, S_PREPARING, now);
    s_submit (self, rec, PART_RM_PREPARE, now);
}

/*  The session is pinned: run the current work.  Statements followed by
 *  a prepare or a one-phase commit go to the RM as ONE operation (their
 *  statements ride along in rec->cur), so the database sees them, the
 *  marker and PREPARE TRANSACTION / COMMIT in one round trip.             */
static void
s_run_work (part_engine_t *self, s_rec_t *rec, uint64_t now)
{
    tpc_msg_t *work = rec->cur;
    switch (work->then) {
    case TPC_THEN_PREPARE:
        s_start_prepare (self, rec, work, now);
        break;
    case TPC_THEN_COMMIT:
        rec->decision = TPC_OUTCOME_COMMITTED;
        rec->ack_wanted = true;
        s_set_state (self, rec, S_COMMITTING, now);
        s_submit (self, rec, PART_RM_COMMIT_ONEPHASE, now);
        break;
    default:
        if (work->nstmts)
            s_submit (self, rec, PART_RM_EXEC, now);
        else
            s_after_exec (self, rec, NULL, now);
        break;
    }
}

static void
s_start_work (part_engine_t *self, s_rec_t *rec, tpc_msg_t *msg, uint64_t now)
{
    rec->cur = msg;
    if (!rec->begun)
        s_submit (self, rec, PART_RM_BEGIN, now);
    else
        s_run_work (self, rec, now);
}

/*  A work with then=none ran: reply its result.                          */
static void
s_after_exec (part_engine_t *self, s_rec_t *rec, const part_rm_result_t *res,
              uint64_t now)
{
    (void) now;
    tpc_msg_t *work = rec->cur;
    rec->cur = NULL;
    s_worked_ok (self, work, res);
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
        s_enqueue (self, rec, msg, false);
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
    /* no record: whatever a 3PC state says (UNCERTAIN is durable BEFORE
     * the database prepares), nothing here proves the gid prepared; a gid
     * the database holds prepared has a record (PREPARED) once recovery
     * listed it */
    if (!rec)
        s_vote (self, msg->gid, TPC_VOTE_NO, "unknown transaction");
    else if (rec->state == S_ACTIVE && !rec->want) {
        if (s_busy (rec) || (!queued && rec->qhead)) {
            s_enqueue (self, rec, msg, false);
            return;
        }
        s_start_prepare (self, rec, msg, now);
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

/*  A decide (NOACK: applied for 3PC on a peer's or a termination's
 *  decision; nobody gets an ack).                                        */
static void
s_on_decide (part_engine_t *self, s_rec_t *rec, tpc_msg_t *msg, bool queued,
             bool noack, uint64_t now)
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
        if (s_phase2 (self, rec, outcome, !noack, now) != 0)
            s_rec_free (self, rec);     /* 3PC state not durable: as before */
        goto drop;
    }
    switch (rec->state) {
    case S_COMMITTING:
    case S_ROLLING_BACK:
        if (!noack)
            rec->ack_wanted = true;     /* the truth comes when it is done */
        break;
    case S_PREPARED:
        if (s_busy (rec) || (!queued && rec->qhead)) {
            s_enqueue (self, rec, msg, noack);
            return;
        }
        s_phase2 (self, rec, outcome, !noack, now);
        break;
    case S_PREPARING:
        if (outcome == TPC_OUTCOME_ABORTED) {
            rec->want = TPC_OUTCOME_ABORTED;
            if (!noack)
                rec->ack_wanted = true;
            if (rec->req && rec->cur && rec->cur->nstmts && !rec->interrupted) {
                /* its statements may be blocked: cancel them.  Should the
                 * cancel land on PREPARE TRANSACTION itself, a failure is
                 * no proof that nothing is prepared (see s_on_prepared). */
                rec->interrupted = true;
                self->rm->interrupt (self->rm->self, rec->gid);
            }
            break;
        }
        s_enqueue (self, rec, msg, noack);
        return;
    case S_ACTIVE:
        if (outcome == TPC_OUTCOME_COMMITTED)
            s_log (self, 0, "%s: decide committed for a transaction never "
                   "prepared here: rolled back", rec->gid);
        s_set_reason (rec, outcome == TPC_OUTCOME_COMMITTED
                      ? "decide committed but the transaction was never prepared"
                      : "aborted by the coordinator");
        rec->want = TPC_OUTCOME_ABORTED;
        if (!noack)
            rec->ack_wanted = true;
        s_purge_work (self, rec, "aborted by the coordinator");
        if (rec->req)
            self->rm->interrupt (self->rm->self, rec->gid);
        s_advance (self, rec, now);
        break;
    case S_ABORTED:
        /* never voted yes: whatever the message says, abort is the truth */
        if (s_busy (rec) || (!queued && rec->qhead)) {
            s_enqueue (self, rec, msg, noack);
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
        s_on_decide (self, rec, msg, true, false, now);
        return;
    }
    if (!rec || !rec->in_doubt || rec->state != S_PREPARED || s_busy (rec)) {
        s_log (self, 1, "%s: stale answer %s ignored", msg->gid,
               tpc_outcome_name (msg->outcome));
    }
    else if (msg->outcome == TPC_OUTCOME_COMMITTED
             || msg->outcome == TPC_OUTCOME_ABORTED) {
        s_log (self, 1, "%s: answer %s", rec->gid, tpc_outcome_name (msg->outcome));
        s_phase2 (self, rec, msg->outcome, true, now);
    }
    else
        s_timer_set (self, rec, now + self->cfg.query_ms);   /* ask again */
    tpc_msg_destroy (&msg);
}

static void
s_handle (part_engine_t *self, tpc_msg_t *msg, bool queued, bool noack,
          uint64_t now)
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

/* ------------------------------------------------------------------ */
/*  Three-phase commit: precommit, getstate, termination               */

/*  What this agent says about GID: its durable 3PC state; a transaction
 *  it never voted yes on and aborted says ABORTED (it can only abort,
 *  though nothing durable backs that); else UNKNOWN.                     */
static tpc_p3_t
s_p3_state_of (part_engine_t *self, const char *gid)
{
    s_p3_t *p3 = s_p3_lookup (self, gid);
    if (p3)
        return p3->state;
    s_rec_t *rec = zhashx_lookup (self->recs, gid);
    return rec && rec->state == S_ABORTED ? TPC_P3_ABORTED : TPC_P3_UNKNOWN;
}

/*  state {GID, STATE, SEQ} (SEQ: the request's round, 0 = none).        */
static tpc_msg_t *
s_state_msg (const char *gid, tpc_p3_t state, uint64_t seq)
{
    tpc_msg_t *msg = s_msg (TPC_MSG_STATE, gid, NULL);
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
        s_log (self, 0, "out of memory: a reply to a peer is lost");
        return;
    }
    if (self->io.peer_reply)
        self->io.peer_reply (self->io.arg, from, from_len, &msg);
    else
        s_log (self, 0, "%s: no peer link: %s reply dropped", msg->gid,
               tpc_msg_type_name (msg->type));
    tpc_msg_destroy (&msg);
}

/*  Send TYPE (getstate, precommit, decide OUTCOME) about P3's gid to
 *  participant I.  0, or non-zero when it could not be sent.             */
static int
s_peer_send (part_engine_t *self, s_p3_t *p3, size_t i, tpc_msg_type_t type,
             tpc_outcome_t outcome)
{
    if (!self->io.peer_send || !*p3->peers[i])
        return TPC_ECONNECT;
    tpc_msg_t *msg = s_msg (type, p3->gid, NULL);
    if (msg && tpc_msg_set_str (&msg->name, self->name) != 0)
        tpc_msg_destroy (&msg);         /* the asker names itself */
    if (!msg)
        return TPC_ENOMEM;
    msg->outcome = outcome;
    msg->seq = p3->round;       /* echoed in the reply: stale ones known */
    s_log (self, 1, "%s: -> %s %s%s%s", p3->gid, p3->parts[i],
           tpc_msg_type_name (type), outcome ? " " : "",
           outcome ? tpc_outcome_name (outcome) : "");
    int rc = self->io.peer_send (self->io.arg, p3->parts[i], p3->peers[i], &msg);
    tpc_msg_destroy (&msg);
    return rc;
}

static bool
s_p3_is_self (part_engine_t *self, const s_p3_t *p3, size_t i)
{
    return strcmp (p3->parts[i], self->name) == 0;
}

/*  Is NAME (a peer request's sender) one of P3's participants?          */
static bool
s_p3_member (const s_p3_t *p3, const char *name)
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
    tpc_msg_t *msg = s_msg (TPC_MSG_DECIDE, gid, NULL);
    if (!msg) {
        s_log (self, 0, "%s: out of memory: decision %s not applied yet", gid,
               tpc_outcome_name (outcome));
        return;
    }
    msg->outcome = outcome;
    s_handle (self, msg, false, true, now);
}

/*  The termination leader decides OUTCOME: durable first, then every
 *  other member of R hears it, then the database here applies it.       */
static void
s_p3_conclude (part_engine_t *self, s_p3_t *p3, tpc_outcome_t outcome,
               uint64_t now)
{
    int rc = s_p3_decide (self, p3, outcome, now);
    if (rc == TPC_ESTATE)
        outcome = s_p3_outcome (p3->state);
    else if (rc != 0) {
        s_p3_wait (self, p3, now);          /* not durable: not acted on */
        return;
    }
    s_log (self, 1, "%s: termination round %llu decided %s", p3->gid,
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
s_p3_evaluate (part_engine_t *self, s_p3_t *p3, uint64_t now)
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
        if (p3->incomplete)
            s_log (self, p3->round > 1, "%s: termination cannot run (a participant has "
                   "no known peer endpoint): waiting for the coordinator",
                   p3->gid);
        else if (blocked)
            s_log (self, p3->round > 1, "%s: back from a crash, %zu of %zu "
                   "participants reached: waiting for all, a decision or "
                   "the coordinator", p3->gid, nr, p3->nparts);
        else
            s_log (self, 1, "%s: termination round %llu: %s leads (%zu "
                   "reached): waiting", p3->gid,
                   (unsigned long long) p3->round, leader, nr);
        s_p3_wait (self, p3, now);
        p3->phase = T_FOLLOW;
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
        s_p3_wait (self, p3, now);
        return;
    }
    /* (phase and pending are set before anything is sent: a reply may
     * come back from inside peer_send) */
    size_t n = 0;
    p3->phase = T_LEAD;
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
    s_log (self, 1, "%s: termination round %llu: leading, %zu precommit(s) "
           "to send", p3->gid, (unsigned long long) p3->round, n);
    uint64_t round = p3->round;
    for (size_t i = 0; i < p3->nparts; i++)
        if (p3->pending[i] && p3->phase == T_LEAD && p3->round == round)
            s_peer_send (self, p3, i, TPC_MSG_PRECOMMIT, TPC_OUTCOME_NONE);
}

/*  TERMINATION: ask every other participant for its state.              */
static void
s_p3_round (part_engine_t *self, s_p3_t *p3, uint64_t now)
{
    p3->round++;
    p3->phase = T_COLLECT;
    p3->at = now + self->cfg.p3_collect_ms;
    bool found = false;
    for (size_t i = 0; i < p3->nparts; i++)
        found |= s_p3_is_self (self, p3, i);
    p3->incomplete = !found;        /* no list, or not one we are on */
    /* everyone to ask is pending before the first send: a reply may
     * come back from inside peer_send */
    for (size_t i = 0; i < p3->nparts; i++) {
        p3->heard[i] = false;
        p3->seen[i] = TPC_P3_UNKNOWN;
        p3->pending[i] = false;
        if (s_p3_is_self (self, p3, i))
            continue;
        if (!self->io.peer_send || !*p3->peers[i])
            p3->incomplete = true;
        else
            p3->pending[i] = true;
    }
    s_log (self, 1, "%s: %s, nothing heard: termination round %llu",
           p3->gid, tpc_p3_name (p3->state), (unsigned long long) p3->round);
    uint64_t round = p3->round;
    for (size_t i = 0; i < p3->nparts; i++) {
        if (!p3->pending[i] || p3->phase != T_COLLECT || p3->round != round)
            continue;
        /* one that does not answer is taken for crashed (the model's
         * reliable timeouts), one we could not even ask is not */
        if (s_peer_send (self, p3, i, TPC_MSG_GETSTATE, TPC_OUTCOME_NONE) != 0) {
            p3->pending[i] = false;
            p3->incomplete = true;
        }
    }
    if (p3->phase != T_COLLECT || p3->round != round
        || s_p3_is_decided (p3->state))
        return;
    for (size_t i = 0; i < p3->nparts; i++)
        if (p3->pending[i])
            return;
    s_p3_evaluate (self, p3, now);          /* nobody left to wait for */
}

/*  A precommit for GID (FROM_COORD: the coordinator's, else a leader's).
 *  Returns the state to reply, or -1: no reply (not durable).            */
static int
s_p3_precommit (part_engine_t *self, const char *gid, bool from_coord,
                uint64_t now)
{
    s_p3_t *p3 = s_p3_lookup (self, gid);
    if (!p3)
        return (int) s_p3_state_of (self, gid);
    if (p3->state == TPC_P3_UNCERTAIN) {
        if (from_coord && p3->hardened) {
            /* a termination has started: the leader's word settles it */
            s_log (self, 1, "%s: coordinator's precommit refused: "
                   "termination running", gid);
            return TPC_P3_UNCERTAIN;
        }
        if (s_p3_persist (self, p3, TPC_P3_PRECOMMITTED) != 0)
            return -1;
        s_p3_wait (self, p3, now);
    }
    return (int) p3->state;
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
        s_log (self, 0, "unexpected %s from a peer ignored",
               tpc_msg_type_name (msg->type));
        tpc_msg_destroy (&msg);
        return;
    }
    s_log (self, 1, "%s: <- peer %s", msg->gid, tpc_msg_type_name (msg->type));
    char gid[TPC_GID_MAX];
    snprintf (gid, sizeof gid, "%s", msg->gid);
    s_p3_t *p3 = s_p3_lookup (self, gid);
    if (p3 && !s_p3_member (p3, name)) {
        /* only the gid's own participants take part in its termination:
         * anyone else's getstate would harden this agent, its decide
         * settle the gid */
        s_log (self, 0, "%s: %s from '%.63s', not a participant of it: "
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
            s_log (self, 1, "%s: a peer runs the termination protocol: the "
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
        int rc = p3 ? s_p3_decide (self, p3, msg->outcome, now) : 0;
        if (rc != 0 && rc != TPC_ESTATE)
            break;                      /* not durable: not acted on */
        if (p3 && s_p3_is_decided (p3->state)
            && s_p3_outcome (p3->state) != msg->outcome)
            s_log (self, 0, "%s: a peer's decide %s contradicts the durable "
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
    s_p3_t *p3 = msg->type == TPC_MSG_STATE ? s_p3_lookup (self, msg->gid) : NULL;
    size_t i = 0;
    if (p3 && name)
        while (i < p3->nparts && strcmp (p3->parts[i], name) != 0)
            i++;
    if (!p3 || !name || i == p3->nparts || !p3->pending[i]
        || s_p3_is_decided (p3->state)
        || (p3->phase != T_COLLECT && p3->phase != T_LEAD)
        || (msg->seq && msg->seq != p3->round)) {  /* an earlier round's */
        s_log (self, 1, "%s: %s from %s ignored", msg->gid ? msg->gid : "?",
               tpc_msg_type_name (msg->type), name ? name : "?");
        tpc_msg_destroy (&msg);
        return;
    }
    tpc_p3_t state = msg->p3;
    tpc_msg_destroy (&msg);
    s_log (self, 1, "%s: <- %s state %s", p3->gid, name, tpc_p3_name (state));
    if (p3->phase == T_COLLECT) {
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
        s_p3_conclude (self, p3, s_p3_outcome (state), now);
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
static void s_p3_arm_restored (part_engine_t *self, uint64_t now);

static void
s_p3_tick (part_engine_t *self, uint64_t now)
{
    if (self->p3_unarmed)
        s_p3_arm_restored (self, now);
    while (self->done_head && self->done_head->at <= now) {
        s_log (self, 1, "%s: 3pc state forgotten", self->done_head->gid);
        s_p3_remove (self, self->done_head);
    }
    size_t n = 0;
    for (s_p3_t *p = self->live; p; p = p->next)
        if (p->at <= now)
            n++;
    if (!n)
        return;
    char (*due)[TPC_GID_MAX] = calloc (n, sizeof *due);
    if (!due)
        return;
    size_t k = 0;
    for (s_p3_t *p = self->live; p && k < n; p = p->next)
        if (p->at <= now)
            snprintf (due[k++], TPC_GID_MAX, "%s", p->gid);
    for (k = 0; k < n; k++) {
        s_p3_t *p3 = s_p3_lookup (self, due[k]);
        if (!p3 || s_p3_is_decided (p3->state) || p3->at > now)
            continue;
        if (p3->phase == T_COLLECT)
            s_p3_evaluate (self, p3, now);      /* collect_ms are over */
        else {
            if (p3->phase != T_WAIT)
                s_log (self, 1, "%s: %s phase over: new termination round",
                       p3->gid, s_term_names[p3->phase]);
            s_p3_round (self, p3, now);
        }
    }
    free (due);
}

static uint64_t
s_p3_next_at (part_engine_t *self, uint64_t at, uint64_t now)
{
    if (self->p3_unarmed)
        return now;
    for (s_p3_t *p = self->live; p; p = p->next)
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
    s_p3_t *p3 = s_p3_new (gid, state, nparts, parts, peers ? nparts : 0, peers);
    if (!p3)
        return TPC_ENOMEM;
    p3->at = 0;                     /* armed at start (or the next tick) */
    p3->restored = !s_p3_is_decided (state);
    int rc = s_p3_insert (self, p3);
    if (rc != 0) {
        s_p3_free (&p3);
        return rc;
    }
    self->p3_unarmed = true;
    s_log (self, 1, "%s: restored 3pc state %s", gid, tpc_p3_name (state));
    return 0;
}

/*  Arm what part_engine_restore put in: undecided ones wait p3_timeout_ms
 *  from NOW, decided ones are remembered p3_forget_ms from NOW.          */
static void
s_p3_arm_restored (part_engine_t *self, uint64_t now)
{
    for (s_p3_t *p = self->live; p; p = p->next)
        if (p->at == 0)
            s_p3_wait (self, p, now);
    /* restored decided ones go to the tail of the done FIFO (its times
     * stay in order) */
    size_t n = 0;
    for (s_p3_t *p = self->done_head; p; p = p->next)
        n++;
    s_p3_t *p = self->done_head;
    for (size_t i = 0; i < n && p; i++) {
        s_p3_t *next = p->next;
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
    s_p3_t *p3 = s_p3_lookup (self, gid);
    return p3 ? p3->state : TPC_P3_UNKNOWN;
}

/* ------------------------------------------------------------------ */
/*  outcome_of: the coordinator's presumed-abort check                 */

static void
s_known (part_engine_t *self, const char *gid, tpc_p3_t state)
{
    tpc_msg_t *msg = s_msg (TPC_MSG_KNOWN, gid, NULL);
    if (msg)
        msg->p3 = state;
    s_log (self, 1, "%s: known %s", gid, tpc_p3_name (state));
    s_send (self, msg);
}

/*  What this engine knows of GID without asking the database: true and
 *  *STATE set, or false (no record: the database must say).  A decided
 *  commit in flight counts as committed: its marker may not be visible
 *  yet.                                                                  */
static bool
s_known_here (part_engine_t *self, const char *gid, tpc_p3_t *state)
{
    s_p3_t *p3 = s_p3_lookup (self, gid);
    if (p3 && p3->state != TPC_P3_UNCERTAIN) {
        *state = p3->state;
        return true;
    }
    s_rec_t *rec = zhashx_lookup (self->recs, gid);
    if (!rec) {
        if (p3)
            *state = p3->state;
        return p3 != NULL;
    }
    switch (rec->state) {
    case S_COMMITTING:
        *state = TPC_P3_COMMITTED;
        break;
    case S_PREPARING:
    case S_PREPARED:
        *state = TPC_P3_UNCERTAIN;
        break;
    default:            /* ACTIVE (never prepared), ROLLING_BACK, ABORTED */
        *state = TPC_P3_ABORTED;
        break;
    }
    return true;
}

/*  outcome_of GID: reply known at once from memory, else ask the RM.     */
static void
s_on_outcome_of (part_engine_t *self, const char *gid, uint64_t now)
{
    tpc_p3_t state;
    if (s_known_here (self, gid, &state)) {
        s_known (self, gid, state);
        return;
    }
    s_inq_t *inq = calloc (1, sizeof *inq);
    if (!inq) {
        s_log (self, 0, "%s: out of memory: outcome_of not answered", gid);
        return;
    }
    inq->req = ++self->next_req;
    snprintf (inq->gid, sizeof inq->gid, "%s", gid);
    part_rm_req_t req = { .req = inq->req, .op = PART_RM_OUTCOME_OF,
                          .gid = inq->gid };
    if (self->rm->submit (self->rm->self, &req, now) != 0) {
        s_known (self, gid, TPC_P3_UNKNOWN);
        free (inq);
        return;
    }
    inq->next = self->inqs;
    self->inqs = inq;
}

/*  RES answers an outcome_of (true: it was one of those, now replied).   */
static bool
s_on_inquired (part_engine_t *self, const part_rm_result_t *res)
{
    if (res->op != PART_RM_OUTCOME_OF)
        return false;
    for (s_inq_t **pp = &self->inqs; *pp; pp = &(*pp)->next) {
        s_inq_t *inq = *pp;
        if (inq->req != res->req)
            continue;
        *pp = inq->next;
        tpc_p3_t state = TPC_P3_UNKNOWN;
        tpc_p3_t here;
        if (s_known_here (self, inq->gid, &here))
            state = here;       /* a record was born meanwhile: it knows */
        else if (res->status == 0)
            state = res->outcome == TPC_OUTCOME_COMMITTED ? TPC_P3_COMMITTED
                    : res->outcome == TPC_OUTCOME_IN_PROGRESS
                    ? TPC_P3_UNCERTAIN : TPC_P3_ABORTED;
        else
            s_log (self, 0, "%s: outcome_of failed: %s", inq->gid,
                   res->error ? res->error : tpc_strerror (res->status));
        s_known (self, inq->gid, state);
        free (inq);
        return true;
    }
    return false;
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
            s_log (self, 0, "%s with a malformed gid ignored",
                   tpc_msg_type_name (msg->type));
            tpc_msg_destroy (&msg);
            return;
        }
        s_log (self, 1, "%s: <- %s", msg->gid, tpc_msg_type_name (msg->type));
        if (msg->type == TPC_MSG_OUTCOME_OF) {
            s_on_outcome_of (self, msg->gid, now);
            tpc_msg_destroy (&msg);
            break;
        }
        if (msg->type == TPC_MSG_PRECOMMIT || msg->type == TPC_MSG_GETSTATE) {
            int state = msg->type == TPC_MSG_PRECOMMIT
                        ? s_p3_precommit (self, msg->gid, true, now)
                        : (int) s_p3_state_of (self, msg->gid);
            if (state >= 0)
                s_send (self, s_state_msg (msg->gid, (tpc_p3_t) state, 0));
            tpc_msg_destroy (&msg);
            break;
        }
        s_handle (self, msg, false, false, now);
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
        else
            s_run_work (self, rec, now);
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
    tpc_msg_destroy (&rec->cur);        /* statements that rode along */
    if (res->status == 0 && res->readonly && rec->p3) {
        /* cannot happen (a 3PC PREPARE keeps a read-only transaction
         * prepared): the in-memory state goes; the durable UNCERTAIN comes
         * back after a restart as an uncertain member, which is harmless */
        s_p3_t *p3 = s_p3_lookup (self, rec->gid);
        if (p3 && !rec->p3_why && p3->state == TPC_P3_UNCERTAIN)
            s_p3_remove (self, p3);
        rec->p3 = false;
    }
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
    const char *why = res->status == TPC_ECONNECT
                      ? "connection to the database lost during prepare"
                      : res->error;
    bool prepared = res->status == 0;
    if (rec->p3) {
        /* 3PC: UNCERTAIN was made durable before the PREPARE (or could not
         * be: rec->p3_why); the vote is yes only if it still stands */
        s_p3_t *p3 = rec->p3_why ? NULL : s_p3_lookup (self, rec->gid);
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
                s_p3_wait (self, p3, now);  /* the timer runs from the vote */
            if (refuse) {
                why = refuse;
                prepared = false;
                rec->interrupted = true;    /* it IS prepared: roll it back */
            }
        }
        if (!prepared && p3 && p3->state == TPC_P3_UNCERTAIN)
            (void) s_p3_decide (self, p3, TPC_OUTCOME_ABORTED, now);
        rec->p3_why = NULL;
    }
    if (prepared) {
        s_set_state (self, rec, S_PREPARED, now);
        s_vote (self, rec->gid, TPC_VOTE_YES, NULL);
        /* Should the decision never come (a coordinator that restarted
         * forgot an undecided gid: presumed abort pushes nothing), start
         * asking after doubt_ms; a decide clears this timer.  (in_doubt
         * is set only when we ask: answers nobody asked for are ignored.) */
        s_timer_set (self, rec, now + self->cfg.doubt_ms);
        return rec;
    }
    s_vote (self, rec->gid, TPC_VOTE_NO, why);
    /* A lost session, or a cancel that may have hit PREPARE TRANSACTION
     * itself, may have prepared it after all.  We voted no, so it can only
     * abort, and the coordinator sends no decide to a no voter: roll it
     * back now rather than leave it prepared (and its locks held) until
     * the next recovery.                                                 */
    rec->maybe_prepared = res->status == TPC_ECONNECT || rec->interrupted;
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
    tpc_msg_destroy (&rec->cur);        /* statements that rode along */
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
        /* a lock timeout on the marker: a transaction of this gid holds
         * it, prepared after all (a PREPARE of a crashed incarnation was
         * still running when ROLLBACK PREPARED found nothing): list the
         * prepared ones now, which turns this record into an in-doubt one
         * (s_on_recovered) */
        if (!strcmp (res->sqlstate, "55P03")) {
            if (self->recover_req)
                self->recover_again = true;
            else
                s_submit_recover (self, now);
        }
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
        if (rec->state == S_ROLLING_BACK && !rec->req
            && rec->retry_op == PART_RM_TOMBSTONE) {
            /* it waits to tombstone a gid found prepared after all (its
             * ROLLBACK PREPARED raced with a crashed incarnation's
             * PREPARE): whatever led here, the coordinator's answer
             * decides, as for any prepared gid found */
            s_log (self, 0, "%s: prepared after all: in doubt, asking the "
                   "coordinator", gid);
            rec->retry_op = 0;
            s_timer_clear (self, rec);
            rec->decision = TPC_OUTCOME_NONE;
            rec->maybe_prepared = true;
            s_set_state (self, rec, S_PREPARED, now);
        }
        if (s_busy (rec) || rec->qhead)
            continue;           /* its own flow will settle it */
        s_p3_t *p3 = s_p3_lookup (self, gid);
        if (rec->state == S_PREPARED && p3 && s_p3_is_decided (p3->state)) {
            /* decided here (durably) before a crash: finish it unasked */
            s_phase2 (self, rec, s_p3_outcome (p3->state), false, now);
        }
        else if (rec->state == S_PREPARED) {
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
    if (s_on_inquired (self, res))
        return;
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
                s_phase2 (self, rec, TPC_OUTCOME_ABORTED, false, now);
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
        bool noack = false;
        tpc_msg_t *msg = s_dequeue (rec, &noack);
        if (!msg)
            break;
        char gid[TPC_GID_MAX];
        snprintf (gid, sizeof gid, "%s", rec->gid);
        s_handle (self, msg, true, noack, now);
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
    if (self->p3_unarmed)
        s_p3_arm_restored (self, now);
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
    s_p3_tick (self, now);
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
    at = s_p3_next_at (self, at, now);
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
    if (self->p3s) {
        s_p3_t *p3;
        while ((p3 = zhashx_first (self->p3s)))
            s_p3_remove (self, p3);
        zhashx_destroy (&self->p3s);
    }
    while (self->inqs) {
        s_inq_t *next = self->inqs->next;
        free (self->inqs);
        self->inqs = next;
    }
    free (self->peer_endpoint);
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
