#!/usr/bin/env python3
"""make demo: a classroom on this machine.

Starts a simulated LTSP server in a network namespace (dnsmasq for DHCP and
TFTP, busybox httpd for HTTP boot, nbd-server with the Windows slot's disk,
xdm for the LTSP guest's X session) and one classroom PC (QEMU with
-cpu max, so duet-vmm runs on nested KVM inside it) that PXE-boots the
duet image from it. Prints where to watch; Ctrl-C stops everything and
removes the namespace, the bridge and the TAP.

The Windows slot boots a stand-in that takes Windows' path (SeaBIOS, an
IDE disk from NBD, e1000, VGA); no Windows image is shipped.

    scripts/demo.py [--time SECONDS]     (default: until Ctrl-C)
"""
from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "system"))
from classroom import ClassroomError, Server, two_guests  # noqa: E402

MAC = "52:54:00:00:77:01"
PC_VNC_DISPLAY = 10          # 127.0.0.1:5910, the PC's own monitor
FORWARDS = {5911: 5901, 5912: 5902, 5913: 5900}
PASSWORD = "duetdemo"


def say(msg: str) -> None:
    print(f"demo: {msg}", flush=True)


def lease_of(srv: Server, mac: str) -> str | None:
    try:
        for line in (srv.work / "leases").read_text().splitlines():
            f = line.split()
            if len(f) >= 3 and f[1].lower() == mac:
                return f[2]
    except FileNotFoundError:
        pass
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--time", type=float, default=0, help="stop after SECONDS (default: Ctrl-C)")
    args = ap.parse_args()

    stop = {"now": False}

    def on_signal(signum, frame):
        stop["now"] = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    work = Path(tempfile.mkdtemp(prefix="duet-demo-"))
    srv = Server(work, net=77, tag="demo")
    try:
        say("starting the simulated LTSP server (network namespace duet-demo, 10.77.0.1)")
        srv.start()
        say("building the Windows slot's stand-in disk (served over NBD), starting xdm (XDMCP)")
        two_guests(srv, PASSWORD, {MAC: "set duet-extra console=ttyS0,115200n8"})

        say(f"booting a classroom PC ({MAC}) from the network; its screen: "
            f"VNC 127.0.0.1:{5900 + PC_VNC_DISPLAY}")
        pc = srv.boot_pc(MAC, work / "pc", vnc=PC_VNC_DISPLAY)
        start = time.monotonic()
        shown = 0
        forwarded = False
        while not stop["now"]:
            if args.time and time.monotonic() - start > args.time:
                break
            if pc.proc.poll() is not None:
                say(f"the PC's QEMU ended ({pc.proc.returncode}); see {work}/pc/qemu.log")
                return 1
            lines = [ln for ln in pc.console().splitlines() if ln.startswith("duet: ")]
            for line in lines[shown:]:
                say(f"PC: {line[6:]}")
            shown = len(lines)
            ip = lease_of(srv, MAC)
            if not forwarded and ip and any("ready" in ln for ln in lines):
                for local, remote in FORWARDS.items():
                    srv.forward(local, f"{ip}:{remote}")
                forwarded = True
                say(f"up after {time.monotonic() - start:.0f} s. Watch:")
                say(f"  the PC's own screen:      vncviewer 127.0.0.1:{5900 + PC_VNC_DISPLAY}")
                say(f"  Windows slot's view:      vncviewer 127.0.0.1::5911  (password {PASSWORD})")
                say("  LTSP guest's view:        vncviewer 127.0.0.1::5912")
                say("  the PC's composed screen: vncviewer 127.0.0.1::5913")
                say("  flip: Right-Ctrl+1 / Right-Ctrl+2 (or Right-Ctrl+Tab) in the PC's screen")
                say("  the guests boot at nested-TCG speed here: give them a few minutes")
                say("Ctrl-C stops everything.")
            time.sleep(1)
        return 0
    except (ClassroomError, subprocess.CalledProcessError) as e:
        say(f"failed: {e}")
        return 1
    finally:
        say("stopping: PC, server, namespace")
        srv.stop()
        subprocess.run(["rm", "-rf", str(work)])
        say("stopped; nothing left behind")


if __name__ == "__main__":
    sys.exit(main())
