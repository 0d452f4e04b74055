"""duet vm: server VMs on a headless server (server-tools/vm*.c,
docs/duet-vm.md), with the real duet-vmm on /dev/kvm and the real
duet-display (offscreen) and its VNC server, looked at with the project's
VNC client (tests/display/vnc_client.c) or vncsnapshot.

Guest kernel code runs ~1000x slow on this machine's KVM, so the guests
are SeaBIOS and the iPXE ISO's boot loader only; timeouts are generous and
nothing asserts how long anything took. (This machine's KVM also stops
ISOLINUX with an emulation failure a few seconds in, which the supervisor
then restarts; in the rig, on nested SVM, duet-vmm boots the same ISO
through to iPXE: tests/system/test_vmm_bios.py.) Every process is killed by its pid
file in the fixture's finalizer."""
import os
import random
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import BUILD, ROOT, assert_clean_error

IPXE_ISO = Path("/usr/lib/ipxe/ipxe.iso")
VNC_CLIENT = Path(os.environ.get("DUET_VNC_CLIENT",
                                 BUILD / "asan" / "tests" / "display" / "vnc_client"))


def port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_vnc_port() -> int:
    """A port P with P-1 and P free (a VM's composed screen and its guest)."""
    for _ in range(200):
        p = random.randrange(20001, 60000, 2)
        if port_free(p - 1) and port_free(p):
            return p
    pytest.fail("no free port pair")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purposes.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


class Vms:
    """Tracks the VMs a test makes; kills what is left of them at the end."""

    def __init__(self, server):
        self.server = server
        self.names: list[str] = []

    def create(self, name: str, *args: str) -> subprocess.CompletedProcess:
        self.names.append(name)
        return self.server.run("vm", "create", name, *args, check=True)

    def run_dir(self, name: str) -> Path:
        return self.server.run_dir / f"vm-{name}"

    def pid(self, name: str, file: str) -> int | None:
        try:
            return int((self.run_dir(name) / file).read_text().strip())
        except (OSError, ValueError):
            return None

    def list(self) -> dict[str, dict[str, str]]:
        r = self.server.run("vm", "list", check=True)
        lines = r.stdout.splitlines()
        rows = {}
        if lines and lines[0].startswith("NAME"):
            head = lines[0].split()
            for line in lines[1:]:
                rows[line.split()[0]] = dict(zip(head, line.split()))
        return rows

    def wait_state(self, name: str, state: str, timeout: float = 60, other_than_pid=None):
        end = time.monotonic() + timeout
        row = None
        while time.monotonic() < end:
            row = self.list().get(name)
            if row and row["STATE"] == state and row["PID"] != other_than_pid:
                return row
            time.sleep(0.2)
        pytest.fail(f"vm {name} never became {state} (last: {row})\n{self.logs(name)}")

    def logs(self, name: str) -> str:
        out = []
        for log in ("supervisor.log", "vmm.log", "display.log"):
            p = self.server.vms / name / log
            if p.exists():
                out.append(f"--- {log}\n" + p.read_text()[-3000:])
        return "\n".join(out)

    def cleanup(self):
        for name in self.names:
            for f in ("supervisor.pid", "vmm.pid", "display.pid"):
                pid = self.pid(name, f)
                if pid and pid > 1:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass


@pytest.fixture
def vms(server):
    v = Vms(server)
    yield v
    v.cleanup()


def screenshot(port: int, out: Path) -> tuple[int, int, bytes] | None:
    """The guest's screen over VNC as (width, height, RGB bytes), or None."""
    if VNC_CLIENT.exists():
        r = subprocess.run([str(VNC_CLIENT), "--timeout", "10", "--out", str(out),
                            "127.0.0.1", str(port)], capture_output=True, text=True, timeout=30)
        if r.returncode:
            return None
        ppm = out
    else:
        tool = shutil.which("vncsnapshot")
        conv = shutil.which("convert")
        if not tool or not conv:
            pytest.fail(f"need {VNC_CLIENT} (make {VNC_CLIENT.relative_to(ROOT)}) "
                        "or vncsnapshot with ImageMagick's convert")
        jpg = out.with_suffix(".jpg")
        r = subprocess.run([tool, "-quiet", "127.0.0.1::%d" % port, str(jpg)],
                           capture_output=True, text=True, timeout=30)
        if r.returncode:
            return None
        ppm = out.with_suffix(".ppm")
        subprocess.run([conv, str(jpg), str(ppm)], check=True, timeout=30)
    data = ppm.read_bytes()
    fields, pos = [], 0
    while len(fields) < 4:  # P6 W H MAXVAL, whitespace-separated
        while data[pos:pos + 1].isspace():
            pos += 1
        start = pos
        while not data[pos:pos + 1].isspace():
            pos += 1
        fields.append(data[start:pos])
    assert fields[0] == b"P6", fields
    w, h = int(fields[1]), int(fields[2])
    return w, h, data[pos + 1:pos + 1 + w * h * 3]


def looks_like_bios_text(shot) -> bool:
    """SeaBIOS's and iPXE's screens: VGA text, light letters on black."""
    w, h, rgb = shot
    n = w * h
    black = sum(1 for i in range(0, n * 3, 3 * 7) if rgb[i] + rgb[i + 1] + rgb[i + 2] < 48)
    bright = sum(1 for i in range(0, n * 3, 3) if rgb[i] + rgb[i + 1] + rgb[i + 2] > 300)
    return black > 0.5 * (n / 7) and bright > 100


def test_vm_lifecycle(server, vms, tmp_path):
    assert IPXE_ISO.exists(), "the ipxe package is not installed (scripts/deps.sh)"
    port = free_vnc_port()
    r = vms.create("web1", "--memory", "128M", "--disk-size", "32M", "--iso", str(IPXE_ISO),
                   "--vnc-port", str(port))
    assert f"127.0.0.1:{port}" in r.stdout
    vmdir = server.vms / "web1"
    assert (vmdir / "disk.raw").stat().st_size == 32 << 20
    conf = (vmdir / "vm.conf").read_text()
    assert f"cdrom = {IPXE_ISO}" in conf and "boot = cdrom,disk" in conf and "bios = yes" in conf
    assert vms.list()["web1"]["STATE"] == "stopped"

    r = server.run("vm", "start", "web1", check=True)
    assert "started" in r.stdout
    r = server.run("vm", "start", "web1", check=True)
    assert "already running" in r.stdout
    row = vms.wait_state("web1", "running")
    assert row["VNC"] == f"127.0.0.1:{port}" and row["MEMORY"] == "128M"
    assert row["CPUS"] == "1" and row["DISK"] == "32M"

    # The guest's own VNC view shows SeaBIOS / iPXE (POST is slow here).
    end = time.monotonic() + 120
    shot = None
    while time.monotonic() < end:
        shot = screenshot(port, tmp_path / "screen.ppm")
        if shot and looks_like_bios_text(shot):
            break
        time.sleep(1)
    else:
        pytest.fail(f"no BIOS text on VNC port {port} (last: {shot and shot[:2]})\n"
                    + vms.logs("web1"))

    # duet-vmm killed: the supervisor starts a new one.
    row = vms.wait_state("web1", "running")
    old = int(row["PID"])
    sup = vms.pid("web1", "supervisor.pid")
    os.kill(old, signal.SIGKILL)
    row = vms.wait_state("web1", "running", timeout=90, other_than_pid=str(old))
    assert int(row["PID"]) != old and pid_alive(int(row["PID"]))
    assert vms.pid("web1", "supervisor.pid") == sup
    log = (vmdir / "supervisor.log").read_text()
    assert "killed by signal 9" in log and "restarting it in" in log, log

    # --force: killed at once, and not restarted.
    vmm = int(row["PID"])
    display = vms.pid("web1", "display.pid")
    r = server.run("vm", "stop", "web1", "--force", check=True)
    assert "stopped" in r.stdout, r.stdout
    assert vms.list()["web1"]["STATE"] == "stopped"
    for pid in (sup, vmm, display):
        end = time.monotonic() + 10
        while pid_alive(pid) and time.monotonic() < end:
            time.sleep(0.1)
        assert not pid_alive(pid), pid
    assert not vms.run_dir("web1").exists()
    r = server.run("vm", "stop", "web1", check=True)
    assert "not running" in r.stdout

    r = server.run("vm", "destroy", "web1", "--yes", check=True)
    assert not vmdir.exists()
    assert IPXE_ISO.exists()
    assert "web1" not in server.run("vm", "list", check=True).stdout


def test_vm_stop_timeout_and_destroy_running(server, vms):
    """A guest that ignores the power button (SeaBIOS with nothing to
    boot) is killed after --timeout; destroy stops a running VM first."""
    port = free_vnc_port()
    vms.create("dhcp", "--memory", "64M", "--disk-size", "8M", "--net", "none",
               "--vnc-port", str(port))
    assert "boot = disk\n" in (server.vms / "dhcp" / "vm.conf").read_text()
    server.run("vm", "start", "dhcp", check=True)
    vms.wait_state("dhcp", "running")
    time.sleep(1)
    r = server.run("vm", "stop", "dhcp", "--timeout", "3", check=True)
    assert "power button" in r.stdout and "killed after 3 s" in r.stdout, r.stdout
    assert vms.list()["dhcp"]["STATE"] == "stopped"
    assert "killed after 3 s" in (server.vms / "dhcp" / "supervisor.log").read_text()

    # It starts again after a stop; destroy without a terminal wants --yes.
    server.run("vm", "start", "dhcp", check=True)
    vms.wait_state("dhcp", "running")
    r = server.run("vm", "destroy", "dhcp", input="y\n")
    assert_clean_error(r, "--yes")
    assert (server.vms / "dhcp").exists()
    sup = vms.pid("dhcp", "supervisor.pid")
    r = server.run("vm", "destroy", "dhcp", "--yes", check=True)
    assert "destroyed" in r.stdout
    assert not (server.vms / "dhcp").exists() and not vms.run_dir("dhcp").exists()
    end = time.monotonic() + 10
    while pid_alive(sup) and time.monotonic() < end:
        time.sleep(0.1)
    assert not pid_alive(sup)


def test_vm_foreground_supervisor(server, vms):
    """`duet vm start --foreground` (systemd, runit) is the supervisor
    itself; SIGTERM stops the VM and it exits 0."""
    port = free_vnc_port()
    vms.create("fg", "--memory", "64M", "--disk-size", "8M", "--net", "none",
               "--vnc-port", str(port))
    p = subprocess.Popen([str(BUILD / "bin" / "duet"), "-c", str(server.conf), "vm", "start",
                          "fg", "--foreground"], stderr=subprocess.PIPE, text=True)
    try:
        vms.wait_state("fg", "running")
        assert vms.pid("fg", "supervisor.pid") == p.pid
        r = server.run("vm", "start", "fg", "--foreground")
        assert_clean_error(r, "vm 'fg'", "already running")
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=30) == 0
        assert "stopped" in p.stderr.read()
        assert vms.list()["fg"]["STATE"] == "stopped"
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_vm_bad_input(server, vms, tmp_path):
    port = free_vnc_port()

    def bad(*args, needles=()):
        r = server.run("vm", *args)
        assert r.returncode == 1, (args, r.returncode, r.stderr)
        assert_clean_error(r, *needles)
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
        return r

    bad("create", "x1", "--iso", str(tmp_path / "nope.iso"), needles=("vm 'x1'", "no such file"))
    assert not (server.vms / "x1").exists()
    bad("create", "Bad!", needles=("not a valid VM name",))
    bad("create", "screen", needles=("not a valid VM name",))
    bad("create", "a" * 32, needles=("not a valid VM name",))
    bad("create", "x2", "--disk-size", "12X", needles=("--disk-size '12X'",))
    bad("create", "x2", "--disk-size", "1000", needles=("--disk-size '1000'",))
    bad("create", "x2", "--memory", "1", needles=("--memory '1'",))
    bad("create", "x2", "--memory", "64T", needles=("--memory 64T", "more than this host"))
    bad("create", "x2", "--cpus", "0", needles=("--cpus '0'",))
    bad("create", "x2", "--net", "bridge=nosuchbr0", needles=("no bridge 'nosuchbr0'",))
    bad("create", "x2", "--net", "tap", needles=("--net 'tap'",))
    bad("create", "x2", "--vnc-listen", "0.0.0.0", needles=("--vnc-password-file",))
    bad("create", "x2", "--vnc-listen", "localhost", needles=("numeric",))
    bad("create", "x2", "--vnc-port", "70000", needles=("--vnc-port '70000'",))
    bad("create", "x2", "--disk", str(tmp_path / "nope.raw"), needles=("disk", "no such file"))
    assert not (server.vms / "x2").exists()

    vms.create("dup", "--disk-size", "1M", "--vnc-port", str(port), "--net", "none")
    bad("create", "dup", "--disk-size", "1M", needles=("vm 'dup'", "already exists"))
    bad("create", "x3", "--disk-size", "1M", "--vnc-port", str(port + 1),
        needles=(f"VNC port {port + 1} is taken", "vm 'dup'"))
    with socket.socket() as s:  # a port some other program holds
        s.bind(("127.0.0.1", 0))
        s.listen()
        held = s.getsockname()[1]
        bad("create", "x3", "--disk-size", "1M", "--vnc-port", str(held),
            needles=(f"VNC port {held}", "in use"))

    # A password makes other addresses possible; it is copied in.
    pw = tmp_path / "pw"
    pw.write_text("secret12\n")
    vms.create("lan", "--disk-size", "1M", "--net", "none", "--vnc-listen", "0.0.0.0",
               "--vnc-password-file", str(pw), "--vnc-port", str(free_vnc_port()))
    assert (server.vms / "lan" / "vnc.pass").read_text() == "secret12\n"
    assert oct((server.vms / "lan" / "vnc.pass").stat().st_mode & 0o777) == "0o600"

    for cmd in ("start", "stop", "destroy", "eject"):
        r = server.run("vm", cmd, "nosuch", *(["--yes"] if cmd == "destroy" else []))
        assert r.returncode == 1
        assert_clean_error(r, "vm 'nosuch'", "no such VM")

    # Usage errors: exit 2; --help: exit 0.
    for args in (("create",), ("frob",), ("stop", "dup", "--timeout", "x"), ("start", "a", "b"),
                 ("create", "x4", "--bogus"), ()):
        r = server.run("vm", *args)
        assert r.returncode == 2, (args, r.stderr)
        assert "Traceback" not in r.stderr
    for cmd in ("create", "start", "stop", "destroy", "list", "eject"):
        r = server.run("vm", cmd, "--help")
        assert r.returncode == 0 and "Usage: duet vm " + cmd in r.stdout, (cmd, r.stdout)

    # A VM whose ISO went away says so at start.
    iso = tmp_path / "gone.iso"
    shutil.copy(IPXE_ISO, iso)
    vms.create("noiso", "--disk-size", "1M", "--iso", str(iso), "--net", "none",
               "--vnc-port", str(free_vnc_port()))
    iso.unlink()
    bad("start", "noiso", needles=("vm 'noiso'", "its ISO", "duet vm eject noiso"))
    r = server.run("vm", "eject", "noiso", check=True)
    conf = (server.vms / "noiso" / "vm.conf").read_text()
    assert "cdrom" not in conf and "boot = disk\n" in conf
