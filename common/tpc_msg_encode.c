/*  tpc_msg_encode: the encoder of tpc protocol messages.  It walks the
 *  field table of tpc_msg.c (the wire format is at the top of tpc_msg.h)
 *  and refuses what the decoder would refuse, so a message it emits
 *  always decodes.  cJSON's own number printer rounds integers above
 *  10^15, so integers are emitted as raw text with PRId64.
 */
#include "tpc_msg_int.h"
#include "tpc_error.h"
#include "tpc_gid.h"

#include <assert.h>
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static bool
s_str_ok (const char *s)
{
    size_t at;
    const char *why;
    return s && tpcm_utf8_check ((const unsigned char *) s, strlen (s), &at,
                                 &why) == 0;
}

/*  Add ITEM (owned) under NAME to OUT; TPC_ENOMEM if either fails.       */
static int
s_add (cJSON *out, const char *name, cJSON *item)
{
    if (!item)
        return TPC_ENOMEM;
    if (!cJSON_AddItemToObject (out, name, item)) {
        cJSON_Delete (item);
        return TPC_ENOMEM;
    }
    return 0;
}

static int
s_push (cJSON *array, cJSON *item)
{
    if (!item)
        return TPC_ENOMEM;
    if (!cJSON_AddItemToArray (array, item)) {
        cJSON_Delete (item);
        return TPC_ENOMEM;
    }
    return 0;
}

static cJSON *
s_raw_i64 (int64_t v)
{
    char text[32];
    snprintf (text, sizeof text, "%" PRId64, v);
    return cJSON_CreateRaw (text);
}

/*  A JSON array of N strings of V; NULL elements become null when
 *  NULLS, else make the encoder refuse.  *ARRAY_OUT gets the array.      */
static int
s_emit_strv (char *const *v, size_t n, bool nulls, bool gids,
             cJSON **array_out)
{
    *array_out = NULL;
    if ((n && !v) || n > TPC_MSG_MAX_ITEMS)
        return TPC_EINVAL;
    cJSON *a = cJSON_CreateArray ();
    if (!a)
        return TPC_ENOMEM;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (!v[i])
            rc = nulls ? s_push (a, cJSON_CreateNull ()) : TPC_EINVAL;
        else if (!s_str_ok (v[i]) || (gids && tpc_gid_parse (v[i], NULL)))
            rc = TPC_EINVAL;
        else
            rc = s_push (a, cJSON_CreateString (v[i]));
    }
    if (rc) {
        cJSON_Delete (a);
        return rc;
    }
    *array_out = a;
    return 0;
}

static int s_emit_object (const tpcm_object_t *obj, const void *base,
                          cJSON *out);

/*  Is optional field F of BASE set (see ENCODER in tpc_msg.h)?           */
static bool
s_is_set (const tpcm_field_t *f, const void *base)
{
    if (f->flags & TPCM_REQ)
        return true;
    if (f->flags & TPCM_HAS)
        return *TPCM_CAT (base, f->has_off, bool);
    switch (f->kind) {
    case TPCM_STR: case TPCM_GID:
        return *TPCM_CAT (base, f->off, char *) != NULL;
    case TPCM_U53:
        return *TPCM_CAT (base, f->off, uint64_t) != 0;
    case TPCM_STRV: case TPCM_GIDV: case TPCM_PARAMS:
        return *TPCM_CAT (base, f->count_off, size_t) != 0;
    default:
        assert (!"optional field kind without a presence rule");
        return false;
    }
}

/*  Emit field F of BASE into OUT.                                        */
static int
s_emit_field (const tpcm_field_t *f, const void *base, cJSON *out)
{
    cJSON *item = NULL;
    int rc = 0;
    switch (f->kind) {
    case TPCM_U53: {
        uint64_t v = *TPCM_CAT (base, f->off, uint64_t);
        if (v > (uint64_t) TPCM_INT_MAX || (f->max && v > f->max))
            return TPC_EINVAL;
        return s_add (out, f->name, s_raw_i64 ((int64_t) v));
    }
    case TPCM_AFFECTED: {
        int64_t v = *TPCM_CAT (base, f->off, int64_t);
        if (v < -1 || v > (int64_t) TPCM_INT_MAX)
            return TPC_EINVAL;
        return s_add (out, f->name, s_raw_i64 (v));
    }
    case TPCM_CODE: {
        int v = *TPCM_CAT (base, f->off, int);
        if (v >= 0)
            return TPC_EINVAL;
        return s_add (out, f->name, s_raw_i64 (v));
    }
    case TPCM_BOOL:
        return s_add (out, f->name,
                      cJSON_CreateBool (*TPCM_CAT (base, f->off, bool)));
    case TPCM_STR: case TPCM_GID: {
        const char *s = *TPCM_CAT (base, f->off, char *);
        if (!s_str_ok (s) || (f->kind == TPCM_GID && tpc_gid_parse (s, NULL)))
            return TPC_EINVAL;
        return s_add (out, f->name, cJSON_CreateString (s));
    }
    case TPCM_ENUM: {
        int v;
        memcpy (&v, TPCM_CAT (base, f->off, int), sizeof v);
        if (v < 0 || v >= f->en->count || !f->en->names[v]
            || !(f->allowed & TPCM_BIT (v)))
            return TPC_EINVAL;
        return s_add (out, f->name, cJSON_CreateString (f->en->names[v]));
    }
    case TPCM_STRV: case TPCM_GIDV: case TPCM_PARAMS:
        if (f->kind == TPCM_GIDV && f->max
            && *TPCM_CAT (base, f->count_off, size_t) > f->max)
            return TPC_EINVAL;  /* decides, acks: TPC_MSG_BATCH_MAX */
        rc = s_emit_strv (*TPCM_CAT (base, f->off, char **),
                          *TPCM_CAT (base, f->count_off, size_t),
                          f->kind == TPCM_PARAMS, f->kind == TPCM_GIDV, &item);
        return rc ? rc : s_add (out, f->name, item);
    case TPCM_ROWS: {
        const tpc_msg_t *m = base;
        if (m->ncolumns > TPC_MSG_MAX_ITEMS || m->nrows > TPC_MSG_MAX_ITEMS
            || m->nrows * m->ncolumns > TPC_MSG_MAX_ITEMS
            || (m->nrows * m->ncolumns != 0 && !m->cells))
            return TPC_EINVAL;
        if (!(item = cJSON_CreateArray ()))
            return TPC_ENOMEM;
        for (size_t r = 0; r < m->nrows && rc == 0; r++) {
            cJSON *row;
            rc = s_emit_strv (m->cells + r * m->ncolumns, m->ncolumns, true,
                              false, &row);
            if (rc == 0)
                rc = s_push (item, row);
        }
        if (rc) {
            cJSON_Delete (item);
            return rc;
        }
        return s_add (out, f->name, item);
    }
    case TPCM_STMTS: case TPCM_TXNS: {
        size_t n = *TPCM_CAT (base, f->count_off, size_t);
        size_t size = f->kind == TPCM_STMTS ? sizeof (tpc_stmt_t)
                                         : sizeof (tpc_txinfo_t);
        const char *elems = *TPCM_CAT (base, f->off, char *);
        if ((n && !elems) || n > TPC_MSG_MAX_ITEMS)
            return TPC_EINVAL;
        if (!(item = cJSON_CreateArray ()))
            return TPC_ENOMEM;
        for (size_t i = 0; i < n && rc == 0; i++) {
            cJSON *o = cJSON_CreateObject ();
            rc = s_push (item, o);
            if (rc == 0)
                rc = s_emit_object (f->sub, elems + i * size, o);
        }
        if (rc) {
            cJSON_Delete (item);
            return rc;
        }
        return s_add (out, f->name, item);
    }
    }
    return TPC_EINVAL;
}

static int
s_emit_object (const tpcm_object_t *obj, const void *base, cJSON *out)
{
    for (size_t i = 0; i < obj->nfields; i++) {
        const tpcm_field_t *f = &obj->fields[i];
        if (!s_is_set (f, base))
            continue;
        int rc = s_emit_field (f, base, out);
        if (rc)
            return rc;
    }
    return 0;
}

/*  The "v" a message says when its version member is 0: the oldest
 *  version that defines its type, so a peer of version 1 (an older libtpc
 *  or tpcctl) still reads every reply it can understand; a hello says
 *  this side's version (the coordinator refuses an older agent by it).  */
static uint64_t
s_version_of (tpc_msg_type_t type)
{
    switch (type) {
    case TPC_MSG_HELLO:
        return TPC_PROTOCOL_VERSION;
    case TPC_MSG_DECIDES:
    case TPC_MSG_ACKS:
    case TPC_MSG_PRECOMMITS:
        return 2;
    default:
        return 1;
    }
}

int
tpc_msg_encode (const tpc_msg_t *self, char **out, size_t *len)
{
    assert (out && len);
    *out = NULL;
    *len = 0;
    if (!self || self->type <= TPC_MSG_NONE
        || self->type >= TPC_MSG_TYPE_COUNT)
        return TPC_EINVAL;
    int rc = TPC_ENOMEM;
    cJSON *root = cJSON_CreateObject ();
    if (!root)
        goto cleanup;
    if ((rc = s_add (root, "v", s_raw_i64 (
                       self->version ? (int64_t) self->version
                                     : (int64_t) s_version_of (self->type))))
        || (rc = s_add (root, "type",
                        cJSON_CreateString (tpcm_type_names[self->type])))
        || (rc = s_emit_object (&tpcm_msgs[self->type], self, root)))
        goto cleanup;
    char *text = cJSON_PrintUnformatted (root);
    if (!text) {
        rc = TPC_ENOMEM;
        goto cleanup;
    }
    *out = text;
    *len = strlen (text);
    rc = 0;
cleanup:
    cJSON_Delete (root);
    return rc;
}
