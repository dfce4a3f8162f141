#!/usr/bin/env bash
# Runs libFuzzer targets for a bounded time:
#
#   tests/fuzz/run.sh TARGET SECONDS    one target (virtq, virtio_pci, ..., aml)
#   tests/fuzz/run.sh all SECONDS       every target, one after the other
#
# Builds build-fuzz first (clang, -DKVMM_FUZZ=ON; incremental). Each run starts from a copy of
# tests/fuzz/corpus/TARGET in a scratch directory, so the committed corpus never changes, with
# leak detection on (and tests/fuzz/TARGET.dict as its dictionary, where there is one); what the
# run itself prints goes to build-fuzz/fuzz/TARGET.log. A crash, leak, timeout or out-of-memory
# stops the target and fails the script: the input that did it is kept as
# build-fuzz/fuzz/TARGET/crash-* (leak-*, timeout-*, oom-*), and the line printed says how to run
# it again. Ends with one line per target:
#
#   fuzz TARGET: N executions in S s, 0 crashes
set -euo pipefail
cd "$(dirname "$0")/../.."

targets=(virtq virtio_pci virtio_mmio virtio_blk virtio_net serial i8042 bzimage control aml)
build=${KVMM_FUZZ_BUILD:-build-fuzz}

usage() {
	echo "usage: $0 TARGET|all SECONDS   (targets: ${targets[*]})" >&2
	exit 2
}
[ $# -eq 2 ] || usage
what=$1 seconds=$2
[[ $seconds =~ ^[0-9]+$ ]] && [ "$seconds" -gt 0 ] || usage
if [ "$what" = all ]; then
	run=("${targets[@]}")
else
	[[ " ${targets[*]} " == *" $what "* ]] || usage
	run=("$what")
fi

# The clang build: configured once, rebuilt when sources change.
if ! grep -qs '^KVMM_FUZZ:BOOL=ON' "$build/CMakeCache.txt"; then
	cmake -S . -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DKVMM_FUZZ=ON \
		>/dev/null
fi
cmake --build "$build" --target fuzz -j "$(nproc)" >/dev/null

out="$build/fuzz"
mkdir -p "$out"
scratch=$(mktemp -d "${TMPDIR:-/tmp}/kvmm-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:allocator_may_return_null=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

failed=0
summary=()
for t in "${run[@]}"; do
	corpus="$scratch/$t"
	mkdir -p "$corpus" "$out/$t"
	cp tests/fuzz/corpus/"$t"/* "$corpus"/
	rm -f "$out/$t"/crash-* "$out/$t"/leak-* "$out/$t"/timeout-* "$out/$t"/oom-*
	log="$out/$t.log"
	start=$(date +%s)
	rc=0
	# -close_fd_mask=3: the code under test logs what a hostile guest does, on every input;
	# libFuzzer's own lines and sanitizer reports still reach the log. timeout(1) only guards
	# against a hang libFuzzer's own -timeout does not catch.
	dict=()
	[ -f "tests/fuzz/$t.dict" ] && dict=(-dict="tests/fuzz/$t.dict")
	timeout --kill-after=10 $((seconds + 120)) "$build/tests/fuzz/fuzz_$t" "$corpus" "${dict[@]}" \
		-max_total_time="$seconds" -timeout=20 -error_exitcode=77 -timeout_exitcode=78 \
		-detect_leaks=1 -close_fd_mask=3 -print_final_stats=1 \
		-artifact_prefix="$out/$t/" >"$log" 2>&1 || rc=$?
	took=$(($(date +%s) - start))
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
	crashes=$(find "$out/$t" -maxdepth 1 -type f \
		\( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
	line="fuzz $t: ${execs:-0} executions in $took s, $crashes crashes (${rate:-0} exec/s)"
	if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then
		failed=1
		line="$line: FAILED (exit $rc)"
		echo "== fuzz $t failed; the end of $log:" >&2
		tail -n 40 "$log" >&2
		for a in "$out/$t"/crash-* "$out/$t"/leak-* "$out/$t"/timeout-* "$out/$t"/oom-*; do
			[ -e "$a" ] && echo "reproduce: $build/tests/fuzz/fuzz_$t $a" >&2
		done
	fi
	echo "$line"
	summary+=("$line")
done
if [ ${#run[@]} -gt 1 ]; then
	echo "== fuzz summary"
	printf '%s\n' "${summary[@]}"
fi
exit $failed
