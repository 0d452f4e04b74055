"""End to end: a classroom PC PXE-boots the duet image from a simulated
LTSP server and runs both guests on one screen (tests/system/classroom.py).

The PC is QEMU (TCG, -cpu max, so duet-vmm runs on nested KVM inside it)
with an e1000 and its iPXE ROM; the server is a network namespace with a
real dnsmasq (DHCP + TFTP), busybox httpd (HTTP boot), the real `duet`
command (the golden image imported and served by `duet image serve`, the
config published from a duet.conf) and xdm (the LTSP guest's X session
over XDMCP). One boot, then in order:

  PXE -> iPXE -> duet.ipxe over HTTP -> /init -> config by MAC (checked
  against SHA256SUMS) -> duet-display + two duet-vmm under runit;
  both guests reach their screens; Right-Ctrl+2 flips the PC's screen
  (QEMU screendumps before and after show each guest); a VNC client on
  the server sees each guest's own view; `duet switch` flips the PC from
  the server and `duet wall` draws it; killing the LTSP guest's VMM
  leaves the Windows slot running while the screen shows it stopped, until
  runit brings it back.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from classroom import DUET, REPO, ClassroomError, PCEnded, Server, two_guests
from guest import STANDIN_BLUE
from pngread import png_pixels

LTSP_GUEST = REPO / "build" / "netboot" / "duet" / "guests" / "ltsp"
MAC = "52:54:00:00:77:01"
# xdmcp-server.sh's login screen: its background. The login box covers a
# good part of the guest's screen, and the PC's screen letterboxes the
# guest, so a fifth of the guest's view (a seventh of the PC's screen)
# being this blue is the sign of the login screen; nothing else shows it.
LOGIN_BLUE = (0x2a, 0x6f, 0x97)
VNC_PASSWORD = "duet-e2e"
VNC_CLIENT = REPO / "build" / "asan" / "tests" / "display" / "vnc_client"


def rgb_share(px: bytes, rgb: tuple[int, int, int], tolerance: int = 24) -> float:
    """The share of RGB pixels (every 61st sampled) within `tolerance` of rgb."""
    hits = total = 0
    for i in range(0, len(px) - 2, 3 * 61):
        total += 1
        hits += all(abs(px[i + k] - rgb[k]) <= tolerance for k in range(3))
    return hits / max(total, 1)


def share(png: bytes, rgb: tuple[int, int, int], tolerance: int = 24) -> float:
    return rgb_share(png_pixels(png)[2], rgb, tolerance)


def ppm_share(path: Path, rgb: tuple[int, int, int], tolerance: int = 24) -> float:
    return rgb_share(path.read_bytes().split(b"\n", 3)[3], rgb, tolerance)


def wait_for(what: str, check, timeout: float, detail=lambda: "") -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if check():
                return
        except PCEnded:
            raise
        except ClassroomError as e:   # the PC stopped answering: say what it shows
            raise AssertionError(f"{what}: {e}\n{detail()}") from None
        time.sleep(2)
    raise AssertionError(f"{what}: not after {timeout:.0f} s\n{detail()}")


@pytest.fixture(scope="module")
def classroom():
    for need in (REPO / "build" / "netboot" / "duet" / "initrd.img", LTSP_GUEST / "initrd.img"):
        if not need.exists():
            pytest.fail(f"{need} is missing: make image netboot ltsp-guest")
    work = Path(tempfile.mkdtemp(prefix="duet-classroom-"))
    srv = Server(work, net=78, tag=f"e{os.getpid() % 10000}")
    try:
        srv.start()
        # This PC gets a root shell on its second serial port and its
        # console on the first (an administrator's per-PC iPXE settings).
        two_guests(srv, VNC_PASSWORD,
                   {MAC: "set duet-extra duet.shell=ttyS1 console=ttyS0,115200n8"})
        pc = srv.boot_pc(MAC, work / "pc")
        yield srv, pc, work
    finally:
        srv.stop()
        if os.environ.get("DUET_RIG_KEEP"):
            print(f"classroom: kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def guest_log(pc, name: str) -> str:
    return pc.shell(f"cat /run/log/vmm-{name}/current 2>/dev/null", 30)


def test_pxe_to_two_guests_flip_vnc_and_a_crash(classroom):
    srv, pc, work = classroom
    try:
        one_boot(srv, pc, work)
    except PCEnded as e:
        if not e.fault:
            raise
        # The emulated PC itself failed (a triple fault of the rig's kernel,
        # a crash of QEMU): nothing duet runs can do that. Once more.
        print(f"classroom: {e.fault}; booting the PC once more", file=sys.stderr)
        pc.stop()
        one_boot(srv, srv.boot_pc(MAC, work / "pc-again"), work)


def one_boot(srv, pc, work):
    def detail() -> str:
        out = f"--- PC console ---\n{pc.tail(40)}\n--- dnsmasq ---\n{srv.log('dnsmasq')[-1500:]}"
        try:
            # each guest's vCPUs twice, 3 s apart: spinning, or halted for good
            out += "\n--- on the PC ---\n" + pc.shell(
                "sv status /etc/service/*; tail -n 15 /run/log/*/current; "
                "for i in 1 2; do for s in /run/duet/vmm-*.sock; do echo \"$s:\"; "
                "duet-vmctl $s cpus; done; sleep 3; done", 40)
        except Exception as e:  # the shell may be what failed
            out += f"\n(no debug shell: {e})"
        return out

    # PXE -> iPXE over HTTP -> /init -> runit
    try:
        pc.wait_serial(r"duet: starting: display and guests windows ltsp", 420)
    except PCEnded:
        raise
    except Exception as e:
        raise AssertionError(f"{e}\n{detail()}") from None
    console = pc.console()
    assert "config: from http://" in console, detail()
    assert "config: config/default (guests: windows ltsp)" in console, detail()
    assert "url:/duet/initrd.img" in srv.log("httpd"), "the image did not come over HTTP"
    # the PC's log reaches the server's syslog (SYSLOG= in client.conf)
    wait_for("the PC's log lines in the server's syslog",
             lambda: "starting: display and guests" in
             (srv.work / "syslog.log").read_text(errors="replace"), 30, detail)

    # both guests reach their screens: the stand-in says so on its serial
    # console, the LTSP guest's X server gets xdm's login screen
    wait_for("the Windows slot's stand-in", lambda: "standin: windows slot up" in
             guest_log(pc, "windows"), 300, detail)
    xdm_log = work / "xdm" / "xdm.log"
    wait_for("the LTSP guest's XDMCP login screen",
             lambda: xdm_log.exists() and "login screen" in xdm_log.read_text(errors="replace"),
             420, lambda: detail() + "\n--- xdm ---\n" +
             (xdm_log.read_text(errors="replace")[-1500:] if xdm_log.exists() else ""))

    # the PC's screen shows the Windows slot first (SCREEN=windows) ...
    def screen_share(rgb) -> float:
        return share(pc.screendump(work / "screen.png").read_bytes(), rgb)

    wait_for("the Windows slot on the PC's screen", lambda: screen_share(STANDIN_BLUE) > 0.5,
             120, detail)
    # ... Right-Ctrl+2 flips it to the LTSP guest's X login
    pc.sendkey("ctrl_r-2")
    wait_for("the LTSP guest on the PC's screen after Right-Ctrl+2",
             lambda: screen_share(LOGIN_BLUE) > 0.15, 60, detail)
    assert screen_share(STANDIN_BLUE) < 0.05
    # ... and Right-Ctrl+1 back
    pc.sendkey("ctrl_r-1")
    wait_for("the Windows slot again after Right-Ctrl+1",
             lambda: screen_share(STANDIN_BLUE) > 0.5, 60, detail)

    # a VNC client on the server sees each guest's own view (password on)
    lease = pc.shell(". /run/duet/dhcp.env; echo $DHCP_IP", 30).strip()
    passwd = work / "vnc.passwd.stored"
    subprocess.run([VNC_CLIENT, "--store-password", VNC_PASSWORD, passwd], check=True)
    for port, name, colour in ((5901, "windows", STANDIN_BLUE), (5902, "ltsp", LOGIN_BLUE)):
        jpg = work / f"vnc-{name}.jpg"

        def view_shows() -> bool:
            r = srv.nsrun("timeout", "60", "vncsnapshot", "-quiet", "-nojpeg", "-passwd", passwd,
                          f"{lease}::{port}", jpg, check=False)
            assert r.returncode == 0, f"vncsnapshot of {name}: {r.stdout}{r.stderr}"
            subprocess.run([VNC_CLIENT, "--jpeg-to-ppm", jpg, f"{jpg}.ppm"], check=True,
                           timeout=10)
            return ppm_share(Path(f"{jpg}.ppm"), colour) > (0.5 if name == "windows" else 0.2)

        # (xdm resets the X server between login screens: the grey root
        # weave shows for a moment)
        wait_for(f"{name}'s own VNC view", view_shows, 90, detail)

    # The teacher's tools on the server, the real `duet` in the server's
    # namespace: `duet switch` flips the PC through duet-display's remote
    # port (signed with the server's key; the PC has the public key from
    # its config), `duet wall` draws its screen as a thumbnail.
    (work / "ethers").write_text(f"{MAC} pc1\n")    # the classroom's PCs
    assert f"{MAC}  {lease}" in srv.duet("config", "pcs")

    def duet_ns(*args: str) -> str:
        r = srv.nsrun(DUET, "-c", work / "duet.conf", *args, check=False)
        assert r.returncode == 0, f"duet {' '.join(args)}: {r.stdout}{r.stderr}\n{detail()}"
        return r.stdout

    assert f"pc1 ({MAC}): ok" in duet_ns("switch", "pc1", "ltsp")
    wait_for("the LTSP guest on screen after duet switch", lambda: screen_share(LOGIN_BLUE) > 0.15,
             60, detail)
    assert f"pc1 ({MAC}): ltsp (guests: windows,ltsp)" in duet_ns("switch", "--status", "all")
    wall = work / "wall.png"
    out = duet_ns("wall", "--once", "--output", str(wall))
    assert "pc1" in out and "ltsp" in out, out
    assert share(wall.read_bytes(), LOGIN_BLUE) > 0.05, "the wall's tile does not show the LTSP login"
    assert f"pc1 ({MAC}): ok" in duet_ns("switch", "all", "windows")
    wait_for("the Windows slot after duet switch all", lambda: screen_share(STANDIN_BLUE) > 0.5,
             60, detail)

    # killing the LTSP guest's VMM: the Windows slot keeps running, the
    # screen shows the LTSP guest stopped, runit brings it back
    pc.sendkey("ctrl_r-2")
    wait_for("the LTSP guest on screen", lambda: screen_share(LOGIN_BLUE) > 0.15, 60, detail)
    before = pc.shell("sv status /etc/service/vmm-windows", 30)
    pc.shell("kill -KILL $(cat /etc/service/vmm-ltsp/supervise/pid)", 30)
    wait_for("the stopped screen for the LTSP guest",
             lambda: screen_share(LOGIN_BLUE) < 0.05, 30, detail)
    after = pc.shell("sv status /etc/service/vmm-windows", 30)
    assert before.split("(pid")[1].split(")")[0] == after.split("(pid")[1].split(")")[0], \
        f"the Windows slot's VMM changed: {before!r} -> {after!r}"
    wait_for("runit restarting the LTSP guest and its X login again",
             lambda: screen_share(LOGIN_BLUE) > 0.15, 420, detail)
    pc.stop()


NO_KVM_MAC = "52:54:00:00:77:02"


def test_a_damaged_file_then_a_pc_without_virtualization(classroom):
    """A PC whose config has a file that does not match SHA256SUMS says so
    and retries; once the file is right it goes on, finds no hardware
    virtualization (a CPU without SVM) and says that, in words a teacher
    understands, on its screen."""
    srv, _, work = classroom
    ident = NO_KVM_MAC.replace(":", "-")
    srv.publish(ident, {
        "client.conf": f'GUESTS="windows"\nFILES="guests/ltsp/vmlinuz"\nSYSLOG={srv.ip}\n',
        "guest-windows.conf": "[vm]\nbios = yes\nmemory = 128M\n",
    })
    (srv.tftp / "duet" / "clients" / f"{ident}.ipxe").write_text(
        "#!ipxe\nset duet-extra console=ttyS0,115200n8\n")
    srv.manifest()
    # damaged after the manifest was written: a truncated kernel
    kernel = srv.tftp / "duet" / "guests" / "ltsp" / "vmlinuz"
    good = kernel.read_bytes()
    kernel.unlink()                      # (a hard link into build/: never write through it)
    kernel.write_bytes(good[: len(good) // 2])
    pc = srv.boot_pc(NO_KVM_MAC, work / "pc2", cpu="qemu64,-svm")
    try:
        pc.wait_serial(r"guests/ltsp/vmlinuz is damaged \(sha256 [0-9a-f]{64}, the manifest says", 300)
        kernel.unlink()
        kernel.write_bytes(good)
        pc.wait_serial(r"This PC has hardware virtualization switched off\. Enable VT-x/AMD-V", 120)
        assert "starting: display" not in pc.console()
        # the words are on the PC's screen (text on tty1, not a black screen)
        shot = pc.screendump(work / "no-kvm.png").read_bytes()
        assert share(shot, (0, 0, 0), 8) < 0.999, "the PC's screen shows nothing"
        wait_for("the message in the server's syslog", lambda: "switched off" in
                 (srv.work / "syslog.log").read_text(errors="replace"), 30, pc.tail)
    finally:
        pc.stop()
