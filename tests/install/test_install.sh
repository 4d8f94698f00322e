#!/bin/sh
#  test_install: libtpc as an outside program sees it.
#
#  1. `make install DESTDIR=<scratch>` from this build;
#  2. build tests/install/hello.c against the installed tpc_client.h and
#     libtpc.so, found by `pkg-config --cflags --libs libtpc` (with
#     PKG_CONFIG_SYSROOT_DIR pointing into the scratch directory);
#  3. check the program needs libtpc.so.1 and that `nm -D` on the installed
#     library shows exactly the functions tpc_client.h declares (no
#     tpc_log_, tpc_msg_, tpc_crash_ ... internals);
#     tpc_client_new is there twice: @@LIBTPC_1.2 for hello and
#     @LIBTPC_1 for tests/install/old_abi.c, a program of libtpc 1.1 (its
#     shorter opts struct), which must still get a client;
#  4. start a coordinator and two in-memory agents (--backend mem) from the
#     build tree on ipc:// endpoints and run one transaction with the
#     program, loading the installed library (LD_LIBRARY_PATH).
#
#  tests/test_install (made by tests/Makemodule.am) sets CC, CFLAGS,
#  LDFLAGS, MAKE, PKG_CONFIG, libdir, includedir, top_srcdir, top_builddir
#  and sources this file.  TPC_TEST_KEEP=1 keeps the scratch directory.
set -u
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tpc-install.XXXXXX") || exit 1
coord_pid= ; a1_pid= ; a2_pid=
s_cleanup () {
    for p in $a1_pid $a2_pid $coord_pid; do
        kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
    done
    if [ -z "${TPC_TEST_KEEP:-}" ]; then rm -rf "$tmp"; else echo "kept $tmp"; fi
}
trap s_cleanup EXIT
s_fail () {
    echo "FAIL: $*"
    for f in "$tmp"/*.log; do
        [ -f "$f" ] && { echo "--- $f"; tail -n 20 "$f"; }
    done
    exit 1
}

# 1. install
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
    $MAKE -C "$top_builddir" install DESTDIR="$tmp/root" > "$tmp/install.log" 2>&1 \
    || s_fail "make install DESTDIR=$tmp/root"
lib="$tmp/root$libdir"
[ -f "$tmp/root$includedir/tpc_client.h" ] || s_fail "tpc_client.h not installed"
[ -f "$lib/libtpc.so.1" ] || s_fail "libtpc.so.1 not installed in $lib"
echo "installed: $(cd "$lib" && ls libtpc.* | tr "\n" " ")"

# 2. build the program against the installed copy only
pc_cflags=$(PKG_CONFIG_PATH="$lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$tmp/root" \
            $PKG_CONFIG --cflags libtpc) || s_fail "pkg-config --cflags libtpc"
pc_libs=$(PKG_CONFIG_PATH="$lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$tmp/root" \
          $PKG_CONFIG --libs libtpc) || s_fail "pkg-config --libs libtpc"
echo "pkg-config: $pc_cflags $pc_libs"
$CC -std=c11 -Wall -Wextra -Werror $CFLAGS $pc_cflags \
    -o "$tmp/hello" "$top_srcdir/tests/install/hello.c" $LDFLAGS $pc_libs \
    > "$tmp/cc.log" 2>&1 || s_fail "cannot build hello against the installed libtpc"
readelf -d "$tmp/hello" | grep -q 'NEEDED.*\[libtpc\.so\.1\]' \
    || s_fail "hello does not need libtpc.so.1"

# 3. the exported symbols are the header's functions, no more, no less
sed -n 's/^[a-z][^;(]*[ *]\(tpc_[a-z0-9_]*\) (.*/\1/p' \
    "$tmp/root$includedir/tpc_client.h" | sort -u > "$tmp/declared"
nm -D --defined-only "$lib/libtpc.so.1" | awk '$2 != "A" { print $3 }' \
    | sed 's/@.*//' | sort -u > "$tmp/exported"
n=$(wc -l < "$tmp/exported")
if ! cmp -s "$tmp/declared" "$tmp/exported"; then
    diff "$tmp/declared" "$tmp/exported" | sed 's/^/  /'
    s_fail "libtpc.so exports differ from tpc_client.h (< header, > library)"
fi
grep -E '^tpc_(log|msg|crash|record|io|gid|curve|zap|crc32c)_' "$tmp/exported" \
    && s_fail "internal symbols exported"
echo "nm -D: $n symbols, all declared in tpc_client.h"
# tpc_client_new: @@LIBTPC_1.2 (the opts struct with connect_timeout_ms)
# for new programs, @LIBTPC_1 kept for the ones built before (libtpc.map)
nm -D --defined-only "$lib/libtpc.so.1" | grep -q ' tpc_client_new@LIBTPC_1$' \
    || s_fail "libtpc.so lost tpc_client_new@LIBTPC_1 (older programs)"
nm -D "$tmp/hello" | grep -q 'tpc_client_new@LIBTPC_1\.2$' \
    || s_fail "hello is not bound to tpc_client_new@LIBTPC_1.2"
echo "nm -D: tpc_client_new@LIBTPC_1 and @@LIBTPC_1.2"
# a program of libtpc 1.1 (the shorter opts struct) gets the old entry
$CC -std=c11 -Wall -Wextra -Werror $CFLAGS $pc_cflags \
    -o "$tmp/old_abi" "$top_srcdir/tests/install/old_abi.c" $LDFLAGS $pc_libs \
    > "$tmp/cc-old.log" 2>&1 || s_fail "cannot build old_abi"
nm -D "$tmp/old_abi" | grep -q 'tpc_client_new@LIBTPC_1$' \
    || s_fail "old_abi is not bound to tpc_client_new@LIBTPC_1"
LD_LIBRARY_PATH="$lib" "$tmp/old_abi" "ipc://$tmp/nobody" > "$tmp/old_abi.log" \
    2>&1 || s_fail "a libtpc 1.1 program broke on this libtpc"
cat "$tmp/old_abi.log"

# 4. a transaction through the installed library
"$top_builddir/tpc-coordinator" --id install --bind "ipc://$tmp/clients" \
    --agent-bind "ipc://$tmp/agents" --log-dir "$tmp/log" \
    --insecure-plaintext > "$tmp/coordinator.log" 2>&1 &
coord_pid=$!
"$top_builddir/tpc-participant" --name a1 --coordinator "ipc://$tmp/agents" \
    --backend mem --insecure-plaintext > "$tmp/a1.log" 2>&1 &
a1_pid=$!
"$top_builddir/tpc-participant" --name a2 --coordinator "ipc://$tmp/agents" \
    --backend mem --insecure-plaintext > "$tmp/a2.log" 2>&1 &
a2_pid=$!
# the client waits 2 s for a first connection (connect_timeout_ms): start
# it once the coordinator has bound its endpoints (its ready line)
for _ in $(seq 300); do
    grep -q ': ready ' "$tmp/coordinator.log" && break
    kill -0 "$coord_pid" 2>/dev/null || break
    sleep 0.1
done
grep -q ': ready ' "$tmp/coordinator.log" || s_fail "the coordinator is not ready"
LD_LIBRARY_PATH="$lib" "$tmp/hello" "ipc://$tmp/clients" a1 a2 \
    > "$tmp/hello.log" 2>&1 || s_fail "the transaction did not commit"
cat "$tmp/hello.log"
LD_LIBRARY_PATH="$lib" ldd "$tmp/hello" | grep -q "$lib/libtpc.so.1" \
    || s_fail "hello did not load the installed libtpc.so.1"
echo "PASS: test_install"
exit 0
