/*  coord_follow: an HA coordinator while it is a follower.
 *
 *  It binds the client and agent endpoints it would serve as leader (two
 *  ZeroMQ ROUTER sockets; with curve_secret, CURVE servers behind the
 *  same ZAP allow-lists as the leader's (tpc_zap.h), so a key the leader
 *  would refuse is refused at the handshake here too) and answers every message there
 *  with an "error" reply, code TPC_ENOT_LEADER (-19), "leader" = the
 *  leader's advertised client endpoint to a client, its agent endpoint
 *  to an agent ("" when none is known), rid
 *  echoed from the request (tpc_msg_peek_rid; 0 for an agent's hello).
 *  It serves no transaction and writes nothing.  Every poll_ms it reads
 *  the leader key (coord_elect_read); when the key is gone it campaigns
 *  (coord_elect_campaign); having won, it closes both sockets (so the
 *  leader's coord_server can bind them) and returns.
 *
 *  Lines on stderr: "follower id=<id> leader=<client endpoint>" each time
 *  the leader it follows changes, and once "ready id=<id> role=follower
 *  clients=<ep> agents=<ep>" when both sockets are bound.
 */
#ifndef COORD_FOLLOW_H
#define COORD_FOLLOW_H

#include <signal.h>
#include <stdint.h>

#include "coord_elect.h"

typedef struct {
    const char *id;
    const char *bind;           /* client endpoint */
    const char *agent_bind;     /* agent endpoint */
    uint64_t poll_ms;           /* leader key read this often */
    const char *curve_secret;   /* NULL: plain text; else as the leader's */
    const char *allow_clients;  /* (coord_server_config_t) */
    const char *allow_admins;
    const char *allow_agents;
} coord_follow_config_t;

/*  Follow until this process wins (1, *WON the leader key as created:
 *  WON->create_rev is the fence), or *STOP is set (0), or a socket
 *  cannot be bound (negative, a sentence in ERRBUF).  etcd unreachable
 *  is no error: it tries again every poll_ms.                           */
int coord_follow_run (const coord_follow_config_t *cfg, coord_elect_t *elect,
                      volatile sig_atomic_t *stop, coord_elect_leader_t *won,
                      char *errbuf, size_t errlen);

#endif
