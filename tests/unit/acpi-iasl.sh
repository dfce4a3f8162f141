#!/usr/bin/env bash
# The ACPI tables kvmm builds, disassembled by Debian's iasl (acpica-tools): every table must
# disassemble with no error or warning, for 1, 2 and 64 vCPUs; the DSDT's disassembly must
# show the devices kvmm has.
#   tests/unit/acpi-iasl.sh TEST_ACPI WORKDIR
set -euo pipefail
TEST_ACPI=${1:?usage: acpi-iasl.sh TEST_ACPI WORKDIR} WORK=${2:?}
command -v iasl >/dev/null || { echo "FAIL: no iasl (Debian's acpica-tools)"; exit 1; }
for n in 1 2 64; do
	dir=$WORK/cpus-$n
	rm -rf "$dir"
	mkdir -p "$dir"
	"$TEST_ACPI" --dump "$dir" "$n"
	for t in "$dir"/*.dat; do
		name=$(basename "$t" .dat)
		out=$(cd "$dir" && iasl -d "$name.dat" 2>&1) || { echo "$out"; echo "FAIL: iasl -d $name ($n vCPUs)"; exit 1; }
		# iasl reports problems as "Error NNNN", "Warning NNNN" or "Remark"s in its summary.
		if grep -Eiq '(^|[^a-z])(error|warning)s?[ :]+[1-9]|Invalid|Unknown' <<<"$out" ||
			grep -Eq '^\s*\*\*\*' "$dir/$name.dsl"; then
			echo "$out"
			grep -n '\*\*\*' "$dir/$name.dsl" || true
			echo "FAIL: iasl -d $name ($n vCPUs) complained"
			exit 1
		fi
	done
	dsl=$dir/DSDT.dsl
	for want in 'PNP0A03' 'PNP0501' 'PNP0303' 'PNP0B00' '_S5_' '_PRT' 'ACPI0007' 'LNRO0005'; do
		grep -q "$want" "$dsl" || { echo "FAIL: the DSDT ($n vCPUs) lacks $want"; exit 1; }
	done
	cpus=$(grep -c 'Device (C[0-9A-F]\{3\})' "$dsl")
	[ "$cpus" -eq "$n" ] || { echo "FAIL: the DSDT has $cpus processor devices, want $n"; exit 1; }
	lapics=$(grep -c 'Subtable Type : 00 \[Processor Local APIC\]' "$dir/APIC.dsl")
	[ "$lapics" -eq "$n" ] || { echo "FAIL: the MADT has $lapics local APICs, want $n"; exit 1; }
	echo "acpi-iasl: $n vCPUs: $(ls "$dir"/*.dat | xargs -n1 basename | tr '\n' ' ')disassembled cleanly"
done
