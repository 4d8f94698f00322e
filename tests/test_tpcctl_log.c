/*  test_tpcctl_log: `tpcctl log dump|verify` on real logs -- decoded
 *  output (text and JSON), the verify summary, a torn tail (warning,
 *  exit 0), corruption and undecodable payloads (exit 1), usage (exit 2). */
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tpc_error.h"
#include "tpc_log.h"
#include "tpc_record.h"
#include "tpc_test.h"
#include "tpcctl_log.h"

typedef struct {
    int status;
    char out[65536];
    char err[8192];
} s_run_t;

static void
s_slurp (int fd, char *buf, size_t size)
{
    ssize_t n = pread (fd, buf, size - 1, 0);
    buf[n > 0 ? n : 0] = '\0';
}

/*  Run tpcctl_log_main with ARGS (NULL-terminated), capturing stdout and
 *  stderr into R.                                                      */
static void
s_run (s_run_t *r, const char *a0, ...)
{
    char *argv[16];
    int argc = 0;
    argv[argc++] = (char *) "log";
    va_list ap;
    va_start (ap, a0);
    for (const char *a = a0; a && argc < 15; a = va_arg (ap, const char *))
        argv[argc++] = (char *) a;
    va_end (ap);
    argv[argc] = NULL;
    char out_path[] = "/tmp/tpcctl-log-out-XXXXXX";
    char err_path[] = "/tmp/tpcctl-log-err-XXXXXX";
    int out = mkstemp (out_path), err = mkstemp (err_path);
    CU_ASSERT_FATAL (out >= 0 && err >= 0);
    fflush (stdout);
    fflush (stderr);
    int saved_out = dup (1), saved_err = dup (2);
    dup2 (out, 1);
    dup2 (err, 2);
    r->status = tpcctl_log_main (argc, argv);
    fflush (stdout);
    fflush (stderr);
    dup2 (saved_out, 1);
    dup2 (saved_err, 2);
    close (saved_out);
    close (saved_err);
    s_slurp (out, r->out, sizeof r->out);
    s_slurp (err, r->err, sizeof r->err);
    close (out);
    close (err);
    unlink (out_path);
    unlink (err_path);
}

static void
s_append_record (tpc_log_t *log, const tpc_record_t *rec)
{
    uint8_t buf[8192];
    size_t len;
    CU_ASSERT_EQUAL_FATAL (tpc_record_encode (rec, buf, sizeof buf, &len), 0);
    uint64_t lsn;
    CU_ASSERT_EQUAL_FATAL (tpc_log_append (log, (uint8_t) rec->type, buf, len,
                                           &lsn), 0);
    CU_ASSERT_EQUAL_FATAL (tpc_log_sync (log, lsn), 0);
}

static void
s_quiet (void *arg, const char *text)
{
    (void) arg;
    (void) text;
}

/*  A log with one record of each type and a checkpoint that keeps the
 *  EPOCH: segment 2 holds LSNs 2..8, segment 1 is gone.                  */
static char *
s_make_log (void)
{
    char *dir = tpc_test_tmpdir ("tpcctl-log");
    tpc_log_config_t cfg = { .dir = dir, .segment_bytes = 4096,
                             .warn = s_quiet };
    tpc_log_t *log = NULL;
    CU_ASSERT_EQUAL_FATAL (tpc_log_open (&cfg, NULL, NULL, &log, NULL, 0), 0);
    tpc_record_t r;
    memset (&r, 0, sizeof r);
    r.type = TPC_REC_EPOCH;
    r.epoch = 3;
    s_append_record (log, &r);
    CU_ASSERT_EQUAL (tpc_log_checkpoint_begin (log), 0);
    s_append_record (log, &r);      /* the live record, again */
    CU_ASSERT_EQUAL (tpc_log_checkpoint_end (log), 0);
    memset (&r, 0, sizeof r);
    r.type = TPC_REC_COMMIT;
    strcpy (r.gid, "tpc_c1_3_1");
    r.nparts = 2;
    strcpy (r.parts[0], "bank_a");
    strcpy (r.parts[1], "bank_b");
    s_append_record (log, &r);
    r.type = TPC_REC_PRECOMMIT;
    strcpy (r.gid, "tpc_c1_3_2");
    s_append_record (log, &r);
    r.type = TPC_REC_ABORT;
    strcpy (r.gid, "tpc_c1_3_3");
    r.nparts = 0;
    s_append_record (log, &r);
    r.type = TPC_REC_END;
    strcpy (r.gid, "tpc_c1_3_1");
    s_append_record (log, &r);
    memset (&r, 0, sizeof r);
    r.type = TPC_REC_HEURISTIC;
    strcpy (r.gid, "tpc_c1_3_2");
    r.outcome = 2;
    strcpy (r.reason, "dba said \"no\"");
    s_append_record (log, &r);
    tpc_log_destroy (&log);
    return dir;
}

static int
s_lines (const char *text)
{
    int n = 0;
    for (; *text; text++)
        n += *text == '\n';
    return n;
}

static void
test_dump_text (void)
{
    char *dir = s_make_log ();
    s_run_t r;
    s_run (&r, "dump", dir, NULL);
    CU_ASSERT_EQUAL (r.status, 0);
    CU_ASSERT_EQUAL (s_lines (r.out), 7);
    CU_ASSERT (strncmp (r.out, "segment=2 offset=32 lsn=2 type=EPOCH epoch=3\n",
                        44) == 0);
    CU_ASSERT (strstr (r.out, "lsn=3 type=CHECKPOINT begin_segment=2\n") != NULL);
    CU_ASSERT (strstr (r.out, "lsn=4 type=COMMIT gid=tpc_c1_3_1 "
                       "participants=bank_a,bank_b\n") != NULL);
    CU_ASSERT (strstr (r.out, "type=PRECOMMIT gid=tpc_c1_3_2 participants=bank_a,bank_b\n") != NULL);
    CU_ASSERT (strstr (r.out, "type=ABORT gid=tpc_c1_3_3 participants=\n") != NULL);
    CU_ASSERT (strstr (r.out, "lsn=7 type=END gid=tpc_c1_3_1\n") != NULL);
    CU_ASSERT (strstr (r.out, "type=HEURISTIC gid=tpc_c1_3_2 outcome=abort "
                       "reason=\"dba said \\\"no\\\"\"\n") != NULL);
    CU_ASSERT_STRING_EQUAL (r.err, "");
    tpc_test_rmtree (dir);
    free (dir);
}

static void
test_dump_json (void)
{
    char *dir = s_make_log ();
    s_run_t r;
    s_run (&r, "dump", dir, "--json", NULL);
    CU_ASSERT_EQUAL (r.status, 0);
    int objects = 0, commits = 0;
    char *save = NULL;
    for (char *line = strtok_r (r.out, "\n", &save); line;
         line = strtok_r (NULL, "\n", &save)) {
        cJSON *o = cJSON_Parse (line);
        CU_ASSERT_PTR_NOT_NULL_FATAL (o);
        objects++;
        CU_ASSERT (cJSON_IsNumber (cJSON_GetObjectItem (o, "lsn")));
        CU_ASSERT (cJSON_IsNumber (cJSON_GetObjectItem (o, "segment")));
        CU_ASSERT (cJSON_IsNumber (cJSON_GetObjectItem (o, "offset")));
        const char *type = cJSON_GetStringValue (cJSON_GetObjectItem (o, "type"));
        if (type && !strcmp (type, "COMMIT")) {
            commits++;
            CU_ASSERT_STRING_EQUAL (cJSON_GetStringValue (cJSON_GetObjectItem (o, "gid")),
                                    "tpc_c1_3_1");
            cJSON *parts = cJSON_GetObjectItem (o, "participants");
            CU_ASSERT_EQUAL (cJSON_GetArraySize (parts), 2);
            CU_ASSERT_STRING_EQUAL (cJSON_GetStringValue (cJSON_GetArrayItem (parts, 1)),
                                    "bank_b");
            CU_ASSERT_EQUAL (cJSON_GetObjectItem (o, "lsn")->valuedouble, 4);
        }
        if (type && !strcmp (type, "HEURISTIC"))
            CU_ASSERT_STRING_EQUAL (cJSON_GetStringValue (cJSON_GetObjectItem (o, "reason")),
                                    "dba said \"no\"");
        cJSON_Delete (o);
    }
    CU_ASSERT_EQUAL (objects, 7);
    CU_ASSERT_EQUAL (commits, 1);
    tpc_test_rmtree (dir);
    free (dir);
}

static void
test_verify_ok_and_torn (void)
{
    char *dir = s_make_log ();
    s_run_t r;
    s_run (&r, "verify", dir, NULL);
    CU_ASSERT_EQUAL (r.status, 0);
    CU_ASSERT_STRING_EQUAL (r.out, "log verify: OK segments=1 records=7 last_lsn=8\n");
    /* tear the last record (nothing from its 10th byte on landed): a
     * warning, still exit 0, one record fewer                          */
    s_run (&r, "dump", dir, NULL);
    const char *last = strstr (r.out, "lsn=8 ");
    CU_ASSERT_FATAL (last != NULL);
    while (last > r.out && last[-1] != '\n')
        last--;
    unsigned long long seg, off;
    CU_ASSERT_FATAL (sscanf (last, "segment=%llu offset=%llu", &seg, &off) == 2);
    char path[4096];
    snprintf (path, sizeof path, "%s/%020llu.tpclog", dir, seg);
    int fd = open (path, O_WRONLY);
    uint8_t zeros[256] = { 0 };
    CU_ASSERT_FATAL (fd >= 0 && pwrite (fd, zeros, sizeof zeros,
                                        (off_t) off + 10) == sizeof zeros);
    close (fd);
    s_run (&r, "verify", dir, NULL);
    CU_ASSERT_EQUAL (r.status, 0);
    CU_ASSERT_STRING_EQUAL (r.out, "log verify: torn tail: 1 record(s) cut, "
                            "gids: ? (HEURISTIC, undecodable)\n"
                            "log verify: OK segments=1 records=6 last_lsn=7\n");
    CU_ASSERT (strstr (r.err, "warning: torn tail") != NULL);
    tpc_test_rmtree (dir);
    free (dir);
}

/*  A log of EPOCH 1, COMMIT tpc_c1_1_1 and COMMIT tpc_c1_1_2 (the last);
 *  *SEG / *OFF / *SIZE locate the last record.                          */
static char *
s_make_commits (uint64_t *seg, uint64_t *off, size_t *size)
{
    char *dir = tpc_test_tmpdir ("tpcctl-log");
    tpc_log_config_t cfg = { .dir = dir, .segment_bytes = 4096,
                             .warn = s_quiet };
    tpc_log_t *log = NULL;
    CU_ASSERT_EQUAL_FATAL (tpc_log_open (&cfg, NULL, NULL, &log, NULL, 0), 0);
    tpc_record_t r;
    memset (&r, 0, sizeof r);
    r.type = TPC_REC_EPOCH;
    r.epoch = 1;
    s_append_record (log, &r);
    r.type = TPC_REC_COMMIT;
    r.nparts = 2;
    strcpy (r.parts[0], "bank_a");
    strcpy (r.parts[1], "bank_b");
    strcpy (r.gid, "tpc_c1_1_1");
    s_append_record (log, &r);
    strcpy (r.gid, "tpc_c1_1_2");
    s_append_record (log, &r);
    tpc_log_destroy (&log);
    s_run_t *run = malloc (sizeof *run);
    CU_ASSERT_PTR_NOT_NULL_FATAL (run);
    s_run (run, "dump", dir, NULL);
    const char *last = strstr (run->out, "lsn=3 ");
    CU_ASSERT_FATAL (last != NULL);
    while (last > run->out && last[-1] != '\n')
        last--;
    unsigned long long s, o;
    CU_ASSERT_FATAL (sscanf (last, "segment=%llu offset=%llu", &s, &o) == 2);
    free (run);
    *seg = s;
    *off = o;
    uint8_t buf[1024];
    size_t len;
    CU_ASSERT_EQUAL_FATAL (tpc_record_encode (&r, buf, sizeof buf, &len), 0);
    *size = 16 + len + 4;
    return dir;
}

static void
s_poke_byte (const char *dir, uint64_t seg, uint64_t at, uint8_t xor_mask,
             bool zero)
{
    char path[4096];
    snprintf (path, sizeof path, "%s/%020llu.tpclog", dir,
              (unsigned long long) seg);
    int fd = open (path, O_RDWR);
    CU_ASSERT_FATAL (fd >= 0);
    uint8_t b;
    CU_ASSERT_FATAL (pread (fd, &b, 1, (off_t) at) == 1);
    b = zero ? 0 : b ^ xor_mask;
    CU_ASSERT_FATAL (pwrite (fd, &b, 1, (off_t) at) == 1);
    close (fd);
}

/*  Issue 12 item 4: verify names the gids a cut tail holds.  A write cut
 *  short (the record's checksum never reached the disk) is a torn tail:
 *  exit 0.  A complete record with one flipped bit is damage in place:
 *  corruption, exit 1.  Both name the gid.                              */
static void
test_verify_names_cut_gids (void)
{
    uint64_t seg, off;
    size_t size;
    char *dir = s_make_commits (&seg, &off, &size);
    s_run_t r;
    for (size_t i = size - 4; i < size; i++)    /* the CRC never landed */
        s_poke_byte (dir, seg, off + i, 0, true);
    s_run (&r, "verify", dir, NULL);
    CU_ASSERT_EQUAL (r.status, 0);
    CU_ASSERT (strstr (r.out, "log verify: torn tail: 1 record(s) cut, gids: "
                       "tpc_c1_1_2 (COMMIT)\n") != NULL);
    CU_ASSERT (strstr (r.out, "log verify: OK segments=1 records=2 "
                       "last_lsn=2\n") != NULL);
    printf ("\n  torn: %s", r.out);
    tpc_test_rmtree (dir);
    free (dir);

    dir = s_make_commits (&seg, &off, &size);
    s_poke_byte (dir, seg, off + size - 6, 0x10, false);   /* "bank_b" */
    s_run (&r, "verify", dir, NULL);
    CU_ASSERT_EQUAL (r.status, 1);
    CU_ASSERT (strncmp (r.out, "log verify: CORRUPT ", 20) == 0);
    CU_ASSERT (strstr (r.out, "damaged in place") != NULL);
    CU_ASSERT (strstr (r.out, "1 record(s) cut, gids: tpc_c1_1_2 (COMMIT)")
               != NULL);
    printf ("  damaged: %s", r.out);
    tpc_test_rmtree (dir);
    free (dir);
}

static void
test_verify_corrupt (void)
{
    char *dir = s_make_log ();
    s_run_t r;
    s_run (&r, "dump", dir, NULL);
    const char *commit = strstr (r.out, "lsn=4 ");
    CU_ASSERT_FATAL (commit != NULL);
    while (commit > r.out && commit[-1] != '\n')
        commit--;
    unsigned long long seg, off;
    CU_ASSERT_FATAL (sscanf (commit, "segment=%llu offset=%llu", &seg, &off) == 2);
    char path[4096];
    snprintf (path, sizeof path, "%s/%020llu.tpclog", dir, seg);
    int fd = open (path, O_WRONLY);
    CU_ASSERT_FATAL (fd >= 0 && pwrite (fd, "X", 1, (off_t) off + 20) == 1);
    close (fd);
    s_run (&r, "verify", dir, NULL);
    CU_ASSERT_EQUAL (r.status, 1);
    char want[128];
    snprintf (want, sizeof want, "segment %llu offset %llu", seg, off);
    CU_ASSERT (strncmp (r.out, "log verify: CORRUPT ", 20) == 0);
    CU_ASSERT (strstr (r.out, want) != NULL);
    /* dump shows what precedes the damage, then fails */
    s_run (&r, "dump", dir, NULL);
    CU_ASSERT_EQUAL (r.status, 1);
    CU_ASSERT_EQUAL (s_lines (r.out), 2);
    CU_ASSERT (strstr (r.err, want) != NULL);
    tpc_test_rmtree (dir);
    free (dir);
}

static void
test_verify_bad_payload (void)
{
    char *dir = tpc_test_tmpdir ("tpcctl-log");
    tpc_log_config_t cfg = { .dir = dir, .segment_bytes = 4096,
                             .warn = s_quiet };
    tpc_log_t *log = NULL;
    CU_ASSERT_EQUAL_FATAL (tpc_log_open (&cfg, NULL, NULL, &log, NULL, 0), 0);
    uint64_t lsn;
    const uint8_t junk[] = { 1, 3, 0, 'a', 'b', 'c' };   /* "abc" no gid */
    CU_ASSERT_EQUAL (tpc_log_append (log, TPC_REC_COMMIT, junk, sizeof junk,
                                     &lsn), 0);
    CU_ASSERT_EQUAL (tpc_log_sync (log, lsn), 0);
    tpc_log_destroy (&log);
    s_run_t r;
    s_run (&r, "verify", dir, NULL);
    CU_ASSERT_EQUAL (r.status, 1);
    CU_ASSERT (strstr (r.out, "BAD PAYLOAD segment 1 offset 32 lsn 1") != NULL);
    CU_ASSERT (strstr (r.out, "log verify: FAILED segments=1 records=1 last_lsn=1 "
                       "bad_payloads=1") != NULL);
    s_run (&r, "dump", dir, NULL);
    CU_ASSERT_EQUAL (r.status, 1);
    CU_ASSERT (strstr (r.out, "payload=01030061626") != NULL);
    tpc_test_rmtree (dir);
    free (dir);
}

static void
test_usage (void)
{
    s_run_t r;
    s_run (&r, NULL);
    CU_ASSERT_EQUAL (r.status, 2);
    s_run (&r, "frob", "/tmp", NULL);
    CU_ASSERT_EQUAL (r.status, 2);
    s_run (&r, "verify", NULL);
    CU_ASSERT_EQUAL (r.status, 2);
    s_run (&r, "verify", "/tmp", "--frob", NULL);
    CU_ASSERT_EQUAL (r.status, 2);
    s_run (&r, "--help", NULL);
    CU_ASSERT_EQUAL (r.status, 0);
    CU_ASSERT (strstr (r.out, "torn tail") != NULL);
    s_run (&r, "verify", "/nonexistent/tpc/log", NULL);
    CU_ASSERT_EQUAL (r.status, 1);
    CU_ASSERT (strstr (r.err, "/nonexistent/tpc/log") != NULL);
}

/*  A path that is no log is an error that says why (issue 20, item 10),
 *  distinct from a valid empty log (a directory holding a segment, as the
 *  coordinator leaves it when it opens its log).                        */
static void
test_verify_not_a_log (void)
{
    s_run_t r;
    char *dir = tpc_test_tmpdir ("tpcctl-log");
    s_run (&r, "verify", dir, NULL);
    printf ("\n    empty dir: exit %d: %s", r.status, r.err);
    CU_ASSERT_EQUAL (r.status, 1);
    CU_ASSERT (strstr (r.err, "not a tpc log directory: no segment files")
               != NULL);
    CU_ASSERT (strstr (r.out, "OK") == NULL);
    s_run (&r, "dump", dir, NULL);
    CU_ASSERT_EQUAL (r.status, 1);
    CU_ASSERT (strstr (r.err, "not a tpc log directory") != NULL);
    char missing[700], file[700];
    snprintf (missing, sizeof missing, "%s/nope", dir);
    s_run (&r, "verify", missing, NULL);
    printf ("    missing: exit %d: %s", r.status, r.err);
    CU_ASSERT_EQUAL (r.status, 1);
    CU_ASSERT (strstr (r.err, "no such directory") != NULL);
    snprintf (file, sizeof file, "%s/plain", dir);
    FILE *f = fopen (file, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL (f);
    fclose (f);
    s_run (&r, "verify", file, NULL);
    CU_ASSERT_EQUAL (r.status, 1);
    CU_ASSERT (strstr (r.err, "not a directory") != NULL);
    unlink (file);
    /* a log opened and closed with no record: valid and empty */
    tpc_log_config_t cfg = { .dir = dir, .warn = s_quiet };
    tpc_log_t *log = NULL;
    CU_ASSERT_EQUAL_FATAL (tpc_log_open (&cfg, NULL, NULL, &log, NULL, 0), 0);
    tpc_log_destroy (&log);
    s_run (&r, "verify", dir, NULL);
    CU_ASSERT_EQUAL (r.status, 0);
    CU_ASSERT (strstr (r.out, "log verify: OK segments=1 records=0") != NULL);
    tpc_test_rmtree (dir);
    free (dir);
}

/*  `log verify --json` (and `tpcctl --json log verify`, which hands the
 *  flag on): one JSON object, errors included (item 13).                 */
static void
test_verify_json (void)
{
    s_run_t r;
    char *dir = s_make_log ();
    s_run (&r, "verify", dir, "--json", NULL);
    printf ("\n    verify --json: exit %d: %s", r.status, r.out);
    CU_ASSERT_EQUAL (r.status, 0);
    cJSON *doc = cJSON_Parse (r.out);
    CU_ASSERT_PTR_NOT_NULL_FATAL (doc);
    CU_ASSERT (cJSON_IsTrue (cJSON_GetObjectItem (doc, "ok")));
    CU_ASSERT_EQUAL (cJSON_GetObjectItem (doc, "segments")->valueint, 1);
    CU_ASSERT_EQUAL (cJSON_GetObjectItem (doc, "records")->valueint, 7);
    CU_ASSERT_EQUAL (cJSON_GetObjectItem (doc, "last_lsn")->valueint, 8);
    cJSON_Delete (doc);
    tpc_test_rmtree (dir);
    free (dir);
    dir = tpc_test_tmpdir ("tpcctl-log");
    s_run (&r, "--json", "verify", dir, NULL);
    printf ("    empty dir --json: exit %d: %s", r.status, r.out);
    CU_ASSERT_EQUAL (r.status, 1);
    doc = cJSON_Parse (r.out);
    CU_ASSERT_PTR_NOT_NULL_FATAL (doc);
    cJSON *e = cJSON_GetObjectItem (doc, "error");
    CU_ASSERT_PTR_NOT_NULL_FATAL (e);
    CU_ASSERT_STRING_EQUAL (cJSON_GetStringValue (
                            cJSON_GetObjectItem (e, "name")), "TPC_ENOENT");
    CU_ASSERT (strstr (cJSON_GetStringValue (cJSON_GetObjectItem (
                       e, "message")), "no segment files") != NULL);
    cJSON_Delete (doc);
    tpc_test_rmtree (dir);
    free (dir);
}

static const tpc_test_case_t s_cases[] = {
    { "tpcctl_log_dump_text", test_dump_text },
    { "tpcctl_log_dump_json", test_dump_json },
    { "tpcctl_log_verify_ok_and_torn", test_verify_ok_and_torn },
    { "tpcctl_log_verify_corrupt", test_verify_corrupt },
    { "tpcctl_log_verify_names_cut_gids", test_verify_names_cut_gids },
    { "tpcctl_log_verify_bad_payload", test_verify_bad_payload },
    { "tpcctl_log_usage", test_usage },
    { "tpcctl_log_verify_not_a_log", test_verify_not_a_log },
    { "tpcctl_log_verify_json", test_verify_json },
    { NULL, NULL }
};

int
main (void)
{
    const tpc_test_suite_t suites[] = {
        { "tpcctl_log", NULL, NULL, s_cases },
        { NULL, NULL, NULL, NULL }
    };
    return tpc_test_main ("test_tpcctl_log", suites);
}
