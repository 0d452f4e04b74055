/* Pins vmm/hw/fw_cfg.c through its ports, as SeaBIOS drives it: the
 * signature and ID, the file directory and file keys, data-port reads,
 * every DMA operation and how it fails (outside RAM, wrapping, writes),
 * the address register's widths, reset, item validation and etc/e820. */
#include <endian.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hw/fw_cfg.h"

#define RAM_SIZE 0x100000 /* 0-0x9ffff and 0xc0000-0xfffff */
#define ACCESS_GPA 0x1000
#define BUF_GPA 0x2000

#define CTL_ERROR 0x01
#define CTL_READ 0x02
#define CTL_SKIP 0x04
#define CTL_SELECT 0x08
#define CTL_WRITE 0x10

struct fixture {
	struct bus bus;
	struct guest_mem mem;
	struct fw_cfg *fw;
};

static const char file_a[] = "alpha file contents";
static const uint8_t file_b[3] = { 0xb0, 0xb1, 0xb2 };
static const char file_c[] = "0123456789";

static int setup(void **state)
{
	static struct fixture f;

	memset(&f, 0, sizeof(f));
	bus_init(&f.bus, "pio");
	if (mem_create(&f.mem, RAM_SIZE))
		return -1;
	f.fw = fw_cfg_new(&f.bus, &f.mem);
	if (!f.fw)
		return -1;
	/* added out of order: the directory sorts them */
	if (fw_cfg_add_file(f.fw, "etc/zeta", file_c, sizeof(file_c)) ||
	    fw_cfg_add_file(f.fw, "bootorder", file_a, sizeof(file_a)) ||
	    fw_cfg_add_file(f.fw, "etc/acpi/tables", file_b, sizeof(file_b)))
		return -1;
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	fw_cfg_free(f->fw);
	mem_destroy(&f->mem);
	bus_destroy(&f->bus);
	return 0;
}

/* Keys in name order: bootorder, etc/acpi/tables, etc/zeta. */
#define KEY_A 0x20
#define KEY_B 0x21
#define KEY_C 0x22

static void select_key(struct fixture *f, uint16_t key)
{
	uint16_t v = htole16(key);

	assert_int_equal(bus_write(&f->bus, FW_CFG_PORT_SELECTOR, &v, 2), 1);
}

static uint8_t data_byte(struct fixture *f)
{
	uint8_t v;

	assert_int_equal(bus_read(&f->bus, FW_CFG_PORT_DATA, &v, 1), 1);
	return v;
}

static void data_read(struct fixture *f, void *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		((uint8_t *)buf)[i] = data_byte(f);
}

/* dma: put an FWCfgDmaAccess at ACCESS_GPA, start it the way SeaBIOS does
 * (outl(cpu_to_be32(addr), 0x518)) and return the control it left. */
static uint32_t dma(struct fixture *f, uint32_t control, uint32_t length, uint64_t address)
{
	uint8_t *access = f->mem.base + ACCESS_GPA;
	uint32_t c = htobe32(control), l = htobe32(length), start = htobe32(ACCESS_GPA);
	uint64_t a = htobe64(address);

	memcpy(access, &c, 4);
	memcpy(access + 4, &l, 4);
	memcpy(access + 8, &a, 8);
	assert_int_equal(bus_write(&f->bus, FW_CFG_PORT_DMA_LOW, &start, 4), 1);
	memcpy(&c, access, 4);
	return be32toh(c);
}

static void test_signature(void **state)
{
	struct fixture *f = *state;
	char sig[6];

	select_key(f, FW_CFG_SIGNATURE);
	data_read(f, sig, sizeof(sig));
	assert_memory_equal(sig, "QEMU\0\0", 6); /* 0 past the end */
}

static void test_id(void **state)
{
	struct fixture *f = *state;
	uint32_t id;

	select_key(f, FW_CFG_ID);
	data_read(f, &id, sizeof(id));
	assert_int_equal(le32toh(id), FW_CFG_VERSION | FW_CFG_VERSION_DMA);
}

static void test_dma_register_reads_signature(void **state)
{
	struct fixture *f = *state;
	uint8_t sig[8];
	uint32_t half;

	assert_int_equal(bus_read(&f->bus, FW_CFG_PORT_DMA_HIGH, sig, 8), 1);
	assert_memory_equal(sig, "QEMU CFG", 8);
	assert_int_equal(bus_read(&f->bus, FW_CFG_PORT_DMA_LOW, &half, 4), 1);
	assert_memory_equal(&half, " CFG", 4);
}

struct dir_entry {
	uint32_t size;
	uint16_t select;
	char name[FW_CFG_MAX_FILE_PATH];
};

static uint32_t read_dir(struct fixture *f, struct dir_entry *e, unsigned max)
{
	uint32_t count;
	uint8_t raw[64];

	select_key(f, FW_CFG_FILE_DIR);
	data_read(f, &count, 4);
	count = be32toh(count);
	for (unsigned i = 0; i < count && i < max; i++) {
		uint16_t sel, reserved;

		data_read(f, raw, sizeof(raw));
		memcpy(&e[i].size, raw, 4);
		e[i].size = be32toh(e[i].size);
		memcpy(&sel, raw + 4, 2);
		e[i].select = be16toh(sel);
		memcpy(&reserved, raw + 6, 2);
		assert_int_equal(reserved, 0);
		memcpy(e[i].name, raw + 8, FW_CFG_MAX_FILE_PATH);
		assert_int_equal(e[i].name[FW_CFG_MAX_FILE_PATH - 1], 0);
	}
	return count;
}

static void test_file_dir(void **state)
{
	struct fixture *f = *state;
	struct dir_entry e[4];

	assert_int_equal(read_dir(f, e, 4), 3);
	assert_string_equal(e[0].name, "bootorder");
	assert_int_equal(e[0].select, KEY_A);
	assert_int_equal(e[0].size, sizeof(file_a));
	assert_string_equal(e[1].name, "etc/acpi/tables");
	assert_int_equal(e[1].select, KEY_B);
	assert_int_equal(e[1].size, sizeof(file_b));
	assert_string_equal(e[2].name, "etc/zeta");
	assert_int_equal(e[2].select, KEY_C);
	assert_int_equal(e[2].size, sizeof(file_c));
}

static void test_file_replace_and_renumber(void **state)
{
	struct fixture *f = *state;
	struct dir_entry e[5];
	char big[300];

	memset(big, 'x', sizeof(big));
	assert_int_equal(fw_cfg_add_file(f->fw, "etc/acpi/tables", big, sizeof(big)), 0);
	assert_int_equal(fw_cfg_add_file(f->fw, "a-first", "1", 1), 0);
	assert_int_equal(read_dir(f, e, 5), 4);
	assert_string_equal(e[0].name, "a-first");
	assert_int_equal(e[0].select, 0x20);
	assert_string_equal(e[2].name, "etc/acpi/tables");
	assert_int_equal(e[2].select, 0x22);
	assert_int_equal(e[2].size, sizeof(big));
	select_key(f, 0x22);
	assert_int_equal(data_byte(f), 'x');
}

static void test_read_file_by_key(void **state)
{
	struct fixture *f = *state;
	char buf[sizeof(file_a) + 2];

	select_key(f, KEY_A);
	data_read(f, buf, sizeof(buf));
	assert_memory_equal(buf, file_a, sizeof(file_a));
	assert_int_equal(buf[sizeof(file_a)], 0);
	assert_int_equal(buf[sizeof(file_a) + 1], 0);

	/* bit 14, the old write channel, names the same item */
	select_key(f, KEY_B | FW_CFG_WRITE_CHANNEL);
	assert_int_equal(data_byte(f), 0xb0);
	/* selecting rewinds */
	select_key(f, KEY_B);
	assert_int_equal(data_byte(f), 0xb0);
	assert_int_equal(data_byte(f), 0xb1);
	/* a key nobody added reads as zeros */
	select_key(f, 0x0123);
	assert_int_equal(data_byte(f), 0);
	select_key(f, FW_CFG_NB_CPUS);
	assert_int_equal(data_byte(f), 0);
}

static void test_selector_widths(void **state)
{
	struct fixture *f = *state;
	uint8_t one = KEY_B;

	select_key(f, KEY_A);
	/* a byte write to the selector is a data write: ignored */
	assert_int_equal(bus_write(&f->bus, FW_CFG_PORT_SELECTOR, &one, 1), 1);
	assert_int_equal(bus_write(&f->bus, FW_CFG_PORT_DATA, &one, 1), 1);
	assert_int_equal(data_byte(f), (uint8_t)file_a[0]);
	/* the selector reads as 0 and moves nothing */
	assert_int_equal(bus_read(&f->bus, FW_CFG_PORT_SELECTOR, &one, 1), 1);
	assert_int_equal(one, 0);
	assert_int_equal(data_byte(f), (uint8_t)file_a[1]);
}

static void test_dma_read(void **state)
{
	struct fixture *f = *state;
	uint8_t *buf = f->mem.base + BUF_GPA;

	memset(buf, 0xee, 64);
	assert_int_equal(dma(f, KEY_C << 16 | CTL_SELECT | CTL_READ, 4, BUF_GPA), 0);
	assert_memory_equal(buf, "0123", 4);
	assert_int_equal(buf[4], 0xee);
	/* the offset moved on; past the end come zeros */
	assert_int_equal(dma(f, CTL_READ, 12, BUF_GPA), 0);
	assert_memory_equal(buf, "456789\0\0\0\0\0\0", 12);
	assert_int_equal(buf[12], 0xee);
	/* and the data port agrees */
	assert_int_equal(data_byte(f), 0);
	/* length 0 touches nothing, wherever it points */
	assert_int_equal(dma(f, KEY_A << 16 | CTL_SELECT | CTL_READ, 0, ~0ULL), 0);
	assert_int_equal(data_byte(f), (uint8_t)file_a[0]);
}

static void test_dma_read_dir(void **state)
{
	struct fixture *f = *state;
	uint8_t *buf = f->mem.base + BUF_GPA;
	uint32_t count;

	/* SeaBIOS's qemu_cfg_init: count by DMA, then one entry at a time */
	assert_int_equal(dma(f, FW_CFG_FILE_DIR << 16 | CTL_SELECT | CTL_READ, 4, BUF_GPA), 0);
	memcpy(&count, buf, 4);
	assert_int_equal(be32toh(count), 3);
	assert_int_equal(dma(f, CTL_READ, 64, BUF_GPA), 0);
	assert_string_equal((char *)buf + 8, "bootorder");
	assert_int_equal(dma(f, CTL_READ, 64, BUF_GPA), 0);
	assert_string_equal((char *)buf + 8, "etc/acpi/tables");
}

static void test_dma_skip(void **state)
{
	struct fixture *f = *state;
	uint8_t *buf = f->mem.base + BUF_GPA;

	select_key(f, KEY_C);
	/* the address of a skip is not used */
	assert_int_equal(dma(f, CTL_SKIP, 3, ~0ULL), 0);
	assert_int_equal(dma(f, CTL_READ, 2, BUF_GPA), 0);
	assert_memory_equal(buf, "34", 2);
	/* select + skip in one go, as qemu_cfg_read_file with a skip */
	assert_int_equal(dma(f, KEY_A << 16 | CTL_SELECT | CTL_SKIP, 6, 0), 0);
	assert_int_equal(data_byte(f), (uint8_t)file_a[6]);
	/* skipping past the end stops at the end */
	assert_int_equal(dma(f, CTL_SKIP, 0xffffffff, 0), 0);
	assert_int_equal(dma(f, CTL_READ, 2, BUF_GPA), 0);
	assert_memory_equal(buf, "\0\0", 2);
}

static void test_dma_select_only(void **state)
{
	struct fixture *f = *state;

	select_key(f, KEY_A);
	(void)data_byte(f);
	assert_int_equal(dma(f, KEY_B << 16 | CTL_SELECT, 100, ~0ULL), 0);
	assert_int_equal(data_byte(f), 0xb0);
	/* a control of 0 does nothing and succeeds */
	assert_int_equal(dma(f, 0, 100, ~0ULL), 0);
	assert_int_equal(data_byte(f), 0xb1);
}

static void test_dma_outside_ram(void **state)
{
	struct fixture *f = *state;

	select_key(f, KEY_C);
	/* the VGA window, past the end of RAM, and straddling RAM's end */
	assert_int_equal(dma(f, CTL_READ, 4, 0xa0000), CTL_ERROR);
	assert_int_equal(dma(f, CTL_READ, 4, RAM_SIZE), CTL_ERROR);
	assert_int_equal(dma(f, CTL_READ, 4, 0x9fffe), CTL_ERROR);
	assert_int_equal(dma(f, CTL_READ, 0x100, RAM_SIZE - 0x80), CTL_ERROR);
	/* nothing was written, nothing consumed */
	assert_int_equal(f->mem.base[0x9fffe], 0);
	assert_int_equal(f->mem.base[RAM_SIZE - 0x80], 0);
	assert_int_equal(data_byte(f), '0');
}

static void test_dma_length_wrap(void **state)
{
	struct fixture *f = *state;

	select_key(f, KEY_C);
	assert_int_equal(dma(f, CTL_READ, 0x200, 0xffffffffffffff00ULL), CTL_ERROR);
	assert_int_equal(dma(f, CTL_READ, 0xffffffff, BUF_GPA), CTL_ERROR);
	assert_int_equal(dma(f, CTL_READ, 0xffffffff, 0xffffffff00000001ULL), CTL_ERROR);
	assert_int_equal(data_byte(f), '0');
}

static void test_dma_write_refused(void **state)
{
	struct fixture *f = *state;
	uint8_t *buf = f->mem.base + BUF_GPA;

	memcpy(buf, "ZZZZ", 4);
	assert_int_equal(dma(f, KEY_C << 16 | CTL_SELECT | CTL_WRITE, 4, BUF_GPA), CTL_ERROR);
	assert_int_equal(dma(f, CTL_WRITE | CTL_SKIP, 4, BUF_GPA), CTL_ERROR);
	/* the item is unchanged, the offset did not move */
	assert_int_equal(dma(f, CTL_READ, 4, BUF_GPA), 0);
	assert_memory_equal(buf, "0123", 4);
	/* read wins over write */
	assert_int_equal(dma(f, KEY_C << 16 | CTL_SELECT | CTL_READ | CTL_WRITE, 2, BUF_GPA), 0);
	assert_memory_equal(buf, "01", 2);
}

static void test_dma_access_outside_ram(void **state)
{
	struct fixture *f = *state;
	uint32_t addr = htobe32(0xa0000), c;

	/* the structure itself is not RAM: nothing happens, nothing breaks */
	assert_int_equal(bus_write(&f->bus, FW_CFG_PORT_DMA_LOW, &addr, 4), 1);
	/* only `control` is RAM: it gets the error */
	addr = htobe32(0x9fff8);
	c = htobe32(KEY_A << 16 | CTL_SELECT | CTL_READ);
	memcpy(f->mem.base + 0x9fff8, &c, 4);
	assert_int_equal(bus_write(&f->bus, FW_CFG_PORT_DMA_LOW, &addr, 4), 1);
	memcpy(&c, f->mem.base + 0x9fff8, 4);
	assert_int_equal(be32toh(c), CTL_ERROR);
}

static void test_dma_address_widths(void **state)
{
	struct fixture *f = *state;
	uint8_t *access = f->mem.base + ACCESS_GPA, *buf = f->mem.base + BUF_GPA;
	uint32_t c = htobe32(KEY_C << 16 | CTL_SELECT | CTL_READ), l = htobe32(3), half;
	uint64_t a = htobe64(BUF_GPA), whole;

	memcpy(access, &c, 4);
	memcpy(access + 4, &l, 4);
	memcpy(access + 8, &a, 8);
	/* one 64-bit write to 0x514 */
	whole = htobe64(ACCESS_GPA);
	assert_int_equal(bus_write(&f->bus, FW_CFG_PORT_DMA_HIGH, &whole, 8), 1);
	assert_memory_equal(access, "\0\0\0\0", 4);
	assert_memory_equal(buf, "012", 3);

	/* two 32-bit writes, high half first */
	memcpy(access, &c, 4);
	memset(buf, 0, 3);
	half = 0;
	assert_int_equal(bus_write(&f->bus, FW_CFG_PORT_DMA_HIGH, &half, 4), 1);
	half = htobe32(ACCESS_GPA);
	assert_int_equal(bus_write(&f->bus, FW_CFG_PORT_DMA_LOW, &half, 4), 1);
	assert_memory_equal(access, "\0\0\0\0", 4);
	assert_memory_equal(buf, "012", 3);

	/* a high half above RAM sends the access nowhere; after it the
	 * register is 0 again, so a low-only write works */
	memcpy(access, &c, 4);
	half = htobe32(1);
	assert_int_equal(bus_write(&f->bus, FW_CFG_PORT_DMA_HIGH, &half, 4), 1);
	half = htobe32(ACCESS_GPA);
	assert_int_equal(bus_write(&f->bus, FW_CFG_PORT_DMA_LOW, &half, 4), 1);
	assert_memory_equal(access, &c, 4);
	assert_int_equal(dma(f, KEY_C << 16 | CTL_SELECT | CTL_READ, 3, BUF_GPA), 0);

	/* other widths do nothing */
	memcpy(access, &c, 4);
	half = htobe32(ACCESS_GPA);
	assert_int_equal(bus_write(&f->bus, FW_CFG_PORT_DMA_LOW, &half, 2), 1);
	assert_int_equal(bus_write(&f->bus, FW_CFG_PORT_DMA_LOW + 3, &half, 1), 1);
	assert_memory_equal(access, &c, 4);
}

static void test_reset(void **state)
{
	struct fixture *f = *state;
	uint32_t half = htobe32(1);

	select_key(f, KEY_A);
	(void)data_byte(f);
	assert_int_equal(bus_write(&f->bus, FW_CFG_PORT_DMA_HIGH, &half, 4), 1);
	fw_cfg_reset(f->fw);
	assert_int_equal(data_byte(f), 'Q');
	/* the latched high half is gone */
	assert_int_equal(dma(f, KEY_B << 16 | CTL_SELECT | CTL_READ, 1, BUF_GPA), 0);
	assert_int_equal(f->mem.base[BUF_GPA], 0xb0);
}

static void test_add_validation(void **state)
{
	struct fixture *f = *state;
	char name[FW_CFG_MAX_FILE_PATH + 1];

	assert_int_equal(fw_cfg_add_key(f->fw, FW_CFG_SIGNATURE, "X", 1), -EINVAL);
	assert_int_equal(fw_cfg_add_key(f->fw, FW_CFG_ID, "X", 1), -EINVAL);
	assert_int_equal(fw_cfg_add_key(f->fw, FW_CFG_FILE_DIR, "X", 1), -EINVAL);
	assert_int_equal(fw_cfg_add_key(f->fw, FW_CFG_FILE_FIRST, "X", 1), -EINVAL);
	assert_int_equal(fw_cfg_add_key(f->fw, 0x3fff, "X", 1), -EINVAL);
	assert_int_equal(fw_cfg_add_key(f->fw, FW_CFG_WRITE_CHANNEL | 5, "X", 1), -EINVAL);
	assert_int_equal(fw_cfg_add_key(f->fw, FW_CFG_E820_TABLE, NULL, 0), 0);

	assert_int_equal(fw_cfg_add_file(f->fw, "", "X", 1), -EINVAL);
	memset(name, 'n', sizeof(name));
	name[FW_CFG_MAX_FILE_PATH - 1] = 0; /* 55 characters: fits */
	assert_int_equal(fw_cfg_add_file(f->fw, name, "X", 1), 0);
	name[FW_CFG_MAX_FILE_PATH - 1] = 'n';
	name[FW_CFG_MAX_FILE_PATH] = 0;
	assert_int_equal(fw_cfg_add_file(f->fw, name, "X", 1), -EINVAL);
	assert_int_equal(fw_cfg_add_file(f->fw, "empty", NULL, 0), 0);
	assert_int_equal(fw_cfg_add_file(f->fw, "huge", "X", (size_t)UINT32_MAX + 1), -EFBIG);
}

static void test_integers(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[8];

	assert_int_equal(fw_cfg_add_u16(f->fw, FW_CFG_NB_CPUS, 0x0102), 0);
	assert_int_equal(fw_cfg_add_u32(f->fw, FW_CFG_IRQ0_OVERRIDE, 0x01020304), 0);
	assert_int_equal(fw_cfg_add_u64(f->fw, FW_CFG_NUMA, 0x0102030405060708ULL), 0);
	select_key(f, FW_CFG_NB_CPUS);
	data_read(f, buf, 3);
	assert_memory_equal(buf, "\x02\x01\0", 3);
	select_key(f, FW_CFG_IRQ0_OVERRIDE);
	data_read(f, buf, 4);
	assert_memory_equal(buf, "\x04\x03\x02\x01", 4);
	select_key(f, FW_CFG_NUMA);
	data_read(f, buf, 8);
	assert_memory_equal(buf, "\x08\x07\x06\x05\x04\x03\x02\x01", 8);
	/* replacing a key */
	assert_int_equal(fw_cfg_add_u16(f->fw, FW_CFG_NB_CPUS, 4), 0);
	select_key(f, FW_CFG_NB_CPUS);
	data_read(f, buf, 2);
	assert_memory_equal(buf, "\x04\0", 2);
}

struct e820 {
	uint64_t addr, len;
	uint32_t type;
};

static unsigned read_e820(struct fixture *f, struct e820 *e, unsigned max)
{
	struct dir_entry d[8];
	uint32_t n = read_dir(f, d, 8);
	uint8_t raw[FW_CFG_E820_ENTRY_SIZE];

	for (unsigned i = 0; i < n; i++) {
		if (strcmp(d[i].name, FW_CFG_E820_FILE))
			continue;
		assert_int_equal(d[i].size % FW_CFG_E820_ENTRY_SIZE, 0);
		assert_true(d[i].size / FW_CFG_E820_ENTRY_SIZE <= max);
		select_key(f, d[i].select);
		for (unsigned k = 0; k < d[i].size / FW_CFG_E820_ENTRY_SIZE; k++) {
			data_read(f, raw, sizeof(raw));
			memcpy(&e[k].addr, raw, 8);
			memcpy(&e[k].len, raw + 8, 8);
			memcpy(&e[k].type, raw + 16, 4);
			e[k].addr = le64toh(e[k].addr);
			e[k].len = le64toh(e[k].len);
			e[k].type = le32toh(e[k].type);
		}
		return d[i].size / FW_CFG_E820_ENTRY_SIZE;
	}
	fail_msg("no etc/e820");
	return 0;
}

static void test_e820(void **state)
{
	struct fixture *f = *state;
	struct guest_mem big = { .nregions = 3 };
	struct e820 e[6];

	/* this fixture's 1 MiB */
	assert_int_equal(fw_cfg_add_e820(f->fw, &f->mem), 0);
	assert_int_equal(read_e820(f, e, 6), 3);
	assert_int_equal(e[0].addr, 0);
	assert_int_equal(e[0].len, 0xa0000);
	assert_int_equal(e[0].type, FW_CFG_E820_RAM);
	assert_int_equal(e[1].addr, 0xc0000);
	assert_int_equal(e[1].len, 0x40000);
	assert_int_equal(e[1].type, FW_CFG_E820_RAM);
	assert_int_equal(e[2].addr, 0xfeffc000);
	assert_int_equal(e[2].len, 0x4000);
	assert_int_equal(e[2].type, FW_CFG_E820_RESERVED);

	/* 4 GiB of guest: 3 GiB low, 1 GiB from 4 GiB; replaces the file */
	big.regions[0] = (struct mem_region){ 0, 0xa0000, NULL, 0 };
	big.regions[1] = (struct mem_region){ 0xc0000, 0xc0000000 - 0xc0000, NULL, 0 };
	big.regions[2] = (struct mem_region){ 0x100000000ULL, 0x40000000, NULL, 0 };
	assert_int_equal(fw_cfg_add_e820(f->fw, &big), 0);
	assert_int_equal(read_e820(f, e, 6), 4);
	assert_int_equal(e[1].addr + e[1].len, 0xc0000000);
	assert_int_equal(e[2].addr, 0xfeffc000);
	assert_int_equal(e[2].type, FW_CFG_E820_RESERVED);
	assert_int_equal(e[3].addr, 0x100000000ULL);
	assert_int_equal(e[3].len, 0x40000000);
	assert_int_equal(e[3].type, FW_CFG_E820_RAM);
}

static void run_hooks(struct vm_cleanup *list, int free_them)
{
	while (list) {
		struct vm_cleanup *next = list->next;

		list->fn(list->opaque);
		if (free_them)
			free(list);
		list = next;
	}
}

/* fw_cfg_create ties the device to the VM: ports on vm->pio, DMA into
 * vm->mem, a reset hook and a destroy hook. */
static void test_create_for_vm(void **state)
{
	struct vm vm;
	struct fw_cfg *fw;
	uint16_t key = htole16(FW_CFG_ID);
	uint8_t v;

	(void)state;
	memset(&vm, 0, sizeof(vm));
	bus_init(&vm.pio, "pio");
	assert_int_equal(mem_create(&vm.mem, RAM_SIZE), 0);
	fw = fw_cfg_create(&vm);
	assert_non_null(fw);
	assert_non_null(vm.resets);
	assert_non_null(vm.cleanups);

	assert_int_equal(bus_write(&vm.pio, FW_CFG_PORT_SELECTOR, &key, 2), 1);
	assert_int_equal(bus_read(&vm.pio, FW_CFG_PORT_DATA, &v, 1), 1);
	assert_int_equal(v, FW_CFG_VERSION | FW_CFG_VERSION_DMA);
	run_hooks(vm.resets, 1); /* a guest reset */
	assert_int_equal(bus_read(&vm.pio, FW_CFG_PORT_DATA, &v, 1), 1);
	assert_int_equal(v, 'Q');

	run_hooks(vm.cleanups, 1); /* vm_destroy: frees it, ports released */
	assert_int_equal(bus_read(&vm.pio, FW_CFG_PORT_DATA, &v, 1), 0);
	mem_destroy(&vm.mem);
	bus_destroy(&vm.pio);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_signature),
		T(test_id),
		T(test_dma_register_reads_signature),
		T(test_file_dir),
		T(test_file_replace_and_renumber),
		T(test_read_file_by_key),
		T(test_selector_widths),
		T(test_dma_read),
		T(test_dma_read_dir),
		T(test_dma_skip),
		T(test_dma_select_only),
		T(test_dma_outside_ram),
		T(test_dma_length_wrap),
		T(test_dma_write_refused),
		T(test_dma_access_outside_ram),
		T(test_dma_address_widths),
		T(test_reset),
		T(test_add_validation),
		T(test_integers),
		T(test_e820),
		cmocka_unit_test(test_create_for_vm),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
