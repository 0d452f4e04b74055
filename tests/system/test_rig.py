"""Tests of the rig itself: nested /dev/kvm works, and every way a run can
go wrong ends in a bounded time with a readable message.

Each test that boots costs ~2.5-3.5 s (or its timeout); the passing-path
checks share one boot.
"""

import hashlib
import shutil
import subprocess
import time

import pytest

import rig
from rig import KVM_SMOKE, RigError, assert_ok, run_rig

pytestmark = pytest.mark.skipif(shutil.which(rig.QEMU) is None,
                                reason=f"{rig.QEMU} not installed (package qemu-system-x86)")

BLOB = bytes(range(256)) * 64  # every byte value, 16 KiB
SMOKE_MISMATCH = "kvm-smoke: FAIL: guest wrote 45 (0x002d) to port 0x10, expected 55 (0x0037)"


# ------------------------------------------------------------ no boot needed

def test_kvm_modules_resolve_in_dependency_order():
    order = [p.rsplit("/", 1)[1] for p in rig.resolve_modules(["kvm_amd"])]
    assert order[-1] == "kvm-amd.ko"
    assert set(order) == {"irqbypass.ko", "kvm.ko", "ccp.ko", "kvm-amd.ko"}
    assert order.index("irqbypass.ko") < order.index("kvm.ko")


def test_shared_libraries():
    assert rig.shared_libraries(KVM_SMOKE) == []  # static
    libs = rig.shared_libraries("/usr/bin/stat")
    assert any(lib.endswith("/libc.so.6") for lib in libs)
    assert any("ld-linux" in lib for lib in libs)


def test_cpio_is_readable_by_cpio(tmp_path):
    c = rig.Cpio()
    c.file("a/b/c.txt", b"hello", 0o600)
    c.symlink("a/link", "b/c.txt")
    c.chardev("dev/console", 5, 1)
    listing = subprocess.run(["cpio", "-t", "-v", "--quiet"], input=c.finish(),
                             capture_output=True, check=True).stdout.decode()
    names = [line.split()[-1] if "->" not in line else line.split()[-3]
             for line in listing.splitlines()]
    assert names == ["a", "a/b", "a/b/c.txt", "a/link", "dev", "dev/console"]


# --------------------------------------------------------------- passing run

@pytest.fixture(scope="module")
def good_run(tmp_path_factory):
    indir = tmp_path_factory.mktemp("rig-in")
    (indir / "input.txt").write_text("from the host\n")
    command = """
set -e
kvm-smoke > /out/smoke.txt
cat /out/smoke.txt
mkdir -p /out/sub
cp /etc/duet/input.txt /out/sub/echo.txt
cp /etc/blob.bin /out/sub/blob.bin
# run by path: busybox sh runs its own applet for a bare 'sha256sum'
/bin/sha256sum --version | head -1 > /out/sha256sum-version.txt
/bin/sha256sum /etc/blob.bin > /out/sha.txt
"""
    return run_rig(command,
                   files={"/etc/duet/input.txt": str(indir / "input.txt"), "/etc/blob.bin": BLOB},
                   binaries=[str(KVM_SMOKE), "/usr/bin/sha256sum"],
                   timeout=60)


def test_kvm_smoke_passes_on_nested_kvm(good_run):
    assert_ok(good_run)
    smoke = good_run.files["smoke.txt"].decode()
    assert smoke.startswith("kvm-smoke: PASS: guest wrote 55 (0x0037) to port 0x10, then KVM_EXIT_HLT")
    assert "kvm-smoke: PASS" in good_run.serial  # the command's output is on the console
    assert "SVM: kvm: Nested Paging enabled" in good_run.serial


def test_out_files_come_back(good_run):
    assert_ok(good_run)
    f = good_run.files
    assert set(f) == {"smoke.txt", "sub/echo.txt", "sub/blob.bin", "sha256sum-version.txt", "sha.txt"}
    assert f["sub/echo.txt"] == b"from the host\n"
    assert f["sub/blob.bin"] == BLOB
    # a dynamically linked host binary ran with its libraries
    assert f["sha256sum-version.txt"].startswith(b"sha256sum (GNU coreutils)")
    assert f["sha.txt"].decode().split() == [hashlib.sha256(BLOB).hexdigest(), "/etc/blob.bin"]


# ------------------------------------------------------------- failing runs

def test_broken_guest_fails_with_a_readable_message():
    r = run_rig("echo running the broken guest; kvm-smoke broken", binaries=[str(KVM_SMOKE)],
                timeout=60)
    assert r.status == 1
    with pytest.raises(AssertionError) as e:
        assert_ok(r)
    msg = str(e.value)
    first = msg.splitlines()[0]
    assert "'echo running the broken guest; kvm-smoke broken'" in first
    assert "failed with exit status 1" in first
    assert "--- serial log, last 40 lines ---" in msg
    tail = msg.split("--- serial log, last 40 lines ---\n", 1)[1].splitlines()
    assert tail[-1] == "--- end of serial log ---"
    assert len(tail) <= 41
    assert SMOKE_MISMATCH in tail
    assert "running the broken guest" in tail


def test_hanging_command_is_killed_in_guest():
    start = time.monotonic()
    with pytest.raises(RigError) as e:
        run_rig("echo partial > /out/partial.txt; echo about to hang; sleep 1000",
                kvm=False, timeout=10)
    assert time.monotonic() - start < 12
    msg = str(e.value)
    assert "timed out: killed in the guest after" in msg.splitlines()[0]
    assert "about to hang" in msg  # serial tail
    assert "--- end of serial log ---" in msg
    # what the command left in /out still comes back
    assert e.value.result is not None
    assert e.value.result.files == {"partial.txt": b"partial\n"}


def test_hung_guest_is_killed_from_host():
    # Suspend-to-idle with no wakeup source: the whole guest stops, so only
    # the host-side bound can end the run.
    start = time.monotonic()
    with pytest.raises(RigError) as e:
        run_rig("echo freeze > /sys/power/state", kvm=False, timeout=6)
    assert time.monotonic() - start < 8
    msg = str(e.value)
    assert "QEMU killed after 6 s, while the command ran" in msg.splitlines()[0]
    assert "PM: suspend entry" in msg


def test_guest_kernel_crash_is_reported():
    with pytest.raises(RigError) as e:
        run_rig("echo c > /proc/sysrq-trigger", kvm=False, timeout=30)
    msg = str(e.value)
    assert "no exit status from the guest" in msg.splitlines()[0]
    assert "--- serial log, last 40 lines ---" in msg
    assert "Kernel panic - not syncing: sysrq triggered crash" in e.value.serial


def test_missing_svm_fails_loudly():
    # A later -cpu overrides the rig's `-cpu max`: no SVM, so kvm_amd refuses.
    with pytest.raises(RigError) as e:
        run_rig("true", qemu_args=["-cpu", "max,-svm"], timeout=30)
    msg = str(e.value)
    assert "guest setup failed: insmod kvm-amd.ko failed" in msg.splitlines()[0]
