/*  coord_engine_int.h: what the files of the coordinator engine share
 *  (internal, never installed).  The engine is one pure state machine over
 *  several files, SQLite-VDBE style:
 *    coord_engine.c   the state diagram, the public entry points, the
 *                     decision core (abort, commit, pre-commit, timers)
 *    coord_txn.c      action queue, transaction table, timer heap, ended
 *                     cache, a gid's view from outside
 *    coord_client.c   client requests
 *    coord_agent.c    agent messages and liveness
 *    coord_ask.c      presumed abort, checked (outcome_of rounds)
 *    coord_ops.c      operator resolve and summary
 *    coord_replay.c   replay and checkpoint walks
 *    coord_view.c     the console's bounded snapshot, retry now
 *  Functions shared between these files are named ce_*; a file's own
 *  helpers stay static s_*.
 *
 *  WORDS (one meaning each)
 *    in doubt     prepared somewhere (a yes vote is in) and the outcome
 *                 not applied everywhere yet, or a one-phase outcome
 *                 unknown: ce_count_in_doubt, stats.in_doubt, the
 *                 summary's in_doubt, the metric
 *    unknown      a one-phase commit whose ack never came: nobody knows
 *                 its outcome (t->outcome_unknown, CE_END_UNKNOWN; status
 *                 says state "in_doubt", the client gets TPC_EIN_DOUBT)
 *    unfinished   decided (COMMITTING) or, 3PC, pre-committed: what the
 *                 coordinator must drive to an end (self->committing +
 *                 self->precommitting, coord_engine_unfinished())
 *    unconfirmed  a gid of an earlier boot whose presumed abort a round
 *                 an agent asked could not confirm (self->unconfirmed,
 *                 coord_ask.c)
 *    no_record    the state status gives a gid of an earlier boot that
 *                 has no record, answered from the agents' check of
 *                 their markers (ce_ask_status; txstatus.reason says how)
 *    waiting for  the members a live transaction still needs a message
 *                 from (worked, vote, ack, precommitted): list's
 *                 txinfo.waiting; an ABORTING one does not wait for an
 *                 unreachable member that never voted yes
 *                 (ce_abort_waits_for)
 *    owed         an abort that ended without the ack of an agent not
 *                 connected: its decide(aborted) goes at the agent's
 *                 next connect (ce_agent_t.owed)
 */
#ifndef COORD_ENGINE_INT_H_INCLUDED
#define COORD_ENGINE_INT_H_INCLUDED

#include "coord_engine.h"
#include "tpc_error.h"

#include <assert.h>
#include <czmq.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum {
    CE_ACTIVE, CE_PREPARING, CE_ONEPHASE, CE_COMMITTING, CE_ABORTING,
    CE_PRECOMMITTING
} ce_state_t;

/*  What the cache of ended transactions remembers (non-zero: zhashx items
 *  are pointers and NULL means absent).                                   */
typedef enum {
    CE_END_COMMITTED = 1, CE_END_ABORTED = 2, CE_END_UNKNOWN = 3
} ce_end_t;

typedef struct {
    char name[TPC_RECORD_NAME_MAX];
    uint64_t seq;               /* last work seq sent to it */
    tpc_vote_t vote;            /* TPC_VOTE_NONE until it voted */
    bool asked;                 /* a vote is expected from it */
    bool phase2;                /* receives the decision (and, 3PC, the
                                   precommit) */
    bool acked;
    bool precommitted;          /* 3PC: answered state precommitted (or
                                   committed) */
    uint64_t vote_at, ack_at;   /* when its vote, its ack came (the
                                   console's timeline); 0 = not yet */
} ce_member_t;

typedef struct {
    bool set;
    uint8_t *id;
    size_t len;
    uint64_t rid;
} ce_req_t;

typedef struct ce_txn ce_txn_t;
struct ce_txn {
    char gid[TPC_GID_MAX];
    uint64_t epoch, seq;
    ce_state_t state;
    bool client_open;           /* interactive: commit/rollback not yet
                                   answered */
    bool replied;               /* final outcome sent to a client */
    bool durable;               /* COMMITTING: COMMIT record durable */
    bool lingered;              /* ABORTING: gave up resending */
    bool outcome_unknown;       /* ONEPHASE: vote timeout passed, no ack:
                                   the outcome is not known */
    bool must_log_abort;        /* prepares went out: an abort must write
                                   an ABORT record */
    bool p3;                    /* three-phase commit */
    bool pc_durable;            /* PRECOMMITTING: PRECOMMIT record durable */
    uint64_t created, deadline, vote_deadline;
    uint64_t resend_at, backoff, linger_until, ack_wait_until;
    uint64_t ticket;            /* COMMIT (or PRECOMMIT) record's forced
                                   ticket */
    ce_member_t *parts;
    size_t nparts, capparts;
    size_t nunacked;            /* phase-2 participants still to ack;
                                   PRECOMMITTING: still to answer
                                   precommitted */
    ce_req_t exec;               /* exec waiting for worked */
    size_t exec_part;
    uint64_t exec_seq;
    ce_req_t done;               /* commit/submit waiting for the outcome */
    char *reason;               /* why it aborts */
    ce_txn_t *dnext;             /* FIFO of transactions waiting durability */
    size_t heap_idx;            /* SIZE_MAX: not in the heap */
    uint64_t wake;
    char *owner;                /* client whose budget it counts in */
    size_t nexec;               /* statements run (exec) so far */
    uint64_t prepare_at, voted_at, durable_at;  /* phase starts (metrics);
                                                   0 = not reached */
    uint64_t decided_at;        /* 3PC: commit decided after pre-commit */
    uint64_t aborted_at;        /* the abort decision (the console) */
};

/*  An outcome an operator forced (resolve): what status and queries say. */
typedef struct {
    tpc_outcome_t outcome;
    char reason[256];
    uint64_t at;                /* engine time it took effect; 0 = replayed */
} ce_heur_t;

/*  A resolve whose HEURISTIC record is not durable yet.                  */
typedef struct {
    char gid[TPC_GID_MAX];
    tpc_outcome_t outcome;
    uint64_t ticket;
    ce_req_t req;
    char reason[256];
} ce_resolve_t;

typedef struct {
    char name[TPC_RECORD_NAME_MAX];
    bool connected;
    uint64_t last_hello;
    char *peer;                 /* its peer endpoint (hello.peer), or NULL */
    char boot[33];              /* its boot id (hello.boot), "" = none yet */
    char past[4][33];           /* boot ids of its earlier incarnations
                                   (ring): their late hellos are stale */
    size_t npast;
    char (*owed)[TPC_GID_MAX];  /* aborted gids that ended without its ack
                                   while it was not connected: a
                                   decide(aborted) each at its next
                                   connect (oldest first, at most
                                   cfg.ended_cache) */
    size_t nowed, capowed;
    char **prepared;            /* gids its last hello said its database
                                   holds prepared (the console), or NULL */
    size_t nprepared;
    uint64_t prepared_at;       /* when that hello came; 0 = never */
} ce_agent_t;

struct coord_engine {
    char coord_id[TPC_COORD_ID_MAX];
    coord_engine_config_t cfg;
    bool started;
    uint64_t epoch, seq, replayed_epoch;
    zhashx_t *txns;             /* gid -> ce_txn_t * */
    zhashx_t *agents;           /* name -> ce_agent_t * (owned) */
    zhashx_t *ended;            /* gid -> (void *) ce_end_t */
    char (*ring)[TPC_GID_MAX];  /* FIFO of ended gids, for eviction */
    size_t ring_head, ring_n;
    ce_txn_t **heap;
    size_t heap_n, heap_cap;
    ce_txn_t **due;              /* scratch for tick */
    size_t due_cap;
    uint64_t next_sweep;
    uint64_t wake_reported;
    ce_txn_t *dhead, *dtail;     /* waiting for coord_engine_durable */
    uint64_t tickets;
    size_t committing;          /* live COMMITTING transactions */
    size_t precommitting;       /* live PRECOMMITTING transactions */
    coord_action_t *q;
    size_t qhead, qn, qcap;
    int err;                    /* sticky TPC_ENOMEM within one event */
    zhashx_t *owners;           /* client -> (uintptr_t) live transactions */
    zhashx_t *heuristics;       /* gid -> ce_heur_t * (resolved by force) */
    ce_resolve_t *resolving;     /* resolves waiting for their record */
    size_t nresolving, capresolving;
    uint64_t n_committed, n_aborted;    /* ended since start */
    uint64_t agent_connects;
    uint64_t now;               /* time of the event being handled */
    zhashx_t *asks;             /* gid -> ce_ask_t * (presumed abort being
                                   checked with outcome_of) */
    uint64_t ask_grace_until;   /* before: no presumed abort for a gid of
                                   an earlier boot (agents still coming) */
    zhashx_t *unconfirmed;      /* gid -> (void *) 1: of an earlier boot,
                                   no record, its last round could not
                                   confirm the presumed abort (an operator
                                   may resolve it) */
};

#define CE_RESOLVE_TAG "resolve --force"     /* reason prefix of a HEURISTIC
                                               record an operator forced;
                                               agent names have no space */

#define CE_MIN(a, b) ((a) < (b) ? (a) : (b))

/*  Names of ce_state_t, as status and list show them.                   */
extern const char *const ce_state_names[];

/*  How a gid looks from outside (ce_view).                              */
typedef struct {
    const char *state;
    tpc_outcome_t outcome;      /* for a status request */
    tpc_outcome_t answer;       /* for an agent's query */
    bool foreign;               /* not this coordinator's gid */
} ce_view_t;

/*  A presumed abort being checked (coord_ask.c).                        */
typedef struct ce_ask ce_ask_t;

/* coord_txn.c */
void ce_push (coord_engine_t *self, coord_action_t *act);
void ce_log (coord_engine_t *self, int level, const char *fmt, ...);
tpc_msg_t *ce_msg (coord_engine_t *self, tpc_msg_type_t type);
void ce_keep_err (coord_engine_t *self, int rc);
void ce_to_client (coord_engine_t *self, const uint8_t *id, size_t len,
                   tpc_msg_t *msg);
void ce_to_agent (coord_engine_t *self, const char *name, tpc_msg_t *msg);
uint64_t ce_append (coord_engine_t *self, tpc_record_t *rec, bool forced);
void ce_reply_error (coord_engine_t *self, const uint8_t *id, size_t len,
                     uint64_t rid, int code, const char *gid, const char *fmt,
                     ...);
void ce_reply_outcome (coord_engine_t *self, const uint8_t *id, size_t len,
                       uint64_t rid, const char *gid, tpc_outcome_t outcome,
                       const char *reason);
void ce_reply_status (coord_engine_t *self, const uint8_t *id, size_t len,
                      uint64_t rid, const char *gid, const char *state,
                      tpc_outcome_t outcome, const char *reason);
void ce_req_clear (ce_req_t *req);
void ce_req_set (coord_engine_t *self, ce_req_t *req, const void *id,
                 size_t len, uint64_t rid);
void ce_answer_done (coord_engine_t *self, ce_txn_t *t, tpc_outcome_t outcome,
                     const char *reason);
bool ce_name_valid (const char *name);
bool ce_agent_connected (coord_engine_t *self, const char *name);
void ce_agent_destroy (void **item);
void ce_heap_remove (coord_engine_t *self, ce_txn_t *t);
void ce_reschedule (coord_engine_t *self, ce_txn_t *t);
void ce_remember (coord_engine_t *self, const char *gid, ce_end_t end);
ce_end_t ce_recall (coord_engine_t *self, const char *gid);
void ce_txn_free (ce_txn_t **t_p);
ce_txn_t *ce_txn_lookup (coord_engine_t *self, const char *gid);
ce_txn_t *ce_txn_add (coord_engine_t *self, const char *gid, ce_state_t state);
ce_txn_t *ce_txn_begin (coord_engine_t *self, uint64_t timeout_ms,
                        uint64_t now);
ce_member_t *ce_member_find (ce_txn_t *t, const char *name, size_t *idx);
ce_member_t *ce_member_add (coord_engine_t *self, ce_txn_t *t, const char *name);
void ce_set_reason (coord_engine_t *self, ce_txn_t *t, const char *fmt, ...);
void ce_owner_take (coord_engine_t *self, ce_txn_t *t, const char *owner);
void ce_forget (coord_engine_t *self, ce_txn_t *t, ce_end_t end);
ce_view_t ce_view (coord_engine_t *self, const char *gid);
bool ce_earlier_unknown (coord_engine_t *self, const char *gid);
ce_txn_t **ce_sorted (coord_engine_t *self, size_t *n);
bool ce_waits_for (coord_engine_t *self, const ce_txn_t *t, size_t i);

/* coord_engine.c */
tpc_msg_t *ce_decide_msg (coord_engine_t *self, const char *gid,
                          tpc_outcome_t outcome);
void ce_drive (coord_engine_t *self, ce_txn_t *t, const char *only_agent);
tpc_record_t *ce_record_new (coord_engine_t *self, tpc_rec_type_t type,
                             const ce_txn_t *t);
bool ce_abort_waits_for (coord_engine_t *self, const ce_member_t *p);
bool ce_abort_settle (coord_engine_t *self, ce_txn_t *t, uint64_t now);
bool ce_abort (coord_engine_t *self, ce_txn_t *t, uint64_t now);
void ce_commit_decide (coord_engine_t *self, ce_txn_t *t);
void ce_votes_complete (coord_engine_t *self, ce_txn_t *t, uint64_t now);
void ce_precommit_drive (coord_engine_t *self, ce_txn_t *t,
                         const char *only_agent);
void ce_commit_finished (coord_engine_t *self, ce_txn_t *t);
void ce_txn_due (coord_engine_t *self, ce_txn_t *t, uint64_t now);

/* coord_client.c */
void ce_on_begin (coord_engine_t *self, const uint8_t *id, size_t len,
                  const tpc_msg_t *msg, const char *owner, uint64_t now);
void ce_on_submit (coord_engine_t *self, const uint8_t *id, size_t len,
                   const tpc_msg_t *msg, const char *owner, uint64_t now);
void ce_on_exec (coord_engine_t *self, const uint8_t *id, size_t len,
                 const tpc_msg_t *msg, ce_txn_t *t);
void ce_on_commit (coord_engine_t *self, const uint8_t *id, size_t len,
                   const tpc_msg_t *msg, ce_txn_t *t, uint64_t now);
void ce_on_rollback (coord_engine_t *self, const uint8_t *id, size_t len,
                     const tpc_msg_t *msg, ce_txn_t *t, uint64_t now);
void ce_on_gone_gid (coord_engine_t *self, const uint8_t *id, size_t len,
                     const tpc_msg_t *msg);
void ce_on_status (coord_engine_t *self, const uint8_t *id, size_t len,
                   const tpc_msg_t *msg);
void ce_on_list (coord_engine_t *self, const uint8_t *id, size_t len,
                 const tpc_msg_t *msg, uint64_t now);

/* coord_agent.c */
void ce_on_hello (coord_engine_t *self, const char *name, const tpc_msg_t *msg,
                  uint64_t now);
void ce_on_worked (coord_engine_t *self, const char *name,
                   const tpc_msg_t *msg, uint64_t now);
void ce_on_vote (coord_engine_t *self, const char *name, const tpc_msg_t *msg,
                 uint64_t now);
void ce_on_ack (coord_engine_t *self, const char *name, const tpc_msg_t *msg,
                uint64_t now);
void ce_on_state (coord_engine_t *self, const char *name, const tpc_msg_t *msg,
                  uint64_t now);
void ce_sweep_agents (coord_engine_t *self, uint64_t now);
void ce_agent_gone (coord_engine_t *self, const char *name, const char *why);
void ce_agent_owe_abort (coord_engine_t *self, const char *name,
                         const char *gid);

/* coord_ask.c */
void ce_ask_destroy (void **item);
void ce_ask_note_parts (coord_engine_t *self, const tpc_record_t *rec);
void ce_ask_settle (coord_engine_t *self, ce_ask_t *ask, bool timed_out);
bool ce_ask_start (coord_engine_t *self, const char *name, const char *gid,
                   const ce_view_t *v);
bool ce_ask_status (coord_engine_t *self, const uint8_t *id, size_t len,
                    uint64_t rid, const char *gid, const ce_view_t *v);
void ce_on_known (coord_engine_t *self, const char *name,
                  const tpc_msg_t *msg);
void ce_ask_unreachable (coord_engine_t *self, const char *name,
                         const char *gid);
uint64_t ce_asks_wake (coord_engine_t *self);
void ce_asks_due (coord_engine_t *self, uint64_t now);
void ce_on_query (coord_engine_t *self, const char *name,
                  const tpc_msg_t *msg);

/* coord_ops.c */
void ce_heur_destroy (void **item);
void ce_heur_set (coord_engine_t *self, const char *gid, tpc_outcome_t outcome,
                  const char *reason);
void ce_on_resolve (coord_engine_t *self, const uint8_t *id, size_t len,
                    const tpc_msg_t *msg, uint64_t now);
void ce_resolves_durable (coord_engine_t *self, uint64_t ticket, uint64_t now);
size_t ce_count_in_doubt (coord_engine_t *self, uint64_t now,
                          uint64_t *oldest);
void ce_on_summary (coord_engine_t *self, const uint8_t *id, size_t len,
                    const tpc_msg_t *msg, uint64_t now);

#endif
