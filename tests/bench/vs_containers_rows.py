#!/usr/bin/env python3
"""The rows of tests/bench/vs-containers.sh: how each runtime launches the workload, stops it and
says what one instance costs in host memory, and the Instance that collects a launched
workload's output lines with when each arrived. Used by vs_containers.py run.
"""
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time


GUEST_MEM = 256  # MiB for each VM, and the containers' memory limit

T0 = time.monotonic()
# podman's image copies go to $TMPDIR (else /var/tmp, read-only in the harness): the scratch
# directory, set once it exists.
ENV = dict(os.environ)


LAST_PROGRESS = [T0]


def progress(msg):
    LAST_PROGRESS[0] = time.monotonic()
    print(f"[{LAST_PROGRESS[0] - T0:7.1f} s] {msg}", file=sys.stderr, flush=True)


def heartbeat(doing, every=60):
    """A line at least every `every` s while the run lives (doing() says what it is at): the
    outer guest's sign of life, so vs-containers.sh can tell a long cell from a dead guest."""
    def beat():
        while True:
            time.sleep(5)
            if time.monotonic() - LAST_PROGRESS[0] >= every:
                progress(f"  ... still in {doing()}")
    threading.Thread(target=beat, daemon=True).start()


def sh(*argv, check=True, **kw):
    """Runs argv and returns its stdout; an error says what failed with the tail of stderr."""
    p = subprocess.run(list(argv), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       env=ENV, **kw)
    if check and p.returncode:
        raise RuntimeError(f"{os.path.basename(argv[0])} {' '.join(argv[1:3])}... exited "
                           f"{p.returncode}: {(p.stderr or p.stdout).strip()[-300:]}")
    return p.stdout


def version(argv):
    try:
        return sh(*argv).strip().splitlines()[0]
    except (OSError, RuntimeError, IndexError) as e:
        return f"unavailable: {e}"




class GuestReset(RuntimeError):
    """The guest reset itself before its result: under emulated SVM, the known silent reset
    (a triple fault) that no device model causes; the bench retries such a cell once."""


# ---------------------------------------------------------------------------- one instance
class Instance:
    """A launched instance: its output lines as they arrive (from a pipe, or a log file the
    runtime writes), with the CLOCK_REALTIME at which each was read."""

    def __init__(self, argv, logfile=None, stderr_lines=False):
        self.lines, self.err, self.cond = [], [], threading.Condition()
        self.t_launch = time.time_ns()
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, start_new_session=True, env=ENV)
        self.cli_rusage = None
        self.on_timeout = None  # gives what the runtime can say about a stuck instance
        self.watch_exit = False  # proc is the instance itself (a VMM): its exit ends a wait
        self.closed = 0  # output pipes at their end
        threading.Thread(target=self._read, args=(self.proc.stdout, self.lines), daemon=True).start()
        threading.Thread(target=self._read, args=(self.proc.stderr, self.err), daemon=True).start()
        if logfile:
            threading.Thread(target=self._tail, args=(logfile,), daemon=True).start()

    def _read(self, pipe, into):
        for raw in iter(pipe.readline, b""):
            with self.cond:
                into.append((time.time_ns(), raw.decode(errors="replace").rstrip("\r\n")))
                self.cond.notify_all()
        with self.cond:
            self.closed += 1
            self.cond.notify_all()

    def _tail(self, path):
        # podman's k8s-file log: "TIME stdout F TEXT" per line, written by conmon.
        pos = 0
        while True:
            try:
                with open(path, "rb") as f:
                    f.seek(pos)
                    data = f.read()
            except FileNotFoundError:
                data = b""
            while b"\n" in data:
                line, data = data.split(b"\n", 1)
                pos += len(line) + 1
                parts = line.decode(errors="replace").split(" ", 3)
                with self.cond:
                    self.lines.append((time.time_ns(), parts[3] if len(parts) == 4 else ""))
                    self.cond.notify_all()
            time.sleep(0.02)

    def wait_line(self, pattern, timeout, since=0):
        """The first output line matching pattern: (its match, when it was read)."""
        rx, deadline = re.compile(pattern), time.monotonic() + timeout
        with self.cond:
            while True:
                for t, line in self.lines[since:]:
                    m = rx.search(line)
                    if m:
                        return m, t
                    if line.strip() == "WORKLOAD-FAILED":
                        tail = " | ".join(l for _, l in self.lines[-6:])
                        raise RuntimeError(f"the workload failed in the guest ({tail[-300:]})")
                if self.watch_exit and self.closed == 2 and self.proc.poll() is not None:
                    tail = " | ".join(l for _, l in self.lines[-3:] + self.err[-3:])
                    rc = self.proc.returncode
                    # With --no-reboot (-no-reboot) a guest that resets ends its VMM with 0:
                    # under emulated SVM the known silent reset mid-transfer (kvmm -v names it
                    # a triple fault).
                    cls = GuestReset if rc == 0 else RuntimeError
                    raise cls(f"the VMM exited with status {rc} before '{pattern}' "
                              f"({tail[-300:]})")
                left = deadline - time.monotonic()
                if left <= 0:
                    # the console's last lines first: where a guest stopped
                    tail = " | ".join(l for _, l in self.lines[-4:] + self.err[-2:])
                    extra = self.on_timeout() if self.on_timeout else ""
                    raise RuntimeError(f"no '{pattern}' within {timeout} s ({tail[-300:]}){extra}")
                self.cond.wait(min(left, 0.5))

    def ready(self, timeout):
        """READY: the workload's own timestamp and when it was read, in ms after launch."""
        m, seen = self.wait_line(r"READY (\d+)", timeout)
        return (int(m.group(1)) - self.t_launch) / 1e6, (seen - self.t_launch) / 1e6

    def timeline(self, step):
        for _, line in self.err:
            m = re.match(r"kvmm:\s+([0-9.]+)\s\s(.+?)\s*$", line)
            if m and m.group(2) == step:
                return float(m.group(1))
        raise RuntimeError(f"kvmm printed no '{step}' in its boot timeline")

    def stop(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()


def smaps(pid, guest_bytes=0):
    """RSS and PSS of a process, and the RSS of its mapping(s) of guest RAM (KiB)."""
    with open(f"/proc/{pid}/smaps_rollup") as f:
        roll = dict(re.findall(r"^(\w+):\s+(\d+) kB", f.read(), re.M))
    guest = 0
    if guest_bytes:
        size = 0
        with open(f"/proc/{pid}/smaps") as f:
            for line in f:
                if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                    lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
                    size = hi - lo
                elif line.startswith("Rss:") and guest_bytes <= size <= guest_bytes * 1.05:
                    guest += int(line.split()[1])
    return int(roll["Rss"]), int(roll["Pss"]), guest


def cpu_ms(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def cgroup_mem(pid):
    """memory.current of the cgroup pid is in, and the PSS of every process there."""
    with open(f"/proc/{pid}/cgroup") as f:
        path = "/sys/fs/cgroup" + re.search(r"^0::(.*)$", f.read(), re.M).group(1)
    with open(os.path.join(path, "memory.current")) as f:
        current = int(f.read()) // 1024
    pss = 0
    with open(os.path.join(path, "cgroup.procs")) as f:
        for p in f.read().split():
            try:
                pss += smaps(int(p))[1]
            except OSError:
                pass
    return current, pss


# ---------------------------------------------------------------------------------- rows
class Row:
    """One runtime. launch(args, net, disk) starts the workload with those arguments and gives
    an Instance; memory(inst) gives (mem, pss, runtime share, guest RAM) in KiB or None."""
    name = ""
    boot_timeout = 60

    def __init__(self, b):
        self.b, self.n = b, itertools.count(1)

    def unavailable(self):
        return None

    def uniq(self):
        return f"vsc-{self.name}-{next(self.n)}"

    def host_ip(self):
        return self.b.veth_host

    def guest_ip(self):
        return self.b.veth_guest

    def stop(self, inst):
        inst.stop()


class Process(Row):
    name = "process"

    def launch(self, args, net=False, disk=False):
        return Instance([self.b.workload] + args)

    def memory(self, inst):
        rss, pss, _ = smaps(inst.proc.pid)
        return rss, pss, 0, None

    def host_ip(self):
        return "127.0.0.1"

    def guest_ip(self):
        return "127.0.0.1"

    def data_dir(self):
        return self.b.data


class Crun(Row):
    """An OCI bundle over the shared root (read-only, so instances can share it), started
    detached: crun exits once the container runs, its stdout is our pipe."""
    name = "crun"

    def unavailable(self):
        return None if shutil.which("crun") else "crun not installed"

    def launch(self, args, net=False, disk=False):
        name = self.uniq()
        bundle = os.path.join(self.b.scratch, "bundles", name)
        os.makedirs(bundle)
        with open(os.path.join(bundle, "config.json"), "w") as f:
            json.dump(self.config(name, args, net, disk), f)
        inst = Instance(["crun", "run", "--detach", "--bundle", bundle, name])
        inst.name = name
        _, status, ru = os.wait4(inst.proc.pid, 0)
        inst.proc.returncode = os.waitstatus_to_exitcode(status)
        inst.cli_rusage = (ru.ru_utime + ru.ru_stime) * 1000
        if inst.proc.returncode:
            time.sleep(0.2)
            raise RuntimeError(f"crun run exited {inst.proc.returncode}: "
                               + " | ".join(l for _, l in inst.err)[-300:])
        return inst

    def config(self, name, args, net, disk):
        spec = json.loads(self.b.crun_spec)
        spec["root"] = {"path": self.b.rootfs, "readonly": True}
        spec["hostname"] = name
        p = spec["process"]
        p["args"], p["terminal"], p["cwd"] = ["/bin/workload"] + args, False, "/"
        lx = spec["linux"]
        ns = [{"type": t} for t in ("pid", "mount", "ipc", "uts")]
        ns.append({"type": "network", "path": self.b.netns_path} if net else {"type": "network"})
        lx["namespaces"] = ns
        lx["cgroupsPath"] = f"/vsc/{name}"
        lx["resources"] = {"cpu": {"quota": 100000, "period": 100000},
                           "memory": {"limit": GUEST_MEM << 20}}
        if disk:
            spec["mounts"].append({"destination": "/data", "type": "bind", "source": self.b.data,
                                   "options": ["rbind", "rw"]})
        return spec

    def memory(self, inst):
        pid = json.loads(sh("crun", "state", inst.name))["pid"]
        current, pss = cgroup_mem(pid)
        return current, pss, 0, None

    def stop(self, inst):
        sh("crun", "delete", "--force", inst.name, check=False)
        inst.stop()

    def data_dir(self):
        return "/data"


class Podman(Row):
    """podman run -d from the image imported from the same root tarball, storage on the
    scratch directory; conmon writes the output to a k8s-file log that is tailed."""
    name = "podman"

    def __init__(self, b):
        super().__init__(b)
        s = os.path.join(b.scratch, "podman")
        # The image store (and so each container's overlay upper layer) on the same ext4 as the
        # bind-mounted data directory, so podman-overlay's disk and the others' differ only in
        # the overlay.
        self.base = ["podman", "--root", f"{b.data}/podman-root", "--runroot", f"{s}/runroot",
                     "--tmpdir", f"{s}/tmp", "--cgroup-manager", "cgroupfs",
                     "--events-backend", "none", "--network-config-dir", f"{s}/net"]
        self.logs, self.net = f"{s}/logs", "bridge"
        self.failed = None

    def unavailable(self):
        if not shutil.which("podman"):
            return "podman not installed"
        if self.failed is None:
            try:
                os.makedirs(self.logs, exist_ok=True)
                for d in ("tmp", "net"):
                    os.makedirs(os.path.join(self.b.scratch, "podman", d), exist_ok=True)
                sh(*self.base, "import", self.b.rootfs_tar, "localhost/vsc-rootfs", timeout=300)
                self.failed = ""
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                self.failed = f"podman import failed: {e}"
        return self.failed or None

    def launch(self, args, net=False, disk=False):
        name = self.uniq()
        log = os.path.join(self.logs, name + ".log")
        argv = self.base + ["run", "-d", "--name", name, "--cpus", "1", "--memory",
                            f"{GUEST_MEM}m", "--log-driver", "k8s-file", "--log-opt",
                            f"path={log}"]
        # The network the engine sets up itself (CNI bridge) unless that failed here; the
        # throughput runs join the same veth namespace crun uses, so both cross one veth.
        argv.append(f"--network=ns:{self.b.netns_path}" if net else f"--network={self.net}")
        if disk:
            argv += ["-v", f"{self.b.data}:/data"]
        inst = Instance(argv + ["localhost/vsc-rootfs", "/bin/workload"] + args, logfile=log)
        inst.name = name
        _, status, ru = os.wait4(inst.proc.pid, 0)
        inst.proc.returncode = os.waitstatus_to_exitcode(status)
        inst.cli_rusage = (ru.ru_utime + ru.ru_stime) * 1000
        if inst.proc.returncode:
            time.sleep(0.2)
            err = " | ".join(l for _, l in inst.err)[-300:]
            sh(*self.base, "rm", "-f", "-t", "0", name, check=False)
            if self.net == "bridge" and not net:
                self.net = "none"
                self.b.notes.append(f"podman: its bridge network failed here ({err}); "
                                    "measured with --network=none instead")
                return self.launch(args, net, disk)
            raise RuntimeError(f"podman run exited {inst.proc.returncode}: {err}")
        return inst

    def memory(self, inst):
        pid, conmon = sh(*self.base, "inspect", "-f", "{{.State.Pid}} {{.State.ConmonPid}}",
                         inst.name).split()
        current, pss = cgroup_mem(int(pid))
        rss, cpss, _ = smaps(int(conmon))
        return current + rss, pss + cpss, rss, None

    def stop(self, inst):
        sh(*self.base, "rm", "-f", "-t", "0", inst.name, check=False)
        inst.stop()

    def data_dir(self):
        return "/data"


class PodmanOverlay(Podman):
    """podman's disk numbers on the container's own root (overlay over the image store)
    instead of a bind mount; the store and the image are podman's."""
    name = "podman-overlay"

    def __init__(self, b):
        super().__init__(b)
        self.podman = next(r for r in b.rows if r.name == "podman")

    def unavailable(self):
        return self.podman.unavailable()

    def launch(self, args, net=False, disk=False):
        return self.podman.launch(args, net, False)

    def data_dir(self):
        return "/root"


class Kvmm(Row):
    """kvmm with kvmm-kernel and the workload's initramfs; the guest's init runs the mode
    given in kvmm.run= and then sleeps (the VMM is killed once the result is read: a guest
    reboot under QEMU wedges the harness's emulated SVM, boot_bench.py found)."""
    name, vhost = "kvmm", "off"
    boot_timeout = 240

    def unavailable(self):
        return None if os.access(self.b.kvmm, os.X_OK) else f"{self.b.kvmm} not built"

    def cmdline(self, args, net, disk):
        run = "/bin/workload " + " ".join(args)
        if disk:
            run = "mkdir -p /mnt && mount /dev/vda /mnt && " + run.replace(" DATA ", " /mnt ")
        # A failure says so at once rather than leaving the launcher to its time limit.
        c = f'panic=-1 loglevel=1 kvmm.run="{run} || echo WORKLOAD-FAILED; exec sleep 1000000"'
        if net:
            c += f" kvmm.ip={self.b.tap_guest}/24"
        return c

    def argv(self, args, net, disk):
        a = [self.b.kvmm, "--no-reboot", "--cpus", "1", "--mem", f"{GUEST_MEM}M",
             "--kernel", self.b.kernel, "--initrd", self.b.initrd, "--monitor", "none",
             "--boot-timeline", "--kernel-cache", os.path.join(self.b.scratch, "kcache"),
             "--cmdline", self.cmdline(args, net, disk)]
        if disk:
            a += ["--disk", self.b.vm_disk]
        if net:
            a += ["--net", f"tap={self.b.tap},vhost={self.vhost}"]
        return a

    def launch(self, args, net=False, disk=False):
        sock = os.path.join(self.b.scratch, f"{self.uniq()}.sock")
        # -v: a triple fault is named on stderr, the emulation's signature the bench retries.
        inst = Instance(self.argv(args, net, disk) + ["--api-sock", sock, "-v"])
        inst.on_timeout = lambda: self.diagnose(sock)
        inst.watch_exit = True
        return inst

    def diagnose(self, sock):
        """A VM that never printed what was awaited: where its vCPU and its disk queue stand,
        for the cell's reason and the log."""
        said = []
        for cmd in ("info status", "info cpus", "info block"):
            p = subprocess.run([self.b.kvmm, "ctl", "--sock", sock] + cmd.split(),
                               capture_output=True, text=True, timeout=20)
            said.append(f"{cmd}: " + " / ".join((p.stdout or p.stderr).split("\n")).strip())
        progress("  kvmm said: " + "; ".join(said))
        return "; kvmm: " + "; ".join(said)

    def memory(self, inst):
        rss, pss, guest = smaps(inst.proc.pid, GUEST_MEM << 20)
        return rss, pss, rss - guest, guest

    def host_ip(self):
        return self.b.tap_host

    def guest_ip(self):
        return self.b.tap_guest

    def data_dir(self):
        return "DATA"


class KvmmVhost(Kvmm):
    name, vhost = "kvmm-vhost", "on"

    def unavailable(self):
        return super().unavailable() or (None if os.path.exists("/dev/vhost-net")
                                         else "no /dev/vhost-net (modprobe vhost_net)")


class Qemu(Kvmm):
    name = "qemu-microvm"

    def unavailable(self):
        return None if shutil.which("qemu-system-x86_64") else "qemu-system-x86_64 not installed"

    def launch(self, args, net=False, disk=False):
        inst = Instance(self.argv(args, net, disk))
        inst.watch_exit = True
        return inst

    def argv(self, args, net, disk):
        a = ["qemu-system-x86_64", "-M", "microvm,acpi=off", "-accel", "kvm", "-cpu", "host",
             "-smp", "1", "-m", f"{GUEST_MEM}M", "-nodefaults", "-no-user-config", "-display",
             "none", "-serial", "stdio", "-no-reboot", "-kernel", self.b.kernel, "-initrd",
             self.b.initrd, "-append", "console=ttyS0 reboot=k " + self.cmdline(args, net, disk)]
        if disk:
            a += ["-drive", f"id=d0,file={self.b.vm_disk},format=raw,if=none",
                  "-device", "virtio-blk-device,drive=d0"]
        if net:
            a += ["-netdev", f"tap,id=n0,ifname={self.b.tap},script=no,downscript=no",
                  "-device", "virtio-net-device,netdev=n0"]
        return a
