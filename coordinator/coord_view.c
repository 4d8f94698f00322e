/*  coord_view: the operator console's copy of the engine's state
 *  (coord_engine.h, "The operator console's view").
 *
 *  Still part of the pure engine: the loop calls coord_engine_view() when
 *  the console asked for a fresh view, and hands the copy to the HTTP
 *  threads, which never touch the engine.  A view is bounded: at most
 *  MAX_TXNS transactions (the oldest first, in gid order), every agent,
 *  the gids each agent's last hello listed (the agent caps those: its
 *  hello_max_gids, 256 by default) and the operator resolves remembered.
 *
 *  Comparing an agent's database with the log, per prepared gid there:
 *    unknown   this coordinator's gid, not live, no outcome remembered
 *              (ended cache, resolves): ce_view() says "unknown"
 *    decided   live with an outcome (committing durable, aborting) or
 *              ended or resolved: the database has yet to apply it
 *  A gid of another coordinator is neither.
 */
#include "coord_engine_int.h"

static uint64_t
s_since (uint64_t at, uint64_t created)
{
    return at ? (at > created ? at - created : 0) : COORD_NEVER;
}

static bool
s_in_doubt (const ce_txn_t *t)
{
    bool doubt = t->state == CE_COMMITTING || t->state == CE_PRECOMMITTING
                 || (t->state == CE_ONEPHASE && t->outcome_unknown);
    for (size_t i = 0; !doubt && t->state == CE_PREPARING && i < t->nparts;
         i++)
        doubt = t->parts[i].vote == TPC_VOTE_YES;
    return doubt;
}

/*  Fill V from live transaction T.  0 or TPC_ENOMEM.                     */
static int
s_txn (coord_engine_t *self, const ce_txn_t *t, coord_view_txn_t *v,
       uint64_t now)
{
    snprintf (v->gid, sizeof v->gid, "%s", t->gid);
    v->state = ce_state_names[t->state];
    ce_view_t cv = ce_view (self, t->gid);
    v->outcome = cv.outcome;
    v->age_ms = now > t->created ? now - t->created : 0;
    v->in_doubt = s_in_doubt (t);
    v->backoff = ((t->state == CE_COMMITTING && t->durable)
                  || (t->state == CE_ABORTING && !t->lingered)
                  || (t->state == CE_PRECOMMITTING && t->pc_durable))
                 && t->nunacked > 0;
    snprintf (v->reason, sizeof v->reason, "%s", t->reason ? t->reason : "");
    v->prepare_at = s_since (t->prepare_at, t->created);
    v->voted_at = s_since (t->voted_at, t->created);
    v->decided_at = s_since (t->decided_at, t->created);
    v->durable_at = s_since (t->durable_at, t->created);
    v->aborted_at = s_since (t->aborted_at, t->created);
    v->parts = t->nparts ? calloc (t->nparts, sizeof *v->parts) : NULL;
    if (t->nparts && !v->parts)
        return TPC_ENOMEM;
    v->nparts = t->nparts;
    for (size_t i = 0; i < t->nparts; i++) {
        const ce_member_t *p = &t->parts[i];
        coord_view_part_t *q = &v->parts[i];
        snprintf (q->name, sizeof q->name, "%s", p->name);
        q->vote = p->vote;
        q->acked = p->acked;
        q->waiting = ce_waits_for (self, t, i);
        q->vote_at = s_since (p->vote_at, t->created);
        q->ack_at = s_since (p->ack_at, t->created);
        if (q->waiting && !ce_agent_connected (self, p->name))
            v->waiting = true;
    }
    if (v->backoff)
        v->waiting = true;
    return 0;
}

/*  Fill V from agent A; COUNTS maps agent names to live transactions.   */
static int
s_agent (coord_engine_t *self, const ce_agent_t *a, coord_view_agent_t *v,
         zhashx_t *counts, uint64_t now)
{
    snprintf (v->name, sizeof v->name, "%s", a->name);
    v->connected = a->connected;
    v->hello_ago_ms = a->last_hello && now > a->last_hello
                      ? now - a->last_hello : 0;
    snprintf (v->peer, sizeof v->peer, "%s", a->peer ? a->peer : "");
    v->in_flight = (size_t) (uintptr_t) zhashx_lookup (counts, a->name);
    v->prepared_ago_ms = a->prepared_at ? (now > a->prepared_at
                                           ? now - a->prepared_at : 0)
                                        : COORD_NEVER;
    for (size_t i = 0; i < a->nprepared; i++) {
        const char *gid = a->prepared[i];
        if (tpc_msg_strv_push (&v->prepared, &v->nprepared, gid))
            return TPC_ENOMEM;
        ce_view_t cv = ce_view (self, gid);
        if (cv.foreign)
            continue;
        int rc = 0;
        if (!strcmp (cv.state, "unknown"))
            rc = tpc_msg_strv_push (&v->unknown, &v->nunknown, gid);
        else if (cv.outcome == TPC_OUTCOME_COMMITTED
                 || cv.outcome == TPC_OUTCOME_ABORTED)
            rc = tpc_msg_strv_push (&v->decided, &v->ndecided, gid);
        if (rc)
            return TPC_ENOMEM;
    }
    return 0;
}

static int
s_agents (coord_engine_t *self, coord_view_t *v, uint64_t now)
{
    int rc = TPC_ENOMEM;
    zhashx_t *counts = zhashx_new ();
    size_t n = zhashx_size (self->agents);
    v->agents = n ? calloc (n, sizeof *v->agents) : NULL;
    if (!counts || (n && !v->agents))
        goto cleanup;
    for (ce_txn_t *t = zhashx_first (self->txns); t;
         t = zhashx_next (self->txns))
        for (size_t i = 0; i < t->nparts; i++) {
            uintptr_t c = (uintptr_t) zhashx_lookup (counts, t->parts[i].name);
            zhashx_update (counts, t->parts[i].name, (void *) (c + 1));
        }
    for (ce_agent_t *a = zhashx_first (self->agents); a && v->nagents < n;
         a = zhashx_next (self->agents))
        if (s_agent (self, a, &v->agents[v->nagents++], counts, now))
            goto cleanup;
    rc = 0;
cleanup:
    zhashx_destroy (&counts);
    return rc;
}

static int
s_resolves (coord_engine_t *self, coord_view_t *v, uint64_t now)
{
    size_t n = zhashx_size (self->heuristics);
    v->resolves = n ? calloc (n, sizeof *v->resolves) : NULL;
    if (n && !v->resolves)
        return TPC_ENOMEM;
    for (ce_heur_t *h = zhashx_first (self->heuristics); h && v->nresolves < n;
         h = zhashx_next (self->heuristics)) {
        coord_view_resolve_t *r = &v->resolves[v->nresolves++];
        snprintf (r->gid, sizeof r->gid, "%s",
                  (const char *) zhashx_cursor (self->heuristics));
        r->outcome = h->outcome;
        snprintf (r->reason, sizeof r->reason, "%s", h->reason);
        r->ago_ms = h->at ? (now > h->at ? now - h->at : 0) : COORD_NEVER;
    }
    return 0;
}

coord_view_t *
coord_engine_view (coord_engine_t *self, size_t max_txns, uint64_t now)
{
    coord_view_t *v = calloc (1, sizeof *v);
    size_t n = 0;
    ce_txn_t **all = v ? ce_sorted (self, &n) : NULL;
    if (!all)
        goto fail;
    coord_engine_stats (self, &v->stats);
    ce_count_in_doubt (self, now, &v->oldest_in_doubt_ms);
    v->epoch = self->epoch;
    v->live = n;
    size_t keep = n < max_txns ? n : max_txns;
    v->txns = keep ? calloc (keep, sizeof *v->txns) : NULL;
    if (keep && !v->txns)
        goto fail;
    for (size_t i = 0; i < keep; i++)
        if (s_txn (self, all[i], &v->txns[v->ntxns++], now))
            goto fail;
    if (s_agents (self, v, now) || s_resolves (self, v, now))
        goto fail;
    free (all);
    return v;
fail:
    free (all);
    coord_view_destroy (&v);
    return NULL;
}

void
coord_view_destroy (coord_view_t **self_p)
{
    coord_view_t *v = *self_p;
    if (!v)
        return;
    for (size_t i = 0; i < v->ntxns; i++)
        free (v->txns[i].parts);
    for (size_t i = 0; i < v->nagents; i++) {
        coord_view_agent_t *a = &v->agents[i];
        tpc_strv_free (&a->prepared, a->nprepared);
        tpc_strv_free (&a->unknown, a->nunknown);
        tpc_strv_free (&a->decided, a->ndecided);
    }
    free (v->txns);
    free (v->agents);
    free (v->resolves);
    free (v);
    *self_p = NULL;
}
