#!/usr/bin/env bash
# Every kernel format kvmm boots reaches init, with the boot timeline to show how:
#   fixed      kvmm-kernel built not relocatable (tinyconfig's default), booted from its bzImage
#              directly and the classic way
#   distro     the stock Debian kernel four ways, each reporting the same facts (CPUs, memory):
#              its bzImage unpacked on the host (cache miss, then hit), its bzImage the classic
#              way (its decompressor in the guest), and its vmlinux, extracted here, through PVH
#   initramfs  kvmm-kernel with the busybox initramfs compressed by gzip, zstd and lz4, and laid
#              out as Debian's initrd.img is (an uncompressed early cpio, then zstd)
# Every boot's init writes the boot-timer port; --boot-timeline must show it.
#   tests/boot/kernel-formats.sh KVMM WORKDIR fixed|distro|initramfs
source "$(dirname "$0")/lib.sh"
KVMM=${1:?usage: kernel-formats.sh KVMM WORKDIR fixed|distro|initramfs} WORK=${2:?} MODE=${3:?}
rm -rf "$WORK"
mkdir -p "$WORK"
WORK=$(realpath "$WORK") KVMM=$(realpath "$KVMM")

# No double quotes: kvmm.run="..." holds it.
facts="echo KVMM-FACTS cpus=\$(grep -c ^processor /proc/cpuinfo)"
facts+=" mem=\$(sed -n 's/^MemTotal: *//p' /proc/meminfo | tr -d ' ')"
facts+=" model=\$(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n1 | tr ' ' _)"
# The memory map the kernel was handed, and its command line, as digests.
facts+=" e820=\$(dmesg | sed -n 's/.*BIOS-e820: //p' | md5sum | cut -c1-8)"
facts+=" cmdline=\$(md5sum </proc/cmdline | cut -c1-8)"
cmdline="panic=-1 loglevel=4 kvmm.run=\"$facts\""
script=$WORK/boots.sh
# boot NAME KVMM-ARGS...: one kvmm run inside the harness, its output in WORK/NAME.log.
boot() {
	local name=$1
	shift
	printf '%q' "$KVMM" >>"$script"
	printf ' %q' --no-reboot --cpus 2 --mem 512M --boot-timeline \
		--kernel-cache "$WORK/cache" "$@" --cmdline "$cmdline" >>"$script"
	printf ' </dev/null >%q 2>&1 || echo "kernel-formats: %s: kvmm exit $?"\n' \
		"$WORK/$name.log" "$name" >>"$script"
	names+=("$name")
}
names=()
# The harness reruns the whole script after an environment hang: each run starts from an empty
# cache, so the first boot is a miss however often it runs.
printf 'rm -rf %q\n' "$WORK/cache" >"$script"
case "$MODE" in
fixed)
	fixed=$(image kernel_fixed kernel)
	initrd=$(image initramfs initramfs)
	# Its header must really say so, or this tests nothing new.
	[ "$(od -An -tu1 -j $((0x234)) -N1 "$fixed" | tr -d ' ')" = 0 ] ||
		fail "$fixed says it is relocatable"
	boot fixed-direct --kernel "$fixed" --initrd "$initrd"
	boot fixed-classic --kernel "$fixed" --initrd "$initrd" --kernel-boot classic
	;;
distro)
	kernel=$(image distro_kernel distro)
	initrd=$(image distro_initramfs distro)
	# vmlinux as `extract-vmlinux` gets it: the payload the header locates, through Python's lzma
	# (not kvmm's code).
	python3 - "$kernel" "$WORK/vmlinux" <<'PY' || fail "cannot extract vmlinux from $kernel"
import lzma, struct, sys
img = open(sys.argv[1], "rb").read()
setup = ((img[0x1f1] or 4) + 1) * 512
off, length = struct.unpack_from("<II", img, 0x248)
d = lzma.LZMADecompressor(lzma.FORMAT_XZ)
out = d.decompress(img[setup + off:setup + off + length])
assert out[:4] == b"\x7fELF" and d.eof, "payload is not xz-compressed ELF"
open(sys.argv[2], "wb").write(out)
PY
	boot direct-miss --kernel "$kernel" --initrd "$initrd"
	boot direct-hit --kernel "$kernel" --initrd "$initrd"
	boot classic --kernel "$kernel" --initrd "$initrd" --kernel-boot classic
	boot pvh --kernel "$WORK/vmlinux" --initrd "$initrd"
	;;
initramfs)
	kernel=$(image kernel kernel)
	cpio=$(image initramfs initramfs)
	gzip -9 -n -c "$cpio" >"$WORK/initramfs.gz"
	zstd -q -19 -c "$cpio" >"$WORK/initramfs.zst"
	lz4 -q -l -9 -c "$cpio" >"$WORK/initramfs.lz4" # the legacy frame Linux reads
	# Laid out as Debian's initramfs-tools lays out initrd.img: an uncompressed early cpio (CPU
	# microcode; an empty AMD one here), then the zstd-compressed main archive after it.
	mkdir -p "$WORK/early/kernel/x86/microcode"
	: >"$WORK/early/kernel/x86/microcode/AuthenticAMD.bin"
	(cd "$WORK/early" && find . | LC_ALL=C sort | cpio -o -H newc --owner 0:0 --quiet) >"$WORK/initrd.img"
	cat "$WORK/initramfs.zst" >>"$WORK/initrd.img"
	for c in gz zst lz4; do boot "initrd-$c" --kernel "$kernel" --initrd "$WORK/initramfs.$c"; done
	boot initrd-debian-layout --kernel "$kernel" --initrd "$WORK/initrd.img"
	;;
*) fail "unknown mode '$MODE' (fixed, distro, initramfs)" ;;
esac

in_harness "$WORK/harness.log" --timeout 560 --rw "$WORK" -- bash "$script"
first=""
for name in "${names[@]}"; do
	log=$WORK/$name.log
	# A flake inside one of several boots is still a flake: the harness retried the whole run
	# only when its own log showed it, so look at each boot's log too.
	line=$(tr -d '\r' <"$log" | grep -m1 '^KVMM-FACTS ') ||
		{ tail -n 30 "$log" >&2; fail "$name: the guest never reached init (log: $log)"; }
	grep -q 'kvmm: *[0-9.]*  guest init (boot-timer port)' "$log" ||
		fail "$name: --boot-timeline shows no time for the boot-timer port (log: $log)"
	clock=$(sed -n 's/^kvmm: *\([0-9.]*\)  guest kernel clock starts.*/\1/p' "$log" | tr -d '\r')
	entry=$(sed -n 's/^kvmm: *\([0-9.-]*\)  kernel entry.*/\1/p' "$log" | tr -d '\r')
	run=$(sed -n 's/^kvmm: *\([0-9.]*\)  first KVM_RUN.*/\1/p' "$log" | tr -d '\r')
	how=$(sed -n 's/^kvmm: boot timeline, boot 1 (ms since kvmm started; kernel: \(.*\)):.*/\1/p' "$log" | tr -d '\r')
	[ -n "$clock" ] && [ -n "$run" ] || fail "$name: timeline without first KVM_RUN or kernel clock: $(grep '^kvmm:' "$log")"
	echo "kernel-formats: $name: $line"
	echo "kernel-formats: $name: kernel: $how; first KVM_RUN ${run} ms, kernel entry ${entry} ms, guest clock from ${clock} ms"
	grep -q 'cpus=2 ' <<<"$line" || fail "$name: guest sees other than 2 CPUs: $line"
	case "$name" in
	*classic*)
		grep -q 'decompressor runs in the guest' <<<"$how" || fail "$name: not booted the classic way: $how"
		[ "$entry" = - ] || fail "$name: a kernel entry time ($entry) although a decompressor ran first"
		;;
	direct-miss | fixed-direct)
		grep -q 'payload unpacked on the host (' <<<"$how" || fail "$name: not unpacked on the host: $how"
		[ "$entry" = "$run" ] || fail "$name: kernel entry $entry is not the first KVM_RUN $run"
		;;
	direct-hit)
		grep -q 'payload unpacked on the host, from the cache' <<<"$how" || fail "$name: not from the cache: $how"
		;;
	pvh) grep -q 'PVH entry' <<<"$how" || fail "$name: not through PVH: $how" ;;
	esac
	# The same kernel must see the same machine, however it was loaded: CPUs, CPU model, memory
	# map and command line alike. MemTotal varies by a few hundred KiB to 2 MiB with where the
	# kernel runs (KASLR, classic) and what its early page tables took, so within 1%.
	facts_now=${line#KVMM-FACTS }
	mem=$(sed -n 's/.* mem=\([0-9]*\)kB.*/\1/p' <<<"$line")
	[ -n "$mem" ] || fail "$name: no MemTotal in '$line'"
	if [ "$MODE" = distro ] && [ -n "$first" ]; then
		[ "${facts_now/ mem=* model=/ model=}" = "${first/ mem=* model=/ model=}" ] ||
			fail "$name sees '$facts_now', the first boot saw '$first'"
		[ $((100 * (mem > mem0 ? mem - mem0 : mem0 - mem))) -le "$mem0" ] ||
			fail "$name: MemTotal ${mem} kB, the first boot had ${mem0} kB (more than 1% apart)"
	fi
	[ -n "$first" ] || { first=$facts_now; mem0=$mem; }
done
echo "kernel-formats: $MODE: ${names[*]} all reached init"
