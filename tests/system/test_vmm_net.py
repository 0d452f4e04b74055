"""virtio-net in duet-vmm, end to end in the rig: Debian's kernel boots in
duet-vmm (nested KVM) with a busybox initramfs and talks to the rig.

- user mode (libslirp): the guest gets 10.0.2.15 by DHCP, fetches a file
  from an httpd on the rig's loopback through 10.0.2.2, and serves one
  through a hostfwd= that the rig fetches from 127.0.0.1;
- TAP: the rig makes tap0 (192.168.77.1/24) and duet-vmm attaches to it;
  the guest (192.168.77.2) and the rig ping each other, the guest fetches a
  file from the rig, the rig fetches one from the guest, and the guest
  sends 32 MB to the rig for a throughput figure.

One boot per mode; each run takes ~15-25 s under the rig's TCG.
"""

import hashlib
import re
import shutil
from pathlib import Path

import pytest

import rig
from guest import build_initrd, guest_kernel
from rig import assert_ok, run_rig

pytestmark = pytest.mark.skipif(shutil.which(rig.QEMU) is None,
                                reason=f"{rig.QEMU} not installed (package qemu-system-x86)")

VMM = Path(__file__).resolve().parents[2] / "build" / "bin" / "duet-vmm"
GUEST_MODULES = ["virtio_pci", "virtio_net"]
HOST_FILE = bytes((i * 7 + 3) & 0xff for i in range(300_000))  # rig -> guest
THROUGHPUT_MB = 16

# The guest's DHCP hook: udhcpc runs it with the lease in its environment.
DHCP_SCRIPT = r"""cat > /tmp/dhcp.sh <<'EOF'
#!/bin/sh
case "$1" in
bound|renew)
	busybox ifconfig "$interface" "$ip" netmask "$subnet"
	[ -n "$router" ] && ip route add default via "$router"
	echo "guest: lease $ip router $router dns $dns";;
esac
EOF
chmod +x /tmp/dhcp.sh
"""

# The guest serves a file the rig fetches (200 KB, its md5 printed); the
# rig's fetch of /done afterwards tells the guest it may go on.
GUEST_FILE = r"""mkdir /srv
dd if=/dev/urandom of=/srv/guest.bin bs=1k count=200 2>/dev/null
echo done > /srv/done
echo "guest: guest-file $(md5sum < /srv/guest.bin | cut -d' ' -f1)"
"""
SERVE = r"""busybox httpd -f -vv -p 80 -h /srv 2> /tmp/httpd.log &
for i in $(seq 600); do grep -q /done /tmp/httpd.log && break; sleep 0.2; done
echo "guest: served"
"""
# The rig's side of that, through `url`.
FETCH = r"""for i in $(seq 120); do
	wget -q -O /tmp/from-guest %s/guest.bin 2>/dev/null && break
	sleep 0.5
done
wget -q -O /dev/null %s/done
md5sum < /tmp/from-guest | cut -d' ' -f1 > /out/from-guest.md5
"""

# ---- user mode ----

USER_GUEST = DHCP_SCRIPT + GUEST_FILE + r"""
ip link set lo up
ip link set eth0 up
udhcpc -i eth0 -s /tmp/dhcp.sh -q -n -t 10 -T 1 || echo "guest: no lease"
wget -q -O /tmp/host.bin http://10.0.2.2:8080/host.bin || echo "guest: wget failed"
echo "guest: host-file $(md5sum < /tmp/host.bin | cut -d' ' -f1)"
nslookup duet.invalid 10.0.2.3 > /dev/null 2>&1
echo "guest: asked the DNS proxy"
""" + SERVE + "poweroff -f\n"

# Under the sandbox: hostfwd= connections come in through accept(2), and
# the guest's DNS query makes libslirp try to read /etc/resolv.conf, which
# the sandbox refuses without killing duet-vmm.
USER_RIG = r"""
busybox httpd -p 127.0.0.1:8080 -h /www
duet-vmm --name nettest --kernel /guest/vmlinuz --initrd /guest/initrd.gz \
	--append 'console=ttyS0 panic=-1 quiet' --memory 256M --no-reboot \
	--serial /out/guest.log --net user,hostfwd=tcp::5555-:80 &
vmm=$!
""" + FETCH % ("http://127.0.0.1:5555", "http://127.0.0.1:5555") + r"""wait $vmm
echo "duet-vmm exit $?"
"""

# ---- TAP ----

TAP_GUEST = GUEST_FILE + r"""
ip link set lo up
ip addr add 192.168.77.2/24 dev eth0
ip link set eth0 up
echo "guest: mac $(cat /sys/class/net/eth0/address)"
echo "guest: features $(cat /sys/class/net/eth0/device/features)"
ping -c 3 -W 5 192.168.77.1 > /tmp/ping.txt && echo "guest: ping ok"
wget -q -O /tmp/host.bin http://192.168.77.1:8080/host.bin || echo "guest: wget failed"
echo "guest: host-file $(md5sum < /tmp/host.bin | cut -d' ' -f1)"
""" + SERVE + r"""# throughput, each way
t0=$(cut -d' ' -f1 /proc/uptime)
wget -q -O /dev/null http://192.168.77.1:8080/big || echo "guest: big wget failed"
t1=$(cut -d' ' -f1 /proc/uptime)
echo "guest: rx-times $t0 $t1"
for i in $(seq 20); do
	dd if=/dev/zero bs=1M count=%(mb)d 2>/dev/null | nc 192.168.77.1 9000 && break
	sleep 0.5
done
poweroff -f
""" % {"mb": THROUGHPUT_MB}

TAP_RIG = r"""
tunctl -t tap0 > /dev/null
ip addr add 192.168.77.1/24 dev tap0
ip link set tap0 up
dd if=/dev/zero of=/www/big bs=1M count=%(mb)d 2>/dev/null
busybox httpd -p 192.168.77.1:8080 -h /www
cat > /tmp/sink <<'EOF'
#!/bin/sh
t0=$(cut -d' ' -f1 /proc/uptime)
wc -c > /out/received
echo "$t0 $(cut -d' ' -f1 /proc/uptime)" > /out/sink-times
EOF
chmod +x /tmp/sink
duet-vmm --name nettest --kernel /guest/vmlinuz --initrd /guest/initrd.gz \
	--append 'console=ttyS0 panic=-1 quiet' --memory 256M --no-reboot \
	--serial /out/guest.log --net tap=tap0,mac=52:54:00:aa:bb:cc &
vmm=$!
for i in $(seq 120); do
	ping -c 1 -W 1 192.168.77.2 > /dev/null 2>&1 && break
done
ping -c 3 -W 5 192.168.77.2 > /dev/null && echo ok > /out/rig-ping
""" % {"mb": THROUGHPUT_MB} + FETCH % ("http://192.168.77.2", "http://192.168.77.2") + r"""
# the sink reads until the guest's EOF (a plain nc -l would end the
# connection at once: its stdin is empty)
nc -l -p 9000 -e /tmp/sink
wait $vmm
cd /sys/class/net/tap0/statistics && cat rx_packets rx_bytes tx_packets tx_bytes > /out/tap-stats
echo "duet-vmm exit $?"
"""


def boot(tmp_path, rig_script, guest_script, modules=(), timeout=150):
    initrd = tmp_path / "initrd.gz"
    initrd.write_bytes(build_initrd(guest_script, GUEST_MODULES))
    return run_rig(rig_script,
                   files={"/guest/vmlinuz": str(guest_kernel()), "/guest/initrd.gz": str(initrd),
                          "/www/host.bin": HOST_FILE},
                   binaries=[str(VMM)], modules=list(modules), timeout=timeout)


def guest_lines(result):
    log = result.files.get("guest.log", b"").decode(errors="replace")
    return dict(m.groups() for m in re.finditer(r"^guest: (\S+) ?(.*?)\r?$", log, re.M)), log


def check_file_exchange(result, said, log):
    assert said.get("host-file") == hashlib.md5(HOST_FILE).hexdigest(), log[-3000:]
    assert "served" in said, log[-3000:]
    assert result.files["from-guest.md5"].decode().strip() == said["guest-file"], log[-3000:]
    assert "duet-vmm exit 0" in result.serial


def test_user_mode_dhcp_fetch_and_hostfwd(tmp_path):
    r = assert_ok(boot(tmp_path, USER_RIG, USER_GUEST))
    said, log = guest_lines(r)
    assert said.get("lease", "").startswith("10.0.2.15 router 10.0.2.2 dns 10.0.2.3"), log[-3000:]
    check_file_exchange(r, said, log)
    print(f"user mode: {r.duration:.1f} s")


def test_tap_ping_files_and_throughput(tmp_path):
    r = assert_ok(boot(tmp_path, TAP_RIG, TAP_GUEST, modules=["tun"]))
    said, log = guest_lines(r)
    assert said.get("mac") == "52:54:00:aa:bb:cc", log[-3000:]
    assert "ping" in said, log[-3000:]
    assert r.files.get("rig-ping", b"").strip() == b"ok", r.tail()
    check_file_exchange(r, said, log)
    assert int(r.files["received"]) == THROUGHPUT_MB << 20, log[-3000:]
    # Offloads negotiated both ways (virtio 1.2, 5.1.3: bit 0 CSUM, 1
    # GUEST_CSUM, 7 GUEST_TSO4, 11 HOST_TSO4). How big the frames through
    # tap0 then get depends on TCP's pacing, i.e. on machine load, so the
    # average frame size is printed, not asserted.
    features = said.get("features", "")
    assert len(features) > 11 and all(features[b] == "1" for b in (0, 1, 7, 11)), features
    rx_packets, rx_bytes, tx_packets, tx_bytes = map(int, r.files["tap-stats"].split())
    t0, t1 = map(float, said["rx-times"].split())
    s0, s1 = map(float, r.files["sink-times"].split())
    print(f"tap: {r.duration:.1f} s; {THROUGHPUT_MB} MB rig->guest {THROUGHPUT_MB / max(t1 - t0, 0.01):.0f} MB/s, "
          f"guest->rig {THROUGHPUT_MB / max(s1 - s0, 0.01):.0f} MB/s (nested KVM under TCG); "
          f"frames {tx_bytes // tx_packets} B avg to the guest, {rx_bytes // rx_packets} B from it")
