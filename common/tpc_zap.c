/*  tpc_zap: ZAP handler thread and role policy (see tpc_zap.h).
 *
 *  ZAP (RFC 27) over the inproc endpoint "inproc://zeromq.zap.01":
 *
 *    request  "1.0" | request id | domain | address | identity |
 *             mechanism | credentials...   (CURVE: one 32-byte key)
 *    reply    "1.0" | request id | status code | status text | user id |
 *             metadata (empty)
 *
 *  status "200" with user id "<role>:<name>", "400" refused, "500" a
 *  request that is not ZAP 1.0 (ZeroMQ then drops the connection).
 *
 *  Thread: one REP socket (the ZAP endpoint) and one PAIR socket (the
 *  stop pipe) polled together; tpc_zap_destroy() sends on the pipe and
 *  joins.  The key lists live in the thread alone after start.
 */
#include "tpc_zap.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zmq.h>

#include "tpc_clock.h"
#include "tpc_curve.h"
#include "tpc_error.h"

#define S_ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define S_MAX_FRAMES 16
#define S_QUIET_MS 10000        /* one refusal line per key per 10 s */
#define S_RECENT 32

typedef struct {
    char key[TPC_CURVE_KEY_Z85];
    char name[TPC_CURVE_NAME_MAX];
} s_entry_t;

/*  The certificates of one directory, reloaded when its mtime changes.  */
typedef struct {
    tpc_role_t role;
    const char *who;            /* the log name (the handler's) */
    char *dir;                  /* NULL: no key has this role */
    struct timespec mtime;
    bool loaded;
    s_entry_t *v;
    size_t n;
} s_list_t;

typedef struct {
    char key[TPC_CURVE_KEY_Z85];
    char domain[16];
    uint64_t at;
} s_recent_t;

enum { S_CLIENTS, S_ADMINS, S_AGENTS, S_NLISTS };

struct tpc_zap {
    char who[32];               /* log lines start "<who>: " */
    void *ctx;
    void *rep;                  /* owned by the thread once it runs */
    void *pipe_main, *pipe_thread;
    char pipe_ep[64];
    pthread_t thread;
    bool running;
    s_list_t lists[S_NLISTS];
    size_t loaded_at_start[S_NLISTS];
    s_recent_t recent[S_RECENT];
    size_t recent_next;
};

static void
s_say (const char *who, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

static void
s_say (const char *who, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (line, sizeof line, fmt, ap);
    va_end (ap);
    fprintf (stderr, "%s: %s\n", who, line);
}

/* ---------------------------------------------------------------------
 *  Roles
 */

const char *
tpc_role_name (tpc_role_t role)
{
    switch (role) {
    case TPC_ROLE_CLIENT: return "client";
    case TPC_ROLE_ADMIN: return "admin";
    case TPC_ROLE_AGENT: return "agent";
    default: return "none";
    }
}

tpc_role_t
tpc_role_parse (const char *user_id, char *name, size_t size)
{
    if (name && size)
        *name = '\0';
    const char *colon = user_id ? strchr (user_id, ':') : NULL;
    if (!colon)
        return TPC_ROLE_NONE;
    size_t n = (size_t) (colon - user_id);
    tpc_role_t role = TPC_ROLE_NONE;
    if (n == 6 && !strncmp (user_id, "client", 6))
        role = TPC_ROLE_CLIENT;
    else if (n == 5 && !strncmp (user_id, "admin", 5))
        role = TPC_ROLE_ADMIN;
    else if (n == 5 && !strncmp (user_id, "agent", 5))
        role = TPC_ROLE_AGENT;
    if (role != TPC_ROLE_NONE && name && size)
        snprintf (name, size, "%s", colon + 1);
    return role;
}

bool
tpc_role_may (tpc_role_t role, tpc_msg_type_t type)
{
    switch (type) {
    case TPC_MSG_BEGIN: case TPC_MSG_EXEC: case TPC_MSG_COMMIT:
    case TPC_MSG_ROLLBACK: case TPC_MSG_SUBMIT: case TPC_MSG_STATUS:
    case TPC_MSG_LIST: case TPC_MSG_SUMMARY:
        return role == TPC_ROLE_CLIENT || role == TPC_ROLE_ADMIN;
    case TPC_MSG_RESOLVE:
        return role == TPC_ROLE_ADMIN;
    case TPC_MSG_HELLO: case TPC_MSG_WORKED: case TPC_MSG_VOTE:
    case TPC_MSG_ACK: case TPC_MSG_QUERY:
        return role == TPC_ROLE_AGENT;
    default:
        return false;           /* replies: nobody sends them to us */
    }
}

/* ---------------------------------------------------------------------
 *  Key lists
 */

static void
s_list_clear (s_list_t *l)
{
    free (l->v);
    l->v = NULL;
    l->n = 0;
}

static bool
s_skip_file (const char *name)
{
    size_t n = strlen (name);
    return name[0] == '.' || (n >= 7 && !strcmp (name + n - 7, "_secret"));
}

/*  Read every certificate of L's directory.  Returns 0 or TPC_EIO (the
 *  directory cannot be read: the list is left empty).  QUIET: do not
 *  report files that are skipped.                                        */
static int
s_list_load (s_list_t *l, bool quiet)
{
    s_list_clear (l);
    l->loaded = true;
    DIR *d = opendir (l->dir);
    if (!d)
        return TPC_EIO;
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir (d))) {
        if (s_skip_file (e->d_name))
            continue;
        char path[4096], err[512];
        snprintf (path, sizeof path, "%s/%s", l->dir, e->d_name);
        struct stat st;
        if (stat (path, &st) != 0 || !S_ISREG (st.st_mode))
            continue;
        tpc_curve_cert_t cert;
        if (tpc_curve_cert_load (path, false, &cert, err, sizeof err)) {
            if (!quiet)
                s_say (l->who, "allow-list: %s ignored", err);
            continue;
        }
        if (l->n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            s_entry_t *v = realloc (l->v, ncap * sizeof *v);
            if (!v)
                break;
            l->v = v;
            cap = ncap;
        }
        memcpy (l->v[l->n].key, cert.public_key, sizeof cert.public_key);
        memcpy (l->v[l->n].name, cert.name, sizeof cert.name);
        l->n++;
    }
    closedir (d);
    return 0;
}

/*  Reload L if its directory changed since it was read.                  */
static void
s_list_refresh (s_list_t *l)
{
    if (!l->dir)
        return;
    struct stat st;
    if (stat (l->dir, &st) != 0) {
        if (l->n || !l->loaded)
            s_say (l->who, "allow-list %s (%s) cannot be read: %s; "
                   "refusing its keys", l->dir, tpc_role_name (l->role),
                   strerror (errno));
        s_list_clear (l);
        l->loaded = true;
        memset (&l->mtime, 0, sizeof l->mtime);
        return;
    }
    if (l->loaded && st.st_mtim.tv_sec == l->mtime.tv_sec
        && st.st_mtim.tv_nsec == l->mtime.tv_nsec)
        return;
    bool again = l->loaded;
    l->mtime = st.st_mtim;
    s_list_load (l, false);
    if (again)
        s_say (l->who, "allow-list %s (%s) reloaded: %zu key(s)", l->dir,
               tpc_role_name (l->role), l->n);
}

static const s_entry_t *
s_list_find (const s_list_t *l, const char *key)
{
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp (l->v[i].key, key))
            return &l->v[i];
    return NULL;
}

/* ---------------------------------------------------------------------
 *  Requests
 */

/*  Log a refusal unless the same key on the same domain was logged in the
 *  last S_QUIET_MS.                                                       */
static void
s_refused (tpc_zap_t *self, const char *domain, const char *key,
           const char *address, const char *why)
{
    uint64_t now = (uint64_t) tpc_now_ms ();
    for (size_t i = 0; i < S_RECENT; i++) {
        s_recent_t *r = &self->recent[i];
        if (!strcmp (r->key, key) && !strcmp (r->domain, domain)
            && now < r->at + S_QUIET_MS)
            return;
    }
    s_recent_t *r = &self->recent[self->recent_next++ % S_RECENT];
    snprintf (r->key, sizeof r->key, "%s", key);
    snprintf (r->domain, sizeof r->domain, "%s", domain);
    r->at = now;
    s_say (self->who, "refused a CURVE handshake on the %s endpoint from %s "
           "(key %s): %s", strcmp (domain, TPC_ZAP_AGENTS) ? "client" : "agent",
           address, key, why);
}

/*  Decide one request (FRAMES of N); fills status, text and user id.     */
static void
s_decide (tpc_zap_t *self, zmq_msg_t *frames, int n, const char **status,
          char *text, size_t tsize, char *user, size_t usize)
{
    char domain[64] = "", address[64] = "", mech[16] = "";
    *status = "400";
    *user = '\0';
    size_t len = zmq_msg_size (&frames[2]);
    if (len < sizeof domain)
        memcpy (domain, zmq_msg_data (&frames[2]), len);
    len = zmq_msg_size (&frames[3]);
    if (len < sizeof address)
        memcpy (address, zmq_msg_data (&frames[3]), len);
    len = zmq_msg_size (&frames[5]);
    if (len < sizeof mech)
        memcpy (mech, zmq_msg_data (&frames[5]), len);
    if (strcmp (mech, "CURVE") || n != 7
        || zmq_msg_size (&frames[6]) != 32) {
        snprintf (text, tsize, "mechanism %s refused: CURVE only",
                  *mech ? mech : "?");
        s_refused (self, domain, mech, address, text);
        return;
    }
    char key[TPC_CURVE_KEY_Z85];
    zmq_z85_encode (key, zmq_msg_data (&frames[6]), 32);
    const s_entry_t *e = NULL;
    tpc_role_t role = TPC_ROLE_NONE;
    if (!strcmp (domain, TPC_ZAP_CLIENTS)) {
        s_list_refresh (&self->lists[S_ADMINS]);
        s_list_refresh (&self->lists[S_CLIENTS]);
        if ((e = s_list_find (&self->lists[S_ADMINS], key)))
            role = TPC_ROLE_ADMIN;
        else if ((e = s_list_find (&self->lists[S_CLIENTS], key)))
            role = TPC_ROLE_CLIENT;
        else
            snprintf (text, tsize, "key not in the client or admin "
                      "allow-list");
    }
    else if (!strcmp (domain, TPC_ZAP_AGENTS)) {
        s_list_refresh (&self->lists[S_AGENTS]);
        if ((e = s_list_find (&self->lists[S_AGENTS], key)))
            role = TPC_ROLE_AGENT;
        else
            snprintf (text, tsize, "key not in the agent allow-list");
    }
    else
        snprintf (text, tsize, "unknown ZAP domain '%s'", domain);
    if (role == TPC_ROLE_NONE) {
        s_refused (self, domain, key, address, text);
        return;
    }
    *status = "200";
    snprintf (text, tsize, "OK");
    snprintf (user, usize, "%s:%s", tpc_role_name (role), e->name);
}

static void
s_send_str (void *sock, const char *s, int flags)
{
    zmq_send (sock, s, strlen (s), flags);
}

/*  Answer every request waiting on the ZAP socket.                       */
static void
s_handle (tpc_zap_t *self)
{
    for (;;) {
        zmq_msg_t frames[S_MAX_FRAMES];
        int n = 0;
        bool more = true;
        while (more) {
            zmq_msg_t part;
            zmq_msg_init (&part);
            if (zmq_msg_recv (&part, self->rep, n ? 0 : ZMQ_DONTWAIT) < 0) {
                zmq_msg_close (&part);
                if (n == 0)
                    return;
                break;
            }
            more = zmq_msg_more (&part);
            if (n < S_MAX_FRAMES) {
                zmq_msg_init (&frames[n]);
                zmq_msg_move (&frames[n++], &part);
            }
            zmq_msg_close (&part);
        }
        const char *status = "500";
        char text[160] = "malformed ZAP request", user[128] = "";
        bool v10 = n >= 6 && zmq_msg_size (&frames[0]) == 3
                   && !memcmp (zmq_msg_data (&frames[0]), "1.0", 3);
        if (v10)
            s_decide (self, frames, n, &status, text, sizeof text, user,
                      sizeof user);
        s_send_str (self->rep, "1.0", ZMQ_SNDMORE);
        if (n >= 2)
            zmq_send (self->rep, zmq_msg_data (&frames[1]),
                      zmq_msg_size (&frames[1]), ZMQ_SNDMORE);
        else
            s_send_str (self->rep, "", ZMQ_SNDMORE);
        s_send_str (self->rep, status, ZMQ_SNDMORE);
        s_send_str (self->rep, text, ZMQ_SNDMORE);
        s_send_str (self->rep, user, ZMQ_SNDMORE);
        s_send_str (self->rep, "", 0);
        for (int i = 0; i < n; i++)
            zmq_msg_close (&frames[i]);
    }
}

static void *
s_run (void *arg)
{
    tpc_zap_t *self = arg;
    for (;;) {
        zmq_pollitem_t items[2] = {
            { .socket = self->rep, .events = ZMQ_POLLIN },
            { .socket = self->pipe_thread, .events = ZMQ_POLLIN },
        };
        int rc = zmq_poll (items, 2, -1);
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc < 0 || (items[1].revents & ZMQ_POLLIN))
            break;
        if (items[0].revents & ZMQ_POLLIN)
            s_handle (self);
    }
    zmq_close (self->rep);
    zmq_close (self->pipe_thread);
    self->rep = self->pipe_thread = NULL;
    return NULL;
}

/* ---------------------------------------------------------------------
 *  Life cycle
 */

tpc_zap_t *
tpc_zap_new (void *ctx, const tpc_zap_config_t *cfg, char *errbuf,
             size_t errlen)
{
    char dummy[8];
    if (!errbuf) {
        errbuf = dummy;
        errlen = sizeof dummy;
    }
    tpc_zap_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (errbuf, errlen, "out of memory");
        return NULL;
    }
    self->ctx = ctx;
    snprintf (self->who, sizeof self->who, "%s",
              cfg->log_name ? cfg->log_name : "tpc_zap");
    const char *dirs[S_NLISTS] = { cfg->allow_clients, cfg->allow_admins,
                                   cfg->allow_agents };
    const char *flags[S_NLISTS] = { "--allow-clients", "--allow-admins",
                                    "--allow-agents" };
    tpc_role_t roles[S_NLISTS] = { TPC_ROLE_CLIENT, TPC_ROLE_ADMIN,
                                   TPC_ROLE_AGENT };
    for (int i = 0; i < S_NLISTS; i++) {
        s_list_t *l = &self->lists[i];
        l->role = roles[i];
        l->who = self->who;
        if (!dirs[i])
            continue;
        struct stat st;
        if (stat (dirs[i], &st) != 0 || !S_ISDIR (st.st_mode)) {
            snprintf (errbuf, errlen, "%s %s: not a directory of public "
                      "certificates", flags[i], dirs[i]);
            goto fail;
        }
        if (!(l->dir = strdup (dirs[i]))) {
            snprintf (errbuf, errlen, "out of memory");
            goto fail;
        }
        s_list_refresh (l);
        self->loaded_at_start[i] = l->n;
    }
    self->rep = zmq_socket (ctx, ZMQ_REP);
    int linger = 0;
    if (!self->rep
        || zmq_setsockopt (self->rep, ZMQ_LINGER, &linger, sizeof linger)
        || zmq_bind (self->rep, S_ZAP_ENDPOINT)) {
        snprintf (errbuf, errlen, "cannot bind the ZAP handler: %s",
                  zmq_strerror (errno));
        goto fail;
    }
    snprintf (self->pipe_ep, sizeof self->pipe_ep, "inproc://tpc-zap-%p",
              (void *) self);
    self->pipe_main = zmq_socket (ctx, ZMQ_PAIR);
    self->pipe_thread = zmq_socket (ctx, ZMQ_PAIR);
    if (!self->pipe_main || !self->pipe_thread
        || zmq_setsockopt (self->pipe_main, ZMQ_LINGER, &linger,
                           sizeof linger)
        || zmq_setsockopt (self->pipe_thread, ZMQ_LINGER, &linger,
                           sizeof linger)
        || zmq_bind (self->pipe_thread, self->pipe_ep)
        || zmq_connect (self->pipe_main, self->pipe_ep)) {
        snprintf (errbuf, errlen, "cannot make the ZAP pipe: %s",
                  zmq_strerror (errno));
        goto fail;
    }
    if (pthread_create (&self->thread, NULL, s_run, self) != 0) {
        snprintf (errbuf, errlen, "cannot start the ZAP thread");
        goto fail;
    }
    self->running = true;
    return self;
fail:
    tpc_zap_destroy (&self);
    return NULL;
}

void
tpc_zap_destroy (tpc_zap_t **self_p)
{
    tpc_zap_t *self = *self_p;
    if (!self)
        return;
    if (self->running) {
        zmq_send (self->pipe_main, "$TERM", 5, 0);
        pthread_join (self->thread, NULL);
    }
    if (self->rep)
        zmq_close (self->rep);
    if (self->pipe_thread)
        zmq_close (self->pipe_thread);
    if (self->pipe_main)
        zmq_close (self->pipe_main);
    for (int i = 0; i < S_NLISTS; i++) {
        s_list_clear (&self->lists[i]);
        free (self->lists[i].dir);
    }
    free (self);
    *self_p = NULL;
}

size_t
tpc_zap_keys (tpc_zap_t *self, tpc_role_t role)
{
    for (int i = 0; i < S_NLISTS; i++)
        if (self->lists[i].role == role)
            return self->loaded_at_start[i];
    return 0;
}
