"""The PXE boot chain of netboot/ (build/netboot/, a mirror of /srv/tftp),
booted for real on this machine: no KVM, no rig.

Each boot gets its own network namespace (a "lab"): a TAP for QEMU, a real
dnsmasq (DHCP + TFTP, configured from netboot/dnsmasq-duet-*.conf.in)
rooted at a copy of the tree, and for the HTTP case a real HTTP server.
QEMU (`-accel tcg -M pc`, an e1000 with Debian's iPXE ROM pxe-e1000.rom,
`-boot n`) runs inside the namespace. Instead of the duet image the tree
holds a stand-in: Debian's kernel (build/rig/kernel, `make rig-deps`) and
a busybox initramfs that prints its /proc/cmdline on the serial port and
powers off. So each test ends with the kernel arguments the chain built:

1. PXELINUX: duet/pxelinux.0, the menu's default entry, IPAPPEND 3;
2. iPXE over TFTP (no HTTP server): duet/duet.ipxe, duet.url=tftp://...,
   a per-PC clients/<mac>.ipxe adding an argument, and no router from
   DHCP (the gateway in ip= is 0.0.0.0, as PXELINUX writes it);
3. iPXE over TFTP when port 80 takes connections and never answers
   (duet.ipxe's 3 s timeout);
4. iPXE over HTTP, dnsmasq in proxy-DHCP mode next to another DHCP server
   (a second namespace on the lab's bridge): duet.url=http://..., and the
   HTTP server's log shows vmlinuz and initrd.img went over HTTP;
5. undionly.kpxe: handed to the ROM as to a plain PXE ROM, it starts iPXE
   again, which gets duet.ipxe (QEMU's ROMs are all iPXE, so the lab's
   dnsmasq treats this PC as a plain PXE ROM until undionly.kpxe is sent);
6. a per-PC pxelinux.cfg/01-<mac> replaces the default menu (no router
   either: PXELINUX's 0.0.0.0);
7. duet/ltsp-entry.ipxe's item and label, put into an LTSP-shaped
   ltsp.ipxe the way docs/netboot.md says, chain to duet.ipxe.

Also: the build is reproducible (two builds, same bytes and modes), the
.c32 libraries menu.c32 needs are all there, and both dnsmasq templates
pass `dnsmasq --test`.

iPXE (2019) waits ~15 s for an IPv6 router advertisement when there is
none; the lab's dnsmasq sends one (a ULA prefix, RA only) to save that.
Every boot is bounded (BOOT_LIMIT); failures show the serial log tail and
the dnsmasq (and HTTP) logs. Namespaces, processes and interfaces go away
after each boot, failed or not. The boots run before their tests, three at
a time (DUET_NETBOOT_PARALLEL); the whole file took 63 s on this 2-core
machine at a load average of 2.5, 104 s at 8 (`-s` prints each boot's
time line).
"""
from __future__ import annotations

import gzip
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "initramfs"))
from cpio import Cpio  # noqa: E402  (the image builders' cpio writer)

NETBOOT = REPO / "netboot"
TREE = REPO / "build" / "netboot"
KERNEL_DIR = Path(os.environ.get("DUET_RIG_DIR", REPO / "build" / "rig")) / "kernel"
ROM = "/usr/lib/ipxe/qemu/pxe-e1000.rom"
QEMU = os.environ.get("DUET_RIG_QEMU", "qemu-system-x86_64")
BUSYBOX = os.environ.get("DUET_RIG_BUSYBOX", "/bin/busybox")
PYTHON = "/usr/bin/python3"

# The lab network (inside namespaces of our own, so no clash with anything).
SERVER = "10.77.0.1"
SCHOOL_DHCP = "10.77.0.2"  # the "existing" DHCP server of the proxy case
NETMASK = "255.255.255.0"
RANGE = ("10.77.0.50", "10.77.0.99")
RA_PREFIX = "fd00:77::"

# Seconds per boot. One takes 12-40 s on an idle 2-core machine; with
# other QEMUs running, up to twice that (undionly.kpxe's, the slowest, took
# 80 s under a load average of 8).
BOOT_LIMIT = int(os.environ.get("DUET_NETBOOT_BOOT_LIMIT", "150"))
MARK = "STANDIN-CMDLINE:"
NS_PREFIX = "duetnb-"
# Serial log lines whose appearances are timed (printed with each boot).
MILESTONES = ("iPXE initialising", "Configuring (", "Filename:", "PXELINUX", "duet.ipxe :",
              "/vmlinuz", MARK)

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces, TAP)"),
    pytest.mark.skipif(shutil.which(QEMU) is None, reason=f"{QEMU} not installed"),
    pytest.mark.skipif(shutil.which("dnsmasq") is None, reason="dnsmasq not installed"),
]


# ---------------------------------------------------------------- helpers

def run(*argv: str, ns: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    if ns:
        argv = ("ip", "netns", "exec", ns) + argv
    p = subprocess.run(argv, capture_output=True, text=True)
    if check and p.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: exit {p.returncode}: {p.stderr.strip()}")
    return p


ANSI = re.compile(r"\x1b(\[[0-9;?]*[A-Za-z]|[c()][0-9A-B]?)")


def readable(raw: bytes) -> str:
    """A serial log as text: escape sequences and \\r dropped, the menus'
    repainted lines squeezed."""
    text = ANSI.sub("\n", raw.decode("utf-8", "replace")).replace("\r", "").replace("\b", "")
    lines = [ln.rstrip() for ln in text.split("\n")]
    return "\n".join(ln for i, ln in enumerate(lines) if ln and (i == 0 or ln != lines[i - 1]))


def tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.rstrip("\n").split("\n")[-lines:])


def fill(template: str, **values: str) -> str:
    text = (NETBOOT / template).read_text()
    for k, v in values.items():
        text = text.replace(f"@{k}@", v)
    assert "@" not in re.sub(r"#.*", "", text), f"unfilled placeholder in {template}"
    return text


def remove_stale_namespaces() -> None:
    """Namespaces an earlier run of this file left (its pid is gone)."""
    for ns in run("ip", "netns", "list").stdout.split("\n"):
        name = ns.split(" ")[0]
        m = re.fullmatch(NS_PREFIX + r"(\d+)-\w+", name)
        if m and not Path(f"/proc/{m.group(1)}").exists():
            run("ip", "netns", "delete", name, check=False)


# ---------------------------------------------------------------- the tree

def build_tree(dest: Path) -> None:
    p = subprocess.run(["make", "-s", "-f", "netboot/netboot.mk", "netboot", f"NETBOOT_DIR={dest}"],
                       cwd=REPO, capture_output=True, text=True)
    assert p.returncode == 0, f"make netboot failed:\n{p.stdout}{p.stderr}"


def standin_initrd() -> bytes:
    """busybox, /init printing the kernel command line to ttyS0 (whatever
    console= says) and powering off."""
    c = Cpio()
    for d in ("bin", "proc", "dev"):
        c.mkdir(d)
    c.chardev("dev/console", 5, 1)
    c.chardev("dev/ttyS0", 4, 64)
    c.file("bin/busybox", Path(BUSYBOX).read_bytes(), 0o755)
    for applet in ("sh", "mount", "cat", "poweroff"):
        c.symlink(f"bin/{applet}", "/bin/busybox")
    c.file("init", f"""#!/bin/sh
export PATH=/bin
mount -t proc proc /proc
echo "{MARK} $(cat /proc/cmdline)" > /dev/ttyS0
poweroff -f
""".encode(), 0o755)
    return gzip.compress(c.finish(), compresslevel=6, mtime=0)


@pytest.fixture(scope="module")
def base_tree(tmp_path_factory) -> Path:
    """build/netboot (built by `make netboot`, rebuilt here if stale) with
    the stand-in kernel and initrd in place of the image's."""
    remove_stale_namespaces()
    build_tree(TREE.resolve())
    kernels = sorted((KERNEL_DIR / "boot").glob("vmlinuz-*"))
    if not kernels:
        pytest.fail(f"no kernel under {KERNEL_DIR}/boot: run `make rig-deps`")
    dest = tmp_path_factory.mktemp("netboot") / "tftp"
    image = {(TREE / "duet").resolve(): {"vmlinuz", "initrd.img"}}
    shutil.copytree(TREE, dest, ignore=lambda d, names: image.get(Path(d).resolve(), set()))
    shutil.copyfile(kernels[-1], dest / "duet" / "vmlinuz")
    (dest / "duet" / "initrd.img").write_bytes(standin_initrd())
    return dest


# ---------------------------------------------------------------- the lab

class Lab:
    """One boot's network. Namespace `main` holds the server side: bridge
    br0 (SERVER) with tap0 on it for QEMU, dnsmasq, maybe an HTTP server.
    add_school_dhcp() adds a second namespace, joined to br0 by a veth,
    with a plain DHCP server (SCHOOL_DHCP) for duet's proxy-DHCP to stand
    next to. down() kills what it started and deletes the namespaces,
    which takes their interfaces along."""

    def __init__(self, name: str, workdir: Path):
        self.main = f"{NS_PREFIX}{os.getpid()}-{name}"
        self.school = f"{NS_PREFIX}{os.getpid()}-{name}d"
        self.dir = workdir
        self.namespaces: list[str] = []
        self.procs: list[subprocess.Popen] = []
        self.dnsmasq: subprocess.Popen | None = None
        self.serial = b""
        self.timeline: list[str] = []

    def up(self) -> None:
        ns = self.main
        run("ip", "netns", "add", ns)
        self.namespaces.append(ns)
        for cmd in (["link", "set", "lo", "up"],
                    ["link", "add", "br0", "type", "bridge", "forward_delay", "0"],
                    ["tuntap", "add", "tap0", "mode", "tap"],
                    ["link", "set", "tap0", "master", "br0"],
                    ["addr", "add", f"{SERVER}/24", "dev", "br0"],
                    ["addr", "add", f"{RA_PREFIX}1/64", "dev", "br0", "nodad"],
                    ["link", "set", "tap0", "up"],
                    ["link", "set", "br0", "up"]):
            run("ip", "-n", ns, *cmd)

    def add_school_dhcp(self) -> None:
        """The school's own DHCP server: addresses only, no boot options."""
        ns = self.school
        run("ip", "netns", "add", ns)
        self.namespaces.append(ns)
        run("ip", "-n", self.main, "link", "add", "veth0", "type", "veth", "peer", "name", "veth1",
            "netns", ns)
        run("ip", "-n", self.main, "link", "set", "veth0", "master", "br0", "up")
        run("ip", "-n", ns, "addr", "add", f"{SCHOOL_DHCP}/24", "dev", "veth1")
        run("ip", "-n", ns, "link", "set", "veth1", "up")
        self.start_dnsmasq(ns, "school",
                           ["port=0", f"dhcp-range={RANGE[0]},{RANGE[1]},{NETMASK},1h"],
                           "veth1", ra=False)

    def start_dnsmasq(self, ns: str, name: str, conf: list[str], iface: str = "br0",
                      ra: bool = True) -> subprocess.Popen:
        conf_path = self.dir / f"{name}.conf"
        lines = list(conf) + [
            f"interface={iface}", "bind-interfaces", "log-dhcp",
            f"log-facility={self.dir / (name + '.log')}",
            f"dhcp-leasefile={self.dir / (name + '.leases')}",
            "user=root", "group=root", "pid-file=",
        ]
        if ra:
            lines += ["enable-ra", f"dhcp-range={RA_PREFIX},ra-only"]
        conf_path.write_text("\n".join(lines) + "\n")
        log = self.dir / f"{name}.log"
        proc = subprocess.Popen(["ip", "netns", "exec", ns, "dnsmasq", "--keep-in-foreground",
                                 f"--conf-file={conf_path}"], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL,
                                stderr=open(self.dir / f"{name}.stderr", "wb"))
        self.procs.append(proc)
        self._wait_for(lambda: "started, version" in self.text(log), 10,
                       f"dnsmasq ({name}) did not start", proc)
        return proc

    def start_http(self, root: Path) -> None:
        log = self.dir / "http.log"
        proc = subprocess.Popen(["ip", "netns", "exec", self.main, PYTHON, "-u", "-m",
                                 "http.server", "--bind", SERVER, "--directory", str(root), "80"],
                                stdin=subprocess.DEVNULL, stdout=open(log, "wb"),
                                stderr=subprocess.STDOUT)
        self.procs.append(proc)
        self._wait_for(lambda: "Serving HTTP" in self.text(log), 10,
                       "the HTTP server did not start", proc)

    def start_silent_listener(self, port: int) -> None:
        """A TCP port on SERVER that accepts connections and never answers."""
        code = ("import socket, sys, time\ns = socket.socket()\n"
                f"s.bind(('{SERVER}', {port})); s.listen(16)\nprint('listening', flush=True)\n"
                "time.sleep(3600)\n")
        proc = subprocess.Popen(["ip", "netns", "exec", self.main, PYTHON, "-c", code],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
        self.procs.append(proc)
        assert proc.stdout.readline().strip() == "listening", "the silent listener did not start"

    @staticmethod
    def text(path: Path) -> str:
        try:
            return path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def _wait_for(self, cond, seconds: float, what: str, proc: subprocess.Popen) -> None:
        end = time.monotonic() + seconds
        while not cond():
            if proc.poll() is not None or time.monotonic() > end:
                raise AssertionError(f"{what}\n{self.logs()}")
            time.sleep(0.05)

    def boot(self, mac: str, on_progress=None) -> str:
        """PXE-boot a PC with this MAC; returns the stand-in's kernel
        command line. QEMU is killed after BOOT_LIMIT s."""
        serial = self.dir / "serial.log"
        argv = ["ip", "netns", "exec", self.main, QEMU, "-accel", "tcg", "-nodefaults", "-M", "pc",
                "-m", "512M", "-nographic", "-monitor", "none", "-no-reboot",
                "-serial", f"file:{serial}",
                "-netdev", "tap,id=n0,ifname=tap0,script=no,downscript=no",
                "-device", f"e1000,netdev=n0,mac={mac},romfile={ROM}", "-boot", "n"]
        qemu = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=open(self.dir / "qemu.stderr", "wb"))
        self.procs.append(qemu)
        start = time.monotonic()
        cmdline = None
        self.timeline = []
        counts = dict.fromkeys(MILESTONES, 0)
        while time.monotonic() - start < BOOT_LIMIT:
            self.serial = serial.read_bytes() if serial.exists() else b""
            for k in MILESTONES:
                n = self.serial.count(k.encode())
                if n > counts[k]:
                    counts[k] = n
                    self.timeline.append(f"{time.monotonic() - start:.1f}s {k}")
            m = re.search(MARK.encode() + rb" (.*)\n", self.serial)
            if m:
                cmdline = m.group(1).decode(errors="replace").strip()
                break
            if qemu.poll() is not None:
                break
            if on_progress:
                on_progress(self)
            time.sleep(0.1)
        took = time.monotonic() - start
        if cmdline is None:
            why = (f"QEMU exited with status {qemu.returncode}" if qemu.poll() is not None
                   else f"QEMU killed after {BOOT_LIMIT} s")
            raise AssertionError(f"the stand-in kernel never printed its command line ({why}, "
                                 f"{took:.1f} s)\n{self.logs()}")
        print(f"netboot: {mac} booted to the stand-in's /init in {took:.1f} s: "
              + ", ".join(self.timeline))
        return cmdline

    def logs(self) -> str:
        out = [f"--- serial log, last 40 lines ---\n{tail(readable(self.serial))}",
               "--- milestones: " + ", ".join(self.timeline)]
        for name in ("dnsmasq", "school", "http"):
            # Without the option dumps of log-dhcp.
            text = "\n".join(ln for ln in self.text(self.dir / f"{name}.log").split("\n")
                             if "requested options" not in ln and "sent size" not in ln)
            if text:
                out.append(f"--- {name} log, last 40 lines ---\n{tail(text)}")
        err = self.text(self.dir / "qemu.stderr").strip()
        if err:
            out.append(f"--- QEMU stderr ---\n{tail(err, 10)}")
        return "\n".join(out)

    def lease(self, mac: str) -> str:
        """The address the DHCP servers acknowledged for `mac`."""
        logs = self.text(self.dir / "dnsmasq.log") + self.text(self.dir / "school.log")
        found = re.findall(rf"DHCPACK\(\w+\) ([\d.]+) {mac}", logs)
        assert found, f"no DHCPACK for {mac}\n{self.logs()}"
        return found[-1]

    def down(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        for ns in reversed(self.namespaces):
            run("ip", "netns", "delete", ns, check=False)


def duet_dhcp(tree: Path, pxe_boot: str) -> list[str]:
    """The full-DHCP template for this lab."""
    return fill("dnsmasq-duet-dhcp.conf.in", RANGE_START=RANGE[0], RANGE_END=RANGE[1],
                NETMASK=NETMASK, TFTP_ROOT=str(tree), PXE_BOOT=pxe_boot).split("\n")


def plain_rom(hostsdir: Path, pxe_boot: str) -> list[str]:
    """Lab-only lines: an iPXE ROM is handed what a plain PXE ROM gets
    (the last matching tagged dhcp-boot wins) until chain() tags its MAC.
    (dnsmasq reads new files in a dhcp-hostsdir as they appear; 2.90 aborts
    when a SIGHUP drops a dhcp-hostsfile entry that has a lease.)"""
    hostsdir.mkdir()
    return [f"dhcp-hostsdir={hostsdir}", f"dhcp-boot=tag:ipxe,tag:!chained,{pxe_boot}"]


def chain(hostsdir: Path, mac: str) -> None:
    """From now on the iPXE with this MAC gets duet.ipxe."""
    (hostsdir / "chained").write_text(f"{mac},set:chained\n")


def args(cmdline: str) -> dict[str, str]:
    return dict(a.split("=", 1) if "=" in a else (a, "") for a in cmdline.split())


def hyphens(mac: str) -> str:
    return mac.lower().replace(":", "-")


# ---------------------------------------------------------------- the boots
#
# Each test below checks one boot. The boots themselves run before the
# tests, PARALLEL at a time (most of a boot is waiting: ROM banners, DHCP,
# menu timeouts), each in its own lab: `boots` runs the boot of every
# selected test and hands each test its Boot.

PARALLEL = int(os.environ.get("DUET_NETBOOT_PARALLEL", "3"))


@dataclass
class Boot:
    """One PC's boot: set up by its test's `setup` (dnsmasq and friends,
    files in its copy of the tree), then booted."""
    name: str
    mac: str
    tree: Path
    lab: Lab
    cmdline: str = ""
    error: BaseException | None = None

    def args(self) -> dict[str, str]:
        if self.error:
            raise self.error
        return args(self.cmdline)

    def detail(self) -> str:
        return f"\nkernel command line: {self.cmdline}\n{self.lab.logs()}"

    def log(self, name: str = "dnsmasq") -> str:
        return self.lab.text(self.lab.dir / f"{name}.log")

    def sent(self, path: str) -> str:
        """dnsmasq's log line for a file it sent over TFTP."""
        return f"sent {self.tree}/{path} to"

    def check_common(self, server: str, gateway: str) -> dict[str, str]:
        """BOOTIF= and ip= as PXELINUX's IPAPPEND 3 gives them; `quiet`."""
        a = self.args()
        assert a.get("BOOTIF") == f"01-{hyphens(self.mac)}", self.detail()
        ip = f"{self.lab.lease(self.mac)}:{server}:{gateway}:{NETMASK}"
        assert a.get("ip") == ip, self.detail()
        assert "quiet" in a, self.detail()
        return a


SETUPS: dict[str, tuple[str, str, Callable]] = {}
SLOW: set[str] = set()


def setup_for(test: str, mac: str, slow: bool = False):
    """Register the decorated function as the set-up of `test`'s boot. It
    gets the Boot and may return a callback the boot loop calls. Slow
    boots are started first."""
    def register(fn):
        SETUPS[test] = (fn.__name__.removeprefix("setup_"), mac, fn)
        if slow:
            SLOW.add(test)
        return fn
    return register


def run_boot(test: str, base_tree: Path, workdir: Path) -> Boot:
    name, mac, fn = SETUPS[test]
    tree = workdir / "tftp"
    # Hard links: a set-up only adds files.
    shutil.copytree(base_tree, tree, copy_function=os.link)
    b = Boot(name, mac, tree, Lab(name, workdir))
    try:
        b.lab.up()
        progress = fn(b)
        b.cmdline = b.lab.boot(mac, progress)
    except Exception as e:  # noqa: BLE001  (the test re-raises it)
        b.error = e
    finally:
        b.lab.down()
    return b


@pytest.fixture(scope="module")
def boots(request, base_tree, tmp_path_factory) -> dict[str, Boot]:
    wanted = [item.originalname for item in request.session.items
              if item.module is request.module and item.originalname in SETUPS]
    wanted.sort(key=lambda t: t not in SLOW)
    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        futures = {t: pool.submit(run_boot, t, base_tree, tmp_path_factory.mktemp(SETUPS[t][0]))
                   for t in dict.fromkeys(wanted)}
        return {t: f.result() for t, f in futures.items()}


@pytest.fixture
def boot(request, boots) -> Boot:
    return boots[request.node.originalname]


@setup_for("test_pxelinux_menu_default_boots_duet", "52:54:00:d7:00:01")
def setup_pxe(b: Boot) -> None:
    b.lab.start_dnsmasq(b.lab.main, "dnsmasq", duet_dhcp(b.tree, "duet/pxelinux.0")
                        + plain_rom(b.lab.dir / "hosts", "duet/pxelinux.0"))


def test_pxelinux_menu_default_boots_duet(boot):
    a = boot.check_common(SERVER, SERVER)
    assert boot.sent("duet/pxelinux.cfg/default") in boot.log(), boot.detail()
    # PXELINUX ran its menu: it fetched its own modules, and menu.c32's
    # countdown is on the console (its banner line is sometimes lost to
    # SeaBIOS's serial console redrawing the screen).
    assert boot.sent("duet/ldlinux.c32") in boot.log(), boot.detail()
    assert boot.sent("duet/menu.c32") in boot.log(), boot.detail()
    assert "Automatic boot in" in readable(boot.lab.serial), boot.detail()
    assert a.get("BOOT_IMAGE") == "vmlinuz", boot.detail()  # PXELINUX names the kernel
    assert "duet.url" not in a, boot.detail()  # /init derives it from ip=


@setup_for("test_ipxe_over_tftp_with_per_pc_script", "52:54:00:d7:00:02")
def setup_tftp(b: Boot) -> None:
    clients = b.tree / "duet" / "clients"
    clients.mkdir()
    (clients / f"{hyphens(b.mac)}.ipxe").write_text(
        "#!ipxe\nset duet-extra duet.test=per-pc-ipxe\n")
    # No router: ip= then has 0.0.0.0 for the gateway, as from PXELINUX.
    b.lab.start_dnsmasq(b.lab.main, "dnsmasq", duet_dhcp(b.tree, "duet/undionly.kpxe")
                        + ["dhcp-option=3"])


def test_ipxe_over_tftp_with_per_pc_script(boot):
    a = boot.check_common(SERVER, "0.0.0.0")
    assert a.get("duet.url") == f"tftp://{SERVER}/duet", boot.detail()
    assert a.get("duet.test") == "per-pc-ipxe", boot.detail()
    for f in ("duet.ipxe", "clients/" + hyphens(boot.mac) + ".ipxe", "vmlinuz", "initrd.img"):
        assert boot.sent(f"duet/{f}") in boot.log(), boot.detail()
    assert "undionly.kpxe" not in boot.log(), "the iPXE ROM was sent undionly.kpxe" + boot.detail()


@setup_for("test_ipxe_over_http_behind_proxy_dhcp", "52:54:00:d7:00:03")
def setup_http(b: Boot) -> None:
    b.lab.add_school_dhcp()
    b.lab.start_dnsmasq(b.lab.main, "dnsmasq", fill(
        "dnsmasq-duet-proxy.conf.in", SUBNET="10.77.0.0", NETMASK=NETMASK, TFTP_ROOT=str(b.tree),
        PXE_BOOT="duet/undionly.kpxe").split("\n"))
    b.lab.start_http(b.tree)


def test_ipxe_over_http_behind_proxy_dhcp(boot):
    # The school's DHCP server names itself the router; duet's is the server.
    a = boot.check_common(SERVER, SCHOOL_DHCP)
    assert a.get("duet.url") == f"http://{SERVER}/duet", boot.detail()
    http = boot.log("http")
    for f in ("http", "vmlinuz", "initrd.img"):
        assert re.search(rf'"GET /duet/{f} HTTP/1\.[01]" 200', http), \
            f"{f} not fetched over HTTP" + boot.detail()
    tftp = boot.log()
    assert boot.sent("duet/duet.ipxe") in tftp, boot.detail()
    assert "vmlinuz" not in tftp and "initrd.img" not in tftp, \
        "kernel or initrd went over TFTP" + boot.detail()
    assert "proxy" in tftp and "DHCPACK" not in tftp, "duet's dnsmasq handed out an address" \
        + boot.detail()


@setup_for("test_ipxe_falls_back_to_tftp_when_http_hangs", "52:54:00:d7:00:07")
def setup_hang(b: Boot) -> None:
    b.lab.start_dnsmasq(b.lab.main, "dnsmasq", duet_dhcp(b.tree, "duet/undionly.kpxe"))
    b.lab.start_silent_listener(80)


def test_ipxe_falls_back_to_tftp_when_http_hangs(boot):
    """Port 80 takes the connection and never answers (a hung web server;
    a firewall dropping port 80 waits the same): duet.ipxe gives up on
    HTTP after its 3 s and boots over TFTP."""
    a = boot.check_common(SERVER, SERVER)
    assert a.get("duet.url") == f"tftp://{SERVER}/duet", boot.detail()
    assert "Connection timed out" in readable(boot.lab.serial), boot.detail()
    assert boot.sent("duet/vmlinuz") in boot.log(), boot.detail()


# Two iPXE starts, and the kernel comes through the UNDI API (real mode
# under TCG): ~40 s.
@setup_for("test_undionly_chains_to_duet_ipxe", "52:54:00:d7:00:04", slow=True)
def setup_undi(b: Boot):
    hosts = b.lab.dir / "hosts"
    b.lab.start_dnsmasq(b.lab.main, "dnsmasq", duet_dhcp(b.tree, "duet/undionly.kpxe")
                        + plain_rom(hosts, "duet/undionly.kpxe"))

    def chain_once_sent(lab: Lab) -> None:
        # undionly.kpxe is on its way: the iPXE it starts gets duet.ipxe.
        if not (hosts / "chained").exists() and b.sent("duet/undionly.kpxe") in b.log():
            chain(hosts, b.mac)
    return chain_once_sent


def test_undionly_chains_to_duet_ipxe(boot):
    a = boot.check_common(SERVER, SERVER)
    log = boot.log()
    undi, script = boot.sent("duet/undionly.kpxe"), boot.sent("duet/duet.ipxe")
    assert undi in log and script in log and log.index(undi) < log.index(script), boot.detail()
    assert "UNDI" in readable(boot.lab.serial), \
        "no iPXE on the UNDI driver (undionly.kpxe) in the serial log" + boot.detail()
    assert a.get("duet.url") == f"tftp://{SERVER}/duet", boot.detail()


@setup_for("test_per_pc_pxelinux_file_overrides_default", "52:54:00:d7:00:05")
def setup_perpc(b: Boot) -> None:
    cfg = b.tree / "duet" / "pxelinux.cfg"
    text = (cfg / "default").read_text()
    per_pc = re.sub(r"(?m)^(\s*)APPEND ", r"\1APPEND duet.test=per-pc ", text)
    assert per_pc != text, "no APPEND line in pxelinux.cfg/default"
    (cfg / f"01-{hyphens(b.mac)}").write_text(per_pc)
    # No router (see setup_tftp).
    b.lab.start_dnsmasq(b.lab.main, "dnsmasq", duet_dhcp(b.tree, "duet/pxelinux.0")
                        + plain_rom(b.lab.dir / "hosts", "duet/pxelinux.0") + ["dhcp-option=3"])


def test_per_pc_pxelinux_file_overrides_default(boot):
    a = boot.check_common(SERVER, "0.0.0.0")
    assert a.get("duet.test") == "per-pc", boot.detail()
    assert boot.sent(f"duet/pxelinux.cfg/01-{hyphens(boot.mac)}") in boot.log(), boot.detail()
    assert boot.sent("duet/pxelinux.cfg/default") not in boot.log(), boot.detail()


# An iPXE script shaped like LTSP's ltsp.ipxe as `ltsp ipxe` writes it (the
# parts that matter here): server pick, LOCAL CONTENT with the per-client
# gotos, then the menu. @ITEM@ and @LABEL@ take ltsp-entry.ipxe's pieces
# where docs/netboot.md says to put them; `set img duet` is what
# DEFAULT_IMAGE=duet in ltsp.conf gives.
LTSP_IPXE = """#!ipxe
isset ${proxydhcp/dhcp-server} && set srv ${proxydhcp/dhcp-server} || set srv ${next-server}
### BEGIN LOCAL CONTENT
set cmdline_ltsp BOOTIF=01-${mac:hexhyp}
set menu-timeout 1000
set img duet
goto ${mac} || goto start
@LABEL@
### END LOCAL CONTENT
:start
menu iPXE boot menu - ${srv}
item --gap                        Boot an image from the network in LTSP mode:
@ITEM@
item --key 1 x86_64               x86_64.img
item --gap                        Other options:
item --key x exit                 Exit iPXE and continue BIOS boot
choose --timeout ${menu-timeout} --default ${img} img || goto failed
goto ${img}
:x86_64
echo lab: the LTSP image was chosen
exit 1
:exit
exit 1
:failed
echo lab: booting failed
exit 1
"""


@setup_for("test_ltsp_menu_entry_chains_duet", "52:54:00:d7:00:06")
def setup_ltsp(b: Boot) -> None:
    entry = (b.tree / "duet" / "ltsp-entry.ipxe").read_text().split("\n")
    items = [ln for ln in entry if ln.startswith("item ")]
    label = [ln for ln in entry[entry.index(":duet"):] if ln and not ln.startswith("#")]
    assert len(items) == 1 and len(label) >= 2, \
        "ltsp-entry.ipxe: expected one item and a :duet block"
    (b.tree / "ltsp").mkdir()
    (b.tree / "ltsp" / "ltsp.ipxe").write_text(
        LTSP_IPXE.replace("@ITEM@", items[0]).replace("@LABEL@", "\n".join(label)))
    # LTSP's own dnsmasq hands iPXE ltsp/ltsp.ipxe.
    b.lab.start_dnsmasq(b.lab.main, "dnsmasq", [
        "port=0", "enable-tftp", f"tftp-root={b.tree}",
        f"dhcp-range={RANGE[0]},{RANGE[1]},{NETMASK},1h", "dhcp-boot=ltsp/ltsp.ipxe"])


def test_ltsp_menu_entry_chains_duet(boot):
    a = boot.check_common(SERVER, SERVER)
    assert a.get("duet.url") == f"tftp://{SERVER}/duet", boot.detail()
    log = boot.log()
    assert log.index(boot.sent("ltsp/ltsp.ipxe")) < log.index(boot.sent("duet/duet.ipxe")), \
        boot.detail()


# ---------------------------------------------------------------- the build

def tree_listing(root: Path) -> dict[str, tuple[int, bytes]]:
    return {str(p.relative_to(root)): (p.stat().st_mode, p.read_bytes() if p.is_file() else b"")
            for p in sorted(root.rglob("*"))}


def test_build_is_reproducible(tmp_path):
    build_tree(tmp_path / "a")
    build_tree(tmp_path / "b")
    a, b = tree_listing(tmp_path / "a"), tree_listing(tmp_path / "b")
    assert a == b
    # build/netboot also holds what other builds put there (the image).
    build_tree(TREE.resolve())
    built = tree_listing(TREE)
    differ = [k for k in a if built.get(k) != a[k]]
    assert not differ, f"build/netboot differs from a fresh build in {differ}"
    modes = {oct(m) for m, _ in a.values()}
    assert modes == {"0o100644", "0o40755"}, modes
    assert set(a) == {"duet", "duet/pxelinux.0", "duet/ldlinux.c32", "duet/menu.c32",
                      "duet/libutil.c32", "duet/pxelinux.cfg", "duet/pxelinux.cfg/default",
                      "duet/undionly.kpxe", "duet/duet.ipxe", "duet/ltsp-entry.ipxe", "duet/http"}


def test_menu_c32_has_its_libraries():
    build_tree(TREE.resolve())
    duet = TREE / "duet"
    for c32 in duet.glob("*.c32"):
        needed = re.findall(r"\(NEEDED\).*\[(.*)\]", run("readelf", "-d", str(c32)).stdout)
        missing = [n for n in needed if not (duet / n).exists()]
        assert not missing, f"{c32.name} needs {missing}"


@pytest.mark.parametrize("template,values", [
    ("dnsmasq-duet-proxy.conf.in", {"SUBNET": "192.168.0.0", "NETMASK": "255.255.255.0"}),
    ("dnsmasq-duet-dhcp.conf.in", {"RANGE_START": "192.168.67.20", "RANGE_END": "192.168.67.250",
                                   "NETMASK": "255.255.255.0"}),
])
def test_dnsmasq_templates_are_valid(tmp_path, template, values):
    conf = tmp_path / "duet.conf"
    conf.write_text(fill(template, TFTP_ROOT="/srv/tftp", PXE_BOOT="duet/undionly.kpxe", **values))
    p = run("dnsmasq", "--test", f"--conf-file={conf}", check=False)
    assert p.returncode == 0 and "syntax check OK" in p.stderr, p.stderr
