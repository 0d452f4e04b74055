# The rig (system test tier): build outputs it needs. Included by the
# top-level Makefile, which defines BUILD, CC and PYTHON. See
# tests/system/README.md.
#
#   RIG_DEPS   everything `check-system` must build before running pytest
#
# Debian's kernel package is unpacked whole (~400 MB) so that later tests can
# load any of its modules (uinput, bochs, tun, ...); depmod writes
# modules.dep there so the harness resolves module dependencies by name, and
# the uncompressed ELF vmlinux is extracted next to it: QEMU boots that
# through the kernel's PVH entry, ~2.5 s faster per boot under TCG than the
# xz-compressed bzImage.

RIG_DIR          := $(BUILD)/rig
RIG_KERNEL_DEB   ?= /var/cache/duet/debs/linux-image-amd64.deb
RIG_KERNEL_DIR   := $(RIG_DIR)/kernel
RIG_KERNEL_STAMP := $(RIG_KERNEL_DIR)/.unpacked
RIG_KVM_SMOKE    := $(RIG_DIR)/kvm-smoke
RIG_DEPMOD       ?= /sbin/depmod
RIG_CFLAGS       ?= -O2 -g -Wall -Wextra -Werror

RIG_DEPS := $(RIG_KERNEL_STAMP) $(RIG_KVM_SMOKE)

# Unpack into a temporary directory and rename it, so an interrupted unpack
# never leaves a directory that looks finished.
$(RIG_KERNEL_STAMP): $(RIG_KERNEL_DEB) tests/system/extract_vmlinux.py
	@test -r $(RIG_KERNEL_DEB) || { echo "rig: kernel package $(RIG_KERNEL_DEB) not found" >&2; exit 1; }
	rm -rf $(RIG_KERNEL_DIR) $(RIG_KERNEL_DIR).tmp
	mkdir -p $(RIG_KERNEL_DIR).tmp
	dpkg-deb -x $(RIG_KERNEL_DEB) $(RIG_KERNEL_DIR).tmp
	set -e; for kver in $$(ls $(RIG_KERNEL_DIR).tmp/lib/modules); do \
	    $(RIG_DEPMOD) -b $(RIG_KERNEL_DIR).tmp $$kver; done
	$(PYTHON) tests/system/extract_vmlinux.py $(RIG_KERNEL_DIR).tmp/boot/vmlinuz-* $(RIG_KERNEL_DIR).tmp/vmlinux
	touch $(RIG_KERNEL_DIR).tmp/.unpacked
	mv $(RIG_KERNEL_DIR).tmp $(RIG_KERNEL_DIR)

$(RIG_KVM_SMOKE): tests/system/kvm_smoke.c
	@mkdir -p $(@D)
	$(CC) -static $(RIG_CFLAGS) -o $@ $<

.PHONY: rig-deps rig-clean
rig-deps: $(RIG_DEPS)
rig-clean:
	rm -rf $(RIG_DIR)
