#!/bin/sh
# Pins the console: with --serial stdio, what arrives on duet-vmm's
# standard input reaches the guest through COM1, more than a FIFO's worth
# at a time without loss.
# Usage: test_console.sh DUET_VMM GUEST_BUILD_DIR
set -u
out=$(printf 'ping\n' | timeout 60 "$1" --load "$2/console_echo.elf" 2>&1)
status=$?
if [ "$status" -eq 0 ] && printf '%s' "$out" | grep -q '^PING$'; then
	echo "ok   console: stdin reaches the guest through COM1"
else
	echo "FAIL console: exit status $status, output:"
	printf '%s\n' "$out" | tail -n 20 | sed 's/^/    | /'
	exit 1
fi
out=$(printf 'abcdefghijklmnopqrstuvwxyz\n' | timeout 60 "$1" --load "$2/console_echo.elf" 2>&1)
status=$?
if [ "$status" -eq 1 ] && printf '%s' "$out" | grep -q '^ABCDEFGHIJKLMNO$'; then
	echo "ok   console: input longer than the FIFO arrives whole"
else
	echo "FAIL console: a long line: exit status $status, output:"
	printf '%s\n' "$out" | tail -n 20 | sed 's/^/    | /'
	exit 1
fi
