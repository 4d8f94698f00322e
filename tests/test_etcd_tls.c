/*  test_etcd_tls: the etcd decision store and tpc-coordinator over HTTPS
 *  with a client certificate, and with etcd authentication
 *  (coordinator/coord_etcd_http.c), on a real one-member etcd started by
 *  scripts/etcdtmp start-tls (a throwaway CA made with openssl; etcd runs
 *  with --client-cert-auth).
 *
 *  Records written through TLS come back on a reopen; a wrong CA, a
 *  missing file, a certificate without its key fail at open with a
 *  sentence naming the cause; tpc-coordinator --store etcds:// --ha
 *  (the election over the same connection settings) reaches its ready
 *  line.  Last (it turns etcd auth on for the cluster): with a
 *  user file the store writes and replays, a wrong password is refused
 *  with etcd's message, and after etcd restarted (its tokens forgotten)
 *  a write authenticates again and lands.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord_store.h"
#include "tpc_error.h"
#include "tpc_harness.h"
#include "tpc_test.h"

static char *s_dir;
static char s_etcd[600], s_eps[512], s_store[600];

static void
s_tls (char *out, size_t size, const char *name)
{
    snprintf (out, size, "%s/tls/%s", s_etcd, name);
}

static int
s_setup (void)
{
    s_dir = tpc_test_tmpdir ("etcd_tls");
    if (!s_dir)
        return -1;
    snprintf (s_etcd, sizeof s_etcd, "%s/etcd", s_dir);
    if (tpc_harness_etcd_start_tls (s_etcd, 1, s_eps, sizeof s_eps))
        return -1;
    snprintf (s_store, sizeof s_store, "etcds://%s", s_eps);
    return 0;
}

static int
s_teardown (void)
{
    tpc_harness_etcd_cmd ("destroy", s_etcd, NULL);
    tpc_test_rmtree (s_dir);
    free (s_dir);
    s_dir = NULL;
    return 0;
}

typedef struct {
    size_t n;
    char text[16][32];
} s_seen_t;

static int
s_collect (void *arg, const tpc_log_rec_t *rec, const void *payload,
           size_t len)
{
    (void) rec;
    s_seen_t *seen = arg;
    if (seen->n >= 16 || len >= 32)
        return TPC_ELIMIT;
    memcpy (seen->text[seen->n], payload, len);
    seen->text[seen->n++][len] = '\0';
    return 0;
}

/*  The store's warnings, printed; those saying it authenticated again
 *  counted.                                                              */
static int s_reauths;

static void
s_warn (void *arg, const char *text)
{
    (void) arg;
    printf ("\n  warning: %s", text);
    if (strstr (text, "authenticating again"))
        s_reauths++;
}

/*  Open PREFIX with AUTH, replaying into SEEN; the error in ERR.         */
static int
s_open (const char *prefix, coord_etcd_auth_t auth, s_seen_t *seen,
        coord_store_t **store, char *err, size_t errlen)
{
    coord_store_etcd_config_t cfg = { .endpoints = s_store, .auth = auth,
                                      .prefix = prefix, .timeout_ms = 3000,
                                      .warn = s_warn };
    memset (seen, 0, sizeof *seen);
    err[0] = '\0';
    int rc = coord_store_etcd_open (&cfg, s_collect, seen, store, err,
                                    errlen);
    printf ("\n  open %s: %s%s%s\n", prefix, tpc_errname (rc), *err ? ": "
            : "", err);
    return rc;
}

static void
s_write (coord_store_t *store, const char *text)
{
    uint64_t lsn = 0;
    CU_ASSERT_EQUAL_FATAL (coord_store_append (store, 1, text, strlen (text),
                                               &lsn), 0);
    CU_ASSERT_EQUAL (coord_store_sync (store, lsn), 0);
}

/*  The certificate files: ca.pem and NAME.pem / NAME.key.               */
typedef struct {
    char ca[700], cert[700], key[700], user[700];
} s_files_t;

static coord_etcd_auth_t
s_auth (s_files_t *f, const char *ca, const char *name, const char *user)
{
    char file[64];
    s_tls (f->ca, sizeof f->ca, ca);
    snprintf (file, sizeof file, "%s.pem", name);
    s_tls (f->cert, sizeof f->cert, file);
    snprintf (file, sizeof file, "%s.key", name);
    s_tls (f->key, sizeof f->key, file);
    snprintf (f->user, sizeof f->user, "%s/%s", s_dir, user ? user : "");
    return (coord_etcd_auth_t) { .cacert = f->ca, .cert = f->cert,
                                 .key = f->key,
                                 .user_file = user ? f->user : NULL };
}

/* --------------------------------------------------------------------- */

static void
test_client_cert (void)
{
    s_files_t f;
    s_seen_t seen;
    char err[512];
    coord_store_t *store = NULL;
    CU_ASSERT_EQUAL_FATAL (s_open ("/t/tls/", s_auth (&f, "ca.pem", "client",
                                                      NULL), &seen, &store,
                                   err, sizeof err), 0);
    CU_ASSERT_EQUAL (coord_store_set_high_water (store, 1), 0);
    s_write (store, "one");
    s_write (store, "two");
    coord_store_destroy (&store);
    CU_ASSERT_EQUAL_FATAL (s_open ("/t/tls/", s_auth (&f, "ca.pem", "client",
                                                      NULL), &seen, &store,
                                   err, sizeof err), 0);
    CU_ASSERT_EQUAL (seen.n, 2);
    CU_ASSERT_STRING_EQUAL (seen.text[0], "one");
    CU_ASSERT_STRING_EQUAL (seen.text[1], "two");
    coord_store_destroy (&store);
}

static void
test_bad_tls (void)
{
    s_files_t f;
    s_seen_t seen;
    char err[512];
    coord_store_t *store = NULL;
    /* a CA that did not sign etcd's certificate: the handshake fails,
     * the sentence names the endpoint and curl's reason                 */
    int rc = s_open ("/t/tls/", s_auth (&f, "other-ca.pem", "client", NULL),
                     &seen, &store, err, sizeof err);
    CU_ASSERT_EQUAL (rc, TPC_ECONNECT);
    CU_ASSERT_PTR_NULL (store);
    CU_ASSERT_PTR_NOT_NULL (strstr (err, s_eps));
    CU_ASSERT_PTR_NOT_NULL (strstr (err, "certificate"));
    /* a file that is not there */
    coord_etcd_auth_t a = s_auth (&f, "ca.pem", "client", NULL);
    a.cacert = "/nonexistent/ca.pem";
    rc = s_open ("/t/tls/", a, &seen, &store, err, sizeof err);
    CU_ASSERT_EQUAL (rc, TPC_ECONFIG);
    CU_ASSERT_PTR_NOT_NULL (strstr (err, "/nonexistent/ca.pem"));
    CU_ASSERT_PTR_NOT_NULL (strstr (err, "No such file"));
    /* a certificate without its key */
    a = s_auth (&f, "ca.pem", "client", NULL);
    a.key = NULL;
    rc = s_open ("/t/tls/", a, &seen, &store, err, sizeof err);
    CU_ASSERT_EQUAL (rc, TPC_ECONFIG);
    CU_ASSERT_PTR_NOT_NULL (strstr (err, "key"));
    /* no client certificate: etcd (--client-cert-auth) refuses */
    a = s_auth (&f, "ca.pem", "client", NULL);
    a.cert = a.key = NULL;
    rc = s_open ("/t/tls/", a, &seen, &store, err, sizeof err);
    CU_ASSERT_NOT_EQUAL (rc, 0);
    CU_ASSERT_PTR_NULL (store);
}

static void
test_coordinator_ready (void)
{
    s_files_t f;
    (void) s_auth (&f, "ca.pem", "client", NULL);
    char log[700], cep[64], aep[64];
    snprintf (log, sizeof log, "%s/coordinator.log", s_dir);
    snprintf (cep, sizeof cep, "tcp://127.0.0.1:%d",
              tpc_harness_free_port ());
    snprintf (aep, sizeof aep, "tcp://127.0.0.1:%d",
              tpc_harness_free_port ());
    char *args[] = { "--id", "tlsc", "--store", s_store, "--store-cacert",
                     f.ca, "--store-cert", f.cert, "--store-key", f.key,
                     "--bind", cep, "--agent-bind", aep, "--ha",
                     "--insecure-plaintext", NULL };
    tpc_proc_t coord;
    memset (&coord, 0, sizeof coord);
    CU_ASSERT_EQUAL (tpc_harness_start_coord (&coord, args, NULL, log), 0);
    tpc_harness_stop (&coord, NULL, 0);
    /* it won the election and wrote its epoch through TLS */
    char eps[600], ctl[2400], out[64] = "";
    snprintf (eps, sizeof eps, "https://%s", s_eps);
    snprintf (ctl, sizeof ctl, "--cacert '%s' --cert '%s' --key '%s' "
              "get /tpc/tlsc/epoch --print-value-only", f.ca, f.cert, f.key);
    CU_ASSERT_EQUAL (tpc_harness_etcdctl (eps, ctl, out, sizeof out), 0);
    CU_ASSERT_STRING_EQUAL (out, "1\n");
}

static void
test_auth (void)
{
    char eps[600], args[2600], ca[700], cert[700], key[700];
    snprintf (eps, sizeof eps, "https://%s", s_eps);
    s_tls (ca, sizeof ca, "ca.pem");
    s_tls (cert, sizeof cert, "client.pem");
    s_tls (key, sizeof key, "client.key");
    const char *steps[] = { "user add root:s3cret", "user grant-role root root",
                            "auth enable" };
    for (size_t i = 0; i < 3; i++) {
        snprintf (args, sizeof args, "--cacert '%s' --cert '%s' --key '%s' %s",
                  ca, cert, key, steps[i]);
        CU_ASSERT_EQUAL_FATAL (tpc_harness_etcdctl (eps, args, NULL, 0), 0);
    }
    char file[700];
    snprintf (file, sizeof file, "%s/good.user", s_dir);
    CU_ASSERT_EQUAL_FATAL (tpc_harness_write_line (file, "root:s3cret"), 0);
    snprintf (file, sizeof file, "%s/bad.user", s_dir);
    CU_ASSERT_EQUAL_FATAL (tpc_harness_write_line (file, "root:wrong"), 0);

    /* etcd 3.4's gateway refuses a client certificate with a CN once auth
     * is on: the anonymous one (no CN) with the user file               */
    s_files_t f;
    s_seen_t seen;
    char err[512];
    coord_store_t *store = NULL;
    int rc = s_open ("/t/auth/", s_auth (&f, "ca.pem", "anon", "bad.user"),
                     &seen, &store, err, sizeof err);
    CU_ASSERT_EQUAL (rc, TPC_EAUTH);
    CU_ASSERT_PTR_NOT_NULL (strstr (err, "authentication failed, invalid "
                                    "user ID or password"));
    CU_ASSERT_PTR_NOT_NULL (strstr (err, "root"));
    CU_ASSERT_EQUAL_FATAL (s_open ("/t/auth/", s_auth (&f, "ca.pem", "anon",
                                                       "good.user"), &seen,
                                   &store, err, sizeof err), 0);
    CU_ASSERT_EQUAL (coord_store_set_high_water (store, 1), 0);
    s_write (store, "before");
    /* a restart of etcd forgets its simple tokens: "invalid auth token",
     * then one new authenticate and the write lands                     */
    CU_ASSERT_EQUAL_FATAL (tpc_harness_etcd_cmd ("stop", s_etcd, NULL), 0);
    char again[512];
    CU_ASSERT_EQUAL_FATAL (tpc_harness_etcd_start (s_etcd, 1, again,
                                                   sizeof again), 0);
    s_reauths = 0;
    s_write (store, "after");
    CU_ASSERT_EQUAL (s_reauths, 1);
    coord_store_destroy (&store);
    CU_ASSERT_EQUAL_FATAL (s_open ("/t/auth/", s_auth (&f, "ca.pem", "anon",
                                                       "good.user"), &seen,
                                   &store, err, sizeof err), 0);
    CU_ASSERT_EQUAL (seen.n, 2);
    CU_ASSERT_STRING_EQUAL (seen.text[0], "before");
    CU_ASSERT_STRING_EQUAL (seen.text[1], "after");
    coord_store_destroy (&store);
}

static const tpc_test_case_t s_cases[] = {
    { "client_cert", test_client_cert },
    { "bad_tls", test_bad_tls },
    { "coordinator_ready", test_coordinator_ready },
    { "auth", test_auth },          /* last: auth stays on */
    { NULL, NULL }
};

int
main (void)
{
    const tpc_test_suite_t suites[] = {
        { "etcd_tls", s_setup, s_teardown, s_cases },
        { NULL, NULL, NULL, NULL }
    };
    return tpc_test_main ("test_etcd_tls", suites);
}
