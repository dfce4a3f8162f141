#!/usr/bin/env python3
"""Throws garbage at a kvmm control socket from several clients at once for SECONDS: random
bytes, malformed JSON, a 10 MB line, valid commands, clients that vanish mid-command, a
subscriber that never reads, 32 clients connected at once. Then checks that `info status`
still answers promptly. Exit 0 when it does.
    control_fuzz.py SOCKET SECONDS"""
import json
import os
import random
import socket
import sys
import threading
import time

path, seconds = sys.argv[1], float(sys.argv[2])
deadline = time.time() + seconds
stats = {"sent": 0, "replies": 0, "errors": 0}
lock = threading.Lock()


def connect():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(path)
    return s


def count(key, n=1):
    with lock:
        stats[key] += n


MALFORMED = [b"{", b"}", b"[]", b"null", b"42", b'"cmd"', b'{"cmd":}', b'{"cmd":42}',
             b'{"id":1}', b'{"cmd":"nope"}', b'{"cmd":"pause","bogus":1}',
             b'{"cmd":"help","command":7}', b'{"cmd":"info status"} trailing',
             b'{"cmd":"info status","id":{"deep":[[[[[[[[[[1]]]]]]]]]]}}',
             b"\x00\xff\xfe garbage", "{\"cmd\":\"\u00e9\"}".encode()]


def garbage_client(seed):
    rnd = random.Random(seed)
    while time.time() < deadline:
        try:
            s = connect()
            for _ in range(rnd.randint(1, 20)):
                kind = rnd.random()
                if kind < 0.3:
                    s.sendall(os.urandom(rnd.randint(1, 4096)))
                elif kind < 0.7:
                    s.sendall(rnd.choice(MALFORMED) + b"\n")
                else:
                    s.sendall(json.dumps({"id": rnd.randint(0, 1 << 40),
                                          "cmd": rnd.choice(["info status", "info cpus", "help",
                                                             "info mem", "info version"])}).encode() + b"\n")
                count("sent")
            if rnd.random() < 0.5:
                s.settimeout(0.2)
                try:
                    if s.recv(65536):
                        count("replies")
                except OSError:
                    pass
            s.close()  # often with replies unread: a disconnect mid-command
        except OSError:
            count("errors")


def huge_line_client():
    while time.time() < deadline:
        try:
            s = connect()
            chunk = b"x" * (1 << 20)
            try:
                for _ in range(10):
                    s.sendall(chunk)
            except OSError:
                pass  # kvmm dropped us: what it should do
            s.close()
            count("sent")
        except OSError:
            count("errors")
        time.sleep(0.5)


def deaf_subscriber():
    try:
        s = connect()
        s.sendall(b'{"cmd":"subscribe"}\n')
        while time.time() < deadline:
            s.sendall(b'{"cmd":"info status"}\n' * 100)  # never reads a reply
            time.sleep(0.05)
    except OSError:
        pass  # dropped once its queue overflowed: fine


def crowd():
    socks = []
    for _ in range(32):
        try:
            socks.append(connect())
        except OSError:
            count("errors")
    time.sleep(min(2.0, seconds))
    for s in socks:
        s.close()


threads = [threading.Thread(target=garbage_client, args=(i,)) for i in range(4)]
threads += [threading.Thread(target=huge_line_client), threading.Thread(target=deaf_subscriber),
            threading.Thread(target=crowd)]
for t in threads:
    t.start()
for t in threads:
    t.join()

t0 = time.time()
s = connect()
s.sendall(b'{"id":7,"cmd":"info status"}\n')
reply = b""
while not reply.endswith(b"\n"):
    data = s.recv(65536)
    if not data:
        break
    reply += data
took = time.time() - t0
r = json.loads(reply)
print(f"control_fuzz: {stats['sent']} requests/bursts sent, {stats['replies']} replies read, "
      f"{stats['errors']} connect errors; then info status answered in {took * 1000:.0f} ms: "
      f"{r.get('result', {}).get('status')}")
sys.exit(0 if r.get("ok") and r.get("id") == 7 else 1)
