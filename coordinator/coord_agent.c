/*  coord_agent: the coordinator engine's agent messages (one engine over
 *  several files sharing coord_engine_int.h; the state diagram is in
 *  coord_engine.c).  hello (boot ids: an agent's restart, "AGENT RESTART"
 *  in coord_engine.c), worked, vote, ack, the 3PC state replies, and
 *  agents' liveness (sweep, gone).  query and known are the presumed
 *  abort round's (coord_ask.c); coord_engine_agent() routes.
 */
#include "coord_engine_int.h"

/* ---------------------------------------------------------------------
 *  Agent messages
 */

/*  Does hello MSG show a new incarnation of agent A: a boot id never
 *  heard from it before?  Then it becomes A's boot id.  The first boot id
 *  heard (e.g. after this coordinator restarted) is nobody's new
 *  incarnation; a hello without one (an older agent, or the hello made up
 *  for another message) never is; nor is a late hello of an earlier
 *  incarnation (still queued on its dead connection), which changes
 *  nothing.                                                              */
static bool
s_reborn (coord_engine_t *self, ce_agent_t *a, const tpc_msg_t *msg)
{
    if (!msg->boot)
        return false;
    size_t n = strspn (msg->boot, "0123456789abcdefABCDEF");
    if (n == 0 || n >= sizeof a->boot || msg->boot[n]) {
        ce_log (self, 1, "agent '%s' says hello with a boot id that is not "
                "1 to %zu hex digits: ignored", a->name, sizeof a->boot - 1);
        return false;
    }
    if (!a->boot[0]) {
        memcpy (a->boot, msg->boot, n + 1);
        return false;
    }
    if (!strcmp (a->boot, msg->boot))
        return false;
    size_t keep = CE_MIN (a->npast, sizeof a->past / sizeof a->past[0]);
    for (size_t i = 0; i < keep; i++)
        if (!strcmp (a->past[i], msg->boot)) {
            ce_log (self, 0, "agent '%s': late hello of an earlier "
                    "incarnation (boot id %s) ignored", a->name, msg->boot);
            return false;
        }
    memcpy (a->past[a->npast++ % (sizeof a->past / sizeof a->past[0])],
            a->boot, sizeof a->boot);
    memcpy (a->boot, msg->boot, n + 1);
    return true;
}

/*  Agent A restarted (s_reborn): whatever its earlier incarnation held
 *  open and had not prepared with a yes vote died with it (its database
 *  sessions are gone), so do now what the timeouts would do later:
 *    - ACTIVE with A in it, PREPARING without A's vote: abort (a PREPARE
 *      the dead process may have left behind is rolled back by the
 *      decide(aborted) A gets, or by A's recovery query);
 *    - ONEPHASE on A: outcome unknown at once, as at the vote timeout (no
 *      ack can come from a process that is gone).
 *  A yes voter's gids (PREPARING, 3PC PRECOMMITTING, decided) keep their
 *  rules: only unvoted work is given up.  A is left not connected, so the
 *  hello that follows resends it every pending decision and precommit.  A
 *  work sent to the new incarnation just before its hello was read may
 *  be aborted too: spurious, never unsafe.                                */
static void
s_agent_reborn (coord_engine_t *self, ce_agent_t *a, uint64_t now)
{
    a->connected = false;
    size_t n = 0, nabort = 0;
    ce_txn_t **v = ce_sorted (self, &n);
    if (!v)
        return;
    /* handling one transaction never frees another one */
    for (size_t i = 0; i < n; i++) {
        ce_txn_t *t = v[i];
        ce_member_t *p = ce_member_find (t, a->name, NULL);
        if (!p)
            continue;
        if (t->state == CE_ACTIVE
            || (t->state == CE_PREPARING && p->vote == TPC_VOTE_NONE)) {
            ce_set_reason (self, t, "participant '%s' restarted before it "
                           "voted: its work is lost", a->name);
            ce_abort (self, t, now);
            nabort++;
        }
        else if (t->state == CE_ONEPHASE && !t->outcome_unknown) {
            t->vote_deadline = now;
            ce_txn_due (self, t, now);
            nabort++;
        }
    }
    free (v);
    ce_log (self, 1, "agent '%s' restarted (boot id %s): %zu transaction(s) "
            "it had not voted on given up at once", a->name, a->boot, nabort);
}

void
ce_on_hello (coord_engine_t *self, const char *name, const tpc_msg_t *msg,
             uint64_t now)
{
    if (msg->name && strcmp (msg->name, name))
        ce_log (self, 1, "agent '%s' says hello as '%s': using its routing id",
                name, msg->name);
    ce_agent_t *a = zhashx_lookup (self->agents, name);
    if (!a) {
        a = calloc (1, sizeof *a);
        if (!a) {
            self->err = TPC_ENOMEM;
            return;
        }
        snprintf (a->name, sizeof a->name, "%s", name);
        zhashx_insert (self->agents, name, a);
    }
    a->last_hello = now;
    /* a real hello (it has a name; the one made up for another message
     * has none) says where the agent's peers reach it, for 3PC */
    if (msg->name && !(a->peer && msg->peer && !strcmp (a->peer, msg->peer))) {
        free (a->peer);
        a->peer = NULL;
        if (msg->peer && !(a->peer = strdup (msg->peer)))
            self->err = TPC_ENOMEM;
    }
    if (msg->name) {            /* a real hello: its prepared gids */
        tpc_strv_free (&a->prepared, a->nprepared);
        a->nprepared = 0;
        for (size_t i = 0; i < msg->ngids; i++)
            ce_keep_err (self, tpc_msg_strv_push (&a->prepared,
                                                  &a->nprepared,
                                                  msg->gids[i]));
        a->prepared_at = now;
    }
    if (s_reborn (self, a, msg))
        s_agent_reborn (self, a, now);
    if (a->connected)
        return;
    a->connected = true;
    self->agent_connects++;
    ce_log (self, 0, "agent '%s' connected", name);
    /* aborts that ended while it was away: its open work (or a prepare
     * whose vote was lost) goes now, not at its next restart */
    for (size_t i = 0; i < a->nowed; i++)
        ce_to_agent (self, name, ce_decide_msg (self, a->owed[i],
                                                TPC_OUTCOME_ABORTED));
    a->nowed = 0;
    /* resend every pending decision (and 3PC precommit) this agent has not
     * acked */
    for (ce_txn_t *t = zhashx_first (self->txns); t;
         t = zhashx_next (self->txns))
        if ((t->state == CE_COMMITTING && t->durable)
            || (t->state == CE_ABORTING && !t->lingered))
            ce_drive (self, t, name);
        else if (t->state == CE_PRECOMMITTING && t->pc_durable)
            ce_precommit_drive (self, t, name);
}

void
ce_on_worked (coord_engine_t *self, const char *name, const tpc_msg_t *msg,
              uint64_t now)
{
    ce_txn_t *t = ce_txn_lookup (self, msg->gid);
    if (!t || t->state != CE_ACTIVE || !t->exec.set
        || strcmp (t->parts[t->exec_part].name, name)
        || msg->seq != t->exec_seq) {
        ce_log (self, 0, "%s: stale worked seq %" PRIu64 " from '%s' ignored",
                msg->gid, msg->seq, name);
        return;
    }
    if (msg->ok && msg->has_result && msg->nrows > self->cfg.max_result_rows) {
        ce_reply_error (self, t->exec.id, t->exec.len, t->exec.rid, TPC_ELIMIT,
                        t->gid, "the result has %zu rows, over the limit of "
                        "%zu: transaction aborted (add a LIMIT)", msg->nrows,
                        self->cfg.max_result_rows);
        ce_req_clear (&t->exec);
        ce_set_reason (self, t, "a result on '%s' had %zu rows, over the "
                       "limit of %zu", name, msg->nrows,
                       self->cfg.max_result_rows);
        ce_abort (self, t, now);
        return;
    }
    if (msg->ok) {
        tpc_msg_t *reply = ce_msg (self, TPC_MSG_RESULT);
        if (reply) {
            reply->rid = t->exec.rid;
            reply->affected = msg->has_result ? msg->affected : -1;
            ce_keep_err (self, tpc_msg_set_str (&reply->gid, t->gid));
            if (msg->has_result)
                ce_keep_err (self, tpc_msg_set_rows (
                    reply, msg->ncolumns,
                    (const char *const *) msg->columns, msg->nrows,
                    (const char *const *) msg->cells));
            ce_to_client (self, t->exec.id, t->exec.len, reply);
        }
        ce_req_clear (&t->exec);
        return;
    }
    const char *why = msg->reason ? msg->reason : "statement failed";
    ce_reply_error (self, t->exec.id, t->exec.len, t->exec.rid, TPC_EDB,
                    t->gid, "%s", why);
    ce_req_clear (&t->exec);
    ce_set_reason (self, t, "statement failed on '%s': %s", name, why);
    ce_abort (self, t, now);
}

void
ce_on_vote (coord_engine_t *self, const char *name, const tpc_msg_t *msg,
            uint64_t now)
{
    ce_txn_t *t = ce_txn_lookup (self, msg->gid);
    ce_member_t *p = t ? ce_member_find (t, name, NULL) : NULL;
    if (t && p && t->state == CE_PREPARING && p->asked
        && p->vote == TPC_VOTE_NONE) {
        p->vote = msg->vote;
        p->vote_at = now;
        if (msg->vote == TPC_VOTE_NO) {
            ce_set_reason (self, t, "participant '%s' voted no: %s", name,
                           msg->reason ? msg->reason : "(no reason given)");
            ce_abort (self, t, now);
            return;
        }
        for (size_t i = 0; i < t->nparts; i++)
            if (t->parts[i].asked && t->parts[i].vote == TPC_VOTE_NONE)
                return;
        ce_votes_complete (self, t, now);
        return;
    }
    if (t && p && p->phase2 && !p->acked
        && ((t->state == CE_COMMITTING && t->durable)
            || t->state == CE_ABORTING)) {
        ce_drive (self, t, name);        /* a repeated vote: remind it */
        return;
    }
    if (t && p && p->phase2 && !p->precommitted
        && t->state == CE_PRECOMMITTING && t->pc_durable) {
        ce_precommit_drive (self, t, name);
        return;
    }
    ce_log (self, 0, "%s: stale %s vote from '%s' ignored", msg->gid,
            tpc_vote_name (msg->vote), name);
    if (!t && msg->vote == TPC_VOTE_YES && !ce_earlier_unknown (self, msg->gid)
        && ce_view (self, msg->gid).answer == TPC_OUTCOME_ABORTED)
        ce_to_agent (self, name,
                     ce_decide_msg (self, msg->gid, TPC_OUTCOME_ABORTED));
}

static void
s_heuristic (coord_engine_t *self, ce_txn_t *t, const char *name,
             const tpc_msg_t *msg)
{
    bool we_commit = t->state == CE_COMMITTING;
    ce_log (self, 1, "%s: HEURISTIC: decided %s but '%s' reports %s%s%s",
            t->gid, we_commit ? "committed" : "aborted", name,
            tpc_outcome_name (msg->outcome), msg->reason ? ": " : "",
            msg->reason ? msg->reason : "");
    tpc_record_t *rec = ce_record_new (self, TPC_REC_HEURISTIC, t);
    if (!rec)
        return;
    rec->outcome = msg->outcome == TPC_OUTCOME_COMMITTED ? 1 : 2;
    snprintf (rec->reason, sizeof rec->reason, "%.*s: %s",
              (int) TPC_RECORD_NAME_MAX, name,
              msg->reason ? msg->reason : "outcome differs from decision");
    ce_append (self, rec, false);
}

void
ce_on_ack (coord_engine_t *self, const char *name, const tpc_msg_t *msg,
           uint64_t now)
{
    ce_txn_t *t = ce_txn_lookup (self, msg->gid);
    ce_member_t *p = t ? ce_member_find (t, name, NULL) : NULL;
    if (!t || !p) {
        ce_log (self, 0, "%s: stale ack from '%s' ignored", msg->gid, name);
        return;
    }
    if (t->state == CE_ONEPHASE) {
        bool ok = msg->outcome == TPC_OUTCOME_COMMITTED;
        if (!ok && msg->outcome != TPC_OUTCOME_ABORTED)
            return;
        p->acked = p->phase2 = true;
        ce_answer_done (self, t, msg->outcome,
                        ok ? NULL : (msg->reason ? msg->reason
                                                : "aborted by participant"));
        ce_log (self, 0, "%s: one-phase %s", t->gid,
                tpc_outcome_name (msg->outcome));
        ce_forget (self, t, ok ? CE_END_COMMITTED : CE_END_ABORTED);
        return;
    }
    bool waiting = (t->state == CE_COMMITTING && t->durable)
                   || t->state == CE_ABORTING;
    if (!waiting || !p->phase2 || p->acked) {
        ce_log (self, 0, "%s: stale ack from '%s' ignored", msg->gid, name);
        return;
    }
    tpc_outcome_t want = t->state == CE_COMMITTING ? TPC_OUTCOME_COMMITTED
                                                  : TPC_OUTCOME_ABORTED;
    if (msg->outcome == TPC_OUTCOME_IN_PROGRESS)
        return;
    if (msg->outcome != want)
        s_heuristic (self, t, name, msg);
    p->acked = true;
    p->ack_at = now;
    t->nunacked--;
    if (t->state == CE_ABORTING) {
        ce_abort_settle (self, t, now);
        return;
    }
    if (t->nunacked == 0)
        ce_commit_finished (self, t);
}

/*  3PC: agent NAME's state of a gid, the reply to a precommit.          */
void
ce_on_state (coord_engine_t *self, const char *name, const tpc_msg_t *msg,
             uint64_t now)
{
    ce_txn_t *t = ce_txn_lookup (self, msg->gid);
    ce_member_t *p = t ? ce_member_find (t, name, NULL) : NULL;
    if (!t || !p || t->state != CE_PRECOMMITTING || !t->pc_durable
        || !p->phase2) {
        bool contra = t && p && p->phase2
                      && ((t->state == CE_COMMITTING
                           && msg->p3 == TPC_P3_ABORTED)
                          || (t->state == CE_ABORTING
                              && msg->p3 == TPC_P3_COMMITTED));
        ce_log (self, contra ? 1 : 0, "%s: %s state %s from '%s' ignored%s",
                msg->gid, contra ? "CONTRADICTING" : "stale",
                tpc_p3_name (msg->p3), name,
                contra ? " (the decision stands; see the partition hazard "
                        "of three-phase commit)" : "");
        return;
    }
    switch (msg->p3) {
    case TPC_P3_COMMITTED:
        /* a termination leader decided commit: that is final */
        ce_log (self, 0, "%s: '%s' reports committed: commit", t->gid, name);
        p->precommitted = true;
        ce_commit_decide (self, t);
        return;
    case TPC_P3_PRECOMMITTED:
        if (!p->precommitted) {
            p->precommitted = true;
            t->nunacked--;
        }
        if (t->nunacked == 0) {
            ce_log (self, 0, "%s: every participant pre-committed", t->gid);
            ce_commit_decide (self, t);
        }
        return;
    case TPC_P3_ABORTED:
        /* a termination leader decided abort: that is final */
        ce_set_reason (self, t, "participant '%s' reports aborted (decided "
                       "by the termination protocol)", name);
        ce_abort (self, t, now);
        return;
    default:
        /* uncertain (e.g. in a termination round) or unknown: the
         * precommit is resent; never a timeout from here */
        ce_log (self, 0, "%s: '%s' is %s: precommit resent later", t->gid,
                name, tpc_p3_name (msg->p3));
        return;
    }
}

void
ce_sweep_agents (coord_engine_t *self, uint64_t now)
{
    uint64_t limit = 3 * self->cfg.heartbeat_ms;
    for (ce_agent_t *a = zhashx_first (self->agents); a;
         a = zhashx_next (self->agents))
        if (a->connected && now > a->last_hello + limit) {
            a->connected = false;
            ce_log (self, 1, "agent '%s' gone (no hello for %" PRIu64 " ms)",
                    a->name, now - a->last_hello);
        }
}

/*  GID ended aborted without the ack of agent NAME, not connected: it
 *  gets decide(aborted) at its next connect.  At most cfg.ended_cache
 *  are kept; beyond, the oldest goes (its agent's restart, or its query
 *  answered by presumed abort, settles it).                              */
void
ce_agent_owe_abort (coord_engine_t *self, const char *name, const char *gid)
{
    ce_agent_t *a = zhashx_lookup (self->agents, name);
    if (!a)
        return;
    if (a->nowed == self->cfg.ended_cache) {
        memmove (a->owed, a->owed + 1, (a->nowed - 1) * sizeof *a->owed);
        a->nowed--;
    }
    if (a->nowed == a->capowed) {
        size_t cap = a->capowed ? a->capowed * 2 : 8;
        void *p = realloc (a->owed, cap * sizeof *a->owed);
        if (!p) {
            self->err = TPC_ENOMEM;
            return;
        }
        a->owed = p;
        a->capowed = cap;
    }
    snprintf (a->owed[a->nowed++], TPC_GID_MAX, "%s", gid);
}

void
ce_agent_gone (coord_engine_t *self, const char *name, const char *why)
{
    ce_agent_t *a = zhashx_lookup (self->agents, name);
    if (a && a->connected) {
        a->connected = false;
        ce_log (self, 1, "agent '%s' gone (%s)", name, why);
    }
}
