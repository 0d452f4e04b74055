/* Fuzzes the PIIX3 IDE controller (vmm/hw/ide.c, ata.c, atapi.c) as a
 * hostile guest would: the input is one header byte choosing the drives,
 * then a program of port accesses, task-file commands, ATAPI packets with
 * arbitrary CDBs, PRD tables and bus-master starts, guest RAM writes,
 * resets and disc changes, run against small in-memory disks and a small
 * guest RAM. The controller runs without worker threads, so every back-end
 * call happens inside the access that caused it and a run is repeatable.
 * The back end aborts if it is ever asked for bytes outside the disk
 * (block.h: "the caller has checked them"); ASan and UBSan do the rest.
 *
 * Built with -DFUZZ_SEEDS instead, it is the program that writes the seed
 * corpus (IDENTIFY, PIO and DMA reads and writes, packet commands) into the
 * directory named by its argument. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Header byte. */
#define CFG_DISK0_RO 0x01      /* drive 0 (a disk) read-only */
#define CFG_DRIVE1_SHIFT 1     /* drive 1: 0 none, 1 disk, 2 CD with a disc, 3 empty CD */
#define CFG_CD_EMPTY 0x08      /* drive 2 (the CD) starts empty */
#define CFG_DISK3 0x10         /* drive 3 is a disk */
#define CFG_NO_BUS_MASTER 0x20 /* PCICMD bus master off at the start */

/* Operations: an opcode byte (mod OP_COUNT), then its operands. A program
 * that runs out of bytes mid-operation ends there. */
enum {
	OP_OUTB,       /* u8 port (see port_of), u8 value */
	OP_INB,        /* u8 port */
	OP_OUTW,       /* u8 channel, u16 value to the data port */
	OP_INW,        /* u8 channel, u8 count: that many data-port reads */
	OP_DWORD,      /* u8 channel|write<<1, u32 value: a 32-bit data access */
	OP_BM_WRITE,   /* u8 offset, u8 size, u32 value */
	OP_BM_READ,    /* u8 offset, u8 size */
	OP_RAM,        /* u16 address/4, u8 length, bytes */
	OP_PRD,        /* u16 table/4, u8 entries (0-7), per entry u16 addr/4, u16 count, u8 flags */
	OP_ATA,        /* u8 channel|dev<<1, 11 bytes of task file, u8 command */
	OP_PACKET,     /* u8 channel|dev<<1|dma<<2, u16 byte count limit, 12 CDB bytes */
	OP_DRAIN,      /* u8 channel|write<<1: move data while DRQ is set */
	OP_DMA,        /* u8 channel|to_memory<<1, u16 table/4: point and start the bus master */
	OP_CHANGE,     /* u8 which: a disc change on drive 2 */
	OP_RESET,      /* u8 which: SRST pulse on a channel, or a hardware reset */
	OP_SWITCH,     /* u8 bits: legacy decode of each channel, bus master */
	OP_FAIL,       /* u8 n: the (n % 16)-th next back-end call fails with -EIO */
	OP_COUNT
};

#define FUZZ_RAM (256u * 1024)

#ifndef FUZZ_SEEDS

#include <errno.h>
#include <limits.h>
#include <stdlib.h>

#include "block.h"
#include "hw/ide.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define BM_BASE 0xc000
#define DISK0_BYTES (300u * 512)     /* more than one 256-sector PIO chunk */
#define DISK1_BYTES (33u * 512 + 100)   /* not a whole number of sectors */
#define DISK3_BYTES (16u * 512)
#define CD_A_BYTES (80u * 2048)      /* more than one 64-sector PIO chunk */
#define CD_B_BYTES (5u * 2048 + 7)

/* An in-memory back end that insists on being asked only for its bytes,
 * and fails when OP_FAIL said so. */
struct mem_block {
	struct block bk;
	uint8_t *data;
	bool dirty;
};

static int calls_until_failure = -1;

static int mb_fault(void)
{
	if (calls_until_failure < 0)
		return 0;
	return calls_until_failure-- == 0 ? -EIO : 0;
}

static void check_range(const struct block *bk, const struct iovec *iov, int n, uint64_t off)
{
	uint64_t len = 0;

	if (n < 0 || n > IOV_MAX)
		abort();
	for (int i = 0; i < n; i++)
		len += iov[i].iov_len;
	if (off > bk->size || len > bk->size - off)
		abort();
}

static int mb_preadv(struct block *bk, const struct iovec *iov, int n, uint64_t off)
{
	const uint8_t *src = ((struct mem_block *)bk)->data + off;

	check_range(bk, iov, n, off);
	for (int i = 0; i < n; i++) {
		memcpy(iov[i].iov_base, src, iov[i].iov_len);
		src += iov[i].iov_len;
	}
	return mb_fault();
}

static int mb_pwritev(struct block *bk, const struct iovec *iov, int n, uint64_t off)
{
	uint8_t *dst = ((struct mem_block *)bk)->data + off;

	check_range(bk, iov, n, off);
	((struct mem_block *)bk)->dirty = true;
	for (int i = 0; i < n; i++) {
		memcpy(dst, iov[i].iov_base, iov[i].iov_len);
		dst += iov[i].iov_len;
	}
	return mb_fault();
}

static int mb_flush(struct block *bk)
{
	(void)bk;
	return mb_fault();
}

static int mb_write_zeroes(struct block *bk, uint64_t off, uint64_t len, bool unmap)
{
	(void)unmap;
	if (off > bk->size || len > bk->size - off)
		abort();
	((struct mem_block *)bk)->dirty = true;
	memset(((struct mem_block *)bk)->data + off, 0, len);
	return 0;
}

/* The back ends live for the whole run; closing one only marks it free. */
static void mb_close(struct block *bk)
{
	((struct mem_block *)bk)->bk.ops = NULL;
}

static const struct block_ops mem_block_ops = {
	.preadv = mb_preadv,
	.pwritev = mb_pwritev,
	.flush = mb_flush,
	.write_zeroes = mb_write_zeroes,
	.close = mb_close,
};

static uint8_t disk0_data[DISK0_BYTES], disk1_data[DISK1_BYTES], disk3_data[DISK3_BYTES];
static uint8_t cd_a_data[CD_A_BYTES], cd_b_data[CD_B_BYTES];
static struct mem_block disk0, disk1, disk3, cd_a, cd_b;

static struct block *mb_open(struct mem_block *mb, uint8_t *data, size_t len, bool ro)
{
	/* A back end still open (a disc the controller holds) is not handed
	 * out twice. */
	if (mb->bk.ops)
		return NULL;
	/* The same bytes every run: rewritten only when a run wrote them. */
	if (!mb->data || mb->dirty) {
		memset(data, 0, len);
		for (size_t i = 0; i < len; i += 512)
			data[i] = (uint8_t)(i >> 9);
	}
	mb->bk = (struct block){ .ops = &mem_block_ops, .size = len, .read_only = ro };
	mb->data = data;
	mb->dirty = false;
	return &mb->bk;
}

static struct guest_mem mem;
static int irq_levels[2];

static void irq_set(void *ctx, unsigned gsi, int level)
{
	(void)ctx;
	if (level != 0 && level != 1)
		abort();
	irq_levels[gsi == 15] = level;
}

/* The program reader. */
struct prog {
	const uint8_t *p;
	size_t left;
	bool ok;
};

static uint8_t u8(struct prog *pr)
{
	if (!pr->left) {
		pr->ok = false;
		return 0;
	}
	pr->left--;
	return *pr->p++;
}

static uint16_t u16(struct prog *pr)
{
	uint16_t lo = u8(pr);

	return (uint16_t)(lo | u8(pr) << 8);
}

static uint32_t u32(struct prog *pr)
{
	uint32_t lo = u16(pr);

	return lo | (uint32_t)u16(pr) << 16;
}

static struct bus bus;

static void out8(uint16_t port, uint8_t v)
{
	bus_write(&bus, port, &v, 1);
}

static uint8_t in8(uint16_t port)
{
	uint8_t v;

	bus_read(&bus, port, &v, 1);
	return v;
}

static uint16_t cmd_base(unsigned ch)
{
	return ch & 1 ? IDE_SECONDARY_CMD : IDE_PRIMARY_CMD;
}

static uint16_t ctl_base(unsigned ch)
{
	return ch & 1 ? IDE_SECONDARY_CTL : IDE_PRIMARY_CTL;
}

/* port_of: 0-7 primary command block, 8 primary control, 9-17 the same
 * for the secondary channel; beyond, a nearby port nobody should own. */
static uint16_t port_of(uint8_t sel)
{
	unsigned ch = (sel / 9) & 1, reg = sel % 9;

	if (sel >= 18)
		return (uint16_t)(ctl_base(ch) + 1);
	return reg == 8 ? ctl_base(ch) : (uint16_t)(cmd_base(ch) + reg);
}

static void select_dev(unsigned ch, unsigned dev)
{
	out8((uint16_t)(cmd_base(ch) + 6), (uint8_t)(0xe0 | (dev & 1) << 4));
}

/* drain: move data while the selected device asks, up to 16 KiB, looking
 * at DRQ every sector's worth of words (the rest of a shorter block reads
 * as padding and writes into nothing). */
static void drain(unsigned ch, bool write)
{
	for (unsigned i = 0; i < 8192; i++) {
		uint16_t w = 0x5a5a;

		if (i % 256 == 0 && !(in8(ctl_base(ch)) & 0x08))
			return;
		if (write)
			bus_write(&bus, cmd_base(ch), &w, 2);
		else
			bus_read(&bus, cmd_base(ch), &w, 2);
	}
}

static void run(struct ide *ide, struct prog *pr)
{
	unsigned steps = 0;

	while (pr->ok && pr->left && steps++ < 512) {
		uint8_t op = u8(pr) % OP_COUNT, a, b;
		uint8_t buf[16];
		uint32_t v;

		switch (op) {
		case OP_OUTB:
			a = u8(pr);
			b = u8(pr);
			if (pr->ok)
				out8(port_of(a), b);
			break;
		case OP_INB:
			a = u8(pr);
			if (pr->ok)
				in8(port_of(a));
			break;
		case OP_OUTW: {
			uint16_t w;

			a = u8(pr);
			w = u16(pr);
			if (pr->ok)
				bus_write(&bus, cmd_base(a), &w, 2);
			break;
		}
		case OP_INW:
			a = u8(pr);
			b = u8(pr);
			for (unsigned i = 0; pr->ok && i < b; i++) {
				uint16_t w;

				bus_read(&bus, cmd_base(a), &w, 2);
			}
			break;
		case OP_DWORD:
			a = u8(pr);
			v = u32(pr);
			if (pr->ok && (a & 2))
				bus_write(&bus, cmd_base(a), &v, 4);
			else if (pr->ok)
				bus_read(&bus, cmd_base(a), &v, 4);
			break;
		case OP_BM_WRITE:
		case OP_BM_READ: {
			static const unsigned sizes[4] = { 1, 2, 4, 1 };
			unsigned off, sz;

			a = u8(pr);
			b = u8(pr);
			v = op == OP_BM_WRITE ? u32(pr) : 0;
			off = a % IDE_BM_SIZE;
			sz = sizes[b & 3];
			if (off + sz > IDE_BM_SIZE)
				off = IDE_BM_SIZE - sz;
			if (!pr->ok)
				break;
			if (op == OP_BM_WRITE)
				bus_write(&bus, BM_BASE + off, &v, sz);
			else
				bus_read(&bus, BM_BASE + off, &v, sz);
			break;
		}
		case OP_RAM: {
			uint32_t addr = (uint32_t)u16(pr) * 4;

			b = u8(pr);
			for (unsigned i = 0; pr->ok && i < b; i++) {
				uint8_t byte = u8(pr);

				if (pr->ok && addr + i < FUZZ_RAM)
					mem.base[addr + i] = byte;
			}
			break;
		}
		case OP_PRD: {
			uint32_t table = (uint32_t)u16(pr) * 4;
			unsigned n = u8(pr) % 8;

			for (unsigned i = 0; pr->ok && i < n; i++) {
				uint32_t e[2];
				uint32_t addr = (uint32_t)u16(pr) * 4;
				uint32_t count = u16(pr);
				uint8_t flags = u8(pr);

				/* Now and then an address anywhere, to reach the holes. */
				if (flags & 0x40)
					addr = addr << 14 | flags;
				e[0] = addr;
				e[1] = count | ((flags & 0x80) ? 0x80000000u : 0);
				if (pr->ok && table + 8 * i + 8 <= FUZZ_RAM)
					memcpy(mem.base + table + 8 * i, e, 8);
			}
			break;
		}
		case OP_ATA: {
			unsigned ch;
			uint8_t tf[11], cmd;

			a = u8(pr);
			for (unsigned i = 0; i < sizeof(tf); i++)
				tf[i] = u8(pr);
			cmd = u8(pr);
			if (!pr->ok)
				break;
			ch = a & 1;
			/* Features, count, LBA low/mid/high twice (the HOB half
			 * first), then the Device register's head bits. */
			for (unsigned i = 0; i < 5; i++) {
				out8((uint16_t)(cmd_base(ch) + 1 + i), tf[i]);
				out8((uint16_t)(cmd_base(ch) + 1 + i), tf[5 + i]);
			}
			out8((uint16_t)(cmd_base(ch) + 6),
			     (uint8_t)(0xa0 | (a & 2) << 3 | (tf[10] & 0x4f)));
			out8((uint16_t)(cmd_base(ch) + 7), cmd);
			break;
		}
		case OP_PACKET: {
			unsigned ch;
			uint16_t bcl;

			a = u8(pr);
			bcl = u16(pr);
			for (unsigned i = 0; i < 12; i++)
				buf[i] = u8(pr);
			if (!pr->ok)
				break;
			ch = a & 1;
			select_dev(ch, a >> 1);
			out8((uint16_t)(cmd_base(ch) + 1), (a >> 2) & 1);
			out8((uint16_t)(cmd_base(ch) + 4), (uint8_t)bcl);
			out8((uint16_t)(cmd_base(ch) + 5), (uint8_t)(bcl >> 8));
			out8((uint16_t)(cmd_base(ch) + 7), 0xa0);
			for (unsigned i = 0; i < 6; i++) {
				uint16_t w = (uint16_t)(buf[2 * i] | buf[2 * i + 1] << 8);

				bus_write(&bus, cmd_base(ch), &w, 2);
			}
			break;
		}
		case OP_DRAIN:
			a = u8(pr);
			if (pr->ok)
				drain(a & 1, a & 2);
			break;
		case OP_DMA: {
			unsigned ch;
			uint32_t table;

			a = u8(pr);
			table = (uint32_t)u16(pr) * 4;
			if (!pr->ok)
				break;
			ch = a & 1;
			bus_write(&bus, BM_BASE + 8 * ch + 4, &table, 4);
			out8((uint16_t)(BM_BASE + 8 * ch), 0);
			out8((uint16_t)(BM_BASE + 8 * ch), (uint8_t)(0x01 | (a & 2) << 2));
			break;
		}
		case OP_CHANGE:
			a = u8(pr) % 3;
			if (!pr->ok)
				break;
			if (a == 0) {
				ide_cdrom_change(ide, 2, NULL);
			} else {
				struct block *bk = a == 1 ? mb_open(&cd_a, cd_a_data, CD_A_BYTES, true)
							  : mb_open(&cd_b, cd_b_data, CD_B_BYTES, true);

				if (bk && ide_cdrom_change(ide, 2, bk))
					abort();
			}
			break;
		case OP_RESET:
			a = u8(pr) % 3;
			if (!pr->ok)
				break;
			if (a == 2) {
				ide_reset(ide);
			} else {
				out8(ctl_base(a), 0x04);
				out8(ctl_base(a), 0x00);
			}
			break;
		case OP_SWITCH:
			a = u8(pr);
			if (!pr->ok)
				break;
			ide_set_legacy_decode(ide, 0, !(a & 1));
			ide_set_legacy_decode(ide, 1, !(a & 2));
			ide_set_bus_master(ide, !(a & 4));
			break;
		case OP_FAIL:
			a = u8(pr);
			if (pr->ok)
				calls_until_failure = a % 16;
			break;
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct irq_pin irq[2] = { { irq_set, NULL, 14 }, { irq_set, NULL, 15 } };
	struct block *disks[IDE_DRIVES] = { NULL };
	int is_cdrom[IDE_DRIVES] = { 0, 0, 1, 0 };
	struct prog pr = { data + 1, size ? size - 1 : 0, true };
	struct ide *ide;
	uint8_t cfg, drive1;

	if (size < 1)
		return 0;
	if (!mem.base && mem_create(&mem, FUZZ_RAM))
		abort();
	memset(mem.base, 0, FUZZ_RAM);
	cfg = data[0];
	disks[0] = mb_open(&disk0, disk0_data, DISK0_BYTES, cfg & CFG_DISK0_RO);
	drive1 = (cfg >> CFG_DRIVE1_SHIFT) & 3;
	if (drive1 == 1)
		disks[1] = mb_open(&disk1, disk1_data, DISK1_BYTES, false);
	if (drive1 == 2)
		disks[1] = mb_open(&cd_b, cd_b_data, CD_B_BYTES, true);
	is_cdrom[1] = drive1 >= 2;
	if (!(cfg & CFG_CD_EMPTY))
		disks[2] = mb_open(&cd_a, cd_a_data, CD_A_BYTES, true);
	if (cfg & CFG_DISK3)
		disks[3] = mb_open(&disk3, disk3_data, DISK3_BYTES, false);
	irq_levels[0] = irq_levels[1] = 0;
	calls_until_failure = -1;

	bus_init(&bus, "fuzz-pio");
	ide = ide_new(&bus, &mem, irq, disks, is_cdrom, false);
	if (!ide)
		abort();
	ide_set_legacy_decode(ide, 0, true);
	ide_set_legacy_decode(ide, 1, true);
	ide_set_bus_master(ide, !(cfg & CFG_NO_BUS_MASTER));
	if (bus_register(&bus, BM_BASE, IDE_BM_SIZE, &ide_bm_ops, ide, "bm"))
		abort();

	run(ide, &pr);

	ide_free(ide);
	bus_destroy(&bus);
	/* Everything the controller held was closed. */
	if (disk0.bk.ops || disk1.bk.ops || disk3.bk.ops || cd_a.bk.ops || cd_b.bk.ops)
		abort();
	return 0;
}

#else /* FUZZ_SEEDS */

#include <stdio.h>

static uint8_t seed[4096];
static size_t seed_len;

static void put(const uint8_t *bytes, size_t n)
{
	memcpy(seed + seed_len, bytes, n);
	seed_len += n;
}

#define PUT(...) put((const uint8_t[]){ __VA_ARGS__ }, sizeof((const uint8_t[]){ __VA_ARGS__ }))

static int save(const char *dir, const char *name)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/seed-%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(seed, 1, seed_len, f) != seed_len || fclose(f)) {
		perror(path);
		return 1;
	}
	seed_len = 0;
	return 0;
}

/* ata: a task-file command to drive `dev` of channel `ch`: features 0,
 * count `count` (HOB 0), LBA `lba` (HOB 0), LBA mode. */
static void ata(uint8_t ch, uint8_t dev, uint8_t count, uint8_t lba, uint8_t cmd)
{
	PUT(OP_ATA, (uint8_t)(ch | dev << 1), 0, 0, 0, 0, 0, 0, count, lba, 0, 0, 0x40, cmd);
}

static void packet(uint8_t ch, uint8_t dev, bool dma, uint16_t bcl, const uint8_t *cdb)
{
	PUT(OP_PACKET, (uint8_t)(ch | dev << 1 | (dma ? 4 : 0)), (uint8_t)bcl, (uint8_t)(bcl >> 8));
	put(cdb, 12);
}

/* prd: one entry at table 0x1000 (operand 0x400) for a region at 0x2000
 * (operand 0x800) of `count` bytes, EOT. */
static void prd(uint16_t count)
{
	PUT(OP_PRD, 0x00, 0x04, 1, 0x00, 0x08, (uint8_t)count, (uint8_t)(count >> 8), 0x80);
}

int main(int argc, char **argv)
{
	static const uint8_t inquiry[12] = { 0x12, 0, 0, 0, 36 };
	static const uint8_t read10[12] = { 0x28, 0, 0, 0, 0, 16, 0, 0, 2 };
	static const uint8_t toc[12] = { 0x43, 2, 0, 0, 0, 0, 0, 0, 100 };
	static const uint8_t sense[12] = { 0x03, 0, 0, 0, 18 };
	static const uint8_t config[12] = { 0x46, 0, 0, 0, 0, 0, 0, 1, 0 };
	static const uint8_t gesn[12] = { 0x4a, 1, 0, 0, 0x10, 0, 0, 0, 8 };
	static const uint8_t modes[12] = { 0x5a, 0, 0x3f, 0, 0, 0, 0, 1, 0 };
	static const uint8_t read70[12] = { 0x28, 0, 0, 0, 0, 2, 0, 0, 70 };
	static const uint8_t vpd83[12] = { 0x12, 1, 0x83, 0, 64 };
	int rc = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
		return 2;
	}
	/* IDENTIFY DEVICE, then IDENTIFY PACKET DEVICE on the CD. */
	PUT(0x02);
	ata(0, 0, 0, 0, 0xec);
	PUT(OP_DRAIN, 0);
	ata(1, 0, 0, 0, 0xa1);
	PUT(OP_DRAIN, 1);
	rc |= save(argv[1], "identify");

	/* PIO write then read of 4 sectors, READ MULTIPLE, LBA48 read. */
	PUT(0x00);
	ata(0, 0, 4, 8, 0x30);
	PUT(OP_DRAIN, 2);
	ata(0, 0, 4, 8, 0x20);
	PUT(OP_DRAIN, 0);
	ata(0, 0, 8, 0, 0xc6);
	ata(0, 0, 16, 0, 0xc4);
	PUT(OP_DRAIN, 0);
	ata(0, 0, 2, 120, 0x24);
	PUT(OP_DRAIN, 0);
	ata(0, 0, 0, 0, 0xe7);
	rc |= save(argv[1], "pio");

	/* DMA read and write through one PRD entry. */
	PUT(0x00);
	prd(1024);
	ata(0, 0, 2, 3, 0xc8);
	PUT(OP_DMA, 0x02, 0x00, 0x04);
	PUT(OP_BM_READ, 2, 0);
	ata(0, 0, 2, 9, 0xca);
	PUT(OP_DMA, 0x00, 0x00, 0x04);
	PUT(OP_BM_WRITE, 2, 0, 6, 0, 0, 0);
	rc |= save(argv[1], "dma");

	/* Packet commands by PIO, then READ(10) by DMA, a disc change. */
	PUT(0x00);
	packet(1, 0, false, 0xfffe, inquiry);
	PUT(OP_DRAIN, 1);
	packet(1, 0, false, 2048, read10);
	PUT(OP_DRAIN, 1);
	packet(1, 0, false, 0xfffe, toc);
	PUT(OP_DRAIN, 1);
	packet(1, 0, false, 0xfffe, config);
	PUT(OP_DRAIN, 1);
	packet(1, 0, false, 0xfffe, modes);
	PUT(OP_DRAIN, 1);
	prd(4096);
	packet(1, 0, true, 0, read10);
	PUT(OP_DMA, 0x03, 0x00, 0x04);
	PUT(OP_CHANGE, 2);
	packet(1, 0, false, 0xfffe, gesn);
	PUT(OP_DRAIN, 1);
	packet(1, 0, false, 0xfffe, sense);
	PUT(OP_DRAIN, 1);
	rc |= save(argv[1], "atapi");

	/* A PIO read longer than one back-end chunk; VPD pages. */
	PUT(0x00);
	packet(1, 0, false, 0xfffe, read70);
	for (int i = 0; i < 10; i++)
		PUT(OP_DRAIN, 1);
	packet(1, 0, false, 0xfffe, vpd83);
	PUT(OP_DRAIN, 1);
	ata(0, 0, 0, 0, 0xc6);
	ata(0, 0, 20, 0, 0x30);
	PUT(OP_DRAIN, 2, OP_DRAIN, 2);
	rc |= save(argv[1], "long");

	/* A CD as primary slave and a disk as secondary slave, resets. */
	PUT((uint8_t)(2 << 1 | 0x10));
	packet(0, 1, false, 0xfffe, inquiry);
	PUT(OP_DRAIN, 0);
	ata(1, 1, 1, 0, 0x20);
	PUT(OP_RESET, 1, OP_DRAIN, 1, OP_RESET, 2, OP_SWITCH, 4);
	rc |= save(argv[1], "layout");
	return rc;
}

#endif
