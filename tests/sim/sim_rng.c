/*  sim_rng: xoshiro256** seeded by splitmix64 (see sim_rng.h).           */
#include "sim_rng.h"

static uint64_t
s_splitmix (uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t
s_rotl (uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void
sim_rng_seed (sim_rng_t *rng, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        rng->s[i] = s_splitmix (&x);
}

uint64_t
sim_rng_next (sim_rng_t *rng)
{
    uint64_t *s = rng->s;
    uint64_t result = s_rotl (s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = s_rotl (s[3], 45);
    return result;
}

uint64_t
sim_rng_below (sim_rng_t *rng, uint64_t n)
{
    if (n == 0)
        return 0;
    /* rejection keeps it uniform; the loop almost never repeats */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do
        x = sim_rng_next (rng);
    while (x >= limit);
    return x % n;
}

uint64_t
sim_rng_range (sim_rng_t *rng, uint64_t lo, uint64_t hi)
{
    return lo + sim_rng_below (rng, hi - lo + 1);
}

bool
sim_rng_chance (sim_rng_t *rng, unsigned permille)
{
    return sim_rng_below (rng, 1000) < permille;
}
