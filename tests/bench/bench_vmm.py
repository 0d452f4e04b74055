#!/usr/bin/python3
"""duet-vmm against QEMU (-accel kvm), measured inside the rig.

The rig (tests/system/rig.py) is Debian's kernel under QEMU/TCG with nested
KVM. Each repetition of a benchmark is one rig boot in which duet-vmm and
its QEMU peers run one after the other, so each comparison is made under the
same conditions. (One rig boot per repetition rather than one for all: the
rig now and then hangs whole, with either VMM inside; the runs of a hung
boot go again, once, in a fresh one.) Every VMM run goes through `tsline`
(tsline.c), which starts the VMM with the guest's serial console on a pipe
and timestamps its lines. Results, one line per comparison:

    bench NAME: duet=VALUE UNIT qemu-pc=VALUE UNIT ratio=R      (R = duet/peer)

Benchmarks (see README.md):
  vmm-first-serial, vmm-boot-to-init, vmm-boot-to-exit (-2cpu: --smp2):
      Debian's bzImage + a busybox initramfs whose /init prints BENCH-INIT
      first thing, then BENCH-END, then reboots (reboot=pci; both VMMs run
      with --no-reboot / -no-reboot and so exit). Times in ms from process
      start to the first serial line, to BENCH-INIT, to the VMM's exit;
      median of --reps runs. Peers: QEMU -M pc and -M microvm.
  vmm-memory-overhead: from the same 1-vCPU boot runs. Both VMMs back guest
      RAM with a memfd (duet-vmm always; QEMU with
      -object memory-backend-memfd,share=on), so the guest RAM resident is
      the Rss of the "/memfd:..." mappings in /proc/PID/smaps, and everything
      else in the RSS is the VMM's own (code, libraries, heap, stacks,
      firmware/ROM copies). tsline reads smaps and /proc/PID/status when
      BENCH-END arrives (guest done, VMM not yet tearing down):
          overhead = max(VmHWM, ru_maxrss) - guest RAM resident     [MiB]
      i.e. peak RSS minus guest RAM resident. Median of --reps runs.
      (Not RssShmem: in the rig the binaries and libraries live on the
      initramfs' tmpfs, so their mapped pages count as shmem as well.)
  vmm-pio-exits: a multiboot ELF32 guest (guests/pio_loop.c) doing N
      `outb` to port 0x80, then exiting through port 0x501 (duet-vmm's
      test-exit; QEMU -device isa-debug-exit). exits/s = N / (t_N - t_0)
      with t = median process run time for N writes and for none.
  vmm-blk-read: a 256 MiB raw image (on the rig's tmpfs) as virtio-blk; the
      guest reads it with `dd bs=1M count=256 iflag=direct`; MB/s (10^6
      bytes/s) from the guest's own /proc/uptime (0.01 s resolution) around
      the dd; the host side's tsline timestamps of the guest's lines around
      it are printed as a detail line.
  bios group (the Windows slot: duet-vmm --bios, SeaBIOS on i440FX/PIIX,
      against QEMU -M pc with the same devices: std-VGA, the IDE disk,
      an e1000 with the same iPXE option ROM, COM1 as SeaBIOS's serial
      console; QEMU's SeaBIOS takes COM1 as its console when
      -M pc,graphics=off, which is what -nographic sets):
  bios-post-to-menu: process start to SeaBIOS's "Press ESC for boot menu"
      (duet --boot-menu, QEMU -boot menu=on); tsline kills the VMM there.
  bios-boot-to-init: a 64 MiB FAT disk with Debian's syslinux (the disk
      of tests/system/test_vmm_bios.py) on IDE, no boot menu; process start
      to the line its initramfs' /init prints first thing.
  ide-read: that guest then reads all of /dev/sda (64 MiB, ata_piix) with
      `dd bs=1M iflag=direct` after dropping its caches; MB/s from the
      guest's /proc/uptime around the dd.
  e1000-tx: and sends 32 MiB over TCP (busybox nc) through a TAP to a
      receiver in the rig (duet tap0, QEMU tap1); MB/s from the guest's
      /proc/uptime around the send, which ends when the receiver has read
      it all (it closes on the guest's EOF).
  nbd group (the classroom disk: a golden image on an NBD server):
  nbd-read: the blk guest reads a 256 MiB image (dense, not zeroes: no
      server may skip holes) that qemu-nbd serves read-only on the rig's
      loopback (structured replies), with `dd bs=1M iflag=direct`; MB/s
      from the guest's /proc/uptime. duet-vmm with
      --disk nbd://127.0.0.1:10809/golden,ro against (a) duet-vmm reading
      the same image as a file (--disk file=...,ro) and (b) QEMU -M pc
      reading it through its own NBD client (-drive file=nbd://...).
  nbd-serve-30 (host-side: the server that holds the golden images):
      30 nbdcopy readers (each as one duet-vmm reads: one connection, 8
      requests of 256 KiB in flight) of one 64 MiB golden image at once,
      on this machine's loopback: imported with `duet image import` and
      served by `duet image serve` (its supervised nbd-server), then the
      same file by qemu-nbd; aggregate MB/s = 30 x 64 MiB / wall time:
          bench nbd-serve-30: duet=V MB/s qemu-nbd=V MB/s ratio=R
"""
from __future__ import annotations

import argparse
import gzip
import os
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(REPO / "tests" / "system"))

from rig import BUSYBOX, KERNEL_DIR, Cpio, RigError, kernel_release, resolve_modules, run_rig  # noqa: E402
from guest import guest_kernel  # noqa: E402
from test_vmm_bios import make_syslinux_disk  # noqa: E402

QEMU = shutil.which("qemu-system-x86_64") or "/usr/bin/qemu-system-x86_64"
# What QEMU loads for -M pc (SeaBIOS, the -kernel option ROMs) and
# -M microvm (qboot); -L points it at a directory holding only these.
QEMU_FIRMWARE = [
    "/usr/share/seabios/bios-256k.bin",
    "/usr/share/qemu/bios-microvm.bin",  # -> qboot.rom
    "/usr/share/qemu/linuxboot_dma.bin",
    "/usr/share/qemu/linuxboot.bin",
    "/usr/share/qemu/multiboot_dma.bin",
    "/usr/share/qemu/multiboot.bin",
    "/usr/share/qemu/pvh.bin",
    "/usr/share/qemu/kvmvapic.bin",
    "/usr/share/seabios/vgabios-stdvga.bin",  # bios group: -device VGA
    "/usr/lib/ipxe/qemu/pxe-e1000.rom",  # bios group: the e1000's ROM, as duet-vmm's
]
# What duet-vmm --bios reads, at the paths it reads them from.
DUET_FIRMWARE = [
    "/usr/share/seabios/bios-256k.bin",
    "/usr/share/seabios/vgabios-stdvga.bin",
    "/usr/lib/ipxe/qemu/pxe-e1000.rom",
]

GUEST_MEM = "256M"
APPEND = "console=ttyS0 reboot=pci panic=-1 quiet"
BLK_MB = 256
BIOS_DISK_MB = 64  # make_syslinux_disk()'s size: ide-read reads all of it
NET_MB = 32
RUN_LIMIT = 90  # seconds, one VMM run

B = "/bench"  # where the inputs live inside the rig

BOOT_INIT = """#!/bin/sh
echo BENCH-INIT
echo BENCH-END
reboot -f
"""

BLK_INIT = """#!/bin/sh
echo BENCH-INIT
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /modules.order); do insmod /lib/modules/$m || echo "guest: insmod $m failed"; done
if [ -b /dev/vda ]; then
    echo 3 > /proc/sys/vm/drop_caches
    read t0 rest < /proc/uptime
    echo BLK-START
    dd if=/dev/vda of=/dev/null bs=1M count=@MB@ iflag=direct 2> /tmp/dd.err
    st=$?
    read t1 rest < /proc/uptime
    echo "BLK-END status=$st uptime0=$t0 uptime1=$t1"
    cat /tmp/dd.err
else
    echo BLK-NODEV
    ls /sys/bus/pci/devices /sys/bus/virtio/devices 2>&1
fi
echo BENCH-END
reboot -f
""".replace("@MB@", str(BLK_MB))


# The syslinux disk's /init: the marker first, then ide-read and e1000-tx.
# Both VMMs' e1000 MACs end in :01 (duet-vmm, tap0) or :02 (QEMU, tap1),
# which tells the guest which of the rig's two TAP subnets it is on.
BIOS_INIT = """#!/bin/sh
echo BENCH-INIT
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /modules.order); do insmod /lib/modules/$m || echo "guest: insmod $m failed"; done
for i in $(seq 50); do [ -b /dev/sda ] && break; sleep 0.1; done
if [ -b /dev/sda ]; then
    echo 3 > /proc/sys/vm/drop_caches
    read t0 rest < /proc/uptime
    echo IDE-START
    dd if=/dev/sda of=/dev/null bs=1M count=@DISK@ iflag=direct 2> /tmp/dd.err
    st=$?
    read t1 rest < /proc/uptime
    echo "IDE-END status=$st uptime0=$t0 uptime1=$t1"
    cat /tmp/dd.err
else
    echo IDE-NODEV
fi
if [ -e /sys/class/net/eth0 ]; then
    case $(cat /sys/class/net/eth0/address) in *:01) n=77 ;; *) n=78 ;; esac
    ip link set lo up
    ip addr add 192.168.$n.2/24 dev eth0
    ip link set eth0 up
    for i in $(seq 30); do ping -c 1 -W 1 192.168.$n.1 > /dev/null 2>&1 && break; done
    read t0 rest < /proc/uptime
    echo NET-START
    dd if=/dev/zero bs=1M count=@NET@ 2> /dev/null | nc 192.168.$n.1 9000
    st=$?
    read t1 rest < /proc/uptime
    echo "NET-END status=$st uptime0=$t0 uptime1=$t1"
else
    echo NET-NODEV
fi
echo BENCH-END
poweroff -f
""".replace("@DISK@", str(BIOS_DISK_MB)).replace("@NET@", str(NET_MB))

# The nbd group: qemu-nbd (read-only, persistent) serves a dense image on
# the rig's loopback; port 10809 is 0x2A39 in /proc/net/tcp (state 0A: LISTEN).
NBD_URI = "nbd://127.0.0.1:10809/golden"
NBD_RIG_SETUP = [
    (f"dd if=/dev/zero bs=1M count={BLK_MB} 2>/dev/null | tr '\\0' d > /tmp/nbd.img", 20),
    ("/bin/qemu-nbd -r -t -f raw -x golden -b 127.0.0.1 -p 10809 /tmp/nbd.img"
     " > /tmp/qemu-nbd.log 2>&1 &", 0),
    ("i=0; while ! grep -q ':2A39 00000000:0000 0A' /proc/net/tcp && [ $i -lt 100 ]; do"
     " sleep 0.1; i=$((i + 1)); done", 10),
]
NBD_VMMS = {
    "duet": lambda: duet_linux(1, f"{B}/blk.gz", ["--disk", f"{NBD_URI},ro"]),
    "duet-file": lambda: duet_linux(1, f"{B}/blk.gz", ["--disk", "file=/tmp/nbd.img,ro"]),
    "qemu-pc": lambda: qemu_linux("pc", 1, f"{B}/blk.gz",
                                  ["-drive", f"file={NBD_URI},format=raw,if=virtio,readonly=on"]),
}
# nbd-serve-30, host-side.
NBD_SERVE_CLIENTS = 30
NBD_SERVE_MB = 64

# The rig side of e1000-tx: a receiver per run, counting what arrives.
BIOS_RIG_SETUP = [
    "tunctl -t tap0 > /dev/null && ip addr add 192.168.77.1/24 dev tap0 && ip link set tap0 up",
    "tunctl -t tap1 > /dev/null && ip addr add 192.168.78.1/24 dev tap1 && ip link set tap1 up",
    "printf '#!/bin/sh\\nwc -c > /tmp/received\\n' > /tmp/sink && chmod +x /tmp/sink",
]
BIOS_APPLETS = ("seq", "sleep", "ip", "ping", "nc", "poweroff")


def initrd(script: str, modules: list[str] | None = None, applets: tuple[str, ...] = ()) -> bytes:
    """Busybox initramfs whose /init is `script` (first line a marker)."""
    c = Cpio()
    for d in ("bin", "proc", "sys", "dev", "tmp", "lib/modules"):
        c.mkdir(d)
    c.chardev("dev/console", 5, 1)
    c.file("bin/busybox", Path(BUSYBOX).read_bytes(), 0o755)
    for applet in ("sh", "echo", "cat", "mount", "insmod", "reboot", "dd", "ls", *applets):
        c.symlink(f"bin/{applet}", "/bin/busybox")
    moddir = KERNEL_DIR / "lib" / "modules" / kernel_release()
    order = []
    for m in resolve_modules(modules or []):
        c.file(f"lib/modules/{os.path.basename(m)}", (moddir / m).read_bytes())
        order.append(os.path.basename(m))
    c.file("modules.order", ("\n".join(order) + "\n").encode())
    c.file("init", script.encode(), 0o755)
    return gzip.compress(c.finish(), compresslevel=6)


# ---------------------------------------------------------------- VMM command lines

def duet_linux(smp: int, initrd_path: str, extra: list[str] = ()) -> list[str]:
    return ["/bin/duet-vmm", "--kernel", f"{B}/bzImage", "--initrd", initrd_path,
            "--append", APPEND, "--memory", GUEST_MEM, "--cpus", str(smp),
            "--no-reboot", "--serial", "stdio", *extra]


def qemu_base(machine: str, smp: int) -> list[str]:
    # Guest RAM in a shared memfd, as duet-vmm has it (see vmm-memory-overhead).
    return ["/bin/qemu-system-x86_64", "-L", f"{B}/fw", "-accel", "kvm", "-cpu", "host",
            "-M", f"{machine},memory-backend=ram0",
            "-object", f"memory-backend-memfd,id=ram0,size={GUEST_MEM},share=on",
            "-m", GUEST_MEM, "-smp", str(smp), "-nodefaults", "-display", "none",
            "-serial", "stdio", "-monitor", "none", "-no-reboot"]


def qemu_linux(machine: str, smp: int, initrd_path: str, extra: list[str] = ()) -> list[str]:
    return [*qemu_base(machine, smp), "-kernel", f"{B}/bzImage", "-initrd", initrd_path,
            "-append", APPEND, *extra]


BOOT_VMMS = {
    "duet": lambda smp: duet_linux(smp, f"{B}/boot.gz"),
    "qemu-pc": lambda smp: qemu_linux("pc", smp, f"{B}/boot.gz"),
    "qemu-microvm": lambda smp: qemu_linux("microvm", smp, f"{B}/boot.gz"),
}
PEERS = ["qemu-pc", "qemu-microvm"]


def pio_cmd(vmm: str, elf: str) -> list[str]:
    if vmm == "duet":
        return ["/bin/duet-vmm", "--load", elf, "--memory", GUEST_MEM, "--serial", "none"]
    return [*qemu_base("pc", 1), "-kernel", elf,
            "-device", "isa-debug-exit,iobase=0x501,iosize=1"]


def duet_bios(mac: str, tap: str, extra: list[str] = ()) -> list[str]:
    return ["/bin/duet-vmm", "--bios", "--memory", GUEST_MEM, "--disk", f"file={B}/bios.img",
            "--net", f"tap={tap},mac={mac}", "--no-reboot", "--serial", "stdio", *extra]


def qemu_bios(mac: str, tap: str, extra: list[str] = ()) -> list[str]:
    # graphics=off: QEMU tells SeaBIOS "no graphics" (what -nographic does,
    # without its implicit -serial mon:stdio), so SeaBIOS makes COM1 its
    # console, as duet-vmm asks with etc/sercon-port; the std-VGA and its
    # ROM are there all the same, as in duet-vmm's machine.
    return [*qemu_base("pc,graphics=off", 1), "-device", "VGA",
            "-drive", f"file={B}/bios.img,format=raw,if=ide",
            "-netdev", f"tap,id=n,ifname={tap},script=no,downscript=no",
            "-device", f"e1000,netdev=n,mac={mac},romfile=pxe-e1000.rom", *extra]


BIOS_VMMS = {
    "duet": lambda menu: duet_bios("52:54:00:be:00:01", "tap0", ["--boot-menu"] if menu else []),
    "qemu-pc": lambda menu: qemu_bios("52:54:00:be:00:02", "tap1",
                                      ["-boot", "menu=on,splash-time=2500"] if menu else []),
}
MENU_MARK = "Press ESC for boot menu"


# Exit status of a clean end: reboot under --no-reboot is 0 for both; the
# pio guest writes 0 to port 0x501: duet-vmm exits 0, QEMU's isa-debug-exit
# (0 << 1) | 1.
PIO_STATUS = {"duet": 0, "qemu-pc": 1}


# ---------------------------------------------------------------- the rig script

class Plan:
    """The shell script one rig boot runs: set-up lines, then VMM runs one
    after the other, each under tsline; its output line goes to
    /out/results.txt and, as a fallback should the rig hang before /out comes
    back, to the console."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.setup: list[tuple[str, int]] = []  # (shell line, expected seconds)
        self.runs: dict[str, dict] = {}
        self.modules: list[str] = []  # rig kernel modules besides kvm's
        self.binaries: list[str] = []  # host programs the runs need in the rig

    def sh(self, line: str, expect_s: int = 0) -> None:
        self.setup.append((line, expect_s))

    def run(self, name: str, argv: list[str], markers: list[str], expect_s: int, **meta) -> None:
        self.runs[name] = dict(meta, markers=markers, argv=argv, expect_s=expect_s)

    def budget(self) -> int:
        """Bound on the rig run, s: rig boot, /out and margins, set-up, runs."""
        return 40 + sum(t for _, t in self.setup) + sum(r["expect_s"] for r in self.runs.values())

    def subset(self, names: list[str]) -> "Plan":
        p = Plan(self.label + " (again)")
        p.setup = list(self.setup)
        p.modules = list(self.modules)
        p.binaries = list(self.binaries)
        p.runs = {n: self.runs[n] for n in names}
        return p

    def script(self) -> str:
        lines = ["set -u", "mkdir -p /out", *(line for line, _ in self.setup)]
        for name, r in self.runs.items():
            m = " ".join(f"-m {shlex.quote(x)}" for x in r["markers"])
            if r.get("kill_at"):
                m += f" -k {shlex.quote(r['kill_at'])}"
            lines += [
                f"echo 'bench: {name}' > /dev/kmsg",
                *r.get("before", []),
                f"/bin/tsline -t {RUN_LIMIT} -o /out/{name}.log {m} "
                + (f"-S /out/{name}.smaps " if r["markers"] else "")
                + f"-- {shlex.join(r['argv'])} "
                f"> /tmp/ts 2> /out/{name}.err",
                f'r="{name} $(cat /tmp/ts)"; echo "$r" >> /out/results.txt; echo "BENCH-RESULT $r"',
                *r.get("after", []),
            ]
        return "\n".join([*lines, "exit 0"]) + "\n"


def build_plans(args) -> list[Plan]:
    """One plan (one rig boot) per repetition of each group, the VMMs taking
    turns within it: the rig (nested SVM under TCG) now and then hangs
    whole, and then only that plan is lost and run again."""
    plans = []
    groups = args.only.split(",")
    smps = [1, 2] if args.smp2 else [1]
    if "pio" in groups:
        for rep in range(args.reps):
            p = Plan(f"pio {rep + 1}/{args.reps}")
            for vmm in PIO_STATUS:
                for n, elf in ((0, "pio_0.elf"), (args.pio_count, "pio_n.elf")):
                    p.run(f"pio.{vmm}.n{n}.r{rep}", pio_cmd(vmm, f"{B}/{elf}"), [], 10,
                          vmm=vmm, n=n)
            plans.append(p)
    if "boot" in groups:
        for rep in range(args.reps):
            p = Plan(f"boot {rep + 1}/{args.reps}")
            for smp in smps:
                for vmm, cmd in BOOT_VMMS.items():
                    p.run(f"boot.{vmm}.smp{smp}.r{rep}", cmd(smp), ["BENCH-INIT", "BENCH-END"], 30,
                          vmm=vmm, smp=smp)
            plans.append(p)
    if "blk" in groups:
        markers = ["BENCH-INIT", "BLK-START", "BLK-END", "BENCH-END"]
        for rep in range(args.blk_reps):
            p = Plan(f"blk {rep + 1}/{args.blk_reps}")
            p.sh(f"dd if=/dev/zero of=/tmp/disk.img bs=1M count={BLK_MB} 2>/dev/null", 10)
            p.run(f"blk.duet.r{rep}", duet_linux(1, f"{B}/blk.gz", ["--disk", "file=/tmp/disk.img"]),
                  markers, 35, vmm="duet")
            # tmpfs (Linux 6.1) has no O_DIRECT, so no cache=none: QEMU reads
            # through the host page cache, which on tmpfs *is* the file, as
            # duet-vmm does.
            p.run(f"blk.qemu-pc.r{rep}",
                  qemu_linux("pc", 1, f"{B}/blk.gz", ["-drive", "file=/tmp/disk.img,format=raw,if=virtio"]),
                  markers, 35, vmm="qemu-pc")
            plans.append(p)
    if "bios" in groups:
        for rep in range(args.bios_reps):
            p = Plan(f"bios {rep + 1}/{args.bios_reps}")
            p.modules = ["tun"]
            for line in BIOS_RIG_SETUP:
                p.sh(line)
            for vmm, cmd in BIOS_VMMS.items():
                p.run(f"bios-menu.{vmm}.r{rep}", cmd(True), [MENU_MARK], 20, vmm=vmm,
                      kill_at=MENU_MARK)
            for vmm, cmd in BIOS_VMMS.items():
                name = f"bios.{vmm}.r{rep}"
                # the receiver, started before the VMM; what it counted goes to /out
                p.run(name, cmd(False), ["BENCH-INIT", "IDE-END", "NET-START", "NET-END", "BENCH-END"],
                      60, vmm=vmm,  # seen: duet ~40 s, QEMU ~70 s
                      before=["rm -f /tmp/received", "nc -l -p 9000 -e /tmp/sink > /dev/null 2>&1 &",
                              "sink=$!"],
                      after=["kill $sink 2> /dev/null; wait $sink 2> /dev/null",
                             f"cp /tmp/received /out/{name}.recv 2> /dev/null; true"])
            plans.append(p)
    if "nbd" in groups:
        markers = ["BENCH-INIT", "BLK-START", "BLK-END", "BENCH-END"]
        for rep in range(args.nbd_reps):
            p = Plan(f"nbd {rep + 1}/{args.nbd_reps}")
            p.binaries = ["/usr/bin/qemu-nbd"]
            for line, secs in NBD_RIG_SETUP:
                p.sh(line, secs)
            for vmm, cmd in NBD_VMMS.items():
                p.run(f"nbd.{vmm}.r{rep}", cmd(), markers, 40, vmm=vmm)
            plans.append(p)
    return plans


# ---------------------------------------------------------------- results

def parse_results(text: str) -> dict[str, dict[str, float]]:
    out = {}
    for line in text.splitlines():
        name, _, rest = line.partition(" ")
        out[name] = {k: float(v) for k, v in re.findall(r"(\w+)=(-?[\d.]+)", rest)}
    return out


def smaps_top(text: str, n: int = 4) -> str:
    """The n largest mappings by Rss, guest RAM (/memfd:) left out, as
    "SIZE NAME" in MiB; anonymous mappings are named by their permissions."""
    maps, cur = [], None
    for ln in text.splitlines():
        f = ln.split()
        if f and re.match(r"^[0-9a-f]+-[0-9a-f]+$", f[0]):
            cur = [0, f[5] if len(f) > 5 else f"[anon {f[1]}]"]
            maps.append(cur)
        elif f and f[0] == "Rss:" and cur is not None:
            cur[0] = int(f[1])
    maps = [m for m in maps if "/memfd:" not in m[1]]
    maps.sort(key=lambda m: -m[0])
    return ", ".join(f"{kb / 1024:.1f} {os.path.basename(name) if name.startswith('/') else name}"
                     for kb, name in maps[:n])


def median(xs: list[float]) -> float | None:
    return statistics.median(xs) if xs else None


class Report:
    def __init__(self, plan: Plan, results: dict, files: dict[str, bytes]) -> None:
        self.plan, self.results, self.files = plan, results, files
        self.failures: list[str] = []
        self.checked: dict[str, dict | None] = {}
        self.missing = 0  # figures that came out n/a

    def text(self, name: str, suffix: str) -> str:
        return self.files.get(f"{name}.{suffix}", b"").decode("utf-8", "replace")

    def ok(self, name: str, status: int, need: list[str]) -> dict | None:
        """The run's tsline figures, or None (reported once) if it failed."""
        if name not in self.checked:
            self.checked[name] = self._check(name, status, need)
        return self.checked[name]

    def _check(self, name: str, status: int, need: list[str]) -> dict | None:
        r = self.results.get(name)
        why = None
        if r is None:
            why = "no result (rig command cut short?)"
        elif int(r["status"]) != status:
            why = f"exit status {int(r['status'])}, expected {status}"
        else:
            missing = [m for m in need if r.get(m, -1) < 0]
            if missing:
                why = "never printed " + ", ".join(
                    self.plan.runs[name]["markers"][int(m[1:])] if m.startswith("m") else m
                    for m in missing)
        if why:
            self.failures.append(name)
            log = self.text(name, "log").rstrip().splitlines()[-15:]
            err = self.text(name, "err").rstrip().splitlines()[-10:]
            print(f"  run {name} failed: {why}\n    command: {shlex.join(self.plan.runs[name]['argv'])}"
                  + "".join(f"\n    serial| {x}" for x in log)
                  + "".join(f"\n    stderr| {x}" for x in err), file=sys.stderr)
            return None
        return r

    def values(self, prefix: str, status: int, need: list[str], fn) -> list[float]:
        out = []
        for name in self.plan.runs:
            if name.startswith(prefix):
                r = self.ok(name, status, need)
                if r is not None:
                    out.append(fn(r))
        return out


def fmt(v: float | None, unit: str, digits: int) -> str:
    return "n/a" if v is None else f"{v:.{digits}f} {unit}"


def line(rep: "Report", metric: str, duet: float | None, peer: str, pv: float | None, unit: str,
         digits: int = 0) -> None:
    ratio = f"{duet / pv:.2f}" if duet is not None and pv else "n/a"
    if ratio == "n/a":
        rep.missing += 1
    print(f"bench {metric}: duet={fmt(duet, unit, digits)} {peer}={fmt(pv, unit, digits)} ratio={ratio}")


def report(args, plan: Plan, results: dict, files: dict[str, bytes]) -> int:
    rep = Report(plan, results, files)
    groups = set(args.only.split(","))
    smps = [1, 2] if args.smp2 else [1]
    detail = []

    if "boot" in groups:
        need = ["first", "m0", "m1", "guest"]
        for smp in smps:
            sfx = "" if smp == 1 else f"-{smp}cpu"
            med = {}
            for vmm in BOOT_VMMS:
                pre = f"boot.{vmm}.smp{smp}."
                med[vmm] = {
                    "first": median(rep.values(pre, 0, need, lambda r: r["first"])),
                    "init": median(rep.values(pre, 0, need, lambda r: r["m0"])),
                    "exit": median(rep.values(pre, 0, need, lambda r: r["exit"])),
                }
                if smp == 1:
                    # see the module docstring: peak RSS minus guest RAM resident
                    med[vmm]["mem"] = median(rep.values(
                        pre, 0, need, lambda r: (max(r["hwm"], r["maxrss"]) - r["guest"]) / 1024))
                    med[vmm]["guest"] = median(rep.values(pre, 0, need, lambda r: r["guest"] / 1024))
                    med[vmm]["peak"] = median(rep.values(
                        pre, 0, need, lambda r: max(r["hwm"], r["maxrss"]) / 1024))
            for metric, key in (("vmm-first-serial", "first"), ("vmm-boot-to-init", "init"),
                                ("vmm-boot-to-exit", "exit")):
                for peer in PEERS:
                    line(rep, metric + sfx, med["duet"][key], peer, med[peer][key], "ms")
            if smp == 1:
                for peer in PEERS:
                    line(rep, "vmm-memory-overhead", med["duet"]["mem"], peer, med[peer]["mem"], "MiB", 1)
                for vmm in BOOT_VMMS:
                    smaps = rep.text(f"boot.{vmm}.smp1.r0", "smaps")
                    if smaps:
                        detail.append(f"largest non-guest mappings of {vmm} (MiB, run 1): "
                                      + smaps_top(smaps))
                detail.append("memory (MiB, medians): " + "; ".join(
                    f"{v} peak RSS {fmt(med[v]['peak'], '', 1).strip()} - guest RAM resident "
                    f"{fmt(med[v]['guest'], '', 1).strip()}" for v in BOOT_VMMS))

    if "pio" in groups:
        rates = {}
        for vmm, status in PIO_STATUS.items():
            t0 = median(rep.values(f"pio.{vmm}.n0.", status, [], lambda r: r["exit"]))
            tn = median(rep.values(f"pio.{vmm}.n{args.pio_count}.", status, [], lambda r: r["exit"]))
            rates[vmm] = args.pio_count / ((tn - t0) / 1e3) if t0 is not None and tn is not None and tn > t0 else None
            detail.append(f"pio {vmm}: median run time {fmt(t0, 'ms', 1)} for 0 writes, "
                          f"{fmt(tn, 'ms', 1)} for {args.pio_count}")
        line(rep, "vmm-pio-exits", rates["duet"], "qemu-pc", rates["qemu-pc"], "exits/s")

    if "blk" in groups:
        blk = {}
        skipped = False
        for vmm in ("duet", "qemu-pc"):
            guest_rates, host_rates = [], []
            for name in [n for n in plan.runs if n.startswith(f"blk.{vmm}.")]:
                r = results.get(name)
                log = rep.text(name, "log")
                err = rep.text(name, "err")
                if vmm == "duet" and r is not None and (
                        (int(r["status"]) == 2 and "disk" in err) or "BLK-NODEV" in log):
                    skipped = True
                    detail.append(f"blk duet: {(err.strip() or 'no /dev/vda in the guest').splitlines()[-1]}")
                    break
                r = rep.ok(name, 0, ["m1", "m2"])
                if r is None:
                    continue
                m = re.search(r"BLK-END status=(\d+) uptime0=([\d.]+) uptime1=([\d.]+)", log)
                if not m or m.group(1) != "0":
                    rep.failures.append(name)
                    print(f"  run {name}: dd failed:\n{log[-1500:]}", file=sys.stderr)
                    continue
                secs = float(m.group(3)) - float(m.group(2))
                mb = BLK_MB * 1048576 / 1e6
                if secs > 0:
                    guest_rates.append(mb / secs)
                host_rates.append(mb / ((r["m2"] - r["m1"]) / 1e3))
            blk[vmm] = (median(guest_rates), median(host_rates))
        if skipped:
            print("bench vmm-blk-read: skipped (virtio-blk not available)")
        else:
            line(rep, "vmm-blk-read", blk["duet"][0], "qemu-pc", blk["qemu-pc"][0], "MB/s")
            detail.append(f"blk (host-side timestamps of BLK-START/BLK-END, MB/s): "
                          f"duet={fmt(blk['duet'][1], '', 0).strip()} "
                          f"qemu-pc={fmt(blk['qemu-pc'][1], '', 0).strip()}")

    if "bios" in groups:
        menu, init, ide, net = {}, {}, {}, {}
        for vmm in BIOS_VMMS:
            # killed at the marker by tsline -k: SIGKILL, 128 + 9
            menu[vmm] = median(rep.values(f"bios-menu.{vmm}.", 137, ["m0"], lambda r: r["m0"]))
            init[vmm] = median(rep.values(f"bios.{vmm}.", 0, ["m0"], lambda r: r["m0"]))
            ide_rates, net_rates = [], []
            for name in [n for n in plan.runs if n.startswith(f"bios.{vmm}.")]:
                if rep.ok(name, 0, ["m0"]) is None:
                    continue
                log = rep.text(name, "log")
                m = re.search(r"IDE-END status=(\d+) uptime0=([\d.]+) uptime1=([\d.]+)", log)
                if m and m.group(1) == "0" and float(m.group(3)) > float(m.group(2)):
                    ide_rates.append(BIOS_DISK_MB * 1048576 / 1e6 / (float(m.group(3)) - float(m.group(2))))
                else:
                    print(f"  run {name}: no ide-read figure:\n{log[-1500:]}", file=sys.stderr)
                m = re.search(r"NET-END status=(\d+) uptime0=([\d.]+) uptime1=([\d.]+)", log)
                got = files.get(f"{name}.recv", b"").decode().strip()
                if (m and m.group(1) == "0" and got == str(NET_MB << 20)
                        and float(m.group(3)) > float(m.group(2))):
                    net_rates.append(NET_MB * 1048576 / 1e6 / (float(m.group(3)) - float(m.group(2))))
                else:
                    print(f"  run {name}: no e1000-tx figure (receiver counted {got or 'nothing'} bytes):\n"
                          f"{log[-1500:]}", file=sys.stderr)
            ide[vmm], net[vmm] = median(ide_rates), median(net_rates)
        line(rep, "bios-post-to-menu", menu["duet"], "qemu-pc", menu["qemu-pc"], "ms")
        line(rep, "bios-boot-to-init", init["duet"], "qemu-pc", init["qemu-pc"], "ms")
        line(rep, "ide-read", ide["duet"], "qemu-pc", ide["qemu-pc"], "MB/s", 1)
        line(rep, "e1000-tx", net["duet"], "qemu-pc", net["qemu-pc"], "MB/s", 1)
        detail.append(f"bios: {BIOS_DISK_MB} MiB read from IDE, {NET_MB} MiB sent over the e1000 "
                      f"(MB = 10^6 bytes); medians of {args.bios_reps}")

    if "nbd" in groups:
        rates = {}
        for vmm in NBD_VMMS:
            got = []
            for name in [n for n in plan.runs if n.startswith(f"nbd.{vmm}.")]:
                if rep.ok(name, 0, ["m1", "m2"]) is None:
                    continue
                log = rep.text(name, "log")
                m = re.search(r"BLK-END status=(\d+) uptime0=([\d.]+) uptime1=([\d.]+)", log)
                if m and m.group(1) == "0" and float(m.group(3)) > float(m.group(2)):
                    got.append(BLK_MB * 1048576 / 1e6 / (float(m.group(3)) - float(m.group(2))))
                else:
                    rep.failures.append(name)
                    print(f"  run {name}: dd failed:\n{log[-1500:]}", file=sys.stderr)
            rates[vmm] = median(got)
        line(rep, "nbd-read", rates["duet"], "duet-file", rates["duet-file"], "MB/s", 1)
        line(rep, "nbd-read", rates["duet"], "qemu-pc", rates["qemu-pc"], "MB/s", 1)
        detail.append(f"nbd: {BLK_MB} MiB read over NBD from qemu-nbd on the rig's loopback "
                      f"(MB = 10^6 bytes); medians of {args.nbd_reps}")
        serve = getattr(args, "nbd_serve", None) or {}
        line(rep, "nbd-serve-30", serve.get("duet"), "qemu-nbd", serve.get("qemu-nbd"), "MB/s")
        detail.append(f"nbd-serve-30: {NBD_SERVE_CLIENTS} nbdcopy readers at once, "
                      f"{NBD_SERVE_MB} MiB each, on this machine, not in the rig; duet = "
                      "duet image serve (nbd-server)")

    for d in detail:
        print("  " + d)
    if rep.failures:
        print(f"bench: {len(rep.failures)} run(s) failed and were left out of the medians: "
              f"{' '.join(sorted(set(rep.failures)))}", file=sys.stderr)
    if rep.missing:
        print(f"bench: {rep.missing} comparison(s) have no figure", file=sys.stderr)
        return 1
    return 0


def nbd_serve_bench(work: Path, duet: Path) -> dict[str, float | None]:
    """nbd-serve-30: NBD_SERVE_CLIENTS nbdcopy readers at once of one golden
    image served read-only by `duet image serve`, then by qemu-nbd, on this
    machine's loopback; aggregate MB/s per server (None: it failed)."""
    img = work / "golden.img"
    with open(img, "wb") as f:
        f.write(bytes(range(256)) * (NBD_SERVE_MB << 12))
    out: dict[str, float | None] = {}
    for server in ("duet", "qemu-nbd"):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if server == "duet":
            conf = work / "duet.conf"
            conf.write_text(f"[server]\nimages = {work / 'images'}\nrun = {work / 'run'}\n"
                            f"tftp-root = {work / 'tftp'}\naddress = 127.0.0.1\nnbd-port = {port}\n")
            subprocess.run([str(duet), "-c", str(conf), "image", "import", str(img), "golden"],
                           check=True, capture_output=True, timeout=300)
            # In the foreground, as systemd runs it; its nbd-server forks
            # a child per client. killpg of serve's group ends them all.
            argv = [str(duet), "-c", str(conf), "image", "serve"]
        else:
            argv = ["qemu-nbd", "-r", "-t", "-f", "raw", "-x", "golden", "-b", "127.0.0.1",
                    "-p", str(port), "-e", str(NBD_SERVE_CLIENTS), str(img)]
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, start_new_session=True)
        pgid = proc.pid
        try:
            for _ in range(100):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.05)
            uri = f"nbd://127.0.0.1:{port}/golden"
            start = time.monotonic()
            # each like one duet-vmm: one connection, 8 requests of 256 KiB in flight
            readers = [subprocess.Popen(["nbdcopy", "-C", "1", "-R", "8", "--request-size=262144",
                                         uri, "null:"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                       for _ in range(NBD_SERVE_CLIENTS)]
            deadline = start + 120
            failed = []
            for r in readers:
                try:
                    err = r.communicate(timeout=max(1.0, deadline - time.monotonic()))[1]
                    if r.returncode:
                        failed.append(err.decode(errors="replace").strip()
                                      or f"exit status {r.returncode}")
                except subprocess.TimeoutExpired:
                    r.kill()
                    r.communicate()
                    failed.append("still reading after 120 s")
            secs = time.monotonic() - start
            if failed:
                print(f"  nbd-serve-30 {server}: {len(failed)} readers failed: {failed[0]}",
                      file=sys.stderr)
                out[server] = None
            else:
                out[server] = NBD_SERVE_CLIENTS * NBD_SERVE_MB * 1048576 / 1e6 / secs
        finally:
            try:
                os.killpg(pgid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            proc.wait(timeout=30)
            if server == "duet" and (work / "run" / "nbd-server.pid").exists():
                try:
                    os.killpg(int((work / "run" / "nbd-server.pid").read_text().split()[0]),
                              signal.SIGTERM)
                except (ProcessLookupError, ValueError):
                    pass
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vmm", required=True, help="duet-vmm binary")
    ap.add_argument("--tsline", required=True, help="tsline binary (static)")
    ap.add_argument("--pio-guests", nargs=2, required=True, metavar=("ELF_0", "ELF_N"),
                    help="the pio guest built for 0 and for --pio-count writes")
    ap.add_argument("--pio-count", type=int, required=True)
    ap.add_argument("--only", default="boot,pio,blk,bios,nbd",
                    help="comma-separated: boot, pio, blk, bios, nbd")
    ap.add_argument("--reps", type=int, default=3, help="runs per boot/pio measurement (median)")
    ap.add_argument("--blk-reps", type=int, default=2, help="runs per blk measurement (median)")
    ap.add_argument("--bios-reps", type=int, default=3, help="runs per bios measurement (median)")
    ap.add_argument("--nbd-reps", type=int, default=2, help="runs per nbd measurement (median)")
    ap.add_argument("--smp2", action="store_true",
                    help="also the boot runs with 2 vCPUs (+9 runs, ~2-3 minutes)")
    ap.add_argument("--out", default="build/bench/last", help="where to keep every run's logs")
    args = ap.parse_args()

    plans = build_plans(args)
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    stage = Path(tempfile.mkdtemp(prefix="duet-bench-"))
    all_files: dict[str, bytes] = {}
    results_text = ""
    try:
        (stage / "fw").mkdir()
        for f in QEMU_FIRMWARE:
            shutil.copy(f, stage / "fw" / os.path.basename(f))  # follows symlinks
        files = {
            f"{B}/bzImage": str(guest_kernel()),
            f"{B}/boot.gz": initrd(BOOT_INIT),
            f"{B}/blk.gz": initrd(BLK_INIT, ["virtio_pci", "virtio_blk"]),
            f"{B}/fw": str(stage / "fw"),
            f"{B}/pio_0.elf": args.pio_guests[0],
            f"{B}/pio_n.elf": args.pio_guests[1],
        }
        if "bios" in args.only.split(","):
            make_syslinux_disk(stage / "bios.img", guest_kernel(),
                               initrd(BIOS_INIT, ["ata_piix", "sd_mod", "e1000"], BIOS_APPLETS), APPEND)
            files[f"{B}/bios.img"] = str(stage / "bios.img")
            files.update({f: f for f in DUET_FIRMWARE})
        queue = list(plans)
        while queue:
            plan = queue.pop(0)
            print(f"bench: {plan.label}: {len(plan.runs)} VMM runs in one rig boot "
                  f"(bound {plan.budget()} s)...", end="", flush=True)
            start = time.monotonic()
            hung = False
            try:
                r = run_rig(plan.script(), files=files,
                            binaries=[args.vmm, args.tsline, QEMU, *plan.binaries],
                            timeout=plan.budget(), memory="2G", modules=plan.modules)
                serial, got = r.serial, r.files
            except RigError as e:
                serial = e.serial
                print(f" rig failed: {str(e).splitlines()[0][:120]}...", end="")
                if e.result is not None:
                    got = e.result.files
                else:  # /out never came back; the console has the result lines
                    hung = True
                    got = {"results.txt": "".join(
                        m + "\n" for m in re.findall(r"^BENCH-RESULT (.*)$", serial, re.M)).encode()}
            print(f" {time.monotonic() - start:.0f} s", flush=True)
            tag = plan.label.replace(" (again)", ".again").replace(" ", "-").replace("/", "of")
            (out / f"rig-serial.{tag}.log").write_text(serial)
            (out / f"rig-command.{tag}.sh").write_text(plan.script())
            for name, data in got.items():
                if name == "results.txt":
                    results_text += data.decode(errors="replace")
                else:
                    all_files[name] = data
                    (out / name).write_bytes(data)
            done = set(parse_results(results_text))
            missing = [n for n in plan.runs if n not in done]
            if hung and missing and not plan.label.endswith("(again)"):
                print(f"bench: {plan.label}: the rig hung; {len(missing)} run(s) go again "
                      f"in a new rig boot", flush=True)
                queue.insert(0, plan.subset(missing))
        if "nbd" in args.only.split(","):
            print("bench: nbd-serve-30 on this machine...", end="", flush=True)
            start = time.monotonic()
            args.nbd_serve = nbd_serve_bench(stage, Path(args.vmm).parent / "duet")
            print(f" {time.monotonic() - start:.0f} s", flush=True)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    (out / "results.txt").write_text(results_text)
    plan = Plan("all")
    for p in plans:
        plan.runs.update(p.runs)
    results = parse_results(results_text)
    status = report(args, plan, results, all_files)
    print(f"  raw per-run figures and logs: {out}/ (results.txt: tsline output per run)")
    return status


if __name__ == "__main__":
    sys.exit(main())
