/*  tpc_crc32c: CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the
 *  checksum of every decision-log header and record.
 *
 *  Uses the SSE4.2 crc32 instruction when the CPU has it and a
 *  slicing-by-8 table walk otherwise; both give identical results.
 *  Check value: tpc_crc32c (0, "123456789", 9) == 0xE3069283.
 */
#ifndef TPC_CRC32C_H
#define TPC_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/*  CRC-32C of LEN bytes at BUF, continuing from CRC (0 to start):
 *  tpc_crc32c (tpc_crc32c (0, a, n), b, m) is the CRC of a followed by b. */
uint32_t tpc_crc32c (uint32_t crc, const void *buf, size_t len);

/*  The same, always through the portable table code (for tests).          */
uint32_t tpc_crc32c_sw (uint32_t crc, const void *buf, size_t len);

#endif
