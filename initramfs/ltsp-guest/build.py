#!/usr/bin/python3
"""Build the duet LTSP session guest: vmlinuz and initrd.img.

The guest (docs/ltsp-guest.md) is Debian's kernel with the drivers
duet-vmm's --kernel machine needs, busybox, and an X server (Xorg with the
modesetting and evdev drivers, xkbcomp and the XKB data) copied from this
machine's Debian packages with the libraries ldd names. /init brings up
the network by DHCP and runs `Xorg -query SERVER` in a loop.

    build.py [--kernel-dir build/rig/kernel] [--out build/netboot/duet/guests/ltsp]

The same inputs give the same bytes: entries are added in sorted order,
owned by root, stamped with SOURCE_DATE_EPOCH (0 when unset), and the
archive is compressed with xz (CRC32, as the kernel's decompressor wants)
with no timestamp in its header.
"""
from __future__ import annotations

import argparse
import lzma
import os
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE.parent))
from cpio import Cpio  # noqa: E402  (the shared, reproducible writer)
import hostfiles  # noqa: E402

# Drivers for duet-vmm's --kernel machine, loaded in this order (their
# dependencies are put first): virtio-pci and its NIC, keyboard/tablet and
# RNG; evdev for X's input; the std-VGA's DRM driver; the ACPI power button.
MODULES = ["virtio_pci", "virtio_net", "virtio_input", "virtio_rng", "evdev", "bochs", "button"]

XORG = "/usr/lib/xorg/Xorg"
XORG_MODULES = [
    "/usr/lib/xorg/modules/drivers/modesetting_drv.so",
    "/usr/lib/xorg/modules/input/evdev_drv.so",
    "/usr/lib/xorg/modules/libshadow.so",  # modesetting's shadow framebuffer
]
XKBCOMP = "/usr/bin/xkbcomp"
XKB_DIR = "/usr/share/X11/xkb"
# The default keymap needs geometry/pc only; rules/*.xml and *.lst are for
# configuration programs, not for xkbcomp.
XKB_SKIP = re.compile(r"^(geometry/(?!pc$).*|rules/.*\.(xml|lst)|.*README.*)$")

# Where each host file comes from, for the error when one is missing.
PACKAGES = {
    XORG: "xserver-xorg-core",
    XORG_MODULES[0]: "xserver-xorg-core",
    XORG_MODULES[1]: "xserver-xorg-input-evdev",
    XORG_MODULES[2]: "xserver-xorg-core",
    XKBCOMP: "x11-xkb-utils",
    XKB_DIR: "xkb-data",
}


def fail(message: str) -> None:
    sys.exit(f"ltsp-guest: {message}")


def shared_libraries(binary: str) -> list[str]:
    try:
        return hostfiles.shared_libraries(binary)
    except hostfiles.HostFileError as e:
        fail(str(e))


def kernel_modules(kernel_dir: Path) -> tuple[str, list[Path]]:
    """The kernel release and the module files, dependencies first."""
    releases = sorted(p.name for p in (kernel_dir / "lib" / "modules").iterdir())
    if len(releases) != 1:
        fail(f"expected one kernel release under {kernel_dir}/lib/modules, found {releases}")
    moddir = kernel_dir / "lib" / "modules" / releases[0]
    deps = {}
    for line in (moddir / "modules.dep").read_text().splitlines():
        path, _, rest = line.partition(":")
        deps[path] = rest.split()
    by_name = {os.path.basename(p).split(".ko")[0].replace("-", "_"): p for p in deps}
    order: list[str] = []

    def visit(path: str) -> None:
        if path in order:
            return
        for d in deps[path]:
            visit(d)
        order.append(path)

    for name in MODULES:
        if name not in by_name:
            fail(f"kernel {releases[0]} has no module {name}")
        visit(by_name[name])
    return releases[0], [moddir / p for p in order]


def build_initrd(kernel_dir: Path, busybox: Path, mtime: int) -> tuple[bytes, int, str]:
    """The xz-compressed initramfs, its uncompressed size, the kernel release."""
    for path, package in PACKAGES.items():
        if not Path(path).exists():
            fail(f"{path} is missing: install the Debian package {package} (make deps)")
    if not busybox.is_file():
        fail(f"{busybox} is missing: install busybox-static (make deps)")

    c = Cpio(mtime=mtime)
    for d in ("bin", "sbin", "usr/bin", "usr/sbin", "dev", "proc", "sys", "tmp", "run",
              "root", "etc/X11", "var/log", "var/lib/xkb", "lib/modules"):
        c.mkdir(d)
    c.chardev("dev/console", 5, 1)
    c.chardev("dev/null", 1, 3, 0o666)
    c.file("init", (HERE / "init").read_bytes(), 0o755)
    c.file("etc/udhcpc.script", (HERE / "udhcpc.script").read_bytes(), 0o755)
    c.file("etc/X11/xorg.conf.in", (HERE / "xorg.conf.in").read_bytes())
    c.file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n")
    c.file("etc/group", b"root:x:0:\n")
    c.file("etc/nsswitch.conf", b"hosts: files dns\n")
    c.file("etc/hosts", b"127.0.0.1 localhost\n")

    c.file("bin/busybox", busybox.read_bytes(), 0o755)
    applets = subprocess.run([str(busybox), "--list-full"], capture_output=True, text=True,
                             check=True).stdout.split()
    for applet in sorted(applets):
        if applet != "bin/busybox":
            c.symlink(applet, "/bin/busybox")

    release, modules = kernel_modules(kernel_dir)
    for m in modules:
        c.file(f"lib/modules/{m.name}", m.read_bytes())
    c.file("lib/modules/load-order", "".join(f"{m.name}\n" for m in modules).encode())

    programs = [XORG, XKBCOMP] + XORG_MODULES
    for p in programs:
        c.file(p, Path(p).read_bytes(), 0o755 if p in (XORG, XKBCOMP) else 0o644)
    c.symlink("usr/bin/Xorg", XORG)
    libs = sorted({lib for p in programs for lib in shared_libraries(p)})
    for lib in libs:
        c.file(lib, Path(lib).read_bytes(), 0o755)

    xkb = Path(XKB_DIR)
    for f in sorted(p for p in xkb.rglob("*") if p.is_file()):
        rel = f.relative_to(xkb).as_posix()
        if not XKB_SKIP.match(rel):
            c.file(f"{XKB_DIR}/{rel}", f.read_bytes())

    archive = c.finish()
    # The kernel's xz decoder takes CRC32 (not the default CRC64); the x86
    # BCJ filter helps with the binaries, a dictionary as large as the
    # archive with everything else (6.6 MiB against 7.1 with 1 MiB).
    # Unpacking takes ~3 s in the rig's nested guests (zstd: ~1 s, 15 %
    # larger).
    packed = lzma.compress(archive, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32,
                           filters=[{"id": lzma.FILTER_X86},
                                    {"id": lzma.FILTER_LZMA2, "preset": 9, "dict_size": 32 << 20}])
    return packed, len(archive), release


def write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kernel-dir", type=Path, default=REPO / "build" / "rig" / "kernel",
                    help="Debian's kernel package, unpacked, with modules.dep (make rig-deps)")
    ap.add_argument("--out", type=Path, default=REPO / "build" / "netboot" / "duet" / "guests" / "ltsp")
    ap.add_argument("--busybox", type=Path, default=Path("/bin/busybox"))
    args = ap.parse_args()

    epoch = os.environ.get("SOURCE_DATE_EPOCH", "0")
    if not epoch.isdigit():
        fail(f"SOURCE_DATE_EPOCH={epoch!r} is not a number of seconds")
    kernels = sorted((args.kernel_dir / "boot").glob("vmlinuz-*"))
    if len(kernels) != 1:
        fail(f"expected one vmlinuz-* in {args.kernel_dir}/boot (make rig-deps), found {kernels}")
    initrd, unpacked, release = build_initrd(args.kernel_dir, args.busybox, int(epoch))
    if not kernels[0].name.endswith(release):
        fail(f"{kernels[0].name} does not match the modules' release {release}")

    args.out.mkdir(parents=True, exist_ok=True)
    kernel = kernels[0].read_bytes()
    write(args.out / "vmlinuz", kernel)
    write(args.out / "initrd.img", initrd)
    mib = 1 << 20
    print(f"ltsp-guest: {args.out}/vmlinuz {len(kernel) / mib:.1f} MiB (Debian {release}), "
          f"initrd.img {len(initrd) / mib:.1f} MiB ({unpacked / mib:.1f} MiB unpacked), "
          f"{(len(kernel) + len(initrd)) / mib:.1f} MiB in all")


if __name__ == "__main__":
    main()
