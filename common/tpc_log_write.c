/*  tpc_log_write: appending to the decision log (WRITING at the top of
 *  tpc_log.c).
 *
 *  Segment creation and the preparer thread that makes the next one
 *  ahead, group commit (leader/follower fdatasync), rotation, the FAILED
 *  state, and checkpoints (begin rotates, end logs the marker and drops
 *  older segments).
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
 *  Writing
 */

#define S_LEAD 1

/*  Create segment NO (FIRST_LSN: the first LSN it will hold, 0 for a
 *  spare not started yet), full size and zero-filled, durable in the
 *  directory: written as .tmp, fsync()ed, renamed, directory fsync()ed.
 *  *FD gets it open read-write.  Gives up (TPC_ESTATE) when the log is
 *  being destroyed.  On failure no file of that number is left behind.  */
int
tpcl_segment_create (tpc_log_t *self, uint64_t no, uint64_t first_lsn, int *fd)
{
    const tpc_io_t *io = self->io;
    char tmp[4096], path[4096];
    tpcl_seg_path (tmp, sizeof tmp, self->dir, no, TPCL_TMP_SUFFIX);
    tpcl_seg_path (path, sizeof path, self->dir, no, TPCL_SEG_SUFFIX);
    size_t chunk = self->segment_bytes < TPCL_ZERO_CHUNK
                   ? (size_t) self->segment_bytes : TPCL_ZERO_CHUNK;
    uint8_t *zeros = calloc (1, chunk);
    if (!zeros)
        return TPC_ENOMEM;
    int rc = 0;
    bool renamed = false;
    *fd = io->open (io->ctx, tmp, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (*fd < 0) {
        rc = tpcl_errno_code (errno);
        goto cleanup;
    }
    tpcl_seg_header_encode (zeros, no, first_lsn);
    for (uint64_t off = 0; off < self->segment_bytes && !rc; ) {
        if (atomic_load (&self->stopping)) {
            rc = TPC_ESTATE;
            break;
        }
        size_t n = self->segment_bytes - off < chunk
                   ? (size_t) (self->segment_bytes - off) : chunk;
        rc = tpcl_write_all (io, *fd, zeros, n, off);
        if (off == 0)
            memset (zeros, 0, TPCL_SEG_HDR);
        off += n;
        if (!rc && off < self->segment_bytes && io->fsync (io->ctx, *fd) < 0)
            rc = tpcl_errno_code (errno);
    }
    if (!rc && io->fsync (io->ctx, *fd) < 0)
        rc = tpcl_errno_code (errno);
    if (!rc && io->rename (io->ctx, tmp, path) < 0)
        rc = tpcl_errno_code (errno);
    renamed = !rc;
    if (!rc)
        rc = tpcl_sync_dir (io, self->dir);
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
void *
tpcl_preparer (void *arg)
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
        int rc = tpcl_segment_create (self, no, 0, &fd);
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
static tpcl_waiter_t *
s_wake_collect (tpc_log_t *self)
{
    int err = atomic_load (&self->err);
    tpcl_waiter_t *wake = NULL, **tail = &wake;
    tpcl_waiter_t **pp = &self->waiters;
    while (*pp) {
        tpcl_waiter_t *w = *pp;
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
        tpcl_waiter_t *w = self->waiters;
        self->waiters = w->next;
        w->result = S_LEAD;
        w->next = NULL;
        *tail = w;
    }
    pthread_cond_broadcast (&self->sync_cond);
    return wake;
}

static void
s_wake_post (tpcl_waiter_t *w)
{
    while (w) {
        tpcl_waiter_t *next = w->next;     /* W may vanish once posted */
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
    tpcl_waiter_t *wake = s_wake_collect (self);
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
    tpcl_waiter_t *wake = s_wake_collect (self);
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
            rc = tpcl_errno_code (errno);
    }
    bool synced = rc == 0 && need_sync;
    if (!rc) {
        /* start the spare: its header names its first LSN (made durable
         * by the fdatasync that first covers a record in it)           */
        uint8_t hdr[TPCL_SEG_HDR];
        tpcl_seg_header_encode (hdr, self->seg_no + 1, self->last_lsn + 1);
        rc = tpcl_write_all (self->io, fd, hdr, sizeof hdr, 0);
    }
    if (!rc) {
        self->io->close (self->io->ctx, self->seg_fd);
        self->seg_fd = fd;
        self->seg_no++;
        self->seg_off = TPCL_SEG_HDR;
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
    size_t size = tpcl_rec_size (len);
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
    tpcl_encode_record (self->buf, type, self->last_lsn + 1, payload, len);
    int rc = tpcl_write_all (self->io, self->seg_fd, self->buf, size, self->seg_off);
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
        || TPCL_SEG_HDR + tpcl_rec_size (len) > self->segment_bytes)
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
            tpcl_waiter_t w = { lsn, 0, { { 0 } }, self->waiters };
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
             ? tpcl_errno_code (errno) : 0;
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
int
tpcl_drop_segments (tpc_log_t *self, uint64_t from, uint64_t to)
{
    int rc = 0;
    for (uint64_t no = from; no < to; no++) {
        char path[4096];
        tpcl_seg_path (path, sizeof path, self->dir, no, TPCL_SEG_SUFFIX);
        if (self->io->unlink (self->io->ctx, path) < 0 && errno != ENOENT)
            rc = TPC_EIO;
    }
    if (from < to) {
        int r = tpcl_sync_dir (self->io, self->dir);
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
        rc = tpcl_hw_write (self, marker_seg, self->hw_value);
    pthread_mutex_unlock (&self->hw_mutex);
    if (!rc)
        rc = tpcl_drop_segments (self, first, begin);
    pthread_mutex_lock (&self->append_mutex);
    if (rc)
        s_fail (self, rc);      /* a failed directory fsync is never retried */
    else
        self->first_seg = begin;
    self->ckpt_seg = 0;
    pthread_mutex_unlock (&self->append_mutex);
    return rc;
}
