/*  test_log: the decision log -- round trip, torn tails, corruption,
 *  bit flips, injected I/O faults, crashes, checkpoints, concurrency,
 *  the rewrite of the tail at open after a failed fdatasync, and spare
 *  segments made ahead (rotation under load, left over, crash while one
 *  is being made).
 *
 *  Every test writes real segment files in a fresh temporary directory;
 *  faults come from s_fault_t, a tpc_io_t that wraps the POSIX one (and
 *  can trace the calls it sees).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tpc_crc32c.h"
#include "tpc_error.h"
#include "tpc_io.h"
#include "tpc_le.h"
#include "tpc_log.h"
#include "tpc_test.h"

/*  --------------------------------------------------------------------
 *  Expected records: record number i (1-based) has a type and payload
 *  derived from i alone.
 */

static uint64_t
s_mix (uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

/*  Fill BUF with record I's payload (MAXLEN bytes at most, > 0).        */
static size_t
s_gen (uint64_t i, size_t maxlen, uint8_t *buf, uint8_t *type)
{
    uint64_t h = s_mix (i);
    size_t len = (size_t) (h % maxlen);
    *type = (uint8_t) (1 + (h >> 20) % 0xEF);   /* 1 .. 0xEF */
    for (size_t k = 0; k < len; k++)
        buf[k] = (uint8_t) (s_mix (i * 1000003u + k) >> 7);
    return len;
}

/*  --------------------------------------------------------------------
 *  Collecting what a replay or a scan delivers
 */

typedef struct {
    uint64_t lsn;
    uint64_t segment;
    uint64_t offset;
    uint8_t type;
    size_t len;
    uint8_t *payload;
} s_seen_t;

typedef struct {
    s_seen_t *recs;
    size_t n, cap;
    int warnings;
    char last_warning[512];
} s_collect_t;

static int
s_collect_fn (void *arg, const tpc_log_rec_t *rec, const void *payload,
              size_t len)
{
    s_collect_t *c = arg;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 256;
        c->recs = realloc (c->recs, c->cap * sizeof *c->recs);
        CU_ASSERT_FATAL (c->recs != NULL);
    }
    s_seen_t *s = &c->recs[c->n++];
    s->lsn = rec->lsn;
    s->segment = rec->segment;
    s->offset = rec->offset;
    s->type = rec->type;
    s->len = len;
    s->payload = malloc (len ? len : 1);
    CU_ASSERT_FATAL (s->payload != NULL);
    memcpy (s->payload, payload, len);
    return 0;
}

static void
s_collect_warn (void *arg, const char *text)
{
    s_collect_t *c = arg;
    c->warnings++;
    snprintf (c->last_warning, sizeof c->last_warning, "%s", text);
}

static void
s_collect_reset (s_collect_t *c)
{
    for (size_t i = 0; i < c->n; i++)
        free (c->recs[i].payload);
    free (c->recs);
    memset (c, 0, sizeof *c);
}

/*  True when C holds exactly generated records FIRST .. FIRST+n-1 with
 *  LSNs equal to their numbers (payloads up to MAXLEN).                  */
static bool
s_is_gen_prefix (const s_collect_t *c, uint64_t first, size_t maxlen)
{
    uint8_t buf[TPC_LOG_RECORD_MAX > 4096 ? 4096 : TPC_LOG_RECORD_MAX];
    for (size_t k = 0; k < c->n; k++) {
        uint8_t type;
        uint64_t i = first + k;
        size_t len = s_gen (i, maxlen, buf, &type);
        const s_seen_t *s = &c->recs[k];
        if (s->lsn != i || s->type != type || s->len != len
            || memcmp (s->payload, buf, len))
            return false;
    }
    return true;
}

/*  --------------------------------------------------------------------
 *  Files and directories
 */

static tpc_log_config_t
s_config (const char *dir, uint64_t segment_bytes, s_collect_t *c,
          const tpc_io_t *io)
{
    tpc_log_config_t cfg = { .dir = dir, .segment_bytes = segment_bytes,
                             .io = io, .warn = s_collect_warn,
                             .warn_arg = c };
    return cfg;
}

static tpc_log_t *
s_open (const char *dir, uint64_t segment_bytes, s_collect_t *c,
        const tpc_io_t *io, int *rc_out, char *err, size_t errlen)
{
    tpc_log_config_t cfg = s_config (dir, segment_bytes, c, io);
    tpc_log_t *log = NULL;
    int rc = tpc_log_open (&cfg, s_collect_fn, c, &log, err, errlen);
    if (rc_out)
        *rc_out = rc;
    return log;
}

/*  Append generated records FROM..TO (sync every SYNC_EVERY, 0 = once at
 *  the end).                                                            */
static void
s_append_gen (tpc_log_t *log, uint64_t from, uint64_t to, size_t maxlen,
              uint64_t sync_every)
{
    uint8_t buf[4096];
    for (uint64_t i = from; i <= to; i++) {
        uint8_t type;
        size_t len = s_gen (i, maxlen, buf, &type);
        uint64_t lsn = 0;
        int rc = tpc_log_append (log, type, buf, len, &lsn);
        CU_ASSERT_EQUAL_FATAL (rc, 0);
        CU_ASSERT_EQUAL_FATAL (lsn, i);
        if (sync_every && i % sync_every == 0)
            CU_ASSERT_EQUAL_FATAL (tpc_log_sync (log, lsn), 0);
    }
    CU_ASSERT_EQUAL_FATAL (tpc_log_sync (log, to), 0);
}

/*  Write a fresh log of records 1..N in a new temporary directory.      */
static char *
s_make_log (const char *tag, uint64_t n, size_t maxlen, uint64_t segment_bytes)
{
    char *dir = tpc_test_tmpdir (tag);
    CU_ASSERT_FATAL (dir != NULL);
    s_collect_t c = { 0 };
    tpc_log_t *log = s_open (dir, segment_bytes, &c, NULL, NULL, NULL, 0);
    CU_ASSERT_FATAL (log != NULL);
    s_append_gen (log, 1, n, maxlen, 1);
    tpc_log_destroy (&log);
    CU_ASSERT_PTR_NULL (log);
    tpc_log_destroy (&log);     /* idempotent */
    s_collect_reset (&c);
    return dir;
}

typedef struct {
    char name[256];
    uint8_t *data;
    size_t size;
} s_file_t;

typedef struct {
    s_file_t files[64];
    size_t n;
} s_snap_t;

static int
s_cmp_file (const void *a, const void *b)
{
    return strcmp (((const s_file_t *) a)->name, ((const s_file_t *) b)->name);
}

static uint8_t *
s_read_path (const char *path, size_t *size)
{
    FILE *f = fopen (path, "rb");
    if (!f)
        return NULL;
    fseek (f, 0, SEEK_END);
    long n = ftell (f);
    fseek (f, 0, SEEK_SET);
    uint8_t *data = malloc ((size_t) n + 1);
    if (data && fread (data, 1, (size_t) n, f) != (size_t) n) {
        free (data);
        data = NULL;
    }
    fclose (f);
    *size = (size_t) n;
    return data;
}

static void
s_write_path (const char *path, const uint8_t *data, size_t size)
{
    FILE *f = fopen (path, "wb");
    CU_ASSERT_FATAL (f != NULL);
    CU_ASSERT_FATAL (fwrite (data, 1, size, f) == size);
    fclose (f);
}

/*  Every file in DIR, sorted by name.                                   */
static void
s_snapshot (const char *dir, s_snap_t *s)
{
    memset (s, 0, sizeof *s);
    DIR *d = opendir (dir);
    CU_ASSERT_FATAL (d != NULL);
    struct dirent *e;
    while ((e = readdir (d))) {
        if (e->d_name[0] == '.')
            continue;
        CU_ASSERT_FATAL (s->n < 64);
        s_file_t *f = &s->files[s->n++];
        snprintf (f->name, sizeof f->name, "%s", e->d_name);
        char path[4096];
        snprintf (path, sizeof path, "%s/%s", dir, e->d_name);
        f->data = s_read_path (path, &f->size);
        CU_ASSERT_FATAL (f->data != NULL);
    }
    closedir (d);
    qsort (s->files, s->n, sizeof s->files[0], s_cmp_file);
}

static bool
s_snap_equal (const s_snap_t *a, const s_snap_t *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp (a->files[i].name, b->files[i].name)
            || a->files[i].size != b->files[i].size
            || memcmp (a->files[i].data, b->files[i].data, a->files[i].size))
            return false;
    return true;
}

static void
s_snap_free (s_snap_t *s)
{
    for (size_t i = 0; i < s->n; i++)
        free (s->files[i].data);
    memset (s, 0, sizeof *s);
}

/*  Write the snapshot's files back into DIR (other files untouched).    */
static void
s_snap_restore (const s_snap_t *s, const char *dir)
{
    for (size_t i = 0; i < s->n; i++) {
        char path[4096];
        snprintf (path, sizeof path, "%s/%s", dir, s->files[i].name);
        s_write_path (path, s->files[i].data, s->files[i].size);
    }
}

/*  The first LSN in the header of segment file PATH (0: a spare not
 *  started yet, or no header).                                          */
static uint64_t
s_header_first_lsn (const char *path)
{
    uint8_t h[32];
    uint64_t v = 0;
    int fd = open (path, O_RDONLY);
    if (fd >= 0 && pread (fd, h, sizeof h, 0) == (ssize_t) sizeof h)
        v = tpc_le_get64 (h + 16);
    if (fd >= 0)
        close (fd);
    return v;
}

/*  Segments in DIR that are started (spares made ahead do not count).   */
static size_t
s_count_segments (const char *dir, uint64_t *lowest)
{
    size_t n = 0;
    DIR *d = opendir (dir);
    struct dirent *e;
    if (lowest)
        *lowest = UINT64_MAX;
    while (d && (e = readdir (d))) {
        size_t len = strlen (e->d_name);
        char path[4096];
        snprintf (path, sizeof path, "%s/%s", dir, e->d_name);
        if (len == 27 && !strcmp (e->d_name + 20, ".tpclog")
            && s_header_first_lsn (path) != 0) {
            n++;
            uint64_t no = strtoull (e->d_name, NULL, 10);
            if (lowest && no < *lowest)
                *lowest = no;
        }
    }
    if (d)
        closedir (d);
    return n;
}

static void
s_seg_path (char *buf, size_t size, const char *dir, uint64_t no)
{
    snprintf (buf, size, "%s/%020" PRIu64 ".tpclog", dir, no);
}

/*  The record with LSN in DIR, found by a scan.                         */
static bool
s_find_record (const char *dir, uint64_t lsn, s_seen_t *out)
{
    s_collect_t c = { 0 };
    int rc = tpc_log_scan (dir, s_collect_fn, &c, s_collect_warn, NULL, 0);
    bool found = false;
    for (size_t i = 0; rc == 0 && i < c.n; i++)
        if (c.recs[i].lsn == lsn) {
            *out = c.recs[i];
            out->payload = NULL;
            found = true;
        }
    s_collect_reset (&c);
    return found;
}

/*  Overwrite LEN bytes at OFF of segment NO in DIR.                     */
static void
s_poke (const char *dir, uint64_t no, uint64_t off, const void *bytes,
        size_t len)
{
    char path[4096];
    s_seg_path (path, sizeof path, dir, no);
    int fd = open (path, O_WRONLY);
    CU_ASSERT_FATAL (fd >= 0);
    CU_ASSERT_FATAL (pwrite (fd, bytes, len, (off_t) off) == (ssize_t) len);
    close (fd);
}

/*  --------------------------------------------------------------------
 *  s_fault_t: a tpc_io_t that fails on demand
 */

/*  One traced call: a pwrite (its bytes) or an fdatasync (its result).   */
typedef struct {
    bool sync;
    char path[512];
    uint64_t off;
    size_t n;
    uint8_t *data;
    int result;
} s_event_t;

#define S_FD_MAX 1024

typedef struct {
    tpc_io_t io;                /* first: a tpc_io_t * is an s_fault_t * */
    pthread_mutex_t mutex;
    long writes, syncs;         /* pwrite / fdatasync calls seen */
    long fail_write_at;         /* this pwrite fails (1-based), 0 never */
    long fail_sync_at;          /* this fdatasync fails, 0 never */
    int fail_errno;
    bool fail_half;             /* the failing pwrite writes half first */
    bool drop_on_sync_fail;     /* a failed fdatasync loses unsynced data */
    size_t max_write;           /* short writes: at most this, 0 = all */
    long crash_after;           /* pwrites that happen; later ones vanish */
    bool crashed;
    /* writes to *.tmp files (segments being prepared) count apart, so a
     * fault aimed at appends is not caught by the preparer thread       */
    long tmp_writes;
    long crash_tmp_after;       /* tmp pwrites that happen, -1 no limit */
    long renames;
    long crash_after_rename;    /* crash right after this rename, 0 never */
    long renames_by_appenders;  /* renames on a thread marked appender */
    struct { int fd; uint64_t lo, hi; } dirty[32];
    bool trace;                 /* record pwrites and fdatasyncs in ev */
    s_event_t *ev;
    size_t nev, evcap;
    char *fd_path[S_FD_MAX];    /* the path of each open fd */
} s_fault_t;

/*  Set on threads that append (test_rotation_under_load).               */
static _Thread_local bool s_appender_thread;

static s_fault_t *
s_f (void *ctx)
{
    return ctx;
}

static int
s_fault_open (void *ctx, const char *path, int flags, mode_t mode)
{
    s_fault_t *f = s_f (ctx);
    pthread_mutex_lock (&f->mutex);
    bool crashed = f->crashed;
    pthread_mutex_unlock (&f->mutex);
    if (crashed)                /* a dead process creates nothing */
        return open ("/dev/null", O_RDWR | O_CLOEXEC);
    int fd = tpc_io_posix ()->open (NULL, path, flags, mode);
    pthread_mutex_lock (&f->mutex);
    if (fd >= 0 && fd < S_FD_MAX) {
        free (f->fd_path[fd]);
        f->fd_path[fd] = strdup (path);
    }
    pthread_mutex_unlock (&f->mutex);
    return fd;
}

static int
s_fault_close (void *ctx, int fd)
{
    s_fault_t *f = s_f (ctx);
    pthread_mutex_lock (&f->mutex);
    for (size_t i = 0; i < 32; i++)
        if (f->dirty[i].fd == fd)
            f->dirty[i].fd = -1;
    if (fd >= 0 && fd < S_FD_MAX) {
        free (f->fd_path[fd]);
        f->fd_path[fd] = NULL;
    }
    pthread_mutex_unlock (&f->mutex);
    return close (fd);
}

/*  With trace set, note a call (mutex held).                            */
static void
s_fault_event (s_fault_t *f, bool sync, int fd, const void *buf, size_t n,
               uint64_t off, int result)
{
    if (!f->trace)
        return;
    if (f->nev == f->evcap) {
        f->evcap = f->evcap ? f->evcap * 2 : 64;
        f->ev = realloc (f->ev, f->evcap * sizeof *f->ev);
        CU_ASSERT_FATAL (f->ev != NULL);
    }
    s_event_t *e = &f->ev[f->nev++];
    memset (e, 0, sizeof *e);
    e->sync = sync;
    snprintf (e->path, sizeof e->path, "%s",
              fd >= 0 && fd < S_FD_MAX && f->fd_path[fd] ? f->fd_path[fd] : "?");
    e->off = off;
    e->n = n;
    e->result = result;
    if (buf && n) {
        e->data = malloc (n);
        CU_ASSERT_FATAL (e->data != NULL);
        memcpy (e->data, buf, n);
    }
}

static void
s_fault_free (s_fault_t *f)
{
    for (size_t i = 0; i < f->nev; i++)
        free (f->ev[i].data);
    free (f->ev);
    for (size_t i = 0; i < S_FD_MAX; i++)
        free (f->fd_path[i]);
    pthread_mutex_destroy (&f->mutex);
    memset (f, 0, sizeof *f);
}

static void
s_fault_dirty (s_fault_t *f, int fd, uint64_t off, size_t n)
{
    size_t free_slot = 32;
    for (size_t i = 0; i < 32; i++) {
        if (f->dirty[i].fd == fd) {
            if (off < f->dirty[i].lo)
                f->dirty[i].lo = off;
            if (off + n > f->dirty[i].hi)
                f->dirty[i].hi = off + n;
            return;
        }
        if (f->dirty[i].fd < 0 && free_slot == 32)
            free_slot = i;
    }
    if (free_slot < 32) {
        f->dirty[free_slot].fd = fd;
        f->dirty[free_slot].lo = off;
        f->dirty[free_slot].hi = off + n;
    }
}

static ssize_t
s_fault_pwrite (void *ctx, int fd, const void *buf, size_t n, off_t off)
{
    s_fault_t *f = s_f (ctx);
    pthread_mutex_lock (&f->mutex);
    const char *path = fd >= 0 && fd < S_FD_MAX ? f->fd_path[fd] : NULL;
    size_t plen = path ? strlen (path) : 0;
    bool tmp = plen > 4 && !strcmp (path + plen - 4, ".tmp");
    long k = tmp ? 0 : ++f->writes;
    long t = tmp ? ++f->tmp_writes : 0;
    ssize_t r;
    if (f->crashed)
        r = (ssize_t) n;                        /* vanishes */
    else if ((f->crash_after >= 0 && k > f->crash_after)
             || (f->crash_tmp_after >= 0 && t > f->crash_tmp_after)) {
        f->crashed = true;                      /* torn: half of it lands */
        if (n > 1)
            (void) pwrite (fd, buf, n / 2, off);
        r = (ssize_t) n;
    }
    else if (k && k == f->fail_write_at) {
        if (f->fail_half && n > 1)
            (void) pwrite (fd, buf, n / 2, off);
        errno = f->fail_errno;
        r = -1;
    }
    else {
        size_t m = f->max_write && n > f->max_write ? f->max_write : n;
        r = pwrite (fd, buf, m, off);
        int e = errno;
        if (r > 0) {
            s_fault_dirty (f, fd, (uint64_t) off, (size_t) r);
            s_fault_event (f, false, fd, buf, (size_t) r, (uint64_t) off, 0);
        }
        errno = e;
    }
    int e = errno;
    pthread_mutex_unlock (&f->mutex);
    errno = e;
    return r;
}

static ssize_t
s_fault_pread (void *ctx, int fd, void *buf, size_t n, off_t off)
{
    (void) ctx;
    return pread (fd, buf, n, off);
}

static int
s_fault_sync (s_fault_t *f, int fd, bool data)
{
    pthread_mutex_lock (&f->mutex);
    int r = 0;
    long k = data ? ++f->syncs : 0;
    if (f->crashed)
        r = 0;
    else if (data && k == f->fail_sync_at) {
        if (f->drop_on_sync_fail) {     /* the kernel threw the pages away */
            static const uint8_t zeros[4096];
            for (size_t i = 0; i < 32; i++)
                if (f->dirty[i].fd == fd) {
                    for (uint64_t o = f->dirty[i].lo; o < f->dirty[i].hi; ) {
                        size_t m = f->dirty[i].hi - o < sizeof zeros
                                   ? (size_t) (f->dirty[i].hi - o) : sizeof zeros;
                        (void) pwrite (fd, zeros, m, (off_t) o);
                        o += m;
                    }
                    f->dirty[i].fd = -1;
                }
        }
        s_fault_event (f, true, fd, NULL, 0, 0, -1);
        errno = f->fail_errno;
        r = -1;
    }
    else {
        r = data ? fdatasync (fd) : fsync (fd);
        int e = errno;
        if (data)
            s_fault_event (f, true, fd, NULL, 0, 0, r);
        errno = e;
        for (size_t i = 0; r == 0 && i < 32; i++)
            if (f->dirty[i].fd == fd)
                f->dirty[i].fd = -1;
    }
    int e = errno;
    pthread_mutex_unlock (&f->mutex);
    errno = e;
    return r;
}

static int
s_fault_fdatasync (void *ctx, int fd)
{
    return s_fault_sync (s_f (ctx), fd, true);
}

static int
s_fault_fsync (void *ctx, int fd)
{
    return s_fault_sync (s_f (ctx), fd, false);
}

static bool
s_fault_dead (void *ctx)
{
    s_fault_t *f = s_f (ctx);
    pthread_mutex_lock (&f->mutex);
    bool crashed = f->crashed;
    pthread_mutex_unlock (&f->mutex);
    return crashed;
}

static int
s_fault_ftruncate (void *ctx, int fd, off_t len)
{
    return s_fault_dead (ctx) ? 0 : ftruncate (fd, len);
}

static int
s_fault_rename (void *ctx, const char *from, const char *to)
{
    s_fault_t *f = s_f (ctx);
    pthread_mutex_lock (&f->mutex);
    int r = 0;
    if (!f->crashed) {
        r = rename (from, to);
        for (size_t i = 0; r == 0 && i < S_FD_MAX; i++)
            if (f->fd_path[i] && !strcmp (f->fd_path[i], from)) {
                free (f->fd_path[i]);
                f->fd_path[i] = strdup (to);
            }
        f->renames++;
        f->renames_by_appenders += s_appender_thread;
        if (f->renames == f->crash_after_rename)
            f->crashed = true;      /* renamed, then the process died */
    }
    int e = errno;
    pthread_mutex_unlock (&f->mutex);
    errno = e;
    return r;
}

static int
s_fault_unlink (void *ctx, const char *path)
{
    return s_fault_dead (ctx) ? 0 : unlink (path);
}

static void
s_fault_init (s_fault_t *f)
{
    memset (f, 0, sizeof *f);
    f->io.open = s_fault_open;
    f->io.close = s_fault_close;
    f->io.pwrite = s_fault_pwrite;
    f->io.pread = s_fault_pread;
    f->io.fdatasync = s_fault_fdatasync;
    f->io.fsync = s_fault_fsync;
    f->io.ftruncate = s_fault_ftruncate;
    f->io.rename = s_fault_rename;
    f->io.unlink = s_fault_unlink;
    f->io.ctx = f;
    f->crash_after = -1;
    f->crash_tmp_after = -1;
    for (size_t i = 0; i < 32; i++)
        f->dirty[i].fd = -1;
    pthread_mutex_init (&f->mutex, NULL);
}

static void
s_fault_arm (s_fault_t *f, long write_in, long sync_in, int err)
{
    pthread_mutex_lock (&f->mutex);
    f->fail_write_at = write_in ? f->writes + write_in : 0;
    f->fail_sync_at = sync_in ? f->syncs + sync_in : 0;
    f->fail_errno = err;
    pthread_mutex_unlock (&f->mutex);
}

/*  ====================================================================
 *  Tests
 */

static void
test_round_trip_100k (void)
{
    const uint64_t n = 100000;
    const size_t maxlen = 200;
    char *dir = tpc_test_tmpdir ("log-rt");
    s_collect_t c = { 0 };
    tpc_log_t *log = s_open (dir, 1 << 20, &c, NULL, NULL, NULL, 0);
    CU_ASSERT_FATAL (log != NULL);
    CU_ASSERT_EQUAL (c.n, 0);
    CU_ASSERT_EQUAL (tpc_log_last_lsn (log), 0);
    s_append_gen (log, 1, n, maxlen, 1000);
    CU_ASSERT_EQUAL (tpc_log_last_lsn (log), n);
    CU_ASSERT_EQUAL (tpc_log_durable_lsn (log), n);
    CU_ASSERT_EQUAL (tpc_log_error (log), 0);
    tpc_log_destroy (&log);
    size_t segs = s_count_segments (dir, NULL);
    CU_ASSERT (segs >= 8);      /* ~10 MB in 1 MB segments: it rotated */

    log = s_open (dir, 1 << 20, &c, NULL, NULL, NULL, 0);
    CU_ASSERT_FATAL (log != NULL);
    CU_ASSERT_EQUAL (c.n, n);
    CU_ASSERT (s_is_gen_prefix (&c, 1, maxlen));
    CU_ASSERT_EQUAL (c.warnings, 0);
    CU_ASSERT_EQUAL (tpc_log_last_lsn (log), n);
    uint64_t lsn = 0;
    CU_ASSERT_EQUAL (tpc_log_append (log, 7, "more", 4, &lsn), 0);
    CU_ASSERT_EQUAL (lsn, n + 1);
    CU_ASSERT_EQUAL (tpc_log_sync (log, lsn), 0);
    tpc_log_destroy (&log);

    /* the read-only scan sees the same, in segment/offset order */
    s_collect_t s = { 0 };
    CU_ASSERT_EQUAL (tpc_log_scan (dir, s_collect_fn, &s, s_collect_warn,
                                   NULL, 0), 0);
    CU_ASSERT_EQUAL (s.n, n + 1);
    CU_ASSERT_EQUAL (s.warnings, 0);
    bool ordered = true;
    for (size_t i = 1; i < s.n; i++)
        if (s.recs[i].segment < s.recs[i - 1].segment
            || (s.recs[i].segment == s.recs[i - 1].segment
                && s.recs[i].offset <= s.recs[i - 1].offset))
            ordered = false;
    CU_ASSERT (ordered);
    printf ("\n  round trip: records=%" PRIu64 " segments=%zu\n", n, segs);
    s_collect_reset (&s);
    s_collect_reset (&c);
    tpc_test_rmtree (dir);
    free (dir);
}

static void
test_torn_tail_every_offset (void)
{
    uint8_t buf[128], type;
    uint64_t n = 12;
    while (s_gen (n, 80, buf, &type) < 60)     /* a long last record */
        n++;
    char *dir = s_make_log ("log-torn", n, 80, 4096);
    s_seen_t last;
    CU_ASSERT_FATAL (s_find_record (dir, n, &last));
    size_t reclen = 20 + s_gen (n, 80, buf, &type);
    char path[4096];
    s_seg_path (path, sizeof path, dir, last.segment);
    size_t size;
    uint8_t *orig = s_read_path (path, &size);
    CU_ASSERT_FATAL (orig != NULL);
    uint8_t *torn = malloc (size);
    int bad = 0, iterations = 0;
    for (int mode = 0; mode < 2; mode++) {          /* 0 zeros, 1 EOF */
        for (size_t k = 0; k < reclen; k++) {
            size_t keep = (size_t) last.offset + k;
            memcpy (torn, orig, keep);
            memset (torn + keep, 0, size - keep);
            /* clean up what the previous round left */
            char other[4096];
            s_seg_path (other, sizeof other, dir, last.segment + 1);
            unlink (other);
            s_write_path (path, torn, mode ? keep : size);
            s_collect_t c = { 0 };
            int rc;
            tpc_log_t *log = s_open (dir, 4096, &c, NULL, &rc, NULL, 0);
            iterations++;
            if (!log || rc || c.n != n - 1 || !s_is_gen_prefix (&c, 1, 80)
                || c.warnings != (k > 0)) {
                bad++;
                s_collect_reset (&c);
                tpc_log_destroy (&log);
                continue;
            }
            if (k > 0 && !strstr (c.last_warning, "torn tail"))
                bad++;
            /* the cut is durable: a reopen is clean, appends continue */
            tpc_log_destroy (&log);
            s_collect_reset (&c);
            log = s_open (dir, 4096, &c, NULL, &rc, NULL, 0);
            if (!log || c.n != n - 1 || c.warnings) {
                bad++;
                tpc_log_destroy (&log);
                s_collect_reset (&c);
                continue;
            }
            uint64_t lsn = 0;
            if (tpc_log_append (log, type, buf, reclen - 20, &lsn)
                || lsn != n || tpc_log_sync (log, lsn))
                bad++;
            tpc_log_destroy (&log);
            s_collect_reset (&c);
            log = s_open (dir, 4096, &c, NULL, &rc, NULL, 0);
            if (!log || c.n != n || !s_is_gen_prefix (&c, 1, 80) || c.warnings)
                bad++;
            tpc_log_destroy (&log);
            s_collect_reset (&c);
        }
    }
    printf ("\n  torn tail: offsets=%d (record %zu bytes, zeros and EOF) "
            "wrong=%d\n", iterations, reclen, bad);
    CU_ASSERT_EQUAL (bad, 0);
    free (torn);
    free (orig);
    tpc_test_rmtree (dir);
    free (dir);
}

/*  Damage record LSN of a fresh N-record log with BYTES at DELTA into the
 *  record; return open's code, C filled, DIR checked byte-identical when
 *  the open failed.                                                      */
static int
s_damage_and_open (uint64_t n, uint64_t lsn, uint64_t delta,
                   const void *bytes, size_t len, s_collect_t *c,
                   char *err, size_t errlen, uint64_t *segment,
                   uint64_t *offset)
{
    char *dir = s_make_log ("log-dmg", n, 60, 2048);
    s_seen_t rec;
    CU_ASSERT_FATAL (s_find_record (dir, lsn, &rec));
    s_poke (dir, rec.segment, rec.offset + delta, bytes, len);
    s_snap_t before, after;
    s_snapshot (dir, &before);
    int rc;
    tpc_log_t *log = s_open (dir, 2048, c, NULL, &rc, err, errlen);
    tpc_log_destroy (&log);
    s_snapshot (dir, &after);
    if (rc)
        CU_ASSERT (s_snap_equal (&before, &after));
    s_snap_free (&before);
    s_snap_free (&after);
    *segment = rec.segment;
    *offset = rec.offset;
    tpc_test_rmtree (dir);
    free (dir);
    return rc;
}

static void
test_crc_mismatch (void)
{
    const uint64_t n = 40;
    char err[512];
    uint64_t seg, off;
    uint8_t x = 0x5A;
    s_collect_t c = { 0 };
    /* a payload byte of the last record: torn tail, 39 records, warning */
    int rc = s_damage_and_open (n, n, 17, &x, 1, &c, err, sizeof err, &seg, &off);
    CU_ASSERT_EQUAL (rc, 0);
    CU_ASSERT_EQUAL (c.n, n - 1);
    CU_ASSERT (s_is_gen_prefix (&c, 1, 60));
    CU_ASSERT_EQUAL (c.warnings, 1);
    CU_ASSERT (strstr (c.last_warning, "checksum") != NULL);
    s_collect_reset (&c);
    /* the same in the middle: corrupt, nothing replayed, nothing changed */
    rc = s_damage_and_open (n, 20, 17, &x, 1, &c, err, sizeof err, &seg, &off);
    CU_ASSERT_EQUAL (rc, TPC_ELOG_CORRUPT);
    char want[128];
    snprintf (want, sizeof want, "segment %" PRIu64 " offset %" PRIu64, seg, off);
    CU_ASSERT (strstr (err, want) != NULL);
    CU_ASSERT (strstr (err, "checksum") != NULL);
    CU_ASSERT_EQUAL (c.n, 0);
    printf ("\n  middle: %s\n", err);
    s_collect_reset (&c);
}

static void
test_bad_length (void)
{
    const uint64_t n = 40;
    char err[512];
    uint64_t seg, off;
    s_collect_t c = { 0 };
    const uint8_t huge[4] = { 0xFF, 0xFF, 0xFF, 0x7F };
    const uint8_t small[4] = { 2, 0, 0, 0 };
    int rc = s_damage_and_open (n, n, 4, huge, 4, &c, err, sizeof err, &seg, &off);
    CU_ASSERT_EQUAL (rc, 0);
    CU_ASSERT_EQUAL (c.n, n - 1);
    CU_ASSERT_EQUAL (c.warnings, 1);
    CU_ASSERT (strstr (c.last_warning, "length") != NULL);
    s_collect_reset (&c);
    rc = s_damage_and_open (n, n, 4, small, 4, &c, err, sizeof err, &seg, &off);
    CU_ASSERT_EQUAL (rc, 0);
    CU_ASSERT_EQUAL (c.n, n - 1);
    CU_ASSERT_EQUAL (c.warnings, 1);
    s_collect_reset (&c);
    rc = s_damage_and_open (n, 11, 4, huge, 4, &c, err, sizeof err, &seg, &off);
    CU_ASSERT_EQUAL (rc, TPC_ELOG_CORRUPT);
    CU_ASSERT (strstr (err, "length") != NULL);
    s_collect_reset (&c);
    rc = s_damage_and_open (n, 11, 4, small, 4, &c, err, sizeof err, &seg, &off);
    CU_ASSERT_EQUAL (rc, TPC_ELOG_CORRUPT);
    s_collect_reset (&c);
}

static void
test_corrupt_middle_untouched (void)
{
    /* damage in an early segment, valid records in later segments */
    const uint64_t n = 120;
    char *dir = s_make_log ("log-mid", n, 60, 1024);
    CU_ASSERT (s_count_segments (dir, NULL) >= 4);
    s_seen_t rec;
    CU_ASSERT_FATAL (s_find_record (dir, 5, &rec));
    CU_ASSERT_EQUAL (rec.segment, 1);
    const uint8_t garbage[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
    s_poke (dir, rec.segment, rec.offset, garbage, sizeof garbage);
    s_snap_t before, after;
    s_snapshot (dir, &before);
    char err[512] = "";
    s_collect_t c = { 0 };
    int rc;
    for (int round = 0; round < 2; round++) {   /* refused every time */
        tpc_log_t *log = s_open (dir, 1024, &c, NULL, &rc, err, sizeof err);
        CU_ASSERT_PTR_NULL (log);
        CU_ASSERT_EQUAL (rc, TPC_ELOG_CORRUPT);
        CU_ASSERT_EQUAL (c.n, 0);
    }
    char want[128];
    snprintf (want, sizeof want, "segment 1 offset %" PRIu64, rec.offset);
    CU_ASSERT (strstr (err, want) != NULL);
    s_collect_t s = { 0 };
    char serr[512] = "";
    CU_ASSERT_EQUAL (tpc_log_scan (dir, s_collect_fn, &s, s_collect_warn, serr,
                                   sizeof serr), TPC_ELOG_CORRUPT);
    CU_ASSERT (strstr (serr, want) != NULL);
    s_snapshot (dir, &after);
    CU_ASSERT (s_snap_equal (&before, &after));

    /* a missing middle segment is corruption as well */
    char path[4096];
    s_snap_free (&before);
    s_snap_free (&after);
    tpc_test_rmtree (dir);
    free (dir);
    dir = s_make_log ("log-gap", n, 60, 1024);
    s_seg_path (path, sizeof path, dir, 2);
    CU_ASSERT_EQUAL (unlink (path), 0);
    tpc_log_t *log = s_open (dir, 1024, &c, NULL, &rc, err, sizeof err);
    CU_ASSERT_PTR_NULL (log);
    CU_ASSERT_EQUAL (rc, TPC_ELOG_CORRUPT);
    CU_ASSERT (strstr (err, "segment 3 offset 0") != NULL);
    CU_ASSERT (strstr (err, "missing") != NULL);
    s_collect_reset (&c);
    s_collect_reset (&s);
    tpc_test_rmtree (dir);
    free (dir);
}

/*  Open DIR with a cut callback: *CUT and the LSNs it saw (C).          */
static int
s_open_cut (const char *dir, uint64_t segment_bytes, s_collect_t *c,
            s_collect_t *cutc, tpc_log_cut_t *cut, char *err, size_t errlen)
{
    tpc_log_config_t cfg = s_config (dir, segment_bytes, c, NULL);
    cfg.cut_fn = s_collect_fn;
    cfg.cut_arg = cutc;
    cfg.cut = cut;
    tpc_log_t *log = NULL;
    int rc = tpc_log_open (&cfg, s_collect_fn, c, &log, err, errlen);
    tpc_log_destroy (&log);
    return rc;
}

/*  Issue 12 item 4: a cut is reported with its records (LSN and payload
 *  as found) and says whether it was torn or damaged in place; the same
 *  from a scan.                                                         */
static void
test_cut_reported (void)
{
    const uint64_t n = 30;
    for (int damaged = 0; damaged < 2; damaged++) {
        char *dir = s_make_log ("log-cut", n, 60, 4096);
        s_seen_t last;
        CU_ASSERT_FATAL (s_find_record (dir, n, &last));
        uint8_t type, want[128];
        size_t len = s_gen (n, 60, want, &type);
        if (damaged) {          /* one flipped bit in the payload */
            uint8_t b = want[len / 2] ^ 0x08;
            s_poke (dir, last.segment, last.offset + 16 + len / 2, &b, 1);
        }
        else {                  /* its checksum never landed */
            const uint8_t zeros[4] = { 0 };
            s_poke (dir, last.segment, last.offset + 16 + len, zeros, 4);
        }
        s_collect_t c = { 0 }, cutc = { 0 };
        tpc_log_cut_t cut;
        tpc_log_config_t scfg = { .dir = dir, .warn = s_collect_warn,
                                  .warn_arg = &c, .cut_fn = s_collect_fn,
                                  .cut_arg = &cutc, .cut = &cut };
        CU_ASSERT_EQUAL (tpc_log_scan_config (&scfg, NULL, NULL, NULL, 0), 0);
        CU_ASSERT (cut.cut && cut.records == 1 && cut.damaged == damaged);
        CU_ASSERT_EQUAL (cutc.n, 1);
        s_collect_reset (&cutc);
        s_collect_reset (&c);
        CU_ASSERT_EQUAL (s_open_cut (dir, 4096, &c, &cutc, &cut, NULL, 0), 0);
        CU_ASSERT_EQUAL (c.n, n - 1);
        CU_ASSERT (cut.cut && cut.damaged == damaged);
        CU_ASSERT_EQUAL (cut.segment, last.segment);
        CU_ASSERT_EQUAL (cut.offset, last.offset);
        CU_ASSERT_EQUAL (cut.records, 1);
        CU_ASSERT_EQUAL_FATAL (cutc.n, 1);
        CU_ASSERT_EQUAL (cutc.recs[0].lsn, n);
        CU_ASSERT_EQUAL (cutc.recs[0].type, type);
        CU_ASSERT_EQUAL (cutc.recs[0].len, len);
        if (!damaged)           /* the payload is whole: the owner reads it */
            CU_ASSERT (memcmp (cutc.recs[0].payload, want, len) == 0);
        CU_ASSERT (strstr (c.last_warning, "1 record(s)") != NULL);
        CU_ASSERT (strstr (c.last_warning, damaged ? "damaged in place"
                                                   : "torn tail") != NULL);
        printf ("\n  %s", c.last_warning);
        s_collect_reset (&c);
        s_collect_reset (&cutc);
        /* cut for good: the next open is clean and reports nothing */
        CU_ASSERT_EQUAL (s_open_cut (dir, 4096, &c, &cutc, &cut, NULL, 0), 0);
        CU_ASSERT (!cut.cut && cutc.n == 0 && c.warnings == 0);
        s_collect_reset (&c);
        s_collect_reset (&cutc);
        tpc_test_rmtree (dir);
        free (dir);
    }
}

static int
s_count_files (const char *dir)
{
    DIR *d = opendir (dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir (d)))
        n += e->d_name[0] != '.';
    if (d)
        closedir (d);
    return n;
}

/*  Issue 12 item 4: the high-water value survives the loss of the
 *  segments; a missing segment (the one HIGHWATER names, or a gap before
 *  a spare) refuses the open and changes nothing; checkpoints move it.  */
static void
test_high_water (void)
{
    char *dir = tpc_test_tmpdir ("log-hw");
    s_collect_t c = { 0 };
    int rc;
    char err[1024] = "";
    tpc_log_t *log = s_open (dir, 1024, &c, NULL, &rc, NULL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL (log);
    CU_ASSERT_EQUAL (tpc_log_high_water (log), 0);
    s_append_gen (log, 1, 40, 60, 1);           /* several segments */
    CU_ASSERT_EQUAL (tpc_log_set_high_water (log, 7), 0);
    CU_ASSERT_EQUAL (tpc_log_set_high_water (log, 3), 0);   /* never back */
    CU_ASSERT_EQUAL (tpc_log_high_water (log), 7);
    uint64_t tail;
    s_seen_t rec;
    CU_ASSERT_FATAL (s_find_record (dir, 40, &rec));
    tail = rec.segment;
    CU_ASSERT (tail >= 2);
    tpc_log_destroy (&log);
    s_collect_reset (&c);

    /* emptied: its records are cut (a warning), the value is kept */
    char path[4096];
    s_seg_path (path, sizeof path, dir, tail);
    CU_ASSERT_EQUAL (truncate (path, 0), 0);
    log = s_open (dir, 1024, &c, NULL, &rc, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL (log);
    CU_ASSERT_EQUAL (c.warnings, 1);
    CU_ASSERT (c.n < 40);
    CU_ASSERT_EQUAL (tpc_log_high_water (log), 7);
    s_append_gen (log, c.n + 1, c.n + 30, 60, 1);
    CU_ASSERT_EQUAL (tpc_log_set_high_water (log, 8), 0);
    uint64_t last_lsn = tpc_log_last_lsn (log);
    CU_ASSERT_FATAL (s_find_record (dir, last_lsn, &rec));
    tail = rec.segment;
    tpc_log_destroy (&log);
    s_collect_reset (&c);

    /* checkpoints drop the older segments: no false alarm */
    log = s_open (dir, 1024, &c, NULL, &rc, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL (log);
    CU_ASSERT_EQUAL (tpc_log_high_water (log), 8);
    for (int k = 0; k < 3; k++) {
        CU_ASSERT_EQUAL (tpc_log_checkpoint_begin (log), 0);
        s_append_gen (log, last_lsn + 1, last_lsn + 20, 60, 1);
        last_lsn += 20;
        CU_ASSERT_EQUAL (tpc_log_checkpoint_end (log), 0);
        last_lsn++;                             /* the marker */
    }
    tpc_log_destroy (&log);
    s_collect_reset (&c);
    log = s_open (dir, 1024, &c, NULL, &rc, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL (log);
    CU_ASSERT_EQUAL (c.warnings, 0);
    CU_ASSERT_EQUAL (tpc_log_high_water (log), 8);
    CU_ASSERT_EQUAL (tpc_log_set_high_water (log, 9), 0);
    CU_ASSERT_FATAL (s_find_record (dir, last_lsn, &rec));
    tail = rec.segment;
    s_append_gen (log, last_lsn + 1, last_lsn + 1, 60, 1);  /* a spare */
    tpc_log_destroy (&log);
    s_collect_reset (&c);

    /* the tail HIGHWATER names gone, with or without a spare after it:
     * refused, nothing changed                                         */
    s_seg_path (path, sizeof path, dir, tail);
    CU_ASSERT_EQUAL (unlink (path), 0);
    for (int round = 0; round < 2; round++) {
        s_snap_t before, after;
        s_snapshot (dir, &before);
        int files = s_count_files (dir);
        log = s_open (dir, 1024, &c, NULL, &rc, err, sizeof err);
        CU_ASSERT_PTR_NULL (log);
        CU_ASSERT_EQUAL (rc, TPC_ELOG_CORRUPT);
        char want[64];
        snprintf (want, sizeof want, "segment %" PRIu64 " is missing", tail);
        CU_ASSERT (strstr (err, want) != NULL);
        printf ("\n  %s", err);
        s_snapshot (dir, &after);
        CU_ASSERT (s_snap_equal (&before, &after));
        CU_ASSERT_EQUAL (s_count_files (dir), files);
        s_snap_free (&before);
        s_snap_free (&after);
        s_collect_reset (&c);
        s_seg_path (path, sizeof path, dir, tail + 1);  /* the spare */
        unlink (path);
    }
    s_collect_t s = { 0 };
    CU_ASSERT_EQUAL (tpc_log_scan (dir, s_collect_fn, &s, s_collect_warn, err,
                                   sizeof err), TPC_ELOG_CORRUPT);
    CU_ASSERT (strstr (err, "is missing") != NULL);
    s_collect_reset (&s);
    tpc_test_rmtree (dir);
    free (dir);
}

typedef struct {
    int fd;
    size_t size;
} s_flipfile_t;

static void
test_bitflips (void)
{
    const uint64_t n = 14;
    const size_t maxlen = 48;
    const long flips = 100000;
    char *dir = s_make_log ("log-flip", n, maxlen, 384);
    s_flipfile_t files[16];
    size_t nfiles = 0, total = 0;
    uint64_t lowest;
    size_t nsegs = s_count_segments (dir, &lowest);
    CU_ASSERT_FATAL (nsegs >= 2 && nsegs <= 16);
    for (size_t i = 0; i < nsegs; i++) {
        char path[4096];
        s_seg_path (path, sizeof path, dir, lowest + i);
        struct stat st;
        CU_ASSERT_FATAL (stat (path, &st) == 0);
        files[nfiles].fd = open (path, O_RDWR);
        CU_ASSERT_FATAL (files[nfiles].fd >= 0);
        files[nfiles++].size = (size_t) st.st_size;
        total += (size_t) st.st_size;
    }
    /* also a few through tpc_log_open, on a copy it may cut */
    s_snap_t pristine;
    s_snapshot (dir, &pristine);
    char *copy = tpc_test_tmpdir ("log-flipcopy");
    uint64_t seed = 0x2545F4914F6CDD1DULL;
    long corrupt = 0, torn = 0, undetected = 0, opened = 0;
    s_collect_t c = { 0 };
    for (long k = 0; k < flips; k++) {
        seed = s_mix (seed + (uint64_t) k);
        uint64_t bit = seed % (total * 8);
        size_t byte = (size_t) (bit / 8), f = 0;
        while (byte >= files[f].size)
            byte -= files[f++].size;
        uint8_t orig, flipped;
        CU_ASSERT_FATAL (pread (files[f].fd, &orig, 1, (off_t) byte) == 1);
        flipped = orig ^ (uint8_t) (1u << (bit % 8));
        CU_ASSERT_FATAL (pwrite (files[f].fd, &flipped, 1, (off_t) byte) == 1);
        c.n = 0;
        c.warnings = 0;
        int rc;
        bool use_open = k % 500 == 0;
        if (use_open) {
            s_snap_t now;
            s_snapshot (dir, &now);
            s_snap_restore (&now, copy);
            s_snap_free (&now);
            tpc_log_t *log = s_open (copy, 384, &c, NULL, &rc, NULL, 0);
            tpc_log_destroy (&log);
            opened++;
        }
        else
            rc = tpc_log_scan (dir, s_collect_fn, &c, s_collect_warn, NULL, 0);
        if (rc == TPC_ELOG_CORRUPT)
            corrupt++;
        else if (rc == 0 && c.warnings > 0 && c.n <= n
                 && s_is_gen_prefix (&c, 1, maxlen))
            torn++;
        else {
            undetected++;
            fprintf (stderr, "undetected: file %zu byte %zu bit %u rc %d "
                     "records %zu warnings %d\n", f, byte,
                     (unsigned) (bit % 8), rc, c.n, c.warnings);
        }
        for (size_t i = 0; i < c.n; i++)
            free (c.recs[i].payload);
        CU_ASSERT_FATAL (pwrite (files[f].fd, &orig, 1, (off_t) byte) == 1);
        if (use_open) {         /* reset the copy for the next one */
            tpc_test_rmtree (copy);
            mkdir (copy, 0700);
        }
    }
    c.n = 0;
    s_collect_reset (&c);
    printf ("\n  bitflips=%ld undetected=%ld (corrupt=%ld torn_tail=%ld; "
            "%ld through open) over %zu bytes in %zu segments\n", flips,
            undetected, corrupt, torn, opened, total, nfiles);
    CU_ASSERT_EQUAL (undetected, 0);
    CU_ASSERT (corrupt > 0 && torn > 0);
    /* the log itself is unharmed */
    s_snap_t end;
    s_snapshot (dir, &end);
    CU_ASSERT (s_snap_equal (&pristine, &end));
    s_snap_free (&end);
    s_snap_free (&pristine);
    for (size_t i = 0; i < nfiles; i++)
        close (files[i].fd);
    tpc_test_rmtree (copy);
    free (copy);
    tpc_test_rmtree (dir);
    free (dir);
}

/*  Open DIR through fault io F; append N records, syncing each.         */
static tpc_log_t *
s_fault_log (const char *dir, s_fault_t *f, uint64_t n, uint64_t segment_bytes)
{
    s_collect_t c = { 0 };
    tpc_log_t *log = s_open (dir, segment_bytes, &c, &f->io, NULL, NULL, 0);
    CU_ASSERT_FATAL (log != NULL);
    if (n)
        s_append_gen (log, 1, n, 60, 1);
    s_collect_reset (&c);
    return log;
}

/*  Reopen DIR with plain POSIX I/O into C.                              */
static void
s_reopen (const char *dir, uint64_t segment_bytes, s_collect_t *c)
{
    int rc;
    char err[512] = "";
    tpc_log_t *log = s_open (dir, segment_bytes, c, NULL, &rc, err, sizeof err);
    CU_ASSERT_EQUAL (rc, 0);
    if (rc)
        fprintf (stderr, "reopen: %s\n", err);
    tpc_log_destroy (&log);
}

static void
s_write_failure (int err, bool half)
{
    char *dir = tpc_test_tmpdir ("log-wfail");
    s_fault_t f;
    s_fault_init (&f);
    tpc_log_t *log = s_fault_log (dir, &f, 5, 65536);
    f.fail_half = half;
    s_fault_arm (&f, 1, 0, err);
    uint8_t buf[64], type;
    size_t len = s_gen (6, 60, buf, &type);
    uint64_t lsn = 99;
    int want = err == ENOSPC ? TPC_ENOSPC : TPC_EIO;
    CU_ASSERT_EQUAL (tpc_log_append (log, type, buf, len, &lsn), want);
    CU_ASSERT_EQUAL (lsn, 99);
    CU_ASSERT_EQUAL (tpc_log_error (log), want);
    /* every later call fails, none is ever 0 */
    CU_ASSERT_EQUAL (tpc_log_append (log, type, buf, len, &lsn), TPC_ELOG_FAILED);
    CU_ASSERT_EQUAL (tpc_log_sync (log, 5), want);
    CU_ASSERT_EQUAL (tpc_log_sync (log, 0), want);
    CU_ASSERT_EQUAL (tpc_log_checkpoint_begin (log), TPC_ELOG_FAILED);
    CU_ASSERT_EQUAL (tpc_log_checkpoint_end (log), TPC_ELOG_FAILED);
    long writes = f.writes;
    tpc_log_destroy (&log);
    CU_ASSERT_EQUAL (f.writes, writes);     /* nothing written after it */
    s_fault_free (&f);
    s_collect_t c = { 0 };
    s_reopen (dir, 65536, &c);
    CU_ASSERT_EQUAL (c.n, 5);
    CU_ASSERT (s_is_gen_prefix (&c, 1, 60));
    CU_ASSERT_EQUAL (c.warnings, half ? 1 : 0);
    s_collect_reset (&c);
    tpc_test_rmtree (dir);
    free (dir);
}

static void
test_write_eio (void)
{
    s_write_failure (EIO, false);
}

static void
test_write_enospc_torn (void)
{
    s_write_failure (ENOSPC, true);
}

static void
s_sync_failure (int err)
{
    char *dir = tpc_test_tmpdir ("log-sfail");
    s_fault_t f;
    s_fault_init (&f);
    f.drop_on_sync_fail = true;
    tpc_log_t *log = s_fault_log (dir, &f, 5, 65536);
    uint8_t buf[64], type;
    for (uint64_t i = 6; i <= 8; i++) {
        size_t len = s_gen (i, 60, buf, &type);
        CU_ASSERT_EQUAL (tpc_log_append (log, type, buf, len, NULL), 0);
    }
    s_fault_arm (&f, 0, 1, err);
    int want = err == ENOSPC ? TPC_ENOSPC : TPC_EIO;
    CU_ASSERT_EQUAL (tpc_log_sync (log, 8), want);
    CU_ASSERT_EQUAL (tpc_log_durable_lsn (log), 5);
    CU_ASSERT_EQUAL (tpc_log_error (log), want);
    long syncs = f.syncs;
    CU_ASSERT_EQUAL (tpc_log_sync (log, 8), want);   /* never retried */
    CU_ASSERT_EQUAL (tpc_log_sync (log, 5), want);   /* never 0 again */
    CU_ASSERT_EQUAL (f.syncs, syncs);
    size_t len = s_gen (9, 60, buf, &type);
    CU_ASSERT_EQUAL (tpc_log_append (log, type, buf, len, NULL), TPC_ELOG_FAILED);
    tpc_log_destroy (&log);
    s_fault_free (&f);
    s_collect_t c = { 0 };
    s_reopen (dir, 65536, &c);
    CU_ASSERT_EQUAL (c.n, 5);               /* only what was durable */
    CU_ASSERT (s_is_gen_prefix (&c, 1, 60));
    CU_ASSERT_EQUAL (c.warnings, 0);
    s_collect_reset (&c);
    tpc_test_rmtree (dir);
    free (dir);
}

static void
test_sync_eio (void)
{
    s_sync_failure (EIO);
}

static void
test_sync_enospc (void)
{
    s_sync_failure (ENOSPC);
}

/*  Replay callback of test_sync_failure_rewritten_at_open: before a
 *  record reaches the owner, the open must have written its bytes again
 *  and then run an fdatasync of that file that succeeded.               */
typedef struct {
    s_fault_t *f;
    const char *dir;
    s_collect_t *c;
    int proven;                 /* records with a rewrite + sync before */
    int unproven;
} s_gate_t;

static int
s_gate_fn (void *arg, const tpc_log_rec_t *rec, const void *payload,
           size_t len)
{
    s_gate_t *g = arg;
    char path[4096];
    s_seg_path (path, sizeof path, g->dir, rec->segment);
    size_t size = 20 + len;
    uint8_t bytes[256];
    CU_ASSERT_FATAL (size <= sizeof bytes);
    int fd = open (path, O_RDONLY);
    CU_ASSERT_FATAL (fd >= 0);
    CU_ASSERT_FATAL (pread (fd, bytes, size, (off_t) rec->offset)
                     == (ssize_t) size);
    close (fd);
    bool written = false, synced = false;
    pthread_mutex_lock (&g->f->mutex);
    for (size_t i = 0; i < g->f->nev; i++) {
        const s_event_t *e = &g->f->ev[i];
        if (strcmp (e->path, path))
            continue;
        if (!e->sync && e->off <= rec->offset
            && e->off + e->n >= rec->offset + size
            && !memcmp (e->data + (rec->offset - e->off), bytes, size))
            written = true;
        else if (e->sync && written)
            synced = e->result == 0;    /* the last one after the write */
    }
    pthread_mutex_unlock (&g->f->mutex);
    if (written && synced)
        g->proven++;
    else
        g->unproven++;
    return s_collect_fn (g->c, rec, payload, len);
}

static void
test_sync_failure_rewritten_at_open (void)
{
    /* fsyncgate: after a failed fdatasync the kernel may keep the pages
     * in its cache, marked clean, although they never reached the disk.
     * Reopening must not replay such a record on the strength of what
     * the cache shows: it writes the tail again and syncs it first.     */
    char *dir = tpc_test_tmpdir ("log-gate");
    s_fault_t f;
    s_fault_init (&f);
    tpc_log_t *log = s_fault_log (dir, &f, 5, 65536);
    uint8_t buf[64], type;
    size_t len = s_gen (6, 60, buf, &type);
    uint64_t lsn;
    CU_ASSERT_EQUAL (tpc_log_append (log, type, buf, len, &lsn), 0);
    CU_ASSERT_EQUAL (lsn, 6);
    s_fault_arm (&f, 0, 1, EIO);    /* fails, the cache keeps the bytes */
    CU_ASSERT_EQUAL (tpc_log_sync (log, 6), TPC_EIO);
    CU_ASSERT_EQUAL (tpc_log_error (log), TPC_EIO);
    tpc_log_destroy (&log);
    s_fault_free (&f);

    /* the disk still fails: the open fails, nothing is replayed */
    s_fault_t g;
    s_fault_init (&g);
    s_fault_arm (&g, 0, 1, EIO);
    s_collect_t c = { 0 };
    int rc;
    char err[512] = "";
    log = s_open (dir, 65536, &c, &g.io, &rc, err, sizeof err);
    CU_ASSERT_PTR_NULL (log);
    CU_ASSERT_EQUAL (rc, TPC_EIO);
    CU_ASSERT_EQUAL (c.n, 0);
    CU_ASSERT_EQUAL (g.syncs, 1);           /* tried once, not retried */
    CU_ASSERT (strstr (err, "fdatasync") != NULL);
    CU_ASSERT (strstr (err, "nothing was replayed") != NULL);
    printf ("\n  open on a failing disk: %s\n", err);
    s_fault_free (&g);

    /* a healthy disk: every record replayed was first rewritten + synced */
    s_fault_t h;
    s_fault_init (&h);
    h.trace = true;
    s_gate_t gate = { &h, dir, &c, 0, 0 };
    tpc_log_config_t cfg = s_config (dir, 65536, &c, &h.io);
    rc = tpc_log_open (&cfg, s_gate_fn, &gate, &log, err, sizeof err);
    CU_ASSERT_EQUAL_FATAL (rc, 0);
    CU_ASSERT_EQUAL (c.n, 6);
    CU_ASSERT (s_is_gen_prefix (&c, 1, 60));
    CU_ASSERT_EQUAL (gate.proven, 6);
    CU_ASSERT_EQUAL (gate.unproven, 0);
    CU_ASSERT_EQUAL (tpc_log_durable_lsn (log), 6);
    /* and it goes on after record 6 */
    len = s_gen (7, 60, buf, &type);
    CU_ASSERT_EQUAL (tpc_log_append (log, type, buf, len, &lsn), 0);
    CU_ASSERT_EQUAL (lsn, 7);
    CU_ASSERT_EQUAL (tpc_log_sync (log, 7), 0);
    tpc_log_destroy (&log);
    s_fault_free (&h);
    s_collect_reset (&c);
    s_reopen (dir, 65536, &c);
    CU_ASSERT_EQUAL (c.n, 7);
    CU_ASSERT (s_is_gen_prefix (&c, 1, 60));
    s_collect_reset (&c);
    tpc_test_rmtree (dir);
    free (dir);
}

/*  Many threads append+sync through a log whose Nth fdatasync fails.   */
#define S_MT_THREADS 8
#define S_MT_MAX 4096

typedef struct {
    tpc_log_t *log;
    int id;
    pthread_mutex_t *map_mutex;
    uint32_t *map;              /* lsn -> thread << 16 | seq */
    uint64_t acked_max;         /* highest LSN whose sync returned 0 */
    long ok_after_error;        /* calls returning 0 after an error: bug */
    int first_error;
    long appends;
    long per_thread;            /* stop after this many (0 = until error) */
} s_mt_t;

static void *
s_mt_run (void *arg)
{
    s_mt_t *t = arg;
    for (uint32_t seq = 1; seq < 60000; seq++) {
        if (t->per_thread && t->appends >= t->per_thread)
            break;
        uint32_t tag = (uint32_t) t->id << 16 | seq;
        uint8_t payload[100];
        memset (payload, (int) (tag & 0xFF), sizeof payload);
        memcpy (payload, &tag, sizeof tag);
        uint64_t lsn = 0;
        int rc = tpc_log_append (t->log, 9, payload, sizeof payload, &lsn);
        if (rc == 0) {
            t->appends++;
            pthread_mutex_lock (t->map_mutex);
            if (lsn < S_MT_MAX * 8)
                t->map[lsn] = tag;
            pthread_mutex_unlock (t->map_mutex);
            rc = tpc_log_sync (t->log, lsn);
            if (rc == 0 && lsn > t->acked_max)
                t->acked_max = lsn;
        }
        if (rc && !t->first_error)
            t->first_error = rc;
        if (rc == 0 && t->first_error)
            t->ok_after_error++;
        if (t->first_error) {
            /* a few more tries: all must fail */
            for (int k = 0; k < 3; k++)
                if (tpc_log_append (t->log, 9, payload, 10, NULL) == 0
                    || tpc_log_sync (t->log, 1) == 0)
                    t->ok_after_error++;
            break;
        }
    }
    return NULL;
}

/*  Replayed records must carry, per LSN, what some thread appended.     */
static bool
s_mt_matches (const s_collect_t *c, const uint32_t *map)
{
    for (size_t i = 0; i < c->n; i++) {
        const s_seen_t *s = &c->recs[i];
        uint32_t tag;
        if (s->lsn != i + 1 || s->len != 100 || s->lsn >= S_MT_MAX * 8)
            return false;
        memcpy (&tag, s->payload, sizeof tag);
        if (tag != map[s->lsn])
            return false;
    }
    return true;
}

static void
test_sync_failure_many_threads (void)
{
    char *dir = tpc_test_tmpdir ("log-mtfail");
    s_fault_t f;
    s_fault_init (&f);
    tpc_log_t *log = s_fault_log (dir, &f, 0, 1 << 20);
    s_fault_arm (&f, 0, 25, EIO);
    uint32_t *map = calloc (S_MT_MAX * 8, sizeof *map);
    pthread_mutex_t map_mutex = PTHREAD_MUTEX_INITIALIZER;
    s_mt_t t[S_MT_THREADS];
    pthread_t th[S_MT_THREADS];
    for (int i = 0; i < S_MT_THREADS; i++) {
        t[i] = (s_mt_t) { log, i + 1, &map_mutex, map, 0, 0, 0, 0, 0 };
        pthread_create (&th[i], NULL, s_mt_run, &t[i]);
    }
    uint64_t acked = 0;
    long ok_after = 0, errors = 0;
    for (int i = 0; i < S_MT_THREADS; i++) {
        pthread_join (th[i], NULL);
        if (t[i].acked_max > acked)
            acked = t[i].acked_max;
        ok_after += t[i].ok_after_error;
        errors += t[i].first_error != 0;
    }
    CU_ASSERT_EQUAL (errors, S_MT_THREADS);     /* every thread got it */
    CU_ASSERT_EQUAL (ok_after, 0);
    CU_ASSERT_EQUAL (tpc_log_error (log), TPC_EIO);
    CU_ASSERT (acked <= tpc_log_durable_lsn (log));
    tpc_log_destroy (&log);
    s_fault_free (&f);
    s_collect_t c = { 0 };
    s_reopen (dir, 1 << 20, &c);
    CU_ASSERT (c.n >= acked);                   /* nothing acked is lost */
    CU_ASSERT (s_mt_matches (&c, map));
    printf ("\n  failing fdatasync #25 under %d threads: acked up to LSN %"
            PRIu64 ", replayed %zu\n", S_MT_THREADS, acked, c.n);
    s_collect_reset (&c);
    free (map);
    tpc_test_rmtree (dir);
    free (dir);
}

static void
test_short_writes (void)
{
    char *dir = tpc_test_tmpdir ("log-short");
    s_fault_t f;
    s_fault_init (&f);
    f.max_write = 7;
    tpc_log_t *log = s_fault_log (dir, &f, 0, 1024);
    s_append_gen (log, 1, 500, 100, 10);
    tpc_log_destroy (&log);
    CU_ASSERT (f.writes > 500 * 5);         /* really written in bits */
    s_fault_free (&f);
    s_collect_t c = { 0 };
    s_reopen (dir, 1024, &c);
    CU_ASSERT_EQUAL (c.n, 500);
    CU_ASSERT (s_is_gen_prefix (&c, 1, 100));
    CU_ASSERT_EQUAL (c.warnings, 0);
    s_collect_reset (&c);
    tpc_test_rmtree (dir);
    free (dir);
}

/*  Workload of the crash test: records 1..N, a sync every third, and a
 *  checkpoint (nothing re-appended) after record N/2, whose marker takes
 *  LSN N/2+1 so record i > N/2 has LSN i+1.  Returns the highest LSN a
 *  sync (or the checkpoint) acknowledged before the crash.              */
static uint64_t
s_crash_workload (tpc_log_t *log, s_fault_t *f, uint64_t n)
{
    uint64_t acked = 0;
    uint8_t buf[128], type;
    for (uint64_t i = 1; i <= n; i++) {
        size_t len = s_gen (i, 90, buf, &type);
        uint64_t lsn;
        if (tpc_log_append (log, type, buf, len, &lsn))
            break;
        if (i % 3 == 0 || i == n) {
            int rc = tpc_log_sync (log, lsn);
            if (rc)
                break;
            if (!s_fault_dead (f))
                acked = lsn;
        }
        if (i == n / 2) {
            if (tpc_log_checkpoint_begin (log) || tpc_log_checkpoint_end (log))
                break;
            if (!s_fault_dead (f))
                acked = n / 2 + 1;
        }
    }
    return acked;
}

/*  What may come back after a crash: records 1..k (k <= N/2) when the
 *  checkpoint did not complete, else records from LSN N/2+2 on; in both
 *  cases consecutive, intact, and reaching at least ACKED.              */
static bool
s_crash_replay_ok (const s_collect_t *c, uint64_t n, uint64_t last_lsn,
                   uint64_t acked)
{
    uint8_t buf[128], type;
    uint64_t mark = n / 2 + 1;
    if (last_lsn < acked)
        return false;
    if (c->n == 0)
        return last_lsn == 0 || last_lsn == mark;
    uint64_t first = c->recs[0].lsn;
    if (first != 1 && first != mark + 1)
        return false;
    for (size_t k = 0; k < c->n; k++) {
        const s_seen_t *s = &c->recs[k];
        uint64_t i = s->lsn > mark ? s->lsn - 1 : s->lsn;
        size_t len = s_gen (i, 90, buf, &type);
        if (s->lsn != first + k || s->lsn == mark || s->type != type
            || s->len != len || memcmp (s->payload, buf, len))
            return false;
    }
    return c->recs[c->n - 1].lsn == last_lsn;
}

static void
test_crash_after_nth_write (void)
{
    const uint64_t n = 40;
    const uint64_t seg = 512;
    /* how many writes does the whole workload make? */
    char *dir = tpc_test_tmpdir ("log-crash");
    s_fault_t f;
    s_fault_init (&f);
    tpc_log_t *log = s_fault_log (dir, &f, 0, seg);
    long base = f.writes;
    s_crash_workload (log, &f, n);
    long total = f.writes - base;
    tpc_log_destroy (&log);
    s_fault_free (&f);
    tpc_test_rmtree (dir);
    free (dir);

    int wrong = 0, runs = 0, torn = 0;
    for (long crash = 0; crash <= total; crash++) {
        dir = tpc_test_tmpdir ("log-crash");
        s_fault_init (&f);
        log = s_fault_log (dir, &f, 0, seg);
        f.crash_after = f.writes + crash;
        uint64_t acked = s_crash_workload (log, &f, n);
        tpc_log_destroy (&log);
        s_fault_free (&f);
        s_collect_t c = { 0 };
        int rc;
        char err[512] = "";
        log = s_open (dir, seg, &c, NULL, &rc, err, sizeof err);
        runs++;
        torn += c.warnings > 0;
        bool ok = rc == 0 && log && c.warnings <= 1
                  && s_crash_replay_ok (&c, n, tpc_log_last_lsn (log), acked);
        if (ok) {       /* and it goes on from there */
            uint64_t lsn;
            ok = tpc_log_append (log, 1, "x", 1, &lsn) == 0
                 && tpc_log_sync (log, lsn) == 0;
        }
        if (!ok) {
            wrong++;
            fprintf (stderr, "crash after write %ld: rc %d (%s) records %zu "
                     "acked %" PRIu64 "\n", crash, rc, err, c.n, acked);
        }
        tpc_log_destroy (&log);
        s_collect_reset (&c);
        tpc_test_rmtree (dir);
        free (dir);
    }
    printf ("\n  crash after every write: runs=%d wrong=%d torn_tails=%d\n",
            runs, wrong, torn);
    CU_ASSERT_EQUAL (wrong, 0);
    CU_ASSERT (runs > 20);
}

static void
test_checkpoint (void)
{
    const uint64_t n = 100;
    char *dir = s_make_log ("log-ckpt", n, 60, 1024);
    uint64_t lowest_before;
    size_t segs_before = s_count_segments (dir, &lowest_before);
    CU_ASSERT (segs_before >= 3);
    s_collect_t c = { 0 };
    tpc_log_t *log = s_open (dir, 1024, &c, NULL, NULL, NULL, 0);
    CU_ASSERT_FATAL (log != NULL);
    CU_ASSERT_EQUAL (c.n, n);
    CU_ASSERT_EQUAL (tpc_log_checkpoint_end (log), TPC_ESTATE);
    CU_ASSERT_EQUAL (tpc_log_checkpoint_begin (log), 0);
    CU_ASSERT_EQUAL (tpc_log_checkpoint_begin (log), TPC_ESTATE);
    /* the live records: every tenth, appended again */
    uint8_t buf[64], type;
    for (uint64_t i = 10; i <= n; i += 10) {
        size_t len = s_gen (i, 60, buf, &type);
        CU_ASSERT_EQUAL (tpc_log_append (log, type, buf, len, NULL), 0);
    }
    CU_ASSERT_EQUAL (tpc_log_append (log, 3, "new", 3, NULL), 0);
    s_snap_t old;
    s_snapshot (dir, &old);
    CU_ASSERT_EQUAL (tpc_log_checkpoint_end (log), 0);
    uint64_t lowest_after;
    s_count_segments (dir, &lowest_after);
    CU_ASSERT (lowest_after > lowest_before);
    /* keep, of the copy, only the segments the checkpoint dropped */
    size_t kept = 0;
    for (size_t i = 0; i < old.n; i++) {
        if (strtoull (old.files[i].name, NULL, 10) - 1 < lowest_after - 1)
            old.files[kept++] = old.files[i];
        else
            free (old.files[i].data);
    }
    old.n = kept;
    CU_ASSERT (kept >= 3);
    uint64_t lsn;
    CU_ASSERT_EQUAL (tpc_log_append (log, 4, "after", 5, &lsn), 0);
    CU_ASSERT_EQUAL (lsn, n + 10 + 1 + 1 + 1);      /* marker took one */
    CU_ASSERT_EQUAL (tpc_log_sync (log, lsn), 0);
    tpc_log_destroy (&log);

    for (int round = 0; round < 2; round++) {
        s_collect_reset (&c);
        log = s_open (dir, 1024, &c, NULL, NULL, NULL, 0);
        CU_ASSERT_FATAL (log != NULL);
        /* exactly the live copies, "new" and "after" */
        CU_ASSERT_EQUAL (c.n, 12);
        bool same = c.n == 12;
        for (size_t k = 0; same && k < 10; k++) {
            size_t len = s_gen ((k + 1) * 10, 60, buf, &type);
            same = c.recs[k].type == type && c.recs[k].len == len
                   && !memcmp (c.recs[k].payload, buf, len)
                   && c.recs[k].lsn == n + 1 + k;
        }
        CU_ASSERT (same);
        if (c.n == 12) {
            CU_ASSERT (c.recs[10].len == 3 && !memcmp (c.recs[10].payload, "new", 3));
            CU_ASSERT (c.recs[11].len == 5 && !memcmp (c.recs[11].payload, "after", 5));
        }
        CU_ASSERT_EQUAL (c.warnings, 0);
        tpc_log_destroy (&log);
        /* a crash between the marker and the unlinks: old segments are
         * back; replay still starts at the checkpoint and removes them */
        s_snap_restore (&old, dir);
        CU_ASSERT (s_count_segments (dir, NULL) > 2);
    }
    s_count_segments (dir, &lowest_after);
    CU_ASSERT (lowest_after == lowest_before);
    s_collect_reset (&c);
    log = s_open (dir, 1024, &c, NULL, NULL, NULL, 0);
    s_count_segments (dir, &lowest_after);
    CU_ASSERT (lowest_after > lowest_before);
    CU_ASSERT_EQUAL (c.n, 12);
    tpc_log_destroy (&log);

    /* the scan shows everything, the marker included */
    s_collect_t s = { 0 };
    CU_ASSERT_EQUAL (tpc_log_scan (dir, s_collect_fn, &s, NULL, NULL, 0), 0);
    CU_ASSERT_EQUAL (s.n, 13);
    int markers = 0;
    for (size_t i = 0; i < s.n; i++)
        markers += s.recs[i].type == TPC_LOG_TYPE_CHECKPOINT;
    CU_ASSERT_EQUAL (markers, 1);
    s_collect_reset (&s);
    s_collect_reset (&c);
    s_snap_free (&old);
    tpc_test_rmtree (dir);
    free (dir);
}

static void
test_checkpoint_unfinished (void)
{
    /* crash between begin and end: everything comes back */
    const uint64_t n = 30;
    char *dir = s_make_log ("log-ckpt2", n, 60, 1024);
    s_collect_t c = { 0 };
    tpc_log_t *log = s_open (dir, 1024, &c, NULL, NULL, NULL, 0);
    CU_ASSERT_EQUAL (tpc_log_checkpoint_begin (log), 0);
    uint8_t buf[64], type;
    size_t len = s_gen (n, 60, buf, &type);
    uint64_t lsn;
    CU_ASSERT_EQUAL (tpc_log_append (log, type, buf, len, &lsn), 0);
    CU_ASSERT_EQUAL (tpc_log_sync (log, lsn), 0);
    tpc_log_destroy (&log);
    s_collect_reset (&c);
    log = s_open (dir, 1024, &c, NULL, NULL, NULL, 0);
    CU_ASSERT_EQUAL (c.n, n + 1);
    CU_ASSERT (c.n == n + 1 && c.recs[n].len == len
               && !memcmp (c.recs[n].payload, buf, len));
    /* a checkpoint over an idle log keeps only what is re-appended */
    CU_ASSERT_EQUAL (tpc_log_checkpoint_begin (log), 0);
    CU_ASSERT_EQUAL (tpc_log_checkpoint_end (log), 0);
    CU_ASSERT_EQUAL (s_count_segments (dir, NULL), 1);
    tpc_log_destroy (&log);
    s_collect_reset (&c);
    log = s_open (dir, 1024, &c, NULL, NULL, NULL, 0);
    CU_ASSERT_EQUAL (c.n, 0);
    CU_ASSERT_EQUAL (tpc_log_last_lsn (log), n + 2);
    tpc_log_destroy (&log);
    s_collect_reset (&c);
    tpc_test_rmtree (dir);
    free (dir);
}

static void
test_concurrent_appenders (void)
{
    char *dir = tpc_test_tmpdir ("log-mt");
    s_collect_t c = { 0 };
    tpc_log_t *log = s_open (dir, 64 * 1024, &c, NULL, NULL, NULL, 0);
    CU_ASSERT_FATAL (log != NULL);
    const long per = 300;
    uint32_t *map = calloc (S_MT_MAX * 8, sizeof *map);
    pthread_mutex_t map_mutex = PTHREAD_MUTEX_INITIALIZER;
    s_mt_t t[S_MT_THREADS];
    pthread_t th[S_MT_THREADS];
    for (int i = 0; i < S_MT_THREADS; i++) {
        t[i] = (s_mt_t) { log, i + 1, &map_mutex, map, 0, 0, 0, 0, per };
        pthread_create (&th[i], NULL, s_mt_run, &t[i]);
    }
    long appends = 0;
    int errors = 0;
    for (int i = 0; i < S_MT_THREADS; i++) {
        pthread_join (th[i], NULL);
        appends += t[i].appends;
        errors += t[i].first_error != 0;
    }
    uint64_t total = (uint64_t) per * S_MT_THREADS;
    CU_ASSERT_EQUAL (errors, 0);
    CU_ASSERT_EQUAL (appends, (long) total);
    CU_ASSERT_EQUAL (tpc_log_last_lsn (log), total);
    CU_ASSERT_EQUAL (tpc_log_durable_lsn (log), total);
    /* every LSN 1..total went to exactly one append */
    long unmapped = 0;
    for (uint64_t l = 1; l <= total; l++)
        unmapped += map[l] == 0;
    CU_ASSERT_EQUAL (unmapped, 0);
    uint64_t syncs = tpc_log_sync_count (log);
    CU_ASSERT (syncs <= total);
    tpc_log_destroy (&log);
    s_reopen (dir, 64 * 1024, &c);
    CU_ASSERT_EQUAL (c.n, total);
    CU_ASSERT (s_mt_matches (&c, map));
    /* each thread's records appear in its own order */
    uint32_t last_seq[S_MT_THREADS + 1] = { 0 };
    bool in_order = true;
    for (size_t i = 0; i < c.n; i++) {
        uint32_t tag;
        memcpy (&tag, c.recs[i].payload, sizeof tag);
        uint32_t id = tag >> 16, seq = tag & 0xFFFF;
        if (id == 0 || id > S_MT_THREADS || seq != last_seq[id] + 1)
            in_order = false;
        else
            last_seq[id] = seq;
    }
    CU_ASSERT (in_order);
    printf ("\n  %d threads: appends=%" PRIu64 " fdatasyncs=%" PRIu64
            " (%.2f per append)\n", S_MT_THREADS, total, syncs,
            (double) syncs / (double) total);
    s_collect_reset (&c);
    free (map);
    tpc_test_rmtree (dir);
    free (dir);
}

/*  --------------------------------------------------------------------
 *  Spare segments made ahead by the preparer thread
 */

static void
s_fault_crash (s_fault_t *f)
{
    pthread_mutex_lock (&f->mutex);
    f->crashed = true;
    pthread_mutex_unlock (&f->mutex);
}

/*  Wait (up to 10 s) until segment NO of DIR exists with SIZE bytes.    */
static bool
s_wait_segment (const char *dir, uint64_t no, uint64_t size)
{
    char path[4096];
    s_seg_path (path, sizeof path, dir, no);
    for (int i = 0; i < 10000; i++) {
        struct stat st;
        if (stat (path, &st) == 0 && (uint64_t) st.st_size == size)
            return true;
        usleep (1000);
    }
    return false;
}

static void *
s_mt_appender (void *arg)
{
    s_appender_thread = true;
    return s_mt_run (arg);
}

static void
test_rotation_under_load (void)
{
    /* 8 threads append+sync through 8 KiB segments: dozens of rotations,
     * every one a switch to a segment the preparer made (no appending
     * thread ever renames a file), and nothing lost or reordered.        */
    char *dir = tpc_test_tmpdir ("log-rot");
    s_fault_t f;
    s_fault_init (&f);
    const uint64_t seg = 8192;
    tpc_log_t *log = s_fault_log (dir, &f, 0, seg);
    const long per = 400;
    uint32_t *map = calloc (S_MT_MAX * 8, sizeof *map);
    pthread_mutex_t map_mutex = PTHREAD_MUTEX_INITIALIZER;
    s_mt_t t[S_MT_THREADS];
    pthread_t th[S_MT_THREADS];
    for (int i = 0; i < S_MT_THREADS; i++) {
        t[i] = (s_mt_t) { log, i + 1, &map_mutex, map, 0, 0, 0, 0, per };
        pthread_create (&th[i], NULL, s_mt_appender, &t[i]);
    }
    int errors = 0;
    for (int i = 0; i < S_MT_THREADS; i++) {
        pthread_join (th[i], NULL);
        errors += t[i].first_error != 0;
    }
    uint64_t total = (uint64_t) per * S_MT_THREADS;
    CU_ASSERT_EQUAL (errors, 0);
    CU_ASSERT_EQUAL (tpc_log_last_lsn (log), total);
    CU_ASSERT_EQUAL (tpc_log_durable_lsn (log), total);
    tpc_log_destroy (&log);
    CU_ASSERT_EQUAL (f.renames_by_appenders, 0);
    long renames = f.renames;
    s_fault_free (&f);
    size_t segs = s_count_segments (dir, NULL);
    CU_ASSERT (segs >= 40);
    CU_ASSERT (renames >= (long) segs);     /* the first, and one per spare */

    /* every LSN once, with its thread's payload, each thread in order */
    s_collect_t c = { 0 };
    s_reopen (dir, seg, &c);
    CU_ASSERT_EQUAL (c.n, total);
    CU_ASSERT (s_mt_matches (&c, map));
    uint32_t last_seq[S_MT_THREADS + 1] = { 0 };
    bool in_order = true;
    for (size_t i = 0; i < c.n; i++) {
        uint32_t tag;
        memcpy (&tag, c.recs[i].payload, sizeof tag);
        uint32_t id = tag >> 16, seq = tag & 0xFFFF;
        if (id == 0 || id > S_MT_THREADS || seq != last_seq[id] + 1)
            in_order = false;
        else
            last_seq[id] = seq;
    }
    CU_ASSERT (in_order);
    /* each segment's header names the LSN of its first record */
    size_t firsts = 0, wrong_hdr = 0;
    for (size_t i = 0; i < c.n; i++) {
        if (c.recs[i].offset != 32)
            continue;
        char path[4096];
        s_seg_path (path, sizeof path, dir, c.recs[i].segment);
        firsts++;
        wrong_hdr += s_header_first_lsn (path) != c.recs[i].lsn;
    }
    CU_ASSERT_EQUAL (firsts, segs);
    CU_ASSERT_EQUAL (wrong_hdr, 0);
    printf ("\n  %d threads, %" PRIu64 " records through %zu segments of %"
            PRIu64 " bytes: renames by appenders=0, headers wrong=%zu\n",
            S_MT_THREADS, total, segs, seg, wrong_hdr);
    s_collect_reset (&c);
    free (map);
    tpc_test_rmtree (dir);
    free (dir);
}

/*  Overwrite segment NO's header in DIR with one naming FIRST_LSN.       */
static void
s_put_header (const char *dir, uint64_t no, uint64_t first_lsn)
{
    uint8_t h[32] = { 'T', 'P', 'C', 'L', 1, 0, 32, 0 };
    tpc_le_put64 (h + 8, no);
    tpc_le_put64 (h + 16, first_lsn);
    tpc_le_put32 (h + 28, tpc_crc32c (0, h, 28));
    s_poke (dir, no, 0, h, sizeof h);
}

static void
test_spare_left_over (void)
{
    const uint64_t seg = 4096;
    char *dir = tpc_test_tmpdir ("log-spare");
    s_fault_t f;
    s_fault_init (&f);
    tpc_log_t *log = s_fault_log (dir, &f, 20, seg);
    CU_ASSERT_FATAL (s_wait_segment (dir, 2, seg));
    s_fault_crash (&f);             /* the process dies here */
    tpc_log_destroy (&log);
    s_fault_free (&f);

    /* segment 2: a valid header, no first LSN yet, only zeros */
    char path[4096];
    s_seg_path (path, sizeof path, dir, 2);
    size_t size;
    uint8_t *data = s_read_path (path, &size);
    CU_ASSERT_FATAL (data != NULL);
    CU_ASSERT_EQUAL (size, seg);
    CU_ASSERT (!memcmp (data, "TPCL", 4));
    CU_ASSERT_EQUAL (s_header_first_lsn (path), 0);
    bool zeros = true;
    for (size_t i = 32; i < size; i++)
        zeros = zeros && data[i] == 0;
    CU_ASSERT (zeros);
    free (data);
    struct stat st1, st2;
    CU_ASSERT_FATAL (stat (path, &st1) == 0);

    /* neither scan nor open takes it for damage or for a gap */
    s_collect_t c = { 0 };
    CU_ASSERT_EQUAL (tpc_log_scan (dir, s_collect_fn, &c, s_collect_warn,
                                   NULL, 0), 0);
    CU_ASSERT_EQUAL (c.n, 20);
    CU_ASSERT_EQUAL (c.warnings, 0);
    s_collect_reset (&c);
    int rc;
    char err[512] = "";
    log = s_open (dir, seg, &c, NULL, &rc, err, sizeof err);
    CU_ASSERT_FATAL (log != NULL);
    CU_ASSERT_EQUAL (c.n, 20);
    CU_ASSERT (s_is_gen_prefix (&c, 1, 60));
    CU_ASSERT_EQUAL (c.warnings, 0);
    CU_ASSERT_EQUAL (tpc_log_last_lsn (log), 20);
    /* it is taken over as the spare, not made again */
    CU_ASSERT_FATAL (stat (path, &st2) == 0);
    CU_ASSERT_EQUAL (st1.st_ino, st2.st_ino);
    /* the next rotation starts it: its header names LSN 21 */
    CU_ASSERT_EQUAL (tpc_log_checkpoint_begin (log), 0);
    uint64_t lsn;
    CU_ASSERT_EQUAL (tpc_log_append (log, 5, "live", 4, &lsn), 0);
    CU_ASSERT_EQUAL (lsn, 21);
    CU_ASSERT_EQUAL (tpc_log_checkpoint_end (log), 0);
    CU_ASSERT_EQUAL (s_header_first_lsn (path), 21);
    s_seen_t rec;
    CU_ASSERT (s_find_record (dir, 21, &rec) && rec.segment == 2
               && rec.offset == 32);
    tpc_log_destroy (&log);
    /* a clean close leaves no spare behind */
    s_seg_path (path, sizeof path, dir, 3);
    CU_ASSERT (access (path, F_OK) != 0);
    s_collect_reset (&c);

    /* a later segment whose header was lost (first LSN 0, records after
     * it: a switch cut short) is read by its records, and open restores
     * its header                                                        */
    char *dir2 = s_make_log ("log-spare2", 120, 60, 1024);
    uint64_t no = 0;
    CU_ASSERT_FATAL (s_count_segments (dir2, &no) >= 3);
    no += 2;
    char path2[4096];
    s_seg_path (path2, sizeof path2, dir2, no);
    uint64_t first = s_header_first_lsn (path2);
    CU_ASSERT (first > 1);
    s_put_header (dir2, no, 0);
    CU_ASSERT_EQUAL (s_header_first_lsn (path2), 0);
    log = s_open (dir2, 1024, &c, NULL, &rc, err, sizeof err);
    CU_ASSERT_FATAL (log != NULL);
    CU_ASSERT_EQUAL (c.n, 120);
    CU_ASSERT (s_is_gen_prefix (&c, 1, 60));
    CU_ASSERT_EQUAL (c.warnings, 0);
    tpc_log_destroy (&log);
    s_collect_reset (&c);
    s_put_header (dir2, no, first);
    /* (the tail, which open rewrites, gets its header back) */
    uint64_t last = 0;
    size_t nsegs = s_count_segments (dir2, &last);
    last += nsegs - 1;
    s_seg_path (path2, sizeof path2, dir2, last);
    first = s_header_first_lsn (path2);
    s_put_header (dir2, last, 0);
    log = s_open (dir2, 1024, &c, NULL, &rc, err, sizeof err);
    CU_ASSERT_FATAL (log != NULL);
    CU_ASSERT_EQUAL (c.n, 120);
    CU_ASSERT_EQUAL (c.warnings, 0);
    CU_ASSERT_EQUAL (s_header_first_lsn (path2), first);
    tpc_log_destroy (&log);
    s_collect_reset (&c);
    tpc_test_rmtree (dir2);
    free (dir2);

    /* a spare of another size (the configuration changed) is replaced */
    s_fault_init (&f);
    tpc_log_destroy (&log);
    s_collect_reset (&c);
    log = s_open (dir, seg, &c, &f.io, &rc, err, sizeof err);
    if (!log)
        fprintf (stderr, "open: %s\n", err);
    CU_ASSERT_FATAL (log != NULL);
    CU_ASSERT_FATAL (s_wait_segment (dir, 3, seg));
    s_fault_crash (&f);
    tpc_log_destroy (&log);
    s_fault_free (&f);
    s_collect_reset (&c);
    log = s_open (dir, 2 * seg, &c, NULL, &rc, err, sizeof err);
    CU_ASSERT_FATAL (log != NULL);
    CU_ASSERT_EQUAL (c.n, 1);
    CU_ASSERT_EQUAL (c.warnings, 0);
    CU_ASSERT (s_wait_segment (dir, 3, 2 * seg));
    tpc_log_destroy (&log);
    s_collect_reset (&c);
    tpc_test_rmtree (dir);
    free (dir);
}

/*  Workload of test_crash_while_preparing: ROUNDS times a record, a sync
 *  and a checkpoint (which switches to the spare and has the next one
 *  made).  A record's payload is its LSN.  Returns the highest LSN a
 *  sync or checkpoint acknowledged before the crash.                    */
static uint64_t
s_prep_workload (tpc_log_t *log, s_fault_t *f, int rounds)
{
    uint64_t acked = 0;
    for (int r = 0; r < rounds; r++) {
        uint64_t want = tpc_log_last_lsn (log) + 1, lsn;
        if (tpc_log_append (log, 1, &want, sizeof want, &lsn)
            || tpc_log_sync (log, lsn))
            break;
        if (!s_fault_dead (f))
            acked = lsn;
        if (tpc_log_checkpoint_begin (log))
            break;
        want = lsn + 1;
        if (tpc_log_append (log, 2, &want, sizeof want, &lsn)
            || tpc_log_checkpoint_end (log))
            break;
        if (!s_fault_dead (f))
            acked = lsn + 1;            /* the marker */
    }
    return acked;
}

/*  Replay after the crash: records in LSN order, each carrying its LSN,
 *  none missing but checkpoint markers, up to the log's last LSN, which
 *  covers ACKED.                                                        */
static bool
s_prep_replay_ok (const s_collect_t *c, uint64_t last_lsn, uint64_t acked)
{
    if (last_lsn < acked)
        return false;
    for (size_t k = 0; k < c->n; k++) {
        uint64_t v, prev = k ? c->recs[k - 1].lsn : 0;
        if (c->recs[k].len != sizeof v)
            return false;
        memcpy (&v, c->recs[k].payload, sizeof v);
        /* one LSN between two may be a checkpoint marker */
        if (v != c->recs[k].lsn || (k && (v <= prev || v > prev + 2)))
            return false;
    }
    /* the last record, or the checkpoint marker after it */
    return c->n == 0 || c->recs[c->n - 1].lsn >= last_lsn - 1;
}

static void
test_crash_while_preparing (void)
{
    /* segments of two zero-fill writes: the process dies at every write
     * and after every rename of a segment being made (at open, and by
     * the preparer while appends and checkpoints go on)                */
    const uint64_t seg = (1u << 20) + 4096;
    const int rounds = 3;
    char *dir = tpc_test_tmpdir ("log-prep");
    s_fault_t f;
    s_fault_init (&f);
    tpc_log_t *log = s_fault_log (dir, &f, 0, seg);
    s_prep_workload (log, &f, rounds);
    /* the spare made after the last rotation: let it finish */
    CU_ASSERT (s_wait_segment (dir, (uint64_t) rounds + 2, seg));
    tpc_log_destroy (&log);         /* (joins the preparer) */
    long tmp_writes = f.tmp_writes, renames = f.renames;
    s_fault_free (&f);
    tpc_test_rmtree (dir);
    free (dir);
    CU_ASSERT (tmp_writes >= 2 * (rounds + 2));
    CU_ASSERT (renames >= rounds + 2);

    int runs = 0, crashed = 0, wrong = 0, spares_kept = 0;
    for (long k = 0; k < tmp_writes + renames; k++) {
        dir = tpc_test_tmpdir ("log-prep");
        s_fault_init (&f);
        if (k < tmp_writes)
            f.crash_tmp_after = k;
        else
            f.crash_after_rename = k - tmp_writes + 1;
        s_collect_t c = { 0 };
        log = s_open (dir, seg, &c, &f.io, NULL, NULL, 0);
        CU_ASSERT_FATAL (log != NULL);
        uint64_t acked = s_prep_workload (log, &f, rounds);
        /* let the last spare be made (or the crash come) before closing */
        char lastseg[4096];
        s_seg_path (lastseg, sizeof lastseg, dir, (uint64_t) rounds + 2);
        for (int i = 0; i < 10000 && !s_fault_dead (&f); i++) {
            struct stat st;
            if (stat (lastseg, &st) == 0 && (uint64_t) st.st_size == seg)
                break;
            usleep (1000);
        }
        tpc_log_destroy (&log);
        bool dead = s_fault_dead (&f);
        s_fault_free (&f);
        runs++;
        crashed += dead;
        /* a complete spare (started or not) outlived the process? */
        uint64_t no = 0;
        DIR *d = opendir (dir);
        struct dirent *e;
        while (d && (e = readdir (d))) {
            char path[4096];
            snprintf (path, sizeof path, "%s/%s", dir, e->d_name);
            if (strlen (e->d_name) == 27 && s_header_first_lsn (path) == 0)
                no++;
        }
        if (d)
            closedir (d);
        spares_kept += no > 0;

        int rc;
        char err[512] = "";
        log = s_open (dir, seg, &c, NULL, &rc, err, sizeof err);
        bool ok = rc == 0 && log && c.warnings == 0
                  && s_prep_replay_ok (&c, tpc_log_last_lsn (log), acked);
        uint64_t lsn = 0, v;
        if (ok) {       /* and it goes on from there */
            v = tpc_log_last_lsn (log) + 1;
            ok = tpc_log_append (log, 1, &v, sizeof v, &lsn) == 0
                 && tpc_log_sync (log, lsn) == 0;
        }
        uint64_t last = log ? tpc_log_last_lsn (log) : 0;
        int warnings = c.warnings;
        tpc_log_destroy (&log);
        size_t before = c.n;
        s_collect_reset (&c);
        if (ok) {
            log = s_open (dir, seg, &c, NULL, &rc, err, sizeof err);
            ok = rc == 0 && c.warnings == 0 && c.n == before + 1
                 && c.recs[c.n - 1].lsn == lsn;
            tpc_log_destroy (&log);
        }
        if (!ok) {
            wrong++;
            fprintf (stderr, "crash at %s %ld: rc %d (%s) records %zu "
                     "warnings %d last LSN %" PRIu64 " acked %" PRIu64 "\n",
                     k < tmp_writes ? "tmp write" : "rename",
                     k < tmp_writes ? k + 1 : k - tmp_writes + 1, rc, err,
                     before, warnings, last, acked);
        }
        s_collect_reset (&c);
        tpc_test_rmtree (dir);
        free (dir);
    }
    printf ("\n  crash while preparing a segment: runs=%d crashed=%d "
            "spare_left=%d wrong=%d\n", runs, crashed, spares_kept, wrong);
    CU_ASSERT_EQUAL (wrong, 0);
    CU_ASSERT_EQUAL (crashed, runs);
    CU_ASSERT (spares_kept > 0);
}

static void
test_api_limits (void)
{
    char *dir = tpc_test_tmpdir ("log-api");
    s_collect_t c = { 0 };
    int rc;
    char err[256];
    tpc_log_t *log = s_open (dir, 4096, &c, NULL, &rc, err, sizeof err);
    CU_ASSERT_FATAL (log != NULL);
    /* a second opener is locked out */
    s_collect_t c2 = { 0 };
    tpc_log_t *other = s_open (dir, 4096, &c2, NULL, &rc, err, sizeof err);
    CU_ASSERT_PTR_NULL (other);
    CU_ASSERT_EQUAL (rc, TPC_ELOG_LOCKED);
    CU_ASSERT (strstr (err, "LOCK") != NULL);
    uint64_t lsn = 0;
    CU_ASSERT_EQUAL (tpc_log_append (log, TPC_LOG_TYPE_INTERNAL, "x", 1, &lsn),
                     TPC_EINVAL);
    CU_ASSERT_EQUAL (tpc_log_append (log, 0xFF, "x", 1, &lsn), TPC_EINVAL);
    static uint8_t big[TPC_LOG_RECORD_MAX + 1];
    CU_ASSERT_EQUAL (tpc_log_append (log, 1, big, sizeof big, &lsn),
                     TPC_ELOG_TOO_BIG);
    CU_ASSERT_EQUAL (tpc_log_append (log, 1, big, 4096, &lsn), TPC_ELOG_TOO_BIG);
    CU_ASSERT_EQUAL (tpc_log_append (log, 1, big, 4096 - 32 - 20, &lsn), 0);
    CU_ASSERT_EQUAL (lsn, 1);
    CU_ASSERT_EQUAL (tpc_log_append (log, 1, NULL, 0, &lsn), 0);
    CU_ASSERT_EQUAL (lsn, 2);
    CU_ASSERT_EQUAL (tpc_log_sync (log, 3), TPC_EINVAL);
    CU_ASSERT_EQUAL (tpc_log_sync (log, 0), 0);
    CU_ASSERT_EQUAL (tpc_log_sync (log, 2), 0);
    CU_ASSERT_EQUAL (tpc_log_sync (log, 1), 0);
    CU_ASSERT (tpc_log_sync_count (log) >= 1);
    tpc_log_destroy (&log);
    /* bad configuration */
    tpc_log_config_t cfg = { .dir = NULL };
    CU_ASSERT_EQUAL (tpc_log_open (&cfg, NULL, NULL, &log, err, sizeof err),
                     TPC_EINVAL);
    cfg.dir = dir;
    cfg.segment_bytes = 10;
    CU_ASSERT_EQUAL (tpc_log_open (&cfg, NULL, NULL, &log, err, sizeof err),
                     TPC_EINVAL);
    char missing[4096];
    snprintf (missing, sizeof missing, "%s/no/such/dir", dir);
    cfg.dir = missing;
    cfg.segment_bytes = 0;
    CU_ASSERT_EQUAL (tpc_log_open (&cfg, NULL, NULL, &log, err, sizeof err),
                     TPC_ENOENT);
    CU_ASSERT_EQUAL (tpc_log_scan (missing, NULL, NULL, NULL, err, sizeof err),
                     TPC_ENOENT);
    /* a newer format is refused, not mistaken for damage */
    uint8_t hdr[32];
    char path[4096];
    s_seg_path (path, sizeof path, dir, 1);
    int fd = open (path, O_RDWR);
    CU_ASSERT_FATAL (fd >= 0 && pread (fd, hdr, 32, 0) == 32);
    hdr[4] = 2;
    tpc_le_put32 (hdr + 28, tpc_crc32c (0, hdr, 28));
    CU_ASSERT_FATAL (pwrite (fd, hdr, 32, 0) == 32);
    close (fd);
    cfg.dir = dir;
    CU_ASSERT_EQUAL (tpc_log_open (&cfg, NULL, NULL, &log, err, sizeof err),
                     TPC_ELOG_VERSION);
    CU_ASSERT (strstr (err, "newer") != NULL);
    s_collect_reset (&c);
    s_collect_reset (&c2);
    tpc_test_rmtree (dir);
    free (dir);
}

/*  A segment file NO in DIR, SIZE bytes: a valid header (first LSN FIRST)
 *  then zeros; if REC_LSN is non-zero, one record (type 1, 8-byte
 *  payload) with that LSN and a right CRC after the header.  Only a forged
 *  file can carry numbers this close to 2^64.                          */
static void
s_forge_segment (const char *dir, uint64_t no, uint64_t first, size_t size,
                 uint64_t rec_lsn)
{
    uint8_t d[512] = { 0 };
    CU_ASSERT_FATAL (size <= sizeof d && size >= 64);
    memcpy (d, "TPCL", 4);
    d[4] = 1;
    d[6] = 32;
    tpc_le_put64 (d + 8, no);
    tpc_le_put64 (d + 16, first);
    tpc_le_put32 (d + 28, tpc_crc32c (0, d, 28));
    if (rec_lsn) {
        uint8_t *r = d + 32;
        r[0] = 0xD7;
        r[1] = 1;
        r[2] = 1;
        r[4] = 8;
        tpc_le_put64 (r + 8, rec_lsn);
        memset (r + 16, 0xAB, 8);
        tpc_le_put32 (r + 24, tpc_crc32c (0, r, 24));
    }
    char path[4200];
    snprintf (path, sizeof path, "%s/%020" PRIu64 ".tpclog", dir, no);
    FILE *f = fopen (path, "wb");
    CU_ASSERT_FATAL (f != NULL);
    CU_ASSERT_EQUAL (fwrite (d, 1, size, f), size);
    fclose (f);
}

/*  Found by fuzzing (tests/corpus/regress/log/segment-number-max.tpclog):
 *  a forged header with segment number 2^64-1, or a first LSN near 2^64,
 *  made appends "succeed" into a segment named 0 (which no reader lists)
 *  or with LSNs that wrapped to 1 (out of sequence): acknowledged records
 *  that the next open cut off.  Now such appends are refused.            */
static void
test_number_limits (void)
{
    uint8_t p[40] = { 0 };
    uint64_t lsn = 0;
    int rc;
    char err[512];

    /* no segment number after 2^64-1: a rotation is refused */
    char *dir = tpc_test_tmpdir ("logmax");
    CU_ASSERT_FATAL (dir != NULL);
    s_forge_segment (dir, UINT64_MAX, 1, 64, 0);
    s_collect_t c = { 0 };
    tpc_log_t *log = s_open (dir, 4096, &c, NULL, &rc, err, sizeof err);
    CU_ASSERT_EQUAL_FATAL (rc, 0);
    CU_ASSERT_EQUAL (tpc_log_append (log, 1, p, sizeof p, &lsn), TPC_ENOSPC);
    CU_ASSERT_EQUAL (tpc_log_checkpoint_begin (log), TPC_ENOSPC);
    tpc_log_destroy (&log);
    s_collect_reset (&c);
    CU_ASSERT_EQUAL (tpc_log_scan (dir, s_collect_fn, &c, s_collect_warn,
                                   err, sizeof err), 0);
    CU_ASSERT_EQUAL (c.n, 0);
    CU_ASSERT_EQUAL (c.warnings, 0);
    s_collect_reset (&c);
    tpc_test_rmtree (dir);
    free (dir);

    /* LSNs end at 2^64-2 */
    dir = tpc_test_tmpdir ("logmax");
    CU_ASSERT_FATAL (dir != NULL);
    s_forge_segment (dir, 1, UINT64_MAX - 1, 512, 0);
    log = s_open (dir, 4096, &c, NULL, &rc, err, sizeof err);
    CU_ASSERT_EQUAL_FATAL (rc, 0);
    CU_ASSERT_EQUAL (tpc_log_append (log, 1, p, sizeof p, &lsn), 0);
    CU_ASSERT_EQUAL (lsn, UINT64_MAX - 1);
    CU_ASSERT_EQUAL (tpc_log_sync (log, lsn), 0);
    CU_ASSERT_EQUAL (tpc_log_append (log, 1, p, sizeof p, &lsn), TPC_ENOSPC);
    tpc_log_destroy (&log);
    s_collect_reset (&c);
    CU_ASSERT_EQUAL (tpc_log_scan (dir, s_collect_fn, &c, s_collect_warn,
                                   err, sizeof err), 0);
    CU_ASSERT_EQUAL_FATAL (c.n, 1);
    CU_ASSERT_EQUAL (c.recs[0].lsn, UINT64_MAX - 1);
    s_collect_reset (&c);
    tpc_test_rmtree (dir);
    free (dir);

    /* a record claiming LSN 2^64-1 is not valid: a torn tail, cut; and
     * no LSN is left for the next record */
    dir = tpc_test_tmpdir ("logmax");
    CU_ASSERT_FATAL (dir != NULL);
    s_forge_segment (dir, 1, UINT64_MAX, 512, UINT64_MAX);
    CU_ASSERT_EQUAL (tpc_log_scan (dir, s_collect_fn, &c, s_collect_warn,
                                   err, sizeof err), 0);
    CU_ASSERT_EQUAL (c.n, 0);
    CU_ASSERT_EQUAL (c.warnings, 1);
    s_collect_reset (&c);
    log = s_open (dir, 4096, &c, NULL, &rc, err, sizeof err);
    CU_ASSERT_EQUAL_FATAL (rc, 0);
    CU_ASSERT_EQUAL (c.n, 0);
    CU_ASSERT_EQUAL (tpc_log_append (log, 1, p, sizeof p, &lsn), TPC_ENOSPC);
    tpc_log_destroy (&log);
    s_collect_reset (&c);
    tpc_test_rmtree (dir);
    free (dir);
}

static const tpc_test_case_t s_cases[] = {
    { "round_trip_100k", test_round_trip_100k },
    { "torn_tail_every_offset", test_torn_tail_every_offset },
    { "crc_mismatch", test_crc_mismatch },
    { "bad_length", test_bad_length },
    { "corrupt_middle_untouched", test_corrupt_middle_untouched },
    { "bitflips", test_bitflips },
    { "cut_reported", test_cut_reported },
    { "high_water", test_high_water },
    { "write_eio", test_write_eio },
    { "write_enospc_torn", test_write_enospc_torn },
    { "sync_eio", test_sync_eio },
    { "sync_enospc", test_sync_enospc },
    { "sync_failure_rewritten_at_open", test_sync_failure_rewritten_at_open },
    { "sync_failure_many_threads", test_sync_failure_many_threads },
    { "short_writes", test_short_writes },
    { "crash_after_nth_write", test_crash_after_nth_write },
    { "checkpoint", test_checkpoint },
    { "checkpoint_unfinished", test_checkpoint_unfinished },
    { "concurrent_appenders", test_concurrent_appenders },
    { "rotation_under_load", test_rotation_under_load },
    { "spare_left_over", test_spare_left_over },
    { "crash_while_preparing", test_crash_while_preparing },
    { "api_limits", test_api_limits },
    { "number_limits", test_number_limits },
    { NULL, NULL }
};

int
main (void)
{
    const tpc_test_suite_t suites[] = {
        { "log", NULL, NULL, s_cases },
        { NULL, NULL, NULL, NULL }
    };
    return tpc_test_main ("test_log", suites);
}
