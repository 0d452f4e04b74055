"""Helpers for the duet-display tests: start a (sanitized) duet-display with
the offscreen output and synthetic input, start test peers, talk to the
control socket, read PNG files. Binaries come from $DUET_DISPLAY and
$DUET_DISPLAY_PEER (make check-display sets them)."""
import json
import os
import signal
import socket
import struct
import subprocess
import time
import zlib

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DISPLAY = os.environ.get("DUET_DISPLAY", os.path.join(ROOT, "build/asan/bin/duet-display"))
PEER = os.environ.get("DUET_DISPLAY_PEER", os.path.join(ROOT, "build/asan/tests/display/peer"))

SCREEN_W, SCREEN_H = 640, 400
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer")


def wait_for(what, fn, timeout=5.0, interval=0.05):
    """Poll fn() until it returns something true; fail the test naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail("timed out waiting for " + what)
        time.sleep(interval)


def read_png(path):
    """(width, height, rows): rows[y][x] = (r, g, b). Handles what
    duet-display writes: 8-bit RGB, not interlaced, any filter."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert (depth, ctype, interlace) == (8, 2, 0)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    bpp, stride = 3, width * 3
    rows, prev = [], bytearray(stride)
    for y in range(height):
        ftype = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if ftype == 1:
                line[i] = (line[i] + a) & 0xff
            elif ftype == 2:
                line[i] = (line[i] + b) & 0xff
            elif ftype == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xff
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 0xff
        rows.append([tuple(line[x * 3:x * 3 + 3]) for x in range(width)])
        prev = line
    return width, height, rows


def rgb(hexstr):
    v = int(hexstr.lstrip("#"), 16)
    return (v >> 16, (v >> 8) & 0xff, v & 0xff)


def close_to(a, b, tol=40):
    return all(abs(x - y) <= tol for x, y in zip(a, b))


class Display:
    def __init__(self, tmp, extra=(), name="display"):
        self.tmp = tmp
        self.socket = os.path.join(tmp, "d.sock")
        self.control = os.path.join(tmp, "c.sock")
        self.log = os.path.join(tmp, name + ".log")
        self.extra = list(extra)
        self.proc = None
        self.start()

    def start(self):
        args = [DISPLAY, "--socket", self.socket, "--control", self.control,
                "--output", "offscreen", "--output-size", "%dx%d" % (SCREEN_W, SCREEN_H),
                "--banner-time", "1000"]
        args += self.extra
        if "--input" not in self.extra:
            args += ["--input", "synthetic"]
        self.logfile = open(self.log, "ab")
        self.proc = subprocess.Popen(args, stderr=self.logfile)
        wait_for("the control socket", lambda: self._try_list())

    def _try_list(self):
        if self.proc.poll() is not None:
            pytest.fail("duet-display exited with %s:\n%s" % (self.proc.returncode, self.log_text()))
        try:
            return self.ctl({"command": "list"})
        except OSError:
            return None

    def ctl(self, request, raw=None):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(10)
            s.connect(self.control)
            s.sendall(raw if raw is not None else (json.dumps(request) + "\n").encode())
            line = s.makefile("rb").readline()
        return json.loads(line) if line else None

    def ok(self, request):
        reply = self.ctl(request)
        assert reply and reply["ok"], "%s -> %s" % (request, reply)
        return reply

    def guests(self):
        return {g["name"]: g for g in self.ok({"command": "list"})["guests"]}

    def inject(self, *events):
        self.ok({"command": "inject", "events": [list(e) for e in events]})

    def key(self, code, value):
        self.inject(("EV_KEY", code, value), ("EV_SYN", "SYN_REPORT", 0))

    def hotkey(self, key, modifier="KEY_RIGHTCTRL"):
        self.key(modifier, 1)
        self.key(key, 1)
        self.key(key, 0)
        self.key(modifier, 0)

    def screenshot(self, target="screen", **size):
        path = os.path.join(self.tmp, "shot-%s-%f.png" % (target, time.monotonic()))
        self.ok(dict({"command": "screenshot", "target": target, "file": path}, **size))
        return read_png(path)

    def log_text(self):
        self.logfile.flush()
        return open(self.log, errors="replace").read()

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        """SIGTERM; the display must exit 0 with no sanitizer report."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                pytest.fail("duet-display did not stop on SIGTERM")
        self.logfile.close()
        text = open(self.log, errors="replace").read()
        assert not any(m in text for m in SANITIZER_MARKS), text
        assert self.proc.returncode == 0, "duet-display exit status %d:\n%s" % (
            self.proc.returncode, text)


class Peer:
    def __init__(self, display, name, color, size="320x200", animate=False, hostile=None):
        self.name = name
        self.color = color
        self.record = os.path.join(display.tmp, "%s-%d.rec" % (name, time.monotonic_ns()))
        self.errlog = self.record + ".err"
        args = [PEER, "--socket", display.socket, "--name", name, "--color", color,
                "--size", size, "--record", self.record]
        if animate:
            args.append("--animate")
        if hostile:
            args += ["--hostile", hostile]
        self.err = open(self.errlog, "wb")
        self.proc = subprocess.Popen(args, stderr=self.err)

    def events(self):
        try:
            return open(self.record).read().splitlines()
        except FileNotFoundError:
            return []

    def keys(self):
        return [e for e in self.events() if e.startswith("key ")]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=10)
        self.err.close()
        text = open(self.errlog, errors="replace").read()
        assert not any(m in text for m in SANITIZER_MARKS), text


@pytest.fixture
def display(tmp_path):
    d = Display(str(tmp_path))
    yield d
    d.stop()


@pytest.fixture
def two_guests(display):
    """alpha (animated, 320x200: exactly 2x on the 640x400 screen) connects
    first and is shown; beta (still, 400x300: 4:3, letterboxed) second."""
    alpha = Peer(display, "alpha", "2040ff", animate=True)
    wait_for("alpha", lambda: display.guests().get("alpha", {}).get("state") == "running")
    beta = Peer(display, "beta", "20c040", size="400x300")
    wait_for("beta", lambda: display.guests().get("beta", {}).get("state") == "running")
    yield display, alpha, beta
    for p in (alpha, beta):
        p.stop()
