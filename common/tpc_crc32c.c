/*  tpc_crc32c: CRC-32C, hardware when available, slicing-by-8 otherwise.
 *
 *  The eight 256-entry tables are built once (pthread_once) and never
 *  written again; the hardware path needs no tables at all.  Both paths
 *  work on the inverted register; tpc_crc32c() inverts on entry and exit
 *  so that chaining calls works.
 */
#include "tpc_crc32c.h"

#include <pthread.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define S_HAVE_SSE42_PATH 1
#include <nmmintrin.h>
#endif

#define S_POLY 0x82F63B78u

static uint32_t s_table[8][256];
static pthread_once_t s_table_once = PTHREAD_ONCE_INIT;

static void
s_table_build (void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ S_POLY : c >> 1;
        s_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            s_table[t][i] = (s_table[t - 1][i] >> 8)
                            ^ s_table[0][s_table[t - 1][i] & 0xFF];
}

static uint32_t
s_sw (uint32_t c, const uint8_t *p, size_t len)
{
    pthread_once (&s_table_once, s_table_build);
    while (len && ((uintptr_t) p & 7)) {
        c = s_table[0][(c ^ *p++) & 0xFF] ^ (c >> 8);
        len--;
    }
    while (len >= 8) {
        /* little-endian load assembled by hand: correct on any host */
        uint32_t lo = (uint32_t) p[0] | (uint32_t) p[1] << 8
                      | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
        uint32_t hi = (uint32_t) p[4] | (uint32_t) p[5] << 8
                      | (uint32_t) p[6] << 16 | (uint32_t) p[7] << 24;
        lo ^= c;
        c = s_table[7][lo & 0xFF] ^ s_table[6][(lo >> 8) & 0xFF]
            ^ s_table[5][(lo >> 16) & 0xFF] ^ s_table[4][lo >> 24]
            ^ s_table[3][hi & 0xFF] ^ s_table[2][(hi >> 8) & 0xFF]
            ^ s_table[1][(hi >> 16) & 0xFF] ^ s_table[0][hi >> 24];
        p += 8;
        len -= 8;
    }
    while (len--)
        c = s_table[0][(c ^ *p++) & 0xFF] ^ (c >> 8);
    return c;
}

#ifdef S_HAVE_SSE42_PATH
__attribute__ ((target ("sse4.2"))) static uint32_t
s_hw (uint32_t c, const uint8_t *p, size_t len)
{
    while (len && ((uintptr_t) p & 7)) {
        c = _mm_crc32_u8 (c, *p++);
        len--;
    }
    uint64_t c64 = c;
    while (len >= 8) {
        uint64_t v;
        memcpy (&v, p, 8);
        c64 = _mm_crc32_u64 (c64, v);
        p += 8;
        len -= 8;
    }
    c = (uint32_t) c64;
    while (len--)
        c = _mm_crc32_u8 (c, *p++);
    return c;
}
#endif

uint32_t
tpc_crc32c (uint32_t crc, const void *buf, size_t len)
{
#ifdef S_HAVE_SSE42_PATH
    if (__builtin_cpu_supports ("sse4.2"))
        return ~s_hw (~crc, (const uint8_t *) buf, len);
#endif
    return ~s_sw (~crc, (const uint8_t *) buf, len);
}

uint32_t
tpc_crc32c_sw (uint32_t crc, const void *buf, size_t len)
{
    return ~s_sw (~crc, (const uint8_t *) buf, len);
}
