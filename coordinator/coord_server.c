/*  coord_server: sockets, log, clock and the group-commit loop around the
 *  pure coord_engine (see coord_server.h for the loop and its rules).
 *
 *  WIRE (both ROUTER sockets): [routing id][one JSON frame] (tpc_msg.h).
 *  A client frame sequence that is not exactly that gets an error reply.
 *  Agent socket: the ROUTER assigns routing ids (no ROUTER_HANDOVER: no
 *  peer can take over another's connection); coord_route maps an agent's
 *  name to its connection, on a hello whose key (CURVE) is that agent's.
 *  Every hello accepted is answered by a hello naming the coordinator, so
 *  an agent whose hellos go unanswered knows its link is dead and makes a
 *  new one.  ZMQ_ROUTER_MANDATORY: a send to an agent that is not
 *  connected fails at once and is reported to the engine, which keeps the
 *  decision pending.
 *  Size: a frame up to --max-msg-bytes is decoded; one up to twice that
 *  (+ 4 KiB) is read and refused by the decoder (TPC_EMSG_TOO_BIG); a
 *  larger one is never read into memory: ZeroMQ (ZMQ_MAXMSGSIZE) closes
 *  that connection, and a socket monitor logs each dropped connection
 *  once, at warning level (ZeroMQ gives no reason: an ordinary disconnect
 *  is logged the same way).
 */
#include "coord_server.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "coord_metrics.h"
#include "coord_route.h"
#include "tpc_zap.h"
#include "tpc_curve.h"
#include "tpc_error.h"
#include "tpc_log.h"
#include "tpc_msg.h"
#include "tpc_record.h"

#define S_EXIT_LOG_FAILED 3     /* append/sync failed: stop at once */
#define S_RECBUF 8192           /* > largest encoded record (~4.3 KiB) */
#define S_HWM 100000            /* queued messages per peer */
#define S_MONITOR_MS 200        /* socket monitors are read this often */

/*  The sync thread: runs tpc_log_sync() for the loop, so that the loop
 *  goes on reading, deciding and sending while the disk works.  The loop
 *  asks (want_*), the thread makes the log durable up to want_lsn, then
 *  publishes want_ticket as done_ticket and writes to the eventfd the loop
 *  polls.  Only the loop feeds coord_engine_durable(), with done_ticket:
 *  so a decide(committed) still leaves only after the fdatasync covering
 *  its COMMIT record returned 0.  A failed sync ends the process from the
 *  thread at once (s_fatal_log).                                         */
typedef struct {
    pthread_t thread;
    bool running;
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    uint64_t want_lsn, want_ticket; /* newest request */
    bool want_commit;               /* ... covers a COMMIT record */
    bool want_precommit;            /* ... covers a PRECOMMIT record */
    uint64_t done_ticket;           /* durable up to this ticket */
    bool done_commit;               /* a COMMIT became durable, not yet
                                       seen by the loop */
    bool done_precommit;            /* the same for a PRECOMMIT (3PC) */
    uint64_t applied_ticket;        /* loop: given to the engine so far */
    bool stop;
    int efd;                        /* eventfd: done_ticket moved */
} s_syncer_t;

struct coord_server {
    coord_server_config_t cfg;
    char id[TPC_COORD_ID_MAX];
    coord_engine_t *engine;
    tpc_log_t *log;
    tpc_crash_t *crash;         /* crash points (tpc_crash.h) */
    char crash_gid[TPC_GID_MAX];    /* gid of the last decide(committed)
                                       sent while a point is armed */
    void *ctx, *clients, *agents;
    void *monitor[2];           /* PAIRs: disconnects of agents, clients */
    char client_ep[256], agent_ep[256];
    tpc_msg_limits_t limits;
    uint64_t epoch, replayed;
    size_t in_doubt_start;
    tpc_record_t rec;           /* replay scratch */
    uint8_t recbuf[S_RECBUF];
    s_syncer_t syncer;          /* group commit off the loop */
    uint64_t ckpt_records, ckpt_bytes;
    size_t finished;            /* recover_only: gids ended */
    tpc_io_t io;                /* the log's I/O: POSIX, or with faults */
    const tpc_io_t *base_io;
    bool sync_fails;            /* debug_fail_sync armed */
    char errbuf[256];           /* replay errors */
    char cut_gids[1024];        /* gids of the log tail cut at open */
    coord_route_t *route;       /* agent name <-> connection */
    tpc_zap_t *zap;             /* CURVE on: the ZAP handler */
    tpc_curve_cert_t cert;      /* ... and this coordinator's keys */
    char security[96];
    coord_metrics_t *metrics;   /* NULL: no metrics endpoint */
    uint64_t metrics_at;        /* next publication of the gauges */
    uint64_t monitor_at;        /* next read of the socket monitors */
    uint64_t replay_said;       /* replay progress: last line, ms */
};

static uint64_t
s_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

static void
s_say (coord_server_t *self, int level, const char *fmt, ...)
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
static void
s_fatal_log (const char *what, int rc)
{
    fprintf (stderr, "tpc-coordinator: FATAL: %s failed: %s (%s); "
             "stopping now, restart recovers from the log\n", what,
             tpc_strerror (rc), tpc_errname (rc));
    fflush (stdout);
    _exit (S_EXIT_LOG_FAILED);
}

static void
s_fatal (const char *what, int rc)
{
    fprintf (stderr, "tpc-coordinator: FATAL: %s: %s\n", what,
             tpc_strerror (rc));
    fflush (stdout);
    _exit (2);
}

/*  Test hook: the log's I/O is POSIX except that, once armed, fdatasync
 *  fails (EIO) as a dying disk would.                                    */
static int
s_io_open (void *c, const char *p, int f, mode_t m)
{
    const tpc_io_t *b = ((coord_server_t *) c)->base_io;
    return b->open (b->ctx, p, f, m);
}

static int
s_io_close (void *c, int fd)
{
    const tpc_io_t *b = ((coord_server_t *) c)->base_io;
    return b->close (b->ctx, fd);
}

static ssize_t
s_io_pwrite (void *c, int fd, const void *buf, size_t n, off_t off)
{
    const tpc_io_t *b = ((coord_server_t *) c)->base_io;
    return b->pwrite (b->ctx, fd, buf, n, off);
}

static ssize_t
s_io_pread (void *c, int fd, void *buf, size_t n, off_t off)
{
    const tpc_io_t *b = ((coord_server_t *) c)->base_io;
    return b->pread (b->ctx, fd, buf, n, off);
}

static int
s_io_fdatasync (void *c, int fd)
{
    coord_server_t *self = c;
    if (self->sync_fails) {
        errno = EIO;
        return -1;
    }
    return self->base_io->fdatasync (self->base_io->ctx, fd);
}

static int
s_io_fsync (void *c, int fd)
{
    const tpc_io_t *b = ((coord_server_t *) c)->base_io;
    return b->fsync (b->ctx, fd);
}

static int
s_io_ftruncate (void *c, int fd, off_t len)
{
    const tpc_io_t *b = ((coord_server_t *) c)->base_io;
    return b->ftruncate (b->ctx, fd, len);
}

static int
s_io_rename (void *c, const char *from, const char *to)
{
    const tpc_io_t *b = ((coord_server_t *) c)->base_io;
    return b->rename (b->ctx, from, to);
}

static int
s_io_unlink (void *c, const char *path)
{
    const tpc_io_t *b = ((coord_server_t *) c)->base_io;
    return b->unlink (b->ctx, path);
}

static void
s_io_setup (coord_server_t *self)
{
    self->base_io = tpc_io_posix ();
    self->io = (tpc_io_t) {
        .open = s_io_open, .close = s_io_close, .pwrite = s_io_pwrite,
        .pread = s_io_pread, .fdatasync = s_io_fdatasync,
        .fsync = s_io_fsync, .ftruncate = s_io_ftruncate,
        .rename = s_io_rename, .unlink = s_io_unlink, .ctx = self
    };
}

static void
s_engine_rc (int rc)
{
    if (rc)
        s_fatal ("engine", rc);
}

/* ---------------------------------------------------------------------
 *  Log
 */

static uint64_t
s_append_record (coord_server_t *self, const tpc_record_t *rec)
{
    size_t len = 0;
    int rc = tpc_record_encode (rec, self->recbuf, sizeof self->recbuf, &len);
    if (rc)
        s_fatal ("encoding a log record", rc);
    uint64_t lsn = 0;
    rc = tpc_log_append (self->log, (uint8_t) rec->type, self->recbuf, len,
                         &lsn);
    if (rc)
        s_fatal_log ("log append", rc);
    self->ckpt_records++;
    self->ckpt_bytes += len + 20;
    return lsn;
}

static int
s_replay_one (void *arg, const tpc_log_rec_t *lrec, const void *payload,
              size_t len)
{
    coord_server_t *self = arg;
    int rc = tpc_record_decode (lrec->type, payload, len, &self->rec);
    if (rc) {
        snprintf (self->errbuf, sizeof self->errbuf,
                  "record LSN %" PRIu64 " (segment %" PRIu64 " offset %"
                  PRIu64 ", type %u) does not decode", lrec->lsn,
                  lrec->segment, lrec->offset, lrec->type);
        return rc;
    }
    self->replayed++;
    if (self->replayed % 4096 == 0) {   /* a long replay says how far */
        uint64_t now = s_now ();
        if (!self->replay_said)
            self->replay_said = now;
        else if (now >= self->replay_said + 2000) {
            self->replay_said = now;
            s_say (self, 1, "replaying the log: %" PRIu64 " records, LSN %"
                   PRIu64 ", %zu decided transactions so far",
                   self->replayed, lrec->lsn,
                   coord_engine_unfinished (self->engine));
        }
    }
    rc = coord_engine_replay (self->engine, &self->rec);
    if (rc)
        snprintf (self->errbuf, sizeof self->errbuf,
                  "replaying LSN %" PRIu64 ": %s", lrec->lsn,
                  tpc_strerror (rc));
    return rc;
}

static void
s_log_warn (void *arg, const char *text)
{
    (void) arg;
    fprintf (stderr, "tpc-coordinator: log: warning: %s\n", text);
}

/*  A record of the tail the log cuts at open: note its gid ("gid (TYPE)";
 *  best effort, the record failed its checks), and tell the engine the
 *  agents it names (a lost COMMIT may be the only record naming one that
 *  committed: presumed abort must ask it too).                          */
static int
s_log_cut (void *arg, const tpc_log_rec_t *lrec, const void *payload,
           size_t len)
{
    coord_server_t *self = arg;
    char item[TPC_GID_MAX + 48];
    if (tpc_record_decode (lrec->type, payload, len, &self->rec))
        snprintf (item, sizeof item, "? (type %u, undecodable)",
                  (unsigned) lrec->type);
    else if (self->rec.type == TPC_REC_EPOCH)
        return 0;
    else {
        snprintf (item, sizeof item, "%s (%s)", self->rec.gid,
                  tpc_record_type_name (lrec->type));
        int rc = coord_engine_note_cut (self->engine, &self->rec);
        if (rc)
            return rc;
    }
    size_t used = strlen (self->cut_gids), room = sizeof self->cut_gids;
    if (used + strlen (item) + 8 < room)
        snprintf (self->cut_gids + used, room - used, "%s%s",
                  used ? ", " : "", item);
    else if (!strstr (self->cut_gids, "..."))
        snprintf (self->cut_gids + used, room - used, ", ...");
    return 0;
}

static int
s_checkpoint_one (void *arg, const tpc_record_t *rec, size_t nacked)
{
    (void) nacked;
    s_append_record (arg, rec);
    return 0;
}

/*  Start a new segment holding only what is live, drop the older ones.   */
static void
s_maybe_checkpoint (coord_server_t *self)
{
    if (self->ckpt_records < self->cfg.checkpoint_records
        && self->ckpt_bytes < self->cfg.checkpoint_bytes)
        return;
    int rc = tpc_log_checkpoint_begin (self->log);
    if (rc)
        s_fatal_log ("checkpoint begin", rc);
    /* the older segments go, and with them the EPOCH records: carry the
     * highest epoch over, or the next boot would reuse gids */
    uint64_t epoch = self->cfg.recover_only
                     ? coord_engine_replayed_epoch (self->engine)
                     : self->epoch;
    if (epoch > 0) {
        tpc_record_t ep = { .type = TPC_REC_EPOCH, .epoch = epoch };
        s_append_record (self, &ep);
    }
    rc = coord_engine_foreach_decided (self->engine, s_checkpoint_one, self);
    if (!rc)    /* 3PC: pre-committed, undecided: their PRECOMMIT records */
        rc = coord_engine_foreach_precommitting (self->engine,
                                                 s_checkpoint_one, self);
    if (!rc)    /* gids an operator resolved: their HEURISTIC records */
        rc = coord_engine_foreach_resolved (self->engine, s_checkpoint_one,
                                            self);
    if (rc)
        s_fatal ("checkpoint", rc);
    rc = tpc_log_checkpoint_end (self->log);
    if (rc)
        s_fatal_log ("checkpoint end", rc);
    s_say (self, 0, "checkpoint: %zu live decision(s) carried over",
           coord_engine_unfinished (self->engine));
    self->ckpt_records = self->ckpt_bytes = 0;
}

/* ---------------------------------------------------------------------
 *  The sync thread (see s_syncer_t)
 */

static void *
s_sync_main (void *arg)
{
    coord_server_t *self = arg;
    s_syncer_t *y = &self->syncer;
    pthread_mutex_lock (&y->mutex);
    while (!y->stop) {
        if (y->want_ticket <= y->done_ticket) {
            pthread_cond_wait (&y->cond, &y->mutex);
            continue;
        }
        uint64_t lsn = y->want_lsn, ticket = y->want_ticket;
        bool commit = y->want_commit, precommit = y->want_precommit;
        y->want_commit = y->want_precommit = false;
        pthread_mutex_unlock (&y->mutex);
        struct timespec t0, t1;
        clock_gettime (CLOCK_MONOTONIC, &t0);
        int rc = tpc_log_sync (self->log, lsn);
        if (rc)
            s_fatal_log ("fdatasync of the decision log", rc);
        clock_gettime (CLOCK_MONOTONIC, &t1);
        /* coord_metrics is atomics: safe from this thread */
        coord_metrics_sync (self->metrics, (uint64_t) (t1.tv_sec - t0.tv_sec)
                            * 1000000 + (uint64_t) (t1.tv_nsec / 1000)
                            - (uint64_t) (t0.tv_nsec / 1000));
        pthread_mutex_lock (&y->mutex);
        y->done_ticket = ticket;
        y->done_commit |= commit;
        y->done_precommit |= precommit;
        uint64_t one = 1;
        if (write (y->efd, &one, sizeof one) < 0 && errno != EAGAIN)
            s_fatal ("waking the loop from the sync thread", TPC_EIO);
    }
    pthread_mutex_unlock (&y->mutex);
    return NULL;
}

/*  Ask the sync thread to make the log durable up to LSN (ticket TICKET;
 *  TYPE: the forced record's type, for the crash points).               */
static void
s_sync_request (coord_server_t *self, uint64_t lsn, uint64_t ticket,
                tpc_rec_type_t type)
{
    bool commit = type == TPC_REC_COMMIT;
    bool precommit = type == TPC_REC_PRECOMMIT;
    s_syncer_t *y = &self->syncer;
    pthread_mutex_lock (&y->mutex);
    if (ticket > y->want_ticket) {
        y->want_ticket = ticket;
        y->want_lsn = lsn;
    }
    y->want_commit |= commit;
    y->want_precommit |= precommit;
    pthread_cond_signal (&y->cond);
    pthread_mutex_unlock (&y->mutex);
}

static int
s_sync_start (coord_server_t *self)
{
    s_syncer_t *y = &self->syncer;
    if (pthread_create (&y->thread, NULL, s_sync_main, self) != 0)
        return TPC_ENOMEM;
    y->running = true;
    return 0;
}

/*  Stop the thread once its current sync is over (requests still queued
 *  are left: the caller syncs what remains itself).                      */
static void
s_sync_stop (coord_server_t *self)
{
    s_syncer_t *y = &self->syncer;
    if (!y->running)
        return;
    pthread_mutex_lock (&y->mutex);
    y->stop = true;
    pthread_cond_signal (&y->cond);
    pthread_mutex_unlock (&y->mutex);
    pthread_join (y->thread, NULL);
    y->running = false;
}

/* ---------------------------------------------------------------------
 *  Sending
 */

static int
s_send (void *sock, const void *id, size_t idlen, const tpc_msg_t *msg,
        bool *unroutable)
{
    char *buf = NULL;
    size_t len = 0;
    *unroutable = false;
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
        s_send (self->clients, id, idlen, msg, &unroutable);
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
        s_send (self->clients, id, idlen, msg, &unroutable);
    }
    tpc_msg_destroy (&msg);
}

/*  Crash points after a message to an agent left.                        */
static void
s_crash_sent (coord_server_t *self, const tpc_msg_t *msg)
{
    if (msg->type == TPC_MSG_PREPARE
        || (msg->type == TPC_MSG_WORK && msg->then == TPC_THEN_PREPARE))
        tpc_crash_hit (self->crash, "coord.prepare_sent");
    else if (msg->type == TPC_MSG_DECIDE
             && msg->outcome == TPC_OUTCOME_COMMITTED) {
        tpc_crash_hit (self->crash, "coord.commit_sent");
        /* the first decide of a gid in a row: the others are not sent yet */
        if (tpc_crash_armed (self->crash)
            && strcmp (self->crash_gid, msg->gid)) {
            snprintf (self->crash_gid, sizeof self->crash_gid, "%s",
                      msg->gid);
            if (tpc_crash_next_fires (self->crash, "coord.commit_partial")) {
                s_say (self, 1, "crash point coord.commit_partial: gid %s",
                       msg->gid);
                usleep (200 * 1000);    /* let ZeroMQ deliver that decide */
            }
            tpc_crash_hit (self->crash, "coord.commit_partial");
        }
    }
    else if (msg->type == TPC_MSG_PRECOMMIT)
        tpc_crash_hit (self->crash, "coord.precommit_sent");
}

/*  Perform every queued action: sends go out, appends are written.      */
static void
s_perform (coord_server_t *self)
{
    coord_action_t act;
    bool unroutable;
    int rc;
    while (coord_engine_pop (self->engine, &act)) {
        switch (act.type) {
        case COORD_ACT_CLIENT:
            rc = s_send (self->clients, act.client, act.client_len, act.msg,
                         &unroutable);
            if (rc)
                s_say (self, 0, "reply '%s' not delivered: %s",
                       tpc_msg_type_name (act.msg->type), tpc_strerror (rc));
            break;
        case COORD_ACT_AGENT: {
            size_t ridlen = 0;
            const void *rid = coord_route_to (self->route, act.agent, &ridlen);
            rc = rid ? s_send (self->agents, rid, ridlen, act.msg,
                               &unroutable)
                     : TPC_ECONNECT;
            if (!rid)
                unroutable = true;      /* it never said hello */
            if (rc && unroutable)
                s_engine_rc (coord_engine_send_failed (
                    self->engine, act.agent, act.msg, s_now ()));
            else if (rc)
                s_say (self, 1, "'%s' to agent '%s' not sent: %s",
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
            uint64_t lsn = s_append_record (self, act.rec);
            if (act.rec->type == TPC_REC_COMMIT)
                tpc_crash_hit (self->crash, "coord.after_decision_append");
            if (act.forced)
                s_sync_request (self, lsn, act.ticket, act.rec->type);
            break;
        }
        case COORD_ACT_ENDED:
            coord_metrics_ended (self->metrics, &act);
            if (self->cfg.recover_only) {
                printf ("recover gid=%s outcome=%s acked=%zu/%zu\n", act.gid,
                        tpc_outcome_name (act.outcome), act.nacked,
                        act.nparts);
                fflush (stdout);
                self->finished++;
            }
            break;
        case COORD_ACT_LOG:
            s_say (self, act.level, "%s", act.text);
            break;
        case COORD_ACT_WAKE:
            break;              /* the loop asks coord_engine_next_wake() */
        }
        coord_action_clear (&act);
    }
}

/*  The sync thread told the loop something became durable: hand it to the
 *  engine (which now queues the held decisions) and send.                */
static void
s_durable (coord_server_t *self)
{
    s_syncer_t *y = &self->syncer;
    uint64_t n;
    if (read (y->efd, &n, sizeof n) < 0 && errno != EAGAIN)
        s_fatal ("reading the sync thread's eventfd", TPC_EIO);
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
        s_engine_rc (coord_engine_durable (self->engine, ticket, s_now ()));
        s_perform (self);
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
        s_say (self, 1, "refused '%s' from %s: not an admin key",
               tpc_msg_type_name (msg->type), user ? user : "?");
        s_refuse (self, cid, cidlen, msg->rid, TPC_EPERM, err);
        tpc_msg_destroy (&msg);
        return;
    }
    size_t live = coord_engine_live (self->engine);
    s_engine_rc (coord_engine_client_as (self->engine, cid, cidlen, user,
                                         msg, s_now ()));
    if ((msg->type == TPC_MSG_BEGIN || msg->type == TPC_MSG_SUBMIT)
        && coord_engine_live (self->engine) > live)
        tpc_crash_hit (self->crash, "coord.registered");
    tpc_msg_destroy (&msg);
    s_perform (self);
}

/*  Answer a hello accepted from connection RID: the link is alive.      */
static void
s_hello_back (coord_server_t *self, const void *rid, size_t len)
{
    tpc_msg_t *msg = tpc_msg_new (TPC_MSG_HELLO);
    bool unroutable;
    if (msg && tpc_msg_set_str (&msg->name, self->id) == 0)
        s_send (self->agents, rid, len, msg, &unroutable);
    tpc_msg_destroy (&msg);
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
     * chose; only a hello moves the agent's name to this connection, and
     * a late one (replaced connection or incarnation) is not answered */
    const char *user = self->zap ? zmq_msg_gets (body, "User-Id") : NULL;
    bool hello = msg && msg->type == TPC_MSG_HELLO;
    int who = coord_route_from (self->route, zmq_msg_data (id),
                                zmq_msg_size (id), user,
                                hello ? msg->name : NULL,
                                hello ? msg->boot : NULL,
                                name, sizeof name, why, sizeof why);
    if (who == TPC_ESTATE)
        s_say (self, 0, "ignored: %s", why);
    else if (who == TPC_EPERM)
        s_say (self, 1, "agent message dropped: %s", why);
    else if (who)
        s_say (self, 1, "message from an agent without a valid routing id "
               "or hello dropped (%s)", why);
    else if (nbody != 1)
        s_say (self, 1, "agent '%s': %d frames instead of one: dropped", name,
               nbody);
    else if (rc)
        s_say (self, 1, "agent '%s': malformed message dropped: %s (%s)",
               name, err, tpc_errname (rc));
    if (who || rc) {
        tpc_msg_destroy (&msg);
        return;
    }
    uint64_t ticket = coord_engine_last_ticket (self->engine);
    s_engine_rc (coord_engine_agent (self->engine, name, msg, s_now ()));
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
 *  connections.  Monitor messages: frame 1 = event u16 + value u32,
 *  frame 2 = endpoint.                                                   */
static void
s_on_monitor (coord_server_t *self, int i)
{
    for (;;) {
        zmq_msg_t frame;
        zmq_msg_init (&frame);
        if (zmq_msg_recv (&frame, self->monitor[i], ZMQ_DONTWAIT) < 0) {
            zmq_msg_close (&frame);
            return;
        }
        uint16_t event = 0;
        if (zmq_msg_size (&frame) >= sizeof event)
            memcpy (&event, zmq_msg_data (&frame), sizeof event);
        bool more = zmq_msg_more (&frame);
        zmq_msg_close (&frame);
        while (more) {
            zmq_msg_init (&frame);
            if (zmq_msg_recv (&frame, self->monitor[i], 0) < 0)
                more = false;
            else
                more = zmq_msg_more (&frame);
            zmq_msg_close (&frame);
        }
        /* ZeroMQ does not say why: an oversized frame and an ordinary
         * close look the same, so every drop is said, once (a dropped
         * connection reads nothing more), without --verbose */
        if (event == ZMQ_EVENT_DISCONNECTED)
            s_say (self, 1, "warning: %s connection dropped: closed by the "
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
    int one = 1, linger = 1000, hwm = S_HWM;
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
              "curve clients=%zu admins=%zu agents=%zu",
              tpc_zap_keys (self->zap, TPC_ROLE_CLIENT),
              tpc_zap_keys (self->zap, TPC_ROLE_ADMIN),
              tpc_zap_keys (self->zap, TPC_ROLE_AGENT));
    return 0;
}

/*  A PAIR that receives SOCK's disconnect events, or NULL.               */
static void *
s_monitor (coord_server_t *self, void *sock, const char *which)
{
    char ep[128];
    snprintf (ep, sizeof ep, "inproc://tpc-coord-%s-%p", which, (void *) self);
    if (zmq_socket_monitor (sock, ep, ZMQ_EVENT_DISCONNECTED) != 0)
        return NULL;
    void *pair = zmq_socket (self->ctx, ZMQ_PAIR);
    int linger = 0;
    if (pair && (zmq_setsockopt (pair, ZMQ_LINGER, &linger, sizeof linger)
                 || zmq_connect (pair, ep))) {
        zmq_close (pair);
        pair = NULL;
    }
    return pair;
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
    if (!cfg || tpc_coord_id_valid (cfg->id)) {
        snprintf (errbuf, errlen, "invalid coordinator id '%s': use 1 to 32 "
                  "of [A-Za-z0-9]", cfg && cfg->id ? cfg->id : "");
        return NULL;
    }
    if (!cfg->log_dir || !*cfg->log_dir) {
        snprintf (errbuf, errlen, "a log directory is required (--log-dir)");
        return NULL;
    }
    coord_server_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (errbuf, errlen, "out of memory");
        return NULL;
    }
    pthread_mutex_init (&self->syncer.mutex, NULL);
    pthread_cond_init (&self->syncer.cond, NULL);
    self->syncer.efd = eventfd (0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (self->syncer.efd < 0) {
        snprintf (errbuf, errlen, "cannot create an eventfd: %s",
                  strerror (errno));
        coord_server_destroy (&self);
        return NULL;
    }
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
    self->crash = tpc_crash_new (&cfg->crash);
    if (!self->crash) {
        snprintf (errbuf, errlen, "bad crash point '%s' (or out of memory)",
                  cfg->crash.point ? cfg->crash.point : "");
        goto fail;
    }
    self->engine = coord_engine_new (&self->cfg.engine);
    if (!self->engine) {
        snprintf (errbuf, errlen, "cannot create the engine (out of memory)");
        goto fail;
    }

    s_io_setup (self);
    tpc_log_config_t lcfg = { .dir = cfg->log_dir,
                              .segment_bytes = cfg->log_segment_bytes,
                              .io = cfg->debug_fail_sync ? &self->io : NULL,
                              .warn = s_log_warn, .warn_arg = self,
                              .cut_fn = s_log_cut, .cut_arg = self };
    tpc_log_cut_t cut;
    lcfg.cut = &cut;
    char lerr[512] = "";
    int rc = tpc_log_open (&lcfg, s_replay_one, self, &self->log, lerr,
                           sizeof lerr);
    if (rc) {
        snprintf (errbuf, errlen, "cannot open the log in %s: %s%s%s",
                  cfg->log_dir, *self->errbuf ? self->errbuf : lerr,
                  *self->errbuf || *lerr ? ": " : "", tpc_strerror (rc));
        goto fail;
    }
    if (cut.cut)
        fprintf (stderr, "tpc-coordinator: WARNING: log tail cut at segment %"
                 PRIu64 " offset %" PRIu64 " (%s): %" PRIu64 " record(s), "
                 "gids: %s%s\n", cut.segment, cut.offset, cut.damaged
                 ? "damaged in place, not torn by a crash" : "torn by a crash",
                 cut.records, *self->cut_gids ? self->cut_gids
                 : cut.offset ? "none" : "unknown (a bad segment header: "
                 "what the segment held cannot be read)",
                 cut.damaged && *self->cut_gids ? "; decisions in it may "
                 "have reached participants: check them" : "");
    /* the epoch never goes back, even when segments holding EPOCH records
     * were lost: the log's high-water file keeps the highest one          */
    uint64_t replayed_epoch = coord_engine_replayed_epoch (self->engine);
    uint64_t high_epoch = tpc_log_high_water (self->log);
    self->epoch = (replayed_epoch > high_epoch ? replayed_epoch
                                               : high_epoch) + 1;
    if (!cfg->recover_only) {
        /* the boot number is durable before any gid of this boot exists */
        tpc_record_t ep = { .type = TPC_REC_EPOCH, .epoch = self->epoch };
        uint64_t lsn = s_append_record (self, &ep);
        rc = tpc_log_sync (self->log, lsn);
        if (!rc)
            rc = tpc_log_set_high_water (self->log, self->epoch);
        if (rc) {
            snprintf (errbuf, errlen, "cannot make the EPOCH record and the "
                      "log's high-water file durable: %s", tpc_strerror (rc));
            goto fail;
        }
    }
    self->in_doubt_start = coord_engine_unfinished (self->engine);
    rc = coord_engine_start (self->engine, self->epoch, s_now ());
    if (rc) {
        snprintf (errbuf, errlen, "cannot start the engine: %s",
                  tpc_strerror (rc));
        goto fail;
    }

    self->ctx = zmq_ctx_new ();
    if (!self->ctx) {
        snprintf (errbuf, errlen, "cannot create a ZeroMQ context");
        goto fail;
    }
    if (s_curve_setup (self, errbuf, errlen))
        goto fail;
    self->route = coord_route_new (self->zap != NULL);
    if (!self->route) {
        snprintf (errbuf, errlen, "out of memory");
        goto fail;
    }
    self->agents = s_bind (self, self->cfg.agent_bind, true, self->agent_ep,
                           sizeof self->agent_ep, errbuf, errlen);
    if (!self->agents)
        goto fail;
    if (!cfg->recover_only) {
        self->clients = s_bind (self, self->cfg.bind, false, self->client_ep,
                                sizeof self->client_ep, errbuf, errlen);
        if (!self->clients)
            goto fail;
    }
    if (cfg->metrics_bind
        && !(self->metrics = coord_metrics_new (cfg->metrics_bind, errbuf,
                                                errlen)))
        goto fail;
    self->monitor[0] = s_monitor (self, self->agents, "agents");
    self->monitor[1] = self->clients ? s_monitor (self, self->clients,
                                                  "clients") : NULL;
    if (!self->monitor[0] || (self->clients && !self->monitor[1])) {
        snprintf (errbuf, errlen, "cannot monitor the sockets: %s",
                  zmq_strerror (errno));
        goto fail;
    }
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
    for (int i = 0; i < 2; i++) {
        void *sock = i ? self->clients : self->agents;
        if (sock && self->monitor[i])
            zmq_socket_monitor (sock, NULL, 0);
        if (self->monitor[i])
            zmq_close (self->monitor[i]);
    }
    if (self->clients)
        zmq_close (self->clients);
    if (self->agents)
        zmq_close (self->agents);
    tpc_zap_destroy (&self->zap);
    coord_route_destroy (&self->route);
    coord_metrics_destroy (&self->metrics);
    explicit_bzero (&self->cert, sizeof self->cert);
    if (self->ctx)
        zmq_ctx_term (self->ctx);
    s_sync_stop (self);
    tpc_log_destroy (&self->log);
    coord_engine_destroy (&self->engine);
    if (self->syncer.efd >= 0)
        close (self->syncer.efd);
    pthread_mutex_destroy (&self->syncer.mutex);
    pthread_cond_destroy (&self->syncer.cond);
    tpc_crash_destroy (&self->crash);
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
    self->sync_fails = self->cfg.debug_fail_sync;
    if (s_sync_start (self) != 0) {
        s_say (self, 1, "cannot start the sync thread");
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
         * S_MONITOR_MS rather than poll them (every zmq socket polled
         * costs system calls on every wake-up of the loop) */
        if (self->monitor_at < until)
            until = self->monitor_at;
        long timeout = until <= now ? 0
                     : until - now > 1000 ? 1000 : (long) (until - now);
        zmq_pollitem_t items[3] = {
            { .fd = self->syncer.efd, .events = ZMQ_POLLIN },
            { .socket = self->agents, .events = ZMQ_POLLIN },
            { .socket = self->clients, .events = ZMQ_POLLIN },
        };
        int rc = zmq_poll (items, self->clients ? 3 : 2, timeout);
        if (rc < 0 && errno != EINTR) {
            s_say (self, 1, "poll failed: %s", zmq_strerror (errno));
            status = 2;
            break;
        }
        if (rc > 0 && (items[0].revents & ZMQ_POLLIN))
            s_durable (self);
        if (rc > 0)
            s_batch (self);
        now = s_now ();
        if (now >= self->monitor_at) {
            for (int i = 0; i < 2; i++)
                if (self->monitor[i])
                    s_on_monitor (self, i);
            self->monitor_at = now + S_MONITOR_MS;
        }
        if (now >= coord_engine_next_wake (self->engine))
            s_engine_rc (coord_engine_tick (self->engine, now));
        s_perform (self);
        s_maybe_checkpoint (self);
        if (self->metrics && now >= self->metrics_at) {
            coord_engine_stats_t st;
            coord_engine_stats (self->engine, &st);
            coord_metrics_publish (self->metrics, &st);
            self->metrics_at = now + 1000;
        }
    }
    s_sync_stop (self);
    if (self->cfg.recover_only && status == 0) {
        size_t left = coord_engine_unfinished (self->engine);
        coord_engine_foreach_decided (self->engine, s_report_unfinished, self);
        coord_engine_foreach_precommitting (self->engine, s_report_unfinished,
                                            self);
        fflush (stdout);
        s_say (self, 1, "recover-only: %zu finished, %zu unfinished",
               self->finished, left);
        status = left ? 1 : 0;
    }
    /* lazy records (END, ABORT) need no sync, but a clean stop keeps them */
    if (tpc_log_last_lsn (self->log) > tpc_log_durable_lsn (self->log)) {
        int rc = tpc_log_sync (self->log, tpc_log_last_lsn (self->log));
        if (rc) {
            s_say (self, 1, "final sync failed: %s", tpc_strerror (rc));
            status = S_EXIT_LOG_FAILED;
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
coord_server_in_doubt (coord_server_t *self)
{
    return self->in_doubt_start;
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
    return coord_metrics_port (self->metrics);
}
