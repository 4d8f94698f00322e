/*  coord_store_etcd: the decision store on etcd (see coord_store.h for
 *  the contract).  etcd 3.4's v3 JSON gateway over HTTP or HTTPS
 *  (coord_etcd_http: endpoints, libcurl, TLS, auth), bodies built and
 *  read with cJSON: POST /v3/kv/range and /v3/kv/txn, keys and values
 *  base64 in the JSON.  etcd (Raft) makes a write durable on a
 *  majority of its members before it answers.
 *
 *  KEYS (P = the prefix, "/tpc/<coordinator id>/" by default)
 *    P "epoch"        decimal text: the highest epoch started on P
 *    P "b/" + 16 hex  one batch of records; the hex is its sequence number
 *                     (lowercase, zero-padded), so key order = write order
 *
 *  BATCH VALUE (integers little-endian)
 *    0   magic "TPCB"
 *    4   u8  version = 1
 *    5   u32 count: records in the batch
 *    9   count records, each:
 *          u8 type | u32 len | u32 CRC-32C of the payload | payload
 *  A batch is written whole by one txn or not at all: there is no torn
 *  tail; a record whose CRC or length does not check stops the open
 *  (TPC_ELOG_CORRUPT) rather than replay something else than was written.
 *
 *  GROUP COMMIT.  append (the loop) only packs the record into the pending
 *  buffer.  sync (the coordinator's sync thread) takes EVERYTHING pending
 *  and writes it as one batch in ONE txn; records appended while that txn
 *  is in flight wait for the next one.  A batch over batch_bytes (1 MiB by
 *  default: etcd refuses requests over 1.5 MiB, and base64 adds a third)
 *  is split into several batch keys, written in order; durable_lsn moves
 *  only once the last one succeeded.  open starts with the endpoint that
 *  is etcd's Raft leader (each one's /v3/maintenance/status; a write sent
 *  to a follower costs a hop more: forwarded to the leader, answered once
 *  the follower applied it); the order given is kept when none says so
 *  (any_member: the first).  Connection refused moves to the
 *  next endpoint.  A txn whose fate is unknown (a timeout, a connection
 *  lost mid-request, an HTTP error: a member killed, a Raft election) is
 *  sent again to the next member (after S_RETRY_MS, within 3 x timeout_ms
 *  in all, the last attempt cut short to fit: long enough for etcd to
 *  elect a new Raft leader, and a bound a supervisor can count on): the
 *  batch key's create_revision = 0 compare makes that safe (it can land
 *  once only), and when the retry's compare fails the key is read back:
 *  holding our value, the first attempt landed (success); anything else
 *  is another writer (TPC_EBUSY).  An error left at the end (HTTP, etcd,
 *  timeout) is sticky: the store refuses every later write, and nothing
 *  after it is reported durable (never acknowledged).
 *
 *  FENCE.  With fence_key set, every txn compares that key's
 *  create_revision with fence_rev; its failure branch reads the key back,
 *  so a refusal is told apart (TPC_EFENCED, stats.fenced) from the txn's
 *  own compare failing (TPC_EBUSY): an epoch that moved, or a batch key
 *  that exists already (every batch put compares its create_revision
 *  with 0: a second writer on one prefix never overwrites a batch, it
 *  stops).
 *
 *  CHECKPOINT.  begin drops the pending records (what is live is about to
 *  be appended again, as the file log drops its old segments) and notes
 *  the next sequence number S; syncs wait until end.  end writes the
 *  pending (carried) records and, in the same txn as the last of their
 *  batches, deletes every batch key below S: the keyspace holds only the
 *  live records.  A crash between a checkpoint's split batches leaves
 *  copies of live records, which replay takes as a checkpoint's copies.
 *  etcd keeps old revisions until it is compacted: run etcd with
 *  --auto-compaction-retention (the operator's part, see README).
 *
 *  EPOCH.  open reads P"epoch" and its mod_revision; set_high_water writes
 *  the new value in a txn that compares that mod_revision, so of two
 *  coordinators opening P at once only one gets an epoch: the other's
 *  compare fails and it stops (TPC_EBUSY).  Without a fence_key the epoch
 *  is the fence: every batch txn also compares P"epoch"'s mod_revision
 *  with the one this store wrote, so a write of an earlier incarnation
 *  that reaches etcd late (its process died with the request in flight,
 *  a supervisor restarted the coordinator, the new one took an epoch)
 *  is refused instead of landing among the new one's batches.
 */
#include "coord_store.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coord_etcd_http.h"
#include "tpc_clock.h"
#include "tpc_crc32c.h"
#include "tpc_error.h"
#include "tpc_le.h"

#define S_MAGIC "TPCB"
#define S_VERSION 1
#define S_HDR 9                 /* magic, version, count */
#define S_REC_HDR 9             /* type, len, crc */
#define S_BATCH_DEFAULT (1024 * 1024)
#define S_RANGE_PAGE 8          /* batches per range request at open */
#define S_RETRY_MS 100          /* pause before a write's retry */

typedef struct {
    char *data;
    size_t len, cap;
} s_buf_t;

typedef struct {
    coord_etcd_http_t *http;    /* endpoints, curl, TLS, auth */
    char *prefix;
    char *fence_key;            /* NULL: no fence */
    int64_t fence_rev;
    uint64_t timeout_ms;
    size_t batch_bytes;
    void (*warn) (void *arg, const char *text);
    void *warn_arg;
    /* io: one request at a time (curl, next_seq, ckpt_seq, epoch) */
    pthread_mutex_t io;
    pthread_cond_t ckpt_over;
    uint64_t next_seq;
    uint64_t ckpt_seq;          /* 0: no checkpoint in progress */
    uint64_t epoch;
    int64_t epoch_mod;          /* mod_revision of P"epoch" (0 none) */
    /* mu: what the loop touches (pending, LSNs, error, stats) */
    pthread_mutex_t mu;
    s_buf_t pend;               /* packed records not yet written */
    uint64_t last_lsn, durable_lsn;
    int failed;
    coord_store_stats_t stats;
} s_etcd_t;

/* ---------------------------------------------------------------------
 *  Small helpers: buffers, base64, messages
 */

static int
s_buf_add (s_buf_t *b, const void *data, size_t len)
{
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + len + 1)
            cap *= 2;
        char *p = realloc (b->data, cap);
        if (!p)
            return TPC_ENOMEM;
        b->data = p;
        b->cap = cap;
    }
    memcpy (b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

static void
s_warn (s_etcd_t *self, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

static void
s_warn (s_etcd_t *self, const char *fmt, ...)
{
    char text[768];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (text, sizeof text, fmt, ap);
    va_end (ap);
    if (self->warn)
        self->warn (self->warn_arg, text);
    else
        fprintf (stderr, "etcd store: %s\n", text);
}

/*  The connection's warnings go where the store's do.                   */
static void
s_http_warn (void *arg, const char *text)
{
    s_warn (arg, "%s", text);
}

/*  P + SUFFIX (+ 16 hex of SEQ when SEQ_HEX), in OUT.                    */
static void
s_key (s_etcd_t *self, char *out, size_t len, const char *suffix,
       bool seq_hex, uint64_t seq)
{
    if (seq_hex)
        snprintf (out, len, "%s%s%016" PRIx64, self->prefix, suffix, seq);
    else
        snprintf (out, len, "%s%s", self->prefix, suffix);
}

/*  Add NAME: base64 (TEXT) to OBJ.  0 or TPC_ENOMEM.                      */
static int
s_add_b64 (cJSON *obj, const char *name, const void *data, size_t len)
{
    char *b = coord_etcd_b64_encode (data, len);
    if (!b || !cJSON_AddStringToObject (obj, name, b)) {
        free (b);
        return TPC_ENOMEM;
    }
    free (b);
    return 0;
}

/* ---------------------------------------------------------------------
 *  HTTP
 */

/*  POST BODY to /v3/PATH on the endpoint in use (the next ones when it
 *  refuses the connection); *REPLY the parsed answer of an HTTP 200.
 *  0, TPC_ETIMEDOUT, TPC_ECONNECT (no endpoint answered), TPC_EIO (etcd
 *  said no: its message is warned), TPC_EPROTO, TPC_ENOMEM.  Holds io.   */
static int
s_post (s_etcd_t *self, const char *path, cJSON *body, cJSON **reply)
{
    return coord_etcd_http_post (self->http, path, body, 0, reply);
}

/*  The etcd member id in a status answer's FIELD ("leader", or
 *  header.member_id when HEADER); 0 when absent.                          */
static uint64_t
s_member_id (const cJSON *status, bool header, const char *field)
{
    const cJSON *obj = header ? cJSON_GetObjectItemCaseSensitive (status,
                                                                 "header")
                              : status;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive (obj, field);
    return cJSON_IsString (v) ? strtoull (v->valuestring, NULL, 10) : 0;
}

/*  Make the endpoint that is etcd's Raft leader the one in use: a write
 *  sent to a follower is forwarded to the leader, and the follower answers
 *  only once it applied the entry itself (one more hop between members
 *  per txn).  Asks each endpoint's /v3/maintenance/status (half a second
 *  at most each, silently); when none answers as the leader, cur stays.
 *  Holds io (at open).                                                    */
static void
s_find_leader (s_etcd_t *self)
{
    size_t n = coord_etcd_http_count (self->http);
    size_t cur = coord_etcd_http_current (self->http);
    coord_etcd_http_set_timeout (self->http, self->timeout_ms < 500
                                             ? self->timeout_ms : 500);
    for (size_t i = 0; i < n; i++) {
        size_t at = (cur + i) % n;
        cJSON *reply = NULL;
        if (coord_etcd_http_post_at (self->http, at, "maintenance/status",
                                     "{}", &reply))
            continue;
        uint64_t leader = s_member_id (reply, false, "leader");
        bool found = leader && leader == s_member_id (reply, true,
                                                      "member_id");
        cJSON_Delete (reply);
        if (found) {
            coord_etcd_http_use (self->http, at);
            break;
        }
    }
    coord_etcd_http_set_timeout (self->http, self->timeout_ms);
}

/* ---------------------------------------------------------------------
 *  Transactions
 */

/*  Add to COMPARE: KEY's TARGET (field FIELD) EQUAL to VALUE.           */
static int
s_add_compare (cJSON *compare, const char *key, const char *target,
               const char *field, int64_t value)
{
    char text[24];
    snprintf (text, sizeof text, "%" PRId64, value);
    cJSON *c = cJSON_CreateObject ();
    if (!c || !cJSON_AddItemToArray (compare, c)) {
        cJSON_Delete (c);
        return TPC_ENOMEM;
    }
    if (s_add_b64 (c, "key", key, strlen (key))
        || !cJSON_AddStringToObject (c, "target", target)
        || !cJSON_AddStringToObject (c, "result", "EQUAL")
        || !cJSON_AddStringToObject (c, field, text))
        return TPC_ENOMEM;
    return 0;
}

/*  A new txn body: the fence compare (if any), empty success list, and
 *  a failure branch that reads the fence key back.  NULL: no memory.   */
static cJSON *
s_txn_new (s_etcd_t *self, cJSON **compare, cJSON **success)
{
    cJSON *txn = cJSON_CreateObject ();
    cJSON *failure = NULL;
    *compare = txn ? cJSON_AddArrayToObject (txn, "compare") : NULL;
    *success = txn ? cJSON_AddArrayToObject (txn, "success") : NULL;
    failure = txn ? cJSON_AddArrayToObject (txn, "failure") : NULL;
    if (!failure)
        goto fail;
    if (self->fence_key) {
        if (s_add_compare (*compare, self->fence_key, "CREATE",
                           "create_revision", self->fence_rev))
            goto fail;
        cJSON *r = cJSON_CreateObject ();
        if (!r || !cJSON_AddItemToArray (failure, r)) {
            cJSON_Delete (r);
            goto fail;
        }
        cJSON *rr = cJSON_AddObjectToObject (r, "request_range");
        if (!rr || s_add_b64 (rr, "key", self->fence_key,
                              strlen (self->fence_key)))
            goto fail;
    }
    return txn;
fail:
    cJSON_Delete (txn);
    return NULL;
}

/*  Was a refused txn refused by the fence?  (Its failure branch read the
 *  fence key: gone, or created again, means yes.)                       */
static bool
s_fenced (s_etcd_t *self, const cJSON *reply)
{
    if (!self->fence_key)
        return false;
    const cJSON *resp = cJSON_GetArrayItem (
        cJSON_GetObjectItemCaseSensitive (reply, "responses"), 0);
    const cJSON *range = cJSON_GetObjectItemCaseSensitive (resp,
                                                           "response_range");
    const cJSON *kv = cJSON_GetArrayItem (
        cJSON_GetObjectItemCaseSensitive (range, "kvs"), 0);
    return !kv || coord_etcd_get_i64 (kv, "create_revision") != self->fence_rev;
}

/*  Send TXN; 0 when it succeeded (*HEADER_REV its revision, *DELETED what
 *  a delete_range of it removed), TPC_EFENCED (counted), TPC_EBUSY (its
 *  own compare failed), or s_post's error.  Holds io.                   */
static int
s_txn (s_etcd_t *self, cJSON *txn, int64_t *header_rev, uint64_t *deleted)
{
    cJSON *reply = NULL;
    int rc = s_post (self, "kv/txn", txn, &reply);
    if (rc)
        goto cleanup;
    if (!cJSON_IsTrue (cJSON_GetObjectItemCaseSensitive (reply,
                                                         "succeeded"))) {
        if (s_fenced (self, reply)) {
            pthread_mutex_lock (&self->mu);
            self->stats.fenced++;
            pthread_mutex_unlock (&self->mu);
            s_warn (self, "write refused: the fence key %s is no longer at "
                    "create_revision %" PRId64, self->fence_key,
                    self->fence_rev);
            rc = TPC_EFENCED;
        }
        else
            rc = TPC_EBUSY;
        goto cleanup;
    }
    if (header_rev)
        *header_rev = coord_etcd_get_i64 (cJSON_GetObjectItemCaseSensitive (reply,
                                                                   "header"),
                                 "revision");
    if (deleted) {
        const cJSON *r;
        cJSON_ArrayForEach (r, cJSON_GetObjectItemCaseSensitive (reply,
                                                                "responses")) {
            const cJSON *d = cJSON_GetObjectItemCaseSensitive (
                r, "response_delete_range");
            if (d)
                *deleted += (uint64_t) coord_etcd_get_i64 (d, "deleted");
        }
    }
    pthread_mutex_lock (&self->mu);
    self->stats.writes++;
    self->stats.revision = coord_etcd_get_i64 (cJSON_GetObjectItemCaseSensitive (
                                          reply, "header"), "revision");
    pthread_mutex_unlock (&self->mu);
cleanup:
    cJSON_Delete (reply);
    return rc;
}

/*  Add a request_put of KEY = DATA to the success list.                  */
static int
s_add_put (cJSON *success, const char *key, const void *data, size_t len)
{
    cJSON *op = cJSON_CreateObject ();
    cJSON *put = op ? cJSON_AddObjectToObject (op, "request_put") : NULL;
    if (!op || !cJSON_AddItemToArray (success, op)) {
        cJSON_Delete (op);
        return TPC_ENOMEM;
    }
    if (!put || s_add_b64 (put, "key", key, strlen (key))
        || s_add_b64 (put, "value", data, len))
        return TPC_ENOMEM;
    return 0;
}

/*  Add a request_delete_range of the batch keys below sequence BELOW.   */
static int
s_add_delete_below (s_etcd_t *self, cJSON *success, uint64_t below)
{
    char from[512], to[512];
    s_key (self, from, sizeof from, "b/", false, 0);
    s_key (self, to, sizeof to, "b/", true, below);
    cJSON *op = cJSON_CreateObject ();
    if (!op || !cJSON_AddItemToArray (success, op)) {
        cJSON_Delete (op);
        return TPC_ENOMEM;
    }
    cJSON *del = cJSON_AddObjectToObject (op, "request_delete_range");
    if (!del || s_add_b64 (del, "key", from, strlen (from))
        || s_add_b64 (del, "range_end", to, strlen (to)))
        return TPC_ENOMEM;
    return 0;
}

/*  Write the packed records BUF (LEN bytes) as batches of at most
 *  batch_bytes, one txn each; with DELETE_BELOW the last one also deletes
 *  the batch keys below that sequence number.  Holds io.                */
/*  A write whose fate is unknown: worth asking the next member.          */
static bool
s_unknown (int rc)
{
    return rc == TPC_ETIMEDOUT || rc == TPC_ECONNECT || rc == TPC_EIO;
}

/*  After an attempt of unknown fate, the retry found KEY created: read it
 *  back.  0 when it holds VALUE (LEN bytes: our first attempt landed),
 *  TPC_EBUSY when it holds anything else or nothing, or s_post's error.  */
static int
s_landed (s_etcd_t *self, const char *key, const uint8_t *value, size_t len)
{
    cJSON *req = cJSON_CreateObject (), *reply = NULL;
    char *ours = coord_etcd_b64_encode (value, len);
    int rc = TPC_ENOMEM;
    if (!req || !ours || s_add_b64 (req, "key", key, strlen (key)))
        goto cleanup;
    rc = s_post (self, "kv/range", req, &reply);
    if (rc)
        goto cleanup;
    const cJSON *kv = cJSON_GetArrayItem (
        cJSON_GetObjectItemCaseSensitive (reply, "kvs"), 0);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive (kv, "value");
    rc = cJSON_IsString (v) && strcmp (v->valuestring, ours) == 0
         ? 0 : TPC_EBUSY;
    if (!rc)
        s_warn (self, "batch key %s: the earlier attempt landed", key);
cleanup:
    free (ours);
    cJSON_Delete (req);
    cJSON_Delete (reply);
    return rc;
}

static int
s_write_batches (s_etcd_t *self, const uint8_t *buf, size_t len,
                 uint64_t delete_below)
{
    size_t at = 0;
    int rc = 0;
    /* a batch holds at most batch_bytes, or one record larger than that */
    size_t most = self->batch_bytes + S_REC_HDR + TPC_LOG_RECORD_MAX;
    uint8_t *value = malloc (S_HDR + (len < most ? len : most));
    if (!value)
        return TPC_ENOMEM;
    do {
        /* as many whole records as fit (at least one) */
        size_t end = at;
        uint32_t count = 0;
        while (end < len) {
            size_t rlen = S_REC_HDR + tpc_le_get32 (buf + end + 1);
            if (count && end - at + rlen > self->batch_bytes)
                break;
            end += rlen;
            count++;
        }
        memcpy (value, S_MAGIC, 4);
        value[4] = S_VERSION;
        tpc_le_put32 (value + 5, count);
        memcpy (value + S_HDR, buf + at, end - at);
        bool last = end >= len;
        cJSON *compare, *success;
        cJSON *txn = s_txn_new (self, &compare, &success);
        char key[512];
        s_key (self, key, sizeof key, "b/", true, self->next_seq);
        rc = txn ? s_add_put (success, key, value, S_HDR + end - at)
                 : TPC_ENOMEM;
        if (!rc)    /* never over another writer's batch */
            rc = s_add_compare (compare, key, "CREATE", "create_revision",
                                0);
        if (!rc && !self->fence_key && self->epoch_mod) {
            /* no leader key: the epoch is the fence (a late write of an
             * earlier incarnation never lands after a restart's)        */
            char ekey[512];
            s_key (self, ekey, sizeof ekey, "epoch", false, 0);
            rc = s_add_compare (compare, ekey, "MOD", "mod_revision",
                                self->epoch_mod);
        }
        if (!rc && last && delete_below)
            rc = s_add_delete_below (self, success, delete_below);
        uint64_t deleted = 0;
        int64_t until = tpc_now_ms () + 3 * (int64_t) self->timeout_ms;
        bool unknown = false;       /* an earlier attempt's fate unknown */
        while (!rc) {
            /* no attempt outlives the 3 x timeout_ms budget in all */
            int64_t left = until - tpc_now_ms ();
            coord_etcd_http_set_timeout (self->http, (uint64_t)
                (left < (int64_t) self->timeout_ms
                 ? (left > S_RETRY_MS ? left : S_RETRY_MS)
                 : (int64_t) self->timeout_ms));
            rc = s_txn (self, txn, NULL, &deleted);
            if (rc == TPC_EBUSY && unknown)
                rc = s_landed (self, key, value, S_HDR + end - at);
            if (!s_unknown (rc) || tpc_now_ms () + S_RETRY_MS >= until)
                break;
            unknown = true;
            s_warn (self, "kv/txn of %s: fate unknown (%s); asking the next "
                    "member", key, tpc_strerror (rc));
            coord_etcd_http_next (self->http);
            usleep (S_RETRY_MS * 1000);     /* a Raft election: not a spin */
            rc = 0;
        }
        coord_etcd_http_set_timeout (self->http, self->timeout_ms);
        cJSON_Delete (txn);
        if (rc == TPC_EBUSY)
            s_warn (self, "batch key %s exists already or the epoch moved: "
                    "another coordinator writes under this prefix; stopping",
                    key);
        if (rc)
            break;
        self->next_seq++;
        if (deleted) {
            pthread_mutex_lock (&self->mu);
            self->stats.deleted += deleted;
            pthread_mutex_unlock (&self->mu);
        }
        at = end;
    } while (at < len);
    free (value);
    return rc;
}

/* ---------------------------------------------------------------------
 *  The table
 */

static int
s_append (void *impl, uint8_t type, const void *payload, size_t len,
          uint64_t *lsn)
{
    s_etcd_t *self = impl;
    if (len > TPC_LOG_RECORD_MAX)
        return TPC_ELOG_TOO_BIG;
    uint8_t hdr[S_REC_HDR];
    hdr[0] = type;
    tpc_le_put32 (hdr + 1, (uint32_t) len);
    tpc_le_put32 (hdr + 5, tpc_crc32c (0, payload, len));
    pthread_mutex_lock (&self->mu);
    int rc = self->failed ? TPC_ELOG_FAILED : 0;
    size_t was = self->pend.len;
    if (!rc)
        rc = s_buf_add (&self->pend, hdr, sizeof hdr);
    if (!rc)
        rc = s_buf_add (&self->pend, payload, len);
    if (rc)
        self->pend.len = was;
    else if (lsn)
        *lsn = ++self->last_lsn;
    else
        self->last_lsn++;
    pthread_mutex_unlock (&self->mu);
    return rc;
}

/*  Take every pending record: its bytes (*BUF, the caller's) and the LSN
 *  it reaches.  Holds io.  0, or the store's sticky error.             */
static int
s_take_pending (s_etcd_t *self, s_buf_t *buf, uint64_t *upto)
{
    pthread_mutex_lock (&self->mu);
    int rc = self->failed;
    *buf = self->pend;
    self->pend = (s_buf_t) { 0 };
    *upto = self->last_lsn;
    pthread_mutex_unlock (&self->mu);
    return rc;
}

/*  The write of what s_take_pending took is over (RC): move durable_lsn
 *  or fail the store for good.                                          */
static int
s_written (s_etcd_t *self, int rc, uint64_t upto, s_buf_t *buf)
{
    free (buf->data);
    pthread_mutex_lock (&self->mu);
    if (rc)
        self->failed = rc;
    else if (upto > self->durable_lsn)
        self->durable_lsn = upto;
    pthread_mutex_unlock (&self->mu);
    return rc;
}

static int
s_sync (void *impl, uint64_t lsn)
{
    s_etcd_t *self = impl;
    s_buf_t buf = { 0 };
    uint64_t upto = 0;
    pthread_mutex_lock (&self->io);
    while (self->ckpt_seq)          /* a checkpoint writes it all */
        pthread_cond_wait (&self->ckpt_over, &self->io);
    pthread_mutex_lock (&self->mu);
    int rc = self->failed;
    bool done = self->durable_lsn >= lsn;
    pthread_mutex_unlock (&self->mu);
    if (rc || done)
        goto cleanup;
    rc = s_take_pending (self, &buf, &upto);
    if (!rc && buf.len)
        rc = s_write_batches (self, (uint8_t *) buf.data, buf.len, 0);
    rc = s_written (self, rc, upto, &buf);
cleanup:
    pthread_mutex_unlock (&self->io);
    return rc;
}

static uint64_t
s_last_lsn (void *impl)
{
    s_etcd_t *self = impl;
    pthread_mutex_lock (&self->mu);
    uint64_t v = self->last_lsn;
    pthread_mutex_unlock (&self->mu);
    return v;
}

static uint64_t
s_durable_lsn (void *impl)
{
    s_etcd_t *self = impl;
    pthread_mutex_lock (&self->mu);
    uint64_t v = self->durable_lsn;
    pthread_mutex_unlock (&self->mu);
    return v;
}

static int
s_checkpoint_begin (void *impl)
{
    s_etcd_t *self = impl;
    pthread_mutex_lock (&self->io);
    pthread_mutex_lock (&self->mu);
    int rc = self->failed;
    if (!rc) {
        self->pend.len = 0;     /* superseded by what the owner carries */
        self->ckpt_seq = self->next_seq;
    }
    pthread_mutex_unlock (&self->mu);
    pthread_mutex_unlock (&self->io);
    return rc;
}

static int
s_checkpoint_end (void *impl)
{
    s_etcd_t *self = impl;
    s_buf_t buf = { 0 };
    uint64_t upto = 0;
    pthread_mutex_lock (&self->io);
    int rc = self->ckpt_seq ? 0 : TPC_ESTATE;
    if (!rc)
        rc = s_take_pending (self, &buf, &upto);
    if (!rc && buf.len)
        rc = s_write_batches (self, (uint8_t *) buf.data, buf.len,
                              self->ckpt_seq);
    else if (!rc) {             /* nothing live: only the delete */
        cJSON *compare, *success;
        cJSON *txn = s_txn_new (self, &compare, &success);
        uint64_t deleted = 0;
        rc = txn ? s_add_delete_below (self, success, self->ckpt_seq)
                 : TPC_ENOMEM;
        if (!rc)
            rc = s_txn (self, txn, NULL, &deleted);
        cJSON_Delete (txn);
        pthread_mutex_lock (&self->mu);
        self->stats.deleted += deleted;
        pthread_mutex_unlock (&self->mu);
    }
    if (self->ckpt_seq)
        rc = s_written (self, rc, upto, &buf);
    self->ckpt_seq = 0;
    pthread_cond_broadcast (&self->ckpt_over);
    pthread_mutex_unlock (&self->io);
    return rc;
}

static uint64_t
s_high_water (void *impl)
{
    s_etcd_t *self = impl;
    pthread_mutex_lock (&self->io);
    uint64_t v = self->epoch;
    pthread_mutex_unlock (&self->io);
    return v;
}

static int
s_set_high_water (void *impl, uint64_t value)
{
    s_etcd_t *self = impl;
    pthread_mutex_lock (&self->io);
    int rc = 0;
    cJSON *txn = NULL;
    if (value <= self->epoch)
        goto cleanup;
    cJSON *compare, *success;
    txn = s_txn_new (self, &compare, &success);
    char key[512], text[24];
    s_key (self, key, sizeof key, "epoch", false, 0);
    snprintf (text, sizeof text, "%" PRIu64, value);
    rc = txn ? s_add_compare (compare, key, "MOD", "mod_revision",
                              self->epoch_mod)
             : TPC_ENOMEM;
    if (!rc)
        rc = s_add_put (success, key, text, strlen (text));
    int64_t hrev = 0;
    if (!rc)
        rc = s_txn (self, txn, &hrev, NULL);
    if (rc == TPC_EBUSY)
        s_warn (self, "the epoch at %s moved since it was read (another "
                "coordinator opened this prefix): refusing to reuse it", key);
    if (!rc) {
        self->epoch = value;
        self->epoch_mod = hrev;
    }
cleanup:
    cJSON_Delete (txn);
    pthread_mutex_unlock (&self->io);
    return rc;
}

static void
s_stats (void *impl, coord_store_stats_t *out)
{
    s_etcd_t *self = impl;
    pthread_mutex_lock (&self->mu);
    *out = self->stats;
    pthread_mutex_unlock (&self->mu);
}

static void
s_destroy (void **impl_p)
{
    s_etcd_t *self = *impl_p;
    if (!self)
        return;
    coord_etcd_http_destroy (&self->http);
    free (self->prefix);
    free (self->fence_key);
    free (self->pend.data);
    pthread_mutex_destroy (&self->io);
    pthread_mutex_destroy (&self->mu);
    pthread_cond_destroy (&self->ckpt_over);
    free (self);
    *impl_p = NULL;
}

static const coord_store_ops_t s_etcd_ops = {
    .name = "etcd",
    .append = s_append, .sync = s_sync,
    .last_lsn = s_last_lsn, .durable_lsn = s_durable_lsn,
    .checkpoint_begin = s_checkpoint_begin,
    .checkpoint_end = s_checkpoint_end,
    .high_water = s_high_water, .set_high_water = s_set_high_water,
    .stats = s_stats, .destroy = s_destroy,
};

/* ---------------------------------------------------------------------
 *  Open: endpoints, the epoch, the replay
 */

/*  Replay one batch value (sequence SEQ) through FN.                    */
static int
s_replay_batch (s_etcd_t *self, uint64_t seq, const uint8_t *v, size_t len,
                tpc_log_replay_fn *fn, void *arg, char *errbuf,
                size_t errlen)
{
    if (len < S_HDR || memcmp (v, S_MAGIC, 4) || v[4] != S_VERSION) {
        snprintf (errbuf, errlen, "batch %016" PRIx64 " is not a version %d "
                  "batch of records", seq, S_VERSION);
        return len >= 5 && !memcmp (v, S_MAGIC, 4) ? TPC_ELOG_VERSION
                                                   : TPC_ELOG_CORRUPT;
    }
    uint32_t count = tpc_le_get32 (v + 5);
    size_t at = S_HDR;
    for (uint32_t i = 0; i < count; i++) {
        uint32_t rlen = at + S_REC_HDR <= len ? tpc_le_get32 (v + at + 1) : 0;
        if (at + S_REC_HDR > len || rlen > len - at - S_REC_HDR
            || tpc_crc32c (0, v + at + S_REC_HDR, rlen)
               != tpc_le_get32 (v + at + 5)) {
            snprintf (errbuf, errlen, "batch %016" PRIx64 ": record %" PRIu32
                      " of %" PRIu32 " fails its length or CRC check", seq,
                      i + 1, count);
            return TPC_ELOG_CORRUPT;
        }
        tpc_log_rec_t lrec = { .lsn = ++self->last_lsn, .type = v[at],
                               .segment = seq, .offset = i };
        int rc = fn ? fn (arg, &lrec, v + at + S_REC_HDR, rlen) : 0;
        if (rc)
            return rc;
        at += S_REC_HDR + rlen;
    }
    if (at != len) {
        snprintf (errbuf, errlen, "batch %016" PRIx64 ": %zu bytes after its "
                  "%" PRIu32 " records", seq, len - at, count);
        return TPC_ELOG_CORRUPT;
    }
    return 0;
}

/*  Read P"epoch": self->epoch and its mod_revision (0, 0 when absent).  */
static int
s_load_epoch (s_etcd_t *self, char *errbuf, size_t errlen)
{
    char key[512];
    cJSON *req = cJSON_CreateObject (), *reply = NULL;
    uint8_t *raw = NULL;
    int rc = TPC_ENOMEM;
    s_key (self, key, sizeof key, "epoch", false, 0);
    if (!req || s_add_b64 (req, "key", key, strlen (key)))
        goto cleanup;
    rc = s_post (self, "kv/range", req, &reply);
    if (rc) {
        snprintf (errbuf, errlen, "cannot read %s from etcd: %s", key,
                  coord_etcd_http_error (self->http));
        goto cleanup;
    }
    const cJSON *kv = cJSON_GetArrayItem (
        cJSON_GetObjectItemCaseSensitive (reply, "kvs"), 0);
    if (!kv)
        goto cleanup;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive (kv, "value");
    size_t n = 0;
    rc = cJSON_IsString (v) ? coord_etcd_b64_decode (v->valuestring, &raw, &n)
                            : TPC_EPROTO;
    char text[24] = "";
    if (!rc && n < sizeof text)
        memcpy (text, raw, n);
    char *stop = NULL;
    self->epoch = strtoull (text, &stop, 10);
    if (rc || !n || n >= sizeof text || *stop) {
        snprintf (errbuf, errlen, "%s holds no epoch number", key);
        rc = rc ? rc : TPC_ELOG_CORRUPT;
        goto cleanup;
    }
    self->epoch_mod = coord_etcd_get_i64 (kv, "mod_revision");
cleanup:
    free (raw);
    cJSON_Delete (req);
    cJSON_Delete (reply);
    return rc;
}

/*  Replay the batch of one range result ITEM (a key BLEN + 16 hex bytes
 *  long) and put where the next page starts in START (*SLEN bytes: the
 *  key and a NUL byte).                                                  */
static int
s_load_kv (s_etcd_t *self, const cJSON *item, size_t blen, char *start,
           size_t size, size_t *slen, tpc_log_replay_fn *fn, void *arg,
           char *errbuf, size_t errlen)
{
    const cJSON *k = cJSON_GetObjectItemCaseSensitive (item, "key");
    const cJSON *v = cJSON_GetObjectItemCaseSensitive (item, "value");
    uint8_t *kraw = NULL, *raw = NULL;
    size_t kn = 0, n = 0;
    int rc = cJSON_IsString (k) ? coord_etcd_b64_decode (k->valuestring, &kraw, &kn)
                                : TPC_EPROTO;
    if (!rc)
        rc = cJSON_IsString (v) ? coord_etcd_b64_decode (v->valuestring, &raw, &n)
                                : TPC_EPROTO;
    if (rc)
        goto cleanup;
    char hex[17] = "", *stop = NULL;
    if (kn == blen + 16 && kn + 1 < size)
        memcpy (hex, kraw + blen, 16);
    uint64_t seq = strtoull (hex, &stop, 16);
    if (!*hex || *stop) {
        snprintf (errbuf, errlen, "a key under %sb/ that is not a batch key "
                  "(16 hex digits)", self->prefix);
        rc = TPC_ELOG_CORRUPT;
        goto cleanup;
    }
    memcpy (start, kraw, kn);
    start[kn] = '\0';
    *slen = kn + 1;
    rc = s_replay_batch (self, seq, raw, n, fn, arg, errbuf, errlen);
    if (!rc && seq >= self->next_seq)
        self->next_seq = seq + 1;
cleanup:
    free (kraw);
    free (raw);
    return rc;
}

/*  Every batch under P"b/" in key order, through FN: pages of
 *  S_RANGE_PAGE, all read at the revision of the first page.            */
static int
s_load_batches (s_etcd_t *self, tpc_log_replay_fn *fn, void *arg,
                char *errbuf, size_t errlen)
{
    char start[512], end[512], rev[24];
    cJSON *req = NULL, *reply = NULL;
    int rc = 0;
    s_key (self, start, sizeof start, "b/", false, 0);
    s_key (self, end, sizeof end, "b0", false, 0);     /* '/' + 1 */
    const size_t blen = strlen (start);
    size_t slen = blen;
    int64_t revision = 0;
    bool more = true;
    while (more && !rc) {
        cJSON_Delete (req);
        cJSON_Delete (reply);
        reply = NULL;
        snprintf (rev, sizeof rev, "%" PRId64, revision);
        req = cJSON_CreateObject ();
        if (!req || s_add_b64 (req, "key", start, slen)
            || s_add_b64 (req, "range_end", end, strlen (end))
            || !cJSON_AddNumberToObject (req, "limit", S_RANGE_PAGE)
            || (revision && !cJSON_AddStringToObject (req, "revision", rev))) {
            rc = TPC_ENOMEM;
            break;
        }
        rc = s_post (self, "kv/range", req, &reply);
        if (rc) {
            snprintf (errbuf, errlen, "cannot read the batches under %s "
                      "from etcd", self->prefix);
            break;
        }
        if (!revision)
            revision = coord_etcd_get_i64 (cJSON_GetObjectItemCaseSensitive (reply,
                                                                    "header"),
                                  "revision");
        more = cJSON_IsTrue (cJSON_GetObjectItemCaseSensitive (reply, "more"));
        const cJSON *item;
        size_t nkvs = 0;
        cJSON_ArrayForEach (item, cJSON_GetObjectItemCaseSensitive (reply,
                                                                   "kvs")) {
            rc = s_load_kv (self, item, blen, start, sizeof start, &slen, fn,
                            arg, errbuf, errlen);
            if (rc)
                break;
            nkvs++;
        }
        more = more && nkvs;
    }
    cJSON_Delete (req);
    cJSON_Delete (reply);
    return rc;
}

int
coord_store_etcd_open (const coord_store_etcd_config_t *cfg,
                       tpc_log_replay_fn *fn, void *arg, coord_store_t **out,
                       char *errbuf, size_t errlen)
{
    *out = NULL;
    *errbuf = '\0';
    s_etcd_t *self = calloc (1, sizeof *self);
    if (!self)
        return TPC_ENOMEM;
    pthread_mutex_init (&self->io, NULL);
    pthread_mutex_init (&self->mu, NULL);
    pthread_cond_init (&self->ckpt_over, NULL);
    self->next_seq = 1;
    self->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : 5000;
    self->batch_bytes = cfg->batch_bytes ? cfg->batch_bytes : S_BATCH_DEFAULT;
    self->fence_rev = cfg->fence_rev;
    self->warn = cfg->warn;
    self->warn_arg = cfg->warn_arg;
    coord_etcd_http_config_t hcfg = {
        .endpoints = cfg->endpoints, .auth = cfg->auth,
        .timeout_ms = self->timeout_ms,
        .connect_timeout_ms = self->timeout_ms < 1000 ? self->timeout_ms
                                                      : 1000,
        .warn = s_http_warn, .warn_arg = self };
    int rc = coord_etcd_http_new (&hcfg, &self->http, errbuf, errlen);
    if (rc)
        goto fail;
    rc = TPC_ECONFIG;
    if (!cfg->prefix || !*cfg->prefix || strlen (cfg->prefix) > 400) {
        snprintf (errbuf, errlen, "the etcd key prefix must be 1 to 400 "
                  "bytes");
        goto fail;
    }
    rc = TPC_ENOMEM;
    self->prefix = strdup (cfg->prefix);
    if (!self->prefix
        || (cfg->fence_key && !(self->fence_key = strdup (cfg->fence_key))))
        goto fail;
    if (!cfg->any_member && coord_etcd_http_count (self->http) > 1)
        s_find_leader (self);
    rc = s_load_epoch (self, errbuf, errlen);
    if (!rc)
        rc = s_load_batches (self, fn, arg, errbuf, errlen);
    if (rc) {
        if (!*errbuf)
            snprintf (errbuf, errlen, "cannot load the records under %s",
                      self->prefix);
        goto fail;
    }
    self->durable_lsn = self->last_lsn;
    *out = coord_store_new (&s_etcd_ops, self);
    return *out ? 0 : TPC_ENOMEM;
fail:
    {
        void *impl = self;
        s_destroy (&impl);
    }
    return rc;
}
