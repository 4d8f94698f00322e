/*  coord_txn: the coordinator engine's bookkeeping (one engine over several
 *  files sharing coord_engine_int.h; the state diagram is in
 *  coord_engine.c).  Here: the action queue the shell drains and the
 *  helpers that fill it (log lines, client replies, agent messages,
 *  appends), the transaction table with its participants and owners, the
 *  timer heap (one wake time per transaction, from its state), the
 *  bounded cache of ended transactions, and how a gid looks from outside
 *  (ce_view: what status and queries answer).  Nothing here decides.
 */
#include "coord_engine_int.h"

/*  Copy the string SRC into DST of SIZE bytes, cut to fit (several per
 *  transaction: snprintf's cost showed in the profile).                  */
static void
s_copy (char *dst, size_t size, const char *src)
{
    size_t n = strnlen (src, size - 1);
    memcpy (dst, src, n);
    dst[n] = '\0';
}

const char *const ce_state_names[] = {
    "active", "preparing", "onephase", "committing", "aborting",
    "precommitting"
};

void
ce_push (coord_engine_t *self, coord_action_t *act)
{
    if (self->qhead + self->qn == self->qcap) {
        if (self->qhead > 0) {
            memmove (self->q, self->q + self->qhead,
                     self->qn * sizeof *self->q);
            self->qhead = 0;
        }
        else {
            size_t cap = self->qcap ? self->qcap * 2 : 64;
            coord_action_t *q = realloc (self->q, cap * sizeof *q);
            if (!q) {
                self->err = TPC_ENOMEM;
                coord_action_clear (act);
                return;
            }
            self->q = q;
            self->qcap = cap;
        }
    }
    self->q[self->qhead + self->qn++] = *act;
}

void
ce_log (coord_engine_t *self, int level, const char *fmt, ...)
{
    if (level == 0 && !self->cfg.verbose)
        return;                 /* nobody would print it: do not format it */
    coord_action_t act = { .type = COORD_ACT_LOG, .level = level };
    va_list ap;
    va_start (ap, fmt);
    if (vasprintf (&act.text, fmt, ap) < 0) {
        act.text = NULL;
        self->err = TPC_ENOMEM;
    }
    va_end (ap);
    if (act.text)
        ce_push (self, &act);
}

tpc_msg_t *
ce_msg (coord_engine_t *self, tpc_msg_type_t type)
{
    tpc_msg_t *msg = tpc_msg_new (type);
    if (!msg)
        self->err = TPC_ENOMEM;
    return msg;
}

/*  Keep a helper's non-zero result RC (an allocation failure) as the
 *  event's sticky error.                                                  */
void
ce_keep_err (coord_engine_t *self, int rc)
{
    if (rc)
        self->err = rc;
}

/*  Queue MSG (taken) for the client ID/LEN.                              */
void
ce_to_client (coord_engine_t *self, const uint8_t *id, size_t len,
              tpc_msg_t *msg)
{
    if (!msg)
        return;
    coord_action_t act = { .type = COORD_ACT_CLIENT, .msg = msg };
    act.client = malloc (len ? len : 1);
    if (!act.client) {
        self->err = TPC_ENOMEM;
        tpc_msg_destroy (&msg);
        return;
    }
    memcpy (act.client, id, len);
    act.client_len = len;
    ce_push (self, &act);
}

void
ce_to_agent (coord_engine_t *self, const char *name, tpc_msg_t *msg)
{
    if (!msg)
        return;
    coord_action_t act = { .type = COORD_ACT_AGENT, .msg = msg };
    s_copy (act.agent, sizeof act.agent, name);
    ce_push (self, &act);
}

/*  Queue an append of REC (taken); returns the ticket if FORCED.         */
uint64_t
ce_append (coord_engine_t *self, tpc_record_t *rec, bool forced)
{
    coord_action_t act = { .type = COORD_ACT_APPEND, .rec = rec,
                           .forced = forced };
    if (forced)
        act.ticket = ++self->tickets;
    ce_push (self, &act);
    return act.ticket;
}

void
ce_reply_error (coord_engine_t *self, const uint8_t *id, size_t len,
                uint64_t rid, int code, const char *gid, const char *fmt, ...)
{
    tpc_msg_t *msg = ce_msg (self, TPC_MSG_ERROR);
    if (!msg)
        return;
    msg->rid = rid;
    msg->code = code;
    va_list ap;
    va_start (ap, fmt);
    char *text = NULL;
    if (vasprintf (&text, fmt, ap) < 0)
        text = NULL;
    va_end (ap);
    if (!text || tpc_msg_set_str (&msg->message, text)
        || (gid && tpc_msg_set_str (&msg->gid, gid))) {
        self->err = TPC_ENOMEM;
        free (text);
        tpc_msg_destroy (&msg);
        return;
    }
    free (text);
    ce_to_client (self, id, len, msg);
}

void
ce_reply_outcome (coord_engine_t *self, const uint8_t *id, size_t len,
                  uint64_t rid, const char *gid, tpc_outcome_t outcome,
                  const char *reason)
{
    tpc_msg_t *msg = ce_msg (self, TPC_MSG_OUTCOME);
    if (!msg)
        return;
    msg->rid = rid;
    msg->outcome = outcome;
    if (tpc_msg_set_str (&msg->gid, gid)
        || (reason && tpc_msg_set_str (&msg->reason, reason))) {
        self->err = TPC_ENOMEM;
        tpc_msg_destroy (&msg);
        return;
    }
    ce_to_client (self, id, len, msg);
}

/*  A txstatus reply: GID's STATE and OUTCOME, and why (REASON, NULL =
 *  none).                                                                */
void
ce_reply_status (coord_engine_t *self, const uint8_t *id, size_t len,
                 uint64_t rid, const char *gid, const char *state,
                 tpc_outcome_t outcome, const char *reason)
{
    tpc_msg_t *msg = ce_msg (self, TPC_MSG_TXSTATUS);
    if (!msg)
        return;
    msg->rid = rid;
    msg->outcome = outcome;
    if (tpc_msg_set_str (&msg->gid, gid)
        || tpc_msg_set_str (&msg->state, state)
        || (reason && *reason && tpc_msg_set_str (&msg->reason, reason))) {
        self->err = TPC_ENOMEM;
        tpc_msg_destroy (&msg);
        return;
    }
    ce_to_client (self, id, len, msg);
}

/* ---------------------------------------------------------------------
 *  Requests kept in a transaction (a client's routing id and rid)
 */

void
ce_req_clear (ce_req_t *req)
{
    free (req->id);
    memset (req, 0, sizeof *req);
}

void
ce_req_set (coord_engine_t *self, ce_req_t *req, const void *id, size_t len,
            uint64_t rid)
{
    ce_req_clear (req);
    req->id = malloc (len ? len : 1);
    if (!req->id) {
        self->err = TPC_ENOMEM;
        return;
    }
    memcpy (req->id, id, len);
    req->len = len;
    req->rid = rid;
    req->set = true;
}

/*  Reply the final OUTCOME to the pending commit/submit, if any.         */
void
ce_answer_done (coord_engine_t *self, ce_txn_t *t, tpc_outcome_t outcome,
                const char *reason)
{
    if (t->done.set) {
        ce_reply_outcome (self, t->done.id, t->done.len, t->done.rid, t->gid,
                          outcome, reason);
        ce_req_clear (&t->done);
        t->replied = true;
    }
}

/* ---------------------------------------------------------------------
 *  Agents
 */

bool
ce_name_valid (const char *name)
{
    return name && tpc_name_valid (name, strlen (name), TPC_RECORD_NAME_MAX);
}

bool
ce_agent_connected (coord_engine_t *self, const char *name)
{
    ce_agent_t *a = zhashx_lookup (self->agents, name);
    return a && a->connected;
}

void
ce_agent_destroy (void **item)
{
    ce_agent_t *a = *item;
    if (a) {
        free (a->peer);
        free (a->owed);
        tpc_strv_free (&a->prepared, a->nprepared);
        a->nprepared = 0;
    }
    free (a);
    *item = NULL;
}

/* ---------------------------------------------------------------------
 *  Timer heap (min-heap on txn->wake, index kept in txn->heap_idx)
 */

static void
s_heap_swap (coord_engine_t *self, size_t a, size_t b)
{
    ce_txn_t *t = self->heap[a];
    self->heap[a] = self->heap[b];
    self->heap[b] = t;
    self->heap[a]->heap_idx = a;
    self->heap[b]->heap_idx = b;
}

static void
s_heap_up (coord_engine_t *self, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (self->heap[p]->wake <= self->heap[i]->wake)
            break;
        s_heap_swap (self, p, i);
        i = p;
    }
}

static void
s_heap_down (coord_engine_t *self, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < self->heap_n && self->heap[l]->wake < self->heap[m]->wake)
            m = l;
        if (r < self->heap_n && self->heap[r]->wake < self->heap[m]->wake)
            m = r;
        if (m == i)
            break;
        s_heap_swap (self, i, m);
        i = m;
    }
}

void
ce_heap_remove (coord_engine_t *self, ce_txn_t *t)
{
    size_t i = t->heap_idx;
    if (i == SIZE_MAX)
        return;
    t->heap_idx = SIZE_MAX;
    self->heap_n--;
    if (i == self->heap_n)
        return;
    self->heap[i] = self->heap[self->heap_n];
    self->heap[i]->heap_idx = i;
    s_heap_up (self, i);
    s_heap_down (self, self->heap[i]->heap_idx);
}

static void
s_heap_set (coord_engine_t *self, ce_txn_t *t, uint64_t wake)
{
    if (wake == COORD_NEVER) {
        ce_heap_remove (self, t);
        t->wake = wake;
        return;
    }
    if (t->heap_idx == SIZE_MAX) {
        if (self->heap_n == self->heap_cap) {
            size_t cap = self->heap_cap ? self->heap_cap * 2 : 256;
            ce_txn_t **h = realloc (self->heap, cap * sizeof *h);
            if (!h) {
                self->err = TPC_ENOMEM;
                return;
            }
            self->heap = h;
            self->heap_cap = cap;
        }
        t->wake = wake;
        t->heap_idx = self->heap_n;
        self->heap[self->heap_n++] = t;
        s_heap_up (self, t->heap_idx);
        return;
    }
    uint64_t old = t->wake;
    t->wake = wake;
    if (wake < old)
        s_heap_up (self, t->heap_idx);
    else
        s_heap_down (self, t->heap_idx);
}

/*  The next time T needs attention, from its state.                      */
static uint64_t
s_wake_of (coord_engine_t *self, const ce_txn_t *t)
{
    uint64_t w = COORD_NEVER;
    switch (t->state) {
    case CE_ACTIVE:
        w = t->deadline;
        break;
    case CE_PREPARING:
        w = CE_MIN (t->deadline, t->vote_deadline);
        break;
    case CE_ONEPHASE:
        w = t->outcome_unknown ? t->linger_until : t->vote_deadline;
        break;
    case CE_COMMITTING:
        if (!t->durable)
            break;
        if (t->nunacked > 0)
            w = t->resend_at;
        if (t->done.set && !t->replied
            && self->cfg.reply_on == COORD_REPLY_ON_APPLIED)
            w = CE_MIN (w, t->ack_wait_until);
        break;
    case CE_ABORTING:
        if (t->nunacked > 0 && !t->lingered)
            w = CE_MIN (t->resend_at, t->linger_until);
        if (t->client_open)
            w = CE_MIN (w, t->deadline);
        break;
    case CE_PRECOMMITTING:
        if (t->pc_durable && t->nunacked > 0)
            w = t->resend_at;       /* no deadline: never a timeout here */
        break;
    }
    return w;
}

void
ce_reschedule (coord_engine_t *self, ce_txn_t *t)
{
    s_heap_set (self, t, s_wake_of (self, t));
}

/* ---------------------------------------------------------------------
 *  Cache of ended transactions
 */

void
ce_remember (coord_engine_t *self, const char *gid, ce_end_t end)
{
    void *item = (void *) (uintptr_t) end;
    if (zhashx_lookup (self->ended, gid)) {
        zhashx_update (self->ended, gid, item);
        return;
    }
    size_t cap = self->cfg.ended_cache;
    if (self->ring_n == cap) {
        zhashx_delete (self->ended, self->ring[self->ring_head]);
        self->ring_head = (self->ring_head + 1) % cap;
        self->ring_n--;
    }
    size_t slot = (self->ring_head + self->ring_n) % cap;
    s_copy (self->ring[slot], TPC_GID_MAX, gid);
    self->ring_n++;
    zhashx_insert (self->ended, gid, item);
}

ce_end_t
ce_recall (coord_engine_t *self, const char *gid)
{
    return (ce_end_t) (uintptr_t) zhashx_lookup (self->ended, gid);
}

/* ---------------------------------------------------------------------
 *  Transactions
 */

void
ce_txn_free (ce_txn_t **t_p)
{
    ce_txn_t *t = *t_p;
    if (!t)
        return;
    ce_req_clear (&t->exec);
    ce_req_clear (&t->done);
    free (t->parts);
    free (t->reason);
    free (t->owner);
    free (t);
    *t_p = NULL;
}

ce_txn_t *
ce_txn_lookup (coord_engine_t *self, const char *gid)
{
    return gid ? zhashx_lookup (self->txns, gid) : NULL;
}

/*  Insert a new transaction for GID in STATE (no heap entry yet).        */
ce_txn_t *
ce_txn_add (coord_engine_t *self, const char *gid, ce_state_t state)
{
    tpc_gid_t g;
    if (tpc_gid_parse (gid, &g))
        return NULL;
    ce_txn_t *t = calloc (1, sizeof *t);
    if (!t) {
        self->err = TPC_ENOMEM;
        return NULL;
    }
    s_copy (t->gid, sizeof t->gid, gid);
    t->epoch = g.epoch;
    t->seq = g.seq;
    t->state = state;
    t->heap_idx = SIZE_MAX;
    t->wake = COORD_NEVER;
    t->exec_part = SIZE_MAX;
    if (zhashx_insert (self->txns, t->gid, t) != 0) {
        free (t);
        return NULL;
    }
    return t;
}

/*  Does anything the coordinator holds name GID already (a live or
 *  ended transaction, an operator's resolve, one being written)?         */
static bool
s_gid_taken (coord_engine_t *self, const char *gid)
{
    if (zhashx_lookup (self->txns, gid) || ce_recall (self, gid)
        || zhashx_lookup (self->heuristics, gid))
        return true;
    for (size_t i = 0; i < self->nresolving; i++)
        if (!strcmp (self->resolving[i].gid, gid))
            return true;
    return false;
}

/*  A new transaction of this boot, with a fresh gid: a sequence number
 *  whose gid some record already names is skipped, so a new transaction
 *  never inherits an outcome (say a resolve a log from before the check
 *  in ce_on_resolve still holds for a gid not issued then).               */
ce_txn_t *
ce_txn_begin (coord_engine_t *self, uint64_t timeout_ms, uint64_t now)
{
    tpc_gid_t g;
    memset (&g, 0, sizeof g);
    s_copy (g.coord, sizeof g.coord, self->coord_id);
    g.epoch = self->epoch;
    g.seq = self->seq + 1;
    char gid[TPC_GID_MAX];
    for (;;) {
        if (g.seq == 0 || tpc_gid_format (&g, gid, sizeof gid))
            return NULL;
        if (!s_gid_taken (self, gid))
            break;
        ce_log (self, 1, "%s is named by a record already: not issued, "
                "skipped", gid);
        g.seq++;
    }
    ce_txn_t *t = ce_txn_add (self, gid, CE_ACTIVE);
    if (!t)
        return NULL;
    self->seq = g.seq;
    t->created = now;
    t->deadline = now + (timeout_ms ? timeout_ms : self->cfg.txn_timeout_ms);
    return t;
}

ce_member_t *
ce_member_find (ce_txn_t *t, const char *name, size_t *idx)
{
    for (size_t i = 0; i < t->nparts; i++)
        if (strcmp (t->parts[i].name, name) == 0) {
            if (idx)
                *idx = i;
            return &t->parts[i];
        }
    return NULL;
}

ce_member_t *
ce_member_add (coord_engine_t *self, ce_txn_t *t, const char *name)
{
    if (t->nparts == t->capparts) {
        size_t cap = t->capparts ? t->capparts * 2 : 2;
        ce_member_t *p = realloc (t->parts, cap * sizeof *p);
        if (!p) {
            self->err = TPC_ENOMEM;
            return NULL;
        }
        t->parts = p;
        t->capparts = cap;
    }
    ce_member_t *p = &t->parts[t->nparts++];
    memset (p, 0, sizeof *p);
    s_copy (p->name, sizeof p->name, name);
    return p;
}

void
ce_set_reason (coord_engine_t *self, ce_txn_t *t, const char *fmt, ...)
{
    free (t->reason);
    t->reason = NULL;
    va_list ap;
    va_start (ap, fmt);
    if (vasprintf (&t->reason, fmt, ap) < 0) {
        t->reason = NULL;
        self->err = TPC_ENOMEM;
    }
    va_end (ap);
}

static size_t
s_nacked (const ce_txn_t *t, size_t *nphase2)
{
    size_t n = 0, acked = 0;
    for (size_t i = 0; i < t->nparts; i++)
        if (t->parts[i].phase2) {
            n++;
            acked += t->parts[i].acked;
        }
    if (nphase2)
        *nphase2 = n;
    return acked;
}

/*  T counts in OWNER's budget of live transactions (NULL: nobody's).     */
void
ce_owner_take (coord_engine_t *self, ce_txn_t *t, const char *owner)
{
    if (!owner)
        return;
    t->owner = strdup (owner);
    if (!t->owner) {
        self->err = TPC_ENOMEM;
        return;
    }
    uintptr_t n = (uintptr_t) zhashx_lookup (self->owners, owner);
    if (n)
        zhashx_update (self->owners, owner, (void *) (n + 1));
    else
        zhashx_insert (self->owners, owner, (void *) (uintptr_t) 1);
}

static void
s_owner_release (coord_engine_t *self, ce_txn_t *t)
{
    if (!t->owner)
        return;
    uintptr_t n = (uintptr_t) zhashx_lookup (self->owners, t->owner);
    if (n > 1)
        zhashx_update (self->owners, t->owner, (void *) (n - 1));
    else
        zhashx_delete (self->owners, t->owner);
}

/*  Remove T from everything and free it; END is what status will say.   */
void
ce_forget (coord_engine_t *self, ce_txn_t *t, ce_end_t end)
{
    coord_action_t act = { .type = COORD_ACT_ENDED };
    s_copy (act.gid, sizeof act.gid, t->gid);
    act.outcome = end == CE_END_COMMITTED ? TPC_OUTCOME_COMMITTED
                : end == CE_END_ABORTED ? TPC_OUTCOME_ABORTED
                : TPC_OUTCOME_IN_PROGRESS;
    act.nacked = s_nacked (t, &act.nparts);
    uint64_t now = self->now;
    act.age_ms = now > t->created ? now - t->created : 0;
    act.prepare_ms = act.precommit_ms = act.decide_ms = act.commit_ms
        = COORD_NEVER;
    if (t->prepare_at) {
        uint64_t to = t->voted_at ? t->voted_at : now;
        if (t->voted_at || t->state == CE_ONEPHASE)
            act.prepare_ms = to > t->prepare_at ? to - t->prepare_at : 0;
    }
    if (t->voted_at && t->decided_at)
        act.precommit_ms = t->decided_at - t->voted_at;
    uint64_t decided = t->decided_at ? t->decided_at : t->voted_at;
    if (decided && t->durable_at)
        act.decide_ms = t->durable_at - decided;
    if (t->durable_at && end == CE_END_COMMITTED)
        act.commit_ms = now > t->durable_at ? now - t->durable_at : 0;
    if (self->started) {
        if (t->reason && end != CE_END_COMMITTED)   /* the console */
            act.text = strdup (t->reason);
        size_t len = 1;
        for (size_t i = 0; i < t->nparts; i++)
            len += strlen (t->parts[i].name) + 1;
        if ((act.parts = malloc (len))) {
            char *p = act.parts;
            *p = '\0';
            for (size_t i = 0; i < t->nparts; i++)
                p += sprintf (p, "%s%s", i ? "," : "", t->parts[i].name);
        }
        ce_push (self, &act);
        self->n_committed += end == CE_END_COMMITTED;
        self->n_aborted += end == CE_END_ABORTED;
    }
    s_owner_release (self, t);
    if (t->state == CE_COMMITTING)
        self->committing--;
    if (t->state == CE_PRECOMMITTING)
        self->precommitting--;
    ce_heap_remove (self, t);
    assert (!t->dnext && self->dtail != t);
    zhashx_delete (self->txns, t->gid);
    ce_remember (self, t->gid, end);
    ce_txn_free (&t);
}

/* ---------------------------------------------------------------------
 *  Outcomes as seen from outside (status, query)
 */

ce_view_t
ce_view (coord_engine_t *self, const char *gid)
{
    ce_view_t v = { "unknown", TPC_OUTCOME_ABORTED, TPC_OUTCOME_ABORTED,
                   false };
    ce_txn_t *t = ce_txn_lookup (self, gid);
    if (t) {
        v.state = ce_state_names[t->state];
        v.outcome = TPC_OUTCOME_IN_PROGRESS;
        if (t->state == CE_COMMITTING && t->durable)
            v.outcome = TPC_OUTCOME_COMMITTED;
        else if (t->state == CE_ABORTING)
            v.outcome = TPC_OUTCOME_ABORTED;
        v.answer = v.outcome;
        return v;
    }
    /* a logged outcome wins over an operator's: a heuristic never
     * contradicts a commit or abort the coordinator decided (resolve
     * refuses that, replay drops such a heuristic) */
    ce_end_t end = ce_recall (self, gid);
    ce_heur_t *h = zhashx_lookup (self->heuristics, gid);
    if (h && ((end == CE_END_COMMITTED && h->outcome != TPC_OUTCOME_COMMITTED)
              || (end == CE_END_ABORTED && h->outcome != TPC_OUTCOME_ABORTED)))
        h = NULL;
    if (h) {
        v.state = "heuristic";
        v.outcome = v.answer = h->outcome;
        return v;
    }
    switch (end) {
    case CE_END_COMMITTED:
        v.state = "ended";
        v.outcome = v.answer = TPC_OUTCOME_COMMITTED;
        return v;
    case CE_END_ABORTED:
        v.state = "ended";
        return v;
    case CE_END_UNKNOWN:
        /* one-phase with no ack: nothing is prepared anywhere, so an
         * agent may roll back; a client is told the truth: not known */
        v.state = "in_doubt";
        v.outcome = TPC_OUTCOME_IN_PROGRESS;
        return v;
    }
    tpc_gid_t g;
    if (tpc_gid_parse (gid, &g) || strcmp (g.coord, self->coord_id)) {
        v.foreign = true;
        v.outcome = v.answer = TPC_OUTCOME_IN_PROGRESS;
    }
    else if (!self->started || g.epoch > self->epoch
             || (g.epoch == self->epoch && g.seq > self->seq)) {
        /* not issued by this boot yet: the log must have lost it; do not
         * presume anything */
        v.outcome = v.answer = TPC_OUTCOME_IN_PROGRESS;
    }
    return v;
}

/*  Is GID this coordinator's, of an earlier boot, with no record (view
 *  "unknown")?  Its presumed abort is checked with the other agents
 *  first (ce_ask_start): nothing answers it "aborted" outright.          */
bool
ce_earlier_unknown (coord_engine_t *self, const char *gid)
{
    tpc_gid_t g;
    return self->started && !tpc_gid_parse (gid, &g)
           && !strcmp (g.coord, self->coord_id) && g.epoch < self->epoch
           && !strcmp (ce_view (self, gid).state, "unknown");
}

static int
s_txn_cmp (const void *a, const void *b)
{
    const ce_txn_t *x = *(ce_txn_t *const *) a, *y = *(ce_txn_t *const *) b;
    if (x->epoch != y->epoch)
        return x->epoch < y->epoch ? -1 : 1;
    if (x->seq != y->seq)
        return x->seq < y->seq ? -1 : 1;
    return strcmp (x->gid, y->gid);
}

/*  Live transactions sorted by gid order (caller frees), or NULL.        */
ce_txn_t **
ce_sorted (coord_engine_t *self, size_t *n)
{
    size_t cap = zhashx_size (self->txns);
    ce_txn_t **v = malloc ((cap ? cap : 1) * sizeof *v);
    *n = 0;
    if (!v) {
        self->err = TPC_ENOMEM;
        return NULL;
    }
    for (ce_txn_t *t = zhashx_first (self->txns); t;
         t = zhashx_next (self->txns))
        v[(*n)++] = t;
    qsort (v, *n, sizeof *v, s_txn_cmp);
    return v;
}
