# server-tools/: `duet`, the LTSP server's command (docs/duet.md).
# Included by the top-level Makefile.
#
#   make build/bin/duet     the command
#   make check-server       its tests (tests/server, real dnsmasq, qemu-img,
#                           nbd-server, duet-display and duet-vmm)

SERVER_SRCS := $(wildcard server-tools/*.c)
SERVER_PKGS := inih libvncclient libpng nettle jansson pixman-1
SERVER_CFLAGS := $(shell pkg-config --cflags $(SERVER_PKGS) 2>/dev/null)
SERVER_LIBS := $(shell pkg-config --libs $(SERVER_PKGS) 2>/dev/null) -lhogweed -lgmp

$(call obj,$(SERVER_SRCS)): BASE_CPPFLAGS += $(SERVER_CFLAGS) -Iserver-tools

# duet wall draws its labels with duet-display's banner font
# (display/font.c, with pixman). The remote port's protocol, which duet
# switch shares with duet-display, is lib/remote_proto.h.
SERVER_DISPLAY_SRCS := display/font.c
$(call obj,server-tools/wall.c): BASE_CPPFLAGS += -Idisplay

$(BUILD)/bin/duet: $(call obj,$(SERVER_SRCS) $(SERVER_DISPLAY_SRCS)) $(BUILD)/lib/libduet.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(SERVER_LIBS)

all: $(BUILD)/bin/duet

.PHONY: check-server
check-server: $(BUILD)/bin/duet $(BUILD)/bin/duet-vmm $(BUILD)/bin/duet-display \
		$(BUILD)/bin/duet-vmctl $(DISPLAY_PEER) $(DISPLAY_VNC_CLIENT) $(IMAGE) netboot
	$(PYTHON) -m pytest -q tests/server
