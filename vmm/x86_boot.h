/* Putting the boot vCPU into the mode an image expects: real mode for flat
 * images (like a boot sector), 32-bit protected mode for ELF32, 64-bit long
 * mode (first 4 GiB identity-mapped) for ELF64. */
#ifndef DUET_X86_BOOT_H
#define DUET_X86_BOOT_H

#include <stdint.h>

#include "mem.h"

enum boot_mode { BOOT_REAL, BOOT_PROTECTED, BOOT_LONG };

struct boot_entry {
	enum boot_mode mode;
	uint64_t rip;
	uint64_t rsi;   /* Linux: the boot_params address */
	int linux_boot; /* registers as the Linux boot protocol wants them */
};

/* Guest-physical layout of what x86_boot writes (below the 0x7000 line,
 * which images may not load into):
 *   0x0500  GDT: null, 0x08 code32, 0x10 code64, 0x18 data (the
 *           Linux boot protocol's __BOOT_CS/__BOOT_DS for 64-bit entry)
 *   0x1000  PML4, 0x2000 PDPT, 0x3000-0x6fff four page directories
 * The stack starts at 0x9f000 in protected and long mode; in real mode at
 * the load address when that is below 64 KiB. */
#define BOOT_GDT_ADDR 0x500ULL
#define BOOT_PML4_ADDR 0x1000ULL
#define BOOT_PDPT_ADDR 0x2000ULL
#define BOOT_PD_ADDR 0x3000ULL
#define BOOT_RESERVED_END 0x7000ULL
#define BOOT_STACK_TOP 0x9f000ULL

#define BOOT_SEL_CODE32 0x08
#define BOOT_SEL_CODE64 0x10
#define BOOT_SEL_DATA 0x18

/* x86_boot_tables: write the GDT (and page tables for long mode) into guest
 * RAM; -EFAULT when RAM is too small to hold them. */
int x86_boot_tables(struct guest_mem *mem, enum boot_mode mode);

struct vcpu;
/* x86_boot_vcpu: load the registers that start `entry` on the vCPU. */
int x86_boot_vcpu(struct vcpu *vcpu, const struct boot_entry *entry);

#endif
