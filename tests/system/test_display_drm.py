"""duet-display on real devices, in the rig: DRM/KMS, fbdev and evdev.

QEMU's std-VGA (`-vga std`) gives the rig's Debian kernel a real DRM/KMS
device (bochs.ko, with its fbdev emulation as /dev/fb0), and uinput.ko
gives real input devices. One boot runs this script in the rig:

1. duet-display --output drm --input evdev with two test peers of
   different colours; a uinput keyboard, mouse and tablet
   (tests/display/uinput_keys.c) are grabbed by the evdev source;
   Right-Ctrl+2 typed on the keyboard switches to the second guest; then
   Caps Lock (its LED comes back to the keyboard), a held key (kernel
   autorepeat, not forwarded), mouse and tablet motion; a monitor unplug
   and replug (the connector forced off and on, with a uevent); SIGTERM,
   after which the console's framebuffer is on the CRTC again.
2. duet-display --output fbdev --input evdev on /dev/fb0, the same peers
   (they reconnect), Right-Ctrl+2 again; then the uinput devices go away
   while Shift is held on them.

QEMU's own screendump (QMP, from the host) captures what the rig's
"monitor" shows at each step: the guest asks for a shot over a third
serial port (ttyS2, a socket to this test) and waits for the reply. So the
pictures checked here are what the emulated VGA scans out, not anything
duet-display reports about itself.

One rig boot, ~25 s.
"""

import json
import os
import re
import shutil
import socket
import tempfile
import threading

import pytest

import rig
from rig import REPO, RigError, run_rig

BUILD = REPO / "build"
DISPLAY = BUILD / "asan" / "bin" / "duet-display"   # sanitized, as in check-display
VMCTL = BUILD / "bin" / "duet-vmctl"
PEER = BUILD / "tests" / "display" / "peer"
UINPUT = BUILD / "tests" / "display" / "uinput_keys"
MODULES = ["bochs", "uinput", "evdev"]

# QEMU's std-VGA EDID makes 1280x800 the preferred mode.
MODE = (1280, 800)
ALPHA, BETA = (0xc0, 0x30, 0x30), (0x30, 0xa0, 0x40)          # the peers' pictures
ALPHA_EDGE, BETA_EDGE = (0x2f, 0x6f, 0xdf), (0xe0, 0x7a, 0x10)  # their edge colours

pytestmark = pytest.mark.skipif(shutil.which(rig.QEMU) is None,
                                reason=f"{rig.QEMU} not installed (package qemu-system-x86)")

GUEST_SCRIPT = r"""
set -u
say() { echo "test: $*"; }
collect() {
    cp /tmp/*.log /tmp/*.rec /out/ 2>/dev/null
    duet-vmctl /run/c.sock list > /out/list-last.json 2>/dev/null
}
fail() { say "FAIL: $*"; collect; exit 1; }
# wait_for WHAT SECONDS COMMAND...: poll every 0.1 s
wait_for() {
    what=$1; tries=$(($2 * 10)); shift 2
    until "$@" > /dev/null 2>&1; do
        tries=$((tries - 1))
        [ $tries -gt 0 ] || fail "timed out waiting for $what"
        sleep 0.1
    done
}
# shot NAME: QEMU's screendump of the rig's screen, taken by the host
shot() {
    echo "SHOT $1" >&3
    read -r -t 30 reply <&3 || fail "screendump $1: no answer from the host"
    [ "$reply" = "DONE $1" ] || fail "screendump $1: $reply"
    say "screendump $1 taken"
}
list() { duet-vmctl /run/c.sock list; }
field() { list | sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p"; }
active_is() { list | grep -q "\"active\":\"$1\""; }
# settled: the screen shows the last frame composed (no flip pending)
settled() { [ "$(field frames)" = "$(field flips)" ] && [ "$(field frames)" -gt "$1" ]; }
running2() { [ "$(list | grep -o '"state":"running"' | wc -l)" = 2 ]; }
key() { echo "$*" >&4; }
plane_fb() { grep -m1 '	fb=' /sys/kernel/debug/dri/0/state | tr -d '\t'; }

# fd 3: the screendump channel; fd 4 (later): uinput_keys' commands.
# Programs started in the background get neither (4 would keep the FIFO
# open for writing, and uinput_keys would never see its end).
exec 3<>/dev/ttyS2
stty -F /dev/ttyS2 raw -echo
mount -t debugfs none /sys/kernel/debug
plane_fb > /out/fb-before.txt

# ---- phase 1: DRM/KMS and evdev ----
duet-display --output drm --input evdev --socket /run/d.sock --control /run/c.sock \
    -g alpha=#2f6fdf -g beta=#e07a10 > /tmp/display-drm.log 2>&1 3>&- 4>&- &
display=$!
wait_for "the control socket" 20 list
peer --socket /run/d.sock --name alpha --color c03030 --size 1280x800 --record /tmp/alpha.rec 3>&- &
peers=$!
peer --socket /run/d.sock --name beta --color 30a040 --size 1280x800 --record /tmp/beta.rec 3>&- &
peers="$peers $!"
wait_for "both guests running" 20 running2

mkfifo /tmp/keys
uinput_keys --record /tmp/uinput.rec < /tmp/keys > /tmp/uinput.log 2>&1 3>&- &
uinput=$!
exec 4> /tmp/keys
wait_for "the uinput devices grabbed" 20 \
    sh -c '[ "$(grep -c "duet-test.*grabbed" /tmp/display-drm.log)" = 3 ]'
wait_for "the first frames on screen" 20 settled 0
shot drm-alpha
frames=$(field frames)

key tap KEY_RIGHTCTRL+KEY_2
wait_for "beta shown" 10 active_is beta
wait_for "beta's frame flipped" 10 settled $frames
shot drm-beta

key tap KEY_CAPSLOCK
key key KEY_A 1
key sleep 700
key key KEY_A 0
key rel 10 -5
key abs 2048 2048
key check-grab
wait_for "the uinput commands" 10 grep -q leaked /tmp/uinput.rec
wait_for "beta's tablet position" 10 grep -q "pointer 639 399" /tmp/beta.rec

# a monitor unplugged and plugged back in
status=$(ls /sys/class/drm/card0-*/status | head -n 1)
echo off > $status
echo change > /sys/class/drm/card0/uevent
wait_for "the unplug noticed" 10 grep -q "no monitor connected" /tmp/display-drm.log
echo on > $status
echo change > /sys/class/drm/card0/uevent
wait_for "the replug noticed" 10 grep -q "monitor on .* again" /tmp/display-drm.log
echo detect > $status
shot drm-replugged
list > /out/list-drm.json

kill -TERM $display
wait $display
echo $? > /out/display-drm.status
plane_fb > /out/fb-after.txt
shot drm-exited

# ---- phase 2: fbdev, the same peers and devices ----
duet-display --output fbdev --input evdev --socket /run/d.sock --control /run/c.sock \
    -g alpha=#2f6fdf -g beta=#e07a10 > /tmp/display-fbdev.log 2>&1 3>&- 4>&- &
display=$!
wait_for "the control socket" 20 list
wait_for "both guests back" 20 running2
wait_for "the uinput devices grabbed" 20 \
    sh -c '[ "$(grep -c "duet-test.*grabbed" /tmp/display-fbdev.log)" = 3 ]'
sleep 0.5
shot fbdev-alpha
key tap KEY_RIGHTCTRL+KEY_2
wait_for "beta shown" 10 active_is beta
sleep 0.5
shot fbdev-beta

# the devices unplugged while Shift is down: it goes up in beta
key key KEY_LEFTSHIFT 1
wait_for "Shift down in beta" 10 grep -q "key 42 1" /tmp/beta.rec
exec 4>&-
wait $uinput
wait_for "the keyboard gone" 10 grep -q "'duet-test keyboard' is gone" /tmp/display-fbdev.log
wait_for "Shift up in beta" 10 grep -q "key 42 0" /tmp/beta.rec
list > /out/list-fbdev.json
kill -TERM $display
wait $display
echo $? > /out/display-fbdev.status
kill $peers
collect
say PASS
"""


class ScreenDumper:
    """The host's side of the screendump channel: QEMU connects to two Unix
    sockets made here, QMP and a serial port (the rig's ttyS2). For every
    "SHOT NAME" line from the guest, QMP's screendump writes NAME.ppm and
    "DONE NAME" goes back."""

    def __init__(self):
        # Unix socket paths are short: a directory of our own under /tmp
        self.dir = tempfile.mkdtemp(prefix="duet-shot-")
        self.shots = {}
        self.error = None
        self.listeners = {}
        for name in ("qmp", "serial"):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.bind(os.path.join(self.dir, name + ".sock"))
            s.listen(1)
            self.listeners[name] = s
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def qemu_args(self):
        return ["-vga", "std",
                "-chardev", f"socket,id=duetshot,path={self.dir}/serial.sock",
                "-serial", "chardev:duetshot",
                "-qmp", f"unix:{self.dir}/qmp.sock"]

    def _serve(self):
        try:
            # no deadline here: QEMU connects when the rig starts it, and
            # close() ends a wait that is no longer wanted
            qmp, _ = self.listeners["qmp"].accept()
            serial, _ = self.listeners["serial"].accept()
            qmp.settimeout(30)
            q = qmp.makefile("rwb", buffering=0)
            self._qmp_reply(q)  # the greeting
            self._qmp(q, {"execute": "qmp_capabilities"})
            for line in serial.makefile("rb"):
                words = line.decode(errors="replace").split()
                if len(words) != 2 or words[0] != "SHOT" or not re.fullmatch(r"[\w-]+", words[1]):
                    continue
                path = os.path.join(self.dir, words[1] + ".ppm")
                reply = self._qmp(q, {"execute": "screendump", "arguments": {"filename": path}})
                if "return" in reply:
                    self.shots[words[1]] = read_ppm(path)
                    serial.sendall(f"DONE {words[1]}\n".encode())
                else:
                    serial.sendall(f"ERROR {json.dumps(reply)}\n".encode())
        except (OSError, ValueError) as e:
            self.error = e

    @staticmethod
    def _qmp_reply(q):
        while True:
            line = q.readline()
            if not line:
                raise OSError("QMP connection closed")
            msg = json.loads(line)
            if "event" not in msg:
                return msg

    def _qmp(self, q, request):
        q.write((json.dumps(request) + "\n").encode())
        return self._qmp_reply(q)

    def close(self):
        for s in self.listeners.values():
            try:
                s.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in accept()
            except OSError:
                pass
            s.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def read_ppm(path):
    """(width, height, pixel(x, y) -> (r, g, b)) of a binary PPM (P6, 8 bit)."""
    data = open(path, "rb").read()
    m = re.match(rb"P6\s+(\d+)\s+(\d+)\s+255\s", data)
    assert m, "not an 8-bit P6 PPM: %r" % data[:20]
    w, h, base = int(m.group(1)), int(m.group(2)), m.end()
    assert len(data) >= base + w * h * 3

    def pixel(x, y):
        i = base + (y * w + x) * 3
        return tuple(data[i:i + 3])
    return w, h, pixel


@pytest.fixture(scope="module")
def display_run():
    for path in (DISPLAY, VMCTL, PEER, UINPUT):
        if not path.exists():
            pytest.fail(f"{path} is missing: make check-system builds it")
    dumper = ScreenDumper()
    try:
        result = None
        try:
            result = run_rig("sh /test.sh", files={"/test.sh": GUEST_SCRIPT.encode()},
                             binaries=[DISPLAY, VMCTL, PEER, UINPUT], kvm=False, modules=MODULES,
                             qemu_args=dumper.qemu_args(), timeout=90)
        except RigError as e:
            pytest.fail(str(e))
        dumper.thread.join(timeout=5)
        yield result, dumper.shots, dumper.error
    finally:
        dumper.close()


def outputs(result):
    """The logs the guest brought back, for failure messages."""
    text = []
    for name in sorted(result.files):
        if name.endswith((".log", ".rec", ".status", ".json")):
            text.append(f"--- {name} ---\n" + result.files[name].decode(errors="replace"))
    return "\n".join(text) + "\n" + result.tail()


SANITIZER_MARKS = ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer")


def check_ok(run):
    result, _, error = run
    assert error is None, f"screendump channel: {error}\n{outputs(result)}"
    assert result.status == 0 and "test: PASS" in result.serial, outputs(result)
    for name in ("display-drm.log", "display-fbdev.log"):
        log = result.files[name].decode(errors="replace")
        assert not any(m in log for m in SANITIZER_MARKS), log
    return result


def assert_screen(shot, picture, edge, what):
    w, h, px = shot
    assert (w, h) == MODE, what
    assert px(w // 2, h // 2) == picture, f"{what}: middle is {px(w // 2, h // 2)}"
    assert px(w // 4, 3 * h // 4) == picture, what
    assert px(1, h // 2) == edge, f"{what}: edge is {px(1, h // 2)}"
    assert px(w - 2, h - 2) == edge, what


def test_drm_shows_the_active_guest_and_a_hotkey_flips_it(display_run):
    check_ok(display_run)
    shots = display_run[1]
    assert_screen(shots["drm-alpha"], ALPHA, ALPHA_EDGE, "before Right-Ctrl+2")
    assert_screen(shots["drm-beta"], BETA, BETA_EDGE, "after Right-Ctrl+2")
    # the banner names the new guest at the top centre
    w, _, px = shots["drm-beta"]
    assert all(px(x, 20) != BETA for x in range(w // 2 - 30, w // 2 + 30))


def test_drm_page_flips_counted(display_run):
    result = check_ok(display_run)
    drm = json.loads(result.files["list-drm.json"])
    assert drm["active"] == "beta"
    assert drm["flips"] >= 2 and drm["flips"] == drm["frames"], drm
    log = result.files["display-drm.log"].decode()
    assert re.search(r"output drm '/dev/dri/card0': Virtual-1 1280x800 \(1280x800\), page flips", log), log
    assert "no page flips" not in log and "refused" not in log, log


def test_drm_monitor_replug_and_exit_give_the_screen_back(display_run):
    result = check_ok(display_run)
    log = result.files["display-drm.log"].decode()
    assert "no monitor connected; keeping Virtual-1 1280x800" in log, log
    assert "monitor on Virtual-1 again: 1280x800" in log, log
    assert_screen(display_run[1]["drm-replugged"], BETA, BETA_EDGE, "after the replug")
    assert result.files["display-drm.status"] == b"0\n"
    # the console's framebuffer is on the primary plane again
    before, after = result.files["fb-before.txt"], result.files["fb-after.txt"]
    assert before.startswith(b"fb=") and before == after
    _, _, px = display_run[1]["drm-exited"]
    assert px(MODE[0] // 2, MODE[1] // 2) != BETA


def test_evdev_grabs_and_routes_real_devices(display_run):
    result = check_ok(display_run)
    log = result.files["display-drm.log"].decode()
    for kind in ("keyboard", "mouse", "tablet"):
        assert re.search(rf"input evdev: event\d+ 'duet-test {kind}': {kind}, grabbed", log), log
    uinput = result.files["uinput.rec"].decode().splitlines()
    assert "leaked 0" in uinput, "a reader without the grab got events: %s" % uinput
    # Caps Lock lit the keyboard's LED (LED_CAPSL is 1)
    assert "led 1 1" in uinput, uinput
    beta = result.files["beta.rec"].decode().splitlines()
    alpha = result.files["alpha.rec"].decode().splitlines()
    # the hotkey reached nobody; beta got focus, then Caps Lock and its LED
    assert [e for e in alpha if e.startswith("key")] == [], alpha
    assert "focus 1" in beta and "leds 2" in beta, beta
    keys = [e for e in beta if e.startswith("key")]
    # Caps Lock, then KEY_A held 700 ms: the kernel's autorepeat is not forwarded
    assert keys[:4] == ["key 58 1", "key 58 0", "key 30 1", "key 30 0"], keys
    pointers = [e for e in beta if e.startswith("pointer")]
    assert any(p.split()[3:5] == ["10", "-5"] for p in pointers), pointers
    assert "pointer 639 399 0 0 0 0" in pointers, pointers


def test_evdev_unplug_releases_held_keys(display_run):
    result = check_ok(display_run)
    log = result.files["display-fbdev.log"].decode()
    for kind in ("keyboard", "mouse", "tablet"):
        # found by the scan at start this time, not by inotify
        assert re.search(rf"input evdev: event\d+ 'duet-test {kind}': {kind}, grabbed", log), log
        assert re.search(rf"input evdev: event\d+ 'duet-test {kind}' is gone", log), log
    beta = result.files["beta.rec"].decode().splitlines()
    assert beta.index("key 42 1") < beta.index("key 42 0"), beta


def test_fbdev_shows_the_active_guest(display_run):
    result = check_ok(display_run)
    shots = display_run[1]
    log = result.files["display-fbdev.log"].decode()
    assert "output fbdev '/dev/fb0': bochs-drmdrmfb 1280x800, 32 bpp" in log, log
    assert_screen(shots["fbdev-alpha"], ALPHA, ALPHA_EDGE, "fbdev, before Right-Ctrl+2")
    assert_screen(shots["fbdev-beta"], BETA, BETA_EDGE, "fbdev, after Right-Ctrl+2")
    assert result.files["display-fbdev.status"] == b"0\n"
