# The LTSP session guest (docs/ltsp-guest.md). Included by the top-level
# Makefile, which defines BUILD and PYTHON; rig.mk defines the unpacked
# Debian kernel it takes its vmlinuz and modules from.
#
#   make ltsp-guest   build/netboot/duet/guests/ltsp/{vmlinuz,initrd.img}
#   make ltsp-xdm     xdm unpacked (not installed) under build/ltsp-guest/xdm,
#                     for xdmcp-server.sh in the tests and the demo
#
# The image is rebuilt when its sources, the kernel or the X server it
# copies change. SOURCE_DATE_EPOCH (default: the classroom image's, the
# last commit's time) stamps every file in it.

LTSP_GUEST_OUT   := $(BUILD)/netboot/duet/guests/ltsp
LTSP_GUEST_IMAGE := $(LTSP_GUEST_OUT)/initrd.img
LTSP_GUEST_SRCS  := $(addprefix initramfs/ltsp-guest/,build.py init udhcpc.script xorg.conf.in) \
		    initramfs/cpio.py
LTSP_GUEST_HOST  := $(wildcard /usr/lib/xorg/Xorg /usr/lib/xorg/modules/input/evdev_drv.so \
		    /usr/bin/xkbcomp /bin/busybox)
# xdm is a display manager: installed, it could start on a graphical
# machine's next boot. scripts/deps.sh downloads its package; it is
# unpacked here, never installed.
LTSP_XDM_DEB     ?= $(or $(DUET_DEB_CACHE),/var/cache/duet/debs)/xdm.deb
LTSP_XDM_DIR     := $(BUILD)/ltsp-guest/xdm
LTSP_XDM_STAMP   := $(LTSP_XDM_DIR)/.unpacked
LTSP_GUEST_EPOCH ?= $(or $(SOURCE_DATE_EPOCH),$(IMAGE_EPOCH),0)

.PHONY: ltsp-guest ltsp-xdm
ltsp-guest: $(LTSP_GUEST_IMAGE)
ltsp-xdm: $(LTSP_XDM_STAMP)

$(LTSP_GUEST_IMAGE): $(LTSP_GUEST_SRCS) $(LTSP_GUEST_HOST) $(RIG_KERNEL_STAMP)
	SOURCE_DATE_EPOCH=$(LTSP_GUEST_EPOCH) $(PYTHON) initramfs/ltsp-guest/build.py \
	    --kernel-dir $(RIG_KERNEL_DIR) --out $(LTSP_GUEST_OUT)

# Unpacked into a temporary directory and renamed, so an interrupted
# unpack never looks finished.
$(LTSP_XDM_STAMP): $(LTSP_XDM_DEB)
	rm -rf $(LTSP_XDM_DIR) $(LTSP_XDM_DIR).tmp
	mkdir -p $(LTSP_XDM_DIR).tmp
	dpkg-deb -x $(LTSP_XDM_DEB) $(LTSP_XDM_DIR).tmp
	touch $(LTSP_XDM_DIR).tmp/.unpacked
	mv $(LTSP_XDM_DIR).tmp $(LTSP_XDM_DIR)

$(LTSP_XDM_DEB):
	@echo "ltsp-xdm: $@ not found (scripts/deps.sh downloads it: make deps)" >&2; exit 1

check-system: $(LTSP_GUEST_IMAGE) $(LTSP_XDM_STAMP)
