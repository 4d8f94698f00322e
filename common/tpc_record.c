/*  tpc_record: encode/decode the coordinator's log payloads.
 *
 *  Byte layout (little-endian) in tpc_record.h:
 *    payload := version:u8 (=1) body;  str := len:u16 bytes (no NUL).
 *  Limits enforced both ways: gid a valid gid (tpc_gid_parse), participant
 *  names 1..TPC_RECORD_NAME_MAX-1 bytes, at most TPC_RECORD_PARTS_MAX of
 *  them, reason 0..255 bytes, epoch >= 1, outcome 1 or 2, no NUL inside a
 *  string.  Anything else decodes as TPC_ELOG_CORRUPT.
 */
#include "tpc_record.h"

#include <stdbool.h>
#include <string.h>

#include "tpc_error.h"
#include "tpc_le.h"

#define S_VERSION 1

typedef struct {
    uint8_t *p;
    size_t size;
    size_t n;
    bool overflow;
} s_out_t;

static void
s_put (s_out_t *o, const void *src, size_t len)
{
    if (o->overflow || o->size - o->n < len) {
        o->overflow = true;
        return;
    }
    memcpy (o->p + o->n, src, len);
    o->n += len;
}

static void
s_put_u8 (s_out_t *o, uint8_t v)
{
    s_put (o, &v, 1);
}

static void
s_put_u16 (s_out_t *o, uint16_t v)
{
    uint8_t b[2];
    tpc_le_put16 (b, v);
    s_put (o, b, 2);
}

static void
s_put_u64 (s_out_t *o, uint64_t v)
{
    uint8_t b[8];
    tpc_le_put64 (b, v);
    s_put (o, b, 8);
}

/*  A string field: MIN..MAX bytes, no NUL (strnlen bounds the look).     */
static int
s_put_str (s_out_t *o, const char *s, size_t bufsize, size_t min, size_t max)
{
    size_t len = strnlen (s, bufsize);
    if (len == bufsize || len < min || len > max)
        return TPC_EINVAL;
    s_put_u16 (o, (uint16_t) len);
    s_put (o, s, len);
    return 0;
}

static int
s_put_gid (s_out_t *o, const char *gid)
{
    if (strnlen (gid, TPC_GID_MAX) == TPC_GID_MAX || tpc_gid_parse (gid, NULL))
        return TPC_EINVAL;
    return s_put_str (o, gid, TPC_GID_MAX, 1, TPC_GID_MAX - 1);
}

static int
s_put_parts (s_out_t *o, const tpc_record_t *rec)
{
    if (rec->nparts > TPC_RECORD_PARTS_MAX)
        return TPC_EINVAL;
    s_put_u16 (o, (uint16_t) rec->nparts);
    for (size_t i = 0; i < rec->nparts; i++)
        if (s_put_str (o, rec->parts[i], TPC_RECORD_NAME_MAX, 1,
                       TPC_RECORD_NAME_MAX - 1))
            return TPC_EINVAL;
    return 0;
}

int
tpc_record_encode (const tpc_record_t *rec, uint8_t *buf, size_t size,
                   size_t *len)
{
    if (!rec || !buf || !len)
        return TPC_EINVAL;
    s_out_t o = { buf, size, 0, false };
    int rc = 0;
    s_put_u8 (&o, S_VERSION);
    switch (rec->type) {
    case TPC_REC_EPOCH:
        if (rec->epoch == 0)
            return TPC_EINVAL;
        s_put_u64 (&o, rec->epoch);
        break;
    case TPC_REC_COMMIT:
    case TPC_REC_ABORT:
    case TPC_REC_PRECOMMIT:
        rc = s_put_gid (&o, rec->gid);
        if (!rc)
            rc = s_put_parts (&o, rec);
        break;
    case TPC_REC_END:
        rc = s_put_gid (&o, rec->gid);
        break;
    case TPC_REC_HEURISTIC:
        if (rec->outcome != 1 && rec->outcome != 2)
            return TPC_EINVAL;
        rc = s_put_gid (&o, rec->gid);
        s_put_u8 (&o, rec->outcome);
        if (!rc)
            rc = s_put_str (&o, rec->reason, sizeof rec->reason, 0,
                            sizeof rec->reason - 1);
        break;
    default:
        return TPC_EINVAL;
    }
    if (rc || o.overflow)
        return TPC_EINVAL;
    *len = o.n;
    return 0;
}

typedef struct {
    const uint8_t *p;
    size_t len;
    size_t n;
    bool bad;
} s_in_t;

static const uint8_t *
s_take (s_in_t *in, size_t len)
{
    if (in->bad || in->len - in->n < len) {
        in->bad = true;
        return NULL;
    }
    const uint8_t *p = in->p + in->n;
    in->n += len;
    return p;
}

static uint8_t
s_get_u8 (s_in_t *in)
{
    const uint8_t *p = s_take (in, 1);
    return p ? p[0] : 0;
}

static uint16_t
s_get_u16 (s_in_t *in)
{
    const uint8_t *p = s_take (in, 2);
    return p ? tpc_le_get16 (p) : 0;
}

static uint64_t
s_get_u64 (s_in_t *in)
{
    const uint8_t *p = s_take (in, 8);
    return p ? tpc_le_get64 (p) : 0;
}

/*  Read a string of MIN..BUFSIZE-1 bytes without NUL into OUT.           */
static void
s_get_str (s_in_t *in, char *out, size_t bufsize, size_t min)
{
    size_t len = s_get_u16 (in);
    const uint8_t *p = in->bad ? NULL : s_take (in, len);
    if (!p || len < min || len >= bufsize || memchr (p, 0, len)) {
        in->bad = true;
        out[0] = '\0';
        return;
    }
    memcpy (out, p, len);
    out[len] = '\0';
}

static void
s_get_gid (s_in_t *in, char *out)
{
    s_get_str (in, out, TPC_GID_MAX, 1);
    if (!in->bad && tpc_gid_parse (out, NULL))
        in->bad = true;
}

static void
s_get_parts (s_in_t *in, tpc_record_t *out)
{
    size_t n = s_get_u16 (in);
    if (n > TPC_RECORD_PARTS_MAX) {
        in->bad = true;
        return;
    }
    out->nparts = n;
    for (size_t i = 0; i < n && !in->bad; i++)
        s_get_str (in, out->parts[i], TPC_RECORD_NAME_MAX, 1);
}

int
tpc_record_decode (uint8_t type, const void *payload, size_t len,
                   tpc_record_t *out)
{
    if (!out || (len && !payload))
        return TPC_EINVAL;
    memset (out, 0, sizeof *out);
    s_in_t in = { payload, len, 0, false };
    if (s_get_u8 (&in) != S_VERSION)
        return TPC_ELOG_CORRUPT;
    out->type = (tpc_rec_type_t) type;
    switch (type) {
    case TPC_REC_EPOCH:
        out->epoch = s_get_u64 (&in);
        if (out->epoch == 0)
            in.bad = true;
        break;
    case TPC_REC_COMMIT:
    case TPC_REC_ABORT:
    case TPC_REC_PRECOMMIT:
        s_get_gid (&in, out->gid);
        s_get_parts (&in, out);
        break;
    case TPC_REC_END:
        s_get_gid (&in, out->gid);
        break;
    case TPC_REC_HEURISTIC:
        s_get_gid (&in, out->gid);
        out->outcome = s_get_u8 (&in);
        if (out->outcome != 1 && out->outcome != 2)
            in.bad = true;
        s_get_str (&in, out->reason, sizeof out->reason, 0);
        break;
    default:
        in.bad = true;
    }
    if (in.bad || in.n != len) {
        memset (out, 0, sizeof *out);
        return TPC_ELOG_CORRUPT;
    }
    return 0;
}

const char *
tpc_record_type_name (uint8_t type)
{
    switch (type) {
    case TPC_REC_EPOCH: return "EPOCH";
    case TPC_REC_COMMIT: return "COMMIT";
    case TPC_REC_ABORT: return "ABORT";
    case TPC_REC_END: return "END";
    case TPC_REC_PRECOMMIT: return "PRECOMMIT";
    case TPC_REC_HEURISTIC: return "HEURISTIC";
    default: return "?";
    }
}
