#!/bin/bash
# SPDX-License-Identifier: MIT
# Runs the tests that depend on the kernel on another kernel, under qemu: by default Debian 12's
# stock kernel (the one linux-image-amd64 installs), which this project targets and which a
# machine running a newer one never exercises.
#
#   scripts/kernel-vm.sh BUILD_DIR        (make check-kernel)
#
#   KERNEL_PKG      the Debian kernel package (default: what linux-image-amd64 depends on)
#   KERNEL_TESTS    net tests to run (default below), as tests/net/run.sh's NET_TESTS
#   KERNEL_BACKENDS NET_BACKENDS for them (default io_uring: the emulated CPU is slow)
#   KERNEL_TIMEOUT  seconds for the whole boot (default 2400)
#   KERNEL_WAIT_SCALE  NET_WAIT_SCALE for the net tests: how much longer their bounded
#                   waits are (default 1 with KVM, 4 on an emulated CPU, where a relay
#                   takes 10-15 s to start)
#
# The guest boots the package's kernel with a small busybox initramfs, mounts this machine's
# root read-only over 9p under a tmpfs overlay (so it runs the same build, tools and paths),
# the package's modules at /lib/modules, and one writable directory for results; then it runs
# the BPF program tests and the net tests and powers off. It has no network device: every
# test's traffic stays in the namespaces the tests make inside the guest. With /dev/kvm the
# guest runs at native speed; without, qemu emulates the CPU (TCG, about 20x slower), which
# the default test list and timeouts allow for. Exit status: 0 when everything passed or
# skipped, 1 otherwise. Logs: BUILD/kernel-vm/PKG/out (a failed net test's files under failed/).
set -u
here=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$here/.." && pwd)
BUILD=$(cd "${1:-$SRC/build}" && pwd) || exit 1
TESTS=${KERNEL_TESTS:-filter_bypass tc_hook overload offload rxpath napi relay_memlock relay_burst privs}
BACKENDS=${KERNEL_BACKENDS:-io_uring}
TIMEOUT=${KERNEL_TIMEOUT:-2400}
WAIT_SCALE=${KERNEL_WAIT_SCALE:-$([ -w /dev/kvm ] && echo 1 || echo 4)}
case $WAIT_SCALE in '' | *[!0-9]* | 0) echo "check-kernel: KERNEL_WAIT_SCALE must be a whole number >= 1" >&2; exit 1 ;; esac

die() { echo "check-kernel: $*" >&2; exit 1; }
for t in qemu-system-x86_64 busybox cpio depmod apt-get dpkg-deb; do
	command -v "$t" >/dev/null || die "$t not found (scripts/deps.sh kernel installs it)"
done
[ "$(uname -m)" = x86_64 ] || die "only x86_64 guests are set up"

pkg=${KERNEL_PKG:-$(apt-cache depends linux-image-amd64 2>/dev/null |
	awk '/Depends: linux-image-[0-9]/ { print $2; exit }')}
[ -n "$pkg" ] || die "cannot tell which kernel linux-image-amd64 installs (apt-get update?)"
dir=$BUILD/kernel-vm/$pkg
root=$dir/root
if [ ! -d "$root/boot" ]; then
	rm -rf "$dir" && mkdir -p "$dir/deb" || exit 1
	echo "check-kernel: downloading $pkg"
	(cd "$dir/deb" && apt-get download "$pkg" 2>&1 | grep -v unsandboxed) ||
		die "apt-get download $pkg failed"
	dpkg-deb -x "$dir"/deb/*.deb "$root.tmp" || die "cannot unpack $pkg"
	mv "$root.tmp" "$root"
fi
vmlinuz=$(ls "$root"/boot/vmlinuz-* 2>/dev/null | head -n 1)
[ -n "$vmlinuz" ] || die "$pkg holds no /boot/vmlinuz-*"
kver=${vmlinuz##*/vmlinuz-}
mods=$root/lib/modules/$kver
[ -f "$mods/modules.dep" ] || depmod -b "$root" "$kver" || die "depmod for $kver failed"

# The initramfs: busybox and what mounting the root over 9p needs, in the order insmod
# wants them (it resolves no dependencies).
initrd=$dir/initrd.gz
if [ ! -f "$initrd" ]; then
	ird=$dir/initrd.d
	rm -rf "$ird" && mkdir -p "$ird"/{bin,mods,lower,rw,newroot,proc,sys,dev} || exit 1
	cp "$(command -v busybox)" "$ird/bin/busybox" || exit 1
	order="drivers/virtio/virtio_ring drivers/virtio/virtio drivers/virtio/virtio_pci_legacy_dev
	drivers/virtio/virtio_pci_modern_dev drivers/virtio/virtio_pci net/9p/9pnet
	net/9p/9pnet_virtio fs/netfs/netfs fs/fscache/fscache fs/9p/9p fs/overlayfs/overlay"
	names=
	for m in $order; do
		# Built in (no file) is fine; compressed modules are not handled.
		[ -f "$mods/kernel/$m.ko" ] || continue
		cp "$mods/kernel/$m.ko" "$ird/mods/" && names="$names ${m##*/}"
	done
	cat >"$ird/init" <<EOF
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in$names; do insmod /mods/\$m.ko || echo "init: insmod \$m failed"; done
fail() { echo "init: \$*"; poweroff -f; }
o=trans=virtio,version=9p2000.L,msize=512000
mount -t 9p -o \$o,ro root /lower || fail "no 9p root"
mount -t tmpfs rw /rw && mkdir /rw/upper /rw/work
mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /newroot ||
	fail "no overlay"
mkdir -p /newroot/lib/modules/\$(uname -r) /newroot/run
mount -t 9p -o \$o,ro mods /newroot/lib/modules/\$(uname -r) || fail "no modules"
# /tmp stays the overlay's (a build under /tmp stays visible); /run starts empty.
mount -t tmpfs run /newroot/run
mkdir /newroot/run/out; mount -t 9p -o \$o out /newroot/run/out || fail "no results share"
mount --move /proc /newroot/proc; mount --move /sys /newroot/sys; mount --move /dev /newroot/dev
exec switch_root /newroot /bin/bash /run/out/guest.sh
EOF
	chmod +x "$ird/init"
	(cd "$ird" && find . | cpio -o -H newc 2>/dev/null | gzip -1) >"$initrd.tmp" &&
		mv "$initrd.tmp" "$initrd" || die "cannot build the initramfs"
fi

out=$dir/out
rm -rf "$out" && mkdir -p "$out" || exit 1
# What the guest runs, with this shell's PATH (python3 may live outside /usr/bin).
cat >"$out/guest.sh" <<EOF
#!/bin/bash
export PATH='$PATH' HOME=/root
# What udev and systemd would have made: bash's <(...) needs /dev/fd.
ln -s /proc/self/fd /dev/fd
ln -s /proc/self/fd/0 /dev/stdin
ln -s /proc/self/fd/1 /dev/stdout
ln -s /proc/self/fd/2 /dev/stderr
mkdir -p /dev/shm /dev/pts
mount -t tmpfs shm /dev/shm
mount -t devpts devpts /dev/pts
mount -t bpf bpf /sys/fs/bpf
# systemd's limit for open files (the kernel's own hard limit, 4096, is below what the
# tests' relays need)
ulimit -Hn 524288
ulimit -Sn 524288
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
mkdir -p /run/netns
# /run as a booted system has it: root's alone (a fresh tmpfs is 1777, which let test_ops's
# unprivileged daemon make /run/ringrelay), with systemd's directory (test_ops mounts over it).
chmod 755 /run
mkdir -p /run/systemd
ip link set lo up
cd '$SRC'
{
	echo "kernel: \$(uname -r)"
	# What the feature probes find there (kept whole in version.txt).
	'$BUILD/ringrelay' -V -c config/ringrelay.conf >/run/out/version.txt 2>&1
	grep -E '^(io_uring|  multishot|  incrementally|SO_REUSEPORT|backend)' /run/out/version.txt
	for t in '$BUILD'/tests/test_bpf_*; do
		case \$t in *fuzz* | *.d) continue ;; esac
		"\$t" >/run/out/\${t##*/}.log 2>&1
		rc=\$?
		case \$rc in
		0) echo "PASS: \${t##*/}" ;;
		77) echo "SKIP: \${t##*/}: \$(grep -m1 SKIP /run/out/\${t##*/}.log)" ;;
		*) echo "FAIL: \${t##*/} (exit \$rc; \${t##*/}.log)" ;;
		esac
	done
	NET_TESTS='$TESTS' NET_BACKENDS='$BACKENDS' NET_TEST_TIMEOUT=$((1200 * WAIT_SCALE)) \\
		NET_WAIT_SCALE=$WAIT_SCALE \\
		NET_KEEP_DIR=/run/out/failed \\
		bash tests/net/run.sh '$BUILD' 2>&1 | tee /run/out/net.log |
		grep -E '^(PASS|FAIL|SKIP|net:)'
} >/run/out/summary.txt 2>&1
echo done >/run/out/finished
echo o >/proc/sysrq-trigger
EOF

accel=()
[ -w /dev/kvm ] && accel=(-enable-kvm -cpu host)
echo "check-kernel: booting $kver ($( [ ${#accel[@]} -gt 0 ] && echo KVM || echo "emulated CPU, slow")): bpf tests, net tests: $TESTS"
share() { echo "local,path=$1,mount_tag=$2,security_model=none,multidevs=remap$3"; }
timeout "$TIMEOUT" qemu-system-x86_64 "${accel[@]}" -m 3072 -smp 2 -nographic -no-reboot \
	-nic none -kernel "$vmlinuz" -initrd "$initrd" \
	-append "console=ttyS0 panic=-1 quiet" \
	-virtfs "$(share / root ,readonly=on)" \
	-virtfs "$(share "$mods" mods ,readonly=on)" \
	-virtfs "$(share "$out" out "")" >"$out/console.log" 2>&1 </dev/null
rc=$?
cat "$out/summary.txt" 2>/dev/null
[ -f "$out/finished" ] || die "the guest did not finish (qemu exit $rc; $out/console.log)"
echo "check-kernel: logs in $out"
! grep -q '^FAIL' "$out/summary.txt"
