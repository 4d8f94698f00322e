/*  coord_route: agent names and their connections (see coord_route.h).
 *
 *  Two tables: name -> its current connection (routing id), the last
 *  S_RETIRED connections it replaced, the boot ids of its earlier
 *  incarnations and when its connection last spoke (the duplicate
 *  check); and (plain text only) a connection's routing id, in hex
 *  -> the name its first hello gave it.  A connection replaced by a newer
 *  one loses its plain-text name, so the table holds one connection per
 *  agent.
 */
#include "coord_route.h"

#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tpc_zap.h"
#include "tpc_error.h"
#include "tpc_gid.h"

#define S_NAME_MAX 64
#define S_RID_MAX 255
#define S_BOOT_MAX 33           /* hello.boot: up to 32 hex digits */
#define S_RETIRED 32            /* replaced connections kept per name: an
                                   agent relinks once per dead link (5
                                   heartbeats, >= 1 s), so a stall of some
                                   30 s is covered */
#define S_PAST 4                /* earlier boot ids kept per name */

typedef struct {
    size_t len;
    unsigned char id[S_RID_MAX];
} s_rid_t;

typedef struct {
    s_rid_t cur;                /* the current connection */
    s_rid_t retired[S_RETIRED]; /* connections it replaced (ring) */
    size_t nretired;
    char boot[S_BOOT_MAX];      /* boot id of its hellos, "" = none yet */
    char past[S_PAST][S_BOOT_MAX];  /* boot ids it replaced (ring) */
    size_t npast;
    uint64_t heard;             /* last message on cur; 0: none / lost */
    bool heard_any;             /* heard is valid */
} s_agent_t;

struct coord_route {
    bool curve;
    uint64_t live_ms;           /* heard this recently: live */
    zhashx_t *conn;             /* name -> s_agent_t * */
    zhashx_t *named;            /* plain: hex(rid) -> name (char *) */
};

static void
s_free (void **item)
{
    free (*item);
    *item = NULL;
}

static bool
s_name_valid (const char *name, size_t n)
{
    return tpc_name_valid (name, n, S_NAME_MAX);
}

static void
s_hex (const void *rid, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *p = rid;
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * len] = '\0';
}

/*  Copy the string SRC into DST of SIZE bytes (cut to fit; SIZE > 0): on
 *  every agent message, where snprintf's cost shows in the profile.    */
static void
s_copy (char *dst, size_t size, const char *src)
{
    size_t n = strnlen (src, size - 1);
    memcpy (dst, src, n);
    dst[n] = '\0';
}

coord_route_t *
coord_route_new (bool curve, uint64_t live_ms)
{
    coord_route_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->curve = curve;
    self->live_ms = live_ms ? live_ms : 3000;
    self->conn = zhashx_new ();
    self->named = zhashx_new ();
    if (!self->conn || !self->named) {
        coord_route_destroy (&self);
        return NULL;
    }
    zhashx_set_destructor (self->conn, s_free);
    zhashx_set_destructor (self->named, s_free);
    return self;
}

void
coord_route_destroy (coord_route_t **self_p)
{
    coord_route_t *self = *self_p;
    if (!self)
        return;
    zhashx_destroy (&self->conn);
    zhashx_destroy (&self->named);
    free (self);
    *self_p = NULL;
}

static bool
s_rid_is (const s_rid_t *r, const void *rid, size_t len)
{
    return r->len == len && !memcmp (r->id, rid, len);
}

/*  Is a hello on RID (LEN bytes) a late one for agent A: on a connection
 *  A's name has left for a newer one?  A routing id the peer chose (not
 *  starting with a zero byte) may come back on a new connection, so only
 *  those the ROUTER assigned (never reused) retire.                      */
static bool
s_retired (const s_agent_t *a, const void *rid, size_t len)
{
    size_t n = a && a->nretired < S_RETIRED ? a->nretired : S_RETIRED;
    for (size_t i = 0; a && i < n; i++)
        if (s_rid_is (&a->retired[i], rid, len))
            return true;
    return false;
}

/*  Is BOOT (NULL: none) one that a newer incarnation of A replaced?      */
static bool
s_replaced (const s_agent_t *a, const char *boot)
{
    size_t n = a && a->npast < S_PAST ? a->npast : S_PAST;
    for (size_t i = 0; a && boot && i < n; i++)
        if (!strcmp (a->past[i], boot))
            return true;
    return false;
}

/*  Does a hello on RID with boot id BOOT come from a second live process
 *  of agent A: another boot id, another connection, while A's current
 *  connection was heard from within LIVE_MS of NOW?                      */
static bool
s_duplicate (const coord_route_t *self, const s_agent_t *a, const void *rid,
             size_t len, const char *boot, uint64_t now)
{
    return a && boot && *boot && a->boot[0] && strcmp (a->boot, boot)
           && !s_rid_is (&a->cur, rid, len) && a->heard_any
           && now < a->heard + self->live_ms;
}

/*  NAME's connection is now RID (LEN bytes) and, if BOOT (a hello's),
 *  its boot id is BOOT; the connection it replaces retires and loses its
 *  plain-text name.  0 or TPC_ENOMEM.                                    */
static int
s_map (coord_route_t *self, const char *name, const void *rid, size_t len,
       const char *boot, uint64_t now)
{
    s_agent_t *a = zhashx_lookup (self->conn, name);
    if (!a) {
        a = calloc (1, sizeof *a);
        if (!a)
            return TPC_ENOMEM;
        zhashx_update (self->conn, name, a);
    }
    else if (!s_rid_is (&a->cur, rid, len)) {
        if (!self->curve) {
            char hex[2 * S_RID_MAX + 1];
            s_hex (a->cur.id, a->cur.len, hex);
            zhashx_delete (self->named, hex);
        }
        if (a->cur.len > 0 && a->cur.id[0] == 0)
            a->retired[a->nretired++ % S_RETIRED] = a->cur;
    }
    a->cur.len = len;
    memcpy (a->cur.id, rid, len);
    a->heard = now;
    a->heard_any = true;
    if (boot && *boot && strlen (boot) < S_BOOT_MAX
        && strcmp (a->boot, boot)) {
        if (a->boot[0])
            memcpy (a->past[a->npast++ % S_PAST], a->boot, S_BOOT_MAX);
        snprintf (a->boot, sizeof a->boot, "%s", boot);
    }
    return 0;
}

int
coord_route_from (coord_route_t *self, const void *rid, size_t len,
                  const char *user, const char *hello_name,
                  const char *hello_boot, uint64_t now, char *name,
                  size_t size, char *why, size_t whylen)
{
    char own[S_NAME_MAX] = "";
    char hex[2 * S_RID_MAX + 1];
    bool bind = false;
    int rc = 0;
    *why = '\0';
    if (!rid || len == 0 || len > S_RID_MAX) {
        snprintf (why, whylen, "no routing id");
        rc = TPC_EINVAL;
        goto cleanup;
    }
    if (self->curve) {
        if (tpc_role_parse (user, own, sizeof own) != TPC_ROLE_AGENT
            || !s_name_valid (own, strlen (own))) {
            snprintf (why, whylen, "the key %s is no agent's",
                      user ? user : "(none)");
            rc = TPC_EPERM;
            goto cleanup;
        }
        if (hello_name && strcmp (hello_name, own)) {
            snprintf (why, whylen, "hello as '%.63s' with the key of "
                      "agent:%s refused: an agent speaks only for itself",
                      hello_name, own);
            rc = TPC_EPERM;
            goto cleanup;
        }
    }
    else if (s_name_valid (rid, len)) {
        memcpy (own, rid, len);         /* a routing id the peer chose */
        own[len] = '\0';
    }
    else {
        s_hex (rid, len, hex);
        const char *bound = zhashx_lookup (self->named, hex);
        if (bound)
            s_copy (own, sizeof own, bound);
        else if (hello_name && s_name_valid (hello_name, strlen (hello_name))) {
            s_copy (own, sizeof own, hello_name);
            bind = true;
        }
        else {
            snprintf (why, whylen, "a connection that has not said hello "
                      "with a valid name yet");
            rc = TPC_EINVAL;
            goto cleanup;
        }
    }
    s_agent_t *a = zhashx_lookup (self->conn, own);
    if (hello_name && s_replaced (a, hello_boot)) {
        snprintf (why, whylen, "agent '%s' (boot id %.32s) was replaced by "
                  "a newer process of that name (boot id %s): this one "
                  "must stop", own, hello_boot, a->boot);
        rc = TPC_EEXIST;
        goto cleanup;
    }
    if (hello_name && s_retired (a, rid, len)) {
        snprintf (why, whylen, "late hello of agent '%s' on a connection "
                  "it has replaced", own);
        rc = TPC_ESTATE;
        goto cleanup;
    }
    if (hello_name && s_duplicate (self, a, rid, len, hello_boot, now)) {
        snprintf (why, whylen, "two agents say they are '%s' (boot ids %s "
                  "and %.32s): the one connected first is live and keeps "
                  "the name; the newer one (boot id %.32s) waits until the "
                  "first is gone", own, a->boot, hello_boot, hello_boot);
        rc = TPC_EBUSY;
        goto cleanup;
    }
    if (a && s_rid_is (&a->cur, rid, len)) {
        a->heard = now;                 /* the live connection speaks */
        a->heard_any = true;
    }
    if (bind) {
        char *copy = strdup (own);
        if (!copy) {
            rc = TPC_ENOMEM;
            goto cleanup;
        }
        zhashx_update (self->named, hex, copy);
    }
    if (hello_name || !a)
        rc = s_map (self, own, rid, len, hello_name ? hello_boot : NULL,
                    now);
cleanup:
    if (rc == TPC_ENOMEM)
        snprintf (why, whylen, "out of memory");
    if ((rc == 0 || rc == TPC_EEXIST || rc == TPC_EBUSY) && size > 0)
        s_copy (name, size, own);
    else if (size > 0)
        *name = '\0';
    return rc;
}

void
coord_route_lost (coord_route_t *self, const char *name)
{
    s_agent_t *a = name ? zhashx_lookup (self->conn, name) : NULL;
    if (a)
        a->heard_any = false;
}

const void *
coord_route_to (coord_route_t *self, const char *name, size_t *len)
{
    s_agent_t *a = name ? zhashx_lookup (self->conn, name) : NULL;
    *len = a ? a->cur.len : 0;
    return a ? a->cur.id : NULL;
}
