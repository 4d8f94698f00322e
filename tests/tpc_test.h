/*  tpc_test: the small harness every CUnit test program shares.
 *
 *  A test program lists its suites in a tpc_test_suite_t table and calls
 *  tpc_test_main(); it prints CUnit's run summary and exits with the number
 *  of failures (0 passes).  A test that needs PostgreSQL never skips: a
 *  missing server is a failure (see tests/tpc_harness.h).
 */
#ifndef TPC_TEST_H
#define TPC_TEST_H

#include <CUnit/CUnit.h>

typedef struct {
    const char *name;
    void (*fn) (void);
} tpc_test_case_t;

typedef struct {
    const char *name;
    int (*setup) (void);          /* may be NULL */
    int (*teardown) (void);       /* may be NULL */
    const tpc_test_case_t *cases; /* terminated by { NULL, NULL } */
} tpc_test_suite_t;

/*  Run SUITES (terminated by a suite with name NULL).  Honours the
 *  environment variables TPC_TEST_ONLY=<case name> to run one case and
 *  TPC_TEST_SKIP=<name>,<name>... to leave cases out (scripts/test skips
 *  the slowest under valgrind).
 *  Returns the process exit status: number of failures, capped at 255.  */
int tpc_test_main (const char *program, const tpc_test_suite_t *suites);

/*  A per-test temporary directory under $TMPDIR (or /tmp); the returned
 *  string is the caller's to free.  Removed by tpc_test_rmtree().        */
char *tpc_test_tmpdir (const char *tag);
void tpc_test_rmtree (const char *path);

#endif
