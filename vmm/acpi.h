/* The ACPI tables of duet's PC (i440FX + PIIX3/PIIX4): RSDP, RSDT, XSDT,
 * FADT, FACS, MADT and a DSDT, built once from a description of the
 * machine and handed to the guest by one of two emitters:
 *   - acpi_place(): duet-vmm writes them into guest RAM itself (Linux
 *     direct boot, no firmware); the RSDP goes where Linux scans for it.
 *   - acpi_table_loader(): the QEMU linker/loader script SeaBIOS runs
 *     (fw_cfg "etc/table-loader"), with the tables in the fw_cfg files
 *     "etc/acpi/tables" and "etc/acpi/rsdp".
 * Table layouts follow ACPI 6.4 chapter 5; docs/acpi.md says what each
 * table describes. */
#ifndef DUET_ACPI_H
#define DUET_ACPI_H

#include <stddef.h>
#include <stdint.h>

/* The fw_cfg files SeaBIOS's romfile_loader knows. */
#define ACPI_FW_CFG_TABLES "etc/acpi/tables"
#define ACPI_FW_CFG_RSDP "etc/acpi/rsdp"
#define ACPI_FW_CFG_LOADER "etc/table-loader"

/* The RSDP of ACPI 2.0 and later (5.2.5.3). */
#define ACPI_RSDP_SIZE 36
/* acpi_place wants the tables at a multiple of this (the FACS comes first
 * and must be 64-byte aligned, 5.2.10) and the RSDP at a multiple of 16
 * (5.2.5.1). */
#define ACPI_TABLES_ALIGN 64
#define ACPI_RSDP_ALIGN 16

/* Xapic IDs 0..cpus-1 must stay below the broadcast ID 0xff. */
#define ACPI_MAX_CPUS 255
#define ACPI_MAX_PCI_SLOTS 32

/* The 32-bit PCI window ends where the IOAPIC begins. */
#define ACPI_PCI_MMIO32_END 0xfec00000ULL

/* Legacy ISA devices the DSDT lists (acpi_config.isa_devices). */
#define ACPI_ISA_COM1 0x01   /* PNP0501, 0x3f8-0x3ff, IRQ 4 */
#define ACPI_ISA_RTC 0x02    /* PNP0B00, 0x70-0x71, IRQ 8 */
#define ACPI_ISA_KBD 0x04    /* PNP0303, 0x60 and 0x64, IRQ 1 */
#define ACPI_ISA_MOUSE 0x08  /* PNP0F13, IRQ 12 (the i8042's aux port) */
#define ACPI_ISA_ALL 0x0f

struct acpi_config {
	unsigned cpus;              /* APIC IDs and processor IDs 0..cpus-1 */
	uint32_t lapic_addr;        /* 0xfee00000 */
	uint8_t ioapic_id;
	uint32_t ioapic_addr;       /* 0xfec00000 */
	uint32_t ioapic_gsi_base;   /* 0 */

	/* The PIIX4 PM I/O block (PMBA): PM1a_EVT at +0 (4 bytes), PM1a_CNT
	 * at +4 (2), PM timer at +8 (4), GPE0 at +0x0c (4). */
	uint16_t pm_io_base;
	uint8_t sci_irq;            /* 9 */
	uint16_t reset_port;        /* 0xcf9 */
	uint8_t reset_value;        /* 0x06: hard reset */

	/* RAM below 4 GiB ends here, where the 32-bit PCI window starts; the
	 * window runs to ACPI_PCI_MMIO32_END. */
	uint64_t ram_end_low;
	/* A 64-bit PCI window, above 4 GiB; size 0 leaves it out. */
	uint64_t pci_mmio64_base;
	uint64_t pci_mmio64_size;

	/* Where the PIRQ route registers are: config space of the ISA bridge
	 * (bus 0) at this devfn, four bytes from this offset, each an ISA IRQ
	 * or 0x80 for "disabled" (PIIX4 datasheet 4.1.10, PIRQRC[A:D]). */
	uint8_t pirq_devfn;
	uint8_t pirq_offset;

	unsigned isa_devices;       /* ACPI_ISA_* */
	unsigned pci_slots;         /* _PRT covers slots 0..pci_slots-1 */
};

/* acpi_config_default: the PC duet emulates, with `cpus` CPUs and RAM up
 * to `ram_end_low` below 4 GiB: every field above at the values in its
 * comment, PM at 0x600, PIRQs at 00:01.0 0x60, all ISA devices, 32 slots,
 * no 64-bit window. */
void acpi_config_default(struct acpi_config *cfg, unsigned cpus, uint64_t ram_end_low);

/* Which blob a pointer field or checksum lives in. */
enum acpi_blob { ACPI_BLOB_TABLES, ACPI_BLOB_RSDP };

/* A field holding the address of a table in the `tables` blob. In the
 * blob it holds the target's offset in `tables`; an emitter adds the
 * address the blob ends up at. */
struct acpi_pointer {
	enum acpi_blob blob;  /* where the field is */
	uint32_t offset;      /* of the field in that blob */
	uint8_t size;         /* 4 or 8 bytes, little-endian */
	uint32_t target;      /* offset in `tables` of the table it points to */
};

/* A checksum byte: set so that [start, start + length) sums to 0 mod 256.
 * In the blobs these bytes are 0 until an emitter fills them, after the
 * pointers, in list order (the RSDP's extended checksum covers its first
 * one). */
struct acpi_checksum {
	enum acpi_blob blob;
	uint32_t start;
	uint32_t length;
	uint32_t field;       /* offset of the checksum byte */
};

/* Where each table sits in `tables`. */
struct acpi_table_index {
	char signature[4];
	uint32_t offset;
	uint32_t length;
};

#define ACPI_MAX_TABLES 8
#define ACPI_MAX_POINTERS 16
#define ACPI_MAX_CHECKSUMS 16

struct acpi_tables {
	uint8_t *tables;      /* FACS, DSDT, FADT, MADT, RSDT, XSDT (malloc'd) */
	size_t tables_len;
	uint8_t rsdp[ACPI_RSDP_SIZE];
	struct acpi_table_index index[ACPI_MAX_TABLES];
	unsigned ntables;
	struct acpi_pointer pointers[ACPI_MAX_POINTERS];
	unsigned npointers;
	struct acpi_checksum checksums[ACPI_MAX_CHECKSUMS];
	unsigned nchecksums;
};

/* acpi_build: the tables for `cfg`. Returns 0, -EINVAL for a config that
 * makes no sense (no CPUs or too many, RAM end outside [1 MiB, the IOAPIC),
 * a 64-bit window below 4 GiB or wrapping, more than 32 slots, no PM base)
 * or -ENOMEM. Free with acpi_tables_free. */
int acpi_build(const struct acpi_config *cfg, struct acpi_tables *out);
void acpi_tables_free(struct acpi_tables *t);

/* acpi_place: copy the tables to `guest_tables_mem` (tables_len bytes;
 * guest address `tables_gpa`) and the RSDP to `rsdp_mem` (ACPI_RSDP_SIZE
 * bytes at `rsdp_gpa`), patch in the absolute addresses and fill in the
 * checksums. -EINVAL when an address is misaligned (ACPI_TABLES_ALIGN,
 * ACPI_RSDP_ALIGN) or the tables would not lie below 4 GiB (the RSDT and
 * FADT hold 32-bit pointers). For Linux the RSDP belongs in
 * 0xe0000-0xfffff, where it scans; the caller reserves both ranges as
 * ACPI memory in the E820 map. */
int acpi_place(const struct acpi_tables *t, uint8_t *guest_tables_mem, uint64_t tables_gpa,
	       uint8_t *rsdp_mem, uint64_t rsdp_gpa);

/* The QEMU linker/loader commands (hw/acpi/bios-linker-loader.c; SeaBIOS
 * src/fw/romfile_loader.h): 128 bytes each, little-endian. */
#define ACPI_LOADER_ENTRY_SIZE 128
#define ACPI_LOADER_FILESZ 56
#define ACPI_LOADER_ALLOCATE 1
#define ACPI_LOADER_ADD_POINTER 2
#define ACPI_LOADER_ADD_CHECKSUM 3
#define ACPI_LOADER_ZONE_HIGH 1   /* anywhere in 32-bit RAM */
#define ACPI_LOADER_ZONE_FSEG 2   /* 0xe0000-0xfffff, where the RSDP must be */

/* acpi_table_loader: the "etc/table-loader" script for `t`: ALLOCATE
 * etc/acpi/tables (HIGH zone, 64-byte aligned) and etc/acpi/rsdp (FSEG,
 * 16-byte aligned), then one ADD_POINTER per pointer field and one
 * ADD_CHECKSUM per checksum. The fw_cfg files' contents are t->tables and
 * t->rsdp as they are. *loader is malloc'd; 0 or -ENOMEM. */
int acpi_table_loader(const struct acpi_tables *t, uint8_t **loader, size_t *len);

#endif
