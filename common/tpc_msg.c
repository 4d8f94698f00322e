/*  tpc_msg: the strict JSON codec of every tpc protocol message: the
 *  field table, constructors and setters, names (see tpc_msg_int.h for
 *  the module's files).
 *
 *  The wire format (messages, fields, types, encoder and decoder rules) is
 *  documented byte by byte at the top of tpc_msg.h.  Here one table,
 *  tpcm_msgs[], lists for each message type its fields: wire name, kind (JSON
 *  type and range), required or optional, and the struct member it maps
 *  to.  The encoder (tpc_msg_encode.c) walks the table to emit and the
 *  decoder (tpc_msg_decode.c) walks the same table to check and fill, so
 *  the two directions cannot drift apart.
 */
#include "tpc_msg_int.h"
#include "tpc_error.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/*  --------------------------------------------------------------------
 *  Enumerations: wire name of each value (NULL = no wire name).          */

const char *const tpcm_type_names[TPC_MSG_TYPE_COUNT] = {
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
    [TPC_MSG_CLUSTER] = "cluster", [TPC_MSG_CLUSTERINFO] = "clusterinfo",
    [TPC_MSG_DECIDES] = "decides", [TPC_MSG_ACKS] = "acks",
    [TPC_MSG_PRECOMMITS] = "precommits",
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

static const tpcm_enum_t s_proto_enum = {
    s_proto_names, (int) TPCM_COUNT (s_proto_names)
};
static const tpcm_enum_t s_vote_enum = {
    s_vote_names, (int) TPCM_COUNT (s_vote_names)
};
static const tpcm_enum_t s_outcome_enum = {
    s_outcome_names, (int) TPCM_COUNT (s_outcome_names)
};
static const tpcm_enum_t s_then_enum = {
    s_then_names, (int) TPCM_COUNT (s_then_names)
};
static const tpcm_enum_t s_p3_enum = {
    s_p3_names, (int) TPCM_COUNT (s_p3_names)
};

/*  Enum members are read and written as int through memcpy.              */
_Static_assert (sizeof (tpc_proto_t) == sizeof (int), "enum size");
_Static_assert (sizeof (tpc_vote_t) == sizeof (int), "enum size");
_Static_assert (sizeof (tpc_outcome_t) == sizeof (int), "enum size");
_Static_assert (sizeof (tpc_then_t) == sizeof (int), "enum size");
_Static_assert (sizeof (tpc_p3_t) == sizeof (int), "enum size");

/*  --------------------------------------------------------------------
 *  The field table.                                                      */

#define S_ALL 0xffffffffu
#define S_FINAL (TPCM_BIT (TPC_OUTCOME_COMMITTED) \
    | TPCM_BIT (TPC_OUTCOME_ABORTED))
#define S_ANY_OUTCOME (S_FINAL | TPCM_BIT (TPC_OUTCOME_IN_PROGRESS))

#define S_STMT(m) offsetof (tpc_stmt_t, m)
static const tpcm_field_t s_f_stmt_on[] = {
    { .name = "on", .kind = TPCM_STR, .flags = TPCM_REQ, .off = S_STMT (on) },
    { .name = "sql", .kind = TPCM_STR, .flags = TPCM_REQ,
      .off = S_STMT (sql) },
    { .name = "params", .kind = TPCM_PARAMS, .off = S_STMT (params),
      .count_off = S_STMT (nparams) },
};
static const tpcm_field_t s_f_stmt[] = {
    { .name = "sql", .kind = TPCM_STR, .flags = TPCM_REQ,
      .off = S_STMT (sql) },
    { .name = "params", .kind = TPCM_PARAMS, .off = S_STMT (params),
      .count_off = S_STMT (nparams) },
};
#define S_TX(m) offsetof (tpc_txinfo_t, m)
static const tpcm_field_t s_f_txinfo[] = {
    { .name = "gid", .kind = TPCM_GID, .flags = TPCM_REQ, .off = S_TX (gid) },
    { .name = "state", .kind = TPCM_STR, .flags = TPCM_REQ,
      .off = S_TX (state) },
    { .name = "age_ms", .kind = TPCM_U53, .flags = TPCM_REQ,
      .off = S_TX (age_ms) },
    { .name = "parts", .kind = TPCM_STRV, .flags = TPCM_REQ,
      .off = S_TX (parts), .count_off = S_TX (nparts) },
    { .name = "waiting", .kind = TPCM_STRV, .off = S_TX (waiting),
      .count_off = S_TX (nwaiting) },
};
static const tpcm_object_t s_stmt_on = {
    "stmt", s_f_stmt_on, TPCM_COUNT (s_f_stmt_on)
};
static const tpcm_object_t s_stmt = {
    "stmt", s_f_stmt, TPCM_COUNT (s_f_stmt)
};
static const tpcm_object_t s_txinfo = {
    "txinfo", s_f_txinfo, TPCM_COUNT (s_f_txinfo)
};

#define M(m) offsetof (tpc_msg_t, m)
#define F_RID { .name = "rid", .kind = TPCM_U53, .flags = TPCM_REQ, \
    .off = M (rid) }
#define F_GID { .name = "gid", .kind = TPCM_GID, .flags = TPCM_REQ, \
    .off = M (gid) }
#define F_SEQ { .name = "seq", .kind = TPCM_U53, .flags = TPCM_REQ, \
    .off = M (seq) }
#define F_REASON { .name = "reason", .kind = TPCM_STR, .off = M (reason) }
#define F_TIMEOUT { .name = "timeout_ms", .kind = TPCM_U53, \
    .off = M (timeout_ms), .max = TPC_MSG_TIMEOUT_MAX_MS, \
    .max_why = "must be at most 86400000 " \
    "(24 h, the longest transaction timeout; 0 = the coordinator's default)" }
#define F_PROTOCOL { .name = "protocol", .kind = TPCM_ENUM, \
    .flags = TPCM_HAS, .off = M (protocol), .has_off = M (has_protocol), \
    .en = &s_proto_enum, .allowed = S_ALL }
#define F_OUTCOME(a) { .name = "outcome", .kind = TPCM_ENUM, \
    .flags = TPCM_REQ, .off = M (outcome), .en = &s_outcome_enum, \
    .allowed = (a) }
#define F_STMTS(s) { .name = "stmts", .kind = TPCM_STMTS, .flags = TPCM_REQ, \
    .off = M (stmts), .count_off = M (nstmts), .sub = (s) }
#define F_PARAMS { .name = "params", .kind = TPCM_PARAMS, .off = M (params), \
    .count_off = M (nparams) }
#define F_COLUMNS(f, h) { .name = "columns", .kind = TPCM_STRV, .flags = (f), \
    .off = M (columns), .count_off = M (ncolumns), .has_off = (h) }
#define F_ROWS(f, h) { .name = "rows", .kind = TPCM_ROWS, .flags = (f), \
    .off = M (cells), .count_off = M (nrows), .has_off = (h) }
#define F_AFFECTED(f, h) { .name = "affected", .kind = TPCM_AFFECTED, \
    .flags = (f), .off = M (affected), .has_off = (h) }

static const tpcm_field_t s_f_begin[] = { F_RID, F_TIMEOUT, F_PROTOCOL };
static const tpcm_field_t s_f_exec[] = {
    F_RID, F_GID,
    { .name = "on", .kind = TPCM_STR, .flags = TPCM_REQ, .off = M (on) },
    { .name = "sql", .kind = TPCM_STR, .flags = TPCM_REQ, .off = M (sql) },
    F_PARAMS,
};
static const tpcm_field_t s_f_rid_gid[] = { F_RID, F_GID };
static const tpcm_field_t s_f_submit[] = {
    F_RID, F_STMTS (&s_stmt_on), F_TIMEOUT, F_PROTOCOL
};
static const tpcm_field_t s_f_list[] = { F_RID };
static const tpcm_field_t s_f_result[] = {
    F_RID, F_GID, F_COLUMNS (TPCM_REQ, 0), F_ROWS (TPCM_REQ, 0),
    F_AFFECTED (TPCM_REQ, 0)
};
static const tpcm_field_t s_f_outcome[] = {
    F_RID, F_GID, F_OUTCOME (S_FINAL), F_REASON
};
static const tpcm_field_t s_f_txstatus[] = {
    F_RID, F_GID,
    { .name = "state", .kind = TPCM_STR, .flags = TPCM_REQ, .off = M (state) },
    F_OUTCOME (S_ANY_OUTCOME), F_REASON
};
static const tpcm_field_t s_f_txlist[] = {
    F_RID,
    { .name = "txns", .kind = TPCM_TXNS, .flags = TPCM_REQ, .off = M (txns),
      .count_off = M (ntxns), .sub = &s_txinfo },
};
static const tpcm_field_t s_f_error[] = {
    F_RID,
    { .name = "code", .kind = TPCM_CODE, .flags = TPCM_REQ, .off = M (code) },
    { .name = "message", .kind = TPCM_STR, .flags = TPCM_REQ,
      .off = M (message) },
    { .name = "gid", .kind = TPCM_GID, .off = M (gid) },
    { .name = "leader", .kind = TPCM_STR, .off = M (leader) },
};
static const tpcm_field_t s_f_hello[] = {
    { .name = "name", .kind = TPCM_STR, .flags = TPCM_REQ, .off = M (name) },
    { .name = "prepared", .kind = TPCM_GIDV, .off = M (gids),
      .count_off = M (ngids) },
    { .name = "peer", .kind = TPCM_STR, .off = M (peer) },
    { .name = "boot", .kind = TPCM_STR, .off = M (boot) },
};
#define S_RESULT (TPCM_HAS | TPCM_GROUP)
static const tpcm_field_t s_f_worked[] = {
    F_GID, F_SEQ,
    { .name = "ok", .kind = TPCM_BOOL, .flags = TPCM_REQ, .off = M (ok) },
    F_COLUMNS (S_RESULT, M (has_result)), F_ROWS (S_RESULT, M (has_result)),
    F_AFFECTED (S_RESULT, M (has_result)), F_REASON
};
static const tpcm_field_t s_f_vote[] = {
    F_GID,
    { .name = "vote", .kind = TPCM_ENUM, .flags = TPCM_REQ, .off = M (vote),
      .en = &s_vote_enum, .allowed = S_ALL },
    F_REASON
};
static const tpcm_field_t s_f_ack[] = { F_GID, F_OUTCOME (S_FINAL), F_REASON };
static const tpcm_field_t s_f_gid[] = { F_GID };
#define F_PARTS { .name = "parts", .kind = TPCM_STRV, .off = M (parts), \
    .count_off = M (nparts) }
#define F_PEERS { .name = "peers", .kind = TPCM_STRV, .off = M (peers), \
    .count_off = M (npeers) }
static const tpcm_field_t s_f_work[] = {
    F_GID, F_SEQ, F_STMTS (&s_stmt),
    { .name = "then", .kind = TPCM_ENUM, .flags = TPCM_REQ, .off = M (then),
      .en = &s_then_enum, .allowed = S_ALL },
    F_PROTOCOL, F_PARTS, F_PEERS
};
static const tpcm_field_t s_f_prepare[] = {
    F_GID, F_PROTOCOL, F_PARTS, F_PEERS
};
/*  seq, optional on the peer link: the asker's termination round, echoed
 *  in the reply, so a late reply from an earlier round is known stale    */
#define F_ROUND { .name = "seq", .kind = TPCM_U53, .off = M (seq) }
/*  name, optional: on the peer link, the asking agent's name (checked
 *  against its CURVE key; the only name a plain-text peer link has)      */
#define F_FROM { .name = "name", .kind = TPCM_STR, .off = M (name) }
static const tpcm_field_t s_f_peer_ask[] = { F_GID, F_ROUND, F_FROM };
static const tpcm_field_t s_f_state[] = {
    F_GID,
    { .name = "state", .kind = TPCM_ENUM, .flags = TPCM_REQ, .off = M (p3),
      .en = &s_p3_enum, .allowed = S_ALL },
    F_ROUND,
};
static const tpcm_field_t s_f_known[] = {
    F_GID,
    { .name = "state", .kind = TPCM_ENUM, .flags = TPCM_REQ, .off = M (p3),
      .en = &s_p3_enum, .allowed = S_ALL },
};
static const tpcm_field_t s_f_decide[] = {
    F_GID, F_OUTCOME (S_FINAL), F_FROM
};
/*  decides, acks (protocol 2): up to TPC_MSG_BATCH_MAX gids per list     */
static const tpcm_field_t s_f_batch[] = {
    { .name = "committed", .kind = TPCM_GIDV, .max = TPC_MSG_BATCH_MAX,
      .off = M (commits), .count_off = M (ncommits) },
    { .name = "aborted", .kind = TPCM_GIDV, .max = TPC_MSG_BATCH_MAX,
      .off = M (aborts), .count_off = M (naborts) },
};
static const tpcm_field_t s_f_precommits[] = {
    { .name = "gids", .kind = TPCM_GIDV, .flags = TPCM_REQ,
      .max = TPC_MSG_BATCH_MAX, .off = M (gids), .count_off = M (ngids) },
};
static const tpcm_field_t s_f_answer[] = { F_GID, F_OUTCOME (S_ANY_OUTCOME) };

static const tpcm_field_t s_f_resolve[] = {
    F_RID, F_GID, F_OUTCOME (S_FINAL), F_REASON
};
#define F_COUNT(n) { .name = #n, .kind = TPCM_U53, .flags = TPCM_REQ, \
    .off = M (n) }
static const tpcm_field_t s_f_txsummary[] = {
    F_RID, F_COUNT (in_flight), F_COUNT (in_doubt), F_COUNT (committed),
    F_COUNT (aborted), F_COUNT (heuristic), F_COUNT (oldest_ms),
    { .name = "agents", .kind = TPCM_STRV, .flags = TPCM_REQ,
      .off = M (agents),
      .count_off = M (nagents) },
};

static const tpcm_field_t s_f_rid_only[] = { F_RID };
static const tpcm_field_t s_f_clusterinfo[] = {
    F_RID,
    { .name = "role", .kind = TPCM_STR, .flags = TPCM_REQ, .off = M (role) },
    { .name = "member", .kind = TPCM_STR, .off = M (member) },
    { .name = "leader", .kind = TPCM_STR, .off = M (leader) },
    F_COUNT (epoch), F_COUNT (lease_ttl_ms), F_COUNT (lease_left_ms),
    F_COUNT (revision),
};

#define S_MSG(t, f) [t] = { NULL, f, TPCM_COUNT (f) }
const tpcm_object_t tpcm_msgs[TPC_MSG_TYPE_COUNT] = {
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
    S_MSG (TPC_MSG_CLUSTER, s_f_rid_only),
    S_MSG (TPC_MSG_CLUSTERINFO, s_f_clusterinfo),
    S_MSG (TPC_MSG_DECIDES, s_f_batch),
    S_MSG (TPC_MSG_ACKS, s_f_batch),
    S_MSG (TPC_MSG_PRECOMMITS, s_f_precommits),
};

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
    s_strv_free (t->waiting, t->nwaiting);
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
    free (self->leader);
    free (self->role);
    free (self->member);
    s_strv_free (self->gids, self->ngids);
    if (self->txns)
        for (size_t i = 0; i < self->ntxns; i++)
            s_txinfo_clear (&self->txns[i]);
    free (self->txns);
    s_strv_free (self->agents, self->nagents);
    s_strv_free (self->commits, self->ncommits);
    s_strv_free (self->aborts, self->naborts);
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
 *  Names and string arrays.                                              */

static const char *
s_name (const char *const *names, int count, int v)
{
    return v >= 0 && v < count && names[v] ? names[v] : "?";
}

const char *
tpc_msg_type_name (tpc_msg_type_t type)
{
    return s_name (tpcm_type_names, TPC_MSG_TYPE_COUNT, (int) type);
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
