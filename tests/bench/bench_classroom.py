#!/usr/bin/env python3
"""Benchmarks of the classroom image (make bench-classroom):

  image-size        the image compressed vs unpacked (and the kernel)
  pxe-to-guests     PXE ROM to both guests' VMMs running, HTTP vs TFTP
  pxe-to-ltsp-x     PXE ROM to the LTSP guest's XDMCP login screen, HTTP vs TFTP

One simulated classroom (tests/system/classroom.py), the same PC booted
twice in one run: once with duet.ipxe choosing HTTP, once forced to TFTP
by its per-PC iPXE file. The PC is QEMU under TCG with nested KVM, so the
absolute times are those of this machine's rig, not a real PC's; the
HTTP/TFTP ratio is what carries over. Results, one line each:
  bench NAME: duet=VALUE UNIT PEER=VALUE UNIT ratio=R
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "system"))
from classroom import Server, two_guests  # noqa: E402

MAC = "52:54:00:00:77:31"
LIMIT = 900


def image_size() -> None:
    img = REPO / "build" / "netboot" / "duet" / "initrd.img"
    raw = subprocess.run(["zstd", "-dc", str(img)], capture_output=True, check=True).stdout
    mib = 1 << 20
    print(f"bench image-size: duet={img.stat().st_size / mib:.1f} MiB "
          f"unpacked={len(raw) / mib:.1f} MiB ratio={img.stat().st_size / len(raw):.2f}", flush=True)
    kernel = img.parent / "vmlinuz"
    print(f"bench image-size-with-kernel: duet={(img.stat().st_size + kernel.stat().st_size) / mib:.1f}"
          f" MiB initrd={img.stat().st_size / mib:.1f} MiB "
          f"ratio={(img.stat().st_size + kernel.stat().st_size) / img.stat().st_size:.2f}", flush=True)


def boot(proto: str, work: Path) -> tuple[float, float]:
    """Seconds from QEMU's start (the PXE ROM) to both VMMs running, and
    to the LTSP guest's login screen on xdm."""
    force = "set duet-base tftp://${duet-server}/duet\n" if proto == "tftp" else ""
    srv = Server(work, net=79, tag=f"b{proto[0]}{os.getpid() % 1000}")
    try:
        srv.start()
        two_guests(srv, "duetbench", {MAC: force + "set duet-extra console=ttyS0,115200n8"})
        xdm_log = work / "xdm" / "xdm.log"
        start = time.monotonic()
        pc = srv.boot_pc(MAC, work / "pc")
        pc.wait_serial(r"duet: ready", LIMIT)
        guests = time.monotonic() - start
        if f"config: from {proto}://" not in pc.console():
            raise SystemExit(f"bench: the PC did not boot over {proto}:\n{pc.tail()}")
        while "login screen" not in (xdm_log.read_text(errors="replace") if xdm_log.exists() else ""):
            if time.monotonic() - start > LIMIT:
                raise SystemExit(f"bench: no XDMCP login screen after {LIMIT} s over {proto}")
            time.sleep(0.5)
        return guests, time.monotonic() - start
    finally:
        srv.stop()


def main() -> int:
    image_size()
    times = {}
    for proto in ("http", "tftp"):
        work = Path(tempfile.mkdtemp(prefix=f"duet-bench-{proto}-"))
        try:
            times[proto] = boot(proto, work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    for i, name in enumerate(("pxe-to-guests", "pxe-to-ltsp-x")):
        h, t = times["http"][i], times["tftp"][i]
        print(f"bench {name}: duet={h:.1f} s (http) tftp={t:.1f} s ratio={h / t:.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
