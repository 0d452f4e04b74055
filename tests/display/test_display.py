"""duet-display end to end, without KVM: a sanitized duet-display with the
offscreen output and synthetic input, test peers as guests (see conftest.py
and peer.c). Screen: 640x400, edge 4 px, banner 1 s."""
import os
import resource
import socket
import subprocess
import time

import pytest

from conftest import (PEER, SCREEN_H, SCREEN_W, Display, Peer, close_to, read_png, rgb,
                      wait_for)

ALPHA, BETA = rgb("2040ff"), rgb("20c040")
ALPHA_EDGE, BETA_EDGE = rgb("2f6fdf"), rgb("e07a10")   # the palette's first two
STOPPED_BG = rgb("202020")
# screen points inside the picture, away from the banner, the status text
# and alpha's moving square (its top 16 lines, 32 on the screen)
PICTURE = (320, 300)
BANNER = (320, 18)       # the banner's top padding, centred


def pixel(shot, xy):
    return shot[2][xy[1]][xy[0]]


def test_both_listed(two_guests):
    display, _, _ = two_guests
    reply = display.ok({"command": "list"})
    guests = {g["name"]: g for g in reply["guests"]}
    assert reply["active"] == "alpha"
    assert guests["alpha"]["slot"] == 1 and guests["beta"]["slot"] == 2
    assert guests["alpha"]["state"] == guests["beta"]["state"] == "running"
    assert (guests["beta"]["width"], guests["beta"]["height"]) == (400, 300)
    assert guests["alpha"]["active"] and not guests["beta"]["active"]


def test_hotkey_flips_screen_with_banner_and_edge(two_guests):
    display, alpha, beta = two_guests
    shot = display.screenshot()
    assert (shot[0], shot[1]) == (SCREEN_W, SCREEN_H)
    assert pixel(shot, PICTURE) == ALPHA
    assert pixel(shot, (1, 1)) == ALPHA_EDGE

    display.hotkey("KEY_2")
    assert display.ok({"command": "list"})["active"] == "beta"
    shot = display.screenshot()
    assert pixel(shot, PICTURE) == BETA
    assert pixel(shot, (1, 1)) == BETA_EDGE
    assert pixel(shot, (SCREEN_W - 2, SCREEN_H - 2)) == BETA_EDGE
    # 400x300 fills 533x400: letterbox bars left and right, inside the edge
    assert pixel(shot, (20, 200)) == (0, 0, 0)
    assert pixel(shot, (SCREEN_W - 20, 200)) == (0, 0, 0)
    # the banner: beta's edge colour (nearly opaque) over the picture
    banner = pixel(shot, BANNER)
    assert banner != BETA and close_to(banner, BETA_EDGE), banner
    # ... and gone after --banner-time
    time.sleep(1.3)
    assert pixel(display.screenshot(), BANNER) == BETA

    display.hotkey("KEY_TAB")
    assert display.ok({"command": "list"})["active"] == "alpha"
    assert pixel(display.screenshot(), PICTURE) == ALPHA
    time.sleep(0.2)
    # the hotkeys' own keys reached no guest
    assert alpha.keys() == [] and beta.keys() == []


def test_keys_reach_only_the_active_guest(two_guests):
    display, alpha, beta = two_guests
    display.key("KEY_A", 1)
    display.key("KEY_A", 0)
    wait_for("alpha's keys", lambda: alpha.keys() == ["key 30 1", "key 30 0"])
    display.ok({"command": "switch", "guest": "beta"})
    display.key("KEY_B", 1)
    display.key("KEY_B", 0)
    wait_for("beta's keys", lambda: beta.keys() == ["key 48 1", "key 48 0"])
    time.sleep(0.2)
    assert alpha.keys() == ["key 30 1", "key 30 0"]
    assert "focus 0" in alpha.events() and beta.events().count("focus 1") == 1


def test_hotkey_modifier_alone_and_with_other_keys(two_guests):
    display, alpha, _ = two_guests
    # a lone Right-Ctrl tap is an ordinary key
    display.key("KEY_RIGHTCTRL", 1)
    display.key("KEY_RIGHTCTRL", 0)
    # Right-Ctrl+C is Ctrl+C for the guest
    display.key("KEY_RIGHTCTRL", 1)
    display.key("KEY_C", 1)
    display.key("KEY_C", 0)
    display.key("KEY_RIGHTCTRL", 0)
    # autorepeat is not forwarded
    display.inject(("EV_KEY", "KEY_D", 1), ("EV_KEY", "KEY_D", 2), ("EV_KEY", "KEY_D", 2),
                   ("EV_KEY", "KEY_D", 0))
    want = ["key 97 1", "key 97 0", "key 97 1", "key 46 1", "key 46 0", "key 97 0",
            "key 32 1", "key 32 0"]
    wait_for("alpha's keys", lambda: alpha.keys() == want)
    # a slot key with no guest there is still swallowed
    display.hotkey("KEY_7")
    time.sleep(0.2)
    assert alpha.keys() == want
    assert display.ok({"command": "list"})["active"] == "alpha"


def test_keys_held_at_a_switch_are_released(two_guests):
    display, alpha, beta = two_guests
    display.key("KEY_LEFTSHIFT", 1)
    display.inject(("EV_KEY", "BTN_LEFT", 1), ("EV_SYN", "SYN_REPORT", 0))
    wait_for("shift and button down in alpha",
             lambda: "key 42 1" in alpha.events() and
             any(e.startswith("pointer") and e.split()[5] == "1" for e in alpha.events()))
    display.hotkey("KEY_2")                       # Shift and the button still held
    wait_for("shift released in alpha", lambda: "key 42 0" in alpha.events())
    ev = alpha.events()
    assert ev.index("key 42 0") < ev.index("focus 0")
    pointers = [e for e in ev if e.startswith("pointer")]
    assert pointers[-1].split()[5] == "0", "button still down in alpha: %s" % pointers
    # the physical release afterwards reaches nobody
    display.key("KEY_LEFTSHIFT", 0)
    display.inject(("EV_REL", "REL_X", 5), ("EV_SYN", "SYN_REPORT", 0))
    wait_for("beta's pointer", lambda: any(e.startswith("pointer") for e in beta.events()))
    display.inject(("EV_KEY", "BTN_LEFT", 0), ("EV_SYN", "SYN_REPORT", 0))
    time.sleep(0.2)
    assert alpha.keys() == ["key 42 1", "key 42 0"]
    assert beta.keys() == []
    assert all(e.split()[5] == "0" for e in beta.events() if e.startswith("pointer"))


def test_pointer_in_surface_coordinates(two_guests):
    display, alpha, beta = two_guests
    display.inject(("EV_ABS", "ABS_X", 16384), ("EV_ABS", "ABS_Y", 16384),
                   ("EV_SYN", "SYN_REPORT", 0))
    wait_for("alpha's pointer", lambda: any(e.startswith("pointer") for e in alpha.events()))
    x, y = map(int, [e for e in alpha.events() if e.startswith("pointer")][-1].split()[1:3])
    assert abs(x - 160) <= 1 and abs(y - 100) <= 1       # the middle of 320x200
    display.inject(("EV_REL", "REL_X", 7), ("EV_REL", "REL_Y", -3), ("EV_REL", "REL_WHEEL", 1),
                   ("EV_SYN", "SYN_REPORT", 0))
    wait_for("relative motion", lambda: any(e.endswith(" 7 -3 0 1") for e in alpha.events()))
    # the letterbox maps to the surface's edge
    display.ok({"command": "switch", "guest": "beta"})
    display.inject(("EV_ABS", "ABS_X", 0), ("EV_ABS", "ABS_Y", 0), ("EV_SYN", "SYN_REPORT", 0))
    wait_for("beta's pointer", lambda: "pointer 0 0 0 0 0 0" in beta.events())


def test_lock_leds_follow_focus(two_guests):
    display, alpha, beta = two_guests
    display.key("KEY_CAPSLOCK", 1)
    display.key("KEY_CAPSLOCK", 0)
    wait_for("caps lock LED in alpha", lambda: "leds 2" in alpha.events())
    display.hotkey("KEY_2")
    wait_for("beta told the LEDs with focus", lambda: beta.events()[-2:] == ["focus 1", "leds 2"])


def test_stopped_screen_then_picture_back(two_guests):
    display, alpha, beta = two_guests
    display.ok({"command": "switch", "guest": "beta"})
    beta.stop()
    wait_for("beta stopped", lambda: display.guests()["beta"]["state"] == "stopped")
    shot = display.screenshot()
    assert pixel(shot, PICTURE) == STOPPED_BG
    assert pixel(shot, (1, 1)) == BETA_EDGE
    # text in the middle of the stopped screen
    assert any(px != STOPPED_BG for px in shot[2][200][100:540])
    # alpha keeps going meanwhile
    before = display.guests()["alpha"]["damage"]
    a1 = display.screenshot("alpha")
    wait_for("alpha to update", lambda: display.guests()["alpha"]["damage"] > before + 3)
    assert display.screenshot("alpha")[2] != a1[2]
    # beta's VMM comes back under the same name: same slot, picture back
    beta2 = Peer(display, "beta", "20c040", size="400x300")
    try:
        wait_for("beta back", lambda: display.guests()["beta"]["state"] == "running")
        assert display.guests()["beta"]["slot"] == 2
        assert pixel(display.screenshot(), PICTURE) == BETA
        wait_for("beta focused again", lambda: "focus 1" in beta2.events())
    finally:
        beta2.stop()


def test_screenshot_of_a_guest_and_thumbnail(two_guests):
    display, _, _ = two_guests
    w, h, rows = display.screenshot("beta")
    assert (w, h) == (400, 300) and rows[150][200] == BETA
    w, h, rows = display.screenshot("beta", width=100)
    assert (w, h) == (100, 75) and rows[40][50] == BETA
    w, h, _ = display.screenshot("screen", width=160, height=160)
    assert (w, h) == (160, 100)


def test_peers_reconnect_when_the_display_restarts(tmp_path, two_guests):
    display, alpha, beta = two_guests
    display.stop()
    display.start()
    wait_for("both back", lambda: {g["name"]: g["state"] for g in
                                   display.ok({"command": "list"})["guests"]} ==
             {"alpha": "running", "beta": "running"}, timeout=8)
    # without a configuration, slots go by who says HELLO first
    active = display.ok({"command": "list"})["active"]
    assert pixel(display.screenshot(), PICTURE) == {"alpha": ALPHA, "beta": BETA}[active]
    assert alpha.events().count("connected 1") == 2
    assert beta.events().count("connected 1") == 2


def test_config_file_slots_colours_and_hotkeys(tmp_path):
    conf = tmp_path / "display.conf"
    conf.write_text("[display]\nguest = beta=#ff00ff\nguest = alpha\n"
                    "hotkey-modifier = KEY_LEFTMETA\nhotkey-slots = KEY_F1, KEY_F2\n"
                    "edge-width = 8\n")
    display = Display(str(tmp_path), ["--config", str(conf)])
    try:
        listing = display.ok({"command": "list"})
        assert [(g["slot"], g["name"], g["state"], g["edge"]) for g in listing["guests"]] == [
            (1, "beta", "absent", "#ff00ff"), (2, "alpha", "absent", "#e07a10")]
        assert listing["active"] == "beta"          # the first configured slot
        display.stop()
        display = Display(str(tmp_path), ["--config", str(conf), "--start", "alpha"])
        assert display.ok({"command": "list"})["active"] == "alpha"   # --start
        display.ok({"command": "switch", "guest": "beta"})
        alpha = Peer(display, "alpha", "2040ff")
        beta = Peer(display, "beta", "20c040", size="400x300")
        wait_for("both", lambda: all(g["state"] == "running" for g in display.guests().values()))
        shot = display.screenshot()
        assert pixel(shot, (6, 6)) == rgb("ff00ff") and pixel(shot, PICTURE) == BETA
        display.hotkey("KEY_F2", modifier="KEY_LEFTMETA")
        assert display.ok({"command": "list"})["active"] == "alpha"
        display.hotkey("KEY_2")      # Right-Ctrl is no hotkey now: ordinary keys
        wait_for("keys in alpha", lambda: alpha.keys() == [
            "key 97 1", "key 3 1", "key 3 0", "key 97 0"])
        for p in (alpha, beta):
            p.stop()
    finally:
        display.stop()


def test_control_socket_refuses_bad_requests(two_guests):
    display, _, _ = two_guests
    for raw in (b"not json\n", b"[1,2]\n", b'{"command": 5}\n', b'{"command": "fly"}\n',
                b'{"command": "switch", "guest": "nobody"}\n',
                b'{"command": "switch"}\n',
                b'{"command": "screenshot", "target": "nobody", "file": "/tmp/x.png"}\n',
                b'{"command": "screenshot", "target": "screen", "file": "/nonexistent/x.png"}\n',
                b'{"command": "screenshot", "target": "screen", "file": "/tmp/x.png", "width": -1}\n',
                b'{"command": "inject", "events": [["EV_KEY", "KEY_NOPE", 1]]}\n',
                b'{"command": "inject", "events": [[1, 2]]}\n',
                b'{"command": "inject", "events": "no"}\n'):
        reply = display.ctl(None, raw=raw)
        assert reply["ok"] is False and reply["error"], (raw, reply)
    reply = display.ctl(None, raw=b"x" * 5000)
    assert reply["ok"] is False
    assert display.alive() and display.guests()["alpha"]["state"] == "running"


def test_inject_needs_the_synthetic_source(tmp_path):
    display = Display(str(tmp_path), ["--input", "none"])
    try:
        reply = display.ctl({"command": "inject", "events": [["EV_KEY", "KEY_A", 1]]})
        assert reply["ok"] is False and "synthetic" in reply["error"]
    finally:
        display.stop()


def test_bad_command_lines_exit_2(tmp_path):
    for args in (["--output", "nosuch"], ["--hotkey-modifier", "KEY_NOPE"],
                 ["--hotkey-next", "KEY_1"], ["--guest", "screen"], ["--edge-width", "99"],
                 ["--output-size", "10x10"], ["--guest", "a", "--start", "b"], ["stray"]):
        r = subprocess.run([os.environ.get("DUET_DISPLAY", "build/asan/bin/duet-display"),
                            "--socket", str(tmp_path / "d.sock"),
                            "--control", str(tmp_path / "c.sock")] + args,
                           capture_output=True, text=True, timeout=10)
        assert r.returncode == 2, (args, r.stderr)
        assert r.stderr.count("\n") == 1 and r.stderr.startswith("duet-display: "), r.stderr


# ---- hostile peers ----

HOSTILE = {
    "garbage": "header length",
    "short": "shorter than a header",
    "huge": "longer than",
    "length-lie": "header length",
    "no-hello": "before HELLO",
    "wrong-version": "protocol version",
    "bad-name": "HELLO name",
    "fd-on-hello": "file descriptor",
    "hello-twice": "second HELLO",
    "garbage-after-hello": "",
    "bad-size": "SURFACE 100000x100",
    "zero-size": "SURFACE 0x",
    "bad-stride": "stride",
    "bad-format": "format",
    "no-fd": "0 file descriptors",
    "two-fds": "2 file descriptors",
    "small-memfd": "memfd has",
    "unsealed": "F_SEAL_SHRINK",
    "not-memfd": "not a memfd",
    "damage-first": "before any SURFACE",
    "oob-rect": "outside",
    "wrap-rect": "outside",
    "count-lie": "does not hold",
    "display-type": "unknown message type",
    "flood": "flood",
    "dup-name": "connected already",
}


def assert_good_peer_unharmed(display, alpha):
    assert display.alive()
    before = display.guests()["alpha"]["damage"]
    wait_for("alpha to keep updating", lambda: display.guests()["alpha"]["damage"] > before + 2)
    assert display.guests()["alpha"]["state"] == "running"
    assert pixel(display.screenshot(), PICTURE) == ALPHA
    display.key("KEY_Z", 1)
    display.key("KEY_Z", 0)
    wait_for("alpha's keys", lambda: alpha.keys()[-2:] == ["key 44 1", "key 44 0"])


def dropped_lines(display, pid):
    return [l for l in display.log_text().splitlines()
            if "(pid %d)" % pid in l and "dropped" in l]


@pytest.mark.parametrize("mode", sorted(HOSTILE))
def test_hostile_peer_is_dropped(two_guests, mode):
    display, alpha, _ = two_guests
    evil = Peer(display, "alpha" if mode == "dup-name" else "evil", "ff0000", hostile=mode)
    assert evil.proc.wait(timeout=20) == 0, "the display did not drop it: " + open(evil.errlog).read()
    evil.stop()
    lines = wait_for("the log line", lambda: dropped_lines(display, evil.proc.pid))
    assert len(lines) == 1, lines
    assert HOSTILE[mode] in lines[0], lines[0]
    assert_good_peer_unharmed(display, alpha)
    assert "evil" not in display.guests() or display.guests()["evil"]["state"] == "stopped"


def test_guest_that_does_not_read_its_input_is_dropped(two_guests):
    display, alpha, _ = two_guests
    evil = Peer(display, "evil", "ff0000", hostile="no-read")
    wait_for("evil connected", lambda: display.guests().get("evil", {}).get("state") == "running")
    display.ok({"command": "switch", "guest": "evil"})
    for _ in range(40):
        if evil.proc.poll() is not None:
            break
        display.inject(*[(1, 30, 1 - i % 2) for i in range(256)])   # EV_KEY, KEY_A
    assert evil.proc.wait(timeout=20) == 0
    evil.stop()
    lines = wait_for("the log line", lambda: dropped_lines(display, evil.proc.pid))
    assert len(lines) == 1 and "does not read its input" in lines[0]
    display.ok({"command": "switch", "guest": "alpha"})
    assert_good_peer_unharmed(display, alpha)


def test_connections_that_say_nothing_or_vanish(two_guests):
    display, alpha, _ = two_guests
    for _ in range(100):      # connect and drop at once
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        s.connect(display.socket)
        s.close()
    silent = [socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) for _ in range(40)]
    refused = 0
    for s in silent:          # more than the display keeps open
        s.connect(display.socket)
    time.sleep(0.3)
    assert_good_peer_unharmed(display, alpha)
    for s in silent:
        s.settimeout(8)
        try:
            if s.recv(64) == b"":
                refused += 1
        except OSError:
            refused += 1
        s.close()
    assert refused == len(silent)     # over the limit, or no HELLO in 5 s
    log = display.log_text()
    assert "no HELLO within" in log and "refused a connection" in log
    assert_good_peer_unharmed(display, alpha)


def test_a_second_display_does_not_take_the_socket(two_guests, tmp_path):
    display, alpha, _ = two_guests
    r = subprocess.run([os.environ.get("DUET_DISPLAY", "build/asan/bin/duet-display"),
                        "--socket", display.socket, "--control", str(tmp_path / "c2.sock")],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 2 and "another display is listening" in r.stderr, r.stderr
    assert os.path.exists(display.socket)
    assert_good_peer_unharmed(display, alpha)


def cpu_ticks(pid):
    """The process's CPU time so far, utime + stime, in clock ticks."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def test_out_of_file_descriptors(tmp_path):
    """accept4 failing with EMFILE on the control socket, the display
    socket and a VNC port: each (level-triggered) listener rests instead of
    waking the loop again at once for the waiting connection, and accepts
    again once descriptors are free (display/listener.c)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        vnc_port = probe.getsockname()[1]
    d = Display(str(tmp_path), ["--vnc-base-port", str(vnc_port)])
    pid = d.proc.pid
    soft, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
    held, extra = [], []
    time.sleep(0.2)   # the display closes its end of the start-up `list`
    try:
        # three descriptors left: the control clients the display keeps take them
        used = {int(fd) for fd in os.listdir(f"/proc/{pid}/fd")}
        unused = [fd for fd in range(max(used) + 4) if fd not in used]
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (unused[2] + 1, hard))

        def one_more_control_client():
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(d.control)
            held.append(s)
            time.sleep(0.1)
            return "control socket: accept: Too many open files" in d.log_text()

        wait_for("the control socket's accept failure", one_more_control_client)
        guest = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        extra.append(guest)
        guest.connect(d.socket)
        extra.append(socket.create_connection(("127.0.0.1", vnc_port), timeout=5))
        wait_for("the other accept failures", lambda: all(
            what + ": accept: Too many open files" in d.log_text()
            for what in ("display socket", "vnc screen")))
        before = cpu_ticks(pid)
        time.sleep(2)
        assert cpu_ticks(pid) - before < 0.5 * os.sysconf("SC_CLK_TCK"), "the loop spins"
        for s in held + extra:
            s.close()
        # still at the low limit, with the descriptors back
        d.ok({"command": "list"})
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as guest:
            guest.connect(d.socket)
            wait_for("the display socket again",
                     lambda: d.ok({"command": "list"})["connections"] == 1)
        with socket.create_connection(("127.0.0.1", vnc_port), timeout=5) as viewer:
            assert viewer.recv(12).startswith(b"RFB 003.")
    finally:
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (soft, hard))
        for s in held + extra:
            s.close()
    d.stop()
