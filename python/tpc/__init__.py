"""tpc: the Python client of tpc, atomic commit across databases.

Pure Python on pyzmq (Debian: python3-zmq); it speaks the client protocol
of docs/PROTOCOL.md to a tpc coordinator, as libtpc does in C::

    import tpc

    with tpc.Client("tcp://127.0.0.1:7400",
                    client_secret="keys/app.key_secret",
                    server_public="keys/c1.key") as client:
        gid = client.submit({"db1": ("UPDATE accounts SET balance = balance - $1 WHERE id = $2", [10, 1]),
                             "db2": ("UPDATE accounts SET balance = balance + $1 WHERE id = $2", [10, 1])})
        with client.begin() as tx:              # commits, or rolls back on an exception
            rows = tx.exec("db1", "SELECT balance FROM accounts WHERE id = $1", [1]).rows

Errors are :class:`tpc.Error` subclasses, one per protocol error code
(tpc.errors lists them): ``tpc.Aborted``, ``tpc.InDoubt``,
``tpc.Unreachable``, ``tpc.KeyRefused`` ...  From a clone:
``PYTHONPATH=python``; installed: the python3-tpc package.
"""
from .client import (Client, Transaction, Result, TxStatus, TxInfo, Summary,
                     Cluster, PROTOCOL_VERSION, DEFAULT_ENDPOINT)
from .errors import (Error, BadRequest, MalformedMessage, Timeout, Busy,
                     StateError, Unreachable, ProtocolError, KeyRefused,
                     PermissionDenied, LimitExceeded, ConnectionLost,
                     NotLeader, UnknownGid, UnknownParticipant, Aborted, DatabaseError,
                     InDoubt)

__version__ = "0.1.0"

__all__ = [
    "Client", "Transaction", "Result", "TxStatus", "TxInfo", "Summary",
    "Cluster", "PROTOCOL_VERSION", "DEFAULT_ENDPOINT",
    "Error", "BadRequest", "MalformedMessage", "Timeout", "Busy",
    "StateError", "Unreachable", "ProtocolError", "KeyRefused",
    "PermissionDenied", "LimitExceeded", "ConnectionLost", "NotLeader",
    "UnknownGid", "UnknownParticipant", "Aborted", "DatabaseError", "InDoubt",
]
