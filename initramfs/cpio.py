"""A writer for the kernel's initramfs format (cpio "newc").

Shared by the classroom image builder (initramfs/mkimage.py), the LTSP
guest builder and the test rig. The output depends only on what is added
and in which order: inode numbers count up from a fixed start, every entry
is owned by root, and every timestamp is `mtime` (SOURCE_DATE_EPOCH for
reproducible images, 0 by default).
"""
from __future__ import annotations

import io
import os
import stat
from pathlib import Path


class Cpio:
    def __init__(self, mtime: int = 0) -> None:
        self.buf = io.BytesIO()
        self.ino = 1000
        self.mtime = mtime
        self.dirs: set[str] = set()
        self.names: set[str] = set()

    def _entry(self, name: str, mode: int, data: bytes = b"", rdev: tuple[int, int] = (0, 0)) -> None:
        name = name.strip("/") or "."
        nameb = name.encode() + b"\0"
        self.ino += 1
        nlink = 2 if stat.S_ISDIR(mode) else 1
        fields = [self.ino, mode, 0, 0, nlink, self.mtime, len(data), 0, 0, rdev[0], rdev[1],
                  len(nameb), 0]
        hdr = b"070701" + b"".join(b"%08X" % f for f in fields)
        self.buf.write(hdr + nameb)
        self.buf.write(b"\0" * (-(len(hdr) + len(nameb)) % 4))
        self.buf.write(data)
        self.buf.write(b"\0" * (-len(data) % 4))
        self.names.add(name)

    def mkdir(self, path: str, mode: int = 0o755) -> None:
        path = path.strip("/")
        if not path or path in self.dirs:
            return
        self.mkdir(os.path.dirname(path))
        self.dirs.add(path)
        self._entry(path, stat.S_IFDIR | mode)

    def file(self, path: str, data: bytes, mode: int = 0o644) -> None:
        self.mkdir(os.path.dirname(path.strip("/")))
        self._entry(path, stat.S_IFREG | (mode & 0o7777), data)

    def symlink(self, path: str, target: str) -> None:
        self.mkdir(os.path.dirname(path.strip("/")))
        self._entry(path, stat.S_IFLNK | 0o777, target.encode())

    def chardev(self, path: str, major: int, minor: int, mode: int = 0o600) -> None:
        self.mkdir(os.path.dirname(path.strip("/")))
        self._entry(path, stat.S_IFCHR | mode, rdev=(major, minor))

    def host_path(self, dest: str, src: Path) -> None:
        """Add a host file (followed through symlinks) or a directory tree,
        children in sorted order."""
        src = Path(src)
        if src.is_dir():
            self.mkdir(dest)
            for child in sorted(src.iterdir()):
                self.host_path(f"{dest.rstrip('/')}/{child.name}", child)
        else:
            self.file(dest, src.read_bytes(), src.stat().st_mode)

    def finish(self) -> bytes:
        self._entry("TRAILER!!!", 0)
        return self.buf.getvalue()
