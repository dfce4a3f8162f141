#!/usr/bin/env python3
"""Boot to init, kvmm beside QEMU microvm: run inside one outer guest by tests/bench/boot.sh.

Each run is launched here and timed from its launch to the line the guest's init prints first
("kvmm-guest: init") on the serial console, the same way for every VMM; then the VMM is killed
(the guest sleeps meanwhile: a guest reboot under QEMU wedges the outer guest's emulated SVM).
For kvmm the --boot-timeline steps, printed before that line, are collected too. Prints one table per kernel: median, min and max of REPS runs, the ratio to QEMU,
and kvmm's timeline medians.
usage: boot_bench.py KVMM REPS CACHE_DIR NAME:KERNEL:INITRD...
"""
import os
import re
import select
import statistics
import subprocess
import sys
import time

MARKER = b"kvmm-guest: init"
TIMEOUT = 240
CMDLINE = 'panic=-1 loglevel=4 kvmm.run="sleep 600"'


def launch(argv):
    """Seconds from launch to the init marker, and what the VMM printed on stderr."""
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    out, err, seen = b"", b"", None
    fds = {p.stdout.fileno(): "out", p.stderr.fileno(): "err"}
    while fds and time.monotonic() - t0 < TIMEOUT:
        ready, _, _ = select.select(list(fds), [], [], 1.0)
        for fd in ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                del fds[fd]
                continue
            if fds[fd] == "out":
                out += chunk
                if seen is None and MARKER in out:
                    seen = time.monotonic() - t0
                    p.kill()  # what it wrote before stays in the pipes, read to EOF
            else:
                err += chunk
    if p.poll() is None:
        p.kill()
    p.wait()
    if seen is None:
        sys.stderr.write(out[-3000:].decode(errors="replace") + err[-2000:].decode(errors="replace"))
        raise SystemExit(f"no init marker from: {' '.join(argv)}")
    return seen, err.decode(errors="replace")


def timeline(err):
    steps = {}
    for line in err.splitlines():
        m = re.match(r"kvmm:\s+([0-9.]+)\s\s(.+?)\s*$", line)
        if m:
            steps.setdefault(m.group(2), float(m.group(1)))
    return steps


def main():
    kvmm, reps, cache = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    goals = []
    for spec in sys.argv[4:]:
        name, kernel, initrd = spec.split(":")
        common = ["--no-reboot", "--cpus", "2", "--mem", "512M", "--kernel", kernel,
                  "--initrd", initrd, "--cmdline", CMDLINE, "--monitor", "none",
                  "--boot-timeline", "--kernel-cache", cache]
        runs = {
            "kvmm direct": [kvmm] + common,
            "kvmm classic": [kvmm] + common + ["--kernel-boot", "classic"],
            # The same direct boot without the per-thread filters: what seccomp costs.
            "kvmm no seccomp": [kvmm] + common + ["--seccomp", "off"],
            "qemu microvm": ["qemu-system-x86_64", "-M", "microvm,acpi=off", "-accel", "kvm",
                             "-cpu", "host", "-smp", "2", "-m", "512M", "-nodefaults",
                             "-no-user-config", "-display", "none", "-serial", "stdio",
                             "-no-reboot", "-kernel", kernel, "-initrd", initrd,
                             "-append", "console=ttyS0 " + CMDLINE],
        }
        # One unmeasured direct boot fills the cache: the table is of the boots after it.
        launch(runs["kvmm direct"])
        times = {k: [] for k in runs}
        lines = {k: [] for k in runs}
        for _ in range(reps):  # interleaved, so drift in the machine hits every row alike
            for k, argv in runs.items():
                t, err = launch(argv)
                times[k].append(t)
                lines[k].append(timeline(err))
        q = statistics.median(times["qemu microvm"])
        print(f"\n{name}: boot to init (launch -> init's first line), {reps} runs each")
        print(f"| {'VMM':<15} | median s | min s | max s | / QEMU |")
        print("| --- | --- | --- | --- | --- |")
        for k, ts in times.items():
            m = statistics.median(ts)
            print(f"| {k:<15} | {m:8.2f} | {min(ts):5.2f} | {max(ts):5.2f} | {m / q:6.2f} |")
        for k in ("kvmm direct", "kvmm classic"):
            steps = {}
            for tl in lines[k]:
                for s, v in tl.items():
                    steps.setdefault(s, []).append(v)
            print(f"\n{name}, {k}: timeline, median ms since kvmm started")
            for s, vs in steps.items():
                print(f"  {statistics.median(vs):9.1f}  {s}")
            if k == "kvmm direct":
                entry = statistics.median(steps.get("kernel entry", [0]))
                init = statistics.median(steps.get("guest init (boot-timer port)", [0]))
                if init:
                    goals.append(f"{name}: kvmm's time before the kernel's entry is "
                                 f"{100 * entry / init:.1f}% of its boot to init (goal < 5%)")
        on, off = statistics.median(times["kvmm direct"]), statistics.median(times["kvmm no seccomp"])
        goals.append(f"{name}: seccomp on / off, boot to init = {on / off:.3f} "
                     f"({on - off:+.2f} s of {off:.2f} s)")
        if name == "debian":
            r = statistics.median(times["kvmm direct"]) / q
            goals.append(f"debian: kvmm direct / QEMU microvm boot to init = {r:.2f} "
                         f"(goal <= 0.5: {'met' if r <= 0.5 else 'not met'})")
    print()
    for g in goals:
        print(g)


if __name__ == "__main__":
    main()
