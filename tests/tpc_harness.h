/*  tpc_harness: real processes and real PostgreSQL for integration tests.
 *
 *  Starts throwaway PostgreSQL clusters (scripts/pgtmp), spawns the tpc
 *  daemons with their stderr captured to a file, waits for their "ready"
 *  line, kills them with any signal, and runs SQL for assertions.  Every
 *  failure is reported as a failure: a missing PostgreSQL never skips.
 */
#ifndef TPC_HARNESS_H
#define TPC_HARNESS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "tpc_client.h"
#include "tpc_clock.h"

/*  Does the file at PATH hold a line containing NEEDLE?  (false if it
 *  cannot be read)                                                       */
bool tpc_harness_file_has (const char *path, const char *needle);

/*  Records of TYPE (a tpc_rec_type_t) naming GID in the decision log in
 *  LOGDIR, by a read-only scan; -1 if the log cannot be read.            */
int tpc_harness_log_count (const char *logdir, const char *gid, int type);

/*  Absolute path of the source tree (env abs_top_srcdir / srcdir, or the
 *  compile-time TPC_TOP_SRCDIR) and of the build tree (TPC_TOP_BUILDDIR). */
const char *tpc_harness_srcdir (void);
const char *tpc_harness_builddir (void);

/*  A throwaway cluster in DIR: start returns 0 and fills CONNINFO.      */
int tpc_harness_pg_start (const char *dir, char *conninfo, size_t size);
int tpc_harness_pg_cmd (const char *cmd, const char *dir);  /* stop|kill|destroy */

/*  Run SQL (several statements allowed); 0 or -1 with the error printed. */
int tpc_harness_sql (const char *conninfo, const char *sql);

/*  First column of the first row of SQL as an integer; INT64_MIN on error. */
int64_t tpc_harness_sql_int (const char *conninfo, const char *sql);

/* ---------------------------------------------------------------------
 *  MariaDB (tests/tpc_harness_maria.c): throwaway servers made by
 *  scripts/mariatmp, SQL through blocking Connector/C.  CONNINFO is the
 *  agent's line (common/tpc_maria_conninfo.h): write it to a
 *  --maria-file with tpc_harness_write_line.
 */

/*  Start (or restart) the server in DIR: 0 and CONNINFO filled.          */
int tpc_harness_maria_start (const char *dir, char *conninfo, size_t size);
int tpc_harness_maria_cmd (const char *cmd, const char *dir); /* stop|kill|destroy */

/*  Run SQL (several statements allowed) on a new connection; 0 or -1
 *  with the error printed.                                               */
int tpc_harness_maria_sql (const char *conninfo, const char *sql);

/*  First column of the first row of SQL as an integer (NULL = 0);
 *  INT64_MIN on error.                                                   */
int64_t tpc_harness_maria_sql_int (const char *conninfo, const char *sql);

/*  A connection kept open (a MYSQL *) for tests that need a session of
 *  their own (locks, XA by hand); NULL with the error printed.           */
void *tpc_harness_maria_connect (const char *conninfo);
int tpc_harness_maria_conn_sql (void *conn, const char *sql);
void tpc_harness_maria_close (void **conn_p);

/*  Start N servers DIR/maria1 ... DIR/mariaN (DBDIR[i], conninfo DB[i])
 *  and run SQL (may be NULL) in each; 0 or -1.  tpc_harness_maria_destroy
 *  kills and removes them (before tpc_harness_clean removes DIR).        */
int tpc_harness_maria_world (const char *dir, size_t n, char dbdir[][512],
                             char db[][512], const char *sql);
void tpc_harness_maria_destroy (const char *dir, size_t n);

typedef struct {
    pid_t pid;
    char log[512];              /* stderr+stdout of the process */
} tpc_proc_t;

/*  Spawn ARGV (argv[0] a path) with extra environment ENV ("K=V", NULL
 *  terminated, may be NULL), output to LOGPATH (appended).  Returns 0.  */
int tpc_proc_spawn (tpc_proc_t *p, char *const argv[], char *const env[],
                    const char *logpath);

/*  Wait until the log contains NEEDLE (a new occurrence after OFFSET bytes
 *  if OFFSET >= 0) or the process exits or TIMEOUT_MS passes.  0 if found. */
int tpc_proc_wait_log (const tpc_proc_t *p, const char *needle,
                       long offset, int timeout_ms);

/*  Current size of the process log (to wait for later occurrences).      */
long tpc_proc_log_size (const tpc_proc_t *p);

/*  Send SIG; then wait up to TIMEOUT_MS for exit.  Returns the exit status
 *  as from waitpid (or -1 if it did not exit).                           */
int tpc_proc_kill (tpc_proc_t *p, int sig, int timeout_ms);

/*  Wait up to TIMEOUT_MS for exit; returns the waitpid status or -1.     */
int tpc_proc_wait (tpc_proc_t *p, int timeout_ms);

/*  A TCP port on 127.0.0.1 that nothing listens on right now.            */
int tpc_harness_free_port (void);

/* ---------------------------------------------------------------------
 *  The world of an integration test: the daemons of the build tree
 *  started with the test's flags, the coordinator waited on until it
 *  knows the agents, then stopped and the clusters and files removed.
 */

/*  Start tpc-coordinator / tpc-participant of the build tree with the
 *  flags ARGS (NULL terminated, without the program name), extra
 *  environment ENV ("K=V", NULL terminated, may be NULL), output appended
 *  to LOGPATH; then wait up to 20 s for a "ready" line written after the
 *  start.  0, or -1 if it could not be spawned or never said ready.
 *  (tests/tpc_harness_world.c, with the functions below: they need
 *  libtpc.)                                                              */
int tpc_harness_start_coord (tpc_proc_t *p, char *const args[],
                             char *const env[], const char *logpath);
int tpc_harness_start_agent (tpc_proc_t *p, char *const args[],
                             char *const env[], const char *logpath);

/*  Write TEXT and a newline to PATH (an agent's --pg-file).  0 or -1.    */
int tpc_harness_write_line (const char *path, const char *text);

/*  How tpc_harness_wait_agents() knows that the coordinator has an agent. */
typedef enum {
    TPC_HARNESS_BY_SUMMARY,     /* tpc_summary lists exactly NAMES */
    TPC_HARNESS_BY_PROBE        /* a transaction runs SELECT 1 on each */
} tpc_harness_wait_by_t;

/*  Wait up to 20 s until the coordinator at ENDPOINT (a client with
 *  options OPTS, may be NULL) has the N agents NAMES, asking again every
 *  50 ms.  0, or -1.                                                     */
int tpc_harness_wait_agents (const char *endpoint,
                             const tpc_client_opts_t *opts,
                             const char *const names[], size_t n,
                             tpc_harness_wait_by_t by);

/*  Stop COORD and the N processes in AGENTS with SIGTERM (SIGKILL after
 *  5 s each); processes not running are passed over.                     */
void tpc_harness_stop (tpc_proc_t *coord, tpc_proc_t agents[], size_t n);

/*  The accounts table of the bank-transfer suites: accounts 1 to 10, each
 *  with the balance BAL (a string literal: "100").                       */
#define TPC_HARNESS_ACCT_SQL(bal) \
    "CREATE TABLE acct (id int PRIMARY KEY," \
    " bal bigint NOT NULL CHECK (bal >= 0));" \
    "INSERT INTO acct SELECT g, " bal " FROM generate_series(1,10) g;"

/*  Start N throwaway clusters DIR/pg1 ... DIR/pgN (their directories go
 *  to DBDIR[i], their conninfo to DB[i]) and run SQL (may be NULL) in
 *  each.  0, or -1 with the cause printed.                               */
int tpc_harness_pg_world (const char *dir, size_t n, char dbdir[][512],
                          char db[][512], const char *sql);

/*  CURVE keys for a world in KEYS: the folders KEYS/private, clients,
 *  admins and agents; a key pair per NAMES[i] in KEYS/private (NAME.key,
 *  NAME.key_secret); and, where ROLES[i] is not NULL, a copy of the
 *  public key in KEYS/ROLES[i] (the coordinator's allow-lists).  0 or -1. */
int tpc_harness_curve_keys (const char *keys, const char *const names[],
                            const char *const roles[], size_t n);

/*  Destroy the NCLUSTERS clusters DIR/pg1 ... DIR/pgN, remove DIR (kept,
 *  and said so, when TPC_TEST_KEEP is set) and free *DIR_P.              */
void tpc_harness_clean (char **dir_p, size_t nclusters);

/* ---------------------------------------------------------------------
 *  etcd (tests/tpc_harness_etcd.c, scripts/etcdtmp)
 */

/*  Start (or restart the stopped members of) an N-member cluster in DIR;
 *  ENDPOINTS gets "127.0.0.1:P1,127.0.0.1:P2,...".  0, or -1 printed.   */
int tpc_harness_etcd_start (const char *dir, int n, char *endpoints,
                            size_t size);

/*  The same with TLS (etcdtmp start-tls): DIR/tls/ca.pem, client.pem,
 *  client.key, anon.pem, anon.key, other-ca.pem; use etcds://.          */
int tpc_harness_etcd_start_tls (const char *dir, int n, char *endpoints,
                                size_t size);

/*  etcdtmp WHAT DIR MEMBERS: stop | kill (MEMBERS "1 2", NULL = all) |
 *  destroy.  0 or -1.                                                    */
int tpc_harness_etcd_cmd (const char *what, const char *dir,
                          const char *members);

/*  Run etcdctl ARGS against ENDPOINTS, its stdout in OUT (may be NULL).
 *  0, or -1 when it failed.                                              */
int tpc_harness_etcdctl (const char *endpoints, const char *args, char *out,
                         size_t size);

/*  The number of keys under PREFIX; -1 on error.                         */
long tpc_harness_etcd_keys (const char *endpoints, const char *prefix);

/*  Which member of ENDPOINTS ("h:p,h:p,...", in etcdtmp's order) is etcd's
 *  Raft leader now: 1-based, or -1 when none says so.                    */
int tpc_harness_etcd_leader (const char *endpoints);

#endif
