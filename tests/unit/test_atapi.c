/* Pins vmm/hw/atapi.c: the ATAPI CD/DVD-ROM drive on the secondary
 * master, as the default layout puts it, driven through the ports on a
 * port bus over an ISO-like temporary image (2048-byte sectors, "CD001"
 * at sector 16). The signature and IDENTIFY PACKET DEVICE; the PACKET
 * protocol (C/D and I/O, byte count limit per DRQ block) for INQUIRY,
 * READ CAPACITY, READ(10)/(12)/CD by PIO and by DMA, READ TOC formats 0-2,
 * MODE SENSE, GET CONFIGURATION, GET EVENT STATUS NOTIFICATION, MECHANISM
 * STATUS; REQUEST SENSE after errors; UNIT ATTENTION and media events
 * after a disc change; an empty drive; eject with and without PREVENT;
 * DEVICE RESET. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "block.h"
#include "hw/ide.h"

#define RAM_SIZE (1ULL << 20)
#define CD_SECTORS 64
#define CD_SECTOR 2048
#define BM_BASE 0xc000
#define S 0x170
#define SCTL 0x376
#define CD_DRIVE 2

#define ST_BSY 0x80
#define ST_DRDY 0x40
#define ST_DRQ 0x08
#define ST_ERR 0x01
#define IR_COD 0x01
#define IR_IO 0x02

#define BM_START 0x01
#define BM_TO_MEMORY 0x08
#define BM_ACTIVE 0x01
#define BM_INTR 0x04

struct irq_log {
	pthread_mutex_t lock;
	int level;
	int raises;
};

static void irq_record(void *ctx, unsigned gsi, int level)
{
	struct irq_log *log = ctx;

	if (gsi != 15)
		return;
	pthread_mutex_lock(&log->lock);
	if (level && !log->level)
		log->raises++;
	log->level = level;
	pthread_mutex_unlock(&log->lock);
}

struct fixture {
	struct guest_mem mem;
	struct bus bus;
	struct ide *ide;
	struct irq_log irq;
	char path[2][64];
	uint8_t last_error;
	unsigned drq_blocks;
};

/* make_image: an image of `sectors` CD sectors; sector n holds bytes
 * derived from n and `seed`, and sector 16 starts a volume descriptor. */
static void make_image(char *path, size_t pathlen, unsigned sectors, unsigned seed)
{
	const char *tmp = getenv("TMPDIR");
	uint8_t sector[CD_SECTOR];
	int fd;

	snprintf(path, pathlen, "%s/duet-cd-XXXXXX", tmp ? tmp : "/tmp");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	for (unsigned n = 0; n < sectors; n++) {
		for (unsigned i = 0; i < CD_SECTOR; i++)
			sector[i] = (uint8_t)(n * 13 + i * 7 + seed);
		if (n == 16)
			memcpy(sector, "\001CD001\001", 7);
		assert_int_equal(write(fd, sector, sizeof(sector)), (ssize_t)sizeof(sector));
	}
	close(fd);
}

static struct block *open_ro(const char *path)
{
	struct block_spec spec;
	struct block *bk;
	char text[128], err[256];

	snprintf(text, sizeof(text), "file=%s,ro", path);
	assert_int_equal(block_spec_parse(text, &spec, err, sizeof(err)), 0);
	assert_int_equal(block_open(&spec, &bk, err, sizeof(err)), 0);
	block_spec_free(&spec);
	return bk;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct block *disks[IDE_DRIVES] = { NULL };
	struct irq_pin irq[2];

	assert_non_null(f);
	pthread_mutex_init(&f->irq.lock, NULL);
	assert_int_equal(mem_create(&f->mem, RAM_SIZE), 0);
	bus_init(&f->bus, "pio");
	make_image(f->path[0], sizeof(f->path[0]), CD_SECTORS, 0);
	make_image(f->path[1], sizeof(f->path[1]), CD_SECTORS / 2, 99);
	disks[CD_DRIVE] = open_ro(f->path[0]);
	irq[0] = (struct irq_pin){ irq_record, &f->irq, 14 };
	irq[1] = (struct irq_pin){ irq_record, &f->irq, 15 };
	/* The default layout: the CD drive on the secondary master. */
	f->ide = ide_new(&f->bus, &f->mem, irq, disks, NULL, true);
	assert_non_null(f->ide);
	ide_set_legacy_decode(f->ide, 1, true);
	ide_set_bus_master(f->ide, true);
	assert_int_equal(bus_register(&f->bus, BM_BASE, IDE_BM_SIZE, &ide_bm_ops, f->ide, "bm"), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	ide_free(f->ide);
	bus_destroy(&f->bus);
	unlink(f->path[0]);
	unlink(f->path[1]);
	mem_destroy(&f->mem);
	pthread_mutex_destroy(&f->irq.lock);
	free(f);
	return 0;
}

static uint8_t inb(struct fixture *f, uint16_t port)
{
	uint8_t v = 0;

	bus_read(&f->bus, port, &v, 1);
	return v;
}

static void outb(struct fixture *f, uint16_t port, uint8_t v)
{
	bus_write(&f->bus, port, &v, 1);
}

static uint16_t inw(struct fixture *f, uint16_t port)
{
	uint16_t v = 0;

	bus_read(&f->bus, port, &v, 2);
	return v;
}

static void outw(struct fixture *f, uint16_t port, uint16_t v)
{
	bus_write(&f->bus, port, &v, 2);
}

static void outl(struct fixture *f, uint16_t port, uint32_t v)
{
	bus_write(&f->bus, port, &v, 4);
}

static int raises(struct fixture *f)
{
	int v;

	pthread_mutex_lock(&f->irq.lock);
	v = f->irq.raises;
	pthread_mutex_unlock(&f->irq.lock);
	return v;
}

static uint8_t wait_idle(struct fixture *f)
{
	for (int i = 0; i < 200000; i++) {
		uint8_t st = inb(f, SCTL);

		if (!(st & ST_BSY))
			return st;
		usleep(25);
	}
	fail_msg("the drive stayed busy");
	return 0;
}

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* send_packet: PACKET with `bcl` and the DMA bit, then the 12 bytes. */
static void send_packet(struct fixture *f, const uint8_t *cdb, uint16_t bcl, bool dma)
{
	outb(f, S + 6, 0xa0);
	outb(f, S + 1, dma ? 0x01 : 0x00);
	outb(f, S + 4, (uint8_t)bcl);
	outb(f, S + 5, (uint8_t)(bcl >> 8));
	outb(f, S + 7, 0xa0);
	/* The drive asks for the command: DRQ, C/D, no interrupt. */
	assert_int_equal(wait_idle(f) & (ST_DRQ | ST_ERR), ST_DRQ);
	assert_int_equal(inb(f, S + 2) & (IR_COD | IR_IO), IR_COD);
	for (int i = 0; i < 6; i++)
		outw(f, S, (uint16_t)(cdb[2 * i] | cdb[2 * i + 1] << 8));
}

/* packet_in: a packet command with a PIO data-in phase; every DRQ block
 * is read whole. Returns the bytes read; f->last_error gets the Error
 * register at the end (the sense key in its high nibble), and the final
 * status must show the command complete (I/O and C/D). */
static size_t packet_in(struct fixture *f, const uint8_t *cdb, uint16_t bcl, uint8_t *out,
			size_t max)
{
	size_t got = 0;
	uint8_t st;

	send_packet(f, cdb, bcl, false);
	f->drq_blocks = 0;
	for (;;) {
		wait_idle(f);
		st = inb(f, S + 7);
		if (!(st & ST_DRQ))
			break;
		uint16_t n = (uint16_t)(inb(f, S + 4) | inb(f, S + 5) << 8);

		assert_int_equal(inb(f, S + 2) & (IR_COD | IR_IO), IR_IO);
		assert_true(n > 0 && got + n <= max);
		for (unsigned i = 0; i < (n + 1u) / 2; i++) {
			uint16_t w = inw(f, S);

			out[got + 2 * i] = (uint8_t)w;
			if (2 * i + 1 < n)
				out[got + 2 * i + 1] = (uint8_t)(w >> 8);
		}
		got += n;
		f->drq_blocks++;
	}
	assert_int_equal(inb(f, S + 2) & (IR_COD | IR_IO), IR_COD | IR_IO);
	f->last_error = (st & ST_ERR) ? inb(f, S + 1) : 0;
	return got;
}

/* packet_status: a command without data; the sense key, or 0. */
static uint8_t packet_key(struct fixture *f, const uint8_t *cdb)
{
	uint8_t buf[64];

	packet_in(f, cdb, 0, buf, 0);
	return f->last_error >> 4;
}

static void request_sense(struct fixture *f, uint8_t *key, uint8_t *asc, uint8_t *ascq)
{
	const uint8_t cdb[12] = { 0x03, 0, 0, 0, 18 };
	uint8_t sense[18];

	assert_int_equal(packet_in(f, cdb, 18, sense, sizeof(sense)), 18);
	assert_int_equal(f->last_error, 0);
	assert_int_equal(sense[0], 0x70);
	*key = sense[2] & 0x0f;
	*asc = sense[12];
	*ascq = sense[13];
}

static void expect_sense(struct fixture *f, uint8_t key, uint8_t asc, uint8_t ascq)
{
	uint8_t k, a, q;

	request_sense(f, &k, &a, &q);
	assert_int_equal(k, key);
	assert_int_equal(a, asc);
	assert_int_equal(q, ascq);
}

static void expect_sector(const uint8_t *data, unsigned n, unsigned seed)
{
	for (unsigned i = 0; i < CD_SECTOR; i++) {
		uint8_t want = (uint8_t)(n * 13 + i * 7 + seed);

		if (n == 16 && i < 7)
			want = (uint8_t)"\001CD001\001"[i];
		if (data[i] != want)
			fail_msg("sector %u byte %u: %#x, not %#x", n, i, data[i], want);
	}
}

/* ---- the tests ---- */

static void test_signature(void **state)
{
	struct fixture *f = *state;
	int before = raises(f);

	/* After power-on: the packet device signature, status 0. */
	assert_int_equal(inb(f, S + 4), 0x14);
	assert_int_equal(inb(f, S + 5), 0xeb);
	assert_int_equal(inb(f, S + 7), 0x00);
	/* IDENTIFY DEVICE is aborted, with the signature. */
	outb(f, S + 4, 0);
	outb(f, S + 7, 0xec);
	assert_int_equal(wait_idle(f), ST_DRDY | ST_ERR);
	assert_int_equal(inb(f, S + 1), 0x04);
	assert_int_equal(inb(f, S + 4), 0x14);
	assert_int_equal(inb(f, S + 5), 0xeb);
	assert_int_equal(raises(f), before + 1);
	/* SRST: signature again. */
	outb(f, SCTL, 0x04);
	outb(f, SCTL, 0x00);
	assert_int_equal(wait_idle(f), 0x00);
	assert_int_equal(inb(f, S + 1), 0x01);
	assert_int_equal(inb(f, S + 4), 0x14);
	assert_int_equal(inb(f, S + 5), 0xeb);
}

static void test_identify_packet(void **state)
{
	struct fixture *f = *state;
	uint16_t id[256];
	char model[41];

	outb(f, S + 6, 0xa0);
	outb(f, S + 7, 0xa1);
	assert_int_equal(wait_idle(f) & (ST_DRQ | ST_ERR), ST_DRQ);
	for (int i = 0; i < 256; i++)
		id[i] = inw(f, S);
	assert_int_equal(wait_idle(f), ST_DRDY);
	assert_int_equal(id[0], 0x85c0);
	for (int i = 0; i < 20; i++) {
		model[2 * i] = (char)(id[27 + i] >> 8);
		model[2 * i + 1] = (char)id[27 + i];
	}
	model[12] = 0;
	assert_string_equal(model, "DUET DVD-ROM");
	assert_true(id[49] & (1 << 9));
	assert_true(id[49] & (1 << 8));
	assert_true(id[82] & (1 << 4));                           /* PACKET */
	assert_int_equal(id[93] & 0xdf61, 0x4041);                /* no slave */
}

static void test_inquiry(void **state)
{
	struct fixture *f = *state;
	const uint8_t cdb[12] = { 0x12, 0, 0, 0, 36 };
	const uint8_t short_cdb[12] = { 0x12, 0, 0, 0, 8 };
	const uint8_t vpd80[12] = { 0x12, 1, 0x80, 0, 64 };
	const uint8_t bad[12] = { 0x12, 0, 0x80, 0, 64 };
	uint8_t buf[64];

	assert_int_equal(packet_in(f, cdb, 0xfffe, buf, sizeof(buf)), 36);
	assert_int_equal(buf[0], 0x05);
	assert_int_equal(buf[1], 0x80);
	assert_memory_equal(buf + 8, "DUET    ", 8);
	assert_memory_equal(buf + 16, "DUET DVD-ROM    ", 16);
	/* Cut to the allocation length. */
	assert_int_equal(packet_in(f, short_cdb, 0xfffe, buf, sizeof(buf)), 8);
	/* The serial number page. */
	assert_int_equal(packet_in(f, vpd80, 0xfffe, buf, sizeof(buf)), 4 + 7);
	assert_int_equal(buf[1], 0x80);
	assert_int_equal(buf[3], 7);
	assert_memory_equal(buf + 4, "DUETCD2", 7);
	assert_int_equal(packet_key(f, bad), 0x5);
	expect_sense(f, 0x5, 0x24, 0);
}

static void test_read_capacity(void **state)
{
	struct fixture *f = *state;
	const uint8_t cdb[12] = { 0x25 };
	uint8_t buf[8];

	assert_int_equal(packet_in(f, cdb, 8, buf, sizeof(buf)), 8);
	assert_int_equal(be32(buf), CD_SECTORS - 1);
	assert_int_equal(be32(buf + 4), CD_SECTOR);
}

static void test_read10_pio(void **state)
{
	struct fixture *f = *state;
	/* As SeaBIOS boots a CD: the byte count limit is one sector. */
	const uint8_t cdb[12] = { 0x28, 0, 0, 0, 0, 16, 0, 0, 3 };
	uint8_t *buf = malloc(3 * CD_SECTOR);
	int before = raises(f);

	assert_int_equal(packet_in(f, cdb, CD_SECTOR, buf, 3 * CD_SECTOR), 3 * CD_SECTOR);
	assert_int_equal(f->last_error, 0);
	assert_int_equal(f->drq_blocks, 3);
	/* An interrupt per DRQ block and one at the end. */
	assert_int_equal(raises(f), before + 4);
	assert_memory_equal(buf + 1, "CD001", 5);
	for (unsigned n = 0; n < 3; n++)
		expect_sector(buf + n * CD_SECTOR, 16 + n, 0);
	free(buf);
}

static void test_read_big_limit(void **state)
{
	struct fixture *f = *state;
	/* 40 sectors with the largest limit: blocks of up to 0xfffe bytes. */
	const uint8_t cdb[12] = { 0x28, 0, 0, 0, 0, 2, 0, 0, 40 };
	const uint8_t read12[12] = { 0xa8, 0, 0, 0, 0, 60, 0, 0, 0, 4 };
	const uint8_t read_cd[12] = { 0xbe, 0, 0, 0, 0, 5, 0, 0, 2, 0x10 };
	const uint8_t read_cd_raw[12] = { 0xbe, 0, 0, 0, 0, 5, 0, 0, 2, 0xf8 };
	uint8_t *buf = malloc(40 * CD_SECTOR);

	assert_int_equal(packet_in(f, cdb, 0xffff, buf, 40 * CD_SECTOR), 40 * CD_SECTOR);
	assert_true(f->drq_blocks >= 2);
	for (unsigned n = 0; n < 40; n++)
		expect_sector(buf + n * CD_SECTOR, 2 + n, 0);
	/* READ(12) up to the last sector; an odd small limit. */
	assert_int_equal(packet_in(f, read12, 1001, buf, 4 * CD_SECTOR), 4 * CD_SECTOR);
	assert_int_equal(f->drq_blocks, (4 * CD_SECTOR + 999) / 1000);
	for (unsigned n = 0; n < 4; n++)
		expect_sector(buf + n * CD_SECTOR, 60 + n, 0);
	/* READ CD, user data. */
	assert_int_equal(packet_in(f, read_cd, 0xfffe, buf, 2 * CD_SECTOR), 2 * CD_SECTOR);
	expect_sector(buf, 5, 0);
	assert_int_equal(packet_key(f, read_cd_raw), 0x5);
	free(buf);
}

static void test_read_errors(void **state)
{
	struct fixture *f = *state;
	const uint8_t past_end[12] = { 0x28, 0, 0, 0, 0, 63, 0, 0, 2 };
	const uint8_t huge[12] = { 0xa8, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	const uint8_t unknown[12] = { 0xff };
	const uint8_t write10[12] = { 0x2a, 0, 0, 0, 0, 0, 0, 0, 1 };
	const uint8_t none[12] = { 0x28, 0, 0, 0, 0, 3, 0, 0, 0 };
	uint8_t buf[16];

	assert_int_equal(packet_key(f, past_end), 0x5);
	assert_int_equal(f->last_error, 0x50);
	expect_sense(f, 0x5, 0x21, 0);                            /* LBA out of range */
	/* REQUEST SENSE cleared it. */
	expect_sense(f, 0, 0, 0);
	assert_int_equal(packet_key(f, huge), 0x5);
	expect_sense(f, 0x5, 0x21, 0);
	assert_int_equal(packet_key(f, unknown), 0x5);
	expect_sense(f, 0x5, 0x20, 0);                            /* invalid opcode */
	assert_int_equal(packet_key(f, write10), 0x5);
	/* Another command clears the sense data. */
	assert_int_equal(packet_in(f, none, 0xfffe, buf, sizeof(buf)), 0);
	assert_int_equal(f->last_error, 0);
	expect_sense(f, 0, 0, 0);
}

static void test_read_dma(void **state)
{
	struct fixture *f = *state;
	const uint8_t cdb[12] = { 0x28, 0, 0, 0, 0, 10, 0, 0, 3 };
	const uint8_t inquiry[12] = { 0x12, 0, 0, 0, 36 };
	uint32_t prd[4] = { 0x20000, CD_SECTOR, 0x40000, 2 * CD_SECTOR | 0x80000000u };
	uint8_t st;

	memcpy(f->mem.base + 0x1000, prd, sizeof(prd));
	outl(f, BM_BASE + 8 + 4, 0x1000);
	outb(f, BM_BASE + 8 + 2, 0x06);
	send_packet(f, cdb, 0, true);
	outb(f, BM_BASE + 8, BM_START | BM_TO_MEMORY);
	for (int i = 0; i < 100000 && !(inb(f, BM_BASE + 8 + 2) & BM_INTR); i++)
		usleep(25);
	assert_int_equal(inb(f, BM_BASE + 8 + 2) & (BM_ACTIVE | BM_INTR), BM_INTR);
	outb(f, BM_BASE + 8, 0);
	st = wait_idle(f);
	assert_int_equal(st & (ST_DRQ | ST_ERR), 0);
	assert_int_equal(inb(f, S + 2) & (IR_COD | IR_IO), IR_COD | IR_IO);
	expect_sector(f->mem.base + 0x20000, 10, 0);
	expect_sector(f->mem.base + 0x40000, 11, 0);
	expect_sector(f->mem.base + 0x40000 + CD_SECTOR, 12, 0);

	/* A reply by DMA: INQUIRY into a 64 KiB region. */
	prd[0] = 0x50000;
	prd[1] = 0x80000000u;
	memcpy(f->mem.base + 0x1000, prd, 8);
	outb(f, BM_BASE + 8 + 2, 0x06);
	outb(f, BM_BASE + 8, BM_START | BM_TO_MEMORY);
	send_packet(f, inquiry, 0, true);
	for (int i = 0; i < 100000 && !(inb(f, BM_BASE + 8 + 2) & BM_INTR); i++)
		usleep(25);
	assert_int_equal(inb(f, BM_BASE + 8 + 2) & (BM_ACTIVE | BM_INTR), BM_ACTIVE | BM_INTR);
	outb(f, BM_BASE + 8, 0);
	assert_int_equal(wait_idle(f) & (ST_DRQ | ST_ERR), 0);
	assert_memory_equal(f->mem.base + 0x50000 + 8, "DUET    ", 8);
}

static void test_read_toc(void **state)
{
	struct fixture *f = *state;
	const uint8_t toc_lba[12] = { 0x43, 0, 0, 0, 0, 0, 0, 0, 100 };
	const uint8_t toc_msf[12] = { 0x43, 0x02, 0, 0, 0, 0, 0, 0, 100 };
	const uint8_t toc_leadout[12] = { 0x43, 0, 0, 0, 0, 0, 0xaa, 0, 100 };
	const uint8_t toc_bad_track[12] = { 0x43, 0, 0, 0, 0, 0, 2, 0, 100 };
	const uint8_t session[12] = { 0x43, 0, 1, 0, 0, 0, 0, 0, 100 };
	const uint8_t full[12] = { 0x43, 0x02, 2, 0, 0, 0, 0, 0, 100 };
	const uint8_t sff_full[12] = { 0x43, 0x02, 0, 0, 0, 0, 0, 0, 100, 0x80 };
	const uint8_t pma[12] = { 0x43, 0, 3, 0, 0, 0, 0, 0, 100 };
	uint8_t buf[100];

	assert_int_equal(packet_in(f, toc_lba, 0xfffe, buf, sizeof(buf)), 20);
	assert_int_equal(be16(buf), 18);
	assert_int_equal(buf[2], 1);
	assert_int_equal(buf[3], 1);
	assert_int_equal(buf[5], 0x14);                           /* data track */
	assert_int_equal(buf[6], 1);
	assert_int_equal(be32(buf + 8), 0);
	assert_int_equal(buf[14], 0xaa);
	assert_int_equal(be32(buf + 16), CD_SECTORS);

	/* MSF: track 1 at 00:02:00, the lead-out 64 + 150 frames in. */
	assert_int_equal(packet_in(f, toc_msf, 0xfffe, buf, sizeof(buf)), 20);
	assert_memory_equal(buf + 8, "\0\0\002\0", 4);
	assert_memory_equal(buf + 16, "\0\0\002\100", 4);

	assert_int_equal(packet_in(f, toc_leadout, 0xfffe, buf, sizeof(buf)), 12);
	assert_int_equal(buf[6], 0xaa);
	assert_int_equal(packet_key(f, toc_bad_track), 0x5);

	assert_int_equal(packet_in(f, session, 0xfffe, buf, sizeof(buf)), 12);
	assert_int_equal(be16(buf), 10);
	assert_int_equal(buf[6], 1);

	assert_int_equal(packet_in(f, full, 0xfffe, buf, sizeof(buf)), 4 + 4 * 11);
	assert_int_equal(buf[4 + 3], 0xa0);
	assert_int_equal(buf[4 + 11 + 3], 0xa1);
	assert_int_equal(buf[4 + 22 + 3], 0xa2);
	assert_memory_equal(buf + 4 + 22 + 8, "\0\002\100", 3);
	assert_int_equal(buf[4 + 33 + 3], 1);
	/* SFF-8020i's format field in byte 9. */
	assert_int_equal(packet_in(f, sff_full, 0xfffe, buf, sizeof(buf)), 4 + 4 * 11);
	assert_int_equal(packet_key(f, pma), 0x5);
	expect_sense(f, 0x5, 0x24, 0);
}

static void test_mode_sense(void **state)
{
	struct fixture *f = *state;
	const uint8_t caps[12] = { 0x5a, 0, 0x2a, 0, 0, 0, 0, 0, 255 };
	const uint8_t all[12] = { 0x5a, 0, 0x3f, 0, 0, 0, 0, 0, 255 };
	const uint8_t changeable[12] = { 0x5a, 0, 0x40 | 0x2a, 0, 0, 0, 0, 0, 255 };
	const uint8_t saved[12] = { 0x5a, 0, 0xc0 | 0x2a, 0, 0, 0, 0, 0, 255 };
	const uint8_t unknown[12] = { 0x5a, 0, 0x05, 0, 0, 0, 0, 0, 255 };
	const uint8_t lock[12] = { 0x1e, 0, 0, 0, 1 };
	uint8_t buf[256];

	assert_int_equal(packet_in(f, caps, 0xfffe, buf, sizeof(buf)), 8 + 22);
	assert_int_equal(be16(buf), 6 + 22);
	assert_int_equal(buf[8], 0x2a);
	assert_int_equal(buf[9], 0x14);
	assert_int_equal(buf[8 + 6] & 0x03, 0x01);                /* lock supported, unlocked */
	packet_key(f, lock);
	assert_int_equal(packet_in(f, caps, 0xfffe, buf, sizeof(buf)), 8 + 22);
	assert_int_equal(buf[8 + 6] & 0x03, 0x03);

	assert_int_equal(packet_in(f, all, 0xfffe, buf, sizeof(buf)), 8 + 12 + 8 + 16 + 12 + 22);
	assert_int_equal(buf[8], 0x01);
	assert_int_equal(packet_in(f, changeable, 0xfffe, buf, sizeof(buf)), 8 + 22);
	assert_int_equal(buf[8 + 2], 0);
	assert_int_equal(packet_key(f, saved), 0x5);
	expect_sense(f, 0x5, 0x39, 0);
	assert_int_equal(packet_key(f, unknown), 0x5);
}

static void test_get_configuration(void **state)
{
	struct fixture *f = *state;
	const uint8_t all[12] = { 0x46, 0, 0, 0, 0, 0, 0, 0x01, 0 };
	const uint8_t core[12] = { 0x46, 2, 0, 1, 0, 0, 0, 0x01, 0 };
	const uint8_t header[12] = { 0x46, 0, 0, 0, 0, 0, 0, 0, 8 };
	uint8_t buf[256];
	size_t n;

	n = packet_in(f, all, 0xfffe, buf, sizeof(buf));
	assert_int_equal(be32(buf), n - 4);
	assert_int_equal(be16(buf + 6), 0x0008);                  /* a CD-ROM */
	assert_int_equal(be16(buf + 8), 0x0000);                  /* profile list first */
	assert_int_equal(be16(buf + 12), 0x0010);
	assert_int_equal(buf[14] & 1, 0);                         /* DVD-ROM: not current */
	assert_int_equal(be16(buf + 16), 0x0008);
	assert_int_equal(buf[18] & 1, 1);                         /* CD-ROM: current */
	assert_int_equal(packet_in(f, core, 0xfffe, buf, sizeof(buf)), 8 + 4 + 8);
	assert_int_equal(be16(buf + 8), 0x0001);
	assert_int_equal(be32(buf + 12), 2);                      /* ATAPI */
	assert_int_equal(packet_in(f, header, 0xfffe, buf, sizeof(buf)), 8);
}

static void test_media_change(void **state)
{
	struct fixture *f = *state;
	const uint8_t tur[12] = { 0x00 };
	const uint8_t gesn[12] = { 0x4a, 1, 0, 0, 0x10, 0, 0, 0, 8 };
	const uint8_t capacity[12] = { 0x25 };
	const uint8_t inquiry[12] = { 0x12, 0, 0, 0, 36 };
	const uint8_t read10[12] = { 0x28, 0, 0, 0, 0, 1, 0, 0, 1 };
	uint8_t buf[CD_SECTOR];

	assert_int_equal(packet_key(f, tur), 0);
	/* The user swaps discs. */
	assert_int_equal(ide_cdrom_change(f->ide, CD_DRIVE, open_ro(f->path[1])), 0);
	/* INQUIRY does not see it ... */
	assert_int_equal(packet_in(f, inquiry, 0xfffe, buf, sizeof(buf)), 36);
	/* ... GESN reports a new medium, once ... */
	assert_int_equal(packet_in(f, gesn, 0xfffe, buf, sizeof(buf)), 8);
	assert_int_equal(buf[2], 4);
	assert_int_equal(buf[4] & 0x0f, 2);                       /* new media */
	assert_int_equal(buf[5], 0x02);                           /* present, tray closed */
	assert_int_equal(packet_in(f, gesn, 0xfffe, buf, sizeof(buf)), 8);
	assert_int_equal(buf[4] & 0x0f, 0);
	/* ... and the next other command gets UNIT ATTENTION, once. */
	assert_int_equal(packet_key(f, tur), 0x6);
	expect_sense(f, 0x6, 0x28, 0);
	assert_int_equal(packet_key(f, tur), 0);
	assert_int_equal(packet_in(f, capacity, 8, buf, 8), 8);
	assert_int_equal(be32(buf), CD_SECTORS / 2 - 1);
	assert_int_equal(packet_in(f, read10, CD_SECTOR, buf, sizeof(buf)), CD_SECTOR);
	expect_sector(buf, 1, 99);

	/* A UNIT ATTENTION is also what REQUEST SENSE reports first. */
	assert_int_equal(ide_cdrom_change(f->ide, CD_DRIVE, open_ro(f->path[0])), 0);
	expect_sense(f, 0x6, 0x28, 0);
	assert_int_equal(packet_key(f, tur), 0);

	/* Taking the disc out: NOT READY, medium not present; GESN says so. */
	assert_int_equal(ide_cdrom_change(f->ide, CD_DRIVE, NULL), 0);
	assert_int_equal(packet_key(f, tur), 0x2);
	expect_sense(f, 0x2, 0x3a, 0x01);
	assert_int_equal(packet_key(f, capacity), 0x2);
	assert_int_equal(packet_in(f, gesn, 0xfffe, buf, sizeof(buf)), 8);
	assert_int_equal(buf[4] & 0x0f, 3);                       /* media removal */
	assert_int_equal(buf[5], 0x00);
	assert_int_equal(packet_in(f, inquiry, 0xfffe, buf, sizeof(buf)), 36);
	/* Only a CD drive takes a disc. */
	assert_int_equal(ide_cdrom_change(f->ide, 0, NULL), -EINVAL);
}

static void test_eject(void **state)
{
	struct fixture *f = *state;
	const uint8_t tur[12] = { 0x00 };
	const uint8_t prevent[12] = { 0x1e, 0, 0, 0, 1 };
	const uint8_t allow[12] = { 0x1e, 0, 0, 0, 0 };
	const uint8_t eject[12] = { 0x1b, 0, 0, 0, 0x02 };
	const uint8_t load[12] = { 0x1b, 0, 0, 0, 0x03 };
	const uint8_t mech[12] = { 0xbd, 0, 0, 0, 0, 0, 0, 0, 0, 8 };
	uint8_t buf[8];

	assert_int_equal(packet_key(f, prevent), 0);
	assert_int_equal(packet_key(f, eject), 0x5);
	expect_sense(f, 0x5, 0x53, 0x02);
	assert_int_equal(packet_key(f, allow), 0);
	assert_int_equal(packet_key(f, eject), 0);
	assert_int_equal(packet_key(f, tur), 0x2);
	expect_sense(f, 0x2, 0x3a, 0x02);                         /* tray open */
	assert_int_equal(packet_in(f, mech, 0xfffe, buf, sizeof(buf)), 8);
	assert_int_equal(buf[1] & 0x10, 0x10);
	assert_int_equal(packet_key(f, load), 0);
	assert_int_equal(packet_key(f, tur), 0x6);
	assert_int_equal(packet_key(f, tur), 0);
	assert_int_equal(packet_in(f, mech, 0xfffe, buf, sizeof(buf)), 8);
	assert_int_equal(buf[1] & 0x10, 0);
}

static void test_device_reset(void **state)
{
	struct fixture *f = *state;

	/* PACKET sent, command bytes not: DEVICE RESET is still taken. */
	outb(f, S + 6, 0xa0);
	outb(f, S + 7, 0xa0);
	assert_int_equal(wait_idle(f) & ST_DRQ, ST_DRQ);
	outb(f, S + 7, 0xec);                                     /* ignored during DRQ */
	assert_int_equal(wait_idle(f) & ST_DRQ, ST_DRQ);
	outb(f, S + 7, 0x08);
	assert_int_equal(wait_idle(f), 0x00);
	assert_int_equal(inb(f, S + 4), 0x14);
	assert_int_equal(inb(f, S + 5), 0xeb);
	assert_int_equal(inb(f, S + 1), 0x01);
	/* EXECUTE DEVICE DIAGNOSTIC, and power commands a CD takes. */
	outb(f, S + 7, 0x90);
	assert_int_equal(wait_idle(f), 0x00);
	assert_int_equal(inb(f, S + 5), 0xeb);
	outb(f, S + 7, 0xe5);
	assert_int_equal(wait_idle(f), ST_DRDY);
	assert_int_equal(inb(f, S + 2), 0xff);
	/* Overlap is not offered. */
	outb(f, S + 1, 0x02);
	outb(f, S + 7, 0xa0);
	assert_int_equal(wait_idle(f), ST_DRDY | ST_ERR);
	assert_int_equal(inb(f, S + 1), 0x04);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_signature, setup, teardown),
		cmocka_unit_test_setup_teardown(test_identify_packet, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inquiry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_capacity, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read10_pio, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_big_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_dma, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_toc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mode_sense, setup, teardown),
		cmocka_unit_test_setup_teardown(test_get_configuration, setup, teardown),
		cmocka_unit_test_setup_teardown(test_media_change, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eject, setup, teardown),
		cmocka_unit_test_setup_teardown(test_device_reset, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
