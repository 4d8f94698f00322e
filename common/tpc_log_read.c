/*  tpc_log_read: reading the decision log (format: top of tpc_log.c).
 *
 *  Pass 1 (verify) checks every segment header and record, finds where the
 *  valid prefix ends and tells a torn or damaged tail (cut at open) from
 *  corruption (a valid record after a bad one: open and scan fail).  Pass 2
 *  replays the valid records.  tpc_log_scan() runs both without changing
 *  anything; tpcl_cut_torn_tail() is the cut that open makes.
 */
#include "tpc_log_int.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tpc_crc32c.h"
#include "tpc_error.h"
#include "tpc_le.h"

/*  --------------------------------------------------------------------
 *  Format: parsing headers and records
 */

typedef enum { S_OK, S_END, S_BAD } s_status_t;

typedef struct {
    uint8_t type;
    uint64_t lsn;
    const uint8_t *payload;
    size_t len;
    size_t size;                /* whole record, header and CRC included */
} s_rec_t;

/*  Check a segment header.  S_OK fills *NO and *FIRST_LSN; S_BAD sets
 *  *WHY; a valid header of a newer format sets *NEWER.                   */
static s_status_t
s_seg_header_parse (const uint8_t *d, size_t size, uint64_t *no,
                    uint64_t *first_lsn, bool *newer, const char **why)
{
    *newer = false;
    if (size < TPCL_SEG_HDR) {
        *why = "file shorter than a segment header";
        return S_BAD;
    }
    if (memcmp (d, TPCL_SEG_MAGIC, 4)) {
        *why = "bad segment magic";
        return S_BAD;
    }
    if (tpc_le_get32 (d + 28) != tpc_crc32c (0, d, 28)) {
        *why = "segment header checksum mismatch";
        return S_BAD;
    }
    if (tpc_le_get16 (d + 4) != TPCL_FORMAT) {
        *newer = tpc_le_get16 (d + 4) > TPCL_FORMAT;
        *why = "unknown segment format version";
        return S_BAD;
    }
    if (tpc_le_get16 (d + 6) != TPCL_SEG_HDR || tpc_le_get32 (d + 24) != 0) {
        *why = "bad segment header fields";
        return S_BAD;
    }
    *no = tpc_le_get64 (d + 8);
    *first_lsn = tpc_le_get64 (d + 16);
    return S_OK;
}

/*  Look at the record that would start at OFF.  S_END: end of file or a
 *  zero header (the caller checks the rest is zero).                     */
static s_status_t
s_record_at (const uint8_t *d, size_t size, size_t off, s_rec_t *rec,
             const char **why)
{
    if (off >= size)
        return S_END;
    size_t avail = size - off;
    const uint8_t *p = d + off;
    if (avail < TPCL_REC_HDR) {
        if (tpcl_all_zero (p, avail))
            return S_END;
        *why = "truncated record header";
        return S_BAD;
    }
    if (tpcl_all_zero (p, TPCL_REC_HDR))
        return S_END;
    if (p[0] != TPCL_REC_MAGIC) {
        *why = "bad record magic";
        return S_BAD;
    }
    if (p[1] != TPCL_FORMAT || p[3] != 0) {
        *why = "bad record version or reserved byte";
        return S_BAD;
    }
    uint32_t len = tpc_le_get32 (p + 4);
    if (len > TPC_LOG_RECORD_MAX) {
        *why = "record length out of range";
        return S_BAD;
    }
    if (tpcl_rec_size (len) > avail) {
        *why = "record runs past the end of the segment";
        return S_BAD;
    }
    if (tpc_le_get32 (p + TPCL_REC_HDR + len) != tpc_crc32c (0, p, TPCL_REC_HDR + len)) {
        *why = "record checksum mismatch";
        return S_BAD;
    }
    rec->type = p[2];
    rec->lsn = tpc_le_get64 (p + 8);
    rec->payload = p + TPCL_REC_HDR;
    rec->len = len;
    rec->size = tpcl_rec_size (len);
    return S_OK;
}

/*  Offset of the first valid record starting at or after FROM, or -1.    */
static long long
s_find_valid (const uint8_t *d, size_t size, size_t from)
{
    while (from < size) {
        const uint8_t *m = memchr (d + from, TPCL_REC_MAGIC, size - from);
        if (!m)
            return -1;
        size_t off = (size_t) (m - d);
        s_rec_t rec;
        const char *why;
        if (s_record_at (d, size, off, &rec, &why) == S_OK)
            return (long long) off;
        from = off + 1;
    }
    return -1;
}

/*  Is the bad record at OFF (its first 16 bytes not all zero) damaged in
 *  place rather than torn?  A torn write, cut short by a crash before its
 *  fdatasync, leaves part of the record as the zeros the segment was made
 *  of: as a disk writes a sector whole or not at all, the share of some
 *  512-byte sector in it, or its last byte, is still zero (or the file
 *  ends inside it).  Nor does a tear write a wrong non-zero byte.  So a
 *  record with a wrong non-zero header byte, an impossible length, or
 *  complete with no zero share was written whole and changed after: a
 *  flipped bit.  (A flip near a sector boundary may still pass for a
 *  tear: 1 in 256 or less.)                                              */
static bool
s_damaged_in_place (const uint8_t *d, size_t size, size_t off)
{
    const uint8_t *p = d + off;
    size_t avail = size - off;
    if (avail < TPCL_REC_HDR)
        return false;
    if ((p[0] && p[0] != TPCL_REC_MAGIC) || (p[1] && p[1] != TPCL_FORMAT) || p[3])
        return true;
    uint32_t len = tpc_le_get32 (p + 4);
    if (len > TPC_LOG_RECORD_MAX)
        return true;
    size_t n = tpcl_rec_size (len);
    if (n > avail)
        return false;           /* the file ends inside it */
    if (p[n - 1] == 0)
        return false;           /* its end did not land */
    for (size_t a = off; a < off + n; ) {
        size_t b = (a / TPCL_SECTOR + 1) * TPCL_SECTOR;
        if (b > off + n)
            b = off + n;
        if (tpcl_all_zero (d + a, b - a))
            return false;
        a = b;
    }
    return true;
}

/*  --------------------------------------------------------------------
 *  Reading: pass 1 (check) and pass 2 (replay)
 */

void
tpcl_reader_free (tpcl_reader_t *r)
{
    free (r->nos);
    free (r->end);
    free (r->size);
    free (r->hdr_first);
    free (r->start_lsn);
    free (r->buf);
    memset (r, 0, sizeof *r);
}

int
tpcl_reader_load (tpcl_reader_t *r, size_t i, size_t *size, char *errbuf,
                  size_t errlen)
{
    char path[4096];
    tpcl_seg_path (path, sizeof path, r->dir, r->nos[i], TPCL_SEG_SUFFIX);
    int rc = tpcl_read_file (r->io, path, &r->buf, &r->cap, size);
    if (rc)
        tpcl_errf (errbuf, errlen, "cannot read %s: %s", path, tpc_strerror (rc));
    return rc;
}

/*  Pass 1's progress: where the valid prefix ended (once bad) and the
 *  LSN the next record must have.                                       */
typedef struct {
    bool bad;                   /* the valid prefix has ended */
    size_t bad_idx;
    uint64_t bad_off;
    const char *bad_why;
    uint64_t expect;
} s_pass1_t;

static void
s_pass1_bad (s_pass1_t *p, size_t i, uint64_t off, const char *why)
{
    p->bad = true;
    p->bad_idx = i;
    p->bad_off = off;
    p->bad_why = why;
}

/*  Check the header of segment I (bytes D, SIZE) in place.  0 with *WHY
 *  NULL: valid, *FIRST its first LSN; 0 with *WHY set: bad;
 *  TPC_ELOG_VERSION (with a sentence) when a newer format wrote it.     */
static int
s_check_header (tpcl_reader_t *r, size_t i, const uint8_t *d, size_t size,
                uint64_t expect, uint64_t *first, const char **why,
                char *errbuf, size_t errlen)
{
    uint64_t no;
    bool newer;
    *why = NULL;
    s_status_t st = s_seg_header_parse (d, size, &no, first, &newer, why);
    if (newer) {
        tpcl_errf (errbuf, errlen,
                   "segment %" PRIu64 " (%s/%020" PRIu64 TPCL_SEG_SUFFIX
                   ") was written by a newer format version (%u); "
                   "upgrade tpc to read it", r->nos[i], r->dir,
                   r->nos[i], (unsigned) tpc_le_get16 (d + 4));
        return TPC_ELOG_VERSION;
    }
    if (st == S_OK && no != r->nos[i]) {
        st = S_BAD;
        *why = "segment number does not match the file name";
    }
    else if (st == S_OK && i > 0 && no != r->nos[i - 1] + 1) {
        st = S_BAD;
        *why = "previous segment missing";
    }
    else if (st == S_OK && i > 0 && *first && *first != expect) {
        /* (0: a spare not yet started; its records, if any,
         * must still continue the sequence) */
        st = S_BAD;
        *why = "first LSN does not continue the previous segment";
    }
    else if (st == S_OK && i == 0 && *first == 0) {
        st = S_BAD;
        *why = "first LSN is 0";
    }
    if (st == S_OK)
        *why = NULL;
    return 0;
}

/*  Walk the records of segment I (valid header) in LSN order, noting
 *  checkpoints and where they end; a problem ends the valid prefix.
 *  Returns where a search for later valid records starts (0: none).     */
static size_t
s_check_records (tpcl_reader_t *r, size_t i, const uint8_t *d, size_t size,
                 s_pass1_t *p)
{
    size_t off = TPCL_SEG_HDR;
    for (;;) {
        s_rec_t rec;
        const char *why = NULL;
        s_status_t st = s_record_at (d, size, off, &rec, &why);
        if (st == S_OK
            && (rec.lsn != p->expect || rec.lsn == UINT64_MAX)) {
            st = S_BAD;
            why = "record out of LSN sequence";
        }
        if (st == S_OK && rec.type == TPC_LOG_TYPE_CHECKPOINT) {
            uint64_t begin = rec.len == 8 ? tpc_le_get64 (rec.payload) : 0;
            if (begin < r->nos[0] || begin > r->nos[i]) {
                st = S_BAD;
                why = "checkpoint record names a missing segment";
            }
            else
                r->ckpt_seg = begin;
        }
        if (st == S_OK) {
            off += rec.size;
            p->expect++;
            continue;
        }
        r->end[i] = off;
        if (st == S_END && tpcl_all_zero (d + off, size - off))
            return 0;           /* clean end of this segment */
        if (st == S_END)
            why = "non-zero bytes after the last record";
        s_pass1_bad (p, i, off, why);
        return off + 1;
    }
}

/*  Pass 1 ended in a torn tail at P's bad point: note it in R, and
 *  whether it is damaged in place rather than torn.                     */
static int
s_check_tail (tpcl_reader_t *r, const s_pass1_t *p, char *errbuf,
              size_t errlen)
{
    r->torn = true;
    r->torn_idx = p->bad_idx;
    r->torn_off = p->bad_off;
    snprintf (r->torn_why, sizeof r->torn_why, "%s", p->bad_why);
    /* a segment header is made whole and durable before use, and its
     * later rewrite (first LSN) is one sector: a bad one is damage */
    r->torn_damaged = p->bad_off == 0;
    if (p->bad_off) {
        size_t size;
        int rc = tpcl_reader_load (r, p->bad_idx, &size, errbuf, errlen);
        if (rc)
            return rc;
        r->torn_damaged = p->bad_off + TPCL_REC_HDR <= size
                          && !tpcl_all_zero (r->buf + p->bad_off,
                                             TPCL_REC_HDR)
                          && s_damaged_in_place (r->buf, size, p->bad_off);
    }
    return 0;
}

/*  Pass 1.  Fills the reader's summary or returns TPC_ELOG_CORRUPT /
 *  TPC_ELOG_VERSION / an I/O code with a sentence in ERRBUF.             */
static int
s_check (tpcl_reader_t *r, char *errbuf, size_t errlen)
{
    int rc = 0;
    size_t n = r->n ? r->n : 1;
    r->end = calloc (n, sizeof *r->end);
    r->size = calloc (n, sizeof *r->size);
    r->hdr_first = calloc (n, sizeof *r->hdr_first);
    r->start_lsn = calloc (n, sizeof *r->start_lsn);
    if (!r->end || !r->size || !r->hdr_first || !r->start_lsn)
        return TPC_ENOMEM;
    s_pass1_t p = { false, 0, 0, "", 0 };
    for (size_t i = 0; i < r->n; i++) {
        size_t size;
        rc = tpcl_reader_load (r, i, &size, errbuf, errlen);
        if (rc)
            return rc;
        const uint8_t *d = r->buf;
        r->size[i] = size;
        if (i > 0 && r->nos[i] != r->nos[i - 1] + 1) {
            /* never left by a crash: segments are made and dropped in
             * order; the records it held would be lost unseen        */
            tpcl_errf (errbuf, errlen,
                       "log corrupt: segment %" PRIu64 " is missing: "
                       "segment %" PRIu64 " offset 0 (%s/%020" PRIu64
                       TPCL_SEG_SUFFIX ") does not follow segment %"
                       PRIu64 "; nothing was changed: put the missing "
                       "segment back from a copy, or inspect the log with "
                       "'tpcctl log dump'", r->nos[i - 1] + 1, r->nos[i],
                       r->dir, r->nos[i], r->nos[i - 1]);
            r->corrupt = true;
            return TPC_ELOG_CORRUPT;
        }
        size_t resync_from = 0;
        if (!p.bad) {
            uint64_t first;
            const char *why;
            rc = s_check_header (r, i, d, size, p.expect, &first, &why,
                                 errbuf, errlen);
            if (rc)
                return rc;
            if (why) {
                s_pass1_bad (&p, i, 0, why);
                resync_from = 1;
            }
            else {
                if (i == 0)
                    p.expect = r->first_lsn = first;
                r->nkeep = i + 1;
                r->hdr_first[i] = first;
                r->start_lsn[i] = p.expect;
                resync_from = s_check_records (r, i, d, size, &p);
            }
            if (!p.bad)
                continue;
        }
        long long found = s_find_valid (d, size, resync_from);
        if (found >= 0) {
            tpcl_errf (errbuf, errlen,
                       "log corrupt: segment %" PRIu64 " offset %" PRIu64
                       " (%s/%020" PRIu64 TPCL_SEG_SUFFIX "): %s, yet a "
                       "valid record follows at segment %" PRIu64 " offset "
                       "%lld; nothing was changed: restore the log "
                       "directory from a copy or inspect it with 'tpcctl "
                       "log dump'", r->nos[p.bad_idx], p.bad_off, r->dir,
                       r->nos[p.bad_idx], p.bad_why, r->nos[i], found);
            r->corrupt = true;  /* nkeep/end still bound the valid prefix */
            return TPC_ELOG_CORRUPT;
        }
    }
    r->next_lsn = p.expect ? p.expect : 1;
    if (p.bad)
        return s_check_tail (r, &p, errbuf, errlen);
    return 0;
}

/*  After pass 1 found a torn tail: count the record-shaped entries in it
 *  (a header that looks right, at most one of magic, version and reserved
 *  byte wrong, a length that fits), calling FN (if not NULL) for each.
 *  Best effort: a segment is followed until the first entry that is not
 *  record-shaped.                                                       */
static int
s_cut_entries (tpcl_reader_t *r, tpc_log_replay_fn *fn, void *arg,
               char *errbuf, size_t errlen)
{
    r->cut_records = 0;
    for (size_t i = r->torn_idx; i < r->n; i++) {
        size_t size;
        int rc = tpcl_reader_load (r, i, &size, errbuf, errlen);
        if (rc)
            return rc;
        const uint8_t *d = r->buf;
        size_t off = i == r->torn_idx && r->torn_off ? r->torn_off
                     : TPCL_SEG_HDR;
        while (off + TPCL_REC_HDR <= size && !tpcl_all_zero (d + off, TPCL_REC_HDR)) {
            const uint8_t *p = d + off;
            int wrong = (p[0] != TPCL_REC_MAGIC) + (p[1] != TPCL_FORMAT) + (p[3] != 0);
            uint32_t len = tpc_le_get32 (p + 4);
            if (wrong > 1 || len > TPC_LOG_RECORD_MAX
                || tpcl_rec_size (len) > size - off)
                break;
            r->cut_records++;
            if (fn) {
                tpc_log_rec_t info = { tpc_le_get64 (p + 8), p[2], r->nos[i], off };
                fn (arg, &info, p + TPCL_REC_HDR, len);
            }
            off += tpcl_rec_size (len);
        }
    }
    return 0;
}

/*  Pass 2: call FN for the valid records of segments [from, nkeep); owner
 *  records only unless ALL.                                             */
int
tpcl_replay (tpcl_reader_t *r, size_t from, bool all, tpc_log_replay_fn *fn,
             void *arg, char *errbuf, size_t errlen)
{
    for (size_t i = from; i < r->nkeep; i++) {
        size_t size;
        int rc = tpcl_reader_load (r, i, &size, errbuf, errlen);
        if (rc)
            return rc;
        size_t off = TPCL_SEG_HDR;
        while (off < r->end[i]) {
            s_rec_t rec;
            const char *why = NULL;
            if (s_record_at (r->buf, size, off, &rec, &why) != S_OK) {
                tpcl_errf (errbuf, errlen, "segment %" PRIu64 " offset %zu "
                           "changed while the log was read", r->nos[i], off);
                return TPC_ELOG_CORRUPT;
            }
            if (fn && (all || rec.type < TPC_LOG_TYPE_INTERNAL)) {
                tpc_log_rec_t info = { rec.lsn, rec.type, r->nos[i], off };
                rc = fn (arg, &info, rec.payload, rec.len);
                if (rc)
                    return rc;
            }
            off += rec.size;
        }
    }
    return 0;
}

/*  List the segments in DIR and run pass 1.                             */
int
tpcl_reader_open (tpcl_reader_t *r, const tpc_io_t *io, const char *dir,
                  char *errbuf, size_t errlen)
{
    memset (r, 0, sizeof *r);
    r->io = io;
    r->dir = dir;
    int rc = tpcl_list (dir, TPCL_SEG_SUFFIX, &r->nos, &r->n);
    if (rc) {
        tpcl_errf (errbuf, errlen, "cannot list log directory %s: %s", dir,
                   tpc_strerror (rc));
        return rc;
    }
    rc = tpcl_hw_read (r, errbuf, errlen);
    if (!rc)
        rc = s_check (r, errbuf, errlen);
    if (!rc)
        rc = tpcl_hw_check (r, errbuf, errlen);
    return rc;
}

/*  "torn tail" or "damaged tail (...)", for the warnings.               */
static const char *
s_tail_kind (const tpcl_reader_t *r)
{
    return r->torn_damaged
           ? "damaged tail (complete, yet it fails its checks: damaged in "
             "place, not a write cut short by a crash)"
           : "torn tail";
}

/*  Count (and show FN) the entries of R's torn tail; fill *CUT.         */
int
tpcl_cut_report (tpcl_reader_t *r, tpc_log_replay_fn *fn, void *arg,
                 tpc_log_cut_t *cut, char *errbuf, size_t errlen)
{
    int rc = s_cut_entries (r, fn, arg, errbuf, errlen);
    if (!rc && cut)
        *cut = (tpc_log_cut_t) { true, r->torn_damaged, r->nos[r->torn_idx],
                                 r->torn_off, r->cut_records };
    return rc;
}

int
tpc_log_scan (const char *dir, tpc_log_replay_fn *fn, void *arg,
              void (*warn) (void *arg, const char *text), char *errbuf,
              size_t errlen)
{
    tpc_log_config_t cfg = { .dir = dir, .warn = warn, .warn_arg = arg };
    return tpc_log_scan_config (&cfg, fn, arg, errbuf, errlen);
}

int
tpc_log_scan_config (const tpc_log_config_t *cfg, tpc_log_replay_fn *fn,
                     void *arg, char *errbuf, size_t errlen)
{
    if (!cfg || !cfg->dir) {
        tpcl_errf (errbuf, errlen, "no log directory given");
        return TPC_EINVAL;
    }
    const char *dir = cfg->dir;
    if (cfg->cut)
        memset (cfg->cut, 0, sizeof *cfg->cut);
    tpcl_reader_t r;
    int rc = tpcl_reader_open (&r, tpc_io_posix (), dir, errbuf, errlen);
    if (rc == TPC_ELOG_CORRUPT && r.corrupt) {
        /* show the valid records before the damage, then report it */
        int rrc = tpcl_replay (&r, 0, true, fn, arg, NULL, 0);
        if (rrc && rrc != TPC_ELOG_CORRUPT)
            rc = rrc;
        goto cleanup;
    }
    if (rc)
        goto cleanup;
    if (r.torn) {
        rc = tpcl_cut_report (&r, cfg->cut_fn, cfg->cut_arg, cfg->cut, errbuf,
                              errlen);
        if (rc)
            goto cleanup;
        char text[512];
        snprintf (text, sizeof text, "%s at segment %" PRIu64
                  " offset %" PRIu64 " (%s): the records before it are "
                  "valid; opening the log will cut it off, %" PRIu64
                  " record(s)", s_tail_kind (&r), r.nos[r.torn_idx],
                  r.torn_off, r.torn_why, r.cut_records);
        (cfg->warn ? cfg->warn : tpcl_default_warn) (cfg->warn_arg, text);
    }
    rc = tpcl_replay (&r, 0, true, fn, arg, errbuf, errlen);
cleanup:
    tpcl_reader_free (&r);
    return rc;
}

/*  After pass 1 found a torn tail: cut it off, durably, and warn.        */
int
tpcl_cut_torn_tail (tpc_log_t *self, tpcl_reader_t *r, char *errbuf, size_t errlen)
{
    const tpc_io_t *io = self->io;
    char path[4096];
    int rc = 0;
    uint64_t dropped = 0;
    size_t first_unlink = r->torn_idx + 1;
    if (r->torn_off == 0)
        first_unlink = r->torn_idx;     /* the segment header itself is bad */
    else {
        tpcl_seg_path (path, sizeof path, self->dir, r->nos[r->torn_idx],
                       TPCL_SEG_SUFFIX);
        dropped += r->size[r->torn_idx] - r->torn_off;
        int fd = io->open (io->ctx, path, O_RDWR, 0);
        if (fd < 0
            || io->ftruncate (io->ctx, fd, (off_t) r->torn_off) < 0
            || io->fsync (io->ctx, fd) < 0)
            rc = tpcl_errno_code (errno);
        if (fd >= 0)
            io->close (io->ctx, fd);
        if (rc)
            goto cleanup;
        r->size[r->torn_idx] = r->torn_off;
    }
    for (size_t i = first_unlink; i < r->n; i++) {
        tpcl_seg_path (path, sizeof path, self->dir, r->nos[i], TPCL_SEG_SUFFIX);
        dropped += r->size[i];
        if (io->unlink (io->ctx, path) < 0) {
            rc = tpcl_errno_code (errno);
            goto cleanup;
        }
    }
    if (first_unlink < r->n)
        rc = tpcl_sync_dir (io, self->dir);
    r->n = first_unlink < r->n ? first_unlink : r->n;
cleanup:
    if (rc) {
        tpcl_errf (errbuf, errlen, "cannot cut the torn tail of %s: %s",
                   self->dir, tpc_strerror (rc));
        return rc;
    }
    char text[512];
    snprintf (text, sizeof text, "%s at segment %" PRIu64 " offset %"
              PRIu64 " (%s): cut off, %" PRIu64 " record(s), %" PRIu64
              " bytes dropped; the last valid record is LSN %" PRIu64,
              s_tail_kind (r), r->nos[r->torn_idx], r->torn_off, r->torn_why,
              r->cut_records, dropped, r->next_lsn - 1);
    self->warn (self->warn_arg, text);
    return 0;
}
