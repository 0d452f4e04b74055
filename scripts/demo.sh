#!/bin/sh
# make demo: what duet can show today. Runs duet-vmm on this machine's
# /dev/kvm with the built-in test guests, printing each guest's console.
# Usage: demo.sh BUILD_DIR
set -eu
build=$1
vmm=$build/bin/duet-vmm
for g in real_hello.bin protected_hello.32.elf long_memory.elf; do
	echo "== duet-vmm --load $g"
	status=0
	"$vmm" --name "$g" --memory 64M --load "$build/guests/$g" || status=$?
	echo "== guest ended, duet-vmm exit status $status"
done
