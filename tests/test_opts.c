/*  test_opts: the daemons' option table (common/tpc_opts.h): flags,
 *  the --config JSON file (flags win), deprecated spellings read with a
 *  warning, unknown options and keys, bad values, --help and usage.      */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tpc_error.h"
#include "tpc_opts.h"
#include "tpc_test.h"

typedef struct {
    const char *name, *log_dir;
    uint64_t pool, heartbeat_ms;
    bool verbose, plain;
    tpc_opt_t table[8];
    tpc_opts_t *opts;
    char err[512];
    char *msgs;                 /* warnings printed */
    size_t msgs_len;
} s_fx_t;

static void
s_fx_init (s_fx_t *fx)
{
    memset (fx, 0, sizeof *fx);
    const tpc_opt_t table[] = {
        { "name", 0, TPC_OPT_STR, &fx->name, "NAME", "its name", 0, 0, NULL },
        { "log-dir", 0, TPC_OPT_STR, &fx->log_dir, "DIR", "a directory",
          0, 0, NULL },
        { "pool", 0, TPC_OPT_UINT, &fx->pool, "N", "connections\nsecond line",
          1, 250, NULL },
        { "heartbeat-ms", 0, TPC_OPT_UINT, &fx->heartbeat_ms, "MS", "hello",
          0, 0, "heartbeat" },
        { "verbose", 'v', TPC_OPT_FLAG, &fx->verbose, NULL, "say more",
          0, 0, NULL },
        { "insecure-plaintext", 0, TPC_OPT_FLAG, &fx->plain, NULL, "tests",
          0, 0, NULL },
        { NULL, 0, 0, NULL, NULL, NULL, 0, 0, NULL }
    };
    memcpy (fx->table, table, sizeof table);
    fx->opts = tpc_opts_new ("prog", fx->table);
    CU_ASSERT_PTR_NOT_NULL_FATAL (fx->opts);
}

/*  Parse the NULL-terminated ARGS (after a program name).                */
static int
s_parse (s_fx_t *fx, const char *const *args)
{
    char *argv[32];
    int argc = 0;
    argv[argc++] = "prog";
    while (*args && argc < 31)
        argv[argc++] = (char *) *args++;
    argv[argc] = NULL;
    free (fx->msgs);
    fx->msgs = NULL;
    FILE *m = open_memstream (&fx->msgs, &fx->msgs_len);
    fx->err[0] = '\0';
    int rc = tpc_opts_parse (fx->opts, argc, argv, m, fx->err,
                             sizeof fx->err);
    fclose (m);
    return rc;
}

static void
s_fx_done (s_fx_t *fx)
{
    tpc_opts_destroy (&fx->opts);
    CU_ASSERT_PTR_NULL (fx->opts);
    tpc_opts_destroy (&fx->opts);
    free (fx->msgs);
}

static char *
s_config (const char *text)
{
    char *dir = tpc_test_tmpdir ("opts");
    char *path = malloc (strlen (dir) + 16);
    sprintf (path, "%s/c.json", dir);
    free (dir);
    FILE *f = fopen (path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL (f);
    fputs (text, f);
    fclose (f);
    return path;
}

static void
s_config_done (char *path)
{
    char *slash = strrchr (path, '/');
    *slash = '\0';
    tpc_test_rmtree (path);
    free (path);
}

static void
test_flags (void)
{
    s_fx_t fx;
    s_fx_init (&fx);
    const char *args[] = { "--name", "db1", "--log-dir=/x", "--pool", "8",
                           "-v", "--heartbeat-ms=0", NULL };
    CU_ASSERT_EQUAL (s_parse (&fx, args), 0);
    CU_ASSERT_STRING_EQUAL (fx.name, "db1");
    CU_ASSERT_STRING_EQUAL (fx.log_dir, "/x");
    CU_ASSERT_EQUAL (fx.pool, 8);
    CU_ASSERT_EQUAL (fx.heartbeat_ms, 0);
    CU_ASSERT (fx.verbose);
    CU_ASSERT (!fx.plain);
    CU_ASSERT (tpc_opts_given (fx.opts, "heartbeat-ms"));
    CU_ASSERT (!tpc_opts_given (fx.opts, "insecure-plaintext"));
    CU_ASSERT (!tpc_opts_help (fx.opts));
    CU_ASSERT_EQUAL (fx.msgs_len, 0);
    /* the last flag wins */
    const char *again[] = { "--name", "db2", "--insecure-plaintext", NULL };
    CU_ASSERT_EQUAL (s_parse (&fx, again), 0);
    CU_ASSERT_STRING_EQUAL (fx.name, "db2");
    CU_ASSERT (fx.plain);
    s_fx_done (&fx);
}

static void
test_help_and_usage (void)
{
    s_fx_t fx;
    s_fx_init (&fx);
    const char *args[] = { "--name", "a", "-h", "--frobnicate", NULL };
    CU_ASSERT_EQUAL (s_parse (&fx, args), 0);
    CU_ASSERT (tpc_opts_help (fx.opts));
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream (&text, &len);
    tpc_opts_usage (fx.opts, f, "prog --name NAME");
    fclose (f);
    CU_ASSERT (strstr (text, "usage: prog --name NAME\n") != NULL);
    CU_ASSERT (strstr (text, "--pool N") != NULL);
    CU_ASSERT (strstr (text, "second line") != NULL);
    CU_ASSERT (strstr (text, "-v, --verbose") != NULL);
    CU_ASSERT (strstr (text, "--config FILE.json") != NULL);
    CU_ASSERT (strstr (text, "-h, --help") != NULL);
    free (text);
    s_fx_done (&fx);
}

static void
test_config_file (void)
{
    s_fx_t fx;
    s_fx_init (&fx);
    char *path = s_config ("{\"name\": \"file\", \"log-dir\": \"/f\", "
                           "\"pool\": 16, \"verbose\": true, "
                           "\"insecure-plaintext\": false}");
    /* flags win, wherever --config stands */
    const char *args[] = { "--name", "flag", "--config", path, "--pool", "4",
                           NULL };
    CU_ASSERT_EQUAL (s_parse (&fx, args), 0);
    CU_ASSERT_STRING_EQUAL (fx.name, "flag");
    CU_ASSERT_STRING_EQUAL (fx.log_dir, "/f");
    CU_ASSERT_EQUAL (fx.pool, 4);
    CU_ASSERT (fx.verbose);
    CU_ASSERT (!fx.plain);
    CU_ASSERT (tpc_opts_given (fx.opts, "log-dir"));
    CU_ASSERT (!tpc_opts_given (fx.opts, "heartbeat-ms"));
    CU_ASSERT_EQUAL (fx.msgs_len, 0);
    s_fx_done (&fx);
    s_config_done (path);
}

static void
test_old_keys_warn (void)
{
    s_fx_t fx;
    s_fx_init (&fx);
    char *path = s_config ("{\"log_dir\": \"/old\", \"heartbeat\": 250}");
    char cfg[600];
    snprintf (cfg, sizeof cfg, "--config=%s", path);
    const char *args[] = { cfg, NULL };
    CU_ASSERT_EQUAL (s_parse (&fx, args), 0);
    CU_ASSERT_STRING_EQUAL (fx.log_dir, "/old");
    CU_ASSERT_EQUAL (fx.heartbeat_ms, 250);
    CU_ASSERT_PTR_NOT_NULL_FATAL (fx.msgs);
    CU_ASSERT (strstr (fx.msgs, "key \"log_dir\" is deprecated, use "
                       "\"log-dir\"") != NULL);
    CU_ASSERT (strstr (fx.msgs, "key \"heartbeat\" is deprecated, use "
                       "\"heartbeat-ms\"") != NULL);
    s_fx_done (&fx);
    s_config_done (path);
    /* a renamed flag too */
    s_fx_init (&fx);
    const char *flag[] = { "--heartbeat", "300", NULL };
    CU_ASSERT_EQUAL (s_parse (&fx, flag), 0);
    CU_ASSERT_EQUAL (fx.heartbeat_ms, 300);
    CU_ASSERT (strstr (fx.msgs, "option --heartbeat is deprecated, use "
                       "--heartbeat-ms") != NULL);
    /* but a snake_case flag is no flag */
    const char *snake[] = { "--log_dir", "/x", NULL };
    CU_ASSERT_EQUAL (s_parse (&fx, snake), TPC_EINVAL);
    s_fx_done (&fx);
}

static void
test_unknown (void)
{
    s_fx_t fx;
    s_fx_init (&fx);
    const char *flag[] = { "--frobnicate", NULL };
    CU_ASSERT_EQUAL (s_parse (&fx, flag), TPC_EINVAL);
    CU_ASSERT (strstr (fx.err, "unknown option '--frobnicate'") != NULL);
    const char *stray[] = { "stray", NULL };
    CU_ASSERT_EQUAL (s_parse (&fx, stray), TPC_EINVAL);
    CU_ASSERT (strstr (fx.err, "unexpected argument 'stray'") != NULL);
    const char *letter[] = { "-q", NULL };
    CU_ASSERT_EQUAL (s_parse (&fx, letter), TPC_EINVAL);
    char *path = s_config ("{\"name\": \"x\", \"no-such-key\": 1}");
    const char *args[] = { "--config", path, NULL };
    CU_ASSERT_EQUAL (s_parse (&fx, args), TPC_ECONFIG);
    CU_ASSERT (strstr (fx.err, "unknown key \"no-such-key\"") != NULL);
    s_config_done (path);
    /* --config inside the file, a missing file, not an object */
    path = s_config ("{\"config\": \"other.json\"}");
    const char *nested[] = { "--config", path, NULL };
    CU_ASSERT_EQUAL (s_parse (&fx, nested), TPC_ECONFIG);
    CU_ASSERT (strstr (fx.err, "unknown key \"config\"") != NULL);
    s_config_done (path);
    const char *missing[] = { "--config", "/nonexistent/c.json", NULL };
    CU_ASSERT_EQUAL (s_parse (&fx, missing), TPC_ECONFIG);
    CU_ASSERT (strstr (fx.err, "cannot open config") != NULL);
    path = s_config ("[1, 2]");
    const char *array[] = { "--config", path, NULL };
    CU_ASSERT_EQUAL (s_parse (&fx, array), TPC_ECONFIG);
    CU_ASSERT (strstr (fx.err, "not a JSON object") != NULL);
    s_config_done (path);
    s_fx_done (&fx);
}

static void
test_bad_values (void)
{
    s_fx_t fx;
    s_fx_init (&fx);
    const char *cases[][3] = {
        { "--pool", "abc", "--pool: 'abc' is not an integer from 1 to 250" },
        { "--pool", "0", "from 1 to 250" },
        { "--pool", "251", "from 1 to 250" },
        { "--pool", "-1", "from 1 to 250" },
        { "--pool", "", "from 1 to 250" },
        { "--heartbeat-ms", "99999999999999999999", "non-negative integer" },
        { "--verbose=yes", NULL, "--verbose takes no value" },
        { "--name", NULL, "--name needs a value" },
        { "--config", NULL, "--config needs a value" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *args[] = { cases[i][0], cases[i][1], NULL };
        CU_ASSERT_EQUAL (s_parse (&fx, args), TPC_EINVAL);
        if (!strstr (fx.err, cases[i][2]))
            fprintf (stderr, "case %zu: error '%s'\n", i, fx.err);
        CU_ASSERT (strstr (fx.err, cases[i][2]) != NULL);
    }
    const char *files[][2] = {
        { "{\"pool\": 1.5}", "\"pool\" must be an integer from 1 to 250" },
        { "{\"pool\": \"8\"}", "\"pool\" must be an integer" },
        { "{\"pool\": 300}", "\"pool\" must be an integer from 1 to 250" },
        { "{\"heartbeat-ms\": -1}", "must be a non-negative integer" },
        { "{\"name\": 7}", "\"name\" must be a string" },
        { "{\"verbose\": 1}", "\"verbose\" must be true or false" },
        { "{\"name\": ", ":1:10: not valid JSON" },
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char *path = s_config (files[i][0]);
        const char *args[] = { "--config", path, NULL };
        CU_ASSERT_EQUAL (s_parse (&fx, args), TPC_ECONFIG);
        if (!strstr (fx.err, files[i][1]))
            fprintf (stderr, "file %zu: error '%s'\n", i, fx.err);
        CU_ASSERT (strstr (fx.err, files[i][1]) != NULL);
        s_config_done (path);
    }
    s_fx_done (&fx);
}

/*  Config errors say where: FILE:LINE:COL for JSON that does not parse,
 *  FILE:LINE (the key's line) for a bad key or value.                    */
static void
test_config_positions (void)
{
    s_fx_t fx;
    s_fx_init (&fx);
    const char *files[][2] = {
        { "{\n  \"name\": \"x\",\n  \"pool\": 300\n}\n",
          "c.json:3: \"pool\" must be an integer from 1 to 250" },
        { "{\n  \"name\": \"x\",\n\n  \"frob\": 1\n}\n",
          "c.json:4: unknown key \"frob\"" },
        { "{\n  \"name\": \"x\"\n  \"pool\": 3\n}\n",
          "c.json:3:3: not valid JSON (near '\"pool\": 3" },
        { "{\"verbose\": yes}", "c.json:1:13: not valid JSON (near 'yes}')" },
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char *path = s_config (files[i][0]);
        const char *args[] = { "--config", path, NULL };
        CU_ASSERT_EQUAL (s_parse (&fx, args), TPC_ECONFIG);
        if (!strstr (fx.err, files[i][1]))
            fprintf (stderr, "positions %zu: error '%s'\n", i, fx.err);
        CU_ASSERT (strstr (fx.err, files[i][1]) != NULL);
        s_config_done (path);
    }
    s_fx_done (&fx);
}

/*  --version: nothing else is read; the usage lists it.                  */
static void
test_version (void)
{
    s_fx_t fx;
    s_fx_init (&fx);
    const char *args[] = { "--version", "--frobnicate", NULL };
    CU_ASSERT_EQUAL (s_parse (&fx, args), 0);
    CU_ASSERT (tpc_opts_version (fx.opts));
    CU_ASSERT (!tpc_opts_help (fx.opts));
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream (&text, &len);
    tpc_opts_usage (fx.opts, f, "prog");
    fclose (f);
    CU_ASSERT (strstr (text, "--version") != NULL);
    free (text);
    s_fx_done (&fx);
}

static const tpc_test_case_t s_cases[] = {
    { "opts_config_positions", test_config_positions },
    { "opts_version", test_version },
    { "opts_flags", test_flags },
    { "opts_help_and_usage", test_help_and_usage },
    { "opts_config_file", test_config_file },
    { "opts_old_keys_warn", test_old_keys_warn },
    { "opts_unknown", test_unknown },
    { "opts_bad_values", test_bad_values },
    { NULL, NULL }
};

int
main (void)
{
    const tpc_test_suite_t suites[] = {
        { "opts", NULL, NULL, s_cases },
        { NULL, NULL, NULL, NULL }
    };
    return tpc_test_main ("test_opts", suites);
}
