/*  sim_world: the seeded simulation of one run (see sim_world.h).
 *
 *  EVENTS
 *  Everything that happens is an event in one min-heap ordered by
 *  (simulated time, insertion number): a message arriving, a node's timer
 *  (coordinator tick, agent tick, database "process"), an fsync
 *  completing, a client starting or giving up, a node restarting.  One
 *  event handled = one STEP; after each step the timers are re-armed and
 *  the oracle's verdict is read.  Timers carry a generation: re-arming one
 *  leaves the older event in the heap, skipped when it surfaces (not a
 *  step).
 *
 *  NODES
 *    coordinator  coord_engine + a log on a simulated disk: a list of
 *                 records whose first DURABLE entries survive any crash.
 *                 Forced appends start an fsync that completes later and
 *                 covers what was appended when it started; then the
 *                 engine hears coord_engine_durable.  A crash keeps the
 *                 durable prefix plus none, all or a random prefix of the
 *                 unsynced tail (the kernel may have written some of it);
 *                 restart replays it, appends and syncs a new EPOCH.  Now
 *                 and then a checkpoint replaces the log by the EPOCH and
 *                 the live decisions.  A send to an agent that is down
 *                 fails at once and is reported (coord_engine_send_failed),
 *                 as ROUTER_MANDATORY does.
 *    agent i      part_engine over part_mem.  A crash destroys the engine
 *                 and closes its sessions (part_mem_reconnect: open
 *                 transactions roll back, prepared ones and markers stay);
 *                 completions it did not see are lost (sometimes after
 *                 their effect).  Messages sent to the old incarnation are
 *                 lost.  A database crash (part_mem_crash) keeps the agent
 *                 up; a session fault fails one operation (sometimes after
 *                 its effect, as a connection lost before the reply).
 *    client k     one transaction: a one-shot submit, or begin / exec ... /
 *                 commit (or rollback, or abandoned), retrying a commit
 *                 that got no answer, sometimes racing it with a
 *                 rollback, sometimes asking its status afterwards.
 *                 Statements write, read (SELECT: read-only), fail
 *                 (FAIL: a no vote) or take time (SLEEP: interruptible).
 *    operator     now and then in the fault phase (per-seed rate) a
 *                 `resolve --force`, either outcome, of a gid not issued
 *                 yet or of a client's gid (s_operator_resolve).
 *
 *  NETWORK
 *  Messages travel encoded (tpc_msg JSON) and are decoded on arrival, so
 *  every emitted message must survive the strict decoder.  In the fault
 *  phase each may be dropped, duplicated, delayed (sometimes by seconds),
 *  hence reordered; agent -> coordinator messages that find the
 *  coordinator down wait for it (a DEALER queues) or are lost.  In the
 *  quiet phase each link is FIFO and loses nothing.
 *
 *  TRIGGERED CRASHES (adversarial schedules, per-seed probabilities)
 *  the coordinator right after a forced COMMIT append (before its fsync);
 *  right after an fsync, before the engine hears it is durable; an agent
 *  right after its database prepared, before the vote left.
 *
 *  THREE-PHASE COMMIT (cfg.p3)
 *    peer link    a PEER_SEND action puts a request on the wire to the named
 *                 agent; it arrives as part_engine_on_peer_request from
 *                 the sender's name, which is also the FROM token (a
 *                 ROUTER routing id in the daemon); a PEER_REPLY routes
 *                 by that token and arrives as
 *                 part_engine_on_peer_reply (sender's name).  Messages to
 *                 an agent that crashed since they left are lost.  No
 *                 loss, delays within [0, delay_max] (< p3_collect_ms / 2):
 *                 3PC's synchronous assumption.  The coordinator's links
 *                 keep their faults, long delays bounded by p3_timeout_ms
 *                 / 2.
 *    state log    group commit, as the daemon's shell: io->persist
 *                 appends a record, and every action the engine queues
 *                 after it (but log lines) is held; at the end of the step
 *                 one "fdatasync" moves the step's records into the
 *                 agent's durable store (a list per agent, first-seen
 *                 order; kept across crashes and replayed through
 *                 part_engine_restore before part_engine_start) and the
 *                 held actions leave in order.  A crash before that loses
 *                 the records and the held actions.  Faults: a failed
 *                 fdatasync (a prefix of the batch on disk, maybe none;
 *                 the agent stops, nothing held leaves), a crash right
 *                 after PRECOMMITTED is durable (agent.after_precommit)
 *                 or right after a decision is durable, before it acts.
 *                 A dying agent sends nothing more; it crashes at the end
 *                 of the step.
 *    coordinator  crashes (restarting) after a forced PRECOMMIT append and
 *                 after a precommit left; in ~30% of seeds it dies for
 *                 good: at a random step, after its k-th precommit, or
 *                 when a PRECOMMIT became durable.  Then whatever is sent
 *                 to it is lost and the run ends when the agents settled
 *                 every gid by themselves (transactions that never
 *                 reached a prepare may stay open: nobody can end them).
 *    checks       a leader's decide or precommit needs the same state
 *                 durable at the sender first; a "state" reply claiming
 *                 precommitted/committed/aborted matches the sender's
 *                 durable state.
 *    partition    (cfg.partition) see sim_world.h.
 *
 *  DETERMINISM
 *  No clock, no rand(), no addresses: the only input is the seed.  The
 *  engines and part_mem keep state in czmq zhashx tables, whose iteration
 *  order depends only on the sequence of inserts and deletes (the hash is
 *  a fixed function of the key), so it repeats.  The trace digest
 *  (sim_result_t.hash) lets the caller verify that.
 */
#include "sim_world.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "coord_engine.h"
#include "part_engine.h"
#include "part_mem.h"
#include "sim_oracle.h"
#include "sim_rng.h"
#include "tpc_error.h"
#include "tpc_gid.h"

#define S_PARTS 3
#define S_CLIENTS_MAX 64
#define S_STMTS_MAX 12
#define S_NEVER UINT64_MAX
#define S_QUIET_MS 60000        /* quiet phase: simulated time bound */
#define S_QUIET_STEPS 40000     /* ... and step bound */

typedef enum {
    EV_MSG = 1, EV_TIMER, EV_SYNC_DONE, EV_CLIENT_START, EV_CLIENT_TIMEOUT,
    EV_CLIENT_STATUS, EV_COORD_RESTART, EV_AGENT_RESTART, EV_DB_UP, EV_COORD_UP, EV_AGENT_GONE,
    EV_TAKEOVER, EV_DEP_WAKE
} s_ev_type_t;

static const char *const s_ev_names[] = {
    "?", "msg", "timer", "sync-done", "client-start", "client-timeout",
    "client-status", "coord-restart", "agent-restart", "db-up", "coord-up", "agent-gone",
    "takeover", "deposed-wakes"
};

typedef enum { TO_COORD_FROM_AGENT, TO_COORD_FROM_CLIENT, TO_AGENT,
               TO_CLIENT, TO_PEER_REQ, TO_PEER_REPLY } s_dst_t;
typedef enum { T_COORD, T_AGENT, T_RM } s_tkind_t;

typedef struct {
    uint64_t at, seq;
    s_ev_type_t type;
    int kind;                   /* EV_MSG: s_dst_t; EV_TIMER: s_tkind_t */
    int node;                   /* agent or client index */
    uint64_t gen;               /* timer generation / incarnation */
    uint64_t arg;               /* sync: ticket; client timeout: token;
                                   peer message: the sender's index */
    size_t arg2;                /* sync: log length covered */
    char *data;                 /* EV_MSG: encoded message (owned) */
    size_t len;
} s_ev_t;

typedef struct {
    bool pending;
    uint64_t base;              /* the time asked for */
    uint64_t gen;
} s_timer_t;

/*  Per-seed fault intensities (permille unless said).                    */
typedef struct {
    unsigned drop, dup, longdelay;
    uint64_t delay_max;         /* ms, ordinary message delay */
    unsigned fault;             /* per fault-phase step: a random fault */
    unsigned crash_commit;      /* per forced COMMIT append */
    unsigned crash_sync;        /* per completed fsync */
    unsigned crash_prepared;    /* per successful PREPARE */
    uint64_t sync_max, rm_max;  /* ms, fsync and database latency */
    uint64_t long_max;          /* ms, longest long delay (3PC: bounded) */
    /* three-phase commit */
    unsigned persist_fail;      /* per persist: fdatasync fails */
    unsigned crash_precommit;   /* per durable PRECOMMITTED: agent dies */
    unsigned crash_decided;     /* per durable decision: agent dies */
    unsigned crash_p3coord;     /* per PRECOMMIT append / precommit sent */
    unsigned resolve;           /* per fault-phase step: an operator's
                                   resolve */
    /* high availability (cfg.ha) */
    unsigned ha_pause;          /* per fault-phase step: the leader pauses */
    unsigned ha_pause_commit;   /* per forced COMMIT append: it pauses */
    uint64_t lease_max;         /* ms, pause -> takeover (lease expiry) */
} s_profile_t;

/*  One entry of an agent's durable 3PC state log (latest per gid).       */
typedef struct {
    char gid[TPC_GID_MAX];
    tpc_p3_t state;
    size_t nparts;
    char **parts, **peers;
} s_p3rec_t;

typedef struct {
    sim_world_t *w;
    size_t idx;
    char name[16];
    part_mem_t *mem;
    part_engine_t *eng;         /* NULL while the agent is down */
    part_engine_config_t cfg;
    uint64_t inc;               /* incarnation: messages to older ones die */
    bool db_down;
    bool dying;                 /* crash as soon as the RM call returns
                                   (3PC: at the end of the step) */
    const char *dying_why;
    bool observe_only;          /* completions go nowhere (crash drain) */
    s_timer_t timer, rm_timer;
    char endpoint[32];          /* its peer endpoint (3PC) */
    s_p3rec_t *store;           /* the durable 3PC state log */
    size_t nstore, capstore;
    s_p3rec_t *pend;            /* appended, not yet synced (group commit:
                                   lost in a crash before the step ends) */
    size_t npend, cappend;
    uint64_t appended, synced;  /* tickets: records appended / synced */
    struct s_held *held, *held_tail;    /* actions waiting for the sync */
} s_agent_t;

/*  An action queued after a record not yet synced (the daemon's
 *  part_agent_drain holds it the same way).                              */
typedef struct s_held {
    part_action_t act;
    uint64_t ticket;
    struct s_held *next;
} s_held_t;

typedef enum { C_IDLE, C_SUBMIT, C_BEGUN, C_EXEC, C_COMMIT, C_ROLLBACK,
               C_LATER, C_STATUS, C_DONE } s_cstate_t;

typedef struct {
    s_cstate_t state;
    bool interactive, abandon, rollback;
    uint64_t timeout_ms;        /* asked of the coordinator; 0: default */
    size_t nstmts, next;
    struct {
        size_t part;
        const char *sql;
    } stmts[S_STMTS_MAX];
    uint64_t rid, wait_rid, token;
    int tries;
    char gid[TPC_GID_MAX];
    uint8_t id[3];
} s_client_t;

struct sim_world {
    sim_config_t cfg;
    sim_rng_t rng;
    s_profile_t prof;
    uint64_t now, steps;
    bool faults;                /* fault phase */
    uint64_t quiet_at;          /* time the quiet phase began */
    s_ev_t *heap;
    size_t nheap, capheap;
    uint64_t seq;
    size_t inflight;            /* EV_MSG events in the heap */
    uint64_t link_last[4][S_CLIENTS_MAX];   /* quiet phase: FIFO links */
    uint64_t peer_last[S_PARTS][S_PARTS];   /* ... and peer links */
    uint64_t hash;
    size_t coord_crashes, agent_crashes, db_crashes, checkpoints;
    sim_oracle_t *oracle;
    /* coordinator */
    coord_engine_config_t ccfg;
    coord_engine_t *coord;      /* NULL while down */
    uint64_t coord_inc, epoch;
    tpc_record_t **log;
    size_t nlog, caplog, durable;
    uint64_t pending_ticket, synced_ticket;
    bool sync_inflight, crash_now;
    bool precommit_logged;      /* the last fsync made a PRECOMMIT durable */
    uint64_t sync_ticket;       /* the write in flight: its ticket ... */
    size_t sync_upto;           /* ... and the log length it covers */
    s_timer_t coord_timer;
    /* high availability (cfg.ha): the store's fence, a deposed leader */
    bool ha;
    bool pause_now;             /* pause the leader at the end of the drain */
    uint64_t fence;             /* the leader key's create revision */
    coord_engine_t *dep;        /* the deposed incarnation (paused, then
                                   awake until it stops), or NULL */
    uint64_t dep_fence;         /* the fence its writes compare */
    uint64_t dep_heard;         /* ticket of its write that landed before
                                   the takeover (it hears on waking), 0 */
    tpc_record_t **dep_tail;    /* what it appended and never wrote */
    size_t ndep_tail, capdep_tail;
    size_t takeovers, fenced;
    /* agents and clients */
    s_agent_t agents[S_PARTS];
    part_mem_t *mems[S_PARTS];
    s_client_t clients[S_CLIENTS_MAX];
    size_t nclients;
    uint64_t client_timeout;
    /* three-phase commit */
    bool p3, partition;
    bool coord_dead;            /* died for good: never restarted */
    int doom;                   /* S_DOOM_*: how it dies for good */
    uint64_t doom_step;         /* S_DOOM_STEP: at this step */
    uint64_t doom_k;            /* S_DOOM_PRECOMMIT: after this many */
    uint64_t precommits;        /* precommits the coordinators sent */
    int stop_now;               /* 1: crash now, 2: die for good now */
    int stop_part;              /* the agent of the precommit that did it */
    bool partitioned;           /* the peer link was cut ... */
    uint64_t part_until;        /* ... until then ... */
    bool side[S_PARTS];         /* ... between these two sides */
    uint64_t p3_timeout_max;
    size_t peer_msgs, persists;
    /* operator */
    uint64_t seen_epoch, seen_seq;  /* the highest gid the coordinator
                                       issued, as seen on its output */
    size_t resolves;
};

enum { S_DOOM_NONE, S_DOOM_STEP, S_DOOM_PRECOMMIT, S_DOOM_LOGGED };

/* ---------------------------------------------------------------------
 *  Trace, digest, failures
 */

static void
s_trace (sim_world_t *w, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

static void
s_trace (sim_world_t *w, const char *fmt, ...)
{
    if (!w->cfg.trace)
        return;
    va_list ap;
    va_start (ap, fmt);
    fprintf (w->cfg.trace, "%8" PRIu64 " %6" PRIu64 "ms  ", w->steps, w->now);
    vfprintf (w->cfg.trace, fmt, ap);
    fputc ('\n', w->cfg.trace);
    va_end (ap);
}

static void
s_hash (sim_world_t *w, const void *data, size_t len)
{
    const uint8_t *p = data;
    for (size_t i = 0; i < len; i++) {
        w->hash ^= p[i];
        w->hash *= 0x100000001b3ull;
    }
}

static void
s_hash_u64 (sim_world_t *w, uint64_t v)
{
    s_hash (w, &v, sizeof v);
}

/* ---------------------------------------------------------------------
 *  Event heap
 */

static bool
s_ev_before (const s_ev_t *a, const s_ev_t *b)
{
    return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

static void
s_push (sim_world_t *w, s_ev_t ev)
{
    if (w->nheap == w->capheap) {
        size_t cap = w->capheap ? w->capheap * 2 : 256;
        s_ev_t *h = realloc (w->heap, cap * sizeof *h);
        if (!h) {
            sim_oracle_fail (w->oracle, "simulation: out of memory");
            free (ev.data);
            return;
        }
        w->heap = h;
        w->capheap = cap;
    }
    ev.seq = ++w->seq;
    if (ev.type == EV_MSG)
        w->inflight++;
    size_t i = w->nheap++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!s_ev_before (&ev, &w->heap[p]))
            break;
        w->heap[i] = w->heap[p];
        i = p;
    }
    w->heap[i] = ev;
}

static bool
s_pop (sim_world_t *w, s_ev_t *out)
{
    if (w->nheap == 0)
        return false;
    *out = w->heap[0];
    s_ev_t last = w->heap[--w->nheap];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const s_ev_t *best = &last;
        if (l < w->nheap && s_ev_before (&w->heap[l], best)) {
            m = l;
            best = &w->heap[l];
        }
        if (r < w->nheap && s_ev_before (&w->heap[r], best))
            m = r;
        if (m == i)
            break;
        w->heap[i] = w->heap[m];
        i = m;
    }
    if (w->nheap > 0)
        w->heap[i] = last;
    if (out->type == EV_MSG)
        w->inflight--;
    return true;
}

static void
s_at (sim_world_t *w, uint64_t at, s_ev_type_t type, int node, uint64_t gen)
{
    s_push (w, (s_ev_t) { .at = at, .type = type, .node = node, .gen = gen });
}

/* ---------------------------------------------------------------------
 *  Network
 */

static const char *
s_dst_name (sim_world_t *w, int kind, int node, uint64_t src, char *buf,
            size_t size)
{
    switch (kind) {
    case TO_PEER_REQ:
    case TO_PEER_REPLY:
        snprintf (buf, size, "%s=>%s%s", w->agents[src % S_PARTS].name,
                  w->agents[node].name, kind == TO_PEER_REPLY ? " (reply)"
                                                              : "");
        break;
    case TO_COORD_FROM_AGENT:
        snprintf (buf, size, "%s->coord", w->agents[node].name);
        break;
    case TO_COORD_FROM_CLIENT:
        snprintf (buf, size, "client%d->coord", node);
        break;
    case TO_AGENT:
        snprintf (buf, size, "coord->%s", w->agents[node].name);
        break;
    default:
        snprintf (buf, size, "coord->client%d", node);
        break;
    }
    return buf;
}

/*  Encode MSG (borrowed) and put it on the wire to (KIND, NODE).         */
static void
s_send (sim_world_t *w, int kind, int node, uint64_t gen, const tpc_msg_t *msg)
{
    char *data = NULL;
    size_t len = 0;
    int rc = tpc_msg_encode (msg, &data, &len);
    char dst[64];
    s_dst_name (w, kind, node, 0, dst, sizeof dst);
    if (rc) {
        sim_oracle_fail (w->oracle, "wire: a '%s' for %s does not encode: %s",
                         tpc_msg_type_name (msg->type), dst, tpc_strerror (rc));
        return;
    }
    if (w->coord_dead && (kind == TO_COORD_FROM_AGENT
                          || kind == TO_COORD_FROM_CLIENT)) {
        s_trace (w, "net %s lost: the coordinator is dead for good", dst);
        free (data);
        return;
    }
    s_ev_t ev = { .type = EV_MSG, .kind = kind, .node = node, .gen = gen,
                  .data = data, .len = len };
    if (w->faults) {
        const s_profile_t *p = &w->prof;
        if (sim_rng_chance (&w->rng, p->drop)) {
            s_trace (w, "net %s DROP %s", dst, data);
            free (data);
            return;
        }
        if (sim_rng_chance (&w->rng, p->dup)) {
            s_ev_t copy = ev;
            copy.data = strdup (data);
            if (copy.data) {
                copy.at = w->now + (sim_rng_chance (&w->rng, p->longdelay)
                                    ? sim_rng_range (&w->rng, 100, p->long_max)
                                    : sim_rng_range (&w->rng, 0, p->delay_max));
                s_trace (w, "net %s DUP at %" PRIu64 " %s", dst, copy.at,
                         data);
                s_push (w, copy);
            }
        }
        ev.at = w->now + (sim_rng_chance (&w->rng, p->longdelay)
                          ? sim_rng_range (&w->rng, 100, p->long_max)
                          : sim_rng_range (&w->rng, 0, p->delay_max));
    }
    else {
        uint64_t *last = &w->link_last[kind][node];
        ev.at = w->now + sim_rng_range (&w->rng, 0, 2);
        if (ev.at < *last)
            ev.at = *last;
        *last = ev.at;
    }
    s_trace (w, "net %s at %" PRIu64 " %s", dst, ev.at, data);
    s_push (w, ev);
}

/*  Is the peer link between agents A and B cut now?                      */
static bool
s_cut (sim_world_t *w, size_t a, size_t b)
{
    return w->partitioned && w->now < w->part_until && w->side[a] != w->side[b];
}

/*  Encode MSG (borrowed) and put it on the peer link from agent SRC to
 *  agent DST (KIND: TO_PEER_REQ or TO_PEER_REPLY).  No loss but a cut
 *  link; delays within [0, delay_max] (3PC's synchronous assumption).   */
static void
s_send_peer (sim_world_t *w, int kind, size_t src, size_t dst,
             const tpc_msg_t *msg)
{
    char *data = NULL;
    size_t len = 0;
    int rc = tpc_msg_encode (msg, &data, &len);
    char name[64];
    s_dst_name (w, kind, (int) dst, src, name, sizeof name);
    if (rc) {
        sim_oracle_fail (w->oracle, "wire: a '%s' for %s does not encode: %s",
                         tpc_msg_type_name (msg->type), name,
                         tpc_strerror (rc));
        return;
    }
    w->peer_msgs++;
    if (s_cut (w, src, dst)) {
        s_trace (w, "net %s CUT (partition) %s", name, data);
        free (data);
        return;
    }
    s_ev_t ev = { .type = EV_MSG, .kind = kind, .node = (int) dst,
                  .gen = w->agents[dst].inc, .arg = src, .data = data,
                  .len = len };
    if (w->faults) {
        const s_profile_t *p = &w->prof;
        if (sim_rng_chance (&w->rng, p->dup)) {
            s_ev_t copy = ev;
            copy.data = strdup (data);
            if (copy.data) {
                copy.at = w->now + sim_rng_range (&w->rng, 0, p->delay_max);
                s_trace (w, "net %s DUP at %" PRIu64 " %s", name, copy.at,
                         data);
                s_push (w, copy);
            }
        }
        ev.at = w->now + sim_rng_range (&w->rng, 0, p->delay_max);
    }
    else {
        uint64_t *last = &w->peer_last[src][dst];
        ev.at = w->now + sim_rng_range (&w->rng, 0, 2);
        if (ev.at < *last)
            ev.at = *last;
        *last = ev.at;
    }
    s_trace (w, "net %s at %" PRIu64 " %s", name, ev.at, data);
    s_push (w, ev);
}

/*  Decode an arriving message, or record a wire violation.              */
static tpc_msg_t *
s_decode (sim_world_t *w, const s_ev_t *ev)
{
    tpc_msg_t *msg = NULL;
    char err[256] = "";
    int rc = tpc_msg_decode (ev->data, ev->len, NULL, &msg, err, sizeof err);
    if (rc)
        sim_oracle_fail (w->oracle, "wire: an emitted message does not "
                         "decode (%s): %.*s", err, (int) ev->len, ev->data);
    return msg;
}

/* ---------------------------------------------------------------------
 *  Timers
 */

static void
s_arm (sim_world_t *w, s_timer_t *t, uint64_t want, s_tkind_t kind, int node,
       uint64_t jitter)
{
    if (want == S_NEVER || (t->pending && t->base <= want))
        return;
    t->gen++;
    t->pending = true;
    t->base = want;
    uint64_t at = want < w->now ? w->now : want;
    s_push (w, (s_ev_t) { .at = at + jitter, .type = EV_TIMER, .kind = kind,
                          .node = node, .gen = t->gen });
}

static void
s_timer_cancel (s_timer_t *t)
{
    t->gen++;
    t->pending = false;
}

static void
s_refresh_timers (sim_world_t *w)
{
    uint64_t jitter = w->faults ? sim_rng_below (&w->rng, 3) : 0;
    if (w->coord)
        s_arm (w, &w->coord_timer, coord_engine_next_wake (w->coord),
               T_COORD, 0, jitter);
    for (size_t i = 0; i < S_PARTS; i++) {
        s_agent_t *a = &w->agents[i];
        if (!a->eng)
            continue;
        int64_t t = part_engine_timeout (a->eng, w->now);
        if (t >= 0)
            s_arm (w, &a->timer, w->now + (uint64_t) t, T_AGENT, (int) i,
                   jitter);
        const part_rm_t *rm = part_mem_rm (a->mem);
        t = rm->timeout (rm->self, w->now);
        if (t >= 0)
            s_arm (w, &a->rm_timer, w->now + (uint64_t) t, T_RM, (int) i,
                   w->faults ? sim_rng_range (&w->rng, 0, w->prof.rm_max)
                             : sim_rng_below (&w->rng, 2));
    }
}

/* ---------------------------------------------------------------------
 *  Coordinator: log, sync, crash, restart
 */

static int
s_agent_index (sim_world_t *w, const char *name)
{
    for (size_t i = 0; i < S_PARTS; i++)
        if (strcmp (w->agents[i].name, name) == 0)
            return (int) i;
    return -1;
}

static bool
s_log_push (sim_world_t *w, tpc_record_t *rec)
{
    if (w->nlog == w->caplog) {
        size_t cap = w->caplog ? w->caplog * 2 : 64;
        tpc_record_t **v = realloc (w->log, cap * sizeof *v);
        if (!v) {
            sim_oracle_fail (w->oracle, "simulation: out of memory");
            free (rec);
            return false;
        }
        w->log = v;
        w->caplog = cap;
    }
    w->log[w->nlog++] = rec;
    return true;
}

/*  The first UPTO records of the log are durable now.                    */
static void
s_log_durable (sim_world_t *w, size_t upto)
{
    for (size_t i = w->durable; i < upto && i < w->nlog; i++) {
        sim_oracle_durable (w->oracle, w->log[i]);
        if (w->log[i]->type == TPC_REC_PRECOMMIT)
            w->precommit_logged = true;
    }
    if (upto > w->durable)
        w->durable = upto;
}

static void s_coord_crash (sim_world_t *w, const char *why);
static void s_coord_die (sim_world_t *w, const char *why, bool forever);
static void s_coord_pause (sim_world_t *w, const char *why);

static void
s_coord_sync (sim_world_t *w)
{
    if (!w->coord || w->sync_inflight || w->pending_ticket <= w->synced_ticket)
        return;
    w->sync_inflight = true;
    w->sync_ticket = w->pending_ticket;
    w->sync_upto = w->nlog;
    uint64_t at = w->now + (w->faults ? sim_rng_range (&w->rng, 0,
                                                       w->prof.sync_max) : 1);
    s_push (w, (s_ev_t) { .at = at, .type = EV_SYNC_DONE, .gen = w->coord_inc,
                          .arg = w->pending_ticket, .arg2 = w->nlog });
    s_trace (w, "disk fsync started: ticket %" PRIu64 ", %zu records, done "
             "at %" PRIu64, w->pending_ticket, w->nlog, at);
}

static int
s_client_of (sim_world_t *w, const uint8_t *id, size_t len)
{
    if (len != 3 || id[0] != 'c')
        return -1;
    int k = id[1] * 256 + id[2];
    return k < (int) w->nclients ? k : -1;
}

/*  GID (or NULL) went out from the coordinator: it was issued.          */
static void
s_seen_gid (sim_world_t *w, const char *gid)
{
    tpc_gid_t g;
    if (!gid || tpc_gid_parse (gid, &g))
        return;
    if (g.epoch > w->seen_epoch || (g.epoch == w->seen_epoch
                                    && g.seq > w->seen_seq)) {
        w->seen_epoch = g.epoch;
        w->seen_seq = g.seq;
    }
}

/*  Perform every action the coordinator queued, then sync or crash.     */
static void
s_coord_drain (sim_world_t *w)
{
    coord_action_t act;
    while (w->coord && coord_engine_pop (w->coord, &act)) {
        int i;
        switch (act.type) {
        case COORD_ACT_CLIENT:
            i = s_client_of (w, act.client, act.client_len);
            if (i < 0) {        /* the operator's: its HEURISTIC record
                                   is what the oracle checks */
                s_trace (w, "coord -> operator: %s %s", act.msg->type
                         == TPC_MSG_ERROR ? act.msg->message
                         : tpc_outcome_name (act.msg->outcome),
                         act.msg->gid ? act.msg->gid : "");
                break;
            }
            if (act.msg->type != TPC_MSG_ERROR)
                s_seen_gid (w, act.msg->gid);
            sim_oracle_to_client (w->oracle, act.msg);
            s_send (w, TO_CLIENT, i, 0, act.msg);
            break;
        case COORD_ACT_AGENT:
            i = s_agent_index (w, act.agent);
            if (i < 0) {
                sim_oracle_fail (w->oracle, "coordinator sent '%s' to unknown "
                                 "agent '%s'", tpc_msg_type_name (act.msg->type),
                                 act.agent);
                break;
            }
            s_seen_gid (w, act.msg->gid);
            sim_oracle_to_agent (w->oracle, (size_t) i, act.msg);
            if (!w->agents[i].eng) {
                s_trace (w, "coord -> %s: %s not sent: agent down", act.agent,
                         tpc_msg_type_name (act.msg->type));
                coord_engine_send_failed (w->coord, act.agent, act.msg, w->now);
            }
            else
                s_send (w, TO_AGENT, i, w->agents[i].inc, act.msg);
            if (act.msg->type == TPC_MSG_PRECOMMIT) {
                w->precommits++;
                if (w->doom == S_DOOM_PRECOMMIT
                    && w->precommits == w->doom_k)
                    w->stop_now = 2;
                else if (w->faults
                         && sim_rng_chance (&w->rng, w->prof.crash_p3coord))
                    w->stop_now = 1;
                w->stop_part = i;
            }
            break;
        case COORD_ACT_APPEND:
            s_trace (w, "log append %s %s%s (ticket %" PRIu64 ")",
                     tpc_record_type_name ((uint8_t) act.rec->type),
                     act.rec->gid, act.forced ? " FORCED" : "", act.ticket);
            sim_oracle_appended (w->oracle, act.rec);
            if (act.forced)
                w->pending_ticket = act.ticket;
            if (act.rec->type == TPC_REC_COMMIT && w->faults
                && sim_rng_chance (&w->rng, w->prof.crash_commit))
                w->crash_now = true;
            else if (act.rec->type == TPC_REC_COMMIT && act.forced
                     && w->ha && w->faults && !w->dep
                     && sim_rng_chance (&w->rng, w->prof.ha_pause_commit))
                w->pause_now = true;
            if (act.rec->type == TPC_REC_PRECOMMIT && w->faults
                && sim_rng_chance (&w->rng, w->prof.crash_p3coord))
                w->crash_now = true;
            if (s_log_push (w, act.rec))
                act.rec = NULL;
            break;
        case COORD_ACT_LOG:
            s_trace (w, "coord: %s", act.text);
            break;
        case COORD_ACT_ENDED:
            s_trace (w, "coord: ended %s %s (%zu/%zu acked)", act.gid,
                     tpc_outcome_name (act.outcome), act.nacked, act.nparts);
            break;
        case COORD_ACT_WAKE:
            break;
        }
        coord_action_clear (&act);
        if (w->stop_now || w->pause_now)
            break;
    }
    if (w->pause_now && !w->stop_now && !w->crash_now) {
        w->pause_now = false;
        s_coord_pause (w, "right after a forced COMMIT append");
        return;
    }
    w->pause_now = false;
    if (w->stop_now) {
        bool forever = w->stop_now == 2;
        w->stop_now = 0;
        w->crash_now = false;
        s_coord_die (w, forever ? "for good, right after a precommit left"
                                : "right after a precommit left", forever);
        return;
    }
    if (w->crash_now) {
        w->crash_now = false;
        s_coord_crash (w, "right after a forced COMMIT append");
        return;
    }
    s_coord_sync (w);
}

static void
s_coord_restart (sim_world_t *w)
{
    w->coord = coord_engine_new (&w->ccfg);
    if (!w->coord) {
        sim_oracle_fail (w->oracle, "simulation: cannot create the engine");
        return;
    }
    for (size_t i = 0; i < w->nlog; i++) {
        int rc = coord_engine_replay (w->coord, w->log[i]);
        if (rc)
            sim_oracle_fail (w->oracle, "coordinator: replaying record %zu "
                             "failed: %s", i, tpc_strerror (rc));
    }
    uint64_t epoch = w->epoch = coord_engine_replayed_epoch (w->coord) + 1;
    tpc_record_t *ep = calloc (1, sizeof *ep);
    if (ep) {
        ep->type = TPC_REC_EPOCH;
        ep->epoch = epoch;
    }
    if (!ep || !s_log_push (w, ep)) {
        sim_oracle_fail (w->oracle, "simulation: out of memory");
        coord_engine_destroy (&w->coord);
        return;
    }
    s_log_durable (w, w->nlog);         /* the EPOCH sync covers it all */
    w->pending_ticket = w->synced_ticket = 0;
    w->sync_inflight = false;
    s_trace (w, "coord: up, epoch %" PRIu64 ", %zu records replayed, %zu "
             "decided to drive", epoch, w->nlog - 1,
             coord_engine_unfinished (w->coord));
    int rc = coord_engine_start (w->coord, epoch, w->now);
    if (rc)
        sim_oracle_fail (w->oracle, "coordinator: start failed: %s",
                         tpc_strerror (rc));
    s_coord_drain (w);
    for (size_t i = 0; i < S_PARTS; i++)
        if (w->agents[i].eng)
            s_at (w, w->now + sim_rng_range (&w->rng, 1, 30), EV_COORD_UP,
                  (int) i, w->coord_inc);
}

/*  The partition case: cut the peer link between agent P (the one a
 *  precommit went to) and the others for a few p3_timeout_ms.            */
static void
s_partition_start (sim_world_t *w, size_t p)
{
    uint64_t t = w->p3_timeout_max;
    for (size_t i = 0; i < S_PARTS; i++)
        w->side[i] = i == p;
    w->partitioned = true;
    w->part_until = w->now + sim_rng_range (&w->rng, 3 * t, 5 * t);
    s_trace (w, "PARTITION: %s cut off from the other agents until %" PRIu64,
             w->agents[p].name, w->part_until);
}

static void
s_coord_crash (sim_world_t *w, const char *why)
{
    s_coord_die (w, why, false);
}

/*  Crash the coordinator; FOREVER: it never restarts.                    */
static void
s_coord_die (sim_world_t *w, const char *why, bool forever)
{
    if (!w->coord)
        return;
    size_t keep = w->durable, tail = w->nlog - w->durable;
    switch (sim_rng_below (&w->rng, 3)) {
    case 0:
        break;
    case 1:
        keep += tail;
        break;
    default:
        keep += sim_rng_below (&w->rng, tail + 1);
        break;
    }
    s_trace (w, "CRASH coordinator (%s): log keeps %zu of %zu records "
             "(%zu durable)%s", why, keep, w->nlog, w->durable,
             forever ? "; it never restarts" : "");
    for (size_t i = keep; i < w->nlog; i++)
        free (w->log[i]);
    w->nlog = keep;
    coord_engine_destroy (&w->coord);
    s_timer_cancel (&w->coord_timer);
    w->coord_inc++;
    w->sync_inflight = false;
    w->pending_ticket = w->synced_ticket = 0;
    w->coord_crashes++;
    if (forever) {
        w->coord_dead = true;
        if (w->partition && !w->partitioned)
            s_partition_start (w, (size_t) w->stop_part);
        return;
    }
    s_at (w, w->now + sim_rng_range (&w->rng, 10, 1500), EV_COORD_RESTART, 0,
          0);
}

static int
s_checkpoint_one (void *arg, const tpc_record_t *rec, size_t nacked)
{
    sim_world_t *w = arg;
    (void) nacked;
    tpc_record_t *copy = malloc (sizeof *copy);
    if (!copy) {
        sim_oracle_fail (w->oracle, "simulation: out of memory");
        return -1;
    }
    *copy = *rec;
    return s_log_push (w, copy) ? 0 : -1;
}

/*  A checkpoint, as coord_server does it when the log grows: a new log
 *  holding the current EPOCH and a copy of every live decided COMMIT
 *  (coord_engine_foreach_decided) and every live 3PC PRECOMMIT
 *  (coord_engine_foreach_precommitting), synced, and the old records
 *  dropped.
 *  Only between syncs (the shell checkpoints after its flush).           */
static void
s_coord_checkpoint (sim_world_t *w)
{
    if (!w->coord || w->sync_inflight || w->pending_ticket > w->synced_ticket)
        return;
    tpc_record_t **old = w->log;
    size_t nold = w->nlog;
    w->log = NULL;
    w->nlog = w->caplog = w->durable = 0;
    tpc_record_t *ep = calloc (1, sizeof *ep);
    if (ep) {
        ep->type = TPC_REC_EPOCH;
        ep->epoch = w->epoch;
    }
    bool ok = ep && s_log_push (w, ep)
              && coord_engine_foreach_decided (w->coord, s_checkpoint_one,
                                               w) == 0
              && coord_engine_foreach_precommitting (w->coord,
                                                     s_checkpoint_one, w) == 0;
    if (!ok)
        sim_oracle_fail (w->oracle, "simulation: checkpoint failed");
    s_log_durable (w, w->nlog);
    s_trace (w, "log checkpoint: %zu records replaced by %zu", nold, w->nlog);
    for (size_t i = 0; i < nold; i++)
        free (old[i]);
    free (old);
    w->checkpoints++;
}

/* ---------------------------------------------------------------------
 *  High availability: the store's fence, a deposed leader, the takeover
 *
 *  In an HA world (cfg.ha) the log stands for the decision store on etcd
 *  (coord_store_etcd): the durable prefix is what etcd holds, a sync is
 *  one group-commit txn, and every txn compares the leader key's create
 *  revision (w->fence) with the one its writer won (w->dep_fence for a
 *  deposed incarnation).  A pause (SIGSTOP, a long GC, a partition) of
 *  the leader runs:
 *
 *     LEADING --pause--> PAUSED --lease expires--> (the other incarnation
 *        ^                 |       TAKEOVER: fence+1, replays the store,
 *        |                 |       new EPOCH, re-drives, serves)
 *        |                 +--wakes--> AWAKE: hears a write that landed
 *        |                               before the takeover, performs
 *        |                               the actions it had queued, ticks
 *        |                               once, then writes what it
 *        |                               appended: the compare fails,
 *        |                               NOTHING is written (fenced), it
 *        +-- (another pause of the        stops serving at once; with
 *             new leader, later)          nothing to write it stops on
 *                                         the lost lease
 *
 *  The write that was in flight when it paused either landed before the
 *  lease expired (etcd evaluated its compare while the fence was still
 *  ours: durable, replayed by the successor) or reaches etcd only after
 *  the takeover (refused with the rest of its tail).  The deposed
 *  incarnation's sends (decisions it re-drives, replies to clients) go
 *  on the wire like any other and are checked by the oracle like the
 *  leader's: a commit it announces must be durable in the store.
 */

static bool
s_dep_push (sim_world_t *w, tpc_record_t *rec)
{
    if (w->ndep_tail == w->capdep_tail) {
        size_t cap = w->capdep_tail ? w->capdep_tail * 2 : 16;
        tpc_record_t **v = realloc (w->dep_tail, cap * sizeof *v);
        if (!v) {
            sim_oracle_fail (w->oracle, "simulation: out of memory");
            free (rec);
            return false;
        }
        w->dep_tail = v;
        w->capdep_tail = cap;
    }
    w->dep_tail[w->ndep_tail++] = rec;
    return true;
}

static void
s_dep_free (sim_world_t *w)
{
    coord_engine_destroy (&w->dep);
    for (size_t i = 0; i < w->ndep_tail; i++)
        free (w->dep_tail[i]);
    free (w->dep_tail);
    w->dep_tail = NULL;
    w->ndep_tail = w->capdep_tail = 0;
    w->dep_heard = 0;
}

/*  Pause the leader: its engine keeps every piece of state (w->dep), its
 *  unwritten records stay in its memory, the id has no leader until the
 *  lease expires (EV_TAKEOVER).                                          */
static void
s_coord_pause (sim_world_t *w, const char *why)
{
    if (!w->coord || w->dep)
        return;
    bool landed = false;
    if (w->sync_inflight && sim_rng_chance (&w->rng, 500)) {
        s_log_durable (w, w->sync_upto);
        w->dep_heard = w->sync_ticket;
        landed = true;
    }
    for (size_t i = w->durable; i < w->nlog; i++)
        if (!s_dep_push (w, w->log[i]))
            w->log[i] = NULL;
    w->nlog = w->durable;
    w->dep = w->coord;
    w->dep_fence = w->fence;
    w->coord = NULL;
    s_timer_cancel (&w->coord_timer);
    w->coord_inc++;
    w->sync_inflight = false;
    w->pending_ticket = w->synced_ticket = 0;
    uint64_t at = w->now + sim_rng_range (&w->rng, 50, w->prof.lease_max);
    s_trace (w, "PAUSE leader (%s): %zu records unwritten%s; the lease "
             "expires at %" PRIu64, why, w->ndep_tail,
             landed ? ", its write in flight landed" : "", at);
    s_at (w, at, EV_TAKEOVER, 0, 0);
}

/*  The lease expired: another incarnation of the id wins the leader key
 *  (a new create revision: the fence), replays the store and serves.    */
static void
s_takeover (sim_world_t *w)
{
    w->fence++;
    w->takeovers++;
    s_trace (w, "TAKEOVER: leader key re-created (fence %" PRIu64 ")",
             w->fence);
    s_coord_restart (w);
    s_at (w, w->now + sim_rng_range (&w->rng, 0, w->prof.lease_max),
          EV_DEP_WAKE, 0, 0);
}

/*  Perform what the deposed incarnation queued; its appends stay in its
 *  memory (they reach the store only through a write, which is fenced).  */
static void
s_dep_drain (sim_world_t *w)
{
    coord_action_t act;
    while (w->dep && coord_engine_pop (w->dep, &act)) {
        int i;
        switch (act.type) {
        case COORD_ACT_CLIENT:
            i = s_client_of (w, act.client, act.client_len);
            if (i < 0)
                break;
            sim_oracle_to_client (w->oracle, act.msg);
            s_send (w, TO_CLIENT, i, 0, act.msg);
            break;
        case COORD_ACT_AGENT:
            i = s_agent_index (w, act.agent);
            if (i < 0) {
                sim_oracle_fail (w->oracle, "deposed coordinator sent '%s' "
                                 "to unknown agent '%s'",
                                 tpc_msg_type_name (act.msg->type), act.agent);
                break;
            }
            sim_oracle_to_agent (w->oracle, (size_t) i, act.msg);
            if (!w->agents[i].eng)
                coord_engine_send_failed (w->dep, act.agent, act.msg, w->now);
            else
                s_send (w, TO_AGENT, i, w->agents[i].inc, act.msg);
            break;
        case COORD_ACT_APPEND:
            s_trace (w, "deposed: append %s %s%s (in memory)",
                     tpc_record_type_name ((uint8_t) act.rec->type),
                     act.rec->gid, act.forced ? " FORCED" : "");
            sim_oracle_appended (w->oracle, act.rec);
            if (s_dep_push (w, act.rec))
                act.rec = NULL;
            break;
        case COORD_ACT_LOG:
            s_trace (w, "deposed: %s", act.text);
            break;
        default:
            break;
        }
        coord_action_clear (&act);
    }
}

/*  The deposed incarnation wakes: see the drawing above.                 */
static void
s_dep_wake (sim_world_t *w)
{
    if (!w->dep)
        return;
    s_trace (w, "deposed leader wakes (fence %" PRIu64 ", the store's %"
             PRIu64 ")", w->dep_fence, w->fence);
    int rc = 0;
    if (w->dep_heard)
        rc = coord_engine_durable (w->dep, w->dep_heard, w->now);
    s_dep_drain (w);
    if (!rc)
        rc = coord_engine_tick (w->dep, w->now);
    s_dep_drain (w);
    if (rc)
        sim_oracle_fail (w->oracle, "deposed coordinator failed: %s",
                         tpc_strerror (rc));
    if (w->ndep_tail && w->dep_fence != w->fence) {
        w->fenced++;
        s_trace (w, "store REFUSES the deposed leader's write of %zu "
                 "record(s) (fence %" PRIu64 " != %" PRIu64 "): nothing "
                 "written; it stops serving", w->ndep_tail, w->dep_fence,
                 w->fence);
    }
    else if (w->ndep_tail)
        sim_oracle_fail (w->oracle, "simulation: a deposed leader holds "
                         "the fence");
    else
        s_trace (w, "deposed leader finds its lease lost: it stops serving");
    s_dep_free (w);
}

/* ---------------------------------------------------------------------
 *  Agents
 */

/*  Agent A's durable 3PC state of GID, or NULL.                          */
static s_p3rec_t *
s_store_find (s_agent_t *a, const char *gid)
{
    for (size_t i = 0; i < a->nstore; i++)
        if (strcmp (a->store[i].gid, gid) == 0)
            return &a->store[i];
    return NULL;
}

/*  Write GID's STATE into A's durable store (the fdatasync succeeded, or
 *  failed with the data on disk anyway).                                 */
static bool
s_store_put (s_agent_t *a, const char *gid, tpc_p3_t state, size_t nparts,
             char *const *parts, char *const *peers)
{
    sim_world_t *w = a->w;
    s_p3rec_t *r = s_store_find (a, gid);
    if (!r) {
        if (a->nstore == a->capstore) {
            size_t cap = a->capstore ? a->capstore * 2 : 16;
            s_p3rec_t *v = realloc (a->store, cap * sizeof *v);
            if (!v)
                goto nomem;
            a->store = v;
            a->capstore = cap;
        }
        r = &a->store[a->nstore++];
        memset (r, 0, sizeof *r);
        snprintf (r->gid, sizeof r->gid, "%s", gid);
    }
    char **p = NULL, **e = NULL;
    if (tpc_strv_copy (&p, nparts, parts, nparts) != 0
        || tpc_strv_copy (&e, nparts, peers, nparts) != 0) {
        tpc_strv_free (&p, nparts);
        tpc_strv_free (&e, nparts);
        goto nomem;
    }
    tpc_strv_free (&r->parts, r->nparts);
    tpc_strv_free (&r->peers, r->nparts);
    r->parts = p;
    r->peers = e;
    r->nparts = nparts;
    r->state = state;
    w->persists++;
    sim_oracle_p3_persist (w->oracle, a->idx, gid, state);
    return true;
nomem:
    sim_oracle_fail (w->oracle, "simulation: out of memory");
    return false;
}

static void
s_agent_dies (s_agent_t *a, const char *why)
{
    if (!a->dying)
        a->dying_why = why;
    a->dying = true;
}

/*  3PC messages an agent sends: what it claims must be durable.          */
static void
s_p3_claim (s_agent_t *a, const char *to, const tpc_msg_t *msg)
{
    sim_world_t *w = a->w;
    if (!msg->gid)
        return;
    s_p3rec_t *r = s_store_find (a, msg->gid);
    tpc_p3_t have = r ? r->state : TPC_P3_UNKNOWN;
    tpc_p3_t claim = TPC_P3_UNKNOWN;
    const char *what = tpc_msg_type_name (msg->type);
    if (msg->type == TPC_MSG_STATE) {
        claim = msg->p3;
        /* "aborted" with no 3PC state: it never voted yes (vote no, or a
         * rollback before its vote) and so stops a commit; but one that
         * voted read-only must not say so of a gid that committed (a
         * leader would abort the gid by rule 2) */
        if (claim == TPC_P3_ABORTED && have == TPC_P3_UNKNOWN) {
            if (sim_oracle_committed (w->oracle, msg->gid))
                sim_oracle_fail (w->oracle, "3pc: %s: %s told %s 'state "
                                 "aborted' (it holds no 3PC state) but the "
                                 "gid committed", msg->gid, a->name, to);
            return;
        }
        if (claim == TPC_P3_UNKNOWN || claim == TPC_P3_UNCERTAIN) {
            /* an agent back from a crash reports a pre-committed gid as
             * uncertain to its peers (part_p3.c): an understatement
             * it is allowed; a decided state must always be told */
            if ((have == TPC_P3_PRECOMMITTED && claim == TPC_P3_UNKNOWN)
                || have == TPC_P3_COMMITTED || have == TPC_P3_ABORTED)
                sim_oracle_fail (w->oracle, "3pc: %s: %s told %s 'state %s' "
                                 "but holds %s durably", msg->gid, a->name,
                                 to, tpc_p3_name (claim), tpc_p3_name (have));
            return;
        }
    }
    else if (msg->type == TPC_MSG_DECIDE)
        claim = msg->outcome == TPC_OUTCOME_COMMITTED ? TPC_P3_COMMITTED
                                                      : TPC_P3_ABORTED;
    else if (msg->type == TPC_MSG_PRECOMMIT) {
        if (have != TPC_P3_PRECOMMITTED && have != TPC_P3_COMMITTED)
            sim_oracle_fail (w->oracle, "3pc: %s: leader %s sent precommit "
                             "to %s without being pre-committed durably "
                             "(holds %s)", msg->gid, a->name, to,
                             tpc_p3_name (have));
        return;
    }
    else
        return;
    if (claim != have)
        sim_oracle_fail (w->oracle, "3pc: %s: %s sent %s %s to %s but holds "
                         "%s durably", msg->gid, a->name, what,
                         tpc_p3_name (claim), to, tpc_p3_name (have));
}

static int
s_agent_send (void *arg, tpc_msg_t **msg_p)
{
    s_agent_t *a = arg;
    if (*msg_p && a->dying)
        s_trace (a->w, "%s: '%s' not sent: the agent is dying", a->name,
                 tpc_msg_type_name ((*msg_p)->type));
    else if (*msg_p) {
        if (a->w->p3 && (*msg_p)->type == TPC_MSG_STATE)
            s_p3_claim (a, "coord", *msg_p);
        s_send (a->w, TO_COORD_FROM_AGENT, (int) a->idx, 0, *msg_p);
    }
    tpc_msg_destroy (msg_p);
    return 0;
}

static int
s_peer_send (void *arg, const char *name, const char *endpoint,
             tpc_msg_t **msg_p)
{
    s_agent_t *a = arg;
    sim_world_t *w = a->w;
    int dst = name ? s_agent_index (w, name) : -1;
    if (!*msg_p)
        return TPC_EINVAL;
    if (dst < 0 || (size_t) dst == a->idx)
        sim_oracle_fail (w->oracle, "3pc: %s: peer_send of '%s' to %s%s",
                         a->name, tpc_msg_type_name ((*msg_p)->type),
                         name ? name : "(null)", dst < 0 ? ", not an agent"
                                                         : ", itself");
    else if (endpoint && endpoint[0]
             && strcmp (endpoint, w->agents[dst].endpoint) != 0)
        sim_oracle_fail (w->oracle, "3pc: %s: peer_send to %s at '%s', but "
                         "its endpoint is '%s'", a->name, name, endpoint,
                         w->agents[dst].endpoint);
    else if (a->dying)
        s_trace (w, "%s: '%s' to %s not sent: the agent is dying", a->name,
                 tpc_msg_type_name ((*msg_p)->type), name);
    else {
        s_p3_claim (a, name, *msg_p);
        s_send_peer (w, TO_PEER_REQ, a->idx, (size_t) dst, *msg_p);
    }
    tpc_msg_destroy (msg_p);
    return 0;
}

static int
s_peer_reply (void *arg, const void *from, size_t from_len,
              tpc_msg_t **msg_p)
{
    s_agent_t *a = arg;
    sim_world_t *w = a->w;
    char name[16] = "";
    if (from && from_len < sizeof name)
        memcpy (name, from, from_len);
    int dst = s_agent_index (w, name);
    if (!*msg_p)
        return TPC_EINVAL;
    if (dst < 0)
        sim_oracle_fail (w->oracle, "3pc: %s: peer_reply of '%s' to a FROM "
                         "token (%zu bytes) that names no agent", a->name,
                         tpc_msg_type_name ((*msg_p)->type), from_len);
    else if (a->dying)
        s_trace (w, "%s: '%s' reply to %s not sent: the agent is dying",
                 a->name, tpc_msg_type_name ((*msg_p)->type), name);
    else {
        s_p3_claim (a, name, *msg_p);
        s_send_peer (w, TO_PEER_REPLY, a->idx, (size_t) dst, *msg_p);
    }
    tpc_msg_destroy (msg_p);
    return 0;
}

static void
s_agent_log (void *arg, int level, const char *line)
{
    s_agent_t *a = arg;
    (void) level;
    s_trace (a->w, "%s: %s", a->name, line);
}

/*  Execute ACT (taken), one action agent A's engine queued.              */
static void
s_agent_exec (s_agent_t *a, part_action_t *act_p)
{
    sim_world_t *w = a->w;
    const part_rm_t *rm = part_mem_rm (a->mem);
    part_action_t act = *act_p;
    memset (act_p, 0, sizeof *act_p);
    switch (act.type) {
    case PART_ACT_SEND:
        s_agent_send (a, &act.msg);
        break;
    case PART_ACT_PEER_SEND:
        if (s_peer_send (a, act.name, act.endpoint, &act.msg) != 0)
            part_engine_peer_failed (a->eng, &act, w->now);
        break;
    case PART_ACT_PEER_REPLY:
        s_peer_reply (a, act.from, act.from_len, &act.msg);
        break;
    case PART_ACT_SUBMIT: {
        int rc = rm->submit (rm->self, &act.req, w->now);
        if (rc != 0)
            part_engine_submit_refused (a->eng, &act, rc, w->now);
        break;
    }
    case PART_ACT_INTERRUPT:
        rm->interrupt (rm->self, act.gid);
        break;
    case PART_ACT_LOG:
        if (w->cfg.trace)
            s_agent_log (a, act.level, act.text);
        break;
    }
    part_action_clear (&act);
}

/*  Execute the actions agent A's engine queued, in order: what its calls
 *  of io->send, rm->submit ... did before the engine queued them.  (Sends
 *  and submits never fail here; a failure would be reported at once.)
 *  Group commit: after a state record not synced yet, they are held
 *  (log lines excepted) until s_agent_flush.                             */
static void
s_agent_drain (s_agent_t *a)
{
    part_action_t act;
    while (a->eng && part_engine_pop (a->eng, &act)) {
        if (act.type == PART_ACT_LOG
            || (!a->held && a->appended == a->synced)) {
            s_agent_exec (a, &act);
            continue;
        }
        s_held_t *h = calloc (1, sizeof *h);
        if (!h) {
            part_action_clear (&act);
            sim_oracle_fail (a->w->oracle, "simulation: out of memory");
            continue;
        }
        h->act = act;
        h->ticket = a->appended;
        if (a->held_tail)
            a->held_tail->next = h;
        else
            a->held = h;
        a->held_tail = h;
    }
}


static int
s_persist (void *arg, const char *gid, tpc_p3_t state, size_t nparts,
           char *const *parts, char *const *peers)
{
    s_agent_t *a = arg;
    s_agent_drain (a);          /* what the engine queued comes first */
    sim_world_t *w = a->w;
    if (!gid || a->dying)
        return TPC_EIO;
    if (a->npend == a->cappend) {
        size_t cap = a->cappend ? a->cappend * 2 : 8;
        s_p3rec_t *v = realloc (a->pend, cap * sizeof *v);
        if (!v)
            return TPC_ENOMEM;
        a->pend = v;
        a->cappend = cap;
    }
    s_p3rec_t *r = &a->pend[a->npend];
    memset (r, 0, sizeof *r);
    snprintf (r->gid, sizeof r->gid, "%s", gid);
    r->state = state;
    if (tpc_strv_copy (&r->parts, nparts, parts, nparts) != 0
        || tpc_strv_copy (&r->peers, nparts, peers, nparts) != 0) {
        tpc_strv_free (&r->parts, nparts);
        tpc_strv_free (&r->peers, nparts);
        return TPC_ENOMEM;
    }
    r->nparts = nparts;
    a->npend++;
    a->appended++;
    s_trace (w, "%s: persist %s %s (appended, ticket %" PRIu64 ")", a->name,
             gid, tpc_p3_name (state), a->appended);
    return 0;
}

/*  Forget A's records not yet synced and the actions held for them.      */
static void
s_agent_unsynced_clear (s_agent_t *a)
{
    for (size_t i = 0; i < a->npend; i++) {
        tpc_strv_free (&a->pend[i].parts, a->pend[i].nparts);
        tpc_strv_free (&a->pend[i].peers, a->pend[i].nparts);
    }
    a->npend = 0;
    a->synced = a->appended;
    while (a->held) {
        s_held_t *h = a->held;
        a->held = h->next;
        part_action_clear (&h->act);
        free (h);
    }
    a->held_tail = NULL;
}

/*  The end of A's step: one fdatasync makes its batch durable, then what
 *  was held for it leaves (which may append again: then again).          */
static void
s_agent_flush (s_agent_t *a)
{
    sim_world_t *w = a->w;
    const s_profile_t *p = &w->prof;
    while (a->eng && !a->dying && (a->npend || a->held)) {
        if (a->npend && w->faults
            && sim_rng_chance (&w->rng, p->persist_fail)) {
            size_t k = (size_t) sim_rng_range (&w->rng, 0, a->npend);
            s_trace (w, "%s: sync of %zu state record(s): FSYNC FAILS (the "
                     "first %zu on disk); the agent stops", a->name,
                     a->npend, k);
            for (size_t i = 0; i < k; i++)
                s_store_put (a, a->pend[i].gid, a->pend[i].state,
                             a->pend[i].nparts, a->pend[i].parts,
                             a->pend[i].peers);
            s_agent_unsynced_clear (a);
            s_agent_dies (a, "its state log's fdatasync failed");
            return;
        }
        const char *die = NULL;
        for (size_t i = 0; i < a->npend; i++) {
            s_p3rec_t *r = &a->pend[i];
            if (!s_store_put (a, r->gid, r->state, r->nparts, r->parts,
                              r->peers))
                return;
            s_trace (w, "%s: %s %s durable", a->name, r->gid,
                     tpc_p3_name (r->state));
            if (die || !w->faults)
                continue;
            if (r->state == TPC_P3_PRECOMMITTED
                && sim_rng_chance (&w->rng, p->crash_precommit))
                die = "agent.after_precommit";
            else if ((r->state == TPC_P3_COMMITTED
                      || r->state == TPC_P3_ABORTED)
                     && sim_rng_chance (&w->rng, p->crash_decided))
                die = "a decision durable, not acted on";
        }
        uint64_t synced = a->appended;
        for (size_t i = 0; i < a->npend; i++) {
            tpc_strv_free (&a->pend[i].parts, a->pend[i].nparts);
            tpc_strv_free (&a->pend[i].peers, a->pend[i].nparts);
        }
        a->npend = 0;
        a->synced = synced;
        if (die) {
            s_agent_unsynced_clear (a);
            s_agent_dies (a, die);
            return;
        }
        while (a->held && a->held->ticket <= a->synced && a->eng
               && !a->dying) {
            s_held_t *h = a->held;
            a->held = h->next;
            if (!a->held)
                a->held_tail = NULL;
            part_action_t act = h->act;
            free (h);
            s_agent_exec (a, &act);
        }
        s_agent_drain (a);
    }
}

static void
s_emit (void *arg, const part_rm_result_t *res)
{
    s_agent_t *a = arg;
    sim_world_t *w = a->w;
    if (res->gid)
        sim_oracle_observe (w->oracle, a->idx, res->gid,
                            part_mem_is_prepared (a->mem, res->gid),
                            part_mem_marker (a->mem, res->gid));
    if (!a->eng || a->dying || a->observe_only) {
        s_trace (w, "%s: rm %s %s completion lost (agent crashing)", a->name,
                 part_rm_op_name (res->op), res->gid ? res->gid : "");
        return;
    }
    if (w->faults && res->op == PART_RM_PREPARE && res->status == 0
        && !res->readonly
        && sim_rng_chance (&w->rng, w->prof.crash_prepared)) {
        s_trace (w, "%s: %s prepared in the database; the agent dies before "
                 "voting", a->name, res->gid);
        a->dying = true;
        return;
    }
    part_engine_on_result (a->eng, res, w->now);
    s_agent_drain (a);
}

static void
s_agent_start (sim_world_t *w, s_agent_t *a)
{
    part_engine_io_t io = { .arg = a };
    if (w->p3) {
        io.peer_link = true;
        io.persist = s_persist;
    }
    a->cfg.boot = a->inc + 1;   /* each incarnation its own boot id */
    a->eng = part_engine_new (&a->cfg, &io);
    if (!a->eng) {
        sim_oracle_fail (w->oracle, "simulation: cannot create an agent");
        return;
    }
    a->dying = false;
    for (size_t i = 0; i < a->nstore; i++) {
        s_p3rec_t *r = &a->store[i];
        int rc = part_engine_restore (a->eng, r->gid, r->state, r->nparts,
                                      r->parts, r->peers);
        s_agent_drain (a);
        s_trace (w, "%s: restore %s %s", a->name, r->gid,
                 tpc_p3_name (r->state));
        if (rc)
            sim_oracle_fail (w->oracle, "3pc: %s: part_engine_restore %s %s "
                             "failed: %s", a->name, r->gid,
                             tpc_p3_name (r->state), tpc_strerror (rc));
    }
    s_trace (w, "%s: up (incarnation %" PRIu64 ")", a->name, a->inc);
    part_engine_start (a->eng, w->now);
    s_agent_drain (a);
}

static void
s_agent_crash (sim_world_t *w, s_agent_t *a, const char *why)
{
    if (!a->eng)
        return;
    const part_rm_t *rm = part_mem_rm (a->mem);
    s_trace (w, "CRASH %s (%s)", a->name, why);
    s_agent_unsynced_clear (a);     /* never synced: lost */
    a->observe_only = true;
    if (sim_rng_chance (&w->rng, 500))
        rm->process (rm->self, w->now, s_emit, a);  /* effects, no replies */
    part_engine_destroy (&a->eng);
    part_mem_reconnect (a->mem);
    rm->process (rm->self, w->now, s_emit, a);      /* the lost sessions */
    if (!a->db_down) {
        /* that drain swallowed CONNECTED: the next agent must see it */
        part_mem_set_down (a->mem, true);
        part_mem_set_down (a->mem, false);
    }
    a->observe_only = false;
    a->dying = false;
    a->dying_why = NULL;
    a->inc++;
    s_timer_cancel (&a->timer);
    s_timer_cancel (&a->rm_timer);
    w->agent_crashes++;
    s_at (w, w->now + sim_rng_range (&w->rng, 10, 1500), EV_AGENT_RESTART,
          (int) a->idx, 0);
    if (sim_rng_chance (&w->rng, 500))
        s_at (w, w->now + sim_rng_range (&w->rng, 0, 50), EV_AGENT_GONE,
              (int) a->idx, 0);
}

static void
s_db_crash (sim_world_t *w, s_agent_t *a)
{
    if (a->db_down)
        return;
    s_trace (w, "CRASH database of %s", a->name);
    part_mem_crash (a->mem);
    a->db_down = true;
    w->db_crashes++;
    s_at (w, w->now + sim_rng_range (&w->rng, 10, 1500), EV_DB_UP,
          (int) a->idx, 0);
}

static void
s_session_fault (sim_world_t *w, s_agent_t *a)
{
    static const part_rm_op_t ops[] = {
        PART_RM_EXEC, PART_RM_PREPARE, PART_RM_COMMIT_ONEPHASE,
        PART_RM_COMMIT_PREPARED, PART_RM_ROLLBACK_PREPARED, PART_RM_TOMBSTONE,
        PART_RM_OUTCOME_OF, PART_RM_ROLLBACK
    };
    part_rm_op_t op = ops[sim_rng_below (&w->rng, sizeof ops / sizeof *ops)];
    bool db_error = op <= PART_RM_COMMIT_ONEPHASE && sim_rng_chance (&w->rng, 300);
    bool after = !db_error && sim_rng_chance (&w->rng, 500);
    s_trace (w, "FAULT %s: next %s fails with %s%s", a->name,
             part_rm_op_name (op), db_error ? "a database error" : "a lost "
             "session", after ? " after its effect" : "");
    part_mem_fail_next (a->mem, op, db_error ? TPC_EDB : TPC_ECONNECT,
                        db_error ? "injected: could not serialize access"
                                 : "injected: server closed the connection",
                        after);
}

/* ---------------------------------------------------------------------
 *  Clients
 */

static void
s_client_arm (sim_world_t *w, int k)
{
    s_client_t *c = &w->clients[k];
    s_push (w, (s_ev_t) { .at = w->now + w->client_timeout,
                          .type = EV_CLIENT_TIMEOUT, .node = k,
                          .arg = ++c->token });
}

static tpc_msg_t *
s_client_msg (sim_world_t *w, int k, tpc_msg_type_t type)
{
    s_client_t *c = &w->clients[k];
    tpc_msg_t *msg = tpc_msg_new (type);
    if (!msg) {
        sim_oracle_fail (w->oracle, "simulation: out of memory");
        return NULL;
    }
    msg->rid = c->wait_rid = ++c->rid;
    if (type == TPC_MSG_SUBMIT || type == TPC_MSG_BEGIN)
        msg->timeout_ms = c->timeout_ms;
    if ((type == TPC_MSG_SUBMIT || type == TPC_MSG_BEGIN) && w->p3
        && w->ccfg.protocol != TPC_PROTO_3PC) {
        msg->protocol = TPC_PROTO_3PC;
        msg->has_protocol = true;
    }
    if (type != TPC_MSG_SUBMIT && type != TPC_MSG_BEGIN)
        tpc_msg_set_str (&msg->gid, c->gid);
    return msg;
}

static void
s_client_put (sim_world_t *w, int k, tpc_msg_t *msg, s_cstate_t next)
{
    if (!msg)
        return;
    w->clients[k].state = next;
    s_send (w, TO_COORD_FROM_CLIENT, k, 0, msg);
    tpc_msg_destroy (&msg);
    s_client_arm (w, k);
}

/*  The transaction is over for client K: sometimes it asks for its
 *  status a while later (the coordinator may have restarted since).      */
static void
s_client_finish (sim_world_t *w, int k)
{
    s_client_t *c = &w->clients[k];
    if (c->gid[0] && c->state != C_STATUS && sim_rng_chance (&w->rng, 300)) {
        c->state = C_LATER;
        s_at (w, w->now + sim_rng_range (&w->rng, 0, 3000), EV_CLIENT_STATUS,
              k, 0);
    }
    else
        c->state = C_DONE;
}

static void
s_client_status (sim_world_t *w, int k)
{
    s_client_put (w, k, s_client_msg (w, k, TPC_MSG_STATUS), C_STATUS);
}

/*  Interactive: the next statement, or the end.                          */
static void
s_client_next (sim_world_t *w, int k)
{
    s_client_t *c = &w->clients[k];
    if (c->next < c->nstmts) {
        tpc_msg_t *msg = s_client_msg (w, k, TPC_MSG_EXEC);
        if (msg) {
            tpc_msg_set_str (&msg->on, w->agents[c->stmts[c->next].part].name);
            tpc_msg_set_str (&msg->sql, c->stmts[c->next].sql);
        }
        c->next++;
        s_client_put (w, k, msg, C_EXEC);
    }
    else if (c->abandon) {
        s_trace (w, "client%d: walks away from %s", k, c->gid);
        s_client_finish (w, k);
    }
    else if (c->rollback)
        s_client_put (w, k, s_client_msg (w, k, TPC_MSG_ROLLBACK), C_ROLLBACK);
    else {
        c->tries = 1;
        s_client_put (w, k, s_client_msg (w, k, TPC_MSG_COMMIT), C_COMMIT);
        if (sim_rng_chance (&w->rng, 50)) {
            /* a rollback races the commit (its reply is not awaited) */
            tpc_msg_t *rb = tpc_msg_new (TPC_MSG_ROLLBACK);
            if (rb) {
                rb->rid = ++c->rid;
                tpc_msg_set_str (&rb->gid, c->gid);
                s_send (w, TO_COORD_FROM_CLIENT, k, 0, rb);
            }
            tpc_msg_destroy (&rb);
        }
    }
}

static void
s_client_start (sim_world_t *w, int k)
{
    s_client_t *c = &w->clients[k];
    if (!c->interactive) {
        tpc_msg_t *msg = s_client_msg (w, k, TPC_MSG_SUBMIT);
        for (size_t i = 0; msg && i < c->nstmts; i++)
            tpc_msg_add_stmt (msg, w->agents[c->stmts[i].part].name,
                              c->stmts[i].sql, 0, NULL);
        s_client_put (w, k, msg, C_SUBMIT);
    }
    else
        s_client_put (w, k, s_client_msg (w, k, TPC_MSG_BEGIN), C_BEGUN);
}

static void
s_client_on_msg (sim_world_t *w, int k, tpc_msg_t *msg)
{
    s_client_t *c = &w->clients[k];
    if (msg->type == TPC_MSG_OUTCOME)
        sim_oracle_client_heard (w->oracle, msg);
    if (msg->rid != c->wait_rid || c->state == C_DONE || c->state == C_LATER)
        return;                         /* a late or duplicate reply */
    bool error = msg->type == TPC_MSG_ERROR;
    if (!c->gid[0] && msg->gid)
        snprintf (c->gid, sizeof c->gid, "%s", msg->gid);
    switch (c->state) {
    case C_BEGUN:
        if (error || msg->type != TPC_MSG_BEGUN || !msg->gid) {
            c->state = C_DONE;
            break;
        }
        snprintf (c->gid, sizeof c->gid, "%s", msg->gid);
        s_client_next (w, k);
        break;
    case C_EXEC:
        if (!error) {
            s_client_next (w, k);
            break;
        }
        if (sim_rng_chance (&w->rng, 500))
            s_client_put (w, k, s_client_msg (w, k, TPC_MSG_ROLLBACK),
                          C_ROLLBACK);
        else
            s_client_finish (w, k);
        break;
    case C_STATUS:
        c->state = C_DONE;
        break;
    default:
        s_client_finish (w, k);
        break;
    }
}

static void
s_client_timeout (sim_world_t *w, int k, uint64_t token)
{
    s_client_t *c = &w->clients[k];
    if (token != c->token || c->state == C_DONE || c->state == C_LATER)
        return;
    s_trace (w, "client%d: no answer (state %d)", k, c->state);
    if (c->state == C_COMMIT && c->tries < 3) {
        c->tries++;
        s_client_put (w, k, s_client_msg (w, k, TPC_MSG_COMMIT), C_COMMIT);
    }
    else if (c->state == C_EXEC)
        s_client_put (w, k, s_client_msg (w, k, TPC_MSG_ROLLBACK), C_ROLLBACK);
    else if (c->state == C_STATUS)
        c->state = C_DONE;
    else
        s_client_finish (w, k);
}

/*  Draw the transaction of client K.                                     */
static void
s_client_plan (sim_world_t *w, int k)
{
    s_client_t *c = &w->clients[k];
    sim_rng_t *r = &w->rng;
    c->id[0] = 'c';
    c->id[1] = (uint8_t) (k / 256);
    c->id[2] = (uint8_t) (k % 256);
    c->interactive = sim_rng_chance (r, 300);
    c->abandon = c->interactive && sim_rng_chance (r, 60);
    c->rollback = c->interactive && sim_rng_chance (r, 100);
    c->timeout_ms = sim_rng_chance (r, 200) ? sim_rng_range (r, 100, 3000) : 0;
    unsigned pick = (unsigned) sim_rng_below (r, 100);
    size_t nparts = pick < 12 ? 1 : pick < 60 ? 2 : 3;
    size_t order[S_PARTS] = { 0, 1, 2 };
    for (size_t i = S_PARTS - 1; i > 0; i--) {
        size_t j = sim_rng_below (r, i + 1), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    size_t failing = sim_rng_chance (r, 120) ? sim_rng_below (r, nparts)
                                             : SIZE_MAX;
    for (size_t i = 0; i < nparts; i++) {
        bool readonly = sim_rng_chance (r, 250);
        size_t n = sim_rng_range (r, 1, 2);
        for (size_t j = 0; j < n; j++) {
            static const char *const sleeps[] = {
                "SLEEP 20", "SLEEP 150", "SLEEP 700"
            };
            const char *sql = sim_rng_chance (r, 60)
                              ? sleeps[sim_rng_below (r, 3)]
                              : readonly || sim_rng_chance (r, 200)
                              ? "SELECT 1" : "UPDATE t SET v = v + 1";
            c->stmts[c->nstmts].part = order[i];
            c->stmts[c->nstmts++].sql = sql;
        }
        if (i == failing) {
            c->stmts[c->nstmts].part = order[i];
            c->stmts[c->nstmts++].sql = "FAIL injected by the client";
        }
    }
    if (c->interactive)         /* interleave the participants' statements */
        for (size_t i = c->nstmts - 1; i > 0; i--) {
            size_t j = sim_rng_below (r, i + 1);
            __typeof__ (c->stmts[0]) t = c->stmts[i];
            c->stmts[i] = c->stmts[j];
            c->stmts[j] = t;
        }
}

/* ---------------------------------------------------------------------
 *  Steps
 */

static void
s_on_msg (sim_world_t *w, s_ev_t *ev)
{
    char dst[64];
    s_dst_name (w, ev->kind, ev->node, ev->arg, dst, sizeof dst);
    if (ev->kind == TO_COORD_FROM_AGENT || ev->kind == TO_COORD_FROM_CLIENT) {
        if (w->coord_dead) {
            s_trace (w, "net %s lost: the coordinator is dead for good", dst);
            return;
        }
        if (!w->coord) {
            if (ev->kind == TO_COORD_FROM_AGENT
                && !(w->faults && sim_rng_chance (&w->rng, 500))) {
                s_trace (w, "net %s waits: coordinator down", dst);
                ev->at = w->now + sim_rng_range (&w->rng, 20, 200);
                s_push (w, *ev);
                ev->data = NULL;
            }
            else
                s_trace (w, "net %s lost: coordinator down", dst);
            return;
        }
    }
    else if (ev->kind == TO_AGENT || ev->kind == TO_PEER_REQ
             || ev->kind == TO_PEER_REPLY) {
        s_agent_t *a = &w->agents[ev->node];
        if (!a->eng || a->inc != ev->gen) {
            s_trace (w, "net %s lost: that connection is gone", dst);
            return;
        }
        if (ev->kind != TO_AGENT && s_cut (w, ev->arg, (size_t) ev->node)) {
            s_trace (w, "net %s lost: CUT (partition)", dst);
            return;
        }
    }
    s_trace (w, "recv %s %.*s", dst, (int) ev->len, ev->data);
    tpc_msg_t *msg = s_decode (w, ev);
    if (!msg)
        return;
    int rc = 0;
    switch (ev->kind) {
    case TO_COORD_FROM_AGENT:
        rc = coord_engine_agent (w->coord, w->agents[ev->node].name, msg,
                                 w->now);
        s_coord_drain (w);
        break;
    case TO_COORD_FROM_CLIENT:
        rc = coord_engine_client (w->coord, w->clients[ev->node].id, 3, msg,
                                  w->now);
        s_coord_drain (w);
        break;
    case TO_AGENT:
        part_engine_on_message (w->agents[ev->node].eng, &msg, w->now);
        s_agent_drain (&w->agents[ev->node]);
        break;
    case TO_CLIENT:
        s_client_on_msg (w, ev->node, msg);
        break;
    case TO_PEER_REQ: {
        const char *from = w->agents[ev->arg].name;
        part_engine_on_peer_request (w->agents[ev->node].eng, from, from,
                                     strlen (from), &msg, w->now);
        s_agent_drain (&w->agents[ev->node]);
        break;
    }
    case TO_PEER_REPLY:
        part_engine_on_peer_reply (w->agents[ev->node].eng,
                                   w->agents[ev->arg].name, &msg, w->now);
        s_agent_drain (&w->agents[ev->node]);
        break;
    }
    if (rc)
        sim_oracle_fail (w->oracle, "coordinator engine failed: %s",
                         tpc_strerror (rc));
    tpc_msg_destroy (&msg);
}

static void
s_on_timer (sim_world_t *w, const s_ev_t *ev)
{
    if (ev->kind == T_COORD) {
        if (w->coord) {
            int rc = coord_engine_tick (w->coord, w->now);
            if (rc)
                sim_oracle_fail (w->oracle, "coordinator tick failed: %s",
                                 tpc_strerror (rc));
            s_coord_drain (w);
        }
        return;
    }
    s_agent_t *a = &w->agents[ev->node];
    if (!a->eng)
        return;
    if (ev->kind == T_AGENT) {
        part_engine_tick (a->eng, w->now);
        s_agent_drain (a);
        return;
    }
    const part_rm_t *rm = part_mem_rm (a->mem);
    rm->process (rm->self, w->now, s_emit, a);
    if (a->dying)
        s_agent_crash (w, a, "between prepare and vote");
}

static void
s_on_sync_done (sim_world_t *w, const s_ev_t *ev)
{
    w->sync_inflight = false;
    w->precommit_logged = false;
    s_log_durable (w, ev->arg2);
    w->synced_ticket = ev->arg;
    s_trace (w, "disk fsync done: ticket %" PRIu64 ", %zu records durable",
             ev->arg, w->durable);
    if (w->faults && sim_rng_chance (&w->rng, w->prof.crash_sync)) {
        s_coord_crash (w, "after the fsync, before the engine heard");
        return;
    }
    if (w->doom == S_DOOM_LOGGED && w->faults && w->precommit_logged) {
        s_coord_die (w, "for good, a PRECOMMIT durable, no precommit sent",
                     true);
        return;
    }
    int rc = coord_engine_durable (w->coord, ev->arg, w->now);
    if (rc)
        sim_oracle_fail (w->oracle, "coordinator durable failed: %s",
                         tpc_strerror (rc));
    s_coord_drain (w);
}

/*  An operator runs `tpcctl resolve GID commit|abort --force`: for a gid
 *  not issued yet (the next few of this epoch, or one of the next epoch)
 *  or a client's gid, either outcome.  The coordinator must refuse all
 *  but a stuck gid, with the outcome already decided, or a one-phase gid
 *  whose outcome it does not know; the oracle checks what it accepts
 *  (one gid, one outcome).  For a gid of an earlier boot it looks at the
 *  databases first (sim_oracle_truth): the coordinator may take a resolve
 *  of one whose presumed abort it could not confirm, and only the
 *  operator knows better there.  The reply goes to no client.           */
static void
s_operator_resolve (sim_world_t *w)
{
    static const uint8_t op[] = { 'o', 'p', 0 };
    char gid[TPC_GID_MAX] = "";
    unsigned pick = (unsigned) sim_rng_below (&w->rng, 100);
    if (pick < 40) {
        uint64_t seq = w->seen_epoch == w->epoch ? w->seen_seq : 0;
        snprintf (gid, sizeof gid, "tpc_%s_%" PRIu64 "_%" PRIu64,
                  w->ccfg.coord_id, w->epoch,
                  seq + 1 + sim_rng_below (&w->rng, 3));
    }
    else if (pick < 45)
        snprintf (gid, sizeof gid, "tpc_%s_%" PRIu64 "_1", w->ccfg.coord_id,
                  w->epoch + 1);
    else if (w->nclients > 0) {
        const s_client_t *c = &w->clients[sim_rng_below (&w->rng,
                                                         w->nclients)];
        snprintf (gid, sizeof gid, "%s", c->gid);
    }
    if (!gid[0])
        return;
    tpc_msg_t *msg = tpc_msg_new (TPC_MSG_RESOLVE);
    if (!msg || tpc_msg_set_str (&msg->gid, gid)
        || tpc_msg_set_str (&msg->reason, "simulated operator")) {
        tpc_msg_destroy (&msg);
        sim_oracle_fail (w->oracle, "simulation: out of memory");
        return;
    }
    msg->rid = ++w->resolves;
    msg->outcome = sim_rng_chance (&w->rng, 500) ? TPC_OUTCOME_COMMITTED
                                                 : TPC_OUTCOME_ABORTED;
    /* a gid of an earlier boot the coordinator may no longer know (its
     * presumed abort unconfirmed: the operator decides): the operator
     * looks at the databases first, as README says */
    tpc_gid_t g;
    if (!tpc_gid_parse (gid, &g) && g.epoch < w->epoch)
        msg->outcome = sim_oracle_truth (w->oracle, gid);
    s_trace (w, "operator: resolve %s %s --force", gid,
             tpc_outcome_name (msg->outcome));
    int rc = coord_engine_client (w->coord, op, sizeof op, msg, w->now);
    tpc_msg_destroy (&msg);
    s_coord_drain (w);
    if (rc)
        sim_oracle_fail (w->oracle, "coordinator engine failed: %s",
                         tpc_strerror (rc));
}

/*  A fault-phase step may bring a random fault.                          */
static void
s_random_fault (sim_world_t *w)
{
    if (!sim_rng_chance (&w->rng, w->prof.fault))
        return;
    unsigned pick = (unsigned) sim_rng_below (&w->rng, 100);
    s_agent_t *a = &w->agents[sim_rng_below (&w->rng, S_PARTS)];
    if (pick < 20)
        s_coord_crash (w, "random");
    else if (pick < 25)
        s_coord_checkpoint (w);
    else if (pick < 50)
        s_agent_crash (w, a, "random");
    else if (pick < 65)
        s_db_crash (w, a);
    else if (a->eng && !a->db_down)
        s_session_fault (w, a);
}

/*  Handle EV; returns false if it was a stale timer (not a step).        */
static bool
s_step (sim_world_t *w, s_ev_t *ev)
{
    if (ev->type == EV_TIMER) {
        s_timer_t *t = ev->kind == T_COORD ? &w->coord_timer
                     : ev->kind == T_AGENT ? &w->agents[ev->node].timer
                     : &w->agents[ev->node].rm_timer;
        if (ev->gen != t->gen)
            return false;
        t->pending = false;
    }
    if (ev->type == EV_SYNC_DONE && (ev->gen != w->coord_inc || !w->coord))
        return false;
    w->steps++;
    s_hash_u64 (w, ev->at);
    s_hash_u64 (w, (uint64_t) ev->type << 32 | (uint64_t) ev->kind << 16
                   | (uint64_t) ev->node);
    if (ev->data)
        s_hash (w, ev->data, ev->len);
    if (ev->type != EV_MSG)
        s_trace (w, "event %s %d", s_ev_names[ev->type], ev->node);
    s_agent_t *a = ev->type == EV_AGENT_RESTART || ev->type == EV_DB_UP
                   || ev->type == EV_COORD_UP || ev->type == EV_AGENT_GONE
                   ? &w->agents[ev->node] : NULL;
    switch (ev->type) {
    case EV_MSG:
        s_on_msg (w, ev);
        break;
    case EV_TIMER:
        s_on_timer (w, ev);
        break;
    case EV_SYNC_DONE:
        s_on_sync_done (w, ev);
        break;
    case EV_CLIENT_START:
        s_client_start (w, ev->node);
        break;
    case EV_CLIENT_TIMEOUT:
        s_client_timeout (w, ev->node, ev->arg);
        break;
    case EV_CLIENT_STATUS:
        s_client_status (w, ev->node);
        break;
    case EV_COORD_RESTART:
        if (!w->coord_dead)
            s_coord_restart (w);
        break;
    case EV_AGENT_RESTART:
        s_agent_start (w, a);
        if (w->coord)
            s_at (w, w->now + sim_rng_range (&w->rng, 0, 20), EV_COORD_UP,
                  (int) a->idx, w->coord_inc);
        break;
    case EV_DB_UP:
        part_mem_set_down (a->mem, false);
        a->db_down = false;
        break;
    case EV_COORD_UP:
        if (w->coord && a->eng && ev->gen == w->coord_inc)
            part_engine_coordinator_up (a->eng, w->now);
        s_agent_drain (a);
        break;
    case EV_AGENT_GONE:
        if (w->coord) {
            coord_engine_agent_gone (w->coord, a->name, w->now);
            s_coord_drain (w);
        }
        break;
    case EV_TAKEOVER:
        s_takeover (w);
        break;
    case EV_DEP_WAKE:
        s_dep_wake (w);
        break;
    }
    if (w->faults && w->ha && w->coord && !w->dep
        && sim_rng_chance (&w->rng, w->prof.ha_pause))
        s_coord_pause (w, "random");
    if (w->faults)
        s_random_fault (w);
    if (w->faults && w->coord && sim_rng_chance (&w->rng, w->prof.resolve))
        s_operator_resolve (w);
    if (w->faults && w->doom == S_DOOM_STEP && w->steps == w->doom_step
        && !w->coord_dead) {
        if (w->coord)
            s_coord_die (w, "for good, at a random step", true);
        else {
            w->coord_dead = true;
            s_trace (w, "the coordinator (down) never restarts");
        }
    }
    for (size_t i = 0; i < S_PARTS; i++)
        s_agent_flush (&w->agents[i]);  /* the turn's one fdatasync */
    for (size_t i = 0; i < S_PARTS; i++)
        if (w->agents[i].dying && w->agents[i].eng)
            s_agent_crash (w, &w->agents[i], w->agents[i].dying_why
                                             ? w->agents[i].dying_why
                                             : "dying");
    s_refresh_timers (w);
    return true;
}

/*  Quiet phase: is there nothing left to happen?                         */
static bool
s_settled (sim_world_t *w, char *why, size_t size)
{
    bool open_ok = w->coord_dead;
    if (!w->coord && !w->coord_dead)
        return snprintf (why, size, "coordinator down"), false;
    if (w->dep)
        return snprintf (why, size, "a deposed leader still paused"), false;
    if (w->coord && coord_engine_live (w->coord))
        return snprintf (why, size, "coordinator has %zu live transaction(s)",
                         coord_engine_live (w->coord)), false;
    for (size_t i = 0; i < S_PARTS; i++) {
        s_agent_t *a = &w->agents[i];
        if (!a->eng || a->db_down)
            return snprintf (why, size, "%s down", a->name), false;
        if (part_mem_prepared_count (a->mem)
            || (!open_ok && part_mem_open_count (a->mem))) {
            if (!sim_oracle_leftover (w->oracle, w->mems, open_ok, why, size))
                snprintf (why, size, "%s holds %zu prepared, %zu open",
                          a->name, part_mem_prepared_count (a->mem),
                          part_mem_open_count (a->mem));
            return false;
        }
    }
    if (w->p3 && sim_oracle_leftover (w->oracle, w->mems, open_ok, why, size))
        return false;
    for (size_t k = 0; k < w->nclients; k++)
        if (w->clients[k].state != C_DONE)
            return snprintf (why, size, "client%zu not done", k), false;
    if (w->inflight)
        return snprintf (why, size, "%zu message(s) in flight", w->inflight),
               false;
    if (w->sync_inflight)
        return snprintf (why, size, "an fsync in flight"), false;
    return true;
}

/* ---------------------------------------------------------------------
 *  Setup and the run
 */

/*  3PC: the termination timers, the synchronous bounds, the 3PC faults
 *  and how (whether) the coordinator dies for good.  Drawn after the 2PC
 *  profile, so a 2PC seed draws exactly what it always did.              */
static void
s_profile_p3 (sim_world_t *w)
{
    sim_rng_t *r = &w->rng;
    static const unsigned pfail[] = { 0, 0, 0, 5, 20 };
    static const unsigned cpre[] = { 0, 0, 100, 300 };
    static const unsigned cdec[] = { 0, 0, 50, 200 };
    static const unsigned cp3[] = { 0, 0, 50, 200 };
#define S_PICK(v) (v)[sim_rng_below (r, sizeof (v) / sizeof *(v))]
    w->prof.persist_fail = S_PICK (pfail);
    w->prof.crash_precommit = S_PICK (cpre);
    w->prof.crash_decided = S_PICK (cdec);
    w->prof.crash_p3coord = S_PICK (cp3);
#undef S_PICK
    uint64_t tmin = UINT64_MAX;
    for (size_t i = 0; i < S_PARTS; i++) {
        part_engine_config_t *c = &w->agents[i].cfg;
        c->p3_timeout_ms = sim_rng_range (r, 1500, 3000);
        c->p3_collect_ms = sim_rng_range (r, 150, 400);
        c->p3_forget_ms = 600000;
        if (c->p3_timeout_ms < tmin)
            tmin = c->p3_timeout_ms;
        if (c->p3_timeout_ms > w->p3_timeout_max)
            w->p3_timeout_max = c->p3_timeout_ms;
    }
    /* 3PC's synchronous assumption: delays stay below p3_timeout_ms (the
     * peer link's below p3_collect_ms / 2: delay_max <= 40) */
    w->prof.long_max = tmin / 2;
    unsigned pick = (unsigned) sim_rng_below (r, 100);
    w->doom = pick < 70 ? S_DOOM_NONE : pick < 80 ? S_DOOM_STEP
            : pick < 92 ? S_DOOM_PRECOMMIT : S_DOOM_LOGGED;
    w->doom_step = sim_rng_range (r, 1, w->cfg.steps);
    /* half the seeds make 3PC the coordinator's default (the clients then
     * name no protocol), half ask for it in every begin/submit */
    if (sim_rng_chance (r, 500))
        w->ccfg.protocol = TPC_PROTO_3PC;
    w->doom_k = sim_rng_range (r, 1, 6);
    if (w->partition) {
        /* a calm network and no other fault: the coordinator dies right
         * after its first precommit left, and the cut does the rest */
        w->prof.drop = w->prof.longdelay = w->prof.fault = 0;
        w->prof.crash_commit = w->prof.crash_sync = 0;
        w->prof.crash_prepared = w->prof.persist_fail = 0;
        w->prof.crash_precommit = w->prof.crash_decided = 0;
        w->prof.crash_p3coord = 0;
        w->doom = S_DOOM_PRECOMMIT;
        w->doom_k = 1;
    }
}

/*  HA: how often the leader pauses, how long its lease runs.  Drawn
 *  last, so a 2PC or 3PC seed draws exactly what it always did.          */
static void
s_profile_ha (sim_world_t *w)
{
    sim_rng_t *r = &w->rng;
    static const unsigned pause[] = { 0, 2, 5, 10 };
    static const unsigned pcommit[] = { 0, 50, 200, 500 };
    static const uint64_t lease[] = { 200, 1000, 3000 };
#define S_PICK(v) (v)[sim_rng_below (r, sizeof (v) / sizeof *(v))]
    w->prof.ha_pause = S_PICK (pause);
    w->prof.ha_pause_commit = S_PICK (pcommit);
    w->prof.lease_max = S_PICK (lease);
#undef S_PICK
    if (!w->prof.ha_pause && !w->prof.ha_pause_commit)
        w->prof.ha_pause_commit = 200;
}

static void
s_profile (sim_world_t *w)
{
    sim_rng_t *r = &w->rng;
    static const unsigned drop[] = { 0, 0, 10, 50, 150 };
    static const unsigned dup[] = { 0, 20, 100 };
    static const unsigned longd[] = { 0, 20, 80 };
    static const uint64_t dmax[] = { 2, 10, 40 };
    static const unsigned fault[] = { 0, 5, 15, 30 };
    static const unsigned ccommit[] = { 0, 0, 100, 300 };
    static const unsigned csync[] = { 0, 0, 100 };
    static const unsigned cprep[] = { 0, 0, 100, 300 };
    static const uint64_t smax[] = { 0, 5, 30 };
    static const uint64_t rmax[] = { 0, 3, 20 };
    static const unsigned resolve[] = { 0, 0, 5, 20 };
#define S_PICK(v) (v)[sim_rng_below (r, sizeof (v) / sizeof *(v))]
    w->prof = (s_profile_t) {
        .drop = S_PICK (drop), .dup = S_PICK (dup),
        .longdelay = S_PICK (longd), .delay_max = S_PICK (dmax),
        .fault = S_PICK (fault), .crash_commit = S_PICK (ccommit),
        .crash_sync = S_PICK (csync), .crash_prepared = S_PICK (cprep),
        .sync_max = S_PICK (smax), .rm_max = S_PICK (rmax),
        .resolve = S_PICK (resolve)
    };
#undef S_PICK
    w->ccfg = (coord_engine_config_t) {
        .coord_id = "sim",
        .txn_timeout_ms = sim_rng_range (r, 1500, 4000),
        .vote_timeout_ms = sim_rng_range (r, 400, 1500),
        .ack_wait_ms = sim_rng_range (r, 100, 600),
        .reply_on = sim_rng_chance (r, 500) ? COORD_REPLY_ON_APPLIED
                                            : COORD_REPLY_ON_DECISION,
        .resend_min_ms = sim_rng_range (r, 30, 100),
        .resend_max_ms = sim_rng_range (r, 400, 1000),
        .heartbeat_ms = 200,
        .abort_linger_ms = sim_rng_range (r, 1000, 4000),
        .ended_cache = 1024,
    };
    w->client_timeout = sim_rng_range (r, 3000, 6000);
    for (size_t i = 0; i < S_PARTS; i++)
        w->agents[i].cfg = (part_engine_config_t) {
            .heartbeat_ms = 200,
            .query_ms = sim_rng_range (r, 100, 400),
            .doubt_ms = sim_rng_range (r, 300, 1500),
            .retry_ms = sim_rng_range (r, 50, 200),
            .forget_ms = sim_rng_range (r, 500, 3000),
            .sweep_ms = sim_rng_range (r, 500, 10000),
        };
    w->prof.long_max = 2500;
    if (w->p3)
        s_profile_p3 (w);
    if (w->ha)
        s_profile_ha (w);
}

static void
s_world_free (sim_world_t *w)
{
    coord_engine_destroy (&w->coord);
    s_dep_free (w);
    for (size_t i = 0; i < S_PARTS; i++) {
        s_agent_t *a = &w->agents[i];
        part_engine_destroy (&a->eng);
        part_mem_destroy (&a->mem);
        for (size_t j = 0; j < a->nstore; j++) {
            tpc_strv_free (&a->store[j].parts, a->store[j].nparts);
            tpc_strv_free (&a->store[j].peers, a->store[j].nparts);
        }
        free (a->store);
        s_agent_unsynced_clear (a);
        free (a->pend);
    }
    for (size_t i = 0; i < w->nheap; i++)
        free (w->heap[i].data);
    free (w->heap);
    for (size_t i = 0; i < w->nlog; i++)
        free (w->log[i]);
    free (w->log);
    sim_oracle_destroy (&w->oracle);
    free (w);
}

static sim_world_t *
s_world_new (const sim_config_t *cfg)
{
    sim_world_t *w = calloc (1, sizeof *w);
    if (!w)
        return NULL;
    w->cfg = *cfg;
    if (!w->cfg.steps)
        w->cfg.steps = 400;
    w->partition = cfg->partition;
    w->p3 = cfg->p3 || cfg->partition;
    w->ha = cfg->ha && !w->p3;
    sim_rng_seed (&w->rng, cfg->seed);
    w->hash = 0xcbf29ce484222325ull;
    w->faults = true;
    s_profile (w);
    const char *names[S_PARTS];
    for (size_t i = 0; i < S_PARTS; i++) {
        s_agent_t *a = &w->agents[i];
        a->w = w;
        a->idx = i;
        snprintf (a->name, sizeof a->name, "p%zu", i);
        snprintf (a->endpoint, sizeof a->endpoint, "tcp://sim-p%zu:7500", i);
        a->cfg.name = a->name;
        if (w->p3) {
            a->cfg.peer_endpoint = a->endpoint;
            a->cfg.verbose = cfg->trace != NULL;    /* logs only */
        }
        part_mem_config_t mc = {
            .pool = sim_rng_range (&w->rng, 1, 6),
            .queue_max = sim_rng_range (&w->rng, 1, 16)
        };
        a->mem = w->mems[i] = part_mem_new (&mc);
        names[i] = a->name;
        if (!a->mem) {
            s_world_free (w);
            return NULL;
        }
    }
    w->oracle = sim_oracle_new (S_PARTS, names);
    if (!w->oracle) {
        s_world_free (w);
        return NULL;
    }
    sim_oracle_count_mixed (w->oracle, w->partition);
    /* 3-10 clients over 2.5 s per 400 fault-phase steps */
    uint64_t scale = w->cfg.steps < 400 ? 1 : w->cfg.steps / 400;
    w->nclients = sim_rng_range (&w->rng, 3, 10) * scale;
    if (w->nclients > S_CLIENTS_MAX)
        w->nclients = S_CLIENTS_MAX;
    for (size_t k = 0; k < w->nclients; k++) {
        s_client_plan (w, (int) k);
        s_at (w, sim_rng_range (&w->rng, 50, 2500 * scale), EV_CLIENT_START,
              (int) k, 0);
    }
    if (w->cfg.trace) {
        const s_profile_t *p = &w->prof;
        fprintf (w->cfg.trace, "seed %" PRIu64 ": drop %u dup %u long %u "
                 "delay<=%" PRIu64 " fault %u crash_commit %u crash_sync %u "
                 "crash_prepared %u fsync<=%" PRIu64 " db<=%" PRIu64 " "
                 "(permille, ms); %zu clients; txn %" PRIu64 " vote %" PRIu64
                 " linger %" PRIu64 " reply_on %s\n", cfg->seed, p->drop,
                 p->dup, p->longdelay, p->delay_max, p->fault, p->crash_commit,
                 p->crash_sync, p->crash_prepared, p->sync_max, p->rm_max,
                 w->nclients, w->ccfg.txn_timeout_ms, w->ccfg.vote_timeout_ms,
                 w->ccfg.abort_linger_ms,
                 w->ccfg.reply_on == COORD_REPLY_ON_APPLIED ? "applied"
                                                            : "decision");
        if (w->p3) {
            static const char *const dooms[] = {
                "never", "at a random step", "after a precommit",
                "once a PRECOMMIT is durable"
            };
            fprintf (w->cfg.trace, "  3pc%s: p3_timeout %" PRIu64 "/%" PRIu64
                     "/%" PRIu64 " collect %" PRIu64 "/%" PRIu64 "/%" PRIu64
                     " ms; long delays <= %" PRIu64 " ms; persist_fail %u "
                     "crash_precommit %u crash_decided %u crash_p3coord %u; "
                     "protocol %s; the coordinator dies for good: %s",
                     w->partition
                     ? " (partition)" : "",
                     w->agents[0].cfg.p3_timeout_ms,
                     w->agents[1].cfg.p3_timeout_ms,
                     w->agents[2].cfg.p3_timeout_ms,
                     w->agents[0].cfg.p3_collect_ms,
                     w->agents[1].cfg.p3_collect_ms,
                     w->agents[2].cfg.p3_collect_ms, p->long_max,
                     p->persist_fail, p->crash_precommit, p->crash_decided,
                     p->crash_p3coord, w->ccfg.protocol == TPC_PROTO_3PC
                     ? "the coordinator's default" : "asked by the clients",
                     dooms[w->doom]);
            if (w->doom == S_DOOM_STEP)
                fprintf (w->cfg.trace, " (step %" PRIu64 ")", w->doom_step);
            if (w->doom == S_DOOM_PRECOMMIT)
                fprintf (w->cfg.trace, " (#%" PRIu64 ")", w->doom_k);
            fputc ('\n', w->cfg.trace);
        }
        for (size_t k = 0; k < w->nclients; k++) {
            s_client_t *c = &w->clients[k];
            fprintf (w->cfg.trace, "  client%zu: %s%s%s:", k,
                     c->interactive ? "interactive" : "submit",
                     c->abandon ? ", abandons" : "",
                     c->rollback ? ", rolls back" : "");
            for (size_t i = 0; i < c->nstmts; i++)
                fprintf (w->cfg.trace, " [p%zu %s]", c->stmts[i].part,
                         c->stmts[i].sql);
            fputc ('\n', w->cfg.trace);
        }
    }
    return w;
}

int
sim_world_run (const sim_config_t *cfg, sim_result_t *result)
{
    memset (result, 0, sizeof *result);
    sim_world_t *w = s_world_new (cfg);
    if (!w)
        return TPC_ENOMEM;
    s_coord_restart (w);
    for (size_t i = 0; i < S_PARTS; i++)
        s_agent_start (w, &w->agents[i]);
    s_refresh_timers (w);

    char why[160] = "";
    uint64_t quiet_steps = 0;
    s_ev_t ev;
    while (!sim_oracle_violation (w->oracle)) {
        if (!w->faults && s_settled (w, why, sizeof why))
            break;
        if (!w->faults && (w->now - w->quiet_at > S_QUIET_MS
                           || quiet_steps > S_QUIET_STEPS)) {
            sim_oracle_fail (w->oracle, "liveness: not quiescent %" PRIu64
                             " ms / %" PRIu64 " steps after the faults "
                             "stopped: %s", w->now - w->quiet_at,
                             quiet_steps, why);
            break;
        }
        if (!s_pop (w, &ev)) {
            sim_oracle_fail (w->oracle, "simulation: nothing left to happen");
            break;
        }
        if (ev.at > w->now)
            w->now = ev.at;
        bool counted = s_step (w, &ev);
        free (ev.data);
        if (!counted)
            continue;
        if (!w->faults)
            quiet_steps++;
        else if (w->steps >= w->cfg.steps) {
            w->faults = false;
            w->quiet_at = w->now;
            s_trace (w, "QUIET: faults stop; reliable network from now on");
        }
    }
    if (!sim_oracle_violation (w->oracle)) {
        s_trace (w, "quiescent: checking the end state");
        sim_oracle_check_final (w->oracle, w->mems, w->coord_dead);
    }
    const char *v = sim_oracle_violation (w->oracle);
    if (v) {
        snprintf (result->violation, sizeof result->violation, "%s", v);
        result->violation_step = w->steps;
        result->violation_ms = w->now;
        s_trace (w, "VIOLATION: %s", v);
    }
    size_t gids;
    sim_oracle_counts (w->oracle, &gids, &result->committed, &result->aborted,
                       &result->heard_committed);
    result->txns = w->nclients;
    result->steps = w->steps;
    result->sim_ms = w->now;
    result->coord_crashes = w->coord_crashes;
    result->agent_crashes = w->agent_crashes;
    result->db_crashes = w->db_crashes;
    result->checkpoints = w->checkpoints;
    result->p3_gids = sim_oracle_p3_gids (w->oracle);
    result->coord_dead = w->coord_dead;
    result->partitioned = w->partitioned;
    result->mixed = sim_oracle_mixed (w->oracle);
    result->peer_msgs = w->peer_msgs;
    result->persists = w->persists;
    result->resolves = w->resolves;
    result->resolved = sim_oracle_resolved (w->oracle);
    result->takeovers = w->takeovers;
    result->fenced = w->fenced;
    result->hash = w->hash;
    s_world_free (w);
    return 0;
}
