#!/bin/sh
# Runs every unit-test program and ends with one line CI can read:
# "unit: N passed, N failed". A program that dies (a sanitizer report, a
# crash) counts as a failure even if it printed no result for that test.
# Usage: run.sh TEST_PROGRAM...
passed=0
failed=0
for prog in "$@"; do
	out=$(CMOCKA_MESSAGE_OUTPUT=TAP "$prog" 2>&1)
	status=$?
	ok=$(printf '%s\n' "$out" | grep -c '^ok ')
	bad=$(printf '%s\n' "$out" | grep -c '^not ok ')
	passed=$((passed + ok))
	failed=$((failed + bad))
	if [ "$status" -ne 0 ] && [ "$bad" -eq 0 ]; then
		failed=$((failed + 1))
		bad=1
	fi
	if [ "$bad" -ne 0 ]; then
		echo "FAIL $(basename "$prog") (exit status $status):"
		printf '%s\n' "$out" | tail -n 40 | sed 's/^/    /'
	else
		echo "ok   $(basename "$prog"): $ok tests"
	fi
done
echo "unit: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
