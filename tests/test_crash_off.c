/*  test_crash_off: a release build's crash points (common/tpc_crash.c
 *  compiled here without TPC_CRASH_POINTS, whatever configure said): the
 *  environment is ignored, a set TPC_CRASH_POINT gets one warning line.  */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tpc_crash.h"
#include "tpc_test.h"

/*  In a child with stderr to a pipe: set the crash variables (NULL =
 *  unset), call tpc_crash_config_from_env, print what it gave; its stderr
 *  into OUT.  Returns the child's wait status.                           */
static int
s_from_env (const char *point, const char *at, const char *action,
            char *out, size_t size)
{
    int fds[2];
    if (pipe (fds))
        return -1;
    pid_t pid = fork ();
    if (pid == 0) {
        close (fds[0]);
        dup2 (fds[1], 2);
        unsetenv ("TPC_CRASH_POINT");
        unsetenv ("TPC_CRASH_AT");
        unsetenv ("TPC_CRASH_ACTION");
        if (point)
            setenv ("TPC_CRASH_POINT", point, 1);
        if (at)
            setenv ("TPC_CRASH_AT", at, 1);
        if (action)
            setenv ("TPC_CRASH_ACTION", action, 1);
        tpc_crash_config_t cfg;
        char err[512];
        int rc = tpc_crash_config_from_env (&cfg, "coord.", err, sizeof err);
        tpc_crash_t *c = tpc_crash_new (&cfg);
        fprintf (stderr, "rc=%d armed=%d\n", rc, tpc_crash_armed (c));
        tpc_crash_hit (c, point ? point : "coord.registered");
        tpc_crash_destroy (&c);
        _exit (0);
    }
    close (fds[1]);
    int st = -1;
    waitpid (pid, &st, 0);
    size_t len = 0;
    ssize_t r;
    while (len < size - 1
           && (r = read (fds[0], out + len, size - 1 - len)) > 0)
        len += (size_t) r;
    out[len] = '\0';
    close (fds[0]);
    return st;
}

static void
test_not_compiled_in (void)
{
    CU_ASSERT_FALSE (tpc_crash_compiled_in ());
}

static void
test_env_ignored_with_one_warning (void)
{
    char out[1024];
    /* a point the program has, a bad AT and action: all ignored, it
     * starts, and passing the point does nothing */
    int st = s_from_env ("coord.registered", "x", "kill", out, sizeof out);
    CU_ASSERT (WIFEXITED (st) && WEXITSTATUS (st) == 0);
    const char *warn = ": TPC_CRASH_POINT=coord.registered: crash points are "
                       "not compiled in; ignored\n";
    const char *w = strstr (out, warn);
    CU_ASSERT_PTR_NOT_NULL (w);
    CU_ASSERT (w && strstr (w + 1, warn) == NULL);      /* once */
    CU_ASSERT (strstr (out, "rc=0 armed=0\n") != NULL);
    /* a name that is no point at all: still no error */
    st = s_from_env ("coord.nope", NULL, NULL, out, sizeof out);
    CU_ASSERT (WIFEXITED (st) && WEXITSTATUS (st) == 0);
    CU_ASSERT (strstr (out, "crash points are not compiled in; ignored")
               != NULL);
    CU_ASSERT (strstr (out, "rc=0 armed=0\n") != NULL);
    /* unset or empty: silent */
    st = s_from_env (NULL, "3", "stop", out, sizeof out);
    CU_ASSERT (WIFEXITED (st) && WEXITSTATUS (st) == 0);
    CU_ASSERT_STRING_EQUAL (out, "rc=0 armed=0\n");
    st = s_from_env ("", NULL, NULL, out, sizeof out);
    CU_ASSERT_STRING_EQUAL (out, "rc=0 armed=0\n");
}

static const tpc_test_case_t s_cases[] = {
    { "not_compiled_in", test_not_compiled_in },
    { "env_ignored_with_one_warning", test_env_ignored_with_one_warning },
    { NULL, NULL }
};

int
main (void)
{
    const tpc_test_suite_t suites[] = {
        { "crash_off", NULL, NULL, s_cases },
        { NULL, NULL, NULL, NULL }
    };
    return tpc_test_main ("test_crash_off", suites);
}
