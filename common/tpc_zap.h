/*  tpc_zap: the ZAP handler (ZeroMQ RFC 27) and its roles.
 *
 *  Shared by the coordinator (its client and agent endpoints) and by an
 *  agent's 3PC peer link (domain TPC_ZAP_AGENTS only).  With CURVE on,
 *  every handshake on the coordinator's two ROUTER sockets is decided
 *  here.  Each socket names a ZAP domain: the client endpoint
 *  TPC_ZAP_CLIENTS, the agent endpoint TPC_ZAP_AGENTS.  A client's
 *  public key is accepted on the client endpoint if a certificate with
 *  that key lies in the admins directory (role admin) or the clients
 *  directory (role client); an agent's key only on the agent endpoint, and
 *  only from the agents directory.  Any other key, domain or mechanism is
 *  refused (status 400) and the connection never carries a message.
 *
 *  An accepted handshake gets the ZAP user id "<role>:<name>" (the
 *  certificate's name, tpc_curve.h), which ZeroMQ attaches to every
 *  message of that connection (zmq_msg_gets (msg, "User-Id")); the shell
 *  reads it with tpc_role_parse() and checks each request with
 *  tpc_role_may().  The agent shell knows an agent by its certificate's
 *  name, never by its routing id (the coordinator's route table), so one agent's key
 *  cannot speak for another.
 *
 *  ROLES            may send
 *    client         begin exec commit rollback submit status list summary
 *    admin          everything a client may, and resolve
 *    agent          hello worked vote ack query (agent endpoint only)
 *
 *  The allow-list directories are read at start and again whenever a
 *  directory's modification time changes (a key file added, removed or
 *  renamed), so keys are granted and revoked without a restart.  Files
 *  whose name ends in "_secret" or starts with "." are skipped; a file
 *  that is not a certificate is reported once and skipped.  A directory
 *  that cannot be read refuses every key of its role.
 *
 *  The handler runs in its own thread on the coordinator's ZeroMQ context
 *  (it must answer handshakes while the main loop syncs the log); it
 *  shares nothing with the main thread but the context.  Refusals are
 *  logged on stderr under the daemon's name (the coordinator, or an agent
 *  whose peer link uses this handler), at most once per key and endpoint
 *  every 10 s.
 */
#ifndef TPC_ZAP_H
#define TPC_ZAP_H

#include <stdbool.h>
#include <stddef.h>

#include "tpc_msg.h"

#define TPC_ZAP_CLIENTS "tpc-clients"
#define TPC_ZAP_AGENTS "tpc-agents"

typedef enum {
    TPC_ROLE_NONE = 0,          /* unknown: may send nothing */
    TPC_ROLE_CLIENT,
    TPC_ROLE_ADMIN,
    TPC_ROLE_AGENT
} tpc_role_t;

typedef struct tpc_zap tpc_zap_t;

typedef struct {
    const char *allow_clients;  /* directories of public certificates; */
    const char *allow_admins;   /* NULL = nobody has that role */
    const char *allow_agents;
    const char *log_name;       /* lines on stderr start "<log_name>: "
                                   (the daemon's name; NULL: tpc_zap) */
} tpc_zap_config_t;

/*  Bind the ZAP endpoint in CTX and start the handler thread.  Call before
 *  any CURVE server socket of CTX binds.  NULL with a sentence in ERRBUF
 *  (a directory that is not there, or a second handler in CTX).          */
tpc_zap_t *tpc_zap_new (void *ctx, const tpc_zap_config_t *cfg,
                        char *errbuf, size_t errlen);

/*  Stop the thread and close its sockets (before zmq_ctx_term); *self_p
 *  becomes NULL.  Idempotent.                                             */
void tpc_zap_destroy (tpc_zap_t **self_p);

/*  Keys of ROLE loaded when the handler started.                          */
size_t tpc_zap_keys (tpc_zap_t *self, tpc_role_t role);

/*  The role and (if NAME is not NULL) the name in USER_ID "<role>:<name>";
 *  TPC_ROLE_NONE for anything else.                                      */
tpc_role_t tpc_role_parse (const char *user_id, char *name, size_t size);

/*  "client", "admin", "agent" or "none".                                  */
const char *tpc_role_name (tpc_role_t role);

/*  May a peer of ROLE send a message of TYPE?                             */
bool tpc_role_may (tpc_role_t role, tpc_msg_type_t type);

#endif
