/*  test_crc32c: CRC-32C check values (RFC 3720 B.4), hardware = software
 *  at every alignment and length, chaining.                              */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "tpc_clock.h"
#include "tpc_crc32c.h"
#include "tpc_test.h"

static void
test_vectors (void)
{
    uint8_t buf[32];
    CU_ASSERT_EQUAL (tpc_crc32c (0, "123456789", 9), 0xE3069283u);
    CU_ASSERT_EQUAL (tpc_crc32c_sw (0, "123456789", 9), 0xE3069283u);
    CU_ASSERT_EQUAL (tpc_crc32c (0, "", 0), 0);
    memset (buf, 0, sizeof buf);
    CU_ASSERT_EQUAL (tpc_crc32c (0, buf, 32), 0x8A9136AAu);
    CU_ASSERT_EQUAL (tpc_crc32c_sw (0, buf, 32), 0x8A9136AAu);
    memset (buf, 0xFF, sizeof buf);
    CU_ASSERT_EQUAL (tpc_crc32c (0, buf, 32), 0x62A8AB43u);
    CU_ASSERT_EQUAL (tpc_crc32c_sw (0, buf, 32), 0x62A8AB43u);
    for (int i = 0; i < 32; i++)
        buf[i] = (uint8_t) i;
    CU_ASSERT_EQUAL (tpc_crc32c (0, buf, 32), 0x46DD794Eu);
    CU_ASSERT_EQUAL (tpc_crc32c_sw (0, buf, 32), 0x46DD794Eu);
    for (int i = 0; i < 32; i++)
        buf[i] = (uint8_t) (31 - i);
    CU_ASSERT_EQUAL (tpc_crc32c (0, buf, 32), 0x113FDB5Cu);
    CU_ASSERT_EQUAL (tpc_crc32c_sw (0, buf, 32), 0x113FDB5Cu);
}

static void
test_paths_agree (void)
{
    static uint8_t buf[4096 + 16];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof buf; i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (uint8_t) (x >> 16);
    }
    int differ = 0, chain_bad = 0;
    for (size_t align = 0; align < 8; align++)
        for (size_t len = 0; len <= 300; len++) {
            const uint8_t *p = buf + align;
            uint32_t a = tpc_crc32c (0, p, len);
            if (a != tpc_crc32c_sw (0, p, len))
                differ++;
            size_t cut = len / 3;
            if (tpc_crc32c (tpc_crc32c (0, p, cut), p + cut, len - cut) != a
                || tpc_crc32c_sw (tpc_crc32c_sw (0, p, cut), p + cut,
                                  len - cut) != a)
                chain_bad++;
        }
    CU_ASSERT_EQUAL (differ, 0);
    CU_ASSERT_EQUAL (chain_bad, 0);
    CU_ASSERT_EQUAL (tpc_crc32c (0, buf + 3, 4096), tpc_crc32c_sw (0, buf + 3, 4096));
    /* any single-bit change changes the CRC */
    uint32_t ref = tpc_crc32c (0, buf, 1024);
    int same = 0;
    for (size_t bit = 0; bit < 1024 * 8; bit++) {
        buf[bit / 8] ^= (uint8_t) (1u << (bit % 8));
        same += tpc_crc32c (0, buf, 1024) == ref;
        buf[bit / 8] ^= (uint8_t) (1u << (bit % 8));
    }
    CU_ASSERT_EQUAL (same, 0);
}

static double
s_mb_per_s (uint32_t (*fn) (uint32_t, const void *, size_t))
{
    static uint8_t buf[1 << 20];
    int64_t a = tpc_now_ns ();
    uint32_t c = 0;
    for (int i = 0; i < 32; i++)
        c = fn (c, buf, sizeof buf);
    double s = (double) (tpc_now_ns () - a) / 1e9;
    return c == 1 ? 0 : 32.0 / s;
}

static void
test_speed (void)
{
    printf ("\n  crc32c: %.0f MB/s (dispatch), %.0f MB/s (software)\n",
            s_mb_per_s (tpc_crc32c), s_mb_per_s (tpc_crc32c_sw));
}

static const tpc_test_case_t s_cases[] = {
    { "crc32c_vectors", test_vectors },
    { "crc32c_paths_agree", test_paths_agree },
    { "crc32c_speed", test_speed },
    { NULL, NULL }
};

int
main (void)
{
    const tpc_test_suite_t suites[] = {
        { "crc32c", NULL, NULL, s_cases },
        { NULL, NULL, NULL, NULL }
    };
    return tpc_test_main ("test_crc32c", suites);
}
