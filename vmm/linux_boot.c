/* Linux/x86 boot protocol, 64-bit entry. Offsets are those of struct
 * boot_params and struct setup_header in the kernel's
 * arch/x86/include/uapi/asm/bootparam.h and Documentation/arch/x86/boot.rst
 * ("THE REAL-MODE KERNEL HEADER", "64-bit BOOT PROTOCOL"). Every field read
 * from the image is checked before use. */
#include "linux_boot.h"

#include <errno.h>
#include <string.h>

/* struct boot_params (the zero page). */
#define BP_ACPI_RSDP_ADDR 0x070
#define BP_EXT_RAMDISK_IMAGE 0x0c0
#define BP_EXT_RAMDISK_SIZE 0x0c4
#define BP_EXT_CMD_LINE_PTR 0x0c8
#define BP_E820_ENTRIES 0x1e8
#define BP_HDR 0x1f1
#define BP_E820_TABLE 0x2d0
#define BP_E820_MAX 128
#define BP_SIZE 4096

/* struct setup_header, at 0x1f1 in both the image and the zero page. */
#define HDR_SETUP_SECTS 0x1f1
#define HDR_BOOT_FLAG 0x1fe
#define HDR_JUMP_END 0x201   /* byte: header length - 0x202 + 0x202 */
#define HDR_HEADER 0x202
#define HDR_VERSION 0x206
#define HDR_TYPE_OF_LOADER 0x210
#define HDR_LOADFLAGS 0x211
#define HDR_RAMDISK_IMAGE 0x218
#define HDR_RAMDISK_SIZE 0x21c
#define HDR_HEAP_END_PTR 0x224
#define HDR_CMD_LINE_PTR 0x228
#define HDR_INITRD_ADDR_MAX 0x22c
#define HDR_XLOADFLAGS 0x236
#define HDR_CMDLINE_SIZE 0x238
#define HDR_INIT_SIZE 0x260

#define HDR_MAGIC 0x53726448 /* "HdrS" */
#define LOADFLAGS_LOADED_HIGH 0x01
#define LOADFLAGS_CAN_USE_HEAP 0x80
#define XLF_KERNEL_64 0x0001
#define LOADER_TYPE_UNDEFINED 0xff

/* The 64-bit entry is 0x200 past the start of the protected-mode kernel. */
#define LINUX_ENTRY64_OFFSET 0x200

#define E820_RAM 1
#define E820_RESERVED 2

static uint16_t get16(const uint8_t *p, size_t off)
{
	return (uint16_t)(p[off] | p[off + 1] << 8);
}

static uint32_t get32(const uint8_t *p, size_t off)
{
	return (uint32_t)p[off] | (uint32_t)p[off + 1] << 8 | (uint32_t)p[off + 2] << 16 |
	       (uint32_t)p[off + 3] << 24;
}

static void put16(uint8_t *p, size_t off, uint16_t v)
{
	memcpy(p + off, &v, 2);
}

static void put32(uint8_t *p, size_t off, uint32_t v)
{
	memcpy(p + off, &v, 4);
}

static void put64(uint8_t *p, size_t off, uint64_t v)
{
	memcpy(p + off, &v, 8);
}

static void e820_add(uint8_t *bp, uint64_t addr, uint64_t size, uint32_t type)
{
	uint8_t n = bp[BP_E820_ENTRIES];
	uint8_t *e = bp + BP_E820_TABLE + 20 * (size_t)n;

	if (n >= BP_E820_MAX || size == 0)
		return;
	put64(e, 0, addr);
	put64(e, 8, size);
	put32(e, 16, type);
	bp[BP_E820_ENTRIES] = (uint8_t)(n + 1);
}

/* linux_e820: RAM as the guest's memory regions give it, with the EBDA and
 * the BIOS area (where duet's ACPI tables live) reserved. */
static void linux_e820(uint8_t *bp, const struct guest_mem *mem)
{
	e820_add(bp, 0, LINUX_EBDA_START, E820_RAM);
	e820_add(bp, LINUX_EBDA_START, 0xa0000 - LINUX_EBDA_START, E820_RESERVED);
	e820_add(bp, LINUX_BIOS_START, 0x100000 - LINUX_BIOS_START, E820_RESERVED);
	e820_add(bp, 0x100000, mem_low_end(mem) - 0x100000, E820_RAM);
	if (mem_high_size(mem))
		e820_add(bp, MEM_HIGH_BASE, mem_high_size(mem), E820_RAM);
}

int linux_load(struct guest_mem *mem, const struct linux_image *img,
	       struct boot_entry *entry, const char **why)
{
	const uint8_t *k = img->kernel;
	uint8_t *bp;
	size_t setup_sects, setup_len, hdr_end, cmdline_len;
	uint64_t kernel_len, low_end, initrd_max, initrd_addr = 0, kernel_end;
	uint32_t init_size, cmdline_size;
	uint16_t version;

	if (img->kernel_len < 0x1000 || get32(k, HDR_HEADER) != HDR_MAGIC ||
	    get16(k, HDR_BOOT_FLAG) != 0xaa55) {
		*why = "not a Linux bzImage (no \"HdrS\" boot header)";
		return -ENOEXEC;
	}
	version = get16(k, HDR_VERSION);
	if (version < LINUX_MIN_PROTOCOL || !(get16(k, HDR_XLOADFLAGS) & XLF_KERNEL_64) ||
	    !(k[HDR_LOADFLAGS] & LOADFLAGS_LOADED_HIGH)) {
		*why = "kernel too old or not 64-bit (needs boot protocol 2.12 with a 64-bit entry)";
		return -ENOEXEC;
	}
	setup_sects = k[HDR_SETUP_SECTS] ? k[HDR_SETUP_SECTS] : 4;
	setup_len = (setup_sects + 1) * 512;
	hdr_end = HDR_HEADER + k[HDR_JUMP_END];
	if (setup_len >= img->kernel_len || hdr_end > setup_len || hdr_end > BP_SIZE) {
		*why = "bzImage header is malformed (setup size)";
		return -ENOEXEC;
	}
	kernel_len = img->kernel_len - setup_len;
	init_size = get32(k, HDR_INIT_SIZE);
	if (init_size < kernel_len)
		init_size = (uint32_t)kernel_len;
	kernel_end = LINUX_KERNEL_ADDR + init_size;
	low_end = mem_low_end(mem);
	if (kernel_end > low_end) {
		*why = "guest RAM too small for this kernel (try a larger --memory)";
		return -ENOSPC;
	}
	if (mem_write(mem, LINUX_KERNEL_ADDR, k + setup_len, kernel_len)) {
		*why = "guest RAM too small for this kernel";
		return -ENOSPC;
	}

	cmdline_size = version >= 0x0206 ? get32(k, HDR_CMDLINE_SIZE) : 255;
	if (cmdline_size > LINUX_CMDLINE_MAX - 1)
		cmdline_size = LINUX_CMDLINE_MAX - 1;
	cmdline_len = img->cmdline ? strlen(img->cmdline) : 0;
	if (cmdline_len > cmdline_size) {
		*why = "kernel command line is longer than the kernel accepts";
		return -E2BIG;
	}

	if (img->initrd && img->initrd_len) {
		/* As high as the kernel allows, below the end of low RAM,
		 * page-aligned, clear of the decompressed kernel. */
		initrd_max = (uint64_t)get32(k, HDR_INITRD_ADDR_MAX) + 1;
		if (initrd_max > low_end)
			initrd_max = low_end;
		if (img->initrd_len > initrd_max ||
		    ((initrd_max - img->initrd_len) & ~0xfffULL) < kernel_end) {
			*why = "initrd does not fit in guest RAM beside the kernel (try a larger --memory)";
			return -ENOSPC;
		}
		initrd_addr = (initrd_max - img->initrd_len) & ~0xfffULL;
		if (mem_write(mem, initrd_addr, img->initrd, img->initrd_len)) {
			*why = "initrd does not fit in guest RAM";
			return -ENOSPC;
		}
	}

	bp = mem_ptr(mem, LINUX_BOOT_PARAMS_ADDR, BP_SIZE);
	if (!bp || mem_write(mem, LINUX_CMDLINE_ADDR, img->cmdline ? img->cmdline : "",
			     cmdline_len + 1)) {
		*why = "guest RAM too small";
		return -ENOSPC;
	}
	memset(bp, 0, BP_SIZE);
	memcpy(bp + BP_HDR, k + BP_HDR, hdr_end - BP_HDR);
	bp[HDR_TYPE_OF_LOADER] = LOADER_TYPE_UNDEFINED;
	bp[HDR_LOADFLAGS] |= LOADFLAGS_CAN_USE_HEAP;
	put16(bp, HDR_HEAP_END_PTR, 0xfe00);
	put32(bp, HDR_CMD_LINE_PTR, (uint32_t)LINUX_CMDLINE_ADDR);
	put32(bp, BP_EXT_CMD_LINE_PTR, 0);
	put32(bp, HDR_RAMDISK_IMAGE, (uint32_t)initrd_addr);
	put32(bp, HDR_RAMDISK_SIZE, (uint32_t)img->initrd_len);
	put32(bp, BP_EXT_RAMDISK_IMAGE, (uint32_t)(initrd_addr >> 32));
	put32(bp, BP_EXT_RAMDISK_SIZE, (uint32_t)((uint64_t)img->initrd_len >> 32));
	put64(bp, BP_ACPI_RSDP_ADDR, img->acpi_rsdp);
	linux_e820(bp, mem);

	if (x86_boot_tables(mem, BOOT_LONG)) {
		*why = "guest RAM too small";
		return -ENOSPC;
	}
	entry->mode = BOOT_LONG;
	entry->rip = LINUX_KERNEL_ADDR + LINUX_ENTRY64_OFFSET;
	entry->rsi = LINUX_BOOT_PARAMS_ADDR;
	entry->linux_boot = 1;
	return 0;
}
