/*  tpc_harness_world: start, wait for and stop the daemons of an
 *  integration test (see tpc_harness.h).  Apart from tpc_harness.c
 *  because tpc_harness_wait_agents() is a libtpc client: only the suites
 *  that link libtpc pull this file in.                                   */
#include "tpc_harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tpc_test.h"

#define S_READY_MS 20000
#define S_WAIT_MS 20000
#define S_RETRY_MS 50
#define S_MAX_ARGS 64

/*  Spawn PROGRAM of the build tree with ARGS and wait for its "ready".   */
static int
s_start (tpc_proc_t *p, const char *program, char *const args[],
         char *const env[], const char *logpath)
{
    char bin[512];
    char *argv[S_MAX_ARGS + 2];
    size_t n = 0;
    snprintf (bin, sizeof bin, "%s/%s", tpc_harness_builddir (), program);
    argv[n++] = bin;
    for (size_t i = 0; args && args[i]; i++) {
        if (n > S_MAX_ARGS)
            return -1;
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    tpc_proc_t before;
    memset (&before, 0, sizeof before);
    snprintf (before.log, sizeof before.log, "%s", logpath);
    long offset = tpc_proc_log_size (&before);
    if (tpc_proc_spawn (p, argv, env, logpath))
        return -1;
    return tpc_proc_wait_log (p, "ready", offset, S_READY_MS);
}

int
tpc_harness_start_coord (tpc_proc_t *p, char *const args[],
                         char *const env[], const char *logpath)
{
    return s_start (p, "tpc-coordinator", args, env, logpath);
}

int
tpc_harness_start_agent (tpc_proc_t *p, char *const args[],
                         char *const env[], const char *logpath)
{
    return s_start (p, "tpc-participant", args, env, logpath);
}

int
tpc_harness_write_line (const char *path, const char *text)
{
    FILE *f = fopen (path, "w");
    if (!f)
        return -1;
    fprintf (f, "%s\n", text);
    return fclose (f) == 0 ? 0 : -1;
}

/*  Does the summary list exactly the N agents NAMES?                     */
static bool
s_by_summary (tpc_client_t *c, const char *const names[], size_t n)
{
    tpc_summary_t s;
    bool all = tpc_summary (c, &s) == 0 && s.nagents == n;
    for (size_t i = 0; all && i < n; i++) {
        bool listed = false;
        for (size_t k = 0; k < s.nagents && !listed; k++)
            listed = !strcmp (s.agents[k], names[i]);
        all = listed;
    }
    tpc_summary_clear (&s);
    return all;
}

/*  Does a transaction run SELECT 1 on each of the N agents NAMES?       */
static bool
s_by_probe (tpc_client_t *c, const char *const names[], size_t n)
{
    char gid[TPC_CLIENT_GID_MAX];
    if (tpc_begin (c, NULL, gid) != 0)
        return false;
    bool all = true;
    for (size_t i = 0; all && i < n; i++)
        all = tpc_exec (c, gid, names[i], "SELECT 1", 0, NULL, NULL) == 0;
    tpc_rollback (c, gid, NULL, NULL, 0);
    return all;
}

int
tpc_harness_wait_agents (const char *endpoint, const tpc_client_opts_t *opts,
                         const char *const names[], size_t n,
                         tpc_harness_wait_by_t by)
{
    tpc_client_opts_t o = { .timeout_ms = 2000 };
    tpc_client_t *c = tpc_client_new (endpoint, opts ? opts : &o);
    int64_t end = tpc_now_ms () + S_WAIT_MS;
    int rc = -1;
    while (c && rc != 0 && tpc_now_ms () < end) {
        bool has = by == TPC_HARNESS_BY_SUMMARY ? s_by_summary (c, names, n)
                                                : s_by_probe (c, names, n);
        if (has)
            rc = 0;
        else
            usleep (S_RETRY_MS * 1000);
    }
    tpc_client_destroy (&c);
    return rc;
}

void
tpc_harness_stop (tpc_proc_t *coord, tpc_proc_t agents[], size_t n)
{
    if (coord)
        tpc_proc_kill (coord, SIGTERM, 5000);
    for (size_t i = 0; i < n; i++)
        tpc_proc_kill (&agents[i], SIGTERM, 5000);
}

void
tpc_harness_clean (char **dir_p, size_t nclusters)
{
    char *dir = *dir_p;
    if (!dir)
        return;
    for (size_t i = 0; i < nclusters; i++) {
        char pg[600];
        snprintf (pg, sizeof pg, "%s/pg%zu", dir, i + 1);
        tpc_harness_pg_cmd ("destroy", pg);
    }
    if (!getenv ("TPC_TEST_KEEP"))
        tpc_test_rmtree (dir);
    else
        fprintf (stderr, "kept %s\n", dir);
    free (dir);
    *dir_p = NULL;
}
