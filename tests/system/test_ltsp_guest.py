"""The LTSP session guest (initramfs/ltsp-guest, docs/ltsp-guest.md).

In the rig: a TAP (192.168.77.1/24) with busybox udhcpd on it, a real
XDMCP display manager (xdm, started by initramfs/ltsp-guest/xdmcp-server.sh,
with a PAM configuration that lets root in without a password) on the
TAP's address, and the guest booted by duet-vmm from
build/netboot/duet/guests/ltsp with no duet.xdmcp= argument (it must find
the server as its DHCP server) and duet.mode=1280x800. Then, through
duet-vmm's control socket:

1. the guest's X server gets xdm's login screen (the blue background its
   Xsetup sets fills most of duet-vmm's screendump);
2. "root" and Return typed on the virtio keyboard log in: the session's
   green background and xterm are on the screen;
3. "exit" typed into the xterm ends the session: that X server ends and
   the guest starts a new one, which gets a second login screen;
4. the ACPI power button powers the guest off and duet-vmm ends with 0;
5. xdmcp-server.sh stop leaves no xdm, greeter or session process.

On the host: the same script in a network namespace, queried by Xvfb from
another one, and the image build is reproducible.
"""
from __future__ import annotations

import glob
import lzma
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

import rig
from pngread import png_pixels
from rig import REPO, RigError, run_rig, shared_libraries

BUILD = REPO / "build"
IMAGE = BUILD / "netboot" / "duet" / "guests" / "ltsp"
XDM_ROOT = BUILD / "ltsp-guest" / "xdm"
SCRIPTS = REPO / "initramfs" / "ltsp-guest"
VMM = BUILD / "bin" / "duet-vmm"
VMCTL = BUILD / "bin" / "duet-vmctl"

LOGIN_BLUE = (0x2a, 0x6f, 0x97)    # xdmcp-server.sh's login screen
SESSION_GREEN = (0x3c, 0x8d, 0x2f)  # and its session

# The server side's programs, at their host paths in the rig.
SERVER_PROGRAMS = ["/usr/bin/xsetroot", "/usr/bin/xrdb", "/usr/bin/xterm"]
PAM_PERMIT = "/lib/x86_64-linux-gnu/security/pam_permit.so"
FONTS = ["/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
         "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf"]

RIG_SCRIPT = r"""
set -u
log=/out/xdm/xdm.log
say() { echo "test: $(cut -d' ' -f1 /proc/uptime) s: $*"; }
fail() {
    say "FAIL: $*"
    duet-vmctl /run/vmm.sock status > /out/status.json 2>&1
    exit 1
}
# wait_for WHAT SECONDS COMMAND...: poll every 0.5 s
wait_for() {
    what=$1; tries=$(($2 * 2)); shift 2
    until "$@" > /dev/null 2>&1; do
        tries=$((tries - 1))
        [ $tries -gt 0 ] || fail "timed out waiting for $what"
        sleep 0.5
    done
    say "$what"
}
count() { n=$(grep -c "$1" "$2" 2>/dev/null); echo "${n:-0}"; }
at_least() { [ "$(count "$2" "$3")" -ge "$1" ]; }
# the greeter's connection to the guest's X server (port 6000 = 0x1770)
greeter_up() { awk '$3 ~ /:1770$/ && $4 == "01"' /proc/net/tcp | grep -q .; }
# the session's xterm has started its shell, which it does once its window
# is up
xterm_shell() {
    for p in /proc/[0-9]*; do
        [ "$(readlink $p/exe)" = /usr/bin/xterm ] || continue
        grep -l "^PPid:[[:space:]]*${p#/proc/}\$" /proc/[0-9]*/status 2>/dev/null | grep -q . && return 0
    done
    return 1
}
type_keys() { for k in "$@"; do duet-vmctl /run/vmm.sock sendkey keys=$k > /dev/null || return 1; done; }
shot() { duet-vmctl /run/vmm.sock screendump file=/out/$1.png > /dev/null || fail "screendump $1"; }

tunctl -t tap0 > /dev/null
ip addr add 192.168.77.1/24 dev tap0
ip link set tap0 up
printf 'start 192.168.77.50\nend 192.168.77.60\ninterface tap0\nlease_file /run/leases\n' > /run/udhcpd.conf
touch /run/leases
udhcpd /run/udhcpd.conf
sh /xdmcp-server.sh start 192.168.77.1 /out/xdm || fail "xdmcp-server.sh start"
say "xdm started"

duet-vmm --name ltsp --cpus 2 --memory 256M --kernel /guest/vmlinuz --initrd /guest/initrd.img \
    --append 'console=ttyS0 quiet panic=-1 duet.mode=1280x800' --net tap=tap0 --control /run/vmm.sock \
    --serial /out/guest.log 2> /out/vmm.stderr &
vmm=$!

# 1. the login screen
wait_for "the guest's X started" 90 grep -q "X: starting" /out/guest.log
wait_for "xdm's login screen on the guest" 60 grep -q "login screen on" $log
wait_for "the login box connected" 30 greeter_up
sleep 3
shot login

# 2. log in; a key typed before the login box takes the keyboard is lost,
# so the name is typed again (after the box has cleared) when no session
# starts
for attempt in 1 2 3; do
    type_keys r o o t ret || fail "sendkey"
    say "typed root, Return (attempt $attempt)"
    n=40
    while [ $n -gt 0 ] && ! grep -q "session for root" $log; do sleep 0.5; n=$((n - 1)); done
    grep -q "session for root" $log && break
    type_keys ctrl-u
done
wait_for "the session started" 1 grep -q "session for root" $log
wait_for "the session's xterm" 60 xterm_shell
sleep 2
shot session

# 3. log out: the xterm sits under the pointer (the screen's centre); what
# is typed before it has the keyboard is lost, so "exit" is typed again
# when the session goes on
for attempt in 1 2 3; do
    type_keys e x i t ret || fail "sendkey"
    say "typed exit, Return (attempt $attempt)"
    n=40
    while [ $n -gt 0 ] && ! grep -q "X: ended .* after the session" /out/guest.log; do sleep 0.5; n=$((n - 1)); done
    grep -q "X: ended .* after the session" /out/guest.log && break
done
wait_for "the guest's X ended after the session" 1 grep -q "X: ended .* after the session" /out/guest.log
wait_for "a second X server" 30 at_least 2 "X: starting" /out/guest.log
wait_for "a second login screen" 60 at_least 2 "login screen on" $log
wait_for "the second login box connected" 30 greeter_up
sleep 3
shot login2

# 4. the power button
duet-vmctl /run/vmm.sock powerdown > /out/powerdown.json
( sleep 30; kill $vmm 2>/dev/null ) &
timer=$!
wait $vmm
echo "vmm-exit=$?" > /out/vmm.txt
kill $timer 2>/dev/null
say "duet-vmm ended"

# 5. stop xdm: nothing of it may be left
sh /xdmcp-server.sh stop /out/xdm > /out/stop.txt 2>&1
for p in /proc/[0-9]*; do
    exe=$(readlink $p/exe 2>/dev/null) || continue
    case "$exe" in */xdm|*/xterm|*/xsetroot|*/xrdb) echo "${p#/proc/} $exe $(tr '\0' ' ' < $p/cmdline)";; esac
done > /out/left.txt
say "done"
"""

PAM_XDM = b"""# the rig's xdm: anyone may log in (the test types root and Return)
auth     required pam_permit.so
account  required pam_permit.so
session  required pam_permit.so
password required pam_permit.so
"""


def server_files() -> dict:
    """xdm (unpacked by make ltsp-xdm), its login box and session
    programs with every library they load, PAM and fonts, for the rig."""
    xdm = XDM_ROOT / "usr" / "bin" / "xdm"
    greeter = XDM_ROOT / "usr" / "lib" / "X11" / "xdm" / "libXdmGreet.so"
    for path in (xdm, greeter):
        if not path.exists():
            pytest.fail(f"{path} is missing: make ltsp-xdm (check-system builds it)")
    files = {"/usr/bin/xdm": str(xdm), "/usr/lib/X11/xdm/libXdmGreet.so": str(greeter),
             PAM_PERMIT: PAM_PERMIT, "/etc/pam.d/xdm": PAM_XDM,
             "/etc/shells": b"/bin/sh\n", "/etc/fonts": "/etc/fonts",
             "/xdmcp-server.sh": str(SCRIPTS / "xdmcp-server.sh")}
    for program in SERVER_PROGRAMS + FONTS:
        files[program] = program
    for binary in [xdm, greeter] + [Path(p) for p in SERVER_PROGRAMS]:
        for lib in shared_libraries(binary):
            files[lib] = lib
    return files


def shares(png: bytes, *colours: tuple[int, int, int]) -> tuple[int, int, list[float]]:
    """Width, height and the share of the pixels that are exactly each of
    `colours`."""
    width, height, rgb = png_pixels(png)
    counts = {bytes(c): 0 for c in colours}
    for i in range(0, len(rgb), 3):
        pixel = rgb[i:i + 3]
        if pixel in counts:
            counts[pixel] += 1
    return width, height, [counts[bytes(c)] / (width * height) for c in colours]


@pytest.fixture(scope="module")
def session_run():
    if shutil.which(rig.QEMU) is None:
        pytest.skip(f"{rig.QEMU} not installed (package qemu-system-x86)")
    for path in (IMAGE / "vmlinuz", IMAGE / "initrd.img", VMM, VMCTL):
        if not path.exists():
            pytest.fail(f"{path} is missing: make check-system builds it (make ltsp-guest)")
    files = server_files()
    files["/guest/vmlinuz"] = str(IMAGE / "vmlinuz")
    files["/guest/initrd.img"] = str(IMAGE / "initrd.img")
    start = time.monotonic()
    try:
        result = run_rig(RIG_SCRIPT, files=files, binaries=[VMM, VMCTL], modules=["tun"],
                         timeout=480)
    except RigError as e:
        partial = e.result.files if e.result else {}
        pytest.fail(str(e) + "\n" + logs(partial))
    print(f"ltsp guest rig run: {time.monotonic() - start:.0f} s")
    return result


def logs(files: dict) -> str:
    text = []
    for name in ("guest.log", "xdm/xdm.log", "vmm.stderr", "vmm.txt", "stop.txt", "left.txt"):
        if name in files:
            text.append(f"--- {name} ---\n" + files[name].decode(errors="replace")[-6000:])
    return "\n".join(text)


def check_ok(result):
    detail = logs(result.files) + "\n" + result.tail()
    assert result.status == 0, f"the rig script failed (status {result.status})\n{detail}"
    return detail


def test_guest_gets_a_login_screen_by_xdmcp(session_run):
    detail = check_ok(session_run)
    guest = session_run.files["guest.log"].decode(errors="replace")
    assert "ltsp-guest: network: eth0 has 192.168.77.5" in guest, detail
    assert "ltsp-guest: XDMCP server: 192.168.77.1 (the DHCP server)" in guest, detail
    assert "ltsp-guest: X: 192.168.77.1 connected" in guest, detail
    _, _, [share] = shares(session_run.files["login.png"], LOGIN_BLUE)
    assert share > 0.4, f"the login screen's blue covers {share:.0%} of the screendump\n{detail}"


def test_typed_login_starts_the_session(session_run):
    detail = check_ok(session_run)
    xdm = session_run.files["xdm/xdm.log"].decode(errors="replace")
    assert "xdmcp-server: session for root on 192.168.77.5" in xdm, detail
    width, height, [green, white] = shares(session_run.files["session.png"], SESSION_GREEN,
                                           (255, 255, 255))
    assert (width, height) == (1280, 800), f"duet.mode=1280x800 gave {width}x{height}\n{detail}"
    assert green > 0.5, f"the session's green covers {green:.0%} of the screendump\n{detail}"
    # the xterm, 80x24 characters of 6x13 pixels, white: 15 % at 1280x800
    assert white > 0.1, f"no xterm on the screen (white: {white:.0%})\n{detail}"


def test_logout_gives_a_new_x_server_and_login_screen(session_run):
    detail = check_ok(session_run)
    guest = session_run.files["guest.log"].decode(errors="replace")
    xdm = session_run.files["xdm/xdm.log"].decode(errors="replace")
    assert "ltsp-guest: X: ended (status 0) after the session; starting a new one" in guest, detail
    assert guest.count("ltsp-guest: X: starting") >= 2, detail
    assert xdm.count("xdmcp-server: login screen on") >= 2, detail
    _, _, [share] = shares(session_run.files["login2.png"], LOGIN_BLUE)
    assert share > 0.4, f"the second login screen's blue covers {share:.0%}\n{detail}"


def test_power_button_and_clean_stop(session_run):
    detail = check_ok(session_run)
    guest = session_run.files["guest.log"].decode(errors="replace")
    assert "ltsp-guest: the power button was pressed: powering off" in guest, detail
    assert session_run.files["vmm.txt"] == b"vmm-exit=0\n", detail
    assert session_run.files["left.txt"] == b"", "processes left after xdmcp-server.sh stop\n" + detail
    assert b"xdm stopped" in session_run.files["stop.txt"], detail


# ---- on the host: xdmcp-server.sh in a network namespace ----

NETNS_ADDRESSES = ("192.168.79.1", "192.168.79.2")  # server, client


def xwd_pixels(data: bytes) -> tuple[int, int, bytes]:
    """Width, height and RGB bytes of a 32-bit-per-pixel XWD dump (xwd of
    a 24-bit TrueColor screen)."""
    header = [int.from_bytes(data[i:i + 4], "big") for i in range(0, 100, 4)]
    size, width, height, byte_order, bpp, stride, ncolours = (
        header[0], header[4], header[5], header[7], header[11], header[12], header[19])
    assert bpp == 32, f"expected 32 bits per pixel, not {bpp}"
    base = size + 12 * ncolours
    rgb = bytearray()
    for y in range(height):
        row = data[base + y * stride:base + y * stride + 4 * width]
        if byte_order == 0:  # LSBFirst: B G R x
            rgb += bytes(b for i in range(0, len(row), 4) for b in (row[i + 2], row[i + 1], row[i]))
        else:  # MSBFirst: x R G B
            rgb += bytes(b for i in range(0, len(row), 4) for b in row[i + 1:i + 4])
    return width, height, bytes(rgb)


def descendants(pid: int) -> set[int]:
    parents = {}
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            fields = open(stat).read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.split("/")[2])] = int(fields[1])
    found = {pid}
    for p in parents:
        q = p
        while q in parents and q not in found:
            q = parents[q]
        if q in found:
            found.add(p)
    return {p for p in found if os.path.exists(f"/proc/{p}")}


def free_display() -> int:
    return next(n for n in range(77, 200)
                if not os.path.exists(f"/tmp/.X{n}-lock") and not os.path.exists(f"/tmp/.X11-unix/X{n}"))


@pytest.fixture
def netns_pair():
    """Two network namespaces joined by a veth pair: (server, client)."""
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    for tool in ("ip", "Xvfb", "xwd"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed (packages iproute2, xvfb, x11-apps)")
    suffix = str(os.getpid())
    server, client = f"duet-xs{suffix}", f"duet-xc{suffix}"
    run = lambda *a: subprocess.run(a, check=True, capture_output=True)  # noqa: E731
    try:
        run("ip", "netns", "add", server)
        run("ip", "netns", "add", client)
        run("ip", "link", "add", f"dxs{suffix}", "netns", server, "type", "veth",
            "peer", "name", f"dxc{suffix}", "netns", client)
        for ns, dev, address in ((server, f"dxs{suffix}", NETNS_ADDRESSES[0]),
                                 (client, f"dxc{suffix}", NETNS_ADDRESSES[1])):
            run("ip", "-n", ns, "addr", "add", f"{address}/24", "dev", dev)
            run("ip", "-n", ns, "link", "set", dev, "up")
            run("ip", "-n", ns, "link", "set", "lo", "up")
    except subprocess.CalledProcessError as e:
        for ns in (server, client):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        pytest.skip(f"cannot make network namespaces here: {e.stderr.decode().strip()}")
    yield server, client
    for ns in (server, client):
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def test_xdmcp_server_in_a_network_namespace(netns_pair, tmp_path):
    server, client = netns_pair
    script = str(SCRIPTS / "xdmcp-server.sh")
    xdm_dir = tmp_path / "xdm"
    env = dict(os.environ, XDM=str(XDM_ROOT / "usr" / "bin" / "xdm"))
    if not Path(env["XDM"]).exists():
        pytest.fail(f"{env['XDM']} is missing: make ltsp-xdm (check-system builds it)")
    start = subprocess.run(["sh", script, "start", NETNS_ADDRESSES[0], str(xdm_dir), server],
                           env=env, capture_output=True, text=True, timeout=30)
    assert start.returncode == 0, start.stdout + start.stderr
    xdm_pid = int((xdm_dir / "xdm.run").read_text())
    display = free_display()
    xvfb = subprocess.Popen(["ip", "netns", "exec", client, "Xvfb", f":{display}", "-query",
                             NETNS_ADDRESSES[0], "-listen", "tcp", "-screen", "0", "1024x768x24"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = xdm_dir / "xdm.log"
    try:
        # xdm answers on the given address only, not on every address
        udp = open(f"/proc/{xdm_pid}/net/udp").read()
        assert "014FA8C0:00B1" in udp and "00000000:00B1" not in udp, udp
        screen = f"{NETNS_ADDRESSES[1]}:{display}"
        deadline, share = time.monotonic() + 30, 0.0
        while time.monotonic() < deadline and share <= 0.4:
            time.sleep(0.5)
            if f"login screen on {screen}" not in log.read_text():
                continue
            auth = glob.glob(f"{xdm_dir}/auth/**/A{screen}-*", recursive=True)
            dump = subprocess.run(["ip", "netns", "exec", client, "xwd", "-display", screen,
                                   "-root", "-silent"], capture_output=True,
                                  env=dict(os.environ, XAUTHORITY=auth[0] if auth else ""))
            if dump.returncode == 0:
                width, height, rgb = xwd_pixels(dump.stdout)
                want = bytes(LOGIN_BLUE)
                share = sum(1 for i in range(0, len(rgb), 3) if rgb[i:i + 3] == want) / (width * height)
        assert share > 0.4, f"no login screen on {screen} (blue {share:.0%})\n{log.read_text()}"
        running = descendants(xdm_pid)
        assert len(running) >= 2, f"no login box process below xdm: {running}"
    finally:
        stop = subprocess.run(["sh", script, "stop", str(xdm_dir)], env=env,
                              capture_output=True, text=True, timeout=30)
        xvfb.terminate()
        xvfb.wait(timeout=10)
    assert stop.returncode == 0 and "xdm stopped" in stop.stdout, stop.stdout + stop.stderr
    left = [p for p in running if os.path.exists(f"/proc/{p}")]
    assert not left, f"processes left after stop: {left}"


# ---- the build ----

def test_build_is_reproducible(tmp_path):
    """Two builds with the same SOURCE_DATE_EPOCH give the same bytes; every
    entry carries that time."""
    kernel_dir = rig.KERNEL_DIR
    if not (kernel_dir / ".unpacked").exists():
        pytest.fail(f"{kernel_dir} is missing: make rig-deps (check-system builds it)")
    env = dict(os.environ, SOURCE_DATE_EPOCH="1700000000")
    outputs = [tmp_path / "a", tmp_path / "b"]
    builds = [subprocess.Popen([sys.executable, str(SCRIPTS / "build.py"), "--kernel-dir",
                                str(kernel_dir), "--out", str(out)], env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
              for out in outputs]  # at once: each is one xz, one core
    for b in builds:
        output = b.communicate(timeout=300)[0]
        assert b.returncode == 0, output
        assert "initrd.img" in output and "MiB" in output, output
    for f in ("vmlinuz", "initrd.img"):
        assert (outputs[0] / f).read_bytes() == (outputs[1] / f).read_bytes(), f"{f} differs"
    archive = lzma.decompress((outputs[0] / "initrd.img").read_bytes())
    names, mtimes, pos = set(), set(), 0
    while True:  # cpio newc: 110-byte header, name, data, each padded to 4
        header = archive[pos:pos + 110]
        assert header[:6] == b"070701", f"bad cpio header at {pos}"
        mtime, size, namesize = (int(header[46:54], 16), int(header[54:62], 16),
                                 int(header[94:102], 16))
        name = archive[pos + 110:pos + 110 + namesize - 1].decode()
        if name == "TRAILER!!!":
            break
        names.add(name)
        mtimes.add(mtime)
        pos += (110 + namesize + 3) & ~3
        pos += (size + 3) & ~3
    assert mtimes == {1700000000}, mtimes
    for wanted in ("init", "etc/udhcpc.script", "usr/lib/xorg/Xorg", "usr/bin/xkbcomp",
                   "usr/lib/xorg/modules/drivers/modesetting_drv.so",
                   "usr/lib/xorg/modules/input/evdev_drv.so", "lib/modules/bochs.ko",
                   "lib/modules/virtio_net.ko", "usr/share/X11/xkb/symbols/us", "sbin/udhcpc"):
        assert wanted in names, f"{wanted} is not in the image"
