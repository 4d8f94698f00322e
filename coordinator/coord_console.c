/*  coord_console: the loop <-> console hand-over (see coord_console.h).
 *
 *  Locking: one mutex guards the current snapshot pointer, its reference
 *  counts, the "asked" flag and the command list; nothing is rendered,
 *  built nor sent while it is held.  Commands live on the HTTP thread's
 *  stack in a list: the loop copies what it needs under the mutex and
 *  finds a command again by its id to answer it, so a command whose
 *  waiter timed out (and unlinked it) is simply not found.
 *
 *  The series: the current second's counts and up to S_SAMPLES latencies
 *  (the later ones overwrite earlier slots round-robin), closed into a
 *  point (p50, p99 from the sorted samples) when a later second starts.
 */
#include "coord_console.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "tpc_clock.h"
#include "tpc_error.h"

#define S_SAMPLES 4096
#define S_MAX_TXNS_DEFAULT 5000
#define S_ID_PREFIX "\x00" "console"
#define S_ID_PREFIX_LEN 8

typedef struct s_cmd s_cmd_t;
struct s_cmd {
    s_cmd_t *next;
    uint64_t id;
    coord_console_cmd_t cmd;
    bool taken, done;
    char gid[TPC_GID_MAX];
    tpc_outcome_t outcome;
    char reason[CONSOLE_REASON_MAX + 1];
    int rc;
    char text[256];
};

struct coord_console {
    size_t max_txns;
    int efd;
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    coord_console_snap_t *snap;     /* newest, counted */
    uint64_t generation;
    bool asked;
    bool stale;                     /* a command ran since the snapshot:
                                       the next read makes a new one */
    s_cmd_t *cmds;
    uint64_t next_id;
    uint64_t start_ms;
    /* the loop's own (no lock): series, ended, retries */
    uint64_t sec;                   /* current second (monotonic) */
    uint64_t cur_committed, cur_aborted;
    uint64_t samples[S_SAMPLES];
    size_t nsamples, nseen;
    coord_console_point_t points[CONSOLE_SERIES];
    size_t points_head, npoints;    /* ring, oldest at head */
    coord_console_ended_t ended[CONSOLE_ENDED_MAX];
    uint64_t ended_at[CONSOLE_ENDED_MAX];
    size_t ended_head, nended;      /* ring, oldest at head */
    coord_console_retry_t retries[CONSOLE_RETRY_MAX];
    uint64_t retry_at[CONSOLE_RETRY_MAX];
    size_t retry_head, nretries;
};

static uint64_t
s_unix_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

static void
s_poke (coord_console_t *self)
{
    uint64_t one = 1;
    if (write (self->efd, &one, sizeof one) < 0 && errno != EAGAIN)
        return;                 /* the loop serves on its next pass anyway */
}

coord_console_t *
coord_console_new (size_t max_txns)
{
    coord_console_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->max_txns = max_txns ? max_txns : S_MAX_TXNS_DEFAULT;
    self->efd = eventfd (0, EFD_NONBLOCK | EFD_CLOEXEC);
    self->start_ms = (uint64_t) tpc_now_ms ();
    self->next_id = 1;
    if (self->efd < 0) {
        free (self);
        return NULL;
    }
    pthread_mutex_init (&self->mutex, NULL);
    pthread_cond_init (&self->cond, NULL);
    return self;
}

static void
s_snap_free (coord_console_snap_t *snap)
{
    if (snap) {
        coord_view_destroy (&snap->view);
        free (snap);
    }
}

void
coord_console_destroy (coord_console_t **self_p)
{
    coord_console_t *self = *self_p;
    if (!self)
        return;
    s_snap_free (self->snap);   /* the HTTP server stopped first */
    close (self->efd);
    pthread_mutex_destroy (&self->mutex);
    pthread_cond_destroy (&self->cond);
    free (self);
    *self_p = NULL;
}

int
coord_console_fd (coord_console_t *self)
{
    return self->efd;
}

/* ---------------------------------------------------------------------
 *  The loop's side
 */

static int
s_u64_cmp (const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
    return x < y ? -1 : x > y;
}

static void
s_push_point (coord_console_t *self, const coord_console_point_t *p)
{
    size_t slot = (self->points_head + self->npoints) % CONSOLE_SERIES;
    if (self->npoints == CONSOLE_SERIES)
        self->points_head = (self->points_head + 1) % CONSOLE_SERIES;
    else
        self->npoints++;
    self->points[slot] = *p;
}

/*  Close every second before NOW's into a point.                         */
static void
s_roll (coord_console_t *self, uint64_t now)
{
    uint64_t sec = now / 1000;
    if (!self->sec)
        self->sec = sec;
    if (sec <= self->sec)
        return;
    coord_console_point_t p = { self->cur_committed, self->cur_aborted, 0,
                                0 };
    size_t n = self->nsamples;
    if (n) {
        qsort (self->samples, n, sizeof *self->samples, s_u64_cmp);
        p.p50_ms = self->samples[(n - 1) / 2];
        p.p99_ms = self->samples[(n * 99 - 1) / 100];
    }
    s_push_point (self, &p);
    uint64_t gap = sec - self->sec - 1;
    coord_console_point_t zero = { 0, 0, 0, 0 };
    for (uint64_t i = 0; i < gap && i < CONSOLE_SERIES; i++)
        s_push_point (self, &zero);
    self->sec = sec;
    self->cur_committed = self->cur_aborted = 0;
    self->nsamples = self->nseen = 0;
}

void
coord_console_ended (coord_console_t *self, const coord_action_t *act,
                     uint64_t now)
{
    if (!self)
        return;
    s_roll (self, now);
    if (act->outcome == TPC_OUTCOME_COMMITTED)
        self->cur_committed++;
    else if (act->outcome == TPC_OUTCOME_ABORTED)
        self->cur_aborted++;
    self->samples[self->nseen++ % S_SAMPLES] = act->age_ms;
    if (self->nsamples < S_SAMPLES)
        self->nsamples++;
    size_t slot = (self->ended_head + self->nended) % CONSOLE_ENDED_MAX;
    if (self->nended == CONSOLE_ENDED_MAX)
        self->ended_head = (self->ended_head + 1) % CONSOLE_ENDED_MAX;
    else
        self->nended++;
    coord_console_ended_t *e = &self->ended[slot];
    snprintf (e->gid, sizeof e->gid, "%s", act->gid);
    e->outcome = act->outcome;
    e->age_ms = act->age_ms;
    e->prepare_ms = act->prepare_ms;
    e->decide_ms = act->decide_ms;
    e->commit_ms = act->commit_ms;
    snprintf (e->reason, sizeof e->reason, "%s", act->text ? act->text : "");
    self->ended_at[slot] = now;
}

static void
s_note_retry (coord_console_t *self, const s_cmd_t *c, uint64_t now)
{
    size_t slot = (self->retry_head + self->nretries) % CONSOLE_RETRY_MAX;
    if (self->nretries == CONSOLE_RETRY_MAX)
        self->retry_head = (self->retry_head + 1) % CONSOLE_RETRY_MAX;
    else
        self->nretries++;
    coord_console_retry_t *r = &self->retries[slot];
    snprintf (r->gid, sizeof r->gid, "%s", c->gid);
    snprintf (r->reason, sizeof r->reason, "%s", c->reason);
    r->unix_ms = s_unix_ms ();
    self->retry_at[slot] = now;
}

static coord_console_snap_t *
s_snap_make (coord_console_t *self, coord_engine_t *engine, uint64_t now)
{
    coord_console_snap_t *s = calloc (1, sizeof *s);
    if (!s)
        return NULL;
    s->view = coord_engine_view (engine, self->max_txns, now);
    if (!s->view) {
        free (s);
        return NULL;
    }
    s->unix_ms = s_unix_ms ();
    s->mono_ms = (uint64_t) tpc_now_ms ();
    s->uptime_ms = s->mono_ms - self->start_ms;
    s_roll (self, now);
    for (size_t i = 0; i < self->npoints; i++)
        s->points[s->npoints++]
            = self->points[(self->points_head + i) % CONSOLE_SERIES];
    for (size_t i = self->nended; i-- > 0;) {
        size_t slot = (self->ended_head + i) % CONSOLE_ENDED_MAX;
        coord_console_ended_t *e = &s->ended[s->nended++];
        *e = self->ended[slot];
        e->ago_ms = now > self->ended_at[slot] ? now - self->ended_at[slot]
                                               : 0;
    }
    for (size_t i = self->nretries; i-- > 0;) {
        size_t slot = (self->retry_head + i) % CONSOLE_RETRY_MAX;
        coord_console_retry_t *r = &s->retries[s->nretries++];
        *r = self->retries[slot];
        r->ago_ms = now > self->retry_at[slot] ? now - self->retry_at[slot]
                                               : 0;
    }
    s->refs = 1;
    return s;
}

/*  Answer command ID (if its waiter is still there).                     */
static void
s_answer (coord_console_t *self, uint64_t id, int rc, tpc_outcome_t outcome,
          const char *text)
{
    pthread_mutex_lock (&self->mutex);
    for (s_cmd_t *c = self->cmds; c; c = c->next)
        if (c->id == id) {
            c->rc = rc;
            c->outcome = outcome;
            snprintf (c->text, sizeof c->text, "%s", text ? text : "");
            c->done = true;
            pthread_cond_broadcast (&self->cond);
            break;
        }
    self->stale = true;
    pthread_mutex_unlock (&self->mutex);
}

/*  Run one command (a copy taken under the mutex).                       */
static int
s_run (coord_console_t *self, coord_engine_t *engine, const s_cmd_t *c,
       uint64_t now)
{
    if (c->cmd == CONSOLE_RETRY) {
        char why[256] = "";
        int rc = coord_engine_retry (engine, c->gid, now, why, sizeof why);
        if (rc == TPC_EUNKNOWN_GID || rc == TPC_ESTATE) {
            s_answer (self, c->id, rc, TPC_OUTCOME_IN_PROGRESS, why);
            return 0;
        }
        if (rc == 0)
            s_note_retry (self, c, now);
        s_answer (self, c->id, rc, TPC_OUTCOME_IN_PROGRESS,
                  rc ? tpc_strerror (rc) : "resent to the connected "
                  "participants that have not acknowledged; the others get "
                  "it at their next hello");
        return rc;
    }
    tpc_msg_t *msg = tpc_msg_new (TPC_MSG_RESOLVE);
    char reason[CONSOLE_REASON_MAX + 32];
    snprintf (reason, sizeof reason, "%s: %s", CONSOLE_WHO, c->reason);
    uint8_t id[S_ID_PREFIX_LEN + 8];
    memcpy (id, S_ID_PREFIX, S_ID_PREFIX_LEN);
    memcpy (id + S_ID_PREFIX_LEN, &c->id, 8);
    int rc = TPC_ENOMEM;
    if (msg && tpc_msg_set_str (&msg->gid, c->gid) == 0
        && tpc_msg_set_str (&msg->reason, reason) == 0) {
        msg->outcome = c->outcome;
        msg->rid = c->id;
        rc = coord_engine_client_as (engine, id, sizeof id, CONSOLE_WHO, msg,
                                     now);
    }
    tpc_msg_destroy (&msg);
    if (rc)
        s_answer (self, c->id, rc, TPC_OUTCOME_IN_PROGRESS,
                  tpc_strerror (rc));
    return rc;
}

int
coord_console_service (coord_console_t *self, coord_engine_t *engine,
                       uint64_t now)
{
    uint64_t n;
    if (read (self->efd, &n, sizeof n) < 0 && errno != EAGAIN)
        return 0;
    s_cmd_t todo[16];
    size_t ntodo = 0;
    pthread_mutex_lock (&self->mutex);
    bool asked = self->asked;
    self->asked = false;
    for (s_cmd_t *c = self->cmds; c && ntodo < 16; c = c->next)
        if (!c->taken) {
            c->taken = true;
            todo[ntodo++] = *c;
        }
    bool more = false;
    for (s_cmd_t *c = self->cmds; c; c = c->next)
        more |= !c->taken;
    pthread_mutex_unlock (&self->mutex);
    if (more)
        s_poke (self);
    int rc = 0;
    for (size_t i = 0; i < ntodo && !rc; i++)
        rc = s_run (self, engine, &todo[i], now);
    if (!asked)
        return rc;
    coord_console_snap_t *snap = s_snap_make (self, engine, now), *old = NULL;
    pthread_mutex_lock (&self->mutex);
    if (snap) {
        old = self->snap;
        self->snap = snap;
        self->stale = false;
        if (old && --old->refs > 0)
            old = NULL;
    }
    self->generation++;         /* waiters wake even on failure */
    pthread_cond_broadcast (&self->cond);
    pthread_mutex_unlock (&self->mutex);
    s_snap_free (old);
    return rc;
}

bool
coord_console_reply (coord_console_t *self, const void *id, size_t len,
                     const tpc_msg_t *msg)
{
    if (!self || len != S_ID_PREFIX_LEN + 8
        || memcmp (id, S_ID_PREFIX, S_ID_PREFIX_LEN))
        return false;
    uint64_t cid;
    memcpy (&cid, (const uint8_t *) id + S_ID_PREFIX_LEN, 8);
    if (msg->type == TPC_MSG_ERROR)
        s_answer (self, cid, msg->code ? msg->code : TPC_EPROTO,
                  TPC_OUTCOME_IN_PROGRESS, msg->message);
    else
        s_answer (self, cid, 0, msg->outcome, msg->reason);
    return true;
}

/* ---------------------------------------------------------------------
 *  The HTTP threads' side
 */

static void
s_deadline (struct timespec *ts, uint64_t ms)
{
    clock_gettime (CLOCK_REALTIME, ts);
    ts->tv_sec += (time_t) (ms / 1000);
    ts->tv_nsec += (long) (ms % 1000) * 1000000;
    if (ts->tv_nsec >= 1000000000) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000;
    }
}

coord_console_snap_t *
coord_console_snap_get (coord_console_t *self)
{
    coord_console_snap_t *snap = NULL;
    pthread_mutex_lock (&self->mutex);
    uint64_t now = (uint64_t) tpc_now_ms ();
    if (!self->snap || self->stale
        || now - self->snap->mono_ms >= CONSOLE_FRESH_MS) {
        uint64_t gen = self->generation;
        bool poke = !self->asked;
        self->asked = true;
        if (poke)
            s_poke (self);
        struct timespec ts;
        s_deadline (&ts, 2000);
        while (self->generation == gen)
            if (pthread_cond_timedwait (&self->cond, &self->mutex, &ts))
                break;
    }
    if ((snap = self->snap))
        snap->refs++;
    pthread_mutex_unlock (&self->mutex);
    return snap;
}

void
coord_console_snap_put (coord_console_t *self, coord_console_snap_t **snap_p)
{
    coord_console_snap_t *snap = *snap_p;
    if (!snap)
        return;
    pthread_mutex_lock (&self->mutex);
    bool last = --snap->refs == 0;
    pthread_mutex_unlock (&self->mutex);
    if (last)
        s_snap_free (snap);
    *snap_p = NULL;
}

int
coord_console_command (coord_console_t *self, coord_console_cmd_t cmd,
                       const char *gid, tpc_outcome_t outcome,
                       const char *reason, tpc_outcome_t *out_outcome,
                       char *text, size_t textlen)
{
    s_cmd_t c = { .cmd = cmd, .outcome = outcome };
    snprintf (c.gid, sizeof c.gid, "%s", gid);
    snprintf (c.reason, sizeof c.reason, "%s", reason);
    pthread_mutex_lock (&self->mutex);
    c.id = self->next_id++;
    c.next = self->cmds;
    self->cmds = &c;
    s_poke (self);
    struct timespec ts;
    s_deadline (&ts, 10000);
    while (!c.done)
        if (pthread_cond_timedwait (&self->cond, &self->mutex, &ts))
            break;
    for (s_cmd_t **p = &self->cmds; *p; p = &(*p)->next)
        if (*p == &c) {
            *p = c.next;
            break;
        }
    pthread_mutex_unlock (&self->mutex);
    if (!c.done) {
        snprintf (text, textlen, "the coordinator did not answer within "
                  "10 s");
        return TPC_ETIMEDOUT;
    }
    if (out_outcome)
        *out_outcome = c.outcome;
    snprintf (text, textlen, "%s", c.text);
    return c.rc;
}
