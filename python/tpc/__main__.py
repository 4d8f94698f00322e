"""python3 -m tpc: a few read-only questions to a coordinator.

    python3 -m tpc status GID     committed / aborted / in_progress, state
    python3 -m tpc list           in-flight and in-doubt transactions
    python3 -m tpc summary        the coordinator at a glance

The endpoint and keys come from the environment, as for tpcctl:
TPC_COORDINATOR, TPC_CURVE_SECRET (this client's NAME.key_secret) and
TPC_COORDINATOR_PUBLIC (the coordinator's NAME.key).  Exit status: 0, 1
for an error reply, 2 for a usage error, 3 coordinator not reachable or
key refused.
"""
import argparse
import os
import sys

import tpc


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python3 -m tpc",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--coordinator", default=None,
                    help="client endpoint, or an HA group's EP,EP,... "
                         "(default $TPC_COORDINATOR)")
    ap.add_argument("--timeout-ms", type=int, default=30000)
    ap.add_argument("--connect-timeout-ms", type=int, default=3000)
    sub = ap.add_subparsers(dest="cmd", required=True)
    st = sub.add_parser("status", help="what became of a transaction")
    st.add_argument("gid")
    sub.add_parser("list", help="in-flight and in-doubt transactions")
    sub.add_parser("summary", help="the coordinator at a glance")
    args = ap.parse_args(argv)
    secret = os.environ.get("TPC_CURVE_SECRET") or None
    public = os.environ.get("TPC_COORDINATOR_PUBLIC") or None
    try:
        with tpc.Client(args.coordinator, client_secret=secret,
                        server_public=public, timeout_ms=args.timeout_ms,
                        connect_timeout_ms=args.connect_timeout_ms) as c:
            if args.cmd == "status":
                s = c.status(args.gid)
                print("%s %s state=%s%s" % (s.gid, s.outcome, s.state,
                                            " reason=" + s.reason
                                            if s.reason else ""))
            elif args.cmd == "list":
                for t in c.list():
                    print("%s %s age_ms=%d parts=%s%s" % (
                        t.gid, t.state, t.age_ms, ",".join(t.parts),
                        " waiting=" + ",".join(t.waiting)
                        if t.waiting else ""))
            else:
                s = c.summary()
                print("in_flight=%d in_doubt=%d committed=%d aborted=%d "
                      "heuristic=%d oldest_in_doubt_ms=%d agents=%d %s" % (
                          s.in_flight, s.in_doubt, s.committed, s.aborted,
                          s.heuristic, s.oldest_ms, len(s.agents),
                          ",".join(s.agents)))
    except (ValueError, TypeError, OSError) as e:
        print("python3 -m tpc: %s" % e, file=sys.stderr)
        return 2
    except (tpc.Unreachable, tpc.KeyRefused, tpc.ConnectionLost,
            tpc.Timeout, tpc.NotLeader) as e:
        print("python3 -m tpc: %s" % e, file=sys.stderr)
        return 3
    except tpc.Error as e:
        print("python3 -m tpc: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
