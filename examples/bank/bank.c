/*  bank: money transfers between accounts in two databases (PostgreSQL,
 *  MariaDB or one of each), through tpc, and the checker that proves
 *  nothing was half-done.
 *
 *  Schema (same in both databases; see bank_db.c for MariaDB's types):
 *      accounts  (id int PRIMARY KEY, balance bigint CHECK (balance >= 0))
 *      transfers (tid text PRIMARY KEY, amount bigint)
 *
 *  A transfer moves AMOUNT from an account in one database to an account in
 *  the other: one UPDATE and one INSERT of the transfer id (tid) on each
 *  side, submitted as one tpc transaction.  Overdrafts violate the CHECK,
 *  the debit side votes no and the whole transfer aborts.  With
 *  --interactive K every K-th transfer of a client runs interactively
 *  instead (tpc_begin, the four statements by tpc_exec, tpc_commit; an
 *  overdraft then fails its exec and the transfer is rolled back).
 *
 *    bank setup DB DB [--accounts N] [--balance B]
 *    bank run   [--coordinator EP] --on NAME --on NAME [--transfers N]
 *               [--clients C] [--timeout-ms T] [--seed S] [--ledger FILE]
 *               [--protocol 2pc|3pc] [--interactive K]
 *    bank check DB DB [--accounts N] [--balance B]
 *               [--ledger FILE] [--wait-ms T]
 *
 *  where DB is --db URL (PostgreSQL: a libpq conninfo) or --maria-file
 *  FILE (MariaDB: the agent's conninfo file, see bank_db.h), in the order
 *  of the --on names.  The statements are the same on both engines (the
 *  MariaDB agent binds $n parameters itself).
 *
 *  The ledger has one line per transfer: "<tid> <outcome> <gid>", outcome
 *  committed | aborted | in_doubt (no answer reached the client).  check
 *  proves: the sum of all balances is unchanged; every tid is in both
 *  databases or in neither (no mixed outcome); every acknowledged commit is
 *  in both and every acknowledged abort in neither; no prepared transaction
 *  is left (after waiting up to --wait-ms for recovery to finish; MariaDB:
 *  no row in XA RECOVER).  It prints one line:
 *      bank check: verdict=OK|FAIL transfers=.. committed=.. aborted=..
 *        in_doubt=.. mixed=.. lost=.. prepared_left=.. sum_before=..
 *        sum_after=.. engines=<engine>,<engine>
 *  and exits 0 only for OK.  `run` takes CURVE keys from the environment,
 *  as tpcctl does: TPC_CURVE_SECRET (the client's key pair) and
 *  TPC_COORDINATOR_PUBLIC (the coordinator's public key).
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bank_db.h"
#include "tpc_client.h"

#define MAX_DBS 2

typedef struct {
    const char *db[MAX_DBS];
    bank_db_engine_t engine[MAX_DBS];
    const char *on[MAX_DBS];
    int ndb, non;
    const char *coordinator;
    const char *ledger;
    const char *protocol;       /* "2pc", "3pc" or NULL (coordinator's) */
    long accounts, balance, transfers, clients, timeout_ms, wait_ms;
    long interactive;           /* every K-th transfer begin/exec/commit */
    unsigned seed;
} s_args_t;

/* ---------------------------------------------------------------- setup */

static int
s_setup (const s_args_t *a)
{
    for (int i = 0; i < a->ndb; i++) {
        bank_db_t *db = bank_db_new (a->engine[i], a->db[i]);
        if (!db)
            return 1;
        int rc = bank_db_setup (db, a->accounts, a->balance);
        bank_db_destroy (&db);
        if (rc)
            return 1;
    }
    printf ("bank setup: databases=%d accounts=%ld balance=%ld total=%ld\n",
            a->ndb, a->accounts, a->balance,
            (long) a->ndb * a->accounts * a->balance);
    return 0;
}

/* ------------------------------------------------------------------ run */

typedef struct {
    const s_args_t *a;
    int id;
    long todo;
    FILE *ledger;
    pthread_mutex_t *lock;
    long committed, aborted, in_doubt;
} s_worker_t;

/*  The same transfer, interactively: begin, each statement, commit.  A
 *  failed statement rolls back (an overdraft fails here, not at the vote).
 *  Returns as tpc_submit.                                                */
static int
s_interactive (tpc_client_t *c, const tpc_client_stmt_t *st,
               const tpc_txn_opts_t *to, char *gid,
               tpc_client_outcome_t *out, char *reason, size_t size)
{
    int rc = tpc_begin (c, to, gid);
    for (int i = 0; !rc && i < 4; i++)
        rc = tpc_exec (c, gid, st[i].on, st[i].sql, st[i].nparams,
                       st[i].params, NULL);
    if (!rc)
        return tpc_commit (c, gid, out, reason, size);
    if (!*gid)                  /* begin failed: nothing started */
        return rc;
    snprintf (reason, size, "%s", tpc_client_errmsg (c));
    int rb = tpc_rollback (c, gid, out, NULL, 0);
    if (rb == 0)
        return TPC_CLIENT_EABORTED;
    *out = TPC_CLIENT_OUTCOME_UNKNOWN;    /* no answer: in doubt */
    return rb;
}

static void *
s_worker (void *arg)
{
    s_worker_t *w = arg;
    const s_args_t *a = w->a;
    tpc_client_opts_t o = { .timeout_ms = (int) a->timeout_ms };
    /* CURVE keys as for tpcctl: the client's key pair and the
     * coordinator's public key */
    const char *sec = getenv ("TPC_CURVE_SECRET");
    const char *pub = getenv ("TPC_COORDINATOR_PUBLIC");
    o.curve_secret_file = sec && *sec ? sec : NULL;
    o.curve_server_file = pub && *pub ? pub : NULL;
    tpc_client_t *c = tpc_client_new (a->coordinator, &o);
    if (!c) {
        fprintf (stderr, "bank: client %d: cannot create client\n", w->id);
        w->in_doubt += w->todo;
        return NULL;
    }
    unsigned seed = a->seed * 7919u + (unsigned) w->id;
    for (long n = 0; n < w->todo; n++) {
        char tid[64], amount[24], from[24], to[24];
        snprintf (tid, sizeof tid, "t%u_%d_%ld", a->seed, w->id, n);
        snprintf (amount, sizeof amount, "%d", 1 + rand_r (&seed) % 50);
        snprintf (from, sizeof from, "%ld", 1 + (long) (rand_r (&seed) % a->accounts));
        snprintf (to, sizeof to, "%ld", 1 + (long) (rand_r (&seed) % a->accounts));
        int dir = rand_r (&seed) % 2;
        const char *debit_p[] = { amount, from };
        const char *credit_p[] = { amount, to };
        const char *log_p[] = { tid, amount };
        tpc_client_stmt_t st[4] = {
            { a->on[dir], "UPDATE accounts SET balance = balance - $1 WHERE id = $2", 2, debit_p },
            { a->on[dir], "INSERT INTO transfers (tid, amount) VALUES ($1, $2)", 2, log_p },
            { a->on[1 - dir], "UPDATE accounts SET balance = balance + $1 WHERE id = $2", 2, credit_p },
            { a->on[1 - dir], "INSERT INTO transfers (tid, amount) VALUES ($1, $2)", 2, log_p },
        };
        char gid[TPC_CLIENT_GID_MAX] = "";
        tpc_client_outcome_t out = TPC_CLIENT_OUTCOME_UNKNOWN;
        char reason[256] = "";
        tpc_txn_opts_t topts = { .protocol = a->protocol };
        int rc;
        if (a->interactive > 0 && n % a->interactive == a->interactive - 1)
            rc = s_interactive (c, st, &topts, gid, &out, reason, sizeof reason);
        else
            rc = tpc_submit (c, st, 4, &topts, gid, &out, reason, sizeof reason);
        const char *word;
        if (rc == 0 && out == TPC_CLIENT_COMMITTED) {
            word = "committed";
            w->committed++;
        }
        else if (rc == TPC_CLIENT_EABORTED || out == TPC_CLIENT_ABORTED) {
            word = "aborted";
            w->aborted++;
        }
        else {
            word = "in_doubt";
            w->in_doubt++;
        }
        pthread_mutex_lock (w->lock);
        if (w->ledger)
            fprintf (w->ledger, "%s %s %s\n", tid, word, *gid ? gid : "-");
        pthread_mutex_unlock (w->lock);
    }
    tpc_client_destroy (&c);
    return NULL;
}

static int
s_run (const s_args_t *a)
{
    if (a->non != 2) {
        fprintf (stderr, "bank run: give exactly two --on NAME\n");
        return 2;
    }
    FILE *ledger = a->ledger ? fopen (a->ledger, "a") : NULL;
    if (a->ledger && !ledger) {
        perror (a->ledger);
        return 1;
    }
    if (ledger)
        setvbuf (ledger, NULL, _IOLBF, 0);
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    long nc = a->clients > 0 ? a->clients : 1;
    s_worker_t *w = calloc ((size_t) nc, sizeof *w);
    pthread_t *t = calloc ((size_t) nc, sizeof *t);
    if (!w || !t)
        return 1;
    struct timespec t0, t1;
    clock_gettime (CLOCK_MONOTONIC, &t0);
    for (long i = 0; i < nc; i++) {
        w[i] = (s_worker_t) { .a = a, .id = (int) i, .ledger = ledger,
                              .lock = &lock,
                              .todo = a->transfers / nc + (i < a->transfers % nc) };
        pthread_create (&t[i], NULL, s_worker, &w[i]);
    }
    long c = 0, ab = 0, d = 0;
    for (long i = 0; i < nc; i++) {
        pthread_join (t[i], NULL);
        c += w[i].committed;
        ab += w[i].aborted;
        d += w[i].in_doubt;
    }
    clock_gettime (CLOCK_MONOTONIC, &t1);
    double s = (double) (t1.tv_sec - t0.tv_sec) + (double) (t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf ("bank run: transfers=%ld committed=%ld aborted=%ld in_doubt=%ld "
            "clients=%ld seconds=%.2f tps=%.0f\n",
            c + ab + d, c, ab, d, nc, s, s > 0 ? (double) (c + ab + d) / s : 0.0);
    if (ledger)
        fclose (ledger);
    free (w);
    free (t);
    return 0;
}

/* ---------------------------------------------------------------- check */

/*  Number of tids present in exactly one of the two databases (-1 on
 *  error): a merge of both sorted tid lists.                             */
static long
s_unmatched_tids (bank_db_t *c0, bank_db_t *c1)
{
    char **t0 = NULL, **t1 = NULL;
    size_t n0 = 0, n1 = 0, i = 0, j = 0;
    long n = -1;
    if (bank_db_tids (c0, &t0, &n0) < 0 || bank_db_tids (c1, &t1, &n1) < 0)
        goto cleanup;
    n = 0;
    while (i < n0 || j < n1) {
        int cmp = i >= n0 ? 1 : j >= n1 ? -1 : strcmp (t0[i], t1[j]);
        if (cmp == 0) {
            i++;
            j++;
            continue;
        }
        n++;
        fprintf (stderr, "bank check: MIXED tid=%s only in db%d\n",
                 cmp < 0 ? t0[i] : t1[j], cmp < 0 ? 1 : 2);
        if (cmp < 0)
            i++;
        else
            j++;
    }
cleanup:
    for (size_t k = 0; t0 && k < n0; k++)
        free (t0[k]);
    for (size_t k = 0; t1 && k < n1; k++)
        free (t1[k]);
    free (t0);
    free (t1);
    return n;
}

static int
s_check (const s_args_t *a)
{
    if (a->ndb != 2) {
        fprintf (stderr, "bank check: give exactly two databases (--db URL, --maria-file FILE)\n");
        return 2;
    }
    bank_db_t *c[2] = { bank_db_new (a->engine[0], a->db[0]),
                        bank_db_new (a->engine[1], a->db[1]) };
    if (!c[0] || !c[1]) {
        bank_db_destroy (&c[0]);
        bank_db_destroy (&c[1]);
        return 1;
    }
    /* Recovery may still be finishing: wait for prepared transactions
     * (PostgreSQL's pg_prepared_xacts, MariaDB's XA RECOVER). */
    int64_t prepared = 0;
    for (long waited = 0;; waited += 200) {
        prepared = 0;
        for (int i = 0; i < 2; i++) {
            int64_t p = bank_db_prepared (c[i]);
            prepared += p < 0 ? 1 : p;     /* an error is not a pass */
        }
        if (prepared == 0 || waited >= a->wait_ms)
            break;
        usleep (200 * 1000);
    }
    int64_t sum_before = 2 * (int64_t) a->accounts * a->balance;
    int64_t s0 = bank_db_int (c[0], "SELECT sum(balance) FROM accounts");
    int64_t s1 = bank_db_int (c[1], "SELECT sum(balance) FROM accounts");
    int64_t sum_after = s0 == INT64_MIN || s1 == INT64_MIN ? -1 : s0 + s1;
    /* mixed: a tid present on one side only (full outer join per side). */
    int64_t n0 = bank_db_int (c[0], "SELECT count(*) FROM transfers");
    int64_t n1 = bank_db_int (c[1], "SELECT count(*) FROM transfers");
    long mixed = 0, lost = 0, committed = 0, aborted = 0, doubt = 0, lines = 0;
    FILE *f = a->ledger ? fopen (a->ledger, "r") : NULL;
    char line[512];
    while (f && fgets (line, sizeof line, f)) {
        char tid[128], outcome[32];
        if (sscanf (line, "%127s %31s", tid, outcome) != 2)
            continue;
        lines++;
        int h0 = bank_db_has_tid (c[0], tid), h1 = bank_db_has_tid (c[1], tid);
        if (h0 != h1) {
            mixed++;
            fprintf (stderr, "bank check: MIXED tid=%s db1=%d db2=%d\n", tid, h0, h1);
        }
        if (!strcmp (outcome, "committed")) {
            committed++;
            if (!h0 || !h1) {
                lost++;
                fprintf (stderr, "bank check: LOST acknowledged commit tid=%s\n", tid);
            }
        }
        else if (!strcmp (outcome, "aborted")) {
            aborted++;
            if (h0 || h1) {
                lost++;
                fprintf (stderr, "bank check: acknowledged abort applied tid=%s\n", tid);
            }
        }
        else
            doubt++;
    }
    if (f)
        fclose (f);
    /* Every tid in either database, ledger or not, must be in both. */
    long unmatched = s_unmatched_tids (c[0], c[1]);
    if (unmatched < 0)
        unmatched = 1;
    if (unmatched > mixed)
        mixed = unmatched;
    bool ok = sum_after == sum_before && mixed == 0 && lost == 0
              && prepared == 0 && n0 >= 0 && n1 >= 0;
    printf ("bank check: verdict=%s transfers=%ld committed=%ld aborted=%ld "
            "in_doubt=%ld applied=%" PRId64 " mixed=%ld lost=%ld prepared_left=%" PRId64
            " sum_before=%" PRId64 " sum_after=%" PRId64 " engines=%s,%s\n",
            ok ? "OK" : "FAIL", lines, committed, aborted, doubt, n0, mixed,
            lost, prepared, sum_before, sum_after,
            bank_db_engine_name (c[0]), bank_db_engine_name (c[1]));
    bank_db_destroy (&c[0]);
    bank_db_destroy (&c[1]);
    return ok ? 0 : 1;
}

/* ----------------------------------------------------------------- main */

static void
s_usage (FILE *f)
{
    fprintf (f,
             "usage: bank setup DB DB [--accounts N] [--balance B]\n"
             "       bank run [--coordinator EP] --on NAME --on NAME [--transfers N]\n"
             "                [--clients C] [--timeout-ms T] [--seed S] [--ledger FILE]\n"
             "                [--protocol 2pc|3pc] [--interactive K]\n"
             "       bank check DB DB [--accounts N] [--balance B]\n"
             "                [--ledger FILE] [--wait-ms T]\n"
             "DB: --db URL (PostgreSQL) or --maria-file FILE (MariaDB conninfo file)\n"
             "exit: 0 ok, 1 failure (check: verdict FAIL), 2 usage\n");
}

int
main (int argc, char **argv)
{
    s_args_t a = { .accounts = 1000, .balance = 1000, .transfers = 200,
                   .clients = 8, .timeout_ms = 5000, .wait_ms = 30000,
                   .seed = 1 };
    if (argc < 2) {
        s_usage (stderr);
        return 2;
    }
    const char *cmd = argv[1];
    for (int i = 2; i < argc; i++) {
        const char *k = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf (stderr, "bank: %s needs a value\n", k);
            return 2;
        }
        i++;
        if ((!strcmp (k, "--db") || !strcmp (k, "--maria-file")) && a.ndb < MAX_DBS) {
            a.engine[a.ndb] = !strcmp (k, "--db") ? BANK_DB_PG : BANK_DB_MARIA;
            a.db[a.ndb++] = v;
        }
        else if (!strcmp (k, "--on") && a.non < MAX_DBS)
            a.on[a.non++] = v;
        else if (!strcmp (k, "--coordinator"))
            a.coordinator = v;
        else if (!strcmp (k, "--ledger"))
            a.ledger = v;
        else if (!strcmp (k, "--accounts"))
            a.accounts = atol (v);
        else if (!strcmp (k, "--balance"))
            a.balance = atol (v);
        else if (!strcmp (k, "--transfers"))
            a.transfers = atol (v);
        else if (!strcmp (k, "--clients"))
            a.clients = atol (v);
        else if (!strcmp (k, "--timeout-ms"))
            a.timeout_ms = atol (v);
        else if (!strcmp (k, "--wait-ms"))
            a.wait_ms = atol (v);
        else if (!strcmp (k, "--seed"))
            a.seed = (unsigned) atol (v);
        else if (!strcmp (k, "--protocol") && (!strcmp (v, "2pc")
                                               || !strcmp (v, "3pc")))
            a.protocol = v;
        else if (!strcmp (k, "--interactive"))
            a.interactive = atol (v);
        else {
            fprintf (stderr, "bank: unknown option %s\n", k);
            s_usage (stderr);
            return 2;
        }
    }
    if (a.accounts < 1 || a.balance < 0 || a.transfers < 0 || a.clients < 1) {
        fprintf (stderr, "bank: accounts >= 1, balance >= 0, clients >= 1\n");
        return 2;
    }
    if (!strcmp (cmd, "setup"))
        return s_setup (&a);
    if (!strcmp (cmd, "run"))
        return s_run (&a);
    if (!strcmp (cmd, "check"))
        return s_check (&a);
    s_usage (stderr);
    return 2;
}
