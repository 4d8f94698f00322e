/*  coord_server_log: the coordinator's decision log, around tpc_log.
 *
 *  Opening it (replay into the engine, the report of a tail cut at open,
 *  the epoch from the replay and the high-water file), appending the
 *  engine's records, checkpoints (a new segment holding only what is
 *  live), and the sync thread that makes appends durable off the loop
 *  (group commit; see cs_syncer_t in coord_server_int.h).
 */
#include "coord_server_int.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "tpc_clock.h"
#include "tpc_error.h"

/* ---------------------------------------------------------------------
 *  Log
 */

uint64_t
cs_append_record (coord_server_t *self, const tpc_record_t *rec)
{
    size_t len = 0;
    int rc = tpc_record_encode (rec, self->recbuf, sizeof self->recbuf, &len);
    if (rc)
        cs_fatal ("encoding a log record", rc);
    uint64_t lsn = 0;
    rc = coord_store_append (self->store, (uint8_t) rec->type, self->recbuf,
                             len, &lsn);
    if (rc)
        cs_fatal_log ("log append", rc);
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
        uint64_t now = (uint64_t) tpc_now_ms ();
        if (!self->replay_said)
            self->replay_said = now;
        else if (now >= self->replay_said + 2000) {
            self->replay_said = now;
            cs_say (self, 1, "replaying the log: %" PRIu64 " records, LSN %"
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
    cs_append_record (arg, rec);
    return 0;
}

/*  Start a new segment holding only what is live, drop the older ones.   */
void
cs_maybe_checkpoint (coord_server_t *self)
{
    if (self->ckpt_records < self->cfg.checkpoint_records
        && self->ckpt_bytes < self->cfg.checkpoint_bytes)
        return;
    int rc = coord_store_checkpoint_begin (self->store);
    if (rc)
        cs_fatal_log ("checkpoint begin", rc);
    /* the older segments go, and with them the EPOCH records: carry the
     * highest epoch over, or the next boot would reuse gids */
    uint64_t epoch = self->cfg.recover_only
                     ? coord_engine_replayed_epoch (self->engine)
                     : self->epoch;
    if (epoch > 0) {
        tpc_record_t ep = { .type = TPC_REC_EPOCH, .epoch = epoch };
        cs_append_record (self, &ep);
    }
    rc = coord_engine_foreach_decided (self->engine, s_checkpoint_one, self);
    if (!rc)    /* 3PC: pre-committed, undecided: their PRECOMMIT records */
        rc = coord_engine_foreach_precommitting (self->engine,
                                                 s_checkpoint_one, self);
    if (!rc)    /* gids an operator resolved: their HEURISTIC records */
        rc = coord_engine_foreach_resolved (self->engine, s_checkpoint_one,
                                            self);
    if (rc)
        cs_fatal ("checkpoint", rc);
    rc = coord_store_checkpoint_end (self->store);
    if (rc)
        cs_fatal_log ("checkpoint end", rc);
    cs_say (self, 0, "checkpoint: %zu live decision(s) carried over",
            coord_engine_unfinished (self->engine));
    self->ckpt_records = self->ckpt_bytes = 0;
}

/* ---------------------------------------------------------------------
 *  The sync thread (see cs_syncer_t)
 */

static void *
s_sync_main (void *arg)
{
    coord_server_t *self = arg;
    cs_syncer_t *y = &self->syncer;
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
        int64_t t0 = tpc_now_ns ();
        int rc = coord_store_sync (self->store, lsn);
        if (rc && self->cfg.deposed) {
            /* HA: stop serving at once, rejoin as a follower */
            atomic_store (&self->deposed, true);
            fprintf (stderr, "tpc-coordinator: the etcd write of the "
                     "decision records failed: %s (%s); deposed, nothing "
                     "acknowledged\n", tpc_strerror (rc), tpc_errname (rc));
            self->cfg.deposed (self->cfg.deposed_arg);
        }
        if (rc)
            cs_fatal_log (strcmp (coord_store_name (self->store), "etcd")
                          ? "fdatasync of the decision log"
                          : "the etcd write of the decision records", rc);
        /* coord_metrics is atomics: safe from this thread */
        coord_metrics_sync (self->metrics,
                            (uint64_t) (tpc_now_ns () - t0) / 1000);
        pthread_mutex_lock (&y->mutex);
        y->done_ticket = ticket;
        y->done_commit |= commit;
        y->done_precommit |= precommit;
        uint64_t one = 1;
        if (write (y->efd, &one, sizeof one) < 0 && errno != EAGAIN)
            cs_fatal ("waking the loop from the sync thread", TPC_EIO);
    }
    pthread_mutex_unlock (&y->mutex);
    return NULL;
}

/*  The sync thread's mutex, condition and eventfd (the thread starts in
 *  coord_server_run).  0 or -1 with a sentence in ERRBUF.                */
int
cs_sync_init (coord_server_t *self, char *errbuf, size_t errlen)
{
    pthread_mutex_init (&self->syncer.mutex, NULL);
    pthread_cond_init (&self->syncer.cond, NULL);
    self->syncer.efd = eventfd (0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (self->syncer.efd < 0) {
        snprintf (errbuf, errlen, "cannot create an eventfd: %s",
                  strerror (errno));
        return -1;
    }
    return 0;
}

/*  The loop needs the log durable up to LSN (ticket TICKET; TYPE: the
 *  forced record's type, for the crash points).  Only noted here: the
 *  loop hands what it gathered to the sync thread once per pass
 *  (cs_sync_flush, before it polls), so that the records forced while
 *  reading one batch of messages share one wake-up and one fdatasync
 *  instead of the first one's sync leaving the others for the next.  At
 *  one client the pass ends right after the vote: no latency is added.  */
void
cs_sync_request (coord_server_t *self, uint64_t lsn, uint64_t ticket,
                 tpc_rec_type_t type)
{
    cs_syncer_t *y = &self->syncer;
    if (ticket > y->pend_ticket) {
        y->pend_ticket = ticket;
        y->pend_lsn = lsn;
    }
    y->pend_commit |= type == TPC_REC_COMMIT;
    y->pend_precommit |= type == TPC_REC_PRECOMMIT;
}

/*  Hand the requests noted since the last call to the sync thread.     */
void
cs_sync_flush (coord_server_t *self)
{
    cs_syncer_t *y = &self->syncer;
    if (!y->pend_ticket && !y->pend_commit && !y->pend_precommit)
        return;
    pthread_mutex_lock (&y->mutex);
    if (y->pend_ticket > y->want_ticket) {
        y->want_ticket = y->pend_ticket;
        y->want_lsn = y->pend_lsn;
    }
    y->want_commit |= y->pend_commit;
    y->want_precommit |= y->pend_precommit;
    pthread_cond_signal (&y->cond);
    pthread_mutex_unlock (&y->mutex);
    y->pend_ticket = y->pend_lsn = 0;
    y->pend_commit = y->pend_precommit = false;
}

int
cs_sync_start (coord_server_t *self)
{
    cs_syncer_t *y = &self->syncer;
    if (pthread_create (&y->thread, NULL, s_sync_main, self) != 0)
        return TPC_ENOMEM;
    y->running = true;
    return 0;
}

/*  Stop the thread once its current sync is over (requests still queued
 *  are left: the caller syncs what remains itself).                      */
void
cs_sync_stop (coord_server_t *self)
{
    cs_syncer_t *y = &self->syncer;
    if (!y->running)
        return;
    pthread_mutex_lock (&y->mutex);
    y->stop = true;
    pthread_cond_signal (&y->cond);
    pthread_mutex_unlock (&y->mutex);
    pthread_join (y->thread, NULL);
    y->running = false;
}

/*  The file store in cfg.log_dir: replay it into the engine and report a
 *  tail cut at open.  0, or -1 with a sentence in ERRBUF.               */
static int
s_open_file (coord_server_t *self, char *errbuf, size_t errlen)
{
    /* crash point coord.log_sync (action failsync): armed in
     * coord_server_run, once serving */
    tpc_io_failsync_init (&self->failsync, NULL);
    const tpc_io_t *io = tpc_crash_failsync_at (self->crash, "coord.log_sync")
                         ? &self->failsync.io : NULL;
    tpc_log_config_t lcfg = { .dir = self->cfg.log_dir,
                              .segment_bytes = self->cfg.log_segment_bytes,
                              .io = io,
                              .warn = s_log_warn, .warn_arg = self,
                              .cut_fn = s_log_cut, .cut_arg = self };
    tpc_log_cut_t cut;
    lcfg.cut = &cut;
    char lerr[512] = "";
    int rc = coord_store_file_open (&lcfg, s_replay_one, self, &self->store,
                                    lerr, sizeof lerr);
    if (rc) {
        snprintf (errbuf, errlen, "cannot open the log in %s: %s%s%s",
                  self->cfg.log_dir, *self->errbuf ? self->errbuf : lerr,
                  *self->errbuf || *lerr ? ": " : "", tpc_strerror (rc));
        return -1;
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
    return 0;
}

static void
s_etcd_warn (void *arg, const char *text)
{
    (void) arg;
    fprintf (stderr, "tpc-coordinator: etcd: %s\n", text);
}

/*  The etcd store at cfg.store (etcd:// or etcds://...), under cfg.store_prefix
 *  (default /tpc/<id>/): replay it into the engine.  0 or -1 with ERRBUF. */
static int
s_open_etcd (coord_server_t *self, char *errbuf, size_t errlen)
{
    char prefix[64];
    snprintf (prefix, sizeof prefix, "/tpc/%s/", self->id);
    coord_store_etcd_config_t ecfg = {
        .endpoints = self->cfg.store, .auth = self->cfg.store_auth,
        .prefix = self->cfg.store_prefix ? self->cfg.store_prefix : prefix,
        .timeout_ms = self->cfg.store_timeout_ms,
        .fence_key = self->cfg.fence_key, .fence_rev = self->cfg.fence_rev,
        .warn = s_etcd_warn, .warn_arg = self };
    char eerr[512] = "";
    int rc = coord_store_etcd_open (&ecfg, s_replay_one, self, &self->store,
                                    eerr, sizeof eerr);
    if (rc) {
        snprintf (errbuf, errlen, "cannot open the decision store %s (prefix "
                  "%s): %s%s%s", self->cfg.store, ecfg.prefix,
                  *self->errbuf ? self->errbuf : eerr,
                  *self->errbuf || *eerr ? ": " : "", tpc_strerror (rc));
        return -1;
    }
    cs_say (self, 0, "decision store: etcd %s, prefix %s", self->cfg.store,
            ecfg.prefix);
    return 0;
}

/*  Open the decision store (the file log in cfg.log_dir, or etcd): replay
 *  it into the engine, and (serving) make this boot's EPOCH record and the
 *  high-water mark durable.  0, or -1 with a sentence in ERRBUF.         */
int
cs_log_open (coord_server_t *self, char *errbuf, size_t errlen)
{
    bool etcd = self->cfg.store && strcmp (self->cfg.store, "file");
    if (etcd ? s_open_etcd (self, errbuf, errlen)
             : s_open_file (self, errbuf, errlen))
        return -1;
    /* the epoch never goes back, even when segments holding EPOCH records
     * were lost: the store's high-water mark keeps the highest one        */
    uint64_t replayed_epoch = coord_engine_replayed_epoch (self->engine);
    uint64_t high_epoch = coord_store_high_water (self->store);
    self->epoch = (replayed_epoch > high_epoch ? replayed_epoch
                                               : high_epoch) + 1;
    if (!self->cfg.recover_only) {
        /* the boot number is durable before any gid of this boot exists;
         * on etcd the high-water write is a compare-and-swap: of two
         * coordinators opening one prefix at once, one stops here       */
        tpc_record_t ep = { .type = TPC_REC_EPOCH, .epoch = self->epoch };
        uint64_t lsn = cs_append_record (self, &ep);
        int rc = coord_store_sync (self->store, lsn);
        if (!rc)
            rc = coord_store_set_high_water (self->store, self->epoch);
        if (rc) {
            snprintf (errbuf, errlen, "cannot make the EPOCH record and the "
                      "%s durable: %s", etcd ? "epoch key on etcd"
                      : "log's high-water file", tpc_strerror (rc));
            return -1;
        }
    }
    return 0;
}
