/*  tpc_crash: named crash points, compiled into the daemons, for proving
 *  atomicity under failure (scripts/crash-matrix, the e2e tests).
 *
 *  A shell (coord_server, part_agent) owns one tpc_crash_t, built once at
 *  start from a tpc_crash_config_t, and calls tpc_crash_hit(c, "name") each
 *  time it passes a named point.  When the armed point is passed for the
 *  AT-th time the point FIRES:
 *
 *    action exit (default)  write ONE line to stderr
 *                               tpc-crash: <name> pass <n>
 *                           and _exit(99) at once: no flush, no atexit, no
 *                           destructor; to the outside world the same as a
 *                           SIGKILL at that instant (what the kernel has,
 *                           e.g. bytes ZeroMQ's I/O thread already wrote,
 *                           stays; what was only in user space is lost).
 *    action stop            write "tpc-crash: <name> pass <n> action=stop"
 *                           and stop the whole process (SIGSTOP) right
 *                           there; after SIGCONT it carries on as if
 *                           nothing happened.  The crash matrix uses it to
 *                           crash PostgreSQL (immediate stop) while the agent
 *                           is frozen at the point, then lets the agent run
 *                           into the dead sessions.
 *
 *    action failsync        only for the *_sync points below, which are
 *                           no places but a durable file's fdatasyncs: from
 *                           the AT-th fdatasync on (counted from the moment
 *                           the shell arms it) they fail with EIO; the
 *                           shell asks tpc_crash_failsync_at() and wires a
 *                           tpc_io_failsync_t (tpc_io.h).  It proves that a
 *                           failed fdatasync is never retried and
 *                           acknowledged.
 *
 *  Only a test build obeys the environment: configure --enable-crash-points
 *  (scripts/test, scripts/crash-matrix, make distcheck do) compiles
 *  TPC_CRASH_POINTS in.  Without it, a release build, the variables are
 *  ignored (a stray TPC_CRASH_POINT cannot kill a production daemon) and
 *  a set TPC_CRASH_POINT only gets one warning line on stderr at start.
 *
 *  Configuration (environment, read by tpc_crash_config_from_env):
 *    TPC_CRASH_POINT=<name>   one of the names below; unset or "" = disarmed
 *    TPC_CRASH_AT=<n>         fire on the n-th pass, n >= 1 (default 1)
 *    TPC_CRASH_ACTION=exit|stop|failsync   (default exit; failsync with a
 *                             *_sync point only, and those take no other)
 *  A name the program does not have, a bad number or action is an error:
 *  the program refuses to start rather than run a test that cannot fire.
 *
 *  POINTS (what has happened when the point is passed)
 *    coordinator (coord_server):
 *      coord.registered          a begin/submit made a new live transaction;
 *                                no work sent, no reply yet
 *      coord.prepare_sent        a prepare / work(then=prepare) was handed to
 *                                ZeroMQ (one pass per message)
 *      coord.votes_in            the vote that completed a commit arrived:
 *                                the engine decided in memory, nothing of it
 *                                written
 *      coord.before_decision     about to write the COMMIT record
 *      coord.after_decision_append   COMMIT written (pwrite), not yet synced
 *      coord.after_fsync         COMMIT durable (fdatasync returned 0), no
 *                                decide(committed) sent yet
 *      coord.commit_sent         a decide(committed) was handed to ZeroMQ
 *                                (one pass per decide: k of N done)
 *      coord.before_end          about to write an END record
 *      coord.precommit_logged    3PC: a PRECOMMIT record is durable
 *                                (fdatasync returned 0), no precommit sent
 *      coord.precommit_sent      3PC: a precommit was handed to ZeroMQ (one
 *                                pass per message)
 *      coord.precommit_acked     3PC: a `state precommitted` reply arrived
 *                                and the engine saw it; nothing it caused
 *                                (the COMMIT record) written yet; pass k =
 *                                k such replies in
 *      coord.commit_partial      the FIRST decide(committed) of a gid was
 *                                handed to ZeroMQ, none to its other
 *                                participants yet.  On the pass that fires
 *                                the coordinator first prints "crash point
 *                                coord.commit_partial: gid <gid>" and waits
 *                                200 ms so that decide leaves: one database
 *                                commits, the others stay prepared, the
 *                                COMMIT record is the only other trace (the
 *                                crash matrix then damages it:
 *                                coord.commit_partial+tailcut)
 *      coord.log_sync            (failsync) the decision log's fdatasyncs
 *                                once serving: every one from the AT-th on
 *                                fails
 *    agent (part_agent):
 *      agent.after_work          a work batch ran (EXEC completed), the
 *                                engine has not seen it: no PREPARE yet
 *      agent.after_prepare       PREPARE TRANSACTION succeeded (with the
 *                                marker), the engine has not seen it: no
 *                                vote sent
 *      agent.after_vote          a yes vote was handed to ZeroMQ
 *      agent.after_commit_prepared   COMMIT PREPARED succeeded, the engine
 *                                has not seen it: no ack sent
 *      agent.after_precommit     3PC: PRECOMMITTED persisted in the agent's
 *                                state log, no `state` reply sent yet
 *      agent.state_sync          (failsync) the 3PC state log's fdatasyncs
 *                                after its open: the AT-th fails, only it
 *                                (the agent must stop)
 *  The state is no global: the pass counter lives in the tpc_crash_t.
 */
#ifndef TPC_CRASH_H
#define TPC_CRASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TPC_CRASH_EXIT_STATUS 99

typedef struct tpc_crash tpc_crash_t;

typedef enum {
    TPC_CRASH_EXIT = 0, TPC_CRASH_STOP = 1, TPC_CRASH_FAILSYNC = 2
} tpc_crash_action_t;

typedef struct {
    const char *point;          /* NULL or "" = disarmed; copied by _new */
    uint64_t at;                /* fire on this pass; 0 = 1 */
    tpc_crash_action_t action;
} tpc_crash_config_t;

/*  Every point name, NULL-terminated (static, read-only).                 */
const char *const *tpc_crash_points (void);

/*  0 if NAME is a known point whose name starts with SCOPE ("coord.",
 *  "agent."; NULL = any), else TPC_EINVAL.                               */
int tpc_crash_point_valid (const char *name, const char *scope);

/*  True when this build obeys TPC_CRASH_POINT (--enable-crash-points).  */
bool tpc_crash_compiled_in (void);

/*  Fill *CFG from TPC_CRASH_POINT / _AT / _ACTION (CFG->point then points
 *  into the environment: copy it, e.g. with tpc_crash_new, before the
 *  environment changes).  Unset = disarmed, returns 0.  A name outside
 *  SCOPE, an unknown name, an AT that is not an integer >= 1 or an unknown
 *  action: TPC_EINVAL with a sentence (listing the valid names) in ERRBUF.
 *  Built without crash points: *CFG disarmed, returns 0 whatever is set;
 *  a set TPC_CRASH_POINT prints "<program>: TPC_CRASH_POINT=<name>: crash
 *  points are not compiled in; ignored" on stderr (the daemons call this
 *  once, at start).                                                      */
int tpc_crash_config_from_env (tpc_crash_config_t *cfg, const char *scope,
                               char *errbuf, size_t errlen);

/*  A new crash-point set; a disarmed config gives one that never fires.
 *  NULL for an unknown point name or no memory.                          */
tpc_crash_t *tpc_crash_new (const tpc_crash_config_t *cfg);

/*  Free; *self_p becomes NULL.  Idempotent.                               */
void tpc_crash_destroy (tpc_crash_t **self_p);

/*  True when a point is armed (and has not fired yet).                    */
bool tpc_crash_armed (const tpc_crash_t *self);

/*  One pass through point NAME.  Fires (see above) when NAME is the armed
 *  point and this is its AT-th pass; otherwise returns at once.  SELF may
 *  be NULL (no crash points at all).                                      */
void tpc_crash_hit (tpc_crash_t *self, const char *name);

/*  True when the next pass through point NAME fires (it is armed, not
 *  fired yet, and this pass would be the AT-th): a shell may get ready
 *  for it (say what it is about, let a message leave).                   */
bool tpc_crash_next_fires (const tpc_crash_t *self, const char *name);

/*  Passes counted through the armed point (0 when disarmed; it keeps
 *  counting after the point fired with action stop).                     */
uint64_t tpc_crash_passes (const tpc_crash_t *self);

/*  For a *_sync point NAME armed with action failsync: its AT (the first
 *  fdatasync that fails); else 0.                                        */
uint64_t tpc_crash_failsync_at (const tpc_crash_t *self, const char *name);

#endif
