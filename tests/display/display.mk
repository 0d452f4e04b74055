# duet-display's tests, included by the top-level Makefile.
#   make check-display   cmocka tests of the seat, compositor and protocol
#                        checks, then tests/display/test_display.py: a
#                        sanitized duet-display (offscreen output, synthetic
#                        input) with test peers, good and hostile
#   make check-system    also builds what tests/system/test_display_drm.py
#                        runs in the rig (see the end of this file)
#   make bench-display   tests/display/bench_compose.c: compose cost against
#                        memcpy, idle CPU, and flip latency (hotkey to the
#                        new guest's frame presented) against memcpy
#   make bench-vnc       tests/display/bench_vnc.c: a full-frame VNC update,
#                        Tight and ZRLE, duet-display against QEMU's VNC
# Everything here is built with the sanitizers except the benchmark and the
# rig's programs.


DISPLAY_TEST_SRCS := $(wildcard tests/display/test_*.c)
DISPLAY_TEST_BINS := $(patsubst tests/display/%.c,$(BUILD)/asan/tests/display/%,$(DISPLAY_TEST_SRCS))
DISPLAY_PEER      := $(BUILD)/asan/tests/display/peer
DISPLAY_ASAN_BIN  := $(BUILD)/asan/bin/duet-display
DISPLAY_VNC_CLIENT := $(BUILD)/asan/tests/display/vnc_client

$(call asan_obj,$(DISPLAY_TEST_SRCS) tests/display/peer.c) $(call obj,tests/display/peer.c tests/display/bench_compose.c): \
	BASE_CPPFLAGS += -Idisplay $(DISPLAY_CFLAGS)

$(DISPLAY_ASAN_BIN): $(call asan_obj,display/main.c $(DISPLAY_SRCS)) $(BUILD)/asan/lib/libduet.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SANITIZE) -o $@ $^ $(DISPLAY_LIBS)

$(BUILD)/asan/tests/display/test_%: $(BUILD)/asan/obj/tests/display/test_%.o $(call asan_obj,$(DISPLAY_SRCS)) $(BUILD)/asan/lib/libduet.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SANITIZE) -o $@ $^ $(DISPLAY_LIBS) -lcmocka

$(DISPLAY_PEER): $(call asan_obj,tests/display/peer.c) $(BUILD)/asan/lib/libduet.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SANITIZE) -o $@ $^

check-display: $(DISPLAY_ASAN_BIN) $(DISPLAY_PEER) $(DISPLAY_TEST_BINS) $(DISPLAY_VNC_CLIENT)
	sh tests/unit/run.sh $(DISPLAY_TEST_BINS)
	DUET_DISPLAY=$(DISPLAY_ASAN_BIN) DUET_DISPLAY_PEER=$(DISPLAY_PEER) \
	    DUET_VNC_CLIENT=$(DISPLAY_VNC_CLIENT) \
	    $(PYTHON) -m pytest -q -p no:cacheprovider tests/display

# The benchmark runs optimised code: it times the compositor in-process, and
# the idle CPU and the hotkey-to-frame latency of a real duet-display with
# two peers.
$(BUILD)/tests/display/peer: $(call obj,tests/display/peer.c) $(BUILD)/lib/libduet.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^

$(BUILD)/bench/bench_compose: $(call obj,tests/display/bench_compose.c $(DISPLAY_SRCS)) $(BUILD)/lib/libduet.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(DISPLAY_LIBS)

.PHONY: bench-display
bench-display: $(BUILD)/bench/bench_compose $(BUILD)/bin/duet-display $(BUILD)/tests/display/peer
	$(BUILD)/bench/bench_compose $(BUILD)/bin/duet-display $(BUILD)/tests/display/peer

# The rig's DRM/KMS and evdev test (tests/system/test_display_drm.py) runs
# the sanitized duet-display and the optimised peer inside the rig, with
# uinput_keys typing on real (uinput) devices there.
DISPLAY_UINPUT := $(BUILD)/tests/display/uinput_keys

$(call obj,tests/display/uinput_keys.c): BASE_CPPFLAGS += $(DISPLAY_CFLAGS)

$(DISPLAY_UINPUT): $(call obj,tests/display/uinput_keys.c)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(shell pkg-config --libs libevdev 2>/dev/null)

check-system: $(DISPLAY_ASAN_BIN) $(BUILD)/bin/duet-vmctl $(BUILD)/tests/display/peer $(DISPLAY_UINPUT)

# VNC: tests/display/test_vnc.py drives the servers with vnc_client (a
# libvncclient program) and Debian's vncsnapshot.
$(call asan_obj,tests/display/vnc_client.c): BASE_CPPFLAGS += $(DISPLAY_CFLAGS)

$(DISPLAY_VNC_CLIENT): $(call asan_obj,tests/display/vnc_client.c)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SANITIZE) -o $@ $^ $(shell pkg-config --libs libvncclient libvncserver 2>/dev/null) -ljpeg

# make bench-vnc: duet-display's VNC against QEMU's, on the same picture
# (tests/display/bench_vnc.c); QEMU shows it through bench_vnc_guest.c, a
# multiboot guest built like the kvm tier's (GUEST_CFLAGS: guests.mk).
$(call obj,tests/display/bench_vnc.c): BASE_CPPFLAGS += -Idisplay $(DISPLAY_CFLAGS)

$(BUILD)/bench/bench_vnc: $(call obj,tests/display/bench_vnc.c display/font.c) $(BUILD)/lib/libduet.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(shell pkg-config --libs pixman-1 2>/dev/null) -lm

$(BUILD)/bench/vnc_guest.elf: tests/display/bench_vnc_guest.c
	@mkdir -p $(dir $@)
	$(CC) -m32 $(GUEST_CFLAGS) $(GUEST_LDFLAGS) -Wl,-m,elf_i386 -Wl,-n -o $@ $<

.PHONY: bench-vnc
bench-vnc: $(BUILD)/bench/bench_vnc $(BUILD)/bin/duet-display $(BUILD)/bench/vnc_guest.elf
	$(BUILD)/bench/bench_vnc $(BUILD)/bin/duet-display $(BUILD)/bench/vnc_guest.elf \
	    $(shell command -v qemu-system-x86_64)
