#!/usr/bin/env python3
"""The same workload as a bare process, in crun, in podman, in kvmm and in QEMU microvm.

Run by tests/bench/vs-containers.sh in these steps:
  prepare  (the host, where building is quick): the static workload, the busybox root filesystem
           and its tarball, the kvmm-kernel initramfs holding the workload, and, for the harness's
           outer guest, the kernel modules the containers need with their dependencies in order;
  run      (where /dev/kvm is: inside tests/harness/kvm-run when the host has none, so every row
           shares one environment): each repetition measures every row in turn, so drift in the
           machine hits every row alike; part-K.json for repetition K (--rep K: only it);
           --resume: a fresh outer guest goes on with repetition K where the last one died,
           keeping what part-K.json holds and running the cell it died in once more;
  merge    results.csv and meta.json from the parts (a repetition without one is unavailable);
  report   (vs_containers_report.py): results.md and the charts.
Every cell comes from the run; one that cannot run is recorded as "unavailable: REASON".
Progress goes to stderr.
  vs_containers.py prepare --out DIR --kvmm PATH
  vs_containers.py run --out DIR [--reps N] [--rep K [--resume]] [--smoke]
  vs_containers.py merge --out DIR [--reps N] [--smoke]
"""
import argparse
import csv
import json
import os
import re
import shutil
import subprocess
import threading
import time

from vs_containers_rows import (ENV, GUEST_MEM, Crun, GuestReset, Instance, Kvmm, KvmmVhost,
                                Podman, PodmanOverlay, Process, Qemu, cpu_ms, heartbeat,
                                progress, sh, version)

TOP = os.path.realpath(os.path.join(os.path.dirname(__file__), "..", ".."))
ROWS = ["process", "crun", "podman", "podman-overlay", "kvmm", "kvmm-vhost", "qemu-microvm"]
# Rows that vary one thing of the row before them, and measure only what that changes.
VARIANTS = {"podman-overlay": ("disk", "the overlay root changes only disk"),
            "kvmm-vhost": ("network", "vhost=on changes only networking")}
VMS = ("kvmm", "kvmm-vhost", "qemu-microvm")
# (name, unit, what): the report's columns, in order; vs_containers_report.py reads them here.
METRICS = [
    ("start_ms", "ms", "launch -> the workload's READY timestamp"),
    ("ready_seen_ms", "ms", "launch -> the launcher read READY"),
    ("runtime_cpu_ms", "ms", "CPU time of the runtime's own processes for one start"),
    ("vmm_first_run_ms", "ms", "kvmm: exec -> first KVM_RUN (--boot-timeline)"),
    ("vmm_first_run_cpu_ms", "ms", "kvmm: its CPU time (all threads) until the first KVM_RUN"),
    ("guest_init_ms", "ms", "kvmm: exec -> guest init (boot-timer port)"),
    ("mem_kib", "KiB", "host memory of one idle instance"),
    ("mem_pss_kib", "KiB", "PSS of the instance's host processes"),
    ("mem_runtime_kib", "KiB", "the runtime's own share: VMM RSS beyond guest RAM, conmon"),
    ("mem_guest_kib", "KiB", "guest RAM actually touched"),
    ("cpu_ms", "ms", "the fixed compute loop"),
    ("disk_seq_write_MBps", "MB/s", "sequential write + fsync"),
    ("disk_seq_read_MBps", "MB/s", "sequential read, O_DIRECT"),
    ("disk_rand_read_iops", "IOPS", "4 KiB random read, O_DIRECT"),
    ("disk_rand_write_iops", "IOPS", "4 KiB random write, O_DIRECT"),
    ("net_out_MBps", "MB/s", "TCP instance -> host"),
    ("net_in_MBps", "MB/s", "TCP host -> instance"),
    ("density_ready_ms", "ms", "K instances launched at once -> all READY"),
    ("density_mem_kib", "KiB", "their total host memory"),
]
NET_METRICS = ("net_out_MBps", "net_in_MBps")
# What one launch measures, in the order each row runs them: a cell of the run.
CELLS = [("start+memory", ("start_ms", "ready_seen_ms", "runtime_cpu_ms", "vmm_first_run_ms",
                            "vmm_first_run_cpu_ms", "guest_init_ms", "mem_kib", "mem_pss_kib",
                            "mem_runtime_kib", "mem_guest_kib")),
          ("cpu", ("cpu_ms",)),
          ("disk", tuple(m for m, _, _ in METRICS if m.startswith("disk_"))),
          ("network", NET_METRICS),
          ("density", ("density_ready_ms", "density_mem_kib"))]
# The smoke test's check of --resume: "ROW GROUP" whose first try ends the outer guest on purpose
# (only inside the harness's outer guest, never on a host).
KILL_OUTER = os.environ.get("KVMM_VSC_KILL_OUTER", "")
# Modules the containers need, for an outer guest whose /lib/modules is not there (the harness
# boots Debian's kernel with the host's root, which has none).
MODULES = ["veth", "overlay", "loop", "ext4", "crc32c_generic", "tun", "vhost_net", "bridge",
           "br_netfilter", "nf_tables", "nft_compat", "nft_chain_nat", "nft_masq", "nf_nat", "nf_conntrack", "xt_MASQUERADE",
           "xt_conntrack", "xt_comment", "xt_addrtype", "xt_mark", "xt_multiport",
           "iptable_nat", "iptable_filter"]


# ------------------------------------------------------------------------------------ prepare
def resolve_modules(moddir):
    """Module files with their dependencies (softdeps included) first, for insmod in order."""
    by_name = {}
    with open(os.path.join(moddir, "modules.order")) as f:
        for rel in f.read().split():
            by_name[os.path.basename(rel)[:-3].replace("-", "_")] = os.path.join(moddir, rel)
    order, seen = [], set()

    def add(name):
        name = name.replace("-", "_")
        if name == "crc32c":  # libcrc32c's softdep names the algorithm, not a module
            name = "crc32c_generic"
        if name in seen or name not in by_name:
            return
        seen.add(name)
        path = by_name[name]
        deps = sh("modinfo", "-F", "depends", path).strip()
        soft = sh("modinfo", "-F", "softdep", path)
        pre = re.findall(r"pre:\s*([\w -]+?)(?:\s+post:|$)", soft, re.M)
        for d in [x for x in deps.split(",") if x] + " ".join(pre).split():
            add(d)
        order.append(path)

    for m in MODULES:
        add(m)
    return order


def cmd_prepare(a):
    out = os.path.abspath(a.out)
    prep = os.path.join(out, "prep")
    shutil.rmtree(prep, ignore_errors=True)
    os.makedirs(prep)
    progress("prepare: the static workload")
    wl = os.path.join(prep, "workload")
    sh("cc", "-static", "-O2", "-o", wl, os.path.join(TOP, "tests/bench/workload.c"))
    # The busybox root every row runs from: busybox-static (as images/initramfs.sh uses) with
    # its applet links, and the workload. The containers get it as a directory (crun) and as a
    # tarball imported into podman's store.
    progress("prepare: the busybox root filesystem")
    root = os.path.join(prep, "rootfs")
    for d in ("bin", "sbin", "proc", "sys", "dev", "tmp", "etc", "data", "mnt", "root"):
        os.makedirs(os.path.join(root, d))
    shutil.copy("/bin/busybox", os.path.join(root, "bin/busybox"))
    for applet in sh("/bin/busybox", "--list").split():
        if applet != "busybox":
            os.symlink("busybox", os.path.join(root, "bin", applet))
    shutil.copy(wl, os.path.join(root, "bin/workload"))
    with open(os.path.join(root, "etc/passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\n")
    sh("tar", "-C", root, "--owner=0", "--group=0", "-cf", os.path.join(prep, "rootfs.tar"), ".")
    progress("prepare: kvmm-kernel and the initramfs with the workload")
    kernel = sh(os.path.join(TOP, "images/kvmm-images"), "kernel")
    kernel = re.search(r"^kernel=(.*)$", kernel, re.M).group(1)
    initrd = os.path.join(prep, "initramfs.cpio")
    sh(os.path.join(TOP, "images/initramfs.sh"), initrd, "--file", wl, "/bin/workload")
    info = sh(os.path.join(TOP, "tests/harness/distro-kernel"), check=False)
    m = re.search(r"^modules=(.*)$", info, re.M)
    mods = resolve_modules(m.group(1)) if m and os.path.isdir(m.group(1)) else []
    env = {"kvmm": os.path.abspath(a.kvmm), "kernel": kernel, "initrd": initrd,
           "rootfs": root, "rootfs_tar": os.path.join(prep, "rootfs.tar"), "workload": wl,
           "modules": mods, "host_cpu": cpu_model(), "host_kernel": os.uname().release,
           "kvmm_rev": version(["git", "-C", TOP, "rev-parse", "--short", "HEAD"])}
    with open(os.path.join(prep, "env.json"), "w") as f:
        json.dump(env, f, indent=1)


def cpu_model():
    with open("/proc/cpuinfo") as f:
        m = re.search(r"^model name\s*:\s*(.*)$", f.read(), re.M)
    return m.group(1) if m else "unknown"


# ----------------------------------------------------------------------------- the bench
class Bench:
    def __init__(self, a):
        self.out = os.path.abspath(a.out)
        with open(os.path.join(self.out, "prep", "env.json")) as f:
            self.env = json.load(f)
        self.smoke, self.reps = a.smoke, 1 if a.smoke else a.reps
        self.rep_list = [a.rep] if a.rep else list(range(1, self.reps + 1))
        self.cpu_rounds = 20 if a.smoke else 200
        self.disk_mb, self.disk_secs = (16, 1) if a.smoke else (256, 5)
        self.net_secs = 2 if a.smoke else 5
        self.density = 3 if a.smoke else 10
        self.op_timeout = 120 if a.smoke else 300  # beyond the boot, for one cpu or disk run
        self.kvmm, self.kernel = self.env["kvmm"], self.env["kernel"]
        self.notes, self.results, self.running = [], {}, None
        # "ROW GROUP" -> how many outer guests died while measuring it (kept across --resume).
        self.died = {}
        if a.resume:
            self.resume(a.rep)
        self.harness = self.in_harness()
        base = "/run" if self.harness else self.out
        self.scratch = os.path.join(base, "vsc-scratch")
        self.veth_host, self.veth_guest = "10.201.0.1", "10.201.0.2"
        self.tap, self.tap_host, self.tap_guest = "vsctap0", "10.202.0.1", "10.202.0.2"
        self.netns = "vsc-net"
        self.netns_path = f"/run/netns/{self.netns}"

    def resume(self, rep):
        """Takes over part-K.json of an outer guest that died: its cells stay, and the cell it
        was measuring is counted as one death there."""
        try:
            with open(os.path.join(self.out, f"part-{rep}.json")) as f:
                part = json.load(f)
        except (OSError, ValueError):
            return  # it died before writing anything: the repetition starts over
        self.notes.extend(part["meta"]["notes"])
        self.died = dict(part.get("died", {}))
        for r, m, k, v in part["cells"]:
            self.results[(r, m, k)] = v
        if part.get("running"):
            self.died[part["running"]] = self.died.get(part["running"], 0) + 1

    @staticmethod
    def in_harness():
        with open("/proc/mounts") as f:
            return any(l.split()[1:3] == ["/", "9p"] for l in f)

    # Where everything runs from: modules, cgroup2, a scratch filesystem, the network ends.
    def setup(self):
        shutil.rmtree(self.scratch, ignore_errors=True)
        os.makedirs(os.path.join(self.scratch, "bundles"))
        os.makedirs(os.path.join(self.scratch, "tmp"))
        ENV["TMPDIR"] = os.path.join(self.scratch, "tmp")
        if self.harness and not os.path.isdir(f"/lib/modules/{os.uname().release}"):
            failed = []
            for path in self.env["modules"]:
                name = os.path.basename(path)[:-3].replace("-", "_")
                if not os.path.isdir(f"/sys/module/{name}"):
                    if subprocess.run(["insmod", path], capture_output=True).returncode:
                        failed.append(name)
            if failed:
                self.notes.append("insmod failed for: " + " ".join(failed))
        else:
            for m in ("veth", "overlay", "loop", "tun", "vhost_net"):
                subprocess.run(["modprobe", m], capture_output=True)
        # The harness's outer guest mounts no cgroup2; crun and podman need it for the limits.
        with open("/proc/mounts") as f:
            if not any(l.split()[1:3] == ["/sys/fs/cgroup", "cgroup2"] for l in f):
                sh("mount", "-t", "cgroup2", "none", "/sys/fs/cgroup")
                self.notes.append("mounted cgroup2 on /sys/fs/cgroup (none was mounted)")
        with open("/sys/fs/cgroup/cgroup.subtree_control", "w") as f:
            f.write("+cpu +memory")
        # CNI's bridge plugin keeps its cache under /var/lib/cni, which the harness's read-only
        # root cannot take: a writable overlay of /var/lib, private to the outer guest.
        if self.harness:
            up = os.path.join(self.scratch, "varlib")
            os.makedirs(f"{up}/upper")
            os.makedirs(f"{up}/work")
            try:
                sh("mount", "-t", "overlay", "overlay", "-o",
                   f"lowerdir=/var/lib,upperdir={up}/upper,workdir={up}/work", "/var/lib")
            except RuntimeError:
                sh("mount", "-t", "tmpfs", "tmpfs", "/var/lib")
                self.notes.append("/var/lib: overlay refused, an empty tmpfs instead")
        # The root, copied next to the rest (in the harness off 9p onto tmpfs).
        self.rootfs = os.path.join(self.scratch, "rootfs")
        sh("cp", "-a", self.env["rootfs"], self.rootfs)
        self.rootfs_tar, self.initrd = self.env["rootfs_tar"], self.env["initrd"]
        self.workload = os.path.join(self.rootfs, "bin/workload")
        # One ext4 for the process and the containers (a loop device over a file) and one for
        # the VMs (the same size, a file given to virtio-blk), in the same directory: every
        # row's disk is ext4 over a file on the same filesystem.
        size = self.disk_mb * 2 + 64
        self.vm_disk = os.path.join(self.scratch, "vm-disk.ext4")
        host_disk = os.path.join(self.scratch, "host-disk.ext4")
        for img in (self.vm_disk, host_disk):
            sh("truncate", "-s", f"{size}M", img)
            sh("mkfs.ext4", "-q", "-F", img)
        self.data = os.path.join(self.scratch, "data")
        os.makedirs(self.data)
        try:
            sh("mount", "-o", "loop", host_disk, self.data)
        except RuntimeError as e:
            self.notes.append(f"process/containers disk: loop mount failed ({e}); a plain "
                              "directory on the scratch filesystem instead")
        self.crun_spec = ""
        if shutil.which("crun"):
            spec_dir = os.path.join(self.scratch, "spec")
            os.makedirs(spec_dir)
            sh("crun", "spec", cwd=spec_dir)
            with open(os.path.join(spec_dir, "config.json")) as f:
                self.crun_spec = f.read()
        self.setup_net()

    def setup_net(self):
        self.cleanup_net()
        ns = self.netns
        sh("ip", "netns", "add", ns)
        sh("ip", "link", "add", "vsc-veth0", "type", "veth", "peer", "name", "vsc-veth1")
        sh("ip", "link", "set", "vsc-veth1", "netns", ns)
        sh("ip", "addr", "add", f"{self.veth_host}/24", "dev", "vsc-veth0")
        sh("ip", "link", "set", "vsc-veth0", "up")
        for c in (["link", "set", "lo", "up"], ["link", "set", "vsc-veth1", "name", "eth0"],
                  ["addr", "add", f"{self.veth_guest}/24", "dev", "eth0"],
                  ["link", "set", "eth0", "up"]):
            sh("ip", "-n", ns, *c)
        sh("ip", "tuntap", "add", "dev", self.tap, "mode", "tap")
        sh("ip", "addr", "add", f"{self.tap_host}/24", "dev", self.tap)
        sh("ip", "link", "set", self.tap, "up")

    def cleanup_net(self):
        for c in (["netns", "del", self.netns], ["link", "del", "vsc-veth0"],
                  ["link", "del", self.tap]):
            subprocess.run(["ip"] + c, capture_output=True)

    def teardown(self):
        self.cleanup_net()
        if self.harness:
            subprocess.run(["umount", "-l", "/var/lib"], capture_output=True)
        subprocess.run(["umount", "-l", self.data], capture_output=True)
        if self.harness:
            shutil.rmtree(self.scratch, ignore_errors=True)

    def record(self, row, metric, rep, value):
        self.results[(row, metric, rep)] = value

    # ------------------------------------------------------------------- measurements
    def measure(self, row, rep):
        fns = {"start+memory": self.m_start, "cpu": self.m_cpu, "disk": self.m_disk,
               "network": self.m_net, "density": self.m_density}
        for gname, metrics in CELLS:
            fn = fns[gname]
            if row.name in VARIANTS and gname != VARIANTS[row.name][0]:
                for m in metrics:
                    self.record(row.name, m, rep, "unavailable: " + VARIANTS[row.name][1])
                continue
            if all((row.name, m, rep) in self.results for m in metrics):
                continue  # measured by an earlier outer guest of this repetition (--resume)
            cell = f"{row.name} {gname}"
            deaths = self.died.get(cell, 0)
            if deaths >= 2:
                why = (f"the outer guest died {deaths} times during this cell (emulated SVM's "
                       "known fault, not the runtime's); not tried again")
                progress(f"rep {rep}/{self.reps} {cell}: {why}")
                self.notes.append(f"{cell}, repetition {rep}: {why}")
                for m in metrics:
                    self.record(row.name, m, rep, f"unavailable: {why}")
                continue
            if deaths:
                progress(f"rep {rep}/{self.reps} {cell}: the outer guest died during it; once "
                         "more in a fresh one (emulated SVM's known fault)")
                self.notes.append(f"{cell}, repetition {rep}: the outer guest died during it "
                                  "(emulated SVM); measured again in a fresh outer guest")
            t = time.monotonic()
            self.running = cell
            self.write()  # what is done so far survives the outer guest dying in this group
            progress(f"rep {rep}/{self.reps} {row.name}: {gname} ...{mem_available()}")
            if cell == KILL_OUTER and not deaths and self.harness:
                progress(f"test (KVMM_VSC_KILL_OUTER): ending the outer guest in {cell}")
                os.sync()
                with open("/proc/sysrq-trigger", "w") as f:
                    f.write("b")
                time.sleep(60)
            try:
                try:
                    got = fn(row)
                except GuestReset as e:
                    # The emulation's known fault, not the runtime's: once more, and said so.
                    progress(f"  {row.name} {gname}: {e}; the known emulated-SVM silent reset: "
                             "retrying once")
                    self.notes.append(f"{row.name} {gname}, repetition {rep}: the guest reset "
                                      "itself mid-run (emulated SVM's silent reset); retried once")
                    got = fn(row)
            except Exception as e:  # a cell that cannot run says why; the others go on
                got = {}
                reason = re.sub(r"\s+", " ", str(e))[:200]
                progress(f"  {row.name} {gname}: {reason}")
                self.notes.append(f"{cell}, repetition {rep}: unavailable: {reason}")
                for m in metrics:
                    self.record(row.name, m, rep, f"unavailable: {reason}")
            for m in metrics:
                if m in got:
                    self.record(row.name, m, rep, got[m])
            progress(f"rep {rep}/{self.reps} {row.name}: {gname} "
                     f"({time.monotonic() - t:.1f} s) {fmt_got(got)}")

    def m_start(self, row):
        inst = row.launch(["idle"])
        try:
            start, seen = inst.ready(row.boot_timeout)
            got = {"start_ms": start, "ready_seen_ms": seen}
            vm = row.name in VMS
            if inst.cli_rusage is not None:
                got["runtime_cpu_ms"] = inst.cli_rusage
            else:
                got["runtime_cpu_ms"] = cpu_ms(inst.proc.pid)
            na = "unavailable: no boot timeline (only kvmm prints one)"
            steps = {"vmm_first_run_ms": "first KVM_RUN",
                     "vmm_first_run_cpu_ms": "CPU time (ms, all threads) until the first KVM_RUN",
                     "guest_init_ms": "guest init (boot-timer port)"}
            for metric, step in steps.items():
                got[metric] = inst.timeline(step) if row.name.startswith("kvmm") else \
                    na if vm else "unavailable: not a VM"
            time.sleep(1)  # what settles after READY (the guest's init) counts too
            still_running(row, [inst])
            mem, pss, runtime, guest = row.memory(inst)
            got.update(mem_kib=mem, mem_pss_kib=pss, mem_runtime_kib=runtime,
                       mem_guest_kib=guest if vm else "unavailable: no guest RAM")
            return got
        finally:
            row.stop(inst)

    def m_cpu(self, row):
        inst = row.launch(["cpu", str(self.cpu_rounds)])
        try:
            m, _ = inst.wait_line(r"CPU elapsed_ns=(\d+)", row.boot_timeout + self.op_timeout)
            return {"cpu_ms": int(m.group(1)) / 1e6}
        finally:
            row.stop(inst)

    def m_disk(self, row):
        inst = row.launch(["disk", row.data_dir(), str(self.disk_mb), str(self.disk_secs)],
                          disk=True)
        try:
            m, _ = inst.wait_line(r"DISK (.*)", row.boot_timeout + self.op_timeout)
            kv = dict(x.split("=") for x in m.group(1).split())
            if kv.get("direct") != "1":
                self.notes.append(f"{row.name}: O_DIRECT refused, disk reads were buffered")
            return {f"disk_{k}": float(kv[k]) for k in ("seq_write_MBps", "seq_read_MBps",
                                                        "rand_read_iops", "rand_write_iops")}
        finally:
            row.stop(inst)

    def m_net(self, row):
        """Receiver-side numbers both ways: the instance's server for host -> instance, a
        server on the host for instance -> host."""
        got, port = {}, 5201
        srv = Instance([self.workload, "net-server", str(port)])
        try:
            srv.wait_line(r"LISTENING", 10)
            inst = row.launch(["net-client", row.host_ip(), str(port), str(self.net_secs)],
                              net=True)
            try:
                m, _ = srv.wait_line(r"NET recv_MBps=([0-9.]+)", row.boot_timeout + 120)
                got["net_out_MBps"] = float(m.group(1))
            finally:
                row.stop(inst)
        finally:
            srv.stop()
        inst = row.launch(["net-server", str(port + 1)], net=True)
        try:
            inst.wait_line(r"LISTENING", row.boot_timeout)
            cli = Instance([self.workload, "net-client", row.guest_ip(), str(port + 1),
                            str(self.net_secs)])
            try:
                m, _ = inst.wait_line(r"NET recv_MBps=([0-9.]+)", 120)
                got["net_in_MBps"] = float(m.group(1))
            finally:
                cli.stop()
        finally:
            row.stop(inst)
        return got

    def m_density(self, row):
        # Launched together, each from a thread of its own: crun's and podman's command lines
        # return only once their container runs, and that wait is part of what is measured.
        insts, errors = [None] * self.density, []

        def one(i):
            try:
                insts[i] = row.launch(["idle"])
            except Exception as e:
                errors.append(str(e))

        threads = [threading.Thread(target=one, args=(i,)) for i in range(self.density)]
        try:
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            if errors:
                raise RuntimeError(errors[0])
            t0 = min(i.t_launch for i in insts)
            ready = [i.ready(row.boot_timeout * 2)[0] + (i.t_launch - t0) / 1e6 for i in insts]
            time.sleep(1)
            still_running(row, insts)
            return {"density_ready_ms": max(ready),
                    "density_mem_kib": sum(row.memory(i)[0] for i in insts)}
        finally:
            for i in insts:
                if i:
                    row.stop(i)

    # --------------------------------------------------------------------------- run
    def run(self):
        progress(f"vs-containers: {'harness outer guest' if self.harness else 'host'}, "
                 f"{self.reps} repetition(s){', smoke' if self.smoke else ''}")
        heartbeat(lambda: self.running or "setup, a warm-up boot or teardown")
        self.setup()
        rows = self.rows = []
        for cls in (Process, Crun, Podman, PodmanOverlay, Kvmm, KvmmVhost, Qemu):
            rows.append(cls(self))
        why = {r.name: r.unavailable() for r in rows}
        for r in rows:
            if why[r.name]:
                progress(f"{r.name}: unavailable: {why[r.name]}")
            elif r.name in VMS and not all((r.name, m, k) in self.results for m, _, _ in METRICS
                                           for k in self.rep_list):
                # One unmeasured boot: kvmm's kernel cache, and every page the files need.
                progress(f"{r.name}: warm-up boot")
                try:
                    self.m_start(r)
                except Exception as e:
                    why[r.name] = f"warm-up boot failed: {e}"[:300]
                    progress(f"{r.name}: {why[r.name]}")
        try:
            for rep in self.rep_list:
                for r in rows:
                    if why[r.name]:
                        for m, _, _ in METRICS:
                            self.record(r.name, m, rep, f"unavailable: {why[r.name]}")
                    else:
                        self.measure(r, rep)
                self.write()
        finally:
            self.teardown()
        self.running = None
        self.write()

    def write(self):
        """This run's repetitions as part-K.json each: merge() makes results.csv from them, so
        a repetition whose outer guest died leaves the others standing."""
        meta = {"where": "harness (nested KVM on emulated SVM in a TCG guest)" if self.harness
                else "host", "smoke": self.smoke,
                "cpu": cpu_model(), "kernel": os.uname().release,
                "host_cpu": self.env["host_cpu"], "host_kernel": self.env["host_kernel"],
                "kvmm": self.env["kvmm_rev"], "crun": version(["crun", "--version"]),
                "podman": version(["podman", "--version"]),
                "qemu": version(["qemu-system-x86_64", "--version"]),
                "sizes": {"guest_mem_mib": GUEST_MEM, "cpu_rounds": self.cpu_rounds,
                          "disk_mb": self.disk_mb, "disk_secs": self.disk_secs,
                          "net_secs": self.net_secs, "density": self.density},
                "notes": sorted(set(self.notes))}
        for rep in self.rep_list:
            cells = [[r, m, rep, v] for (r, m, k), v in self.results.items() if k == rep]
            path = os.path.join(self.out, f"part-{rep}.json")
            with open(path + ".tmp", "w") as f:
                json.dump({"meta": meta, "cells": cells, "running": self.running,
                           "died": self.died}, f)
            os.replace(path + ".tmp", path)


def merge(out, reps):
    """results.csv and meta.json from the part-K.json of repetitions 1..reps; a repetition with
    no part says why in every cell (fail-K.txt, written by vs-containers.sh)."""
    results, meta, notes = {}, None, set()
    for rep in range(1, reps + 1):
        try:
            with open(os.path.join(out, f"part-{rep}.json")) as f:
                part = json.load(f)
        except (OSError, ValueError):
            try:
                with open(os.path.join(out, f"fail-{rep}.txt")) as f:
                    why = f.read().strip()
            except OSError:
                why = "not measured (run cut short)"
            for r in ROWS:
                for m, _, _ in METRICS:
                    results[(r, m, rep)] = f"unavailable: repetition {rep}: {why}"
            notes.add(f"repetition {rep}: {why}")
            continue
        meta = meta or part["meta"]
        notes.update(part["meta"]["notes"])
        for r, m, k, v in part["cells"]:
            results[(r, m, k)] = v
        if part.get("running"):
            # The outer guest died there: that group's cells and those after it are missing.
            try:
                with open(os.path.join(out, f"fail-{rep}.txt")) as f:
                    why = f.read().strip()
            except OSError:
                why = "the run stopped"
            notes.add(f"repetition {rep}: {why} during {part['running']}; the cells not "
                      "measured by then are unavailable")
            for r in ROWS:
                for m, _, _ in METRICS:
                    results.setdefault((r, m, rep), f"unavailable: repetition {rep}: {why} "
                                       f"during {part['running']}, before this cell")
    path = os.path.join(out, "results.csv")
    with open(path + ".tmp", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["runtime", "metric", "unit", "rep", "value"])
        for r in ROWS:
            for m, unit, _ in METRICS:
                for rep in range(1, reps + 1):
                    v = results.get((r, m, rep), "unavailable: not measured (run cut short)")
                    w.writerow([r, m, unit, rep, f"{v:.3f}" if isinstance(v, float) else v])
    os.replace(path + ".tmp", path)
    if meta is None:
        raise SystemExit("vs-containers: no repetition finished; see run.log")
    meta.update(reps=reps, notes=sorted(notes))
    with open(os.path.join(out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)


def still_running(row, insts):
    """Before an idle VM's memory is read: each VMM is still there (a gone one has no /proc
    entry to read, ESRCH). A VMM with --no-reboot exits 0 when its guest resets: the silent
    reset, which the cell retries once."""
    for k, i in enumerate(insts):
        rc = i.proc.poll() if row.name in VMS else None
        if rc is not None:
            err = GuestReset if rc == 0 else RuntimeError
            raise err(f"instance {k + 1} of {len(insts)} exited ({rc}) after READY, before "
                      "its memory was read")


def mem_available():
    """The outer guest's free memory, for a run log that explains a death under pressure."""
    try:
        with open("/proc/meminfo") as f:
            m = re.search(r"^MemAvailable:\s+(\d+) kB", f.read(), re.M)
        return f" (MemAvailable {int(m.group(1)) // 1024} MiB)" if m else ""
    except OSError:
        return ""


def fmt_got(got):
    return " ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}"
                    for k, v in got.items() if not isinstance(v, str))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("step", choices=["prepare", "run", "merge"])
    ap.add_argument("--out", required=True)
    ap.add_argument("--kvmm", default=os.path.join(TOP, "build", "kvmm"))
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--rep", type=int, help="run only this repetition (of --reps)")
    ap.add_argument("--resume", action="store_true",
                    help="go on with --rep K from its part-K.json (its outer guest died)")
    a = ap.parse_args()
    if a.reps < 1:
        ap.error("--reps wants at least 1")
    if a.rep is not None and not 1 <= a.rep <= a.reps:
        ap.error(f"--rep {a.rep}: outside 1..{a.reps}")
    if a.resume and a.rep is None:
        ap.error("--resume needs --rep")
    if a.step == "prepare":
        cmd_prepare(a)
    elif a.step == "merge":
        merge(os.path.abspath(a.out), 1 if a.smoke else a.reps)
    else:
        Bench(a).run()


if __name__ == "__main__":
    main()
