"""`duet config`: duet.conf checked with line numbers, each PC's merged
config, and publishing it into the netboot tree exactly as the classroom
image fetches it (initramfs/lib/common.sh's own fetch_config, run against
the published tree over HTTP from busybox httpd)."""
import hashlib
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import ROOT, assert_clean_error

COMMON_SH = ROOT / "initramfs" / "lib" / "common.sh"
MAC1 = "52:54:00:12:34:56"
MAC2 = "52:54:00:aa:bb:cc"
MAC3 = "52:54:00:00:00:07"


def classroom(server, extra: str = "") -> str:
    """A two-guest classroom config; the image 'windows' and the LTSP
    kernel files exist."""
    (server.images / "windows-2026-11-24.raw").write_bytes(b"\0" * 4096)
    if not (server.images / "windows").is_symlink():
        (server.images / "windows").symlink_to("windows-2026-11-24.raw")
    ltsp = server.tftp / "duet" / "guests" / "ltsp"
    ltsp.mkdir(parents=True, exist_ok=True)
    (ltsp / "vmlinuz").write_bytes(b"kernel\n")
    (ltsp / "initrd.img").write_bytes(b"initrd\n")
    (server.base / "vnc.passwd").write_text("s3cret\n")
    server.ethers.write_text(f"# PCs of room 12\n{MAC2.upper()} pc-lab-3\n{MAC3} pc-07\n")
    # the leases give addresses to known PCs; a guest's lease adds no PC
    server.leases.write_text(f"1764000000 {MAC3} 10.0.0.57 pc-07 01:{MAC3}\n"
                             "1764000000 02:11:22:33:44:55 10.0.0.58 * *\n")
    return (f"""
[clients]
guests = windows ltsp
screen = windows
syslog = yes
vnc-listen = 0.0.0.0
vnc-password-file = {server.base}/vnc.passwd
windows.memory = 2G
windows.cpus = 2
windows.disk = windows
windows.color = #2060ff
ltsp.memory = 384M
ltsp.kernel = guests/ltsp/vmlinuz
ltsp.initrd = guests/ltsp/initrd.img
ltsp.append = console=ttyS0 quiet duet.xdmcp=10.0.0.1
ltsp.color = #30c050

[{MAC1}]
hostname = pc01
screen = ltsp

[pc-lab-*]
windows.memory = 4G

[10.0.0.5*]
ltsp.net = user
""" + extra)


def write(server, body: str) -> None:
    server.write_conf(body, server_extra="address = 10.0.0.1\n")


def test_check_accepts_a_classroom(server):
    write(server, classroom(server))
    r = server.run("config", "check", check=True)
    assert "ok (3 PCs known)" in r.stdout
    r = server.run("config", "pcs", check=True)
    assert r.stdout.splitlines() == [
        f"{MAC3}  10.0.0.57        pc-07",
        f"{MAC1}  -                pc01",
        f"{MAC2}  -                pc-lab-3",
    ]


def test_check_names_every_bad_line(server):
    server.conf.write_text("""[server]
tftp-root = relative/path
nbd-port = 99999
bogus = 1

[clients]
guests = windows ltsp
screen = windows
windows.memory = lots
windows.dsk = x
just some words
ltsp.boot = floppy
ltsp.kernel = ../../etc/shadow

[zz:zz]
[pc 1]
a = b
[52:54:00:*]
hostname = many
[52:54:00:12:34:56]
hostname = pc_01!
windows.color = red
guests = windows windows
""")
    r = server.run("config", "check")
    assert_clean_error(r)
    lines = r.stderr.splitlines()
    expect = {
        2: "tftp-root: 'relative/path' is not an absolute path",
        3: "nbd-port: '99999' is not a port",
        4: "[server] has no key 'bogus'",
        9: "windows.memory: 'lots' is not a memory size",
        10: "a guest has no key 'dsk'",
        11: "not 'key = value'",
        12: "ltsp.boot: 'floppy' is not bios, kernel or net",
        13: "ltsp.kernel: '../../etc/shadow' is not a path inside the duet tree",
        15: "[zz:zz] is not server, common, clients, a MAC, an IP or a hostname",
        16: "[pc 1] is not",
        19: "'hostname' belongs in one PC's [MAC] section",
        21: "hostname: 'pc_01!' is not a hostname",
        22: "windows.color: 'red' is not a colour",
        23: "guests: 'windows' is named twice",
    }
    for line, text in expect.items():
        prefix = f"{server.conf}:{line}: "
        assert any(l.startswith(prefix) and text in l for l in lines), (line, text, r.stderr)
    # Every command that needs the config refuses to run on it.
    r = server.run("config", "publish")
    assert_clean_error(r, "nothing published")
    assert not (server.tftp / "duet" / "config").exists()


def test_check_across_keys(server):
    body = classroom(server, f"""
[{MAC2}]
screen = office
maintenance = windows
windows.disk = nosuch
""")
    body = body.replace("vnc-password-file", "#vnc-password-file")
    write(server, body)
    r = server.run("config", "check")
    assert_clean_error(r)
    n = server.conf.read_text().splitlines().index("screen = office") + 1
    assert f":{n}: screen = office: not one of guests (windows ltsp)" in r.stderr, r.stderr
    assert "windows.disk: no golden image 'nosuch' (duet image list)" in r.stderr
    assert "vnc-listen = 0.0.0.0 needs vnc-password-file" in r.stderr
    # one line per problem, however many PCs share it
    assert r.stderr.count("needs vnc-password-file") == 1


def test_show_merges_sections(server):
    write(server, classroom(server))
    r = server.run("config", "show", "pc-lab-3", check=True)
    assert f"# {MAC2} pc-lab-3" in r.stdout
    assert "# sections: [clients] [pc-lab-*]" in r.stdout
    assert "windows.memory = 4G" in r.stdout
    assert "memory = 4G\n" in r.stdout.split("--- guest-windows.conf")[1]
    r = server.run("config", "show", MAC1.replace(":", "-").upper(), check=True)
    assert "screen = ltsp" in r.stdout and "SCREEN=ltsp" in r.stdout
    r = server.run("config", "show", "10.0.0.57", check=True)  # from the leases
    assert "# sections: [clients] [10.0.0.5*]" in r.stdout
    assert "NET_ltsp=user" in r.stdout
    r = server.run("config", "show", "nobody")
    assert_clean_error(r, "no PC 'nobody'")
    r = server.run("config", "show", "a;b")
    assert r.returncode == 2 and "is not a MAC, IP or hostname" in r.stderr


def published(server) -> dict[str, bytes]:
    root = server.tftp / "duet"
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_publish_writes_what_the_image_reads(server):
    write(server, classroom(server))
    r = server.run("config", "publish", "--dry-run", check=True)
    assert "would write config/default/client.conf" in r.stdout
    assert not (server.tftp / "duet" / "config").exists()
    r = server.run("config", "publish", check=True)
    files = published(server)
    # default + the PCs whose files differ (pc01: screen, pc-lab-3:
    # memory, pc-07: net); each folder is complete on its own.
    assert {f.split("/")[1] for f in files if f.startswith("config/")} == {
        "default", MAC1.replace(":", "-"), MAC2.replace(":", "-"), MAC3.replace(":", "-")}
    default = {f.split("/", 2)[2] for f in files if f.startswith("config/default/")}
    assert default == {"client.conf", "display.conf", "vnc.passwd", "guest-windows.conf",
                       "guest-ltsp.conf"}
    client = files["config/default/client.conf"].decode()
    assert 'GUESTS="windows ltsp"' in client and "SYSLOG=10.0.0.1" in client
    assert 'FILES="guests/ltsp/vmlinuz guests/ltsp/initrd.img"' in client
    win = files["config/default/guest-windows.conf"].decode()
    # the current version's own export: a PC that reconnects after a
    # commit keeps reading the version it booted with
    assert "bios = yes" in win and "disk = nbd://10.0.0.1:10809/windows-2026-11-24.raw,overlay=ram" in win
    assert files["config/default/vnc.passwd"] == b"s3cret\n"
    # SHA256SUMS covers every file, as sha256sum -c reads it
    sums = files["SHA256SUMS"].decode().splitlines()
    assert len(sums) == len(files) - 1
    for line in sums:
        digest, rel = line.split("  ", 1)
        assert hashlib.sha256(files[rel]).hexdigest() == digest
    # Publishing again changes nothing; the files keep their times.
    before = {p: p.stat().st_mtime_ns for p in (server.tftp / "duet").rglob("*")}
    r = server.run("config", "publish", check=True)
    assert r.stdout.strip() == "nothing to change"
    assert before == {p: p.stat().st_mtime_ns for p in (server.tftp / "duet").rglob("*")}
    # A PC that no longer differs loses its folder; the manifest follows.
    write(server, classroom(server).replace("[10.0.0.5*]\nltsp.net = user\n", ""))
    r = server.run("config", "publish", check=True)
    assert f"remove config/{MAC3.replace(':', '-')}/" in r.stdout
    assert MAC3.replace(":", "-") not in (server.tftp / "duet" / "SHA256SUMS").read_text()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def httpd(server):
    """busybox httpd serving the TFTP root on loopback, as the classroom
    server does."""
    port = free_port()
    p = subprocess.Popen(["busybox", "httpd", "-f", "-p", f"127.0.0.1:{port}", "-h", str(server.tftp)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/duet"
    p.kill()
    p.wait()


def image_fetch(url: str, mac: str, work: Path) -> dict[str, str]:
    """The classroom image's fetch_config for this MAC, in a mount
    namespace whose /run/duet is a fresh tmpfs: the files it ends up
    with, and client.env."""
    script = f"""
set -e
mount -t tmpfs none /run/duet
log() {{ echo "log: $*"; }}
screen() {{ echo "screen: $*"; }}
. {COMMON_SH}
why=$(fetch_config_once {url} {mac.replace(':', '-')}) || {{ echo "FAILED: $why"; exit 1; }}
cd /run/duet && find config files -type f | sort | while read f; do echo "== $f"; cat "$f"; done
echo "== client.env"; cat /run/duet/client.env
"""
    os.makedirs("/run/duet", exist_ok=True)
    r = subprocess.run(["unshare", "-m", "busybox", "sh", "-c", script], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    out: dict[str, str] = {}
    name = None
    for line in r.stdout.splitlines(keepends=True):
        if line.startswith("== "):
            name = line[3:].strip()
            out[name] = ""
        elif name:
            out[name] += line
    return out


def test_the_image_fetches_exactly_what_show_prints(server, httpd, tmp_path):
    if shutil.which("unshare") is None or os.geteuid() != 0:
        pytest.skip("needs root and unshare for a private /run/duet")
    write(server, classroom(server))
    server.run("config", "publish", check=True)
    for mac, folder in ((MAC1, MAC1.replace(":", "-")), ("52:54:00:99:99:99", "default")):
        got = image_fetch(httpd, mac, tmp_path)
        root = server.tftp / "duet" / "config" / folder
        want = {f"config/{p.name}": p.read_text() for p in root.iterdir()}
        fetched = {k: v for k, v in got.items() if k.startswith("config/")}
        assert fetched == want
        assert got["files/guests/ltsp/vmlinuz"] == "kernel\n"
        show = server.run("config", "show", mac, check=True).stdout
        for name, text in want.items():
            assert f"--- {name[7:]}\n{text}" in show
    assert 'SCREEN="ltsp"' in image_fetch(httpd, MAC1, tmp_path)["client.env"]


def test_missing_config_file(server):
    server.conf.unlink()
    r = server.run("config", "check")
    assert_clean_error(r, "no such file")
    r = server.run("config", "frobnicate")
    assert r.returncode == 2 and "Usage: duet config" in r.stderr
    r = server.run("config", "--help", check=True)
    assert "publish" in r.stdout


def test_maintenance_mode_boots_the_edit(server, tmp_path):
    """A PC with `maintenance = windows` gets the writable edit of `duet
    image edit` instead of the golden image with a RAM overlay; what it
    writes becomes the next version with `duet image commit`."""
    from test_image import free_port as port, make_raw, qemu_io_write, sha256, stop_daemons

    nbd, edit = port(), port()
    body = classroom(server, f"\n[{MAC1}]\nmaintenance = windows\n")
    for f in server.images.iterdir():
        f.unlink()
    server.write_conf(body, server_extra=f"address = 127.0.0.1\nnbd-port = {nbd}\nedit-port = {edit}\n")
    src = make_raw(tmp_path / "win.raw", 4 << 20, seed=3)
    server.run("image", "import", str(src), "windows", check=True)
    try:
        r = server.run("config", "check")
        line = server.conf.read_text().splitlines().index("maintenance = windows") + 1
        assert (f":{line}: maintenance = windows: image 'windows' has no open edit "
                "(duet image edit windows)") in r.stderr, r.stderr
        assert_clean_error(server.run("config", "publish"), "nothing published")

        server.run("image", "edit", "windows", check=True)
        server.run("config", "publish", check=True)
        cfg = server.tftp / "duet" / "config"
        mine = (cfg / MAC1.replace(":", "-") / "guest-windows.conf").read_text()
        assert f"disk = nbd://127.0.0.1:{edit}/windows-edit\n" in mine
        v1 = os.readlink(server.images / "windows")
        assert (f"disk = nbd://127.0.0.1:{nbd}/{v1},overlay=ram\n"
                in (cfg / "default" / "guest-windows.conf").read_text())
        # the maintenance PC writes (here: qemu-io through the same URL)
        qemu_io_write(edit, "windows-edit", 0x5a, 1 << 20, 8192)
        server.run("image", "commit", "windows", check=True)
        want = bytearray(src.read_bytes())
        want[1 << 20:(1 << 20) + 8192] = b"\x5a" * 8192
        assert sha256(server.images / "windows") == hashlib.sha256(want).hexdigest()
        # With the edit committed the maintenance line must go before
        # the next publish; without it, the PC is back on the golden image.
        assert_clean_error(server.run("config", "publish"), "has no open edit")
        server.conf.write_text(server.conf.read_text().replace("maintenance = windows\n", ""))
        r = server.run("config", "publish", check=True)
        assert f"write config/{MAC1.replace(':', '-')}/guest-windows.conf" in r.stdout
        v2 = os.readlink(server.images / "windows")
        assert v2 != v1
        assert (f"disk = nbd://127.0.0.1:{nbd}/{v2},overlay=ram\n"
                in (cfg / "default" / "guest-windows.conf").read_text())
        # a rollback publishes by itself: PCs that boot get v1 again
        r = server.run("image", "rollback", "windows", check=True)
        assert "duet config publish:" in r.stdout
        assert (f"disk = nbd://127.0.0.1:{nbd}/{v1},overlay=ram\n"
                in (cfg / "default" / "guest-windows.conf").read_text())
    finally:
        stop_daemons(server)


def test_publish_makes_the_key_and_gives_pcs_only_its_public_half(server):
    write(server, classroom(server).replace(
        "[clients]\n", "[clients]\nremote-listen = 0.0.0.0\nremote-port = 5999\n", 1))
    assert not server.key.exists()
    server.run("config", "check", check=True)          # check makes nothing
    assert not server.key.exists()
    server.run("config", "publish", check=True)
    assert server.key.stat().st_mode & 0o777 == 0o600
    pub = server.run("switch", "--init-key", check=True).stdout.split()[-1]
    assert len(pub) == 64 and pub not in server.key.read_text()
    cfg = server.tftp / "duet" / "config" / "default"
    assert (cfg / "remote.pub").read_text() == pub + "\n"
    display = (cfg / "display.conf").read_text()
    assert "remote-listen = 0.0.0.0\nremote-port = 5999\n" in display
    assert "remote-public-key-file = /run/duet/config/remote.pub\n" in display
    # nothing of the private key anywhere in the tree the PCs fetch
    secret = server.key.read_text().split()[0]
    for f in (server.tftp / "duet").rglob("*"):
        if f.is_file():
            assert secret not in f.read_text(errors="replace")
    # a key others may read is refused, by name
    server.key.chmod(0o644)
    assert_clean_error(server.run("config", "publish"), str(server.key))
