/*  tpc_msg_int.h: what the files of the message codec share (not installed).
 *
 *  The codec is one module over three files (SQLite-VDBE style), all
 *  driven by one field table:
 *    tpc_msg.c         the field table (tpcm_msgs[]) and the wire names,
 *                      new/destroy, the setters, names and strv helpers
 *    tpc_msg_decode.c  the decoder: UTF-8 check and raw scan, the field
 *                      stages (missing, type, unknown, value, gid), fill,
 *                      tpc_msg_decode, tpc_msg_peek_rid
 *    tpc_msg_encode.c  the encoder: tpc_msg_encode walks the same table
 *  Names with tpcm_ / TPCM_ are these files' shared internals; the wire
 *  format and the public contract are at the top of tpc_msg.h.
 */
#ifndef TPC_MSG_INT_H
#define TPC_MSG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tpc_msg.h"

#define TPCM_INT_MAX 9007199254740991.0     /* 2^53-1, exact in a double */

#define TPCM_COUNT(a) (sizeof (a) / sizeof ((a)[0]))

/*  --------------------------------------------------------------------
 *  The field table: what each message holds and how it maps to C.       */

/*  Enumerations: wire name of each value (NULL = no wire name).          */
typedef struct {
    const char *const *names;
    int count;
} tpcm_enum_t;

typedef enum {
    TPCM_U53,               /* uint64_t: integer 0 .. 2^53-1 */
    TPCM_AFFECTED,          /* int64_t: integer -1 .. 2^53-1 */
    TPCM_CODE,              /* int: integer INT_MIN .. -1 (a tpc_err_t) */
    TPCM_BOOL,              /* bool: true | false */
    TPCM_STR,               /* char *: string */
    TPCM_GID,               /* char *: string that tpc_gid_parse accepts */
    TPCM_ENUM,              /* enum (int): string naming an allowed value */
    TPCM_STRV,              /* char ** + size_t count: [string] */
    TPCM_GIDV,              /* char ** + size_t count: [gid] */
    TPCM_PARAMS,            /* char ** + size_t count: [string|null] */
    TPCM_ROWS,              /* tpc_msg_t cells + nrows: [[string|null]] */
    TPCM_STMTS,             /* tpc_stmt_t * + size_t count: [stmt] */
    TPCM_TXNS               /* tpc_txinfo_t * + size_t count: [txinfo] */
} tpcm_kind_t;

#define TPCM_REQ   1u       /* required */
#define TPCM_HAS   2u       /* optional, present iff the bool at has_off */
#define TPCM_GROUP 4u       /* all GROUP fields of an object come together */

typedef struct tpcm_object_s tpcm_object_t;

typedef struct {
    const char *name;           /* on the wire */
    tpcm_kind_t kind;
    unsigned flags;
    uint64_t max;               /* TPCM_U53: largest value (0 = 2^53-1) */
    const char *max_why;        /* ... and the sentence above it */
    size_t off;                 /* member, from the object's base */
    size_t count_off;           /* arrays: their size_t count */
    size_t has_off;             /* TPCM_HAS: the bool saying "present" */
    const tpcm_enum_t *en;      /* TPCM_ENUM: names */
    unsigned allowed;           /* TPCM_ENUM: bit per allowed value */
    const tpcm_object_t *sub;   /* TPCM_STMTS, TPCM_TXNS: element fields */
} tpcm_field_t;

struct tpcm_object_s {
    const char *name;           /* message type (for the top level) */
    const tpcm_field_t *fields;
    size_t nfields;
};

#define TPCM_BIT(v) (1u << (v))

/*  Typed access to a member at OFF bytes from BASE.                      */
#define TPCM_AT(base, off, type) ((type *) (void *) ((char *) (base) + (off)))
#define TPCM_CAT(base, off, type) \
    ((type const *) (const void *) ((const char *) (base) + (off)))

/*  Per message type: its wire name and its fields (tpc_msg.c).           */
extern const char *const tpcm_type_names[TPC_MSG_TYPE_COUNT];
extern const tpcm_object_t tpcm_msgs[TPC_MSG_TYPE_COUNT];

/*  0 if the LEN bytes at P are well-formed UTF-8 without NUL; else
 *  TPC_EMSG_NOT_UTF8 with *AT the offending offset and *WHY the reason
 *  (tpc_msg_decode.c; the encoder checks its strings with it too).       */
int tpcm_utf8_check (const unsigned char *p, size_t len, size_t *at,
                     const char **why);

#endif
