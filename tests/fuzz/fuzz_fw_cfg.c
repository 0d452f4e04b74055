/* Fuzzes vmm/hw/fw_cfg.c as a hostile guest would: the input is a run of
 * operations on the fw_cfg ports 0x510-0x51f and on guest RAM (1 MiB: RAM
 * at 0-0x9ffff and 0xc0000-0xfffff, the VGA hole between), against a
 * fw_cfg holding a few files and keys. Each operation is one byte,
 *   bits 1-0: 0 port read, 1 port write, 2 RAM write, 3 device reset
 *   bits 5-2: the port, 0x510 + n
 *   bits 7-6: the access width, 1 << n bytes
 * followed, for a port write, by the value's bytes (as the bus carries
 * them) and, for a RAM write, by a le32 address (modulo 1 MiB), a length
 * byte and that many bytes. Beyond what the sanitizers catch, the harness
 * checks what a guest can see: the DMA register reads "QEMU CFG", the
 * selector reads 0, and every DMA that was started leaves a control of 0
 * or the error bit, the error bit for a write, and reads only into RAM.
 *
 * Built with -DFUZZ_SEEDS instead, it is the program that writes the seed
 * corpus (SeaBIOS's own access patterns) into the directory named by its
 * argument. */
#include <endian.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define FUZZ_RAM 0x100000
#define FUZZ_PORT_BASE 0x510

#define OP_READ 0
#define OP_WRITE 1
#define OP_POKE 2
#define OP_RESET 3
#define OP(kind, port, size_log2) ((uint8_t)((kind) | (port) << 2 | (size_log2) << 6))

/* Port offsets from 0x510. */
#define PORT_SELECTOR 0
#define PORT_DATA 1
#define PORT_DMA_HIGH 4
#define PORT_DMA_LOW 8

#define CTL_ERROR 0x01
#define CTL_READ 0x02
#define CTL_SKIP 0x04
#define CTL_SELECT 0x08
#define CTL_WRITE 0x10

#ifndef FUZZ_SEEDS

#include <stdlib.h>

#include "hw/fw_cfg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* fw_cfg_create needs these; the harness never calls it. */
int vm_on_destroy(struct vm *vm, void (*fn)(void *opaque), void *opaque)
{
	(void)vm, (void)fn, (void)opaque;
	abort();
}

int vm_on_reset(struct vm *vm, void (*fn)(void *opaque), void *opaque)
{
	(void)vm, (void)fn, (void)opaque;
	abort();
}

/* A DMA copies up to 1 MiB; this many per input keep runs fast. */
#define MAX_DMA_PER_INPUT 64

static struct bus bus;
static struct guest_mem mem;
static struct fw_cfg *fw;

static void setup(void)
{
	static uint8_t tables[5000], loader[256];
	uint16_t cpus = htole16(2);

	for (size_t i = 0; i < sizeof(tables); i++)
		tables[i] = (uint8_t)(i * 7);
	memset(loader, 0x11, sizeof(loader));
	bus_init(&bus, "pio");
	if (mem_create(&mem, FUZZ_RAM))
		abort();
	fw = fw_cfg_new(&bus, &mem);
	if (!fw || fw_cfg_add_file(fw, "etc/acpi/tables", tables, sizeof(tables)) ||
	    fw_cfg_add_file(fw, "etc/table-loader", loader, sizeof(loader)) ||
	    fw_cfg_add_file(fw, "bootorder", "/pci@i0cf8/*@1\n", 15) ||
	    fw_cfg_add_file(fw, "etc/empty", NULL, 0) || fw_cfg_add_e820(fw, &mem) ||
	    fw_cfg_add_key(fw, FW_CFG_NB_CPUS, &cpus, sizeof(cpus)) ||
	    fw_cfg_add_u32(fw, FW_CFG_IRQ0_OVERRIDE, 1))
		abort();
}

static uint32_t be32_at(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return be32toh(v);
}

/* dma_started: the access at `gpa` was just run; `before` is a copy of
 * it from before (valid when it was all RAM). */
static void dma_check(uint64_t gpa, const uint8_t *before, int was_ram)
{
	uint8_t *access = mem_ptr(&mem, gpa, 16);
	uint32_t control, old_control, length;
	uint64_t address;

	if (!was_ram) {
		/* only `control` in RAM (if even that): it says error */
		access = mem_ptr(&mem, gpa, 4);
		if (access && be32_at(access) != CTL_ERROR)
			abort();
		return;
	}
	control = be32_at(access);
	if (control & ~(uint32_t)CTL_ERROR)
		abort();
	old_control = be32_at(before);
	length = be32_at(before + 4);
	memcpy(&address, before + 8, 8);
	address = be64toh(address);
	if (old_control & CTL_READ) {
		if (!control && length && !mem_ptr(&mem, address, length))
			abort();
	} else if ((old_control & CTL_WRITE) && control != CTL_ERROR) {
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char dma_signature[8] = { 'Q', 'E', 'M', 'U', ' ', 'C', 'F', 'G' };
	uint32_t dma_high = 0;
	unsigned dmas = 0;
	size_t i = 0;

	if (!fw)
		setup();
	memset(mem.base, 0, FUZZ_RAM);
	fw_cfg_reset(fw);

	while (i < size && dmas < MAX_DMA_PER_INPUT) {
		uint8_t op = data[i++], kind = op & 3, port = (op >> 2) & 15;
		unsigned width = 1u << (op >> 6);
		uint8_t value[8] = { 0 }, before[16];
		uint64_t start = UINT64_MAX;
		uint32_t gpa, len;
		int was_ram = 0;

		switch (kind) {
		case OP_READ:
			bus_read(&bus, FUZZ_PORT_BASE + port, value, width);
			if (port >= PORT_DMA_HIGH && port + width <= PORT_DMA_HIGH + 8 &&
			    memcmp(value, dma_signature + (port - PORT_DMA_HIGH), width))
				abort();
			if (port == PORT_SELECTOR && width <= 2 && (value[0] || value[1]))
				abort();
			break;
		case OP_WRITE:
			if (size - i < width)
				return 0;
			memcpy(value, data + i, width);
			i += width;
			/* what the device should do with it, to check after */
			if (port == PORT_DMA_HIGH && width == 4) {
				dma_high = be32_at(value);
			} else if (port == PORT_DMA_LOW && width == 4) {
				start = (uint64_t)dma_high << 32 | be32_at(value);
			} else if (port == PORT_DMA_HIGH && width == 8) {
				memcpy(&start, value, 8);
				start = be64toh(start);
			}
			if (start != UINT64_MAX) {
				uint8_t *access = mem_ptr(&mem, start, 16);

				was_ram = access != NULL;
				if (was_ram)
					memcpy(before, access, 16);
				dma_high = 0;
				dmas++;
			}
			bus_write(&bus, FUZZ_PORT_BASE + port, value, width);
			if (start != UINT64_MAX)
				dma_check(start, before, was_ram);
			break;
		case OP_POKE:
			if (size - i < 5)
				return 0;
			gpa = (uint32_t)(data[i] | data[i + 1] << 8 | data[i + 2] << 16 |
					 (uint32_t)data[i + 3] << 24) % FUZZ_RAM;
			len = data[i + 4];
			i += 5;
			if (len > size - i)
				len = (uint32_t)(size - i);
			mem_write(&mem, gpa, data + i, len); /* the VGA hole refuses */
			i += len;
			break;
		case OP_RESET:
			fw_cfg_reset(fw);
			dma_high = 0;
			break;
		}
	}
	return 0;
}

#else /* FUZZ_SEEDS */

#include <stdio.h>

static uint8_t seed[4096];
static size_t seed_len;

static void put(const void *p, size_t n)
{
	memcpy(seed + seed_len, p, n);
	seed_len += n;
}

static void select_key(uint16_t key)
{
	uint16_t v = htole16(key);

	seed[seed_len++] = OP(OP_WRITE, PORT_SELECTOR, 1);
	put(&v, 2);
}

static void read_data(unsigned n)
{
	while (n--)
		seed[seed_len++] = OP(OP_READ, PORT_DATA, 0);
}

/* dma: an FWCfgDmaAccess at 0x1000 reading into 0x2000, started with
 * outl(cpu_to_be32(0x1000), 0x518) as SeaBIOS starts it. */
static void dma(uint32_t control, uint32_t length, uint64_t address)
{
	uint32_t gpa = htole32(0x1000), c = htobe32(control), l = htobe32(length);
	uint32_t start = htobe32(0x1000);
	uint64_t a = htobe64(address);

	seed[seed_len++] = OP(OP_POKE, 0, 0);
	put(&gpa, 4);
	seed[seed_len++] = 16;
	put(&c, 4);
	put(&l, 4);
	put(&a, 8);
	seed[seed_len++] = OP(OP_WRITE, PORT_DMA_LOW, 2);
	put(&start, 4);
}

static int save(const char *dir, const char *name)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(seed, seed_len, 1, f) != 1 || fclose(f)) {
		fprintf(stderr, "fuzz_fw_cfg seeds: cannot write %s\n", path);
		return 1;
	}
	seed_len = 0;
	return 0;
}

int main(int argc, char **argv)
{
	uint64_t whole = htobe64(0x1000);
	int err = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
		return 2;
	}

	/* The port interface: signature, ID, directory, a file. */
	select_key(0x00);
	read_data(4);
	select_key(0x01);
	read_data(4);
	select_key(0x19);
	read_data(4 + 64 * 2);
	select_key(0x20);
	read_data(20);
	seed[seed_len++] = OP(OP_READ, PORT_DMA_HIGH, 3);
	err |= save(argv[1], "ports");

	/* SeaBIOS with DMA: ID, directory count and entries, a file. */
	dma(0x01 << 16 | CTL_SELECT | CTL_READ, 4, 0x2000);
	dma(0x19 << 16 | CTL_SELECT | CTL_READ, 4, 0x2000);
	dma(CTL_READ, 64, 0x2000);
	dma(CTL_READ, 64, 0x2000);
	dma(0x21 << 16 | CTL_SELECT | CTL_READ, 5000, 0x2000);
	err |= save(argv[1], "dma");

	/* Skip, write, a destination in the VGA hole, a 64-bit start. */
	select_key(0x22);
	dma(CTL_SKIP, 100, 0);
	dma(CTL_READ, 200, 0x9ff80);
	dma(0x20 << 16 | CTL_SELECT | CTL_WRITE, 4, 0x2000);
	seed[seed_len++] = OP(OP_WRITE, PORT_DMA_HIGH, 3);
	put(&whole, 8);
	seed[seed_len++] = OP(OP_RESET, 0, 0);
	read_data(4);
	err |= save(argv[1], "dma-edges");
	return err;
}

#endif
