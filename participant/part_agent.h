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
    const char *endpoint;       /* coordinator's agent endpoint */
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
} part_agent_config_t;

/*  0 if NAME is a valid agent name, else TPC_EINVAL.                     */
int part_agent_name_valid (const char *name);

/*  Log a line on stderr as "tpc-participant: ..." (LEVEL 1 only when
 *  VERBOSE).  ARG points to a bool: verbose.                             */
void part_agent_log (void *arg, int level, const char *line);

/*  A new agent over RM (borrowed), connected to config->endpoint, or NULL
 *  with a sentence in ERRBUF.                                            */
part_agent_t *part_agent_new (const part_agent_config_t *config,
                              const part_rm_t *rm, char *errbuf,
                              size_t errlen);
void part_agent_destroy (part_agent_t **self_p);

/*  Serve until the stop descriptor is readable.  Returns 0, or a negative
 *  tpc_err_t when polling failed.                                        */
int part_agent_run (part_agent_t *self);

#endif
