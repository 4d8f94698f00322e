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
