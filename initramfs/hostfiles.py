"""What the image builders and the rig take from this machine: the shared
libraries a host program links (as ldd resolves them)."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path


class HostFileError(Exception):
    pass


def shared_libraries(binary: str | Path) -> list[str]:
    """The absolute paths ldd lists for a host program ([] if static)."""
    p = subprocess.run(["ldd", str(binary)], capture_output=True, text=True)
    if p.returncode != 0:
        if "not a dynamic executable" in p.stdout + p.stderr:
            return []
        raise HostFileError(f"ldd {binary} failed: {p.stdout}{p.stderr}".strip())
    libs = []
    for line in p.stdout.splitlines():
        line = line.strip()
        if "not found" in line:
            raise HostFileError(f"{binary} needs {line.split()[0]}, which ldd cannot find")
        m = re.match(r"\S+ => (/\S+)", line) or re.match(r"(/\S+)", line)
        if m:
            libs.append(m.group(1))
    return libs
