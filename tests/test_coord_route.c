/*  test_coord_route: which agent-socket connection is which agent.  No
 *  peer may take another agent's connection over: with CURVE the name is
 *  the key's, a hello naming another agent is refused and changes
 *  nothing; a reconnected agent's hello replaces its stale connection;
 *  plain text binds an assigned routing id to its first hello's name.    */
#include <string.h>

#include "coord_route.h"
#include "tpc_error.h"
#include "tpc_test.h"

/*  Routing ids as the ROUTER assigns them: a zero byte and four more.   */
static const char R1[] = "\0\1\1\1\1", R2[] = "\0\2\2\2\2", R3[] = "\0\3\3\3\3";

static int
s_from (coord_route_t *r, const char *rid, size_t len, const char *user,
        const char *hello, char *name)
{
    char why[256];
    int rc = coord_route_from (r, rid, len, user, hello, NULL, 1000, name,
                               64, why, sizeof why);
    CU_ASSERT (rc == 0 ? !*why : *why != '\0');
    return rc;
}

/*  Agent NAME's connection is RID (LEN bytes).                           */
static bool
s_to_is (coord_route_t *r, const char *name, const char *rid, size_t len)
{
    size_t n = 0;
    const void *p = coord_route_to (r, name, &n);
    return p && n == len && !memcmp (p, rid, len);
}

static void
test_curve_hijack_refused (void)
{
    coord_route_t *r = coord_route_new (true, 3000);
    CU_ASSERT_PTR_NOT_NULL_FATAL (r);
    char name[64];
    CU_ASSERT_EQUAL (s_from (r, R1, 5, "agent:db1", "db1", name), 0);
    CU_ASSERT_STRING_EQUAL (name, "db1");
    CU_ASSERT (s_to_is (r, "db1", R1, 5));
    /* db2's key says hello as db1, from a routing id it chose as "db1" */
    CU_ASSERT_EQUAL (s_from (r, "db1", 3, "agent:db2", "db1", name),
                     TPC_EPERM);
    CU_ASSERT_EQUAL (s_from (r, R2, 5, "agent:db2", "db1", name), TPC_EPERM);
    CU_ASSERT (s_to_is (r, "db1", R1, 5));          /* nothing changed */
    size_t n;
    CU_ASSERT_PTR_NULL (coord_route_to (r, "db2", &n));
    /* its other messages speak for db2 (its key) and never move db1 */
    CU_ASSERT_EQUAL (s_from (r, "db1", 3, "agent:db2", NULL, name), 0);
    CU_ASSERT_STRING_EQUAL (name, "db2");
    CU_ASSERT (s_to_is (r, "db1", R1, 5));
    /* no agent key at all */
    CU_ASSERT_EQUAL (s_from (r, R3, 5, "client:app", NULL, name), TPC_EPERM);
    CU_ASSERT_EQUAL (s_from (r, R3, 5, NULL, "db1", name), TPC_EPERM);
    CU_ASSERT (s_to_is (r, "db1", R1, 5));
    coord_route_destroy (&r);
    coord_route_destroy (&r);
    CU_ASSERT_PTR_NULL (r);
}

static void
test_curve_reconnect_replaces (void)
{
    coord_route_t *r = coord_route_new (true, 3000);
    char name[64];
    CU_ASSERT_EQUAL (s_from (r, R1, 5, "agent:db1", "db1", name), 0);
    /* a late message on the stale connection does not move it back */
    CU_ASSERT_EQUAL (s_from (r, R2, 5, "agent:db1", "db1", name), 0);
    CU_ASSERT (s_to_is (r, "db1", R2, 5));
    CU_ASSERT_EQUAL (s_from (r, R1, 5, "agent:db1", NULL, name), 0);
    CU_ASSERT_STRING_EQUAL (name, "db1");
    CU_ASSERT (s_to_is (r, "db1", R2, 5));
    /* a first message that is no hello (coordinator restarted) maps */
    CU_ASSERT_EQUAL (s_from (r, R3, 5, "agent:db2", NULL, name), 0);
    CU_ASSERT (s_to_is (r, "db2", R3, 5));
    coord_route_destroy (&r);
}

/*  A coordinator stalled while an agent gave up on connection R1 and
 *  opened R2: R1's queued hellos are read after R2's.  They must not move
 *  the route back to the dead R1 (sends there fail); a fresh R3 does.    */
static void
test_late_hello_retired (void)
{
    for (int curve = 1; curve >= 0; curve--) {
        coord_route_t *r = coord_route_new (curve, 3000);
        const char *user = curve ? "agent:db1" : NULL;
        char name[64];
        CU_ASSERT_EQUAL (s_from (r, R1, 5, user, "db1", name), 0);
        CU_ASSERT_EQUAL (s_from (r, R2, 5, user, "db1", name), 0);
        CU_ASSERT (s_to_is (r, "db1", R2, 5));
        /* R1's leftover hellos: refused (not answered), route stays R2 */
        for (int i = 0; i < 3; i++) {
            CU_ASSERT_EQUAL (s_from (r, R1, 5, user, "db1", name),
                             TPC_ESTATE);
            CU_ASSERT (s_to_is (r, "db1", R2, 5));
        }
        /* a fresh connection moves it; R2 is retired in turn */
        CU_ASSERT_EQUAL (s_from (r, R3, 5, user, "db1", name), 0);
        CU_ASSERT_STRING_EQUAL (name, "db1");
        CU_ASSERT (s_to_is (r, "db1", R3, 5));
        CU_ASSERT_EQUAL (s_from (r, R2, 5, user, "db1", name), TPC_ESTATE);
        CU_ASSERT_EQUAL (s_from (r, R1, 5, user, "db1", name), TPC_ESTATE);
        CU_ASSERT (s_to_is (r, "db1", R3, 5));
        /* the live connection's hellos go on being accepted */
        CU_ASSERT_EQUAL (s_from (r, R3, 5, user, "db1", name), 0);
        CU_ASSERT (s_to_is (r, "db1", R3, 5));
        coord_route_destroy (&r);
    }
}

/*  The agent restarted: its old process's hello (old boot id) is read
 *  after the new one's.  It must not move the route, even on a connection
 *  never seen (beyond the retired ones): it is refused (the old process
 *  is told to stop); a newer boot id moves it.  (Here the first
 *  connection is silent when the second comes: t=1000 both, but R1 lost.) */
static void
test_late_hello_old_boot (void)
{
    coord_route_t *r = coord_route_new (true, 3000);
    char name[64], why[256];
    const char *u = "agent:db1";
    CU_ASSERT_EQUAL (coord_route_from (r, R1, 5, u, "db1", "b0071", 1000, name,
                                       sizeof name, why, sizeof why), 0);
    coord_route_lost (r, "db1");        /* the restart closed R1 */
    CU_ASSERT_EQUAL (coord_route_from (r, R2, 5, u, "db1", "b0072", 1000, name,
                                       sizeof name, why, sizeof why), 0);
    CU_ASSERT (s_to_is (r, "db1", R2, 5));
    CU_ASSERT_EQUAL (coord_route_from (r, R3, 5, u, "db1", "b0071", 1000, name,
                                       sizeof name, why, sizeof why),
                     TPC_EEXIST);
    CU_ASSERT (strstr (why, "was replaced by a newer process") != NULL);
    CU_ASSERT (s_to_is (r, "db1", R2, 5));
    /* the new incarnation relinks (same boot id, new connection) */
    CU_ASSERT_EQUAL (coord_route_from (r, R3, 5, u, "db1", "b0072", 1000, name,
                                       sizeof name, why, sizeof why), 0);
    CU_ASSERT (s_to_is (r, "db1", R3, 5));
    /* a hello without a boot id (an older agent) from a fresh connection */
    static const char R4[] = "\0\4\4\4\4";
    CU_ASSERT_EQUAL (coord_route_from (r, R4, 5, u, "db1", NULL, 1000, name,
                                       sizeof name, why, sizeof why), 0);
    CU_ASSERT (s_to_is (r, "db1", R4, 5));
    /* other messages on a retired connection still speak for db1 */
    CU_ASSERT_EQUAL (s_from (r, R1, 5, u, NULL, name), 0);
    CU_ASSERT_STRING_EQUAL (name, "db1");
    CU_ASSERT (s_to_is (r, "db1", R4, 5));
    coord_route_destroy (&r);
}

static void
test_plain (void)
{
    coord_route_t *r = coord_route_new (false, 3000);
    char name[64];
    /* an assigned routing id needs a hello first */
    CU_ASSERT_EQUAL (s_from (r, R1, 5, NULL, NULL, name), TPC_EINVAL);
    CU_ASSERT_EQUAL (s_from (r, R1, 5, NULL, "bad name!", name), TPC_EINVAL);
    CU_ASSERT_EQUAL (s_from (r, R1, 5, NULL, "a", name), 0);
    CU_ASSERT_STRING_EQUAL (name, "a");
    CU_ASSERT_EQUAL (s_from (r, R1, 5, NULL, NULL, name), 0);
    CU_ASSERT_STRING_EQUAL (name, "a");
    /* a connection keeps the name of its first hello */
    CU_ASSERT_EQUAL (s_from (r, R1, 5, NULL, "b", name), 0);
    CU_ASSERT_STRING_EQUAL (name, "a");
    size_t n;
    CU_ASSERT_PTR_NULL (coord_route_to (r, "b", &n));
    /* a reconnected: the new connection replaces the old, which forgets
     * its name */
    CU_ASSERT_EQUAL (s_from (r, R2, 5, NULL, "a", name), 0);
    CU_ASSERT (s_to_is (r, "a", R2, 5));
    CU_ASSERT_EQUAL (s_from (r, R1, 5, NULL, NULL, name), TPC_EINVAL);
    /* a routing id the peer chose as a name (scripted test agents) */
    CU_ASSERT_EQUAL (s_from (r, "fake1", 5, NULL, NULL, name), 0);
    CU_ASSERT_STRING_EQUAL (name, "fake1");
    CU_ASSERT (s_to_is (r, "fake1", "fake1", 5));
    CU_ASSERT_EQUAL (s_from (r, "", 0, NULL, "a", name), TPC_EINVAL);
    coord_route_destroy (&r);
}

/*  Issue 20 item 9: two live processes with one name.  The second's
 *  hello (another boot id, another connection) is refused while the
 *  first is live (heard within live_ms); the first keeps the route.  A
 *  restart is not refused: the old connection gone (coord_route_lost), or
 *  silent for live_ms.  Then the old boot id is refused in turn.         */
static void
test_duplicate_name (void)
{
    for (int curve = 1; curve >= 0; curve--) {
        coord_route_t *r = coord_route_new (curve, 3000);
        const char *u = curve ? "agent:db2" : NULL;
        char name[64], why[256];
        CU_ASSERT_EQUAL (coord_route_from (r, R1, 5, u, "db2", "aaaa", 1000,
                                           name, 64, why, sizeof why), 0);
        CU_ASSERT_EQUAL (coord_route_from (r, R1, 5, u, NULL, NULL, 2000,
                                           name, 64, why, sizeof why), 0);
        /* a second process: refused, loudly, nothing moves */
        CU_ASSERT_EQUAL (coord_route_from (r, R2, 5, u, "db2", "bbbb", 4500,
                                           name, 64, why, sizeof why),
                         TPC_EBUSY);
        CU_ASSERT (strstr (why, "two agents say they are 'db2' (boot ids "
                           "aaaa and bbbb)") != NULL);
        CU_ASSERT_STRING_EQUAL (name, "db2");
        CU_ASSERT (s_to_is (r, "db2", R1, 5));
        /* the first goes on */
        CU_ASSERT_EQUAL (coord_route_from (r, R1, 5, u, "db2", "aaaa", 4600,
                                           name, 64, why, sizeof why), 0);
        CU_ASSERT (s_to_is (r, "db2", R1, 5));
        /* silent for live_ms: the newer one takes the name; the old boot
         * id is then refused as replaced */
        CU_ASSERT_EQUAL (coord_route_from (r, R2, 5, u, "db2", "bbbb", 7600,
                                           name, 64, why, sizeof why), 0);
        CU_ASSERT (s_to_is (r, "db2", R2, 5));
        CU_ASSERT_EQUAL (coord_route_from (r, R3, 5, u, "db2", "aaaa", 7700,
                                           name, 64, why, sizeof why),
                         TPC_EEXIST);
        CU_ASSERT (strstr (why, "was replaced") != NULL);
        CU_ASSERT (s_to_is (r, "db2", R2, 5));
        /* a restart whose old connection is gone: accepted at once */
        static const char R4[] = "\0\4\4\4\4";
        CU_ASSERT_EQUAL (coord_route_from (r, R4, 5, u, "db2", "cccc", 7800,
                                           name, 64, why, sizeof why),
                         TPC_EBUSY);
        coord_route_lost (r, "db2");
        CU_ASSERT_EQUAL (coord_route_from (r, R4, 5, u, "db2", "cccc", 7800,
                                           name, 64, why, sizeof why), 0);
        CU_ASSERT (s_to_is (r, "db2", R4, 5));
        /* the same process relinking (same boot id) is no duplicate */
        static const char R5[] = "\0\5\5\5\5";
        CU_ASSERT_EQUAL (coord_route_from (r, R5, 5, u, "db2", "cccc", 7900,
                                           name, 64, why, sizeof why), 0);
        CU_ASSERT (s_to_is (r, "db2", R5, 5));
        coord_route_destroy (&r);
    }
}

static const tpc_test_case_t s_cases[] = {
    { "duplicate_name", test_duplicate_name },
    { "curve_hijack_refused", test_curve_hijack_refused },
    { "curve_reconnect_replaces", test_curve_reconnect_replaces },
    { "late_hello_retired", test_late_hello_retired },
    { "late_hello_old_boot", test_late_hello_old_boot },
    { "plain", test_plain },
    { NULL, NULL }
};

int
main (void)
{
    const tpc_test_suite_t suites[] = {
        { "coord_route", NULL, NULL, s_cases },
        { NULL, NULL, NULL, NULL }
    };
    return tpc_test_main ("test_coord_route", suites);
}
