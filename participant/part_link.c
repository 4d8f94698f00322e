/*  part_link: the agent's links to the coordinator (part of the I/O shell,
 *  over part_agent_int.h).  One DEALER per coordinator endpoint (one, or
 *  the members of an HA group: --coordinator EP,EP,...), each connected
 *  to that coordinator's ROUTER (CURVE when the agent has keys: every
 *  member holds the same coordinator key, --coordinator-public), whose
 *  socket monitor tells of handshakes and reconnections: a new connection
 *  says hello at once, a failing handshake is said once, and a link that
 *  answers none of the hellos for five heartbeats is replaced by a new
 *  socket.  The first answer on a link is said ("connected to the
 *  coordinator at EP"); while none has come, "waiting for the coordinator
 *  at EP" is said after 2 s, then every 30 s.  An "error" from the
 *  coordinator refuses this agent (its key is another agent's, or another
 *  live process has its name): it is logged and the agent stops (exit 2).
 *  Messages are single-frame JSON (tpc_msg.h) both ways.
 *
 *  AN HA GROUP (docs/PROTOCOL.md "Finding the leader")
 *  Every link gets the hellos (heartbeats).  The leader answers a hello
 *  with hello; a follower with an error TPC_ENOT_LEADER, which is not a
 *  refusal: the link is kept, marked follower, and said once per change.
 *  The leader link is the one whose hello answer came most recently; when
 *  it changes, the engine is told the coordinator is up (it says hello
 *  and asks again about every gid in doubt).  Where messages go:
 *
 *      hello                 every link
 *      query (recovery)      the leader link only: a follower never
 *                            decides, and only the leader's answer
 *                            counts; no leader known: not sent (the
 *                            engine asks again on its timer, and when a
 *                            leader answers a hello)
 *      any other (replies:   the link the gid's last request came on
 *      worked, vote, ack,    (routes[], a hash table by gid); else the
 *      known, state)         leader link; else the first link
 *
 *  Work (work, prepare, decide, outcome_of ...) is served from any link:
 *  only a leader sends it.  With one endpoint all of this reduces to
 *  today's single link.
 *
 *  BATCHES (protocol 2)
 *  A "decides" frame is handed to the engine as one decide per gid, in
 *  its order (committed first, then aborted); a "precommits" frame as
 *  one precommit per gid (each answered by its own state).  The acks the engine sends
 *  to the coordinator (without a reason) are held until the loop turn
 *  ends (part_link_flush): then one "acks" frame per link carries them
 *  (a lone one goes as "ack"), TPC_MSG_BATCH_MAX gids a frame at most.
 *  An "error" TPC_EMSG_VERSION (the coordinator refuses this agent's
 *  protocol version) stops the agent like any refusal (exit 2):
 *  retrying cannot help.  A single frame of a newer "v" is logged and
 *  ignored, as any frame that does not decode.
 */
#include "part_agent_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "tpc_clock.h"
#include "tpc_error.h"

static size_t
s_route_slot (const char *gid)
{
    uint32_t h = 2166136261u;           /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *) gid; *p; p++)
        h = (h ^ *p) * 16777619u;
    return h % PART_ROUTES;
}

/*  GID's last request came on link I.                                    */
static void
s_route_set (part_agent_t *self, const char *gid, size_t i)
{
    if (!self->routes || !gid)
        return;
    part_route_t *r = &self->routes[s_route_slot (gid)];
    snprintf (r->gid, sizeof r->gid, "%s", gid);
    r->link = (int) i;
}

/*  The link for MSG (see the header comment), or -1: every link.         */
static int
s_route (part_agent_t *self, const tpc_msg_t *msg)
{
    if (self->nlinks == 1)
        return 0;
    if (msg->type == TPC_MSG_HELLO)
        return -1;
    if (msg->type == TPC_MSG_QUERY)
        return self->leader;            /* -1: no leader known, not sent */
    if (msg->gid && self->routes) {
        const part_route_t *r = &self->routes[s_route_slot (msg->gid)];
        if (!strcmp (r->gid, msg->gid))
            return r->link;
    }
    return self->leader >= 0 ? self->leader : 0;
}

static int
s_send_on (part_agent_t *self, part_link_t *link, const char *buf,
           size_t len, const tpc_msg_t *msg)
{
    link->dirty = true;                 /* see part_agent_run */
    if (zmq_send (link->sock, buf, len, ZMQ_DONTWAIT) >= 0)
        return 0;
    fprintf (stderr, "tpc-participant: %s for %s not sent to %s: %s\n",
             tpc_msg_type_name (msg->type), msg->gid ? msg->gid : "-",
             link->endpoint, zmq_strerror (errno));
    (void) self;
    return TPC_EIO;
}

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
    if (msg->type == TPC_MSG_ACK && !msg->reason && !msg->name) {
        if (self->nacks == self->acks_cap) {
            size_t cap = self->acks_cap ? self->acks_cap * 2 : 32;
            tpc_msg_t **v = realloc (self->acks, cap * sizeof *v);
            if (v) {
                self->acks = v;
                self->acks_cap = cap;
            }
        }
        if (self->nacks < self->acks_cap) {     /* else: sent alone now */
            self->acks[self->nacks++] = msg;
            return 0;
        }
    }
    char *buf = NULL;
    size_t len = 0;
    int rc = tpc_msg_encode (msg, &buf, &len);
    int to = rc ? 0 : s_route (self, msg);
    pa_trace_sent (self, msg);
    if (rc != 0)
        fprintf (stderr, "tpc-participant: cannot encode %s for %s: %s\n",
                 tpc_msg_type_name (msg->type), msg->gid ? msg->gid : "-",
                 tpc_strerror (rc));
    else if (msg->type == TPC_MSG_QUERY && to < 0) {
        if (self->verbose)
            fprintf (stderr, "tpc-participant: query for %s held: no "
                     "coordinator of the group has answered as leader "
                     "yet\n", msg->gid ? msg->gid : "-");
    }
    else if (to < 0) {
        for (size_t i = 0; i < self->nlinks; i++)
            if (s_send_on (self, &self->links[i], buf, len, msg))
                rc = TPC_EIO;
    }
    else {
        rc = s_send_on (self, &self->links[to], buf, len, msg);
        if (!rc && msg->type == TPC_MSG_VOTE && msg->vote == TPC_VOTE_YES)
            tpc_crash_hit (self->crash, "agent.after_vote");
    }
    free (buf);
    tpc_msg_destroy (&msg);
    return rc;
}

/*  Send the N acks at ACKS (to link TO) as one frame.                    */
static void
s_send_acks (part_agent_t *self, int to, tpc_msg_t **acks, size_t n)
{
    char *commits[TPC_MSG_BATCH_MAX], *aborts[TPC_MSG_BATCH_MAX];
    tpc_msg_t frame = { .type = TPC_MSG_ACKS, .affected = -1,
                        .commits = commits, .aborts = aborts };
    for (size_t i = 0; i < n; i++) {
        if (acks[i]->outcome == TPC_OUTCOME_COMMITTED)
            commits[frame.ncommits++] = acks[i]->gid;
        else
            aborts[frame.naborts++] = acks[i]->gid;
    }
    const tpc_msg_t *msg = n == 1 ? acks[0] : &frame;
    char *buf = NULL;
    size_t len = 0;
    int rc = tpc_msg_encode (msg, &buf, &len);
    if (rc)
        fprintf (stderr, "tpc-participant: cannot encode %zu ack(s): %s\n",
                 n, tpc_strerror (rc));
    else
        s_send_on (self, &self->links[to], buf, len, msg);
    free (buf);
}

void
part_link_flush (part_agent_t *self)
{
    size_t n = self->nacks;
    self->nacks = 0;
    bool send = !self->fatal && self->nlinks > 0;   /* stopping: drop */
    tpc_msg_t *group[TPC_MSG_BATCH_MAX];
    bool done[PART_LINKS_MAX] = { false };
    /* a link each, in the order held: the acks routed to it */
    for (size_t first = 0; send && first < n; first++) {
        int to = s_route (self, self->acks[first]);
        if (to < 0 || (size_t) to >= self->nlinks || done[to])
            continue;
        done[to] = true;
        size_t k = 0;
        for (size_t i = first; i < n; i++) {
            if (s_route (self, self->acks[i]) != to)
                continue;
            group[k++] = self->acks[i];
            if (k == TPC_MSG_BATCH_MAX) {
                s_send_acks (self, to, group, k);
                k = 0;
            }
        }
        if (k)
            s_send_acks (self, to, group, k);
    }
    for (size_t i = 0; i < n; i++)
        tpc_msg_destroy (&self->acks[i]);
}

/*  Link I answered our hello with hello: it is the leader (or the only
 *  coordinator).                                                         */
static void
s_hello_answer (part_agent_t *self, size_t i, const tpc_msg_t *msg)
{
    part_link_t *link = &self->links[i];
    if (!link->connected_said)
        fprintf (stderr, "tpc-participant: connected to the coordinator at "
                 "%s (id %s)\n", link->endpoint, msg->name ? msg->name : "?");
    else if (link->relinked || !link->answered || link->follower)
        fprintf (stderr, "tpc-participant: the coordinator answers "
                 "again%s (%s)\n", link->follower ? ", as the leader"
                 : " on the new link", link->endpoint);
    link->connected_said = link->answered = true;
    link->relinked = link->follower = false;
    if (self->leader == (int) i)
        return;
    self->leader = (int) i;
    if (self->nlinks > 1) {
        /* a new leader: hello, and every gid in doubt asked of it */
        fprintf (stderr, "tpc-participant: leader of the coordinator group: "
                 "%s\n", link->endpoint);
        part_engine_coordinator_up (self->engine, (uint64_t) tpc_now_ms ());
        part_agent_drain (self);
    }
}

/*  Link I answered our hello with not_leader: a follower; keep it.       */
static void
s_not_leader (part_agent_t *self, size_t i, const tpc_msg_t *msg)
{
    part_link_t *link = &self->links[i];
    if (!link->follower || !link->answered)
        fprintf (stderr, "tpc-participant: the coordinator at %s is a "
                 "follower of its group (leader: %s); link kept\n",
                 link->endpoint, msg->leader && *msg->leader ? msg->leader
                 : "not known");
    link->follower = link->answered = link->connected_said = true;
    link->relinked = false;
    if (self->leader == (int) i)
        self->leader = -1;              /* until a hello is answered */
}

/*  "decides" or "precommits" on link I: one decide (precommit) per gid
 *  to the engine, in order.                                              */
static void
s_decides (part_agent_t *self, size_t i, const tpc_msg_t *batch)
{
    bool decide = batch->type == TPC_MSG_DECIDES;
    for (int c = 0; c < 2 && !self->fatal; c++) {
        char **gids = !decide ? batch->gids : c ? batch->aborts
                                                : batch->commits;
        size_t n = !decide ? (c ? 0 : batch->ngids)
                           : c ? batch->naborts : batch->ncommits;
        for (size_t k = 0; k < n && !self->fatal; k++) {
            tpc_msg_t *msg = tpc_msg_new (decide ? TPC_MSG_DECIDE
                                                 : TPC_MSG_PRECOMMIT);
            if (!msg || tpc_msg_set_str (&msg->gid, gids[k])) {
                fprintf (stderr, "tpc-participant: out of memory: %s "
                         "for %s dropped (the coordinator sends it "
                         "again)\n", decide ? "decide" : "precommit",
                         gids[k]);
                tpc_msg_destroy (&msg);
                continue;
            }
            if (decide)
                msg->outcome = c ? TPC_OUTCOME_ABORTED
                                 : TPC_OUTCOME_COMMITTED;
            msg->version = batch->version;
            s_route_set (self, msg->gid, i);
            pa_trace_recv (self, msg);
            self->now = (uint64_t) tpc_now_ms ();
            part_engine_on_message (self->engine, &msg, self->now);
            tpc_msg_destroy (&msg);
            part_agent_drain (self);
        }
    }
}

/*  Take every message waiting on link I (up to a batch).                */
void
part_link_recv_all (part_agent_t *self, size_t i)
{
    part_link_t *link = &self->links[i];
    link->dirty = true;
    for (int n = 0; n < PART_AGENT_RECV_BATCH && !self->fatal; n++) {
        zmq_msg_t frame;
        zmq_msg_init (&frame);
        if (zmq_msg_recv (&frame, link->sock, ZMQ_DONTWAIT) < 0) {
            /* EAGAIN: ZeroMQ processed the socket's commands, its
             * ZMQ_FD signals the next message (part_agent_run) */
            if (errno == EAGAIN)
                link->dirty = false;
            zmq_msg_close (&frame);
            return;
        }
        link->heard_at = (uint64_t) tpc_now_ms ();   /* the link is alive */
        bool multi = zmq_msg_more (&frame);
        if (multi) {
            /* not ours: drain the rest of the multi-part message */
            while (zmq_msg_more (&frame)) {
                zmq_msg_close (&frame);
                zmq_msg_init (&frame);
                if (zmq_msg_recv (&frame, link->sock, 0) < 0)
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
            s_hello_answer (self, i, msg);
            tpc_msg_destroy (&msg);
            continue;
        }
        if (msg->type == TPC_MSG_ERROR && msg->code == TPC_ENOT_LEADER) {
            s_not_leader (self, i, msg);
            tpc_msg_destroy (&msg);
            continue;
        }
        if (msg->type == TPC_MSG_ERROR && msg->code == TPC_EBUSY) {
            /* another live process has this name (or the coordinator
             * still believes this agent's previous process connected):
             * wait, say hello again at the next heartbeat; said every
             * 30 s */
            uint64_t now = (uint64_t) tpc_now_ms ();
            if (!link->busy_said_at || now - link->busy_said_at >= 30000) {
                fprintf (stderr, "tpc-participant: warning: the coordinator "
                         "at %s holds this agent's name for another live "
                         "process: %s; waiting until it is gone\n",
                         link->endpoint,
                         msg->message ? msg->message : "no reason given");
                link->busy_said_at = now;
            }
            tpc_msg_destroy (&msg);
            continue;
        }
        if (msg->type == TPC_MSG_ERROR) {     /* this agent is refused */
            fprintf (stderr, "tpc-participant: FATAL: the coordinator at %s "
                     "refused this agent (%s): %s.  Stopping.\n",
                     link->endpoint, tpc_errname (msg->code),
                     msg->message ? msg->message : "no reason given");
            self->refused = true;
            self->fatal = TPC_EPERM;
            tpc_msg_destroy (&msg);
            return;
        }
        if (msg->type == TPC_MSG_DECIDES
            || msg->type == TPC_MSG_PRECOMMITS) {
            s_decides (self, i, msg);
            tpc_msg_destroy (&msg);
            continue;
        }
        pa_trace_recv (self, msg);
        s_route_set (self, msg->gid, i);
        self->now = (uint64_t) tpc_now_ms ();
        part_engine_on_message (self->engine, &msg, self->now);
        part_agent_drain (self);
    }
}

/*  Say once, until a handshake succeeds again, that the coordinator's
 *  handshake fails: a wrong --coordinator-public, a key the coordinator
 *  does not list, or plain text against CURVE.                           */
static void
s_handshake_event (part_agent_t *self, part_link_t *link, uint16_t event)
{
    bool failed = event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL
                  || event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
                  || event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH
                  || (event == ZMQ_EVENT_DISCONNECTED && link->hs_connecting);
    if (event == ZMQ_EVENT_CONNECTED)
        link->hs_connecting = true;
    else
        link->hs_connecting = false;
    if (event == ZMQ_EVENT_DISCONNECTED)
        link->linked = false;
    if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
        link->linked = true;
        link->heard_at = (uint64_t) tpc_now_ms ();
        if (link->hs_failing)
            fprintf (stderr, "tpc-participant: CURVE handshake with the "
                     "coordinator succeeded (%s)\n", link->endpoint);
        link->hs_failing = false;
    }
    if (failed && !link->hs_failing) {
        link->hs_failing = true;
        fprintf (stderr, "tpc-participant: the %s handshake with the "
                 "coordinator at %s fails%s: check --coordinator-public, "
                 "and that this agent's public key is in the coordinator's "
                 "--allow-agents directory; retrying\n",
                 self->cfg.curve_secret ? "CURVE" : "ZeroMQ",
                 link->endpoint,
                 event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH
                 ? " (the coordinator refused this key)" : "");
    }
}

/*  A DEALER (re)connected to a coordinator: hello at once, so that a
 *  restarted coordinator learns of this agent within a round trip rather
 *  than a heartbeat.  The monitor's events: tpc_monitor.h.               */
void
part_link_monitor (part_agent_t *self)
{
    bool up = false;
    for (size_t i = 0; i < self->nlinks; i++) {
        part_link_t *link = &self->links[i];
        tpc_monitor_event_t ev;
        while (link->monitor && tpc_monitor_read (link->monitor, &ev) == 1) {
            if (ev.event == 0)
                continue;               /* a malformed event frame */
            up |= ev.event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED;
            s_handshake_event (self, link, ev.event);
        }
    }
    if (up) {
        part_engine_coordinator_up (self->engine, (uint64_t) tpc_now_ms ());
        part_agent_drain (self);
    }
}

/*  Link I: a DEALER (the coordinator's ROUTER gives it its routing id: it
 *  sets none), its monitor, connected.  0, or -1 with a sentence in
 *  ERRBUF (the socket may be half made: close it).                       */
static int
s_link_open (part_agent_t *self, part_link_t *link, char *errbuf,
             size_t errlen)
{
    const part_agent_config_t *config = &self->cfg;
    int linger = 500, hwm = 100000;
    /* a frame over twice the decoder's limit is never read into memory
     * (ZeroMQ drops the connection, which comes back); one between the
     * two is refused by the decoder, logged and dropped */
    int64_t maxmsg = 2 * (int64_t) TPC_MSG_MAX_SIZE_DEFAULT;
    link->sock = zmq_socket (self->zctx, ZMQ_DEALER);
    link->dirty = true;
    if (!link->sock
        || zmq_setsockopt (link->sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) != 0
        || zmq_setsockopt (link->sock, ZMQ_LINGER, &linger, sizeof linger) != 0
        || zmq_setsockopt (link->sock, ZMQ_SNDHWM, &hwm, sizeof hwm) != 0
        || zmq_setsockopt (link->sock, ZMQ_RCVHWM, &hwm, sizeof hwm) != 0)
        goto zerr;
    if ((config->curve_secret || config->coordinator_public)
        && tpc_curve_client_files (link->sock, config->curve_secret,
                                   config->coordinator_public, errbuf,
                                   errlen))
        return -1;
    char monep[96];
    snprintf (monep, sizeof monep, "inproc://tpc-agent-monitor-%p-%u",
              (void *) self, self->links_made++);
    link->monitor = tpc_monitor_new (self->zctx, link->sock,
                                     ZMQ_EVENT_HANDSHAKE_SUCCEEDED
                                     | ZMQ_EVENT_CONNECTED
                                     | ZMQ_EVENT_DISCONNECTED
                                     | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL
                                     | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
                                     | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH, monep);
    if (!link->monitor)
        goto zerr;
    if (zmq_connect (link->sock, link->endpoint) != 0) {
        snprintf (errbuf, errlen, "cannot connect to %s: %s", link->endpoint,
                  zmq_strerror (errno));
        return -1;
    }
    link->linked = link->hs_connecting = false;
    return 0;
zerr:
    snprintf (errbuf, errlen, "ZeroMQ: %s", zmq_strerror (errno));
    return -1;
}

static void
s_link_close (part_link_t *link)
{
    tpc_monitor_destroy (&link->monitor);   /* before its socket */
    if (link->sock)
        zmq_close (link->sock);
    link->sock = NULL;
    link->linked = false;
}

int
part_link_open (part_agent_t *self, char *errbuf, size_t errlen)
{
    const char *p = self->cfg.endpoint;
    self->leader = -1;
    for (;;) {
        const char *comma = strchr (p, ',');
        size_t len = comma ? (size_t) (comma - p) : strlen (p);
        while (len && (*p == ' ' || *p == '\t'))
            p++, len--;
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (len == 0) {
            snprintf (errbuf, errlen, "--coordinator '%s': an empty "
                      "endpoint in the list", self->cfg.endpoint);
            return -1;
        }
        if (self->nlinks == PART_LINKS_MAX) {
            snprintf (errbuf, errlen, "--coordinator: more than %d "
                      "endpoints", PART_LINKS_MAX);
            return -1;
        }
        part_link_t *link = &self->links[self->nlinks];
        link->endpoint = strndup (p, len);
        if (!link->endpoint) {
            snprintf (errbuf, errlen, "out of memory");
            return -1;
        }
        self->nlinks++;
        if (s_link_open (self, link, errbuf, errlen) != 0)
            return -1;
        if (!comma)
            break;
        p = comma + 1;
    }
    if (self->nlinks > 1) {
        self->routes = calloc (PART_ROUTES, sizeof *self->routes);
        if (!self->routes) {
            snprintf (errbuf, errlen, "out of memory");
            return -1;
        }
    }
    return 0;
}

void
part_link_close (part_agent_t *self)
{
    for (size_t i = 0; i < self->nlinks; i++) {
        s_link_close (&self->links[i]);
        free (self->links[i].endpoint);
        self->links[i].endpoint = NULL;
    }
    self->nlinks = 0;
    free (self->routes);
    self->routes = NULL;
}

/*  Link I is up but the coordinator answered none of our hellos for a
 *  while (a connection it no longer reads, a peer that stopped
 *  forwarding): drop the socket and make a new connection.               */
static void
s_link_check (part_agent_t *self, size_t i)
{
    part_link_t *link = &self->links[i];
    uint64_t hb = self->cfg.heartbeat_ms ? self->cfg.heartbeat_ms : 1000;
    uint64_t dead_ms = 5 * hb > 1000 ? 5 * hb : 1000;
    /* no answer to our hellos yet: say so after a while, then every
     * PART_LINK_WAIT_SAY_MS, until the coordinator answers */
    if (!link->answered && link->wait_say_at == 0)
        link->wait_say_at = self->now + PART_LINK_WAIT_FIRST_MS;
    else if (!link->answered && self->now >= link->wait_say_at) {
        fprintf (stderr, "tpc-participant: waiting for the coordinator at "
                 "%s (no answer to this agent's hellos yet%s)\n",
                 link->endpoint, link->hs_failing
                 ? ": the handshake fails, see above" : link->linked
                 ? "" : "; not connected");
        link->wait_say_at = self->now + PART_LINK_WAIT_SAY_MS;
    }
    if (!link->linked || self->now < link->heard_at + dead_ms)
        return;
    fprintf (stderr, "tpc-participant: warning: no answer from the "
             "coordinator at %s for %llu ms (hellos unanswered): the link "
             "is dead; reconnecting with a new socket\n", link->endpoint,
             (unsigned long long) (self->now - link->heard_at));
    s_link_close (link);
    if (self->leader == (int) i)
        self->leader = -1;              /* until a hello is answered */
    char err[512];
    if (s_link_open (self, link, err, sizeof err) != 0) {
        fprintf (stderr, "tpc-participant: FATAL: cannot make a new link to "
                 "the coordinator: %s\n", err);
        self->fatal = TPC_EIO;
        return;
    }
    link->heard_at = self->now;
    link->relinked = true;
    link->answered = false;
    link->wait_say_at = 0;
}

void
part_link_check (part_agent_t *self)
{
    for (size_t i = 0; i < self->nlinks && !self->fatal; i++)
        s_link_check (self, i);
}
