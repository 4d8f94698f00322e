#!/usr/bin/python3
"""test_console_browser: the operator console in a real browser.

Starts its own world and drives the page in headless Chromium (Debian's
chromium + chromium-driver, python3-selenium; no download, no pip):

  - two throwaway PostgreSQL clusters (scripts/pgtmp) with a bank table,
  - tpc-coordinator of the build tree with --http 127.0.0.1:<free port>
    and --http-token-file (a random token), plain-text ZeroMQ links,
  - two tpc-participant agents (db1, db2),

waiting on the daemons' "ready" lines and on the API's own answers,
never on a fixed sleep.  Then, in the browser, each step a case:

  overview_live      the overview while transfers run (tpcctl): the
                     committed counter seen growing three times while
                     they run, then equal to their number; the chart's bars
  transactions       two open transactions in the list; the gid-prefix,
                     participant and minimum-age filters through the form,
                     the state filter; paging with limit=1; a bad value's
                     400 message shown
  script_as_text     errors holding <script>: the server's 400 for the
                     gid "<script>..." (quoting it), and PostgreSQL's for
                     a statement holding it (the transaction's reason
                     while it stays aborting, and its abort decision in
                     the timeline): shown as text, no alert, no element
                     made from them; the operator's reason with <script>
                     is checked the same way in the timeline and the
                     audit below
  agent_down         db2 SIGKILLed: the overview counts an agent down and
                     the agents page marks db2 down
  in_doubt_resolve   db2 restarted with the crash point
                     agent.after_commit_prepared: it commits its part of
                     the next transfer and dies before its ack, so the
                     transaction is decided, in doubt, owed an ack by an
                     agent that is gone; found in the list (state filter),
                     opened (timeline), read-only without the token, a
                     wrong token refused; with the token "retry now"
                     (its reason in the timeline), then "resolve commit"
                     with a reason: the HEURISTIC record is in the log,
                     both databases hold the transfer, none is prepared
  audit              the audit page shows the retry and the resolve with
                     the reason
  page_clean         no script error and no CSP report in the browser's
                     log (the 4xx the cases asked for aside); / is served
                     with CSP default-src 'self' and has no inline code

Screenshots of every page go to $TPC_TEST_OUT, or else to the build
tree's tests/console-shots/ (README's docs/console-*.png come from there).
Last line: `console browser: N passed, M failed (Chromium VERSION)`; exit
status 0 only with no failure.  TPC_TEST_KEEP=1 keeps the scratch
directory (daemon logs, chromedriver log).

Run by `make check` through tests/test_console_browser (tests/
Makemodule.am), which sets top_srcdir and top_builddir.
"""

import json
import os
import random
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request

try:
    from selenium import webdriver
    from selenium.common.exceptions import (NoAlertPresentException,
                                            TimeoutException,
                                            WebDriverException)
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError as e:          # a failure, never a skip
    print("FAIL: console browser: python3-selenium missing (%s): "
          "run ./scripts/deps" % e)
    print("console browser: 0 passed, 1 failed (Chromium unknown)")
    sys.exit(1)

SRC = os.environ.get("top_srcdir") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("top_builddir") or os.path.join(SRC, "_build")
PGTMP = os.path.join(SRC, "scripts", "pgtmp")
CHROMIUM = os.environ.get("TPC_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("TPC_CHROMEDRIVER", "/usr/bin/chromedriver")
HEARTBEAT_MS = "500"
WAIT_S = 30          # the longest wait for any one event (ASan builds)
XSS = "<script>alert('xss')</script>"


class Fail(Exception):
    pass


def log(msg):
    print("    " + msg, flush=True)


def free_port(taken):
    """A free loopback port below the ephemeral range (as scripts/pgtmp)."""
    import socket
    for _ in range(200):
        p = random.randint(10000, 32000)
        if p in taken:
            continue
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", p))
        except OSError:
            continue
        finally:
            s.close()
        taken.add(p)
        return p
    raise Fail("no free port")


def wait_until(what, fn, timeout=WAIT_S, every=0.1):
    """Poll FN until it returns a true value (returned); Fail on timeout."""
    end = time.monotonic() + timeout
    last = None
    while True:
        try:
            v = fn()
            if v:
                return v
        except (Fail, OSError, ValueError, KeyError,
                urllib.error.URLError) as e:
            last = e
        if time.monotonic() > end:
            raise Fail("timed out after %ds waiting for %s%s" % (
                timeout, what, " (last: %s)" % last if last else ""))
        time.sleep(every)


class World:
    """PostgreSQL clusters, the coordinator, the agents, tpcctl."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.procs = {}
        self.ports = set()
        self.db = {}
        self.pcoord = free_port(self.ports)
        self.pagent = free_port(self.ports)
        self.phttp = free_port(self.ports)
        self.cep = "tcp://127.0.0.1:%d" % self.pcoord
        self.aep = "tcp://127.0.0.1:%d" % self.pagent
        self.base = "http://127.0.0.1:%d" % self.phttp
        self.token = secrets.token_hex(16)
        self.token_file = os.path.join(tmp, "console.token")
        with open(os.open(self.token_file, os.O_WRONLY | os.O_CREAT, 0o600),
                  "w") as f:
            f.write(self.token + "\n")
        self.logdir = os.path.join(tmp, "log")

    # -- PostgreSQL ---------------------------------------------------
    def pg_start(self, name):
        r = subprocess.run([PGTMP, "start", os.path.join(self.tmp, name)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise Fail("pgtmp start %s: %s" % (name, r.stderr.strip()))
        self.db[name] = r.stdout.strip()
        self.sql(name, "CREATE TABLE accounts (id int PRIMARY KEY, balance "
                 "bigint NOT NULL CHECK (balance >= 0)); INSERT INTO "
                 "accounts SELECT g, 1000 FROM generate_series(1, 10) g")

    def sql(self, name, query):
        r = subprocess.run(["psql", "-X", "-A", "-t", "-q", "-v",
                            "ON_ERROR_STOP=1", self.db[name], "-c", query],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise Fail("psql %s: %s" % (name, r.stderr.strip()))
        return r.stdout.strip()

    def prepared(self, name):
        return int(self.sql(name, "SELECT count(*) FROM pg_prepared_xacts"))

    # -- daemons ------------------------------------------------------
    def spawn(self, key, argv, env=None):
        path = os.path.join(self.tmp, key + ".log")
        out = open(path, "ab")
        offset = out.tell()
        e = dict(os.environ)
        for k in ("TPC_CRASH_POINT", "TPC_CRASH_AT", "TPC_CRASH_ACTION"):
            e.pop(k, None)
        e.update(env or {})
        p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, env=e)
        out.close()
        self.procs[key] = (p, path)
        wait_until("%s's ready line" % key,
                   lambda: self._ready(key, offset), timeout=WAIT_S)
        return p

    def _ready(self, key, offset):
        p, path = self.procs[key]
        with open(path, "rb") as f:
            f.seek(offset)
            text = f.read().decode("utf-8", "replace")
        if re.search(r"\bready\b", text):
            return True
        if p.poll() is not None:
            raise Fail("%s exited %s before ready:\n%s" % (
                key, p.returncode, text[-2000:]))
        return False

    def start_coord(self):
        self.spawn("coordinator", [
            os.path.join(BUILD, "tpc-coordinator"), "--id", "cw",
            "--log-dir", self.logdir, "--bind", self.cep,
            "--agent-bind", self.aep, "--insecure-plaintext",
            "--heartbeat-ms", HEARTBEAT_MS,
            "--http", "127.0.0.1:%d" % self.phttp,
            "--http-token-file", self.token_file])

    def start_agent(self, name, env=None):
        conn = os.path.join(self.tmp, name + ".conninfo")
        with open(conn, "w") as f:
            f.write(self.db[name] + "\n")
        self.spawn(name, [
            os.path.join(BUILD, "tpc-participant"), "--name", name,
            "--coordinator", self.aep, "--pg-file", conn,
            "--insecure-plaintext", "--heartbeat-ms", HEARTBEAT_MS], env)

    def kill(self, key, sig=signal.SIGTERM, timeout=10):
        p, _ = self.procs.get(key, (None, None))
        if p is None or p.poll() is not None:
            return p.returncode if p else None
        p.send_signal(sig)
        try:
            return p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            return p.wait()

    def log_tail(self, key, n=30):
        _, path = self.procs.get(key, (None, None))
        if not path or not os.path.exists(path):
            return ""
        with open(path, "rb") as f:
            lines = f.read().decode("utf-8", "replace").splitlines()
        return "\n".join(lines[-n:])

    # -- clients ------------------------------------------------------
    def tpcctl(self, *args, timeout=30):
        e = dict(os.environ, TPC_COORDINATOR=self.cep)
        for k in ("TPC_CURVE_SECRET", "TPC_COORDINATOR_PUBLIC"):
            e.pop(k, None)
        return subprocess.run([os.path.join(BUILD, "tpcctl")] + list(args),
                              capture_output=True, text=True, env=e,
                              timeout=timeout)

    def transfer(self, amount=1, src=1, dst=2, extra=""):
        return self.tpcctl(
            "exec", "--on", "db1",
            "UPDATE accounts SET balance = balance - %d WHERE id = %d%s"
            % (amount, src, extra),
            "--on", "db2",
            "UPDATE accounts SET balance = balance + %d WHERE id = %d%s"
            % (amount, dst, extra))

    def api(self, path):
        req = urllib.request.Request(self.base + "/api/v1" + path)
        with urllib.request.urlopen(req, timeout=5) as r:
            return json.loads(r.read().decode())

    def stop(self):
        for key in list(self.procs):
            self.kill(key)
        for name in list(self.db):
            subprocess.run([PGTMP, "destroy", os.path.join(self.tmp, name)],
                           capture_output=True)


class Browser:
    def __init__(self, tmp, base):
        # the profile is removed even with TPC_TEST_KEEP (the sanitizer
        # pass keeps every test's folder and greps it)
        self.profile = tempfile.mkdtemp(prefix="chromium.", dir=tmp)
        o = webdriver.ChromeOptions()
        o.binary_location = CHROMIUM
        for a in ("--headless=new", "--no-sandbox", "--disable-gpu",
                  "--disable-dev-shm-usage", "--window-size=1280,1300",
                  "--no-first-run", "--disable-extensions",
                  "--user-data-dir=" + self.profile):
            o.add_argument(a)
        o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.d = webdriver.Chrome(
            service=Service(CHROMEDRIVER,
                            log_path=os.path.join(tmp, "chromedriver.log")),
            options=o)
        self.d.set_page_load_timeout(WAIT_S)
        self.base = base
        self.version = self.d.capabilities.get("browserVersion", "unknown")
        self.logs = []

    def go(self, hash_):
        """Load the page at HASH (a fresh load: the poll timers restart)."""
        self.d.get(self.base + "/" + hash_)
        self.wait("the view", lambda d: d.find_element(
            By.ID, "view").get_attribute("data-view"))

    def route(self, hash_):
        self.d.execute_script("location.hash = arguments[0]", hash_)

    def wait(self, what, fn, timeout=WAIT_S):
        try:
            return WebDriverWait(self.d, timeout, poll_frequency=0.1).until(
                fn)
        except TimeoutException:
            raise Fail("timed out after %ds waiting in the browser for %s"
                       % (timeout, what))

    def by_id(self, id_):
        return self.d.find_element(By.ID, id_)

    def text(self, id_):
        return self.by_id(id_).text

    def attr(self, id_, name):
        return self.by_id(id_).get_attribute(name)

    def exists(self, id_):
        return len(self.d.find_elements(By.ID, id_)) > 0

    def shot(self, outdir, name):
        """The whole page (its body, however tall), as NAME in OUTDIR."""
        path = os.path.join(outdir, name)
        try:
            self.d.find_element(By.TAG_NAME, "body").screenshot(path)
        except WebDriverException:
            self.d.save_screenshot(path)
        log("screenshot %s" % path)

    def no_alert(self):
        try:
            a = self.d.switch_to.alert
            text = a.text
            a.dismiss()
            raise Fail("an alert opened: %r" % text)
        except NoAlertPresentException:
            return True

    def collect_logs(self):
        try:
            self.logs += self.d.get_log("browser")
        except WebDriverException:
            pass

    def quit(self):
        try:
            self.d.quit()
        except WebDriverException:
            pass
        shutil.rmtree(self.profile, ignore_errors=True)


def d_rows(b):
    return b.d.find_elements(By.CSS_SELECTOR, "#audit-table tr[data-gid]")


class Suite:
    def __init__(self):
        self.passed = 0
        self.failed = 0
        self.results = []

    def run(self, name, fn):
        t0 = time.monotonic()
        print("  %s ..." % name, flush=True)
        try:
            fn()
            self.passed += 1
            print("  %s: passed (%.1f s)" % (name, time.monotonic() - t0),
                  flush=True)
            return True
        except Exception as e:          # noqa: BLE001 (every error counts)
            self.failed += 1
            print("  %s: FAILED: %s" % (name, e), flush=True)
            if not isinstance(e, Fail):
                traceback.print_exc(file=sys.stdout)
            return False


def main():
    t_start = time.monotonic()
    outdir = os.environ.get("TPC_TEST_OUT") or os.path.join(
        BUILD, "tests", "console-shots")
    os.makedirs(outdir, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="tpc-console.", dir=os.environ.get(
        "TMPDIR", "/tmp"))
    os.chmod(tmp, 0o755)
    suite = Suite()
    world = World(tmp)
    browser = None
    version = "unknown"
    state = {}
    try:
        # ---- the world ------------------------------------------------
        world.pg_start("db1")
        world.pg_start("db2")
        world.start_coord()
        world.start_agent("db1")
        world.start_agent("db2")
        wait_until("both agents up in /api/v1/overview",
                   lambda: world.api("/overview")["agents_up"] == 2)
        browser = Browser(tmp, world.base)
        version = browser.version
        log("world up: coordinator %s, http %s; Chromium %s" % (
            world.cep, world.base, version))

        def overview_live():
            b = browser
            b.go("#/overview")
            b.wait("the overview's first answer",
                   lambda d: b.attr("ov-committed", "data-value") not in
                   (None, ""))
            c0 = int(b.attr("ov-committed", "data-value"))
            if b.text("ov-agents-up") != "2" or b.text("ov-agents-down") \
                    != "0":
                raise Fail("agents up/down shown %s/%s, expected 2/0" % (
                    b.text("ov-agents-up"), b.text("ov-agents-down")))
            errors = []
            done = []
            stop = threading.Event()

            def load():         # transfers until told to stop (>= 40)
                i = 0
                while (i < 40 or not stop.is_set()) and i < 2000 \
                        and not errors:
                    r = world.transfer(amount=1, src=1 + i % 10,
                                       dst=1 + (i + 3) % 10)
                    if r.returncode != 0 or "committed gid=" not in r.stdout:
                        errors.append(r.stdout + r.stderr)
                    else:
                        done.append(i)
                    i += 1
            th = threading.Thread(target=load)
            th.start()
            seen = []
            try:
                # the counter seen at three growing values while the
                # transfers still run
                def moved(d):
                    if errors or not th.is_alive():
                        raise Fail("the transfers ended before the page "
                                   "showed the counter move (%d done%s)" % (
                                       len(done), ": " + errors[0]
                                       if errors else ""))
                    v = int(b.attr("ov-committed", "data-value"))
                    if v > (seen[-1] if seen else c0):
                        seen.append(v)
                    return len(seen) >= 3
                b.wait("the committed counter to move while transfers run",
                       moved)
                b.wait("the outcomes chart to get bars",
                       lambda d: d.find_elements(
                           By.CSS_SELECTOR, "#ov-chart-outcomes rect.bar"))
                b.wait("a committed rate above 0",
                       lambda d: b.text("ov-tps-committed") not in
                       ("–", "0.0"))
                b.shot(outdir, "overview.png")
            finally:
                stop.set()
                th.join()
            if errors:
                raise Fail("transfers failed: %s" % errors[0])
            n = len(done)
            state["transfers"] = n
            b.wait("the counter to equal the %d transfers" % n,
                   lambda d: int(b.attr("ov-committed", "data-value"))
                   == c0 + n)
            log("committed %d -> %s, seen while transfers ran: %s; %d "
                "transfers" % (c0, b.attr("ov-committed", "data-value"),
                               ", ".join(map(str, seen)), n))
            s1 = world.sql("db1", "SELECT sum(balance) FROM accounts")
            s2 = world.sql("db2", "SELECT sum(balance) FROM accounts")
            if (int(s1), int(s2)) != (10000 - n, 10000 + n):
                raise Fail("balances after %d transfers: %s %s" % (n, s1, s2))

        def transactions():
            b = browser
            gids = []
            for i in range(2):
                r = world.tpcctl("begin")
                gid = r.stdout.strip()
                if r.returncode != 0 or not gid.startswith("tpc_"):
                    raise Fail("tpcctl begin: %s %s" % (r.stdout, r.stderr))
                r = world.tpcctl("exec", "--gid", gid, "--on", "db1",
                                 "UPDATE accounts SET balance = balance "
                                 "WHERE id = %d" % (5 + i))
                if r.returncode != 0:
                    raise Fail("tpcctl exec --gid: %s" % r.stderr)
                gids.append(gid)
            state["open"] = gids
            b.go("#/transactions")
            for g in gids:
                b.wait("row tx-row-%s" % g,
                       lambda d, g=g: b.exists("tx-row-" + g))
            b.shot(outdir, "transactions.png")
            # the gid-prefix filter, through the form
            pref = b.by_id("tx-filter-prefix")
            pref.clear()
            pref.send_keys(gids[1])
            b.by_id("tx-apply").click()
            b.wait("the prefix filter to leave one row",
                   lambda d: b.exists("tx-row-" + gids[1])
                   and not b.exists("tx-row-" + gids[0])
                   and "prefix=" in d.current_url)
            # participant and minimum age, through the form (seconds)
            b.route("#/transactions")
            b.wait("the unfiltered list",
                   lambda d: b.exists("tx-row-" + gids[0])
                   and b.by_id("tx-filter-participant").get_attribute(
                       "value") == "")
            part = b.by_id("tx-filter-participant")
            part.send_keys("db2")
            b.by_id("tx-apply").click()
            b.wait("participant=db2 to list neither (their work is on db1)",
                   lambda d: "participant=db2" in d.current_url
                   and b.text("tx-range") == "none")
            part = b.by_id("tx-filter-participant")
            part.clear()
            part.send_keys("db1")
            age = b.by_id("tx-filter-min-age")
            age.send_keys("3600")
            b.by_id("tx-apply").click()
            b.wait("min age 3600 s to list none",
                   lambda d: "min_age_ms=3600000" in d.current_url
                   and b.text("tx-range") == "none")
            b.route("#/transactions?participant=db1&min_age_ms=0")
            b.wait("participant=db1 to list both",
                   lambda d: b.exists("tx-row-" + gids[0])
                   and b.exists("tx-row-" + gids[1]))
            # a state no open transaction is in
            b.route("#/transactions?state=committing&prefix=" + gids[0])
            b.wait("state=committing to list neither",
                   lambda d: b.text("tx-range") == "none")
            # paging: one per page
            b.route("#/transactions?state=active&limit=1")
            b.wait("page 1 of 2+", lambda d: re.match(
                r"^1–1 of [2-9]", b.text("tx-range")))
            first = b.d.find_element(By.CSS_SELECTOR, "#tx-body tr") \
                .get_attribute("data-gid")
            b.by_id("tx-next").click()
            b.wait("page 2", lambda d: re.match(r"^2–2 of",
                                                b.text("tx-range")))
            second = b.d.find_element(By.CSS_SELECTOR, "#tx-body tr") \
                .get_attribute("data-gid")
            if first == second or not {first, second} <= set(gids):
                raise Fail("pages showed %s then %s (open: %s)" % (
                    first, second, gids))
            # a bad filter value: the server's 400 message, shown
            b.route("#/transactions?min_age_ms=-5")
            b.wait("the 400 message for min_age_ms=-5",
                   lambda d: b.by_id("tx-error").is_displayed()
                   and b.text("tx-error") != "")
            log("list: %s; prefix, state and paging filters work; bad "
                "value: %s" % (", ".join(gids), b.text("tx-error")))

        def script_as_text():
            b = browser
            # an error holding <script>: the server's 400 for a gid that is
            # <script>..., quoted in its message; the gid in the heading
            # comes from the URL
            b.go("#/tx/" + urllib.parse.quote(XSS, safe=""))
            b.wait("the 400 message quoting the bad gid",
                   lambda d: b.by_id("txd-error").is_displayed()
                   and XSS in b.text("txd-error"))
            b.no_alert()
            if b.text("txd-gid") != XSS:
                raise Fail("heading shows %r" % b.text("txd-gid"))
            made = b.d.find_elements(By.CSS_SELECTOR, "#view script, "
                                     "#view img, #view iframe")
            if made:
                raise Fail("elements made from data: %d" % len(made))
            b.shot(outdir, "tx-script-text.png")
            log("error shown as text: %s" % b.text("txd-error"))
            # a failing statement with <script> in an open transaction:
            # the error comes back to the client with the text as is
            gid = state["open"][0]
            r = world.tpcctl("exec", "--gid", gid, "--on", "db1",
                             "SELECT '%s'::int" % XSS.replace("'", "''"))
            if r.returncode == 0 or XSS not in r.stdout + r.stderr:
                raise Fail("the failing statement: %s %s" % (r.stdout,
                                                            r.stderr))
            # the transaction aborts but stays live (aborting) until its
            # client rolls it back: its reason is the database's error
            b.go("#/tx/" + gid)
            b.wait("%s aborting with the error, <script> as text" % gid,
                   lambda d: b.text("txd-state") == "aborting"
                   and XSS in b.text("txd-reason"))
            b.wait("the abort decision in the timeline, with the error",
                   lambda d: [li for li in d.find_elements(
                       By.CSS_SELECTOR, "#tl-list li[data-event=decision]")
                       if XSS in li.text])
            b.no_alert()
            made = b.d.find_elements(By.CSS_SELECTOR, "#view script, "
                                     "#view img, #view iframe")
            if made:
                raise Fail("elements made from data: %d" % len(made))
            b.shot(outdir, "tx-error-text.png")
            log("database error shown as text: %s" % b.text("txd-reason"))
            # the operator's reason (timeline, audit) is checked below

        def agent_down():
            b = browser
            # the open transactions end first (their db1 work is rolled back)
            for g in state.get("open", []):
                world.tpcctl("rollback", g)
            b.go("#/overview")
            b.wait("agents down 0", lambda d: b.text("ov-agents-down") == "0")
            world.kill("db2", signal.SIGKILL)
            b.wait("the overview to count db2 down",
                   lambda d: b.text("ov-agents-down") == "1"
                   and b.text("ov-agents-up") == "1")
            if "alert" not in b.by_id("ov-agents-down-card") \
                    .get_attribute("class"):
                raise Fail("agents down not flagged")
            b.route("#/agents")
            b.wait("agent-row-db2 marked down",
                   lambda d: b.exists("agent-row-db2")
                   and b.attr("agent-row-db2", "data-connected") == "false")
            if b.attr("agent-row-db1", "data-connected") != "true":
                raise Fail("db1 not shown up")
            for name in ("db1", "db2"):     # the database-vs-log lists
                for lst in ("unknown", "decided", "prepared"):
                    if b.attr("agent-%s-%s" % (lst, name), "data-count") \
                            != "0":
                        raise Fail("agent-%s-%s lists %s" % (
                            lst, name, b.text("agent-%s-%s" % (lst, name))))
            b.shot(outdir, "agents-down.png")
            log("db2 killed: overview agents up 1 / down 1; agents page: %s"
                % b.d.find_element(By.ID, "agent-row-db2").text)

        def in_doubt_resolve():
            b = browser
            world.start_agent("db2", {
                "TPC_CRASH_POINT": "agent.after_commit_prepared",
                "TPC_CRASH_AT": "1"})
            wait_until("db2 up again",
                       lambda: world.api("/overview")["agents_up"] == 2)
            b1 = world.sql("db1", "SELECT balance FROM accounts WHERE id=4")
            b2 = world.sql("db2", "SELECT balance FROM accounts WHERE id=4")
            hung = []

            def one():
                hung.append(world.transfer(amount=7, src=4, dst=4,
                                           extra=""))
            th = threading.Thread(target=one, daemon=True)
            th.start()
            p, _ = world.procs["db2"]
            wait_until("db2 to die at its crash point", lambda:
                       p.poll() is not None)
            if p.returncode != 99:
                raise Fail("db2 exited %s, not 99 at the crash point:\n%s" %
                           (p.returncode, world.log_tail("db2")))
            # the list, filtered on the state the engine shows
            b.go("#/transactions?state=committing")
            row = b.wait("an in-doubt row in state committing",
                         lambda d: [r for r in d.find_elements(
                             By.CSS_SELECTOR, "#tx-body tr[data-gid]")
                             if r.get_attribute("data-in-doubt") == "true"])
            gid = row[0].get_attribute("data-gid")
            state["doubt"] = gid
            b.wait("the overview's API to count it in doubt",
                   lambda d: world.api("/overview")["in_doubt"] >= 1)
            b.shot(outdir, "transactions-in-doubt.png")
            # open it from its link
            b.d.find_element(By.CSS_SELECTOR, "#tx-row-%s a" % gid).click()
            b.wait("the detail page of %s" % gid,
                   lambda d: b.text("txd-gid") == gid
                   and b.text("txd-state") == "committing")
            b.wait("a timeline with the decision",
                   lambda d: d.find_elements(
                       By.CSS_SELECTOR, "#tl-list li[data-event]")
                   and d.find_elements(By.CSS_SELECTOR,
                                       "#tl-list li[data-event=decision]"))
            events = [li.get_attribute("data-event") for li in
                      b.d.find_elements(By.CSS_SELECTOR,
                                        "#tl-list li[data-event]")]
            log("timeline of %s: %s" % (gid, " ".join(events)))
            # read-only without the token
            reason = b.by_id("reason")
            reason.send_keys("db2 lost; it committed before dying " + XSS)
            if b.by_id("btn-resolve-commit").is_enabled():
                raise Fail("resolve enabled without a token")
            if b.attr("writable", "data-writable") != "false":
                raise Fail("writable without a token")
            # a wrong token is refused
            tok = b.by_id("token")
            tok.send_keys("not-the-token" + Keys.ENTER)
            b.wait("the wrong token refused",
                   lambda d: b.text("writable") == "token refused")
            if b.by_id("btn-resolve-commit").is_enabled():
                raise Fail("resolve enabled with a wrong token")
            # the right one
            tok.clear()
            tok.send_keys(world.token + Keys.ENTER)
            b.wait("writable with the token",
                   lambda d: b.attr("writable", "data-writable") == "true")
            b.wait("resolve commit enabled",
                   lambda d: b.by_id("btn-resolve-commit").is_enabled())
            if b.by_id("btn-retry").is_enabled() and b.attr(
                    "txd-needs", "data-retryable") != "true":
                raise Fail("retry enabled for a transaction not waiting")
            stored = b.d.execute_script(
                "return sessionStorage.getItem('tpc-console-token')")
            cookies = b.d.get_cookies()
            if stored != world.token or cookies:
                raise Fail("token kept %r, cookies %r" % (stored, cookies))
            # the coordinator allows the resolve once db2 counts as gone
            # (3 heartbeats without its hello)
            wait_until("db2 counted down by the coordinator",
                       lambda: world.api("/overview")["agents_down"] == 1)
            # waiting on db2: "retry now" first, when the server says so
            if b.attr("txd-needs", "data-retryable") == "true":
                b.wait("retry enabled",
                       lambda d: b.by_id("btn-retry").is_enabled())
                b.by_id("btn-retry").click()
                b.wait("the retry to be answered",
                       lambda d: b.text("action-result").startswith(
                           "retry") and "…" not in b.text("action-result"))
                if "done" not in b.text("action-result"):
                    raise Fail("retry: %s" % b.text("action-result"))
                state["retried"] = True
                log("retry: %s" % b.text("action-result"))
                b.wait("the retry in the timeline, its reason as text",
                       lambda d: [li for li in d.find_elements(
                           By.CSS_SELECTOR, "#tl-list li[data-event=retry]")
                           if XSS in li.text])
                b.no_alert()
                reason.send_keys("db2 lost; it committed before dying "
                                 + XSS)
                b.wait("resolve commit enabled again",
                       lambda d: b.by_id("btn-resolve-commit").is_enabled())
            b.shot(outdir, "tx-detail.png")
            b.by_id("btn-resolve-commit").click()
            b.wait("the resolve to be done",
                   lambda d: "done" in b.text("action-result"))
            b.no_alert()
            log("resolve: %s" % b.text("action-result"))
            b.wait("the transaction no longer in doubt",
                   lambda d: world.api("/overview")["in_doubt"] == 0)
            b.wait("the resolve in the timeline",
                   lambda d: d.find_elements(
                       By.CSS_SELECTOR, "#tl-list li[data-event=resolve]"))
            b.shot(outdir, "tx-resolved.png")
            # the log has the HEURISTIC record, with the reason
            r = world.tpcctl("log", "dump", world.logdir)
            lines = [ln for ln in r.stdout.splitlines()
                     if gid in ln and "HEURISTIC" in ln.upper()]
            if not lines or "db2 lost" not in lines[0]:
                raise Fail("no HEURISTIC record of %s with the reason in the "
                           "log:\n%s" % (gid, r.stdout[-1500:]))
            log("log: %s" % lines[0][:200])
            # both databases hold the transfer, nothing left prepared
            a1 = world.sql("db1", "SELECT balance FROM accounts WHERE id=4")
            a2 = world.sql("db2", "SELECT balance FROM accounts WHERE id=4")
            if (int(a1), int(a2)) != (int(b1) - 7, int(b2) + 7):
                raise Fail("id 4: db1 %s -> %s, db2 %s -> %s" % (
                    b1, a1, b2, a2))
            left = world.prepared("db1") + world.prepared("db2")
            if left:
                raise Fail("%d prepared transactions left" % left)

        def audit():
            b = browser
            gid = state["doubt"]
            b.route("#/audit")
            row = b.wait("the audit row of the resolve of %s" % gid,
                         lambda d: [r for r in d_rows(b)
                                    if r.get_attribute("data-gid") == gid
                                    and r.get_attribute("data-action")
                                    == "resolve"])
            text = row[0].text
            if "resolve" not in text or "db2 lost" not in text:
                raise Fail("audit row: %r" % text)
            if XSS not in text:
                raise Fail("the reason's <script> not shown as text: %r"
                           % text)
            if state.get("retried") and not [
                    r for r in d_rows(b) if r.get_attribute("data-gid") == gid
                    and r.get_attribute("data-action") == "retry"]:
                raise Fail("no audit row for the retry of %s" % gid)
            b.no_alert()
            if b.d.find_elements(By.CSS_SELECTOR, "#view script"):
                raise Fail("a script element in the audit view")
            b.shot(outdir, "audit.png")
            log("audit: %s" % text)

        for name, fn in (("overview_live", overview_live),
                         ("transactions", transactions),
                         ("script_as_text", script_as_text),
                         ("agent_down", agent_down),
                         ("in_doubt_resolve", in_doubt_resolve),
                         ("audit", audit)):
            if not suite.run(name, fn):
                try:
                    browser.shot(outdir, "failed-%s.png" % name)
                except Exception:       # noqa: BLE001
                    pass
        # the page never broke: no script error, no CSP violation
        browser.collect_logs()
        bad = [m["message"] for m in browser.logs
               if m.get("level") == "SEVERE"
               and "favicon.ico" not in m["message"]
               and not re.search(r"/api/v1/\S* - Failed to load resource: "
                                 r"the server responded with a status of "
                                 r"(400|401|403|404)", m["message"])]

        def page_clean():
            if bad:
                raise Fail("browser errors: %s" % bad[:5])
            # what the page leans on: served with CSP default-src 'self'
            with urllib.request.urlopen(world.base + "/", timeout=5) as r:
                csp = r.headers.get("Content-Security-Policy", "")
                body = r.read().decode()
            if "default-src 'self'" not in csp:
                raise Fail("/ served without CSP default-src 'self': %r"
                           % csp)
            if re.search(r"<script>|<style>|\sstyle=|\son[a-z]+=", body):
                raise Fail("inline script or style in index.html")
        suite.run("page_clean", page_clean)
    except Exception as e:              # noqa: BLE001 (the world failed)
        suite.failed += 1
        print("FAIL: console browser: %s" % e, flush=True)
        if not isinstance(e, Fail):
            traceback.print_exc(file=sys.stdout)
    finally:
        if suite.failed:
            for key in ("coordinator", "db1", "db2"):
                print("--- %s (last lines)\n%s" % (key, world.log_tail(key)))
        if browser:
            browser.quit()
        world.stop()
        if os.environ.get("TPC_TEST_KEEP"):
            print("kept %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print("  took %.1f s" % (time.monotonic() - t_start))
    print("console browser: %d passed, %d failed (Chromium %s)" % (
        suite.passed, suite.failed, version))
    return 0 if suite.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
