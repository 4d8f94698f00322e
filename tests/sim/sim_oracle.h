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
 *  and, at quiescence (sim_oracle_check_final), that every durable commit
 *  and every "committed" a client heard is committed at each yes voter,
 *  that nothing aborted is committed anywhere, and that no gid is left
 *  prepared or open in any participant's database.
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

/*  Record a violation found by the caller (printf format).               */
void sim_oracle_fail (sim_oracle_t *self, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

/*  The quiescence checks, against the databases MEMS[0 .. nparts-1].
 *  Returns true if they hold (else the violation is recorded).           */
bool sim_oracle_check_final (sim_oracle_t *self, part_mem_t *const *mems);

/*  Name the first gid still prepared or open in MEMS (into BUF, SIZE
 *  bytes); false if there is none.                                       */
bool sim_oracle_leftover (sim_oracle_t *self, part_mem_t *const *mems,
                          char *buf, size_t size);

/*  The first violation, or NULL.                                         */
const char *sim_oracle_violation (sim_oracle_t *self);

/*  Figures for the verbose report: gids seen, durably committed, aborted
 *  by the coordinator, committed as heard by clients.                    */
void sim_oracle_counts (sim_oracle_t *self, size_t *gids, size_t *committed,
                        size_t *aborted, size_t *client_committed);

#endif
