"""Classroom PCs for the `duet wall` and `duet switch` tests: each one a real
duet-display (offscreen output, no input) with its VNC servers and remote
port on 127.0.0.1, and test peers (tests/display/peer.c) as its guests,
each drawing a solid colour. Nothing is mocked. Binaries: $DUET_DISPLAY
(default build/bin/duet-display) and $DUET_DISPLAY_PEER (default
build/tests/display/peer, else the sanitized one)."""
from __future__ import annotations

import ctypes
import json
import os
import random
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("BUILD", ROOT / "build"))
DISPLAY = Path(os.environ.get("DUET_DISPLAY", BUILD / "bin" / "duet-display"))
PEER = Path(os.environ.get("DUET_DISPLAY_PEER", BUILD / "tests" / "display" / "peer"))
if not PEER.exists() and (BUILD / "asan" / "tests" / "display" / "peer").exists():
    PEER = BUILD / "asan" / "tests" / "display" / "peer"

SCREEN = (640, 400)
VNC_PASSWORD = "classr00m"


def need_binaries() -> None:
    for b, target in ((DISPLAY, "build/bin/duet-display"), (PEER, "build/tests/display/peer")):
        if not b.exists():
            pytest.fail(f"{b} is not built (make {target})")


def wait_for(what, fn, timeout=20.0, interval=0.05):
    """Poll fn() until it returns something true; generous for a loaded box."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail("timed out waiting for " + what)
        time.sleep(interval)


def free_ports(count: int) -> int:
    """A base port with base..base+count-1 free on 127.0.0.1."""
    for _ in range(500):
        base = random.randrange(20000, 60000 - count)
        socks = []
        try:
            for port in range(base, base + count):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    pytest.fail("no free ports")


class PC:
    """One classroom PC: a duet-display with guests alpha and beta. Ports:
    the screen's VNC on vnc_base (alpha vnc_base+1, beta +2), the remote
    port on vnc_base+4."""

    def __init__(self, tmp: Path, name: str, mac: str, colors: tuple[str, str],
                 public_key_file: Path | None, password_file: Path, remote: bool = True,
                 extra: tuple = ()):
        self.tmp = tmp / name
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.name, self.mac, self.colors = name, mac, colors
        self.vnc_base = free_ports(5)
        self.remote_port = self.vnc_base + 4 if remote else None
        self.control = self.tmp / "c.sock"
        self.socket = self.tmp / "d.sock"
        self.log = self.tmp / "display.log"
        args = [str(DISPLAY), "--socket", str(self.socket), "--control", str(self.control),
                "--output", "offscreen", "--output-size", "%dx%d" % SCREEN, "--input", "none",
                "--banner-time", "500", "--guest", "alpha", "--guest", "beta",
                "--vnc-listen", "127.0.0.1", "--vnc-base-port", str(self.vnc_base),
                "--vnc-password-file", str(password_file), *extra]
        if remote:
            args += ["--remote-listen", "127.0.0.1", "--remote-port", str(self.remote_port),
                     "--remote-public-key-file", str(public_key_file)]
        self.logfile = open(self.log, "ab")
        self.proc = subprocess.Popen(args, stderr=self.logfile)
        self.peers = []
        wait_for(f"{name}'s control socket", self._list)
        for guest, color in zip(("alpha", "beta"), colors):
            err = open(self.tmp / f"{guest}.err", "wb")
            self.peers.append((subprocess.Popen(
                [str(PEER), "--socket", str(self.socket), "--name", guest, "--color", color,
                 "--size", "320x200"], stderr=err), err))
        wait_for(f"{name}'s guests", lambda: all(
            g["state"] == "running" for g in self.ctl({"command": "list"})["guests"]))

    def _list(self):
        if self.proc.poll() is not None:
            pytest.fail(f"duet-display {self.name} exited {self.proc.returncode}:\n"
                        + self.log_text())
        try:
            return self.ctl({"command": "list"})
        except OSError:
            return None

    def ctl(self, request: dict) -> dict:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(20)
            s.connect(str(self.control))
            s.sendall((json.dumps(request) + "\n").encode())
            line = s.makefile("rb").readline()
        return json.loads(line)

    def active(self) -> str | None:
        return self.ctl({"command": "list"})["active"]

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_text(self) -> str:
        self.logfile.flush()
        return self.log.read_text(errors="replace")

    def conf_section(self, password_file: Path) -> str:
        text = (f"[{self.mac}]\nip = 127.0.0.1\nhostname = {self.name}\nguests = alpha beta\n"
                f"vnc-base-port = {self.vnc_base}\nvnc-password-file = {password_file}\n")
        if self.remote_port:
            text += f"remote-listen = 127.0.0.1\nremote-port = {self.remote_port}\n"
        return text + "\n"

    def stop(self) -> None:
        for proc, err in self.peers:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            err.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.logfile.close()
        text = self.log.read_text(errors="replace")
        assert not any(m in text for m in ("Sanitizer", "runtime error:")), text
        assert self.proc.returncode == 0, f"duet-display {self.name}: exit {self.proc.returncode}"


def password_file(base: Path) -> Path:
    p = base / "etc" / "vnc.pass"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(VNC_PASSWORD + "\n")
    p.chmod(0o600)
    return p


def init_key(server) -> Path:
    """The server's key (made by duet switch --init-key) and its public half
    as duet config would publish it: remote.pub."""
    r = server.run("switch", "--init-key", check=True)
    pub = server.base / "remote.pub"
    pub.write_text(r.stdout)
    assert re.fullmatch(r"[0-9a-f]{64}\n", r.stdout), r.stdout
    return pub


def unused_port() -> int:
    """A port nothing listens on (bound then closed: refused when dialled)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


HOGWEED = ctypes.CDLL("libhogweed.so.6")


def sign(key_file: Path, message: bytes) -> bytes:
    """An Ed25519 signature (128 hex digits) of message with the server's
    key (its first line: the seed), by nettle, the library duet signs
    with, through ctypes."""
    seed = bytes.fromhex(key_file.read_text().split()[0])
    pub = ctypes.create_string_buffer(32)
    HOGWEED.nettle_ed25519_sha512_public_key(pub, seed)
    sig = ctypes.create_string_buffer(64)
    HOGWEED.nettle_ed25519_sha512_sign(pub, seed, ctypes.c_size_t(len(message)), message, sig)
    return sig.raw.hex().encode()


def signed_message(address: str, port: int, nonce: bytes, command: bytes) -> bytes:
    """What a request's signature covers (lib/remote_proto.h): the PC's
    own address and port of the connection, its nonce, the command."""
    return b"duet-remote 1 %s %d %s %s" % (address.encode(), port, nonce, command)
