"""test_client: the Python module tpc against a real coordinator, two real
PostgreSQL agents (conftest.py's ``world``) and, for the replies a healthy
coordinator never sends, a scripted fake one.

Every client call (submit, begin/exec/commit/rollback, the context
manager, status, list, summary, resolve) and every error class: Aborted
with the database's message, DatabaseError, UnknownGid,
UnknownParticipant, Busy, LimitExceeded, PermissionDenied, Unreachable
within the connect timeout, KeyRefused (a key in no allow-list, a wrong
coordinator key), Timeout, InDoubt, ProtocolError, ConnectionLost, and
ValueError / TypeError before anything is sent.  Outcomes are checked in
the databases (balances, rows) and with status().
"""
import json
import os
import subprocess
import sys
import threading
import time

import pytest
import zmq

import tpc
from conftest import (SRC, MAX_RESULT_ROWS, MAX_STMTS, MAX_TXNS_PER_CLIENT,
                      free_port)

DEBIT = "UPDATE accounts SET balance = balance - $1 WHERE id = $2"
CREDIT = "UPDATE accounts SET balance = balance + $1 WHERE id = $2"


@pytest.fixture
def client(world):
    with world.client() as c:
        yield c


# -- one-shot transactions -------------------------------------------------

def test_submit_commits_both(world, client):
    a, b = world.balance("db1", 1), world.balance("db2", 1)
    gid = client.submit({"db1": (DEBIT, [10, 1]), "db2": (CREDIT, ["10", 1])})
    assert gid.startswith("tpc_c1_")
    assert world.balance("db1", 1) == a - 10
    assert world.balance("db2", 1) == b + 10
    st = client.status(gid)
    assert (st.gid, st.outcome) == (gid, "committed")


def test_submit_list_form_and_protocol(world, client):
    a = world.balance("db1", 2)
    gid = client.submit([("db1", DEBIT, [1, 2]),
                         {"on": "db2", "sql": CREDIT, "params": [1, 2]}],
                        protocol="2pc", timeout_ms=10000)
    assert client.status(gid).outcome == "committed"
    assert world.balance("db1", 2) == a - 1


def test_submit_statement_error_is_aborted(world, client):
    a, b = world.balance("db1", 3), world.balance("db2", 3)
    with pytest.raises(tpc.Aborted) as ei:
        client.submit([("db1", DEBIT, [5, 3]),
                       ("db2", "UPDATE no_such_table SET x = 1")])
    e = ei.value
    assert 'relation "no_such_table" does not exist' in e.reason
    assert e.gid and e.gid.startswith("tpc_c1_")
    assert client.status(e.gid).outcome == "aborted"
    assert world.balance("db1", 3) == a and world.balance("db2", 3) == b


def test_submit_overdraft_votes_no(world, client):
    a, b = world.balance("db1", 4), world.balance("db2", 4)
    with pytest.raises(tpc.Aborted) as ei:
        client.submit({"db1": (DEBIT, [a + 1, 4]), "db2": (CREDIT, [a + 1, 4])})
    assert "check constraint" in ei.value.reason
    assert world.balance("db1", 4) == a and world.balance("db2", 4) == b


def test_submit_too_many_statements_is_limit(client):
    with pytest.raises(tpc.LimitExceeded) as ei:
        client.submit({"db1": ["SELECT 1"] * (MAX_STMTS + 1)})
    assert ei.value.code == -16


# -- interactive transactions ----------------------------------------------

def test_exec_returns_rows(world, client):
    tx = client.begin()
    assert tx.gid.startswith("tpc_c1_")
    r = tx.exec("db1", "SELECT id, balance, note FROM accounts "
                       "WHERE id = $1 OR id = $2 ORDER BY id", [5, "6"])
    assert r.columns == ["id", "balance", "note"]
    assert [row[0] for row in r] == ["5", "6"]
    assert r.rows[0][2] is None and len(r) == 2
    assert r.dicts()[1]["id"] == "6"
    r = tx.exec("db2", "SELECT $1::text AS a, $2::text AS b", [None, 1.5])
    assert r.rows == [[None, "1.5"]]
    r = tx.exec("db1", "UPDATE accounts SET note = 'x' WHERE id > 8")
    assert r.affected == 2 and r.rows == []
    assert tx.rollback() is not None
    assert tx.outcome == "aborted"
    assert world.sql("db1", "SELECT count(*) FROM accounts "
                            "WHERE note IS NOT NULL") == "0"


def test_begin_exec_commit(world, client):
    a, b = world.balance("db1", 5), world.balance("db2", 5)
    tx = client.begin(timeout_ms=20000)
    tx.exec("db1", DEBIT, [7, 5])
    tx.exec("db2", CREDIT, [7, 5])
    assert tx.commit() is None and tx.outcome == "committed"
    assert world.balance("db1", 5) == a - 7
    assert world.balance("db2", 5) == b + 7
    assert client.status(tx.gid).outcome == "committed"
    with pytest.raises(tpc.StateError):     # a committed gid: no rollback
        client.rollback(tx.gid)


def test_rollback(world, client):
    a = world.balance("db1", 6)
    tx = client.begin()
    tx.exec("db1", DEBIT, [3, 6])
    reason = tx.rollback()
    assert isinstance(reason, str)
    assert client.status(tx.gid).outcome == "aborted"
    assert world.balance("db1", 6) == a


def test_context_manager_commits(world, client):
    a, b = world.balance("db1", 7), world.balance("db2", 7)
    with client.begin() as tx:
        tx.exec("db1", DEBIT, [2, 7])
        tx.exec("db2", CREDIT, [2, 7])
    assert tx.outcome == "committed"
    assert client.status(tx.gid).outcome == "committed"
    assert world.balance("db1", 7) == a - 2
    assert world.balance("db2", 7) == b + 2


def test_context_manager_rolls_back_on_exception(world, client):
    a, b = world.balance("db1", 8), world.balance("db2", 8)
    with pytest.raises(KeyError):
        with client.begin() as tx:
            tx.exec("db1", DEBIT, [2, 8])
            tx.exec("db2", CREDIT, [2, 8])
            raise KeyError("the application changed its mind")
    assert tx.outcome == "aborted"
    assert client.status(tx.gid).outcome == "aborted"
    assert world.balance("db1", 8) == a and world.balance("db2", 8) == b


def test_exec_statement_error_is_database_error(world, client):
    a = world.balance("db1", 9)
    with pytest.raises(tpc.DatabaseError) as ei:
        with client.begin() as tx:
            tx.exec("db1", DEBIT, [1, 9])
            tx.exec("db2", "SELECT nope FROM accounts")
    e = ei.value
    assert isinstance(e, tpc.Aborted) and e.code == -11
    assert 'column "nope" does not exist' in e.message
    assert tx.outcome == "aborted"
    assert client.status(tx.gid).outcome == "aborted"
    assert world.balance("db1", 9) == a
    with pytest.raises(tpc.Aborted):        # the coordinator aborted it
        client.commit(tx.gid)


def test_result_over_the_row_limit(client):
    with pytest.raises(tpc.LimitExceeded):
        with client.begin() as tx:
            tx.exec("db1", "SELECT generate_series(1, $1)",
                    [MAX_RESULT_ROWS + 1])


def test_unknown_participant(client):
    tx = client.begin()
    with pytest.raises(tpc.UnknownParticipant) as ei:
        tx.exec("db9", "SELECT 1")
    assert "db9" in ei.value.message
    tx.rollback()


def test_unknown_gid(client):
    tx = client.begin()
    tx.rollback()
    coord, epoch, seq = tx.gid.split("_")[1:]
    never = "tpc_%s_%s_%d" % (coord, epoch, int(seq) + 100000)
    with pytest.raises(tpc.UnknownGid) as ei:
        client.status(never)
    assert ei.value.code == -300
    with pytest.raises(tpc.UnknownGid):
        client.commit(never)


# -- status, list, summary, resolve ----------------------------------------

def test_list_shows_open_transaction(client):
    tx = client.begin()
    tx.exec("db1", "SELECT 1")
    listed = {t.gid: t for t in client.list()}
    assert tx.gid in listed
    t = listed[tx.gid]
    assert t.parts == ["db1"] and t.age_ms >= 0 and isinstance(t.state, str)
    tx.rollback()
    # listed until both agents acked the abort: wait for that, with a deadline
    end = time.monotonic() + 20
    while tx.gid in {t.gid for t in client.list()}:
        assert time.monotonic() < end, "still listed after its rollback"
        time.sleep(0.05)


def test_summary(client):
    client.submit({"db1": "SELECT 1", "db2": "SELECT 1"})
    s = client.summary()
    assert set(s.agents) == {"db1", "db2"}
    assert s.committed >= 1 and s.in_flight >= 0 and s.in_doubt >= 0


def test_resolve_needs_an_admin_key(world, client):
    tx = client.begin()
    tx.rollback()
    with pytest.raises(tpc.PermissionDenied):
        client.resolve(tx.gid, "aborted", reason="test")
    with world.client("ops") as admin:
        with pytest.raises(tpc.StateError) as ei:  # ended: nothing to settle
            admin.resolve(tx.gid, "committed", reason="test")
    assert "aborted" in ei.value.message


def test_busy_over_the_per_key_limit(world):
    with world.client("busy") as c:
        txs = [c.begin() for _ in range(MAX_TXNS_PER_CLIENT)]
        with pytest.raises(tpc.Busy):
            c.begin()
        for tx in txs:
            tx.rollback()
        c.begin().rollback()                # room again


# -- connection failures ---------------------------------------------------

def test_unreachable_within_the_connect_timeout():
    ep = "tcp://127.0.0.1:%d" % free_port()
    with tpc.Client(ep, timeout_ms=30000) as c:   # connect timeout: 2000
        t0 = time.monotonic()
        with pytest.raises(tpc.Unreachable) as ei:
            c.status("tpc_c1_1_1")
        took = time.monotonic() - t0
    e = ei.value
    print("unreachable reported in %.2f s" % took)
    assert 1.9 <= took <= 4.0, took    # the default connect timeout, 2 s (as libtpc)
    assert e.endpoint == ep and ep in e.message and e.code == -10
    assert "is tpc-coordinator running" in e.hint
    with tpc.Client(ep, connect_timeout_ms=300) as c:
        t0 = time.monotonic()
        with pytest.raises(tpc.Unreachable):
            c.submit({"db1": "SELECT 1"})
        assert time.monotonic() - t0 < 1.5


def test_key_not_in_the_allow_list_is_refused(world):
    t0 = time.monotonic()
    with world.client("stranger") as c:
        with pytest.raises(tpc.KeyRefused) as ei:
            c.summary()
    assert "the coordinator refused this client's key" in ei.value.message
    assert ei.value.code == -14
    assert time.monotonic() - t0 < 3


def test_wrong_coordinator_key_is_refused(world):
    with tpc.Client(world.endpoint, client_secret=world.key("app"),
                    server_public=world.key("ops", False),
                    timeout_ms=10000) as c:
        with pytest.raises(tpc.KeyRefused) as ei:
            c.summary()
    assert "handshake" in ei.value.message


def test_keys_as_z85_text(world):
    import zmq.auth
    _, sec = zmq.auth.load_certificate(world.key("app"))
    server, _ = zmq.auth.load_certificate(world.key("c1", False))
    with tpc.Client([world.endpoint], client_secret=sec.decode(),
                    server_public=server) as c:
        assert "db1" in c.summary().agents


# -- bad arguments: refused before anything is sent ------------------------

def test_bad_arguments():
    # a connect timeout of an hour: a call that tried to send would hang
    ep = "tcp://127.0.0.1:%d" % free_port()
    with tpc.Client(ep, connect_timeout_ms=3600000,
                    timeout_ms=3600000) as c:
        for call, exc in [
                (lambda: c.status("not a gid"), ValueError),
                (lambda: c.status(42), TypeError),
                (lambda: c.commit("tpc_c1_0_1"), ValueError),
                (lambda: c.exec("tpc_c1_1_1", "", "SELECT 1"), ValueError),
                (lambda: c.exec("tpc_c1_1_1", "db1", None), TypeError),
                (lambda: c.exec("tpc_c1_1_1", "db1", "SELECT $1", [b"x"]),
                 TypeError),
                (lambda: c.exec("tpc_c1_1_1", "db1", "SELECT $1", "1"),
                 TypeError),
                (lambda: c.submit([]), ValueError),
                (lambda: c.submit("SELECT 1"), TypeError),
                (lambda: c.submit({"db1": 5}), TypeError),
                (lambda: c.submit([("db1",)]), TypeError),
                (lambda: c.submit([{"on": "db1", "sql": "x", "as": 1}]),
                 ValueError),
                (lambda: c.begin(protocol="4pc"), ValueError),
                (lambda: c.begin(timeout_ms=86400001), ValueError),
                (lambda: c.begin(timeout_ms="1"), TypeError),
                (lambda: c.resolve("tpc_c1_1_1", "maybe"), ValueError)]:
            with pytest.raises(exc):
                call()
    for kw, exc in [({"timeout_ms": 0}, ValueError),
                    ({"connect_timeout_ms": -1}, ValueError),
                    ({"timeout_ms": 1.5}, TypeError),
                    ({"client_secret": "x"}, ValueError),
                    ({"client_secret": "/nonexistent/app.key_secret",
                      "server_public": "/nonexistent/c1.key"},
                     FileNotFoundError)]:
        with pytest.raises(exc):
            tpc.Client(ep, **kw)
    for bad in ([], "%s,,%s" % (ep, ep), [ep, ""], ",%s" % ep):
        with pytest.raises(ValueError):
            tpc.Client(bad)
    with pytest.raises(ValueError):
        tpc.Client("no-transport")
    with pytest.raises(TypeError):
        tpc.Client(7400)


def test_world_readable_secret_is_refused(world, tmp_path):
    loose = tmp_path / "app.key_secret"
    loose.write_bytes(open(world.key("app"), "rb").read())
    loose.chmod(0o644)
    with pytest.raises(PermissionError):
        tpc.Client(world.endpoint, client_secret=str(loose),
                   server_public=world.key("c1", False))


# -- replies a healthy coordinator does not send: a scripted fake ----------

class FakeCoordinator:
    """A plain-text ROUTER that answers each request with SCRIPT's next
    entry: a dict (sent with the request's rid unless it has one), a list
    of raw frames, or None (no reply)."""

    def __init__(self, script):
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.ROUTER)
        self.sock.linger = 0
        port = self.sock.bind_to_random_port("tcp://127.0.0.1")
        self.endpoint = "tcp://127.0.0.1:%d" % port
        self.script = list(script)
        self.requests = []
        self.stopping = False
        self.got = threading.Event()     # set at each request
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        for step in self.script:
            while not self.sock.poll(50):
                if self.stopping:
                    return
            ident, frame = self.sock.recv_multipart()
            req = json.loads(frame)
            self.requests.append(req)
            self.got.set()
            if step is None:
                continue
            if isinstance(step, list):
                self.sock.send_multipart([ident] + step)
                continue
            for one in step if isinstance(step, tuple) else (step,):
                msg = dict({"v": 1, "rid": req["rid"]}, **one)
                self.sock.send_multipart([ident, json.dumps(msg).encode()])

    def close(self):
        """Stop the thread, then close the ROUTER (its links break)."""
        if self.sock.closed:
            return
        self.stopping = True
        self.thread.join(5)
        self.sock.close(0)
        self.ctx.term()


@pytest.fixture
def fake(request):
    fakes = []

    def make(*script):
        f = FakeCoordinator(script)
        fakes.append(f)
        return f, tpc.Client(f.endpoint, timeout_ms=10000)
    yield make
    for f in fakes:
        f.close()


@pytest.mark.parametrize("code,cls", [
    (-2, tpc.BadRequest), (-111, tpc.MalformedMessage), (-7, tpc.Timeout),
    (-8, tpc.Busy), (-9, tpc.StateError), (-13, tpc.ProtocolError),
    (-14, tpc.KeyRefused), (-15, tpc.PermissionDenied),
    (-16, tpc.LimitExceeded), (-17, tpc.ConnectionLost),
    (-300, tpc.UnknownGid), (-301, tpc.UnknownParticipant),
    (-302, tpc.Aborted), (-303, tpc.InDoubt), (-11, tpc.DatabaseError),
    (-999, tpc.Error)])
def test_each_error_code_has_its_class(fake, code, cls):
    f, c = fake({"type": "error", "code": code, "message": "scripted",
                 "gid": "tpc_c1_1_1"})
    with c, pytest.raises(cls) as ei:
        c.status("tpc_c1_1_1")
    e = ei.value
    assert type(e) is cls and e.code == code and e.message == "scripted"
    assert e.gid == "tpc_c1_1_1" and isinstance(e, tpc.Error)


def test_no_reply_is_timeout_or_in_doubt(fake):
    f, c = fake({"type": "txlist", "txns": []}, None, None, None)
    with c:
        assert c.list() == []       # connected: now the replies stop
        c.timeout_ms = 1000
        with pytest.raises(tpc.Timeout):
            c.status("tpc_c1_1_1")
        with pytest.raises(tpc.InDoubt) as ei:
            c.commit("tpc_c1_1_1")
        assert ei.value.gid == "tpc_c1_1_1"
        with pytest.raises(tpc.InDoubt) as ei:
            c.submit({"db1": "SELECT 1"})
        assert ei.value.gid is None and "list()" in ei.value.message


def test_stale_replies_are_dropped(fake):
    stale = {"type": "txstatus", "rid": 99, "gid": "tpc_c1_9_9",
             "state": "ended", "outcome": "aborted"}
    good = {"type": "txstatus", "gid": "tpc_c1_1_1", "state": "ended",
            "outcome": "committed"}
    f, c = fake((stale, good))
    with c:
        assert c.status("tpc_c1_1_1").outcome == "committed"
    assert f.requests[0] == {"v": 1, "type": "status", "rid": 1,
                             "gid": "tpc_c1_1_1"}


def test_malformed_replies(fake):
    f, c = fake([b"not json"], [b"{}", b"{}"],
                {"type": "txlist", "txns": []},
                {"type": "error", "rid": 0, "code": -102, "message": "x"},
                {"type": "outcome", "gid": "tpc_c1_2_2",
                 "outcome": "committed"})
    with c:
        with pytest.raises(tpc.ProtocolError):
            c.status("tpc_c1_1_1")
        with pytest.raises(tpc.ProtocolError):
            c.list()
        with pytest.raises(tpc.ProtocolError):   # wrong type
            c.summary()
        with pytest.raises(tpc.InDoubt):          # rid 0 to a commit
            c.commit("tpc_c1_1_1")
        with pytest.raises(tpc.InDoubt):          # another gid's outcome
            c.commit("tpc_c1_1_1")


def test_in_progress_commit_is_in_doubt(fake):
    f, c = fake({"type": "outcome", "gid": "tpc_c1_1_1",
                 "outcome": "in_progress"})
    with c, pytest.raises(tpc.InDoubt):
        c.commit("tpc_c1_1_1")


def test_coordinator_gone_while_waiting_is_connection_lost(fake):
    f, c = fake(None)

    def stop_once_asked():
        f.got.wait(20)
        f.close()
    t = threading.Thread(target=stop_once_asked)
    t.start()
    with c:
        t0 = time.monotonic()
        with pytest.raises(tpc.ConnectionLost) as ei:
            c.list()
        assert time.monotonic() - t0 < 5   # at once, not at the timeout
    assert "may have been acted on" in ei.value.message
    t.join()


# -- an HA group: endpoint lists, not_leader, failover ----------------------

def _not_leader(leader=""):
    return {"type": "error", "code": -19, "leader": leader,
            "message": "this coordinator is not the leader of its group"}


def test_group_follows_the_named_leader():
    leader = FakeCoordinator([{"type": "txstatus", "gid": "tpc_c1_1_1",
                               "state": "committed",
                               "outcome": "committed"}])
    follower = FakeCoordinator([_not_leader(leader.endpoint)])
    dead = "tcp://127.0.0.1:%d" % free_port()
    try:
        # the leader is not in the list: the follower names it
        with tpc.Client([follower.endpoint, dead], timeout_ms=10000) as c:
            st = c.status("tpc_c1_1_1")
            assert st.outcome == "committed"
            assert c.endpoint == leader.endpoint
        assert [r["type"] for r in follower.requests] == ["status"]
        assert [r["type"] for r in leader.requests] == ["status"]
    finally:
        leader.close()
        follower.close()


def test_cluster():
    """Client.cluster(): the cluster request, each member's clusterinfo
    (a follower answers it: no not_leader), a malformed one refused."""
    leader = FakeCoordinator([{"type": "clusterinfo", "role": "leader",
                               "member": "m1-42", "leader": "tcp://a:1",
                               "epoch": 4, "lease_ttl_ms": 2000,
                               "lease_left_ms": 1730, "revision": 981}])
    follower = FakeCoordinator([{"type": "clusterinfo", "role": "follower",
                                 "member": "m2-43", "leader": "tcp://a:1",
                                 "lease_ttl_ms": 2000},
                                {"type": "clusterinfo", "role": "leader",
                                 "epoch": "4"}])
    try:
        with tpc.Client(leader.endpoint, timeout_ms=10000) as c:
            v = c.cluster()
        assert v == tpc.Cluster("leader", "m1-42", "tcp://a:1", 4, 2000,
                                1730, 981)
        assert [r["type"] for r in leader.requests] == ["cluster"]
        assert set(leader.requests[0]) == {"v", "type", "rid"}
        # the group's list, the follower first: its own view, not moved
        with tpc.Client([follower.endpoint, leader.endpoint],
                        timeout_ms=10000) as c:
            v = c.cluster()
            assert c.endpoint == follower.endpoint
            assert (v.role, v.member, v.epoch, v.lease_left_ms,
                    v.revision) == ("follower", "m2-43", 0, 0, 0)
            with pytest.raises(tpc.ProtocolError) as ei:
                c.cluster()
            assert "epoch" in ei.value.message
    finally:
        leader.close()
        follower.close()


def test_group_unknown_leader_tries_the_next():
    follower = FakeCoordinator([_not_leader()])
    leader = FakeCoordinator([{"type": "txlist", "txns": []}])
    try:
        with tpc.Client("%s, %s" % (follower.endpoint, leader.endpoint),
                        timeout_ms=10000) as c:
            assert c.list() == []
        assert len(follower.requests) == 1 and len(leader.requests) == 1
    finally:
        leader.close()
        follower.close()


def test_group_no_leader_known_is_not_leader():
    a = FakeCoordinator([_not_leader()] * 100)
    b = FakeCoordinator([_not_leader()] * 100)
    try:
        with tpc.Client([a.endpoint, b.endpoint], timeout_ms=1000) as c:
            t0 = time.monotonic()
            with pytest.raises(tpc.NotLeader) as ei:
                c.status("tpc_c1_1_1")
            assert 1.0 <= time.monotonic() - t0 < 3.0
        assert ei.value.code == -19 and "not acted on" in ei.value.message
        assert len(a.requests) + len(b.requests) >= 4
        # one endpoint: the error as it came
        with tpc.Client(a.endpoint, timeout_ms=2000) as c, \
                pytest.raises(tpc.NotLeader):
            c.status("tpc_c1_1_1")
    finally:
        a.close()
        b.close()


def test_group_first_member_down():
    leader = FakeCoordinator([{"type": "begun", "gid": "tpc_c1_1_1"}])
    dead = "tcp://127.0.0.1:%d" % free_port()
    try:
        with tpc.Client([dead, leader.endpoint], timeout_ms=10000,
                        connect_timeout_ms=500) as c:
            t0 = time.monotonic()
            assert c.begin().gid == "tpc_c1_1_1"
            assert time.monotonic() - t0 < 5
    finally:
        leader.close()


def test_group_wholly_down_names_the_group():
    dead = ["tcp://127.0.0.1:%d" % free_port() for _ in range(2)]
    with tpc.Client(dead, timeout_ms=1500, connect_timeout_ms=300) as c:
        t0 = time.monotonic()
        with pytest.raises(tpc.Unreachable) as ei:
            c.status("tpc_c1_1_1")
        assert 1.5 <= time.monotonic() - t0 < 5
    assert "no member of the group %s,%s" % tuple(dead) in str(ei.value)
    assert ei.value.endpoint == ",".join(dead)


def test_group_commit_lost_asks_status_not_commit():
    old = FakeCoordinator([{"type": "begun", "gid": "tpc_c1_1_1"}, None])
    new = FakeCoordinator([{"type": "txstatus", "gid": "tpc_c1_1_1",
                            "state": "committed", "outcome": "committed"}])

    def die_at_commit():
        end = time.monotonic() + 20
        while len(old.requests) < 2 and time.monotonic() < end:
            old.got.wait(1)
            old.got.clear()
        old.close()
    t = threading.Thread(target=die_at_commit)
    t.start()
    try:
        with tpc.Client([old.endpoint, new.endpoint], timeout_ms=10000) as c:
            tx = c.begin()
            c.commit(tx.gid)            # committed: no exception
        assert [r["type"] for r in old.requests] == ["begin", "commit"]
        assert [r["type"] for r in new.requests] == ["status"]
    finally:
        t.join()
        new.close()
        old.close()


# -- the command line and the example --------------------------------------

def test_python_m_tpc(world, client):
    gid = client.submit({"db1": "SELECT 1"})
    env = dict(os.environ, PYTHONPATH=os.path.join(SRC, "python"),
               TPC_COORDINATOR=world.endpoint,
               TPC_CURVE_SECRET=world.key("app"),
               TPC_COORDINATOR_PUBLIC=world.key("c1", False))
    out = subprocess.run([sys.executable, "-m", "tpc", "status", gid],
                         env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("%s committed" % gid)
    out = subprocess.run([sys.executable, "-m", "tpc", "summary"],
                         env=env, capture_output=True, text=True)
    assert out.returncode == 0 and "agents=2" in out.stdout
    env["TPC_COORDINATOR"] = "tcp://127.0.0.1:%d" % free_port()
    out = subprocess.run([sys.executable, "-m", "tpc",
                          "--connect-timeout-ms", "200", "list"],
                         env=env, capture_output=True, text=True)
    assert out.returncode == 3 and "not reachable" in out.stderr


def test_example_transfer(world):
    a, b = world.balance("db1", 10), world.balance("db2", 10)
    env = dict(os.environ, TPC_COORDINATOR=world.endpoint,
               TPC_CURVE_SECRET=world.key("app"),
               TPC_COORDINATOR_PUBLIC=world.key("c1", False))
    env.pop("PYTHONPATH", None)     # the example finds python/ itself
    out = subprocess.run(
        [sys.executable, os.path.join(SRC, "examples", "python",
                                      "transfer.py"),
         "--amount", "4", "--from-id", "10", "--to-id", "10"],
        env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("committed gid=tpc_c1_")
    assert world.balance("db1", 10) == a - 4
    assert world.balance("db2", 10) == b + 4
    out = subprocess.run(
        [sys.executable, os.path.join(SRC, "examples", "python",
                                      "transfer.py"),
         "--amount", "100000", "--from-id", "10", "--to-id", "10"],
        env=env, capture_output=True, text=True)
    assert out.returncode == 1 and out.stdout.startswith("aborted gid=")


def test_readme_snippet(world):
    """README.md's "From Python" example runs as written."""
    readme = open(os.path.join(SRC, "README.md")).read()
    part = readme[readme.index("### From Python"):]
    code = part[part.index("```python\n") + 10:]
    code = code[:code.index("```")]
    a = world.balance("db1", 1)
    env = dict(os.environ, PYTHONPATH=os.path.join(SRC, "python"),
               TPC_COORDINATOR=world.endpoint,
               TPC_CURVE_SECRET=world.key("app"),
               TPC_COORDINATOR_PUBLIC=world.key("c1", False))
    out = subprocess.run([sys.executable, "-c", code], env=env,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("committed [") and "'db1'" in out.stdout
    assert world.balance("db1", 1) == a - 10


def test_codes_match_tpc_error_h():
    """tpc.errors mirrors common/tpc_error.h: the same names and numbers
    (the Python twin of tpc_client.c's _Static_asserts)."""
    import re
    from tpc import errors
    text = open(os.path.join(SRC, "common", "tpc_error.h")).read()
    codes = {int(n): "TPC_" + name for name, n in
             re.findall(r"\bTPC_(E[A-Z0-9_]+)\s*=\s*(-\d+)", text)}
    assert len(codes) > 30
    for code, cls in [(-2, tpc.BadRequest), (-7, tpc.Timeout),
                      (-8, tpc.Busy), (-9, tpc.StateError),
                      (-10, tpc.Unreachable), (-11, tpc.DatabaseError),
                      (-13, tpc.ProtocolError), (-14, tpc.KeyRefused),
                      (-15, tpc.PermissionDenied), (-16, tpc.LimitExceeded),
                      (-17, tpc.ConnectionLost), (-19, tpc.NotLeader),
                      (-300, tpc.UnknownGid),
                      (-301, tpc.UnknownParticipant), (-302, tpc.Aborted),
                      (-303, tpc.InDoubt)]:
        assert cls.code == code and code in codes
    for code, name in codes.items():
        if code <= -200 and code > -300:
            continue            # the log's codes: never on the wire
        assert errors.NAMES.get(code) == name, (code, name)
