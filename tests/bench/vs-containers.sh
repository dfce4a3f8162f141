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
[ "${#smoke[@]}" -gt 0 ] && n=1 retry=1 || n=$reps retry=0
# One outer guest per repetition: emulated SVM now and then takes the whole outer guest down
# (ten QEMU microvms starting at once did, twice), and then only the cells of that repetition
# not measured yet are lost, each saying so. No retry of a whole repetition (kvm-run's): the
# cells measured before the fault are kept (part-K.json is written as it goes). The smoke run,
# a test with one repetition, keeps kvm-run's retry.
for rep in $(seq 1 "$n"); do
	echo "vs-containers: repetition $rep of $n (harness run $rep)" >&2
	set +e
	KVMM_HARNESS_RETRY=$retry "$HARNESS" --timeout 1500 --rw "$out" -- "$py" "$bench/vs_containers.py" run --out "$out" \
		--reps "$reps" --rep "$rep" "${smoke[@]}" </dev/null 2>&1 | sed -u 's/\r$//' |
		tee -a "$out/run.log" >&2
	rc=${PIPESTATUS[0]}
	set -e
	if [ "$rc" -ne 0 ]; then
		# The smoke run is a test: a run that died fails it. A full run goes on.
		[ "${#smoke[@]}" -eq 0 ] || fail "the run exited $rc (log: $out/run.log)"
		echo "the outer guest died (harness exit $rc: emulated SVM; see run.log)" >"$out/fail-$rep.txt"
		echo "vs-containers: repetition $rep lost: harness exit $rc" >&2
	fi
done
"$py" "$bench/vs_containers.py" merge --out "$out" --reps "$reps" "${smoke[@]}"
check=()
[ "${#smoke[@]}" -gt 0 ] && check=(--check)
"$py" "$bench/vs_containers_report.py" --out "$out" "${check[@]}"
cat "$out/results.md"
echo "vs-containers: $out/results.csv, $out/results.md, $(ls "$out"/*.png | wc -l) charts in $out" >&2
