"""tpc.errors: the exceptions of the tpc client, one per protocol error.

Every failure the coordinator reports is an ``error`` reply with a negative
code (common/tpc_error.h, listed in docs/PROTOCOL.md section 4); the
client itself raises the codes libtpc returns for the cases no reply tells
(not reachable, key refused, no reply in time, connection lost).  Each
code has its class; all derive from :class:`Error`::

    Error                         code, name, message, gid
     +-- BadRequest               -2 TPC_EINVAL
     |    +-- MalformedMessage    -100 .. -113 TPC_EMSG_* (message names the field)
     +-- Timeout                  -7   no reply to a request that decides nothing
     +-- Busy                     -8   too many transactions in flight: retry later
     +-- StateError               -9   not allowed now (exec after commit ...)
     +-- Unreachable              -10  nothing sent: endpoint, hint
     +-- ProtocolError            -13  a reply that breaks the protocol
     +-- KeyRefused               -14  the coordinator refused this client's key
     +-- PermissionDenied         -15  this key's role may not (resolve)
     +-- LimitExceeded            -16  over a limit of the coordinator
     +-- ConnectionLost           -17  the link broke while a request waited
     +-- NotLeader                -19  a follower of an HA group: leader
     +-- UnknownGid               -300 no such transaction
     +-- UnknownParticipant       -301 no such participant / agent not connected
     +-- Aborted                  -302 the transaction was aborted: reason
     |    +-- DatabaseError       -11  a statement failed (database's text);
     |                                 the coordinator aborts the transaction
     +-- InDoubt                  -303 outcome unknown: ask status(gid)

A code without a class of its own (a newer coordinator's) raises
:class:`Error` with that code.  Bad arguments raise Python's own
``ValueError`` / ``TypeError`` before anything is sent.
"""

__all__ = [
    "Error", "BadRequest", "MalformedMessage", "Timeout", "Busy",
    "StateError", "Unreachable", "ProtocolError", "KeyRefused",
    "PermissionDenied", "LimitExceeded", "ConnectionLost", "NotLeader",
    "UnknownGid",
    "UnknownParticipant", "Aborted", "DatabaseError", "InDoubt",
    "error_for",
]

#  Symbolic names of common/tpc_error.h, for messages and Error.name.
NAMES = {
    -1: "TPC_ENOMEM", -2: "TPC_EINVAL", -3: "TPC_EIO", -4: "TPC_ENOSPC",
    -5: "TPC_ENOENT", -6: "TPC_EEXIST", -7: "TPC_ETIMEDOUT", -8: "TPC_EBUSY",
    -9: "TPC_ESTATE", -10: "TPC_ECONNECT", -11: "TPC_EDB",
    -12: "TPC_ECONFIG", -13: "TPC_EPROTO", -14: "TPC_EAUTH",
    -15: "TPC_EPERM", -16: "TPC_ELIMIT", -17: "TPC_ECONNLOST",
    -18: "TPC_EFENCED", -19: "TPC_ENOT_LEADER",
    -100: "TPC_EMSG_TOO_BIG", -101: "TPC_EMSG_NOT_UTF8",
    -102: "TPC_EMSG_SYNTAX", -103: "TPC_EMSG_TRAILING",
    -104: "TPC_EMSG_TOO_DEEP", -105: "TPC_EMSG_NOT_OBJECT",
    -106: "TPC_EMSG_VERSION", -107: "TPC_EMSG_NO_VERSION",
    -108: "TPC_EMSG_UNKNOWN_TYPE", -109: "TPC_EMSG_MISSING_FIELD",
    -110: "TPC_EMSG_FIELD_TYPE", -111: "TPC_EMSG_UNKNOWN_FIELD",
    -112: "TPC_EMSG_FIELD_VALUE", -113: "TPC_EMSG_BAD_GID",
    -300: "TPC_EUNKNOWN_GID", -301: "TPC_EUNKNOWN_PART",
    -302: "TPC_EABORTED", -303: "TPC_EIN_DOUBT",
}


class Error(Exception):
    """A tpc failure: ``code`` (negative, common/tpc_error.h), ``name``
    (e.g. ``"TPC_EBUSY"``), ``message`` (the coordinator's text, or the
    client's) and ``gid`` (the transaction concerned, or None)."""

    code = None

    def __init__(self, message, code=None, gid=None):
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message = message
        self.gid = gid

    @property
    def name(self):
        return NAMES.get(self.code, "TPC_E%s" % self.code)

    def __str__(self):
        return "%s: %s" % (self.name, self.message)


class BadRequest(Error):
    """The request was refused as invalid (-2): fix it."""
    code = -2


class MalformedMessage(BadRequest):
    """The coordinator could not decode the request (-100 .. -113); the
    message names the field."""
    code = -102


class Timeout(Error):
    """No reply in time to a request that decides nothing (begin, exec,
    status, list, summary): nothing changed, or (exec) roll back."""
    code = -7


class Busy(Error):
    """The coordinator is overloaded (this key's or all transactions in
    flight): retry later."""
    code = -8


class StateError(Error):
    """Not allowed in the transaction's state (exec after commit, rollback
    of a committed transaction, resolve of a gid still driven ...)."""
    code = -9


class Unreachable(Error):
    """No coordinator at ``endpoint`` took the request within the connect
    timeout: nothing was sent, nothing happened.  ``hint`` says what to
    check."""
    code = -10

    def __init__(self, message, endpoint=None, hint=None, code=None):
        super().__init__(message, code=code)
        self.endpoint = endpoint
        self.hint = hint


class ProtocolError(Error):
    """A reply that breaks the protocol (several frames, not JSON, wrong
    type or gid), or an error with rid 0."""
    code = -13


class KeyRefused(Error):
    """The CURVE handshake was refused: the coordinator refused this
    client's key (not in its allow-list), or the server key is wrong.
    Nothing was sent."""
    code = -14


class PermissionDenied(Error):
    """This key's role may not send the request (resolve without an admin
    key)."""
    code = -15


class LimitExceeded(Error):
    """Over a limit of the coordinator (statements per transaction, rows
    of a result: the transaction is then aborted)."""
    code = -16


class ConnectionLost(Error):
    """The link to the coordinator broke while the request waited for its
    reply (it may have been acted on), or mid-handshake and it did not
    come back in time (nothing sent)."""
    code = -17


class NotLeader(Error):
    """The coordinator asked is a follower of its HA group and did not act
    on the request; ``leader`` is the leader's client endpoint ("" when
    unknown).  A Client given the group's endpoints follows it by itself
    and raises this only when no member knew a leader in time."""
    code = -19

    def __init__(self, message, code=None, gid=None, leader=""):
        super().__init__(message, code=code, gid=gid)
        self.leader = leader or ""


class UnknownGid(Error):
    """No such transaction."""
    code = -300


class UnknownParticipant(Error):
    """No such participant, or its agent is not connected."""
    code = -301


class Aborted(Error):
    """The transaction was aborted; ``reason`` says why (e.g. ``participant
    'db1' voted no: ...``)."""
    code = -302

    def __init__(self, message, code=None, gid=None, reason=None):
        super().__init__(message, code=code, gid=gid)
        self.reason = reason if reason is not None else message


class DatabaseError(Aborted):
    """A database refused a statement of ``exec``; ``message`` carries its
    text.  The coordinator aborts the transaction with it."""
    code = -11


class InDoubt(Error):
    """The outcome of commit, rollback or submit is unknown (no readable
    reply in time, or the link broke): it may have committed or not.
    Never retry blindly; ask ``Client.status(gid)`` (``gid`` is None when
    a submit's gid never came back: look for it with ``Client.list()``)."""
    code = -303


_BY_CODE = {
    -2: BadRequest, -7: Timeout, -8: Busy, -9: StateError,
    -10: Unreachable, -11: DatabaseError, -13: ProtocolError,
    -14: KeyRefused, -15: PermissionDenied, -16: LimitExceeded,
    -17: ConnectionLost, -19: NotLeader, -300: UnknownGid, -301: UnknownParticipant,
    -302: Aborted, -303: InDoubt,
}


def error_for(code, message, gid=None):
    """The exception for an ``error`` reply of CODE with MESSAGE."""
    if isinstance(code, int) and -113 <= code <= -100:
        return MalformedMessage(message, code=code, gid=gid)
    cls = _BY_CODE.get(code, Error)
    return cls(message, code=code, gid=gid)
