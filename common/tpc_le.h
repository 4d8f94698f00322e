/*  tpc_le: little-endian integers in byte buffers.
 *
 *  Every on-disk format of tpc (the decision log's segments and records,
 *  HIGHWATER, coordinator records, the agent's state records) stores its
 *  integers little-endian.  These are the one copy of the codec: put
 *  writes V at P, get reads it back; P needs 2, 4 or 8 bytes, no
 *  alignment.
 */
#ifndef TPC_LE_H
#define TPC_LE_H

#include <stdint.h>

static inline void
tpc_le_put16 (uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t) v;
    p[1] = (uint8_t) (v >> 8);
}

static inline void
tpc_le_put32 (uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t) (v >> (8 * i));
}

static inline void
tpc_le_put64 (uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t) (v >> (8 * i));
}

static inline uint16_t
tpc_le_get16 (const uint8_t *p)
{
    return (uint16_t) (p[0] | p[1] << 8);
}

static inline uint32_t
tpc_le_get32 (const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static inline uint64_t
tpc_le_get64 (const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

#endif
