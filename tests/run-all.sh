#!/usr/bin/env bash
# Every test kvmm has: formatting, the unit tests (plain and under ASan+UBSan), the bad-input
# tests, the fuzz targets for a bounded time, and the boot tests, which run where /dev/kvm exists
# (inside tests/harness/kvm-run's outer QEMU guest when this machine has none).
set -euo pipefail
cd "$(dirname "$0")/.."

.ci/install-deps

echo "== clang-format"
mapfile -t sources < <(git ls-files '*.c' '*.h' 2>/dev/null || find . -name '*.[ch]' -not -path './build*')
clang-format --dry-run --Werror "${sources[@]}"

jobs=$(nproc)
echo "== build"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$jobs"

echo "== build with ASan+UBSan"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DKVMM_SANITIZE=ON >/dev/null
cmake --build build-asan -j "$jobs"

echo "== unit tests under ASan+UBSan"
ctest --test-dir build-asan -L unit --output-on-failure

echo "== unit and bad-input tests"
ctest --test-dir build -L 'unit|badinput' --output-on-failure

# libFuzzer targets over what a guest or a file reaches (tests/fuzz), from the committed corpus,
# 30 s each: a clang build (build-fuzz) and about 5 minutes in all.
echo "== fuzz (30 s per target)"
bash tests/fuzz/run.sh all 30

# kvmm-kernel's config fragment against the .config it gives (configures the kernel: seconds).
echo "== guest image tests"
ctest --test-dir build -L images --output-on-failure

# Verbose: the boot tests print the guest's console and how long each boot took.
echo "== boot tests (where /dev/kvm exists: see tests/harness/README.md)"
ctest --test-dir build -L boot --output-on-failure -V

# Numbers, not tests: the same run's virtio-blk read beside the host's (the TCP rates with and
# without vhost are in the boot_virtio_net tests' output above), pause/resume latency and
# reset-to-marker time beside a fresh process's boot, boot times beside QEMU microvm, and what
# an idle and a redrawing --display sdl costs the host beside --display none. A failure here is
# reported and does not fail the run.
echo "== benchmarks"
bash tests/bench/blk-read.sh build/kvmm 128 || echo "benchmark blk-read did not finish (not a test)"
bash tests/bench/lifecycle.sh build/kvmm 10 || echo "benchmark lifecycle did not finish (not a test)"
bash tests/bench/boot.sh build/kvmm 5 || echo "benchmark boot did not finish (not a test)"
bash tests/bench/display.sh build/kvmm 10 || echo "benchmark display did not finish (not a test)"
