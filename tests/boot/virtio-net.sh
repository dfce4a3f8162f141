#!/usr/bin/env bash
# virtio-net on a TAP with the stock Debian kernel's virtio_net driver: the guest pings the host
# end of the TAP, sends it 64 MiB over TCP, then receives 8 MiB from it (the TAP may hand over TSO
# segments whole once the driver takes GUEST_TSO); both ends' MD5 sums must match. The host end lives
# in a network namespace this test creates (inside the harness's outer guest when there is no
# /dev/kvm here), so no traffic can leave the machine. With "vhost" the kernel's vhost-net
# carries the packets once the driver is up (--net ...,vhost=on).
#   tests/boot/virtio-net.sh KVMM WORKDIR [vhost]
source "$(dirname "$0")/lib.sh"
KVMM=$1 WORK=$2 MODE=${3:-userspace}
case $MODE in
vhost) vhost=on ;;
userspace) vhost=off ;;
*) fail "mode '$MODE': want vhost or userspace" ;;
esac
mkdir -p "$WORK"
rm -f "$WORK/received.bin" "$WORK/net.log" "$WORK/h2g.ms" "$WORK/tap-offloads.txt"
distro_kernel
head -c 8388608 /dev/urandom >"$WORK/h2g.bin"
h2g_md5=$(md5sum <"$WORK/h2g.bin" | cut -d' ' -f1)

script=$(mktemp)
cat >"$script" <<'GUEST'
#!/bin/sh
ip link set lo up
ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0
echo "KVMM-MAC $(cat /sys/class/net/eth0/address)"
ping -c 3 -W 5 10.0.2.1 >/dev/null && echo KVMM-PING-OK
mount -t tmpfs -o size=80m tmpfs /tmp
head -c 67108864 /dev/urandom >/tmp/payload
echo "KVMM-SENT $(md5sum </tmp/payload | cut -d' ' -f1)"
t0=$(cut -d' ' -f1 /proc/uptime)
nc 10.0.2.1 5555 </tmp/payload && echo KVMM-SEND-DONE
t1=$(cut -d' ' -f1 /proc/uptime)
echo "KVMM-SEND-SECONDS $t0 $t1"
rm /tmp/payload
echo KVMM-LISTENING
s=/sys/class/net/eth0/statistics
b0=$(cat $s/rx_bytes) p0=$(cat $s/rx_packets)
nc -l -p 5556 >/tmp/in
echo "KVMM-RX-AVERAGE $((($(cat $s/rx_bytes) - b0) / ($(cat $s/rx_packets) - p0)))"
echo "KVMM-RECEIVED $(md5sum </tmp/in | cut -d' ' -f1) $(wc -c </tmp/in)"
GUEST
"$TOP/images/initramfs.sh" "$WORK/net.cpio" --script "$script" \
	--modules "$MODULES" virtio_pci virtio_net
rm -f "$script"

# What runs where /dev/kvm is: a namespace holding the TAP, a TCP sink, and kvmm.
host=$WORK/net-host.sh
cat >"$host" <<HOST
#!/bin/sh
set -e
ns=kvmm-net-\$\$
ip netns add \$ns
trap 'ip netns del \$ns' EXIT
ip netns exec \$ns sh -c '
	ip link set lo up
	ip tuntap add dev kvmmtap0 mode tap
	ip addr add 10.0.2.1/24 dev kvmmtap0
	ip link set kvmmtap0 up
	# busybox nc quits when its stdin ends: a FIFO we hold open keeps it listening.
	fifo=\$(mktemp -u /dev/shm/kvmm-sink.XXXXXX) && mkfifo "\$fifo"
	/bin/busybox nc -l -p 5555 <"\$fifo" >"$WORK/received.bin" &
	sink=\$!
	exec 3>"\$fifo"
	# The console goes to a file here as well, so the host end can see when the guest listens.
	console=\$(mktemp /dev/shm/kvmm-console.XXXXXX)
	"$KVMM" -v --no-reboot --kernel "$KERNEL" --initrd "$WORK/net.cpio" --mem 512M \
		--net tap=kvmmtap0,mac=52:54:00:12:34:56,vhost=$vhost --cmdline "panic=-1 loglevel=4" \
		</dev/null >"\$console" 2>&1 &
	vmm=\$!
	tail -f --pid=\$vmm "\$console" &
	# Host to guest: connect once the guest listens, timed here.
	(
		for i in \$(seq 1500); do
			grep -q KVMM-LISTENING "\$console" && break
			sleep 0.2
		done
		# The driver is up: the TAP now takes TSO segments for the guest (TUNSETOFFLOAD).
		ethtool -k kvmmtap0 >"$WORK/tap-offloads.txt" 2>&1
		t0=\$(date +%s%3N)
		for i in \$(seq 50); do
			/bin/busybox nc 10.0.2.15 5556 <"$WORK/h2g.bin" && break
			sleep 0.2
		done
		echo \$((\$(date +%s%3N) - t0)) >"$WORK/h2g.ms"
	) &
	wait \$vmm
	rc=\$?
	sleep 0.5 # tail prints the console to its end
	rm -f "\$console"
	# The guest sent everything before it rebooted; let the sink drain, then end it.
	sleep 1
	kill \$sink 2>/dev/null
	exec 3>&-
	rm -f "\$fifo"
	exit \$rc'
HOST
chmod +x "$host"

start=$(now_ms)
in_harness "$WORK/net.log" --timeout 300 --rw "$WORK" -- sh "$host"
log=$(tr -d '\r' <"$WORK/net.log")
grep -q '^KVMM-MAC 52:54:00:12:34:56$' <<<"$log" || fail "the guest's NIC does not have the MAC we gave"
grep -q '^KVMM-PING-OK$' <<<"$log" || fail "the guest could not ping the host end of the TAP"
# With MSI-X, vhost-net signals KVM irqfds itself: no interrupt passes through kvmm.
if [ "$vhost" = on ]; then
	grep -q 'virtio-net: vhost interrupts straight to KVM (irqfd)' <<<"$log" ||
		fail "vhost-net's interrupts did not go to KVM irqfds"
fi
# The last attempt's, should the harness have retried after an environment hang.
sent=$(sed -n 's/^KVMM-SENT \([0-9a-f]*\)$/\1/p' <<<"$log" | tail -n 1)
[ -n "$sent" ] || fail "the guest did not report what it sent"
[ -f "$WORK/received.bin" ] || fail "the host end received nothing"
got=$(md5sum <"$WORK/received.bin" | cut -d' ' -f1)
size=$(stat -c %s "$WORK/received.bin")
[ "$size" -eq 67108864 ] || fail "host received $size bytes, expected 67108864"
[ "$got" = "$sent" ] || fail "MD5 of the received 64 MiB ($got) differs from the guest's ($sent)"
secs=$(sed -n 's/^KVMM-SEND-SECONDS \([0-9.]*\) \([0-9.]*\)$/\1 \2/p' <<<"$log" | tail -n 1 |
	awk '{print $2 - $1}')
rate=$(awk -v s="${secs:-0}" 'BEGIN { if (s > 0) printf "%.1f", 64 / s; else print "?" }')
received=$(sed -n 's/^KVMM-RECEIVED \([0-9a-f]*\) *\([0-9]*\)$/\1 \2/p' <<<"$log" | tail -n 1)
[ "$received" = "$h2g_md5 8388608" ] ||
	fail "the guest received '$received' (MD5, bytes) from the host, expected '$h2g_md5 8388608'"
# The driver negotiated GUEST_CSUM and GUEST_TSO4/6, so kvmm told the TAP to pass whole TSO
# segments and unchecksummed packets to the guest. How big the segments get depends on the
# host's TCP pacing (small under emulation), so the average is reported, not judged.
grep -Eq '^\s*tx-tcp-segmentation: on' "$WORK/tap-offloads.txt" &&
	grep -Eq '^\s*tx-tcp6-segmentation: on' "$WORK/tap-offloads.txt" &&
	grep -Eq '^\s*tx-checksum-ip-generic: on' "$WORK/tap-offloads.txt" ||
	fail "the TAP does not pass TSO/checksum offload to the guest: $(cat "$WORK/tap-offloads.txt")"
avg=$(sed -n 's/^KVMM-RX-AVERAGE \([0-9]*\)$/\1/p' <<<"$log" | tail -n 1)
h2g_ms=$(cat "$WORK/h2g.ms" 2>/dev/null || echo 0)
h2g_rate=$(awk -v ms="$h2g_ms" 'BEGIN { if (ms > 0) printf "%.1f", 8 / (ms / 1000); else print "?" }')
echo "virtio-net ($MODE): ping ok; 64 MiB guest->host over TCP in ${secs:-?} s guest time" \
	"($rate MiB/s); 8 MiB host->guest in ${h2g_ms} ms host time ($h2g_rate MiB/s," \
	"$avg bytes a packet);" \
	"MD5s match ($(($(now_ms) - start)) ms wall)"
