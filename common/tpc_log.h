/*  tpc_log: the coordinator's durable decision log (write-ahead).
 *
 *  Append-only segment files in one directory; the byte layout of a
 *  segment and of a record is documented at the top of tpc_log.c.  The log
 *  knows nothing of transactions: a record is (type, payload) and the owner
 *  (see tpc_record.h for the coordinator's payloads) gives them meaning.
 *
 *  CONTRACT
 *  - tpc_log_append() writes the record to the current segment (the kernel
 *    has it; it is NOT durable) and returns its log sequence number (LSN,
 *    1, 2, 3 ... without gaps).
 *  - tpc_log_sync(lsn) returns 0 only after an fdatasync() that covers lsn
 *    returned 0.  Many threads may call append and sync at once: one
 *    fdatasync makes every record appended before it durable (group
 *    commit), and callers whose lsn it covered return without syncing.
 *  - A failed write or fdatasync is never retried: the log enters the
 *    FAILED state, every waiter and every later call gets TPC_ELOG_FAILED
 *    (or the original error), and the owner must stop.  Restart recovers.
 *  - Opening replays every record in LSN order through the callback.  A
 *    torn or checksum-failing tail is cut off at the last valid record and
 *    reported through the warn callback, with the number of records cut;
 *    the owner may see each cut record (cut_fn: best effort, its checksum
 *    may fail) and learns whether the tail was torn (a write cut short by a
 *    crash: part of it is still the zeros the segment was made of) or
 *    damaged in place (complete, yet it fails its checks: a flipped bit in
 *    a record that may have been durable and acted on).  Both are cut: the
 *    damage holds nothing the log could still trust.  A bad record
 *    followed by a valid one is corruption: open fails with
 *    TPC_ELOG_CORRUPT, naming segment and offset, and truncates nothing;
 *    so does a missing segment (a gap in the numbers, or fewer segments
 *    than the high-water file names).
 *  - High water: tpc_log_set_high_water() keeps a number of the owner's
 *    (the coordinator's epoch) and the tail's segment number in a small
 *    file of its own (HIGHWATER, replaced by rename), so that a lost or
 *    emptied segment cannot take them back; checkpoint_end updates its
 *    segment.  Once that file exists, open refuses segments ending before
 *    the one it names.
 *  - Nothing is replayed that is not durable: before replay, open writes
 *    the tail segment's valid bytes again and fdatasyncs them (a record
 *    whose fdatasync failed may still sit in the page cache, marked clean
 *    but not on disk).  If that fails, open fails and replays nothing;
 *    after a successful open, durable_lsn = last_lsn.
 *  - New segments, truncations and unlinks are made durable (fsync of the
 *    file and of the directory).  The next segment is made ahead by one
 *    background thread per log (the preparer), so a rotation, including
 *    the one at checkpoint_begin, only switches to a durable, zero-filled
 *    file; it waits only if segments fill faster than they are made.  The
 *    directory may therefore hold one spare segment (valid header, first
 *    LSN 0, only zeros) after the tail: it is not damage and not a gap,
 *    and open takes it over.
 *  - Checkpoint: tpc_log_checkpoint_begin() starts a new segment; the owner
 *    appends what is still live; tpc_log_checkpoint_end() appends a marker,
 *    syncs it and drops every older segment.  Replay starts at the newest
 *    segment that holds a complete checkpoint, so only live records (and
 *    anything appended since) come back.  Record types >= 0xF0 are the
 *    log's own and never reach the owner.
 *  - One process at a time: the directory is locked (flock on LOCK).
 *  All file I/O goes through a tpc_io_t (tpc_io.h) so tests can inject
 *  faults.  Thread-safe; the struct is opaque.
 */
#ifndef TPC_LOG_H
#define TPC_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tpc_io.h"

#define TPC_LOG_SEGMENT_BYTES_DEFAULT (16ull * 1024 * 1024)  /* 2 on disk:
                                               the tail and the spare */
#define TPC_LOG_RECORD_MAX (1024 * 1024)   /* payload bytes */
#define TPC_LOG_TYPE_INTERNAL 0xF0          /* types >= this are reserved */
#define TPC_LOG_TYPE_CHECKPOINT 0xF1        /* the log's checkpoint marker
                                               (seen by tpc_log_scan only);
                                               payload begin_segment:u64 LE */

typedef struct tpc_log tpc_log_t;

typedef struct {
    uint64_t lsn;
    uint8_t type;
    uint64_t segment;           /* segment number (its file name) */
    uint64_t offset;            /* byte offset of the record in the segment */
} tpc_log_rec_t;

/*  Called once per record during replay/scan; a non-zero return stops
 *  the replay and becomes tpc_log_open()'s / tpc_log_scan()'s result.   */
typedef int (tpc_log_replay_fn) (void *arg, const tpc_log_rec_t *rec,
                                 const void *payload, size_t len);

/*  The tail open cut off (scan: would cut); all zero when none.        */
typedef struct {
    bool cut;                   /* a tail was (would be) cut */
    bool damaged;               /* damaged in place, not torn (CONTRACT) */
    uint64_t segment;           /* where the cut starts */
    uint64_t offset;
    uint64_t records;           /* record-shaped entries in it (best effort) */
} tpc_log_cut_t;

typedef struct {
    const char *dir;            /* created if missing (not in read_only) */
    uint64_t segment_bytes;     /* rotate past this size; 0 = default */
    const tpc_io_t *io;         /* NULL = tpc_io_posix() */
    void (*warn) (void *arg, const char *text);  /* NULL = stderr */
    void *warn_arg;
    /* optional: each record-shaped entry of a cut tail, before the warning
     * (LSN and type as it claims, payload as found; return ignored), and
     * the cut's summary                                                 */
    tpc_log_replay_fn *cut_fn;
    void *cut_arg;
    tpc_log_cut_t *cut;
} tpc_log_config_t;

/*  Open (creating if needed) and replay the log in CFG->dir, calling FN
 *  (may be NULL) for each owner record.  Returns 0 and *OUT, or a negative
 *  code with a sentence in ERRBUF (may be NULL).                         */
int tpc_log_open (const tpc_log_config_t *cfg, tpc_log_replay_fn *fn,
                  void *arg, tpc_log_t **out, char *errbuf, size_t errlen);

/*  Read-only pass over DIR for dump and verify: calls FN for every record,
 *  owner's and internal, modifies nothing, takes no lock, and (unlike
 *  open) makes nothing durable: it shows what the page cache holds, so
 *  never drive a decision from it.  A torn tail
 *  is reported through WARN and is not an error; corruption returns
 *  TPC_ELOG_CORRUPT with segment and offset in ERRBUF (after FN has seen
 *  the valid records before it).                                         */
int tpc_log_scan (const char *dir, tpc_log_replay_fn *fn, void *arg,
                  void (*warn) (void *arg, const char *text),
                  char *errbuf, size_t errlen);

/*  The same with CFG's dir, warn (warn_arg), cut_fn and cut (io and
 *  segment_bytes are not used).                                          */
int tpc_log_scan_config (const tpc_log_config_t *cfg, tpc_log_replay_fn *fn,
                         void *arg, char *errbuf, size_t errlen);

/*  Stop the preparer, remove the spare segment (unless the log FAILED),
 *  close the files (no implicit sync); *self_p becomes NULL.  Idempotent. */
void tpc_log_destroy (tpc_log_t **self_p);

/*  Append one record; *LSN (may be NULL) receives its LSN.  Not durable
 *  until tpc_log_sync() covers it.  Returns 0, TPC_ELOG_TOO_BIG,
 *  TPC_EINVAL (reserved type), TPC_ELOG_FAILED, TPC_EIO or TPC_ENOSPC.    */
int tpc_log_append (tpc_log_t *self, uint8_t type, const void *payload,
                    size_t len, uint64_t *lsn);

/*  Block until every record up to LSN is durable.  Returns 0, or the
 *  failure that put the log in the FAILED state.                          */
int tpc_log_sync (tpc_log_t *self, uint64_t lsn);

/*  Last LSN appended / made durable so far (0 = none).                    */
uint64_t tpc_log_last_lsn (tpc_log_t *self);
uint64_t tpc_log_durable_lsn (tpc_log_t *self);

/*  Number of fdatasync calls made since open (for benchmarks/metrics).    */
uint64_t tpc_log_sync_count (tpc_log_t *self);

/*  0 while healthy, else the error that failed the log.                   */
int tpc_log_error (tpc_log_t *self);

/*  The owner's high-water number: found at open or last set (0 none).   */
uint64_t tpc_log_high_water (tpc_log_t *self);

/*  Make max(VALUE, the current one) and the tail's segment number durable
 *  in the high-water file (temp file, fsync, rename, directory fsync).
 *  Returns 0 or an I/O code (the log itself goes on).                   */
int tpc_log_set_high_water (tpc_log_t *self, uint64_t value);

/*  Checkpoint, see CONTRACT.  Between begin and end the owner appends the
 *  live records (other appends may interleave).                           */
int tpc_log_checkpoint_begin (tpc_log_t *self);
int tpc_log_checkpoint_end (tpc_log_t *self);

#endif
