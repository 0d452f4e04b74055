#!/bin/sh
# Proves the kvm tier catches a broken guest: runs tests/kvm/run.sh on the
# guests under tests/guests/broken/ and requires it to fail with a message
# that names the guest, the wrong exit status, the missing output and the
# serial tail.
# Usage: selftest.sh DUET_VMM GUEST_BUILD_DIR
set -u
out=$(sh tests/kvm/run.sh "$1" "$2" tests/guests/broken/bad_exit.S 2>&1)
status=$?
fail() {
	echo "kvm self-test FAILED: $1"
	printf '%s\n' "$out" | sed 's/^/    /'
	exit 1
}
[ "$status" -ne 0 ] || fail "run.sh passed a broken guest"
for want in "FAIL broken/bad_exit" "exit status 3, expected 0" \
	"serial output lacks 'all good'" "serial tail:" "| X" \
	"kvm: 0 passed, 1 failed"; do
	printf '%s\n' "$out" | grep -qF -- "$want" || fail "message lacks '$want'"
done
echo "ok   kvm self-test: a broken guest fails the tier, reported as:"
printf '%s\n' "$out" | head -n 3 | sed 's/^/    /'
