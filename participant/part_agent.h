/*  part_agent: the I/O shell of tpc-participant.
 *
 *  One thread, one loop (zmq_poll) over: the DEALER socket to the
 *  coordinator's agent endpoint (ZMQ_ROUTING_ID = the agent's name), the
 *  resource manager's descriptors (part_rm.h), and an optional stop
 *  descriptor (a signalfd in the program).  It decodes messages into the
 *  engine (part_engine), runs the RM's process() and the engine's timers,
 *  and encodes what the engine sends.  Each wire message is one frame of
 *  JSON (tpc_msg.h); a frame that does not decode is logged and dropped.
 *  Crash points (config->crash, tpc_crash.h): agent.after_work,
 *  agent.after_prepare and agent.after_commit_prepared are passed when the
 *  RM's completion arrives, BEFORE the engine sees it; agent.after_vote
 *  after a yes vote was handed to ZeroMQ.
 *  When the first recovery listing is done it prints, on stderr:
 *
 *      tpc-participant: ready name=<name> backend=<pg|mem> prepared_found=<k>
 *
 *  THREE-PHASE COMMIT (ARCHITECTURE.md, "Three-phase commit")
 *  - State log: with config->state_dir the agent opens a part_state log
 *    there (a corrupt or locked one: part_agent_new fails), hands every
 *    gid it holds to part_engine_restore before the engine starts, and
 *    serves the engine's io->persist by GROUP COMMIT: part_state_append
 *    (written, not durable), and every action the engine queues after
 *    it (a vote, a "state precommitted", the database's PREPARE or
 *    COMMIT PREPARED, a peer's decide; log lines excepted) is held, in
 *    order, until the one part_state_sync (fdatasync) the loop makes at
 *    the top of each turn, or at once when PART_AGENT_STATE_BATCH records
 *    wait, covers it.  So every gid whose state changed in a turn shares
 *    one fdatasync, and nothing that depends on a state leaves before it
 *    is durable.  Without a state log io->persist is NULL and the engine
 *    votes no on 3PC.  An append or sync that fails for the disk makes
 *    the agent stop: what was held is dropped, from then on nothing more
 *    is sent (to the coordinator or to a peer) and part_agent_run returns
 *    the error; a restart recovers from the log.  Crash point
 *    agent.after_precommit: a sync made a PRECOMMITTED state durable, the
 *    reply held for it has not left yet.
 *  - Peer link: a ROUTER bound at config->peer_bind takes getstate,
 *    precommit and decide from other agents (one frame of JSON after the
 *    routing id, decoded with the default limits; anything else is logged
 *    and dropped) into part_engine_on_peer_request.  The ROUTER assigns
 *    routing ids (no handover: no peer can take over another's
 *    connection); FROM is that of the connection the request came on and
 *    a PEER_REPLY action answers on it.  The sender's name is its CURVE key's
 *    (a request whose "name" field says otherwise is refused, logged
 *    naming both), or in plain text the request's "name" field (required).
 *    A PEER_SEND action reaches agent NAME at ENDPOINT through a DEALER (no
 *    routing id; the engine names itself in each request) made on first
 *    use and cached (up to
 *    PART_AGENT_PEERS_MAX, least recently used closed first; a new
 *    endpoint for a name replaces its socket); what comes back on it
 *    (state, ack) goes to part_engine_on_peer_reply (NAME).
 *  - Every hello carries the advertised peer endpoint: peer_endpoint, or
 *    else the endpoint the ROUTER bound when it names a host (not a
 *    wildcard such as tcp://0.0.0.0:N or a "*" host).
 *  - CURVE: when the agent has a key pair (curve_secret) the peer link is
 *    CurveZMQ too.  The ROUTER is a CURVE server with the agent's own key
 *    pair; a ZAP handler (tpc_zap, domain TPC_ZAP_AGENTS) accepts only
 *    client keys found in the peer_keys directory of agent public
 *    certificates, and a request is taken only when the certificate's name
 *    is the routing id, so an agent cannot speak for another.  A DEALER to
 *    peer NAME completes its handshake only with the key of certificate
 *    NAME in peer_keys (file NAME.key, or any certificate named NAME).
 *    Without CURVE (--insecure-plaintext) the peer link is plain TCP.
 */
#ifndef PART_AGENT_H
#define PART_AGENT_H

#include <stdbool.h>
#include <stdint.h>

#include "part_rm.h"
#include "tpc_crash.h"

typedef struct part_agent part_agent_t;

typedef struct {
    const char *name;           /* [A-Za-z0-9_-]{1,63} */
    const char *endpoint;       /* coordinator's agent endpoint, or an HA
                                   group's, comma-separated (part_link.c);
                                   kept, not copied */
    uint64_t heartbeat_ms;      /* hello interval; 0 = 1000 */
    int stop_fd;                /* readable = stop; -1 = none */
    bool verbose;
    /*  Crash points (tpc_crash.h): the agent.* points; zero = disarmed. */
    tpc_crash_config_t crash;
    /*  CurveZMQ (tpc_curve.h): this agent's key pair and the coordinator's
     *  public certificate.  The DEALER then completes a handshake only
     *  with the coordinator holding that key, so the agent takes commands
     *  from nobody else.  Both NULL = plain TCP (tpc-participant allows
     *  that only with --insecure-plaintext).                             */
    const char *curve_secret;
    const char *coordinator_public;
    /*  Three-phase commit (all optional; see above).                     */
    const char *state_dir;      /* the 3PC state log; NULL = vote no on 3PC */
    const char *peer_bind;      /* ROUTER for other agents; NULL = none */
    const char *peer_endpoint;  /* said in hello; NULL = see above */
    const char *peer_keys;      /* CURVE: directory of agents' public
                                   certificates (needed with curve_secret
                                   and peer_bind) */
    uint64_t p3_timeout_ms;     /* part_engine_config_t's; 0 = defaults */
    uint64_t p3_collect_ms;
    uint64_t p3_forget_ms;      /* also the state log's forget_ms */
    /*  The per-stage latency trace (tpc_trace.h): its file (NULL = off)
     *  and one gid in trace_sample (0 = 1) traced.                      */
    const char *trace_file;
    unsigned trace_sample;
} part_agent_config_t;

#define PART_AGENT_PEERS_MAX 256   /* DEALERs to peers kept open */

/*  0 if NAME is a valid agent name, else TPC_EINVAL.                     */
int part_agent_name_valid (const char *name);

/*  Log a line on stderr as "tpc-participant: ..."; LEVEL 0 = verbose
 *  (only when VERBOSE), 1 = warning, as the coordinator has them.  ARG
 *  points to a bool: verbose.                                            */
void part_agent_log (void *arg, int level, const char *line);

/*  A new agent over RM (borrowed), connected to config->endpoint, or NULL
 *  with a sentence in ERRBUF.                                            */
part_agent_t *part_agent_new (const part_agent_config_t *config,
                              const part_rm_t *rm, char *errbuf,
                              size_t errlen);
void part_agent_destroy (part_agent_t **self_p);

/*  A new agent refuses to start (NULL, a sentence in ERRBUF) when its key
 *  pair's name (tpc_curve.h: the metadata name, else the file's) is not
 *  config->name: the coordinator would refuse every hello.               */

/*  Serve until the stop descriptor is readable.  Returns 0, or a negative
 *  tpc_err_t when polling failed, the 3PC state log failed, or the
 *  coordinator refused this agent (the agent must exit: see
 *  part_agent_failed, part_agent_refused).                               */
int part_agent_run (part_agent_t *self);

/*  0, or the error of the 3PC state log that made the agent stop.        */
int part_agent_failed (part_agent_t *self);

/*  True when the coordinator refused this agent (an "error" on the link:
 *  its key is another agent's, or another live process holds its name).  */
bool part_agent_refused (part_agent_t *self);

/*  The peer endpoint this agent advertises in hello, or NULL.            */
const char *part_agent_peer_endpoint (part_agent_t *self);

#endif
