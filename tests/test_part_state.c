/*  test_part_state: the agent's 3PC state log (participant/part_state).
 *
 *  Round trip through a real directory, the latest state per gid after a
 *  reopen, forgetting decided gids at the open checkpoint, compaction while
 *  running, a torn tail cut off, corruption (a bad record before a good
 *  one; a checksummed record that is no P3 record) refused, a second
 *  process refused by the lock, and a failed fdatasync (through the tpc_io
 *  seam) failing the put, every later put, and leaving nothing recorded.
 *  Group commit: many appends and one fdatasync, all durable after a
 *  reopen; a torn tail after an unsynced batch loses only that batch; a
 *  failed batch sync fails every later call and reports nothing durable.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "part_state.h"
#include "tpc_error.h"
#include "tpc_io.h"
#include "tpc_log.h"
#include "tpc_test.h"

#define GID_A "tpc_c1_1_1"
#define GID_B "tpc_c1_1_2"
#define GID_C "tpc_c1_1_3"
#define T0 1700000000000ull        /* a wall clock in ms */

static char *const s_parts[] = { "db1", "db2", "db3" };
static char *const s_peers[] = { "tcp://127.0.0.1:7501", "",
                                 "tcp://127.0.0.1:7503" };

/* ------------------------------------------------------------ helpers */

static int s_warnings;

static void
s_warn (void *arg, const char *text)
{
    (void) arg;
    (void) text;
    s_warnings++;
}

static part_state_t *
s_open (const char *dir, uint64_t now, const tpc_io_t *io, int *rc_out,
        char *err, size_t errlen)
{
    part_state_config_t cfg = { .dir = dir, .forget_ms = 60000,
                                .segment_bytes = 64 * 1024, .io = io,
                                .warn = s_warn };
    part_state_t *st = NULL;
    char dummy[512];
    if (!err) {
        err = dummy;
        errlen = sizeof dummy;
    }
    int rc = part_state_open (&cfg, now, &st, err, errlen);
    if (rc_out)
        *rc_out = rc;
    return st;
}

/*  What foreach saw of one gid.                                          */
typedef struct {
    const char *gid;
    int seen;
    tpc_p3_t state;
    uint64_t at_ms;
    size_t nparts;
    char parts[8][64];
    char peers[8][64];
} s_seen_t;

static int
s_seen_cb (void *arg, const char *gid, tpc_p3_t state, uint64_t at_ms,
           size_t nparts, char *const *parts, char *const *peers)
{
    s_seen_t *s = arg;
    if (strcmp (gid, s->gid))
        return 0;
    s->seen++;
    s->state = state;
    s->at_ms = at_ms;
    s->nparts = nparts;
    for (size_t i = 0; i < nparts && i < 8; i++) {
        snprintf (s->parts[i], sizeof s->parts[i], "%s", parts[i]);
        snprintf (s->peers[i], sizeof s->peers[i], "%s", peers[i]);
    }
    return 0;
}

static s_seen_t
s_find (part_state_t *st, const char *gid)
{
    s_seen_t s = { .gid = gid };
    part_state_foreach (st, s_seen_cb, &s);
    return s;
}

/*  The file of segment NO in DIR.                                        */
static void
s_segment_path (char *buf, size_t size, const char *dir, uint64_t no)
{
    snprintf (buf, size, "%s/%020llu.tpclog", dir, (unsigned long long) no);
}

/*  The position of the last owner record of DIR (read-only scan).        */
typedef struct { uint64_t segment, offset, lsn; size_t len; int n; } s_last_t;

static int
s_last_cb (void *arg, const tpc_log_rec_t *rec, const void *p, size_t len)
{
    (void) p;
    s_last_t *l = arg;
    if (rec->type >= TPC_LOG_TYPE_INTERNAL)
        return 0;
    l->segment = rec->segment;
    l->offset = rec->offset;
    l->lsn = rec->lsn;
    l->len = len;
    l->n++;
    return 0;
}

static s_last_t
s_last (const char *dir)
{
    s_last_t l = { 0 };
    char err[256];
    tpc_log_scan (dir, s_last_cb, &l, NULL, err, sizeof err);
    return l;
}

/*  Flip one byte of FILE at OFF.                                         */
static int
s_flip (const char *file, uint64_t off)
{
    int fd = open (file, O_RDWR);
    if (fd < 0)
        return -1;
    unsigned char b;
    int rc = -1;
    if (pread (fd, &b, 1, (off_t) off) == 1) {
        b ^= 0x5A;
        if (pwrite (fd, &b, 1, (off_t) off) == 1 && fsync (fd) == 0)
            rc = 0;
    }
    close (fd);
    return rc;
}

/* ---------------------------------------------------------------- cases */

static void
test_codec (void)
{
    uint8_t buf[1024];
    size_t len = 0;
    CU_ASSERT_EQUAL_FATAL (part_state_encode (GID_A, TPC_P3_PRECOMMITTED, T0,
                                              3, s_parts, s_peers, buf,
                                              sizeof buf, &len), 0);
    /* version, gid, state, at, nparts, 3 x (name, endpoint) */
    CU_ASSERT_EQUAL (len, 1 + 2 + strlen (GID_A) + 1 + 8 + 2
                          + (2 + 3 + 2 + 20) + (2 + 3 + 2 + 0)
                          + (2 + 3 + 2 + 20));
    CU_ASSERT_EQUAL (buf[0], 1);
    CU_ASSERT_EQUAL (buf[1], strlen (GID_A));
    CU_ASSERT_EQUAL (buf[3 + strlen (GID_A)], TPC_P3_PRECOMMITTED);
    char *gid = NULL, **parts = NULL, **peers = NULL;
    tpc_p3_t state;
    uint64_t at;
    size_t n;
    CU_ASSERT_EQUAL_FATAL (part_state_decode (buf, len, &gid, &state, &at, &n,
                                              &parts, &peers), 0);
    CU_ASSERT_STRING_EQUAL (gid, GID_A);
    CU_ASSERT_EQUAL (state, TPC_P3_PRECOMMITTED);
    CU_ASSERT_EQUAL (at, T0);
    CU_ASSERT_EQUAL_FATAL (n, 3);
    for (size_t i = 0; i < 3; i++) {
        CU_ASSERT_STRING_EQUAL (parts[i], s_parts[i]);
        CU_ASSERT_STRING_EQUAL (peers[i], s_peers[i]);
    }
    free (gid);
    part_state_strv_free (parts, peers, n);

    /* every shorter prefix, a trailing byte, bad version/state/gid: corrupt */
    for (size_t cut = 0; cut < len; cut++)
        CU_ASSERT_EQUAL (part_state_decode (buf, cut, &gid, &state, &at, &n,
                                            &parts, &peers), TPC_ELOG_CORRUPT);
    uint8_t more[1100];
    memcpy (more, buf, len);
    more[len] = 0;
    CU_ASSERT_EQUAL (part_state_decode (more, len + 1, &gid, &state, &at, &n,
                                        &parts, &peers), TPC_ELOG_CORRUPT);
    memcpy (more, buf, len);
    more[0] = 2;
    CU_ASSERT_EQUAL (part_state_decode (more, len, &gid, &state, &at, &n,
                                        &parts, &peers), TPC_ELOG_CORRUPT);
    memcpy (more, buf, len);
    more[3 + strlen (GID_A)] = 0;           /* UNKNOWN is never written */
    CU_ASSERT_EQUAL (part_state_decode (more, len, &gid, &state, &at, &n,
                                        &parts, &peers), TPC_ELOG_CORRUPT);
    more[3 + strlen (GID_A)] = 5;
    CU_ASSERT_EQUAL (part_state_decode (more, len, &gid, &state, &at, &n,
                                        &parts, &peers), TPC_ELOG_CORRUPT);
    memcpy (more, buf, len);
    more[3] = 'X';                          /* "Xpc_...": no gid */
    CU_ASSERT_EQUAL (part_state_decode (more, len, &gid, &state, &at, &n,
                                        &parts, &peers), TPC_ELOG_CORRUPT);

    /* the encoder refuses what the decoder would */
    char *empty[] = { "" };
    char longname[300];
    memset (longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    char *toolong[] = { longname };
    CU_ASSERT_EQUAL (part_state_encode ("nope", TPC_P3_UNCERTAIN, T0, 0, NULL,
                                        NULL, buf, sizeof buf, &len), TPC_EINVAL);
    CU_ASSERT_EQUAL (part_state_encode (GID_A, TPC_P3_UNKNOWN, T0, 0, NULL,
                                        NULL, buf, sizeof buf, &len), TPC_EINVAL);
    CU_ASSERT_EQUAL (part_state_encode (GID_A, TPC_P3_UNCERTAIN, T0, 1, empty,
                                        NULL, buf, sizeof buf, &len), TPC_EINVAL);
    CU_ASSERT_EQUAL (part_state_encode (GID_A, TPC_P3_UNCERTAIN, T0, 1, toolong,
                                        NULL, buf, sizeof buf, &len), TPC_EINVAL);
    CU_ASSERT_EQUAL (part_state_encode (GID_A, TPC_P3_UNCERTAIN, T0, 3, s_parts,
                                        s_peers, buf, 20, &len), TPC_EINVAL);
    /* no peers at all: every endpoint "" */
    CU_ASSERT_EQUAL (part_state_encode (GID_A, TPC_P3_UNCERTAIN, T0, 3, s_parts,
                                        NULL, buf, sizeof buf, &len), 0);
    CU_ASSERT_EQUAL (part_state_decode (buf, len, &gid, &state, &at, &n,
                                        &parts, &peers), 0);
    CU_ASSERT_STRING_EQUAL (peers[2], "");
    free (gid);
    part_state_strv_free (parts, peers, n);
}

static void
test_round_trip_latest_state (void)
{
    char *dir = tpc_test_tmpdir ("pstate");
    int rc;
    char err[512];
    part_state_t *st = s_open (dir, T0, NULL, &rc, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL (st);
    CU_ASSERT_EQUAL (part_state_size (st), 0);
    CU_ASSERT_EQUAL (part_state_get (st, GID_A), TPC_P3_UNKNOWN);
    CU_ASSERT_EQUAL (part_state_put (st, GID_A, TPC_P3_UNCERTAIN, 3, s_parts,
                                     s_peers, T0), 0);
    CU_ASSERT_EQUAL (part_state_put (st, GID_B, TPC_P3_UNCERTAIN, 2, s_parts,
                                     s_peers, T0 + 1), 0);
    CU_ASSERT_EQUAL (part_state_put (st, GID_A, TPC_P3_PRECOMMITTED, 3,
                                     s_parts, s_peers, T0 + 2), 0);
    CU_ASSERT_EQUAL (part_state_put (st, GID_C, TPC_P3_UNCERTAIN, 3, s_parts,
                                     s_peers, T0 + 3), 0);
    CU_ASSERT_EQUAL (part_state_put (st, GID_C, TPC_P3_ABORTED, 3, s_parts,
                                     s_peers, T0 + 4), 0);
    /* a re-put of the same state keeps the time it was reached */
    CU_ASSERT_EQUAL (part_state_put (st, GID_C, TPC_P3_ABORTED, 3, s_parts,
                                     s_peers, T0 + 50), 0);
    CU_ASSERT_EQUAL (part_state_get (st, GID_A), TPC_P3_PRECOMMITTED);
    CU_ASSERT_EQUAL (part_state_size (st), 3);
    /* refused arguments: nothing written, the log stays healthy */
    CU_ASSERT_EQUAL (part_state_put (st, "bad gid", TPC_P3_UNCERTAIN, 0, NULL,
                                     NULL, T0), TPC_EINVAL);
    CU_ASSERT_EQUAL (part_state_put (st, GID_B, TPC_P3_UNKNOWN, 0, NULL, NULL,
                                     T0), TPC_EINVAL);
    CU_ASSERT_EQUAL (part_state_error (st), 0);
    CU_ASSERT_EQUAL (part_state_get (st, GID_B), TPC_P3_UNCERTAIN);
    part_state_destroy (&st);
    part_state_destroy (&st);           /* idempotent */
    CU_ASSERT_PTR_NULL (st);
    /* 6 P3 records appended */
    CU_ASSERT_EQUAL (s_last (dir).n, 6);

    st = s_open (dir, T0 + 1000, NULL, &rc, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL (st);
    CU_ASSERT_EQUAL (part_state_size (st), 3);
    s_seen_t a = s_find (st, GID_A), b = s_find (st, GID_B),
             c = s_find (st, GID_C);
    CU_ASSERT_EQUAL (a.seen, 1);
    CU_ASSERT_EQUAL (a.state, TPC_P3_PRECOMMITTED);
    CU_ASSERT_EQUAL (a.at_ms, T0 + 2);
    CU_ASSERT_EQUAL_FATAL (a.nparts, 3);
    CU_ASSERT_STRING_EQUAL (a.parts[2], "db3");
    CU_ASSERT_STRING_EQUAL (a.peers[0], "tcp://127.0.0.1:7501");
    CU_ASSERT_STRING_EQUAL (a.peers[1], "");
    CU_ASSERT_EQUAL (b.state, TPC_P3_UNCERTAIN);
    CU_ASSERT_EQUAL (b.nparts, 2);
    CU_ASSERT_EQUAL (c.state, TPC_P3_ABORTED);
    CU_ASSERT_EQUAL (c.at_ms, T0 + 4);
    part_state_destroy (&st);
    /* the open's checkpoint compacted the log to one record per gid */
    CU_ASSERT_EQUAL (s_last (dir).n, 3);
    tpc_test_rmtree (dir);
    free (dir);
}

static void
test_forget_decided_at_open (void)
{
    char *dir = tpc_test_tmpdir ("pstate");
    part_state_t *st = s_open (dir, T0, NULL, NULL, NULL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL (st);
    CU_ASSERT_EQUAL (part_state_put (st, GID_A, TPC_P3_COMMITTED, 3, s_parts,
                                     s_peers, T0), 0);
    CU_ASSERT_EQUAL (part_state_put (st, GID_B, TPC_P3_UNCERTAIN, 3, s_parts,
                                     s_peers, T0), 0);
    CU_ASSERT_EQUAL (part_state_put (st, GID_C, TPC_P3_ABORTED, 3, s_parts,
                                     s_peers, T0 + 30000), 0);
    part_state_destroy (&st);
    /* forget_ms = 60000: at T0 + 60000 GID_A is forgotten, GID_C (decided
     * 30 s later) is kept, the undecided GID_B is kept however old       */
    st = s_open (dir, T0 + 60000, NULL, NULL, NULL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL (st);
    CU_ASSERT_EQUAL (part_state_get (st, GID_A), TPC_P3_UNKNOWN);
    CU_ASSERT_EQUAL (part_state_get (st, GID_B), TPC_P3_UNCERTAIN);
    CU_ASSERT_EQUAL (part_state_get (st, GID_C), TPC_P3_ABORTED);
    part_state_destroy (&st);
    st = s_open (dir, T0 + 10000000, NULL, NULL, NULL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL (st);
    CU_ASSERT_EQUAL (part_state_size (st), 1);
    CU_ASSERT_EQUAL (part_state_get (st, GID_B), TPC_P3_UNCERTAIN);
    part_state_destroy (&st);
    CU_ASSERT_EQUAL (s_last (dir).n, 1);
    tpc_test_rmtree (dir);
    free (dir);
}

static void
test_compaction_while_running (void)
{
    char *dir = tpc_test_tmpdir ("pstate");
    part_state_config_t cfg = { .dir = dir, .forget_ms = 1000,
                                .segment_bytes = 64 * 1024, .ckpt_min = 50,
                                .warn = s_warn };
    part_state_t *st = NULL;
    char err[512];
    CU_ASSERT_EQUAL_FATAL (part_state_open (&cfg, T0, &st, err, sizeof err), 0);
    /* 200 gids through uncertain and committed, a second apart: the old
     * decided ones fall out at the checkpoints; one stays undecided     */
    CU_ASSERT_EQUAL (part_state_put (st, GID_A, TPC_P3_UNCERTAIN, 3, s_parts,
                                     s_peers, T0), 0);
    for (int i = 0; i < 200; i++) {
        char gid[64];
        snprintf (gid, sizeof gid, "tpc_c2_1_%d", i + 1);
        uint64_t now = T0 + (uint64_t) i * 100;
        CU_ASSERT_EQUAL (part_state_put (st, gid, TPC_P3_UNCERTAIN, 3, s_parts,
                                         s_peers, now), 0);
        CU_ASSERT_EQUAL (part_state_put (st, gid, TPC_P3_COMMITTED, 3, s_parts,
                                         s_peers, now), 0);
    }
    CU_ASSERT (part_state_size (st) < 100);
    CU_ASSERT_EQUAL (part_state_get (st, GID_A), TPC_P3_UNCERTAIN);
    CU_ASSERT_EQUAL (part_state_get (st, "tpc_c2_1_200"), TPC_P3_COMMITTED);
    part_state_destroy (&st);
    CU_ASSERT (s_last (dir).n < 150);   /* not 401 */
    CU_ASSERT_EQUAL_FATAL (part_state_open (&cfg, T0 + 19950, &st, err,
                                            sizeof err), 0);
    CU_ASSERT_EQUAL (part_state_get (st, GID_A), TPC_P3_UNCERTAIN);
    CU_ASSERT_EQUAL (part_state_get (st, "tpc_c2_1_200"), TPC_P3_COMMITTED);
    CU_ASSERT_EQUAL (part_state_get (st, "tpc_c2_1_1"), TPC_P3_UNKNOWN);
    part_state_destroy (&st);
    tpc_test_rmtree (dir);
    free (dir);
}

static void
test_torn_tail (void)
{
    char *dir = tpc_test_tmpdir ("pstate");
    part_state_t *st = s_open (dir, T0, NULL, NULL, NULL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL (st);
    CU_ASSERT_EQUAL (part_state_put (st, GID_A, TPC_P3_UNCERTAIN, 3, s_parts,
                                     s_peers, T0), 0);
    CU_ASSERT_EQUAL (part_state_put (st, GID_A, TPC_P3_PRECOMMITTED, 3,
                                     s_parts, s_peers, T0), 0);
    part_state_destroy (&st);
    /* the last record (PRECOMMITTED) loses its checksum: a torn write */
    s_last_t l = s_last (dir);
    CU_ASSERT_EQUAL_FATAL (l.n, 2);
    char seg[600];
    s_segment_path (seg, sizeof seg, dir, l.segment);
    CU_ASSERT_EQUAL_FATAL (s_flip (seg, l.offset + 16 + l.len), 0);
    int before = s_warnings, rc;
    char err[512];
    st = s_open (dir, T0, NULL, &rc, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL (st);
    CU_ASSERT (s_warnings > before);    /* cut off, and said so */
    CU_ASSERT_EQUAL (part_state_get (st, GID_A), TPC_P3_UNCERTAIN);
    /* the log goes on from there */
    CU_ASSERT_EQUAL (part_state_put (st, GID_A, TPC_P3_ABORTED, 3, s_parts,
                                     s_peers, T0), 0);
    part_state_destroy (&st);
    st = s_open (dir, T0, NULL, &rc, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL (st);
    CU_ASSERT_EQUAL (part_state_get (st, GID_A), TPC_P3_ABORTED);
    part_state_destroy (&st);
    tpc_test_rmtree (dir);
    free (dir);
}

static void
test_corruption_refused (void)
{
    char *dir = tpc_test_tmpdir ("pstate");
    part_state_t *st = s_open (dir, T0, NULL, NULL, NULL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL (st);
    CU_ASSERT_EQUAL (part_state_put (st, GID_A, TPC_P3_UNCERTAIN, 3, s_parts,
                                     s_peers, T0), 0);
    s_last_t first = s_last (dir);
    CU_ASSERT_EQUAL (part_state_put (st, GID_A, TPC_P3_PRECOMMITTED, 3,
                                     s_parts, s_peers, T0), 0);
    CU_ASSERT_EQUAL (part_state_put (st, GID_B, TPC_P3_UNCERTAIN, 3, s_parts,
                                     s_peers, T0), 0);
    part_state_destroy (&st);
    /* a byte of the FIRST record's payload flips: good records follow */
    char seg[600];
    s_segment_path (seg, sizeof seg, dir, first.segment);
    CU_ASSERT_EQUAL_FATAL (s_flip (seg, first.offset + 16 + 5), 0);
    int rc = 0;
    char err[512] = "";
    st = s_open (dir, T0, NULL, &rc, err, sizeof err);
    CU_ASSERT_PTR_NULL (st);
    CU_ASSERT_EQUAL (rc, TPC_ELOG_CORRUPT);
    CU_ASSERT (strstr (err, dir) != NULL);
    CU_ASSERT (strstr (err, "corrupt") != NULL);
    /* refused again, nothing was truncated */
    st = s_open (dir, T0, NULL, &rc, err, sizeof err);
    CU_ASSERT_PTR_NULL (st);
    CU_ASSERT_EQUAL (rc, TPC_ELOG_CORRUPT);
    part_state_destroy (&st);
    tpc_test_rmtree (dir);
    free (dir);

    /* a checksummed record that is no P3 record: refused as well */
    dir = tpc_test_tmpdir ("pstate");
    tpc_log_config_t lc = { .dir = dir, .segment_bytes = 64 * 1024 };
    tpc_log_t *log = NULL;
    CU_ASSERT_EQUAL_FATAL (tpc_log_open (&lc, NULL, NULL, &log, err, sizeof err), 0);
    uint64_t lsn;
    CU_ASSERT_EQUAL (tpc_log_append (log, PART_STATE_REC_P3, "\x01\x02", 2, &lsn), 0);
    CU_ASSERT_EQUAL (tpc_log_sync (log, lsn), 0);
    tpc_log_destroy (&log);
    st = s_open (dir, T0, NULL, &rc, err, sizeof err);
    CU_ASSERT_PTR_NULL (st);
    CU_ASSERT_EQUAL (rc, TPC_ELOG_CORRUPT);
    CU_ASSERT (strstr (err, "not a valid P3 record") != NULL);
    tpc_test_rmtree (dir);
    free (dir);
}

static void
test_locked (void)
{
    char *dir = tpc_test_tmpdir ("pstate");
    part_state_t *st = s_open (dir, T0, NULL, NULL, NULL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL (st);
    int rc = 0;
    char err[512];
    part_state_t *two = s_open (dir, T0, NULL, &rc, err, sizeof err);
    CU_ASSERT_PTR_NULL (two);
    CU_ASSERT_EQUAL (rc, TPC_ELOG_LOCKED);
    CU_ASSERT (strstr (err, dir) != NULL);
    part_state_destroy (&st);
    tpc_test_rmtree (dir);
    free (dir);
}

static void
test_fsync_failure (void)
{
    char *dir = tpc_test_tmpdir ("pstate");
    tpc_io_failsync_t f;        /* a faulty tpc_io (tpc_io.h) */
    tpc_io_failsync_init (&f, NULL);
    part_state_t *st = s_open (dir, T0, &f.io, NULL, NULL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL (st);
    CU_ASSERT_EQUAL (part_state_put (st, GID_A, TPC_P3_UNCERTAIN, 3, s_parts,
                                     s_peers, T0), 0);
    /* the disk fails: the PRECOMMITTED record is not durable, the put
     * says so, and the state is not taken (nothing may be acknowledged) */
    tpc_io_failsync_arm (&f, 1, false);     /* every fdatasync fails */
    uint64_t syncs = f.syncs;
    int rc = part_state_put (st, GID_A, TPC_P3_PRECOMMITTED, 3, s_parts,
                             s_peers, T0);
    CU_ASSERT (rc < 0 && rc != TPC_EINVAL);
    CU_ASSERT (f.syncs > syncs);
    CU_ASSERT_EQUAL (part_state_get (st, GID_A), TPC_P3_UNCERTAIN);
    CU_ASSERT_NOT_EQUAL (part_state_error (st), 0);
    /* never retried: the disk is back, the log stays failed */
    tpc_io_failsync_arm (&f, 0, false);
    syncs = f.syncs;
    rc = part_state_put (st, GID_B, TPC_P3_UNCERTAIN, 3, s_parts, s_peers, T0);
    CU_ASSERT (rc < 0);
    CU_ASSERT_EQUAL (f.syncs, syncs);
    CU_ASSERT_EQUAL (part_state_get (st, GID_B), TPC_P3_UNKNOWN);
    CU_ASSERT_NOT_EQUAL (part_state_checkpoint (st, T0), 0);
    part_state_destroy (&st);
    /* a restart recovers what was durable */
    st = s_open (dir, T0, NULL, &rc, NULL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL (st);
    CU_ASSERT_EQUAL (part_state_get (st, GID_B), TPC_P3_UNKNOWN);
    tpc_p3_t a = part_state_get (st, GID_A);
    CU_ASSERT (a == TPC_P3_UNCERTAIN || a == TPC_P3_PRECOMMITTED);
    part_state_destroy (&st);

    /* a failing fdatasync at open (the checkpoint): open fails, says so */
    tpc_io_failsync_arm (&f, 1, false);     /* every fdatasync fails */
    char err[512] = "";
    st = s_open (dir, T0, &f.io, &rc, err, sizeof err);
    CU_ASSERT_PTR_NULL (st);
    CU_ASSERT (rc < 0);
    CU_ASSERT (strstr (err, dir) != NULL);
    tpc_test_rmtree (dir);
    free (dir);
}

/*  Group commit: NGIDS gids appended (UNCERTAIN, then PRECOMMITTED) with
 *  GID prefix PFX, their tickets rising; no fdatasync among them.        */
static uint64_t
s_append_batch (part_state_t *st, const char *pfx, int ngids, tpc_p3_t state,
                uint64_t *first)
{
    uint64_t last = 0;
    for (int i = 0; i < ngids; i++) {
        char gid[64];
        snprintf (gid, sizeof gid, "%s%d", pfx, i + 1);
        uint64_t t = 0;
        CU_ASSERT_EQUAL (part_state_append (st, gid, state, 3, s_parts,
                                            s_peers, T0, &t), 0);
        CU_ASSERT (t > last);
        if (i == 0 && first)
            *first = t;
        last = t;
        CU_ASSERT_EQUAL (part_state_get (st, gid), state);
    }
    return last;
}

static void
test_group_commit (void)
{
    char *dir = tpc_test_tmpdir ("pstate");
    tpc_io_failsync_t f;        /* counts the fdatasyncs */
    tpc_io_failsync_init (&f, NULL);
    part_state_t *st = s_open (dir, T0, &f.io, NULL, NULL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL (st);
    uint64_t syncs = f.syncs, count = part_state_sync_count (st);
    CU_ASSERT_EQUAL (part_state_sync (st), 0);      /* nothing owed */
    CU_ASSERT_EQUAL (f.syncs, syncs);
    /* 200 records of 100 gids: appended, none durable, no fdatasync */
    s_append_batch (st, "tpc_c3_1_", 100, TPC_P3_UNCERTAIN, NULL);
    uint64_t last = s_append_batch (st, "tpc_c3_1_", 100,
                                    TPC_P3_PRECOMMITTED, NULL);
    CU_ASSERT_EQUAL (f.syncs, syncs);
    CU_ASSERT (part_state_durable (st) < last);
    CU_ASSERT_EQUAL (part_state_appended (st), last);
    /* one sync makes them all durable */
    CU_ASSERT_EQUAL (part_state_sync (st), 0);
    CU_ASSERT_EQUAL (f.syncs, syncs + 1);
    CU_ASSERT_EQUAL (part_state_sync_count (st), count + 1);
    CU_ASSERT (part_state_durable (st) >= last);
    CU_ASSERT_EQUAL (part_state_sync (st), 0);      /* covered: no sync */
    CU_ASSERT_EQUAL (f.syncs, syncs + 1);
    part_state_destroy (&st);
    /* all durable after a reopen */
    st = s_open (dir, T0, NULL, NULL, NULL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL (st);
    CU_ASSERT_EQUAL (part_state_size (st), 100);
    int pre = 0;
    for (int i = 0; i < 100; i++) {
        char gid[64];
        snprintf (gid, sizeof gid, "tpc_c3_1_%d", i + 1);
        pre += part_state_get (st, gid) == TPC_P3_PRECOMMITTED;
    }
    CU_ASSERT_EQUAL (pre, 100);
    part_state_destroy (&st);
    tpc_test_rmtree (dir);
    free (dir);
}

/*  Where the record of LSN WANT is (read-only scan).                     */
typedef struct { uint64_t want, segment, offset; int found; } s_at_t;

static int
s_at_cb (void *arg, const tpc_log_rec_t *rec, const void *p, size_t len)
{
    (void) p;
    (void) len;
    s_at_t *a = arg;
    if (rec->lsn == a->want) {
        a->segment = rec->segment;
        a->offset = rec->offset;
        a->found++;
    }
    return 0;
}

/*  Zero FILE from OFF to its end (what a crash leaves of writes the
 *  kernel never made durable, in a zero-filled segment).                 */
static int
s_zero_from (const char *file, uint64_t off)
{
    int fd = open (file, O_RDWR);
    if (fd < 0)
        return -1;
    off_t end = lseek (fd, 0, SEEK_END);
    char zeros[4096] = { 0 };
    int rc = 0;
    for (off_t at = (off_t) off; at < end && rc == 0;) {
        size_t n = (size_t) (end - at) < sizeof zeros ? (size_t) (end - at)
                                                      : sizeof zeros;
        if (pwrite (fd, zeros, n, at) != (ssize_t) n)
            rc = -1;
        at += (off_t) n;
    }
    if (rc == 0 && fsync (fd) != 0)
        rc = -1;
    close (fd);
    return rc;
}

static void
test_torn_unsynced_batch (void)
{
    char *dir = tpc_test_tmpdir ("pstate");
    part_state_t *st = s_open (dir, T0, NULL, NULL, NULL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL (st);
    /* batch 1 durable; batch 2 (new gids, and batch 1's pre-commits)
     * only appended when the machine dies                               */
    s_append_batch (st, "tpc_c4_1_", 20, TPC_P3_UNCERTAIN, NULL);
    CU_ASSERT_EQUAL (part_state_sync (st), 0);
    uint64_t first = 0;
    s_append_batch (st, "tpc_c4_2_", 20, TPC_P3_UNCERTAIN, &first);
    s_append_batch (st, "tpc_c4_1_", 20, TPC_P3_PRECOMMITTED, NULL);
    CU_ASSERT (part_state_durable (st) < first);
    part_state_destroy (&st);
    /* the crash: batch 2 never reached the disk, its first record only
     * half (a torn write)                                               */
    s_at_t at = { .want = first };
    char err[512];
    tpc_log_scan (dir, s_at_cb, &at, NULL, err, sizeof err);
    CU_ASSERT_EQUAL_FATAL (at.found, 1);
    char seg[600];
    s_segment_path (seg, sizeof seg, dir, at.segment);
    CU_ASSERT_EQUAL_FATAL (s_zero_from (seg, at.offset + 8), 0);
    int before = s_warnings, rc;
    st = s_open (dir, T0, NULL, &rc, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL (st);
    CU_ASSERT (s_warnings > before);    /* cut off, and said so */
    /* only the unsynced records are lost */
    CU_ASSERT_EQUAL (part_state_size (st), 20);
    int unc = 0;
    for (int i = 0; i < 20; i++) {
        char gid[64];
        snprintf (gid, sizeof gid, "tpc_c4_1_%d", i + 1);
        unc += part_state_get (st, gid) == TPC_P3_UNCERTAIN;
        snprintf (gid, sizeof gid, "tpc_c4_2_%d", i + 1);
        CU_ASSERT_EQUAL (part_state_get (st, gid), TPC_P3_UNKNOWN);
    }
    CU_ASSERT_EQUAL (unc, 20);
    part_state_destroy (&st);
    tpc_test_rmtree (dir);
    free (dir);
}

static void
test_group_commit_sync_fails (void)
{
    char *dir = tpc_test_tmpdir ("pstate");
    tpc_io_failsync_t f;
    tpc_io_failsync_init (&f, NULL);
    part_state_t *st = s_open (dir, T0, &f.io, NULL, NULL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL (st);
    CU_ASSERT_EQUAL (part_state_append (st, GID_A, TPC_P3_UNCERTAIN, 3,
                                        s_parts, s_peers, T0, NULL), 0);
    CU_ASSERT_EQUAL (part_state_sync (st), 0);
    uint64_t durable = part_state_durable (st), tb = 0, tc = 0;
    /* a batch of two; its fdatasync fails */
    CU_ASSERT_EQUAL (part_state_append (st, GID_B, TPC_P3_UNCERTAIN, 3,
                                        s_parts, s_peers, T0, &tb), 0);
    CU_ASSERT_EQUAL (part_state_append (st, GID_A, TPC_P3_PRECOMMITTED, 3,
                                        s_parts, s_peers, T0, &tc), 0);
    tpc_io_failsync_arm (&f, 1, false);
    uint64_t syncs = f.syncs;
    int rc = part_state_sync (st);
    CU_ASSERT (rc < 0 && rc != TPC_EINVAL);
    CU_ASSERT_EQUAL (f.syncs, syncs + 1);
    CU_ASSERT_NOT_EQUAL (part_state_error (st), 0);
    /* nothing of the batch is reported durable, now or later */
    CU_ASSERT_EQUAL (part_state_durable (st), durable);
    CU_ASSERT (part_state_durable (st) < tb && tb < tc);
    /* the disk is back: the log stays failed, every later call fails
     * and syncs nothing                                                 */
    tpc_io_failsync_arm (&f, 0, false);
    syncs = f.syncs;
    uint64_t t = 99;
    CU_ASSERT (part_state_append (st, GID_C, TPC_P3_UNCERTAIN, 3, s_parts,
                                  s_peers, T0, &t) < 0);
    CU_ASSERT_EQUAL (t, 0);
    CU_ASSERT_EQUAL (part_state_get (st, GID_C), TPC_P3_UNKNOWN);
    CU_ASSERT (part_state_put (st, GID_C, TPC_P3_UNCERTAIN, 3, s_parts,
                               s_peers, T0) < 0);
    CU_ASSERT (part_state_sync (st) < 0);
    CU_ASSERT_EQUAL (f.syncs, syncs);
    CU_ASSERT_EQUAL (part_state_durable (st), durable);
    part_state_destroy (&st);
    /* a restart recovers what was durable (A at least UNCERTAIN) */
    st = s_open (dir, T0, NULL, &rc, NULL, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL (st);
    tpc_p3_t a = part_state_get (st, GID_A);
    CU_ASSERT (a == TPC_P3_UNCERTAIN || a == TPC_P3_PRECOMMITTED);
    CU_ASSERT_EQUAL (part_state_get (st, GID_C), TPC_P3_UNKNOWN);
    part_state_destroy (&st);
    tpc_test_rmtree (dir);
    free (dir);
}

static const tpc_test_case_t s_cases[] = {
    { "codec", test_codec },
    { "round_trip_latest_state", test_round_trip_latest_state },
    { "forget_decided_at_open", test_forget_decided_at_open },
    { "compaction_while_running", test_compaction_while_running },
    { "torn_tail", test_torn_tail },
    { "corruption_refused", test_corruption_refused },
    { "locked", test_locked },
    { "fsync_failure", test_fsync_failure },
    { "group_commit", test_group_commit },
    { "torn_unsynced_batch", test_torn_unsynced_batch },
    { "group_commit_sync_fails", test_group_commit_sync_fails },
    { NULL, NULL }
};

int
main (void)
{
    const tpc_test_suite_t suites[] = {
        { "part_state", NULL, NULL, s_cases },
        { NULL, NULL, NULL, NULL }
    };
    return tpc_test_main ("test_part_state", suites);
}
