#!/usr/bin/env bash
# Builds a busybox initramfs (newc cpio) for kvmm guests, without root privileges.
#
#   images/initramfs.sh OUT.cpio [--script FILE] [--modules DIR MOD...]
#
# /init mounts proc, sys and devtmpfs, prints "kvmm-guest: init", then runs /script (a copy of
# FILE) if given, and otherwise gives the console an interactive shell. Either way the guest
# reboots when it is done, which makes kvmm exit 0.
# --modules copies the named modules (and what modinfo says they depend on) from a
# /lib/modules/<version> tree and /init loads them in dependency order.
set -euo pipefail

die() { echo "initramfs.sh: $*" >&2; exit 1; }

out=${1:-}
[ -n "$out" ] || die "usage: initramfs.sh OUT.cpio [--script FILE] [--modules DIR MOD...]"
shift
script=""
moddir=""
mods=()
while [ $# -gt 0 ]; do
	case "$1" in
	--script) script=${2:?--script needs a file}; shift 2 ;;
	--modules) moddir=${2:?--modules needs a directory}; shift 2; mods=("$@"); break ;;
	*) die "unknown argument '$1'" ;;
	esac
done

# busybox-static's, so the guest needs no libraries.
busybox=/bin/busybox
[ -x "$busybox" ] || die "$busybox not found (apt-get install busybox-static)"
command -v cpio >/dev/null || die "cpio not found (apt-get install cpio)"
[ -z "$script" ] || [ -r "$script" ] || die "--script $script: not readable"

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,sbin,proc,sys,dev,tmp,etc,root,lib/modules}
cp "$busybox" "$root/bin/busybox"
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
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
mkdir -p /dev/pts && mount -t devpts devpts /dev/pts
for m in $modlist; do insmod /lib/modules/\$m || echo "kvmm-guest: insmod \$m failed"; done
echo "kvmm-guest: init"
if [ -x /script ]; then
	/script
else
	echo "kvmm-guest: shell on the console; 'exit' or Ctrl-D reboots, Ctrl-A x quits kvmm"
	setsid cttyhack sh -l
fi
reboot -f
INIT
chmod +x "$root/init"
[ -z "$script" ] || install -m 0755 "$script" "$root/script"
cat >"$root/etc/profile" <<'PROFILE'
export PATH=/bin:/sbin
PS1='kvmm-guest# '
PROFILE

mkdir -p "$(dirname "$out")"
(cd "$root" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --owner 0:0 --quiet) >"$out.tmp"
mv "$out.tmp" "$out"
