/*  hello: the smallest program that uses an installed libtpc.
 *
 *  tests/test_install.sh builds it against the header and the shared
 *  library that `make install` put in a scratch DESTDIR (found through
 *  pkg-config), never against the build tree, and runs it against a
 *  coordinator with two in-memory agents.  It runs one transaction across
 *  both agents (tpc_begin, tpc_exec on each, tpc_commit) and prints
 *  "committed <gid>"; it exits 0 only if the coordinator said committed.
 *  It includes no header but tpc_client.h.
 *
 *  usage: hello ENDPOINT AGENT1 AGENT2
 */
#define _POSIX_C_SOURCE 200809L     /* nanosleep under -std=c11 */

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <tpc_client.h>

/*  One transaction; returns tpc_commit's code, or the first failure.    */
static int
s_transfer (tpc_client_t *c, const char *a1, const char *a2)
{
    char gid[TPC_CLIENT_GID_MAX];
    int rc = tpc_begin (c, NULL, gid);
    if (rc == 0)
        rc = tpc_exec (c, gid, a1, "UPDATE t SET x = x - 1", 0, NULL, NULL);
    if (rc == 0)
        rc = tpc_exec (c, gid, a2, "UPDATE t SET x = x + 1", 0, NULL, NULL);
    tpc_result_t *r = NULL;
    const char *param[] = { "42" };
    if (rc == 0)
        rc = tpc_exec (c, gid, a1, "SELECT $1", 1, param, &r);
    if (rc == 0 && (tpc_result_nrows (r) != 1
                    || strcmp (tpc_result_value (r, 0, 0), "42") != 0)) {
        fprintf (stderr, "hello: SELECT $1 did not give 42\n");
        rc = TPC_CLIENT_EPROTO;
    }
    tpc_result_destroy (&r);
    if (rc != 0)
        return rc;
    tpc_client_outcome_t out = TPC_CLIENT_OUTCOME_UNKNOWN;
    char reason[128] = "";
    rc = tpc_commit (c, gid, &out, reason, sizeof reason);
    if (rc == 0 && out == TPC_CLIENT_COMMITTED)
        printf ("committed %s\n", gid);
    return rc;
}

int
main (int argc, char **argv)
{
    if (argc != 4) {
        fprintf (stderr, "usage: hello ENDPOINT AGENT1 AGENT2\n");
        return 2;
    }
    tpc_client_opts_t opts = { .timeout_ms = 5000 };
    tpc_client_t *c = tpc_client_new (argv[1], &opts);
    if (!c) {
        perror ("hello: tpc_client_new");
        return 1;
    }
    /*  The agents may not have said hello to the coordinator yet: an
     *  unknown participant is retried for up to 10 s.                    */
    int rc = TPC_CLIENT_EUNKNOWN_PART;
    for (int i = 0; i < 100 && rc == TPC_CLIENT_EUNKNOWN_PART; i++) {
        rc = s_transfer (c, argv[2], argv[3]);
        if (rc == TPC_CLIENT_EUNKNOWN_PART) {
            struct timespec ts = { 0, 100 * 1000 * 1000 };
            nanosleep (&ts, NULL);
        }
    }
    if (rc != 0)
        fprintf (stderr, "hello: %s (%s)\n", tpc_client_strerror (rc),
                 tpc_client_errmsg (c));
    tpc_client_destroy (&c);
    return rc == 0 ? 0 : 1;
}
