"""`duet install`: the netboot tree (build/netboot, `make image netboot`)
copied into a TFTP root under tmp_path, the dnsmasq snippet, duet's entry in
an LTSP-shaped ltsp.ipxe, idempotence, --dry-run, --uninstall, and the
errors. Real components: the real tree, `dnsmasq --test` on every snippet,
and, as root, a real dnsmasq run with the written snippet in a network
namespace of our own, serving the installed tree over TFTP to curl in a
second namespace (the bytes compared), and the classroom subnet taken from
an interface inside a namespace."""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from conftest import DUET, ROOT, assert_clean_error

TREE = Path(os.environ.get("BUILD", ROOT / "build")) / "netboot"
REQUIRED = ("duet/vmlinuz", "duet/initrd.img", "duet/pxelinux.0", "duet/duet.ipxe",
            "duet/ltsp-entry.ipxe")
NS_PREFIX = "duetinst-"

@pytest.fixture
def _tree():
    """The built netboot tree; `make check-server` builds it first, so its
    absence is a failure, not a skip."""
    if not (TREE / "duet" / "vmlinuz").exists():
        pytest.fail(f"{TREE}/duet/vmlinuz is missing: `make image netboot` builds the tree")


needs_tree = pytest.mark.usefixtures("_tree")
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces)")
needs_dnsmasq = pytest.mark.skipif(shutil.which("dnsmasq") is None, reason="dnsmasq not installed")


# LTSP's ltsp.ipxe as `ltsp ipxe` writes it from its template
# (ltsp/server/ipxe/ltsp.ipxe in LTSP 23.x) for one image, x86_64.img.
LTSP_IPXE = """#!ipxe
# This file is part of LTSP, https://ltsp.github.io
# Copyright 2019 the LTSP team, see AUTHORS
# SPDX-License-Identifier: GPL-3.0-or-later

# Configure iPXE for LTSP
# Documentation=man:ltsp-ipxe(8)

# Set the default image (img) based on arch, or to root-path if it's not empty
cpuid --ext 29 && set img x86_64 || set img x86_32
isset ${root-path} && set img ${root-path} ||
isset ${proxydhcp/dhcp-server} && set srv ${proxydhcp/dhcp-server} || set srv ${next-server}

### BEGIN LOCAL CONTENT (preserved on `ltsp -o ipxe`)

# Define cmdline parameters common to all LTSP clients
set cmdline_ltsp BOOTIF=01-${mac:hexhyp}
set menu-timeout 5000

goto ${mac} || goto start
# Define client-specific settings, like the hostname, the menu default
# and cmdline parameters, in sections similar to the following examples

:61:6c:6b:69:73:67
set hostname pc01
set img live
goto start

:72:6f:63:6b:73:21
set hostname pc02
set cmdline_client nolapic
goto start

### END LOCAL CONTENT

:start
# To completely hide the menu, uncomment the next line
# goto ${img}
menu iPXE boot menu - ${hostname}:${srv}:${root-path} || goto ${img}
item --gap                        Boot an image from the network in LTSP mode:
item --key 1 x86_64               x86_64
item
item --gap                        Other options:
item --key m memtest              Memory test
item --key c config               Enter iPXE configuration
item --key s shell                Drop to iPXE shell
item --key d disk                 Boot from the first local disk
item
item --key x exit                 Exit iPXE and continue BIOS boot
choose --timeout ${menu-timeout} --default ${img} img || goto cancel
goto ${img}

:x86_64
:images
# The "images" method can boot anything in /srv/ltsp/images
set cmdline_method root=/dev/nfs nfsroot=${srv}:/srv/ltsp ltsp.image=images/${img}.img loop.max_part=9
goto ltsp

:roots
# The "roots" method can boot all /srv/ltsp/roots
set cmdline_method root=/dev/nfs nfsroot=${srv}:/srv/ltsp/${img}
goto ltsp

:ltsp
# :images and :roots jump here after setting cmdline_method
set cmdline ${cmdline_method} ${cmdline_ltsp} ${cmdline_client}
# In EFI mode, iPXE requires initrds to be specified in the cmdline
kernel /ltsp/${img}/vmlinuz initrd=ltsp.img initrd=initrd.img ${cmdline}
initrd /ltsp/ltsp.img
initrd /ltsp/${img}/initrd.img
boot || goto failed

:memtest
iseq ${platform} pcbios && kernel memtest.0 || kernel memtest.efi
# Boot "fails" on normal memtest exit with Esc, so show the menu again
boot ||
goto start

:config
config
goto start

:shell
echo Type 'exit' to get the back to the menu
shell
goto start

:disk
# Boot the first local HDD
sanboot --no-describe --drive 0x80 || goto failed

:exit
# Exit with error, to fall back to the next boot option
# http://forum.ipxe.org/showthread.php?tid=6775
exit 1

:cancel
echo You cancelled the menu, dropping to shell
goto shell

:failed
echo Booting failed, dropping to shell
goto shell
"""

# LTSP's /etc/dnsmasq.d/ltsp-dnsmasq.conf (`ltsp dnsmasq`), the lines that matter.
LTSP_DNSMASQ = """# This file is part of LTSP, https://ltsp.github.io
port=0
enable-tftp
tftp-root=/srv/tftp
dhcp-range=set:proxy,192.168.67.0,proxy,255.255.255.0
dhcp-boot=tag:ipxe,ltsp/ltsp.ipxe
"""


# ---------------------------------------------------------------- helpers

def snapshot(*roots: Path) -> dict[str, tuple[int, int, str]]:
    """Every path under roots: (mode, mtime in ns, sha256 of a file)."""
    out = {}
    for root in roots:
        for p in sorted([root, *root.rglob("*")]) if root.exists() else []:
            st = p.lstat()
            digest = hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else ""
            out[str(p)] = (st.st_mode, st.st_mtime_ns, digest)
    return out


def source_files() -> dict[str, Path]:
    """The files of the tree under duet/, by path relative to the root."""
    return {str(p.relative_to(TREE)): p for p in sorted((TREE / "duet").rglob("*")) if p.is_file()}


def install(server, *args: str, dnsmasq_dir: Path | None = None, check: bool = True,
            **kw) -> subprocess.CompletedProcess:
    d = dnsmasq_dir or server.base / "dnsmasq.d"
    return server.run("install", "--from", str(TREE), "--dnsmasq-dir", str(d), *args,
                      check=check, **kw)


def changes(r: subprocess.CompletedProcess) -> list[str]:
    """The change lines of install's output (not the header, notes, summary)."""
    verbs = r"(would )?(copy|chmod|mkdir|write|edit|move|remove|rmdir) "
    return [ln for ln in r.stdout.splitlines() if re.match(verbs, ln)]


def without_duet_blocks(text: str) -> str:
    return re.sub(r"(?m)^# duet begin.*\n(?:.*\n)*?# duet end\n", "", text)


def run(*argv: str, ns: str | None = None, check: bool = True, **kw) -> subprocess.CompletedProcess:
    if ns:
        argv = ("ip", "netns", "exec", ns, *argv)
    p = subprocess.run(argv, capture_output=True, text=True, **kw)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(argv)}: exit {p.returncode}: {p.stderr.strip()}")
    return p


class Namespaces:
    """Network namespaces of this test, deleted (with their interfaces and
    the processes started in them) by down()."""

    def __init__(self):
        self.names: list[str] = []
        self.procs: list[subprocess.Popen] = []

    def add(self, tag: str) -> str:
        name = f"{NS_PREFIX}{os.getpid()}-{tag}"
        run("ip", "netns", "delete", name, check=False)
        run("ip", "netns", "add", name)
        self.names.append(name)
        run("ip", "-n", name, "link", "set", "lo", "up")
        return name

    def down(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        for name in self.names:
            run("ip", "netns", "delete", name, check=False)


@pytest.fixture
def netns():
    n = Namespaces()
    try:
        yield n
    finally:
        n.down()


# ---------------------------------------------------------------- the command line

def test_help_and_usage_errors(server):
    r = server.run("install", "--help")
    assert r.returncode == 0 and "Usage: duet install" in r.stdout and "--dry-run" in r.stdout
    for args, needle in [(["--bogus"], "duet install --help"),
                         (["extra"], "unexpected argument 'extra'"),
                         (["--dhcp", "sometimes"], "--dhcp 'sometimes'"),
                         (["--pxe-boot", "floppy"], "--pxe-boot 'floppy'"),
                         (["--dhcp", "full"], "--dhcp full needs --range"),
                         (["--range", "10.0.0.5,10.0.0.9"], "--range goes with --dhcp full"),
                         (["--tftp-root", "relative/dir"], "give an absolute path")]:
        r = server.run("install", *args)
        assert r.returncode == 2, (args, r.stderr)
        assert_clean_error(r, "duet", needle)
    assert not any(server.tftp.iterdir())


def test_missing_source_is_refused_clearly(server, tmp_path):
    empty = tmp_path / "empty"
    (empty / "duet").mkdir(parents=True)
    r = server.run("install", "--from", str(empty), "--subnet", "10.78.0.0/24")
    assert r.returncode == 1
    assert_clean_error(r, "duet: install: ", "duet/vmlinuz", "make image netboot")
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    r = server.run("install", "--from", str(tmp_path / "nowhere"))
    assert r.returncode == 1
    assert_clean_error(r, "duet: install: --from", "No such file")
    assert not any(server.tftp.iterdir())


@needs_tree
def test_bad_subnet_and_range(server):
    for args, needle in [(["--subnet", "10.0.0.0"], "expected A.B.C.D/NN"),
                         (["--subnet", "10.0.0.0/33"], "expected A.B.C.D/NN"),
                         (["--subnet", "10.0.300.0/24"], "expected A.B.C.D/NN"),
                         (["--subnet", "10.0.0.0/24", "--dhcp", "full", "--range",
                           "10.0.1.5,10.0.1.9"], "not inside the classroom subnet 10.0.0.0/24"),
                         (["--subnet", "10.0.0.0/24", "--dhcp", "full", "--range",
                           "10.0.0.9,10.0.0.5"], "START comes after END")]:
        r = install(server, *args, check=False)
        assert r.returncode == 1, (args, r.stdout, r.stderr)
        assert_clean_error(r, "duet: install: ", needle)
        # Checked before anything changes.
        assert not any(server.tftp.iterdir()), args


# ---------------------------------------------------------------- the tree

@needs_tree
def test_install_copies_the_tree_then_changes_nothing(server):
    dns = server.base / "dnsmasq.d"
    r = install(server, "--subnet", "10.78.0.0/24")
    assert r.returncode == 0 and not r.stderr, r.stderr
    for rel, src in source_files().items():
        dst = server.tftp / rel
        assert dst.read_bytes() == src.read_bytes(), rel
        assert dst.stat().st_mode & 0o7777 == (0o755 if src.stat().st_mode & 0o111 else 0o644), rel
        assert not dst.samefile(src), f"{rel} is the source's file, not a copy"
        assert f"copy {rel}" in r.stdout
    for d in (server.tftp / "duet").rglob("*"):
        if d.is_dir():
            assert d.stat().st_mode & 0o7777 == 0o755, d
    assert f"write {dns / 'duet.conf'} (proxy-DHCP for 10.78.0.0/24" in r.stdout
    assert "systemctl restart dnsmasq" in r.stdout
    assert not list(server.tftp.rglob("*.tmp-*")), "temporary files left behind"

    before = snapshot(server.tftp, dns)
    time.sleep(0.01)
    again = install(server, "--subnet", "10.78.0.0/24")
    assert changes(again) == [], again.stdout
    assert "nothing changed" in again.stdout
    assert "restart" not in again.stdout
    assert snapshot(server.tftp, dns) == before


@needs_tree
def test_dry_run_changes_nothing(server):
    dns = server.base / "dnsmasq.d"
    r = install(server, "--subnet", "10.78.0.0/24", "--dry-run")
    assert r.returncode == 0, r.stderr
    lines = changes(r)
    assert lines and all(ln.startswith("would ") for ln in lines), r.stdout
    assert "would copy duet/initrd.img" in lines
    assert f"would write {dns / 'duet.conf'} (proxy-DHCP for 10.78.0.0/24, PXE ROMs get duet/undionly.kpxe)" in lines
    assert not any(server.tftp.iterdir()) and not dns.exists()

    # The same lines, without "would ", as the real run.
    real = install(server, "--subnet", "10.78.0.0/24")
    assert [ln[len("would "):] for ln in lines] == changes(real)

    # Damage one file, change another's mode: the dry run names both and
    # touches neither; the real run then fixes exactly those.
    initrd = server.tftp / "duet" / "initrd.img"
    with open(initrd, "r+b") as f:
        f.seek(1000)
        f.write(b"\0damaged\0")
    (server.tftp / "duet" / "http").chmod(0o600)
    before = snapshot(server.tftp, dns)
    time.sleep(0.01)
    r = install(server, "--subnet", "10.78.0.0/24", "-n")
    assert changes(r) == ["would chmod 0644 duet/http", "would copy duet/initrd.img"], r.stdout
    assert "dry run: 2 changes to make, none made" in r.stdout
    assert snapshot(server.tftp, dns) == before
    r = install(server, "--subnet", "10.78.0.0/24")
    assert changes(r) == ["chmod 0644 duet/http", "copy duet/initrd.img"], r.stdout
    assert initrd.read_bytes() == (TREE / "duet" / "initrd.img").read_bytes()
    assert "restart" not in r.stdout  # dnsmasq's configuration did not change


@needs_tree
def test_admin_files_stay_and_uninstall_removes_only_duets(server):
    dns = server.base / "dnsmasq.d"
    duet = server.tftp / "duet"
    admin = {"SHA256SUMS": "abc  guests/ltsp/vmlinuz\n",
             "config/52-54-00-12-34-56/client.conf": 'GUESTS="windows"\n',
             "clients/52-54-00-12-34-56.ipxe": "#!ipxe\nset duet-extra quiet\n",
             "guests/windows.iso": "not really an ISO\n",
             "pxelinux.cfg/01-52-54-00-12-34-56": "DEFAULT local\n"}
    for rel, text in admin.items():
        (duet / rel).parent.mkdir(parents=True, exist_ok=True)
        (duet / rel).write_text(text)
    install(server, "--subnet", "10.78.0.0/24")
    for rel, text in admin.items():
        assert (duet / rel).read_text() == text, rel

    r = server.run("install", "--from", str(TREE), "--dnsmasq-dir", str(dns), "--uninstall",
                   "--dry-run", check=True)
    assert all(ln.startswith("would ") for ln in changes(r)) and (duet / "vmlinuz").exists()
    r = server.run("install", "--from", str(TREE), "--dnsmasq-dir", str(dns), "--uninstall",
                   check=True)
    assert f"remove {dns / 'duet.conf'}" in r.stdout
    assert not (dns / "duet.conf").exists()
    left = sorted(str(p.relative_to(duet)) for p in duet.rglob("*") if p.is_file())
    assert left == sorted(admin), left
    assert not (duet / "guests" / "ltsp").exists()  # emptied, so removed
    r = server.run("install", "--from", str(TREE), "--dnsmasq-dir", str(dns), "--uninstall",
                   check=True)
    assert changes(r) == [] and "nothing changed" in r.stdout


@needs_tree
def test_in_the_way_is_refused(server):
    (server.tftp / "duet" / "vmlinuz").mkdir(parents=True)
    r = install(server, "--subnet", "10.78.0.0/24", check=False)
    assert r.returncode == 1
    assert_clean_error(r, "duet: install: ", "duet/vmlinuz is in the way")


@needs_tree
def test_default_source_is_the_builds_tree(server):
    r = server.run("install", "--dnsmasq-dir", str(server.base / "dnsmasq.d"), "--subnet",
                   "10.78.0.0/24", "--dry-run", check=True)
    assert f"{TREE.resolve()}/duet -> {server.tftp}/duet" in r.stdout.splitlines()[0]


# ---------------------------------------------------------------- dnsmasq

@needs_tree
@needs_dnsmasq
@pytest.mark.parametrize("args,expect", [
    (["--subnet", "10.78.1.77/23"],
     ["dhcp-range=set:proxy,10.78.0.0,proxy,255.255.254.0",
      'pxe-service=tag:proxy,tag:!ipxe,X86PC,"duet",duet/undionly.kpxe',
      'pxe-service=tag:proxy,tag:ipxe,X86PC,"duet",duet/duet.ipxe']),
    (["--subnet", "10.78.0.0/24", "--pxe-boot", "pxelinux"],
     ['pxe-service=tag:proxy,tag:!ipxe,X86PC,"duet",duet/pxelinux.0']),
    (["--subnet", "10.78.0.0/24", "--dhcp", "full", "--range", "10.78.0.100,10.78.0.199"],
     ["dhcp-range=10.78.0.100,10.78.0.199,255.255.255.0,12h",
      "dhcp-boot=tag:!ipxe,duet/undionly.kpxe", "dhcp-boot=tag:ipxe,duet/duet.ipxe"]),
])
def test_snippet_passes_dnsmasq_test(server, args, expect):
    snippet = server.base / "dnsmasq.d" / "duet.conf"
    install(server, *args)
    text = snippet.read_text()
    lines = text.splitlines()
    for e in expect:
        assert e in lines, (e, text)
    assert f"tftp-root={server.tftp}" in lines
    assert "@" not in text, "a placeholder left unfilled"
    assert snippet.stat().st_mode & 0o777 == 0o644
    p = run("dnsmasq", "--test", f"--conf-file={snippet}", check=False)
    assert p.returncode == 0 and "syntax check OK" in p.stderr, p.stderr


@needs_tree
def test_dhcp_none_writes_no_snippet(server):
    r = install(server, "--dhcp", "none")
    assert not (server.base / "dnsmasq.d").exists()
    assert "restart" not in r.stdout


@needs_tree
@needs_root
@needs_dnsmasq
def test_subnet_from_the_servers_interface(server, netns):
    """No --subnet: the subnet of the interface holding the server's first
    IPv4 address, here the only one inside a namespace of our own."""
    ns = netns.add("sub")
    run("ip", "-n", ns, "link", "add", "v0", "type", "veth", "peer", "name", "v1")
    run("ip", "-n", ns, "addr", "add", "10.78.5.9/22", "dev", "v0")
    run("ip", "-n", ns, "link", "set", "v0", "up")
    base = ["ip", "netns", "exec", ns, str(DUET), "-c", str(server.conf), "install", "--from", str(TREE),
            "--dnsmasq-dir", str(server.base / "dnsmasq.d")]
    p = run(*base, check=False)
    assert p.returncode == 0, p.stderr
    assert "dhcp-range=set:proxy,10.78.4.0,proxy,255.255.252.0" in \
        (server.base / "dnsmasq.d" / "duet.conf").read_text().splitlines()
    # An address no interface holds: say so, and how to go on.
    server.write_conf("", server_extra="address = 10.99.0.1\n")
    p = run(*base, check=False)
    assert p.returncode == 1 and "10.99.0.1 is on no interface" in p.stderr \
        and "--subnet" in p.stderr, p.stderr


@needs_tree
@needs_root
@needs_dnsmasq
def test_installed_tree_is_served_over_tftp(server, netns, tmp_path):
    """A real dnsmasq runs the written proxy-DHCP snippet in a server
    namespace; curl fetches the boot files over TFTP from a PC namespace
    joined to it by a veth. The bytes must be the source tree's."""
    install(server, "--subnet", "10.78.0.0/24")
    snippet = server.base / "dnsmasq.d" / "duet.conf"
    srv, pc = netns.add("srv"), netns.add("pc")
    run("ip", "-n", srv, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", pc)
    run("ip", "-n", srv, "addr", "add", "10.78.0.1/24", "dev", "eth0")
    run("ip", "-n", pc, "addr", "add", "10.78.0.50/24", "dev", "eth0")
    run("ip", "-n", srv, "link", "set", "eth0", "up")
    run("ip", "-n", pc, "link", "set", "eth0", "up")
    # The written snippet as it is, plus what a lab needs: this interface,
    # logs and leases in tmp, no privilege drop, no pid file.
    lab = tmp_path / "lab.conf"
    log = tmp_path / "dnsmasq.log"
    lab.write_text(f"conf-file={snippet}\ninterface=eth0\nbind-interfaces\nlog-dhcp\n"
                   f"log-facility={log}\ndhcp-leasefile={tmp_path / 'leases'}\n"
                   "user=root\ngroup=root\npid-file=\n")
    proc = subprocess.Popen(["ip", "netns", "exec", srv, "dnsmasq", "--keep-in-foreground",
                             f"--conf-file={lab}"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    netns.procs.append(proc)
    end = time.monotonic() + 10
    while "started, version" not in (log.read_text() if log.exists() else ""):
        assert proc.poll() is None, f"dnsmasq exited: {proc.stderr.read()}"
        assert time.monotonic() < end, "dnsmasq did not start"
        time.sleep(0.05)
    assert "TFTP root is " + str(server.tftp) in log.read_text(), log.read_text()
    for rel in ("duet/duet.ipxe", "duet/pxelinux.0", "duet/undionly.kpxe",
                "duet/pxelinux.cfg/default", "duet/vmlinuz"):
        out = tmp_path / "got"
        p = run("curl", "-sS", "--max-time", "30", "--tftp-blksize", "1432", "-o", str(out),
                f"tftp://10.78.0.1/{rel}", ns=pc, check=False)
        assert p.returncode == 0, f"{rel}: curl: {p.stderr}\n{log.read_text()}"
        assert out.read_bytes() == (TREE / rel).read_bytes(), rel
    assert f"sent {server.tftp}/duet/duet.ipxe to 10.78.0.50" in log.read_text()


# ---------------------------------------------------------------- with LTSP

def ltsp_layout(server) -> tuple[Path, Path]:
    ipxe = server.tftp / "ltsp" / "ltsp.ipxe"
    ipxe.parent.mkdir(parents=True)
    ipxe.write_text(LTSP_IPXE)
    ipxe.chmod(0o644)
    dns = server.base / "dnsmasq.d"
    dns.mkdir()
    (dns / "ltsp-dnsmasq.conf").write_text(LTSP_DNSMASQ)
    return ipxe, dns


@needs_tree
def test_ltsp_menu_gets_duets_entry_once(server):
    ipxe, dns = ltsp_layout(server)
    r = install(server)
    assert r.returncode == 0, r.stderr
    assert f"edit {ipxe} (add duet's menu entry)" in changes(r)
    assert "keep LTSP's" in r.stdout
    assert not (dns / "duet.conf").exists(), "a second dnsmasq configuration next to LTSP's"
    assert (dns / "ltsp-dnsmasq.conf").read_text() == LTSP_DNSMASQ

    text = ipxe.read_text()
    assert without_duet_blocks(text) == LTSP_IPXE  # the rest byte for byte
    lines = text.splitlines()
    assert lines.count(":duet") == 1
    assert lines.count("chain --autofree /duet/duet.ipxe || goto failed") == 1
    items = [ln for ln in lines if re.match(r"item --key u duet\s", ln)]
    assert len(items) == 1
    # The item first under LTSP's image heading; the label at the end of
    # the LOCAL CONTENT block, which `ltsp -o ipxe` keeps.
    gap = lines.index("item --gap                        Boot an image from the network in LTSP mode:")
    assert lines[gap + 1].startswith("# duet begin") and lines[gap + 2] == items[0]
    end = lines.index("### END LOCAL CONTENT")
    assert lines[end - 3:end] == [":duet", "chain --autofree /duet/duet.ipxe || goto failed",
                                  "# duet end"]
    assert ipxe.stat().st_mode & 0o777 == 0o644

    before = snapshot(ipxe)
    r = install(server)
    assert changes(r) == [] and "nothing changed" in r.stdout
    assert snapshot(ipxe) == before

    # `ltsp -o ipxe` rewrites the menu and keeps LOCAL CONTENT: the item is
    # gone, the label stays. The next install puts the item back, once.
    gone = re.sub(r"(?m)^# duet begin.*\n^item --key u duet.*\n^# duet end\n", "", text)
    assert gone != text
    ipxe.write_text(gone)
    r = install(server)
    assert changes(r) == [f"edit {ipxe} (add duet's menu entry)"]
    assert ipxe.read_text() == text

    r = server.run("install", "--from", str(TREE), "--dnsmasq-dir", str(dns), "--uninstall",
                   check=True)
    assert f"edit {ipxe} (remove duet's menu entry)" in changes(r)
    assert ipxe.read_text() == LTSP_IPXE


@needs_tree
def test_ltsp_menu_entry_added_by_hand_is_left_alone(server):
    ipxe, _ = ltsp_layout(server)
    entry = (TREE / "duet" / "ltsp-entry.ipxe").read_text().splitlines()
    label = "\n".join(ln for ln in entry[entry.index(":duet"):] if ln and not ln.startswith("#"))
    by_hand = LTSP_IPXE.replace("### END LOCAL CONTENT", label + "\n### END LOCAL CONTENT")
    ipxe.write_text(by_hand)
    r = install(server)
    assert "has a :duet label of its own" in r.stdout
    assert ipxe.read_text() == by_hand


@needs_tree
def test_ltsp_broken_markers_are_refused(server):
    ipxe, _ = ltsp_layout(server)
    broken = LTSP_IPXE.replace(":start\n", ":start\n# duet begin\n")
    ipxe.write_text(broken)
    r = install(server, check=False)
    assert r.returncode == 1
    assert_clean_error(r, "duet: install: ", "without a '# duet end'")
    assert ipxe.read_text() == broken


@needs_tree
def test_ltsp_dnsmasq_is_kept_unless_replaced(server):
    ipxe, dns = ltsp_layout(server)
    r = install(server, "--dhcp", "proxy", "--subnet", "10.78.0.0/24", check=False)
    assert r.returncode == 1
    assert_clean_error(r, "duet: install: ", "one dnsmasq answers a subnet", "--replace-ltsp-dnsmasq")
    assert not (server.tftp / "duet").exists() and ipxe.read_text() == LTSP_IPXE

    r = install(server, "--replace-ltsp-dnsmasq", "--subnet", "10.78.0.0/24")
    aside = dns / ".ltsp-dnsmasq.conf.duet-replaced"
    assert f"move {dns / 'ltsp-dnsmasq.conf'} to {aside}" in r.stdout
    assert not (dns / "ltsp-dnsmasq.conf").exists() and aside.read_text() == LTSP_DNSMASQ
    assert (dns / "duet.conf").exists()
    assert "systemctl restart dnsmasq" in r.stdout
    r = install(server, "--replace-ltsp-dnsmasq", "--subnet", "10.78.0.0/24")
    assert changes(r) == []

    server.run("install", "--from", str(TREE), "--dnsmasq-dir", str(dns), "--uninstall", check=True)
    assert (dns / "ltsp-dnsmasq.conf").read_text() == LTSP_DNSMASQ
    assert sorted(p.name for p in dns.iterdir()) == ["ltsp-dnsmasq.conf"]
    assert ipxe.read_text() == LTSP_IPXE


@needs_tree
def test_ltsp_dnsmasq_without_ltsp_menu_warns(server):
    dns = server.base / "dnsmasq.d"
    dns.mkdir()
    (dns / "ltsp-dnsmasq.conf").write_text(LTSP_DNSMASQ)
    r = install(server)
    assert "ltsp/ltsp.ipxe is missing" in r.stdout and "ltsp ipxe" in r.stdout


# ---------------------------------------------------------------- duet.conf

@needs_tree
def test_starter_config_only_when_missing(server, tmp_path):
    conf = tmp_path / "etc" / "duet" / "duet.conf"
    dns = tmp_path / "dnsmasq.d"
    tftp = tmp_path / "tftp2"

    def duet(*args: str) -> subprocess.CompletedProcess:
        r = subprocess.run([str(DUET), "-c", str(conf), "install", "--from", str(TREE),
                            "--dnsmasq-dir", str(dns), "--subnet", "10.78.0.0/24", *args],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        return r

    r = duet("--tftp-root", str(tftp), "--dry-run")
    assert f"would write {conf} (a starter configuration)" in r.stdout and not conf.exists()
    r = duet("--tftp-root", str(tftp))
    assert f"write {conf} (a starter configuration)" in r.stdout
    text = conf.read_text()
    assert "[server]" in text and f"tftp-root = {tftp}" in text
    assert "[clients]" in text and "guests = ltsp" in text
    assert "# [52:54:00:12:34:56]" in text
    if (TREE / "duet" / "guests" / "ltsp" / "vmlinuz").exists():
        check = subprocess.run([str(DUET), "-c", str(conf), "config", "check"],
                               capture_output=True, text=True, timeout=60)
        assert check.returncode == 0, f"the starter fails `duet config check`:\n{check.stderr}"
    # Read back: its tftp-root is where the tree went, so nothing to do.
    r = duet()
    assert changes(r) == [], r.stdout
    # Never overwritten.
    conf.write_text(text + "# the admin's\n")
    duet()
    assert conf.read_text() == text + "# the admin's\n"
