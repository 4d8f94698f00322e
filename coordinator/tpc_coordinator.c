/*  tpc-coordinator: command line, config file and signals around
 *  coord_server.
 *
 *  Settings come from the flags below and from a JSON config file
 *  (--config FILE.json: one object whose keys are the long flag names
 *  without "--", e.g. {"id": "c1", "log-dir": "/var/lib/tpc",
 *  "txn-timeout-ms": 30000, "recover-only": false}); the flags win.  Both
 *  daemons read them the same way (common/tpc_opts.h) and stop the same
 *  way (common/tpc_stop.h): SIGTERM and SIGINT stop cleanly (exit 0).
 *  Exit status: 0 clean stop, 1 --recover-only left transactions
 *  unfinished, 2 usage or start-up error, 3 the decision log failed, 99 a
 *  crash point fired.
 *  Security: --curve-secret with --allow-agents and --allow-clients /
 *  --allow-admins (only --allow-agents with --recover-only, which serves
 *  no clients) turns CurveZMQ on (tpc_zap.h); without them it refuses
 *  to start unless --insecure-plaintext says so, and then it warns loudly.
 *  HA (--ha --store etcd://...): coordinators of one --id campaign for
 *  the leader key (coord_elect.h); a follower answers TPC_ENOT_LEADER
 *  (coord_follow.h); the winner serves with every decision write fenced
 *  on its leader key.  REJOIN: a deposed leader (its lease lost, or a
 *  store write refused or failed) sends nothing more and re-executes
 *  itself (/proc/self/exe, the same arguments, crash points disarmed):
 *  nothing of the deposed engine survives, the process id and stderr
 *  stay, and the new image starts as a follower.
 *  Test hooks (environment): TPC_CRASH_POINT=coord.<point>, TPC_CRASH_AT=<n>,
 *  TPC_CRASH_ACTION=exit|stop|failsync arm one crash point
 *  (common/tpc_crash.h; coord.log_sync with failsync makes the log's
 *  fdatasyncs fail with EIO once the coordinator is serving).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coord_elect.h"
#include "coord_follow.h"
#include "coord_server.h"
#include "tpc_error.h"
#include "tpc_opts.h"
#include "tpc_stop.h"

#define S_PROG "tpc-coordinator"
#define S_NOPTS 44

/*  The settings as read (0 / NULL = not given: the server's default).    */
typedef struct {
    const char *store, *store_prefix;       /* the decision store */
    uint64_t store_timeout_ms;
    const char *store_cacert, *store_cert, *store_key, *store_user_file;
    const char *bind, *agent_bind, *log_dir, *id, *reply_on, *protocol,
               *curve_secret, *allow_clients, *allow_admins, *allow_agents,
               *metrics_bind, *http_bind, *http_token_file;
    uint64_t txn_timeout_ms, vote_timeout_ms, ack_wait_ms, max_msg_bytes,
             heartbeat_ms, recover_timeout_ms, log_segment_bytes,
             checkpoint_records, max_txns, max_txns_per_client, max_stmts,
             max_result_rows;
    bool recover_only, verbose, insecure_plaintext;
    bool ha;                                /* HA: campaign on etcd */
    uint64_t lease_ttl_ms;
    const char *advertise_client, *advertise_agent;
    const char *trace_file;                 /* the latency trace */
    uint64_t trace_sample;
    tpc_opt_t table[S_NOPTS];
} s_settings_t;

#define S_STR(n, f, a, h) { n, 0, TPC_OPT_STR, &st->f, a, h, 0, 0, NULL }
#define S_U64(n, f, h) { n, 0, TPC_OPT_UINT, &st->f, "N", h, 0, 0, NULL }
#define S_FLAG(n, l, f, h) { n, l, TPC_OPT_FLAG, &st->f, NULL, h, 0, 0, NULL }

static void
s_settings_init (s_settings_t *st)
{
    memset (st, 0, sizeof *st);
    const tpc_opt_t table[] = {
        S_STR ("id", id, "ID", "coordinator id, [A-Za-z0-9]{1,32} (required)"),
        S_STR ("log-dir", log_dir, "DIR",
               "decision log directory (required with --store file)"),
        S_STR ("store", store, "STORE",
               "file | etcd[s]://HOST:PORT[,HOST:PORT...] (file: --log-dir;"
               " etcds: HTTPS)"),
        S_STR ("store-prefix", store_prefix, "P",
               "etcd key prefix (/tpc/<id>/)"),
        S_U64 ("store-timeout-ms", store_timeout_ms,
               "one etcd request gives up after (5000)"),
        S_STR ("store-cacert", store_cacert, "FILE",
               "etcds: CA certificates (PEM) for etcd's (system's)"),
        S_STR ("store-cert", store_cert, "FILE",
               "etcds: client certificate (PEM; with --store-key)"),
        S_STR ("store-key", store_key, "FILE",
               "etcds: the client certificate's key (PEM)"),
        S_STR ("store-user-file", store_user_file, "FILE",
               "etcd auth: a file whose first line is user:password"),
        S_STR ("bind", bind, "EP",
               "client endpoint (default " COORD_CLIENT_EP_DEFAULT ")"),
        S_STR ("agent-bind", agent_bind, "EP",
               "agent endpoint (default " COORD_AGENT_EP_DEFAULT ")"),
        S_U64 ("txn-timeout-ms", txn_timeout_ms,
               "abort undecided transactions after (60000)"),
        S_U64 ("vote-timeout-ms", vote_timeout_ms,
               "abort when votes take longer (10000)"),
        S_U64 ("ack-wait-ms", ack_wait_ms,
               "reply-on applied: reply after at most (5000)"),
        S_STR ("reply-on", reply_on, "WHEN", "applied | decision (applied)"),
        S_STR ("protocol", protocol, "P",
               "2pc | 3pc: when a begin/submit names none (2pc)"),
        S_U64 ("max-msg-bytes", max_msg_bytes,
               "largest message accepted (1048576)"),
        S_U64 ("heartbeat-ms", heartbeat_ms,
               "agents' hello period; 3 missed = gone (1000)"),
        S_FLAG ("recover-only", 0, recover_only,
                "finish decided transactions and exit"),
        S_U64 ("recover-timeout-ms", recover_timeout_ms,
               "--recover-only gives up after (30000)"),
        S_U64 ("log-segment-bytes", log_segment_bytes,
               "log segment size (16 MiB)"),
        S_U64 ("checkpoint-records", checkpoint_records,
               "checkpoint after this many records (100000)"),
        S_FLAG ("verbose", 'v', verbose, "log every event"),
        S_STR ("curve-secret", curve_secret, "FILE",
               "its CURVE key pair (a NAME.key_secret file)"),
        S_STR ("allow-clients", allow_clients, "DIR",
               "client public keys (a directory)"),
        S_STR ("allow-admins", allow_admins, "DIR",
               "admin public keys (may also resolve)"),
        S_STR ("allow-agents", allow_agents, "DIR",
               "agent public keys (NAME.key per agent)"),
        S_FLAG ("insecure-plaintext", 0, insecure_plaintext,
                "no CURVE, no authentication (tests)"),
        S_U64 ("max-txns", max_txns,
               "transactions in flight, in total (100000)"),
        S_U64 ("max-txns-per-client", max_txns_per_client,
               "in flight per key or connection (10000)"),
        S_U64 ("max-stmts", max_stmts, "statements per transaction (10000)"),
        S_U64 ("max-result-rows", max_result_rows,
               "rows in one exec result (100000)"),
        S_STR ("metrics-bind", metrics_bind, "HOST:PORT",
               "Prometheus /metrics endpoint (off)"),
        S_STR ("http", http_bind, "[HOST:]PORT",
               "operator console and /metrics (off; host 127.0.0.1)"),
        S_STR ("http-token-file", http_token_file, "FILE",
               "the console's write token (none: read-only)"),
        S_FLAG ("ha", 0, ha, "campaign for leadership of --id on the etcd "
                "store; follow when another leads"),
        S_U64 ("lease-ttl-ms", lease_ttl_ms,
               "--ha: the leader's lease, whole seconds (2000)"),
        S_STR ("advertise-client", advertise_client, "EP",
               "--ha: the client endpoint others are told (--bind)"),
        S_STR ("advertise-agent", advertise_agent, "EP",
               "--ha: the agent endpoint others are told (--agent-bind)"),
        S_STR ("trace-file", trace_file, "FILE",
               "append the per-stage latency trace to FILE (off)"),
        { "trace-sample", 0, TPC_OPT_UINT, &st->trace_sample, "N",
          "trace one gid in N (1: every gid)", 1, 1000000000, NULL },
        { NULL, 0, 0, NULL, NULL, NULL, 0, 0, NULL }
    };
    _Static_assert (sizeof table <= sizeof st->table, "S_NOPTS too small");
    memcpy (st->table, table, sizeof table);
}

/*  Settings -> server config; 0 or TPC_EINVAL with a message printed.    */
static int
s_to_config (const s_settings_t *st, coord_server_config_t *cfg)
{
    *cfg = (coord_server_config_t) {
        .bind = st->bind, .agent_bind = st->agent_bind,
        .log_dir = st->log_dir, .id = st->id,
        .max_msg_bytes = (size_t) st->max_msg_bytes,
        .recover_only = st->recover_only,
        .recover_timeout_ms = st->recover_timeout_ms,
        .log_segment_bytes = st->log_segment_bytes,
        .checkpoint_records = st->checkpoint_records,
        .verbose = st->verbose ? 1 : 0,
        .curve_secret = st->curve_secret,
        .allow_clients = st->allow_clients, .allow_admins = st->allow_admins,
        .allow_agents = st->allow_agents, .metrics_bind = st->metrics_bind,
        .http_bind = st->http_bind, .http_token_file = st->http_token_file,
        .version = TPC_VERSION,
        .trace_file = st->trace_file,
        .trace_sample = (unsigned) st->trace_sample,
    };
    cfg->engine.txn_timeout_ms = st->txn_timeout_ms;
    cfg->engine.vote_timeout_ms = st->vote_timeout_ms;
    cfg->engine.ack_wait_ms = st->ack_wait_ms;
    cfg->engine.heartbeat_ms = st->heartbeat_ms;
    cfg->engine.max_txns = (size_t) st->max_txns;
    cfg->engine.max_txns_per_client = (size_t) st->max_txns_per_client;
    cfg->engine.max_stmts = (size_t) st->max_stmts;
    cfg->engine.max_result_rows = (size_t) st->max_result_rows;
    if (st->protocol && !strcmp (st->protocol, "2pc"))
        cfg->engine.protocol = TPC_PROTO_2PC;
    else if (st->protocol && !strcmp (st->protocol, "3pc"))
        cfg->engine.protocol = TPC_PROTO_3PC;
    else if (st->protocol) {
        fprintf (stderr, S_PROG ": --protocol: '%s' is not 2pc or 3pc\n",
                 st->protocol);
        return TPC_EINVAL;
    }
    if (st->reply_on && !strcmp (st->reply_on, "applied"))
        cfg->engine.reply_on = COORD_REPLY_ON_APPLIED;
    else if (st->reply_on && !strcmp (st->reply_on, "decision"))
        cfg->engine.reply_on = COORD_REPLY_ON_DECISION;
    else if (st->reply_on) {
        fprintf (stderr, S_PROG ": --reply-on: '%s' is not applied or "
                 "decision\n", st->reply_on);
        return TPC_EINVAL;
    }
    if (!cfg->id || tpc_coord_id_valid (cfg->id)) {
        fprintf (stderr, S_PROG ": --id: '%s' is not 1 to 32 of "
                 "[A-Za-z0-9]\n", cfg->id ? cfg->id : "");
        return TPC_EINVAL;
    }
    cfg->store = st->store;
    cfg->store_prefix = st->store_prefix;
    cfg->store_timeout_ms = st->store_timeout_ms;
    cfg->store_auth = (coord_etcd_auth_t) {
        .cacert = st->store_cacert, .cert = st->store_cert,
        .key = st->store_key, .user_file = st->store_user_file };
    bool file = !st->store || !strcmp (st->store, "file");
    if (!file && strncmp (st->store, "etcd://", 7)
        && strncmp (st->store, "etcds://", 8)) {
        fprintf (stderr, S_PROG ": --store: '%s' is not file or "
                 "etcd[s]://HOST:PORT[,HOST:PORT...]\n", st->store);
        return TPC_EINVAL;
    }
    if (file && (!cfg->log_dir || !*cfg->log_dir)) {
        fprintf (stderr, S_PROG ": --log-dir is required (or --store "
                 "etcd://...)\n");
        return TPC_EINVAL;
    }
    if (st->insecure_plaintext && cfg->curve_secret) {
        fprintf (stderr, S_PROG ": --insecure-plaintext and "
                 "--curve-secret contradict each other: give one\n");
        return TPC_EINVAL;
    }
    if (!st->insecure_plaintext && !cfg->curve_secret) {
        /* --recover-only serves no clients: it needs no client list */
        fprintf (stderr, S_PROG ": refusing to start without "
                 "authentication: give --curve-secret FILE (make keys with "
                 "`tpcctl keygen NAME DIR`) with --allow-agents DIR%s, or "
                 "--insecure-plaintext to accept anyone unencrypted (tests "
                 "only)\n", cfg->recover_only ? "" : " and --allow-clients "
                 "DIR");
        return TPC_EINVAL;
    }
    char err[512];
    if (tpc_crash_config_from_env (&cfg->crash, "coord.", err, sizeof err)) {
        fprintf (stderr, S_PROG ": %s\n", err);
        return TPC_EINVAL;
    }
    return 0;
}

/*  HA: the election around the server.                                  */
typedef struct {
    char **argv;
    coord_elect_t *elect;
    _Atomic (coord_server_t *) server;
    atomic_bool rejoining;      /* s_rejoin runs once */
    uint64_t grace_ms;          /* lease lost: a decision write under way
                                   meets the fence meanwhile (refused,
                                   visibly) rather than being cut off */
    char prefix[64], member[160];
    coord_elect_leader_t won;
} s_ha_t;

/*  Deposed: re-execute this program as a follower.  Never returns.  The
 *  keepalive and the sync thread may both get here: the second waits
 *  for the first's execv.  The lease is revoked first (bounded), so the
 *  new image does not find its own stale key and wait a TTL.           */
static void
s_rejoin (void *arg)
{
    s_ha_t *ha = arg;
    if (atomic_exchange (&ha->rejoining, true))
        for (;;)
            pause ();
    coord_elect_abandon (ha->elect, 500);
    fprintf (stderr, S_PROG ": deposed member=%s: rejoining as a "
             "follower (re-exec)\n", ha->member);
    fflush (stderr);
    unsetenv ("TPC_CRASH_POINT");
    unsetenv ("TPC_CRASH_AT");
    unsetenv ("TPC_CRASH_ACTION");
    DIR *d = opendir ("/proc/self/fd");
    struct dirent *e;
    while (d && (e = readdir (d))) {
        int fd = atoi (e->d_name);
        if (fd > 2 && fd != dirfd (d))
            (void) fcntl (fd, F_SETFD, FD_CLOEXEC);
    }
    if (d)
        closedir (d);
    /* the new image inherits this thread's signal mask: a keepalive or
     * sync thread may block the stop signals                            */
    sigset_t none;
    sigemptyset (&none);
    pthread_sigmask (SIG_SETMASK, &none, NULL);
    execv ("/proc/self/exe", ha->argv);
    fprintf (stderr, S_PROG ": FATAL: cannot re-execute: %s\n",
             strerror (errno));
    _exit (3);
}

/*  The lease is lost (coord_elect's thread): stop sending at once, let a
 *  decision write under way meet the fence, rejoin.                     */
static void
s_lost (void *arg)
{
    s_ha_t *ha = arg;
    fprintf (stderr, S_PROG ": lease lost: deposed, nothing more is "
             "sent\n");
    coord_server_t *server = atomic_load (&ha->server);
    if (server) {
        coord_server_depose (server);
        usleep ((useconds_t) ha->grace_ms * 1000);
    }
    if (*tpc_stop_flag ())      /* told to stop: main resigns, exits */
        return;
    s_rejoin (ha);
}

/*  --ha: check the settings, follow until this process wins.  0 won
 *  (CFG fenced, the keepalive running), 1 stopped by a signal, 2 error
 *  (printed).                                                            */
static int
s_ha_campaign (const s_settings_t *st, coord_server_config_t *cfg,
               s_ha_t *ha)
{
    char err[512];
    if (!cfg->store || (strncmp (cfg->store, "etcd://", 7)
                        && strncmp (cfg->store, "etcds://", 8))) {
        fprintf (stderr, S_PROG ": --ha needs --store etcd[s]://...\n");
        return 2;
    }
    if (cfg->recover_only) {
        fprintf (stderr, S_PROG ": --ha does not go with --recover-only\n");
        return 2;
    }
    snprintf (ha->prefix, sizeof ha->prefix, "/tpc/%s/", cfg->id);
    char host[64] = "host";
    (void) gethostname (host, sizeof host - 1);
    snprintf (ha->member, sizeof ha->member, "%s-%ld", host,
              (long) getpid ());
    const char *bind = cfg->bind ? cfg->bind : COORD_CLIENT_EP_DEFAULT;
    const char *abind = cfg->agent_bind ? cfg->agent_bind
                                        : COORD_AGENT_EP_DEFAULT;
    coord_elect_config_t ec = {
        .endpoints = cfg->store, .auth = cfg->store_auth,
        .prefix = cfg->store_prefix ? cfg->store_prefix : ha->prefix,
        .id = cfg->id, .member = ha->member,
        .client_ep = st->advertise_client ? st->advertise_client : bind,
        .agent_ep = st->advertise_agent ? st->advertise_agent : abind,
        .ttl_ms = st->lease_ttl_ms ? st->lease_ttl_ms : 2000,
        .timeout_ms = cfg->store_timeout_ms,
    };
    ha->elect = coord_elect_new (&ec, err, sizeof err);
    if (!ha->elect) {
        fprintf (stderr, S_PROG ": %s\n", err);
        return 2;
    }
    uint64_t ttl = coord_elect_ttl_ms (ha->elect);
    ha->grace_ms = ttl / 4;
    coord_follow_config_t fc = { .id = cfg->id, .bind = bind,
                                 .agent_bind = abind,
                                 .poll_ms = ttl / 8 < 200 ? ttl / 8 : 200,
                                 .curve_secret = cfg->curve_secret,
                                 .allow_clients = cfg->allow_clients,
                                 .allow_admins = cfg->allow_admins,
                                 .allow_agents = cfg->allow_agents };
    int rc = coord_follow_run (&fc, ha->elect, tpc_stop_flag (), &ha->won,
                               err, sizeof err);
    if (rc < 0) {
        fprintf (stderr, S_PROG ": %s\n", err);
        return 2;
    }
    if (rc == 0)
        return 1;
    if (coord_elect_keep (ha->elect, s_lost, ha)) {
        fprintf (stderr, S_PROG ": cannot start the lease keepalive\n");
        return 2;
    }
    cfg->fence_key = coord_elect_key (ha->elect);
    cfg->fence_rev = ha->won.create_rev;
    /* a one-phase commit logs nothing, so no fence would stop a deposed
     * leader's work(then=commit): every outcome is a fenced record      */
    cfg->engine.no_onephase = true;
    cfg->elect = ha->elect;
    cfg->deposed = s_rejoin;
    cfg->deposed_arg = ha;
    return 0;
}

static void
s_say_ready (coord_server_t *server, const coord_server_config_t *cfg)
{
    const char *cep = coord_server_client_endpoint (server);
    fprintf (stderr, S_PROG ": ready id=%s epoch=%" PRIu64
             " clients=%s agents=%s replayed=%" PRIu64 " in_doubt=%zu%s"
             " security=%s metrics=%d protocol=%s http=%d\n",
             cfg->id, coord_server_epoch (server), cep ? cep : "none",
             coord_server_agent_endpoint (server),
             coord_server_replayed (server), coord_server_unfinished (server),
             cfg->recover_only ? " mode=recover-only" : "",
             coord_server_security (server),
             coord_server_metrics_port (server),
             tpc_proto_name (cfg->engine.protocol),
             coord_server_http_port (server));
    if (cfg->crash.point)
        fprintf (stderr, S_PROG ": crash point %s armed at pass %"
                 PRIu64 "%s\n", cfg->crash.point, cfg->crash.at,
                 cfg->crash.action == TPC_CRASH_STOP ? " (stop)" : "");
}

int
main (int argc, char **argv)
{
    int status = 2;
    s_settings_t st;
    coord_server_t *server = NULL;
    s_ha_t ha = { .argv = argv };
    s_settings_init (&st);
    tpc_opts_t *opts = tpc_opts_new (S_PROG, st.table);
    char err[1024];
    if (!opts) {
        fprintf (stderr, S_PROG ": out of memory\n");
        goto cleanup;
    }
    if (tpc_opts_parse (opts, argc, argv, stderr, err, sizeof err)) {
        fprintf (stderr, S_PROG ": %s (see --help)\n", err);
        goto cleanup;
    }
    if (tpc_opts_help (opts)) {
        tpc_opts_usage (opts, stdout, S_PROG " --id ID {--log-dir DIR | --store "
                        "etcd[s]://HOST:PORT[,...]} "
                        "[options]\n  runs two-phase commit (presumed "
                        "abort) or three-phase commit for clients\n"
                        "  against tpc agents");
        status = 0;
        goto cleanup;
    }
    if (tpc_opts_version (opts)) {
        printf (S_PROG " (tpc) " TPC_VERSION "\n");
        status = 0;
        goto cleanup;
    }
    coord_server_config_t cfg;
    if (s_to_config (&st, &cfg))
        goto cleanup;
    if (tpc_stop_catch ()) {
        fprintf (stderr, S_PROG ": cannot set up signals: %s\n",
                 strerror (errno));
        goto cleanup;
    }
    if (!cfg.curve_secret)
        fprintf (stderr,
                 S_PROG ": WARNING: --insecure-plaintext: NO "
                 "AUTHENTICATION, NO ENCRYPTION.\n"
                 S_PROG ": WARNING: anyone who reaches %s or %s can "
                 "run and resolve transactions and pose as any agent; "
                 "transactions cross the network in clear text.\n",
                 cfg.bind ? cfg.bind : COORD_CLIENT_EP_DEFAULT,
                 cfg.agent_bind ? cfg.agent_bind : COORD_AGENT_EP_DEFAULT);
    if (st.ha) {
        int rc = s_ha_campaign (&st, &cfg, &ha);
        if (rc == 1) {          /* a follower stopped by a signal */
            status = 0;
            fprintf (stderr, S_PROG ": stopped (%s), exit status 0\n",
                     tpc_stop_name (*tpc_stop_flag ()));
        }
        if (rc)
            goto cleanup;
    }
    server = coord_server_new (&cfg, err, sizeof err);
    if (!server) {
        fprintf (stderr, S_PROG ": %s\n", err);
        if (ha.elect)           /* HA: let another try; follow it */
            s_rejoin (&ha);
        goto cleanup;
    }
    if (ha.elect) {
        atomic_store (&ha.server, server);
        fprintf (stderr, S_PROG ": leader id=%s member=%s epoch=%" PRIu64
                 " fence=%" PRId64 " ttl_ms=%" PRIu64 "\n", cfg.id,
                 ha.member, coord_server_epoch (server), ha.won.create_rev,
                 coord_elect_ttl_ms (ha.elect));
    }
    s_say_ready (server, &cfg);
    status = coord_server_run (server, tpc_stop_flag ());
    if (ha.elect)               /* a clean stop: a follower takes over now */
        coord_elect_resign (ha.elect);
    if (*tpc_stop_flag ())
        fprintf (stderr, S_PROG ": stopped (%s), exit status %d\n",
                 tpc_stop_name (*tpc_stop_flag ()), status);
cleanup:
    atomic_store (&ha.server, NULL);    /* s_lost must not touch it */
    coord_server_destroy (&server);
    coord_elect_destroy (&ha.elect);
    tpc_opts_destroy (&opts);
    return status;
}
