/* Builds duet's ACPI tables (see acpi.h and docs/acpi.md) and emits them
 * two ways: placed in guest RAM, or as a QEMU linker/loader script for
 * SeaBIOS. Table layouts: ACPI 6.4 chapter 5 (5.2.5 RSDP, 5.2.7 RSDT,
 * 5.2.8 XSDT, 5.2.9 FADT, 5.2.10 FACS, 5.2.12 MADT, 5.2.11.1 DSDT); the
 * FADT is revision 3, the ACPI 2.0 layout every Windows from XP on and
 * Linux read. The PM register block is the PIIX4's (82371AB datasheet
 * 11.2) and the interrupt routing that of hw/piix.c and pci.c. */
#include "acpi.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "aml.h"

#define OEM_ID "DUET  "        /* 6 bytes */
#define OEM_TABLE_ID "DUETVMM " /* 8 bytes */
#define OEM_REVISION 1
#define CREATOR_ID "DUET"
#define CREATOR_REVISION 1

/* The System Description Table Header (5.2.6). */
#define HDR_SIZE 36
#define HDR_LENGTH 4
#define HDR_REVISION 8
#define HDR_CHECKSUM 9
#define HDR_OEM_ID 10
#define HDR_OEM_TABLE_ID 16
#define HDR_OEM_REVISION 24
#define HDR_CREATOR_ID 28
#define HDR_CREATOR_REVISION 32

/* RSDP (5.2.5.3). */
#define RSDP_CHECKSUM 8
#define RSDP_OEM_ID 9
#define RSDP_REVISION 15
#define RSDP_RSDT 16
#define RSDP_LENGTH 20
#define RSDP_XSDT 24
#define RSDP_EXT_CHECKSUM 32
#define RSDP_V1_SIZE 20

/* FACS (5.2.10): no checksum. */
#define FACS_SIZE 64
#define FACS_LENGTH 4
#define FACS_VERSION 32
#define FACS_VERSION_ACPI2 1

/* FADT (5.2.9, Table 5.9), revision 3. */
#define FADT_REVISION 3
#define FADT_SIZE 244
#define FADT_FIRMWARE_CTRL 36
#define FADT_DSDT 40
#define FADT_INT_MODEL 44     /* ACPI 1.0's INT_MODEL, reserved since 2.0 */
#define FADT_PM_PROFILE 45
#define FADT_SCI_INT 46
#define FADT_SMI_CMD 48
#define FADT_PM1A_EVT_BLK 56
#define FADT_PM1A_CNT_BLK 64
#define FADT_PM_TMR_BLK 76
#define FADT_GPE0_BLK 80
#define FADT_PM1_EVT_LEN 88
#define FADT_PM1_CNT_LEN 89
#define FADT_PM_TMR_LEN 91
#define FADT_GPE0_BLK_LEN 92
#define FADT_P_LVL2_LAT 96
#define FADT_P_LVL3_LAT 98
#define FADT_CENTURY 108
#define FADT_IAPC_BOOT_ARCH 109
#define FADT_FLAGS 112
#define FADT_RESET_REG 116
#define FADT_RESET_VALUE 128
#define FADT_X_FIRMWARE_CTRL 132
#define FADT_X_DSDT 140
#define FADT_X_PM1A_EVT_BLK 148
#define FADT_X_PM1A_CNT_BLK 172
#define FADT_X_PM_TMR_BLK 208
#define FADT_X_GPE0_BLK 220

#define FADT_INT_MODEL_APIC 1
#define FADT_PM_PROFILE_DESKTOP 1
/* P_LVL2_LAT > 100 and P_LVL3_LAT > 1000: no C2, no C3. */
#define FADT_NO_C2 0x0fff
#define FADT_NO_C3 0x03e9
/* CMOS index of the century byte (MC146818 boards keep it at 0x32). */
#define FADT_CMOS_CENTURY 0x32

/* IAPC_BOOT_ARCH (Table 5.11). */
#define BOOT_ARCH_LEGACY_DEVICES 0x0001
#define BOOT_ARCH_8042 0x0002

/* Fixed feature flags (Table 5.10). */
#define FADT_F_WBINVD (1U << 0)
#define FADT_F_PROC_C1 (1U << 2)
#define FADT_F_PWR_BUTTON (1U << 4) /* set: no fixed-feature power button */
#define FADT_F_SLP_BUTTON (1U << 5) /* set: no fixed-feature sleep button */
#define FADT_F_RESET_REG_SUP (1U << 10)
#define FADT_F_FORCE_APIC_PHYS_DEST (1U << 19)

/* PIIX4 PM registers (82371AB 11.2), offsets from PMBA. */
#define PM1_EVT_OFFSET 0x00   /* PMSTS + PMEN */
#define PM1_EVT_LEN 4
#define PM1_CNT_OFFSET 0x04   /* PMCNTRL */
#define PM1_CNT_LEN 2
#define PM_TMR_OFFSET 0x08    /* PMTMR */
#define PM_TMR_LEN 4
#define GPE0_OFFSET 0x0c      /* GPSTS + GPEN */
#define GPE0_LEN 4

/* Generic Address Structure (5.2.3.2). */
#define GAS_SIZE 12
#define GAS_SYSTEM_IO 1

/* MADT (5.2.12). */
#define MADT_REVISION 1
#define MADT_LAPIC_ADDR 36
#define MADT_FLAGS 40
#define MADT_ENTRIES 44
#define MADT_PCAT_COMPAT 0x1
#define MADT_TYPE_LAPIC 0
#define MADT_TYPE_IOAPIC 1
#define MADT_TYPE_OVERRIDE 2
#define MADT_TYPE_LAPIC_NMI 4
#define MADT_LAPIC_SIZE 8
#define MADT_IOAPIC_SIZE 12
#define MADT_OVERRIDE_SIZE 10
#define MADT_LAPIC_NMI_SIZE 6
#define MADT_LAPIC_ENABLED 0x1
/* MPS INTI flags (Table 5.26): polarity bits 1-0, trigger mode bits 3-2. */
#define MPS_INTI_CONFORMS 0x0
#define MPS_INTI_ACTIVE_HIGH 0x1
#define MPS_INTI_LEVEL 0xc
#define MADT_ALL_PROCESSORS 0xff
#define LAPIC_LINT1 1

#define RSDT_ENTRIES 2 /* FADT, MADT */
#define DSDT_REVISION 1 /* 32-bit integers, as QEMU's PC DSDT */
#define SDT_REVISION 1

/* The ISA IRQ the PIT's IRQ0 arrives on at the IOAPIC. */
#define PIT_IRQ 0
#define PIT_GSI 2

/* The IRQs the PCI links may take (PNP0C0F _PRS), as on QEMU's PC. Level
 * triggered and active high: KVM's IOAPIC sees the line as duet-vmm
 * drives it. */
static const uint32_t link_irqs[] = { 5, 10, 11 };
#define PIRQ_DISABLED 0x80

#define ALIGN_UP(x, a) (((x) + (a) - 1) / (a) * (a))
#define TABLE_ALIGN 16

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

static uint64_t get_le(const uint8_t *p, unsigned size)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < size; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static void put_le(uint8_t *p, uint64_t v, unsigned size)
{
	for (unsigned i = 0; i < size; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

void acpi_config_default(struct acpi_config *cfg, unsigned cpus, uint64_t ram_end_low)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->cpus = cpus;
	cfg->lapic_addr = 0xfee00000;
	cfg->ioapic_id = 0;
	cfg->ioapic_addr = 0xfec00000;
	cfg->ioapic_gsi_base = 0;
	cfg->pm_io_base = 0x600;
	cfg->sci_irq = 9;
	cfg->reset_port = 0xcf9;
	cfg->reset_value = 0x06;
	cfg->ram_end_low = ram_end_low;
	cfg->pirq_devfn = (1 << 3) | 0; /* 00:01.0, the PIIX ISA bridge */
	cfg->pirq_offset = 0x60;
	cfg->isa_devices = ACPI_ISA_ALL;
	cfg->pci_slots = ACPI_MAX_PCI_SLOTS;
}

static int config_check(const struct acpi_config *cfg)
{
	if (cfg->cpus == 0 || cfg->cpus > ACPI_MAX_CPUS)
		return -EINVAL;
	if (cfg->ram_end_low < 0x100000 || cfg->ram_end_low >= ACPI_PCI_MMIO32_END)
		return -EINVAL;
	if (cfg->pci_mmio64_size &&
	    (cfg->pci_mmio64_base < (1ULL << 32) ||
	     cfg->pci_mmio64_size - 1 > UINT64_MAX - cfg->pci_mmio64_base))
		return -EINVAL;
	if (cfg->pci_slots > ACPI_MAX_PCI_SLOTS)
		return -EINVAL;
	/* The PM block is 64 bytes on PIIX4 (PMBA bits 15:6). */
	if (cfg->pm_io_base == 0 || cfg->pm_io_base > 0xffff - 0x40)
		return -EINVAL;
	/* An ISA IRQ, not the cascade. */
	if (cfg->sci_irq == 0 || cfg->sci_irq > 15 || cfg->sci_irq == 2)
		return -EINVAL;
	if (cfg->pirq_offset > 0xff - 3)
		return -EINVAL;
	return 0;
}

/* ---- DSDT ---- */

/* The Extended Interrupt flags of the PCI links: ResourceConsumer, Level,
 * ActiveHigh, Shared. */
#define LINK_INT_FLAGS (AML_INT_CONSUMER | AML_INT_SHARED)

/* dsdt_prt_link: the link a slot's pin (0 = INTA#) lands on, the swizzle
 * of pci.c and of SeaBIOS/QEMU's PC: PIRQ (slot + pin - 1) mod 4, so slot 1
 * INTA# is PIRQA and LNKA = PIRQA. Slot 1 INTA# is the
 * PIIX4 PM function's, which is the SCI (LNKS), as on QEMU's PC. */
static const char *dsdt_prt_link(unsigned slot, unsigned pin)
{
	static const char *const links[4] = {
		"\\_SB.LNKA", "\\_SB.LNKB", "\\_SB.LNKC", "\\_SB.LNKD",
	};

	if (slot == 1 && pin == 0)
		return "\\_SB.LNKS";
	return links[(slot + pin + 3) & 3];
}

/* dsdt_pci0_crs: the root bridge's windows: buses 0-255, the config ports,
 * all I/O but 0xcf8-0xcff, the VGA hole, the 32-bit window from the end of
 * low RAM to the IOAPIC, and the 64-bit window if any. */
static void dsdt_pci0_crs(struct aml *a, const struct acpi_config *cfg)
{
	aml_name_decl(a, "_CRS");
	aml_restemplate_begin(a);
	aml_word_bus_number(a, 0x00, 0xff);
	aml_io(a, 0x0cf8, 0x0cf8, 0x01, 0x08);
	aml_word_io(a, 0x0000, 0x0cf7);
	aml_word_io(a, 0x0d00, 0xffff);
	aml_dword_memory(a, AML_CACHEABLE, 0x000a0000, 0x000bffff);
	aml_dword_memory(a, AML_NON_CACHEABLE, (uint32_t)cfg->ram_end_low,
			 (uint32_t)(ACPI_PCI_MMIO32_END - 1));
	if (cfg->pci_mmio64_size)
		aml_qword_memory(a, AML_CACHEABLE, cfg->pci_mmio64_base,
				 cfg->pci_mmio64_base + cfg->pci_mmio64_size - 1);
	aml_restemplate_end(a);
}

/* dsdt_pci0_prt: Name(_PRT, Package() { Package() { slot << 16 | 0xffff,
 * pin, link, 0 }, ... }) for every slot and pin. */
static void dsdt_pci0_prt(struct aml *a, const struct acpi_config *cfg)
{
	aml_name_decl(a, "_PRT");
	aml_package_begin(a, (uint8_t)(cfg->pci_slots * 4));
	for (unsigned slot = 0; slot < cfg->pci_slots; slot++) {
		for (unsigned pin = 0; pin < 4; pin++) {
			aml_package_begin(a, 4);
			aml_int(a, (uint64_t)slot << 16 | 0xffff);
			aml_int(a, pin);
			aml_name(a, dsdt_prt_link(slot, pin));
			aml_int(a, 0); /* source index: the link's only interrupt */
			aml_end(a);
		}
	}
	aml_end(a);
}

static void dsdt_isa_device(struct aml *a, const char *name, const char *hid, int uid)
{
	aml_device_begin(a, name);
	aml_name_eisaid(a, "_HID", hid);
	if (uid >= 0)
		aml_name_int(a, "_UID", (uint64_t)uid);
	aml_name_decl(a, "_CRS");
	aml_restemplate_begin(a);
}

static void dsdt_isa_device_end(struct aml *a)
{
	aml_restemplate_end(a);
	aml_end(a);
}

/* dsdt_isa: Device(ISA) at the ISA bridge's address, with the PIRQ route
 * registers as OperationRegion P40C and the legacy devices. */
static void dsdt_isa(struct aml *a, const struct acpi_config *cfg)
{
	aml_device_begin(a, "ISA");
	aml_name_int(a, "_ADR", (uint64_t)(cfg->pirq_devfn >> 3) << 16 | (cfg->pirq_devfn & 7));
	aml_opregion(a, "P40C", AML_PCI_CONFIG, cfg->pirq_offset, 4);

	if (cfg->isa_devices & ACPI_ISA_KBD) {
		dsdt_isa_device(a, "KBD", "PNP0303", -1);
		aml_io(a, 0x60, 0x60, 0x01, 0x01);
		aml_io(a, 0x64, 0x64, 0x01, 0x01);
		aml_irq_noflags(a, 1 << 1);
		dsdt_isa_device_end(a);
	}
	if (cfg->isa_devices & ACPI_ISA_MOUSE) {
		dsdt_isa_device(a, "MOU", "PNP0F13", -1);
		aml_irq_noflags(a, 1 << 12);
		dsdt_isa_device_end(a);
	}
	if (cfg->isa_devices & ACPI_ISA_COM1) {
		dsdt_isa_device(a, "COM1", "PNP0501", 1);
		aml_io(a, 0x3f8, 0x3f8, 0x01, 0x08);
		aml_irq_noflags(a, 1 << 4);
		dsdt_isa_device_end(a);
	}
	if (cfg->isa_devices & ACPI_ISA_RTC) {
		dsdt_isa_device(a, "RTC", "PNP0B00", -1);
		aml_io(a, 0x70, 0x70, 0x01, 0x02);
		aml_irq_noflags(a, 1 << 8);
		dsdt_isa_device_end(a);
	}
	aml_end(a);
}

/* dsdt_link_helpers: what the four PIRQ links share.
 *   Method(IQST, 1) { If (And(0x80, Arg0)) { Return (0x09) } Return (0x0B) }
 *   Method(IQCR, 1, Serialized) {
 *     Name(PRR0, ResourceTemplate() { Interrupt(, Level, ActiveHigh, Shared) {0} })
 *     CreateDWordField(PRR0, 0x05, PRRI)
 *     If (LLess(Arg0, 0x80)) { Store(And(Arg0, 0x0F), PRRI) }
 *     Return (PRR0)
 *   } */
static void dsdt_link_helpers(struct aml *a)
{
	static const uint32_t no_irq[] = { 0 };

	aml_method_begin(a, "IQST", 1, 0);
	aml_if_begin(a);
	aml_and(a);
	aml_int(a, PIRQ_DISABLED);
	aml_arg(a, 0);
	aml_no_target(a);
	aml_return(a);
	aml_int(a, 0x09); /* present, decoding, not enabled */
	aml_end(a);
	aml_return(a);
	aml_int(a, 0x0b); /* present, enabled, decoding */
	aml_end(a);

	aml_method_begin(a, "IQCR", 1, 1);
	aml_name_decl(a, "PRR0");
	aml_restemplate_begin(a);
	aml_interrupt(a, LINK_INT_FLAGS, no_irq, 1);
	aml_restemplate_end(a);
	aml_create_dword_field(a);
	aml_name(a, "PRR0");
	aml_int(a, 5); /* the first interrupt number in the descriptor */
	aml_name(a, "PRRI");
	aml_if_begin(a);
	aml_lless(a);
	aml_arg(a, 0);
	aml_int(a, PIRQ_DISABLED);
	aml_store(a);
	aml_and(a);
	aml_arg(a, 0);
	aml_int(a, 0x0f);
	aml_no_target(a);
	aml_name(a, "PRRI");
	aml_end(a);
	aml_return(a);
	aml_name(a, "PRR0");
	aml_end(a);
}

/* dsdt_link: a PCI interrupt link (PNP0C0F) on PIRQ route register `prq`.
 *   Method(_STA) { Return (IQST(PRQx)) }
 *   Method(_DIS) { Or(PRQx, 0x80, PRQx) }
 *   Method(_CRS) { Return (IQCR(PRQx)) }
 *   Method(_SRS, 1, Serialized) { CreateDWordField(Arg0, 0x05, PRRI)
 *                                 Store(PRRI, PRQx) } */
static void dsdt_link(struct aml *a, const char *name, unsigned uid, const char *prq)
{
	aml_device_begin(a, name);
	aml_name_eisaid(a, "_HID", "PNP0C0F");
	aml_name_int(a, "_UID", uid);
	aml_name_decl(a, "_PRS");
	aml_restemplate_begin(a);
	aml_interrupt(a, LINK_INT_FLAGS, link_irqs, sizeof(link_irqs) / sizeof(link_irqs[0]));
	aml_restemplate_end(a);

	aml_method_begin(a, "_STA", 0, 0);
	aml_return(a);
	aml_name(a, "IQST");
	aml_name(a, prq);
	aml_end(a);

	aml_method_begin(a, "_DIS", 0, 0);
	aml_or(a);
	aml_name(a, prq);
	aml_int(a, PIRQ_DISABLED);
	aml_name(a, prq);
	aml_end(a);

	aml_method_begin(a, "_CRS", 0, 0);
	aml_return(a);
	aml_name(a, "IQCR");
	aml_name(a, prq);
	aml_end(a);

	aml_method_begin(a, "_SRS", 1, 1); /* it creates PRRI */
	aml_create_dword_field(a);
	aml_arg(a, 0);
	aml_int(a, 5);
	aml_name(a, "PRRI");
	aml_store(a);
	aml_name(a, "PRRI");
	aml_name(a, prq);
	aml_end(a);

	aml_end(a);
}

/* dsdt_link_sci: LNKS, the PM function's INTA#, which is the SCI: fixed.
 *   Name(_PRS, ResourceTemplate() { Interrupt(, Level, ActiveHigh, Shared) {9} })
 *   Method(_SRS, 1) { }
 *   Method(_CRS) { Return (_PRS) } */
static void dsdt_link_sci(struct aml *a, const struct acpi_config *cfg)
{
	const uint32_t sci[] = { cfg->sci_irq };

	aml_device_begin(a, "LNKS");
	aml_name_eisaid(a, "_HID", "PNP0C0F");
	aml_name_int(a, "_UID", 4);
	aml_name_int(a, "_STA", 0x0b);
	aml_name_decl(a, "_PRS");
	aml_restemplate_begin(a);
	aml_interrupt(a, LINK_INT_FLAGS, sci, 1);
	aml_restemplate_end(a);
	aml_method_begin(a, "_SRS", 1, 0);
	aml_end(a);
	aml_method_begin(a, "_CRS", 0, 0);
	aml_return(a);
	aml_name(a, "_PRS");
	aml_end(a);
	aml_end(a);
}

/* dsdt_build: the DSDT's AML (after its header). Kept to what SeaBIOS's
 * small DSDT parser (src/fw/dsdt_parser.c) walks through at the scope
 * level - Name, Method, Device, Scope, Processor, OperationRegion, Field,
 * constants no wider than a DWordConst - so it finds the keyboard
 * (PNP0303) and does not skip PS/2 set-up. */
static int dsdt_build(const struct acpi_config *cfg, struct aml *a)
{
	static const char *const prq[4] = { "PRQ0", "PRQ1", "PRQ2", "PRQ3" };
	static const char *const lnk[4] = { "LNKA", "LNKB", "LNKC", "LNKD" };

	aml_scope_begin(a, "\\_SB");

	for (unsigned i = 0; i < cfg->cpus; i++) {
		char name[5] = { 'C', 'P', "0123456789ABCDEF"[i >> 4],
				 "0123456789ABCDEF"[i & 15], 0 };

		aml_processor_begin(a, name, (uint8_t)i, 0, 0);
		aml_end(a);
	}

	aml_device_begin(a, "PCI0");
	aml_name_eisaid(a, "_HID", "PNP0A03");
	aml_name_int(a, "_ADR", 0);
	aml_name_int(a, "_UID", 0);
	dsdt_pci0_crs(a, cfg);
	dsdt_pci0_prt(a, cfg);
	dsdt_isa(a, cfg);
	aml_end(a);

	/* Field(PCI0.ISA.P40C, ByteAcc, NoLock, Preserve) { PRQ0, 8, ... } */
	aml_field_begin(a, "PCI0.ISA.P40C", AML_BYTE_ACC, AML_NO_LOCK, AML_PRESERVE);
	for (unsigned i = 0; i < 4; i++)
		aml_field_entry(a, prq[i], 8);
	aml_end(a);

	dsdt_link_helpers(a);
	for (unsigned i = 0; i < 4; i++)
		dsdt_link(a, lnk[i], i, prq[i]);
	dsdt_link_sci(a, cfg);

	aml_end(a);

	/* Name(\_S5, Package(4) { 0, 0, 0, 0 }): SLP_TYP 0 is soft-off on
	 * PIIX4 (PMCNTRL SUS_TYP, 11.2.3), as in QEMU's DSDT. */
	aml_name_decl(a, "\\_S5");
	aml_package_begin(a, 4);
	for (unsigned i = 0; i < 4; i++)
		aml_int(a, 0);
	aml_end(a);

	return aml_finish(a);
}

/* ---- The tables blob ---- */

static void sdt_header(uint8_t *p, const char *sig, uint32_t len, uint8_t rev)
{
	memcpy(p, sig, 4);
	put32(p + HDR_LENGTH, len);
	p[HDR_REVISION] = rev;
	memcpy(p + HDR_OEM_ID, OEM_ID, 6);
	memcpy(p + HDR_OEM_TABLE_ID, OEM_TABLE_ID, 8);
	put32(p + HDR_OEM_REVISION, OEM_REVISION);
	memcpy(p + HDR_CREATOR_ID, CREATOR_ID, 4);
	put32(p + HDR_CREATOR_REVISION, CREATOR_REVISION);
}

static void gas_io(uint8_t *p, unsigned bytes, uint16_t port)
{
	p[0] = GAS_SYSTEM_IO;
	p[1] = (uint8_t)(bytes * 8); /* register bit width */
	p[2] = 0;                    /* bit offset */
	p[3] = 0;                    /* access size: reserved in ACPI 2.0 */
	put64(p + 4, port);
}

static void add_index(struct acpi_tables *t, const char *sig, uint32_t offset, uint32_t len)
{
	struct acpi_table_index *e = &t->index[t->ntables++];

	memcpy(e->signature, sig, 4);
	e->offset = offset;
	e->length = len;
}

static void add_pointer(struct acpi_tables *t, enum acpi_blob blob, uint32_t offset,
			uint8_t size, uint32_t target)
{
	uint8_t *base = blob == ACPI_BLOB_RSDP ? t->rsdp : t->tables;

	put_le(base + offset, target, size);
	t->pointers[t->npointers++] = (struct acpi_pointer){
		.blob = blob, .offset = offset, .size = size, .target = target,
	};
}

static void add_checksum(struct acpi_tables *t, enum acpi_blob blob, uint32_t start,
			 uint32_t length, uint32_t field)
{
	t->checksums[t->nchecksums++] = (struct acpi_checksum){
		.blob = blob, .start = start, .length = length, .field = field,
	};
}

/* add_sdt: a table with the standard header: index it, checksum it. */
static void add_sdt(struct acpi_tables *t, const char *sig, uint32_t offset, uint32_t len,
		    uint8_t rev)
{
	sdt_header(t->tables + offset, sig, len, rev);
	add_index(t, sig, offset, len);
	add_checksum(t, ACPI_BLOB_TABLES, offset, len, offset + HDR_CHECKSUM);
}

static void build_facs(struct acpi_tables *t, uint32_t off)
{
	uint8_t *p = t->tables + off;

	memcpy(p, "FACS", 4);
	put32(p + FACS_LENGTH, FACS_SIZE);
	p[FACS_VERSION] = FACS_VERSION_ACPI2;
	add_index(t, "FACS", off, FACS_SIZE);
}

static void build_fadt(struct acpi_tables *t, const struct acpi_config *cfg, uint32_t off,
		       uint32_t facs, uint32_t dsdt)
{
	uint8_t *p = t->tables + off;
	uint16_t pm = cfg->pm_io_base;
	uint32_t flags = FADT_F_WBINVD | FADT_F_PROC_C1 | FADT_F_SLP_BUTTON |
			 FADT_F_RESET_REG_SUP;

	/* xAPIC logical flat mode addresses at most 8 CPUs. */
	if (cfg->cpus > 8)
		flags |= FADT_F_FORCE_APIC_PHYS_DEST;

	add_sdt(t, "FACP", off, FADT_SIZE, FADT_REVISION);
	p[FADT_INT_MODEL] = FADT_INT_MODEL_APIC;
	p[FADT_PM_PROFILE] = FADT_PM_PROFILE_DESKTOP;
	put16(p + FADT_SCI_INT, cfg->sci_irq);
	/* SMI_CMD 0: no SMI handshake, the hardware is in ACPI mode (SCI_EN
	 * set) from power-on; ACPI_ENABLE/ACPI_DISABLE stay 0. */
	put32(p + FADT_SMI_CMD, 0);
	put32(p + FADT_PM1A_EVT_BLK, (uint32_t)pm + PM1_EVT_OFFSET);
	put32(p + FADT_PM1A_CNT_BLK, (uint32_t)pm + PM1_CNT_OFFSET);
	put32(p + FADT_PM_TMR_BLK, (uint32_t)pm + PM_TMR_OFFSET);
	put32(p + FADT_GPE0_BLK, (uint32_t)pm + GPE0_OFFSET);
	p[FADT_PM1_EVT_LEN] = PM1_EVT_LEN;
	p[FADT_PM1_CNT_LEN] = PM1_CNT_LEN;
	p[FADT_PM_TMR_LEN] = PM_TMR_LEN;
	p[FADT_GPE0_BLK_LEN] = GPE0_LEN;
	put16(p + FADT_P_LVL2_LAT, FADT_NO_C2);
	put16(p + FADT_P_LVL3_LAT, FADT_NO_C3);
	p[FADT_CENTURY] = FADT_CMOS_CENTURY;
	put16(p + FADT_IAPC_BOOT_ARCH, BOOT_ARCH_LEGACY_DEVICES | BOOT_ARCH_8042);
	put32(p + FADT_FLAGS, flags);
	gas_io(p + FADT_RESET_REG, 1, cfg->reset_port);
	p[FADT_RESET_VALUE] = cfg->reset_value;
	gas_io(p + FADT_X_PM1A_EVT_BLK, PM1_EVT_LEN, pm + PM1_EVT_OFFSET);
	gas_io(p + FADT_X_PM1A_CNT_BLK, PM1_CNT_LEN, pm + PM1_CNT_OFFSET);
	gas_io(p + FADT_X_PM_TMR_BLK, PM_TMR_LEN, pm + PM_TMR_OFFSET);
	gas_io(p + FADT_X_GPE0_BLK, GPE0_LEN, pm + GPE0_OFFSET);

	/* Both the 32-bit and the X_ pointers, equal: SeaBIOS and Windows XP
	 * read the former, later systems the latter. */
	add_pointer(t, ACPI_BLOB_TABLES, off + FADT_FIRMWARE_CTRL, 4, facs);
	add_pointer(t, ACPI_BLOB_TABLES, off + FADT_DSDT, 4, dsdt);
	add_pointer(t, ACPI_BLOB_TABLES, off + FADT_X_FIRMWARE_CTRL, 8, facs);
	add_pointer(t, ACPI_BLOB_TABLES, off + FADT_X_DSDT, 8, dsdt);
}

/* madt_level_irqs: the ISA IRQs that get a level/active-high override: the
 * SCI and the PCI link IRQs (QEMU's PC does the same for 5, 9, 10, 11). */
static uint16_t madt_level_irqs(const struct acpi_config *cfg)
{
	uint16_t mask = (uint16_t)(1U << cfg->sci_irq);

	for (size_t i = 0; i < sizeof(link_irqs) / sizeof(link_irqs[0]); i++)
		mask |= (uint16_t)(1U << link_irqs[i]);
	return mask;
}

static uint32_t madt_size(const struct acpi_config *cfg)
{
	uint16_t level = madt_level_irqs(cfg);
	unsigned overrides = 1 + (unsigned)__builtin_popcount(level);

	return MADT_ENTRIES + cfg->cpus * MADT_LAPIC_SIZE + MADT_IOAPIC_SIZE +
	       overrides * MADT_OVERRIDE_SIZE + MADT_LAPIC_NMI_SIZE;
}

static uint8_t *madt_override(uint8_t *e, uint8_t irq, uint32_t gsi, uint16_t flags)
{
	e[0] = MADT_TYPE_OVERRIDE;
	e[1] = MADT_OVERRIDE_SIZE;
	e[2] = 0; /* bus: ISA */
	e[3] = irq;
	put32(e + 4, gsi);
	put16(e + 8, flags);
	return e + MADT_OVERRIDE_SIZE;
}

static void build_madt(struct acpi_tables *t, const struct acpi_config *cfg, uint32_t off)
{
	uint8_t *p = t->tables + off;
	uint8_t *e = p + MADT_ENTRIES;
	uint16_t level = madt_level_irqs(cfg);

	add_sdt(t, "APIC", off, madt_size(cfg), MADT_REVISION);
	put32(p + MADT_LAPIC_ADDR, cfg->lapic_addr);
	put32(p + MADT_FLAGS, MADT_PCAT_COMPAT); /* 8259s present too */

	for (unsigned i = 0; i < cfg->cpus; i++) {
		e[0] = MADT_TYPE_LAPIC;
		e[1] = MADT_LAPIC_SIZE;
		e[2] = (uint8_t)i; /* ACPI processor ID: the DSDT's Processor() */
		e[3] = (uint8_t)i; /* APIC ID */
		put32(e + 4, MADT_LAPIC_ENABLED);
		e += MADT_LAPIC_SIZE;
	}

	e[0] = MADT_TYPE_IOAPIC;
	e[1] = MADT_IOAPIC_SIZE;
	e[2] = cfg->ioapic_id;
	e[3] = 0;
	put32(e + 4, cfg->ioapic_addr);
	put32(e + 8, cfg->ioapic_gsi_base);
	e += MADT_IOAPIC_SIZE;

	/* The PIT's IRQ0 is wired to IOAPIC pin 2; ISA polarity and trigger. */
	e = madt_override(e, PIT_IRQ, cfg->ioapic_gsi_base + PIT_GSI, MPS_INTI_CONFORMS);
	for (uint8_t irq = 1; irq < 16; irq++)
		if (level & (1U << irq))
			e = madt_override(e, irq, cfg->ioapic_gsi_base + irq,
					  MPS_INTI_LEVEL | MPS_INTI_ACTIVE_HIGH);

	/* LINT1 of every local APIC is NMI (MPS wiring); edge, high. */
	e[0] = MADT_TYPE_LAPIC_NMI;
	e[1] = MADT_LAPIC_NMI_SIZE;
	e[2] = MADT_ALL_PROCESSORS;
	put16(e + 3, MPS_INTI_CONFORMS);
	e[5] = LAPIC_LINT1;
}

static void build_rsdt_xsdt(struct acpi_tables *t, uint32_t rsdt, uint32_t xsdt,
			    const uint32_t targets[RSDT_ENTRIES])
{
	add_sdt(t, "RSDT", rsdt, HDR_SIZE + 4 * RSDT_ENTRIES, SDT_REVISION);
	add_sdt(t, "XSDT", xsdt, HDR_SIZE + 8 * RSDT_ENTRIES, SDT_REVISION);
	for (unsigned i = 0; i < RSDT_ENTRIES; i++) {
		add_pointer(t, ACPI_BLOB_TABLES, rsdt + HDR_SIZE + 4 * i, 4, targets[i]);
		add_pointer(t, ACPI_BLOB_TABLES, xsdt + HDR_SIZE + 8 * i, 8, targets[i]);
	}
}

static void build_rsdp(struct acpi_tables *t, uint32_t rsdt, uint32_t xsdt)
{
	uint8_t *p = t->rsdp;

	memcpy(p, "RSD PTR ", 8);
	memcpy(p + RSDP_OEM_ID, OEM_ID, 6);
	p[RSDP_REVISION] = 2; /* ACPI 2.0 and later: has the XSDT */
	put32(p + RSDP_LENGTH, ACPI_RSDP_SIZE);
	add_pointer(t, ACPI_BLOB_RSDP, RSDP_RSDT, 4, rsdt);
	add_pointer(t, ACPI_BLOB_RSDP, RSDP_XSDT, 8, xsdt);
	/* The ACPI 1.0 checksum first: the extended one covers it. */
	add_checksum(t, ACPI_BLOB_RSDP, 0, RSDP_V1_SIZE, RSDP_CHECKSUM);
	add_checksum(t, ACPI_BLOB_RSDP, 0, ACPI_RSDP_SIZE, RSDP_EXT_CHECKSUM);
}

int acpi_build(const struct acpi_config *cfg, struct acpi_tables *out)
{
	struct aml dsdt_aml;
	uint32_t facs, dsdt, fadt, madt, rsdt, xsdt, dsdt_len, end;
	int err;

	memset(out, 0, sizeof(*out));
	err = config_check(cfg);
	if (err)
		return err;

	aml_init(&dsdt_aml);
	err = dsdt_build(cfg, &dsdt_aml);
	if (err || dsdt_aml.len > UINT32_MAX / 2) {
		aml_free(&dsdt_aml);
		return err ? err : -E2BIG;
	}
	dsdt_len = HDR_SIZE + (uint32_t)dsdt_aml.len;

	/* The FACS first, at the 64-byte aligned start; then the rest. */
	facs = 0;
	dsdt = ALIGN_UP(facs + FACS_SIZE, TABLE_ALIGN);
	fadt = ALIGN_UP(dsdt + dsdt_len, TABLE_ALIGN);
	madt = ALIGN_UP(fadt + FADT_SIZE, TABLE_ALIGN);
	rsdt = ALIGN_UP(madt + madt_size(cfg), TABLE_ALIGN);
	xsdt = ALIGN_UP(rsdt + HDR_SIZE + 4 * RSDT_ENTRIES, TABLE_ALIGN);
	end = xsdt + HDR_SIZE + 8 * RSDT_ENTRIES;

	out->tables = calloc(1, end);
	if (!out->tables) {
		aml_free(&dsdt_aml);
		return -ENOMEM;
	}
	out->tables_len = end;

	build_facs(out, facs);
	add_sdt(out, "DSDT", dsdt, dsdt_len, DSDT_REVISION);
	memcpy(out->tables + dsdt + HDR_SIZE, dsdt_aml.buf, dsdt_aml.len);
	aml_free(&dsdt_aml);
	build_fadt(out, cfg, fadt, facs, dsdt);
	build_madt(out, cfg, madt);
	build_rsdt_xsdt(out, rsdt, xsdt, (const uint32_t[RSDT_ENTRIES]){ fadt, madt });
	build_rsdp(out, rsdt, xsdt);
	return 0;
}

void acpi_tables_free(struct acpi_tables *t)
{
	free(t->tables);
	memset(t, 0, sizeof(*t));
}

/* ---- Emitter 1: placed in guest RAM ---- */

static uint8_t sum_bytes(const uint8_t *p, size_t len)
{
	uint8_t s = 0;

	while (len--)
		s = (uint8_t)(s + *p++);
	return s;
}

int acpi_place(const struct acpi_tables *t, uint8_t *guest_tables_mem, uint64_t tables_gpa,
	       uint8_t *rsdp_mem, uint64_t rsdp_gpa)
{
	if (tables_gpa % ACPI_TABLES_ALIGN || rsdp_gpa % ACPI_RSDP_ALIGN ||
	    tables_gpa > (1ULL << 32) - t->tables_len)
		return -EINVAL;

	memcpy(guest_tables_mem, t->tables, t->tables_len);
	memcpy(rsdp_mem, t->rsdp, ACPI_RSDP_SIZE);
	for (unsigned i = 0; i < t->npointers; i++) {
		const struct acpi_pointer *ptr = &t->pointers[i];
		uint8_t *base = ptr->blob == ACPI_BLOB_RSDP ? rsdp_mem : guest_tables_mem;

		put_le(base + ptr->offset, get_le(base + ptr->offset, ptr->size) + tables_gpa,
		       ptr->size);
	}
	for (unsigned i = 0; i < t->nchecksums; i++) {
		const struct acpi_checksum *c = &t->checksums[i];
		uint8_t *base = c->blob == ACPI_BLOB_RSDP ? rsdp_mem : guest_tables_mem;

		base[c->field] = (uint8_t)(base[c->field] - sum_bytes(base + c->start, c->length));
	}
	return 0;
}

/* ---- Emitter 2: the SeaBIOS linker/loader script ---- */

/* Offsets in a loader entry (after the 32-bit command). */
#define LD_COMMAND 0
#define LD_ALLOC_FILE 4
#define LD_ALLOC_ALIGN 60
#define LD_ALLOC_ZONE 64
#define LD_PTR_DEST_FILE 4
#define LD_PTR_SRC_FILE 60
#define LD_PTR_OFFSET 116
#define LD_PTR_SIZE 120
#define LD_CKSUM_FILE 4
#define LD_CKSUM_OFFSET 60
#define LD_CKSUM_START 64
#define LD_CKSUM_LENGTH 68

static const char *blob_file(enum acpi_blob blob)
{
	return blob == ACPI_BLOB_RSDP ? ACPI_FW_CFG_RSDP : ACPI_FW_CFG_TABLES;
}

/* The file names are NUL-padded to ACPI_LOADER_FILESZ bytes (they are far
 * shorter). */
static void ld_file(uint8_t *e, const char *name)
{
	memcpy(e, name, strlen(name));
}

static uint8_t *ld_allocate(uint8_t *e, const char *file, uint32_t align, uint8_t zone)
{
	put32(e + LD_COMMAND, ACPI_LOADER_ALLOCATE);
	ld_file(e + LD_ALLOC_FILE, file);
	put32(e + LD_ALLOC_ALIGN, align);
	e[LD_ALLOC_ZONE] = zone;
	return e + ACPI_LOADER_ENTRY_SIZE;
}

int acpi_table_loader(const struct acpi_tables *t, uint8_t **loader, size_t *len)
{
	size_t n = 2 + t->npointers + t->nchecksums;
	uint8_t *buf = calloc(n, ACPI_LOADER_ENTRY_SIZE);
	uint8_t *e = buf;

	if (!buf)
		return -ENOMEM;
	e = ld_allocate(e, ACPI_FW_CFG_TABLES, ACPI_TABLES_ALIGN, ACPI_LOADER_ZONE_HIGH);
	e = ld_allocate(e, ACPI_FW_CFG_RSDP, ACPI_RSDP_ALIGN, ACPI_LOADER_ZONE_FSEG);
	/* ADD_POINTER adds the source file's address to what the field holds:
	 * the target's offset in etc/acpi/tables. */
	for (unsigned i = 0; i < t->npointers; i++, e += ACPI_LOADER_ENTRY_SIZE) {
		const struct acpi_pointer *ptr = &t->pointers[i];

		put32(e + LD_COMMAND, ACPI_LOADER_ADD_POINTER);
		ld_file(e + LD_PTR_DEST_FILE, blob_file(ptr->blob));
		ld_file(e + LD_PTR_SRC_FILE, ACPI_FW_CFG_TABLES);
		put32(e + LD_PTR_OFFSET, ptr->offset);
		e[LD_PTR_SIZE] = ptr->size;
	}
	/* ADD_CHECKSUM subtracts the range's sum from the byte: after the
	 * pointers, in order. */
	for (unsigned i = 0; i < t->nchecksums; i++, e += ACPI_LOADER_ENTRY_SIZE) {
		const struct acpi_checksum *c = &t->checksums[i];

		put32(e + LD_COMMAND, ACPI_LOADER_ADD_CHECKSUM);
		ld_file(e + LD_CKSUM_FILE, blob_file(c->blob));
		put32(e + LD_CKSUM_OFFSET, c->field);
		put32(e + LD_CKSUM_START, c->start);
		put32(e + LD_CKSUM_LENGTH, c->length);
	}
	*loader = buf;
	*len = n * ACPI_LOADER_ENTRY_SIZE;
	return 0;
}
