/*  part_state: the agent's durable three-phase-commit state log.
 *
 *  An agent that takes part in 3PC must remember, across crashes, what it
 *  told the world about each gid: that it voted yes (UNCERTAIN), that it
 *  acknowledged a pre-commit (PRECOMMITTED), or that it learnt the
 *  decision (COMMITTED / ABORTED), together with the CanCommit's list of
 *  participants and their peer endpoints (the termination protocol needs
 *  them after a restart).  This module keeps that state in a tpc_log
 *  (common/tpc_log.h) of its own, in the directory given by
 *  tpc-participant --state-dir, and in memory (gid -> latest state).
 *
 *  LIFE OF A GID (each state durable, by a put or by an append and the
 *  sync that covers its ticket, before the step it guards)
 *    UNCERTAIN                        before PREPARE TRANSACTION (and so
 *                                     before the yes vote)
 *    PRECOMMITTED                     before the reply "state precommitted"
 *    COMMITTED|ABORTED                before COMMIT/ROLLBACK PREPARED
 *    checkpoint                       a decided gid older than forget_ms
 *                                     is left out: forgotten
 *  A decided gid is forgotten forget_ms after its decision even if the
 *  agent was down all that time with the decision not yet applied to the
 *  database; the prepared transaction then goes the 2PC way (the agent
 *  asks the coordinator), so keep forget_ms well above any expected
 *  downtime.
 *  Each put appends one record and returns only after an fdatasync that
 *  covers it returned 0 (write-ahead).  GROUP COMMIT: part_state_append
 *  only writes the record (the kernel has it, it is NOT durable) and
 *  returns its ticket (its LSN); part_state_sync makes every record
 *  appended so far durable with one fdatasync, and part_state_durable
 *  says up to which ticket they are.  The owner holds back whatever
 *  depends on a record (a vote, a reply, the database's PREPARE) until
 *  part_state_durable() >= its ticket: the log never holds a state the
 *  agent acted on without it being durable first.  An appended record is
 *  the gid's latest state at once (get, foreach, checkpoints see it; a
 *  checkpoint syncs, and so makes it durable too).
 *
 *  RECORD (tpc_log record type PART_STATE_REC_P3 = 0x01; this log's own
 *  type space, unrelated to the coordinator's tpc_record types).  All
 *  integers little-endian; str := len:u16 bytes (no NUL).
 *
 *    offset  size   field
 *       0      1    version = 1
 *       1   2+g     gid:str      a tpc gid (tpc_gid.h), 1..79 bytes
 *       .      1    state:u8     1 UNCERTAIN, 2 PRECOMMITTED, 3 COMMITTED,
 *                                4 ABORTED (tpc_p3_t; 0 UNKNOWN is never
 *                                written)
 *       .      8    at_ms:u64    wall clock (ms since the epoch) when the
 *                                state was first written; a checkpoint
 *                                copies it unchanged
 *       .      2    nparts:u16   <= PART_STATE_PARTS_MAX
 *       .      *    nparts times: name:str (1..255 bytes)
 *                                 endpoint:str (0..PART_STATE_ENDPOINT_MAX
 *                                 bytes, "" = unknown)
 *  Nothing may follow the last pair.  A record that passes tpc_log's CRC
 *  but not these rules (or of another type) is corruption: open refuses.
 *
 *  REPLAY AND COMPACTION
 *  Open replays every record; the last one of a gid wins.  Then it writes
 *  a checkpoint (tpc_log_checkpoint_begin/_end) holding one record per gid
 *  still kept: every undecided gid, and every decided gid whose at_ms is
 *  less than forget_ms ago.  A running log checkpoints the same way once
 *  the records appended since the last checkpoint reach
 *  max(ckpt_min, gids the last checkpoint wrote), ckpt_min being
 *  PART_STATE_CKPT_MIN unless configured, so the log stays small.
 *  Torn tail: cut off and warned about (tpc_log).  Corruption (a bad
 *  record followed by a good one, or a bad payload): open fails with
 *  TPC_ELOG_CORRUPT and a sentence naming the directory; the agent must
 *  not start (it could otherwise forget a pre-commit it acknowledged).
 *
 *  FAILURE
 *  A failed write or fdatasync puts the log in the FAILED state
 *  (tpc_log.h): that put (or sync: every record appended since the last
 *  good one stays undurable, part_state_durable() never moves again) and
 *  every later put, append and sync return the error, and
 *  part_state_error() says so; the owner must stop the process, never
 *  retry and acknowledge.  A put refused for its arguments (TPC_EINVAL:
 *  bad gid, too many parts, a name too long) writes nothing and leaves the
 *  log healthy.
 *
 *  Not thread-safe: one owner thread.  One process per directory (the
 *  log's lock).
 */
#ifndef PART_STATE_H
#define PART_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "tpc_io.h"
#include "tpc_msg.h"

#define PART_STATE_REC_P3 0x01
#define PART_STATE_PARTS_MAX 4096
#define PART_STATE_NAME_MAX 255
#define PART_STATE_ENDPOINT_MAX 1024
#define PART_STATE_CKPT_MIN 4096
#define PART_STATE_SEGMENT_BYTES (1024 * 1024)
#define PART_STATE_FORGET_MS_DEFAULT 600000

typedef struct part_state part_state_t;

typedef struct {
    const char *dir;            /* created if missing */
    uint64_t forget_ms;         /* drop decided gids this old at a
                                   checkpoint; 0 = 600000 */
    uint64_t segment_bytes;     /* 0 = PART_STATE_SEGMENT_BYTES */
    uint64_t ckpt_min;          /* 0 = PART_STATE_CKPT_MIN (tests lower it) */
    const tpc_io_t *io;         /* NULL = tpc_io_posix () */
    void (*warn) (void *arg, const char *text);  /* NULL = stderr */
    void *warn_arg;
} part_state_config_t;

/*  Called once per gid held: its latest STATE, the wall-clock time AT_MS
 *  it was written, and the CanCommit's NPARTS names and peer endpoints.
 *  Everything is borrowed for the call.  Non-zero stops the walk and is
 *  returned by part_state_foreach.                                       */
typedef int (part_state_fn) (void *arg, const char *gid, tpc_p3_t state,
                             uint64_t at_ms, size_t nparts,
                             char *const *parts, char *const *peers);

/*  Open (creating if needed) the state log in CFG->dir, replay it and
 *  write the compacting checkpoint; NOW is the wall clock in ms.  Returns
 *  0 and *OUT, or a negative code (TPC_ELOG_CORRUPT, TPC_ELOG_LOCKED,
 *  TPC_EIO, ...) with a sentence in ERRBUF (may be NULL).                */
int part_state_open (const part_state_config_t *cfg, uint64_t now,
                     part_state_t **out, char *errbuf, size_t errlen);

/*  Close the log (no implicit sync: records appended since the last sync
 *  may be lost, as in a crash);
 *  *self_p becomes NULL.  Idempotent.                                    */
void part_state_destroy (part_state_t **self_p);

/*  Make GID's STATE durable with its PARTS and PEERS (NPARTS each; PEERS
 *  may be NULL and an element NULL, both meaning "").  NOW: wall clock ms.
 *  Returns 0 only after the record is fdatasync'd.  TPC_EINVAL: arguments
 *  refused, nothing written.  Anything else: the log failed (see
 *  part_state_error); the caller must stop.                              */
int part_state_put (part_state_t *self, const char *gid, tpc_p3_t state,
                    size_t nparts, char *const *parts, char *const *peers,
                    uint64_t now);

/*  Group commit: append GID's STATE like part_state_put, but without the
 *  fdatasync: not durable until part_state_durable() >= *TICKET (may be
 *  NULL; 0 on failure).  The same errors as put.                         */
int part_state_append (part_state_t *self, const char *gid, tpc_p3_t state,
                       size_t nparts, char *const *parts, char *const *peers,
                       uint64_t now, uint64_t *ticket);

/*  One fdatasync making every record appended so far durable (none when
 *  they already are).  0, or the failure that put the log in FAILED: the
 *  caller must stop, and release nothing that waited on a ticket.        */
int part_state_sync (part_state_t *self);

/*  The highest ticket durable / appended so far (0 = none); a record is
 *  durable once part_state_durable() >= its ticket.  Appended >
 *  durable: a sync is owed.                                              */
uint64_t part_state_durable (part_state_t *self);
uint64_t part_state_appended (part_state_t *self);

/*  fdatasyncs made since open (benchmarks, tests).                       */
uint64_t part_state_sync_count (part_state_t *self);

/*  GID's latest state (TPC_P3_UNKNOWN if none held).                      */
tpc_p3_t part_state_get (part_state_t *self, const char *gid);

/*  Number of gids held.                                                  */
size_t part_state_size (part_state_t *self);

/*  Call FN for every gid held (in no particular order).                  */
int part_state_foreach (part_state_t *self, part_state_fn *fn, void *arg);

/*  Write a checkpoint now (dropping decided gids older than forget_ms at
 *  NOW).  Returns 0 or the log's failure.                                */
int part_state_checkpoint (part_state_t *self, uint64_t now);

/*  0 while healthy, else the error that failed the log.                   */
int part_state_error (part_state_t *self);

/*  Encode / decode one P3 payload (the layout above), for tests and tools.
 *  Encode: BUF of SIZE bytes, *LEN the length; 0 or TPC_EINVAL.  Decode:
 *  0 or TPC_ELOG_CORRUPT; the outputs are malloc'd and freed with
 *  part_state_strv_free (*PARTS_OUT, *PEERS_OUT, *NPARTS_OUT) and free
 *  (*GID_OUT).                                                           */
int part_state_encode (const char *gid, tpc_p3_t state, uint64_t at_ms,
                       size_t nparts, char *const *parts, char *const *peers,
                       uint8_t *buf, size_t size, size_t *len);
int part_state_decode (const void *payload, size_t len, char **gid_out,
                       tpc_p3_t *state_out, uint64_t *at_ms_out,
                       size_t *nparts_out, char ***parts_out,
                       char ***peers_out);
void part_state_strv_free (char **parts, char **peers, size_t n);

#endif
