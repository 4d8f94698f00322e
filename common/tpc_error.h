/*  tpc_error: the one error convention of tpc.
 *
 *  Every function that can fail returns 0 on success or one of the negative
 *  codes below; tpc_strerror() turns a code into a readable sentence.  Codes
 *  are grouped by the module that produces them so a caller can tell a
 *  malformed message from a failed fdatasync at a glance.  Codes are stable:
 *  they cross the wire in "error" replies, so never renumber one.
 */
#ifndef TPC_ERROR_H
#define TPC_ERROR_H

typedef enum {
    TPC_OK = 0,
    /* generic */
    TPC_ENOMEM = -1,          /* out of memory */
    TPC_EINVAL = -2,          /* invalid argument (programmer or user input) */
    TPC_EIO = -3,             /* an I/O call failed (errno kept by caller) */
    TPC_ENOSPC = -4,          /* no space left on device */
    TPC_ENOENT = -5,          /* no such file, gid or participant */
    TPC_EEXIST = -6,          /* already exists */
    TPC_ETIMEDOUT = -7,       /* timed out */
    TPC_EBUSY = -8,           /* overloaded or resource busy: retry later */
    TPC_ESTATE = -9,          /* operation not allowed in the current state */
    TPC_ECONNECT = -10,       /* cannot reach a peer */
    TPC_EDB = -11,            /* the database reported an error */
    TPC_ECONFIG = -12,        /* bad configuration */
    TPC_EPROTO = -13,         /* the peer broke the protocol */
    TPC_EAUTH = -14,          /* not authenticated: CURVE handshake refused */
    TPC_EPERM = -15,          /* authenticated, but this key's role may not */
    TPC_ELIMIT = -16,         /* a configured limit was exceeded */
    TPC_ECONNLOST = -17,      /* the connection to a peer was lost */
    TPC_EFENCED = -18,        /* a store write refused: its fence (the
                                 leader key) is no longer ours */
    TPC_ENOT_LEADER = -19,    /* this coordinator is not the leader of its group */

    /* wire format (tpc_msg) */
    TPC_EMSG_TOO_BIG = -100,      /* message longer than the configured limit */
    TPC_EMSG_NOT_UTF8 = -101,     /* bytes are not valid UTF-8 */
    TPC_EMSG_SYNTAX = -102,       /* not JSON */
    TPC_EMSG_TRAILING = -103,     /* bytes after the JSON value */
    TPC_EMSG_TOO_DEEP = -104,     /* nesting deeper than the limit */
    TPC_EMSG_NOT_OBJECT = -105,   /* top-level value is not an object */
    TPC_EMSG_VERSION = -106,      /* protocol version newer than ours */
    TPC_EMSG_NO_VERSION = -107,   /* "v" missing or not an integer */
    TPC_EMSG_UNKNOWN_TYPE = -108, /* "type" not a known message */
    TPC_EMSG_MISSING_FIELD = -109,/* a required field is absent */
    TPC_EMSG_FIELD_TYPE = -110,   /* a field has the wrong JSON type */
    TPC_EMSG_UNKNOWN_FIELD = -111,/* a field that this message does not have */
    TPC_EMSG_FIELD_VALUE = -112,  /* a field's value is out of range */
    TPC_EMSG_BAD_GID = -113,      /* a gid that does not parse */

    /* decision log (tpc_log) */
    TPC_ELOG_FAILED = -200,       /* an earlier write/fdatasync failed: log is dead */
    TPC_ELOG_CORRUPT = -201,      /* a bad record is followed by valid ones */
    TPC_ELOG_TOO_BIG = -202,      /* record larger than a segment allows */
    TPC_ELOG_LOCKED = -203,       /* another process holds the log directory */
    TPC_ELOG_VERSION = -204,      /* segment written by a newer format */

    /* transactions */
    TPC_EUNKNOWN_GID = -300,      /* no such transaction */
    TPC_EUNKNOWN_PART = -301,     /* no such participant / agent not connected */
    TPC_EABORTED = -302,          /* the transaction was aborted */
    TPC_EIN_DOUBT = -303,         /* outcome not known yet */
} tpc_err_t;

/*  Return a static, human-readable description of CODE (never NULL).      */
const char *tpc_strerror (int code);

/*  Return the stable symbolic name of CODE, e.g. "TPC_EMSG_TOO_BIG".      */
const char *tpc_errname (int code);

#endif
