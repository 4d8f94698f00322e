/*  tpc_trace: the per-stage latency trace (off by default, cheap when on).
 *
 *  For a sample of gids, every process on the path of a transaction (the
 *  client library, the coordinator, the agents) writes one line per stage
 *  it sees to its own trace file; bench/trace_report joins the files by
 *  gid and prints where the time of a transaction goes, stage by stage.
 *
 *  File format: text, one line per mark, appended:
 *
 *      <gid> SP <stage-name> SP <t_ns> LF
 *
 *  gid: the transaction's gid (tpc_gid.h, no spaces); stage-name: one of
 *  the names below (tpc_trace_stage_name); t_ns: decimal nanoseconds on
 *  CLOCK_MONOTONIC (tpc_now_ns), one clock for every process of the
 *  machine, so the files of several processes can be joined.  A stage
 *  seen by several agents (work sent, agent receive, ...) has one line
 *  per agent.  Lines are buffered and written whole with one write() on
 *  an O_APPEND descriptor: several tracers (the bench's clients) may
 *  share one file; a process killed without tpc_trace_destroy loses its
 *  buffered lines (at most TPC_TRACE_BUF bytes).
 *
 *  Sampling: a gid is traced when crc32c(gid) % sample == 0, the same
 *  choice in every process without any coordination.  A NULL tracer is a
 *  valid "off": every call on it returns at once.
 *
 *  A tracer is used by one thread at a time (it has no lock).
 */
#ifndef TPC_TRACE_H
#define TPC_TRACE_H

#include <stdbool.h>
#include <stdint.h>

#define TPC_TRACE_BUF 65536     /* bytes buffered before a write() */

/*  The stages, in the order of a 2PC transfer with --reply-on applied
 *  (the default): bench/trace_report prints the consecutive pairs.      */
typedef enum {
    TPC_TRACE_CLIENT_SEND = 0,  /* client: the request is about to leave */
    TPC_TRACE_COORD_RECV,       /* coordinator: the request was read */
    TPC_TRACE_WORK_SENT,        /* coordinator: work sent to an agent */
    TPC_TRACE_AGENT_RECV,       /* agent: the work was read */
    TPC_TRACE_DB_WORK_START,    /* agent: the statements go to the database */
    TPC_TRACE_DB_WORK_END,      /* agent: ... their result is back */
    TPC_TRACE_DB_PREPARE_START, /* agent: PREPARE TRANSACTION goes out */
    TPC_TRACE_DB_PREPARE_END,   /* agent: ... the database prepared */
    TPC_TRACE_VOTE_SENT,        /* agent: its vote left */
    TPC_TRACE_VOTE_RECV,        /* coordinator: a vote was read */
    TPC_TRACE_DECISION_APPENDED,/* coordinator: COMMIT/ABORT record written */
    TPC_TRACE_DURABLE,          /* coordinator: ... and fdatasync'ed */
    TPC_TRACE_DECIDE_SENT,      /* coordinator: decide sent to an agent */
    TPC_TRACE_AGENT_DECIDE,     /* agent: the decide was read */
    TPC_TRACE_PHASE2_DONE,      /* agent: COMMIT/ROLLBACK PREPARED done */
    TPC_TRACE_ACK_RECV,         /* coordinator: an ack was read */
    TPC_TRACE_REPLY_SENT,       /* coordinator: the outcome left */
    TPC_TRACE_CLIENT_RECV,      /* client: the outcome was read */
    TPC_TRACE_STAGE_COUNT
} tpc_trace_stage_t;

typedef struct tpc_trace tpc_trace_t;

/*  A tracer appending to PATH (created 0644 if missing), tracing one gid
 *  in SAMPLE (0 = 1: every gid).  NULL on failure, errno set.           */
tpc_trace_t *tpc_trace_new (const char *path, unsigned sample);

/*  A tracer from the environment: TPC_TRACE_FILE (unset or empty = off:
 *  NULL) and TPC_TRACE_SAMPLE (unset = 1).  NULL when off or on failure
 *  (a warning on stderr then: tracing is never worth failing for).       */
tpc_trace_t *tpc_trace_from_env (void);

/*  Flush and close; *self_p becomes NULL.  Idempotent.                   */
void tpc_trace_destroy (tpc_trace_t **self_p);

/*  Is GID sampled by SELF?  False for a NULL tracer or gid.              */
bool tpc_trace_sampled (const tpc_trace_t *self, const char *gid);

/*  Now on the trace's clock when SELF is on, else 0 (nothing read).     */
int64_t tpc_trace_now (const tpc_trace_t *self);

/*  Record STAGE of GID now (mark) or at T_NS (mark_at), if GID is
 *  sampled; no-op when SELF is NULL, GID NULL/empty or T_NS is 0.        */
void tpc_trace_mark (tpc_trace_t *self, const char *gid,
                     tpc_trace_stage_t stage);
void tpc_trace_mark_at (tpc_trace_t *self, const char *gid,
                        tpc_trace_stage_t stage, int64_t t_ns);

/*  Write the buffered lines now: 0 or TPC_EIO.                          */
int tpc_trace_flush (tpc_trace_t *self);

/*  "client_send", ... ; "?" when out of range.                           */
const char *tpc_trace_stage_name (tpc_trace_stage_t stage);

/*  The stage named NAME, or -1.                                          */
int tpc_trace_stage_parse (const char *name);

#endif
