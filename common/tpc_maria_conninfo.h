/*  tpc_maria_conninfo: the MariaDB connection line of tpc-participant
 *  --backend maria (its --maria-file, first line) and of scripts/mariatmp.
 *
 *  FORMAT: one line of space-separated key=value pairs, keys from
 *      host= port= user= password= database= socket=
 *  in any order, each at most once, values without spaces (an empty value
 *  is allowed: "password=").  Either host (an IP address, or a name that
 *  Connector/C resolves BLOCKING) with an optional port (default 3306), or
 *  socket (a path).  database is required.  Example (scripts/mariatmp):
 *      host=127.0.0.1 port=31396 user=root database=tpc
 *  Unknown keys, a missing '=' or a port outside 1..65535 are errors.
 */
#ifndef TPC_MARIA_CONNINFO_H
#define TPC_MARIA_CONNINFO_H

#include <stddef.h>

typedef struct {
    char host[256];
    unsigned port;              /* 0 = Connector/C's default (3306) */
    char user[128];
    char password[256];
    char database[65];
    char socket[256];
} tpc_maria_conninfo_t;

/*  Parse LINE (up to its first newline) into CI.  0, or TPC_EINVAL with a
 *  sentence in ERRBUF (the password is never quoted).                    */
int tpc_maria_conninfo_parse (const char *line, tpc_maria_conninfo_t *ci,
                              char *errbuf, size_t errlen);

#endif
