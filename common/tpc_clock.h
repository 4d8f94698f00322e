/*  tpc_clock: the one monotonic clock of tpc (CLOCK_MONOTONIC).
 *
 *  For timeouts, deadlines and durations, never for dates: the values
 *  count from an arbitrary point (usually boot) and do not jump when the
 *  wall clock is set.  Signed, so that "deadline - now" may go negative.
 */
#ifndef TPC_CLOCK_H
#define TPC_CLOCK_H

#include <stdint.h>

/*  Milliseconds on the monotonic clock.                                  */
int64_t tpc_now_ms (void);

/*  Nanoseconds on the same clock (for latencies under a millisecond).    */
int64_t tpc_now_ns (void);

#endif
