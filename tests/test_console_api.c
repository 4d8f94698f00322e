/*  test_console_api: the operator console's HTTP API (docs/CONSOLE.md)
 *  against a real tpc-coordinator with --http and two agents on real
 *  PostgreSQL clusters (db1, db2; accounts 1..10 with 1000 each).
 *
 *  Requests go over a raw socket (HTTP/1.0, one per connection) so that
 *  malformed ones can be sent too.  Each case states the endpoint it
 *  covers; after the malformed and oversized requests a transfer must
 *  still commit.  The stuck case makes a transaction in doubt for real:
 *  the coordinator runs with TPC_CRASH_POINT=coord.after_fsync and
 *  TPC_CRASH_ACTION=stop, so it stops itself once the first COMMIT is
 *  durable; db2 (prepared, its yes vote in) is killed meanwhile and the
 *  coordinator continued: the COMMIT stays unacknowledged until an
 *  operator resolves it through the API (a HEURISTIC record in the log, an audit
 *  entry with the reason); db2 restarted then commits it.
 */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tpc_client.h"
#include "tpc_error.h"
#include "tpc_harness.h"
#include "tpc_record.h"
#include "tpc_test.h"

#define S_TOKEN "console-test-token-0123456789"
#define PREPARED_SQL "SELECT count(*) FROM pg_prepared_xacts"

static struct {
    char *dir;
    char dbdir[2][512], db[2][512];
    char cep[64], aep[64], logdir[600], token_file[600];
    int hport;
    tpc_proc_t coord, agent[2];
} W;

typedef struct {
    int code;
    char *head;                 /* status line and headers */
    char *body;
    cJSON *json;                /* body parsed, or NULL */
} s_resp_t;

static void
s_resp_free (s_resp_t *r)
{
    free (r->head);
    cJSON_Delete (r->json);
    memset (r, 0, sizeof *r);
}

/*  Send RAW (LEN bytes) to the console; read the whole response.        */
static s_resp_t
s_raw (const char *raw, size_t len)
{
    s_resp_t r = { 0 };
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET,
                             .sin_port = htons ((uint16_t) W.hport),
                             .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
    if (fd < 0 || connect (fd, (struct sockaddr *) &a, sizeof a)) {
        if (fd >= 0)
            close (fd);
        return r;
    }
    size_t off = 0;
    while (off < len) {
        ssize_t w = send (fd, raw + off, len - off, MSG_NOSIGNAL);
        if (w <= 0)
            break;              /* the server may answer early (413) */
        off += (size_t) w;
    }
    shutdown (fd, SHUT_WR);
    size_t cap = 65536, n = 0;
    char *buf = malloc (cap);
    ssize_t got;
    while (buf && (got = read (fd, buf + n, cap - n - 1)) > 0) {
        n += (size_t) got;
        if (n + 1 == cap) {
            char *p = realloc (buf, cap *= 2);
            if (!p) {
                free (buf);
            }
            buf = p;
        }
    }
    close (fd);
    if (!buf)
        return r;
    buf[n] = '\0';
    r.head = buf;
    sscanf (buf, "HTTP/%*s %d", &r.code);
    char *sep = strstr (buf, "\r\n\r\n");
    if (sep) {
        *sep = '\0';
        r.body = sep + 4;
        r.json = cJSON_Parse (r.body);
    }
    return r;
}

/*  METHOD PATH with the token header (TOKEN may be NULL), a JSON body
 *  (may be NULL) and Content-Type TYPE (NULL: none).                     */
static s_resp_t
s_req (const char *method, const char *path, const char *token,
       const char *type, const char *body)
{
    size_t blen = body ? strlen (body) : 0;
    char head[1024];
    int n = snprintf (head, sizeof head, "%s %s HTTP/1.0\r\nHost: 127.0.0.1"
                      "\r\n%s%s%s%s%s%s", method, path,
                      token ? "X-TPC-Token: " : "", token ? token : "",
                      token ? "\r\n" : "", type ? "Content-Type: " : "",
                      type ? type : "", type ? "\r\n" : "");
    if (n < 0 || (size_t) n >= sizeof head - 64)
        return (s_resp_t) { 0 };
    if (body)
        n += snprintf (head + n, sizeof head - (size_t) n,
                       "Content-Length: %zu\r\n", blen);
    n += snprintf (head + n, sizeof head - (size_t) n, "\r\n");
    char *raw = malloc ((size_t) n + blen + 1);
    if (!raw)
        return (s_resp_t) { 0 };
    memcpy (raw, head, (size_t) n);
    if (body)
        memcpy (raw + n, body, blen);
    s_resp_t r = s_raw (raw, (size_t) n + blen);
    free (raw);
    return r;
}

static s_resp_t
s_get (const char *path)
{
    return s_req ("GET", path, NULL, NULL, NULL);
}

static s_resp_t
s_post (const char *path, const char *token, const char *body)
{
    return s_req ("POST", path, token, "application/json", body);
}

static double
s_num (const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive (o, name);
    return cJSON_IsNumber (v) ? v->valuedouble : -1;
}

static const char *
s_str (const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive (o, name);
    return cJSON_IsString (v) ? v->valuestring : "";
}

static bool
s_bool (const cJSON *o, const char *name)
{
    return cJSON_IsTrue (cJSON_GetObjectItemCaseSensitive (o, name));
}

static const cJSON *
s_items (const s_resp_t *r)
{
    return cJSON_GetObjectItemCaseSensitive (r->json, "items");
}

/*  An error answer: CODE and a JSON {"error": text} that is not empty.  */
static void
s_check_error (s_resp_t r, int code, const char *what)
{
    if (r.code != code)
        printf ("\n    %s: expected %d, got %d: %s", what, code, r.code,
                r.body ? r.body : "(no body)");
    CU_ASSERT_EQUAL (r.code, code);
    CU_ASSERT (*s_str (r.json, "error") != '\0');
    s_resp_free (&r);
}

/* ---------------------------------------------------------------------
 *  The world
 */

static int
s_start_coord (char *const env[])
{
    char log[700], http[32];
    snprintf (log, sizeof log, "%s/coordinator.log", W.dir);
    snprintf (http, sizeof http, "127.0.0.1:%d", W.hport);
    char *args[] = { "--id", "cc", "--bind", W.cep, "--agent-bind", W.aep,
                     "--log-dir", W.logdir, "--http", http,
                     "--http-token-file", W.token_file,
                     "--vote-timeout-ms", "3000", "--ack-wait-ms", "300",
                     "--heartbeat-ms", "200", "--insecure-plaintext", NULL };
    return tpc_harness_start_coord (&W.coord, args, env, log);
}

static int
s_start_agent (int i, char *const env[])
{
    char log[700], file[700], name[8];
    snprintf (name, sizeof name, "db%d", i + 1);
    snprintf (log, sizeof log, "%s/agent-%s.log", W.dir, name);
    snprintf (file, sizeof file, "%s/%s.conninfo", W.dir, name);
    if (tpc_harness_write_line (file, W.db[i]))
        return -1;
    char *args[] = { "--name", name, "--coordinator", W.aep, "--pg-file",
                     file, "--heartbeat-ms", "200", "--insecure-plaintext",
                     NULL };
    return tpc_harness_start_agent (&W.agent[i], args, env, log);
}

static int
s_wait_agents (void)
{
    static const char *const names[] = { "db1", "db2" };
    tpc_client_opts_t o = { .timeout_ms = 5000 };
    return tpc_harness_wait_agents (W.cep, &o, names, 2,
                                    TPC_HARNESS_BY_SUMMARY);
}

static int
s_setup (void)
{
    memset (&W, 0, sizeof W);
    W.dir = tpc_test_tmpdir ("console");
    if (!W.dir || tpc_harness_pg_world (W.dir, 2, W.dbdir, W.db,
                                        TPC_HARNESS_ACCT_SQL ("1000")))
        return -1;
    snprintf (W.cep, sizeof W.cep, "tcp://127.0.0.1:%d",
              tpc_harness_free_port ());
    snprintf (W.aep, sizeof W.aep, "tcp://127.0.0.1:%d",
              tpc_harness_free_port ());
    W.hport = tpc_harness_free_port ();
    snprintf (W.logdir, sizeof W.logdir, "%s/log", W.dir);
    snprintf (W.token_file, sizeof W.token_file, "%s/token", W.dir);
    if (tpc_harness_write_line (W.token_file, S_TOKEN) || s_start_coord (NULL)
        || s_start_agent (0, NULL) || s_start_agent (1, NULL))
        return -1;
    return s_wait_agents ();
}

static int
s_teardown (void)
{
    tpc_harness_stop (&W.coord, W.agent, 2);
    tpc_harness_clean (&W.dir, 2);
    return 0;
}

static tpc_client_t *
s_client (void)
{
    tpc_client_opts_t o = { .timeout_ms = 10000 };
    return tpc_client_new (W.cep, &o);
}

/*  db1 account 1 -10, db2 account 1 +10; the transfer's outcome code.    */
static int
s_transfer (char *gid)
{
    const char *p[] = { "10" };
    tpc_client_stmt_t st[2] = {
        { "db1", "UPDATE acct SET bal = bal - $1 WHERE id = 1", 1, p },
        { "db2", "UPDATE acct SET bal = bal + $1 WHERE id = 1", 1, p },
    };
    char reason[256], dummy[TPC_CLIENT_GID_MAX];
    tpc_client_outcome_t out;
    tpc_client_t *c = s_client ();
    int rc = c ? tpc_submit (c, st, 2, NULL, gid ? gid : dummy, &out,
                             reason, sizeof reason)
               : -1;
    tpc_client_destroy (&c);
    return rc;
}

static int64_t
s_bal (int i)
{
    return tpc_harness_sql_int (W.db[i], "SELECT bal FROM acct WHERE id=1");
}

/*  GET PATH again (every 50 ms, 10 s at most) until its JSON has an item
 *  whose FIELD is VALUE and whose BOOLFIELD (may be NULL) is WANT.        */
static bool
s_wait_item (const char *path, const char *field, const char *value,
             const char *boolfield, bool want)
{
    int64_t end = tpc_now_ms () + 10000;
    while (tpc_now_ms () < end) {
        s_resp_t r = s_get (path);
        const cJSON *it;
        bool found = false;
        cJSON_ArrayForEach (it, s_items (&r))
            if (!strcmp (s_str (it, field), value)
                && (!boolfield || s_bool (it, boolfield) == want))
                found = true;
        s_resp_free (&r);
        if (found)
            return true;
        usleep (50 * 1000);
    }
    return false;
}

/*  GET PATH until its number FIELD is at least MIN (5 s at most: a
 *  snapshot serves for 250 ms, so a change may take that long to show);
 *  the last response.                                                    */
static s_resp_t
s_get_until (const char *path, const char *field, double min)
{
    s_resp_t r = { 0 };
    int64_t end = tpc_now_ms () + 5000;
    for (;;) {
        r = s_get (path);
        if (s_num (r.json, field) >= min || tpc_now_ms () >= end)
            return r;
        s_resp_free (&r);
        usleep (50 * 1000);
    }
}

/*  GET PATH until it answers 200 (5 s at most); the last response.      */
static s_resp_t
s_get_ok (const char *path)
{
    s_resp_t r = { 0 };
    int64_t end = tpc_now_ms () + 5000;
    for (;;) {
        r = s_get (path);
        if (r.code == 200 || tpc_now_ms () >= end)
            return r;
        s_resp_free (&r);
        usleep (50 * 1000);
    }
}

/* ---------------------------------------------------------------------
 *  Cases
 */

/*  GET /, /app.js, /style.css, /metrics; the security headers.           */
static void
test_static_and_metrics (void)
{
    s_resp_t r = s_get ("/");
    CU_ASSERT_EQUAL (r.code, 200);
    CU_ASSERT (r.head && strstr (r.head, "Content-Type: text/html"));
    CU_ASSERT (r.head && strstr (r.head, "Content-Security-Policy: "
                                 "default-src 'self'"));
    CU_ASSERT (r.head && strstr (r.head, "X-Content-Type-Options: nosniff"));
    CU_ASSERT (r.body && strstr (r.body, "<html"));
    s_resp_free (&r);
    r = s_get ("/app.js");
    CU_ASSERT_EQUAL (r.code, 200);
    CU_ASSERT (r.head && strstr (r.head, "Content-Type: text/javascript"));
    s_resp_free (&r);
    r = s_get ("/style.css");
    CU_ASSERT_EQUAL (r.code, 200);
    CU_ASSERT (r.head && strstr (r.head, "Content-Type: text/css"));
    s_resp_free (&r);
    r = s_get ("/no-such-file.js");
    CU_ASSERT_EQUAL (r.code, 404);
    s_resp_free (&r);
    r = s_get ("/metrics");
    CU_ASSERT_EQUAL (r.code, 200);
    CU_ASSERT (r.body && strstr (r.body, "tpc_transactions_total{outcome="
                                 "\"committed\"}"));
    s_resp_free (&r);
    r = s_get ("/api/v1/overview");
    CU_ASSERT (r.head && strstr (r.head, "Cache-Control: no-store"));
    CU_ASSERT (r.head && strstr (r.head, "Content-Type: application/json"));
    s_resp_free (&r);
}

/*  GET /api/v1/overview, /api/v1/whoami, /api/v1/series.                  */
static void
test_overview_whoami_series (void)
{
    for (int i = 0; i < 3; i++)
        CU_ASSERT_EQUAL (s_transfer (NULL), 0);
    s_resp_t r = s_get_until ("/api/v1/overview", "committed", 3);
    CU_ASSERT_EQUAL (r.code, 200);
    CU_ASSERT (s_num (r.json, "committed") >= 3);
    CU_ASSERT_EQUAL (s_num (r.json, "agents_up"), 2);
    CU_ASSERT_EQUAL (s_num (r.json, "agents_down"), 0);
    CU_ASSERT_STRING_EQUAL (s_str (r.json, "coordinator_id"), "cc");
    CU_ASSERT (s_num (r.json, "epoch") >= 1);
    CU_ASSERT (s_num (r.json, "uptime_ms") >= 0);
    CU_ASSERT (s_num (r.json, "in_flight") >= 0);
    CU_ASSERT (s_num (r.json, "tps_committed") >= 0);
    CU_ASSERT (*s_str (r.json, "version"));
    CU_ASSERT (cJSON_IsFalse (cJSON_GetObjectItem (r.json, "writable")));
    s_resp_free (&r);
    r = s_req ("GET", "/api/v1/overview", S_TOKEN, NULL, NULL);
    CU_ASSERT (s_bool (r.json, "writable"));
    s_resp_free (&r);
    r = s_get ("/api/v1/whoami");
    CU_ASSERT_EQUAL (r.code, 200);
    CU_ASSERT (cJSON_IsFalse (cJSON_GetObjectItem (r.json, "writable")));
    s_resp_free (&r);
    r = s_req ("GET", "/api/v1/whoami", "wrong-token-wrong-token", NULL,
               NULL);
    CU_ASSERT (cJSON_IsFalse (cJSON_GetObjectItem (r.json, "writable")));
    s_resp_free (&r);
    r = s_req ("GET", "/api/v1/whoami", S_TOKEN, NULL, NULL);
    CU_ASSERT (s_bool (r.json, "writable"));
    s_resp_free (&r);
    /* the series closes a second after it ended: wait for the commits */
    double sum = 0;
    int64_t end = tpc_now_ms () + 5000;
    while (sum < 3 && tpc_now_ms () < end) {
        r = s_get ("/api/v1/series");
        CU_ASSERT_EQUAL (r.code, 200);
        CU_ASSERT_EQUAL (s_num (r.json, "interval_ms"), 1000);
        const cJSON *p;
        sum = 0;
        cJSON_ArrayForEach (p, cJSON_GetObjectItem (r.json, "points")) {
            sum += s_num (p, "committed");
            CU_ASSERT (s_num (p, "t_ms_ago") > 0);
            CU_ASSERT (s_num (p, "p99_ms") >= s_num (p, "p50_ms"));
        }
        s_resp_free (&r);
        if (sum < 3)
            usleep (100 * 1000);
    }
    CU_ASSERT (sum >= 3);
    printf ("\n    series: %.0f commits in the last 5 minutes", sum);
}

/*  GET /api/v1/transactions: filters, paging, bad parameters.            */
static void
test_transactions_filters (void)
{
    tpc_client_t *c = s_client ();
    char gid[3][TPC_CLIENT_GID_MAX];
    for (int i = 0; i < 3; i++) {
        CU_ASSERT_EQUAL_FATAL (tpc_begin (c, NULL, gid[i]), 0);
        CU_ASSERT_EQUAL (tpc_exec (c, gid[i], "db1", "SELECT 1", 0, NULL,
                                   NULL), 0);
    }
    CU_ASSERT_EQUAL (tpc_exec (c, gid[2], "db2", "SELECT 2", 0, NULL, NULL),
                     0);
    s_resp_t r = s_get_until ("/api/v1/transactions?state=active", "total",
                              3);
    CU_ASSERT_EQUAL (r.code, 200);
    CU_ASSERT_EQUAL_FATAL (s_num (r.json, "total"), 3);
    CU_ASSERT_EQUAL (s_num (r.json, "limit"), 50);
    CU_ASSERT_EQUAL (cJSON_GetArraySize (s_items (&r)), 3);
    const cJSON *it = cJSON_GetArrayItem (s_items (&r), 0);
    CU_ASSERT_STRING_EQUAL (s_str (it, "gid"), gid[0]);
    CU_ASSERT_STRING_EQUAL (s_str (it, "state"), "active");
    CU_ASSERT (cJSON_IsNull (cJSON_GetObjectItem (it, "outcome")));
    CU_ASSERT (s_num (it, "age_ms") >= 0);
    CU_ASSERT (cJSON_IsFalse (cJSON_GetObjectItem (it, "in_doubt")));
    CU_ASSERT (cJSON_IsBool (cJSON_GetObjectItem (it, "waiting")));
    const cJSON *p0 = cJSON_GetArrayItem (cJSON_GetObjectItem (
        it, "participants"), 0);
    CU_ASSERT (cJSON_IsString (p0) && !strcmp (p0->valuestring, "db1"));
    s_resp_free (&r);
    r = s_get ("/api/v1/transactions?participant=db2");
    CU_ASSERT_EQUAL (s_num (r.json, "total"), 1);
    CU_ASSERT_STRING_EQUAL (s_str (cJSON_GetArrayItem (s_items (&r), 0),
                                   "gid"), gid[2]);
    s_resp_free (&r);
    char path[256];
    snprintf (path, sizeof path, "/api/v1/transactions?prefix=%s", gid[1]);
    r = s_get (path);
    CU_ASSERT_EQUAL (s_num (r.json, "total"), 1);
    s_resp_free (&r);
    r = s_get ("/api/v1/transactions?min_age_ms=600000");
    CU_ASSERT_EQUAL (s_num (r.json, "total"), 0);
    s_resp_free (&r);
    r = s_get ("/api/v1/transactions?state=active&limit=2");
    CU_ASSERT_EQUAL (s_num (r.json, "total"), 3);
    CU_ASSERT_EQUAL (cJSON_GetArraySize (s_items (&r)), 2);
    s_resp_free (&r);
    r = s_get ("/api/v1/transactions?state=active&limit=2&offset=2");
    CU_ASSERT_EQUAL (s_num (r.json, "offset"), 2);
    CU_ASSERT_EQUAL (cJSON_GetArraySize (s_items (&r)), 1);
    CU_ASSERT_STRING_EQUAL (s_str (cJSON_GetArrayItem (s_items (&r), 0),
                                   "gid"), gid[2]);
    s_resp_free (&r);
    r = s_get ("/api/v1/transactions?state=ended&limit=500");
    CU_ASSERT_EQUAL (r.code, 200);
    CU_ASSERT (s_num (r.json, "total") >= 3);
    CU_ASSERT_STRING_EQUAL (s_str (cJSON_GetArrayItem (s_items (&r), 0),
                                   "outcome"), "committed");
    s_resp_free (&r);
    s_check_error (s_get ("/api/v1/transactions?limit=0"), 400, "limit=0");
    s_check_error (s_get ("/api/v1/transactions?limit=501"), 400,
                   "limit=501");
    s_check_error (s_get ("/api/v1/transactions?limit=ten"), 400,
                   "limit=ten");
    s_check_error (s_get ("/api/v1/transactions?offset=-1"), 400,
                   "offset=-1");
    s_check_error (s_get ("/api/v1/transactions?min_age_ms=1e3"), 400,
                   "min_age_ms=1e3");
    s_check_error (s_get ("/api/v1/transactions?state=bogus"), 400,
                   "state=bogus");
    r = s_get ("/api/v1/transactions?state=bogus");
    CU_ASSERT (strstr (s_str (r.json, "error"), "committing") != NULL);
    s_resp_free (&r);
    s_check_error (s_get ("/api/v1/nothing"), 404, "unknown endpoint");
    for (int i = 0; i < 3; i++)
        CU_ASSERT_EQUAL (tpc_rollback (c, gid[i], NULL, NULL, 0), 0);
    tpc_client_destroy (&c);
}

/*  GET /api/v1/transactions/{gid}: live, ended, unknown (404), bad (400). */
static void
test_transaction_detail (void)
{
    char gid[TPC_CLIENT_GID_MAX], path[256];
    CU_ASSERT_EQUAL_FATAL (s_transfer (gid), 0);
    snprintf (path, sizeof path, "/api/v1/transactions/%s", gid);
    s_resp_t r = s_get_ok (path);
    CU_ASSERT_EQUAL (r.code, 200);
    CU_ASSERT_STRING_EQUAL (s_str (r.json, "gid"), gid);
    CU_ASSERT_STRING_EQUAL (s_str (r.json, "outcome"), "committed");
    const cJSON *tl = cJSON_GetObjectItem (r.json, "timeline"), *e;
    bool begin = false, decision = false;
    cJSON_ArrayForEach (e, tl) {
        begin |= !strcmp (s_str (e, "event"), "begin");
        decision |= !strcmp (s_str (e, "event"), "decision")
                    && strstr (s_str (e, "detail"), "commit");
        CU_ASSERT (s_num (e, "t_ms") >= 0);
    }
    CU_ASSERT (begin && decision);
    s_resp_free (&r);

    /* a live one: participants with their votes, a timeline */
    tpc_client_t *c = s_client ();
    char live[TPC_CLIENT_GID_MAX];
    CU_ASSERT_EQUAL_FATAL (tpc_begin (c, NULL, live), 0);
    CU_ASSERT_EQUAL (tpc_exec (c, live, "db1", "SELECT 1", 0, NULL, NULL),
                     0);
    CU_ASSERT_EQUAL (tpc_exec (c, live, "db2", "SELECT 1", 0, NULL, NULL),
                     0);
    snprintf (path, sizeof path, "/api/v1/transactions/%s", live);
    r = s_get_until ("/api/v1/transactions?participant=db2", "total", 1);
    s_resp_free (&r);
    r = s_get (path);
    CU_ASSERT_EQUAL (r.code, 200);
    CU_ASSERT_STRING_EQUAL (s_str (r.json, "state"), "active");
    const cJSON *parts = cJSON_GetObjectItem (r.json, "participants");
    CU_ASSERT_EQUAL (cJSON_GetArraySize (parts), 2);
    const cJSON *p0 = cJSON_GetArrayItem (parts, 0);
    CU_ASSERT_STRING_EQUAL (s_str (p0, "name"), "db1");
    CU_ASSERT (cJSON_IsNull (cJSON_GetObjectItem (p0, "vote")));
    CU_ASSERT (cJSON_IsFalse (cJSON_GetObjectItem (p0, "acked")));
    CU_ASSERT_STRING_EQUAL (s_str (cJSON_GetArrayItem (
        cJSON_GetObjectItem (r.json, "timeline"), 0), "event"), "begin");
    s_resp_free (&r);
    CU_ASSERT_EQUAL (tpc_rollback (c, live, NULL, NULL, 0), 0);
    tpc_client_destroy (&c);

    s_check_error (s_get ("/api/v1/transactions/tpc_cc_1_999999"), 404,
                   "unknown gid");
    s_check_error (s_get ("/api/v1/transactions/not-a-gid"), 400,
                   "invalid gid");
}

/*  A reason with <script> comes back JSON-escaped, never as markup.     */
static void
test_script_escaped (void)
{
    tpc_client_t *c = s_client ();
    char gid[TPC_CLIENT_GID_MAX], path[256];
    CU_ASSERT_EQUAL_FATAL (tpc_begin (c, NULL, gid), 0);
    CU_ASSERT_NOT_EQUAL (tpc_exec (c, gid, "db1", "SELECT '<script>alert(1)"
                                   "</script>'::int", 0, NULL, NULL), 0);
    tpc_client_destroy (&c);
    snprintf (path, sizeof path, "/api/v1/transactions/%s", gid);
    s_resp_t r = { 0 };
    int64_t end = tpc_now_ms () + 5000;
    do {
        s_resp_free (&r);
        r = s_get (path);
    } while ((r.code != 200 || strcmp (s_str (r.json, "outcome"), "aborted"))
             && tpc_now_ms () < end && usleep (50 * 1000) == 0);
    CU_ASSERT_EQUAL (r.code, 200);
    CU_ASSERT_STRING_EQUAL (s_str (r.json, "outcome"), "aborted");
    CU_ASSERT (r.body && strstr (r.body, "\\u003cscript\\u003e") != NULL);
    CU_ASSERT (r.body && strstr (r.body, "<script>") == NULL);
    /* parsed back, it is the text the database said */
    CU_ASSERT (strstr (s_str (r.json, "reason"), "<script>") != NULL);
    const char *esc = r.body ? strstr (r.body, "\\u003cscript") : NULL;
    printf ("\n    sent as: ...%.60s...", esc ? esc : "(not found)");
    s_resp_free (&r);
    r = s_get ("/api/v1/transactions?state=ended");
    CU_ASSERT (r.body && strstr (r.body, "<script>") == NULL);
    s_resp_free (&r);
}

/*  Writes: token (401/403), Content-Type (415), size (413), body (400),
 *  methods (405), malformed requests; the daemon still commits after.   */
static void
test_writes_refused_and_malformed (void)
{
    const char *path = "/api/v1/transactions/tpc_cc_1_1/retry";
    s_check_error (s_post (path, NULL, "{\"reason\":\"x\"}"), 401,
                   "no token");
    s_check_error (s_post (path, "wrong-token-wrong-token",
                           "{\"reason\":\"x\"}"), 403, "wrong token");
    s_check_error (s_req ("POST", path, S_TOKEN, "text/plain",
                          "{\"reason\":\"x\"}"), 415, "text/plain");
    s_check_error (s_req ("POST", path, S_TOKEN,
                          "application/x-www-form-urlencoded",
                          "reason=x"), 415, "a form");
    char *big = malloc (8192);
    CU_ASSERT_PTR_NOT_NULL_FATAL (big);
    memset (big, 'a', 8191);
    big[8191] = '\0';
    memcpy (big, "{\"reason\":\"", 11);
    s_check_error (s_post (path, S_TOKEN, big), 413, "8 KiB body");
    free (big);
    s_check_error (s_post (path, S_TOKEN, "{\"reason\":"), 400, "bad JSON");
    s_check_error (s_post (path, S_TOKEN, "[1,2]"), 400, "not an object");
    s_check_error (s_post (path, S_TOKEN, "{}"), 400, "no reason");
    s_check_error (s_post (path, S_TOKEN, "{\"reason\":\"\"}"), 400,
                   "empty reason");
    s_check_error (s_post ("/api/v1/transactions/tpc_cc_1_1/resolve",
                           S_TOKEN, "{\"reason\":\"x\",\"outcome\":\"maybe\"}"),
                   400, "bad outcome");
    s_check_error (s_post ("/api/v1/transactions/tpc_cc_1_1/explode", S_TOKEN,
                           "{\"reason\":\"x\"}"), 404, "unknown action");
    s_check_error (s_post ("/api/v1/transactions/tpc_cc_1_999999/retry",
                           S_TOKEN, "{\"reason\":\"x\"}"), 404,
                   "retry of an unknown gid");
    s_check_error (s_req ("DELETE", "/api/v1/overview", S_TOKEN, NULL, NULL),
                   405, "DELETE");
    s_check_error (s_req ("PUT", "/api/v1/transactions", S_TOKEN, NULL,
                          NULL), 405, "PUT");
    /* not HTTP, a huge URL, a header flood: 4xx or a closed connection */
    s_resp_t r = s_raw ("GARBAGE\r\n\r\n", 11);
    CU_ASSERT (r.code == 0 || (r.code >= 400 && r.code < 500));
    s_resp_free (&r);
    char url[40000];
    memcpy (url, "GET /api/v1/transactions?prefix=", 32);
    memset (url + 32, 'x', 39000);
    memcpy (url + 39032, " HTTP/1.0\r\n\r\n", 14);
    r = s_raw (url, strlen (url));
    CU_ASSERT (r.code == 0 || (r.code >= 400 && r.code < 500));
    printf ("\n    40 KB URL: %d", r.code);
    s_resp_free (&r);
    /* unharmed: a transfer commits, the API answers */
    CU_ASSERT_EQUAL (s_transfer (NULL), 0);
    r = s_get ("/api/v1/overview");
    CU_ASSERT_EQUAL (r.code, 200);
    s_resp_free (&r);
}

/*  A really stuck transaction: GET /api/v1/agents shows db2 down; POST
 *  retry and resolve with the token; GET /api/v1/audit has both; the log
 *  has the HEURISTIC record; db2 restarted commits.                      */
typedef struct {
    char gid[TPC_CLIENT_GID_MAX];
    int rc;
} s_xfer_t;

static void *
s_xfer_thread (void *arg)
{
    s_xfer_t *x = arg;
    x->rc = s_transfer (x->gid);
    return NULL;
}

static void
test_stuck_retry_resolve_audit (void)
{
    /* the coordinator again, set to stop once its first COMMIT is durable */
    tpc_proc_kill (&W.coord, SIGTERM, 5000);
    char *env[] = { "TPC_CRASH_POINT=coord.after_fsync",
                    "TPC_CRASH_ACTION=stop", NULL };
    CU_ASSERT_EQUAL_FATAL (s_start_coord (env), 0);
    CU_ASSERT_EQUAL_FATAL (s_wait_agents (), 0);
    int64_t b1 = s_bal (0), b2 = s_bal (1);
    long off = tpc_proc_log_size (&W.coord);
    s_xfer_t x = { "", -1 };
    pthread_t th;
    CU_ASSERT_EQUAL_FATAL (pthread_create (&th, NULL, s_xfer_thread, &x), 0);
    /* stopped with the decision durable: db2 dies, prepared, unaware */
    CU_ASSERT_EQUAL (tpc_proc_wait_log (&W.coord, "action=stop", off, 15000),
                     0);
    tpc_proc_kill (&W.agent[1], SIGKILL, 5000);
    CU_ASSERT_EQUAL (kill (W.coord.pid, SIGCONT), 0);
    pthread_join (th, NULL);
    char gid[TPC_GID_MAX], path[256];
    snprintf (gid, sizeof gid, "%s", x.gid);
    CU_ASSERT (x.rc == 0 || x.rc == TPC_EIN_DOUBT);
    CU_ASSERT_EQUAL (tpc_harness_sql_int (W.db[1], PREPARED_SQL), 1);

    /* agents: db2 down (the coordinator notices within 3 heartbeats) */
    CU_ASSERT (s_wait_item ("/api/v1/agents", "name", "db2", "connected",
                            false));
    s_resp_t r = s_get ("/api/v1/agents");
    const cJSON *a;
    cJSON_ArrayForEach (a, s_items (&r)) {
        CU_ASSERT (cJSON_IsArray (cJSON_GetObjectItem (a, "db_prepared")));
        CU_ASSERT (cJSON_IsArray (cJSON_GetObjectItem (
            a, "prepared_unknown_to_log")));
        CU_ASSERT (cJSON_IsArray (cJSON_GetObjectItem (
            a, "decided_still_prepared")));
        CU_ASSERT (s_num (a, "last_heartbeat_ms_ago") >= 0);
        if (!strcmp (s_str (a, "name"), "db1"))
            CU_ASSERT (s_bool (a, "connected"));
    }
    s_resp_free (&r);
    r = s_get ("/api/v1/overview");
    CU_ASSERT_EQUAL (s_num (r.json, "agents_down"), 1);
    CU_ASSERT (s_num (r.json, "in_doubt") >= 1);
    s_resp_free (&r);

    /* the list shows it committing, in doubt, waiting */
    CU_ASSERT (s_wait_item ("/api/v1/transactions?state=committing", "gid",
                            gid, "waiting", true));
    snprintf (path, sizeof path, "/api/v1/transactions/%s", gid);
    r = s_get (path);
    CU_ASSERT (s_bool (r.json, "in_doubt") && s_bool (r.json, "retryable"));
    const cJSON *p;
    cJSON_ArrayForEach (p, cJSON_GetObjectItem (r.json, "participants"))
        CU_ASSERT_STRING_EQUAL (s_str (p, "vote"), "yes");
    s_resp_free (&r);

    /* retry now: resent (db2 still away), recorded */
    snprintf (path, sizeof path, "/api/v1/transactions/%s/retry", gid);
    r = s_post (path, S_TOKEN, "{\"reason\":\"try db2 again\"}");
    CU_ASSERT_EQUAL (r.code, 200);
    CU_ASSERT_STRING_EQUAL (s_str (r.json, "action"), "retry");
    s_resp_free (&r);
    /* resolve: the operator commits it */
    snprintf (path, sizeof path, "/api/v1/transactions/%s/resolve", gid);
    s_check_error (s_post (path, S_TOKEN, "{\"reason\":\"no\",\"outcome\":"
                           "\"abort\"}"), 409, "abort contradicts commit");
    r = s_post (path, S_TOKEN, "{\"reason\":\"db2 crashed after its vote "
                "<b>\",\"outcome\":\"commit\"}");
    CU_ASSERT_EQUAL (r.code, 200);
    CU_ASSERT_STRING_EQUAL (s_str (r.json, "outcome"), "committed");
    s_resp_free (&r);
    CU_ASSERT_EQUAL (tpc_harness_log_count (W.logdir, gid,
                                            TPC_REC_HEURISTIC), 1);

    /* the audit trail: the resolve with its reason, the retry */
    bool resolved = false, retried = false;
    r = s_get ("/api/v1/audit");
    CU_ASSERT_EQUAL (r.code, 200);
    cJSON_ArrayForEach (a, s_items (&r)) {
        if (strcmp (s_str (a, "gid"), gid))
            continue;
        if (!strcmp (s_str (a, "action"), "resolve")) {
            resolved = !strcmp (s_str (a, "outcome"), "committed")
                       && strstr (s_str (a, "reason"), "db2 crashed after "
                                  "its vote <b>")
                       && !strcmp (s_str (a, "who"), "console")
                       && s_num (a, "t") > 1.6e12;
        }
        if (!strcmp (s_str (a, "action"), "retry"))
            retried = !strcmp (s_str (a, "reason"), "try db2 again")
                      && s_num (a, "t") > 1.6e12;
    }
    CU_ASSERT (resolved && retried);
    CU_ASSERT (r.body && !strstr (r.body, "<b>"));
    s_resp_free (&r);
    snprintf (path, sizeof path, "/api/v1/transactions/%s", gid);
    r = s_get (path);
    bool ev_retry = false, ev_resolve = false;
    cJSON_ArrayForEach (a, cJSON_GetObjectItem (r.json, "timeline")) {
        ev_retry |= !strcmp (s_str (a, "event"), "retry");
        ev_resolve |= !strcmp (s_str (a, "event"), "resolve");
    }
    CU_ASSERT (ev_retry && ev_resolve);
    s_resp_free (&r);

    /* db2 back: it commits what it held prepared */
    CU_ASSERT_EQUAL_FATAL (s_start_agent (1, NULL), 0);
    int64_t end = tpc_now_ms () + 15000;
    while (tpc_harness_sql_int (W.db[1], PREPARED_SQL) > 0
           && tpc_now_ms () < end)
        usleep (100 * 1000);
    CU_ASSERT_EQUAL (tpc_harness_sql_int (W.db[1], PREPARED_SQL), 0);
    CU_ASSERT_EQUAL (s_bal (0), b1 - 10);
    CU_ASSERT_EQUAL (s_bal (1), b2 + 10);
    CU_ASSERT (s_wait_item ("/api/v1/agents", "name", "db2", "connected",
                            true));
    printf ("\n    resolved %s through the API: db1 %+" PRId64 ", db2 %+"
            PRId64 ", prepared left 0", gid, s_bal (0) - b1, s_bal (1) - b2);
}

static const tpc_test_case_t s_cases[] = {
    { "static_and_metrics", test_static_and_metrics },
    { "overview_whoami_series", test_overview_whoami_series },
    { "transactions_filters", test_transactions_filters },
    { "transaction_detail", test_transaction_detail },
    { "script_escaped", test_script_escaped },
    { "writes_refused_and_malformed", test_writes_refused_and_malformed },
    { "stuck_retry_resolve_audit", test_stuck_retry_resolve_audit },
    { NULL, NULL }
};

int
main (void)
{
    signal (SIGPIPE, SIG_IGN);
    const tpc_test_suite_t suites[] = {
        { "console_api", s_setup, s_teardown, s_cases },
        { NULL, NULL, NULL, NULL }
    };
    return tpc_test_main ("test_console_api", suites);
}
