/*  test_e2e_trace: the per-stage latency trace through the real daemons
 *  (tpc-coordinator and two tpc-participant --backend mem, each with
 *  --trace-file; libtpc with TPC_TRACE_FILE).  Every transfer's gid is
 *  sampled (--trace-sample 1): after the processes stopped (their traces
 *  flushed at exit), every stage of tpc_trace_stage_t is in the files for
 *  each gid, and their latest times follow the order of the stages.
 *  A second pass with --trace-sample 3 everywhere: the same gids appear
 *  in every file.  bench/trace_report reads the files and prints the
 *  end-to-end row; with --reply-on decision, phase 2 on rows of its own.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "tpc_harness.h"
#include "tpc_test.h"
#include "tpc_trace.h"

#define S_TXNS 20

typedef struct {
    char gid[TPC_CLIENT_GID_MAX];
    int64_t at[TPC_TRACE_STAGE_COUNT];  /* latest; 0 = not seen */
    unsigned files;                     /* bit i: seen in file i */
} s_gid_t;

static s_gid_t s_gids[S_TXNS];

/*  Read PATH (file number FILE) into s_gids; lines of other gids count
 *  in *STRAY, malformed ones in *BAD.                                    */
static void
s_read (const char *path, int file, int *stray, int *bad)
{
    FILE *f = fopen (path, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL (f);
    char line[256], gid[80], stage[64];
    int64_t t;
    while (fgets (line, sizeof line, f)) {
        int s;
        if (sscanf (line, "%79s %63s %" SCNd64, gid, stage, &t) != 3
            || (s = tpc_trace_stage_parse (stage)) < 0 || t <= 0) {
            (*bad)++;
            continue;
        }
        s_gid_t *g = NULL;
        for (int i = 0; i < S_TXNS && !g; i++)
            if (!strcmp (s_gids[i].gid, gid))
                g = &s_gids[i];
        if (!g) {
            (*stray)++;
            continue;
        }
        if (t > g->at[s])
            g->at[s] = t;
        g->files |= 1u << file;
    }
    fclose (f);
}

/*  A world traced with SAMPLE; S_TXNS transfers; returns the directory
 *  (the caller cleans it) with the files client/coord/agent1/agent2.trace.
 */
static char *
s_run (unsigned sample, const char *reply_on)
{
    char *dir = tpc_test_tmpdir ("e2etrace");
    CU_ASSERT_PTR_NOT_NULL_FATAL (dir);
    char cep[64], aep[64], log[700], logdir[700], trace[700], smp[16];
    snprintf (cep, sizeof cep, "tcp://127.0.0.1:%d", tpc_harness_free_port ());
    snprintf (aep, sizeof aep, "tcp://127.0.0.1:%d", tpc_harness_free_port ());
    snprintf (smp, sizeof smp, "%u", sample);
    snprintf (log, sizeof log, "%s/coordinator.log", dir);
    snprintf (logdir, sizeof logdir, "%s/log", dir);
    snprintf (trace, sizeof trace, "%s/coord.trace", dir);
    tpc_proc_t coord, agents[2];
    char *cargs[] = { "--id", "t1", "--bind", cep, "--agent-bind", aep,
                      "--log-dir", logdir, "--insecure-plaintext",
                      "--trace-file", trace, "--trace-sample", smp,
                      "--reply-on", (char *) reply_on, NULL };
    CU_ASSERT_EQUAL_FATAL (tpc_harness_start_coord (&coord, cargs, NULL, log),
                           0);
    const char *names[] = { "m1", "m2" };
    for (int i = 0; i < 2; i++) {
        snprintf (log, sizeof log, "%s/agent%d.log", dir, i + 1);
        snprintf (trace, sizeof trace, "%s/agent%d.trace", dir, i + 1);
        char *aargs[] = { "--name", (char *) names[i], "--coordinator", aep,
                          "--backend", "mem", "--insecure-plaintext",
                          "--trace-file", trace, "--trace-sample", smp,
                          NULL };
        CU_ASSERT_EQUAL_FATAL (
            tpc_harness_start_agent (&agents[i], aargs, NULL, log), 0);
    }
    CU_ASSERT_EQUAL_FATAL (tpc_harness_wait_agents (cep, NULL, names, 2,
                                                    TPC_HARNESS_BY_SUMMARY),
                           0);
    snprintf (trace, sizeof trace, "%s/client.trace", dir);
    setenv ("TPC_TRACE_FILE", trace, 1);
    setenv ("TPC_TRACE_SAMPLE", smp, 1);
    tpc_client_t *c = tpc_client_new (cep, NULL);
    unsetenv ("TPC_TRACE_FILE");
    unsetenv ("TPC_TRACE_SAMPLE");
    CU_ASSERT_PTR_NOT_NULL_FATAL (c);
    memset (s_gids, 0, sizeof s_gids);
    for (int i = 0; i < S_TXNS; i++) {
        tpc_client_stmt_t st[2] = {
            { "m1", "UPDATE a SET x = x - 1", 0, NULL },
            { "m2", "UPDATE b SET x = x + 1", 0, NULL },
        };
        tpc_client_outcome_t out;
        CU_ASSERT_EQUAL (tpc_submit (c, st, 2, NULL, s_gids[i].gid, &out,
                                     NULL, 0), 0);
        CU_ASSERT_EQUAL (out, TPC_CLIENT_COMMITTED);
    }
    tpc_client_destroy (&c);
    /* a clean stop flushes the daemons' traces */
    CU_ASSERT_EQUAL (tpc_proc_kill (&coord, SIGTERM, 10000), 0);
    for (int i = 0; i < 2; i++)
        CU_ASSERT_EQUAL (tpc_proc_kill (&agents[i], SIGTERM, 10000), 0);
    return dir;
}

static const char *const s_files[] = { "client", "coord", "agent1",
                                       "agent2" };

static void
s_read_all (const char *dir, int *stray, int *bad)
{
    for (int f = 0; f < 4; f++) {
        char path[700];
        snprintf (path, sizeof path, "%s/%s.trace", dir, s_files[f]);
        s_read (path, f, stray, bad);
    }
}

static void
test_every_stage_in_order (void)
{
    char *dir = s_run (1, "applied");
    int stray = 0, bad = 0;
    s_read_all (dir, &stray, &bad);
    CU_ASSERT_EQUAL (bad, 0);
    CU_ASSERT_EQUAL (stray, 0);
    int missing = 0, backwards = 0;
    for (int i = 0; i < S_TXNS; i++) {
        s_gid_t *g = &s_gids[i];
        CU_ASSERT_EQUAL (g->files, 0xFu);
        for (int s = 0; s < TPC_TRACE_STAGE_COUNT; s++) {
            if (!g->at[s]) {
                fprintf (stderr, "\n  %s: no %s\n", g->gid,
                         tpc_trace_stage_name (s));
                missing++;
            }
            else if (s && g->at[s] < g->at[s - 1]) {
                fprintf (stderr, "\n  %s: %s before %s\n", g->gid,
                         tpc_trace_stage_name (s),
                         tpc_trace_stage_name (s - 1));
                backwards++;
            }
        }
    }
    CU_ASSERT_EQUAL (missing, 0);
    CU_ASSERT_EQUAL (backwards, 0);
    /* the report joins them */
    char cmd[4096];
    snprintf (cmd, sizeof cmd, "%s/bench/trace_report --clients 1 %s/client."
              "trace %s/coord.trace %s/agent1.trace %s/agent2.trace",
              tpc_harness_builddir (), dir, dir, dir, dir);
    FILE *p = popen (cmd, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL (p);
    char line[512];
    int e2e = 0, rows = 0;
    while (fgets (line, sizeof line, p)) {
        if (strstr (line, "bench trace clients=1 stage=end_to_end p50_us=")
            && strstr (line, " n=20"))
            e2e++;
        if (!strncmp (line, "bench trace clients=1 stage=", 28))
            rows++;
    }
    CU_ASSERT_EQUAL (pclose (p), 0);
    CU_ASSERT_EQUAL (e2e, 1);
    CU_ASSERT_EQUAL (rows, TPC_TRACE_STAGE_COUNT);  /* 17 pairs + e2e */
    tpc_harness_clean (&dir, 0);
}

/*  One gid in 3: every process picks the same ones.                       */
static void
test_same_sample_everywhere (void)
{
    char *dir = s_run (3, "applied");
    int stray = 0, bad = 0;
    s_read_all (dir, &stray, &bad);
    CU_ASSERT_EQUAL (bad, 0);
    CU_ASSERT_EQUAL (stray, 0);
    int traced = 0, partial = 0;
    for (int i = 0; i < S_TXNS; i++) {
        traced += s_gids[i].files != 0;
        partial += s_gids[i].files != 0 && s_gids[i].files != 0xFu;
    }
    CU_ASSERT (traced > 0 && traced < S_TXNS);
    CU_ASSERT_EQUAL (partial, 0);
    tpc_harness_clean (&dir, 0);
}

/*  --reply-on decision: the reply leaves before phase 2 ends; the report
 *  puts phase 2 on rows of its own and no row goes backwards.            */
static void
test_report_reply_on_decision (void)
{
    char *dir = s_run (1, "decision");
    char cmd[4096];
    snprintf (cmd, sizeof cmd, "%s/bench/trace_report --clients 1 %s/client."
              "trace %s/coord.trace %s/agent1.trace %s/agent2.trace",
              tpc_harness_builddir (), dir, dir, dir, dir);
    FILE *p = popen (cmd, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL (p);
    char line[512];
    int negative = 0, early = 0, side = 0, e2e = 0;
    while (fgets (line, sizeof line, p)) {
        const char *v = strstr (line, " p50_us=");
        if (!strncmp (line, "bench trace ", 12) && v && atof (v + 8) < 0) {
            fprintf (stderr, "\n  %s", line);
            negative++;
        }
        early += !!strstr (line, "stage=decide_sent->reply_sent ");
        e2e += !!strstr (line, "stage=end_to_end ");
        side += !strncmp (line, "| (after the reply) ", 20);
    }
    CU_ASSERT_EQUAL (pclose (p), 0);
    CU_ASSERT_EQUAL (negative, 0);
    CU_ASSERT_EQUAL (early, 1);
    CU_ASSERT_EQUAL (e2e, 1);
    CU_ASSERT_EQUAL (side, 3);
    tpc_harness_clean (&dir, 0);
}

static const tpc_test_case_t s_cases[] = {
    { "trace_every_stage_in_order", test_every_stage_in_order },
    { "trace_same_sample_everywhere", test_same_sample_everywhere },
    { "trace_report_reply_on_decision", test_report_reply_on_decision },
    { NULL, NULL }
};

int
main (void)
{
    const tpc_test_suite_t suites[] = {
        { "e2e_trace", NULL, NULL, s_cases },
        { NULL, NULL, NULL, NULL }
    };
    return tpc_test_main ("test_e2e_trace", suites);
}
