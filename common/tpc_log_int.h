/*  tpc_log_int.h: what the files of the decision log share (not installed).
 *
 *  The log is one module over several files (SQLite-VDBE style):
 *    tpc_log.c        the byte format (documented at its top), small I/O
 *                     helpers, record encoding, open and destroy
 *    tpc_log_read.c   reading: pass 1 (verify), pass 2 (replay), scan,
 *                     torn and damaged tail detection and the cut
 *    tpc_log_write.c  appending, group commit, rotation, the preparer
 *                     thread, checkpoints
 *    tpc_log_hw.c     the HIGHWATER file
 *  Names with tpcl_ / TPCL_ are these files' shared internals; the public
 *  contract is tpc_log.h.
 */
#ifndef TPC_LOG_INT_H
#define TPC_LOG_INT_H

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tpc_log.h"

#define TPCL_SEG_MAGIC "TPCL"
#define TPCL_SEG_HDR 32
#define TPCL_REC_MAGIC 0xD7
#define TPCL_REC_HDR 16
#define TPCL_REC_CRC 4
#define TPCL_FORMAT 1
#define TPCL_SEG_SUFFIX ".tpclog"
#define TPCL_TMP_SUFFIX ".tpclog.tmp"
#define TPCL_NAME_DIGITS 20
#define TPCL_SEGMENT_MIN 64
#define TPCL_ZERO_CHUNK (1u << 20)
#define TPCL_SECTOR 512         /* a disk writes a sector whole or not */
#define TPCL_HW_NAME "HIGHWATER"
#define TPCL_HW_MAGIC "TPCH"
#define TPCL_HW_SIZE 32

/*  A tpc_log_sync caller asleep until its LSN is durable (it lives on
 *  that caller's stack).  Whoever wakes it unlinks it first and sets
 *  result: 0 durable, < 0 the log failed, S_LEAD go and run fdatasync.  */
typedef struct tpcl_waiter {
    uint64_t lsn;
    int result;
    sem_t sem;
    struct tpcl_waiter *next;
} tpcl_waiter_t;

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
    tpcl_waiter_t *waiters;        /* tpc_log_sync callers asleep */

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
} tpcl_reader_t;

/*  Helpers, record encoding and listing (tpc_log.c)  */
bool tpcl_all_zero (const uint8_t *p, size_t n);
int tpcl_errno_code (int e);
void tpcl_errf (char *errbuf, size_t errlen, const char *fmt, ...);
void tpcl_default_warn (void *arg, const char *text);
void tpcl_seg_path (char *buf, size_t size, const char *dir, uint64_t no,
                    const char *suffix);
int tpcl_write_all (const tpc_io_t *io, int fd, const void *buf, size_t n, uint64_t off);
int tpcl_sync_dir (const tpc_io_t *io, const char *dir);
int tpcl_read_file (const tpc_io_t *io, const char *path, uint8_t **buf,
                    size_t *cap, size_t *size);
size_t tpcl_rec_size (size_t len);
/*  The 32-byte block both a segment header and the HIGHWATER file are:
 *  MAGIC (4 bytes), format:u16, size:u16 (32), A:u64, B:u64,
 *  reserved:u32, CRC-32C of bytes 0..27.                                */
void tpcl_block32_encode (uint8_t *h, const char *magic, uint64_t a,
                          uint64_t b);
void tpcl_seg_header_encode (uint8_t *h, uint64_t no, uint64_t first_lsn);
size_t tpcl_encode_record (uint8_t *out, uint8_t type, uint64_t lsn, const void *payload,
                           size_t len);
int tpcl_list (const char *dir, const char *suffix, uint64_t **out, size_t *n);

/*  Reading (tpc_log_read.c)  */
void tpcl_reader_free (tpcl_reader_t *r);
int tpcl_reader_load (tpcl_reader_t *r, size_t i, size_t *size, char *errbuf,
                      size_t errlen);
int tpcl_replay (tpcl_reader_t *r, size_t from, bool all, tpc_log_replay_fn *fn,
                 void *arg, char *errbuf, size_t errlen);
int tpcl_reader_open (tpcl_reader_t *r, const tpc_io_t *io, const char *dir,
                      char *errbuf, size_t errlen);
int tpcl_cut_report (tpcl_reader_t *r, tpc_log_replay_fn *fn, void *arg,
                     tpc_log_cut_t *cut, char *errbuf, size_t errlen);
int tpcl_cut_torn_tail (tpc_log_t *self, tpcl_reader_t *r, char *errbuf, size_t errlen);

/*  The HIGHWATER file (tpc_log_hw.c)  */
int tpcl_hw_read (tpcl_reader_t *r, char *errbuf, size_t errlen);
int tpcl_hw_check (tpcl_reader_t *r, char *errbuf, size_t errlen);
int tpcl_hw_write (tpc_log_t *self, uint64_t seg, uint64_t value);

/*  Writing (tpc_log_write.c)  */
int tpcl_segment_create (tpc_log_t *self, uint64_t no, uint64_t first_lsn, int *fd);
void *tpcl_preparer (void *arg);
int tpcl_drop_segments (tpc_log_t *self, uint64_t from, uint64_t to);

#endif
