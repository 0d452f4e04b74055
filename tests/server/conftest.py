"""Fixtures for the `duet` command's tests: the binary, and a server
layout (duet.conf with every [server] path inside the test's tmp_path)."""
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("BUILD", ROOT / "build"))
DUET = BUILD / "bin" / "duet"


class Server:
    """A duet server layout under one directory: tftp/, images/, vms/, run/,
    ethers, leases and etc/duet.conf. run() calls duet with -c that file."""

    def __init__(self, base: Path):
        self.base = base
        self.tftp = base / "tftp"
        self.images = base / "images"
        self.vms = base / "vms"
        self.run_dir = base / "run"
        self.ethers = base / "ethers"
        self.leases = base / "leases"
        self.key = base / "etc" / "remote.key"
        self.conf = base / "etc" / "duet.conf"
        for d in (self.tftp, self.images, self.vms, self.run_dir, self.conf.parent):
            d.mkdir(parents=True, exist_ok=True)
        self.write_conf("")

    def server_section(self, extra: str = "") -> str:
        return (f"[server]\ntftp-root = {self.tftp}\nimages = {self.images}\n"
                f"vms = {self.vms}\nrun = {self.run_dir}\nkey = {self.key}\n"
                f"ethers = {self.ethers}\nleases = {self.leases}\n{extra}")

    def write_conf(self, body: str, server_extra: str = "") -> Path:
        """duet.conf = our [server] section, then body."""
        self.conf.write_text(self.server_section(server_extra) + "\n" + body)
        return self.conf

    def run(self, *args: str, check: bool = False, timeout: float = 120,
            input: str | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
        r = subprocess.run([str(DUET), "-c", str(self.conf), *args], capture_output=True,
                           text=True, timeout=timeout, input=input,
                           env={**os.environ, **(env or {})})
        if check and r.returncode != 0:
            raise AssertionError(f"duet {' '.join(args)}: exit {r.returncode}\n"
                                 f"stdout:\n{r.stdout}\nstderr:\n{r.stderr}")
        return r


@pytest.fixture
def server(tmp_path: Path) -> Server:
    if not DUET.exists():
        pytest.fail(f"{DUET} is not built (make {DUET.relative_to(ROOT)})")
    return Server(tmp_path)


def assert_clean_error(r: subprocess.CompletedProcess, *needles: str) -> None:
    """A failure told in clear lines: non-zero exit, 'duet' or a file name
    leading, every needle in stderr, no crash."""
    assert r.returncode not in (0,) and r.returncode < 128, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr and "Sanitizer" not in r.stderr, r.stderr
    for n in needles:
        assert n in r.stderr, f"{n!r} not in stderr:\n{r.stderr}"
