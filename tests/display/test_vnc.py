"""duet-display's VNC servers (display/vnc.c) end to end: a sanitized
duet-display (offscreen 640x400, synthetic input) with two test peers, and
real VNC clients: vnc_client (libvncclient, tests/display/vnc_client.c) and
Debian's vncsnapshot. Ports: the screen on the base port, slot N on base+N;
each test picks a free base."""
import os
import random
import shutil
import socket
import struct
import subprocess
import threading
import time

import pytest

from conftest import SCREEN_H, SCREEN_W, Display, Peer, close_to, rgb, wait_for

VNC_CLIENT = os.environ.get("DUET_VNC_CLIENT", os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
    "build/asan/tests/display/vnc_client"))

ALPHA, BETA = rgb("2040ff"), rgb("20c040")
ALPHA_EDGE, BETA_EDGE = rgb("2f6fdf"), rgb("e07a10")
STOPPED_BG = rgb("202020")
PICTURE = (320, 300)          # a screen point inside the picture, away from the banner
XK_a, XK_Return = 0x61, 0xff0d
KEY_A, KEY_ENTER = 30, 28


def free_base_port():
    """A base port with base..base+4 free on 127.0.0.1."""
    for _ in range(200):
        base = random.randrange(20000, 60000)
        socks = []
        try:
            for port in range(base, base + 5):
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


def read_ppm(path):
    data = open(path, "rb").read()
    magic, size, maxval, pixels = data.split(b"\n", 3)
    assert magic == b"P6" and maxval == b"255"
    w, h = map(int, size.split())
    assert len(pixels) == w * h * 3
    return w, h, pixels


def px(img, x, y):
    w, _, pixels = img
    i = (y * w + x) * 3
    return tuple(pixels[i:i + 3])


def vnc_client(tmp, port, *args, check=True, timeout=30):
    out = os.path.join(tmp, "vnc-%d-%d.ppm" % (port, time.monotonic_ns()))
    r = subprocess.run([VNC_CLIENT, "--out", out] + list(args) + ["127.0.0.1", str(port)],
                       capture_output=True, text=True, timeout=timeout)
    if check:
        assert r.returncode == 0, "vnc_client: %d %s" % (r.returncode, r.stderr)
        return read_ppm(out)
    return r


def vnc_list(display):
    reply = display.ok({"command": "list"})
    return reply["vnc"], {g["name"]: g["vnc"] for g in reply["guests"]}


class VncSetup:
    def __init__(self, tmp, extra=()):
        self.tmp = tmp
        self.base = free_base_port()
        self.display = Display(tmp, ["--vnc-base-port", str(self.base)] + list(extra))
        self.peers = []

    def guests(self):
        """alpha (animated, 320x200, slot 1) then beta (still, 400x300, slot 2)."""
        alpha = self.peer("alpha", "2040ff", animate=True)
        beta = self.peer("beta", "20c040", size="400x300")
        return alpha, beta

    def peer(self, name, color, **kw):
        p = Peer(self.display, name, color, **kw)
        self.peers.append(p)
        wait_for(name, lambda: self.display.guests().get(name, {}).get("state") == "running")
        return p

    def stop(self):
        for p in self.peers:
            p.stop()
        self.display.stop()


@pytest.fixture
def vnc(tmp_path):
    setup = VncSetup(str(tmp_path))
    yield setup
    setup.stop()


def test_each_guest_and_the_screen_over_vnc(vnc):
    vnc.guests()
    screen, guests = vnc_list(vnc.display)
    assert screen["port"] == vnc.base
    assert guests["alpha"]["port"] == vnc.base + 1 and guests["beta"]["port"] == vnc.base + 2
    for enc in ("tight", "zrle", "hextile", "raw"):
        a = vnc_client(vnc.tmp, vnc.base + 1, "--encodings", enc)
        assert a[:2] == (320, 200)
        # below alpha's moving square (its top 16 lines): all alpha
        assert px(a, 160, 100) == ALPHA and px(a, 0, 199) == ALPHA and px(a, 319, 20) == ALPHA
        b = vnc_client(vnc.tmp, vnc.base + 2, "--encodings", enc)
        assert b[:2] == (400, 300)
        assert set(b[2][i:i + 3] for i in range(0, len(b[2]), 3)) == {bytes(BETA)}
        s = vnc_client(vnc.tmp, vnc.base, "--encodings", enc)
        assert s[:2] == (SCREEN_W, SCREEN_H)
        assert px(s, *PICTURE) == ALPHA and px(s, 1, 1) == ALPHA_EDGE
    # the screen's server follows a switch; the guests' do not care
    vnc.display.ok({"command": "switch", "guest": "beta"})
    wait_for("beta on the VNC screen",
             lambda: px(vnc_client(vnc.tmp, vnc.base), *PICTURE) == BETA)
    s = vnc_client(vnc.tmp, vnc.base)
    assert px(s, 1, 1) == BETA_EDGE and px(s, 20, 200) == (0, 0, 0)   # the letterbox
    assert px(vnc_client(vnc.tmp, vnc.base + 1), 160, 100) == ALPHA


def test_a_debian_vnc_tool_takes_a_screenshot(vnc):
    tool = shutil.which("vncsnapshot")
    assert tool, "vncsnapshot is not installed (scripts/deps.sh installs it)"
    vnc.guests()
    for port, size, point, colour in ((vnc.base + 2, (400, 300), (200, 150), BETA),
                                      (vnc.base + 1, (320, 200), (160, 100), ALPHA),
                                      (vnc.base, (SCREEN_W, SCREEN_H), PICTURE, ALPHA)):
        jpg = os.path.join(vnc.tmp, "snap-%d.jpg" % port)
        ppm = jpg + ".ppm"
        r = subprocess.run([tool, "-quiet", "-nojpeg", "127.0.0.1::%d" % port, jpg],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        subprocess.run([VNC_CLIENT, "--jpeg-to-ppm", jpg, ppm], check=True, timeout=10)
        img = read_ppm(ppm)
        assert img[:2] == size
        assert close_to(px(img, *point), colour, tol=12), px(img, *point)


def test_password(tmp_path):
    pwfile = tmp_path / "vnc.pass"
    pwfile.write_text("secret12-and-more\n")
    pwfile.chmod(0o600)
    setup = VncSetup(str(tmp_path), ["--vnc-password-file", str(pwfile)])
    try:
        setup.guests()
        # VNC authentication uses the first 8 characters
        assert "only the first 8 characters" in setup.display.log_text()
        a = vnc_client(setup.tmp, setup.base + 1, "--password", "secret12")
        assert px(a, 160, 100) == ALPHA
        r = vnc_client(setup.tmp, setup.base + 1, "--password", "wrong", check=False)
        assert r.returncode == 3, r.stderr
        r = vnc_client(setup.tmp, setup.base, check=False)        # none at all
        assert r.returncode != 0
        assert "wrong password" in setup.display.log_text()
        # after a wrong guess the server waits a second, then serves again
        assert px(vnc_client(setup.tmp, setup.base + 1, "--password", "secret12"),
                  160, 100) == ALPHA
        # ... and so does a Debian tool with a vncpasswd file
        tool = shutil.which("vncsnapshot")
        assert tool, "vncsnapshot is not installed (scripts/deps.sh installs it)"
        vncpasswd = str(tmp_path / "vncpasswd")
        subprocess.run([VNC_CLIENT, "--store-password", "secret12", vncpasswd], check=True)
        jpg = str(tmp_path / "snap.jpg")
        r = subprocess.run([tool, "-quiet", "-nojpeg", "-passwd", vncpasswd,
                            "127.0.0.1::%d" % (setup.base + 2), jpg],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        subprocess.run([VNC_CLIENT, "--jpeg-to-ppm", jpg, jpg + ".ppm"], check=True)
        assert close_to(px(read_ppm(jpg + ".ppm"), 200, 150), BETA, tol=12)
    finally:
        setup.stop()


def run_display(tmp_path, *args):
    return subprocess.run([os.environ.get("DUET_DISPLAY", "build/asan/bin/duet-display"),
                           "--socket", str(tmp_path / "d.sock"),
                           "--control", str(tmp_path / "c.sock")] + list(args),
                          capture_output=True, text=True, timeout=10)


def test_beyond_loopback_needs_a_password(tmp_path):
    for listen in ("0.0.0.0", "::", "192.0.2.1"):
        r = run_display(tmp_path, "--vnc-listen", listen)
        assert r.returncode == 2, r.stderr
        assert r.stderr.count("\n") == 1 and "vnc-password-file" in r.stderr, r.stderr
    for bad in (["--vnc-listen", "localhost"], ["--vnc-base-port", "65530"],
                ["--vnc-input", "a/b"], ["--vnc-password-file", str(tmp_path / "none")]):
        r = run_display(tmp_path, *bad)
        assert r.returncode == 2, (bad, r.stderr)
        assert r.stderr.count("\n") == 1 and r.stderr.startswith("duet-display: "), r.stderr
    # loopback needs none; with a password any address will do
    pwfile = tmp_path / "pw"
    pwfile.write_text("pw\n")
    pwfile.chmod(0o600)
    d = Display(str(tmp_path), ["--vnc-listen", "0.0.0.0", "--vnc-base-port",
                                str(free_base_port()), "--vnc-password-file", str(pwfile)])
    d.stop()
    d = Display(str(tmp_path), ["--vnc-listen", "::1", "--vnc-base-port",
                                str(free_base_port())])
    d.stop()


def test_vnc_can_be_off(tmp_path):
    base = free_base_port()
    d = Display(str(tmp_path), ["--vnc-listen", "none", "--vnc-base-port", str(base)])
    try:
        assert d.ok({"command": "list"})["vnc"] == {"port": 0, "clients": 0}
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", base), timeout=2)
    finally:
        d.stop()


def test_view_only_by_default(vnc):
    alpha, beta = vnc.guests()
    vnc_client(vnc.tmp, vnc.base + 1, "--key", str(XK_a), "--pointer", "10,20,1",
               "--pointer", "11,21,0")
    vnc_client(vnc.tmp, vnc.base, "--key", str(XK_a), "--pointer", "300,200,1")
    time.sleep(0.5)
    assert alpha.keys() == [] and beta.keys() == []
    assert not any(e.startswith("pointer") for e in alpha.events() + beta.events())


def test_input_where_the_configuration_allows_it(tmp_path):
    setup = VncSetup(str(tmp_path), ["--vnc-input", "alpha"])
    try:
        alpha, beta = setup.guests()
        vnc_client(setup.tmp, setup.base + 1, "--key", str(XK_a), "--key", str(XK_Return),
                   "--pointer", "10,20,1", "--pointer", "12,23,0", "--pointer", "12,23,8")
        wait_for("alpha's keys", lambda: alpha.keys() == [
            "key %d 1" % KEY_A, "key %d 0" % KEY_A, "key %d 1" % KEY_ENTER,
            "key %d 0" % KEY_ENTER])
        pointers = [e for e in alpha.events() if e.startswith("pointer")]
        # surface coordinates, buttons, relative motion, a wheel notch up
        assert pointers[:3] == ["pointer 10 20 0 0 1 0", "pointer 12 23 2 3 0 0",
                                "pointer 12 23 0 0 0 1"], pointers
        # beta's server is still view-only, and so is the screen's
        vnc_client(setup.tmp, setup.base + 2, "--key", str(XK_a))
        vnc_client(setup.tmp, setup.base, "--key", str(XK_a))
        time.sleep(0.5)
        assert beta.keys() == [] and len(alpha.keys()) == 4
        # a key still held when the client goes is released in the guest
        r = subprocess.run([VNC_CLIENT, "--pointer", "5,5,1", "127.0.0.1",
                            str(setup.base + 1)], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        wait_for("the button released", lambda: [e for e in alpha.events()
                                                 if e.startswith("pointer")][-1].split()[5] == "0")
    finally:
        setup.stop()


def test_screen_input_goes_to_the_shown_guest(tmp_path):
    setup = VncSetup(str(tmp_path), ["--vnc-input", "screen"])
    try:
        alpha, beta = setup.guests()
        vnc_client(setup.tmp, setup.base, "--key", str(XK_a))
        wait_for("alpha's keys", lambda: alpha.keys() == ["key 30 1", "key 30 0"])
        setup.display.ok({"command": "switch", "guest": "beta"})
        vnc_client(setup.tmp, setup.base, "--key", str(XK_a), "--pointer", "320,200,0")
        wait_for("beta's keys", lambda: beta.keys() == ["key 30 1", "key 30 0"])
        # the middle of the screen is the middle of beta's surface
        wait_for("beta's pointer", lambda: any(
            e.startswith("pointer 199 149") or e.startswith("pointer 200 150")
            for e in beta.events()))
        # but the guests' own servers stay view-only
        vnc_client(setup.tmp, setup.base + 1, "--key", str(XK_a))
        time.sleep(0.3)
        assert alpha.keys() == ["key 30 1", "key 30 0"]
    finally:
        setup.stop()


def test_a_stopped_guest_shows_stopped_then_its_picture_again(vnc):
    vnc.guests()
    beta = vnc.peers[1]
    holder = subprocess.Popen([VNC_CLIENT, "--hold", "8", "127.0.0.1", str(vnc.base + 2)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)
    beta.stop()
    wait_for("beta stopped", lambda: vnc.display.guests()["beta"]["state"] == "stopped")
    img = vnc_client(vnc.tmp, vnc.base + 2)
    assert img[:2] == (400, 300)       # the last size, so viewers keep their window
    assert px(img, 5, 5) == STOPPED_BG
    assert any(px(img, x, 150) != STOPPED_BG for x in range(400))   # "beta stopped"
    # the guest comes back, at another size
    vnc.peer("beta", "20c040", size="200x150")
    img = vnc_client(vnc.tmp, vnc.base + 2)
    assert img[:2] == (200, 150) and px(img, 100, 75) == BETA
    out, err = holder.communicate(timeout=30)
    assert holder.returncode == 0, err     # the viewer lived through it all
    assert "size 200 150" in out


def test_a_scaled_view(vnc):
    vnc.guests()
    img = vnc_client(vnc.tmp, vnc.base + 2, "--scale", "4")
    assert img[:2] == (100, 75) and px(img, 50, 37) == BETA


# ---- clients that misbehave ----

def recv_exact(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def rfb_connect(port):
    """A bare RFB 3.8 client through the handshake (no password); tries
    again while the server is full (of clients it is about to drop)."""
    for _ in range(50):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        try:
            version = recv_exact(s, 12)
            break
        except ConnectionError:
            s.close()
            time.sleep(0.1)
    assert version == b"RFB 003.008\n"
    s.sendall(b"RFB 003.008\n")
    types = recv_exact(s, recv_exact(s, 1)[0])
    assert 1 in types
    s.sendall(b"\x01")
    assert recv_exact(s, 4) == b"\0\0\0\0"
    s.sendall(b"\x01")                                    # shared
    init = recv_exact(s, 24)
    w, h = struct.unpack(">HH", init[:4])
    recv_exact(s, struct.unpack(">I", init[20:24])[0])
    return s, w, h


def closed_by_server(s, timeout=5):
    s.settimeout(timeout)
    try:
        while s.recv(65536):
            pass
        return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def test_bad_clients_do_not_hurt_the_display_or_a_good_client(vnc):
    alpha, _ = vnc.guests()
    port = vnc.base + 1
    frames = vnc.display.ok({"command": "list"})["frames"]
    good = subprocess.Popen([VNC_CLIENT, "--hold", "8", "127.0.0.1", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)

    # half a message, then nothing: SetEncodings announcing 65535 encodings
    slow, _, _ = rfb_connect(port)
    slow.sendall(b"\x02\x00\xff\xff\x00\x00")
    # asks for full frames as fast as it can and reads none of them
    flood, w, h = rfb_connect(port)
    flood.sendall(struct.pack(">BBH", 2, 0, 1) + struct.pack(">i", 0))     # raw only
    flood.setblocking(False)
    request = struct.pack(">BBHHHH", 3, 0, 0, 0, w, h) * 100
    stop = time.monotonic() + 3

    def flooding():
        while time.monotonic() < stop:
            try:
                flood.send(request)
            except BlockingIOError:
                time.sleep(0.01)
            except OSError:
                return
    flooder = threading.Thread(target=flooding)
    flooder.start()

    refused = 0
    for i in range(100):                               # connect and drop at once
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    garbage = [os.urandom(64), b"GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n",
               b"\x16\x03\x01\x02\x00" + os.urandom(60), b"RFB 003.008\n" + os.urandom(500),
               b"RFB 003.00"]
    for g in garbage * 4:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(g)
        s.close()
    # protocol-valid clients that then send what the server does not take
    for bad in (b"\x07" + bytes(11),                   # file transfer
                b"\x08\x00\x00\x00",                   # scale by zero
                b"\xff" * 16,                          # unknown message types
                b"\x06\x00\x00\x00\x7f\xff\xff\xff"):  # a 2 GiB cut text
        s, _, _ = rfb_connect(port)
        s.sendall(bad)
        assert closed_by_server(s), bad
        s.close()
    # more connections than a server takes
    silent = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(12)]
    for s in silent:
        s.settimeout(0.5)
        try:
            if s.recv(64) == b"":
                refused += 1
        except (socket.timeout, ConnectionResetError):
            pass
    assert refused >= 12 - 8 + 3 - 1, refused     # 8 per server; good, slow, flood hold 3
    for s in silent:
        s.close()

    out, err = good.communicate(timeout=30)
    flooder.join()
    assert good.returncode == 0, err
    updates, gap = (int(x) for x in out.split()[1:4:2])
    # alpha animates at 30 frames a second: the good client kept getting them
    assert updates >= 100 and gap < 500, out
    # ... and so did the monitor (alpha is shown: about 30 frames a second)
    assert vnc.display.ok({"command": "list"})["frames"] - frames >= 100
    assert vnc.display.alive()
    log = vnc.display.log_text()
    for why in ("not a VNC client", "file transfer", "a scale",
                "a message type this server does not know", "refused a connection"):
        assert why in log, why
    # the half message is given 10 s
    wait_for("the slow client dropped",
             lambda: "sent part of a message" in vnc.display.log_text(), timeout=15)
    assert closed_by_server(slow)
    slow.close()
    flood.close()
    # the server takes new clients, and the guest itself never noticed
    assert px(vnc_client(vnc.tmp, port), 160, 100) == ALPHA
    assert alpha.events().count("connected 1") == 1
    before = vnc.display.guests()["alpha"]["damage"]
    wait_for("alpha updating", lambda: vnc.display.guests()["alpha"]["damage"] > before + 2)


def test_a_client_that_never_reads_is_held_back_and_dropped(vnc):
    """Its socket fills; the display neither blocks on it nor stops serving
    others, and after 15 s without reading it is dropped."""
    vnc.guests()
    port = vnc.base
    s, w, h = rfb_connect(port)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.sendall(struct.pack(">BBH", 2, 0, 1) + struct.pack(">i", 0))
    s.sendall(struct.pack(">BBHHHH", 3, 0, 0, 0, w, h) * 50)
    time.sleep(1)
    t0 = time.monotonic()
    img = vnc_client(vnc.tmp, port)
    assert time.monotonic() - t0 < 5 and px(img, *PICTURE) == ALPHA
    wait_for("the reader that never reads dropped",
             lambda: "does not read what it is sent" in vnc.display.log_text(), timeout=25)
    s.close()
