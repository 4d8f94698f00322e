/*  tpc-participant: the agent that sits beside one database.
 *
 *  Reads its settings from the flags below and from --config FILE.json
 *  (the flags win), opens the resource manager (PostgreSQL or in-memory),
 *  and serves the coordinator until SIGTERM or SIGINT (exit 0).  Both
 *  daemons read settings the same way (common/tpc_opts.h) and stop the
 *  same way (common/tpc_stop.h).
 *
 *  Config file: one JSON object, keys spelled like the flags without
 *  "--"; every key optional, unknown keys refused:
 *      {"name": "bank1", "coordinator": "tcp://127.0.0.1:7401",
 *       "pg-file": "/etc/tpc/bank1.conninfo", "backend": "pg", "pool": 8,
 *       "maria-file": "/etc/tpc/orders.maria" (with "backend": "maria"),
 *       "queue": 1024, "heartbeat-ms": 1000, "stmt-cache": 64,
 *       "verbose": false, "state-dir": "/var/lib/tpc/bank1",
 *       "peer-bind": "tcp://10.0.0.5:7501", "peer-endpoint": "...",
 *       "peer-keys": "/etc/tpc/agents", "p3-timeout-ms": 2000,
 *       "marker-retention-s": 604800, "marker-purge-ms": 3600000}
 *  The snake_case keys of earlier releases (pg_file, heartbeat_ms ...) and
 *  the flag --heartbeat (now --heartbeat-ms) are still read, each with a
 *  warning.  The connection string is never printed.  Prefer pg-file
 *  (first line is the conninfo) or libpq's own PGPASSFILE / ~/.pgpass for
 *  passwords.
 *
 *  Security: --curve-secret (this agent's key pair) and
 *  --coordinator-public (the coordinator's public key) make the link to
 *  the coordinator CurveZMQ; without them the agent refuses to start
 *  unless --insecure-plaintext says so, and then it warns loudly.  The
 *  peer link of three-phase commit (--peer-bind, to and from other
 *  agents) is CurveZMQ with the same key pair whenever the agent has one;
 *  --peer-keys DIR lists the agents it accepts and finds peers' keys in.
 *
 *  Three-phase commit: --state-dir DIR keeps the agent's 3PC state log
 *  (participant/part_state.h); without it a 3PC prepare is voted no.
 *
 *  Exit status: 0 after a clean stop, 2 usage or start-up error (a
 *  corrupt 3PC state log included, a key named for another agent) or the
 *  coordinator refused this agent (its key is another agent's, or another
 *  live process has its name), 3 the 3PC state log failed while
 *  serving (a write or fdatasync: the agent stopped at once), 99 a crash
 *  point fired.  Test hooks (environment): TPC_CRASH_POINT=
 *  agent.<point>, TPC_CRASH_AT=<n>, TPC_CRASH_ACTION=exit|stop|failsync arm
 *  one crash point (common/tpc_crash.h); agent.state_sync with failsync
 *  makes the n-th fdatasync of the 3PC state log after start fail with EIO
 *  (the agent must then stop, exit 3).
 */
#include <czmq.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "part_agent.h"
#include "part_maria.h"
#include "part_mem.h"
#include "part_pg.h"
#include "tpc_error.h"
#include "tpc_opts.h"
#include "tpc_stop.h"

#define S_PROG "tpc-participant"
#define S_DEFAULT_ENDPOINT "tcp://127.0.0.1:7401"
#define S_NOPTS 28
#define S_BIG 1000000000
#define S_MARKER_RETENTION_S 604800     /* 7 days: part_pg.c, "MARKER
                                           RETENTION" */

/*  The settings as read (0 / NULL = not given: the default).             */
typedef struct {
    const char *name, *coordinator, *pg, *pg_file, *maria_file, *backend,
               *curve_secret,
               *coordinator_public, *state_dir, *peer_bind, *peer_endpoint,
               *peer_keys;
    uint64_t pool, queue, heartbeat_ms, stmt_cache, p3_timeout_ms,
             marker_retention_s, marker_purge_ms;
    const char *trace_file;     /* the latency trace */
    uint64_t trace_sample;
    bool verbose, insecure_plaintext;
    tpc_opt_t table[S_NOPTS];
    tpc_opts_t *opts;
} s_opts_t;

#define S_STR(n, f, a, h) { n, 0, TPC_OPT_STR, &o->f, a, h, 0, 0, NULL }
#define S_NUM(n, f, lo, hi, h, old) \
    { n, 0, TPC_OPT_UINT, &o->f, "N", h, lo, hi, old }
#define S_FLAG(n, l, f, h) { n, l, TPC_OPT_FLAG, &o->f, NULL, h, 0, 0, NULL }

static void
s_opts_init (s_opts_t *o)
{
    memset (o, 0, sizeof *o);
    const tpc_opt_t table[] = {
        S_STR ("name", name, "NAME", "agent name, [A-Za-z0-9_-]{1,63}"),
        S_STR ("coordinator", coordinator, "EP[,EP...]",
               "coordinator's agent endpoint (default\n"
               S_DEFAULT_ENDPOINT "); of an HA group: every\n"
               "member's, comma-separated"),
        S_STR ("pg", pg, "CONNINFO", "PostgreSQL connection string (libpq)"),
        S_STR ("pg-file", pg_file, "FILE",
               "read the connection string from FILE's first\n"
               "line (keeps passwords off the command line)"),
        S_STR ("maria-file", maria_file, "FILE",
               "--backend maria: the MariaDB connection line\n"
               "(FILE's first line: host= port= user= password=\n"
               "database= socket=; README \"MariaDB\")"),
        S_STR ("backend", backend, "pg|maria|mem",
               "resource manager (default pg)"),
        S_NUM ("pool", pool, 1, S_BIG,
               "PostgreSQL connections (default 8; with\n"
               "--backend mem: sessions, up to 100000)", NULL),
        S_NUM ("queue", queue, 1, S_BIG,
               "operations that may wait for one (default 1024)", NULL),
        S_NUM ("heartbeat-ms", heartbeat_ms, 1, S_BIG,
               "hello interval (default 1000); 5 unanswered\n"
               "(at least 1 s): the link is remade", "heartbeat"),
        S_NUM ("stmt-cache", stmt_cache, 0, 1000000,
               "statements prepared per PostgreSQL connection\n"
               "(default 64; 0: none, all parsed every time)", NULL),
        S_NUM ("marker-retention-s", marker_retention_s, 0, S_BIG,
               "tpc_marker rows older than this, of gids no\n"
               "longer prepared, are deleted (default 604800,\n"
               "7 days; 0: kept for ever, and no DELETE right)", NULL),
        S_NUM ("marker-purge-ms", marker_purge_ms, 1, S_BIG,
               "how often that DELETE runs (default 3600000)", NULL),
        S_STR ("curve-secret", curve_secret, "FILE",
               "this agent's CURVE key pair (tpcctl keygen:\n"
               "NAME.key_secret; its name must be --name)"),
        S_STR ("coordinator-public", coordinator_public, "FILE",
               "the coordinator's public key (.key):\n"
               "commands are taken from that key only"),
        S_FLAG ("insecure-plaintext", 0, insecure_plaintext,
                "no CURVE: no authentication, no encryption\n"
                "(tests only; says so loudly)"),
        S_STR ("trace-file", trace_file, "FILE",
               "append the per-stage latency trace to FILE\n"
               "(off; README \"Performance\")"),
        S_NUM ("trace-sample", trace_sample, 1, S_BIG,
               "trace one gid in N (default 1: every gid)", NULL),
        S_STR ("state-dir", state_dir, "DIR",
               "three-phase commit: the agent's durable 3PC\n"
               "state log (without it 3PC prepares vote no)"),
        S_STR ("peer-bind", peer_bind, "EP",
               "three-phase commit: where other agents reach\n"
               "this one (termination protocol)"),
        S_STR ("peer-endpoint", peer_endpoint, "EP",
               "the peer endpoint said to the coordinator\n"
               "(default: --peer-bind, unless it binds a\n"
               "wildcard address)"),
        S_STR ("peer-keys", peer_keys, "DIR",
               "with CURVE: the other agents' public\n"
               "certificates (NAME.key); only they may use\n"
               "--peer-bind, and peers are authenticated by them"),
        S_NUM ("p3-timeout-ms", p3_timeout_ms, 1, S_BIG,
               "three-phase commit: uncertain this long with\n"
               "nothing heard, run termination (default 2000)", NULL),
        S_FLAG ("verbose", 'v', verbose, "log every step"),
        { NULL, 0, 0, NULL, NULL, NULL, 0, 0, NULL }
    };
    _Static_assert (sizeof table <= sizeof o->table, "S_NOPTS too small");
    memcpy (o->table, table, sizeof table);
}

static char *
s_read_file (const char *path, size_t max)
{
    FILE *f = fopen (path, "r");
    if (!f)
        return NULL;
    char *buf = malloc (max + 1);
    size_t n = buf ? fread (buf, 1, max, f) : 0;
    fclose (f);
    if (buf)
        buf[n] = '\0';
    return buf;
}

/*  Read the settings and check them.  0, 2 (usage error, printed) or 3
 *  (help or version printed).                                             */
static int
s_parse (int argc, char **argv, s_opts_t *o)
{
    char err[1024];
    s_opts_init (o);
    if (!(o->opts = tpc_opts_new (S_PROG, o->table))) {
        fprintf (stderr, S_PROG ": out of memory\n");
        return 2;
    }
    if (tpc_opts_parse (o->opts, argc, argv, stderr, err, sizeof err)) {
        fprintf (stderr, S_PROG ": %s (see --help)\n", err);
        return 2;
    }
    if (tpc_opts_help (o->opts)) {
        tpc_opts_usage (o->opts, stdout, S_PROG " --name NAME [options]");
        return 3;
    }
    if (tpc_opts_version (o->opts)) {
        printf (S_PROG " (tpc) " TPC_VERSION "\n");
        return 3;
    }
    if (!o->name || part_agent_name_valid (o->name) != 0) {
        fprintf (stderr, "tpc-participant: --name is required: 1 to 63 of "
                 "A-Z a-z 0-9 _ -\n");
        return 2;
    }
    if (!o->backend)
        o->backend = "pg";
    if (strcmp (o->backend, "pg") && strcmp (o->backend, "mem")
        && strcmp (o->backend, "maria")) {
        fprintf (stderr, "tpc-participant: --backend must be pg, maria or "
                 "mem\n");
        return 2;
    }
    if (!strcmp (o->backend, "maria") != !!o->maria_file) {
        fprintf (stderr, "tpc-participant: --backend maria and --maria-file "
                 "FILE go together (the connection line is never read from "
                 "the command line)\n");
        return 2;
    }
    if (o->pool > (strcmp (o->backend, "mem") ? 250 : 100000)) {
        fprintf (stderr, "tpc-participant: --pool is at most 250 (100000 "
                 "with --backend mem, whose sessions cost nothing)\n");
        return 2;
    }
    if (o->pg && o->pg_file) {
        fprintf (stderr, "tpc-participant: give --pg or --pg-file, not both\n");
        return 2;
    }
    bool curve = o->curve_secret || o->coordinator_public;
    if (curve && o->insecure_plaintext) {
        fprintf (stderr, "tpc-participant: --insecure-plaintext and CURVE "
                 "keys contradict each other: give one\n");
        return 2;
    }
    if (curve && !(o->curve_secret && o->coordinator_public)) {
        fprintf (stderr, "tpc-participant: CURVE needs both --curve-secret "
                 "FILE and --coordinator-public FILE\n");
        return 2;
    }
    if (curve && o->peer_bind && !o->peer_keys) {
        fprintf (stderr, "tpc-participant: --peer-bind with CURVE needs "
                 "--peer-keys DIR: the public certificates of the agents "
                 "allowed to ask this one (tpcctl keygen NAME DIR makes "
                 "NAME.key)\n");
        return 2;
    }
    if (!curve && !o->insecure_plaintext) {
        fprintf (stderr, "tpc-participant: refusing to start without "
                 "authentication: give --curve-secret FILE (this agent's "
                 "keys, `tpcctl keygen %s DIR`) and --coordinator-public "
                 "FILE, or --insecure-plaintext to obey anyone, unencrypted "
                 "(tests only)\n", o->name);
        return 2;
    }
    return 0;
}

/*  The connection string: --pg, or the first line of --pg-file, or ""
 *  (libpq's environment: PGHOST, PGDATABASE, PGPASSFILE ...).            */
static char *
s_conninfo (const s_opts_t *o)
{
    if (!o->pg_file)
        return strdup (o->pg ? o->pg : "");
    char *text = s_read_file (o->pg_file, 64 * 1024);
    if (!text) {
        fprintf (stderr, "tpc-participant: cannot read --pg-file %s: %s\n",
                 o->pg_file, strerror (errno));
        return NULL;
    }
    text[strcspn (text, "\r\n")] = '\0';
    return text;
}

/*  The resource managers: one of them is opened.                        */
typedef struct {
    part_pg_t *pg;
    part_mem_t *mem;
    part_maria_t *maria;
} s_rms_t;

/*  The MariaDB resource manager: the first line of --maria-file.         */
static const part_rm_t *
s_open_maria (s_opts_t *o, s_rms_t *rms)
{
    char err[1024];
    char *line = s_read_file (o->maria_file, 64 * 1024);
    if (!line) {
        fprintf (stderr, S_PROG ": cannot read --maria-file %s: %s\n",
                 o->maria_file, strerror (errno));
        return NULL;
    }
    line[strcspn (line, "\r\n")] = '\0';
    part_maria_config_t mc = {
        .conninfo = line, .agent = o->name, .pool = (size_t) o->pool,
        .queue_max = (size_t) o->queue, .log = part_agent_log,
        .log_arg = &o->verbose
    };
    rms->maria = part_maria_new (&mc, err, sizeof err);
    memset (line, 0, strlen (line));
    free (line);
    if (!rms->maria) {
        fprintf (stderr, S_PROG ": %s\n", err);
        return NULL;
    }
    return part_maria_rm (rms->maria);
}

/*  Open the resource manager O names; NULL (message printed) on failure. */
static const part_rm_t *
s_open_rm (s_opts_t *o, s_rms_t *rms)
{
    char err[1024];
    if (!strcmp (o->backend, "mem")) {
        part_mem_config_t mc = { .pool = (size_t) o->pool,
                                 .queue_max = (size_t) o->queue };
        if (!(rms->mem = part_mem_new (&mc))) {
            fprintf (stderr, S_PROG ": out of memory\n");
            return NULL;
        }
        return part_mem_rm (rms->mem);
    }
    if (!strcmp (o->backend, "maria"))
        return s_open_maria (o, rms);
    char *conninfo = s_conninfo (o);
    if (!conninfo)
        return NULL;
    bool cache_given = tpc_opts_given (o->opts, "stmt-cache");
    part_pg_config_t pc = {
        .conninfo = conninfo, .pool = (size_t) o->pool,
        .queue_max = (size_t) o->queue, .log = part_agent_log,
        .log_arg = &o->verbose,
        .stmt_cache = (size_t) o->stmt_cache,
        .no_stmt_cache = cache_given && o->stmt_cache == 0,
        .marker_retention_s = tpc_opts_given (o->opts, "marker-retention-s")
                              ? o->marker_retention_s : S_MARKER_RETENTION_S,
        .marker_purge_ms = o->marker_purge_ms
    };
    rms->pg = part_pg_new (&pc, err, sizeof err);
    memset (conninfo, 0, strlen (conninfo));
    free (conninfo);
    if (!rms->pg) {
        fprintf (stderr, S_PROG ": %s\n", err);
        return NULL;
    }
    return part_pg_rm (rms->pg);
}

/*  Warnings about a weak or odd setup, to stderr.                        */
static void
s_warn (const s_opts_t *o, const char *endpoint)
{
    if (o->pg && strstr (o->pg, "password"))
        fprintf (stderr, S_PROG ": warning: a password on the command "
                 "line is visible to other users; use --pg-file or ~/.pgpass\n");
    if (o->insecure_plaintext)
        fprintf (stderr,
                 S_PROG ": WARNING: --insecure-plaintext: NO "
                 "AUTHENTICATION, NO ENCRYPTION.\n"
                 S_PROG ": WARNING: anyone who can pose as the "
                 "coordinator at %s can commit or roll back in this "
                 "database; statements cross the network in clear text.\n",
                 endpoint);
    if (o->insecure_plaintext && o->peer_bind)
        fprintf (stderr,
                 S_PROG ": WARNING: --insecure-plaintext: the peer "
                 "link on %s takes 3PC precommit and decide from ANYONE "
                 "who connects, unauthenticated.\n", o->peer_bind);
    if (o->insecure_plaintext && o->peer_keys)
        fprintf (stderr, S_PROG ": warning: --peer-keys is unused "
                 "without CURVE\n");
    if (o->state_dir && !o->peer_bind)
        fprintf (stderr, S_PROG ": warning: --state-dir without "
                 "--peer-bind: other agents cannot reach this one, so a 3PC "
                 "termination led elsewhere cannot count it\n");
}

/*  The agent's config from O and the environment's test hooks; 0 or
 *  TPC_EINVAL (message printed).                                         */
static int
s_agent_config (const s_opts_t *o, part_agent_config_t *ac)
{
    *ac = (part_agent_config_t) {
        .name = o->name,
        .endpoint = o->coordinator ? o->coordinator : S_DEFAULT_ENDPOINT,
        .heartbeat_ms = o->heartbeat_ms,
        .stop_fd = tpc_stop_fd (),
        .verbose = o->verbose,
        .curve_secret = o->curve_secret,
        .coordinator_public = o->coordinator_public,
        .state_dir = o->state_dir,
        .trace_file = o->trace_file,
        .trace_sample = (unsigned) o->trace_sample,
        .peer_bind = o->peer_bind,
        .peer_endpoint = o->peer_endpoint,
        .peer_keys = o->peer_keys,
        .p3_timeout_ms = o->p3_timeout_ms,
    };
    char err[1024];
    if (tpc_crash_config_from_env (&ac->crash, "agent.", err, sizeof err)) {
        fprintf (stderr, S_PROG ": %s\n", err);
        return TPC_EINVAL;
    }
    return 0;
}

int
main (int argc, char **argv)
{
    int status = 2;
    s_opts_t o;
    s_rms_t rms = { NULL, NULL, NULL };
    part_agent_t *agent = NULL;
    int prc = s_parse (argc, argv, &o);
    if (prc != 0) {
        status = prc == 3 ? 0 : 2;
        goto cleanup;
    }
    /* before any czmq socket: czmq would put its own SIGINT handler */
    zsys_handler_set (NULL);
    if (tpc_stop_catch () != 0) {
        fprintf (stderr, S_PROG ": cannot set up signals: %s\n",
                 strerror (errno));
        goto cleanup;
    }
    part_agent_config_t ac;
    if (s_agent_config (&o, &ac) != 0)
        goto cleanup;
    s_warn (&o, ac.endpoint);
    const part_rm_t *rm = s_open_rm (&o, &rms);
    if (!rm)
        goto cleanup;
    char err[1024];
    agent = part_agent_new (&ac, rm, err, sizeof err);
    if (!agent) {
        fprintf (stderr, S_PROG ": %s\n", err);
        goto cleanup;
    }
    if (o.verbose)
        fprintf (stderr, S_PROG ": %s serving %s (backend %s)\n",
                 o.name, ac.endpoint, o.backend);
    int rrc = part_agent_run (agent);
    if (rrc == 0) {
        fprintf (stderr, S_PROG ": stopped (%s)\n",
                 tpc_stop_name (*tpc_stop_flag ()));
        status = 0;
    }
    else if (part_agent_refused (agent))
        fprintf (stderr, S_PROG ": stopped: refused by the coordinator "
                 "(see above)\n");     /* status 2: fix the set-up */
    else if (part_agent_failed (agent)) {
        fprintf (stderr, S_PROG ": stopped: the 3PC state log "
                 "failed (%s)\n", tpc_strerror (rrc));
        status = 3;
    }
cleanup:
    part_agent_destroy (&agent);
    part_pg_destroy (&rms.pg);
    part_mem_destroy (&rms.mem);
    part_maria_destroy (&rms.maria);
    tpc_opts_destroy (&o.opts);
    return status;
}
