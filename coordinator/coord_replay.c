/*  coord_replay: the coordinator engine's walks over the log (one engine
 *  over several files sharing coord_engine_int.h; the state diagram is in
 *  coord_engine.c).  coord_engine_replay() rebuilds the live transactions,
 *  the ended cache and the resolved gids from the records of the log
 *  before coord_engine_start(); coord_engine_note_cut() learns agents from
 *  a cut tail; the foreach walks give a checkpoint what it must carry
 *  (decided, pre-committed and resolved gids).
 */
#include "coord_engine_int.h"

/*  Replay: does an operator's HEURISTIC REC contradict what the log
 *  decided before it (an end, or the live decided transaction T)?        */
static bool
s_replay_contradicts (coord_engine_t *self, const tpc_record_t *rec,
                      const ce_txn_t *t)
{
    bool commit = rec->outcome == 1;
    ce_end_t end = ce_recall (self, rec->gid);
    if ((end == CE_END_COMMITTED && !commit)
        || (end == CE_END_ABORTED && commit))
        return true;
    return t && t->state == CE_COMMITTING && !commit;
}

/*  Replay: the log decided GID's OUTCOME.  An operator's heuristic that
 *  says otherwise cannot be right (a resolve only ever confirmed a
 *  decision; a log written before that check may hold one recorded for a
 *  gid not issued yet, which a later transaction then got): the logged
 *  outcome wins and the heuristic is dropped, so the next checkpoint no
 *  longer carries it.                                                     */
static void
s_heur_contradicted (coord_engine_t *self, const char *gid,
                     tpc_outcome_t outcome)
{
    ce_heur_t *h = zhashx_lookup (self->heuristics, gid);
    if (!h || h->outcome == outcome)
        return;
    ce_log (self, 1, "%s: the log holds a HEURISTIC %s (%s) and the decision "
            "%s: the decision wins, the heuristic is dropped", gid,
            tpc_outcome_name (h->outcome), h->reason,
            tpc_outcome_name (outcome));
    zhashx_delete (self->heuristics, gid);
}

/*  Replay a COMMIT record: the gid is decided, its phase 2 to drive (a
 *  3PC one pre-committed before, or a checkpoint's copy kept as is).     */
static void
s_replay_commit (coord_engine_t *self, const tpc_record_t *rec)
{
    s_heur_contradicted (self, rec->gid, TPC_OUTCOME_COMMITTED);
    ce_txn_t *t = ce_txn_lookup (self, rec->gid);
    if (t && t->state != CE_PRECOMMITTING)
        return;                 /* a checkpoint's copy */
    if (t) {                /* 3PC: pre-committed, then decided */
        self->precommitting--;
        t->state = CE_COMMITTING;
        for (size_t i = 0; i < t->nparts; i++)
            t->parts[i].phase2 = false;
    }
    else if (!(t = ce_txn_add (self, rec->gid, CE_COMMITTING)))
        return;
    t->durable = true;
    t->nunacked = 0;
    for (size_t i = 0; i < rec->nparts; i++) {
        ce_member_t *p = ce_member_find (t, rec->parts[i], NULL);
        if (!p)
            p = ce_member_add (self, t, rec->parts[i]);
        if (p) {
            p->vote = TPC_VOTE_YES;
            p->phase2 = true;
            t->nunacked++;
        }
    }
    self->committing++;
    if (t->nunacked == 0)       /* cannot happen: COMMIT names its voters */
        ce_forget (self, t, CE_END_COMMITTED);
}

/*  Replay a PRECOMMIT record: 3PC, pre-committed, undecided unless a
 *  later record says more.                                               */
static void
s_replay_precommit (coord_engine_t *self, const tpc_record_t *rec)
{
    if (ce_txn_lookup (self, rec->gid) || ce_recall (self, rec->gid))
        return;                 /* a checkpoint's copy, or decided */
    ce_txn_t *t = ce_txn_add (self, rec->gid, CE_PRECOMMITTING);
    if (!t)
        return;
    t->p3 = true;
    t->pc_durable = true;
    t->must_log_abort = true;
    self->precommitting++;
    for (size_t i = 0; i < rec->nparts; i++) {
        ce_member_t *p = ce_member_add (self, t, rec->parts[i]);
        if (p) {
            p->vote = TPC_VOTE_YES;
            p->asked = true;
            p->phase2 = true;
            t->nunacked++;
        }
    }
    if (t->nunacked == 0)       /* cannot happen: it names the yes voters */
        ce_forget (self, t, CE_END_ABORTED);
}

/*  Replay a HEURISTIC record: an operator's resolve is a decision; a
 *  heuristic outcome an agent reported is history only.                  */
static void
s_replay_heuristic (coord_engine_t *self, const tpc_record_t *rec)
{
    if (strncmp (rec->reason, CE_RESOLVE_TAG, strlen (CE_RESOLVE_TAG)))
        return;
    ce_txn_t *t = ce_txn_lookup (self, rec->gid);
    if (s_replay_contradicts (self, rec, t)) {
        ce_log (self, 1, "%s: HEURISTIC %s (%s) contradicts the decision "
                "logged before it: ignored", rec->gid,
                rec->outcome == 1 ? "committed" : "aborted", rec->reason);
        return;
    }
    ce_heur_set (self, rec->gid, rec->outcome == 1
                 ? TPC_OUTCOME_COMMITTED : TPC_OUTCOME_ABORTED,
                 rec->reason);
    if (t && rec->outcome == 1)
        ce_forget (self, t, CE_END_COMMITTED);   /* its END may be lost */
    else if (t && t->state == CE_PRECOMMITTING)
        ce_forget (self, t, CE_END_ABORTED);
}

int
coord_engine_replay (coord_engine_t *self, const tpc_record_t *rec)
{
    if (self->started)
        return TPC_ESTATE;
    ce_ask_note_parts (self, rec);
    ce_txn_t *t;
    switch (rec->type) {
    case TPC_REC_EPOCH:
        if (rec->epoch > self->replayed_epoch)
            self->replayed_epoch = rec->epoch;
        break;
    case TPC_REC_COMMIT:
        s_replay_commit (self, rec);
        break;
    case TPC_REC_END:
        s_heur_contradicted (self, rec->gid, TPC_OUTCOME_COMMITTED);
        t = ce_txn_lookup (self, rec->gid);
        if (t)
            ce_forget (self, t, CE_END_COMMITTED);
        else
            ce_remember (self, rec->gid, CE_END_COMMITTED);
        break;
    case TPC_REC_ABORT:
        s_heur_contradicted (self, rec->gid, TPC_OUTCOME_ABORTED);
        t = ce_txn_lookup (self, rec->gid);
        if (t && t->state == CE_PRECOMMITTING)
            ce_forget (self, t, CE_END_ABORTED);
        else if (!t)
            ce_remember (self, rec->gid, CE_END_ABORTED);
        break;
    case TPC_REC_PRECOMMIT:
        s_replay_precommit (self, rec);
        break;
    case TPC_REC_HEURISTIC:
        s_replay_heuristic (self, rec);
        break;
    default:
        break;
    }
    int rc = self->err;
    self->err = 0;
    return rc;
}

int
coord_engine_note_cut (coord_engine_t *self, const tpc_record_t *rec)
{
    if (self->started)
        return TPC_ESTATE;
    ce_ask_note_parts (self, rec);
    int rc = self->err;
    self->err = 0;
    return rc;
}

int
coord_engine_foreach_resolved (coord_engine_t *self, coord_decided_fn *fn,
                               void *arg)
{
    int rc = 0;
    tpc_record_t *rec = malloc (sizeof *rec);
    if (!rec)
        return TPC_ENOMEM;
    for (ce_heur_t *h = zhashx_first (self->heuristics); h && rc == 0;
         h = zhashx_next (self->heuristics)) {
        memset (rec, 0, sizeof *rec);
        rec->type = TPC_REC_HEURISTIC;
        snprintf (rec->gid, sizeof rec->gid, "%s",
                  (const char *) zhashx_cursor (self->heuristics));
        rec->outcome = h->outcome == TPC_OUTCOME_COMMITTED ? 1 : 2;
        snprintf (rec->reason, sizeof rec->reason, "%s", h->reason);
        rc = fn (arg, rec, 0);
    }
    free (rec);
    return rc;
}

/*  Walk the live transactions in STATE in gid order, each as a record of
 *  TYPE naming its phase-2 participants.                                  */
static int
s_foreach_state (coord_engine_t *self, ce_state_t state, tpc_rec_type_t type,
                 coord_decided_fn *fn, void *arg)
{
    size_t n;
    int rc = 0;
    ce_txn_t **v = ce_sorted (self, &n);
    tpc_record_t *rec = malloc (sizeof *rec);
    if (!v || !rec) {
        rc = TPC_ENOMEM;
        goto cleanup;
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        const ce_txn_t *t = v[i];
        if (t->state != state)
            continue;
        memset (rec, 0, sizeof *rec);
        rec->type = type;
        snprintf (rec->gid, sizeof rec->gid, "%s", t->gid);
        size_t nacked = 0;
        for (size_t j = 0; j < t->nparts; j++)
            if (t->parts[j].phase2) {
                snprintf (rec->parts[rec->nparts++], TPC_RECORD_NAME_MAX,
                          "%s", t->parts[j].name);
                nacked += state == CE_PRECOMMITTING ? t->parts[j].precommitted
                                                   : t->parts[j].acked;
            }
        rc = fn (arg, rec, nacked);
    }
cleanup:
    self->err = 0;
    free (rec);
    free (v);
    return rc;
}

int
coord_engine_foreach_precommitting (coord_engine_t *self,
                                    coord_decided_fn *fn, void *arg)
{
    return s_foreach_state (self, CE_PRECOMMITTING, TPC_REC_PRECOMMIT, fn,
                            arg);
}

int
coord_engine_foreach_decided (coord_engine_t *self, coord_decided_fn *fn,
                              void *arg)
{
    return s_foreach_state (self, CE_COMMITTING, TPC_REC_COMMIT, fn, arg);
}
