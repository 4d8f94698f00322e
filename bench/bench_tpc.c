/*  bench_tpc: the tpc workload of tpc_bench (see bench_tpc.h).           */
#include "bench_tpc.h"

#include <stdio.h>
#include <stdlib.h>

#include "tpc_client.h"

typedef struct {
    tpc_client_t *client;
    const char *part[2];
    const char *protocol;
} s_session_t;

static void *
s_open (const bench_work_config_t *cfg, int thread, char *err, size_t errlen)
{
    s_session_t *s = calloc (1, sizeof *s);
    if (!s) {
        snprintf (err, errlen, "out of memory");
        return NULL;
    }
    (void) thread;
    tpc_client_opts_t opts = { .timeout_ms = cfg->timeout_ms,
                               .zmq_context = cfg->zmq_context };
    s->client = tpc_client_new (cfg->coordinator, &opts);
    if (!s->client) {
        snprintf (err, errlen, "cannot create a tpc client for %s",
                  cfg->coordinator ? cfg->coordinator : TPC_CLIENT_ENDPOINT_DEFAULT);
        free (s);
        return NULL;
    }
    s->part[0] = cfg->part1 ? cfg->part1 : "db1";
    s->part[1] = cfg->part2 ? cfg->part2 : "db2";
    s->protocol = cfg->protocol;
    return s;
}

static int
s_run (void *session, const bench_txn_t *t, char *err, size_t errlen)
{
    s_session_t *s = session;
    char amount[16], from[16], to[16];
    snprintf (amount, sizeof amount, "%u", t->amount);
    snprintf (from, sizeof from, "%u", t->from);
    snprintf (to, sizeof to, "%u", t->to);
    const char *debit[2] = { amount, from };
    const char *credit[2] = { amount, to };
    const tpc_client_stmt_t stmts[2] = {
        { s->part[0], "UPDATE accounts SET balance = balance - $1 WHERE id = $2", 2, debit },
        { s->part[1], "UPDATE accounts SET balance = balance + $1 WHERE id = $2", 2, credit },
    };

    char gid[TPC_CLIENT_GID_MAX] = "", reason[256] = "";
    tpc_client_outcome_t outcome = TPC_CLIENT_OUTCOME_UNKNOWN;
    tpc_txn_opts_t topts = { .protocol = s->protocol };
    int rc = tpc_submit (s->client, stmts, 2, &topts, gid, &outcome, reason,
                         sizeof reason);
    if (rc == 0 && outcome == TPC_CLIENT_COMMITTED)
        return 0;
    if (rc == TPC_CLIENT_EABORTED)
        snprintf (err, errlen, "%s aborted: %s", gid[0] ? gid : "transaction",
                  reason[0] ? reason : "no reason given");
    else
        snprintf (err, errlen, "%s: %s", tpc_client_strerror (rc),
                  tpc_client_errmsg (s->client));
    return -1;
}

static void
s_close (void **session_p)
{
    if (!session_p || !*session_p)
        return;
    s_session_t *s = *session_p;
    tpc_client_destroy (&s->client);
    free (s);
    *session_p = NULL;
}

static const bench_work_t s_work = { "tpc", s_open, s_run, s_close };

const bench_work_t *
bench_tpc (void)
{
    return &s_work;
}
