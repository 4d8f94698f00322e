"""tpc.client: a tpc client in pure Python over pyzmq (Debian: python3-zmq).

It speaks the client side of the tpc wire protocol (docs/PROTOCOL.md):
one ZeroMQ DEALER socket connected to the coordinator's ROUTER; each
request is one frame holding one UTF-8 JSON object ``{"v":1,"type":...,
"rid":N,...}`` and the reply is one frame of the same form with the same
``rid``.  It mirrors libtpc (client/tpc_client.c) call for call and code
for code::

    send -----------> wait for a frame ----- deadline passed ---> Timeout /
      |                    |                                      InDoubt
      | no TCP link  ----> Unreachable (connect_timeout_ms; nothing sent)
      | handshake refused  KeyRefused (nothing sent)
      |                    +-- not one frame / not JSON --------> ProtocolError
      |                    +-- rid of an earlier request -------> dropped
      |                    +-- "error" (our rid, or rid 0) -----> its class
      |                    +-- link broke (monitor) ------------> ConnectionLost
      v                    +-- the expected type, our rid ------> done
    (IMMEDIATE: a send only leaves on a link whose handshake succeeded)

The socket monitor (``get_monitor_socket``) tells the send loop about the
TCP link and the CURVE handshake: no TCP connection within
``connect_timeout_ms`` is :class:`~tpc.Unreachable` (the endpoint and a
hint), a handshake the coordinator refused is :class:`~tpc.KeyRefused`
("the coordinator refused this client's key"), both with nothing sent.
Once TCP is up the send may wait the full ``timeout_ms`` for the
handshake.  For commit, rollback and submit a missing or unreadable reply
is :class:`~tpc.InDoubt`, never a guess.

A Client is not thread-safe: use one per thread (they may share a
``zmq.Context`` given as ``context=``).

An HA group (several coordinators of one id, docs/PROTOCOL.md "Finding
the leader"): ``endpoints`` lists its members ("tcp://a:1,tcp://b:2" or a
list).  As libtpc, the client talks to one member at a time and moves:

- an error ``not_leader`` (-19): the member did not act on the request;
  move to the ``leader`` it names (added to the list if new) or, when it
  names none (an election under way), to the next member, pausing 0.1 s
  after each round of the list; resend;
- a member not reachable within 1 s (or ``connect_timeout_ms`` if
  shorter), or a link that broke before the request left: nothing was
  sent; the next member (the whole group down: round the list until the
  deadline, then Unreachable naming the group); a key a member refused is
  KeyRefused at once (every member has the same key);
- the link broke with the request on it: status, list, summary and begin
  are resent to the next member; commit and rollback are never resent:
  the client asks the group ``status(gid)`` until it tells committed or
  aborted (else :class:`~tpc.InDoubt`); exec, submit and resolve raise as
  with one coordinator;

all within the call's ``timeout_ms``.
"""

import collections
import collections.abc
import decimal
import json
import os
import re
import time

import zmq
import zmq.auth
from zmq.utils.monitor import recv_monitor_message

from . import errors as E

__all__ = ["Client", "Transaction", "Result", "TxStatus", "TxInfo",
           "Summary", "Cluster", "PROTOCOL_VERSION", "DEFAULT_ENDPOINT"]

PROTOCOL_VERSION = 1
DEFAULT_ENDPOINT = "tcp://127.0.0.1:7400"
TIMEOUT_DEFAULT_MS = 30000
CONNECT_TIMEOUT_DEFAULT_MS = 2000
TXN_TIMEOUT_MAX_MS = 86400000           # 24 h, as the coordinator checks
MAX_MSG_SIZE = 1 << 20                  # the coordinator's default limit
_MAX_MEMBERS = 16                       # endpoints of a group, leaders added
_MAX_HOPS = 8                           # moves to a named leader / for a link
_MEMBER_CONNECT_MS = 1000               # a member not connected: skipped
_POLL_S = 0.1                           # pause: no leader known, in progress

_GID = re.compile(r"tpc_[A-Za-z0-9]{1,32}_[1-9][0-9]*_[1-9][0-9]*\Z")
_Z85_KEY = re.compile(r"[0-9A-Za-z.\-:+=^!/*?&<>()\[\]{}@%$#]{40}\Z")

TxStatus = collections.namedtuple("TxStatus", "gid outcome state reason")
TxStatus.__doc__ = """What became of a transaction: ``outcome`` is
"committed", "aborted" or "in_progress"; ``state`` the coordinator's name
for where it is (for people); ``reason`` why, or how it knows ("" if
none)."""

TxInfo = collections.namedtuple("TxInfo", "gid state age_ms parts waiting")
TxInfo.__doc__ = """An in-flight or in-doubt transaction of ``list()``:
``parts`` its participants, ``waiting`` those it still waits for."""

Summary = collections.namedtuple(
    "Summary", "in_flight in_doubt committed aborted heuristic oldest_ms "
               "agents")
Summary.__doc__ = """The coordinator at a glance (``tpcctl status``);
``agents`` are the agents connected now."""

Cluster = collections.namedtuple(
    "Cluster", "role member leader epoch lease_ttl_ms lease_left_ms "
               "revision")
Cluster.__doc__ = """One member's view of its HA group (``tpcctl cluster``,
libtpc's tpc_cluster_t): ``role`` "leader", "follower" or "single" (no
--ha); ``member`` the answering process; ``leader`` the leader's client
endpoint; ``epoch`` the leader's (0 from a follower); ``lease_ttl_ms``
the group's lease, ``lease_left_ms`` what is left of it (0 from a
follower); ``revision`` etcd's revision of the last decision write (0:
none)."""


class Result:
    """The rows of one ``exec``: ``columns`` (names), ``rows`` (lists of
    str, None for SQL NULL) and ``affected`` (rows changed or returned,
    -1 when not applicable).  Iterating yields the rows; ``len()`` counts
    them."""

    __slots__ = ("columns", "rows", "affected")

    def __init__(self, columns, rows, affected):
        self.columns = columns
        self.rows = rows
        self.affected = affected

    def __iter__(self):
        return iter(self.rows)

    def __len__(self):
        return len(self.rows)

    def dicts(self):
        """The rows as dicts keyed by column name."""
        return [dict(zip(self.columns, r)) for r in self.rows]

    def __repr__(self):
        return "Result(columns=%r, rows=%r, affected=%r)" % (
            self.columns, self.rows, self.affected)


def _check_gid(gid):
    if not isinstance(gid, str):
        raise TypeError("gid must be a str, not %s" % type(gid).__name__)
    if len(gid) > 79 or not _GID.match(gid):
        raise ValueError("invalid gid %r (tpc_<coordinator>_<epoch>_<seq>)"
                         % gid[:100])
    return gid


def _check_name(what, value):
    if not isinstance(value, str):
        raise TypeError("%s must be a str, not %s"
                        % (what, type(value).__name__))
    if not value:
        raise ValueError("%s must not be empty" % what)
    return value


def _param(p):
    """One SQL parameter as the protocol wants it: text or null."""
    if p is None or isinstance(p, str):
        return p
    if isinstance(p, bool) or not isinstance(
            p, (int, float, decimal.Decimal)):
        raise TypeError("a parameter is a str, int, float, Decimal or "
                        "None, not %s" % type(p).__name__)
    return str(p)


def _params(params):
    if params is None:
        return []
    if isinstance(params, (str, bytes)) or not hasattr(params, "__iter__"):
        raise TypeError("params must be a sequence of values, not %s"
                        % type(params).__name__)
    return [_param(p) for p in params]


def _stmt(on, sql, params=None):
    st = {"on": _check_name("participant", on),
          "sql": _check_name("sql", sql)}
    ps = _params(params)
    if ps:
        st["params"] = ps
    return st


def _txn_opts(msg, timeout_ms, protocol):
    if timeout_ms is not None:
        if isinstance(timeout_ms, bool) or not isinstance(timeout_ms, int):
            raise TypeError("timeout_ms must be an int")
        if not 0 <= timeout_ms <= TXN_TIMEOUT_MAX_MS:
            raise ValueError("transaction timeout_ms %d is out of range "
                             "(0 .. %d, 24 h)" % (timeout_ms,
                                                  TXN_TIMEOUT_MAX_MS))
        if timeout_ms:
            msg["timeout_ms"] = timeout_ms
    if protocol is not None:
        if protocol not in ("2pc", "3pc"):
            raise ValueError("unknown protocol %r (2pc or 3pc)" % (protocol,))
        msg["protocol"] = protocol
    return msg


def _statements(work):
    """WORK as a list of protocol statements.  WORK is a mapping
    {participant: sql | (sql, params) | [sql | (sql, params), ...]} or a
    sequence of (participant, sql[, params]) tuples or {"on", "sql",
    "params"} dicts."""
    out = []
    if isinstance(work, collections.abc.Mapping):
        for on, todo in work.items():
            if isinstance(todo, (str, tuple)):
                todo = [todo]
            if not isinstance(todo, list):
                raise TypeError("the work for %r must be SQL, (sql, params) "
                                "or a list of them" % (on,))
            for one in todo:
                if isinstance(one, str):
                    out.append(_stmt(on, one))
                elif isinstance(one, tuple) and len(one) == 2:
                    out.append(_stmt(on, one[0], one[1]))
                else:
                    raise TypeError("a statement for %r must be SQL or "
                                    "(sql, params)" % (on,))
    elif isinstance(work, (list, tuple)):
        for one in work:
            if isinstance(one, collections.abc.Mapping):
                extra = set(one) - {"on", "sql", "params"}
                if extra:
                    raise ValueError("unknown statement keys %s"
                                     % sorted(extra))
                out.append(_stmt(one.get("on"), one.get("sql"),
                                 one.get("params")))
            elif isinstance(one, tuple) and len(one) in (2, 3):
                out.append(_stmt(*one))
            else:
                raise TypeError("a statement is (participant, sql[, params]) "
                                "or a dict with on, sql, params")
    else:
        raise TypeError("submit wants a mapping or a list of statements, "
                        "not %s" % type(work).__name__)
    if not out:
        raise ValueError("submit needs at least one statement")
    return out


def _key_text(value):
    """VALUE is a Z85 key (40 characters, str or bytes) or None."""
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if isinstance(value, str) and _Z85_KEY.match(value):
        return value
    return None


def _load_secret(value):
    """(public, secret) Z85 bytes of this client's key pair: VALUE is a
    NAME.key_secret file (tpcctl keygen) or a Z85 secret key."""
    z = _key_text(value)
    if z is not None and not os.path.exists(z):
        return zmq.curve_public(z.encode()), z.encode()
    path = os.fspath(value)
    if not os.path.exists(path):
        raise FileNotFoundError("client_secret: no such key file: %s" % path)
    st = os.stat(path)
    if st.st_mode & 0o077:
        raise PermissionError("client_secret: %s may be read by group or "
                              "others (chmod 600 it)" % path)
    public, secret = zmq.auth.load_certificate(path)
    if not secret:
        raise ValueError("client_secret: %s holds no secret key (give the "
                         "NAME.key_secret file)" % path)
    return public, secret


def _load_public(value):
    """The coordinator's public key, Z85 bytes: VALUE is its NAME.key file
    or a Z85 public key."""
    z = _key_text(value)
    if z is not None and not os.path.exists(z):
        return z.encode()
    path = os.fspath(value)
    if not os.path.exists(path):
        raise FileNotFoundError("server_public: no such key file: %s" % path)
    public, _ = zmq.auth.load_certificate(path)
    return public


class Client:
    """A connection to one tpc coordinator, or to an HA group of them.

    ``endpoints``: the coordinator's client endpoint, e.g.
    ``"tcp://10.0.0.5:7400"`` (None = $TPC_COORDINATOR or
    tcp://127.0.0.1:7400), or the client endpoints of the members of one
    coordinator HA group (a list, or one comma-separated string): the
    client finds and follows the leader (see the module's text).  With
    CURVE every member holds the same coordinator key.

    CurveZMQ: ``client_secret`` is this client's key pair (a
    NAME.key_secret file of ``tpcctl keygen``, mode 0600, or a Z85 secret
    key) and ``server_public`` the coordinator's public key (its NAME.key
    file or a Z85 key).  Give both, or neither for plain TCP (accepted
    only by a coordinator run with --insecure-plaintext).

    ``timeout_ms`` (default 30000) bounds every call; ``connect_timeout_ms``
    (default 2000, as libtpc) bounds how long a request waits for a TCP connection to
    the coordinator before :class:`~tpc.Unreachable` (nothing sent).
    ``context``: a ``zmq.Context`` to share (default: the client's own).

    Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, endpoints=None, *, client_secret=None,
                 server_public=None, timeout_ms=TIMEOUT_DEFAULT_MS,
                 connect_timeout_ms=CONNECT_TIMEOUT_DEFAULT_MS,
                 context=None):
        self._sock = self._mon = self._ctx = None
        self._own_ctx = False
        if endpoints is None:
            endpoints = os.environ.get("TPC_COORDINATOR") or DEFAULT_ENDPOINT
        if isinstance(endpoints, str):
            endpoints = endpoints.split(",")
        if not isinstance(endpoints, (list, tuple)):
            raise TypeError("endpoints must be a str or a list of str, not "
                            "%s" % type(endpoints).__name__)
        self.endpoints = [_check_name("endpoint", e).strip()
                          for e in endpoints]
        if not self.endpoints or not all(self.endpoints) \
                or len(self.endpoints) > _MAX_MEMBERS:
            raise ValueError("endpoints: 1 to %d non-empty endpoints, not %r"
                             % (_MAX_MEMBERS, endpoints))
        self._cur = 0
        self.endpoint = self.endpoints[0]
        for what, v in (("timeout_ms", timeout_ms),
                        ("connect_timeout_ms", connect_timeout_ms)):
            if isinstance(v, bool) or not isinstance(v, int):
                raise TypeError("%s must be an int" % what)
            if v <= 0:
                raise ValueError("%s must be > 0, not %d" % (what, v))
        self.timeout_ms = timeout_ms
        self.connect_timeout_ms = connect_timeout_ms
        if (client_secret is None) != (server_public is None):
            raise ValueError("CURVE needs both client_secret and "
                             "server_public (or neither)")
        keys = None
        if client_secret is not None:
            keys = _load_secret(client_secret), _load_public(server_public)
        self.curve = keys is not None
        self._rid = 0
        self._tcp_up = False        # a TCP link is up (CONNECTED seen)
        self._hs_pending = False    # TCP up, handshake not done
        self._hs_failed = None      # why a handshake was refused, or None
        self._hs_closes = 0         # links closed mid-handshake in a row
        self._lost = None           # why a link broke, or None
        self._retried = False       # the connect was retried (refused)
        self._keys = keys
        self._own_ctx = context is None
        self._ctx = zmq.Context() if context is None else context
        try:
            # every member's endpoint is checked now; the first stays
            for i in reversed(range(len(self.endpoints))):
                self._open_link(i)
                if i:
                    self._close_link()
        except BaseException:
            self.close()
            raise

    # -- the link to the member talked to ---------------------------------

    def _open_link(self, i):
        """A DEALER (and its monitor) connected to member I."""
        self._cur = i
        self.endpoint = self.endpoints[i]
        self._tcp_up = self._hs_pending = False
        self._hs_failed = self._lost = None
        self._hs_closes = 0
        keys = self._keys
        sock = self._sock = self._ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.IMMEDIATE, 1)
        if keys:
            (pub, sec), server = keys
            sock.curve_publickey = pub
            sock.curve_secretkey = sec
            sock.curve_serverkey = server
        self._mon = sock.get_monitor_socket(
            zmq.EVENT_CONNECTED | zmq.EVENT_CONNECT_RETRIED
            | zmq.EVENT_DISCONNECTED | zmq.EVENT_HANDSHAKE_SUCCEEDED
            | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
            | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
            | zmq.EVENT_HANDSHAKE_FAILED_AUTH)
        try:
            sock.connect(self.endpoint)
        except zmq.ZMQError as e:
            raise ValueError("bad endpoint %r: %s"
                             % (self.endpoint, e)) from None

    def _close_link(self):
        if self._sock is not None:
            try:
                self._sock.disable_monitor()
            except zmq.ZMQError:
                pass
        if self._mon is not None:
            self._mon.close(0)
            self._mon = None
        if self._sock is not None:
            self._sock.close(0)
            self._sock = None

    def _move(self, leader=None):
        """Talk to LEADER (added to the list if new) or the next member."""
        to = (self._cur + 1) % len(self.endpoints)
        if leader:
            if leader not in self.endpoints \
                    and len(self.endpoints) < _MAX_MEMBERS \
                    and "," not in leader:
                self.endpoints.append(leader)
            if leader in self.endpoints:
                to = self.endpoints.index(leader)
        self._close_link()
        try:
            self._open_link(to)
        except ValueError:          # a leader named with a bad endpoint
            self._close_link()
            self._open_link((to + 1) % len(self.endpoints))

    # -- life cycle -------------------------------------------------------

    def close(self):
        """Close the socket (idempotent).  Transactions left open are
        aborted by the coordinator's timeout."""
        if self._sock is not None:
            try:
                self._sock.disable_monitor()
            except zmq.ZMQError:
                pass
        if self._mon is not None:
            self._mon.close(0)
            self._mon = None
        if self._sock is not None:
            self._sock.close(0)
            self._sock = None
        if self._ctx is not None and self._own_ctx:
            self._ctx.term()
        self._ctx = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    # -- the socket monitor -----------------------------------------------

    def _drain_monitor(self):
        while True:
            try:
                ev = recv_monitor_message(self._mon, zmq.NOBLOCK)
            except zmq.Again:
                return
            event, value = ev["event"], ev["value"]
            if event == zmq.EVENT_CONNECTED:
                self._tcp_up = self._hs_pending = True
            elif event == zmq.EVENT_CONNECT_RETRIED:
                self._retried = True
            elif event == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                self._hs_pending = False
                self._hs_closes = 0
            elif event == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
                self._hs_pending = False
                self._hs_failed = (
                    "the coordinator refused this client's key (ZAP status "
                    "%d): is its public key in the coordinator's "
                    "allow-list?" % value)
            elif event == zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL:
                self._hs_pending = False
                self._hs_failed = (
                    "the %s handshake failed (%s): %s" % (
                        "CURVE" if self.curve else "ZeroMQ",
                        "security mechanism mismatch"
                        if value == getattr(
                            zmq, "PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH",
                            0x11000001) else "protocol error",
                        "wrong keys, or a coordinator without CURVE?"
                        if self.curve else
                        "the coordinator wants CURVE keys (client_secret, "
                        "server_public)"))
            elif event in (zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL,
                           zmq.EVENT_DISCONNECTED):
                if event == zmq.EVENT_DISCONNECTED:
                    self._tcp_up = False
                if self._hs_pending:
                    # closed mid-handshake: a coordinator that just died,
                    # or one that will not talk to us (twice in a row)
                    self._hs_pending = False
                    self._lost = "the link was closed during the handshake"
                    self._hs_closes += 1
                    if self._hs_closes >= 2:
                        self._hs_failed = (
                            "the coordinator closed the connection during "
                            "the handshake, twice: %s" % (
                                "wrong coordinator public key, or a key it "
                                "does not accept?" if self.curve else
                                "it wants CURVE keys (client_secret, "
                                "server_public)?"))
                elif event == zmq.EVENT_DISCONNECTED and not self._lost:
                    self._lost = ("the coordinator closed the link (stopped "
                                  "or restarted?)")

    # -- one request, one reply -------------------------------------------

    def _send(self, frame, what, deadline):
        """Hand FRAME to a connected coordinator, or raise with nothing
        sent."""
        self._drain_monitor()
        self._hs_failed = self._lost = None
        self._hs_closes = 0
        self._retried = False
        start = time.monotonic()
        connect_deadline = min(deadline, start
                               + self._member_wait_ms() / 1000.0)
        poller = zmq.Poller()
        poller.register(self._sock, zmq.POLLOUT)
        poller.register(self._mon, zmq.POLLIN)
        while True:
            try:
                self._sock.send(frame, zmq.DONTWAIT)
                return
            except zmq.Again:
                pass
            self._drain_monitor()
            if self._hs_failed:
                raise E.KeyRefused("%s refused the connection (%s request "
                                   "not sent): %s" % (self.endpoint, what,
                                                      self._hs_failed))
            now = time.monotonic()
            if now >= deadline and self._lost:
                raise E.ConnectionLost(
                    "connection lost to the coordinator at %s (%s) and not "
                    "back within %d ms: did it stop? (%s request not sent)"
                    % (self.endpoint, self._lost, self.timeout_ms, what))
            if (now >= connect_deadline and not self._tcp_up) \
                    or now >= deadline:
                waited = int((now - start) * 1000)
                hint = ("is tpc-coordinator running, and is this its "
                        "client endpoint (--bind)? is the port right, or a "
                        "firewall in the way?" if not self._tcp_up else
                        "it accepted the TCP connection but never finished "
                        "the handshake: keys (client_secret, "
                        "server_public)?")
                raise E.Unreachable(
                    "coordinator at %s not reachable within %d ms (%s "
                    "request not sent%s): %s" % (
                        self.endpoint, waited, what,
                        "; connection refused" if self._retried
                        and not self._tcp_up else "", hint),
                    endpoint=self.endpoint, hint=hint)
            left = min(deadline if self._tcp_up else connect_deadline,
                       deadline) - now
            poller.poll(max(1, min(100, int(left * 1000) + 1)))

    def _member_wait_ms(self):
        """How long a send waits for a TCP link: connect_timeout_ms; in a
        group at most _MEMBER_CONNECT_MS, then the next member."""
        if len(self.endpoints) > 1:
            return min(self.connect_timeout_ms, _MEMBER_CONNECT_MS)
        return self.connect_timeout_ms

    def _call(self, msg, want, resend_lost=False, deadline=None):
        """Send MSG (a dict; v and rid are set here) and return the reply
        of type WANT, or raise.  With an HA group, follow not_leader, skip
        members not reachable, and when RESEND_LOST resend after a link
        broke with the request on it (see the module's text)."""
        if deadline is None:
            deadline = time.monotonic() + self.timeout_ms / 1000.0
        group = len(self.endpoints) > 1
        hops = leaderless = 0
        while True:
            self._sent = False
            t0 = time.monotonic()
            try:
                return self._call_once(msg, want, deadline)
            except E.NotLeader as e:
                if not group or time.monotonic() >= deadline:
                    raise
                if e.leader:
                    hops += 1
                    if hops > _MAX_HOPS:
                        raise
                else:
                    leaderless += 1
                    if leaderless % len(self.endpoints) == 0:
                        time.sleep(_POLL_S)
                    if time.monotonic() >= deadline:
                        raise E.NotLeader(
                            "no member of %d knows a leader within %d ms "
                            "(an election under way?); %s request not "
                            "acted on" % (len(self.endpoints),
                                          self.timeout_ms, msg["type"]),
                            code=-19) from None
                self._move(e.leader)
            except (E.Unreachable, E.ConnectionLost) as e:
                if not group or (self._sent and not resend_lost):
                    raise
                if time.monotonic() >= deadline:
                    if self._sent:
                        raise
                    group_eps = ",".join(self.endpoints)
                    raise type(e)(
                        "no member of the group %s took the %s request "
                        "within %d ms; the last: %s"
                        % (group_eps, msg["type"], self.timeout_ms,
                           e.message), **({"endpoint": group_eps,
                                           "hint": e.hint}
                                          if isinstance(e, E.Unreachable)
                                          else {})) from None
                # a member that made us wait its turn is no loop: the
                # whole group down is tried until the deadline
                if self._sent or time.monotonic() - t0 \
                        < self._member_wait_ms() / 2000.0:
                    hops += 1
                    if hops > _MAX_HOPS:
                        raise
                self._move()

    def _call_once(self, msg, want, deadline):
        what = msg["type"]
        self._rid += 1
        rid = self._rid
        msg = dict(msg, v=PROTOCOL_VERSION, rid=rid)
        frame = json.dumps(msg, ensure_ascii=False,
                           separators=(",", ":")).encode("utf-8")
        if len(frame) > MAX_MSG_SIZE:
            raise E.Error("%s request is %d bytes, over the limit of %d"
                          % (what, len(frame), MAX_MSG_SIZE), code=-100)
        if self._sock is None:
            raise E.StateError("the client is closed")
        self._send(frame, what, deadline)
        self._sent = True
        self._lost = None           # from now on: the link it took
        poller = zmq.Poller()
        poller.register(self._sock, zmq.POLLIN)
        poller.register(self._mon, zmq.POLLIN)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise E.Timeout("no reply to %s (rid %d) from %s within %d "
                                "ms" % (what, rid, self.endpoint,
                                        self.timeout_ms))
            ready = dict(poller.poll(int(left * 1000) + 1))
            if self._sock not in ready:
                if self._mon in ready:
                    self._drain_monitor()
                    if self._lost and not self._sock.poll(0, zmq.POLLIN):
                        raise E.ConnectionLost(
                            "connection lost to the coordinator at %s "
                            "before the reply to %s (rid %d) came: %s; the "
                            "request may have been acted on"
                            % (self.endpoint, what, rid, self._lost))
                continue
            frames = self._sock.recv_multipart(zmq.DONTWAIT)
            if len(frames) != 1:
                raise E.ProtocolError("malformed reply to %s from %s: %d "
                                      "frames, one expected"
                                      % (what, self.endpoint, len(frames)))
            try:
                reply = json.loads(frames[0].decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as e:
                raise E.ProtocolError("malformed reply to %s from %s: %s"
                                      % (what, self.endpoint, e)) from None
            if not isinstance(reply, dict) \
                    or not isinstance(reply.get("type"), str) \
                    or not isinstance(reply.get("rid"), int):
                raise E.ProtocolError("malformed reply to %s from %s: not a "
                                      "message object" % (what,
                                                          self.endpoint))
            rtype, rrid = reply["type"], reply["rid"]
            if rrid != rid and not (rtype == "error" and rrid == 0):
                continue            # a late reply to an earlier request
            if rtype == "error":
                code = reply.get("code")
                text = reply.get("message") or ""
                if rrid == 0 or not isinstance(code, int) or code >= 0:
                    # rid 0: it could not read SOME request of ours
                    raise E.ProtocolError(text, gid=reply.get("gid"))
                if code == -19:
                    leader = reply.get("leader")
                    raise E.NotLeader(text, code=code, gid=reply.get("gid"),
                                      leader=leader if isinstance(
                                          leader, str) else "")
                raise E.error_for(code, text, reply.get("gid"))
            if rtype != want:
                raise E.ProtocolError("malformed reply to %s from %s: type "
                                      "%r, expected %r" % (
                                          what, self.endpoint, rtype, want))
            return reply

    def _reply_gid(self, reply, gid):
        if reply.get("gid") != gid:
            raise E.ProtocolError("malformed reply from %s: gid %r, "
                                  "expected %r" % (self.endpoint,
                                                   reply.get("gid"), gid))

    def _decided(self, msg, want, gid):
        """Run a decision-bearing request (commit, rollback, submit) and
        return its reply; raise Aborted / InDoubt / StateError as libtpc
        does.  GID is None for submit."""
        what = msg["type"]
        deadline = time.monotonic() + self.timeout_ms / 1000.0
        try:
            try:
                reply = self._call(msg, "outcome", deadline=deadline)
            except E.ConnectionLost as lost:
                if gid is None or len(self.endpoints) == 1:
                    raise
                try:
                    reply = self._ask_after_loss(gid, deadline)
                except E.Error as e:
                    raise E.ConnectionLost(
                        "%s; asking the group for the status of %s did not "
                        "tell: %s" % (lost.message, gid, e.message)) from e
            rgid = reply.get("gid")
            if gid is not None:
                self._reply_gid(reply, gid)
            elif not isinstance(rgid, str) or not _GID.match(rgid):
                raise E.ProtocolError("malformed outcome reply: no gid")
        except (E.Timeout, E.ProtocolError, E.ConnectionLost) as e:
            # the request may have been acted on: never guess
            if gid:
                raise E.InDoubt("outcome of %s of %s unknown (%s); ask "
                                "status(gid)" % (what, gid, e.message),
                                gid=gid) from e
            raise E.InDoubt("outcome of %s unknown and no gid came back "
                            "(%s); list() in-flight transactions to find "
                            "it" % (what, e.message)) from e
        except E.Aborted as e:
            if isinstance(e, E.DatabaseError) or want != "aborted":
                raise
            return {"gid": gid, "outcome": "aborted", "reason": e.message}
        outcome = reply.get("outcome")
        rgid = reply["gid"]
        if outcome == want:
            return reply
        if outcome == "committed":
            raise E.StateError("%s was already committed" % rgid, gid=rgid)
        if outcome == "aborted":
            reason = reply.get("reason") or ""
            raise E.Aborted("%s aborted%s" % (rgid, ": " + reason if reason
                                              else ""),
                            gid=rgid, reason=reason)
        raise E.InDoubt("coordinator reports %s of %s still in progress; "
                        "ask status(gid)" % (what, rgid), gid=rgid)

    def _ask_after_loss(self, gid, deadline):
        """The link broke with commit/rollback of GID on it (an HA group):
        never resend it; ask the group status(gid) until it tells committed
        or aborted.  Returns that txstatus reply, or raises (ConnectionLost,
        Timeout ...: the caller reports InDoubt)."""
        self._move()                # the member we lost may be gone
        while True:
            try:
                reply = self._call({"type": "status", "gid": gid},
                                   "txstatus", resend_lost=True,
                                   deadline=deadline)
                if reply.get("gid") == gid \
                        and reply.get("outcome") in ("committed", "aborted"):
                    return reply
            except (E.ConnectionLost, E.Unreachable):
                if time.monotonic() >= deadline:
                    raise
                self._move()
                continue
            if time.monotonic() + _POLL_S >= deadline:
                raise E.Timeout("%s still in progress at the deadline" % gid)
            time.sleep(_POLL_S)     # still being decided: ask again

    # -- the calls --------------------------------------------------------

    def begin(self, *, timeout_ms=None, protocol=None):
        """Start an interactive transaction and return its
        :class:`Transaction` (its ``gid`` is known before anything
        happens).  ``timeout_ms``: the coordinator aborts it if not
        committed by then (None/0 = its default, at most 24 h);
        ``protocol``: "2pc", "3pc" or None (the coordinator's).

        As a context manager it commits on a normal exit and rolls back
        on an exception::

            with client.begin() as tx:
                tx.exec("db1", "UPDATE ...", [10, 1])
                tx.exec("db2", "UPDATE ...", [10, 2])
        """
        msg = _txn_opts({"type": "begin"}, timeout_ms, protocol)
        reply = self._call(msg, "begun", resend_lost=True)
        gid = reply.get("gid")
        if not isinstance(gid, str) or not _GID.match(gid):
            raise E.ProtocolError("malformed begun reply: no gid")
        return Transaction(self, gid)

    def exec(self, gid, on, sql, params=None):
        """Run SQL with PARAMS ($1, $2 ...: str, int, float, Decimal or
        None) on participant ON within transaction GID; return its
        :class:`Result`.  A statement the database refuses raises
        :class:`~tpc.DatabaseError` (an :class:`~tpc.Aborted`: the
        coordinator aborts the transaction).  After :class:`~tpc.Timeout`
        the statement may or may not have run: roll back, never resend."""
        msg = dict(_stmt(on, sql, params), type="exec", gid=_check_gid(gid))
        reply = self._call(msg, "result")
        self._reply_gid(reply, gid)
        columns = reply.get("columns") or []
        rows = reply.get("rows") or []
        affected = reply.get("affected", -1)
        return Result(list(columns), [list(r) for r in rows], affected)

    def commit(self, gid):
        """Commit GID.  Returns None when committed; raises
        :class:`~tpc.Aborted` (with ``reason``), :class:`~tpc.InDoubt`
        (ask :meth:`status` later) or the error the coordinator gave."""
        self._decided({"type": "commit", "gid": _check_gid(gid)},
                      "committed", gid)

    def rollback(self, gid):
        """Roll GID back.  Returns the reason the coordinator gives;
        raises :class:`~tpc.StateError` if it had committed, otherwise as
        :meth:`commit`."""
        reply = self._decided({"type": "rollback", "gid": _check_gid(gid)},
                              "aborted", gid)
        return reply.get("reason") or ""

    def submit(self, work, *, timeout_ms=None, protocol=None):
        """One-shot transaction: every statement for every participant in
        one request; the coordinator runs them and commits, or aborts
        them all.  WORK is ``{participant: sql | (sql, params) | [...]}``
        or a list of ``(participant, sql[, params])``; statements run in
        that order.  Returns the gid when committed; raises
        :class:`~tpc.Aborted` (``gid``, ``reason``: e.g. the database's
        text) or :class:`~tpc.InDoubt` (never resend blindly)."""
        msg = _txn_opts({"type": "submit", "stmts": _statements(work)},
                        timeout_ms, protocol)
        return self._decided(msg, "committed", None)["gid"]

    def status(self, gid):
        """What became of GID: a :class:`TxStatus`.  Raises
        :class:`~tpc.UnknownGid` for a gid the coordinator does not know."""
        reply = self._call({"type": "status", "gid": _check_gid(gid)},
                           "txstatus", resend_lost=True)
        self._reply_gid(reply, gid)
        return TxStatus(gid, reply.get("outcome"), reply.get("state") or "",
                        reply.get("reason") or "")

    def list(self):
        """The coordinator's in-flight and in-doubt transactions, as
        :class:`TxInfo` tuples."""
        reply = self._call({"type": "list"}, "txlist", resend_lost=True)
        return [TxInfo(t.get("gid"), t.get("state"), t.get("age_ms", 0),
                       list(t.get("parts") or []),
                       list(t.get("waiting") or []))
                for t in reply.get("txns") or []]

    def summary(self):
        """The coordinator at a glance: a :class:`Summary`."""
        r = self._call({"type": "summary"}, "txsummary", resend_lost=True)
        return Summary(r.get("in_flight", 0), r.get("in_doubt", 0),
                       r.get("committed", 0), r.get("aborted", 0),
                       r.get("heuristic", 0), r.get("oldest_ms", 0),
                       list(r.get("agents") or []))

    def cluster(self):
        """The view of the member this client talks to, as libtpc's
        tpc_cluster: a :class:`Cluster`.  A follower answers it as a
        leader does (no not_leader): ask each member with a Client of
        its own endpoint to see the whole group."""
        r = self._call({"type": "cluster"}, "clusterinfo", resend_lost=True)
        ints = {}
        for k in ("epoch", "lease_ttl_ms", "lease_left_ms", "revision"):
            v = r.get(k, 0)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise E.ProtocolError("malformed clusterinfo from %s: %s "
                                      "is %r" % (self.endpoint, k, v))
            ints[k] = v
        for k in ("role", "member", "leader"):
            if not isinstance(r.get(k, ""), str):
                raise E.ProtocolError("malformed clusterinfo from %s: %s "
                                      "is %r" % (self.endpoint, k, r[k]))
        return Cluster(r.get("role") or "", r.get("member") or "",
                       r.get("leader") or "", **ints)

    def resolve(self, gid, outcome, reason=None):
        """Settle a stuck transaction by force (admin keys only): OUTCOME
        is "committed" or "aborted"; the coordinator records a HEURISTIC
        decision.  Raises :class:`~tpc.PermissionDenied` for a key that is
        not an admin's, :class:`~tpc.StateError` while it still drives
        GID."""
        if outcome not in ("committed", "aborted"):
            raise ValueError("outcome must be 'committed' or 'aborted'")
        msg = {"type": "resolve", "gid": _check_gid(gid), "outcome": outcome}
        if reason:
            msg["reason"] = _check_name("reason", reason)
        reply = self._call(msg, "outcome")
        self._reply_gid(reply, gid)
        if reply.get("outcome") != outcome:
            raise E.ProtocolError("resolve of %s answered %s"
                                  % (gid, reply.get("outcome")))


class Transaction:
    """An interactive transaction of :meth:`Client.begin`: ``gid``,
    :meth:`exec`, :meth:`commit`, :meth:`rollback`.  ``outcome`` is None
    until it ends, then "committed" or "aborted" (None again if
    :class:`~tpc.InDoubt`).

    ``with client.begin() as tx:`` commits on a normal exit and rolls
    back when the block raises (unless the transaction already ended, e.g.
    a statement error aborted it); the exception goes on."""

    def __init__(self, client, gid):
        self.client = client
        self.gid = gid
        self.outcome = None

    def exec(self, on, sql, params=None):
        """Run SQL on participant ON (see :meth:`Client.exec`)."""
        try:
            return self.client.exec(self.gid, on, sql, params)
        except E.Aborted:
            self.outcome = "aborted"
            raise

    def commit(self):
        """Commit (see :meth:`Client.commit`)."""
        try:
            self.client.commit(self.gid)
        except E.Aborted:
            self.outcome = "aborted"
            raise
        self.outcome = "committed"

    def rollback(self):
        """Roll back (see :meth:`Client.rollback`); returns the reason."""
        reason = self.client.rollback(self.gid)
        self.outcome = "aborted"
        return reason

    def __enter__(self):
        return self

    def __exit__(self, etype, exc, tb):
        if self.outcome is not None:
            return False
        if etype is None:
            self.commit()
            return False
        try:
            self.rollback()
        except E.Error:
            pass                # the block's exception is the one to see
        return False

    def __repr__(self):
        return "Transaction(gid=%r, outcome=%r)" % (self.gid, self.outcome)
