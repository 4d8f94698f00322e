/*  bench_hist: a log-linear latency histogram good to 3 significant digits.
 *
 *  Values are unsigned 64-bit integers (tpc_bench records nanoseconds).
 *  Buckets, in the manner of HDR histograms:
 *
 *    v < 2048                  one bucket per value (exact)
 *    2^(10+e) <= v < 2^(11+e)  1024 buckets of width 2^e, e = 1 .. 33
 *
 *  so a bucket is never wider than 1/1024 of the values it holds: any
 *  reported percentile is within 0.1% of a recorded value (3 significant
 *  digits).  Values at or above 2^44 (about 4.9 hours in ns) are clamped
 *  into the last bucket; min, max and the sum are kept exactly.  One
 *  histogram is about 280 KiB.  Not thread-safe: one per thread, then
 *  bench_hist_merge().
 *
 *  Text format (bench_hist_save / bench_hist_load), for merging runs kept
 *  in files:
 *
 *    line 1   "bench_hist 1 <count> <min> <max> <sum>"
 *    then     "<value> <count>" per non-empty bucket, value = the lowest
 *             value the bucket holds, ascending
 */
#ifndef BENCH_HIST_H
#define BENCH_HIST_H

#include <stdint.h>
#include <stdio.h>

typedef struct bench_hist bench_hist_t;

/*  An empty histogram, or NULL on out of memory.                         */
bench_hist_t *bench_hist_new (void);

/*  Free; *self_p becomes NULL.  A no-op on NULL.                         */
void bench_hist_destroy (bench_hist_t **self_p);

/*  Count VALUE once / COUNT times.                                       */
void bench_hist_record (bench_hist_t *self, uint64_t value);
void bench_hist_record_n (bench_hist_t *self, uint64_t value, uint64_t count);

/*  Add every count of SRC into SELF.                                     */
void bench_hist_merge (bench_hist_t *self, const bench_hist_t *src);

/*  Empty SELF.                                                           */
void bench_hist_reset (bench_hist_t *self);

uint64_t bench_hist_count (const bench_hist_t *self);
/*  Exact smallest / largest value recorded; 0 when empty.                */
uint64_t bench_hist_min (const bench_hist_t *self);
uint64_t bench_hist_max (const bench_hist_t *self);
/*  Exact mean; 0 when empty.                                             */
double bench_hist_mean (const bench_hist_t *self);

/*  The value at percentile PCT (0 .. 100): the highest value of the bucket
 *  holding the sample of rank ceil(PCT/100 * count), never more than the
 *  exact max nor less than the exact min.  0 when empty.                  */
uint64_t bench_hist_percentile (const bench_hist_t *self, double pct);

/*  Write SELF to F in the text format above.  0 or -1 (errno set).       */
int bench_hist_save (const bench_hist_t *self, FILE *f);

/*  Add the histogram read from F into SELF.  0, or -1 on a read error or
 *  a malformed file (SELF is then unchanged).                             */
int bench_hist_load (bench_hist_t *self, FILE *f);

#endif
