/*  bench_console: the console poller of tpc_bench (see bench_console.h). */
#include "bench_console.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tpc_clock.h"

struct bench_console {
    int port;
    uint64_t period_ns;
    pthread_t thread;
    atomic_bool stop;
    uint64_t ok, failed;
};

/*  GET PATH; true on a 200 answer read to its end.                       */
static bool
s_get (int port, const char *path)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET,
                             .sin_port = htons ((uint16_t) port),
                             .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
    if (fd < 0 || connect (fd, (struct sockaddr *) &a, sizeof a)) {
        if (fd >= 0)
            close (fd);
        return false;
    }
    char req[256], buf[16384];
    int n = snprintf (req, sizeof req, "GET %s HTTP/1.0\r\nHost: x\r\n\r\n",
                      path);
    bool ok = write (fd, req, (size_t) n) == n;
    ssize_t r, total = 0;
    char head[16] = "";
    while (ok && (r = read (fd, buf, sizeof buf)) > 0) {
        if (total == 0)
            memcpy (head, buf, r < 15 ? (size_t) r : 15);
        total += r;
    }
    close (fd);
    return ok && !strncmp (head + 8, " 200", 4);
}

static void *
s_run (void *arg)
{
    bench_console_t *self = arg;
    uint64_t next = (uint64_t) tpc_now_ns ();
    while (!atomic_load (&self->stop)) {
        bool ok = s_get (self->port, "/api/v1/overview")
                  && s_get (self->port, "/api/v1/transactions?limit=50")
                  && s_get (self->port, "/api/v1/series");
        if (ok)
            self->ok++;
        else
            self->failed++;
        next += self->period_ns;
        struct timespec ts = { (time_t) (next / 1000000000ull),
                               (long) (next % 1000000000ull) };
        clock_nanosleep (CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
    }
    return NULL;
}

bench_console_t *
bench_console_new (int port, double hz)
{
    bench_console_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->port = port;
    self->period_ns = (uint64_t) (1e9 / (hz > 0 ? hz : 10));
    if (pthread_create (&self->thread, NULL, s_run, self) != 0) {
        free (self);
        return NULL;
    }
    return self;
}

void
bench_console_destroy (bench_console_t **self_p, uint64_t *ok,
                       uint64_t *failed)
{
    bench_console_t *self = *self_p;
    if (!self)
        return;
    atomic_store (&self->stop, true);
    pthread_join (self->thread, NULL);
    if (ok)
        *ok = self->ok;
    if (failed)
        *failed = self->failed;
    free (self);
    *self_p = NULL;
}
