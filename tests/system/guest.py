"""Guest images for duet-vmm tests in the rig: Debian's own kernel (the one
the rig boots) and a busybox initramfs whose /init is the test's script.

build_initrd(script, modules) -> bytes: gzip cpio with busybox, the named
kernel modules (dependencies resolved, loaded in order before the script
runs) and /init running `script` under busybox sh.
"""
from __future__ import annotations

import gzip
import os
import subprocess
import tempfile
from pathlib import Path

from rig import BUSYBOX, KERNEL_DIR, Cpio, kernel_release, resolve_modules

GUEST_KERNEL_GLOB = "vmlinuz-*"

INIT_HEAD = """#!/bin/sh
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /modules.order); do insmod /lib/modules/$m || echo "guest: insmod $m failed"; done
"""


def guest_kernel() -> Path:
    """Debian's bzImage, as a user's LTSP guest would boot it."""
    return next((KERNEL_DIR / "boot").glob(GUEST_KERNEL_GLOB))


def build_initrd(script: str, modules: list[str] | None = None,
                 extra: dict[str, bytes] | None = None) -> bytes:
    c = Cpio()
    for path, data in (extra or {}).items():
        c.file(path, data, 0o644)
    for d in ("bin", "proc", "sys", "dev", "tmp", "lib/modules"):
        c.mkdir(d)
    c.chardev("dev/console", 5, 1)
    c.file("bin/busybox", Path(BUSYBOX).read_bytes(), 0o755)
    for applet in ("sh", "mount", "insmod", "cat", "echo", "grep", "poweroff", "reboot",
                   "sleep", "ls", "dd", "md5sum", "sha256sum", "ip", "udhcpc", "wget",
                   "hexdump", "head", "tail", "wc", "sync", "mkdir", "rm", "cmp", "find",
                   "od", "tr", "cut", "awk", "seq", "date", "hwclock", "nc", "ping", "uname",
                   "nslookup", "dmesg", "ifconfig", "route"):
        c.symlink(f"bin/{applet}", "/bin/busybox")
    moddir = KERNEL_DIR / "lib" / "modules" / kernel_release()
    order = []
    for m in resolve_modules(modules or []):
        name = os.path.basename(m)
        c.file(f"lib/modules/{name}", (moddir / m).read_bytes())
        order.append(name)
    c.file("modules.order", ("\n".join(order) + "\n").encode())
    c.file("init", (INIT_HEAD + script).encode(), 0o755)
    return gzip.compress(c.finish(), compresslevel=6)


def make_syslinux_disk(dest: Path, kernel: Path, initrd: bytes, append: str) -> None:
    """A 64 MiB FAT disk with Debian's syslinux in its boot sector (no
    partition table: SeaBIOS boots the first sector), the kernel and
    initrd, built without mounting anything."""
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        (t / "initrd.gz").write_bytes(initrd)
        (t / "syslinux.cfg").write_text(
            "DEFAULT linux\nPROMPT 0\nTIMEOUT 0\nLABEL linux\n  KERNEL vmlinuz\n"
            f"  INITRD initrd.gz\n  APPEND {append}\n")
        Path(dest).unlink(missing_ok=True)
        subprocess.run(["mkfs.fat", "-C", str(dest), str(64 * 1024)], check=True,
                       capture_output=True)
        subprocess.run(["syslinux", "--install", str(dest)], check=True, capture_output=True)
        for src, name in ((kernel, "vmlinuz"), (t / "initrd.gz", "initrd.gz"),
                          (t / "syslinux.cfg", "syslinux.cfg")):
            subprocess.run(["mcopy", "-i", str(dest), str(src), f"::{name}"], check=True,
                           capture_output=True)


# The Windows slot's stand-in (no Windows image can be had here): a disk
# that boots through SeaBIOS and extlinux, like Windows, into a Linux that
# finds the slot's devices, turns its screen blue (the console's blue
# background, drawn by fbcon on the bochs-drm framebuffer) and says so.
STANDIN_BLUE = (0x00, 0x00, 0xaa)   # the console palette's blue
STANDIN = r"""
for i in $(seq 1 50); do [ -e /dev/fb0 ] && break; sleep 0.1; done
printf '\033[0;37;44m\033[2J\033[H\n\n   Windows slot (stand-in): SeaBIOS, IDE disk, e1000, VGA\n' > /dev/tty0
echo "standin: windows slot up: ata_piix=$(grep -c '^ata_piix ' /proc/modules) fb=$(cat /sys/class/graphics/fb0/name 2>/dev/null)"
ip link set eth0 up
printf '#!/bin/sh\n[ "$1" = bound ] && echo "standin: lease $ip"\nexit 0\n' > /tmp/dhcp.sh
chmod +x /tmp/dhcp.sh
udhcpc -i eth0 -s /tmp/dhcp.sh -q -n -t 10 -T 2 || echo "standin: no lease"
while :; do sleep 3600; done
"""


def make_windows_standin(dest: Path) -> None:
    initrd = build_initrd(STANDIN, ["ata_piix", "sd_mod", "bochs", "psmouse", "e1000"])
    make_syslinux_disk(dest, guest_kernel(), initrd,
                       "console=ttyS0 panic=-1 vt.global_cursor_default=0")
