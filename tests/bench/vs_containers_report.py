#!/usr/bin/env python3
"""results.md and one gnuplot chart per metric from what vs_containers.py run wrote
(results.csv, meta.json); with --check, fails when a row, column, CSV line or chart is missing or
malformed (never because a number is slow): what the smoke run checks.
  vs_containers_report.py --out DIR [--check]
"""
import argparse
import csv
import json
import os
import re
import statistics
import subprocess
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from vs_containers import CELLS, KILL_OUTER, METRICS, ROWS, VARIANTS  # noqa: E402  (one list of rows and columns)

UNITS = {m: u for m, u, _ in METRICS}
# Which way is better, for the ratios' reading: throughput up, time and memory down.
HIGHER_BETTER = {m for m, u, _ in METRICS if u in ("MB/s", "IOPS")}
GROUPS = [("Start", "start_ms ready_seen_ms runtime_cpu_ms vmm_first_run_ms vmm_first_run_cpu_ms "
           "guest_init_ms"),
          ("Memory (one idle instance)", "mem_kib mem_pss_kib mem_runtime_kib mem_guest_kib"),
          ("CPU", "cpu_ms"),
          ("Disk", "disk_seq_write_MBps disk_seq_read_MBps disk_rand_read_iops "
           "disk_rand_write_iops"),
          ("Network (receiver side)", "net_out_MBps net_in_MBps"),
          ("Density", "density_ready_ms density_mem_kib")]
# The summary's columns: one number per runtime for what people compare first.
SUMMARY = [("start_ms", "start (ms)"), ("mem_kib", "memory (KiB)"), ("cpu_ms", "cpu loop (ms)"),
           ("disk_seq_write_MBps", "seq write (MB/s)"), ("disk_rand_read_iops", "4K read (IOPS)"),
           ("net_out_MBps", "TCP out (MB/s)"), ("net_in_MBps", "TCP in (MB/s)"),
           ("density_ready_ms", "K at once (ms)"), ("density_mem_kib", "their memory (KiB)")]
RATIOS = [("crun", "process"), ("podman", "process"), ("kvmm", "process"),
          ("qemu-microvm", "process"), ("kvmm", "qemu-microvm"), ("kvmm", "crun")]


def load(out):
    with open(os.path.join(out, "results.csv"), newline="") as f:
        rows = list(csv.reader(f))
    with open(os.path.join(out, "meta.json")) as f:
        meta = json.load(f)
    return rows, meta


def cells(rows):
    """(runtime, metric) -> the list of its numbers, or, where no repetition gave one, the
    first 'unavailable: ...' reason. A repetition without a number says why in the notes."""
    nums, why = {}, {}
    for r in rows[1:]:
        runtime, metric, _, _, value = r
        try:
            nums.setdefault((runtime, metric), []).append(float(value))
        except ValueError:
            why.setdefault((runtime, metric), value)
    return {k: nums.get(k) or why[k] for k in nums.keys() | why.keys()}


def num(v):
    return f"{v:.0f}" if abs(v) >= 100 else f"{v:.1f}" if abs(v) >= 10 else f"{v:.2f}"


def cell(v, reps):
    if isinstance(v, str):
        return v.replace("|", "/")
    med = statistics.median(v)
    # Fewer numbers than repetitions: the others were unavailable (the notes say why).
    of = f" [{len(v)} of {reps}]" if len(v) < reps else ""
    return (num(med) if len(v) == 1 else f"{num(med)} ({num(min(v))}-{num(max(v))})") + of


def median(c, key):
    v = c.get(key)
    return statistics.median(v) if isinstance(v, list) and v else None


def markdown(rows, meta):
    c = cells(rows)
    s = meta["sizes"]
    out = ["# The same workload as a process, in containers and in VMs", "",
           f"Ran on: {meta['where']}; CPU {meta['cpu']}, kernel {meta['kernel']} "
           f"(host: {meta['host_cpu']}, kernel {meta['host_kernel']}).",
           f"Versions: kvmm {meta['kvmm']}; {meta['crun']}; {meta['podman']}; {meta['qemu']}.",
           f"{meta['reps']} repetition(s){' (smoke: small sizes)' if meta['smoke'] else ''}; "
           f"each cell is the median (min-max). Guests and containers: 1 CPU, "
           f"{s['guest_mem_mib']} MiB; cpu loop {s['cpu_rounds']} rounds; disk {s['disk_mb']} MB "
           f"file, random I/O {s['disk_secs']} s each; TCP {s['net_secs']} s each way; density "
           f"{s['density']} instances.", ""]
    if meta["where"] != "host":
        out += ["**The VMs here run on the harness's emulated SVM inside a TCG guest (10-100x "
                "slower than hardware): compare ratios, not absolute numbers.**", ""]
    out += ["## Summary (medians; `-`: not measured by that row, see below)", "",
            "| runtime | " + " | ".join(n for _, n in SUMMARY) + " |",
            "| --- |" + " --- |" * len(SUMMARY)]
    for r in ROWS:
        vals = [median(c, (r, m)) for m, _ in SUMMARY]
        out.append(f"| {r} | " + " | ".join("-" if v is None else num(v) for v in vals) + " |")
    out.append("")
    for title, names in GROUPS:
        names = names.split()
        out += [f"## {title}", "",
                "| runtime | " + " | ".join(f"{m} ({UNITS[m]})" for m in names) + " |",
                "| --- |" + " --- |" * len(names)]
        for r in ROWS:
            # A variant row (one thing of the row above changed) only where it measures.
            skip = "unavailable: " + VARIANTS[r][1] if r in VARIANTS else None
            if skip and all(str(c.get((r, m), "")).startswith(skip) for m in names):
                continue
            out.append(f"| {r} | " + " | ".join(cell(c.get((r, m), "unavailable: missing"), meta["reps"])
                                                for m in names) + " |")
        out.append("")
    out += ["## Ratios of medians", "",
            "Time and memory: below 1 is better for the first; throughput: above 1 is.", "",
            "| metric | " + " | ".join(f"{a} / {b}" for a, b in RATIOS) + " |",
            "| --- |" + " --- |" * len(RATIOS)]
    for m, _, _ in METRICS:
        vals = []
        for a, b in RATIOS:
            x, y = median(c, (a, m)), median(c, (b, m))
            vals.append(f"{x / y:.2f}" if x is not None and y else "-")
        if any(v != "-" for v in vals):
            out.append(f"| {m} | " + " | ".join(vals) + " |")
    out += ["", "Variant rows, shown only where they measure: " + "; ".join(
        f"`{r}` {VARIANTS[r][1]}" for r in ROWS if r in VARIANTS) + "."]
    out += ["", "Columns: " + "; ".join(f"`{m}` {what}" for m, _, what in METRICS) + "."]
    if meta.get("notes"):
        out += ["", "Notes from the run:", ""] + [f"- {n}" for n in meta["notes"]]
    return "\n".join(out) + "\n"


def gq(text):
    """A gnuplot double-quoted string."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def charts(rows, out):
    """One PNG per metric: median bars, min-max error bars, every runtime on the axis (one
    without a number gets none)."""
    c = cells(rows)
    made = []
    for m, unit, what in METRICS:
        dat = os.path.join(out, f"{m}.dat")
        with open(dat, "w") as f:
            for i, r in enumerate(ROWS):
                v = c.get((r, m))
                if isinstance(v, list):
                    f.write(f"{i} {statistics.median(v)} {min(v)} {max(v)}\n")
        tics = ", ".join(f'"{r}" {i}' for i, r in enumerate(ROWS))
        plot = (f"plot '{dat}' using 1:2 with boxes fs solid 0.5 notitle, "
                f"'' using 1:2:3:4 with yerrorbars pt 0 lc rgb 'black' notitle"
                if os.path.getsize(dat) else
                "set label 1 'no runtime could measure this here' at graph 0.5,0.5 center; "
                "plot NaN notitle")
        png = os.path.join(out, f"{m}.png")
        script = "\n".join([
            "set terminal png size 960,450", f"set output '{png}'",
            f"set title {gq(f'{m}: {what} ({unit})')} noenhanced", f"set ylabel {gq(unit)}",
            f"set xtics ({tics}) noenhanced", "set xrange [-0.6:%f]" % (len(ROWS) - 0.4),
            "set yrange [0:*]", "set boxwidth 0.6", "set grid ytics", plot, ""])
        p = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True)
        os.unlink(dat)
        if p.returncode:
            raise SystemExit(f"gnuplot failed for {m}: {p.stderr.strip()}")
        made.append(png)
    return made


def check(out, rows, meta, md):
    """The shape of everything, not the numbers."""
    bad = []
    if rows[0] != ["runtime", "metric", "unit", "rep", "value"]:
        bad.append(f"results.csv header is {rows[0]}")
    want = {(r, m, str(rep)) for r in ROWS for m, _, _ in METRICS
            for rep in range(1, meta["reps"] + 1)}
    seen = set()
    for r in rows[1:]:
        if len(r) != 5:
            bad.append(f"results.csv line {r}: not 5 fields")
            continue
        key = (r[0], r[1], r[3])
        if key not in want or key in seen:
            bad.append(f"results.csv line {r}: unexpected or repeated")
        seen.add(key)
        if r[2] != UNITS.get(r[1]):
            bad.append(f"results.csv line {r}: unit is not {UNITS.get(r[1])}")
        if not re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", r[4]) and not r[4].startswith("unavailable: "):
            bad.append(f"results.csv line {r}: value neither a number nor 'unavailable: ...'")
    bad += [f"results.csv has no line for {k}" for k in sorted(want - seen)]
    for r in ROWS:
        if not re.search(rf"^\| {re.escape(r)} \|", md, re.M):
            bad.append(f"results.md has no row {r}")
    for m, _, _ in METRICS:
        if f"{m} (" not in md:
            bad.append(f"results.md has no column {m}")
        png = os.path.join(out, f"{m}.png")
        try:
            with open(png, "rb") as f:
                if f.read(8) != b"\x89PNG\r\n\x1a\n" or os.path.getsize(png) < 1000:
                    bad.append(f"{png} is not a PNG chart")
        except OSError:
            bad.append(f"{png} missing")
    if KILL_OUTER and meta["where"].startswith("harness"):
        # The outer guest ended on purpose in that cell: the run resumed it in a fresh one.
        row, _, group = KILL_OUTER.partition(" ")
        want = f"{KILL_OUTER}, repetition 1: the outer guest died during it"
        if not any(n.startswith(want) for n in meta["notes"]):
            bad.append(f"KVMM_VSC_KILL_OUTER={KILL_OUTER}: no note that it was measured again")
        for m in dict(CELLS).get(group, ("(no such group)",)):
            v = [r[4] for r in rows[1:] if r[:2] == [row, m] and r[3] == "1"]
            if not v or not re.fullmatch(r"[0-9.]+", v[0]):
                bad.append(f"KVMM_VSC_KILL_OUTER={KILL_OUTER}: {row} {m} not measured on resume")
    return bad


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--check", action="store_true")
    a = ap.parse_args()
    rows, meta = load(a.out)
    md = markdown(rows, meta)
    with open(os.path.join(a.out, "results.md"), "w") as f:
        f.write(md)
    charts(rows, a.out)
    if a.check:
        bad = check(a.out, rows, meta, md)
        for b in bad:
            print(f"vs-containers check: {b}", file=sys.stderr)
        if bad:
            raise SystemExit(1)
        print(f"vs-containers check: {len(rows) - 1} CSV lines, {len(ROWS)} rows, "
              f"{len(METRICS)} columns and charts, all well-formed", file=sys.stderr)


if __name__ == "__main__":
    main()
