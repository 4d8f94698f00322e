/*  tpcctl: the operator's command line for tpc.
 *
 *  Parses global options and one COMMAND, then runs it: the transaction
 *  commands (exec, begin, commit, rollback, status, show, list, resolve)
 *  talk to the coordinator through libtpc (tpc_client.h); other command
 *  families dispatch to their own module (`log`: client/tpcctl_log.c).
 *  Exit codes are listed in s_usage and are part of the interface:
 *  scripts rely on them.
 *
 *  `exec` runs begin, one exec per statement, then commit (the
 *  interactive API, not the one-shot submit): the gid is known before
 *  the commit is sent, so an outcome in doubt names it, and the rows a
 *  statement returns are printed -- as text, columns separated by '|'
 *  with a header and a "(N rows)" line (psql's unaligned form; NULL is
 *  empty), or under --json as "results": [{"on", "columns", "rows",
 *  "affected"}].  A failed statement rolls the transaction back.
 *
 *  Under --json every outcome is one JSON document on stdout, and so is
 *  an error of the coordinator or the connection:
 *    {"error":{"code":-14,"name":"TPC_EAUTH","message":"..."}}
 *  (exec adds "outcome":"error" and the gid), with the same exit status
 *  as without --json.  Usage errors stay text on stderr (exit 2).
 */

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tpc_client.h"
#include "tpc_curve.h"
#include "tpc_error.h"
#include "tpc_gid.h"
#include "tpcctl_log.h"

enum {
    S_EXIT_OK = 0,              /* success, committed */
    S_EXIT_FAILED = 1,          /* aborted, or an error reply */
    S_EXIT_USAGE = 2,
    S_EXIT_UNREACHABLE = 3,     /* coordinator unreachable or no reply */
    S_EXIT_IN_DOUBT = 4         /* decision sent, outcome not known;
                                   `status`: transactions are in doubt */
};

typedef struct {
    const char *coordinator;    /* NULL = $TPC_COORDINATOR or default */
    int timeout_ms;             /* 0 = library default */
    int connect_timeout_ms;     /* 0 = library default (2 s) */
    bool json;
    const char *curve_secret;   /* NULL = $TPC_CURVE_SECRET or none */
    const char *coordinator_public;  /* NULL = $TPC_COORDINATOR_PUBLIC */
} s_global_t;

/*  The statements of `exec` (and the options of `begin`), as parsed.     */
typedef struct {
    tpc_client_stmt_t *stmts;
    size_t nstmts;
    const char ***params;       /* params[i] backs stmts[i].params */
    tpc_txn_opts_t opts;
    const char *gid;            /* exec --gid: run in this open transaction */
} s_exec_t;

static void
s_usage (FILE *f)
{
    fprintf (f,
"usage: tpcctl [--coordinator EP] [--timeout-ms N] [--connect-timeout-ms N]\n"
"              [--json] COMMAND [ARGS]\n"
"\n"
"commands:\n"
"  exec --on P 'SQL' [--param V | --null ...] [--on P 'SQL' ...]\n"
"       [--protocol 2pc|3pc] [--txn-timeout-ms N]\n"
"                    run the statements (each on participant P, parameters\n"
"                    $1, $2 ... from --param; --null passes SQL NULL) as one\n"
"                    atomic transaction; prints the rows a statement returns\n"
"                    (`a|b` lines, a header, `(N rows)`), then `committed\n"
"                    gid=G`, `aborted gid=G reason=R` or `in_doubt gid=G`\n"
"  begin [--protocol 2pc|3pc] [--txn-timeout-ms N]\n"
"                    open a transaction and print its gid\n"
"  exec --gid GID --on P 'SQL' ...\n"
"                    run statements in open transaction GID (no commit);\n"
"                    prints their rows, then `open gid=G`\n"
"  commit GID        commit an open transaction (prints as exec)\n"
"  rollback GID      roll it back: `aborted gid=G reason=R`\n"
"  status GID        outcome and state of a transaction\n"
"  status            the coordinator at a glance: in flight, in doubt,\n"
"                    committed, aborted, heuristic, oldest in-doubt age,\n"
"                    connected agents; exits 4 if any are in doubt\n"
"  cluster           each member of the --coordinator list: its role\n"
"                    (leader, follower, single), the leader, epoch, lease\n"
"                    TTL and time left, last decision revision (etcd)\n"
"  show GID          everything the coordinator knows of a transaction\n"
"  list              in-flight and in-doubt transactions: age, participants\n"
"  resolve GID commit|abort --force [--reason TEXT]\n"
"                    settle a STUCK transaction by hand: the coordinator\n"
"                    logs a HEURISTIC decision and gives it to the\n"
"                    participants; refused while it still drives GID, if\n"
"                    it contradicts a decision, or if this coordinator\n"
"                    never issued GID (needs an admin key)\n"
"  keygen NAME DIR   write a CURVE key pair: DIR/NAME.key (public, give it\n"
"                    to the peer's allow-list) and DIR/NAME.key_secret (0600)\n"
"  log dump|verify DIR [--json]  read a coordinator's decision log,\n"
"                    read-only (`tpcctl log --help`; exit 1 means\n"
"                    corruption, or DIR holds no log segment)\n"
"  help              this text (also --help); --version: the version\n"
"\n"
"options (before or after COMMAND):\n"
"  --coordinator EP  the coordinator's client endpoint; default\n"
"                    $TPC_COORDINATOR, else " TPC_CLIENT_ENDPOINT_DEFAULT "\n"
"                    (an HA group: EP,EP,... its members' endpoints;\n"
"                    the leader is found and followed)\n"
"  --timeout-ms N    how long to wait for each reply (default %d)\n"
"  --connect-timeout-ms N  how long to wait for the connection to the\n"
"                    coordinator (default %d, at most --timeout-ms): then\n"
"                    `not reachable`, exit 3\n"
"  --json            print one JSON document on stdout (errors too:\n"
"                    {\"error\":{\"code\",\"name\",\"message\"}}, same exit)\n"
"  --curve-secret FILE        this client's key pair (NAME.key_secret);\n"
"                    default $TPC_CURVE_SECRET\n"
"  --coordinator-public FILE  the coordinator's public key (NAME.key);\n"
"                    default $TPC_COORDINATOR_PUBLIC.  Without both the\n"
"                    connection is plain text (an --insecure-plaintext\n"
"                    coordinator only)\n"
"\n"
"exit codes:\n"
"  0  success; the transaction committed\n"
"  1  the transaction aborted, or the coordinator answered with an error\n"
"  2  usage error\n"
"  3  coordinator unreachable, refused the keys or lost the connection,\n"
"     or no reply (or, of an HA group, no leader) in time\n"
"  4  outcome in doubt (commit sent, no answer): ask `tpcctl status GID`;\n"
"     `status` without GID: transactions are in doubt (in_doubt > 0)\n",
             TPC_CLIENT_TIMEOUT_DEFAULT, TPC_CLIENT_CONNECT_TIMEOUT_DEFAULT);
}

static int
s_usage_error (const char *fmt, const char *arg)
{
    fputs ("tpcctl: ", stderr);
    fprintf (stderr, fmt, arg);
    fputs ("\n(`tpcctl help` lists commands and options)\n", stderr);
    return S_EXIT_USAGE;
}

/*  Parse a decimal in 1..MAX; 0 or TPC_EINVAL.                           */
static int
s_parse_uint (const char *text, uint64_t max, uint64_t *out)
{
    if (!text || *text < '0' || *text > '9')
        return TPC_EINVAL;
    errno = 0;
    char *end;
    unsigned long long v = strtoull (text, &end, 10);
    if (errno || *end || v == 0 || v > max)
        return TPC_EINVAL;
    *out = v;
    return 0;
}

/*  If ARGV[*I] is a global option, consume it (and its value) and return
 *  1; 0 if it is not one; -1 (usage error printed) if it is malformed.   */
static int
s_global_opt (int argc, char **argv, int *i, s_global_t *g)
{
    const char *a = argv[*i];
    if (!strcmp (a, "--json")) {
        g->json = true;
        return 1;
    }
    bool coord = !strcmp (a, "--coordinator");
    bool timeout = !strcmp (a, "--timeout-ms");
    bool ctimeout = !strcmp (a, "--connect-timeout-ms");
    bool secret = !strcmp (a, "--curve-secret");
    bool server = !strcmp (a, "--coordinator-public");
    if (!coord && !timeout && !ctimeout && !secret && !server)
        return 0;
    if (*i + 1 >= argc) {
        s_usage_error ("%s needs a value", a);
        return -1;
    }
    const char *v = argv[++*i];
    if (secret || server) {
        if (!*v) {
            s_usage_error ("%s needs a file", a);
            return -1;
        }
        *(secret ? &g->curve_secret : &g->coordinator_public) = v;
    }
    else if (coord) {
        if (!*v) {
            s_usage_error ("%s needs a non-empty endpoint", a);
            return -1;
        }
        g->coordinator = v;
    }
    else {
        uint64_t n;
        if (s_parse_uint (v, 24ULL * 3600 * 1000, &n)) {
            char m[200];
            snprintf (m, sizeof m, "%s: '%.100s' is not a number of "
                      "milliseconds (1 .. 86400000)", a, v);
            s_usage_error ("%s", m);
            return -1;
        }
        *(timeout ? &g->timeout_ms : &g->connect_timeout_ms) = (int) n;
    }
    return 1;
}

/*  Map a libtpc return code to the exit status.                          */
static int
s_exit_for (int rc)
{
    switch (rc) {
    case 0: return S_EXIT_OK;
    case TPC_EIN_DOUBT: return S_EXIT_IN_DOUBT;
    case TPC_ECONNECT:
    case TPC_EAUTH:
    case TPC_ECONNLOST:
    case TPC_ENOT_LEADER:       /* no member of the group led in time */
    case TPC_ETIMEDOUT: return S_EXIT_UNREACHABLE;
    default: return S_EXIT_FAILED;
    }
}

/*  Print JSON document DOC (consumed) on stdout.  0 or 1 (out of memory). */
static int
s_print_json (cJSON *doc)
{
    char *text = doc ? cJSON_PrintUnformatted (doc) : NULL;
    cJSON_Delete (doc);
    if (!text) {
        fprintf (stderr, "tpcctl: out of memory\n");
        return S_EXIT_FAILED;
    }
    printf ("%s\n", text);
    free (text);
    return S_EXIT_OK;
}

/*  {"code":RC,"name":"TPC_...","message":MSG}, a new item (NULL if out of
 *  memory).                                                              */
static cJSON *
s_error_item (int rc, const char *msg)
{
    cJSON *e = cJSON_CreateObject ();
    cJSON_AddNumberToObject (e, "code", rc);
    cJSON_AddStringToObject (e, "name", tpc_errname (rc));
    cJSON_AddStringToObject (e, "message",
                             msg && *msg ? msg : tpc_client_strerror (rc));
    return e;
}

/*  Say that WHAT failed with RC (message MSG, or the code's text): on
 *  stderr, and under --json as {"error":{...}} on stdout too.  The exit
 *  status for RC.                                                        */
static int
s_report_msg (const s_global_t *g, const char *what, int rc, const char *msg)
{
    fprintf (stderr, "tpcctl: %s: %s (%s)\n", what,
             msg && *msg ? msg : tpc_client_strerror (rc), tpc_errname (rc));
    if (g->json) {
        cJSON *doc = cJSON_CreateObject ();
        cJSON_AddItemToObject (doc, "error", s_error_item (rc, msg));
        s_print_json (doc);
    }
    return s_exit_for (rc);
}

static int
s_report (tpc_client_t *client, const s_global_t *g, const char *what, int rc)
{
    return s_report_msg (g, what, rc, tpc_client_errmsg (client));
}

static void
s_exec_free (s_exec_t *x)
{
    for (size_t i = 0; i < x->nstmts; i++)
        free (x->params[i]);
    free (x->params);
    free (x->stmts);
    memset (x, 0, sizeof *x);
}

/*  Parse the arguments of `exec` (or, BEGIN, of `begin`: options only)
 *  from ARGV[I] on.  0 or S_EXIT_USAGE.                                  */
static int
s_exec_parse (int argc, char **argv, int i, s_global_t *g, s_exec_t *x,
              bool begin)
{
    for (; i < argc; i++) {
        const char *a = argv[i];
        int grc = s_global_opt (argc, argv, &i, g);
        if (grc < 0)
            return S_EXIT_USAGE;
        if (grc > 0)
            continue;
        if (!begin && !strcmp (a, "--gid")) {
            if (i + 1 >= argc || tpc_gid_parse (argv[i + 1], NULL))
                return s_usage_error ("%s needs a gid "
                                      "(tpc_<coord>_<epoch>_<seq>)", a);
            x->gid = argv[++i];
        }
        else if (!begin && !strcmp (a, "--on")) {
            if (i + 2 >= argc || !*argv[i + 1])
                return s_usage_error ("%s needs a participant and SQL", a);
            tpc_client_stmt_t *s = realloc (x->stmts, (x->nstmts + 1)
                                                      * sizeof *s);
            if (s)
                x->stmts = s;
            const char ***p = realloc (x->params, (x->nstmts + 1)
                                                  * sizeof *p);
            if (p)
                x->params = p;
            if (!s || !p) {
                fprintf (stderr, "tpcctl: out of memory\n");
                return S_EXIT_FAILED;
            }
            x->stmts[x->nstmts] = (tpc_client_stmt_t) {
                .on = argv[i + 1], .sql = argv[i + 2]
            };
            x->params[x->nstmts++] = NULL;
            i += 2;
        }
        else if (!begin && (!strcmp (a, "--param") || !strcmp (a, "--null"))) {
            bool null = !strcmp (a, "--null");
            if (x->nstmts == 0)
                return s_usage_error ("%s must follow an --on P 'SQL'", a);
            if (!null && i + 1 >= argc)
                return s_usage_error ("%s needs a value", a);
            size_t k = x->nstmts - 1;
            tpc_client_stmt_t *s = &x->stmts[k];
            const char **p = realloc (x->params[k],
                                      (s->nparams + 1) * sizeof *p);
            if (!p) {
                fprintf (stderr, "tpcctl: out of memory\n");
                return S_EXIT_FAILED;
            }
            p[s->nparams++] = null ? NULL : argv[++i];
            x->params[k] = p;
            s->params = p;
        }
        else if (!strcmp (a, "--protocol")) {
            if (i + 1 >= argc || (strcmp (argv[i + 1], "2pc")
                                  && strcmp (argv[i + 1], "3pc")))
                return s_usage_error ("%s needs 2pc or 3pc", a);
            x->opts.protocol = argv[++i];
        }
        else if (!strcmp (a, "--txn-timeout-ms")) {
            uint64_t n;
            if (i + 1 >= argc
                || s_parse_uint (argv[i + 1], (1ULL << 53) - 1, &n))
                return s_usage_error ("%s needs a positive number", a);
            x->opts.timeout_ms = n;
            i++;
        }
        else
            return s_usage_error (begin ? "begin: unexpected argument '%s'"
                                        : "exec: unexpected argument '%s'", a);
    }
    if (begin)
        return 0;
    if (x->nstmts == 0)
        return s_usage_error ("%s needs at least one --on P 'SQL'", "exec");
    if (x->gid && (x->opts.protocol || x->opts.timeout_ms))
        return s_usage_error ("exec --gid: %s",
                              "--protocol and --txn-timeout-ms belong to "
                              "`begin`");
    return 0;
}

/*  Show RES, the result of statement STMT: as text (only a statement
 *  that returns columns prints anything) or, JSON non-NULL, appended to
 *  the array JSON.                                                       */
static void
s_show_result (const tpc_result_t *res, const tpc_client_stmt_t *stmt,
               cJSON *json)
{
    size_t ncols = tpc_result_ncolumns (res), nrows = tpc_result_nrows (res);
    if (json) {
        cJSON *o = cJSON_CreateObject ();
        cJSON_AddItemToArray (json, o);
        cJSON_AddStringToObject (o, "on", stmt->on);
        cJSON *cols = cJSON_AddArrayToObject (o, "columns");
        for (size_t c = 0; c < ncols; c++)
            cJSON_AddItemToArray (cols, cJSON_CreateString (
                                  tpc_result_column (res, c)));
        cJSON *rows = cJSON_AddArrayToObject (o, "rows");
        for (size_t r = 0; r < nrows; r++) {
            cJSON *row = cJSON_CreateArray ();
            cJSON_AddItemToArray (rows, row);
            for (size_t c = 0; c < ncols; c++)
                cJSON_AddItemToArray (row, tpc_result_is_null (res, r, c)
                    ? cJSON_CreateNull ()
                    : cJSON_CreateString (tpc_result_value (res, r, c)));
        }
        cJSON_AddNumberToObject (o, "affected",
                                 (double) tpc_result_affected (res));
        return;
    }
    if (ncols == 0)
        return;
    for (size_t c = 0; c < ncols; c++)
        printf ("%s%s", c ? "|" : "", tpc_result_column (res, c));
    printf ("\n");
    for (size_t r = 0; r < nrows; r++) {
        for (size_t c = 0; c < ncols; c++) {
            const char *v = tpc_result_value (res, r, c);
            printf ("%s%s", c ? "|" : "", v ? v : "");
        }
        printf ("\n");
    }
    printf ("(%zu row%s)\n", nrows, nrows == 1 ? "" : "s");
}

/*  Print the end of a transaction command (exec, commit, rollback) that
 *  returned RC with GID (may be empty), OUTCOME, REASON; RESULTS (JSON
 *  array or NULL, consumed) go into the JSON document; ERR (consumed) is
 *  the error item of a failure.  The exit status.                        */
static int
s_print_outcome (const s_global_t *g, const char *gid, int rc,
                 tpc_client_outcome_t outcome, const char *reason,
                 cJSON *results, cJSON *err)
{
    bool decided = rc == 0 || rc == TPC_EABORTED;
    const char *word = rc == TPC_EIN_DOUBT ? "in_doubt"
                       : decided ? tpc_client_outcome_name (outcome)
                                 : "error";
    if (g->json) {
        cJSON *doc = cJSON_CreateObject ();
        cJSON_AddStringToObject (doc, "outcome", word);
        if (*gid)
            cJSON_AddStringToObject (doc, "gid", gid);
        else
            cJSON_AddNullToObject (doc, "gid");
        if (outcome == TPC_CLIENT_ABORTED && decided)
            cJSON_AddStringToObject (doc, "reason", reason);
        if (results)
            cJSON_AddItemToObject (doc, "results", results);
        if (err)
            cJSON_AddItemToObject (doc, "error", err);
        int prc = s_print_json (doc);
        return prc ? prc : s_exit_for (rc);
    }
    cJSON_Delete (results);
    cJSON_Delete (err);
    if (rc == TPC_EIN_DOUBT && *gid)
        fprintf (stderr, "tpcctl: the outcome is in doubt: ask `tpcctl "
                 "status %s`\n", gid);
    if (decided || rc == TPC_EIN_DOUBT) {
        printf ("%s gid=%s", word, *gid ? gid : "?");
        if (decided && outcome == TPC_CLIENT_ABORTED)
            printf (" reason=%s", *reason ? reason : "(none given)");
        printf ("\n");
    }
    return s_exit_for (rc);
}

/*  `exec`: begin (unless --gid), run each statement, commit (unless
 *  --gid).  A failed statement rolls a transaction exec began back.      */
static int
s_cmd_exec (tpc_client_t *client, const s_global_t *g, const s_exec_t *x)
{
    char gid[TPC_CLIENT_GID_MAX] = "", reason[512] = "";
    tpc_client_outcome_t outcome = TPC_CLIENT_OUTCOME_UNKNOWN;
    cJSON *results = g->json ? cJSON_CreateArray () : NULL;
    cJSON *err = NULL;
    int rc = 0;
    if (x->gid)
        snprintf (gid, sizeof gid, "%s", x->gid);
    else
        rc = tpc_begin (client, &x->opts, gid);
    for (size_t i = 0; rc == 0 && i < x->nstmts; i++) {
        const tpc_client_stmt_t *st = &x->stmts[i];
        tpc_result_t *res = NULL;
        rc = tpc_exec (client, gid, st->on, st->sql, st->nparams, st->params,
                       &res);
        if (rc == 0)
            s_show_result (res, st, results);
        tpc_result_destroy (&res);
    }
    if (rc) {
        /* report first: the rollback replaces the client's message */
        fprintf (stderr, "tpcctl: exec: %s (%s)\n",
                 *tpc_client_errmsg (client) ? tpc_client_errmsg (client)
                 : tpc_client_strerror (rc), tpc_errname (rc));
        if (g->json)
            err = s_error_item (rc, tpc_client_errmsg (client));
        if (rc == TPC_EABORTED) {       /* the coordinator aborted it */
            outcome = TPC_CLIENT_ABORTED;
            snprintf (reason, sizeof reason, "%s", tpc_client_errmsg (client));
        }
        if (*gid && !x->gid)
            tpc_rollback (client, gid, NULL, NULL, 0);
        return s_print_outcome (g, gid, rc, outcome, reason, results, err);
    }
    if (x->gid) {
        if (!g->json) {
            printf ("open gid=%s\n", gid);
            return S_EXIT_OK;
        }
        cJSON *doc = cJSON_CreateObject ();
        cJSON_AddStringToObject (doc, "gid", gid);
        cJSON_AddStringToObject (doc, "outcome", "open");
        cJSON_AddItemToObject (doc, "results", results);
        return s_print_json (doc);
    }
    rc = tpc_commit (client, gid, &outcome, reason, sizeof reason);
    if (rc && rc != TPC_EABORTED) {
        fprintf (stderr, "tpcctl: exec: %s (%s)\n",
                 *tpc_client_errmsg (client) ? tpc_client_errmsg (client)
                 : tpc_client_strerror (rc), tpc_errname (rc));
        if (g->json)
            err = s_error_item (rc, tpc_client_errmsg (client));
    }
    return s_print_outcome (g, gid, rc, outcome, reason, results, err);
}

/*  `begin`: print the new gid.                                           */
static int
s_cmd_begin (tpc_client_t *client, const s_global_t *g, const s_exec_t *x)
{
    char gid[TPC_CLIENT_GID_MAX] = "";
    int rc = tpc_begin (client, &x->opts, gid);
    if (rc)
        return s_report (client, g, "begin", rc);
    if (!g->json) {
        printf ("%s\n", gid);
        return S_EXIT_OK;
    }
    cJSON *doc = cJSON_CreateObject ();
    cJSON_AddStringToObject (doc, "gid", gid);
    return s_print_json (doc);
}

/*  `commit GID` and (ROLLBACK) `rollback GID`.                           */
static int
s_cmd_end (tpc_client_t *client, const s_global_t *g, const char *gid,
           bool rollback)
{
    char reason[512] = "";
    tpc_client_outcome_t outcome = TPC_CLIENT_OUTCOME_UNKNOWN;
    int rc = rollback ? tpc_rollback (client, gid, &outcome, reason,
                                      sizeof reason)
                      : tpc_commit (client, gid, &outcome, reason,
                                    sizeof reason);
    cJSON *err = NULL;
    if (rc && rc != TPC_EABORTED) {
        const char *msg = tpc_client_errmsg (client);
        fprintf (stderr, "tpcctl: %s: %s (%s)\n",
                 rollback ? "rollback" : "commit",
                 *msg ? msg : tpc_client_strerror (rc), tpc_errname (rc));
        if (g->json)
            err = s_error_item (rc, msg);
    }
    return s_print_outcome (g, gid, rc, outcome, reason, NULL, err);
}

static int
s_cmd_status (tpc_client_t *client, const s_global_t *g, const char *gid,
              bool show)
{
    char state[128] = "";
    tpc_client_outcome_t outcome;
    tpc_txlist_t *list = NULL;
    int rc = tpc_status (client, gid, &outcome, state, sizeof state);
    if (rc)
        return s_report (client, g, show ? "show" : "status", rc);
    /* how the coordinator knows (a gid it has no record of is checked
     * with the participants' markers), or why it aborts */
    char why[512];
    snprintf (why, sizeof why, "%s", tpc_status_reason (client));
    size_t at = SIZE_MAX;       /* gid's entry in the list, if any */
    if (show) {
        rc = tpc_list (client, &list);
        if (rc)
            return s_report (client, g, "show", rc);
        for (size_t i = 0; i < tpc_txlist_size (list); i++)
            if (!strcmp (tpc_txlist_gid (list, i), gid))
                at = i;
    }
    int exit_code = S_EXIT_OK;
    if (g->json) {
        cJSON *doc = cJSON_CreateObject ();
        cJSON_AddStringToObject (doc, "gid", gid);
        cJSON_AddStringToObject (doc, "outcome",
                                 tpc_client_outcome_name (outcome));
        cJSON_AddStringToObject (doc, "state", state);
        if (*why)
            cJSON_AddStringToObject (doc, "reason", why);
        if (show) {
            /* the coordinator keeps age and participants only while a
             * transaction is in flight: null once it has ended          */
            cJSON_AddBoolToObject (doc, "in_flight", at != SIZE_MAX);
            cJSON_AddBoolToObject (doc, "heuristic",
                                   !strcmp (state, "heuristic"));
            if (at != SIZE_MAX) {
                cJSON_AddNumberToObject (doc, "age_ms",
                                         (double) tpc_txlist_age_ms (list, at));
                cJSON *parts = cJSON_AddArrayToObject (doc, "participants");
                for (size_t j = 0; j < tpc_txlist_nparts (list, at); j++)
                    cJSON_AddItemToArray (parts, cJSON_CreateString (
                                          tpc_txlist_part (list, at, j)));
                cJSON *waits = cJSON_AddArrayToObject (doc, "waiting_for");
                for (size_t j = 0; j < tpc_txlist_nwaiting (list, at); j++)
                    cJSON_AddItemToArray (waits, cJSON_CreateString (
                                          tpc_txlist_waiting (list, at, j)));
            }
            else {
                cJSON_AddNullToObject (doc, "age_ms");
                cJSON_AddNullToObject (doc, "participants");
            }
        }
        exit_code = s_print_json (doc);
    }
    else if (!show)
        printf ("gid=%s outcome=%s state=%s%s%s\n", gid,
                tpc_client_outcome_name (outcome), state,
                *why ? " reason=" : "", why);
    else {
        printf ("gid:          %s\n", gid);
        printf ("outcome:      %s\n", tpc_client_outcome_name (outcome));
        printf ("state:        %s\n", state);
        if (*why)
            printf ("reason:       %s\n", why);
        if (!strcmp (state, "heuristic"))
            printf ("heuristic:    yes: resolved by an operator (`tpcctl "
                    "log dump` shows the HEURISTIC record)\n");
        printf ("in flight:    %s\n", at != SIZE_MAX ? "yes" : "no");
        if (at != SIZE_MAX) {
            printf ("age:          %" PRIu64 " ms\n",
                    tpc_txlist_age_ms (list, at));
            printf ("participants:");
            for (size_t j = 0; j < tpc_txlist_nparts (list, at); j++)
                printf (" %s", tpc_txlist_part (list, at, j));
            printf ("\nwaiting for: ");
            for (size_t j = 0; j < tpc_txlist_nwaiting (list, at); j++)
                printf (" %s", tpc_txlist_waiting (list, at, j));
            printf ("%s\n", tpc_txlist_nwaiting (list, at) ? "" : " -");
        }
        else
            printf ("participants: (not known: the coordinator keeps them "
                    "only while a transaction is in flight; `tpcctl log "
                    "dump` shows its decision record)\n");
    }
    tpc_txlist_destroy (&list);
    return exit_code;
}

static int
s_cmd_list (tpc_client_t *client, const s_global_t *g)
{
    tpc_txlist_t *list = NULL;
    int rc = tpc_list (client, &list);
    if (rc)
        return s_report (client, g, "list", rc);
    size_t n = tpc_txlist_size (list);
    int exit_code = S_EXIT_OK;
    if (g->json) {
        cJSON *doc = cJSON_CreateObject ();
        cJSON *txns = cJSON_AddArrayToObject (doc, "txns");
        for (size_t i = 0; i < n; i++) {
            cJSON *t = cJSON_CreateObject ();
            cJSON_AddItemToArray (txns, t);
            cJSON_AddStringToObject (t, "gid", tpc_txlist_gid (list, i));
            cJSON_AddStringToObject (t, "state", tpc_txlist_state (list, i));
            cJSON_AddNumberToObject (t, "age_ms",
                                     (double) tpc_txlist_age_ms (list, i));
            cJSON *parts = cJSON_AddArrayToObject (t, "participants");
            for (size_t j = 0; j < tpc_txlist_nparts (list, i); j++)
                cJSON_AddItemToArray (parts, cJSON_CreateString (
                                      tpc_txlist_part (list, i, j)));
        }
        exit_code = s_print_json (doc);
    }
    else if (n == 0)
        printf ("no transactions in flight\n");
    else {
        printf ("%-40s %-14s %10s  %s\n", "GID", "STATE", "AGE_MS",
                "PARTICIPANTS");
        for (size_t i = 0; i < n; i++) {
            printf ("%-40s %-14s %10" PRIu64 " ", tpc_txlist_gid (list, i),
                    tpc_txlist_state (list, i), tpc_txlist_age_ms (list, i));
            for (size_t j = 0; j < tpc_txlist_nparts (list, i); j++)
                printf ("%s%s", j ? "," : " ", tpc_txlist_part (list, i, j));
            printf ("\n");
        }
    }
    tpc_txlist_destroy (&list);
    return exit_code;
}

/*  FLAG's value, else the environment variable ENV's (NULL if empty).    */
static const char *
s_setting (const char *flag, const char *env)
{
    const char *v = flag ? flag : getenv (env);
    return v && *v ? v : NULL;
}

/*  Both key files or neither, and both readable certificates: otherwise
 *  say precisely what is wrong in ERR (SIZE bytes).  0 or -1.            */
static int
s_check_keys (const tpc_client_opts_t *o, char *err, size_t size)
{
    if (!o->curve_secret_file && !o->curve_server_file)
        return 0;
    if (!o->curve_secret_file || !o->curve_server_file) {
        snprintf (err, size, "CURVE needs both --curve-secret FILE "
                  "($TPC_CURVE_SECRET) and --coordinator-public FILE "
                  "($TPC_COORDINATOR_PUBLIC)");
        return -1;
    }
    tpc_curve_cert_t cert;
    if (tpc_curve_cert_load (o->curve_secret_file, true, &cert, err, size)
        || tpc_curve_cert_load (o->curve_server_file, false, &cert, err,
                                size))
        return -1;
    return 0;
}

/*  `tpcctl keygen NAME DIR`.                                             */
static int
s_cmd_keygen (int argc, char **argv, int i)
{
    if (argc - i != 2)
        return s_usage_error ("%s needs NAME and DIR", "keygen");
    char pub[TPC_CURVE_KEY_Z85], err[512];
    int rc = tpc_curve_keygen (argv[i + 1], argv[i], pub, err, sizeof err);
    if (rc) {
        fprintf (stderr, "tpcctl: keygen: %s\n", err);
        return rc == TPC_EINVAL ? S_EXIT_USAGE : S_EXIT_FAILED;
    }
    printf ("public %s/%s.key\nsecret %s/%s.key_secret\npublic-key %s\n",
            argv[i + 1], argv[i], argv[i + 1], argv[i], pub);
    return S_EXIT_OK;
}

static int
s_cmd_summary (tpc_client_t *client, const s_global_t *g)
{
    tpc_summary_t s;
    int rc = tpc_summary (client, &s);
    if (rc)
        return s_report (client, g, "status", rc);
    int exit_code = S_EXIT_OK;
    if (g->json) {
        cJSON *doc = cJSON_CreateObject ();
        cJSON_AddNumberToObject (doc, "in_flight", (double) s.in_flight);
        cJSON_AddNumberToObject (doc, "in_doubt", (double) s.in_doubt);
        cJSON_AddNumberToObject (doc, "committed", (double) s.committed);
        cJSON_AddNumberToObject (doc, "aborted", (double) s.aborted);
        cJSON_AddNumberToObject (doc, "heuristic", (double) s.heuristic);
        cJSON_AddNumberToObject (doc, "oldest_in_doubt_ms",
                                 (double) s.oldest_in_doubt_ms);
        cJSON *a = cJSON_AddArrayToObject (doc, "agents");
        for (size_t i = 0; i < s.nagents; i++)
            cJSON_AddItemToArray (a, cJSON_CreateString (s.agents[i]));
        exit_code = s_print_json (doc);
    }
    else {
        printf ("in_flight=%" PRIu64 " in_doubt=%" PRIu64 " committed=%"
                PRIu64 " aborted=%" PRIu64 " heuristic=%" PRIu64
                " oldest_in_doubt_ms=%" PRIu64 " agents=%zu",
                s.in_flight, s.in_doubt, s.committed, s.aborted, s.heuristic,
                s.oldest_in_doubt_ms, s.nagents);
        for (size_t i = 0; i < s.nagents; i++)
            printf ("%s%s", i ? "," : " ", s.agents[i]);
        printf ("\n");
    }
    /* a monitoring script tells "in doubt" by the exit status            */
    if (exit_code == S_EXIT_OK && s.in_doubt > 0)
        exit_code = S_EXIT_IN_DOUBT;
    tpc_summary_clear (&s);
    return exit_code;
}

static int
s_cmd_resolve (tpc_client_t *client, const s_global_t *g, const char *gid,
               tpc_client_outcome_t outcome, const char *reason)
{
    int rc = tpc_resolve (client, gid, outcome, reason);
    if (rc)
        return s_report (client, g, "resolve", rc);
    const char *word = tpc_client_outcome_name (outcome);
    if (g->json) {
        cJSON *doc = cJSON_CreateObject ();
        cJSON_AddStringToObject (doc, "gid", gid);
        cJSON_AddStringToObject (doc, "outcome", word);
        cJSON_AddBoolToObject (doc, "heuristic", true);
        return s_print_json (doc);
    }
    printf ("resolved gid=%s outcome=%s heuristic=yes\n", gid, word);
    return S_EXIT_OK;
}

/*  Connect to the coordinator named by G.  NULL after printing why.      */
static tpc_client_t *
s_connect (const s_global_t *g, int *exit_code)
{
    const char *ep = g->coordinator;
    if (!ep) {
        ep = getenv ("TPC_COORDINATOR");
        if (!ep || !*ep)
            ep = TPC_CLIENT_ENDPOINT_DEFAULT;
    }
    tpc_client_opts_t opts = { .timeout_ms = g->timeout_ms,
                               .connect_timeout_ms = g->connect_timeout_ms };
    opts.curve_secret_file = s_setting (g->curve_secret, "TPC_CURVE_SECRET");
    opts.curve_server_file = s_setting (g->coordinator_public,
                                        "TPC_COORDINATOR_PUBLIC");
    char msg[1200];
    if (s_check_keys (&opts, msg, sizeof msg)) {
        s_report_msg (g, "keys", TPC_EINVAL, msg);
        *exit_code = S_EXIT_USAGE;
        return NULL;
    }
    tpc_client_t *client = tpc_client_new (ep, &opts);
    if (!client) {
        bool bad = errno == EINVAL;
        snprintf (msg, sizeof msg, "%s coordinator endpoint '%s'",
                  bad ? "invalid" : "cannot open a socket to", ep);
        s_report_msg (g, "connect", bad ? TPC_EINVAL : TPC_ECONNECT, msg);
        *exit_code = bad ? S_EXIT_USAGE : S_EXIT_UNREACHABLE;
    }
    return client;
}

/*  cluster: ask every member of the --coordinator list for its view of
 *  the HA group, one line each:
 *    member EP role=leader|follower|single id=M leader=EP epoch=E
 *      lease_ttl_ms=T lease_left_ms=L revision=R     (or: unreachable: ...)
 *  then `cluster leader=EP members=N answered=A`.  Exit 0 when a leader
 *  answered, S_EXIT_UNREACHABLE when none did.                          */
static int
s_cmd_cluster (const s_global_t *g)
{
    const char *eps = g->coordinator;
    if (!eps || !*eps)
        eps = getenv ("TPC_COORDINATOR");
    if (!eps || !*eps)
        eps = TPC_CLIENT_ENDPOINT_DEFAULT;
    char *copy = strdup (eps), *save = NULL, leader[256] = "";
    if (!copy) {
        fprintf (stderr, "tpcctl: out of memory\n");
        return S_EXIT_FAILED;
    }
    int members = 0, answered = 0;
    for (char *ep = strtok_r (copy, ",", &save); ep;
         ep = strtok_r (NULL, ",", &save)) {
        members++;
        s_global_t one = *g;
        one.coordinator = ep;
        int code = S_EXIT_OK;
        tpc_client_t *c = s_connect (&one, &code);
        tpc_cluster_t v;
        int rc = c ? tpc_cluster (c, &v) : TPC_ECONNECT;
        if (rc)
            printf ("member %s unreachable: %s\n", ep,
                    c ? tpc_client_errmsg (c) : "no socket");
        else {
            answered++;
            if (!strcmp (v.role, "leader") || !strcmp (v.role, "single"))
                snprintf (leader, sizeof leader, "%s", ep);
            printf ("member %s role=%s id=%s leader=%s epoch=%" PRIu64
                    " lease_ttl_ms=%" PRIu64 " lease_left_ms=%" PRIu64
                    " revision=%" PRIu64 "\n", ep, v.role, v.member,
                    v.leader, v.epoch, v.lease_ttl_ms, v.lease_left_ms,
                    v.revision);
        }
        tpc_client_destroy (&c);
    }
    free (copy);
    printf ("cluster leader=%s members=%d answered=%d\n",
            *leader ? leader : "none", members, answered);
    return *leader ? S_EXIT_OK : S_EXIT_UNREACHABLE;
}

/*  The arguments of status, show, list and resolve.                      */
typedef struct {
    const char *gid;            /* NULL = none given */
    const char *reason;         /* resolve --reason */
    tpc_client_outcome_t outcome;   /* resolve's commit or abort */
    bool force;                 /* resolve --force */
} s_txn_args_t;

/*  Parse the arguments of transaction command CMD from ARGV[I]: a gid
 *  (status, show, resolve) or nothing (list, status), plus resolve's
 *  outcome and options; global options may be mixed in.  S_EXIT_OK or
 *  S_EXIT_USAGE (printed).                                               */
static int
s_txn_args_parse (int argc, char **argv, int i, const char *cmd,
                  s_global_t *g, s_txn_args_t *a)
{
    bool resolve = !strcmp (cmd, "resolve");
    bool wants_gid = strcmp (cmd, "list") != 0 && strcmp (cmd, "begin") != 0;
    for (; i < argc; i++) {
        int grc = s_global_opt (argc, argv, &i, g);
        if (grc < 0)
            return S_EXIT_USAGE;
        if (grc > 0)
            continue;
        if (resolve && !strcmp (argv[i], "--force")) {
            a->force = true;
            continue;
        }
        if (resolve && !strcmp (argv[i], "--reason") && i + 1 < argc) {
            a->reason = argv[++i];
            continue;
        }
        if (resolve && a->gid && a->outcome == TPC_CLIENT_OUTCOME_UNKNOWN
            && (!strcmp (argv[i], "commit") || !strcmp (argv[i], "abort"))) {
            a->outcome = argv[i][0] == 'c' ? TPC_CLIENT_COMMITTED
                                           : TPC_CLIENT_ABORTED;
            continue;
        }
        if (!wants_gid || a->gid || argv[i][0] == '-')
            return s_usage_error ("unexpected argument '%s'", argv[i]);
        if (tpc_gid_parse (argv[i], NULL))
            return s_usage_error ("'%s' is not a gid "
                                  "(tpc_<coord>_<epoch>_<seq>)", argv[i]);
        a->gid = argv[i];
    }
    if (wants_gid && !a->gid && strcmp (cmd, "status"))
        return s_usage_error ("%s needs a GID", cmd);
    if (resolve && a->outcome == TPC_CLIENT_OUTCOME_UNKNOWN)
        return s_usage_error ("%s needs GID and commit or abort", "resolve");
    if (resolve && !a->force)
        return s_usage_error ("%s decides a transaction by hand "
                              "(a heuristic decision that may "
                              "contradict what participants did): "
                              "add --force to confirm", "resolve");
    return S_EXIT_OK;
}

/*  Is CMD one of the transaction commands that talk to the coordinator?  */
static bool
s_is_txn_cmd (const char *cmd)
{
    return !strcmp (cmd, "exec") || !strcmp (cmd, "status")
        || !strcmp (cmd, "show") || !strcmp (cmd, "list")
        || !strcmp (cmd, "resolve") || !strcmp (cmd, "begin")
        || !strcmp (cmd, "commit") || !strcmp (cmd, "rollback");
}

/*  Connect and run transaction command CMD, its arguments parsed into X
 *  (exec) or A (the others).  The exit status.                           */
static int
s_run_txn_cmd (const char *cmd, const s_global_t *g, const s_exec_t *x,
               const s_txn_args_t *a)
{
    int exit_code = S_EXIT_OK;
    tpc_client_t *client = s_connect (g, &exit_code);
    if (!client)
        return exit_code;
    if (!strcmp (cmd, "exec"))
        exit_code = s_cmd_exec (client, g, x);
    else if (!strcmp (cmd, "begin"))
        exit_code = s_cmd_begin (client, g, x);
    else if (!strcmp (cmd, "commit") || !strcmp (cmd, "rollback"))
        exit_code = s_cmd_end (client, g, a->gid, cmd[0] == 'r');
    else if (!strcmp (cmd, "list"))
        exit_code = s_cmd_list (client, g);
    else if (!strcmp (cmd, "resolve"))
        exit_code = s_cmd_resolve (client, g, a->gid, a->outcome, a->reason);
    else if (!a->gid)
        exit_code = s_cmd_summary (client, g);
    else
        exit_code = s_cmd_status (client, g, a->gid, !strcmp (cmd, "show"));
    tpc_client_destroy (&client);
    return exit_code;
}

int
main (int argc, char **argv)
{
    s_global_t g = { NULL, 0, 0, false, NULL, NULL };
    s_exec_t x = { NULL, 0, NULL, { 0, NULL }, NULL };
    s_txn_args_t a = { NULL, NULL, TPC_CLIENT_OUTCOME_UNKNOWN, false };
    int exit_code = S_EXIT_OK;
    int i = 1;
    for (; i < argc; i++) {
        int grc = s_global_opt (argc, argv, &i, &g);
        if (grc < 0)
            return S_EXIT_USAGE;
        if (grc == 0)
            break;
    }
    if (i >= argc) {
        s_usage (stderr);
        return S_EXIT_USAGE;
    }
    const char *cmd = argv[i++];
    if (!strcmp (cmd, "help") || !strcmp (cmd, "--help")
        || !strcmp (cmd, "-h")) {
        s_usage (stdout);
        return S_EXIT_OK;
    }
    if (!strcmp (cmd, "--version") || !strcmp (cmd, "version")) {
        printf ("tpcctl (tpc) %s\n", TPC_VERSION);
        return S_EXIT_OK;
    }
    /* Command families with their own module dispatch here, handing on
     * argv from the command word (and a global --json at its end).       */
    if (!strcmp (cmd, "log")) {
        if (!g.json)
            return tpcctl_log_main (argc - i + 1, argv + i - 1);
        char **largv = calloc ((size_t) (argc - i + 3), sizeof *largv);
        if (!largv) {
            fprintf (stderr, "tpcctl: out of memory\n");
            return S_EXIT_FAILED;
        }
        int largc = 0;
        for (int k = i - 1; k < argc; k++)
            largv[largc++] = argv[k];
        largv[largc++] = (char *) "--json";
        exit_code = tpcctl_log_main (largc, largv);
        free (largv);
        return exit_code;
    }
    if (!strcmp (cmd, "keygen"))
        return s_cmd_keygen (argc, argv, i);
    if (!strcmp (cmd, "cluster")) {
        for (; i < argc; i++)
            if (s_global_opt (argc, argv, &i, &g) <= 0) {
                fprintf (stderr, "tpcctl: cluster takes no argument "
                         "'%s'\n", argv[i]);
                return S_EXIT_USAGE;
            }
        return s_cmd_cluster (&g);
    }
    if (!s_is_txn_cmd (cmd)) {
        fprintf (stderr, "tpcctl: unknown command '%s'\n", cmd);
        s_usage (stderr);
        return S_EXIT_USAGE;
    }
    if (!strcmp (cmd, "exec") || !strcmp (cmd, "begin"))
        exit_code = s_exec_parse (argc, argv, i, &g, &x,
                                  !strcmp (cmd, "begin"));
    else
        exit_code = s_txn_args_parse (argc, argv, i, cmd, &g, &a);
    if (exit_code == S_EXIT_OK)
        exit_code = s_run_txn_cmd (cmd, &g, &x, &a);
    s_exec_free (&x);
    return exit_code;
}
