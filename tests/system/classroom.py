"""A simulated classroom on this machine: an LTSP server in a network
namespace and PCs (QEMU, TCG, -cpu max: AMD SVM inside, so duet-vmm runs
on nested KVM) that PXE-boot the duet image from it.

Used by `make demo` (scripts/demo.py) and the end-to-end test
(tests/system/test_classroom.py).

    with Server(work) as srv:            # netns, veth, host-side bridge (no address)
        two_guests(srv, "password")      # duet image import/serve, duet config publish
        srv.publish(ident, files)        # or config by hand (+ SHA256SUMS)
        pc = srv.boot_pc("52:54:00:00:77:01", work / "pc1")
        pc.wait_serial("duet: ready", 300)
        pc.sendkey("ctrl_r-2"); pc.screendump(path)
        pc.shell("sv status /etc/service/*")        # with duet.shell=ttyS1
        ...

The server runs real programs: dnsmasq (DHCP + TFTP), busybox httpd (HTTP
boot), the `duet` command (its config publisher, and `duet image serve`
running nbd-server for the Windows slot's golden disk) and, when asked, an
XDMCP display manager for the LTSP guest. The host side is an L2 bridge
without an address; nothing listens beyond the namespace except QEMU's VNC
on 127.0.0.1 and the forwards made with forward().
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from rig import rig_debug_args, rig_fault

REPO = Path(__file__).resolve().parents[2]
NETBOOT = REPO / "build" / "netboot"
DUET = REPO / "build" / "bin" / "duet"
QEMU = os.environ.get("DUET_RIG_QEMU", "qemu-system-x86_64")


class ClassroomError(Exception):
    pass


class PCEnded(ClassroomError):
    """The PC's QEMU ended while the test needed it. `fault` is set when its
    emulated machine failed (rig.rig_fault: a triple fault of the rig's own
    kernel, a crash of QEMU), which nothing duet runs in it can cause."""

    def __init__(self, message: str, fault: str | None):
        super().__init__(message)
        self.fault = fault


def run(*argv, check=True, **kw):
    return subprocess.run([str(a) for a in argv], check=check, capture_output=True, text=True, **kw)


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class Server:
    """The simulated LTSP server: namespace `ns`, address 10.77.N.1/24."""

    def __init__(self, work: Path, net: int = 77, tag: str | None = None) -> None:
        self.work = Path(work)
        self.tag = tag or f"d{os.getpid() % 100000}"
        self.ns = f"duet-{self.tag}"
        self.bridge = f"dbr-{self.tag}"[:15]
        self.veth = f"dve-{self.tag}"[:15]
        self.prefix = f"10.{net}.0"
        self.ip = f"{self.prefix}.1"
        self.ip6 = f"fd00:{net}::"     # a router advertisement: see _dnsmasq
        self.tftp = self.work / "tftp"
        self.procs: dict[str, subprocess.Popen] = {}
        self.pcs: list[PC] = []
        self.taps = 0
        self.on_stop: list = []    # called first by stop()

    # ---- set-up and tear-down
    def __enter__(self) -> "Server":
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        self._tree()
        run("ip", "netns", "add", self.ns)
        self.nsrun("ip", "link", "set", "lo", "up")
        run("ip", "link", "add", self.bridge, "type", "bridge")
        run("ip", "link", "set", self.bridge, "up")
        run("ip", "link", "add", self.veth, "type", "veth", "peer", "name", "eth0", "netns", self.ns)
        run("ip", "link", "set", self.veth, "master", self.bridge, "up")
        self.nsrun("ip", "addr", "add", f"{self.ip}/24", "dev", "eth0")
        self.nsrun("ip", "-6", "addr", "add", f"{self.ip6}1/64", "dev", "eth0", "nodad")
        self.nsrun("ip", "link", "set", "eth0", "up")
        self._dnsmasq()
        self.spawn("httpd", "ip", "netns", "exec", self.ns, "busybox", "httpd", "-f",
                   "-p", f"{self.ip}:80", "-h", self.tftp, "-vv")

    def stop(self) -> None:
        for pc in list(self.pcs):
            pc.stop()
        for f in self.on_stop:
            f()
        self.on_stop.clear()
        for name, p in list(self.procs.items()):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        self.procs.clear()
        # anything still in the namespace (a forked daemon) goes with it
        pids = run("ip", "netns", "pids", self.ns, check=False).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        for i in range(self.taps):
            run("ip", "link", "del", f"dtp-{self.tag}-{i}"[:15], check=False)
        run("ip", "link", "del", self.veth, check=False)
        run("ip", "link", "del", self.bridge, check=False)
        run("ip", "netns", "del", self.ns, check=False)

    def nsrun(self, *argv, check=True):
        return run("ip", "netns", "exec", self.ns, *argv, check=check)

    def spawn(self, name: str, *argv, **kw) -> subprocess.Popen:
        log = open(self.work / f"{name}.log", "ab")
        p = subprocess.Popen([str(a) for a in argv], stdin=subprocess.DEVNULL, stdout=log,
                             stderr=subprocess.STDOUT, **kw)
        self.procs[name] = p
        return p

    def log(self, name: str) -> str:
        try:
            return (self.work / f"{name}.log").read_text(errors="replace")
        except FileNotFoundError:
            return ""

    # ---- the TFTP/HTTP tree: build/netboot linked in, config written here
    def _tree(self) -> None:
        src = NETBOOT / "duet"
        for need in ("vmlinuz", "initrd.img", "duet.ipxe"):
            if not (src / need).exists():
                raise ClassroomError(f"classroom: {src / need} is missing (make image netboot)")
        if self.tftp.exists():
            shutil.rmtree(self.tftp)
        dst = self.tftp / "duet"
        dst.mkdir(parents=True)
        for f in sorted(src.rglob("*")):
            rel = f.relative_to(src)
            if rel.parts[0] == "config":
                continue
            if f.is_dir():
                (dst / rel).mkdir(parents=True, exist_ok=True)
            else:
                (dst / rel).parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.link(f, dst / rel)
                except OSError:
                    shutil.copyfile(f, dst / rel)
        self.manifest()

    def manifest(self) -> None:
        """duet/SHA256SUMS over every file the PCs fetch, written atomically."""
        root = self.tftp / "duet"
        lines = [f"{sha256(f)}  {f.relative_to(root)}\n" for f in sorted(root.rglob("*"))
                 if f.is_file() and f.name != "SHA256SUMS"]
        tmp = root / "SHA256SUMS.tmp"
        tmp.write_text("".join(lines))
        tmp.replace(root / "SHA256SUMS")

    def publish(self, ident: str, files: dict[str, str | bytes | Path]) -> None:
        """Config for one PC (ident = MAC with dashes) or 'default':
        {file name in config/IDENT/: text, bytes or a host path}."""
        d = self.tftp / "duet" / "config" / ident
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
        for name, content in files.items():
            if isinstance(content, Path):
                shutil.copyfile(content, d / name)
            elif isinstance(content, bytes):
                (d / name).write_bytes(content)
            else:
                (d / name).write_text(content)
        self.manifest()

    # ---- the real server command, `duet`, on this server's files
    def duet_conf(self, body: str) -> Path:
        """duet.conf with this server's paths and address in [server], then body."""
        conf = self.work / "duet.conf"
        conf.write_text(f"[server]\ntftp-root = {self.tftp}\nimages = {self.work / 'images'}\n"
                        f"vms = {self.work / 'vms'}\nrun = {self.work / 'run'}\n"
                        f"key = {self.work / 'remote.key'}\nethers = {self.work / 'ethers'}\n"
                        f"leases = {self.work / 'leases'}\naddress = {self.ip}\n" + body)
        return conf

    def duet(self, *args) -> str:
        """duet -c <duet.conf> ARGS; its output, or ClassroomError with it."""
        r = run(DUET, "-c", self.work / "duet.conf", *args, check=False, timeout=600)
        if r.returncode:
            raise ClassroomError(f"classroom: duet {' '.join(map(str, args))}: exit {r.returncode}\n"
                                 f"{r.stdout}{r.stderr}")
        return r.stdout

    def add_file(self, rel: str, src: Path) -> None:
        """A shared file under duet/ (e.g. guests/ltsp/initrd.img)."""
        dst = self.tftp / "duet" / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
        self.manifest()

    # ---- services
    def _dnsmasq(self) -> None:
        conf = (REPO / "netboot" / "dnsmasq-duet-dhcp.conf.in").read_text()
        conf = (conf.replace("@TFTP_ROOT@", str(self.tftp))
                .replace("@RANGE_START@", f"{self.prefix}.100")
                .replace("@RANGE_END@", f"{self.prefix}.150")
                .replace("@NETMASK@", "255.255.255.0")
                .replace("@PXE_BOOT@", "duet/pxelinux.0"))
        conf += (f"\ninterface=eth0\nbind-interfaces\nlog-dhcp\nlog-facility=-\n"
                 f"dhcp-leasefile={self.work / 'leases'}\nuser=root\ngroup=root\n"
                 f"dhcp-option=option:router,{self.ip}\n"
                 # iPXE (2019) waits ~15 s for an IPv6 router advertisement
                 # before it boots; a LAN with IPv6 sends one
                 f"enable-ra\ndhcp-range={self.ip6},ra-only\n")
        leftover = [line for line in conf.splitlines() if "@" in line and not line.startswith("#")]
        if leftover:
            raise ClassroomError(f"classroom: unfilled placeholders in the dnsmasq snippet: {leftover}")
        (self.work / "dnsmasq.conf").write_text(conf)
        self.spawn("dnsmasq", "ip", "netns", "exec", self.ns, "dnsmasq", "--keep-in-foreground",
                   f"--conf-file={self.work / 'dnsmasq.conf'}", f"--pid-file={self.work / 'dnsmasq.pid'}")

    def syslog(self) -> Path:
        """A syslog receiver (UDP 514) in the namespace; the file it fills."""
        path = self.work / "syslog.log"
        self.spawn("syslog", "ip", "netns", "exec", self.ns, "socat", "-u",
                   f"UDP-RECV:514,bind={self.ip}", f"OPEN:{path},creat,append")
        return path

    def forward(self, port: int, dest: str) -> None:
        """127.0.0.1:PORT on this machine to DEST (host:port) in the namespace."""
        self.spawn(f"fwd-{port}", "socat", f"TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork",
                   f"EXEC:ip netns exec {self.ns} socat STDIO TCP\\:{dest.replace(':', chr(92) + ':')}")

    # ---- PCs
    def new_tap(self) -> str:
        name = f"dtp-{self.tag}-{self.taps}"[:15]
        self.taps += 1
        run("ip", "tuntap", "add", "dev", name, "mode", "tap")
        run("ip", "link", "set", name, "master", self.bridge, "up")
        return name

    def boot_pc(self, mac: str, work: Path, memory: str = "2G", vnc: int | None = None,
                cpu: str = "max") -> "PC":
        pc = PC(self, mac, Path(work), memory, vnc, cpu)
        self.pcs.append(pc)
        pc.start()
        return pc


XDMCP = REPO / "initramfs" / "ltsp-guest" / "xdmcp-server.sh"


def two_guests(srv: Server, vnc_password: str, pc_args: dict[str, str] | None = None) -> None:
    """The classroom of the demo, the end-to-end test and the benchmark:
    every PC runs the Windows slot's stand-in and the LTSP guest (X over
    XDMCP from xdm on the server), VNC views with a password on the PC's
    address. The server side is the real `duet` command: the stand-in is
    imported as the golden image 'windows' (`duet image import`), served by
    `duet image serve` (nbd-server) in the namespace, and every PC's config
    comes from a duet.conf through `duet config publish`, with the remote
    port on (`duet switch`, signed with the server's key). pc_args: {MAC:
    iPXE lines} for per-PC settings (clients/<mac>.ipxe). xdm and the NBD
    server are stopped by srv.stop()."""
    from guest import make_windows_standin

    disk = srv.work / "windows-standin.img"
    make_windows_standin(disk)
    srv.syslog()
    xdm = srv.work / "xdm"
    subprocess.run(["sh", str(XDMCP), "start", srv.ip, str(xdm), srv.ns], check=True,
                   capture_output=True, timeout=60)
    srv.on_stop.append(lambda: subprocess.run(["sh", str(XDMCP), "stop", str(xdm)],
                                              capture_output=True, timeout=60))
    (srv.work / "vnc.passwd").write_text(vnc_password + "\n")
    conf = srv.duet_conf(f"""
[clients]
guests = windows ltsp
screen = windows
syslog = yes
vnc-listen = 0.0.0.0
vnc-password-file = {srv.work / "vnc.passwd"}
remote-listen = 0.0.0.0
windows.memory = 256M
windows.disk = windows
windows.color = #2060ff
ltsp.memory = 384M
ltsp.kernel = guests/ltsp/vmlinuz
ltsp.initrd = guests/ltsp/initrd.img
ltsp.append = console=ttyS0 quiet duet.xdmcp={srv.ip}
ltsp.color = #30c050
""")
    srv.duet("image", "import", disk, "windows")
    srv.spawn("duet-image-serve", "ip", "netns", "exec", srv.ns, DUET, "-c", conf, "image", "serve")
    deadline = time.monotonic() + 60
    while srv.nsrun("nbdinfo", "--size", f"nbd://{srv.ip}/windows", check=False).returncode:
        if time.monotonic() > deadline:
            raise ClassroomError("classroom: duet image serve did not serve 'windows' within 60 s:\n"
                                 + srv.log("duet-image-serve"))
        time.sleep(0.2)
    clients = srv.tftp / "duet" / "clients"
    clients.mkdir(exist_ok=True)
    for mac, lines in (pc_args or {}).items():
        (clients / (mac.replace(":", "-") + ".ipxe")).write_text("#!ipxe\n" + lines + "\n")
    srv.duet("config", "publish")


class PC:
    """A classroom PC: QEMU (TCG, -cpu max, 2 vCPUs, std VGA, PS/2, e1000
    with its iPXE ROM) booting from the network. ttyS0 goes to a file,
    ttyS1 to a socket (the image's debug shell with duet.shell=ttyS1),
    the monitor to a socket (sendkey, screendump)."""

    def __init__(self, server: Server, mac: str, work: Path, memory: str, vnc: int | None,
                 cpu: str):
        self.server, self.mac, self.work, self.memory, self.vnc = server, mac, work, memory, vnc
        self.cpu = cpu
        self.proc: subprocess.Popen | None = None
        self.serial = work / "serial.log"
        self.mon_path = work / "monitor.sock"
        self.sh_path = work / "shell.sock"
        self.sh: socket.socket | None = None

    def start(self) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        for stale in (self.mon_path, self.sh_path, self.serial):
            stale.unlink(missing_ok=True)
        tap = self.server.new_tap()
        argv = [QEMU, "-accel", "tcg,thread=multi", "-cpu", self.cpu, "-smp", "2", "-m", self.memory,
                "-M", "pc", "-nodefaults", "-vga", "std", "-no-reboot",
                "-netdev", f"tap,id=n0,ifname={tap},script=no,downscript=no",
                "-device", f"e1000,netdev=n0,mac={self.mac}", "-boot", "n",
                "-serial", f"file:{self.serial}",
                "-chardev", f"socket,id=sh,path={self.sh_path},server=on,wait=off",
                "-serial", "chardev:sh",
                "-monitor", f"unix:{self.mon_path},server,nowait", *rig_debug_args(self.work)]
        argv += ["-display", "none"] + (["-vnc", f"127.0.0.1:{self.vnc}"] if self.vnc is not None else [])
        (self.work / "qemu.cmd").write_text(" ".join(argv) + "\n")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=open(self.work / "qemu.log", "wb"),
                                     stderr=subprocess.STDOUT)

    def stop(self) -> None:
        if self.sh:
            self.sh.close()
            self.sh = None
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self in self.server.pcs:
            self.server.pcs.remove(self)

    def ended(self) -> PCEnded | None:
        """A PCEnded saying how, if the PC's QEMU has ended; else None."""
        if self.proc is None or self.proc.poll() is None:
            return None
        fault = rig_fault(self.work, self.proc.returncode)
        out = (self.work / "qemu.log").read_text(errors="replace").strip()
        return PCEnded(f"the PC's QEMU ended (status {self.proc.returncode})"
                       + (f": {fault}" if fault else "") + (f"\n{out[-1000:]}" if out else "")
                       + f"\n{self.tail()}", fault)

    def console(self) -> str:
        try:
            return self.serial.read_bytes().decode(errors="replace").replace("\r", "")
        except FileNotFoundError:
            return ""

    def tail(self, n: int = 60) -> str:
        return "\n".join(self.console().splitlines()[-n:])

    def wait_serial(self, pattern: str, timeout: float) -> re.Match:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            m = re.search(pattern, self.console())
            if m:
                return m
            ended = self.ended()
            if ended:
                raise ended
            time.sleep(0.5)
        raise ClassroomError(f"no {pattern!r} on the PC's console after {timeout:.0f} s\n{self.tail()}")

    def monitor(self, command: str) -> str:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(30)
            s.connect(str(self.mon_path))
            buf = b""
            while b"(qemu)" not in buf:
                buf += s.recv(4096)
            s.sendall(command.encode() + b"\n")
            buf = b""
            while buf.count(b"(qemu)") < 1:
                chunk = s.recv(4096)
                if not chunk:
                    break
                buf += chunk
            return buf.decode(errors="replace")

    def sendkey(self, keys: str) -> None:
        self.monitor(f"sendkey {keys}")

    def screendump(self, path: Path) -> Path:
        path = Path(path)
        self.monitor(f"screendump {path} -f png")
        end = time.monotonic() + 20
        while time.monotonic() < end:
            if path.exists() and path.stat().st_size > 0:
                time.sleep(0.2)
                return path
            time.sleep(0.2)
        raise ClassroomError(f"QEMU wrote no screendump to {path}")

    def shell(self, command: str, timeout: float = 60) -> str:
        """Run `command` in the image's debug shell on ttyS1; its output."""
        if self.sh is None:
            self.sh = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sh.connect(str(self.sh_path))
            self.sh.sendall(b"stty -echo -onlcr 2>/dev/null; PS1=''; PS2=''\n")
            self._read_until(None, 2)
        mark = f"__done_{time.monotonic_ns()}__"
        try:
            self.sh.sendall(f"{command}\necho {mark}\n".encode())
        except OSError as e:
            raise self.ended() or ClassroomError(f"the PC's debug shell: {e}") from None
        return self._read_until(mark, timeout)

    def _read_until(self, mark: str | None, timeout: float) -> str:
        buf = b""
        end = time.monotonic() + timeout
        self.sh.settimeout(0.5)
        while time.monotonic() < end:
            try:
                chunk = self.sh.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                raise self.ended() or ClassroomError("the PC's debug shell closed")
            buf += chunk
            text = buf.decode(errors="replace").replace("\r", "")
            if mark and f"{mark}\n" in text:
                return text.split(f"{mark}\n", 1)[0]
        if mark:
            raise self.ended() or ClassroomError(
                f"the PC's debug shell did not answer in {timeout} s: {buf[-500:]!r}")
        return buf.decode(errors="replace")
