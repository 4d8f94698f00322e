/*  coord_route: which connection on the agent socket is which agent.
 *
 *  The agent ROUTER assigns each connection its routing id itself (agents
 *  set none, and ROUTER_HANDOVER is off), so no peer can choose another
 *  agent's routing id and take its connection over.  This table maps an
 *  agent's name to its current connection, and a message's connection to
 *  the agent it speaks for:
 *
 *    CURVE     the name is the key's: the ZAP user id "agent:<name>".  A
 *              hello naming another agent is refused (TPC_EPERM) and
 *              changes nothing.  A hello maps the name to the connection
 *              it came on (a reconnected agent replaces its stale
 *              connection); any other message maps it only when the name
 *              has no connection yet (a first message after a restart).
 *              A late hello never moves it back: one with a boot id a
 *              newer one replaced (a restarted agent's old process, or
 *              one that fell silent while another took its name over) is
 *              refused (TPC_EEXIST: the server tells it to stop); one on
 *              a connection the name has left (its last 32 the ROUTER
 *              assigned: an agent closes a link before it opens the
 *              next) is refused (TPC_ESTATE) and must not be answered.
 *    DUPLICATE a hello with a boot id other than the name's current one,
 *              on another connection, while that current connection was
 *              heard from within LIVE_MS (the agent-gone time): two live
 *              processes say they are one agent.  Refused (TPC_EBUSY: the
 *              server tells it to wait, it says hello again), table
 *              unchanged: the one connected first keeps the name, the
 *              other takes it once the first is gone (so a restart whose
 *              old connection the coordinator still believes open, a
 *              half-open TCP link, is only delayed, never refused for
 *              good).
 *              A legitimate restart is not refused: its old process is
 *              dead, so its connection is gone (the server finds that out
 *              with a send that fails and calls coord_route_lost) or has
 *              been silent for LIVE_MS.
 *    plain     (no keys: tests, --insecure-plaintext) a connection whose
 *              routing id was chosen by the peer and is a valid agent name
 *              speaks as that name (scripted test agents); an assigned one
 *              speaks as the name of its first hello, for good; a message
 *              before that is refused (TPC_EINVAL).  Mapping as above.
 *
 *  Pure: no sockets.  Names are [A-Za-z0-9_-]{1,63}; routing ids 1..255
 *  bytes.
 */
#ifndef COORD_ROUTE_H
#define COORD_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct coord_route coord_route_t;

/*  A table; CURVE: names come from the keys; LIVE_MS: how recently a
 *  connection must have been heard from to count as live (0: 3000).
 *  NULL if out of memory.                                                */
coord_route_t *coord_route_new (bool curve, uint64_t live_ms);
void coord_route_destroy (coord_route_t **self_p);

/*  A message came on connection RID (LEN bytes) with ZAP user id USER
 *  (NULL without CURVE) at NOW (ms, any monotonic clock); HELLO_NAME and
 *  HELLO_BOOT are the name and boot id (NULL if none) a hello gives (both
 *  NULL for any other message).  0 with the agent's name in NAME (SIZE
 *  bytes), the table updated; TPC_EPERM (a key that is not this agent's),
 *  TPC_EINVAL (no name known for this connection), TPC_ESTATE (a late
 *  hello on a retired connection), TPC_EBUSY (a duplicate) or TPC_EEXIST
 *  (an incarnation replaced: see above; NAME is then set, for the
 *  server's check of the current connection) or TPC_ENOMEM, with a sentence in
 *  WHY; then nothing changed.                                            */
int coord_route_from (coord_route_t *self, const void *rid, size_t len,
                      const char *user, const char *hello_name,
                      const char *hello_boot, uint64_t now, char *name,
                      size_t size, char *why, size_t whylen);

/*  Agent NAME's current connection is known gone (a send to it found no
 *  peer): it no longer counts as live for the duplicate check.           */
void coord_route_lost (coord_route_t *self, const char *name);

/*  The routing id of agent NAME's current connection (*LEN bytes,
 *  borrowed until the next call), or NULL if it has none.                */
const void *coord_route_to (coord_route_t *self, const char *name,
                            size_t *len);

#endif
