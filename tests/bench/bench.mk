# Benchmarks: duet-vmm against QEMU (-accel kvm), both run inside one boot of
# the rig (tests/system) so that they see the same nested-KVM conditions.
# Included by the top-level Makefile (BUILD, CC, PYTHON; `bench` is phony).
# See tests/bench/README.md.
#
#   make bench                           all benchmarks, ~11-13 minutes (bios ~6)
#   make bench BENCH_ARGS='--only pio'   some groups: boot, pio, blk, bios
#   make bench BENCH_ARGS='--smp2'       also boot with 2 vCPUs (+2-3 min)
#
# Built here: tsline (static: runs a VMM and timestamps its serial lines
# inside the rig, which has no python) and the vmm-pio-exits guest, once
# with no port writes and once with BENCH_PIO_COUNT of them.

BENCH_DIR       := $(BUILD)/bench
BENCH_TSLINE    := $(BENCH_DIR)/tsline
BENCH_PIO_COUNT ?= 50000
BENCH_PIO_GUESTS := $(BENCH_DIR)/guests/pio_0.elf $(BENCH_DIR)/guests/pio_$(BENCH_PIO_COUNT).elf
BENCH_CFLAGS    ?= -O2 -g -Wall -Wextra -Werror
BENCH_ARGS      ?=

bench: $(RIG_DEPS) $(BUILD)/bin/duet-vmm $(BENCH_TSLINE) $(BENCH_PIO_GUESTS)
	$(PYTHON) tests/bench/bench_vmm.py --vmm $(BUILD)/bin/duet-vmm --tsline $(BENCH_TSLINE) \
	    --pio-guests $(BENCH_PIO_GUESTS) --pio-count $(BENCH_PIO_COUNT) --out $(BENCH_DIR)/last \
	    $(BENCH_ARGS)

$(BENCH_TSLINE): tests/bench/tsline.c
	@mkdir -p $(@D)
	$(CC) -static $(BENCH_CFLAGS) -o $@ $<

# Multiboot ELF32 (crt_mb.S carries the header and sets up a stack), linked
# at 1 MiB like the kvm-tier guests (GUEST_CFLAGS/GUEST_LDFLAGS: guests.mk);
# -n (nmagic) keeps the ELF headers out of the loaded segments, which would
# otherwise land below 1 MiB, in what QEMU maps as BIOS ROM.
$(BENCH_DIR)/guests/pio_%.elf: tests/bench/guests/pio_loop.c tests/bench/guests/crt_mb.S tests/guests/lib/guest.h
	@mkdir -p $(@D)
	$(CC) -m32 $(GUEST_CFLAGS) -DPIO_COUNT=$* $(GUEST_LDFLAGS) -Wl,-m,elf_i386 -Wl,-n -o $@ \
	    tests/bench/guests/crt_mb.S tests/bench/guests/pio_loop.c

# The classroom image: its size, and PXE ROM to both guests / to the LTSP
# guest's X login, HTTP against TFTP in one run (tests/bench/bench_classroom.py,
# ~10 minutes: two whole classroom boots under TCG).
.PHONY: bench-classroom
bench: bench-classroom
bench-classroom: $(IMAGE) netboot $(LTSP_GUEST_IMAGE) $(LTSP_XDM_STAMP)
	$(PYTHON) tests/bench/bench_classroom.py
