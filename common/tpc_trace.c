/*  tpc_trace: the per-stage latency trace; the file format and the
 *  sampling rule are in tpc_trace.h.  A tracer is a descriptor opened
 *  O_APPEND and a buffer of whole lines, written with one write() when
 *  it is nearly full, at tpc_trace_flush and at tpc_trace_destroy.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tpc_clock.h"
#include "tpc_crc32c.h"
#include "tpc_error.h"
#include "tpc_gid.h"
#include "tpc_trace.h"

#define S_LINE_MAX 160          /* gid (< 80) + 2 spaces + stage name (< 40)
                                   + 20 digits + LF */

struct tpc_trace {
    int fd;
    unsigned sample;
    size_t used;
    char buf[TPC_TRACE_BUF];
};

static const char *const s_names[TPC_TRACE_STAGE_COUNT] = {
    [TPC_TRACE_CLIENT_SEND] = "client_send",
    [TPC_TRACE_COORD_RECV] = "coord_recv",
    [TPC_TRACE_WORK_SENT] = "work_sent",
    [TPC_TRACE_AGENT_RECV] = "agent_recv",
    [TPC_TRACE_DB_WORK_START] = "db_work_start",
    [TPC_TRACE_DB_WORK_END] = "db_work_end",
    [TPC_TRACE_DB_PREPARE_START] = "db_prepare_start",
    [TPC_TRACE_DB_PREPARE_END] = "db_prepare_end",
    [TPC_TRACE_VOTE_SENT] = "vote_sent",
    [TPC_TRACE_VOTE_RECV] = "vote_recv",
    [TPC_TRACE_DECISION_APPENDED] = "decision_appended",
    [TPC_TRACE_DURABLE] = "durable",
    [TPC_TRACE_DECIDE_SENT] = "decide_sent",
    [TPC_TRACE_AGENT_DECIDE] = "agent_decide",
    [TPC_TRACE_PHASE2_DONE] = "phase2_done",
    [TPC_TRACE_ACK_RECV] = "ack_recv",
    [TPC_TRACE_REPLY_SENT] = "reply_sent",
    [TPC_TRACE_CLIENT_RECV] = "client_recv",
};

tpc_trace_t *
tpc_trace_new (const char *path, unsigned sample)
{
    if (!path || !*path) {
        errno = EINVAL;
        return NULL;
    }
    tpc_trace_t *self = malloc (sizeof *self);
    if (!self) {
        errno = ENOMEM;
        return NULL;
    }
    self->fd = open (path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (self->fd < 0) {
        int err = errno;
        free (self);
        errno = err;
        return NULL;
    }
    self->sample = sample ? sample : 1;
    self->used = 0;
    return self;
}

tpc_trace_t *
tpc_trace_from_env (void)
{
    const char *path = getenv ("TPC_TRACE_FILE");
    const char *sample = getenv ("TPC_TRACE_SAMPLE");
    if (!path || !*path)
        return NULL;
    unsigned long n = 1;
    if (sample && *sample) {
        char *end = NULL;
        errno = 0;
        n = strtoul (sample, &end, 10);
        if (errno || *end || n > 1000000000UL) {
            fprintf (stderr, "libtpc: warning: TPC_TRACE_SAMPLE='%s' is not "
                     "a count: no trace\n", sample);
            return NULL;
        }
    }
    tpc_trace_t *self = tpc_trace_new (path, (unsigned) n);
    if (!self)
        fprintf (stderr, "libtpc: warning: TPC_TRACE_FILE '%s': %s: no "
                 "trace\n", path, strerror (errno));
    return self;
}

int
tpc_trace_flush (tpc_trace_t *self)
{
    if (!self)
        return 0;
    size_t off = 0;
    int rc = 0;
    while (off < self->used) {
        ssize_t n = write (self->fd, self->buf + off, self->used - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = TPC_EIO;       /* a trace is best effort: drop the lines */
            break;
        }
        off += (size_t) n;
    }
    self->used = 0;
    return rc;
}

void
tpc_trace_destroy (tpc_trace_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    tpc_trace_t *self = *self_p;
    tpc_trace_flush (self);
    close (self->fd);
    free (self);
    *self_p = NULL;
}

bool
tpc_trace_sampled (const tpc_trace_t *self, const char *gid)
{
    if (!self || !gid || !*gid)
        return false;
    return self->sample == 1
           || tpc_crc32c (0, gid, strlen (gid)) % self->sample == 0;
}

int64_t
tpc_trace_now (const tpc_trace_t *self)
{
    return self ? tpc_now_ns () : 0;
}

/*  Append one line (SELF on, GID sampled), formatted by hand (no format
 *  string to parse): about 0.1 µs a mark (test_trace prints it).        */
static void
s_put (tpc_trace_t *self, const char *gid, tpc_trace_stage_t stage,
       int64_t t_ns)
{
    size_t glen = strnlen (gid, TPC_GID_MAX);
    size_t slen = strlen (s_names[stage]);
    if (glen >= TPC_GID_MAX || t_ns < 0)
        return;
    if (sizeof self->buf - self->used < S_LINE_MAX)
        tpc_trace_flush (self);
    char *p = self->buf + self->used;
    memcpy (p, gid, glen);
    p += glen;
    *p++ = ' ';
    memcpy (p, s_names[stage], slen);
    p += slen;
    *p++ = ' ';
    char digits[24];
    size_t nd = 0;
    uint64_t v = (uint64_t) t_ns;
    do
        digits[nd++] = (char) ('0' + v % 10);
    while ((v /= 10) != 0);
    while (nd)
        *p++ = digits[--nd];
    *p++ = '\n';
    self->used = (size_t) (p - self->buf);
}

void
tpc_trace_mark_at (tpc_trace_t *self, const char *gid,
                   tpc_trace_stage_t stage, int64_t t_ns)
{
    if (t_ns != 0 && (unsigned) stage < TPC_TRACE_STAGE_COUNT
        && tpc_trace_sampled (self, gid))
        s_put (self, gid, stage, t_ns);
}

void
tpc_trace_mark (tpc_trace_t *self, const char *gid, tpc_trace_stage_t stage)
{
    if ((unsigned) stage < TPC_TRACE_STAGE_COUNT
        && tpc_trace_sampled (self, gid))
        s_put (self, gid, stage, tpc_now_ns ());
}

const char *
tpc_trace_stage_name (tpc_trace_stage_t stage)
{
    return (unsigned) stage < TPC_TRACE_STAGE_COUNT ? s_names[stage] : "?";
}

int
tpc_trace_stage_parse (const char *name)
{
    for (int i = 0; name && i < TPC_TRACE_STAGE_COUNT; i++)
        if (!strcmp (s_names[i], name))
            return i;
    return -1;
}
