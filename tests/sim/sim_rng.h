/*  sim_rng: the seeded pseudo-random generator of the simulation.
 *
 *  xoshiro256** (Blackman and Vigna) with its state filled by splitmix64
 *  from one 64-bit seed.  Same seed, same sequence, on every platform:
 *  the simulation never calls rand() or reads a clock, so a seed replays
 *  exactly.  The struct is public on purpose: it is a value (copying it
 *  forks the sequence), owned by whoever embeds it.
 */
#ifndef SIM_RNG_H
#define SIM_RNG_H

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    uint64_t s[4];
} sim_rng_t;

/*  Fill RNG's state from SEED (any value, 0 included).                   */
void sim_rng_seed (sim_rng_t *rng, uint64_t seed);

/*  The next 64 random bits.                                              */
uint64_t sim_rng_next (sim_rng_t *rng);

/*  Uniform in [0, N) (N >= 1; N == 0 gives 0).                           */
uint64_t sim_rng_below (sim_rng_t *rng, uint64_t n);

/*  Uniform in [LO, HI] (LO <= HI).                                       */
uint64_t sim_rng_range (sim_rng_t *rng, uint64_t lo, uint64_t hi);

/*  True with probability PERMILLE / 1000.                                */
bool sim_rng_chance (sim_rng_t *rng, unsigned permille);

#endif
