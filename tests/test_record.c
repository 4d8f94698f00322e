/*  test_record: the coordinator's log payloads -- round trips of every
 *  type, strict decoding of every malformed shape.                       */
#include <stdio.h>
#include <string.h>

#include "tpc_error.h"
#include "tpc_record.h"
#include "tpc_test.h"

#define S_GID "tpc_coordA_7_42"

static void
s_round_trip (const tpc_record_t *in, tpc_record_t *out, size_t *len_out)
{
    uint8_t buf[8192];
    size_t len = 0;
    CU_ASSERT_EQUAL_FATAL (tpc_record_encode (in, buf, sizeof buf, &len), 0);
    CU_ASSERT_EQUAL_FATAL (tpc_record_decode ((uint8_t) in->type, buf, len, out), 0);
    CU_ASSERT_EQUAL (out->type, in->type);
    /* every shorter prefix and one extra byte are refused */
    int accepted = 0;
    tpc_record_t tmp;
    for (size_t k = 0; k < len; k++)
        accepted += tpc_record_decode ((uint8_t) in->type, buf, k, &tmp) == 0;
    buf[len] = 0;
    accepted += tpc_record_decode ((uint8_t) in->type, buf, len + 1, &tmp) == 0;
    CU_ASSERT_EQUAL (accepted, 0);
    if (len_out)
        *len_out = len;
}

static void
test_round_trips (void)
{
    tpc_record_t in, out;
    memset (&in, 0, sizeof in);
    in.type = TPC_REC_EPOCH;
    in.epoch = 18446744073709551615ULL;
    size_t len;
    s_round_trip (&in, &out, &len);
    CU_ASSERT_EQUAL (out.epoch, in.epoch);
    CU_ASSERT_EQUAL (len, 9);

    const tpc_rec_type_t with_parts[] = { TPC_REC_COMMIT, TPC_REC_ABORT,
                                          TPC_REC_PRECOMMIT };
    for (int t = 0; t < 3; t++) {
        memset (&in, 0, sizeof in);
        in.type = with_parts[t];
        strcpy (in.gid, S_GID);
        in.nparts = 3;
        strcpy (in.parts[0], "bank_a");
        strcpy (in.parts[1], "bank-b");
        memset (in.parts[2], 'z', TPC_RECORD_NAME_MAX - 1);
        s_round_trip (&in, &out, NULL);
        CU_ASSERT_STRING_EQUAL (out.gid, S_GID);
        CU_ASSERT_EQUAL (out.nparts, 3);
        for (size_t i = 0; i < 3; i++)
            CU_ASSERT_STRING_EQUAL (out.parts[i], in.parts[i]);
    }
    /* no participants, and the most participants */
    in.nparts = 0;
    s_round_trip (&in, &out, NULL);
    CU_ASSERT_EQUAL (out.nparts, 0);
    in.nparts = TPC_RECORD_PARTS_MAX;
    for (size_t i = 0; i < TPC_RECORD_PARTS_MAX; i++)
        snprintf (in.parts[i], TPC_RECORD_NAME_MAX, "participant%zu", i);
    s_round_trip (&in, &out, NULL);
    CU_ASSERT_EQUAL (out.nparts, TPC_RECORD_PARTS_MAX);
    CU_ASSERT_STRING_EQUAL (out.parts[63], "participant63");

    memset (&in, 0, sizeof in);
    in.type = TPC_REC_END;
    strcpy (in.gid, S_GID);
    s_round_trip (&in, &out, &len);
    CU_ASSERT_STRING_EQUAL (out.gid, S_GID);
    CU_ASSERT_EQUAL (len, 1 + 2 + strlen (S_GID));

    memset (&in, 0, sizeof in);
    in.type = TPC_REC_HEURISTIC;
    strcpy (in.gid, S_GID);
    in.outcome = 2;
    strcpy (in.reason, "operator rolled back \"by hand\"");
    s_round_trip (&in, &out, NULL);
    CU_ASSERT_EQUAL (out.outcome, 2);
    CU_ASSERT_STRING_EQUAL (out.reason, in.reason);
    in.reason[0] = '\0';
    s_round_trip (&in, &out, NULL);
    CU_ASSERT_STRING_EQUAL (out.reason, "");
    memset (in.reason, 'r', 255);
    in.reason[255] = '\0';
    s_round_trip (&in, &out, NULL);
    CU_ASSERT_EQUAL (strlen (out.reason), 255);
}

static void
test_encode_refuses (void)
{
    tpc_record_t r;
    uint8_t buf[8192];
    size_t len;
    memset (&r, 0, sizeof r);
    r.type = TPC_REC_EPOCH;
    CU_ASSERT_EQUAL (tpc_record_encode (&r, buf, sizeof buf, &len), TPC_EINVAL);
    r.epoch = 1;
    CU_ASSERT_EQUAL (tpc_record_encode (&r, buf, 8, &len), TPC_EINVAL);
    CU_ASSERT_EQUAL (tpc_record_encode (&r, buf, 9, &len), 0);

    memset (&r, 0, sizeof r);
    r.type = TPC_REC_COMMIT;
    strcpy (r.gid, "not a gid");
    CU_ASSERT_EQUAL (tpc_record_encode (&r, buf, sizeof buf, &len), TPC_EINVAL);
    strcpy (r.gid, S_GID);
    r.nparts = TPC_RECORD_PARTS_MAX + 1;
    CU_ASSERT_EQUAL (tpc_record_encode (&r, buf, sizeof buf, &len), TPC_EINVAL);
    r.nparts = 1;       /* empty name */
    CU_ASSERT_EQUAL (tpc_record_encode (&r, buf, sizeof buf, &len), TPC_EINVAL);
    memset (r.parts[0], 'n', TPC_RECORD_NAME_MAX);   /* no NUL in the buffer */
    CU_ASSERT_EQUAL (tpc_record_encode (&r, buf, sizeof buf, &len), TPC_EINVAL);
    strcpy (r.parts[0], "ok");
    CU_ASSERT_EQUAL (tpc_record_encode (&r, buf, sizeof buf, &len), 0);

    memset (&r, 0, sizeof r);
    r.type = TPC_REC_HEURISTIC;
    strcpy (r.gid, S_GID);
    r.outcome = 3;
    CU_ASSERT_EQUAL (tpc_record_encode (&r, buf, sizeof buf, &len), TPC_EINVAL);
    r.outcome = 1;
    memset (r.reason, 'x', sizeof r.reason);
    CU_ASSERT_EQUAL (tpc_record_encode (&r, buf, sizeof buf, &len), TPC_EINVAL);

    r.type = (tpc_rec_type_t) 99;
    CU_ASSERT_EQUAL (tpc_record_encode (&r, buf, sizeof buf, &len), TPC_EINVAL);
    CU_ASSERT_EQUAL (tpc_record_encode (NULL, buf, sizeof buf, &len), TPC_EINVAL);
}

static void
test_decode_refuses (void)
{
    tpc_record_t r;
    /* version 2 */
    const uint8_t v2[] = { 2, 1, 0, 0, 0, 0, 0, 0, 0 };
    CU_ASSERT_EQUAL (tpc_record_decode (TPC_REC_EPOCH, v2, sizeof v2, &r),
                     TPC_ELOG_CORRUPT);
    const uint8_t zero_epoch[] = { 1, 0, 0, 0, 0, 0, 0, 0, 0 };
    CU_ASSERT_EQUAL (tpc_record_decode (TPC_REC_EPOCH, zero_epoch, 9, &r),
                     TPC_ELOG_CORRUPT);
    CU_ASSERT_EQUAL (tpc_record_decode (TPC_REC_EPOCH, NULL, 0, &r),
                     TPC_ELOG_CORRUPT);
    /* END with a gid that does not parse */
    const uint8_t badgid[] = { 1, 5, 0, 't', 'p', 'c', '_', 'x' };
    CU_ASSERT_EQUAL (tpc_record_decode (TPC_REC_END, badgid, sizeof badgid, &r),
                     TPC_ELOG_CORRUPT);
    /* a valid END, then the same with a NUL inside the gid */
    uint8_t end[64] = { 1, (uint8_t) strlen (S_GID), 0 };
    memcpy (end + 3, S_GID, strlen (S_GID));
    size_t endlen = 3 + strlen (S_GID);
    CU_ASSERT_EQUAL (tpc_record_decode (TPC_REC_END, end, endlen, &r), 0);
    CU_ASSERT_STRING_EQUAL (r.gid, S_GID);
    end[6] = 0;
    CU_ASSERT_EQUAL (tpc_record_decode (TPC_REC_END, end, endlen, &r),
                     TPC_ELOG_CORRUPT);
    CU_ASSERT_STRING_EQUAL (r.gid, "");     /* nothing half-filled */
    /* COMMIT with 65 participants, and with a 64-byte name */
    uint8_t c[256];
    size_t n = 0;
    c[n++] = 1;
    c[n++] = (uint8_t) strlen (S_GID);
    c[n++] = 0;
    memcpy (c + n, S_GID, strlen (S_GID));
    n += strlen (S_GID);
    size_t at_parts = n;
    c[n++] = 65;
    c[n++] = 0;
    CU_ASSERT_EQUAL (tpc_record_decode (TPC_REC_COMMIT, c, n, &r), TPC_ELOG_CORRUPT);
    n = at_parts;
    c[n++] = 1;
    c[n++] = 0;
    c[n++] = 64;
    c[n++] = 0;
    memset (c + n, 'p', 64);
    n += 64;
    CU_ASSERT_EQUAL (tpc_record_decode (TPC_REC_COMMIT, c, n, &r), TPC_ELOG_CORRUPT);
    c[n - 66] = 63;     /* length 63 leaves one byte trailing */
    CU_ASSERT_EQUAL (tpc_record_decode (TPC_REC_COMMIT, c, n, &r), TPC_ELOG_CORRUPT);
    CU_ASSERT_EQUAL (tpc_record_decode (TPC_REC_COMMIT, c, n - 1, &r), 0);
    CU_ASSERT_EQUAL (r.nparts, 1);
    CU_ASSERT_EQUAL (strlen (r.parts[0]), 63);
    /* HEURISTIC with outcome 0 */
    uint8_t h[64];
    memcpy (h, end, 3);
    memcpy (h + 3, S_GID, strlen (S_GID));
    n = 3 + strlen (S_GID);
    h[n++] = 0;
    h[n++] = 0;
    h[n++] = 0;
    CU_ASSERT_EQUAL (tpc_record_decode (TPC_REC_HEURISTIC, h, n, &r), TPC_ELOG_CORRUPT);
    h[n - 3] = 1;
    CU_ASSERT_EQUAL (tpc_record_decode (TPC_REC_HEURISTIC, h, n, &r), 0);
    /* unknown and log-internal types */
    CU_ASSERT_EQUAL (tpc_record_decode (0, h, n, &r), TPC_ELOG_CORRUPT);
    CU_ASSERT_EQUAL (tpc_record_decode (0xF1, h, n, &r), TPC_ELOG_CORRUPT);
}

static void
test_type_names (void)
{
    CU_ASSERT_STRING_EQUAL (tpc_record_type_name (TPC_REC_EPOCH), "EPOCH");
    CU_ASSERT_STRING_EQUAL (tpc_record_type_name (TPC_REC_COMMIT), "COMMIT");
    CU_ASSERT_STRING_EQUAL (tpc_record_type_name (TPC_REC_ABORT), "ABORT");
    CU_ASSERT_STRING_EQUAL (tpc_record_type_name (TPC_REC_END), "END");
    CU_ASSERT_STRING_EQUAL (tpc_record_type_name (TPC_REC_PRECOMMIT), "PRECOMMIT");
    CU_ASSERT_STRING_EQUAL (tpc_record_type_name (TPC_REC_HEURISTIC), "HEURISTIC");
    CU_ASSERT_STRING_EQUAL (tpc_record_type_name (0), "?");
    CU_ASSERT_STRING_EQUAL (tpc_record_type_name (200), "?");
}

static const tpc_test_case_t s_cases[] = {
    { "record_round_trips", test_round_trips },
    { "record_encode_refuses", test_encode_refuses },
    { "record_decode_refuses", test_decode_refuses },
    { "record_type_names", test_type_names },
    { NULL, NULL }
};

int
main (void)
{
    const tpc_test_suite_t suites[] = {
        { "record", NULL, NULL, s_cases },
        { NULL, NULL, NULL, NULL }
    };
    return tpc_test_main ("test_record", suites);
}
