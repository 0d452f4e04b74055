"""duet-display's remote port (display/remote_port.c) from the outside: the
sanitized display with two peers, and clients speaking the protocol by
hand (display/remote_proto.h). Signatures come from nettle itself, the
library the display verifies with, loaded with ctypes: libhogweed is on
every machine duet-display runs on. The server's side (`duet switch`) is
tested in tests/server/test_switch.py."""
import ctypes
import os
import socket
import subprocess

import pytest

from conftest import DISPLAY, Display, Peer, wait_for

HOGWEED = ctypes.CDLL("libhogweed.so.6")


class Key:
    def __init__(self):
        self.seed = os.urandom(32)
        pub = ctypes.create_string_buffer(32)
        HOGWEED.nettle_ed25519_sha512_public_key(pub, self.seed)
        self.pub = pub.raw

    def sign(self, message: bytes) -> bytes:
        sig = ctypes.create_string_buffer(64)
        HOGWEED.nettle_ed25519_sha512_sign(self.pub, self.seed, ctypes.c_size_t(len(message)),
                                           message, sig)
        return sig.raw.hex().encode()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Remote:
    def __init__(self, port):
        self.port = port

    def session(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=20)
        f = s.makefile("rb")
        greeting = f.readline()
        assert greeting.startswith(b"duet-remote 1 ") and len(greeting) == 14 + 64 + 1, greeting
        return s, f, greeting[14:-1]

    def send(self, line: bytes):
        s, f, _ = self.session()
        with s:
            try:
                s.sendall(line)
                return f.readline().decode()
            except (ConnectionResetError, BrokenPipeError):
                return ""

    def command(self, key: Key, command: str):
        """A signed command: (the request line, the reply)."""
        s, f, nonce = self.session()
        with s:
            line = key.sign(nonce + b" " + command.encode()) + b" " + command.encode() + b"\n"
            s.sendall(line)
            return line, f.readline().decode()


@pytest.fixture
def remote(tmp_path):
    key = Key()
    pubfile = tmp_path / "remote.pub"
    pubfile.write_text(key.pub.hex() + "\n")
    port = free_port()
    d = Display(str(tmp_path), ["--vnc-listen", "none", "--remote-listen", "127.0.0.1",
                                "--remote-port", str(port), "--remote-public-key-file",
                                str(pubfile)])
    peers = []
    for name, color in (("alpha", "2040ff"), ("beta", "20c040")):  # slots 1 and 2
        peers.append(Peer(d, name, color))
        wait_for(name, lambda: d.guests().get(name, {}).get("state") == "running")
    yield d, Remote(port), key
    for p in peers:
        p.stop()
    d.stop()


def active(d):
    return d.ok({"command": "list"})["active"]


def test_signed_commands(remote):
    d, r, key = remote
    _, reply = r.command(key, "status")
    assert reply == "ok active=alpha guests=alpha,beta\n"
    _, reply = r.command(key, "switch beta")
    assert reply == "ok\n" and active(d) == "beta"
    _, reply = r.command(key, "switch nosuch")
    assert reply == "error: no guest 'nosuch'\n"
    _, reply = r.command(key, "switch ../../etc")
    assert reply.startswith("error: no guest") and active(d) == "beta"
    _, reply = r.command(key, "reboot")
    assert reply.startswith("error: unknown command")
    log = d.log_text()
    assert "remote 127.0.0.1: switch beta" in log
    assert "showing guest 'beta'" in log


def test_replay_and_wrong_key(remote):
    d, r, key = remote
    line, reply = r.command(key, "switch beta")
    assert reply == "ok\n"
    d.ok({"command": "switch", "guest": "alpha"})
    assert r.send(line) == "error: not authenticated\n"
    assert r.send(line.replace(b"switch beta", b"switch alpha")) == "error: not authenticated\n"
    _, reply = r.command(Key(), "switch beta")
    assert reply == "error: not authenticated\n"
    assert active(d) == "alpha"
    assert d.log_text().count("refused: not authenticated") >= 3


def test_hostile_clients(remote):
    d, r, key = remote
    sig = b"0" * 128
    for line in (b"garbage\n", b"\r\n", sig + b" switch beta\n", b"zz" * 64 + b" status\n",
                 sig + b"status\n", sig + b" \x00\x01\xfestatus\n", sig + b" " + b"x" * 65 + b"\n",
                 b"A" * 65536, b"GET / HTTP/1.0\r\n\r\n"):
        reply = r.send(line)
        assert reply == "" or reply.startswith("error: "), (line[:30], reply)
    # half a line, then gone
    s, _, _ = r.session()
    s.sendall(sig[:50])
    s.close()
    # more connections than the cap, saying nothing: the newest are closed,
    # the rest time out; the display draws and answers meanwhile
    idle = [socket.create_connection(("127.0.0.1", r.port), timeout=20) for _ in range(8)]
    try:
        assert d.ok({"command": "list"})
        closed = 0
        for s in idle:
            s.settimeout(30)
            data = b""
            while True:  # the greeting (if any), then the display's close
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            closed += 1
        assert closed == len(idle)
    finally:
        for s in idle:
            s.close()
    _, reply = r.command(key, "switch beta")
    assert reply == "ok\n" and active(d) == "beta"
    log = d.log_text()
    for why in ("line too long", "not a request line", "not authenticated", "command too long",
                "timed out before a request", "closed in the middle of a line"):
        assert "refused: " + why in log, why
    assert "remote port: refused a connection: 4 are open already" in log


def test_refuses_to_start_unauthenticated(tmp_path):
    base = [DISPLAY, "--socket", str(tmp_path / "d.sock"), "--control", str(tmp_path / "c.sock"),
            "--output", "offscreen", "--vnc-listen", "none", "--remote-listen", "127.0.0.1"]
    bad = tmp_path / "bad.pub"
    bad.write_text("00" * 31 + "\n")
    for extra, needle in (([], "remote-listen needs remote-public-key-file"),
                          (["--remote-public-key-file", str(bad)], "not an Ed25519 public key"),
                          (["--remote-public-key-file", str(tmp_path / "none")],
                           "No such file")):
        r = subprocess.run(base + extra, capture_output=True, text=True, timeout=60)
        assert r.returncode == 2, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and needle in r.stderr, r.stderr
    conf = tmp_path / "display.conf"
    conf.write_text("[display]\nremote-listen = 127.0.0.1\nremote-port = 0\n")
    r = subprocess.run([DISPLAY, "--config", str(conf)], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 2 and "remote-port" in r.stderr
