/*  bank_db: one bank database, PostgreSQL (libpq) or MariaDB (Connector/C),
 *  seen through the few queries the bank example needs: set the tables up,
 *  read an integer, look a transfer id up, list the transfer ids, count the
 *  prepared transactions left.  Blocking calls: the bank's setup and check
 *  run once, outside any hot path.
 *
 *  A PostgreSQL database is named by a libpq conninfo or URL.  A MariaDB
 *  one by a file whose first line is the agent's conninfo line (the
 *  format tpc-participant --maria-file reads and scripts/mariatmp prints):
 *      host=127.0.0.1 port=N user=U password=P database=D
 *  or socket=PATH in place of host and port.  Credentials never on argv.
 *
 *  Prepared transactions counted: pg_prepared_xacts of the current
 *  database (PostgreSQL); every row of XA RECOVER (MariaDB: the server's
 *  prepared XA branches; the bank's server is its own).
 */
#ifndef BANK_DB_H
#define BANK_DB_H

#include <stddef.h>
#include <stdint.h>

typedef enum { BANK_DB_PG, BANK_DB_MARIA } bank_db_engine_t;

typedef struct bank_db_t bank_db_t;

/*  Connect.  WHERE is a libpq conninfo (BANK_DB_PG) or the path of a
 *  conninfo file (BANK_DB_MARIA).  NULL on failure, with the reason on
 *  stderr.                                                               */
bank_db_t *bank_db_new (bank_db_engine_t engine, const char *where);
void bank_db_destroy (bank_db_t **self_p);

/*  "postgresql" or "mariadb".                                            */
const char *bank_db_engine_name (const bank_db_t *self);

/*  (Re)create accounts(id, balance >= 0) with ACCOUNTS rows of BALANCE and
 *  an empty transfers(tid, amount).  0 or -1.                            */
int bank_db_setup (bank_db_t *self, long accounts, long balance);

/*  The first column of the single row of SQL as an integer (NULL: 0), or
 *  INT64_MIN on error (reported on stderr).                              */
int64_t bank_db_int (bank_db_t *self, const char *sql);

/*  1 if TID ([A-Za-z0-9_]+) is in transfers, 0 if not, -1 on error.      */
int bank_db_has_tid (bank_db_t *self, const char *tid);

/*  Every tid of transfers, sorted bytewise, into *TIDS (*N entries; the
 *  caller frees each and the array).  0 or -1.                           */
int bank_db_tids (bank_db_t *self, char ***tids, size_t *n);

/*  Prepared transactions (branches) left, or -1 on error.                */
int64_t bank_db_prepared (bank_db_t *self);

#endif
