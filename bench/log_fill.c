/*  log_fill: write a coordinator decision log of a chosen size, for the
 *  recovery benchmark (bench/recovery).
 *
 *    log_fill --dir DIR --records N [--in-doubt K] [--coord ID]
 *             [--epoch E] [--parts A,B]
 *
 *  Writes, through tpc_log and tpc_record exactly as tpc-coordinator
 *  does, one EPOCH record (E, default 1), then COMMIT/END pairs for gids
 *  tpc_<ID>_<E>_1, _2, ... (finished transactions: replay must read and
 *  forget them) until the log holds N records (an odd N ends with a
 *  second EPOCH record), then K COMMIT records
 *  without END for the next K gids (decided, not applied: in doubt on the
 *  participants A and B).  One fdatasync at the end.  Prints
 *    log_fill records=<n> finished=<f> in_doubt=<k> first_in_doubt_seq=<s>
 *  The gids of the in-doubt ones are tpc_<ID>_<E>_<s> .. _<s+K-1>.
 *  Exit status 0, 1 on a log error, 2 on bad usage.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tpc_error.h"
#include "tpc_log.h"
#include "tpc_record.h"

static int
s_append (tpc_log_t *log, const tpc_record_t *rec)
{
    uint8_t buf[4096];
    size_t len;
    int rc = tpc_record_encode (rec, buf, sizeof buf, &len);
    if (!rc)
        rc = tpc_log_append (log, (uint8_t) rec->type, buf, len, NULL);
    return rc;
}

static int
s_usage (void)
{
    fprintf (stderr, "usage: log_fill --dir DIR --records N [--in-doubt K] "
             "[--coord ID] [--epoch E] [--parts A,B]\n");
    return 2;
}

int
main (int argc, char **argv)
{
    const char *dir = NULL, *coord = "bench", *parts = "a,b";
    uint64_t records = 0, in_doubt = 0, epoch = 1;
    static const struct option opts[] = {
        { "dir", required_argument, NULL, 'd' },
        { "records", required_argument, NULL, 'n' },
        { "in-doubt", required_argument, NULL, 'k' },
        { "coord", required_argument, NULL, 'c' },
        { "epoch", required_argument, NULL, 'e' },
        { "parts", required_argument, NULL, 'p' },
        { NULL, 0, NULL, 0 }
    };
    int o;
    while ((o = getopt_long (argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'd': dir = optarg; break;
        case 'n': records = strtoull (optarg, NULL, 10); break;
        case 'k': in_doubt = strtoull (optarg, NULL, 10); break;
        case 'c': coord = optarg; break;
        case 'e': epoch = strtoull (optarg, NULL, 10); break;
        case 'p': parts = optarg; break;
        default: return s_usage ();
        }
    }
    if (!dir || epoch == 0 || optind != argc)
        return s_usage ();

    tpc_record_t rec;
    memset (&rec, 0, sizeof rec);
    char namebuf[2 * TPC_RECORD_NAME_MAX];
    snprintf (namebuf, sizeof namebuf, "%s", parts);
    for (char *tok = strtok (namebuf, ","); tok && rec.nparts < 2;
         tok = strtok (NULL, ","))
        snprintf (rec.parts[rec.nparts++], TPC_RECORD_NAME_MAX, "%s", tok);
    if (rec.nparts == 0)
        return s_usage ();

    tpc_log_config_t cfg = { .dir = dir };
    tpc_log_t *log = NULL;
    char err[256] = "";
    int rc = tpc_log_open (&cfg, NULL, NULL, &log, err, sizeof err);
    if (rc)
        goto cleanup;
    tpc_record_t ep = { .type = TPC_REC_EPOCH, .epoch = epoch };
    rc = s_append (log, &ep);
    uint64_t written = 1, seq = 0, finished = 0;
    while (!rc && written + 2 <= records) {
        seq++;
        snprintf (rec.gid, sizeof rec.gid, "tpc_%s_%" PRIu64 "_%" PRIu64,
                  coord, epoch, seq);
        rec.type = TPC_REC_COMMIT;
        rc = s_append (log, &rec);
        rec.type = TPC_REC_END;
        if (!rc)
            rc = s_append (log, &rec);
        written += 2;
        finished++;
    }
    if (!rc && written < records && records > 1) {
        rc = s_append (log, &ep);       /* an odd count: one more EPOCH */
        written++;
    }
    uint64_t first = seq + 1;
    for (uint64_t i = 0; !rc && i < in_doubt; i++) {
        seq++;
        snprintf (rec.gid, sizeof rec.gid, "tpc_%s_%" PRIu64 "_%" PRIu64,
                  coord, epoch, seq);
        rec.type = TPC_REC_COMMIT;
        rc = s_append (log, &rec);
        written++;
    }
    if (!rc)
        rc = tpc_log_sync (log, tpc_log_last_lsn (log));
    if (!rc)
        printf ("log_fill records=%" PRIu64 " finished=%" PRIu64
                " in_doubt=%" PRIu64 " first_in_doubt_seq=%" PRIu64 "\n",
                written, finished, in_doubt, first);
cleanup:
    if (rc)
        fprintf (stderr, "log_fill: %s%s%s\n", tpc_strerror (rc),
                 *err ? ": " : "", err);
    tpc_log_destroy (&log);
    return rc ? 1 : 0;
}
