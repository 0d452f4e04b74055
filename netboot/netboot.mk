# netboot/: the PXE boot chain, built into $(NETBOOT_DIR), a mirror of an
# LTSP server's /srv/tftp (everything of duet under duet/). Included by the
# top-level Makefile; runs alone too:
#
#   make netboot                                   build/netboot/
#   make -f netboot/netboot.mk netboot NETBOOT_DIR=/tmp/tftp
#   make bench-netboot                             tests/bench/bench_netboot.py
#
# The files come from Debian's pxelinux, syslinux-common and ipxe packages
# and from the templates here, so the same packages and settings give the
# same bytes; every file is mode 0644, every directory 0755. The image
# build (initramfs/) adds duet/vmlinuz and duet/initrd.img. See
# docs/netboot.md.

BUILD  ?= build
PYTHON ?= /usr/bin/python3

NETBOOT_DIR     ?= $(BUILD)/netboot
# Seconds both menus wait before booting duet.
NETBOOT_TIMEOUT ?= 3
# Kernel arguments of the duet entry, after the ones the chain adds
# (ip=, BOOTIF=, duet.url=). No single quotes, no `|`.
NETBOOT_APPEND  ?= quiet console=ttyS0,115200n8 console=tty0

PXELINUX_DIR ?= /usr/lib/PXELINUX
SYSLINUX_DIR ?= /usr/lib/syslinux/modules/bios
IPXE_DIR     ?= /usr/lib/ipxe

NETBOOT_DUET := $(NETBOOT_DIR)/duet
# ldlinux.c32 is PXELINUX's second stage; menu.c32 needs libutil.c32
# (readelf -d lists its NEEDED; tests/system/test_netboot.py checks it).
NETBOOT_C32  := ldlinux.c32 menu.c32 libutil.c32
NETBOOT_FILES := \
	$(NETBOOT_DUET)/pxelinux.0 \
	$(addprefix $(NETBOOT_DUET)/,$(NETBOOT_C32)) \
	$(NETBOOT_DUET)/pxelinux.cfg/default \
	$(NETBOOT_DUET)/undionly.kpxe \
	$(NETBOOT_DUET)/duet.ipxe \
	$(NETBOOT_DUET)/ltsp-entry.ipxe \
	$(NETBOOT_DUET)/http
NETBOOT_DIRS := $(NETBOOT_DIR) $(NETBOOT_DUET) $(NETBOOT_DUET)/pxelinux.cfg

# The settings the templates are filled with, kept next to the tree (not in
# it: the tree is served) so that changing one rebuilds them.
NETBOOT_SETTINGS := $(NETBOOT_DIR).settings
NETBOOT_SETTINGS_TEXT := timeout=$(NETBOOT_TIMEOUT) append=$(NETBOOT_APPEND)

.PHONY: netboot bench-netboot netboot-force
netboot: $(NETBOOT_FILES)
	@chmod 0755 $(NETBOOT_DIRS)
	@test -e $(NETBOOT_DUET)/vmlinuz -a -e $(NETBOOT_DUET)/initrd.img || \
	    echo "netboot: $(NETBOOT_DUET)/vmlinuz and initrd.img are not there yet (the image build adds them)"

# `make check-system` runs tests/system/test_netboot.py, which boots this tree.
check-system: netboot

$(NETBOOT_DIRS):
	install -d -m 0755 $@
$(NETBOOT_DUET): | $(NETBOOT_DIR)
$(NETBOOT_DUET)/pxelinux.cfg: | $(NETBOOT_DUET)

$(NETBOOT_SETTINGS): netboot-force | $(NETBOOT_DIR)
	@echo '$(NETBOOT_SETTINGS_TEXT)' | cmp -s - $@ || echo '$(NETBOOT_SETTINGS_TEXT)' > $@
netboot-force:

$(NETBOOT_DUET)/pxelinux.0: $(PXELINUX_DIR)/pxelinux.0 | $(NETBOOT_DUET)
	install -m 0644 $< $@
$(NETBOOT_DUET)/%.c32: $(SYSLINUX_DIR)/%.c32 | $(NETBOOT_DUET)
	install -m 0644 $< $@
$(NETBOOT_DUET)/undionly.kpxe: $(IPXE_DIR)/undionly.kpxe | $(NETBOOT_DUET)
	install -m 0644 $< $@
$(NETBOOT_DUET)/ltsp-entry.ipxe: netboot/ltsp-entry.ipxe | $(NETBOOT_DUET)
	install -m 0644 $< $@
$(NETBOOT_DUET)/http: netboot/http | $(NETBOOT_DUET)
	install -m 0644 $< $@

# Templates: @TIMEOUT_DS@ (tenths of a second, PXELINUX), @TIMEOUT_MS@
# (iPXE), @APPEND@.
netboot_fill = sed -e 's|@TIMEOUT_DS@|$(shell echo $$(($(NETBOOT_TIMEOUT) * 10)))|g' \
	-e 's|@TIMEOUT_MS@|$(shell echo $$(($(NETBOOT_TIMEOUT) * 1000)))|g' \
	-e 's|@APPEND@|$(NETBOOT_APPEND)|g' $(1) > $(2).tmp && chmod 0644 $(2).tmp && mv $(2).tmp $(2)

$(NETBOOT_DUET)/pxelinux.cfg/default: netboot/pxelinux.cfg.in $(NETBOOT_SETTINGS) | $(NETBOOT_DUET)/pxelinux.cfg
	$(call netboot_fill,$<,$@)
$(NETBOOT_DUET)/duet.ipxe: netboot/duet.ipxe.in $(NETBOOT_SETTINGS) | $(NETBOOT_DUET)
	$(call netboot_fill,$<,$@)

# The boot-storm benchmark (make bench runs it): on this machine, in network
# namespaces, no KVM. BENCH_NETBOOT_ARGS e.g. '--clients 10 --rate 1gbit'.
BENCH_NETBOOT_ARGS ?=
bench: bench-netboot
bench-netboot: netboot
	$(PYTHON) tests/bench/bench_netboot.py --tree $(NETBOOT_DIR) $(BENCH_NETBOOT_ARGS)
