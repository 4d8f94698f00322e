/*  tpc_crash: named crash points (see tpc_crash.h for the points, the
 *  environment and what firing does).  Only a build configured with
 *  --enable-crash-points (-DTPC_CRASH_POINTS) reads the environment.
 *
 *  The stderr line is built in a stack buffer and written with ONE write(2)
 *  so it is whole even when other threads print, and nothing buffered in
 *  stdio is flushed: _exit(2) follows at once.
 */
#include "tpc_crash.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tpc_error.h"

#define S_NAME_MAX 64

static const char *const s_points[] = {
    "coord.registered",
    "coord.prepare_sent",
    "coord.votes_in",
    "coord.before_decision",
    "coord.after_decision_append",
    "coord.after_fsync",
    "coord.commit_sent",
    "coord.before_end",
    "coord.precommit_logged",
    "coord.precommit_sent",
    "coord.precommit_acked",
    "coord.commit_partial",
    "coord.log_sync",
    "agent.after_work",
    "agent.after_prepare",
    "agent.after_vote",
    "agent.after_commit_prepared",
    "agent.after_precommit",
    "agent.state_sync",
    NULL
};

struct tpc_crash {
    char point[S_NAME_MAX];     /* "" = disarmed */
    uint64_t at;
    tpc_crash_action_t action;
    uint64_t passes;
    bool fired;
};

const char *const *
tpc_crash_points (void)
{
    return s_points;
}

int
tpc_crash_point_valid (const char *name, const char *scope)
{
    if (!name)
        return TPC_EINVAL;
    if (scope && strncmp (name, scope, strlen (scope)) != 0)
        return TPC_EINVAL;
    for (size_t i = 0; s_points[i]; i++)
        if (strcmp (s_points[i], name) == 0)
            return 0;
    return TPC_EINVAL;
}

bool
tpc_crash_compiled_in (void)
{
#ifdef TPC_CRASH_POINTS
    return true;
#else
    return false;
#endif
}

#ifdef TPC_CRASH_POINTS
/*  True for a *_sync point (fdatasyncs, not a place: action failsync).   */
static bool
s_is_sync (const char *name)
{
    size_t n = strlen (name);
    return n > 5 && strcmp (name + n - 5, "_sync") == 0;
}

/*  "name1, name2, ..." of the points in SCOPE into BUF.                  */
static void
s_list (const char *scope, char *buf, size_t size)
{
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; s_points[i] && n < size; i++) {
        if (scope && strncmp (s_points[i], scope, strlen (scope)) != 0)
            continue;
        int w = snprintf (buf + n, size - n, "%s%s", n ? ", " : "",
                          s_points[i]);
        if (w < 0)
            break;
        n += (size_t) w;
    }
}

/*  tpc_crash_config_from_env of a test build.                          */
static int
s_config_from_env (tpc_crash_config_t *cfg, const char *scope,
                   char *errbuf, size_t errlen)
{
    char names[512];
    const char *point = getenv ("TPC_CRASH_POINT");
    const char *at = getenv ("TPC_CRASH_AT");
    const char *action = getenv ("TPC_CRASH_ACTION");
    if (!point || !*point)
        return 0;
    if (tpc_crash_point_valid (point, scope)) {
        s_list (scope, names, sizeof names);
        snprintf (errbuf, errlen, "TPC_CRASH_POINT=%s is not a crash point of "
                  "this program (it has: %s)", point, names);
        return TPC_EINVAL;
    }
    cfg->point = point;
    cfg->at = 1;
    if (at && *at) {
        char *end = NULL;
        errno = 0;
        unsigned long long n = strtoull (at, &end, 10);
        if (*end || errno || n < 1 || *at == '-' || *at == '+') {
            snprintf (errbuf, errlen, "TPC_CRASH_AT=%s is not an integer >= 1",
                      at);
            return TPC_EINVAL;
        }
        cfg->at = n;
    }
    if (!action || !*action || strcmp (action, "exit") == 0)
        cfg->action = TPC_CRASH_EXIT;
    else if (strcmp (action, "stop") == 0)
        cfg->action = TPC_CRASH_STOP;
    else if (strcmp (action, "failsync") == 0)
        cfg->action = TPC_CRASH_FAILSYNC;
    else {
        snprintf (errbuf, errlen, "TPC_CRASH_ACTION=%s is not exit, stop or "
                  "failsync", action);
        return TPC_EINVAL;
    }
    if (s_is_sync (point) != (cfg->action == TPC_CRASH_FAILSYNC)) {
        snprintf (errbuf, errlen, "TPC_CRASH_POINT=%s cannot fire with "
                  "TPC_CRASH_ACTION=%s: the *_sync points take failsync, "
                  "and only they", point, action ? action : "exit");
        return TPC_EINVAL;
    }
    return 0;
}
#endif

int
tpc_crash_config_from_env (tpc_crash_config_t *cfg, const char *scope,
                           char *errbuf, size_t errlen)
{
    char dummy[8];
    if (!errbuf) {
        errbuf = dummy;
        errlen = sizeof dummy;
    }
    *errbuf = '\0';
    memset (cfg, 0, sizeof *cfg);
#ifdef TPC_CRASH_POINTS
    return s_config_from_env (cfg, scope, errbuf, errlen);
#else
    (void) scope;
    (void) errlen;
    const char *point = getenv ("TPC_CRASH_POINT");
    if (point && *point)
        fprintf (stderr, "%s: TPC_CRASH_POINT=%s: crash points are not "
                 "compiled in; ignored\n", program_invocation_short_name,
                 point);
    return 0;
#endif
}

tpc_crash_t *
tpc_crash_new (const tpc_crash_config_t *cfg)
{
    if (cfg && cfg->point && *cfg->point
        && tpc_crash_point_valid (cfg->point, NULL))
        return NULL;
    tpc_crash_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    if (cfg && cfg->point && *cfg->point) {
        snprintf (self->point, sizeof self->point, "%s", cfg->point);
        self->at = cfg->at ? cfg->at : 1;
        self->action = cfg->action;
    }
    return self;
}

void
tpc_crash_destroy (tpc_crash_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free (*self_p);
    *self_p = NULL;
}

bool
tpc_crash_armed (const tpc_crash_t *self)
{
    return self && self->point[0] && !self->fired;
}

bool
tpc_crash_next_fires (const tpc_crash_t *self, const char *name)
{
    return tpc_crash_armed (self) && name && !strcmp (self->point, name)
           && self->passes + 1 == self->at;
}

uint64_t
tpc_crash_passes (const tpc_crash_t *self)
{
    return self ? self->passes : 0;
}

void
tpc_crash_hit (tpc_crash_t *self, const char *name)
{
    if (!self || !self->point[0] || strcmp (self->point, name) != 0
        || self->action == TPC_CRASH_FAILSYNC)
        return;
    if (++self->passes != self->at || self->fired)
        return;
    self->fired = true;
    char line[160];
    int n = snprintf (line, sizeof line, "tpc-crash: %s pass %llu%s\n",
                      self->point, (unsigned long long) self->passes,
                      self->action == TPC_CRASH_STOP ? " action=stop" : "");
    if (n > 0) {
        ssize_t w = write (STDERR_FILENO, line,
                           (size_t) n < sizeof line ? (size_t) n
                                                    : sizeof line - 1);
        (void) w;
    }
    if (self->action == TPC_CRASH_STOP) {
        raise (SIGSTOP);
        return;                 /* SIGCONT: carry on */
    }
    _exit (TPC_CRASH_EXIT_STATUS);
}

uint64_t
tpc_crash_failsync_at (const tpc_crash_t *self, const char *name)
{
    return self && name && self->point[0] && self->action == TPC_CRASH_FAILSYNC
           && !strcmp (self->point, name) ? self->at : 0;
}
