/*  coord_metrics: the coordinator's metrics in the Prometheus text
 *  format (version 0.0.4), served at GET /metrics by coord_http (the
 *  libmicrohttpd server of --metrics-bind and --http).
 *
 *  The main loop records events (a transaction ended, a log sync) and
 *  publishes gauges (coord_engine_stats, at most once a second: counting
 *  the in-doubt walks every live transaction) with lock-free atomics; an
 *  HTTP thread renders them on request and never touches the engine.
 *  Plain HTTP without authentication: bind it to loopback or a
 *  monitoring network only.
 *
 *  METRICS
 *    tpc_transactions_total{outcome="committed|aborted|unknown"}  counter
 *    tpc_transaction_seconds                        histogram, begin->end
 *    tpc_phase_seconds{phase="prepare|precommit|decide|commit"} histogram:
 *        prepare  prepares sent -> every vote in (one phase: -> the ack)
 *        precommit  3PC: every vote in -> every participant pre-committed
 *                 (the PRECOMMIT force and the precommit round trip)
 *        decide   every vote in (3PC: every participant pre-committed)
 *                 -> COMMIT record durable (the log force)
 *        commit   COMMIT durable -> every participant acked
 *    tpc_decides_total                              counter: decisions
 *        sent to agents (one per gid and agent)
 *    tpc_decide_frames_total                        counter: the frames
 *        that carried them ("decide" or "decides": one per agent per
 *        group commit, TPC_MSG_BATCH_MAX gids at most)
 *    tpc_log_fdatasyncs_total                       counter
 *    tpc_log_sync_seconds                           histogram
 *    tpc_transactions_in_flight, tpc_transactions_in_doubt   gauges
 *    tpc_heuristic_resolutions                      gauge
 *    tpc_agents_connected                           gauge
 *    tpc_agent_connections_total                    counter
 *    tpc_store_writes_total, tpc_store_fenced_writes_total   counters
 *        (the decision store's durable writes, and its etcd writes the
 *        HA fence refused; the write latency is tpc_log_sync_seconds)
 *    tpc_epoch                                      gauge (each start and
 *                                                   leadership change +1)
 *    tpc_ha_fence_revision                          gauge (HA leader key)
 *  Histogram buckets (seconds): .001 .0025 .005 .01 .025 .05 .1 .25 .5 1
 *  2.5 5 10 +Inf.
 */
#ifndef COORD_METRICS_H
#define COORD_METRICS_H

#include <stdint.h>

#include "coord_engine.h"
#include "tpc_msg.h"

typedef struct coord_metrics coord_metrics_t;

/*  New counters, all zero; NULL when out of memory.                     */
coord_metrics_t *coord_metrics_new (void);

/*  Free; *self_p becomes NULL.  Idempotent.                              */
void coord_metrics_destroy (coord_metrics_t **self_p);

/*  The text of GET /metrics now: *OUT (malloc'd, the caller frees) of
 *  *LEN bytes.  0 or TPC_ENOMEM.  Any thread.                            */
int coord_metrics_render (coord_metrics_t *self, char **out, size_t *len);

/*  A transaction ended (a COORD_ACT_ENDED action).                        */
void coord_metrics_ended (coord_metrics_t *self, const coord_action_t *act);

/*  One fdatasync of the decision log took US microseconds.               */
void coord_metrics_sync (coord_metrics_t *self, uint64_t us);

/*  FRAMES frames carrying GIDS decides went to agents.                   */
void coord_metrics_decides (coord_metrics_t *self, uint64_t frames,
                            uint64_t gids);

/*  The engine's current counters and gauges.                             */
void coord_metrics_publish (coord_metrics_t *self,
                            const coord_engine_stats_t *stats);

/*  The decision store's counters (coord_store_stats), this boot's epoch
 *  and the HA fence revision (0 without HA).                             */
void coord_metrics_store (coord_metrics_t *self, uint64_t writes,
                          uint64_t fenced, uint64_t epoch,
                          uint64_t fence_rev);

#endif
