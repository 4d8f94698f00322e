/*  tpc_stop: SIGTERM / SIGINT -> a flag and a readable eventfd (see
 *  tpc_stop.h).  The handler only stores to a sig_atomic_t and calls
 *  write(2), both async-signal-safe.
 */
#include "tpc_stop.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "tpc_error.h"

static volatile sig_atomic_t s_stop;
static int s_fd = -1;

static void
s_on_signal (int sig)
{
    int saved = errno;
    s_stop = sig;
    uint64_t one = 1;
    if (s_fd >= 0 && write (s_fd, &one, sizeof one) < 0) {
        /* the counter is already non-zero: readable anyway */
    }
    errno = saved;
}

int
tpc_stop_catch (void)
{
    if (s_fd < 0 && (s_fd = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
        return TPC_EIO;
    struct sigaction sa;
    memset (&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset (&sa.sa_mask);
    if (sigaction (SIGTERM, &sa, NULL) != 0
        || sigaction (SIGINT, &sa, NULL) != 0)
        return TPC_EIO;
    signal (SIGPIPE, SIG_IGN);
    return 0;
}

volatile sig_atomic_t *
tpc_stop_flag (void)
{
    return &s_stop;
}

int
tpc_stop_fd (void)
{
    return s_fd;
}

const char *
tpc_stop_name (int sig)
{
    return sig == SIGTERM ? "SIGTERM" : sig == SIGINT ? "SIGINT" : "signal";
}
