/*  bench_console: a poller that loads the operator console as its page
 *  does, for tpc_bench --poll-console: HZ times a second it GETs
 *  /api/v1/overview, /api/v1/transactions?limit=50 and /api/v1/series
 *  from 127.0.0.1:PORT (HTTP/1.0, a connection each), in its own thread,
 *  until stopped.  It counts the refreshes that got three 200 answers
 *  and those that did not.
 */
#ifndef BENCH_CONSOLE_H
#define BENCH_CONSOLE_H

#include <stdint.h>

typedef struct bench_console bench_console_t;

/*  Start polling; NULL when the thread cannot start.                     */
bench_console_t *bench_console_new (int port, double hz);

/*  Stop, join; the counts in *OK and *FAILED; *self_p becomes NULL.      */
void bench_console_destroy (bench_console_t **self_p, uint64_t *ok,
                            uint64_t *failed);

#endif
