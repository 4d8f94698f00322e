/*  part_pg_conn: the connections of the PostgreSQL resource manager.
 *
 *  Connection life:
 *
 *      DOWN --retry_at--> CONNECTING --PQconnectPoll OK--> READY
 *        ^                    | failed / timed out           |
 *        +--------------------+<-------- broken (EOF, error)-+
 *
 *  A broken or failed connection is retried after a backoff that doubles
 *  from backoff_min_ms up to backoff_max_ms (s_schedule_retry).
 *
 *  A READY connection is FREE (no pin, no round), PINNED to a gid (its
 *  transaction is open there, maybe idle between operations), or running a
 *  round.  It returns to the free pool only when PQtransactionStatus is
 *  IDLE: otherwise an internal ROLLBACK round runs first, and if even that
 *  leaves a transaction the connection is re-opened.  A connection that
 *  ran a client's statements is reset (DISCARD ALL, its own round) before
 *  it is free again: a SET, a temporary table or a SET ROLE of one
 *  transaction must not reach the next one (a temporary tpc_marker would
 *  even take the agent's own marker rows).  A failed cleanup round
 *  re-opens the connection.
 *
 *  When the last READY connection breaks, waiting BEGINs fail (there is no
 *  database to wait for) while phase-2 work keeps waiting; when the first
 *  connection comes back the CONNECTED event is reported (recovery).
 *
 *  A round's queries are sent here (part_pg_send_round) and its results
 *  read as they arrive; at its Sync part_pg_on_round (part_pg_ops.c)
 *  takes over.  The sockets of the pool are watched by one epoll set.
 */
#include "part_pg_int.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tpc_error.h"

#define S_LOST_MAX 10000        /* gids remembered as lost with their session */

void
part_pg_notice (void *arg, const char *message)
{
    part_pg_t *self = arg;
    char *m = part_pg_trimmed (message);
    part_pg_log (self, PART_PG_VERBOSE, "postgres: %s", m ? m : "");
    free (m);
}

bool
part_pg_conn_free (const part_pg_conn_t *c)
{
    return c->state == C_READY && !c->pinned && !c->job && !c->in_round
           && !c->cleaning;
}

size_t
part_pg_pin_limit (const part_pg_t *self)
{
    return self->npool >= 2 ? self->npool - 1 : 1;
}

void
part_pg_pin (part_pg_t *self, part_pg_conn_t *c, const char *gid)
{
    c->pinned = true;
    c->begun = false;
    part_rm_copy (c->gid, sizeof c->gid, gid);
    zhashx_insert (self->pins, c->gid, c);
    self->pinned++;
}

void
part_pg_unpin (part_pg_t *self, part_pg_conn_t *c)
{
    if (!c->pinned)
        return;
    zhashx_delete (self->pins, c->gid);
    self->pinned--;
    c->pinned = false;
    c->begun = false;
    c->gid[0] = '\0';
}

size_t
part_pg_ready_count (const part_pg_t *self)
{
    size_t n = 0;
    for (size_t i = 0; i < self->npool; i++)
        n += self->conns[i].state == C_READY;
    return n;
}

void
part_pg_round_reset (part_pg_conn_t *c)
{
    /* the buffers stay for the next round (part_pg_round_free) */
    for (int i = 0; c->res && i < c->nq; i++) {
        PQclear (c->res[i]);
        c->res[i] = NULL;
    }
    c->nq = c->base = c->nitems = c->ii = 0;
    c->resets = false;
    c->in_round = false;
}

void
part_pg_round_free (part_pg_conn_t *c)
{
    part_pg_round_reset (c);
    free (c->res);
    free (c->items);
    c->res = NULL;
    c->items = NULL;
    c->cap = 0;
}

/*  Take C's socket out of the epoll set (before libpq closes it).        */
static void
s_unwatch (part_pg_t *self, part_pg_conn_t *c)
{
    if (c->wfd >= 0 && self->epfd >= 0)
        epoll_ctl (self->epfd, EPOLL_CTL_DEL, c->wfd, NULL);
    c->wfd = -1;
    c->wev = 0;
}

void
part_pg_conn_close (part_pg_t *self, part_pg_conn_t *c)
{
    s_unwatch (self, c);
    part_pg_round_reset (c);
    part_pg_stmts_clear (c);
    if (c->cancel)
        PQfreeCancel (c->cancel);
    c->cancel = NULL;
    if (c->pq)
        PQfinish (c->pq);
    c->pq = NULL;
    c->want_write = false;
    c->cleaning = false;
    c->dirty = c->dirty_full = false;
}

static void
s_schedule_retry (part_pg_t *self, part_pg_conn_t *c)
{
    c->state = C_DOWN;
    c->retry_at = self->now + c->backoff;
    c->backoff = c->backoff * 2 > self->cfg.backoff_max_ms
                 ? self->cfg.backoff_max_ms : c->backoff * 2;
}

/*  No connection is usable: BEGINs cannot wait for one.                  */
void
part_pg_outage (part_pg_t *self)
{
    if (part_pg_ready_count (self) > 0)
        return;
    self->had_ready = false;
    part_pg_job_t *job;
    while ((job = part_pg_jobq_pop (&self->wait_begin)))
        part_pg_complete (self, job, TPC_ECONNECT, "not connected to PostgreSQL", NULL);
}

/*  C broke (WHY): fail its job, lose its transaction, reconnect later.   */
static void
s_conn_broken (part_pg_t *self, part_pg_conn_t *c, const char *why)
{
    char *reason = part_pg_trimmed (why && *why ? why : "connection broken");
    part_pg_log (self, PART_PG_WARNING, "connection %zu to PostgreSQL lost: %s", c->index,
                 reason ? reason : "?");
    part_pg_job_t *job = c->job;
    c->job = NULL;
    if (job) {
        char msg[600];
        snprintf (msg, sizeof msg, "connection to PostgreSQL lost: %s",
                  reason ? reason : "?");
        part_pg_complete (self, job, job->op == PART_RM_ROLLBACK ? 0 : TPC_ECONNECT,
                          msg, "08006");
    }
    else if (c->pinned && zhashx_size (self->lost) < S_LOST_MAX)
        zhashx_insert (self->lost, c->gid, (void *) 1);
    free (reason);
    part_pg_unpin (self, c);
    part_pg_conn_close (self, c);
    s_schedule_retry (self, c);
    part_pg_outage (self);
}

void
part_pg_conn_ready (part_pg_t *self, part_pg_conn_t *c)
{
    PQsetNoticeProcessor (c->pq, part_pg_notice, self);
    if (PQsetnonblocking (c->pq, 1) != 0 || PQenterPipelineMode (c->pq) != 1) {
        s_conn_broken (self, c, PQerrorMessage (c->pq));
        return;
    }
    c->cancel = PQgetCancel (c->pq);
    c->state = C_READY;
    c->backoff = self->cfg.backoff_min_ms;
    if (!self->had_ready) {
        self->had_ready = true;
        self->need_connected = true;
        self->outage_logged = false;
        part_pg_log (self, PART_PG_VERBOSE, "connected to PostgreSQL");
    }
    part_pg_dispatch (self);
}

static void
s_connect_failed (part_pg_t *self, part_pg_conn_t *c, const char *why)
{
    char *reason = part_pg_trimmed (why);
    part_pg_log (self, self->outage_logged ? PART_PG_VERBOSE : PART_PG_WARNING,
                 "cannot connect to PostgreSQL (connection %zu, next try in "
                 "%llu ms): %s",
                 c->index, (unsigned long long) c->backoff, reason ? reason : "?");
    self->outage_logged = true;
    free (reason);
    part_pg_conn_close (self, c);
    s_schedule_retry (self, c);
}

void
part_pg_connect_start (part_pg_t *self, part_pg_conn_t *c)
{
    c->pq = PQconnectStart (self->conninfo);
    if (!c->pq) {
        s_connect_failed (self, c, "out of memory");
        return;
    }
    if (PQstatus (c->pq) == CONNECTION_BAD) {
        s_connect_failed (self, c, PQerrorMessage (c->pq));
        return;
    }
    c->state = C_CONNECTING;
    c->polling = PGRES_POLLING_WRITING;
    c->deadline = self->now + self->cfg.connect_timeout_ms;
}

static bool
s_fd_ready (int fd, short events)
{
    struct pollfd p = { .fd = fd, .events = events };
    return poll (&p, 1, 0) > 0;
}

void
part_pg_connect_step (part_pg_t *self, part_pg_conn_t *c)
{
    if (self->now >= c->deadline) {
        s_connect_failed (self, c, "timed out");
        return;
    }
    int fd = PQsocket (c->pq);
    short ev = c->polling == PGRES_POLLING_READING ? POLLIN : POLLOUT;
    if (fd >= 0 && !s_fd_ready (fd, ev))
        return;
    PostgresPollingStatusType st = PQconnectPoll (c->pq);
    if (st == PGRES_POLLING_OK)
        part_pg_conn_ready (self, c);
    else if (st == PGRES_POLLING_FAILED)
        s_connect_failed (self, c, PQerrorMessage (c->pq));
    else
        c->polling = st;
}

/* ------------------------------------------------------------------ */
/*  Rounds                                                            */

/*  Send N queries and a Sync.  0, or -1 when the connection broke (its
 *  job has been completed with TPC_ECONNECT).                            */
int
part_pg_send_round (part_pg_t *self, part_pg_conn_t *c,
                    const part_pg_query_t *q, int n, int base)
{
    if (n > c->cap) {
        /* grown, never shrunk: a round is a transaction's statements */
        int cap = n < 8 ? 8 : n;
        PGresult **res = realloc (c->res, (size_t) cap * sizeof *res);
        if (res)
            c->res = res;
        part_pg_item_t *items = res ? realloc (c->items, (size_t) cap * 2
                                                         * sizeof *items)
                                    : NULL;
        if (items)
            c->items = items;
        if (!res || !items)
            goto broken;
        memset (c->res, 0, (size_t) cap * sizeof *res);
        c->cap = cap;
    }
    c->nq = n;
    c->nitems = c->ii = 0;
    for (int i = 0; i < n; i++)
        if (!part_pg_send_query (self, c, &q[i], i))
            goto broken;
    if (!PQpipelineSync (c->pq))
        goto broken;
    c->base = base;
    c->in_round = true;
    int r = PQflush (c->pq);
    if (r < 0)
        goto broken;
    c->want_write = r == 1;
    return 0;
broken:
    s_conn_broken (self, c, PQerrorMessage (c->pq));
    return -1;
}

/*  Read what has arrived of the current round.                           */
static void
s_read_results (part_pg_t *self, part_pg_conn_t *c)
{
    while (c->in_round && !PQisBusy (c->pq)) {
        PGresult *r = PQgetResult (c->pq);
        if (!r) {
            if (PQstatus (c->pq) == CONNECTION_BAD)
                break;
            if (c->ii < c->nitems)
                c->ii++;
            else
                break;
            continue;
        }
        ExecStatusType st = PQresultStatus (r);
        if (st == PGRES_PIPELINE_SYNC) {
            PQclear (r);
            c->in_round = false;
            part_pg_stmts_settle (c);
            part_pg_on_round (self, c);
            return;
        }
        if (c->ii < c->nitems) {
            part_pg_item_t *it = &c->items[c->ii];
            const char *state = PQresultErrorField (r, PG_DIAG_SQLSTATE);
            it->status = st;
            part_rm_copy (it->sqlstate, sizeof it->sqlstate, state);
            PGresult **slot = &c->res[it->slot];
            ExecStatusType was = *slot ? PQresultStatus (*slot) : PGRES_COMMAND_OK;
            if (was == PGRES_COMMAND_OK || was == PGRES_TUPLES_OK
                || was == PGRES_EMPTY_QUERY) {
                PQclear (*slot);        /* keep the first error of a query */
                *slot = r;
            }
            else
                PQclear (r);
        }
        else
            PQclear (r);
    }
    if (c->pq && PQstatus (c->pq) == CONNECTION_BAD)
        s_conn_broken (self, c, PQerrorMessage (c->pq));
}

void
part_pg_ready_step (part_pg_t *self, part_pg_conn_t *c)
{
    if (c->want_write) {
        int r = PQflush (c->pq);
        if (r < 0) {
            s_conn_broken (self, c, PQerrorMessage (c->pq));
            return;
        }
        c->want_write = r == 1;
    }
    if (!PQconsumeInput (c->pq)) {
        s_conn_broken (self, c, PQerrorMessage (c->pq));
        return;
    }
    if (c->in_round)
        s_read_results (self, c);
    else if (PQstatus (c->pq) == CONNECTION_BAD)
        s_conn_broken (self, c, PQerrorMessage (c->pq));
    else {
        PGnotify *n;
        while ((n = PQnotifies (c->pq)))
            PQfreemem (n);
    }
}

/* ------------------------------------------------------------------ */
/*  The pool                                                          */

/*  C finished its work: back to the pool once its session is idle.      */
void
part_pg_release (part_pg_t *self, part_pg_conn_t *c)
{
    if (c->state != C_READY || c->pinned || c->job || c->in_round)
        return;
    PGTransactionStatusType ts = PQtransactionStatus (c->pq);
    if (ts == PQTRANS_IDLE && c->dirty) {
        c->dirty = c->dirty_full = false;
        c->cleaning = true;
        part_pg_stmts_clear (c);              /* DISCARD ALL deallocates them */
        part_pg_query_t q = { "DISCARD ALL", 0, NULL, false };
        part_pg_send_round (self, c, &q, 1, 0);
        return;
    }
    if (ts == PQTRANS_IDLE) {
        c->cleaning = false;
        part_pg_dispatch (self);
        return;
    }
    if ((ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR) && !c->cleaning) {
        c->cleaning = true;
        part_pg_query_t q = { "ROLLBACK", 0, NULL, false };
        part_pg_send_round (self, c, &q, 1, 0);
        return;
    }
    /* still not idle after ROLLBACK, or in an unknown state: start over */
    part_pg_log (self, PART_PG_WARNING, "connection %zu left in a transaction: re-opening it",
                 c->index);
    part_pg_conn_close (self, c);
    c->state = C_DOWN;
    c->retry_at = self->now;
    part_pg_outage (self);
}

/*  Give free connections to waiting work: phase 2 first, then BEGINs.   */
void
part_pg_dispatch (part_pg_t *self)
{
    if (self->dispatching) {
        self->dispatch_again = true;
        return;
    }
    self->dispatching = true;
    do {
        self->dispatch_again = false;
        /* nothing waits (the common case: a job found its session at
         * once): no scan of the pool */
        for (size_t i = 0; i < self->npool
             && (self->wait_any.head || self->wait_begin.head); i++) {
            part_pg_conn_t *c = &self->conns[i];
            if (!part_pg_conn_free (c))
                continue;
            if (self->wait_any.head)
                part_pg_start (self, c, part_pg_jobq_pop (&self->wait_any));
            else if (self->wait_begin.head && self->pinned < part_pg_pin_limit (self)) {
                part_pg_job_t *job = part_pg_jobq_pop (&self->wait_begin);
                part_pg_pin (self, c, job->gid);
                part_pg_complete (self, job, 0, NULL, NULL);
            }
        }
    } while (self->dispatch_again);
    self->dispatching = false;
}

/* ------------------------------------------------------------------ */
/*  The epoll set                                                     */

/*  Is FD the open socket of a session other than C?                     */
static bool
s_fd_taken (const part_pg_t *self, const part_pg_conn_t *c, int fd)
{
    for (size_t i = 0; i < self->npool; i++) {
        const part_pg_conn_t *o = &self->conns[i];
        if (o != c && o->state != C_DOWN && o->pq && PQsocket (o->pq) == fd)
            return true;
    }
    return false;
}

/*  Bring C's entry in the epoll set in line with what C waits for: a
 *  CONNECTING socket what PQconnectPoll asked, a READY one input (and
 *  output while a send is unfinished).  A system call only on change.    */
void
part_pg_watch (part_pg_t *self, part_pg_conn_t *c)
{
    int fd = c->state != C_DOWN && c->pq ? PQsocket (c->pq) : -1;
    uint32_t ev = 0;
    if (fd >= 0 && c->state == C_CONNECTING)
        ev = c->polling == PGRES_POLLING_READING ? EPOLLIN : EPOLLOUT;
    else if (fd >= 0)
        ev = EPOLLIN | (c->want_write ? EPOLLOUT : 0);
    if (fd != c->wfd) {
        /* libpq changed sockets (closing the old one, whose number another
         * session may have since): drop the old entry unless reused */
        if (c->wfd >= 0 && !s_fd_taken (self, c, c->wfd))
            epoll_ctl (self->epfd, EPOLL_CTL_DEL, c->wfd, NULL);
        c->wfd = -1;
        c->wev = 0;
    }
    if (fd < 0 || ev == c->wev)
        return;
    struct epoll_event e = { .events = ev, .data.u64 = c->index };
    int rc = epoll_ctl (self->epfd, c->wfd < 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &e);
    if (rc < 0 && errno == EEXIST)
        rc = epoll_ctl (self->epfd, EPOLL_CTL_MOD, fd, &e);
    else if (rc < 0 && errno == ENOENT)
        rc = epoll_ctl (self->epfd, EPOLL_CTL_ADD, fd, &e);
    if (rc == 0) {
        c->wfd = fd;
        c->wev = ev;
    }
    else
        part_pg_log (self, PART_PG_WARNING, "connection %zu: epoll_ctl failed: %s", c->index,
                     strerror (errno));
}
