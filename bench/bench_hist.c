/*  bench_hist: a log-linear latency histogram good to 3 significant digits.
 *
 *  Bucket index of a value v (see bench_hist.h for the layout):
 *
 *    v < 2048   index = v
 *    else       e = floor(log2 v) - 10            (1 .. 33)
 *               index = 2048 + (e - 1) * 1024 + (v >> e) - 1024
 *
 *  The bucket of index i holds [low(i), low(i) + 2^e - 1] with
 *  low(i) = ((i - 2048) % 1024 + 1024) << ((i - 2048) / 1024 + 1).
 */
#include "bench_hist.h"

#include <assert.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define S_LINEAR 2048u              /* exact buckets */
#define S_SUB 1024u                 /* buckets per power of two above */
#define S_EXP_MAX 33u               /* largest e */
#define S_NBUCKETS (S_LINEAR + S_EXP_MAX * S_SUB)
#define S_VALUE_LIMIT (1ull << (S_EXP_MAX + 11))    /* first clamped value */

struct bench_hist {
    uint64_t count;
    uint64_t min;
    uint64_t max;
    uint64_t sum;
    uint64_t buckets[S_NBUCKETS];
};

static size_t
s_index (uint64_t v)
{
    if (v < S_LINEAR)
        return (size_t) v;
    if (v >= S_VALUE_LIMIT)
        v = S_VALUE_LIMIT - 1;
    unsigned e = (unsigned) (63 - __builtin_clzll (v)) - 10;
    return S_LINEAR + (size_t) (e - 1) * S_SUB + (size_t) ((v >> e) - S_SUB);
}

static uint64_t
s_low (size_t i)
{
    if (i < S_LINEAR)
        return i;
    size_t k = i - S_LINEAR;
    unsigned e = (unsigned) (k / S_SUB) + 1;
    return ((uint64_t) (k % S_SUB) + S_SUB) << e;
}

static uint64_t
s_high (size_t i)
{
    if (i < S_LINEAR)
        return i;
    unsigned e = (unsigned) ((i - S_LINEAR) / S_SUB) + 1;
    return s_low (i) + (1ull << e) - 1;
}

bench_hist_t *
bench_hist_new (void)
{
    bench_hist_t *self = calloc (1, sizeof *self);
    return self;
}

void
bench_hist_destroy (bench_hist_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free (*self_p);
    *self_p = NULL;
}

void
bench_hist_record_n (bench_hist_t *self, uint64_t value, uint64_t count)
{
    assert (self);
    if (count == 0)
        return;
    if (self->count == 0 || value < self->min)
        self->min = value;
    if (self->count == 0 || value > self->max)
        self->max = value;
    self->count += count;
    self->sum += value * count;
    self->buckets[s_index (value)] += count;
}

void
bench_hist_record (bench_hist_t *self, uint64_t value)
{
    bench_hist_record_n (self, value, 1);
}

void
bench_hist_merge (bench_hist_t *self, const bench_hist_t *src)
{
    assert (self && src);
    if (src->count == 0)
        return;
    if (self->count == 0 || src->min < self->min)
        self->min = src->min;
    if (self->count == 0 || src->max > self->max)
        self->max = src->max;
    self->count += src->count;
    self->sum += src->sum;
    for (size_t i = 0; i < S_NBUCKETS; i++)
        self->buckets[i] += src->buckets[i];
}

void
bench_hist_reset (bench_hist_t *self)
{
    assert (self);
    memset (self, 0, sizeof *self);
}

uint64_t
bench_hist_count (const bench_hist_t *self)
{
    return self->count;
}

uint64_t
bench_hist_min (const bench_hist_t *self)
{
    return self->min;
}

uint64_t
bench_hist_max (const bench_hist_t *self)
{
    return self->max;
}

double
bench_hist_mean (const bench_hist_t *self)
{
    return self->count ? (double) self->sum / (double) self->count : 0.0;
}

uint64_t
bench_hist_percentile (const bench_hist_t *self, double pct)
{
    assert (self);
    if (self->count == 0)
        return 0;
    if (pct < 0)
        pct = 0;
    if (pct > 100)
        pct = 100;
    /*  pct is decimal, doubles are binary: 99.9% of 2000 must be rank
     *  1998, not 1999 because 99.9 is stored a hair high.                */
    double exact = pct / 100.0 * (double) self->count * (1.0 - 1e-12);
    uint64_t rank = (uint64_t) exact;
    if ((double) rank < exact)
        rank++;
    if (rank == 0)
        rank = 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < S_NBUCKETS; i++) {
        seen += self->buckets[i];
        if (seen >= rank) {
            uint64_t v = s_high (i);
            if (v > self->max)
                v = self->max;
            if (v < self->min)
                v = self->min;
            return v;
        }
    }
    return self->max;
}

int
bench_hist_save (const bench_hist_t *self, FILE *f)
{
    assert (self && f);
    if (fprintf (f, "bench_hist 1 %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 "\n",
                 self->count, self->min, self->max, self->sum) < 0)
        return -1;
    for (size_t i = 0; i < S_NBUCKETS; i++)
        if (self->buckets[i]
            && fprintf (f, "%" PRIu64 " %" PRIu64 "\n", s_low (i), self->buckets[i]) < 0)
            return -1;
    return fflush (f) == 0 ? 0 : -1;
}

int
bench_hist_load (bench_hist_t *self, FILE *f)
{
    assert (self && f);
    int rc = -1;
    bench_hist_t *tmp = bench_hist_new ();
    if (!tmp)
        goto cleanup;
    uint64_t count, min, max, sum;
    if (fscanf (f, "bench_hist 1 %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64,
                &count, &min, &max, &sum) != 4)
        goto cleanup;
    uint64_t value, n, total = 0;
    size_t last = 0;
    int got;
    while ((got = fscanf (f, "%" SCNu64 " %" SCNu64, &value, &n)) == 2) {
        size_t i = s_index (value);
        if (n == 0 || (total > 0 && i <= last) || s_low (i) != value)
            goto cleanup;       /* not ascending, or not a bucket's start */
        tmp->buckets[i] = n;
        total += n;
        last = i;
    }
    if (got != EOF || ferror (f) || total != count
        || (count > 0 && (min > max || s_index (min) > s_index (max))))
        goto cleanup;
    tmp->count = count;
    tmp->min = min;
    tmp->max = max;
    tmp->sum = sum;
    bench_hist_merge (self, tmp);
    rc = 0;
cleanup:
    bench_hist_destroy (&tmp);
    return rc;
}
