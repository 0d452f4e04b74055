"""`duet image`: golden images imported through qemu-img, versions behind a
symlink, served read-only by nbd-server under `duet image serve`, edited
through a qemu-nbd overlay, committed atomically (with kill -9 fault
injection), rolled back, garbage-collected. Real qemu-img, qemu-io,
qemu-nbd, nbd-server and nbdcopy; no mocks."""
import hashlib
import os
import signal
import socket
import struct
import subprocess
import time
from pathlib import Path

import pytest

from conftest import DUET, Server, assert_clean_error


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_raw(path: Path, size: int, seed: int) -> Path:
    """size bytes of content that differs per seed (not all of it data, so
    sparse handling is exercised too)."""
    block = hashlib.sha256(str(seed).encode()).digest() * (65536 // 32)
    with open(path, "wb") as f:
        for i in range(size // 65536):
            f.write(block if i % 3 != 2 else b"\0" * 65536)
    return path


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def nbd_sha256(url: str) -> str:
    r = subprocess.run(["nbdcopy", url, "-"], capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    return hashlib.sha256(r.stdout).hexdigest()


def qemu(*args: str) -> None:
    r = subprocess.run(list(args), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, (args, r.stdout, r.stderr)


def current(server: Server, name: str) -> Path:
    link = server.images / name
    assert link.is_symlink()
    return server.images / os.readlink(link)


def pid_from(path: Path) -> int:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def kill_pid(pid: int, sig: int = signal.SIGTERM) -> None:
    if pid > 0:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def wait_for(what, timeout: float = 60, step: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = what()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out waiting for {what}")


class NbdClient:
    """A minimal NBD client (fixed newstyle, NBD_OPT_EXPORT_NAME, reads),
    to hold one connection open across a commit."""

    def __init__(self, port: int, name: str):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        assert self._recv(18)[:16] == b"NBDMAGICIHAVEOPT"
        self.sock.sendall(struct.pack(">I", 3))  # FIXED_NEWSTYLE | NO_ZEROES
        self.sock.sendall(b"IHAVEOPT" + struct.pack(">II", 1, len(name)) + name.encode())
        self.size, _flags = struct.unpack(">QH", self._recv(10))
        self.handle = 0

    def _recv(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise EOFError("server closed the connection")
            data += chunk
        return data

    def read(self, offset: int, length: int) -> bytes:
        self.handle += 1
        self.sock.sendall(struct.pack(">IHHQQI", 0x25609513, 0, 0, self.handle, offset, length))
        magic, error, handle = struct.unpack(">IIQ", self._recv(16))
        assert (magic, error, handle) == (0x67446698, 0, self.handle)
        return self._recv(length)

    def sha256(self) -> str:
        h = hashlib.sha256()
        for off in range(0, self.size, 1 << 20):
            h.update(self.read(off, min(1 << 20, self.size - off)))
        return h.hexdigest()

    def close(self) -> None:
        self.sock.close()


def ports_conf(server: Server) -> tuple[int, int]:
    nbd, edit = free_port(), free_port()
    server.write_conf("", server_extra=f"nbd-port = {nbd}\nedit-port = {edit}\n")
    return nbd, edit


@pytest.fixture
def image_server(server: Server):
    """server with its own NBD ports; every daemon it started is stopped."""
    server.nbd_port, server.edit_port = ports_conf(server)
    yield server
    stop_daemons(server)


def stop_daemons(server: Server) -> None:
    for pid_file in server.run_dir.glob("image-edit-*.pid"):
        kill_pid(pid_from(pid_file))
    serve = pid_from(server.run_dir / "image-serve.pid")
    kill_pid(serve)
    if serve:
        for _ in range(200):
            if not Path(f"/proc/{serve}").exists():
                break
            time.sleep(0.05)
    kill_pid(pid_from(server.run_dir / "nbd-server.pid"))


class Serve:
    """`duet image serve` in the foreground, as systemd would run it."""

    def __init__(self, server: Server):
        self.server = server
        self.log = open(server.base / "serve.log", "w+")
        self.proc = subprocess.Popen([str(DUET), "-c", str(server.conf), "image", "serve"],
                                     stdout=self.log, stderr=subprocess.STDOUT)

    def text(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return (self.server.base / "serve.log").read_text()

    def wait_serving(self, name: str, sha: str) -> None:
        url = f"nbd://127.0.0.1:{self.server.nbd_port}/{name}"

        def ready():
            r = subprocess.run(["nbdcopy", url, "-"], capture_output=True, timeout=60)
            return r.returncode == 0 and hashlib.sha256(r.stdout).hexdigest() == sha
        wait_for(ready, timeout=60, step=0.2)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
        rc = self.proc.wait(timeout=60)
        self.log.close()
        return rc


@pytest.fixture
def serve(image_server: Server):
    s = Serve(image_server)
    yield s
    if s.proc.poll() is None:
        s.proc.kill()
        s.proc.wait()
    stop_daemons(image_server)


# --- import and list ------------------------------------------------------

def test_help(server: Server):
    r = server.run("image", "--help", check=True)
    for cmd in ("import", "list", "serve", "edit", "commit", "discard", "rollback", "gc"):
        assert cmd in r.stdout
        sub = server.run("image", cmd, "--help", check=True)
        assert "Usage: duet image " + cmd in sub.stdout
    assert server.run("image").returncode == 2
    assert server.run("image", "frobnicate").returncode == 2
    assert server.run("image", "import", "only-one-arg").returncode == 2


def test_list_empty(server: Server):
    r = server.run("image", "list", check=True)
    assert "no images" in r.stdout


@pytest.mark.parametrize("fmt", ["raw", "qcow2", "vmdk", "vdi"])
def test_import_format(server: Server, tmp_path: Path, fmt: str):
    src = make_raw(tmp_path / "src.raw", 8 << 20, seed=1)
    path = src
    if fmt != "raw":
        path = tmp_path / f"src.{fmt}"
        qemu("qemu-img", "convert", "-f", "raw", "-O", fmt, str(src), str(path))
    r = server.run("image", "import", str(path), "win", check=True)
    assert "importing" in r.stdout and fmt in r.stdout
    assert "100.00/100%" in r.stdout  # qemu-img's progress
    version = current(server, "win")
    assert version.name.startswith("win-") and version.name.endswith(".raw")
    qemu("qemu-img", "compare", "-f", "raw", "-F", "raw", str(src), str(version))
    assert sha256(version) == sha256(src)
    assert (version.stat().st_mode & 0o222) == 0
    lines = server.run("image", "list", check=True).stdout.splitlines()
    assert lines[0].split()[:2] == ["NAME", "CURRENT"]
    row = lines[1].split()
    assert row[0] == "win" and row[1] == version.name
    assert "8.0 MiB" in lines[1]
    assert row[-1] == "no"  # nothing serves it


def test_import_existing_needs_new_version(server: Server, tmp_path: Path):
    a = make_raw(tmp_path / "a.raw", 1 << 20, seed=1)
    b = make_raw(tmp_path / "b.raw", 1 << 20, seed=2)
    server.run("image", "import", str(a), "lab", check=True)
    first = current(server, "lab")
    r = server.run("image", "import", str(b), "lab")
    assert_clean_error(r, "image 'lab'", "exists", "--new-version")
    assert current(server, "lab") == first
    server.run("image", "import", "--new-version", str(b), "lab", check=True)
    second = current(server, "lab")
    assert second != first and sha256(second) == sha256(b) and sha256(first) == sha256(a)
    assert (server.images / "lab.history").read_text().split() == [first.name, second.name]
    row = server.run("image", "list", check=True).stdout.splitlines()[1].split()
    assert row[0] == "lab" and "2" in row


def test_bad_files(server: Server, tmp_path: Path):
    text = tmp_path / "notes.txt"
    text.write_text("this is not a disk image\n")
    r = server.run("image", "import", str(text), "x")
    assert_clean_error(r, "duet: image 'x'", str(text), "not a disk image")

    good = make_raw(tmp_path / "good.raw", 4 << 20, seed=3)
    qcow = tmp_path / "good.qcow2"
    qemu("qemu-img", "convert", "-O", "qcow2", str(good), str(qcow))
    truncated = tmp_path / "truncated.qcow2"
    truncated.write_bytes(qcow.read_bytes()[:100000])
    r = server.run("image", "import", str(truncated), "x")
    assert_clean_error(r, "duet: image 'x'", str(truncated), "damaged qcow2")

    r = server.run("image", "import", str(tmp_path / "missing.qcow2"), "x")
    assert_clean_error(r, "duet: image 'x'", "missing.qcow2", "no such file")

    r = server.run("image", "import", str(tmp_path), "x")
    assert_clean_error(r, "duet: image 'x'", "directory")

    empty = tmp_path / "empty.raw"
    empty.write_bytes(b"")
    assert_clean_error(server.run("image", "import", str(empty), "x"), "duet: image 'x'")

    vpc = tmp_path / "disk.vhd"
    qemu("qemu-img", "convert", "-O", "vpc", str(good), str(vpc))
    r = server.run("image", "import", str(vpc), "x")
    assert_clean_error(r, "duet: image 'x'", "vpc", "raw, qcow2, vmdk and vdi")

    for bad in ("Bad", "-x", "a/b", "x" * 33, "..", "a.b"):
        r = server.run("image", "import", str(good), bad)
        assert r.returncode in (1, 2), (bad, r.stderr)
        assert "Traceback" not in r.stderr and "Sanitizer" not in r.stderr

    assert_clean_error(server.run("image", "import", str(good), "Bad"),
                       "duet: image 'Bad'", "not a valid image name")
    assert_clean_error(server.run("image", "edit", "nope"), "duet: image 'nope'", "no such image")
    assert_clean_error(server.run("image", "rollback", "nope"), "no such image")
    # Nothing was left behind by the failures.
    assert not [p for p in server.images.iterdir()], list(server.images.iterdir())


# --- serving --------------------------------------------------------------

def test_serve_reads_and_survives_kill(serve: Serve, tmp_path: Path):
    server = serve.server
    src = make_raw(tmp_path / "src.raw", 16 << 20, seed=4)
    server.run("image", "import", str(src), "win", check=True)
    serve.wait_serving("win", sha256(src))
    row = server.run("image", "list", check=True).stdout.splitlines()[1].split()
    assert row[-1] == "yes"

    # A second image shows up as its own export without restarting serve.
    other = make_raw(tmp_path / "other.raw", 2 << 20, seed=5)
    server.run("image", "import", str(other), "lin", check=True)
    serve.wait_serving("lin", sha256(other))
    listing = subprocess.run(["nbdinfo", "--list", f"nbd://127.0.0.1:{server.nbd_port}"],
                             capture_output=True, text=True, timeout=60)
    assert 'export="win"' in listing.stdout and 'export="lin"' in listing.stdout

    # nbd-server killed -9 comes back.
    old_pid = pid_from(server.run_dir / "nbd-server.pid")
    assert old_pid > 0
    os.kill(old_pid, signal.SIGKILL)
    wait_for(lambda: "killed by signal 9" in serve.text())
    wait_for(lambda: pid_from(server.run_dir / "nbd-server.pid") not in (0, old_pid))
    serve.wait_serving("win", sha256(src))
    assert nbd_sha256(f"nbd://127.0.0.1:{server.nbd_port}/lin") == sha256(other)

    assert serve.stop() == 0
    assert "Sanitizer" not in serve.text()
    listener = pid_from(server.run_dir / "nbd-server.pid")
    assert listener == 0 or not Path(f"/proc/{listener}").exists()


def test_serve_twice_refused(serve: Serve, tmp_path: Path):
    server = serve.server
    wait_for(lambda: (server.run_dir / "image-serve.pid").exists())
    wait_for(lambda: "serving" in serve.text())
    r = server.run("image", "serve", timeout=30)
    assert_clean_error(r, "already running")


def test_open_connection_keeps_its_version(serve: Serve, tmp_path: Path):
    server = serve.server
    old = make_raw(tmp_path / "old.raw", 4 << 20, seed=6)
    new = make_raw(tmp_path / "new.raw", 4 << 20, seed=7)
    server.run("image", "import", str(old), "win", check=True)
    serve.wait_serving("win", sha256(old))
    before = NbdClient(server.nbd_port, "win")
    try:
        assert before.read(0, 512) == old.read_bytes()[:512]
        server.run("image", "import", "--new-version", str(new), "win", check=True)
        # New connections get the new version (once serve has restarted
        # its listener with the new version's export)...
        serve.wait_serving("win", sha256(new))
        # ...the one opened before keeps reading the old, whole.
        assert before.sha256() == sha256(old)
    finally:
        before.close()


# --- edit, commit, rollback, gc --------------------------------------------

def qemu_io_write(port: int, export: str, pattern: int, offset: int, length: int) -> None:
    qemu("qemu-io", "-f", "raw", "-c", f"write -P {pattern:#x} {offset} {length}",
         f"nbd://127.0.0.1:{port}/{export}")


def test_edit_commit_rollback(serve: Serve, tmp_path: Path):
    server = serve.server
    src = make_raw(tmp_path / "src.raw", 8 << 20, seed=8)
    server.run("image", "import", str(src), "win", check=True)
    v1 = current(server, "win")
    serve.wait_serving("win", sha256(src))

    r = server.run("image", "edit", "win", check=True)
    assert f":{server.edit_port}/win-edit" in r.stdout
    assert (server.images / "win-edit.qcow2").exists()
    assert "port" in server.run("image", "list", check=True).stdout.splitlines()[1]
    # Running edit again keeps the same edit.
    server.run("image", "edit", "win", check=True)
    qemu_io_write(server.edit_port, "win-edit", 0x41, 0, 1 << 20)
    qemu_io_write(server.edit_port, "win-edit", 0x42, 5 << 20, 4096)
    # The golden image has not changed while the edit is open.
    assert sha256(v1) == sha256(src)
    assert nbd_sha256(f"nbd://127.0.0.1:{server.nbd_port}/win") == sha256(src)
    assert_clean_error(server.run("image", "rollback", "win"), "open edit")

    r = server.run("image", "commit", "win", check=True)
    assert "100.00/100%" in r.stdout
    v2 = current(server, "win")
    assert v2 != v1
    assert not (server.images / "win-edit.qcow2").exists()
    expect = bytearray(src.read_bytes())
    expect[0:1 << 20] = b"\x41" * (1 << 20)
    expect[5 << 20:(5 << 20) + 4096] = b"\x42" * 4096
    new_sha = hashlib.sha256(expect).hexdigest()
    assert sha256(v2) == new_sha
    assert sha256(v1) == sha256(src)
    serve.wait_serving("win", new_sha)
    # Each version is its own export too (what PCs' configs name): one
    # that reconnects keeps the version it booted with.
    serve.wait_serving(v2.name, new_sha)
    assert nbd_sha256(f"nbd://127.0.0.1:{server.nbd_port}/{v1.name}") == sha256(src)
    assert_clean_error(server.run("image", "commit", "win"), "no open edit")

    r = server.run("image", "rollback", "win", check=True)
    assert v1.name in r.stdout
    assert current(server, "win") == v1
    assert nbd_sha256(f"nbd://127.0.0.1:{server.nbd_port}/win") == sha256(src)
    assert_clean_error(server.run("image", "rollback", "win"), "no previous version")


def test_discard(image_server: Server, tmp_path: Path):
    server = image_server
    src = make_raw(tmp_path / "src.raw", 2 << 20, seed=9)
    server.run("image", "import", str(src), "win", check=True)
    v1 = current(server, "win")
    server.run("image", "edit", "win", check=True)
    qemu_io_write(server.edit_port, "win-edit", 0x43, 0, 4096)
    edit_pid = pid_from(server.run_dir / "image-edit-win.pid")
    assert edit_pid > 0
    server.run("image", "discard", "win", check=True)
    assert not (server.images / "win-edit.qcow2").exists()
    assert not Path(f"/proc/{edit_pid}/cmdline").exists() or \
        b"qemu-nbd" not in Path(f"/proc/{edit_pid}/cmdline").read_bytes()
    assert current(server, "win") == v1 and sha256(v1) == sha256(src)
    assert_clean_error(server.run("image", "discard", "win"), "no open edit")


def test_one_edit_at_a_time(image_server: Server, tmp_path: Path):
    server = image_server
    src = make_raw(tmp_path / "src.raw", 1 << 20, seed=10)
    server.run("image", "import", str(src), "a", check=True)
    server.run("image", "import", str(src), "b", check=True)
    server.run("image", "edit", "a", check=True)
    assert_clean_error(server.run("image", "edit", "b"), "duet: image 'b'", "'a'",
                       str(server.edit_port))
    server.run("image", "discard", "a", check=True)
    server.run("image", "edit", "b", check=True)
    server.run("image", "discard", "b", check=True)


def test_gc(image_server: Server, tmp_path: Path):
    server = image_server
    versions = []
    for seed in range(4):
        src = make_raw(tmp_path / f"v{seed}.raw", 1 << 20, seed=20 + seed)
        args = ["image", "import"] + (["--new-version"] if seed else []) + [str(src), "win"]
        server.run(*args, check=True)
        versions.append(current(server, "win"))
    other = make_raw(tmp_path / "o.raw", 1 << 20, seed=30)
    server.run("image", "import", str(other), "lin", check=True)
    # A leftover of a killed command, and a file that is no version of ours.
    (server.images / ".win.new.tmp").write_bytes(b"partial")
    (server.images / "notes.txt").write_text("keep me")

    # A process holding versions[0] open (as an nbd-server child would).
    holder = open(versions[0], "rb")
    try:
        r = server.run("image", "gc", "--dry-run", check=True)
        assert f"would remove {versions[1].name}" in r.stdout
        assert all(v.exists() for v in versions)
        r = server.run("image", "gc", check=True)
        assert f"removed {versions[1].name}" in r.stdout
        assert f"keeping {versions[0].name}" in r.stdout
    finally:
        holder.close()
    assert versions[0].exists() and not versions[1].exists()
    assert versions[2].exists() and versions[3].exists()  # previous and current
    assert current(server, "lin").exists()
    assert (server.images / "notes.txt").exists()
    assert not (server.images / ".win.new.tmp").exists()

    r = server.run("image", "gc", check=True)
    assert f"removed {versions[0].name}" in r.stdout
    # Rollback still works (to the kept previous version), then no further.
    server.run("image", "rollback", "win", check=True)
    assert current(server, "win") == versions[2]
    assert_clean_error(server.run("image", "rollback", "win"), "no previous version")
    # The rolled-back-from version is now garbage; an edit's base is kept.
    server.run("image", "edit", "win", check=True)
    r = server.run("image", "gc", check=True)
    assert f"removed {versions[3].name}" in r.stdout
    assert versions[2].exists()
    server.run("image", "discard", "win", check=True)


def test_gc_keeps_published_versions(image_server: Server, tmp_path: Path):
    """A version a published PC config names is what those PCs boot until
    `duet config publish` succeeds again: gc keeps it."""
    server = image_server
    versions = []
    for seed in range(4):
        src = make_raw(tmp_path / f"v{seed}.raw", 1 << 20, seed=50 + seed)
        args = ["image", "import"] + (["--new-version"] if seed else []) + [str(src), "win"]
        server.run(*args, check=True)
        versions.append(current(server, "win"))
    # As `duet config publish` writes it, for one PC's own folder.
    folder = server.tftp / "duet" / "config" / "01-52-54-00-12-34-56"
    folder.mkdir(parents=True)
    (folder / "guest-win.conf").write_text(
        "# win, written by duet config publish\n[vm]\nbios = yes\n"
        f"disk = nbd://10.0.0.1:10809/{versions[0].name},overlay=ram\n")
    r = server.run("image", "gc", check=True)
    assert f"keeping {versions[0].name}: a published PC config names it" in r.stdout
    assert f"removed {versions[1].name}" in r.stdout
    assert versions[0].exists() and not versions[1].exists()
    assert versions[2].exists() and versions[3].exists()
    # Once no config names it, it goes.
    (folder / "guest-win.conf").write_text(
        f"[vm]\ndisk = nbd://[fd00::1]:10809/{versions[3].name},overlay=ram\n")
    r = server.run("image", "gc", check=True)
    assert f"removed {versions[0].name}" in r.stdout and not versions[0].exists()


def test_gc_removes_temps_of_killed_first_import(image_server: Server, tmp_path: Path):
    server = image_server
    src = make_raw(tmp_path / "big.raw", 128 << 20, seed=60)
    tmp = server.images / ".fresh.import.tmp"
    proc = subprocess.Popen([str(DUET), "-c", str(server.conf), "image", "import", str(src),
                             "fresh"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while proc.poll() is None and not tmp.exists() and time.monotonic() < deadline:
        time.sleep(0.0005)
    assert proc.poll() is None, "the import finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert tmp.exists() and not (server.images / "fresh").is_symlink()
    (server.images / "fresh.history.tmp-AbC123").write_text("partial")

    r = server.run("image", "gc", "--dry-run", check=True)
    assert "would remove .fresh.import.tmp" in r.stdout and tmp.exists()
    r = server.run("image", "gc", check=True)
    assert "image 'fresh': removed .fresh.import.tmp" in r.stdout
    assert "removed fresh.history.tmp-AbC123" in r.stdout
    assert not tmp.exists() and not (server.images / "fresh.history.tmp-AbC123").exists()
    # The import runs again from the start.
    small = make_raw(tmp_path / "small.raw", 1 << 20, seed=61)
    server.run("image", "import", str(small), "fresh", check=True)
    assert sha256(current(server, "fresh")) == sha256(small)


def test_overlay_on_another_version_is_not_thrown_away(image_server: Server, tmp_path: Path):
    """An overlay on a version that is not current, which no commit made
    current (no marker of it), is the admin's work: commands refuse it
    rather than delete it; discard drops it when asked."""
    server = image_server
    a = make_raw(tmp_path / "a.raw", 1 << 20, seed=70)
    b = make_raw(tmp_path / "b.raw", 1 << 20, seed=71)
    server.run("image", "import", str(a), "win", check=True)
    v1 = current(server, "win")
    server.run("image", "import", "--new-version", str(b), "win", check=True)
    overlay = server.images / "win-edit.qcow2"
    r = subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", v1.name, "-F", "raw",
                        overlay.name], cwd=server.images, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    for cmd in (["commit", "win"], ["edit", "win"], ["rollback", "win"], ["gc"]):
        r = server.run("image", *cmd)
        assert_clean_error(r, "duet: image 'win'", f"is on version {v1.name}", "discard")
        assert overlay.exists(), cmd
    server.run("image", "discard", "win", check=True)
    assert not overlay.exists()


FAKE_QEMU_NBD = """#!/bin/sh
# qemu-nbd --fork as before QEMU 8.1: the daemon keeps the caller's
# stdout and stderr open for its whole life.
if [ "$1" = --daemon ]; then
    while :; do sleep 1; done
fi
for a; do case $a in --pid-file=*) pid_file=${a#--pid-file=} ;; esac; done
"$0" --daemon &
echo $! > "$pid_file"
echo "qemu-nbd: forked" >&2
exit 0
"""


def test_edit_does_not_wait_for_the_daemon(image_server: Server, tmp_path: Path):
    server = image_server
    src = make_raw(tmp_path / "src.raw", 1 << 20, seed=80)
    server.run("image", "import", str(src), "win", check=True)
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "qemu-nbd").write_text(FAKE_QEMU_NBD)
    (fake / "qemu-nbd").chmod(0o755)
    env = {"PATH": f"{fake}:{os.environ['PATH']}"}
    try:
        r = server.run("image", "edit", "win", env=env, timeout=30)
        assert r.returncode == 0, r.stderr
        assert "edit open" in r.stdout
        assert "qemu-nbd: forked" in (server.run_dir / "image-edit-win.log").read_text()
    finally:
        server.run("image", "discard", "win", timeout=60)
    assert not (server.images / "win-edit.qcow2").exists()


def test_edit_port_in_use(image_server: Server, tmp_path: Path):
    """qemu-nbd's own message is the one line the admin sees."""
    server = image_server
    src = make_raw(tmp_path / "src.raw", 1 << 20, seed=81)
    server.run("image", "import", str(src), "win", check=True)
    with socket.socket() as busy:
        busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        busy.bind(("0.0.0.0", server.edit_port))
        busy.listen()
        r = server.run("image", "edit", "win", timeout=60)
    assert_clean_error(r, "duet: image 'win'", f"cannot serve the edit on port {server.edit_port}",
                       "qemu-nbd")
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert (server.images / "win-edit.qcow2").exists()
    server.run("image", "edit", "win", check=True)
    server.run("image", "discard", "win", check=True)


# --- fault injection --------------------------------------------------------

def test_commit_killed_at_any_point(tmp_path: Path):
    """kill -9 `duet image commit` at each of its phases and at random
    delays: the image is always its old or its complete new version, the old
    file never changes, and the next command finishes the job."""
    size = 64 << 20
    src = make_raw(tmp_path / "src.raw", size, seed=40)
    old_sha = sha256(src)
    expect = bytearray(src.read_bytes())
    expect[:] = b"\x5a" * size
    expect[0:4096] = b"\x5b" * 4096
    new_sha = hashlib.sha256(expect).hexdigest()
    del expect

    def tmp_exists(server):
        return (server.images / ".win.new.tmp").exists()

    def tmp_half(server):
        p = server.images / ".win.new.tmp"
        try:
            return p.stat().st_blocks * 512 >= size // 2
        except FileNotFoundError:
            return False

    def new_version(server):
        return any(p.name.startswith("win-") and p.name.endswith(".raw") and p.name != v1
                   for p in server.images.iterdir())

    def link_moved(server):
        return os.readlink(server.images / "win") != v1

    points = [("start", lambda s: True), ("temp file", tmp_exists), ("half written", tmp_half),
              ("new version", new_version), ("symlink moved", link_moved),
              ("0.01 s", None), ("0.05 s", None), ("0.1 s", None), ("0.2 s", None)]
    hit = []
    for i, (label, when) in enumerate(points):
        server = Server(tmp_path / f"k{i}")
        server.nbd_port, server.edit_port = ports_conf(server)
        try:
            server.run("image", "import", str(src), "win", check=True, timeout=300)
            v1 = os.readlink(server.images / "win")
            server.run("image", "edit", "win", check=True)
            qemu_io_write(server.edit_port, "win-edit", 0x5a, 0, size)
            qemu_io_write(server.edit_port, "win-edit", 0x5b, 0, 4096)

            proc = subprocess.Popen([str(DUET), "-c", str(server.conf), "image", "commit", "win"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            if when is None:
                time.sleep(float(label.split()[0]))
            else:
                deadline = time.monotonic() + 120
                while proc.poll() is None and not when(server) and time.monotonic() < deadline:
                    time.sleep(0.0005)
            finished = proc.poll() is not None
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=60)
            proc.stderr.close()
            hit.append((label, "finished first" if finished else "killed"))

            target = server.images / os.readlink(server.images / "win")
            assert target.name.endswith(".raw") and target.exists(), label
            assert sha256(target) in (old_sha, new_sha), f"partial image after kill at {label}"
            assert sha256(server.images / v1) == old_sha, label

            # The next commands finish or repair the job.
            r = server.run("image", "commit", "win", timeout=300)
            if r.returncode != 0:
                assert_clean_error(r, "no open edit")
            assert sha256(current(server, "win")) == new_sha, label
            assert sha256(server.images / v1) == old_sha, label
            assert not list(server.images.glob(".*tmp")), label
            assert not (server.images / "win-edit.qcow2").exists(), label
            server.run("image", "list", check=True)
            server.run("image", "gc", check=True)
            server.run("image", "rollback", "win", check=True)
            assert sha256(current(server, "win")) == old_sha, label
        finally:
            stop_daemons(server)
    print("kill points:", hit)
