#!/usr/bin/env python3
"""Inside the harness, beside a running kvmm: pause and resume latency (request sent -> reply,
which kvmm sends once every vCPU has stopped / been released) and reset-to-marker time
(request sent -> the guest's boot marker on its console), each the median of ROUNDS.
Then 100 resets back to back: kvmm's open fds and RSS, each sampled 2 s after a boot's marker,
before and after them.
    lifecycle_bench.py SOCKET CONSOLE_LOG ROUNDS KVMM_PID"""
import os
import json
import socket
import statistics
import sys
import time

sock_path, log_path, rounds, pid = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sock_path)
f = s.makefile("rwb")


def call(cmd):
    t0 = time.monotonic()
    f.write(json.dumps({"id": 1, "cmd": cmd}).encode() + b"\n")
    f.flush()
    reply = json.loads(f.readline())
    took = time.monotonic() - t0
    if not reply.get("ok"):
        sys.exit(f"{cmd}: {reply}")
    return took


def boots():
    with open(log_path, "rb") as log:
        return log.read().count(b"KVMM-BOOT")


pauses, resumes, resets = [], [], []
for _ in range(rounds):
    pauses.append(call("pause"))
    time.sleep(0.2)
    resumes.append(call("resume"))
    time.sleep(0.3)
for _ in range(rounds):
    before = boots()
    t0 = time.monotonic()
    call("reset")
    while boots() == before:
        if time.monotonic() - t0 > 120:
            sys.exit("no boot marker within 120 s of a reset")
        time.sleep(0.02)
    resets.append(time.monotonic() - t0)


def wait_boot(before, limit=120):
    t0 = time.monotonic()
    while boots() == before:
        if time.monotonic() - t0 > limit:
            sys.exit(f"no boot marker within {limit} s of a reset")
        time.sleep(0.02)


def sample():
    time.sleep(2)
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    with open(f"/proc/{pid}/status") as st:
        rss = next(int(l.split()[1]) for l in st if l.startswith("VmRSS:"))
    return fds, rss


fds1, rss1 = sample()
for _ in range(100):
    call("reset")
wait_boot(boots())  # the last reset's boot: the others were cut short long before their marker
fds100, rss100 = sample()
ms = lambda v: statistics.median(v) * 1000
print(f"pause latency:   median {ms(pauses):.2f} ms (min {min(pauses)*1000:.2f}, max {max(pauses)*1000:.2f}) over {rounds}")
print(f"resume latency:  median {ms(resumes):.2f} ms (min {min(resumes)*1000:.2f}, max {max(resumes)*1000:.2f}) over {rounds}")
print(f"reset-to-marker: median {ms(resets):.0f} ms (min {min(resets)*1000:.0f}, max {max(resets)*1000:.0f}) over {rounds}")
print(f"100 resets back to back: open fds {fds1} -> {fds100}, RSS {rss1} -> {rss100} kB "
      f"(each 2 s after a boot marker)")
print(f"RESET_MS={ms(resets):.0f}")
