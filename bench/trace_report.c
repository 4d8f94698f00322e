/*  trace_report: where the time of a transaction goes, from the per-stage
 *  latency trace (common/tpc_trace.h: lines "<gid> <stage> <t_ns>" in the
 *  files of the client, the coordinator and the agents).
 *
 *    trace_report [--clients N] FILE...
 *
 *  The lines are joined by gid.  A stage several agents saw (work sent,
 *  agent receive, vote ...) counts at its LATEST time: the transaction
 *  waits for the slowest agent, and as each agent's stages follow one
 *  another, the latest times do too (max of a_i <= max of b_i when every
 *  a_i <= b_i).  For each gid the stages present are walked in the order
 *  of tpc_trace_stage_t; each pair of consecutive present stages gives
 *  one delta.  When the reply left before the last ack (--reply-on
 *  decision), phase 2 (agent_decide, phase2_done, ack_recv) is left out
 *  of that walk and walked on its own from decide_sent: its rows come
 *  after the end-to-end row, marked "(after the reply)".  Printed: a markdown table (per pair, then end to end:
 *  client_send -> client_recv) of the median and p99 in microseconds and
 *  the number of gids, then one machine line per row:
 *
 *    bench trace clients=<n> stage=<a>-><b> p50_us=<x> p99_us=<y> n=<k>
 *    bench trace clients=<n> stage=end_to_end p50_us=<x> p99_us=<y> n=<k>
 *
 *  When some gid has a client_send line, the gids without one are left
 *  out (the daemons also traced transfers of other clients: bench/run's
 *  probes, or another run's; join a run's client file with the daemons'
 *  files to get that run alone).
 *  The medians of the pairs need not add up to the end-to-end median.
 *  Unknown stage names and malformed lines are counted and skipped.
 *  Exit status 0, 1 when no gid has both client stages or a file cannot
 *  be read, 2 on bad usage.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tpc_gid.h"
#include "tpc_trace.h"

#define S_NS TPC_TRACE_STAGE_COUNT

typedef struct {
    char gid[TPC_GID_MAX];
    int stage;
    int64_t t;
} s_mark_t;

typedef struct {
    int64_t *v;
    size_t n, cap;
} s_vec_t;

static int
s_push (s_vec_t *vec, int64_t x)
{
    if (vec->n == vec->cap) {
        size_t cap = vec->cap ? vec->cap * 2 : 64;
        int64_t *v = realloc (vec->v, cap * sizeof *v);
        if (!v)
            return -1;
        vec->v = v;
        vec->cap = cap;
    }
    vec->v[vec->n++] = x;
    return 0;
}

static int
s_cmp_i64 (const void *a, const void *b)
{
    int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
    return (x > y) - (x < y);
}

static int
s_cmp_mark (const void *a, const void *b)
{
    return strcmp (((const s_mark_t *) a)->gid, ((const s_mark_t *) b)->gid);
}

/*  The nearest-rank percentile P (0 < P <= 100) of sorted V, in µs.     */
static double
s_pct (const s_vec_t *vec, double p)
{
    size_t rank = (size_t) ((p / 100.0) * (double) vec->n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > vec->n)
        rank = vec->n;
    return (double) vec->v[rank - 1] / 1000.0;
}

/*  Read FILE's marks onto *MARKS; 0, or -1 (said on stderr).            */
static int
s_read (const char *path, s_mark_t **marks, size_t *n, size_t *cap,
        size_t *bad)
{
    FILE *f = fopen (path, "r");
    if (!f) {
        fprintf (stderr, "trace_report: %s: %s\n", path, strerror (errno));
        return -1;
    }
    char line[256], gid[TPC_GID_MAX], stage[64];
    int64_t t;
    int rc = 0;
    while (fgets (line, sizeof line, f)) {
        int s;
        if (sscanf (line, "%79s %63s %" SCNd64, gid, stage, &t) != 3
            || (s = tpc_trace_stage_parse (stage)) < 0) {
            (*bad)++;
            continue;
        }
        if (*n == *cap) {
            size_t c = *cap ? *cap * 2 : 4096;
            s_mark_t *m = realloc (*marks, c * sizeof *m);
            if (!m) {
                fprintf (stderr, "trace_report: out of memory\n");
                rc = -1;
                break;
            }
            *marks = m;
            *cap = c;
        }
        s_mark_t *m = &(*marks)[(*n)++];
        memcpy (m->gid, gid, sizeof m->gid);
        m->stage = s;
        m->t = t;
    }
    fclose (f);
    return rc;
}

/*  Sort VEC and print its table row.                                    */
static void
s_row (const char *label, s_vec_t *vec)
{
    qsort (vec->v, vec->n, sizeof *vec->v, s_cmp_i64);
    printf ("| %s | %.1f | %.1f | %zu |\n", label, s_pct (vec, 50),
            s_pct (vec, 99), vec->n);
}

int
main (int argc, char **argv)
{
    unsigned clients = 0;
    int first = 1;
    if (argc > 2 && !strcmp (argv[1], "--clients")) {
        clients = (unsigned) strtoul (argv[2], NULL, 10);
        first = 3;
    }
    if (first >= argc) {
        fprintf (stderr, "usage: trace_report [--clients N] FILE...\n");
        return 2;
    }
    s_mark_t *marks = NULL;
    size_t n = 0, cap = 0, bad = 0;
    s_vec_t pair[S_NS][S_NS], e2e = { NULL, 0, 0 };
    bool side[S_NS][S_NS];      /* a pair of phase 2 after the reply */
    memset (pair, 0, sizeof pair);
    memset (side, 0, sizeof side);
    int rc = 1;
    for (int i = first; i < argc; i++)
        if (s_read (argv[i], &marks, &n, &cap, &bad))
            goto cleanup;
    qsort (marks, n, sizeof *marks, s_cmp_mark);
    bool clients_only = false;
    for (size_t i = 0; i < n && !clients_only; i++)
        clients_only = marks[i].stage == TPC_TRACE_CLIENT_SEND;
    size_t gids = 0;
    for (size_t i = 0; i < n;) {
        int64_t at[S_NS];
        bool seen[S_NS] = { false };
        size_t j = i;
        for (; j < n && !strcmp (marks[j].gid, marks[i].gid); j++) {
            int s = marks[j].stage;
            if (!seen[s] || marks[j].t > at[s])
                at[s] = marks[j].t;
            seen[s] = true;
        }
        i = j;
        if (clients_only && !seen[TPC_TRACE_CLIENT_SEND])
            continue;
        gids++;
        /* --reply-on decision: the reply left before the acks came (or
         * the trace ended before they did: the daemons stopped) */
        bool early = seen[TPC_TRACE_REPLY_SENT]
                     && (!seen[TPC_TRACE_ACK_RECV]
                         || at[TPC_TRACE_REPLY_SENT] < at[TPC_TRACE_ACK_RECV]);
        for (int walk = 0; walk < (early ? 2 : 1); walk++) {
            int prev = -1;
            for (int s = 0; s < S_NS; s++) {
                bool p2 = s > TPC_TRACE_DECIDE_SENT
                          && s <= TPC_TRACE_ACK_RECV;
                if (!seen[s] || (early && walk == 0 && p2)
                    || (walk == 1 && !p2 && s != TPC_TRACE_DECIDE_SENT))
                    continue;
                if (prev >= 0 && s_push (&pair[prev][s], at[s] - at[prev]))
                    goto cleanup;
                if (prev >= 0 && walk == 1)
                    side[prev][s] = true;
                prev = s;
            }
        }
        if (seen[TPC_TRACE_CLIENT_SEND] && seen[TPC_TRACE_CLIENT_RECV]
            && s_push (&e2e, at[TPC_TRACE_CLIENT_RECV]
                             - at[TPC_TRACE_CLIENT_SEND]))
            goto cleanup;
    }
    printf ("Per-stage latency: %zu traced gid(s)", gids);
    if (clients)
        printf (", %u client(s)", clients);
    printf ("; a stage at its latest agent; µs\n\n");
    printf ("| stage | p50 µs | p99 µs | n |\n|---|---:|---:|---:|\n");
    for (int p2 = 0; p2 < 2; p2++) {
        for (int a = 0; a < S_NS; a++)
            for (int b = a + 1; b < S_NS; b++) {
                if (!pair[a][b].n || side[a][b] != (p2 == 1))
                    continue;
                char label[128];
                snprintf (label, sizeof label, "%s%s -> %s",
                          p2 ? "(after the reply) " : "",
                          tpc_trace_stage_name (a), tpc_trace_stage_name (b));
                s_row (label, &pair[a][b]);
            }
        if (!p2 && e2e.n)
            s_row ("**end to end** (client_send -> client_recv)", &e2e);
    }
    printf ("\n");
    for (int a = 0; a < S_NS; a++)
        for (int b = a + 1; b < S_NS; b++)
            if (pair[a][b].n)
                printf ("bench trace clients=%u stage=%s->%s p50_us=%.1f "
                        "p99_us=%.1f n=%zu\n", clients,
                        tpc_trace_stage_name (a), tpc_trace_stage_name (b),
                        s_pct (&pair[a][b], 50), s_pct (&pair[a][b], 99),
                        pair[a][b].n);
    if (e2e.n)
        printf ("bench trace clients=%u stage=end_to_end p50_us=%.1f "
                "p99_us=%.1f n=%zu\n", clients, s_pct (&e2e, 50),
                s_pct (&e2e, 99), e2e.n);
    if (bad)
        fprintf (stderr, "trace_report: %zu malformed line(s) skipped\n",
                 bad);
    rc = e2e.n ? 0 : 1;
    if (!e2e.n)
        fprintf (stderr, "trace_report: no gid has both client_send and "
                 "client_recv\n");
cleanup:
    for (int a = 0; a < S_NS; a++)
        for (int b = 0; b < S_NS; b++)
            free (pair[a][b].v);
    free (e2e.v);
    free (marks);
    return rc;
}
