/*  test_fuzz_corpus: the fuzz targets' properties over their corpora.
 *
 *  Runs the checks of tests/fuzz/ (fuzz_target.h) over every file of
 *  the seed corpora (tests/corpus/msg, tests/corpus/log) and over every
 *  input a fuzzer ever crashed on (tests/corpus/regress/msg and
 *  tests/corpus/regress/log): a bug the fuzzer found stays fixed in a
 *  plain `make check`, with or without clang.  Also checks that the log
 *  seeds are what the current log writes (so they keep reaching past the
 *  header) and what each regression input is about.
 *
 *  TPC_FUZZ_WRITE_CORPUS=<dir> writes the log seeds to <dir> (then copy
 *  them to tests/corpus/log/).
 */
#include <dirent.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_target.h"
#include "tpc_error.h"
#include "tpc_log.h"
#include "tpc_msg.h"
#include "tpc_record.h"
#include "tpc_test.h"

#define SEED_SEGMENT_BYTES 512

static const char *
s_srcdir (void)
{
    const char *s = getenv ("srcdir");
    return s && *s ? s : TPC_ABS_TOP_SRCDIR;
}

/*  Whole file at PATH (malloc'd, *SIZE bytes), or NULL.                  */
static uint8_t *
s_slurp (const char *path, size_t *size)
{
    FILE *f = fopen (path, "rb");
    if (!f)
        return NULL;
    uint8_t *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 4096;
            uint8_t *nb = realloc (buf, cap);
            if (!nb) {
                free (buf);
                fclose (f);
                return NULL;
            }
            buf = nb;
        }
        size_t r = fread (buf + n, 1, cap - n, f);
        if (r == 0)
            break;
        n += r;
    }
    fclose (f);
    *size = n;
    return buf;
}

/*  Run FN over every regular file in tests/corpus/SUB (which may be
 *  missing unless REQUIRED: git keeps no empty folder); returns how many
 *  files there were (each failure is a CUnit failure naming the file).   */
static int
s_run_dir (const char *sub, int (*fn) (const uint8_t *, size_t),
           bool required)
{
    char dir[4096];
    snprintf (dir, sizeof dir, "%s/tests/corpus/%s", s_srcdir (), sub);
    DIR *d = opendir (dir);
    if (!d && !required)
        return 0;
    CU_ASSERT_PTR_NOT_NULL_FATAL (d);
    int files = 0;
    struct dirent *e;
    while ((e = readdir (d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[8192];
        snprintf (path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat (path, &st) != 0 || !S_ISREG (st.st_mode))
            continue;
        size_t size = 0;
        uint8_t *data = s_slurp (path, &size);
        CU_ASSERT_PTR_NOT_NULL (data);
        if (!data)
            continue;
        files++;
        int rc = fn (data, size);
        CU_ASSERT_EQUAL (rc, 0);
        if (rc)
            fprintf (stderr, "test_fuzz_corpus: %s breaks a property\n", path);
        free (data);
    }
    closedir (d);
    return files;
}

static void
test_msg_seeds (void)
{
    CU_ASSERT (s_run_dir ("msg", fuzz_msg_one, true) >= TPC_MSG_TYPE_COUNT - 1);
}

static void
test_log_seeds (void)
{
    CU_ASSERT (s_run_dir ("log", fuzz_log_one, true) >= 4);
}

static void
test_msg_regressions (void)
{
    s_run_dir ("regress/msg", fuzz_msg_one, false);
}

static void
test_log_regressions (void)
{
    s_run_dir ("regress/log", fuzz_log_one, false);
}

/*  ------------------------------------------------------------------
 *  The log seeds: small segments (SEED_SEGMENT_BYTES) as the log writes
 *  them, so the fuzzer starts from valid headers, records and payloads.  */

static void
s_append (tpc_log_t *log, const tpc_record_t *rec)
{
    uint8_t buf[1024];
    size_t len = 0;
    CU_ASSERT_EQUAL_FATAL (tpc_record_encode (rec, buf, sizeof buf, &len), 0);
    uint64_t lsn;
    CU_ASSERT_EQUAL_FATAL (tpc_log_append (log, (uint8_t) rec->type, buf, len,
                                           &lsn), 0);
    CU_ASSERT_EQUAL_FATAL (tpc_log_sync (log, lsn), 0);
}

static tpc_record_t
s_rec (tpc_rec_type_t type, const char *gid, int nparts)
{
    tpc_record_t r;
    memset (&r, 0, sizeof r);
    r.type = type;
    snprintf (r.gid, sizeof r.gid, "%s", gid);
    r.nparts = (size_t) nparts;
    for (int i = 0; i < nparts; i++)
        snprintf (r.parts[i], sizeof r.parts[i], "db%d", i + 1);
    return r;
}

static void
s_quiet (void *arg, const char *text)
{
    (void) arg;
    (void) text;
}

static uint8_t *
s_segment_file (const char *dir, uint64_t no, size_t *size)
{
    char path[4200];
    if (snprintf (path, sizeof path, "%s/%020" PRIu64 ".tpclog", dir, no)
        >= (int) sizeof path)
        return NULL;
    return s_slurp (path, size);
}

typedef struct {
    const char *name;
    uint8_t *data;
    size_t size;
} s_seed_t;

/*  Build the seeds into SEEDS[4]: empty, records, checkpoint, torn.      */
static void
s_make_seeds (s_seed_t *seeds)
{
    char *dir = tpc_test_tmpdir ("fuzzseed");
    CU_ASSERT_PTR_NOT_NULL_FATAL (dir);
    char logdir[4200];
    snprintf (logdir, sizeof logdir, "%s/log", dir);
    tpc_log_config_t cfg = { .dir = logdir,
                             .segment_bytes = SEED_SEGMENT_BYTES,
                             .warn = s_quiet };
    tpc_log_t *log = NULL;
    CU_ASSERT_EQUAL_FATAL (tpc_log_open (&cfg, NULL, NULL, &log, NULL, 0), 0);
    seeds[0].name = "empty.tpclog";
    seeds[0].data = s_segment_file (logdir, 1, &seeds[0].size);

    tpc_record_t ep = { .type = TPC_REC_EPOCH, .epoch = 1 };
    s_append (log, &ep);
    tpc_record_t r = s_rec (TPC_REC_COMMIT, "tpc_c1_1_1", 2);
    s_append (log, &r);
    r = s_rec (TPC_REC_END, "tpc_c1_1_1", 0);
    s_append (log, &r);
    r = s_rec (TPC_REC_ABORT, "tpc_c1_1_2", 1);
    s_append (log, &r);
    r = s_rec (TPC_REC_PRECOMMIT, "tpc_c1_1_3", 3);
    s_append (log, &r);
    r = s_rec (TPC_REC_HEURISTIC, "tpc_c1_1_3", 0);
    r.outcome = 2;
    snprintf (r.reason, sizeof r.reason, "operator rolled back");
    s_append (log, &r);
    seeds[1].name = "records.tpclog";
    seeds[1].data = s_segment_file (logdir, 1, &seeds[1].size);

    /* segment 2: what a checkpoint carries over, then its marker */
    CU_ASSERT_EQUAL_FATAL (tpc_log_checkpoint_begin (log), 0);
    s_append (log, &ep);
    r = s_rec (TPC_REC_COMMIT, "tpc_c1_1_4", 2);
    s_append (log, &r);
    CU_ASSERT_EQUAL_FATAL (tpc_log_checkpoint_end (log), 0);
    seeds[2].name = "checkpoint.tpclog";
    seeds[2].data = s_segment_file (logdir, 2, &seeds[2].size);
    tpc_log_destroy (&log);

    /* records, the last one's CRC broken: a torn tail */
    seeds[3].name = "torn.tpclog";
    seeds[3].size = seeds[1].size;
    seeds[3].data = malloc (seeds[1].size);
    CU_ASSERT_PTR_NOT_NULL_FATAL (seeds[3].data);
    CU_ASSERT_PTR_NOT_NULL_FATAL (seeds[1].data);
    memcpy (seeds[3].data, seeds[1].data, seeds[1].size);
    size_t end = seeds[1].size;
    while (end > 0 && seeds[1].data[end - 1] == 0)
        end--;
    CU_ASSERT_FATAL (end > 40);
    seeds[3].data[end - 1] ^= 0x5A;
    tpc_test_rmtree (dir);
    free (dir);
}

/*  Records in the seed file of segment NO: count, and scan's result.     */
typedef struct { int n; int types[16]; } s_count_t;

static int
s_count (void *arg, const tpc_log_rec_t *rec, const void *p, size_t len)
{
    (void) p;
    (void) len;
    s_count_t *c = arg;
    if (c->n < 16)
        c->types[c->n] = rec->type;
    c->n++;
    return 0;
}

static int
s_scan_bytes (const uint8_t *data, size_t size, uint64_t no, s_count_t *c)
{
    char *dir = tpc_test_tmpdir ("fuzzscan");
    char path[4200];
    snprintf (path, sizeof path, "%s/%020" PRIu64 ".tpclog", dir, no);
    FILE *f = fopen (path, "wb");
    CU_ASSERT_PTR_NOT_NULL_FATAL (f);
    fwrite (data, 1, size, f);
    fclose (f);
    memset (c, 0, sizeof *c);
    char err[512];
    int rc = tpc_log_scan (dir, s_count, c, s_quiet, err, sizeof err);
    tpc_test_rmtree (dir);
    free (dir);
    return rc;
}

static void
test_log_seed_files (void)
{
    s_seed_t seeds[4];
    memset (seeds, 0, sizeof seeds);
    s_make_seeds (seeds);
    const char *write_dir = getenv ("TPC_FUZZ_WRITE_CORPUS");
    static const int nrec[4] = { 0, 6, 3, 5 };  /* torn: the 6th cut */
    static const uint64_t segno[4] = { 1, 1, 2, 1 };
    for (int i = 0; i < 4; i++) {
        char path[4200];
        CU_ASSERT_PTR_NOT_NULL_FATAL (seeds[i].data);
        CU_ASSERT_EQUAL (seeds[i].size, SEED_SEGMENT_BYTES);
        if (write_dir && *write_dir) {
            snprintf (path, sizeof path, "%s/%s", write_dir, seeds[i].name);
            FILE *f = fopen (path, "wb");
            CU_ASSERT_PTR_NOT_NULL (f);
            if (f) {
                fwrite (seeds[i].data, 1, seeds[i].size, f);
                fclose (f);
            }
        }
        /* the committed seed is what the log writes today */
        snprintf (path, sizeof path, "%s/tests/corpus/log/%s", s_srcdir (),
                  seeds[i].name);
        size_t size = 0;
        uint8_t *file = s_slurp (path, &size);
        CU_ASSERT_PTR_NOT_NULL (file);
        CU_ASSERT (file && size == seeds[i].size
                   && memcmp (file, seeds[i].data, size) == 0);
        if (!file || size != seeds[i].size || memcmp (file, seeds[i].data, size))
            fprintf (stderr, "test_fuzz_corpus: %s is stale: rerun with "
                     "TPC_FUZZ_WRITE_CORPUS\n", path);
        s_count_t c;
        CU_ASSERT_EQUAL (s_scan_bytes (seeds[i].data, seeds[i].size,
                                       segno[i], &c), 0);
        CU_ASSERT_EQUAL (c.n, nrec[i]);
        free (file);
        free (seeds[i].data);
    }
    /* the checkpoint seed ends with the log's own marker */
    s_count_t c;
    size_t size = 0;
    char path[4200];
    snprintf (path, sizeof path, "%s/tests/corpus/log/checkpoint.tpclog",
              s_srcdir ());
    uint8_t *file = s_slurp (path, &size);
    CU_ASSERT_PTR_NOT_NULL_FATAL (file);
    CU_ASSERT_EQUAL (s_scan_bytes (file, size, 2, &c), 0);
    CU_ASSERT (c.n == 3 && c.types[2] == TPC_LOG_TYPE_CHECKPOINT);
    free (file);
}

static const tpc_test_case_t s_cases[] = {
    { "msg_seeds", test_msg_seeds },
    { "log_seeds", test_log_seeds },
    { "log_seed_files", test_log_seed_files },
    { "msg_regressions", test_msg_regressions },
    { "log_regressions", test_log_regressions },
    { NULL, NULL }
};

int
main (void)
{
    const tpc_test_suite_t suites[] = {
        { "fuzz_corpus", NULL, NULL, s_cases },
        { NULL, NULL, NULL, NULL }
    };
    return tpc_test_main ("test_fuzz_corpus", suites);
}
