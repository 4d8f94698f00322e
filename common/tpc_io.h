/*  tpc_io: the file I/O seam.
 *
 *  Everything tpc_log does to files goes through one of these function
 *  tables, so tests can inject short writes, EIO/ENOSPC on write or
 *  fdatasync, and a crash after the Nth write.  Functions follow the POSIX
 *  call of the same name: they return -1 and set errno on failure.
 */
#ifndef TPC_IO_H
#define TPC_IO_H

#include <sys/types.h>

typedef struct tpc_io {
    int (*open) (void *ctx, const char *path, int flags, mode_t mode);
    int (*close) (void *ctx, int fd);
    ssize_t (*pwrite) (void *ctx, int fd, const void *buf, size_t n, off_t off);
    ssize_t (*pread) (void *ctx, int fd, void *buf, size_t n, off_t off);
    int (*fdatasync) (void *ctx, int fd);
    int (*fsync) (void *ctx, int fd);
    int (*ftruncate) (void *ctx, int fd, off_t len);
    int (*rename) (void *ctx, const char *from, const char *to);
    int (*unlink) (void *ctx, const char *path);
    void *ctx;
} tpc_io_t;

/*  The plain POSIX implementation (static, never freed).                 */
const tpc_io_t *tpc_io_posix (void);

#endif
