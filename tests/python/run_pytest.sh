#!/usr/bin/env bash
#  run_pytest: the Python client's suite (python/tests) under `make check`.
#
#  tests/test_python (made by python/Makemodule.am) sets top_srcdir and
#  top_builddir and runs this file.  It runs Debian's pytest
#  (python3-pytest) with Debian's python3 (/usr/bin/python3: python3-zmq
#  is its module, whatever python3 comes first on PATH) against the
#  daemons of the build tree (TPC_BUILD_DIR); conftest.py starts the
#  PostgreSQL clusters, the coordinator and the agents.  Nothing is
#  written into the source tree (no bytecode, no pytest cache), so it runs
#  from distcheck's read-only tree.  Last line: pytest's summary,
#  `N passed in S s`.  A missing pytest or pyzmq is a failure, not a skip.
set -u
py=/usr/bin/python3
if ! "$py" -c 'import pytest, zmq' 2>/dev/null; then
    echo "FAIL: test_python: $py lacks pytest or zmq: apt-get install python3-pytest python3-zmq (./scripts/deps)"
    exit 1
fi
export TPC_BUILD_DIR="$top_builddir" TPC_SRC_DIR="$top_srcdir" PYTHONDONTWRITEBYTECODE=1
unset TPC_COORDINATOR TPC_CURVE_SECRET TPC_COORDINATOR_PUBLIC PYTHONPATH
cd "${TMPDIR:-/tmp}" || exit 1
exec "$py" -m pytest -p no:cacheprovider -q -rfE --rootdir="$top_srcdir/python/tests" \
    "$top_srcdir/python/tests"
