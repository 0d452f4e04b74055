# The classroom image: build/netboot/duet/{vmlinuz,initrd.img} (see
# docs/image.md). Included by the top-level Makefile, which defines BUILD
# and PYTHON; the unpacked kernel comes from tests/system/rig.mk.
#
# SOURCE_DATE_EPOCH stamps every file in the image: the last commit's time,
# so the same sources give the same bytes.

IMAGE_DIR   := $(BUILD)/netboot/duet
IMAGE       := $(IMAGE_DIR)/initrd.img
RUNIT_DEB   ?= /var/cache/duet/debs/runit.deb
IMAGE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
IMAGE_VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
IMAGE_INPUTS := initramfs/mkimage.py initramfs/cpio.py initramfs/init initramfs/modules.list \
                $(wildcard initramfs/lib/*) $(BUILD)/bin/duet-vmm $(BUILD)/bin/duet-display \
                $(BUILD)/bin/duet-vmctl $(RIG_KERNEL_STAMP)

.PHONY: image
image: $(IMAGE)

$(IMAGE): $(IMAGE_INPUTS)
	@test -r $(RUNIT_DEB) || { echo "image: $(RUNIT_DEB) not found (scripts/deps.sh fetches it)" >&2; exit 1; }
	SOURCE_DATE_EPOCH=$(IMAGE_EPOCH) $(PYTHON) initramfs/mkimage.py --kernel-dir $(RIG_KERNEL_DIR) \
	    --bin $(BUILD)/bin --out $(IMAGE_DIR) --runit-deb $(RUNIT_DEB) --version $(IMAGE_VERSION)
