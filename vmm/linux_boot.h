/* The Linux/x86 boot protocol (Documentation/arch/x86/boot.rst): load an
 * unmodified bzImage, its initrd and command line, describe RAM with an
 * e820 map in the zero page, and enter the kernel at its 64-bit entry. */
#ifndef DUET_LINUX_BOOT_H
#define DUET_LINUX_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include "mem.h"
#include "x86_boot.h"

/* Guest-physical layout of a direct Linux boot. */
#define LINUX_BOOT_PARAMS_ADDR 0x10000ULL  /* the zero page, 4 KiB */
#define LINUX_CMDLINE_ADDR 0x20000ULL      /* up to LINUX_CMDLINE_MAX bytes */
#define LINUX_CMDLINE_MAX 4096
#define LINUX_KERNEL_ADDR 0x100000ULL      /* protected-mode kernel */
#define LINUX_EBDA_START 0x9fc00ULL        /* reserved up to 640 KiB */
#define LINUX_BIOS_START 0xe0000ULL        /* reserved to 1 MiB: ACPI lives here */

/* The boot protocol version the 64-bit entry and the fields we set need
 * (2.12: xloadflags with XLF_KERNEL_64). */
#define LINUX_MIN_PROTOCOL 0x020c

struct linux_image {
	const uint8_t *kernel;
	size_t kernel_len;
	const uint8_t *initrd;   /* may be NULL */
	size_t initrd_len;
	const char *cmdline;     /* may be NULL */
	uint64_t acpi_rsdp;      /* 0 when there are no ACPI tables */
};

/* linux_load: place the kernel, initrd, command line and zero page in guest
 * RAM and say where to enter. -errno with *why set on failure (not a
 * bzImage, too old, does not fit...). */
int linux_load(struct guest_mem *mem, const struct linux_image *img,
	       struct boot_entry *entry, const char **why);

#endif
