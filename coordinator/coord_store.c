/*  coord_store: the decision-store seam (see coord_store.h): the calls
 *  through the function table, and the file store, which is common/tpc_log
 *  as it was before the seam (same directory, same bytes: see tpc_log.h
 *  for the segment format).  The etcd store is coord_store_etcd.c.
 */
#include "coord_store.h"

#include <stdlib.h>

#include "tpc_error.h"

struct coord_store {
    const coord_store_ops_t *ops;
    void *impl;
};

coord_store_t *
coord_store_new (const coord_store_ops_t *ops, void *impl)
{
    coord_store_t *self = calloc (1, sizeof *self);
    if (!self) {
        ops->destroy (&impl);
        return NULL;
    }
    self->ops = ops;
    self->impl = impl;
    return self;
}

void
coord_store_destroy (coord_store_t **self_p)
{
    coord_store_t *self = *self_p;
    if (!self)
        return;
    self->ops->destroy (&self->impl);
    free (self);
    *self_p = NULL;
}

const char *
coord_store_name (coord_store_t *self)
{
    return self->ops->name;
}

int
coord_store_append (coord_store_t *self, uint8_t type, const void *payload,
                    size_t len, uint64_t *lsn)
{
    return self->ops->append (self->impl, type, payload, len, lsn);
}

int
coord_store_sync (coord_store_t *self, uint64_t lsn)
{
    return self->ops->sync (self->impl, lsn);
}

uint64_t
coord_store_last_lsn (coord_store_t *self)
{
    return self->ops->last_lsn (self->impl);
}

uint64_t
coord_store_durable_lsn (coord_store_t *self)
{
    return self->ops->durable_lsn (self->impl);
}

int
coord_store_checkpoint_begin (coord_store_t *self)
{
    return self->ops->checkpoint_begin (self->impl);
}

int
coord_store_checkpoint_end (coord_store_t *self)
{
    return self->ops->checkpoint_end (self->impl);
}

uint64_t
coord_store_high_water (coord_store_t *self)
{
    return self->ops->high_water (self->impl);
}

int
coord_store_set_high_water (coord_store_t *self, uint64_t value)
{
    return self->ops->set_high_water (self->impl, value);
}

void
coord_store_stats (coord_store_t *self, coord_store_stats_t *out)
{
    *out = (coord_store_stats_t) { 0 };
    self->ops->stats (self->impl, out);
}

/* ---------------------------------------------------------------------
 *  The file store: tpc_log
 */

static int
s_file_append (void *impl, uint8_t type, const void *payload, size_t len,
               uint64_t *lsn)
{
    return tpc_log_append (impl, type, payload, len, lsn);
}

static int
s_file_sync (void *impl, uint64_t lsn)
{
    return tpc_log_sync (impl, lsn);
}

static uint64_t
s_file_last_lsn (void *impl)
{
    return tpc_log_last_lsn (impl);
}

static uint64_t
s_file_durable_lsn (void *impl)
{
    return tpc_log_durable_lsn (impl);
}

static int
s_file_checkpoint_begin (void *impl)
{
    return tpc_log_checkpoint_begin (impl);
}

static int
s_file_checkpoint_end (void *impl)
{
    return tpc_log_checkpoint_end (impl);
}

static uint64_t
s_file_high_water (void *impl)
{
    return tpc_log_high_water (impl);
}

static int
s_file_set_high_water (void *impl, uint64_t value)
{
    return tpc_log_set_high_water (impl, value);
}

static void
s_file_stats (void *impl, coord_store_stats_t *out)
{
    out->writes = tpc_log_sync_count (impl);
}

static void
s_file_destroy (void **impl_p)
{
    tpc_log_t *log = *impl_p;
    tpc_log_destroy (&log);
    *impl_p = NULL;
}

static const coord_store_ops_t s_file_ops = {
    .name = "file",
    .append = s_file_append, .sync = s_file_sync,
    .last_lsn = s_file_last_lsn, .durable_lsn = s_file_durable_lsn,
    .checkpoint_begin = s_file_checkpoint_begin,
    .checkpoint_end = s_file_checkpoint_end,
    .high_water = s_file_high_water, .set_high_water = s_file_set_high_water,
    .stats = s_file_stats, .destroy = s_file_destroy,
};

int
coord_store_file_open (const tpc_log_config_t *cfg, tpc_log_replay_fn *fn,
                       void *arg, coord_store_t **out, char *errbuf,
                       size_t errlen)
{
    tpc_log_t *log = NULL;
    *out = NULL;
    int rc = tpc_log_open (cfg, fn, arg, &log, errbuf, errlen);
    if (rc)
        return rc;
    *out = coord_store_new (&s_file_ops, log);
    return *out ? 0 : TPC_ENOMEM;
}
