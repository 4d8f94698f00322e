/*  part_agent_int.h: what the files of the agent's I/O shell share (not
 *  installed): part_agent.c (the loop, the 3PC state log's I/O, the peer
 *  link to other agents, start and stop) and part_link.c (the link to
 *  the coordinator).
 */
#ifndef PART_AGENT_INT_H
#define PART_AGENT_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "tpc_io.h"
#include "tpc_zap.h"
#include "part_agent.h"
#include "part_engine.h"
#include "part_state.h"
#include "tpc_curve.h"
#include "tpc_gid.h"
#include "tpc_monitor.h"
#include "tpc_msg.h"
#include "tpc_trace.h"

#define PART_AGENT_RECV_BATCH 1000  /* messages taken from a socket at once */
#define PART_LINK_WAIT_FIRST_MS 2000    /* no answer this long: say so */
#define PART_LINK_WAIT_SAY_MS 30000     /* ... and again this often */
#define PART_LINKS_MAX 8        /* coordinators of an HA group (--coordinator
                                   EP,EP,...) */
#define PART_ROUTES 4096        /* gid -> link of its last request (replies
                                   go back on it); a hash table, a slot
                                   taken by another gid is overwritten */

/*  The link to one coordinator of the group: a DEALER and its monitor.  */
typedef struct {
    char *endpoint;
    void *sock;
    tpc_monitor_t *monitor;     /* the socket's connect events */
    bool hs_failing;            /* handshakes fail; said once until one
                                   succeeds */
    bool hs_connecting;         /* TCP up, handshake not done */
    bool linked;                /* a handshake succeeded, no disconnect */
    uint64_t heard_at;          /* last frame from the coordinator */
    bool relinked;              /* a new link, not answered yet */
    bool answered;              /* the current link answered a hello */
    bool connected_said;        /* "connected to the coordinator" said */
    bool follower;              /* its last answer to a hello: not_leader */
    uint64_t wait_say_at;       /* next "waiting for the coordinator" */
    uint64_t busy_said_at;      /* "another live process has this name"
                                   last said (ms), 0 = never */
    bool dirty;                 /* used since its ZMQ_FD last told the
                                   truth: ask ZMQ_EVENTS before sleeping
                                   (part_agent_run) */
} part_link_t;

typedef struct {
    char gid[TPC_GID_MAX];
    int link;
} part_route_t;


/*  A DEALER to another agent (the peer link's client side).             */
typedef struct {
    char *name;
    char *endpoint;
    void *sock;
    uint64_t used;              /* last send (LRU eviction) */
} part_agent_peer_t;

/*  Group commit of the 3PC state log: an action the engine queued after a
 *  state record that is not durable yet waits here, in order, until the
 *  sync at the end of the loop turn covers TICKET (part_state.h).        */
#define PART_AGENT_STATE_BATCH 256  /* appends that force a sync at once */

typedef struct part_agent_held part_agent_held_t;
struct part_agent_held {
    part_action_t act;
    uint64_t ticket;
    part_agent_held_t *next;
};

/*  An action whose execution failed inside a persist call: reported to
 *  the engine at the next drain.                                        */
typedef struct part_agent_failed part_agent_failed_t;
struct part_agent_failed {
    part_action_t act;
    int rc;
    part_agent_failed_t *next;
};

struct part_agent {
    part_agent_config_t cfg;
    char *name;
    const part_rm_t *rm;
    part_engine_t *engine;
    void *zctx;
    part_link_t links[PART_LINKS_MAX];  /* one per coordinator endpoint */
    size_t nlinks;
    int leader;                 /* the link that accepted a hello most
                                   recently (answered hello), -1 = none */
    part_route_t *routes;       /* PART_ROUTES, with several links */
    tpc_crash_t *crash;         /* crash points (tpc_crash.h) */
    bool verbose;
    bool announced;
    uint64_t now;
    uint64_t monitor_at;        /* next read of the socket monitor */
    unsigned links_made;        /* DEALERs made so far (monitor names) */
    bool refused;               /* the coordinator refused this agent */
    /* three-phase commit */
    part_state_t *state;        /* the 3PC state log, or NULL */
    tpc_io_failsync_t state_io; /* its file I/O: crash point
                                   agent.state_sync fails an fdatasync */
    void *router;               /* peer requests, or NULL */
    tpc_zap_t *zap;           /* CURVE: who may use the ROUTER */
    bool curve;                 /* the agent has a key pair */
    tpc_curve_cert_t cert;      /* ... this one */
    char *advertised;           /* peer endpoint said in hello, or NULL */
    part_agent_peer_t peers[PART_AGENT_PEERS_MAX];
    size_t npeers;
    bool peers_dirty;           /* the ROUTER or a peer DEALER was used:
                                   ask their ZMQ_EVENTS before sleeping */
    uint64_t peer_clock;        /* LRU counter */
    bool said_no_keys;          /* "no --peer-keys" said once */
    int fatal;                  /* the state log failed: stop */
    int in_persist;             /* inside the engine's persist call */
    part_agent_held_t *held, *held_tail;  /* actions waiting for a sync */
    size_t unsynced;            /* state records appended since the sync */
    char unsynced_gid[TPC_GID_MAX];     /* ... the first one's gid ... */
    tpc_p3_t unsynced_state;    /* ... and state (for the FATAL line) */
    bool precommit_unsynced;    /* ... one of them PRECOMMITTED (crash
                                   point agent.after_precommit) */
    part_agent_failed_t *failed, *failed_tail;   /* to report */
    tpc_trace_t *trace;         /* --trace-file, or NULL (off) */
    tpc_msg_t **acks;           /* acks held until the loop turn ends */
    size_t nacks, acks_cap;
};

/* part_agent.c */
/*  Execute the actions the engine queued (after every engine call); those
 *  that follow a state record not yet durable are held for the sync.    */
void part_agent_drain (part_agent_t *self);

/* part_link.c: the links to the coordinator(s) */
/*  Make the links, one per endpoint of cfg.endpoint (a comma-separated
 *  list): a DEALER each, its monitor, connected.  0, or -1 with a
 *  sentence in ERRBUF (sockets may be half made: part_link_close).     */
int part_link_open (part_agent_t *self, char *errbuf, size_t errlen);
void part_link_close (part_agent_t *self);
/*  A SEND action: MSG to the coordinator (takes MSG): hello to every
 *  link, query to the leader's, a reply to the link its gid's last
 *  request came on.                                                      */
int part_link_send (void *arg, tpc_msg_t **msg_p);
/*  Send the acks held in this loop turn: one "acks" frame per link (and
 *  per TPC_MSG_BATCH_MAX gids).                                          */
void part_link_flush (part_agent_t *self);
/*  Hand every message waiting on link I (up to a batch) to the engine.   */
void part_link_recv_all (part_agent_t *self, size_t i);
/*  Read the link's monitor: handshakes, reconnections.                   */
void part_link_monitor (part_agent_t *self);
/*  A link that answers no hello for a while is replaced.                 */
void part_link_check (part_agent_t *self);

/* part_agent_trace.c: the latency trace's marks (no-ops when off) */
int pa_trace_open (part_agent_t *self, char *errbuf, size_t errlen);
void pa_trace_recv (part_agent_t *self, const tpc_msg_t *msg);
void pa_trace_sent (part_agent_t *self, const tpc_msg_t *msg);
void pa_trace_submit (part_agent_t *self, const part_rm_req_t *req);
void pa_trace_result (part_agent_t *self, const part_rm_result_t *res);

#endif
