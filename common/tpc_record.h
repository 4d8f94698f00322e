/*  tpc_record: the coordinator's decision-log records (payload formats).
 *
 *  tpc_log stores (type, payload); this module gives the coordinator's
 *  types their byte layout.  All integers little-endian.
 *
 *    payload  := version:u8 (=1) body
 *    EPOCH    body := epoch:u64                  boot number, durable before
 *                                                the first gid of the boot
 *    COMMIT   body := gid:str nparts:u16 part:str*   the commit decision
 *    ABORT    body := gid:str nparts:u16 part:str*   abort (not forced)
 *    END      body := gid:str                    every participant acked
 *    PRECOMMIT body := gid:str nparts:u16 part:str*  3PC pre-commit
 *    HEURISTIC body := gid:str outcome:u8 (1 commit, 2 abort) reason:str
 *    str      := len:u16 bytes (no NUL; len <= 255 for gid and names)
 *
 *  Decoding is strict: wrong version, short body, trailing bytes or an
 *  invalid gid give TPC_ELOG_CORRUPT.
 */
#ifndef TPC_RECORD_H
#define TPC_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "tpc_gid.h"

#define TPC_RECORD_PARTS_MAX 64
#define TPC_RECORD_NAME_MAX 64     /* buffer size including NUL */

typedef enum {
    TPC_REC_EPOCH = 1,
    TPC_REC_COMMIT = 2,
    TPC_REC_ABORT = 3,
    TPC_REC_END = 4,
    TPC_REC_PRECOMMIT = 5,
    TPC_REC_HEURISTIC = 6,
} tpc_rec_type_t;

typedef struct {
    tpc_rec_type_t type;
    uint64_t epoch;                        /* EPOCH */
    char gid[TPC_GID_MAX];                 /* all but EPOCH */
    size_t nparts;                         /* COMMIT, ABORT, PRECOMMIT */
    char parts[TPC_RECORD_PARTS_MAX][TPC_RECORD_NAME_MAX];
    uint8_t outcome;                       /* HEURISTIC: 1 commit, 2 abort */
    char reason[256];                      /* HEURISTIC */
} tpc_record_t;

/*  Encode REC into BUF (SIZE bytes); *LEN gets the payload length.
 *  Returns 0 or TPC_EINVAL (bad field or buffer too small).             */
int tpc_record_encode (const tpc_record_t *rec, uint8_t *buf, size_t size,
                       size_t *len);

/*  Decode a payload of log record type TYPE.  Returns 0 or
 *  TPC_ELOG_CORRUPT.                                                     */
int tpc_record_decode (uint8_t type, const void *payload, size_t len,
                       tpc_record_t *out);

/*  Short name of a record type ("COMMIT") or "?".                       */
const char *tpc_record_type_name (uint8_t type);

#endif
