/*  tpc_log_hw: the HIGHWATER file of the decision log (byte layout at the
 *  top of tpc_log.c).
 *
 *  32 bytes holding the owner's number (the coordinator's epoch, never
 *  lowered) and a segment that must exist; replaced whole (temp file,
 *  fsync, rename, directory fsync).  Read and checked at open and scan.
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

/*  HIGHWATER: 32 bytes, magic "TPCH", version:u16, length:u16 (32),
 *  segment:u64, value:u64, reserved:u32, CRC-32C of bytes 0..27.        */
static void
s_hw_encode (uint8_t *h, uint64_t seg, uint64_t value)
{
    tpcl_block32_encode (h, TPCL_HW_MAGIC, seg, value);
}

/*  Read DIR's high-water file into R (absent: hw_present false).  0,
 *  TPC_ELOG_CORRUPT, TPC_ELOG_VERSION or an I/O code, with a sentence.  */
int
tpcl_hw_read (tpcl_reader_t *r, char *errbuf, size_t errlen)
{
    char path[4096];
    snprintf (path, sizeof path, "%s/" TPCL_HW_NAME, r->dir);
    uint8_t *buf = NULL;
    size_t cap = 0, size = 0;
    int rc = tpcl_read_file (r->io, path, &buf, &cap, &size);
    if (rc == TPC_ENOENT) {
        rc = 0;
        goto cleanup;
    }
    if (rc) {
        tpcl_errf (errbuf, errlen, "cannot read %s: %s", path, tpc_strerror (rc));
        goto cleanup;
    }
    if (size == TPCL_HW_SIZE && !memcmp (buf, TPCL_HW_MAGIC, 4)
        && tpc_le_get32 (buf + 28) == tpc_crc32c (0, buf, 28)
        && tpc_le_get16 (buf + 4) > TPCL_FORMAT) {
        tpcl_errf (errbuf, errlen, "%s was written by a newer format version "
                   "(%u); upgrade tpc to read it", path,
                   (unsigned) tpc_le_get16 (buf + 4));
        rc = TPC_ELOG_VERSION;
        goto cleanup;
    }
    if (size != TPCL_HW_SIZE || memcmp (buf, TPCL_HW_MAGIC, 4)
        || tpc_le_get32 (buf + 28) != tpc_crc32c (0, buf, 28)
        || tpc_le_get16 (buf + 4) != TPCL_FORMAT || tpc_le_get16 (buf + 6) != TPCL_HW_SIZE
        || tpc_le_get32 (buf + 24) != 0) {
        tpcl_errf (errbuf, errlen, "log corrupt: %s is damaged (it is replaced "
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
int
tpcl_hw_check (tpcl_reader_t *r, char *errbuf, size_t errlen)
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
    tpcl_errf (errbuf, errlen, "log corrupt: segment %" PRIu64 " is missing: "
               "%s/" TPCL_HW_NAME " says segment %" PRIu64 " held records, and "
               "the directory has %s; nothing was changed: put the missing "
               "segment back from a copy (starting without it needs "
               TPCL_HW_NAME " moved away and a new coordinator --id, since "
               "records, gids and epochs are lost with it)", r->hw_seg, r->dir,
               r->hw_seg, have);
    r->corrupt = true;
    return TPC_ELOG_CORRUPT;
}

/*  Replace HIGHWATER with (SEG, VALUE), durably: temp file, fsync,
 *  rename, directory fsync.  hw_mutex held (or open, single-threaded).  */
int
tpcl_hw_write (tpc_log_t *self, uint64_t seg, uint64_t value)
{
    const tpc_io_t *io = self->io;
    char tmp[4096], path[4096];
    snprintf (tmp, sizeof tmp, "%s/" TPCL_HW_NAME ".tmp", self->dir);
    snprintf (path, sizeof path, "%s/" TPCL_HW_NAME, self->dir);
    uint8_t h[TPCL_HW_SIZE];
    s_hw_encode (h, seg, value);
    int rc = 0;
    int fd = io->open (io->ctx, tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        rc = tpcl_errno_code (errno);
        goto cleanup;
    }
    rc = tpcl_write_all (io, fd, h, sizeof h, 0);
    if (!rc && io->fsync (io->ctx, fd) < 0)
        rc = tpcl_errno_code (errno);
    io->close (io->ctx, fd);
    if (!rc && io->rename (io->ctx, tmp, path) < 0)
        rc = tpcl_errno_code (errno);
    if (!rc)
        rc = tpcl_sync_dir (io, self->dir);
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
    int rc = tpcl_hw_write (self, seg, value);
    pthread_mutex_unlock (&self->hw_mutex);
    return rc;
}
