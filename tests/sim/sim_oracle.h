/*  sim_oracle: what the seeded simulation knows to be true, and the
 *  atomicity invariants it checks against every observed event.
 *
 *  The world (sim_world) reports what happens as it happens: each record
 *  the coordinator appends and when it becomes durable, each decision,
 *  answer and outcome the coordinator emits, each outcome a client hears,
 *  and, after every resource-manager completion, what the participant's
 *  database now holds for that gid (prepared? which marker?).  From that
 *  history the oracle flags, at the step where it first happens:
 *
 *    one decision      a gid is never both durably committed (a COMMIT
 *                      record that is durable, or survived a crash into
 *                      the replayed log) and aborted by the coordinator
 *                      (decide aborted, answer aborted, ABORT record,
 *                      outcome aborted), across restarts
 *    write-ahead       decide committed, answer committed, or a client
 *                      "committed" for a gid with a COMMIT record: only
 *                      once that record is durable
 *    no rogue commit   a participant commits a prepared gid only if the
 *                      coordinator durably decided commit with it among
 *                      the yes voters; it commits an unprepared gid only
 *                      as a one-phase commit the coordinator sent it
 *    no flip           a participant never both commits and aborts a gid,
 *                      and never aborts a durably committed gid it voted
 *                      yes on; nobody commits a gid the coordinator said
 *                      was aborted
 *
 *    one outcome       a durable HEURISTIC record (an operator's resolve,
 *                      or an outcome an agent reported) says what every
 *                      other outcome of its gid says: the log's, the
 *                      coordinator's, a client's, each participant's
 *                      (except an operator's guess for a one-phase gid
 *                      whose outcome was unknown)
 *
 *  and, at quiescence (sim_oracle_check_final), that every durable commit
 *  and every "committed" a client heard is committed at each yes voter,
 *  that nothing aborted is committed anywhere, and that no gid is left
 *  prepared or open in any participant's database.
 *
 *  THREE-PHASE COMMIT.  A gid is 3PC once the coordinator sends a prepare
 *  (or work then=prepare) with protocol 3pc.  The world also reports each
 *  3PC state a participant makes durable (sim_oracle_p3_persist) and each
 *  PRECOMMIT record.  For 3PC gids the oracle adds:
 *
 *    write-ahead       precommit goes to a participant only once a durable
 *                      PRECOMMIT record names it
 *    no rogue commit   a participant may commit a prepared 3PC gid without
 *                      a COMMIT record (a termination leader decided), but
 *                      only if a durable PRECOMMIT names it
 *    no mixed outcome  no participant commits (its database, or a durable
 *                      COMMITTED state) while a yes voter aborts it
 *                      (database rollback of the prepared gid or a
 *                      tombstone, or a durable ABORTED), whoever decided:
 *                      coordinator or termination leader
 *    decided is final  a durable COMMITTED or ABORTED never changes; a
 *                      PRECOMMITTED never goes back to UNCERTAIN
 *    non-blocking      at quiescence every participant that voted yes
 *                      (durable UNCERTAIN) holds a durable decision that
 *                      its database matches, even when the coordinator
 *                      died for good
 *
 *  In partition mode (sim_oracle_count_mixed) a mixed outcome of a 3PC gid
 *  is counted (sim_oracle_mixed), not a violation: the documented hazard
 *  of the classic termination rule.
 *
 *  The first violation is kept (sim_oracle_violation); later ones are
 *  ignored so the report names the earliest.  Gids are kept in the order
 *  first seen, so reports never depend on hash order.
 */
#ifndef SIM_ORACLE_H
#define SIM_ORACLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "part_mem.h"
#include "tpc_msg.h"
#include "tpc_record.h"

#define SIM_ORACLE_PARTS_MAX 8

typedef struct sim_oracle sim_oracle_t;

/*  An oracle for NPARTS (<= SIM_ORACLE_PARTS_MAX) participants named
 *  NAMES (copied), or NULL on bad arguments or no memory.                */
sim_oracle_t *sim_oracle_new (size_t nparts, const char *const *names);
void sim_oracle_destroy (sim_oracle_t **self_p);

/*  The coordinator queued an append of REC (COMMIT: a decision that is
 *  not durable yet; ABORT: an abort decision).                           */
void sim_oracle_appended (sim_oracle_t *self, const tpc_record_t *rec);

/*  REC (appended earlier) is durable now: it will be replayed forever.   */
void sim_oracle_durable (sim_oracle_t *self, const tpc_record_t *rec);

/*  The coordinator emitted MSG for participant PART (whether or not the
 *  network delivers it).                                                 */
void sim_oracle_to_agent (sim_oracle_t *self, size_t part,
                          const tpc_msg_t *msg);

/*  The coordinator emitted MSG for a client.                             */
void sim_oracle_to_client (sim_oracle_t *self, const tpc_msg_t *msg);

/*  A client received the final outcome MSG.                              */
void sim_oracle_client_heard (sim_oracle_t *self, const tpc_msg_t *msg);

/*  After a completion about GID at participant PART: its database now
 *  holds GID PREPARED or not, with marker MARKER ('C', 'T' or 0).       */
void sim_oracle_observe (sim_oracle_t *self, size_t part, const char *gid,
                         bool prepared, char marker);

/*  Participant PART made GID's 3PC state STATE durable.                  */
void sim_oracle_p3_persist (sim_oracle_t *self, size_t part, const char *gid,
                            tpc_p3_t state);

/*  Partition mode: count mixed 3PC outcomes instead of failing on them.  */
void sim_oracle_count_mixed (sim_oracle_t *self, bool on);

/*  3PC gids with a mixed outcome so far (partition mode).                */
size_t sim_oracle_mixed (sim_oracle_t *self);

/*  Is GID committed anywhere (a durable COMMIT, a participant's commit or
 *  durable COMMITTED)?                                                   */
bool sim_oracle_committed (sim_oracle_t *self, const char *gid);

/*  Operators' HEURISTIC records made durable so far (for the figures).  */
size_t sim_oracle_resolved (sim_oracle_t *self);

/*  What a careful operator finds for GID by looking at the databases and
 *  the log: committed if a participant committed it or its COMMIT record
 *  is durable, else aborted.                                             */
tpc_outcome_t sim_oracle_truth (sim_oracle_t *self, const char *gid);

/*  3PC gids seen (for the figures).                                      */
size_t sim_oracle_p3_gids (sim_oracle_t *self);

/*  Record a violation found by the caller (printf format).               */
void sim_oracle_fail (sim_oracle_t *self, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

/*  The quiescence checks, against the databases MEMS[0 .. nparts-1].
 *  OPEN_OK: transactions still open (never prepared) are allowed, as when
 *  the coordinator died for good (nobody can end them).  Returns true if
 *  they hold (else the violation is recorded).                           */
bool sim_oracle_check_final (sim_oracle_t *self, part_mem_t *const *mems,
                             bool open_ok);

/*  Name the first gid still prepared (or open, unless OPEN_OK) in MEMS,
 *  or a 3PC voter without a durable decision (into BUF, SIZE bytes);
 *  false if there is none.                                               */
bool sim_oracle_leftover (sim_oracle_t *self, part_mem_t *const *mems,
                          bool open_ok, char *buf, size_t size);

/*  The first violation, or NULL.                                         */
const char *sim_oracle_violation (sim_oracle_t *self);

/*  Figures for the verbose report: gids seen, durably committed, aborted
 *  by the coordinator, committed as heard by clients.                    */
void sim_oracle_counts (sim_oracle_t *self, size_t *gids, size_t *committed,
                        size_t *aborted, size_t *client_committed);

#endif
