/*  tpc_bench: the transfer benchmark driver - the same workload through a
 *  bare libpq 2PC client, the 2PC message floor, plain commits and tpc.
 *
 *    tpc_bench --mode bare|floor|plain|mixed-bare|tpc [--clients N]
 *              [--seconds S] [--warmup S] [--rate R] [--rows N]
 *              [--db1 CI --db2 CI] [--coordinator EP]
 *              [--part1 NAME --part2 NAME] [--protocol 2pc|3pc]
 *              [--label NAME] [--hist-out FILE] [--progress]
 *              [--poll-console PORT [--poll-hz N]]
 *    tpc_bench --merge FILE...
 *
 *  One thread per client, each with its own session (bench_work.h: two
 *  libpq connections; mixed-bare: one libpq and one MariaDB connection,
 *  --db2 naming the MariaDB conninfo file (bench_mixed.h); or one libtpc
 *  client), opened before the clock
 *  starts.  A transfer moves 1..100 between random rows (1 .. --rows) of
 *  accounts on the two databases.
 *
 *  Closed loop (--rate 0): each client sends its next transfer as soon as
 *  the last one ended; latency = end - start.  Open loop (--rate R, R
 *  transfers per second offered in total): client i of N sends its k-th
 *  transfer at t0 + (i + k*N) / R; latency is measured from that INTENDED
 *  time, so a stall counts against every transfer it delays (no
 *  coordinated omission).  Transfers whose intended time falls in the
 *  warm-up are not counted; none is sent after the window plus --seconds
 *  again (those are reported as unsent).
 *
 *  The window is [warmup, warmup + seconds): a closed-loop transfer counts
 *  when it ENDS in it.  Throughput = committed transfers / window (open
 *  loop: / time until the last counted one ended, if later).  Failed
 *  transfers (lock timeouts, aborts, ...) are counted as errors, never
 *  fatal; their latency is not recorded.  Latencies go to one bench_hist
 *  per thread (nanoseconds), merged at the end.
 *
 *  Output on stdout: one human line, then
 *    bench-run mode=<m> clients=<n> tps=<x> p50_ms=<x> p99_ms=<x> p999_ms=<x> max_ms=<x> errors=<n>
 *  mode is --label if given (e.g. tpc-mem), else --mode.  --hist-out FILE
 *  saves the run (line "bench-file mode=<m> clients=<n> seconds=<s>
 *  ok=<n> errors=<n> all=<n>", all = every transfer that ended, warm-up
 *  included, then the histogram, bench_hist.h format);
 *  --merge adds saved runs of one mode and client count together and
 *  prints the same two lines for the whole.
 *
 *  Exit status: 0 a run with at least one committed transfer, 1 a setup
 *  failure or nothing committed, 2 bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>

#include "bench_console.h"
#include "bench_hist.h"
#include "bench_mixed.h"
#include "bench_pg.h"
#include "bench_tpc.h"
#include "bench_work.h"
#include "tpc_clock.h"

#define S_ERRLEN 512
#define S_NS 1000000000ull
#define S_MAX_CLIENTS 1024
#define S_START_LEAD_NS 50000000ull /* threads start together this long after launch */

typedef struct {
    const char *mode;
    const char *label;
    const bench_work_t *work;
    bench_work_config_t wcfg;
    int clients;
    double seconds;
    double warmup;
    double rate;                /* 0 = closed loop */
    uint32_t rows;
    uint64_t seed;
    const char *hist_out;
    bool progress;
    int poll_port;              /* the console polled during the run; 0 no */
    double poll_hz;
} s_opts_t;

/*  The clock, shared read-only once the threads run.                    */
typedef struct {
    uint64_t start;             /* t0, ns CLOCK_MONOTONIC */
    uint64_t window_start;      /* t0 + warmup */
    uint64_t window_end;        /* window_start + seconds */
    uint64_t hard_end;          /* open loop: nothing sent after this */
} s_clock_t;

typedef struct {
    const s_opts_t *opts;
    const s_clock_t *clock;
    int id;
    void *session;
    bench_hist_t *hist;
    uint64_t ok;                /* counted (in the window) */
    uint64_t errors;            /* counted (in the window) */
    uint64_t unsent;            /* open loop: intended but never sent */
    uint64_t last_end;          /* open loop: end of the last counted one */
    uint64_t done;              /* every transfer ended (progress; atomic) */
    int ended;                  /* the thread is through (atomic) */
    char first_err[S_ERRLEN];
} s_client_t;

static uint64_t
s_now (void)
{
    return (uint64_t) tpc_now_ns ();
}

static void
s_sleep_until (uint64_t t)
{
    struct timespec ts = { (time_t) (t / S_NS), (long) (t % S_NS) };
    while (clock_nanosleep (CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

/*  xorshift64*: a private random stream per client.                      */
static uint64_t
s_rand (uint64_t *state)
{
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return *state * 2685821657736338717ull;
}

static void
s_next_txn (s_client_t *c, uint64_t *rng, bench_txn_t *t)
{
    t->from = 1 + (uint32_t) (s_rand (rng) % c->opts->rows);
    t->to = 1 + (uint32_t) (s_rand (rng) % c->opts->rows);
    t->amount = 1 + (uint32_t) (s_rand (rng) % 100);
    t->seq++;
}

/*  One transfer; counts it if it ended (closed) / was meant (open) in the
 *  window.  T_REF: the time latency is measured from.                    */
static void
s_one (s_client_t *c, bench_txn_t *t, uint64_t t_ref, bool open_loop)
{
    char err[S_ERRLEN];
    err[0] = '\0';
    int rc = c->opts->work->run (c->session, t, err, sizeof err);
    uint64_t t_end = s_now ();
    __atomic_add_fetch (&c->done, 1, __ATOMIC_RELAXED);
    const s_clock_t *k = c->clock;
    bool counted = open_loop
        ? t_ref >= k->window_start && t_ref < k->window_end
        : t_end >= k->window_start && t_end < k->window_end;
    if (rc < 0 && !c->first_err[0])
        snprintf (c->first_err, sizeof c->first_err, "%s", err[0] ? err : "failed");
    if (!counted)
        return;
    if (rc == 0) {
        c->ok++;
        bench_hist_record (c->hist, t_end - t_ref);
    }
    else
        c->errors++;
    if (t_end > c->last_end)
        c->last_end = t_end;
}

static void *
s_client_main (void *arg)
{
    s_client_t *c = arg;
    const s_opts_t *o = c->opts;
    const s_clock_t *k = c->clock;
    uint64_t rng = o->seed * 0x9E3779B97F4A7C15ull + (uint64_t) c->id + 1;
    bench_txn_t t = { 0, 0, 0, 0 };
    s_sleep_until (k->start);
    if (o->rate <= 0) {
        for (;;) {
            uint64_t t0 = s_now ();
            if (t0 >= k->window_end)
                break;
            s_next_txn (c, &rng, &t);
            s_one (c, &t, t0, false);
        }
        return NULL;
    }
    double interval = (double) S_NS * o->clients / o->rate;
    double offset = (double) S_NS * c->id / o->rate;
    for (uint64_t n = 0;; n++) {
        uint64_t intended = k->start + (uint64_t) (offset + interval * (double) n);
        if (intended >= k->window_end)
            break;
        uint64_t now = s_now ();
        if (now < intended)
            s_sleep_until (intended);
        else if (now >= k->hard_end) {
            /*  Hopelessly behind: what is left of the window is unsent.  */
            for (; intended < k->window_end;
                 intended = k->start + (uint64_t) (offset + interval * (double) ++n))
                c->unsent += intended >= k->window_start;
            break;
        }
        s_next_txn (c, &rng, &t);
        s_one (c, &t, intended, true);
    }
    return NULL;
}

static double
s_ms (uint64_t ns)
{
    return (double) ns / 1e6;
}

static void
s_report (const char *mode, int clients, double seconds, uint64_t ok,
          uint64_t errors, const bench_hist_t *h, const char *extra)
{
    double tps = seconds > 0 ? (double) ok / seconds : 0.0;
    printf ("%s: clients %d, %.1f s, %.1f tps; latency ms p50 %.3f p99 %.3f "
            "p99.9 %.3f max %.3f mean %.3f; errors %" PRIu64 "%s\n",
            mode, clients, seconds, tps,
            s_ms (bench_hist_percentile (h, 50)), s_ms (bench_hist_percentile (h, 99)),
            s_ms (bench_hist_percentile (h, 99.9)), s_ms (bench_hist_max (h)),
            bench_hist_mean (h) / 1e6, errors, extra ? extra : "");
    printf ("bench-run mode=%s clients=%d tps=%.1f p50_ms=%.3f p99_ms=%.3f "
            "p999_ms=%.3f max_ms=%.3f errors=%" PRIu64 "\n",
            mode, clients, tps,
            s_ms (bench_hist_percentile (h, 50)), s_ms (bench_hist_percentile (h, 99)),
            s_ms (bench_hist_percentile (h, 99.9)), s_ms (bench_hist_max (h)), errors);
    fflush (stdout);
}

static int
s_save (const char *path, const char *mode, int clients, double seconds,
        uint64_t ok, uint64_t errors, uint64_t all, const bench_hist_t *h)
{
    FILE *f = fopen (path, "w");
    if (!f) {
        fprintf (stderr, "tpc_bench: cannot write %s: %s\n", path, strerror (errno));
        return -1;
    }
    int rc = fprintf (f, "bench-file mode=%s clients=%d seconds=%.6f ok=%" PRIu64
                      " errors=%" PRIu64 " all=%" PRIu64 "\n",
                      mode, clients, seconds, ok, errors, all) < 0
             || bench_hist_save (h, f) < 0 ? -1 : 0;
    if (fclose (f) != 0)
        rc = -1;
    if (rc < 0)
        fprintf (stderr, "tpc_bench: cannot write %s: %s\n", path, strerror (errno));
    return rc;
}

/*  Add the saved runs FILES (NFILES) together and report them.           */
static int
s_merge (char **files, int nfiles)
{
    int rc = 1;
    char mode[64] = "", m[64];
    int clients = -1, c;
    double seconds = 0, s;
    uint64_t ok = 0, errors = 0, all = 0, o, e, a;
    bench_hist_t *h = bench_hist_new ();
    if (!h)
        goto cleanup;
    for (int i = 0; i < nfiles; i++) {
        FILE *f = fopen (files[i], "r");
        if (!f) {
            fprintf (stderr, "tpc_bench: cannot read %s: %s\n", files[i], strerror (errno));
            goto cleanup;
        }
        bool good = fscanf (f, "bench-file mode=%63s clients=%d seconds=%lf ok=%" SCNu64
                            " errors=%" SCNu64 " all=%" SCNu64 " ",
                            m, &c, &s, &o, &e, &a) == 6
                    && bench_hist_load (h, f) == 0;
        fclose (f);
        if (!good || (clients >= 0 && (c != clients || strcmp (m, mode) != 0))) {
            fprintf (stderr, "tpc_bench: %s: %s\n", files[i],
                     good ? "another mode or client count than the files before"
                          : "not a tpc_bench --hist-out file");
            goto cleanup;
        }
        snprintf (mode, sizeof mode, "%s", m);
        clients = c;
        seconds += s;
        ok += o;
        errors += e;
        all += a;
    }
    char extra[96];
    snprintf (extra, sizeof extra, "; %" PRIu64 " transfers in all (%d runs merged)",
              all, nfiles);
    s_report (mode, clients, seconds, ok, errors, h, extra);
    rc = 0;
cleanup:
    bench_hist_destroy (&h);
    return rc;
}

static void
s_usage (FILE *f)
{
    fprintf (f,
        "usage: tpc_bench --mode bare|floor|plain|mixed-bare|tpc [options]\n"
        "       tpc_bench --merge FILE...\n"
        "  --clients N          client threads (default 1)\n"
        "  --seconds S          measured window (default 10)\n"
        "  --warmup S           not counted, before the window (default 1)\n"
        "  --rate R             open loop: R transfers/s offered (default 0: closed loop)\n"
        "  --rows N             accounts rows 1..N on each database (default 10000)\n"
        "  --db1 CONNINFO       libpq connection of database 1 (bare, floor, plain)\n"
        "  --db2 CONNINFO       libpq connection of database 2 (mixed-bare: MariaDB conninfo FILE)\n"
        "  --lock-timeout-ms N  SET lock_timeout on every connection (default 5000)\n"
        "  --coordinator EP     tpc coordinator's client endpoint (tpc; default %s)\n"
        "  --part1 NAME         participant of database 1 (tpc; default db1)\n"
        "  --part2 NAME         participant of database 2 (tpc; default db2)\n"
        "  --protocol P         tpc: 2pc or 3pc (default: the coordinator's)\n"
        "  --timeout-ms N       tpc client call timeout (default 30000)\n"
        "  --label NAME         mode name in the output (e.g. tpc-mem)\n"
        "  --seed N             random seed (default 1)\n"
        "  --hist-out FILE      save the run for --merge\n"
        "  --progress           transfers per second on stderr while running\n"
        "  --poll-console PORT  load the operator console at 127.0.0.1:PORT meanwhile\n"
        "  --poll-hz N          ... N page refreshes a second (default 10)\n"
        "  --merge FILE...      add saved runs together and report them\n",
        "tcp://127.0.0.1:7400");
}

static int
s_number (const char *text, double min, double max, double *out)
{
    char *end;
    errno = 0;
    double v = strtod (text, &end);
    if (errno || end == text || *end || !(v >= min && v <= max))
        return -1;
    *out = v;
    return 0;
}

static const bench_work_t *
s_work (const char *mode)
{
    if (strcmp (mode, "bare") == 0)
        return bench_pg_bare ();
    if (strcmp (mode, "floor") == 0)
        return bench_pg_floor ();
    if (strcmp (mode, "plain") == 0)
        return bench_pg_plain ();
    if (strcmp (mode, "mixed-bare") == 0)
        return bench_mixed_bare ();
    if (strcmp (mode, "tpc") == 0)
        return bench_tpc ();
    return NULL;
}

/*  Parse ARGV into O.  0, -1 (bad usage, said why) or 1 (--help).        */
static int
s_parse (int argc, char **argv, s_opts_t *o, bool *merge)
{
    static const struct option longs[] = {
        { "mode", required_argument, NULL, 'm' },
        { "clients", required_argument, NULL, 'c' },
        { "seconds", required_argument, NULL, 's' },
        { "warmup", required_argument, NULL, 'w' },
        { "rate", required_argument, NULL, 'r' },
        { "rows", required_argument, NULL, 'n' },
        { "db1", required_argument, NULL, '1' },
        { "db2", required_argument, NULL, '2' },
        { "lock-timeout-ms", required_argument, NULL, 'L' },
        { "coordinator", required_argument, NULL, 'C' },
        { "part1", required_argument, NULL, 'P' },
        { "part2", required_argument, NULL, 'Q' },
        { "protocol", required_argument, NULL, 'R' },
        { "timeout-ms", required_argument, NULL, 'T' },
        { "label", required_argument, NULL, 'l' },
        { "seed", required_argument, NULL, 'S' },
        { "hist-out", required_argument, NULL, 'H' },
        { "progress", no_argument, NULL, 'p' },
        { "poll-console", required_argument, NULL, 'K' },
        { "poll-hz", required_argument, NULL, 'Z' },
        { "merge", no_argument, NULL, 'M' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    double v;
    int ch;
    while ((ch = getopt_long (argc, argv, "h", longs, NULL)) != -1) {
        const char *bad = NULL;
        switch (ch) {
        case 'm': o->mode = optarg; break;
        case 'c':
            if (s_number (optarg, 1, S_MAX_CLIENTS, &v) < 0 || v != (int) v)
                bad = "--clients wants a whole number 1..1024";
            o->clients = (int) v;
            break;
        case 's':
            if (s_number (optarg, 0.1, 86400, &v) < 0)
                bad = "--seconds wants 0.1 .. 86400";
            o->seconds = v;
            break;
        case 'w':
            if (s_number (optarg, 0, 3600, &v) < 0)
                bad = "--warmup wants 0 .. 3600";
            o->warmup = v;
            break;
        case 'r':
            if (s_number (optarg, 0, 1e7, &v) < 0)
                bad = "--rate wants 0 .. 1e7 (0: closed loop)";
            o->rate = v;
            break;
        case 'n':
            if (s_number (optarg, 1, 1e9, &v) < 0 || v != (uint32_t) v)
                bad = "--rows wants a whole number 1 .. 1e9";
            o->rows = (uint32_t) v;
            break;
        case '1': o->wcfg.db1 = optarg; break;
        case '2': o->wcfg.db2 = optarg; break;
        case 'L':
            if (s_number (optarg, 0, 3600000, &v) < 0 || v != (int) v)
                bad = "--lock-timeout-ms wants a whole number 0 .. 3600000";
            o->wcfg.lock_timeout_ms = (int) v;
            break;
        case 'C': o->wcfg.coordinator = optarg; break;
        case 'P': o->wcfg.part1 = optarg; break;
        case 'Q': o->wcfg.part2 = optarg; break;
        case 'R':
            if (strcmp (optarg, "2pc") && strcmp (optarg, "3pc"))
                bad = "--protocol wants 2pc or 3pc";
            o->wcfg.protocol = optarg;
            break;
        case 'T':
            if (s_number (optarg, 1, 3600000, &v) < 0 || v != (int) v)
                bad = "--timeout-ms wants a whole number 1 .. 3600000";
            o->wcfg.timeout_ms = (int) v;
            break;
        case 'l': o->label = optarg; break;
        case 'S':
            if (s_number (optarg, 0, 1e15, &v) < 0 || v != (uint64_t) v)
                bad = "--seed wants a whole number";
            o->seed = (uint64_t) v;
            break;
        case 'H': o->hist_out = optarg; break;
        case 'p': o->progress = true; break;
        case 'K':
            if (s_number (optarg, 1, 65535, &v) < 0 || v != (int) v)
                bad = "--poll-console wants the console's port";
            o->poll_port = (int) v;
            break;
        case 'Z':
            if (s_number (optarg, 0.1, 1000, &v) < 0)
                bad = "--poll-hz wants 0.1 .. 1000";
            o->poll_hz = v;
            break;
        case 'M': *merge = true; break;
        case 'h': return 1;
        default: return -1;
        }
        if (bad) {
            fprintf (stderr, "tpc_bench: %s (got \"%s\")\n", bad, optarg);
            return -1;
        }
    }
    if (*merge) {
        if (optind >= argc) {
            fprintf (stderr, "tpc_bench: --merge wants FILE...\n");
            return -1;
        }
        return 0;
    }
    if (optind < argc) {
        fprintf (stderr, "tpc_bench: unexpected argument \"%s\"\n", argv[optind]);
        return -1;
    }
    if (!o->mode || !(o->work = s_work (o->mode))) {
        fprintf (stderr, "tpc_bench: --mode bare|floor|plain|mixed-bare|tpc is required\n");
        return -1;
    }
    if (o->work != bench_tpc () && (!o->wcfg.db1 || !o->wcfg.db2)) {
        fprintf (stderr, "tpc_bench: --mode %s needs --db1 and --db2\n", o->mode);
        return -1;
    }
    return 0;
}

/*  Every second: transfers per second of the last second, on stderr.     */
static void
s_watch (const s_opts_t *o, const s_clock_t *k, s_client_t *cl)
{
    const char *name = o->label ? o->label : o->mode;
    uint64_t last = 0, t_last = k->start;
    for (;;) {
        bool done = true;
        for (int i = 0; i < o->clients; i++)
            done &= __atomic_load_n (&cl[i].ended, __ATOMIC_ACQUIRE) != 0;
        if (done)
            break;
        uint64_t now = s_now ();
        uint64_t next = t_last + S_NS;
        if (now < next) {
            s_sleep_until (now + 100000000ull < next ? now + 100000000ull : next);
            continue;
        }
        uint64_t total = 0;
        for (int i = 0; i < o->clients; i++)
            total += __atomic_load_n (&cl[i].done, __ATOMIC_RELAXED);
        double at = (double) (now - k->start) / 1e9;
        double full = (double) (k->window_end - k->start) / 1e9;
        fprintf (stderr, "\r  %s clients=%d %4.0f/%.0fs %s %8.1f tps   ", name,
                 o->clients, at, full, at < o->warmup ? "warm-up" : "       ",
                 (double) (total - last) * 1e9 / (double) (now - t_last));
        last = total;
        t_last = now;
    }
    fprintf (stderr, "\r%*s\r", 60, "");
}

/*  The client's loop, then its mark of having ended, for s_watch.       */
static void *
s_thread (void *arg)
{
    s_client_t *c = arg;
    s_client_main (c);
    __atomic_store_n (&c->ended, 1, __ATOMIC_RELEASE);
    return NULL;
}

static int
s_bench (const s_opts_t *o)
{
    int rc = 1, started = 0;
    const char *name = o->label ? o->label : o->mode;
    s_client_t *cl = calloc ((size_t) o->clients, sizeof *cl);
    pthread_t *th = calloc ((size_t) o->clients, sizeof *th);
    bench_hist_t *merged = bench_hist_new ();
    s_clock_t clock;
    if (!cl || !th || !merged) {
        fprintf (stderr, "tpc_bench: out of memory\n");
        goto cleanup;
    }
    for (int i = 0; i < o->clients; i++) {
        char err[S_ERRLEN] = "";
        cl[i] = (s_client_t) { .opts = o, .clock = &clock, .id = i };
        cl[i].hist = bench_hist_new ();
        if (!cl[i].hist) {
            fprintf (stderr, "tpc_bench: out of memory\n");
            goto cleanup;
        }
        cl[i].session = o->work->open (&o->wcfg, i, err, sizeof err);
        if (!cl[i].session) {
            fprintf (stderr, "tpc_bench: %s client %d: %s\n", o->mode, i, err);
            goto cleanup;
        }
    }
    clock.start = s_now () + S_START_LEAD_NS;
    clock.window_start = clock.start + (uint64_t) (o->warmup * 1e9);
    clock.window_end = clock.window_start + (uint64_t) (o->seconds * 1e9);
    clock.hard_end = clock.window_end + (uint64_t) (o->seconds * 1e9);
    for (; started < o->clients; started++) {
        if (pthread_create (&th[started], NULL, s_thread, &cl[started]) != 0) {
            fprintf (stderr, "tpc_bench: cannot start client thread %d\n", started);
            break;
        }
    }
    bench_console_t *poller = o->poll_port
                              ? bench_console_new (o->poll_port, o->poll_hz)
                              : NULL;
    if (started == o->clients && o->progress)
        s_watch (o, &clock, cl);
    for (int i = 0; i < started; i++)
        pthread_join (th[i], NULL);
    uint64_t polls = 0, poll_failed = 0;
    bench_console_destroy (&poller, &polls, &poll_failed);
    if (started < o->clients)
        goto cleanup;

    uint64_t ok = 0, errors = 0, unsent = 0, all = 0, last_end = clock.window_end;
    const char *first_err = NULL;
    for (int i = 0; i < o->clients; i++) {
        bench_hist_merge (merged, cl[i].hist);
        ok += cl[i].ok;
        errors += cl[i].errors;
        unsent += cl[i].unsent;
        all += cl[i].done;
        if (o->rate > 0 && cl[i].last_end > last_end)
            last_end = cl[i].last_end;
        if (!first_err && cl[i].first_err[0])
            first_err = cl[i].first_err;
    }
    double seconds = (double) (last_end - clock.window_start) / 1e9;
    char extra[192];
    int used = snprintf (extra, sizeof extra, "; %" PRIu64 " transfers in all", all);
    if (o->rate > 0)
        used += snprintf (extra + used, sizeof extra - (size_t) used,
                          "; open loop %.1f/s offered, %" PRIu64 " unsent",
                          o->rate, unsent);
    if (o->poll_port)
        snprintf (extra + used, sizeof extra - (size_t) used,
                  "; console polled %" PRIu64 " times (%" PRIu64 " failed)",
                  polls, poll_failed);
    s_report (name, o->clients, seconds, ok, errors, merged, extra);
    if (first_err)
        fprintf (stderr, "tpc_bench: %s: first error: %s\n", name, first_err);
    if (o->hist_out && s_save (o->hist_out, name, o->clients, seconds, ok, errors, all, merged) < 0)
        goto cleanup;
    if (ok == 0) {
        fprintf (stderr, "tpc_bench: %s: no transfer committed\n", name);
        goto cleanup;
    }
    rc = 0;
cleanup:
    for (int i = 0; cl && i < o->clients; i++) {
        if (o->work)
            o->work->close (&cl[i].session);
        bench_hist_destroy (&cl[i].hist);
    }
    bench_hist_destroy (&merged);
    free (th);
    free (cl);
    return rc;
}

int
main (int argc, char **argv)
{
    s_opts_t o = {
        .clients = 1, .seconds = 10, .warmup = 1, .rate = 0, .rows = 10000,
        .seed = 1,
        .wcfg = { .lock_timeout_ms = 5000, .timeout_ms = 30000,
                  .part1 = "db1", .part2 = "db2" },
    };
    bool merge = false;
    int prc = s_parse (argc, argv, &o, &merge);
    if (prc != 0) {
        s_usage (prc > 0 ? stdout : stderr);
        return prc > 0 ? 0 : 2;
    }
    if (merge)
        return s_merge (argv + optind, argc - optind);
    /* the tpc sessions share one ZeroMQ context (one I/O thread), as an
     * application's clients would: a context each meant a thread each */
    if (o.work == bench_tpc () && !getenv ("TPC_BENCH_CONTEXT_EACH")
        && !(o.wcfg.zmq_context = zmq_ctx_new ())) {
        fprintf (stderr, "tpc_bench: cannot make a ZeroMQ context\n");
        return 1;
    }
    int rc = s_bench (&o);
    if (o.wcfg.zmq_context)
        zmq_ctx_term (o.wcfg.zmq_context);
    return rc;
}
