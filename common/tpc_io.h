/*  tpc_io: the file I/O seam.
 *
 *  Everything tpc_log does to files goes through one of these function
 *  tables, so tests can inject short writes, EIO/ENOSPC on write or
 *  fdatasync, and a crash after the Nth write.  Functions follow the POSIX
 *  call of the same name: they return -1 and set errno on failure.
 */
#ifndef TPC_IO_H
#define TPC_IO_H

#include <stdbool.h>
#include <stdint.h>
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

/*  A failing disk, for tests and test hooks: a table that passes every
 *  call to BASE except that, once armed, fdatasync fails with EIO (as a
 *  dying disk's would) without calling BASE.  Give &fs->io to tpc_log.
 *  Only fdatasync is faulted (fsync, used for directories, is not).      */
typedef struct {
    tpc_io_t io;                /* first: a tpc_io_t * is a failsync * */
    const tpc_io_t *base;       /* the I/O underneath (tpc_io_posix) */
    uint64_t syncs;             /* fdatasync calls seen, failed or not */
    uint64_t fail_at;           /* armed: syncs at which failing starts;
                                   0 disarmed */
    bool once;                  /* only that one sync fails */
    const char *say;            /* not NULL: "SAY #<k> fails with EIO"
                                   on stderr for each failed sync (k
                                   counted from the arming) */
    uint64_t armed_at;          /* syncs when armed */
} tpc_io_failsync_t;

/*  Pass-through over BASE (NULL = tpc_io_posix()), disarmed.             */
void tpc_io_failsync_init (tpc_io_failsync_t *self, const tpc_io_t *base);

/*  Arm: the NTH fdatasync from now on (1 = the next one) fails, and every
 *  later one too, or with ONCE only that one.  NTH 0 disarms.            */
void tpc_io_failsync_arm (tpc_io_failsync_t *self, uint64_t nth, bool once);

#endif
