/*  part_engine: the agent's pure state machine (no sockets, no clock).
 *
 *  It turns coordinator messages (work, prepare, decide, answer), resource
 *  manager completions (part_rm.h), the "database (re)connected" event and
 *  timer ticks into actions it QUEUES, as the coordinator's engine does:
 *  RM operations to submit, messages to the coordinator and to peer
 *  agents, log lines (part_action_t, drained with part_engine_pop after
 *  every event), and a timer (asked with
 *  part_engine_timeout).  Every event carries the current time, so tests
 *  drive it deterministically.  The per-transaction state machine and its
 *  invariants are drawn at the top of part_engine.c, the three-phase
 *  commit state and termination protocol at the top of part_p3.c: for
 *  three-phase commit (prepare/work with protocol 3pc) the 3PC state of
 *  each gid is made durable through io->persist (a call; durable before
 *  it returns or before the actions queued after it leave: the agent
 *  shell's group commit),
 *  other agents are reached with PEER_SEND / PEER_REPLY actions for the
 *  termination protocol.
 */
#ifndef PART_ENGINE_H
#define PART_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "part_rm.h"
#include "tpc_msg.h"

typedef struct part_engine part_engine_t;

typedef struct {
    const char *name;           /* the agent's name, sent in hello */
    uint64_t heartbeat_ms;      /* hello interval; 0 = 1000 */
    uint64_t query_ms;          /* re-ask an in-doubt gid; 0 = 1000 */
    uint64_t doubt_ms;          /* voted yes and no decision for this long:
                                   start asking (query); 0 = 3000 */
    uint64_t sweep_ms;          /* list prepared gids again and ask about
                                   open transactions this often, so nothing
                                   stays prepared or open when a decision
                                   or a session was lost; 0 = 10000 */
    uint64_t retry_ms;          /* retry a failed phase-2 step; 0 = 500 */
    uint64_t forget_ms;         /* remember an aborted gid; 0 = 60000 */
    size_t hello_max_gids;      /* prepared gids listed in hello; 0 = 256 */
    bool verbose;               /* queue LOG actions of level 0 (every
                                   step); else only warnings (level 1),
                                   as in the coordinator */
    uint64_t p3_timeout_ms;     /* 3PC: voted yes / pre-committed and no
                                   further state change (precommit,
                                   decision) for this long: run the
                                   termination protocol; also how long a
                                   non-leader waits for the leader;
                                   0 = 2000 */
    uint64_t p3_collect_ms;     /* 3PC: how long a termination round waits
                                   for state replies; 0 = 500 */
    uint64_t p3_forget_ms;      /* 3PC: remember a decided gid (answer
                                   getstate); 0 = 600000 */
    const char *peer_endpoint;  /* 3PC: this agent's peer endpoint, sent as
                                   hello.peer; NULL = none (copied) */
    uint64_t boot;              /* this process's boot id, drawn at random
                                   once per start, sent as hello.boot (16
                                   hex digits): a new one tells the
                                   coordinator the agent restarted; 0 =
                                   none */
} part_engine_config_t;

/*  What the engine asks of its shell besides the queued actions.       */
typedef struct {
    void *arg;
    /*  3PC, optional when no 3PC is used.
     *  Make GID's 3PC STATE durable before returning 0, or (group
     *  commit, as the agent shell does) before any action the engine
     *  queues after the call is executed: the shell may hold those until
     *  one fdatasync covers many calls.
     *  PARTS and PEERS (NPARTS each) are the CanCommit's lists (given on
     *  every call).  Non-zero: storage failed; the engine does not act on
     *  the state, logs, and the shell must stop the process.  Without it
     *  a 3PC prepare votes no.  The actions queued before the call come
     *  first: the shell executes them (part_engine_pop) before it writes,
     *  and reports their failures only once the engine call returned.     */
    int (*persist) (void *arg, const char *gid, tpc_p3_t state,
                    size_t nparts, char *const *parts, char *const *peers);
    bool peer_link;             /* 3PC: the shell reaches other agents
                                   (PEER_SEND / PEER_REPLY are executed);
                                   false: the engine queues none and counts
                                   every peer unreachable */
} part_engine_io_t;

/*  The actions the engine queues, in order; after every event the shell
 *  drains them with part_engine_pop and executes each:
 *
 *    SEND        send MSG to the coordinator (a failure is not reported)
 *    PEER_SEND   send MSG (getstate, precommit, decide) to peer agent NAME
 *                at ENDPOINT; its reply comes as part_engine_on_peer_reply.
 *                When it cannot be sent, report part_engine_peer_failed
 *    PEER_REPLY  reply MSG (state) to the peer request whose opaque FROM
 *                token (FROM_LEN bytes) came with part_engine_on_peer_request
 *    SUBMIT      REQ to the resource manager (rm->submit); when it refuses,
 *                report part_engine_submit_refused
 *    INTERRUPT   rm->interrupt (GID)
 *    LOG         TEXT for the operator's log; LEVEL 0 = verbose (queued only
 *                with config.verbose), 1 = warning
 */
typedef enum {
    PART_ACT_SEND = 1,
    PART_ACT_PEER_SEND,
    PART_ACT_PEER_REPLY,
    PART_ACT_SUBMIT,
    PART_ACT_INTERRUPT,
    PART_ACT_LOG
} part_act_type_t;

/*  One queued action.  After part_engine_pop the caller owns its pointers
 *  and releases them with part_action_clear (it may steal MSG first by
 *  setting it to NULL).                                                  */
typedef struct {
    part_act_type_t type;
    tpc_msg_t *msg;             /* SEND, PEER_SEND, PEER_REPLY; SUBMIT: the
                                   holder of REQ's statements */
    char *name;                 /* PEER_SEND */
    char *endpoint;             /* PEER_SEND */
    uint8_t *from;              /* PEER_REPLY */
    size_t from_len;
    char *gid;                  /* SUBMIT (REQ.gid), INTERRUPT, PEER_SEND */
    part_rm_req_t req;          /* SUBMIT: gid and stmts point into the
                                   action */
    tpc_msg_type_t peer_type;   /* PEER_SEND: MSG's type and ... */
    uint64_t round;             /* ... termination round (for the report) */
    int level;                  /* LOG */
    char *text;                 /* LOG */
} part_action_t;

/*  A new engine or NULL (out of memory, or config->name is NULL).  IO
 *  (may be NULL: no persist, no peer link) is copied.                    */
part_engine_t *part_engine_new (const part_engine_config_t *config,
                                const part_engine_io_t *io);
void part_engine_destroy (part_engine_t **self_p);

/*  Before part_engine_start: a 3PC state read back from the state log
 *  (the latest per gid).  An undecided gid (UNCERTAIN, PRECOMMITTED) is
 *  settled as if its timer started at part_engine_start; a decided one
 *  answers getstate until p3_forget_ms after the start and, when the
 *  database still holds it prepared, is finished without asking.
 *  Returns 0, TPC_EINVAL (bad gid or state) or TPC_ENOMEM.               */
int part_engine_restore (part_engine_t *self, const char *gid,
                         tpc_p3_t state, size_t nparts,
                         char *const *parts, char *const *peers);

/*  Send the first hello.  Recovery starts with the RM's CONNECTED event. */
void part_engine_start (part_engine_t *self, uint64_t now);

/*  A message from the coordinator; the engine takes it (*msg_p = NULL).
 *  Types an agent does not receive are logged and dropped.               */
void part_engine_on_message (part_engine_t *self, tpc_msg_t **msg_p,
                             uint64_t now);

/*  A getstate / precommit / decide from agent NAME (peer link); the
 *  engine takes it and replies with a PEER_REPLY action to FROM, the opaque
 *  token of the connection it came on (FROM_LEN bytes: the ROUTER's
 *  routing id, which the ROUTER assigned).  NAME is the one the shell
 *  vouches for (its CURVE key's, or the request's name field in plain
 *  text): a request about a 3PC gid from an agent that is not one of its
 *  participants is ignored.  The engine's own peer requests carry its
 *  name.                                                                 */
void part_engine_on_peer_request (part_engine_t *self, const char *name,
                                  const void *from, size_t from_len,
                                  tpc_msg_t **msg_p, uint64_t now);

/*  A reply (state) from peer agent NAME; the engine takes it.            */
void part_engine_on_peer_reply (part_engine_t *self, const char *name,
                                tpc_msg_t **msg_p, uint64_t now);

/*  The next queued action into OUT (true), or false: none left.          */
bool part_engine_pop (part_engine_t *self, part_action_t *out);
/*  Release what ACT owns (NULL-safe); ACT is zeroed.                     */
void part_action_clear (part_action_t *act);

/*  Executing ACT (a SUBMIT) failed: the RM refused it with RC.  The
 *  engine retries the step later.                                        */
void part_engine_submit_refused (part_engine_t *self, const part_action_t *act,
                                 int rc, uint64_t now);
/*  Executing ACT (a PEER_SEND) failed: the peer cannot be reached.  A
 *  termination round stops waiting for it.                               */
void part_engine_peer_failed (part_engine_t *self, const part_action_t *act,
                              uint64_t now);

/*  A completion or event from the RM (use as the emit callback's body).  */
void part_engine_on_result (part_engine_t *self,
                            const part_rm_result_t *result, uint64_t now);

/*  The database is reachable again: list prepared gids and ask about them.
 *  (part_engine_on_result calls it for PART_RM_CONNECTED.)               */
void part_engine_on_connected (part_engine_t *self, uint64_t now);

/*  A (new) connection to the coordinator is up: say hello at once, so a
 *  restarted coordinator knows this agent without waiting a heartbeat.   */
void part_engine_coordinator_up (part_engine_t *self, uint64_t now);

/*  Time passed: hellos, queries for in-doubt gids, retries, forgetting.  */
void part_engine_tick (part_engine_t *self, uint64_t now);

/*  Milliseconds until part_engine_tick should run (0 = now).             */
int64_t part_engine_timeout (part_engine_t *self, uint64_t now);

/*  True once the first recovery listing completed; *FOUND (may be NULL)
 *  gets the number of prepared gids it found.                            */
bool part_engine_ready (part_engine_t *self, size_t *found);

/*  For tests and logs: the state of GID ("active", "preparing",
 *  "prepared", "committing", "rolling_back", "aborted") or NULL when the
 *  engine holds no record of it; and the number of records.              */
const char *part_engine_state (part_engine_t *self, const char *gid);
size_t part_engine_size (part_engine_t *self);

/*  For tests: GID's 3PC state (TPC_P3_UNKNOWN if none).                 */
tpc_p3_t part_engine_p3 (part_engine_t *self, const char *gid);

#endif
