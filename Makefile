# duet: one Makefile for everything; all output goes to build/.
#   make            build every binary into build/bin/
#   make check      install what is missing, build, run every test tier
#   make demo       install what is missing, build, run the demo
# See README.md and docs/architecture.md.

BUILD ?= build
CC ?= cc
PYTHON ?= /usr/bin/python3
DEPS_SCRIPT := scripts/deps.sh

CFLAGS ?= -O2 -g
WARNINGS := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes
BASE_CPPFLAGS := -std=c11 -D_GNU_SOURCE -Ilib -Ivmm
SANITIZE := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer

LIB_SRCS := $(wildcard lib/*.c)
VMM_SRCS := $(filter-out vmm/main.c,$(wildcard vmm/*.c vmm/hw/*.c vmm/virtio/*.c))
VMM_PKGS := jansson libseccomp slirp inih libpng
VMM_LIBS := $(shell pkg-config --libs $(VMM_PKGS) 2>/dev/null) -lnbd -lpthread
BASE_CPPFLAGS += $(shell pkg-config --cflags $(VMM_PKGS) 2>/dev/null)

# duet-display: its objects get the display libraries' include paths.
DISPLAY_SRCS := $(filter-out display/main.c,$(wildcard display/*.c))
DISPLAY_PKGS := pixman-1 libpng libvncserver libdrm libevdev jansson inih hogweed nettle
DISPLAY_CFLAGS := $(shell pkg-config --cflags $(DISPLAY_PKGS) 2>/dev/null)
DISPLAY_LIBS := $(shell pkg-config --libs $(DISPLAY_PKGS) 2>/dev/null)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
asan_obj = $(patsubst %.c,$(BUILD)/asan/obj/%.o,$(1))

.SECONDARY:
.PHONY: all check check-unit check-display check-kvm check-system bench fuzz demo clean deps netboot
all: $(BUILD)/bin/duet-vmm $(BUILD)/bin/duet-vmctl $(BUILD)/bin/duet-display

deps:
	@sh $(DEPS_SCRIPT)

# V=1 shows every command; by default one short line per file.
Q := $(if $(V),,@)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(V),,echo "  CC      $<")
	$(Q)$(CC) $(BASE_CPPFLAGS) $(CFLAGS) $(WARNINGS) -MMD -MP -c $< -o $@

$(BUILD)/asan/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(V),,echo "  CC asan $<")
	$(Q)$(CC) $(BASE_CPPFLAGS) $(CFLAGS) $(WARNINGS) $(SANITIZE) -MMD -MP -c $< -o $@

$(BUILD)/lib/libduet.a: $(call obj,$(LIB_SRCS))
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

$(BUILD)/asan/lib/libduet.a: $(call asan_obj,$(LIB_SRCS))
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

$(BUILD)/bin/duet-vmm: $(call obj,vmm/main.c $(VMM_SRCS)) $(BUILD)/lib/libduet.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(VMM_LIBS)

$(BUILD)/bin/duet-vmctl: $(call obj,vmm/vmctl/duet-vmctl.c) $(BUILD)/lib/libduet.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ -ljansson

$(call obj,display/main.c $(DISPLAY_SRCS)) $(call asan_obj,display/main.c $(DISPLAY_SRCS)): \
	BASE_CPPFLAGS += $(DISPLAY_CFLAGS)

$(BUILD)/bin/duet-display: $(call obj,display/main.c $(DISPLAY_SRCS)) $(BUILD)/lib/libduet.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(DISPLAY_LIBS)

# The sanitized duet-vmm that the kvm tier runs.
$(BUILD)/asan/bin/duet-vmm: $(call asan_obj,vmm/main.c $(VMM_SRCS)) $(BUILD)/asan/lib/libduet.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SANITIZE) -o $@ $^ $(VMM_LIBS)

include tests/unit/unit.mk
include tests/guests/guests.mk
include tests/system/rig.mk
include initramfs/initramfs.mk
include initramfs/ltsp-guest/ltsp-guest.mk
include tests/bench/bench.mk
include tests/fuzz/fuzz.mk
include tests/display/display.mk
include netboot/netboot.mk
include server-tools/server-tools.mk

check: deps
	$(MAKE) all
	$(MAKE) check-unit
	$(MAKE) check-display
	$(MAKE) check-server
	$(MAKE) check-kvm
	$(MAKE) check-system

check-kvm: $(BUILD)/asan/bin/duet-vmm $(GUEST_BINS) $(BROKEN_GUEST_BINS)
	sh tests/kvm/run.sh $(BUILD)/asan/bin/duet-vmm $(BUILD)/guests $(filter-out tests/guests/power_button.c tests/guests/console_echo.c,$(GUEST_SRCS))
	sh tests/kvm/selftest.sh $(BUILD)/asan/bin/duet-vmm $(BUILD)/guests
	sh tests/kvm/test_cli.sh $(BUILD)/asan/bin/duet-vmm $(BUILD)/guests
	$(PYTHON) tests/kvm/test_control.py $(BUILD)/asan/bin/duet-vmm $(BUILD)/guests
	sh tests/kvm/test_console.sh $(BUILD)/asan/bin/duet-vmm $(BUILD)/guests

check-system: $(RIG_DEPS) $(BUILD)/bin/duet-vmm $(GUEST_BINS) $(IMAGE) $(DISPLAY_VNC_CLIENT)
	$(PYTHON) -m pytest -q tests/system

demo: deps
	$(MAKE) all image netboot ltsp-guest ltsp-xdm
	$(PYTHON) scripts/demo.py

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD)/obj $(BUILD)/asan -name '*.d' 2>/dev/null)

# `make bench` runs every benchmark: the VMM against QEMU in the rig
# (tests/bench), the compositor against memcpy and VNC against QEMU's.
bench: bench-display bench-vnc
