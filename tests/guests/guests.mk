# Test guests for the kvm tier. Each file is one guest:
#   NAME.S   16-bit real-mode code, linked flat at 0x7c00 -> NAME.bin
#   NAME.c   freestanding C: NAME.32.c -> ELF32 (protected mode),
#            anything else -> ELF64 (long mode), both linked at 1 MiB
# A guest states what a passing run looks like in its own comments:
#   expect-exit: N      duet-vmm's exit status (default 0)
#   expect-serial: TEXT a line the serial output must contain (repeatable)
#   vmm-args: ARGS      extra duet-vmm arguments
# tests/guests/broken/ holds guests that must fail; the harness self-test
# runs them to prove a failure is caught and reported.
GUEST_CFLAGS := -ffreestanding -fno-pic -fno-pie -fno-stack-protector -nostdlib \
	-fno-asynchronous-unwind-tables -mno-red-zone -mgeneral-regs-only -O2 \
	-Wall -Wextra -Werror -Itests/guests/lib
GUEST_LDFLAGS := -nostdlib -static -no-pie -Wl,--build-id=none -Wl,-Ttext=0x100000 \
	-Wl,-z,noexecstack -Wl,--no-warn-rwx-segments

guest_out = $(patsubst tests/guests/%.S,$(BUILD)/guests/%.bin,\
	$(patsubst tests/guests/%.c,$(BUILD)/guests/%.elf,$(1)))

GUEST_SRCS := $(wildcard tests/guests/*.S tests/guests/*.c)
GUEST_BINS := $(call guest_out,$(GUEST_SRCS))
BROKEN_GUEST_SRCS := $(wildcard tests/guests/broken/*.S tests/guests/broken/*.c)
BROKEN_GUEST_BINS := $(call guest_out,$(BROKEN_GUEST_SRCS))

.PHONY: guests
guests: $(GUEST_BINS) $(BROKEN_GUEST_BINS)

$(BUILD)/guests/%.bin: tests/guests/%.S
	@mkdir -p $(dir $@)
	$(CC) -m32 -c -o $(@:.bin=.o) $<
	ld -m elf_i386 -Ttext=0x7c00 --oformat binary -o $@ $(@:.bin=.o)

$(BUILD)/guests/%.32.elf: tests/guests/%.32.c tests/guests/lib/guest.h tests/guests/lib/crt32.S
	@mkdir -p $(dir $@)
	$(CC) -m32 $(GUEST_CFLAGS) $(GUEST_LDFLAGS) -Wl,-m,elf_i386 -o $@ tests/guests/lib/crt32.S $<

$(BUILD)/guests/%.elf: tests/guests/%.c tests/guests/lib/guest.h tests/guests/lib/crt64.S
	@mkdir -p $(dir $@)
	$(CC) -m64 $(GUEST_CFLAGS) $(GUEST_LDFLAGS) -o $@ tests/guests/lib/crt64.S $<
