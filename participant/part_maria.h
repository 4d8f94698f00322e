/*  part_maria: the MariaDB resource manager (part_rm.h) over XA and
 *  MariaDB Connector/C's non-blocking API (MYSQL_OPT_NONBLOCK, the
 *  *_start / *_cont calls, mysql_get_socket, mysql_get_timeout_value_ms).
 *
 *  A pool of POOL sessions, no threads.  A transaction pins one session
 *  from BEGIN until PREPARE, one-phase COMMIT or ROLLBACK ends it; one
 *  session stays unpinned (pool >= 2) for phase 2, OUTCOME_OF, TOMBSTONE
 *  and RECOVER.  Work beyond the pool waits in a bounded FIFO (QUEUE_MAX,
 *  then TPC_EBUSY).  Broken sessions are re-opened with exponential
 *  backoff; the open (not prepared) branch of a broken session is rolled
 *  back by the server (TPC_ECONNECT), prepared ones survive (MariaDB >=
 *  10.5 keeps them across disconnects and restarts: MDEV-742).
 *
 *  REQUIREMENTS, checked by part_maria_new (a sentence saying what to
 *  change otherwise): MariaDB >= 10.5; innodb_flush_log_at_trx_commit = 1
 *  (XA PREPARE durable when it returns); the binary log OFF, or ON with
 *  binlog_format = ROW and sync_binlog = 1; the account may create the
 *  marker table (or it exists), INSERT/SELECT it and run XA RECOVER.
 *  Every session runs at REPEATABLE READ (SET SESSION TRANSACTION
 *  ISOLATION LEVEL REPEATABLE READ when it opens; SERIALIZABLE is kept if
 *  it is the server's default).
 *
 *  THE XID.  formatID PART_MARIA_FORMAT_ID (0x54504331, "TPC1"); gtrid =
 *  the gid's first 64 bytes; bqual = "<branch>." then the gid's bytes
 *  after the 64th (0 to 15 of them: gids are at most 79 bytes); <branch>
 *  = 8 lower-case hex digits, the CRC-32C of "<database>/<agent name>".
 *  Two agents on one server (two databases, or one database and two
 *  names) thus never name the same branch, and RECOVER gets the gid back
 *  as gtrid + bqual after the '.' from XA RECOVER's rows of our formatID
 *  and branch (other rows are left alone).
 *
 *  THE MARKER TABLE `<database>`.tpc_marker (PART_MARIA_MARKER_DDL),
 *  InnoDB, keyed (branch, gid): kind 'C' inserted inside the transaction
 *  (commits with it), 'T' a tombstone.  The same meaning as in part_pg.
 */
#ifndef PART_MARIA_H
#define PART_MARIA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "part_rm.h"

typedef struct part_maria part_maria_t;

#define PART_MARIA_FORMAT_ID 1414546225L    /* 0x54504331 "TPC1" */

/*  The marker table's definition; %s = the database, backquoted.         */
#define PART_MARIA_MARKER_DDL \
    "CREATE TABLE IF NOT EXISTS %s.tpc_marker (" \
    "branch CHAR(8) CHARACTER SET ascii NOT NULL, " \
    "gid VARCHAR(80) CHARACTER SET ascii COLLATE ascii_bin NOT NULL, " \
    "kind CHAR(1) CHARACTER SET ascii NOT NULL DEFAULT 'C', " \
    "at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6), " \
    "PRIMARY KEY (branch, gid)) ENGINE=InnoDB"

typedef struct {
    const char *conninfo;       /* tpc_maria_conninfo.h's line (never
                                   logged) */
    const char *agent;          /* the agent's name (the xid's branch) */
    size_t pool;                /* sessions; 0 = 8 */
    size_t queue_max;           /* waiting operations; 0 = 1024 */
    uint64_t connect_timeout_ms;/* per (re)connect attempt; 0 = 10000 */
    uint64_t backoff_min_ms;    /* first reconnect delay; 0 = 100 */
    uint64_t backoff_max_ms;    /* largest reconnect delay; 0 = 5000 */
    /*  Optional log sink; LEVEL 0 verbose, 1 warning (as part_pg).       */
    void (*log) (void *arg, int level, const char *line);
    void *log_arg;
} part_maria_config_t;

/*  Connect (blocking, once), check the REQUIREMENTS above, create the
 *  marker table if missing, then open the rest of the pool
 *  asynchronously.  NULL on failure with a sentence in ERRBUF.           */
part_maria_t *part_maria_new (const part_maria_config_t *config,
                              char *errbuf, size_t errlen);
void part_maria_destroy (part_maria_t **self_p);

/*  The function table bound to SELF (owned by SELF).                     */
const part_rm_t *part_maria_rm (part_maria_t *self);

/*  Sessions usable right now (for logs and tests).                       */
size_t part_maria_connected (part_maria_t *self);
/*  Gids whose session broke, remembered until their next operation
 *  (tests).                                                              */
size_t part_maria_lost_count (part_maria_t *self);

/*  The branch tag (8 hex digits) of this agent's xids (tests, docs).     */
const char *part_maria_branch (const part_maria_t *self);

#endif
