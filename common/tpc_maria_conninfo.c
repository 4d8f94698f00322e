/*  tpc_maria_conninfo: parse the MariaDB connection line (see .h).      */
#include "tpc_maria_conninfo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tpc_error.h"

typedef struct {
    const char *key;
    size_t off, size;
} s_key_t;

#define S_KEY(k) { #k, offsetof (tpc_maria_conninfo_t, k), \
                   sizeof ((tpc_maria_conninfo_t *) 0)->k }

int
tpc_maria_conninfo_parse (const char *line, tpc_maria_conninfo_t *ci,
                          char *errbuf, size_t errlen)
{
    static const s_key_t keys[] = {
        S_KEY (host), S_KEY (user), S_KEY (password), S_KEY (database),
        S_KEY (socket),
    };
    int rc = TPC_EINVAL;
    unsigned seen = 0;
    memset (ci, 0, sizeof *ci);
    const char *p = line;
    for (;;) {
        p += strspn (p, " \t\r");
        if (!*p || *p == '\n')
            break;
        size_t len = strcspn (p, " \t\r\n");
        const char *eq = memchr (p, '=', len);
        if (!eq) {
            snprintf (errbuf, errlen, "maria conninfo: a word without '=' "
                      "(want key=value)");
            goto cleanup;
        }
        size_t klen = (size_t) (eq - p), vlen = len - klen - 1;
        const char *val = eq + 1;
        if (klen == 4 && !memcmp (p, "port", 4)) {
            char num[8];
            char *end;
            if (seen & 1u << 5 || vlen == 0 || vlen >= sizeof num)
                goto bad_port;
            memcpy (num, val, vlen);
            num[vlen] = '\0';
            unsigned long v = strtoul (num, &end, 10);
            if (*end || v < 1 || v > 65535)
                goto bad_port;
            ci->port = (unsigned) v;
            seen |= 1u << 5;
        }
        else {
            size_t i;
            for (i = 0; i < sizeof keys / sizeof keys[0]; i++)
                if (strlen (keys[i].key) == klen
                    && !memcmp (keys[i].key, p, klen))
                    break;
            if (i == sizeof keys / sizeof keys[0]) {
                snprintf (errbuf, errlen, "maria conninfo: unknown key "
                          "'%.*s' (host port user password database "
                          "socket)", (int) (klen > 32 ? 32 : klen), p);
                goto cleanup;
            }
            if (seen & 1u << i) {
                snprintf (errbuf, errlen, "maria conninfo: %s given twice",
                          keys[i].key);
                goto cleanup;
            }
            if (vlen >= keys[i].size) {
                snprintf (errbuf, errlen, "maria conninfo: %s too long "
                          "(at most %zu bytes)", keys[i].key,
                          keys[i].size - 1);
                goto cleanup;
            }
            char *dst = (char *) ci + keys[i].off;
            memcpy (dst, val, vlen);
            dst[vlen] = '\0';
            seen |= 1u << i;
        }
        p += len;
    }
    if (!*ci->database) {
        snprintf (errbuf, errlen, "maria conninfo: database= is required");
        goto cleanup;
    }
    if (!*ci->host && !*ci->socket) {
        snprintf (errbuf, errlen, "maria conninfo: give host= (and port=) "
                  "or socket=");
        goto cleanup;
    }
    rc = 0;
    goto cleanup;
bad_port:
    snprintf (errbuf, errlen, "maria conninfo: port must be 1 to 65535, "
              "once");
cleanup:
    return rc;
}
