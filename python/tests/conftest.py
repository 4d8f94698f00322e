"""conftest: a real tpc world for the Python client's tests.

One session fixture, ``world``, starts what the C end-to-end suites
start: two throwaway PostgreSQL clusters (scripts/pgtmp), CURVE keys
(``tpcctl keygen``), a coordinator and two agents (db1, db2) of the build
tree, on free loopback ports.  It waits for each daemon's "ready" line and
then until the coordinator's summary lists both agents (every wait has a
deadline and polls the event; nothing sleeps to let things settle).

TPC_BUILD_DIR names the build tree (tests/python/run_pytest.sh, made by
`make check`, sets it); TPC_SRC_DIR the source tree (default: two levels
above this file).  TPC_TEST_KEEP=1 keeps the scratch directory.

Keys: app (a client), busy (a client of its own for the per-key limit),
ops (an admin), stranger (in no allow-list), c1 (the coordinator), db1
and db2 (the agents).  The coordinator runs with small limits
(--max-txns-per-client 4, --max-stmts 20, --max-result-rows 50) so that
Busy and LimitExceeded can be provoked.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest

SRC = os.environ.get("TPC_SRC_DIR") or os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(SRC, "python"))

import tpc  # noqa: E402

WAIT_S = 30
MAX_TXNS_PER_CLIENT = 4
MAX_STMTS = 20
MAX_RESULT_ROWS = 50


def free_port():
    """A TCP port nobody listens on (the kernel's pick, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(what, predicate, proc=None, log=None, timeout=WAIT_S):
    """Poll PREDICATE until true; fail with WHAT (and LOG's tail) after
    TIMEOUT s or as soon as PROC exits."""
    end = time.monotonic() + timeout
    while not predicate():
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("%s: the process exited (%s)%s" % (
                what, proc.returncode, tail(log)))
        if time.monotonic() > end:
            raise RuntimeError("timed out waiting for %s%s" % (what,
                                                               tail(log)))
        time.sleep(0.05)


def tail(path):
    if not path or not os.path.exists(path):
        return ""
    with open(path, errors="replace") as f:
        return "\n--- %s:\n%s" % (path, "".join(f.readlines()[-20:]))


def has_line(path, text):
    def check():
        try:
            with open(path, errors="replace") as f:
                return any(text in line for line in f)
        except FileNotFoundError:
            return False
    return check


class World:
    """What the tests see: the endpoint, the key files, the databases."""

    def __init__(self, tmp, build, endpoint, keys, conninfo):
        self.tmp = tmp
        self.build = build
        self.endpoint = endpoint
        self.keys = keys
        self.conninfo = conninfo

    def key(self, name, secret=True):
        return os.path.join(self.keys, name + (".key_secret" if secret
                                               else ".key"))

    def client(self, who="app", **kw):
        """A Client with WHO's key pair and the coordinator's key."""
        kw.setdefault("timeout_ms", 20000)
        return tpc.Client(self.endpoint, client_secret=self.key(who),
                          server_public=self.key("c1", False), **kw)

    def sql(self, db, query):
        """QUERY's rows in database DB ("db1"/"db2"), as text lines."""
        out = subprocess.run(
            ["psql", "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1",
             self.conninfo[db], "-c", query],
            check=True, capture_output=True, text=True).stdout
        return out.strip()

    def balance(self, db, account):
        return int(self.sql(db, "SELECT balance FROM accounts WHERE id = %d"
                            % account))


@pytest.fixture(scope="session")
def world():
    build = os.environ.get("TPC_BUILD_DIR")
    if not build or not os.path.exists(os.path.join(build,
                                                    "tpc-coordinator")):
        raise RuntimeError("TPC_BUILD_DIR must name a build tree with "
                           "tpc-coordinator (make check sets it)")
    pgtmp = os.path.join(SRC, "scripts", "pgtmp")
    tmp = tempfile.mkdtemp(prefix="tpc-pytest.")
    os.chmod(tmp, 0o755)
    procs = []
    pgs = []
    try:
        conninfo = {}
        for db in ("db1", "db2"):
            d = os.path.join(tmp, "pg-" + db)
            pgs.append(d)
            conninfo[db] = subprocess.run(
                [pgtmp, "start", d], check=True, capture_output=True,
                text=True).stdout.strip()
            subprocess.run(
                ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", conninfo[db],
                 "-c", "CREATE TABLE accounts (id int PRIMARY KEY, balance "
                       "bigint NOT NULL CHECK (balance >= 0), note text)",
                 "-c", "INSERT INTO accounts SELECT g, 1000 FROM "
                       "generate_series(1, 10) g"],
                check=True, capture_output=True)
            with open(os.path.join(tmp, db + ".conninfo"), "w") as f:
                f.write(conninfo[db] + "\n")

        keys = os.path.join(tmp, "keys")
        os.makedirs(keys)
        tpcctl = os.path.join(build, "tpcctl")
        for n in ("c1", "app", "busy", "ops", "stranger", "db1", "db2"):
            subprocess.run([tpcctl, "keygen", n, keys], check=True,
                           capture_output=True)
        for role, names in (("clients", ("app", "busy")),
                            ("admins", ("ops",)),
                            ("agents", ("db1", "db2"))):
            os.makedirs(os.path.join(keys, role))
            for n in names:
                shutil.copy(os.path.join(keys, n + ".key"),
                            os.path.join(keys, role))

        port, agent_port = free_port(), free_port()
        endpoint = "tcp://127.0.0.1:%d" % port
        agents_ep = "tcp://127.0.0.1:%d" % agent_port
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("TPC_CRASH")}

        def start(name, argv):
            log = os.path.join(tmp, name + ".log")
            with open(log, "w") as f:
                p = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env)
            procs.append(p)
            wait_until(name + "'s ready line", has_line(log, ": ready"),
                       proc=p, log=log)
            return p

        start("coordinator", [
            os.path.join(build, "tpc-coordinator"), "--id", "c1",
            "--log-dir", os.path.join(tmp, "log"), "--bind", endpoint,
            "--agent-bind", agents_ep,
            "--curve-secret", os.path.join(keys, "c1.key_secret"),
            "--allow-clients", os.path.join(keys, "clients"),
            "--allow-admins", os.path.join(keys, "admins"),
            "--allow-agents", os.path.join(keys, "agents"),
            "--max-txns-per-client", str(MAX_TXNS_PER_CLIENT),
            "--max-stmts", str(MAX_STMTS),
            "--max-result-rows", str(MAX_RESULT_ROWS)])
        for db in ("db1", "db2"):
            start(db, [
                os.path.join(build, "tpc-participant"), "--name", db,
                "--coordinator", agents_ep, "--pool", "2",
                "--pg-file", os.path.join(tmp, db + ".conninfo"),
                "--curve-secret", os.path.join(keys, db + ".key_secret"),
                "--coordinator-public", os.path.join(keys, "c1.key")])

        w = World(tmp, build, endpoint, keys, conninfo)
        with w.client(timeout_ms=2000) as c:
            def both_agents():
                try:
                    return set(c.summary().agents) >= {"db1", "db2"}
                except tpc.Error:
                    return False
            wait_until("both agents in the coordinator's summary",
                       both_agents, log=os.path.join(tmp,
                                                     "coordinator.log"))
        yield w
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in reversed(procs):
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for d in pgs:
            subprocess.run([pgtmp, "destroy", d], capture_output=True)
        if os.environ.get("TPC_TEST_KEEP"):
            print("kept %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
