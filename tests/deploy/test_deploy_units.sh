#!/bin/sh
#  test_deploy_units: the systemd units and sysusers file of examples/deploy/
#  as an administrator installs them.
#
#  1. `systemd-analyze verify` passes on tpc-coordinator.service and on
#     tpc-participant@db1.service, with no warning.  verify wants the
#     ExecStart= program on this host, so each unit is checked in a copy
#     whose /usr/local/bin/ is this build's directory (nothing else
#     changes); the man pages of Documentation= must be in docs/man/.
#  2. `systemd-analyze security --offline=true` rates each unit's exposure
#     at 3.0 or less (the figure is printed).
#  3. What the README asks of them: the agent's 3PC state directory
#     (README: --state-dir /var/lib/tpc/db1-state) is the unit's
#     StateDirectory= (the only writable path under ProtectSystem=strict),
#     the coordinator's log-dir lies in its StateDirectory=, the agent gets
#     PGPASSFILE outside the home directories (ProtectHome=yes), a usage
#     error (exit 2, checked on both daemons) is not restarted.
#  4. tpc.sysusers.conf creates the units' user: systemd-sysusers --root.
#  A missing systemd-analyze is a failure (scripts/deps installs systemd).
#
#  tests/test_deploy_units (made by tests/Makemodule.am) sets top_srcdir
#  and top_builddir and sources this file.  TPC_TEST_KEEP=1 keeps the
#  scratch directory.
set -u
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tpc-deploy.XXXXXX") || exit 1
s_cleanup () {
    if [ -z "${TPC_TEST_KEEP:-}" ]; then rm -rf "$tmp"; else echo "kept $tmp"; fi
}
trap s_cleanup EXIT
failed=0
s_fail () { echo "FAIL: $*"; failed=$((failed + 1)); }
s_ok () { echo "ok: $*"; }
dep=$top_srcdir/examples/deploy
# the value of KEY= in unit file FILE (last one wins, as in systemd)
s_key () { sed -n "s/^$2=//p" "$1" | tail -n 1; }

for tool in systemd-analyze systemd-sysusers; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "FAIL: $tool missing: apt-get install systemd (scripts/deps does)"
        exit 1
    }
done

# 1. verify
mkdir -p "$tmp/units"
for u in tpc-coordinator.service tpc-participant@.service; do
    sed "s|/usr/local/bin/|$top_builddir/|" "$dep/$u" > "$tmp/units/$u"
    for page in $(sed -n 's/^Documentation=//p' "$dep/$u"); do
        m=$(echo "$page" | sed -n 's/^man:\(.*\)(\([0-9]\))$/\1.\2/p')
        [ -n "$m" ] && [ -f "$top_srcdir/docs/man/$m" ] \
            || s_fail "$u: Documentation=$page is no page of docs/man/"
    done
done
for u in tpc-coordinator.service tpc-participant@db1.service; do
    if systemd-analyze verify --man=no "$tmp/units/$u" > "$tmp/verify.out" 2>&1 \
        && [ ! -s "$tmp/verify.out" ]; then
        s_ok "systemd-analyze verify $u"
    else
        s_fail "systemd-analyze verify $u:"; cat "$tmp/verify.out"
    fi
done

# 2. security
for u in tpc-coordinator.service tpc-participant@.service; do
    systemd-analyze security --offline=true "$dep/$u" > "$tmp/security.out" 2>&1
    line=$(grep 'Overall exposure level' "$tmp/security.out")
    x=$(echo "$line" | sed -n 's/.*: \([0-9][0-9]*\.[0-9]\) .*/\1/p')
    if [ -n "$x" ] && awk -v x="$x" 'BEGIN { exit !(x <= 3.0) }'; then
        s_ok "$u exposure $x (<= 3.0)"
    else
        s_fail "$u exposure ${x:-?} (want <= 3.0): ${line:-no figure}"
        grep '✗' "$tmp/security.out"
    fi
done

# 3. the README's paths and the exit codes
coord=$dep/tpc-coordinator.service agent=$dep/tpc-participant@.service
sd=$(s_key "$agent" StateDirectory)
readme_sd=$(sed -n 's/.*--state-dir \(\/var\/lib\/[^ ]*\).*/\1/p' "$top_srcdir/README.md" | head -n 1)
want=/var/lib/$(echo "$sd" | sed 's/%i/db1/g')
[ -n "$sd" ] && [ "$readme_sd" = "$want" ] \
    && s_ok "agent StateDirectory=$sd holds the README's --state-dir $readme_sd" \
    || s_fail "agent StateDirectory=$sd ($want) vs the README's --state-dir '$readme_sd'"
logdir=$(sed -n 's/.*"log-dir": *"\([^"]*\)".*/\1/p' "$dep/coordinator.json")
csd=$(s_key "$coord" StateDirectory)
case "$logdir" in
/var/lib/"$csd"/*) s_ok "coordinator log-dir $logdir in StateDirectory=$csd" ;;
*) s_fail "coordinator log-dir $logdir outside StateDirectory=$csd" ;;
esac
pp=$(s_key "$agent" Environment | sed -n 's/.*PGPASSFILE=\([^ ]*\).*/\1/p')
case "$pp" in
/etc/tpc/*) s_ok "agent PGPASSFILE=$pp (readable under ProtectHome=$(s_key "$agent" ProtectHome))" ;;
*) s_fail "agent PGPASSFILE='$pp': want a file under /etc/tpc/" ;;
esac
for d in tpc-coordinator tpc-participant; do
    "$top_builddir/$d" --no-such-option > /dev/null 2>&1
    rc=$?
    [ "$rc" -eq 2 ] || s_fail "$d --no-such-option exited $rc, not 2"
done
for f in "$coord" "$agent"; do
    r=$(s_key "$f" RestartPreventExitStatus)
    [ "$r" = 2 ] && s_ok "$(basename "$f"): usage errors (exit 2) are not restarted" \
        || s_fail "$(basename "$f"): RestartPreventExitStatus='$r', want 2"
done

# 4. sysusers
mkdir -p "$tmp/root/etc" "$tmp/root/usr/lib/sysusers.d"
cp "$dep/tpc.sysusers.conf" "$tmp/root/usr/lib/sysusers.d/tpc.conf"
systemd-sysusers --root="$tmp/root" > "$tmp/sysusers.out" 2>&1 || {
    s_fail "systemd-sysusers:"; cat "$tmp/sysusers.out"; }
for f in "$coord" "$agent"; do
    user=$(s_key "$f" User) group=$(s_key "$f" Group)
    grep -q "^$user:" "$tmp/root/etc/passwd" && grep -q "^$group:" "$tmp/root/etc/group" \
        && s_ok "$(basename "$f"): user $user and group $group from tpc.sysusers.conf" \
        || s_fail "$(basename "$f"): user '$user'/group '$group' not made by tpc.sysusers.conf"
done

[ "$failed" -eq 0 ] || { echo "deploy units: $failed failed"; exit 1; }
echo "deploy units: all checks passed"
