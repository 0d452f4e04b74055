"""duet-vmm boots Debian's stock kernel (the LTSP guest's "kernel" boot) in
the rig: 2 vCPUs reported by the guest through ACPI (MADT) and the IOAPIC,
virtio-rng and the virtio keyboard working, the control socket's powerdown
reaching the guest as an ACPI power-button press, and the guest's own
power-off ending duet-vmm with status 0. A guest reset through the i8042
(reboot=kbd) restarts the guest in place."""
from __future__ import annotations

import tempfile
from pathlib import Path

from guest import build_initrd, guest_kernel
from rig import assert_ok, run_rig

REPO = Path(__file__).resolve().parent.parent.parent
VMM = REPO / "build" / "bin" / "duet-vmm"
VMCTL = REPO / "build" / "bin" / "duet-vmctl"

MODULES = ["virtio_pci", "virtio_rng", "virtio_input", "evdev", "button"]

# The guest: report what it sees, then wait for the virtio keyboard's key
# and the power button, each read from its evdev node.
GUEST_SCRIPT = r"""
evdev_of() {
    for d in /sys/class/input/input*; do
        if [ "$(cat $d/name)" = "$1" ]; then ls $d | grep ^event; return; fi
    done
}
echo "guest: cpus=$(grep -c ^processor /proc/cpuinfo)"
echo "guest: ioapic=$(grep -c IO-APIC /proc/interrupts)"
echo "guest: rng=$(cat /sys/class/misc/hw_random/rng_current)"
echo "guest: rngbytes=$(head -c 64 /dev/hwrng | wc -c)"
kbd=$(evdev_of "duet keyboard")
pwr=$(evdev_of "Power Button")
echo "guest: keyboard=$kbd power=$pwr"
head -c 24 /dev/input/$kbd > /tmp/key &
echo "guest: READY"
head -c 24 /dev/input/$pwr > /dev/null
echo "guest: key event bytes=$(wc -c < /tmp/key)"
echo "guest: power button pressed, powering off"
poweroff -f
"""

HOST_SCRIPT = r"""
duet-vmm --name ltsp --cpus 2 --memory 256M --kernel /guest/vmlinuz --initrd /guest/initrd.gz \
    --append 'console=ttyS0 quiet panic=-1' --control /run/vmm.sock --serial /out/guest.log &
vmm=$!
for i in $(seq 1 600); do grep -q 'guest: READY' /out/guest.log 2>/dev/null && break; sleep 0.2; done
duet-vmctl /run/vmm.sock status > /out/status.json
duet-vmctl /run/vmm.sock sendkey keys=bogus-key > /out/badkey.json; echo "badkey=$?" > /out/ctl.txt
duet-vmctl /run/vmm.sock sendkey keys=a > /out/key.json
sleep 1
duet-vmctl /run/vmm.sock powerdown > /out/powerdown.json
wait $vmm
echo "vmm-exit=$?" >> /out/ctl.txt
"""


def _files(initrd: bytes, tmp: Path) -> dict:
    path = tmp / "initrd.gz"
    path.write_bytes(initrd)
    return {"/guest/vmlinuz": str(guest_kernel()), "/guest/initrd.gz": str(path)}


def test_smp_acpi_input_and_powerdown():
    with tempfile.TemporaryDirectory() as tmp:
        r = run_rig(HOST_SCRIPT, files=_files(build_initrd(GUEST_SCRIPT, MODULES), Path(tmp)),
                    binaries=[VMM, VMCTL], timeout=240)
    assert_ok(r)
    log = r.files["guest.log"].decode(errors="replace")
    ctl = r.files["ctl.txt"].decode()
    detail = f"\n--- guest log ---\n{log[-3000:]}\n--- ctl ---\n{ctl}"
    assert "guest: cpus=2" in log, detail
    assert "guest: ioapic=0" not in log, "the guest found no IOAPIC" + detail
    assert "guest: rng=virtio_rng.0" in log and "guest: rngbytes=64" in log, detail
    assert '"state":"running"' in r.files["status.json"].decode() and '"cpus":2' in r.files["status.json"].decode()
    assert "badkey=1" in ctl and "unknown key" in r.files["badkey.json"].decode(), detail
    assert "guest: key event bytes=24" in log, "the virtio keyboard event did not arrive" + detail
    assert "guest: power button pressed" in log, detail
    assert "vmm-exit=0" in ctl, "duet-vmm did not end with status 0 after the guest powered off" + detail


RESET_SCRIPT = r"""
echo "guest: boot"
reboot -f
"""

RESET_HOST = r"""
duet-vmm --memory 192M --kernel /guest/vmlinuz --initrd /guest/initrd.gz \
    --append 'console=ttyS0 quiet panic=-1 reboot=kbd' --control /run/vmm.sock --serial /out/guest.log &
vmm=$!
for i in $(seq 1 900); do
    n=$(grep -c 'guest: boot' /out/guest.log 2>/dev/null)
    [ "${n:-0}" -ge 2 ] && break
    sleep 0.2
done
duet-vmctl /run/vmm.sock status > /out/status.json
duet-vmctl /run/vmm.sock quit
wait $vmm
echo "vmm-exit=$?" > /out/ctl.txt
"""


def test_i8042_reset_restarts_the_guest():
    with tempfile.TemporaryDirectory() as tmp:
        r = run_rig(RESET_HOST, files=_files(build_initrd(RESET_SCRIPT, []), Path(tmp)),
                    binaries=[VMM, VMCTL], timeout=240)
    assert_ok(r)
    log = r.files["guest.log"].decode(errors="replace")
    status = r.files["status.json"].decode()
    assert log.count("guest: boot") >= 2, log[-3000:]
    assert '"restarts":0' not in status and '"ok":true' in status, status
    assert "vmm-exit=0" in r.files["ctl.txt"].decode()
