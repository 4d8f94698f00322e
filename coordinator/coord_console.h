/*  coord_console: the hand-over between the coordinator's loop and the
 *  operator console's HTTP threads (coord_http).  The loop never waits
 *  for the console and the console never touches the engine:
 *
 *    HTTP thread                        loop (coord_server)
 *    -----------                        -------------------
 *    coord_console_snap_get()           polls coord_console_fd(); then
 *      a snapshot younger than            coord_console_service():
 *      CONSOLE_FRESH_MS (and no command - asked for a snapshot: make one
 *      answered since): take it
 *      else ask (eventfd) and wait        (coord_engine_view, at most
 *      for the next one, <= 2 s           max_txns transactions), swap it
 *                                         in, wake the waiters
 *    coord_console_command()            - queued commands: retry runs
 *      queue {retry|resolve}, ask,        coord_engine_retry; resolve goes
 *      wait for the answer, <= 10 s       in as an operator's resolve
 *                                         request from a client id of its
 *                                         own; its reply comes back
 *                                         through coord_console_reply()
 *
 *  A snapshot is immutable and counted: the HTTP thread renders it with no
 *  lock held; the mutex guards only pointers and the command list.  The
 *  loop also feeds the per-second series (coord_console_ended) and keeps
 *  the last CONSOLE_ENDED_MAX ended transactions and CONSOLE_RETRY_MAX
 *  retries, which each snapshot copies.
 */
#ifndef COORD_CONSOLE_H
#define COORD_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coord_engine.h"

#define CONSOLE_FRESH_MS 250        /* a snapshot serves this long */
#define CONSOLE_SERIES 300          /* seconds of series kept */
#define CONSOLE_ENDED_MAX 1000      /* ended transactions remembered */
#define CONSOLE_RETRY_MAX 256       /* retries remembered (audit) */
#define CONSOLE_REASON_MAX 128      /* an operator's reason, bytes: with
                                       "console: " it fits the HEURISTIC
                                       record's 140 */
#define CONSOLE_WHO "console"       /* resolve reason prefix: who */

typedef struct coord_console coord_console_t;

typedef struct {
    uint64_t committed, aborted, p50_ms, p99_ms;
} coord_console_point_t;

typedef struct {
    char gid[TPC_GID_MAX];
    tpc_outcome_t outcome;
    uint64_t age_ms;            /* begin -> end */
    uint64_t prepare_ms, decide_ms, commit_ms;  /* COORD_NEVER: none */
    uint64_t ago_ms;            /* ended this long before the snapshot */
    char reason[160];           /* why it did not commit ("" none) */
} coord_console_ended_t;

typedef struct {
    char gid[TPC_GID_MAX];
    char reason[CONSOLE_REASON_MAX + 1];
    uint64_t unix_ms;
    uint64_t ago_ms;            /* before the snapshot */
} coord_console_retry_t;

typedef struct {
    coord_view_t *view;
    uint64_t unix_ms;           /* wall clock when made */
    uint64_t mono_ms;           /* monotonic clock when made */
    uint64_t uptime_ms;
    size_t npoints;             /* oldest first, one a second, the last
                                   one the second that ended last */
    coord_console_point_t points[CONSOLE_SERIES];
    size_t nended;              /* newest first */
    coord_console_ended_t ended[CONSOLE_ENDED_MAX];
    size_t nretries;            /* newest first */
    coord_console_retry_t retries[CONSOLE_RETRY_MAX];
    int refs;                   /* under the console's mutex */
} coord_console_snap_t;

typedef enum { CONSOLE_RETRY = 1, CONSOLE_RESOLVE } coord_console_cmd_t;

/*  A console of snapshots of at most MAX_TXNS transactions (0 = 5000);
 *  NULL on failure.                                                      */
coord_console_t *coord_console_new (size_t max_txns);
void coord_console_destroy (coord_console_t **self_p);

/* -- the loop's side -------------------------------------------------- */

/*  The eventfd the loop polls: readable when the console wants service. */
int coord_console_fd (coord_console_t *self);

/*  A transaction ended (a COORD_ACT_ENDED action) at NOW (monotonic).   */
void coord_console_ended (coord_console_t *self, const coord_action_t *act,
                          uint64_t now);

/*  Serve what the HTTP threads asked: a snapshot, commands.  Resolves
 *  enter ENGINE as client requests (the caller performs the actions
 *  queued).  Returns 0 or the engine's error.                           */
int coord_console_service (coord_console_t *self, coord_engine_t *engine,
                           uint64_t now);

/*  A CLIENT action to routing id ID: if it is the console's, take MSG
 *  (the answer to a resolve) and return true.                           */
bool coord_console_reply (coord_console_t *self, const void *id, size_t len,
                          const tpc_msg_t *msg);

/* -- the HTTP threads' side ------------------------------------------- */

/*  A counted reference to a snapshot younger than CONSOLE_FRESH_MS (or
 *  the newest one, after 2 s); NULL when none could be made.  Release it
 *  with coord_console_snap_put().                                        */
coord_console_snap_t *coord_console_snap_get (coord_console_t *self);
void coord_console_snap_put (coord_console_t *self,
                             coord_console_snap_t **snap_p);

/*  Run CMD on GID (OUTCOME for a resolve) with REASON in the loop, wait
 *  for its answer (10 s at most).  0 (*OUT_OUTCOME the outcome for a
 *  resolve) or a negative tpc_err_t with a sentence in TEXT.            */
int coord_console_command (coord_console_t *self, coord_console_cmd_t cmd,
                           const char *gid, tpc_outcome_t outcome,
                           const char *reason, tpc_outcome_t *out_outcome,
                           char *text, size_t textlen);

#endif
