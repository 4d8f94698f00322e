/*  tpc_client: libtpc, the client library of tpc.
 *
 *  One tpc_client_t talks to one coordinator over a ZeroMQ DEALER socket,
 *  speaking the client messages of the tpc wire protocol (docs/PROTOCOL.md).
 *  Every call blocks until the coordinator answers or the client's timeout
 *  (tpc_client_opts_t.timeout_ms) has passed.  A client is not thread-safe:
 *  use one client per thread.
 *
 *  Two ways to run a transaction:
 *
 *    interactive   tpc_begin -> tpc_exec ... -> tpc_commit | tpc_rollback
 *    one shot      tpc_submit (every statement for every participant in one
 *                  request; the coordinator runs them, then commits)
 *
 *  Return values: 0 on success or a negative error code.  The codes are the
 *  numbers of tpc's tpc_error.h (mirrored below for the ones a client meets
 *  most); tpc_client_strerror() describes any code and tpc_client_errmsg()
 *  gives the text of the last failure of this client, including the message
 *  of an "error" reply from the coordinator.
 *
 *  OUTCOMES AND DOUBT
 *  tpc_commit and tpc_submit return 0 only when the coordinator said
 *  "committed", TPC_CLIENT_EABORTED when it said "aborted" (the reason is
 *  copied out).  When no answer came in time, or the answer was unreadable,
 *  they return TPC_CLIENT_EIN_DOUBT: the transaction may have committed or
 *  not, and the library never guesses.  Ask tpc_status() with the gid later.
 *  A request that could not even be handed to a connected coordinator
 *  returns TPC_CLIENT_ECONNECT: nothing was sent, so nothing happened.
 *  Until it has been connected once a client waits connect_timeout_ms
 *  (2 s by default) for that, not the whole timeout_ms; the message
 *  names the endpoint and what to check.
 *  TPC_CLIENT_ECONNLOST says the connection broke: while the request
 *  waited for its reply (it may have been acted on; commit, rollback and
 *  submit then return TPC_CLIENT_EIN_DOUBT), or mid-handshake with no
 *  coordinator back before the deadline (nothing sent).
 *
 *  This header is installed and self-contained: it needs no other tpc
 *  header.  Link with `pkg-config --libs libtpc`.
 */
#ifndef TPC_CLIENT_H
#define TPC_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*  Error codes (equal to tpc_error.h's numbers; other codes may come from
 *  the coordinator: tpc_client_strerror() knows them all).               */
#define TPC_CLIENT_OK              0
#define TPC_CLIENT_ENOMEM         -1    /* out of memory */
#define TPC_CLIENT_EINVAL         -2    /* invalid argument */
#define TPC_CLIENT_ETIMEDOUT      -7    /* no reply in time (no decision involved) */
#define TPC_CLIENT_EBUSY          -8    /* coordinator overloaded: retry later */
#define TPC_CLIENT_ESTATE         -9    /* not allowed in the transaction's state */
#define TPC_CLIENT_ECONNECT      -10    /* coordinator not reachable: nothing sent */
#define TPC_CLIENT_EDB           -11    /* a database reported an error */
#define TPC_CLIENT_EPROTO        -13    /* the coordinator's reply broke the protocol */
#define TPC_CLIENT_EAUTH         -14    /* CURVE handshake refused: nothing sent */
#define TPC_CLIENT_EPERM         -15    /* this key's role may not do that */
#define TPC_CLIENT_ELIMIT        -16    /* over a limit of the coordinator */
#define TPC_CLIENT_ECONNLOST     -17    /* the connection broke (the coordinator
                                           stopped?): see tpc_client_errmsg */
#define TPC_CLIENT_ENOT_LEADER   -19    /* a follower of an HA group; with an
                                           endpoint list, only when no member
                                           knew a leader in time: not acted on */
#define TPC_CLIENT_EMSG_TOO_BIG -100    /* message larger than the size limit */
#define TPC_CLIENT_EUNKNOWN_GID -300    /* no such transaction */
#define TPC_CLIENT_EUNKNOWN_PART -301   /* no such participant */
#define TPC_CLIENT_EABORTED     -302    /* the transaction was aborted */
#define TPC_CLIENT_EIN_DOUBT    -303    /* outcome unknown: ask tpc_status */

#define TPC_CLIENT_GID_MAX 80           /* gid buffer size, NUL included */
#define TPC_CLIENT_TIMEOUT_DEFAULT 30000
#define TPC_CLIENT_CONNECT_TIMEOUT_DEFAULT 2000
#define TPC_CLIENT_ENDPOINT_DEFAULT "tcp://127.0.0.1:7400"

typedef enum {
    TPC_CLIENT_OUTCOME_UNKNOWN = 0,     /* no final answer (yet) */
    TPC_CLIENT_COMMITTED = 1,
    TPC_CLIENT_ABORTED = 2,
    TPC_CLIENT_IN_PROGRESS = 3          /* tpc_status: still being decided */
} tpc_client_outcome_t;

typedef struct tpc_client tpc_client_t;
typedef struct tpc_result tpc_result_t;
typedef struct tpc_txlist tpc_txlist_t;

typedef struct {
    int timeout_ms;             /* per call; 0 = TPC_CLIENT_TIMEOUT_DEFAULT */
    size_t max_msg_size;        /* bytes, both ways; 0 = 1 MiB */
    /*  CurveZMQ: this client's key pair (a NAME.key_secret file from
     *  `tpcctl keygen`, mode 0600) and the coordinator's public
     *  certificate (its NAME.key).  Give both or neither (NULL = plain
     *  TCP, accepted only by a coordinator run with --insecure-plaintext).
     *  Added at the end of the struct: a zeroed struct keeps meaning
     *  "no CURVE".                                                       */
    const char *curve_secret_file;
    const char *curve_server_file;
    /*  A libzmq context (zmq_ctx_new) for this client's socket, so that
     *  many clients of one process share its I/O thread; NULL = the client
     *  makes its own.  The caller keeps it alive until every client using
     *  it is destroyed, then terminates it.  (Added last, like the keys.) */
    void *zmq_context;
    /*  How long a call waits for a first connection to the coordinator
     *  (TCP and, with CURVE, the handshake) before it gives up with
     *  TPC_CLIENT_ECONNECT, nothing sent: a coordinator that is not
     *  running, a wrong host or port, no route.  0 =
     *  TPC_CLIENT_CONNECT_TIMEOUT_DEFAULT (2 s, as etcdctl's dial
     *  timeout); capped by timeout_ms.
     *  It bounds the wait until this client has been connected once;
     *  after that a broken link is a coordinator restarting and a call
     *  waits for it up to timeout_ms (TPC_CLIENT_ECONNLOST).  Added last
     *  (libtpc 1.2): a zeroed struct keeps the default.  Programs built
     *  against an older tpc_client.h, whose struct ends before this
     *  field, are bound to tpc_client_new@LIBTPC_1, which never reads
     *  it.                                                               */
    int connect_timeout_ms;
} tpc_client_opts_t;

typedef struct {
    uint64_t timeout_ms;        /* transaction timeout at the coordinator
                                   (at most 86400000, 24 h: more is
                                   TPC_CLIENT_EINVAL);
                                   0 = the coordinator's default */
    const char *protocol;       /* "2pc", "3pc" or NULL (coordinator's) */
} tpc_txn_opts_t;

typedef struct {
    const char *on;             /* participant name, e.g. "db1" */
    const char *sql;            /* one statement; parameters are $1, $2 ... */
    size_t nparams;
    const char *const *params;  /* text values; an element NULL = SQL NULL */
} tpc_client_stmt_t;

/*  A client connected (lazily, by ZeroMQ) to ENDPOINT (NULL = the default
 *  tcp://127.0.0.1:7400).  ENDPOINT may be a comma-separated list of the
 *  client endpoints of one coordinator HA group ("tcp://a:7400,
 *  tcp://b:7400", at most 16): the client talks to one member at a time,
 *  follows a follower's not_leader answer to the leader it names (or to
 *  the next member), skips a member not connected within 1 s (or
 *  connect_timeout_ms if shorter; a refused key is TPC_CLIENT_EAUTH, not
 *  skipped), and after
 *  a link broke under a commit or rollback asks the group for the gid's
 *  status rather than resending (see tpc_client.c for each request); all
 *  within the call's timeout.  With CURVE every member has the same
 *  coordinator public key (curve_server_file).  OPTS may be NULL.  Returns NULL on failure with
 *  errno EINVAL for a bad endpoint or option (a key file that is not a
 *  certificate, only one of the two key files), ENOENT for a key file
 *  that is not there, EACCES for a secret key file others may read,
 *  ENOMEM otherwise.  A refused CURVE handshake shows later: calls return
 *  TPC_CLIENT_EAUTH, nothing sent (the coordinator refused the key, or
 *  closed the link mid-handshake twice in a row: a wrong server key).
 *  Latency trace (README "Performance"): with the environment variable
 *  TPC_TRACE_FILE set, each tpc_submit of a sampled gid (one in
 *  TPC_TRACE_SAMPLE, default 1) appends its send and receive times to
 *  that file; a file that cannot be opened is warned about on stderr
 *  and the client works untraced.                                        */
tpc_client_t *tpc_client_new (const char *endpoint,
                              const tpc_client_opts_t *opts);

/*  Close the socket and free the client; *self_p becomes NULL.  A no-op
 *  on NULL.  Transactions left open are aborted by the coordinator's
 *  timeout.                                                              */
void tpc_client_destroy (tpc_client_t **self_p);

/*  Text of the last failure of SELF (empty string if none).  Valid until
 *  the next call on SELF.                                                */
const char *tpc_client_errmsg (const tpc_client_t *self);

/*  A static description of any error code (never NULL).                  */
const char *tpc_client_strerror (int code);

/*  Name of an outcome: "committed", "aborted", "in_progress", "unknown". */
const char *tpc_client_outcome_name (tpc_client_outcome_t outcome);

/*  Start a transaction; its gid is written to GID_OUT.  OPTS may be NULL.
 *  Returns 0, TPC_CLIENT_ECONNECT, TPC_CLIENT_ETIMEDOUT, or the code of an
 *  error reply.                                                          */
int tpc_begin (tpc_client_t *self, const tpc_txn_opts_t *opts,
               char gid_out[TPC_CLIENT_GID_MAX]);

/*  Run SQL with NPARAMS PARAMS (NULL element = SQL NULL) on participant ON
 *  within transaction GID.  On success *RESULT (if RESULT is not NULL) is
 *  a new result the caller destroys.  On failure *RESULT is NULL; a
 *  database error comes back as TPC_CLIENT_EDB with the database's text in
 *  tpc_client_errmsg().  After TPC_CLIENT_ETIMEDOUT the statement may or
 *  may not have run: do not resend it, roll the transaction back.        */
int tpc_exec (tpc_client_t *self, const char *gid, const char *on,
              const char *sql, size_t nparams, const char *const *params,
              tpc_result_t **result);

/*  Commit GID.  Returns 0 (committed), TPC_CLIENT_EABORTED (REASON gets
 *  why), TPC_CLIENT_EIN_DOUBT (no readable answer: ask tpc_status),
 *  TPC_CLIENT_ECONNECT (not sent) or an error reply's code.  OUTCOME and
 *  REASON (REASON_SIZE bytes, NUL terminated) may be NULL.               */
int tpc_commit (tpc_client_t *self, const char *gid,
                tpc_client_outcome_t *outcome, char *reason,
                size_t reason_size);

/*  Roll GID back.  Returns 0 when the coordinator reports it aborted,
 *  TPC_CLIENT_ESTATE if it reports it committed, otherwise as tpc_commit. */
int tpc_rollback (tpc_client_t *self, const char *gid,
                  tpc_client_outcome_t *outcome, char *reason,
                  size_t reason_size);

/*  One-shot transaction: NSTMTS statements (each naming its participant)
 *  run and committed atomically.  GID_OUT gets the gid the coordinator
 *  assigned (empty if none came back).  Returns as tpc_commit.  Note: when
 *  the answer is lost the gid is unknown to the caller; use tpc_begin and
 *  tpc_commit when you need to resolve doubt by gid.                     */
int tpc_submit (tpc_client_t *self, const tpc_client_stmt_t *stmts,
                size_t nstmts, const tpc_txn_opts_t *opts,
                char gid_out[TPC_CLIENT_GID_MAX],
                tpc_client_outcome_t *outcome, char *reason,
                size_t reason_size);

/*  What became of GID: *OUTCOME is committed, aborted or in_progress and
 *  STATE (STATE_SIZE bytes, may be NULL) the coordinator's state name.
 *  Returns 0, TPC_CLIENT_EUNKNOWN_GID, TPC_CLIENT_ETIMEDOUT ...           */
int tpc_status (tpc_client_t *self, const char *gid,
                tpc_client_outcome_t *outcome, char *state,
                size_t state_size);

/*  How the coordinator knows what the last successful tpc_status of SELF
 *  answered, or why it is so ("" when it gave no reason).  E.g. for a gid
 *  of an earlier coordinator boot with no record, state "no_record":
 *  "no record, and no participant's marker says committed (checked with
 *  db1, db2)".  Valid until the next call on SELF.                       */
const char *tpc_status_reason (const tpc_client_t *self);

/*  The coordinator's in-flight and in-doubt transactions.  On success
 *  *LIST is new; destroy it with tpc_txlist_destroy.                     */
int tpc_list (tpc_client_t *self, tpc_txlist_t **list);

/*  OPERATIONS (an operator's tools; tpcctl uses them)
 *
 *  Settle a stuck transaction by force: the coordinator records a
 *  HEURISTIC decision OUTCOME (TPC_CLIENT_COMMITTED or ABORTED) for GID
 *  in its log, answers the gid's participants with it from then on and
 *  stops driving it.  REASON (may be NULL) is kept with the record.
 *  Needs an admin key.  Returns 0 once the decision is durable,
 *  TPC_CLIENT_EPERM (not an admin key), TPC_CLIENT_ESTATE (the
 *  coordinator is still driving GID, or OUTCOME contradicts what is
 *  decided; the message says which), ...                                 */
int tpc_resolve (tpc_client_t *self, const char *gid,
                 tpc_client_outcome_t outcome, const char *reason);

/*  The coordinator at a glance.  Counts of ended transactions are since
 *  the coordinator started.                                              */
typedef struct {
    uint64_t in_flight;         /* live transactions */
    uint64_t in_doubt;          /* prepared somewhere, not applied
                                   everywhere yet */
    uint64_t committed;
    uint64_t aborted;
    uint64_t heuristic;         /* gids resolved by an operator */
    uint64_t oldest_in_doubt_ms;
    size_t nagents;             /* agents connected now, by name */
    char **agents;
} tpc_summary_t;

/*  Fill *OUT (release it with tpc_summary_clear).  Returns 0 or a code.  */
int tpc_summary (tpc_client_t *self, tpc_summary_t *out);
void tpc_summary_clear (tpc_summary_t *summary);

/*  One member's view of its coordinator HA group ("cluster", answered by
 *  a leader and a follower alike; role "single" without --ha).          */
typedef struct {
    char role[16];              /* leader | follower | single */
    char member[128];           /* the member that answered */
    char leader[256];           /* the leader's client endpoint ("") */
    uint64_t epoch;             /* the leader's epoch (0 from a follower) */
    uint64_t lease_ttl_ms;      /* the group's lease */
    uint64_t lease_left_ms;     /* left of the leader's lease (leader) */
    uint64_t revision;          /* etcd revision of the last decision
                                   write (leader; 0 none) */
} tpc_cluster_t;

/*  Ask the member this client talks to.  Returns 0 or a code.            */
int tpc_cluster (tpc_client_t *self, tpc_cluster_t *out);

/*  Result of tpc_exec.  Cells are text; a SQL NULL is a NULL pointer.
 *  Out-of-range indexes give NULL.  affected is -1 when not applicable. */
size_t tpc_result_ncolumns (const tpc_result_t *self);
const char *tpc_result_column (const tpc_result_t *self, size_t col);
size_t tpc_result_nrows (const tpc_result_t *self);
const char *tpc_result_value (const tpc_result_t *self, size_t row,
                              size_t col);
bool tpc_result_is_null (const tpc_result_t *self, size_t row, size_t col);
int64_t tpc_result_affected (const tpc_result_t *self);
void tpc_result_destroy (tpc_result_t **self_p);

/*  Entries of tpc_list.  Out-of-range indexes give NULL / 0.             */
size_t tpc_txlist_size (const tpc_txlist_t *self);
const char *tpc_txlist_gid (const tpc_txlist_t *self, size_t i);
const char *tpc_txlist_state (const tpc_txlist_t *self, size_t i);
uint64_t tpc_txlist_age_ms (const tpc_txlist_t *self, size_t i);
size_t tpc_txlist_nparts (const tpc_txlist_t *self, size_t i);
const char *tpc_txlist_part (const tpc_txlist_t *self, size_t i, size_t j);
/*  The participants entry I waits for (its vote, ack, statement result or
 *  3PC precommitted), a subset of its participants.                      */
size_t tpc_txlist_nwaiting (const tpc_txlist_t *self, size_t i);
const char *tpc_txlist_waiting (const tpc_txlist_t *self, size_t i,
                                size_t j);
void tpc_txlist_destroy (tpc_txlist_t **self_p);

#ifdef __cplusplus
}
#endif

#endif
