/* The QEMU firmware configuration device (fw_cfg) on the x86 I/O ports, as
 * QEMU's docs/specs/fw_cfg.rst describes it: the channel through which
 * SeaBIOS learns the RAM layout and CPU count and fetches the ACPI tables.
 * It is read-only to the guest. Only VMs that boot a BIOS get one (the BIOS
 * boot path calls fw_cfg_create); it does not plug itself in. docs/fw_cfg.md
 * lists the items SeaBIOS 1.16 reads. */
#ifndef DUET_HW_FW_CFG_H
#define DUET_HW_FW_CFG_H

#include <stddef.h>
#include <stdint.h>

#include "bus.h"
#include "mem.h"
#include "vm.h"

/* Ports (fw_cfg.rst "Register Locations", x86). */
#define FW_CFG_PORT_SELECTOR 0x510 /* 16-bit write: the item key */
#define FW_CFG_PORT_DATA 0x511     /* 8-bit read: the item's next byte */
#define FW_CFG_PORT_DMA_HIGH 0x514 /* DMA address bits 63-32, big-endian */
#define FW_CFG_PORT_DMA_LOW 0x518  /* bits 31-0; writing it starts the DMA */

/* Item keys. 0x00, 0x01 and 0x19 are the device's own; the others are
 * what QEMU's PC provides and SeaBIOS 1.16 reads (src/fw/paravirt.c). An
 * item nobody added reads as zeros. Integers are little-endian. */
#define FW_CFG_SIGNATURE 0x00       /* "QEMU" */
#define FW_CFG_ID 0x01              /* le32 feature bits, FW_CFG_VERSION* */
#define FW_CFG_UUID 0x02            /* 16 bytes */
#define FW_CFG_NOGRAPHIC 0x04       /* le16: nonzero sends SeaBIOS to COM1 */
#define FW_CFG_NB_CPUS 0x05         /* le16: CPUs present at boot */
#define FW_CFG_NUMA 0x0d            /* le64 node count, then maps */
#define FW_CFG_BOOT_MENU 0x0e       /* le16: show the F12 boot menu */
#define FW_CFG_MAX_CPUS 0x0f        /* le16 */
#define FW_CFG_FILE_DIR 0x19        /* the file directory (below) */
#define FW_CFG_FILE_FIRST 0x20      /* the first key given to a file */
#define FW_CFG_WRITE_CHANNEL 0x4000 /* selector bit 14: ignored (reads the item) */
#define FW_CFG_ARCH_LOCAL 0x8000
#define FW_CFG_ACPI_TABLES 0x8000     /* le16 count, then tables (legacy) */
#define FW_CFG_SMBIOS_ENTRIES 0x8001  /* le16 count, then entries (legacy) */
#define FW_CFG_IRQ0_OVERRIDE 0x8002   /* 1: PIT on IOAPIC pin 2 (MADT override) */
#define FW_CFG_E820_TABLE 0x8003      /* reservations; unused when etc/e820 exists */

#define FW_CFG_VERSION 0x01     /* FW_CFG_ID bit 0: the port interface */
#define FW_CFG_VERSION_DMA 0x02 /* FW_CFG_ID bit 1: the DMA interface */

/* A file name, NUL included, fits in this (struct FWCfgFile's name). */
#define FW_CFG_MAX_FILE_PATH 56

/* The file "etc/e820" fw_cfg_add_e820 builds: 20-byte entries, le64
 * address, le64 length, le32 type (QEMU's struct e820_entry). */
#define FW_CFG_E820_FILE "etc/e820"
#define FW_CFG_E820_ENTRY_SIZE 20
#define FW_CFG_E820_RAM 1
#define FW_CFG_E820_RESERVED 2

struct fw_cfg;

/* fw_cfg_create: a fw_cfg on vm->pio serving DMA into vm->mem, put back
 * to its power-on state on every guest reset and freed by vm_destroy (do
 * not fw_cfg_free it). The caller keeps the pointer to add items. NULL,
 * with a line logged, when out of memory or the ports are taken. */
struct fw_cfg *fw_cfg_create(struct vm *vm);

/* fw_cfg_new: the device alone, on `pio`, DMA into `mem`; released by
 * fw_cfg_free, which also gives the ports back. NULL when out of memory or
 * the ports are taken. */
struct fw_cfg *fw_cfg_new(struct bus *pio, const struct guest_mem *mem);
void fw_cfg_free(struct fw_cfg *fw);

/* fw_cfg_reset: selector, data offset and DMA address back to 0. */
void fw_cfg_reset(struct fw_cfg *fw);

/* fw_cfg_add_file: serve a copy of `data` as file `name`. Files get keys
 * from FW_CFG_FILE_FIRST up in strcmp order of their names, as QEMU gives
 * them, so adding a file renumbers the ones after it: add every file
 * before the guest runs. A name already present gets the new contents.
 * -EINVAL for an empty name or one of FW_CFG_MAX_FILE_PATH bytes or more,
 * -EFBIG above 4 GiB - 1 bytes, -ENOSPC past key 0x3fff, -ENOMEM. */
int fw_cfg_add_file(struct fw_cfg *fw, const char *name, const void *data, size_t len);

/* fw_cfg_add_key: serve a copy of `data` as item `key` (replacing what the
 * key held). -EINVAL for the device's own keys (signature, ID, directory),
 * file keys (0x20-0x3fff) and keys with bit 14 set; -EFBIG, -ENOMEM as
 * above. */
int fw_cfg_add_key(struct fw_cfg *fw, uint16_t key, const void *data, size_t len);

/* Little-endian integer items, as fw_cfg_add_key. */
int fw_cfg_add_u16(struct fw_cfg *fw, uint16_t key, uint16_t value);
int fw_cfg_add_u32(struct fw_cfg *fw, uint16_t key, uint32_t value);
int fw_cfg_add_u64(struct fw_cfg *fw, uint16_t key, uint64_t value);

/* fw_cfg_add_e820: the file "etc/e820" for `mem`: every RAM region as
 * type 1 (RAM), and the four pages at 0xfeffc000 where KVM keeps the
 * real-mode identity page table and the TSS (vm.c) as type 2 (reserved),
 * in address order. SeaBIOS takes RAM size from this file when it is
 * there and reserves its own ROM area itself. */
int fw_cfg_add_e820(struct fw_cfg *fw, const struct guest_mem *mem);

#endif
