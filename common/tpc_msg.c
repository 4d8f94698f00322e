/*  tpc_msg: the strict JSON codec of every tpc protocol message.
 *
 *  The wire format (messages, fields, types, encoder and decoder rules) is
 *  documented byte by byte at the top of tpc_msg.h.  Here one table,
 *  s_msgs[], lists for each message type its fields: wire name, kind (JSON
 *  type and range), required or optional, and the struct member it maps
 *  to.  The encoder walks the table to emit and the decoder walks the same
 *  table to check and fill, so the two directions cannot drift apart.
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
 *  escapes that cJSON would turn into NUL, a byte-order mark).  cJSON's
 *  own number printer rounds integers above 10^15, so integers are
 *  emitted as raw text with PRId64.
 *
 *  cJSON returns NULL both for bad JSON and for an allocation failure
 *  while parsing; the two cannot be told apart, so the latter also reads
 *  as TPC_EMSG_SYNTAX.  Every other allocation failure is TPC_ENOMEM.
 */
#include "tpc_msg.h"
#include "tpc_error.h"
#include "tpc_gid.h"

#include <assert.h>
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_INT_MAX 9007199254740991.0        /* 2^53-1, exact in a double */

/*  --------------------------------------------------------------------
 *  Enumerations: wire name of each value (NULL = no wire name).          */

typedef struct {
    const char *const *names;
    int count;
} s_enum_t;

static const char *const s_type_names[TPC_MSG_TYPE_COUNT] = {
    [TPC_MSG_BEGIN] = "begin", [TPC_MSG_EXEC] = "exec",
    [TPC_MSG_COMMIT] = "commit", [TPC_MSG_ROLLBACK] = "rollback",
    [TPC_MSG_SUBMIT] = "submit", [TPC_MSG_STATUS] = "status",
    [TPC_MSG_LIST] = "list", [TPC_MSG_BEGUN] = "begun",
    [TPC_MSG_RESULT] = "result", [TPC_MSG_OUTCOME] = "outcome",
    [TPC_MSG_TXSTATUS] = "txstatus", [TPC_MSG_TXLIST] = "txlist",
    [TPC_MSG_ERROR] = "error", [TPC_MSG_HELLO] = "hello",
    [TPC_MSG_WORKED] = "worked", [TPC_MSG_VOTE] = "vote",
    [TPC_MSG_ACK] = "ack", [TPC_MSG_QUERY] = "query",
    [TPC_MSG_WORK] = "work", [TPC_MSG_PREPARE] = "prepare",
    [TPC_MSG_DECIDE] = "decide", [TPC_MSG_ANSWER] = "answer",
    [TPC_MSG_RESOLVE] = "resolve", [TPC_MSG_SUMMARY] = "summary",
    [TPC_MSG_TXSUMMARY] = "txsummary", [TPC_MSG_PRECOMMIT] = "precommit",
    [TPC_MSG_GETSTATE] = "getstate", [TPC_MSG_STATE] = "state",
    [TPC_MSG_OUTCOME_OF] = "outcome_of", [TPC_MSG_KNOWN] = "known",
};

static const char *const s_proto_names[] = { "2pc", "3pc" };
static const char *const s_vote_names[] = { NULL, "yes", "no", "readonly" };
static const char *const s_outcome_names[] = {
    NULL, "committed", "aborted", "in_progress"
};
static const char *const s_then_names[] = { "none", "prepare", "commit" };
static const char *const s_p3_names[] = {
    "unknown", "uncertain", "precommitted", "committed", "aborted"
};

#define S_COUNT(a) (sizeof (a) / sizeof ((a)[0]))
static const s_enum_t s_proto_enum = { s_proto_names, (int) S_COUNT (s_proto_names) };
static const s_enum_t s_vote_enum = { s_vote_names, (int) S_COUNT (s_vote_names) };
static const s_enum_t s_outcome_enum = { s_outcome_names, (int) S_COUNT (s_outcome_names) };
static const s_enum_t s_then_enum = { s_then_names, (int) S_COUNT (s_then_names) };
static const s_enum_t s_p3_enum = { s_p3_names, (int) S_COUNT (s_p3_names) };

/*  Enum members are read and written as int through memcpy.              */
_Static_assert (sizeof (tpc_proto_t) == sizeof (int), "enum size");
_Static_assert (sizeof (tpc_vote_t) == sizeof (int), "enum size");
_Static_assert (sizeof (tpc_outcome_t) == sizeof (int), "enum size");
_Static_assert (sizeof (tpc_then_t) == sizeof (int), "enum size");
_Static_assert (sizeof (tpc_p3_t) == sizeof (int), "enum size");

/*  --------------------------------------------------------------------
 *  The field table.                                                      */

typedef enum {
    S_U53,              /* uint64_t: integer 0 .. 2^53-1 */
    S_AFFECTED,         /* int64_t: integer -1 .. 2^53-1 */
    S_CODE,             /* int: integer INT_MIN .. -1 (a tpc_err_t) */
    S_BOOL,             /* bool: true | false */
    S_STR,              /* char *: string */
    S_GID,              /* char *: string that tpc_gid_parse accepts */
    S_ENUM,             /* enum (int): string naming an allowed value */
    S_STRV,             /* char ** + size_t count: [string] */
    S_GIDV,             /* char ** + size_t count: [gid] */
    S_PARAMS,           /* char ** + size_t count: [string|null] */
    S_ROWS,             /* tpc_msg_t cells + nrows: [[string|null]] */
    S_STMTS,            /* tpc_stmt_t * + size_t count: [stmt] */
    S_TXNS              /* tpc_txinfo_t * + size_t count: [txinfo] */
} s_kind_t;

#define S_REQ   1u      /* required */
#define S_HAS   2u      /* optional, present iff the bool at has_off */
#define S_GROUP 4u      /* all S_GROUP fields of an object come together */

typedef struct s_object_s s_object_t;

typedef struct {
    const char *name;           /* on the wire */
    s_kind_t kind;
    unsigned flags;
    uint64_t max;               /* S_U53: largest value (0 = 2^53-1) */
    const char *max_why;        /* ... and the sentence above it */
    size_t off;                 /* member, from the object's base */
    size_t count_off;           /* arrays: their size_t count */
    size_t has_off;             /* S_HAS: the bool saying "present" */
    const s_enum_t *en;         /* S_ENUM: names */
    unsigned allowed;           /* S_ENUM: bit per allowed value */
    const s_object_t *sub;      /* S_STMTS, S_TXNS: element fields */
} s_field_t;

struct s_object_s {
    const char *name;           /* message type (for the top level) */
    const s_field_t *fields;
    size_t nfields;
};

#define S_BIT(v) (1u << (v))
#define S_ALL 0xffffffffu
#define S_FINAL (S_BIT (TPC_OUTCOME_COMMITTED) | S_BIT (TPC_OUTCOME_ABORTED))
#define S_ANY_OUTCOME (S_FINAL | S_BIT (TPC_OUTCOME_IN_PROGRESS))

#define S_STMT(m) offsetof (tpc_stmt_t, m)
static const s_field_t s_f_stmt_on[] = {
    { .name = "on", .kind = S_STR, .flags = S_REQ, .off = S_STMT (on) },
    { .name = "sql", .kind = S_STR, .flags = S_REQ, .off = S_STMT (sql) },
    { .name = "params", .kind = S_PARAMS, .off = S_STMT (params),
      .count_off = S_STMT (nparams) },
};
static const s_field_t s_f_stmt[] = {
    { .name = "sql", .kind = S_STR, .flags = S_REQ, .off = S_STMT (sql) },
    { .name = "params", .kind = S_PARAMS, .off = S_STMT (params),
      .count_off = S_STMT (nparams) },
};
#define S_TX(m) offsetof (tpc_txinfo_t, m)
static const s_field_t s_f_txinfo[] = {
    { .name = "gid", .kind = S_GID, .flags = S_REQ, .off = S_TX (gid) },
    { .name = "state", .kind = S_STR, .flags = S_REQ, .off = S_TX (state) },
    { .name = "age_ms", .kind = S_U53, .flags = S_REQ, .off = S_TX (age_ms) },
    { .name = "parts", .kind = S_STRV, .flags = S_REQ, .off = S_TX (parts),
      .count_off = S_TX (nparts) },
};
static const s_object_t s_stmt_on = { "stmt", s_f_stmt_on, S_COUNT (s_f_stmt_on) };
static const s_object_t s_stmt = { "stmt", s_f_stmt, S_COUNT (s_f_stmt) };
static const s_object_t s_txinfo = { "txinfo", s_f_txinfo, S_COUNT (s_f_txinfo) };

#define M(m) offsetof (tpc_msg_t, m)
#define F_RID { .name = "rid", .kind = S_U53, .flags = S_REQ, .off = M (rid) }
#define F_GID { .name = "gid", .kind = S_GID, .flags = S_REQ, .off = M (gid) }
#define F_SEQ { .name = "seq", .kind = S_U53, .flags = S_REQ, .off = M (seq) }
#define F_REASON { .name = "reason", .kind = S_STR, .off = M (reason) }
#define F_TIMEOUT { .name = "timeout_ms", .kind = S_U53, .off = M (timeout_ms), \
    .max = TPC_MSG_TIMEOUT_MAX_MS, .max_why = "must be at most 86400000 " \
    "(24 h, the longest transaction timeout; 0 = the coordinator's default)" }
#define F_PROTOCOL { .name = "protocol", .kind = S_ENUM, .flags = S_HAS, \
    .off = M (protocol), .has_off = M (has_protocol), .en = &s_proto_enum, \
    .allowed = S_ALL }
#define F_OUTCOME(a) { .name = "outcome", .kind = S_ENUM, .flags = S_REQ, \
    .off = M (outcome), .en = &s_outcome_enum, .allowed = (a) }
#define F_STMTS(s) { .name = "stmts", .kind = S_STMTS, .flags = S_REQ, \
    .off = M (stmts), .count_off = M (nstmts), .sub = (s) }
#define F_PARAMS { .name = "params", .kind = S_PARAMS, .off = M (params), \
    .count_off = M (nparams) }
#define F_COLUMNS(f, h) { .name = "columns", .kind = S_STRV, .flags = (f), \
    .off = M (columns), .count_off = M (ncolumns), .has_off = (h) }
#define F_ROWS(f, h) { .name = "rows", .kind = S_ROWS, .flags = (f), \
    .off = M (cells), .count_off = M (nrows), .has_off = (h) }
#define F_AFFECTED(f, h) { .name = "affected", .kind = S_AFFECTED, \
    .flags = (f), .off = M (affected), .has_off = (h) }

static const s_field_t s_f_begin[] = { F_RID, F_TIMEOUT, F_PROTOCOL };
static const s_field_t s_f_exec[] = {
    F_RID, F_GID,
    { .name = "on", .kind = S_STR, .flags = S_REQ, .off = M (on) },
    { .name = "sql", .kind = S_STR, .flags = S_REQ, .off = M (sql) },
    F_PARAMS,
};
static const s_field_t s_f_rid_gid[] = { F_RID, F_GID };
static const s_field_t s_f_submit[] = {
    F_RID, F_STMTS (&s_stmt_on), F_TIMEOUT, F_PROTOCOL
};
static const s_field_t s_f_list[] = { F_RID };
static const s_field_t s_f_result[] = {
    F_RID, F_GID, F_COLUMNS (S_REQ, 0), F_ROWS (S_REQ, 0),
    F_AFFECTED (S_REQ, 0)
};
static const s_field_t s_f_outcome[] = {
    F_RID, F_GID, F_OUTCOME (S_FINAL), F_REASON
};
static const s_field_t s_f_txstatus[] = {
    F_RID, F_GID,
    { .name = "state", .kind = S_STR, .flags = S_REQ, .off = M (state) },
    F_OUTCOME (S_ANY_OUTCOME)
};
static const s_field_t s_f_txlist[] = {
    F_RID,
    { .name = "txns", .kind = S_TXNS, .flags = S_REQ, .off = M (txns),
      .count_off = M (ntxns), .sub = &s_txinfo },
};
static const s_field_t s_f_error[] = {
    F_RID,
    { .name = "code", .kind = S_CODE, .flags = S_REQ, .off = M (code) },
    { .name = "message", .kind = S_STR, .flags = S_REQ, .off = M (message) },
    { .name = "gid", .kind = S_GID, .off = M (gid) },
};
static const s_field_t s_f_hello[] = {
    { .name = "name", .kind = S_STR, .flags = S_REQ, .off = M (name) },
    { .name = "prepared", .kind = S_GIDV, .off = M (gids),
      .count_off = M (ngids) },
    { .name = "peer", .kind = S_STR, .off = M (peer) },
    { .name = "boot", .kind = S_STR, .off = M (boot) },
};
#define S_RESULT (S_HAS | S_GROUP)
static const s_field_t s_f_worked[] = {
    F_GID, F_SEQ,
    { .name = "ok", .kind = S_BOOL, .flags = S_REQ, .off = M (ok) },
    F_COLUMNS (S_RESULT, M (has_result)), F_ROWS (S_RESULT, M (has_result)),
    F_AFFECTED (S_RESULT, M (has_result)), F_REASON
};
static const s_field_t s_f_vote[] = {
    F_GID,
    { .name = "vote", .kind = S_ENUM, .flags = S_REQ, .off = M (vote),
      .en = &s_vote_enum, .allowed = S_ALL },
    F_REASON
};
static const s_field_t s_f_ack[] = { F_GID, F_OUTCOME (S_FINAL), F_REASON };
static const s_field_t s_f_gid[] = { F_GID };
#define F_PARTS { .name = "parts", .kind = S_STRV, .off = M (parts), \
    .count_off = M (nparts) }
#define F_PEERS { .name = "peers", .kind = S_STRV, .off = M (peers), \
    .count_off = M (npeers) }
static const s_field_t s_f_work[] = {
    F_GID, F_SEQ, F_STMTS (&s_stmt),
    { .name = "then", .kind = S_ENUM, .flags = S_REQ, .off = M (then),
      .en = &s_then_enum, .allowed = S_ALL },
    F_PROTOCOL, F_PARTS, F_PEERS
};
static const s_field_t s_f_prepare[] = { F_GID, F_PROTOCOL, F_PARTS, F_PEERS };
/*  seq, optional on the peer link: the asker's termination round, echoed
 *  in the reply, so a late reply from an earlier round is known stale    */
#define F_ROUND { .name = "seq", .kind = S_U53, .off = M (seq) }
/*  name, optional: on the peer link, the asking agent's name (checked
 *  against its CURVE key; the only name a plain-text peer link has)      */
#define F_FROM { .name = "name", .kind = S_STR, .off = M (name) }
static const s_field_t s_f_peer_ask[] = { F_GID, F_ROUND, F_FROM };
static const s_field_t s_f_state[] = {
    F_GID,
    { .name = "state", .kind = S_ENUM, .flags = S_REQ, .off = M (p3),
      .en = &s_p3_enum, .allowed = S_ALL },
    F_ROUND,
};
static const s_field_t s_f_known[] = {
    F_GID,
    { .name = "state", .kind = S_ENUM, .flags = S_REQ, .off = M (p3),
      .en = &s_p3_enum, .allowed = S_ALL },
};
static const s_field_t s_f_decide[] = { F_GID, F_OUTCOME (S_FINAL), F_FROM };
static const s_field_t s_f_answer[] = { F_GID, F_OUTCOME (S_ANY_OUTCOME) };

static const s_field_t s_f_resolve[] = {
    F_RID, F_GID, F_OUTCOME (S_FINAL), F_REASON
};
#define F_COUNT(n) { .name = #n, .kind = S_U53, .flags = S_REQ, .off = M (n) }
static const s_field_t s_f_txsummary[] = {
    F_RID, F_COUNT (in_flight), F_COUNT (in_doubt), F_COUNT (committed),
    F_COUNT (aborted), F_COUNT (heuristic), F_COUNT (oldest_ms),
    { .name = "agents", .kind = S_STRV, .flags = S_REQ, .off = M (agents),
      .count_off = M (nagents) },
};

#define S_MSG(t, f) [t] = { NULL, f, S_COUNT (f) }
static const s_object_t s_msgs[TPC_MSG_TYPE_COUNT] = {
    S_MSG (TPC_MSG_BEGIN, s_f_begin),
    S_MSG (TPC_MSG_EXEC, s_f_exec),
    S_MSG (TPC_MSG_COMMIT, s_f_rid_gid),
    S_MSG (TPC_MSG_ROLLBACK, s_f_rid_gid),
    S_MSG (TPC_MSG_SUBMIT, s_f_submit),
    S_MSG (TPC_MSG_STATUS, s_f_rid_gid),
    S_MSG (TPC_MSG_LIST, s_f_list),
    S_MSG (TPC_MSG_BEGUN, s_f_rid_gid),
    S_MSG (TPC_MSG_RESULT, s_f_result),
    S_MSG (TPC_MSG_OUTCOME, s_f_outcome),
    S_MSG (TPC_MSG_TXSTATUS, s_f_txstatus),
    S_MSG (TPC_MSG_TXLIST, s_f_txlist),
    S_MSG (TPC_MSG_ERROR, s_f_error),
    S_MSG (TPC_MSG_HELLO, s_f_hello),
    S_MSG (TPC_MSG_WORKED, s_f_worked),
    S_MSG (TPC_MSG_VOTE, s_f_vote),
    S_MSG (TPC_MSG_ACK, s_f_ack),
    S_MSG (TPC_MSG_QUERY, s_f_gid),
    S_MSG (TPC_MSG_WORK, s_f_work),
    S_MSG (TPC_MSG_PREPARE, s_f_prepare),
    S_MSG (TPC_MSG_DECIDE, s_f_decide),
    S_MSG (TPC_MSG_ANSWER, s_f_answer),
    S_MSG (TPC_MSG_RESOLVE, s_f_resolve),
    S_MSG (TPC_MSG_SUMMARY, s_f_list),
    S_MSG (TPC_MSG_TXSUMMARY, s_f_txsummary),
    S_MSG (TPC_MSG_PRECOMMIT, s_f_peer_ask),
    S_MSG (TPC_MSG_GETSTATE, s_f_peer_ask),
    S_MSG (TPC_MSG_STATE, s_f_state),
    S_MSG (TPC_MSG_OUTCOME_OF, s_f_gid),
    S_MSG (TPC_MSG_KNOWN, s_f_known),
};

/*  Typed access to a member at OFF bytes from BASE.                      */
#define S_AT(base, off, type) ((type *) (void *) ((char *) (base) + (off)))
#define S_CAT(base, off, type) \
    ((type const *) (const void *) ((const char *) (base) + (off)))

/*  --------------------------------------------------------------------
 *  Memory helpers and the public constructors.                           */

static void
s_strv_free (char **v, size_t n)
{
    if (v)
        for (size_t i = 0; i < n; i++)
            free (v[i]);
    free (v);
}

static void
s_stmt_clear (tpc_stmt_t *s)
{
    free (s->on);
    free (s->sql);
    s_strv_free (s->params, s->nparams);
}

static void
s_txinfo_clear (tpc_txinfo_t *t)
{
    free (t->gid);
    free (t->state);
    s_strv_free (t->parts, t->nparts);
}

tpc_msg_t *
tpc_msg_new (tpc_msg_type_t type)
{
    if ((int) type < 0 || type >= TPC_MSG_TYPE_COUNT)
        return NULL;
    tpc_msg_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->type = type;
    self->affected = -1;
    return self;
}

void
tpc_msg_destroy (tpc_msg_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    tpc_msg_t *self = *self_p;
    free (self->gid);
    free (self->name);
    free (self->peer);
    free (self->boot);
    s_strv_free (self->parts, self->nparts);
    s_strv_free (self->peers, self->npeers);
    free (self->on);
    free (self->sql);
    s_strv_free (self->params, self->nparams);
    if (self->stmts)
        for (size_t i = 0; i < self->nstmts; i++)
            s_stmt_clear (&self->stmts[i]);
    free (self->stmts);
    s_strv_free (self->columns, self->ncolumns);
    s_strv_free (self->cells, self->nrows * self->ncolumns);
    free (self->reason);
    free (self->state);
    free (self->message);
    s_strv_free (self->gids, self->ngids);
    if (self->txns)
        for (size_t i = 0; i < self->ntxns; i++)
            s_txinfo_clear (&self->txns[i]);
    free (self->txns);
    s_strv_free (self->agents, self->nagents);
    free (self);
    *self_p = NULL;
}

int
tpc_msg_set_str (char **field, const char *value)
{
    assert (field);
    char *copy = NULL;
    if (value && !(copy = strdup (value)))
        return TPC_ENOMEM;
    free (*field);
    *field = copy;
    return 0;
}

/*  A new array of N copies of V (NULL elements stay NULL) into *OUT.     */
static int
s_strv_copy (const char *const *v, size_t n, char ***out)
{
    *out = NULL;
    if (n == 0)
        return 0;
    if (!v || n > SIZE_MAX / sizeof (char *))
        return TPC_ENOMEM;
    char **copy = calloc (n, sizeof *copy);
    if (!copy)
        return TPC_ENOMEM;
    for (size_t i = 0; i < n; i++)
        if (v[i] && !(copy[i] = strdup (v[i]))) {
            s_strv_free (copy, n);
            return TPC_ENOMEM;
        }
    *out = copy;
    return 0;
}

int
tpc_msg_strv_push (char ***v, size_t *n, const char *value)
{
    assert (v && n);
    char *copy = NULL;
    if (value && !(copy = strdup (value)))
        return TPC_ENOMEM;
    char **grown = *n < SIZE_MAX / sizeof (char *) - 1
                   ? realloc (*v, (*n + 1) * sizeof (char *)) : NULL;
    if (!grown) {
        free (copy);
        return TPC_ENOMEM;
    }
    grown[*n] = copy;
    *v = grown;
    (*n)++;
    return 0;
}

int
tpc_msg_add_stmt (tpc_msg_t *self, const char *on, const char *sql,
                  size_t nparams, const char *const *params)
{
    assert (self);
    tpc_stmt_t s = { NULL, NULL, 0, NULL };
    int rc = TPC_ENOMEM;
    if ((on && !(s.on = strdup (on))) || (sql && !(s.sql = strdup (sql))))
        goto cleanup;
    if (s_strv_copy (params, nparams, &s.params))
        goto cleanup;
    s.nparams = nparams;
    tpc_stmt_t *grown = self->nstmts < SIZE_MAX / sizeof s - 1
        ? realloc (self->stmts, (self->nstmts + 1) * sizeof s) : NULL;
    if (!grown)
        goto cleanup;
    self->stmts = grown;
    self->stmts[self->nstmts++] = s;
    return 0;
cleanup:
    s_stmt_clear (&s);
    return rc;
}

int
tpc_msg_set_rows (tpc_msg_t *self, size_t ncols, const char *const *columns,
                  size_t nrows, const char *const *cells)
{
    assert (self);
    char **cols = NULL, **cl = NULL;
    if (ncols && nrows > SIZE_MAX / ncols)
        return TPC_ENOMEM;
    if (s_strv_copy (columns, ncols, &cols))
        return TPC_ENOMEM;
    if (s_strv_copy (cells, nrows * ncols, &cl)) {
        s_strv_free (cols, ncols);
        return TPC_ENOMEM;
    }
    s_strv_free (self->columns, self->ncolumns);
    s_strv_free (self->cells, self->nrows * self->ncolumns);
    self->columns = cols;
    self->ncolumns = ncols;
    self->cells = cl;
    self->nrows = nrows;
    self->has_result = true;
    return 0;
}

/*  --------------------------------------------------------------------
 *  UTF-8 and the raw scan.                                               */

/*  0 if the LEN bytes at P are well-formed UTF-8 without NUL; else
 *  TPC_EMSG_NOT_UTF8 with *AT the offending offset and *WHY the reason.  */
static int
s_utf8_check (const unsigned char *p, size_t len, size_t *at, const char **why)
{
    size_t i = 0;
    while (i < len) {
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
 *  Encoder.                                                              */

static bool
s_str_ok (const char *s)
{
    size_t at;
    const char *why;
    return s && s_utf8_check ((const unsigned char *) s, strlen (s), &at,
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

static int s_emit_object (const s_object_t *obj, const void *base,
                          cJSON *out);

/*  Is optional field F of BASE set (see ENCODER in tpc_msg.h)?           */
static bool
s_is_set (const s_field_t *f, const void *base)
{
    if (f->flags & S_REQ)
        return true;
    if (f->flags & S_HAS)
        return *S_CAT (base, f->has_off, bool);
    switch (f->kind) {
    case S_STR: case S_GID:
        return *S_CAT (base, f->off, char *) != NULL;
    case S_U53:
        return *S_CAT (base, f->off, uint64_t) != 0;
    case S_STRV: case S_GIDV: case S_PARAMS:
        return *S_CAT (base, f->count_off, size_t) != 0;
    default:
        assert (!"optional field kind without a presence rule");
        return false;
    }
}

/*  Emit field F of BASE into OUT.                                        */
static int
s_emit_field (const s_field_t *f, const void *base, cJSON *out)
{
    cJSON *item = NULL;
    int rc = 0;
    switch (f->kind) {
    case S_U53: {
        uint64_t v = *S_CAT (base, f->off, uint64_t);
        if (v > (uint64_t) S_INT_MAX || (f->max && v > f->max))
            return TPC_EINVAL;
        return s_add (out, f->name, s_raw_i64 ((int64_t) v));
    }
    case S_AFFECTED: {
        int64_t v = *S_CAT (base, f->off, int64_t);
        if (v < -1 || v > (int64_t) S_INT_MAX)
            return TPC_EINVAL;
        return s_add (out, f->name, s_raw_i64 (v));
    }
    case S_CODE: {
        int v = *S_CAT (base, f->off, int);
        if (v >= 0)
            return TPC_EINVAL;
        return s_add (out, f->name, s_raw_i64 (v));
    }
    case S_BOOL:
        return s_add (out, f->name,
                      cJSON_CreateBool (*S_CAT (base, f->off, bool)));
    case S_STR: case S_GID: {
        const char *s = *S_CAT (base, f->off, char *);
        if (!s_str_ok (s) || (f->kind == S_GID && tpc_gid_parse (s, NULL)))
            return TPC_EINVAL;
        return s_add (out, f->name, cJSON_CreateString (s));
    }
    case S_ENUM: {
        int v;
        memcpy (&v, S_CAT (base, f->off, int), sizeof v);
        if (v < 0 || v >= f->en->count || !f->en->names[v]
            || !(f->allowed & S_BIT (v)))
            return TPC_EINVAL;
        return s_add (out, f->name, cJSON_CreateString (f->en->names[v]));
    }
    case S_STRV: case S_GIDV: case S_PARAMS:
        rc = s_emit_strv (*S_CAT (base, f->off, char **),
                          *S_CAT (base, f->count_off, size_t),
                          f->kind == S_PARAMS, f->kind == S_GIDV, &item);
        return rc ? rc : s_add (out, f->name, item);
    case S_ROWS: {
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
    case S_STMTS: case S_TXNS: {
        size_t n = *S_CAT (base, f->count_off, size_t);
        size_t size = f->kind == S_STMTS ? sizeof (tpc_stmt_t)
                                         : sizeof (tpc_txinfo_t);
        const char *elems = *S_CAT (base, f->off, char *);
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
s_emit_object (const s_object_t *obj, const void *base, cJSON *out)
{
    for (size_t i = 0; i < obj->nfields; i++) {
        const s_field_t *f = &obj->fields[i];
        if (!s_is_set (f, base))
            continue;
        int rc = s_emit_field (f, base, out);
        if (rc)
            return rc;
    }
    return 0;
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
    if ((rc = s_add (root, "v", s_raw_i64 (TPC_PROTOCOL_VERSION)))
        || (rc = s_add (root, "type",
                        cJSON_CreateString (s_type_names[self->type])))
        || (rc = s_emit_object (&s_msgs[self->type], self, root)))
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

/*  --------------------------------------------------------------------
 *  Decoder: the field stages.                                            */

typedef enum {
    S_STAGE_MISSING, S_STAGE_TYPE, S_STAGE_UNKNOWN, S_STAGE_VALUE,
    S_STAGE_GID
} s_stage_t;

static int
s_lookup (const s_object_t *obj, const char *key)
{
    for (size_t i = 0; i < obj->nfields; i++)
        if (!strcmp (obj->fields[i].name, key))
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
s_type_ok (const s_field_t *f, const cJSON *j, const char **want)
{
    switch (f->kind) {
    case S_U53: case S_AFFECTED: case S_CODE:
        *want = "must be an integer";
        return cJSON_IsNumber (j);
    case S_BOOL:
        *want = "must be true or false";
        return cJSON_IsBool (j);
    case S_STR: case S_GID: case S_ENUM:
        *want = "must be a string";
        return cJSON_IsString (j);
    case S_STRV: case S_GIDV:
        *want = "must be an array of strings";
        return cJSON_IsArray (j) && s_all (j, false);
    case S_PARAMS:
        *want = "must be an array of strings and nulls";
        return cJSON_IsArray (j) && s_all (j, true);
    case S_ROWS:
        *want = "must be an array of arrays of strings and nulls";
        if (!cJSON_IsArray (j))
            return false;
        for (const cJSON *r = j->child; r; r = r->next)
            if (!cJSON_IsArray (r) || !s_all (r, true))
                return false;
        return true;
    case S_STMTS: case S_TXNS:
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
s_value_ok (const s_field_t *f, const cJSON *j, const cJSON *obj,
            const char **why)
{
    double d = j->valuedouble;
    switch (f->kind) {
    case S_U53:
        *why = "must be an integer in 0 .. 2^53-1";
        if (!(d >= 0 && d <= S_INT_MAX && (double) (uint64_t) d == d))
            return false;
        *why = f->max_why;
        return !f->max || (uint64_t) d <= f->max;
    case S_AFFECTED:
        *why = "must be an integer in -1 .. 2^53-1";
        return d >= -1 && d <= S_INT_MAX && (double) (int64_t) d == d;
    case S_CODE:
        *why = "must be a negative integer error code (-2^31 .. -1)";
        return d >= (double) INT_MIN && d <= -1 && (double) (int) d == d;
    case S_ENUM:
        *why = "is not one of the names this field allows";
        for (int v = 0; v < f->en->count; v++)
            if (f->en->names[v] && (f->allowed & S_BIT (v))
                && !strcmp (f->en->names[v], j->valuestring))
                return true;
        return false;
    case S_STRV: case S_GIDV: case S_PARAMS: case S_STMTS: case S_TXNS:
        *why = "has more than TPC_MSG_MAX_ITEMS elements";
        return s_array_len (j) <= TPC_MSG_MAX_ITEMS;
    case S_ROWS: {
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

/*  Run STAGE over object J whose fields OBJ lists, then over the
 *  objects nested in it.  PREFIX is the path of J for error sentences
 *  ("" at the top, which also knows "v" and "type").                      */
static int
s_check_fields (s_ctx_t *ctx, const s_object_t *obj, const cJSON *j,
                const char *prefix, s_stage_t stage)
{
    bool top = *prefix == '\0';
    char name[48];
    unsigned present = 0, group = 0;
    int nv = 0, ntype = 0;
    for (size_t i = 0; i < obj->nfields; i++)
        if (obj->fields[i].flags & S_GROUP)
            group |= S_BIT (i);

    for (const cJSON *c = j->child; c; c = c->next) {
        int idx = s_lookup (obj, c->string);
        if (idx < 0) {
            if (top && !strcmp (c->string, "v"))
                nv++;
            else if (top && !strcmp (c->string, "type"))
                ntype++;
            else if (stage == S_STAGE_UNKNOWN)
                return s_field_fail (ctx, TPC_EMSG_UNKNOWN_FIELD, prefix,
                                     s_safe (c->string, name, sizeof name),
                                     "not defined for this message");
            continue;
        }
        const s_field_t *f = &obj->fields[idx];
        const char *why = NULL;
        if (stage == S_STAGE_TYPE && !s_type_ok (f, c, &why))
            return s_field_fail (ctx, TPC_EMSG_FIELD_TYPE, prefix, f->name,
                                 why);
        if (stage == S_STAGE_VALUE) {
            if (present & S_BIT (idx))
                return s_field_fail (ctx, TPC_EMSG_FIELD_VALUE, prefix,
                                     f->name, "given twice");
            if (!s_value_ok (f, c, j, &why))
                return s_field_fail (ctx, TPC_EMSG_FIELD_VALUE, prefix,
                                     f->name, why);
        }
        if (stage == S_STAGE_GID && f->kind == S_GID
            && tpc_gid_parse (c->valuestring, NULL))
            return s_field_fail (ctx, TPC_EMSG_BAD_GID, prefix, f->name,
                                 "not a tpc gid (tpc_<coord>_<epoch>_<seq>)");
        if (stage == S_STAGE_GID && f->kind == S_GIDV) {
            size_t k = 0;
            for (const cJSON *e = c->child; e; e = e->next, k++)
                if (tpc_gid_parse (e->valuestring, NULL)) {
                    char path[96];
                    snprintf (path, sizeof path, "%s%s[%zu]", prefix,
                              f->name, k);
                    return s_field_fail (ctx, TPC_EMSG_BAD_GID, path, "",
                                         "not a tpc gid");
                }
        }
        present |= S_BIT (idx);
        /* nested objects: only where the JSON types already fit */
        if ((f->kind == S_STMTS || f->kind == S_TXNS) && cJSON_IsArray (c)) {
            size_t k = 0;
            for (const cJSON *e = c->child; e; e = e->next, k++) {
                if (!cJSON_IsObject (e))
                    continue;
                char path[64];
                snprintf (path, sizeof path, "%s%s[%zu].", prefix, f->name,
                          k);
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
            if ((obj->fields[i].flags & S_REQ) && !(present & S_BIT (i)))
                return s_field_fail (ctx, TPC_EMSG_MISSING_FIELD, prefix,
                                     obj->fields[i].name, "missing");
        if ((present & group) && (present & group) != group)
            for (size_t i = 0; i < obj->nfields; i++)
                if ((group & S_BIT (i)) && !(present & S_BIT (i)))
                    return s_field_fail (
                        ctx, TPC_EMSG_MISSING_FIELD, prefix,
                        obj->fields[i].name,
                        "missing (columns, rows and affected come together)");
    }
    return 0;
}

/*  --------------------------------------------------------------------
 *  Decoder: filling the struct from a checked tree (only TPC_ENOMEM).   */

static int s_fill (const s_object_t *obj, const cJSON *j, void *base);

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
s_fill_field (const s_field_t *f, const cJSON *c, const cJSON *parent,
              void *base)
{
    switch (f->kind) {
    case S_U53:
        *S_AT (base, f->off, uint64_t) = (uint64_t) c->valuedouble;
        return 0;
    case S_AFFECTED:
        *S_AT (base, f->off, int64_t) = (int64_t) c->valuedouble;
        return 0;
    case S_CODE:
        *S_AT (base, f->off, int) = (int) c->valuedouble;
        return 0;
    case S_BOOL:
        *S_AT (base, f->off, bool) = cJSON_IsTrue (c);
        return 0;
    case S_STR: case S_GID: {
        char **s = S_AT (base, f->off, char *);
        return (*s = strdup (c->valuestring)) ? 0 : TPC_ENOMEM;
    }
    case S_ENUM:
        for (int v = 0; v < f->en->count; v++)
            if (f->en->names[v] && !strcmp (f->en->names[v], c->valuestring))
                memcpy (S_AT (base, f->off, int), &v, sizeof v);
        return 0;
    case S_STRV: case S_GIDV: case S_PARAMS:
        return s_fill_strv (c, S_AT (base, f->off, char **),
                            S_AT (base, f->count_off, size_t));
    case S_ROWS: {
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
    case S_STMTS: case S_TXNS: {
        size_t n = s_array_len (c);
        if (n == 0)
            return 0;
        size_t size = f->kind == S_STMTS ? sizeof (tpc_stmt_t)
                                         : sizeof (tpc_txinfo_t);
        char *elems = calloc (n, size);
        if (!elems)
            return TPC_ENOMEM;
        *S_AT (base, f->off, char *) = elems;
        *S_AT (base, f->count_off, size_t) = n;
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
s_fill (const s_object_t *obj, const cJSON *j, void *base)
{
    for (const cJSON *c = j->child; c; c = c->next) {
        int idx = s_lookup (obj, c->string);
        if (idx < 0)
            continue;                   /* "v" and "type" */
        const s_field_t *f = &obj->fields[idx];
        if (f->flags & S_HAS)
            *S_AT (base, f->has_off, bool) = true;
        int rc = s_fill_field (f, c, j, base);
        if (rc)
            return rc;
    }
    return 0;
}

/*  --------------------------------------------------------------------
 *  Decoder: the pipeline.                                                */

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
    const unsigned char *p = buf;
    cJSON *root = NULL;
    tpc_msg_t *msg = NULL;
    size_t at = 0;
    const char *why = NULL;
    int rc;

    if (len > max_size)
        return s_fail (&ctx, TPC_EMSG_TOO_BIG,
                       "message of %zu bytes is over the limit of %zu",
                       len, max_size);
    if ((rc = s_utf8_check (p, len, &at, &why)))
        return s_fail (&ctx, rc, "not UTF-8 at byte %zu: %s", at, why);
    s_scan_t scan;
    s_scan (p, len, max_depth, &scan);
    if (scan.nul_at != SIZE_MAX)
        return s_fail (&ctx, TPC_EMSG_NOT_UTF8,
                       "escaped U+0000 (\\u0000) at byte %zu: strings "
                       "cannot hold NUL", scan.nul_at);
    if (scan.deep_at != SIZE_MAX)
        return s_fail (&ctx, TPC_EMSG_TOO_DEEP,
                       "nesting deeper than %d at byte %zu", max_depth,
                       scan.deep_at);
    if (scan.syntax_at != SIZE_MAX)
        return s_fail (&ctx, TPC_EMSG_SYNTAX, "not JSON at byte %zu: %s",
                       scan.syntax_at, scan.syntax_why);

    const char *end = NULL;
    root = cJSON_ParseWithLengthOpts (buf, len, &end, 0);
    if (!root) {
        at = end ? (size_t) (end - (const char *) buf) : 0;
        return s_fail (&ctx, TPC_EMSG_SYNTAX, "not JSON near byte %zu", at);
    }
    for (at = (size_t) (end - (const char *) buf); at < len; at++)
        if (!(p[at] == ' ' || p[at] == '\t' || p[at] == '\n'
              || p[at] == '\r')) {
            rc = s_fail (&ctx, TPC_EMSG_TRAILING,
                         "bytes after the JSON value at byte %zu", at);
            goto cleanup;
        }
    if (!cJSON_IsObject (root)) {
        rc = s_fail (&ctx, TPC_EMSG_NOT_OBJECT,
                     "the message is not a JSON object");
        goto cleanup;
    }

    const cJSON *v = NULL, *type = NULL;
    for (const cJSON *c = root->child; c; c = c->next) {
        if (!v && !strcmp (c->string, "v"))
            v = c;
        if (!type && !strcmp (c->string, "type"))
            type = c;
    }
    if (!v || !cJSON_IsNumber (v) || !(v->valuedouble >= 1)
        || (v->valuedouble < 1e18
            && (double) (int64_t) v->valuedouble != v->valuedouble)) {
        rc = s_fail (&ctx, TPC_EMSG_NO_VERSION,
                     "\"v\" is missing or not a positive integer");
        goto cleanup;
    }
    if (v->valuedouble > TPC_PROTOCOL_VERSION) {
        rc = s_fail (&ctx, TPC_EMSG_VERSION,
                     "\"v\" %.0f is newer than protocol %d",
                     v->valuedouble < 1e18 ? v->valuedouble : 1e18,
                     TPC_PROTOCOL_VERSION);
        goto cleanup;
    }
    tpc_msg_type_t t = TPC_MSG_NONE;
    if (type && cJSON_IsString (type))
        for (int i = TPC_MSG_NONE + 1; i < TPC_MSG_TYPE_COUNT; i++)
            if (!strcmp (s_type_names[i], type->valuestring))
                t = (tpc_msg_type_t) i;
    if (t == TPC_MSG_NONE) {
        char name[48];
        rc = s_fail (&ctx, TPC_EMSG_UNKNOWN_TYPE,
                     "\"type\" %s%s%s is not a message name",
                     type && cJSON_IsString (type) ? "\"" : "(missing or ",
                     type && cJSON_IsString (type)
                     ? s_safe (type->valuestring, name, sizeof name)
                     : "not a string",
                     type && cJSON_IsString (type) ? "\"" : ")");
        goto cleanup;
    }
    ctx.type = s_type_names[t];

    const s_stage_t stages[] = { S_STAGE_MISSING, S_STAGE_TYPE,
                                 S_STAGE_UNKNOWN, S_STAGE_VALUE,
                                 S_STAGE_GID };
    for (size_t i = 0; i < S_COUNT (stages); i++)
        if ((rc = s_check_fields (&ctx, &s_msgs[t], root, "", stages[i])))
            goto cleanup;

    if (!(msg = tpc_msg_new (t))) {
        rc = TPC_ENOMEM;
        goto cleanup;
    }
    if ((rc = s_fill (&s_msgs[t], root, msg))) {
        s_fail (&ctx, rc, "out of memory decoding \"%s\"", ctx.type);
        goto cleanup;
    }
    *out = msg;
    msg = NULL;
    rc = 0;
cleanup:
    tpc_msg_destroy (&msg);
    cJSON_Delete (root);
    return rc;
}

/*  --------------------------------------------------------------------
 *  Names.                                                                */

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
    if (n == 0 || n > 16 || (n > 1 && b[start] == '0') || v > S_INT_MAX
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

static const char *
s_name (const char *const *names, int count, int v)
{
    return v >= 0 && v < count && names[v] ? names[v] : "?";
}

const char *
tpc_msg_type_name (tpc_msg_type_t type)
{
    return s_name (s_type_names, TPC_MSG_TYPE_COUNT, (int) type);
}

const char *
tpc_vote_name (tpc_vote_t vote)
{
    return s_name (s_vote_names, s_vote_enum.count, (int) vote);
}

const char *
tpc_outcome_name (tpc_outcome_t outcome)
{
    return s_name (s_outcome_names, s_outcome_enum.count, (int) outcome);
}

const char *
tpc_then_name (tpc_then_t then)
{
    return s_name (s_then_names, s_then_enum.count, (int) then);
}

const char *
tpc_proto_name (tpc_proto_t proto)
{
    return s_name (s_proto_names, s_proto_enum.count, (int) proto);
}

const char *
tpc_p3_name (tpc_p3_t state)
{
    return s_name (s_p3_names, s_p3_enum.count, (int) state);
}

void
tpc_strv_free (char ***v_p, size_t n)
{
    if (!v_p)
        return;
    s_strv_free (*v_p, n);
    *v_p = NULL;
}

int
tpc_strv_copy (char ***dst, size_t n, char *const *src, size_t nsrc)
{
    *dst = NULL;
    if (!n)
        return 0;
    char **v = calloc (n, sizeof *v);
    if (!v)
        return TPC_ENOMEM;
    for (size_t i = 0; i < n; i++)
        if (!(v[i] = strdup (src && i < nsrc && src[i] ? src[i] : ""))) {
            s_strv_free (v, n);
            return TPC_ENOMEM;
        }
    *dst = v;
    return 0;
}
