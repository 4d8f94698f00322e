/*  part_engine_int: what the files of the agent engine share (not
 *  installed, not API: callers use part_engine.h).
 *
 *  The engine is one pure state machine over five files (SQLite-VDBE
 *  style): part_engine.c (the 2PC record machine's diagram, coordinator
 *  messages, RM completions, time, entry points), part_rec.c (records,
 *  their queue and timers, the action queue, RM submission, messages to
 *  the coordinator),
 *  part_p3.c (three-phase commit: its diagram, the durable 3PC state,
 *  the termination protocol), part_recover.c (recovery listings,
 *  outcome_of).  Functions named pe_* are shared among these files only;
 *  each file's private helpers stay static (s_*).
 */
#ifndef PART_ENGINE_INT_H
#define PART_ENGINE_INT_H

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "part_engine.h"
#include "tpc_gid.h"

/*  A record's state (the diagram at the top of part_engine.c).          */
typedef enum {
    PE_ACTIVE, PE_PREPARING, PE_PREPARED, PE_COMMITTING, PE_ROLLING_BACK,
    PE_ABORTED
} pe_state_t;

/*  Their names, for logs and part_engine_state (part_engine.c).          */
extern const char *const pe_state_names[];

typedef struct pe_qmsg {
    tpc_msg_t *msg;
    bool noack;                 /* a decide applied for 3PC (a peer's or a
                                   termination's): ack nobody */
    struct pe_qmsg *next;
} pe_qmsg_t;

typedef struct pe_rec pe_rec_t;
struct pe_rec {
    char gid[TPC_GID_MAX];
    pe_state_t state;
    uint64_t req;               /* RM operation in flight, 0 = none */
    part_rm_op_t op;            /* ... and which */
    part_rm_op_t retry_op;      /* to resubmit at next_at, 0 = none */
    uint64_t seq;               /* highest work seq accepted */
    tpc_msg_t *cur;             /* the work being executed */
    pe_qmsg_t *qhead, *qtail;    /* messages waiting for the record */
    bool begun;                 /* BEGIN succeeded: a session is pinned */
    bool maybe_prepared;        /* PREPARE was sent: the db may hold gid */
    bool ack_wanted;            /* send ack when the outcome is known */
    bool in_doubt;              /* found by RECOVER: query until answered */
    bool tombstoned;            /* a tombstone for gid is committed */
    bool interrupted;           /* interrupt() sent during a PREPARE that
                                   carried statements */
    bool p3;                    /* PREPARING for three-phase commit: its
                                   UNCERTAIN was made durable BEFORE the
                                   PREPARE went out (pe_p3_t), ... */
    const char *p3_why;         /* ... or could not be (static text): the
                                   vote will be no */
    tpc_outcome_t want;         /* ABORTED: abort as soon as idle */
    tpc_outcome_t decision;     /* COMMITTING / ROLLING_BACK: target */
    char *reason;               /* why ABORTED */
    uint64_t next_at;           /* timer (query or retry), 0 = none */
    uint64_t forget_at;         /* ABORTED: drop the record after */
    pe_rec_t *tprev, *tnext;     /* timer list (records with next_at) */
    bool in_timers;
    pe_rec_t *fprev, *fnext;     /* forget FIFO (ABORTED records) */
    bool in_forget;
};

/*  A gid's three-phase commit state (the diagram at the top of part_p3.c).
 *  Kept apart from its pe_rec_t: it is born when UNCERTAIN is durable and
 *  outlives the database work (a decided gid answers getstate for
 *  p3_forget_ms).  pe_term_t: where termination stands.                 */
typedef enum { PE_WAIT, PE_COLLECT, PE_FOLLOW, PE_LEAD } pe_term_t;

typedef struct pe_p3 pe_p3_t;
struct pe_p3 {
    char gid[TPC_GID_MAX];
    tpc_p3_t state;             /* durable (io->persist returned 0) */
    size_t nparts;
    char **parts;               /* the CanCommit's participants (sorted) */
    char **peers;               /* their peer endpoints, "" = unknown */
    bool hardened;              /* answered a peer's getstate while UNCERTAIN */
    bool restored;              /* read back from the state log: this agent
                                   was down, and may have missed a round
                                   that decided without it */
    pe_term_t phase;             /* undecided: where termination stands */
    bool incomplete;            /* this round could not ask everybody */
    uint64_t round;             /* termination rounds run (logs) */
    uint64_t at;                /* undecided: phase deadline; decided: forget
                                   time; 0 = arm at the next tick */
    tpc_p3_t *seen;             /* per part: its reply this round */
    bool *heard;                /* per part: replied this round */
    bool *pending;              /* per part: asked (COLLECT) or sent a
                                   precommit (LEAD), no answer yet */
    bool in_done;               /* in the done FIFO, else the live list */
    pe_p3_t *prev, *next;
};

/*  An outcome_of the coordinator asked about a gid this engine holds no
 *  record of: the RM's OUTCOME_OF (a read on any free session, so it may
 *  run beside a record's own operation) answers it.                      */
typedef struct pe_inq pe_inq_t;
struct pe_inq {
    uint64_t req;
    char gid[TPC_GID_MAX];
    pe_inq_t *next;
};

/*  A queued action.                                                     */
typedef struct pe_act pe_act_t;
struct pe_act {
    part_action_t act;
    pe_act_t *next;
};

struct part_engine {
    part_engine_config_t cfg;
    char *name;
    char *peer_endpoint;
    zhashx_t *p3s;              /* gid -> pe_p3_t */
    pe_p3_t *live;               /* undecided 3PC gids */
    pe_p3_t *done_head, *done_tail;   /* decided ones, in forget order */
    bool p3_unarmed;            /* restored entries wait for their timers */
    part_engine_io_t io;
    pe_act_t *qhead, *qtail;    /* queued actions (part_engine_pop) */
    zhashx_t *recs;             /* gid -> pe_rec_t */
    pe_rec_t *timers;
    pe_rec_t *fhead, *ftail;
    uint64_t next_req;
    uint64_t hello_at;
    bool started;
    uint64_t recover_req;       /* RECOVER in flight */
    bool recover_again;         /* reconnected while it ran */
    uint64_t recover_at;        /* retry RECOVER, 0 = none */
    bool ready;
    size_t found;
    pe_inq_t *inqs;              /* outcome_of asked of the RM (no record) */
};

/* ------------------------------------------------------------------ */
/*  part_engine.c                                                      */

/*  Handle coordinator message MSG (taken) for its gid's record (QUEUED:
 *  it waited in the record's queue; NOACK: a 3PC decide applied for a
 *  peer or a termination, acked to nobody).                              */
void pe_handle (part_engine_t *self, tpc_msg_t *msg, bool queued,
                bool noack, uint64_t now);
/*  Start phase 2 for a prepared gid (ACK: the coordinator wants an ack);
 *  0, or TPC_EIO when the 3PC decision could not be made durable.       */
int pe_phase2 (part_engine_t *self, pe_rec_t *rec, tpc_outcome_t outcome,
               bool ack, uint64_t now);

/* ------------------------------------------------------------------ */
/*  part_rec.c: log lines, messages to the coordinator                 */

/*  Log levels, as the coordinator has them: VERBOSE lines (every step)
 *  are queued (LOG) only with config.verbose; WARNING lines always.      */
enum { PE_VERBOSE = 0, PE_WARNING = 1 };

void pe_log (part_engine_t *self, int level, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));
/*  Queue ACT (taken: cleared, also on failure).  0 or TPC_ENOMEM.        */
int pe_push (part_engine_t *self, part_action_t *act);
/*  Send MSG (taken; NULL: logs the lost reply) to the coordinator.      */
void pe_send (part_engine_t *self, tpc_msg_t *msg);
/*  A new message TYPE with GID and REASON (both may be NULL), or NULL.  */
tpc_msg_t *pe_msg (tpc_msg_type_t type, const char *gid, const char *reason);
void pe_vote (part_engine_t *self, const char *gid, tpc_vote_t vote,
              const char *reason);
void pe_ack (part_engine_t *self, const char *gid, tpc_outcome_t outcome,
             const char *reason);
void pe_query (part_engine_t *self, const char *gid);
/*  Reply "it failed" to a work or prepare MSG, in the shape its sender
 *  waits for.                                                            */
void pe_reply_failure (part_engine_t *self, const tpc_msg_t *msg,
                       const char *reason);
void pe_worked_ok (part_engine_t *self, const tpc_msg_t *work,
                   const part_rm_result_t *res);

/*  part_rec.c: records, their timers, queue and forget FIFO           */

void pe_timer_clear (part_engine_t *self, pe_rec_t *rec);
void pe_timer_set (part_engine_t *self, pe_rec_t *rec, uint64_t at);
void pe_forget_append (part_engine_t *self, pe_rec_t *rec, uint64_t now);
void pe_set_state (part_engine_t *self, pe_rec_t *rec, pe_state_t state,
                   uint64_t now);
void pe_set_reason (pe_rec_t *rec, const char *reason);
pe_rec_t *pe_rec_new (part_engine_t *self, const char *gid,
                      pe_state_t state);
/*  Free REC; the messages that waited for it are returned (as a list).   */
pe_qmsg_t *pe_rec_free (part_engine_t *self, pe_rec_t *rec);
/*  Drop REC and handle what waited for it as new messages.               */
void pe_rec_release (part_engine_t *self, pe_rec_t *rec, uint64_t now);
void pe_enqueue (part_engine_t *self, pe_rec_t *rec, tpc_msg_t *msg,
                 bool noack);
tpc_msg_t *pe_dequeue (pe_rec_t *rec, bool *noack);
/*  An RM operation is in flight or waits for its retry.                  */
bool pe_busy (const pe_rec_t *rec);

/*  part_rec.c: RM operations                                          */

void pe_retry (part_engine_t *self, pe_rec_t *rec, part_rm_op_t op,
               uint64_t now);
void pe_submit (part_engine_t *self, pe_rec_t *rec, part_rm_op_t op,
                uint64_t now);
/*  Queue an RM request REQ (SUBMIT; gid and stmts copied).  0 or
 *  TPC_ENOMEM (nothing queued).                                          */
int pe_push_submit (part_engine_t *self, const part_rm_req_t *req);
/*  Queue an INTERRUPT of GID's work.                                     */
void pe_interrupt (part_engine_t *self, const char *gid);
/*  The SUBMIT of request REQ was refused with RC: retry its step.       */
bool pe_rec_refused (part_engine_t *self, uint64_t req, int rc,
                     uint64_t now);

/* ------------------------------------------------------------------ */
/*  part_p3.c: three-phase commit                                      */

bool pe_p3_is_decided (tpc_p3_t state);
tpc_outcome_t pe_p3_outcome (tpc_p3_t state);
pe_p3_t *pe_p3_lookup (part_engine_t *self, const char *gid);
void pe_p3_remove (part_engine_t *self, pe_p3_t *p3);
void pe_p3_wait (part_engine_t *self, pe_p3_t *p3, uint64_t now);
/*  Make the decision OUTCOME durable.  0, or the persist failure; a gid
 *  already decided keeps its decision (TPC_ESTATE if it differs).        */
int pe_p3_decide (part_engine_t *self, pe_p3_t *p3, tpc_outcome_t outcome,
                  uint64_t now);
const char *pe_p3_uncertain (part_engine_t *self, const char *gid,
                             const tpc_msg_t *msg);
void pe_p3_on_coord (part_engine_t *self, const tpc_msg_t *msg,
                     uint64_t now);
void pe_p3_tick (part_engine_t *self, uint64_t now);
/*  The earlier of AT and the next 3PC deadline.                          */
uint64_t pe_p3_next_at (part_engine_t *self, uint64_t at, uint64_t now);
void pe_p3_arm_restored (part_engine_t *self, uint64_t now);
/*  A PEER_SEND (ACT) could not be executed.                              */
void pe_p3_peer_failed (part_engine_t *self, const part_action_t *act,
                        uint64_t now);

/* ------------------------------------------------------------------ */
/*  part_recover.c: recovery listings, outcome_of                      */

void pe_submit_recover (part_engine_t *self, uint64_t now);
void pe_on_recovered (part_engine_t *self, const part_rm_result_t *res,
                      uint64_t now);
void pe_on_outcome_of (part_engine_t *self, const char *gid, uint64_t now);
/*  The SUBMIT of request REQ (a listing or an outcome_of) was refused:
 *  retry the listing later / answer the outcome_of "unknown".  False:
 *  not one of those.                                                     */
bool pe_recover_refused (part_engine_t *self, uint64_t req, uint64_t now);
/*  RES answers an outcome_of (true: it was one of those, now replied).   */
bool pe_on_inquired (part_engine_t *self, const part_rm_result_t *res);

#endif
