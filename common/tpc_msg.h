/*  tpc_msg: every protocol message of tpc, and its strict JSON codec.
 *
 *  TRANSPORT
 *  Each message is one ZeroMQ frame holding one UTF-8 JSON object (on a
 *  ROUTER socket the routing-id frame comes first, as ZeroMQ adds it).
 *  Clients talk to the coordinator's client endpoint with a DEALER socket;
 *  agents talk to its agent endpoint with a DEALER socket whose routing id
 *  is the agent's name.  Every object carries:
 *
 *      "v"     integer   protocol version, TPC_PROTOCOL_VERSION (2).  A
 *                        larger number is refused (TPC_EMSG_VERSION).
 *                        Version 2 added decides and acks (below); the
 *                        other messages are the same in 1 and 2 and
 *                        are sent as version 1 (a libtpc or tpcctl of
 *                        version 1 reads every reply).  The
 *                        coordinator refuses a hello of an older version
 *                        with an error TPC_EMSG_VERSION naming both
 *                        versions, encoded in the agent's version (so
 *                        that it can read it); the agent stops on it.
 *      "type"  string    one of the message names below.
 *
 *  and then exactly the fields its type defines (an unknown field is an
 *  error: TPC_EMSG_UNKNOWN_FIELD), each at most once.  Integers are JSON
 *  numbers without a fraction in 0 .. 2^53-1 (but see affected and code
 *  below).  A "stmt" is {"on"?: string, "sql": string,
 *  "params"?: [string|null, ...]} ("on" names the participant; required in
 *  "submit", absent in "work").  SQL values travel as text, null for NULL.
 *
 *  CLIENT -> COORDINATOR            reply
 *  begin    rid, timeout_ms?, protocol?          begun  {rid, gid}
 *  exec     rid, gid, on, sql, params?           result {rid, gid, columns,
 *                                                        rows, affected}
 *  commit   rid, gid                             outcome
 *  rollback rid, gid                             outcome
 *  submit   rid, stmts[], timeout_ms?, protocol? outcome (one shot: all
 *                                                 statements, then commit)
 *  status   rid, gid                             txstatus {rid, gid, state,
 *                                                        outcome, reason?}
 *  list     rid                                  txlist {rid, txns[]}
 *
 *  OPERATIONS (client -> coordinator)     reply
 *  resolve  rid, gid, outcome, reason?   outcome: an operator settles a
 *                                        stuck gid by force (heuristic);
 *                                        needs an admin key
 *  summary  rid                          txsummary {rid, in_flight,
 *                                        in_doubt, committed, aborted,
 *                                        heuristic, oldest_ms, agents}
 *
 *  cluster  rid                          clusterinfo {rid, role, member?,
 *                                        leader?, epoch, lease_ttl_ms,
 *                                        lease_left_ms, revision}: any
 *                                        member of an HA group answers
 *                                        (role leader|follower; single
 *                                        without --ha)
 *
 *  COORDINATOR -> CLIENT
 *  outcome  rid, gid, outcome, reason?   final: "committed" | "aborted"
 *  error    rid, code, message, gid?,    any request that failed; code is a
 *           leader?                      tpc_err_t (tpc_error.h); with code
 *                                        TPC_ENOT_LEADER (-19, a follower of
 *                                        an HA group) leader is the leader's
 *                                        client endpoint ("" / absent:
 *                                        unknown); to an agent's hello, the
 *                                        leader's agent endpoint
 *  txlist.txns[] = {gid, state, age_ms, parts: [string], waiting?:
 *                   [string] (the participants it waits for)}
 *
 *  AGENT -> COORDINATOR
 *  hello    name, prepared?, peer?, boot?   at connect and every
 *                                heartbeat; prepared lists tpc gids the
 *                                database holds prepared; peer is the
 *                                endpoint where other agents reach this one
 *                                (3PC termination); boot is the agent
 *                                process's boot id, 16 hex digits drawn at
 *                                random at its start: another boot id than
 *                                before tells the coordinator the agent
 *                                restarted and its open, unvoted work is
 *                                gone (aborted at once, not at the vote
 *                                timeout)
 *  worked   gid, seq, ok, columns?, rows?, affected?, reason?
 *                                reply to work with then="none"
 *  vote     gid, vote, reason?   reply to prepare, or to work then="prepare"
 *  ack      gid, outcome, reason?  reply to decide, or work then="commit"
 *  query    gid                  "what became of gid?" (recovery)
 *
 *  COORDINATOR -> AGENT
 *  hello    name                 answers every hello accepted (name: the
 *                                coordinator's id): the link is alive
 *  work     gid, seq, stmts[], then   run statements in gid's transaction;
 *                                then "none" (reply worked), "prepare"
 *                                (prepare and vote), "commit" (one-phase
 *                                commit, reply ack)
 *  prepare  gid, protocol?, parts?, peers?   reply vote.  With protocol
 *                                "3pc" (also on work then="prepare") parts
 *                                names every participant and peers their
 *                                peer endpoints, same order: the CanCommit
 *                                of three-phase commit
 *
 *  THREE-PHASE COMMIT (coordinator, or an agent leading the termination
 *  protocol over the peer link, -> agent)
 *  precommit gid, seq?, name?    record "pre-committed"; reply state
 *  getstate  gid, seq?, name?    reply state.  name: on the peer link,
 *                                the asking agent's (precommit, getstate,
 *                                decide); with CURVE it must be its key's
 *                                name, without it is the only name there is
 *  state     gid, state, seq?    "unknown" | "uncertain" | "precommitted" |
 *                                "committed" | "aborted" (agent -> asker);
 *                                seq echoes the request's (on the peer
 *                                link: the asker's termination round, so
 *                                a late reply of an earlier round is
 *                                known stale; 0 / absent = none)
 *  decide   gid, outcome, name?  "committed" = COMMIT PREPARED, "aborted" =
 *                                ROLLBACK [PREPARED]; reply ack
 *  answer   gid, outcome         reply to query: committed | aborted |
 *                                in_progress (never presume abort for a gid
 *                                the coordinator is still working on)
 *  outcome_of gid                "what does your database know of gid?",
 *                                asked of the other agents before a query
 *                                for a gid with no record (of an earlier
 *                                boot) is answered aborted; reply known
 *
 *  BATCHES (version 2): many gids in one frame
 *  decides  committed?, aborted?  coordinator -> agent: one decide per
 *                                gid listed (committed first, in order),
 *                                on the coordinator link only (never with
 *                                name): the decisions one group commit
 *                                made durable, one frame per agent
 *  acks     committed?, aborted?  agent -> coordinator: one ack per gid
 *                                (the acks of one turn of the agent's
 *                                loop; an ack with a reason goes alone)
 *                                Each list: [gid], at most
 *                                TPC_MSG_BATCH_MAX (256) gids (more:
 *                                TPC_EMSG_FIELD_VALUE naming the list;
 *                                the encoder refuses, TPC_EINVAL); the
 *                                shells put at most TPC_MSG_BATCH_MAX
 *                                gids in a frame (under
 *                                TPC_MSG_BATCH_BYTES_MAX bytes) and split
 *                                larger batches.  A lone gid travels as
 *                                decide / ack.
 *  precommits gids               coordinator -> agent (3PC): one precommit
 *                                per gid listed (no seq, no name), the
 *                                gids one group commit made PRECOMMIT
 *                                durable; each is answered by its own
 *                                state.  gids: [gid], at most
 *                                TPC_MSG_BATCH_MAX
 *
 *  AGENT -> COORDINATOR (reply to outcome_of)
 *  known    gid, state           what this agent and its database know:
 *                                "committed" (commit marker, or decided
 *                                commit here), "precommitted" (3PC),
 *                                "uncertain" (prepared here, undecided),
 *                                "aborted" (not prepared, no commit
 *                                marker: never prepared, or rolled back),
 *                                "unknown" (cannot tell now, e.g. the
 *                                database is unreachable)
 *
 *  Field types: rid, seq, timeout_ms, age_ms, in_flight, in_doubt,
 *  committed, aborted, heuristic, oldest_ms: integer (timeout_ms at most
 *  TPC_MSG_TIMEOUT_MAX_MS, 24 h); affected: integer
 *  -1 .. 2^53-1 (-1 = not applicable); code: integer -2^31 .. -1 (a
 *  tpc_err_t); ok: boolean; gid: string that parses as a tpc gid
 *  (tpc_gid.h); prepared: [gid]; columns, parts, agents: [string]; rows:
 *  [[string|null]] each row as long as columns; protocol: "2pc" | "3pc";
 *  vote: "yes" | "no" | "readonly"; outcome: "committed" | "aborted" |
 *  "in_progress" ("in_progress" only in txstatus and answer); then: "none"
 *  | "prepare" | "commit"; all other fields: string.  No array holds more
 *  than TPC_MSG_MAX_ITEMS elements, nor a result more cells.  In "worked",
 *  columns, rows and affected come all together or not at all.
 *
 *  ENCODER (struct -> JSON)
 *  Emits "v" (the message's version member; 0 = the oldest version that
 *  defines the type: 2 for decides, acks and precommits, 1 for the rest,
 *  TPC_PROTOCOL_VERSION for a hello, so a version-1 client still reads
 *  every reply),
 *  "type", then the type's fields in the order listed above,
 *  as compact JSON (no spaces); equal structs give identical bytes.  A
 *  required field is always emitted: a NULL string, an invalid gid, an
 *  unset vote or outcome (or "in_progress" where not allowed), an integer
 *  out of range, a NULL array with a non-zero count, a NULL element of a
 *  [string] array or a string that is not UTF-8 makes the encoder refuse
 *  (TPC_EINVAL).  An optional field is emitted when it is set:
 *      strings (reason, gid of error)   non-NULL
 *      timeout_ms, seq (precommit,
 *        getstate, state)               non-zero (0 = coordinator default)
 *      protocol                         has_protocol
 *      params, prepared, parts, peers,
 *        committed, aborted             count non-zero
 *      peer, boot, name (peer link)     non-NULL
 *      columns, rows, affected (worked) has_result
 *  Members a type does not use are ignored (e.g. stmt.on in "work").
 *
 *  DECODER (JSON -> struct)
 *  Strict and bounded, in this order (the first failure decides):
 *      size > max_size                              TPC_EMSG_TOO_BIG
 *      not UTF-8: overlong, surrogate, > U+10FFFF,
 *        truncated sequence, NUL byte; also an
 *        escaped \u0000 (strings are C strings)     TPC_EMSG_NOT_UTF8
 *      containers nested deeper than max_depth
 *        (the top object is depth 1), scanned on
 *        the raw bytes before parsing               TPC_EMSG_TOO_DEEP
 *      not JSON (cJSON, plus what it is lenient
 *        about: control bytes, leading zeros, bad
 *        escapes, a byte-order mark)                TPC_EMSG_SYNTAX
 *      non-whitespace after the value               TPC_EMSG_TRAILING
 *      top-level value not an object                TPC_EMSG_NOT_OBJECT
 *      "v" missing, not an integer, or < 1          TPC_EMSG_NO_VERSION
 *      "v" > TPC_PROTOCOL_VERSION                   TPC_EMSG_VERSION
 *      "type" missing, not a string, not a name     TPC_EMSG_UNKNOWN_TYPE
 *      a required field absent (anywhere in the
 *        message, nested stmts and txns too)        TPC_EMSG_MISSING_FIELD
 *      a field of the wrong JSON type               TPC_EMSG_FIELD_TYPE
 *      a field the type does not define             TPC_EMSG_UNKNOWN_FIELD
 *      a key given twice, an integer negative,
 *        fractional or too big (timeout_ms over
 *        TPC_MSG_TIMEOUT_MAX_MS), an unknown enum
 *        name, a row not as long as columns, an
 *        array over TPC_MSG_MAX_ITEMS               TPC_EMSG_FIELD_VALUE
 *      a gid that tpc_gid_parse refuses             TPC_EMSG_BAD_GID
 *  A number with an integral value (1, 1.0, 1e2) counts as an integer.
 *  Decoding sets version to the message's "v", has_protocol and
 *  has_result when those fields were there;
 *  absent optional fields stay 0/NULL (affected -1).  Keys may come in any
 *  order.  Thread-safe, but for cJSON's global last-error record, which
 *  cJSON writes on every parse and this codec never reads.
 *
 *  Each failure has its own code (tpc_error.h) and a sentence naming the
 *  message type and field, e.g. `field "gid" of "commit": missing`.  The
 *  decoder never reads past LEN and needs no NUL terminator.
 */
#ifndef TPC_MSG_H
#define TPC_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TPC_PROTOCOL_VERSION 2
#define TPC_MSG_BATCH_MAX 256           /* gids per decides / acks frame */
/*  The largest decides / acks frame the shells send (TPC_MSG_BATCH_MAX
 *  gids in all, of at most TPC_GID_MAX - 1 bytes, quoted and comma'd,
 *  and the envelope); the decoder takes up to TPC_MSG_BATCH_MAX per list. */
#define TPC_MSG_BATCH_BYTES_MAX (TPC_MSG_BATCH_MAX * (80 + 2) + 128)
#define TPC_MSG_MAX_SIZE_DEFAULT (1024 * 1024)
#define TPC_MSG_TIMEOUT_MAX_MS 86400000ull      /* timeout_ms: 24 h at most */
#define TPC_MSG_MAX_DEPTH_DEFAULT 8
#define TPC_MSG_MAX_ITEMS 262144        /* elements per array, cells per result */

typedef enum {
    TPC_MSG_NONE = 0,
    /* client -> coordinator */
    TPC_MSG_BEGIN, TPC_MSG_EXEC, TPC_MSG_COMMIT, TPC_MSG_ROLLBACK,
    TPC_MSG_SUBMIT, TPC_MSG_STATUS, TPC_MSG_LIST,
    /* coordinator -> client */
    TPC_MSG_BEGUN, TPC_MSG_RESULT, TPC_MSG_OUTCOME, TPC_MSG_TXSTATUS,
    TPC_MSG_TXLIST, TPC_MSG_ERROR,
    /* agent -> coordinator */
    TPC_MSG_HELLO, TPC_MSG_WORKED, TPC_MSG_VOTE, TPC_MSG_ACK, TPC_MSG_QUERY,
    /* coordinator -> agent */
    TPC_MSG_WORK, TPC_MSG_PREPARE, TPC_MSG_DECIDE, TPC_MSG_ANSWER,
    /* operations: client -> coordinator, and the reply */
    TPC_MSG_RESOLVE, TPC_MSG_SUMMARY, TPC_MSG_TXSUMMARY,
    /* three-phase commit: coordinator or termination leader -> agent, and
       agent -> agent (the peer link) */
    TPC_MSG_PRECOMMIT, TPC_MSG_GETSTATE, TPC_MSG_STATE,
    /* presumed-abort check: coordinator -> agent, and the reply */
    TPC_MSG_OUTCOME_OF, TPC_MSG_KNOWN,
    /* HA (coord_elect.h): any client -> any member of a group, the reply */
    TPC_MSG_CLUSTER, TPC_MSG_CLUSTERINFO,
    /* protocol 2: one frame for many gids (coordinator -> agent, the
       reply agent -> coordinator) */
    TPC_MSG_DECIDES, TPC_MSG_ACKS, TPC_MSG_PRECOMMITS,
    TPC_MSG_TYPE_COUNT
} tpc_msg_type_t;

typedef enum { TPC_PROTO_2PC = 0, TPC_PROTO_3PC = 1 } tpc_proto_t;
typedef enum {
    TPC_VOTE_NONE = 0, TPC_VOTE_YES, TPC_VOTE_NO, TPC_VOTE_READONLY
} tpc_vote_t;
typedef enum {
    TPC_OUTCOME_NONE = 0, TPC_OUTCOME_COMMITTED, TPC_OUTCOME_ABORTED,
    TPC_OUTCOME_IN_PROGRESS
} tpc_outcome_t;
typedef enum { TPC_THEN_NONE = 0, TPC_THEN_PREPARE, TPC_THEN_COMMIT } tpc_then_t;
/*  A participant's 3PC state of one gid (Skeen's states; UNKNOWN: the agent
 *  has no record of the gid, it never voted or has long forgotten it).   */
typedef enum {
    TPC_P3_UNKNOWN = 0, TPC_P3_UNCERTAIN, TPC_P3_PRECOMMITTED,
    TPC_P3_COMMITTED, TPC_P3_ABORTED
} tpc_p3_t;

typedef struct {
    char *on;                   /* participant name (submit), else NULL */
    char *sql;
    size_t nparams;
    char **params;              /* element NULL = SQL NULL */
} tpc_stmt_t;

typedef struct {
    char *gid;
    char *state;
    uint64_t age_ms;
    size_t nparts;
    char **parts;
    size_t nwaiting;            /* the participants it waits for (a vote,
                                   an ack, a worked, a precommitted) */
    char **waiting;
} tpc_txinfo_t;

/*  A decoded or to-be-encoded message.  Every pointer is owned by the
 *  message and freed by tpc_msg_destroy(); unused fields are 0/NULL.
 *  Which fields a type uses is listed in the comment at the top.         */
typedef struct {
    tpc_msg_type_t type;
    uint64_t version;           /* decode: the message's "v"; encode: the
                                   "v" to emit, 0 = TPC_PROTOCOL_VERSION */
    uint64_t rid;               /* client request id, echoed in the reply */
    char *gid;
    char *name;                 /* hello; precommit, getstate, decide on
                                   the peer link: the asking agent */
    char *peer;                 /* hello: the agent's peer endpoint, if any */
    char *boot;                 /* hello: the agent process's boot id, if
                                   any (16 hex digits) */
    char *on;                   /* exec */
    char *sql;                  /* exec */
    size_t nparams;             /* exec */
    char **params;              /* exec; element NULL = SQL NULL */
    uint64_t timeout_ms;        /* begin, submit; 0 = coordinator default */
    tpc_proto_t protocol;       /* begin, submit */
    bool has_protocol;          /* protocol was given (encode: emit it) */
    size_t nstmts;              /* submit, work */
    tpc_stmt_t *stmts;
    uint64_t seq;               /* work, worked; precommit, getstate,
                                   state: termination round (optional) */
    tpc_then_t then;            /* work */
    size_t nparts;              /* prepare, work (3pc): participant names */
    char **parts;
    size_t npeers;              /* prepare, work (3pc): their peer endpoints,
                                   same order ("" = none known) */
    char **peers;
    tpc_p3_t p3;                /* state, known */
    bool ok;                    /* worked */
    size_t ncolumns;            /* result, worked */
    char **columns;
    size_t nrows;               /* result, worked */
    char **cells;               /* nrows * ncolumns, row-major; NULL = SQL NULL */
    int64_t affected;           /* result, worked; -1 = not applicable */
    bool has_result;            /* worked: columns/rows/affected present */
    tpc_vote_t vote;            /* vote */
    tpc_outcome_t outcome;      /* outcome, txstatus, ack, decide, answer */
    char *reason;               /* outcome, vote, ack, worked, txstatus:
                                   optional text */
    char *state;                /* txstatus */
    int code;                   /* error: a tpc_err_t */
    char *message;              /* error */
    char *role;                 /* clusterinfo: leader|follower|single */
    char *member;               /* clusterinfo: the member answering */
    uint64_t epoch;             /* clusterinfo: its epoch (0 follower) */
    uint64_t lease_ttl_ms;      /* clusterinfo: the group's lease */
    uint64_t lease_left_ms;     /* clusterinfo: left of the leader's */
    uint64_t revision;          /* clusterinfo: etcd revision of the last
                                   decision write (0: none, or no etcd) */
    char *leader;               /* error TPC_ENOT_LEADER: the leader's
                                   endpoint, if known */
    size_t ngids;               /* hello: prepared gids; precommits */
    char **gids;
    size_t ntxns;               /* txlist */
    tpc_txinfo_t *txns;
    uint64_t in_flight;         /* txsummary: live transactions */
    uint64_t in_doubt;          /* txsummary: prepared somewhere, not
                                   applied everywhere yet */
    uint64_t committed;         /* txsummary: ended so, since start */
    uint64_t aborted;
    uint64_t heuristic;         /* txsummary: resolved by an operator */
    uint64_t oldest_ms;         /* txsummary: age of the oldest in doubt */
    size_t nagents;             /* txsummary: connected agents */
    char **agents;
    size_t ncommits;            /* decides, acks: the gids committed */
    char **commits;
    size_t naborts;             /* decides, acks: the gids aborted */
    char **aborts;
} tpc_msg_t;

typedef struct {
    size_t max_size;            /* 0 = TPC_MSG_MAX_SIZE_DEFAULT */
    int max_depth;              /* 0 = TPC_MSG_MAX_DEPTH_DEFAULT */
} tpc_msg_limits_t;

/*  A zeroed message of TYPE (affected = -1), or NULL on out of memory or
 *  when TYPE is not a tpc_msg_type_t.                                    */
tpc_msg_t *tpc_msg_new (tpc_msg_type_t type);

/*  Free SELF and everything it owns; *self_p becomes NULL.  Idempotent.  */
void tpc_msg_destroy (tpc_msg_t **self_p);

/*  Replace *FIELD (a char * member of a message) by a copy of VALUE
 *  (NULL clears it).  Returns 0 or TPC_ENOMEM.                           */
int tpc_msg_set_str (char **field, const char *value);

/*  Append a statement (ON may be NULL) with NPARAMS parameters (copied).
 *  Returns 0 or TPC_ENOMEM.                                              */
int tpc_msg_add_stmt (tpc_msg_t *self, const char *on, const char *sql,
                      size_t nparams, const char *const *params);

/*  Set the result set (copied, replacing any earlier one): NCOLS column
 *  names and NROWS rows of cells, row-major (a NULL cell = SQL NULL), and
 *  set has_result.  Returns 0 or TPC_ENOMEM (SELF then unchanged).       */
int tpc_msg_set_rows (tpc_msg_t *self, size_t ncols,
                      const char *const *columns, size_t nrows,
                      const char *const *cells);

/*  Append a copy of VALUE (NULL appends a NULL element) to a string
 *  array member (parts of a txinfo, gids, params) and count it in *N.
 *  Returns 0 or TPC_ENOMEM (array then unchanged).                       */
int tpc_msg_strv_push (char ***v, size_t *n, const char *value);

/*  Free a string array of N elements (NULL elements allowed); *V_P
 *  becomes NULL.  A no-op on NULL.                                        */
void tpc_strv_free (char ***v_p, size_t n);

/*  *DST = a new array of N strings copied from SRC, which has NSRC of them
 *  (a missing or NULL one is copied as ""); NULL when N is 0.  Returns 0
 *  or TPC_ENOMEM (*DST then NULL).                                       */
int tpc_strv_copy (char ***dst, size_t n, char *const *src, size_t nsrc);

/*  Encode SELF as JSON (see ENCODER above).  On success *OUT is a
 *  malloc'd buffer (NUL terminated, the NUL not counted in *LEN) the
 *  caller frees with free().  Returns 0, TPC_EINVAL if the type is unknown
 *  or a field is missing, out of range or not UTF-8, or TPC_ENOMEM.      */
int tpc_msg_encode (const tpc_msg_t *self, char **out, size_t *len);

/*  Decode LEN bytes at BUF strictly (see DECODER above).  On success
 *  returns 0 and *OUT is a new message.  On failure returns a TPC_EMSG_*
 *  code (or TPC_ENOMEM), *OUT is NULL and, if ERRBUF is not NULL, a
 *  sentence naming the offending field is written there.  LIMITS may be
 *  NULL for the defaults.                                                */
int tpc_msg_decode (const void *buf, size_t len,
                    const tpc_msg_limits_t *limits, tpc_msg_t **out,
                    char *errbuf, size_t errlen);

/*  The rid of a frame the decoder refused unread (over the size limit),
 *  found by one pass over its LEN raw bytes at BUF, without parsing:
 *  the integer value of the key "rid" of the top-level object, wherever it
 *  stands and however it is spaced.  0 when the frame holds no such key,
 *  holds it twice, or its value is not an integer 0 .. 2^53-1.  Safe with
 *  any bytes (strings and escapes are skipped, nesting only counted).    */
uint64_t tpc_msg_peek_rid (const void *buf, size_t len);

/*  Names on the wire: "begin", "yes", "committed", "prepare", "2pc" ...
 *  A value with no wire name (TPC_MSG_NONE, TPC_VOTE_NONE, ...) gives "?". */
const char *tpc_msg_type_name (tpc_msg_type_t type);
const char *tpc_vote_name (tpc_vote_t vote);
const char *tpc_outcome_name (tpc_outcome_t outcome);
const char *tpc_then_name (tpc_then_t then);
const char *tpc_proto_name (tpc_proto_t proto);
const char *tpc_p3_name (tpc_p3_t state);

#endif
