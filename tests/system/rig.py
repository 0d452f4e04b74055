"""The rig: run a command inside Debian's kernel + busybox under QEMU/TCG.

QEMU (`-accel tcg,thread=multi -cpu max -smp 2`) exposes AMD SVM with nested
paging, so Debian's kvm_amd loads inside and /dev/kvm works there. Each
`run_rig()` call builds an initramfs, boots it, runs one shell command in the
guest and returns its exit status, the serial console log and the files the
command left under /out.

    from rig import run_rig, assert_ok
    r = run_rig("kvm-smoke > /out/smoke.txt", binaries=[KVM_SMOKE])
    assert_ok(r)
    r.files["smoke.txt"]

Everything is bounded by `timeout` (seconds, wall clock, whole run). The
command itself gets what is left after the guest booted minus a margin for
sending /out back, so a hanging command is killed in the guest (RigError,
with the partial result attached) and a hanging kernel is killed from the
host (RigError). Every RigError message ends with the serial log tail.

Build outputs (see rig.mk) are found under $DUET_RIG_DIR, default
<repo>/build/rig. Set DUET_RIG_KEEP=1 to keep each run's directory
(initramfs, serial logs, QEMU command line) and have its path printed.
"""

from __future__ import annotations

import base64
import binascii
import functools
import gzip
import io
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "initramfs"))
from cpio import Cpio  # noqa: E402  (shared with the image builders)
import hostfiles  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
RIG_DIR = Path(os.environ.get("DUET_RIG_DIR", REPO / "build" / "rig"))
KERNEL_DIR = RIG_DIR / "kernel"
KVM_SMOKE = RIG_DIR / "kvm-smoke"
BUSYBOX = os.environ.get("DUET_RIG_BUSYBOX", "/bin/busybox")
QEMU = os.environ.get("DUET_RIG_QEMU", "qemu-system-x86_64")

TAIL_LINES = 40
# Seconds of the run's budget kept back from the command for sending /out
# back and powering off.
OUT_MARGIN = 6
# Modules loaded (with their dependencies) when kvm=True.
KVM_MODULES = ["kvm_amd"]

MARK = "DUET-RIG"


class RigError(Exception):
    """The rig itself failed: timeout, crash, setup failure, lost output.

    `serial` is the full serial log; `result` is a RigResult when the guest
    got as far as reporting a status (e.g. after a command timeout).
    """

    def __init__(self, message: str, serial: str = "", result: "RigResult | None" = None,
                 fault: str | None = None):
        self.serial = serial
        self.result = result
        self.fault = fault  # rig_fault(): the emulated machine failed, not what ran in it
        super().__init__(message + "\n" + format_tail(serial))


@dataclass
class RigResult:
    command: str
    status: int  # the command's exit status (128+N if killed by signal N)
    serial: str  # full serial console log (ttyS0), \r removed
    files: dict[str, bytes] = field(default_factory=dict)  # under /out, relative paths
    duration: float = 0.0  # seconds, QEMU start to exit
    timed_out: bool = False  # the command was killed by the guest-side time bound

    def tail(self, lines: int = TAIL_LINES) -> str:
        return format_tail(self.serial, lines)


def serial_tail(serial: str, lines: int = TAIL_LINES) -> str:
    return "\n".join(serial.rstrip("\n").split("\n")[-lines:])


def format_tail(serial: str, lines: int = TAIL_LINES) -> str:
    if not serial.strip():
        return "--- serial log is empty ---"
    return f"--- serial log, last {lines} lines ---\n{serial_tail(serial, lines)}\n--- end of serial log ---"


def assert_ok(result: RigResult, what: str | None = None) -> RigResult:
    """Fail (AssertionError) unless the command exited 0; names the status
    and shows the serial log tail."""
    if result.status != 0:
        label = what or f"rig command {result.command!r}"
        raise AssertionError(
            f"{label} failed with exit status {result.status} "
            f"(after {result.duration:.1f} s)\n{result.tail()}"
        )
    return result


# ---------------------------------------------------------------- initramfs

def _need(path: Path, what: str) -> Path:
    if not path.exists():
        raise RigError(f"rig: {what} {path} is missing; build it first (make check-system builds $(RIG_DEPS))")
    return path


def kernel_release() -> str:
    mods = _need(KERNEL_DIR / "lib" / "modules", "unpacked kernel modules directory")
    rels = sorted(p.name for p in mods.iterdir())
    if len(rels) != 1:
        raise RigError(f"rig: expected one kernel release under {mods}, found {rels}")
    return rels[0]


def kernel_image() -> Path:
    """The ELF vmlinux rig.mk extracted (QEMU boots it via PVH, skipping the
    decompressor); $DUET_RIG_KERNEL overrides it (a bzImage works too)."""
    override = os.environ.get("DUET_RIG_KERNEL")
    if override:
        return _need(Path(override), "kernel image ($DUET_RIG_KERNEL)")
    return _need(KERNEL_DIR / "vmlinux", "kernel image")


@functools.lru_cache(maxsize=None)
def _modules_dep() -> dict[str, tuple[str, list[str]]]:
    """module name (dashes as underscores) -> (path, [dependency paths])."""
    moddir = KERNEL_DIR / "lib" / "modules" / kernel_release()
    dep = _need(moddir / "modules.dep", "modules.dep (run depmod)").read_text()
    out = {}
    for line in dep.splitlines():
        path, _, deps = line.partition(":")
        name = os.path.basename(path).split(".ko")[0].replace("-", "_")
        out[name] = (path, deps.split())
    return out


def resolve_modules(names: list[str]) -> list[str]:
    """Module paths (relative to lib/modules/<release>), dependencies first."""
    table = _modules_dep()
    by_path = {path: name for name, (path, _) in table.items()}
    order: list[str] = []

    def visit(name: str, chain: tuple[str, ...]) -> None:
        key = name.replace("-", "_").removesuffix(".ko")
        if key not in table:
            raise RigError(f"rig: no kernel module {name!r} in {kernel_release()}")
        path, deps = table[key]
        if path in order or key in chain:
            return
        for d in deps:
            visit(by_path[d], chain + (key,))
        order.append(path)

    for n in names:
        visit(n, ())
    return order


@functools.lru_cache(maxsize=None)
def _base_archive(modules: tuple[str, ...]) -> bytes:
    """The part of the initramfs shared by all runs: busybox, device nodes,
    kernel modules. Gzipped cpio; the kernel unpacks concatenated archives."""
    c = Cpio()
    for d in ("bin", "sbin", "usr/bin", "usr/sbin", "proc", "sys", "dev", "tmp", "run",
              "out", "etc", "root", "lib/modules", "rig"):
        c.mkdir(d)
    c.chardev("dev/console", 5, 1)
    c.chardev("dev/null", 1, 3, 0o666)
    bb = Path(BUSYBOX)
    c.file("bin/busybox", bb.read_bytes(), 0o755)
    for lib in shared_libraries(bb):  # none for busybox-static
        c.file(lib, Path(lib).read_bytes(), 0o755)
    listing = subprocess.run([str(bb), "--list-full"], capture_output=True, text=True, check=True)
    for applet in listing.stdout.split():
        if applet != "bin/busybox":
            c.symlink(applet, "/bin/busybox")
    c.file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n")
    c.file("etc/group", b"root:x:0:\n")
    moddir = KERNEL_DIR / "lib" / "modules" / kernel_release()
    for m in modules:
        c.file(f"lib/modules/{os.path.basename(m)}", (moddir / m).read_bytes())
    return gzip.compress(c.finish(), compresslevel=6)


def shared_libraries(binary: str | Path) -> list[str]:
    """The absolute paths ldd lists for a host binary ([] if static)."""
    try:
        return hostfiles.shared_libraries(binary)
    except hostfiles.HostFileError as e:
        raise RigError(f"rig: {e}") from None


INIT = r"""#!/bin/sh
# rig init (generated by tests/system/rig.py)
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root TERM=dumb
NONCE=@NONCE@
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmp /tmp
mount -t tmpfs run /run
hostname rig
ip link set lo up 2>/dev/null

die() {
    echo "@MARK@-SETUP-FAILED:$NONCE: $*"
    echo 1 > /proc/sys/kernel/printk
    poweroff -f
    sleep 60
}

for m in @MODULES@; do
    insmod /lib/modules/$m || die "insmod $m failed"
done
if [ @KVM@ = 1 ] && [ ! -c /dev/kvm ]; then
    die "/dev/kvm did not appear after loading kvm_amd (no SVM in the rig CPU?)"
fi

# The command gets the run's budget minus the time already spent booting
# and a margin for sending /out back.
up=$(cut -d. -f1 /proc/uptime)
limit=$((@TIMEOUT@ - up - @MARGIN@))
[ $limit -lt 1 ] && limit=1
echo "@MARK@-START:$NONCE: uptime ${up}s, command limit ${limit}s"

cd /
setsid sh /rig/command.sh </dev/null &
pid=$!
( sleep $limit; echo "@MARK@-TIMEOUT:$NONCE: command still running after ${limit}s, killing it"; \
  touch /rig/timed-out; kill -KILL -$pid 2>/dev/null; kill -KILL $pid 2>/dev/null ) &
watchdog=$!
wait $pid
status=$?
kill $watchdog 2>/dev/null
timed=0
[ -e /rig/timed-out ] && timed=1

# Keep kernel console noise from splitting the marker lines from here on.
echo 1 > /proc/sys/kernel/printk
echo "@MARK@-STATUS:$NONCE:$status:$timed"
stty -F /dev/ttyS1 raw -echo 2>/dev/null
{
    echo "@MARK@-OUT-BEGIN:$NONCE"
    tar -C /out -czf - . | base64
    echo "@MARK@-OUT-END:$NONCE"
} > /dev/ttyS1
echo "@MARK@-DONE:$NONCE"
sync
poweroff -f
sleep 60
"""


def _build_initramfs(path: Path, command: str, files: dict, binaries: list, modules: list[str],
                     kvm: bool, timeout: int, nonce: str, env: dict[str, str]) -> None:
    c = Cpio()
    init = (INIT.replace("@NONCE@", nonce).replace("@MARK@", MARK)
            .replace("@MODULES@", " ".join(shlex.quote(os.path.basename(m)) for m in modules))
            .replace("@KVM@", "1" if kvm else "0")
            .replace("@TIMEOUT@", str(int(timeout))).replace("@MARGIN@", str(OUT_MARGIN)))
    c.file("init", init.encode(), 0o755)
    envlines = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items())
    c.file("rig/command.sh", (envlines + command + "\n").encode(), 0o755)
    libs: dict[str, None] = {}
    for b in binaries:
        b = Path(b)
        if not b.is_file():
            raise RigError(f"rig: binary {b} does not exist")
        c.file(f"bin/{b.name}", b.read_bytes(), 0o755)
        for lib in shared_libraries(b):
            libs[lib] = None
    for lib in libs:
        c.file(lib, Path(lib).read_bytes(), 0o755)
    for dest, src in files.items():
        if isinstance(src, (bytes, bytearray)):
            c.file(dest, bytes(src), 0o644)
        else:
            src = Path(src)
            if not src.exists():
                raise RigError(f"rig: file {src} (for {dest}) does not exist")
            c.host_path(dest, src)
    with open(path, "wb") as f:
        f.write(_base_archive(tuple(modules)))
        f.write(gzip.compress(c.finish(), compresslevel=1))


# ---------------------------------------------------------------- running

def _read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8", "replace").replace("\r", "")
    except FileNotFoundError:
        return ""


def _decode_out(raw: str, nonce: str, serial: str) -> dict[str, bytes]:
    m = re.search(rf"{MARK}-OUT-BEGIN:{nonce}\n(.*?){MARK}-OUT-END:{nonce}", raw, re.S)
    if not m:
        raise RigError(f"rig: the /out stream on ttyS1 is incomplete ({len(raw)} bytes received)", serial)
    try:
        data = base64.b64decode(re.sub(r"\s+", "", m.group(1)), validate=True)
        files = {}
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            for member in tar:
                if member.isfile():
                    name = os.path.normpath(member.name)
                    files[name] = tar.extractfile(member).read()
        return files
    except (binascii.Error, tarfile.TarError) as e:
        raise RigError(f"rig: cannot decode the /out stream: {e}", serial) from e


# A rig boot reaches the command in a few seconds; under TCG on a loaded
# machine one boot in a few dozen has been seen to hang before printing
# anything. Such a boot is killed after BOOT_LIMIT and started once more.
BOOT_LIMIT = 60


def _run_qemu(argv, errf, serial_path: Path, nonce: str, timeout: int) -> int:
    """Run QEMU to its end; raise subprocess.TimeoutExpired (QEMU killed)
    after `timeout` s. A boot that has not reached the command after
    BOOT_LIMIT s is restarted once."""
    for attempt in range(2):
        start = time.monotonic()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=errf, stderr=errf)
        while True:
            try:
                return proc.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                pass
            elapsed = time.monotonic() - start
            if elapsed > timeout:
                proc.kill()
                proc.wait()
                raise subprocess.TimeoutExpired(argv, timeout)
            if (attempt == 0 and elapsed > BOOT_LIMIT
                    and f"{MARK}-START:{nonce}:" not in _read_text(serial_path)):
                proc.kill()
                proc.wait()
                print(f"rig: the boot hung for {BOOT_LIMIT} s before the command; "
                      "starting it once more", file=sys.stderr)
                break
    raise AssertionError("unreachable")


# The rig's own kernel saying one of its CPUs made no progress for a long
# while: under TCG on a busy host the emulator starves a vCPU thread, the
# rig as a whole hangs, and nothing of the command's own behaviour is seen.
RIG_STALL = re.compile(r"soft lockup - CPU#\d+ stuck|rcu: INFO: rcu_\w+ (self-)?detected stall")
# QEMU's own debug log (-d cpu_reset -D FILE, RIG_DEBUG_ARGS) names a triple
# fault of the rig's machine: with -no-reboot QEMU then just ends, silently.
# Nothing run in the rig as a user process can do that to its kernel.
RIG_DEBUG_LOG = "qemu-debug.log"


def rig_debug_args(workdir: Path) -> list[str]:
    return ["-d", "cpu_reset,guest_errors", "-D", str(Path(workdir) / RIG_DEBUG_LOG)]


def rig_fault(workdir: Path, returncode: int | None) -> str | None:
    """What failed in the rig's emulated machine itself, outside anything it
    runs: a triple fault of its kernel, or QEMU ended by a signal it was not
    sent by the test (a crash of the emulator). None if neither."""
    log = _read_text(Path(workdir) / RIG_DEBUG_LOG)
    if "Triple fault" in log:
        return "the rig's machine triple-faulted (QEMU's debug log); QEMU ended with -no-reboot"
    if returncode is not None and returncode < 0 and returncode != -signal.SIGKILL:
        return f"QEMU itself died of signal {-returncode}"
    return None


def run_rig(command: str, files: dict | None = None, binaries: list | None = None,
            timeout: int = 120, kvm: bool = True, modules: list[str] | None = None,
            memory: str = "1G", smp: int = 2, qemu_args: list[str] | None = None,
            env: dict[str, str] | None = None, cmdline: str = "") -> RigResult:
    """Boot the rig, run `command` (busybox sh) in it, return a RigResult.
    A run that fails because the rig's machine itself failed (its kernel
    reports a stalled CPU, RIG_STALL; it triple-faulted or QEMU died,
    rig_fault) is booted once more, and says so on stderr; the second run's
    result stands, whatever it is.

    files     {guest path: host path (file or directory) or bytes content}
    binaries  host programs copied to the guest's /bin, plus the shared
              libraries ldd lists for them (at the same paths as on the host).
              Busybox sh runs its own applet for a bare command name that
              is also an applet (sha256sum, stat, ...): call such a
              program by its path, /bin/NAME.
    timeout   bound in seconds on the whole run, boot to power-off
    kvm       load kvm_amd and require /dev/kvm
    modules   further kernel modules to load, by name (dependencies resolved)
    qemu_args extra QEMU arguments (devices, netdev, ...)
    env       environment variables for the command
    cmdline   extra kernel command line

    Raises RigError if the rig fails (command timeout, guest crash, QEMU
    timeout, setup failure); a non-zero exit status of the command is *not*
    an error here, check it with assert_ok().
    """
    args = (command, files, binaries, timeout, kvm, modules, memory, smp, qemu_args, env, cmdline)
    try:
        return _run_rig_once(*args)
    except RigError as e:
        stall = RIG_STALL.search(e.serial or "")
        if stall:
            why = f"the rig's kernel reported a stalled CPU ({stall.group(0)})"
        elif e.fault:
            why = e.fault
        else:
            raise
        print(f"rig: {why}; booting it once more", file=sys.stderr)
        return _run_rig_once(*args)


def _run_rig_once(command: str, files: dict | None, binaries: list | None, timeout: int,
                  kvm: bool, modules: list[str] | None, memory: str, smp: int,
                  qemu_args: list[str] | None, env: dict[str, str] | None,
                  cmdline: str) -> RigResult:
    if shutil.which(QEMU) is None:
        raise RigError(f"rig: {QEMU} not found (package qemu-system-x86)")
    mods = resolve_modules((KVM_MODULES if kvm else []) + list(modules or []))
    kernel = kernel_image()
    nonce = secrets.token_hex(6)
    keep = bool(os.environ.get("DUET_RIG_KEEP"))
    workdir = Path(tempfile.mkdtemp(prefix="duet-rig-"))
    try:
        initrd = workdir / "initramfs.cpio.gz"
        _build_initramfs(initrd, command, files or {}, list(binaries or []), mods, kvm,
                         timeout, nonce, env or {})
        serial_path, out_path = workdir / "serial.log", workdir / "out.b64"
        argv = [
            QEMU, "-accel", "tcg,thread=multi", "-cpu", "max", "-smp", str(smp),
            "-m", memory, "-nodefaults", "-no-reboot", "-display", "none", "-monitor", "none",
            "-kernel", str(kernel), "-initrd", str(initrd),
            "-append", f"console=ttyS0 panic=-1 rdinit=/init {cmdline}".strip(),
            "-serial", f"file:{serial_path}", "-serial", f"file:{out_path}",
            *rig_debug_args(workdir), *(qemu_args or []),
        ]
        (workdir / "qemu.cmd").write_text(shlex.join(argv) + "\n")
        start = time.monotonic()
        with open(workdir / "qemu.stderr", "wb") as errf:
            try:
                rc = _run_qemu(argv, errf, serial_path, nonce, timeout)
            except subprocess.TimeoutExpired:
                serial = _read_text(serial_path)
                if re.search(rf"{MARK}-STATUS:{nonce}:", serial):
                    where = (f"while sending /out back ({out_path.stat().st_size} bytes sent; "
                             f"large outputs need a larger timeout)")
                elif re.search(rf"{MARK}-START:{nonce}:", serial):
                    where = "while the command ran (the guest did not enforce its time bound)"
                else:
                    where = "before the command started (boot or module loading hung)"
                raise RigError(f"rig: QEMU killed after {timeout} s, {where}; command {command!r}",
                               serial)
        duration = time.monotonic() - start
        serial = _read_text(serial_path)
        qerr = _read_text(workdir / "qemu.stderr").strip()

        m = re.search(rf"{MARK}-SETUP-FAILED:{nonce}: (.*)", serial)
        if m:
            raise RigError(f"rig: guest setup failed: {m.group(1)}", serial)
        m = re.search(rf"{MARK}-STATUS:{nonce}:(\d+):(\d)", serial)
        if not m:
            why = f"QEMU exited with status {rc}" + (f": {qerr}" if qerr else "")
            fault = rig_fault(workdir, rc)
            raise RigError(f"rig: no exit status from the guest ({fault or why}; guest crashed "
                           f"or powered off early?) command {command!r}", serial, fault=fault)
        result = RigResult(command=command, status=int(m.group(1)), serial=serial,
                           duration=duration, timed_out=m.group(2) == "1")
        result.files = _decode_out(_read_text(out_path), nonce, serial)
        if result.timed_out:
            m = re.search(rf"{MARK}-START:{nonce}: .*command limit (\d+)s", serial)
            limit = m.group(1) if m else "?"
            raise RigError(f"rig: command {command!r} timed out: killed in the guest after "
                           f"{limit} s (the whole run is bounded to {timeout} s)", serial, result)
        return result
    finally:
        if keep:
            print(f"rig: run directory kept: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
