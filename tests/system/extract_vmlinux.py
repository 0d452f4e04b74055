#!/usr/bin/env python3
"""Extract the uncompressed ELF vmlinux from a bzImage.

usage: extract_vmlinux.py BZIMAGE OUT

The rig boots this ELF with QEMU's -kernel, which then uses the kernel's PVH
entry point: that skips the real-mode setup and the decompressor, which under
TCG take ~2.5 s of every boot (Debian's kernel is xz-compressed).
"""

import lzma
import os
import sys
import zlib


def extract(image: bytes) -> bytes:
    candidates = [
        (b"\xfd7zXZ\x00", lambda d: lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(d)),
        (b"\x1f\x8b\x08", lambda d: zlib.decompressobj(wbits=31).decompress(d)),
    ]
    for magic, decompress in candidates:
        pos = image.find(magic)
        while pos >= 0:
            try:
                out = decompress(image[pos:])
            except (lzma.LZMAError, zlib.error):
                out = b""
            if out.startswith(b"\x7fELF"):
                return out
            pos = image.find(magic, pos + 1)
    raise SystemExit("extract_vmlinux: no xz or gzip compressed ELF kernel found")


def main() -> None:
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    src, dst = sys.argv[1:]
    with open(src, "rb") as f:
        vmlinux = extract(f.read())
    with open(dst + ".tmp", "wb") as f:
        f.write(vmlinux)
    os.replace(dst + ".tmp", dst)


if __name__ == "__main__":
    main()
