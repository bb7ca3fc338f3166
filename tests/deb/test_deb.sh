#!/bin/bash
# SPDX-License-Identifier: MIT
# tests/deb/test_deb.sh DEBDIR: the Debian package make deb built, and make install.
#   1. the package: named ringrelay_<VERSION>_<arch>.deb; the files ringrelay.conf(5) and
#      ringrelay(8) name are in it (binaries, conffile, unit, man pages, examples, bash
#      completion, logrotate); /etc/ringrelay/ringrelay.conf is a conffile; the unit runs
#      the installed paths; ringrelayctl needs libc only.
#   2. installed into a scratch root (dpkg -x): the installed `ringrelay -t` accepts the
#      installed conffile, -T prints it, -V names VERSION.
#   3. the maintainer scripts, run against stub adduser / deb-systemd-helper / systemctl in
#      a scratch PATH (nothing on this host is touched): postinst configure creates the
#      system user with adduser --system and enables the unit; prerm and postrm parse.
#   4. make install into a scratch DESTDIR twice, with the config edited in between: the
#      edit stays, the new default lands beside it as ringrelay.conf.dist, and install says so.
# Prints "deb: N passed, N failed"; exits 1 on any failure.
set -u
here=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$here/../.." && pwd)
debdir=$(cd "${1:?usage: test_deb.sh DEBDIR}" && pwd)
version=$(cat "$SRC/VERSION")
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
deb=$debdir/ringrelay_${version}_$arch.deb
tmp=$(mktemp -d /tmp/ringrelay-deb-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { echo "ok: $*"; pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }

# ---------------------------------------------------------------- 1. the package
[ -f "$deb" ] || { echo "FAIL: $deb not found (make deb)"; echo "deb: 0 passed, 1 failed"; exit 1; }
ok "built $(basename "$deb")"
dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|' >"$tmp/files"
for f in /usr/sbin/ringrelay /usr/sbin/ringrelayctl /etc/ringrelay/ringrelay.conf \
	/lib/systemd/system/ringrelay.service /usr/share/man/man8/ringrelay.8.gz \
	/usr/share/man/man8/ringrelayctl.8.gz /usr/share/man/man5/ringrelay.conf.5.gz \
	/usr/share/doc/ringrelay/examples/dns-lb.conf \
	/usr/share/doc/ringrelay/examples/syslog-fanout.conf \
	/usr/share/doc/ringrelay/examples/game-relay.conf \
	/usr/share/doc/ringrelay/examples/ringrelay.conf /usr/share/doc/ringrelay/copyright \
	/usr/share/bash-completion/completions/ringrelay \
	/usr/share/bash-completion/completions/ringrelayctl /etc/logrotate.d/ringrelay; do
	grep -qx "$f" "$tmp/files" || bad "package lacks $f"
done
ok "package holds binaries, conffile, unit, man pages, examples, completion, logrotate"
dpkg-deb -e "$deb" "$tmp/control"
check "conffile: /etc/ringrelay/ringrelay.conf" grep -qx /etc/ringrelay/ringrelay.conf \
	"$tmp/control/conffiles"
check "Depends names adduser" sh -c "dpkg-deb -f '$deb' Depends | grep -q adduser"

# ---------------------------------------------------------------- 2. scratch root
root=$tmp/root
dpkg-deb -x "$deb" "$root"
conf=$root/etc/ringrelay/ringrelay.conf
if out=$("$root/usr/sbin/ringrelay" -t -c "$conf" 2>&1) &&
	[ "$out" = "configuration $conf is OK" ]; then
	ok "installed ringrelay -t accepts the installed conffile"
else
	bad "installed ringrelay -t on $conf: $out"
fi
check "installed ringrelay -T prints the conffile's relay" sh -c \
	"'$root/usr/sbin/ringrelay' -T -c '$conf' | grep -q 'name = \"echo-demo\"'"
check "installed ringrelay -V names $version" sh -c \
	"'$root/usr/sbin/ringrelay' -V | head -n 1 | grep -q '^ringrelay $version'"
n=0
for f in "$root"/usr/share/doc/ringrelay/examples/*.conf; do
	# examples name filter interfaces (eth0) this host may not have, and dns-lb needs more
	# file descriptors than a low hard RLIMIT_NOFILE gives: those checks aside, each must
	# pass -t
	out=$("$root/usr/sbin/ringrelay" -t -c "$f" 2>&1) ||
		echo "$out" | grep -q 'no such network interface\|hard RLIMIT_NOFILE is' ||
		{ bad "example ${f##*/}: $out"; continue; }
	n=$((n + 1))
done
ok "installed examples pass -t ($n of them)"
unit=$root/lib/systemd/system/ringrelay.service
check "unit runs /usr/sbin/ringrelay on /etc/ringrelay/ringrelay.conf" grep -q \
	'^ExecStart=/usr/sbin/ringrelay -f -c /etc/ringrelay/ringrelay.conf$' "$unit"
check "unit reloads with /usr/sbin/ringrelayctl" grep -q '^ExecReload=/usr/sbin/ringrelayctl' \
	"$unit"
check "ringrelayctl links libc only" sh -c "! objdump -p '$root/usr/sbin/ringrelayctl' |
	awk '/NEEDED/ {print \$2}' | grep -v '^libc\.so'"
check "bash completion loads and completes ringrelayctl commands" bash -c "
	. '$root/usr/share/bash-completion/completions/ringrelayctl'
	COMP_WORDS=(ringrelayctl rel); COMP_CWORD=1; _ringrelayctl
	[ \"\${COMPREPLY[*]}\" = reload ] || exit 1
	COMP_WORDS=(ringrelayctl ups); COMP_CWORD=1; _ringrelayctl
	[ \"\${COMPREPLY[*]}\" = 'upstreams upstream' ] || exit 1
	COMP_WORDS=(ringrelayctl upstream d); COMP_CWORD=2; _ringrelayctl
	[ \"\${COMPREPLY[*]}\" = disable ]"

# ---------------------------------------------------------------- 3. maintainer scripts
stubs=$tmp/stubs
mkdir -p "$stubs"
for cmd in adduser deb-systemd-helper deb-systemd-invoke systemctl; do
	printf '#!/bin/sh\necho "%s $*" >>"%s/calls"\nexit 0\n' "$cmd" "$tmp" >"$stubs/$cmd"
	chmod +x "$stubs/$cmd"
done
for s in postinst prerm postrm; do
	check "$s is valid sh" sh -n "$tmp/control/$s"
done
if PATH=$stubs:/usr/bin:/bin sh -e "$tmp/control/postinst" configure "" \
	>"$tmp/postinst.out" 2>&1; then
	ok "postinst configure (first install) exits 0"
else
	bad "postinst configure: $(cat "$tmp/postinst.out")"
fi
check "postinst creates the user: adduser --system --group ... ringrelay" grep -q \
	'^adduser --system --group .*--shell /usr/sbin/nologin .*ringrelay$' "$tmp/calls"
check "postinst enables ringrelay.service (deb-systemd-helper)" grep -q \
	"^deb-systemd-helper enable ringrelay.service" "$tmp/calls"
check "postrm purge removes /var/log/ringrelay, not the user" sh -c \
	"grep -q 'rm -rf /var/log/ringrelay' '$tmp/control/postrm' &&
	! grep -q deluser '$tmp/control/postrm'"

# ---------------------------------------------------------------- 4. make install
dest=$tmp/dest
if make -s -C "$SRC" install DESTDIR="$dest" PREFIX=/usr/local >"$tmp/install1" 2>&1; then
	ok "make install into a scratch DESTDIR"
else
	bad "make install: $(tail -n 5 "$tmp/install1")"
fi
ic=$dest/etc/ringrelay/ringrelay.conf
echo "# edited by the operator" >>"$ic"
make -s -C "$SRC" install DESTDIR="$dest" PREFIX=/usr/local >"$tmp/install2" 2>&1
check "a second make install keeps the edited config" grep -q '^# edited by the operator' "$ic"
check "the new default goes beside it as ringrelay.conf.dist" cmp -s "$SRC/config/ringrelay.conf" \
	"$ic.dist"
check "make install says so" grep -q "kept your $ic; the new default is $ic.dist" "$tmp/install2"
check "make install puts examples under share/doc/ringrelay/examples" test -f \
	"$dest/usr/local/share/doc/ringrelay/examples/dns-lb.conf"
check "make install puts bash completion under share/bash-completion/completions" test -f \
	"$dest/usr/local/share/bash-completion/completions/ringrelayctl"

echo "deb: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
