/*  part_pg_stmt: the statement cache of the PostgreSQL resource manager.
 *
 *  Each session keeps up to stmt_cache prepared statements ("tpc_s<id>").
 *  A cacheable query (a client's statement, RESET ALL, the marker insert)
 *  runs unnamed the first time; once it ran and returned no rows its hash
 *  is noted (a ring of PART_PG_SEEN); the next time it is prepared (Parse)
 *  in the same round and run by name from then on.  The round's end
 *  settles the cache (part_pg_stmts_settle): a failed Parse is dropped, a
 *  statement the server lost (DEALLOCATE ALL) empties the cache, and so
 *  do a closed session and DISCARD ALL (part_pg_stmts_clear).
 */
#include "part_pg_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*  FNV-1a of SQL and NPARAMS; never 0.                                   */
static uint64_t
s_hash (const char *sql, int nparams)
{
    uint64_t h = 14695981039346656037ull ^ (uint64_t) nparams;
    for (const unsigned char *p = (const unsigned char *) sql; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    return h ? h : 1;
}

static int
s_stmt_find (const part_pg_conn_t *c, uint64_t h, const part_pg_query_t *q)
{
    for (size_t i = 0; i < c->nstmts; i++)
        if (c->stmts[i].hash == h && c->stmts[i].nparams == q->nparams
            && !strcmp (c->stmts[i].sql, q->sql))
            return (int) i;
    return -1;
}

static bool
s_seen (const part_pg_conn_t *c, uint64_t h)
{
    for (size_t i = 0; i < PART_PG_SEEN; i++)
        if (c->seen[i] == h)
            return true;
    return false;
}

/*  Queue the commands of query Q (number SLOT) on C: the prepared
 *  statement if the session has it, a Parse of it first when Q ran here
 *  before and the cache has room, else an unnamed statement.  false when
 *  libpq refused (no memory, connection broken).                        */
bool
part_pg_send_query (part_pg_t *self, part_pg_conn_t *c,
                    const part_pg_query_t *q, int slot)
{
    uint64_t h = q->cache && self->cfg.stmt_cache ? s_hash (q->sql, q->nparams) : 0;
    int k = h ? s_stmt_find (c, h, q) : -1;
    if (k < 0 && h && s_seen (c, h) && c->nstmts < self->cfg.stmt_cache) {
        char *copy = strdup (q->sql);
        if (copy) {
            k = (int) c->nstmts++;
            c->stmts[k] = (part_pg_stmt_t) { .hash = h, .sql = copy,
                                       .nparams = q->nparams, .live = false,
                                       .id = ++c->next_id };
            const char *name = c->stmts[k].name;
            snprintf (c->stmts[k].name, sizeof c->stmts[k].name, "tpc_s%u",
                      c->stmts[k].id);
            part_pg_log (self, PART_PG_VERBOSE, "connection %zu: preparing %s: %.80s", c->index,
                         name, q->sql);
            if (!PQsendPrepare (c->pq, name, q->sql, q->nparams, NULL))
                return false;
            c->items[c->nitems++] = (part_pg_item_t) { I_PREPARE, slot, k, 0,
                                                 PGRES_FATAL_ERROR, "" };
        }
    }
    if (k >= 0) {
        if (!PQsendQueryPrepared (c->pq, c->stmts[k].name, q->nparams, q->params, NULL,
                                  NULL, 0))
            return false;
        c->items[c->nitems++] = (part_pg_item_t) { I_NAMED, slot, k, 0,
                                             PGRES_FATAL_ERROR, "" };
        return true;
    }
    if (!PQsendQueryParams (c->pq, q->sql, q->nparams, NULL, q->params,
                            NULL, NULL, 0))
        return false;
    c->items[c->nitems++] = (part_pg_item_t) { I_UNNAMED, slot, -1, h,
                                         PGRES_FATAL_ERROR, "" };
    return true;
}

/*  The round is over: keep what the server now holds.  A Parse that
 *  succeeded makes its statement usable; one that failed (or never ran)
 *  is dropped; an unnamed statement that ran and returned no rows is
 *  noted, to be prepared when it comes again (statements returning rows
 *  are never prepared: a schema change could change their row type, which
 *  a prepared statement refuses); a prepared statement the server no
 *  longer knows (26000, e.g. DEALLOCATE ALL) empties the cache.          */
void
part_pg_stmts_settle (part_pg_conn_t *c)
{
    bool lost = false;
    for (int i = 0; i < c->nitems; i++) {
        part_pg_item_t *it = &c->items[i];
        if (it->kind == I_PREPARE)
            c->stmts[it->stmt].live = it->status == PGRES_COMMAND_OK;
        else if (it->kind == I_UNNAMED && it->hash
                 && it->status == PGRES_COMMAND_OK && !s_seen (c, it->hash)) {
            c->seen[c->seen_next] = it->hash;
            c->seen_next = (c->seen_next + 1) % PART_PG_SEEN;
        }
        else if (it->kind == I_NAMED && !strcmp (it->sqlstate, "26000"))
            lost = true;
    }
    if (lost) {
        part_pg_stmts_clear (c);
        return;
    }
    /* drop entries whose Parse did not succeed (they are the newest) */
    while (c->nstmts && !c->stmts[c->nstmts - 1].live) {
        free (c->stmts[c->nstmts - 1].sql);
        c->nstmts--;
    }
}

/*  Forget every prepared statement of C (the session is gone, or the
 *  server lost them).                                                     */
void
part_pg_stmts_clear (part_pg_conn_t *c)
{
    for (size_t i = 0; i < c->nstmts; i++)
        free (c->stmts[i].sql);
    c->nstmts = 0;
    memset (c->seen, 0, sizeof c->seen);
}
