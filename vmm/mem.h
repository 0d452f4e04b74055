/* Guest physical memory: one memfd holding all of guest RAM (so another
 * process, such as duet-display, can map parts of it), laid out as a PC
 * lays out RAM: conventional memory up to the VGA window at 0xa0000, from
 * 0xc0000 (option ROMs, the BIOS) to the PCI hole, and the rest from 4 GiB
 * up. The VGA window 0xa0000-0xbffff is not RAM: the VGA decodes it. Every
 * guest-physical address the VMM follows goes through mem_ptr, which checks
 * that the whole range is RAM. */
#ifndef DUET_MEM_H
#define DUET_MEM_H

#include <stddef.h>
#include <stdint.h>

#define MEM_MAX_REGIONS 4

/* Where RAM stops below 4 GiB when the guest has more than this; the PCI
 * hole (MMIO BARs, the LAPIC/IOAPIC, the BIOS alias) sits above it. */
#define MEM_LOW_LIMIT 0xc0000000ULL
#define MEM_HIGH_BASE 0x100000000ULL
#define MEM_VGA_START 0xa0000ULL
#define MEM_VGA_END 0xc0000ULL

struct mem_region {
	uint64_t gpa;
	uint64_t size;
	uint8_t *hva;
	uint64_t fd_offset;
};

struct guest_mem {
	int fd;         /* the memfd behind every RAM region */
	uint64_t size;  /* total RAM */
	uint8_t *base;  /* the whole memfd mapped once */
	int hugepages;  /* backed by hugetlbfs pages */
	unsigned nregions;
	struct mem_region regions[MEM_MAX_REGIONS];
};

/* mem_create: allocate `size` bytes of guest RAM; -errno on failure. Tries
 * 2 MiB huge pages first when `size` is a multiple of 2 MiB. */
int mem_create(struct guest_mem *mem, uint64_t size);
void mem_destroy(struct guest_mem *mem);

/* mem_low_end: where RAM below 4 GiB ends (the start of the PCI hole). */
uint64_t mem_low_end(const struct guest_mem *mem);
/* mem_high_size: bytes of RAM from 4 GiB up (0 when none). */
uint64_t mem_high_size(const struct guest_mem *mem);

/* mem_ptr: host address of guest-physical [gpa, gpa + len), or NULL when
 * any byte of it is not guest RAM (or the range wraps). */
void *mem_ptr(const struct guest_mem *mem, uint64_t gpa, uint64_t len);

/* mem_write / mem_read: copy to/from guest RAM; -EFAULT when the range is
 * not wholly RAM. */
int mem_write(const struct guest_mem *mem, uint64_t gpa, const void *src, uint64_t len);
int mem_read(const struct guest_mem *mem, uint64_t gpa, void *dst, uint64_t len);

#endif
