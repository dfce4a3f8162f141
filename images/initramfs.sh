#!/usr/bin/env bash
# Builds a busybox root for kvmm guests, without root privileges: an initramfs (newc cpio), or
# with --ext4 an ext4 filesystem image (mkfs.ext4 -d, no loop device) to boot with root=/dev/vda.
#
#   images/initramfs.sh OUT [--ext4 SIZE_MB] [--script FILE] [--file SRC DEST]... [--modules DIR MOD...]
#
# /init (also /sbin/init, for a disk root) mounts proc, sys, devtmpfs and devpts, loads the
# modules, brings the network up when there is a NIC, prints "kvmm-guest: init", then runs, first
# found: the command in `kvmm.run="..."` on the kernel command line, /script (a copy of FILE),
# an interactive shell on the console. Either way the guest reboots when it is done, which makes
# kvmm exit 0. Where the kernel has an ACPI power button and evdev, busybox's acpid powers the
# guest off when the button is pressed (kvmm's `powerdown`).
# Network: lo and eth0 up; `kvmm.ip=ADDR/PREFIX` on the command line gives eth0 that address and
# `kvmm.gw=ADDR` a default route.
# With root=DEVICE on the command line an initramfs mounts DEVICE (rw with `rw`) and switches to
# its /sbin/init instead.
# --file SRC DEST (repeatable) copies SRC into the root at DEST (a test program, say).
# --modules copies the named modules (and what modinfo says they depend on) from a
# /lib/modules/<version> tree and /init loads them in dependency order.
set -euo pipefail

die() { echo "initramfs.sh: $*" >&2; exit 1; }

out=${1:-}
[ -n "$out" ] || die "usage: initramfs.sh OUT [--ext4 SIZE_MB] [--script FILE] [--modules DIR MOD...]"
shift
ext4=""
script=""
moddir=""
mods=()
files=()
while [ $# -gt 0 ]; do
	case "$1" in
	--ext4)
		ext4=${2:?--ext4 needs a size in MiB}
		{ [[ "$ext4" =~ ^[0-9]+$ ]] && [ "$ext4" -ge 8 ]; } || die "--ext4 '$ext4': expected a size in MiB, at least 8"
		shift 2
		;;
	--script) script=${2:?--script needs a file}; shift 2 ;;
	--file)
		[ -r "${2:?--file needs SRC DEST}" ] || die "--file $2: not readable"
		files+=("$2" "${3:?--file needs SRC DEST}")
		shift 3
		;;
	--modules) moddir=${2:?--modules needs a directory}; shift 2; mods=("$@"); break ;;
	*) die "unknown argument '$1'" ;;
	esac
done

# busybox-static's, so the guest needs no libraries.
busybox=/bin/busybox
[ -x "$busybox" ] || die "$busybox not found (apt-get install busybox-static)"
command -v cpio >/dev/null || die "cpio not found (apt-get install cpio)"
[ -z "$ext4" ] || command -v mkfs.ext4 >/dev/null || die "mkfs.ext4 not found (apt-get install e2fsprogs)"
[ -z "$script" ] || [ -r "$script" ] || die "--script $script: not readable"

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,sbin,proc,sys,dev,tmp,etc,root,lib/modules}
cp "$busybox" "$root/bin/busybox"
for ((i = 0; i < ${#files[@]}; i += 2)); do
	mkdir -p "$root/$(dirname "${files[i + 1]}")"
	cp "${files[i]}" "$root/${files[i + 1]}"
done
ln -s busybox "$root/bin/sh"

# Modules, dependencies first: modinfo names what each needs.
modlist=""
if [ -n "$moddir" ]; then
	declare -A done_mod=()
	add_mod() {
		local name=$1 f dep
		[ -z "${done_mod[$name]:-}" ] || return 0
		done_mod[$name]=1
		# A kernel unpacked from its .deb has no modules.dep yet, so find the file itself;
		# module names treat - and _ alike.
		f=$(find "$moddir" \( -name "${name//-/_}.ko" -o -name "${name//_/-}.ko" \) -print -quit)
		[ -n "$f" ] || die "module $name not found under $moddir"
		for dep in $(modinfo -F depends "$f" | tr ',' ' '); do add_mod "$dep"; done
		cp "$f" "$root/lib/modules/"
		modlist="$modlist $(basename "$f")"
	}
	for m in "${mods[@]}"; do add_mod "$m"; done
fi

cat >"$root/init" <<INIT
#!/bin/sh
/bin/busybox --install -s /bin
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mkdir -p /dev/pts && mount -t devpts devpts /dev/pts 2>/dev/null
for m in $modlist; do insmod /lib/modules/\$m || echo "kvmm-guest: insmod \$m failed"; done
INIT
cat >>"$root/init" <<'INIT'
# kvmm.NAME=VALUE or kvmm.NAME="VALUE WITH SPACES" from the kernel command line.
arg() {
	sed -n -e "s/^\(.* \)\{0,1\}kvmm\.$1=\"\([^\"]*\)\".*/\2/p" \
		-e "t" -e "s/^\(.* \)\{0,1\}kvmm\.$1=\([^ ]*\).*/\2/p" /proc/cmdline
}
# An initramfs told root=DEVICE (the distro kernel booting a disk such as images/kvmm-images
# debian): mount it and hand over to its /sbin/init, as Debian's own initramfs would.
rootdev=$(sed -n 's/^\(.* \)\{0,1\}root=\([^ ]*\).*/\2/p' /proc/cmdline)
if [ -e /etc/kvmm-initramfs ] && [ -n "$rootdev" ]; then
	mode=ro
	case " $(cat /proc/cmdline) " in *" rw "*) mode=rw ;; esac
	i=0
	while [ ! -b "$rootdev" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	mkdir -p /newroot
	if mount -o "$mode" "$rootdev" /newroot; then
		umount /dev/pts
		mount --move /dev /newroot/dev
		umount /proc /sys
		exec switch_root /newroot /sbin/init
	fi
	echo "kvmm-guest: cannot mount root=$rootdev; staying in the initramfs"
fi
if [ -e /sys/class/net/lo ]; then ip link set lo up; fi
if [ -e /sys/class/net/eth0 ]; then
	ip link set eth0 up
	addr=$(arg ip)
	if [ -n "$addr" ]; then ip addr add "$addr" dev eth0 || echo "kvmm-guest: bad kvmm.ip=$addr"; fi
	gw=$(arg gw)
	if [ -n "$gw" ]; then ip route add default via "$gw" || echo "kvmm-guest: bad kvmm.gw=$gw"; fi
fi
# kvmm's boot-timer port (docs/boot-timer.md): init runs now, the guest's uptime in ms as 4
# little-endian bytes to ports 0x440..0x443. Other VMMs ignore the writes.
if [ -c /dev/port ]; then
	read -r up _ </proc/uptime
	ms=$((${up%.*} * 1000 + 1${up#*.}0 - 1000))
	printf "$(printf '\\%03o\\%03o\\%03o\\%03o' $((ms & 255)) $((ms >> 8 & 255)) \
		$((ms >> 16 & 255)) $((ms >> 24 & 255)))" | dd of=/dev/port bs=1 seek=1088 2>/dev/null
fi
# The ACPI power button (kvmm's `powerdown`) reaches userspace as KEY_POWER on an input device
# (the kernel's ACPI button driver and evdev); busybox's acpid maps it to PWRF/00000080.
if ls /dev/input/event* >/dev/null 2>&1; then
	mkdir -p /var/run /var/log
	acpid -c /etc/acpi -l /var/log/acpid.log -p /var/run/acpid.pid
fi
echo "kvmm-guest: init"
run=$(arg run)
if [ -n "$run" ]; then
	sh -c "$run"
elif [ -x /script ]; then
	/script
else
	echo "kvmm-guest: shell on the console; 'exit' or Ctrl-D reboots, Ctrl-A x quits kvmm"
	setsid cttyhack sh -l
fi
sync
reboot -f
INIT
chmod +x "$root/init"
mkdir -p "$root/etc/acpi/PWRF"
cat >"$root/etc/acpi/PWRF/00000080" <<'POWER'
#!/bin/sh
echo "kvmm-guest: power button: powering off" >/dev/console
sync
poweroff -f
POWER
chmod +x "$root/etc/acpi/PWRF/00000080"
ln -s ../init "$root/sbin/init"
[ -z "$script" ] || install -m 0755 "$script" "$root/script"
cat >"$root/etc/profile" <<'PROFILE'
export PATH=/bin:/sbin
PS1='kvmm-guest# '
PROFILE

mkdir -p "$(dirname "$out")"
if [ -n "$ext4" ]; then
	# Files owned by root, whoever builds it. /init makes the busybox links at boot, which a
	# root mounted read-only cannot take: the image's /bin gets them now.
	for a in $("$busybox" --list); do [ -e "$root/bin/$a" ] || ln -s busybox "$root/bin/$a"; done
	rm -f "$out.tmp"
	truncate -s "${ext4}M" "$out.tmp"
	mkfs.ext4 -q -F -L kvmm-root -E root_owner=0:0 -d "$root" "$out.tmp" ||
		die "mkfs.ext4 -d failed for $out"
else
	touch "$root/etc/kvmm-initramfs" # root= then means a disk to switch to
	(cd "$root" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --owner 0:0 --quiet) >"$out.tmp"
fi
mv "$out.tmp" "$out"
