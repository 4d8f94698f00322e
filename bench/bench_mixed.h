/*  bench_mixed: the hand-written mixed-engine 2PC of tpc_bench (--mode
 *  mixed-bare) - what an application does without tpc when one side of the
 *  transfer is PostgreSQL (db1, libpq conninfo in --db1) and the other
 *  MariaDB (db2, the agent's conninfo FILE in --db2: "host=.. port=..
 *  user=.. [password=..] database=.." or socket=PATH).  Each session holds
 *  one libpq connection and one Connector/C connection (multi-statements
 *  on, REPEATABLE READ, lock waits bounded like lock_timeout):
 *
 *    db1: BEGIN; UPDATE (-amount); PREPARE TRANSACTION 'g_1'   } sent at
 *    db2: XA START 'g_2'; UPDATE (+amount); XA END 'g_2';       } once,
 *         XA PREPARE 'g_2'                                      } waited
 *    db1: COMMIT PREPARED 'g_1'    db2: XA COMMIT 'g_2'    (at once)
 *
 *  2 round trips per server, the prepares' flushes in parallel: the same
 *  least pattern as bench_pg's floor.  XA COMMIT runs on the connection
 *  that prepared (MariaDB lets another connection commit a prepared branch
 *  only once the preparing one is gone).
 *
 *  Failures: until both are prepared a failed transfer is undone (ROLLBACK
 *  or ROLLBACK PREPARED on db1; XA END + XA ROLLBACK on db2, after a
 *  reconnect if the connection broke; "no such transaction" is fine).  Once
 *  both are prepared the decision is commit, retried with reconnects; a
 *  gid still prepared after that is named in the error.  An UPDATE that
 *  changed no row is a failure.  Gids as bench_pg's.
 */
#ifndef BENCH_MIXED_H
#define BENCH_MIXED_H

#include "bench_work.h"

const bench_work_t *bench_mixed_bare (void);

#endif
