/*  coord_metrics: atomic counters rendered for Prometheus (see
 *  coord_metrics.h for the metrics; coord_http serves them).
 *
 *  A histogram keeps one atomic count per bucket (not cumulative), an
 *  atomic count and an atomic sum in microseconds; rendering reads them
 *  without a lock, so one scrape may see a sample counted in _count and
 *  not yet in its bucket (never the reverse order of magnitude), which
 *  Prometheus tolerates.                                                 */
#include "coord_metrics.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tpc_error.h"

#define S_NBUCKETS 14           /* 13 bounds and +Inf */

static const double s_bounds[S_NBUCKETS - 1] = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10
};

typedef struct {
    _Atomic uint64_t bucket[S_NBUCKETS];
    _Atomic uint64_t count;
    _Atomic uint64_t sum_us;
} s_hist_t;

enum { S_COMMITTED, S_ABORTED, S_UNKNOWN, S_NOUTCOMES };
enum { S_PREPARE, S_PRECOMMIT, S_DECIDE, S_COMMIT, S_NPHASES };

struct coord_metrics {
    _Atomic uint64_t ended[S_NOUTCOMES];
    s_hist_t txn, phase[S_NPHASES], sync;
    _Atomic uint64_t syncs, decides, decide_frames;
    _Atomic uint64_t in_flight, in_doubt, heuristic, agents, agent_connects;
    _Atomic uint64_t store_writes, store_fenced, epoch, fence_rev;
};

static const char *s_outcome_label[S_NOUTCOMES] = {
    "committed", "aborted", "unknown"
};
static const char *s_phase_label[S_NPHASES] = {
    "prepare", "precommit", "decide", "commit"
};

static void
s_observe (s_hist_t *h, uint64_t us)
{
    double sec = (double) us / 1e6;
    int b = 0;
    while (b < S_NBUCKETS - 1 && sec > s_bounds[b])
        b++;
    atomic_fetch_add_explicit (&h->bucket[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit (&h->sum_us, us, memory_order_relaxed);
    atomic_fetch_add_explicit (&h->count, 1, memory_order_relaxed);
}

void
coord_metrics_ended (coord_metrics_t *self, const coord_action_t *act)
{
    if (!self)
        return;
    int o = act->outcome == TPC_OUTCOME_COMMITTED ? S_COMMITTED
          : act->outcome == TPC_OUTCOME_ABORTED ? S_ABORTED : S_UNKNOWN;
    atomic_fetch_add_explicit (&self->ended[o], 1, memory_order_relaxed);
    s_observe (&self->txn, act->age_ms * 1000);
    const uint64_t ms[S_NPHASES] = { act->prepare_ms, act->precommit_ms,
                                     act->decide_ms, act->commit_ms };
    for (int i = 0; i < S_NPHASES; i++)
        if (ms[i] != COORD_NEVER)
            s_observe (&self->phase[i], ms[i] * 1000);
}

void
coord_metrics_sync (coord_metrics_t *self, uint64_t us)
{
    if (!self)
        return;
    atomic_fetch_add_explicit (&self->syncs, 1, memory_order_relaxed);
    s_observe (&self->sync, us);
}

void
coord_metrics_decides (coord_metrics_t *self, uint64_t frames, uint64_t gids)
{
    if (!self)
        return;
    atomic_fetch_add_explicit (&self->decide_frames, frames,
                               memory_order_relaxed);
    atomic_fetch_add_explicit (&self->decides, gids, memory_order_relaxed);
}

void
coord_metrics_publish (coord_metrics_t *self,
                       const coord_engine_stats_t *st)
{
    if (!self)
        return;
    atomic_store_explicit (&self->in_flight, st->live, memory_order_relaxed);
    atomic_store_explicit (&self->in_doubt, st->in_doubt,
                           memory_order_relaxed);
    atomic_store_explicit (&self->heuristic, st->heuristic,
                           memory_order_relaxed);
    atomic_store_explicit (&self->agents, st->agents_connected,
                           memory_order_relaxed);
    atomic_store_explicit (&self->agent_connects, st->agent_connects,
                           memory_order_relaxed);
}

void
coord_metrics_store (coord_metrics_t *self, uint64_t writes, uint64_t fenced,
                     uint64_t epoch, uint64_t fence_rev)
{
    if (!self)
        return;
    atomic_store_explicit (&self->store_writes, writes, memory_order_relaxed);
    atomic_store_explicit (&self->store_fenced, fenced, memory_order_relaxed);
    atomic_store_explicit (&self->epoch, epoch, memory_order_relaxed);
    atomic_store_explicit (&self->fence_rev, fence_rev, memory_order_relaxed);
}

/* ---------------------------------------------------------------------
 *  Rendering
 */

typedef struct {
    char *p;
    size_t n, cap;
    bool failed;
} s_buf_t;

static void
s_put (s_buf_t *b, const char *fmt, ...) __attribute__ ((format (printf, 2,
                                                                 3)));

static void
s_put (s_buf_t *b, const char *fmt, ...)
{
    for (int attempt = 0; attempt < 2 && !b->failed; attempt++) {
        va_list ap;
        va_start (ap, fmt);
        int n = vsnprintf (b->p + b->n, b->cap - b->n, fmt, ap);
        va_end (ap);
        if (n < 0) {
            b->failed = true;
            return;
        }
        if ((size_t) n < b->cap - b->n) {
            b->n += (size_t) n;
            return;
        }
        size_t cap = (b->cap + (size_t) n) * 2;
        char *p = realloc (b->p, cap);
        if (!p) {
            b->failed = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
}

static uint64_t
s_get (_Atomic uint64_t *v)
{
    return atomic_load_explicit (v, memory_order_relaxed);
}

/*  NAME's series (LABEL may be "" or `phase="x"`).                       */
static void
s_put_hist (s_buf_t *b, const char *name, const char *label, s_hist_t *h)
{
    uint64_t cum = 0;
    for (int i = 0; i < S_NBUCKETS; i++) {
        cum += s_get (&h->bucket[i]);
        char le[32];
        if (i < S_NBUCKETS - 1)
            snprintf (le, sizeof le, "%g", s_bounds[i]);
        else
            snprintf (le, sizeof le, "+Inf");
        s_put (b, "%s_bucket{%s%sle=\"%s\"} %" PRIu64 "\n", name, label,
               *label ? "," : "", le, cum);
    }
    uint64_t sum = s_get (&h->sum_us);
    s_put (b, "%s_sum%s%s%s %" PRIu64 ".%06" PRIu64 "\n", name,
           *label ? "{" : "", label, *label ? "}" : "", sum / 1000000,
           sum % 1000000);
    s_put (b, "%s_count%s%s%s %" PRIu64 "\n", name, *label ? "{" : "",
           label, *label ? "}" : "", s_get (&h->count));
}

static void
s_render (coord_metrics_t *self, s_buf_t *b)
{
    s_put (b, "# HELP tpc_transactions_total Transactions ended, by "
           "outcome.\n# TYPE tpc_transactions_total counter\n");
    for (int i = 0; i < S_NOUTCOMES; i++)
        s_put (b, "tpc_transactions_total{outcome=\"%s\"} %" PRIu64 "\n",
               s_outcome_label[i], s_get (&self->ended[i]));
    s_put (b, "# HELP tpc_transaction_seconds From begin to end.\n"
           "# TYPE tpc_transaction_seconds histogram\n");
    s_put_hist (b, "tpc_transaction_seconds", "", &self->txn);
    s_put (b, "# HELP tpc_phase_seconds Phases of a commit: prepare "
           "(prepares sent to every vote in), precommit (3PC: every vote in "
           "to every participant pre-committed), decide (to the COMMIT "
           "record durable), commit (durable to every ack).\n"
           "# TYPE tpc_phase_seconds histogram\n");
    for (int i = 0; i < S_NPHASES; i++) {
        char label[32];
        snprintf (label, sizeof label, "phase=\"%s\"", s_phase_label[i]);
        s_put_hist (b, "tpc_phase_seconds", label, &self->phase[i]);
    }
    s_put (b, "# HELP tpc_decides_total Decisions sent to agents (one per "
           "gid and agent).\n# TYPE tpc_decides_total counter\n"
           "tpc_decides_total %" PRIu64 "\n", s_get (&self->decides));
    s_put (b, "# HELP tpc_decide_frames_total Frames that carried the "
           "decisions to agents (decide, decides).\n"
           "# TYPE tpc_decide_frames_total counter\n"
           "tpc_decide_frames_total %" PRIu64 "\n",
           s_get (&self->decide_frames));
    s_put (b, "# HELP tpc_log_fdatasyncs_total fdatasync calls on the "
           "decision log (group commit: one covers many decisions).\n"
           "# TYPE tpc_log_fdatasyncs_total counter\n"
           "tpc_log_fdatasyncs_total %" PRIu64 "\n", s_get (&self->syncs));
    s_put (b, "# HELP tpc_log_sync_seconds Duration of a decision log "
           "sync.\n# TYPE tpc_log_sync_seconds histogram\n");
    s_put_hist (b, "tpc_log_sync_seconds", "", &self->sync);
    s_put (b, "# HELP tpc_transactions_in_flight Live transactions.\n"
           "# TYPE tpc_transactions_in_flight gauge\n"
           "tpc_transactions_in_flight %" PRIu64 "\n"
           "# HELP tpc_transactions_in_doubt Prepared somewhere, not yet "
           "applied everywhere.\n"
           "# TYPE tpc_transactions_in_doubt gauge\n"
           "tpc_transactions_in_doubt %" PRIu64 "\n"
           "# HELP tpc_heuristic_resolutions Transactions an operator "
           "resolved by force.\n# TYPE tpc_heuristic_resolutions gauge\n"
           "tpc_heuristic_resolutions %" PRIu64 "\n"
           "# HELP tpc_agents_connected Agents connected now.\n"
           "# TYPE tpc_agents_connected gauge\n"
           "tpc_agents_connected %" PRIu64 "\n"
           "# HELP tpc_agent_connections_total Agents (re)connecting.\n"
           "# TYPE tpc_agent_connections_total counter\n"
           "tpc_agent_connections_total %" PRIu64 "\n",
           s_get (&self->in_flight), s_get (&self->in_doubt),
           s_get (&self->heuristic), s_get (&self->agents),
           s_get (&self->agent_connects));
    s_put (b, "# HELP tpc_store_writes_total Durable writes of the decision "
           "store (fdatasyncs, or etcd transactions).\n"
           "# TYPE tpc_store_writes_total counter\n"
           "tpc_store_writes_total %" PRIu64 "\n"
           "# HELP tpc_store_fenced_writes_total etcd writes refused by the "
           "fence (this coordinator is no longer the leader).\n"
           "# TYPE tpc_store_fenced_writes_total counter\n"
           "tpc_store_fenced_writes_total %" PRIu64 "\n"
           "# HELP tpc_epoch This boot's epoch: every start and every HA "
           "leadership change raises it by one.\n"
           "# TYPE tpc_epoch gauge\n"
           "tpc_epoch %" PRIu64 "\n"
           "# HELP tpc_ha_fence_revision etcd create_revision of the leader "
           "key this leader holds (0: no HA).\n"
           "# TYPE tpc_ha_fence_revision gauge\n"
           "tpc_ha_fence_revision %" PRIu64 "\n",
           s_get (&self->store_writes), s_get (&self->store_fenced),
           s_get (&self->epoch), s_get (&self->fence_rev));
}

int
coord_metrics_render (coord_metrics_t *self, char **out, size_t *len)
{
    s_buf_t b = { .cap = 8192 };
    *out = NULL;
    *len = 0;
    b.p = malloc (b.cap);
    if (b.p)
        s_render (self, &b);
    if (!b.p || b.failed) {
        free (b.p);
        return TPC_ENOMEM;
    }
    *out = b.p;
    *len = b.n;
    return 0;
}

coord_metrics_t *
coord_metrics_new (void)
{
    return calloc (1, sizeof (coord_metrics_t));
}

void
coord_metrics_destroy (coord_metrics_t **self_p)
{
    free (*self_p);
    *self_p = NULL;
}
