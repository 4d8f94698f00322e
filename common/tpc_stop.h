/*  tpc_stop: how both daemons learn they must stop.
 *
 *  tpc_stop_catch() makes SIGTERM and SIGINT ask for a clean stop and
 *  ignores SIGPIPE (a peer that went away is an error on the socket, not a
 *  death).  A stop request sets a flag (for a loop that checks it: the
 *  coordinator's) and makes a descriptor readable (for a loop that polls
 *  it: the agent's).  A daemon that stops that way exits 0.
 *
 *  Signal dispositions belong to the whole process, so this is the one
 *  place that keeps process-wide state: the flag and the descriptor.
 */
#ifndef TPC_STOP_H
#define TPC_STOP_H

#include <signal.h>

/*  Install the handlers (once per process).  0, or TPC_EIO (errno set).   */
int tpc_stop_catch (void);

/*  Becomes non-zero when a stop was asked: the signal's number.          */
volatile sig_atomic_t *tpc_stop_flag (void);

/*  Readable once a stop was asked (never read it: it stays readable);
 *  -1 before tpc_stop_catch.                                              */
int tpc_stop_fd (void);

/*  "SIGTERM", "SIGINT" for a stop flag's value SIG; "signal" otherwise.  */
const char *tpc_stop_name (int sig);

#endif
