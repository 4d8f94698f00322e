/*  sim_oracle: the simulation's history of decisions and database states,
 *  checked event by event (see sim_oracle.h for the invariants).
 *
 *  One entry per gid, kept in a vector in first-seen order (a zhashx maps
 *  gid -> index for lookups only, so hash order never shows).  Per gid:
 *  what the coordinator decided and emitted, what clients heard, and per
 *  participant the last observed database state plus whether it ever
 *  committed or aborted the gid, and for 3PC gids the last durable 3PC
 *  state.  Commit/abort conflicts of a 3PC gid go through s_conflict, which
 *  in partition mode counts them as a mixed outcome instead of failing.
 */
#include "sim_oracle.h"

#include <czmq.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    bool prepared;              /* last observed */
    char marker;                /* last observed: 'C', 'T', 0 */
    bool ever_prepared;
    bool committed;
    bool aborted;
    tpc_p3_t p3;                /* last durable 3PC state (UNKNOWN: none) */
} s_part_t;

typedef struct {
    char gid[TPC_GID_MAX];
    bool commit_appended;       /* a COMMIT record was queued */
    bool commit_durable;        /* ... and is durable: the decision */
    bool ended;                 /* an END record was queued: forgotten */
    uint32_t record_parts;      /* participants named by that record */
    bool coord_aborted;         /* the coordinator said or logged abort */
    char abort_how[96];
    uint32_t onephase;          /* participants sent work then=commit */
    uint32_t writes;            /* participants sent a write statement
                                   (not SELECT, SLEEP: part_mem.h) */
    bool p3;                    /* three-phase commit */
    bool precommit_durable;     /* a PRECOMMIT record is durable */
    uint32_t precommit_parts;   /* participants it names */
    bool mixed;                 /* counted as a mixed outcome */
    bool told_committed, told_aborted;    /* coordinator -> client */
    bool heard_committed, heard_aborted;  /* a client received it */
    int heur;                   /* a durable HEURISTIC record: 1 committed,
                                   2 aborted, 0 none */
    bool heur_guess;            /* ... an operator's resolve of a one-phase
                                   gid (its outcome unknown): a guess */
    s_part_t parts[SIM_ORACLE_PARTS_MAX];
} s_gid_t;

struct sim_oracle {
    size_t nparts;
    size_t resolved;            /* operators' HEURISTIC records durable */
    char names[SIM_ORACLE_PARTS_MAX][TPC_RECORD_NAME_MAX];
    s_gid_t **gids;
    size_t ngids, capgids;
    zhashx_t *index;            /* gid -> (uintptr_t) index + 1 */
    char *violation;
    bool count_mixed;           /* partition mode */
    size_t nmixed;
};

sim_oracle_t *
sim_oracle_new (size_t nparts, const char *const *names)
{
    if (nparts == 0 || nparts > SIM_ORACLE_PARTS_MAX)
        return NULL;
    sim_oracle_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->nparts = nparts;
    for (size_t i = 0; i < nparts; i++)
        snprintf (self->names[i], sizeof self->names[i], "%s", names[i]);
    self->index = zhashx_new ();
    if (!self->index) {
        sim_oracle_destroy (&self);
        return NULL;
    }
    return self;
}

void
sim_oracle_destroy (sim_oracle_t **self_p)
{
    sim_oracle_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->ngids; i++)
        free (self->gids[i]);
    free (self->gids);
    zhashx_destroy (&self->index);
    free (self->violation);
    free (self);
    *self_p = NULL;
}

void
sim_oracle_fail (sim_oracle_t *self, const char *fmt, ...)
{
    if (self->violation)
        return;
    va_list ap;
    va_start (ap, fmt);
    if (vasprintf (&self->violation, fmt, ap) < 0)
        self->violation = strdup ("(violation: no memory for its text)");
    va_end (ap);
}

const char *
sim_oracle_violation (sim_oracle_t *self)
{
    return self->violation;
}

/*  The entry for GID, created on first sight (NULL: no memory, recorded
 *  as a violation so the run stops rather than check less).              */
static s_gid_t *
s_gid (sim_oracle_t *self, const char *gid)
{
    uintptr_t at = (uintptr_t) zhashx_lookup (self->index, gid);
    if (at)
        return self->gids[at - 1];
    if (self->ngids == self->capgids) {
        size_t cap = self->capgids ? self->capgids * 2 : 64;
        s_gid_t **v = realloc (self->gids, cap * sizeof *v);
        if (!v)
            goto nomem;
        self->gids = v;
        self->capgids = cap;
    }
    s_gid_t *g = calloc (1, sizeof *g);
    if (!g)
        goto nomem;
    snprintf (g->gid, sizeof g->gid, "%s", gid);
    self->gids[self->ngids++] = g;
    zhashx_insert (self->index, g->gid, (void *) (uintptr_t) self->ngids);
    return g;
nomem:
    sim_oracle_fail (self, "oracle: out of memory");
    return NULL;
}

static int
s_part_index (sim_oracle_t *self, const char *name)
{
    for (size_t i = 0; i < self->nparts; i++)
        if (strcmp (self->names[i], name) == 0)
            return (int) i;
    return -1;
}

/*  A commit/abort conflict about G: a violation, or in partition mode a
 *  mixed outcome of a 3PC gid (counted once per gid).                    */
static void
s_conflict (sim_oracle_t *self, s_gid_t *g, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

static void
s_conflict (sim_oracle_t *self, s_gid_t *g, const char *fmt, ...)
{
    if (self->count_mixed && g->p3) {
        if (!g->mixed)
            self->nmixed++;
        g->mixed = true;
        return;
    }
    if (self->violation)
        return;
    va_list ap;
    va_start (ap, fmt);
    if (vasprintf (&self->violation, fmt, ap) < 0)
        self->violation = strdup ("(violation: no memory for its text)");
    va_end (ap);
}

/*  Did participant P vote yes on 3PC gid G (a durable 3PC state, or a
 *  PRECOMMIT naming it)?  Only yes voters' outcomes can be mixed: one that
 *  voted read-only (or no) holds no change, and may tombstone the gid
 *  when a stale message reopens it after the end.                        */
static bool
s_yes_voter (const s_gid_t *g, size_t p)
{
    return g->parts[p].p3 != TPC_P3_UNKNOWN
           || (g->precommit_durable && (g->precommit_parts & (1u << p)));
}

/*  3PC: does anyone commit G while a yes voter aborts it?  Commit: a
 *  database commit, a durable COMMITTED state, a durable COMMIT record.
 *  Abort: a yes voter's database rollback of the prepared gid or
 *  tombstone, a durable ABORTED state, the coordinator's abort.          */
static void
s_p3_mixed (sim_oracle_t *self, s_gid_t *g)
{
    if (!g->p3)
        return;
    int c = -1, a = -1;
    for (size_t p = 0; p < self->nparts; p++) {
        if (c < 0 && (g->parts[p].committed
                      || g->parts[p].p3 == TPC_P3_COMMITTED))
            c = (int) p;
        if (a < 0 && s_yes_voter (g, p) && (g->parts[p].aborted
                                            || g->parts[p].p3
                                               == TPC_P3_ABORTED))
            a = (int) p;
    }
    if (c >= 0 && a >= 0)
        s_conflict (self, g, "no mixed outcome: %s: %s committed it (%s) but "
                    "%s aborted it (%s)", g->gid, self->names[c],
                    g->parts[c].p3 == TPC_P3_COMMITTED ? "durable state"
                                                       : "database",
                    self->names[a], g->parts[a].p3 == TPC_P3_ABORTED
                                    ? "durable state" : "database");
    else if (c >= 0 && g->coord_aborted)
        s_conflict (self, g, "no mixed outcome: %s: %s committed it but the "
                    "coordinator aborted it (%s)", g->gid, self->names[c],
                    g->abort_how);
    else if (a >= 0 && g->commit_durable)
        s_conflict (self, g, "no mixed outcome: %s: %s aborted it but its "
                    "COMMIT record is durable", g->gid, self->names[a]);
}

/*  May participant P commit G (prepared) now?  2PC: a durable COMMIT
 *  naming it.  3PC also: a durable PRECOMMIT naming it (a termination
 *  leader may commit when the coordinator cannot).                       */
static bool
s_commit_allowed (const s_gid_t *g, size_t p)
{
    if (g->commit_durable && (g->record_parts & (1u << p)))
        return true;
    return g->p3 && g->precommit_durable && (g->precommit_parts & (1u << p));
}

/*  One gid, one outcome, across heuristics too: the outcome of G's
 *  durable HEURISTIC record must match every other outcome of G: the
 *  log's (COMMIT durable, ABORT), the coordinator's (decide, answer,
 *  status, outcome to a client) and the participants' (a commit; an abort
 *  by one that had prepared it, or a durable 3PC decision).  Exempt: an
 *  operator's resolve of a one-phase gid whose outcome was unknown (a
 *  guess, by definition; see README on resolve).                         */
static void
s_heur_check (sim_oracle_t *self, s_gid_t *g)
{
    if (!g->heur || g->heur_guess)
        return;
    if (g->heur == 1) {
        if (g->coord_aborted)
            s_conflict (self, g, "one outcome: %s: HEURISTIC committed but "
                        "the coordinator aborted it (%s)", g->gid,
                        g->abort_how);
        else if (g->heard_aborted)
            s_conflict (self, g, "one outcome: %s: HEURISTIC committed but a "
                        "client heard aborted", g->gid);
        for (size_t p = 0; p < self->nparts; p++)
            if ((g->parts[p].aborted && g->parts[p].ever_prepared)
                || g->parts[p].p3 == TPC_P3_ABORTED)
                s_conflict (self, g, "one outcome: %s: HEURISTIC committed "
                            "but %s aborted it", g->gid, self->names[p]);
        return;
    }
    if (g->commit_durable)
        s_conflict (self, g, "one outcome: %s: HEURISTIC aborted but its "
                    "COMMIT record is durable", g->gid);
    else if (g->told_committed || g->heard_committed)
        s_conflict (self, g, "one outcome: %s: HEURISTIC aborted but a "
                    "client was told committed", g->gid);
    for (size_t p = 0; p < self->nparts; p++)
        if (g->parts[p].committed || g->parts[p].p3 == TPC_P3_COMMITTED)
            s_conflict (self, g, "one outcome: %s: HEURISTIC aborted but %s "
                        "committed it", g->gid, self->names[p]);
}

/*  A HEURISTIC record about G is durable (REC).                          */
static void
s_heur_durable (sim_oracle_t *self, s_gid_t *g, const tpc_record_t *rec)
{
    int heur = rec->outcome == 1 ? 1 : 2;
    bool operator = strncmp (rec->reason, "resolve --force",
                             strlen ("resolve --force")) == 0;
    self->resolved += operator;
    if (g->heur && g->heur != heur)
        s_conflict (self, g, "one outcome: %s: HEURISTIC records say both "
                    "committed and aborted", g->gid);
    if (!g->heur)
        g->heur_guess = operator && g->onephase != 0;
    g->heur = heur;
    s_heur_check (self, g);
}

size_t
sim_oracle_resolved (sim_oracle_t *self)
{
    return self->resolved;
}

tpc_outcome_t
sim_oracle_truth (sim_oracle_t *self, const char *gid)
{
    uintptr_t at = (uintptr_t) zhashx_lookup (self->index, gid);
    const s_gid_t *g = at ? self->gids[at - 1] : NULL;
    if (!g)
        return TPC_OUTCOME_ABORTED;
    bool committed = g->commit_durable;
    for (size_t p = 0; p < self->nparts; p++)
        committed |= g->parts[p].committed
                     || g->parts[p].p3 == TPC_P3_COMMITTED;
    return committed ? TPC_OUTCOME_COMMITTED : TPC_OUTCOME_ABORTED;
}

/* ---------------------------------------------------------------------
 *  Coordinator side
 */

/*  The coordinator aborted G (HOW says through what).                    */
static void
s_coord_abort (sim_oracle_t *self, s_gid_t *g, const char *fmt, ...)
{
    char how[96];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (how, sizeof how, fmt, ap);
    va_end (ap);
    if (g->commit_durable)
        s_conflict (self, g, "one decision: %s: coordinator aborted it (%s) "
                    "but its COMMIT record is durable", g->gid, how);
    for (size_t p = 0; p < self->nparts; p++)
        if (g->parts[p].committed || g->parts[p].p3 == TPC_P3_COMMITTED)
            s_conflict (self, g, "no flip: %s: coordinator aborted it (%s) "
                        "but participant %s committed it", g->gid, how,
                        self->names[p]);
    if (!g->coord_aborted)
        snprintf (g->abort_how, sizeof g->abort_how, "%s", how);
    g->coord_aborted = true;
    s_heur_check (self, g);
}

void
sim_oracle_appended (sim_oracle_t *self, const tpc_record_t *rec)
{
    if (rec->type != TPC_REC_COMMIT && rec->type != TPC_REC_ABORT
        && rec->type != TPC_REC_END)
        return;
    s_gid_t *g = s_gid (self, rec->gid);
    if (!g)
        return;
    if (rec->type == TPC_REC_COMMIT)
        g->commit_appended = true;
    else if (rec->type == TPC_REC_END)
        g->ended = true;
    else
        s_coord_abort (self, g, "ABORT record");
}

/*  A durable PRECOMMIT: every participant it names voted yes.           */
static void
s_precommit_durable (sim_oracle_t *self, const tpc_record_t *rec)
{
    s_gid_t *g = s_gid (self, rec->gid);
    if (!g)
        return;
    g->p3 = true;
    g->precommit_durable = true;
    for (size_t i = 0; i < rec->nparts; i++) {
        int p = s_part_index (self, rec->parts[i]);
        if (p < 0)
            sim_oracle_fail (self, "%s: PRECOMMIT record names '%s', not a "
                             "participant", g->gid, rec->parts[i]);
        else
            g->precommit_parts |= 1u << p;
    }
}

void
sim_oracle_durable (sim_oracle_t *self, const tpc_record_t *rec)
{
    if (rec->type == TPC_REC_PRECOMMIT) {
        s_precommit_durable (self, rec);
        return;
    }
    if (rec->type == TPC_REC_HEURISTIC) {
        s_gid_t *g = s_gid (self, rec->gid);
        if (g)
            s_heur_durable (self, g, rec);
        return;
    }
    if (rec->type != TPC_REC_COMMIT)
        return;
    s_gid_t *g = s_gid (self, rec->gid);
    if (!g)
        return;
    if (g->coord_aborted)
        s_conflict (self, g, "one decision: %s: COMMIT record durable but "
                    "the coordinator had aborted it (%s)", g->gid,
                    g->abort_how);
    g->commit_appended = g->commit_durable = true;
    for (size_t i = 0; i < rec->nparts; i++) {
        int p = s_part_index (self, rec->parts[i]);
        if (p < 0) {
            sim_oracle_fail (self, "%s: COMMIT record names '%s', not a "
                             "participant", g->gid, rec->parts[i]);
            continue;
        }
        if (g->parts[p].aborted)
            s_conflict (self, g, "no flip: %s: COMMIT durable with %s as a "
                        "yes voter, but %s had aborted it", g->gid,
                        rec->parts[i], rec->parts[i]);
        g->record_parts |= 1u << p;
    }
    s_p3_mixed (self, g);
    s_heur_check (self, g);
}

void
sim_oracle_to_agent (sim_oracle_t *self, size_t part, const tpc_msg_t *msg)
{
    if (!msg->gid)
        return;
    bool prepare = msg->type == TPC_MSG_PREPARE
                   || (msg->type == TPC_MSG_WORK
                       && msg->then == TPC_THEN_PREPARE);
    if (prepare && msg->has_protocol && msg->protocol == TPC_PROTO_3PC) {
        s_gid_t *g = s_gid (self, msg->gid);
        if (g)
            g->p3 = true;
    }
    if (msg->type == TPC_MSG_PRECOMMIT) {
        s_gid_t *g = s_gid (self, msg->gid);
        if (!g)
            return;
        if (!g->precommit_durable)
            sim_oracle_fail (self, "write-ahead: %s: precommit to %s before "
                             "the PRECOMMIT record is durable", g->gid,
                             self->names[part]);
        else if (!(g->precommit_parts & (1u << part)))
            sim_oracle_fail (self, "%s: precommit to %s, which the PRECOMMIT "
                             "record does not name", g->gid,
                             self->names[part]);
        return;
    }
    if (msg->type == TPC_MSG_WORK)
        for (size_t i = 0; i < msg->nstmts; i++)
            if (strncmp (msg->stmts[i].sql, "SELECT", 6) != 0
                && strncmp (msg->stmts[i].sql, "SLEEP", 5) != 0) {
                s_gid_t *g = s_gid (self, msg->gid);
                if (g)
                    g->writes |= 1u << part;
                break;
            }
    bool decide = msg->type == TPC_MSG_DECIDE;
    bool answer = msg->type == TPC_MSG_ANSWER;
    bool onephase = msg->type == TPC_MSG_WORK && msg->then == TPC_THEN_COMMIT;
    if (!decide && !answer && !onephase)
        return;
    s_gid_t *g = s_gid (self, msg->gid);
    if (!g)
        return;
    const char *what = decide ? "decide" : "answer";
    if (onephase) {
        if (g->commit_appended)
            sim_oracle_fail (self, "%s: one-phase commit sent to %s for a gid "
                             "with a COMMIT record", g->gid,
                             self->names[part]);
        g->onephase |= 1u << part;
    }
    else if (msg->outcome == TPC_OUTCOME_COMMITTED) {
        if (answer && !g->commit_appended)
            ;   /* no record: one-phase or read-only; if a participant
                 * holds it prepared, s_part_commit catches the commit */
        else if (!g->commit_durable)
            sim_oracle_fail (self, "write-ahead: %s: %s committed to %s before "
                             "the COMMIT record is durable", g->gid, what,
                             self->names[part]);
        else if (decide && !(g->record_parts & (1u << part)))
            sim_oracle_fail (self, "%s: decide committed to %s, which the "
                             "COMMIT record does not name", g->gid,
                             self->names[part]);
    }
    else if (msg->outcome == TPC_OUTCOME_ABORTED) {
        /* A one-phase gid is decided by its participant, not logged: a
         * restarted coordinator presumes abort for it (a known limit of
         * presumed abort with one-phase commit: see ARCHITECTURE.md).  The
         * agent only uses such an answer to drop an idle open copy, which
         * cannot then commit; the checks on what it commits still hold. */
        if (answer && g->onephase)
            return;
        /* Every yes voter acked and END let the coordinator forget the
         * gid; once a checkpoint drops the END, presumed abort answers a
         * stale message about it "aborted".  Nobody holds it prepared, so
         * nobody acts on that (the participant checks would catch it).  */
        if (g->ended)
            return;
        s_coord_abort (self, g, "%s aborted to %s", what, self->names[part]);
    }
}

void
sim_oracle_to_client (sim_oracle_t *self, const tpc_msg_t *msg)
{
    if ((msg->type != TPC_MSG_OUTCOME && msg->type != TPC_MSG_TXSTATUS)
        || !msg->gid)
        return;
    s_gid_t *g = s_gid (self, msg->gid);
    if (!g)
        return;
    if (msg->type == TPC_MSG_TXSTATUS) {
        if (msg->outcome == TPC_OUTCOME_COMMITTED) {
            if (g->commit_appended && !g->commit_durable)
                sim_oracle_fail (self, "write-ahead: %s: status committed "
                                 "before the COMMIT record is durable",
                                 g->gid);
            if (g->coord_aborted)
                sim_oracle_fail (self, "one decision: %s: status committed "
                                 "after the coordinator aborted it (%s)",
                                 g->gid, g->abort_how);
        }
        else if (msg->outcome == TPC_OUTCOME_ABORTED && !g->onephase
                 && !g->ended)  /* presumed: see sim_oracle_to_agent */
            s_coord_abort (self, g, "status aborted");
        return;
    }
    if (msg->outcome == TPC_OUTCOME_COMMITTED) {
        if (g->commit_appended && !g->commit_durable)
            sim_oracle_fail (self, "write-ahead: %s: client told committed "
                             "before the COMMIT record is durable", g->gid);
        if (g->told_aborted || g->coord_aborted)
            sim_oracle_fail (self, "one decision: %s: client told committed "
                             "after the coordinator aborted it (%s)", g->gid,
                             g->abort_how);
        g->told_committed = true;
        s_heur_check (self, g);
    }
    else if (msg->outcome == TPC_OUTCOME_ABORTED) {
        if (g->told_committed)
            sim_oracle_fail (self, "one decision: %s: client told aborted "
                             "after being told committed", g->gid);
        s_coord_abort (self, g, "outcome aborted to a client");
        g->told_aborted = true;
    }
}

void
sim_oracle_client_heard (sim_oracle_t *self, const tpc_msg_t *msg)
{
    if (msg->type != TPC_MSG_OUTCOME || !msg->gid)
        return;
    s_gid_t *g = s_gid (self, msg->gid);
    if (!g)
        return;
    if (msg->outcome == TPC_OUTCOME_COMMITTED)
        g->heard_committed = true;
    else if (msg->outcome == TPC_OUTCOME_ABORTED)
        g->heard_aborted = true;
    if (g->heard_committed && g->heard_aborted)
        sim_oracle_fail (self, "one decision: %s: clients heard both "
                         "committed and aborted", g->gid);
    s_heur_check (self, g);
}

/* ---------------------------------------------------------------------
 *  Participant side
 */

static void
s_part_commit (sim_oracle_t *self, s_gid_t *g, size_t p, bool was_prepared)
{
    const char *name = self->names[p];
    if (was_prepared) {
        if (s_commit_allowed (g, p))
            ;
        else if (g->p3)
            sim_oracle_fail (self, "no rogue commit: %s: %s committed it "
                             "(COMMIT PREPARED) without a durable COMMIT or "
                             "PRECOMMIT naming it", g->gid, name);
        else if (!g->commit_durable)
            sim_oracle_fail (self, "no rogue commit: %s: %s committed it "
                             "(COMMIT PREPARED) without a durable commit "
                             "decision", g->gid, name);
        else if (!(g->record_parts & (1u << p)))
            sim_oracle_fail (self, "no rogue commit: %s: %s committed it but "
                             "the COMMIT record does not name it", g->gid,
                             name);
    }
    else if (!(g->onephase & (1u << p)))
        sim_oracle_fail (self, "no rogue commit: %s: %s committed it without "
                         "a prepare and without a one-phase commit", g->gid,
                         name);
    if (g->parts[p].aborted)
        sim_oracle_fail (self, "no flip: %s: %s committed it after aborting "
                         "it", g->gid, name);
    if (g->coord_aborted)
        s_conflict (self, g, "no flip: %s: %s committed it but the "
                    "coordinator aborted it (%s)", g->gid, name,
                    g->abort_how);
    g->parts[p].committed = true;
    s_p3_mixed (self, g);
    s_heur_check (self, g);
}

static void
s_part_abort (sim_oracle_t *self, s_gid_t *g, size_t p, const char *how)
{
    const char *name = self->names[p];
    if (g->parts[p].committed)
        sim_oracle_fail (self, "no flip: %s: %s aborted it (%s) after "
                         "committing it", g->gid, name, how);
    if (g->commit_durable && (g->record_parts & (1u << p)))
        s_conflict (self, g, "no flip: %s: %s aborted it (%s) but the "
                    "durable COMMIT names it as a yes voter", g->gid,
                    name, how);
    g->parts[p].aborted = true;
    s_p3_mixed (self, g);
    s_heur_check (self, g);
}

void
sim_oracle_p3_persist (sim_oracle_t *self, size_t part, const char *gid,
                       tpc_p3_t state)
{
    if (!gid || part >= self->nparts)
        return;
    s_gid_t *g = s_gid (self, gid);
    if (!g)
        return;
    g->p3 = true;
    const char *name = self->names[part];
    tpc_p3_t old = g->parts[part].p3;
    bool decided = old == TPC_P3_COMMITTED || old == TPC_P3_ABORTED;
    if (decided && state != old)
        sim_oracle_fail (self, "decided is final: %s: %s made %s durable "
                         "after %s", gid, name, tpc_p3_name (state),
                         tpc_p3_name (old));
    else if (old == TPC_P3_PRECOMMITTED && state == TPC_P3_UNCERTAIN)
        sim_oracle_fail (self, "decided is final: %s: %s went back from "
                         "precommitted to uncertain", gid, name);
    if (state == TPC_P3_PRECOMMITTED && !g->precommit_durable)
        sim_oracle_fail (self, "write-ahead: %s: %s pre-committed it with no "
                         "durable PRECOMMIT record", gid, name);
    if (state == TPC_P3_COMMITTED && !s_commit_allowed (g, part))
        sim_oracle_fail (self, "no rogue commit: %s: %s decided committed "
                         "without a durable COMMIT or PRECOMMIT naming it",
                         gid, name);
    g->parts[part].p3 = state;
    s_p3_mixed (self, g);
    s_heur_check (self, g);
}

void
sim_oracle_count_mixed (sim_oracle_t *self, bool on)
{
    self->count_mixed = on;
}

size_t
sim_oracle_mixed (sim_oracle_t *self)
{
    return self->nmixed;
}

bool
sim_oracle_committed (sim_oracle_t *self, const char *gid)
{
    uintptr_t at = gid ? (uintptr_t) zhashx_lookup (self->index, gid) : 0;
    if (!at)
        return false;
    const s_gid_t *g = self->gids[at - 1];
    if (g->commit_durable)
        return true;
    for (size_t p = 0; p < self->nparts; p++)
        if (g->parts[p].committed || g->parts[p].p3 == TPC_P3_COMMITTED)
            return true;
    return false;
}

size_t
sim_oracle_p3_gids (sim_oracle_t *self)
{
    size_t n = 0;
    for (size_t i = 0; i < self->ngids; i++)
        n += self->gids[i]->p3;
    return n;
}

void
sim_oracle_observe (sim_oracle_t *self, size_t part, const char *gid,
                    bool prepared, char marker)
{
    if (!gid || part >= self->nparts)
        return;
    s_gid_t *g = s_gid (self, gid);
    if (!g)
        return;
    s_part_t *st = &g->parts[part];
    bool was_prepared = st->prepared;
    char was_marker = st->marker;
    st->prepared = prepared;
    st->marker = marker;
    if (prepared && !was_prepared)
        st->ever_prepared = true;
    if (was_marker != 'C' && marker == 'C')
        s_part_commit (self, g, part, was_prepared);
    else if (was_prepared && !prepared)
        s_part_abort (self, g, part, "rolled back");
    if (was_marker != 'T' && marker == 'T')
        s_part_abort (self, g, part, "tombstone");
    if (was_marker && marker != was_marker)
        sim_oracle_fail (self, "%s: marker at %s changed from '%c' to '%c'",
                         gid, self->names[part], was_marker,
                         marker ? marker : '0');
}

/* ---------------------------------------------------------------------
 *  Quiescence
 */

bool
sim_oracle_check_final (sim_oracle_t *self, part_mem_t *const *mems,
                        bool open_ok)
{
    for (size_t i = 0; i < self->ngids && !self->violation; i++) {
        s_gid_t *g = self->gids[i];
        char m[SIM_ORACLE_PARTS_MAX];
        for (size_t p = 0; p < self->nparts; p++) {
            m[p] = part_mem_marker (mems[p], g->gid);
            if (part_mem_is_prepared (mems[p], g->gid))
                sim_oracle_fail (self, "quiescence: %s still prepared at %s",
                                 g->gid, self->names[p]);
            if (!open_ok && part_mem_is_open (mems[p], g->gid))
                sim_oracle_fail (self, "quiescence: %s still open at %s",
                                 g->gid, self->names[p]);
        }
        bool onephase = g->onephase != 0;
        for (size_t p = 0; p < self->nparts; p++) {
            uint32_t bit = 1u << p;
            const char *name = self->names[p];
            if (g->commit_durable && (g->record_parts & bit) && m[p] != 'C')
                sim_oracle_fail (self, "atomicity: %s durably committed but "
                                 "yes voter %s did not commit (marker '%c')",
                                 g->gid, name, m[p] ? m[p] : '0');
            if (!g->commit_durable && !onephase && m[p] == 'C'
                && !s_commit_allowed (g, p))
                sim_oracle_fail (self, "atomicity: %s committed at %s without "
                                 "a durable commit decision", g->gid, name);
            tpc_p3_t st = g->parts[p].p3;
            if (st == TPC_P3_UNCERTAIN || st == TPC_P3_PRECOMMITTED)
                sim_oracle_fail (self, "non-blocking: %s: %s is still %s at "
                                 "quiescence", g->gid, name,
                                 tpc_p3_name (st));
            if (st == TPC_P3_COMMITTED && m[p] != 'C')
                sim_oracle_fail (self, "atomicity: %s: %s decided committed "
                                 "(durable) but its database did not commit "
                                 "(marker '%c')", g->gid, name,
                                 m[p] ? m[p] : '0');
            if (st == TPC_P3_ABORTED && m[p] == 'C')
                sim_oracle_fail (self, "atomicity: %s: %s decided aborted "
                                 "(durable) but its database committed",
                                 g->gid, name);
            if ((g->told_committed || g->heard_committed) && onephase
                && (g->onephase & bit) && (g->writes & bit) && m[p] != 'C')
                sim_oracle_fail (self, "client commit: %s: client told "
                                 "committed but one-phase participant %s did "
                                 "not commit", g->gid, name);
            if ((g->told_committed || g->heard_committed) && !onephase
                && !g->commit_durable && g->parts[p].ever_prepared)
                sim_oracle_fail (self, "client commit: %s: client told "
                                 "committed without a COMMIT record, but %s "
                                 "had prepared it", g->gid, name);
            if ((g->told_aborted || g->heard_aborted) && m[p] == 'C')
                sim_oracle_fail (self, "client abort: %s: client told aborted "
                                 "but %s committed it", g->gid, name);
        }
    }
    for (size_t p = 0; p < self->nparts && !self->violation; p++) {
        if (part_mem_prepared_count (mems[p]))
            sim_oracle_fail (self, "quiescence: %zu transaction(s) still "
                             "prepared at %s", part_mem_prepared_count (mems[p]),
                             self->names[p]);
        else if (!open_ok && part_mem_open_count (mems[p]))
            sim_oracle_fail (self, "quiescence: %zu transaction(s) still open "
                             "at %s", part_mem_open_count (mems[p]),
                             self->names[p]);
    }
    return self->violation == NULL;
}

bool
sim_oracle_leftover (sim_oracle_t *self, part_mem_t *const *mems,
                     bool open_ok, char *buf, size_t size)
{
    for (size_t i = 0; i < self->ngids; i++)
        for (size_t p = 0; p < self->nparts; p++) {
            const char *gid = self->gids[i]->gid;
            bool prepared = part_mem_is_prepared (mems[p], gid);
            if (prepared || (!open_ok && part_mem_is_open (mems[p], gid))) {
                snprintf (buf, size, "%s still %s at %s", gid,
                          prepared ? "prepared" : "open", self->names[p]);
                return true;
            }
            tpc_p3_t st = self->gids[i]->parts[p].p3;
            if (st == TPC_P3_UNCERTAIN || st == TPC_P3_PRECOMMITTED) {
                snprintf (buf, size, "%s still %s (3PC) at %s", gid,
                          tpc_p3_name (st), self->names[p]);
                return true;
            }
        }
    return false;
}

void
sim_oracle_counts (sim_oracle_t *self, size_t *gids, size_t *committed,
                   size_t *aborted, size_t *client_committed)
{
    size_t c = 0, a = 0, h = 0;
    for (size_t i = 0; i < self->ngids; i++) {
        c += self->gids[i]->commit_durable;
        a += self->gids[i]->coord_aborted;
        h += self->gids[i]->heard_committed;
    }
    *gids = self->ngids;
    *committed = c;
    *aborted = a;
    *client_committed = h;
}
