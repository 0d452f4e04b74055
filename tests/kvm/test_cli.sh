#!/bin/sh
# Pins duet-vmm's edge: every bad argument, missing or unreadable file and
# missing or fake /dev/kvm gives exactly one clear line on stderr and exit
# status 2, never a crash or a sanitizer report; --help lists every option.
# Usage: test_cli.sh DUET_VMM GUEST_BUILD_DIR
set -u
vmm=$1
guests=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0
failed=0

# expect_error NAME PATTERN CMD...: CMD must exit 2 with one stderr line
# matching PATTERN.
expect_error() {
	name=$1
	pattern=$2
	shift 2
	"$@" >"$work/out" 2>"$work/err"
	status=$?
	lines=$(wc -l <"$work/err")
	if [ "$status" -eq 2 ] && [ "$lines" -eq 1 ] && grep -qE -- "$pattern" "$work/err"; then
		passed=$((passed + 1))
		echo "ok   cli: $name -> $(cat "$work/err")"
	else
		failed=$((failed + 1))
		echo "FAIL cli: $name: exit status $status (want 2), $lines stderr lines (want 1 matching '$pattern'):"
		head -n 20 "$work/err" | sed 's/^/    | /'
	fi
}

hello=$guests/real_hello.bin
printf 'not an image' >"$work/junk.elf"
printf '\177ELF\002\001\001' >"$work/truncated.elf"
mkdir "$work/dir"
cp "$hello" "$work/secret.bin"
chmod 600 "$work/secret.bin"

expect_error "no arguments" "nothing to run" "$vmm"
expect_error "unknown option" "unknown option '--frobnicate'" "$vmm" --frobnicate
expect_error "missing value" "--memory: needs a value" "$vmm" --load "$hello" --memory
expect_error "bad memory" "--memory: 'lots'" "$vmm" --memory lots --load "$hello"
expect_error "too much memory" "more than this machine has" "$vmm" --memory 64T --load "$hello"
expect_error "bad cpus" "--cpus: '0'" "$vmm" --cpus 0 --load "$hello"
expect_error "bad address" "--load: 'zz' is not an address" "$vmm" --load "$hello@zz"
expect_error "stray argument" "unexpected argument 'extra'" "$vmm" --load "$hello" extra
expect_error "missing file" "image '/nonexistent/guest.bin': No such file" \
	"$vmm" --load /nonexistent/guest.bin
expect_error "directory as image" "image '$work/dir': not a regular file" "$vmm" --load "$work/dir"
expect_error "junk flat image above 1 MiB" "must load below 1 MiB" \
	"$vmm" --load "$work/junk.elf@0x200000"
expect_error "truncated ELF" "ELF file is truncated" "$vmm" --load "$work/truncated.elf"
expect_error "serial file in missing dir" "serial output '/nonexistent/x'" \
	"$vmm" --serial /nonexistent/x --load "$hello"
# --disk: bad specs and NBD URIs are refused while the options are read;
# an NBD server that is not there, or says no, when the disk is opened.
expect_error "disk: unknown key" "--disk 'file=a.img,cache=none': unknown option 'cache'" \
	"$vmm" --load "$hello" --disk file=a.img,cache=none
expect_error "nbd: no host" "--disk 'nbd:///win': no host" "$vmm" --load "$hello" --disk nbd:///win
expect_error "nbd: bad port" "port '99999' is not a number from 1 to 65535" \
	"$vmm" --load "$hello" --disk nbd://server:99999/win
expect_error "nbd: TLS" "TLS \(nbds://\) is not supported" "$vmm" --load "$hello" --disk nbds://server/win
expect_error "nbd: unknown scheme" "unknown scheme 'iscsi://'" \
	"$vmm" --load "$hello" --disk iscsi://server/win
expect_error "nbd: user name" "a user name \(USER@\) is not supported" \
	"$vmm" --load "$hello" --disk nbd://me@server/win
expect_error "nbd: query" "unknown query parameter 'tls=on'" \
	"$vmm" --load "$hello" --disk "nbd://server/win?tls=on"
expect_error "nbd+unix: no socket" "nbd\+unix:// needs \?socket=PATH" \
	"$vmm" --load "$hello" --disk "nbd+unix:///win"
expect_error "nbd: bad escape" "broken %-escape" "$vmm" --load "$hello" --disk "nbd://server/w%zz"
expect_error "nbd: file= too" "file= and an nbd:// URI do not go together" \
	"$vmm" --load "$hello" --disk nbd://server/win,file=a.img
expect_error "nbd: bad timeout" "timeout= takes whole seconds" \
	"$vmm" --load "$hello" --disk nbd://server/win,timeout=soon
expect_error "timeout on a file" "timeout= is for nbd:// disks" \
	"$vmm" --load "$hello" --disk file=a.img,timeout=5
printf '[vm]\nload = %s\ndisk = nbd://server:0/win\n' "$hello" >"$work/nbd.ini"
expect_error "nbd: bad URI in a guest file" "nbd.ini:3: disk 'nbd://server:0/win': port '0'" \
	"$vmm" --config "$work/nbd.ini"
expect_error "nbd: no server" "--disk 'nbd://127.0.0.1:1/win': cannot connect to the NBD server: Connection refused" \
	"$vmm" --bios --serial none --disk nbd://127.0.0.1:1/win
expect_error "nbd: unknown host" "cannot resolve 'no-such-host.invalid'" \
	"$vmm" --bios --serial none --disk nbd://no-such-host.invalid/win
if command -v qemu-nbd >/dev/null; then
	truncate -s 1M "$work/golden.img"
	qemu-nbd --fork --pid-file="$work/nbd.pid" -k "$work/nbd.sock" -t -r -x golden -f raw \
		"$work/golden.img"
	expect_error "nbd: no such export" "server has no export named 'other'" \
		"$vmm" --bios --serial none --disk "nbd+unix:///other?socket=$work/nbd.sock"
	expect_error "nbd: read-only export" "the export is read-only on the server; add ,ro" \
		"$vmm" --bios --serial none --disk "nbd+unix:///golden?socket=$work/nbd.sock"
	kill "$(cat "$work/nbd.pid")"
else
	echo "FAIL cli: qemu-nbd (qemu-utils) is missing"
	failed=$((failed + 1))
fi
if command -v setpriv >/dev/null && [ "$(id -u)" -eq 0 ]; then
	expect_error "unreadable file" "image '$work/secret.bin': Permission denied" \
		setpriv --reuid=65534 --regid=65534 --clear-groups "$vmm" --load "$work/secret.bin"
fi
if unshare -m true 2>/dev/null; then
	expect_error "no /dev/kvm" "/dev/kvm: no such device: this machine has no KVM" \
		unshare -m sh -c 'mount -t tmpfs none /dev && exec "$0" "$@"' "$vmm" --load "$hello"
	expect_error "/dev/kvm is not KVM" "/dev/kvm: not a KVM device" \
		unshare -m sh -c 'mount --bind /dev/null /dev/kvm && exec "$0" "$@"' "$vmm" --load "$hello"
else
	echo "FAIL cli: cannot make a mount namespace to hide /dev/kvm (need root)"
	failed=$((failed + 1))
fi

# --help: exit 0, and every long option in the source appears in it.
if "$vmm" --help >"$work/help" 2>&1; then
	missing=""
	for opt in $(sed -n 's/^[[:space:]]*{ "\([a-z-]*\)", .*/\1/p' vmm/options.c); do
		grep -q -- "--$opt" "$work/help" || missing="$missing --$opt"
	done
	if [ -z "$missing" ]; then
		passed=$((passed + 1))
		echo "ok   cli: --help lists every option"
	else
		failed=$((failed + 1))
		echo "FAIL cli: --help does not mention:$missing"
	fi
else
	failed=$((failed + 1))
	echo "FAIL cli: --help exited non-zero"
fi
echo "cli: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
