/*  part_rm: names of resource-manager operations (see part_rm.h).         */
#include "part_rm.h"

const char *
part_rm_op_name (part_rm_op_t op)
{
    static const char *const names[PART_RM_OP_COUNT] = {
        "connected", "begin", "exec", "prepare", "commit_onephase",
        "rollback", "commit_prepared", "rollback_prepared", "outcome_of",
        "tombstone", "recover"
    };
    return (unsigned) op < PART_RM_OP_COUNT ? names[op] : "?";
}
