/*  tpc_test: shared CUnit runner and temp-dir helpers (see tpc_test.h).   */
#include "tpc_test.h"

#include <CUnit/Basic.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*  True if NAME is one of the comma-separated names in LIST.            */
static int
s_listed (const char *list, const char *name)
{
    size_t n = strlen (name);
    while (list && *list) {
        size_t len = strcspn (list, ",");
        if (len == n && !strncmp (list, name, n))
            return 1;
        list += len + (list[len] == ',');
    }
    return 0;
}

int
tpc_test_main (const char *program, const tpc_test_suite_t *suites)
{
    if (CU_initialize_registry () != CUE_SUCCESS) {
        fprintf (stderr, "%s: cannot initialise CUnit\n", program);
        return 255;
    }
    const char *only = getenv ("TPC_TEST_ONLY");
    for (const tpc_test_suite_t *s = suites; s->name; s++) {
        CU_pSuite suite = CU_add_suite (s->name, s->setup, s->teardown);
        if (!suite)
            goto fail;
        for (const tpc_test_case_t *c = s->cases; c->name; c++) {
            if (only && *only && strcmp (only, c->name))
                continue;
            if (s_listed (getenv ("TPC_TEST_SKIP"), c->name))
                continue;
            if (!CU_add_test (suite, c->name, c->fn))
                goto fail;
        }
    }
    CU_basic_set_mode (CU_BRM_VERBOSE);
    CU_basic_run_tests ();
    unsigned failed = CU_get_number_of_failures ()
                      + CU_get_number_of_suites_failed ();
    unsigned ran = CU_get_number_of_tests_run ();
    CU_cleanup_registry ();
    printf ("%s: %u tests run, %u failures\n", program, ran, failed);
    if (ran == 0) {
        fprintf (stderr, "%s: no test ran\n", program);
        return 1;
    }
    return failed > 255 ? 255 : (int) failed;
fail:
    fprintf (stderr, "%s: cannot register tests: %s\n", program,
             CU_get_error_msg ());
    CU_cleanup_registry ();
    return 255;
}

char *
tpc_test_tmpdir (const char *tag)
{
    const char *base = getenv ("TMPDIR");
    if (!base || !*base)
        base = "/tmp";
    size_t n = strlen (base) + strlen (tag) + 32;
    char *path = malloc (n);
    if (!path)
        return NULL;
    snprintf (path, n, "%s/tpc-%s-XXXXXX", base, tag);
    if (!mkdtemp (path)) {
        free (path);
        return NULL;
    }
    return path;
}

static int
s_rm (const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void) sb; (void) flag; (void) ftw;
    return remove (path);
}

void
tpc_test_rmtree (const char *path)
{
    if (path && *path)
        nftw (path, s_rm, 16, FTW_DEPTH | FTW_PHYS);
}
