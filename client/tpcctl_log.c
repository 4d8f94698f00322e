/*  tpcctl_log: dump and verify a decision log directory (see tpcctl_log.h).
 *
 *  Both commands are one tpc_log_scan() pass; payloads of the
 *  coordinator's record types are decoded with tpc_record.
 *
 *  dump, text: one line per record,
 *    segment=1 offset=32 lsn=7 type=COMMIT gid=tpc_c1_3_9 participants=a,b
 *  dump --json: one JSON object per line, same fields,
 *    {"segment":1,"offset":32,"lsn":7,"type":"COMMIT","gid":"tpc_c1_3_9",
 *     "participants":["a","b"]}
 *  A payload that does not decode is shown as hex with its error.
 *
 *  A tail the coordinator's next start would cut is named with the gids
 *  it holds (best effort: its records fail their checks):
 *    log verify: torn tail: 1 record(s) cut, gids: tpc_c1_3_9 (COMMIT)
 *  A torn tail (a write cut short by a crash: its end, or a sector of it,
 *  is still zeros) lost nothing acknowledged: exit 0.  A damaged tail (a
 *  complete record that fails its checks: a flipped bit, damage in place
 *  to a record that may have been durable and acted on) is corruption:
 *  "log verify: CORRUPT damaged tail ..." and exit 1, although the
 *  coordinator still cuts it at its next start (with a warning naming
 *  the same gids), since nothing in it can be trusted.
 *
 *  A log directory is one that holds at least one segment file: the
 *  coordinator creates segment 1 when it first opens its log, so a log
 *  with no record yet verifies as "OK segments=1 records=0".  A missing
 *  path, a file, or a directory without segments is an error (exit 1):
 *  "no such directory", "not a directory", "not a tpc log directory: no
 *  segment files" -- a mistyped path never verifies as healthy.
 *
 *  --json (given to `log` or, as `tpcctl --json log ...`, before it):
 *  verify prints one object, {"ok":true,"segments":1,"records":7,
 *  "last_lsn":8} (plus "torn_tail", "bad_payloads" or "error" when they
 *  apply); an error of either command is {"error":{"code":-5,"name":
 *  "TPC_ENOENT","message":"..."}} on stdout, the exit status unchanged.
 */
#include "tpcctl_log.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "tpc_error.h"
#include "tpc_gid.h"
#include "tpc_log.h"
#include "tpc_record.h"

#define S_BAD_SHOWN_MAX 10

static void
s_usage (FILE *f)
{
    fprintf (f,
             "usage: tpcctl log dump DIR [--json]\n"
             "       tpcctl log verify DIR [--json]\n"
             "\n"
             "Read-only views of a coordinator's decision log directory: no lock\n"
             "is taken and nothing is changed, so they may run beside the\n"
             "coordinator (a record being written then shows as a torn tail).\n"
             "\n"
             "  dump     one line per record: segment, offset, LSN, type and the\n"
             "           decoded payload (gid, participants, epoch, ...);\n"
             "           --json prints one JSON object per line instead\n"
             "  verify   checks every segment and record and decodes every\n"
             "           payload, then prints\n"
             "             log verify: OK segments=N records=N last_lsn=N\n"
             "           (--json: one JSON object; errors too, on stdout)\n"
             "\n"
             "DIR must hold at least one segment file (NNN...N.tpclog; the\n"
             "coordinator makes the first when it opens its log): a missing\n"
             "path or a directory without segments is an error, exit 1.\n"
             "\n"
             "A torn tail (an incomplete last record, left by a crash) is a\n"
             "warning and exits 0: the coordinator cuts it off at its next\n"
             "start and loses nothing that was acknowledged; verify prints\n"
             "  log verify: torn tail: N record(s) cut, gids: ...\n"
             "A damaged tail (a complete last record that fails its checks: a\n"
             "flipped bit), corruption (a bad record followed by valid ones, a\n"
             "missing segment) or a payload that does not decode exits 1 with\n"
             "segment and offset (and the gids a damaged tail holds: the\n"
             "coordinator cuts it too, and their participants may have acted).\n"
             "\n"
             "exit codes: 0 valid (torn tail allowed), 1 corrupt or unreadable,\n"
             "2 usage error\n");
}

typedef struct {
    bool json;
    bool print;                 /* dump prints, verify only counts */
    uint64_t records;
    uint64_t last_lsn;
    uint64_t bad_payloads;
    int warnings;
    tpc_record_t rec;           /* decode buffer */
    char cut_gids[1024];        /* "gid (TYPE), ..." of a tail to be cut */
} s_ctx_t;

static void
s_warn (void *arg, const char *text)
{
    s_ctx_t *ctx = arg;
    ctx->warnings++;
    fprintf (stderr, "tpcctl log: warning: %s\n", text);
}

/*  TEXT as a double-quoted string with C escapes.                       */
static void
s_print_quoted (const char *text)
{
    putchar ('"');
    for (const unsigned char *p = (const unsigned char *) text; *p; p++) {
        if (*p == '"' || *p == '\\')
            printf ("\\%c", *p);
        else if (*p < 0x20 || *p == 0x7F)
            printf ("\\x%02x", *p);
        else
            putchar (*p);
    }
    putchar ('"');
}

static void
s_hex (char *out, size_t size, const uint8_t *p, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    size_t n = 0;
    for (size_t i = 0; i < len && n + 3 < size; i++) {
        out[n++] = digits[p[i] >> 4];
        out[n++] = digits[p[i] & 15];
    }
    if (n + 3 < size || len == 0)
        out[n] = '\0';
    else
        snprintf (out + n - 3, 4, "...");
}

static const char *
s_type_name (uint8_t type)
{
    if (type == TPC_LOG_TYPE_CHECKPOINT)
        return "CHECKPOINT";
    if (type >= TPC_LOG_TYPE_INTERNAL)
        return "LOG?";
    return tpc_record_type_name (type);
}

/*  Decode what we know; 0, or TPC_ELOG_CORRUPT with REC untouched.      */
static int
s_decode (const tpc_log_rec_t *info, const void *payload, size_t len,
          tpc_record_t *rec, uint64_t *begin_segment)
{
    if (info->type == TPC_LOG_TYPE_CHECKPOINT) {
        if (len != 8)
            return TPC_ELOG_CORRUPT;
        const uint8_t *p = payload;
        uint64_t v = 0;
        for (int i = 7; i >= 0; i--)
            v = v << 8 | p[i];
        *begin_segment = v;
        return 0;
    }
    return tpc_record_decode (info->type, payload, len, rec);
}

static bool
s_has_parts (uint8_t type)
{
    return type == TPC_REC_COMMIT || type == TPC_REC_ABORT
           || type == TPC_REC_PRECOMMIT;
}

static void
s_print_text (const tpc_log_rec_t *info, const tpc_record_t *rec,
              uint64_t begin, bool ok, const char *hex)
{
    printf ("segment=%" PRIu64 " offset=%" PRIu64 " lsn=%" PRIu64 " type=%s",
            info->segment, info->offset, info->lsn, s_type_name (info->type));
    if (!ok) {
        printf (" type_code=%u payload=%s error=\"undecodable payload\"\n",
                (unsigned) info->type, hex);
        return;
    }
    if (info->type == TPC_LOG_TYPE_CHECKPOINT)
        printf (" begin_segment=%" PRIu64, begin);
    else if (info->type == TPC_REC_EPOCH)
        printf (" epoch=%" PRIu64, rec->epoch);
    else {
        printf (" gid=%s", rec->gid);
        if (s_has_parts (info->type)) {
            printf (" participants=");
            for (size_t i = 0; i < rec->nparts; i++)
                printf ("%s%s", i ? "," : "", rec->parts[i]);
        }
        if (info->type == TPC_REC_HEURISTIC) {
            printf (" outcome=%s reason=", rec->outcome == 1 ? "commit" : "abort");
            s_print_quoted (rec->reason);
        }
    }
    putchar ('\n');
}

static int
s_print_json (const tpc_log_rec_t *info, const tpc_record_t *rec,
              uint64_t begin, bool ok, const char *hex)
{
    cJSON *o = cJSON_CreateObject ();
    if (!o)
        return TPC_ENOMEM;
    cJSON_AddNumberToObject (o, "segment", (double) info->segment);
    cJSON_AddNumberToObject (o, "offset", (double) info->offset);
    cJSON_AddNumberToObject (o, "lsn", (double) info->lsn);
    cJSON_AddStringToObject (o, "type", s_type_name (info->type));
    if (!ok) {
        cJSON_AddNumberToObject (o, "type_code", info->type);
        cJSON_AddStringToObject (o, "payload_hex", hex);
        cJSON_AddStringToObject (o, "error", "undecodable payload");
    }
    else if (info->type == TPC_LOG_TYPE_CHECKPOINT)
        cJSON_AddNumberToObject (o, "begin_segment", (double) begin);
    else if (info->type == TPC_REC_EPOCH)
        cJSON_AddNumberToObject (o, "epoch", (double) rec->epoch);
    else {
        cJSON_AddStringToObject (o, "gid", rec->gid);
        if (s_has_parts (info->type)) {
            cJSON *parts = cJSON_AddArrayToObject (o, "participants");
            for (size_t i = 0; parts && i < rec->nparts; i++)
                cJSON_AddItemToArray (parts, cJSON_CreateString (rec->parts[i]));
        }
        if (info->type == TPC_REC_HEURISTIC) {
            cJSON_AddStringToObject (o, "outcome",
                                     rec->outcome == 1 ? "commit" : "abort");
            cJSON_AddStringToObject (o, "reason", rec->reason);
        }
    }
    char *text = cJSON_PrintUnformatted (o);
    cJSON_Delete (o);
    if (!text)
        return TPC_ENOMEM;
    puts (text);
    cJSON_free (text);
    return 0;
}

static int
s_on_record (void *arg, const tpc_log_rec_t *info, const void *payload,
             size_t len)
{
    s_ctx_t *ctx = arg;
    tpc_record_t *rec = &ctx->rec;
    uint64_t begin = 0;
    bool ok = s_decode (info, payload, len, rec, &begin) == 0;
    ctx->records++;
    ctx->last_lsn = info->lsn;
    char hex[200] = "";
    if (!ok) {
        ctx->bad_payloads++;
        s_hex (hex, sizeof hex, payload, len);
        if (!ctx->print && ctx->bad_payloads <= S_BAD_SHOWN_MAX)
            printf ("log verify: BAD PAYLOAD segment %" PRIu64 " offset %"
                    PRIu64 " lsn %" PRIu64 " type %u: does not decode as a "
                    "%s record\n", info->segment, info->offset, info->lsn,
                    (unsigned) info->type, s_type_name (info->type));
    }
    if (!ctx->print)
        return 0;
    if (ctx->json)
        return s_print_json (info, rec, begin, ok, hex);
    s_print_text (info, rec, begin, ok, hex);
    return 0;
}

/*  An entry of the tail the next start cuts: note its gid.             */
static int
s_on_cut (void *arg, const tpc_log_rec_t *info, const void *payload,
          size_t len)
{
    s_ctx_t *ctx = arg;
    tpc_record_t *rec = &ctx->rec;
    uint64_t begin = 0;
    char item[TPC_GID_MAX + 64];
    if (s_decode (info, payload, len, rec, &begin))
        snprintf (item, sizeof item, "? (%s, undecodable)",
                  s_type_name (info->type));
    else if (info->type == TPC_LOG_TYPE_CHECKPOINT
             || info->type == TPC_REC_EPOCH)
        return 0;
    else
        snprintf (item, sizeof item, "%s (%s)", rec->gid,
                  s_type_name (info->type));
    size_t used = strlen (ctx->cut_gids);
    if (used + strlen (item) + 8 >= sizeof ctx->cut_gids) {
        if (!strstr (ctx->cut_gids, "..."))
            snprintf (ctx->cut_gids + used, sizeof ctx->cut_gids - used,
                      ", ...");
        return 0;
    }
    snprintf (ctx->cut_gids + used, sizeof ctx->cut_gids - used, "%s%s",
              used ? ", " : "", item);
    return 0;
}

/*  Segment files in DIR (names of 20 digits + ".tpclog").               */
static uint64_t
s_count_segments (const char *dir)
{
    uint64_t n = 0;
    DIR *d = opendir (dir);
    struct dirent *e;
    while (d && (e = readdir (d))) {
        size_t len = strlen (e->d_name);
        if (len != 27 || strcmp (e->d_name + 20, ".tpclog"))
            continue;
        bool digits = true;
        for (int i = 0; i < 20; i++)
            digits = digits && e->d_name[i] >= '0' && e->d_name[i] <= '9';
        n += digits;
    }
    if (d)
        closedir (d);
    return n;
}

/*  Report failure CODE (TEXT says what) as JSON on stdout or as text on
 *  stderr.  Returns 1, the exit status.                                 */
static int
s_fail (const s_ctx_t *ctx, int code, const char *text)
{
    if (!ctx->json) {
        fprintf (stderr, "tpcctl log: %s\n", text);
        return 1;
    }
    cJSON *o = cJSON_CreateObject ();
    cJSON *e = cJSON_AddObjectToObject (o, "error");
    cJSON_AddNumberToObject (e, "code", code);
    cJSON_AddStringToObject (e, "name", tpc_errname (code));
    cJSON_AddStringToObject (e, "message", text);
    char *out = cJSON_PrintUnformatted (o);
    cJSON_Delete (o);
    if (out)
        puts (out);
    cJSON_free (out);
    return 1;
}

/*  Is DIR a log directory (it exists, is a directory and holds a
 *  segment)?  0, or the exit status after saying why not.               */
static int
s_check_dir (const s_ctx_t *ctx, const char *dir)
{
    char text[1200];
    struct stat st;
    if (stat (dir, &st)) {
        int e = errno;
        snprintf (text, sizeof text, "%s: %s", dir, e == ENOENT
                  ? "no such directory" : strerror (e));
        return s_fail (ctx, e == ENOENT ? TPC_ENOENT : TPC_EIO, text);
    }
    if (!S_ISDIR (st.st_mode)) {
        snprintf (text, sizeof text, "%s: not a directory (give the "
                  "coordinator's --log-dir)", dir);
        return s_fail (ctx, TPC_EINVAL, text);
    }
    if (s_count_segments (dir) == 0) {
        snprintf (text, sizeof text, "%s: not a tpc log directory: no "
                  "segment files (NNNNNNNNNNNNNNNNNNNN.tpclog); give the "
                  "coordinator's --log-dir", dir);
        return s_fail (ctx, TPC_ENOENT, text);
    }
    return 0;
}

/*  verify --json's summary: OK and the counts, plus whatever applies.   */
static int
s_verify_json (const s_ctx_t *ctx, uint64_t segments, const char *torn,
               int code, const char *error)
{
    cJSON *o = cJSON_CreateObject ();
    cJSON_AddBoolToObject (o, "ok", !error && !ctx->bad_payloads);
    cJSON_AddNumberToObject (o, "segments", (double) segments);
    cJSON_AddNumberToObject (o, "records", (double) ctx->records);
    cJSON_AddNumberToObject (o, "last_lsn", (double) ctx->last_lsn);
    if (torn)
        cJSON_AddStringToObject (o, "torn_tail", torn);
    if (ctx->bad_payloads)
        cJSON_AddNumberToObject (o, "bad_payloads",
                                 (double) ctx->bad_payloads);
    if (error) {
        cJSON *e = cJSON_AddObjectToObject (o, "error");
        cJSON_AddNumberToObject (e, "code", code);
        cJSON_AddStringToObject (e, "name", tpc_errname (code));
        cJSON_AddStringToObject (e, "message", error);
    }
    char *out = cJSON_PrintUnformatted (o);
    cJSON_Delete (o);
    if (out)
        puts (out);
    cJSON_free (out);
    return error || ctx->bad_payloads ? 1 : 0;
}

/*  `log dump|verify [--json] DIR` into CTX (json), *DIR, *VERIFY (else
 *  dump); -1 when they are right, else the exit status (usage said).
 *  --json may stand anywhere after "log" (tpcctl hands on its global
 *  --json at the end).                                                   */
static int
s_parse_args (int argc, char **argv, s_ctx_t *ctx, const char **dir,
              bool *verify)
{
    if (argc >= 2 && (!strcmp (argv[1], "help") || !strcmp (argv[1], "--help")
                      || !strcmp (argv[1], "-h"))) {
        s_usage (stdout);
        return 0;
    }
    const char *sub = NULL;
    for (int i = 1; i < argc; i++)
        if (strcmp (argv[i], "--json")) {
            sub = argv[i];
            break;
        }
    bool dump = sub && !strcmp (sub, "dump");
    *verify = sub && !strcmp (sub, "verify");
    for (int i = 1; i < argc; i++) {
        if (argv[i] == sub)
            continue;
        if (!strcmp (argv[i], "--json"))
            ctx->json = true;
        else if (argv[i][0] != '-' && !*dir)
            *dir = argv[i];
        else {
            fprintf (stderr, "tpcctl log: unexpected argument '%s'\n", argv[i]);
            s_usage (stderr);
            return 2;
        }
    }
    if ((!dump && !*verify) || !*dir) {
        if (sub && !dump && !*verify)
            fprintf (stderr, "tpcctl log: unknown command '%s'\n", sub);
        s_usage (stderr);
        return 2;
    }
    ctx->print = dump;
    return -1;
}

int
tpcctl_log_main (int argc, char **argv)
{
    s_ctx_t ctx = { 0 };
    const char *dir = NULL;
    bool verify = false;
    int usage = s_parse_args (argc, argv, &ctx, &dir, &verify);
    if (usage >= 0)
        return usage;
    int bad = s_check_dir (&ctx, dir);
    if (bad)
        return bad;
    char err[1024] = "";
    tpc_log_cut_t cut;
    tpc_log_config_t cfg = { .dir = dir, .warn = s_warn, .warn_arg = &ctx,
                             .cut_fn = s_on_cut, .cut_arg = &ctx,
                             .cut = &cut };
    int rc = tpc_log_scan_config (&cfg, s_on_record, &ctx, err, sizeof err);
    fflush (stdout);
    uint64_t segments = s_count_segments (dir);
    char what[1400] = "";
    if (!rc && cut.cut)
        snprintf (what, sizeof what, "%" PRIu64 " record(s) cut, gids: %s",
                  cut.records, *ctx.cut_gids ? ctx.cut_gids
                  : cut.offset ? "none" : "unknown (a bad segment header: "
                  "what the segment held cannot be read)");
    if (!rc && cut.cut && cut.damaged) {
        char text[1700];
        snprintf (text, sizeof text, "damaged tail at segment %" PRIu64
                  " offset %" PRIu64 ": complete, yet it fails its checks "
                  "(damaged in place, not a write cut short by a crash); "
                  "the coordinator cuts it at its next start: %s",
                  cut.segment, cut.offset, what);
        if (verify && ctx.json)
            return s_verify_json (&ctx, segments, NULL, TPC_ELOG_CORRUPT,
                                  text);
        if (verify)
            printf ("log verify: CORRUPT %s\n", text);
        else if (ctx.json)
            return s_fail (&ctx, TPC_ELOG_CORRUPT, text);
        else
            fprintf (stderr, "tpcctl log: damaged tail (corrupt): %s\n",
                     what);
        return 1;
    }
    if (!rc && cut.cut && !ctx.json) {
        if (verify)
            printf ("log verify: torn tail: %s\n", what);
        else
            fprintf (stderr, "tpcctl log: torn tail: %s\n", what);
    }
    if (rc == TPC_ELOG_CORRUPT && verify && !ctx.json) {
        printf ("log verify: CORRUPT %s\n", err);
        return 1;
    }
    if (rc && verify && ctx.json)
        return s_verify_json (&ctx, segments, NULL, rc,
                              *err ? err : tpc_strerror (rc));
    if (rc)
        return s_fail (&ctx, rc, *err ? err : tpc_strerror (rc));
    if (verify && ctx.json)
        return s_verify_json (&ctx, segments, cut.cut ? what : NULL, 0, NULL);
    if (ctx.bad_payloads) {
        if (verify)
            printf ("log verify: FAILED segments=%" PRIu64 " records=%" PRIu64
                    " last_lsn=%" PRIu64 " bad_payloads=%" PRIu64 "\n",
                    segments, ctx.records, ctx.last_lsn, ctx.bad_payloads);
        else
            fprintf (stderr, "tpcctl log: %" PRIu64 " payloads do not decode\n",
                     ctx.bad_payloads);
        return 1;
    }
    if (verify)
        printf ("log verify: OK segments=%" PRIu64 " records=%" PRIu64
                " last_lsn=%" PRIu64 "\n", segments, ctx.records,
                ctx.last_lsn);
    return 0;
}
