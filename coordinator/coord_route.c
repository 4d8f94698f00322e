/*  coord_route: agent names and their connections (see coord_route.h).
 *
 *  Two tables: name -> the routing id of its current connection, and
 *  (plain text only) a connection's routing id, in hex -> the name its
 *  first hello gave it.  A connection replaced by a newer one loses its
 *  plain-text name, so the table holds one connection per agent.
 */
#include "coord_route.h"

#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coord_zap.h"
#include "tpc_error.h"
#include "tpc_gid.h"

#define S_NAME_MAX 64
#define S_RID_MAX 255

typedef struct {
    size_t len;
    unsigned char id[S_RID_MAX];
} s_rid_t;

struct coord_route {
    bool curve;
    zhashx_t *conn;             /* name -> s_rid_t * */
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
    const unsigned char *p = rid;
    for (size_t i = 0; i < len; i++)
        snprintf (out + 2 * i, 3, "%02x", p[i]);
    out[2 * len] = '\0';
}

coord_route_t *
coord_route_new (bool curve)
{
    coord_route_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->curve = curve;
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

/*  NAME's connection is now RID (LEN bytes); the plain-text name of the
 *  connection it replaces goes.  0 or TPC_ENOMEM.                        */
static int
s_map (coord_route_t *self, const char *name, const void *rid, size_t len)
{
    s_rid_t *old = zhashx_lookup (self->conn, name);
    if (old && old->len == len && !memcmp (old->id, rid, len))
        return 0;
    if (old && !self->curve) {
        char hex[2 * S_RID_MAX + 1];
        s_hex (old->id, old->len, hex);
        zhashx_delete (self->named, hex);
    }
    s_rid_t *r = calloc (1, sizeof *r);
    if (!r)
        return TPC_ENOMEM;
    r->len = len;
    memcpy (r->id, rid, len);
    zhashx_update (self->conn, name, r);
    return 0;
}

int
coord_route_from (coord_route_t *self, const void *rid, size_t len,
                  const char *user, const char *hello_name, char *name,
                  size_t size, char *why, size_t whylen)
{
    char own[S_NAME_MAX] = "";
    char hex[2 * S_RID_MAX + 1];
    int rc = 0;
    *why = '\0';
    if (!rid || len == 0 || len > S_RID_MAX) {
        snprintf (why, whylen, "no routing id");
        rc = TPC_EINVAL;
        goto cleanup;
    }
    if (self->curve) {
        if (coord_role_parse (user, own, sizeof own) != COORD_ROLE_AGENT
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
            snprintf (own, sizeof own, "%s", bound);
        else if (hello_name && s_name_valid (hello_name, strlen (hello_name))) {
            snprintf (own, sizeof own, "%s", hello_name);
            char *copy = strdup (own);
            if (!copy) {
                rc = TPC_ENOMEM;
                goto cleanup;
            }
            zhashx_update (self->named, hex, copy);
        }
        else {
            snprintf (why, whylen, "a connection that has not said hello "
                      "with a valid name yet");
            rc = TPC_EINVAL;
            goto cleanup;
        }
    }
    if (hello_name || !zhashx_lookup (self->conn, own))
        rc = s_map (self, own, rid, len);
cleanup:
    if (rc == TPC_ENOMEM)
        snprintf (why, whylen, "out of memory");
    if (rc == 0)
        snprintf (name, size, "%s", own);
    else if (size > 0)
        *name = '\0';
    return rc;
}

const void *
coord_route_to (coord_route_t *self, const char *name, size_t *len)
{
    s_rid_t *r = name ? zhashx_lookup (self->conn, name) : NULL;
    *len = r ? r->len : 0;
    return r ? r->id : NULL;
}
