/*  test_store_etcd: the etcd decision store (coordinator/coord_store_etcd.c)
 *  on a real 3-member etcd cluster started by scripts/etcdtmp for the
 *  suite (never skipped: no etcd is a failure).
 *
 *  Records appended and synced come back in order after a reopen; group
 *  commit (many appends, one txn: counted); the epoch compare-and-swap
 *  (two opens of one prefix cannot both take an epoch); a write under a
 *  stale fence is refused, counted, and writes nothing; a checkpoint
 *  deletes the batches before it; an oversized batch is split under
 *  etcd's 1.5 MiB request limit; and with 2 of 3 members killed no sync
 *  succeeds, the store stays failed, and nothing is reported durable.
 *  A write whose fate is unknown (a proxy in front of the first member
 *  forwards the txn and drops etcd's answer, or drops the txn itself) is
 *  retried on the next member and written exactly once.
 *  The store writes to the Raft leader whatever the endpoints' order (a
 *  proxy in front of each member counts the txns).
 *  Each case works under its own key prefix /t/<case>/.
 *  empty_reply runs against a fake etcd (a thread on a loopback port
 *  with canned answers) that answers a txn with HTTP 200 and no body.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "coord_store.h"
#include "tpc_error.h"
#include "tpc_harness.h"
#include "tpc_test.h"

#define S_MAXREC 2300

typedef struct {
    size_t n;
    uint8_t type[S_MAXREC];
    uint64_t lsn[S_MAXREC];
    char text[S_MAXREC][48];    /* the payload's first bytes */
    size_t len[S_MAXREC];
} s_seen_t;

/*  The suite's cluster.                                                  */
static char *s_dir;
static char s_eps[512];

static int
s_setup (void)
{
    s_dir = tpc_test_tmpdir ("store_etcd");
    if (!s_dir)
        return -1;
    char etcd[600];
    snprintf (etcd, sizeof etcd, "%s/etcd", s_dir);
    return tpc_harness_etcd_start (etcd, 3, s_eps, sizeof s_eps);
}

static int
s_teardown (void)
{
    char etcd[600];
    snprintf (etcd, sizeof etcd, "%s/etcd", s_dir);
    tpc_harness_etcd_cmd ("destroy", etcd, NULL);
    tpc_test_rmtree (s_dir);
    free (s_dir);
    s_dir = NULL;
    return 0;
}

static int
s_collect (void *arg, const tpc_log_rec_t *rec, const void *payload,
           size_t len)
{
    s_seen_t *seen = arg;
    if (seen->n >= S_MAXREC)
        return TPC_ELIMIT;
    seen->type[seen->n] = rec->type;
    seen->lsn[seen->n] = rec->lsn;
    seen->len[seen->n] = len;
    size_t k = len < 47 ? len : 47;
    memcpy (seen->text[seen->n], payload, k);
    seen->text[seen->n][k] = '\0';
    seen->n++;
    return 0;
}

/*  Open the store at PREFIX (fence and batch size as given), replaying
 *  into SEEN (may be NULL).                                              */
static coord_store_t *
s_open_with (const char *prefix, const char *fence_key, int64_t fence_rev,
             uint64_t timeout_ms, s_seen_t *seen)
{
    char eps[600];
    snprintf (eps, sizeof eps, "etcd://%s", s_eps);
    coord_store_etcd_config_t cfg = { .endpoints = eps, .prefix = prefix,
                                      .fence_key = fence_key,
                                      .fence_rev = fence_rev,
                                      .timeout_ms = timeout_ms };
    coord_store_t *store = NULL;
    char err[512] = "";
    if (seen)
        memset (seen, 0, sizeof *seen);
    int rc = coord_store_etcd_open (&cfg, seen ? s_collect : NULL, seen,
                                    &store, err, sizeof err);
    if (rc)
        fprintf (stderr, "open %s: %s: %s\n", prefix, err, tpc_strerror (rc));
    return store;
}

static coord_store_t *
s_open (const char *prefix, s_seen_t *seen)
{
    return s_open_with (prefix, NULL, 0, 0, seen);
}

/*  Append record I: type 1 + I % 200, payload "rec-<I>" padded to LEN.  */
static uint64_t
s_put (coord_store_t *store, int i, size_t len)
{
    static const char pad[5000];
    char buf[5000];
    int n = snprintf (buf, sizeof buf, "rec-%d", i);
    if (len < (size_t) n + 1)
        len = (size_t) n + 1;
    memcpy (buf + n + 1, pad, len - (size_t) n - 1);
    uint64_t lsn = 0;
    CU_ASSERT_EQUAL_FATAL (coord_store_append (store, (uint8_t) (1 + i % 200),
                                               buf, len, &lsn), 0);
    return lsn;
}

static uint64_t
s_writes (coord_store_t *store)
{
    coord_store_stats_t st;
    coord_store_stats (store, &st);
    return st.writes;
}

/* --------------------------------------------------------------------- */

static void
test_reopen_in_order (void)
{
    static s_seen_t seen;
    coord_store_t *store = s_open ("/t/order/", &seen);
    CU_ASSERT_PTR_NOT_NULL_FATAL (store);
    CU_ASSERT_EQUAL (seen.n, 0);
    CU_ASSERT_STRING_EQUAL (coord_store_name (store), "etcd");
    uint64_t last = 0;
    for (int i = 1; i <= 100; i++) {
        last = s_put (store, i, 20);
        if (i % 25 == 0)
            CU_ASSERT_EQUAL (coord_store_sync (store, last), 0);
    }
    CU_ASSERT_EQUAL (coord_store_durable_lsn (store), 100);
    CU_ASSERT_EQUAL (s_writes (store), 4);
    for (int i = 101; i <= 105; i++)        /* never synced: not durable */
        s_put (store, i, 20);
    coord_store_destroy (&store);
    CU_ASSERT_PTR_NULL (store);
    coord_store_destroy (&store);           /* idempotent */

    store = s_open ("/t/order/", &seen);
    CU_ASSERT_PTR_NOT_NULL_FATAL (store);
    CU_ASSERT_EQUAL_FATAL (seen.n, 100);
    bool ok = true;
    for (int i = 1; i <= 100; i++) {
        char want[32];
        snprintf (want, sizeof want, "rec-%d", i);
        ok = ok && !strcmp (seen.text[i - 1], want)
             && seen.type[i - 1] == 1 + i % 200 && seen.lsn[i - 1] == (uint64_t) i
             && seen.len[i - 1] == 20;
    }
    CU_ASSERT (ok);
    CU_ASSERT_EQUAL (coord_store_last_lsn (store), 100);
    CU_ASSERT_EQUAL (coord_store_durable_lsn (store), 100);
    /* appends go on after the replayed ones, in a new batch */
    CU_ASSERT_EQUAL (coord_store_sync (store, s_put (store, 101, 20)), 0);
    coord_store_destroy (&store);
    store = s_open ("/t/order/", &seen);
    CU_ASSERT_PTR_NOT_NULL_FATAL (store);
    CU_ASSERT_EQUAL (seen.n, 101);
    CU_ASSERT_STRING_EQUAL (seen.text[100], "rec-101");
    /* more batches than one range page holds (8): read page after page */
    for (int i = 102; i <= 121; i++)
        CU_ASSERT_EQUAL (coord_store_sync (store, s_put (store, i, 20)), 0);
    coord_store_destroy (&store);
    store = s_open ("/t/order/", &seen);
    CU_ASSERT_PTR_NOT_NULL_FATAL (store);
    CU_ASSERT_EQUAL_FATAL (seen.n, 121);
    ok = true;
    for (int i = 1; i <= 121; i++) {
        char want[32];
        snprintf (want, sizeof want, "rec-%d", i);
        ok = ok && !strcmp (seen.text[i - 1], want);
    }
    CU_ASSERT (ok);
    coord_store_destroy (&store);
    long batches = tpc_harness_etcd_keys (s_eps, "/t/order/b/");
    CU_ASSERT_EQUAL (batches, 25);
    printf ("\nstore etcd order records=121 batches=%ld\n", batches);
}

typedef struct {
    coord_store_t *store;
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    uint64_t want;
    bool stop;
    int rc;
} s_syncer_t;

/*  The coordinator's sync thread in small: sync the newest LSN asked.   */
static void *
s_sync_main (void *arg)
{
    s_syncer_t *y = arg;
    uint64_t done = 0;
    pthread_mutex_lock (&y->mutex);
    while (!(y->stop && y->want <= done)) {
        if (y->want <= done) {
            pthread_cond_wait (&y->cond, &y->mutex);
            continue;
        }
        uint64_t lsn = y->want;
        pthread_mutex_unlock (&y->mutex);
        int rc = coord_store_sync (y->store, lsn);
        pthread_mutex_lock (&y->mutex);
        if (rc)
            y->rc = rc;
        done = lsn;
        if (rc)
            break;
    }
    pthread_mutex_unlock (&y->mutex);
    return NULL;
}

static void
test_group_commit (void)
{
    coord_store_t *store = s_open ("/t/group/", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL (store);
    /* 200 records appended, then each one's sync asked in turn: the first
     * sync writes all of them in one txn, the others find them durable  */
    uint64_t lsn[200];
    for (int i = 0; i < 200; i++)
        lsn[i] = s_put (store, i, 60);
    for (int i = 0; i < 200; i++)
        CU_ASSERT_EQUAL (coord_store_sync (store, lsn[i]), 0);
    CU_ASSERT_EQUAL (s_writes (store), 1);
    CU_ASSERT_EQUAL (tpc_harness_etcd_keys (s_eps, "/t/group/b/"), 1);

    /* appends while txns are in flight: a sync thread asked after each
     * of 2000 appends writes far fewer txns than records                 */
    s_syncer_t y = { .store = store };
    pthread_mutex_init (&y.mutex, NULL);
    pthread_cond_init (&y.cond, NULL);
    pthread_t t;
    CU_ASSERT_EQUAL_FATAL (pthread_create (&t, NULL, s_sync_main, &y), 0);
    uint64_t w0 = s_writes (store), last = 0;
    for (int i = 0; i < 2000; i++) {
        last = s_put (store, 1000 + i, 60);
        pthread_mutex_lock (&y.mutex);
        y.want = last;
        pthread_cond_signal (&y.cond);
        pthread_mutex_unlock (&y.mutex);
    }
    pthread_mutex_lock (&y.mutex);
    y.stop = true;
    pthread_cond_signal (&y.cond);
    pthread_mutex_unlock (&y.mutex);
    pthread_join (t, NULL);
    pthread_mutex_destroy (&y.mutex);
    pthread_cond_destroy (&y.cond);
    uint64_t txns = s_writes (store) - w0;
    CU_ASSERT_EQUAL (y.rc, 0);
    CU_ASSERT_EQUAL (coord_store_durable_lsn (store), last);
    CU_ASSERT (txns >= 1 && txns <= 1000);
    printf ("\nstore etcd group_commit appends=2000 txns=%" PRIu64 "\n",
            txns);
    coord_store_destroy (&store);
    static s_seen_t seen;
    store = s_open ("/t/group/", &seen);
    CU_ASSERT_PTR_NOT_NULL_FATAL (store);
    CU_ASSERT_EQUAL (coord_store_last_lsn (store), 2200);
    coord_store_destroy (&store);
}

static void
test_epoch_cas (void)
{
    coord_store_t *a = s_open ("/t/epoch/", NULL);
    coord_store_t *b = s_open ("/t/epoch/", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL (a);
    CU_ASSERT_PTR_NOT_NULL_FATAL (b);
    CU_ASSERT_EQUAL (coord_store_high_water (a), 0);
    CU_ASSERT_EQUAL (coord_store_high_water (b), 0);
    /* both read 0 and want epoch 1: only the first gets it */
    CU_ASSERT_EQUAL (coord_store_set_high_water (a, 1), 0);
    CU_ASSERT_EQUAL (coord_store_set_high_water (b, 1), TPC_EBUSY);
    CU_ASSERT_EQUAL (coord_store_high_water (a), 1);
    CU_ASSERT_EQUAL (coord_store_set_high_water (a, 2), 0);
    CU_ASSERT_EQUAL (coord_store_set_high_water (a, 1), 0);   /* max */
    coord_store_destroy (&a);
    coord_store_destroy (&b);
    /* the next open starts above it */
    coord_store_t *c = s_open ("/t/epoch/", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL (c);
    CU_ASSERT_EQUAL (coord_store_high_water (c), 2);
    CU_ASSERT_EQUAL (coord_store_set_high_water (c, 3), 0);
    coord_store_destroy (&c);
    char out[256];
    CU_ASSERT_EQUAL (tpc_harness_etcdctl (s_eps, "get --print-value-only "
                                          "/t/epoch/epoch", out, sizeof out),
                     0);
    CU_ASSERT_STRING_EQUAL (out, "3\n");
    /* two writers on one prefix: the second one's batch key exists, it
     * is refused rather than overwrite the first one's records          */
    a = s_open ("/t/two/", NULL);
    b = s_open ("/t/two/", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL (a);
    CU_ASSERT_PTR_NOT_NULL_FATAL (b);
    CU_ASSERT_EQUAL (coord_store_sync (a, s_put (a, 1, 10)), 0);
    CU_ASSERT_EQUAL (coord_store_sync (b, s_put (b, 2, 10)), TPC_EBUSY);
    coord_store_destroy (&a);
    coord_store_destroy (&b);
    static s_seen_t seen;
    a = s_open ("/t/two/", &seen);
    CU_ASSERT_PTR_NOT_NULL_FATAL (a);
    CU_ASSERT_EQUAL (seen.n, 1);
    CU_ASSERT_STRING_EQUAL (seen.text[0], "rec-1");
    coord_store_destroy (&a);
}

/*  The create_revision of KEY, or -1.                                    */
static int64_t
s_create_rev (const char *key)
{
    char args[256], out[4096];
    snprintf (args, sizeof args, "get -w json '%s'", key);
    if (tpc_harness_etcdctl (s_eps, args, out, sizeof out))
        return -1;
    const char *p = strstr (out, "\"create_revision\":");
    return p ? strtoll (p + strlen ("\"create_revision\":"), NULL, 10) : -1;
}

static void
test_stale_fence (void)
{
    CU_ASSERT_EQUAL_FATAL (tpc_harness_etcdctl (s_eps, "put /t/fence/leader "
                                                "me", NULL, 0), 0);
    int64_t rev = s_create_rev ("/t/fence/leader");
    CU_ASSERT_FATAL (rev > 0);
    coord_store_t *store = s_open_with ("/t/fence/", "/t/fence/leader", rev,
                                        0, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL (store);
    /* ours: writes go through */
    CU_ASSERT_EQUAL (coord_store_sync (store, s_put (store, 1, 30)), 0);
    CU_ASSERT_EQUAL (coord_store_set_high_water (store, 1), 0);
    /* another leader: the key made again (a new create_revision) */
    CU_ASSERT_EQUAL (tpc_harness_etcdctl (s_eps, "del /t/fence/leader",
                                          NULL, 0), 0);
    CU_ASSERT_EQUAL (tpc_harness_etcdctl (s_eps, "put /t/fence/leader "
                                          "other", NULL, 0), 0);
    CU_ASSERT (s_create_rev ("/t/fence/leader") > rev);
    uint64_t lsn = s_put (store, 2, 30);
    CU_ASSERT_EQUAL (coord_store_sync (store, lsn), TPC_EFENCED);
    coord_store_stats_t st;
    coord_store_stats (store, &st);
    CU_ASSERT_EQUAL (st.fenced, 1);
    CU_ASSERT_EQUAL (st.writes, 2);
    CU_ASSERT_EQUAL (coord_store_durable_lsn (store), lsn - 1);
    /* the store is dead: nothing more is taken */
    CU_ASSERT_EQUAL (coord_store_sync (store, lsn), TPC_EFENCED);
    CU_ASSERT_NOT_EQUAL (coord_store_append (store, 1, "x", 1, NULL), 0);
    coord_store_destroy (&store);
    /* nothing of the fenced write reached etcd */
    CU_ASSERT_EQUAL (tpc_harness_etcd_keys (s_eps, "/t/fence/b/"), 1);
    static s_seen_t seen;
    store = s_open ("/t/fence/", &seen);
    CU_ASSERT_PTR_NOT_NULL_FATAL (store);
    CU_ASSERT_EQUAL (seen.n, 1);
    CU_ASSERT_STRING_EQUAL (seen.text[0], "rec-1");
    coord_store_destroy (&store);
    printf ("\nstore etcd fence fenced_writes=%" PRIu64 " written_after=0\n",
            st.fenced);
}

static void
test_checkpoint_deletes (void)
{
    coord_store_t *store = s_open ("/t/ckpt/", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL (store);
    for (int b = 0; b < 3; b++) {
        uint64_t lsn = 0;
        for (int i = 0; i < 10; i++)
            lsn = s_put (store, b * 10 + i, 40);
        CU_ASSERT_EQUAL (coord_store_sync (store, lsn), 0);
    }
    CU_ASSERT_EQUAL (tpc_harness_etcd_keys (s_eps, "/t/ckpt/b/"), 3);
    s_put (store, 99, 40);          /* pending at begin: superseded */
    CU_ASSERT_EQUAL (coord_store_checkpoint_begin (store), 0);
    for (int i = 0; i < 3; i++)     /* the live ones, carried */
        s_put (store, 500 + i, 40);
    CU_ASSERT_EQUAL (coord_store_checkpoint_end (store), 0);
    CU_ASSERT_EQUAL (coord_store_durable_lsn (store),
                     coord_store_last_lsn (store));
    coord_store_stats_t st;
    coord_store_stats (store, &st);
    CU_ASSERT_EQUAL (st.deleted, 3);
    CU_ASSERT_EQUAL (tpc_harness_etcd_keys (s_eps, "/t/ckpt/b/"), 1);
    /* after it, appends go on in new batches */
    CU_ASSERT_EQUAL (coord_store_sync (store, s_put (store, 600, 40)), 0);
    /* a checkpoint with nothing live leaves no batch */
    CU_ASSERT_EQUAL (coord_store_checkpoint_begin (store), 0);
    CU_ASSERT_EQUAL (coord_store_checkpoint_end (store), 0);
    CU_ASSERT_EQUAL (tpc_harness_etcd_keys (s_eps, "/t/ckpt/b/"), 0);
    CU_ASSERT_EQUAL (coord_store_sync (store, s_put (store, 700, 40)), 0);
    coord_store_destroy (&store);
    static s_seen_t seen;
    store = s_open ("/t/ckpt/", &seen);
    CU_ASSERT_PTR_NOT_NULL_FATAL (store);
    CU_ASSERT_EQUAL_FATAL (seen.n, 1);
    CU_ASSERT_STRING_EQUAL (seen.text[0], "rec-700");
    coord_store_destroy (&store);
    printf ("\nstore etcd checkpoint batches_deleted=%" PRIu64 "\n",
            st.deleted);
}

static void
test_split_oversized (void)
{
    coord_store_t *store = s_open ("/t/split/", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL (store);
    /* 600 records of 4000 bytes: 2.4 MB, over etcd's 1.5 MiB request
     * limit as one txn; the store writes it as batches of <= 1 MiB      */
    uint64_t lsn = 0;
    for (int i = 0; i < 600; i++)
        lsn = s_put (store, i, 4000);
    CU_ASSERT_EQUAL (coord_store_sync (store, lsn), 0);
    uint64_t txns = s_writes (store);
    CU_ASSERT (txns >= 3 && txns <= 4);
    CU_ASSERT_EQUAL (tpc_harness_etcd_keys (s_eps, "/t/split/b/"),
                     (long) txns);
    coord_store_destroy (&store);
    static s_seen_t seen;
    store = s_open ("/t/split/", &seen);
    CU_ASSERT_PTR_NOT_NULL_FATAL (store);
    CU_ASSERT_EQUAL_FATAL (seen.n, 600);
    CU_ASSERT_STRING_EQUAL (seen.text[0], "rec-0");
    CU_ASSERT_STRING_EQUAL (seen.text[599], "rec-599");
    CU_ASSERT_EQUAL (seen.len[599], 4000);
    coord_store_destroy (&store);
    printf ("\nstore etcd split bytes=2400000 txns=%" PRIu64 "\n", txns);
}

static void
test_quorum_lost (void)
{
    coord_store_t *store = s_open_with ("/t/quorum/", NULL, 0, 1500, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL (store);
    uint64_t lsn = s_put (store, 1, 30);
    CU_ASSERT_EQUAL (coord_store_sync (store, lsn), 0);
    char etcd[600], eps[512];
    snprintf (etcd, sizeof etcd, "%s/etcd", s_dir);
    CU_ASSERT_EQUAL_FATAL (tpc_harness_etcd_cmd ("kill", etcd, "1 2"), 0);
    /* the first member refuses connections, the second too, the third
     * has no quorum: the write is never acknowledged                     */
    uint64_t lsn2 = s_put (store, 2, 30);
    int rc = coord_store_sync (store, lsn2);
    CU_ASSERT (rc == TPC_ETIMEDOUT || rc == TPC_EIO);
    CU_ASSERT_EQUAL (coord_store_durable_lsn (store), lsn);
    /* sticky: once failed, nothing becomes durable any more */
    CU_ASSERT_NOT_EQUAL (coord_store_sync (store, lsn2), 0);
    CU_ASSERT_EQUAL (coord_store_durable_lsn (store), lsn);
    printf ("\nstore etcd quorum_lost members_killed=2 sync=%s "
            "durable_after=%" PRIu64 "\n", tpc_errname (rc),
            coord_store_durable_lsn (store) - lsn);
    coord_store_destroy (&store);
    /* quorum back: the acknowledged record is there */
    CU_ASSERT_EQUAL_FATAL (tpc_harness_etcd_start (etcd, 3, eps, sizeof eps),
                           0);
    static s_seen_t seen;
    store = s_open ("/t/quorum/", &seen);
    CU_ASSERT_PTR_NOT_NULL_FATAL (store);
    CU_ASSERT (seen.n >= 1);
    CU_ASSERT_STRING_EQUAL (seen.text[0], "rec-1");
    coord_store_destroy (&store);
}

static void
test_bad_config (void)
{
    coord_store_etcd_config_t cfg = { .endpoints = "etcd://nohostport",
                                      .prefix = "/t/x/" };
    coord_store_t *store = NULL;
    char err[512] = "";
    CU_ASSERT_EQUAL (coord_store_etcd_open (&cfg, NULL, NULL, &store, err,
                                            sizeof err), TPC_ECONFIG);
    CU_ASSERT_PTR_NULL (store);
    CU_ASSERT_PTR_NOT_NULL (strstr (err, "etcd://HOST:PORT"));
    /* nothing listens there: a clear error, no store */
    int port = tpc_harness_free_port ();
    char eps[64];
    snprintf (eps, sizeof eps, "etcd://127.0.0.1:%d", port);
    cfg.endpoints = eps;
    CU_ASSERT_EQUAL (coord_store_etcd_open (&cfg, NULL, NULL, &store, err,
                                            sizeof err), TPC_ECONNECT);
    CU_ASSERT_PTR_NULL (store);
    /* a batch that is not ours under the prefix stops the open */
    CU_ASSERT_EQUAL (tpc_harness_etcdctl (s_eps, "put /t/bad/b/0000000000000001"
                                          " garbage", NULL, 0), 0);
    static s_seen_t seen;
    cfg.endpoints = s_eps;
    cfg.prefix = "/t/bad/";
    CU_ASSERT_EQUAL (coord_store_etcd_open (&cfg, s_collect, &seen, &store,
                                            err, sizeof err),
                     TPC_ELOG_CORRUPT);
    CU_ASSERT_PTR_NULL (store);
    CU_ASSERT_PTR_NOT_NULL (strstr (err, "0000000000000001"));
}

/* ---------------------------------------------------------------------
 *  A one-connection-at-a-time HTTP proxy to a member: each request is
 *  forwarded as HTTP/1.0 (etcd answers and closes) and the answer sent
 *  back, then the client's connection is closed.  The first kv/txn after
 *  `drop` is armed is forwarded and its answer dropped (S_DROP_ANSWER),
 *  or not forwarded at all (S_DROP_REQUEST): the client gets nothing.  */

enum { S_FORWARD, S_DROP_ANSWER, S_DROP_REQUEST };

typedef struct {
    int lfd, port, to_port;
    atomic_int drop;            /* S_*: what to do with the next kv/txn */
    atomic_int dropped;         /* kv/txn requests left unanswered */
    atomic_int txns;            /* kv/txn requests seen */
    atomic_bool stop;
    pthread_t thread;
} s_proxy_t;

static bool
s_send_all (int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send (fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t) w;
    }
    return true;
}

/*  One whole request (headers and Content-Length body) into BUF.        */
static ssize_t
s_read_request (int fd, char *buf, size_t size)
{
    size_t n = 0;
    char *end = NULL;
    while (!(end = n ? strstr (buf, "\r\n\r\n") : NULL)) {
        ssize_t r = n + 1 < size ? recv (fd, buf + n, size - n - 1, 0) : -1;
        if (r <= 0)
            return -1;
        n += (size_t) r;
        buf[n] = '\0';
    }
    size_t body = 0;
    for (char *h = buf; h && h < end; h = strstr (h, "\r\n"), h = h ? h + 2
                                                                   : NULL)
        if (!strncasecmp (h, "Content-Length:", 15))
            body = strtoul (h + 15, NULL, 10);
    size_t want = (size_t) (end + 4 - buf) + body;
    while (n < want) {
        ssize_t r = n + 1 < size ? recv (fd, buf + n, size - n - 1, 0) : -1;
        if (r <= 0)
            return -1;
        n += (size_t) r;
    }
    buf[n] = '\0';
    return (ssize_t) n;
}

static void
s_proxy_one (s_proxy_t *px, int cfd)
{
    static char req[1 << 20], ans[1 << 20];
    ssize_t n = s_read_request (cfd, req, sizeof req);
    if (n <= 0)
        return;
    bool txn = strncmp (req, "POST /v3/kv/txn ", 16) == 0;
    if (txn)
        atomic_fetch_add (&px->txns, 1);
    int mode = txn ? atomic_exchange (&px->drop, S_FORWARD) : S_FORWARD;
    if (mode == S_DROP_REQUEST) {
        atomic_fetch_add (&px->dropped, 1);
        return;
    }
    char *v = strstr (req, " HTTP/1.1\r\n");
    if (v)
        memcpy (v, " HTTP/1.0", 9);
    int efd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET,
                             .sin_port = htons ((uint16_t) px->to_port),
                             .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
    size_t got = 0;
    if (efd >= 0 && connect (efd, (struct sockaddr *) &a, sizeof a) == 0
        && s_send_all (efd, req, (size_t) n)) {
        ssize_t r;
        while (got < sizeof ans
               && (r = recv (efd, ans + got, sizeof ans - got, 0)) > 0)
            got += (size_t) r;
    }
    if (efd >= 0)
        close (efd);
    if (mode == S_DROP_ANSWER) {
        atomic_fetch_add (&px->dropped, 1);
        return;
    }
    s_send_all (cfd, ans, got);
}

static void *
s_proxy_main (void *arg)
{
    s_proxy_t *px = arg;
    while (!atomic_load (&px->stop)) {
        int cfd = accept (px->lfd, NULL, NULL);
        if (cfd < 0)
            continue;
        s_proxy_one (px, cfd);
        close (cfd);
    }
    return NULL;
}

static int
s_proxy_start (s_proxy_t *px, int to_port)
{
    memset (px, 0, sizeof *px);
    px->to_port = to_port;
    px->lfd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET,
                             .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    if (px->lfd < 0 || bind (px->lfd, (struct sockaddr *) &a, sizeof a)
        || listen (px->lfd, 8)
        || getsockname (px->lfd, (struct sockaddr *) &a, &len))
        return -1;
    px->port = ntohs (a.sin_port);
    return pthread_create (&px->thread, NULL, s_proxy_main, px) ? -1 : 0;
}

static void
s_proxy_stop (s_proxy_t *px)
{
    atomic_store (&px->stop, true);
    shutdown (px->lfd, SHUT_RDWR);
    /* wake accept (): a connection of our own */
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET,
                             .sin_port = htons ((uint16_t) px->port),
                             .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
    if (fd >= 0) {
        if (connect (fd, (struct sockaddr *) &a, sizeof a)) {}
        close (fd);
    }
    pthread_join (px->thread, NULL);
    close (px->lfd);
}

/*  A txn whose answer (MODE S_DROP_ANSWER) or request (S_DROP_REQUEST)
 *  the proxy in front of member 1 loses: the store asks the next member
 *  and the batch is written exactly once.                               */
static void
s_unknown_fate (const char *prefix, int mode)
{
    s_proxy_t px;
    CU_ASSERT_EQUAL_FATAL (s_proxy_start (&px, atoi (strchr (s_eps, ':')
                                                      + 1)), 0);
    char eps[700];
    snprintf (eps, sizeof eps, "etcd://127.0.0.1:%d,%s", px.port, s_eps);
    coord_store_etcd_config_t cfg = { .endpoints = eps, .prefix = prefix,
                                      .timeout_ms = 3000, .any_member = 1 };
    coord_store_t *store = NULL;
    char err[512] = "";
    CU_ASSERT_EQUAL_FATAL (coord_store_etcd_open (&cfg, NULL, NULL, &store,
                                                  err, sizeof err), 0);
    CU_ASSERT_EQUAL (coord_store_set_high_water (store, 1), 0);
    uint64_t lsn = 0;
    for (int i = 1; i <= 3; i++)
        lsn = s_put (store, i, 40);
    atomic_store (&px.drop, mode);
    CU_ASSERT_EQUAL (coord_store_sync (store, lsn), 0);
    CU_ASSERT_EQUAL (atomic_load (&px.dropped), 1);
    CU_ASSERT_EQUAL (coord_store_durable_lsn (store), lsn);
    uint64_t lsn2 = s_put (store, 4, 40);
    CU_ASSERT_EQUAL (coord_store_sync (store, lsn2), 0);
    coord_store_destroy (&store);
    s_proxy_stop (&px);
    /* each record once, in order */
    static s_seen_t seen;
    store = s_open (prefix, &seen);
    CU_ASSERT_PTR_NOT_NULL_FATAL (store);
    CU_ASSERT_EQUAL (seen.n, 4);
    if (seen.n == 4) {
        CU_ASSERT_STRING_EQUAL (seen.text[0], "rec-1");
        CU_ASSERT_STRING_EQUAL (seen.text[3], "rec-4");
    }
    char keys[600];
    snprintf (keys, sizeof keys, "%sb/", prefix);
    long batches = tpc_harness_etcd_keys (s_eps, keys);
    CU_ASSERT_EQUAL (batches, 2);
    coord_store_destroy (&store);
    printf ("\nstore etcd unknown_fate %s dropped=%d records=%zu "
            "batches=%ld\n", mode == S_DROP_ANSWER ? "answer_lost"
                                                   : "request_lost",
            atomic_load (&px.dropped), seen.n, batches);
}

static void
test_answer_lost (void)
{
    s_unknown_fate ("/t/answer_lost/", S_DROP_ANSWER);
}

static void
test_request_lost (void)
{
    s_unknown_fate ("/t/request_lost/", S_DROP_REQUEST);
}

/*  The store writes to etcd's Raft leader whatever the endpoints' order:
 *  a proxy in front of each member, the leader's listed last; every txn
 *  goes through the leader's proxy.                                      */
static void
test_leader_first (void)
{
    char list[512], *save = NULL;
    int port[3] = { 0 }, leader = -1, n = 0;
    snprintf (list, sizeof list, "%s", s_eps);
    for (char *t = strtok_r (list, ",", &save); t && n < 3;
         t = strtok_r (NULL, ",", &save), n++)
        port[n] = atoi (strchr (t, ':') + 1);
    leader = tpc_harness_etcd_leader (s_eps) - 1;
    CU_ASSERT_EQUAL_FATAL (n, 3);
    CU_ASSERT_FATAL (leader >= 0);
    static s_proxy_t px[3];
    char eps[700] = "etcd://";
    int order[3], k = 0;
    for (int i = 0; i < 3; i++)
        if (i != leader)
            order[k++] = i;
    order[2] = leader;
    for (int i = 0; i < 3; i++) {
        int m = order[i];
        CU_ASSERT_EQUAL_FATAL (s_proxy_start (&px[m], port[m]), 0);
        size_t at = strlen (eps);
        snprintf (eps + at, sizeof eps - at, "%s127.0.0.1:%d", i ? "," : "",
                  px[m].port);
    }
    coord_store_etcd_config_t cfg = { .endpoints = eps,
                                      .prefix = "/t/leader_first/",
                                      .timeout_ms = 3000 };
    coord_store_t *store = NULL;
    char err[512] = "";
    CU_ASSERT_EQUAL (coord_store_etcd_open (&cfg, NULL, NULL, &store, err,
                                            sizeof err), 0);
    int txns = 0;
    if (store) {
        CU_ASSERT_EQUAL (coord_store_set_high_water (store, 1), 0);
        for (int i = 1; i <= 3; i++)
            CU_ASSERT_EQUAL (coord_store_sync (store, s_put (store, i, 40)),
                             0);
        for (int i = 0; i < 3; i++)
            txns += atomic_load (&px[i].txns);
        CU_ASSERT_EQUAL (txns, 4);
        CU_ASSERT_EQUAL (atomic_load (&px[leader].txns), 4);
    }
    coord_store_destroy (&store);
    for (int i = 0; i < 3; i++)
        s_proxy_stop (&px[i]);
    printf ("\nstore etcd leader_first leader_member=%d txns=%d "
            "via_leader=%d\n", leader + 1, txns,
            atomic_load (&px[leader].txns));
}

/* ------------------------------------------------------------------
 *  A fake etcd: one thread on a loopback port answering every POST with
 *  HTTP 200 and a canned body: kv/range an empty range, kv/txn a
 *  succeeded txn for the first ok_txns, then an EMPTY body.             */
typedef struct {
    int fd;                     /* listening socket */
    int port;
    int ok_txns;
    atomic_int txns;            /* txns answered */
    atomic_bool stop;
    pthread_t thread;
} s_fake_t;

/*  Answer the requests of connection FD until it closes.                */
static void
s_fake_serve (s_fake_t *f, int fd)
{
    char buf[65536];
    size_t have = 0;
    while (!atomic_load (&f->stop)) {
        char *end = NULL;
        buf[have] = '\0';
        end = strstr (buf, "\r\n\r\n");
        if (end) {
            const char *cl = strcasestr (buf, "content-length:");
            size_t body = cl && cl < end ? strtoul (cl + 15, NULL, 10) : 0;
            size_t need = (size_t) (end + 4 - buf) + body;
            if (have >= need) {
                const char *answer = "{\"header\":{\"revision\":\"5\"}}";
                if (strstr (buf, "/v3/kv/txn"))
                    answer = atomic_fetch_add (&f->txns, 1) < f->ok_txns
                             ? "{\"header\":{\"revision\":\"6\"},"
                               "\"succeeded\":true}"
                             : "";
                char out[512];
                int n = snprintf (out, sizeof out, "HTTP/1.1 200 OK\r\n"
                                  "Content-Type: application/json\r\n"
                                  "Content-Length: %zu\r\n\r\n%s",
                                  strlen (answer), answer);
                if (write (fd, out, (size_t) n) != n)
                    return;
                memmove (buf, buf + need, have - need);
                have -= need;
                continue;
            }
        }
        if (have + 1 >= sizeof buf)
            return;
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (poll (&p, 1, 100) <= 0)
            continue;
        ssize_t r = read (fd, buf + have, sizeof buf - 1 - have);
        if (r <= 0)
            return;
        have += (size_t) r;
    }
}

static void *
s_fake_main (void *arg)
{
    s_fake_t *f = arg;
    while (!atomic_load (&f->stop)) {
        struct pollfd p = { .fd = f->fd, .events = POLLIN };
        if (poll (&p, 1, 100) <= 0)
            continue;
        int c = accept (f->fd, NULL, NULL);
        if (c < 0)
            continue;
        s_fake_serve (f, c);
        close (c);
    }
    return NULL;
}

static int
s_fake_start (s_fake_t *f, int ok_txns)
{
    memset (f, 0, sizeof *f);
    f->ok_txns = ok_txns;
    f->fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET,
                             .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
    socklen_t alen = sizeof a;
    if (f->fd < 0 || bind (f->fd, (struct sockaddr *) &a, sizeof a)
        || listen (f->fd, 4)
        || getsockname (f->fd, (struct sockaddr *) &a, &alen)
        || pthread_create (&f->thread, NULL, s_fake_main, f)) {
        if (f->fd >= 0)
            close (f->fd);
        return -1;
    }
    f->port = ntohs (a.sin_port);
    return 0;
}

static void
s_fake_stop (s_fake_t *f)
{
    atomic_store (&f->stop, true);
    pthread_join (f->thread, NULL);
    close (f->fd);
}

/*  etcd answers a txn with HTTP 200 and an empty body: that is no answer
 *  (TPC_EPROTO), never the previous txn's {"succeeded":true} read again;
 *  the store stays failed and nothing more is durable.                  */
static void
test_empty_reply (void)
{
    s_fake_t fake;
    CU_ASSERT_EQUAL_FATAL (s_fake_start (&fake, 1), 0);
    char eps[64];
    snprintf (eps, sizeof eps, "etcd://127.0.0.1:%d", fake.port);
    coord_store_etcd_config_t cfg = { .endpoints = eps, .prefix = "/t/empty/",
                                      .timeout_ms = 5000 };
    coord_store_t *store = NULL;
    char err[512] = "";
    CU_ASSERT_EQUAL (coord_store_etcd_open (&cfg, NULL, NULL, &store, err,
                                            sizeof err), 0);
    if (store) {
        uint64_t lsn = s_put (store, 1, 30);
        CU_ASSERT_EQUAL (coord_store_sync (store, lsn), 0);
        CU_ASSERT_EQUAL (coord_store_durable_lsn (store), lsn);
        uint64_t lsn2 = s_put (store, 2, 30);
        int rc = coord_store_sync (store, lsn2);
        CU_ASSERT_EQUAL (rc, TPC_EPROTO);
        CU_ASSERT_EQUAL (coord_store_durable_lsn (store), lsn);
        CU_ASSERT_NOT_EQUAL (coord_store_sync (store, lsn2), 0);  /* sticky */
        CU_ASSERT_EQUAL (coord_store_durable_lsn (store), lsn);
        CU_ASSERT_EQUAL (atomic_load (&fake.txns), 2);
        printf ("\nstore etcd empty_reply sync=%s durable_after=%" PRIu64 "\n",
                tpc_errname (rc), coord_store_durable_lsn (store) - lsn);
    }
    coord_store_destroy (&store);
    s_fake_stop (&fake);
}

/*  Without a leader key the epoch fences: a store whose epoch was taken
 *  over by a later open of the same prefix (a restarted coordinator)
 *  writes nothing more; the later one reads only its own records after
 *  the earlier ones.                                                     */
static void
test_stale_incarnation (void)
{
    coord_store_t *old = s_open ("/t/incarnation/", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL (old);
    CU_ASSERT_EQUAL (coord_store_set_high_water (old, 1), 0);
    CU_ASSERT_EQUAL (coord_store_sync (old, s_put (old, 1, 20)), 0);
    long keys_before = tpc_harness_etcd_keys (s_eps, "/t/incarnation/b/");
    static s_seen_t seen;
    coord_store_t *restarted = s_open ("/t/incarnation/", &seen);
    CU_ASSERT_PTR_NOT_NULL_FATAL (restarted);
    CU_ASSERT_EQUAL (seen.n, 1);
    CU_ASSERT_EQUAL (coord_store_set_high_water (restarted, 2), 0);
    int late = coord_store_sync (old, s_put (old, 2, 20));
    CU_ASSERT_EQUAL (late, TPC_EBUSY);
    long keys_after = tpc_harness_etcd_keys (s_eps, "/t/incarnation/b/");
    CU_ASSERT_EQUAL (keys_after, keys_before);
    CU_ASSERT_EQUAL (coord_store_sync (restarted, s_put (restarted, 3, 20)),
                     0);
    coord_store_destroy (&old);
    coord_store_destroy (&restarted);
    coord_store_t *again = s_open ("/t/incarnation/", &seen);
    CU_ASSERT_PTR_NOT_NULL_FATAL (again);
    CU_ASSERT_EQUAL (seen.n, 2);            /* rec-1 and rec-3, no rec-2 */
    coord_store_destroy (&again);
    printf ("\nstore etcd stale_incarnation late_write=%s batches=%ld "
            "replayed=%zu\n", tpc_errname (late), keys_after, seen.n);
}

static const tpc_test_case_t s_cases[] = {
    { "reopen_in_order", test_reopen_in_order },
    { "group_commit", test_group_commit },
    { "epoch_cas", test_epoch_cas },
    { "stale_fence", test_stale_fence },
    { "checkpoint_deletes", test_checkpoint_deletes },
    { "split_oversized", test_split_oversized },
    { "bad_config", test_bad_config },
    { "answer_lost", test_answer_lost },
    { "request_lost", test_request_lost },
    { "quorum_lost", test_quorum_lost },
    { "empty_reply", test_empty_reply },
    { "leader_first", test_leader_first },
    { "stale_incarnation", test_stale_incarnation },
    { NULL, NULL }
};

int
main (void)
{
    const tpc_test_suite_t suites[] = {
        { "store_etcd", s_setup, s_teardown, s_cases },
        { NULL, NULL, NULL, NULL }
    };
    return tpc_test_main ("test_store_etcd", suites);
}
