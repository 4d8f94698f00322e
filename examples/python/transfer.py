#!/usr/bin/python3
"""transfer.py: move money from an account in db1 to one in db2, atomically.

A few lines on top of the Python module tpc (python/tpc in the source
tree, or the Debian package python3-tpc): one submit carries the debit
for db1 and the credit for db2; the coordinator commits both with
two-phase commit, or neither.

    ./transfer.py --amount 10 --from-id 1 --to-id 2
    ./transfer.py --coordinator tcp://10.0.0.5:7400 --protocol 3pc --amount 5

CurveZMQ, as tpcctl: TPC_CURVE_SECRET names this client's key pair
(NAME.key_secret from `tpcctl keygen`) and TPC_COORDINATOR_PUBLIC the
coordinator's public key (its NAME.key); both unset = plain text, which
only a coordinator run with --insecure-plaintext accepts.

Exit status: 0 committed, 1 aborted or error reply, 3 coordinator not
reachable or key refused (nothing sent), 4 outcome in doubt.
"""
import argparse
import os
import sys

# from a clone: the module is ../../python; installed: python3-tpc
sys.path.append(os.path.join(os.path.dirname(os.path.realpath(__file__)),
                             "..", "..", "python"))
import tpc  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--coordinator", default=None,
                    help="default $TPC_COORDINATOR or tcp://127.0.0.1:7400")
    ap.add_argument("--timeout-ms", type=int, default=30000)
    ap.add_argument("--amount", default="10")
    ap.add_argument("--from-id", default="1", help="account id in db1")
    ap.add_argument("--to-id", default="1", help="account id in db2")
    ap.add_argument("--protocol", choices=["2pc", "3pc"], default=None)
    args = ap.parse_args()

    try:
        with tpc.Client(args.coordinator, timeout_ms=args.timeout_ms,
                        client_secret=os.environ.get("TPC_CURVE_SECRET"),
                        server_public=os.environ.get(
                            "TPC_COORDINATOR_PUBLIC")) as client:
            # an overdraft breaks CHECK (balance >= 0): db1 votes no and
            # the credit on db2 is rolled back with it
            gid = client.submit({
                "db1": ("UPDATE accounts SET balance = balance - $1 "
                        "WHERE id = $2", [args.amount, args.from_id]),
                "db2": ("UPDATE accounts SET balance = balance + $1 "
                        "WHERE id = $2", [args.amount, args.to_id]),
            }, protocol=args.protocol)
    except tpc.Aborted as e:
        print("aborted gid=%s reason=%s" % (e.gid, e.reason))
        return 1
    except tpc.InDoubt as e:
        # It may or may not have committed.  Never resend blindly: that
        # could move the money twice.  Look it up (tpcctl list / status).
        print("in_doubt: %s" % e.message, file=sys.stderr)
        return 4
    except (tpc.Unreachable, tpc.KeyRefused, tpc.ConnectionLost) as e:
        print("error: %s" % e.message, file=sys.stderr)
        return 3
    except tpc.Error as e:
        print("error %s: %s" % (e.code, e.message), file=sys.stderr)
        return 1
    print("committed gid=%s" % gid)
    return 0


if __name__ == "__main__":
    sys.exit(main())
