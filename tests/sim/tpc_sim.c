/*  tpc_sim: the seeded simulation of tpc's atomic commit (2PC).
 *
 *      tpc_sim [--seeds N] [--first S] [--steps N] [--jobs J]
 *              [--recheck K] [--protocol 2pc]
 *      tpc_sim --seed S [-v] [--steps N]
 *
 *  Runs seeds FIRST .. FIRST+N-1 (default 1 .. 10000), each a whole world
 *  (sim_world.h): the coordinator engine, three agents over in-memory
 *  databases, clients, a faulty network and disk, crashes, then a quiet
 *  phase to quiescence, with the invariants of sim_oracle.h checked after
 *  every step.  A violation prints the seed, the step and the invariant;
 *  `--seed S -v` replays that seed alone with a trace of every step.
 *  --jobs runs seeds in that many worker processes (default: 2, or 1 for
 *  one seed); --recheck K runs every K-th seed (default 100) twice and
 *  counts a different trace digest as a violation (determinism).  The
 *  last line:
 *
 *      sim protocol=2pc seeds=<n> steps=<total steps> violations=<v>
 *
 *  Exit status: 0 when no seed violated anything, 1 otherwise, 2 on bad
 *  usage.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sim_world.h"

#define S_JOBS_MAX 64

typedef struct {
    uint64_t first, seeds, steps, recheck;
    unsigned jobs;
    bool one, verbose;
} s_opts_t;

typedef struct {
    uint64_t seeds, steps, violations;
    uint64_t txns, committed, aborted, heard_committed;
    uint64_t coord_crashes, agent_crashes, db_crashes, checkpoints;
    uint64_t sim_ms;
} s_totals_t;

static void
s_usage (FILE *f)
{
    fprintf (f,
        "usage: tpc_sim [--seeds N] [--first S] [--steps N] [--jobs J]\n"
        "               [--recheck K] [--protocol 2pc]\n"
        "       tpc_sim --seed S [-v] [--steps N]\n"
        "  --seeds N     run N seeds (default 10000) starting at --first "
        "(default 1)\n"
        "  --seed S      run seed S alone (replay); -v traces every step\n"
        "  --steps N     fault-phase steps per seed (default 400)\n"
        "  --jobs J      worker processes (default 2)\n"
        "  --recheck K   run every K-th seed twice, compare the traces "
        "(default 100;\n"
        "                0 = never)\n"
        "  --protocol P  only 2pc\n");
}

static bool
s_number (const char *text, uint64_t *out)
{
    if (!text || !*text)
        return false;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull (text, &end, 10);
    if (errno || *end || text[0] == '-')
        return false;
    *out = v;
    return true;
}

static int
s_parse (int argc, char **argv, s_opts_t *o)
{
    *o = (s_opts_t) { .first = 1, .seeds = 10000, .jobs = 2, .recheck = 100 };
    bool jobs_given = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        uint64_t n = 0;
        if (!strcmp (a, "-v") || !strcmp (a, "--verbose")) {
            o->verbose = true;
            continue;
        }
        if (!strcmp (a, "-h") || !strcmp (a, "--help")) {
            s_usage (stdout);
            exit (0);
        }
        if (!strcmp (a, "--protocol")) {
            if (!v || strcmp (v, "2pc")) {
                fprintf (stderr, "tpc_sim: --protocol: only 2pc is "
                         "simulated\n");
                return -1;
            }
            i++;
            continue;
        }
        if (!s_number (v, &n)) {
            fprintf (stderr, "tpc_sim: %s needs a number\n", a);
            return -1;
        }
        i++;
        if (!strcmp (a, "--seeds") && n > 0)
            o->seeds = n;
        else if (!strcmp (a, "--first"))
            o->first = n;
        else if (!strcmp (a, "--seed")) {
            o->first = n;
            o->seeds = 1;
            o->one = true;
        }
        else if (!strcmp (a, "--steps") && n > 0)
            o->steps = n;
        else if (!strcmp (a, "--jobs") && n > 0 && n <= S_JOBS_MAX) {
            o->jobs = (unsigned) n;
            jobs_given = true;
        }
        else if (!strcmp (a, "--recheck"))
            o->recheck = n;
        else {
            fprintf (stderr, "tpc_sim: bad option %s %s\n", a, v);
            return -1;
        }
    }
    if (o->seeds == 1 && !jobs_given)
        o->jobs = 1;
    if (o->jobs > o->seeds)
        o->jobs = (unsigned) o->seeds;
    return 0;
}

/*  Run one seed (twice if asked); print a violation.  Returns false on a
 *  violation.                                                            */
static bool
s_run_seed (const s_opts_t *o, uint64_t seed, s_totals_t *t)
{
    sim_config_t cfg = { .seed = seed, .steps = o->steps,
                         .trace = o->verbose ? stdout : NULL };
    sim_result_t r;
    if (sim_world_run (&cfg, &r) != 0) {
        printf ("tpc_sim: seed %" PRIu64 ": out of memory\n", seed);
        t->violations++;
        return false;
    }
    t->seeds++;
    t->steps += r.steps;
    t->txns += r.txns;
    t->committed += r.committed;
    t->aborted += r.aborted;
    t->heard_committed += r.heard_committed;
    t->coord_crashes += r.coord_crashes;
    t->agent_crashes += r.agent_crashes;
    t->db_crashes += r.db_crashes;
    t->checkpoints += r.checkpoints;
    t->sim_ms += r.sim_ms;
    if (!r.violation[0] && o->recheck && seed % o->recheck == 0) {
        sim_result_t again;
        cfg.trace = NULL;
        if (sim_world_run (&cfg, &again) == 0
            && (again.hash != r.hash || again.steps != r.steps))
            snprintf (r.violation, sizeof r.violation, "determinism: a second "
                      "run gave %" PRIu64 " steps, digest %016" PRIx64
                      " (first: %" PRIu64 ", %016" PRIx64 ")", again.steps,
                      again.hash, r.steps, r.hash);
    }
    if (o->verbose || o->one)
        printf ("seed %" PRIu64 ": %" PRIu64 " steps, %" PRIu64 " ms, %zu "
                "transactions (%zu durably committed, %zu aborted by the "
                "coordinator, %zu heard committed), crashes: %zu "
                "coordinator, %zu agent, %zu database; digest %016" PRIx64
                "\n", seed, r.steps, r.sim_ms, r.txns, r.committed,
                r.aborted, r.heard_committed, r.coord_crashes,
                r.agent_crashes, r.db_crashes, r.hash);
    if (!r.violation[0])
        return true;
    t->violations++;
    char steps[48] = "";
    if (o->steps)
        snprintf (steps, sizeof steps, " --steps %" PRIu64, o->steps);
    printf ("VIOLATION seed=%" PRIu64 " step=%" PRIu64 " t=%" PRIu64 "ms: %s\n"
            "  replay: tests/sim/tpc_sim --seed %" PRIu64 "%s -v\n", seed,
            r.violation_step, r.violation_ms, r.violation, seed, steps);
    fflush (stdout);
    return false;
}

static void
s_add (s_totals_t *sum, const s_totals_t *t)
{
    sum->seeds += t->seeds;
    sum->steps += t->steps;
    sum->violations += t->violations;
    sum->txns += t->txns;
    sum->committed += t->committed;
    sum->aborted += t->aborted;
    sum->heard_committed += t->heard_committed;
    sum->coord_crashes += t->coord_crashes;
    sum->agent_crashes += t->agent_crashes;
    sum->db_crashes += t->db_crashes;
    sum->checkpoints += t->checkpoints;
    sum->sim_ms += t->sim_ms;
}

/*  Worker J of o->jobs: seeds first + J, first + J + jobs, ...  Writes
 *  its totals to FD.                                                     */
static void
s_worker (const s_opts_t *o, unsigned j, int fd)
{
    s_totals_t t = { 0 };
    for (uint64_t i = j; i < o->seeds; i += o->jobs)
        s_run_seed (o, o->first + i, &t);
    fflush (stdout);
    ssize_t n = write (fd, &t, sizeof t);
    (void) n;
}

int
main (int argc, char **argv)
{
    s_opts_t o;
    if (s_parse (argc, argv, &o)) {
        s_usage (stderr);
        return 2;
    }
    setvbuf (stdout, NULL, _IOLBF, 0);
    s_totals_t total = { 0 };
    if (o.jobs <= 1) {
        for (uint64_t i = 0; i < o.seeds; i++)
            s_run_seed (&o, o.first + i, &total);
    }
    else {
        int fds[S_JOBS_MAX];
        pid_t pids[S_JOBS_MAX];
        fflush (stdout);
        for (unsigned j = 0; j < o.jobs; j++) {
            int p[2];
            if (pipe (p) != 0) {
                perror ("tpc_sim: pipe");
                return 2;
            }
            pids[j] = fork ();
            if (pids[j] < 0) {
                perror ("tpc_sim: fork");
                return 2;
            }
            if (pids[j] == 0) {
                close (p[0]);
                s_worker (&o, j, p[1]);
                _exit (0);
            }
            close (p[1]);
            fds[j] = p[0];
        }
        for (unsigned j = 0; j < o.jobs; j++) {
            s_totals_t t;
            int status = 0;
            ssize_t n = read (fds[j], &t, sizeof t);
            close (fds[j]);
            waitpid (pids[j], &status, 0);
            if (n != (ssize_t) sizeof t || !WIFEXITED (status)
                || WEXITSTATUS (status)) {
                printf ("tpc_sim: worker %u died (status %d)\n", j, status);
                total.violations++;
                continue;
            }
            s_add (&total, &t);
        }
    }
    if (!o.one)
        printf ("sim figures: %" PRIu64 " transactions, %" PRIu64 " durably "
                "committed, %" PRIu64 " aborted by the coordinator, %" PRIu64
                " heard committed by clients; crashes: %" PRIu64
                " coordinator, %" PRIu64 " agent, %" PRIu64 " database; %"
                PRIu64 " checkpoints; %" PRIu64 " s simulated\n", total.txns,
                total.committed, total.aborted, total.heard_committed,
                total.coord_crashes, total.agent_crashes, total.db_crashes,
                total.checkpoints, total.sim_ms / 1000);
    printf ("sim protocol=2pc seeds=%" PRIu64 " steps=%" PRIu64
            " violations=%" PRIu64 "\n", total.seeds, total.steps,
            total.violations);
    return total.violations ? 1 : 0;
}
