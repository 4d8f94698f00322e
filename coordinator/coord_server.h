/*  coord_server: the coordinator's I/O shell around coord_engine.
 *
 *  Owns everything the engine may not touch: two ZeroMQ ROUTER sockets
 *  (clients on `bind`, agents on `agent_bind`), the decision log, the clock
 *  and the process's fate.  At start it opens the log, replays every record
 *  into the engine, appends and syncs an EPOCH record (boot number = highest
 *  replayed + 1) and only then starts the engine, so no gid is ever issued
 *  twice.  Then one thread runs the loop, and a second one syncs the log:
 *
 *    poll both sockets and the sync thread's eventfd until a message
 *    arrives, a sync finished or the engine's wake time came
 *    -> a sync finished: coord_engine_durable(highest ticket it covered):
 *       only now are the held decisions queued, and sent
 *    -> drain up to batch_max messages: decode, feed the engine, perform
 *       the actions it queued (sends go out at once; appends are written,
 *       not synced; a forced append asks the sync thread for its LSN)
 *    -> tick the engine if its wake time has come
 *    -> checkpoint when the log grew by checkpoint_records/_bytes
 *    -> (--http) the console's eventfd: make it a snapshot, run its
 *       retry / resolve commands (coord_console.h); its HTTP threads
 *       never touch the engine.
 *
 *  GROUP COMMIT: the sync thread runs ONE tpc_log_sync() for the newest
 *  LSN asked, then reports its ticket; whatever was appended meanwhile
 *  goes into the next one.  The loop never waits for the disk: it keeps
 *  reading votes and sending work while a sync runs.
 *
 *  A failed append or sync is fatal: the error is printed and the process
 *  exits with status 3 at once (from the sync thread for a sync); no
 *  decision is ever sent after a failed sync.  Malformed client messages get an "error" reply (rid 0, the
 *  decoder's code and sentence); malformed agent messages are logged and
 *  dropped.
 *
 *  Crash points (cfg.crash, tpc_crash.h) sit where the loop does each step:
 *  coord.registered after a begin/submit is fed, coord.prepare_sent and
 *  coord.commit_sent after such a send, coord.votes_in after the vote that
 *  made the engine force a COMMIT, coord.before_decision / coord.
 *  after_decision_append around that append, coord.after_fsync between the
 *  sync and coord_engine_durable(), coord.before_end before an END append;
 *  three-phase commit: coord.precommit_logged between the sync that made a
 *  PRECOMMIT durable and coord_engine_durable(), coord.precommit_sent
 *  after each precommit send, coord.precommit_acked after the engine saw
 *  a `state precommitted` reply, before anything it caused is written.
 *  Checkpoints carry the live decided transactions (COMMIT), the live
 *  pre-committed undecided ones (PRECOMMIT) and the operators' resolves.
 *
 *  recover_only: no client socket, no EPOCH record; replayed decided (and
 *  3PC pre-committed) transactions are driven to their end, agents' queries answered, one line
 *  per gid printed on stdout; coord_server_run() returns 0 when all ended,
 *  1 when recover_timeout_ms passed first.
 */
#ifndef COORD_SERVER_H
#define COORD_SERVER_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "coord_engine.h"
#include "coord_etcd_http.h"
#include "tpc_crash.h"

#define COORD_CLIENT_EP_DEFAULT "tcp://127.0.0.1:7400"
#define COORD_AGENT_EP_DEFAULT "tcp://127.0.0.1:7401"

typedef struct coord_server coord_server_t;

typedef struct {
    const char *id;             /* coordinator id, [A-Za-z0-9]{1,32} */
    const char *bind;           /* client endpoint; NULL = default */
    const char *agent_bind;     /* agent endpoint; NULL = default */
    const char *log_dir;        /* required with the file store */
    uint64_t log_segment_bytes; /* 0 = the log's default */
    /*  The decision store (coord_store.h): NULL or "file" = the log in
     *  log_dir; "etcd://HOST:PORT[,HOST:PORT...]" = etcd under
     *  store_prefix (NULL = "/tpc/<id>/"; log_dir unused), each request
     *  given store_timeout_ms (0 = 5000).                                */
    const char *store;
    const char *store_prefix;
    uint64_t store_timeout_ms;
    coord_etcd_auth_t store_auth;   /* etcds:// TLS files, the etcd user
                                       file (coord_etcd_http.h) */
    coord_engine_config_t engine;   /* timeouts etc.; coord_id ignored */
    size_t max_msg_bytes;       /* decoder limit; 0 = 1 MiB */
    int verbose;                /* 0 warnings only, 1 every event */
    bool recover_only;
    uint64_t recover_timeout_ms;    /* 0 = 30000 */
    size_t batch_max;           /* messages per group commit; 0 = 1024 */
    uint64_t checkpoint_records;    /* 0 = 100000 */
    uint64_t checkpoint_bytes;      /* 0 = 64 MiB */
    tpc_crash_config_t crash;   /* crash points (tpc_crash.h): the coord.*
                                   points; disarmed when zero */
    /*  CurveZMQ (tpc_curve.h, tpc_zap.h).  With curve_secret (this
     *  coordinator's key pair) both sockets are CURVE servers and a ZAP
     *  handler admits only the public keys found in the allow-list
     *  directories, each key with its role; every request is checked
     *  against its sender's role.  NULL = plain TCP, no authentication:
     *  tpc-coordinator allows that only with --insecure-plaintext.       */
    const char *curve_secret;
    const char *allow_clients;
    const char *allow_admins;
    const char *allow_agents;
    /*  HOST:PORT for GET /metrics (Prometheus text, coord_metrics.h);
     *  NULL = no metrics endpoint.                                       */
    const char *metrics_bind;
    /*  The operator console (coord_http.h, docs/CONSOLE.md): HOST:PORT,
     *  :PORT or PORT of its HTTP server (which serves /metrics too; the
     *  same address as metrics_bind = one server); NULL = no console.
     *  http_token_file: the token writes need; NULL = read-only.        */
    const char *http_bind;
    const char *http_token_file;
    const char *version;        /* shown by the console */
    /*  HA (coord_elect.h): every etcd write compares fence_key's
     *  create_revision with fence_rev (NULL: no fence).  deposed (ARG) is
     *  called, from the sync thread, when a store write fails (fenced or
     *  not): it must not return (tpc-coordinator re-executes itself to
     *  rejoin as a follower); NULL = exit 3 as without HA.              */
    const char *fence_key;
    int64_t fence_rev;
    struct coord_elect *elect;  /* HA: answers "cluster" (NULL: single) */
    void (*deposed) (void *arg);
    void *deposed_arg;
    /*  The per-stage latency trace (tpc_trace.h): its file (NULL = off)
     *  and one gid in trace_sample (0 = 1) traced.                      */
    const char *trace_file;
    unsigned trace_sample;
} coord_server_config_t;

/*  Open the log, replay it, write the EPOCH record, bind.  NULL on
 *  failure with a sentence in ERRBUF.                                     */
coord_server_t *coord_server_new (const coord_server_config_t *cfg,
                                  char *errbuf, size_t errlen);

/*  Close sockets and log; *self_p becomes NULL.  Idempotent.              */
void coord_server_destroy (coord_server_t **self_p);

/*  Serve until *STOP becomes non-zero (a signal handler sets it).  Returns
 *  the process exit status: 0 clean stop (or recover_only: everything
 *  ended), 1 recover_only with unfinished transactions, 2 a fatal error.  */
int coord_server_run (coord_server_t *self, volatile sig_atomic_t *stop);

/*  HA: the lease is lost: from now on nothing is sent (no reply, no
 *  decide).  Any thread.                                                 */
void coord_server_depose (coord_server_t *self);

/*  This boot's epoch, records replayed, the unfinished transactions at
 *  start (coord_engine_unfinished() after the replay: decided or
 *  pre-committed, not ended; the ready line's "in_doubt=" for
 *  compatibility), and the endpoints actually bound (NULL if none).      */
uint64_t coord_server_epoch (coord_server_t *self);
uint64_t coord_server_replayed (coord_server_t *self);
size_t coord_server_unfinished (coord_server_t *self);
const char *coord_server_client_endpoint (coord_server_t *self);
const char *coord_server_agent_endpoint (coord_server_t *self);

/*  "curve clients=<n> admins=<n> agents=<n>" (keys in the allow-lists at
 *  start) or "plaintext", for the ready line.                            */
const char *coord_server_security (coord_server_t *self);

/*  The metrics endpoint's port, the console's (0 = none).               */
int coord_server_metrics_port (coord_server_t *self);
int coord_server_http_port (coord_server_t *self);

#endif
