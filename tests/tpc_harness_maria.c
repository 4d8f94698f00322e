/*  tpc_harness_maria: throwaway MariaDB servers (scripts/mariatmp) and
 *  blocking SQL through Connector/C for the tests' assertions (see
 *  tpc_harness.h).  Blocking calls are fine here: only tests use them.   */
#include "tpc_harness.h"

#include <mysql.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tpc_maria_conninfo.h"

int
tpc_harness_maria_start (const char *dir, char *conninfo, size_t size)
{
    char cmd[1024];
    snprintf (cmd, sizeof cmd, "'%s/scripts/mariatmp' start '%s'",
              tpc_harness_srcdir (), dir);
    FILE *f = popen (cmd, "r");
    if (!f)
        return -1;
    conninfo[0] = '\0';
    if (!fgets (conninfo, (int) size, f))
        conninfo[0] = '\0';
    int st = pclose (f);
    conninfo[strcspn (conninfo, "\n")] = '\0';
    if (st != 0 || !*conninfo) {
        fprintf (stderr, "harness: cannot start MariaDB in %s\n", dir);
        return -1;
    }
    return 0;
}

int
tpc_harness_maria_cmd (const char *what, const char *dir)
{
    char cmd[1024];
    snprintf (cmd, sizeof cmd, "'%s/scripts/mariatmp' %s '%s'",
              tpc_harness_srcdir (), what, dir);
    return system (cmd) == 0 ? 0 : -1;
}

void *
tpc_harness_maria_connect (const char *conninfo)
{
    tpc_maria_conninfo_t ci;
    char err[256];
    if (tpc_maria_conninfo_parse (conninfo, &ci, err, sizeof err)) {
        fprintf (stderr, "harness: %s\n", err);
        return NULL;
    }
    MYSQL *m = mysql_init (NULL);
    if (!m)
        return NULL;
    if (!mysql_real_connect (m, *ci.host ? ci.host : NULL, ci.user,
                             ci.password, ci.database, ci.port,
                             *ci.socket ? ci.socket : NULL,
                             CLIENT_MULTI_STATEMENTS)) {
        fprintf (stderr, "harness: maria connect: %s\n", mysql_error (m));
        mysql_close (m);
        return NULL;
    }
    return m;
}

void
tpc_harness_maria_close (void **conn_p)
{
    if (*conn_p)
        mysql_close (*conn_p);
    *conn_p = NULL;
}

/*  Run SQL (may be several statements) on M; every result is read.  The
 *  first column of the first row of the first result set that has one
 *  goes to *VAL (0 for NULL) when VAL; 0, or -1 with the error printed. */
static int
s_run (MYSQL *m, const char *sql, int64_t *val)
{
    bool have = false;
    if (mysql_query (m, sql))
        goto fail;
    for (;;) {
        MYSQL_RES *r = mysql_store_result (m);
        if (r) {
            MYSQL_ROW row = mysql_fetch_row (r);
            if (row && !have && mysql_num_fields (r) >= 1) {
                have = true;
                if (val)
                    *val = row[0] ? strtoll (row[0], NULL, 10) : 0;
            }
            mysql_free_result (r);
        }
        else if (mysql_field_count (m) != 0)
            goto fail;
        int more = mysql_next_result (m);
        if (more > 0)
            goto fail;
        if (more < 0)
            break;
    }
    if (val && !have) {
        fprintf (stderr, "harness: %s: no row\n", sql);
        return -1;
    }
    return 0;
fail:
    fprintf (stderr, "harness: %s: %s\n", sql, mysql_error (m));
    return -1;
}

int
tpc_harness_maria_conn_sql (void *conn, const char *sql)
{
    return s_run (conn, sql, NULL);
}

int
tpc_harness_maria_sql (const char *conninfo, const char *sql)
{
    void *m = tpc_harness_maria_connect (conninfo);
    int rc = m ? s_run (m, sql, NULL) : -1;
    tpc_harness_maria_close (&m);
    return rc;
}

int64_t
tpc_harness_maria_sql_int (const char *conninfo, const char *sql)
{
    int64_t v = INT64_MIN;
    void *m = tpc_harness_maria_connect (conninfo);
    if (m && s_run (m, sql, &v))
        v = INT64_MIN;
    tpc_harness_maria_close (&m);
    return v;
}

int
tpc_harness_maria_world (const char *dir, size_t n, char dbdir[][512],
                         char db[][512], const char *sql)
{
    for (size_t i = 0; i < n; i++) {
        snprintf (dbdir[i], 512, "%s/maria%zu", dir, i + 1);
        if (tpc_harness_maria_start (dbdir[i], db[i], 512)
            || (sql && tpc_harness_maria_sql (db[i], sql)))
            return -1;
    }
    return 0;
}

void
tpc_harness_maria_destroy (const char *dir, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char d[600];
        snprintf (d, sizeof d, "%s/maria%zu", dir, i + 1);
        tpc_harness_maria_cmd ("destroy", d);
    }
}
