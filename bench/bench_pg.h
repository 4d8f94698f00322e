/*  bench_pg: the libpq workloads of tpc_bench - what an application does
 *  without tpc.  Each session holds one blocking connection to each of the
 *  two databases (SET lock_timeout on both) and moves money between their
 *  accounts(id int primary key, balance bigint) tables:
 *
 *    bare   two-phase commit written by hand, one statement and one server
 *           after the other (8 round trips, 4 durable flushes in a row):
 *             db1: BEGIN; UPDATE (-amount); PREPARE TRANSACTION 'g_1'
 *             db2: BEGIN; UPDATE (+amount); PREPARE TRANSACTION 'g_2'
 *             db1: COMMIT PREPARED 'g_1'    db2: COMMIT PREPARED 'g_2'
 *    floor  the least 2PC can do without a decision log: one query
 *           "BEGIN; UPDATE ...; PREPARE TRANSACTION 'g_k'" sent to both
 *           servers at once, then COMMIT PREPARED to both at once
 *           (2 round trips, flushes in parallel)
 *    plain  no atomicity at all: "BEGIN; UPDATE ...; COMMIT" to both at
 *           once (reference only)
 *
 *  lock_timeout matters for floor: two transfers that lock each other's
 *  rows in opposite order on the two servers wait for each other across
 *  clusters, where no deadlock detector sees them; the timeout breaks the
 *  wait (an error, counted).  bare never holds a lock on db2 while waiting
 *  on db1, so it cannot meet this.
 *
 *  Gids: bench_<pid>_<thread>_<seq>_<k> (k = 1, 2), unique per run and
 *  per thread even when both databases live in one cluster.
 *
 *  Failures: until both are prepared, a failed transfer is undone -
 *  ROLLBACK where a transaction is open, ROLLBACK PREPARED where a PREPARE
 *  may have happened (after a reconnect if the connection broke; "does not
 *  exist" is fine) - so nothing stays prepared.  Once both are prepared
 *  the decision is commit: COMMIT PREPARED is retried (with reconnects) a
 *  few times; if it still fails the gid is named in the error.  The
 *  row must exist: an UPDATE that changed no row is a failure.
 */
#ifndef BENCH_PG_H
#define BENCH_PG_H

#include "bench_work.h"

const bench_work_t *bench_pg_bare (void);
const bench_work_t *bench_pg_floor (void);
const bench_work_t *bench_pg_plain (void);

#endif
