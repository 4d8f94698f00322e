/*  tpc_gid: global transaction ids.
 *
 *  A gid names one distributed transaction everywhere: in the coordinator's
 *  log, on the wire, and as the PostgreSQL prepared-transaction gid.  Text:
 *
 *      tpc_<coord>_<epoch>_<seq>
 *
 *  coord   the owning coordinator's id, 1..32 of [A-Za-z0-9] (no '_', so the
 *          split is unambiguous);
 *  epoch   decimal, no leading zeros: the coordinator's boot number, made
 *          durable in its log before the first gid of that boot is issued,
 *          so a restarted coordinator never reissues a gid;
 *  seq     decimal, no leading zeros, 1.. within the epoch.
 *
 *  At most TPC_GID_MAX-1 = 79 bytes, well under PostgreSQL's 200, and only
 *  [A-Za-z0-9_] so it needs no quoting care in SQL.  The prefix "tpc_" lets
 *  an agent list exactly the prepared transactions tpc owns.
 */
#ifndef TPC_GID_H
#define TPC_GID_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#define TPC_GID_MAX 80          /* buffer size including the NUL */
#define TPC_COORD_ID_MAX 33     /* buffer size including the NUL */
#define TPC_GID_PREFIX "tpc_"

typedef struct {
    char coord[TPC_COORD_ID_MAX];
    uint64_t epoch;
    uint64_t seq;
} tpc_gid_t;

/*  0 if ID is a valid coordinator id, else TPC_EINVAL.                    */
int tpc_coord_id_valid (const char *id);

/*  True if NAME[0..LEN) is a valid agent name: 1..MAX-1 bytes of
 *  [A-Za-z0-9_-] (MAX is the caller's buffer size, NUL included).  One
 *  rule for the log, the engine, CURVE key files and the agent socket.   */
bool tpc_name_valid (const char *name, size_t len, size_t max);

/*  Write the text of GID into BUF (TPC_GID_MAX bytes).  Returns 0 or
 *  TPC_EINVAL when the coordinator id is invalid or epoch/seq is 0.       */
int tpc_gid_format (const tpc_gid_t *gid, char *buf, size_t size);

/*  Parse TEXT strictly.  Returns 0 and fills OUT (may be NULL to only
 *  validate), or TPC_EMSG_BAD_GID.                                        */
int tpc_gid_parse (const char *text, tpc_gid_t *out);

#endif
