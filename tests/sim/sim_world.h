/*  sim_world: one seeded run of tpc in a single process.
 *
 *  The coordinator's engine and N agent engines (each over its own
 *  part_mem "database") exchange encoded protocol messages over a
 *  simulated network; clients submit transactions; a simulated clock
 *  drives every timer; a simulated disk holds the decision log.  Every
 *  choice (delays, drops, duplicates, crashes, statements) comes from one
 *  PRNG seeded with the run's seed, so a seed replays exactly.
 *
 *  A run has two phases.  FAULT (the first cfg.steps steps): messages are
 *  dropped, duplicated, delayed and reordered; the coordinator, agents and
 *  databases crash and restart; fsyncs take time; sessions break.  QUIET
 *  (after it): a reliable FIFO network, no faults, until every node is up
 *  and no transaction is left anywhere (or a bound is hit: a liveness
 *  violation).  sim_oracle checks the invariants after every step and at
 *  the end.
 *
 *  THREE-PHASE COMMIT (cfg.p3).  Every client transaction asks for 3PC.
 *  The agents gain a peer link (getstate, precommit, decide and their
 *  replies travel agent to agent), a durable 3PC state log each (kept
 *  across crashes and handed back with part_engine_restore), and the
 *  termination timers.  The synchronous assumption of 3PC holds in these
 *  runs: the peer link loses nothing and delivers well within
 *  p3_collect_ms, every other delay stays below p3_timeout_ms.  In a share
 *  of seeds the coordinator dies for good (never restarted): the agents
 *  must still decide every gid they voted yes on (non-blocking).
 *
 *  PARTITION (cfg.partition, implies cfg.p3).  A calm network; the
 *  coordinator dies for good right after its first precommit left, and
 *  the peer link is cut between that precommit's agent and the others for
 *  a few p3_timeout_ms.  Each side elects its own termination leader: the
 *  classic rule then commits on one side and aborts on the other.  Such a
 *  mixed outcome is counted (sim_result_t.mixed), not a violation.
 *
 *  HIGH AVAILABILITY (cfg.ha, 2PC).  The decision log stands for the
 *  fenced store on etcd shared by two incarnations of one coordinator id:
 *  now and then the leader pauses (at a random step, or right after a
 *  forced COMMIT append) past its lease; the other incarnation takes
 *  over (the fence moves, it replays the store, writes a new EPOCH,
 *  re-drives); the deposed one wakes, performs what it had queued, and
 *  its write is refused by the fence (nothing written) before it stops.
 *  Counted: sim_result_t.takeovers, .fenced.
 */
#ifndef SIM_WORLD_H
#define SIM_WORLD_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct sim_world sim_world_t;

typedef struct {
    uint64_t seed;
    uint64_t steps;             /* fault-phase steps; 0 = 400 */
    FILE *trace;                /* verbose trace of every step, or NULL */
    bool p3;                    /* three-phase commit */
    bool partition;             /* the partition case (implies p3) */
    bool ha;                    /* high availability (2PC only): the log is
                                   the fenced decision store, leaders get
                                   deposed and replaced */
} sim_config_t;

typedef struct {
    uint64_t steps;             /* steps run, both phases */
    uint64_t sim_ms;            /* simulated time at the end */
    uint64_t violation_step;    /* step of the violation (0: none) */
    uint64_t violation_ms;
    char violation[512];        /* "" when every invariant held */
    uint64_t hash;              /* digest of the whole trace: determinism */
    /* what happened, for the figures */
    size_t txns;                /* client transactions */
    size_t committed;           /* gids with a durable COMMIT record */
    size_t aborted;             /* gids the coordinator aborted */
    size_t heard_committed;     /* gids a client heard "committed" for */
    size_t coord_crashes, agent_crashes, db_crashes, checkpoints;
    /* three-phase commit */
    size_t p3_gids;             /* gids run with 3PC */
    bool coord_dead;            /* the coordinator died for good */
    bool partitioned;           /* the peer link was cut */
    size_t mixed;               /* 3PC gids with a mixed outcome (partition) */
    size_t peer_msgs;           /* messages sent over the peer link */
    size_t persists;            /* 3PC states made durable */
    size_t resolves;            /* operators' resolves sent */
    size_t resolved;            /* ... accepted (HEURISTIC record durable) */
    /* high availability */
    size_t takeovers;           /* leaders deposed and replaced */
    size_t fenced;              /* deposed leaders' writes the store refused */
} sim_result_t;

/*  Run one seed to the end and fill *RESULT.  Returns 0, or TPC_ENOMEM
 *  when the world could not be built.                                    */
int sim_world_run (const sim_config_t *cfg, sim_result_t *result);

#endif
