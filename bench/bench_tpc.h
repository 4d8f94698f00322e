/*  bench_tpc: the tpc workload of tpc_bench - the same transfer as
 *  bench_pg, handed to the coordinator as one tpc_submit() of two
 *  statements (UPDATE ... - $1 on participant part1, UPDATE ... + $1 on
 *  part2), one libtpc client per session.  Committed = 0; aborted, in
 *  doubt or any error = a failed transfer (the coordinator, not this
 *  code, undoes what was prepared).
 */
#ifndef BENCH_TPC_H
#define BENCH_TPC_H

#include "bench_work.h"

const bench_work_t *bench_tpc (void);

#endif
