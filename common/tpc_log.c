/*  tpc_log: the durable decision log (contract in tpc_log.h).
 *
 *  This file owns the byte format below, the small I/O helpers, record
 *  encoding, directory listing, and open/destroy.  The rest of the module
 *  (all over tpc_log_int.h): tpc_log_read.c reads and verifies (READING
 *  below), tpc_log_write.c appends, syncs, rotates and checkpoints
 *  (WRITING), tpc_log_hw.c keeps the HIGHWATER file.
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
#include "tpc_log_int.h"

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

bool
tpcl_all_zero (const uint8_t *p, size_t n)
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

int
tpcl_errno_code (int e)
{
    return e == ENOSPC || e == EDQUOT ? TPC_ENOSPC : TPC_EIO;
}

void
tpcl_errf (char *errbuf, size_t errlen, const char *fmt, ...)
{
    if (!errbuf || errlen == 0)
        return;
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (errbuf, errlen, fmt, ap);
    va_end (ap);
}

void
tpcl_default_warn (void *arg, const char *text)
{
    (void) arg;
    fprintf (stderr, "tpc_log: warning: %s\n", text);
}

void
tpcl_seg_path (char *buf, size_t size, const char *dir, uint64_t no,
               const char *suffix)
{
    snprintf (buf, size, "%s/%020" PRIu64 "%s", dir, no, suffix);
}

/*  Write all N bytes at OFF, looping over short writes.  0 or a code.    */
int
tpcl_write_all (const tpc_io_t *io, int fd, const void *buf, size_t n, uint64_t off)
{
    const uint8_t *p = buf;
    while (n > 0) {
        ssize_t w = io->pwrite (io->ctx, fd, p, n, (off_t) off);
        if (w < 0)
            return tpcl_errno_code (errno);
        if (w == 0)
            return TPC_EIO;
        p += w;
        n -= (size_t) w;
        off += (uint64_t) w;
    }
    return 0;
}

/*  fsync the directory so creations, renames and unlinks in it last.     */
int
tpcl_sync_dir (const tpc_io_t *io, const char *dir)
{
    int fd = io->open (io->ctx, dir, O_RDONLY | O_DIRECTORY, 0);
    if (fd < 0)
        return tpcl_errno_code (errno);
    int rc = io->fsync (io->ctx, fd) < 0 ? tpcl_errno_code (errno) : 0;
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
    return tpcl_sync_dir (io, parent);
}

/*  Read the whole file at PATH into *BUF (grown as needed; *SIZE gets the
 *  byte count).  0, TPC_ENOENT, TPC_ENOMEM or TPC_EIO.                   */
int
tpcl_read_file (const tpc_io_t *io, const char *path, uint8_t **buf,
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

size_t
tpcl_rec_size (size_t len)
{
    return TPCL_REC_HDR + len + TPCL_REC_CRC;
}

void
tpcl_block32_encode (uint8_t *h, const char *magic, uint64_t a, uint64_t b)
{
    memset (h, 0, 32);
    memcpy (h, magic, 4);
    tpc_le_put16 (h + 4, TPCL_FORMAT);
    tpc_le_put16 (h + 6, 32);
    tpc_le_put64 (h + 8, a);
    tpc_le_put64 (h + 16, b);
    tpc_le_put32 (h + 28, tpc_crc32c (0, h, 28));
}

void
tpcl_seg_header_encode (uint8_t *h, uint64_t no, uint64_t first_lsn)
{
    tpcl_block32_encode (h, TPCL_SEG_MAGIC, no, first_lsn);
}

size_t
tpcl_encode_record (uint8_t *out, uint8_t type, uint64_t lsn, const void *payload,
                    size_t len)
{
    out[0] = TPCL_REC_MAGIC;
    out[1] = TPCL_FORMAT;
    out[2] = type;
    out[3] = 0;
    tpc_le_put32 (out + 4, (uint32_t) len);
    tpc_le_put64 (out + 8, lsn);
    if (len)
        memcpy (out + TPCL_REC_HDR, payload, len);
    tpc_le_put32 (out + TPCL_REC_HDR + len, tpc_crc32c (0, out, TPCL_REC_HDR + len));
    return tpcl_rec_size (len);
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
    for (int i = 0; i < TPCL_NAME_DIGITS; i++)
        if (name[i] < '0' || name[i] > '9')
            return 0;
    if (strcmp (name + TPCL_NAME_DIGITS, suffix))
        return 0;
    uint64_t v = 0;
    for (int i = 0; i < TPCL_NAME_DIGITS; i++) {
        unsigned d = (unsigned) (name[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    return v;
}

/*  Sorted numbers of the files in DIR named with SUFFIX.                 */
int
tpcl_list (const char *dir, const char *suffix, uint64_t **out, size_t *n)
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
 *  Open and destroy
 */

/*  Remove *.tpclog.tmp leftovers of an interrupted segment creation.     */
static int
s_remove_tmp (tpc_log_t *self, char *errbuf, size_t errlen)
{
    uint64_t *nos;
    size_t n;
    int rc = tpcl_list (self->dir, TPCL_TMP_SUFFIX, &nos, &n);
    for (size_t i = 0; !rc && i < n; i++) {
        char path[4096];
        tpcl_seg_path (path, sizeof path, self->dir, nos[i], TPCL_TMP_SUFFIX);
        if (self->io->unlink (self->io->ctx, path) < 0 && errno != ENOENT)
            rc = TPC_EIO;
    }
    if (!rc && n)
        rc = tpcl_sync_dir (self->io, self->dir);
    free (nos);
    if (rc)
        tpcl_errf (errbuf, errlen, "cannot remove temporary segment files in %s: %s",
                   self->dir, tpc_strerror (rc));
    return rc;
}

/*  Open segment T (the tail) for appending after its last valid record,
 *  and make its valid bytes durable for real: write them again, exactly
 *  as pass 1 read them (so the pages are dirty once more), then fdatasync.
 *  A plain fdatasync would not do: after an fdatasync that failed, the
 *  kernel may have marked the pages clean while they never reached the
 *  disk (the error is reported once, to one file descriptor), and a later
 *  fdatasync returns 0 without writing them.                            */
static int
s_open_tail (tpc_log_t *self, tpcl_reader_t *r, size_t t, char *errbuf,
             size_t errlen)
{
    const tpc_io_t *io = self->io;
    char path[4096];
    tpcl_seg_path (path, sizeof path, self->dir, r->nos[t], TPCL_SEG_SUFFIX);
    size_t size;
    int rc = tpcl_reader_load (r, t, &size, errbuf, errlen);
    if (rc)
        return rc;
    if (size < r->end[t]) {
        tpcl_errf (errbuf, errlen, "%s changed while the log was opened", path);
        return TPC_ELOG_CORRUPT;
    }
    if (r->hdr_first[t] == 0)   /* a spare whose start was cut short */
        tpcl_seg_header_encode (r->buf, r->nos[t], r->start_lsn[t]);
    self->seg_fd = io->open (io->ctx, path, O_RDWR, 0);
    if (self->seg_fd < 0) {
        rc = tpcl_errno_code (errno);
        tpcl_errf (errbuf, errlen, "cannot open %s: %s", path, strerror (errno));
        return rc;
    }
    const char *what = "write";
    rc = tpcl_write_all (io, self->seg_fd, r->buf, r->end[t], 0);
    if (!rc) {
        what = "fdatasync";
        atomic_fetch_add (&self->sync_count, 1);
        if (io->fdatasync (io->ctx, self->seg_fd) < 0)
            rc = tpcl_errno_code (errno);
    }
    if (rc) {
        tpcl_errf (errbuf, errlen, "cannot make the tail of the log durable "
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
s_open_spares (tpc_log_t *self, tpcl_reader_t *r, size_t t, char *errbuf,
               size_t errlen)
{
    const tpc_io_t *io = self->io;
    int rc = 0;
    for (size_t i = t + 1; i < r->nkeep && !rc; i++) {
        char path[4096];
        tpcl_seg_path (path, sizeof path, self->dir, r->nos[i], TPCL_SEG_SUFFIX);
        if (i == t + 1 && r->size[i] == self->segment_bytes) {
            self->spare_fd = io->open (io->ctx, path, O_RDWR, 0);
            if (self->spare_fd < 0)
                rc = tpcl_errno_code (errno);
            else
                self->spare_no = r->nos[i];
        }
        else if (io->unlink (io->ctx, path) < 0)
            rc = tpcl_errno_code (errno);
    }
    if (!rc && t + 1 < r->nkeep)
        rc = tpcl_sync_dir (io, self->dir);
    if (rc)
        tpcl_errf (errbuf, errlen, "cannot take over the spare segments in %s: "
                   "%s", self->dir, tpc_strerror (rc));
    r->nkeep = t + 1;
    return rc;
}

/*  A log with CFG's settings and its locks, nothing opened yet; NULL when
 *  out of memory.                                                       */
static tpc_log_t *
s_new (const tpc_log_config_t *cfg)
{
    tpc_log_t *self = calloc (1, sizeof *self);
    if (!self || !(self->dir = strdup (cfg->dir))) {
        free (self);
        return NULL;
    }
    self->io = cfg->io ? cfg->io : tpc_io_posix ();
    self->segment_bytes = cfg->segment_bytes ? cfg->segment_bytes
                          : TPC_LOG_SEGMENT_BYTES_DEFAULT;
    self->warn = cfg->warn ? cfg->warn : tpcl_default_warn;
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
    return self;
}

/*  Make the log directory (durably) if it is missing, take its LOCK and
 *  remove the .tmp leftovers.  0 or a code with a sentence.             */
static int
s_lock_dir (tpc_log_t *self, char *errbuf, size_t errlen)
{
    const tpc_io_t *io = self->io;
    int rc = 0;
    if (mkdir (self->dir, 0755) == 0)
        rc = s_sync_parent (io, self->dir);     /* the new name lasts */
    else if (errno != EEXIST)
        rc = errno == ENOENT ? TPC_ENOENT : tpcl_errno_code (errno);
    if (rc) {
        tpcl_errf (errbuf, errlen, "cannot create log directory %s: %s",
                   self->dir, rc == TPC_ENOENT ? "parent directory missing"
                   : tpc_strerror (rc));
        return rc;
    }
    char path[4096];
    snprintf (path, sizeof path, "%s/LOCK", self->dir);
    self->lock_fd = io->open (io->ctx, path, O_RDWR | O_CREAT, 0644);
    if (self->lock_fd < 0) {
        rc = tpcl_errno_code (errno);
        tpcl_errf (errbuf, errlen, "cannot open %s: %s", path,
                   strerror (errno));
        return rc;
    }
    if (flock (self->lock_fd, LOCK_EX | LOCK_NB) < 0) {
        rc = errno == EWOULDBLOCK ? TPC_ELOG_LOCKED : TPC_EIO;
        tpcl_errf (errbuf, errlen, "cannot lock %s: %s%s", path,
                   strerror (errno), rc == TPC_ELOG_LOCKED
                   ? " (another process has this log open; stop it first)"
                   : "");
        return rc;
    }
    return s_remove_tmp (self, errbuf, errlen);
}

/*  After replay: finish a checkpoint a crash interrupted, create the
 *  first segment if none is left, point HIGHWATER at a segment that
 *  exists, and start the preparer.  0 or a code with a sentence.        */
static int
s_open_finish (tpc_log_t *self, tpcl_reader_t *r, char *errbuf,
               size_t errlen)
{
    int rc = 0;
    self->last_lsn = self->durable_lsn = r->next_lsn - 1;
    atomic_store (&self->written_lsn, self->last_lsn);
    self->first_seg = r->nkeep ? r->nos[0] : 0;
    if (r->ckpt_seg > self->first_seg) {
        /* crashed between a checkpoint marker and the unlinks: finish
         * (the high-water file first: it must name a segment that stays) */
        if (self->hw_present && self->hw_seg < r->ckpt_seg)
            rc = tpcl_hw_write (self, r->ckpt_seg, self->hw_value);
        if (!rc)
            rc = tpcl_drop_segments (self, self->first_seg, r->ckpt_seg);
        if (rc) {
            tpcl_errf (errbuf, errlen, "cannot remove segments before the "
                       "checkpoint in %s: %s", self->dir, tpc_strerror (rc));
            return rc;
        }
        self->first_seg = r->ckpt_seg;
    }
    if (!r->nkeep) {
        /* empty directory, or every segment was cut */
        uint64_t no = r->nos ? r->nos[0] : 1;
        rc = tpcl_segment_create (self, no, r->next_lsn, &self->seg_fd);
        if (rc) {
            tpcl_errf (errbuf, errlen, "cannot create the first segment in "
                       "%s: %s", self->dir, tpc_strerror (rc));
            return rc;
        }
        self->seg_no = self->first_seg = no;
        self->seg_off = TPCL_SEG_HDR;
        self->seg_cap = self->segment_bytes;
    }
    if (self->hw_present && self->hw_seg > self->seg_no) {
        /* the cut took the segment it named: it names the tail now */
        rc = tpcl_hw_write (self, self->seg_no, self->hw_value);
        if (rc) {
            tpcl_errf (errbuf, errlen, "cannot update %s/" TPCL_HW_NAME
                       ": %s", self->dir, tpc_strerror (rc));
            return rc;
        }
    }
    /* prepare the next segment now, long before a rotation needs it */
    self->spare_want = self->seg_no + 1;
    if (pthread_create (&self->preparer, NULL, tpcl_preparer, self)) {
        tpcl_errf (errbuf, errlen, "cannot start the segment preparer thread");
        return TPC_ENOMEM;
    }
    self->preparer_running = true;
    return 0;
}

int
tpc_log_open (const tpc_log_config_t *cfg, tpc_log_replay_fn *fn, void *arg,
              tpc_log_t **out, char *errbuf, size_t errlen)
{
    tpcl_reader_t r;
    memset (&r, 0, sizeof r);
    if (!cfg || !cfg->dir || !*cfg->dir || !out
        || (cfg->segment_bytes && cfg->segment_bytes < TPCL_SEGMENT_MIN)) {
        tpcl_errf (errbuf, errlen, "invalid log configuration (directory "
                   "missing or segment_bytes below %d)", TPCL_SEGMENT_MIN);
        return TPC_EINVAL;
    }
    *out = NULL;
    tpc_log_t *self = s_new (cfg);
    if (!self) {
        tpcl_errf (errbuf, errlen, "out of memory");
        return TPC_ENOMEM;
    }
    if (cfg->cut)
        memset (cfg->cut, 0, sizeof *cfg->cut);
    int rc = s_lock_dir (self, errbuf, errlen);
    if (rc)
        goto cleanup;
    rc = tpcl_reader_open (&r, self->io, self->dir, errbuf, errlen);
    if (rc)
        goto cleanup;
    self->hw_present = r.hw_present;
    self->hw_seg = r.hw_seg;
    self->hw_value = r.hw_value;
    if (r.torn) {
        rc = tpcl_cut_report (&r, cfg->cut_fn, cfg->cut_arg, cfg->cut, errbuf,
                              errlen);
        if (!rc)
            rc = tpcl_cut_torn_tail (self, &r, errbuf, errlen);
        if (rc)
            goto cleanup;
    }
    if (r.nkeep) {
        /* the tail: the last segment started or holding records (the
         * first one always is); any after it are spares               */
        size_t t = r.nkeep - 1;
        while (t > 0 && r.hdr_first[t] == 0 && r.end[t] == TPCL_SEG_HDR)
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
    rc = tpcl_replay (&r, from, false, fn, arg, errbuf, errlen);
    if (!rc)
        rc = s_open_finish (self, &r, errbuf, errlen);
    if (!rc) {
        *out = self;
        self = NULL;
    }
cleanup:
    tpcl_reader_free (&r);
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
            tpcl_seg_path (path, sizeof path, self->dir, self->spare_no,
                           TPCL_SEG_SUFFIX);
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

