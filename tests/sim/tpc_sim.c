/*  tpc_sim: the seeded simulation of tpc's atomic commit (2PC and 3PC).
 *
 *      tpc_sim [--seeds N] [--first S] [--steps N] [--jobs J]
 *              [--recheck K] [--protocol 2pc|3pc] [--partition]
 *              [--partition-seeds N]
 *      tpc_sim --seed S [--protocol 2pc|3pc | --partition] [-v] [--steps N]
 *
 *  Runs seeds FIRST .. FIRST+N-1 (default 1 .. 10000), each a whole world
 *  (sim_world.h): the coordinator engine, three agents over in-memory
 *  databases, clients, a faulty network and disk, crashes, then a quiet
 *  phase to quiescence, with the invariants of sim_oracle.h checked after
 *  every step.  A violation prints the seed, the step and the invariant;
 *  `--seed S -v` replays that seed alone with a trace of every step.
 *  TPC_SIM_SEEDS=N in the environment caps every pass's default seed
 *  count at N (the sanitizer pass of scripts/test).
 *  --jobs runs seeds in that many worker processes (default: 2, or 1 for
 *  one seed); --recheck K runs every K-th seed (default 100) twice and
 *  counts a different trace digest as a violation (determinism).
 *
 *  Without --protocol, --partition or --ha it runs four passes: the 2PC
 *  worlds, the 3PC worlds (N seeds each), the partition case
 *  (--partition-seeds, default 1000) and the HA worlds (--ha-seeds,
 *  default 10000: 2PC on the fenced decision store, leaders paused past
 *  their lease, deposed and replaced; sim_world.h); --protocol 2pc|3pc
 *  runs that pass alone, --partition the partition case alone, --ha the
 *  HA worlds alone (N seeds).  Each pass ends
 *  with its line:
 *
 *      sim protocol=2pc seeds=<n> steps=<total steps> violations=<v>
 *      sim protocol=3pc seeds=<n> steps=<total steps> violations=<v>
 *      sim protocol=3pc partition seeds=<n> mixed=<seeds with a mixed
 *                                                 outcome>
 *      sim protocol=2pc ha seeds=<n> steps=<n> violations=<v>
 *                      fenced=<deposed leaders' writes refused>
 *                      takeovers=<leaders deposed and replaced>
 *
 *  The partition case shows the documented hazard of 3PC's classic
 *  termination rule under a partition: its mixed outcomes are expected
 *  and counted, and whatever else it finds is printed but does not change
 *  the exit status.  Exit status: 0 when no 2PC, 3PC or HA seed violated
 *  anything, 1 otherwise, 2 on bad usage.
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

typedef enum { S_2PC, S_3PC, S_PARTITION, S_HA, S_MODES } s_mode_t;

typedef struct {
    uint64_t first, seeds, steps, recheck, partition_seeds, ha_seeds;
    unsigned jobs;
    bool one, verbose;
    bool run[S_MODES];          /* the passes to run */
    s_mode_t mode;              /* the pass running */
} s_opts_t;

typedef struct {
    uint64_t seeds, steps, violations;
    uint64_t txns, committed, aborted, heard_committed;
    uint64_t coord_crashes, agent_crashes, db_crashes, checkpoints;
    uint64_t sim_ms;
    uint64_t p3_gids, coord_dead, partitioned, mixed, mixed_seeds;
    uint64_t peer_msgs, persists;
    uint64_t resolves, resolved;
    uint64_t takeovers, fenced, fenced_seeds;
} s_totals_t;

static const char *const s_mode_flags[S_MODES] = {
    " --protocol 2pc", " --protocol 3pc", " --partition", " --ha"
};

static void
s_usage (FILE *f)
{
    fprintf (f,
        "usage: tpc_sim [--seeds N] [--first S] [--steps N] [--jobs J]\n"
        "               [--recheck K] [--protocol 2pc|3pc] [--partition]\n"
        "               [--partition-seeds N] [--ha] [--ha-seeds N]\n"
        "       tpc_sim --seed S [--protocol 2pc|3pc | --partition | --ha] "
        "[-v] [--steps N]\n"
        "  --seeds N     run N seeds (default 10000) starting at --first "
        "(default 1)\n"
        "  --seed S      run seed S alone (replay); -v traces every step\n"
        "  --steps N     fault-phase steps per seed (default 400)\n"
        "  --jobs J      worker processes (default 2)\n"
        "  --recheck K   run every K-th seed twice, compare the traces "
        "(default 100;\n"
        "                0 = never)\n"
        "  --protocol P  run only the 2pc or the 3pc pass (default: both, "
        "then\n"
        "                the partition case)\n"
        "  --partition   run only the 3PC partition case (counts mixed "
        "outcomes)\n"
        "  --partition-seeds N  seeds of the partition case when all "
        "passes run\n"
        "                (default 1000)\n"
        "  --ha          run only the HA pass (2PC on the fenced store, leaders\n"
        "                deposed and replaced)\n"
        "  --ha-seeds N  seeds of the HA pass when all passes run (default "
        "10000)\n");
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
    *o = (s_opts_t) { .first = 1, .seeds = 10000, .jobs = 2, .recheck = 100,
                      .partition_seeds = 1000, .ha_seeds = 10000 };
    bool jobs_given = false, chosen = false;
    /* TPC_SIM_SEEDS=N: the default seed counts of every pass at most N
     * (scripts/test's sanitizer pass, where a seed costs a few times more);
     * flags still win                                                    */
    uint64_t cap = 0;
    if (s_number (getenv ("TPC_SIM_SEEDS"), &cap) && cap > 0) {
        o->seeds = o->seeds < cap ? o->seeds : cap;
        o->partition_seeds = o->partition_seeds < cap ? o->partition_seeds
                                                      : cap;
        o->ha_seeds = o->ha_seeds < cap ? o->ha_seeds : cap;
    }
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
            if (!v || (strcmp (v, "2pc") && strcmp (v, "3pc"))) {
                fprintf (stderr, "tpc_sim: --protocol: 2pc or 3pc\n");
                return -1;
            }
            o->run[strcmp (v, "2pc") ? S_3PC : S_2PC] = true;
            chosen = true;
            i++;
            continue;
        }
        if (!strcmp (a, "--partition")) {
            o->run[S_PARTITION] = true;
            chosen = true;
            continue;
        }
        if (!strcmp (a, "--ha")) {
            o->run[S_HA] = true;
            chosen = true;
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
        else if (!strcmp (a, "--partition-seeds"))
            o->partition_seeds = n;
        else if (!strcmp (a, "--ha-seeds"))
            o->ha_seeds = n;
        else {
            fprintf (stderr, "tpc_sim: bad option %s %s\n", a, v);
            return -1;
        }
    }
    if (!chosen)        /* every pass; a replay defaults to 2pc */
        for (int m = 0; m < S_MODES; m++)
            o->run[m] = !o->one || m == S_2PC;
    if (o->one) {
        int n = 0;
        for (int m = 0; m < S_MODES; m++)
            n += o->run[m];
        if (n != 1) {
            fprintf (stderr, "tpc_sim: --seed replays one pass: give one "
                     "--protocol, --partition or --ha\n");
            return -1;
        }
    }
    if (o->seeds == 1 && !jobs_given)
        o->jobs = 1;
    return 0;
}

/*  Run one seed (twice if asked); print a violation.  Returns false on a
 *  violation.                                                            */
static bool
s_run_seed (const s_opts_t *o, uint64_t seed, s_totals_t *t)
{
    sim_config_t cfg = { .seed = seed, .steps = o->steps,
                         .trace = o->verbose ? stdout : NULL,
                         .p3 = o->mode == S_3PC || o->mode == S_PARTITION,
                         .partition = o->mode == S_PARTITION,
                         .ha = o->mode == S_HA };
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
    t->p3_gids += r.p3_gids;
    t->coord_dead += r.coord_dead;
    t->partitioned += r.partitioned;
    t->mixed += r.mixed;
    t->mixed_seeds += r.mixed > 0;
    t->peer_msgs += r.peer_msgs;
    t->persists += r.persists;
    t->resolves += r.resolves;
    t->resolved += r.resolved;
    t->takeovers += r.takeovers;
    t->fenced += r.fenced;
    t->fenced_seeds += r.fenced > 0;
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
    if (o->verbose || o->one) {
        printf ("seed %" PRIu64 ": %" PRIu64 " steps, %" PRIu64 " ms, %zu "
                "transactions (%zu durably committed, %zu aborted by the "
                "coordinator, %zu heard committed), crashes: %zu "
                "coordinator, %zu agent, %zu database; digest %016" PRIx64
                "\n", seed, r.steps, r.sim_ms, r.txns, r.committed,
                r.aborted, r.heard_committed, r.coord_crashes,
                r.agent_crashes, r.db_crashes, r.hash);
        if (o->mode == S_HA)
            printf ("seed %" PRIu64 ": ha: %zu takeovers, %zu deposed "
                    "leaders' writes fenced\n", seed, r.takeovers, r.fenced);
        if (o->mode == S_3PC || o->mode == S_PARTITION)
            printf ("seed %" PRIu64 ": 3pc: %zu gids, coordinator %s, %s%zu "
                    "mixed, %zu peer messages, %zu states made durable\n",
                    seed, r.p3_gids, r.coord_dead ? "dead for good"
                                                  : "alive at the end",
                    r.partitioned ? "partitioned, " : "", r.mixed,
                    r.peer_msgs, r.persists);
    }
    if (!r.violation[0])
        return true;
    t->violations++;
    char steps[48] = "";
    if (o->steps)
        snprintf (steps, sizeof steps, " --steps %" PRIu64, o->steps);
    printf ("%sVIOLATION seed=%" PRIu64 " step=%" PRIu64 " t=%" PRIu64
            "ms: %s\n  replay: tests/sim/tpc_sim --seed %" PRIu64 "%s%s -v\n",
            o->mode == S_PARTITION ? "partition: " : "", seed,
            r.violation_step, r.violation_ms, r.violation, seed,
            s_mode_flags[o->mode], steps);
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
    sum->p3_gids += t->p3_gids;
    sum->coord_dead += t->coord_dead;
    sum->partitioned += t->partitioned;
    sum->mixed += t->mixed;
    sum->mixed_seeds += t->mixed_seeds;
    sum->peer_msgs += t->peer_msgs;
    sum->persists += t->persists;
    sum->resolves += t->resolves;
    sum->resolved += t->resolved;
    sum->takeovers += t->takeovers;
    sum->fenced += t->fenced;
    sum->fenced_seeds += t->fenced_seeds;
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

/*  One pass (o->mode) over o->seeds seeds; its totals into *TOTAL.
 *  Returns 0, or 2 when a worker could not be started.                   */
static int
s_pass (const s_opts_t *o_in, s_totals_t *total)
{
    s_opts_t o = *o_in;
    if (o.jobs > o.seeds)
        o.jobs = (unsigned) o.seeds;
    *total = (s_totals_t) { 0 };
    if (o.jobs <= 1) {
        for (uint64_t i = 0; i < o.seeds; i++)
            s_run_seed (&o, o.first + i, total);
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
                for (unsigned k = 0; k < j; k++)
                    close (fds[k]);
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
                total->violations++;
                continue;
            }
            s_add (total, &t);
        }
    }
    return 0;
}

static void
s_report (const s_opts_t *o, const s_totals_t *t)
{
    if (!o->one) {
        printf ("sim figures%s: %" PRIu64 " transactions, %" PRIu64
                " durably committed, %" PRIu64 " aborted by the coordinator, %"
                PRIu64 " heard committed by clients; crashes: %" PRIu64
                " coordinator, %" PRIu64 " agent, %" PRIu64 " database; %"
                PRIu64 " checkpoints; %" PRIu64 " s simulated; %" PRIu64
                " operator resolves, %" PRIu64 " accepted\n",
                o->mode == S_2PC ? "" : o->mode == S_3PC ? " (3pc)"
                : o->mode == S_HA ? " (ha)" : " (partition)",
                t->txns, t->committed, t->aborted, t->heard_committed,
                t->coord_crashes, t->agent_crashes, t->db_crashes,
                t->checkpoints, t->sim_ms / 1000, t->resolves,
                t->resolved);
        if (o->mode == S_HA)
            printf ("sim figures (ha): %" PRIu64 " takeovers, %" PRIu64
                    " deposed leaders' writes fenced (in %" PRIu64 " seeds)\n",
                    t->takeovers, t->fenced, t->fenced_seeds);
        if (o->mode == S_3PC || o->mode == S_PARTITION)
            printf ("sim figures%s: %" PRIu64 " 3pc gids, %" PRIu64 " states "
                    "made durable, %" PRIu64 " peer messages; the coordinator "
                    "died for good in %" PRIu64 " seeds; %" PRIu64
                    " partitioned; %" PRIu64 " mixed gids%s\n",
                    o->mode == S_3PC ? " (3pc)" : " (partition)", t->p3_gids,
                    t->persists, t->peer_msgs, t->coord_dead, t->partitioned,
                    t->mixed, o->mode == S_PARTITION && t->violations
                              ? " (and other findings above: not counted)"
                              : "");
    }
    if (o->mode == S_HA)
        printf ("sim protocol=2pc ha seeds=%" PRIu64 " steps=%" PRIu64
                " violations=%" PRIu64 " fenced=%" PRIu64 " takeovers=%"
                PRIu64 "\n", t->seeds, t->steps, t->violations, t->fenced,
                t->takeovers);
    else if (o->mode == S_PARTITION)
        printf ("sim protocol=3pc partition seeds=%" PRIu64 " mixed=%" PRIu64
                "\n", t->seeds, t->mixed_seeds);
    else
        printf ("sim protocol=%s seeds=%" PRIu64 " steps=%" PRIu64
                " violations=%" PRIu64 "\n", o->mode == S_2PC ? "2pc" : "3pc",
                t->seeds, t->steps, t->violations);
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
    bool all = o.run[S_2PC] && o.run[S_3PC] && o.run[S_PARTITION]
               && o.run[S_HA];
    int status = 0;
    for (int m = 0; m < S_MODES; m++) {
        if (!o.run[m])
            continue;
        s_opts_t pass = o;
        pass.mode = (s_mode_t) m;
        if (m == S_PARTITION && all && !o.one)
            pass.seeds = o.partition_seeds;
        if (m == S_HA && all && !o.one)
            pass.seeds = o.ha_seeds;
        if (pass.seeds == 0)
            continue;
        s_totals_t total;
        if (s_pass (&pass, &total))
            return 2;
        s_report (&pass, &total);
        if (m != S_PARTITION && total.violations)
            status = 1;
    }
    return status;
}
