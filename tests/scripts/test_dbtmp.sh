#!/bin/sh
#  test_dbtmp: what scripts/mariatmp and scripts/pgtmp may touch on the
#  host, and whom they signal.
#
#  1. `start` on a non-empty directory that is not one of theirs is
#     refused: its files keep their owner, its parent keeps its mode.
#  2. As root (the servers run as mysql / postgres): a DIR outside /tmp
#     and $TMPDIR under a parent that user cannot traverse is refused,
#     and that parent keeps its mode (no `chmod o+x` walk up to /).
#  3. mariatmp: `kill` leaves no mariadbd.pid behind; a pid file naming a
#     live process that is not this DIR's mariadbd (PID reuse) neither
#     makes `start` claim a server is running nor gets that process
#     killed by `stop` or `destroy`; `destroy` kills DIR's mariadbd even
#     when its pid file does not name it (no orphan server).
#  A missing mariadbd or PostgreSQL is a failure.
#
#  tests/test_dbtmp (made by tests/Makemodule.am) sets top_srcdir and
#  top_builddir and sources this file.  TPC_TEST_KEEP=1 keeps the scratch
#  directory.
set -u
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tpc-dbtmp.XXXXXX") || exit 1
chmod 755 "$tmp"
out=$top_builddir/tests/dbtmp-out.$$      # a place outside /tmp
decoy=
s_cleanup () {
    [ -n "$decoy" ] && kill "$decoy" 2>/dev/null
    "$top_srcdir/scripts/mariatmp" destroy "$tmp/m" >/dev/null 2>&1
    "$top_srcdir/scripts/mariatmp" destroy "$out/priv/m" >/dev/null 2>&1
    "$top_srcdir/scripts/pgtmp" destroy "$out/priv/p" >/dev/null 2>&1
    rm -rf "$out"
    if [ -z "${TPC_TEST_KEEP:-}" ]; then rm -rf "$tmp"; else echo "kept $tmp"; fi
}
trap s_cleanup EXIT
failed=0
s_fail () { echo "FAIL: $*"; failed=$((failed + 1)); }
s_ok () { echo "ok: $*"; }
s_mode () { stat -c %a "$1"; }
s_owner () { stat -c %U "$1"; }

# 1. a non-empty directory that is not a server's
mkdir -p "$tmp/priv/busy"
chmod 700 "$tmp/priv"
echo precious > "$tmp/priv/busy/keep.txt"
for tool in mariatmp pgtmp; do
    if "$top_srcdir/scripts/$tool" start "$tmp/priv/busy" >"$tmp/out" 2>&1; then
        s_fail "$tool start on a non-empty directory succeeded"
        "$top_srcdir/scripts/$tool" stop "$tmp/priv/busy" >/dev/null 2>&1
    elif grep -q "not empty" "$tmp/out"; then
        s_ok "$tool refuses a non-empty directory: $(head -1 "$tmp/out")"
    else
        s_fail "$tool start failed without saying why: $(cat "$tmp/out")"
    fi
    [ "$(s_owner "$tmp/priv/busy/keep.txt")" = "$(id -un)" ] \
        || s_fail "$tool: keep.txt now belongs to $(s_owner "$tmp/priv/busy/keep.txt")"
    [ "$(s_mode "$tmp/priv")" = 700 ] \
        || s_fail "$tool: the parent's mode is now $(s_mode "$tmp/priv")"
    [ "$(cat "$tmp/priv/busy/keep.txt")" = precious ] || s_fail "$tool: keep.txt changed"
done

# 2. as root: a parent outside the temp roots stays as it is
case $out in /tmp/*) under_tmp=1 ;; *) under_tmp= ;; esac
if [ "$(id -u)" -eq 0 ] && [ -n "$under_tmp" ]; then
    echo "note: the build tree is under /tmp: no parent outside it to check"
elif [ "$(id -u)" -eq 0 ]; then
    mkdir -p "$out/priv"
    chmod 700 "$out/priv"
    for tool in mariatmp:m pgtmp:p; do
        t=${tool%%:*}; d=$out/priv/${tool#*:}
        if TMPDIR=/tmp "$top_srcdir/scripts/$t" start "$d" >"$tmp/out" 2>&1; then
            s_fail "$t start under a 0700 parent outside /tmp succeeded"
        elif grep -q "/tmp" "$tmp/out"; then
            s_ok "$t refuses an unreachable DIR: $(head -1 "$tmp/out")"
        else
            s_fail "$t start failed without saying why: $(cat "$tmp/out")"
        fi
        [ "$(s_mode "$out/priv")" = 700 ] \
            || s_fail "$t: $out/priv's mode is now $(s_mode "$out/priv")"
    done
fi

# 3. mariatmp and PID reuse
m=$tmp/m
if ! "$top_srcdir/scripts/mariatmp" start "$m" >"$tmp/ci" 2>"$tmp/err"; then
    s_fail "mariatmp start: $(cat "$tmp/err")"
else
    sock() { mariadb --no-defaults --socket="$m/sock" -uroot --connect-timeout=5 -N -e "$1"; }
    "$top_srcdir/scripts/mariatmp" kill "$m"
    [ -e "$m/mariadbd.pid" ] && s_fail "mariatmp kill left $m/mariadbd.pid" \
        || s_ok "mariatmp kill removes its pid file"
    sleep 600 &
    decoy=$!
    echo "$decoy" > "$m/mariadbd.pid"
    if "$top_srcdir/scripts/mariatmp" start "$m" >"$tmp/ci2" 2>"$tmp/err" \
       && [ "$(sock 'SELECT 42' 2>&1)" = 42 ]; then
        s_ok "start with a stale pid file naming another process starts mariadbd"
    else
        s_fail "start trusted a pid file naming another process: $(cat "$tmp/err")"
    fi
    [ "$(cat "$tmp/ci2")" = "$(cat "$tmp/ci")" ] || s_fail "conninfo changed: $(cat "$tmp/ci2")"
    real=$(cat "$m/mariadbd.pid")
    echo "$decoy" > "$m/mariadbd.pid"
    "$top_srcdir/scripts/mariatmp" stop "$m"
    "$top_srcdir/scripts/mariatmp" destroy "$m"
    if kill -0 "$decoy" 2>/dev/null; then
        s_ok "stop and destroy leave the unrelated process $decoy alone"
    else
        s_fail "mariatmp stop/destroy killed the unrelated process $decoy"
    fi
    # the server whose pid file no longer names it is not orphaned
    if kill -0 "$real" 2>/dev/null; then
        s_fail "destroy left mariadbd $real running (its pid file named another process)"
        kill -9 "$real"
    else
        s_ok "destroy kills DIR's mariadbd without its pid file"
    fi
    [ -e "$m" ] && s_fail "destroy left $m"
fi

echo "test_dbtmp: $failed failures"
[ "$failed" -eq 0 ]
