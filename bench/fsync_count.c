/*  fsync_count: an LD_PRELOAD shim that counts a process's fdatasync() and
 *  fsync() calls, for bench/run (the coordinator exposes no such counter).
 *
 *  bench/run compiles it (cc -shared -fPIC) and starts the coordinator with
 *  LD_PRELOAD=fsync_count.so TPC_FSYNC_COUNT_FILE=PATH.  Each call goes to
 *  libc's function unchanged and then adds 1 to a counter in PATH, mapped
 *  shared, so the counts can be read at any moment while the process runs
 *  (strace -c was tried first: on a loaded 2-core machine its stops cut the
 *  coordinator's throughput tenfold and changed its group-commit batches).
 *
 *  PATH: 16 bytes, two native-endian uint64: fdatasync calls, fsync calls
 *  (read with `od -An -t u8 -N 16 PATH`).  Without TPC_FSYNC_COUNT_FILE, or
 *  if PATH cannot be mapped, the shim only passes calls through.  A
 *  preload library has no caller to hand state to: the mapping is its one
 *  process-wide variable, set once in the constructor.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

static uint64_t *s_counts;          /* [0] fdatasync, [1] fsync; or NULL */

__attribute__ ((constructor)) static void
s_init (void)
{
    const char *path = getenv ("TPC_FSYNC_COUNT_FILE");
    if (!path || !*path)
        return;
    int fd = open (path, O_RDWR | O_CREAT, 0644);
    if (fd < 0)
        return;
    if (ftruncate (fd, 2 * sizeof (uint64_t)) == 0) {
        void *p = mmap (NULL, 2 * sizeof (uint64_t), PROT_READ | PROT_WRITE,
                        MAP_SHARED, fd, 0);
        if (p != MAP_FAILED)
            s_counts = p;
    }
    close (fd);
}

static int
s_call (const char *name, int fd, int which)
{
    int (*real) (int) = (int (*) (int)) dlsym (RTLD_NEXT, name);
    int rc = -1;
    if (real)
        rc = real (fd);
    else
        errno = ENOSYS;
    if (s_counts)
        __atomic_add_fetch (&s_counts[which], 1, __ATOMIC_RELAXED);
    return rc;
}

int
fdatasync (int fd)
{
    return s_call ("fdatasync", fd, 0);
}

int
fsync (int fd)
{
    return s_call ("fsync", fd, 1);
}
