/*  part_mem: an in-memory resource manager for tests and benchmarks.
 *
 *  Same interface as part_pg (part_rm.h), no database.  Operations complete
 *  at the next process() call (or later, see SLEEP), in submission order.
 *  Statements are not parsed, except these test hooks (matched on the
 *  start of the sql text, case-sensitive):
 *
 *      "FAIL" [message]  the statement fails: TPC_EDB, sqlstate P0001,
 *                        error = message (default "FAIL requested")
 *      "SLEEP <ms>"      the batch completes <ms> later (interruptible)
 *      "SELECT ..."      reads: one column "?column?", one row holding the
 *                        first parameter (or the text after SELECT);
 *                        a transaction whose statements are all SELECTs
 *                        is read-only at PREPARE
 *      anything else     a write: affected = 1
 *
 *  It remembers what a database would: open transactions (pinned to one of
 *  POOL sessions, extra BEGINs wait in a FIFO of QUEUE_MAX), prepared gids,
 *  the marker table (kind 'C' / 'T'), and how many writes were committed.
 *  Prepared gids and markers survive part_mem_crash(), which models a
 *  database restart: open transactions are lost, running operations fail
 *  with TPC_ECONNECT and, after part_mem_set_down(false), the CONNECTED
 *  event is reported again.  Not thread-safe.
 */
#ifndef PART_MEM_H
#define PART_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "part_rm.h"

typedef struct part_mem part_mem_t;

typedef struct {
    size_t pool;                /* sessions; 0 = 8 */
    size_t queue_max;           /* BEGINs waiting for a session; 0 = 1024 */
} part_mem_config_t;

/*  A new backend (CONFIG may be NULL) or NULL on out of memory.  The
 *  CONNECTED event is reported by the first process() call.              */
part_mem_t *part_mem_new (const part_mem_config_t *config);
void part_mem_destroy (part_mem_t **self_p);

/*  The function table bound to SELF (owned by SELF).                     */
const part_rm_t *part_mem_rm (part_mem_t *self);

/*  Test hooks.                                                           */
/*  The database "crashes" and stays down until part_mem_set_down(false):
 *  open transactions vanish, running operations fail with TPC_ECONNECT,
 *  BEGIN fails fast, other operations wait for the restart.              */
void part_mem_crash (part_mem_t *self);
void part_mem_set_down (part_mem_t *self, bool down);
/*  The agent's sessions close and reopen (an agent restart): open
 *  transactions are rolled back, running operations fail with
 *  TPC_ECONNECT, and CONNECTED is reported again.                        */
void part_mem_reconnect (part_mem_t *self);
/*  The next operation OP fails with STATUS (and ERROR text) without any
 *  effect - or, when AFTER_EFFECT, after its effect (a prepare that
 *  succeeded but whose answer was lost).                                 */
void part_mem_fail_next (part_mem_t *self, part_rm_op_t op, int status,
                         const char *error, bool after_effect);
/*  The armed failure of OP (part_mem_fail_next, status TPC_EDB) reports
 *  SQLSTATE instead of XX000.                                            */
void part_mem_fail_sqlstate (part_mem_t *self, part_rm_op_t op,
                             const char *sqlstate);

/*  Put GID in the prepared set (with its commit marker, as a prepare
 *  would), e.g. to model what an earlier agent left behind.              */
int part_mem_add_prepared (part_mem_t *self, const char *gid);

/*  Inspection.                                                           */
bool part_mem_is_open (part_mem_t *self, const char *gid);
bool part_mem_is_prepared (part_mem_t *self, const char *gid);
char part_mem_marker (part_mem_t *self, const char *gid); /* 'C','T',0 */
size_t part_mem_prepared_count (part_mem_t *self);
size_t part_mem_open_count (part_mem_t *self);
uint64_t part_mem_committed_writes (part_mem_t *self);
/*  How many operations of kind OP were submitted so far.                 */
uint64_t part_mem_submitted (part_mem_t *self, part_rm_op_t op);

#endif
