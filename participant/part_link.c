/*  part_link: the agent's link to the coordinator (part of the I/O shell,
 *  over part_agent_int.h).  One DEALER connected to the coordinator's
 *  ROUTER (CURVE when the agent has keys), whose socket monitor tells of
 *  handshakes and reconnections: a new connection says hello at once, a
 *  failing handshake is said once, and a link that answers none of the
 *  hellos for five heartbeats is replaced by a new socket.  The first
 *  answer is said ("connected to the coordinator at EP"); while none has
 *  come, "waiting for the coordinator at EP" is said after 2 s, then
 *  every 30 s.  An "error" from the coordinator refuses this agent (its
 *  key is another agent's, or another live process has its name): it is
 *  logged and the agent stops (exit 2).  Messages are
 *  single-frame JSON (tpc_msg.h) both ways.
 */
#include "part_agent_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "tpc_clock.h"
#include "tpc_error.h"

int
part_link_send (void *arg, tpc_msg_t **msg_p)
{
    part_agent_t *self = arg;
    tpc_msg_t *msg = *msg_p;
    *msg_p = NULL;
    if (!msg)
        return TPC_EINVAL;
    if (self->fatal) {                  /* stopping: say nothing more */
        tpc_msg_destroy (&msg);
        return self->fatal;
    }
    char *buf = NULL;
    size_t len = 0;
    int rc = tpc_msg_encode (msg, &buf, &len);
    if (rc != 0)
        fprintf (stderr, "tpc-participant: cannot encode %s for %s: %s\n",
                 tpc_msg_type_name (msg->type), msg->gid ? msg->gid : "-",
                 tpc_strerror (rc));
    else if (zmq_send (self->sock, buf, len, ZMQ_DONTWAIT) < 0) {
        rc = TPC_EIO;
        fprintf (stderr, "tpc-participant: %s for %s not sent: %s\n",
                 tpc_msg_type_name (msg->type), msg->gid ? msg->gid : "-",
                 zmq_strerror (errno));
    }
    else if (msg->type == TPC_MSG_VOTE && msg->vote == TPC_VOTE_YES)
        tpc_crash_hit (self->crash, "agent.after_vote");
    free (buf);
    tpc_msg_destroy (&msg);
    return rc;
}

/*  Take every message waiting on the socket (up to a batch).            */
void
part_link_recv_all (part_agent_t *self)
{
    for (int i = 0; i < PART_AGENT_RECV_BATCH && !self->fatal; i++) {
        zmq_msg_t frame;
        zmq_msg_init (&frame);
        if (zmq_msg_recv (&frame, self->sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&frame);
            return;
        }
        self->heard_at = (uint64_t) tpc_now_ms ();   /* the link is alive */
        bool multi = zmq_msg_more (&frame);
        if (multi) {
            /* not ours: drain the rest of the multi-part message */
            while (zmq_msg_more (&frame)) {
                zmq_msg_close (&frame);
                zmq_msg_init (&frame);
                if (zmq_msg_recv (&frame, self->sock, 0) < 0)
                    break;
            }
            zmq_msg_close (&frame);
            fprintf (stderr, "tpc-participant: multi-frame message ignored\n");
            continue;
        }
        tpc_msg_t *msg = NULL;
        char err[256];
        int rc = tpc_msg_decode (zmq_msg_data (&frame), zmq_msg_size (&frame),
                                 NULL, &msg, err, sizeof err);
        zmq_msg_close (&frame);
        if (rc != 0) {
            fprintf (stderr, "tpc-participant: bad message from the coordinator "
                     "ignored: %s\n", err);
            continue;
        }
        if (msg->type == TPC_MSG_HELLO) {     /* the answer to ours */
            if (!self->connected_said)
                fprintf (stderr, "tpc-participant: connected to the "
                         "coordinator at %s (id %s)\n", self->cfg.endpoint,
                         msg->name ? msg->name : "?");
            else if (self->relinked || !self->answered)
                fprintf (stderr, "tpc-participant: the coordinator answers "
                         "again on the new link\n");
            self->connected_said = self->answered = true;
            self->relinked = false;
            tpc_msg_destroy (&msg);
            continue;
        }
        if (msg->type == TPC_MSG_ERROR && msg->code == TPC_EBUSY) {
            /* another live process has this name (or the coordinator
             * still believes this agent's previous process connected):
             * wait, say hello again at the next heartbeat; said every
             * 30 s */
            uint64_t now = (uint64_t) tpc_now_ms ();
            if (!self->busy_said_at || now - self->busy_said_at >= 30000) {
                fprintf (stderr, "tpc-participant: warning: the coordinator "
                         "at %s holds this agent's name for another live "
                         "process: %s; waiting until it is gone\n",
                         self->cfg.endpoint,
                         msg->message ? msg->message : "no reason given");
                self->busy_said_at = now;
            }
            tpc_msg_destroy (&msg);
            continue;
        }
        if (msg->type == TPC_MSG_ERROR) {     /* this agent is refused */
            fprintf (stderr, "tpc-participant: FATAL: the coordinator at %s "
                     "refused this agent (%s): %s.  Stopping.\n",
                     self->cfg.endpoint, tpc_errname (msg->code),
                     msg->message ? msg->message : "no reason given");
            self->refused = true;
            self->fatal = TPC_EPERM;
            tpc_msg_destroy (&msg);
            return;
        }
        self->now = (uint64_t) tpc_now_ms ();
        part_engine_on_message (self->engine, &msg, self->now);
        part_agent_drain (self);
    }
}

/*  Say once, until a handshake succeeds again, that the coordinator's
 *  handshake fails: a wrong --coordinator-public, a key the coordinator
 *  does not list, or plain text against CURVE.                           */
static void
s_handshake_event (part_agent_t *self, uint16_t event)
{
    bool failed = event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL
                  || event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
                  || event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH
                  || (event == ZMQ_EVENT_DISCONNECTED && self->hs_connecting);
    if (event == ZMQ_EVENT_CONNECTED)
        self->hs_connecting = true;
    else
        self->hs_connecting = false;
    if (event == ZMQ_EVENT_DISCONNECTED)
        self->linked = false;
    if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
        self->linked = true;
        self->heard_at = (uint64_t) tpc_now_ms ();
        if (self->hs_failing)
            fprintf (stderr, "tpc-participant: CURVE handshake with the "
                     "coordinator succeeded\n");
        self->hs_failing = false;
    }
    if (failed && !self->hs_failing) {
        self->hs_failing = true;
        fprintf (stderr, "tpc-participant: the %s handshake with the "
                 "coordinator at %s fails%s: check --coordinator-public, "
                 "and that this agent's public key is in the coordinator's "
                 "--allow-agents directory; retrying\n",
                 self->cfg.curve_secret ? "CURVE" : "ZeroMQ",
                 self->cfg.endpoint,
                 event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH
                 ? " (the coordinator refused this key)" : "");
    }
}

/*  The DEALER (re)connected to the coordinator: hello at once, so that a
 *  restarted coordinator learns of this agent within a round trip rather
 *  than a heartbeat.  The monitor's events: tpc_monitor.h.               */
void
part_link_monitor (part_agent_t *self)
{
    bool up = false;
    tpc_monitor_event_t ev;
    while (self->monitor && tpc_monitor_read (self->monitor, &ev) == 1) {
        if (ev.event == 0)
            continue;                   /* a malformed event frame */
        up |= ev.event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED;
        s_handshake_event (self, ev.event);
    }
    if (up) {
        part_engine_coordinator_up (self->engine, (uint64_t) tpc_now_ms ());
        part_agent_drain (self);
    }
}

/*  The link to the coordinator: a DEALER (the coordinator's ROUTER gives
 *  it its routing id: it sets none), its monitor, connected.  0, or -1
 *  with a sentence in ERRBUF (the socket may be half made: close it).   */
int
part_link_open (part_agent_t *self, char *errbuf, size_t errlen)
{
    const part_agent_config_t *config = &self->cfg;
    int linger = 500, hwm = 100000;
    /* a frame over twice the decoder's limit is never read into memory
     * (ZeroMQ drops the connection, which comes back); one between the
     * two is refused by the decoder, logged and dropped */
    int64_t maxmsg = 2 * (int64_t) TPC_MSG_MAX_SIZE_DEFAULT;
    self->sock = zmq_socket (self->zctx, ZMQ_DEALER);
    if (!self->sock
        || zmq_setsockopt (self->sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) != 0
        || zmq_setsockopt (self->sock, ZMQ_LINGER, &linger, sizeof linger) != 0
        || zmq_setsockopt (self->sock, ZMQ_SNDHWM, &hwm, sizeof hwm) != 0
        || zmq_setsockopt (self->sock, ZMQ_RCVHWM, &hwm, sizeof hwm) != 0)
        goto zerr;
    if ((config->curve_secret || config->coordinator_public)
        && tpc_curve_client_files (self->sock, config->curve_secret,
                                   config->coordinator_public, errbuf,
                                   errlen))
        return -1;
    char monep[96];
    snprintf (monep, sizeof monep, "inproc://tpc-agent-monitor-%p-%u",
              (void *) self, self->links++);
    self->monitor = tpc_monitor_new (self->zctx, self->sock,
                                     ZMQ_EVENT_HANDSHAKE_SUCCEEDED
                                     | ZMQ_EVENT_CONNECTED
                                     | ZMQ_EVENT_DISCONNECTED
                                     | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL
                                     | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
                                     | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH, monep);
    if (!self->monitor)
        goto zerr;
    if (zmq_connect (self->sock, config->endpoint) != 0) {
        snprintf (errbuf, errlen, "cannot connect to %s: %s", config->endpoint,
                  zmq_strerror (errno));
        return -1;
    }
    self->linked = self->hs_connecting = false;
    return 0;
zerr:
    snprintf (errbuf, errlen, "ZeroMQ: %s", zmq_strerror (errno));
    return -1;
}

void
part_link_close (part_agent_t *self)
{
    tpc_monitor_destroy (&self->monitor);   /* before its socket */
    if (self->sock)
        zmq_close (self->sock);
    self->sock = NULL;
    self->linked = false;
}

/*  The link is up but the coordinator answered none of our hellos for a
 *  while (a connection it no longer reads, a peer that stopped
 *  forwarding): drop the socket and make a new connection.               */
void
part_link_check (part_agent_t *self)
{
    uint64_t hb = self->cfg.heartbeat_ms ? self->cfg.heartbeat_ms : 1000;
    uint64_t dead_ms = 5 * hb > 1000 ? 5 * hb : 1000;
    /* no answer to our hellos yet: say so after a while, then every
     * PART_LINK_WAIT_SAY_MS, until the coordinator answers */
    if (!self->answered && self->wait_say_at == 0)
        self->wait_say_at = self->now + PART_LINK_WAIT_FIRST_MS;
    else if (!self->answered && self->now >= self->wait_say_at) {
        fprintf (stderr, "tpc-participant: waiting for the coordinator at "
                 "%s (no answer to this agent's hellos yet%s)\n",
                 self->cfg.endpoint, self->hs_failing
                 ? ": the handshake fails, see above" : self->linked
                 ? "" : "; not connected");
        self->wait_say_at = self->now + PART_LINK_WAIT_SAY_MS;
    }
    if (!self->linked || self->now < self->heard_at + dead_ms)
        return;
    fprintf (stderr, "tpc-participant: warning: no answer from the "
             "coordinator at %s for %llu ms (hellos unanswered): the link "
             "is dead; reconnecting with a new socket\n", self->cfg.endpoint,
             (unsigned long long) (self->now - self->heard_at));
    part_link_close (self);
    char err[512];
    if (part_link_open (self, err, sizeof err) != 0) {
        fprintf (stderr, "tpc-participant: FATAL: cannot make a new link to "
                 "the coordinator: %s\n", err);
        self->fatal = TPC_EIO;
        return;
    }
    self->heard_at = self->now;
    self->relinked = true;
    self->answered = false;
    self->wait_say_at = 0;
}
