/*  tpc_gid: format and strict parse of gids (see tpc_gid.h for the text). */
#include "tpc_gid.h"
#include "tpc_error.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

int
tpc_coord_id_valid (const char *id)
{
    if (!id)
        return TPC_EINVAL;
    size_t n = strlen (id);
    if (n == 0 || n >= TPC_COORD_ID_MAX)
        return TPC_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!isalnum ((unsigned char) id[i]))
            return TPC_EINVAL;
    return 0;
}

bool
tpc_name_valid (const char *name, size_t len, size_t max)
{
    if (!name || len == 0 || len >= max)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return false;
    }
    return true;
}

int
tpc_gid_format (const tpc_gid_t *gid, char *buf, size_t size)
{
    if (!gid || !buf || tpc_coord_id_valid (gid->coord) || gid->epoch == 0
        || gid->seq == 0)
        return TPC_EINVAL;
    int n = snprintf (buf, size, TPC_GID_PREFIX "%s_%" PRIu64 "_%" PRIu64,
                      gid->coord, gid->epoch, gid->seq);
    if (n < 0 || (size_t) n >= size)
        return TPC_EINVAL;
    return 0;
}

/*  Parse a decimal uint64 without sign or leading zeros, ending at END.   */
static int
s_parse_u64 (const char *p, const char *end, uint64_t *out)
{
    if (p == end || (*p == '0' && end - p > 1) || end - p > 20)
        return -1;
    uint64_t v = 0;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        unsigned d = (unsigned) (*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    if (v == 0)
        return -1;
    *out = v;
    return 0;
}

int
tpc_gid_parse (const char *text, tpc_gid_t *out)
{
    tpc_gid_t g;
    memset (&g, 0, sizeof g);
    if (!text || strncmp (text, TPC_GID_PREFIX, strlen (TPC_GID_PREFIX)) != 0)
        return TPC_EMSG_BAD_GID;
    size_t len = strnlen (text, TPC_GID_MAX);
    if (len >= TPC_GID_MAX)
        return TPC_EMSG_BAD_GID;
    const char *coord = text + strlen (TPC_GID_PREFIX);
    const char *u1 = strchr (coord, '_');
    if (!u1)
        return TPC_EMSG_BAD_GID;
    const char *u2 = strchr (u1 + 1, '_');
    if (!u2 || strchr (u2 + 1, '_'))
        return TPC_EMSG_BAD_GID;
    size_t clen = (size_t) (u1 - coord);
    if (clen == 0 || clen >= TPC_COORD_ID_MAX)
        return TPC_EMSG_BAD_GID;
    memcpy (g.coord, coord, clen);
    g.coord[clen] = '\0';
    if (tpc_coord_id_valid (g.coord)
        || s_parse_u64 (u1 + 1, u2, &g.epoch)
        || s_parse_u64 (u2 + 1, text + len, &g.seq))
        return TPC_EMSG_BAD_GID;
    if (out)
        *out = g;
    return 0;
}
