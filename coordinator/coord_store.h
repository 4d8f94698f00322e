/*  coord_store: where the coordinator keeps its decision records (the
 *  decision-store seam).
 *
 *  coord_server never writes a record anywhere itself: it APPENDS the
 *  engine's records to a store through this function table, asks the
 *  store (from its sync thread, off the loop) to make them DURABLE up to
 *  an LSN, and only then hands the forced record's ticket to
 *  coord_engine_durable().  Two stores implement the table:
 *
 *    file   common/tpc_log in --log-dir (the default; coord_store.c)
 *    etcd   records packed into batch values of a 3.4+ etcd cluster,
 *           written by one etcd transaction per sync (coord_store_etcd.c)
 *
 *  CONTRACT every store honours (what coord_engine's forced tickets need)
 *    open      replays every record it holds, in append order, through
 *              the tpc_log replay callback (lrec->lsn counts from 1;
 *              lrec->segment / offset say where the record sits: a log
 *              segment and byte offset, or an etcd batch and its index);
 *              a record that fails its checks in the middle stops the open.
 *    append    gives the record an LSN (strictly increasing); it is not
 *              durable yet.  Called from the loop only.
 *    sync      blocks until every record up to LSN is durable; may make
 *              later ones durable too (group commit).  Called from the
 *              sync thread (or the loop once that thread stopped).  A
 *              failure is sticky: the store is dead, the caller stops the
 *              process without acknowledging anything (write-ahead rule).
 *    checkpoint_begin / _end
 *              between them the owner appends the live records again;
 *              once end returned 0 the records appended before begin are
 *              gone from the store (their keyspace or segments dropped),
 *              atomically with the carried ones being durable.
 *    high_water / set_high_water
 *              the highest epoch ever started on this store; set makes
 *              max(value, current) durable, and fails (TPC_EBUSY) when a
 *              concurrent open moved it: two starts never share an epoch.
 *    stats     counters for tests and metrics (durable writes, fenced).
 *
 *  FENCING (etcd; HA leader election, coord_elect.h): every etcd write is
 *  a txn that may carry a compare on a leader key's create_revision (an
 *  --ha leader sets fence_key / fence_rev to its own leader key); when the
 *  compare fails the write is refused, counted in stats.fenced and
 *  reported as TPC_EFENCED, and nothing of it is written.
 */
#ifndef COORD_STORE_H
#define COORD_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "tpc_log.h"
#include "coord_etcd_http.h"

typedef struct coord_store coord_store_t;

typedef struct {
    uint64_t writes;            /* durable writes: fdatasyncs / etcd txns */
    uint64_t fenced;            /* etcd writes refused by the fence */
    uint64_t deleted;           /* batches (etcd) dropped by checkpoints */
    int64_t revision;           /* etcd revision of the last write (0) */
} coord_store_stats_t;

/*  The function table of one store implementation (IMPL is its state).  */
typedef struct {
    const char *name;           /* "file", "etcd" */
    int (*append) (void *impl, uint8_t type, const void *payload,
                   size_t len, uint64_t *lsn);
    int (*sync) (void *impl, uint64_t lsn);
    uint64_t (*last_lsn) (void *impl);
    uint64_t (*durable_lsn) (void *impl);
    int (*checkpoint_begin) (void *impl);
    int (*checkpoint_end) (void *impl);
    uint64_t (*high_water) (void *impl);
    int (*set_high_water) (void *impl, uint64_t value);
    void (*stats) (void *impl, coord_store_stats_t *out);
    void (*destroy) (void **impl_p);
} coord_store_ops_t;

/*  A store around IMPL (its ownership moves in; destroyed with the store
 *  through OPS->destroy).  NULL when out of memory (IMPL is destroyed).  */
coord_store_t *coord_store_new (const coord_store_ops_t *ops, void *impl);

/*  The file store: tpc_log_open (CFG, FN, ARG) wrapped.  0 or a tpc_err_t
 *  with a sentence in ERRBUF (tpc_log_open's).                           */
int coord_store_file_open (const tpc_log_config_t *cfg,
                           tpc_log_replay_fn *fn, void *arg,
                           coord_store_t **out, char *errbuf, size_t errlen);

/*  The etcd store (coord_store_etcd.c).                                  */
typedef struct {
    const char *endpoints;      /* "host:port[,host:port...]"; an
                                   "etcd://" in front is accepted,
                                   "etcds://" means HTTPS */
    coord_etcd_auth_t auth;     /* TLS files, the user file (all NULL:
                                   none; coord_etcd_http.h) */
    const char *prefix;         /* every key starts with it, e.g. "/tpc/c1/" */
    const char *fence_key;      /* NULL: no fence; else each write compares */
    int64_t fence_rev;          /* ... its create_revision with this */
    uint64_t timeout_ms;        /* one HTTP request; 0 = 5000 */
    size_t batch_bytes;         /* records per batch value; 0 = 1 MiB (etcd
                                   refuses requests over 1.5 MiB) */
    int any_member;             /* 0: at open, write to the member that is
                                   Raft leader (found by asking each
                                   endpoint's status); 1: start with the
                                   first endpoint (tests with a proxy) */
    void (*warn) (void *arg, const char *text);  /* NULL = stderr */
    void *warn_arg;
} coord_store_etcd_config_t;

int coord_store_etcd_open (const coord_store_etcd_config_t *cfg,
                           tpc_log_replay_fn *fn, void *arg,
                           coord_store_t **out, char *errbuf, size_t errlen);

/*  Idempotent; *self_p becomes NULL.                                     */
void coord_store_destroy (coord_store_t **self_p);

/*  The table's calls (see CONTRACT).                                     */
const char *coord_store_name (coord_store_t *self);
int coord_store_append (coord_store_t *self, uint8_t type,
                        const void *payload, size_t len, uint64_t *lsn);
int coord_store_sync (coord_store_t *self, uint64_t lsn);
uint64_t coord_store_last_lsn (coord_store_t *self);
uint64_t coord_store_durable_lsn (coord_store_t *self);
int coord_store_checkpoint_begin (coord_store_t *self);
int coord_store_checkpoint_end (coord_store_t *self);
uint64_t coord_store_high_water (coord_store_t *self);
int coord_store_set_high_water (coord_store_t *self, uint64_t value);
void coord_store_stats (coord_store_t *self, coord_store_stats_t *out);

#endif
