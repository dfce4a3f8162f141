#!/usr/bin/env bash
# kvmm-kernel's config fragment really took: after tinyconfig + images/kvmm-kernel.config +
# olddefconfig, every option the fragment sets is so in the resulting .config, and every option
# it names exists in the kernel's Kconfig files (a typo must fail, not silently vanish).
# Uses the cached .config; makes it (seconds) when missing or stale.
#   tests/boot/kernel-config.sh [FRAGMENT CONFIG SOURCE_DIR]
# With arguments it checks only FRAGMENT against CONFIG; without, it checks kvmm's own fragment
# and then that the check itself catches a misspelt and a contradicted option.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# check FRAGMENT CONFIG SRC: prints one line per mismatch; exit status 1 if any.
check() {
	local frag=$1 config=$2 src=$3 line sym val bad=0 n=0 syms
	# Every symbol Kconfig defines, once.
	syms=$(find "$src" -name 'Kconfig*' -print0 | xargs -0 sed -n 's/^[[:space:]]*\(menu\)\{0,1\}config[[:space:]]\{1,\}\([A-Za-z0-9_]\{1,\}\).*/\2/p' | sort -u)
	[ -n "$syms" ] || fail "no Kconfig symbols found under $src"
	while IFS= read -r line; do
		if [[ "$line" =~ ^CONFIG_([A-Za-z0-9_]+)=(.*)$ ]]; then
			sym=${BASH_REMATCH[1]} val=${BASH_REMATCH[2]}
		elif [[ "$line" =~ ^#\ CONFIG_([A-Za-z0-9_]+)\ is\ not\ set$ ]]; then
			sym=${BASH_REMATCH[1]} val=n
		elif [[ "$line" =~ ^[[:space:]]*(#.*)?$ ]]; then
			continue
		else
			echo "$frag: cannot read line '$line'"
			bad=1
			continue
		fi
		n=$((n + 1))
		if ! grep -qxF "$sym" <<<"$syms"; then
			echo "CONFIG_$sym: no such option in $src's Kconfig files (typo?)"
			bad=1
		elif [ "$val" = n ]; then
			if grep -q "^CONFIG_$sym=" "$config"; then
				echo "CONFIG_$sym: fragment says not set, .config has $(grep "^CONFIG_$sym=" "$config")"
				bad=1
			fi
		elif ! grep -qxF "CONFIG_$sym=$val" "$config"; then
			echo "CONFIG_$sym: fragment says $val, .config has $(grep -E "^(# )?CONFIG_${sym}[= ]" "$config" || echo nothing)"
			bad=1
		fi
	done <"$frag"
	[ "$n" -gt 0 ] || { echo "$frag: no options in it"; bad=1; }
	[ "$bad" = 0 ] && echo "kernel-config: $n options of $frag are as asked in $config"
	return "$bad"
}

if [ $# -eq 3 ]; then
	check "$@"
	exit
fi
[ $# -eq 0 ] || fail "usage: kernel-config.sh [FRAGMENT CONFIG SOURCE_DIR]"

fragment=$TOP/images/kvmm-kernel.config
info=$("$TOP/images/kvmm-images" config) || fail "images/kvmm-images config failed"
config=$(sed -n 's/^config=//p' <<<"$info")
src=$(sed -n 's/^source=//p' <<<"$info")
[ -r "$config" ] || fail "no .config at '$config'"
check "$fragment" "$config" "$src" || fail "the fragment's options are not all in .config"

# The check must catch what it is for: a misspelt option, and one the .config contradicts.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
{ cat "$fragment"; echo "CONFIG_VIRTIO_BLKK=y"; } >"$work/typo.config"
if out=$(check "$work/typo.config" "$config" "$src"); then
	fail "a misspelt option (CONFIG_VIRTIO_BLKK) passed the check"
fi
grep -q 'CONFIG_VIRTIO_BLKK: no such option' <<<"$out" || fail "misspelt option not named: $out"
{ cat "$fragment"; echo "CONFIG_ACPI=y"; } >"$work/contra.config"
if out=$(check "$work/contra.config" "$config" "$src"); then
	fail "CONFIG_ACPI=y passed the check although kvmm-kernel has no ACPI"
fi
grep -q '^CONFIG_ACPI: fragment says y' <<<"$out" || fail "contradicted option not named: $out"
echo "kernel-config: a misspelt and a contradicted option both fail the check, as they must"
