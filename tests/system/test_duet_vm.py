"""`duet vm` on a real KVM: inside the rig (nested SVM), where the boot
loader of an install ISO runs, which this machine's own KVM cannot emulate
(tests/server/test_vm.py stops at SeaBIOS there). A server VM is created
from Debian's iPXE ISO, started under its supervisor with a headless
duet-display, boots the ISO through to iPXE, shows its screen over VNC,
and is stopped and destroyed."""
from __future__ import annotations

from rig import REPO, assert_ok, run_rig

DUET = REPO / "build" / "bin" / "duet"
VMM = REPO / "build" / "bin" / "duet-vmm"
DISPLAY = REPO / "build" / "bin" / "duet-display"
VNC_CLIENT = REPO / "build" / "asan" / "tests" / "display" / "vnc_client"
FIRMWARE = {
    "/usr/share/seabios/bios-256k.bin": "/usr/share/seabios/bios-256k.bin",
    "/usr/share/seabios/vgabios-stdvga.bin": "/usr/share/seabios/vgabios-stdvga.bin",
    "/iso/ipxe.iso": "/usr/lib/ipxe/ipxe.iso",
}

SCRIPT = r"""
mkdir -p /etc/duet
printf '[server]\nvms = /srv/vms\nrun = /run/duet-server\ntftp-root = /srv/tftp\n' > /etc/duet/duet.conf
D="duet -c /etc/duet/duet.conf"
$D vm create school --memory 128M --disk-size 64M --iso /iso/ipxe.iso --net none \
    --vnc-port 5901 > /out/create.txt 2>&1
$D vm start school > /out/start.txt 2>&1
for i in $(seq 1 600); do grep -q "iPXE" /srv/vms/school/serial.log 2>/dev/null && break; sleep 0.2; done
sleep 2
$D vm list > /out/list.txt 2>&1
vnc_client --timeout 20 --out /out/screen.ppm 127.0.0.1 5901 > /out/vnc.txt 2>&1
cp /srv/vms/school/serial.log /out/serial.log 2>/dev/null
cp /srv/vms/school/*.log /out/ 2>/dev/null
$D vm stop school --force > /out/stop.txt 2>&1
$D vm destroy school --yes > /out/destroy.txt 2>&1
ls /srv/vms > /out/after.txt 2>&1
"""


def lit_share(ppm: bytes) -> float:
    """The share of pixels that are not black in a binary PPM."""
    header, rest = ppm.split(b"\n", 1)
    assert header == b"P6", header
    dims, rest = rest.split(b"\n", 1)
    _, px = rest.split(b"\n", 1)
    w, h = map(int, dims.split())
    lit = sum(1 for i in range(0, w * h * 3, 3 * 7) if px[i] | px[i + 1] | px[i + 2])
    return lit / len(range(0, w * h * 3, 3 * 7))


def test_duet_vm_boots_an_install_iso():
    for p in (DUET, VMM, DISPLAY, VNC_CLIENT):
        assert p.exists(), f"{p} is not built (make check builds it)"
    r = run_rig(SCRIPT, files=dict(FIRMWARE), binaries=[DUET, VMM, DISPLAY, VNC_CLIENT],
                timeout=240)
    assert_ok(r)
    out = {k: v.decode(errors="replace") for k, v in r.files.items() if not k.endswith(".ppm")}
    detail = "\n".join(f"--- {k} ---\n{v[-1500:]}" for k, v in sorted(out.items()))
    assert "vm 'school' created" in out.get("create.txt", ""), detail
    serial = out.get("serial.log", "")
    assert "Booting from DVD/CD" in serial and "ISOLINUX" in serial, detail
    assert "iPXE initialising devices...ok" in serial, "the ISO's iPXE did not start in the VM" + detail
    assert "running" in out.get("list.txt", ""), detail
    screen = r.files.get("screen.ppm")
    assert screen, "no VNC picture of the VM" + detail
    assert lit_share(screen) > 0.001, "the VM's VNC screen is black" + detail
    assert "school" not in out.get("after.txt", "x"), "destroy left the VM's folder" + detail

