"""The classroom disk in the rig: `--disk file=base.img,overlay=ram` over a
64 MiB base image holding a known pattern, with Debian's stock kernel and
its virtio_blk driver.

First boot: the guest sees the base's bytes (their sha256 is known here),
keeps a copy of the disk in its tmpfs as the model, then writes heavily:
24 MiB of random data at 8 MiB and 200 direct writes of 1-64 sectors at
random sector offsets (most of them inside a 4 KiB cluster, so the overlay
copies the rest of the cluster from the base), discards 2 MiB, and applies
the same to the model. With its caches dropped, the disk must hash as the
model does. It marks the disk and resets the machine (reboot=pci).

Second boot, same duet-vmm (the marker tells it apart): the overlay
survived the reset, so the disk hashes as at the end of the first boot;
a write still works; the guest powers off and duet-vmm ends with status 0.

Then, on the rig: the base file's sha256 is what it was before, and
duet-vmm said how much RAM the overlay held. One rig boot, ~1-2 min."""
from __future__ import annotations

import hashlib
import re
import tempfile
from pathlib import Path

from guest import build_initrd, guest_kernel
from rig import assert_ok, run_rig

REPO = Path(__file__).resolve().parent.parent.parent
VMM = REPO / "build" / "bin" / "duet-vmm"

MODULES = ["virtio_pci", "virtio_blk"]
MIB = 1 << 20
BASE_MIB = 64

# The base: 64 chunks of 1 MiB, each a header naming its place and then
# busybox seq's output, so a read from the wrong place shows. The same
# bytes on both sides: the rig's shell builds the file, Python its hash.
SEQ = ("\n".join(str(i) for i in range(1, 300001)) + "\n").encode()
BASE = b"".join((f"duet-base MiB {i:02d}\n".encode() + SEQ)[:MIB] for i in range(BASE_MIB))
BASE_CMD = r"""
seq 1 300000 | head -c 1048576 > /tmp/seq
i=0
while [ $i -lt 64 ]; do
    { printf 'duet-base MiB %02d\n' $i; cat /tmp/seq; } | head -c 1048576
    i=$((i + 1))
done > /tmp/base.img
"""

# The marker's sector, past every random write (those end before sector
# 130064), inside the last MiB.
MARKER_SECTOR = 131000

GUEST_SCRIPT = r"""
hash() { sha256sum < $1 | cut -d' ' -f1; }
marker=$(dd if=/dev/vda bs=512 skip=%(marker)d count=1 2>/dev/null | head -c 11)
if [ "$marker" = duet-marker ]; then
    echo "guest: after reset sha256 $(hash /dev/vda)"
    dd if=/dev/urandom of=/dev/vda bs=1M seek=40 count=4 conv=fsync 2>/dev/null &&
        echo "guest: write after reset ok"
    echo "guest: done"
    poweroff -f
fi

echo "guest: vda size=$(cat /sys/block/vda/size) ro=$(cat /sys/block/vda/ro)"
dd if=/dev/vda of=/tmp/model bs=1M 2>/dev/null
echo "guest: base sha256 $(hash /tmp/model)"

# 24 MiB in one stream
dd if=/dev/urandom of=/tmp/seqdata bs=1M count=24 2>/dev/null
dd if=/tmp/seqdata of=/dev/vda bs=1M seek=8 conv=fsync 2>/dev/null &&
    dd if=/tmp/seqdata of=/tmp/model bs=1M seek=8 conv=notrunc 2>/dev/null &&
    echo "guest: 24M write ok"
rm /tmp/seqdata

# 200 direct writes of 1-64 sectors at random sectors, from a random source
head -c 4194304 /dev/urandom > /tmp/src
awk 'BEGIN { srand(7); for (i = 0; i < 200; i++)
    printf "%%d %%d %%d\n", int(rand() * 130000), 1 + int(rand() * 64), int(rand() * 8000) }' |
while read sector count skip; do
    dd if=/tmp/src of=/dev/vda bs=512 skip=$skip seek=$sector count=$count oflag=direct \
        2>/dev/null || echo "guest: write at sector $sector FAILED"
    dd if=/tmp/src of=/tmp/model bs=512 skip=$skip seek=$sector count=$count conv=notrunc \
        2>/dev/null
done
echo "guest: random writes done"

busybox blkdiscard -o 50331648 -l 2097152 /dev/vda && echo "guest: discard ok"
dd if=/dev/zero of=/tmp/model bs=1M seek=48 count=2 conv=notrunc 2>/dev/null

echo duet-marker | dd of=/dev/vda bs=512 seek=%(marker)d conv=sync,fsync 2>/dev/null
echo duet-marker | dd of=/tmp/model bs=512 seek=%(marker)d conv=sync,notrunc 2>/dev/null
sync
echo 3 > /proc/sys/vm/drop_caches
disk=$(hash /dev/vda)
model=$(hash /tmp/model)
[ "$disk" = "$model" ] && echo "guest: disk matches model" ||
    echo "guest: disk MISMATCH $disk, model $model"
echo "guest: before reset sha256 $disk"
reboot -f
""" % {"marker": MARKER_SECTOR}

HOST_SCRIPT = BASE_CMD + r"""
sha256sum < /tmp/base.img | cut -d' ' -f1 > /out/base.before
duet-vmm --memory 384M --kernel /guest/vmlinuz --initrd /guest/initrd.gz \
    --append 'console=ttyS0 quiet panic=-1 reboot=pci' --serial /out/guest.log \
    --disk file=/tmp/base.img,overlay=ram 2> /out/vmm.err
echo $? > /out/vmm.status
sha256sum < /tmp/base.img | cut -d' ' -f1 > /out/base.after
"""


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_overlay_takes_heavy_writes_and_base_never_changes():
    with tempfile.TemporaryDirectory() as tmp:
        initrd = Path(tmp) / "initrd.gz"
        initrd.write_bytes(build_initrd(GUEST_SCRIPT, MODULES))
        r = run_rig(HOST_SCRIPT, binaries=[VMM], timeout=400, memory="1536M",
                    files={"/guest/vmlinuz": str(guest_kernel()), "/guest/initrd.gz": str(initrd)})
    assert_ok(r)
    out = {name: data.decode(errors="replace").strip() for name, data in r.files.items()}
    log = out.get("guest.log", "")
    err = out.get("vmm.err", "")
    detail = f"\n--- guest log ---\n{log[-3000:]}\n--- duet-vmm stderr ---\n{err}"

    assert out["base.before"] == sha(BASE), "the rig built a different base" + detail
    # a writable disk of the base's size, showing the base's bytes
    assert f"guest: vda size={BASE_MIB * 2048} ro=0" in log, detail
    assert f"guest: base sha256 {sha(BASE)}" in log, "the guest did not see the base" + detail
    for step in ("24M write ok", "random writes done", "discard ok", "disk matches model",
                 "write after reset ok", "done"):
        assert f"guest: {step}" in log, f"guest step '{step}' missing" + detail
    assert "FAILED" not in log, detail
    # the overlay outlives a guest reset within one duet-vmm run
    before = re.search(r"guest: before reset sha256 (\w+)", log)
    after = re.search(r"guest: after reset sha256 (\w+)", log)
    assert before and after, detail
    assert after.group(1) == before.group(1), "the disk changed across the reset" + detail
    assert before.group(1) != sha(BASE), detail
    assert "restarting it (restart 1)" in err, "the guest did not reset" + detail
    assert out["vmm.status"] == "0", "duet-vmm did not end with status 0 at the power-off" + detail
    # what the overlay held: the 24 MiB stream and more, less than the disk
    held = re.search(r"the RAM overlay is dropped; it held (\d+) MiB \(at most (\d+) MiB\)", err)
    assert held, "duet-vmm did not report the overlay's size" + detail
    assert 24 < int(held.group(2)) <= BASE_MIB, detail
    # and the base is untouched
    assert out["base.after"] == out["base.before"], "the base image changed" + detail
