/*  tpc_msg_decode: the strict, bounded decoder of tpc protocol messages,
 *  and tpc_msg_peek_rid (the wire format is at the top of tpc_msg.h; the
 *  field table it checks against is in tpc_msg.c).
 *
 *  Decoding is a pipeline; the first stage that fails decides the code:
 *
 *      size -> UTF-8 -> raw scan (depth, strict lexis) -> cJSON parse
 *      -> trailing bytes -> object? -> "v" -> "type"
 *      -> fields: missing -> JSON type -> unknown -> value -> gid -> fill
 *
 *  Each field stage walks the whole tree (nested stmts and txns too)
 *  before the next begins, so a missing field anywhere is reported before
 *  a wrong type anywhere.  The raw scan runs before cJSON so a deeply
 *  nested input never reaches cJSON's recursive parser, and it refuses
 *  what cJSON is lenient about (raw control bytes, leading zeros, bad \u
 *  escapes that cJSON would turn into NUL, a byte-order mark).
 *
 *  cJSON returns NULL both for bad JSON and for an allocation failure
 *  while parsing; the two cannot be told apart, so the latter also reads
 *  as TPC_EMSG_SYNTAX.  Every other allocation failure is TPC_ENOMEM.
 */
#include "tpc_msg_int.h"
#include "tpc_error.h"
#include "tpc_gid.h"

#include <assert.h>
#include <cjson/cJSON.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*  --------------------------------------------------------------------
 *  UTF-8 and the raw scan.                                               */

int
tpcm_utf8_check (const unsigned char *p, size_t len, size_t *at,
                 const char **why)
{
    size_t i = 0;
    while (i < len) {
        /* ASCII without NUL, eight bytes at a time: every message is
         * checked whole, and almost all of its bytes are that          */
        const uint64_t ones = 0x0101010101010101u, highs = ones << 7;
        uint64_t v;
        while (len - i >= 8
               && (memcpy (&v, p + i, 8),
                   ((v | ((v | highs) - ones)) & highs) == highs
                   && !(v & highs)))
            i += 8;
        if (i >= len)
            break;
        unsigned char c = p[i];
        size_t need;
        unsigned char lo = 0x80, hi = 0xBF;     /* range of the 2nd byte */
        *at = i;
        if (c == 0) {
            *why = "NUL byte";
            return TPC_EMSG_NOT_UTF8;
        }
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c < 0xC2) {
            *why = c < 0xC0 ? "stray continuation byte" : "overlong encoding";
            return TPC_EMSG_NOT_UTF8;
        }
        if (c < 0xE0)
            need = 1;
        else if (c < 0xF0) {
            need = 2;
            if (c == 0xE0)
                lo = 0xA0;              /* below: overlong */
            else if (c == 0xED)
                hi = 0x9F;              /* above: UTF-16 surrogate */
        }
        else if (c < 0xF5) {
            need = 3;
            if (c == 0xF0)
                lo = 0x90;              /* below: overlong */
            else if (c == 0xF4)
                hi = 0x8F;              /* above: > U+10FFFF */
        }
        else {
            *why = "code point above U+10FFFF";
            return TPC_EMSG_NOT_UTF8;
        }
        if (len - i - 1 < need) {
            *why = "truncated sequence";
            return TPC_EMSG_NOT_UTF8;
        }
        if (p[i + 1] < lo || p[i + 1] > hi) {
            if (p[i + 1] < 0x80 || p[i + 1] > 0xBF)
                *why = "truncated sequence";
            else if (c == 0xED)
                *why = "UTF-16 surrogate";
            else if (c == 0xF4)
                *why = "code point above U+10FFFF";
            else
                *why = "overlong encoding";
            return TPC_EMSG_NOT_UTF8;
        }
        for (size_t k = 2; k <= need; k++)
            if (p[i + k] < 0x80 || p[i + k] > 0xBF) {
                *why = "truncated sequence";
                return TPC_EMSG_NOT_UTF8;
            }
        i += need + 1;
    }
    return 0;
}

static bool
s_is_digit (unsigned char c)
{
    return c >= '0' && c <= '9';
}

static bool
s_is_hex (unsigned char c)
{
    return s_is_digit (c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/*  Does the run of LEN bytes at P follow the JSON number grammar
 *  -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? exactly?              */
static bool
s_number_ok (const unsigned char *p, size_t len)
{
    size_t k = 0;
    if (k < len && p[k] == '-')
        k++;
    if (k >= len || !s_is_digit (p[k]))
        return false;
    if (p[k++] != '0')
        while (k < len && s_is_digit (p[k]))
            k++;
    if (k < len && p[k] == '.') {
        size_t d = ++k;
        while (k < len && s_is_digit (p[k]))
            k++;
        if (k == d)
            return false;
    }
    if (k < len && (p[k] == 'e' || p[k] == 'E')) {
        k++;
        if (k < len && (p[k] == '+' || p[k] == '-'))
            k++;
        size_t d = k;
        while (k < len && s_is_digit (p[k]))
            k++;
        if (k == d)
            return false;
    }
    return k == len;
}

static bool
s_is_number_byte (unsigned char c)
{
    return s_is_digit (c) || c == '+' || c == '-' || c == '.' || c == 'e'
           || c == 'E';
}

/*  What the raw scan found; offsets are SIZE_MAX when nothing.           */
typedef struct {
    size_t nul_at;              /* an escaped U+0000 */
    size_t deep_at;             /* the first container past max_depth */
    size_t syntax_at;           /* the first lexical fault ... */
    const char *syntax_why;     /* ... and what it is */
} s_scan_t;

static void
s_syntax (s_scan_t *r, size_t at, const char *why)
{
    if (r->syntax_at == SIZE_MAX) {
        r->syntax_at = at;
        r->syntax_why = why;
    }
}

/*  Scan all LEN raw bytes once: outside strings count container depth
 *  and check tokens, inside strings follow escapes.  Linear, no
 *  recursion; the caller ranks what it finds (NUL, depth, syntax).       */
static void
s_scan (const unsigned char *p, size_t len, int max_depth, s_scan_t *r)
{
    size_t depth = 0;
    r->nul_at = r->deep_at = r->syntax_at = SIZE_MAX;
    r->syntax_why = NULL;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = p[i];
        if (c == '"') {
            for (i++; i < len && p[i] != '"'; i++) {
                if (p[i] < 0x20)
                    s_syntax (r, i, "raw control character in a string");
                if (p[i] != '\\')
                    continue;
                if (i + 1 >= len)
                    break;              /* unterminated: cJSON refuses */
                unsigned char e = p[++i];
                if (e == 'u') {
                    if (len - i < 5 || !s_is_hex (p[i + 1])
                        || !s_is_hex (p[i + 2]) || !s_is_hex (p[i + 3])
                        || !s_is_hex (p[i + 4])) {
                        s_syntax (r, i - 1,
                                  "\\u not followed by four hex digits");
                        continue;
                    }
                    if (!memcmp (p + i + 1, "0000", 4)
                        && r->nul_at == SIZE_MAX)
                        r->nul_at = i - 1;
                    i += 4;
                }
                else if (!strchr ("\"\\/bfnrt", e) || e == '\0')
                    s_syntax (r, i - 1, "unknown escape");
            }
            continue;
        }
        if (c == '{' || c == '[') {
            if (++depth > (size_t) max_depth && r->deep_at == SIZE_MAX)
                r->deep_at = i;
        }
        else if (c == '}' || c == ']') {
            if (depth > 0)
                depth--;
        }
        else if (c == '-' || s_is_digit (c)) {
            size_t j = i;
            while (j < len && s_is_number_byte (p[j]))
                j++;
            if (!s_number_ok (p + i, j - i))
                s_syntax (r, i, "malformed number");
            i = j - 1;
        }
        else if (!(c == ' ' || c == '\t' || c == '\n' || c == '\r'
                   || c == ',' || c == ':' || (c >= 'a' && c <= 'z')))
            s_syntax (r, i, "unexpected byte");
    }
}

/*  --------------------------------------------------------------------
 *  Error sentences.                                                      */

typedef struct {
    const char *type;           /* message type name, once known */
    char *errbuf;
    size_t errlen;
} s_ctx_t;

static int
s_fail (s_ctx_t *ctx, int code, const char *fmt, ...)
{
    if (ctx->errbuf && ctx->errlen) {
        va_list ap;
        va_start (ap, fmt);
        vsnprintf (ctx->errbuf, ctx->errlen, fmt, ap);
        va_end (ap);
    }
    return code;
}

/*  `field "PREFIX NAME" of "TYPE": WHY`.  PREFIX and NAME are printable
 *  ASCII (see s_safe), so a truncated sentence is still valid UTF-8.     */
static int
s_field_fail (s_ctx_t *ctx, int code, const char *prefix, const char *name,
              const char *why)
{
    return s_fail (ctx, code, "field \"%s%s\" of \"%s\": %s", prefix, name,
                   ctx->type, why);
}

/*  Copy untrusted text S into BUF as printable ASCII, at most 32 bytes.  */
static const char *
s_safe (const char *s, char *buf, size_t size)
{
    size_t n = 0;
    for (; *s && n + 4 < size && n < 32; s++)
        buf[n++] = (*s >= 0x20 && *s < 0x7f && *s != '"' && *s != '\\')
                   ? *s : '?';
    if (*s && n + 4 <= size) {
        memcpy (buf + n, "...", 3);
        n += 3;
    }
    buf[n] = '\0';
    return buf;
}

/*  --------------------------------------------------------------------
 *  Decoder: the field stages.                                            */

typedef enum {
    S_STAGE_MISSING, S_STAGE_TYPE, S_STAGE_UNKNOWN, S_STAGE_VALUE,
    S_STAGE_GID
} s_stage_t;

/*  Are A and B the same string?  The first bytes first: the field and
 *  type tables are searched by name for every key of every message, and
 *  most names differ there (a third of the decoder's time was strcmp). */
static inline bool
s_eq (const char *a, const char *b)
{
    return a[0] == b[0] && !strcmp (a, b);
}

static int
s_lookup (const tpcm_object_t *obj, const char *key)
{
    for (size_t i = 0; i < obj->nfields; i++)
        if (s_eq (obj->fields[i].name, key))
            return (int) i;
    return -1;
}

static size_t
s_array_len (const cJSON *a)
{
    size_t n = 0;
    for (const cJSON *e = a->child; e; e = e->next)
        n++;
    return n;
}

/*  The number of elements of the "columns" array of object J (0 if none). */
static size_t
s_columns (const cJSON *j)
{
    for (const cJSON *c = j->child; c; c = c->next)
        if (c->string && !strcmp (c->string, "columns"))
            return cJSON_IsArray (c) ? s_array_len (c) : 0;
    return 0;
}

/*  Every element of A satisfies the JSON type test.                      */
static bool
s_all (const cJSON *a, bool nulls_ok)
{
    for (const cJSON *e = a->child; e; e = e->next)
        if (!cJSON_IsString (e) && !(nulls_ok && cJSON_IsNull (e)))
            return false;
    return true;
}

/*  The JSON type test of field F; on failure *WANT says what it needs.   */
static bool
s_type_ok (const tpcm_field_t *f, const cJSON *j, const char **want)
{
    switch (f->kind) {
    case TPCM_U53: case TPCM_AFFECTED: case TPCM_CODE:
        *want = "must be an integer";
        return cJSON_IsNumber (j);
    case TPCM_BOOL:
        *want = "must be true or false";
        return cJSON_IsBool (j);
    case TPCM_STR: case TPCM_GID: case TPCM_ENUM:
        *want = "must be a string";
        return cJSON_IsString (j);
    case TPCM_STRV: case TPCM_GIDV:
        *want = "must be an array of strings";
        return cJSON_IsArray (j) && s_all (j, false);
    case TPCM_PARAMS:
        *want = "must be an array of strings and nulls";
        return cJSON_IsArray (j) && s_all (j, true);
    case TPCM_ROWS:
        *want = "must be an array of arrays of strings and nulls";
        if (!cJSON_IsArray (j))
            return false;
        for (const cJSON *r = j->child; r; r = r->next)
            if (!cJSON_IsArray (r) || !s_all (r, true))
                return false;
        return true;
    case TPCM_STMTS: case TPCM_TXNS:
        *want = "must be an array of objects";
        if (!cJSON_IsArray (j))
            return false;
        for (const cJSON *e = j->child; e; e = e->next)
            if (!cJSON_IsObject (e))
                return false;
        return true;
    }
    return false;
}

/*  The range test of field F (its JSON type already checked).  OBJ is
 *  the JSON object holding it (rows look up their columns there).        */
static bool
s_value_ok (const tpcm_field_t *f, const cJSON *j, const cJSON *obj,
            const char **why)
{
    double d = j->valuedouble;
    switch (f->kind) {
    case TPCM_U53:
        *why = "must be an integer in 0 .. 2^53-1";
        if (!(d >= 0 && d <= TPCM_INT_MAX && (double) (uint64_t) d == d))
            return false;
        *why = f->max_why;
        return !f->max || (uint64_t) d <= f->max;
    case TPCM_AFFECTED:
        *why = "must be an integer in -1 .. 2^53-1";
        return d >= -1 && d <= TPCM_INT_MAX && (double) (int64_t) d == d;
    case TPCM_CODE:
        *why = "must be a negative integer error code (-2^31 .. -1)";
        return d >= (double) INT_MIN && d <= -1 && (double) (int) d == d;
    case TPCM_ENUM:
        *why = "is not one of the names this field allows";
        for (int v = 0; v < f->en->count; v++)
            if (f->en->names[v] && (f->allowed & TPCM_BIT (v))
                && !strcmp (f->en->names[v], j->valuestring))
                return true;
        return false;
    case TPCM_GIDV:
        if (f->max) {       /* decides, acks: TPC_MSG_BATCH_MAX */
            *why = "has more gids than a batch holds (TPC_MSG_BATCH_MAX)";
            return s_array_len (j) <= f->max;
        }
        /* fall through */
    case TPCM_STRV: case TPCM_PARAMS:
    case TPCM_STMTS: case TPCM_TXNS:
        *why = "has more than TPC_MSG_MAX_ITEMS elements";
        return s_array_len (j) <= TPC_MSG_MAX_ITEMS;
    case TPCM_ROWS: {
        size_t ncols = s_columns (obj), nrows = 0;
        *why = "has a row whose length differs from columns";
        for (const cJSON *r = j->child; r; r = r->next, nrows++)
            if (s_array_len (r) != ncols)
                return false;
        *why = "has more than TPC_MSG_MAX_ITEMS rows or cells";
        return nrows <= TPC_MSG_MAX_ITEMS
               && nrows * ncols <= TPC_MSG_MAX_ITEMS;
    }
    default:
        return true;
    }
}

/*  OUT (SIZE bytes) = PREFIX NAME "[" K "]" TAIL, cut to fit as snprintf
 *  would: formatted by hand, it runs for every nested object of every
 *  message (a submit's transactions and statements).                     */
static void
s_path (char *out, size_t size, const char *prefix, const char *name,
        size_t k, const char *tail)
{
    char num[24];
    size_t nd = 0;
    do
        num[nd++] = (char) ('0' + k % 10);
    while ((k /= 10) && nd < sizeof num);
    size_t at = 0;
    const char *parts[2] = { prefix, name };
    for (int i = 0; i < 2; i++)
        for (const char *c = parts[i]; *c && at + 1 < size; c++)
            out[at++] = *c;
    if (at + 1 < size)
        out[at++] = '[';
    while (nd && at + 1 < size)
        out[at++] = num[--nd];
    if (at + 1 < size)
        out[at++] = ']';
    for (const char *c = tail; *c && at + 1 < size; c++)
        out[at++] = *c;
    out[at] = '\0';
}

/*  Run STAGE over object J whose fields OBJ lists, then over the
 *  objects nested in it.  PREFIX is the path of J for error sentences
 *  ("" at the top, which also knows "v" and "type").                      */
static int
s_check_fields (s_ctx_t *ctx, const tpcm_object_t *obj, const cJSON *j,
                const char *prefix, s_stage_t stage)
{
    bool top = *prefix == '\0';
    char name[48];
    unsigned present = 0, group = 0;
    int nv = 0, ntype = 0;
    for (size_t i = 0; i < obj->nfields; i++)
        if (obj->fields[i].flags & TPCM_GROUP)
            group |= TPCM_BIT (i);

    for (const cJSON *c = j->child; c; c = c->next) {
        int idx = s_lookup (obj, c->string);
        if (idx < 0) {
            if (top && s_eq (c->string, "v"))
                nv++;
            else if (top && s_eq (c->string, "type"))
                ntype++;
            else if (stage == S_STAGE_UNKNOWN)
                return s_field_fail (ctx, TPC_EMSG_UNKNOWN_FIELD, prefix,
                                     s_safe (c->string, name, sizeof name),
                                     "not defined for this message");
            continue;
        }
        const tpcm_field_t *f = &obj->fields[idx];
        const char *why = NULL;
        if (stage == S_STAGE_TYPE && !s_type_ok (f, c, &why))
            return s_field_fail (ctx, TPC_EMSG_FIELD_TYPE, prefix, f->name,
                                 why);
        if (stage == S_STAGE_VALUE) {
            if (present & TPCM_BIT (idx))
                return s_field_fail (ctx, TPC_EMSG_FIELD_VALUE, prefix,
                                     f->name, "given twice");
            if (!s_value_ok (f, c, j, &why))
                return s_field_fail (ctx, TPC_EMSG_FIELD_VALUE, prefix,
                                     f->name, why);
        }
        if (stage == S_STAGE_GID && f->kind == TPCM_GID
            && tpc_gid_parse (c->valuestring, NULL))
            return s_field_fail (ctx, TPC_EMSG_BAD_GID, prefix, f->name,
                                 "not a tpc gid (tpc_<coord>_<epoch>_<seq>)");
        if (stage == S_STAGE_GID && f->kind == TPCM_GIDV) {
            size_t k = 0;
            for (const cJSON *e = c->child; e; e = e->next, k++)
                if (tpc_gid_parse (e->valuestring, NULL)) {
                    char path[96];
                    s_path (path, sizeof path, prefix, f->name, k, "");
                    return s_field_fail (ctx, TPC_EMSG_BAD_GID, path, "",
                                         "not a tpc gid");
                }
        }
        present |= TPCM_BIT (idx);
        /* nested objects: only where the JSON types already fit */
        if ((f->kind == TPCM_STMTS || f->kind == TPCM_TXNS)
            && cJSON_IsArray (c)) {
            size_t k = 0;
            for (const cJSON *e = c->child; e; e = e->next, k++) {
                if (!cJSON_IsObject (e))
                    continue;
                char path[64];
                s_path (path, sizeof path, prefix, f->name, k, ".");
                int rc = s_check_fields (ctx, f->sub, e, path, stage);
                if (rc)
                    return rc;
            }
        }
    }
    if (stage == S_STAGE_VALUE && (nv > 1 || ntype > 1))
        return s_field_fail (ctx, TPC_EMSG_FIELD_VALUE, prefix,
                             nv > 1 ? "v" : "type", "given twice");
    if (stage == S_STAGE_MISSING) {
        for (size_t i = 0; i < obj->nfields; i++)
            if ((obj->fields[i].flags & TPCM_REQ) && !(present & TPCM_BIT (i)))
                return s_field_fail (ctx, TPC_EMSG_MISSING_FIELD, prefix,
                                     obj->fields[i].name, "missing");
        if ((present & group) && (present & group) != group)
            for (size_t i = 0; i < obj->nfields; i++)
                if ((group & TPCM_BIT (i)) && !(present & TPCM_BIT (i)))
                    return s_field_fail (
                        ctx, TPC_EMSG_MISSING_FIELD, prefix,
                        obj->fields[i].name,
                        "missing (columns, rows and affected come together)");
    }
    return 0;
}

/*  --------------------------------------------------------------------
 *  Decoder: filling the struct from a checked tree (only TPC_ENOMEM).   */

static int s_fill (const tpcm_object_t *obj, const cJSON *j, void *base);

/*  A new array of the strings of A (null elements become NULL).          */
static int
s_fill_strv (const cJSON *a, char ***v, size_t *n)
{
    size_t len = s_array_len (a);
    if (len == 0)
        return 0;
    if (!(*v = calloc (len, sizeof (char *))))
        return TPC_ENOMEM;
    *n = len;
    size_t i = 0;
    for (const cJSON *e = a->child; e; e = e->next, i++)
        if (cJSON_IsString (e) && !((*v)[i] = strdup (e->valuestring)))
            return TPC_ENOMEM;
    return 0;
}

/*  Fill field F of BASE from C, a child of the JSON object PARENT.       */
static int
s_fill_field (const tpcm_field_t *f, const cJSON *c, const cJSON *parent,
              void *base)
{
    switch (f->kind) {
    case TPCM_U53:
        *TPCM_AT (base, f->off, uint64_t) = (uint64_t) c->valuedouble;
        return 0;
    case TPCM_AFFECTED:
        *TPCM_AT (base, f->off, int64_t) = (int64_t) c->valuedouble;
        return 0;
    case TPCM_CODE:
        *TPCM_AT (base, f->off, int) = (int) c->valuedouble;
        return 0;
    case TPCM_BOOL:
        *TPCM_AT (base, f->off, bool) = cJSON_IsTrue (c);
        return 0;
    case TPCM_STR: case TPCM_GID: {
        char **s = TPCM_AT (base, f->off, char *);
        return (*s = strdup (c->valuestring)) ? 0 : TPC_ENOMEM;
    }
    case TPCM_ENUM:
        for (int v = 0; v < f->en->count; v++)
            if (f->en->names[v] && !strcmp (f->en->names[v], c->valuestring))
                memcpy (TPCM_AT (base, f->off, int), &v, sizeof v);
        return 0;
    case TPCM_STRV: case TPCM_GIDV: case TPCM_PARAMS:
        return s_fill_strv (c, TPCM_AT (base, f->off, char **),
                            TPCM_AT (base, f->count_off, size_t));
    case TPCM_ROWS: {
        /* ncolumns is set here and by the columns field alike, so that
         * nrows * ncolumns counts cells whatever the key order */
        tpc_msg_t *m = base;
        size_t nrows = s_array_len (c), ncols = s_columns (parent);
        m->ncolumns = ncols;
        if (nrows * ncols == 0) {
            m->nrows = nrows;
            return 0;
        }
        if (!(m->cells = calloc (nrows * ncols, sizeof (char *))))
            return TPC_ENOMEM;
        m->nrows = nrows;
        size_t i = 0;
        for (const cJSON *r = c->child; r; r = r->next)
            for (const cJSON *e = r->child; e; e = e->next, i++)
                if (cJSON_IsString (e)
                    && !(m->cells[i] = strdup (e->valuestring)))
                    return TPC_ENOMEM;
        return 0;
    }
    case TPCM_STMTS: case TPCM_TXNS: {
        size_t n = s_array_len (c);
        if (n == 0)
            return 0;
        size_t size = f->kind == TPCM_STMTS ? sizeof (tpc_stmt_t)
                                         : sizeof (tpc_txinfo_t);
        char *elems = calloc (n, size);
        if (!elems)
            return TPC_ENOMEM;
        *TPCM_AT (base, f->off, char *) = elems;
        *TPCM_AT (base, f->count_off, size_t) = n;
        size_t i = 0;
        for (const cJSON *e = c->child; e; e = e->next, i++) {
            int rc = s_fill (f->sub, e, elems + i * size);
            if (rc)
                return rc;
        }
        return 0;
    }
    }
    return TPC_EINVAL;
}

static int
s_fill (const tpcm_object_t *obj, const cJSON *j, void *base)
{
    for (const cJSON *c = j->child; c; c = c->next) {
        int idx = s_lookup (obj, c->string);
        if (idx < 0)
            continue;                   /* "v" and "type" */
        const tpcm_field_t *f = &obj->fields[idx];
        if (f->flags & TPCM_HAS)
            *TPCM_AT (base, f->has_off, bool) = true;
        int rc = s_fill_field (f, c, j, base);
        if (rc)
            return rc;
    }
    return 0;
}

/*  --------------------------------------------------------------------
 *  Decoder: the pipeline, one step per function.                         */

/*  Steps before cJSON: size, UTF-8, then the raw scan, ranked as NUL,
 *  depth, syntax.                                                        */
static int
s_check_raw (s_ctx_t *ctx, const unsigned char *p, size_t len,
             size_t max_size, int max_depth)
{
    size_t at = 0;
    const char *why = NULL;
    int rc;
    if (len > max_size)
        return s_fail (ctx, TPC_EMSG_TOO_BIG,
                       "message of %zu bytes is over the limit of %zu",
                       len, max_size);
    if ((rc = tpcm_utf8_check (p, len, &at, &why)))
        return s_fail (ctx, rc, "not UTF-8 at byte %zu: %s", at, why);
    s_scan_t scan;
    s_scan (p, len, max_depth, &scan);
    if (scan.nul_at != SIZE_MAX)
        return s_fail (ctx, TPC_EMSG_NOT_UTF8,
                       "escaped U+0000 (\\u0000) at byte %zu: strings "
                       "cannot hold NUL", scan.nul_at);
    if (scan.deep_at != SIZE_MAX)
        return s_fail (ctx, TPC_EMSG_TOO_DEEP,
                       "nesting deeper than %d at byte %zu", max_depth,
                       scan.deep_at);
    if (scan.syntax_at != SIZE_MAX)
        return s_fail (ctx, TPC_EMSG_SYNTAX, "not JSON at byte %zu: %s",
                       scan.syntax_at, scan.syntax_why);
    return 0;
}

/*  cJSON parse, then nothing but blanks after the value.  On success
 *  *ROOT_OUT is the tree (the caller's to delete).                       */
static int
s_parse (s_ctx_t *ctx, const void *buf, size_t len, cJSON **root_out)
{
    const unsigned char *p = buf;
    const char *end = NULL;
    *root_out = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts (buf, len, &end, 0);
    if (!root) {
        size_t at = end ? (size_t) (end - (const char *) buf) : 0;
        return s_fail (ctx, TPC_EMSG_SYNTAX, "not JSON near byte %zu", at);
    }
    for (size_t at = (size_t) (end - (const char *) buf); at < len; at++)
        if (!(p[at] == ' ' || p[at] == '\t' || p[at] == '\n'
              || p[at] == '\r')) {
            cJSON_Delete (root);
            return s_fail (ctx, TPC_EMSG_TRAILING,
                           "bytes after the JSON value at byte %zu", at);
        }
    *root_out = root;
    return 0;
}

/*  The first "v" of ROOT is a positive integer no newer than ours: in
 *  *VERSION.                                                              */
static int
s_check_version (s_ctx_t *ctx, const cJSON *root, uint64_t *version)
{
    const cJSON *v = NULL;
    for (const cJSON *c = root->child; c && !v; c = c->next)
        if (s_eq (c->string, "v"))
            v = c;
    if (!v || !cJSON_IsNumber (v) || !(v->valuedouble >= 1)
        || (v->valuedouble < 1e18
            && (double) (int64_t) v->valuedouble != v->valuedouble))
        return s_fail (ctx, TPC_EMSG_NO_VERSION,
                       "\"v\" is missing or not a positive integer");
    if (v->valuedouble > TPC_PROTOCOL_VERSION)
        return s_fail (ctx, TPC_EMSG_VERSION,
                       "\"v\" %.0f is newer than protocol %d",
                       v->valuedouble < 1e18 ? v->valuedouble : 1e18,
                       TPC_PROTOCOL_VERSION);
    *version = (uint64_t) v->valuedouble;
    return 0;
}

/*  The first "type" of ROOT names a message: *TYPE_OUT is it, and the
 *  error sentences from here on name it.                                 */
static int
s_check_type (s_ctx_t *ctx, const cJSON *root, tpc_msg_type_t *type_out)
{
    const cJSON *type = NULL;
    for (const cJSON *c = root->child; c && !type; c = c->next)
        if (s_eq (c->string, "type"))
            type = c;
    tpc_msg_type_t t = TPC_MSG_NONE;
    bool is_str = type && cJSON_IsString (type);
    if (is_str)
        for (int i = TPC_MSG_NONE + 1; i < TPC_MSG_TYPE_COUNT; i++)
            if (s_eq (tpcm_type_names[i], type->valuestring))
                t = (tpc_msg_type_t) i;
    if (t == TPC_MSG_NONE) {
        char name[48];
        return s_fail (ctx, TPC_EMSG_UNKNOWN_TYPE,
                       "\"type\" %s%s%s is not a message name",
                       is_str ? "\"" : "(missing or ",
                       is_str ? s_safe (type->valuestring, name, sizeof name)
                              : "not a string",
                       is_str ? "\"" : ")");
    }
    ctx->type = tpcm_type_names[t];
    *type_out = t;
    return 0;
}

/*  The field stages in order over the whole tree of ROOT, a message of
 *  type T; the first that fails decides the code.                        */
static int
s_check_message (s_ctx_t *ctx, tpc_msg_type_t t, const cJSON *root)
{
    const s_stage_t stages[] = { S_STAGE_MISSING, S_STAGE_TYPE,
                                 S_STAGE_UNKNOWN, S_STAGE_VALUE,
                                 S_STAGE_GID };
    for (size_t i = 0; i < TPCM_COUNT (stages); i++) {
        int rc = s_check_fields (ctx, &tpcm_msgs[t], root, "", stages[i]);
        if (rc)
            return rc;
    }
    return 0;
}

int
tpc_msg_decode (const void *buf, size_t len, const tpc_msg_limits_t *limits,
                tpc_msg_t **out, char *errbuf, size_t errlen)
{
    assert (out);
    assert (buf || len == 0);
    *out = NULL;
    if (errbuf && errlen)
        errbuf[0] = '\0';
    s_ctx_t ctx = { "?", errbuf, errlen };
    size_t max_size = limits && limits->max_size ? limits->max_size
                                                 : TPC_MSG_MAX_SIZE_DEFAULT;
    int max_depth = limits && limits->max_depth > 0
                    ? limits->max_depth : TPC_MSG_MAX_DEPTH_DEFAULT;
    cJSON *root = NULL;
    tpc_msg_t *msg = NULL;
    tpc_msg_type_t t = TPC_MSG_NONE;
    int rc;

    if ((rc = s_check_raw (&ctx, buf, len, max_size, max_depth))
        || (rc = s_parse (&ctx, buf, len, &root)))
        return rc;
    if (!cJSON_IsObject (root)) {
        rc = s_fail (&ctx, TPC_EMSG_NOT_OBJECT,
                     "the message is not a JSON object");
        goto cleanup;
    }
    uint64_t version = 0;
    if ((rc = s_check_version (&ctx, root, &version))
        || (rc = s_check_type (&ctx, root, &t))
        || (rc = s_check_message (&ctx, t, root)))
        goto cleanup;

    if (!(msg = tpc_msg_new (t))) {
        rc = TPC_ENOMEM;
        goto cleanup;
    }
    if ((rc = s_fill (&tpcm_msgs[t], root, msg))) {
        s_fail (&ctx, rc, "out of memory decoding \"%s\"", ctx.type);
        goto cleanup;
    }
    msg->version = version;
    *out = msg;
    msg = NULL;
    rc = 0;
cleanup:
    tpc_msg_destroy (&msg);
    cJSON_Delete (root);
    return rc;
}

/*  --------------------------------------------------------------------
 *  Peeking at the rid of a message that did not decode.                  */

/*  The rid after the key "rid" at B[*I] (just past its closing quote):
 *  blanks, ':', blanks, digits, then ',' '}' or a blank.  -1: not an
 *  integer value.  *I ends past the digits.                              */
static int64_t
s_peek_value (const unsigned char *b, size_t len, size_t *i)
{
    size_t k = *i;
    while (k < len && strchr (" \t\r\n", b[k]) && b[k])
        k++;
    if (k >= len || b[k] != ':')
        return -1;
    k++;
    while (k < len && strchr (" \t\r\n", b[k]) && b[k])
        k++;
    size_t start = k;
    uint64_t v = 0;
    while (k < len && b[k] >= '0' && b[k] <= '9' && k - start < 17)
        v = v * 10 + (uint64_t) (b[k++] - '0');
    *i = k;
    size_t n = k - start;
    if (n == 0 || n > 16 || (n > 1 && b[start] == '0') || v > TPCM_INT_MAX
        || k >= len || !strchr (",} \t\r\n", b[k]) || !b[k])
        return -1;
    return (int64_t) v;
}

uint64_t
tpc_msg_peek_rid (const void *buf, size_t len)
{
    const unsigned char *b = buf;
    size_t i = 0, depth = 0;
    while (i < len && b[i] && strchr (" \t\r\n", b[i]))
        i++;
    if (i >= len || b[i] != '{')
        return 0;               /* not an object: no top-level keys */
    bool key_next = false;      /* depth 1: the next string is a key */
    int64_t rid = -1;
    int found = 0;
    for (; i < len; i++) {
        unsigned char ch = b[i];
        if (ch == '"') {
            size_t start = ++i;
            while (i < len && b[i] != '"')
                i += b[i] == '\\' ? 2 : 1;
            if (i >= len)
                break;          /* unterminated string: stop */
            if (depth == 1 && key_next) {
                key_next = false;
                if (i - start == 3 && !memcmp (b + start, "rid", 3)) {
                    size_t k = i + 1;
                    rid = s_peek_value (b, len, &k);
                    found++;
                    i = k - 1;  /* the loop's i++ looks at what follows */
                }
            }
        }
        else if (ch == '{' || ch == '[') {
            depth++;
            key_next = depth == 1;
        }
        else if ((ch == '}' || ch == ']') && depth > 0)
            depth--;
        else if (ch == ',' && depth == 1)
            key_next = true;
    }
    return found == 1 && rid > 0 ? (uint64_t) rid : 0;
}
