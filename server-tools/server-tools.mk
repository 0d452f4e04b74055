# server-tools/: `duet`, the LTSP server's command (docs/duet.md).
# Included by the top-level Makefile.
#
#   make build/bin/duet     the command
#   make check-server       its tests (tests/server, real dnsmasq, qemu-img,
#                           nbd-server, duet-display and duet-vmm)

SERVER_SRCS := $(wildcard server-tools/*.c)
SERVER_PKGS := inih libvncclient libpng nettle jansson
SERVER_CFLAGS := $(shell pkg-config --cflags $(SERVER_PKGS) 2>/dev/null)
SERVER_LIBS := $(shell pkg-config --libs $(SERVER_PKGS) 2>/dev/null) -lhogweed -lgmp

$(call obj,$(SERVER_SRCS)): BASE_CPPFLAGS += $(SERVER_CFLAGS) -Iserver-tools

$(BUILD)/bin/duet: $(call obj,$(SERVER_SRCS)) $(BUILD)/lib/libduet.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(SERVER_LIBS)

all: $(BUILD)/bin/duet

.PHONY: check-server
check-server: $(BUILD)/bin/duet $(BUILD)/bin/duet-vmm $(BUILD)/bin/duet-display
	$(PYTHON) -m pytest -q tests/server
