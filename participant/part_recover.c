/*  part_recover: what the agent engine learns from the database (part of
 *  part_engine, over part_engine_int.h; pure like it).
 *
 *  Recovery: at start, on every reconnect and every sweep_ms the RM lists
 *  the prepared gids (RECOVER); each becomes (or stays) a PREPARED record
 *  that queries the coordinator until answered, one decided durably by
 *  3PC is finished unasked, one never voted yes on is rolled back, and
 *  open transactions are asked about.  outcome_of: the coordinator's
 *  presumed-abort check, answered "known" from memory or from the RM's
 *  OUTCOME_OF outside any record (the rules are in part_engine.c's
 *  diagram).
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
/*  Recovery: listing prepared transactions                            */

void
pe_submit_recover (part_engine_t *self, uint64_t now)
{
    self->recover_at = 0;
    part_rm_req_t req = { .req = ++self->next_req, .op = PART_RM_RECOVER };
    self->recover_req = req.req;
    if (pe_push_submit (self, &req) != 0) {
        self->recover_req = 0;
        self->recover_at = now + self->cfg.retry_ms;
    }
}

void
pe_on_recovered (part_engine_t *self, const part_rm_result_t *res, uint64_t now)
{
    if (res->req != self->recover_req)
        return;
    self->recover_req = 0;
    if (res->status != 0) {
        pe_log (self, PE_WARNING, "listing prepared transactions failed, retrying: %s",
               res->error ? res->error : "?");
        self->recover_at = now + self->cfg.retry_ms;
        return;
    }
    pe_log (self, res->ngids ? PE_WARNING : PE_VERBOSE, "recovery: %zu "
            "prepared transaction(s) found", res->ngids);
    for (size_t i = 0; i < res->ngids; i++) {
        const char *gid = res->gids[i];
        if (tpc_gid_parse (gid, NULL) != 0)
            continue;
        pe_rec_t *rec = zhashx_lookup (self->recs, gid);
        if (!rec) {
            rec = pe_rec_new (self, gid, PE_PREPARED);
            if (!rec)
                continue;
            rec->maybe_prepared = true;
        }
        if (rec->state == PE_ROLLING_BACK && !rec->req
            && rec->retry_op == PART_RM_TOMBSTONE) {
            /* it waits to tombstone a gid found prepared after all (its
             * ROLLBACK PREPARED raced with a crashed incarnation's
             * PREPARE): whatever led here, the coordinator's answer
             * decides, as for any prepared gid found */
            pe_log (self, PE_WARNING, "%s: prepared after all: in doubt, asking the "
                   "coordinator", gid);
            rec->retry_op = 0;
            pe_timer_clear (self, rec);
            rec->decision = TPC_OUTCOME_NONE;
            rec->maybe_prepared = true;
            pe_set_state (self, rec, PE_PREPARED, now);
        }
        if (pe_busy (rec) || rec->qhead)
            continue;           /* its own flow will settle it */
        pe_p3_t *p3 = pe_p3_lookup (self, gid);
        if (rec->state == PE_PREPARED && p3 && pe_p3_is_decided (p3->state)) {
            /* decided here (durably) before a crash: finish it unasked */
            pe_phase2 (self, rec, pe_p3_outcome (p3->state), false, now);
        }
        else if (rec->state == PE_PREPARED) {
            rec->in_doubt = true;
            pe_query (self, gid);
            pe_timer_set (self, rec, now + self->cfg.query_ms);
        }
        else if (rec->state == PE_ABORTED) {
            /* we never voted yes: roll it back without asking */
            rec->maybe_prepared = true;
            rec->tombstoned = false;
            rec->decision = TPC_OUTCOME_ABORTED;
            pe_set_state (self, rec, PE_ROLLING_BACK, now);
            pe_submit (self, rec, PART_RM_ROLLBACK_PREPARED, now);
        }
    }
    /* Open transactions the coordinator may have forgotten (it restarted,
     * or its abort was lost): ask; "aborted" rolls them back.  The sweep
     * repeats every sweep_ms: a prepared gid whose session broke during
     * PREPARE (we voted no) or whose decision was lost is found again.   */
    for (pe_rec_t *rec = zhashx_first (self->recs); rec;
         rec = zhashx_next (self->recs))
        if (rec->state == PE_ACTIVE && !pe_busy (rec) && !rec->qhead)
            pe_query (self, rec->gid);
    if (!self->ready) {
        self->ready = true;
        self->found = res->ngids;
    }
    self->recover_at = now + self->cfg.sweep_ms;
    if (self->recover_again) {
        self->recover_again = false;
        pe_submit_recover (self, now);
    }
}

void
part_engine_on_connected (part_engine_t *self, uint64_t now)
{
    pe_log (self, PE_VERBOSE, "database connected: listing prepared transactions");
    if (self->recover_req)
        self->recover_again = true;
    else
        pe_submit_recover (self, now);
}

/* ------------------------------------------------------------------ */
/*  outcome_of: the coordinator's presumed-abort check                 */

static void
s_known (part_engine_t *self, const char *gid, tpc_p3_t state)
{
    tpc_msg_t *msg = pe_msg (TPC_MSG_KNOWN, gid, NULL);
    if (msg)
        msg->p3 = state;
    pe_log (self, PE_VERBOSE, "%s: known %s", gid, tpc_p3_name (state));
    pe_send (self, msg);
}

/*  What this engine knows of GID without asking the database: true and
 *  *STATE set, or false (no record: the database must say).  A decided
 *  2PC commit in flight counts as committed: its marker may not be visible
 *  yet.                                                                  */
static bool
s_known_here (part_engine_t *self, const char *gid, tpc_p3_t *state)
{
    pe_p3_t *p3 = pe_p3_lookup (self, gid);
    if (p3 && p3->state != TPC_P3_UNCERTAIN) {
        *state = p3->state;
        return true;
    }
    pe_rec_t *rec = zhashx_lookup (self->recs, gid);
    if (!rec) {
        if (p3)
            *state = p3->state;
        return p3 != NULL;
    }
    bool onephase = (rec->req && rec->op == PART_RM_COMMIT_ONEPHASE)
                    || (rec->cur && rec->cur->then == TPC_THEN_COMMIT);
    for (const pe_qmsg_t *q = rec->qhead; q && !onephase; q = q->next)
        onephase = q->msg->type == TPC_MSG_WORK
                   && q->msg->then == TPC_THEN_COMMIT;
    if (onephase) {
        /* a one-phase commit still running may fail yet (lock timeout,
         * deferred constraint): neither committed nor aborted */
        *state = TPC_P3_UNKNOWN;
        return true;
    }
    switch (rec->state) {
    case PE_COMMITTING:
        *state = TPC_P3_COMMITTED;
        break;
    case PE_PREPARING:
    case PE_PREPARED:
        *state = TPC_P3_UNCERTAIN;
        break;
    default:            /* ACTIVE (never prepared), ROLLING_BACK, ABORTED */
        *state = TPC_P3_ABORTED;
        break;
    }
    return true;
}

/*  outcome_of GID: reply known at once from memory, else ask the RM.     */
void
pe_on_outcome_of (part_engine_t *self, const char *gid, uint64_t now)
{
    (void) now;
    tpc_p3_t state;
    if (s_known_here (self, gid, &state)) {
        s_known (self, gid, state);
        return;
    }
    pe_inq_t *inq = calloc (1, sizeof *inq);
    if (!inq) {
        pe_log (self, PE_WARNING, "%s: out of memory: outcome_of not answered", gid);
        return;
    }
    inq->req = ++self->next_req;
    snprintf (inq->gid, sizeof inq->gid, "%s", gid);
    part_rm_req_t req = { .req = inq->req, .op = PART_RM_OUTCOME_OF,
                          .gid = inq->gid };
    if (pe_push_submit (self, &req) != 0) {
        s_known (self, gid, TPC_P3_UNKNOWN);
        free (inq);
        return;
    }
    inq->next = self->inqs;
    self->inqs = inq;
}

bool
pe_recover_refused (part_engine_t *self, uint64_t req, uint64_t now)
{
    if (req != 0 && req == self->recover_req) {
        self->recover_req = 0;
        self->recover_at = now + self->cfg.retry_ms;
        return true;
    }
    for (pe_inq_t **pp = &self->inqs; *pp; pp = &(*pp)->next) {
        pe_inq_t *inq = *pp;
        if (inq->req != req)
            continue;
        *pp = inq->next;
        s_known (self, inq->gid, TPC_P3_UNKNOWN);
        free (inq);
        return true;
    }
    return false;
}

/*  RES answers an outcome_of (true: it was one of those, now replied).   */
bool
pe_on_inquired (part_engine_t *self, const part_rm_result_t *res)
{
    if (res->op != PART_RM_OUTCOME_OF)
        return false;
    for (pe_inq_t **pp = &self->inqs; *pp; pp = &(*pp)->next) {
        pe_inq_t *inq = *pp;
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
            pe_log (self, PE_WARNING, "%s: outcome_of failed: %s", inq->gid,
                   res->error ? res->error : tpc_strerror (res->status));
        s_known (self, inq->gid, state);
        free (inq);
        return true;
    }
    return false;
}
