/*  part_state: the agent's durable 3PC state log (contract, record layout
 *  and compaction rules in part_state.h).
 *
 *  Memory: a zhashx gid -> s_entry_t with the latest state of every gid
 *  held, which is exactly what a checkpoint writes back.  The log itself
 *  is a tpc_log in its own directory; a put is append + sync, an append
 *  only writes (its ticket is the record's LSN) and part_state_sync makes
 *  every record appended so far durable with one fdatasync.
 */
#include "part_state.h"

#include <assert.h>
#include <czmq.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tpc_error.h"
#include "tpc_gid.h"
#include "tpc_le.h"
#include "tpc_log.h"

#define S_VERSION 1

typedef struct {
    char *gid;
    tpc_p3_t state;
    uint64_t at_ms;
    size_t nparts;
    char **parts;
    char **peers;
} s_entry_t;

struct part_state {
    tpc_log_t *log;
    zhashx_t *gids;             /* gid -> s_entry_t */
    uint64_t forget_ms;
    uint64_t ckpt_min;
    uint64_t since_ckpt;        /* records appended since the last
                                   checkpoint */
    uint64_t ckpt_held;         /* gids the last checkpoint wrote */
    uint8_t *buf;               /* encode buffer */
    size_t bufsize;
    char *dir;
    void (*warn) (void *arg, const char *text);
    void *warn_arg;
    /* replay only */
    char *replay_err;
    size_t replay_errlen;
};

/* ---------------------------------------------------------------------
 *  Payload codec
 */

static bool
s_state_valid (tpc_p3_t state)
{
    return state == TPC_P3_UNCERTAIN || state == TPC_P3_PRECOMMITTED
           || state == TPC_P3_COMMITTED || state == TPC_P3_ABORTED;
}

static bool
s_decided (tpc_p3_t state)
{
    return state == TPC_P3_COMMITTED || state == TPC_P3_ABORTED;
}

/*  Bytes the payload needs, or 0 when an argument is refused.            */
static size_t
s_encoded_size (const char *gid, tpc_p3_t state, size_t nparts,
                char *const *parts, char *const *peers)
{
    if (!gid || strnlen (gid, TPC_GID_MAX) == TPC_GID_MAX
        || tpc_gid_parse (gid, NULL) != 0 || !s_state_valid (state)
        || nparts > PART_STATE_PARTS_MAX || (nparts && !parts))
        return 0;
    size_t n = 1 + 2 + strlen (gid) + 1 + 8 + 2;
    for (size_t i = 0; i < nparts; i++) {
        const char *name = parts[i];
        const char *ep = peers && peers[i] ? peers[i] : "";
        size_t nl = name ? strnlen (name, PART_STATE_NAME_MAX + 1) : 0;
        size_t el = strnlen (ep, PART_STATE_ENDPOINT_MAX + 1);
        if (nl < 1 || nl > PART_STATE_NAME_MAX || el > PART_STATE_ENDPOINT_MAX)
            return 0;
        n += 2 + nl + 2 + el;
    }
    return n <= TPC_LOG_RECORD_MAX ? n : 0;
}

static size_t
s_put_str (uint8_t *p, const char *s)
{
    size_t len = strlen (s);
    tpc_le_put16 (p, (uint16_t) len);
    memcpy (p + 2, s, len);
    return 2 + len;
}

int
part_state_encode (const char *gid, tpc_p3_t state, uint64_t at_ms,
                   size_t nparts, char *const *parts, char *const *peers,
                   uint8_t *buf, size_t size, size_t *len)
{
    size_t need = s_encoded_size (gid, state, nparts, parts, peers);
    if (need == 0 || !buf || !len || size < need)
        return TPC_EINVAL;
    size_t n = 0;
    buf[n++] = S_VERSION;
    n += s_put_str (buf + n, gid);
    buf[n++] = (uint8_t) state;
    tpc_le_put64 (buf + n, at_ms);
    n += 8;
    tpc_le_put16 (buf + n, (uint16_t) nparts);
    n += 2;
    for (size_t i = 0; i < nparts; i++) {
        n += s_put_str (buf + n, parts[i]);
        n += s_put_str (buf + n, peers && peers[i] ? peers[i] : "");
    }
    assert (n == need);
    *len = n;
    return 0;
}

/*  Read a str of MIN..MAX bytes at *OFF into a new C string (NULL when
 *  short, out of bounds, holding a NUL, or out of memory).               */
static char *
s_get_str (const uint8_t *p, size_t len, size_t *off, size_t min, size_t max)
{
    if (len - *off < 2)
        return NULL;
    size_t n = tpc_le_get16 (p + *off);
    *off += 2;
    if (n < min || n > max || len - *off < n || memchr (p + *off, '\0', n))
        return NULL;
    char *s = malloc (n + 1);
    if (!s)
        return NULL;
    memcpy (s, p + *off, n);
    s[n] = '\0';
    *off += n;
    return s;
}

void
part_state_strv_free (char **parts, char **peers, size_t n)
{
    tpc_strv_free (&parts, n);
    tpc_strv_free (&peers, n);
}

int
part_state_decode (const void *payload, size_t len, char **gid_out,
                   tpc_p3_t *state_out, uint64_t *at_ms_out,
                   size_t *nparts_out, char ***parts_out, char ***peers_out)
{
    const uint8_t *p = payload;
    char *gid = NULL;
    char **parts = NULL, **peers = NULL;
    size_t nparts = 0, off = 1;
    int rc = TPC_ELOG_CORRUPT;
    if (!p || len < 1 || p[0] != S_VERSION)
        goto cleanup;
    gid = s_get_str (p, len, &off, 1, TPC_GID_MAX - 1);
    if (!gid || tpc_gid_parse (gid, NULL) != 0 || len - off < 1 + 8 + 2)
        goto cleanup;
    tpc_p3_t state = (tpc_p3_t) p[off++];
    if (!s_state_valid (state))
        goto cleanup;
    uint64_t at_ms = tpc_le_get64 (p + off);
    off += 8;
    size_t n = tpc_le_get16 (p + off);
    off += 2;
    if (n > PART_STATE_PARTS_MAX)
        goto cleanup;
    parts = calloc (n ? n : 1, sizeof *parts);
    peers = calloc (n ? n : 1, sizeof *peers);
    if (!parts || !peers)
        goto cleanup;
    for (; nparts < n; nparts++) {
        parts[nparts] = s_get_str (p, len, &off, 1, PART_STATE_NAME_MAX);
        peers[nparts] = parts[nparts]
                        ? s_get_str (p, len, &off, 0, PART_STATE_ENDPOINT_MAX)
                        : NULL;
        if (!parts[nparts] || !peers[nparts]) {
            nparts++;
            goto cleanup;
        }
    }
    if (off != len)
        goto cleanup;
    *gid_out = gid;
    *state_out = state;
    *at_ms_out = at_ms;
    *nparts_out = n;
    *parts_out = parts;
    *peers_out = peers;
    return 0;
cleanup:
    free (gid);
    part_state_strv_free (parts, peers, nparts);
    return rc;
}

/* ---------------------------------------------------------------------
 *  The table
 */

static void
s_entry_destroy (void **item_p)
{
    s_entry_t *e = *item_p;
    if (!e)
        return;
    free (e->gid);
    part_state_strv_free (e->parts, e->peers, e->nparts);
    free (e);
    *item_p = NULL;
}

/*  Make E (owned) the latest state of its gid.                           */
static void
s_table_set (part_state_t *self, s_entry_t *e)
{
    zhashx_update (self->gids, e->gid, e);
}

/*  A new entry with copies of the arguments, or NULL.                    */
static s_entry_t *
s_entry_new (const char *gid, tpc_p3_t state, uint64_t at_ms, size_t nparts,
             char *const *parts, char *const *peers)
{
    s_entry_t *e = calloc (1, sizeof *e);
    if (!e)
        return NULL;
    e->gid = strdup (gid);
    e->state = state;
    e->at_ms = at_ms;
    e->parts = calloc (nparts ? nparts : 1, sizeof *e->parts);
    e->peers = calloc (nparts ? nparts : 1, sizeof *e->peers);
    if (!e->gid || !e->parts || !e->peers)
        goto fail;
    for (; e->nparts < nparts; e->nparts++) {
        const char *ep = peers && peers[e->nparts] ? peers[e->nparts] : "";
        e->parts[e->nparts] = strdup (parts[e->nparts]);
        e->peers[e->nparts] = strdup (ep);
        if (!e->parts[e->nparts] || !e->peers[e->nparts]) {
            e->nparts++;
            goto fail;
        }
    }
    return e;
fail:
    s_entry_destroy ((void **) &e);
    return NULL;
}

/* ---------------------------------------------------------------------
 *  Log I/O
 */

/*  Append one record for E and (when SYNC) make it durable; *TICKET (may
 *  be NULL) gets its LSN.                                                */
static int
s_append (part_state_t *self, const s_entry_t *e, bool sync,
          uint64_t *ticket)
{
    size_t need = s_encoded_size (e->gid, e->state, e->nparts, e->parts,
                                  e->peers);
    if (need == 0)
        return TPC_EINVAL;
    if (need > self->bufsize) {
        uint8_t *b = realloc (self->buf, need);
        if (!b)
            return TPC_ENOMEM;
        self->buf = b;
        self->bufsize = need;
    }
    size_t len = 0;
    int rc = part_state_encode (e->gid, e->state, e->at_ms, e->nparts,
                                e->parts, e->peers, self->buf, self->bufsize,
                                &len);
    uint64_t lsn = 0;
    if (!rc)
        rc = tpc_log_append (self->log, PART_STATE_REC_P3, self->buf, len,
                             &lsn);
    if (!rc && sync)
        rc = tpc_log_sync (self->log, lsn);
    if (!rc) {
        self->since_ckpt++;
        if (ticket)
            *ticket = lsn;
    }
    return rc;
}

static bool
s_expired (const part_state_t *self, const s_entry_t *e, uint64_t now)
{
    return s_decided (e->state) && e->at_ms <= now
           && now - e->at_ms >= self->forget_ms;
}

int
part_state_checkpoint (part_state_t *self, uint64_t now)
{
    assert (self);
    int rc = tpc_log_error (self->log);
    if (rc)
        return rc;
    /* forget first, so the checkpoint holds only what is kept */
    zlistx_t *keys = zhashx_keys (self->gids);
    if (!keys)
        return TPC_ENOMEM;
    for (const char *gid = zlistx_first (keys); gid; gid = zlistx_next (keys)) {
        s_entry_t *e = zhashx_lookup (self->gids, gid);
        if (e && s_expired (self, e, now))
            zhashx_delete (self->gids, gid);
    }
    zlistx_destroy (&keys);
    rc = tpc_log_checkpoint_begin (self->log);
    for (s_entry_t *e = zhashx_first (self->gids); e && !rc;
         e = zhashx_next (self->gids))
        rc = s_append (self, e, false, NULL);
    if (!rc)
        rc = tpc_log_checkpoint_end (self->log);     /* syncs */
    if (!rc) {
        self->ckpt_held = self->since_ckpt;
        self->since_ckpt = 0;
    }
    return rc;
}

/*  tpc_log replay: the last record of a gid wins.                       */
static int
s_replay (void *arg, const tpc_log_rec_t *rec, const void *payload,
          size_t len)
{
    part_state_t *self = arg;
    char *gid = NULL;
    char **parts = NULL, **peers = NULL;
    size_t nparts = 0;
    tpc_p3_t state;
    uint64_t at_ms;
    if (rec->type != PART_STATE_REC_P3
        || part_state_decode (payload, len, &gid, &state, &at_ms, &nparts,
                              &parts, &peers) != 0) {
        snprintf (self->replay_err, self->replay_errlen,
                  "3PC state log %s: record LSN %llu (segment %llu offset "
                  "%llu) is not a valid P3 record (type %u)", self->dir,
                  (unsigned long long) rec->lsn,
                  (unsigned long long) rec->segment,
                  (unsigned long long) rec->offset, rec->type);
        return TPC_ELOG_CORRUPT;
    }
    s_entry_t *e = calloc (1, sizeof *e);
    if (!e) {
        free (gid);
        part_state_strv_free (parts, peers, nparts);
        snprintf (self->replay_err, self->replay_errlen, "out of memory");
        return TPC_ENOMEM;
    }
    *e = (s_entry_t) { .gid = gid, .state = state, .at_ms = at_ms,
                       .nparts = nparts, .parts = parts, .peers = peers };
    s_table_set (self, e);
    return 0;
}

/* ---------------------------------------------------------------------
 *  Public
 */

int
part_state_open (const part_state_config_t *cfg, uint64_t now,
                 part_state_t **out, char *errbuf, size_t errlen)
{
    char dummy[8];
    if (!errbuf) {
        errbuf = dummy;
        errlen = sizeof dummy;
    }
    *errbuf = '\0';
    if (!cfg || !cfg->dir || !out) {
        snprintf (errbuf, errlen, "no state directory");
        return TPC_EINVAL;
    }
    *out = NULL;
    int rc = TPC_ENOMEM;
    part_state_t *self = calloc (1, sizeof *self);
    if (!self)
        goto cleanup;
    self->forget_ms = cfg->forget_ms ? cfg->forget_ms
                                     : PART_STATE_FORGET_MS_DEFAULT;
    self->ckpt_min = cfg->ckpt_min ? cfg->ckpt_min : PART_STATE_CKPT_MIN;
    self->dir = strdup (cfg->dir);
    self->gids = zhashx_new ();
    if (!self->dir || !self->gids)
        goto cleanup;
    zhashx_set_destructor (self->gids, s_entry_destroy);
    self->replay_err = errbuf;
    self->replay_errlen = errlen;
    tpc_log_config_t lc = {
        .dir = cfg->dir,
        .segment_bytes = cfg->segment_bytes ? cfg->segment_bytes
                                            : PART_STATE_SEGMENT_BYTES,
        .io = cfg->io, .warn = cfg->warn, .warn_arg = cfg->warn_arg
    };
    char lerr[512] = "";
    rc = tpc_log_open (&lc, s_replay, self, &self->log, lerr, sizeof lerr);
    if (rc) {
        if (*errbuf) {
            /* s_replay said what was wrong */
        }
        else if (rc == TPC_ELOG_CORRUPT)
            snprintf (errbuf, errlen, "3PC state log %s is corrupt: %s",
                      cfg->dir, lerr);
        else
            snprintf (errbuf, errlen, "3PC state log %s: %s", cfg->dir,
                      *lerr ? lerr : tpc_strerror (rc));
        goto cleanup;
    }
    self->replay_err = NULL;
    rc = part_state_checkpoint (self, now);
    if (rc) {
        snprintf (errbuf, errlen, "3PC state log %s: checkpoint at open "
                  "failed: %s", cfg->dir, tpc_strerror (rc));
        goto cleanup;
    }
    *out = self;
    self = NULL;
cleanup:
    if (rc == TPC_ENOMEM && !*errbuf)
        snprintf (errbuf, errlen, "out of memory");
    part_state_destroy (&self);
    return rc;
}

void
part_state_destroy (part_state_t **self_p)
{
    part_state_t *self = *self_p;
    if (!self)
        return;
    tpc_log_destroy (&self->log);
    zhashx_destroy (&self->gids);
    free (self->buf);
    free (self->dir);
    free (self);
    *self_p = NULL;
}

/*  Append GID's STATE, take it as the latest, and (when SYNC) make it
 *  durable; *TICKET (may be NULL) its LSN.                               */
static int
s_put (part_state_t *self, const char *gid, tpc_p3_t state, size_t nparts,
       char *const *parts, char *const *peers, uint64_t now, bool sync,
       uint64_t *ticket)
{
    assert (self);
    int rc = tpc_log_error (self->log);
    if (rc)
        return rc;
    if (s_encoded_size (gid, state, nparts, parts, peers) == 0)
        return TPC_EINVAL;
    /* at_ms is when the gid reached this state: kept across re-puts of
     * the same state, so a decided gid ages from its decision            */
    s_entry_t *old = zhashx_lookup (self->gids, gid);
    uint64_t at = old && old->state == state ? old->at_ms : now;
    s_entry_t *e = s_entry_new (gid, state, at, nparts, parts, peers);
    if (!e)
        return TPC_ENOMEM;
    rc = s_append (self, e, sync, ticket);
    if (rc) {
        s_entry_destroy ((void **) &e);
        return rc;
    }
    s_table_set (self, e);
    if (self->since_ckpt >= self->ckpt_min
        && self->since_ckpt >= self->ckpt_held)
        rc = part_state_checkpoint (self, now);     /* syncs */
    return rc;
}

int
part_state_put (part_state_t *self, const char *gid, tpc_p3_t state,
                size_t nparts, char *const *parts, char *const *peers,
                uint64_t now)
{
    return s_put (self, gid, state, nparts, parts, peers, now, true, NULL);
}

int
part_state_append (part_state_t *self, const char *gid, tpc_p3_t state,
                   size_t nparts, char *const *parts, char *const *peers,
                   uint64_t now, uint64_t *ticket)
{
    uint64_t t = 0;
    int rc = s_put (self, gid, state, nparts, parts, peers, now, false, &t);
    if (ticket)
        *ticket = rc ? 0 : t;
    return rc;
}

int
part_state_sync (part_state_t *self)
{
    assert (self);
    int rc = tpc_log_error (self->log);
    if (rc)
        return rc;
    uint64_t last = tpc_log_last_lsn (self->log);
    if (tpc_log_durable_lsn (self->log) >= last)
        return 0;
    return tpc_log_sync (self->log, last);
}

uint64_t
part_state_durable (part_state_t *self)
{
    assert (self);
    return tpc_log_durable_lsn (self->log);   /* a failed log: frozen */
}

uint64_t
part_state_appended (part_state_t *self)
{
    assert (self);
    return tpc_log_last_lsn (self->log);
}

uint64_t
part_state_sync_count (part_state_t *self)
{
    assert (self);
    return tpc_log_sync_count (self->log);
}

tpc_p3_t
part_state_get (part_state_t *self, const char *gid)
{
    assert (self);
    s_entry_t *e = gid ? zhashx_lookup (self->gids, gid) : NULL;
    return e ? e->state : TPC_P3_UNKNOWN;
}

size_t
part_state_size (part_state_t *self)
{
    assert (self);
    return zhashx_size (self->gids);
}

int
part_state_foreach (part_state_t *self, part_state_fn *fn, void *arg)
{
    assert (self && fn);
    int rc = 0;
    for (s_entry_t *e = zhashx_first (self->gids); e && !rc;
         e = zhashx_next (self->gids))
        rc = fn (arg, e->gid, e->state, e->at_ms, e->nparts, e->parts,
                 e->peers);
    return rc;
}

int
part_state_error (part_state_t *self)
{
    assert (self);
    return tpc_log_error (self->log);
}
