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
} sim_result_t;

/*  Run one seed to the end and fill *RESULT.  Returns 0, or TPC_ENOMEM
 *  when the world could not be built.                                    */
int sim_world_run (const sim_config_t *cfg, sim_result_t *result);

#endif
