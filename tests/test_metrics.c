/*  test_metrics: the coordinator's Prometheus endpoint under a workload.
 *
 *  A real tpc-coordinator with --metrics-bind and two in-memory agents
 *  (no database needed: the counts are the coordinator's).  Four client
 *  threads run a workload of two-party transfers, every fifth one made to
 *  fail on the second agent (it votes no); meanwhile a scraper thread
 *  reads /metrics again and again and checks every scrape parses and no
 *  counter ever goes down.  Afterwards the counters must equal the
 *  workload's own counts: transactions by outcome, histogram counts per
 *  phase, fdatasyncs between 1 and the number of commits (group commit),
 *  agents connected.  Then sixteen clients at once: every transfer
 *  commits, and the decisions reach the agents in fewer frames than
 *  decides (one "decides" frame per agent per group commit, protocol 2).
 *  Wrong paths and methods get 404 and 405.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tpc_client.h"
#include "tpc_harness.h"
#include "tpc_test.h"

#define S_THREADS 4
#define S_PER_THREAD 60

static char *s_dir;
static char s_cep[64], s_aep[64];
static int s_mport;
static tpc_proc_t s_coord, s_agent[2];

/*  GET PATH (or METHOD PATH) from the metrics port; the whole response.  */
static char *
s_http (const char *method, const char *path)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET,
                             .sin_port = htons ((uint16_t) s_mport),
                             .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
    if (fd < 0 || connect (fd, (struct sockaddr *) &a, sizeof a)) {
        if (fd >= 0)
            close (fd);
        return NULL;
    }
    char req[256];
    int n = snprintf (req, sizeof req, "%s %s HTTP/1.0\r\nHost: x\r\n\r\n",
                      method, path);
    if (write (fd, req, (size_t) n) != n) {
        close (fd);
        return NULL;
    }
    size_t cap = 65536, len = 0;
    char *buf = malloc (cap);
    ssize_t r;
    while (buf && (r = read (fd, buf + len, cap - len - 1)) > 0) {
        len += (size_t) r;
        if (len + 1 == cap) {
            char *p = realloc (buf, cap *= 2);
            if (!p) {
                free (buf);
                buf = NULL;
            }
            buf = p;
        }
    }
    close (fd);
    if (buf)
        buf[len] = '\0';
    return buf;
}

/*  The value of the sample whose line starts with SERIES + " "; -1 if
 *  absent.                                                               */
static double
s_value (const char *text, const char *series)
{
    size_t n = strlen (series);
    for (const char *p = text; p && *p; p = strchr (p, '\n'), p = p ? p + 1
                                                                  : NULL) {
        if (!strncmp (p, series, n) && p[n] == ' ')
            return strtod (p + n + 1, NULL);
    }
    return -1;
}

static int
s_setup (void)
{
    s_dir = tpc_test_tmpdir ("metrics");
    if (!s_dir)
        return -1;
    s_mport = tpc_harness_free_port ();
    snprintf (s_cep, sizeof s_cep, "tcp://127.0.0.1:%d",
              tpc_harness_free_port ());
    snprintf (s_aep, sizeof s_aep, "tcp://127.0.0.1:%d",
              tpc_harness_free_port ());
    char log[700], logdir[700], mbind[64];
    snprintf (log, sizeof log, "%s/coordinator.log", s_dir);
    snprintf (logdir, sizeof logdir, "%s/log", s_dir);
    snprintf (mbind, sizeof mbind, "127.0.0.1:%d", s_mport);
    char *cargs[] = { "--id", "m1", "--bind", s_cep, "--agent-bind",
                      s_aep, "--log-dir", logdir, "--metrics-bind", mbind,
                      "--insecure-plaintext", NULL };
    if (tpc_harness_start_coord (&s_coord, cargs, NULL, log))
        return -1;
    for (int i = 0; i < 2; i++) {
        char name[8];
        snprintf (name, sizeof name, "m%d", i + 1);
        snprintf (log, sizeof log, "%s/agent-%s.log", s_dir, name);
        char *aargs[] = { "--name", name, "--coordinator", s_aep,
                          "--backend", "mem", "--insecure-plaintext", NULL };
        if (tpc_harness_start_agent (&s_agent[i], aargs, NULL, log))
            return -1;
    }
    /* both agents connected */
    for (int i = 0; i < 100; i++) {
        char *m = s_http ("GET", "/metrics");
        double n = m ? s_value (m, "tpc_agents_connected") : -1;
        free (m);
        if (n == 2)
            return 0;
        usleep (100 * 1000);
    }
    return -1;
}

static int
s_teardown (void)
{
    tpc_harness_stop (&s_coord, s_agent, 2);
    tpc_harness_clean (&s_dir, 0);
    return 0;
}

typedef struct {
    int id;
    int committed, aborted, other;
} s_worker_t;

static atomic_int s_mid_scrapes;    /* scrapes from inside a worker */

static void *
s_work (void *arg)
{
    s_worker_t *w = arg;
    tpc_client_opts_t o = { .timeout_ms = 10000 };
    tpc_client_t *c = tpc_client_new (s_cep, &o);
    for (int i = 0; c && i < S_PER_THREAD; i++) {
        bool fail = (w->id * S_PER_THREAD + i) % 5 == 0;
        tpc_client_stmt_t st[2] = {
            { "m1", "UPDATE a SET x = x - 1", 0, NULL },
            { "m2", fail ? "FAIL no money" : "UPDATE b SET x = x + 1", 0,
              NULL },
        };
        char gid[TPC_CLIENT_GID_MAX], reason[128];
        tpc_client_outcome_t out;
        int rc = tpc_submit (c, st, 2, NULL, gid, &out, reason,
                             sizeof reason);
        if (w->id == 0 && i % 15 == 7) {
            /* a scrape from inside the workload, between transfers */
            char *m = s_http ("GET", "/metrics");
            if (m && s_value (m, "tpc_transactions_total{outcome="
                                 "\"committed\"}") >= 1)
                atomic_fetch_add (&s_mid_scrapes, 1);
            free (m);
        }
        if (rc == 0)
            w->committed++;
        else if (rc == TPC_CLIENT_EABORTED)
            w->aborted++;
        else
            w->other++;
    }
    tpc_client_destroy (&c);
    return NULL;
}

static atomic_bool s_stop;
static atomic_int s_scrapes, s_bad_scrapes;

static void *
s_scrape (void *arg)
{
    (void) arg;
    double last_c = 0, last_a = 0, last_s = 0;
    while (!atomic_load (&s_stop)) {
        char *m = s_http ("GET", "/metrics");
        double c = m ? s_value (m, "tpc_transactions_total{outcome="
                                   "\"committed\"}") : -1;
        double a = m ? s_value (m, "tpc_transactions_total{outcome="
                                   "\"aborted\"}") : -1;
        double s = m ? s_value (m, "tpc_log_fdatasyncs_total") : -1;
        bool ok = m && strstr (m, "HTTP/1.0 200 OK") && c >= last_c
                  && a >= last_a && s >= last_s
                  && strstr (m, "tpc_phase_seconds_bucket{phase=\"decide\","
                             "le=\"+Inf\"}");
        atomic_fetch_add (&s_scrapes, 1);
        if (!ok)
            atomic_fetch_add (&s_bad_scrapes, 1);
        last_c = c;
        last_a = a;
        last_s = s;
        free (m);
        usleep (20 * 1000);
    }
    return NULL;
}

static void
test_metrics_match_workload (void)
{
    pthread_t th[S_THREADS], scraper;
    s_worker_t w[S_THREADS];
    pthread_create (&scraper, NULL, s_scrape, NULL);
    for (int i = 0; i < S_THREADS; i++) {
        w[i] = (s_worker_t) { .id = i };
        pthread_create (&th[i], NULL, s_work, &w[i]);
    }
    int committed = 0, aborted = 0, other = 0;
    for (int i = 0; i < S_THREADS; i++) {
        pthread_join (th[i], NULL);
        committed += w[i].committed;
        aborted += w[i].aborted;
        other += w[i].other;
    }
    atomic_store (&s_stop, true);
    pthread_join (scraper, NULL);
    CU_ASSERT_EQUAL (other, 0);
    CU_ASSERT_EQUAL (aborted, S_THREADS * S_PER_THREAD / 5);
    CU_ASSERT (atomic_load (&s_scrapes) >= 1);
    CU_ASSERT_EQUAL (atomic_load (&s_mid_scrapes), S_PER_THREAD / 15);
    CU_ASSERT_EQUAL (atomic_load (&s_bad_scrapes), 0);
    /* settled: the aborts' acks are in, nothing in flight */
    char *m = NULL;
    for (int i = 0; i < 100; i++) {
        free (m);
        m = s_http ("GET", "/metrics");
        if (m && s_value (m, "tpc_transactions_in_flight") == 0)
            break;
        usleep (50 * 1000);
    }
    CU_ASSERT_PTR_NOT_NULL_FATAL (m);
    double mc = s_value (m, "tpc_transactions_total{outcome=\"committed\"}");
    double ma = s_value (m, "tpc_transactions_total{outcome=\"aborted\"}");
    double syncs = s_value (m, "tpc_log_fdatasyncs_total");
    CU_ASSERT_EQUAL (mc, committed);
    CU_ASSERT_EQUAL (ma, aborted);
    CU_ASSERT_EQUAL (s_value (m, "tpc_transactions_total{outcome="
                                 "\"unknown\"}"), 0);
    CU_ASSERT_EQUAL (s_value (m, "tpc_transaction_seconds_count"),
                     committed + aborted);
    CU_ASSERT_EQUAL (s_value (m, "tpc_transaction_seconds_bucket{le="
                                 "\"+Inf\"}"), committed + aborted);
    /* every commit went through prepare, decide and commit; an abort
     * never reached decide */
    CU_ASSERT_EQUAL (s_value (m, "tpc_phase_seconds_count{phase="
                                 "\"prepare\"}"), committed);
    CU_ASSERT_EQUAL (s_value (m, "tpc_phase_seconds_count{phase="
                                 "\"decide\"}"), committed);
    CU_ASSERT_EQUAL (s_value (m, "tpc_phase_seconds_count{phase="
                                 "\"commit\"}"), committed);
    CU_ASSERT (syncs >= 1 && syncs <= committed);
    CU_ASSERT_EQUAL (s_value (m, "tpc_log_sync_seconds_count"), syncs);
    CU_ASSERT_EQUAL (s_value (m, "tpc_transactions_in_doubt"), 0);
    CU_ASSERT_EQUAL (s_value (m, "tpc_agents_connected"), 2);
    CU_ASSERT (s_value (m, "tpc_agent_connections_total") >= 2);
    printf ("\n    workload committed=%d aborted=%d; metrics committed=%.0f "
            "aborted=%.0f fdatasyncs=%.0f (%.2f per commit); %d scrapes "
            "during the workload\n", committed, aborted, mc, ma, syncs,
            syncs / committed,
            atomic_load (&s_scrapes) + atomic_load (&s_mid_scrapes));
    free (m);
}

#define S_BATCH_THREADS 16
#define S_BATCH_PER_THREAD 25

static void *
s_transfers (void *arg)
{
    int *committed = arg;
    tpc_client_opts_t o = { .timeout_ms = 10000 };
    tpc_client_t *c = tpc_client_new (s_cep, &o);
    for (int i = 0; c && i < S_BATCH_PER_THREAD; i++) {
        tpc_client_stmt_t st[2] = {
            { "m1", "UPDATE a SET x = x - 1", 0, NULL },
            { "m2", "UPDATE b SET x = x + 1", 0, NULL },
        };
        char gid[TPC_CLIENT_GID_MAX], reason[128];
        tpc_client_outcome_t out;
        if (tpc_submit (c, st, 2, NULL, gid, &out, reason,
                        sizeof reason) == 0)
            (*committed)++;
        else
            fprintf (stderr, "transfer %s: %s\n", gid, reason);
    }
    tpc_client_destroy (&c);
    return NULL;
}

/*  The decides and their frames on /metrics once nothing is in flight.  */
static void
s_decides (double *decides, double *frames)
{
    char *m = NULL;
    for (int i = 0; i < 100; i++) {
        free (m);
        m = s_http ("GET", "/metrics");
        if (m && s_value (m, "tpc_transactions_in_flight") == 0)
            break;
        usleep (50 * 1000);
    }
    *decides = m ? s_value (m, "tpc_decides_total") : -1;
    *frames = m ? s_value (m, "tpc_decide_frames_total") : -1;
    free (m);
}

static void
test_metrics_decides_batched (void)
{
    double d0, f0, d1, f1;
    s_decides (&d0, &f0);
    CU_ASSERT (d0 >= 0 && f0 >= 0 && f0 <= d0);
    pthread_t th[S_BATCH_THREADS];
    int committed[S_BATCH_THREADS] = { 0 };
    for (int i = 0; i < S_BATCH_THREADS; i++)
        pthread_create (&th[i], NULL, s_transfers, &committed[i]);
    int all = 0;
    for (int i = 0; i < S_BATCH_THREADS; i++) {
        pthread_join (th[i], NULL);
        all += committed[i];
    }
    CU_ASSERT_EQUAL (all, S_BATCH_THREADS * S_BATCH_PER_THREAD);
    s_decides (&d1, &f1);
    double decides = d1 - d0, frames = f1 - f0;
    /* a commit decide to each of the two agents, at least */
    CU_ASSERT (decides >= 2.0 * all);
    CU_ASSERT (frames >= 1 && frames < decides);
    printf ("\n    %d clients: committed=%d decides=%.0f decide_frames=%.0f "
            "(%.2f decides per frame)\n", S_BATCH_THREADS, all, decides,
            frames, frames > 0 ? decides / frames : 0);
}

static void
test_metrics_http_errors (void)
{
    char *r = s_http ("GET", "/nope");
    CU_ASSERT (r && strstr (r, "404 Not Found"));
    free (r);
    r = s_http ("POST", "/metrics");
    CU_ASSERT (r && strstr (r, "405 Method Not Allowed"));
    free (r);
    r = s_http ("GET", "/metrics?x=1");
    CU_ASSERT (r && strstr (r, "200 OK")
               && strstr (r, "version=0.0.4"));
    free (r);
}

static const tpc_test_case_t s_cases[] = {
    { "metrics_match_workload", test_metrics_match_workload },
    { "metrics_decides_batched", test_metrics_decides_batched },
    { "metrics_http_errors", test_metrics_http_errors },
    { NULL, NULL }
};

int
main (void)
{
    signal (SIGPIPE, SIG_IGN);
    const tpc_test_suite_t suites[] = {
        { "metrics", s_setup, s_teardown, s_cases },
        { NULL, NULL, NULL, NULL }
    };
    return tpc_test_main ("test_metrics", suites);
}
