#!/usr/bin/env bash
# The same workload as a bare process, in crun, in podman, in kvmm (vhost off and on) and in QEMU
# microvm, on one machine in one invocation: start, memory, cpu, disk, network, density.
# Numbers, not pass/fail, except that --smoke (1 repetition, small sizes, density of 3) fails
# when a row, column, CSV line or chart is missing or malformed.
#   tests/bench/vs-containers.sh [--reps N] [--smoke] [--out DIR] [--kvmm PATH]
# Writes DIR/results.csv, DIR/results.md (printed too), DIR/*.png; DIR defaults to
# bench-work/vs-containers beside kvmm (build/). Needs root (namespaces, cgroups, veth, TAP).
# Where this machine has no /dev/kvm every row runs inside tests/harness/kvm-run's outer guest,
# so all of them share one environment: building happens here first, the report after.
source "$(dirname "$0")/../boot/lib.sh"
reps=5 smoke=() out='' KVMM=$TOP/build/kvmm
while [ $# -gt 0 ]; do
	case $1 in
	--reps) reps=${2:?--reps needs a number}; shift 2 ;;
	--smoke) smoke=(--smoke); shift ;;
	--out) out=${2:?--out needs a directory}; shift 2 ;;
	--kvmm) KVMM=${2:?--kvmm needs a path}; shift 2 ;;
	*) echo "usage: vs-containers.sh [--reps N] [--smoke] [--out DIR] [--kvmm PATH]" >&2; exit 2 ;;
	esac
done
[[ $reps =~ ^[1-9][0-9]*$ ]] || fail "--reps '$reps': expected a positive number"
[ -x "$KVMM" ] || fail "$KVMM not built (cmake --build build)"
KVMM=$(realpath "$KVMM")
out=$(realpath -m "${out:-$(dirname "$KVMM")/bench-work/vs-containers}")
mkdir -p "$out"
rm -f "$out"/results.csv "$out"/results.md "$out"/meta.json "$out"/*.png "$out"/part-*.json
for t in cc gnuplot mkfs.ext4 ip; do
	command -v $t >/dev/null || fail "$t not found (.ci/install-deps)"
done
# The real interpreter, not a version manager's shim: the shim is a shell script that the
# outer guest would run for every call.
py=$(python3 -c 'import sys; print(sys.executable)')
bench=$TOP/tests/bench

"$py" "$bench/vs_containers.py" prepare --out "$out" --kvmm "$KVMM"
rm -f "$out"/part-*.json "$out"/fail-*.txt "$out/run.log"
[ "${#smoke[@]}" -gt 0 ] && n=1 || n=$reps
# The outer guest's memory: two ext4 images on its tmpfs (up to 576 MiB each once written), the
# root copies and ten VMs at once left 2 GiB (kvm-run's default) short, and emulated SVM fell over
# more often under that pressure. The host sees only what the outer guest touches.
export KVMM_HARNESS_MEM=${KVMM_HARNESS_MEM:-4G}
# The run inside prints a line at least once a minute while it lives (a heartbeat while a cell
# runs): an outer guest silent for 4 minutes has locked up without panicking (seen under
# emulated SVM, spinning both its CPUs), and is stopped rather than waited out.
stall=${KVMM_VSC_STALL:-240}

# One harness run of repetition $1 (extra arguments for vs_containers.py run), its output on
# stderr and in run.log; a run.log that stops growing for $stall seconds stops it (exit 142).
harness_rep() {
	local rep=$1 hpid size last=-1 quiet=0
	shift
	KVMM_HARNESS_RETRY=0 "$HARNESS" --timeout 1500 --rw "$out" -- "$py" "$bench/vs_containers.py" run \
		--out "$out" --reps "$reps" --rep "$rep" "${smoke[@]}" "$@" </dev/null \
		> >(sed -u 's/\r$//' | tee -a "$out/run.log" >&2) 2>&1 &
	hpid=$!
	while kill -0 "$hpid" 2>/dev/null; do
		sleep 5
		size=$(stat -c %s "$out/run.log" 2>/dev/null || echo 0)
		if [ "$size" != "$last" ]; then
			last=$size quiet=0
		elif [ $((quiet += 5)) -ge "$stall" ]; then
			echo "vs-containers: nothing from the outer guest for $stall s: stopping it" >&2
			kill -TERM "$hpid" 2>/dev/null
			wait "$hpid" 2>/dev/null
			return 142
		fi
	done
	wait "$hpid"
}

# One outer guest per repetition: emulated SVM now and then takes the whole outer guest down
# (a stack-guard fault in the outer kernel, a soft lockup, a silent hang; ten QEMU microvms
# starting at once did it twice). part-K.json is written before every cell, so a fresh outer
# guest resumes the repetition there: the cell it died in is measured once more, and a cell two
# outer guests died in is unavailable, saying so; at most 4 outer guests a repetition. kvm-run's
# own retry (which would start the repetition over) is off. A run that fails for another reason
# (the bench's own error, exit 1) is not resumed. The smoke run, a test, fails when its one
# repetition does not finish.
for rep in $(seq 1 "$n"); do
	resume=()
	for attempt in 1 2 3 4; do
		echo "vs-containers: repetition $rep of $n (outer guest $attempt)" >&2
		set +e
		harness_rep "$rep" "${resume[@]}"
		rc=$?
		set -e
		[ "$rc" -eq 0 ] && break
		case $rc in
		124) why="the outer guest ran out of its 1500 s" ;;
		125) why="the outer guest died (kvm-run exit 125: emulated SVM; see run.log)" ;;
		142) why="the outer guest went silent for $stall s (emulated SVM; see run.log)" ;;
		*) why="the run exited $rc (see run.log)" ;;
		esac
		echo "$why" >"$out/fail-$rep.txt"
		echo "vs-containers: repetition $rep, outer guest $attempt: $why" >&2
		case $rc in 124 | 125 | 142) ;; *) break ;; esac
		resume=(--resume)
	done
	[ "$rc" -eq 0 ] && rm -f "$out/fail-$rep.txt"
	[ "$rc" -eq 0 ] || [ "${#smoke[@]}" -eq 0 ] || fail "repetition $rep did not finish: $(<"$out/fail-$rep.txt")"
done
"$py" "$bench/vs_containers.py" merge --out "$out" --reps "$reps" "${smoke[@]}"
check=()
[ "${#smoke[@]}" -gt 0 ] && check=(--check)
"$py" "$bench/vs_containers_report.py" --out "$out" "${check[@]}"
cat "$out/results.md"
echo "vs-containers: $out/results.csv, $out/results.md, $(ls "$out"/*.png | wc -l) charts in $out" >&2
