/*  log_bench: durable appends per second of the decision log.
 *
 *  Runs, each for --seconds N (default 2) on a fresh log in a temporary
 *  directory on the real disk ($TMPDIR, else /var/tmp; never tmpfs):
 *    baseline   one writer, pwrite of the same framed ~100-byte record at
 *               the tail of a zero-filled file + fdatasync per append
 *               (what a log without group commit costs); run first and
 *               last, the faster of the two counts (disk noise must not
 *               flatter the ratio);
 *    naive      the same with write(O_APPEND) to a growing file;
 *    tpc_log    1, 8 and 64 threads, each looping tpc_log_append +
 *               tpc_log_sync of a 100-byte record (group commit);
 *    rotation   64 threads appending 4 KiB records to default-size
 *               segments, so the log rotates under load;
 *    checkpoint tpc_log_checkpoint_begin() and _end() on an idle log, a
 *               few times with a pause between (what the coordinator's
 *               loop waits for at each checkpoint).
 *  Per run it prints the 99th percentile and the maximum of one
 *  append+sync (the stall a caller sees, e.g. at a segment rotation).
 *  --segment-bytes N runs the log with segments of N bytes (default: the
 *  log's default).
 *  Prints a table, then as its last line:
 *    log_bench appenders=64 appends_per_s=N fsyncs_per_append=N baseline_appends_per_s=N
 *  It never asserts timing; the directory is removed at the end.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "tpc_clock.h"
#include "tpc_crc32c.h"
#include "tpc_error.h"
#include "tpc_log.h"

#define S_RECORD 100
#define S_BIG_RECORD 4096                  /* rotation run */
#define S_PREALLOC (16ull * 1024 * 1024)    /* baseline file */

typedef struct {
    const char *name;
    int threads;
    uint64_t appends;
    uint64_t fsyncs;
    double seconds;
    double p99_ms, max_ms;      /* of one append+sync; 0 = not measured */
    uint64_t segments;          /* segment files created during the run */
} s_result_t;

/*  Every latency of a run, in seconds (exact quantiles by sorting).    */
typedef struct {
    double *v;
    size_t n, cap;
    bool oom;
} s_lat_t;

static void
s_lat_add (s_lat_t *l, double seconds)
{
    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 4096;
        double *nv = realloc (l->v, ncap * sizeof *nv);
        if (!nv) {
            l->oom = true;
            return;
        }
        l->v = nv;
        l->cap = ncap;
    }
    l->v[l->n++] = seconds;
}

static void
s_lat_merge (s_lat_t *into, s_lat_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        s_lat_add (into, l->v[i]);
    into->oom |= l->oom;
    free (l->v);
    memset (l, 0, sizeof *l);
}

static int
s_cmp_double (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

/*  The 99th percentile and the maximum, in milliseconds; frees L.       */
static void
s_lat_result (s_lat_t *l, double *p99_ms, double *max_ms)
{
    *p99_ms = *max_ms = 0;
    if (l->n) {
        qsort (l->v, l->n, sizeof *l->v, s_cmp_double);
        size_t k = (size_t) (0.99 * (double) (l->n - 1));
        *p99_ms = l->v[k] * 1000;
        *max_ms = l->v[l->n - 1] * 1000;
    }
    free (l->v);
    memset (l, 0, sizeof *l);
}

static double
s_now (void)
{
    return (double) tpc_now_ns () / 1e9;
}

static const char *
s_fs_name (const char *path)
{
    struct statfs st;
    if (statfs (path, &st) < 0)
        return "unknown";
    switch ((unsigned long) st.f_type) {
    case 0xEF53: return "ext2/3/4";
    case 0x58465342: return "xfs";
    case 0x9123683E: return "btrfs";
    case 0x01021994: return "tmpfs";
    case 0x794C7630: return "overlayfs";
    case 0x2FC12FC1: return "zfs";
    case 0x6969: return "nfs";
    default: return "other";
    }
}

static bool
s_is_tmpfs (const char *path)
{
    struct statfs st;
    return statfs (path, &st) == 0 && (unsigned long) st.f_type == 0x01021994;
}

/*  A record framed like the log's: 16-byte header, payload, CRC.        */
static size_t
s_frame (uint8_t *out, uint64_t seq)
{
    memset (out, 0, 16);
    out[0] = 0xD7;
    out[1] = 1;
    out[2] = 9;
    memcpy (out + 8, &seq, 8);
    memset (out + 16, 'x', S_RECORD);
    uint32_t crc = tpc_crc32c (0, out, 16 + S_RECORD);
    memcpy (out + 16 + S_RECORD, &crc, 4);
    return 20 + S_RECORD;
}

/*  One writer, fdatasync per append, into a zero-filled file (APPEND:
 *  a growing O_APPEND file instead).                                   */
static int
s_baseline (const char *dir, bool append, double seconds, s_result_t *res)
{
    char path[4200];
    snprintf (path, sizeof path, "%s/baseline-%s", dir, append ? "append" : "prealloc");
    int fd = open (path, O_RDWR | O_CREAT | O_TRUNC | (append ? O_APPEND : 0), 0644);
    if (fd < 0)
        return -1;
    int rc = 0;
    s_lat_t lat = { NULL, 0, 0, false };
    if (!append) {
        static const uint8_t zeros[1 << 20];
        for (uint64_t off = 0; off < S_PREALLOC && !rc; off += sizeof zeros)
            if (pwrite (fd, zeros, sizeof zeros, (off_t) off) != sizeof zeros)
                rc = -1;
        if (!rc && fsync (fd) < 0)
            rc = -1;
        if (rc)
            goto cleanup;
    }
    uint8_t rec[256];
    uint64_t n = 0, off = 0;
    double start = s_now (), end = start + seconds, now = start;
    while (now < end && off + 256 < S_PREALLOC) {
        size_t len = s_frame (rec, n + 1);
        ssize_t w = append ? write (fd, rec, len) : pwrite (fd, rec, len, (off_t) off);
        if (w != (ssize_t) len || fdatasync (fd) < 0) {
            rc = -1;
            goto cleanup;
        }
        off += len;
        n++;
        double t = s_now ();
        s_lat_add (&lat, t - now);
        now = t;
    }
    res->appends = n;
    res->fsyncs = n;
    res->seconds = now - start;
    s_lat_result (&lat, &res->p99_ms, &res->max_ms);
cleanup:
    free (lat.v);
    close (fd);
    unlink (path);
    return rc;
}

typedef struct {
    tpc_log_t *log;
    pthread_barrier_t *start;
    double seconds;
    size_t record;              /* payload bytes */
    uint64_t appends;
    s_lat_t lat;
    int error;
} s_worker_t;

static void *
s_worker (void *arg)
{
    s_worker_t *w = arg;
    uint8_t payload[S_BIG_RECORD];
    memset (payload, 'y', sizeof payload);
    pthread_barrier_wait (w->start);
    double now = s_now (), end = now + w->seconds;
    while (now < end) {
        uint64_t lsn;
        int rc = tpc_log_append (w->log, 9, payload, w->record, &lsn);
        if (!rc)
            rc = tpc_log_sync (w->log, lsn);
        if (rc) {
            w->error = rc;
            break;
        }
        double t = s_now ();
        s_lat_add (&w->lat, t - now);
        now = t;
        w->appends++;
    }
    return NULL;
}

/*  Segment files in DIR (to count rotations).                          */
static uint64_t
s_count_segments (const char *dir)
{
    uint64_t n = 0;
    DIR *d = opendir (dir);
    struct dirent *e;
    while (d && (e = readdir (d)))
        n += strlen (e->d_name) == 27 && !strcmp (e->d_name + 20, ".tpclog");
    if (d)
        closedir (d);
    return n;
}

static int
s_log_run (const char *dir, uint64_t segment_bytes, int threads, size_t record,
           double seconds, s_result_t *res)
{
    char path[4200];
    snprintf (path, sizeof path, "%s/log-%d-%zu", dir, threads, record);
    tpc_log_config_t cfg = { .dir = path, .segment_bytes = segment_bytes };
    tpc_log_t *log = NULL;
    char err[512];
    int rc = tpc_log_open (&cfg, NULL, NULL, &log, err, sizeof err);
    if (rc) {
        fprintf (stderr, "log_bench: %s\n", err);
        return rc;
    }
    s_worker_t *w = calloc ((size_t) threads, sizeof *w);
    pthread_t *th = calloc ((size_t) threads, sizeof *th);
    pthread_barrier_t start;
    pthread_barrier_init (&start, NULL, (unsigned) threads + 1);
    uint64_t syncs0 = tpc_log_sync_count (log);
    uint64_t segs0 = s_count_segments (path);
    for (int i = 0; i < threads; i++) {
        w[i].log = log;
        w[i].start = &start;
        w[i].seconds = seconds;
        w[i].record = record;
        pthread_create (&th[i], NULL, s_worker, &w[i]);
    }
    pthread_barrier_wait (&start);      /* the clock starts with everyone */
    double begin = s_now ();
    res->appends = 0;
    s_lat_t lat = { NULL, 0, 0, false };
    for (int i = 0; i < threads; i++) {
        pthread_join (th[i], NULL);
        res->appends += w[i].appends;
        s_lat_merge (&lat, &w[i].lat);
        if (w[i].error)
            rc = w[i].error;
    }
    res->seconds = s_now () - begin;
    res->fsyncs = tpc_log_sync_count (log) - syncs0;
    res->threads = threads;
    s_lat_result (&lat, &res->p99_ms, &res->max_ms);
    /* no checkpoint ran, so no file went away */
    res->segments = s_count_segments (path) - segs0;
    pthread_barrier_destroy (&start);
    free (w);
    free (th);
    tpc_log_destroy (&log);
    if (rc)
        fprintf (stderr, "log_bench: append/sync failed: %s\n", tpc_strerror (rc));
    return rc;
}

static int
s_rm (const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void) sb; (void) flag; (void) ftw;
    return remove (path);
}

/*  Time tpc_log_checkpoint_begin() and _end() on an idle log with a few
 *  records, ROUNDS times, PAUSE seconds apart.                          */
static int
s_checkpoint_run (const char *dir, uint64_t segment_bytes, int rounds,
                  double pause, double *begin_ms, double *begin_max_ms,
                  double *end_ms)
{
    char path[4200];
    snprintf (path, sizeof path, "%s/log-ckpt", dir);
    tpc_log_config_t cfg = { .dir = path, .segment_bytes = segment_bytes };
    tpc_log_t *log = NULL;
    char err[512];
    int rc = tpc_log_open (&cfg, NULL, NULL, &log, err, sizeof err);
    if (rc) {
        fprintf (stderr, "log_bench: %s\n", err);
        return rc;
    }
    uint8_t payload[S_RECORD];
    memset (payload, 'c', sizeof payload);
    double b_sum = 0, b_max = 0, e_sum = 0;
    for (int i = 0; i < rounds && !rc; i++) {
        struct timespec ts = { (time_t) pause,
                               (long) ((pause - (double) (time_t) pause) * 1e9) };
        nanosleep (&ts, NULL);  /* the loop does other work in between */
        double t0 = s_now ();
        rc = tpc_log_checkpoint_begin (log);
        double t1 = s_now ();
        uint64_t lsn;
        if (!rc)
            rc = tpc_log_append (log, 9, payload, sizeof payload, &lsn);
        double t2 = s_now ();
        if (!rc)
            rc = tpc_log_checkpoint_end (log);
        double t3 = s_now ();
        b_sum += t1 - t0;
        e_sum += t3 - t2;
        if (t1 - t0 > b_max)
            b_max = t1 - t0;
    }
    tpc_log_destroy (&log);
    if (rc) {
        fprintf (stderr, "log_bench: checkpoint failed: %s\n", tpc_strerror (rc));
        return rc;
    }
    *begin_ms = b_sum / rounds * 1000;
    *begin_max_ms = b_max * 1000;
    *end_ms = e_sum / rounds * 1000;
    return 0;
}

static void
s_print (const s_result_t *r)
{
    double rate = r->seconds > 0 ? (double) r->appends / r->seconds : 0;
    double per = r->appends ? (double) r->fsyncs / (double) r->appends : 0;
    printf ("%-34s %7d %10" PRIu64 " %12.0f %11" PRIu64 " %14.4f %8.2f %8.1f",
            r->name, r->threads, r->appends, rate, r->fsyncs, per, r->p99_ms,
            r->max_ms);
    if (r->segments)
        printf (" %9" PRIu64, r->segments);
    printf ("\n");
}

int
main (int argc, char **argv)
{
    double seconds = 2;
    uint64_t segment_bytes = 0;
    const char *usage = "usage: log_bench [--seconds N] [--segment-bytes N]\n";
    for (int i = 1; i < argc; i++) {
        if (!strcmp (argv[i], "--seconds") && i + 1 < argc)
            seconds = atof (argv[++i]);
        else if (!strcmp (argv[i], "--segment-bytes") && i + 1 < argc)
            segment_bytes = strtoull (argv[++i], NULL, 10);
        else if (!strcmp (argv[i], "--help") || !strcmp (argv[i], "-h")) {
            printf ("%s", usage);
            return 0;
        }
        else {
            fprintf (stderr, "log_bench: unknown argument '%s'\n%s", argv[i],
                     usage);
            return 2;
        }
    }
    if (seconds <= 0)
        seconds = 2;
    const char *base = getenv ("TMPDIR");
    if (!base || !*base || s_is_tmpfs (base))
        base = "/var/tmp";
    if (s_is_tmpfs (base)) {
        fprintf (stderr, "log_bench: %s is tmpfs; set TMPDIR to a directory "
                 "on a real disk\n", base);
        return 1;
    }
    char dir[4096];
    snprintf (dir, sizeof dir, "%s/tpc-log-bench-XXXXXX", base);
    if (!mkdtemp (dir)) {
        fprintf (stderr, "log_bench: cannot create a directory in %s: %s\n",
                 base, strerror (errno));
        return 1;
    }
    printf ("log_bench: directory %s (filesystem %s), %.1f s per run, "
            "%d-byte records, segments of %" PRIu64 " bytes\n\n", dir,
            s_fs_name (dir), seconds, S_RECORD,
            segment_bytes ? segment_bytes
            : (uint64_t) TPC_LOG_SEGMENT_BYTES_DEFAULT);
    printf ("%-34s %7s %10s %12s %11s %14s %8s %8s %9s\n", "run", "threads",
            "appends", "appends/s", "fdatasyncs", "fsyncs/append", "p99 ms",
            "max ms", "new segs");

    int rc = 0;
    s_result_t base_r = { "baseline: pwrite+fdatasync each", 1, 0, 0, 0, 0, 0, 0 };
    s_result_t base2_r = { "baseline again, after the runs", 1, 0, 0, 0, 0, 0, 0 };
    s_result_t naive_r = { "naive: O_APPEND write+fdatasync", 1, 0, 0, 0, 0, 0, 0 };
    s_result_t runs[3] = {
        { "tpc_log group commit", 1, 0, 0, 0, 0, 0, 0 },
        { "tpc_log group commit", 8, 0, 0, 0, 0, 0, 0 },
        { "tpc_log group commit", 64, 0, 0, 0, 0, 0, 0 },
    };
    s_result_t rot_r = { "tpc_log 4 KiB records (rotates)", 64, 0, 0, 0, 0, 0, 0 };
    if (s_baseline (dir, false, seconds, &base_r)
        || s_baseline (dir, true, seconds, &naive_r)) {
        fprintf (stderr, "log_bench: baseline failed: %s\n", strerror (errno));
        rc = 1;
        goto cleanup;
    }
    s_print (&base_r);
    s_print (&naive_r);
    for (int i = 0; i < 3; i++) {
        if (s_log_run (dir, segment_bytes, runs[i].threads, S_RECORD, seconds,
                       &runs[i])) {
            rc = 1;
            goto cleanup;
        }
        s_print (&runs[i]);
    }
    if (s_log_run (dir, segment_bytes, rot_r.threads, S_BIG_RECORD, seconds,
                   &rot_r)) {
        rc = 1;
        goto cleanup;
    }
    s_print (&rot_r);
    if (s_baseline (dir, false, seconds, &base2_r)) {
        fprintf (stderr, "log_bench: baseline failed: %s\n", strerror (errno));
        rc = 1;
        goto cleanup;
    }
    s_print (&base2_r);
    double base_rate = (double) base_r.appends / base_r.seconds;
    if ((double) base2_r.appends / base2_r.seconds > base_rate)
        base_rate = (double) base2_r.appends / base2_r.seconds;
    double rate64 = (double) runs[2].appends / runs[2].seconds;
    double per64 = runs[2].appends
                   ? (double) runs[2].fsyncs / (double) runs[2].appends : 0;
    printf ("\n64 appenders: %.1fx the baseline's appends/s, one fdatasync per "
            "%.1f appends\n", base_rate > 0 ? rate64 / base_rate : 0,
            per64 > 0 ? 1 / per64 : 0);
    double cb_ms, cb_max_ms, ce_ms;
    if (s_checkpoint_run (dir, segment_bytes, 5, 0.5, &cb_ms, &cb_max_ms,
                          &ce_ms)) {
        rc = 1;
        goto cleanup;
    }
    printf ("checkpoint on an idle log (5 rounds, 0.5 s apart): begin %.2f ms "
            "mean, %.2f ms max; end %.2f ms mean\n", cb_ms, cb_max_ms, ce_ms);
    printf ("log_bench appenders=64 appends_per_s=%.0f fsyncs_per_append=%.4f "
            "baseline_appends_per_s=%.0f\n", rate64, per64, base_rate);
cleanup:
    nftw (dir, s_rm, 16, FTW_DEPTH | FTW_PHYS);
    return rc;
}
