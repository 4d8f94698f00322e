/*  tpc-coordinator: command line, config file and signals around
 *  coord_server.
 *
 *  Settings come from a JSON config file (--config FILE.json: one object
 *  whose keys are the long flag names without "--", e.g. {"id": "c1",
 *  "log-dir": "/var/lib/tpc", "txn-timeout-ms": 30000, "recover-only":
 *  false}) and then from the flags, which win.  SIGTERM and SIGINT stop it
 *  cleanly (exit 0).  Exit status: 0 clean stop, 1 --recover-only left
 *  transactions unfinished, 2 usage or start-up error, 3 the decision log
 *  failed, 99 a crash point fired.
 *  Security: --curve-secret with --allow-agents and --allow-clients /
 *  --allow-admins turns CurveZMQ on (tpc_zap.h); without them it refuses
 *  to start unless --insecure-plaintext says so, and then it warns loudly.
 *  Test hooks (environment): TPC_CRASH_POINT=coord.<point>, TPC_CRASH_AT=<n>,
 *  TPC_CRASH_ACTION=exit|stop arm one crash point (common/tpc_crash.h);
 *  TPC_COORD_DEBUG_EXIT_AFTER_DECISION=1 is the older spelling of
 *  TPC_CRASH_POINT=coord.after_fsync (the first COMMIT decision is durable,
 *  no decide sent); TPC_COORD_DEBUG_FAIL_SYNC=1 makes every fdatasync of
 *  the log fail (EIO) once the coordinator is serving.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord_server.h"
#include "tpc_error.h"

typedef enum { O_STR, O_U64, O_FLAG, O_REPLY_ON } s_kind_t;

typedef struct {
    const char *name;           /* long flag without "--", config key */
    s_kind_t kind;
    const char *help;
} s_opt_t;

static const s_opt_t s_opts[] = {
    { "bind", O_STR, "client endpoint (default " COORD_CLIENT_EP_DEFAULT ")" },
    { "agent-bind", O_STR,
      "agent endpoint (default " COORD_AGENT_EP_DEFAULT ")" },
    { "log-dir", O_STR, "decision log directory (required)" },
    { "id", O_STR, "coordinator id, [A-Za-z0-9]{1,32} (required)" },
    { "config", O_STR, "JSON file with any of these settings" },
    { "txn-timeout-ms", O_U64, "abort undecided transactions after (60000)" },
    { "vote-timeout-ms", O_U64, "abort when votes take longer (10000)" },
    { "ack-wait-ms", O_U64, "reply-on applied: reply after at most (5000)" },
    { "reply-on", O_REPLY_ON, "applied | decision (applied)" },
    { "protocol", O_STR,
      "2pc | 3pc: when a begin/submit names none (2pc)" },
    { "max-msg-bytes", O_U64, "largest message accepted (1048576)" },
    { "heartbeat-ms", O_U64, "agents' hello period; 3 missed = gone (1000)" },
    { "recover-only", O_FLAG, "finish decided transactions and exit" },
    { "recover-timeout-ms", O_U64, "--recover-only gives up after (30000)" },
    { "log-segment-bytes", O_U64, "log segment size (16 MiB)" },
    { "checkpoint-records", O_U64,
      "checkpoint after this many records (100000)" },
    { "verbose", O_FLAG, "log every event (-v)" },
    { "curve-secret", O_STR,
      "its CURVE key pair (a NAME.key_secret file)" },
    { "allow-clients", O_STR, "client public keys (a directory)" },
    { "allow-admins", O_STR,
      "admin public keys (may also resolve)" },
    { "allow-agents", O_STR,
      "agent public keys (NAME.key per agent)" },
    { "insecure-plaintext", O_FLAG,
      "no CURVE, no authentication (tests)" },
    { "max-txns", O_U64, "transactions in flight, in total (100000)" },
    { "max-txns-per-client", O_U64,
      "in flight per key or connection (10000)" },
    { "max-stmts", O_U64, "statements per transaction (10000)" },
    { "max-result-rows", O_U64, "rows in one exec result (100000)" },
    { "metrics-bind", O_STR,
      "HOST:PORT for Prometheus /metrics (off)" },
    { NULL, 0, NULL }
};

#define S_NOPTS (sizeof s_opts / sizeof s_opts[0] - 1)

/*  Values as text ("1" for flags), by option index; NULL = not given.    */
typedef struct {
    char *val[S_NOPTS];
} s_settings_t;

static volatile sig_atomic_t s_stop;

static void
s_on_signal (int sig)
{
    (void) sig;
    s_stop = 1;
}

static void
s_usage (FILE *f)
{
    fprintf (f, "usage: tpc-coordinator --id ID --log-dir DIR [options]\n"
                "  runs two-phase commit (presumed abort) or three-phase "
                "commit for clients\n  against tpc agents\n");
    for (const s_opt_t *o = s_opts; o->name; o++) {
        char flag[64];
        snprintf (flag, sizeof flag, "--%s%s", o->name,
                  o->kind == O_FLAG ? "" : " V");
        fprintf (f, "  %-24s %s\n", flag, o->help);
    }
    fprintf (f, "  -h, --help\n");
}

static int
s_find (const char *name)
{
    for (size_t i = 0; i < S_NOPTS; i++)
        if (strcmp (s_opts[i].name, name) == 0)
            return (int) i;
    return -1;
}

static int
s_set (s_settings_t *st, int i, const char *value)
{
    char *copy = strdup (value);
    if (!copy)
        return TPC_ENOMEM;
    free (st->val[i]);
    st->val[i] = copy;
    return 0;
}

/*  Load FILE into ST (only keys not set yet: flags win).                 */
static int
s_load_config (s_settings_t *st, const char *file)
{
    int rc = TPC_ECONFIG;
    char *text = NULL;
    cJSON *root = NULL;
    FILE *f = fopen (file, "rb");
    if (!f) {
        fprintf (stderr, "tpc-coordinator: cannot open config %s: %s\n",
                 file, strerror (errno));
        goto cleanup;
    }
    fseek (f, 0, SEEK_END);
    long len = ftell (f);
    fseek (f, 0, SEEK_SET);
    if (len < 0 || len > 1024 * 1024 || !(text = calloc (1, (size_t) len + 1))
        || fread (text, 1, (size_t) len, f) != (size_t) len) {
        fprintf (stderr, "tpc-coordinator: cannot read config %s\n", file);
        goto cleanup;
    }
    root = cJSON_Parse (text);
    if (!cJSON_IsObject (root)) {
        fprintf (stderr, "tpc-coordinator: config %s is not a JSON object\n",
                 file);
        goto cleanup;
    }
    for (cJSON *it = root->child; it; it = it->next) {
        int i = s_find (it->string);
        if (i < 0 || strcmp (it->string, "config") == 0) {
            fprintf (stderr, "tpc-coordinator: config %s: unknown key "
                     "\"%s\"\n", file, it->string);
            goto cleanup;
        }
        if (st->val[i])
            continue;           /* a flag said it */
        char num[32];
        const char *v = NULL;
        if (s_opts[i].kind == O_FLAG && cJSON_IsBool (it))
            v = cJSON_IsTrue (it) ? "1" : NULL;
        else if (s_opts[i].kind == O_U64 && cJSON_IsNumber (it)
                 && it->valuedouble >= 0
                 && it->valuedouble < 9007199254740992.0
                 && it->valuedouble == (double) (uint64_t) it->valuedouble) {
            snprintf (num, sizeof num, "%" PRIu64, (uint64_t) it->valuedouble);
            v = num;
        }
        else if ((s_opts[i].kind == O_STR || s_opts[i].kind == O_REPLY_ON)
                 && cJSON_IsString (it))
            v = it->valuestring;
        else {
            fprintf (stderr, "tpc-coordinator: config %s: \"%s\" has the "
                     "wrong type\n", file, it->string);
            goto cleanup;
        }
        if (v && s_set (st, i, v))
            goto cleanup;
    }
    rc = 0;
cleanup:
    cJSON_Delete (root);
    free (text);
    if (f)
        fclose (f);
    return rc;
}

static int
s_parse_args (s_settings_t *st, int argc, char **argv)
{
    for (int a = 1; a < argc; a++) {
        const char *arg = argv[a];
        if (strcmp (arg, "-h") == 0 || strcmp (arg, "--help") == 0) {
            s_usage (stdout);
            exit (0);
        }
        if (strcmp (arg, "-v") == 0)
            arg = "--verbose";
        if (strncmp (arg, "--", 2) != 0) {
            fprintf (stderr, "tpc-coordinator: unexpected argument '%s'\n",
                     arg);
            return TPC_EINVAL;
        }
        char name[64];
        const char *eq = strchr (arg + 2, '=');
        size_t nlen = eq ? (size_t) (eq - arg - 2) : strlen (arg + 2);
        if (nlen >= sizeof name)
            nlen = sizeof name - 1;
        memcpy (name, arg + 2, nlen);
        name[nlen] = '\0';
        int i = s_find (name);
        if (i < 0) {
            fprintf (stderr, "tpc-coordinator: unknown option '%s'\n", arg);
            return TPC_EINVAL;
        }
        const char *v = "1";
        if (s_opts[i].kind != O_FLAG) {
            if (eq)
                v = eq + 1;
            else if (a + 1 < argc)
                v = argv[++a];
            else {
                fprintf (stderr, "tpc-coordinator: --%s needs a value\n",
                         name);
                return TPC_EINVAL;
            }
        }
        if (s_set (st, i, v))
            return TPC_ENOMEM;
    }
    return 0;
}

/*  Settings -> server config; 0 or TPC_EINVAL with a message printed.    */
static int
s_to_config (const s_settings_t *st, coord_server_config_t *cfg)
{
    memset (cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < S_NOPTS; i++) {
        const char *v = st->val[i], *name = s_opts[i].name;
        if (!v)
            continue;
        uint64_t u = 0;
        if (s_opts[i].kind == O_U64) {
            char *end = NULL;
            errno = 0;
            unsigned long long x = strtoull (v, &end, 10);
            if (!*v || *end || errno || *v == '-') {
                fprintf (stderr, "tpc-coordinator: --%s: '%s' is not a "
                         "non-negative integer\n", name, v);
                return TPC_EINVAL;
            }
            u = x;
        }
        if (!strcmp (name, "bind"))
            cfg->bind = v;
        else if (!strcmp (name, "agent-bind"))
            cfg->agent_bind = v;
        else if (!strcmp (name, "log-dir"))
            cfg->log_dir = v;
        else if (!strcmp (name, "id"))
            cfg->id = v;
        else if (!strcmp (name, "txn-timeout-ms"))
            cfg->engine.txn_timeout_ms = u;
        else if (!strcmp (name, "vote-timeout-ms"))
            cfg->engine.vote_timeout_ms = u;
        else if (!strcmp (name, "ack-wait-ms"))
            cfg->engine.ack_wait_ms = u;
        else if (!strcmp (name, "heartbeat-ms"))
            cfg->engine.heartbeat_ms = u;
        else if (!strcmp (name, "max-msg-bytes"))
            cfg->max_msg_bytes = (size_t) u;
        else if (!strcmp (name, "recover-only"))
            cfg->recover_only = true;
        else if (!strcmp (name, "recover-timeout-ms"))
            cfg->recover_timeout_ms = u;
        else if (!strcmp (name, "log-segment-bytes"))
            cfg->log_segment_bytes = u;
        else if (!strcmp (name, "checkpoint-records"))
            cfg->checkpoint_records = u;
        else if (!strcmp (name, "verbose"))
            cfg->verbose = 1;
        else if (!strcmp (name, "curve-secret"))
            cfg->curve_secret = v;
        else if (!strcmp (name, "allow-clients"))
            cfg->allow_clients = v;
        else if (!strcmp (name, "allow-admins"))
            cfg->allow_admins = v;
        else if (!strcmp (name, "allow-agents"))
            cfg->allow_agents = v;
        else if (!strcmp (name, "max-txns"))
            cfg->engine.max_txns = (size_t) u;
        else if (!strcmp (name, "max-txns-per-client"))
            cfg->engine.max_txns_per_client = (size_t) u;
        else if (!strcmp (name, "max-stmts"))
            cfg->engine.max_stmts = (size_t) u;
        else if (!strcmp (name, "max-result-rows"))
            cfg->engine.max_result_rows = (size_t) u;
        else if (!strcmp (name, "metrics-bind"))
            cfg->metrics_bind = v;
        else if (!strcmp (name, "protocol")) {
            if (!strcmp (v, "2pc"))
                cfg->engine.protocol = TPC_PROTO_2PC;
            else if (!strcmp (v, "3pc"))
                cfg->engine.protocol = TPC_PROTO_3PC;
            else {
                fprintf (stderr, "tpc-coordinator: --protocol: '%s' is not "
                         "2pc or 3pc\n", v);
                return TPC_EINVAL;
            }
        }
        else if (!strcmp (name, "reply-on")) {
            if (!strcmp (v, "applied"))
                cfg->engine.reply_on = COORD_REPLY_ON_APPLIED;
            else if (!strcmp (v, "decision"))
                cfg->engine.reply_on = COORD_REPLY_ON_DECISION;
            else {
                fprintf (stderr, "tpc-coordinator: --reply-on: '%s' is not "
                         "applied or decision\n", v);
                return TPC_EINVAL;
            }
        }
    }
    if (!cfg->id || tpc_coord_id_valid (cfg->id)) {
        fprintf (stderr, "tpc-coordinator: --id: '%s' is not 1 to 32 of "
                 "[A-Za-z0-9]\n", cfg->id ? cfg->id : "");
        return TPC_EINVAL;
    }
    if (!cfg->log_dir || !*cfg->log_dir) {
        fprintf (stderr, "tpc-coordinator: --log-dir is required\n");
        return TPC_EINVAL;
    }
    bool plain = st->val[s_find ("insecure-plaintext")] != NULL;
    if (plain && cfg->curve_secret) {
        fprintf (stderr, "tpc-coordinator: --insecure-plaintext and "
                 "--curve-secret contradict each other: give one\n");
        return TPC_EINVAL;
    }
    if (!plain && !cfg->curve_secret) {
        fprintf (stderr, "tpc-coordinator: refusing to start without "
                 "authentication: give --curve-secret FILE (make keys with "
                 "`tpcctl keygen NAME DIR`) with --allow-agents DIR and "
                 "--allow-clients DIR, or --insecure-plaintext to accept "
                 "anyone unencrypted (tests only)\n");
        return TPC_EINVAL;
    }
    char err[512];
    if (tpc_crash_config_from_env (&cfg->crash, "coord.", err, sizeof err)) {
        fprintf (stderr, "tpc-coordinator: %s\n", err);
        return TPC_EINVAL;
    }
    const char *hook = getenv ("TPC_COORD_DEBUG_EXIT_AFTER_DECISION");
    if (!cfg->crash.point && hook && strcmp (hook, "1") == 0)
        cfg->crash = (tpc_crash_config_t) { .point = "coord.after_fsync",
                                            .at = 1 };
    hook = getenv ("TPC_COORD_DEBUG_FAIL_SYNC");
    cfg->debug_fail_sync = hook && strcmp (hook, "1") == 0;
    return 0;
}

int
main (int argc, char **argv)
{
    int status = 2;
    s_settings_t st;
    coord_server_t *server = NULL;
    memset (&st, 0, sizeof st);
    if (s_parse_args (&st, argc, argv)) {
        s_usage (stderr);
        goto cleanup;
    }
    int ci = s_find ("config");
    if (st.val[ci] && s_load_config (&st, st.val[ci]))
        goto cleanup;
    coord_server_config_t cfg;
    if (s_to_config (&st, &cfg))
        goto cleanup;

    struct sigaction sa;
    memset (&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigemptyset (&sa.sa_mask);
    sigaction (SIGTERM, &sa, NULL);
    sigaction (SIGINT, &sa, NULL);
    signal (SIGPIPE, SIG_IGN);

    if (!cfg.curve_secret)
        fprintf (stderr,
                 "tpc-coordinator: WARNING: --insecure-plaintext: NO "
                 "AUTHENTICATION, NO ENCRYPTION.\n"
                 "tpc-coordinator: WARNING: anyone who reaches %s or %s can "
                 "run and resolve transactions and pose as any agent; "
                 "transactions cross the network in clear text.\n",
                 cfg.bind ? cfg.bind : COORD_CLIENT_EP_DEFAULT,
                 cfg.agent_bind ? cfg.agent_bind : COORD_AGENT_EP_DEFAULT);
    char err[1024];
    server = coord_server_new (&cfg, err, sizeof err);
    if (!server) {
        fprintf (stderr, "tpc-coordinator: %s\n", err);
        goto cleanup;
    }
    const char *cep = coord_server_client_endpoint (server);
    fprintf (stderr, "tpc-coordinator: ready id=%s epoch=%" PRIu64
             " clients=%s agents=%s replayed=%" PRIu64 " in_doubt=%zu%s"
             " security=%s metrics=%d protocol=%s\n",
             cfg.id, coord_server_epoch (server), cep ? cep : "none",
             coord_server_agent_endpoint (server),
             coord_server_replayed (server), coord_server_in_doubt (server),
             cfg.recover_only ? " mode=recover-only" : "",
             coord_server_security (server),
             coord_server_metrics_port (server),
             tpc_proto_name (cfg.engine.protocol));
    if (cfg.crash.point)
        fprintf (stderr, "tpc-coordinator: crash point %s armed at pass %"
                 PRIu64 "%s\n", cfg.crash.point, cfg.crash.at,
                 cfg.crash.action == TPC_CRASH_STOP ? " (stop)" : "");
    status = coord_server_run (server, &s_stop);
cleanup:
    coord_server_destroy (&server);
    for (size_t i = 0; i < S_NOPTS; i++)
        free (st.val[i]);
    return status;
}
