/*  test_bench_hist: the benchmark's latency histogram - exact small values,
 *  3 significant digits everywhere else, percentiles against a sorted
 *  reference, merge, and the text format's round trip and refusals.      */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_hist.h"
#include "tpc_test.h"

static int
s_cmp (const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
    return x < y ? -1 : x > y;
}

static uint64_t
s_rand (uint64_t *state)
{
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return *state;
}

/*  The sample of rank ceil(p/100 * n) in sorted VALS.                    */
static uint64_t
s_exact (const uint64_t *vals, size_t n, double p)
{
    double exact = p / 100.0 * (double) n * (1.0 - 1e-12);
    size_t rank = (size_t) exact;
    if ((double) rank < exact)
        rank++;
    if (rank == 0)
        rank = 1;
    return vals[rank - 1];
}

static void
test_empty (void)
{
    bench_hist_t *h = bench_hist_new ();
    CU_ASSERT_PTR_NOT_NULL_FATAL (h);
    CU_ASSERT_EQUAL (bench_hist_count (h), 0);
    CU_ASSERT_EQUAL (bench_hist_percentile (h, 50), 0);
    CU_ASSERT_EQUAL (bench_hist_max (h), 0);
    CU_ASSERT_DOUBLE_EQUAL (bench_hist_mean (h), 0.0, 1e-12);
    bench_hist_destroy (&h);
    CU_ASSERT_PTR_NULL (h);
    bench_hist_destroy (&h);
    bench_hist_destroy (NULL);
}

static void
test_small_values_exact (void)
{
    bench_hist_t *h = bench_hist_new ();
    CU_ASSERT_PTR_NOT_NULL_FATAL (h);
    for (uint64_t v = 1; v <= 2000; v++)
        bench_hist_record (h, v);
    CU_ASSERT_EQUAL (bench_hist_count (h), 2000);
    CU_ASSERT_EQUAL (bench_hist_min (h), 1);
    CU_ASSERT_EQUAL (bench_hist_max (h), 2000);
    CU_ASSERT_EQUAL (bench_hist_percentile (h, 50), 1000);
    CU_ASSERT_EQUAL (bench_hist_percentile (h, 99), 1980);
    CU_ASSERT_EQUAL (bench_hist_percentile (h, 99.9), 1998);
    CU_ASSERT_EQUAL (bench_hist_percentile (h, 100), 2000);
    CU_ASSERT_EQUAL (bench_hist_percentile (h, 0), 1);
    CU_ASSERT_DOUBLE_EQUAL (bench_hist_mean (h), 1000.5, 1e-9);
    bench_hist_destroy (&h);
}

/*  Log-uniform values from 1 ns to ~1 h: every percentile within 0.1% of
 *  the exact one (never below it), max exact.                            */
static void
test_three_digits (void)
{
    const size_t n = 200000;
    uint64_t *vals = malloc (n * sizeof *vals);
    bench_hist_t *h = bench_hist_new ();
    CU_ASSERT_PTR_NOT_NULL_FATAL (vals);
    CU_ASSERT_PTR_NOT_NULL_FATAL (h);
    uint64_t st = 88172645463325252ull;
    for (size_t i = 0; i < n; i++) {
        unsigned bits = (unsigned) (s_rand (&st) % 42) + 1;
        vals[i] = s_rand (&st) & ((1ull << bits) - 1);
        bench_hist_record (h, vals[i]);
    }
    qsort (vals, n, sizeof *vals, s_cmp);
    const double ps[] = { 0.1, 1, 10, 25, 50, 75, 90, 99, 99.9, 99.99, 100 };
    for (size_t k = 0; k < sizeof ps / sizeof ps[0]; k++) {
        uint64_t want = s_exact (vals, n, ps[k]);
        uint64_t got = bench_hist_percentile (h, ps[k]);
        CU_ASSERT (got >= want);
        CU_ASSERT ((double) (got - want) <= (double) want / 1000.0);
    }
    CU_ASSERT_EQUAL (bench_hist_max (h), vals[n - 1]);
    CU_ASSERT_EQUAL (bench_hist_min (h), vals[0]);
    CU_ASSERT_EQUAL (bench_hist_percentile (h, 100), vals[n - 1]);
    free (vals);
    bench_hist_destroy (&h);
}

static void
test_huge_values_clamped (void)
{
    bench_hist_t *h = bench_hist_new ();
    CU_ASSERT_PTR_NOT_NULL_FATAL (h);
    bench_hist_record (h, UINT64_MAX);
    bench_hist_record (h, 1ull << 50);
    bench_hist_record (h, 5);
    CU_ASSERT_EQUAL (bench_hist_count (h), 3);
    CU_ASSERT_EQUAL (bench_hist_max (h), UINT64_MAX);
    CU_ASSERT_EQUAL (bench_hist_percentile (h, 10), 5);
    CU_ASSERT (bench_hist_percentile (h, 60) >= (1ull << 43));
    bench_hist_destroy (&h);
}

/*  Merging per-thread histograms equals recording everything in one.     */
static void
test_merge (void)
{
    bench_hist_t *a = bench_hist_new (), *b = bench_hist_new (), *all = bench_hist_new ();
    CU_ASSERT_PTR_NOT_NULL_FATAL (a);
    CU_ASSERT_PTR_NOT_NULL_FATAL (b);
    CU_ASSERT_PTR_NOT_NULL_FATAL (all);
    uint64_t st = 12345;
    for (int i = 0; i < 50000; i++) {
        uint64_t v = s_rand (&st) % 50000000;
        bench_hist_record (i % 3 ? a : b, v);
        bench_hist_record (all, v);
    }
    bench_hist_merge (a, b);
    CU_ASSERT_EQUAL (bench_hist_count (a), 50000);
    CU_ASSERT_EQUAL (bench_hist_min (a), bench_hist_min (all));
    CU_ASSERT_EQUAL (bench_hist_max (a), bench_hist_max (all));
    for (double p = 0; p <= 100; p += 0.5)
        CU_ASSERT_EQUAL (bench_hist_percentile (a, p), bench_hist_percentile (all, p));
    CU_ASSERT_DOUBLE_EQUAL (bench_hist_mean (a), bench_hist_mean (all), 1e-6);
    bench_hist_t *empty = bench_hist_new ();
    bench_hist_merge (empty, a);
    CU_ASSERT_EQUAL (bench_hist_min (empty), bench_hist_min (all));
    bench_hist_reset (a);
    CU_ASSERT_EQUAL (bench_hist_count (a), 0);
    bench_hist_destroy (&empty);
    bench_hist_destroy (&a);
    bench_hist_destroy (&b);
    bench_hist_destroy (&all);
}

static void
test_save_load (void)
{
    bench_hist_t *h = bench_hist_new (), *back = bench_hist_new ();
    CU_ASSERT_PTR_NOT_NULL_FATAL (h);
    CU_ASSERT_PTR_NOT_NULL_FATAL (back);
    uint64_t st = 999;
    for (int i = 0; i < 20000; i++)
        bench_hist_record (h, s_rand (&st) % 3000000000ull);
    FILE *f = tmpfile ();
    CU_ASSERT_PTR_NOT_NULL_FATAL (f);
    CU_ASSERT_EQUAL (bench_hist_save (h, f), 0);
    rewind (f);
    CU_ASSERT_EQUAL (bench_hist_load (back, f), 0);
    fclose (f);
    CU_ASSERT_EQUAL (bench_hist_count (back), 20000);
    CU_ASSERT_EQUAL (bench_hist_max (back), bench_hist_max (h));
    CU_ASSERT_EQUAL (bench_hist_min (back), bench_hist_min (h));
    for (double p = 0; p <= 100; p += 0.25)
        CU_ASSERT_EQUAL (bench_hist_percentile (back, p), bench_hist_percentile (h, p));
    CU_ASSERT_DOUBLE_EQUAL (bench_hist_mean (back), bench_hist_mean (h), 1e-6);
    bench_hist_destroy (&h);
    bench_hist_destroy (&back);
}

static void
test_load_refuses (void)
{
    const char *bad[] = {
        "",
        "nonsense\n",
        "bench_hist 2 1 5 5 5\n5 1\n",              /* version */
        "bench_hist 1 2 5 5 10\n5 1\n",             /* counts do not add up */
        "bench_hist 1 2 5 6 11\n6 1\n5 1\n",        /* not ascending */
        "bench_hist 1 1 4097 4097 4097\n4097 1\n",  /* not a bucket start */
        "bench_hist 1 1 5 5 5\n5 0\n",              /* empty bucket listed */
        "bench_hist 1 1 5 5 5\n5 1\ngarbage\n",
        "bench_hist 1 1 9 5 5\n5 1\n",              /* min > max */
        NULL
    };
    bench_hist_t *h = bench_hist_new ();
    CU_ASSERT_PTR_NOT_NULL_FATAL (h);
    bench_hist_record (h, 7);
    for (int i = 0; bad[i]; i++) {
        FILE *f = fmemopen ((void *) bad[i], strlen (bad[i]) + (bad[i][0] ? 0 : 1), "r");
        CU_ASSERT_PTR_NOT_NULL_FATAL (f);
        CU_ASSERT_EQUAL (bench_hist_load (h, f), -1);
        fclose (f);
        CU_ASSERT_EQUAL (bench_hist_count (h), 1);  /* unchanged */
        CU_ASSERT_EQUAL (bench_hist_max (h), 7);
    }
    const char *good = "bench_hist 1 2 5 4096 4101\n5 1\n4096 1\n";
    FILE *f = fmemopen ((void *) good, strlen (good), "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL (f);
    CU_ASSERT_EQUAL (bench_hist_load (h, f), 0);
    fclose (f);
    CU_ASSERT_EQUAL (bench_hist_count (h), 3);
    CU_ASSERT_EQUAL (bench_hist_max (h), 4096);
    CU_ASSERT_EQUAL (bench_hist_min (h), 5);
    bench_hist_destroy (&h);
}

static const tpc_test_case_t s_cases[] = {
    { "hist_empty", test_empty },
    { "hist_small_values_exact", test_small_values_exact },
    { "hist_three_digits", test_three_digits },
    { "hist_huge_values_clamped", test_huge_values_clamped },
    { "hist_merge", test_merge },
    { "hist_save_load", test_save_load },
    { "hist_load_refuses", test_load_refuses },
    { NULL, NULL }
};

int
main (void)
{
    const tpc_test_suite_t suites[] = {
        { "bench_hist", NULL, NULL, s_cases },
        { NULL, NULL, NULL, NULL }
    };
    return tpc_test_main ("test_bench_hist", suites);
}
