"""`duet switch` and duet-display's remote port (server-tools/switch.c,
server-tools/remote.c, display/remote_port.c) end to end: real
duet-display processes with test peers as guests, the real `duet`, and
hostile clients speaking to the remote port by hand. Only signed commands
over a fresh nonce and the PC's own address and port act; everything else
is refused and the display runs on."""
import os
import socket
import stat
import subprocess
import threading

import pytest

from classroom_pcs import (DISPLAY, PC, init_key, need_binaries, password_file, sign,
                           signed_message, unused_port, wait_for)
from conftest import Server, assert_clean_error


@pytest.fixture
def classroom(server, tmp_path):
    """Two PCs with the remote port, sharing the server's public key."""
    need_binaries()
    pub = init_key(server)
    pw = password_file(tmp_path)
    pcs = []
    try:
        pcs.append(PC(tmp_path, "pc-one", "52:54:00:00:00:01", ("2040ff", "20c040"), pub, pw))
        pcs.append(PC(tmp_path, "pc-two", "52:54:00:00:00:02", ("ff4020", "c0c020"), pub, pw))
        server.write_conf("".join(pc.conf_section(pw) for pc in pcs))
        yield server, pcs, pw
    finally:
        for pc in pcs:
            pc.stop()


def remote_lines(pc, lines: bytes, read_greeting=True) -> tuple[str, str]:
    """Talk to pc's remote port by hand: (greeting, reply)."""
    with socket.create_connection(("127.0.0.1", pc.remote_port), timeout=20) as s:
        f = s.makefile("rb")
        greeting = f.readline().decode() if read_greeting else ""
        try:
            s.sendall(lines)
            reply = f.readline().decode()
        except (ConnectionResetError, BrokenPipeError):
            reply = ""
    return greeting, reply


def test_switch_one_pc_and_all(classroom):
    server, (one, two), _ = classroom
    assert one.active() == "alpha" and two.active() == "alpha"

    r = server.run("switch", "pc-one", "beta", check=True)
    assert r.stdout == "pc-one (52:54:00:00:00:01): ok\n"
    assert one.active() == "beta" and two.active() == "alpha"
    assert "remote 127.0.0.1: switch beta" in one.log_text()

    # by MAC, in another spelling
    server.run("switch", "52-54-00-00-00-02", "beta", check=True)
    assert two.active() == "beta"

    r = server.run("switch", "all", "alpha", check=True)
    assert r.stdout.splitlines() == ["pc-one (52:54:00:00:00:01): ok",
                                     "pc-two (52:54:00:00:00:02): ok"]
    assert one.active() == "alpha" and two.active() == "alpha"

    r = server.run("switch", "--status", "all", check=True)
    assert r.stdout.splitlines() == [
        "pc-one (52:54:00:00:00:01): alpha (guests: alpha,beta)",
        "pc-two (52:54:00:00:00:02): alpha (guests: alpha,beta)"]


def test_no_such_guest(classroom):
    server, (one, _), pw = classroom
    r = server.run("switch", "pc-one", "gamma")
    assert r.returncode == 1
    assert "pc-one (52:54:00:00:00:01): no such guest 'gamma'" in r.stdout
    # a PC whose config does not list its guests asks the display, which says no
    server.write_conf(one.conf_section(pw).replace("guests = alpha beta\n", ""))
    r = server.run("switch", "pc-one", "gamma")
    assert r.returncode == 1 and "no such guest 'gamma'" in r.stdout, r.stdout
    assert one.active() == "alpha" and one.alive()


def test_unreachable_pc_does_not_stop_the_others(classroom):
    server, (one, two), pw = classroom
    off = (f"[52:54:00:00:00:09]\nip = 127.0.0.1\nhostname = pc-off\n"
           f"remote-listen = 0.0.0.0\nremote-port = {unused_port()}\n")
    no_remote = "[52:54:00:00:00:0a]\nip = 127.0.0.1\nhostname = pc-plain\n"
    server.write_conf(one.conf_section(pw) + two.conf_section(pw) + off + no_remote)
    r = server.run("switch", "all", "beta")
    assert r.returncode == 1
    lines = r.stdout.splitlines()
    assert "pc-one (52:54:00:00:00:01): ok" in lines
    assert "pc-two (52:54:00:00:00:02): ok" in lines
    assert any(l.startswith("pc-off (52:54:00:00:00:09): unreachable") for l in lines), lines
    assert any(l.startswith("pc-plain (52:54:00:00:00:0a): remote control is off")
               for l in lines), lines
    assert one.active() == "beta" and two.active() == "beta"


def test_wrong_key_is_refused(classroom, tmp_path):
    server, (one, _), pw = classroom
    other = Server(tmp_path / "other-server")
    other.write_conf(one.conf_section(pw))
    other.run("switch", "--init-key", check=True)
    r = other.run("switch", "pc-one", "beta")
    assert r.returncode == 1
    assert "pc-one (52:54:00:00:00:01): refused: not authenticated" in r.stdout, r.stdout
    assert one.active() == "alpha" and one.alive()
    assert "remote 127.0.0.1: refused: not authenticated" in one.log_text()


class Relay:
    """A PC that relays: it listens at (address, port) like a classroom PC
    and passes everything, both ways, a line at a time, to another PC's
    remote port. What the server sent it is kept in `sent`."""

    def __init__(self, address, port, target_port):
        self.target_port = target_port
        self.listener = socket.socket()
        self.listener.bind((address, port))
        self.listener.listen(1)
        self.port = self.listener.getsockname()[1]
        self.sent = b""
        self.thread = threading.Thread(target=self._relay, daemon=True)
        self.thread.start()

    def _relay(self):
        client, _ = self.listener.accept()
        with client, socket.create_connection(("127.0.0.1", self.target_port)) as up:
            client.settimeout(20)
            up.settimeout(20)
            greeting = up.makefile("rb").readline()  # the other PC's nonce
            client.sendall(greeting)
            self.sent = client.makefile("rb").readline()
            up.sendall(self.sent)
            client.sendall(up.makefile("rb").readline())

    def close(self):
        self.thread.join(timeout=30)
        self.listener.close()


def test_relayed_signature_is_refused(classroom):
    """A PC that gets a signed command for itself and hands it, with
    another PC's nonce, to that PC: the signature names the PC the server
    reached (address and port), so the other PC refuses it. Once with the
    relay on another address at the same port (a classroom: every PC on
    5899), once on the same address at another port."""
    server, (one, two), pw = classroom
    for address, port in (("127.0.0.2", two.remote_port), ("127.0.0.1", 0)):
        relay = Relay(address, port, two.remote_port)
        server.write_conf(f"[52:54:00:00:00:07]\nip = {address}\nhostname = pc-evil\n"
                          f"remote-listen = {address}\nremote-port = {relay.port}\n")
        r = server.run("switch", "pc-evil", "beta")
        relay.close()
        assert r.returncode == 1
        assert r.stdout.startswith("pc-evil (52:54:00:00:00:07): refused: not authenticated"), \
            r.stdout
        assert relay.sent.endswith(b" switch beta\n") and len(relay.sent.split(b" ")[0]) == 128
        assert two.active() == "alpha" and one.active() == "alpha"
    assert two.log_text().count("remote 127.0.0.1: refused: not authenticated") == 2
    # straight to the PC, the same server's signature is taken
    server.write_conf(two.conf_section(pw))
    assert server.run("switch", "pc-two", "beta").returncode == 0 and two.active() == "beta"


def test_replayed_signature_is_refused(classroom):
    server, (one, _), _ = classroom

    def session():
        s = socket.create_connection(("127.0.0.1", one.remote_port), timeout=20)
        f = s.makefile("rb")
        greeting = f.readline()
        assert greeting.startswith(b"duet-remote 1 ") and len(greeting) == 14 + 64 + 1
        return s, f, greeting[14:-1]

    # a request signed the way duet signs, for this PC, this connection
    s, f, nonce = session()
    with s:
        line = sign(server.key, signed_message("127.0.0.1", one.remote_port, nonce,
                                               b"switch beta")) + b" switch beta\n"
        s.sendall(line)
        assert f.readline() == b"ok\n"
    assert one.active() == "beta"
    one.ctl({"command": "switch", "guest": "alpha"})
    # the same signed line on a new connection: another nonce, so refused
    greeting, reply = remote_lines(one, line)
    assert greeting.startswith("duet-remote 1 ")
    assert reply == "error: not authenticated\n"
    assert one.active() == "alpha"
    # the signature of `switch beta` does not make `switch alpha` either
    greeting, reply = remote_lines(one, line.replace(b"switch beta", b"switch alpha"))
    assert reply == "error: not authenticated\n"


def test_hostile_clients(classroom):
    server, (one, _), _ = classroom
    sig = b"0" * 128
    cases = [
        b"garbage\n",
        b"\n",
        sig + b" switch beta\n",                     # a signature of zeros
        b"zz" * 64 + b" switch beta\n",              # not hex
        sig + b"switch beta\n",                      # no space
        sig + b" \x01\xff\x00switch beta\n",          # control and 8-bit bytes
        sig + b" " + b"x" * 64 + b"\n",              # a command too long
        b"A" * 100000,                               # a line longer than any request
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,  # a TLS hello
    ]
    for lines in cases:
        greeting, reply = remote_lines(one, lines)
        assert greeting.startswith("duet-remote 1 ") and len(greeting) == 14 + 64 + 1
        assert reply == "" or reply.startswith("error: "), (lines[:40], reply)
        assert one.alive()
    assert one.active() == "alpha"
    # connections that say nothing, more than the display takes at once:
    # ten from one address, then one each from ten more; a real `duet
    # switch` still gets through at once while they are all open
    idle = []
    try:
        for source in ["127.0.0.1"] * 10 + [f"127.0.0.{i}" for i in range(2, 12)]:
            s = socket.create_connection(("127.0.0.1", one.remote_port), timeout=20,
                                         source_address=(source, 0))
            idle.append(s)
            s.makefile("rb").readline()  # accepted and greeted
        # the display keeps drawing and answering its control socket meanwhile
        assert one.ctl({"command": "list"})["ok"]
        r = server.run("switch", "pc-one", "beta")
        assert r.stdout == "pc-one (52:54:00:00:00:01): ok\n", r.stdout
        assert one.active() == "beta" and one.alive()
        # the display closed the one replaced by a newer one from its
        # address, and the oldest from another when every slot was taken
        for s in (idle[0], idle[10]):
            assert s.recv(100) == b""
    finally:
        for s in idle:
            s.close()
    log = one.log_text()
    assert "refused: not authenticated" in log and "refused: line too long" in log
    assert "refused: not a request line" in log
    assert "refused: replaced by a newer connection from the same address" in log


def test_display_refuses_remote_port_without_key(tmp_path):
    need_binaries()
    base = [str(DISPLAY), "--socket", str(tmp_path / "d.sock"), "--control",
            str(tmp_path / "c.sock"), "--output", "offscreen", "--vnc-listen", "none"]
    r = subprocess.run(base + ["--remote-listen", "127.0.0.1"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        "duet-display: remote-listen needs remote-public-key-file (the server's public key): "
        "the remote port takes signed commands only"]
    bad = tmp_path / "bad.pub"
    bad.write_text("not a key\n")
    for keyfile in (bad, tmp_path / "missing.pub"):
        r = subprocess.run(base + ["--remote-listen", "127.0.0.1", "--remote-public-key-file",
                                   str(keyfile)], capture_output=True, text=True, timeout=60)
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert "remote-public-key-file" in r.stderr
    r = subprocess.run([str(DISPLAY), "--help"], capture_output=True, text=True, timeout=60)
    assert "--remote-listen" in r.stdout and "--remote-public-key-file" in r.stdout


def test_init_key(server):
    r = server.run("switch", "--init-key", check=True)
    assert stat.S_IMODE(os.stat(server.key).st_mode) == 0o600
    first = server.key.read_text()
    assert len(first.strip()) == 64
    # never overwritten
    r2 = server.run("switch", "--init-key", check=True)
    assert r2.stdout == r.stdout and server.key.read_text() == first
    # a private key others may read is refused
    server.key.chmod(0o644)
    assert_clean_error(server.run("switch", "--init-key"), "chmod 600")
    server.key.chmod(0o600)
    server.key.write_text("junk\n")
    assert_clean_error(server.run("switch", "--init-key"), "not a duet key")


def test_usage_errors(server):
    r = server.run("switch", "--help", check=True)
    assert "duet switch" in r.stdout and "--status" in r.stdout
    for args in (["switch"], ["switch", "pc-one"], ["switch", "--bogus", "a", "b"],
                 ["switch", "--timeout", "0", "a", "b"], ["switch", "all", "bad name"]):
        r = server.run(*args)
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, (args, r.stderr)
    server.write_conf("")
    assert_clean_error(server.run("switch", "all", "alpha"), "no known PC")
    assert_clean_error(server.run("switch", "pc-nowhere", "alpha"), "pc-nowhere")
