/*  test_msg: the wire codec (tpc_msg).
 *
 *  Round trip of every message type, full and with only its required
 *  fields (encode, decode, compare member by member, re-encode to the same
 *  bytes); a table of malformed inputs, each with the one code it must
 *  get; input with no NUL terminator, placed against an unmapped page so
 *  any read past LEN faults; a seeded random-mutation loop; and the seed
 *  corpus under tests/corpus/msg/ (one canonical file per type).
 *
 *  TPC_MSG_MUTATIONS=<n> changes the number of mutations (default
 *  200000); TPC_MSG_WRITE_CORPUS=<dir> rewrites the corpus files there.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tpc_error.h"
#include "tpc_gid.h"
#include "tpc_msg.h"
#include "tpc_test.h"

#define G1 "tpc_coordA_1_42"
#define G2 "tpc_c2_7_9007199254740991"
#define U53_MAX 9007199254740991ULL

/*  ------------------------------------------------------------------
 *  Building sample messages.                                           */

static const char *const s_params[] = {
    "1", NULL, "multi\nline \"quoted\" \\ back/slash\t\x01",
    "\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", ""
};
#define NPARAMS (sizeof s_params / sizeof s_params[0])

static void
s_ok (int rc)
{
    CU_ASSERT_EQUAL_FATAL (rc, 0);
}

/*  A message of TYPE with every field set (FULL) or only required ones.  */
static tpc_msg_t *
s_make (tpc_msg_type_t type, bool full)
{
    tpc_msg_t *m = tpc_msg_new (type);
    CU_ASSERT_PTR_NOT_NULL_FATAL (m);
    m->rid = full ? U53_MAX : 7;
    switch (type) {
    case TPC_MSG_BEGIN:
        if (full) {
            m->timeout_ms = 5000;
            m->protocol = TPC_PROTO_3PC;
            m->has_protocol = true;
        }
        break;
    case TPC_MSG_EXEC:
        s_ok (tpc_msg_set_str (&m->gid, G1));
        s_ok (tpc_msg_set_str (&m->on, "bank_a"));
        s_ok (tpc_msg_set_str (&m->sql, "UPDATE acct SET bal = bal + $1"));
        for (size_t i = 0; full && i < NPARAMS; i++)
            s_ok (tpc_msg_strv_push (&m->params, &m->nparams, s_params[i]));
        break;
    case TPC_MSG_COMMIT: case TPC_MSG_ROLLBACK: case TPC_MSG_STATUS:
    case TPC_MSG_BEGUN:
        s_ok (tpc_msg_set_str (&m->gid, full ? G2 : G1));
        break;
    case TPC_MSG_SUBMIT:
        s_ok (tpc_msg_add_stmt (m, "bank_a", "UPDATE a SET x = 1", 0, NULL));
        if (full) {
            s_ok (tpc_msg_add_stmt (m, "bank_b", "INSERT INTO t VALUES ($1,$2)",
                                    NPARAMS, s_params));
            m->timeout_ms = 250;
            m->protocol = TPC_PROTO_2PC;
            m->has_protocol = true;
        }
        break;
    case TPC_MSG_LIST:
        break;
    case TPC_MSG_RESULT:
        s_ok (tpc_msg_set_str (&m->gid, G1));
        if (full) {
            const char *cols[] = { "id", "name" };
            const char *cells[] = { "1", "ann", "2", NULL, "3", "\xc3\xa9" };
            s_ok (tpc_msg_set_rows (m, 2, cols, 3, cells));
            m->has_result = false;      /* not a member of "result" */
            m->affected = 3;
        }
        else
            m->affected = -1;
        break;
    case TPC_MSG_OUTCOME:
        s_ok (tpc_msg_set_str (&m->gid, G1));
        m->outcome = full ? TPC_OUTCOME_ABORTED : TPC_OUTCOME_COMMITTED;
        if (full)
            s_ok (tpc_msg_set_str (&m->reason, "bank_b voted no: "
                                   "insufficient funds"));
        break;
    case TPC_MSG_TXSTATUS:
        s_ok (tpc_msg_set_str (&m->gid, G1));
        s_ok (tpc_msg_set_str (&m->state, "preparing"));
        m->outcome = TPC_OUTCOME_IN_PROGRESS;
        break;
    case TPC_MSG_TXLIST:
        if (full) {
            m->txns = calloc (2, sizeof *m->txns);
            CU_ASSERT_PTR_NOT_NULL_FATAL (m->txns);
            m->ntxns = 2;
            s_ok (tpc_msg_set_str (&m->txns[0].gid, G1));
            s_ok (tpc_msg_set_str (&m->txns[0].state, "active"));
            m->txns[0].age_ms = 12;
            s_ok (tpc_msg_strv_push (&m->txns[0].parts, &m->txns[0].nparts,
                                     "bank_a"));
            s_ok (tpc_msg_strv_push (&m->txns[0].parts, &m->txns[0].nparts,
                                     "bank_b"));
            s_ok (tpc_msg_set_str (&m->txns[1].gid, G2));
            s_ok (tpc_msg_set_str (&m->txns[1].state, "committing"));
            m->txns[1].age_ms = U53_MAX;
        }
        break;
    case TPC_MSG_ERROR:
        m->code = full ? TPC_EUNKNOWN_GID : TPC_EMSG_BAD_GID;
        s_ok (tpc_msg_set_str (&m->message, "unknown transaction id"));
        if (full)
            s_ok (tpc_msg_set_str (&m->gid, G2));
        break;
    case TPC_MSG_HELLO:
        s_ok (tpc_msg_set_str (&m->name, "bank_a"));
        if (full) {
            s_ok (tpc_msg_strv_push (&m->gids, &m->ngids, G1));
            s_ok (tpc_msg_strv_push (&m->gids, &m->ngids, G2));
            s_ok (tpc_msg_set_str (&m->peer, "tcp://10.0.0.1:7001"));
            s_ok (tpc_msg_set_str (&m->boot, "9e3779b97f4a7c15"));
        }
        break;
    case TPC_MSG_WORKED:
        s_ok (tpc_msg_set_str (&m->gid, G1));
        m->seq = full ? U53_MAX : 0;
        m->ok = full;
        if (full) {
            const char *cols[] = { "bal" };
            const char *cells[] = { "100", NULL };
            s_ok (tpc_msg_set_rows (m, 1, cols, 2, cells));
            m->affected = 0;
            s_ok (tpc_msg_set_str (&m->reason, "ok"));
        }
        break;
    case TPC_MSG_VOTE:
        s_ok (tpc_msg_set_str (&m->gid, G1));
        m->vote = full ? TPC_VOTE_READONLY : TPC_VOTE_NO;
        if (full)
            s_ok (tpc_msg_set_str (&m->reason, "nothing written"));
        break;
    case TPC_MSG_ACK:
        s_ok (tpc_msg_set_str (&m->gid, G1));
        m->outcome = TPC_OUTCOME_ABORTED;
        if (full)
            s_ok (tpc_msg_set_str (&m->reason, "rolled back"));
        break;
    case TPC_MSG_QUERY:
    case TPC_MSG_OUTCOME_OF:
        s_ok (tpc_msg_set_str (&m->gid, G2));
        break;
    case TPC_MSG_CLUSTER:
        break;
    case TPC_MSG_CLUSTERINFO:
        s_ok (tpc_msg_set_str (&m->role, full ? "follower" : "single"));
        if (full) {
            s_ok (tpc_msg_set_str (&m->member, "host-42"));
            s_ok (tpc_msg_set_str (&m->leader, "tcp://127.0.0.1:7400"));
            m->epoch = 3;
            m->lease_ttl_ms = 2000;
            m->lease_left_ms = 1500;
            m->revision = 77;
        }
        break;
    case TPC_MSG_KNOWN:
        s_ok (tpc_msg_set_str (&m->gid, G1));
        m->p3 = full ? TPC_P3_COMMITTED : TPC_P3_UNKNOWN;
        break;
    case TPC_MSG_PRECOMMIT: case TPC_MSG_GETSTATE:
        s_ok (tpc_msg_set_str (&m->gid, G2));
        m->seq = full ? 3 : 0;
        if (full)                       /* the asking agent (peer link) */
            s_ok (tpc_msg_set_str (&m->name, "bank_a"));
        break;
    case TPC_MSG_PREPARE:
        s_ok (tpc_msg_set_str (&m->gid, G2));
        if (full) {
            m->protocol = TPC_PROTO_3PC;
            m->has_protocol = true;
            s_ok (tpc_msg_strv_push (&m->parts, &m->nparts, "a"));
            s_ok (tpc_msg_strv_push (&m->parts, &m->nparts, "b"));
            s_ok (tpc_msg_strv_push (&m->peers, &m->npeers, "tcp://h:1"));
            s_ok (tpc_msg_strv_push (&m->peers, &m->npeers, ""));
        }
        break;
    case TPC_MSG_STATE:
        s_ok (tpc_msg_set_str (&m->gid, G1));
        m->p3 = full ? TPC_P3_PRECOMMITTED : TPC_P3_UNKNOWN;
        m->seq = full ? 3 : 0;
        break;
    case TPC_MSG_WORK:
        s_ok (tpc_msg_set_str (&m->gid, G1));
        m->seq = 3;
        m->then = full ? TPC_THEN_COMMIT : TPC_THEN_NONE;
        if (full) {
            s_ok (tpc_msg_add_stmt (m, NULL, "SELECT $1, $2", 2, s_params));
            s_ok (tpc_msg_add_stmt (m, NULL, "SELECT 1", 0, NULL));
        }
        break;
    case TPC_MSG_DECIDE:
        s_ok (tpc_msg_set_str (&m->gid, G1));
        m->outcome = full ? TPC_OUTCOME_ABORTED : TPC_OUTCOME_COMMITTED;
        if (full)
            s_ok (tpc_msg_set_str (&m->name, "bank_a"));
        break;
    case TPC_MSG_ANSWER:
        s_ok (tpc_msg_set_str (&m->gid, G1));
        m->outcome = full ? TPC_OUTCOME_IN_PROGRESS : TPC_OUTCOME_COMMITTED;
        break;
    case TPC_MSG_RESOLVE:
        s_ok (tpc_msg_set_str (&m->gid, full ? G2 : G1));
        m->outcome = full ? TPC_OUTCOME_ABORTED : TPC_OUTCOME_COMMITTED;
        if (full)
            s_ok (tpc_msg_set_str (&m->reason, "db2 restored from backup"));
        break;
    case TPC_MSG_SUMMARY:
        break;
    case TPC_MSG_TXSUMMARY:
        m->in_flight = full ? U53_MAX : 0;
        m->in_doubt = full ? 3 : 0;
        m->committed = full ? 1000 : 0;
        m->aborted = full ? 7 : 0;
        m->heuristic = full ? 1 : 0;
        m->oldest_ms = full ? 65000 : 0;
        if (full) {
            s_ok (tpc_msg_strv_push (&m->agents, &m->nagents, "bank_a"));
            s_ok (tpc_msg_strv_push (&m->agents, &m->nagents, "bank-b"));
        }
        break;
    case TPC_MSG_PRECOMMITS:
        if (full) {
            s_ok (tpc_msg_strv_push (&m->gids, &m->ngids, G1));
            s_ok (tpc_msg_strv_push (&m->gids, &m->ngids, G2));
        }
        break;
    case TPC_MSG_DECIDES: case TPC_MSG_ACKS:     /* both lists optional */
        if (full) {
            s_ok (tpc_msg_strv_push (&m->commits, &m->ncommits, G1));
            s_ok (tpc_msg_strv_push (&m->commits, &m->ncommits, G2));
            s_ok (tpc_msg_strv_push (&m->aborts, &m->naborts,
                                     "tpc_coordA_1_43"));
        }
        break;
    default:
        CU_FAIL_FATAL ("no sample for this type");
    }
    /* rid belongs to client messages only; agent messages have none */
    if ((type >= TPC_MSG_HELLO && type <= TPC_MSG_ANSWER)
        || type >= TPC_MSG_PRECOMMIT)
        m->rid = 0;
    return m;
}

/*  ------------------------------------------------------------------
 *  Comparing messages member by member.                                */

static bool
s_streq (const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp (a, b));
}

static bool
s_strveq (char **a, size_t na, char **b, size_t nb)
{
    if (na != nb)
        return false;
    for (size_t i = 0; i < na; i++)
        if (!s_streq (a[i], b[i]))
            return false;
    return true;
}

/*  NULL if A and B agree in every member, else the first that differs.  */
static const char *
s_diff (const tpc_msg_t *a, const tpc_msg_t *b)
{
#define SAME(cond, what) do { if (!(cond)) return what; } while (0)
    SAME (a->type == b->type, "type");
    SAME (a->rid == b->rid, "rid");
    SAME (s_streq (a->gid, b->gid), "gid");
    SAME (s_streq (a->name, b->name), "name");
    SAME (s_streq (a->peer, b->peer), "peer");
    SAME (s_streq (a->boot, b->boot), "boot");
    SAME (s_strveq (a->parts, a->nparts, b->parts, b->nparts), "parts");
    SAME (s_strveq (a->peers, a->npeers, b->peers, b->npeers), "peers");
    SAME (a->p3 == b->p3, "p3");
    SAME (s_streq (a->on, b->on), "on");
    SAME (s_streq (a->sql, b->sql), "sql");
    SAME (s_strveq (a->params, a->nparams, b->params, b->nparams), "params");
    SAME (a->timeout_ms == b->timeout_ms, "timeout_ms");
    SAME (a->protocol == b->protocol, "protocol");
    SAME (a->has_protocol == b->has_protocol, "has_protocol");
    SAME (a->nstmts == b->nstmts, "nstmts");
    for (size_t i = 0; i < a->nstmts; i++) {
        SAME (s_streq (a->stmts[i].on, b->stmts[i].on), "stmts.on");
        SAME (s_streq (a->stmts[i].sql, b->stmts[i].sql), "stmts.sql");
        SAME (s_strveq (a->stmts[i].params, a->stmts[i].nparams,
                        b->stmts[i].params, b->stmts[i].nparams),
              "stmts.params");
    }
    SAME (a->seq == b->seq, "seq");
    SAME (a->then == b->then, "then");
    SAME (a->ok == b->ok, "ok");
    SAME (s_strveq (a->columns, a->ncolumns, b->columns, b->ncolumns),
          "columns");
    SAME (a->nrows == b->nrows, "nrows");
    SAME (s_strveq (a->cells, a->nrows * a->ncolumns, b->cells,
                    b->nrows * b->ncolumns), "cells");
    SAME (a->affected == b->affected, "affected");
    SAME (a->has_result == b->has_result, "has_result");
    SAME (a->vote == b->vote, "vote");
    SAME (a->outcome == b->outcome, "outcome");
    SAME (s_streq (a->reason, b->reason), "reason");
    SAME (s_streq (a->state, b->state), "state");
    SAME (a->code == b->code, "code");
    SAME (s_streq (a->message, b->message), "message");
    SAME (s_streq (a->role, b->role), "role");
    SAME (s_streq (a->member, b->member), "member");
    SAME (s_streq (a->leader, b->leader), "leader");
    SAME (a->epoch == b->epoch && a->lease_ttl_ms == b->lease_ttl_ms
          && a->lease_left_ms == b->lease_left_ms
          && a->revision == b->revision, "clusterinfo counts");
    SAME (s_strveq (a->gids, a->ngids, b->gids, b->ngids), "gids");
    SAME (a->ntxns == b->ntxns, "ntxns");
    for (size_t i = 0; i < a->ntxns; i++) {
        SAME (s_streq (a->txns[i].gid, b->txns[i].gid), "txns.gid");
        SAME (s_streq (a->txns[i].state, b->txns[i].state), "txns.state");
        SAME (a->txns[i].age_ms == b->txns[i].age_ms, "txns.age_ms");
        SAME (s_strveq (a->txns[i].parts, a->txns[i].nparts,
                        b->txns[i].parts, b->txns[i].nparts), "txns.parts");
    }
    SAME (a->in_flight == b->in_flight, "in_flight");
    SAME (a->in_doubt == b->in_doubt, "in_doubt");
    SAME (a->committed == b->committed, "committed");
    SAME (a->aborted == b->aborted, "aborted");
    SAME (a->heuristic == b->heuristic, "heuristic");
    SAME (a->oldest_ms == b->oldest_ms, "oldest_ms");
    SAME (s_strveq (a->agents, a->nagents, b->agents, b->nagents), "agents");
    SAME (s_strveq (a->commits, a->ncommits, b->commits, b->ncommits),
          "commits");
    SAME (s_strveq (a->aborts, a->naborts, b->aborts, b->naborts), "aborts");
    return NULL;
#undef SAME
}

static bool
s_is_msg_code (int rc)
{
    return rc <= TPC_EMSG_TOO_BIG && rc >= TPC_EMSG_BAD_GID;
}

/*  Decode LEN bytes at P with default limits; returns the code.          */
static int
s_decode (const void *p, size_t len, tpc_msg_t **out, char *err, size_t errlen)
{
    return tpc_msg_decode (p, len, NULL, out, err, errlen);
}

/*  ------------------------------------------------------------------
 *  Round trips.                                                        */

static void
s_round_trip (tpc_msg_type_t t, bool full)
{
    tpc_msg_t *m = s_make (t, full), *back = NULL, *again = NULL;
    char *json = NULL, *json2 = NULL, err[256];
    size_t len = 0, len2 = 0;
    int rc = tpc_msg_encode (m, &json, &len);
    CU_ASSERT_EQUAL (rc, 0);
    if (rc) {
        fprintf (stderr, "encode %s (%s): %s\n", tpc_msg_type_name (t),
                 full ? "full" : "required", tpc_errname (rc));
        goto cleanup;
    }
    CU_ASSERT_EQUAL (strlen (json), len);
    rc = s_decode (json, len, &back, err, sizeof err);
    CU_ASSERT_EQUAL (rc, 0);
    if (rc) {
        fprintf (stderr, "decode %s: %s: %s\n", json, tpc_errname (rc), err);
        goto cleanup;
    }
    const char *diff = s_diff (m, back);
    CU_ASSERT_PTR_NULL (diff);
    if (diff)
        fprintf (stderr, "%s (%s): member %s differs after round trip\n",
                 tpc_msg_type_name (t), full ? "full" : "required", diff);
    CU_ASSERT_EQUAL (tpc_msg_encode (back, &json2, &len2), 0);
    CU_ASSERT_EQUAL (len2, len);
    CU_ASSERT (json2 && memcmp (json, json2, len) == 0);
    /* a decoded message decodes again to the same (idempotent) */
    CU_ASSERT_EQUAL (s_decode (json2, len2, &again, NULL, 0), 0);
    CU_ASSERT (again && s_diff (back, again) == NULL);
cleanup:
    free (json);
    free (json2);
    tpc_msg_destroy (&m);
    tpc_msg_destroy (&back);
    tpc_msg_destroy (&again);
}

static void
test_round_trip_all (void)
{
    for (int t = TPC_MSG_NONE + 1; t < TPC_MSG_TYPE_COUNT; t++) {
        s_round_trip ((tpc_msg_type_t) t, true);
        s_round_trip ((tpc_msg_type_t) t, false);
    }
}

/*  The exact bytes of a few encodings: field order, optional rules.      */
static void
test_encode_bytes (void)
{
    struct { tpc_msg_type_t t; bool full; const char *json; } want[] = {
        { TPC_MSG_BEGIN, false, "{\"v\":1,\"type\":\"begin\",\"rid\":7}" },
        { TPC_MSG_BEGIN, true, "{\"v\":1,\"type\":\"begin\","
          "\"rid\":9007199254740991,\"timeout_ms\":5000,\"protocol\":\"3pc\"}" },
        { TPC_MSG_COMMIT, false, "{\"v\":1,\"type\":\"commit\",\"rid\":7,"
          "\"gid\":\"" G1 "\"}" },
        { TPC_MSG_WORKED, false, "{\"v\":1,\"type\":\"worked\",\"gid\":\"" G1
          "\",\"seq\":0,\"ok\":false}" },
        { TPC_MSG_WORKED, true, "{\"v\":1,\"type\":\"worked\",\"gid\":\"" G1
          "\",\"seq\":9007199254740991,\"ok\":true,\"columns\":[\"bal\"],"
          "\"rows\":[[\"100\"],[null]],\"affected\":0,\"reason\":\"ok\"}" },
        { TPC_MSG_RESULT, false, "{\"v\":1,\"type\":\"result\",\"rid\":7,"
          "\"gid\":\"" G1 "\",\"columns\":[],\"rows\":[],\"affected\":-1}" },
        { TPC_MSG_ERROR, false, "{\"v\":1,\"type\":\"error\",\"rid\":7,"
          "\"code\":-113,\"message\":\"unknown transaction id\"}" },
        { TPC_MSG_WORK, false, "{\"v\":1,\"type\":\"work\",\"gid\":\"" G1
          "\",\"seq\":3,\"stmts\":[],\"then\":\"none\"}" },
        { TPC_MSG_TXLIST, false, "{\"v\":1,\"type\":\"txlist\",\"rid\":7,"
          "\"txns\":[]}" },
        { TPC_MSG_RESOLVE, false, "{\"v\":1,\"type\":\"resolve\",\"rid\":7,"
          "\"gid\":\"" G1 "\",\"outcome\":\"committed\"}" },
        { TPC_MSG_TXSUMMARY, false, "{\"v\":1,\"type\":\"txsummary\","
          "\"rid\":7,\"in_flight\":0,\"in_doubt\":0,\"committed\":0,"
          "\"aborted\":0,\"heuristic\":0,\"oldest_ms\":0,\"agents\":[]}" },
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        tpc_msg_t *m = s_make (want[i].t, want[i].full);
        char *json = NULL;
        size_t len;
        CU_ASSERT_EQUAL (tpc_msg_encode (m, &json, &len), 0);
        CU_ASSERT (json && strcmp (json, want[i].json) == 0);
        if (json && strcmp (json, want[i].json))
            fprintf (stderr, "got  %s\nwant %s\n", json, want[i].json);
        free (json);
        tpc_msg_destroy (&m);
    }
}

/*  What the encoder refuses.                                             */
static void
test_encode_refuses (void)
{
    char *json = NULL;
    size_t len = 0;
    tpc_msg_t *m;

#define REFUSE(type, full, change) do {                                  \
        m = s_make (type, full);                                         \
        change;                                                          \
        CU_ASSERT_EQUAL (tpc_msg_encode (m, &json, &len), TPC_EINVAL);   \
        CU_ASSERT_PTR_NULL (json);                                       \
        tpc_msg_destroy (&m);                                            \
    } while (0)

    REFUSE (TPC_MSG_COMMIT, false, tpc_msg_set_str (&m->gid, NULL));
    REFUSE (TPC_MSG_COMMIT, false, tpc_msg_set_str (&m->gid, "tpc_x_0_1"));
    REFUSE (TPC_MSG_ERROR, true, tpc_msg_set_str (&m->gid, "nope"));
    REFUSE (TPC_MSG_EXEC, false, tpc_msg_set_str (&m->sql, NULL));
    REFUSE (TPC_MSG_EXEC, false, tpc_msg_set_str (&m->sql, "bad \xc0\xaf"));
    REFUSE (TPC_MSG_EXEC, false, m->nparams = 2);
    REFUSE (TPC_MSG_VOTE, false, m->vote = TPC_VOTE_NONE);
    REFUSE (TPC_MSG_DECIDE, false, m->outcome = TPC_OUTCOME_IN_PROGRESS);
    REFUSE (TPC_MSG_OUTCOME, false, m->outcome = TPC_OUTCOME_NONE);
    REFUSE (TPC_MSG_WORK, false, m->then = (tpc_then_t) 9);
    REFUSE (TPC_MSG_BEGIN, true, m->protocol = (tpc_proto_t) 2);
    REFUSE (TPC_MSG_LIST, false, m->rid = U53_MAX + 1);
    REFUSE (TPC_MSG_BEGIN, true, m->timeout_ms = UINT64_MAX);
    REFUSE (TPC_MSG_BEGIN, true, m->timeout_ms = 86400001);
    REFUSE (TPC_MSG_SUBMIT, true, m->timeout_ms = 86400001);
    REFUSE (TPC_MSG_ERROR, false, m->code = 0);
    REFUSE (TPC_MSG_ERROR, false, m->code = 5);
    REFUSE (TPC_MSG_RESULT, false, m->affected = -2);
    REFUSE (TPC_MSG_HELLO, true, tpc_msg_set_str (&m->gids[1], "tpc_"));
    REFUSE (TPC_MSG_HELLO, true, tpc_msg_set_str (&m->gids[1], NULL));
    REFUSE (TPC_MSG_RESULT, true, tpc_msg_set_str (&m->columns[0], NULL));
    REFUSE (TPC_MSG_SUBMIT, true, tpc_msg_set_str (&m->stmts[1].on, NULL));
    REFUSE (TPC_MSG_TXLIST, true, tpc_msg_set_str (&m->txns[1].gid, "x"));
    /* counts over the cap: refused before any element is read */
    m = s_make (TPC_MSG_SUBMIT, false);
    m->nstmts = TPC_MSG_MAX_ITEMS + 1;
    CU_ASSERT_EQUAL (tpc_msg_encode (m, &json, &len), TPC_EINVAL);
    m->nstmts = 1;
    tpc_msg_destroy (&m);
    m = s_make (TPC_MSG_EXEC, true);
    size_t nparams = m->nparams;
    m->nparams = TPC_MSG_MAX_ITEMS + 1;
    CU_ASSERT_EQUAL (tpc_msg_encode (m, &json, &len), TPC_EINVAL);
    m->nparams = nparams;
    tpc_msg_destroy (&m);
    REFUSE (TPC_MSG_RESOLVE, false, m->outcome = TPC_OUTCOME_IN_PROGRESS);
    REFUSE (TPC_MSG_TXSUMMARY, true, tpc_msg_set_str (&m->agents[0], NULL));
    REFUSE (TPC_MSG_TXSUMMARY, false, m->oldest_ms = U53_MAX + 1);
    REFUSE (TPC_MSG_LIST, false, m->type = TPC_MSG_NONE);
    REFUSE (TPC_MSG_LIST, false, m->type = TPC_MSG_TYPE_COUNT);
#undef REFUSE
    CU_ASSERT_EQUAL (tpc_msg_encode (NULL, &json, &len), TPC_EINVAL);

    /* members a type does not use are ignored, e.g. stmt.on in "work" */
    m = s_make (TPC_MSG_WORK, true);
    s_ok (tpc_msg_set_str (&m->stmts[0].on, "bank_a"));
    s_ok (tpc_msg_set_str (&m->name, "ignored"));
    CU_ASSERT_EQUAL (tpc_msg_encode (m, &json, &len), 0);
    CU_ASSERT (json && !strstr (json, "bank_a") && !strstr (json, "ignored"));
    free (json);
    tpc_msg_destroy (&m);
}

/*  ------------------------------------------------------------------
 *  Malformed inputs: each gets its own code.                           */

#define L "{\"v\":1,\"type\":\"list\",\"rid\":1"       /* a list, unclosed */
#define C "{\"v\":1,\"type\":\"commit\",\"rid\":1,\"gid\":\"" G1 "\""

typedef struct {
    const char *bytes;
    size_t len;                 /* 0 = strlen (bytes) */
    int code;
    const char *err;            /* expected in errbuf, or NULL */
} s_bad_t;

/*  A literal with embedded NULs keeps its full length.                   */
#define RAW(s) s, sizeof (s) - 1

static const s_bad_t s_bad[] = {
    /* UTF-8 */
    { L ",\"x\":\"\xc0\xaf\"}", 0, TPC_EMSG_NOT_UTF8, "overlong" },
    { L ",\"x\":\"\xe0\x80\xaf\"}", 0, TPC_EMSG_NOT_UTF8, "overlong" },
    { L ",\"x\":\"\xf0\x80\x80\xaf\"}", 0, TPC_EMSG_NOT_UTF8, "overlong" },
    { L ",\"x\":\"\xed\xa0\x80\"}", 0, TPC_EMSG_NOT_UTF8, "surrogate" },
    { L ",\"x\":\"\xf4\x90\x80\x80\"}", 0, TPC_EMSG_NOT_UTF8, "U+10FFFF" },
    { L ",\"x\":\"\xf5\x80\x80\x80\"}", 0, TPC_EMSG_NOT_UTF8, "U+10FFFF" },
    { L ",\"x\":\"\xe2\x82\"}", 0, TPC_EMSG_NOT_UTF8, "truncated" },
    { L ",\"x\":\"\xe2\x82", 0, TPC_EMSG_NOT_UTF8, "truncated" },
    { L ",\"x\":\"\x80\"}", 0, TPC_EMSG_NOT_UTF8, "continuation" },
    { L ",\"x\":\"\xff\"}", 0, TPC_EMSG_NOT_UTF8, NULL },
    { RAW (L ",\"x\":\"a\0b\"}"), TPC_EMSG_NOT_UTF8, "NUL" },
    { RAW ("\0"), TPC_EMSG_NOT_UTF8, "NUL" },
    { L ",\"x\":\"a\\u0000b\"}", 0, TPC_EMSG_NOT_UTF8, "U+0000" },
    /* depth */
    { L ",\"x\":[[[[[[[[1]]]]]]]]}", 0, TPC_EMSG_TOO_DEEP, "deeper than 8" },
    { "[[[[[[[[[", 0, TPC_EMSG_TOO_DEEP, NULL },
    { "{\"a\":\"\\\"\",\"b\":[[[[[[[[{}]]]]]]]]}", 0, TPC_EMSG_TOO_DEEP, NULL },
    /* several faults: the one ranked first in tpc_msg.h wins */
    { "{\"a\":01,\"b\":[[[[[[[[1]]]]]]]]}", 0, TPC_EMSG_TOO_DEEP, NULL },
    { "{\"b\":[[[[[[[[1]]]]]]]],\"a\":\"\\u0000\"}", 0,
      TPC_EMSG_NOT_UTF8, "U+0000" },
    { "{\"b\":[[[[[[[[1]]]]]]]],\"a\":\"\xc0\xaf\"}", 0,
      TPC_EMSG_NOT_UTF8, "overlong" },
    { "[1] x", 0, TPC_EMSG_TRAILING, NULL },
    { "{\"v\":3,\"type\":\"frob\"}", 0, TPC_EMSG_VERSION, NULL },
    { "{\"v\":1,\"type\":\"frob\",\"v\":1}", 0, TPC_EMSG_UNKNOWN_TYPE, NULL },
    /* syntax */
    { "", 0, TPC_EMSG_SYNTAX, NULL },
    { "   ", 0, TPC_EMSG_SYNTAX, NULL },
    { "{", 0, TPC_EMSG_SYNTAX, NULL },
    { L ",}", 0, TPC_EMSG_SYNTAX, NULL },
    { "{'v':1}", 0, TPC_EMSG_SYNTAX, NULL },
    { "{\"v\":01,\"type\":\"list\",\"rid\":1}", 0, TPC_EMSG_SYNTAX, "number" },
    { "{\"v\":1,\"type\":\"list\",\"rid\":00}", 0, TPC_EMSG_SYNTAX, NULL },
    { "{\"v\":1,\"type\":\"list\",\"rid\":-01}", 0, TPC_EMSG_SYNTAX, NULL },
    { "{\"v\":1,\"type\":\"list\",\"rid\":1.}", 0, TPC_EMSG_SYNTAX, "number" },
    { "{\"v\":1,\"type\":\"list\",\"rid\":-}", 0, TPC_EMSG_SYNTAX, "number" },
    { "{\"v\":1,\"type\":\"list\",\"rid\":+1}", 0, TPC_EMSG_SYNTAX, NULL },
    { "{\"v\":1,\"type\":\"list\",\"rid\":1e}", 0, TPC_EMSG_SYNTAX, "number" },
    { L ",\"x\":\"a\x01" "b\"}", 0, TPC_EMSG_SYNTAX, "control" },
    { L ",\"x\":\"a\\qb\"}", 0, TPC_EMSG_SYNTAX, "escape" },
    { L ",\"x\":\"a\\u12g4\"}", 0, TPC_EMSG_SYNTAX, "hex" },
    { L ",\"x\":\"a\\ud800\"}", 0, TPC_EMSG_SYNTAX, NULL },
    { "\xef\xbb\xbf" L "}", 0, TPC_EMSG_SYNTAX, NULL },
    { L "\x0b}", 0, TPC_EMSG_SYNTAX, NULL },
    { "{\"v\":1 \"type\":\"list\",\"rid\":1}", 0, TPC_EMSG_SYNTAX, NULL },
    { "{\"v\":1,\"type\":\"li", 0, TPC_EMSG_SYNTAX, NULL },
    { "{\"v\":NaN}", 0, TPC_EMSG_SYNTAX, NULL },
    { L ",\"x\":tru}", 0, TPC_EMSG_SYNTAX, NULL },
    { L ",\"x\":[1,2}", 0, TPC_EMSG_SYNTAX, NULL },
    /* trailing */
    { L "} x", 0, TPC_EMSG_TRAILING, "after the JSON value" },
    { L "}{}", 0, TPC_EMSG_TRAILING, NULL },
    { L "}}", 0, TPC_EMSG_TRAILING, NULL },
    /* not an object */
    { "[1,2]", 0, TPC_EMSG_NOT_OBJECT, NULL },
    { "\"list\"", 0, TPC_EMSG_NOT_OBJECT, NULL },
    { "42", 0, TPC_EMSG_NOT_OBJECT, NULL },
    { "null", 0, TPC_EMSG_NOT_OBJECT, NULL },
    /* version */
    { "{\"type\":\"list\",\"rid\":1}", 0, TPC_EMSG_NO_VERSION, NULL },
    { "{\"v\":\"1\",\"type\":\"list\",\"rid\":1}", 0, TPC_EMSG_NO_VERSION, NULL },
    { "{\"v\":1.5,\"type\":\"list\",\"rid\":1}", 0, TPC_EMSG_NO_VERSION, NULL },
    { "{\"v\":0,\"type\":\"list\",\"rid\":1}", 0, TPC_EMSG_NO_VERSION, NULL },
    { "{\"v\":-1,\"type\":\"list\",\"rid\":1}", 0, TPC_EMSG_NO_VERSION, NULL },
    { "{\"v\":-1e300,\"type\":\"list\",\"rid\":1}", 0, TPC_EMSG_NO_VERSION, NULL },
    { "{\"v\":3,\"type\":\"list\",\"rid\":1}", 0, TPC_EMSG_VERSION, "newer" },
    { "{\"v\":1e300,\"type\":\"list\",\"rid\":1}", 0, TPC_EMSG_VERSION, NULL },
    /* type */
    { "{\"v\":1,\"type\":\"frob\",\"rid\":1}", 0, TPC_EMSG_UNKNOWN_TYPE,
      "\"frob\"" },
    { "{\"v\":1,\"rid\":1}", 0, TPC_EMSG_UNKNOWN_TYPE, NULL },
    { "{\"v\":1,\"type\":5,\"rid\":1}", 0, TPC_EMSG_UNKNOWN_TYPE, NULL },
    { "{\"v\":1,\"type\":\"LIST\",\"rid\":1}", 0, TPC_EMSG_UNKNOWN_TYPE, NULL },
    { "{\"v\":1,\"type\":\"\",\"rid\":1}", 0, TPC_EMSG_UNKNOWN_TYPE, NULL },
    /* operations */
    { "{\"v\":1,\"type\":\"resolve\",\"rid\":1,\"gid\":\"" G1 "\"}", 0,
      TPC_EMSG_MISSING_FIELD, "field \"outcome\" of \"resolve\"" },
    { "{\"v\":1,\"type\":\"resolve\",\"rid\":1,\"gid\":\"" G1 "\","
      "\"outcome\":\"in_progress\"}", 0, TPC_EMSG_FIELD_VALUE, NULL },
    { "{\"v\":1,\"type\":\"summary\",\"rid\":1,\"gid\":\"" G1 "\"}", 0,
      TPC_EMSG_UNKNOWN_FIELD, NULL },
    { "{\"v\":1,\"type\":\"txsummary\",\"rid\":1,\"in_flight\":0,"
      "\"in_doubt\":0,\"committed\":0,\"aborted\":0,\"heuristic\":0,"
      "\"oldest_ms\":-1,\"agents\":[]}", 0, TPC_EMSG_FIELD_VALUE, NULL },
    /* missing */
    { "{\"v\":1,\"type\":\"commit\",\"rid\":1}", 0, TPC_EMSG_MISSING_FIELD,
      "field \"gid\" of \"commit\": missing" },
    { "{\"v\":1,\"type\":\"submit\",\"rid\":1,\"stmts\":[{\"on\":\"a\"}]}", 0,
      TPC_EMSG_MISSING_FIELD, "field \"stmts[0].sql\" of \"submit\"" },
    { "{\"v\":1,\"type\":\"worked\",\"gid\":\"" G1 "\",\"seq\":1,\"ok\":true,"
      "\"columns\":[]}", 0, TPC_EMSG_MISSING_FIELD, "field \"rows\"" },
    { "{\"v\":1,\"type\":\"result\",\"rid\":1,\"gid\":\"" G1 "\","
      "\"columns\":[],\"rows\":[]}", 0, TPC_EMSG_MISSING_FIELD, "affected" },
    { "{\"v\":1,\"type\":\"txlist\",\"rid\":1,\"txns\":[{\"gid\":\"" G1 "\","
      "\"state\":\"a\",\"age_ms\":1}]}", 0, TPC_EMSG_MISSING_FIELD,
      "txns[0].parts" },
    /* missing beats a wrong type elsewhere */
    { "{\"v\":1,\"type\":\"commit\",\"rid\":\"1\"}", 0,
      TPC_EMSG_MISSING_FIELD, "gid" },
    /* JSON type */
    { "{\"v\":1,\"type\":\"list\",\"rid\":\"1\"}", 0, TPC_EMSG_FIELD_TYPE,
      "field \"rid\" of \"list\": must be an integer" },
    { "{\"v\":1,\"type\":\"list\",\"rid\":true}", 0, TPC_EMSG_FIELD_TYPE, NULL },
    { "{\"v\":1,\"type\":\"worked\",\"gid\":\"" G1 "\",\"seq\":1,"
      "\"ok\":\"true\"}", 0, TPC_EMSG_FIELD_TYPE, "\"ok\"" },
    { "{\"v\":1,\"type\":\"result\",\"rid\":1,\"gid\":\"" G1 "\","
      "\"columns\":[1],\"rows\":[],\"affected\":1}", 0, TPC_EMSG_FIELD_TYPE,
      "columns" },
    { "{\"v\":1,\"type\":\"result\",\"rid\":1,\"gid\":\"" G1 "\","
      "\"columns\":[],\"rows\":[\"a\"],\"affected\":1}", 0,
      TPC_EMSG_FIELD_TYPE, "rows" },
    { "{\"v\":1,\"type\":\"submit\",\"rid\":1,\"stmts\":[1]}", 0,
      TPC_EMSG_FIELD_TYPE, "stmts" },
    { "{\"v\":1,\"type\":\"submit\",\"rid\":1,\"stmts\":{}}", 0,
      TPC_EMSG_FIELD_TYPE, "stmts" },
    { "{\"v\":1,\"type\":\"submit\",\"rid\":1,\"stmts\":[{\"on\":\"a\","
      "\"sql\":\"x\",\"params\":[1]}]}", 0, TPC_EMSG_FIELD_TYPE,
      "stmts[0].params" },
    { "{\"v\":1,\"type\":\"hello\",\"name\":\"a\",\"prepared\":[null]}", 0,
      TPC_EMSG_FIELD_TYPE, "prepared" },
    { "{\"v\":1,\"type\":\"commit\",\"rid\":1,\"gid\":5}", 0,
      TPC_EMSG_FIELD_TYPE, "gid" },
    { "{\"v\":1,\"type\":\"vote\",\"gid\":\"" G1 "\",\"vote\":true}", 0,
      TPC_EMSG_FIELD_TYPE, "vote" },
    { C ",\"x\":1,\"rid\":\"1\"}", 0, TPC_EMSG_FIELD_TYPE, "rid" },
    /* unknown field */
    { C ",\"x\":1}", 0, TPC_EMSG_UNKNOWN_FIELD,
      "field \"x\" of \"commit\": not defined" },
    { "{\"v\":1,\"type\":\"begin\",\"rid\":1,\"gid\":\"" G1 "\"}", 0,
      TPC_EMSG_UNKNOWN_FIELD, "gid" },
    { "{\"v\":1,\"type\":\"work\",\"gid\":\"" G1 "\",\"seq\":1,\"then\":\"none\","
      "\"stmts\":[{\"on\":\"a\",\"sql\":\"x\"}]}", 0, TPC_EMSG_UNKNOWN_FIELD,
      "stmts[0].on" },
    { C ",\"V\":1}", 0, TPC_EMSG_UNKNOWN_FIELD, NULL },
    { C ",\"\xc3\xa9\\\"\\n\":1}", 0, TPC_EMSG_UNKNOWN_FIELD, "\"??" },
    /* value */
    { "{\"v\":1,\"type\":\"list\",\"rid\":-1}", 0, TPC_EMSG_FIELD_VALUE,
      "field \"rid\" of \"list\": must be an integer in 0 .. 2^53-1" },
    { "{\"v\":1,\"type\":\"list\",\"rid\":1.5}", 0, TPC_EMSG_FIELD_VALUE, NULL },
    { "{\"v\":1,\"type\":\"list\",\"rid\":9007199254740992}", 0,
      TPC_EMSG_FIELD_VALUE, NULL },
    { "{\"v\":1,\"type\":\"list\",\"rid\":1e300}", 0, TPC_EMSG_FIELD_VALUE, NULL },
    { "{\"v\":1,\"type\":\"list\",\"rid\":1e999}", 0, TPC_EMSG_FIELD_VALUE, NULL },
    { "{\"v\":1,\"type\":\"begin\",\"rid\":1,\"protocol\":\"4pc\"}", 0,
      TPC_EMSG_FIELD_VALUE, "protocol" },
    /* a transaction timeout over 24 h (issue 12) */
    { "{\"v\":1,\"type\":\"begin\",\"rid\":1,\"timeout_ms\":86400001}", 0,
      TPC_EMSG_FIELD_VALUE, "field \"timeout_ms\" of \"begin\": must be at "
      "most 86400000 (24 h" },
    { "{\"v\":1,\"type\":\"submit\",\"rid\":1,\"timeout_ms\":"
      "9007199254740991,\"stmts\":[{\"on\":\"a\",\"sql\":\"x\"}]}", 0,
      TPC_EMSG_FIELD_VALUE, "field \"timeout_ms\" of \"submit\": must be at "
      "most 86400000" },
    { "{\"v\":1,\"type\":\"vote\",\"gid\":\"" G1 "\",\"vote\":\"maybe\"}", 0,
      TPC_EMSG_FIELD_VALUE, "vote" },
    { "{\"v\":1,\"type\":\"decide\",\"gid\":\"" G1 "\",\"outcome\":"
      "\"in_progress\"}", 0, TPC_EMSG_FIELD_VALUE, "outcome" },
    { "{\"v\":1,\"type\":\"work\",\"gid\":\"" G1 "\",\"seq\":1,\"stmts\":[],"
      "\"then\":\"later\"}", 0, TPC_EMSG_FIELD_VALUE, "then" },
    { "{\"v\":1,\"type\":\"result\",\"rid\":1,\"gid\":\"" G1 "\","
      "\"columns\":[\"a\",\"b\"],\"rows\":[[\"1\",null],[\"2\"]],"
      "\"affected\":2}", 0, TPC_EMSG_FIELD_VALUE, "row" },
    { "{\"v\":1,\"type\":\"result\",\"rid\":1,\"gid\":\"" G1 "\","
      "\"rows\":[[\"1\"]],\"affected\":1,\"columns\":[]}", 0,
      TPC_EMSG_FIELD_VALUE, "row" },
    { C ",\"gid\":\"" G1 "\"}", 0, TPC_EMSG_FIELD_VALUE, "given twice" },
    { C ",\"v\":1}", 0, TPC_EMSG_FIELD_VALUE, "given twice" },
    { C ",\"type\":\"commit\"}", 0, TPC_EMSG_FIELD_VALUE, "given twice" },
    { "{\"v\":1,\"type\":\"result\",\"rid\":1,\"gid\":\"" G1 "\","
      "\"columns\":[],\"rows\":[],\"affected\":-2}", 0, TPC_EMSG_FIELD_VALUE,
      "affected" },
    { "{\"v\":1,\"type\":\"error\",\"rid\":1,\"code\":0,\"message\":\"m\"}", 0,
      TPC_EMSG_FIELD_VALUE, "code" },
    { "{\"v\":1,\"type\":\"error\",\"rid\":1,\"code\":-1e10,\"message\":\"m\"}",
      0, TPC_EMSG_FIELD_VALUE, "code" },
    /* gid */
    { "{\"v\":1,\"type\":\"commit\",\"rid\":1,\"gid\":\"xyz\"}", 0,
      TPC_EMSG_BAD_GID, "field \"gid\" of \"commit\": not a tpc gid" },
    { "{\"v\":1,\"type\":\"hello\",\"name\":\"a\",\"prepared\":[\"" G1 "\","
      "\"tpc_a_0_1\"]}", 0, TPC_EMSG_BAD_GID, "prepared[1]" },
    { "{\"v\":1,\"type\":\"txlist\",\"rid\":1,\"txns\":[{\"gid\":\"tpc_\","
      "\"state\":\"a\",\"age_ms\":1,\"parts\":[]}]}", 0, TPC_EMSG_BAD_GID,
      "txns[0].gid" },
    { "{\"v\":1,\"type\":\"error\",\"rid\":1,\"code\":-1,\"message\":\"m\","
      "\"gid\":\"\"}", 0, TPC_EMSG_BAD_GID, NULL },
    /* a bad gid loses to a bad value elsewhere */
    { "{\"v\":1,\"type\":\"commit\",\"rid\":-1,\"gid\":\"xyz\"}", 0,
      TPC_EMSG_FIELD_VALUE, "rid" },
};

static void
test_bad_inputs (void)
{
    size_t n = sizeof s_bad / sizeof s_bad[0];
    unsigned seen = 0;
    for (size_t i = 0; i < n; i++) {
        const s_bad_t *b = &s_bad[i];
        size_t len = b->len ? b->len : strlen (b->bytes);
        /* an exact-length copy, so nothing beyond LEN is readable */
        char *copy = malloc (len ? len : 1);
        CU_ASSERT_PTR_NOT_NULL_FATAL (copy);
        memcpy (copy, b->bytes, len);
        tpc_msg_t *m = (tpc_msg_t *) 1;
        char err[256];
        int rc = s_decode (copy, len, &m, err, sizeof err);
        CU_ASSERT_EQUAL (rc, b->code);
        CU_ASSERT_PTR_NULL (m);
        CU_ASSERT (err[0] != '\0');
        if (rc != b->code || (b->err && !strstr (err, b->err)))
            fprintf (stderr, "bad input %zu: got %s (%s), want %s%s%s\n", i,
                     tpc_errname (rc), err, tpc_errname (b->code),
                     b->err ? " with " : "", b->err ? b->err : "");
        if (b->err)
            CU_ASSERT (strstr (err, b->err) != NULL);
        if (rc <= TPC_EMSG_TOO_BIG && rc >= TPC_EMSG_BAD_GID)
            seen |= 1u << (TPC_EMSG_TOO_BIG - rc);
        tpc_msg_destroy (&m);
        free (copy);
    }
    printf ("\n    bad inputs=%zu\n", n);
    CU_ASSERT (n >= 40);
    /* every TPC_EMSG_* code but TOO_BIG (below) is exercised here */
    unsigned all = (1u << (TPC_EMSG_TOO_BIG - TPC_EMSG_BAD_GID + 1)) - 1;
    CU_ASSERT_EQUAL (seen | 1u, all);

    /* the exact sentence of the brief's example */
    char err[128];
    tpc_msg_t *m = NULL;
    const char *j = "{\"v\":1,\"type\":\"commit\",\"rid\":1}";
    CU_ASSERT_EQUAL (s_decode (j, strlen (j), &m, err, sizeof err),
                     TPC_EMSG_MISSING_FIELD);
    CU_ASSERT_STRING_EQUAL (err, "field \"gid\" of \"commit\": missing");
    /* a tiny errbuf is truncated, never overrun; NULL errbuf is fine */
    char tiny[8];
    memset (tiny, 'z', sizeof tiny);
    CU_ASSERT_EQUAL (tpc_msg_decode (j, strlen (j), NULL, &m, tiny, 5),
                     TPC_EMSG_MISSING_FIELD);
    CU_ASSERT_EQUAL (strlen (tiny), 4);
    CU_ASSERT_EQUAL (tiny[5], 'z');
    CU_ASSERT_EQUAL (s_decode (j, strlen (j), &m, NULL, 0),
                     TPC_EMSG_MISSING_FIELD);
}

/*  Well-formed oddities the decoder accepts.                             */
static void
test_good_oddities (void)
{
    const char *good[] = {
        " \t\r\n" L "} \n\r\t ",
        "{\"rid\":1,\"type\":\"list\",\"v\":1}",
        L ".0}",                                    /* rid 1.0: integral */
        "{\"v\":1,\"type\":\"list\",\"rid\":1e2}",
        "{\"v\":1.0,\"type\":\"list\",\"rid\":-0}",
        "{\"v\":1,\"type\":\"exec\",\"rid\":1,\"gid\":\"" G1 "\",\"on\":\"a\","
        "\"sql\":\"[[[[[[[[[[[[{{{{{{{{\\\"]]]\\\\\",\"params\":[]}",
        "{\"v\":1,\"type\":\"exec\",\"rid\":1,\"gid\":\"" G1 "\",\"on\":\"a\","
        "\"sql\":\"\\ud83d\\ude00 \\u00e9 \\/\"}",
        "{\"v\":1,\"type\":\"hello\",\"name\":\"a\",\"prepared\":[]}",
        "{\"v\":1,\"type\":\"result\",\"rid\":1,\"gid\":\"" G1 "\","
        "\"rows\":[[\"1\",null]],\"affected\":1,\"columns\":[\"a\",\"b\"]}",
        "{\"v\":1,\"type\":\"result\",\"rid\":1,\"gid\":\"" G1 "\","
        "\"rows\":[[],[]],\"affected\":1,\"columns\":[]}",
        "{\"v\":1,\"type\":\"error\",\"rid\":1,\"code\":-2147483648,"
        "\"message\":\"\"}",
        "{\"v\":1,\"type\":\"begin\",\"rid\":1,\"timeout_ms\":86400000}",
        NULL
    };
    for (int i = 0; good[i]; i++) {
        tpc_msg_t *m = NULL;
        char err[256] = "";
        int rc = s_decode (good[i], strlen (good[i]), &m, err, sizeof err);
        CU_ASSERT_EQUAL (rc, 0);
        if (rc)
            fprintf (stderr, "good input %d: %s (%s)\n", i, tpc_errname (rc),
                     err);
        CU_ASSERT_PTR_NOT_NULL (m);
        tpc_msg_destroy (&m);
    }
    /* values land where they should */
    tpc_msg_t *m = NULL;
    CU_ASSERT_EQUAL (s_decode (good[6], strlen (good[6]), &m, NULL, 0), 0);
    CU_ASSERT (m && !strcmp (m->sql, "\xf0\x9f\x98\x80 \xc3\xa9 /"));
    CU_ASSERT (m && m->nparams == 0 && m->params == NULL);
    tpc_msg_destroy (&m);
    CU_ASSERT_EQUAL (s_decode (good[8], strlen (good[8]), &m, NULL, 0), 0);
    CU_ASSERT (m && m->ncolumns == 2 && m->nrows == 1 && m->cells
               && !strcmp (m->cells[0], "1") && m->cells[1] == NULL
               && !strcmp (m->columns[1], "b") && m->affected == 1);
    tpc_msg_destroy (&m);
    CU_ASSERT_EQUAL (s_decode (good[9], strlen (good[9]), &m, NULL, 0), 0);
    CU_ASSERT (m && m->ncolumns == 0 && m->nrows == 2 && m->cells == NULL);
    tpc_msg_destroy (&m);
    CU_ASSERT_EQUAL (s_decode (good[10], strlen (good[10]), &m, NULL, 0), 0);
    CU_ASSERT (m && m->code == -2147483647 - 1);
    tpc_msg_destroy (&m);
    const char *worked = "{\"v\":1,\"type\":\"worked\",\"gid\":\"" G1 "\","
                         "\"seq\":1,\"ok\":true}";
    CU_ASSERT_EQUAL (s_decode (worked, strlen (worked), &m, NULL, 0), 0);
    CU_ASSERT (m && !m->has_result && m->affected == -1 && m->ok);
    tpc_msg_destroy (&m);
}

/*  Size and depth limits, exactly at and one past.                       */
static void
test_limits (void)
{
    tpc_msg_t *m = s_make (TPC_MSG_SUBMIT, true), *back = NULL;
    char *json = NULL, err[128];
    size_t len;
    s_ok (tpc_msg_encode (m, &json, &len));
    tpc_msg_limits_t lim = { len, 0 };
    CU_ASSERT_EQUAL (tpc_msg_decode (json, len, &lim, &back, err, sizeof err),
                     0);
    tpc_msg_destroy (&back);
    lim.max_size = len - 1;
    CU_ASSERT_EQUAL (tpc_msg_decode (json, len, &lim, &back, err, sizeof err),
                     TPC_EMSG_TOO_BIG);
    CU_ASSERT_PTR_NULL (back);
    /* size is checked first: even garbage that is too big is TOO_BIG */
    CU_ASSERT_EQUAL (tpc_msg_decode ("\xff\xff", 2, &(tpc_msg_limits_t) { 1, 0 },
                                     &back, err, sizeof err),
                     TPC_EMSG_TOO_BIG);
    /* submit nests to depth 4: stmts -> stmt -> params */
    lim = (tpc_msg_limits_t) { 0, 4 };
    CU_ASSERT_EQUAL (tpc_msg_decode (json, len, &lim, &back, err, sizeof err),
                     0);
    tpc_msg_destroy (&back);
    lim.max_depth = 3;
    CU_ASSERT_EQUAL (tpc_msg_decode (json, len, &lim, &back, err, sizeof err),
                     TPC_EMSG_TOO_DEEP);
    free (json);
    tpc_msg_destroy (&m);

    /* the default size limit */
    size_t big = TPC_MSG_MAX_SIZE_DEFAULT + 1;
    char *huge = malloc (big);
    CU_ASSERT_PTR_NOT_NULL_FATAL (huge);
    memset (huge, ' ', big);
    memcpy (huge, L "}", strlen (L "}"));
    CU_ASSERT_EQUAL (s_decode (huge, big, &back, err, sizeof err),
                     TPC_EMSG_TOO_BIG);
    CU_ASSERT_EQUAL (s_decode (huge, big - 1, &back, err, sizeof err), 0);
    tpc_msg_destroy (&back);
    free (huge);
}

/*  Arrays are capped at TPC_MSG_MAX_ITEMS elements.                      */
static void
test_array_cap (void)
{
    const char *head = "{\"v\":1,\"type\":\"exec\",\"rid\":1,\"gid\":\"" G1
                       "\",\"on\":\"a\",\"sql\":\"s\",\"params\":[";
    for (size_t n = TPC_MSG_MAX_ITEMS; n <= TPC_MSG_MAX_ITEMS + 1; n++) {
        size_t size = strlen (head) + n * 5 + 3;
        char *j = malloc (size), *p = j;
        CU_ASSERT_PTR_NOT_NULL_FATAL (j);
        if (!j)
            return;     /* not reached; tells gcc -fsanitize so */
        p += sprintf (p, "%s", head);
        for (size_t i = 0; i < n; i++)
            p += sprintf (p, i ? ",null" : "null");
        p += sprintf (p, "]}");
        tpc_msg_limits_t lim = { 4u << 20, 0 };
        tpc_msg_t *m = NULL;
        char err[128];
        int rc = tpc_msg_decode (j, (size_t) (p - j), &lim, &m, err, sizeof err);
        if (n == TPC_MSG_MAX_ITEMS) {
            CU_ASSERT_EQUAL (rc, 0);
            CU_ASSERT (m && m->nparams == n);
        }
        else {
            CU_ASSERT_EQUAL (rc, TPC_EMSG_FIELD_VALUE);
            CU_ASSERT (strstr (err, "params") != NULL);
        }
        tpc_msg_destroy (&m);
        free (j);
    }
}

/*  ------------------------------------------------------------------
 *  Input with no NUL terminator, right against an unmapped page.       */

typedef struct {
    char *base;                 /* two pages; the second is PROT_NONE */
    size_t page;
} s_guard_t;

static bool
s_guard_init (s_guard_t *g)
{
    g->page = (size_t) sysconf (_SC_PAGESIZE);
    g->base = mmap (NULL, 2 * g->page, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (g->base == MAP_FAILED)
        return false;
    return mprotect (g->base + g->page, g->page, PROT_NONE) == 0;
}

/*  Copy LEN bytes so they end exactly where the readable page ends.      */
static const char *
s_guard_place (s_guard_t *g, const void *p, size_t len)
{
    if (len > g->page)
        return NULL;
    char *at = g->base + g->page - len;
    memcpy (at, p, len);
    return at;
}

static void
s_guard_free (s_guard_t *g)
{
    munmap (g->base, 2 * g->page);
}

static void
test_not_nul_terminated (void)
{
    s_guard_t g;
    CU_ASSERT_FATAL (s_guard_init (&g));
    size_t prefixes = 0;
    for (int t = TPC_MSG_NONE + 1; t < TPC_MSG_TYPE_COUNT; t++) {
        tpc_msg_t *m = s_make ((tpc_msg_type_t) t, true), *back = NULL;
        char *json = NULL;
        size_t len;
        s_ok (tpc_msg_encode (m, &json, &len));
        const char *at = s_guard_place (&g, json, len);
        CU_ASSERT_PTR_NOT_NULL_FATAL (at);
        CU_ASSERT_EQUAL (s_decode (at, len, &back, NULL, 0), 0);
        CU_ASSERT (back && s_diff (m, back) == NULL);
        tpc_msg_destroy (&back);
        /* every proper prefix is refused, and none reads past its end */
        for (size_t n = 0; n < len; n++, prefixes++) {
            at = s_guard_place (&g, json, n);
            int rc = s_decode (at, n, &back, NULL, 0);
            CU_ASSERT (s_is_msg_code (rc));
            CU_ASSERT_PTR_NULL (back);
        }
        free (json);
        tpc_msg_destroy (&m);
    }
    printf ("\n    prefixes=%zu all refused\n", prefixes);
    s_guard_free (&g);
}

/*  ------------------------------------------------------------------
 *  Random mutations of valid encodings.                                */

static uint64_t
s_rand (uint64_t *state)
{
    /* xorshift64*: small, fast, and the same everywhere */
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 2685821657736338717ULL;
}

static const char *const s_tokens[] = {
    "{", "}", "[", "]", "\"", "\\", ":", ",", " ", "0", "-1", "1.5", "1e999",
    "9007199254740992", "null", "true", "\\u0000", "\\ud800", "\\u00e9",
    "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82", "\xef\xbb\xbf",
    "\x01", ",\"x\":1", ",\"gid\":\"" G1 "\"", "\"tpc_a_1_1\"", "[[[[",
    "]]]]", "\"in_progress\"", "\"v\":3", "[]", "{}", "\"\"",
};

/*  Mutate BUF (LEN bytes, room for CAP) once; returns the new length.    */
static size_t
s_mutate (uint64_t *rs, char *buf, size_t len, size_t cap)
{
    size_t at = len ? s_rand (rs) % len : 0;
    switch (s_rand (rs) % 7) {
    case 0:                                     /* flip a bit */
        if (len)
            buf[at] ^= (char) (1u << (s_rand (rs) % 8));
        break;
    case 1:                                     /* random byte */
        if (len)
            buf[at] = (char) (s_rand (rs) & 0xff);
        break;
    case 2: {                                   /* insert a token */
        const char *tok = s_tokens[s_rand (rs) % (sizeof s_tokens
                                                  / sizeof s_tokens[0])];
        size_t n = strlen (tok);
        if (len + n <= cap) {
            memmove (buf + at + n, buf + at, len - at);
            memcpy (buf + at, tok, n);
            len += n;
        }
        break;
    }
    case 3: {                                   /* delete a run */
        size_t n = 1 + s_rand (rs) % 8;
        if (n > len - at)
            n = len - at;
        memmove (buf + at, buf + at + n, len - at - n);
        len -= n;
        break;
    }
    case 4: {                                   /* duplicate a run */
        size_t n = 1 + s_rand (rs) % 16;
        if (n > len - at)
            n = len - at;
        if (len + n <= cap) {
            memmove (buf + at + n, buf + at, len - at);
            len += n;
        }
        break;
    }
    case 5:                                     /* truncate */
        len = at;
        break;
    default:                                    /* swap two bytes */
        if (len) {
            size_t b = s_rand (rs) % len;
            char c = buf[at];
            buf[at] = buf[b];
            buf[b] = c;
        }
        break;
    }
    return len;
}

static void
test_mutations (void)
{
    long count = 200000;
    const char *env = getenv ("TPC_MSG_MUTATIONS");
    if (env && *env)
        count = strtol (env, NULL, 10);

    enum { NSEEDS = 2 * (TPC_MSG_TYPE_COUNT - 1) };
    char *seeds[NSEEDS];
    size_t lens[NSEEDS], maxlen = 0;
    for (int i = 0; i < NSEEDS; i++) {
        tpc_msg_t *m = s_make ((tpc_msg_type_t) (1 + i / 2), i % 2 == 0);
        s_ok (tpc_msg_encode (m, &seeds[i], &lens[i]));
        if (lens[i] > maxlen)
            maxlen = lens[i];
        tpc_msg_destroy (&m);
    }
    size_t cap = maxlen + 256;
    char *buf = malloc (cap);
    s_guard_t g;
    CU_ASSERT_PTR_NOT_NULL_FATAL (buf);
    CU_ASSERT_FATAL (s_guard_init (&g) && cap <= g.page);

    uint64_t rs = 0x7470635f6d736721ULL;        /* fixed seed */
    long accepted = 0, rejected = 0, unexpected = 0, unstable = 0;
    long by_code[TPC_EMSG_TOO_BIG - TPC_EMSG_BAD_GID + 1] = { 0 };
    for (long i = 0; i < count; i++) {
        int s = (int) (s_rand (&rs) % NSEEDS);
        size_t len = lens[s];
        memcpy (buf, seeds[s], len);
        int rounds = 1 + (int) (s_rand (&rs) % 4);
        for (int r = 0; r < rounds; r++)
            len = s_mutate (&rs, buf, len, cap);
        const char *at = s_guard_place (&g, buf, len);
        tpc_msg_t *m = NULL;
        char err[256];
        int rc = s_decode (at, len, &m, err, sizeof err);
        if (rc == 0) {
            accepted++;
            /* whatever is accepted re-encodes and decodes to the same */
            char *json = NULL;
            size_t jlen;
            tpc_msg_t *back = NULL;
            if (tpc_msg_encode (m, &json, &jlen)
                || s_decode (json, jlen, &back, NULL, 0)
                || s_diff (m, back)) {
                if (unstable++ < 5)
                    fprintf (stderr, "unstable: %.*s\n", (int) len, at);
            }
            free (json);
            tpc_msg_destroy (&back);
        }
        else if (s_is_msg_code (rc)) {
            rejected++;
            by_code[TPC_EMSG_TOO_BIG - rc]++;
            if (m != NULL || err[0] == '\0')
                unexpected++;
        }
        else if (unexpected++ < 5)
            fprintf (stderr, "unexpected %s: %.*s\n", tpc_errname (rc),
                     (int) len, at);
        tpc_msg_destroy (&m);
    }
    printf ("\n    mutations=%ld crashes=0 accepted=%ld rejected=%ld "
            "unexpected=%ld unstable=%ld\n    ", count, accepted, rejected,
            unexpected, unstable);
    for (int c = 0; c <= TPC_EMSG_TOO_BIG - TPC_EMSG_BAD_GID; c++)
        if (by_code[c])
            printf ("%s=%ld ", tpc_errname (TPC_EMSG_TOO_BIG - c) + 9,
                    by_code[c]);
    printf ("\n");
    CU_ASSERT_EQUAL (accepted + rejected, count);
    CU_ASSERT_EQUAL (unexpected, 0);
    CU_ASSERT_EQUAL (unstable, 0);
    CU_ASSERT (count < 1000 || (accepted > 0 && rejected > 0));
    s_guard_free (&g);
    free (buf);
    for (int i = 0; i < NSEEDS; i++)
        free (seeds[i]);
}

/*  ------------------------------------------------------------------
 *  The seed corpus: one canonical file per message type.               */

static char *
s_corpus_path (const char *dir, tpc_msg_type_t t)
{
    size_t n = strlen (dir) + 64;
    char *path = malloc (n);
    if (path)
        snprintf (path, n, "%s/%s.json", dir, tpc_msg_type_name (t));
    return path;
}

static void
test_corpus (void)
{
    const char *write_dir = getenv ("TPC_MSG_WRITE_CORPUS");
    const char *srcdir = getenv ("srcdir");
    char dir[4096];
    snprintf (dir, sizeof dir, "%s/tests/corpus/msg",
              srcdir && *srcdir ? srcdir : TPC_ABS_TOP_SRCDIR);
    int files = 0;
    for (int t = TPC_MSG_NONE + 1; t < TPC_MSG_TYPE_COUNT; t++) {
        tpc_msg_t *m = s_make ((tpc_msg_type_t) t, true), *back = NULL;
        char *json = NULL, *path;
        size_t len;
        s_ok (tpc_msg_encode (m, &json, &len));
        if (write_dir && *write_dir) {
            path = s_corpus_path (write_dir, (tpc_msg_type_t) t);
            FILE *f = path ? fopen (path, "w") : NULL;
            CU_ASSERT_PTR_NOT_NULL (f);
            if (f) {
                fprintf (f, "%s\n", json);
                fclose (f);
            }
            free (path);
        }
        path = s_corpus_path (dir, (tpc_msg_type_t) t);
        FILE *f = path ? fopen (path, "rb") : NULL;
        CU_ASSERT_PTR_NOT_NULL (f);
        if (!f)
            fprintf (stderr, "cannot open %s\n", path);
        char text[8192];
        size_t n = f ? fread (text, 1, sizeof text, f) : 0;
        if (f)
            fclose (f);
        if (f) {
            files++;
            char err[256] = "";
            int rc = s_decode (text, n, &back, err, sizeof err);
            CU_ASSERT_EQUAL (rc, 0);
            if (rc)
                fprintf (stderr, "%s: %s: %s\n", path, tpc_errname (rc), err);
            CU_ASSERT (back && back->type == (tpc_msg_type_t) t);
            /* the file is the canonical encoding, plus a newline */
            CU_ASSERT (n == len + 1 && memcmp (text, json, len) == 0
                       && text[len] == '\n');
            CU_ASSERT (back && s_diff (m, back) == NULL);
        }
        free (path);
        free (json);
        tpc_msg_destroy (&m);
        tpc_msg_destroy (&back);
    }
    CU_ASSERT_EQUAL (files, TPC_MSG_TYPE_COUNT - 1);
}

/*  ------------------------------------------------------------------
 *  Helpers and names.                                                  */

static void
test_helpers (void)
{
    CU_ASSERT_PTR_NULL (tpc_msg_new ((tpc_msg_type_t) -1));
    CU_ASSERT_PTR_NULL (tpc_msg_new (TPC_MSG_TYPE_COUNT));
    tpc_msg_t *m = tpc_msg_new (TPC_MSG_RESULT);
    CU_ASSERT_PTR_NOT_NULL_FATAL (m);
    CU_ASSERT_EQUAL (m->affected, -1);
    CU_ASSERT_EQUAL (m->type, TPC_MSG_RESULT);
    s_ok (tpc_msg_set_str (&m->reason, "a"));
    s_ok (tpc_msg_set_str (&m->reason, "b"));
    CU_ASSERT_STRING_EQUAL (m->reason, "b");
    s_ok (tpc_msg_set_str (&m->reason, NULL));
    CU_ASSERT_PTR_NULL (m->reason);
    const char *cols[] = { "a" }, *cells[] = { "1", NULL };
    s_ok (tpc_msg_set_rows (m, 1, cols, 2, cells));
    CU_ASSERT (m->has_result && m->nrows == 2 && m->ncolumns == 1
               && m->cells[1] == NULL && !strcmp (m->cells[0], "1"));
    s_ok (tpc_msg_set_rows (m, 0, NULL, 0, NULL));   /* replaces, frees */
    CU_ASSERT (m->nrows == 0 && m->ncolumns == 0 && m->cells == NULL);
    s_ok (tpc_msg_strv_push (&m->params, &m->nparams, NULL));
    s_ok (tpc_msg_strv_push (&m->params, &m->nparams, "x"));
    CU_ASSERT (m->nparams == 2 && m->params[0] == NULL
               && !strcmp (m->params[1], "x"));
    s_ok (tpc_msg_add_stmt (m, NULL, "SELECT 1", 0, NULL));
    CU_ASSERT (m->nstmts == 1 && m->stmts[0].on == NULL
               && m->stmts[0].params == NULL);
    tpc_msg_destroy (&m);
    CU_ASSERT_PTR_NULL (m);
    tpc_msg_destroy (&m);                           /* idempotent */
    tpc_msg_destroy (NULL);

    CU_ASSERT_STRING_EQUAL (tpc_msg_type_name (TPC_MSG_BEGIN), "begin");
    CU_ASSERT_STRING_EQUAL (tpc_msg_type_name (TPC_MSG_ANSWER), "answer");
    CU_ASSERT_STRING_EQUAL (tpc_msg_type_name (TPC_MSG_NONE), "?");
    CU_ASSERT_STRING_EQUAL (tpc_msg_type_name (TPC_MSG_TYPE_COUNT), "?");
    CU_ASSERT_STRING_EQUAL (tpc_vote_name (TPC_VOTE_READONLY), "readonly");
    CU_ASSERT_STRING_EQUAL (tpc_vote_name (TPC_VOTE_NONE), "?");
    CU_ASSERT_STRING_EQUAL (tpc_outcome_name (TPC_OUTCOME_IN_PROGRESS),
                            "in_progress");
    CU_ASSERT_STRING_EQUAL (tpc_then_name (TPC_THEN_NONE), "none");
    CU_ASSERT_STRING_EQUAL (tpc_then_name (TPC_THEN_PREPARE), "prepare");
    CU_ASSERT_STRING_EQUAL (tpc_proto_name (TPC_PROTO_2PC), "2pc");
    CU_ASSERT_STRING_EQUAL (tpc_proto_name (TPC_PROTO_3PC), "3pc");
    CU_ASSERT_STRING_EQUAL (tpc_proto_name ((tpc_proto_t) 7), "?");
    /* every type has a distinct wire name */
    for (int a = 1; a < TPC_MSG_TYPE_COUNT; a++)
        for (int b = a + 1; b < TPC_MSG_TYPE_COUNT; b++)
            CU_ASSERT (strcmp (tpc_msg_type_name ((tpc_msg_type_t) a),
                               tpc_msg_type_name ((tpc_msg_type_t) b)) != 0);
}

/*  tpc_msg_peek_rid: the top-level "rid" of raw bytes, or 0.            */
static void
test_peek_rid (void)
{
    struct { const char *text; uint64_t rid; } cases[] = {
        { "{\"v\":1,\"type\":\"list\",\"rid\":9}", 9 },
        { " {\"type\":\"list\",\"x\":\"a\",\"rid\":12,\"v\":1}", 12 },
        { "{ \"rid\" :\t\n 7 }", 7 },
        { "{\"rid\":9007199254740991}", 9007199254740991ull },
        { "{\"a\":{\"rid\":5},\"b\":[{\"rid\":6}],\"rid\":8}", 8 },
        { "{\"s\":\"\\\"rid\\\":6\",\"rid\":4}", 4 },
        { "{\"rid\":\"rid\",\"x\":1}", 0 },             /* not an integer */
        { "{\"rid\":1,\"rid\":2}", 0 },                 /* twice */
        { "{\"rid\":01}", 0 },
        { "{\"rid\":1.5}", 0 },
        { "{\"rid\":1e3}", 0 },
        { "{\"rid\":-1}", 0 },
        { "{\"rid\":9007199254740992}", 0 },
        { "{\"rid\":0}", 0 },
        { "{\"rid\":5", 0 },                            /* truncated */
        { "{\"rid", 0 },
        { "{\"x\":\"\\", 0 },
        { "[{\"rid\":5}]", 0 },                         /* not an object */
        { "\"rid\":5", 0 },
        { "{\"x\":\"rid\",\"y\":[\"rid\",3],\"z\":{}}", 0 },
        { "", 0 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t got = tpc_msg_peek_rid (cases[i].text,
                                         strlen (cases[i].text));
        CU_ASSERT_EQUAL (got, cases[i].rid);
        if (got != cases[i].rid)
            fprintf (stderr, "peek_rid case %zu (%s): %llu\n", i,
                     cases[i].text, (unsigned long long) got);
    }
    /* only LEN bytes are read: a prefix never sees what follows */
    const char *t = "{\"v\":1,\"rid\":42}";
    CU_ASSERT_EQUAL (tpc_msg_peek_rid (t, strlen (t)), 42);
    for (size_t n = 0; n < strlen (t); n++) {
        char *copy = malloc (n ? n : 1);
        CU_ASSERT_PTR_NOT_NULL_FATAL (copy);
        memcpy (copy, t, n);
        CU_ASSERT_EQUAL (tpc_msg_peek_rid (copy, n), 0);
        free (copy);
    }
    /* any bytes, NULs included: no crash, an answer */
    unsigned char junk[4096];
    uint32_t x = 12345;
    for (int round = 0; round < 2000; round++) {
        size_t n = 1 + (x % sizeof junk);
        for (size_t i = 0; i < n; i++) {
            x = x * 1103515245u + 12345u;
            junk[i] = "{}[]\":,\\ 0123456789ridx\n"[(x >> 16) % 24];
            if ((x >> 8) % 97 == 0)
                junk[i] = (unsigned char) (x >> 24);
        }
        (void) tpc_msg_peek_rid (junk, n);
    }
}

/*  ------------------------------------------------------------------
 *  Batches (protocol 2): decides and acks.                             */

/*  A gid of the largest size (70 bytes): coordinator id of 32, epoch and
 *  seq of 16 digits; I makes it unique.                                  */
static void
s_long_gid (char *buf, size_t size, size_t i)
{
    snprintf (buf, size, "tpc_%s_9007199254740991_%llu",
              "abcdefghijklmnopqrstuvwxyzABCDEF",
              (unsigned long long) (9007199254740991ull - i));
}

/*  A full batch of the longest gids round trips, within the decoder's
 *  default size and TPC_MSG_BATCH_BYTES_MAX; one gid more is refused by
 *  the encoder (TPC_EINVAL) and by the decoder (TPC_EMSG_FIELD_VALUE
 *  naming the list): the shells split at TPC_MSG_BATCH_MAX.              */
static void
test_batch_bounds (void)
{
    static const tpc_msg_type_t types[] = { TPC_MSG_DECIDES, TPC_MSG_ACKS };
    for (size_t t = 0; t < 2; t++) {
        tpc_msg_t *m = tpc_msg_new (types[t]), *back = NULL;
        CU_ASSERT_PTR_NOT_NULL_FATAL (m);
        char gid[TPC_GID_MAX];
        for (size_t i = 0; i < TPC_MSG_BATCH_MAX; i++) {
            s_long_gid (gid, sizeof gid, i);
            CU_ASSERT_EQUAL (tpc_gid_parse (gid, NULL), 0);
            s_ok (tpc_msg_strv_push (&m->commits, &m->ncommits, gid));
            s_long_gid (gid, sizeof gid, i + TPC_MSG_BATCH_MAX);
            s_ok (tpc_msg_strv_push (&m->aborts, &m->naborts, gid));
        }
        char *json = NULL, err[256] = "";
        size_t len = 0;
        CU_ASSERT_EQUAL_FATAL (tpc_msg_encode (m, &json, &len), 0);
        /* two full lists: each list is bounded, and so is the frame */
        CU_ASSERT (len <= 2 * TPC_MSG_BATCH_BYTES_MAX);
        CU_ASSERT (len < TPC_MSG_MAX_SIZE_DEFAULT);
        CU_ASSERT_EQUAL (s_decode (json, len, &back, err, sizeof err), 0);
        CU_ASSERT (back && s_diff (m, back) == NULL
                   && back->version == TPC_PROTOCOL_VERSION);
        tpc_msg_destroy (&back);
        free (json);
        json = NULL;
        /* one more: the encoder refuses */
        s_long_gid (gid, sizeof gid, 3 * TPC_MSG_BATCH_MAX);
        s_ok (tpc_msg_strv_push (&m->commits, &m->ncommits, gid));
        CU_ASSERT_EQUAL (tpc_msg_encode (m, &json, &len), TPC_EINVAL);
        CU_ASSERT_PTR_NULL (json);
        /* ... and the decoder, with a sentence naming the list */
        size_t cap = 64 + (TPC_MSG_BATCH_MAX + 1) * (TPC_GID_MAX + 3);
        char *j = malloc (cap), *p = j;
        CU_ASSERT_PTR_NOT_NULL_FATAL (j);
        if (!j)
            return;
        p += sprintf (p, "{\"v\":2,\"type\":\"%s\",\"aborted\":[",
                      tpc_msg_type_name (types[t]));
        for (size_t i = 0; i <= TPC_MSG_BATCH_MAX; i++) {
            s_long_gid (gid, sizeof gid, i);
            p += sprintf (p, "%s\"%s\"", i ? "," : "", gid);
        }
        p += sprintf (p, "]}");
        CU_ASSERT_EQUAL (s_decode (j, (size_t) (p - j), &back, err,
                                   sizeof err), TPC_EMSG_FIELD_VALUE);
        CU_ASSERT_PTR_NULL (back);
        CU_ASSERT (strstr (err, "\"aborted\"") && strstr (err, "batch"));
        free (j);
        tpc_msg_destroy (&m);
    }
    /* precommits: the same bound on its one list */
    tpc_msg_t *m = tpc_msg_new (TPC_MSG_PRECOMMITS), *back = NULL;
    CU_ASSERT_PTR_NOT_NULL_FATAL (m);
    char gid[TPC_GID_MAX], *json = NULL;
    size_t len = 0;
    for (size_t i = 0; i < TPC_MSG_BATCH_MAX; i++) {
        s_long_gid (gid, sizeof gid, i);
        s_ok (tpc_msg_strv_push (&m->gids, &m->ngids, gid));
    }
    CU_ASSERT_EQUAL_FATAL (tpc_msg_encode (m, &json, &len), 0);
    CU_ASSERT (len <= TPC_MSG_BATCH_BYTES_MAX);
    CU_ASSERT_EQUAL (s_decode (json, len, &back, NULL, 0), 0);
    CU_ASSERT (back && s_diff (m, back) == NULL);
    tpc_msg_destroy (&back);
    free (json);
    json = NULL;
    s_ok (tpc_msg_strv_push (&m->gids, &m->ngids, G1));
    CU_ASSERT_EQUAL (tpc_msg_encode (m, &json, &len), TPC_EINVAL);
    CU_ASSERT_PTR_NULL (json);
    tpc_msg_destroy (&m);
}

/*  Malformed batches: each refused with its code and a sentence, never a
 *  crash; v1 of a hello is still decoded (the coordinator refuses it,
 *  test_coord_server) and its version kept.                              */
static void
test_batch_malformed (void)
{
    static const struct { const char *json; int code; const char *err; }
    cases[] = {
        { "{\"v\":2,\"type\":\"decides\",\"committed\":\"" G1 "\"}",
          TPC_EMSG_FIELD_TYPE, "committed" },
        { "{\"v\":2,\"type\":\"decides\",\"committed\":[1]}",
          TPC_EMSG_FIELD_TYPE, "committed" },
        { "{\"v\":2,\"type\":\"acks\",\"aborted\":[null]}",
          TPC_EMSG_FIELD_TYPE, "aborted" },
        { "{\"v\":2,\"type\":\"acks\",\"aborted\":[\"nope\"]}",
          TPC_EMSG_BAD_GID, "aborted" },
        { "{\"v\":2,\"type\":\"acks\",\"committed\":[[\"" G1 "\"]]}",
          TPC_EMSG_FIELD_TYPE, "committed" },
        { "{\"v\":2,\"type\":\"decides\",\"gid\":\"" G1 "\"}",
          TPC_EMSG_UNKNOWN_FIELD, "gid" },
        { "{\"v\":2,\"type\":\"decides\",\"committed\":[],"
          "\"committed\":[]}", TPC_EMSG_FIELD_VALUE, "twice" },
        { "{\"v\":3,\"type\":\"decides\",\"committed\":[]}",
          TPC_EMSG_VERSION, "newer" },
        { "{\"v\":2,\"type\":\"decides\",\"committed\":[\"" G1 "\"",
          TPC_EMSG_SYNTAX, NULL },
        { "{\"v\":2,\"type\":\"precommits\"}", TPC_EMSG_MISSING_FIELD,
          "gids" },
        { "{\"v\":2,\"type\":\"precommits\",\"gids\":[\"x\"]}",
          TPC_EMSG_BAD_GID, "gids" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tpc_msg_t *m = NULL;
        char err[256] = "";
        int rc = s_decode (cases[i].json, strlen (cases[i].json), &m, err,
                           sizeof err);
        CU_ASSERT_EQUAL (rc, cases[i].code);
        CU_ASSERT_PTR_NULL (m);
        CU_ASSERT (*err);
        if (cases[i].err)
            CU_ASSERT (strstr (err, cases[i].err) != NULL);
        if (rc != cases[i].code || (cases[i].err && !strstr (err,
                                                             cases[i].err)))
            fprintf (stderr, "batch case %zu: %s: %s\n", i,
                     tpc_errname (rc), err);
        tpc_msg_destroy (&m);
    }
    /* an old agent's hello decodes, its version kept (and re-encoded) */
    const char *old = "{\"v\":1,\"type\":\"hello\",\"name\":\"a\"}";
    tpc_msg_t *m = NULL;
    CU_ASSERT_EQUAL (s_decode (old, strlen (old), &m, NULL, 0), 0);
    CU_ASSERT (m && m->version == 1);
    char *json = NULL;
    size_t len;
    CU_ASSERT (m && tpc_msg_encode (m, &json, &len) == 0
               && !strcmp (json, old));
    free (json);
    tpc_msg_destroy (&m);
    CU_ASSERT_EQUAL (TPC_PROTOCOL_VERSION, 2);
}

static const tpc_test_case_t s_cases[] = {
    { "msg_round_trip_all", test_round_trip_all },
    { "msg_encode_bytes", test_encode_bytes },
    { "msg_encode_refuses", test_encode_refuses },
    { "msg_bad_inputs", test_bad_inputs },
    { "msg_good_oddities", test_good_oddities },
    { "msg_limits", test_limits },
    { "msg_array_cap", test_array_cap },
    { "msg_not_nul_terminated", test_not_nul_terminated },
    { "msg_mutations", test_mutations },
    { "msg_corpus", test_corpus },
    { "msg_helpers", test_helpers },
    { "msg_peek_rid", test_peek_rid },
    { "msg_batch_bounds", test_batch_bounds },
    { "msg_batch_malformed", test_batch_malformed },
    { NULL, NULL }
};

int
main (void)
{
    const tpc_test_suite_t suites[] = {
        { "msg", NULL, NULL, s_cases },
        { NULL, NULL, NULL, NULL }
    };
    return tpc_test_main ("test_msg", suites);
}
