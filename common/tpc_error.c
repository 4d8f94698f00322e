/*  tpc_error: code-to-text table for the codes in tpc_error.h.            */
#include "tpc_error.h"

#include <stddef.h>

typedef struct {
    int code;
    const char *name;
    const char *text;
} s_errdesc_t;

#define E(c, t) { c, #c, t }
static const s_errdesc_t s_errors[] = {
    E (TPC_OK, "success"),
    E (TPC_ENOMEM, "out of memory"),
    E (TPC_EINVAL, "invalid argument"),
    E (TPC_EIO, "input/output error"),
    E (TPC_ENOSPC, "no space left on device"),
    E (TPC_ENOENT, "no such file or object"),
    E (TPC_EEXIST, "already exists"),
    E (TPC_ETIMEDOUT, "timed out"),
    E (TPC_EBUSY, "busy: too much work in flight, retry later"),
    E (TPC_ESTATE, "operation not allowed in the current state"),
    E (TPC_ECONNECT, "cannot reach peer"),
    E (TPC_EDB, "database error"),
    E (TPC_ECONFIG, "bad configuration"),
    E (TPC_EPROTO, "protocol violation by peer"),
    E (TPC_EAUTH, "not authenticated: the CURVE handshake was refused (wrong or unlisted key, or no CURVE)"),
    E (TPC_EPERM, "permission denied: this key's role may not do that"),
    E (TPC_ELIMIT, "over a configured limit"),
    E (TPC_ECONNLOST, "connection lost: the peer stopped or closed the link"),
    E (TPC_ENOT_LEADER, "this coordinator is not the leader of its group"),
    E (TPC_EFENCED, "write refused by the store: this coordinator's fence (its leader key) is gone"),
    E (TPC_EMSG_TOO_BIG, "message larger than the configured limit"),
    E (TPC_EMSG_NOT_UTF8, "message is not valid UTF-8"),
    E (TPC_EMSG_SYNTAX, "message is not valid JSON"),
    E (TPC_EMSG_TRAILING, "trailing bytes after the JSON message"),
    E (TPC_EMSG_TOO_DEEP, "message nesting too deep"),
    E (TPC_EMSG_NOT_OBJECT, "message is not a JSON object"),
    E (TPC_EMSG_VERSION, "message uses a newer protocol version"),
    E (TPC_EMSG_NO_VERSION, "message lacks an integer protocol version \"v\""),
    E (TPC_EMSG_UNKNOWN_TYPE, "unknown message type"),
    E (TPC_EMSG_MISSING_FIELD, "required message field missing"),
    E (TPC_EMSG_FIELD_TYPE, "message field has the wrong type"),
    E (TPC_EMSG_UNKNOWN_FIELD, "message has a field its type does not define"),
    E (TPC_EMSG_FIELD_VALUE, "message field value out of range"),
    E (TPC_EMSG_BAD_GID, "malformed transaction id (gid)"),
    E (TPC_ELOG_FAILED, "decision log failed earlier (write or fdatasync error); restart to recover"),
    E (TPC_ELOG_CORRUPT, "decision log corrupt: bad record followed by valid records"),
    E (TPC_ELOG_TOO_BIG, "log record too large"),
    E (TPC_ELOG_LOCKED, "log directory is locked by another process"),
    E (TPC_ELOG_VERSION, "log segment written by a newer format version"),
    E (TPC_EUNKNOWN_GID, "unknown transaction id"),
    E (TPC_EUNKNOWN_PART, "unknown or disconnected participant"),
    E (TPC_EABORTED, "transaction aborted"),
    E (TPC_EIN_DOUBT, "transaction outcome not known yet"),
};
#undef E

static const s_errdesc_t *
s_find (int code)
{
    for (size_t i = 0; i < sizeof s_errors / sizeof s_errors[0]; i++)
        if (s_errors[i].code == code)
            return &s_errors[i];
    return NULL;
}

const char *
tpc_strerror (int code)
{
    const s_errdesc_t *d = s_find (code);
    return d ? d->text : "unknown error code";
}

const char *
tpc_errname (int code)
{
    const s_errdesc_t *d = s_find (code);
    return d ? d->name : "TPC_E?";
}
