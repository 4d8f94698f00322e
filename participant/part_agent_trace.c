/*  part_agent_trace.c: the agent's marks in the per-stage latency trace
 *  (tpc_trace.h; tpc-participant --trace-file, --trace-sample).  The
 *  engine stays pure: the shell marks what it reads, sends and hands to
 *  the resource manager.  A submit's database work is BEGIN (its session
 *  pinned, db_work_*), then its statements with PREPARE TRANSACTION in
 *  one round trip (db_prepare_*); an interactive exec is db_work_* too.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "part_agent_int.h"

int
pa_trace_open (part_agent_t *self, char *errbuf, size_t errlen)
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
pa_trace_recv (part_agent_t *self, const tpc_msg_t *msg)
{
    if (self->trace && msg->type == TPC_MSG_WORK)
        tpc_trace_mark (self->trace, msg->gid, TPC_TRACE_AGENT_RECV);
    else if (self->trace && msg->type == TPC_MSG_DECIDE)
        tpc_trace_mark (self->trace, msg->gid, TPC_TRACE_AGENT_DECIDE);
}

void
pa_trace_sent (part_agent_t *self, const tpc_msg_t *msg)
{
    if (self->trace && msg && msg->type == TPC_MSG_VOTE)
        tpc_trace_mark (self->trace, msg->gid, TPC_TRACE_VOTE_SENT);
}

void
pa_trace_submit (part_agent_t *self, const part_rm_req_t *req)
{
    if (!self->trace)
        return;
    if (req->op == PART_RM_BEGIN || req->op == PART_RM_EXEC)
        tpc_trace_mark (self->trace, req->gid, TPC_TRACE_DB_WORK_START);
    else if (req->op == PART_RM_PREPARE)
        tpc_trace_mark (self->trace, req->gid, TPC_TRACE_DB_PREPARE_START);
}

void
pa_trace_result (part_agent_t *self, const part_rm_result_t *res)
{
    if (!self->trace)
        return;
    if (res->op == PART_RM_BEGIN || res->op == PART_RM_EXEC)
        tpc_trace_mark (self->trace, res->gid, TPC_TRACE_DB_WORK_END);
    else if (res->op == PART_RM_PREPARE)
        tpc_trace_mark (self->trace, res->gid, TPC_TRACE_DB_PREPARE_END);
    else if (res->op == PART_RM_COMMIT_PREPARED
             || res->op == PART_RM_ROLLBACK_PREPARED
             || res->op == PART_RM_COMMIT_ONEPHASE)
        tpc_trace_mark (self->trace, res->gid, TPC_TRACE_PHASE2_DONE);
}
