/*  tpc-participant: the agent that sits beside one database.
 *
 *  Reads its settings from --config FILE.json (keys below) and then from
 *  the command line (which wins), opens the resource manager (PostgreSQL
 *  or in-memory), and serves the coordinator until SIGTERM or SIGINT.
 *
 *  Config file: one JSON object; every key optional, unknown keys refused
 *  (the flag spellings "pg-file" and "heartbeat" are accepted too):
 *      {"name": "bank1", "coordinator": "tcp://127.0.0.1:7401",
 *       "pg": "host=... dbname=...", "pg_file": "/etc/tpc/bank1.conninfo",
 *       "backend": "pg", "pool": 8, "queue": 1024, "heartbeat_ms": 1000,
 *       "stmt_cache": 64, "verbose": false, "state_dir": "/var/lib/tpc/bank1",
 *       "peer_bind": "tcp://10.0.0.5:7501", "peer_endpoint": "...",
 *       "peer_keys": "/etc/tpc/agents", "p3_timeout_ms": 2000}
 *  The connection string is never printed.  Prefer pg_file (first line is
 *  the conninfo) or libpq's own PGPASSFILE / ~/.pgpass for passwords.
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
 *  Exit status: 0 after a clean stop, 1 on a startup error (a corrupt 3PC
 *  state log included), 2 on bad usage, 3 the 3PC state log failed while
 *  serving (a write or fdatasync: the agent stopped at once), 99 a crash
 *  point fired.  Test hooks (environment): TPC_CRASH_POINT=
 *  agent.<point>, TPC_CRASH_AT=<n>, TPC_CRASH_ACTION=exit|stop arm one crash
 *  point (common/tpc_crash.h); TPC_AGENT_DEBUG_EXIT_AFTER_PREPARE=1 is the
 *  older spelling of TPC_CRASH_POINT=agent.after_prepare;
 *  TPC_AGENT_DEBUG_STATE_SYNC_FAIL=<n> makes the n-th fdatasync of the 3PC
 *  state log after start fail with EIO (the agent must then stop, exit 3).
 */
#include <cJSON.h>
#include <czmq.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "part_agent.h"
#include "part_mem.h"
#include "part_pg.h"
#include "tpc_error.h"

#define S_DEFAULT_ENDPOINT "tcp://127.0.0.1:7401"

typedef struct {
    char *name;
    char *coordinator;
    char *pg;
    char *pg_file;
    char *backend;
    long pool;
    long queue;
    long heartbeat_ms;
    long stmt_cache;            /* -1 = the default */
    bool verbose;
    char *curve_secret;
    char *coordinator_public;
    bool insecure_plaintext;
    char *state_dir;
    char *peer_bind;
    char *peer_endpoint;
    char *peer_keys;
    long p3_timeout_ms;
} s_opts_t;

/*  part_pg's log lines (part_pg.h: LEVEL 0 = warning, 1 = verbose) to
 *  part_agent_log, whose levels mean what the coordinator's do (0 =
 *  verbose, 1 = warning).  ARG points to the bool verbose.              */
static void
s_pg_log (void *arg, int level, const char *line)
{
    part_agent_log (arg, level == 0 ? 1 : 0, line);
}

static void
s_usage (FILE *out)
{
    fprintf (out,
        "usage: tpc-participant --name NAME [options]\n"
        "  --name NAME          agent name, [A-Za-z0-9_-]{1,63}\n"
        "  --coordinator EP     coordinator's agent endpoint (default %s)\n"
        "  --pg CONNINFO        PostgreSQL connection string (libpq)\n"
        "  --pg-file FILE       read the connection string from FILE's first\n"
        "                       line (keeps passwords off the command line)\n"
        "  --backend pg|mem     resource manager (default pg)\n"
        "  --pool N             PostgreSQL connections (default 8; with\n"
        "                       --backend mem: sessions, up to 100000)\n"
        "  --queue N            operations that may wait for one (default 1024)\n"
        "  --heartbeat MS       hello interval (default 1000); 5 unanswered\n"
        "                       (at least 1 s): the link is remade\n"
        "  --stmt-cache N       statements prepared per PostgreSQL connection\n"
        "                       (default 64; 0: none, all parsed every time)\n"
        "  --curve-secret FILE  this agent's CURVE key pair (tpcctl keygen:\n"
        "                       NAME.key_secret; its name must be --name)\n"
        "  --coordinator-public FILE  the coordinator's public key (.key):\n"
        "                       commands are taken from that key only\n"
        "  --insecure-plaintext no CURVE: no authentication, no encryption\n"
        "                       (tests only; says so loudly)\n"
        "  --state-dir DIR      three-phase commit: the agent's durable 3PC\n"
        "                       state log (without it 3PC prepares vote no)\n"
        "  --peer-bind EP       three-phase commit: where other agents reach\n"
        "                       this one (termination protocol)\n"
        "  --peer-endpoint EP   the peer endpoint said to the coordinator\n"
        "                       (default: --peer-bind, unless it binds a\n"
        "                       wildcard address)\n"
        "  --peer-keys DIR      with CURVE: the other agents' public\n"
        "                       certificates (NAME.key); only they may use\n"
        "                       --peer-bind, and peers are authenticated by\n"
        "                       them\n"
        "  --p3-timeout-ms N    three-phase commit: uncertain this long with\n"
        "                       nothing heard, run termination (default 2000)\n"
        "  --config FILE.json   settings with the same names (pg_file,\n"
        "                       heartbeat_ms, stmt_cache, curve_secret,\n"
        "                       coordinator_public, insecure_plaintext,\n"
        "                       state_dir, peer_bind, peer_endpoint,\n"
        "                       peer_keys, p3_timeout_ms);\n"
        "                       the command line wins\n"
        "  -v, --verbose        log every step\n"
        "  -h, --help\n", S_DEFAULT_ENDPOINT);
}

static int
s_set (char **field, const char *value)
{
    char *copy = strdup (value);
    if (!copy)
        return TPC_ENOMEM;
    free (*field);
    *field = copy;
    return 0;
}

static int
s_number (const char *text, long *out)
{
    char *end;
    errno = 0;
    long v = strtol (text, &end, 10);
    if (errno || end == text || *end || v <= 0)
        return TPC_EINVAL;
    *out = v;
    return 0;
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

/*  Apply the JSON config file PATH to O.  0 or -1 (message printed).    */
static int
s_load_config (const char *path, s_opts_t *o)
{
    int rc = -1;
    cJSON *root = NULL;
    char *text = s_read_file (path, 1024 * 1024);
    if (!text) {
        fprintf (stderr, "tpc-participant: cannot read %s: %s\n", path, strerror (errno));
        return -1;
    }
    root = cJSON_Parse (text);
    if (!cJSON_IsObject (root)) {
        fprintf (stderr, "tpc-participant: %s is not a JSON object\n", path);
        goto cleanup;
    }
    for (cJSON *it = root->child; it; it = it->next) {
        const char *k = it->string;
        char **str = !strcmp (k, "name") ? &o->name
                     : !strcmp (k, "coordinator") ? &o->coordinator
                     : !strcmp (k, "pg") ? &o->pg
                     : !strcmp (k, "pg_file") || !strcmp (k, "pg-file") ? &o->pg_file
                     : !strcmp (k, "backend") ? &o->backend
                     : !strcmp (k, "curve_secret")
                       || !strcmp (k, "curve-secret") ? &o->curve_secret
                     : !strcmp (k, "coordinator_public")
                       || !strcmp (k, "coordinator-public")
                       ? &o->coordinator_public
                     : !strcmp (k, "state_dir") || !strcmp (k, "state-dir")
                       ? &o->state_dir
                     : !strcmp (k, "peer_bind") || !strcmp (k, "peer-bind")
                       ? &o->peer_bind
                     : !strcmp (k, "peer_endpoint")
                       || !strcmp (k, "peer-endpoint") ? &o->peer_endpoint
                     : !strcmp (k, "peer_keys") || !strcmp (k, "peer-keys")
                       ? &o->peer_keys : NULL;
        if (!strcmp (k, "stmt_cache") || !strcmp (k, "stmt-cache")) {
            if (!cJSON_IsNumber (it) || it->valuedouble < 0
                || it->valuedouble > 1e6 || it->valuedouble != (long) it->valuedouble) {
                fprintf (stderr, "tpc-participant: %s: \"%s\" must be an integer "
                         ">= 0\n", path, k);
                goto cleanup;
            }
            o->stmt_cache = (long) it->valuedouble;
            continue;
        }
        long *num = !strcmp (k, "pool") ? &o->pool
                    : !strcmp (k, "queue") ? &o->queue
                    : !strcmp (k, "heartbeat_ms") || !strcmp (k, "heartbeat")
                    ? &o->heartbeat_ms
                    : !strcmp (k, "p3_timeout_ms") || !strcmp (k, "p3-timeout-ms")
                    ? &o->p3_timeout_ms : NULL;
        if (str) {
            if (!cJSON_IsString (it)) {
                fprintf (stderr, "tpc-participant: %s: \"%s\" must be a string\n", path, k);
                goto cleanup;
            }
            if (s_set (str, it->valuestring) != 0)
                goto cleanup;
        }
        else if (num) {
            if (!cJSON_IsNumber (it) || it->valuedouble < 1
                || it->valuedouble > 1e9 || it->valuedouble != (long) it->valuedouble) {
                fprintf (stderr, "tpc-participant: %s: \"%s\" must be a positive "
                         "integer\n", path, k);
                goto cleanup;
            }
            *num = (long) it->valuedouble;
        }
        else if (!strcmp (k, "verbose") && cJSON_IsBool (it))
            o->verbose = cJSON_IsTrue (it);
        else if ((!strcmp (k, "insecure_plaintext")
                  || !strcmp (k, "insecure-plaintext")) && cJSON_IsBool (it))
            o->insecure_plaintext = cJSON_IsTrue (it);
        else {
            fprintf (stderr, "tpc-participant: %s: unknown or mistyped key \"%s\"\n",
                     path, k);
            goto cleanup;
        }
    }
    rc = 0;
cleanup:
    cJSON_Delete (root);
    free (text);
    return rc;
}

/*  Parse ARGV into O.  0, or 2 (usage error, printed), or 3 (help).     */
static int
s_parse (int argc, char **argv, s_opts_t *o)
{
    /* the config file first, so that flags override it */
    for (int i = 1; i < argc; i++) {
        const char *path = NULL;
        if (!strcmp (argv[i], "--config") && i + 1 < argc)
            path = argv[i + 1];
        else if (!strncmp (argv[i], "--config=", 9))
            path = argv[i] + 9;
        if (path && s_load_config (path, o) != 0)
            return 2;
    }
    static const struct option longopts[] = {
        { "name", required_argument, NULL, 'n' },
        { "coordinator", required_argument, NULL, 'c' },
        { "pg", required_argument, NULL, 'p' },
        { "pg-file", required_argument, NULL, 'f' },
        { "backend", required_argument, NULL, 'b' },
        { "pool", required_argument, NULL, 'P' },
        { "queue", required_argument, NULL, 'Q' },
        { "heartbeat", required_argument, NULL, 'H' },
        { "stmt-cache", required_argument, NULL, 'T' },
        { "config", required_argument, NULL, 'C' },
        { "verbose", no_argument, NULL, 'v' },
        { "curve-secret", required_argument, NULL, 'S' },
        { "coordinator-public", required_argument, NULL, 'K' },
        { "insecure-plaintext", no_argument, NULL, 'I' },
        { "state-dir", required_argument, NULL, 'D' },
        { "peer-bind", required_argument, NULL, 'B' },
        { "peer-endpoint", required_argument, NULL, 'E' },
        { "peer-keys", required_argument, NULL, 'A' },
        { "p3-timeout-ms", required_argument, NULL, 'O' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    int ch;
    while ((ch = getopt_long (argc, argv, "vh", longopts, NULL)) != -1) {
        int rc = 0;
        switch (ch) {
        case 'n': rc = s_set (&o->name, optarg); break;
        case 'c': rc = s_set (&o->coordinator, optarg); break;
        case 'p': rc = s_set (&o->pg, optarg); break;
        case 'f': rc = s_set (&o->pg_file, optarg); break;
        case 'b': rc = s_set (&o->backend, optarg); break;
        case 'P': rc = s_number (optarg, &o->pool); break;
        case 'Q': rc = s_number (optarg, &o->queue); break;
        case 'H': rc = s_number (optarg, &o->heartbeat_ms); break;
        case 'T':                       /* 0 is allowed: no cache */
            if (!strcmp (optarg, "0"))
                o->stmt_cache = 0;
            else if ((rc = s_number (optarg, &o->stmt_cache)) == 0
                     && o->stmt_cache > 1000000)
                rc = TPC_EINVAL;
            break;
        case 'C': break;
        case 'v': o->verbose = true; break;
        case 'S': rc = s_set (&o->curve_secret, optarg); break;
        case 'K': rc = s_set (&o->coordinator_public, optarg); break;
        case 'I': o->insecure_plaintext = true; break;
        case 'D': rc = s_set (&o->state_dir, optarg); break;
        case 'B': rc = s_set (&o->peer_bind, optarg); break;
        case 'E': rc = s_set (&o->peer_endpoint, optarg); break;
        case 'A': rc = s_set (&o->peer_keys, optarg); break;
        case 'O': rc = s_number (optarg, &o->p3_timeout_ms); break;
        case 'h': s_usage (stdout); return 3;
        default: s_usage (stderr); return 2;
        }
        if (rc != 0) {
            fprintf (stderr, "tpc-participant: bad value for an option: %s\n", optarg);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf (stderr, "tpc-participant: unexpected argument %s\n", argv[optind]);
        return 2;
    }
    if (!o->name || part_agent_name_valid (o->name) != 0) {
        fprintf (stderr, "tpc-participant: --name is required: 1 to 63 of "
                 "A-Z a-z 0-9 _ -\n");
        return 2;
    }
    if (!o->backend && s_set (&o->backend, "pg") != 0)
        return 2;
    if (strcmp (o->backend, "pg") && strcmp (o->backend, "mem")) {
        fprintf (stderr, "tpc-participant: --backend must be pg or mem\n");
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

static void
s_opts_free (s_opts_t *o)
{
    free (o->name);
    free (o->coordinator);
    if (o->pg)
        memset (o->pg, 0, strlen (o->pg));
    free (o->pg);
    free (o->pg_file);
    free (o->backend);
    free (o->curve_secret);
    free (o->coordinator_public);
    free (o->state_dir);
    free (o->peer_bind);
    free (o->peer_endpoint);
    free (o->peer_keys);
}

int
main (int argc, char **argv)
{
    int status = 1;
    s_opts_t o = { .stmt_cache = -1 };
    char *conninfo = NULL;
    part_pg_t *pg = NULL;
    part_mem_t *mem = NULL;
    part_agent_t *agent = NULL;
    int sfd = -1;

    int prc = s_parse (argc, argv, &o);
    if (prc != 0) {
        status = prc == 3 ? 0 : 2;
        goto cleanup;
    }
    if (o.pg && strstr (o.pg, "password"))
        fprintf (stderr, "tpc-participant: warning: a password on the command "
                 "line is visible to other users; use --pg-file or ~/.pgpass\n");

    /* SIGTERM / SIGINT arrive on a descriptor the loop polls (blocked
     * before any thread exists, so ZeroMQ's threads inherit the mask)    */
    sigset_t mask;
    sigemptyset (&mask);
    sigaddset (&mask, SIGTERM);
    sigaddset (&mask, SIGINT);
    if (sigprocmask (SIG_BLOCK, &mask, NULL) != 0
        || (sfd = signalfd (-1, &mask, SFD_CLOEXEC)) < 0) {
        fprintf (stderr, "tpc-participant: cannot set up signals: %s\n", strerror (errno));
        goto cleanup;
    }
    signal (SIGPIPE, SIG_IGN);
    zsys_handler_set (NULL);

    const part_rm_t *rm = NULL;
    char err[1024];
    if (!strcmp (o.backend, "pg")) {
        if (!(conninfo = s_conninfo (&o)))
            goto cleanup;
        part_pg_config_t pc = {
            .conninfo = conninfo, .pool = (size_t) o.pool,
            .queue_max = (size_t) o.queue, .log = s_pg_log,
            .log_arg = &o.verbose,
            .stmt_cache = o.stmt_cache > 0 ? (size_t) o.stmt_cache : 0,
            .no_stmt_cache = o.stmt_cache == 0
        };
        pg = part_pg_new (&pc, err, sizeof err);
        memset (conninfo, 0, strlen (conninfo));
        if (!pg) {
            fprintf (stderr, "tpc-participant: %s\n", err);
            goto cleanup;
        }
        rm = part_pg_rm (pg);
    }
    else {
        part_mem_config_t mc = { .pool = (size_t) o.pool, .queue_max = (size_t) o.queue };
        if (!(mem = part_mem_new (&mc))) {
            fprintf (stderr, "tpc-participant: out of memory\n");
            goto cleanup;
        }
        rm = part_mem_rm (mem);
    }

    part_agent_config_t ac = {
        .name = o.name,
        .endpoint = o.coordinator ? o.coordinator : S_DEFAULT_ENDPOINT,
        .heartbeat_ms = (uint64_t) o.heartbeat_ms,
        .stop_fd = sfd,
        .verbose = o.verbose,
        .curve_secret = o.curve_secret,
        .coordinator_public = o.coordinator_public,
        .state_dir = o.state_dir,
        .peer_bind = o.peer_bind,
        .peer_endpoint = o.peer_endpoint,
        .peer_keys = o.peer_keys,
        .p3_timeout_ms = (uint64_t) o.p3_timeout_ms,
    };
    if (o.insecure_plaintext)
        fprintf (stderr,
                 "tpc-participant: WARNING: --insecure-plaintext: NO "
                 "AUTHENTICATION, NO ENCRYPTION.\n"
                 "tpc-participant: WARNING: anyone who can pose as the "
                 "coordinator at %s can commit or roll back in this "
                 "database; statements cross the network in clear text.\n",
                 ac.endpoint);
    if (o.insecure_plaintext && o.peer_bind)
        fprintf (stderr,
                 "tpc-participant: WARNING: --insecure-plaintext: the peer "
                 "link on %s takes 3PC precommit and decide from ANYONE "
                 "who connects, unauthenticated.\n", o.peer_bind);
    if (o.insecure_plaintext && o.peer_keys)
        fprintf (stderr, "tpc-participant: warning: --peer-keys is unused "
                 "without CURVE\n");
    if (o.state_dir && !o.peer_bind)
        fprintf (stderr, "tpc-participant: warning: --state-dir without "
                 "--peer-bind: other agents cannot reach this one, so a 3PC "
                 "termination led elsewhere cannot count it\n");
    if (tpc_crash_config_from_env (&ac.crash, "agent.", err, sizeof err)) {
        fprintf (stderr, "tpc-participant: %s\n", err);
        status = 2;
        goto cleanup;
    }
    /* the older spelling of TPC_CRASH_POINT=agent.after_prepare */
    const char *dbg = getenv ("TPC_AGENT_DEBUG_EXIT_AFTER_PREPARE");
    if (!ac.crash.point && dbg && !strcmp (dbg, "1"))
        ac.crash = (tpc_crash_config_t) { .point = "agent.after_prepare",
                                          .at = 1 };
    const char *sfail = getenv ("TPC_AGENT_DEBUG_STATE_SYNC_FAIL");
    if (sfail && *sfail) {
        long n = 0;
        if (s_number (sfail, &n) != 0) {
            fprintf (stderr, "tpc-participant: TPC_AGENT_DEBUG_STATE_SYNC_FAIL "
                     "must be a positive integer\n");
            status = 2;
            goto cleanup;
        }
        ac.state_sync_fail_at = (uint64_t) n;
    }
    agent = part_agent_new (&ac, rm, err, sizeof err);
    if (!agent) {
        fprintf (stderr, "tpc-participant: %s\n", err);
        goto cleanup;
    }
    if (o.verbose)
        fprintf (stderr, "tpc-participant: %s serving %s (backend %s)\n",
                 o.name, ac.endpoint, o.backend);
    int rrc = part_agent_run (agent);
    if (rrc == 0) {
        fprintf (stderr, "tpc-participant: stopped\n");
        status = 0;
    }
    else if (part_agent_failed (agent)) {
        fprintf (stderr, "tpc-participant: stopped: the 3PC state log "
                 "failed (%s)\n", tpc_strerror (rrc));
        status = 3;
    }
cleanup:
    part_agent_destroy (&agent);
    part_pg_destroy (&pg);
    part_mem_destroy (&mem);
    free (conninfo);
    s_opts_free (&o);
    if (sfd >= 0)
        close (sfd);
    return status;
}
