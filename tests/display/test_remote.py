"""duet-display's remote port (display/remote_port.c) from the outside: the
sanitized display with two peers, and clients speaking the protocol by
hand (lib/remote_proto.h). Signatures come from nettle itself, the
library the display verifies with, loaded with ctypes: libhogweed is on
every machine duet-display runs on. The server's side (`duet switch`) is
tested in tests/server/test_switch.py."""
import ctypes
import os
import resource
import socket
import subprocess
import time

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


def signed_message(address: str, port: int, nonce: bytes, command: bytes) -> bytes:
    """What a signature covers (lib/remote_proto.h): the display's own
    address and port of the connection, its nonce, the command."""
    return b"duet-remote 1 %s %d %s %s" % (address.encode(), port, nonce, command)


class Remote:
    def __init__(self, port, host="127.0.0.1"):
        self.port, self.host = port, host

    def session(self, source=None):
        s = socket.create_connection((self.host, self.port), timeout=20,
                                     source_address=(source, 0) if source else None)
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

    def command(self, key: Key, command: str, address=None, port=None, source=None):
        """A signed command, for address:port (default: the display's own
        end of the connection): (the request line, the reply)."""
        s, f, nonce = self.session(source)
        with s:
            own = s.getpeername()
            message = signed_message(address or own[0], port or own[1], nonce, command.encode())
            line = key.sign(message) + b" " + command.encode() + b"\n"
            s.sendall(line)
            return line, f.readline().decode()


def start(tmp_path, listen="127.0.0.1"):
    key = Key()
    pubfile = tmp_path / "remote.pub"
    pubfile.write_text(key.pub.hex() + "\n")
    port = free_port()
    d = Display(str(tmp_path), ["--vnc-listen", "none", "--remote-listen", listen,
                                "--remote-port", str(port), "--remote-public-key-file",
                                str(pubfile)])
    peers = []
    for name, color in (("alpha", "2040ff"), ("beta", "20c040")):  # slots 1 and 2
        peers.append(Peer(d, name, color))
        wait_for(name, lambda: d.guests().get(name, {}).get("state") == "running")
    return d, Remote(port), key, peers


@pytest.fixture
def remote(tmp_path):
    d, r, key, peers = start(tmp_path)
    yield d, r, key
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


def test_signature_names_the_display(remote):
    """A signature for another display's address or port (a PC relaying
    what the server signed for it, with this display's nonce) is refused."""
    d, r, key = remote
    for address, port in (("127.0.0.2", r.port), ("127.0.0.1", r.port + 1),
                          ("::ffff:127.0.0.1", r.port), ("localhost", r.port)):
        _, reply = r.command(key, "switch beta", address=address, port=port)
        assert reply == "error: not authenticated\n", (address, port)
    assert active(d) == "alpha"
    _, reply = r.command(key, "switch beta", address="127.0.0.1", port=r.port)
    assert reply == "ok\n" and active(d) == "beta"


def test_ipv4_mapped_is_named_as_ipv4(tmp_path):
    """Listening on :: and reached over IPv4, the display names itself as
    the plain IPv4 address, as the client's getpeername() does."""
    d, r, key, peers = start(tmp_path, "::")
    try:
        _, reply = r.command(key, "switch beta", address="127.0.0.1", port=r.port)
        assert reply == "ok\n" and active(d) == "beta"
        r6 = Remote(r.port, "::1")
        _, reply = r6.command(key, "switch alpha", address="::1", port=r.port)
        assert reply == "ok\n" and active(d) == "alpha"
        assert "remote 127.0.0.1: switch beta" in d.log_text()
    finally:
        for p in peers:
            p.stop()
        d.stop()


def test_signature_checks_are_rate_limited(remote):
    d, r, key = remote
    replies = [r.command(Key(), "status")[1] for _ in range(15)]
    assert replies.count("error: not authenticated\n") == 10, replies
    assert replies[-1].startswith("error: busy"), replies
    # another address is not held up; this one again a second later
    _, reply = r.command(key, "switch beta", source="127.0.0.2")
    assert reply == "ok\n"
    wait_for("the next second", lambda: r.command(key, "status")[1].startswith("ok "))


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
    # connections saying nothing, more than the cap: from one address each
    # replaces the one before, from others the oldest makes room; all are
    # greeted, closed by the display (the last ones at their timeout), and
    # the display draws and answers meanwhile
    time.sleep(1.1)  # a fresh second of refusals to log
    idle = [socket.create_connection(("127.0.0.1", r.port), timeout=20,
                                     source_address=(source, 0))
            for source in ["127.0.0.1"] * 8 + [f"127.0.0.{i}" for i in range(2, 8)]]
    try:
        assert d.ok({"command": "list"})
        for s in idle:
            s.settimeout(30)
            data = b""
            while True:  # the greeting, then the display's close
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            assert data.startswith(b"duet-remote 1 ")
    finally:
        for s in idle:
            s.close()
    _, reply = r.command(key, "switch beta")
    assert reply == "ok\n" and active(d) == "beta"
    log = d.log_text()
    for why in ("line too long", "not a request line", "not authenticated", "command too long",
                "timed out before a request", "closed in the middle of a line",
                "replaced by a newer connection from the same address",
                "dropped for a newer connection (every slot taken)"):
        assert "refused: " + why in log, why


def test_out_of_file_descriptors(remote):
    """accept4 failing with EMFILE: the (level-triggered) listener rests a
    second instead of spinning the loop, and works again after."""
    d, r, key = remote
    pid = d.proc.pid
    soft, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)

    def cpu_ticks():
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])  # utime + stime

    waiting = []

    def starve():
        """No file descriptor left for the next accept (the guests' buffers
        come and go, so try until one connection meets the limit)."""
        fds = {int(fd) for fd in os.listdir(f"/proc/{pid}/fd")}
        lowest_free = min(fd for fd in range(len(fds) + 1) if fd not in fds)
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (lowest_free, hard))
        waiting.append(socket.create_connection(("127.0.0.1", r.port), timeout=20))
        time.sleep(0.1)
        return "remote port: accept: Too many open files" in d.log_text()

    try:
        wait_for("the accept failure", starve)
        before = cpu_ticks()
        time.sleep(2)
        assert cpu_ticks() - before < 0.5 * os.sysconf("SC_CLK_TCK"), "the loop spins"
    finally:
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (soft, hard))
        for s in waiting:
            s.close()
    wait_for("the remote port again", lambda: r.command(key, "switch beta")[1] == "ok\n")
    assert active(d) == "beta"


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
