/*  part_agent: the agent's I/O shell (see part_agent.h).                  */
#include "part_agent.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "part_engine.h"
#include "tpc_curve.h"
#include "tpc_error.h"
#include "tpc_msg.h"

#define S_MAX_FDS 256
#define S_RECV_BATCH 1000
#define S_MONITOR_MS 100        /* the socket monitor is read this often */

struct part_agent {
    part_agent_config_t cfg;
    char *name;
    const part_rm_t *rm;
    part_engine_t *engine;
    void *zctx;
    void *sock;
    void *monitor;              /* PAIR receiving the socket's connect events */
    tpc_crash_t *crash;         /* crash points (tpc_crash.h) */
    bool verbose;
    bool announced;
    uint64_t now;
    uint64_t monitor_at;        /* next read of the socket monitor */
    bool hs_failing;            /* handshakes fail; said once until one
                                   succeeds */
    bool hs_connecting;         /* TCP up, handshake not done */
};

static uint64_t
s_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

int
part_agent_name_valid (const char *name)
{
    size_t n = name ? strlen (name) : 0;
    if (n < 1 || n > 63)
        return TPC_EINVAL;
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')
              || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-'))
            return TPC_EINVAL;
    }
    return 0;
}

void
part_agent_log (void *arg, int level, const char *line)
{
    const bool *verbose = arg;
    if (level > 0 && !(verbose && *verbose))
        return;
    /* one log line per event: fold PostgreSQL's multi-line messages */
    char flat[1024];
    size_t n = 0;
    for (const char *p = line; *p && n + 1 < sizeof flat; p++) {
        if (*p == '\n' || *p == '\t' || *p == '\r') {
            if (n && flat[n - 1] != ' ')
                flat[n++] = ' ';
        }
        else
            flat[n++] = *p;
    }
    flat[n] = '\0';
    fprintf (stderr, "tpc-participant: %s\n", flat);
}

static void
s_engine_log (void *arg, int level, const char *line)
{
    part_agent_t *self = arg;
    part_agent_log (&self->verbose, level, line);
}

static int
s_send (void *arg, tpc_msg_t **msg_p)
{
    part_agent_t *self = arg;
    tpc_msg_t *msg = *msg_p;
    *msg_p = NULL;
    if (!msg)
        return TPC_EINVAL;
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

/*  A completion from the RM; the crash points here come BEFORE the engine
 *  hears of it, so nothing of its consequences has left the process.     */
static void
s_emit (void *arg, const part_rm_result_t *res)
{
    part_agent_t *self = arg;
    if (res->status == 0) {
        if (res->op == PART_RM_EXEC)
            tpc_crash_hit (self->crash, "agent.after_work");
        else if (res->op == PART_RM_PREPARE && !res->readonly)
            tpc_crash_hit (self->crash, "agent.after_prepare");
        else if (res->op == PART_RM_COMMIT_PREPARED)
            tpc_crash_hit (self->crash, "agent.after_commit_prepared");
    }
    part_engine_on_result (self->engine, res, self->now);
}

/*  Take every message waiting on the socket (up to a batch).            */
static void
s_recv_all (part_agent_t *self)
{
    for (int i = 0; i < S_RECV_BATCH; i++) {
        zmq_msg_t frame;
        zmq_msg_init (&frame);
        if (zmq_msg_recv (&frame, self->sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&frame);
            return;
        }
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
        self->now = s_now_ms ();
        part_engine_on_message (self->engine, &msg, self->now);
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
    if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
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
 *  than a heartbeat.  Monitor messages: frame 1 = event u16 + value u32,
 *  frame 2 = endpoint.                                                   */
static void
s_monitor_event (part_agent_t *self)
{
    bool up = false;
    for (;;) {
        zmq_msg_t frame;
        zmq_msg_init (&frame);
        if (zmq_msg_recv (&frame, self->monitor, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&frame);
            break;
        }
        if (zmq_msg_size (&frame) >= 2) {
            uint16_t event;
            memcpy (&event, zmq_msg_data (&frame), sizeof event);
            up |= event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED;
            s_handshake_event (self, event);
        }
        int more = zmq_msg_more (&frame);
        zmq_msg_close (&frame);
        if (more) {                     /* the endpoint frame */
            zmq_msg_init (&frame);
            zmq_msg_recv (&frame, self->monitor, ZMQ_DONTWAIT);
            zmq_msg_close (&frame);
        }
    }
    if (up)
        part_engine_coordinator_up (self->engine, s_now_ms ());
}

static int64_t
s_min_timeout (int64_t a, int64_t b)
{
    if (a < 0)
        return b;
    if (b < 0)
        return a;
    return a < b ? a : b;
}

int
part_agent_run (part_agent_t *self)
{
    zmq_pollitem_t items[S_MAX_FDS + 3];
    part_rm_pollfd_t fds[S_MAX_FDS];
    self->now = s_now_ms ();
    part_engine_start (self->engine, self->now);
    for (;;) {
        size_t n = 0;
        /* the monitor (reconnects, handshakes) is read every
         * S_MONITOR_MS rather than polled: every zmq socket polled costs
         * system calls on every wake-up */
        items[n++] = (zmq_pollitem_t) { .socket = self->sock, .events = ZMQ_POLLIN };
        size_t stop_at = SIZE_MAX;
        if (self->cfg.stop_fd >= 0) {
            stop_at = n;
            items[n++] = (zmq_pollitem_t) { .fd = self->cfg.stop_fd, .events = ZMQ_POLLIN };
        }
        size_t nfds = self->rm->pollfds (self->rm->self, fds, S_MAX_FDS);
        for (size_t i = 0; i < nfds; i++)
            items[n++] = (zmq_pollitem_t) {
                .fd = fds[i].fd,
                .events = (short) (((fds[i].events & POLLIN) ? ZMQ_POLLIN : 0)
                                   | ((fds[i].events & POLLOUT) ? ZMQ_POLLOUT : 0))
            };
        self->now = s_now_ms ();
        int64_t timeout = s_min_timeout (
            part_engine_timeout (self->engine, self->now),
            self->rm->timeout (self->rm->self, self->now));
        if (timeout < 0 || timeout > 1000)
            timeout = 1000;
        if (self->monitor_at <= self->now)
            timeout = 0;
        else if ((uint64_t) timeout > self->monitor_at - self->now)
            timeout = (int64_t) (self->monitor_at - self->now);
        int rc = zmq_poll (items, (int) n, (long) timeout);
        if (rc < 0 && errno != EINTR) {
            fprintf (stderr, "tpc-participant: poll failed: %s\n", zmq_strerror (errno));
            return TPC_EIO;
        }
        self->now = s_now_ms ();
        if (stop_at != SIZE_MAX && rc > 0 && (items[stop_at].revents & ZMQ_POLLIN))
            return 0;
        if (self->now >= self->monitor_at) {
            s_monitor_event (self);
            self->monitor_at = self->now + S_MONITOR_MS;
        }
        if (rc > 0 && (items[0].revents & ZMQ_POLLIN))
            s_recv_all (self);
        self->rm->process (self->rm->self, self->now, s_emit, self);
        if (part_engine_timeout (self->engine, self->now) == 0)
            part_engine_tick (self->engine, self->now);
        size_t found = 0;
        if (!self->announced && part_engine_ready (self->engine, &found)) {
            self->announced = true;
            fprintf (stderr, "tpc-participant: ready name=%s backend=%s "
                     "prepared_found=%zu\n", self->name, self->rm->name, found);
        }
    }
}

part_agent_t *
part_agent_new (const part_agent_config_t *config, const part_rm_t *rm,
                char *errbuf, size_t errlen)
{
    char dummy[8];
    if (!errbuf) {
        errbuf = dummy;
        errlen = sizeof dummy;
    }
    if (!config || part_agent_name_valid (config->name) != 0) {
        snprintf (errbuf, errlen, "invalid agent name (1 to 63 of A-Z a-z 0-9 _ -)");
        return NULL;
    }
    if (!config->endpoint || !rm) {
        snprintf (errbuf, errlen, "no coordinator endpoint or resource manager");
        return NULL;
    }
    part_agent_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (errbuf, errlen, "out of memory");
        return NULL;
    }
    self->cfg = *config;
    self->cfg.crash.point = NULL;       /* the copy below owns the name */
    self->crash = tpc_crash_new (&config->crash);
    if (!self->crash) {
        snprintf (errbuf, errlen, "bad crash point '%s' (or out of memory)",
                  config->crash.point ? config->crash.point : "");
        part_agent_destroy (&self);
        return NULL;
    }
    self->verbose = config->verbose;
    self->rm = rm;
    self->name = strdup (config->name);
    self->zctx = zmq_ctx_new ();
    if (!self->name || !self->zctx)
        goto nomem;
    self->sock = zmq_socket (self->zctx, ZMQ_DEALER);
    if (!self->sock)
        goto zerr;
    int linger = 500, hwm = 100000;
    if (zmq_setsockopt (self->sock, ZMQ_ROUTING_ID, self->name, strlen (self->name)) != 0
        || zmq_setsockopt (self->sock, ZMQ_LINGER, &linger, sizeof linger) != 0
        || zmq_setsockopt (self->sock, ZMQ_SNDHWM, &hwm, sizeof hwm) != 0
        || zmq_setsockopt (self->sock, ZMQ_RCVHWM, &hwm, sizeof hwm) != 0)
        goto zerr;
    if ((config->curve_secret || config->coordinator_public)
        && tpc_curve_client_files (self->sock, config->curve_secret,
                                   config->coordinator_public, errbuf,
                                   errlen)) {
        part_agent_destroy (&self);
        return NULL;
    }
    char monep[64];
    snprintf (monep, sizeof monep, "inproc://tpc-agent-monitor-%p", (void *) self);
    if (zmq_socket_monitor (self->sock, monep, ZMQ_EVENT_HANDSHAKE_SUCCEEDED
                            | ZMQ_EVENT_CONNECTED | ZMQ_EVENT_DISCONNECTED
                            | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL
                            | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
                            | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) != 0)
        goto zerr;
    self->monitor = zmq_socket (self->zctx, ZMQ_PAIR);
    if (!self->monitor || zmq_setsockopt (self->monitor, ZMQ_LINGER, &linger, sizeof linger) != 0
        || zmq_connect (self->monitor, monep) != 0)
        goto zerr;
    if (zmq_connect (self->sock, config->endpoint) != 0) {
        snprintf (errbuf, errlen, "cannot connect to %s: %s", config->endpoint,
                  zmq_strerror (errno));
        part_agent_destroy (&self);
        return NULL;
    }
    part_engine_config_t ec = {
        .name = self->name, .heartbeat_ms = config->heartbeat_ms,
        .verbose = config->verbose
    };
    part_engine_io_t io = { .arg = self, .send = s_send, .log = s_engine_log };
    self->engine = part_engine_new (&ec, rm, &io);
    if (!self->engine)
        goto nomem;
    return self;
nomem:
    snprintf (errbuf, errlen, "out of memory");
    part_agent_destroy (&self);
    return NULL;
zerr:
    snprintf (errbuf, errlen, "ZeroMQ: %s", zmq_strerror (errno));
    part_agent_destroy (&self);
    return NULL;
}

void
part_agent_destroy (part_agent_t **self_p)
{
    part_agent_t *self = *self_p;
    if (!self)
        return;
    part_engine_destroy (&self->engine);
    if (self->sock) {
        zmq_socket_monitor (self->sock, NULL, 0);
        zmq_close (self->sock);
    }
    if (self->monitor)
        zmq_close (self->monitor);
    if (self->zctx)
        zmq_ctx_term (self->zctx);
    tpc_crash_destroy (&self->crash);
    free (self->name);
    free (self);
    *self_p = NULL;
}
