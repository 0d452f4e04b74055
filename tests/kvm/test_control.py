#!/usr/bin/env python3
"""Pins duet-vmm's control socket (vmm/control.c) against a live guest on
/dev/kvm: malformed requests get error replies and leave the guest alone;
status, pause (the guest stops making progress), resume, powerdown (the
ACPI power button reaches the guest), reset (the guest starts again) and
quit. Ends with "control: N passed, N failed".

Usage: test_control.py DUET_VMM GUEST_BUILD_DIR
"""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

vmm, guests = sys.argv[1], sys.argv[2]
guest = os.path.join(guests, "power_button.elf")
PM_BASE = 0x600  # tests/guests/power_button.c
passed = failed = 0


def check(name, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
        print(f"ok   control: {name}")
    else:
        failed += 1
        print(f"FAIL control: {name} {detail}")


class Client:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(10)
        self.s.connect(path)
        self.f = self.s.makefile("rb")

    def raw(self, data: bytes):
        self.s.sendall(data)
        line = self.f.readline()
        return json.loads(line) if line else None

    def cmd(self, name, **kw):
        return self.raw((json.dumps({"command": name, **kw}) + "\n").encode())


def start(work, tag):
    sock = os.path.join(work, f"{tag}.sock")
    serial = os.path.join(work, f"{tag}.log")
    p = subprocess.Popen([vmm, "--name", tag, "--control", sock, "--serial", serial,
                          "--load", guest], stderr=subprocess.PIPE, text=True)
    for _ in range(200):
        if os.path.exists(sock):
            break
        time.sleep(0.05)
    return p, sock, serial


def quit_vmm(c, p):
    """`quit` on the control socket: duet-vmm's exit status ("hung" if it
    had to be killed after 30 s) and its stderr."""
    c.cmd("quit")
    try:
        status = p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        status = "hung"
    return status, p.stderr.read()


def serial_len(path):
    return os.path.getsize(path) if os.path.exists(path) else 0


def wait_growth(path, since, seconds=10):
    end = time.time() + seconds
    while time.time() < end:
        if serial_len(path) > since:
            return True
        time.sleep(0.05)
    return False


with tempfile.TemporaryDirectory() as work:
    p, sock, serial = start(work, "one")
    c = Client(sock)
    r = c.raw(b"hello\n")
    check("garbage gets an error reply", r and r["ok"] is False and "not JSON" in r["error"], r)
    r = c.raw(b"[1,2]\n")
    check("a non-object is refused", r and r["ok"] is False, r)
    r = c.cmd(5)
    check("a non-string command is refused", r and "needs \"command\"" in r["error"], r)
    r = c.cmd("frobnicate")
    check("an unknown command is named", r and "unknown command 'frobnicate'" in r["error"], r)
    r = c.raw(b"{\"command\": \"status\", \"command\": \"quit\"}\n")
    check("duplicate keys are refused", r and r["ok"] is False, r)
    long_client = Client(sock)
    r = long_client.raw(b"x" * 5000)
    check("an over-long line is refused", r and "too long" in r["error"], r)
    r = c.cmd("status")
    check("status after garbage: running",
          r and r["ok"] and r["state"] == "running" and r["name"] == "one", r)

    check("the guest runs", wait_growth(serial, 0))
    r = c.cmd("pause")
    check("pause", r and r["state"] == "paused", r)
    time.sleep(0.2)
    before = serial_len(serial)
    time.sleep(1.0)
    check("a paused guest makes no progress", serial_len(serial) == before,
          f"{before} -> {serial_len(serial)}")
    r = c.cmd("cpus")
    cpu = r["cpus"][0] if r and r.get("ok") and len(r.get("cpus", [])) == 1 else {}
    check("cpus while paused: the one vCPU, where it is and what it did",
          cpu.get("mode") in ("protected", "long") and cpu.get("rip", "").startswith("0x")
          and cpu["exits"]["io"] > 0 and cpu["exits"]["total"] >= cpu["exits"]["io"]
          and (cpu["exits"]["last_io_port"] == PM_BASE or 0x3f8 <= cpu["exits"]["last_io_port"] <= 0x3ff)
          and cpu["state"] == "running"
          and ("code" in cpu) == (not cpu["paging"]), r)
    r = c.cmd("status")
    check("cpus leaves a paused guest paused", r and r["state"] == "paused", r)
    r = c.cmd("resume")
    check("resume", r and r["state"] == "running", r)
    check("a resumed guest goes on", wait_growth(serial, before))
    io_before = cpu.get("exits", {}).get("io", 0)
    r = c.cmd("cpus")
    cpu = r["cpus"][0] if r and r.get("ok") and r.get("cpus") else {}
    check("cpus on a running guest: its exits go on counting",
          cpu.get("exits", {}).get("io", 0) > io_before, r)
    grown = serial_len(serial)
    check("cpus leaves a running guest running",
          c.cmd("status")["state"] == "running" and wait_growth(serial, grown))
    r = c.cmd("powerdown")
    check("powerdown is accepted", r and r["ok"], r)
    try:
        status = p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        status = "hung"
    log = open(serial).read()
    check("the guest saw the power button", status == 0x22 and "power button pressed" in log,
          f"status {status}; stderr: {p.stderr.read()[-500:]}")
    check("the socket is removed at exit", not os.path.exists(sock))

    p, sock, serial = start(work, "two")
    c = Client(sock)
    check("second guest runs", wait_growth(serial, 0))
    r = c.cmd("reset")
    check("reset is accepted", r and r["ok"], r)
    end = time.time() + 10
    while time.time() < end and open(serial).read().count("waiting for the power button") < 2:
        time.sleep(0.05)
    check("reset starts the guest again", open(serial).read().count("waiting for the power button") == 2)
    r = c.cmd("status")
    check("status counts the restart", r and r["restarts"] == 1, r)
    status, err = quit_vmm(c, p)
    check("quit ends duet-vmm with status 0, no sanitizer report",
          status == 0 and "Sanitizer" not in err, f"status {status}; stderr: {err[-800:]}")

    # A reset from outside (this socket; for an OS it is 0xcf9 or the
    # keyboard controller, as when Windows restarts) comes at a moment
    # SeaBIOS did not prepare: every register of the chipset must be back
    # at its power-on value, or SeaBIOS takes its shadow copy for intact
    # and triple-faults in it, reset after reset.
    disk = os.path.join(work, "boot.img")
    sector = bytearray(512)
    # mov dx,0x3f8; mov al,'B'; out dx,al; cli; hlt; jmp $-1
    code = bytes([0xba, 0xf8, 0x03, 0xb0, 0x42, 0xee, 0xfa, 0xf4, 0xeb, 0xfd])
    sector[:len(code)] = code
    sector[510:] = b"\x55\xaa"
    with open(disk, "wb") as f:
        f.write(sector + bytes(512 * 63))
    sock, serial = os.path.join(work, "bios.sock"), os.path.join(work, "bios.log")
    p = subprocess.Popen([vmm, "--bios", "--memory", "64M", "--disk", f"file={disk}", "--boot",
                          "disk", "--control", sock, "--serial", serial],
                         stderr=subprocess.PIPE, text=True)

    def boots() -> int:
        text = open(serial, "rb").read().decode(errors="replace") if os.path.exists(serial) else ""
        # (SeaBIOS's serial console may still be drawing the dots)
        return len(re.findall(r"Booting from Hard Disk\.*\s*B", text))

    def wait_boots(n, seconds=60):
        end = time.time() + seconds
        while time.time() < end and boots() < n:
            time.sleep(0.2)
        return boots() >= n

    check("SeaBIOS boots the disk", wait_boots(1), open(serial, "rb").read()[-300:] if
          os.path.exists(serial) else "no serial")
    c = Client(sock)
    for n in (2, 3):
        r = c.cmd("reset")
        check(f"reset {n - 1} of a halted BIOS guest is accepted", r and r["ok"], r)
        check(f"SeaBIOS POSTs and boots the disk again after reset {n - 1}", wait_boots(n),
              open(serial, "rb").read()[-300:])
    _, err = quit_vmm(c, p)
    check("no triple fault after the resets, no sanitizer report",
          "triple" not in err and "Sanitizer" not in err, err[-800:])

    # A guest whose disk server has stopped answering (SIGSTOP): the IDE
    # read waits off the vCPU thread, so cpus answers at once and shows
    # the BIOS polling the drive's status port, and the guest goes on
    # once the server does.
    nsock = os.path.join(work, "nbd.sock")
    server = subprocess.Popen(["qemu-nbd", "-k", nsock, "-t", "-r", "-x", "boot", "-f", "raw",
                               disk], stderr=subprocess.DEVNULL)
    for _ in range(100):
        if os.path.exists(nsock):
            break
        time.sleep(0.05)
    os.unlink(serial)
    p = subprocess.Popen([vmm, "--bios", "--boot-menu", "--memory", "64M", "--disk",
                          f"nbd+unix:///boot?socket={nsock},ro", "--boot", "disk",
                          "--control", sock, "--serial", serial],
                         stderr=subprocess.PIPE, text=True)
    for _ in range(200):
        if os.path.exists(sock):
            break
        time.sleep(0.05)
    server.send_signal(signal.SIGSTOP)      # before SeaBIOS reads the disk (after its menu)
    end = time.time() + 60
    while time.time() < end and "Booting from Hard Disk" not in \
            open(serial, "rb").read().decode(errors="replace"):
        time.sleep(0.2)
    time.sleep(1)
    c = Client(sock)
    c.s.settimeout(10)
    started = time.time()
    r = c.cmd("cpus")
    took = time.time() - started
    cpu = r["cpus"][0] if r and r.get("ok") and r.get("cpus") else {}
    io = cpu.get("exits", {}).get("io", 0)
    check("cpus answers while the disk waits: the BIOS polls the IDE status port",
          took < 8 and cpu.get("mode") == "real"
          and cpu.get("exits", {}).get("last_io_port") in (0x1f7, 0x3f6)  # status, alt. status
          and len(cpu.get("code", "")) == 32 and cpu["code"] != "0" * 32, f"{took:.1f} s: {r}")
    time.sleep(0.5)
    r = c.cmd("cpus")
    check("... and goes on polling it",
          r and r["cpus"][0]["exits"]["io"] > io
          and r["cpus"][0]["exits"]["last_io_port"] in (0x1f7, 0x3f6),
          r)
    r = c.cmd("status")
    check("status answers meanwhile", r and r.get("ok"), r)
    server.send_signal(signal.SIGCONT)
    check("the guest boots once the server answers again", wait_boots(1),
          open(serial, "rb").read()[-300:])
    _, err = quit_vmm(c, p)
    server.kill()
    check("no sanitizer report after the wait", "Sanitizer" not in err, err[-800:])

print(f"control: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
