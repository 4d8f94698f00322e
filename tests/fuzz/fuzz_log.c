/*  fuzz_log: fuzz target for the decision-log reader (tpc_log_scan,
 *  tpc_log_open's replay and cut) and the record payloads
 *  (tpc_record_decode).
 *
 *  Input: the bytes of one segment file (layout at the top of
 *  common/tpc_log.c).  Properties in fuzz_target.h.  Each run works in a
 *  fresh directory under $TMPDIR (scripts/fuzz points it at a tmpfs when
 *  there is one) and removes it.  With -DFUZZ_ENTRY this file is a
 *  libFuzzer target (scripts/fuzz).                                      */
#include "fuzz_target.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tpc_crc32c.h"
#include "tpc_error.h"
#include "tpc_le.h"
#include "tpc_log.h"
#include "tpc_record.h"

#define S_SEG_HDR 32
#define S_REC_HDR 16
#define S_REC_MAGIC 0xD7
#define S_SEGMENT_BYTES 4096    /* segments the reopened log creates */

/*  One record as a reader reported it.                                   */
typedef struct {
    uint64_t lsn;
    uint8_t type;
    uint64_t segment;
    size_t len;
    uint32_t crc;               /* of the payload */
} s_seen_t;

typedef struct {
    s_seen_t *v;
    size_t n, cap;
    uint64_t file_size;         /* > 0: offsets must fit in it */
    bool owner_only;            /* a replay: the log's own records skipped */
    int broken;                 /* a property broke inside the callback */
} s_list_t;

static int
s_broken (const char *what)
{
    fprintf (stderr, "fuzz_log: property broken: %s\n", what);
    return -1;
}

/*  A payload tpc_record_decode() accepts must re-encode to itself.       */
static int
s_record_roundtrip (uint8_t type, const uint8_t *payload, size_t len)
{
    tpc_record_t rec;
    if (tpc_record_decode (type, payload, len, &rec) != 0)
        return 0;
    uint8_t buf[8192];
    size_t out = 0;
    if (tpc_record_encode (&rec, buf, sizeof buf, &out) != 0)
        return s_broken ("a decoded record payload does not encode");
    if (out != len || memcmp (buf, payload, len))
        return s_broken ("a decoded record payload re-encodes to other bytes");
    return 0;
}

static int
s_collect (void *arg, const tpc_log_rec_t *rec, const void *payload,
           size_t len)
{
    s_list_t *l = arg;
    if (l->n && (l->owner_only ? rec->lsn <= l->v[l->n - 1].lsn
                               : rec->lsn != l->v[l->n - 1].lsn + 1))
        l->broken = s_broken ("records not in LSN sequence");
    if (l->owner_only && rec->type >= TPC_LOG_TYPE_INTERNAL)
        l->broken = s_broken ("a replay showed the log's own record");
    if (rec->offset < S_SEG_HDR
        || (l->file_size && rec->offset + S_REC_HDR + len + 4 > l->file_size))
        l->broken = s_broken ("a record reported outside its segment");
    if (rec->type < TPC_LOG_TYPE_INTERNAL
        && s_record_roundtrip (rec->type, payload, len))
        l->broken = -1;
    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 16;
        s_seen_t *nv = realloc (l->v, ncap * sizeof *nv);
        if (!nv)
            return TPC_ENOMEM;
        l->v = nv;
        l->cap = ncap;
    }
    l->v[l->n++] = (s_seen_t) { rec->lsn, rec->type, rec->segment, len,
                                tpc_crc32c (0, payload, len) };
    return 0;
}

static void
s_quiet (void *arg, const char *text)
{
    (void) arg;
    (void) text;
}

static bool
s_same (const s_seen_t *a, const s_seen_t *b)
{
    return a->lsn == b->lsn && a->type == b->type && a->len == b->len
           && a->crc == b->crc;
}

/*  Remove every file in DIR and DIR itself.                              */
static void
s_rmdir (const char *dir)
{
    DIR *d = opendir (dir);
    struct dirent *e;
    char path[4200];
    while (d && (e = readdir (d))) {
        if (!strcmp (e->d_name, ".") || !strcmp (e->d_name, ".."))
            continue;
        if (snprintf (path, sizeof path, "%s/%s", dir, e->d_name)
            < (int) sizeof path)
            unlink (path);
    }
    if (d)
        closedir (d);
    rmdir (dir);
}

static int
s_write_file (const char *path, const uint8_t *data, size_t size)
{
    int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return -1;
    size_t off = 0;
    while (off < size) {
        ssize_t w = write (fd, data + off, size - off);
        if (w <= 0)
            break;
        off += (size_t) w;
    }
    close (fd);
    return off == size ? 0 : -1;
}

/*  True if PATH holds exactly DATA.                                      */
static bool
s_file_is (const char *path, const uint8_t *data, size_t size)
{
    struct stat st;
    if (stat (path, &st) != 0 || (size_t) st.st_size != size)
        return false;
    uint8_t *buf = malloc (size ? size : 1);
    int fd = open (path, O_RDONLY);
    size_t off = 0;
    while (buf && fd >= 0 && off < size) {
        ssize_t r = read (fd, buf + off, size - off);
        if (r <= 0)
            break;
        off += (size_t) r;
    }
    bool same = buf && off == size && memcmp (buf, data, size) == 0;
    if (fd >= 0)
        close (fd);
    free (buf);
    return same;
}

/*  Scan, open, append, scan again over one segment file holding DATA.    */
static int
s_segment (const uint8_t *data, size_t size)
{
    int result = -1;
    s_list_t scan = { 0 }, replay = { 0 }, after = { 0 };
    tpc_log_t *log = NULL;
    char err[512];
    const char *base = getenv ("TMPDIR");
    char dir[4096], path[4200];
    snprintf (dir, sizeof dir, "%s/fuzz-log-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp (dir)) {
        perror ("fuzz_log: mkdtemp");
        abort ();               /* the harness, not the input */
    }
    uint64_t no = size >= 16 ? tpc_le_get64 (data + 8) : 1;
    snprintf (path, sizeof path, "%s/%020" PRIu64 ".tpclog", dir, no ? no : 1);
    if (s_write_file (path, data, size)) {
        perror ("fuzz_log: write");
        abort ();
    }

    /* 1. read-only scan */
    scan.file_size = size;
    int rc = tpc_log_scan (dir, s_collect, &scan, s_quiet, err, sizeof err);
    if (scan.broken)
        goto cleanup;
    if (rc != 0 && rc != TPC_ELOG_CORRUPT && rc != TPC_ELOG_VERSION) {
        fprintf (stderr, "fuzz_log: scan: %s: %s\n", tpc_errname (rc), err);
        s_broken ("scan failed with an unexpected code");
        goto cleanup;
    }

    /* 2. open: replay, and cut a torn tail */
    replay.file_size = size;
    replay.owner_only = true;
    tpc_log_config_t cfg = { .dir = dir, .segment_bytes = S_SEGMENT_BYTES,
                             .warn = s_quiet };
    int orc = tpc_log_open (&cfg, s_collect, &replay, &log, err, sizeof err);
    if (replay.broken)
        goto cleanup;
    if (rc != 0) {
        if (orc != rc) {
            fprintf (stderr, "fuzz_log: scan %s, open %s: %s\n",
                     tpc_errname (rc), tpc_errname (orc), err);
            s_broken ("open disagrees with scan about a bad log");
            goto cleanup;
        }
        if (!s_file_is (path, data, size)) {
            s_broken ("open changed a log it refused");
            goto cleanup;
        }
        result = 0;
        goto cleanup;
    }
    if (orc != 0) {
        fprintf (stderr, "fuzz_log: open: %s: %s\n", tpc_errname (orc), err);
        s_broken ("open refused a log that scan read");
        goto cleanup;
    }
    size_t owner = 0;
    for (size_t i = 0; i < scan.n; i++) {
        if (scan.v[i].type >= TPC_LOG_TYPE_INTERNAL)
            continue;
        if (owner >= replay.n || !s_same (&scan.v[i], &replay.v[owner])) {
            s_broken ("open replayed other records than scan read");
            goto cleanup;
        }
        owner++;
    }
    if (owner != replay.n) {
        s_broken ("open replayed more records than scan read");
        goto cleanup;
    }

    /* 3. one more record, durable, then read it all back */
    tpc_record_t ep = { .type = TPC_REC_EPOCH, .epoch = 7 };
    uint8_t payload[64];
    size_t plen = 0;
    uint64_t lsn = 0;
    if (tpc_record_encode (&ep, payload, sizeof payload, &plen))
        abort ();
    rc = tpc_log_append (log, TPC_REC_EPOCH, payload, plen, &lsn);
    /* a forged header may leave no LSN or segment number: refused */
    uint64_t next = scan.n ? scan.v[scan.n - 1].lsn + 1
                  : size >= 24 ? tpc_le_get64 (data + 16) : 1;
    bool full = no == UINT64_MAX || next == 0 || next >= UINT64_MAX;
    if (rc == TPC_ENOSPC && full)
        lsn = 0;
    else if (rc || tpc_log_sync (log, lsn)) {
        s_broken ("append or sync failed after open");
        goto cleanup;
    }
    if (lsn && scan.n && lsn != scan.v[scan.n - 1].lsn + 1) {
        fprintf (stderr, "fuzz_log: last LSN %" PRIu64 ", appended %" PRIu64
                 "\n", scan.v[scan.n - 1].lsn, lsn);
        s_broken ("the appended record does not follow the last one");
        goto cleanup;
    }
    tpc_log_destroy (&log);
    rc = tpc_log_scan (dir, s_collect, &after, s_quiet, err, sizeof err);
    if (after.broken)
        goto cleanup;
    if (rc != 0) {
        fprintf (stderr, "fuzz_log: rescan: %s: %s\n", tpc_errname (rc), err);
        s_broken ("the log does not scan after open and append");
        goto cleanup;
    }
    if (after.n != scan.n + (lsn ? 1 : 0)) {
        fprintf (stderr, "fuzz_log: %zu records before, %zu after append\n",
                 scan.n, after.n);
        s_broken ("the appended record is missing, or others came or went");
        goto cleanup;
    }
    for (size_t i = 0; i < scan.n; i++)
        if (!s_same (&scan.v[i], &after.v[i])) {
            s_broken ("a record changed across open and append");
            goto cleanup;
        }
    const s_seen_t *last = lsn ? &after.v[scan.n] : NULL;
    if (last && (last->lsn != lsn || last->type != TPC_REC_EPOCH
                 || last->len != plen)) {
        s_broken ("the appended record reads back wrong");
        goto cleanup;
    }
    result = 0;
cleanup:
    tpc_log_destroy (&log);
    free (scan.v);
    free (replay.v);
    free (after.v);
    s_rmdir (dir);
    return result;
}

/*  DATA with the segment header's and each record's CRC made right, as
 *  far as the records chain; NULL if that changes nothing.               */
static uint8_t *
s_fix_crcs (const uint8_t *data, size_t size)
{
    if (size < S_SEG_HDR)
        return NULL;
    uint8_t *d = malloc (size);
    if (!d)
        return NULL;
    memcpy (d, data, size);
    tpc_le_put32 (d + 28, tpc_crc32c (0, d, 28));
    size_t off = S_SEG_HDR;
    while (off + S_REC_HDR <= size && d[off] == S_REC_MAGIC) {
        uint32_t len = tpc_le_get32 (d + off + 4);
        if (len > TPC_LOG_RECORD_MAX || size - off - S_REC_HDR < (size_t) len + 4)
            break;
        tpc_le_put32 (d + off + S_REC_HDR + len,
                      tpc_crc32c (0, d + off, S_REC_HDR + len));
        off += S_REC_HDR + len + 4;
    }
    if (!memcmp (d, data, size)) {
        free (d);
        return NULL;
    }
    return d;
}

int
fuzz_log_one (const uint8_t *data, size_t size)
{
    if (size > 0 && s_record_roundtrip (data[0], data + 1, size - 1))
        return -1;
    if (s_segment (data, size))
        return -1;
    uint8_t *fixed = s_fix_crcs (data, size);
    int rc = fixed ? s_segment (fixed, size) : 0;
    free (fixed);
    return rc;
}

#ifdef FUZZ_ENTRY
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (fuzz_log_one (data, size))
        abort ();
    return 0;
}
#endif
