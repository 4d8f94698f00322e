/*  tpc_log: the durable decision log (contract in tpc_log.h).
 *
 *  ON DISK
 *  One directory holds:
 *    LOCK                          flock()ed by the process that appends
 *    NNNNNNNNNNNNNNNNNNNN.tpclog   segments, 20-digit decimal number, 1, 2 ...
 *    NNNNNNNNNNNNNNNNNNNN.tpclog.tmp   a segment being created (removed at open)
 *    HIGHWATER                     optional, the owner's high-water number
 *                                  and a segment that must exist (below)
 *  Every integer is little-endian.
 *
 *  Segment file: a 32-byte header, then records back to back, then zeros.
 *  A segment is created full size (segment_bytes, zero-filled) under its
 *  .tmp name, fsync()ed, renamed into place and the directory fsync()ed, so
 *  a segment file always has a complete header, and fdatasync() of an append
 *  never has to flush file-size or block-allocation metadata.  (Real zeros,
 *  not fallocate(): writing into unwritten extents would make every
 *  fdatasync commit an extent conversion.)  The zeros are fsync()ed each
 *  S_ZERO_CHUNK, so the disk never has a long burst of them queued in
 *  front of an append's fdatasync.
 *
 *  Segments are made ahead: the one after the tail (the "spare") is
 *  created by a background thread, the preparer, with first LSN 0 in its
 *  header ("not started").  A rotation writes the real header into the
 *  spare, nothing else, and the preparer starts on the next one.  So at
 *  any time the directory may hold, after the tail, one spare: a valid
 *  header with first LSN 0 and only zeros.
 *
 *    offset size  segment header
 *       0    4    magic "TPCL" (54 50 43 4C)
 *       4    2    format version = 1
 *       6    2    header length = 32
 *       8    8    segment number (equals the file name)
 *      16    8    LSN of the first record this segment holds or will
 *                 hold; 0 in a spare not started yet
 *      24    4    reserved, 0
 *      28    4    CRC-32C of bytes 0..27
 *
 *    offset size  record (20 + len bytes)
 *       0    1    magic 0xD7
 *       1    1    format version = 1
 *       2    1    type (>= 0xF0: the log's own, see below)
 *       3    1    reserved, 0
 *       4    4    payload length len (<= TPC_LOG_RECORD_MAX)
 *       8    8    LSN: the previous record's + 1, across segments
 *      16  len    payload
 *   16+len   4    CRC-32C of bytes 0 .. 16+len-1
 *
 *  A record is valid when magic, version, reserved byte, length and CRC
 *  check out; it is in sequence when its LSN is the one expected.  LSNs
 *  run 1 .. 2^64-2 and segment numbers 1 .. 2^64-1: a record claiming LSN
 *  2^64-1 is out of sequence, and a log whose next record or segment
 *  would leave those ranges refuses appends (TPC_ENOSPC) rather than
 *  write what no reader would find (only a forged header gets there).  Sixteen
 *  zero bytes where a record would start (or the end of the file) end the
 *  segment; everything after that point must be zero.
 *
 *    offset size  HIGHWATER (written only once the owner sets it; replaced
 *                 whole: HIGHWATER.tmp, fsync, rename, directory fsync)
 *       0    4    magic "TPCH"
 *       4    2    format version = 1
 *       6    2    length = 32
 *       8    8    segment: the tail when last set, moved to the checkpoint's
 *                 segment before older ones are dropped, and to the tail
 *                 after a cut took it: so it is always in the directory
 *      16    8    value: the owner's number (the coordinator's epoch), never
 *                 lowered
 *      24    4    reserved, 0
 *      28    4    CRC-32C of bytes 0..27
 *
 *  Log records (types >= TPC_LOG_TYPE_INTERNAL, never shown to the owner):
 *    0xF1 CHECKPOINT  payload begin_segment:u64 -- every record live at the
 *                     checkpoint is in begin_segment or later.
 *
 *  READING (open and scan)
 *  Pass 1 checks everything: headers (magic, CRC, numbers consecutive,
 *  first LSN continuing the previous segment), then records in LSN order.
 *  It reads each segment whole, so memory use is one segment.  A first LSN
 *  of 0 is allowed in any segment but the first: a spare, or one whose
 *  start (the header write) was cut short by a crash; its records, if it
 *  has any, must still continue the LSN sequence, so no gap goes unseen.
 *  The first problem (bad header, bad or out-of-sequence record, non-zero
 *  bytes after the end) at segment S offset O ends the valid prefix.  Then
 *  the rest of S and every later segment is searched, byte by byte, for any
 *  valid record: if one exists the log is corrupt (TPC_ELOG_CORRUPT naming
 *  S and O, nothing is changed); if none does, it is a torn tail: open cuts
 *  S at O (ftruncate + fsync), unlinks later segments (+ directory fsync)
 *  and warns, with the number of record-shaped entries it cut (each shown
 *  to the owner's cut_fn first).  The warning says "torn" when part of
 *  the first bad record is still the segment's zeros (its last byte, or
 *  its share of some 512-byte sector: a disk writes a sector whole or not)
 *  or the file ends inside it, which is what a crash before the fdatasync
 *  leaves; otherwise (complete, or a wrong non-zero header byte, or a bad
 *  segment header) "damaged in place".  Both are cut: neither can be read
 *  back, and a coordinator that refused to start would hold every
 *  in-doubt transaction; the owner names the gids so an operator can look.
 *  Missing segments are never cut past: a gap in the segment numbers, or a
 *  HIGHWATER naming a segment not in the directory, fails open and scan
 *  with TPC_ELOG_CORRUPT, nothing changed (segments are made and dropped
 *  in order, so no crash leaves either).  The tail is the last segment that is started (first LSN
 *  set) or holds records; open makes it durable (below), restoring its
 *  first LSN if that was lost.  Segments after it are spares: the one
 *  numbered tail+1 is taken over if it has the configured size (and the
 *  directory fsync()ed, since its name may not be durable yet), any other
 *  is unlinked.  Pass 2 replays from the segment named by the newest
 *  CHECKPOINT record (or the first segment) to the end of the valid prefix.
 *
 *  Nothing is replayed that is not durable.  What pass 1 reads comes from
 *  the page cache, and after an fdatasync that failed (the error is
 *  reported once, to one descriptor) Linux may keep pages there marked
 *  clean that never reached the disk; a later fdatasync, even on a new
 *  descriptor, returns 0 without writing them ("fsyncgate").  Replaying
 *  such a COMMIT and then losing it to a power cut would let presumed
 *  abort contradict participants that already committed.  So open writes
 *  the valid bytes of the tail segment again, exactly as read (the pages
 *  are dirty again), and fdatasyncs; if either fails, open fails and
 *  replays nothing.  Only the tail needs it: a rotation starts the next
 *  segment only after an fdatasync of the old one returned 0, and that
 *  fdatasync really wrote everything, since an earlier failure on that
 *  file would have failed the log, and every open has rewritten the tail
 *  it found.  So every segment before the tail is durable.
 *
 *  WRITING
 *    append:  append_mutex; pwrite at the tail; LSN = last + 1; publish
 *             written_lsn; unlock.  A record that does not fit the segment
 *             first rotates: fdatasync the old segment (so a later segment
 *             never follows a torn one or one whose header could be lost),
 *             write the spare's header, switch to it, ask for the next.
 *             If the preparer is still at work (a segment filled faster
 *             than one is made), the rotation waits for it; if it failed,
 *             the rotation fails the log with its error.
 *    prepare: the preparer thread sleeps on spare_cond until a spare is
 *             wanted, creates it without any lock held, publishes it.
 *             Destroy stops it between two chunks; a spare left by a
 *             crash is taken over by the next open, a .tmp removed.  A
 *             clean destroy unlinks the spare (no directory fsync: should
 *             the unlink be lost, open takes the spare over).
 *    sync:    group commit, leader/follower, under sync_mutex (never held
 *             across I/O).  A caller whose LSN is durable returns at once.
 *             If nobody is syncing it becomes the leader: notes
 *             written_lsn and the segment fd, unlocks, runs fdatasync,
 *             publishes the durable LSN.  Otherwise it sleeps on its own
 *             semaphore in the waiter list.  A finishing leader wakes
 *             exactly the sleepers it covered, plus one of the others to
 *             lead the next fdatasync, posting them after unlocking, so a
 *             wake-up costs one context switch and no lock convoy.
 *    locks:   append_mutex before sync_mutex or spare_mutex, never the
 *             other way, and never those two together; the leader takes
 *             only sync_mutex, the preparer only spare_mutex.  hw_mutex
 *             (HIGHWATER) is taken before append_mutex, or alone.  A segment
 *             fdatasync failing, or a write, puts the log in FAILED and
 *             wakes every sleeper with the error.
 *
 *  SEGMENT SIZE
 *    16 MiB by default (it was 64).  A rotation no longer pays for the
 *    size, but other things do: a spare is ready 4x sooner after a switch
 *    (here 16 MiB zero-filled and synced takes ~0.1-0.2 s, 64 MiB up to
 *    1.4 s), so back-to-back rotations (a checkpoint soon after one) do
 *    not wait for the preparer; open rewrites and syncs at most one
 *    segment before replay; two segments sit on disk (tail and spare);
 *    open and scan read a segment whole.  The price, 4x more rotations,
 *    is an fdatasync that group commit mostly did already, and 32 bytes.
 *
 *  LIMIT
 *    The rule "bad record followed by a valid one = corruption" is strict:
 *    should the page cache write a later page of an unsynced group before
 *    an earlier one and the power fail in between, the next open reports
 *    corruption although no acknowledged record was harmed.  Nothing is
 *    cut in that case; an operator inspects it with tpcctl log.
 *
 *  STATES
 *
 *      tpc_log_open()          write/fdatasync/fsync/create fails
 *    ------------------> OPEN -----------------------------------> FAILED
 *                         |  ^                                        |
 *   checkpoint_begin()    |  | checkpoint_end(): marker synced,       |
 *   rotates to segment C  v  | segments < C unlinked                  |
 *                     CHECKPOINTING --- any failure ----------------> |
 *                                                                     v
 *                                      tpc_log_destroy() (any state) -> gone
 *
 *    OPEN:     durable_lsn <= last_lsn; every record <= durable_lsn is on
 *              disk; the tail segment's bytes past seg_off are zero.
 *    FAILED:   err != 0, never cleared; append/sync/checkpoint return an
 *              error (sync: the original one), nothing is written again.
 *    syncing:  at most one fdatasync of a segment runs at a time (leader or
 *              rotation); rotation waits for the leader, so the fd the
 *              leader syncs stays open.
 *    spare:    spare_want = seg_no + 1 from open on; spare_no is 0 or
 *              spare_want; a segment file numbered above seg_no is the
 *              spare (complete, or being made as .tmp), never a record.
 */
#include "tpc_log.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tpc_crc32c.h"
#include "tpc_error.h"
#include "tpc_le.h"

#define S_SEG_MAGIC "TPCL"
#define S_SEG_HDR 32
#define S_REC_MAGIC 0xD7
#define S_REC_HDR 16
#define S_REC_CRC 4
#define S_FORMAT 1
#define S_SEG_SUFFIX ".tpclog"
#define S_TMP_SUFFIX ".tpclog.tmp"
#define S_NAME_DIGITS 20
#define S_SEGMENT_MIN 64
#define S_ZERO_CHUNK (1u << 20)
#define S_SECTOR 512            /* a disk writes a sector whole or not */
#define S_HW_NAME "HIGHWATER"
#define S_HW_MAGIC "TPCH"
#define S_HW_SIZE 32

/*  A tpc_log_sync caller asleep until its LSN is durable (it lives on
 *  that caller's stack).  Whoever wakes it unlinks it first and sets
 *  result: 0 durable, < 0 the log failed, S_LEAD go and run fdatasync.  */
typedef struct s_waiter {
    uint64_t lsn;
    int result;
    sem_t sem;
    struct s_waiter *next;
} s_waiter_t;

#define S_LEAD 1

struct tpc_log {
    const tpc_io_t *io;
    char *dir;
    uint64_t segment_bytes;
    void (*warn) (void *arg, const char *text);
    void *warn_arg;
    int lock_fd;

    /* append side, guarded by append_mutex (taken before sync_mutex) */
    pthread_mutex_t append_mutex;
    int seg_fd;                 /* tail segment, open read-write; changed
                                   only by a rotation, which holds syncing */
    uint64_t seg_no;            /* its number */
    uint64_t seg_off;           /* where the next record goes */
    uint64_t seg_cap;           /* its size: records must end by here */
    uint64_t first_seg;         /* oldest segment in the directory */
    uint64_t last_lsn;          /* last LSN appended */
    uint64_t ckpt_seg;          /* checkpoint in progress began here, or 0 */
    uint8_t *buf;               /* record encode buffer */
    size_t buf_size;

    /* sync side, guarded by sync_mutex */
    pthread_mutex_t sync_mutex;
    pthread_cond_t sync_cond;   /* syncing went false (rotation waits) */
    uint64_t durable_lsn;       /* last LSN covered by an fdatasync */
    bool syncing;               /* a leader or a rotation is syncing */
    s_waiter_t *waiters;        /* tpc_log_sync callers asleep */

    bool seg_synced;            /* an fdatasync of seg_fd succeeded since
                                   the rotation that started it */

    /* the spare segment, made ahead by the preparer thread; guarded by
     * spare_mutex (taken after append_mutex, never with sync_mutex)     */
    pthread_mutex_t spare_mutex;
    pthread_cond_t spare_cond;  /* spare ready, failed, wanted or stop */
    pthread_t preparer;
    bool preparer_running;
    bool stop;                  /* destroy: the preparer must exit */
    uint64_t spare_want;        /* segment number to prepare, 0 none */
    uint64_t spare_no;          /* the ready spare, 0 none */
    int spare_fd;               /* open read-write, -1 none */
    int spare_err;              /* the preparer failed: rotation fails */

    /* read without a lock */
    _Atomic bool stopping;          /* = stop, polled while zero-filling */
    _Atomic uint64_t written_lsn;   /* = last_lsn, published after pwrite */
    _Atomic int err;                /* first failure (set under sync_mutex) */
    _Atomic uint64_t sync_count;    /* fdatasync calls */

    /* the high-water file, guarded by hw_mutex (held across its write;
     * never taken with another lock)                                   */
    pthread_mutex_t hw_mutex;
    bool hw_present;            /* HIGHWATER exists */
    uint64_t hw_seg;            /* the segment it names */
    uint64_t hw_value;          /* the owner's number */
};

/*  --------------------------------------------------------------------
 *  Little helpers
 */

static bool
s_all_zero (const uint8_t *p, size_t n)
{
    static const uint8_t zeros[256];
    while (n >= sizeof zeros) {
        if (memcmp (p, zeros, sizeof zeros))
            return false;
        p += sizeof zeros;
        n -= sizeof zeros;
    }
    return n == 0 || memcmp (p, zeros, n) == 0;
}

static int
s_errno_code (int e)
{
    return e == ENOSPC || e == EDQUOT ? TPC_ENOSPC : TPC_EIO;
}

static void
s_errf (char *errbuf, size_t errlen, const char *fmt, ...)
{
    if (!errbuf || errlen == 0)
        return;
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (errbuf, errlen, fmt, ap);
    va_end (ap);
}

static void
s_default_warn (void *arg, const char *text)
{
    (void) arg;
    fprintf (stderr, "tpc_log: warning: %s\n", text);
}

static void
s_seg_path (char *buf, size_t size, const char *dir, uint64_t no,
            const char *suffix)
{
    snprintf (buf, size, "%s/%020" PRIu64 "%s", dir, no, suffix);
}

/*  Write all N bytes at OFF, looping over short writes.  0 or a code.    */
static int
s_write_all (const tpc_io_t *io, int fd, const void *buf, size_t n, uint64_t off)
{
    const uint8_t *p = buf;
    while (n > 0) {
        ssize_t w = io->pwrite (io->ctx, fd, p, n, (off_t) off);
        if (w < 0)
            return s_errno_code (errno);
        if (w == 0)
            return TPC_EIO;
        p += w;
        n -= (size_t) w;
        off += (uint64_t) w;
    }
    return 0;
}

/*  fsync the directory so creations, renames and unlinks in it last.     */
static int
s_sync_dir (const tpc_io_t *io, const char *dir)
{
    int fd = io->open (io->ctx, dir, O_RDONLY | O_DIRECTORY, 0);
    if (fd < 0)
        return s_errno_code (errno);
    int rc = io->fsync (io->ctx, fd) < 0 ? s_errno_code (errno) : 0;
    io->close (io->ctx, fd);
    return rc;
}

/*  fsync the directory that holds PATH.                                 */
static int
s_sync_parent (const tpc_io_t *io, const char *path)
{
    char parent[4096];
    snprintf (parent, sizeof parent, "%s", path);
    size_t n = strlen (parent);
    while (n > 1 && parent[n - 1] == '/')
        parent[--n] = '\0';
    char *slash = strrchr (parent, '/');
    if (!slash)
        snprintf (parent, sizeof parent, ".");
    else if (slash == parent)
        parent[1] = '\0';
    else
        *slash = '\0';
    return s_sync_dir (io, parent);
}

/*  Read the whole file at PATH into *BUF (grown as needed; *SIZE gets the
 *  byte count).  0, TPC_ENOENT, TPC_ENOMEM or TPC_EIO.                   */
static int
s_read_file (const tpc_io_t *io, const char *path, uint8_t **buf,
             size_t *cap, size_t *size)
{
    int fd = io->open (io->ctx, path, O_RDONLY, 0);
    if (fd < 0)
        return errno == ENOENT ? TPC_ENOENT : TPC_EIO;
    int rc = 0;
    size_t n = 0;
    for (;;) {
        if (n == *cap) {
            size_t ncap = *cap ? *cap * 2 : 64 * 1024;
            uint8_t *nb = realloc (*buf, ncap);
            if (!nb) {
                rc = TPC_ENOMEM;
                goto cleanup;
            }
            *buf = nb;
            *cap = ncap;
        }
        ssize_t r = io->pread (io->ctx, fd, *buf + n, *cap - n, (off_t) n);
        if (r < 0) {
            rc = TPC_EIO;
            goto cleanup;
        }
        if (r == 0)
            break;
        n += (size_t) r;
    }
    *size = n;
cleanup:
    io->close (io->ctx, fd);
    return rc;
}

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

static size_t
s_rec_size (size_t len)
{
    return S_REC_HDR + len + S_REC_CRC;
}

static void
s_seg_header_encode (uint8_t *h, uint64_t no, uint64_t first_lsn)
{
    memset (h, 0, S_SEG_HDR);
    memcpy (h, S_SEG_MAGIC, 4);
    tpc_le_put16 (h + 4, S_FORMAT);
    tpc_le_put16 (h + 6, S_SEG_HDR);
    tpc_le_put64 (h + 8, no);
    tpc_le_put64 (h + 16, first_lsn);
    tpc_le_put32 (h + 28, tpc_crc32c (0, h, 28));
}

/*  Check a segment header.  S_OK fills *NO and *FIRST_LSN; S_BAD sets
 *  *WHY; a valid header of a newer format sets *NEWER.                   */
static s_status_t
s_seg_header_parse (const uint8_t *d, size_t size, uint64_t *no,
                    uint64_t *first_lsn, bool *newer, const char **why)
{
    *newer = false;
    if (size < S_SEG_HDR) {
        *why = "file shorter than a segment header";
        return S_BAD;
    }
    if (memcmp (d, S_SEG_MAGIC, 4)) {
        *why = "bad segment magic";
        return S_BAD;
    }
    if (tpc_le_get32 (d + 28) != tpc_crc32c (0, d, 28)) {
        *why = "segment header checksum mismatch";
        return S_BAD;
    }
    if (tpc_le_get16 (d + 4) != S_FORMAT) {
        *newer = tpc_le_get16 (d + 4) > S_FORMAT;
        *why = "unknown segment format version";
        return S_BAD;
    }
    if (tpc_le_get16 (d + 6) != S_SEG_HDR || tpc_le_get32 (d + 24) != 0) {
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
    if (avail < S_REC_HDR) {
        if (s_all_zero (p, avail))
            return S_END;
        *why = "truncated record header";
        return S_BAD;
    }
    if (s_all_zero (p, S_REC_HDR))
        return S_END;
    if (p[0] != S_REC_MAGIC) {
        *why = "bad record magic";
        return S_BAD;
    }
    if (p[1] != S_FORMAT || p[3] != 0) {
        *why = "bad record version or reserved byte";
        return S_BAD;
    }
    uint32_t len = tpc_le_get32 (p + 4);
    if (len > TPC_LOG_RECORD_MAX) {
        *why = "record length out of range";
        return S_BAD;
    }
    if (s_rec_size (len) > avail) {
        *why = "record runs past the end of the segment";
        return S_BAD;
    }
    if (tpc_le_get32 (p + S_REC_HDR + len) != tpc_crc32c (0, p, S_REC_HDR + len)) {
        *why = "record checksum mismatch";
        return S_BAD;
    }
    rec->type = p[2];
    rec->lsn = tpc_le_get64 (p + 8);
    rec->payload = p + S_REC_HDR;
    rec->len = len;
    rec->size = s_rec_size (len);
    return S_OK;
}

/*  Offset of the first valid record starting at or after FROM, or -1.    */
static long long
s_find_valid (const uint8_t *d, size_t size, size_t from)
{
    while (from < size) {
        const uint8_t *m = memchr (d + from, S_REC_MAGIC, size - from);
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
    if (avail < S_REC_HDR)
        return false;
    if ((p[0] && p[0] != S_REC_MAGIC) || (p[1] && p[1] != S_FORMAT) || p[3])
        return true;
    uint32_t len = tpc_le_get32 (p + 4);
    if (len > TPC_LOG_RECORD_MAX)
        return true;
    size_t n = s_rec_size (len);
    if (n > avail)
        return false;           /* the file ends inside it */
    if (p[n - 1] == 0)
        return false;           /* its end did not land */
    for (size_t a = off; a < off + n; ) {
        size_t b = (a / S_SECTOR + 1) * S_SECTOR;
        if (b > off + n)
            b = off + n;
        if (s_all_zero (d + a, b - a))
            return false;
        a = b;
    }
    return true;
}

static size_t
s_encode_record (uint8_t *out, uint8_t type, uint64_t lsn, const void *payload,
                 size_t len)
{
    out[0] = S_REC_MAGIC;
    out[1] = S_FORMAT;
    out[2] = type;
    out[3] = 0;
    tpc_le_put32 (out + 4, (uint32_t) len);
    tpc_le_put64 (out + 8, lsn);
    if (len)
        memcpy (out + S_REC_HDR, payload, len);
    tpc_le_put32 (out + S_REC_HDR + len, tpc_crc32c (0, out, S_REC_HDR + len));
    return s_rec_size (len);
}

/*  --------------------------------------------------------------------
 *  Directory listing
 */

static int
s_cmp_u64 (const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
    return x < y ? -1 : x > y;
}

/*  Number from "<20 digits><suffix>", or 0 when NAME is not such a name. */
static uint64_t
s_name_number (const char *name, const char *suffix)
{
    for (int i = 0; i < S_NAME_DIGITS; i++)
        if (name[i] < '0' || name[i] > '9')
            return 0;
    if (strcmp (name + S_NAME_DIGITS, suffix))
        return 0;
    uint64_t v = 0;
    for (int i = 0; i < S_NAME_DIGITS; i++) {
        unsigned d = (unsigned) (name[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    return v;
}

/*  Sorted numbers of the files in DIR named with SUFFIX.                 */
static int
s_list (const char *dir, const char *suffix, uint64_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    DIR *d = opendir (dir);
    if (!d)
        return errno == ENOENT ? TPC_ENOENT : TPC_EIO;
    int rc = 0;
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir (d))) {
        uint64_t no = s_name_number (e->d_name, suffix);
        if (no == 0)
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            uint64_t *nv = realloc (*out, cap * sizeof **out);
            if (!nv) {
                rc = TPC_ENOMEM;
                goto cleanup;
            }
            *out = nv;
        }
        (*out)[(*n)++] = no;
    }
    if (*n > 1)
        qsort (*out, *n, sizeof **out, s_cmp_u64);
cleanup:
    closedir (d);
    if (rc) {
        free (*out);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

/*  --------------------------------------------------------------------
 *  Reading: pass 1 (check) and pass 2 (replay)
 */

typedef struct {
    const tpc_io_t *io;
    const char *dir;
    uint64_t *nos;              /* segment numbers in the directory */
    size_t n;
    uint64_t *end;              /* per segment: end of the valid records */
    uint64_t *size;             /* per segment: file size */
    uint64_t *hdr_first;        /* per segment: header's first LSN, 0 unset */
    uint64_t *start_lsn;        /* per segment: LSN its first record has or
                                   would have */
    size_t nkeep;               /* segments [0, nkeep) have valid headers */
    bool corrupt;               /* pass 1 found corruption after the prefix */
    bool torn;                  /* a torn tail starts at torn_idx/torn_off */
    size_t torn_idx;
    uint64_t torn_off;
    char torn_why[128];
    uint64_t first_lsn;         /* of the first kept segment */
    uint64_t next_lsn;          /* after the last valid record */
    uint64_t ckpt_seg;          /* newest complete checkpoint, 0 none */
    bool torn_damaged;          /* the tail is damaged in place, not torn */
    uint64_t cut_records;       /* record-shaped entries in the tail */
    bool hw_present;            /* HIGHWATER read */
    uint64_t hw_seg, hw_value;
    uint8_t *buf;               /* file contents, reused */
    size_t cap;
} s_reader_t;

static void
s_reader_free (s_reader_t *r)
{
    free (r->nos);
    free (r->end);
    free (r->size);
    free (r->hdr_first);
    free (r->start_lsn);
    free (r->buf);
    memset (r, 0, sizeof *r);
}

static int
s_reader_load (s_reader_t *r, size_t i, size_t *size, char *errbuf,
               size_t errlen)
{
    char path[4096];
    s_seg_path (path, sizeof path, r->dir, r->nos[i], S_SEG_SUFFIX);
    int rc = s_read_file (r->io, path, &r->buf, &r->cap, size);
    if (rc)
        s_errf (errbuf, errlen, "cannot read %s: %s", path, tpc_strerror (rc));
    return rc;
}

/*  Pass 1.  Fills the reader's summary or returns TPC_ELOG_CORRUPT /
 *  TPC_ELOG_VERSION / an I/O code with a sentence in ERRBUF.             */
static int
s_check (s_reader_t *r, char *errbuf, size_t errlen)
{
    int rc = 0;
    size_t n = r->n ? r->n : 1;
    r->end = calloc (n, sizeof *r->end);
    r->size = calloc (n, sizeof *r->size);
    r->hdr_first = calloc (n, sizeof *r->hdr_first);
    r->start_lsn = calloc (n, sizeof *r->start_lsn);
    if (!r->end || !r->size || !r->hdr_first || !r->start_lsn)
        return TPC_ENOMEM;
    bool bad = false;           /* the valid prefix has ended */
    size_t bad_idx = 0;
    uint64_t bad_off = 0;
    const char *bad_why = "";
    uint64_t expect = 0;
    for (size_t i = 0; i < r->n; i++) {
        size_t size;
        rc = s_reader_load (r, i, &size, errbuf, errlen);
        if (rc)
            return rc;
        const uint8_t *d = r->buf;
        r->size[i] = size;
        if (i > 0 && r->nos[i] != r->nos[i - 1] + 1) {
            /* never left by a crash: segments are made and dropped in
             * order; the records it held would be lost unseen        */
            s_errf (errbuf, errlen,
                    "log corrupt: segment %" PRIu64 " is missing: segment %"
                    PRIu64 " offset 0 (%s/%020" PRIu64 S_SEG_SUFFIX ") does "
                    "not follow segment %" PRIu64 "; nothing was changed: "
                    "put the missing segment back from a copy, or inspect "
                    "the log with 'tpcctl log dump'", r->nos[i - 1] + 1,
                    r->nos[i], r->dir, r->nos[i], r->nos[i - 1]);
            r->corrupt = true;
            return TPC_ELOG_CORRUPT;
        }
        size_t resync_from = 0;
        if (!bad) {
            uint64_t no, first;
            bool newer;
            const char *why = NULL;
            s_status_t st = s_seg_header_parse (d, size, &no, &first, &newer, &why);
            if (newer) {
                s_errf (errbuf, errlen,
                        "segment %" PRIu64 " (%s/%020" PRIu64 S_SEG_SUFFIX
                        ") was written by a newer format version (%u); "
                        "upgrade tpc to read it", r->nos[i], r->dir,
                        r->nos[i], (unsigned) tpc_le_get16 (d + 4));
                return TPC_ELOG_VERSION;
            }
            if (st == S_OK && no != r->nos[i]) {
                st = S_BAD;
                why = "segment number does not match the file name";
            }
            else if (st == S_OK && i > 0 && no != r->nos[i - 1] + 1) {
                st = S_BAD;
                why = "previous segment missing";
            }
            else if (st == S_OK && i > 0 && first && first != expect) {
                /* (0: a spare not yet started; its records, if any,
                 * must still continue the sequence) */
                st = S_BAD;
                why = "first LSN does not continue the previous segment";
            }
            else if (st == S_OK && i == 0 && first == 0) {
                st = S_BAD;
                why = "first LSN is 0";
            }
            if (st != S_OK) {
                bad = true;
                bad_idx = i;
                bad_off = 0;
                bad_why = why;
                resync_from = 1;
            }
            else {
                if (i == 0)
                    expect = r->first_lsn = first;
                r->nkeep = i + 1;
                r->hdr_first[i] = first;
                r->start_lsn[i] = expect;
                size_t off = S_SEG_HDR;
                for (;;) {
                    s_rec_t rec;
                    st = s_record_at (d, size, off, &rec, &why);
                    if (st == S_OK
                        && (rec.lsn != expect || rec.lsn == UINT64_MAX)) {
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
                        expect++;
                        continue;
                    }
                    r->end[i] = off;
                    if (st == S_END && s_all_zero (d + off, size - off))
                        break;          /* clean end of this segment */
                    if (st == S_END)
                        why = "non-zero bytes after the last record";
                    bad = true;
                    bad_idx = i;
                    bad_off = off;
                    bad_why = why;
                    resync_from = off + 1;
                    break;
                }
            }
            if (!bad)
                continue;
        }
        long long found = s_find_valid (d, size, resync_from);
        if (found >= 0) {
            s_errf (errbuf, errlen,
                    "log corrupt: segment %" PRIu64 " offset %" PRIu64
                    " (%s/%020" PRIu64 S_SEG_SUFFIX "): %s, yet a valid "
                    "record follows at segment %" PRIu64 " offset %lld; "
                    "nothing was changed: restore the log directory from a "
                    "copy or inspect it with 'tpcctl log dump'",
                    r->nos[bad_idx], bad_off, r->dir, r->nos[bad_idx],
                    bad_why, r->nos[i], found);
            r->corrupt = true;  /* nkeep/end still bound the valid prefix */
            return TPC_ELOG_CORRUPT;
        }
    }
    r->next_lsn = expect ? expect : 1;
    if (bad) {
        r->torn = true;
        r->torn_idx = bad_idx;
        r->torn_off = bad_off;
        snprintf (r->torn_why, sizeof r->torn_why, "%s", bad_why);
        /* a segment header is made whole and durable before use, and its
         * later rewrite (first LSN) is one sector: a bad one is damage */
        r->torn_damaged = bad_off == 0;
        if (bad_off) {
            size_t size;
            rc = s_reader_load (r, bad_idx, &size, errbuf, errlen);
            if (rc)
                return rc;
            r->torn_damaged = bad_off + S_REC_HDR <= size
                              && !s_all_zero (r->buf + bad_off, S_REC_HDR)
                              && s_damaged_in_place (r->buf, size, bad_off);
        }
    }
    return 0;
}

/*  After pass 1 found a torn tail: count the record-shaped entries in it
 *  (a header that looks right, at most one of magic, version and reserved
 *  byte wrong, a length that fits), calling FN (if not NULL) for each.
 *  Best effort: a segment is followed until the first entry that is not
 *  record-shaped.                                                       */
static int
s_cut_entries (s_reader_t *r, tpc_log_replay_fn *fn, void *arg,
               char *errbuf, size_t errlen)
{
    r->cut_records = 0;
    for (size_t i = r->torn_idx; i < r->n; i++) {
        size_t size;
        int rc = s_reader_load (r, i, &size, errbuf, errlen);
        if (rc)
            return rc;
        const uint8_t *d = r->buf;
        size_t off = i == r->torn_idx && r->torn_off ? r->torn_off
                     : S_SEG_HDR;
        while (off + S_REC_HDR <= size && !s_all_zero (d + off, S_REC_HDR)) {
            const uint8_t *p = d + off;
            int wrong = (p[0] != S_REC_MAGIC) + (p[1] != S_FORMAT) + (p[3] != 0);
            uint32_t len = tpc_le_get32 (p + 4);
            if (wrong > 1 || len > TPC_LOG_RECORD_MAX
                || s_rec_size (len) > size - off)
                break;
            r->cut_records++;
            if (fn) {
                tpc_log_rec_t info = { tpc_le_get64 (p + 8), p[2], r->nos[i], off };
                fn (arg, &info, p + S_REC_HDR, len);
            }
            off += s_rec_size (len);
        }
    }
    return 0;
}

/*  HIGHWATER: 32 bytes, magic "TPCH", version:u16, length:u16 (32),
 *  segment:u64, value:u64, reserved:u32, CRC-32C of bytes 0..27.        */
static void
s_hw_encode (uint8_t *h, uint64_t seg, uint64_t value)
{
    memset (h, 0, S_HW_SIZE);
    memcpy (h, S_HW_MAGIC, 4);
    tpc_le_put16 (h + 4, S_FORMAT);
    tpc_le_put16 (h + 6, S_HW_SIZE);
    tpc_le_put64 (h + 8, seg);
    tpc_le_put64 (h + 16, value);
    tpc_le_put32 (h + 28, tpc_crc32c (0, h, 28));
}

/*  Read DIR's high-water file into R (absent: hw_present false).  0,
 *  TPC_ELOG_CORRUPT, TPC_ELOG_VERSION or an I/O code, with a sentence.  */
static int
s_hw_read (s_reader_t *r, char *errbuf, size_t errlen)
{
    char path[4096];
    snprintf (path, sizeof path, "%s/" S_HW_NAME, r->dir);
    uint8_t *buf = NULL;
    size_t cap = 0, size = 0;
    int rc = s_read_file (r->io, path, &buf, &cap, &size);
    if (rc == TPC_ENOENT) {
        rc = 0;
        goto cleanup;
    }
    if (rc) {
        s_errf (errbuf, errlen, "cannot read %s: %s", path, tpc_strerror (rc));
        goto cleanup;
    }
    if (size == S_HW_SIZE && !memcmp (buf, S_HW_MAGIC, 4)
        && tpc_le_get32 (buf + 28) == tpc_crc32c (0, buf, 28)
        && tpc_le_get16 (buf + 4) > S_FORMAT) {
        s_errf (errbuf, errlen, "%s was written by a newer format version "
                "(%u); upgrade tpc to read it", path,
                (unsigned) tpc_le_get16 (buf + 4));
        rc = TPC_ELOG_VERSION;
        goto cleanup;
    }
    if (size != S_HW_SIZE || memcmp (buf, S_HW_MAGIC, 4)
        || tpc_le_get32 (buf + 28) != tpc_crc32c (0, buf, 28)
        || tpc_le_get16 (buf + 4) != S_FORMAT || tpc_le_get16 (buf + 6) != S_HW_SIZE
        || tpc_le_get32 (buf + 24) != 0) {
        s_errf (errbuf, errlen, "log corrupt: %s is damaged (it is replaced "
                "whole, never written in place); nothing was changed: "
                "restore it from a copy", path);
        rc = TPC_ELOG_CORRUPT;
        goto cleanup;
    }
    r->hw_present = true;
    r->hw_seg = tpc_le_get64 (buf + 8);
    r->hw_value = tpc_le_get64 (buf + 16);
cleanup:
    free (buf);
    return rc;
}

/*  The segment HIGHWATER names is always in the directory (open and
 *  checkpoint_end name a segment no checkpoint has dropped yet, and move
 *  it before dropping): if it is not, segments are lost.  0 or
 *  TPC_ELOG_CORRUPT.                                                    */
static int
s_hw_check (s_reader_t *r, char *errbuf, size_t errlen)
{
    if (!r->hw_present)
        return 0;
    uint64_t first = r->n ? r->nos[0] : 0, last = r->n ? r->nos[r->n - 1] : 0;
    if (r->n && r->hw_seg >= first && r->hw_seg <= last)
        return 0;               /* no gap (pass 1): it is there */
    char have[96] = "no segment file";
    if (r->n)
        snprintf (have, sizeof have, "segment files %" PRIu64 " to %" PRIu64,
                  first, last);
    s_errf (errbuf, errlen, "log corrupt: segment %" PRIu64 " is missing: "
            "%s/" S_HW_NAME " says segment %" PRIu64 " held records, and "
            "the directory has %s; nothing was changed: put the missing "
            "segment back from a copy (starting without it needs "
            S_HW_NAME " moved away and a new coordinator --id, since "
            "records, gids and epochs are lost with it)", r->hw_seg, r->dir,
            r->hw_seg, have);
    r->corrupt = true;
    return TPC_ELOG_CORRUPT;
}

/*  Pass 2: call FN for the valid records of segments [from, nkeep); owner
 *  records only unless ALL.                                             */
static int
s_replay (s_reader_t *r, size_t from, bool all, tpc_log_replay_fn *fn,
          void *arg, char *errbuf, size_t errlen)
{
    for (size_t i = from; i < r->nkeep; i++) {
        size_t size;
        int rc = s_reader_load (r, i, &size, errbuf, errlen);
        if (rc)
            return rc;
        size_t off = S_SEG_HDR;
        while (off < r->end[i]) {
            s_rec_t rec;
            const char *why = NULL;
            if (s_record_at (r->buf, size, off, &rec, &why) != S_OK) {
                s_errf (errbuf, errlen, "segment %" PRIu64 " offset %zu "
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
static int
s_reader_open (s_reader_t *r, const tpc_io_t *io, const char *dir,
               char *errbuf, size_t errlen)
{
    memset (r, 0, sizeof *r);
    r->io = io;
    r->dir = dir;
    int rc = s_list (dir, S_SEG_SUFFIX, &r->nos, &r->n);
    if (rc) {
        s_errf (errbuf, errlen, "cannot list log directory %s: %s", dir,
                tpc_strerror (rc));
        return rc;
    }
    rc = s_hw_read (r, errbuf, errlen);
    if (!rc)
        rc = s_check (r, errbuf, errlen);
    if (!rc)
        rc = s_hw_check (r, errbuf, errlen);
    return rc;
}

/*  "torn tail" or "damaged tail (...)", for the warnings.               */
static const char *
s_tail_kind (const s_reader_t *r)
{
    return r->torn_damaged
           ? "damaged tail (complete, yet it fails its checks: damaged in "
             "place, not a write cut short by a crash)"
           : "torn tail";
}

/*  Count (and show FN) the entries of R's torn tail; fill *CUT.         */
static int
s_cut_report (s_reader_t *r, tpc_log_replay_fn *fn, void *arg,
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
        s_errf (errbuf, errlen, "no log directory given");
        return TPC_EINVAL;
    }
    const char *dir = cfg->dir;
    if (cfg->cut)
        memset (cfg->cut, 0, sizeof *cfg->cut);
    s_reader_t r;
    int rc = s_reader_open (&r, tpc_io_posix (), dir, errbuf, errlen);
    if (rc == TPC_ELOG_CORRUPT && r.corrupt) {
        /* show the valid records before the damage, then report it */
        int rrc = s_replay (&r, 0, true, fn, arg, NULL, 0);
        if (rrc && rrc != TPC_ELOG_CORRUPT)
            rc = rrc;
        goto cleanup;
    }
    if (rc)
        goto cleanup;
    if (r.torn) {
        rc = s_cut_report (&r, cfg->cut_fn, cfg->cut_arg, cfg->cut, errbuf,
                           errlen);
        if (rc)
            goto cleanup;
        char text[512];
        snprintf (text, sizeof text, "%s at segment %" PRIu64
                  " offset %" PRIu64 " (%s): the records before it are "
                  "valid; opening the log will cut it off, %" PRIu64
                  " record(s)", s_tail_kind (&r), r.nos[r.torn_idx],
                  r.torn_off, r.torn_why, r.cut_records);
        (cfg->warn ? cfg->warn : s_default_warn) (cfg->warn_arg, text);
    }
    rc = s_replay (&r, 0, true, fn, arg, errbuf, errlen);
cleanup:
    s_reader_free (&r);
    return rc;
}

/*  --------------------------------------------------------------------
 *  Writing
 */

/*  Create segment NO (FIRST_LSN: the first LSN it will hold, 0 for a
 *  spare not started yet), full size and zero-filled, durable in the
 *  directory: written as .tmp, fsync()ed, renamed, directory fsync()ed.
 *  *FD gets it open read-write.  Gives up (TPC_ESTATE) when the log is
 *  being destroyed.  On failure no file of that number is left behind.  */
static int
s_segment_create (tpc_log_t *self, uint64_t no, uint64_t first_lsn, int *fd)
{
    const tpc_io_t *io = self->io;
    char tmp[4096], path[4096];
    s_seg_path (tmp, sizeof tmp, self->dir, no, S_TMP_SUFFIX);
    s_seg_path (path, sizeof path, self->dir, no, S_SEG_SUFFIX);
    size_t chunk = self->segment_bytes < S_ZERO_CHUNK
                   ? (size_t) self->segment_bytes : S_ZERO_CHUNK;
    uint8_t *zeros = calloc (1, chunk);
    if (!zeros)
        return TPC_ENOMEM;
    int rc = 0;
    bool renamed = false;
    *fd = io->open (io->ctx, tmp, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (*fd < 0) {
        rc = s_errno_code (errno);
        goto cleanup;
    }
    s_seg_header_encode (zeros, no, first_lsn);
    for (uint64_t off = 0; off < self->segment_bytes && !rc; ) {
        if (atomic_load (&self->stopping)) {
            rc = TPC_ESTATE;
            break;
        }
        size_t n = self->segment_bytes - off < chunk
                   ? (size_t) (self->segment_bytes - off) : chunk;
        rc = s_write_all (io, *fd, zeros, n, off);
        if (off == 0)
            memset (zeros, 0, S_SEG_HDR);
        off += n;
        if (!rc && off < self->segment_bytes && io->fsync (io->ctx, *fd) < 0)
            rc = s_errno_code (errno);
    }
    if (!rc && io->fsync (io->ctx, *fd) < 0)
        rc = s_errno_code (errno);
    if (!rc && io->rename (io->ctx, tmp, path) < 0)
        rc = s_errno_code (errno);
    renamed = !rc;
    if (!rc)
        rc = s_sync_dir (io, self->dir);
    if (rc) {
        io->close (io->ctx, *fd);
        *fd = -1;
        io->unlink (io->ctx, renamed ? path : tmp);
    }
cleanup:
    free (zeros);
    return rc;
}

/*  The preparer thread: whenever a spare is wanted and none is ready,
 *  create it (header first LSN 0: not started).  One per log.  Its
 *  failure is kept for the rotation that needs the spare: the log goes
 *  on until then, as it did when segments were created inline.           */
static void *
s_preparer (void *arg)
{
    tpc_log_t *self = arg;
    pthread_mutex_lock (&self->spare_mutex);
    for (;;) {
        while (!self->stop && (self->spare_want == 0 || self->spare_err
                               || self->spare_no == self->spare_want))
            pthread_cond_wait (&self->spare_cond, &self->spare_mutex);
        if (self->stop)
            break;
        uint64_t no = self->spare_want;
        pthread_mutex_unlock (&self->spare_mutex);
        int fd = -1;
        int rc = s_segment_create (self, no, 0, &fd);
        pthread_mutex_lock (&self->spare_mutex);
        assert (self->spare_want == no);    /* only a rotation changes it,
                                               and it waits for us */
        if (rc)
            self->spare_err = self->stop ? TPC_ESTATE : rc;
        else {
            self->spare_no = no;
            self->spare_fd = fd;
        }
        pthread_cond_broadcast (&self->spare_cond);
    }
    pthread_mutex_unlock (&self->spare_mutex);
    return NULL;
}

/*  Unlink the sleepers to wake: those whose LSN is durable (all of them
 *  once the log has failed) and, when some remain and nobody syncs, one
 *  more to lead the next fdatasync (last in the list).  sync_mutex held;
 *  the caller posts them with s_wake_post() after unlocking.            */
static s_waiter_t *
s_wake_collect (tpc_log_t *self)
{
    int err = atomic_load (&self->err);
    s_waiter_t *wake = NULL, **tail = &wake;
    s_waiter_t **pp = &self->waiters;
    while (*pp) {
        s_waiter_t *w = *pp;
        if (err || w->lsn <= self->durable_lsn) {
            *pp = w->next;
            w->result = err;
            w->next = NULL;
            *tail = w;
            tail = &w->next;
        }
        else
            pp = &w->next;
    }
    if (!self->syncing && self->waiters) {
        s_waiter_t *w = self->waiters;
        self->waiters = w->next;
        w->result = S_LEAD;
        w->next = NULL;
        *tail = w;
    }
    pthread_cond_broadcast (&self->sync_cond);
    return wake;
}

static void
s_wake_post (s_waiter_t *w)
{
    while (w) {
        s_waiter_t *next = w->next;     /* W may vanish once posted */
        sem_post (&w->sem);
        w = next;
    }
}

/*  End of an fdatasync run by a leader or a rotation: publish DURABLE
 *  (0 = unchanged) or enter FAILED with ERR, note whether the tail
 *  segment (header included) is synced, and wake who is due.            */
static void
s_sync_finish (tpc_log_t *self, uint64_t durable, int err, bool tail_synced)
{
    pthread_mutex_lock (&self->sync_mutex);
    self->syncing = false;
    self->seg_synced = tail_synced;
    if (err && !atomic_load (&self->err))
        atomic_store (&self->err, err);
    if (!err && durable > self->durable_lsn)
        self->durable_lsn = durable;
    s_waiter_t *wake = s_wake_collect (self);
    pthread_mutex_unlock (&self->sync_mutex);
    s_wake_post (wake);
}

/*  Enter FAILED (first error wins) and wake everyone.                   */
static int
s_fail (tpc_log_t *self, int rc)
{
    pthread_mutex_lock (&self->sync_mutex);
    if (!atomic_load (&self->err))
        atomic_store (&self->err, rc);
    s_waiter_t *wake = s_wake_collect (self);
    pthread_mutex_unlock (&self->sync_mutex);
    s_wake_post (wake);
    return rc;
}

/*  Make the tail segment durable and switch to the spare: no file is
 *  created here, the preparer made it ahead.  append_mutex held; takes
 *  the sync role so that no leader uses the old fd.                     */
static int
s_rotate (tpc_log_t *self)
{
    if (self->seg_no == UINT64_MAX)
        return TPC_ENOSPC;      /* no name left for the next segment */
    /* the spare: normally ready; else wait for the preparer at work */
    pthread_mutex_lock (&self->spare_mutex);
    assert (self->spare_want == self->seg_no + 1);
    while (self->spare_no != self->spare_want && !self->spare_err)
        pthread_cond_wait (&self->spare_cond, &self->spare_mutex);
    int rc = self->spare_no == self->spare_want ? 0 : self->spare_err;
    int fd = self->spare_fd;
    pthread_mutex_unlock (&self->spare_mutex);
    if (rc)
        return s_fail (self, rc);

    pthread_mutex_lock (&self->sync_mutex);
    while (self->syncing && !atomic_load (&self->err))
        pthread_cond_wait (&self->sync_cond, &self->sync_mutex);
    if (atomic_load (&self->err)) {
        pthread_mutex_unlock (&self->sync_mutex);
        return TPC_ELOG_FAILED;
    }
    self->syncing = true;
    /* also when only the header is unsynced: a later segment must never
     * follow one whose header could still be lost                       */
    bool need_sync = self->durable_lsn < self->last_lsn || !self->seg_synced;
    pthread_mutex_unlock (&self->sync_mutex);

    if (need_sync) {
        atomic_fetch_add (&self->sync_count, 1);
        if (self->io->fdatasync (self->io->ctx, self->seg_fd) < 0)
            rc = s_errno_code (errno);
    }
    bool synced = rc == 0 && need_sync;
    if (!rc) {
        /* start the spare: its header names its first LSN (made durable
         * by the fdatasync that first covers a record in it)           */
        uint8_t hdr[S_SEG_HDR];
        s_seg_header_encode (hdr, self->seg_no + 1, self->last_lsn + 1);
        rc = s_write_all (self->io, fd, hdr, sizeof hdr, 0);
    }
    if (!rc) {
        self->io->close (self->io->ctx, self->seg_fd);
        self->seg_fd = fd;
        self->seg_no++;
        self->seg_off = S_SEG_HDR;
        self->seg_cap = self->segment_bytes;
        pthread_mutex_lock (&self->spare_mutex);
        self->spare_no = 0;
        self->spare_fd = -1;
        self->spare_want = self->seg_no + 1;
        pthread_cond_broadcast (&self->spare_cond);
        pthread_mutex_unlock (&self->spare_mutex);
    }
    s_sync_finish (self, synced ? self->last_lsn : 0, rc, false);
    return rc;
}

/*  Append one record of any type.  append_mutex held.                  */
static int
s_append_locked (tpc_log_t *self, uint8_t type, const void *payload,
                 size_t len, uint64_t *lsn)
{
    if (atomic_load (&self->err))
        return TPC_ELOG_FAILED;
    if (self->last_lsn >= UINT64_MAX - 1)
        return TPC_ENOSPC;      /* no LSN left */
    size_t size = s_rec_size (len);
    if (self->seg_off + size > self->seg_cap) {
        int rc = s_rotate (self);
        if (rc)
            return rc;
    }
    if (size > self->buf_size) {
        size_t nsize = self->buf_size ? self->buf_size : 4096;
        while (nsize < size)
            nsize *= 2;
        uint8_t *nb = realloc (self->buf, nsize);
        if (!nb)
            return TPC_ENOMEM;
        self->buf = nb;
        self->buf_size = nsize;
    }
    s_encode_record (self->buf, type, self->last_lsn + 1, payload, len);
    int rc = s_write_all (self->io, self->seg_fd, self->buf, size, self->seg_off);
    if (rc)
        return s_fail (self, rc);
    self->seg_off += size;
    self->last_lsn++;
    atomic_store (&self->written_lsn, self->last_lsn);
    if (lsn)
        *lsn = self->last_lsn;
    return 0;
}

static int
s_append (tpc_log_t *self, uint8_t type, const void *payload, size_t len,
          uint64_t *lsn)
{
    if (len > TPC_LOG_RECORD_MAX
        || S_SEG_HDR + s_rec_size (len) > self->segment_bytes)
        return TPC_ELOG_TOO_BIG;
    pthread_mutex_lock (&self->append_mutex);
    int rc = s_append_locked (self, type, payload, len, lsn);
    pthread_mutex_unlock (&self->append_mutex);
    return rc;
}

int
tpc_log_append (tpc_log_t *self, uint8_t type, const void *payload,
                size_t len, uint64_t *lsn)
{
    assert (self);
    if (type >= TPC_LOG_TYPE_INTERNAL || (len && !payload))
        return TPC_EINVAL;
    return s_append (self, type, payload, len, lsn);
}

int
tpc_log_sync (tpc_log_t *self, uint64_t lsn)
{
    assert (self);
    if (lsn > atomic_load (&self->written_lsn) && !atomic_load (&self->err))
        return TPC_EINVAL;
    int rc;
    pthread_mutex_lock (&self->sync_mutex);
    for (;;) {
        rc = atomic_load (&self->err);
        if (rc)
            break;
        if (self->durable_lsn >= lsn)
            break;
        if (self->syncing) {
            /* follower: sleep until a leader's fdatasync covers LSN */
            s_waiter_t w = { lsn, 0, { { 0 } }, self->waiters };
            sem_init (&w.sem, 0, 0);
            self->waiters = &w;
            pthread_mutex_unlock (&self->sync_mutex);
            while (sem_wait (&w.sem) < 0)
                ;               /* EINTR */
            sem_destroy (&w.sem);
            if (w.result != S_LEAD)
                return w.result;
            pthread_mutex_lock (&self->sync_mutex);
            continue;
        }
        /* leader: one fdatasync for everything written so far.  No
         * rotation can run while syncing is set, so seg_fd holds every
         * record up to target that an earlier rotation did not sync.    */
        self->syncing = true;
        uint64_t target = atomic_load (&self->written_lsn);
        int fd = self->seg_fd;
        pthread_mutex_unlock (&self->sync_mutex);
        atomic_fetch_add (&self->sync_count, 1);
        rc = self->io->fdatasync (self->io->ctx, fd) < 0
             ? s_errno_code (errno) : 0;
        s_sync_finish (self, target, rc, rc == 0);
        return rc;      /* target >= lsn: ours is covered too */
    }
    pthread_mutex_unlock (&self->sync_mutex);
    return rc;
}

uint64_t
tpc_log_last_lsn (tpc_log_t *self)
{
    return atomic_load (&self->written_lsn);
}

uint64_t
tpc_log_durable_lsn (tpc_log_t *self)
{
    pthread_mutex_lock (&self->sync_mutex);
    uint64_t v = self->durable_lsn;
    pthread_mutex_unlock (&self->sync_mutex);
    return v;
}

uint64_t
tpc_log_sync_count (tpc_log_t *self)
{
    return atomic_load (&self->sync_count);
}

int
tpc_log_error (tpc_log_t *self)
{
    return atomic_load (&self->err);
}

/*  Replace HIGHWATER with (SEG, VALUE), durably: temp file, fsync,
 *  rename, directory fsync.  hw_mutex held (or open, single-threaded).  */
static int
s_hw_write (tpc_log_t *self, uint64_t seg, uint64_t value)
{
    const tpc_io_t *io = self->io;
    char tmp[4096], path[4096];
    snprintf (tmp, sizeof tmp, "%s/" S_HW_NAME ".tmp", self->dir);
    snprintf (path, sizeof path, "%s/" S_HW_NAME, self->dir);
    uint8_t h[S_HW_SIZE];
    s_hw_encode (h, seg, value);
    int rc = 0;
    int fd = io->open (io->ctx, tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        rc = s_errno_code (errno);
        goto cleanup;
    }
    rc = s_write_all (io, fd, h, sizeof h, 0);
    if (!rc && io->fsync (io->ctx, fd) < 0)
        rc = s_errno_code (errno);
    io->close (io->ctx, fd);
    if (!rc && io->rename (io->ctx, tmp, path) < 0)
        rc = s_errno_code (errno);
    if (!rc)
        rc = s_sync_dir (io, self->dir);
    if (!rc) {
        self->hw_present = true;
        self->hw_seg = seg;
        self->hw_value = value;
    }
cleanup:
    return rc;
}

uint64_t
tpc_log_high_water (tpc_log_t *self)
{
    pthread_mutex_lock (&self->hw_mutex);
    uint64_t v = self->hw_present ? self->hw_value : 0;
    pthread_mutex_unlock (&self->hw_mutex);
    return v;
}

int
tpc_log_set_high_water (tpc_log_t *self, uint64_t value)
{
    assert (self);
    pthread_mutex_lock (&self->hw_mutex);
    pthread_mutex_lock (&self->append_mutex);
    uint64_t seg = self->seg_no;
    pthread_mutex_unlock (&self->append_mutex);
    if (self->hw_present && self->hw_value > value)
        value = self->hw_value;
    int rc = s_hw_write (self, seg, value);
    pthread_mutex_unlock (&self->hw_mutex);
    return rc;
}

int
tpc_log_checkpoint_begin (tpc_log_t *self)
{
    assert (self);
    pthread_mutex_lock (&self->append_mutex);
    int rc = atomic_load (&self->err) ? TPC_ELOG_FAILED
             : self->ckpt_seg ? TPC_ESTATE : s_rotate (self);
    if (!rc)
        self->ckpt_seg = self->seg_no;
    pthread_mutex_unlock (&self->append_mutex);
    return rc;
}

/*  Unlink segments [from, to) and make that durable.  No lock needed:
 *  appends never touch those files.                                    */
static int
s_drop_segments (tpc_log_t *self, uint64_t from, uint64_t to)
{
    int rc = 0;
    for (uint64_t no = from; no < to; no++) {
        char path[4096];
        s_seg_path (path, sizeof path, self->dir, no, S_SEG_SUFFIX);
        if (self->io->unlink (self->io->ctx, path) < 0 && errno != ENOENT)
            rc = TPC_EIO;
    }
    if (from < to) {
        int r = s_sync_dir (self->io, self->dir);
        if (r)
            rc = r;
    }
    return rc;
}

int
tpc_log_checkpoint_end (tpc_log_t *self)
{
    assert (self);
    uint8_t payload[8];
    uint64_t lsn = 0, begin, first, marker_seg = 0;
    pthread_mutex_lock (&self->append_mutex);
    begin = self->ckpt_seg;
    first = self->first_seg;
    int rc = atomic_load (&self->err) ? TPC_ELOG_FAILED : begin ? 0 : TPC_ESTATE;
    if (!rc) {
        tpc_le_put64 (payload, begin);
        rc = s_append_locked (self, TPC_LOG_TYPE_CHECKPOINT, payload,
                              sizeof payload, &lsn);
        marker_seg = self->seg_no;
    }
    pthread_mutex_unlock (&self->append_mutex);
    if (rc)
        return rc;
    rc = tpc_log_sync (self, lsn);
    if (rc)
        return rc;
    /* the high-water file must name a segment that stays */
    pthread_mutex_lock (&self->hw_mutex);
    if (self->hw_present && self->hw_seg < marker_seg)
        rc = s_hw_write (self, marker_seg, self->hw_value);
    pthread_mutex_unlock (&self->hw_mutex);
    if (!rc)
        rc = s_drop_segments (self, first, begin);
    pthread_mutex_lock (&self->append_mutex);
    if (rc)
        s_fail (self, rc);      /* a failed directory fsync is never retried */
    else
        self->first_seg = begin;
    self->ckpt_seg = 0;
    pthread_mutex_unlock (&self->append_mutex);
    return rc;
}

/*  --------------------------------------------------------------------
 *  Open and destroy
 */

/*  Remove *.tpclog.tmp leftovers of an interrupted segment creation.     */
static int
s_remove_tmp (tpc_log_t *self, char *errbuf, size_t errlen)
{
    uint64_t *nos;
    size_t n;
    int rc = s_list (self->dir, S_TMP_SUFFIX, &nos, &n);
    for (size_t i = 0; !rc && i < n; i++) {
        char path[4096];
        s_seg_path (path, sizeof path, self->dir, nos[i], S_TMP_SUFFIX);
        if (self->io->unlink (self->io->ctx, path) < 0 && errno != ENOENT)
            rc = TPC_EIO;
    }
    if (!rc && n)
        rc = s_sync_dir (self->io, self->dir);
    free (nos);
    if (rc)
        s_errf (errbuf, errlen, "cannot remove temporary segment files in %s: %s",
                self->dir, tpc_strerror (rc));
    return rc;
}

/*  After pass 1 found a torn tail: cut it off, durably, and warn.        */
static int
s_cut_torn_tail (tpc_log_t *self, s_reader_t *r, char *errbuf, size_t errlen)
{
    const tpc_io_t *io = self->io;
    char path[4096];
    int rc = 0;
    uint64_t dropped = 0;
    size_t first_unlink = r->torn_idx + 1;
    if (r->torn_off == 0)
        first_unlink = r->torn_idx;     /* the segment header itself is bad */
    else {
        s_seg_path (path, sizeof path, self->dir, r->nos[r->torn_idx],
                    S_SEG_SUFFIX);
        dropped += r->size[r->torn_idx] - r->torn_off;
        int fd = io->open (io->ctx, path, O_RDWR, 0);
        if (fd < 0
            || io->ftruncate (io->ctx, fd, (off_t) r->torn_off) < 0
            || io->fsync (io->ctx, fd) < 0)
            rc = s_errno_code (errno);
        if (fd >= 0)
            io->close (io->ctx, fd);
        if (rc)
            goto cleanup;
        r->size[r->torn_idx] = r->torn_off;
    }
    for (size_t i = first_unlink; i < r->n; i++) {
        s_seg_path (path, sizeof path, self->dir, r->nos[i], S_SEG_SUFFIX);
        dropped += r->size[i];
        if (io->unlink (io->ctx, path) < 0) {
            rc = s_errno_code (errno);
            goto cleanup;
        }
    }
    if (first_unlink < r->n)
        rc = s_sync_dir (io, self->dir);
    r->n = first_unlink < r->n ? first_unlink : r->n;
cleanup:
    if (rc) {
        s_errf (errbuf, errlen, "cannot cut the torn tail of %s: %s",
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

/*  Open segment T (the tail) for appending after its last valid record,
 *  and make its valid bytes durable for real: write them again, exactly
 *  as pass 1 read them (so the pages are dirty once more), then fdatasync.
 *  A plain fdatasync would not do: after an fdatasync that failed, the
 *  kernel may have marked the pages clean while they never reached the
 *  disk (the error is reported once, to one file descriptor), and a later
 *  fdatasync returns 0 without writing them.                            */
static int
s_open_tail (tpc_log_t *self, s_reader_t *r, size_t t, char *errbuf,
             size_t errlen)
{
    const tpc_io_t *io = self->io;
    char path[4096];
    s_seg_path (path, sizeof path, self->dir, r->nos[t], S_SEG_SUFFIX);
    size_t size;
    int rc = s_reader_load (r, t, &size, errbuf, errlen);
    if (rc)
        return rc;
    if (size < r->end[t]) {
        s_errf (errbuf, errlen, "%s changed while the log was opened", path);
        return TPC_ELOG_CORRUPT;
    }
    if (r->hdr_first[t] == 0)   /* a spare whose start was cut short */
        s_seg_header_encode (r->buf, r->nos[t], r->start_lsn[t]);
    self->seg_fd = io->open (io->ctx, path, O_RDWR, 0);
    if (self->seg_fd < 0) {
        rc = s_errno_code (errno);
        s_errf (errbuf, errlen, "cannot open %s: %s", path, strerror (errno));
        return rc;
    }
    const char *what = "write";
    rc = s_write_all (io, self->seg_fd, r->buf, r->end[t], 0);
    if (!rc) {
        what = "fdatasync";
        atomic_fetch_add (&self->sync_count, 1);
        if (io->fdatasync (io->ctx, self->seg_fd) < 0)
            rc = s_errno_code (errno);
    }
    if (rc) {
        s_errf (errbuf, errlen, "cannot make the tail of the log durable "
                "before replaying it: %s of the %" PRIu64 " valid bytes of "
                "%s failed (%s); nothing was replayed: check the disk, then "
                "start again", what, r->end[t], path, tpc_strerror (rc));
        return rc;
    }
    self->seg_no = r->nos[t];
    self->seg_off = r->end[t];
    self->seg_cap = r->size[t];
    return 0;
}

/*  Segments after the tail T are spares (not started, no records): keep
 *  the one numbered T+1 if it has the configured size, remove the rest.
 *  The directory is fsync()ed: a kept spare's name may not be durable
 *  yet if the preparer died just after renaming it.  Then only [0, T]
 *  are read again.                                                      */
static int
s_open_spares (tpc_log_t *self, s_reader_t *r, size_t t, char *errbuf,
               size_t errlen)
{
    const tpc_io_t *io = self->io;
    int rc = 0;
    for (size_t i = t + 1; i < r->nkeep && !rc; i++) {
        char path[4096];
        s_seg_path (path, sizeof path, self->dir, r->nos[i], S_SEG_SUFFIX);
        if (i == t + 1 && r->size[i] == self->segment_bytes) {
            self->spare_fd = io->open (io->ctx, path, O_RDWR, 0);
            if (self->spare_fd < 0)
                rc = s_errno_code (errno);
            else
                self->spare_no = r->nos[i];
        }
        else if (io->unlink (io->ctx, path) < 0)
            rc = s_errno_code (errno);
    }
    if (!rc && t + 1 < r->nkeep)
        rc = s_sync_dir (io, self->dir);
    if (rc)
        s_errf (errbuf, errlen, "cannot take over the spare segments in %s: "
                "%s", self->dir, tpc_strerror (rc));
    r->nkeep = t + 1;
    return rc;
}

int
tpc_log_open (const tpc_log_config_t *cfg, tpc_log_replay_fn *fn, void *arg,
              tpc_log_t **out, char *errbuf, size_t errlen)
{
    s_reader_t r;
    memset (&r, 0, sizeof r);
    if (!cfg || !cfg->dir || !*cfg->dir || !out
        || (cfg->segment_bytes && cfg->segment_bytes < S_SEGMENT_MIN)) {
        s_errf (errbuf, errlen, "invalid log configuration (directory missing "
                "or segment_bytes below %d)", S_SEGMENT_MIN);
        return TPC_EINVAL;
    }
    *out = NULL;
    int rc = 0;
    tpc_log_t *self = calloc (1, sizeof *self);
    if (!self || !(self->dir = strdup (cfg->dir))) {
        free (self);
        s_errf (errbuf, errlen, "out of memory");
        return TPC_ENOMEM;
    }
    self->io = cfg->io ? cfg->io : tpc_io_posix ();
    self->segment_bytes = cfg->segment_bytes ? cfg->segment_bytes
                          : TPC_LOG_SEGMENT_BYTES_DEFAULT;
    self->warn = cfg->warn ? cfg->warn : s_default_warn;
    self->warn_arg = cfg->warn_arg;
    self->lock_fd = -1;
    self->seg_fd = -1;
    self->spare_fd = -1;
    self->seg_synced = true;    /* open syncs the tail it appends to */
    /* adaptive: spin briefly first, the holder is in a short pwrite */
    pthread_mutexattr_t attr;
    pthread_mutexattr_init (&attr);
    pthread_mutexattr_settype (&attr, PTHREAD_MUTEX_ADAPTIVE_NP);
    pthread_mutex_init (&self->append_mutex, &attr);
    pthread_mutex_init (&self->sync_mutex, &attr);
    pthread_mutexattr_destroy (&attr);
    pthread_cond_init (&self->sync_cond, NULL);
    pthread_mutex_init (&self->spare_mutex, NULL);
    pthread_cond_init (&self->spare_cond, NULL);
    pthread_mutex_init (&self->hw_mutex, NULL);
    if (cfg->cut)
        memset (cfg->cut, 0, sizeof *cfg->cut);
    const tpc_io_t *io = self->io;

    if (mkdir (self->dir, 0755) == 0)
        rc = s_sync_parent (io, self->dir);     /* the new name lasts */
    else if (errno != EEXIST)
        rc = errno == ENOENT ? TPC_ENOENT : s_errno_code (errno);
    if (rc) {
        s_errf (errbuf, errlen, "cannot create log directory %s: %s",
                self->dir, rc == TPC_ENOENT ? "parent directory missing"
                : tpc_strerror (rc));
        goto cleanup;
    }
    char path[4096];
    snprintf (path, sizeof path, "%s/LOCK", self->dir);
    self->lock_fd = io->open (io->ctx, path, O_RDWR | O_CREAT, 0644);
    if (self->lock_fd < 0) {
        rc = s_errno_code (errno);
        s_errf (errbuf, errlen, "cannot open %s: %s", path, strerror (errno));
        goto cleanup;
    }
    if (flock (self->lock_fd, LOCK_EX | LOCK_NB) < 0) {
        rc = errno == EWOULDBLOCK ? TPC_ELOG_LOCKED : TPC_EIO;
        s_errf (errbuf, errlen, "cannot lock %s: %s%s", path, strerror (errno),
                rc == TPC_ELOG_LOCKED ? " (another process has this log open;"
                " stop it first)" : "");
        goto cleanup;
    }
    rc = s_remove_tmp (self, errbuf, errlen);
    if (rc)
        goto cleanup;

    rc = s_reader_open (&r, io, self->dir, errbuf, errlen);
    if (rc)
        goto cleanup;
    self->hw_present = r.hw_present;
    self->hw_seg = r.hw_seg;
    self->hw_value = r.hw_value;
    if (r.torn) {
        rc = s_cut_report (&r, cfg->cut_fn, cfg->cut_arg, cfg->cut, errbuf,
                           errlen);
        if (!rc)
            rc = s_cut_torn_tail (self, &r, errbuf, errlen);
        if (rc)
            goto cleanup;
    }
    if (r.nkeep) {
        /* the tail: the last segment started or holding records (the
         * first one always is); any after it are spares               */
        size_t t = r.nkeep - 1;
        while (t > 0 && r.hdr_first[t] == 0 && r.end[t] == S_SEG_HDR)
            t--;
        /* the tail's bytes become durable for real before replay */
        rc = s_open_tail (self, &r, t, errbuf, errlen);
        if (!rc)
            rc = s_open_spares (self, &r, t, errbuf, errlen);
        if (rc)
            goto cleanup;
    }
    /* replay from the newest complete checkpoint */
    size_t from = 0;
    while (r.ckpt_seg && from < r.nkeep && r.nos[from] < r.ckpt_seg)
        from++;
    rc = s_replay (&r, from, false, fn, arg, errbuf, errlen);
    if (rc)
        goto cleanup;
    self->last_lsn = self->durable_lsn = r.next_lsn - 1;
    atomic_store (&self->written_lsn, self->last_lsn);
    self->first_seg = r.nkeep ? r.nos[0] : 0;
    if (r.ckpt_seg > self->first_seg) {
        /* crashed between a checkpoint marker and the unlinks: finish
         * (the high-water file first: it must name a segment that stays) */
        if (self->hw_present && self->hw_seg < r.ckpt_seg)
            rc = s_hw_write (self, r.ckpt_seg, self->hw_value);
        if (!rc)
            rc = s_drop_segments (self, self->first_seg, r.ckpt_seg);
        if (rc) {
            s_errf (errbuf, errlen, "cannot remove segments before the "
                    "checkpoint in %s: %s", self->dir, tpc_strerror (rc));
            goto cleanup;
        }
        self->first_seg = r.ckpt_seg;
    }

    if (!r.nkeep) {
        /* empty directory, or every segment was cut */
        uint64_t no = r.nos ? r.nos[0] : 1;
        rc = s_segment_create (self, no, r.next_lsn, &self->seg_fd);
        if (rc) {
            s_errf (errbuf, errlen, "cannot create the first segment in %s: %s",
                    self->dir, tpc_strerror (rc));
            goto cleanup;
        }
        self->seg_no = self->first_seg = no;
        self->seg_off = S_SEG_HDR;
        self->seg_cap = self->segment_bytes;
    }
    if (self->hw_present && self->hw_seg > self->seg_no) {
        /* the cut took the segment it named: it names the tail now */
        rc = s_hw_write (self, self->seg_no, self->hw_value);
        if (rc) {
            s_errf (errbuf, errlen, "cannot update %s/" S_HW_NAME ": %s",
                    self->dir, tpc_strerror (rc));
            goto cleanup;
        }
    }
    /* prepare the next segment now, long before a rotation needs it */
    self->spare_want = self->seg_no + 1;
    if (pthread_create (&self->preparer, NULL, s_preparer, self)) {
        rc = TPC_ENOMEM;
        s_errf (errbuf, errlen, "cannot start the segment preparer thread");
        goto cleanup;
    }
    self->preparer_running = true;
    *out = self;
    self = NULL;
cleanup:
    s_reader_free (&r);
    tpc_log_destroy (&self);
    return rc;
}

void
tpc_log_destroy (tpc_log_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    tpc_log_t *self = *self_p;
    if (self->preparer_running) {
        pthread_mutex_lock (&self->spare_mutex);
        self->stop = true;
        atomic_store (&self->stopping, true);
        pthread_cond_broadcast (&self->spare_cond);
        pthread_mutex_unlock (&self->spare_mutex);
        pthread_join (self->preparer, NULL);
    }
    if (self->spare_fd >= 0) {
        /* a healthy log leaves no spare behind; should this unlink not
         * last (no directory fsync), the next open takes the spare over */
        self->io->close (self->io->ctx, self->spare_fd);
        if (!atomic_load (&self->err)) {
            char path[4096];
            s_seg_path (path, sizeof path, self->dir, self->spare_no,
                        S_SEG_SUFFIX);
            self->io->unlink (self->io->ctx, path);
        }
    }
    if (self->seg_fd >= 0)
        self->io->close (self->io->ctx, self->seg_fd);
    if (self->lock_fd >= 0)
        self->io->close (self->io->ctx, self->lock_fd);
    pthread_mutex_destroy (&self->append_mutex);
    pthread_mutex_destroy (&self->sync_mutex);
    pthread_cond_destroy (&self->sync_cond);
    pthread_mutex_destroy (&self->spare_mutex);
    pthread_cond_destroy (&self->spare_cond);
    pthread_mutex_destroy (&self->hw_mutex);
    free (self->buf);
    free (self->dir);
    free (self);
    *self_p = NULL;
}
