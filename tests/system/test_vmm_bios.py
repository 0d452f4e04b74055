"""The Windows slot's platform in the rig: SeaBIOS on duet-vmm's
i440FX/PIIX machine.

(a) SeaBIOS POSTs and its boot menu appears on the VGA screen; the
    screendump matches a golden image (tests/system/golden/) within a
    tolerance.
(b) An IDE disk made bootable with Debian's syslinux boots Debian's kernel
    through the BIOS; Linux restarts the machine and it boots again through
    SeaBIOS (as Windows restarts); its init then reports ata_piix and the disk, ACPI with no
    errors, a bochs framebuffer on the std-VGA, PS/2 keyboard and mouse,
    our SMBIOS tables as Linux read them (maker, model, --uuid, the RAM
    and the CPUs), and powers off through ACPI S5 (duet-vmm exits 0).
(c) Debian's iPXE ISO boots from the ATAPI CD-ROM.
(d) The guest PXE-boots through the e1000's iPXE option ROM from dnsmasq's
    DHCP and TFTP servers inside the rig.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from guest import build_initrd, guest_kernel, make_syslinux_disk
from pngread import png_pixels
from rig import assert_ok, run_rig

REPO = Path(__file__).resolve().parent.parent.parent
VMM = REPO / "build" / "bin" / "duet-vmm"
VMCTL = REPO / "build" / "bin" / "duet-vmctl"
GOLDEN = Path(__file__).resolve().parent / "golden"
FIRMWARE = {
    "/usr/share/seabios/bios-256k.bin": "/usr/share/seabios/bios-256k.bin",
    "/usr/share/seabios/vgabios-stdvga.bin": "/usr/share/seabios/vgabios-stdvga.bin",
}


def differing_pixels(a: bytes, b: bytes) -> int:
    wa, ha, pa = png_pixels(a)
    wb, hb, pb = png_pixels(b)
    assert (wa, ha) == (wb, hb), f"size {wa}x{ha}, golden {wb}x{hb}"
    return sum(1 for i in range(0, len(pa), 3) if abs(pa[i] - pb[i]) + abs(pa[i + 1] - pb[i + 1])
               + abs(pa[i + 2] - pb[i + 2]) > 48)


MENU = r"""
duet-vmm --bios --boot-menu --memory 128M --cdrom /iso/ipxe.iso --control /run/b.sock \
    --serial /out/serial.log &
vmm=$!
for i in $(seq 1 300); do grep -q "Press ESC" /out/serial.log 2>/dev/null && break; sleep 0.2; done
duet-vmctl /run/b.sock sendkey keys=esc
for i in $(seq 1 100); do grep -q "Select boot device" /out/serial.log 2>/dev/null && break; sleep 0.2; done
for n in 1 2 3 4 5; do sleep 1; duet-vmctl /run/b.sock screendump file=/out/menu$n.png; done
duet-vmctl /run/b.sock quit
wait $vmm
echo "vmm-exit=$?" > /out/exit.txt
"""


def test_seabios_boot_menu_on_vga():
    files = dict(FIRMWARE)
    files["/iso/ipxe.iso"] = "/usr/lib/ipxe/ipxe.iso"
    r = run_rig(MENU, files=files, binaries=[VMM, VMCTL], timeout=180)
    assert_ok(r)
    serial = r.files["serial.log"].decode(errors="replace")
    assert "Select boot device" in serial, serial[-2000:]
    assert "DVD/CD" in serial, "the CD-ROM is not in the boot menu:\n" + serial[-2000:]
    # Five screendumps a second apart: the menu must be on the screen in
    # them (the text cursor blinks, hence the tolerance).
    golden = GOLDEN / "seabios_boot_menu.png"
    bads = []
    for n in range(1, 6):
        shot = r.files[f"menu{n}.png"]
        (REPO / "build" / f"seabios_boot_menu{n}.png").write_bytes(shot)
        bads.append(differing_pixels(shot, golden.read_bytes()))
    assert min(bads) < 200, (f"pixels differing from {golden} in each screendump: {bads} "
                             "(see build/seabios_boot_menu*.png)")
    assert "vmm-exit=0" in r.files["exit.txt"].decode()


GUEST = r"""
# The first boot restarts the machine from Linux (the reset register, as
# Windows restarts after an update) and leaves a mark in the disk's last
# sector, outside the FAT; the second boot reports and powers off.
mark=$(dd if=/dev/sda bs=512 skip=131071 count=1 2>/dev/null | head -c 13)
if [ "$mark" != "duet-rebooted" ]; then
    printf 'duet-rebooted' | dd of=/dev/sda bs=512 seek=131071 conv=notrunc 2>/dev/null
    sync
    echo "guest: restarting the machine"
    reboot -f
fi
echo "guest: booted again after the restart"
# psmouse probes the AUX port in the background: give it a moment.
for i in $(seq 1 50); do grep -q 'PS/2' /proc/bus/input/devices && break; sleep 0.1; done
echo "guest: ata_piix=$(grep -c '^ata_piix ' /proc/modules) disk=$(cat /sys/block/sda/size 2>/dev/null)"
echo "guest: acpi-errors=$(dmesg | grep -i acpi | grep -ci -e error -e exception)"
echo "guest: acpi=$(ls /sys/firmware/acpi/tables | grep -c -e DSDT -e FACP -e APIC)"
echo "guest: fb=$(cat /sys/class/graphics/fb0/name 2>/dev/null)"
printf '#!/bin/sh\n[ "$1" = bound ] && echo "guest: lease $ip"\nexit 0\n' > /tmp/dhcp.sh
chmod +x /tmp/dhcp.sh
echo "guest: nic=$(cat /sys/class/net/eth0/device/vendor):$(cat /sys/class/net/eth0/device/device)"
ip link set eth0 up
udhcpc -i eth0 -s /tmp/dhcp.sh -q -n -t 10 -T 1 || echo "guest: no lease"
grep -h '^N: Name=' /proc/bus/input/devices | sed 's/^/guest: input /'
d=/sys/class/dmi/id
echo "guest: dmi vendor=$(cat $d/sys_vendor) product=$(cat $d/product_name) uuid=$(cat $d/product_uuid)"
echo "guest: dmi bios=$(cat $d/bios_vendor) asset=$(cat $d/chassis_asset_tag) chassis=$(cat $d/chassis_type)"
echo "guest: cpus=$(grep -c ^processor /proc/cpuinfo)"
dmesg | grep -m1 ' DMI: ' | awk '{print "guest: dmesg", $0}'
od -An -v -tx1 /sys/firmware/dmi/tables/DMI | awk '{print "guest: dmi-hex", $0}'
poweroff -f
"""

UUID = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
HOST = rf"""
duet-vmm --bios --name windows --uuid {UUID} --memory 256M --cpus 2 --disk file=/disk/boot.img \
    --net user --serial /out/serial.log
echo "vmm-exit=$?" > /out/exit.txt
"""


def dmi_structures(table: bytes) -> list[tuple[int, bytes, list[bytes]]]:
    """(type, formatted area, strings) of each SMBIOS structure in the
    table Linux exports (DSP0134 6.1), up to type 127."""
    out, pos = [], 0
    while pos + 4 <= len(table):
        kind, length = table[pos], table[pos + 1]
        end = table.index(b"\0\0", pos + length)
        out.append((kind, table[pos:pos + length], [s for s in table[pos + length:end].split(b"\0")]))
        pos = end + 2
        if kind == 127:
            break
    return out


def dmi_memory(structures: list[tuple[int, bytes, list[bytes]]]) -> tuple[int, int]:
    """Bytes of RAM in the type 17 devices and in the type 19 ranges."""
    devices = ranges = 0
    for kind, area, _ in structures:
        if kind == 17:
            size = int.from_bytes(area[0x0c:0x0e], "little")
            if size == 0x7fff:
                devices += (int.from_bytes(area[0x1c:0x20], "little") & 0x7fffffff) << 20
            else:
                devices += (size & 0x7fff) << (10 if size & 0x8000 else 20)
        elif kind == 19:
            start, end = (int.from_bytes(area[o:o + 4], "little") for o in (4, 8))
            ranges += (end + 1 - start) << 10
    return devices, ranges


def test_ide_disk_boots_linux_through_seabios():
    initrd = build_initrd(GUEST, ["ata_piix", "sd_mod", "bochs", "psmouse", "button", "e1000"])
    with tempfile.TemporaryDirectory() as tmp:
        disk = Path(tmp) / "boot.img"
        make_syslinux_disk(disk, guest_kernel(), initrd, "console=ttyS0 quiet panic=-1")
        files = dict(FIRMWARE)
        files["/usr/lib/ipxe/qemu/pxe-e1000.rom"] = "/usr/lib/ipxe/qemu/pxe-e1000.rom"
        files["/disk/boot.img"] = str(disk)
        r = run_rig(HOST, files=files, binaries=[VMM], timeout=300)
    assert_ok(r)
    serial = r.files["serial.log"].decode(errors="replace")
    detail = "\n--- guest serial ---\n" + serial[-3000:]
    assert "guest: restarting the machine" in serial, detail
    assert "guest: booted again after the restart" in serial, \
        "SeaBIOS did not come back after Linux reset the machine" + detail
    assert serial.count("SeaBIOS (version") == 2, detail
    assert "guest: ata_piix=1 disk=131072" in serial, detail
    assert "guest: acpi-errors=0" in serial and "guest: acpi=3" in serial, detail
    assert "guest: fb=bochs" in serial, detail
    assert "AT Translated Set 2 keyboard" in serial and "PS/2" in serial, detail
    assert "guest: nic=0x8086:0x100e" in serial, detail
    assert "guest: lease 10.0.2.15" in serial, "the e1000 got no DHCP lease" + detail
    # SMBIOS: Linux found our tables, not SeaBIOS's own.
    assert (f"guest: dmi vendor=duet product=duet-vmm (i440FX + PIIX) uuid={UUID}"
            in serial), detail
    assert "guest: dmi bios=SeaBIOS asset=windows chassis=3" in serial, detail
    assert "DMI: duet duet-vmm (i440FX + PIIX), BIOS 1.16" in serial, detail
    assert "guest: cpus=2" in serial, detail
    table = bytes(int(x, 16) for line in serial.splitlines() if line.startswith("guest: dmi-hex ")
                  for x in line.split()[2:])
    structures = dmi_structures(table)
    assert [k for k, _, _ in structures].count(0) == 1, structures
    assert dmi_memory(structures) == (256 << 20, 256 << 20), structures
    cpus = [a for k, a, _ in structures if k == 4]
    assert len(cpus) == 1 and cpus[0][0x23] == 2 and cpus[0][0x25] == 2, cpus
    assert "vmm-exit=0" in r.files["exit.txt"].decode(), "no power-off through S5" + detail


CDROM = r"""
duet-vmm --bios --memory 128M --cdrom /iso/ipxe.iso --boot cdrom --serial /out/serial.log &
vmm=$!
for i in $(seq 1 400); do grep -q "iPXE" /out/serial.log 2>/dev/null && break; sleep 0.2; done
sleep 2
kill $vmm
"""


def test_ipxe_iso_boots_from_the_cdrom():
    files = dict(FIRMWARE)
    files["/iso/ipxe.iso"] = "/usr/lib/ipxe/ipxe.iso"
    r = run_rig(CDROM, files=files, binaries=[VMM], timeout=180)
    assert_ok(r)
    serial = r.files["serial.log"].decode(errors="replace")
    assert "Booting from DVD/CD" in serial, serial[-2000:]
    assert "iPXE" in serial, "iPXE did not start from the CD:\n" + serial[-2000:]


PXE = r"""
mkdir -p /tftp
printf '#!ipxe\necho duet-pxe: script fetched over TFTP from dnsmasq\n' > /tftp/boot.ipxe
tunctl -t tap0 > /dev/null
ip addr add 192.168.78.1/24 dev tap0
ip link set tap0 up
# iPXE (2019) waits ~15 of its seconds for an IPv6 router advertisement
# after its DHCP lease, minutes in a loaded rig: dnsmasq sends one.
ip -6 addr add fd00:78::1/64 dev tap0 nodad
dnsmasq --port=0 --interface=tap0 --bind-interfaces --dhcp-range=192.168.78.50,192.168.78.99 \
    --enable-ra --dhcp-range=fd00:78::,ra-only \
    --enable-tftp --tftp-root=/tftp --dhcp-boot=boot.ipxe --log-dhcp --log-facility=/out/dnsmasq.log \
    --dhcp-leasefile=/tmp/dnsmasq.leases --pid-file=/run/dnsmasq.pid --user=root --group=root
duet-vmm --bios --memory 128M --net tap=tap0 --boot net --serial /out/serial.log \
    --control /run/vmm.sock 2> /out/vmm.stderr &
vmm=$!
end=$(($(date +%s) + 150))
while [ $(date +%s) -lt $end ] && ! grep -q "duet-pxe:" /out/serial.log 2>/dev/null; do sleep 0.5; done
sleep 1
# for the failure message: what crossed the TAP, and the VMM's state
cat /proc/net/dev > /out/tap0.txt 2>&1
duet-vmctl /run/vmm.sock status >> /out/tap0.txt 2>&1
kill $vmm
kill $(cat /run/dnsmasq.pid) 2>/dev/null; true
"""


def test_pxe_boot_through_the_e1000_rom():
    files = dict(FIRMWARE)
    files["/usr/lib/ipxe/qemu/pxe-e1000.rom"] = "/usr/lib/ipxe/qemu/pxe-e1000.rom"
    r = run_rig(PXE, files=files, binaries=[VMM, VMCTL, shutil.which("dnsmasq")],
                modules=["tun"], timeout=240)
    assert_ok(r)
    serial = r.files["serial.log"].decode(errors="replace")
    log = r.files.get("dnsmasq.log", b"").decode(errors="replace")
    tap = r.files.get("tap0.txt", b"").decode(errors="replace")
    vmm = r.files.get("vmm.stderr", b"").decode(errors="replace")
    detail = (f"\n--- guest serial ---\n{serial[-2500:]}\n--- dnsmasq ---\n{log[-4000:]}"
              f"\n--- tap0 and duet-vmm ---\n{tap}\n{vmm[-1500:]}")
    assert "iPXE" in serial, "the e1000's iPXE ROM did not run" + detail
    assert "sent /tftp/boot.ipxe" in log, "dnsmasq served no boot file" + detail
    assert "duet-pxe: script fetched over TFTP from dnsmasq" in serial, detail
