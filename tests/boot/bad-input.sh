#!/usr/bin/env bash
# Bad input gets exactly one line on stderr that names the bad value, a non-zero exit status
# (1 or 2, never a signal or a core dump), and nothing on stdout. Needs no KVM: everything is
# checked before /dev/kvm is opened, except the missing device itself.
#   tests/boot/bad-input.sh KVMM
set -euo pipefail
KVMM=$(realpath "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
# Under /tmp, not the build tree: one case runs as nobody, who must reach these files.
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
chmod 755 "$WORK"
cd "$WORK"
failures=0 passes=0
# Kernels unpacked for these cases are cached here, not in the user's cache.
export XDG_CACHE_HOME=$WORK/cache

# A file that passes for a bzImage header-wise, so the later checks are reached.
# On a fresh machine nothing has fetched a kernel yet, so ask the harness's helper (cached).
kernel=$("$HERE/../harness/distro-kernel" | sed -n 's/^vmlinuz=//p' || true)
printf 'this is not a kernel\n' >not-a-kernel
printf 'initrd' >initrd.img
mkdir -p a-directory

# case NAME EXPECTED_TEXT ARGS...
case_() {
	local name=$1 want=$2
	shift 2
	local out err rc
	set +e
	if [ "$1" = setpriv ] || [ "$1" = env ]; then
		out=$("$@" 2>err.txt </dev/null)
	else
		out=$("$KVMM" "$@" 2>err.txt </dev/null)
	fi
	rc=$?
	set -e
	err=$(cat err.txt)
	local lines
	lines=$(grep -c '' err.txt || true)
	if [ "$rc" -ne 1 ] && [ "$rc" -ne 2 ]; then
		echo "FAIL $name: exit status $rc (want 1 or 2): $err"
	elif [ "$lines" -ne 1 ]; then
		echo "FAIL $name: $lines lines on stderr, want exactly one: $err"
	elif ! grep -qF -- "$want" err.txt; then
		echo "FAIL $name: error does not name '$want': $err"
	elif [ -n "$out" ]; then
		echo "FAIL $name: printed on stdout: $out"
	elif ls core* >/dev/null 2>&1; then
		echo "FAIL $name: left a core dump"
	else
		echo "ok   $name: $err"
		passes=$((passes + 1))
		return
	fi
	failures=$((failures + 1))
}

case_ "no kernel option" "--kernel" --mem 512M
case_ "missing kernel" "/no/such/bzImage" --kernel /no/such/bzImage
case_ "kernel is a directory" "a-directory" --kernel a-directory
case_ "kernel not a bzImage" "not-a-kernel" --kernel not-a-kernel
case_ "mem 0" "'0'" --kernel not-a-kernel --mem 0
case_ "mem 12Q" "12Q" --kernel not-a-kernel --mem 12Q
case_ "mem missing value" "--mem" --kernel not-a-kernel --mem
case_ "cpus 0" "'0'" --kernel not-a-kernel --cpus 0
case_ "cpus 100000" "100000" --kernel not-a-kernel --cpus 100000
case_ "unknown option" "--frobnicate" --kernel not-a-kernel --frobnicate
case_ "bad transport" "usb" --kernel not-a-kernel --transport usb
case_ "bad monitor" "tty" --kernel not-a-kernel --monitor tty
case_ "bad kernel-boot" "fast" --kernel not-a-kernel --kernel-boot fast
case_ "relative kernel-cache" "cache-dir" --kernel not-a-kernel --kernel-cache cache-dir

# ELF kernels kvmm cannot boot: another architecture, and a 32-bit one without a PVH note.
python3 - <<'PY'
import struct
def elf(name, cls, machine, phdr):
    ident = b"\x7fELF" + bytes([cls, 1, 1]) + bytes(9)
    if cls == 2:
        eh = ident + struct.pack("<HHIQQQIHHHHHH", 2, machine, 1, 0x1000000, 64, 0, 0, 64, 56, 1, 0, 0, 0)
        ph = struct.pack("<IIQQQQQQ", 1, 7, 0x1000, 0xffffffff81000000, 0x1000000, 0x100, 0x100, 0x1000)
    else:
        eh = ident + struct.pack("<HHIIIIIHHHHHH", 2, machine, 1, 0x1000000, 52, 0, 0, 52, 32, 1, 0, 0, 0)
        ph = struct.pack("<IIIIIIII", 1, 0x1000, 0xc1000000, 0x1000000, 0x100, 0x100, 7, 0x1000)
    data = (eh + ph).ljust(0x1100, b"\0")
    open(name, "wb").write(data)
elf("vmlinux-arm64", 2, 183, None)
elf("vmlinux-i386", 1, 3, None)
PY
case_ "ELF for another architecture" "machine 183" --kernel vmlinux-arm64
case_ "32-bit ELF without PVH note" "without a PVH entry note" --kernel vmlinux-i386

# kvmm ctl: usage errors exit 2, an unreachable socket 3, each with one line on stderr.
ctl_case() {
	local name=$1 want_rc=$2 want=$3 rc
	shift 3
	set +e
	"$KVMM" ctl "$@" >out.txt 2>err.txt </dev/null
	rc=$?
	set -e
	if [ "$rc" -ne "$want_rc" ]; then
		echo "FAIL $name: exit status $rc (want $want_rc): $(cat err.txt)"
	elif [ "$(grep -c '' err.txt)" -ne 1 ] || ! grep -qF -- "$want" err.txt; then
		echo "FAIL $name: want one line naming '$want': $(cat err.txt)"
	elif [ -s out.txt ]; then
		echo "FAIL $name: printed on stdout: $(cat out.txt)"
	else
		echo "ok   $name: $(cat err.txt)"
		passes=$((passes + 1))
		return
	fi
	failures=$((failures + 1))
}
# listen_on PATH [close]: a Unix socket someone listens on (for 60 s), or, with close, one left
# behind by a process that is gone (a stale socket).
listen_on() {
	python3 -c 'import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen()
if len(sys.argv) < 3:
    time.sleep(60)' "$@"
}
ctl_case "ctl without --sock" 2 "--sock" pause
ctl_case "ctl without a command" 2 "no command" --sock api.sock
ctl_case "ctl bad argument" 2 "pause takes no argument" --sock api.sock pause now
ctl_case "ctl unknown option" 2 "--frobnicate" --frobnicate --sock api.sock pause
ctl_case "ctl no such socket" 3 "no-such.sock" --sock no-such.sock info status
listen_on dead.sock close
ctl_case "ctl dead socket" 3 "dead.sock" --sock dead.sock info status
printf 'not a socket' >regular-file
ctl_case "ctl on a regular file" 3 "regular-file" --sock regular-file info status
if [ -n "$kernel" ]; then
	case_ "missing initrd" "/no/such/initrd" --kernel "$kernel" --initrd /no/such/initrd
	case_ "initrd is a directory" "a-directory" --kernel "$kernel" --initrd a-directory
	# Root reads anything, so as root the unreadable-initrd case runs as nobody.
	cp "$kernel" bzImage
	chmod 644 bzImage
	chmod 000 initrd.img
	if [ "$(id -u)" -ne 0 ]; then
		case_ "unreadable initrd" "initrd.img" --kernel bzImage --initrd initrd.img
	elif command -v setpriv >/dev/null &&
		setpriv --reuid=65534 --regid=65534 --clear-groups test -r bzImage; then
		cp "$KVMM" kvmm
		case_ "unreadable initrd" "initrd.img" setpriv --reuid=65534 --regid=65534 \
			--clear-groups ./kvmm --kernel bzImage --initrd initrd.img
	else
		echo "FAIL: cannot drop privileges to test an unreadable initrd"
		failures=$((failures + 1))
	fi
	chmod 644 initrd.img
	printf 'disk' >disk.img
	case_ "missing disk" "/no/such/disk.img" --kernel "$kernel" --disk /no/such/disk.img
	case_ "disk is a directory" "a-directory" --kernel "$kernel" --disk a-directory
	case_ "disk unknown key" "cache=none" --kernel "$kernel" --disk disk.img,cache=none
	case_ "disk serial too long" "serial=" --kernel "$kernel" \
		--disk disk.img,serial=123456789012345678901
	case_ "bad MAC" "52:54:00:zz:00:01" --kernel "$kernel" --net tap=kvmm0,mac=52:54:00:zz:00:01
	case_ "tap name too long" "tap-name-way-too-long" --kernel "$kernel" --net tap=tap-name-way-too-long
	case_ "net unknown key" "queues=2" --kernel "$kernel" --net tap=kvmm0,queues=2
	case_ "net bad vhost" "vhost=maybe" --kernel "$kernel" --net tap=kvmm0,vhost=maybe
	case_ "no KVM device" "/no/such/kvm" --kernel "$kernel" --kvm-device /no/such/kvm
	case_ "bad seccomp mode" "--seccomp 'maybe'" --kernel "$kernel" --seccomp maybe
	case_ "display kind" "--display 'vnc'" --kernel "$kernel" --display vnc
	case_ "display too small" "100x768" --kernel "$kernel" --display sdl,width=100
	case_ "display unknown key" "depth=24" --kernel "$kernel" --display sdl,depth=24
	case_ "display: none to open" "DISPLAY and WAYLAND_DISPLAY" env -u DISPLAY \
		-u WAYLAND_DISPLAY -u SDL_VIDEODRIVER "$KVMM" --kernel "$kernel" --display sdl
	case_ "display: X server unreachable" "x11" env -u WAYLAND_DISPLAY \
		-u SDL_VIDEODRIVER DISPLAY=:59 "$KVMM" --kernel "$kernel" --display sdl
	case_ "unknown user" "no-such-user-kvmm" --kernel "$kernel" --user no-such-user-kvmm
	case_ "user is root" "--user root" --kernel "$kernel" --user root
	case_ "chroot relative" "--chroot 'empty'" --kernel "$kernel" --chroot empty
	case_ "chroot missing" "/no/such/root" --kernel "$kernel" --chroot /no/such/root
	case_ "chroot a file" "disk.img" --kernel "$kernel" --chroot "$WORK/disk.img"
	case_ "api-sock in a missing directory" "/no/such/dir/api.sock" --kernel "$kernel" \
		--api-sock /no/such/dir/api.sock
	case_ "api-sock on a regular file" "regular-file" --kernel "$kernel" --api-sock regular-file
	(listen_on live.sock >/dev/null 2>&1) &
	listener=$!
	for _ in $(seq 100); do [ -S live.sock ] && break; sleep 0.05; done
	sleep 0.3 # bound is not yet listening
	case_ "api-sock on a live socket" "live.sock" --kernel "$kernel" --api-sock live.sock
	kill "$listener" 2>/dev/null || true
	wait "$listener" 2>/dev/null || true
	# A stale socket is replaced: the next error is the missing KVM device, not the socket.
	listen_on stale.sock close
	case_ "api-sock stale socket replaced" "/no/such/kvm" --kernel "$kernel" \
		--api-sock stale.sock --kvm-device /no/such/kvm
	[ ! -e stale.sock ] || {
		echo "FAIL: kvmm left its socket behind after failing to start"
		failures=$((failures + 1))
	}
	# A bzImage cut short, and one whose xz payload is garbled (the same length).
	head -c "$(($(stat -c %s "$kernel") - 100000))" "$kernel" >bzImage-truncated
	case_ "truncated bzImage" "truncated" --kernel bzImage-truncated
	cp "$kernel" bzImage-corrupt
	dd if=/dev/urandom of=bzImage-corrupt bs=4096 count=4 seek=500 conv=notrunc status=none
	case_ "corrupt payload" "payload does not unpack" --kernel bzImage-corrupt
	case_ "cmdline too long" "--cmdline" --kernel "$kernel" --kvm-device /no/such/kvm \
		--cmdline "$(head -c 70000 /dev/zero | tr '\0' x)"
else
	echo "FAIL: no vmlinuz found to test the later checks with"
	failures=$((failures + 1))
fi

echo "bad-input: $passes passed, $failures failed"
[ "$failures" -eq 0 ]
