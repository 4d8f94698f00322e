/*  part_mem: in-memory resource manager (see part_mem.h for the hooks).
 *
 *  Submitted operations go to one FIFO with a due time (now, or later for
 *  SLEEP); process() takes the first runnable one, applies its effect to
 *  the in-memory "database" and emits its completion, until none is
 *  runnable.  While the database is down, phase-2 style operations are
 *  not runnable (they wait for the restart, as part_pg queues them).
 */
#include "part_mem.h"

#include <assert.h>
#include <czmq.h>
#include <stdlib.h>
#include <string.h>

#include "tpc_error.h"
#include "tpc_gid.h"

typedef struct {
    bool set;
    int status;
    char *error;
    bool after_effect;
    char sqlstate[6];           /* TPC_EDB: the code ("" = XX000) */
} s_fault_t;

typedef struct s_op {
    uint64_t req;
    part_rm_op_t op;
    char gid[TPC_GID_MAX];
    size_t nstmts;
    tpc_stmt_t *stmts;          /* deep copy */
    uint64_t due;
    bool interrupted;           /* interrupt(): fail with 57014 */
    bool crashed;               /* the database crashed while it ran */
    bool granted;               /* BEGIN that got its session from the queue */
    bool keep_readonly;         /* PREPARE: prepare even without writes */
    struct s_op *next;
} s_op_t;

typedef struct {
    uint64_t writes;
    bool failed;                /* a statement failed: in error until rollback */
} s_txn_t;

struct part_mem {
    part_rm_t rm;
    size_t pool;
    size_t queue_max;
    zhashx_t *txns;             /* gid -> s_txn_t, open transactions */
    zhashx_t *prepared;         /* gid -> (uintptr_t) writes + 1 */
    zhashx_t *markers;          /* gid -> (uintptr_t) kind */
    s_op_t *head, *tail;        /* operations to run */
    s_op_t *whead, *wtail;      /* BEGINs waiting for a session */
    size_t nwait;
    size_t sessions;            /* sessions pinned by open transactions */
    bool down;
    bool need_connected;
    uint64_t committed_writes;
    uint64_t submitted[PART_RM_OP_COUNT];
    s_fault_t fault[PART_RM_OP_COUNT];
};

static void
s_op_free (s_op_t **op_p)
{
    s_op_t *op = *op_p;
    if (!op)
        return;
    for (size_t i = 0; i < op->nstmts; i++) {
        free (op->stmts[i].sql);
        for (size_t j = 0; j < op->stmts[i].nparams; j++)
            free (op->stmts[i].params[j]);
        free (op->stmts[i].params);
    }
    free (op->stmts);
    free (op);
    *op_p = NULL;
}

static void
s_txn_free (void **item_p)
{
    free (*item_p);
    *item_p = NULL;
}

static char *
s_strdup (const char *s)
{
    return s ? strdup (s) : NULL;
}

/*  Deep-copy the statements of REQ into OP; 0 or TPC_ENOMEM.             */
static int
s_copy_stmts (s_op_t *op, const part_rm_req_t *req)
{
    if (req->nstmts == 0)
        return 0;
    op->stmts = calloc (req->nstmts, sizeof *op->stmts);
    if (!op->stmts)
        return TPC_ENOMEM;
    op->nstmts = req->nstmts;
    for (size_t i = 0; i < req->nstmts; i++) {
        const tpc_stmt_t *src = &req->stmts[i];
        tpc_stmt_t *dst = &op->stmts[i];
        dst->sql = s_strdup (src->sql ? src->sql : "");
        if (!dst->sql)
            return TPC_ENOMEM;
        if (src->nparams) {
            dst->params = calloc (src->nparams, sizeof *dst->params);
            if (!dst->params)
                return TPC_ENOMEM;
            dst->nparams = src->nparams;
            for (size_t j = 0; j < src->nparams; j++)
                if (src->params[j] && !(dst->params[j] = strdup (src->params[j])))
                    return TPC_ENOMEM;
        }
    }
    return 0;
}

static uint64_t
s_sleep_ms (const s_op_t *op)
{
    uint64_t total = 0;
    for (size_t i = 0; i < op->nstmts; i++)
        if (strncmp (op->stmts[i].sql, "SLEEP ", 6) == 0)
            total += strtoull (op->stmts[i].sql + 6, NULL, 10);
    return total;
}

static void
s_append (s_op_t **head, s_op_t **tail, s_op_t *op)
{
    op->next = NULL;
    if (*tail)
        (*tail)->next = op;
    else
        *head = op;
    *tail = op;
}

static int
s_submit (void *self_, const part_rm_req_t *req, uint64_t now_ms)
{
    part_mem_t *self = self_;
    if ((unsigned) req->op >= PART_RM_OP_COUNT || req->op == PART_RM_CONNECTED)
        return TPC_EINVAL;
    if (req->op != PART_RM_RECOVER && tpc_gid_parse (req->gid, NULL) != 0)
        return TPC_EINVAL;
    s_op_t *op = calloc (1, sizeof *op);
    if (!op)
        return TPC_ENOMEM;
    op->req = req->req;
    op->op = req->op;
    op->keep_readonly = req->keep_readonly;
    if (req->gid)
        snprintf (op->gid, sizeof op->gid, "%s", req->gid);
    if ((req->op == PART_RM_EXEC || req->op == PART_RM_PREPARE
         || req->op == PART_RM_COMMIT_ONEPHASE)
        && s_copy_stmts (op, req) != 0) {
        s_op_free (&op);
        return TPC_ENOMEM;
    }
    op->due = now_ms + s_sleep_ms (op);
    self->submitted[req->op]++;
    s_append (&self->head, &self->tail, op);
    return 0;
}

static void
s_interrupt (void *self_, const char *gid)
{
    part_mem_t *self = self_;
    for (s_op_t *op = self->head; op; op = op->next)
        if (strcmp (op->gid, gid) == 0
            && (op->op == PART_RM_EXEC || op->op == PART_RM_BEGIN
                || (op->nstmts && (op->op == PART_RM_PREPARE
                                   || op->op == PART_RM_COMMIT_ONEPHASE)))) {
            op->interrupted = true;
            op->due = 0;
        }
    /* a BEGIN waiting for a session goes back to the run queue, failed */
    s_op_t **pp = &self->whead, *prev = NULL;
    while (*pp) {
        s_op_t *op = *pp;
        if (strcmp (op->gid, gid) == 0) {
            *pp = op->next;
            if (self->wtail == op)
                self->wtail = prev;
            self->nwait--;
            op->interrupted = true;
            op->due = 0;
            s_append (&self->head, &self->tail, op);
            continue;
        }
        prev = op;
        pp = &op->next;
    }
}

static size_t
s_pollfds (void *self, part_rm_pollfd_t *fds, size_t max)
{
    (void) self; (void) fds; (void) max;
    return 0;
}

/*  Operations that need no pinned session wait while the database is
 *  down; everything else fails fast.                                     */
static bool
s_waits_when_down (part_rm_op_t op)
{
    return op == PART_RM_COMMIT_PREPARED || op == PART_RM_ROLLBACK_PREPARED
           || op == PART_RM_OUTCOME_OF || op == PART_RM_TOMBSTONE
           || op == PART_RM_RECOVER;
}

static bool
s_runnable (const part_mem_t *self, const s_op_t *op, uint64_t now)
{
    if (op->crashed || op->interrupted)
        return true;
    if (self->down && s_waits_when_down (op->op))
        return false;
    return op->due <= now;
}

static int64_t
s_timeout (void *self_, uint64_t now_ms)
{
    part_mem_t *self = self_;
    if (self->need_connected && !self->down)
        return 0;
    int64_t best = -1;
    for (s_op_t *op = self->head; op; op = op->next) {
        if (s_runnable (self, op, now_ms))
            return 0;
        if (self->down && s_waits_when_down (op->op))
            continue;
        int64_t left = (int64_t) (op->due - now_ms);
        if (best < 0 || left < best)
            best = left;
    }
    return best;
}

/*  End the open transaction GID and give its session to the first BEGIN
 *  that waits for one.                                                   */
static void
s_release (part_mem_t *self, const char *gid)
{
    if (!zhashx_lookup (self->txns, gid))
        return;
    zhashx_delete (self->txns, gid);
    self->sessions--;
    if (self->whead) {
        s_op_t *op = self->whead;
        self->whead = op->next;
        if (!self->whead)
            self->wtail = NULL;
        self->nwait--;
        s_txn_t *txn = calloc (1, sizeof *txn);
        if (txn && zhashx_insert (self->txns, op->gid, txn) == 0) {
            self->sessions++;
            op->granted = true;
        }
        else
            free (txn);
        op->due = 0;
        s_append (&self->head, &self->tail, op);
    }
}

static char
s_marker (part_mem_t *self, const char *gid)
{
    return (char) (uintptr_t) zhashx_lookup (self->markers, gid);
}

static void
s_set_marker (part_mem_t *self, const char *gid, char kind)
{
    zhashx_update (self->markers, gid, (void *) (uintptr_t) kind);
}

typedef struct {
    part_rm_result_t res;
    char errbuf[256];
    const char *cells[1];
    const char *columns[1];
    const char **gids;
    bool queued;                /* BEGIN went to the session queue */
} s_out_t;

static void
s_fail (s_out_t *out, int status, const char *sqlstate, const char *error)
{
    out->res.status = status;
    snprintf (out->res.sqlstate, sizeof out->res.sqlstate, "%s",
              sqlstate ? sqlstate : "");
    snprintf (out->errbuf, sizeof out->errbuf, "%s", error);
    out->res.error = out->errbuf;
}

/*  Run the statements of OP in TXN.                                      */
static void
s_run_exec (part_mem_t *self, s_op_t *op, s_txn_t *txn, s_out_t *out)
{
    (void) self;
    if (txn->failed) {
        s_fail (out, TPC_EDB, "25P02", "current transaction is aborted, "
                "commands ignored until end of transaction block");
        return;
    }
    if (op->interrupted) {
        txn->failed = true;
        s_fail (out, TPC_EDB, "57014", "canceling statement due to user request");
        return;
    }
    for (size_t i = 0; i < op->nstmts; i++) {
        const tpc_stmt_t *st = &op->stmts[i];
        out->res.ncolumns = 0;
        out->res.nrows = 0;
        out->res.columns = NULL;
        out->res.cells = NULL;
        if (strncmp (st->sql, "FAIL", 4) == 0) {
            txn->failed = true;
            const char *msg = st->sql[4] == ' ' ? st->sql + 5 : "FAIL requested";
            s_fail (out, TPC_EDB, "P0001", msg);
            return;
        }
        if (strncmp (st->sql, "SLEEP ", 6) == 0) {
            out->res.affected = -1;
            continue;
        }
        if (strncmp (st->sql, "SELECT", 6) == 0) {
            out->columns[0] = "?column?";
            out->cells[0] = st->nparams ? st->params[0]
                            : st->sql[6] == ' ' ? st->sql + 7 : "";
            out->res.ncolumns = 1;
            out->res.columns = out->columns;
            out->res.nrows = 1;
            out->res.cells = out->cells;
            out->res.affected = 1;
            continue;
        }
        txn->writes++;
        out->res.affected = 1;
    }
}

/*  The effect of each operation (s_apply dispatches by s_appliers).  TXN
 *  is OP's open transaction, or NULL.  Each fills OUT.                   */
typedef void s_apply_fn (part_mem_t *self, s_op_t *op, s_txn_t *txn,
                         s_out_t *out);

/*  BEGIN: open a transaction on a free session, or queue for one.        */
static void
s_apply_begin (part_mem_t *self, s_op_t *op, s_txn_t *txn, s_out_t *out)
{
    if (op->granted)
        return;
    if (op->interrupted) {
        s_fail (out, TPC_EABORTED, NULL, "interrupted while waiting for a session");
        return;
    }
    if (self->down) {
        s_fail (out, TPC_ECONNECT, NULL, "database not connected");
        return;
    }
    if (txn) {
        s_fail (out, TPC_ESTATE, NULL, "transaction already open");
        return;
    }
    if (self->sessions >= self->pool) {
        if (self->nwait >= self->queue_max) {
            s_fail (out, TPC_EBUSY, NULL, "busy: every database session is taken");
            return;
        }
        out->queued = true;                 /* no completion yet */
        return;
    }
    txn = calloc (1, sizeof *txn);
    if (!txn || zhashx_insert (self->txns, op->gid, txn) != 0) {
        free (txn);
        s_fail (out, TPC_ENOMEM, NULL, "out of memory");
        return;
    }
    self->sessions++;
}

static void
s_apply_exec (part_mem_t *self, s_op_t *op, s_txn_t *txn, s_out_t *out)
{
    if (!txn) {
        s_fail (out, TPC_EUNKNOWN_GID, NULL, "no open transaction");
        return;
    }
    s_run_exec (self, op, txn, out);
}

/*  PREPARE and COMMIT_ONEPHASE: run the statements that rode along, then
 *  end the open transaction (prepared, committed, or read-only).         */
static void
s_apply_end (part_mem_t *self, s_op_t *op, s_txn_t *txn, s_out_t *out)
{
    if (!txn) {
        s_fail (out, TPC_EUNKNOWN_GID, NULL, "no open transaction");
        return;
    }
    if (op->nstmts && !txn->failed)
        s_run_exec (self, op, txn, out);    /* statements that rode along */
    if (out->res.status != 0) {
        s_release (self, op->gid);
        return;
    }
    out->res.ncolumns = out->res.nrows = 0;
    out->res.affected = -1;
    if (txn->failed) {
        s_fail (out, TPC_EDB, "25P02", "current transaction is aborted");
        s_release (self, op->gid);
        return;
    }
    if (txn->writes == 0 && !op->keep_readonly) {
        out->res.readonly = true;
        s_release (self, op->gid);
        return;
    }
    if (s_marker (self, op->gid) || zhashx_lookup (self->prepared, op->gid)) {
        s_fail (out, TPC_EDB, "23505", "duplicate key value violates "
                "unique constraint \"tpc_marker_pkey\"");
        s_release (self, op->gid);
        return;
    }
    if (op->op == PART_RM_PREPARE)
        zhashx_insert (self->prepared, op->gid,
                       (void *) (uintptr_t) (txn->writes + 1));
    else {
        s_set_marker (self, op->gid, 'C');
        self->committed_writes += txn->writes;
    }
    s_release (self, op->gid);
}

static void
s_apply_rollback (part_mem_t *self, s_op_t *op, s_txn_t *txn, s_out_t *out)
{
    (void) txn;
    (void) out;
    s_release (self, op->gid);
}

/*  COMMIT_PREPARED and ROLLBACK_PREPARED.                                */
static void
s_apply_finish (part_mem_t *self, s_op_t *op, s_txn_t *txn, s_out_t *out)
{
    (void) txn;
    uintptr_t w = (uintptr_t) zhashx_lookup (self->prepared, op->gid);
    if (!w) {
        char msg[160];
        snprintf (msg, sizeof msg, "prepared transaction with identifier "
                  "\"%s\" does not exist", op->gid);
        s_fail (out, TPC_ENOENT, "42704", msg);
        return;
    }
    zhashx_delete (self->prepared, op->gid);
    if (op->op == PART_RM_COMMIT_PREPARED) {
        s_set_marker (self, op->gid, 'C');
        self->committed_writes += w - 1;
    }
}

static void
s_apply_outcome_of (part_mem_t *self, s_op_t *op, s_txn_t *txn,
                    s_out_t *out)
{
    (void) txn;
    out->res.outcome = zhashx_lookup (self->prepared, op->gid)
                       ? TPC_OUTCOME_IN_PROGRESS
                       : s_marker (self, op->gid) == 'C'
                       ? TPC_OUTCOME_COMMITTED : TPC_OUTCOME_ABORTED;
}

static void
s_apply_tombstone (part_mem_t *self, s_op_t *op, s_txn_t *txn,
                   s_out_t *out)
{
    (void) txn;
    if (zhashx_lookup (self->prepared, op->gid)) {
        s_fail (out, TPC_EDB, "55P03", "canceling statement due to lock timeout");
        return;
    }
    if (!s_marker (self, op->gid))
        s_set_marker (self, op->gid, 'T');
    out->res.outcome = s_marker (self, op->gid) == 'C'
                       ? TPC_OUTCOME_COMMITTED : TPC_OUTCOME_ABORTED;
}

/*  RECOVER: the gids of the prepared transactions.                       */
static void
s_apply_recover (part_mem_t *self, s_op_t *op, s_txn_t *txn, s_out_t *out)
{
    (void) op;
    (void) txn;
    size_t n = zhashx_size (self->prepared), i = 0;
    out->gids = calloc (n + 1, sizeof *out->gids);
    if (!out->gids) {
        s_fail (out, TPC_ENOMEM, NULL, "out of memory");
        return;
    }
    for (void *it = zhashx_first (self->prepared); it;
         it = zhashx_next (self->prepared))
        out->gids[i++] = zhashx_cursor (self->prepared);
    out->res.ngids = i;
    out->res.gids = out->gids;
}

static s_apply_fn *const s_appliers[PART_RM_OP_COUNT] = {
    [PART_RM_BEGIN] = s_apply_begin,
    [PART_RM_EXEC] = s_apply_exec,
    [PART_RM_PREPARE] = s_apply_end,
    [PART_RM_COMMIT_ONEPHASE] = s_apply_end,
    [PART_RM_ROLLBACK] = s_apply_rollback,
    [PART_RM_COMMIT_PREPARED] = s_apply_finish,
    [PART_RM_ROLLBACK_PREPARED] = s_apply_finish,
    [PART_RM_OUTCOME_OF] = s_apply_outcome_of,
    [PART_RM_TOMBSTONE] = s_apply_tombstone,
    [PART_RM_RECOVER] = s_apply_recover,
};

/*  Apply OP's effect; fill OUT.                                          */
static void
s_apply (part_mem_t *self, s_op_t *op, s_out_t *out)
{
    s_txn_t *txn = op->op == PART_RM_RECOVER ? NULL
                   : zhashx_lookup (self->txns, op->gid);
    s_apply_fn *fn = (unsigned) op->op < PART_RM_OP_COUNT
                     ? s_appliers[op->op] : NULL;
    if (fn)
        fn (self, op, txn, out);
    else
        s_fail (out, TPC_EINVAL, NULL, "bad operation");
}

/*  A pinned operation whose session died: the open transaction is lost. */
static void
s_lose (part_mem_t *self, s_op_t *op, s_out_t *out)
{
    if (op->op == PART_RM_ROLLBACK) {
        s_release (self, op->gid);
        return;
    }
    if (op->op == PART_RM_EXEC || op->op == PART_RM_PREPARE
        || op->op == PART_RM_COMMIT_ONEPHASE || op->op == PART_RM_BEGIN)
        s_release (self, op->gid);
    s_fail (out, TPC_ECONNECT, "08006", "server closed the connection unexpectedly");
}

/*  Report the injected failure for OP (see part_mem_fail_next).  A lost
 *  session loses the open transaction; a database error on a statement
 *  leaves it in error; on PREPARE/COMMIT it rolls the transaction back.  */
static void
s_inject (part_mem_t *self, s_op_t *op, s_out_t *out)
{
    s_fault_t *f = &self->fault[op->op];
    f->set = false;
    if (f->status == TPC_ECONNECT)
        s_lose (self, op, out);
    else if (op->op == PART_RM_EXEC) {
        s_txn_t *txn = zhashx_lookup (self->txns, op->gid);
        if (txn)
            txn->failed = true;
    }
    else if (op->op == PART_RM_PREPARE || op->op == PART_RM_COMMIT_ONEPHASE)
        s_release (self, op->gid);
    s_fail (out, f->status, f->status != TPC_EDB ? NULL
            : *f->sqlstate ? f->sqlstate : "XX000",
            f->error ? f->error : "injected failure");
    out->res.readonly = false;
}

static void
s_process (void *self_, uint64_t now_ms, part_rm_emit_fn *emit, void *arg)
{
    part_mem_t *self = self_;
    if (self->need_connected && !self->down) {
        self->need_connected = false;
        part_rm_result_t ev = { .op = PART_RM_CONNECTED, .affected = -1 };
        emit (arg, &ev);
    }
    for (;;) {
        s_op_t **pp = &self->head, *prev = NULL;
        while (*pp && !s_runnable (self, *pp, now_ms)) {
            prev = *pp;
            pp = &(*pp)->next;
        }
        s_op_t *op = *pp;
        if (!op)
            break;
        *pp = op->next;
        if (self->tail == op)
            self->tail = prev;
        op->next = NULL;

        s_out_t out;
        memset (&out, 0, sizeof out);
        out.res.req = op->req;
        out.res.op = op->op;
        out.res.gid = op->op == PART_RM_RECOVER ? NULL : op->gid;
        out.res.affected = -1;
        s_fault_t *f = &self->fault[op->op];
        if (op->crashed)
            s_lose (self, op, &out);
        else if (f->set && !f->after_effect)
            s_inject (self, op, &out);
        else {
            s_apply (self, op, &out);
            if (out.queued) {                   /* BEGIN now waits */
                s_append (&self->whead, &self->wtail, op);
                self->nwait++;
                continue;
            }
            if (f->set && out.res.status == 0)
                s_inject (self, op, &out);
        }
        if (out.res.status != 0)
            out.res.ncolumns = out.res.nrows = 0;
        emit (arg, &out.res);
        free (out.gids);
        s_op_free (&op);
    }
}

part_mem_t *
part_mem_new (const part_mem_config_t *config)
{
    part_mem_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->pool = config && config->pool ? config->pool : 8;
    self->queue_max = config && config->queue_max ? config->queue_max : 1024;
    self->txns = zhashx_new ();
    self->prepared = zhashx_new ();
    self->markers = zhashx_new ();
    if (!self->txns || !self->prepared || !self->markers) {
        part_mem_destroy (&self);
        return NULL;
    }
    zhashx_set_destructor (self->txns, s_txn_free);
    self->need_connected = true;
    self->rm.name = "mem";
    self->rm.self = self;
    self->rm.submit = s_submit;
    self->rm.interrupt = s_interrupt;
    self->rm.pollfds = s_pollfds;
    self->rm.timeout = s_timeout;
    self->rm.process = s_process;
    return self;
}

void
part_mem_destroy (part_mem_t **self_p)
{
    part_mem_t *self = *self_p;
    if (!self)
        return;
    while (self->head) {
        s_op_t *op = self->head;
        self->head = op->next;
        s_op_free (&op);
    }
    while (self->whead) {
        s_op_t *op = self->whead;
        self->whead = op->next;
        s_op_free (&op);
    }
    for (int i = 0; i < PART_RM_OP_COUNT; i++)
        free (self->fault[i].error);
    zhashx_destroy (&self->txns);
    zhashx_destroy (&self->prepared);
    zhashx_destroy (&self->markers);
    free (self);
    *self_p = NULL;
}

const part_rm_t *
part_mem_rm (part_mem_t *self)
{
    return &self->rm;
}

void
part_mem_crash (part_mem_t *self)
{
    zhashx_purge (self->txns);
    self->sessions = 0;
    for (s_op_t *op = self->head; op; op = op->next)
        op->crashed = true;
    while (self->whead) {
        s_op_t *op = self->whead;
        self->whead = op->next;
        op->crashed = true;
        s_append (&self->head, &self->tail, op);
    }
    self->wtail = NULL;
    self->nwait = 0;
    self->down = true;
}

void
part_mem_set_down (part_mem_t *self, bool down)
{
    if (self->down && !down)
        self->need_connected = true;
    self->down = down;
}

void
part_mem_reconnect (part_mem_t *self)
{
    bool down = self->down;
    part_mem_crash (self);
    self->down = down;
    self->need_connected = true;
}

void
part_mem_fail_next (part_mem_t *self, part_rm_op_t op, int status,
                    const char *error, bool after_effect)
{
    assert ((unsigned) op < PART_RM_OP_COUNT);
    s_fault_t *f = &self->fault[op];
    free (f->error);
    f->error = s_strdup (error);
    f->status = status;
    f->after_effect = after_effect;
    f->sqlstate[0] = '\0';
    f->set = true;
}

void
part_mem_fail_sqlstate (part_mem_t *self, part_rm_op_t op,
                        const char *sqlstate)
{
    assert ((unsigned) op < PART_RM_OP_COUNT);
    snprintf (self->fault[op].sqlstate, sizeof self->fault[op].sqlstate,
              "%s", sqlstate ? sqlstate : "");
}

int
part_mem_add_prepared (part_mem_t *self, const char *gid)
{
    if (tpc_gid_parse (gid, NULL) != 0)
        return TPC_EINVAL;
    return zhashx_insert (self->prepared, gid, (void *) (uintptr_t) 2) == 0
           ? 0 : TPC_EEXIST;
}

bool
part_mem_is_open (part_mem_t *self, const char *gid)
{
    return zhashx_lookup (self->txns, gid) != NULL;
}

bool
part_mem_is_prepared (part_mem_t *self, const char *gid)
{
    return zhashx_lookup (self->prepared, gid) != NULL;
}

char
part_mem_marker (part_mem_t *self, const char *gid)
{
    return s_marker (self, gid);
}

size_t
part_mem_prepared_count (part_mem_t *self)
{
    return zhashx_size (self->prepared);
}

size_t
part_mem_open_count (part_mem_t *self)
{
    return zhashx_size (self->txns);
}

uint64_t
part_mem_committed_writes (part_mem_t *self)
{
    return self->committed_writes;
}

uint64_t
part_mem_submitted (part_mem_t *self, part_rm_op_t op)
{
    return (unsigned) op < PART_RM_OP_COUNT ? self->submitted[op] : 0;
}
