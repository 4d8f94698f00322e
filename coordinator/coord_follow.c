/*  coord_follow: the follower's loop (see coord_follow.h).  Wire: the
 *  "error" message of common/tpc_msg.h with code TPC_ENOT_LEADER and the
 *  optional "leader" field.
 */
#include "coord_follow.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "tpc_clock.h"
#include "tpc_curve.h"
#include "tpc_error.h"
#include "tpc_msg.h"
#include "tpc_zap.h"

/*  The "clusterinfo" of a follower (ELECT) that follows LEADER.         */
static tpc_msg_t *
s_clusterinfo (coord_elect_t *elect, const char *leader, uint64_t rid)
{
    tpc_msg_t *msg = tpc_msg_new (TPC_MSG_CLUSTERINFO);
    if (msg && !tpc_msg_set_str (&msg->role, "follower")
        && !tpc_msg_set_str (&msg->member, coord_elect_member (elect))
        && !tpc_msg_set_str (&msg->leader, leader)) {
        msg->rid = rid;
        msg->lease_ttl_ms = coord_elect_ttl_ms (elect);
        return msg;
    }
    tpc_msg_destroy (&msg);
    return NULL;
}

/*  Answer every message waiting on SOCK with TPC_ENOT_LEADER (a client's
 *  "cluster", when ELECT is given, with clusterinfo).                   */
static void
s_drain (void *sock, const char *leader, coord_elect_t *elect)
{
    for (int n = 0; n < 1024; n++) {
        zmq_msg_t id, body;
        zmq_msg_init (&id);
        zmq_msg_init (&body);
        if (zmq_msg_recv (&id, sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&id);
            zmq_msg_close (&body);
            return;
        }
        bool more = zmq_msg_more (&id), first = true;
        while (more) {
            zmq_msg_t part;
            zmq_msg_init (&part);
            if (zmq_msg_recv (&part, sock, 0) < 0) {
                zmq_msg_close (&part);
                break;
            }
            more = zmq_msg_more (&part);
            if (first)
                zmq_msg_move (&body, &part);
            first = false;
            zmq_msg_close (&part);
        }
        tpc_msg_t *req = NULL, *msg = NULL;
        char *buf = NULL;
        size_t len = 0;
        if (elect && !tpc_msg_decode (zmq_msg_data (&body),
                                      zmq_msg_size (&body), NULL, &req,
                                      NULL, 0)
            && req->type == TPC_MSG_CLUSTER
            && (msg = s_clusterinfo (elect, leader, req->rid))) {
            if (!tpc_msg_encode (msg, &buf, &len)
                && zmq_send (sock, zmq_msg_data (&id), zmq_msg_size (&id),
                             ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0)
                (void) zmq_send (sock, buf, len, ZMQ_DONTWAIT);
            tpc_msg_destroy (&msg);
        }
        else if ((msg = tpc_msg_new (TPC_MSG_ERROR))
                 && !tpc_msg_set_str (&msg->message,
                                     tpc_strerror (TPC_ENOT_LEADER))
            && !tpc_msg_set_str (&msg->leader, leader)) {
            msg->code = TPC_ENOT_LEADER;
            msg->rid = tpc_msg_peek_rid (zmq_msg_data (&body),
                                         zmq_msg_size (&body));
            if (!tpc_msg_encode (msg, &buf, &len)
                && zmq_send (sock, zmq_msg_data (&id), zmq_msg_size (&id),
                             ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0)
                (void) zmq_send (sock, buf, len, ZMQ_DONTWAIT);
        }
        free (buf);
        tpc_msg_destroy (&msg);
        tpc_msg_destroy (&req);
        zmq_msg_close (&id);
        zmq_msg_close (&body);
    }
}

/*  A ROUTER bound to EP; a CURVE server in ZAP DOMAIN when CERT.       */
static void *
s_bind (void *ctx, const char *ep, const tpc_curve_cert_t *cert,
        const char *domain, char *errbuf, size_t errlen)
{
    void *sock = zmq_socket (ctx, ZMQ_ROUTER);
    int zero = 0, one = 1;
    if (sock && !zmq_setsockopt (sock, ZMQ_LINGER, &zero, sizeof zero)
        && !zmq_setsockopt (sock, ZMQ_ROUTER_MANDATORY, &one, sizeof one)
        && (!cert || !tpc_curve_server_setup (sock, cert, domain))
        && !zmq_bind (sock, ep))
        return sock;
    snprintf (errbuf, errlen, "follower: cannot bind %s: %s", ep,
              zmq_strerror (zmq_errno ()));
    if (sock)
        zmq_close (sock);
    return NULL;
}

int
coord_follow_run (const coord_follow_config_t *cfg, coord_elect_t *elect,
                  volatile sig_atomic_t *stop, coord_elect_leader_t *won,
                  char *errbuf, size_t errlen)
{
    int rc = 0;
    void *ctx = zmq_ctx_new (), *clients = NULL, *agents = NULL;
    char leader[256] = "", leader_agent[256] = "", member[128] = "";
    bool said_ready = false;
    tpc_zap_t *zap = NULL;
    tpc_curve_cert_t cert;
    memset (&cert, 0, sizeof cert);
    if (!ctx) {
        snprintf (errbuf, errlen, "follower: no ZeroMQ context");
        return TPC_ENOMEM;
    }
    if (cfg->curve_secret) {
        /* the leader's setup (coord_server's s_curve_setup): the ZAP
         * handler before any socket binds                              */
        char err[512];
        tpc_zap_config_t zc = { .allow_clients = cfg->allow_clients,
                                .allow_admins = cfg->allow_admins,
                                .allow_agents = cfg->allow_agents,
                                .log_name = "tpc-coordinator" };
        if (tpc_curve_cert_load (cfg->curve_secret, true, &cert, err,
                                 sizeof err)) {
            snprintf (errbuf, errlen, "--curve-secret: %s", err);
            rc = TPC_EINVAL;
            goto cleanup;
        }
        if (!cfg->allow_agents
            || (!cfg->allow_clients && !cfg->allow_admins)) {
            snprintf (errbuf, errlen, "--allow-agents DIR and one of "
                      "--allow-clients / --allow-admins DIR are required "
                      "with --curve-secret");
            rc = TPC_EINVAL;
            goto cleanup;
        }
        if (!(zap = tpc_zap_new (ctx, &zc, errbuf, errlen))) {
            rc = TPC_EINVAL;
            goto cleanup;
        }
    }
    const tpc_curve_cert_t *c = zap ? &cert : NULL;
    if (!(clients = s_bind (ctx, cfg->bind, c, TPC_ZAP_CLIENTS, errbuf,
                            errlen))
        || !(agents = s_bind (ctx, cfg->agent_bind, c, TPC_ZAP_AGENTS,
                              errbuf, errlen))) {
        rc = TPC_ECONNECT;
        goto cleanup;
    }
    uint64_t poll_ms = cfg->poll_ms ? cfg->poll_ms : 500;
    int64_t next = 0;
    while (!*stop) {
        if (tpc_now_ms () >= next) {
            next = tpc_now_ms () + (int64_t) poll_ms;
            coord_elect_leader_t l;
            int r = coord_elect_read (elect, &l);
            if (!r && !l.create_rev) {
                r = coord_elect_campaign (elect, &l);
                if (r == 1) {
                    *won = l;
                    rc = 1;
                    goto cleanup;
                }
            }
            if (!r && l.create_rev && (strcmp (leader, l.client)
                                       || strcmp (member, l.member))) {
                snprintf (leader, sizeof leader, "%s", l.client);
                snprintf (leader_agent, sizeof leader_agent, "%s", l.agent);
                snprintf (member, sizeof member, "%s", l.member);
                fprintf (stderr, "tpc-coordinator: follower id=%s "
                         "leader=%s member=%s\n", cfg->id, leader, member);
            }
            if (!said_ready) {
                fprintf (stderr, "tpc-coordinator: ready id=%s "
                         "role=follower clients=%s agents=%s\n", cfg->id,
                         cfg->bind, cfg->agent_bind);
                said_ready = true;
            }
        }
        zmq_pollitem_t items[2] = {
            { clients, 0, ZMQ_POLLIN, 0 }, { agents, 0, ZMQ_POLLIN, 0 } };
        int64_t wait = next - tpc_now_ms ();
        if (zmq_poll (items, 2, wait > 0 ? (long) wait : 0) < 0)
            continue;           /* EINTR: a signal; *stop says */
        if (items[0].revents & ZMQ_POLLIN)
            s_drain (clients, leader, elect);
        if (items[1].revents & ZMQ_POLLIN)
            s_drain (agents, leader_agent, NULL);
    }
cleanup:
    if (clients)
        zmq_close (clients);
    if (agents)
        zmq_close (agents);
    tpc_zap_destroy (&zap);
    explicit_bzero (&cert, sizeof cert);
    zmq_ctx_term (ctx);
    return rc;
}
