/*  test_crash: crash points: configuration from the environment, pass
 *  counting, and what firing does (exit 99 with one stderr line, or stop
 *  and carry on after SIGCONT), observed from a forked child.              */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tpc_crash.h"
#include "tpc_error.h"
#include "tpc_test.h"

static void
s_env (const char *point, const char *at, const char *action)
{
    unsetenv ("TPC_CRASH_POINT");
    unsetenv ("TPC_CRASH_AT");
    unsetenv ("TPC_CRASH_ACTION");
    if (point)
        setenv ("TPC_CRASH_POINT", point, 1);
    if (at)
        setenv ("TPC_CRASH_AT", at, 1);
    if (action)
        setenv ("TPC_CRASH_ACTION", action, 1);
}

static void
test_points_listed (void)
{
    const char *const *p = tpc_crash_points ();
    size_t n = 0;
    for (; p[n]; n++)
        CU_ASSERT_EQUAL (tpc_crash_point_valid (p[n], NULL), 0);
    CU_ASSERT_EQUAL (n, 19);
    CU_ASSERT_EQUAL (tpc_crash_point_valid ("coord.precommit_logged",
                                            "coord."), 0);
    CU_ASSERT_EQUAL (tpc_crash_point_valid ("agent.after_precommit",
                                            "agent."), 0);
    CU_ASSERT_EQUAL (tpc_crash_point_valid ("coord.after_fsync", "coord."), 0);
    CU_ASSERT_EQUAL (tpc_crash_point_valid ("coord.after_fsync", "agent."),
                     TPC_EINVAL);
    CU_ASSERT_EQUAL (tpc_crash_point_valid ("agent.after_vote", "agent."), 0);
    CU_ASSERT_EQUAL (tpc_crash_point_valid ("coord.nowhere", NULL), TPC_EINVAL);
    CU_ASSERT_EQUAL (tpc_crash_point_valid (NULL, NULL), TPC_EINVAL);
}

static void
test_config_from_env (void)
{
    tpc_crash_config_t c;
    char err[512];
    if (!tpc_crash_compiled_in ()) {
        fprintf (stderr, "test_crash: built without --enable-crash-points: "
                 "the environment is ignored (configure with it; "
                 "scripts/test does)\n");
        CU_FAIL_FATAL ("crash points not compiled in");
    }
    s_env (NULL, NULL, NULL);
    CU_ASSERT_EQUAL (tpc_crash_config_from_env (&c, "coord.", err, sizeof err), 0);
    CU_ASSERT_PTR_NULL (c.point);
    s_env ("", "3", NULL);
    CU_ASSERT_EQUAL (tpc_crash_config_from_env (&c, "coord.", err, sizeof err), 0);
    CU_ASSERT_PTR_NULL (c.point);
    s_env ("coord.commit_sent", NULL, NULL);
    CU_ASSERT_EQUAL (tpc_crash_config_from_env (&c, "coord.", err, sizeof err), 0);
    CU_ASSERT_STRING_EQUAL (c.point, "coord.commit_sent");
    CU_ASSERT_EQUAL (c.at, 1);
    CU_ASSERT_EQUAL (c.action, TPC_CRASH_EXIT);
    s_env ("agent.after_work", "17", "stop");
    CU_ASSERT_EQUAL (tpc_crash_config_from_env (&c, "agent.", err, sizeof err), 0);
    CU_ASSERT_EQUAL (c.at, 17);
    CU_ASSERT_EQUAL (c.action, TPC_CRASH_STOP);
    /* another program's point: refused, with the valid names listed */
    CU_ASSERT_EQUAL (tpc_crash_config_from_env (&c, "coord.", err, sizeof err),
                     TPC_EINVAL);
    CU_ASSERT (strstr (err, "agent.after_work") != NULL);
    CU_ASSERT (strstr (err, "coord.before_end") != NULL);
    const char *bad_at[] = { "0", "-1", "x", "1x", "+2", "99999999999999999999" };
    for (size_t i = 0; i < sizeof bad_at / sizeof bad_at[0]; i++) {
        s_env ("coord.registered", bad_at[i], NULL);
        CU_ASSERT_EQUAL (tpc_crash_config_from_env (&c, "coord.", err, sizeof err),
                         TPC_EINVAL);
        CU_ASSERT (strstr (err, "TPC_CRASH_AT") != NULL);
    }
    s_env ("coord.registered", "2", "kill");
    CU_ASSERT_EQUAL (tpc_crash_config_from_env (&c, "coord.", err, sizeof err),
                     TPC_EINVAL);
    CU_ASSERT (strstr (err, "TPC_CRASH_ACTION") != NULL);
    s_env ("coord.typo", NULL, NULL);
    CU_ASSERT_EQUAL (tpc_crash_config_from_env (&c, NULL, NULL, 0), TPC_EINVAL);
    /* failsync: a *_sync point's fdatasyncs fail from the AT-th on; the
     * two go only together */
    s_env ("coord.log_sync", "3", "failsync");
    CU_ASSERT_EQUAL (tpc_crash_config_from_env (&c, "coord.", err, sizeof err), 0);
    CU_ASSERT_EQUAL (c.action, TPC_CRASH_FAILSYNC);
    tpc_crash_t *k = tpc_crash_new (&c);
    CU_ASSERT_EQUAL (tpc_crash_failsync_at (k, "coord.log_sync"), 3);
    CU_ASSERT_EQUAL (tpc_crash_failsync_at (k, "coord.after_fsync"), 0);
    tpc_crash_hit (k, "coord.log_sync");        /* no place: never exits */
    tpc_crash_destroy (&k);
    s_env ("coord.log_sync", NULL, NULL);
    CU_ASSERT_EQUAL (tpc_crash_config_from_env (&c, "coord.", err, sizeof err),
                     TPC_EINVAL);
    CU_ASSERT (strstr (err, "take failsync") != NULL);
    s_env ("coord.after_fsync", NULL, "failsync");
    CU_ASSERT_EQUAL (tpc_crash_config_from_env (&c, "coord.", err, sizeof err),
                     TPC_EINVAL);
    s_env (NULL, NULL, NULL);
    tpc_crash_t *none = tpc_crash_new (&c);
    CU_ASSERT_EQUAL (tpc_crash_failsync_at (none, "coord.log_sync"), 0);
    tpc_crash_destroy (&none);
}

static void
test_new_and_disarmed (void)
{
    tpc_crash_t *c = tpc_crash_new (NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL (c);
    CU_ASSERT_FALSE (tpc_crash_armed (c));
    for (int i = 0; i < 100; i++)
        tpc_crash_hit (c, "coord.registered");   /* never fires */
    CU_ASSERT_EQUAL (tpc_crash_passes (c), 0);
    tpc_crash_destroy (&c);
    CU_ASSERT_PTR_NULL (c);
    tpc_crash_destroy (&c);
    tpc_crash_hit (NULL, "coord.registered");
    CU_ASSERT_FALSE (tpc_crash_armed (NULL));
    tpc_crash_config_t bad = { .point = "coord.nope" };
    CU_ASSERT_PTR_NULL (tpc_crash_new (&bad));
    /* armed: other points do not count, the armed one does */
    tpc_crash_config_t cfg = { .point = "coord.before_end", .at = 5 };
    c = tpc_crash_new (&cfg);
    CU_ASSERT_PTR_NOT_NULL_FATAL (c);
    CU_ASSERT_TRUE (tpc_crash_armed (c));
    tpc_crash_hit (c, "coord.after_fsync");
    tpc_crash_hit (c, "coord.before_end");
    tpc_crash_hit (c, "coord.before_end");
    CU_ASSERT_EQUAL (tpc_crash_passes (c), 2);
    /* the shell may get ready for the pass that fires */
    tpc_crash_hit (c, "coord.before_end");
    CU_ASSERT_FALSE (tpc_crash_next_fires (c, "coord.before_end"));
    tpc_crash_hit (c, "coord.before_end");
    CU_ASSERT_TRUE (tpc_crash_next_fires (c, "coord.before_end"));
    CU_ASSERT_FALSE (tpc_crash_next_fires (c, "coord.after_fsync"));
    CU_ASSERT_FALSE (tpc_crash_next_fires (NULL, "coord.before_end"));
    tpc_crash_destroy (&c);
}

/*  Fork a child that hits POINT N times (armed by CFG) and then exits 0;
 *  its stderr goes to a pipe read into OUT.  Returns the wait status.    */
static int
s_child (const tpc_crash_config_t *cfg, const char *point, int n, bool cont,
         char *out, size_t size)
{
    int fds[2];
    if (pipe (fds))
        return -1;
    pid_t pid = fork ();
    if (pid == 0) {
        close (fds[0]);
        dup2 (fds[1], 2);
        tpc_crash_t *c = tpc_crash_new (cfg);
        for (int i = 0; i < n; i++)
            tpc_crash_hit (c, point);
        fprintf (stderr, "survived passes=%llu\n",
                 (unsigned long long) tpc_crash_passes (c));
        tpc_crash_destroy (&c);
        _exit (0);
    }
    close (fds[1]);
    int st = 0;
    waitpid (pid, &st, WUNTRACED);
    if (WIFSTOPPED (st) && cont) {
        kill (pid, SIGCONT);
        waitpid (pid, &st, 0);
    }
    else if (WIFSTOPPED (st)) {
        kill (pid, SIGKILL);
        kill (pid, SIGCONT);
        waitpid (pid, NULL, 0);
    }
    ssize_t len = read (fds[0], out, size - 1);
    out[len > 0 ? len : 0] = '\0';
    close (fds[0]);
    return st;
}

static void
test_fires_on_nth_pass (void)
{
    char out[512];
    tpc_crash_config_t cfg = { .point = "agent.after_vote", .at = 3 };
    int st = s_child (&cfg, "agent.after_vote", 10, false, out, sizeof out);
    CU_ASSERT (WIFEXITED (st) && WEXITSTATUS (st) == TPC_CRASH_EXIT_STATUS);
    CU_ASSERT_STRING_EQUAL (out, "tpc-crash: agent.after_vote pass 3\n");
    /* fewer passes than AT: never fires */
    st = s_child (&cfg, "agent.after_vote", 2, false, out, sizeof out);
    CU_ASSERT (WIFEXITED (st) && WEXITSTATUS (st) == 0);
    CU_ASSERT_STRING_EQUAL (out, "survived passes=2\n");
    /* AT 0 means 1 */
    tpc_crash_config_t first = { .point = "coord.registered" };
    st = s_child (&first, "coord.registered", 1, false, out, sizeof out);
    CU_ASSERT (WIFEXITED (st) && WEXITSTATUS (st) == TPC_CRASH_EXIT_STATUS);
    CU_ASSERT_STRING_EQUAL (out, "tpc-crash: coord.registered pass 1\n");
}

static void
test_stop_then_carry_on (void)
{
    char out[512];
    tpc_crash_config_t cfg = { .point = "agent.after_work", .at = 2,
                               .action = TPC_CRASH_STOP };
    int st = s_child (&cfg, "agent.after_work", 4, true, out, sizeof out);
    CU_ASSERT (WIFEXITED (st) && WEXITSTATUS (st) == 0);
    /* stopped once, at pass 2, then ran on: all 4 passes, no second stop */
    CU_ASSERT_STRING_EQUAL (out, "tpc-crash: agent.after_work pass 2 "
                                 "action=stop\nsurvived passes=4\n");
}

static const tpc_test_case_t s_cases[] = {
    { "points_listed", test_points_listed },
    { "config_from_env", test_config_from_env },
    { "new_and_disarmed", test_new_and_disarmed },
    { "fires_on_nth_pass", test_fires_on_nth_pass },
    { "stop_then_carry_on", test_stop_then_carry_on },
    { NULL, NULL }
};

int
main (void)
{
    const tpc_test_suite_t suites[] = {
        { "crash", NULL, NULL, s_cases },
        { NULL, NULL, NULL, NULL }
    };
    return tpc_test_main ("test_crash", suites);
}
