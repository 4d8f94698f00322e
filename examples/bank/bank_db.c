/*  bank_db: the bank's two engines behind one set of calls (see bank_db.h).
 *  Reads (MariaDB only) the first line of a conninfo file, in the format
 *  of common/tpc_maria_conninfo.h.
 */
#include "bank_db.h"

#include <ctype.h>
#include <libpq-fe.h>
#include <mysql.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tpc_maria_conninfo.h"

#define S_LINE_MAX 1024
#define S_SQL_MAX 1024

struct bank_db_t {
    bank_db_engine_t engine;
    PGconn *pg;
    MYSQL *my;
};

/*  The first line of FILE, parsed (common/tpc_maria_conninfo.h).  0 or
 *  -1 with the reason on stderr.                                         */
static int
s_maria_ci_read (const char *file, tpc_maria_conninfo_t *ci)
{
    char line[S_LINE_MAX], why[256];
    FILE *f = fopen (file, "r");
    if (!f) {
        fprintf (stderr, "bank: cannot read %s: ", file);
        perror (NULL);
        return -1;
    }
    char *got = fgets (line, sizeof line, f);
    fclose (f);
    if (!got) {
        fprintf (stderr, "bank: %s is empty\n", file);
        return -1;
    }
    if (tpc_maria_conninfo_parse (line, ci, why, sizeof why) != 0) {
        fprintf (stderr, "bank: %s: %s\n", file, why);
        return -1;
    }
    return 0;
}

bank_db_t *
bank_db_new (bank_db_engine_t engine, const char *where)
{
    bank_db_t *self = calloc (1, sizeof *self);
    if (!self) {
        fprintf (stderr, "bank: out of memory\n");
        return NULL;
    }
    self->engine = engine;
    if (engine == BANK_DB_PG) {
        self->pg = PQconnectdb (where);
        if (PQstatus (self->pg) != CONNECTION_OK) {
            fprintf (stderr, "bank: cannot connect: %s", PQerrorMessage (self->pg));
            goto fail;
        }
        return self;
    }
    tpc_maria_conninfo_t ci;
    if (s_maria_ci_read (where, &ci) < 0)
        goto fail;
    self->my = mysql_init (NULL);
    if (!self->my) {
        fprintf (stderr, "bank: out of memory\n");
        goto fail;
    }
    if (!mysql_real_connect (self->my, ci.socket[0] ? NULL : ci.host,
                             ci.user[0] ? ci.user : NULL,
                             ci.password[0] ? ci.password : NULL,
                             ci.database[0] ? ci.database : NULL, ci.port,
                             ci.socket[0] ? ci.socket : NULL, 0)) {
        fprintf (stderr, "bank: cannot connect to MariaDB (%s): %s\n", where,
                 mysql_error (self->my));
        goto fail;
    }
    return self;
fail:
    bank_db_destroy (&self);
    return NULL;
}

void
bank_db_destroy (bank_db_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    bank_db_t *self = *self_p;
    if (self->pg)
        PQfinish (self->pg);
    if (self->my)
        mysql_close (self->my);
    free (self);
    *self_p = NULL;
}

const char *
bank_db_engine_name (const bank_db_t *self)
{
    return self->engine == BANK_DB_PG ? "postgresql" : "mariadb";
}

/*  One statement (no result expected, or one to drop).  0 or -1.        */
static int
s_exec (bank_db_t *self, const char *sql)
{
    if (self->engine == BANK_DB_PG) {
        PGresult *r = PQexec (self->pg, sql);
        ExecStatusType st = PQresultStatus (r);
        int rc = (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) ? 0 : -1;
        if (rc)
            fprintf (stderr, "bank: %s: %s", sql, PQresultErrorMessage (r));
        PQclear (r);
        return rc;
    }
    if (mysql_query (self->my, sql)) {
        fprintf (stderr, "bank: %s: %s\n", sql, mysql_error (self->my));
        return -1;
    }
    MYSQL_RES *res = mysql_store_result (self->my);
    if (res)
        mysql_free_result (res);
    return 0;
}

int
bank_db_setup (bank_db_t *self, long accounts, long balance)
{
    char sql[S_SQL_MAX];
    if (self->engine == BANK_DB_PG) {
        snprintf (sql, sizeof sql,
                  "SET client_min_messages = warning;"
                  "DROP TABLE IF EXISTS accounts, transfers;"
                  "CREATE TABLE accounts (id int PRIMARY KEY,"
                  " balance bigint NOT NULL CHECK (balance >= 0));"
                  "CREATE TABLE transfers (tid text PRIMARY KEY,"
                  " amount bigint NOT NULL);"
                  "INSERT INTO accounts SELECT g, %ld"
                  " FROM generate_series(1, %ld) g;",
                  balance, accounts);
        return s_exec (self, sql);
    }
    /* InnoDB (XA), ASCII binary tids: the same order as strcmp. */
    snprintf (sql, sizeof sql,
              "INSERT INTO accounts (id, balance) WITH RECURSIVE g (n) AS"
              " (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < %ld)"
              " SELECT n, %ld FROM g", accounts, balance);
    if (s_exec (self, "DROP TABLE IF EXISTS accounts, transfers") < 0
        || s_exec (self, "CREATE TABLE accounts (id int PRIMARY KEY,"
                   " balance bigint NOT NULL CHECK (balance >= 0)) ENGINE=InnoDB") < 0
        || s_exec (self, "CREATE TABLE transfers (tid varchar(128) CHARACTER SET"
                   " ascii COLLATE ascii_bin PRIMARY KEY, amount bigint NOT NULL)"
                   " ENGINE=InnoDB") < 0
        || s_exec (self, sql) < 0)
        return -1;
    return 0;
}

int64_t
bank_db_int (bank_db_t *self, const char *sql)
{
    int64_t v = INT64_MIN;
    if (self->engine == BANK_DB_PG) {
        PGresult *r = PQexec (self->pg, sql);
        if (PQresultStatus (r) == PGRES_TUPLES_OK && PQntuples (r) == 1)
            v = PQgetisnull (r, 0, 0) ? 0 : strtoll (PQgetvalue (r, 0, 0), NULL, 10);
        else
            fprintf (stderr, "bank: %s: %s", sql, PQresultErrorMessage (r));
        PQclear (r);
        return v;
    }
    if (mysql_query (self->my, sql)) {
        fprintf (stderr, "bank: %s: %s\n", sql, mysql_error (self->my));
        return v;
    }
    MYSQL_RES *res = mysql_store_result (self->my);
    MYSQL_ROW row = res ? mysql_fetch_row (res) : NULL;
    if (row && mysql_num_rows (res) == 1)
        v = row[0] ? strtoll (row[0], NULL, 10) : 0;
    else
        fprintf (stderr, "bank: %s: no single row (%s)\n", sql, mysql_error (self->my));
    if (res)
        mysql_free_result (res);
    return v;
}

static bool
s_tid_ok (const char *tid)
{
    if (!*tid || strlen (tid) > 127)
        return false;
    for (const char *p = tid; *p; p++)
        if (!isalnum ((unsigned char) *p) && *p != '_')
            return false;
    return true;
}

int
bank_db_has_tid (bank_db_t *self, const char *tid)
{
    char sql[S_SQL_MAX];
    if (!s_tid_ok (tid)) {
        fprintf (stderr, "bank: bad tid '%s'\n", tid);
        return -1;
    }
    /* the tid is [A-Za-z0-9_]+: a literal is safe in both dialects */
    snprintf (sql, sizeof sql, "SELECT count(*) FROM transfers WHERE tid = '%s'", tid);
    int64_t n = bank_db_int (self, sql);
    return n == INT64_MIN ? -1 : n > 0;
}

static int
s_cmp (const void *a, const void *b)
{
    return strcmp (*(char *const *) a, *(char *const *) b);
}

int
bank_db_tids (bank_db_t *self, char ***tids, size_t *n)
{
    const char *sql = "SELECT tid FROM transfers";
    char **list = NULL;
    size_t count = 0;
    int rc = -1;
    PGresult *r = NULL;
    MYSQL_RES *res = NULL;
    *tids = NULL;
    *n = 0;
    if (self->engine == BANK_DB_PG) {
        r = PQexec (self->pg, sql);
        if (PQresultStatus (r) != PGRES_TUPLES_OK) {
            fprintf (stderr, "bank: %s: %s", sql, PQresultErrorMessage (r));
            goto cleanup;
        }
        count = (size_t) PQntuples (r);
    }
    else {
        if (mysql_query (self->my, sql) || !(res = mysql_store_result (self->my))) {
            fprintf (stderr, "bank: %s: %s\n", sql, mysql_error (self->my));
            goto cleanup;
        }
        count = (size_t) mysql_num_rows (res);
    }
    list = calloc (count + 1, sizeof *list);
    if (!list)
        goto cleanup;
    for (size_t i = 0; i < count; i++) {
        const char *v;
        if (r)
            v = PQgetvalue (r, (int) i, 0);
        else {
            MYSQL_ROW row = mysql_fetch_row (res);
            v = row && row[0] ? row[0] : "";
        }
        if (!(list[i] = strdup (v)))
            goto cleanup;
    }
    /* bytewise, whatever the server's collation */
    qsort (list, count, sizeof *list, s_cmp);
    *tids = list;
    *n = count;
    list = NULL;
    rc = 0;
cleanup:
    if (list) {
        for (size_t i = 0; i < count; i++)
            free (list[i]);
        free (list);
    }
    PQclear (r);
    if (res)
        mysql_free_result (res);
    return rc;
}

int64_t
bank_db_prepared (bank_db_t *self)
{
    if (self->engine == BANK_DB_PG) {
        int64_t v = bank_db_int (self, "SELECT count(*) FROM pg_prepared_xacts"
                                       " WHERE database = current_database()");
        return v == INT64_MIN ? -1 : v;
    }
    if (mysql_query (self->my, "XA RECOVER")) {
        fprintf (stderr, "bank: XA RECOVER: %s\n", mysql_error (self->my));
        return -1;
    }
    MYSQL_RES *res = mysql_store_result (self->my);
    if (!res) {
        fprintf (stderr, "bank: XA RECOVER: %s\n", mysql_error (self->my));
        return -1;
    }
    int64_t v = (int64_t) mysql_num_rows (res);
    mysql_free_result (res);
    return v;
}
