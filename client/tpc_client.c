/*  tpc_client: libtpc, blocking request/reply over a DEALER socket.
 *
 *  Each call builds one request (tpc_msg), stamps it with the next request
 *  id (rid, 1, 2, 3 ... per client), sends it as one frame and waits until
 *  the matching reply arrives or the deadline passes:
 *
 *      send ---------> wait for a frame ---- deadline passed --> timeout
 *        |                  |
 *        | no connected     +-- not one frame / not a message --> EPROTO
 *        | peer in time     +-- rid of an earlier request -------> drop it,
 *        v                  |                                      wait on
 *      ECONNECT             +-- "error" (our rid, or rid 0) -----> its code
 *      (nothing sent)       +-- the expected type, our rid ------> done
 *
 *  ZMQ_IMMEDIATE makes a send wait for a connected coordinator rather than
 *  queue the request, so "unreachable" (nothing sent, nothing happened) is
 *  told apart from "no reply" (the request may have been acted on).  Until
 *  a first request has gone out (ever_up) that wait lasts at most
 *  connect_timeout_ms (2 s by default): a coordinator that is not running,
 *  a wrong port, no route (the monitor counts the refused attempts) is
 *  TPC_ECONNECT in seconds, with the endpoint and what to check.  Once a
 *  client has been connected, a send waits up to the call's timeout, so a
 *  coordinator that restarts is waited for.  With
 *  CURVE a connection counts only after its handshake; a socket monitor
 *  tells the send loop when handshakes fail, and the call returns
 *  TPC_EAUTH at once, nothing sent, when the coordinator refused the key
 *  (ZAP), the handshake broke the protocol, or the coordinator closed
 *  the link mid-handshake twice in a row (a wrong coordinator key).  One
 *  link reset mid-handshake is a coordinator going away, not a refusal:
 *  the send waits on, and a deadline after it is TPC_ECONNLOST ("connection
 *  lost"), not TPC_ECONNECT.  The monitor also tells the reply loop when
 *  the link breaks after the request left: no reply can come on a later
 *  link, so the call returns TPC_ECONNLOST at once.  For
 *  commit, rollback and submit a missing or unreadable reply (timeout,
 *  lost connection) is reported as TPC_EIN_DOUBT, never as an outcome.  An "error" with rid 0 answers a
 *  request whose rid the coordinator could not read; as a client has one
 *  request in flight at a time, it is taken as the answer to that one.
 *
 *  ENDPOINT LISTS (a coordinator HA group, docs/PROTOCOL.md "Finding the
 *  leader")
 *  The endpoint may be "tcp://a:1,tcp://b:2,...": the members of one HA
 *  group.  The client talks to one member at a time (one DEALER, re-made
 *  when it moves) and moves on:
 *
 *    error TPC_ENOT_LEADER  the member did not act on the request: move to
 *                           the "leader" it names (added to the list if it
 *                           is not in it), or to the next member when it
 *                           names none (an election under way: after each
 *                           round of the list, a pause of
 *                           S_STATUS_POLL_MS); resend (a fresh rid)
 *    not connected within   nothing was sent: move to the next member,
 *    S_MEMBER_CONNECT_MS    send there (every member down: round the
 *    (or connect_timeout_   list until the deadline, then ECONNECT
 *    ms if shorter)         naming the group); a key refused by a member
 *                           is TPC_EAUTH at once, not skipped (every
 *                           member has the same key)
 *    link broke after the   status, list, summary, begin: resend to the
 *    request left           next member (begin may leave an empty
 *                           transaction at the old member: it times out,
 *                           and a new leader presumes it aborted);
 *                           commit, rollback: the outcome is unknown, so
 *                           never resend: ask "status gid" of the group
 *                           (following not_leader) until it says
 *                           committed or aborted or the call's deadline
 *                           passes (then TPC_EIN_DOUBT); exec, submit,
 *                           resolve: returned as before (exec: roll the
 *                           transaction back; submit: no gid to ask about)
 *
 *  all within the call's one deadline (timeout_ms), and at most
 *  S_MAX_HOPS moves per call to a named leader or for a broken link.
 *  Every link has its own monitor, so refused connections and keys are
 *  told per member as above.  With one endpoint nothing of this applies.
 */
/*  libtpc.so: this file's tpc_client_new is tpc_client_new@@LIBTPC_1.2
 *  (see tpc_client_new_1_0 below for the older one).                    */
#ifdef TPC_LIBTPC_SYMVER
#define tpc_client_new tpc_client_new_1_2
#endif
#include "tpc_client.h"

#include <errno.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "tpc_clock.h"
#include "tpc_curve.h"
#include "tpc_error.h"
#include "tpc_gid.h"
#include "tpc_monitor.h"
#include "tpc_msg.h"
#include "tpc_trace.h"

/*  The installed header mirrors these numbers; they must never drift.    */
_Static_assert (TPC_CLIENT_ENOMEM == TPC_ENOMEM, "code drift");
_Static_assert (TPC_CLIENT_EINVAL == TPC_EINVAL, "code drift");
_Static_assert (TPC_CLIENT_ETIMEDOUT == TPC_ETIMEDOUT, "code drift");
_Static_assert (TPC_CLIENT_EBUSY == TPC_EBUSY, "code drift");
_Static_assert (TPC_CLIENT_ESTATE == TPC_ESTATE, "code drift");
_Static_assert (TPC_CLIENT_ECONNECT == TPC_ECONNECT, "code drift");
_Static_assert (TPC_CLIENT_EDB == TPC_EDB, "code drift");
_Static_assert (TPC_CLIENT_EPROTO == TPC_EPROTO, "code drift");
_Static_assert (TPC_CLIENT_EAUTH == TPC_EAUTH, "code drift");
_Static_assert (TPC_CLIENT_EPERM == TPC_EPERM, "code drift");
_Static_assert (TPC_CLIENT_ELIMIT == TPC_ELIMIT, "code drift");
_Static_assert (TPC_CLIENT_ECONNLOST == TPC_ECONNLOST, "code drift");
_Static_assert (TPC_CLIENT_ENOT_LEADER == TPC_ENOT_LEADER, "code drift");
_Static_assert (TPC_CLIENT_EMSG_TOO_BIG == TPC_EMSG_TOO_BIG, "code drift");
_Static_assert (TPC_CLIENT_EUNKNOWN_GID == TPC_EUNKNOWN_GID, "code drift");
_Static_assert (TPC_CLIENT_EUNKNOWN_PART == TPC_EUNKNOWN_PART, "code drift");
_Static_assert (TPC_CLIENT_EABORTED == TPC_EABORTED, "code drift");
_Static_assert (TPC_CLIENT_EIN_DOUBT == TPC_EIN_DOUBT, "code drift");
_Static_assert (TPC_CLIENT_GID_MAX == TPC_GID_MAX, "gid size drift");
_Static_assert ((int) TPC_CLIENT_COMMITTED == (int) TPC_OUTCOME_COMMITTED
                && (int) TPC_CLIENT_ABORTED == (int) TPC_OUTCOME_ABORTED
                && (int) TPC_CLIENT_IN_PROGRESS
                   == (int) TPC_OUTCOME_IN_PROGRESS, "outcome drift");

#define S_ERRMSG_MAX 512
#define S_MAX_MEMBERS 16        /* endpoints of a list, leaders added */
#define S_MEMBER_CONNECT_MS 1000 /* a list's member not connected within
                                    this is skipped (nothing sent) */
#define S_MAX_HOPS 8            /* moves between members in one call */
#define S_STATUS_POLL_MS 100    /* commit's doubt: status asked again;
                                   no member knows a leader: asked again */

struct tpc_client {
    void *ctx;                  /* ZeroMQ context: own, or the caller's */
    bool own_ctx;               /* terminate ctx at destroy */
    void *sock;                 /* DEALER, connected to endpoint */
    const char *endpoint;       /* the member talked to: eps[cur] */
    char *eps[S_MAX_MEMBERS];   /* the endpoint list, leaders named added */
    size_t neps;
    size_t cur;
    unsigned links;             /* DEALERs made: names their monitors */
    char *curve_secret_file;    /* kept to make the next DEALER */
    char *curve_server_file;
    int timeout_ms;
    int connect_timeout_ms;     /* first connection: at most this long */
    bool ever_up;               /* a request has gone out on a link */
    unsigned retries;           /* connection attempts failed, this call */
    size_t max_msg_size;
    uint64_t last_rid;          /* rid of the latest request sent */
    char errmsg[S_ERRMSG_MAX];
    char status_reason[S_ERRMSG_MAX];   /* of the last tpc_status */
    tpc_monitor_t *monitor;     /* the DEALER's handshake events */
    bool curve;
    bool hs_connecting;         /* TCP up, handshake not done */
    bool hs_failed;             /* a handshake was refused since the flag
                                   was cleared (s_call clears it) */
    char hs_why[200];
    unsigned hs_closes;         /* handshakes closed by the peer in a row */
    bool lost;                  /* a link broke since the flag was cleared
                                   (s_call clears it before sending) */
    char lost_why[200];
    tpc_trace_t *trace;         /* TPC_TRACE_FILE: the latency trace of
                                   tpc_submit, or NULL (off) */
};

struct tpc_result {
    tpc_msg_t *msg;             /* the "result" reply, owned */
};

struct tpc_txlist {
    tpc_msg_t *msg;             /* the "txlist" reply, owned */
};

static int
s_fail (tpc_client_t *self, int code, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

static int
s_fail (tpc_client_t *self, int code, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (self->errmsg, sizeof self->errmsg, fmt, ap);
    va_end (ap);
    return code;
}

static void
s_copy (char *dst, size_t size, const char *src)
{
    if (dst && size > 0)
        snprintf (dst, size, "%s", src ? src : "");
}

/*  Close the DEALER (and its monitor) of the current member.             */
static void
s_link_close (tpc_client_t *self)
{
    tpc_monitor_destroy (&self->monitor);
    if (self->sock)
        zmq_close (self->sock);
    self->sock = NULL;
    self->hs_connecting = self->hs_failed = self->lost = false;
    self->hs_closes = 0;
}

/*  Make a DEALER connected to eps[CUR].  0 or an errno value.             */
static int
s_link_open (tpc_client_t *self, size_t cur)
{
    int err = ENOMEM;
    self->cur = cur;
    self->endpoint = self->eps[cur];
    self->sock = zmq_socket (self->ctx, ZMQ_DEALER);
    if (!self->sock)
        goto fail;
    int linger = 0, immediate = 1;
    if (zmq_setsockopt (self->sock, ZMQ_LINGER, &linger, sizeof linger)
        || zmq_setsockopt (self->sock, ZMQ_IMMEDIATE, &immediate,
                           sizeof immediate))
        goto fail;
    if (self->curve_secret_file || self->curve_server_file) {
        char why[512];
        int rc = tpc_curve_client_files (self->sock, self->curve_secret_file,
                                         self->curve_server_file, why,
                                         sizeof why);
        if (rc) {
            err = rc == TPC_ENOENT ? ENOENT : rc == TPC_EPERM ? EACCES
                : rc == TPC_ENOMEM ? ENOMEM : EINVAL;
            goto fail;
        }
        self->curve = true;
    }
    char monep[80];
    snprintf (monep, sizeof monep, "inproc://tpc-client-monitor-%p-%u",
              (void *) self, self->links++);
    self->monitor = tpc_monitor_new (self->ctx, self->sock,
                                     ZMQ_EVENT_CONNECTED
                                     | ZMQ_EVENT_CONNECT_RETRIED
                                     | ZMQ_EVENT_DISCONNECTED
                                     | ZMQ_EVENT_HANDSHAKE_SUCCEEDED
                                     | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL
                                     | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
                                     | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH,
                                     monep);
    if (!self->monitor)
        goto fail;
    if (zmq_connect (self->sock, self->endpoint)) {
        err = errno == ENOMEM ? ENOMEM : EINVAL;
        goto fail;
    }
    return 0;
fail:
    s_link_close (self);
    return err;
}

/*  Split the comma-separated LIST into self->eps.  0 or EINVAL / ENOMEM.  */
static int
s_parse_endpoints (tpc_client_t *self, const char *list)
{
    const char *p = list;
    for (;;) {
        const char *comma = strchr (p, ',');
        size_t len = comma ? (size_t) (comma - p) : strlen (p);
        while (len && (*p == ' ' || *p == '\t'))
            p++, len--;
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (len == 0 || self->neps == S_MAX_MEMBERS)
            return EINVAL;
        self->eps[self->neps] = strndup (p, len);
        if (!self->eps[self->neps])
            return ENOMEM;
        self->neps++;
        if (!comma)
            return 0;
        p = comma + 1;
    }
}

tpc_client_t *
tpc_client_new (const char *endpoint, const tpc_client_opts_t *opts)
{
    if (!endpoint)
        endpoint = TPC_CLIENT_ENDPOINT_DEFAULT;
    if (opts && (opts->timeout_ms < 0 || opts->connect_timeout_ms < 0)) {
        errno = EINVAL;
        return NULL;
    }
    tpc_client_t *self = calloc (1, sizeof *self);
    if (!self) {
        errno = ENOMEM;
        return NULL;
    }
    int err = ENOMEM;
    self->timeout_ms = opts && opts->timeout_ms ? opts->timeout_ms
                                                : TPC_CLIENT_TIMEOUT_DEFAULT;
    self->connect_timeout_ms = opts && opts->connect_timeout_ms
                               ? opts->connect_timeout_ms
                               : TPC_CLIENT_CONNECT_TIMEOUT_DEFAULT;
    if (self->connect_timeout_ms > self->timeout_ms)
        self->connect_timeout_ms = self->timeout_ms;
    self->trace = tpc_trace_from_env ();
    self->max_msg_size = opts && opts->max_msg_size ? opts->max_msg_size
                                                    : TPC_MSG_MAX_SIZE_DEFAULT;
    err = s_parse_endpoints (self, endpoint);
    if (err)
        goto fail;
    err = ENOMEM;
    if (opts && opts->curve_secret_file
        && !(self->curve_secret_file = strdup (opts->curve_secret_file)))
        goto fail;
    if (opts && opts->curve_server_file
        && !(self->curve_server_file = strdup (opts->curve_server_file)))
        goto fail;
    self->own_ctx = !(opts && opts->zmq_context);
    self->ctx = self->own_ctx ? zmq_ctx_new () : opts->zmq_context;
    if (!self->ctx)
        goto fail;
    /* every member is checked now (a bad endpoint or key file fails
     * here, not at the first move); the first one stays connected */
    for (size_t i = self->neps; i-- > 0;) {
        err = s_link_open (self, i);
        if (err)
            goto fail;
        if (i)
            s_link_close (self);
    }
    return self;
fail:
    tpc_client_destroy (&self);
    errno = err;
    return NULL;
}

#ifdef TPC_LIBTPC_SYMVER
/*  tpc_client_new@LIBTPC_1: the entry point of programs built against
 *  libtpc 1.0 / 1.1, whose tpc_client_opts_t ends after zmq_context.
 *  What they gave is copied into a zeroed struct of today (default
 *  connect timeout), so nothing past their struct is read.  Only in
 *  libtpc.so (configure defines TPC_LIBTPC_SYMVER when the linker takes
 *  client/libtpc.map); the default tpc_client_new is @@LIBTPC_1.2.       */
typedef struct {
    int timeout_ms;
    size_t max_msg_size;
    const char *curve_secret_file;
    const char *curve_server_file;
    void *zmq_context;
} s_opts_1_0_t;

tpc_client_t *tpc_client_new_1_0 (const char *endpoint,
                                  const s_opts_1_0_t *opts);
__asm__ (".symver tpc_client_new_1_0, tpc_client_new@LIBTPC_1");
__asm__ (".symver tpc_client_new_1_2, tpc_client_new@@LIBTPC_1.2");

tpc_client_t *
tpc_client_new_1_0 (const char *endpoint, const s_opts_1_0_t *opts)
{
    if (!opts)
        return tpc_client_new (endpoint, NULL);
    tpc_client_opts_t now = {
        .timeout_ms = opts->timeout_ms,
        .max_msg_size = opts->max_msg_size,
        .curve_secret_file = opts->curve_secret_file,
        .curve_server_file = opts->curve_server_file,
        .zmq_context = opts->zmq_context,
    };
    return tpc_client_new (endpoint, &now);
}
#endif

void
tpc_client_destroy (tpc_client_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    tpc_client_t *self = *self_p;
    s_link_close (self);
    if (self->ctx && self->own_ctx)
        zmq_ctx_term (self->ctx);
    for (size_t i = 0; i < self->neps; i++)
        free (self->eps[i]);
    free (self->curve_secret_file);
    free (self->curve_server_file);
    tpc_trace_destroy (&self->trace);
    free (self);
    *self_p = NULL;
}

const char *
tpc_client_errmsg (const tpc_client_t *self)
{
    return self ? self->errmsg : "";
}

const char *
tpc_client_strerror (int code)
{
    return tpc_strerror (code);
}

const char *
tpc_client_outcome_name (tpc_client_outcome_t outcome)
{
    switch (outcome) {
    case TPC_CLIENT_COMMITTED: return "committed";
    case TPC_CLIENT_ABORTED: return "aborted";
    case TPC_CLIENT_IN_PROGRESS: return "in_progress";
    default: return "unknown";
    }
}

/*  Read the socket monitor's pending events and note handshake
 *  failures.                       */
static void
s_monitor_drain (tpc_client_t *self)
{
    tpc_monitor_event_t ev;
    while (tpc_monitor_read (self->monitor, &ev)) {
        uint16_t event = ev.event;
        uint32_t value = ev.value;
        switch (event) {
        case ZMQ_EVENT_CONNECTED:
            self->hs_connecting = true;
            break;
        case ZMQ_EVENT_CONNECT_RETRIED:     /* refused, no route... */
            self->retries++;
            break;
        case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
            self->hs_connecting = false;
            self->hs_closes = 0;
            break;
        case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
            self->hs_connecting = false;
            self->hs_failed = true;
            snprintf (self->hs_why, sizeof self->hs_why, "the coordinator "
                      "refused this client's key (ZAP status %u): is its "
                      "public key in the coordinator's allow-list?", value);
            break;
        case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
            self->hs_connecting = false;
            self->hs_failed = true;
            snprintf (self->hs_why, sizeof self->hs_why, "the %s handshake "
                      "failed (%s): %s", self->curve ? "CURVE" : "ZeroMQ",
                      value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH
                      ? "security mechanism mismatch"
                      : "protocol error", self->curve
                      ? "wrong keys, or a coordinator without CURVE?"
                      : "the coordinator wants CURVE keys "
                        "(--curve-secret, --coordinator-public)");
            break;
        case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
        case ZMQ_EVENT_DISCONNECTED:
            if (self->hs_connecting) {
                /* the link closed mid-handshake: a coordinator that just
                 * died, or one that will not talk to us; twice in a row
                 * (it accepted the TCP connection again) is the latter */
                self->hs_connecting = false;
                self->lost = true;
                snprintf (self->lost_why, sizeof self->lost_why, "the link "
                          "was %s during the handshake",
                          event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL
                          && value == ECONNRESET ? "reset" : "closed");
                if (++self->hs_closes >= 2) {
                    self->hs_failed = true;
                    snprintf (self->hs_why, sizeof self->hs_why, "the "
                              "coordinator closed the connection during "
                              "the handshake, twice: %s", self->curve
                              ? "wrong coordinator public key, or a key it "
                                "does not accept?"
                              : "it wants CURVE keys (--curve-secret, "
                                "--coordinator-public)?");
                }
            }
            else if (event == ZMQ_EVENT_DISCONNECTED && !self->lost) {
                self->lost = true;
                snprintf (self->lost_why, sizeof self->lost_why, "the "
                          "coordinator closed the link (stopped or "
                          "restarted?)");
            }
            break;
        default:
            break;
        }
    }
}

/*  Hand BUF to a connected coordinator before the deadline.  0, or
 *  TPC_ECONNECT / TPC_ECONNLOST / TPC_EAUTH with errmsg set: nothing was
 *  sent.                                                                 */
static int
s_send_request (tpc_client_t *self, const char *buf, size_t len,
                const char *what, int64_t deadline, int waited_ms)
{
    /* events before this call are not its own: from here on, the monitor
     * speaks of this request's links only */
    s_monitor_drain (self);
    self->hs_failed = self->lost = false;
    self->hs_closes = 0;
    self->retries = 0;
    /* never connected yet: a coordinator that is not there is told in
     * connect_timeout_ms, not after the whole call's timeout */
    if (!self->ever_up) {
        int64_t cdeadline = tpc_now_ms () + self->connect_timeout_ms;
        if (cdeadline < deadline) {
            deadline = cdeadline;
            waited_ms = self->connect_timeout_ms;
        }
    }
    for (;;) {
        if (zmq_send (self->sock, buf, len, ZMQ_DONTWAIT) >= 0) {
            self->ever_up = true;
            return 0;
        }
        if (errno != EAGAIN && errno != EINTR)
            return s_fail (self, TPC_ECONNECT, "cannot send to %s: %s",
                           self->endpoint, zmq_strerror (errno));
        s_monitor_drain (self);
        if (self->hs_failed)
            return s_fail (self, TPC_EAUTH, "%s refused the connection "
                           "(%s request not sent): %s", self->endpoint, what,
                           self->hs_why);
        int64_t left = deadline - tpc_now_ms ();
        if (left <= 0 && self->lost)
            return s_fail (self, TPC_ECONNLOST,
                           "connection lost to the coordinator at %s (%s) "
                           "and not back within %d ms: did it stop? (%s "
                           "request not sent)", self->endpoint,
                           self->lost_why, waited_ms, what);
        if (left <= 0) {
            char tries[64] = "";
            if (self->retries)
                snprintf (tries, sizeof tries, "; connection refused or no "
                          "route, %u attempts", self->retries + 1);
            return s_fail (self, TPC_ECONNECT,
                           "coordinator at %s not reachable within %d ms "
                           "(%s request not sent%s): is the coordinator "
                           "running? right host:port?%s", self->endpoint,
                           waited_ms, what, tries,
                           self->curve ? " right keys?" : "");
        }
        zmq_pollitem_t items[2] = {
            { self->sock, 0, ZMQ_POLLOUT, 0 },
            { tpc_monitor_socket (self->monitor), 0, ZMQ_POLLIN, 0 },
        };
        zmq_poll (items, 2, left < 100 ? (long) left : 100);
    }
}

/*  Wait until the DEALER has something to read, before DEADLINE.  1: a
 *  frame is readable; 0: nothing yet, wait again; a negative code with
 *  errmsg set: no reply to WHAT (rid RID) can come (timeout, poll
 *  failure, the link it took broke).                                     */
static int
s_await_readable (tpc_client_t *self, const char *what, uint64_t rid,
                  int64_t deadline)
{
    int64_t left = deadline - tpc_now_ms ();
    if (left <= 0)
        return s_fail (self, TPC_ETIMEDOUT,
                       "no reply to %s (rid %llu) from %s within %d ms",
                       what, (unsigned long long) rid, self->endpoint,
                       self->timeout_ms);
    zmq_pollitem_t items[2] = {
        { self->sock, 0, ZMQ_POLLIN, 0 },
        { tpc_monitor_socket (self->monitor), 0, ZMQ_POLLIN, 0 },
    };
    int n = zmq_poll (items, 2, (long) left);
    if (n < 0 && errno != EINTR)
        return s_fail (self, TPC_EIO, "poll failed: %s", zmq_strerror (errno));
    if (n > 0 && !(items[0].revents & ZMQ_POLLIN)
        && (items[1].revents & ZMQ_POLLIN)) {
        s_monitor_drain (self);
        /* the link broke: what it delivered first is still read (poll
         * again), but no reply can come on a later link */
        zmq_pollitem_t again = { self->sock, 0, ZMQ_POLLIN, 0 };
        if (self->lost && zmq_poll (&again, 1, 0) <= 0)
            return s_fail (self, TPC_ECONNLOST,
                           "connection lost to the coordinator at %s "
                           "before the reply to %s (rid %llu) came: %s; "
                           "the request may have been acted on",
                           self->endpoint, what, (unsigned long long) rid,
                           self->lost_why);
        return 0;
    }
    return n > 0 ? 1 : 0;
}

/*  Read one frame from the DEALER and decode it.  0 with *MSG the reply
 *  (NULL if no frame was there after all); TPC_EPROTO with errmsg set if
 *  the reply to WHAT is malformed (several frames, or not decodable).    */
static int
s_read_reply (tpc_client_t *self, const char *what, tpc_msg_t **msg)
{
    *msg = NULL;
    zmq_msg_t frame;
    zmq_msg_init (&frame);
    if (zmq_msg_recv (&frame, self->sock, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close (&frame);
        return 0;
    }
    int more = zmq_msg_more (&frame);
    tpc_msg_limits_t limits = { self->max_msg_size, 0 };
    char why[256] = "";
    int drc = more ? TPC_EPROTO
                   : tpc_msg_decode (zmq_msg_data (&frame),
                                     zmq_msg_size (&frame), &limits, msg,
                                     why, sizeof why);
    zmq_msg_close (&frame);
    if (more) {
        /* drain the rest of a multi-frame reply */
        while (more) {
            zmq_msg_init (&frame);
            if (zmq_msg_recv (&frame, self->sock, ZMQ_DONTWAIT) < 0)
                more = 0;
            else
                more = zmq_msg_more (&frame);
            zmq_msg_close (&frame);
        }
        return s_fail (self, TPC_EPROTO,
                       "malformed reply to %s from %s: several frames, "
                       "one expected", what, self->endpoint);
    }
    if (drc)
        return s_fail (self, TPC_EPROTO,
                       "malformed reply to %s from %s: %s (%s)", what,
                       self->endpoint, why[0] ? why : tpc_strerror (drc),
                       tpc_errname (drc));
    return 0;
}

/*  MSG is the reply to WHAT (an "error", or any other type): 0 if it is
 *  of type WANT; else a negative code with errmsg set, and for an
 *  "error" that names a gid, ERR_GID (may be NULL) receives it.          */
static int
s_check_reply (tpc_client_t *self, const tpc_msg_t *msg, const char *what,
               tpc_msg_type_t want, char *err_gid)
{
    if (msg->type == TPC_MSG_ERROR) {
        /* rid 0: the coordinator could not read SOME request of ours,
         * maybe an older one: it says nothing certain about this one,
         * so a decision-bearing call must report doubt, not failure. */
        int rc = msg->rid == 0 ? TPC_EPROTO
                 : msg->code < 0 ? msg->code : TPC_EPROTO;
        s_fail (self, rc, "%s", msg->message ? msg->message : "");
        if (err_gid)
            s_copy (err_gid, TPC_GID_MAX, msg->gid);
        return rc;
    }
    if (msg->type != want)
        return s_fail (self, TPC_EPROTO,
                       "malformed reply to %s from %s: type \"%s\", "
                       "expected \"%s\"", what, self->endpoint,
                       tpc_msg_type_name (msg->type),
                       tpc_msg_type_name (want));
    return 0;
}

/*  Move to another member of the list: LEADER if it is given (added to
 *  the list if it is not in it and there is room), else the next one.
 *  0, or a negative code with errmsg set (no DEALER could be made).      */
static int
s_move (tpc_client_t *self, const char *leader)
{
    size_t to = (self->cur + 1) % self->neps;
    if (leader && *leader) {
        size_t i = 0;
        while (i < self->neps && strcmp (self->eps[i], leader))
            i++;
        if (i == self->neps && self->neps < S_MAX_MEMBERS
            && strlen (leader) < 256 && !strchr (leader, ',')) {
            self->eps[i] = strdup (leader);
            if (self->eps[i])
                self->neps++;
        }
        if (i < self->neps)
            to = i;
    }
    s_link_close (self);
    if (s_link_open (self, to) == 0)
        return 0;
    /* a leader named with an endpoint we cannot use: the next member */
    to = (to + 1) % self->neps;
    if (s_link_open (self, to) == 0)
        return 0;
    return s_fail (self, TPC_ECONNECT, "cannot make a link to %s",
                   self->eps[to]);
}

/*  Wait for the reply to WHAT (rid RID) before DEADLINE, dropping stale
 *  ones.  0 with *MSG the reply (ours: our rid, or an error with rid 0),
 *  or a negative code with errmsg set.                                   */
static int
s_await_reply (tpc_client_t *self, const char *what, uint64_t rid,
               int64_t deadline, tpc_msg_t **msg)
{
    *msg = NULL;
    for (;;) {
        int rc = s_await_readable (self, what, rid, deadline);
        if (rc < 0)
            return rc;
        rc = rc ? s_read_reply (self, what, msg) : 0;
        if (rc)
            return rc;
        if (*msg && ((*msg)->rid == rid
                     || ((*msg)->type == TPC_MSG_ERROR && (*msg)->rid == 0)))
            return 0;
        /* none yet, or stale: answer to a timed-out request */
        tpc_msg_destroy (msg);
    }
}

/*  Send REQ (its rid is set here) and wait for the reply of type WANT.
 *  0: *REPLY is that reply.  Otherwise a negative code, errmsg set, and
 *  *REPLY NULL; for an "error" reply that names a gid, ERR_GID (may be
 *  NULL, TPC_GID_MAX bytes) receives it.  With an endpoint list, follows
 *  not_leader and skips members not reachable (nothing sent); when
 *  RESEND_LOST, also resends to the next member after a link broke with
 *  the request on it (the header comment says which requests).  Each
 *  round of the loop sends once, to one member.                          */
static int
s_call_ex (tpc_client_t *self, tpc_msg_t *req, tpc_msg_type_t want,
           tpc_msg_t **reply, char *err_gid, bool resend_lost)
{
    *reply = NULL;
    char *buf = NULL;
    size_t len = 0;
    int rc = 0;
    const char *what = tpc_msg_type_name (req->type);
    int64_t deadline = tpc_now_ms () + self->timeout_ms;
    unsigned hops = 0, leaderless = 0;
    bool group = self->neps > 1;
    /* a member not connected within this is skipped (nothing sent) */
    int member_ms = self->connect_timeout_ms < S_MEMBER_CONNECT_MS
                    ? self->connect_timeout_ms : S_MEMBER_CONNECT_MS;
    char leader[256], list[256] = "";
    for (size_t i = 0; group && i < self->neps; i++) {
        size_t at = strlen (list);
        snprintf (list + at, sizeof list - at, "%s%s", i ? "," : "",
                  self->eps[i]);
    }
    tpc_msg_t *msg = NULL;

    for (;;) {
        free (buf);
        buf = NULL;
        req->rid = ++self->last_rid;
        rc = tpc_msg_encode (req, &buf, &len);
        if (rc) {
            rc = s_fail (self, rc, "cannot encode %s request: %s", what,
                         tpc_strerror (rc));
            goto cleanup;
        }
        if (len > self->max_msg_size) {
            rc = s_fail (self, TPC_EMSG_TOO_BIG,
                         "%s request is %zu bytes, over the limit of %zu",
                         what, len, self->max_msg_size);
            goto cleanup;
        }
        int64_t send_at = tpc_now_ms (), send_by = deadline;
        int waited_ms = self->timeout_ms;
        if (group) {
            if (send_at + member_ms < deadline)
                send_by = send_at + member_ms;
            waited_ms = (int) (send_by - send_at);
        }
        rc = s_send_request (self, buf, len, what, send_by, waited_ms);
        bool unsent = rc == TPC_ECONNECT || rc == TPC_ECONNLOST;
        /* nothing sent: the next member.  One that made us wait its
         * turn is no loop: a group wholly down (restarting) is tried
         * until the deadline.  A refused key (TPC_EAUTH) is not skipped:
         * every member has the same coordinator key */
        if (unsent && group && tpc_now_ms () < deadline
            && (tpc_now_ms () - send_at >= member_ms / 2
                || hops++ < S_MAX_HOPS)
            && s_move (self, NULL) == 0)
            continue;
        if (unsent && group) {
            char last[S_ERRMSG_MAX];
            snprintf (last, sizeof last, "%s", self->errmsg);
            s_fail (self, rc, "no member of the group %.200s took the %s "
                    "request within %d ms; the last: %.400s", list, what,
                    self->timeout_ms, last);
        }
        if (rc)
            goto cleanup;
        self->lost = false;     /* from now on: the link the request took */
        rc = s_await_reply (self, what, req->rid, deadline, &msg);
        if (rc == TPC_ECONNLOST && group && resend_lost
            && hops++ < S_MAX_HOPS && tpc_now_ms () < deadline
            && s_move (self, NULL) == 0)
            continue;
        if (rc)
            goto cleanup;
        if (msg->type == TPC_MSG_ERROR && msg->rid != 0
            && msg->code == TPC_ENOT_LEADER && group
            && tpc_now_ms () < deadline
            && (!msg->leader || !*msg->leader || hops++ < S_MAX_HOPS)) {
            /* a follower: it did not act on the request.  No leader
             * named (an election under way): the next member, and a
             * pause after each round of the list, until the deadline */
            s_copy (leader, sizeof leader, msg->leader);
            tpc_msg_destroy (&msg);
            if (!*leader && ++leaderless % self->neps == 0)
                zmq_poll (NULL, 0, S_STATUS_POLL_MS);
            if (tpc_now_ms () >= deadline) {
                rc = s_fail (self, TPC_ENOT_LEADER, "no member of %zu "
                             "knows a leader within %d ms (an election "
                             "under way?); %s request not acted on",
                             self->neps, self->timeout_ms, what);
                goto cleanup;
            }
            if (s_move (self, leader) == 0)
                continue;
            rc = TPC_ECONNECT;
            goto cleanup;
        }
        rc = s_check_reply (self, msg, what, want, err_gid);
        if (!rc) {
            *reply = msg;
            msg = NULL;
        }
        goto cleanup;
    }
cleanup:
    tpc_msg_destroy (&msg);
    free (buf);
    return rc;
}

static int
s_call (tpc_client_t *self, tpc_msg_t *req, tpc_msg_type_t want,
        tpc_msg_t **reply, char *err_gid)
{
    return s_call_ex (self, req, want, reply, err_gid, false);
}

/*  A reply must be about the transaction it was asked about.             */
static int
s_check_gid (tpc_client_t *self, const tpc_msg_t *reply, const char *gid)
{
    if (!reply->gid || strcmp (reply->gid, gid))
        return s_fail (self, TPC_EPROTO,
                       "malformed reply from %s: gid \"%s\", expected "
                       "\"%s\"", self->endpoint,
                       reply->gid ? reply->gid : "", gid);
    return 0;
}

static int
s_check_args (tpc_client_t *self, const char *gid)
{
    if (!self)
        return TPC_EINVAL;
    self->errmsg[0] = '\0';
    if (gid && tpc_gid_parse (gid, NULL))
        return s_fail (self, TPC_EINVAL, "invalid gid \"%.100s\"", gid);
    return 0;
}

static int
s_txn_opts (tpc_client_t *self, tpc_msg_t *req, const tpc_txn_opts_t *opts)
{
    if (!opts)
        return 0;
    if (opts->timeout_ms > TPC_MSG_TIMEOUT_MAX_MS)
        return s_fail (self, TPC_EINVAL, "transaction timeout_ms %llu is "
                       "over the maximum of %llu (24 h)",
                       (unsigned long long) opts->timeout_ms,
                       (unsigned long long) TPC_MSG_TIMEOUT_MAX_MS);
    req->timeout_ms = opts->timeout_ms;
    if (opts->protocol) {
        if (!strcmp (opts->protocol, "2pc"))
            req->protocol = TPC_PROTO_2PC;
        else if (!strcmp (opts->protocol, "3pc"))
            req->protocol = TPC_PROTO_3PC;
        else
            return s_fail (self, TPC_EINVAL,
                           "unknown protocol \"%.40s\" (2pc or 3pc)",
                           opts->protocol);
        req->has_protocol = true;
    }
    return 0;
}

int
tpc_begin (tpc_client_t *self, const tpc_txn_opts_t *opts,
           char gid_out[TPC_CLIENT_GID_MAX])
{
    int rc = s_check_args (self, NULL);
    if (rc)
        return rc;
    if (gid_out)
        gid_out[0] = '\0';
    tpc_msg_t *req = tpc_msg_new (TPC_MSG_BEGIN), *reply = NULL;
    if (!req)
        return s_fail (self, TPC_ENOMEM, "out of memory");
    rc = s_txn_opts (self, req, opts);
    if (rc)
        goto cleanup;
    rc = s_call_ex (self, req, TPC_MSG_BEGUN, &reply, NULL, true);
    if (rc)
        goto cleanup;
    if (!reply->gid || tpc_gid_parse (reply->gid, NULL)) {
        rc = s_fail (self, TPC_EPROTO, "malformed begun reply: no gid");
        goto cleanup;
    }
    s_copy (gid_out, TPC_GID_MAX, reply->gid);
cleanup:
    tpc_msg_destroy (&req);
    tpc_msg_destroy (&reply);
    return rc;
}

int
tpc_exec (tpc_client_t *self, const char *gid, const char *on,
          const char *sql, size_t nparams, const char *const *params,
          tpc_result_t **result)
{
    if (result)
        *result = NULL;
    int rc = s_check_args (self, gid);
    if (rc)
        return rc;
    if (!gid || !on || !*on || !sql || (nparams && !params))
        return s_fail (self, TPC_EINVAL,
                       "tpc_exec needs a gid, a participant and SQL");
    tpc_msg_t *req = tpc_msg_new (TPC_MSG_EXEC), *reply = NULL;
    if (!req)
        return s_fail (self, TPC_ENOMEM, "out of memory");
    if (tpc_msg_set_str (&req->gid, gid) || tpc_msg_set_str (&req->on, on)
        || tpc_msg_set_str (&req->sql, sql)) {
        rc = s_fail (self, TPC_ENOMEM, "out of memory");
        goto cleanup;
    }
    if (nparams) {
        req->params = calloc (nparams, sizeof *req->params);
        if (!req->params) {
            rc = s_fail (self, TPC_ENOMEM, "out of memory");
            goto cleanup;
        }
        req->nparams = nparams;
        for (size_t i = 0; i < nparams; i++)
            if (params[i] && !(req->params[i] = strdup (params[i]))) {
                rc = s_fail (self, TPC_ENOMEM, "out of memory");
                goto cleanup;
            }
    }
    rc = s_call (self, req, TPC_MSG_RESULT, &reply, NULL);
    if (rc)
        goto cleanup;
    rc = s_check_gid (self, reply, gid);
    if (rc)
        goto cleanup;
    if (result) {
        tpc_result_t *res = malloc (sizeof *res);
        if (!res) {
            rc = s_fail (self, TPC_ENOMEM, "out of memory");
            goto cleanup;
        }
        res->msg = reply;
        reply = NULL;
        *result = res;
    }
cleanup:
    tpc_msg_destroy (&req);
    tpc_msg_destroy (&reply);
    return rc;
}

/*  Turn the reply (or failure RC) of a decision-bearing request into the
 *  caller's outcome.  WANT is the outcome the request asks for.           */
static int
s_decided (tpc_client_t *self, int rc, const tpc_msg_t *reply,
           tpc_client_outcome_t want, const char *what, const char *gid,
           tpc_client_outcome_t *outcome, char *reason, size_t reason_size)
{
    if (rc == TPC_ETIMEDOUT || rc == TPC_EPROTO || rc == TPC_ECONNLOST) {
        /* the request may have been acted on: never guess */
        char cause[S_ERRMSG_MAX];
        snprintf (cause, sizeof cause, "%s", self->errmsg);
        if (gid && *gid)
            s_fail (self, TPC_EIN_DOUBT,
                    "outcome of %s of %s unknown (%s); ask tpc_status",
                    what, gid, cause);
        else
            s_fail (self, TPC_EIN_DOUBT,
                    "outcome of %s unknown and no gid came back (%s); "
                    "list in-flight transactions to find it", what, cause);
        return TPC_EIN_DOUBT;
    }
    if (rc == TPC_EABORTED) {   /* an error reply that says aborted */
        *outcome = TPC_CLIENT_ABORTED;
        s_copy (reason, reason_size, self->errmsg);
        return want == TPC_CLIENT_ABORTED ? 0 : TPC_EABORTED;
    }
    if (rc)
        return rc;
    if (reply->outcome == TPC_OUTCOME_COMMITTED) {
        *outcome = TPC_CLIENT_COMMITTED;
        if (want == TPC_CLIENT_COMMITTED)
            return 0;
        return s_fail (self, TPC_ESTATE, "%s was already committed", gid);
    }
    if (reply->outcome == TPC_OUTCOME_ABORTED) {
        *outcome = TPC_CLIENT_ABORTED;
        s_copy (reason, reason_size, reply->reason);
        if (want == TPC_CLIENT_ABORTED)
            return 0;
        return s_fail (self, TPC_EABORTED, "%s aborted%s%s", reply->gid,
                       reply->reason ? ": " : "",
                       reply->reason ? reply->reason : "");
    }
    return s_fail (self, TPC_EIN_DOUBT,
                   "coordinator reports %s of %s still in progress; ask "
                   "tpc_status", what, reply->gid);
}

/*  The link broke with commit or rollback of GID on it, and SELF talks to
 *  an HA group: the request may have been acted on, so it is not resent;
 *  ask "status GID" of the group (following not_leader) until it tells
 *  committed or aborted or DEADLINE passes.  0 with *REPLY a txstatus
 *  with a final outcome, else a negative code (errmsg set).              */
static int
s_ask_after_loss (tpc_client_t *self, const char *gid, int64_t deadline,
                  tpc_msg_t **reply)
{
    *reply = NULL;
    int rc = TPC_ECONNLOST;
    int timeout_ms = self->timeout_ms;
    tpc_msg_t *req = tpc_msg_new (TPC_MSG_STATUS);
    if (!req || tpc_msg_set_str (&req->gid, gid)) {
        rc = s_fail (self, TPC_ENOMEM, "out of memory");
        goto cleanup;
    }
    rc = s_move (self, NULL);   /* the member we lost may be gone */
    while (!rc) {
        int64_t left = deadline - tpc_now_ms ();
        if (left <= 0) {
            rc = TPC_ETIMEDOUT;
            break;
        }
        self->timeout_ms = (int) left;
        rc = s_call_ex (self, req, TPC_MSG_TXSTATUS, reply, NULL, true);
        if (rc == 0 && s_check_gid (self, *reply, gid) == 0
            && ((*reply)->outcome == TPC_OUTCOME_COMMITTED
                || (*reply)->outcome == TPC_OUTCOME_ABORTED))
            break;
        if (rc == 0) {          /* still being decided (or a takeover
                                   not complete): ask again */
            tpc_msg_destroy (reply);
            zmq_poll (NULL, 0, S_STATUS_POLL_MS);
        }
        else if (rc == TPC_ECONNLOST || rc == TPC_ECONNECT)
            rc = s_move (self, NULL);
    }
cleanup:
    self->timeout_ms = timeout_ms;
    tpc_msg_destroy (&req);
    if (rc)
        tpc_msg_destroy (reply);
    return rc;
}

static int
s_finish (tpc_client_t *self, tpc_msg_type_t type, const char *gid,
          tpc_client_outcome_t want, tpc_client_outcome_t *outcome,
          char *reason, size_t reason_size)
{
    tpc_client_outcome_t dummy;
    if (!outcome)
        outcome = &dummy;
    *outcome = TPC_CLIENT_OUTCOME_UNKNOWN;
    s_copy (reason, reason_size, "");
    int rc = s_check_args (self, gid);
    if (rc)
        return rc;
    if (!gid)
        return s_fail (self, TPC_EINVAL, "no gid given");
    tpc_msg_t *req = tpc_msg_new (type), *reply = NULL;
    if (!req || tpc_msg_set_str (&req->gid, gid)) {
        rc = s_fail (self, TPC_ENOMEM, "out of memory");
        goto cleanup;
    }
    int64_t deadline = tpc_now_ms () + self->timeout_ms;
    rc = s_call (self, req, TPC_MSG_OUTCOME, &reply, NULL);
    if (rc == TPC_ECONNLOST && self->neps > 1) {
        char lost[S_ERRMSG_MAX];
        snprintf (lost, sizeof lost, "%s", self->errmsg);
        if (s_ask_after_loss (self, gid, deadline, &reply) == 0) {
            rc = 0;             /* a txstatus with the final outcome */
            self->errmsg[0] = '\0';
        }
        else
            s_fail (self, TPC_ECONNLOST, "%s; asking the group for the "
                    "status of %s did not tell: %.200s", lost, gid,
                    self->errmsg);
    }
    if (!rc)
        rc = s_check_gid (self, reply, gid);
    rc = s_decided (self, rc, reply, want, tpc_msg_type_name (type), gid,
                    outcome, reason, reason_size);
cleanup:
    tpc_msg_destroy (&req);
    tpc_msg_destroy (&reply);
    return rc;
}

int
tpc_commit (tpc_client_t *self, const char *gid,
            tpc_client_outcome_t *outcome, char *reason, size_t reason_size)
{
    return s_finish (self, TPC_MSG_COMMIT, gid, TPC_CLIENT_COMMITTED,
                     outcome, reason, reason_size);
}

int
tpc_rollback (tpc_client_t *self, const char *gid,
              tpc_client_outcome_t *outcome, char *reason,
              size_t reason_size)
{
    return s_finish (self, TPC_MSG_ROLLBACK, gid, TPC_CLIENT_ABORTED,
                     outcome, reason, reason_size);
}

int
tpc_submit (tpc_client_t *self, const tpc_client_stmt_t *stmts,
            size_t nstmts, const tpc_txn_opts_t *opts,
            char gid_out[TPC_CLIENT_GID_MAX], tpc_client_outcome_t *outcome,
            char *reason, size_t reason_size)
{
    tpc_client_outcome_t dummy;
    if (!outcome)
        outcome = &dummy;
    *outcome = TPC_CLIENT_OUTCOME_UNKNOWN;
    s_copy (reason, reason_size, "");
    s_copy (gid_out, TPC_GID_MAX, "");
    int rc = s_check_args (self, NULL);
    if (rc)
        return rc;
    if (!stmts || nstmts == 0)
        return s_fail (self, TPC_EINVAL, "submit needs at least one statement");
    for (size_t i = 0; i < nstmts; i++)
        if (!stmts[i].on || !*stmts[i].on || !stmts[i].sql
            || (stmts[i].nparams && !stmts[i].params))
            return s_fail (self, TPC_EINVAL,
                           "statement %zu needs a participant and SQL", i + 1);
    tpc_msg_t *req = tpc_msg_new (TPC_MSG_SUBMIT), *reply = NULL;
    char gid[TPC_GID_MAX] = "";
    if (!req) {
        rc = s_fail (self, TPC_ENOMEM, "out of memory");
        goto cleanup;
    }
    rc = s_txn_opts (self, req, opts);
    if (rc)
        goto cleanup;
    for (size_t i = 0; i < nstmts; i++)
        if (tpc_msg_add_stmt (req, stmts[i].on, stmts[i].sql,
                              stmts[i].nparams, stmts[i].params)) {
            rc = s_fail (self, TPC_ENOMEM, "out of memory");
            goto cleanup;
        }
    int64_t sent_ns = tpc_trace_now (self->trace);  /* the gid comes back */
    rc = s_call (self, req, TPC_MSG_OUTCOME, &reply, gid);
    if (!rc) {
        if (!reply->gid || tpc_gid_parse (reply->gid, NULL))
            rc = s_fail (self, TPC_EPROTO, "malformed outcome reply: no gid");
        else
            s_copy (gid, sizeof gid, reply->gid);
    }
    if (!rc && tpc_trace_sampled (self->trace, gid)) {
        tpc_trace_mark_at (self->trace, gid, TPC_TRACE_CLIENT_SEND, sent_ns);
        tpc_trace_mark (self->trace, gid, TPC_TRACE_CLIENT_RECV);
    }
    s_copy (gid_out, TPC_GID_MAX, gid);
    rc = s_decided (self, rc, reply, TPC_CLIENT_COMMITTED, "submit", gid,
                    outcome, reason, reason_size);
cleanup:
    tpc_msg_destroy (&req);
    tpc_msg_destroy (&reply);
    return rc;
}

int
tpc_status (tpc_client_t *self, const char *gid,
            tpc_client_outcome_t *outcome, char *state, size_t state_size)
{
    if (outcome)
        *outcome = TPC_CLIENT_OUTCOME_UNKNOWN;
    s_copy (state, state_size, "");
    if (self)
        self->status_reason[0] = 0;
    int rc = s_check_args (self, gid);
    if (rc)
        return rc;
    if (!gid)
        return s_fail (self, TPC_EINVAL, "no gid given");
    tpc_msg_t *req = tpc_msg_new (TPC_MSG_STATUS), *reply = NULL;
    if (!req || tpc_msg_set_str (&req->gid, gid)) {
        rc = s_fail (self, TPC_ENOMEM, "out of memory");
        goto cleanup;
    }
    rc = s_call_ex (self, req, TPC_MSG_TXSTATUS, &reply, NULL, true);
    if (rc)
        goto cleanup;
    rc = s_check_gid (self, reply, gid);
    if (rc)
        goto cleanup;
    if (outcome)
        *outcome = (tpc_client_outcome_t) reply->outcome;
    s_copy (state, state_size, reply->state);
    s_copy (self->status_reason, sizeof self->status_reason, reply->reason);
cleanup:
    tpc_msg_destroy (&req);
    tpc_msg_destroy (&reply);
    return rc;
}

const char *
tpc_status_reason (const tpc_client_t *self)
{
    return self ? self->status_reason : "";
}

int
tpc_list (tpc_client_t *self, tpc_txlist_t **list)
{
    if (list)
        *list = NULL;
    int rc = s_check_args (self, NULL);
    if (rc)
        return rc;
    if (!list)
        return s_fail (self, TPC_EINVAL, "no list pointer given");
    tpc_msg_t *req = tpc_msg_new (TPC_MSG_LIST), *reply = NULL;
    if (!req) {
        rc = s_fail (self, TPC_ENOMEM, "out of memory");
        goto cleanup;
    }
    rc = s_call_ex (self, req, TPC_MSG_TXLIST, &reply, NULL, true);
    if (rc)
        goto cleanup;
    tpc_txlist_t *out = malloc (sizeof *out);
    if (!out) {
        rc = s_fail (self, TPC_ENOMEM, "out of memory");
        goto cleanup;
    }
    out->msg = reply;
    reply = NULL;
    *list = out;
cleanup:
    tpc_msg_destroy (&req);
    tpc_msg_destroy (&reply);
    return rc;
}

size_t
tpc_result_ncolumns (const tpc_result_t *self)
{
    return self ? self->msg->ncolumns : 0;
}

const char *
tpc_result_column (const tpc_result_t *self, size_t col)
{
    if (!self || col >= self->msg->ncolumns)
        return NULL;
    return self->msg->columns[col];
}

size_t
tpc_result_nrows (const tpc_result_t *self)
{
    return self ? self->msg->nrows : 0;
}

const char *
tpc_result_value (const tpc_result_t *self, size_t row, size_t col)
{
    if (!self || row >= self->msg->nrows || col >= self->msg->ncolumns)
        return NULL;
    return self->msg->cells[row * self->msg->ncolumns + col];
}

bool
tpc_result_is_null (const tpc_result_t *self, size_t row, size_t col)
{
    return tpc_result_value (self, row, col) == NULL;
}

int64_t
tpc_result_affected (const tpc_result_t *self)
{
    return self ? self->msg->affected : -1;
}

void
tpc_result_destroy (tpc_result_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    tpc_msg_destroy (&(*self_p)->msg);
    free (*self_p);
    *self_p = NULL;
}

size_t
tpc_txlist_size (const tpc_txlist_t *self)
{
    return self ? self->msg->ntxns : 0;
}

static const tpc_txinfo_t *
s_txn (const tpc_txlist_t *self, size_t i)
{
    return self && i < self->msg->ntxns ? &self->msg->txns[i] : NULL;
}

const char *
tpc_txlist_gid (const tpc_txlist_t *self, size_t i)
{
    const tpc_txinfo_t *t = s_txn (self, i);
    return t ? t->gid : NULL;
}

const char *
tpc_txlist_state (const tpc_txlist_t *self, size_t i)
{
    const tpc_txinfo_t *t = s_txn (self, i);
    return t ? t->state : NULL;
}

uint64_t
tpc_txlist_age_ms (const tpc_txlist_t *self, size_t i)
{
    const tpc_txinfo_t *t = s_txn (self, i);
    return t ? t->age_ms : 0;
}

size_t
tpc_txlist_nparts (const tpc_txlist_t *self, size_t i)
{
    const tpc_txinfo_t *t = s_txn (self, i);
    return t ? t->nparts : 0;
}

const char *
tpc_txlist_part (const tpc_txlist_t *self, size_t i, size_t j)
{
    const tpc_txinfo_t *t = s_txn (self, i);
    return t && j < t->nparts ? t->parts[j] : NULL;
}

size_t
tpc_txlist_nwaiting (const tpc_txlist_t *self, size_t i)
{
    const tpc_txinfo_t *t = s_txn (self, i);
    return t ? t->nwaiting : 0;
}

const char *
tpc_txlist_waiting (const tpc_txlist_t *self, size_t i, size_t j)
{
    const tpc_txinfo_t *t = s_txn (self, i);
    return t && j < t->nwaiting ? t->waiting[j] : NULL;
}

void
tpc_txlist_destroy (tpc_txlist_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    tpc_msg_destroy (&(*self_p)->msg);
    free (*self_p);
    *self_p = NULL;
}

int
tpc_resolve (tpc_client_t *self, const char *gid,
             tpc_client_outcome_t outcome, const char *reason)
{
    int rc = s_check_args (self, gid);
    if (rc)
        return rc;
    if (!gid || (outcome != TPC_CLIENT_COMMITTED
                 && outcome != TPC_CLIENT_ABORTED))
        return s_fail (self, TPC_EINVAL, "resolve needs a gid and the "
                       "outcome committed or aborted");
    tpc_msg_t *req = tpc_msg_new (TPC_MSG_RESOLVE), *reply = NULL;
    if (!req || tpc_msg_set_str (&req->gid, gid)
        || (reason && *reason && tpc_msg_set_str (&req->reason, reason))) {
        rc = s_fail (self, TPC_ENOMEM, "out of memory");
        goto cleanup;
    }
    req->outcome = (tpc_outcome_t) outcome;
    rc = s_call (self, req, TPC_MSG_OUTCOME, &reply, NULL);
    if (!rc)
        rc = s_check_gid (self, reply, gid);
    if (!rc && reply->outcome != (tpc_outcome_t) outcome)
        rc = s_fail (self, TPC_EPROTO, "resolve of %s answered %s", gid,
                     tpc_outcome_name (reply->outcome));
cleanup:
    tpc_msg_destroy (&req);
    tpc_msg_destroy (&reply);
    return rc;
}

int
tpc_summary (tpc_client_t *self, tpc_summary_t *out)
{
    if (out)
        memset (out, 0, sizeof *out);
    int rc = s_check_args (self, NULL);
    if (rc)
        return rc;
    if (!out)
        return s_fail (self, TPC_EINVAL, "no summary to fill");
    tpc_msg_t *req = tpc_msg_new (TPC_MSG_SUMMARY), *reply = NULL;
    if (!req) {
        rc = s_fail (self, TPC_ENOMEM, "out of memory");
        goto cleanup;
    }
    rc = s_call_ex (self, req, TPC_MSG_TXSUMMARY, &reply, NULL, true);
    if (rc)
        goto cleanup;
    out->in_flight = reply->in_flight;
    out->in_doubt = reply->in_doubt;
    out->committed = reply->committed;
    out->aborted = reply->aborted;
    out->heuristic = reply->heuristic;
    out->oldest_in_doubt_ms = reply->oldest_ms;
    out->nagents = reply->nagents;
    out->agents = reply->agents;        /* taken from the reply */
    reply->agents = NULL;
    reply->nagents = 0;
cleanup:
    tpc_msg_destroy (&req);
    tpc_msg_destroy (&reply);
    return rc;
}

int
tpc_cluster (tpc_client_t *self, tpc_cluster_t *out)
{
    if (out)
        memset (out, 0, sizeof *out);
    int rc = s_check_args (self, NULL);
    if (rc)
        return rc;
    if (!out)
        return s_fail (self, TPC_EINVAL, "no cluster view to fill");
    tpc_msg_t *req = tpc_msg_new (TPC_MSG_CLUSTER), *reply = NULL;
    if (!req) {
        rc = s_fail (self, TPC_ENOMEM, "out of memory");
        goto cleanup;
    }
    rc = s_call_ex (self, req, TPC_MSG_CLUSTERINFO, &reply, NULL, true);
    if (rc)
        goto cleanup;
    snprintf (out->role, sizeof out->role, "%s",
              reply->role ? reply->role : "");
    snprintf (out->member, sizeof out->member, "%s",
              reply->member ? reply->member : "");
    snprintf (out->leader, sizeof out->leader, "%s",
              reply->leader ? reply->leader : "");
    out->epoch = reply->epoch;
    out->lease_ttl_ms = reply->lease_ttl_ms;
    out->lease_left_ms = reply->lease_left_ms;
    out->revision = reply->revision;
cleanup:
    tpc_msg_destroy (&req);
    tpc_msg_destroy (&reply);
    return rc;
}

void
tpc_summary_clear (tpc_summary_t *summary)
{
    if (!summary)
        return;
    for (size_t i = 0; i < summary->nagents; i++)
        free (summary->agents[i]);
    free (summary->agents);
    memset (summary, 0, sizeof *summary);
}
