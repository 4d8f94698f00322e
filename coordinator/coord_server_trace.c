/*  coord_server_trace.c: the coordinator's marks in the per-stage latency
 *  trace (tpc_trace.h; --trace-file, --trace-sample).  The engine stays
 *  pure: the loop calls these around it.  The gid of a submit is made by
 *  the engine, so the time the request was read is kept (trace_in) and
 *  written when its first work leaves; likewise the time the sync thread
 *  said "durable" (trace_durable) is written when the decides it released
 *  leave.  Both are 0 outside the s_perform they belong to.  A message
 *  is marked sent just before it is handed to ZeroMQ: its receiver may
 *  read it before the send call returns.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "coord_server_int.h"

int
cs_trace_open (coord_server_t *self, char *errbuf, size_t errlen)
{
    if (!self->cfg.trace_file)
        return 0;
    self->trace = tpc_trace_new (self->cfg.trace_file, self->cfg.trace_sample);
    if (self->trace)
        return 0;
    snprintf (errbuf, errlen, "--trace-file %s: %s", self->cfg.trace_file,
              strerror (errno));
    return -1;
}

void
cs_trace_in (coord_server_t *self, const tpc_msg_t *msg, bool client)
{
    if (!self->trace)
        return;
    if (client)
        self->trace_in = tpc_trace_now (self->trace);
    else if (msg->type == TPC_MSG_VOTE)
        tpc_trace_mark (self->trace, msg->gid, TPC_TRACE_VOTE_RECV);
    else if (msg->type == TPC_MSG_ACK)
        tpc_trace_mark (self->trace, msg->gid, TPC_TRACE_ACK_RECV);
}

/*  MSG is about to leave (to an agent or a client).                    */
void
cs_trace_out (coord_server_t *self, const tpc_msg_t *msg)
{
    if (!self->trace || !msg->gid)
        return;
    switch (msg->type) {
    case TPC_MSG_WORK:
        if (msg->seq == 1)
            tpc_trace_mark_at (self->trace, msg->gid, TPC_TRACE_COORD_RECV,
                               self->trace_in);
        tpc_trace_mark (self->trace, msg->gid, TPC_TRACE_WORK_SENT);
        break;
    case TPC_MSG_DECIDE:
        tpc_trace_mark_at (self->trace, msg->gid, TPC_TRACE_DURABLE,
                           self->trace_durable);
        tpc_trace_mark (self->trace, msg->gid, TPC_TRACE_DECIDE_SENT);
        break;
    case TPC_MSG_OUTCOME:
        tpc_trace_mark (self->trace, msg->gid, TPC_TRACE_REPLY_SENT);
        break;
    default:
        break;
    }
}

void
cs_trace_append (coord_server_t *self, const tpc_record_t *rec)
{
    if (self->trace
        && (rec->type == TPC_REC_COMMIT || rec->type == TPC_REC_ABORT))
        tpc_trace_mark (self->trace, rec->gid, TPC_TRACE_DECISION_APPENDED);
}
