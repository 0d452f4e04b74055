#!/usr/bin/env python3
"""Build the duet classroom image: OUT/vmlinuz and OUT/initrd.img.

From Debian's kernel package (unpacked, with modules.dep), busybox-static,
runit (its .deb), the duet binaries and the shared libraries they link,
SeaBIOS, the VGA BIOS and the iPXE ROMs, and this folder's /init and
helpers (lib/). Only the modules modules.list names, with what they
depend on, go in.

Reproducible: the cpio entries come in a fixed order with every timestamp
set to SOURCE_DATE_EPOCH (0 when unset) and zstd output depends only on its
input, so the same inputs give the same bytes. Prints the sizes.

    mkimage.py --kernel-dir build/rig/kernel --bin build/bin --out build/netboot/duet
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from cpio import Cpio  # noqa: E402
from hostfiles import HostFileError, shared_libraries  # noqa: E402

BINARIES = ["duet-vmm", "duet-display", "duet-vmctl"]
RUNIT = ["usr/bin/runsvdir", "usr/bin/runsv", "usr/bin/sv", "usr/bin/svlogd"]
# Firmware duet-vmm loads for a BIOS guest, at the paths it looks in.
FIRMWARE = [
    "/usr/share/seabios/bios-256k.bin",
    "/usr/share/seabios/vgabios-stdvga.bin",
    "/usr/lib/ipxe/qemu/pxe-e1000.rom",
    "/usr/lib/ipxe/qemu/pxe-virtio.rom",
]
HELPERS = ["common.sh", "udhcpc.script", "run-display", "run-vmm"]


class BuildError(Exception):
    pass


def read_module_list(path: Path) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    group = None
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.fullmatch(r"\[([a-z]+)\]", line)
        if m:
            group = groups.setdefault(m.group(1), [])
        elif group is None:
            raise BuildError(f"{path}:{lineno}: a module before any [group]")
        else:
            group.append(line)
    return groups


def modules_dep(moddir: Path) -> dict[str, tuple[str, list[str]]]:
    out = {}
    dep = moddir / "modules.dep"
    if not dep.exists():
        raise BuildError(f"{dep} is missing (run depmod on the unpacked kernel)")
    for line in dep.read_text().splitlines():
        path, _, deps = line.partition(":")
        name = os.path.basename(path).split(".ko")[0].replace("-", "_")
        out[name] = (path, deps.split())
    return out


def resolve(names: list[str], table) -> list[str]:
    """Module paths for `names` and everything they depend on, in
    modules.dep's own order (stable)."""
    want: set[str] = set()
    by_path = {p: n for n, (p, _) in table.items()}

    def visit(key: str) -> None:
        path, deps = table[key]
        if path in want:
            return
        want.add(path)
        for d in deps:
            visit(by_path[d])

    for n in names:
        key = n.replace("-", "_")
        if key not in table:
            raise BuildError(f"modules.list: no module '{n}' in this kernel")
        visit(key)
    return sorted(want)


def build(args) -> tuple[Path, Path]:
    epoch = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
    kdir = Path(args.kernel_dir)
    releases = sorted(p.name for p in (kdir / "lib" / "modules").iterdir())
    if len(releases) != 1:
        raise BuildError(f"expected one kernel release in {kdir}/lib/modules, found {releases}")
    rel = releases[0]
    moddir = kdir / "lib" / "modules" / rel
    vmlinuz = kdir / "boot" / f"vmlinuz-{rel}"

    groups = read_module_list(HERE / "modules.list")
    table = modules_dep(moddir)
    mods = resolve([m for g in groups.values() for m in g], table)
    always = [m.replace("-", "_") for m in groups.get("always", [])]

    c = Cpio(mtime=epoch)
    for d in ("bin", "sbin", "usr/bin", "usr/sbin", "proc", "sys", "dev", "run", "tmp",
              "etc", "root", "var", "lib/duet"):
        c.mkdir(d)
    c.symlink("var/run", "/run")
    c.symlink("var/log", "/run/log")
    c.chardev("dev/console", 5, 1)
    c.chardev("dev/null", 1, 3, 0o666)

    # busybox and its applets
    bb = Path(args.busybox)
    c.file("bin/busybox", bb.read_bytes(), 0o755)
    listing = subprocess.run([str(bb), "--list-full"], capture_output=True, text=True, check=True)
    for applet in sorted(listing.stdout.split()):
        if applet not in ("bin/busybox", "linuxrc", "init", "sbin/init"):
            c.symlink(applet, "/bin/busybox")

    # runit's supervisor, from its package
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["dpkg-deb", "-x", args.runit_deb, tmp], check=True)
        for b in RUNIT:
            c.file(b, (Path(tmp) / b).read_bytes(), 0o755)
        runit_libs = [lib for b in RUNIT for lib in shared_libraries(Path(tmp) / b)]

    # duet and the libraries it links
    libs: set[str] = set(runit_libs)
    for name in BINARIES:
        b = Path(args.bin) / name
        if not b.is_file():
            raise BuildError(f"{b} is missing (make all)")
        c.file(f"usr/bin/{name}", b.read_bytes(), 0o755)
        libs.update(shared_libraries(b))
    for lib in sorted(libs):
        c.file(lib, Path(lib).read_bytes(), 0o755)

    for fw in FIRMWARE:
        c.file(fw, Path(fw).read_bytes(), 0o644)

    # kernel modules, with depmod's tables for exactly these
    with tempfile.TemporaryDirectory() as tmp:
        stage = Path(tmp) / "lib" / "modules" / rel
        for m in mods:
            (stage / m).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(moddir / m, stage / m)
        for f in ("modules.order", "modules.builtin", "modules.builtin.modinfo"):
            shutil.copyfile(moddir / f, stage / f)
        subprocess.run([args.depmod, "-b", tmp, rel], check=True)
        for f in sorted(stage.rglob("*")):
            if f.is_file():
                c.file(f"lib/modules/{rel}/{f.relative_to(stage)}", f.read_bytes(), 0o644)

    # /init and its helpers
    c.file("init", (HERE / "init").read_bytes(), 0o755)
    for h in HELPERS:
        c.file(f"lib/duet/{h}", (HERE / "lib" / h).read_bytes(), 0o755)
    c.file("lib/duet/modules.always", ("\n".join(always) + "\n").encode())
    c.file("etc/duet-version", (args.version + "\n").encode())
    c.file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n")
    c.file("etc/group", b"root:x:0:\n")
    c.file("etc/hosts", b"127.0.0.1 localhost duet\n")
    c.file("etc/nsswitch.conf", b"hosts: files dns\n")
    c.file("etc/mdev.conf", b"$MODALIAS=.* 0:0 0660 @modprobe -q -b \"$MODALIAS\"\n")
    raw = c.finish()

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tmp_img = out / "initrd.img.tmp"
    p = subprocess.run(["zstd", "-q", "-19", "-T1", "--no-progress", "-c"], input=raw,
                       capture_output=True, check=True)
    tmp_img.write_bytes(p.stdout)
    tmp_img.replace(out / "initrd.img")
    shutil.copyfile(vmlinuz, out / "vmlinuz.tmp")
    (out / "vmlinuz.tmp").replace(out / "vmlinuz")
    for f in (out / "initrd.img", out / "vmlinuz"):
        os.utime(f, (epoch, epoch))
    mib = 1 << 20
    print(f"image: {out}/initrd.img {len(p.stdout) / mib:.1f} MiB compressed "
          f"({len(raw) / mib:.1f} MiB unpacked, {len(mods)} modules), "
          f"vmlinuz {vmlinuz.stat().st_size / mib:.1f} MiB, kernel {rel}")
    return out / "vmlinuz", out / "initrd.img"


def main() -> int:
    ap = argparse.ArgumentParser(description="Build the duet classroom image.")
    ap.add_argument("--kernel-dir", required=True, help="Debian's kernel package, unpacked")
    ap.add_argument("--bin", required=True, help="where duet-vmm, duet-display, duet-vmctl are")
    ap.add_argument("--out", required=True, help="output folder (vmlinuz, initrd.img)")
    ap.add_argument("--busybox", default="/bin/busybox")
    ap.add_argument("--runit-deb", default="/var/cache/duet/debs/runit.deb")
    ap.add_argument("--depmod", default="/sbin/depmod")
    ap.add_argument("--version", default="dev")
    args = ap.parse_args()
    try:
        build(args)
    except (BuildError, HostFileError, OSError, subprocess.CalledProcessError) as e:
        print(f"mkimage: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
