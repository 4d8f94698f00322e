/*  part_maria_conn: the MariaDB sessions (see part_maria_int.h for their
 *  life): opening them with Connector/C's non-blocking connect, the
 *  session setup, rounds (one multi-statement text, its results read one
 *  by one with store_result / next_result, each call started and
 *  continued as its socket allows), backoff after a failure, the pool
 *  (pins, parked sessions, release, dispatch of waiting work).
 */
#include "part_maria_int.h"

#include <errmsg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tpc_error.h"

/* ------------------------------------------------------------------ */
/*  Sessions                                                          */

size_t
part_maria_ready_count (const part_maria_t *self)
{
    size_t n = 0;
    for (size_t i = 0; i < self->npool; i++)
        n += self->conns[i].state == C_READY;
    return n;
}

bool
part_maria_conn_free (const part_maria_conn_t *c)
{
    return c->state == C_READY && !c->pinned && !c->parked && !c->job
           && !c->in_round;
}

size_t
part_maria_pin_limit (const part_maria_t *self)
{
    return self->npool >= 2 ? self->npool - 1 : 1;
}

static void
s_round_clear (part_maria_conn_t *c)
{
    for (size_t i = 0; i < c->nres; i++)
        if (c->res[i].res)
            mysql_free_result (c->res[i].res);
    c->nres = 0;
    free (c->sql);
    c->sql = NULL;
    free (c->errmsg);
    c->errmsg = NULL;
    c->err = 0;
    c->errstate[0] = '\0';
    c->in_round = false;
    c->phase = Q_NONE;
    c->wait = 0;
}

void
part_maria_unpin (part_maria_t *self, part_maria_conn_t *c)
{
    if (!c->pinned)
        return;
    zhashx_delete (self->pins, c->gid);
    self->pinned--;
    c->pinned = false;
    c->begun = false;
}

void
part_maria_park (part_maria_t *self, part_maria_conn_t *c)
{
    c->parked = true;
    c->parked_at = self->now;
    zhashx_update (self->parks, c->gid, c);
}

void
part_maria_unpark (part_maria_t *self, part_maria_conn_t *c)
{
    if (!c->parked)
        return;
    if (zhashx_lookup (self->parks, c->gid) == c)
        zhashx_delete (self->parks, c->gid);
    c->parked = false;
}

void
part_maria_conn_close (part_maria_t *self, part_maria_conn_t *c)
{
    s_round_clear (c);
    part_maria_unpark (self, c);
    if (c->m)
        mysql_close (c->m);
    c->m = NULL;
    c->state = C_DOWN;
}

/*  No session is usable: BEGINs cannot wait for one.                     */
static void
s_outage (part_maria_t *self)
{
    if (part_maria_ready_count (self) > 0)
        return;
    self->had_ready = false;
    part_maria_job_t *job;
    while ((job = part_maria_jobq_pop (&self->wait_begin)))
        part_maria_complete (self, job, TPC_ECONNECT,
                             "not connected to MariaDB", NULL);
}

static void
s_schedule_retry (part_maria_t *self, part_maria_conn_t *c)
{
    c->retry_at = self->now + c->backoff;
    c->backoff = c->backoff * 2 > self->cfg.backoff_max_ms
                 ? self->cfg.backoff_max_ms : c->backoff * 2;
}

void
part_maria_conn_lost (part_maria_t *self, part_maria_conn_t *c, const char *why,
             bool retry_now)
{
    if (c->pinned) {
        zhashx_update (self->lost, c->gid, (void *) 1);
        part_maria_unpin (self, c);
    }
    part_maria_job_t *job = c->job;
    c->job = NULL;
    if (job)
        part_maria_complete (self, job, TPC_ECONNECT, why, "08S01");
    part_maria_conn_close (self, c);
    if (retry_now)
        c->retry_at = self->now;
    else
        s_schedule_retry (self, c);
    s_outage (self);
}

void
part_maria_conn_reset (part_maria_t *self, part_maria_conn_t *c)
{
    part_maria_conn_close (self, c);
    c->retry_at = self->now;
}

void
part_maria_connect_failed (part_maria_t *self, part_maria_conn_t *c, const char *why)
{
    part_maria_log (self, self->outage_logged ? 0 : 1, "cannot connect to "
                    "MariaDB (session %zu, next try in %llu ms): %s",
                    c->index, (unsigned long long) c->backoff, why);
    self->outage_logged = true;
    part_maria_conn_close (self, c);
    s_schedule_retry (self, c);
    s_outage (self);
}

/*  The session statement every session runs once: REPEATABLE READ at
 *  least (a server default of SERIALIZABLE is kept).                    */
#define S_SETUP_SQL \
    "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ"
#define S_SETUP_SERIAL_SQL \
    "SET SESSION TRANSACTION ISOLATION LEVEL SERIALIZABLE"

void
part_maria_connect_start (part_maria_t *self, part_maria_conn_t *c)
{
    c->m = mysql_init (NULL);
    if (!c->m) {
        part_maria_connect_failed (self, c, "out of memory");
        return;
    }
    unsigned timeout = (unsigned) ((self->cfg.connect_timeout_ms + 999) / 1000);
    mysql_options (c->m, MYSQL_OPT_NONBLOCK, 0);
    mysql_options (c->m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
    c->state = C_CONNECTING;
    c->deadline = self->now + self->cfg.connect_timeout_ms;
    c->phase = Q_CONNECT;
    part_maria_drive (self, c, -1);
}

static void
s_conn_ready (part_maria_t *self, part_maria_conn_t *c)
{
    c->state = C_READY;
    c->backoff = self->cfg.backoff_min_ms;
    if (!self->had_ready) {
        self->had_ready = true;
        self->need_connected = true;
        self->outage_logged = false;
        part_maria_log (self, 0, "connected to MariaDB");
    }
}

/*  The round on C is over: the session's own setup, or a job's.          */
static void
s_round_done (part_maria_t *self, part_maria_conn_t *c)
{
    c->in_round = false;
    c->phase = Q_NONE;
    c->wait = 0;
    if (c->state == C_SETUP) {
        if (c->err) {
            char why[300];
            snprintf (why, sizeof why, "session setup: %s",
                      c->errmsg ? c->errmsg : "?");
            part_maria_connect_failed (self, c, why);
            return;
        }
        s_round_clear (c);
        s_conn_ready (self, c);
        return;
    }
    part_maria_on_round (self, c);
}

/*  Record the error of C's pending call (the round ends with it).        */
static void
s_round_error (part_maria_conn_t *c)
{
    c->err = mysql_errno (c->m);
    if (!c->err)
        c->err = CR_UNKNOWN_ERROR;
    snprintf (c->errstate, sizeof c->errstate, "%s", mysql_sqlstate (c->m));
    free (c->errmsg);
    c->errmsg = strdup (mysql_error (c->m));
}

/*  Start (FLAGS < 0) or continue C's pending call; what it returned goes
 *  to *MRET, *IERR or *RES.  Its MYSQL_WAIT_* flags, 0 when it is over.  */
static int
s_call (part_maria_t *self, part_maria_conn_t *c, int flags, MYSQL **mret,
        int *ierr, MYSQL_RES **res)
{
    switch (c->phase) {
    case Q_CONNECT:
        return flags < 0
               ? mysql_real_connect_start (mret, c->m,
                                           *self->ci.host ? self->ci.host : NULL,
                                           self->ci.user, self->ci.password,
                                           self->ci.database, self->ci.port,
                                           *self->ci.socket ? self->ci.socket : NULL,
                                           CLIENT_MULTI_STATEMENTS | CLIENT_MULTI_RESULTS)
               : mysql_real_connect_cont (mret, c->m, flags);
    case Q_QUERY:
        return flags < 0
               ? mysql_real_query_start (ierr, c->m, c->sql,
                                         (unsigned long) strlen (c->sql))
               : mysql_real_query_cont (ierr, c->m, flags);
    case Q_STORE:
        return flags < 0 ? mysql_store_result_start (res, c->m)
                         : mysql_store_result_cont (res, c->m, flags);
    case Q_NEXT:
        return flags < 0 ? mysql_next_result_start (ierr, c->m)
                         : mysql_next_result_cont (ierr, c->m, flags);
    default:
        return 0;
    }
}

/*  Keep RES (or the row count) as the round's next result.  false when
 *  out of memory (C is then closed, its job failed).                     */
static bool
s_keep_result (part_maria_t *self, part_maria_conn_t *c, MYSQL_RES *res)
{
    if (c->nres == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 8;
        part_maria_res_t *r = realloc (c->res, cap * sizeof *r);
        if (!r) {
            if (res)
                mysql_free_result (res);
            part_maria_conn_lost (self, c, "out of memory for a result", true);
            return false;
        }
        c->res = r;
        c->cap = cap;
    }
    c->res[c->nres].res = res;
    c->res[c->nres].affected = res ? -1 : (int64_t) mysql_affected_rows (c->m);
    c->nres++;
    return true;
}

/*  C's call is over with MRET / IERR / RES: move to the next call.
 *  false when there is none (the round or the connect attempt ended).    */
static bool
s_step_done (part_maria_t *self, part_maria_conn_t *c, MYSQL *mret, int ierr,
             MYSQL_RES *res)
{
    switch (c->phase) {
    case Q_CONNECT:
        if (!mret) {
            char why[300];
            snprintf (why, sizeof why, "%s", mysql_error (c->m));
            part_maria_connect_failed (self, c, why);
            return false;
        }
        c->state = C_SETUP;
        c->deadline = self->now + self->cfg.connect_timeout_ms;
        if (!(c->sql = strdup (self->serializable ? S_SETUP_SERIAL_SQL
                                                  : S_SETUP_SQL))) {
            part_maria_connect_failed (self, c, "out of memory");
            return false;
        }
        c->in_round = true;
        c->phase = Q_QUERY;
        return true;
    case Q_QUERY:
    case Q_NEXT:
        if (ierr > 0 || (ierr && c->phase == Q_QUERY)) {
            s_round_error (c);
            s_round_done (self, c);
            return false;
        }
        if (ierr < 0) {                 /* Q_NEXT: no more results */
            s_round_done (self, c);
            return false;
        }
        c->phase = Q_STORE;
        return true;
    case Q_STORE:
        if (!res && mysql_field_count (c->m) != 0) {
            s_round_error (c);
            s_round_done (self, c);
            return false;
        }
        if (!s_keep_result (self, c, res))
            return false;
        if (!mysql_more_results (c->m)) {
            s_round_done (self, c);
            return false;
        }
        c->phase = Q_NEXT;
        return true;
    default:
        return false;
    }
}

void
part_maria_drive (part_maria_t *self, part_maria_conn_t *c, int flags)
{
    while (c->phase != Q_NONE) {
        MYSQL *mret = NULL;
        MYSQL_RES *res = NULL;
        int ierr = 0;
        int st = s_call (self, c, flags, &mret, &ierr, &res);
        if (st != 0) {
            c->wait = st;
            if (st & MYSQL_WAIT_TIMEOUT)
                c->wait_until = self->now + mysql_get_timeout_value_ms (c->m);
            return;
        }
        c->wait = 0;
        flags = -1;
        if (!s_step_done (self, c, mret, ierr, res))
            return;
    }
}

void
part_maria_round (part_maria_t *self, part_maria_conn_t *c, char *sql)
{
    s_round_clear (c);
    if (!sql) {
        part_maria_conn_lost (self, c, "out of memory for a statement", true);
        return;
    }
    c->sql = sql;
    c->in_round = true;
    c->phase = Q_QUERY;
    part_maria_drive (self, c, -1);
}

void
part_maria_release (part_maria_t *self, part_maria_conn_t *c)
{
    s_round_clear (c);
    part_maria_dispatch (self);
}

void
part_maria_wait_any (part_maria_t *self, part_maria_job_t *job,
                     uint64_t not_before)
{
    job->not_before = not_before;
    part_maria_jobq_push (&self->wait_any, job);
}

/*  The oldest parked session (to free it when work waits), or NULL.      */
static part_maria_conn_t *
s_oldest_parked (part_maria_t *self)
{
    part_maria_conn_t *best = NULL;
    for (size_t i = 0; i < self->npool; i++) {
        part_maria_conn_t *c = &self->conns[i];
        if (c->state == C_READY && c->parked && !c->job && !c->in_round
            && (!best || c->parked_at < best->parked_at))
            best = c;
    }
    return best;
}

/*  The first job of Q due at NOW (taken out of Q), or NULL.              */
static part_maria_job_t *
s_take_due (part_maria_jobq_t *q, uint64_t now)
{
    part_maria_job_t *prev = NULL;
    for (part_maria_job_t *j = q->head; j; prev = j, j = j->next) {
        if (j->not_before > now)
            continue;
        if (prev)
            prev->next = j->next;
        else
            q->head = j->next;
        if (q->tail == j)
            q->tail = prev;
        q->size--;
        j->next = NULL;
        return j;
    }
    return NULL;
}

static bool
s_any_due (const part_maria_jobq_t *q, uint64_t now)
{
    for (part_maria_job_t *j = q->head; j; j = j->next)
        if (j->not_before <= now)
            return true;
    return false;
}

/*  A session whose interrupted predecessor's thread is to be killed.     */
static part_maria_conn_t *
s_to_kill (part_maria_t *self)
{
    for (size_t i = 0; i < self->npool; i++)
        if (self->conns[i].kill_tid)
            return &self->conns[i];
    return NULL;
}

void
part_maria_pin (part_maria_t *self, part_maria_conn_t *c, const char *gid)
{
    c->pinned = true;
    c->begun = false;
    snprintf (c->gid, sizeof c->gid, "%s", gid);
    zhashx_insert (self->pins, c->gid, c);
    self->pinned++;
}

/*  Give free sessions to waiting work: phase 2 first, then BEGINs.  When
 *  work waits and no session is free, a parked session is closed (its
 *  prepared branch stays in the server, detached) and opened again.      */
void
part_maria_dispatch (part_maria_t *self)
{
    if (self->dispatching) {
        self->dispatch_again = true;
        return;
    }
    self->dispatching = true;
    do {
        self->dispatch_again = false;
        bool gave = false;
        for (size_t i = 0; i < self->npool; i++) {
            part_maria_conn_t *c = &self->conns[i];
            if (!part_maria_conn_free (c))
                continue;
            part_maria_conn_t *k = s_to_kill (self);
            if (k) {
                /* a round of no job: its end (even an error, e.g. the
                 * thread gone already) releases C */
                char sql[48];
                snprintf (sql, sizeof sql, "KILL CONNECTION %lu", k->kill_tid);
                k->kill_tid = 0;
                part_maria_round (self, c, strdup (sql));
                gave = true;
                continue;
            }
            part_maria_job_t *job = s_take_due (&self->wait_any, self->now);
            if (job) {
                part_maria_start (self, c, job);
                gave = true;
            }
            else if (self->wait_begin.head
                     && self->pinned < part_maria_pin_limit (self)) {
                job = part_maria_jobq_pop (&self->wait_begin);
                part_maria_pin (self, c, job->gid);
                part_maria_complete (self, job, 0, NULL, NULL);
                gave = true;
            }
        }
        bool want = s_any_due (&self->wait_any, self->now)
                    || (self->wait_begin.head
                        && self->pinned < part_maria_pin_limit (self));
        if (!gave && want) {
            part_maria_conn_t *p = s_oldest_parked (self);
            if (p) {
                part_maria_log (self, 0, "session %zu: closed to free it "
                                "(%s stays prepared, detached)",
                                p->index, p->gid);
                part_maria_conn_reset (self, p);
            }
        }
    } while (self->dispatch_again);
    self->dispatching = false;
}

