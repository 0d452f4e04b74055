"""The classroom image build (initramfs/mkimage.py): reproducible, and
holding what a classroom PC needs. Host-side; the image is booted by
test_classroom.py."""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "build"


def build(out: Path) -> str:
    env = dict(os.environ, SOURCE_DATE_EPOCH="1700000000")
    r = subprocess.run([sys.executable, str(REPO / "initramfs" / "mkimage.py"),
                        "--kernel-dir", str(BUILD / "rig" / "kernel"), "--bin", str(BUILD / "bin"),
                        "--out", str(out), "--version", "test"],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    return r.stdout


def cpio_names(img: Path) -> dict[str, str]:
    """name -> mode (octal text) of every entry, from cpio's listing."""
    raw = subprocess.run(["zstd", "-dc", str(img)], capture_output=True, check=True).stdout
    listing = subprocess.run(["cpio", "-itv", "--quiet"], input=raw, capture_output=True,
                             check=True).stdout.decode()
    out = {}
    for line in listing.splitlines():
        f = line.split()
        name = f[8] if len(f) > 8 else f[-1]
        out[name] = f[0]
    return out


def test_reproducible_and_complete():
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        said = build(Path(a))
        build(Path(b))
        for f in ("initrd.img", "vmlinuz"):
            assert (Path(a) / f).read_bytes() == (Path(b) / f).read_bytes(), \
                f"{f}: two builds from the same inputs differ"
        assert "MiB compressed" in said and "unpacked" in said, said
        names = cpio_names(Path(a) / "initrd.img")
    for need in ("init", "lib/duet/common.sh", "lib/duet/run-vmm", "lib/duet/run-display",
                 "usr/bin/duet-vmm", "usr/bin/duet-display", "usr/bin/duet-vmctl",
                 "usr/bin/runsvdir", "usr/bin/runsv", "usr/bin/sv", "usr/bin/svlogd",
                 "bin/busybox", "usr/share/seabios/bios-256k.bin",
                 "usr/share/seabios/vgabios-stdvga.bin", "usr/lib/ipxe/qemu/pxe-e1000.rom"):
        assert need in names, f"{need} is not in the image"
    modules = {os.path.basename(n).split(".ko")[0] for n in names if n.endswith(".ko")}
    for m in ("kvm_amd", "kvm_intel", "bochs", "i915", "e1000", "e1000e", "r8169", "bridge",
              "tun", "usbhid", "evdev"):
        assert m.replace("_", "-") in modules or m in modules, f"module {m} is not in the image"
    assert any(n.endswith("modules.alias") for n in names) and any(
        n.endswith("modules.dep") for n in names), "no depmod tables"
    # every library the duet binaries link is there, at the path ldd gives
    for b in ("duet-vmm", "duet-display"):
        ldd = subprocess.run(["ldd", str(BUILD / "bin" / b)], capture_output=True, text=True,
                             check=True).stdout
        for line in ldd.splitlines():
            parts = line.split("=>")
            path = (parts[1] if len(parts) > 1 else parts[0]).split("(")[0].strip()
            if path.startswith("/"):
                assert path.lstrip("/") in names, f"{b} needs {path}, not in the image"


def test_a_missing_kernel_is_a_clear_error(tmp_path):
    env = dict(os.environ, SOURCE_DATE_EPOCH="0")
    r = subprocess.run([sys.executable, str(REPO / "initramfs" / "mkimage.py"),
                        "--kernel-dir", str(tmp_path / "nokernel"), "--bin", str(BUILD / "bin"),
                        "--out", str(tmp_path / "out")], capture_output=True, text=True, env=env)
    assert r.returncode == 1 and r.stderr.startswith("mkimage: "), r.stderr
    assert "Traceback" not in r.stderr
