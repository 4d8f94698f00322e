/*  coord_server: the loop, the sockets and the dispatch around the pure
 *  coord_engine (see coord_server.h for the loop and its rules); the
 *  decision log, checkpoints and the sync thread (group commit) are in
 *  coord_server_log.c, the shared struct in coord_server_int.h.
 *
 *  WIRE (both ROUTER sockets): [routing id][one JSON frame] (tpc_msg.h).
 *  A client frame sequence that is not exactly that gets an error reply.
 *  Agent socket: the ROUTER assigns routing ids (no ROUTER_HANDOVER: no
 *  peer can take over another's connection); coord_route maps an agent's
 *  name to its connection, on a hello whose key (CURVE) is that agent's.
 *  Every hello accepted is answered by a hello naming the coordinator, so
 *  an agent whose hellos go unanswered knows its link is dead and makes a
 *  new one.  A hello refused (another agent's key, a second live process
 *  of one name, a replaced incarnation) is answered by an "error" the
 *  agent logs before it stops.  ZMQ_ROUTER_MANDATORY: a send to an agent
 *  that is not connected fails at once and is reported to the engine,
 *  which keeps the decision pending.
 *  Size: a frame up to --max-msg-bytes is decoded; one up to twice that
 *  (+ 4 KiB) is read and refused by the decoder (TPC_EMSG_TOO_BIG); a
 *  larger one is never read into memory: ZeroMQ (ZMQ_MAXMSGSIZE) closes
 *  that connection, and a socket monitor logs each dropped connection
 *  once, at warning level (ZeroMQ gives no reason: an ordinary disconnect
 *  is logged the same way).
 */
#include "coord_server_int.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "coord_elect.h"
#include "tpc_clock.h"
#include "tpc_error.h"
#include "tpc_monitor.h"
#include "tpc_msg.h"

/*  The loop's clock: monotonic milliseconds (tpc_clock.h).               */
static uint64_t
s_now (void)
{
    return (uint64_t) tpc_now_ms ();
}

void
cs_say (coord_server_t *self, int level, const char *fmt, ...)
{
    if (level == 0 && !self->cfg.verbose)
        return;
    va_list ap;
    va_start (ap, fmt);
    fprintf (stderr, "tpc-coordinator: ");
    vfprintf (stderr, fmt, ap);
    fprintf (stderr, "\n");
    va_end (ap);
}

/*  The log is dead: say so and stop before anything else leaves.         */
void
cs_fatal_log (const char *what, int rc)
{
    fprintf (stderr, "tpc-coordinator: FATAL: %s failed: %s (%s); "
             "stopping now, restart recovers from the log\n", what,
             tpc_strerror (rc), tpc_errname (rc));
    fflush (stdout);
    _exit (CS_EXIT_LOG_FAILED);
}

void
coord_server_depose (coord_server_t *self)
{
    atomic_store (&self->deposed, true);
}

void
cs_fatal (const char *what, int rc)
{
    fprintf (stderr, "tpc-coordinator: FATAL: %s: %s\n", what,
             tpc_strerror (rc));
    fflush (stdout);
    _exit (2);
}

static void
s_engine_rc (int rc)
{
    if (rc)
        cs_fatal ("engine", rc);
}

/* ---------------------------------------------------------------------
 *  Sending
 */

/*  Deposed (HA: the lease is lost): nothing leaves any more.  The
 *  keepalive thread may notice late (stuck in a renewal), so the lease
 *  left by our monotonic clock is checked here too: under a quarter of
 *  the TTL, this leader deposes itself before anything leaves.          */
static int
s_send (coord_server_t *self, void *sock, const void *id, size_t idlen,
        const tpc_msg_t *msg, bool *unroutable)
{
    char *buf = NULL;
    size_t len = 0;
    *unroutable = false;
    coord_elect_t *e = self->cfg.elect;
    if (e && !atomic_load (&self->deposed)
        && coord_elect_ttl_left_ms (e) <= coord_elect_ttl_ms (e) / 4)
        coord_server_depose (self);
    if (atomic_load (&self->deposed))
        return 0;
    int rc = tpc_msg_encode (msg, &buf, &len);
    if (rc)
        return rc;
    rc = 0;
    if (zmq_send (sock, id, idlen, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
        *unroutable = errno == EHOSTUNREACH || errno == EAGAIN;
        rc = TPC_ECONNECT;
    }
    else if (zmq_send (sock, buf, len, ZMQ_DONTWAIT) < 0)
        rc = TPC_ECONNECT;
    free (buf);
    return rc;
}

static void
s_reply_error (coord_server_t *self, const void *id, size_t idlen, int code,
               const char *text)
{
    tpc_msg_t *msg = tpc_msg_new (TPC_MSG_ERROR);
    bool unroutable;
    if (msg && tpc_msg_set_str (&msg->message, text) == 0) {
        msg->code = code;
        s_send (self, self->clients, id, idlen, msg, &unroutable);
    }
    tpc_msg_destroy (&msg);
}

/*  An "error" reply to request RID (a decoded request refused here).    */
static void
s_refuse (coord_server_t *self, const void *id, size_t idlen, uint64_t rid,
          int code, const char *text)
{
    tpc_msg_t *msg = tpc_msg_new (TPC_MSG_ERROR);
    bool unroutable;
    if (msg && tpc_msg_set_str (&msg->message, text) == 0) {
        msg->code = code;
        msg->rid = rid;
        s_send (self, self->clients, id, idlen, msg, &unroutable);
    }
    tpc_msg_destroy (&msg);
}

/*  Crash points after a message to an agent left.                        */
/*  True the first time GID is seen in this s_perform pass (remembered;
 *  false when out of memory: the point is then not counted).            */
static bool
s_partial_first (coord_server_t *self, const char *gid)
{
    for (size_t i = 0; i < self->npartial; i++)
        if (!strcmp (self->partial[i], gid))
            return false;
    if (self->npartial == self->partial_cap) {
        size_t cap = self->partial_cap ? self->partial_cap * 2 : 64;
        char (*v)[TPC_GID_MAX] = realloc (self->partial, cap * sizeof *v);
        if (!v)
            return false;
        self->partial = v;
        self->partial_cap = cap;
    }
    snprintf (self->partial[self->npartial++], TPC_GID_MAX, "%s", gid);
    return true;
}

static void
s_crash_sent (coord_server_t *self, const tpc_msg_t *msg)
{
    if (msg->type == TPC_MSG_PREPARE
        || (msg->type == TPC_MSG_WORK && msg->then == TPC_THEN_PREPARE))
        tpc_crash_hit (self->crash, "coord.prepare_sent");
    else if (msg->type == TPC_MSG_DECIDE
             && msg->outcome == TPC_OUTCOME_COMMITTED) {
        tpc_crash_hit (self->crash, "coord.commit_sent");
        /* a gid's first decide frame of this pass: its other agents'
         * frames are flushed after this one (s_perform), not sent yet   */
        if (tpc_crash_armed (self->crash) && s_partial_first (self, msg->gid)) {
            if (tpc_crash_next_fires (self->crash, "coord.commit_partial")) {
                cs_say (self, 1, "crash point coord.commit_partial: gid %s",
                        msg->gid);
                usleep (200 * 1000);    /* let ZeroMQ deliver that decide */
            }
            tpc_crash_hit (self->crash, "coord.commit_partial");
        }
    }
    else if (msg->type == TPC_MSG_PRECOMMIT)
        tpc_crash_hit (self->crash, "coord.precommit_sent");
}

/*  Report to the engine that MSG to AGENT found no connection.           */
static void
s_unroutable (coord_server_t *self, const char *agent, const tpc_msg_t *msg)
{
    s_engine_rc (coord_engine_send_failed (self->engine, agent, msg,
                                           s_now ()));
}

/*  Send N decides or N precommits (per gid, all of one type, to AGENT)
 *  as one frame: a lone one as itself, more as "decides" / "precommits"
 *  (the gids borrowed from the messages, never copied).                  */
static void
s_send_batch (coord_server_t *self, const char *agent, tpc_msg_t **msgs,
              size_t n)
{
    size_t ridlen = 0;
    const void *rid = coord_route_to (self->route, agent, &ridlen);
    bool unroutable = !rid;             /* it never said hello */
    int rc = TPC_ECONNECT;
    bool decide = msgs[0]->type == TPC_MSG_DECIDE;
    char *commits[TPC_MSG_BATCH_MAX], *aborts[TPC_MSG_BATCH_MAX];
    tpc_msg_t frame = { .type = decide ? TPC_MSG_DECIDES
                                       : TPC_MSG_PRECOMMITS,
                        .affected = -1, .commits = commits,
                        .aborts = aborts, .gids = commits };
    assert (n >= 1 && n <= TPC_MSG_BATCH_MAX);
    for (size_t i = 0; i < n; i++) {
        if (!decide)
            commits[frame.ngids++] = msgs[i]->gid;
        else if (msgs[i]->outcome == TPC_OUTCOME_COMMITTED)
            commits[frame.ncommits++] = msgs[i]->gid;
        else
            aborts[frame.naborts++] = msgs[i]->gid;
    }
    if (rid)
        rc = s_send (self, self->agents, rid, ridlen,
                     n == 1 ? msgs[0] : &frame, &unroutable);
    if (rc && unroutable)
        for (size_t i = 0; i < n; i++)
            s_unroutable (self, agent, msgs[i]);
    else if (rc)
        cs_say (self, 1, "%zu %s(s) to agent '%s' not sent: %s", n,
                tpc_msg_type_name (msgs[0]->type), agent, tpc_strerror (rc));
    else {
        if (decide)
            coord_metrics_decides (self->metrics, 1, n);
        for (size_t i = 0; i < n; i++)
            s_crash_sent (self, msgs[i]);
    }
}

/*  Send the decides, then the precommits, held for batch I,
 *  TPC_MSG_BATCH_MAX gids a frame, and empty it.                         */
static void
s_flush_batch (coord_server_t *self, size_t i)
{
    static const tpc_msg_type_t types[] = { TPC_MSG_DECIDE,
                                            TPC_MSG_PRECOMMIT };
    cs_batch_t *b = &self->batches[i];
    tpc_msg_t *chunk[TPC_MSG_BATCH_MAX];
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        size_t k = 0;
        for (size_t j = 0; j < b->n; j++) {
            if (b->msgs[j]->type != types[t])
                continue;
            chunk[k++] = b->msgs[j];
            if (k == TPC_MSG_BATCH_MAX) {
                s_send_batch (self, b->agent, chunk, k);
                k = 0;
            }
        }
        if (k)
            s_send_batch (self, b->agent, chunk, k);
    }
    for (size_t k = 0; k < b->n; k++)
        tpc_msg_destroy (&b->msgs[k]);
    b->n = 0;
}

/*  Is MSG to an agent one the loop holds for the batch: a decide or a
 *  precommit of the coordinator link (the peer link's carry a name, a
 *  termination round's a seq)?                                           */
static bool
s_batchable (const tpc_msg_t *msg)
{
    return (msg->type == TPC_MSG_DECIDE || msg->type == TPC_MSG_PRECOMMIT)
           && !msg->name && !msg->seq;
}

/*  The batch held for AGENT, or -1.                                      */
static ssize_t
s_batch_of (coord_server_t *self, const char *agent)
{
    for (size_t i = 0; i < self->nbatches; i++)
        if (self->batches[i].n && !strcmp (self->batches[i].agent, agent))
            return (ssize_t) i;
    return -1;
}

/*  Hold *MSG_P, a decide or precommit to AGENT (taken).  False: no memory (the caller
 *  then sends it alone).                                                 */
static bool
s_batch_add (coord_server_t *self, const char *agent, tpc_msg_t **msg_p)
{
    ssize_t at = s_batch_of (self, agent);
    if (at < 0) {
        for (at = 0; (size_t) at < self->nbatches
                     && self->batches[at].n; at++)
            ;
        if ((size_t) at == self->nbatches) {
            if (self->nbatches == self->batches_cap) {
                size_t cap = self->batches_cap ? self->batches_cap * 2 : 8;
                cs_batch_t *v = realloc (self->batches, cap * sizeof *v);
                if (!v)
                    return false;
                memset (v + self->batches_cap, 0,
                        (cap - self->batches_cap) * sizeof *v);
                self->batches = v;
                self->batches_cap = cap;
            }
            self->nbatches++;
        }
        snprintf (self->batches[at].agent, sizeof self->batches[at].agent,
                  "%s", agent);
    }
    cs_batch_t *b = &self->batches[at];
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;
        tpc_msg_t **v = realloc (b->msgs, cap * sizeof *v);
        if (!v)
            return false;
        b->msgs = v;
        b->cap = cap;
    }
    b->msgs[b->n++] = *msg_p;
    *msg_p = NULL;
    return true;
}

/*  Perform the actions queued now: sends go out, appends are written;
 *  decides to agents are held in the batches.  Returns how many.        */
static size_t
s_perform_queued (coord_server_t *self)
{
    coord_action_t act;
    bool unroutable;
    int rc;
    size_t n = 0;
    while (coord_engine_pop (self->engine, &act)) {
        n++;
        switch (act.type) {
        case COORD_ACT_CLIENT:
            if (coord_console_reply (self->console, act.client,
                                     act.client_len, act.msg))
                break;
            cs_trace_out (self, act.msg);
            rc = s_send (self, self->clients, act.client, act.client_len, act.msg,
                         &unroutable);
            if (rc)
                cs_say (self, 0, "reply '%s' not delivered: %s",
                        tpc_msg_type_name (act.msg->type), tpc_strerror (rc));
            break;
        case COORD_ACT_AGENT: {
            /* a decide or precommit waits for the batch's end; anything
             * else to that agent goes after those held for it */
            bool batchable = s_batchable (act.msg);
            if (batchable)      /* marked as it is queued: leaves this turn */
                cs_trace_out (self, act.msg);
            if (batchable && s_batch_add (self, act.agent, &act.msg))
                break;
            ssize_t held = s_batch_of (self, act.agent);
            if (held >= 0)
                s_flush_batch (self, (size_t) held);
            if (batchable) {
                s_send_batch (self, act.agent, &act.msg, 1);
                break;
            }
            size_t ridlen = 0;
            const void *rid = coord_route_to (self->route, act.agent, &ridlen);
            cs_trace_out (self, act.msg);
            rc = rid ? s_send (self, self->agents, rid, ridlen, act.msg,
                               &unroutable)
                     : TPC_ECONNECT;
            if (!rid)
                unroutable = true;      /* it never said hello */
            if (rc && unroutable)
                s_unroutable (self, act.agent, act.msg);
            else if (rc)
                cs_say (self, 1, "'%s' to agent '%s' not sent: %s",
                        tpc_msg_type_name (act.msg->type), act.agent,
                        tpc_strerror (rc));
            else
                s_crash_sent (self, act.msg);
            break;
        }
        case COORD_ACT_APPEND: {
            if (act.rec->type == TPC_REC_COMMIT)
                tpc_crash_hit (self->crash, "coord.before_decision");
            else if (act.rec->type == TPC_REC_END)
                tpc_crash_hit (self->crash, "coord.before_end");
            uint64_t lsn = cs_append_record (self, act.rec);
            cs_trace_append (self, act.rec);
            if (act.rec->type == TPC_REC_COMMIT)
                tpc_crash_hit (self->crash, "coord.after_decision_append");
            if (act.forced)
                cs_sync_request (self, lsn, act.ticket, act.rec->type);
            break;
        }
        case COORD_ACT_ENDED:
            coord_metrics_ended (self->metrics, &act);
            coord_console_ended (self->console, &act, s_now ());
            if (self->cfg.recover_only) {
                printf ("recover gid=%s outcome=%s acked=%zu/%zu\n", act.gid,
                        tpc_outcome_name (act.outcome), act.nacked,
                        act.nparts);
                fflush (stdout);
                self->finished++;
            }
            break;
        case COORD_ACT_LOG:
            cs_say (self, act.level, "%s", act.text);
            break;
        case COORD_ACT_WAKE:
            break;              /* the loop asks coord_engine_next_wake() */
        }
        coord_action_clear (&act);
    }
    return n;
}

/*  Perform every queued action, then send the decides (and 3PC
 *  precommits) held: one frame per agent for all the gids decided in
 *  this turn (e.g. by one group commit), which the engine queued only
 *  once their decision (PRECOMMIT record) was durable.  A send that finds no agent is reported to the engine, which
 *  may queue more: performed in turn.                                    */
static void
s_perform (coord_server_t *self)
{
    self->npartial = 0;         /* coord.commit_partial: a new pass */
    do {
        s_perform_queued (self);
        for (size_t i = 0; i < self->nbatches; i++)
            if (self->batches[i].n)
                s_flush_batch (self, i);
    } while (s_perform_queued (self) > 0);
}

/*  The sync thread told the loop something became durable: hand it to the
 *  engine (which now queues the held decisions) and send.                */
static void
s_durable (coord_server_t *self)
{
    cs_syncer_t *y = &self->syncer;
    uint64_t n;
    if (read (y->efd, &n, sizeof n) < 0 && errno != EAGAIN)
        cs_fatal ("reading the sync thread's eventfd", TPC_EIO);
    pthread_mutex_lock (&y->mutex);
    uint64_t ticket = y->done_ticket;
    bool commit = y->done_commit, precommit = y->done_precommit;
    y->done_commit = y->done_precommit = false;
    pthread_mutex_unlock (&y->mutex);
    if (commit)
        tpc_crash_hit (self->crash, "coord.after_fsync");
    if (precommit)
        tpc_crash_hit (self->crash, "coord.precommit_logged");
    if (ticket > y->applied_ticket) {
        y->applied_ticket = ticket;
        self->trace_durable = tpc_trace_now (self->trace);
        s_engine_rc (coord_engine_durable (self->engine, ticket, s_now ()));
        s_perform (self);
        self->trace_durable = 0;
    }
}

/* ---------------------------------------------------------------------
 *  Receiving
 */

/*  One whole message from SOCK without waiting: the routing id in ID, the
 *  first payload frame in BODY, the number of frames after the id in
 *  *NBODY.  Returns false when nothing is waiting.                       */
static bool
s_recv (void *sock, zmq_msg_t *id, zmq_msg_t *body, int *nbody)
{
    zmq_msg_init (id);
    zmq_msg_init (body);
    *nbody = 0;
    if (zmq_msg_recv (id, sock, ZMQ_DONTWAIT) < 0)
        return false;
    bool more = zmq_msg_more (id);
    while (more) {
        zmq_msg_t part;
        zmq_msg_init (&part);
        if (zmq_msg_recv (&part, sock, 0) < 0) {
            zmq_msg_close (&part);
            break;
        }
        more = zmq_msg_more (&part);
        if (*nbody == 0)
            zmq_msg_move (body, &part);
        (*nbody)++;
        zmq_msg_close (&part);
    }
    return true;
}

/*  "cluster": this member's view of its HA group (coord_elect.h).       */
static void
s_cluster (coord_server_t *self, const void *id, size_t idlen, uint64_t rid)
{
    tpc_msg_t *msg = tpc_msg_new (TPC_MSG_CLUSTERINFO);
    coord_elect_t *e = self->cfg.elect;
    coord_store_stats_t ss;
    coord_store_stats (self->store, &ss);
    bool unroutable;
    if (msg && !tpc_msg_set_str (&msg->role, e ? "leader" : "single")
        && !tpc_msg_set_str (&msg->member, e ? coord_elect_member (e) : "")
        && !tpc_msg_set_str (&msg->leader, self->client_ep)) {
        msg->rid = rid;
        msg->epoch = self->epoch;
        msg->lease_ttl_ms = e ? coord_elect_ttl_ms (e) : 0;
        msg->lease_left_ms = e ? coord_elect_ttl_left_ms (e) : 0;
        msg->revision = ss.revision > 0 ? (uint64_t) ss.revision : 0;
        s_send (self, self->clients, id, idlen, msg, &unroutable);
    }
    tpc_msg_destroy (&msg);
}

static void
s_on_client (coord_server_t *self, zmq_msg_t *id, zmq_msg_t *body, int nbody)
{
    const void *cid = zmq_msg_data (id);
    size_t cidlen = zmq_msg_size (id);
    if (nbody != 1) {
        s_reply_error (self, cid, cidlen, TPC_EPROTO,
                       "expected exactly one JSON frame per message");
        return;
    }
    tpc_msg_t *msg = NULL;
    char err[256] = "";
    int rc = tpc_msg_decode (zmq_msg_data (body), zmq_msg_size (body),
                             &self->limits, &msg, err, sizeof err);
    if (rc) {
        uint64_t rid = rc == TPC_EMSG_TOO_BIG
                       ? tpc_msg_peek_rid (zmq_msg_data (body),
                                           zmq_msg_size (body))
                       : 0;
        s_refuse (self, cid, cidlen, rid, rc, *err ? err : tpc_strerror (rc));
        return;
    }
    if (msg->type == TPC_MSG_CLUSTER) {     /* read-only: any client */
        s_cluster (self, cid, cidlen, msg->rid);
        tpc_msg_destroy (&msg);
        return;
    }
    /* CURVE: the key's role (ZAP user id) decides what it may ask, and
     * its budget of transactions is per key; plain text: per connection */
    const char *user = self->zap ? zmq_msg_gets (body, "User-Id") : NULL;
    tpc_role_t role = self->zap ? tpc_role_parse (user, NULL, 0)
                                : TPC_ROLE_ADMIN;
    if (tpc_role_may (TPC_ROLE_ADMIN, msg->type)
        && !tpc_role_may (role, msg->type)) {
        snprintf (err, sizeof err, "'%s' needs an admin key; this key's "
                  "role is %s", tpc_msg_type_name (msg->type),
                  tpc_role_name (role));
        cs_say (self, 1, "refused '%s' from %s: not an admin key",
                tpc_msg_type_name (msg->type), user ? user : "?");
        s_refuse (self, cid, cidlen, msg->rid, TPC_EPERM, err);
        tpc_msg_destroy (&msg);
        return;
    }
    size_t live = coord_engine_live (self->engine);
    cs_trace_in (self, msg, true);
    s_engine_rc (coord_engine_client_as (self->engine, cid, cidlen, user,
                                         msg, s_now ()));
    if ((msg->type == TPC_MSG_BEGIN || msg->type == TPC_MSG_SUBMIT)
        && coord_engine_live (self->engine) > live)
        tpc_crash_hit (self->crash, "coord.registered");
    tpc_msg_destroy (&msg);
    s_perform (self);
    self->trace_in = 0;
}

/*  Answer a hello accepted from connection RID: the link is alive.      */
static void
s_hello_back (coord_server_t *self, const void *rid, size_t len)
{
    tpc_msg_t *msg = tpc_msg_new (TPC_MSG_HELLO);
    bool unroutable;
    if (msg && tpc_msg_set_str (&msg->name, self->id) == 0)
        s_send (self, self->agents, rid, len, msg, &unroutable);
    tpc_msg_destroy (&msg);
}

/*  Tell the agent on connection RID that it is refused (an "error" it
 *  logs and stops on): its key is another agent's, or another process
 *  holds its name.                                                       */
static void
s_refuse_agent (coord_server_t *self, const void *rid, size_t len, int code,
                const char *text, uint64_t version)
{
    tpc_msg_t *msg = tpc_msg_new (TPC_MSG_ERROR);
    bool unroutable;
    if (msg && tpc_msg_set_str (&msg->message, text) == 0) {
        msg->code = code;
        msg->version = version;     /* 0: ours; an older agent's: its own */
        s_send (self, self->agents, rid, len, msg, &unroutable);
    }
    tpc_msg_destroy (&msg);
}

/*  Is agent NAME's current connection still there?  A hello sent to it
 *  fails at once (ZMQ_ROUTER_MANDATORY) when its peer has gone: a
 *  restarted agent's old process closed it when it died.                */
static bool
s_connected (coord_server_t *self, const char *name)
{
    size_t len = 0;
    const void *rid = coord_route_to (self->route, name, &len);
    if (!rid)
        return false;
    tpc_msg_t *msg = tpc_msg_new (TPC_MSG_HELLO);
    char *buf = NULL;
    size_t n = 0;
    bool gone = false;
    if (msg && tpc_msg_set_str (&msg->name, self->id) == 0
        && tpc_msg_encode (msg, &buf, &n) == 0) {
        if (zmq_send (self->agents, rid, len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
            gone = errno == EHOSTUNREACH;
        else
            zmq_send (self->agents, buf, n, ZMQ_DONTWAIT);
    }
    free (buf);
    tpc_msg_destroy (&msg);
    return !gone;
}

/*  "acks" from agent NAME: each gid's ack to the engine, as if alone.   */
static void
s_acks (coord_server_t *self, const char *name, const tpc_msg_t *msg)
{
    for (int c = 0; c < 2; c++) {
        char **gids = c ? msg->aborts : msg->commits;
        size_t n = c ? msg->naborts : msg->ncommits;
        for (size_t i = 0; i < n; i++) {
            tpc_msg_t ack = { .type = TPC_MSG_ACK, .affected = -1,
                              .version = msg->version, .gid = gids[i],
                              .outcome = c ? TPC_OUTCOME_ABORTED
                                           : TPC_OUTCOME_COMMITTED };
            cs_trace_in (self, &ack, false);
            s_engine_rc (coord_engine_agent (self->engine, name, &ack,
                                             s_now ()));
        }
    }
}

static void
s_on_agent (coord_server_t *self, zmq_msg_t *id, zmq_msg_t *body, int nbody)
{
    char name[TPC_RECORD_NAME_MAX], why[256];
    tpc_msg_t *msg = NULL;
    char err[256] = "";
    int rc = nbody == 1
             ? tpc_msg_decode (zmq_msg_data (body), zmq_msg_size (body),
                               &self->limits, &msg, err, sizeof err)
             : TPC_EPROTO;
    /* who speaks: the key's agent (CURVE), never a routing id the peer
     * chose; only a hello moves the agent's name to this connection; a
     * late one on a replaced connection is not answered; one from a
     * replaced incarnation or with another agent's key is answered with an
     * error the agent stops on, one from a second live process of the
     * name with TPC_EBUSY: it waits and says hello again (coord_route.h) */
    const char *user = self->zap ? zmq_msg_gets (body, "User-Id") : NULL;
    bool hello = msg && msg->type == TPC_MSG_HELLO;
    if (hello && msg->version < TPC_PROTOCOL_VERSION) {
        /* an older agent: refused in its own version, which it can read */
        char text[256];
        snprintf (text, sizeof text, "agent '%.63s' speaks protocol version "
                  "%" PRIu64 ", this coordinator protocol version %d: "
                  "upgrade the agent", msg->name, msg->version,
                  TPC_PROTOCOL_VERSION);
        cs_say (self, 1, "refused: %s", text);
        s_refuse_agent (self, zmq_msg_data (id), zmq_msg_size (id),
                        TPC_EMSG_VERSION, text, msg->version);
        tpc_msg_destroy (&msg);
        return;
    }
    int who = coord_route_from (self->route, zmq_msg_data (id),
                                zmq_msg_size (id), user,
                                hello ? msg->name : NULL,
                                hello ? msg->boot : NULL, s_now (),
                                name, sizeof name, why, sizeof why);
    /* a second process of that name: unless the first one's connection
     * is gone (it died: a restart), the newer one waits (TPC_EBUSY) */
    if (who == TPC_EBUSY && !s_connected (self, name)) {
        coord_route_lost (self->route, name);
        who = coord_route_from (self->route, zmq_msg_data (id),
                                zmq_msg_size (id), user, msg->name,
                                msg->boot, s_now (), name, sizeof name, why,
                                sizeof why);
    }
    if (who == TPC_ESTATE)
        cs_say (self, 0, "ignored: %s", why);
    else if (who == TPC_EEXIST || who == TPC_EBUSY) {
        cs_say (self, 1, "warning: %s", why);
        s_refuse_agent (self, zmq_msg_data (id), zmq_msg_size (id), who,
                        why, 0);
    }
    else if (who == TPC_EPERM && hello) {
        char text[256], keyname[TPC_RECORD_NAME_MAX] = "";
        tpc_role_parse (user, keyname, sizeof keyname);
        snprintf (text, sizeof text, "the coordinator refused this key for "
                  "name '%.63s': the key is agent %s's", msg->name,
                  *keyname ? keyname : "(none)");
        cs_say (self, 1, "agent message dropped: %s", why);
        s_refuse_agent (self, zmq_msg_data (id), zmq_msg_size (id),
                        TPC_EPERM, text, 0);
    }
    else if (who == TPC_EPERM)
        cs_say (self, 1, "agent message dropped: %s", why);
    else if (who)
        cs_say (self, 1, "message from an agent without a valid routing id "
                "or hello dropped (%s)", why);
    else if (nbody != 1)
        cs_say (self, 1, "agent '%s': %d frames instead of one: dropped", name,
                nbody);
    else if (rc)
        cs_say (self, 1, "agent '%s': malformed message dropped: %s (%s)",
                name, err, tpc_errname (rc));
    if (who || rc) {
        tpc_msg_destroy (&msg);
        return;
    }
    uint64_t ticket = coord_engine_last_ticket (self->engine);
    if (msg->type == TPC_MSG_ACKS)
        s_acks (self, name, msg);
    else {
        cs_trace_in (self, msg, false);
        s_engine_rc (coord_engine_agent (self->engine, name, msg, s_now ()));
    }
    /* a vote that made the engine force a record completed a commit */
    if (msg->type == TPC_MSG_VOTE
        && coord_engine_last_ticket (self->engine) > ticket)
        tpc_crash_hit (self->crash, "coord.votes_in");
    if (msg->type == TPC_MSG_STATE && msg->p3 == TPC_P3_PRECOMMITTED)
        tpc_crash_hit (self->crash, "coord.precommit_acked");
    if (msg->type == TPC_MSG_HELLO)
        s_hello_back (self, zmq_msg_data (id), zmq_msg_size (id));
    tpc_msg_destroy (&msg);
    s_perform (self);
}

/*  Frames larger than this are not read: ZeroMQ drops the connection.   */
static int64_t
s_wire_max (coord_server_t *self)
{
    return (int64_t) self->limits.max_size * 2 + 4096;
}

/*  Socket monitor I (0 agents, 1 clients) has events: log the dropped
 *  connections (tpc_monitor.h).                                          */
static void
s_on_monitor (coord_server_t *self, int i)
{
    tpc_monitor_event_t ev;
    while (tpc_monitor_read (self->monitor[i], &ev)) {
        /* ZeroMQ does not say why: an oversized frame and an ordinary
         * close look the same, so every drop is said, once (a dropped
         * connection reads nothing more), without --verbose */
        if (ev.event == ZMQ_EVENT_DISCONNECTED)
            cs_say (self, 1, "warning: %s connection dropped: closed by the "
                    "peer, or it sent a frame over %" PRId64 " bytes (2 x "
                    "--max-msg-bytes + 4096), which is never read nor "
                    "answered", i ? "client" : "agent", s_wire_max (self));
    }
}

/*  Read whatever is waiting on both sockets, up to batch_max messages;
 *  a socket that said "nothing" is not asked again in this batch (each
 *  empty read costs ZeroMQ system calls).                                 */
static void
s_batch (coord_server_t *self)
{
    size_t n = 0;
    bool live[2] = { self->agents != NULL, self->clients != NULL };
    while ((live[0] || live[1]) && n < self->cfg.batch_max) {
        for (int i = 0; i < 2; i++) {
            if (!live[i])
                continue;
            void *sock = i == 0 ? self->agents : self->clients;
            zmq_msg_t id, body;
            int nbody;
            if (s_recv (sock, &id, &body, &nbody)) {
                if (i == 0)
                    s_on_agent (self, &id, &body, nbody);
                else
                    s_on_client (self, &id, &body, nbody);
                n++;
            }
            else
                live[i] = false;
            zmq_msg_close (&id);
            zmq_msg_close (&body);
        }
    }
}

/* ---------------------------------------------------------------------
 *  Setup
 */

static void *
s_bind (coord_server_t *self, const char *ep, bool agents, char *bound,
        size_t size, char *errbuf, size_t errlen)
{
    void *sock = zmq_socket (self->ctx, ZMQ_ROUTER);
    if (!sock)
        goto fail;
    int one = 1, linger = 1000, hwm = CS_HWM;
    int64_t maxmsg = s_wire_max (self);
    if (zmq_setsockopt (sock, ZMQ_LINGER, &linger, sizeof linger)
        || zmq_setsockopt (sock, ZMQ_SNDHWM, &hwm, sizeof hwm)
        || zmq_setsockopt (sock, ZMQ_RCVHWM, &hwm, sizeof hwm)
        || zmq_setsockopt (sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg))
        goto fail;
    if (agents && zmq_setsockopt (sock, ZMQ_ROUTER_MANDATORY, &one,
                                  sizeof one))
        goto fail;
    if (self->zap
        && tpc_curve_server_setup (sock, &self->cert, agents
                                   ? TPC_ZAP_AGENTS : TPC_ZAP_CLIENTS))
        goto fail;
    if (zmq_bind (sock, ep) != 0)
        goto fail;
    size_t len = size;
    if (zmq_getsockopt (sock, ZMQ_LAST_ENDPOINT, bound, &len) != 0)
        snprintf (bound, size, "%s", ep);
    return sock;
fail:
    snprintf (errbuf, errlen, "cannot bind the %s endpoint %s: %s",
              agents ? "agent" : "client", ep, zmq_strerror (errno));
    if (sock)
        zmq_close (sock);
    return NULL;
}

/*  CURVE on (curve_secret given): load the key pair, start the ZAP
 *  handler before any socket binds.  0 or -1 with ERRBUF set.            */
static int
s_curve_setup (coord_server_t *self, char *errbuf, size_t errlen)
{
    const coord_server_config_t *cfg = &self->cfg;
    snprintf (self->security, sizeof self->security, "plaintext");
    if (!cfg->curve_secret) {
        if (cfg->allow_clients || cfg->allow_admins || cfg->allow_agents) {
            snprintf (errbuf, errlen, "allow-lists given without "
                      "--curve-secret: the coordinator needs its own key "
                      "pair to use them");
            return -1;
        }
        return 0;
    }
    char err[512];
    if (tpc_curve_cert_load (cfg->curve_secret, true, &self->cert, err,
                             sizeof err)) {
        snprintf (errbuf, errlen, "--curve-secret: %s", err);
        return -1;
    }
    if (!cfg->allow_agents) {
        snprintf (errbuf, errlen, "--allow-agents DIR is required with "
                  "--curve-secret: no agent could connect");
        return -1;
    }
    if (!cfg->recover_only && !cfg->allow_clients && !cfg->allow_admins) {
        snprintf (errbuf, errlen, "--allow-clients DIR or --allow-admins "
                  "DIR is required with --curve-secret: no client could "
                  "connect");
        return -1;
    }
    tpc_zap_config_t zc = { .allow_clients = cfg->allow_clients,
                            .allow_admins = cfg->allow_admins,
                            .allow_agents = cfg->allow_agents,
                            .log_name = "tpc-coordinator" };
    self->zap = tpc_zap_new (self->ctx, &zc, errbuf, errlen);
    if (!self->zap)
        return -1;
    snprintf (self->security, sizeof self->security,
              "curve client_keys=%zu admin_keys=%zu agent_keys=%zu",
              tpc_zap_keys (self->zap, TPC_ROLE_CLIENT),
              tpc_zap_keys (self->zap, TPC_ROLE_ADMIN),
              tpc_zap_keys (self->zap, TPC_ROLE_AGENT));
    return 0;
}

/*  A monitor of SOCK's disconnect events, or NULL with errno set.      */
static tpc_monitor_t *
s_monitor (coord_server_t *self, void *sock, const char *which)
{
    char ep[128];
    snprintf (ep, sizeof ep, "inproc://tpc-coord-%s-%p", which, (void *) self);
    return tpc_monitor_new (self->ctx, sock, ZMQ_EVENT_DISCONNECTED, ep);
}

/*  A configuration coord_server_new cannot start from: 0 or -1 with a
 *  sentence in ERRBUF.                                                   */
static int
s_config_check (const coord_server_config_t *cfg, char *errbuf,
                size_t errlen)
{
    if (!cfg || tpc_coord_id_valid (cfg->id)) {
        snprintf (errbuf, errlen, "invalid coordinator id '%s': use 1 to 32 "
                  "of [A-Za-z0-9]", cfg && cfg->id ? cfg->id : "");
        return -1;
    }
    if ((!cfg->store || !strcmp (cfg->store, "file"))
        && (!cfg->log_dir || !*cfg->log_dir)) {
        snprintf (errbuf, errlen, "a log directory is required (--log-dir)");
        return -1;
    }
    if (cfg->max_msg_bytes && cfg->max_msg_bytes < 2 * TPC_MSG_BATCH_BYTES_MAX) {
        /* an agent's acks frame (TPC_MSG_BATCH_MAX gids) must fit */
        snprintf (errbuf, errlen, "--max-msg-bytes %zu is too small: at "
                  "least %d (a batch of %d acks from an agent must fit)",
                  cfg->max_msg_bytes, 2 * TPC_MSG_BATCH_BYTES_MAX,
                  TPC_MSG_BATCH_MAX);
        return -1;
    }
    return 0;
}

/*  self->cfg: a copy of CFG with the defaults filled in.                 */
static void
s_config (coord_server_t *self, const coord_server_config_t *cfg)
{
    self->cfg = *cfg;
    snprintf (self->id, sizeof self->id, "%s", cfg->id);
    self->cfg.id = self->id;
    if (!self->cfg.bind)
        self->cfg.bind = COORD_CLIENT_EP_DEFAULT;
    if (!self->cfg.agent_bind)
        self->cfg.agent_bind = COORD_AGENT_EP_DEFAULT;
    if (!self->cfg.recover_timeout_ms)
        self->cfg.recover_timeout_ms = 30000;
    if (!self->cfg.batch_max)
        self->cfg.batch_max = 1024;
    if (!self->cfg.checkpoint_records)
        self->cfg.checkpoint_records = 100000;
    if (!self->cfg.checkpoint_bytes)
        self->cfg.checkpoint_bytes = 64ull * 1024 * 1024;
    self->limits.max_size = cfg->max_msg_bytes ? cfg->max_msg_bytes
                                               : TPC_MSG_MAX_SIZE_DEFAULT;
    self->cfg.engine.coord_id = self->id;
    self->cfg.engine.verbose = cfg->verbose != 0;
    self->cfg.crash.point = NULL;       /* the copy below owns the name */
}

/*  The crash points, the engine, the log replayed into it, and the engine
 *  started at this boot's epoch.  0 or -1 with ERRBUF set.               */
static int
s_engine_open (coord_server_t *self, const coord_server_config_t *cfg,
               char *errbuf, size_t errlen)
{
    self->crash = tpc_crash_new (&cfg->crash);
    if (!self->crash) {
        snprintf (errbuf, errlen, "bad crash point '%s' (or out of memory)",
                  cfg->crash.point ? cfg->crash.point : "");
        return -1;
    }
    self->engine = coord_engine_new (&self->cfg.engine);
    if (!self->engine) {
        snprintf (errbuf, errlen, "cannot create the engine (out of memory)");
        return -1;
    }
    if (cs_log_open (self, errbuf, errlen))
        return -1;
    self->unfinished_start = coord_engine_unfinished (self->engine);
    int rc = coord_engine_start (self->engine, self->epoch, s_now ());
    if (rc) {
        snprintf (errbuf, errlen, "cannot start the engine: %s",
                  tpc_strerror (rc));
        return -1;
    }
    return 0;
}

/*  "HOST:PORT" of BIND as coord_http reads it (a bare or ":PORT" is
 *  127.0.0.1's) into OUT.                                                */
static void
s_http_addr (const char *bind_to, char *out, size_t size)
{
    const char *colon = strrchr (bind_to, ':');
    if (!colon || colon == bind_to)
        snprintf (out, size, "127.0.0.1:%s", colon ? colon + 1 : bind_to);
    else
        snprintf (out, size, "%s", bind_to);
}

/*  The HTTP servers: --http (the console, /metrics too) and
 *  --metrics-bind (/metrics only) unless both name the same address.
 *  0 or -1 with ERRBUF set.                                              */
static int
s_http_open (coord_server_t *self, char *errbuf, size_t errlen)
{
    const coord_server_config_t *cfg = &self->cfg;
    if (!cfg->metrics_bind && !cfg->http_bind)
        return 0;
    if (!(self->metrics = coord_metrics_new ())
        || (cfg->http_bind && !(self->console = coord_console_new (0)))) {
        snprintf (errbuf, errlen, "out of memory");
        return -1;
    }
    coord_http_config_t hc = {
        .bind = cfg->http_bind, .flag = "--http", .metrics = self->metrics,
        .console = self->console, .token_file = cfg->http_token_file,
        .coord_id = cfg->id, .version = cfg->version
    };
    if (cfg->http_bind && !(self->http = coord_http_new (&hc, errbuf,
                                                         errlen)))
        return -1;
    char a[300] = "", b[300] = "";
    if (cfg->http_bind && cfg->metrics_bind) {
        s_http_addr (cfg->http_bind, a, sizeof a);
        s_http_addr (cfg->metrics_bind, b, sizeof b);
    }
    if (cfg->metrics_bind && !(cfg->http_bind && !strcmp (a, b))) {
        hc.bind = cfg->metrics_bind;
        hc.flag = "--metrics-bind";
        hc.console = NULL;
        hc.token_file = NULL;
        if (!(self->http_metrics = coord_http_new (&hc, errbuf, errlen)))
            return -1;
    }
    return 0;
}

/*  ZeroMQ: the context, CURVE, the agent and client sockets bound, the
 *  metrics endpoint and the socket monitors.  0 or -1 with ERRBUF set.   */
static int
s_sockets_open (coord_server_t *self, char *errbuf, size_t errlen)
{
    const coord_server_config_t *cfg = &self->cfg;
    self->ctx = zmq_ctx_new ();
    if (!self->ctx) {
        snprintf (errbuf, errlen, "cannot create a ZeroMQ context");
        return -1;
    }
    if (s_curve_setup (self, errbuf, errlen))
        return -1;
    uint64_t hb = cfg->engine.heartbeat_ms ? cfg->engine.heartbeat_ms : 1000;
    self->route = coord_route_new (self->zap != NULL, 3 * hb);
    if (!self->route) {
        snprintf (errbuf, errlen, "out of memory");
        return -1;
    }
    self->agents = s_bind (self, cfg->agent_bind, true, self->agent_ep,
                           sizeof self->agent_ep, errbuf, errlen);
    if (!self->agents)
        return -1;
    if (!cfg->recover_only) {
        self->clients = s_bind (self, cfg->bind, false, self->client_ep,
                                sizeof self->client_ep, errbuf, errlen);
        if (!self->clients)
            return -1;
    }
    if (s_http_open (self, errbuf, errlen))
        return -1;
    self->monitor[0] = s_monitor (self, self->agents, "agents");
    self->monitor[1] = self->clients ? s_monitor (self, self->clients,
                                                  "clients") : NULL;
    if (!self->monitor[0] || (self->clients && !self->monitor[1])) {
        snprintf (errbuf, errlen, "cannot monitor the sockets: %s",
                  zmq_strerror (errno));
        return -1;
    }
    return 0;
}

coord_server_t *
coord_server_new (const coord_server_config_t *cfg, char *errbuf,
                  size_t errlen)
{
    char dummy[8];
    if (!errbuf) {
        errbuf = dummy;
        errlen = sizeof dummy;
    }
    *errbuf = '\0';
    if (s_config_check (cfg, errbuf, errlen))
        return NULL;
    coord_server_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (errbuf, errlen, "out of memory");
        return NULL;
    }
    if (cs_sync_init (self, errbuf, errlen))
        goto fail;
    s_config (self, cfg);
    if (cs_trace_open (self, errbuf, errlen))
        goto fail;
    /* bind first: a coordinator that cannot bind (an endpoint in use,
     * another coordinator) leaves no log directory nor segment behind */
    if (s_sockets_open (self, errbuf, errlen)
        || s_engine_open (self, cfg, errbuf, errlen))
        goto fail;
    return self;
fail:
    coord_server_destroy (&self);
    return NULL;
}

void
coord_server_destroy (coord_server_t **self_p)
{
    coord_server_t *self = *self_p;
    if (!self)
        return;
    for (int i = 0; i < 2; i++)
        tpc_monitor_destroy (&self->monitor[i]);
    if (self->clients)
        zmq_close (self->clients);
    if (self->agents)
        zmq_close (self->agents);
    tpc_zap_destroy (&self->zap);
    coord_route_destroy (&self->route);
    coord_http_destroy (&self->http);          /* its threads first */
    coord_http_destroy (&self->http_metrics);
    coord_console_destroy (&self->console);
    coord_metrics_destroy (&self->metrics);
    for (size_t i = 0; i < self->batches_cap; i++) {
        for (size_t k = 0; k < self->batches[i].n; k++)
            tpc_msg_destroy (&self->batches[i].msgs[k]);
        free (self->batches[i].msgs);
    }
    free (self->batches);
    free (self->partial);
    explicit_bzero (&self->cert, sizeof self->cert);
    if (self->ctx)
        zmq_ctx_term (self->ctx);
    cs_sync_stop (self);
    coord_store_destroy (&self->store);
    coord_engine_destroy (&self->engine);
    if (self->syncer.efd >= 0)
        close (self->syncer.efd);
    pthread_mutex_destroy (&self->syncer.mutex);
    pthread_cond_destroy (&self->syncer.cond);
    tpc_crash_destroy (&self->crash);
    tpc_trace_destroy (&self->trace);
    free (self);
    *self_p = NULL;
}

static int
s_report_unfinished (void *arg, const tpc_record_t *rec, size_t nacked)
{
    (void) arg;
    if (rec->type == TPC_REC_PRECOMMIT)
        printf ("recover gid=%s outcome=in_progress precommitted=%zu/%zu "
                "unfinished\n", rec->gid, nacked, rec->nparts);
    else
        printf ("recover gid=%s outcome=committed acked=%zu/%zu "
                "unfinished\n", rec->gid, nacked, rec->nparts);
    return 0;
}

int
coord_server_run (coord_server_t *self, volatile sig_atomic_t *stop)
{
    uint64_t deadline = self->cfg.recover_only
                        ? s_now () + self->cfg.recover_timeout_ms
                        : COORD_NEVER;
    int status = 0;
    uint64_t failsync = tpc_crash_failsync_at (self->crash, "coord.log_sync");
    if (failsync)                       /* tests: tpc_crash.h */
        tpc_io_failsync_arm (&self->failsync, failsync, false);
    if (cs_sync_start (self) != 0) {
        cs_say (self, 1, "cannot start the sync thread");
        return 2;
    }
    s_perform (self);
    while (!*stop) {
        if (self->cfg.recover_only
            && coord_engine_unfinished (self->engine) == 0)
            break;
        uint64_t now = s_now ();
        if (now >= deadline)
            break;
        uint64_t wake = coord_engine_next_wake (self->engine);
        uint64_t until = wake < deadline ? wake : deadline;
        /* the socket monitors only feed the log: read them every
         * CS_MONITOR_MS rather than poll them (every zmq socket polled
         * costs system calls on every wake-up of the loop) */
        if (self->monitor_at < until)
            until = self->monitor_at;
        long timeout = until <= now ? 0
                     : until - now > 1000 ? 1000 : (long) (until - now);
        zmq_pollitem_t items[4] = {
            { .fd = self->syncer.efd, .events = ZMQ_POLLIN },
            /* the console's eventfd (none: the sync one, no events) */
            { .fd = self->console ? coord_console_fd (self->console)
                                  : self->syncer.efd,
              .events = self->console ? ZMQ_POLLIN : 0 },
            { .socket = self->agents, .events = ZMQ_POLLIN },
            { .socket = self->clients, .events = ZMQ_POLLIN },
        };
        cs_sync_flush (self);   /* this pass's forced records: one sync */
        int rc = zmq_poll (items, self->clients ? 4 : 3, timeout);
        if (rc < 0 && errno != EINTR) {
            cs_say (self, 1, "poll failed: %s", zmq_strerror (errno));
            status = 2;
            break;
        }
        if (rc > 0 && (items[0].revents & ZMQ_POLLIN))
            s_durable (self);
        if (rc > 0 && (items[1].revents & ZMQ_POLLIN)) {
            s_engine_rc (coord_console_service (self->console, self->engine,
                                                s_now ()));
            s_perform (self);
        }
        if (rc > 0)
            s_batch (self);
        now = s_now ();
        if (now >= self->monitor_at) {
            for (int i = 0; i < 2; i++)
                if (self->monitor[i])
                    s_on_monitor (self, i);
            self->monitor_at = now + CS_MONITOR_MS;
        }
        if (now >= coord_engine_next_wake (self->engine))
            s_engine_rc (coord_engine_tick (self->engine, now));
        s_perform (self);
        cs_maybe_checkpoint (self);
        if (self->metrics && now >= self->metrics_at) {
            coord_engine_stats_t st;
            coord_engine_stats (self->engine, &st);
            coord_metrics_publish (self->metrics, &st);
            coord_store_stats_t ss;
            coord_store_stats (self->store, &ss);
            coord_metrics_store (self->metrics, ss.writes, ss.fenced,
                                 self->epoch,
                                 (uint64_t) self->cfg.fence_rev);
            self->metrics_at = now + 1000;
        }
    }
    cs_sync_stop (self);
    if (self->cfg.recover_only && status == 0) {
        size_t left = coord_engine_unfinished (self->engine);
        coord_engine_foreach_decided (self->engine, s_report_unfinished, self);
        coord_engine_foreach_precommitting (self->engine, s_report_unfinished,
                                            self);
        fflush (stdout);
        cs_say (self, 1, "recover-only: %zu finished, %zu unfinished",
                self->finished, left);
        status = left ? 1 : 0;
    }
    /* lazy records (END, ABORT) need no sync, but a clean stop keeps them */
    if (coord_store_last_lsn (self->store)
        > coord_store_durable_lsn (self->store)) {
        int rc = coord_store_sync (self->store,
                                   coord_store_last_lsn (self->store));
        if (rc) {
            cs_say (self, 1, "final sync failed: %s", tpc_strerror (rc));
            status = CS_EXIT_LOG_FAILED;
        }
    }
    return status;
}

uint64_t
coord_server_epoch (coord_server_t *self)
{
    return self->epoch;
}

uint64_t
coord_server_replayed (coord_server_t *self)
{
    return self->replayed;
}

size_t
coord_server_unfinished (coord_server_t *self)
{
    return self->unfinished_start;
}

const char *
coord_server_client_endpoint (coord_server_t *self)
{
    return self->clients ? self->client_ep : NULL;
}

const char *
coord_server_agent_endpoint (coord_server_t *self)
{
    return self->agents ? self->agent_ep : NULL;
}

const char *
coord_server_security (coord_server_t *self)
{
    return self->security;
}

int
coord_server_metrics_port (coord_server_t *self)
{
    return coord_http_port (self->http_metrics ? self->http_metrics
                                               : self->cfg.metrics_bind
                                               ? self->http : NULL);
}

int
coord_server_http_port (coord_server_t *self)
{
    return coord_http_port (self->http);
}
