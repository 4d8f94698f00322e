/*  old_abi: a program as built against libtpc 1.0 / 1.1, whose
 *  tpc_client_opts_t ended after zmq_context (no connect_timeout_ms).
 *
 *  Its tpc_client_new is bound to tpc_client_new@LIBTPC_1 (as the linker
 *  bound it then), and what lies after its struct in memory is -1: a
 *  library that read past the old struct would take it for a negative
 *  connect timeout and refuse the options.  Run with an endpoint where
 *  nothing listens, it must get a client and, on the first call,
 *  TPC_CLIENT_ECONNECT "within 2000 ms" (the default connect timeout).
 *  Exit 0 when so.  tests/install/test_install.sh builds and runs it.
 */
#include <stdio.h>
#include <string.h>

#include <tpc_client.h>

typedef struct {
    int timeout_ms;
    size_t max_msg_size;
    const char *curve_secret_file;
    const char *curve_server_file;
    void *zmq_context;
} opts_1_1_t;

tpc_client_t *old_client_new (const char *endpoint, const opts_1_1_t *opts);
__asm__ (".symver old_client_new, tpc_client_new@LIBTPC_1");

int
main (int argc, char **argv)
{
    if (argc != 2) {
        fprintf (stderr, "usage: old_abi DEAD_ENDPOINT\n");
        return 2;
    }
    struct {
        opts_1_1_t opts;
        int after[4];           /* what a new library must not read */
    } mem;
    memset (&mem, 0, sizeof mem);
    mem.opts.timeout_ms = 30000;
    memset (mem.after, 0xff, sizeof mem.after);
    tpc_client_t *c = old_client_new (argv[1], &mem.opts);
    if (!c) {
        perror ("old_abi: tpc_client_new@LIBTPC_1");
        return 1;
    }
    tpc_client_outcome_t outcome;
    int rc = tpc_status (c, "tpc_c1_1_1", &outcome, NULL, 0);
    printf ("old_abi: %s: %s\n", tpc_client_strerror (rc),
            tpc_client_errmsg (c));
    int ok = rc == TPC_CLIENT_ECONNECT
             && strstr (tpc_client_errmsg (c), "within 2000 ms") != NULL;
    tpc_client_destroy (&c);
    return ok ? 0 : 1;
}
