#!/usr/bin/python3
"""Boot storm: many classroom PCs fetch duet's kernel and initrd at once,
over TFTP (dnsmasq, as PXELINUX or iPXE without HTTP would) and over HTTP
(as duet.ipxe does when the server offers it), against what the link
itself could carry.

Runs on this machine, no KVM, in two network namespaces of its own joined
by a veth pair: "server" (10.78.0.1: dnsmasq's TFTP server and busybox
httpd, both rooted at a copy of the tree) and "clients" (10.78.0.2), where
N fetchers run in parallel, each fetching duet/vmlinuz then
duet/initrd.img with curl (TFTP with blksize 1432, what iPXE asks for;
HTTP over one kept-alive connection), started together by one driver
process inside the namespace. The files are the image's own
(build/netboot/duet/) when built, else random stand-ins (vmlinuz 8 MiB,
initrd.img 30 MiB).

The link's limit is measured in the same run: a bulk TCP transfer from
the server namespace to the clients namespace (a Python sender writing
1 GiB from memory, 256 MiB with --rate, over one stream per CPU; a
receiver counting it), best of three. Without --rate that
is the veth's raw throughput (memory copies: this machine's CPU is the
limit); --rate RATE (e.g. 1gbit) shapes the server's side with a tc token
bucket, the way a school's switch port would limit it.

Output (R = duet / link, or TFTP / HTTP):

    bench netboot-storm-http: duet=SECONDS s link=SECONDS s ratio=R
    bench netboot-storm-tftp: duet=SECONDS s link=SECONDS s ratio=R
    bench netboot-fetch-tftp-vs-http: duet=SECONDS s http=SECONDS s ratio=R

storm: N clients, wall time from the start of the first fetcher to the end
of the last (median of --reps storms); link = the storm's bytes at the
measured link throughput. fetch-tftp-vs-http: one client alone, duet= its
TFTP time, http= its HTTP time (medians of --reps). Detail lines follow
each result. No timing is asserted: the machine's other load shows in the
figures. Exit status 1 if a fetch failed (wrong size or error).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SERVER, CLIENT = "10.78.0.1", "10.78.0.2"
TFTP_BLKSIZE = 1432  # iPXE's request (TFTP_MAX_BLKSIZE)
# Bytes of one link probe: 1 GiB on the raw veth (~0.4 s), 256 MiB when
# shaped (~2 s at 1 Gbit/s).
LINK_BYTES, LINK_BYTES_SHAPED = 1 << 30, 256 << 20
# TCP streams of the link probe: one per CPU, so that on the raw veth (where
# the CPU is the limit) the probe is not held to one core.
LINK_STREAMS = max(1, os.cpu_count() or 1)
BUSYBOX = os.environ.get("DUET_RIG_BUSYBOX", "/bin/busybox")

# The link probe: the receiver (clients namespace) listens and counts; the
# sender (server namespace) opens STREAMS connections and writes through
# all of them at once. The receiver prints "<bytes> <seconds>", timed from
# its first accept to the last EOF.
RECEIVER = r"""
import socket, sys, threading, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(16)
print("listening", flush=True)
streams = int(sys.argv[3]); counts = []; start = []
def drain(c):
    buf = bytearray(4 << 20); n = 0
    while True:
        k = c.recv_into(buf)
        if not k: break
        n += k
    counts.append(n)
threads = []
for _ in range(streams):
    c, _ = s.accept(); start.append(time.monotonic())
    threads.append(threading.Thread(target=drain, args=(c,))); threads[-1].start()
for t in threads: t.join()
print(sum(counts), time.monotonic() - start[0], flush=True)
"""
SENDER = r"""
import socket, sys, threading
host, port, streams, total = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
conns = [socket.create_connection((host, port)) for _ in range(streams)]
def send(c, left):
    chunk = memoryview(bytes(4 << 20))
    while left > 0:
        c.sendall(chunk[:min(left, len(chunk))]); left -= min(left, len(chunk))
    c.close()
threads = [threading.Thread(target=send, args=(c, total // streams)) for c in conns]
for t in threads: t.start()
for t in threads: t.join()
"""

# The storm driver, run inside the clients namespace: argv[1] is a JSON
# list, one entry per fetcher, each a list of commands run one after the
# other (curl printing the size it got). All fetchers start together.
STORM = r"""
import json, subprocess, sys, threading, time
fetchers = json.loads(sys.argv[1])
results = [None] * len(fetchers)
go = threading.Event()
def fetch(i, cmds):
    go.wait(); t = time.monotonic(); sizes = []; status = 0; err = ""
    for cmd in cmds:
        p = subprocess.run(cmd, capture_output=True, text=True)
        sizes += [int(x) for x in p.stdout.split()]; err += p.stderr
        if p.returncode:
            status = p.returncode; break
    results[i] = {"time": time.monotonic() - t, "sizes": sizes, "status": status, "stderr": err}
threads = [threading.Thread(target=fetch, args=(i, c)) for i, c in enumerate(fetchers)]
for th in threads: th.start()
start = time.monotonic(); go.set()
for th in threads: th.join()
print(json.dumps({"wall": time.monotonic() - start, "fetchers": results}))
"""


def log(msg: str) -> None:
    print(msg, flush=True)


def run(*argv: str, ns: str | None = None) -> str:
    if ns:
        argv = ("ip", "netns", "exec", ns) + argv
    p = subprocess.run(argv, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: exit {p.returncode}: {p.stderr.strip()}")
    return p.stdout


def remove_stale_namespaces() -> None:
    """Namespaces an earlier, killed run left (its pid is gone)."""
    for line in run("ip", "netns", "list").split("\n"):
        name = line.split(" ")[0]
        m = re.fullmatch(r"duetbn-(\d+)-(srv|cli)", name)
        if m and not Path(f"/proc/{m.group(1)}").exists():
            subprocess.run(["ip", "netns", "delete", name], capture_output=True)


class Lab:
    """The server and clients namespaces, their veth pair, dnsmasq and
    busybox httpd in the server one; down() removes all of it."""

    def __init__(self, root: Path, rate: str | None, clients: int):
        self.srv = f"duetbn-{os.getpid()}-srv"
        self.cli = f"duetbn-{os.getpid()}-cli"
        self.root = root
        self.rate = rate
        self.clients = clients
        self.namespaces: list[str] = []
        self.procs: list[subprocess.Popen] = []

    def up(self) -> None:
        for ns in (self.srv, self.cli):
            run("ip", "netns", "add", ns)
            self.namespaces.append(ns)
            run("ip", "-n", ns, "link", "set", "lo", "up")
        run("ip", "-n", self.srv, "link", "add", "veth-srv", "type", "veth", "peer", "name",
            "veth-cli", "netns", self.cli)
        run("ip", "-n", self.srv, "addr", "add", f"{SERVER}/24", "dev", "veth-srv")
        run("ip", "-n", self.cli, "addr", "add", f"{CLIENT}/24", "dev", "veth-cli")
        run("ip", "-n", self.srv, "link", "set", "veth-srv", "up")
        run("ip", "-n", self.cli, "link", "set", "veth-cli", "up")
        if self.rate:
            run("tc", "qdisc", "add", "dev", "veth-srv", "root", "tbf", "rate", self.rate,
                "burst", "512kb", "latency", "50ms", ns=self.srv)
        conf = self.root.parent / "dnsmasq.conf"
        conf.write_text("\n".join([
            "port=0", "enable-tftp", f"tftp-root={self.root}", "interface=veth-srv",
            "bind-interfaces", f"tftp-max={max(50, 4 * self.clients)}", "user=root", "group=root",
            "pid-file=", f"log-facility={self.root.parent / 'dnsmasq.log'}"]) + "\n")
        self.spawn(self.srv, "dnsmasq", "--keep-in-foreground", f"--conf-file={conf}")
        self.spawn(self.srv, BUSYBOX, "httpd", "-f", "-p", f"{SERVER}:80", "-h", str(self.root))
        self.wait_until_serving()

    def spawn(self, ns: str, *argv: str, **kw) -> subprocess.Popen:
        p = subprocess.Popen(["ip", "netns", "exec", ns, *argv], stdin=subprocess.DEVNULL,
                             stdout=kw.pop("stdout", subprocess.DEVNULL),
                             stderr=kw.pop("stderr", subprocess.DEVNULL), **kw)
        self.procs.append(p)
        return p

    def wait_until_serving(self) -> None:
        end = time.monotonic() + 10
        while time.monotonic() < end:
            ok = [subprocess.run(["ip", "netns", "exec", self.cli, *fetch_cmd(proto, ["http"])[0]],
                                 capture_output=True).returncode == 0 for proto in ("http", "tftp")]
            if all(ok):
                return
            time.sleep(0.1)
        raise RuntimeError("dnsmasq's TFTP or busybox httpd did not answer within 10 s")

    def down(self) -> None:
        for p in reversed(self.procs):
            if p.poll() is None:
                p.kill()
            p.wait()
        for ns in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "delete", ns], capture_output=True)

    def link_throughput(self) -> float:
        """Bytes/s server -> clients over LINK_STREAMS TCP streams at once,
        best of 3."""
        best = 0.0
        size = (LINK_BYTES_SHAPED if self.rate else LINK_BYTES) // LINK_STREAMS * LINK_STREAMS
        for i in range(3):
            port = str(5001 + i)
            recv = self.spawn(self.cli, sys.executable, "-c", RECEIVER, CLIENT, port,
                              str(LINK_STREAMS), stdout=subprocess.PIPE, text=True)
            assert recv.stdout.readline().strip() == "listening"
            send = self.spawn(self.srv, sys.executable, "-c", SENDER, CLIENT, port,
                              str(LINK_STREAMS), str(size))
            n, secs = recv.stdout.readline().split()
            send.wait(timeout=120)
            recv.wait(timeout=10)
            if int(n) != size:
                raise RuntimeError(f"link probe: {n} of {size} bytes arrived")
            best = max(best, int(n) / float(secs))
        return best

    def storm(self, proto: str, n: int, files: list[str],
              sizes: dict[str, int]) -> tuple[float, list[float]]:
        """n fetchers at once (started by one driver inside the clients
        namespace); wall time and each fetcher's time."""
        driver = self.spawn(self.cli, sys.executable, "-c", STORM, json.dumps(
            [fetch_cmd(proto, files)] * n), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True)
        out, err = driver.communicate(timeout=900)
        if driver.returncode != 0:
            raise RuntimeError(f"{proto} storm driver failed: {err.strip()[-500:]}")
        result = json.loads(out)
        want = [sizes[f] for f in files]
        for f in result["fetchers"]:
            if f["status"] != 0 or f["sizes"] != want:
                raise RuntimeError(f"{proto} fetch failed (exit {f['status']}, sizes {f['sizes']}, "
                                   f"expected {want}): {f['stderr'][-300:]}")
        return result["wall"], [f["time"] for f in result["fetchers"]]


def fetch_cmd(proto: str, files: list[str]) -> list[list[str]]:
    """curl command lines fetching `files` (under duet/) to /dev/null,
    printing each size."""
    if proto == "http":
        argv = ["curl", "-sS", "--fail", "-w", "%{size_download}\\n"]
        for f in files:
            argv += ["-o", "/dev/null", f"http://{SERVER}/duet/{f}"]
        return [argv]
    return [["curl", "-sS", "--tftp-blksize", str(TFTP_BLKSIZE), "-w", "%{size_download}\\n",
             "-o", "/dev/null", f"tftp://{SERVER}/duet/{f}"] for f in files]


def stage_files(root: Path, tree: Path) -> dict[str, str]:
    """duet/vmlinuz and duet/initrd.img under root; where each came from."""
    duet = root / "duet"
    duet.mkdir(parents=True)
    kernels = sorted((REPO / "build" / "rig" / "kernel" / "boot").glob("vmlinuz-*"))
    origin = {}
    for name, size, fallback in (("vmlinuz", 8 << 20, kernels[-1] if kernels else None),
                                 ("initrd.img", 30 << 20, None)):
        src = tree / "duet" / name
        if not src.is_file() and fallback:
            src = fallback
        if src.is_file():
            shutil.copyfile(src, duet / name)
            origin[name] = str(src)
        else:
            (duet / name).write_bytes(os.urandom(size))
            origin[name] = f"random, {size >> 20} MiB"
    (duet / "http").write_text("marker\n")
    return origin


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tree", default=str(REPO / "build" / "netboot"),
                    help="the netboot tree whose duet/vmlinuz and initrd.img are fetched")
    ap.add_argument("--clients", type=int, default=30)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--rate", help="shape the link (tc tbf rate, e.g. 1gbit); default: raw veth")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench netboot: needs root (network namespaces)", file=sys.stderr)
        return 1
    for tool in ("curl", "dnsmasq", "tc"):
        if shutil.which(tool) is None:
            print(f"bench netboot: {tool} not found (scripts/deps.sh installs it)", file=sys.stderr)
            return 1

    remove_stale_namespaces()
    work = Path(tempfile.mkdtemp(prefix="duet-bench-netboot-"))
    root = work / "tftp"
    origin = stage_files(root, Path(args.tree))
    files = ["vmlinuz", "initrd.img"]
    sizes = {f: (root / "duet" / f).stat().st_size for f in files}
    per_client = sum(sizes.values())
    lab = Lab(root, args.rate, args.clients)
    # SIGTERM (make killed, timeout) cleans up like Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        lab.up()
        link = lab.link_throughput()
        log(f"  link: {link / 1e6:.0f} MB/s ({LINK_STREAMS} TCP streams, best of 3; "
            f"{'tc tbf ' + args.rate if args.rate else 'raw veth'})")
        log(f"  files: vmlinuz {sizes['vmlinuz']} B ({origin['vmlinuz']}), "
            f"initrd.img {sizes['initrd.img']} B ({origin['initrd.img']})")
        link_time = args.clients * per_client / link
        for proto in ("http", "tftp"):
            walls, slowest, fastest = [], [], []
            for _ in range(args.reps):
                wall, times = lab.storm(proto, args.clients, files, sizes)
                walls.append(wall)
                slowest.append(max(times))
                fastest.append(min(times))
            wall = statistics.median(walls)
            log(f"bench netboot-storm-{proto}: duet={wall:.2f} s link={link_time:.2f} s "
                f"ratio={wall / link_time:.2f}")
            log(f"  {args.clients} clients x {per_client / 1e6:.1f} MB = "
                f"{args.clients * per_client / 1e6:.0f} MB; storms: "
                + ", ".join(f"{w:.2f}" for w in walls) + " s; "
                f"{args.clients * per_client / wall / 1e6:.0f} MB/s; client times (median storm) "
                f"{statistics.median(fastest):.2f}..{statistics.median(slowest):.2f} s")
        single = {}
        for proto in ("tftp", "http"):
            single[proto] = statistics.median(
                lab.storm(proto, 1, files, sizes)[0] for _ in range(args.reps))
        log(f"bench netboot-fetch-tftp-vs-http: duet={single['tftp']:.3f} s "
            f"http={single['http']:.3f} s ratio={single['tftp'] / single['http']:.2f}")
        log(f"  one client, {per_client / 1e6:.1f} MB: "
            f"TFTP {per_client / single['tftp'] / 1e6:.0f} MB/s, "
            f"HTTP {per_client / single['http'] / 1e6:.0f} MB/s, link {link / 1e6:.0f} MB/s")
        return 0
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        print(f"bench netboot: {e}", file=sys.stderr)
        return 1
    finally:
        lab.down()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
