"""`duet wall` (server-tools/wall.c) end to end: real duet-display
processes with coloured test-peer guests, VNC with a password, the remote
port for the guest's name; the wall's PNG is decoded and each tile checked
for its PC's colour and for its labels, drawn in display/font.c's font
(read from that file here, so the check does not trust the C)."""
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from classroom_pcs import PC, ROOT, init_key, need_binaries, password_file, unused_port, wait_for
from conftest import DUET, assert_clean_error

sys.path.insert(0, str(ROOT / "tests" / "system"))
from pngread import png_pixels  # noqa: E402

# the layout, as docs/duet-wall.md gives it
MARGIN, GAP, TILE_W, TILE_H, SCALE, PAD = 8, 8, 320, 180, 2, 4
LINE_H = 8 * SCALE
LABEL_H = 3 * PAD + 2 * LINE_H
NAME_FG, STATUS_FG, LABEL_BG = (255, 255, 255), (192, 192, 192), (48, 48, 48)
GREY = (96, 96, 96)


def font_glyphs():
    """display/font.c's table: 95 glyphs from ' ', 5 columns, bit 0 on top."""
    text = (ROOT / "display" / "font.c").read_text()
    rows = re.findall(r"\{ (0x[0-9a-f]{2}), (0x[0-9a-f]{2}), (0x[0-9a-f]{2}), (0x[0-9a-f]{2}), "
                      r"(0x[0-9a-f]{2}) \}", text)
    assert len(rows) == 95
    return [[int(v, 16) for v in r] for r in rows]


GLYPHS = font_glyphs()


def text_pixels(text):
    """{(x, y): lit} over the text's box, at SCALE."""
    out = {}
    for i, ch in enumerate(text):
        g = GLYPHS[ord(ch) - 32] if " " <= ch <= "~" else GLYPHS[ord("?") - 32]
        for col in range(6):
            for row in range(8):
                lit = col < 5 and bool(g[col] >> row & 1)
                for dy in range(SCALE):
                    for dx in range(SCALE):
                        out[(i * 6 * SCALE + col * SCALE + dx, row * SCALE + dy)] = lit
    return out


class Wall:
    def __init__(self, path):
        self.w, self.h, self.px = png_pixels(Path(path).read_bytes())

    def at(self, x, y):
        i = (y * self.w + x) * 3
        return tuple(self.px[i:i + 3])

    def tile(self, index, columns):
        """The top-left corner of tile `index`."""
        return (MARGIN + (index % columns) * (TILE_W + GAP),
                MARGIN + (index // columns) * (TILE_H + LABEL_H + GAP))

    def has_text(self, x, y, text, fg, bg):
        for (dx, dy), lit in text_pixels(text).items():
            if self.at(x + dx, y + dy) != (fg if lit else bg):
                return False
        return True

    def labels(self, index, columns, name, status):
        x, y = self.tile(index, columns)
        ly = y + TILE_H
        return (self.has_text(x + PAD, ly + PAD, name, NAME_FG, LABEL_BG) and
                self.has_text(x + PAD, ly + 2 * PAD + LINE_H, status, STATUS_FG, LABEL_BG))

    def centre(self, index, columns):
        x, y = self.tile(index, columns)
        return self.at(x + TILE_W // 2, y + TILE_H // 2)


def close_to(a, b, tol=40):
    return all(abs(x - y) <= tol for x, y in zip(a, b))


def rgb(hexstr):
    v = int(hexstr, 16)
    return (v >> 16, (v >> 8) & 0xff, v & 0xff)


@pytest.fixture
def classroom(server, tmp_path):
    """pc-one and pc-two with remote ports; pc-three without (its label
    names no guest); pc-off: nothing listens there."""
    need_binaries()
    pub = init_key(server)
    pw = password_file(tmp_path)
    pcs = []
    try:
        pcs.append(PC(tmp_path, "pc-one", "52:54:00:00:00:01", ("2040ff", "20c040"), pub, pw))
        pcs.append(PC(tmp_path, "pc-two", "52:54:00:00:00:02", ("ff4020", "c0c020"), pub, pw))
        pcs.append(PC(tmp_path, "pc-three", "52:54:00:00:00:03", ("c020c0", "20c0c0"), None, pw,
                      remote=False))
        off = (f"[52:54:00:00:00:04]\nip = 127.0.0.1\nhostname = pc-off\n"
               f"vnc-base-port = {unused_port()}\nvnc-password-file = {pw}\n")
        server.write_conf("".join(pc.conf_section(pw) for pc in pcs) + off)
        yield server, pcs, pw
    finally:
        for pc in pcs:
            pc.stop()


def test_wall_once(classroom, tmp_path):
    server, (one, two, three), _ = classroom
    one.ctl({"command": "switch", "guest": "beta"})
    out = tmp_path / "wall.png"
    r = server.run("wall", "--once", "--output", str(out), check=True)
    lines = r.stdout.splitlines()
    assert "pc-one: beta" in lines and "pc-two: alpha" in lines, lines
    assert any(l.startswith("pc-off: unreachable") for l in lines), lines
    assert any(l.startswith("pc-three: picture") for l in lines), lines

    wall = Wall(out)
    columns = 2  # four PCs: a 2x2 grid
    assert (wall.w, wall.h) == (2 * MARGIN + 2 * TILE_W + GAP,
                                2 * MARGIN + 2 * (TILE_H + LABEL_H) + GAP)
    # in the PCs' order (by MAC); each tile the colour of the guest on screen
    assert close_to(wall.centre(0, columns), rgb("20c040")), wall.centre(0, columns)
    assert close_to(wall.centre(1, columns), rgb("ff4020")), wall.centre(1, columns)
    assert close_to(wall.centre(2, columns), rgb("c020c0")), wall.centre(2, columns)
    assert wall.labels(0, columns, "pc-one", "beta")
    assert wall.labels(1, columns, "pc-two", "alpha")
    assert wall.labels(2, columns, "pc-three", "")
    # pc-off: a grey tile saying so
    x, y = wall.tile(3, columns)
    assert wall.at(x + 2, y + 2) == GREY and wall.at(x + TILE_W - 3, y + TILE_H - 3) == GREY
    assert wall.labels(3, columns, "pc-off", "off or unreachable")
    assert not list(tmp_path.glob("wall.png.tmp*"))


def test_wall_wrong_vnc_password(classroom, tmp_path):
    server, (one, two, three), pw = classroom
    bad = tmp_path / "bad.pass"
    bad.write_text("wrong123\n")
    server.write_conf(one.conf_section(bad) + two.conf_section(pw))
    out = tmp_path / "w.png"
    r = server.run("wall", "--once", "--output", str(out), "--columns", "1", check=True)
    assert "pc-one: VNC at 127.0.0.1" in r.stdout and "refused" in r.stdout, r.stdout
    wall = Wall(out)
    x, y = wall.tile(0, 1)
    assert wall.at(x + 2, y + 2) == GREY and wall.labels(0, 1, "pc-one", "VNC refused")
    assert close_to(wall.centre(1, 1), rgb("ff4020"))


def test_wall_refreshes_in_place_with_html(classroom, tmp_path):
    server, (one, two, three), _ = classroom
    html = tmp_path / "html"
    proc = subprocess.Popen([str(DUET), "-c", str(server.conf), "wall", "--interval", "1",
                             "--html", str(html)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        png = html / "wall.png"
        wait_for("the first wall", lambda: png.exists() and (html / "index.html").exists(),
                 timeout=60)
        assert close_to(Wall(png).centre(0, 2), rgb("2040ff"))
        one.ctl({"command": "switch", "guest": "beta"})

        def shows_beta():
            w = Wall(png)  # renamed into place: always a whole picture
            return close_to(w.centre(0, 2), rgb("20c040")) and w.labels(0, 2, "pc-one", "beta")
        wait_for("the wall to show pc-one's switch", shows_beta, timeout=60, interval=0.3)
        index = (html / "index.html").read_text()
        assert '<meta http-equiv="refresh" content="1">' in index
        assert "wall.png" in index and "pc-two" in index and "52:54:00:00:00:04" in index
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert err == ""
    assert not list(html.glob("*.tmp*"))


def test_wall_usage(server):
    r = server.run("wall", "--help", check=True)
    assert "duet wall" in r.stdout and "--once" in r.stdout
    for args in (["wall", "--bogus"], ["wall", "--interval", "0"], ["wall", "--tile", "10x10"],
                 ["wall", "--output", "a.png", "--html", "d"], ["wall", "extra"]):
        r = server.run(*args)
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, (args, r.stderr)
    assert_clean_error(server.run("wall", "--once"), "no classroom PC")


def test_wall_all_off_completes(server, tmp_path):
    """Every PC off: the wall still comes, grey, and quickly (timeouts)."""
    body = "".join(f"[52:54:00:00:01:{i:02x}]\nip = 127.0.0.1\nhostname = pc-{i}\n"
                    f"vnc-base-port = {unused_port()}\n" for i in range(5))
    server.write_conf(body)
    out = tmp_path / "w.png"
    r = server.run("wall", "--once", "--output", str(out), timeout=120, check=True)
    assert r.stdout.count("unreachable") == 5
    wall = Wall(out)
    for i in range(5):
        x, y = wall.tile(i, 3)
        assert wall.at(x + 2, y + 2) == GREY
        assert wall.labels(i, 3, f"pc-{i}", "off or unreachable")


def test_wall_silent_vnc_server(server, tmp_path):
    """A PC whose VNC port takes the connection and never says a word: its
    tile comes out grey after the read timeout."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        port = silent.getsockname()[1]
        server.write_conf(f"[52:54:00:00:02:01]\nip = 127.0.0.1\nhostname = pc-mute\n"
                          f"vnc-base-port = {port}\n")
        out = tmp_path / "w.png"
        r = server.run("wall", "--once", "--output", str(out), timeout=120, check=True)
    assert r.stdout.startswith("pc-mute: VNC at 127.0.0.1"), r.stdout
    wall = Wall(out)
    x, y = wall.tile(0, 1)
    assert wall.at(x + 2, y + 2) == GREY and wall.labels(0, 1, "pc-mute", "VNC refused")


class FakeVNC:
    """A hostile VNC server (RFB 3.8, no authentication) on 127.0.0.1.
    size: what ServerInit says. With resize, the first update is a whole
    red picture followed by a NewFBSize to 64x64 in the same message; the
    next one is a whole green 64x64 picture."""

    def __init__(self, size, resize=False):
        self.size, self.resize = size, resize
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(4)
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @staticmethod
    def _read(f, n):
        data = f.read(n)
        if len(data) != n:
            raise EOFError
        return data

    def _raw(self, w, h, rgb_value):
        pixel = struct.pack("<I", rgb_value)
        return struct.pack(">HHHHi", 0, 0, w, h, 0) + pixel * (w * h)

    def _serve(self):
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(20)
            f = conn.makefile("rb")
            try:
                conn.sendall(b"RFB 003.008\n")
                self._read(f, 12)
                conn.sendall(b"\x01\x01")                  # one security type: None
                self._read(f, 1)
                conn.sendall(struct.pack(">I", 0))         # SecurityResult: OK
                self._read(f, 1)                           # ClientInit
                w, h = self.size
                conn.sendall(struct.pack(">HHBBBBHHHBBB3xI", w, h, 32, 24, 0, 1, 255, 255, 255,
                                         16, 8, 0, 4) + b"fake")
                updates = 0
                while True:
                    kind = self._read(f, 1)[0]
                    if kind == 0:                          # SetPixelFormat
                        self._read(f, 19)
                    elif kind == 2:                        # SetEncodings
                        _, n = struct.unpack(">BH", self._read(f, 3))
                        self._read(f, 4 * n)
                    elif kind == 3:                        # FramebufferUpdateRequest
                        self._read(f, 9)
                        if updates == 0 and self.resize:
                            conn.sendall(struct.pack(">BxH", 0, 2) + self._raw(w, h, 0xff0000) +
                                         struct.pack(">HHHHi", 0, 0, 64, 64, -223))
                        elif updates == 1 and self.resize:
                            conn.sendall(struct.pack(">BxH", 0, 1) +
                                         self._raw(64, 64, 0x00ff00))
                        updates += 1
                    else:
                        self._read(f, {4: 7, 5: 5, 6: 7}.get(kind, 0))
            except (EOFError, OSError):
                pass

    def close(self):
        self.listener.close()
        self.thread.join(timeout=30)


def test_wall_hostile_vnc_sizes(server, tmp_path):
    """A server that claims a screen larger than duet-display ever has is
    refused before anything is allocated; one that changes size in the
    middle of an update does not get the picture of the old size counted
    for the new one: the tile shows what came after the resize."""
    huge, resize = FakeVNC((8192, 8192)), FakeVNC((128, 128), resize=True)
    try:
        server.write_conf(f"[52:54:00:00:03:01]\nip = 127.0.0.1\nhostname = pc-huge\n"
                          f"vnc-base-port = {huge.port}\n\n"
                          f"[52:54:00:00:03:02]\nip = 127.0.0.1\nhostname = pc-resize\n"
                          f"vnc-base-port = {resize.port}\n")
        out = tmp_path / "w.png"
        r = server.run("wall", "--once", "--output", str(out), "--columns", "2", timeout=120,
                       check=True)
    finally:
        huge.close()
        resize.close()
    lines = r.stdout.splitlines()
    assert lines[0].startswith("pc-huge: VNC at 127.0.0.1"), lines
    assert lines[1] == "pc-resize: picture (no remote port for the guest's name)", lines
    wall = Wall(out)
    x, y = wall.tile(0, 2)
    assert wall.at(x + 2, y + 2) == GREY and wall.labels(0, 2, "pc-huge", "VNC refused")
    assert close_to(wall.centre(1, 2), (0, 255, 0)), wall.centre(1, 2)
