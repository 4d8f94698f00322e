/*  tpc_io: the plain POSIX file I/O table (see tpc_io.h).
 *
 *  Thin wrappers: each returns what the system call returns.  Calls that
 *  an interrupting signal can break (EINTR) are restarted; nothing else is
 *  retried here, in particular never a failed fdatasync/fsync.
 */
#include "tpc_io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

static int
s_open (void *ctx, const char *path, int flags, mode_t mode)
{
    (void) ctx;
    int fd;
    do
        fd = open (path, flags | O_CLOEXEC, mode);
    while (fd < 0 && errno == EINTR);
    return fd;
}

static int
s_close (void *ctx, int fd)
{
    (void) ctx;
    return close (fd);   /* never retried: the fd is gone either way */
}

static ssize_t
s_pwrite (void *ctx, int fd, const void *buf, size_t n, off_t off)
{
    (void) ctx;
    ssize_t r;
    do
        r = pwrite (fd, buf, n, off);
    while (r < 0 && errno == EINTR);
    return r;
}

static ssize_t
s_pread (void *ctx, int fd, void *buf, size_t n, off_t off)
{
    (void) ctx;
    ssize_t r;
    do
        r = pread (fd, buf, n, off);
    while (r < 0 && errno == EINTR);
    return r;
}

static int
s_fdatasync (void *ctx, int fd)
{
    (void) ctx;
    return fdatasync (fd);
}

static int
s_fsync (void *ctx, int fd)
{
    (void) ctx;
    return fsync (fd);
}

static int
s_ftruncate (void *ctx, int fd, off_t len)
{
    (void) ctx;
    int r;
    do
        r = ftruncate (fd, len);
    while (r < 0 && errno == EINTR);
    return r;
}

static int
s_rename (void *ctx, const char *from, const char *to)
{
    (void) ctx;
    return rename (from, to);
}

static int
s_unlink (void *ctx, const char *path)
{
    (void) ctx;
    return unlink (path);
}

static const tpc_io_t s_posix = {
    .open = s_open,
    .close = s_close,
    .pwrite = s_pwrite,
    .pread = s_pread,
    .fdatasync = s_fdatasync,
    .fsync = s_fsync,
    .ftruncate = s_ftruncate,
    .rename = s_rename,
    .unlink = s_unlink,
    .ctx = NULL,
};

const tpc_io_t *
tpc_io_posix (void)
{
    return &s_posix;
}

/* ---------------------------------------------------------------------
 *  tpc_io_failsync_t: BASE's calls, fdatasync failing once armed
 */

#define S_BASE(ctx) (((tpc_io_failsync_t *) (ctx))->base)

static int
s_fs_open (void *ctx, const char *path, int flags, mode_t mode)
{
    return S_BASE (ctx)->open (S_BASE (ctx)->ctx, path, flags, mode);
}

static int
s_fs_close (void *ctx, int fd)
{
    return S_BASE (ctx)->close (S_BASE (ctx)->ctx, fd);
}

static ssize_t
s_fs_pwrite (void *ctx, int fd, const void *buf, size_t n, off_t off)
{
    return S_BASE (ctx)->pwrite (S_BASE (ctx)->ctx, fd, buf, n, off);
}

static ssize_t
s_fs_pread (void *ctx, int fd, void *buf, size_t n, off_t off)
{
    return S_BASE (ctx)->pread (S_BASE (ctx)->ctx, fd, buf, n, off);
}

static int
s_fs_fdatasync (void *ctx, int fd)
{
    tpc_io_failsync_t *self = ctx;
    uint64_t k = ++self->syncs - self->armed_at;
    if (self->fail_at
        && (self->once ? self->syncs == self->fail_at
                       : self->syncs >= self->fail_at)) {
        if (self->say)
            fprintf (stderr, "%s #%llu fails with EIO\n", self->say,
                     (unsigned long long) k);
        errno = EIO;
        return -1;
    }
    return self->base->fdatasync (self->base->ctx, fd);
}

static int
s_fs_fsync (void *ctx, int fd)
{
    return S_BASE (ctx)->fsync (S_BASE (ctx)->ctx, fd);
}

static int
s_fs_ftruncate (void *ctx, int fd, off_t len)
{
    return S_BASE (ctx)->ftruncate (S_BASE (ctx)->ctx, fd, len);
}

static int
s_fs_rename (void *ctx, const char *from, const char *to)
{
    return S_BASE (ctx)->rename (S_BASE (ctx)->ctx, from, to);
}

static int
s_fs_unlink (void *ctx, const char *path)
{
    return S_BASE (ctx)->unlink (S_BASE (ctx)->ctx, path);
}

void
tpc_io_failsync_init (tpc_io_failsync_t *self, const tpc_io_t *base)
{
    *self = (tpc_io_failsync_t) {
        .io = { .open = s_fs_open, .close = s_fs_close,
                .pwrite = s_fs_pwrite, .pread = s_fs_pread,
                .fdatasync = s_fs_fdatasync, .fsync = s_fs_fsync,
                .ftruncate = s_fs_ftruncate, .rename = s_fs_rename,
                .unlink = s_fs_unlink, .ctx = self },
        .base = base ? base : tpc_io_posix ()
    };
}

void
tpc_io_failsync_arm (tpc_io_failsync_t *self, uint64_t nth, bool once)
{
    self->armed_at = self->syncs;
    self->fail_at = nth ? self->syncs + nth : 0;
    self->once = once;
}
