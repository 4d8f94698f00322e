/*  coord_elect: leader election of an HA coordinator group on etcd.
 *
 *  Coordinators started with one --id and --ha on one etcd prefix P form
 *  a group.  Each campaigns for the key P "leader" with a lease of its
 *  own (etcd v3 JSON gateway over HTTP: /v3/lease/grant, /v3/kv/txn,
 *  /v3/lease/keepalive, /v3/kv/range; libcurl and cJSON):
 *
 *    campaign   txn: compare create_revision(P"leader") == 0
 *                    success: put P"leader" = VALUE with our lease
 *                    failure: range P"leader" (who leads)
 *    won        the key's create_revision (the txn's revision) is the
 *               FENCE: the decision store compares it in every write
 *               (coord_store_etcd_config_t.fence_key / fence_rev), so a
 *               deposed leader's write is refused (TPC_EFENCED).
 *    keep       a thread renews the lease every ttl/3; when etcd says it
 *               expired (TTL 0), or no renewal succeeded for a whole ttl
 *               by our own monotonic clock (a pause, a partition), it
 *               calls LOST once and stops.
 *
 *  VALUE of P"leader" (JSON):
 *    {"id": coordinator id, "member": this process's name,
 *     "client": advertised client endpoint, "agent": advertised agent
 *     endpoint, "pid": process id}
 *
 *  States of one member (tpc_coordinator.c drives them):
 *
 *      start --> FOLLOWER --(key absent: grant, campaign, won)--> LEADER
 *                   ^   |  (poll the key every ttl/4; answer
 *                   |   |   TPC_ENOT_LEADER naming its "client")
 *                   |   +--(lost the race)--> FOLLOWER
 *                   |
 *                   +---- re-exec <--(lease lost | a write fenced)-- LEADER
 */
#ifndef COORD_ELECT_H
#define COORD_ELECT_H

#include <stddef.h>
#include <stdint.h>

#include "coord_etcd_http.h"

typedef struct coord_elect coord_elect_t;

typedef struct {
    const char *endpoints;      /* "etcd://host:port[,host:port...]",
                                   "etcds://..." for HTTPS */
    coord_etcd_auth_t auth;     /* TLS files, user file (as the store's) */
    const char *prefix;         /* "/tpc/<id>/" */
    const char *id;             /* the coordinator id */
    const char *member;         /* this process's name (unique) */
    const char *client_ep;      /* advertised endpoints */
    const char *agent_ep;
    uint64_t ttl_ms;            /* lease; rounded up to whole seconds */
    uint64_t timeout_ms;        /* one HTTP request; 0 = 2000 */
} coord_elect_config_t;

/*  The leader as read from its key.                                      */
typedef struct {
    char member[128];
    char client[256];
    char agent[256];
    int64_t create_rev;         /* 0: no leader */
    int64_t lease;
} coord_elect_leader_t;

/*  NULL with a sentence in ERRBUF on bad config or no memory.            */
coord_elect_t *coord_elect_new (const coord_elect_config_t *cfg,
                                char *errbuf, size_t errlen);

/*  Idempotent; stops the keepalive thread (the lease is left to expire,
 *  or revoked when REVOKE was asked by coord_elect_resign).             */
void coord_elect_destroy (coord_elect_t **self_p);

/*  Read P"leader" into *OUT (create_rev 0 when absent).  0 or an error.  */
int coord_elect_read (coord_elect_t *self, coord_elect_leader_t *out);

/*  One campaign: grant a lease, try to create P"leader".  1 won (*OUT is
 *  us; out->create_rev the fence), 0 someone else leads (*OUT is them),
 *  or a negative tpc_err_t (etcd unreachable...).                       */
int coord_elect_campaign (coord_elect_t *self, coord_elect_leader_t *out);

/*  Start renewing the lease from a thread; LOST (ARG) is called once,
 *  from that thread, when the lease is lost.  0 or an error.            */
int coord_elect_keep (coord_elect_t *self, void (*lost) (void *arg),
                      void *arg);

/*  Give up leadership on a clean stop: stop and join the keepalive
 *  thread, then revoke the lease (the key goes at once, a follower takes
 *  over without waiting a ttl).  Not from the keepalive thread.         */
void coord_elect_resign (coord_elect_t *self);

/*  Deposed, about to re-execute: revoke the lease at once, best effort,
 *  within about BUDGET_MS in all (its own HTTP handle: callable from any
 *  thread while another request is under way), so neither a follower
 *  nor our own next image waits a TTL for a key nobody renews.          */
void coord_elect_abandon (coord_elect_t *self, uint64_t budget_ms);

/*  The leader key (P"leader"), the lease's TTL in ms as granted, the ms
 *  left of it by our clock (0 when not leading), leadership terms won.  */
const char *coord_elect_key (coord_elect_t *self);
const char *coord_elect_member (coord_elect_t *self);
uint64_t coord_elect_ttl_ms (coord_elect_t *self);
uint64_t coord_elect_ttl_left_ms (coord_elect_t *self);

#endif
