/*  test_trace: the per-stage latency trace (tpc_trace.h): a NULL tracer
 *  does nothing, sampling picks the same gids in every tracer, the lines
 *  are "<gid> <stage> <t_ns>" in the order marked, nothing is written
 *  before a flush or destroy, two tracers may share a file.             */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tpc_clock.h"
#include "tpc_trace.h"
#include "tpc_test.h"

/*  Lines of PATH into LINES (at most MAX); returns how many.             */
static size_t
s_read_lines (const char *path, char lines[][160], size_t max)
{
    FILE *f = fopen (path, "r");
    size_t n = 0;
    if (!f)
        return 0;
    while (n < max && fgets (lines[n], 160, f))
        n++;
    fclose (f);
    return n;
}

static char *
s_path (char *dir, const char *name)
{
    static char path[512];
    snprintf (path, sizeof path, "%s/%s", dir, name);
    return path;
}

static void
test_null_noop (void)
{
    tpc_trace_t *t = NULL;
    CU_ASSERT_FALSE (tpc_trace_sampled (t, "a-1"));
    CU_ASSERT_EQUAL (tpc_trace_now (t), 0);
    tpc_trace_mark (t, "a-1", TPC_TRACE_CLIENT_SEND);
    tpc_trace_mark_at (t, "a-1", TPC_TRACE_CLIENT_RECV, 5);
    CU_ASSERT_EQUAL (tpc_trace_flush (t), 0);
    tpc_trace_destroy (&t);
    tpc_trace_destroy (NULL);
    CU_ASSERT_PTR_NULL (tpc_trace_new (NULL, 1));
    CU_ASSERT_PTR_NULL (tpc_trace_new ("/nonexistent-dir/x/trace", 1));
    unsetenv ("TPC_TRACE_FILE");
    CU_ASSERT_PTR_NULL (tpc_trace_from_env ());
}

static void
test_names (void)
{
    for (int i = 0; i < TPC_TRACE_STAGE_COUNT; i++) {
        const char *name = tpc_trace_stage_name ((tpc_trace_stage_t) i);
        CU_ASSERT_PTR_NOT_NULL_FATAL (name);
        CU_ASSERT_PTR_NULL (strchr (name, ' '));
        CU_ASSERT_EQUAL (tpc_trace_stage_parse (name), i);
    }
    CU_ASSERT_STRING_EQUAL (tpc_trace_stage_name (TPC_TRACE_STAGE_COUNT), "?");
    CU_ASSERT_EQUAL (tpc_trace_stage_parse ("nope"), -1);
    CU_ASSERT_EQUAL (tpc_trace_stage_parse (NULL), -1);
}

/*  Two tracers of the same sample pick the same gids; about 1 in N.     */
static void
test_sampling (void)
{
    char *dir = tpc_test_tmpdir ("trace");
    tpc_trace_t *a = tpc_trace_new (s_path (dir, "a"), 16);
    tpc_trace_t *b = tpc_trace_new (s_path (dir, "b"), 16);
    tpc_trace_t *all = tpc_trace_new (s_path (dir, "c"), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL (a);
    CU_ASSERT_PTR_NOT_NULL_FATAL (b);
    CU_ASSERT_PTR_NOT_NULL_FATAL (all);
    size_t picked = 0, differ = 0, missed = 0;
    for (int i = 0; i < 16000; i++) {
        char gid[80];
        snprintf (gid, sizeof gid, "c1-%d-%d", 7 + i % 3, i);
        bool sa = tpc_trace_sampled (a, gid);
        picked += sa;
        differ += sa != tpc_trace_sampled (b, gid);
        missed += !tpc_trace_sampled (all, gid);
    }
    CU_ASSERT_EQUAL (differ, 0);
    CU_ASSERT_EQUAL (missed, 0);
    CU_ASSERT (picked > 500 && picked < 1500);      /* 1000 expected */
    CU_ASSERT_FALSE (tpc_trace_sampled (all, ""));
    CU_ASSERT_FALSE (tpc_trace_sampled (all, NULL));
    tpc_trace_destroy (&a);
    tpc_trace_destroy (&b);
    tpc_trace_destroy (&all);
    CU_ASSERT_PTR_NULL (a);
    tpc_test_rmtree (dir);
    free (dir);
}

/*  Lines well formed, in order, only after a flush or destroy; two
 *  tracers appending to one file keep whole lines.                       */
static void
test_lines (void)
{
    static char lines[4000][160];
    char *dir = tpc_test_tmpdir ("trace");
    char path[512];
    snprintf (path, sizeof path, "%s", s_path (dir, "t"));
    tpc_trace_t *t = tpc_trace_new (path, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL (t);
    int64_t before = tpc_now_ns ();
    tpc_trace_mark (t, "c1-1-1", TPC_TRACE_CLIENT_SEND);
    tpc_trace_mark (t, "c1-1-1", TPC_TRACE_COORD_RECV);
    tpc_trace_mark_at (t, "c1-1-1", TPC_TRACE_CLIENT_RECV, 42);
    tpc_trace_mark_at (t, "c1-1-1", TPC_TRACE_CLIENT_RECV, 0);    /* off */
    tpc_trace_mark (t, "c1-1-1", TPC_TRACE_STAGE_COUNT);          /* bad */
    CU_ASSERT_EQUAL (s_read_lines (path, lines, 4000), 0);    /* buffered */
    CU_ASSERT_EQUAL (tpc_trace_flush (t), 0);
    CU_ASSERT_EQUAL_FATAL (s_read_lines (path, lines, 4000), 3);
    char gid[80], stage[40];
    int64_t ns[3];
    for (int i = 0; i < 3; i++) {
        char extra;
        CU_ASSERT_EQUAL (sscanf (lines[i], "%79s %39s %" SCNd64 "%c", gid,
                                 stage, &ns[i], &extra), 4);
        CU_ASSERT_EQUAL (extra, '\n');
        CU_ASSERT_STRING_EQUAL (gid, "c1-1-1");
        CU_ASSERT_EQUAL (tpc_trace_stage_parse (stage),
                         i == 0 ? TPC_TRACE_CLIENT_SEND
                         : i == 1 ? TPC_TRACE_COORD_RECV
                                  : TPC_TRACE_CLIENT_RECV);
    }
    CU_ASSERT (ns[0] >= before && ns[1] >= ns[0]);
    CU_ASSERT_EQUAL (ns[2], 42);
    /* a second tracer on the same file; more lines than one buffer */
    tpc_trace_t *u = tpc_trace_new (path, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL (u);
    for (int i = 0; i < 1500; i++) {
        char g[80];
        snprintf (g, sizeof g, "c1-2-%d", i);
        tpc_trace_mark (t, g, TPC_TRACE_WORK_SENT);
        tpc_trace_mark (u, g, TPC_TRACE_VOTE_RECV);
    }
    tpc_trace_destroy (&t);             /* flushes */
    tpc_trace_destroy (&u);
    size_t n = s_read_lines (path, lines, 4000);
    CU_ASSERT_EQUAL (n, 3 + 3000);
    size_t bad = 0;
    for (size_t i = 3; i < n; i++) {
        int64_t v;
        int k;
        if (sscanf (lines[i], "c1-2-%d %39s %" SCNd64, &k, stage, &v) != 3
            || (tpc_trace_stage_parse (stage) != TPC_TRACE_WORK_SENT
                && tpc_trace_stage_parse (stage) != TPC_TRACE_VOTE_RECV)
            || v < before || !strchr (lines[i], '\n'))
            bad++;
    }
    CU_ASSERT_EQUAL (bad, 0);
    tpc_test_rmtree (dir);
    free (dir);
}

static void
test_env (void)
{
    char *dir = tpc_test_tmpdir ("trace");
    char path[512];
    snprintf (path, sizeof path, "%s", s_path (dir, "env"));
    setenv ("TPC_TRACE_FILE", path, 1);
    setenv ("TPC_TRACE_SAMPLE", "x", 1);
    CU_ASSERT_PTR_NULL (tpc_trace_from_env ());     /* refused, warned */
    setenv ("TPC_TRACE_SAMPLE", "1", 1);
    tpc_trace_t *t = tpc_trace_from_env ();
    CU_ASSERT_PTR_NOT_NULL_FATAL (t);
    CU_ASSERT (tpc_trace_sampled (t, "c1-1-1"));
    tpc_trace_destroy (&t);
    unsetenv ("TPC_TRACE_FILE");
    unsetenv ("TPC_TRACE_SAMPLE");
    tpc_test_rmtree (dir);
    free (dir);
}

/*  What a mark costs (printed, never asserted: a shared machine).       */
static void
test_cost (void)
{
    char *dir = tpc_test_tmpdir ("trace");
    tpc_trace_t *all = tpc_trace_new (s_path (dir, "all"), 1);
    tpc_trace_t *few = tpc_trace_new (s_path (dir, "few"), 1000000);
    tpc_trace_t *off = NULL;
    CU_ASSERT_PTR_NOT_NULL_FATAL (all);
    CU_ASSERT_PTR_NOT_NULL_FATAL (few);
    tpc_trace_t *t[3] = { all, few, off };
    double ns[3];
    const int n = 200000;
    for (int k = 0; k < 3; k++) {
        int64_t a = tpc_now_ns ();
        for (int i = 0; i < n; i++)
            tpc_trace_mark (t[k], "tpc_bench1_17_123456", TPC_TRACE_VOTE_RECV);
        ns[k] = (double) (tpc_now_ns () - a) / n;
    }
    printf ("\n  a mark: %.0f ns written, %.0f ns not sampled, %.1f ns off\n",
            ns[0], ns[1], ns[2]);
    tpc_trace_destroy (&all);
    tpc_trace_destroy (&few);
    tpc_test_rmtree (dir);
    free (dir);
}

static const tpc_test_case_t s_cases[] = {
    { "trace_null_noop", test_null_noop },
    { "trace_names", test_names },
    { "trace_sampling", test_sampling },
    { "trace_lines", test_lines },
    { "trace_env", test_env },
    { "trace_cost", test_cost },
    { NULL, NULL }
};

int
main (void)
{
    const tpc_test_suite_t suites[] = {
        { "trace", NULL, NULL, s_cases },
        { NULL, NULL, NULL, NULL }
    };
    return tpc_test_main ("test_trace", suites);
}
