#!/usr/bin/env bash
#  readme_walkthrough: README.md's "Running it by hand" run as written.
#
#  Every fenced block of README.md after a line `<!-- walkthrough: NAME -->`
#  is taken in order: a NAME with a dot (transfer.c) is written to that
#  file, any other block is run by one bash, in a scratch directory that
#  looks like the top of the source tree (_build and examples are links),
#  so that exports, `$coordinator` and background daemons carry from one
#  block to the next, as in the reader's shell.  The values the README
#  asks the reader to set come from here: TPC_PREFIX (a scratch prefix:
#  the blocks install into it), DB1 and DB2 (two throwaway clusters of
#  scripts/pgtmp; as root their servers run as postgres), TPC_COORDINATOR
#  and TPC_AGENTS (free ports).  After each block a check asserts what the
#  README says it does (output lines, rows, files) and waits, with a
#  deadline, for what the next block needs (ready lines, both agents
#  connected).  Last line: `readme walkthrough: N blocks passed, 0 failed`.
#
#  tests/readme_walkthrough (made by tests/Makemodule.am) sets top_srcdir
#  and top_builddir and runs this file.  TPC_TEST_KEEP=1 keeps the scratch
#  directory.
set -u
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tpc-walk.XXXXXX") || exit 1
chmod 755 "$tmp"
pgtmp="$top_srcdir/scripts/pgtmp"
s_cleanup () {
    "$pgtmp" destroy "$tmp/pg1" >/dev/null 2>&1
    "$pgtmp" destroy "$tmp/pg2" >/dev/null 2>&1
    if [ -z "${TPC_TEST_KEEP:-}" ]; then rm -rf "$tmp"; else echo "kept $tmp"; fi
}
trap s_cleanup EXIT
s_fail () { echo "FAIL: readme walkthrough: $*"; exit 1; }

# the blocks, in README order
mkdir -p "$tmp/blocks" "$tmp/out" "$tmp/work"
awk -v dir="$tmp/blocks" '
    /^<!-- walkthrough: [^ ]+ -->$/ { name = $3; next }
    name != "" && !inblock && /^```/ { inblock = 1; n++
        file = sprintf ("%s/%02d-%s", dir, n, name); printf "" > file; next }
    inblock && /^```/ { inblock = 0; name = ""; close (file); next }
    inblock { print > file }
' "$top_srcdir/README.md"
nblocks=$(ls "$tmp/blocks" | wc -l)
[ "$nblocks" -ge 10 ] || s_fail "only $nblocks walkthrough blocks in README.md"

# the reader's values
free_port () {
    local p
    for _ in $(seq 1 200); do
        p=$(( 10000 + (RANDOM * 32768 + RANDOM) % 22000 ))
        [ "$p" = "${1:-}" ] && continue
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
    done
    return 1
}
DB1=$("$pgtmp" start "$tmp/pg1") || s_fail "cannot start PostgreSQL"
DB2=$("$pgtmp" start "$tmp/pg2") || s_fail "cannot start PostgreSQL"
p1=$(free_port) && p2=$(free_port "$p1") || s_fail "no free port"
export DB1 DB2 TPC_PREFIX="$tmp/prefix" \
       TPC_COORDINATOR="tcp://127.0.0.1:$p1" TPC_AGENTS="tcp://127.0.0.1:$p2"
unset MAKEFLAGS MFLAGS MAKELEVEL TPC_CURVE_SECRET TPC_COORDINATOR_PUBLIC \
      TPC_CRASH_POINT TPC_CRASH_AT TPC_CRASH_ACTION PGPASSFILE PGHOST PGPORT
# the python3 that has Debian's python3-zmq first on PATH
if ! python3 -c 'import zmq' 2>/dev/null && /usr/bin/python3 -c 'import zmq' 2>/dev/null; then
    mkdir -p "$tmp/shim" && ln -s /usr/bin/python3 "$tmp/shim/python3"
    export PATH="$tmp/shim:$PATH"
fi
ln -s "$top_builddir" "$tmp/work/_build"
ln -s "$top_srcdir/examples" "$tmp/work/examples"

# the checks, run by the walkthrough's shell after each block
cat > "$tmp/checks.sh" <<'CHECKS'
out () { cat "$WT_OUT/$1"; }
has () { grep -q -- "$2" "$WT_OUT/$1" || { echo "block $1: no '$2' in its output:"; cat "$WT_OUT/$1"; return 1; }; }
sql () { psql -X -A -t -q "$(cat "$1")" -c "$2"; }
balance () { sql "$1.conninfo" "SELECT balance FROM accounts WHERE id = $2"; }
is () { [ "$2" = "$3" ] || { echo "$1: got '$2', expected '$3'"; return 1; }; }
wait_for () {   # wait_for SECONDS WHAT COMMAND...: until COMMAND succeeds
    local end=$(( SECONDS + $1 )) what=$2; shift 2
    until "$@" >/dev/null 2>&1; do
        [ $SECONDS -lt $end ] || { echo "timed out waiting for $what"; return 1; }
        sleep 0.1
    done
}
nready () { [ "$(grep -c ': ready' "$1" 2>/dev/null)" -ge "$2" ]; }
agents2 () { tpcctl status 2>&1 | grep -q 'agents=2 db1,db2'; }
check_install () {
    is "tpcctl on PATH" "$(command -v tpcctl)" "$TPC_PREFIX/bin/tpcctl" &&
    test -x "$TPC_PREFIX/bin/tpc-coordinator" && test -x "$TPC_PREFIX/bin/tpc-participant" &&
    test -f "$TPC_PREFIX/include/tpc_client.h" && test -f "$TPC_PREFIX/lib/libtpc.so.1" &&
    is "libtpc.pc" "$(pkg-config --variable=includedir libtpc)" "$TPC_PREFIX/include"
}
check_databases () {
    is "db1 accounts" "$(sql db1.conninfo 'SELECT current_user, count(*), sum(balance) FROM accounts')" "tpc|10|10000" &&
    is "db2 accounts" "$(sql db2.conninfo 'SELECT current_user, count(*), sum(balance) FROM accounts')" "tpc|10|10000"
}
check_keys () {
    for f in keys/c1.key_secret keys/clients/app.key keys/admins/ops.key keys/agents/db1.key keys/agents/db2.key; do
        test -f "$f" || { echo "no $f"; return 1; }
    done
}
check_daemons () {
    wait_for 20 "the coordinator's ready line" nready coordinator.log 1 &&
    wait_for 20 "db1's ready line" nready db1.log 1 &&
    wait_for 20 "db2's ready line" nready db2.log 1 &&
    wait_for 20 "agents=2 db1,db2 in tpcctl status" agents2
}
check_exec () {
    has exec '^committed gid=tpc_c1_1_1$' && has exec '^committed gid=tpc_c1_1_2$' &&
    is "db1 id 1" "$(balance db1 1)" 980 && is "db2 id 1" "$(balance db2 1)" 1010 &&
    is "db2 id 2" "$(balance db2 2)" 1010
}
check_inspect () {
    has inspect 'committed' && has inspect '"gid"' && has inspect '^log verify: OK' &&
    has inspect '^1|980$' && has inspect '^(10 rows)$' &&
    is "db1 id 1" "$(balance db1 1)" 970 && is "db2 id 1" "$(balance db2 1)" 1020 &&
    ! grep -q 'rror' "$WT_OUT/inspect"
}
check_recover () {
    has recover 'mode=recover-only' && ! grep -q refusing "$WT_OUT/recover" &&
    wait_for 20 "the restarted coordinator's ready line" nready coordinator.log 2 &&
    wait_for 20 "agents=2 db1,db2 after the restart" agents2
}
check_c () {
    has c '^committed gid=tpc_c1_2_1$' &&
    is "db1 id 1" "$(balance db1 1)" 960 && is "db2 id 2" "$(balance db2 2)" 1020
}
check_python () {
    has python '^committed gid=tpc_c1_2_2$' &&
    is "db1 id 3" "$(balance db1 3)" 990 && is "db2 id 3" "$(balance db2 3)" 1010 &&
    is "db1 sum" "$(sql db1.conninfo 'SELECT sum(balance) FROM accounts')" 9950 &&
    is "db2 sum" "$(sql db2.conninfo 'SELECT sum(balance) FROM accounts')" 10050
}
CHECKS

# one script: the blocks as written, each followed by its check
walk="$tmp/walk.sh"
{
    echo "cd '$tmp/work' || exit 1"
    echo "WT_OUT='$tmp/out'; . '$tmp/checks.sh'"
    echo "trap 'kill \$(jobs -p) 2>/dev/null; wait' EXIT"
    for b in "$tmp"/blocks/*; do
        name=${b##*/[0-9][0-9]-}
        case "$name" in
        *.*) echo "cp '$b' '$name'"
             echo "echo 'block $name: passed (written)'" ;;
        *)   echo "{"; cat "$b"; echo "} > '$tmp/out/$name' 2>&1 < /dev/null"
             echo "if grep -q 'command not found' '$tmp/out/$name' || ! check_$name; then"
             echo "    echo 'block $name: FAILED'; cat '$tmp/out/$name'; exit 1"
             echo "fi"
             echo "echo 'block $name: passed'" ;;
        esac
    done
} > "$walk"

start=$SECONDS
bash "$walk" > "$tmp/walk.log" 2>&1
rc=$?
cat "$tmp/walk.log"
passed=$(grep -c '^block .*: passed' "$tmp/walk.log")
failed=$(( nblocks - passed ))
if [ $rc -ne 0 ] || [ $failed -ne 0 ]; then
    for f in coordinator.log db1.log db2.log; do
        [ -f "$tmp/work/$f" ] && { echo "--- $f"; tail -n 20 "$tmp/work/$f"; }
    done
    echo "readme walkthrough: $passed blocks passed, $failed failed"
    exit 1
fi
echo "C example: $(grep committed "$tmp/out/c")"
echo "Python example: $(grep committed "$tmp/out/python")"
echo "readme walkthrough: $passed blocks passed, 0 failed ($(( SECONDS - start )) s)"
exit 0
