/*  part_agent: the agent's I/O shell (see part_agent.h): the poll loop,
 *  the RM's completions, the 3PC state log's I/O, the peer link to other
 *  agents (3PC termination), start and stop.  The link to the coordinator
 *  is in part_link.c; both share part_agent_int.h.                        */
#include "part_agent_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "tpc_zap.h"
#include "part_engine.h"
#include "part_state.h"
#include "tpc_curve.h"
#include "tpc_clock.h"
#include "tpc_error.h"
#include "tpc_gid.h"
#include "tpc_msg.h"

#define S_MAX_FDS 256
#define S_MONITOR_MS 100        /* the socket monitor is read this often */

int
part_agent_name_valid (const char *name)
{
    return name && tpc_name_valid (name, strlen (name), 64) ? 0 : TPC_EINVAL;
}

void
part_agent_log (void *arg, int level, const char *line)
{
    const bool *verbose = arg;
    if (level == 0 && !(verbose && *verbose))
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

static uint64_t
s_wall_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

/*  A completion from the RM; the crash points here come BEFORE the engine
 *  hears of it, so nothing of its consequences has left the process.     */
static void
s_emit (void *arg, const part_rm_result_t *res)
{
    part_agent_t *self = arg;
    pa_trace_result (self, res);
    if (res->status == 0) {
        if (res->op == PART_RM_EXEC)
            tpc_crash_hit (self->crash, "agent.after_work");
        else if (res->op == PART_RM_PREPARE && !res->readonly)
            tpc_crash_hit (self->crash, "agent.after_prepare");
        else if (res->op == PART_RM_COMMIT_PREPARED)
            tpc_crash_hit (self->crash, "agent.after_commit_prepared");
    }
    part_engine_on_result (self->engine, res, self->now);
    part_agent_drain (self);
}

/* ---------------------------------------------------------------------
 *  Three-phase commit: the state log and the peer link
 */

static void s_state_flush (part_agent_t *self);

/*  The state log failed with RC (GID's STATE, or a sync when GID is
 *  NULL): the agent stops; what waited for a sync is dropped unsent.     */
static void
s_state_fatal (part_agent_t *self, const char *gid, tpc_p3_t state, int rc)
{
    self->fatal = rc;
    if (gid)
        fprintf (stderr, "tpc-participant: FATAL: cannot make the 3PC state "
                 "%s of %s durable in the state log %s: %s.  Stopping now: "
                 "nothing that depends on it was or will be acknowledged.  "
                 "Fix the disk and restart the agent; it recovers from the "
                 "log.\n", tpc_p3_name (state), gid, self->cfg.state_dir,
                 tpc_strerror (rc));
    else
        fprintf (stderr, "tpc-participant: FATAL: cannot make the 3PC "
                 "state %s of %s (and %zu more state record(s) of its "
                 "batch) durable in the state log %s: %s.  Stopping now: "
                 "nothing that depends on them was or will be "
                 "acknowledged.  Fix the disk and restart the agent; it "
                 "recovers from the log.\n",
                 tpc_p3_name (self->unsynced_state),
                 *self->unsynced_gid ? self->unsynced_gid : "-",
                 self->unsynced ? self->unsynced - 1 : 0,
                 self->cfg.state_dir, tpc_strerror (rc));
    while (self->held) {
        part_agent_held_t *h = self->held;
        self->held = h->next;
        part_action_clear (&h->act);
        free (h);
    }
    self->held_tail = NULL;
}

/*  io->persist (group commit): GID's STATE is appended to the state log,
 *  not yet durable; every action the engine queues from now on is held
 *  (part_agent_drain) until the sync at the end of the loop turn
 *  (s_state_flush) covers it, so nothing that depends on the state
 *  leaves before it is durable.  A refused argument is the engine's to
 *  handle; a failed disk stops the agent (nothing is sent from now on,
 *  the loop returns).                                                    */
static int
s_persist (void *arg, const char *gid, tpc_p3_t state, size_t nparts,
           char *const *parts, char *const *peers)
{
    part_agent_t *self = arg;
    self->in_persist++;
    part_agent_drain (self);    /* what the engine queued comes first */
    if (self->unsynced >= PART_AGENT_STATE_BATCH)
        s_state_flush (self);   /* a large batch: sync it now */
    self->in_persist--;
    if (self->fatal)
        return self->fatal;
    int rc = part_state_append (self->state, gid, state, nparts, parts,
                                peers, s_wall_ms (), NULL);
    if (rc == 0) {
        if (self->unsynced++ == 0) {
            snprintf (self->unsynced_gid, sizeof self->unsynced_gid, "%s",
                      gid);
            self->unsynced_state = state;
        }
        if (state == TPC_P3_PRECOMMITTED)
            self->precommit_unsynced = true;
        return 0;
    }
    if (rc == TPC_EINVAL) {
        fprintf (stderr, "tpc-participant: 3PC state %s of %s refused by "
                 "the state log (bad gid, or too many or too long "
                 "participant names/endpoints): not recorded\n",
                 tpc_p3_name (state), gid ? gid : "-");
        return rc;
    }
    s_state_fatal (self, gid ? gid : "-", state, rc);
    return rc;
}

/*  The certificate named NAME in the --peer-keys directory: DIR/NAME.key
 *  if it holds that name, else any certificate of that name.  0 or
 *  TPC_ENOENT / TPC_ECONFIG with a sentence in ERR.                      */
static int
s_peer_cert (part_agent_t *self, const char *name, tpc_curve_cert_t *out,
             char *err, size_t errlen)
{
    const char *dir = self->cfg.peer_keys;
    char path[4096], lerr[256];
    if (!dir) {
        snprintf (err, errlen, "no --peer-keys directory to find agent %s's "
                  "public key in", name);
        return TPC_ECONFIG;
    }
    snprintf (path, sizeof path, "%s/%s.key", dir, name);
    if (tpc_curve_cert_load (path, false, out, lerr, sizeof lerr) == 0
        && !strcmp (out->name, name))
        return 0;
    DIR *d = opendir (dir);
    struct dirent *e;
    while (d && (e = readdir (d))) {
        size_t n = strlen (e->d_name);
        if (e->d_name[0] == '.' || (n >= 7 && !strcmp (e->d_name + n - 7, "_secret")))
            continue;
        snprintf (path, sizeof path, "%s/%s", dir, e->d_name);
        if (tpc_curve_cert_load (path, false, out, lerr, sizeof lerr) == 0
            && !strcmp (out->name, name)) {
            closedir (d);
            return 0;
        }
    }
    if (d)
        closedir (d);
    snprintf (err, errlen, "no public certificate of agent %s in --peer-keys "
              "%s", name, dir);
    return TPC_ENOENT;
}

static void
s_peer_close (part_agent_peer_t *p)
{
    if (p->sock)
        zmq_close (p->sock);
    free (p->name);
    free (p->endpoint);
    memset (p, 0, sizeof *p);
}

/*  Make P's DEALER (P's name and endpoint are set): 0, or -1 with a
 *  sentence in ERR.                                                      */
static int
s_peer_setup (part_agent_t *self, part_agent_peer_t *p, char *err, size_t errlen)
{
    tpc_curve_cert_t server;
    int linger = 0, hwm = 10000;
    int64_t maxmsg = TPC_MSG_MAX_SIZE_DEFAULT;
    if (!p->name || !p->endpoint) {
        snprintf (err, errlen, "out of memory");
        return -1;
    }
    /* no routing id: the peer's ROUTER assigns one; this agent's name
     * goes in each request, and with CURVE its key vouches for it */
    p->sock = zmq_socket (self->zctx, ZMQ_DEALER);
    self->peers_dirty = true;
    if (!p->sock
        || zmq_setsockopt (p->sock, ZMQ_LINGER, &linger, sizeof linger)
        || zmq_setsockopt (p->sock, ZMQ_SNDHWM, &hwm, sizeof hwm)
        || zmq_setsockopt (p->sock, ZMQ_RCVHWM, &hwm, sizeof hwm)
        || zmq_setsockopt (p->sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg)) {
        snprintf (err, errlen, "cannot make a socket: %s", zmq_strerror (errno));
        return -1;
    }
    if (self->curve) {
        if (s_peer_cert (self, p->name, &server, err, errlen) != 0)
            return -1;
        if (tpc_curve_client_setup (p->sock, &self->cert, server.public_key)) {
            snprintf (err, errlen, "cannot set up CURVE: %s", zmq_strerror (errno));
            return -1;
        }
    }
    if (zmq_connect (p->sock, p->endpoint) != 0) {
        snprintf (err, errlen, "cannot connect to %s: %s", p->endpoint,
                  zmq_strerror (errno));
        return -1;
    }
    return 0;
}

/*  The DEALER to agent NAME at ENDPOINT, made (and the least recently
 *  used one closed, when full) if needed; NULL with a line logged.       */
static part_agent_peer_t *
s_peer_get (part_agent_t *self, const char *name, const char *endpoint)
{
    size_t i;
    for (i = 0; i < self->npeers; i++)
        if (!strcmp (self->peers[i].name, name))
            break;
    if (i < self->npeers && !strcmp (self->peers[i].endpoint, endpoint))
        return &self->peers[i];
    if (i < self->npeers)               /* moved: a new socket */
        s_peer_close (&self->peers[i]);
    else if (self->npeers < PART_AGENT_PEERS_MAX)
        i = self->npeers++;
    else {
        i = 0;
        for (size_t j = 1; j < self->npeers; j++)
            if (self->peers[j].used < self->peers[i].used)
                i = j;
        s_peer_close (&self->peers[i]);
    }
    part_agent_peer_t *p = &self->peers[i];
    char err[512] = "";
    p->name = strdup (name);
    p->endpoint = strdup (endpoint);
    if (s_peer_setup (self, p, err, sizeof err) != 0) {
        if (!(self->curve && !self->cfg.peer_keys && self->said_no_keys))
            fprintf (stderr, "tpc-participant: peer link to agent %s: %s\n",
                     name, err);
        if (self->curve && !self->cfg.peer_keys)
            self->said_no_keys = true;
        s_peer_close (p);
        self->peers[i] = self->peers[--self->npeers];
        memset (&self->peers[self->npeers], 0, sizeof (part_agent_peer_t));
        return NULL;
    }
    if (self->verbose)
        fprintf (stderr, "tpc-participant: peer link to agent %s at %s%s\n",
                 name, endpoint, self->curve ? " (CURVE)" : "");
    return p;
}

/*  A PEER_SEND action: MSG to agent NAME at ENDPOINT (takes MSG).        */
static int
s_peer_send (void *arg, const char *name, const char *endpoint,
             tpc_msg_t **msg_p)
{
    part_agent_t *self = arg;
    tpc_msg_t *msg = *msg_p;
    *msg_p = NULL;
    int rc = TPC_EINVAL;
    char *buf = NULL;
    size_t len = 0;
    if (!msg)
        return TPC_EINVAL;
    if (self->fatal) {
        rc = self->fatal;
        goto cleanup;
    }
    if (part_agent_name_valid (name) != 0 || !endpoint || !*endpoint) {
        if (self->verbose)
            fprintf (stderr, "tpc-participant: %s for %s not sent to agent "
                     "%s: no peer endpoint known\n",
                     tpc_msg_type_name (msg->type), msg->gid ? msg->gid : "-",
                     name ? name : "?");
        rc = TPC_ECONNECT;
        goto cleanup;
    }
    part_agent_peer_t *p = s_peer_get (self, name, endpoint);
    if (!p) {
        rc = TPC_ECONNECT;
        goto cleanup;
    }
    p->used = ++self->peer_clock;
    self->peers_dirty = true;
    rc = tpc_msg_encode (msg, &buf, &len);
    if (rc != 0)
        fprintf (stderr, "tpc-participant: cannot encode %s for agent %s: "
                 "%s\n", tpc_msg_type_name (msg->type), name,
                 tpc_strerror (rc));
    else if (zmq_send (p->sock, buf, len, ZMQ_DONTWAIT) < 0) {
        rc = TPC_ECONNECT;
        if (self->verbose)
            fprintf (stderr, "tpc-participant: %s for %s not sent to agent "
                     "%s: %s\n", tpc_msg_type_name (msg->type),
                     msg->gid ? msg->gid : "-", name, zmq_strerror (errno));
    }
cleanup:
    free (buf);
    tpc_msg_destroy (&msg);
    return rc;
}

/*  A PEER_REPLY action: MSG on the connection the request came on, whose
 *  routing id (the ROUTER's choice) is FROM (takes MSG).                 */
static int
s_peer_reply (void *arg, const void *from, size_t from_len, tpc_msg_t **msg_p)
{
    part_agent_t *self = arg;
    tpc_msg_t *msg = *msg_p;
    *msg_p = NULL;
    char *buf = NULL;
    size_t len = 0;
    int rc = TPC_EINVAL;
    if (!msg)
        return TPC_EINVAL;
    self->peers_dirty = true;
    if (self->fatal)
        rc = self->fatal;
    else if (!self->router || !from || from_len == 0)
        rc = TPC_ECONNECT;
    else if ((rc = tpc_msg_encode (msg, &buf, &len)) != 0)
        fprintf (stderr, "tpc-participant: cannot encode a %s reply to a "
                 "peer: %s\n", tpc_msg_type_name (msg->type),
                 tpc_strerror (rc));
    else if (zmq_send (self->router, from, from_len,
                       ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0
             || zmq_send (self->router, buf, len, ZMQ_DONTWAIT) < 0) {
        rc = TPC_ECONNECT;
        if (self->verbose)
            fprintf (stderr, "tpc-participant: %s reply for %s to a peer "
                     "not sent: %s\n", tpc_msg_type_name (msg->type),
                     msg->gid ? msg->gid : "-", zmq_strerror (errno));
    }
    free (buf);
    tpc_msg_destroy (&msg);
    return rc;
}

/*  Receive one single-frame JSON message from SOCK (the first frame was
 *  already read into FRAME by the caller when FIRST): NULL when the
 *  frame is not one decodable message (logged, WHO names the sender).    */
/*  Report to the engine that executing ACT failed (RC: the RM's refusal).
 *  Inside a persist call the engine is busy: the report waits for the
 *  next drain at the top (ACT is taken either way).                      */
static void
s_failed (part_agent_t *self, part_action_t *act, int rc)
{
    if (self->in_persist) {
        part_agent_failed_t *f = calloc (1, sizeof *f);
        if (f) {
            f->act = *act;
            f->rc = rc;
            memset (act, 0, sizeof *act);
            if (self->failed_tail)
                self->failed_tail->next = f;
            else
                self->failed = f;
            self->failed_tail = f;
        }
        part_action_clear (act);
        return;
    }
    if (act->type == PART_ACT_SUBMIT)
        part_engine_submit_refused (self->engine, act, rc, self->now);
    else
        part_engine_peer_failed (self->engine, act, self->now);
    part_action_clear (act);
}

/*  Execute one action; non-zero: it failed (reported with s_failed).    */
static int
s_execute (part_agent_t *self, part_action_t *act)
{
    switch (act->type) {
    case PART_ACT_SEND:
        part_link_send (self, &act->msg);
        return 0;
    case PART_ACT_PEER_SEND:
        return s_peer_send (self, act->name, act->endpoint, &act->msg)
               ? TPC_ECONNECT : 0;
    case PART_ACT_PEER_REPLY:
        s_peer_reply (self, act->from, act->from_len, &act->msg);
        return 0;
    case PART_ACT_SUBMIT:
        pa_trace_submit (self, &act->req);
        return self->rm->submit (self->rm->self, &act->req, self->now);
    case PART_ACT_INTERRUPT:
        self->rm->interrupt (self->rm->self, act->gid);
        return 0;
    case PART_ACT_LOG:
        part_agent_log (&self->verbose, act->level, act->text);
        return 0;
    }
    return 0;
}

/*  Execute ACT (taken), reporting a failure.                            */
static void
s_run (part_agent_t *self, part_action_t *act)
{
    int rc = s_execute (self, act);
    if (rc != 0)
        s_failed (self, act, rc);
    else
        part_action_clear (act);
}

/*  ACT (taken) must wait: a state record before it is not durable yet, or
 *  an earlier action waits (order is kept).                              */
static bool
s_must_hold (part_agent_t *self, const part_action_t *act)
{
    if (!self->state || act->type == PART_ACT_LOG)
        return false;           /* a log line depends on nothing */
    return self->held || part_state_durable (self->state)
                         < part_state_appended (self->state);
}

static void
s_hold (part_agent_t *self, part_action_t *act)
{
    part_agent_held_t *h = calloc (1, sizeof *h);
    if (!h) {
        /* it cannot wait, so it may not leave: the agent stops */
        part_action_clear (act);
        s_state_fatal (self, NULL, TPC_P3_UNKNOWN, TPC_ENOMEM);
        return;
    }
    h->act = *act;
    memset (act, 0, sizeof *act);
    h->ticket = part_state_appended (self->state);
    if (self->held_tail)
        self->held_tail->next = h;
    else
        self->held = h;
    self->held_tail = h;
}

void
part_agent_drain (part_agent_t *self)
{
    while (!self->in_persist && self->failed) {
        part_agent_failed_t *f = self->failed;
        self->failed = f->next;
        if (!self->failed)
            self->failed_tail = NULL;
        s_failed (self, &f->act, f->rc);
        free (f);
    }
    part_action_t act;
    while (self->engine && part_engine_pop (self->engine, &act)) {
        if (self->fatal && act.type != PART_ACT_LOG)
            part_action_clear (&act);   /* stopping: nothing leaves */
        else if (s_must_hold (self, &act))
            s_hold (self, &act);
        else
            s_run (self, &act);
    }
}

/*  The state log's flush point (group commit), once per loop turn and
 *  when a batch grows large: one fdatasync makes every record appended
 *  since the last one durable, then the actions held for them leave, in
 *  the order the engine queued them.  Releasing may make the engine
 *  append again (a refusal reported): then it syncs again.  A failed
 *  sync stops the agent and drops them all.                              */
static void
s_state_flush (part_agent_t *self)
{
    while (self->state && !self->fatal
           && (self->held || part_state_durable (self->state)
                             < part_state_appended (self->state))) {
        int rc = part_state_sync (self->state);
        if (rc) {
            s_state_fatal (self, NULL, TPC_P3_UNKNOWN, rc);
            return;
        }
        self->unsynced = 0;
        if (self->precommit_unsynced) {
            self->precommit_unsynced = false;
            tpc_crash_hit (self->crash, "agent.after_precommit");
        }
        uint64_t durable = part_state_durable (self->state);
        while (self->held && self->held->ticket <= durable && !self->fatal) {
            part_agent_held_t *h = self->held;
            self->held = h->next;
            if (!self->held)
                self->held_tail = NULL;
            part_action_t act = h->act;
            free (h);
            s_run (self, &act);
        }
        if (!self->in_persist)
            part_agent_drain (self);    /* reports of failed releases */
    }
}

static tpc_msg_t *
s_peer_decode (zmq_msg_t *frame, const char *who)
{
    tpc_msg_t *msg = NULL;
    char err[256];
    if (tpc_msg_decode (zmq_msg_data (frame), zmq_msg_size (frame), NULL,
                        &msg, err, sizeof err) != 0) {
        fprintf (stderr, "tpc-participant: bad message from %s ignored: %s\n",
                 who, err);
        return NULL;
    }
    return msg;
}

/*  Drop the rest of a multi-part message on SOCK.                        */
static void
s_drain (void *sock, zmq_msg_t *frame)
{
    while (zmq_msg_more (frame)) {
        zmq_msg_close (frame);
        zmq_msg_init (frame);
        if (zmq_msg_recv (frame, sock, 0) < 0)
            break;
    }
}

/*  Who sent MSG, a peer request that came with BODY: the name its CURVE
 *  key gives (a name in MSG must be that one), or in plain text the name
 *  MSG gives.  0 with it in NAME (SIZE bytes), or -1, logged.            */
static int
s_peer_sender (part_agent_t *self, zmq_msg_t *body, const tpc_msg_t *msg,
               char *name, size_t size)
{
    const char *said = msg->name;
    if (self->curve) {
        /* the ZAP handler put "agent:<certificate name>" on it */
        const char *user = zmq_msg_gets (body, "User-Id");
        char key[TPC_CURVE_NAME_MAX] = "";
        if (tpc_role_parse (user, key, sizeof key) != TPC_ROLE_AGENT
            || part_agent_name_valid (key) != 0) {
            fprintf (stderr, "tpc-participant: peer link: a %s with the "
                     "key of %s refused: not an agent's key\n",
                     tpc_msg_type_name (msg->type), user ? user : "nobody");
            return -1;
        }
        if (said && strcmp (said, key) != 0) {
            fprintf (stderr, "tpc-participant: peer link: a %s that says it "
                     "is agent %.63s but its key is agent %s refused: an "
                     "agent speaks only for itself\n",
                     tpc_msg_type_name (msg->type), said, key);
            return -1;
        }
        snprintf (name, size, "%s", key);
        return 0;
    }
    if (part_agent_name_valid (said) != 0) {
        fprintf (stderr, "tpc-participant: peer link: a %s without a valid "
                 "agent name (field \"name\") refused\n",
                 tpc_msg_type_name (msg->type));
        return -1;
    }
    snprintf (name, size, "%s", said);
    return 0;
}

/*  Requests from other agents on the ROUTER: [routing id][JSON].  The
 *  routing id is only the connection's (the ROUTER assigns them, no
 *  handover): the reply goes back on it; who asks is s_peer_sender's.    */
static void
s_router_recv_all (part_agent_t *self)
{
    self->peers_dirty = true;
    for (int i = 0; i < PART_AGENT_RECV_BATCH && !self->fatal; i++) {
        zmq_msg_t id, body;
        zmq_msg_init (&id);
        if (zmq_msg_recv (&id, self->router, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&id);
            return;
        }
        zmq_msg_init (&body);
        bool ok = zmq_msg_more (&id) && zmq_msg_recv (&body, self->router, 0) >= 0;
        bool multi = ok && zmq_msg_more (&body);
        char from[64] = "";
        tpc_msg_t *msg = NULL;
        if (!ok || multi) {
            s_drain (self->router, &body);
            fprintf (stderr, "tpc-participant: peer link: a message that is "
                     "not one frame ignored\n");
        }
        else if ((msg = s_peer_decode (&body, "a peer"))
                 && s_peer_sender (self, &body, msg, from, sizeof from) != 0)
            tpc_msg_destroy (&msg);
        if (msg && msg->type != TPC_MSG_GETSTATE
            && msg->type != TPC_MSG_PRECOMMIT && msg->type != TPC_MSG_DECIDE) {
            fprintf (stderr, "tpc-participant: peer link: %s from agent %s "
                     "ignored (peers send getstate, precommit, decide)\n",
                     tpc_msg_type_name (msg->type), from);
            tpc_msg_destroy (&msg);
        }
        if (msg) {
            self->now = (uint64_t) tpc_now_ms ();
            part_engine_on_peer_request (self->engine, from,
                                         zmq_msg_data (&id),
                                         zmq_msg_size (&id), &msg, self->now);
            part_agent_drain (self);
        }
        tpc_msg_destroy (&msg);
        zmq_msg_close (&body);
        zmq_msg_close (&id);
    }
}

/*  Replies from peer agents on the DEALER SOCK (state, ack).  The engine
 *  may close or replace peers while it handles one, so SOCK is looked up
 *  again before every receive.                                           */
static void
s_peer_recv_all (part_agent_t *self, void *sock)
{
    self->peers_dirty = true;
    for (int i = 0; i < PART_AGENT_RECV_BATCH && !self->fatal; i++) {
        size_t k;
        for (k = 0; k < self->npeers && self->peers[k].sock != sock; k++)
            ;
        if (k == self->npeers)
            return;
        char name[64];
        snprintf (name, sizeof name, "%s", self->peers[k].name);
        zmq_msg_t frame;
        zmq_msg_init (&frame);
        if (zmq_msg_recv (&frame, sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&frame);
            return;
        }
        tpc_msg_t *msg = NULL;
        if (zmq_msg_more (&frame)) {
            s_drain (sock, &frame);
            fprintf (stderr, "tpc-participant: peer link: a multi-frame "
                     "reply from agent %s ignored\n", name);
        }
        else
            msg = s_peer_decode (&frame, name);
        zmq_msg_close (&frame);
        if (msg && msg->type != TPC_MSG_STATE && msg->type != TPC_MSG_ACK) {
            fprintf (stderr, "tpc-participant: peer link: %s from agent %s "
                     "ignored (replies are state, ack)\n",
                     tpc_msg_type_name (msg->type), name);
            tpc_msg_destroy (&msg);
        }
        if (msg) {
            self->now = (uint64_t) tpc_now_ms ();
            part_engine_on_peer_reply (self->engine, name, &msg, self->now);
            part_agent_drain (self);
            tpc_msg_destroy (&msg);
        }
    }
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

/*  Whether ZeroMQ socket SOCK has a message to read (ZMQ_EVENTS: it
 *  processes the socket's commands, which re-arms its ZMQ_FD).           */
static bool
s_zmq_readable (void *sock)
{
    uint32_t ev = 0;
    size_t size = sizeof ev;
    return zmq_getsockopt (sock, ZMQ_EVENTS, &ev, &size) == 0
           && (ev & ZMQ_POLLIN);
}

static int
s_zmq_fd (void *sock)
{
    int fd = -1;
    size_t size = sizeof fd;
    if (zmq_getsockopt (sock, ZMQ_FD, &fd, &size) != 0)
        return -1;
    return fd;
}

/*  THE POLL.  One poll(2) over every descriptor: the ZeroMQ sockets' by
 *  their ZMQ_FD (which signals when the socket may have become readable,
 *  edge-like), the stop pipe and the RM's.  zmq_poll would do the same
 *  with two poll(2)s and, for every socket, ZMQ_EVENTS before and after
 *  (each a poll(2) and a getpid(2) of ZeroMQ's): ten system calls per
 *  wake-up with the link and the peer ROUTER.  The rules that keep it
 *  exact: a socket's ZMQ_FD tells the truth only while nobody used the
 *  socket since ZeroMQ last processed its commands, so a socket used
 *  since (links[].dirty, peers_dirty: any send, a receive loop that did
 *  not end on EAGAIN) is asked ZMQ_EVENTS before the poll, and a message
 *  found then makes the poll not wait; a ZMQ_FD that fired sends its
 *  socket to its receive loop, whose last receive (EAGAIN) processed the
 *  commands and so re-armed the ZMQ_FD.                                  */
int
part_agent_run (part_agent_t *self)
{
    struct pollfd items[S_MAX_FDS + 2 + PART_LINKS_MAX
                        + PART_AGENT_PEERS_MAX];
    void *link_socks[PART_LINKS_MAX];
    void *peer_socks[PART_AGENT_PEERS_MAX];
    bool link_ready[PART_LINKS_MAX], peer_ready[PART_AGENT_PEERS_MAX];
    bool router_ready;
    part_rm_pollfd_t fds[S_MAX_FDS];
    self->now = (uint64_t) tpc_now_ms ();
    part_engine_start (self->engine, self->now);
    part_agent_drain (self);
    self->peers_dirty = true;
    while (!self->fatal) {
        /* the state log's one sync per turn: what the events of the last
         * turn appended becomes durable, the replies held for it leave  */
        s_state_flush (self);
        if (self->fatal)
            break;
        part_link_flush (self);     /* acks it released: before the poll */
        size_t n = 0;
        bool any = false;               /* a socket has a message now */
        /* the monitor (reconnects, handshakes) is read every
         * S_MONITOR_MS rather than polled: every zmq socket polled costs
         * system calls on every wake-up */
        size_t nlinks = self->nlinks;
        for (size_t i = 0; i < nlinks; i++) {
            part_link_t *link = &self->links[i];
            link_socks[i] = link->sock;
            link_ready[i] = false;
            if (link->dirty) {
                link_ready[i] = s_zmq_readable (link->sock);
                link->dirty = false;
                any |= link_ready[i];
            }
            items[n++] = (struct pollfd) { .fd = s_zmq_fd (link_socks[i]),
                                           .events = POLLIN };
        }
        size_t stop_at = SIZE_MAX;
        if (self->cfg.stop_fd >= 0) {
            stop_at = n;
            items[n++] = (struct pollfd) { .fd = self->cfg.stop_fd, .events = POLLIN };
        }
        bool peers_check = self->peers_dirty;
        self->peers_dirty = false;
        size_t router_at = SIZE_MAX;
        router_ready = false;
        if (self->router) {
            router_at = n;
            if (peers_check)
                any |= router_ready = s_zmq_readable (self->router);
            items[n++] = (struct pollfd) { .fd = s_zmq_fd (self->router),
                                           .events = POLLIN };
        }
        /* the peers' DEALERs, remembered by socket: handling one reply
         * may close or replace others */
        size_t peers_at = n, npolled = self->npeers;
        for (size_t i = 0; i < npolled; i++) {
            peer_socks[i] = self->peers[i].sock;
            peer_ready[i] = peers_check && s_zmq_readable (peer_socks[i]);
            any |= peer_ready[i];
            items[n++] = (struct pollfd) { .fd = s_zmq_fd (peer_socks[i]),
                                           .events = POLLIN };
        }
        size_t nfds = self->rm->pollfds (self->rm->self, fds, S_MAX_FDS);
        size_t rm_at = n;
        for (size_t i = 0; i < nfds; i++)
            items[n++] = (struct pollfd) {
                .fd = fds[i].fd,
                .events = (short) (fds[i].events & (POLLIN | POLLOUT))
            };
        self->now = (uint64_t) tpc_now_ms ();
        int64_t timeout = s_min_timeout (
            part_engine_timeout (self->engine, self->now),
            self->rm->timeout (self->rm->self, self->now));
        if (timeout < 0 || timeout > 1000)
            timeout = 1000;
        if (self->monitor_at <= self->now)
            timeout = 0;
        else if ((uint64_t) timeout > self->monitor_at - self->now)
            timeout = (int64_t) (self->monitor_at - self->now);
        if (any)
            timeout = 0;
        int rc = poll (items, (nfds_t) n, (int) timeout);
        if (rc < 0 && errno != EINTR) {
            fprintf (stderr, "tpc-participant: poll failed: %s\n", strerror (errno));
            return TPC_EIO;
        }
        /* a ZMQ_FD that fired: the socket may be readable; its receive
         * loop tries (a receive that finds nothing processes the
         * socket's commands, which re-arms the ZMQ_FD: no ZMQ_EVENTS
         * needed) */
        const short fired = POLLIN | POLLERR | POLLHUP;
        for (size_t i = 0; rc > 0 && i < nlinks; i++)
            if (items[i].revents & fired)
                link_ready[i] = true;
        if (rc > 0 && router_at != SIZE_MAX
            && (items[router_at].revents & fired))
            router_ready = true;
        for (size_t i = 0; rc > 0 && i < npolled; i++)
            if (items[peers_at + i].revents & fired)
                peer_ready[i] = true;
        if (self->rm->polled && rc >= 0) {
            short revents[S_MAX_FDS];
            for (size_t i = 0; i < nfds; i++)
                revents[i] = items[rm_at + i].revents;
            self->rm->polled (self->rm->self, revents, nfds);
        }
        self->now = (uint64_t) tpc_now_ms ();
        if (stop_at != SIZE_MAX && rc > 0 && (items[stop_at].revents & POLLIN))
            return 0;
        if (self->now >= self->monitor_at) {
            part_link_monitor (self);
            part_link_check (self);
            self->monitor_at = self->now + S_MONITOR_MS;
        }
        for (size_t i = 0; i < nlinks && !self->fatal; i++)
            if (link_ready[i] && self->links[i].sock == link_socks[i])
                part_link_recv_all (self, i);
        if (router_ready && self->router)
            s_router_recv_all (self);
        for (size_t i = 0; i < npolled; i++)
            if (peer_ready[i])
                s_peer_recv_all (self, peer_socks[i]);
        if (self->fatal)
            break;
        self->rm->process (self->rm->self, self->now, s_emit, self);
        if (part_engine_timeout (self->engine, self->now) == 0)
            part_engine_tick (self->engine, self->now);
        part_agent_drain (self);
        part_link_flush (self);     /* this turn's acks: one frame */
        size_t found = 0;
        if (!self->announced && part_engine_ready (self->engine, &found)) {
            self->announced = true;
            fprintf (stderr, "tpc-participant: ready name=%s backend=%s "
                     "prepared_found=%zu\n", self->name, self->rm->name, found);
        }
    }
    return self->fatal;
}

int
part_agent_failed (part_agent_t *self)
{
    return self->refused ? 0 : self->fatal;
}

bool
part_agent_refused (part_agent_t *self)
{
    return self->refused;
}

const char *
part_agent_peer_endpoint (part_agent_t *self)
{
    return self->advertised;
}

/*  This process's boot id (hello.boot): 64 random bits, never 0, drawn
 *  once per agent.  The coordinator compares it with the last one it
 *  heard: another one means this agent restarted, and the work its
 *  earlier incarnation held open is aborted at once.  A collision would
 *  only fall back to the vote timeout.                                   */
static uint64_t
s_boot_id (void)
{
    uint64_t id = 0;
    if (getrandom (&id, sizeof id, 0) != (ssize_t) sizeof id) {
        int fd = open ("/dev/urandom", O_RDONLY | O_CLOEXEC);
        if (fd < 0 || read (fd, &id, sizeof id) != (ssize_t) sizeof id)
            id = (s_wall_ms () << 20) ^ (uint64_t) getpid ()
                 ^ (uint64_t) tpc_now_ms ();
        if (fd >= 0)
            close (fd);
    }
    return id ? id : 1;
}

typedef struct {
    part_agent_t *self;
    size_t n, undecided;
} s_restore_t;

static int
s_restore (void *arg, const char *gid, tpc_p3_t state, uint64_t at_ms,
           size_t nparts, char *const *parts, char *const *peers)
{
    (void) at_ms;
    s_restore_t *r = arg;
    int rc = part_engine_restore (r->self->engine, gid, state, nparts, parts,
                                  peers);
    part_agent_drain (r->self);
    if (rc != 0) {
        fprintf (stderr, "tpc-participant: cannot restore the 3PC state %s "
                 "of %s: %s\n", tpc_p3_name (state), gid, tpc_strerror (rc));
        return rc;
    }
    r->n++;
    if (state == TPC_P3_UNCERTAIN || state == TPC_P3_PRECOMMITTED)
        r->undecided++;
    return 0;
}

/*  The endpoint to advertise for BOUND (what the ROUTER bound): itself,
 *  unless its host is a wildcard.  NULL if none (or out of memory).     */
static char *
s_advertise (const char *bound)
{
    const char *host = strstr (bound, "://");
    if (!host)
        return NULL;
    host += 3;
    if (!strncmp (bound, "tcp://", 6)) {
        const char *colon = strrchr (host, ':');
        size_t n = colon ? (size_t) (colon - host) : strlen (host);
        if ((n == 1 && host[0] == '*') || (n == 7 && !strncmp (host, "0.0.0.0", 7))
            || (n == 4 && !strncmp (host, "[::]", 4)))
            return NULL;
    }
    return strdup (bound);
}

/*  The peer link's server side: ZAP handler (CURVE), ROUTER, the
 *  advertised endpoint.  0, or -1 with a sentence in ERRBUF.             */
static int
s_peer_link_new (part_agent_t *self, char *errbuf, size_t errlen)
{
    const part_agent_config_t *c = &self->cfg;
    if (c->peer_endpoint && !(self->advertised = strdup (c->peer_endpoint))) {
        snprintf (errbuf, errlen, "out of memory");
        return -1;
    }
    if (!c->peer_bind)
        return 0;
    if (self->curve && !c->peer_keys) {
        snprintf (errbuf, errlen, "the peer link (--peer-bind) with CURVE "
                  "needs --peer-keys DIR, the directory of the other "
                  "agents' public certificates");
        return -1;
    }
    if (self->curve) {
        tpc_zap_config_t zc = { .allow_agents = c->peer_keys,
                                  .log_name = "tpc-participant" };
        char zerr[512];
        if (!(self->zap = tpc_zap_new (self->zctx, &zc, zerr, sizeof zerr))) {
            snprintf (errbuf, errlen, "peer link: %s", zerr);
            return -1;
        }
    }
    int linger = 0, hwm = 100000, on = 1, off = 0;
    int64_t maxmsg = TPC_MSG_MAX_SIZE_DEFAULT;  /* larger: never read in */
    self->router = zmq_socket (self->zctx, ZMQ_ROUTER);
    if (!self->router
        || zmq_setsockopt (self->router, ZMQ_LINGER, &linger, sizeof linger)
        || zmq_setsockopt (self->router, ZMQ_SNDHWM, &hwm, sizeof hwm)
        || zmq_setsockopt (self->router, ZMQ_RCVHWM, &hwm, sizeof hwm)
        /* no handover: a peer cannot take another's connection over */
        || zmq_setsockopt (self->router, ZMQ_ROUTER_HANDOVER, &off, sizeof off)
        || zmq_setsockopt (self->router, ZMQ_ROUTER_MANDATORY, &on, sizeof on)
        || zmq_setsockopt (self->router, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg)
        || (self->curve && tpc_curve_server_setup (self->router, &self->cert,
                                                   TPC_ZAP_AGENTS))) {
        snprintf (errbuf, errlen, "peer link: %s", zmq_strerror (errno));
        return -1;
    }
    if (zmq_bind (self->router, c->peer_bind) != 0) {
        snprintf (errbuf, errlen, "cannot bind --peer-bind %s: %s",
                  c->peer_bind, zmq_strerror (errno));
        return -1;
    }
    if (!self->advertised) {
        char bound[256] = "";
        size_t len = sizeof bound;
        zmq_getsockopt (self->router, ZMQ_LAST_ENDPOINT, bound, &len);
        self->advertised = s_advertise (bound);
        if (!self->advertised)
            fprintf (stderr, "tpc-participant: warning: --peer-bind %s names "
                     "no host other agents can reach: give --peer-endpoint; "
                     "until then no peer endpoint is advertised and 3PC "
                     "termination cannot reach this agent\n", c->peer_bind);
    }
    fprintf (stderr, "tpc-participant: peer link on %s (advertised as %s, "
             "%s)\n", c->peer_bind,
             self->advertised ? self->advertised : "nothing",
             self->curve ? "CURVE, keys from --peer-keys" : "PLAIN TEXT");
    return 0;
}

/*  Open the 3PC state log (--state-dir) through the I/O that may fail an
 *  fdatasync on purpose (crash point agent.state_sync, action failsync).  0, or an error with a sentence
 *  in ERRBUF.                                                            */
static int
s_state_log_open (part_agent_t *self, char *errbuf, size_t errlen)
{
    uint64_t failsync = tpc_crash_failsync_at (self->crash,
                                               "agent.state_sync");
    tpc_io_failsync_init (&self->state_io, NULL);
    self->state_io.say = "tpc-participant: crash point agent.state_sync: "
                         "state log fdatasync";
    part_state_config_t sc = { .dir = self->cfg.state_dir,
                               .forget_ms = self->cfg.p3_forget_ms,
                               .io = failsync ? &self->state_io.io : NULL };
    int rc = part_state_open (&sc, s_wall_ms (), &self->state, errbuf,
                              errlen);
    if (rc) {
        if (rc == TPC_ELOG_CORRUPT) {
            size_t used = strlen (errbuf);
            snprintf (errbuf + used, errlen - used, ".  Refusing to "
                      "start: this agent could forget a pre-commit it "
                      "acknowledged.  Keep the directory for analysis "
                      "(tpcctl log verify), and decide the gids it "
                      "held with the other participants' logs");
        }
        return rc;
    }
    tpc_io_failsync_arm (&self->state_io, failsync, true);
    return 0;
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
    if (config->curve_secret) {
        self->curve = true;
        if (tpc_curve_cert_load (config->curve_secret, true, &self->cert,
                                 errbuf, errlen)) {
            part_agent_destroy (&self);
            return NULL;
        }
        if (strcmp (self->cert.name, config->name)) {
            snprintf (errbuf, errlen, "--curve-secret %s is the key of agent "
                      "'%s', not of '%s' (--name): the coordinator takes an "
                      "agent's hellos only under its key's name; give "
                      "--name %s, or this agent's own key (tpcctl keygen %s "
                      "DIR)", config->curve_secret, self->cert.name,
                      config->name, self->cert.name, config->name);
            part_agent_destroy (&self);
            return NULL;
        }
    }
    if (pa_trace_open (self, errbuf, errlen) != 0
        || s_peer_link_new (self, errbuf, errlen) != 0
        || part_link_open (self, errbuf, errlen) != 0) {
        part_agent_destroy (&self);
        return NULL;
    }
    if (config->state_dir && s_state_log_open (self, errbuf, errlen) != 0) {
        part_agent_destroy (&self);
        return NULL;
    }
    part_engine_config_t ec = {
        .name = self->name, .heartbeat_ms = config->heartbeat_ms,
        .verbose = config->verbose,
        .p3_timeout_ms = config->p3_timeout_ms,
        .p3_collect_ms = config->p3_collect_ms,
        .p3_forget_ms = config->p3_forget_ms,
        .peer_endpoint = self->advertised,
        .boot = s_boot_id ()
    };
    part_engine_io_t io = {
        .arg = self, .peer_link = true,
        .persist = self->state ? s_persist : NULL
    };
    self->engine = part_engine_new (&ec, &io);
    if (!self->engine)
        goto nomem;
    if (self->state) {
        s_restore_t r = { self, 0, 0 };
        if (part_state_foreach (self->state, s_restore, &r) != 0) {
            snprintf (errbuf, errlen, "cannot restore the 3PC state log %s",
                      config->state_dir);
            part_agent_destroy (&self);
            return NULL;
        }
        fprintf (stderr, "tpc-participant: 3PC state log %s: %zu gid(s) "
                 "restored, %zu of them undecided\n", config->state_dir,
                 r.n, r.undecided);
    }
    return self;
nomem:
    snprintf (errbuf, errlen, "out of memory");
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
    while (self->held) {
        part_agent_held_t *h = self->held;
        self->held = h->next;
        part_action_clear (&h->act);
        free (h);
    }
    while (self->failed) {
        part_agent_failed_t *f = self->failed;
        self->failed = f->next;
        part_action_clear (&f->act);
        free (f);
    }
    part_state_destroy (&self->state);
    for (size_t i = 0; i < self->nacks; i++)
        tpc_msg_destroy (&self->acks[i]);
    free (self->acks);
    for (size_t i = 0; i < self->npeers; i++)
        s_peer_close (&self->peers[i]);
    if (self->router)
        zmq_close (self->router);
    tpc_zap_destroy (&self->zap);
    free (self->advertised);
    memset (&self->cert, 0, sizeof self->cert);
    part_link_close (self);
    if (self->zctx)
        zmq_ctx_term (self->zctx);
    tpc_crash_destroy (&self->crash);
    tpc_trace_destroy (&self->trace);
    free (self->name);
    free (self);
    *self_p = NULL;
}
