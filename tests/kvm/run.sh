#!/bin/sh
# The kvm tier: runs each test guest under duet-vmm on /dev/kvm and checks
# what its source says a passing run looks like (see tests/guests/guests.mk).
# Prints one line per guest, the reason and the output tail for a failure,
# and ends with "kvm: N passed, N failed".
# Usage: run.sh DUET_VMM GUEST_BUILD_DIR GUEST_SOURCE...
set -u
vmm=$1
outdir=$2
shift 2
timeout_s=${KVM_TEST_TIMEOUT:-60}

if [ ! -e /dev/kvm ]; then
	echo "kvm: /dev/kvm is missing on this machine; the kvm tier cannot run" >&2
	exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0
failed=0

# field SRC KEY: the values of "KEY: value" lines in SRC's comments.
field() {
	sed -n "s/^.*$2: *\(.*[^ ]\) *\$/\1/p" "$1"
}

for src in "$@"; do
	rel=${src#tests/guests/}
	case "$src" in
	*.S) bin=$outdir/${rel%.S}.bin ;;
	*.c) bin=$outdir/${rel%.c}.elf ;;
	*) continue ;;
	esac
	name=${rel%.*}
	want_exit=$(field "$src" expect-exit | head -n 1)
	want_exit=${want_exit:-0}
	args=$(field "$src" vmm-args | head -n 1)
	serial=$work/serial.log
	errlog=$work/stderr.log
	start=$(date +%s.%N)
	# shellcheck disable=SC2086
	timeout "$timeout_s" "$vmm" --name "$name" $args --serial "$serial" \
		--load "$bin" >"$work/stdout.log" 2>"$errlog"
	status=$?
	elapsed=$(awk "BEGIN { printf \"%.2f\", $(date +%s.%N) - $start }")
	problems=""
	if [ "$status" -eq 124 ]; then
		problems="timed out after ${timeout_s} s"
	elif [ "$status" -ne "$want_exit" ]; then
		problems="exit status $status, expected $want_exit"
	fi
	field "$src" expect-serial >"$work/expect"
	while IFS= read -r line; do
		if ! grep -qF -- "$line" "$serial" 2>/dev/null; then
			problems="${problems:+$problems; }serial output lacks '$line'"
		fi
	done <"$work/expect"
	if [ -z "$problems" ]; then
		passed=$((passed + 1))
		echo "ok   $name (${elapsed} s)"
	else
		failed=$((failed + 1))
		echo "FAIL $name: $problems"
		echo "    serial tail:"
		tail -n 20 "$serial" 2>/dev/null | sed 's/^/    | /'
		echo "    duet-vmm stderr:"
		if [ "$(wc -l <"$errlog")" -gt 24 ]; then
			head -n 16 "$errlog" | sed 's/^/    | /'
			echo "    | ..."
			tail -n 8 "$errlog" | sed 's/^/    | /'
		else
			sed 's/^/    | /' "$errlog"
		fi
	fi
done
echo "kvm: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
