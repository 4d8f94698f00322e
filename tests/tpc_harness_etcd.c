/*  tpc_harness_etcd: throwaway etcd clusters for tests (scripts/etcdtmp)
 *  and etcdctl for their assertions.  See tpc_harness.h.  A missing etcd
 *  is a failure, never a skip.
 */
#include "tpc_harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*  etcdtmp START (start | start-tls) DIR N; its endpoints.              */
static int
s_start (const char *start, const char *dir, int n, char *endpoints,
         size_t size)
{
    char cmd[1024];
    snprintf (cmd, sizeof cmd, "'%s/scripts/etcdtmp' %s '%s' %d",
              tpc_harness_srcdir (), start, dir, n);
    FILE *f = popen (cmd, "r");
    if (!f)
        return -1;
    endpoints[0] = '\0';
    if (!fgets (endpoints, (int) size, f))
        endpoints[0] = '\0';
    int st = pclose (f);
    endpoints[strcspn (endpoints, "\n")] = '\0';
    if (st != 0 || !*endpoints) {
        fprintf (stderr, "harness: cannot start etcd in %s\n", dir);
        return -1;
    }
    return 0;
}

int
tpc_harness_etcd_start (const char *dir, int n, char *endpoints, size_t size)
{
    return s_start ("start", dir, n, endpoints, size);
}

int
tpc_harness_etcd_start_tls (const char *dir, int n, char *endpoints,
                            size_t size)
{
    return s_start ("start-tls", dir, n, endpoints, size);
}

int
tpc_harness_etcd_cmd (const char *what, const char *dir, const char *members)
{
    char cmd[1024];
    snprintf (cmd, sizeof cmd, "'%s/scripts/etcdtmp' %s '%s' %s",
              tpc_harness_srcdir (), what, dir, members ? members : "");
    return system (cmd) == 0 ? 0 : -1;
}

int
tpc_harness_etcdctl (const char *endpoints, const char *args, char *out,
                     size_t size)
{
    char cmd[2048];
    snprintf (cmd, sizeof cmd, "ETCDCTL_API=3 etcdctl --endpoints='%s' "
              "--command-timeout=10s %s", endpoints, args);
    FILE *f = popen (cmd, "r");
    if (!f)
        return -1;
    size_t n = out && size ? fread (out, 1, size - 1, f) : 0;
    if (out && size)
        out[n] = '\0';
    else {
        char sink[4096];
        while (fread (sink, 1, sizeof sink, f) > 0)
            ;
    }
    int st = pclose (f);
    if (st != 0)
        fprintf (stderr, "harness: etcdctl %s failed (status %d)\n", args, st);
    return st == 0 ? 0 : -1;
}

long
tpc_harness_etcd_keys (const char *endpoints, const char *prefix)
{
    char args[600], out[65536];
    snprintf (args, sizeof args, "get --prefix --keys-only '%s'", prefix);
    if (tpc_harness_etcdctl (endpoints, args, out, sizeof out))
        return -1;
    long n = 0;
    for (char *line = strtok (out, "\n"); line; line = strtok (NULL, "\n"))
        if (*line)
            n++;
    return n;
}

int
tpc_harness_etcd_leader (const char *endpoints)
{
    char list[1024], *save = NULL;
    snprintf (list, sizeof list, "%s", endpoints);
    int n = 1;
    for (char *t = strtok_r (list, ",", &save); t;
         t = strtok_r (NULL, ",", &save), n++) {
        char out[1024] = "";
        /* etcdctl's table: endpoint, ID, version, db size, is leader, ... */
        if (tpc_harness_etcdctl (t, "endpoint status", out, sizeof out) == 0
            && strstr (out, ", true,"))
            return n;
    }
    return -1;
}
