/*  coord_engine: the coordinator's pure atomic-commit engine: two-phase
 *  commit with presumed abort, and three-phase commit (Skeen) per
 *  transaction (the begin/submit's protocol, else cfg.protocol).
 *
 *  The engine owns every transaction's state and decides what happens next,
 *  but performs no I/O and reads no clock: the shell (coord_server) feeds it
 *  events, each stamped with the current time in milliseconds from a
 *  monotonic clock, and then drains the actions it queued, in order:
 *
 *    CLIENT  send MSG to the client whose ROUTER routing id is CLIENT
 *    AGENT   send MSG to the agent named AGENT; if the send fails (peer not
 *            connected, EHOSTUNREACH / EAGAIN) report it back with
 *            coord_engine_send_failed()
 *    APPEND  append REC to the decision log.  FORCED appends carry a TICKET
 *            (1, 2, 3 ... per engine): the shell must make every appended
 *            record durable and then call coord_engine_durable(ticket).
 *            Nothing the engine has already queued depends on a forced
 *            append: every send that needs the record durable (decide
 *            committed, a client's "committed", an answer "committed", a
 *            3PC precommit after its PRECOMMIT record) is held inside the
 *            engine and queued only by coord_engine_durable.
 *            Lazy appends (ABORT, END, HEURISTIC) never need a sync; an
 *            ABORT after a PRECOMMIT is forced, but nothing waits on it.
 *    WAKE    call coord_engine_tick() at time AT (UINT64_MAX: no timer);
 *            replaces any earlier WAKE (one timer for the whole engine)
 *    ENDED   GID finished with OUTCOME, NACKED of NPARTS participants acked
 *            (for reporting: --recover-only prints these); TEXT why it
 *            did not commit, or NULL; PARTS its participants' names,
 *            comma-separated (the console)
 *    LOG     TEXT for the operator's log; LEVEL 0 = verbose, 1 = warning
 *
 *  Life cycle: coord_engine_new -> coord_engine_replay (each owner record of
 *  the log, in LSN order) -> coord_engine_start (epoch of this boot, whose
 *  EPOCH record the shell has already made durable) -> events ... ->
 *  coord_engine_destroy.  Single-threaded; the struct is opaque.
 */
#ifndef COORD_ENGINE_H
#define COORD_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tpc_gid.h"
#include "tpc_msg.h"
#include "tpc_record.h"

#define COORD_NEVER UINT64_MAX

typedef struct coord_engine coord_engine_t;

typedef enum {
    COORD_REPLY_ON_APPLIED = 0,  /* reply "committed" once every yes voter
                                    acked, or ack_wait_ms after the durable
                                    decision, whichever comes first */
    COORD_REPLY_ON_DECISION = 1  /* reply once the decision is durable */
} coord_reply_on_t;

typedef struct {
    const char *coord_id;       /* [A-Za-z0-9]{1,32}, required */
    uint64_t txn_timeout_ms;    /* undecided transactions abort; 0 = 60000 */
    uint64_t vote_timeout_ms;   /* votes (and one-phase acks); 0 = 10000 */
    uint64_t ack_wait_ms;       /* reply_on applied: 0 = 5000 */
    coord_reply_on_t reply_on;
    uint64_t resend_min_ms;     /* decide resend backoff start; 0 = 100 */
    uint64_t resend_max_ms;     /* ... doubling up to; 0 = 5000 */
    uint64_t heartbeat_ms;      /* agents' hello period; 3 missed = gone;
                                   0 = 1000 */
    uint64_t abort_linger_ms;   /* resend decide(aborted) this long, then
                                   forget (presumed abort); 0 = 60000 */
    size_t max_txns;            /* live transactions; 0 = 100000 */
    size_t ended_cache;         /* ended gids remembered for status;
                                   0 = 16384 */
    size_t list_max;            /* entries in a txlist; 0 = 10000 */
    bool verbose;               /* queue LOG actions of level 0 (every
                                   event); else only warnings (level 1) */
    /* limits: each refusal is an error reply, the engine keeps serving */
    size_t max_stmts;           /* statements per transaction (submit, or
                                   execs of one interactive transaction):
                                   over it TPC_ELIMIT; 0 = 10000 */
    size_t max_txns_per_client; /* live transactions of one client (its
                                   key's name, else its connection): over
                                   it TPC_EBUSY; 0 = 10000 */
    size_t max_result_rows;     /* rows of one exec result: over it
                                   TPC_ELIMIT and the transaction aborts;
                                   0 = 100000 */
    tpc_proto_t protocol;       /* a begin/submit without "protocol":
                                   TPC_PROTO_2PC (0, default) or
                                   TPC_PROTO_3PC */
    bool no_onephase;           /* true (--ha): one participant goes two
                                   phases too, so its outcome is a
                                   durable, fenced decision record */
} coord_engine_config_t;

typedef enum {
    COORD_ACT_CLIENT = 1,
    COORD_ACT_AGENT,
    COORD_ACT_APPEND,
    COORD_ACT_WAKE,
    COORD_ACT_ENDED,
    COORD_ACT_LOG
} coord_act_type_t;

/*  One queued action; the fields used by each type are listed above.
 *  After coord_engine_pop() the caller owns MSG, REC, CLIENT and TEXT and
 *  releases them with coord_action_clear() (it may steal MSG first by
 *  setting it to NULL).                                                   */
typedef struct {
    coord_act_type_t type;
    uint8_t *client;            /* CLIENT: routing id bytes */
    size_t client_len;
    char agent[TPC_RECORD_NAME_MAX];   /* AGENT */
    tpc_msg_t *msg;             /* CLIENT, AGENT */
    tpc_record_t *rec;          /* APPEND */
    bool forced;                /* APPEND: must be durable, report ticket */
    uint64_t ticket;            /* APPEND (forced) */
    uint64_t at;                /* WAKE */
    char gid[TPC_GID_MAX];      /* ENDED */
    tpc_outcome_t outcome;      /* ENDED */
    size_t nacked, nparts;      /* ENDED */
    int level;                  /* LOG */
    char *text;                 /* LOG; ENDED: why not committed, or NULL */
    char *parts;                /* ENDED: "db1,db2" */
    /* ENDED, for metrics: milliseconds from begin to end, and of each
     * phase the transaction went through (COORD_NEVER: not this one):
     * prepare = prepares sent -> every vote in (one phase: work sent ->
     * ack), precommit (3PC) = every vote in -> the commit decision
     * (every participant pre-committed), decide = every vote in (3PC: the
     * commit decision) -> COMMIT durable, commit = COMMIT durable -> every
     * ack in                                                             */
    uint64_t age_ms, prepare_ms, precommit_ms, decide_ms, commit_ms;
} coord_action_t;

/*  Called by coord_engine_foreach_decided() for each live transaction with
 *  a commit decision (durable or not) that has not ended: REC is its COMMIT
 *  record, NACKED how many of its participants acked so far.  A non-zero
 *  return stops the walk and becomes its result.                          */
typedef int (coord_decided_fn) (void *arg, const tpc_record_t *rec,
                                size_t nacked);

/*  A new engine, or NULL on bad config (invalid coord_id) or no memory.   */
coord_engine_t *coord_engine_new (const coord_engine_config_t *cfg);

/*  Free everything, queued actions included; *self_p becomes NULL.       */
void coord_engine_destroy (coord_engine_t **self_p);

/*  Replay one owner record of the log (before coord_engine_start).
 *  COMMIT makes the gid live and decided (driven again after start), END
 *  forgets it, PRECOMMIT (3PC) makes it live and pre-committing unless a
 *  COMMIT/ABORT/END of it came earlier (a later COMMIT turns it decided, a
 *  later ABORT or END forgets it), EPOCH/others are remembered or ignored.
 *  Returns 0, TPC_ESTATE after start, TPC_ENOMEM.                        */
int coord_engine_replay (coord_engine_t *self, const tpc_record_t *rec);

/*  A record of the log tail cut at open (it failed its checks; before
 *  coord_engine_start): the agents it names become known, so a query for
 *  a gid with no record asks them too before presuming abort (a lost
 *  COMMIT may be the only record naming a participant that committed).
 *  Nothing else of it is used.  Returns 0, TPC_ESTATE after the start, or
 *  TPC_ENOMEM.                                                           */
int coord_engine_note_cut (coord_engine_t *self, const tpc_record_t *rec);

/*  Replay is done; EPOCH (>= 1, durable in the log) names this boot's gids.
 *  Replayed decided transactions are driven again (decide sent to each
 *  participant as soon as its agent says hello); replayed pre-committing
 *  ones likewise get precommit again.  Returns 0, TPC_EINVAL,
 *  TPC_ESTATE (twice).                                                    */
int coord_engine_start (coord_engine_t *self, uint64_t epoch, uint64_t now);

/*  A decoded request from a client (routing id ID of LEN bytes).  Replies
 *  are queued as CLIENT actions.  Returns 0 or TPC_ENOMEM.               */
int coord_engine_client (coord_engine_t *self, const void *id, size_t len,
                         const tpc_msg_t *msg, uint64_t now);

/*  The same, for a client whose live transactions count against the
 *  budget (max_txns_per_client) of OWNER, e.g. its key's name; NULL = the
 *  connection (routing id).  Also takes the operator requests: resolve
 *  and summary (see coord_ops.c; the shell checks the sender's role).    */
int coord_engine_client_as (coord_engine_t *self, const void *id,
                            size_t len, const char *owner,
                            const tpc_msg_t *msg, uint64_t now);

/*  A decoded message from agent NAME (its routing id).  Returns 0 or
 *  TPC_ENOMEM.  Stale, duplicate and foreign messages are ignored.  A
 *  hello with a new boot id (the agent restarted) aborts at once the work
 *  it had not voted on (coord_engine.c, "AGENT RESTART").                */
int coord_engine_agent (coord_engine_t *self, const char *name,
                        const tpc_msg_t *msg, uint64_t now);

/*  Agent NAME is gone (e.g. a socket monitor saw it disconnect): nothing
 *  is sent to it until its next hello, which brings every pending decision
 *  again.  Undecided work on it is left to the vote and transaction
 *  timeouts (it may only be slow).                                        */
int coord_engine_agent_gone (coord_engine_t *self, const char *name,
                             uint64_t now);

/*  The shell could not send MSG (an AGENT action) to NAME: the agent is
 *  not connected now.  Undecided work on it aborts; decisions stay pending
 *  and are resent when it says hello again.                              */
int coord_engine_send_failed (coord_engine_t *self, const char *name,
                              const tpc_msg_t *msg, uint64_t now);

/*  Every forced append up to TICKET is durable: held decisions go out.   */
int coord_engine_durable (coord_engine_t *self, uint64_t ticket,
                          uint64_t now);

/*  Timers: handle everything due at NOW (timeouts, resends, liveness).   */
int coord_engine_tick (coord_engine_t *self, uint64_t now);

/*  When coord_engine_tick() must next be called (COORD_NEVER: no timer).  */
uint64_t coord_engine_next_wake (coord_engine_t *self);

/*  Move the oldest queued action into *OUT; false when the queue is empty. */
bool coord_engine_pop (coord_engine_t *self, coord_action_t *out);

/*  Release what an action owns and zero it.  Idempotent.                  */
void coord_action_clear (coord_action_t *act);

/*  Live transactions, and the unfinished ones among them: those with a
 *  commit decision or (3PC) a PRECOMMIT record, what --recover-only must
 *  drive to the end (not stats.in_doubt, which counts every transaction
 *  prepared somewhere).                                                   */
size_t coord_engine_live (coord_engine_t *self);
size_t coord_engine_unfinished (coord_engine_t *self);

/*  Counters and gauges for metrics and status.                          */
typedef struct {
    size_t live;                /* transactions in memory */
    size_t in_doubt;            /* prepared somewhere (a yes vote is in),
                                   not applied everywhere yet; O(live) */
    size_t agents_connected;
    size_t heuristic;           /* gids resolved by an operator */
    uint64_t agent_connects;    /* agents (re)connected since start */
    uint64_t committed, aborted;    /* ended since start */
} coord_engine_stats_t;

void coord_engine_stats (coord_engine_t *self, coord_engine_stats_t *out);

/*  Highest EPOCH replayed (0 if none): this boot's epoch is that plus 1.  */
uint64_t coord_engine_replayed_epoch (coord_engine_t *self);

/*  Walk the live committed-but-not-ended transactions (for checkpoints and
 *  --recover-only reports) in gid order.                                  */
int coord_engine_foreach_decided (coord_engine_t *self, coord_decided_fn *fn,
                                  void *arg);

/*  Walk the live 3PC transactions with a PRECOMMIT record and no decision
 *  yet (checkpoints carry them; --recover-only reports), in gid order:
 *  REC is their PRECOMMIT record, NACKED how many participants answered
 *  "precommitted" so far.                                                */
int coord_engine_foreach_precommitting (coord_engine_t *self,
                                        coord_decided_fn *fn, void *arg);

/*  Walk the gids an operator resolved (HEURISTIC records, for
 *  checkpoints); NACKED is 0.                                            */
int coord_engine_foreach_resolved (coord_engine_t *self,
                                   coord_decided_fn *fn, void *arg);

/*  Highest forced ticket issued so far (0 = none).                        */
uint64_t coord_engine_last_ticket (coord_engine_t *self);

/* ---------------------------------------------------------------------
 *  The operator console's view (coord_view.c): a copy of the engine's
 *  state the console serves from another thread, bounded in size, made
 *  in the loop in O(live + agents' prepared gids + resolves).  Times are
 *  milliseconds; "_at" times are since the transaction's begin,
 *  COORD_NEVER when the step did not happen.                            */
typedef struct {
    char name[TPC_RECORD_NAME_MAX];
    tpc_vote_t vote;            /* TPC_VOTE_NONE: none yet */
    bool acked, waiting;
    uint64_t vote_at, ack_at;
} coord_view_part_t;

typedef struct {
    char gid[TPC_GID_MAX];
    const char *state;          /* as `tpcctl list` says (static) */
    tpc_outcome_t outcome;      /* IN_PROGRESS while undecided */
    uint64_t age_ms;
    bool in_doubt;              /* as the in-doubt gauge counts */
    bool waiting;               /* waits on a resend backoff or an agent
                                   not connected */
    bool backoff;               /* a resend is due later: retry applies */
    char reason[256];           /* why it aborts ("" none) */
    uint64_t prepare_at, voted_at, decided_at, durable_at, aborted_at;
    size_t nparts;
    coord_view_part_t *parts;
} coord_view_txn_t;

typedef struct {
    char name[TPC_RECORD_NAME_MAX];
    bool connected;
    uint64_t hello_ago_ms;
    char peer[256];             /* hello.peer, "" none */
    size_t in_flight;           /* live transactions naming it */
    uint64_t prepared_ago_ms;   /* COORD_NEVER: no hello with gids yet */
    char **prepared;            /* its database's prepared gids (hello) */
    size_t nprepared;
    char **unknown;             /* ... that the log does not know */
    size_t nunknown;
    char **decided;             /* ... whose outcome is decided */
    size_t ndecided;
} coord_view_agent_t;

typedef struct {
    char gid[TPC_GID_MAX];
    tpc_outcome_t outcome;
    char reason[256];
    uint64_t ago_ms;            /* COORD_NEVER: replayed from the log */
} coord_view_resolve_t;

typedef struct {
    coord_engine_stats_t stats;
    uint64_t epoch;
    uint64_t oldest_in_doubt_ms;
    size_t live;                /* live transactions (>= ntxns) */
    size_t ntxns;               /* the oldest MAX_TXNS of them, gid order */
    coord_view_txn_t *txns;
    size_t nagents;
    coord_view_agent_t *agents;
    size_t nresolves;
    coord_view_resolve_t *resolves;
} coord_view_t;

/*  A new view of at most MAX_TXNS transactions at NOW, or NULL (memory). */
coord_view_t *coord_engine_view (coord_engine_t *self, size_t max_txns,
                                 uint64_t now);

/*  Free a view; *self_p becomes NULL.  Idempotent.                       */
void coord_view_destroy (coord_view_t **self_p);

/*  "Retry now": a live transaction waiting on its resend backoff sends
 *  its decision (or 3PC precommit) again at once and its backoff starts
 *  over.  Returns 0, TPC_EUNKNOWN_GID (not live), TPC_ESTATE (nothing
 *  to resend) with a sentence in WHY.                                    */
int coord_engine_retry (coord_engine_t *self, const char *gid, uint64_t now,
                        char *why, size_t whylen);

#endif
