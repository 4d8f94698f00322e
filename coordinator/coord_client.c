/*  coord_client: the coordinator engine's client requests (one engine
 *  over several files sharing coord_engine_int.h; the state diagram is in
 *  coord_engine.c).  begin, submit, exec, commit, rollback, status and
 *  list: admission (limits per coordinator and per client), the work and
 *  prepare messages (the 3PC CanCommit), and the replies.  resolve and
 *  summary are operations (coord_ops.c); coord_engine_client_as() routes.
 */
#include "coord_engine_int.h"

/* ---------------------------------------------------------------------
 *  Client requests
 */

/*  Does a begin/submit MSG ask for three-phase commit?                   */
static bool
s_wants_p3 (coord_engine_t *self, const tpc_msg_t *msg)
{
    tpc_proto_t proto = msg->has_protocol ? msg->protocol
                                          : self->cfg.protocol;
    return proto == TPC_PROTO_3PC;
}

static int
s_index_cmp_name (const void *a, const void *b, void *arg)
{
    const ce_txn_t *t = arg;
    return strcmp (t->parts[*(const size_t *) a].name,
                   t->parts[*(const size_t *) b].name);
}

/*  Make MSG (prepare, or work then=prepare) of a 3PC T the CanCommit:
 *  protocol 3pc, every participant's name sorted, and their peer
 *  endpoints as their agents last announced them ("" = none).           */
static void
s_cancommit (coord_engine_t *self, const ce_txn_t *t, tpc_msg_t *msg)
{
    size_t order[TPC_RECORD_PARTS_MAX];
    assert (t->nparts <= TPC_RECORD_PARTS_MAX);
    for (size_t i = 0; i < t->nparts; i++)
        order[i] = i;
    qsort_r (order, t->nparts, sizeof *order, s_index_cmp_name,
             (void *) t);
    msg->protocol = TPC_PROTO_3PC;
    msg->has_protocol = true;
    for (size_t k = 0; k < t->nparts; k++) {
        const char *name = t->parts[order[k]].name;
        ce_agent_t *a = zhashx_lookup (self->agents, name);
        ce_keep_err (self, tpc_msg_strv_push (&msg->parts, &msg->nparts,
                                              name));
        ce_keep_err (self, tpc_msg_strv_push (&msg->peers, &msg->npeers,
                                              a && a->peer ? a->peer : ""));
    }
}

/*  A 3PC T needs every participant's peer endpoint: a CanCommit without
 *  every endpoint would leave the agents unable to run the termination
 *  protocol (found by the simulation, seed 2427: a restarted coordinator
 *  sent one before a hello arrived), so T aborts instead if an agent
 *  announced none.  Returns true if T was aborted (and maybe freed).    */
static bool
s_p3_abort_if_peer_missing (coord_engine_t *self, ce_txn_t *t, uint64_t now)
{
    if (!t->p3)
        return false;
    for (size_t i = 0; i < t->nparts; i++) {
        ce_agent_t *a = zhashx_lookup (self->agents, t->parts[i].name);
        if (!a || !a->peer || !*a->peer) {
            ce_set_reason (self, t, "three-phase commit needs every agent's "
                           "peer endpoint, and '%s' announced none "
                           "(tpc-participant --peer-bind)", t->parts[i].name);
            ce_abort (self, t, now);
            return true;
        }
    }
    return false;
}

static bool
s_admit (coord_engine_t *self, const uint8_t *id, size_t len,
         const tpc_msg_t *msg, const char *owner)
{
    if (msg->has_protocol && msg->protocol != TPC_PROTO_2PC
        && msg->protocol != TPC_PROTO_3PC) {
        ce_reply_error (self, id, len, msg->rid, TPC_EINVAL, NULL,
                        "unknown protocol (use 2pc or 3pc)");
        return false;
    }
    if (zhashx_size (self->txns) >= self->cfg.max_txns) {
        ce_reply_error (self, id, len, msg->rid, TPC_EBUSY, NULL,
                        "%zu transactions in flight (the limit): retry later",
                        zhashx_size (self->txns));
        return false;
    }
    uintptr_t mine = owner ? (uintptr_t) zhashx_lookup (self->owners, owner)
                           : 0;
    if (mine >= self->cfg.max_txns_per_client) {
        ce_reply_error (self, id, len, msg->rid, TPC_EBUSY, NULL,
                        "this client has %zu transactions in flight (the "
                        "limit per client): retry later", (size_t) mine);
        return false;
    }
    return true;
}

/*  A new transaction for a begin or submit that its limits admit, owned
 *  by OWNER; NULL when refused (the client has its error).               */
static ce_txn_t *
s_txn_admit (coord_engine_t *self, const uint8_t *id, size_t len,
             const tpc_msg_t *msg, const char *owner, uint64_t now)
{
    if (!s_admit (self, id, len, msg, owner))
        return NULL;
    ce_txn_t *t = ce_txn_begin (self, msg->timeout_ms, now);
    if (!t) {
        ce_reply_error (self, id, len, msg->rid, TPC_ENOMEM, NULL,
                        "cannot create a transaction");
        return NULL;
    }
    ce_owner_take (self, t, owner);
    return t;
}

void
ce_on_begin (coord_engine_t *self, const uint8_t *id, size_t len,
             const tpc_msg_t *msg, const char *owner, uint64_t now)
{
    ce_txn_t *t = s_txn_admit (self, id, len, msg, owner, now);
    if (!t)
        return;
    t->client_open = true;
    t->p3 = s_wants_p3 (self, msg);
    ce_reschedule (self, t);
    tpc_msg_t *reply = ce_msg (self, TPC_MSG_BEGUN);
    if (!reply)
        return;
    reply->rid = msg->rid;
    ce_keep_err (self, tpc_msg_set_str (&reply->gid, t->gid));
    ce_to_client (self, id, len, reply);
}

void
ce_on_submit (coord_engine_t *self, const uint8_t *id, size_t len,
              const tpc_msg_t *msg, const char *owner, uint64_t now)
{
    const char *names[TPC_RECORD_PARTS_MAX];
    size_t nnames = 0;
    if (msg->nstmts == 0) {
        ce_reply_error (self, id, len, msg->rid, TPC_EINVAL, NULL,
                        "submit needs at least one statement");
        return;
    }
    if (msg->nstmts > self->cfg.max_stmts) {
        ce_reply_error (self, id, len, msg->rid, TPC_ELIMIT, NULL,
                        "submit has %zu statements, over the limit of %zu "
                        "per transaction", msg->nstmts, self->cfg.max_stmts);
        return;
    }
    for (size_t i = 0; i < msg->nstmts; i++) {
        const char *on = msg->stmts[i].on;
        if (!ce_name_valid (on) || !ce_agent_connected (self, on)) {
            ce_reply_error (self, id, len, msg->rid, TPC_EUNKNOWN_PART, NULL,
                            "participant '%s' (statement %zu) is not "
                            "connected", on ? on : "", i + 1);
            return;
        }
        size_t j = 0;
        while (j < nnames && strcmp (names[j], on))
            j++;
        if (j < nnames)
            continue;
        if (nnames == TPC_RECORD_PARTS_MAX) {
            ce_reply_error (self, id, len, msg->rid, TPC_EINVAL, NULL,
                            "more than %d participants", TPC_RECORD_PARTS_MAX);
            return;
        }
        names[nnames++] = on;
    }
    ce_txn_t *t = s_txn_admit (self, id, len, msg, owner, now);
    if (!t)
        return;
    bool onephase = nnames == 1 && !self->cfg.no_onephase;
    t->p3 = !onephase && s_wants_p3 (self, msg);
    t->state = onephase ? CE_ONEPHASE : CE_PREPARING;
    t->prepare_at = now;
    t->must_log_abort = !onephase;
    t->vote_deadline = now + self->cfg.vote_timeout_ms;
    ce_req_set (self, &t->done, id, len, msg->rid);
    for (size_t j = 0; j < nnames; j++) {
        ce_member_t *p = ce_member_add (self, t, names[j]);
        if (p) {
            p->seq = 1;
            p->asked = !onephase;
        }
    }
    if (s_p3_abort_if_peer_missing (self, t, now))
        return;
    for (size_t j = 0; j < t->nparts; j++) {
        tpc_msg_t *work = ce_msg (self, TPC_MSG_WORK);
        if (!work)
            continue;
        work->seq = 1;
        work->then = onephase ? TPC_THEN_COMMIT : TPC_THEN_PREPARE;
        ce_keep_err (self, tpc_msg_set_str (&work->gid, t->gid));
        if (t->p3)
            s_cancommit (self, t, work);
        for (size_t i = 0; i < msg->nstmts; i++) {
            const tpc_stmt_t *s = &msg->stmts[i];
            if (strcmp (s->on, t->parts[j].name) == 0)
                ce_keep_err (self, tpc_msg_add_stmt (
                    work, NULL, s->sql, s->nparams,
                    (const char *const *) s->params));
        }
        ce_to_agent (self, t->parts[j].name, work);
    }
    ce_log (self, 0, "%s: submit, %zu participant(s), %s", t->gid, nnames,
            onephase ? "one phase" : t->p3 ? "three phases" : "two phases");
    ce_reschedule (self, t);
}

void
ce_on_exec (coord_engine_t *self, const uint8_t *id, size_t len,
            const tpc_msg_t *msg, ce_txn_t *t)
{
    if (t->state != CE_ACTIVE) {
        if (t->state == CE_ABORTING)
            ce_reply_error (self, id, len, msg->rid, TPC_EABORTED, t->gid,
                            "transaction aborted: %s",
                            t->reason ? t->reason : "aborted");
        else
            ce_reply_error (self, id, len, msg->rid, TPC_ESTATE, t->gid,
                            "transaction is %s: exec not allowed",
                            ce_state_names[t->state]);
        return;
    }
    if (t->exec.set) {
        ce_reply_error (self, id, len, msg->rid, TPC_EBUSY, t->gid,
                        "an exec is still running in this transaction");
        return;
    }
    if (t->nexec >= self->cfg.max_stmts) {
        ce_reply_error (self, id, len, msg->rid, TPC_ELIMIT, t->gid,
                        "%zu statements ran in this transaction, the limit; "
                        "this one did not run: commit or roll back",
                        t->nexec);
        return;
    }
    if (!ce_name_valid (msg->on) || !ce_agent_connected (self, msg->on)) {
        ce_reply_error (self, id, len, msg->rid, TPC_EUNKNOWN_PART, t->gid,
                        "participant '%s' is not connected",
                        msg->on ? msg->on : "");
        return;
    }
    size_t idx;
    ce_member_t *p = ce_member_find (t, msg->on, &idx);
    if (!p) {
        if (t->nparts == TPC_RECORD_PARTS_MAX) {
            ce_reply_error (self, id, len, msg->rid, TPC_EINVAL, t->gid,
                            "more than %d participants", TPC_RECORD_PARTS_MAX);
            return;
        }
        p = ce_member_add (self, t, msg->on);
        if (!p)
            return;
        idx = t->nparts - 1;
    }
    tpc_msg_t *work = ce_msg (self, TPC_MSG_WORK);
    if (!work)
        return;
    work->seq = ++p->seq;
    work->then = TPC_THEN_NONE;
    ce_keep_err (self, tpc_msg_set_str (&work->gid, t->gid));
    ce_keep_err (self, tpc_msg_add_stmt (work, NULL, msg->sql, msg->nparams,
                                         (const char *const *) msg->params));
    ce_req_set (self, &t->exec, id, len, msg->rid);
    t->exec_part = idx;
    t->exec_seq = work->seq;
    t->nexec++;
    ce_to_agent (self, p->name, work);
}

/*  A commit for T while another request (T->done) waits for T's outcome.
 *  Each request gets exactly one reply: the same request again (a
 *  duplicate: same client, same rid) gets none of its own, as the pending
 *  reply answers it; any other gets an error at once, and the first
 *  requester keeps its outcome.  Returns true if MSG was answered so.    */
static bool
s_commit_pending (coord_engine_t *self, const uint8_t *id, size_t len,
                  const tpc_msg_t *msg, ce_txn_t *t)
{
    if (!t->done.set)
        return false;
    if (t->done.len == len && t->done.rid == msg->rid
        && memcmp (t->done.id, id, len) == 0) {
        ce_log (self, 0, "%s: commit rid %" PRIu64 " again: its outcome is "
                "on the way", t->gid, msg->rid);
        return true;
    }
    ce_reply_error (self, id, len, msg->rid, TPC_EIN_DOUBT, t->gid,
                    "%s is already being committed by another request: its "
                    "outcome is not known yet; ask status", t->gid);
    return true;
}

void
ce_on_commit (coord_engine_t *self, const uint8_t *id, size_t len,
              const tpc_msg_t *msg, ce_txn_t *t, uint64_t now)
{
    if (s_commit_pending (self, id, len, msg, t))
        return;
    switch (t->state) {
    case CE_ACTIVE:
        break;
    case CE_ONEPHASE:
        if (t->outcome_unknown) {
            ce_reply_error (self, id, len, msg->rid, TPC_EIN_DOUBT, t->gid,
                            "one-phase commit on '%s' not acknowledged: "
                            "outcome unknown", t->parts[0].name);
            return;
        }
        ce_req_set (self, &t->done, id, len, msg->rid);   /* a retry */
        return;
    case CE_PREPARING:
    case CE_PRECOMMITTING:
        ce_req_set (self, &t->done, id, len, msg->rid);   /* a retry */
        return;
    case CE_COMMITTING:
        if (t->durable && (t->replied
                           || self->cfg.reply_on == COORD_REPLY_ON_DECISION))
            ce_reply_outcome (self, id, len, msg->rid, t->gid,
                              TPC_OUTCOME_COMMITTED, NULL);
        else
            ce_req_set (self, &t->done, id, len, msg->rid);
        return;
    case CE_ABORTING:
        ce_reply_outcome (self, id, len, msg->rid, t->gid, TPC_OUTCOME_ABORTED,
                          t->reason);
        t->client_open = false;
        ce_abort_settle (self, t, now);
        return;
    }
    if (t->exec.set) {
        ce_reply_error (self, id, len, msg->rid, TPC_ESTATE, t->gid,
                        "an exec is still running in this transaction");
        return;
    }
    t->client_open = false;
    ce_req_set (self, &t->done, id, len, msg->rid);
    if (t->nparts == 0) {
        ce_answer_done (self, t, TPC_OUTCOME_COMMITTED, NULL);
        ce_forget (self, t, CE_END_COMMITTED);
        return;
    }
    for (size_t i = 0; i < t->nparts; i++)
        if (!ce_agent_connected (self, t->parts[i].name)) {
            ce_set_reason (self, t, "participant '%s' is not connected",
                           t->parts[i].name);
            ce_abort (self, t, now);
            return;
        }
    t->vote_deadline = now + self->cfg.vote_timeout_ms;
    t->prepare_at = now;
    if (t->nparts == 1 && !self->cfg.no_onephase) {
        ce_member_t *p = &t->parts[0];
        tpc_msg_t *work = ce_msg (self, TPC_MSG_WORK);
        if (work) {
            work->seq = ++p->seq;
            work->then = TPC_THEN_COMMIT;
            ce_keep_err (self, tpc_msg_set_str (&work->gid, t->gid));
            ce_to_agent (self, p->name, work);
        }
        t->state = CE_ONEPHASE;
    }
    else {
        if (s_p3_abort_if_peer_missing (self, t, now))
            return;
        for (size_t i = 0; i < t->nparts; i++) {
            tpc_msg_t *prep = ce_msg (self, TPC_MSG_PREPARE);
            if (!prep)
                continue;
            ce_keep_err (self, tpc_msg_set_str (&prep->gid, t->gid));
            if (t->p3)
                s_cancommit (self, t, prep);
            t->parts[i].asked = true;
            ce_to_agent (self, t->parts[i].name, prep);
        }
        t->state = CE_PREPARING;
        t->must_log_abort = true;
    }
    ce_reschedule (self, t);
}

void
ce_on_rollback (coord_engine_t *self, const uint8_t *id, size_t len,
                const tpc_msg_t *msg, ce_txn_t *t, uint64_t now)
{
    switch (t->state) {
    case CE_ACTIVE:
    case CE_PREPARING:
        t->client_open = false;
        ce_reply_outcome (self, id, len, msg->rid, t->gid, TPC_OUTCOME_ABORTED,
                          "rolled back by the client");
        ce_set_reason (self, t, "rolled back by the client");
        ce_abort (self, t, now);
        return;
    case CE_ONEPHASE:
        ce_reply_error (self, id, len, msg->rid, TPC_EIN_DOUBT, t->gid,
                        "one-phase commit in progress: too late to roll back");
        return;
    case CE_COMMITTING:
        ce_reply_error (self, id, len, msg->rid, TPC_ESTATE, t->gid,
                        "transaction is committed: too late to roll back");
        return;
    case CE_PRECOMMITTING:
        ce_reply_error (self, id, len, msg->rid, TPC_ESTATE, t->gid,
                        "transaction is pre-committed (three-phase commit): "
                        "too late to roll back");
        return;
    case CE_ABORTING:
        ce_reply_outcome (self, id, len, msg->rid, t->gid, TPC_OUTCOME_ABORTED,
                          t->reason);
        t->client_open = false;
        ce_abort_settle (self, t, now);
        return;
    }
}

/*  commit/rollback/exec for a gid that is not live.                      */
void
ce_on_gone_gid (coord_engine_t *self, const uint8_t *id, size_t len,
                const tpc_msg_t *msg)
{
    ce_end_t end = ce_recall (self, msg->gid);
    if (msg->type == TPC_MSG_COMMIT && end == CE_END_COMMITTED)
        ce_reply_outcome (self, id, len, msg->rid, msg->gid,
                          TPC_OUTCOME_COMMITTED, NULL);
    else if (msg->type != TPC_MSG_EXEC && end == CE_END_ABORTED)
        ce_reply_outcome (self, id, len, msg->rid, msg->gid,
                          TPC_OUTCOME_ABORTED, NULL);
    else if (msg->type == TPC_MSG_EXEC && end == CE_END_ABORTED)
        ce_reply_error (self, id, len, msg->rid, TPC_EABORTED, msg->gid,
                        "transaction aborted");
    else if (end == CE_END_COMMITTED)
        ce_reply_error (self, id, len, msg->rid, TPC_ESTATE, msg->gid,
                        "transaction already committed");
    else if (end == CE_END_UNKNOWN)
        ce_reply_error (self, id, len, msg->rid, TPC_EIN_DOUBT, msg->gid,
                        "one-phase commit never acknowledged: outcome "
                        "unknown");
    else
        ce_reply_error (self, id, len, msg->rid, TPC_EUNKNOWN_GID, msg->gid,
                        "no such transaction");
}

void
ce_on_status (coord_engine_t *self, const uint8_t *id, size_t len,
              const tpc_msg_t *msg)
{
    ce_view_t v = ce_view (self, msg->gid);
    if (v.foreign) {
        ce_reply_error (self, id, len, msg->rid, TPC_EUNKNOWN_GID, msg->gid,
                        "gid does not belong to coordinator '%s'",
                        self->coord_id);
        return;
    }
    /* Neither live nor remembered, of an earlier boot (a crash before the
     * decision, or ended long ago): the reply waits for the agents' check
     * of their markers, as an agent's query does (coord_ask.c).          */
    if (ce_ask_status (self, id, len, msg->rid, msg->gid, &v))
        return;
    if (!strcmp (v.state, "unknown")) {
        /* Of this boot, forgotten (or never issued).  Presumed abort is
         * right for an agent (none holds an ended gid prepared) but not
         * for a client: the gid may have committed and been forgotten.
         * Never tell a client "aborted" without knowing it.              */
        ce_reply_error (self, id, len, msg->rid, TPC_EUNKNOWN_GID, msg->gid,
                        "outcome no longer known to the coordinator (ended "
                        "long ago or never issued); the participants' "
                        "tpc_marker tables hold the truth: SELECT kind FROM "
                        "tpc_marker WHERE gid = '%s' on each participant's "
                        "database: 'C' = committed; 'T' or no row = not "
                        "committed unless pg_prepared_xacts still lists it",
                        msg->gid);
        return;
    }
    ce_txn_t *t = ce_txn_lookup (self, msg->gid);
    ce_reply_status (self, id, len, msg->rid, msg->gid, v.state, v.outcome,
                     t && t->state == CE_ABORTING ? t->reason : NULL);
}

/*  Does T wait for its member P (a worked, a vote, an ack, a
 *  precommitted)?  What `list` and `show` name as "waiting for".        */
bool
ce_waits_for (coord_engine_t *self, const ce_txn_t *t, size_t i)
{
    const ce_member_t *p = &t->parts[i];
    switch (t->state) {
    case CE_ACTIVE:
        return t->exec.set && t->exec_part == i;
    case CE_PREPARING:
        return p->asked && p->vote == TPC_VOTE_NONE;
    case CE_ONEPHASE:
        return !p->acked;
    case CE_COMMITTING:
        return t->durable && p->phase2 && !p->acked;
    case CE_ABORTING:
        return ce_abort_waits_for (self, p);
    case CE_PRECOMMITTING:
        return t->pc_durable && p->phase2 && !p->precommitted;
    }
    return false;
}

void
ce_on_list (coord_engine_t *self, const uint8_t *id, size_t len,
            const tpc_msg_t *msg, uint64_t now)
{
    size_t n;
    ce_txn_t **v = ce_sorted (self, &n);
    tpc_msg_t *reply = ce_msg (self, TPC_MSG_TXLIST);
    if (!v || !reply)
        goto cleanup;
    reply->rid = msg->rid;
    if (n > self->cfg.list_max)
        n = self->cfg.list_max;
    if (n > 0) {
        reply->txns = calloc (n, sizeof *reply->txns);
        if (!reply->txns) {
            self->err = TPC_ENOMEM;
            goto cleanup;
        }
    }
    for (size_t i = 0; i < n; i++) {
        tpc_txinfo_t *info = &reply->txns[reply->ntxns++];
        const ce_txn_t *t = v[i];
        info->age_ms = now > t->created ? now - t->created : 0;
        ce_keep_err (self, tpc_msg_set_str (&info->gid, t->gid));
        ce_keep_err (self, tpc_msg_set_str (&info->state,
                                            ce_state_names[t->state]));
        for (size_t j = 0; j < t->nparts; j++) {
            ce_keep_err (self, tpc_msg_strv_push (&info->parts, &info->nparts,
                                                  t->parts[j].name));
            if (ce_waits_for (self, t, j))
                ce_keep_err (self, tpc_msg_strv_push (&info->waiting,
                                                      &info->nwaiting,
                                                      t->parts[j].name));
        }
    }
    ce_to_client (self, id, len, reply);
    reply = NULL;
cleanup:
    tpc_msg_destroy (&reply);
    free (v);
}
