"""duet-vmm's virtio-blk in the rig, with Debian's stock kernel and its
virtio_blk driver: a 64 MiB raw image and a read-only second disk.

First boot: the guest writes a pattern (and the disk's last 4 KiB) and
syncs, drops its caches and reads the pattern back, discards a second copy,
checks that vdb is read-only and reads it whole; then, with direct writes
and reads still in flight, it resets the machine (reboot=pci). Second boot
(a marker on the disk tells it apart): the pattern is still there, writes
still work, and the guest powers off, which ends duet-vmm with status 0.
After duet-vmm has exited the rig checks the image files themselves: the
pattern is in the image, the discarded range is a hole, the read-only image
is unchanged. One rig boot, ~25 s (more on a loaded machine)."""
from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

from guest import build_initrd, guest_kernel
from rig import assert_ok, run_rig

REPO = Path(__file__).resolve().parent.parent.parent
VMM = REPO / "build" / "bin" / "duet-vmm"

MODULES = ["virtio_pci", "virtio_blk"]
MIB = 1 << 20

# The same bytes on both sides: busybox seq in the guest, Python here.
PATTERN = ("\n".join(str(i) for i in range(1, 300001)) + "\n").encode()[:MIB]
PATTERN_CMD = "seq 1 300000 | head -c 1048576"

# vda: the pattern at 1 MiB (kept) and at 8 MiB (discarded), the marker at
# 20 MiB, the pattern's first 4 KiB in the last block.
GUEST_SCRIPT = PATTERN_CMD + r""" > /tmp/pat
want=$(sha256sum < /tmp/pat | cut -d' ' -f1)
readback() { dd if=/dev/vda bs=65536 skip=$1 count=16 2>/dev/null | sha256sum | cut -d' ' -f1; }

if [ "$(dd if=/dev/vda bs=512 skip=40960 count=1 2>/dev/null | head -c 11)" = duet-marker ]; then
    [ "$(readback 16)" = "$want" ] && echo "guest: readback after reset ok"
    dd if=/tmp/pat of=/dev/vda bs=65536 seek=16 conv=fsync 2>/dev/null &&
        echo "guest: write after reset ok"
    echo "guest: done"
    poweroff -f
fi

b=/sys/block
echo "guest: vda size=$(cat $b/vda/size) ro=$(cat $b/vda/ro) serial=$(cat $b/vda/serial)"
echo "guest: vdb size=$(cat $b/vdb/size) ro=$(cat $b/vdb/ro) serial=$(cat $b/vdb/serial)"
echo "guest: vda discard_max=$(cat $b/vda/queue/discard_max_bytes) vdb discard_max=$(cat $b/vdb/queue/discard_max_bytes)"
dd if=/tmp/pat of=/dev/vda bs=65536 seek=16 2>/dev/null && echo "guest: write 1M ok"
dd if=/tmp/pat of=/dev/vda bs=65536 seek=128 2>/dev/null && echo "guest: write 8M ok"
head -c 4096 /tmp/pat | dd of=/dev/vda bs=4096 seek=16383 2>/dev/null && echo "guest: write last ok"
sync
echo 3 > /proc/sys/vm/drop_caches
got=$(readback 16)
[ "$got" = "$want" ] && echo "guest: readback ok" || echo "guest: readback MISMATCH $got"
busybox blkdiscard -o 8388608 -l 1048576 /dev/vda && echo "guest: discard ok"
sync
echo 3 > /proc/sys/vm/drop_caches
echo "guest: after discard $(readback 128)"
if dd if=/dev/zero of=/dev/vdb bs=512 count=1 2>/dev/null; then echo "guest: vdb write WORKED"; else echo "guest: vdb write refused"; fi
echo "guest: vdb sha256 $(sha256sum < /dev/vdb | cut -d' ' -f1)"

echo duet-marker | dd of=/dev/vda bs=512 seek=40960 conv=sync,fsync 2>/dev/null
# the same pattern again (the image's content stays known), and reads
while :; do dd if=/tmp/pat of=/dev/vda bs=65536 seek=16 oflag=direct 2>/dev/null; done &
dd if=/dev/vda of=/dev/null bs=1M iflag=direct 2>/dev/null &
sleep 0.3
echo "guest: resetting with requests in flight"
reboot -f
"""

HOST_SCRIPT = r"""
truncate -s 64M /tmp/disk.img
head -c 2097152 /dev/urandom > /tmp/ro.img
sha256sum < /tmp/ro.img | cut -d' ' -f1 > /out/ro.before
duet-vmm --memory 256M --kernel /guest/vmlinuz --initrd /guest/initrd.gz \
    --append 'console=ttyS0 quiet panic=-1 reboot=pci' --serial /out/guest.log \
    --disk file=/tmp/disk.img --disk file=/tmp/ro.img,ro 2> /out/vmm.err
echo $? > /out/vmm.status
sha256sum < /tmp/ro.img | cut -d' ' -f1 > /out/ro.after
dd if=/tmp/disk.img bs=65536 skip=16 count=16 2>/dev/null | sha256sum | cut -d' ' -f1 > /out/pattern
dd if=/tmp/disk.img bs=65536 skip=128 count=16 2>/dev/null | sha256sum | cut -d' ' -f1 > /out/discarded
tail -c 4096 /tmp/disk.img | sha256sum | cut -d' ' -f1 > /out/last
du -k /tmp/disk.img | cut -f1 > /out/du
"""


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_disk_io_discard_read_only_and_reset():
    with tempfile.TemporaryDirectory() as tmp:
        initrd = Path(tmp) / "initrd.gz"
        initrd.write_bytes(build_initrd(GUEST_SCRIPT, MODULES))
        r = run_rig(HOST_SCRIPT, binaries=[VMM], timeout=150,
                    files={"/guest/vmlinuz": str(guest_kernel()), "/guest/initrd.gz": str(initrd)})
    assert_ok(r)
    out = {name: data.decode(errors="replace").strip() for name, data in r.files.items()}
    log = out.get("guest.log", "")
    detail = f"\n--- guest log ---\n{log[-3000:]}\n--- duet-vmm stderr ---\n{out.get('vmm.err')}"

    # what the guest saw: capacity, flags, serials, discard only on vda
    assert "guest: vda size=131072 ro=0 serial=duet-0" in log, detail
    assert "guest: vdb size=4096 ro=1 serial=duet-1" in log, detail
    assert "guest: vda discard_max=2147483648 vdb discard_max=0" in log, detail
    for step in ("write 1M ok", "write 8M ok", "write last ok", "readback ok", "discard ok",
                 "vdb write refused", "resetting with requests in flight",
                 "readback after reset ok", "write after reset ok", "done"):
        assert f"guest: {step}" in log, f"guest step '{step}' missing" + detail
    zeroes = sha(bytes(MIB))
    assert f"guest: after discard {zeroes}" in log, "the discarded range does not read as zeroes" + detail
    assert f"guest: vdb sha256 {out['ro.before']}" in log, "vdb did not read back as the image" + detail
    assert "restarting it (restart 1)" in out["vmm.err"], "the guest did not reset" + detail
    assert out["vmm.status"] == "0", "duet-vmm did not end with status 0 at the power-off" + detail
    # the image files, after duet-vmm exited
    assert out["pattern"] == sha(PATTERN), "the image does not hold the pattern" + detail
    assert out["last"] == sha(PATTERN[:4096]), "the disk's last block is not in the image" + detail
    assert out["discarded"] == zeroes, detail
    # 1 MiB of pattern and two 4 KiB blocks are allocated; the discarded MiB is not
    assert int(out["du"]) < 1024 + 512, f"image uses {out['du']} KiB: no hole punched" + detail
    assert out["ro.after"] == out["ro.before"], "the read-only image changed" + detail
