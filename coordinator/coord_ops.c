
/*  coord_ops: the coordinator engine's operations (one engine over several
 *  files sharing coord_engine_int.h; the state diagram is in
 *  coord_engine.c): an operator's resolve (a heuristic decision, its
 *  HEURISTIC record and when it takes effect) and the summary.
 *
 *  resolve GID OUTCOME settles what the coordinator cannot finish alone:
 *    - a gid it is not driving and would answer in_progress forever (of
 *      another coordinator, or a one-phase commit never acknowledged), or
 *    - a decided gid whose phase 2 cannot end because a participant that
 *      has not acknowledged is gone: OUTCOME must be the decision.
 *  It is refused (TPC_ESTATE) for a gid still being decided, for a gid
 *  whose phase 2 is progressing (every participant still to ack is
 *  connected), for an outcome contradicting a decision or an end already
 *  known (presumed abort included, except a gid of an earlier boot with
 *  no record whose presumed abort a round could not confirm this boot,
 *  or is checking: it is unconfirmed, "Presumed abort, checked"), and for
 *  a different outcome than an
 *  earlier resolve; with TPC_EUNKNOWN_GID for a gid of this coordinator
 *  it never issued (a later seq of this boot, or a later epoch): that
 *  outcome would bind whichever transaction gets the gid next (found by
 *  a black-box test: the next begin got it, rolled back, and the agents
 *  were answered committed).  Gid issue skips any gid a record names
 *  (s_gid_taken in coord_txn.c), and ce_view lets a logged end win over
 *  a heuristic that contradicts it.  The HEURISTIC record (reason
 *  "resolve --force: ...") is FORCED; only once it is durable does the
 *  coordinator answer the gid's queries and status with OUTCOME, stop
 *  driving a live gid (END for a commit) and reply to the operator.
 *  Replay and checkpoints keep resolved gids.
 */
#include "coord_engine_int.h"

void
ce_heur_destroy (void **item)
{
    free (*item);
    *item = NULL;
}

void
ce_heur_set (coord_engine_t *self, const char *gid, tpc_outcome_t outcome,
             const char *reason)
{
    ce_heur_t *h = zhashx_lookup (self->heuristics, gid);
    if (!h) {
        h = calloc (1, sizeof *h);
        if (!h) {
            self->err = TPC_ENOMEM;
            return;
        }
        zhashx_insert (self->heuristics, gid, h);
    }
    h->outcome = outcome;
    h->at = self->started ? self->now : 0;
    snprintf (h->reason, sizeof h->reason, "%s", reason ? reason : "");
}

/*  Is GID one of this coordinator's that it has not issued (a later
 *  sequence number of this boot, or a later epoch)?  Then WHY (SIZE
 *  bytes) says so.  Such a gid is nobody's yet: a resolve of it would
 *  decide the future transaction that gets it.                           */
static bool
s_never_issued (coord_engine_t *self, const char *gid, char *why,
                size_t size)
{
    tpc_gid_t g;
    if (tpc_gid_parse (gid, &g) || strcmp (g.coord, self->coord_id))
        return false;           /* another coordinator's: not ours */
    if (g.epoch > self->epoch)
        snprintf (why, size, "%s was never issued by this coordinator: its "
                  "epoch %" PRIu64 " is later than this boot's (%" PRIu64
                  "); a coordinator that lost its log must run under a new "
                  "id, and the old id's gids can then be resolved", gid,
                  g.epoch, self->epoch);
    else if (g.epoch == self->epoch && g.seq > self->seq)
        snprintf (why, size, "%s was never issued by this coordinator (this "
                  "boot, epoch %" PRIu64 ", has issued %" PRIu64 " gid(s)): "
                  "there is nothing to resolve", gid, self->epoch,
                  self->seq);
    else
        return false;
    return true;
}

/*  resolve of the live T: refused (answered, true) unless T is decided
 *  as MSG wants and a participant that has not acked is gone; GONE (SIZE
 *  bytes) gets the names of those.                                       */
static bool
s_resolve_refused_live (coord_engine_t *self, const uint8_t *id, size_t len,
                        const tpc_msg_t *msg, const ce_txn_t *t, char *gone,
                        size_t size)
{
    const char *gid = msg->gid, *want_name = tpc_outcome_name (msg->outcome);
    tpc_outcome_t want = msg->outcome;
    bool decided = (t->state == CE_COMMITTING && t->durable)
                   || t->state == CE_ABORTING;
    if (!decided) {
        ce_reply_error (self, id, len, msg->rid, TPC_ESTATE, gid,
                        "%s is %s: the coordinator is still driving it "
                        "(%s)", gid, ce_state_names[t->state],
                        t->state == CE_PRECOMMITTING
                        ? "three-phase commit: its participants' "
                          "termination protocol decides it"
                        : "wait for its timeout, or roll it back");
        return true;
    }
    tpc_outcome_t have = t->state == CE_COMMITTING
                         ? TPC_OUTCOME_COMMITTED : TPC_OUTCOME_ABORTED;
    if (want != have) {
        ce_reply_error (self, id, len, msg->rid, TPC_ESTATE, gid,
                        "%s is decided %s: a heuristic %s would "
                        "contradict it", gid, tpc_outcome_name (have),
                        want_name);
        return true;
    }
    size_t n = 0;
    for (size_t i = 0; i < t->nparts; i++) {
        const ce_member_t *p = &t->parts[i];
        if (p->phase2 && !p->acked
            && !ce_agent_connected (self, p->name)) {
            size_t at = strlen (gone);
            snprintf (gone + at, size - at, "%s%s", n++ ? ", " : "",
                      p->name);
        }
    }
    if (n == 0) {
        ce_reply_error (self, id, len, msg->rid, TPC_ESTATE, gid,
                        "the coordinator is still driving %s: every "
                        "participant that has not acknowledged %s is "
                        "connected", gid, want_name);
        return true;
    }
    return false;
}

/*  resolve of a gid that is not live: refused (answered, true) for a gid
 *  never issued, or one whose outcome is known, unless it is an earlier
 *  boot's whose presumed abort is unconfirmed or being checked.          */
static bool
s_resolve_refused_gone (coord_engine_t *self, const uint8_t *id, size_t len,
                        const tpc_msg_t *msg)
{
    const char *gid = msg->gid;
    char why[384];
    if (s_never_issued (self, gid, why, sizeof why)) {
        ce_reply_error (self, id, len, msg->rid, TPC_EUNKNOWN_GID, gid,
                        "%s", why);
        return true;
    }
    ce_view_t v = ce_view (self, gid);
    bool stuck = ce_earlier_unknown (self, gid)
                 && (zhashx_lookup (self->unconfirmed, gid)
                     || zhashx_lookup (self->asks, gid));
    if (v.outcome != TPC_OUTCOME_IN_PROGRESS && !stuck) {
        ce_reply_error (self, id, len, msg->rid, TPC_ESTATE, gid,
                        "%s already has outcome %s (%s): nothing is in "
                        "doubt, nothing to resolve%s", gid,
                        tpc_outcome_name (v.outcome),
                        strcmp (v.state, "unknown") ? v.state
                                                    : "presumed abort",
                        ce_earlier_unknown (self, gid)
                        ? " (a gid of an earlier boot with no record "
                          "can be resolved once an agent's query for it "
                          "could not be confirmed: wait for that query)"
                        : "");
        return true;
    }
    return false;
}

/*  Write the forced HEURISTIC record of an accepted resolve MSG (GONE:
 *  the participants that never acked); the operator is answered once it
 *  is durable (ce_resolves_durable).                                     */
static void
s_resolve_write (coord_engine_t *self, const uint8_t *id, size_t len,
                 const tpc_msg_t *msg, const char *gone)
{
    const char *gid = msg->gid;
    tpc_outcome_t want = msg->outcome;
    if (self->nresolving == self->capresolving) {
        size_t cap = self->capresolving ? self->capresolving * 2 : 4;
        ce_resolve_t *v = realloc (self->resolving, cap * sizeof *v);
        if (!v) {
            ce_reply_error (self, id, len, msg->rid, TPC_ENOMEM, gid,
                            "out of memory");
            return;
        }
        self->resolving = v;
        self->capresolving = cap;
    }
    tpc_record_t *rec = calloc (1, sizeof *rec);
    if (!rec) {
        ce_reply_error (self, id, len, msg->rid, TPC_ENOMEM, gid,
                        "out of memory");
        return;
    }
    ce_resolve_t *r = &self->resolving[self->nresolving++];
    memset (r, 0, sizeof *r);
    snprintf (r->gid, sizeof r->gid, "%s", gid);
    r->outcome = want;
    snprintf (r->reason, sizeof r->reason, CE_RESOLVE_TAG ": %.140s%s%.80s",
              msg->reason && *msg->reason ? msg->reason : "by an operator",
              *gone ? "; never acked: " : "", gone);
    ce_req_set (self, &r->req, id, len, msg->rid);
    rec->type = TPC_REC_HEURISTIC;
    snprintf (rec->gid, sizeof rec->gid, "%s", gid);
    rec->outcome = want == TPC_OUTCOME_COMMITTED ? 1 : 2;
    snprintf (rec->reason, sizeof rec->reason, "%s", r->reason);
    r->ticket = ce_append (self, rec, true);
    ce_log (self, 1, "%s: HEURISTIC %s forced by an operator (%s)", gid,
            tpc_outcome_name (want), r->reason);
}

void
ce_on_resolve (coord_engine_t *self, const uint8_t *id, size_t len,
               const tpc_msg_t *msg, uint64_t now)
{
    const char *gid = msg->gid;
    tpc_outcome_t want = msg->outcome;
    (void) now;
    if (!gid || (want != TPC_OUTCOME_COMMITTED
                 && want != TPC_OUTCOME_ABORTED)) {
        ce_reply_error (self, id, len, msg->rid, TPC_EINVAL, gid,
                        "resolve needs a gid and committed or aborted");
        return;
    }
    for (size_t i = 0; i < self->nresolving; i++)
        if (!strcmp (self->resolving[i].gid, gid)) {
            ce_reply_error (self, id, len, msg->rid, TPC_EBUSY, gid,
                            "a resolve of %s is being written: retry", gid);
            return;
        }
    ce_heur_t *h = zhashx_lookup (self->heuristics, gid);
    if (h) {
        if (h->outcome == want)
            ce_reply_outcome (self, id, len, msg->rid, gid, want, h->reason);
        else
            ce_reply_error (self, id, len, msg->rid, TPC_ESTATE, gid,
                            "%s was already resolved %s", gid,
                            tpc_outcome_name (h->outcome));
        return;
    }
    char gone[512] = "";
    ce_txn_t *t = ce_txn_lookup (self, gid);
    if (t ? s_resolve_refused_live (self, id, len, msg, t, gone, sizeof gone)
          : s_resolve_refused_gone (self, id, len, msg))
        return;
    s_resolve_write (self, id, len, msg, gone);
}

/*  Every forced append up to TICKET is durable: resolves take effect.    */
void
ce_resolves_durable (coord_engine_t *self, uint64_t ticket, uint64_t now)
{
    size_t kept = 0;
    (void) now;
    for (size_t i = 0; i < self->nresolving; i++) {
        ce_resolve_t *r = &self->resolving[i];
        if (r->ticket > ticket) {
            self->resolving[kept++] = *r;
            continue;
        }
        ce_heur_set (self, r->gid, r->outcome, r->reason);
        zhashx_delete (self->unconfirmed, r->gid);
        ce_ask_t *ask = zhashx_lookup (self->asks, r->gid);
        if (ask)                /* its askers hear the resolve's outcome */
            ce_ask_settle (self, ask, false);
        ce_txn_t *t = ce_txn_lookup (self, r->gid);
        if (t && t->state == CE_COMMITTING
            && r->outcome == TPC_OUTCOME_COMMITTED) {
            ce_append (self, ce_record_new (self, TPC_REC_END, t), false);
            ce_answer_done (self, t, TPC_OUTCOME_COMMITTED, NULL);
            ce_forget (self, t, CE_END_COMMITTED);
        }
        else if (t && t->state == CE_ABORTING
                 && r->outcome == TPC_OUTCOME_ABORTED) {
            ce_answer_done (self, t, TPC_OUTCOME_ABORTED, t->reason);
            ce_forget (self, t, CE_END_ABORTED);
        }
        ce_reply_outcome (self, r->req.id, r->req.len, r->req.rid, r->gid,
                          r->outcome, r->reason);
        ce_req_clear (&r->req);
    }
    self->nresolving = kept;
}

static int
s_strp_cmp (const void *a, const void *b)
{
    return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/*  Transactions prepared somewhere whose outcome is not applied
 *  everywhere yet: a yes vote is in and not every ack (or the one-phase
 *  ack never came).  *OLDEST (if not NULL) gets the age of the oldest.  */
size_t
ce_count_in_doubt (coord_engine_t *self, uint64_t now, uint64_t *oldest)
{
    size_t n = 0;
    if (oldest)
        *oldest = 0;
    for (ce_txn_t *t = zhashx_first (self->txns); t;
         t = zhashx_next (self->txns)) {
        bool doubt = t->state == CE_COMMITTING
                     || t->state == CE_PRECOMMITTING
                     || (t->state == CE_ONEPHASE && t->outcome_unknown);
        for (size_t i = 0; !doubt && t->state == CE_PREPARING
                           && i < t->nparts; i++)
            doubt = t->parts[i].vote == TPC_VOTE_YES;
        if (!doubt)
            continue;
        n++;
        uint64_t age = now > t->created ? now - t->created : 0;
        if (oldest && age > *oldest)
            *oldest = age;
    }
    return n;
}

void
ce_on_summary (coord_engine_t *self, const uint8_t *id, size_t len,
               const tpc_msg_t *msg, uint64_t now)
{
    tpc_msg_t *reply = ce_msg (self, TPC_MSG_TXSUMMARY);
    if (!reply)
        return;
    reply->rid = msg->rid;
    reply->in_flight = zhashx_size (self->txns);
    reply->in_doubt = ce_count_in_doubt (self, now, &reply->oldest_ms);
    reply->committed = self->n_committed;
    reply->aborted = self->n_aborted;
    reply->heuristic = zhashx_size (self->heuristics);
    for (ce_agent_t *a = zhashx_first (self->agents); a;
         a = zhashx_next (self->agents))
        if (a->connected)
            ce_keep_err (self, tpc_msg_strv_push (&reply->agents,
                                                  &reply->nagents, a->name));
    if (reply->nagents > 1)
        qsort (reply->agents, reply->nagents, sizeof *reply->agents,
               s_strp_cmp);
    ce_to_client (self, id, len, reply);
}
