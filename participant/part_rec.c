/*  part_rec: the agent engine's records and what they send (part of
 *  part_engine, over part_engine_int.h; pure like it).
 *
 *  A record (pe_rec_t) per gid the engine works on: its state (the 2PC
 *  diagram at the top of part_engine.c), the messages that wait for it,
 *  its timer (query or retry) and, once ABORTED, its place in the forget
 *  FIFO.  Here too: the one way an RM operation is submitted for a record
 *  (pe_submit, pe_retry), and the messages to the coordinator (vote, ack,
 *  query, worked) with the engine's log line helper.
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

/* ------------------------------------------------------------------ */
/*  Logging and messages                                               */

int
pe_push (part_engine_t *self, part_action_t *act)
{
    pe_act_t *node = malloc (sizeof *node);
    if (!node) {
        part_action_clear (act);
        return TPC_ENOMEM;
    }
    node->act = *act;
    node->next = NULL;
    memset (act, 0, sizeof *act);
    if (self->qtail)
        self->qtail->next = node;
    else
        self->qhead = node;
    self->qtail = node;
    return 0;
}

void
pe_log (part_engine_t *self, int level, const char *fmt, ...)
{
    if (level == PE_VERBOSE && !self->cfg.verbose)
        return;                 /* nobody would print it: do not format it */
    char line[512];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (line, sizeof line, fmt, ap);
    va_end (ap);
    part_action_t act = { .type = PART_ACT_LOG, .level = level,
                          .text = strdup (line) };
    if (act.text)
        pe_push (self, &act);   /* out of memory: the line is lost */
}

void
pe_send (part_engine_t *self, tpc_msg_t *msg)
{
    if (!msg) {
        pe_log (self, PE_WARNING, "out of memory: a reply to the coordinator is lost");
        return;
    }
    part_action_t act = { .type = PART_ACT_SEND, .msg = msg };
    if (pe_push (self, &act) != 0)
        pe_log (self, PE_WARNING, "out of memory: a reply to the coordinator is lost");
}

tpc_msg_t *
pe_msg (tpc_msg_type_t type, const char *gid, const char *reason)
{
    tpc_msg_t *msg = tpc_msg_new (type);
    if (!msg)
        return NULL;
    if ((gid && tpc_msg_set_str (&msg->gid, gid) != 0)
        || (reason && tpc_msg_set_str (&msg->reason, reason) != 0))
        tpc_msg_destroy (&msg);
    return msg;
}

void
pe_vote (part_engine_t *self, const char *gid, tpc_vote_t vote,
        const char *reason)
{
    tpc_msg_t *msg = pe_msg (TPC_MSG_VOTE, gid, vote == TPC_VOTE_NO ? reason : NULL);
    if (msg)
        msg->vote = vote;
    pe_log (self, PE_VERBOSE, "%s: vote %s%s%s", gid, tpc_vote_name (vote),
           vote == TPC_VOTE_NO ? ": " : "", vote == TPC_VOTE_NO ? reason : "");
    pe_send (self, msg);
}

void
pe_ack (part_engine_t *self, const char *gid, tpc_outcome_t outcome,
       const char *reason)
{
    tpc_msg_t *msg = pe_msg (TPC_MSG_ACK, gid, reason);
    if (msg)
        msg->outcome = outcome;
    pe_log (self, PE_VERBOSE, "%s: ack %s", gid, tpc_outcome_name (outcome));
    pe_send (self, msg);
}

void
pe_query (part_engine_t *self, const char *gid)
{
    pe_log (self, PE_VERBOSE, "%s: query", gid);
    pe_send (self, pe_msg (TPC_MSG_QUERY, gid, NULL));
}

/*  Reply "it failed" to a work or prepare message, in the shape its
 *  sender waits for.                                                     */
void
pe_reply_failure (part_engine_t *self, const tpc_msg_t *msg, const char *reason)
{
    if (!reason || !*reason)
        reason = "failed";
    if (msg->type == TPC_MSG_PREPARE
        || (msg->type == TPC_MSG_WORK && msg->then == TPC_THEN_PREPARE))
        pe_vote (self, msg->gid, TPC_VOTE_NO, reason);
    else if (msg->type == TPC_MSG_WORK && msg->then == TPC_THEN_COMMIT)
        pe_ack (self, msg->gid, TPC_OUTCOME_ABORTED, reason);
    else if (msg->type == TPC_MSG_WORK) {
        tpc_msg_t *out = pe_msg (TPC_MSG_WORKED, msg->gid, reason);
        if (out) {
            out->seq = msg->seq;
            out->ok = false;
        }
        pe_log (self, PE_VERBOSE, "%s: worked seq %llu failed: %s", msg->gid,
               (unsigned long long) msg->seq, reason);
        pe_send (self, out);
    }
}

void
pe_worked_ok (part_engine_t *self, const tpc_msg_t *work,
             const part_rm_result_t *res)
{
    tpc_msg_t *out = pe_msg (TPC_MSG_WORKED, work->gid, NULL);
    if (!out) {
        pe_send (self, NULL);
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
    pe_send (self, out);
}

/* ------------------------------------------------------------------ */
/*  Records, timers, forgetting                                        */

void
pe_timer_clear (part_engine_t *self, pe_rec_t *rec)
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

void
pe_timer_set (part_engine_t *self, pe_rec_t *rec, uint64_t at)
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
s_forget_remove (part_engine_t *self, pe_rec_t *rec)
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

void
pe_forget_append (part_engine_t *self, pe_rec_t *rec, uint64_t now)
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

void
pe_set_state (part_engine_t *self, pe_rec_t *rec, pe_state_t state, uint64_t now)
{
    if (rec->state == PE_ABORTED && state != PE_ABORTED)
        s_forget_remove (self, rec);
    if (state == PE_ABORTED && (rec->state != PE_ABORTED || !rec->in_forget))
        pe_forget_append (self, rec, now);
    if (rec->state != state)
        pe_log (self, PE_VERBOSE, "%s: %s -> %s", rec->gid, pe_state_names[rec->state],
               pe_state_names[state]);
    rec->state = state;
}

void
pe_set_reason (pe_rec_t *rec, const char *reason)
{
    if (!reason)
        return;
    char *copy = strdup (reason);
    if (copy) {
        free (rec->reason);
        rec->reason = copy;
    }
}

pe_rec_t *
pe_rec_new (part_engine_t *self, const char *gid, pe_state_t state)
{
    pe_rec_t *rec = calloc (1, sizeof *rec);
    if (!rec)
        return NULL;
    part_rm_copy (rec->gid, sizeof rec->gid, gid);
    rec->state = state;
    if (zhashx_insert (self->recs, rec->gid, rec) != 0) {
        free (rec);
        return NULL;
    }
    return rec;
}

/*  Free REC; the messages that waited for it are returned (as a list).   */
pe_qmsg_t *
pe_rec_free (part_engine_t *self, pe_rec_t *rec)
{
    pe_qmsg_t *queue = rec->qhead;
    pe_timer_clear (self, rec);
    s_forget_remove (self, rec);
    tpc_msg_destroy (&rec->cur);
    free (rec->reason);
    zhashx_delete (self->recs, rec->gid);
    free (rec);
    return queue;
}

/*  The record is done with: drop it and handle what waited for it as new
 *  messages.                                                             */
void
pe_rec_release (part_engine_t *self, pe_rec_t *rec, uint64_t now)
{
    pe_qmsg_t *q = pe_rec_free (self, rec);
    while (q) {
        pe_qmsg_t *next = q->next;
        pe_handle (self, q->msg, false, q->noack, now);
        free (q);
        q = next;
    }
}

void
pe_enqueue (part_engine_t *self, pe_rec_t *rec, tpc_msg_t *msg, bool noack)
{
    pe_qmsg_t *q = calloc (1, sizeof *q);
    if (!q) {
        pe_log (self, PE_WARNING, "%s: out of memory: %s dropped", rec->gid,
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

tpc_msg_t *
pe_dequeue (pe_rec_t *rec, bool *noack)
{
    pe_qmsg_t *q = rec->qhead;
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

bool
pe_busy (const pe_rec_t *rec)
{
    return rec->req != 0 || rec->retry_op != 0;
}

/* ------------------------------------------------------------------ */
/*  RM operations                                                      */

void
pe_retry (part_engine_t *self, pe_rec_t *rec, part_rm_op_t op, uint64_t now)
{
    rec->retry_op = op;
    pe_timer_set (self, rec, now + self->cfg.retry_ms);
}

int
pe_push_submit (part_engine_t *self, const part_rm_req_t *req)
{
    part_action_t act = { .type = PART_ACT_SUBMIT, .req = *req };
    if (req->gid && !(act.gid = strdup (req->gid)))
        return TPC_ENOMEM;
    act.req.gid = act.gid;
    act.req.stmts = NULL;
    if (req->nstmts) {
        act.msg = tpc_msg_new (TPC_MSG_WORK);
        for (size_t i = 0; act.msg && i < req->nstmts; i++) {
            const tpc_stmt_t *st = &req->stmts[i];
            if (tpc_msg_add_stmt (act.msg, st->on, st->sql, st->nparams,
                                  (const char *const *) st->params) != 0)
                tpc_msg_destroy (&act.msg);
        }
        if (!act.msg) {
            part_action_clear (&act);
            return TPC_ENOMEM;
        }
        act.req.stmts = act.msg->stmts;
    }
    return pe_push (self, &act);
}

void
pe_interrupt (part_engine_t *self, const char *gid)
{
    part_action_t act = { .type = PART_ACT_INTERRUPT, .gid = strdup (gid) };
    if (!act.gid || pe_push (self, &act) != 0)
        pe_log (self, PE_WARNING, "%s: out of memory: not interrupted", gid);
}

/*  REC's operation was refused at once (no memory): try the same step
 *  again later.                                                          */
static void
s_refused (part_engine_t *self, pe_rec_t *rec, int rc, uint64_t now)
{
    pe_log (self, PE_WARNING, "%s: %s refused by the resource manager: %s",
            rec->gid, part_rm_op_name (rec->op), tpc_strerror (rc));
    rec->req = 0;
    pe_retry (self, rec, rec->op, now);
}

void
pe_submit (part_engine_t *self, pe_rec_t *rec, part_rm_op_t op, uint64_t now)
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
    pe_log (self, PE_VERBOSE, "%s: %s", rec->gid, part_rm_op_name (op));
    int rc = pe_push_submit (self, &req);
    if (rc != 0)
        s_refused (self, rec, rc, now);
}

bool
pe_rec_refused (part_engine_t *self, uint64_t req, int rc, uint64_t now)
{
    for (pe_rec_t *rec = zhashx_first (self->recs); rec;
         rec = zhashx_next (self->recs))
        if (rec->req == req) {
            s_refused (self, rec, rc, now);
            return true;
        }
    return false;
}
