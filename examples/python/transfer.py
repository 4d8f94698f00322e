#!/usr/bin/env python3
"""transfer.py: move money from an account in db1 to one in db2, atomically.

A minimal tpc client in Python, written straight against the wire protocol
(docs/PROTOCOL.md) rather than libtpc: one "submit" request carries the
debit for db1 and the credit for db2; the coordinator runs both and commits
them with two-phase commit, or neither.

Needs pyzmq: on Debian `apt-get install python3-zmq`.

    ./transfer.py --amount 10 --from-id 1 --to-id 2
    ./transfer.py --coordinator tcp://10.0.0.5:7400 --amount 5

CurveZMQ, as tpcctl: TPC_CURVE_SECRET names this client's key pair
(NAME.key_secret from `tpcctl keygen`) and TPC_COORDINATOR_PUBLIC the
coordinator's public key (its NAME.key); both unset = plain text, which
only a coordinator run with --insecure-plaintext accepts.

Exit status: 0 committed, 1 aborted or error reply, 3 coordinator not
reachable in time (nothing sent), 4 outcome in doubt (sent, no answer).
"""
import argparse
import json
import os
import sys
import time

import zmq
import zmq.auth     # reads czmq/tpcctl certificate files

PROTOCOL_VERSION = 1


def request(sock, rid, msg, timeout_ms):
    """Send MSG (a dict) with request id RID and return the reply for RID.

    Replies carrying another rid answer earlier requests that timed out:
    they are dropped.  Raises TimeoutError when no reply comes in time,
    ConnectionError when the request could not even be handed to the
    coordinator (so it was never sent)."""
    msg = dict(msg, v=PROTOCOL_VERSION, rid=rid)
    try:
        # one ZeroMQ frame, one UTF-8 JSON object; no empty delimiter frame
        sock.send(json.dumps(msg).encode("utf-8"))
    except zmq.Again:
        raise ConnectionError("coordinator not reachable: request not sent")
    deadline = time.monotonic() + timeout_ms / 1000.0
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not sock.poll(int(left * 1000) + 1):
            if time.monotonic() >= deadline:
                raise TimeoutError("no reply within %d ms" % timeout_ms)
            continue
        frames = sock.recv_multipart()
        if len(frames) != 1:
            raise ValueError("malformed reply: %d frames" % len(frames))
        reply = json.loads(frames[0].decode("utf-8"))
        if not isinstance(reply, dict):
            raise ValueError("malformed reply: not a JSON object")
        # an error with rid 0 answers a request whose rid was unreadable
        if reply.get("rid") == rid or (reply.get("type") == "error"
                                       and reply.get("rid") == 0):
            return reply
        # else: a stale reply to an earlier request, drop it


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--coordinator",
                    default=os.environ.get("TPC_COORDINATOR",
                                           "tcp://127.0.0.1:7400"))
    ap.add_argument("--timeout-ms", type=int, default=30000)
    ap.add_argument("--amount", default="10")
    ap.add_argument("--from-id", default="1", help="account id in db1")
    ap.add_argument("--to-id", default="1", help="account id in db2")
    ap.add_argument("--protocol", choices=["2pc", "3pc"], default=None)
    args = ap.parse_args()

    ctx = zmq.Context()
    sock = ctx.socket(zmq.DEALER)
    secret = os.environ.get("TPC_CURVE_SECRET")
    server = os.environ.get("TPC_COORDINATOR_PUBLIC")
    if secret and server:
        sock.curve_publickey, sock.curve_secretkey = \
            zmq.auth.load_certificate(secret)
        sock.curve_serverkey, _ = zmq.auth.load_certificate(server)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.IMMEDIATE, 1)       # do not queue for a dead peer
    sock.setsockopt(zmq.SNDTIMEO, args.timeout_ms)
    sock.connect(args.coordinator)

    submit = {
        "type": "submit",
        "stmts": [
            {"on": "db1",
             # an overdraft breaks CHECK (balance >= 0): db1 votes no
             # and the credit on db2 is rolled back with it
             "sql": "UPDATE accounts SET balance = balance - $1 "
                    "WHERE id = $2",
             "params": [args.amount, args.from_id]},
            {"on": "db2",
             "sql": "UPDATE accounts SET balance = balance + $1 "
                    "WHERE id = $2",
             "params": [args.amount, args.to_id]},
        ],
    }
    if args.protocol:
        submit["protocol"] = args.protocol

    try:
        reply = request(sock, 1, submit, args.timeout_ms)
    except ConnectionError as e:
        print("error: %s (%s)" % (e, args.coordinator), file=sys.stderr)
        return 3
    except TimeoutError as e:
        # The transfer may or may not have committed.  Never resend it
        # blindly: that could move the money twice.  Look it up instead
        # (`tpcctl list`, then `tpcctl status GID`).
        print("in_doubt: %s; the outcome is unknown" % e, file=sys.stderr)
        return 4
    except ValueError as e:
        print("in_doubt: %s; the outcome is unknown" % e, file=sys.stderr)
        return 4
    finally:
        sock.close()
        ctx.term()

    if reply.get("type") == "error":
        print("error %s: %s" % (reply.get("code"), reply.get("message")),
              file=sys.stderr)
        return 4 if reply.get("code") == -303 else 1
    if reply.get("type") != "outcome":
        print("in_doubt: unexpected reply %r" % reply.get("type"),
              file=sys.stderr)
        return 4
    gid, outcome = reply.get("gid"), reply.get("outcome")
    if outcome == "committed":
        print("committed gid=%s" % gid)
        return 0
    if outcome == "aborted":
        print("aborted gid=%s reason=%s" % (gid, reply.get("reason", "")))
        return 1
    print("in_doubt gid=%s outcome=%s" % (gid, outcome))
    return 4


if __name__ == "__main__":
    sys.exit(main())
