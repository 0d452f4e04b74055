"""Guest images for duet-vmm tests in the rig: Debian's own kernel (the one
the rig boots) and a busybox initramfs whose /init is the test's script.

build_initrd(script, modules) -> bytes: gzip cpio with busybox, the named
kernel modules (dependencies resolved, loaded in order before the script
runs) and /init running `script` under busybox sh.
"""
from __future__ import annotations

import gzip
import os
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


def build_initrd(script: str, modules: list[str] | None = None) -> bytes:
    c = Cpio()
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
