/* Pins vmm/acpi.c: every table's checksum after placement, the RSDP, RSDT,
 * XSDT and FADT pointers, the MADT's CPUs and overrides, the FADT's PM
 * blocks and flags, the DSDT's _PRT and SeaBIOS-walkable shape, the
 * linker/loader script (run the way SeaBIOS runs it, it must give the same
 * bytes as direct placement), and, with iasl, that each table
 * disassembles without errors or warnings. */
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "acpi.h"
#include "aml.h"

#define RAM_END_LOW 0xc0000000ULL
#define TABLES_GPA 0x7ff00000ULL
#define RSDP_GPA 0xf0000ULL

/* A guest's worth of table memory: the tables and the RSDP as placed. */
struct placed {
	struct acpi_tables t;
	uint8_t *mem;
	uint8_t rsdp[ACPI_RSDP_SIZE];
};

static void place(struct placed *p, const struct acpi_config *cfg)
{
	assert_int_equal(acpi_build(cfg, &p->t), 0);
	p->mem = malloc(p->t.tables_len);
	assert_non_null(p->mem);
	assert_int_equal(acpi_place(&p->t, p->mem, TABLES_GPA, p->rsdp, RSDP_GPA), 0);
}

static void unplace(struct placed *p)
{
	free(p->mem);
	acpi_tables_free(&p->t);
}

static uint32_t rd16(const uint8_t *b)
{
	return (uint32_t)b[0] | (uint32_t)b[1] << 8;
}

static uint32_t rd32(const uint8_t *b)
{
	return rd16(b) | rd16(b + 2) << 16;
}

static uint64_t rd64(const uint8_t *b)
{
	return rd32(b) | (uint64_t)rd32(b + 4) << 32;
}

static uint8_t sum(const uint8_t *b, size_t len)
{
	uint8_t s = 0;

	while (len--)
		s = (uint8_t)(s + *b++);
	return s;
}

/* table_at: the placed table at guest address `gpa`, checked to lie
 * wholly inside the tables. */
static const uint8_t *table_at(const struct placed *p, uint64_t gpa)
{
	assert_true(gpa >= TABLES_GPA);
	assert_true(gpa - TABLES_GPA + 8 <= p->t.tables_len);
	assert_true(gpa - TABLES_GPA + rd32(p->mem + (gpa - TABLES_GPA) + 4) <= p->t.tables_len);
	return p->mem + (gpa - TABLES_GPA);
}

static const uint8_t *find_table(const struct placed *p, const char *sig)
{
	for (unsigned i = 0; i < p->t.ntables; i++)
		if (!memcmp(p->t.index[i].signature, sig, 4))
			return p->mem + p->t.index[i].offset;
	fail_msg("no %s table", sig);
	return NULL;
}

static void test_checksums(void **state)
{
	struct acpi_config cfg;
	struct placed p;
	unsigned checked = 0;

	(void)state;
	acpi_config_default(&cfg, 4, RAM_END_LOW);
	place(&p, &cfg);
	for (unsigned i = 0; i < p.t.ntables; i++) {
		const struct acpi_table_index *e = &p.t.index[i];
		const uint8_t *tbl = p.mem + e->offset;

		assert_memory_equal(tbl, e->signature, 4);
		assert_int_equal(rd32(tbl + 4), e->length);
		assert_true(e->offset + e->length <= p.t.tables_len);
		if (!memcmp(e->signature, "FACS", 4)) {
			assert_int_equal(e->offset % 64, 0); /* FACS has no checksum */
			continue;
		}
		assert_int_equal(e->offset % 4, 0);
		assert_int_equal(sum(tbl, e->length), 0);
		assert_memory_equal(tbl + 10, "DUET  ", 6);
		assert_memory_equal(tbl + 16, "DUETVMM ", 8);
		checked++;
	}
	assert_int_equal(checked, 5); /* DSDT FACP APIC RSDT XSDT */
	assert_memory_equal(p.rsdp, "RSD PTR ", 8);
	assert_int_equal(sum(p.rsdp, 20), 0);
	assert_int_equal(sum(p.rsdp, 36), 0);
	assert_memory_equal(p.rsdp + 9, "DUET  ", 6);
	unplace(&p);
}

static void test_pointers(void **state)
{
	struct acpi_config cfg;
	struct placed p;
	const uint8_t *rsdt, *xsdt, *fadt;

	(void)state;
	acpi_config_default(&cfg, 2, RAM_END_LOW);
	place(&p, &cfg);

	assert_int_equal(p.rsdp[15], 2);            /* revision: ACPI 2.0+ */
	assert_int_equal(rd32(p.rsdp + 20), 36);    /* length */
	rsdt = table_at(&p, rd32(p.rsdp + 16));
	xsdt = table_at(&p, rd64(p.rsdp + 24));
	assert_memory_equal(rsdt, "RSDT", 4);
	assert_memory_equal(xsdt, "XSDT", 4);
	assert_int_equal(rd32(rsdt + 4), 36 + 2 * 4);
	assert_int_equal(rd32(xsdt + 4), 36 + 2 * 8);
	assert_memory_equal(table_at(&p, rd32(rsdt + 36)), "FACP", 4);
	assert_memory_equal(table_at(&p, rd32(rsdt + 40)), "APIC", 4);
	assert_int_equal(rd64(xsdt + 36), rd32(rsdt + 36));
	assert_int_equal(rd64(xsdt + 44), rd32(rsdt + 40));

	fadt = table_at(&p, rd32(rsdt + 36));
	assert_memory_equal(table_at(&p, rd32(fadt + 40)), "DSDT", 4);
	assert_int_equal(rd64(fadt + 140), rd32(fadt + 40)); /* X_DSDT */
	assert_int_equal(rd32(fadt + 36) % 64, 0);
	assert_memory_equal(p.mem + (rd32(fadt + 36) - TABLES_GPA), "FACS", 4);
	assert_int_equal(rd64(fadt + 132), rd32(fadt + 36)); /* X_FIRMWARE_CTRL */
	unplace(&p);
}

static void test_fadt(void **state)
{
	struct acpi_config cfg;
	struct placed p;
	const uint8_t *f;
	uint32_t flags;

	(void)state;
	acpi_config_default(&cfg, 1, RAM_END_LOW);
	place(&p, &cfg);
	f = find_table(&p, "FACP");
	assert_int_equal(rd32(f + 4), 244);
	assert_int_equal(f[8], 3);
	assert_int_equal(rd16(f + 46), 9);          /* SCI_INT */
	assert_int_equal(rd32(f + 48), 0);          /* SMI_CMD: always ACPI */
	assert_int_equal(rd32(f + 56), 0x600);      /* PM1a_EVT_BLK */
	assert_int_equal(rd32(f + 64), 0x604);      /* PM1a_CNT_BLK */
	assert_int_equal(rd32(f + 76), 0x608);      /* PM_TMR_BLK */
	assert_int_equal(rd32(f + 80), 0x60c);      /* GPE0_BLK */
	assert_int_equal(f[88], 4);
	assert_int_equal(f[89], 2);
	assert_int_equal(f[91], 4);
	assert_int_equal(f[92], 4);
	assert_int_equal(rd16(f + 109), 0x3);       /* LEGACY_DEVICES | 8042 */
	flags = rd32(f + 112);
	assert_true(flags & (1U << 0));             /* WBINVD */
	assert_true(flags & (1U << 2));             /* PROC_C1 */
	assert_false(flags & (1U << 4));            /* fixed power button */
	assert_true(flags & (1U << 5));             /* no sleep button */
	assert_true(flags & (1U << 10));            /* RESET_REG_SUP */
	assert_false(flags & (1U << 19));           /* one CPU: logical mode */
	/* RESET_REG: SystemIO, 8 bits, 0xcf9; RESET_VALUE 6. */
	assert_int_equal(f[116], 1);
	assert_int_equal(f[117], 8);
	assert_int_equal(rd64(f + 120), 0xcf9);
	assert_int_equal(f[128], 0x06);
	/* X_PM1a_EVT_BLK, X_PM1a_CNT_BLK, X_PM_TMR_BLK, X_GPE0_BLK. */
	assert_int_equal(f[148], 1);
	assert_int_equal(f[149], 32);
	assert_int_equal(rd64(f + 152), 0x600);
	assert_int_equal(f[173], 16);
	assert_int_equal(rd64(f + 176), 0x604);
	assert_int_equal(f[209], 32);
	assert_int_equal(rd64(f + 212), 0x608);
	assert_int_equal(f[221], 32);
	assert_int_equal(rd64(f + 224), 0x60c);
	unplace(&p);

	acpi_config_default(&cfg, 16, RAM_END_LOW);
	cfg.pm_io_base = 0xb000;
	place(&p, &cfg);
	f = find_table(&p, "FACP");
	assert_int_equal(rd32(f + 76), 0xb008);
	assert_true(rd32(f + 112) & (1U << 19));    /* >8 CPUs: physical mode */
	unplace(&p);
}

/* madt_count: how many entries of `type` the MADT has; checks that the
 * entries tile the table exactly. */
static unsigned madt_count(const uint8_t *m, uint8_t type)
{
	uint32_t len = rd32(m + 4), off = 44;
	unsigned n = 0;

	while (off < len) {
		assert_true(m[off + 1] >= 2);
		if (m[off] == type)
			n++;
		off += m[off + 1];
	}
	assert_int_equal(off, len);
	return n;
}

static const uint8_t *madt_override(const uint8_t *m, uint8_t irq)
{
	uint32_t len = rd32(m + 4);

	for (uint32_t off = 44; off < len; off += m[off + 1])
		if (m[off] == 2 && m[off + 3] == irq)
			return m + off;
	return NULL;
}

static void test_madt(void **state)
{
	static const unsigned cpu_counts[] = { 1, 4, 64, ACPI_MAX_CPUS };
	struct acpi_config cfg;
	struct placed p;

	(void)state;
	for (size_t c = 0; c < sizeof(cpu_counts) / sizeof(cpu_counts[0]); c++) {
		const uint8_t *m, *o;
		unsigned n = cpu_counts[c], seen = 0;
		uint32_t len;

		acpi_config_default(&cfg, n, RAM_END_LOW);
		place(&p, &cfg);
		m = find_table(&p, "APIC");
		len = rd32(m + 4);
		assert_int_equal(rd32(m + 36), 0xfee00000);
		assert_int_equal(rd32(m + 40) & 1, 1); /* PCAT_COMPAT */
		assert_int_equal(madt_count(m, 0), n);
		assert_int_equal(madt_count(m, 1), 1);
		assert_int_equal(madt_count(m, 4), 1);
		for (uint32_t off = 44; off < len; off += m[off + 1]) {
			if (m[off] == 0) {
				assert_int_equal(m[off + 1], 8);
				assert_int_equal(m[off + 2], seen); /* processor ID */
				assert_int_equal(m[off + 3], seen); /* APIC ID */
				assert_int_equal(rd32(m + off + 4), 1);
				seen++;
			} else if (m[off] == 1) {
				assert_int_equal(m[off + 2], 0);
				assert_int_equal(rd32(m + off + 4), 0xfec00000);
				assert_int_equal(rd32(m + off + 8), 0);
			} else if (m[off] == 4) {
				assert_int_equal(m[off + 2], 0xff);
				assert_int_equal(m[off + 5], 1); /* LINT1 */
			}
		}
		/* IRQ0 -> GSI 2, ISA-conforming (edge, high). */
		o = madt_override(m, 0);
		assert_non_null(o);
		assert_int_equal(rd32(o + 4), 2);
		assert_int_equal(rd16(o + 8), 0);
		/* The SCI and the link IRQs: level, active high. */
		for (uint8_t irq = 1; irq < 16; irq++) {
			o = madt_override(m, irq);
			if (irq == 5 || irq == 9 || irq == 10 || irq == 11) {
				assert_non_null(o);
				assert_int_equal(rd32(o + 4), irq);
				assert_int_equal(rd16(o + 8), 0x0d);
			} else {
				assert_null(o);
			}
		}
		unplace(&p);
	}
}

/* ---- The DSDT as SeaBIOS's parser sees it ---- */

/* SeaBIOS 1.16 (src/fw/dsdt_parser.c) walks the DSDT to learn which
 * devices exist (no PNP0303 means no PS/2 set-up). It knows only a few
 * opcodes at the scope level; this walker accepts the same set and fails
 * the test on anything else, so the DSDT stays walkable. */
struct walk {
	const uint8_t *aml;
	size_t len;
	uint32_t hids[64];
	unsigned nhids;
};

static size_t walk_pkglength(const uint8_t *p, uint32_t *len)
{
	size_t n = (p[0] >> 6) + 1;

	*len = n == 1 ? p[0] & 0x3f : p[0] & 0x0f;
	for (size_t i = 1; i < n; i++)
		*len |= (uint32_t)p[i] << (4 + 8 * (i - 1));
	return n;
}

static size_t walk_name(const uint8_t *p)
{
	size_t o = 0;

	while (p[o] == '\\' || p[o] == '^')
		o++;
	if (p[o] == 0x00)
		return o + 1;
	if (p[o] == 0x2e)
		return o + 9;
	if (p[o] == 0x2f)
		return o + 2 + 4 * (size_t)p[o + 1];
	assert_true((p[o] >= 'A' && p[o] <= 'Z') || p[o] == '_');
	return o + 4;
}

static size_t walk_int(const uint8_t *p)
{
	switch (p[0]) {
	case 0x00: case 0x01: return 1;
	case 0x0a: return 2;
	case 0x0b: return 3;
	case 0x0c: return 5;
	default: fail_msg("SeaBIOS cannot parse integer opcode %#x", p[0]);
	}
	return 0;
}

static void walk_list(struct walk *w, size_t off, size_t end);

/* walk_obj: one term object at `off`; returns its size. */
static size_t walk_obj(struct walk *w, size_t off)
{
	const uint8_t *p = w->aml + off;
	uint32_t len;
	size_t n, name;

	switch (p[0]) {
	case 0x00: case 0x01: case 0x0a: case 0x0b: case 0x0c:
		return walk_int(p);
	case 0x0d:
		return strlen((const char *)p + 1) + 2;
	case 0x08: /* Name */
		name = walk_name(p + 1);
		if (!memcmp(p + 1, "_HID", 4) && p[5] == 0x0c) {
			assert_true(w->nhids < sizeof(w->hids) / sizeof(w->hids[0]));
			w->hids[w->nhids++] = rd32(p + 6);
		}
		return 1 + name + walk_obj(w, off + 1 + name);
	case 0x10: /* Scope */
		n = walk_pkglength(p + 1, &len);
		walk_list(w, off + 1 + n + walk_name(p + 1 + n), off + 1 + len);
		return 1 + len;
	case 0x11: case 0x12: case 0x13: case 0x14: /* Buffer, Packages, Method */
		walk_pkglength(p + 1, &len);
		return 1 + len;
	case 0x5b:
		switch (p[1]) {
		case 0x80: /* OperationRegion: offset and length constants */
			name = walk_name(p + 2);
			n = 2 + name + 1;
			n += walk_int(p + n);
			n += walk_int(p + n);
			return n;
		case 0x81: case 0x83: case 0x84: case 0x85: /* skipped whole */
			walk_pkglength(p + 2, &len);
			return 2 + len;
		case 0x82: /* Device */
			n = walk_pkglength(p + 2, &len);
			walk_list(w, off + 2 + n + walk_name(p + 2 + n), off + 2 + len);
			return 2 + len;
		default:
			break;
		}
		break;
	default:
		break;
	}
	fail_msg("SeaBIOS cannot parse opcode %#x at DSDT offset %zu", p[0], off + 36);
	return 0;
}

static void walk_list(struct walk *w, size_t off, size_t end)
{
	assert_true(end <= w->len);
	while (off < end)
		off += walk_obj(w, off);
	assert_int_equal(off, end);
}

static unsigned hid_count(const struct walk *w, const char *eisaid)
{
	unsigned n = 0;

	for (unsigned i = 0; i < w->nhids; i++)
		if (w->hids[i] == aml_eisaid(eisaid))
			n++;
	return n;
}

static void test_dsdt_seabios_walk(void **state)
{
	struct acpi_config cfg;
	struct placed p;
	struct walk w = { 0 };
	const uint8_t *d;

	(void)state;
	acpi_config_default(&cfg, 8, RAM_END_LOW);
	cfg.pci_mmio64_base = 1ULL << 35;
	cfg.pci_mmio64_size = 1ULL << 35;
	place(&p, &cfg);
	d = find_table(&p, "DSDT");
	w.aml = d + 36;
	w.len = rd32(d + 4) - 36;
	walk_list(&w, 0, w.len);
	assert_int_equal(hid_count(&w, "PNP0A03"), 1);
	assert_int_equal(hid_count(&w, "PNP0303"), 1);
	assert_int_equal(hid_count(&w, "PNP0F13"), 1);
	assert_int_equal(hid_count(&w, "PNP0501"), 1);
	assert_int_equal(hid_count(&w, "PNP0B00"), 1);
	assert_int_equal(hid_count(&w, "PNP0C0F"), 5);
	unplace(&p);

	acpi_config_default(&cfg, 1, RAM_END_LOW);
	cfg.isa_devices = ACPI_ISA_KBD;
	place(&p, &cfg);
	d = find_table(&p, "DSDT");
	memset(&w, 0, sizeof(w));
	w.aml = d + 36;
	w.len = rd32(d + 4) - 36;
	walk_list(&w, 0, w.len);
	assert_int_equal(hid_count(&w, "PNP0303"), 1);
	assert_int_equal(hid_count(&w, "PNP0F13"), 0);
	assert_int_equal(hid_count(&w, "PNP0501"), 0);
	assert_int_equal(hid_count(&w, "PNP0B00"), 0);
	unplace(&p);
}

static int contains(const uint8_t *hay, size_t len, const uint8_t *needle, size_t n)
{
	return memmem(hay, len, needle, n) != NULL;
}

/* prt_entry: the bytes of the _PRT entry Package(4) { slot << 16 | 0xffff,
 * pin, \_SB.LNKx, 0 } for a slot >= 1 (its address is a DWordConst);
 * returns the length. */
static size_t prt_entry(uint8_t out[21], unsigned slot, unsigned pin, char link)
{
	size_t n = 0;

	out[n++] = 0x12;                       /* Package */
	out[n++] = pin < 2 ? 0x13 : 0x14;      /* PkgLength */
	out[n++] = 0x04;                       /* NumElements */
	out[n++] = 0x0c;                       /* DWordConst */
	out[n++] = 0xff;
	out[n++] = 0xff;
	out[n++] = (uint8_t)slot;
	out[n++] = 0x00;
	if (pin < 2) {
		out[n++] = (uint8_t)pin;       /* Zero, One */
	} else {
		out[n++] = 0x0a;               /* ByteConst */
		out[n++] = (uint8_t)pin;
	}
	memcpy(out + n, "\\\x2e_SB_LNK", 9);
	n += 9;
	out[n++] = (uint8_t)link;
	out[n++] = 0x00;                       /* source index */
	return n;
}

static void test_dsdt_prt(void **state)
{
	struct acpi_config cfg;
	struct placed p;
	const uint8_t *d;
	uint8_t entry[21];
	size_t n;

	(void)state;
	acpi_config_default(&cfg, 1, RAM_END_LOW);
	place(&p, &cfg);
	d = find_table(&p, "DSDT");
	for (unsigned slot = 1; slot < 32; slot++) {
		for (unsigned pin = 0; pin < 4; pin++) {
			/* pci.c: PIRQ (slot + pin - 1) mod 4, LNKA = PIRQA; the PM
			 * function's INTA# (slot 1) is the SCI. */
			char link = slot == 1 && pin == 0 ? 'S' : "ABCD"[(slot + pin + 3) & 3];

			n = prt_entry(entry, slot, pin, link);
			assert_true(contains(d, rd32(d + 4), entry, n));
		}
	}
	unplace(&p);

	/* Fewer slots, fewer entries. */
	acpi_config_default(&cfg, 1, RAM_END_LOW);
	cfg.pci_slots = 4;
	place(&p, &cfg);
	d = find_table(&p, "DSDT");
	n = prt_entry(entry, 3, 3, 'B'); /* (3 + 3 - 1) mod 4 = 1 */
	assert_true(contains(d, rd32(d + 4), entry, n));
	prt_entry(entry, 4, 0, 'A');
	assert_false(contains(d, rd32(d + 4), entry, 8));
	unplace(&p);
}

/* The root bridge's _CRS: the 32-bit window from the end of low RAM to
 * the IOAPIC, and a QWordMemory only when there is a 64-bit window. */
static void test_dsdt_windows(void **state)
{
	/* DWordMemory(..., NonCacheable, ReadWrite, 0, 0xC0000000, 0xFEBFFFFF, 0, 0x3EC00000) */
	static const uint8_t win32[] = {
		0x87, 0x17, 0x00, 0x00, 0x0c, 0x01, 0, 0, 0, 0, 0x00, 0x00, 0x00, 0xc0,
		0xff, 0xff, 0xbf, 0xfe, 0, 0, 0, 0, 0x00, 0x00, 0xc0, 0x3e,
	};
	static const uint8_t qword_head[] = { 0x8a, 0x2b, 0x00, 0x00, 0x0c, 0x03 };
	struct acpi_config cfg;
	struct placed p;
	const uint8_t *d;

	(void)state;
	acpi_config_default(&cfg, 1, RAM_END_LOW);
	place(&p, &cfg);
	d = find_table(&p, "DSDT");
	assert_true(contains(d, rd32(d + 4), win32, sizeof(win32)));
	assert_false(contains(d, rd32(d + 4), qword_head, sizeof(qword_head)));
	unplace(&p);

	cfg.pci_mmio64_base = 0x800000000ULL;
	cfg.pci_mmio64_size = 0x800000000ULL;
	place(&p, &cfg);
	d = find_table(&p, "DSDT");
	assert_true(contains(d, rd32(d + 4), qword_head, sizeof(qword_head)));
	unplace(&p);
}

static void test_bad_config(void **state)
{
	struct acpi_config cfg;
	struct acpi_tables t;

	(void)state;
	acpi_config_default(&cfg, 0, RAM_END_LOW);
	assert_int_equal(acpi_build(&cfg, &t), -EINVAL);
	acpi_config_default(&cfg, ACPI_MAX_CPUS + 1, RAM_END_LOW);
	assert_int_equal(acpi_build(&cfg, &t), -EINVAL);
	acpi_config_default(&cfg, 1, ACPI_PCI_MMIO32_END);
	assert_int_equal(acpi_build(&cfg, &t), -EINVAL);
	acpi_config_default(&cfg, 1, 0x80000);
	assert_int_equal(acpi_build(&cfg, &t), -EINVAL);
	acpi_config_default(&cfg, 1, RAM_END_LOW);
	cfg.pci_mmio64_base = 0xe0000000;
	cfg.pci_mmio64_size = 0x10000000;
	assert_int_equal(acpi_build(&cfg, &t), -EINVAL);
	cfg.pci_mmio64_base = UINT64_MAX - 0xfff;
	cfg.pci_mmio64_size = 0x2000;
	assert_int_equal(acpi_build(&cfg, &t), -EINVAL);
	acpi_config_default(&cfg, 1, RAM_END_LOW);
	cfg.pci_slots = ACPI_MAX_PCI_SLOTS + 1;
	assert_int_equal(acpi_build(&cfg, &t), -EINVAL);
	acpi_config_default(&cfg, 1, RAM_END_LOW);
	cfg.pm_io_base = 0;
	assert_int_equal(acpi_build(&cfg, &t), -EINVAL);
	acpi_config_default(&cfg, 1, RAM_END_LOW);
	cfg.sci_irq = 2;
	assert_int_equal(acpi_build(&cfg, &t), -EINVAL);
}

static void test_place_bad_address(void **state)
{
	struct acpi_config cfg;
	struct acpi_tables t;
	uint8_t *mem, rsdp[ACPI_RSDP_SIZE];

	(void)state;
	acpi_config_default(&cfg, 1, RAM_END_LOW);
	assert_int_equal(acpi_build(&cfg, &t), 0);
	mem = malloc(t.tables_len);
	assert_non_null(mem);
	assert_int_equal(acpi_place(&t, mem, TABLES_GPA + 16, rsdp, RSDP_GPA), -EINVAL);
	assert_int_equal(acpi_place(&t, mem, TABLES_GPA, rsdp, RSDP_GPA + 4), -EINVAL);
	assert_int_equal(acpi_place(&t, mem, (1ULL << 32) - 64, rsdp, RSDP_GPA), -EINVAL);
	assert_int_equal(acpi_place(&t, mem, 1ULL << 32, rsdp, RSDP_GPA), -EINVAL);
	free(mem);
	acpi_tables_free(&t);
}

/* ---- The linker/loader script, run as SeaBIOS runs it ---- */

struct loader_file {
	const char *name;
	uint8_t *data;
	size_t size;
	uint64_t addr;   /* where "allocated" */
	int allocated;
};

static struct loader_file *loader_find(struct loader_file *files, const uint8_t *name)
{
	/* The name must be NUL-terminated inside its 56 bytes. */
	assert_non_null(memchr(name, 0, ACPI_LOADER_FILESZ));
	for (int i = 0; i < 2; i++)
		if (!strcmp(files[i].name, (const char *)name))
			return &files[i];
	fail_msg("loader names unknown file '%s'", (const char *)name);
	return NULL;
}

static void test_loader(void **state)
{
	struct acpi_config cfg;
	struct placed p;
	uint8_t *script, *tables, rsdp[ACPI_RSDP_SIZE];
	size_t len;
	unsigned allocs = 0, pointers = 0, checksums = 0;

	(void)state;
	acpi_config_default(&cfg, 4, RAM_END_LOW);
	cfg.pci_mmio64_base = 0x800000000ULL;
	cfg.pci_mmio64_size = 0x800000000ULL;
	place(&p, &cfg);
	assert_int_equal(acpi_table_loader(&p.t, &script, &len), 0);
	assert_int_equal(len % ACPI_LOADER_ENTRY_SIZE, 0);

	tables = malloc(p.t.tables_len);
	assert_non_null(tables);
	memcpy(tables, p.t.tables, p.t.tables_len);
	memcpy(rsdp, p.t.rsdp, sizeof(rsdp));
	struct loader_file files[2] = {
		{ ACPI_FW_CFG_TABLES, tables, p.t.tables_len, TABLES_GPA, 0 },
		{ ACPI_FW_CFG_RSDP, rsdp, sizeof(rsdp), RSDP_GPA, 0 },
	};

	for (size_t off = 0; off < len; off += ACPI_LOADER_ENTRY_SIZE) {
		const uint8_t *e = script + off;
		struct loader_file *f, *src;
		uint32_t at, start, n;
		uint8_t size;
		uint64_t v = 0;

		switch (rd32(e)) {
		case ACPI_LOADER_ALLOCATE:
			f = loader_find(files, e + 4);
			assert_false(f->allocated);
			f->allocated = 1;
			if (f->data == rsdp) {
				assert_int_equal(e[64], ACPI_LOADER_ZONE_FSEG);
				assert_int_equal(rd32(e + 60), 16);
			} else {
				assert_int_equal(e[64], ACPI_LOADER_ZONE_HIGH);
				assert_int_equal(rd32(e + 60), 64);
			}
			assert_int_equal(f->addr % rd32(e + 60), 0);
			allocs++;
			break;
		case ACPI_LOADER_ADD_POINTER:
			f = loader_find(files, e + 4);
			src = loader_find(files, e + 60);
			assert_true(f->allocated && src->allocated);
			at = rd32(e + 116);
			size = e[120];
			assert_true(size == 4 || size == 8);
			assert_true(at + size <= f->size);
			memcpy(&v, f->data + at, size);
			v += src->addr;
			memcpy(f->data + at, &v, size);
			pointers++;
			break;
		case ACPI_LOADER_ADD_CHECKSUM:
			f = loader_find(files, e + 4);
			assert_true(f->allocated);
			at = rd32(e + 60);
			start = rd32(e + 64);
			n = rd32(e + 68);
			assert_true(at < f->size);
			assert_true(start + n <= f->size && start + n >= start);
			f->data[at] = (uint8_t)(f->data[at] - sum(f->data + start, n));
			checksums++;
			break;
		default:
			fail_msg("unknown loader command %u", rd32(e));
		}
	}
	assert_int_equal(allocs, 2);
	assert_int_equal(pointers, p.t.npointers);
	assert_int_equal(checksums, p.t.nchecksums);
	/* What SeaBIOS ends up with is what acpi_place writes. */
	assert_memory_equal(tables, p.mem, p.t.tables_len);
	assert_memory_equal(rsdp, p.rsdp, sizeof(rsdp));

	free(tables);
	free(script);
	unplace(&p);
}

/* ---- iasl ---- */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* run: the command's combined output (malloc'd) and exit status. */
static char *run(const char *cmd, int *status)
{
	FILE *f = popen(cmd, "r");
	char *out = NULL;
	size_t len = 0, n;
	char chunk[4096];

	assert_non_null(f);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		out = realloc(out, len + n + 1);
		assert_non_null(out);
		memcpy(out + len, chunk, n);
		len += n;
	}
	if (!out)
		out = calloc(1, 1);
	assert_non_null(out);
	out[len] = '\0';
	*status = pclose(f);
	return out;
}

/* count_lines: lines of `text` that contain `what`. */
static unsigned count_lines(const char *text, const char *what)
{
	unsigned n = 0;

	for (const char *s = text; (s = strstr(s, what)); s += strlen(what))
		n++;
	return n;
}

/* Each placed table disassembles cleanly; the DSDT also compiles back.
 * The recompile's two warnings are deliberate: Processor() (3168), which
 * Windows XP needs, and _HID with _ADR on PCI0 (3073), as QEMU's PC has
 * it. Anything else fails the test. */
static char iasl_dir[] = "/tmp/duet-acpi-XXXXXX";
static int iasl_dir_made;

/* iasl_cleanup: remove the scratch directory, also after a failed check. */
static int iasl_cleanup(void **state)
{
	(void)state;
	if (iasl_dir_made && nftw(iasl_dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS) != 0)
		return -1;
	iasl_dir_made = 0;
	return 0;
}

static void test_iasl(void **state)
{
	const char *dir = iasl_dir;
	char cmd[512], path[256];
	struct acpi_config cfg;
	struct placed p;
	char *out;
	int status;

	(void)state;
	if (system("command -v iasl >/dev/null 2>&1") != 0) {
		print_message("iasl not found (Debian: acpica-tools): skipping the disassembly check\n");
		skip();
	}
	acpi_config_default(&cfg, 4, RAM_END_LOW);
	cfg.pci_mmio64_base = 0x800000000ULL;
	cfg.pci_mmio64_size = 0x800000000ULL;
	place(&p, &cfg);
	assert_non_null(mkdtemp(iasl_dir));
	iasl_dir_made = 1;

	for (unsigned i = 0; i < p.t.ntables; i++) {
		const struct acpi_table_index *e = &p.t.index[i];
		FILE *f;

		snprintf(path, sizeof(path), "%s/%.4s.dat", dir, e->signature);
		f = fopen(path, "wb");
		assert_non_null(f);
		assert_int_equal(fwrite(p.mem + e->offset, 1, e->length, f), e->length);
		assert_int_equal(fclose(f), 0);

		snprintf(cmd, sizeof(cmd), "cd %s && iasl -d %.4s.dat 2>&1", dir, e->signature);
		out = run(cmd, &status);
		if (status != 0 || count_lines(out, "Error") || count_lines(out, "Warning") ||
		    !strstr(out, ".dsl"))
			fail_msg("iasl -d %.4s: status %d:\n%s", e->signature, status, out);
		free(out);

		snprintf(cmd, sizeof(cmd), "grep -c -i 'incorrect\\|invalid' %s/%.4s.dsl", dir,
			 e->signature);
		out = run(cmd, &status);
		assert_string_equal(out, "0\n");
		free(out);
	}

	snprintf(cmd, sizeof(cmd), "cd %s && iasl DSDT.dsl 2>&1", dir);
	out = run(cmd, &status);
	if (status != 0 || !strstr(out, " 0 Errors") ||
	    count_lines(out, "Warning ") !=
		    count_lines(out, "Warning  3168") + count_lines(out, "Warning  3073") ||
	    count_lines(out, "Warning  3073") != 1 || count_lines(out, "Warning  3168") != 4)
		fail_msg("iasl DSDT.dsl: status %d:\n%s", status, out);
	free(out);
	unplace(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_checksums),
		cmocka_unit_test(test_pointers),
		cmocka_unit_test(test_fadt),
		cmocka_unit_test(test_madt),
		cmocka_unit_test(test_dsdt_seabios_walk),
		cmocka_unit_test(test_dsdt_prt),
		cmocka_unit_test(test_dsdt_windows),
		cmocka_unit_test(test_bad_config),
		cmocka_unit_test(test_place_bad_address),
		cmocka_unit_test(test_loader),
		cmocka_unit_test_teardown(test_iasl, iasl_cleanup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
