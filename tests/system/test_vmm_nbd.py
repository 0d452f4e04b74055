"""duet-vmm's NBD disks in the rig, against real NBD servers on the rig's
loopback, with Debian's stock kernel and its virtio_blk driver, and the
server killed (SIGKILL) and started again while the guest does I/O.

One rig boot, two duet-vmm runs at once:

1. `--disk nbd://127.0.0.1:10809/disk`: qemu-nbd serves a 64 MiB raw file
   read-write (structured replies). The guest makes 16 MiB of random data,
   then writes it with O_DIRECT at 8 MiB and reads it back, round after
   round, comparing sha256s.
2. `--disk nbd://127.0.0.1:10810/golden,overlay=ram`: nbd-server serves a
   64 MiB random golden image read-only (simple replies, the classroom
   case). Round after round, the guest reads the first 32 MiB (straight
   from the server) and writes and reads back 16 MiB at 40 MiB (the RAM
   overlay).

One second after both guests started their rounds, the rig kills both
servers (SIGKILL: nbd-server's daemon and the child serving duet-vmm) and
starts them again 3 s later. Once duet-vmm has said the server is back and
the guest has done two more rounds, the rig types "stop" on its console.

Afterwards: every round matched (the guest's sha256s of what it read are
the host's of the file region / the pattern), the file served read-write
holds the guest's pattern byte for byte (sha256 of that region), the golden
image is unchanged, the guest's kernel logged no I/O error, duet-vmm logged
the link going and coming back, with the requests it sent again, and both
guests powered off cleanly (status 0, with the seccomp sandbox on: the
reconnects happen inside it). ~60-80 s."""
from __future__ import annotations

import re
import tempfile
from pathlib import Path

from guest import build_initrd, guest_kernel
from rig import assert_ok, run_rig

REPO = Path(__file__).resolve().parent.parent.parent
VMM = REPO / "build" / "bin" / "duet-vmm"
QEMU_NBD = "/usr/bin/qemu-nbd"
NBD_SERVER = "/usr/bin/nbd-server"

MODULES = ["virtio_pci", "virtio_blk"]

# Both guests: report, then I/O rounds from "io-start" on until the rig
# sends "stop" on the console (COM1), at most IO_LIMIT seconds.
GUEST_SCRIPT = r"""
hash() { sha256sum | cut -d' ' -f1; }
now() { read t rest < /proc/uptime; echo ${t%.*}; }
echo "guest: vda size=$(cat /sys/block/vda/size) ro=$(cat /sys/block/vda/ro)"
head -c 16777216 /dev/urandom > /tmp/pat
want=$(hash < /tmp/pat)
echo "guest: pattern $want"
echo "guest: io-start"
t0=$(now)
round=0
while [ $(( $(now) - t0 )) -lt @IO_LIMIT@ ]; do
    dd if=/tmp/pat of=/dev/vda bs=1M seek=@WRITE_MIB@ oflag=direct 2>/dev/null ||
        echo "guest: round $round write FAILED"
    got=$(dd if=/dev/vda bs=1M skip=@WRITE_MIB@ count=16 iflag=direct 2>/dev/null | hash)
    [ "$got" = "$want" ] || echo "guest: round $round readback MISMATCH $got"
    if [ @MODE@ = overlay ]; then
        base=$(dd if=/dev/vda bs=1M count=32 iflag=direct 2>/dev/null | hash)
        echo "guest: round $round base $base"
    fi
    echo "guest: round $round done"
    round=$((round + 1))
    read -t 0.1 cmd && [ "$cmd" = stop ] && break
done
sync
echo "guest: rounds $round"
echo "guest: io errors $(dmesg | grep -c 'I/O error')"
dmesg | grep -i -E 'error|timeout|blk_update' | head -n 5 | awk '{ print "guest: dmesg: " $0 }'
echo "guest: done"
poweroff -f
"""

IO_LIMIT = 90
WRITE_MIB = {"rw": 8, "overlay": 40}

# The rig: the servers, duet-vmm in the background, the kill and restart
# timed from the guest's "io-start" line, then the files checked.
HOST_SCRIPT = r"""
set -u
await() {  # await FILE PATTERN SECONDS
    i=0
    while ! grep -q "$2" "$1" 2>/dev/null; do
        i=$((i + 1)); [ $i -gt $(($3 * 10)) ] && { echo "rig: no '$2' in $1"; return 1; }
        sleep 0.1
    done
}
rounds() { grep -c 'guest: round .* done' /out/$1.log; }
await_rounds() {  # await_rounds NAME COUNT SECONDS
    i=0
    while [ $(rounds $1) -lt $2 ]; do
        i=$((i + 1)); [ $i -gt $(($3 * 10)) ] && { echo "rig: $1 did not reach round $2"; return 1; }
        sleep 0.1
    done
}
# nbd-server becomes a daemon that forks a child per client: one process
# group (its pid, in the pid file) to kill.
serve_rw() { /bin/qemu-nbd -f raw -x disk -b 127.0.0.1 -p 10809 -t /tmp/rw.img 2>>/out/server.err & rw=$!; }
serve_ro() { rm -f /tmp/nbd.pid; /bin/nbd-server -C /tmp/nbd.conf -p /tmp/nbd.pid 2>>/out/server.err; }
start_vmm() {  # start_vmm NAME MODE SPEC: in the background, COM1 on a FIFO and /out/NAME.log
    mkfifo /tmp/$1.in
    /bin/duet-vmm --memory 256M --kernel /guest/vmlinuz --initrd /guest/initrd-$2.gz \
        --append "console=ttyS0 quiet panic=-1" --serial stdio \
        --disk "$3" < /tmp/$1.in > /out/$1.log 2> /out/$1.err &
}

truncate -s 64M /tmp/rw.img
head -c 67108864 /dev/urandom > /tmp/golden.img
sha256sum < /tmp/golden.img | cut -d' ' -f1 > /out/golden.before
head -c 33554432 /tmp/golden.img | sha256sum | cut -d' ' -f1 > /out/golden.base
printf '[generic]\nlistenaddr = 127.0.0.1\nport = 10810\n[golden]\nexportname = /tmp/golden.img\nreadonly = true\n' > /tmp/nbd.conf

# Both servers (listening: port 10809 is 0x2A39, 10810 0x2A3A, in state 0A),
# both guests at once, each on one of the rig's two vCPUs.
serve_rw
serve_ro
await /proc/net/tcp ':2A39 00000000:0000 0A' 20
await /proc/net/tcp ':2A3A 00000000:0000 0A' 20
start_vmm rw rw nbd://127.0.0.1:10809/disk
vmm_rw=$!
exec 3> /tmp/rw.in
start_vmm ov overlay nbd://127.0.0.1:10810/golden,overlay=ram
vmm_ov=$!
exec 4> /tmp/ov.in
if await /out/rw.log 'guest: io-start' 120 && await /out/ov.log 'guest: io-start' 60; then
    sleep 1
    echo "rig: killing the servers" >> /out/rig.log
    kill -9 $rw -$(cat /tmp/nbd.pid)
    wait $rw 2>/dev/null
    sleep 3
    echo "rig: starting the servers" >> /out/rig.log
    serve_rw
    serve_ro
    for vm in rw ov; do
        await /out/$vm.err 'the server is back' 60 && await_rounds $vm $(( $(rounds $vm) + 2 )) 60
    done
fi
echo stop >&3
echo stop >&4
wait $vmm_rw
echo $? > /out/rw.status
wait $vmm_ov
echo $? > /out/ov.status
kill $rw -$(cat /tmp/nbd.pid) 2>/dev/null
dd if=/tmp/rw.img bs=1M skip=8 count=16 2>/dev/null | sha256sum | cut -d' ' -f1 > /out/rw.region
sha256sum < /tmp/golden.img | cut -d' ' -f1 > /out/golden.after
exit 0
"""


def test_nbd_disks_ride_out_server_restarts():
    script = GUEST_SCRIPT.replace("@IO_LIMIT@", str(IO_LIMIT))
    with tempfile.TemporaryDirectory() as tmp:
        initrds = {}  # one per mode: the write offset differs
        for mode, mib in WRITE_MIB.items():
            initrds[mode] = Path(tmp) / f"initrd-{mode}.gz"
            text = script.replace("@WRITE_MIB@", str(mib)).replace("@MODE@", mode)
            initrds[mode].write_bytes(build_initrd(text, MODULES))
        r = run_rig(HOST_SCRIPT, binaries=[VMM, QEMU_NBD, NBD_SERVER], timeout=200,
                    files={"/guest/vmlinuz": str(guest_kernel()),
                           "/guest/initrd-rw.gz": str(initrds["rw"]),
                           "/guest/initrd-overlay.gz": str(initrds["overlay"])})
    assert_ok(r)
    out = {name: data.decode(errors="replace").strip() for name, data in r.files.items()}

    for run, mode in (("rw", "rw"), ("ov", "overlay")):
        log, err = out.get(f"{run}.log", ""), out.get(f"{run}.err", "")
        detail = (f"\n--- {run}: guest log ---\n{log[-3000:]}\n--- duet-vmm stderr ---\n{err}"
                  f"\n--- rig ---\n{out.get('rig.log', '')}\n--- servers ---\n"
                  f"{out.get('server.err', '')[-1500:]}")
        assert "guest: io-start" in log, detail
        assert out.get("rig.log", "").count("rig:") == 2, "the servers were not restarted" + detail
        assert "guest: vda size=131072 ro=0" in log, detail
        m = re.search(r"guest: pattern (\w+)", log)
        assert m, detail
        rounds = re.search(r"guest: rounds (\d+)", log)
        assert rounds and int(rounds.group(1)) >= 2, detail
        # every round read back what was written; no I/O error anywhere
        assert "MISMATCH" not in log and "FAILED" not in log, detail
        assert "guest: io errors 0" in log, "the guest's kernel saw I/O errors" + detail
        assert "guest: done" in log, detail
        assert out.get(f"{run}.status") == "0", "duet-vmm did not end with status 0" + detail
        # duet-vmm noticed the server go and come back, and resent what had no reply
        assert "lost the connection to the server" in err, detail
        back = re.search(r"the server is back after ([\d.]+) s; (\d+) requests sent again", err)
        assert back, detail
        # (less than the 3 s the servers were away when the first request to
        # meet the outage came late: the overlay guest works in RAM half the time)
        assert float(back.group(1)) < 60, detail
        print(f"{run}: {rounds.group(1)} rounds; {back.group(0)}")
        if mode == "rw":
            # the server's file holds the guest's pattern, byte for byte
            assert out["rw.region"] == m.group(1), "the image does not hold the pattern" + detail
        else:
            bases = re.findall(r"guest: round \d+ base (\w+)", log)
            assert bases and all(b == out["golden.base"] for b in bases), \
                "the guest read something other than the golden image" + detail
    assert out["golden.after"] == out["golden.before"], "the golden image changed"
