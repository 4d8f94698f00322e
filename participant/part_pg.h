/*  part_pg: the PostgreSQL resource manager (part_rm.h) over libpq's
 *  asynchronous API.
 *
 *  A pool of POOL non-blocking connections in pipeline mode.  A
 *  transaction pins one connection from BEGIN until PREPARE, one-phase
 *  COMMIT or ROLLBACK finishes; one connection stays unpinned (pool >= 2)
 *  so phase-2 commands (COMMIT/ROLLBACK PREPARED, marker lookups,
 *  recovery), which run on any free connection, can always make progress.
 *  Work beyond the pool waits in a bounded FIFO (QUEUE_MAX); beyond that
 *  the operation fails with TPC_EBUSY.  Broken connections are re-opened
 *  with exponential backoff; the open transaction of a broken connection
 *  is lost (TPC_ECONNECT), prepared ones survive in PostgreSQL.
 *
 *  SQL sent, per operation ('gid' is validated by tpc_gid_parse, so it is
 *  [A-Za-z0-9_] only, and still written as a quoted literal).  PostgreSQL's
 *  prepared-transaction names are cluster-wide, so a gid is PREPAREd as
 *  'gid@OID', OID the oid of the agent's database (read at start): two
 *  agents on two databases of one cluster can then both prepare one tpc
 *  gid.  'pggid' below is that name, or the bare gid when RECOVER found the
 *  gid prepared so (by hand, or by an agent older than this naming):
 *
 *    BEGIN              nothing yet: pins a connection; "BEGIN" is sent in
 *                       the same pipeline as the first statements
 *    EXEC               [BEGIN;] stmt1; ... stmtN; Sync  (one round trip)
 *    PREPARE            [BEGIN;] stmt1; ... stmtN; INSERT INTO tpc_marker
 *                       (gid) SELECT $1 WHERE pg_current_xact_id_if_assigned()
 *                       IS NOT NULL; PREPARE TRANSACTION 'gid@OID'; Sync - ONE
 *                       round trip for a work's statements and its prepare.
 *                       Success only when the PREPARE TRANSACTION result is
 *                       PGRES_COMMAND_OK with command tag "PREPARE
 *                       TRANSACTION" (on an aborted transaction the tag is
 *                       "ROLLBACK").  The INSERT's row count tells whether
 *                       the transaction wrote: when it inserted nothing, the
 *                       (read-only) prepared transaction is committed with
 *                       COMMIT PREPARED 'gid@OID' before completing with
 *                       readonly, a second round trip for the rare case.
 *    COMMIT_ONEPHASE    [BEGIN;] stmt1; ... stmtN; the same INSERT; COMMIT;
 *                       Sync
 *    (a statement of a work that would end the transaction - COMMIT, END,
 *    ROLLBACK, ABORT, PREPARE TRANSACTION - is refused before anything of
 *    the round is sent)
 *    ROLLBACK           ROLLBACK (nothing if BEGIN was never sent)
 *    COMMIT_PREPARED    COMMIT PREPARED 'pggid'   (42704 -> TPC_ENOENT)
 *    ROLLBACK_PREPARED  ROLLBACK PREPARED 'pggid' (42704 -> TPC_ENOENT)
 *    OUTCOME_OF         SELECT (SELECT kind FROM tpc_marker WHERE gid = $1),
 *                       EXISTS (SELECT 1 FROM pg_prepared_xacts WHERE gid
 *                       = $2)   ($2 = pggid)
 *    TOMBSTONE          BEGIN; SET LOCAL lock_timeout = '5s'; INSERT 'T'
 *                       ON CONFLICT DO NOTHING, returning the kind now
 *                       stored; COMMIT
 *    RECOVER            SELECT gid FROM pg_prepared_xacts WHERE database =
 *                       current_database() AND gid LIKE 'tpc\_%'; the
 *                       '@OID' suffix is cut off (a name with another
 *                       suffix is skipped), a bare name remembered
 *
 *  A connection goes back to the pool only when PQtransactionStatus says
 *  it is idle (else ROLLBACK first, else it is re-opened).
 *
 *  STATEMENT CACHE: a statement (a work's, or the marker INSERT) that ran
 *  on a session without returning rows is prepared there (Parse
 *  "tpc_s<n>", in the same pipeline) the next time it comes, and
 *  executed by name from then on: PostgreSQL no longer parses, analyses
 *  and plans it for every transaction.  At most stmt_cache per session;
 *  beyond that, statements go unnamed.  Statements returning rows are
 *  never prepared (after a schema change PostgreSQL would refuse to run
 *  them: "cached plan must not change result type").  PostgreSQL's
 *  plan_cache_mode applies (after 5 runs it may keep a generic plan).
 *  A session that lost its statements (26000) forgets its cache.
 *
 *  RETENTION (marker_retention_s > 0): every marker_purge_ms, when no
 *  work waits for a connection, one free session runs
 *    BEGIN; SET LOCAL lock_timeout = '1s'; DELETE FROM tpc_marker WHERE
 *    gid IN (SELECT gid FROM tpc_marker m WHERE at < now() - retention AND
 *    NOT EXISTS (a pg_prepared_xacts row, of any database, named gid or
 *    gid@...) LIMIT 1000); COMMIT
 *  again at once while a batch came back full.  Why this is safe is in
 *  part_pg.c ("Marker retention").  Its completions are never emitted.
 *
 *  The sockets of the pool sit in one epoll set (level-triggered): pollfds()
 *  hands the agent that one descriptor, and process() steps only the
 *  sessions epoll reports, so a wake-up costs the same for 4 sessions or
 *  256 (an idle session is not polled or read).
 */
#ifndef PART_PG_H
#define PART_PG_H

#include <stddef.h>
#include <stdint.h>

#include "part_rm.h"

typedef struct part_pg part_pg_t;

/*  Log levels of the sink below (the engines' meaning).                 */
enum { PART_PG_VERBOSE = 0, PART_PG_WARNING = 1 };

typedef struct {
    const char *conninfo;       /* libpq connection string (never logged) */
    size_t pool;                /* connections; 0 = 8 */
    size_t queue_max;           /* waiting operations; 0 = 1024 */
    uint64_t connect_timeout_ms;/* per (re)connect attempt; 0 = 10000 */
    uint64_t backoff_min_ms;    /* first reconnect delay; 0 = 100 */
    uint64_t backoff_max_ms;    /* largest reconnect delay; 0 = 5000 */
    size_t stmt_cache;          /* statements prepared per session; 0 = 64 */
    bool no_stmt_cache;         /* prepare nothing (every statement is sent
                                   unnamed, parsed and planned each time) */
    uint64_t marker_retention_s;/* tpc_marker rows older than this whose
                                   gid no prepared transaction names are
                                   deleted (RETENTION below); 0 = kept
                                   for ever */
    uint64_t marker_purge_ms;   /* how often that DELETE runs; 0 = 3600000 */
    /*  Optional log sink; LEVEL is PART_PG_VERBOSE (0) or PART_PG_WARNING
     *  (1), as in both engines.                                          */
    void (*log) (void *arg, int level, const char *line);
    void *log_arg;
} part_pg_config_t;

/*  Connect (blocking, once), check that max_prepared_transactions > 0,
 *  create the marker table only if it is missing (an owner may have made
 *  it for a role without CREATE), check that the role may SELECT, INSERT
 *  and (with a retention) DELETE its rows, then open the rest of the
 *  pool asynchronously.  Returns NULL on failure with a sentence (and a
 *  hint where one helps: the GRANT to run) in ERRBUF.                    */
part_pg_t *part_pg_new (const part_pg_config_t *config, char *errbuf,
                        size_t errlen);
void part_pg_destroy (part_pg_t **self_p);

/*  The function table bound to SELF (owned by SELF).                     */
const part_rm_t *part_pg_rm (part_pg_t *self);

/*  Connections usable right now (for logs and tests).                    */
size_t part_pg_connected (part_pg_t *self);

/*  The marker table's definition (shared with tests and docs).           */
#define PART_PG_MARKER_DDL \
    "CREATE TABLE IF NOT EXISTS tpc_marker (gid text PRIMARY KEY, " \
    "kind char(1) NOT NULL DEFAULT 'C', " \
    "at timestamptz NOT NULL DEFAULT now())"

#endif
