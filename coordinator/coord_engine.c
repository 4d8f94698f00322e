/*  coord_engine: two-phase commit with presumed abort, and Skeen's
 *  three-phase commit, as a pure state machine (see coord_engine.h for
 *  events and actions).
 *
 *  PER-TRANSACTION STATE MACHINE (gid = tpc_<id>_<epoch>_<seq>); each arrow
 *  names the function that takes it.
 *
 *                        begin (s_on_begin)
 *                             |
 *  exec: work(then=none)      v         commit, 0 participants:
 *  worked ok: result   +-------------+  reply committed -> ENDED(committed)
 *  (s_on_exec,         |   ACTIVE    |
 *   s_on_worked)       +-------------+
 *      commit, >= 2 parts:  |   |   |  commit, 1 part: work(then=commit)
 *      prepare to each      |   |   +---------------------------+
 *      (s_on_commit)        |   |  rollback, txn timeout,       |
 *                           |   |  worked failed, send failed,  |
 *  submit, >= 2 parts:      |   |  part gone (s_abort)          |
 *  work(then=prepare)       |   +------------> ABORTING         |
 *  (s_on_submit) ---+       |                                   v
 *                   v       v      submit, 1 part:        +----------+
 *                +-------------+   work(then=commit) ---> | ONEPHASE |
 *                |  PREPARING  |                          +----------+
 *                +-------------+              ack: reply its outcome, ENDED
 *   vote no, vote   |   |   |                 vote timeout: client gets
 *   timeout, txn    |   |   |                   EIN_DOUBT; forgotten
 *   timeout,        |   |   |                   abort_linger_ms later
 *   rollback, send  |   |   |                 send failed: -> ABORTING
 *   failed          |   |   |  every vote in, all readonly: reply
 *   (s_abort)       |   |   +- committed, no record, no phase 2
 *   -> ABORTING <---+   |      -> ENDED(committed) (s_votes_complete)
 *                       |
 *   every vote in, >= 1 yes: append COMMIT(gid, yes voters), FORCED,
 *   ticket t (s_votes_complete)
 *                       v
 *         +------------------------+
 *         | COMMITTING, !durable   |  every send that depends on it is held
 *         +------------------------+
 *                       | coord_engine_durable(>= t) (s_commit_durable)
 *                       v
 *         +------------------------+  decide(committed) to each yes voter,
 *         | COMMITTING, durable    |  resent 100 ms doubling to 5 s and at
 *         +------------------------+  its hello; reply_on=decision: reply
 *                       |             now; applied: at the last ack or
 *                       |             ack_wait_ms later (s_txn_due)
 *                       | every yes voter acked: append END, lazy
 *                       v (s_on_ack, s_commit_finished)
 *                ENDED(committed)
 *
 *         +------------------------+  decide(aborted) at once to each
 *         |        ABORTING        |  participant that did not vote no or
 *         +------------------------+  readonly, resent until acked or
 *                       |             abort_linger_ms passed; ABORT record,
 *                       |             lazy, if prepares went out
 *                       | acks in (or lingered) and an interactive client
 *                       | heard the outcome (or its deadline passed)
 *                       v (s_abort_settle)
 *                 ENDED(aborted)
 *
 *  THREE-PHASE COMMIT (t->p3: the begin/submit's protocol, else
 *  cfg.protocol; only with >= 2 participants, one keeps ONEPHASE).  The
 *  prepare / work(then=prepare) is the CanCommit: protocol 3pc, parts =
 *  every participant's name sorted, peers = their agents' hello.peer
 *  ("" = none).  ACTIVE, PREPARING and ABORTING are as above; then:
 *
 *   PREPARING, every vote in, >= 1 yes: append PRECOMMIT(gid, yes
 *   voters), FORCED, ticket p (s_votes_complete, s_precommit_begin)
 *                       v
 *         +------------------------+  nothing sent; status/query:
 *         | PRECOMMITTING, !durable|  in_progress
 *         +------------------------+
 *                       | coord_engine_durable(>= p) (s_precommit_durable)
 *                       v
 *         +------------------------+  precommit to each yes voter, resent
 *         | PRECOMMITTING, durable |  with the decide backoff and at its
 *         +------------------------+  hello while it has not answered
 *           |           |        |    precommitted; uncertain/unknown/
 *           |           |        |    silence change nothing: NO timeout
 *           |           |        |    (txn, vote, agent gone, send failed)
 *           |           |        |    leaves this state (s_on_state)
 *   state precommitted  |   state aborted from any (a termination leader
 *   from every yes      |   decided): ABORT forced (not waited for),
 *   voter, or state     |   decide(aborted) to every yes voter
 *                       |   -> ABORTING (s_abort)
 *   committed from any  |
 *   (a leader decided): +--> rollback: refused (TPC_ESTATE); commit
 *   append COMMIT,           retry: answered at the outcome; resolve:
 *   FORCED                   refused
 *   (s_commit_decide) -> COMMITTING, !durable, and on exactly as 2PC
 *
 *  A yes voter that votes readonly is out of phase 2 as in 2PC: it gets no
 *  precommit and is not in PRECOMMIT nor COMMIT.  Replay: a PRECOMMIT
 *  without a later COMMIT/ABORT/END/HEURISTIC is a live PRECOMMITTING,
 *  durable; checkpoints copy it (coord_engine_foreach_precommitting).
 *
 *  ENDED is not a state in memory: the transaction is removed from the table
 *  and its gid and outcome go to a bounded cache of recent ends, so status
 *  and retried commits still get the right answer for a while.
 *
 *  INVARIANTS
 *  - A decide(committed), a client's outcome "committed" for a transaction
 *    with a COMMIT record, a status/answer "committed": only after
 *    coord_engine_durable() covered the COMMIT record's ticket.  Before,
 *    status and query answer in_progress.
 *  - A decision never changes: COMMITTING and ABORTING accept only acks;
 *    votes, worked replies, timeouts and rollbacks there change nothing.
 *  - 2PC: after a yes vote only the coordinator decides (there is no path
 *    from a participant's message to a commit without every vote being
 *    in).  3PC: no COMMIT record without a durable PRECOMMIT record, and
 *    then only when every yes voter answered precommitted or one answered
 *    committed; after the PRECOMMIT record only an agent's `state aborted`
 *    aborts (the decision of a termination leader, not a timeout).
 *  - A precommit leaves only after its PRECOMMIT record is durable: no
 *    participant is pre-committed without it, so presumed abort stays
 *    right for a gid with no record.
 *  - Readonly voters are out of phase 2 and out of the COMMIT record; if no
 *    one voted yes there is no record at all (nothing to recover).
 *  - One participant = one phase: work(then=commit); the agent decides, the
 *    coordinator logs nothing.
 *  - Presumed abort: a gid of this coordinator that is neither live nor
 *    remembered as committed is aborted (for an agent's query about a gid
 *    of an earlier boot, only once the other agents confirmed no database
 *    committed it: "Presumed abort, checked"); a live undecided gid is
 *    in_progress, never presumed aborted.  A gid of another coordinator,
 *    or of a future epoch, is answered in_progress (not ours to presume).
 *  - One gid, one outcome: an operator's heuristic only ever confirms a
 *    decision or settles a gid with no known outcome; a gid is issued
 *    only if no record names it.
 *  - One reply per request: a second commit of a gid whose outcome a
 *    request already waits for is answered TPC_EIN_DOUBT at once.
 *  - Stale messages (worked for an old seq, a vote outside PREPARING, an
 *    ack for a gid not waiting for that agent's ack) are ignored.  A yes
 *    vote for a gid presumed aborted gets decide(aborted) so the agent does
 *    not keep a prepared transaction until its next restart.
 *
 *  TIMERS
 *  Each transaction has one wake time derived from its state (deadline,
 *  vote deadline, resend time, ack-wait end, linger end) and sits in a
 *  binary min-heap keyed by it; agents' liveness is swept every heartbeat.
 *  The shell keeps one timer: the WAKE action / coord_engine_next_wake().
 *
 *  AGENT RESTART
 *  A hello with a boot id never heard from that agent (s_reborn; the first
 *  one heard does not count) says its process restarted: its ACTIVE work
 *  and the PREPARING gids it has not voted on abort at once, a ONEPHASE
 *  on it turns in doubt at once (s_agent_reborn), and every pending
 *  decide/precommit goes to it at once; no timer is waited for.
 */
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
    S_ACTIVE, S_PREPARING, S_ONEPHASE, S_COMMITTING, S_ABORTING,
    S_PRECOMMITTING
} s_state_t;

static const char *s_state_names[] = {
    "active", "preparing", "onephase", "committing", "aborting",
    "precommitting"
};

/*  What the cache of ended transactions remembers (non-zero: zhashx items
 *  are pointers and NULL means absent).                                   */
typedef enum {
    S_END_COMMITTED = 1, S_END_ABORTED = 2, S_END_UNKNOWN = 3
} s_end_t;

/*  One member (participant) of a transaction, as the engine tracks it.  */
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
} s_member_t;

typedef struct {
    bool set;
    uint8_t *id;
    size_t len;
    uint64_t rid;
} s_req_t;

typedef struct s_txn s_txn_t;
struct s_txn {
    char gid[TPC_GID_MAX];
    uint64_t epoch, seq;
    s_state_t state;
    bool client_open;           /* interactive: commit/rollback not yet
                                   answered */
    bool replied;               /* final outcome sent to a client */
    bool durable;               /* COMMITTING: COMMIT record durable */
    bool lingered;              /* ABORTING: gave up resending */
    bool indoubt;               /* ONEPHASE: vote timeout passed */
    bool logged_abort;          /* prepares went out: log ABORT */
    bool p3;                    /* three-phase commit */
    bool pc_durable;            /* PRECOMMITTING: PRECOMMIT record durable */
    uint64_t created, deadline, vote_deadline;
    uint64_t resend_at, backoff, linger_until, ack_wait_until;
    uint64_t ticket;            /* COMMIT (or PRECOMMIT) record's forced
                                   ticket */
    s_member_t *parts;
    size_t nparts, capparts;
    size_t nunacked;            /* phase-2 participants still to ack;
                                   PRECOMMITTING: still to answer
                                   precommitted */
    s_req_t exec;               /* exec waiting for worked */
    size_t exec_part;
    uint64_t exec_seq;
    s_req_t done;               /* commit/submit waiting for the outcome */
    char *reason;               /* why it aborts */
    s_txn_t *dnext;             /* FIFO of transactions waiting durability */
    size_t heap_idx;            /* SIZE_MAX: not in the heap */
    uint64_t wake;
    char *owner;                /* client whose budget it counts in */
    size_t nexec;               /* statements run (exec) so far */
    uint64_t prepare_at, voted_at, durable_at;  /* phase starts (metrics);
                                                   0 = not reached */
    uint64_t decided_at;        /* 3PC: commit decided after pre-commit */
};

/*  An outcome an operator forced (resolve): what status and queries say. */
typedef struct {
    tpc_outcome_t outcome;
    char reason[256];
} s_heur_t;

/*  A resolve whose HEURISTIC record is not durable yet.                  */
typedef struct {
    char gid[TPC_GID_MAX];
    tpc_outcome_t outcome;
    uint64_t ticket;
    s_req_t req;
    char reason[256];
} s_resolve_t;

typedef struct {
    char name[TPC_RECORD_NAME_MAX];
    bool connected;
    uint64_t last_hello;
    char *peer;                 /* its peer endpoint (hello.peer), or NULL */
    char boot[33];              /* its boot id (hello.boot), "" = none yet */
    char past[4][33];           /* boot ids of its earlier incarnations
                                   (ring): their late hellos are stale */
    size_t npast;
} s_agent_t;

struct coord_engine {
    char coord_id[TPC_COORD_ID_MAX];
    coord_engine_config_t cfg;
    bool started;
    uint64_t epoch, seq, replayed_epoch;
    zhashx_t *txns;             /* gid -> s_txn_t * */
    zhashx_t *agents;           /* name -> s_agent_t * (owned) */
    zhashx_t *ended;            /* gid -> (void *) s_end_t */
    char (*ring)[TPC_GID_MAX];  /* FIFO of ended gids, for eviction */
    size_t ring_head, ring_n;
    s_txn_t **heap;
    size_t heap_n, heap_cap;
    s_txn_t **due;              /* scratch for tick */
    size_t due_cap;
    uint64_t next_sweep;
    uint64_t wake_reported;
    s_txn_t *dhead, *dtail;     /* waiting for coord_engine_durable */
    uint64_t tickets;
    size_t in_doubt;            /* live COMMITTING transactions */
    size_t precommitting;       /* live PRECOMMITTING transactions */
    coord_action_t *q;
    size_t qhead, qn, qcap;
    int err;                    /* sticky TPC_ENOMEM within one event */
    zhashx_t *owners;           /* client -> (uintptr_t) live transactions */
    zhashx_t *heuristics;       /* gid -> s_heur_t * (resolved by force) */
    s_resolve_t *resolving;     /* resolves waiting for their record */
    size_t nresolving, capresolving;
    uint64_t n_committed, n_aborted;    /* ended since start */
    uint64_t agent_connects;
    uint64_t now;               /* time of the event being handled */
    zhashx_t *asks;             /* gid -> s_ask_t * (presumed abort being
                                   checked with outcome_of) */
    uint64_t ask_grace_until;   /* before: no presumed abort for a gid of
                                   an earlier boot (agents still coming) */
    zhashx_t *unconfirmed;      /* gid -> (void *) 1: of an earlier boot,
                                   no record, its last round could not
                                   confirm the presumed abort (an operator
                                   may resolve it) */
};

#define S_RESOLVE_TAG "resolve --force"     /* reason prefix of a HEURISTIC
                                               record an operator forced;
                                               agent names have no space */

#define S_MIN(a, b) ((a) < (b) ? (a) : (b))

/* ---------------------------------------------------------------------
 *  Action queue
 */

static void
s_push (coord_engine_t *self, coord_action_t *act)
{
    if (self->qhead + self->qn == self->qcap) {
        if (self->qhead > 0) {
            memmove (self->q, self->q + self->qhead,
                     self->qn * sizeof *self->q);
            self->qhead = 0;
        }
        else {
            size_t cap = self->qcap ? self->qcap * 2 : 64;
            coord_action_t *q = realloc (self->q, cap * sizeof *q);
            if (!q) {
                self->err = TPC_ENOMEM;
                coord_action_clear (act);
                return;
            }
            self->q = q;
            self->qcap = cap;
        }
    }
    self->q[self->qhead + self->qn++] = *act;
}

static void
s_log (coord_engine_t *self, int level, const char *fmt, ...)
{
    if (level == 0 && !self->cfg.verbose)
        return;                 /* nobody would print it: do not format it */
    coord_action_t act = { .type = COORD_ACT_LOG, .level = level };
    va_list ap;
    va_start (ap, fmt);
    if (vasprintf (&act.text, fmt, ap) < 0) {
        act.text = NULL;
        self->err = TPC_ENOMEM;
    }
    va_end (ap);
    if (act.text)
        s_push (self, &act);
}

static tpc_msg_t *
s_msg (coord_engine_t *self, tpc_msg_type_t type)
{
    tpc_msg_t *msg = tpc_msg_new (type);
    if (!msg)
        self->err = TPC_ENOMEM;
    return msg;
}

/*  Check a helper's result: remember an allocation failure.              */
static void
s_check (coord_engine_t *self, int rc)
{
    if (rc)
        self->err = rc;
}

/*  Queue MSG (taken) for the client ID/LEN.                              */
static void
s_to_client (coord_engine_t *self, const uint8_t *id, size_t len,
             tpc_msg_t *msg)
{
    if (!msg)
        return;
    coord_action_t act = { .type = COORD_ACT_CLIENT, .msg = msg };
    act.client = malloc (len ? len : 1);
    if (!act.client) {
        self->err = TPC_ENOMEM;
        tpc_msg_destroy (&msg);
        return;
    }
    memcpy (act.client, id, len);
    act.client_len = len;
    s_push (self, &act);
}

static void
s_to_agent (coord_engine_t *self, const char *name, tpc_msg_t *msg)
{
    if (!msg)
        return;
    coord_action_t act = { .type = COORD_ACT_AGENT, .msg = msg };
    snprintf (act.agent, sizeof act.agent, "%s", name);
    s_push (self, &act);
}

/*  Queue an append of REC (taken); returns the ticket if FORCED.         */
static uint64_t
s_append (coord_engine_t *self, tpc_record_t *rec, bool forced)
{
    coord_action_t act = { .type = COORD_ACT_APPEND, .rec = rec,
                           .forced = forced };
    if (forced)
        act.ticket = ++self->tickets;
    s_push (self, &act);
    return act.ticket;
}

static void
s_reply_error (coord_engine_t *self, const uint8_t *id, size_t len,
               uint64_t rid, int code, const char *gid, const char *fmt, ...)
{
    tpc_msg_t *msg = s_msg (self, TPC_MSG_ERROR);
    if (!msg)
        return;
    msg->rid = rid;
    msg->code = code;
    va_list ap;
    va_start (ap, fmt);
    char *text = NULL;
    if (vasprintf (&text, fmt, ap) < 0)
        text = NULL;
    va_end (ap);
    if (!text || tpc_msg_set_str (&msg->message, text)
        || (gid && tpc_msg_set_str (&msg->gid, gid))) {
        self->err = TPC_ENOMEM;
        free (text);
        tpc_msg_destroy (&msg);
        return;
    }
    free (text);
    s_to_client (self, id, len, msg);
}

static void
s_reply_outcome (coord_engine_t *self, const uint8_t *id, size_t len,
                 uint64_t rid, const char *gid, tpc_outcome_t outcome,
                 const char *reason)
{
    tpc_msg_t *msg = s_msg (self, TPC_MSG_OUTCOME);
    if (!msg)
        return;
    msg->rid = rid;
    msg->outcome = outcome;
    if (tpc_msg_set_str (&msg->gid, gid)
        || (reason && tpc_msg_set_str (&msg->reason, reason))) {
        self->err = TPC_ENOMEM;
        tpc_msg_destroy (&msg);
        return;
    }
    s_to_client (self, id, len, msg);
}

/* ---------------------------------------------------------------------
 *  Requests kept in a transaction (a client's routing id and rid)
 */

static void
s_req_clear (s_req_t *req)
{
    free (req->id);
    memset (req, 0, sizeof *req);
}

static void
s_req_set (coord_engine_t *self, s_req_t *req, const void *id, size_t len,
           uint64_t rid)
{
    s_req_clear (req);
    req->id = malloc (len ? len : 1);
    if (!req->id) {
        self->err = TPC_ENOMEM;
        return;
    }
    memcpy (req->id, id, len);
    req->len = len;
    req->rid = rid;
    req->set = true;
}

/*  Reply the final OUTCOME to the pending commit/submit, if any.         */
static void
s_answer_done (coord_engine_t *self, s_txn_t *t, tpc_outcome_t outcome,
               const char *reason)
{
    if (t->done.set) {
        s_reply_outcome (self, t->done.id, t->done.len, t->done.rid, t->gid,
                         outcome, reason);
        s_req_clear (&t->done);
        t->replied = true;
    }
}

/* ---------------------------------------------------------------------
 *  Agents
 */

static bool
s_name_valid (const char *name)
{
    return name && tpc_name_valid (name, strlen (name), TPC_RECORD_NAME_MAX);
}

static bool
s_agent_connected (coord_engine_t *self, const char *name)
{
    s_agent_t *a = zhashx_lookup (self->agents, name);
    return a && a->connected;
}

static void
s_agent_destroy (void **item)
{
    s_agent_t *a = *item;
    if (a)
        free (a->peer);
    free (a);
    *item = NULL;
}

/* ---------------------------------------------------------------------
 *  Timer heap (min-heap on txn->wake, index kept in txn->heap_idx)
 */

static void
s_heap_swap (coord_engine_t *self, size_t a, size_t b)
{
    s_txn_t *t = self->heap[a];
    self->heap[a] = self->heap[b];
    self->heap[b] = t;
    self->heap[a]->heap_idx = a;
    self->heap[b]->heap_idx = b;
}

static void
s_heap_up (coord_engine_t *self, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (self->heap[p]->wake <= self->heap[i]->wake)
            break;
        s_heap_swap (self, p, i);
        i = p;
    }
}

static void
s_heap_down (coord_engine_t *self, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < self->heap_n && self->heap[l]->wake < self->heap[m]->wake)
            m = l;
        if (r < self->heap_n && self->heap[r]->wake < self->heap[m]->wake)
            m = r;
        if (m == i)
            break;
        s_heap_swap (self, i, m);
        i = m;
    }
}

static void
s_heap_remove (coord_engine_t *self, s_txn_t *t)
{
    size_t i = t->heap_idx;
    if (i == SIZE_MAX)
        return;
    t->heap_idx = SIZE_MAX;
    self->heap_n--;
    if (i == self->heap_n)
        return;
    self->heap[i] = self->heap[self->heap_n];
    self->heap[i]->heap_idx = i;
    s_heap_up (self, i);
    s_heap_down (self, self->heap[i]->heap_idx);
}

static void
s_heap_set (coord_engine_t *self, s_txn_t *t, uint64_t wake)
{
    if (wake == COORD_NEVER) {
        s_heap_remove (self, t);
        t->wake = wake;
        return;
    }
    if (t->heap_idx == SIZE_MAX) {
        if (self->heap_n == self->heap_cap) {
            size_t cap = self->heap_cap ? self->heap_cap * 2 : 256;
            s_txn_t **h = realloc (self->heap, cap * sizeof *h);
            if (!h) {
                self->err = TPC_ENOMEM;
                return;
            }
            self->heap = h;
            self->heap_cap = cap;
        }
        t->wake = wake;
        t->heap_idx = self->heap_n;
        self->heap[self->heap_n++] = t;
        s_heap_up (self, t->heap_idx);
        return;
    }
    uint64_t old = t->wake;
    t->wake = wake;
    if (wake < old)
        s_heap_up (self, t->heap_idx);
    else
        s_heap_down (self, t->heap_idx);
}

/*  The next time T needs attention, from its state.                      */
static uint64_t
s_wake_of (coord_engine_t *self, const s_txn_t *t)
{
    uint64_t w = COORD_NEVER;
    switch (t->state) {
    case S_ACTIVE:
        w = t->deadline;
        break;
    case S_PREPARING:
        w = S_MIN (t->deadline, t->vote_deadline);
        break;
    case S_ONEPHASE:
        w = t->indoubt ? t->linger_until : t->vote_deadline;
        break;
    case S_COMMITTING:
        if (!t->durable)
            break;
        if (t->nunacked > 0)
            w = t->resend_at;
        if (t->done.set && !t->replied
            && self->cfg.reply_on == COORD_REPLY_ON_APPLIED)
            w = S_MIN (w, t->ack_wait_until);
        break;
    case S_ABORTING:
        if (t->nunacked > 0 && !t->lingered)
            w = S_MIN (t->resend_at, t->linger_until);
        if (t->client_open)
            w = S_MIN (w, t->deadline);
        break;
    case S_PRECOMMITTING:
        if (t->pc_durable && t->nunacked > 0)
            w = t->resend_at;       /* no deadline: never a timeout here */
        break;
    }
    return w;
}

static void
s_reschedule (coord_engine_t *self, s_txn_t *t)
{
    s_heap_set (self, t, s_wake_of (self, t));
}

/* ---------------------------------------------------------------------
 *  Cache of ended transactions
 */

static void
s_remember (coord_engine_t *self, const char *gid, s_end_t end)
{
    void *item = (void *) (uintptr_t) end;
    if (zhashx_lookup (self->ended, gid)) {
        zhashx_update (self->ended, gid, item);
        return;
    }
    size_t cap = self->cfg.ended_cache;
    if (self->ring_n == cap) {
        zhashx_delete (self->ended, self->ring[self->ring_head]);
        self->ring_head = (self->ring_head + 1) % cap;
        self->ring_n--;
    }
    size_t slot = (self->ring_head + self->ring_n) % cap;
    snprintf (self->ring[slot], TPC_GID_MAX, "%s", gid);
    self->ring_n++;
    zhashx_insert (self->ended, gid, item);
}

static s_end_t
s_recall (coord_engine_t *self, const char *gid)
{
    return (s_end_t) (uintptr_t) zhashx_lookup (self->ended, gid);
}

/* ---------------------------------------------------------------------
 *  Transactions
 */

static void
s_txn_free (s_txn_t **t_p)
{
    s_txn_t *t = *t_p;
    if (!t)
        return;
    s_req_clear (&t->exec);
    s_req_clear (&t->done);
    free (t->parts);
    free (t->reason);
    free (t->owner);
    free (t);
    *t_p = NULL;
}

static s_txn_t *
s_txn_lookup (coord_engine_t *self, const char *gid)
{
    return gid ? zhashx_lookup (self->txns, gid) : NULL;
}

/*  Insert a new transaction for GID in STATE (no heap entry yet).        */
static s_txn_t *
s_txn_add (coord_engine_t *self, const char *gid, s_state_t state)
{
    tpc_gid_t g;
    if (tpc_gid_parse (gid, &g))
        return NULL;
    s_txn_t *t = calloc (1, sizeof *t);
    if (!t) {
        self->err = TPC_ENOMEM;
        return NULL;
    }
    snprintf (t->gid, sizeof t->gid, "%s", gid);
    t->epoch = g.epoch;
    t->seq = g.seq;
    t->state = state;
    t->heap_idx = SIZE_MAX;
    t->wake = COORD_NEVER;
    t->exec_part = SIZE_MAX;
    if (zhashx_insert (self->txns, t->gid, t) != 0) {
        free (t);
        return NULL;
    }
    return t;
}

/*  Does anything the coordinator holds name GID already (a live or
 *  ended transaction, an operator's resolve, one being written)?         */
static bool
s_gid_taken (coord_engine_t *self, const char *gid)
{
    if (zhashx_lookup (self->txns, gid) || s_recall (self, gid)
        || zhashx_lookup (self->heuristics, gid))
        return true;
    for (size_t i = 0; i < self->nresolving; i++)
        if (!strcmp (self->resolving[i].gid, gid))
            return true;
    return false;
}

/*  A new transaction of this boot, with a fresh gid: a sequence number
 *  whose gid some record already names is skipped, so a new transaction
 *  never inherits an outcome (say a resolve a log from before the check
 *  in s_on_resolve still holds for a gid not issued then).               */
static s_txn_t *
s_txn_begin (coord_engine_t *self, uint64_t timeout_ms, uint64_t now)
{
    tpc_gid_t g;
    memset (&g, 0, sizeof g);
    snprintf (g.coord, sizeof g.coord, "%s", self->coord_id);
    g.epoch = self->epoch;
    g.seq = self->seq + 1;
    char gid[TPC_GID_MAX];
    for (;;) {
        if (g.seq == 0 || tpc_gid_format (&g, gid, sizeof gid))
            return NULL;
        if (!s_gid_taken (self, gid))
            break;
        s_log (self, 1, "%s is named by a record already: not issued, "
               "skipped", gid);
        g.seq++;
    }
    s_txn_t *t = s_txn_add (self, gid, S_ACTIVE);
    if (!t)
        return NULL;
    self->seq = g.seq;
    t->created = now;
    t->deadline = now + (timeout_ms ? timeout_ms : self->cfg.txn_timeout_ms);
    return t;
}

static s_member_t *
s_member_find (s_txn_t *t, const char *name, size_t *idx)
{
    for (size_t i = 0; i < t->nparts; i++)
        if (strcmp (t->parts[i].name, name) == 0) {
            if (idx)
                *idx = i;
            return &t->parts[i];
        }
    return NULL;
}

static s_member_t *
s_member_add (coord_engine_t *self, s_txn_t *t, const char *name)
{
    if (t->nparts == t->capparts) {
        size_t cap = t->capparts ? t->capparts * 2 : 2;
        s_member_t *p = realloc (t->parts, cap * sizeof *p);
        if (!p) {
            self->err = TPC_ENOMEM;
            return NULL;
        }
        t->parts = p;
        t->capparts = cap;
    }
    s_member_t *p = &t->parts[t->nparts++];
    memset (p, 0, sizeof *p);
    snprintf (p->name, sizeof p->name, "%s", name);
    return p;
}

static void
s_set_reason (coord_engine_t *self, s_txn_t *t, const char *fmt, ...)
{
    free (t->reason);
    t->reason = NULL;
    va_list ap;
    va_start (ap, fmt);
    if (vasprintf (&t->reason, fmt, ap) < 0) {
        t->reason = NULL;
        self->err = TPC_ENOMEM;
    }
    va_end (ap);
}

static size_t
s_nacked (const s_txn_t *t, size_t *nphase2)
{
    size_t n = 0, acked = 0;
    for (size_t i = 0; i < t->nparts; i++)
        if (t->parts[i].phase2) {
            n++;
            acked += t->parts[i].acked;
        }
    if (nphase2)
        *nphase2 = n;
    return acked;
}

/*  T counts in OWNER's budget of live transactions (NULL: nobody's).     */
static void
s_owner_take (coord_engine_t *self, s_txn_t *t, const char *owner)
{
    if (!owner)
        return;
    t->owner = strdup (owner);
    if (!t->owner) {
        self->err = TPC_ENOMEM;
        return;
    }
    uintptr_t n = (uintptr_t) zhashx_lookup (self->owners, owner);
    if (n)
        zhashx_update (self->owners, owner, (void *) (n + 1));
    else
        zhashx_insert (self->owners, owner, (void *) (uintptr_t) 1);
}

static void
s_owner_release (coord_engine_t *self, s_txn_t *t)
{
    if (!t->owner)
        return;
    uintptr_t n = (uintptr_t) zhashx_lookup (self->owners, t->owner);
    if (n > 1)
        zhashx_update (self->owners, t->owner, (void *) (n - 1));
    else
        zhashx_delete (self->owners, t->owner);
}

/*  Remove T from everything and free it; END is what status will say.   */
static void
s_forget (coord_engine_t *self, s_txn_t *t, s_end_t end)
{
    coord_action_t act = { .type = COORD_ACT_ENDED };
    snprintf (act.gid, sizeof act.gid, "%s", t->gid);
    act.outcome = end == S_END_COMMITTED ? TPC_OUTCOME_COMMITTED
                : end == S_END_ABORTED ? TPC_OUTCOME_ABORTED
                : TPC_OUTCOME_IN_PROGRESS;
    act.nacked = s_nacked (t, &act.nparts);
    uint64_t now = self->now;
    act.age_ms = now > t->created ? now - t->created : 0;
    act.prepare_ms = act.precommit_ms = act.decide_ms = act.commit_ms
        = COORD_NEVER;
    if (t->prepare_at) {
        uint64_t to = t->voted_at ? t->voted_at : now;
        if (t->voted_at || t->state == S_ONEPHASE)
            act.prepare_ms = to > t->prepare_at ? to - t->prepare_at : 0;
    }
    if (t->voted_at && t->decided_at)
        act.precommit_ms = t->decided_at - t->voted_at;
    uint64_t decided = t->decided_at ? t->decided_at : t->voted_at;
    if (decided && t->durable_at)
        act.decide_ms = t->durable_at - decided;
    if (t->durable_at && end == S_END_COMMITTED)
        act.commit_ms = now > t->durable_at ? now - t->durable_at : 0;
    if (self->started) {
        s_push (self, &act);
        self->n_committed += end == S_END_COMMITTED;
        self->n_aborted += end == S_END_ABORTED;
    }
    s_owner_release (self, t);
    if (t->state == S_COMMITTING)
        self->in_doubt--;
    if (t->state == S_PRECOMMITTING)
        self->precommitting--;
    s_heap_remove (self, t);
    assert (!t->dnext && self->dtail != t);
    zhashx_delete (self->txns, t->gid);
    s_remember (self, t->gid, end);
    s_txn_free (&t);
}

static tpc_msg_t *
s_decide_msg (coord_engine_t *self, const char *gid, tpc_outcome_t outcome)
{
    tpc_msg_t *msg = s_msg (self, TPC_MSG_DECIDE);
    if (msg) {
        msg->outcome = outcome;
        if (tpc_msg_set_str (&msg->gid, gid)) {
            self->err = TPC_ENOMEM;
            tpc_msg_destroy (&msg);
        }
    }
    return msg;
}

/*  Send the decision to every phase-2 participant that has not acked and
 *  whose agent is connected (ONLY_AGENT: just that one).                 */
static void
s_drive (coord_engine_t *self, s_txn_t *t, const char *only_agent)
{
    tpc_outcome_t outcome = t->state == S_COMMITTING ? TPC_OUTCOME_COMMITTED
                                                     : TPC_OUTCOME_ABORTED;
    for (size_t i = 0; i < t->nparts; i++) {
        s_member_t *p = &t->parts[i];
        if (!p->phase2 || p->acked)
            continue;
        if (only_agent && strcmp (only_agent, p->name))
            continue;
        if (!s_agent_connected (self, p->name))
            continue;
        s_to_agent (self, p->name, s_decide_msg (self, t->gid, outcome));
    }
}

static tpc_record_t *
s_record_new (coord_engine_t *self, tpc_rec_type_t type, const s_txn_t *t)
{
    tpc_record_t *rec = calloc (1, sizeof *rec);
    if (!rec) {
        self->err = TPC_ENOMEM;
        return NULL;
    }
    rec->type = type;
    snprintf (rec->gid, sizeof rec->gid, "%s", t->gid);
    if (type == TPC_REC_COMMIT || type == TPC_REC_ABORT
        || type == TPC_REC_PRECOMMIT)
        for (size_t i = 0; i < t->nparts && rec->nparts < TPC_RECORD_PARTS_MAX;
             i++)
            if (t->parts[i].phase2)
                snprintf (rec->parts[rec->nparts++], TPC_RECORD_NAME_MAX,
                          "%s", t->parts[i].name);
    return rec;
}

/*  ABORTING: forget T once phase 2 is over and its client is done.
 *  Returns true if T was freed.                                           */
static bool
s_abort_settle (coord_engine_t *self, s_txn_t *t, uint64_t now)
{
    if (t->nunacked > 0 && !t->lingered && now >= t->linger_until) {
        t->lingered = true;
        s_log (self, 0, "%s: aborted, %zu participant(s) never acked; "
               "presumed abort covers them", t->gid, t->nunacked);
    }
    if (t->client_open && now >= t->deadline)
        t->client_open = false;     /* it will not learn the reason */
    if ((t->nunacked == 0 || t->lingered) && !t->client_open) {
        s_forget (self, t, S_END_ABORTED);
        return true;
    }
    s_reschedule (self, t);
    return false;
}

/*  Decide abort for an undecided T (reason already set).  Returns true if
 *  T was freed.                                                           */
static bool
s_abort (coord_engine_t *self, s_txn_t *t, uint64_t now)
{
    assert (t->state == S_ACTIVE || t->state == S_PREPARING
            || t->state == S_ONEPHASE
            || (t->state == S_PRECOMMITTING && t->pc_durable));
    const char *reason = t->reason ? t->reason : "aborted";
    bool was_pc = t->state == S_PRECOMMITTING;
    if (was_pc)
        self->precommitting--;
    s_log (self, 0, "%s: abort: %s", t->gid, reason);
    if (t->exec.set) {
        s_reply_error (self, t->exec.id, t->exec.len, t->exec.rid,
                       TPC_EABORTED, t->gid, "transaction aborted: %s",
                       reason);
        s_req_clear (&t->exec);
    }
    t->state = S_ABORTING;
    t->nunacked = 0;
    for (size_t i = 0; i < t->nparts; i++) {
        s_member_t *p = &t->parts[i];
        p->phase2 = p->vote != TPC_VOTE_NO && p->vote != TPC_VOTE_READONLY;
        p->acked = false;
        t->nunacked += p->phase2;
    }
    /* after a durable PRECOMMIT the ABORT is forced too (its sync is not
     * waited for: an abort may be heard early).  Lost in a crash, the
     * replayed PRECOMMIT would make this coordinator ask the agents again,
     * and an agent that has forgotten the gid by then answers unknown:
     * the transaction would wait for ever. */
    if (t->logged_abort)
        s_append (self, s_record_new (self, TPC_REC_ABORT, t), was_pc);
    s_answer_done (self, t, TPC_OUTCOME_ABORTED, reason);
    t->backoff = self->cfg.resend_min_ms;
    t->resend_at = now + t->backoff;
    t->linger_until = now + self->cfg.abort_linger_ms;
    t->lingered = false;
    s_drive (self, t, NULL);
    return s_abort_settle (self, t, now);
}

/*  T waits in the FIFO for coord_engine_durable(>= t->ticket).           */
static void
s_durable_wait (coord_engine_t *self, s_txn_t *t)
{
    t->dnext = NULL;
    if (self->dtail)
        self->dtail->dnext = t;
    else
        self->dhead = t;
    self->dtail = t;
}

/*  Decide commit for T (every phase-2 participant voted yes; 3PC: and
 *  pre-committed, or one reported committed): force the COMMIT record.  */
static void
s_commit_decide (coord_engine_t *self, s_txn_t *t)
{
    size_t yes = 0;
    for (size_t i = 0; i < t->nparts; i++) {
        t->parts[i].acked = false;
        yes += t->parts[i].phase2;
    }
    if (t->state == S_PRECOMMITTING) {
        self->precommitting--;
        t->decided_at = self->now;
    }
    t->state = S_COMMITTING;
    self->in_doubt++;
    t->nunacked = yes;
    t->durable = false;
    t->ticket = s_append (self, s_record_new (self, TPC_REC_COMMIT, t), true);
    s_durable_wait (self, t);
    s_log (self, 0, "%s: commit decided (%zu yes), waiting for ticket %"
           PRIu64 " to be durable", t->gid, yes, t->ticket);
    s_reschedule (self, t);
}

/*  3PC, every vote in: force the PRECOMMIT record; precommit goes out
 *  once it is durable (s_precommit_durable).                              */
static void
s_precommit_begin (coord_engine_t *self, s_txn_t *t, size_t yes)
{
    for (size_t i = 0; i < t->nparts; i++)
        t->parts[i].precommitted = false;
    t->state = S_PRECOMMITTING;
    self->precommitting++;
    t->nunacked = yes;
    t->pc_durable = false;
    t->ticket = s_append (self, s_record_new (self, TPC_REC_PRECOMMIT, t),
                          true);
    s_durable_wait (self, t);
    s_log (self, 0, "%s: every vote yes (%zu), pre-commit waiting for ticket %"
           PRIu64 " to be durable", t->gid, yes, t->ticket);
    s_reschedule (self, t);
}

/*  Every vote of a PREPARING T is in and none is no.                     */
static void
s_votes_complete (coord_engine_t *self, s_txn_t *t, uint64_t now)
{
    size_t yes = 0;
    for (size_t i = 0; i < t->nparts; i++) {
        t->parts[i].phase2 = t->parts[i].vote == TPC_VOTE_YES;
        t->parts[i].acked = false;
        yes += t->parts[i].phase2;
    }
    if (yes == 0) {
        s_log (self, 0, "%s: committed (every participant read-only)",
               t->gid);
        s_answer_done (self, t, TPC_OUTCOME_COMMITTED, NULL);
        s_forget (self, t, S_END_COMMITTED);
        return;
    }
    t->voted_at = now;
    if (t->p3)
        s_precommit_begin (self, t, yes);
    else
        s_commit_decide (self, t);
}

/*  Send precommit to every phase-2 participant of a PRECOMMITTING T that
 *  has not answered precommitted and whose agent is connected
 *  (ONLY_AGENT: just that one).                                          */
static void
s_precommit_drive (coord_engine_t *self, s_txn_t *t, const char *only_agent)
{
    for (size_t i = 0; i < t->nparts; i++) {
        s_member_t *p = &t->parts[i];
        if (!p->phase2 || p->precommitted)
            continue;
        if (only_agent && strcmp (only_agent, p->name))
            continue;
        if (!s_agent_connected (self, p->name))
            continue;
        tpc_msg_t *msg = s_msg (self, TPC_MSG_PRECOMMIT);
        if (msg && tpc_msg_set_str (&msg->gid, t->gid)) {
            self->err = TPC_ENOMEM;
            tpc_msg_destroy (&msg);
        }
        s_to_agent (self, p->name, msg);
    }
}

/*  The PRECOMMIT record of T is durable: precommit to everyone.          */
static void
s_precommit_durable (coord_engine_t *self, s_txn_t *t, uint64_t now)
{
    t->pc_durable = true;
    t->backoff = self->cfg.resend_min_ms;
    t->resend_at = now + t->backoff;
    s_precommit_drive (self, t, NULL);
    s_reschedule (self, t);
}

/*  The COMMIT record of T is durable: tell everyone.                     */
static void
s_commit_durable (coord_engine_t *self, s_txn_t *t, uint64_t now)
{
    t->durable = true;
    t->durable_at = now;
    t->backoff = self->cfg.resend_min_ms;
    t->resend_at = now + t->backoff;
    t->ack_wait_until = now + self->cfg.ack_wait_ms;
    s_drive (self, t, NULL);
    if (self->cfg.reply_on == COORD_REPLY_ON_DECISION)
        s_answer_done (self, t, TPC_OUTCOME_COMMITTED, NULL);
    s_reschedule (self, t);
}

/*  Every yes voter of a committed T acked.                               */
static void
s_commit_finished (coord_engine_t *self, s_txn_t *t)
{
    s_append (self, s_record_new (self, TPC_REC_END, t), false);
    s_answer_done (self, t, TPC_OUTCOME_COMMITTED, NULL);
    s_log (self, 0, "%s: committed and applied everywhere", t->gid);
    s_forget (self, t, S_END_COMMITTED);
}

/* ---------------------------------------------------------------------
 *  Outcomes as seen from outside (status, query)
 */

typedef struct {
    const char *state;
    tpc_outcome_t outcome;      /* for a status request */
    tpc_outcome_t answer;       /* for an agent's query */
    bool foreign;               /* not this coordinator's gid */
} s_view_t;

static s_view_t
s_view (coord_engine_t *self, const char *gid)
{
    s_view_t v = { "unknown", TPC_OUTCOME_ABORTED, TPC_OUTCOME_ABORTED,
                   false };
    s_txn_t *t = s_txn_lookup (self, gid);
    if (t) {
        v.state = s_state_names[t->state];
        v.outcome = TPC_OUTCOME_IN_PROGRESS;
        if (t->state == S_COMMITTING && t->durable)
            v.outcome = TPC_OUTCOME_COMMITTED;
        else if (t->state == S_ABORTING)
            v.outcome = TPC_OUTCOME_ABORTED;
        v.answer = v.outcome;
        return v;
    }
    /* a logged outcome wins over an operator's: a heuristic never
     * contradicts a commit or abort the coordinator decided (resolve
     * refuses that, replay drops such a heuristic) */
    s_end_t end = s_recall (self, gid);
    s_heur_t *h = zhashx_lookup (self->heuristics, gid);
    if (h && ((end == S_END_COMMITTED && h->outcome != TPC_OUTCOME_COMMITTED)
              || (end == S_END_ABORTED && h->outcome != TPC_OUTCOME_ABORTED)))
        h = NULL;
    if (h) {
        v.state = "heuristic";
        v.outcome = v.answer = h->outcome;
        return v;
    }
    switch (end) {
    case S_END_COMMITTED:
        v.state = "ended";
        v.outcome = v.answer = TPC_OUTCOME_COMMITTED;
        return v;
    case S_END_ABORTED:
        v.state = "ended";
        return v;
    case S_END_UNKNOWN:
        /* one-phase with no ack: nothing is prepared anywhere, so an
         * agent may roll back; a client is told the truth: not known */
        v.state = "in_doubt";
        v.outcome = TPC_OUTCOME_IN_PROGRESS;
        return v;
    }
    tpc_gid_t g;
    if (tpc_gid_parse (gid, &g) || strcmp (g.coord, self->coord_id)) {
        v.foreign = true;
        v.outcome = v.answer = TPC_OUTCOME_IN_PROGRESS;
    }
    else if (!self->started || g.epoch > self->epoch
             || (g.epoch == self->epoch && g.seq > self->seq)) {
        /* not issued by this boot yet: the log must have lost it; do not
         * presume anything */
        v.outcome = v.answer = TPC_OUTCOME_IN_PROGRESS;
    }
    return v;
}

/*  Is GID this coordinator's, of an earlier boot, with no record (view
 *  "unknown")?  Its presumed abort is checked with the other agents
 *  first (s_ask_start): nothing answers it "aborted" outright.          */
static bool
s_earlier_unknown (coord_engine_t *self, const char *gid)
{
    tpc_gid_t g;
    return self->started && !tpc_gid_parse (gid, &g)
           && !strcmp (g.coord, self->coord_id) && g.epoch < self->epoch
           && !strcmp (s_view (self, gid).state, "unknown");
}

/* ---------------------------------------------------------------------
 *  Client requests
 */

/*  Does a begin/submit MSG ask for three-phase commit?                   */
static bool
s_wants_p3 (coord_engine_t *self, const tpc_msg_t *msg)
{
    tpc_proto_t proto = msg->has_protocol ? msg->protocol
                                          : self->cfg.protocol;
    return proto == TPC_PROTO_3PC;
}

static int
s_index_cmp_name (const void *a, const void *b, void *arg)
{
    const s_txn_t *t = arg;
    return strcmp (t->parts[*(const size_t *) a].name,
                   t->parts[*(const size_t *) b].name);
}

/*  Make MSG (prepare, or work then=prepare) of a 3PC T the CanCommit:
 *  protocol 3pc, every participant's name sorted, and their peer
 *  endpoints as their agents last announced them ("" = none).           */
static void
s_cancommit (coord_engine_t *self, const s_txn_t *t, tpc_msg_t *msg)
{
    size_t order[TPC_RECORD_PARTS_MAX];
    assert (t->nparts <= TPC_RECORD_PARTS_MAX);
    for (size_t i = 0; i < t->nparts; i++)
        order[i] = i;
    qsort_r (order, t->nparts, sizeof *order, s_index_cmp_name,
             (void *) t);
    msg->protocol = TPC_PROTO_3PC;
    msg->has_protocol = true;
    for (size_t k = 0; k < t->nparts; k++) {
        const char *name = t->parts[order[k]].name;
        s_agent_t *a = zhashx_lookup (self->agents, name);
        s_check (self, tpc_msg_strv_push (&msg->parts, &msg->nparts, name));
        s_check (self, tpc_msg_strv_push (&msg->peers, &msg->npeers,
                                          a && a->peer ? a->peer : ""));
    }
}

/*  The first participant of 3PC T whose agent announced no peer endpoint,
 *  or NULL.  A CanCommit without every endpoint would leave the agents
 *  unable to run the termination protocol (found by the simulation, seed
 *  2427: a restarted coordinator sent one before a hello arrived), so such
 *  a transaction aborts instead.                                          */
static const char *
s_p3_missing_peer (coord_engine_t *self, const s_txn_t *t)
{
    for (size_t i = 0; i < t->nparts; i++) {
        s_agent_t *a = zhashx_lookup (self->agents, t->parts[i].name);
        if (!a || !a->peer || !*a->peer)
            return t->parts[i].name;
    }
    return NULL;
}

static bool
s_admit (coord_engine_t *self, const uint8_t *id, size_t len,
         const tpc_msg_t *msg, const char *owner)
{
    if (msg->has_protocol && msg->protocol != TPC_PROTO_2PC
        && msg->protocol != TPC_PROTO_3PC) {
        s_reply_error (self, id, len, msg->rid, TPC_EINVAL, NULL,
                       "unknown protocol (use 2pc or 3pc)");
        return false;
    }
    if (zhashx_size (self->txns) >= self->cfg.max_txns) {
        s_reply_error (self, id, len, msg->rid, TPC_EBUSY, NULL,
                       "%zu transactions in flight (the limit): retry later",
                       zhashx_size (self->txns));
        return false;
    }
    uintptr_t mine = owner ? (uintptr_t) zhashx_lookup (self->owners, owner)
                           : 0;
    if (mine >= self->cfg.max_txns_per_client) {
        s_reply_error (self, id, len, msg->rid, TPC_EBUSY, NULL,
                       "this client has %zu transactions in flight (the "
                       "limit per client): retry later", (size_t) mine);
        return false;
    }
    return true;
}

static void
s_on_begin (coord_engine_t *self, const uint8_t *id, size_t len,
            const tpc_msg_t *msg, const char *owner, uint64_t now)
{
    if (!s_admit (self, id, len, msg, owner))
        return;
    s_txn_t *t = s_txn_begin (self, msg->timeout_ms, now);
    if (!t) {
        s_reply_error (self, id, len, msg->rid, TPC_ENOMEM, NULL,
                       "cannot create a transaction");
        return;
    }
    s_owner_take (self, t, owner);
    t->client_open = true;
    t->p3 = s_wants_p3 (self, msg);
    s_reschedule (self, t);
    tpc_msg_t *reply = s_msg (self, TPC_MSG_BEGUN);
    if (!reply)
        return;
    reply->rid = msg->rid;
    s_check (self, tpc_msg_set_str (&reply->gid, t->gid));
    s_to_client (self, id, len, reply);
}

static void
s_on_submit (coord_engine_t *self, const uint8_t *id, size_t len,
             const tpc_msg_t *msg, const char *owner, uint64_t now)
{
    const char *names[TPC_RECORD_PARTS_MAX];
    size_t nnames = 0;
    if (msg->nstmts == 0) {
        s_reply_error (self, id, len, msg->rid, TPC_EINVAL, NULL,
                       "submit needs at least one statement");
        return;
    }
    if (msg->nstmts > self->cfg.max_stmts) {
        s_reply_error (self, id, len, msg->rid, TPC_ELIMIT, NULL,
                       "submit has %zu statements, over the limit of %zu "
                       "per transaction", msg->nstmts, self->cfg.max_stmts);
        return;
    }
    for (size_t i = 0; i < msg->nstmts; i++) {
        const char *on = msg->stmts[i].on;
        if (!s_name_valid (on) || !s_agent_connected (self, on)) {
            s_reply_error (self, id, len, msg->rid, TPC_EUNKNOWN_PART, NULL,
                           "participant '%s' (statement %zu) is not "
                           "connected", on ? on : "", i + 1);
            return;
        }
        size_t j = 0;
        while (j < nnames && strcmp (names[j], on))
            j++;
        if (j < nnames)
            continue;
        if (nnames == TPC_RECORD_PARTS_MAX) {
            s_reply_error (self, id, len, msg->rid, TPC_EINVAL, NULL,
                           "more than %d participants", TPC_RECORD_PARTS_MAX);
            return;
        }
        names[nnames++] = on;
    }
    if (!s_admit (self, id, len, msg, owner))
        return;
    s_txn_t *t = s_txn_begin (self, msg->timeout_ms, now);
    if (!t) {
        s_reply_error (self, id, len, msg->rid, TPC_ENOMEM, NULL,
                       "cannot create a transaction");
        return;
    }
    s_owner_take (self, t, owner);
    bool onephase = nnames == 1;
    t->p3 = !onephase && s_wants_p3 (self, msg);
    t->state = onephase ? S_ONEPHASE : S_PREPARING;
    t->prepare_at = now;
    t->logged_abort = !onephase;
    t->vote_deadline = now + self->cfg.vote_timeout_ms;
    s_req_set (self, &t->done, id, len, msg->rid);
    for (size_t j = 0; j < nnames; j++) {
        s_member_t *p = s_member_add (self, t, names[j]);
        if (p) {
            p->seq = 1;
            p->asked = !onephase;
        }
    }
    const char *nopeer = t->p3 ? s_p3_missing_peer (self, t) : NULL;
    if (nopeer) {
        s_set_reason (self, t, "three-phase commit needs every agent's peer "
                      "endpoint, and '%s' announced none (tpc-participant "
                      "--peer-bind)", nopeer);
        s_abort (self, t, now);
        return;
    }
    for (size_t j = 0; j < t->nparts; j++) {
        tpc_msg_t *work = s_msg (self, TPC_MSG_WORK);
        if (!work)
            continue;
        work->seq = 1;
        work->then = onephase ? TPC_THEN_COMMIT : TPC_THEN_PREPARE;
        s_check (self, tpc_msg_set_str (&work->gid, t->gid));
        if (t->p3)
            s_cancommit (self, t, work);
        for (size_t i = 0; i < msg->nstmts; i++) {
            const tpc_stmt_t *s = &msg->stmts[i];
            if (strcmp (s->on, t->parts[j].name) == 0)
                s_check (self, tpc_msg_add_stmt (
                    work, NULL, s->sql, s->nparams,
                    (const char *const *) s->params));
        }
        s_to_agent (self, t->parts[j].name, work);
    }
    s_log (self, 0, "%s: submit, %zu participant(s), %s", t->gid, nnames,
           onephase ? "one phase" : t->p3 ? "three phases" : "two phases");
    s_reschedule (self, t);
}

static void
s_on_exec (coord_engine_t *self, const uint8_t *id, size_t len,
           const tpc_msg_t *msg, s_txn_t *t)
{
    if (t->state != S_ACTIVE) {
        if (t->state == S_ABORTING)
            s_reply_error (self, id, len, msg->rid, TPC_EABORTED, t->gid,
                           "transaction aborted: %s",
                           t->reason ? t->reason : "aborted");
        else
            s_reply_error (self, id, len, msg->rid, TPC_ESTATE, t->gid,
                           "transaction is %s: exec not allowed",
                           s_state_names[t->state]);
        return;
    }
    if (t->exec.set) {
        s_reply_error (self, id, len, msg->rid, TPC_EBUSY, t->gid,
                       "an exec is still running in this transaction");
        return;
    }
    if (t->nexec >= self->cfg.max_stmts) {
        s_reply_error (self, id, len, msg->rid, TPC_ELIMIT, t->gid,
                       "%zu statements ran in this transaction, the limit; "
                       "this one did not run: commit or roll back",
                       t->nexec);
        return;
    }
    if (!s_name_valid (msg->on) || !s_agent_connected (self, msg->on)) {
        s_reply_error (self, id, len, msg->rid, TPC_EUNKNOWN_PART, t->gid,
                       "participant '%s' is not connected",
                       msg->on ? msg->on : "");
        return;
    }
    size_t idx;
    s_member_t *p = s_member_find (t, msg->on, &idx);
    if (!p) {
        if (t->nparts == TPC_RECORD_PARTS_MAX) {
            s_reply_error (self, id, len, msg->rid, TPC_EINVAL, t->gid,
                           "more than %d participants", TPC_RECORD_PARTS_MAX);
            return;
        }
        p = s_member_add (self, t, msg->on);
        if (!p)
            return;
        idx = t->nparts - 1;
    }
    tpc_msg_t *work = s_msg (self, TPC_MSG_WORK);
    if (!work)
        return;
    work->seq = ++p->seq;
    work->then = TPC_THEN_NONE;
    s_check (self, tpc_msg_set_str (&work->gid, t->gid));
    s_check (self, tpc_msg_add_stmt (work, NULL, msg->sql, msg->nparams,
                                     (const char *const *) msg->params));
    s_req_set (self, &t->exec, id, len, msg->rid);
    t->exec_part = idx;
    t->exec_seq = work->seq;
    t->nexec++;
    s_to_agent (self, p->name, work);
}

/*  A commit for T while another request (T->done) waits for T's outcome.
 *  Each request gets exactly one reply: the same request again (a
 *  duplicate: same client, same rid) gets none of its own, as the pending
 *  reply answers it; any other gets an error at once, and the first
 *  requester keeps its outcome.  Returns true if MSG was answered so.    */
static bool
s_commit_pending (coord_engine_t *self, const uint8_t *id, size_t len,
                  const tpc_msg_t *msg, s_txn_t *t)
{
    if (!t->done.set)
        return false;
    if (t->done.len == len && t->done.rid == msg->rid
        && memcmp (t->done.id, id, len) == 0) {
        s_log (self, 0, "%s: commit rid %" PRIu64 " again: its outcome is "
               "on the way", t->gid, msg->rid);
        return true;
    }
    s_reply_error (self, id, len, msg->rid, TPC_EIN_DOUBT, t->gid,
                   "%s is already being committed by another request: its "
                   "outcome is not known yet; ask status", t->gid);
    return true;
}

static void
s_on_commit (coord_engine_t *self, const uint8_t *id, size_t len,
             const tpc_msg_t *msg, s_txn_t *t, uint64_t now)
{
    if (s_commit_pending (self, id, len, msg, t))
        return;
    switch (t->state) {
    case S_ACTIVE:
        break;
    case S_ONEPHASE:
        if (t->indoubt) {
            s_reply_error (self, id, len, msg->rid, TPC_EIN_DOUBT, t->gid,
                           "one-phase commit on '%s' not acknowledged: "
                           "outcome unknown", t->parts[0].name);
            return;
        }
        s_req_set (self, &t->done, id, len, msg->rid);   /* a retry */
        return;
    case S_PREPARING:
    case S_PRECOMMITTING:
        s_req_set (self, &t->done, id, len, msg->rid);   /* a retry */
        return;
    case S_COMMITTING:
        if (t->durable && (t->replied
                           || self->cfg.reply_on == COORD_REPLY_ON_DECISION))
            s_reply_outcome (self, id, len, msg->rid, t->gid,
                             TPC_OUTCOME_COMMITTED, NULL);
        else
            s_req_set (self, &t->done, id, len, msg->rid);
        return;
    case S_ABORTING:
        s_reply_outcome (self, id, len, msg->rid, t->gid, TPC_OUTCOME_ABORTED,
                         t->reason);
        t->client_open = false;
        s_abort_settle (self, t, now);
        return;
    }
    if (t->exec.set) {
        s_reply_error (self, id, len, msg->rid, TPC_ESTATE, t->gid,
                       "an exec is still running in this transaction");
        return;
    }
    t->client_open = false;
    s_req_set (self, &t->done, id, len, msg->rid);
    if (t->nparts == 0) {
        s_answer_done (self, t, TPC_OUTCOME_COMMITTED, NULL);
        s_forget (self, t, S_END_COMMITTED);
        return;
    }
    for (size_t i = 0; i < t->nparts; i++)
        if (!s_agent_connected (self, t->parts[i].name)) {
            s_set_reason (self, t, "participant '%s' is not connected",
                          t->parts[i].name);
            s_abort (self, t, now);
            return;
        }
    t->vote_deadline = now + self->cfg.vote_timeout_ms;
    t->prepare_at = now;
    if (t->nparts == 1) {
        s_member_t *p = &t->parts[0];
        tpc_msg_t *work = s_msg (self, TPC_MSG_WORK);
        if (work) {
            work->seq = ++p->seq;
            work->then = TPC_THEN_COMMIT;
            s_check (self, tpc_msg_set_str (&work->gid, t->gid));
            s_to_agent (self, p->name, work);
        }
        t->state = S_ONEPHASE;
    }
    else {
        const char *nopeer = t->p3 ? s_p3_missing_peer (self, t) : NULL;
        if (nopeer) {
            s_set_reason (self, t, "three-phase commit needs every agent's "
                          "peer endpoint, and '%s' announced none "
                          "(tpc-participant --peer-bind)", nopeer);
            s_abort (self, t, now);
            return;
        }
        for (size_t i = 0; i < t->nparts; i++) {
            tpc_msg_t *prep = s_msg (self, TPC_MSG_PREPARE);
            if (!prep)
                continue;
            s_check (self, tpc_msg_set_str (&prep->gid, t->gid));
            if (t->p3)
                s_cancommit (self, t, prep);
            t->parts[i].asked = true;
            s_to_agent (self, t->parts[i].name, prep);
        }
        t->state = S_PREPARING;
        t->logged_abort = true;
    }
    s_reschedule (self, t);
}

static void
s_on_rollback (coord_engine_t *self, const uint8_t *id, size_t len,
               const tpc_msg_t *msg, s_txn_t *t, uint64_t now)
{
    switch (t->state) {
    case S_ACTIVE:
    case S_PREPARING:
        t->client_open = false;
        s_reply_outcome (self, id, len, msg->rid, t->gid, TPC_OUTCOME_ABORTED,
                         "rolled back by the client");
        s_set_reason (self, t, "rolled back by the client");
        s_abort (self, t, now);
        return;
    case S_ONEPHASE:
        s_reply_error (self, id, len, msg->rid, TPC_EIN_DOUBT, t->gid,
                       "one-phase commit in progress: too late to roll back");
        return;
    case S_COMMITTING:
        s_reply_error (self, id, len, msg->rid, TPC_ESTATE, t->gid,
                       "transaction is committed: too late to roll back");
        return;
    case S_PRECOMMITTING:
        s_reply_error (self, id, len, msg->rid, TPC_ESTATE, t->gid,
                       "transaction is pre-committed (three-phase commit): "
                       "too late to roll back");
        return;
    case S_ABORTING:
        s_reply_outcome (self, id, len, msg->rid, t->gid, TPC_OUTCOME_ABORTED,
                         t->reason);
        t->client_open = false;
        s_abort_settle (self, t, now);
        return;
    }
}

/*  commit/rollback/exec for a gid that is not live.                      */
static void
s_on_gone_gid (coord_engine_t *self, const uint8_t *id, size_t len,
               const tpc_msg_t *msg)
{
    s_end_t end = s_recall (self, msg->gid);
    if (msg->type == TPC_MSG_COMMIT && end == S_END_COMMITTED)
        s_reply_outcome (self, id, len, msg->rid, msg->gid,
                         TPC_OUTCOME_COMMITTED, NULL);
    else if (msg->type != TPC_MSG_EXEC && end == S_END_ABORTED)
        s_reply_outcome (self, id, len, msg->rid, msg->gid,
                         TPC_OUTCOME_ABORTED, NULL);
    else if (msg->type == TPC_MSG_EXEC && end == S_END_ABORTED)
        s_reply_error (self, id, len, msg->rid, TPC_EABORTED, msg->gid,
                       "transaction aborted");
    else if (end == S_END_COMMITTED)
        s_reply_error (self, id, len, msg->rid, TPC_ESTATE, msg->gid,
                       "transaction already committed");
    else if (end == S_END_UNKNOWN)
        s_reply_error (self, id, len, msg->rid, TPC_EIN_DOUBT, msg->gid,
                       "one-phase commit never acknowledged: outcome unknown");
    else
        s_reply_error (self, id, len, msg->rid, TPC_EUNKNOWN_GID, msg->gid,
                       "no such transaction");
}

static void
s_on_status (coord_engine_t *self, const uint8_t *id, size_t len,
             const tpc_msg_t *msg)
{
    s_view_t v = s_view (self, msg->gid);
    if (v.foreign) {
        s_reply_error (self, id, len, msg->rid, TPC_EUNKNOWN_GID, msg->gid,
                       "gid does not belong to coordinator '%s'",
                       self->coord_id);
        return;
    }
    if (!strcmp (v.state, "unknown")) {
        /* Neither live nor remembered.  Presumed abort is right for an
         * agent (none holds an ended gid prepared) but not for a client:
         * the gid may have committed long ago and been forgotten.  Never
         * tell a client "aborted" without knowing it.                    */
        s_reply_error (self, id, len, msg->rid, TPC_EUNKNOWN_GID, msg->gid,
                       "outcome no longer known to the coordinator (ended "
                       "long ago or never issued); the participants' "
                       "tpc_marker tables hold the truth");
        return;
    }
    tpc_msg_t *reply = s_msg (self, TPC_MSG_TXSTATUS);
    if (!reply)
        return;
    reply->rid = msg->rid;
    reply->outcome = v.outcome;
    s_check (self, tpc_msg_set_str (&reply->gid, msg->gid));
    s_check (self, tpc_msg_set_str (&reply->state, v.state));
    s_to_client (self, id, len, reply);
}

static int
s_txn_cmp (const void *a, const void *b)
{
    const s_txn_t *x = *(s_txn_t *const *) a, *y = *(s_txn_t *const *) b;
    if (x->epoch != y->epoch)
        return x->epoch < y->epoch ? -1 : 1;
    if (x->seq != y->seq)
        return x->seq < y->seq ? -1 : 1;
    return strcmp (x->gid, y->gid);
}

/*  Live transactions sorted by gid order (caller frees), or NULL.        */
static s_txn_t **
s_sorted (coord_engine_t *self, size_t *n)
{
    size_t cap = zhashx_size (self->txns);
    s_txn_t **v = malloc ((cap ? cap : 1) * sizeof *v);
    *n = 0;
    if (!v) {
        self->err = TPC_ENOMEM;
        return NULL;
    }
    for (s_txn_t *t = zhashx_first (self->txns); t;
         t = zhashx_next (self->txns))
        v[(*n)++] = t;
    qsort (v, *n, sizeof *v, s_txn_cmp);
    return v;
}

static void
s_on_list (coord_engine_t *self, const uint8_t *id, size_t len,
           const tpc_msg_t *msg, uint64_t now)
{
    size_t n;
    s_txn_t **v = s_sorted (self, &n);
    tpc_msg_t *reply = s_msg (self, TPC_MSG_TXLIST);
    if (!v || !reply)
        goto cleanup;
    reply->rid = msg->rid;
    if (n > self->cfg.list_max)
        n = self->cfg.list_max;
    if (n > 0) {
        reply->txns = calloc (n, sizeof *reply->txns);
        if (!reply->txns) {
            self->err = TPC_ENOMEM;
            goto cleanup;
        }
    }
    for (size_t i = 0; i < n; i++) {
        tpc_txinfo_t *info = &reply->txns[reply->ntxns++];
        const s_txn_t *t = v[i];
        info->age_ms = now > t->created ? now - t->created : 0;
        s_check (self, tpc_msg_set_str (&info->gid, t->gid));
        s_check (self, tpc_msg_set_str (&info->state,
                                        s_state_names[t->state]));
        for (size_t j = 0; j < t->nparts; j++)
            s_check (self, tpc_msg_strv_push (&info->parts, &info->nparts,
                                              t->parts[j].name));
    }
    s_to_client (self, id, len, reply);
    reply = NULL;
cleanup:
    tpc_msg_destroy (&reply);
    free (v);
}

/* ---------------------------------------------------------------------
 *  Agent messages
 */

static void s_txn_due (coord_engine_t *self, s_txn_t *t, uint64_t now);

/*  Does hello MSG show a new incarnation of agent A: a boot id never
 *  heard from it before?  Then it becomes A's boot id.  The first boot id
 *  heard (e.g. after this coordinator restarted) is nobody's new
 *  incarnation; a hello without one (an older agent, or the hello made up
 *  for another message) never is; nor is a late hello of an earlier
 *  incarnation (still queued on its dead connection), which changes
 *  nothing.                                                              */
static bool
s_reborn (coord_engine_t *self, s_agent_t *a, const tpc_msg_t *msg)
{
    if (!msg->boot)
        return false;
    size_t n = strspn (msg->boot, "0123456789abcdefABCDEF");
    if (n == 0 || n >= sizeof a->boot || msg->boot[n]) {
        s_log (self, 1, "agent '%s' says hello with a boot id that is not "
               "1 to %zu hex digits: ignored", a->name, sizeof a->boot - 1);
        return false;
    }
    if (!a->boot[0]) {
        memcpy (a->boot, msg->boot, n + 1);
        return false;
    }
    if (!strcmp (a->boot, msg->boot))
        return false;
    size_t keep = S_MIN (a->npast, sizeof a->past / sizeof a->past[0]);
    for (size_t i = 0; i < keep; i++)
        if (!strcmp (a->past[i], msg->boot)) {
            s_log (self, 0, "agent '%s': late hello of an earlier "
                   "incarnation (boot id %s) ignored", a->name, msg->boot);
            return false;
        }
    memcpy (a->past[a->npast++ % (sizeof a->past / sizeof a->past[0])],
            a->boot, sizeof a->boot);
    memcpy (a->boot, msg->boot, n + 1);
    return true;
}

/*  Agent A restarted (s_reborn): whatever its earlier incarnation held
 *  open and had not prepared with a yes vote died with it (its database
 *  sessions are gone), so do now what the timeouts would do later:
 *    - ACTIVE with A in it, PREPARING without A's vote: abort (a PREPARE
 *      the dead process may have left behind is rolled back by the
 *      decide(aborted) A gets, or by A's recovery query);
 *    - ONEPHASE on A: in doubt at once, as at the vote timeout (no ack can
 *      come from a process that is gone).
 *  A yes voter's gids (PREPARING, 3PC PRECOMMITTING, decided) keep their
 *  rules: only unvoted work is given up.  A is left not connected, so the
 *  hello that follows resends it every pending decision and precommit.  A
 *  work sent to the new incarnation just before its hello was read may
 *  be aborted too: spurious, never unsafe.                                */
static void
s_agent_reborn (coord_engine_t *self, s_agent_t *a, uint64_t now)
{
    a->connected = false;
    size_t n = 0, nabort = 0;
    s_txn_t **v = s_sorted (self, &n);
    if (!v)
        return;
    /* handling one transaction never frees another one */
    for (size_t i = 0; i < n; i++) {
        s_txn_t *t = v[i];
        s_member_t *p = s_member_find (t, a->name, NULL);
        if (!p)
            continue;
        if (t->state == S_ACTIVE
            || (t->state == S_PREPARING && p->vote == TPC_VOTE_NONE)) {
            s_set_reason (self, t, "participant '%s' restarted before it "
                          "voted: its work is lost", a->name);
            s_abort (self, t, now);
            nabort++;
        }
        else if (t->state == S_ONEPHASE && !t->indoubt) {
            t->vote_deadline = now;
            s_txn_due (self, t, now);
            nabort++;
        }
    }
    free (v);
    s_log (self, 1, "agent '%s' restarted (boot id %s): %zu transaction(s) "
           "it had not voted on given up at once", a->name, a->boot, nabort);
}

static void
s_on_hello (coord_engine_t *self, const char *name, const tpc_msg_t *msg,
            uint64_t now)
{
    if (msg->name && strcmp (msg->name, name))
        s_log (self, 1, "agent '%s' says hello as '%s': using its routing id",
               name, msg->name);
    s_agent_t *a = zhashx_lookup (self->agents, name);
    if (!a) {
        a = calloc (1, sizeof *a);
        if (!a) {
            self->err = TPC_ENOMEM;
            return;
        }
        snprintf (a->name, sizeof a->name, "%s", name);
        zhashx_insert (self->agents, name, a);
    }
    a->last_hello = now;
    /* a real hello (it has a name; the one made up for another message
     * has none) says where the agent's peers reach it, for 3PC */
    if (msg->name && !(a->peer && msg->peer && !strcmp (a->peer, msg->peer))) {
        free (a->peer);
        a->peer = NULL;
        if (msg->peer && !(a->peer = strdup (msg->peer)))
            self->err = TPC_ENOMEM;
    }
    if (s_reborn (self, a, msg))
        s_agent_reborn (self, a, now);
    if (a->connected)
        return;
    a->connected = true;
    self->agent_connects++;
    s_log (self, 0, "agent '%s' connected", name);
    /* resend every pending decision (and 3PC precommit) this agent has not
     * acked */
    for (s_txn_t *t = zhashx_first (self->txns); t;
         t = zhashx_next (self->txns))
        if ((t->state == S_COMMITTING && t->durable)
            || (t->state == S_ABORTING && !t->lingered))
            s_drive (self, t, name);
        else if (t->state == S_PRECOMMITTING && t->pc_durable)
            s_precommit_drive (self, t, name);
}

static void
s_on_worked (coord_engine_t *self, const char *name, const tpc_msg_t *msg,
             uint64_t now)
{
    s_txn_t *t = s_txn_lookup (self, msg->gid);
    if (!t || t->state != S_ACTIVE || !t->exec.set
        || strcmp (t->parts[t->exec_part].name, name)
        || msg->seq != t->exec_seq) {
        s_log (self, 0, "%s: stale worked seq %" PRIu64 " from '%s' ignored",
               msg->gid, msg->seq, name);
        return;
    }
    if (msg->ok && msg->has_result && msg->nrows > self->cfg.max_result_rows) {
        s_reply_error (self, t->exec.id, t->exec.len, t->exec.rid, TPC_ELIMIT,
                       t->gid, "the result has %zu rows, over the limit of "
                       "%zu: transaction aborted (add a LIMIT)", msg->nrows,
                       self->cfg.max_result_rows);
        s_req_clear (&t->exec);
        s_set_reason (self, t, "a result on '%s' had %zu rows, over the "
                      "limit of %zu", name, msg->nrows,
                      self->cfg.max_result_rows);
        s_abort (self, t, now);
        return;
    }
    if (msg->ok) {
        tpc_msg_t *reply = s_msg (self, TPC_MSG_RESULT);
        if (reply) {
            reply->rid = t->exec.rid;
            reply->affected = msg->has_result ? msg->affected : -1;
            s_check (self, tpc_msg_set_str (&reply->gid, t->gid));
            if (msg->has_result)
                s_check (self, tpc_msg_set_rows (
                    reply, msg->ncolumns,
                    (const char *const *) msg->columns, msg->nrows,
                    (const char *const *) msg->cells));
            s_to_client (self, t->exec.id, t->exec.len, reply);
        }
        s_req_clear (&t->exec);
        return;
    }
    const char *why = msg->reason ? msg->reason : "statement failed";
    s_reply_error (self, t->exec.id, t->exec.len, t->exec.rid, TPC_EDB,
                   t->gid, "%s", why);
    s_req_clear (&t->exec);
    s_set_reason (self, t, "statement failed on '%s': %s", name, why);
    s_abort (self, t, now);
}

static void
s_on_vote (coord_engine_t *self, const char *name, const tpc_msg_t *msg,
           uint64_t now)
{
    s_txn_t *t = s_txn_lookup (self, msg->gid);
    s_member_t *p = t ? s_member_find (t, name, NULL) : NULL;
    if (t && p && t->state == S_PREPARING && p->asked
        && p->vote == TPC_VOTE_NONE) {
        p->vote = msg->vote;
        if (msg->vote == TPC_VOTE_NO) {
            s_set_reason (self, t, "participant '%s' voted no: %s", name,
                          msg->reason ? msg->reason : "(no reason given)");
            s_abort (self, t, now);
            return;
        }
        for (size_t i = 0; i < t->nparts; i++)
            if (t->parts[i].asked && t->parts[i].vote == TPC_VOTE_NONE)
                return;
        s_votes_complete (self, t, now);
        return;
    }
    if (t && p && p->phase2 && !p->acked
        && ((t->state == S_COMMITTING && t->durable)
            || t->state == S_ABORTING)) {
        s_drive (self, t, name);        /* a repeated vote: remind it */
        return;
    }
    if (t && p && p->phase2 && !p->precommitted
        && t->state == S_PRECOMMITTING && t->pc_durable) {
        s_precommit_drive (self, t, name);
        return;
    }
    s_log (self, 0, "%s: stale %s vote from '%s' ignored", msg->gid,
           tpc_vote_name (msg->vote), name);
    if (!t && msg->vote == TPC_VOTE_YES && !s_earlier_unknown (self, msg->gid)
        && s_view (self, msg->gid).answer == TPC_OUTCOME_ABORTED)
        s_to_agent (self, name,
                    s_decide_msg (self, msg->gid, TPC_OUTCOME_ABORTED));
}

static void
s_heuristic (coord_engine_t *self, s_txn_t *t, const char *name,
             const tpc_msg_t *msg)
{
    bool we_commit = t->state == S_COMMITTING;
    s_log (self, 1, "%s: HEURISTIC: decided %s but '%s' reports %s%s%s",
           t->gid, we_commit ? "committed" : "aborted", name,
           tpc_outcome_name (msg->outcome), msg->reason ? ": " : "",
           msg->reason ? msg->reason : "");
    tpc_record_t *rec = s_record_new (self, TPC_REC_HEURISTIC, t);
    if (!rec)
        return;
    rec->outcome = msg->outcome == TPC_OUTCOME_COMMITTED ? 1 : 2;
    snprintf (rec->reason, sizeof rec->reason, "%.*s: %s",
              (int) TPC_RECORD_NAME_MAX, name,
              msg->reason ? msg->reason : "outcome differs from decision");
    s_append (self, rec, false);
}

static void
s_on_ack (coord_engine_t *self, const char *name, const tpc_msg_t *msg,
          uint64_t now)
{
    s_txn_t *t = s_txn_lookup (self, msg->gid);
    s_member_t *p = t ? s_member_find (t, name, NULL) : NULL;
    if (!t || !p) {
        s_log (self, 0, "%s: stale ack from '%s' ignored", msg->gid, name);
        return;
    }
    if (t->state == S_ONEPHASE) {
        bool ok = msg->outcome == TPC_OUTCOME_COMMITTED;
        if (!ok && msg->outcome != TPC_OUTCOME_ABORTED)
            return;
        p->acked = p->phase2 = true;
        s_answer_done (self, t, msg->outcome,
                       ok ? NULL : (msg->reason ? msg->reason
                                                : "aborted by participant"));
        s_log (self, 0, "%s: one-phase %s", t->gid,
               tpc_outcome_name (msg->outcome));
        s_forget (self, t, ok ? S_END_COMMITTED : S_END_ABORTED);
        return;
    }
    bool waiting = (t->state == S_COMMITTING && t->durable)
                   || t->state == S_ABORTING;
    if (!waiting || !p->phase2 || p->acked) {
        s_log (self, 0, "%s: stale ack from '%s' ignored", msg->gid, name);
        return;
    }
    tpc_outcome_t want = t->state == S_COMMITTING ? TPC_OUTCOME_COMMITTED
                                                  : TPC_OUTCOME_ABORTED;
    if (msg->outcome == TPC_OUTCOME_IN_PROGRESS)
        return;
    if (msg->outcome != want)
        s_heuristic (self, t, name, msg);
    p->acked = true;
    t->nunacked--;
    if (t->state == S_ABORTING) {
        s_abort_settle (self, t, now);
        return;
    }
    if (t->nunacked == 0)
        s_commit_finished (self, t);
}

/*  3PC: agent NAME's state of a gid, the reply to a precommit.          */
static void
s_on_state (coord_engine_t *self, const char *name, const tpc_msg_t *msg,
            uint64_t now)
{
    s_txn_t *t = s_txn_lookup (self, msg->gid);
    s_member_t *p = t ? s_member_find (t, name, NULL) : NULL;
    if (!t || !p || t->state != S_PRECOMMITTING || !t->pc_durable
        || !p->phase2) {
        bool contra = t && p && p->phase2
                      && ((t->state == S_COMMITTING
                           && msg->p3 == TPC_P3_ABORTED)
                          || (t->state == S_ABORTING
                              && msg->p3 == TPC_P3_COMMITTED));
        s_log (self, contra ? 1 : 0, "%s: %s state %s from '%s' ignored%s",
               msg->gid, contra ? "CONTRADICTING" : "stale",
               tpc_p3_name (msg->p3), name,
               contra ? " (the decision stands; see the partition hazard "
                        "of three-phase commit)" : "");
        return;
    }
    switch (msg->p3) {
    case TPC_P3_COMMITTED:
        /* a termination leader decided commit: that is final */
        s_log (self, 0, "%s: '%s' reports committed: commit", t->gid, name);
        p->precommitted = true;
        s_commit_decide (self, t);
        return;
    case TPC_P3_PRECOMMITTED:
        if (!p->precommitted) {
            p->precommitted = true;
            t->nunacked--;
        }
        if (t->nunacked == 0) {
            s_log (self, 0, "%s: every participant pre-committed", t->gid);
            s_commit_decide (self, t);
        }
        return;
    case TPC_P3_ABORTED:
        /* a termination leader decided abort: that is final */
        s_set_reason (self, t, "participant '%s' reports aborted (decided "
                      "by the termination protocol)", name);
        s_abort (self, t, now);
        return;
    default:
        /* uncertain (e.g. in a termination round) or unknown: the
         * precommit is resent; never a timeout from here */
        s_log (self, 0, "%s: '%s' is %s: precommit resent later", t->gid,
               name, tpc_p3_name (msg->p3));
        return;
    }
}

/* ---------------------------------------------------------------------
 *  Presumed abort, checked (outcome_of)
 *
 *  A query for a gid of an EARLIER boot with no record (no live
 *  transaction, no end remembered, no heuristic) would be answered
 *  "aborted" by presumed abort.  But the record may be missing because the
 *  log lost it (a damaged last record is cut as a torn tail), while a
 *  participant already applied its COMMIT.  So before presuming, the
 *  coordinator asks the other agents what their databases know (gids of
 *  this boot need no check: their records are in memory).
 *
 *  Whom to ask: the coordinator cannot know a lost gid's participants, and
 *  a 2PC agent that restarted no longer knows them either, so every agent
 *  it knows is asked: those that said hello since this boot and those the
 *  replayed log names (agents that may be down now).  For 2 *
 *  heartbeat_ms after the start such queries are answered in_progress, so
 *  every live agent has said hello before any abort is presumed.
 *
 *    query(gid), no record, earlier boot (s_ask_start)
 *        |  outcome_of to every other known agent that is connected;
 *        |  the asker counts as "uncertain" (it holds gid prepared)
 *        v
 *     ASKING (s_ask_t, deadline now + 3 * heartbeat_ms) -- more queries
 *        |                                     for gid join as askers
 *        |  known from each asked agent (s_on_known), or the deadline,
 *        |  or a send failed (s_ask_unreachable)
 *        v  (s_ask_settle)
 *     - any "committed": the gid committed somewhere, so commit it
 *       everywhere: a transaction in COMMITTING whose participants are
 *       the askers and every agent that answered committed, uncertain or
 *       precommitted; COMMIT record FORCED; decide(committed) goes out
 *       only once it is durable (s_commit_durable), exactly as a decided
 *       2PC commit, and a later query is answered committed.
 *     - else any "precommitted" (3PC: a termination may commit) or
 *       "unknown" (cannot tell), an agent that did not answer in time, a
 *       known agent not connected or not asked: answer in_progress (the
 *       agent asks again; the next query runs a new round).
 *     - else (every known agent answered uncertain or aborted): the
 *       presumed abort stands: answer aborted.
 *  Known agents: those that said hello this boot, and those named by a
 *  replayed record or by a record of the tail the log cut at open
 *  (coord_engine_note_cut: a lost COMMIT may be the only record naming
 *  a participant that committed).  A yes vote for such a gid is not
 *  answered decide(aborted) either: the agent's query runs the round.
 *  Nothing is remembered after a round but whether it could not confirm
 *  the presumed abort (answered in_progress: self->unconfirmed, this
 *  boot).  Such a gid, or one with a round pending, is in doubt for
 *  resolve: an operator may decide it either way (s_on_resolve), and
 *  the resolve wins over a round: a round that settles while the
 *  HEURISTIC record is written answers in_progress and never logs a
 *  COMMIT, and once it is durable the askers hear its outcome
 *  (s_ask_overruled).  It costs a round only on this recovery path,
 *  never on a normal commit.  Known limit: an agent that is gone for
 *  good keeps such queries in_progress until it returns or an operator
 *  resolves the gid.
 */

typedef struct {
    char name[TPC_RECORD_NAME_MAX];
    bool asker;                 /* sent the query: holds gid prepared */
    bool asked;                 /* outcome_of sent, known awaited */
    bool answered;
    tpc_p3_t state;             /* its known (asker: uncertain) */
} s_askmember_t;

typedef struct {
    char gid[TPC_GID_MAX];
    uint64_t deadline;
    bool missing;               /* a known agent could not be asked */
    s_askmember_t *parts;
    size_t nparts, capparts;
} s_ask_t;

static void
s_ask_destroy (void **item)
{
    s_ask_t *ask = *item;
    if (ask)
        free (ask->parts);
    free (ask);
    *item = NULL;
}

static s_askmember_t *
s_ask_part (coord_engine_t *self, s_ask_t *ask, const char *name, bool add)
{
    for (size_t i = 0; i < ask->nparts; i++)
        if (!strcmp (ask->parts[i].name, name))
            return &ask->parts[i];
    if (!add)
        return NULL;
    if (ask->nparts == ask->capparts) {
        size_t cap = ask->capparts ? ask->capparts * 2 : 4;
        s_askmember_t *p = realloc (ask->parts, cap * sizeof *p);
        if (!p) {
            self->err = TPC_ENOMEM;
            return NULL;
        }
        ask->parts = p;
        ask->capparts = cap;
    }
    s_askmember_t *p = &ask->parts[ask->nparts++];
    memset (p, 0, sizeof *p);
    snprintf (p->name, sizeof p->name, "%s", name);
    return p;
}

/*  Agents named in a replayed record are known (not connected) agents:
 *  a lost gid may have committed on them.                                */
static void
s_ask_note_parts (coord_engine_t *self, const tpc_record_t *rec)
{
    for (size_t i = 0; i < rec->nparts && i < TPC_RECORD_PARTS_MAX; i++) {
        const char *name = rec->parts[i];
        if (!s_name_valid (name) || zhashx_lookup (self->agents, name))
            continue;
        s_agent_t *a = calloc (1, sizeof *a);
        if (!a) {
            self->err = TPC_ENOMEM;
            return;
        }
        snprintf (a->name, sizeof a->name, "%s", name);
        zhashx_insert (self->agents, name, a);
    }
}

static void
s_ask_answer (coord_engine_t *self, const s_ask_t *ask,
              tpc_outcome_t outcome)
{
    for (size_t i = 0; i < ask->nparts; i++)
        if (ask->parts[i].asker) {
            tpc_msg_t *answer = s_msg (self, TPC_MSG_ANSWER);
            if (!answer)
                return;
            answer->outcome = outcome;
            s_check (self, tpc_msg_set_str (&answer->gid, ask->gid));
            s_to_agent (self, ask->parts[i].name, answer);
        }
}

/*  Some agent reported GID committed: commit it everywhere it is held.   */
static void
s_ask_commit (coord_engine_t *self, const s_ask_t *ask, const char *who)
{
    s_log (self, 1, "%s: no record of it, but '%s' reports it committed: "
           "commit logged again (was the log's tail lost?)", ask->gid, who);
    s_txn_t *t = s_txn_add (self, ask->gid, S_PREPARING);
    if (!t)
        return;
    t->created = self->now;
    t->deadline = COORD_NEVER;
    for (size_t i = 0; i < ask->nparts; i++) {
        const s_askmember_t *ap = &ask->parts[i];
        if (!ap->asker && !(ap->answered
                            && (ap->state == TPC_P3_COMMITTED
                                || ap->state == TPC_P3_UNCERTAIN
                                || ap->state == TPC_P3_PRECOMMITTED)))
            continue;
        s_member_t *p = s_member_add (self, t, ap->name);
        if (p) {
            p->vote = TPC_VOTE_YES;
            p->asked = p->phase2 = true;
        }
    }
    s_commit_decide (self, t);
}

/*  Is a resolve of GID waiting for its record?                          */
static bool
s_resolve_pending (coord_engine_t *self, const char *gid)
{
    for (size_t i = 0; i < self->nresolving; i++)
        if (!strcmp (self->resolving[i].gid, gid))
            return true;
    return false;
}

/*  Has something other than the round settled ASK's gid meanwhile (an
 *  operator's resolve, durable or being written)?  Then the askers hear
 *  that (in_progress while the resolve is written), never a commit the
 *  round found (COMMITTED: who reported it), and ASK is freed.          */
static bool
s_ask_overruled (coord_engine_t *self, s_ask_t *ask, const char *committed)
{
    s_view_t v = s_view (self, ask->gid);
    bool pending = !strcmp (v.state, "unknown")
                   && s_resolve_pending (self, ask->gid);
    if (!pending && !strcmp (v.state, "unknown"))
        return false;
    tpc_outcome_t out = pending ? TPC_OUTCOME_IN_PROGRESS : v.answer;
    if (committed && out != TPC_OUTCOME_COMMITTED)
        s_log (self, 1, "%s: '%s' reports it committed, but an operator "
               "resolves it (%s): the resolve stands (heuristic damage?)",
               ask->gid, committed, pending ? "being written" : v.state);
    else
        s_log (self, 0, "%s: settled meanwhile (%s): answered %s", ask->gid,
               pending ? "a resolve being written" : v.state,
               tpc_outcome_name (out));
    s_ask_answer (self, ask, out);
    zhashx_delete (self->unconfirmed, ask->gid);
    zhashx_delete (self->asks, ask->gid);
    return true;
}

/*  Every answer is in, or the time is up (TIMED_OUT): decide what the
 *  askers hear, and forget ASK (freed).                                   */
static void
s_ask_settle (coord_engine_t *self, s_ask_t *ask, bool timed_out)
{
    const char *committed = NULL, *blocking = NULL;
    for (size_t i = 0; i < ask->nparts; i++) {
        const s_askmember_t *ap = &ask->parts[i];
        if (ap->answered && ap->state == TPC_P3_COMMITTED && !committed)
            committed = ap->name;
        else if (!blocking && !ap->asker
                 && (!ap->answered || ap->state == TPC_P3_PRECOMMITTED
                     || ap->state == TPC_P3_UNKNOWN))
            blocking = ap->name;
    }
    if (s_ask_overruled (self, ask, committed))
        return;
    /* an agent known now but not asked (it said hello meanwhile) */
    for (s_agent_t *a = zhashx_first (self->agents); a && !blocking;
         a = zhashx_next (self->agents))
        if (!s_ask_part (self, ask, a->name, false))
            blocking = a->name;
    if (committed && !s_txn_lookup (self, ask->gid)) {
        zhashx_delete (self->unconfirmed, ask->gid);
        s_ask_commit (self, ask, committed);
    }
    else if (committed || blocking || ask->missing) {
        s_log (self, 0, "%s: no record; presumed abort not confirmed "
               "(agent '%s' did not answer, cannot tell, may commit, or is "
               "not connected): answered in_progress", ask->gid,
               blocking ? blocking : committed ? committed : "?");
        s_ask_answer (self, ask, TPC_OUTCOME_IN_PROGRESS);
        if (zhashx_size (self->unconfirmed) < self->cfg.ended_cache)
            zhashx_update (self->unconfirmed, ask->gid, (void *) 1);
    }
    else {
        zhashx_delete (self->unconfirmed, ask->gid);
        s_log (self, 0, "%s: no record, no agent committed it%s: presumed "
               "abort", ask->gid, timed_out ? "" : " (every one answered)");
        s_ask_answer (self, ask, TPC_OUTCOME_ABORTED);
    }
    zhashx_delete (self->asks, ask->gid);
}

/*  Settle ASK if every agent asked has answered.                        */
static void
s_ask_check (coord_engine_t *self, s_ask_t *ask)
{
    for (size_t i = 0; i < ask->nparts; i++)
        if (ask->parts[i].asked && !ask->parts[i].answered)
            return;
    s_ask_settle (self, ask, false);
}

/*  A query from NAME for GID, whose view V presumes abort: check it with
 *  the other agents first.  Returns true when the query is taken (answered
 *  in_progress, or pending), false to answer V as before.                */
static bool
s_ask_start (coord_engine_t *self, const char *name, const char *gid,
             const s_view_t *v)
{
    tpc_gid_t g;
    if (v->answer != TPC_OUTCOME_ABORTED || strcmp (v->state, "unknown")
        || tpc_gid_parse (gid, &g) || g.epoch >= self->epoch)
        return false;
    if (self->now < self->ask_grace_until) {
        s_log (self, 0, "%s: no record; agents may still be connecting: "
               "answered in_progress", gid);
        tpc_msg_t *answer = s_msg (self, TPC_MSG_ANSWER);
        if (answer) {
            answer->outcome = TPC_OUTCOME_IN_PROGRESS;
            s_check (self, tpc_msg_set_str (&answer->gid, gid));
            s_to_agent (self, name, answer);
        }
        return true;
    }
    s_ask_t *ask = zhashx_lookup (self->asks, gid);
    if (ask) {
        s_askmember_t *p = s_ask_part (self, ask, name, true);
        if (p) {
            p->asker = true;
            if (p->asked && !p->answered) {
                p->answered = true;     /* it holds gid prepared */
                p->state = TPC_P3_UNCERTAIN;
            }
            s_ask_check (self, ask);
        }
        return true;
    }
    ask = calloc (1, sizeof *ask);
    if (!ask) {
        self->err = TPC_ENOMEM;
        return true;
    }
    snprintf (ask->gid, sizeof ask->gid, "%s", gid);
    ask->deadline = self->now + 3 * self->cfg.heartbeat_ms;
    zhashx_insert (self->asks, ask->gid, ask);
    s_askmember_t *me = s_ask_part (self, ask, name, true);
    if (me) {
        me->asker = me->answered = true;
        me->state = TPC_P3_UNCERTAIN;
    }
    for (s_agent_t *a = zhashx_first (self->agents); a;
         a = zhashx_next (self->agents)) {
        if (!strcmp (a->name, name))
            continue;
        if (!a->connected) {
            ask->missing = true;
            continue;
        }
        s_askmember_t *p = s_ask_part (self, ask, a->name, true);
        tpc_msg_t *msg = s_msg (self, TPC_MSG_OUTCOME_OF);
        if (!p || !msg || tpc_msg_set_str (&msg->gid, gid)) {
            self->err = TPC_ENOMEM;
            tpc_msg_destroy (&msg);
            continue;
        }
        p->asked = true;
        s_to_agent (self, a->name, msg);
    }
    s_log (self, 0, "%s: no record: asking the other agents before "
           "presuming abort", gid);
    s_ask_check (self, ask);
    return true;
}

/*  known: agent NAME's answer to an outcome_of.                          */
static void
s_on_known (coord_engine_t *self, const char *name, const tpc_msg_t *msg)
{
    s_ask_t *ask = zhashx_lookup (self->asks, msg->gid);
    s_askmember_t *p = ask ? s_ask_part (self, ask, name, false) : NULL;
    if (!p || !p->asked || p->answered) {
        s_log (self, 0, "%s: stale known %s from '%s' ignored", msg->gid,
               tpc_p3_name (msg->p3), name);
        return;
    }
    p->answered = true;
    p->state = msg->p3;
    if (msg->p3 == TPC_P3_COMMITTED)
        s_ask_settle (self, ask, false);
    else
        s_ask_check (self, ask);
}

/*  An outcome_of to NAME could not be sent.                              */
static void
s_ask_unreachable (coord_engine_t *self, const char *name, const char *gid)
{
    s_ask_t *ask = gid ? zhashx_lookup (self->asks, gid) : NULL;
    s_askmember_t *p = ask ? s_ask_part (self, ask, name, false) : NULL;
    if (!p || !p->asked || p->answered)
        return;
    p->asked = false;
    ask->missing = true;
    s_ask_check (self, ask);
}

/*  The earliest deadline of a pending round (COORD_NEVER: none).        */
static uint64_t
s_asks_wake (coord_engine_t *self)
{
    uint64_t w = COORD_NEVER;
    for (s_ask_t *ask = zhashx_first (self->asks); ask;
         ask = zhashx_next (self->asks))
        w = S_MIN (w, ask->deadline);
    return w;
}

static void
s_asks_due (coord_engine_t *self, uint64_t now)
{
    s_ask_t *ask = zhashx_first (self->asks);
    while (ask) {
        if (now >= ask->deadline) {
            s_ask_settle (self, ask, true);     /* deletes it */
            ask = zhashx_first (self->asks);    /* the cursor is gone */
        }
        else
            ask = zhashx_next (self->asks);
    }
}

static void
s_on_query (coord_engine_t *self, const char *name, const tpc_msg_t *msg)
{
    s_view_t v = s_view (self, msg->gid);
    if (v.foreign)
        s_log (self, 1, "agent '%s' asks about %s, which is not this "
               "coordinator's: answered in_progress", name, msg->gid);
    if (s_ask_start (self, name, msg->gid, &v))
        return;
    tpc_msg_t *answer = s_msg (self, TPC_MSG_ANSWER);
    if (!answer)
        return;
    answer->outcome = v.answer;
    s_check (self, tpc_msg_set_str (&answer->gid, msg->gid));
    s_to_agent (self, name, answer);
}

/* ---------------------------------------------------------------------
 *  Operations: resolve (a heuristic decision by an operator) and summary
 *
 *  resolve GID OUTCOME settles what the coordinator cannot finish alone:
 *    - a gid it is not driving and would answer in_progress forever (of
 *      another coordinator, or a one-phase commit never acknowledged), or
 *    - a decided gid whose phase 2 cannot end because a participant that
 *      has not acknowledged is gone: OUTCOME must be the decision.
 *  It is refused (TPC_ESTATE) for a gid still being decided, for a gid
 *  whose phase 2 is progressing (every participant still to ack is
 *  connected), for an outcome contradicting a decision or an end already
 *  known (presumed abort included, except a gid of an earlier boot with
 *  no record whose presumed abort a round could not confirm this boot,
 *  or is checking: it is in doubt, "Presumed abort, checked"), and for
 *  a different outcome than an
 *  earlier resolve; with TPC_EUNKNOWN_GID for a gid of this coordinator
 *  it never issued (a later seq of this boot, or a later epoch): that
 *  outcome would bind whichever transaction gets the gid next (found by
 *  a black-box test: the next begin got it, rolled back, and the agents
 *  were answered committed).  Gid issue skips any gid a record names
 *  (s_gid_taken), and s_view lets a logged end win over a heuristic
 *  that contradicts it.  The HEURISTIC record (reason "resolve --force: ...")
 *  is FORCED; only once it is durable does the coordinator answer the
 *  gid's queries and status with OUTCOME, stop driving a live gid (END
 *  for a commit) and reply to the operator.  Replay and checkpoints keep
 *  resolved gids.
 */

static void
s_heur_destroy (void **item)
{
    free (*item);
    *item = NULL;
}

static void
s_heur_set (coord_engine_t *self, const char *gid, tpc_outcome_t outcome,
            const char *reason)
{
    s_heur_t *h = zhashx_lookup (self->heuristics, gid);
    if (!h) {
        h = calloc (1, sizeof *h);
        if (!h) {
            self->err = TPC_ENOMEM;
            return;
        }
        zhashx_insert (self->heuristics, gid, h);
    }
    h->outcome = outcome;
    snprintf (h->reason, sizeof h->reason, "%s", reason ? reason : "");
}

/*  Is GID one of this coordinator's that it has not issued (a later
 *  sequence number of this boot, or a later epoch)?  Then WHY (SIZE
 *  bytes) says so.  Such a gid is nobody's yet: a resolve of it would
 *  decide the future transaction that gets it.                           */
static bool
s_never_issued (coord_engine_t *self, const char *gid, char *why,
                size_t size)
{
    tpc_gid_t g;
    if (tpc_gid_parse (gid, &g) || strcmp (g.coord, self->coord_id))
        return false;           /* another coordinator's: not ours */
    if (g.epoch > self->epoch)
        snprintf (why, size, "%s was never issued by this coordinator: its "
                  "epoch %" PRIu64 " is later than this boot's (%" PRIu64
                  "); a coordinator that lost its log must run under a new "
                  "id, and the old id's gids can then be resolved", gid,
                  g.epoch, self->epoch);
    else if (g.epoch == self->epoch && g.seq > self->seq)
        snprintf (why, size, "%s was never issued by this coordinator (this "
                  "boot, epoch %" PRIu64 ", has issued %" PRIu64 " gid(s)): "
                  "there is nothing to resolve", gid, self->epoch,
                  self->seq);
    else
        return false;
    return true;
}

static void
s_on_resolve (coord_engine_t *self, const uint8_t *id, size_t len,
              const tpc_msg_t *msg, uint64_t now)
{
    const char *gid = msg->gid, *want_name = tpc_outcome_name (msg->outcome);
    tpc_outcome_t want = msg->outcome;
    (void) now;
    if (!gid || (want != TPC_OUTCOME_COMMITTED
                 && want != TPC_OUTCOME_ABORTED)) {
        s_reply_error (self, id, len, msg->rid, TPC_EINVAL, gid,
                       "resolve needs a gid and committed or aborted");
        return;
    }
    for (size_t i = 0; i < self->nresolving; i++)
        if (!strcmp (self->resolving[i].gid, gid)) {
            s_reply_error (self, id, len, msg->rid, TPC_EBUSY, gid,
                           "a resolve of %s is being written: retry", gid);
            return;
        }
    s_heur_t *h = zhashx_lookup (self->heuristics, gid);
    if (h) {
        if (h->outcome == want)
            s_reply_outcome (self, id, len, msg->rid, gid, want, h->reason);
        else
            s_reply_error (self, id, len, msg->rid, TPC_ESTATE, gid,
                           "%s was already resolved %s", gid,
                           tpc_outcome_name (h->outcome));
        return;
    }
    char gone[512] = "";
    s_txn_t *t = s_txn_lookup (self, gid);
    if (t) {
        bool decided = (t->state == S_COMMITTING && t->durable)
                       || t->state == S_ABORTING;
        if (!decided) {
            s_reply_error (self, id, len, msg->rid, TPC_ESTATE, gid,
                           "%s is %s: the coordinator is still driving it "
                           "(%s)", gid, s_state_names[t->state],
                           t->state == S_PRECOMMITTING
                           ? "three-phase commit: its participants' "
                             "termination protocol decides it"
                           : "wait for its timeout, or roll it back");
            return;
        }
        tpc_outcome_t have = t->state == S_COMMITTING
                             ? TPC_OUTCOME_COMMITTED : TPC_OUTCOME_ABORTED;
        if (want != have) {
            s_reply_error (self, id, len, msg->rid, TPC_ESTATE, gid,
                           "%s is decided %s: a heuristic %s would "
                           "contradict it", gid, tpc_outcome_name (have),
                           want_name);
            return;
        }
        size_t n = 0;
        for (size_t i = 0; i < t->nparts; i++) {
            const s_member_t *p = &t->parts[i];
            if (p->phase2 && !p->acked
                && !s_agent_connected (self, p->name)) {
                size_t at = strlen (gone);
                snprintf (gone + at, sizeof gone - at, "%s%s", n++ ? ", " : "",
                          p->name);
            }
        }
        if (n == 0) {
            s_reply_error (self, id, len, msg->rid, TPC_ESTATE, gid,
                           "the coordinator is still driving %s: every "
                           "participant that has not acknowledged %s is "
                           "connected", gid, want_name);
            return;
        }
    }
    else {
        char why[384];
        if (s_never_issued (self, gid, why, sizeof why)) {
            s_reply_error (self, id, len, msg->rid, TPC_EUNKNOWN_GID, gid,
                           "%s", why);
            return;
        }
        s_view_t v = s_view (self, gid);
        bool stuck = s_earlier_unknown (self, gid)
                     && (zhashx_lookup (self->unconfirmed, gid)
                         || zhashx_lookup (self->asks, gid));
        if (v.outcome != TPC_OUTCOME_IN_PROGRESS && !stuck) {
            s_reply_error (self, id, len, msg->rid, TPC_ESTATE, gid,
                           "%s already has outcome %s (%s): nothing is in "
                           "doubt, nothing to resolve%s", gid,
                           tpc_outcome_name (v.outcome),
                           strcmp (v.state, "unknown") ? v.state
                                                       : "presumed abort",
                           s_earlier_unknown (self, gid)
                           ? " (a gid of an earlier boot with no record "
                             "can be resolved once an agent's query for it "
                             "could not be confirmed: wait for that query)"
                           : "");
            return;
        }
    }
    if (self->nresolving == self->capresolving) {
        size_t cap = self->capresolving ? self->capresolving * 2 : 4;
        s_resolve_t *v = realloc (self->resolving, cap * sizeof *v);
        if (!v) {
            s_reply_error (self, id, len, msg->rid, TPC_ENOMEM, gid,
                           "out of memory");
            return;
        }
        self->resolving = v;
        self->capresolving = cap;
    }
    tpc_record_t *rec = calloc (1, sizeof *rec);
    if (!rec) {
        s_reply_error (self, id, len, msg->rid, TPC_ENOMEM, gid,
                       "out of memory");
        return;
    }
    s_resolve_t *r = &self->resolving[self->nresolving++];
    memset (r, 0, sizeof *r);
    snprintf (r->gid, sizeof r->gid, "%s", gid);
    r->outcome = want;
    snprintf (r->reason, sizeof r->reason, S_RESOLVE_TAG ": %.140s%s%.80s",
              msg->reason && *msg->reason ? msg->reason : "by an operator",
              *gone ? "; never acked: " : "", gone);
    s_req_set (self, &r->req, id, len, msg->rid);
    rec->type = TPC_REC_HEURISTIC;
    snprintf (rec->gid, sizeof rec->gid, "%s", gid);
    rec->outcome = want == TPC_OUTCOME_COMMITTED ? 1 : 2;
    snprintf (rec->reason, sizeof rec->reason, "%s", r->reason);
    r->ticket = s_append (self, rec, true);
    s_log (self, 1, "%s: HEURISTIC %s forced by an operator (%s)", gid,
           want_name, r->reason);
}

/*  Every forced append up to TICKET is durable: resolves take effect.    */
static void
s_resolves_durable (coord_engine_t *self, uint64_t ticket, uint64_t now)
{
    size_t kept = 0;
    (void) now;
    for (size_t i = 0; i < self->nresolving; i++) {
        s_resolve_t *r = &self->resolving[i];
        if (r->ticket > ticket) {
            self->resolving[kept++] = *r;
            continue;
        }
        s_heur_set (self, r->gid, r->outcome, r->reason);
        zhashx_delete (self->unconfirmed, r->gid);
        s_ask_t *ask = zhashx_lookup (self->asks, r->gid);
        if (ask)                /* its askers hear the resolve's outcome */
            s_ask_settle (self, ask, false);
        s_txn_t *t = s_txn_lookup (self, r->gid);
        if (t && t->state == S_COMMITTING
            && r->outcome == TPC_OUTCOME_COMMITTED) {
            s_append (self, s_record_new (self, TPC_REC_END, t), false);
            s_answer_done (self, t, TPC_OUTCOME_COMMITTED, NULL);
            s_forget (self, t, S_END_COMMITTED);
        }
        else if (t && t->state == S_ABORTING
                 && r->outcome == TPC_OUTCOME_ABORTED) {
            s_answer_done (self, t, TPC_OUTCOME_ABORTED, t->reason);
            s_forget (self, t, S_END_ABORTED);
        }
        s_reply_outcome (self, r->req.id, r->req.len, r->req.rid, r->gid,
                         r->outcome, r->reason);
        s_req_clear (&r->req);
    }
    self->nresolving = kept;
}

static int
s_strp_cmp (const void *a, const void *b)
{
    return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/*  Transactions prepared somewhere whose outcome is not applied
 *  everywhere yet: a yes vote is in and not every ack (or the one-phase
 *  ack never came).  *OLDEST (if not NULL) gets the age of the oldest.  */
static size_t
s_count_in_doubt (coord_engine_t *self, uint64_t now, uint64_t *oldest)
{
    size_t n = 0;
    if (oldest)
        *oldest = 0;
    for (s_txn_t *t = zhashx_first (self->txns); t;
         t = zhashx_next (self->txns)) {
        bool doubt = t->state == S_COMMITTING
                     || t->state == S_PRECOMMITTING
                     || (t->state == S_ONEPHASE && t->indoubt);
        for (size_t i = 0; !doubt && t->state == S_PREPARING
                           && i < t->nparts; i++)
            doubt = t->parts[i].vote == TPC_VOTE_YES;
        if (!doubt)
            continue;
        n++;
        uint64_t age = now > t->created ? now - t->created : 0;
        if (oldest && age > *oldest)
            *oldest = age;
    }
    return n;
}

static void
s_on_summary (coord_engine_t *self, const uint8_t *id, size_t len,
              const tpc_msg_t *msg, uint64_t now)
{
    tpc_msg_t *reply = s_msg (self, TPC_MSG_TXSUMMARY);
    if (!reply)
        return;
    reply->rid = msg->rid;
    reply->in_flight = zhashx_size (self->txns);
    reply->in_doubt = s_count_in_doubt (self, now, &reply->oldest_ms);
    reply->committed = self->n_committed;
    reply->aborted = self->n_aborted;
    reply->heuristic = zhashx_size (self->heuristics);
    for (s_agent_t *a = zhashx_first (self->agents); a;
         a = zhashx_next (self->agents))
        if (a->connected)
            s_check (self, tpc_msg_strv_push (&reply->agents,
                                              &reply->nagents, a->name));
    if (reply->nagents > 1)
        qsort (reply->agents, reply->nagents, sizeof *reply->agents,
               s_strp_cmp);
    s_to_client (self, id, len, reply);
}

/* ---------------------------------------------------------------------
 *  Timers
 */

/*  T's wake time has come.                                               */
static void
s_txn_due (coord_engine_t *self, s_txn_t *t, uint64_t now)
{
    switch (t->state) {
    case S_ACTIVE:
        if (now >= t->deadline) {
            s_set_reason (self, t, "transaction timeout");
            s_abort (self, t, now);
            return;
        }
        break;
    case S_PREPARING:
        if (now >= t->vote_deadline) {
            const char *who = "?";
            for (size_t i = 0; i < t->nparts; i++)
                if (t->parts[i].asked && t->parts[i].vote == TPC_VOTE_NONE) {
                    who = t->parts[i].name;
                    break;
                }
            s_set_reason (self, t, "vote timeout: no vote from '%s'", who);
            s_abort (self, t, now);
            return;
        }
        if (now >= t->deadline) {
            s_set_reason (self, t, "transaction timeout");
            s_abort (self, t, now);
            return;
        }
        break;
    case S_ONEPHASE:
        if (!t->indoubt && now >= t->vote_deadline) {
            t->indoubt = true;
            t->linger_until = now + self->cfg.abort_linger_ms;
            s_log (self, 1, "%s: one-phase commit on '%s' not acknowledged: "
                   "outcome in doubt", t->gid, t->parts[0].name);
        }
        if (t->indoubt && t->done.set) {
            s_reply_error (self, t->done.id, t->done.len, t->done.rid,
                           TPC_EIN_DOUBT, t->gid,
                           "one-phase commit on '%s' not acknowledged: "
                           "outcome unknown", t->parts[0].name);
            s_req_clear (&t->done);
        }
        if (t->indoubt && now >= t->linger_until) {
            s_forget (self, t, S_END_UNKNOWN);
            return;
        }
        break;
    case S_COMMITTING:
        if (!t->durable)
            break;
        if (t->nunacked > 0 && now >= t->resend_at) {
            s_drive (self, t, NULL);
            t->backoff = S_MIN (t->backoff * 2, self->cfg.resend_max_ms);
            t->resend_at = now + t->backoff;
        }
        if (t->done.set && !t->replied && now >= t->ack_wait_until)
            s_answer_done (self, t, TPC_OUTCOME_COMMITTED, NULL);
        break;
    case S_ABORTING:
        if (t->nunacked > 0 && !t->lingered && now >= t->resend_at
            && now < t->linger_until) {
            s_drive (self, t, NULL);
            t->backoff = S_MIN (t->backoff * 2, self->cfg.resend_max_ms);
            t->resend_at = now + t->backoff;
        }
        s_abort_settle (self, t, now);
        return;
    case S_PRECOMMITTING:
        if (t->pc_durable && t->nunacked > 0 && now >= t->resend_at) {
            s_precommit_drive (self, t, NULL);
            uint64_t was = t->backoff;
            t->backoff = S_MIN (t->backoff * 2, self->cfg.resend_max_ms);
            t->resend_at = now + t->backoff;
            if (was < t->backoff && t->backoff == self->cfg.resend_max_ms) {
                const char *who = "?";
                for (size_t i = 0; i < t->nparts; i++)
                    if (t->parts[i].phase2 && !t->parts[i].precommitted) {
                        who = t->parts[i].name;
                        break;
                    }
                s_log (self, 1, "%s: pre-committed, still no 'precommitted' "
                       "from %zu participant(s) (e.g. '%s'); three-phase "
                       "commit never times out here: precommit is resent "
                       "every %" PRIu64 " ms", t->gid, t->nunacked, who,
                       t->backoff);
            }
        }
        break;
    }
    s_reschedule (self, t);
}

static void
s_sweep_agents (coord_engine_t *self, uint64_t now)
{
    uint64_t limit = 3 * self->cfg.heartbeat_ms;
    for (s_agent_t *a = zhashx_first (self->agents); a;
         a = zhashx_next (self->agents))
        if (a->connected && now > a->last_hello + limit) {
            a->connected = false;
            s_log (self, 1, "agent '%s' gone (no hello for %" PRIu64 " ms)",
                   a->name, now - a->last_hello);
        }
}

/*  End of every public event: report a changed wake time, return the
 *  sticky error.                                                          */
static int
s_finish (coord_engine_t *self)
{
    uint64_t w = coord_engine_next_wake (self);
    if (w != self->wake_reported) {
        self->wake_reported = w;
        coord_action_t act = { .type = COORD_ACT_WAKE, .at = w };
        s_push (self, &act);
    }
    int rc = self->err;
    self->err = 0;
    return rc;
}

/* ---------------------------------------------------------------------
 *  Public API
 */

coord_engine_t *
coord_engine_new (const coord_engine_config_t *cfg)
{
    if (!cfg || tpc_coord_id_valid (cfg->coord_id))
        return NULL;
    coord_engine_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    snprintf (self->coord_id, sizeof self->coord_id, "%s", cfg->coord_id);
    self->cfg = *cfg;
    self->cfg.coord_id = self->coord_id;
#define S_DEFAULT(f, v) if (!self->cfg.f) self->cfg.f = (v)
    S_DEFAULT (txn_timeout_ms, 60000);
    S_DEFAULT (vote_timeout_ms, 10000);
    S_DEFAULT (ack_wait_ms, 5000);
    S_DEFAULT (resend_min_ms, 100);
    S_DEFAULT (resend_max_ms, 5000);
    S_DEFAULT (heartbeat_ms, 1000);
    S_DEFAULT (abort_linger_ms, 60000);
    S_DEFAULT (max_txns, 100000);
    S_DEFAULT (ended_cache, 16384);
    S_DEFAULT (list_max, 10000);
    S_DEFAULT (max_stmts, 10000);
    S_DEFAULT (max_txns_per_client, 10000);
    S_DEFAULT (max_result_rows, 100000);
#undef S_DEFAULT
    if (self->cfg.resend_max_ms < self->cfg.resend_min_ms)
        self->cfg.resend_max_ms = self->cfg.resend_min_ms;
    self->txns = zhashx_new ();
    self->agents = zhashx_new ();
    self->ended = zhashx_new ();
    self->ring = calloc (self->cfg.ended_cache, sizeof *self->ring);
    self->owners = zhashx_new ();
    self->heuristics = zhashx_new ();
    if (self->heuristics)
        zhashx_set_destructor (self->heuristics, s_heur_destroy);
    self->asks = zhashx_new ();
    if (self->asks)
        zhashx_set_destructor (self->asks, s_ask_destroy);
    self->unconfirmed = zhashx_new ();
    if (!self->txns || !self->agents || !self->ended || !self->ring
        || !self->owners || !self->heuristics || !self->asks
        || !self->unconfirmed) {
        coord_engine_destroy (&self);
        return NULL;
    }
    zhashx_set_destructor (self->agents, s_agent_destroy);
    self->next_sweep = COORD_NEVER;
    self->wake_reported = COORD_NEVER;
    return self;
}

void
coord_engine_destroy (coord_engine_t **self_p)
{
    coord_engine_t *self = *self_p;
    if (!self)
        return;
    if (self->txns) {
        for (s_txn_t *t = zhashx_first (self->txns); t;
             t = zhashx_next (self->txns))
            s_txn_free (&t);
        zhashx_destroy (&self->txns);
    }
    zhashx_destroy (&self->agents);
    zhashx_destroy (&self->ended);
    zhashx_destroy (&self->owners);
    zhashx_destroy (&self->heuristics);
    zhashx_destroy (&self->asks);
    zhashx_destroy (&self->unconfirmed);
    for (size_t i = 0; i < self->nresolving; i++)
        s_req_clear (&self->resolving[i].req);
    free (self->resolving);
    while (self->qn > 0) {
        coord_action_clear (&self->q[self->qhead++]);
        self->qn--;
    }
    free (self->q);
    free (self->ring);
    free (self->heap);
    free (self->due);
    free (self);
    *self_p = NULL;
}

/*  Replay: does an operator's HEURISTIC REC contradict what the log
 *  decided before it (an end, or the live decided transaction T)?        */
static bool
s_replay_contradicts (coord_engine_t *self, const tpc_record_t *rec,
                      const s_txn_t *t)
{
    bool commit = rec->outcome == 1;
    s_end_t end = s_recall (self, rec->gid);
    if ((end == S_END_COMMITTED && !commit)
        || (end == S_END_ABORTED && commit))
        return true;
    return t && t->state == S_COMMITTING && !commit;
}

/*  Replay: the log decided GID's OUTCOME.  An operator's heuristic that
 *  says otherwise cannot be right (a resolve only ever confirmed a
 *  decision; a log written before that check may hold one recorded for a
 *  gid not issued yet, which a later transaction then got): the logged
 *  outcome wins and the heuristic is dropped, so the next checkpoint no
 *  longer carries it.                                                     */
static void
s_heur_contradicted (coord_engine_t *self, const char *gid,
                     tpc_outcome_t outcome)
{
    s_heur_t *h = zhashx_lookup (self->heuristics, gid);
    if (!h || h->outcome == outcome)
        return;
    s_log (self, 1, "%s: the log holds a HEURISTIC %s (%s) and the decision "
           "%s: the decision wins, the heuristic is dropped", gid,
           tpc_outcome_name (h->outcome), h->reason,
           tpc_outcome_name (outcome));
    zhashx_delete (self->heuristics, gid);
}

int
coord_engine_replay (coord_engine_t *self, const tpc_record_t *rec)
{
    if (self->started)
        return TPC_ESTATE;
    s_ask_note_parts (self, rec);
    s_txn_t *t;
    switch (rec->type) {
    case TPC_REC_EPOCH:
        if (rec->epoch > self->replayed_epoch)
            self->replayed_epoch = rec->epoch;
        break;
    case TPC_REC_COMMIT:
        s_heur_contradicted (self, rec->gid, TPC_OUTCOME_COMMITTED);
        t = s_txn_lookup (self, rec->gid);
        if (t && t->state != S_PRECOMMITTING)
            break;              /* a checkpoint's copy */
        if (t) {                /* 3PC: pre-committed, then decided */
            self->precommitting--;
            t->state = S_COMMITTING;
            for (size_t i = 0; i < t->nparts; i++)
                t->parts[i].phase2 = false;
        }
        else if (!(t = s_txn_add (self, rec->gid, S_COMMITTING)))
            break;
        t->durable = true;
        t->nunacked = 0;
        for (size_t i = 0; i < rec->nparts; i++) {
            s_member_t *p = s_member_find (t, rec->parts[i], NULL);
            if (!p)
                p = s_member_add (self, t, rec->parts[i]);
            if (p) {
                p->vote = TPC_VOTE_YES;
                p->phase2 = true;
                t->nunacked++;
            }
        }
        self->in_doubt++;
        if (t->nunacked == 0) /* cannot happen: COMMIT names its voters */
            s_forget (self, t, S_END_COMMITTED);
        break;
    case TPC_REC_END:
        s_heur_contradicted (self, rec->gid, TPC_OUTCOME_COMMITTED);
        t = s_txn_lookup (self, rec->gid);
        if (t)
            s_forget (self, t, S_END_COMMITTED);
        else
            s_remember (self, rec->gid, S_END_COMMITTED);
        break;
    case TPC_REC_ABORT:
        s_heur_contradicted (self, rec->gid, TPC_OUTCOME_ABORTED);
        t = s_txn_lookup (self, rec->gid);
        if (t && t->state == S_PRECOMMITTING)
            s_forget (self, t, S_END_ABORTED);
        else if (!t)
            s_remember (self, rec->gid, S_END_ABORTED);
        break;
    case TPC_REC_PRECOMMIT:
        /* 3PC: pre-committed, undecided unless a later record says more */
        if (s_txn_lookup (self, rec->gid) || s_recall (self, rec->gid))
            break;              /* a checkpoint's copy, or decided */
        t = s_txn_add (self, rec->gid, S_PRECOMMITTING);
        if (!t)
            break;
        t->p3 = true;
        t->pc_durable = true;
        t->logged_abort = true;
        self->precommitting++;
        for (size_t i = 0; i < rec->nparts; i++) {
            s_member_t *p = s_member_add (self, t, rec->parts[i]);
            if (p) {
                p->vote = TPC_VOTE_YES;
                p->asked = true;
                p->phase2 = true;
                t->nunacked++;
            }
        }
        if (t->nunacked == 0) /* cannot happen: it names the yes voters */
            s_forget (self, t, S_END_ABORTED);
        break;
    case TPC_REC_HEURISTIC:
        /* an operator's resolve is a decision; a heuristic outcome an
         * agent reported is history only */
        if (strncmp (rec->reason, S_RESOLVE_TAG, strlen (S_RESOLVE_TAG)))
            break;
        t = s_txn_lookup (self, rec->gid);
        if (s_replay_contradicts (self, rec, t)) {
            s_log (self, 1, "%s: HEURISTIC %s (%s) contradicts the decision "
                   "logged before it: ignored", rec->gid,
                   rec->outcome == 1 ? "committed" : "aborted", rec->reason);
            break;
        }
        s_heur_set (self, rec->gid, rec->outcome == 1
                    ? TPC_OUTCOME_COMMITTED : TPC_OUTCOME_ABORTED,
                    rec->reason);
        if (t && rec->outcome == 1)
            s_forget (self, t, S_END_COMMITTED);   /* its END may be lost */
        else if (t && t->state == S_PRECOMMITTING)
            s_forget (self, t, S_END_ABORTED);
        break;
    default:
        break;
    }
    int rc = self->err;
    self->err = 0;
    return rc;
}

int
coord_engine_note_cut (coord_engine_t *self, const tpc_record_t *rec)
{
    if (self->started)
        return TPC_ESTATE;
    s_ask_note_parts (self, rec);
    int rc = self->err;
    self->err = 0;
    return rc;
}

int
coord_engine_start (coord_engine_t *self, uint64_t epoch, uint64_t now)
{
    if (self->started)
        return TPC_ESTATE;
    if (epoch == 0 || epoch <= self->replayed_epoch)
        return TPC_EINVAL;
    self->now = now;
    self->started = true;
    self->epoch = epoch;
    self->seq = 0;
    for (s_txn_t *t = zhashx_first (self->txns); t;
         t = zhashx_next (self->txns)) {
        t->created = now;
        t->backoff = self->cfg.resend_min_ms;
        t->resend_at = now + t->backoff;
        s_reschedule (self, t);
    }
    self->next_sweep = now + self->cfg.heartbeat_ms;
    self->ask_grace_until = now + 2 * self->cfg.heartbeat_ms;
    if (self->in_doubt > 0)
        s_log (self, 0, "%zu decided transaction(s) to drive to the end",
               self->in_doubt);
    if (self->precommitting > 0)
        s_log (self, 0, "%zu pre-committed transaction(s) (3PC) to drive "
               "to a decision", self->precommitting);
    return s_finish (self);
}

int
coord_engine_client (coord_engine_t *self, const void *id, size_t len,
                     const tpc_msg_t *msg, uint64_t now)
{
    return coord_engine_client_as (self, id, len, NULL, msg, now);
}

int
coord_engine_client_as (coord_engine_t *self, const void *id, size_t len,
                        const char *owner, const tpc_msg_t *msg,
                        uint64_t now)
{
    const uint8_t *cid = id;
    char conn[2 * 64 + 8];
    self->now = now;
    if (!owner) {               /* the connection: its routing id, in hex */
        size_t n = len < 64 ? len : 64;
        memcpy (conn, "conn:", 5);
        for (size_t i = 0; i < n; i++)
            snprintf (conn + 5 + 2 * i, 3, "%02x", cid[i]);
        conn[5 + 2 * n] = '\0';
        owner = conn;
    }
    if (!self->started) {
        s_reply_error (self, cid, len, msg->rid, TPC_EBUSY, NULL,
                       "coordinator is recovering: retry later");
        return s_finish (self);
    }
    s_txn_t *t = NULL;
    switch (msg->type) {
    case TPC_MSG_BEGIN:
        s_on_begin (self, cid, len, msg, owner, now);
        break;
    case TPC_MSG_SUBMIT:
        s_on_submit (self, cid, len, msg, owner, now);
        break;
    case TPC_MSG_RESOLVE:
        s_on_resolve (self, cid, len, msg, now);
        break;
    case TPC_MSG_SUMMARY:
        s_on_summary (self, cid, len, msg, now);
        break;
    case TPC_MSG_STATUS:
        if (msg->gid)
            s_on_status (self, cid, len, msg);
        else
            s_reply_error (self, cid, len, msg->rid, TPC_EINVAL, NULL,
                           "gid missing");
        break;
    case TPC_MSG_LIST:
        s_on_list (self, cid, len, msg, now);
        break;
    case TPC_MSG_EXEC:
    case TPC_MSG_COMMIT:
    case TPC_MSG_ROLLBACK:
        if (!msg->gid) {
            s_reply_error (self, cid, len, msg->rid, TPC_EINVAL, NULL,
                           "gid missing");
            break;
        }
        t = s_txn_lookup (self, msg->gid);
        if (!t)
            s_on_gone_gid (self, cid, len, msg);
        else if (msg->type == TPC_MSG_EXEC)
            s_on_exec (self, cid, len, msg, t);
        else if (msg->type == TPC_MSG_COMMIT)
            s_on_commit (self, cid, len, msg, t, now);
        else
            s_on_rollback (self, cid, len, msg, t, now);
        break;
    default:
        s_reply_error (self, cid, len, msg->rid, TPC_EPROTO, NULL,
                       "'%s' is not a client request",
                       tpc_msg_type_name (msg->type));
        break;
    }
    return s_finish (self);
}

int
coord_engine_agent (coord_engine_t *self, const char *name,
                    const tpc_msg_t *msg, uint64_t now)
{
    self->now = now;
    if (!s_name_valid (name)) {
        s_log (self, 1, "message from an agent with an invalid name dropped");
        return s_finish (self);
    }
    if (msg->type != TPC_MSG_HELLO && !msg->gid) {
        s_log (self, 1, "agent '%s' sent '%s' without a gid: dropped", name,
               tpc_msg_type_name (msg->type));
        return s_finish (self);
    }
    if (msg->type != TPC_MSG_HELLO && !s_agent_connected (self, name)) {
        /* a message proves it is there; treat it as a hello */
        tpc_msg_t hello = { .type = TPC_MSG_HELLO };
        s_on_hello (self, name, &hello, now);
    }
    switch (msg->type) {
    case TPC_MSG_HELLO:
        s_on_hello (self, name, msg, now);
        break;
    case TPC_MSG_WORKED:
        s_on_worked (self, name, msg, now);
        break;
    case TPC_MSG_VOTE:
        s_on_vote (self, name, msg, now);
        break;
    case TPC_MSG_ACK:
        s_on_ack (self, name, msg, now);
        break;
    case TPC_MSG_QUERY:
        s_on_query (self, name, msg);
        break;
    case TPC_MSG_STATE:
        s_on_state (self, name, msg, now);
        break;
    case TPC_MSG_KNOWN:
        s_on_known (self, name, msg);
        break;
    default:
        s_log (self, 1, "agent '%s' sent '%s', not an agent message: dropped",
               name, tpc_msg_type_name (msg->type));
        break;
    }
    return s_finish (self);
}

static void
s_agent_gone (coord_engine_t *self, const char *name, const char *why)
{
    s_agent_t *a = zhashx_lookup (self->agents, name);
    if (a && a->connected) {
        a->connected = false;
        s_log (self, 1, "agent '%s' gone (%s)", name, why);
    }
}

int
coord_engine_agent_gone (coord_engine_t *self, const char *name,
                         uint64_t now)
{
    self->now = now;
    s_agent_gone (self, name, "reported by the shell");
    return s_finish (self);
}

int
coord_engine_send_failed (coord_engine_t *self, const char *name,
                          const tpc_msg_t *msg, uint64_t now)
{
    self->now = now;
    s_agent_gone (self, name, "not reachable");
    if (msg && msg->type == TPC_MSG_OUTCOME_OF) {
        s_ask_unreachable (self, name, msg->gid);
        return s_finish (self);
    }
    s_txn_t *t = msg ? s_txn_lookup (self, msg->gid) : NULL;
    size_t idx;
    s_member_t *p = t ? s_member_find (t, name, &idx) : NULL;
    if (!t || !p)
        return s_finish (self);
    if (msg->type == TPC_MSG_WORK && msg->then == TPC_THEN_NONE) {
        if (t->state != S_ACTIVE || !t->exec.set || t->exec_part != idx
            || t->exec_seq != msg->seq)
            return s_finish (self);
        s_reply_error (self, t->exec.id, t->exec.len, t->exec.rid,
                       TPC_EUNKNOWN_PART, t->gid,
                       "participant '%s' is not connected", name);
        s_req_clear (&t->exec);
        if (p->seq == 1 && idx == t->nparts - 1) {
            t->nparts--;        /* it never heard of gid: forget it */
            return s_finish (self);
        }
        s_set_reason (self, t, "participant '%s' unreachable", name);
        s_abort (self, t, now);
    }
    else if ((msg->type == TPC_MSG_WORK || msg->type == TPC_MSG_PREPARE)
             && (t->state == S_PREPARING || t->state == S_ONEPHASE)) {
        /* not queued anywhere: nobody can have committed it */
        s_set_reason (self, t, "participant '%s' unreachable", name);
        s_abort (self, t, now);
    }
    return s_finish (self);
}

int
coord_engine_durable (coord_engine_t *self, uint64_t ticket, uint64_t now)
{
    self->now = now;
    while (self->dhead && self->dhead->ticket <= ticket) {
        s_txn_t *t = self->dhead;
        self->dhead = t->dnext;
        if (!self->dhead)
            self->dtail = NULL;
        t->dnext = NULL;
        if (t->state == S_PRECOMMITTING)
            s_precommit_durable (self, t, now);
        else
            s_commit_durable (self, t, now);
    }
    s_resolves_durable (self, ticket, now);
    return s_finish (self);
}

int
coord_engine_tick (coord_engine_t *self, uint64_t now)
{
    self->now = now;
    if (self->started && now >= self->next_sweep) {
        s_sweep_agents (self, now);
        self->next_sweep = now + self->cfg.heartbeat_ms;
    }
    size_t n = 0;
    while (self->heap_n > 0 && self->heap[0]->wake <= now) {
        s_txn_t *t = self->heap[0];
        s_heap_remove (self, t);
        if (n == self->due_cap) {
            size_t cap = self->due_cap ? self->due_cap * 2 : 256;
            s_txn_t **d = realloc (self->due, cap * sizeof *d);
            if (!d) {
                self->err = TPC_ENOMEM;
                s_reschedule (self, t);
                break;
            }
            self->due = d;
            self->due_cap = cap;
        }
        self->due[n++] = t;
    }
    /* handling one transaction never frees another one */
    for (size_t i = 0; i < n; i++)
        s_txn_due (self, self->due[i], now);
    s_asks_due (self, now);
    return s_finish (self);
}

uint64_t
coord_engine_next_wake (coord_engine_t *self)
{
    uint64_t w = self->heap_n ? self->heap[0]->wake : COORD_NEVER;
    w = S_MIN (w, s_asks_wake (self));
    return S_MIN (w, self->next_sweep);
}

bool
coord_engine_pop (coord_engine_t *self, coord_action_t *out)
{
    if (self->qn == 0)
        return false;
    *out = self->q[self->qhead++];
    if (--self->qn == 0)
        self->qhead = 0;
    return true;
}

void
coord_action_clear (coord_action_t *act)
{
    if (!act)
        return;
    free (act->client);
    tpc_msg_destroy (&act->msg);
    free (act->rec);
    free (act->text);
    memset (act, 0, sizeof *act);
}

size_t
coord_engine_live (coord_engine_t *self)
{
    return zhashx_size (self->txns);
}

void
coord_engine_stats (coord_engine_t *self, coord_engine_stats_t *out)
{
    memset (out, 0, sizeof *out);
    out->live = zhashx_size (self->txns);
    out->in_doubt = s_count_in_doubt (self, self->now, NULL);
    for (s_agent_t *a = zhashx_first (self->agents); a;
         a = zhashx_next (self->agents))
        out->agents_connected += a->connected;
    out->heuristic = zhashx_size (self->heuristics);
    out->agent_connects = self->agent_connects;
    out->committed = self->n_committed;
    out->aborted = self->n_aborted;
}

size_t
coord_engine_in_doubt (coord_engine_t *self)
{
    return self->in_doubt + self->precommitting;
}

uint64_t
coord_engine_replayed_epoch (coord_engine_t *self)
{
    return self->replayed_epoch;
}

uint64_t
coord_engine_last_ticket (coord_engine_t *self)
{
    return self->tickets;
}

int
coord_engine_foreach_resolved (coord_engine_t *self, coord_decided_fn *fn,
                               void *arg)
{
    int rc = 0;
    tpc_record_t *rec = malloc (sizeof *rec);
    if (!rec)
        return TPC_ENOMEM;
    for (s_heur_t *h = zhashx_first (self->heuristics); h && rc == 0;
         h = zhashx_next (self->heuristics)) {
        memset (rec, 0, sizeof *rec);
        rec->type = TPC_REC_HEURISTIC;
        snprintf (rec->gid, sizeof rec->gid, "%s",
                  (const char *) zhashx_cursor (self->heuristics));
        rec->outcome = h->outcome == TPC_OUTCOME_COMMITTED ? 1 : 2;
        snprintf (rec->reason, sizeof rec->reason, "%s", h->reason);
        rc = fn (arg, rec, 0);
    }
    free (rec);
    return rc;
}

/*  Walk the live transactions in STATE in gid order, each as a record of
 *  TYPE naming its phase-2 participants.                                  */
static int
s_foreach_state (coord_engine_t *self, s_state_t state, tpc_rec_type_t type,
                 coord_decided_fn *fn, void *arg)
{
    size_t n;
    int rc = 0;
    s_txn_t **v = s_sorted (self, &n);
    tpc_record_t *rec = malloc (sizeof *rec);
    if (!v || !rec) {
        rc = TPC_ENOMEM;
        goto cleanup;
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        const s_txn_t *t = v[i];
        if (t->state != state)
            continue;
        memset (rec, 0, sizeof *rec);
        rec->type = type;
        snprintf (rec->gid, sizeof rec->gid, "%s", t->gid);
        size_t nacked = 0;
        for (size_t j = 0; j < t->nparts; j++)
            if (t->parts[j].phase2) {
                snprintf (rec->parts[rec->nparts++], TPC_RECORD_NAME_MAX,
                          "%s", t->parts[j].name);
                nacked += state == S_PRECOMMITTING ? t->parts[j].precommitted
                                                   : t->parts[j].acked;
            }
        rc = fn (arg, rec, nacked);
    }
cleanup:
    self->err = 0;
    free (rec);
    free (v);
    return rc;
}

int
coord_engine_foreach_precommitting (coord_engine_t *self,
                                    coord_decided_fn *fn, void *arg)
{
    return s_foreach_state (self, S_PRECOMMITTING, TPC_REC_PRECOMMIT, fn,
                            arg);
}

int
coord_engine_foreach_decided (coord_engine_t *self, coord_decided_fn *fn,
                              void *arg)
{
    return s_foreach_state (self, S_COMMITTING, TPC_REC_COMMIT, fn, arg);
}
