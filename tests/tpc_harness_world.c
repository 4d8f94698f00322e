/*  tpc_harness_world: start, wait for and stop the daemons of an
 *  integration test (see tpc_harness.h).  Apart from tpc_harness.c
 *  because tpc_harness_wait_agents() is a libtpc client: only the suites
 *  that link libtpc pull this file in.                                   */
#include "tpc_harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tpc_curve.h"
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

int
tpc_harness_pg_world (const char *dir, size_t n, char dbdir[][512],
                      char db[][512], const char *sql)
{
    for (size_t i = 0; i < n; i++) {
        snprintf (dbdir[i], 512, "%s/pg%zu", dir, i + 1);
        if (tpc_harness_pg_start (dbdir[i], db[i], 512)
            || (sql && tpc_harness_sql (db[i], sql)))
            return -1;
    }
    return 0;
}

/*  cp FROM TO (the file's mode as cp gives it).                         */
static int
s_copy (const char *from, const char *to)
{
    char cmd[2048];
    snprintf (cmd, sizeof cmd, "cp '%s' '%s'", from, to);
    return system (cmd) == 0 ? 0 : -1;
}

int
tpc_harness_curve_keys (const char *keys, const char *const names[],
                        const char *const roles[], size_t n)
{
    const char *sub[] = { "", "/private", "/clients", "/admins", "/agents" };
    char path[700], to[800], err[256];
    for (size_t i = 0; i < 5; i++) {
        snprintf (path, sizeof path, "%s%s", keys, sub[i]);
        if (mkdir (path, 0700))
            return -1;
    }
    snprintf (path, sizeof path, "%s/private", keys);
    for (size_t i = 0; i < n; i++) {
        if (tpc_curve_keygen (path, names[i], NULL, err, sizeof err)) {
            fprintf (stderr, "keygen: %s\n", err);
            return -1;
        }
        char pub[800];
        snprintf (pub, sizeof pub, "%s/%s.key", path, names[i]);
        snprintf (to, sizeof to, "%s/%s/%s.key", keys,
                  roles[i] ? roles[i] : "", names[i]);
        if (roles[i] && s_copy (pub, to))
            return -1;
    }
    return 0;
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
