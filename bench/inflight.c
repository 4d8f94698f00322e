/*  inflight: hold many transactions open in a coordinator at once, for the
 *  memory figure of bench/recovery (coordinator RSS with N in flight).
 *
 *    inflight --coordinator EP --txns N [--part1 A --part2 B]
 *             [--clients C] [--pid PID]
 *
 *  C libtpc clients (default 4, so no client hits the coordinator's
 *  per-client budget) begin N transactions between them and run one
 *  UPDATE-free statement (SELECT 1) on both participants in each, so every
 *  transaction is live in the coordinator with two participants.  With
 *  --pid it then reads that process's VmRSS.  Then it rolls every one
 *  back.  Prints
 *    inflight txns=<n> rss_mb=<m> open_s=<seconds to open them all>
 *  Exit status 0, 1 on a failed call, 2 on bad usage.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tpc_client.h"
#include "tpc_clock.h"

#define S_MAX_CLIENTS 64

static double
s_now (void)
{
    return (double) tpc_now_ns () / 1e9;
}

static double
s_rss_mb (const char *pid)
{
    char path[64], line[256];
    snprintf (path, sizeof path, "/proc/%s/status", pid);
    FILE *f = fopen (path, "r");
    double mb = -1;
    while (f && fgets (line, sizeof line, f))
        if (!strncmp (line, "VmRSS:", 6))
            mb = strtod (line + 6, NULL) / 1024.0;
    if (f)
        fclose (f);
    return mb;
}

int
main (int argc, char **argv)
{
    const char *ep = NULL, *part1 = "db1", *part2 = "db2", *pid = NULL;
    long txns = 10000, nclients = 4;
    static const struct option opts[] = {
        { "coordinator", required_argument, NULL, 'c' },
        { "txns", required_argument, NULL, 'n' },
        { "clients", required_argument, NULL, 'k' },
        { "part1", required_argument, NULL, '1' },
        { "part2", required_argument, NULL, '2' },
        { "pid", required_argument, NULL, 'p' },
        { NULL, 0, NULL, 0 }
    };
    int o;
    while ((o = getopt_long (argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'c': ep = optarg; break;
        case 'n': txns = strtol (optarg, NULL, 10); break;
        case 'k': nclients = strtol (optarg, NULL, 10); break;
        case '1': part1 = optarg; break;
        case '2': part2 = optarg; break;
        case 'p': pid = optarg; break;
        default: goto usage;
        }
    }
    if (!ep || txns < 1 || nclients < 1 || nclients > S_MAX_CLIENTS
        || optind != argc)
        goto usage;

    int rc = 0;
    tpc_client_t *cl[S_MAX_CLIENTS] = { NULL };
    char (*gids)[TPC_CLIENT_GID_MAX] = calloc ((size_t) txns, sizeof *gids);
    long opened = 0;
    if (!gids) {
        rc = 1;
        goto cleanup;
    }
    for (long i = 0; i < nclients; i++)
        if (!(cl[i] = tpc_client_new (ep, NULL))) {
            fprintf (stderr, "inflight: cannot create a client\n");
            rc = 1;
            goto cleanup;
        }
    double t0 = s_now ();
    for (; opened < txns; opened++) {
        tpc_client_t *c = cl[opened % nclients];
        int e = tpc_begin (c, NULL, gids[opened]);
        if (!e)
            e = tpc_exec (c, gids[opened], part1, "SELECT 1", 0, NULL, NULL);
        if (!e)
            e = tpc_exec (c, gids[opened], part2, "SELECT 1", 0, NULL, NULL);
        if (e) {
            fprintf (stderr, "inflight: transaction %ld: %s (%s)\n", opened,
                     tpc_client_strerror (e), tpc_client_errmsg (c));
            rc = 1;
            goto cleanup;
        }
    }
    double open_s = s_now () - t0;
    printf ("inflight txns=%ld rss_mb=%.1f open_s=%.2f\n", opened,
            pid ? s_rss_mb (pid) : -1.0, open_s);
cleanup:
    for (long i = 0; i < opened; i++)
        tpc_rollback (cl[i % nclients], gids[i], NULL, NULL, 0);
    for (long i = 0; i < nclients; i++)
        tpc_client_destroy (&cl[i]);
    free (gids);
    return rc;
usage:
    fprintf (stderr, "usage: inflight --coordinator EP --txns N [--part1 A "
             "--part2 B] [--clients C] [--pid PID]\n");
    return 2;
}
