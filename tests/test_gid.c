/*  test_gid: gid format/parse round trip and every malformed shape.       */
#include <stdio.h>
#include <string.h>

#include "tpc_error.h"
#include "tpc_gid.h"
#include "tpc_test.h"

static void
test_round_trip (void)
{
    tpc_gid_t g = { "coord7", 3, 18446744073709551615ULL }, back;
    char buf[TPC_GID_MAX];
    CU_ASSERT_EQUAL (tpc_gid_format (&g, buf, sizeof buf), 0);
    CU_ASSERT_STRING_EQUAL (buf, "tpc_coord7_3_18446744073709551615");
    CU_ASSERT_EQUAL (tpc_gid_parse (buf, &back), 0);
    CU_ASSERT_STRING_EQUAL (back.coord, "coord7");
    CU_ASSERT_EQUAL (back.epoch, 3);
    CU_ASSERT_EQUAL (back.seq, 18446744073709551615ULL);
    CU_ASSERT (strlen (buf) < 200);
}

static void
test_longest_fits (void)
{
    tpc_gid_t g;
    memset (g.coord, 'a', 32);
    g.coord[32] = '\0';
    g.epoch = g.seq = 18446744073709551615ULL;
    char buf[TPC_GID_MAX];
    CU_ASSERT_EQUAL (tpc_gid_format (&g, buf, sizeof buf), 0);
    CU_ASSERT_EQUAL (tpc_gid_parse (buf, NULL), 0);
}

static void
test_bad_input (void)
{
    const char *bad[] = {
        "", "tpc_", "tpc_a", "tpc_a_1", "tpc_a_1_", "tpc__1_1", "tpc_a_0_1",
        "tpc_a_1_0", "tpc_a_01_1", "tpc_a_1_1_1", "tpx_a_1_1", "tpc_a-b_1_1",
        "tpc_a_1_18446744073709551616", "tpc_a_+1_1", "tpc_a_1_1 ",
        "tpc_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa_1_1", NULL
    };
    for (int i = 0; bad[i]; i++)
        CU_ASSERT_EQUAL (tpc_gid_parse (bad[i], NULL), TPC_EMSG_BAD_GID);
    CU_ASSERT_EQUAL (tpc_gid_parse (NULL, NULL), TPC_EMSG_BAD_GID);
    tpc_gid_t g = { "bad id", 1, 1 };
    char buf[TPC_GID_MAX];
    CU_ASSERT_EQUAL (tpc_gid_format (&g, buf, sizeof buf), TPC_EINVAL);
    tpc_gid_t z = { "ok", 0, 1 };
    CU_ASSERT_EQUAL (tpc_gid_format (&z, buf, sizeof buf), TPC_EINVAL);
}

static void
test_strerror (void)
{
    CU_ASSERT_STRING_EQUAL (tpc_errname (TPC_EMSG_BAD_GID), "TPC_EMSG_BAD_GID");
    CU_ASSERT (strstr (tpc_strerror (TPC_ELOG_FAILED), "log") != NULL);
    CU_ASSERT_STRING_EQUAL (tpc_strerror (-99999), "unknown error code");
}

static void
test_name_valid (void)
{
    CU_ASSERT (tpc_name_valid ("db-1_A", 6, 64));
    CU_ASSERT (tpc_name_valid ("db1!", 3, 64));     /* only LEN bytes */
    CU_ASSERT_FALSE (tpc_name_valid ("db1!", 4, 64));
    CU_ASSERT_FALSE (tpc_name_valid ("", 0, 64));
    CU_ASSERT_FALSE (tpc_name_valid (NULL, 3, 64));
    CU_ASSERT_FALSE (tpc_name_valid ("a b", 3, 64));
    CU_ASSERT_FALSE (tpc_name_valid ("abcd", 4, 4)); /* no room for NUL */
    CU_ASSERT (tpc_name_valid ("abc", 3, 4));
}

static const tpc_test_case_t s_cases[] = {
    { "name_valid", test_name_valid },
    { "gid_round_trip", test_round_trip },
    { "gid_longest_fits", test_longest_fits },
    { "gid_bad_input", test_bad_input },
    { "error_text", test_strerror },
    { NULL, NULL }
};

int
main (void)
{
    const tpc_test_suite_t suites[] = {
        { "gid", NULL, NULL, s_cases },
        { NULL, NULL, NULL, NULL }
    };
    return tpc_test_main ("test_gid", suites);
}
