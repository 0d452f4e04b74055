/* Pins vmm/hw/ide.c and vmm/hw/ata.c: the PIIX3 IDE controller with an
 * ATA disk, driven as a guest drives it, through the legacy ports and the
 * bus-master block on a port bus, over a real temporary image file and a
 * small guest RAM. IDENTIFY DEVICE's words (capacities, LBA/DMA bits,
 * LBA48, modes, reset results, checksum); PIO, READ/WRITE MULTIPLE, LBA48
 * and CHS transfers; DMA through PRD tables and the bus-master status
 * each ending gives; addresses past the end, writes to a read-only disk
 * and broken PRD tables refused with ABRT; FLUSH CACHE reaching the back
 * end; nIEN, SRST, HOB, device selection, an absent slave and an empty
 * channel; the IDETIM-style decode switch. The controller runs with its
 * worker threads, as in duet-vmm: the test polls BSY as a driver does. */
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
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "block.h"
#include "hw/ide.h"

#define RAM_SIZE (1ULL << 20)
#define DISK_SECTORS 4096       /* a 2 MiB image */
#define SECTOR 512
#define BM_BASE 0xc000

#define P 0x1f0                 /* primary command block */
#define PCTL 0x3f6
#define S 0x170
#define SCTL 0x376

#define ST_BSY 0x80
#define ST_DRDY 0x40
#define ST_DSC 0x10
#define ST_DRQ 0x08
#define ST_ERR 0x01
#define ST_READY (ST_DRDY | ST_DSC)
#define ERR_ABRT 0x04

#define BM_START 0x01
#define BM_TO_MEMORY 0x08
#define BM_ACTIVE 0x01
#define BM_ERROR 0x02
#define BM_INTR 0x04

/* A block back end that counts flushes and passes everything on to the
 * real file back end under it. */
struct counting_block {
	struct block bk;
	struct block *inner;
	int flushes;
};

static struct block *inner_of(struct block *bk)
{
	return ((struct counting_block *)bk)->inner;
}

static int counting_preadv(struct block *bk, const struct iovec *iov, int n, uint64_t off)
{
	return block_preadv(inner_of(bk), iov, n, off);
}

static int counting_pwritev(struct block *bk, const struct iovec *iov, int n, uint64_t off)
{
	return block_pwritev(inner_of(bk), iov, n, off);
}

static int counting_flush(struct block *bk)
{
	((struct counting_block *)bk)->flushes++;
	return block_flush(inner_of(bk));
}

static int counting_write_zeroes(struct block *bk, uint64_t off, uint64_t len, bool unmap)
{
	return block_write_zeroes(inner_of(bk), off, len, unmap);
}

static void counting_close(struct block *bk)
{
	block_close(inner_of(bk));
	free(bk);
}

static const struct block_ops counting_ops = {
	.preadv = counting_preadv,
	.pwritev = counting_pwritev,
	.flush = counting_flush,
	.write_zeroes = counting_write_zeroes,
	.close = counting_close,
};

struct irq_log {
	pthread_mutex_t lock;
	int level[2];
	int raises[2];
};

static void irq_record(void *ctx, unsigned gsi, int level)
{
	struct irq_log *log = ctx;
	int i = gsi == 15;

	pthread_mutex_lock(&log->lock);
	if (level && !log->level[i])
		log->raises[i]++;
	log->level[i] = level;
	pthread_mutex_unlock(&log->lock);
}

struct fixture {
	struct guest_mem mem;
	struct bus bus;
	struct ide *ide;
	struct irq_log irq;
	char path[64];
	int fd;                   /* the test's own view of the image */
	struct counting_block *disk;
};

static struct fixture *make(off_t bytes, bool read_only)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR");
	struct block *disks[IDE_DRIVES] = { NULL };
	const int is_cdrom[IDE_DRIVES] = { 0, 0, 0, 0 };
	struct irq_pin irq[2];
	struct block_spec spec;
	char text[128], err[256];

	assert_non_null(f);
	pthread_mutex_init(&f->irq.lock, NULL);
	assert_int_equal(mem_create(&f->mem, RAM_SIZE), 0);
	bus_init(&f->bus, "pio");
	snprintf(f->path, sizeof(f->path), "%s/duet-ide-XXXXXX", tmp ? tmp : "/tmp");
	f->fd = mkstemp(f->path);
	assert_true(f->fd >= 0);
	assert_int_equal(ftruncate(f->fd, bytes), 0);
	snprintf(text, sizeof(text), "file=%s%s", f->path, read_only ? ",ro" : "");
	assert_int_equal(block_spec_parse(text, &spec, err, sizeof(err)), 0);
	f->disk = calloc(1, sizeof(*f->disk));
	assert_non_null(f->disk);
	assert_int_equal(block_open(&spec, &f->disk->inner, err, sizeof(err)), 0);
	block_spec_free(&spec);
	f->disk->bk = (struct block){ .ops = &counting_ops, .size = f->disk->inner->size,
				      .read_only = read_only };
	disks[0] = &f->disk->bk;
	irq[0] = (struct irq_pin){ irq_record, &f->irq, 14 };
	irq[1] = (struct irq_pin){ irq_record, &f->irq, 15 };
	f->ide = ide_new(&f->bus, &f->mem, irq, disks, is_cdrom, true);
	assert_non_null(f->ide);
	ide_set_legacy_decode(f->ide, 0, true);
	ide_set_legacy_decode(f->ide, 1, true);
	ide_set_bus_master(f->ide, true);
	assert_int_equal(bus_register(&f->bus, BM_BASE, IDE_BM_SIZE, &ide_bm_ops, f->ide, "bm"), 0);
	return f;
}

static int setup(void **state)
{
	*state = make((off_t)DISK_SECTORS * SECTOR, false);
	return 0;
}

static int setup_ro(void **state)
{
	*state = make((off_t)DISK_SECTORS * SECTOR, true);
	return 0;
}

/* 200 GiB, sparse: beyond LBA28's reach. */
#define BIG_SECTORS (200ULL << 21)

static int setup_big(void **state)
{
	*state = make((off_t)(BIG_SECTORS * SECTOR), false);
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	ide_free(f->ide);
	bus_destroy(&f->bus);
	close(f->fd);
	unlink(f->path);
	mem_destroy(&f->mem);
	pthread_mutex_destroy(&f->irq.lock);
	free(f);
	return 0;
}

/* ---- port access ---- */

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

static int irq_level(struct fixture *f, int i)
{
	int v;

	pthread_mutex_lock(&f->irq.lock);
	v = f->irq.level[i];
	pthread_mutex_unlock(&f->irq.lock);
	return v;
}

static int irq_raises(struct fixture *f, int i)
{
	int v;

	pthread_mutex_lock(&f->irq.lock);
	v = f->irq.raises[i];
	pthread_mutex_unlock(&f->irq.lock);
	return v;
}

/* wait_idle: poll Alternate Status until BSY clears, as a driver does. */
static uint8_t wait_idle(struct fixture *f, uint16_t ctl)
{
	for (int i = 0; i < 200000; i++) {
		uint8_t st = inb(f, ctl);

		if (!(st & ST_BSY))
			return st;
		usleep(25);
	}
	fail_msg("the device stayed busy");
	return 0;
}

/* task: the task file for a command to the primary master. */
static void task(struct fixture *f, uint64_t lba, uint32_t count, bool lba48)
{
	if (lba48) {
		outb(f, P + 2, (uint8_t)(count >> 8));
		outb(f, P + 3, (uint8_t)(lba >> 24));
		outb(f, P + 4, (uint8_t)(lba >> 32));
		outb(f, P + 5, (uint8_t)(lba >> 40));
	}
	outb(f, P + 2, (uint8_t)count);
	outb(f, P + 3, (uint8_t)lba);
	outb(f, P + 4, (uint8_t)(lba >> 8));
	outb(f, P + 5, (uint8_t)(lba >> 16));
	outb(f, P + 6, (uint8_t)(0xe0 | (lba48 ? 0 : (lba >> 24) & 0x0f)));
}

static uint8_t command(struct fixture *f, uint8_t cmd)
{
	outb(f, P + 7, cmd);
	return wait_idle(f, PCTL);
}

/* pio_in: read `blocks` DRQ blocks of `per_block` sectors each, reading
 * Status before each as an interrupt handler does (it acknowledges). */
static void pio_in(struct fixture *f, uint8_t *out, unsigned blocks, unsigned per_block)
{
	for (unsigned b = 0; b < blocks; b++) {
		uint8_t st;

		wait_idle(f, PCTL);
		st = inb(f, P + 7);
		assert_int_equal(st & (ST_DRQ | ST_ERR), ST_DRQ);
		for (unsigned i = 0; i < per_block * SECTOR / 2; i++) {
			uint16_t w = inw(f, P);

			memcpy(out + 2 * i, &w, 2);
		}
		out += per_block * SECTOR;
	}
}

static void pio_out(struct fixture *f, const uint8_t *in, unsigned blocks, unsigned per_block)
{
	for (unsigned b = 0; b < blocks; b++) {
		uint8_t st;

		wait_idle(f, PCTL);
		st = inb(f, P + 7);

		assert_int_equal(st & (ST_DRQ | ST_ERR), ST_DRQ);
		for (unsigned i = 0; i < per_block * SECTOR / 2; i++) {
			uint16_t w;

			memcpy(&w, in + 2 * i, 2);
			outw(f, P, w);
		}
		in += per_block * SECTOR;
	}
}

static void identify(struct fixture *f, uint16_t *id)
{
	outb(f, P + 6, 0xa0);
	outb(f, P + 7, 0xec);
	pio_in(f, (uint8_t *)id, 1, 1);
	assert_int_equal(wait_idle(f, PCTL), ST_READY);
}

static void fill_pattern(uint8_t *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(i * 31 + seed * 7 + (i >> 9));
}

static void put_prd(struct fixture *f, uint64_t table, unsigned i, uint32_t addr, uint32_t len,
		    bool eot)
{
	uint32_t e[2] = { addr, (len & 0xffff) | (eot ? 0x80000000u : 0) };

	memcpy(f->mem.base + table + 8 * i, e, sizeof(e));
}

/* dma_wait: poll the primary bus-master status until the transfer ended
 * (interrupt, or Active clearing), as SeaBIOS's ata_dma_transfer does. */
static uint8_t dma_wait(struct fixture *f)
{
	for (int i = 0; i < 200000; i++) {
		uint8_t st = inb(f, BM_BASE + 2);

		if ((st & BM_INTR) || !(st & BM_ACTIVE))
			return st;
		usleep(25);
	}
	fail_msg("the DMA did not end");
	return 0;
}

/* dma: start the primary bus master on the PRD table at `table` and wait
 * for the transfer to end. */
static uint8_t dma(struct fixture *f, uint32_t table, bool to_memory)
{
	outl(f, BM_BASE + 4, table);
	outb(f, BM_BASE + 2, BM_ERROR | BM_INTR);
	outb(f, BM_BASE, (uint8_t)(BM_START | (to_memory ? BM_TO_MEMORY : 0)));
	return dma_wait(f);
}

/* ---- the tests ---- */

static void test_decode_switch(void **state)
{
	struct fixture *f = *state;

	ide_set_legacy_decode(f->ide, 0, false);
	assert_int_equal(inb(f, P + 7), 0xff);
	assert_int_equal(bus_read(&f->bus, P + 7, &(uint8_t){ 0 }, 1), 0);
	ide_set_legacy_decode(f->ide, 0, true);
	assert_int_equal(inb(f, P + 7), ST_READY);
	/* Power-on signature of a disk. */
	assert_int_equal(inb(f, P + 1), 0x01);
	assert_int_equal(inb(f, P + 2), 1);
	assert_int_equal(inb(f, P + 3), 1);
	assert_int_equal(inb(f, P + 4), 0);
	assert_int_equal(inb(f, P + 5), 0);
}

static void test_identify(void **state)
{
	struct fixture *f = *state;
	uint16_t id[256];
	uint8_t sum = 0;
	char model[41];
	int raises = irq_raises(f, 0);

	identify(f, id);
	assert_int_equal(irq_raises(f, 0), raises + 1);
	assert_int_equal(id[0] & 0x8000, 0);                     /* ATA */
	assert_int_equal(id[1], DISK_SECTORS / (16 * 63));      /* cylinders */
	assert_int_equal(id[3], 16);
	assert_int_equal(id[6], 63);
	for (int i = 0; i < 20; i++) {
		model[2 * i] = (char)(id[27 + i] >> 8);
		model[2 * i + 1] = (char)id[27 + i];
	}
	model[40] = 0;
	assert_string_equal(model, "DUET HARDDISK                           ");
	assert_int_not_equal(id[10], 0);                          /* a serial */
	assert_int_not_equal(id[23], 0);                          /* firmware */
	assert_int_equal(id[47] & 0xff, 16);
	assert_true(id[49] & (1 << 9));                           /* LBA */
	assert_true(id[49] & (1 << 8));                           /* DMA */
	assert_int_equal(id[53] & 0x7, 0x7);
	assert_int_equal(id[60] | (uint32_t)id[61] << 16, DISK_SECTORS);
	assert_int_equal(id[63] & 0x7, 0x7);                     /* MWDMA 0-2 */
	assert_int_equal(id[88] & 0x3f, 0x3f);                   /* UDMA 0-5 */
	assert_int_equal(id[83] & 0xc000, 0x4000);
	assert_true(id[83] & (1 << 10));                          /* LBA48 supported */
	assert_true(id[86] & (1 << 10));                          /* and enabled */
	assert_true(id[83] & (1 << 12));                          /* FLUSH CACHE */
	assert_int_equal(id[100] | (uint64_t)id[101] << 16 | (uint64_t)id[102] << 32 |
			 (uint64_t)id[103] << 48, DISK_SECTORS);
	/* No slave: device 0 answers for it (SeaBIOS then skips probing). */
	assert_int_equal(id[93] & 0xdf61, 0x4041);
	assert_int_equal(id[255] & 0xff, 0xa5);
	for (int i = 0; i < 256; i++)
		sum = (uint8_t)(sum + (id[i] & 0xff) + (id[i] >> 8));
	assert_int_equal(sum, 0);
	/* pio_in read Status: that acknowledged the interrupt. */
	assert_int_equal(irq_level(f, 0), 0);
}

static void test_pio_round_trip(void **state)
{
	struct fixture *f = *state;
	uint8_t out[3 * SECTOR], in[3 * SECTOR], disk[3 * SECTOR];
	int raises;

	fill_pattern(out, sizeof(out), 1);
	task(f, 5, 3, false);
	outb(f, P + 7, 0x30);                                     /* WRITE SECTORS */
	raises = irq_raises(f, 0);
	pio_out(f, out, 3, 1);
	assert_int_equal(wait_idle(f, PCTL), ST_READY);
	/* One interrupt per block after the first, one at the end. */
	assert_int_equal(irq_raises(f, 0), raises + 3);
	assert_int_equal(pread(f->fd, disk, sizeof(disk), 5 * SECTOR), (ssize_t)sizeof(disk));
	assert_memory_equal(disk, out, sizeof(out));

	task(f, 5, 3, false);
	outb(f, P + 7, 0x20);                                     /* READ SECTORS */
	pio_in(f, in, 3, 1);
	assert_int_equal(wait_idle(f, PCTL), ST_READY);
	assert_memory_equal(in, out, sizeof(out));
	/* The task file ends at the last sector moved. */
	assert_int_equal(inb(f, P + 3), 7);
}

static void test_pio_32bit(void **state)
{
	struct fixture *f = *state;
	uint8_t out[SECTOR], in[SECTOR];

	fill_pattern(out, sizeof(out), 9);
	assert_int_equal(pwrite(f->fd, out, sizeof(out), 100 * SECTOR), (ssize_t)sizeof(out));
	task(f, 100, 1, false);
	outb(f, P + 7, 0x20);
	assert_int_equal(wait_idle(f, PCTL) & ST_DRQ, ST_DRQ);
	for (unsigned i = 0; i < SECTOR / 4; i++) {
		uint32_t v;

		bus_read(&f->bus, P, &v, 4);
		memcpy(in + 4 * i, &v, 4);
	}
	assert_int_equal(wait_idle(f, PCTL), ST_READY);
	assert_memory_equal(in, out, sizeof(out));
}

static void test_multiple(void **state)
{
	struct fixture *f = *state;
	uint8_t out[10 * SECTOR], in[10 * SECTOR];
	int raises;

	/* SET MULTIPLE MODE 0 turns it off: READ MULTIPLE is then refused. */
	outb(f, P + 2, 0);
	assert_int_equal(command(f, 0xc6), ST_READY);
	task(f, 0, 4, false);
	assert_int_equal(command(f, 0xc4), ST_READY | ST_ERR);
	assert_int_equal(inb(f, P + 1), ERR_ABRT);
	/* Not a power of two. */
	outb(f, P + 2, 3);
	assert_int_equal(command(f, 0xc6), ST_READY | ST_ERR);

	outb(f, P + 2, 4);
	assert_int_equal(command(f, 0xc6), ST_READY);
	fill_pattern(out, sizeof(out), 2);
	task(f, 20, 8, false);
	outb(f, P + 7, 0xc5);                                     /* WRITE MULTIPLE */
	pio_out(f, out, 2, 4);
	assert_int_equal(wait_idle(f, PCTL), ST_READY);
	task(f, 28, 2, false);
	outb(f, P + 7, 0xc5);
	pio_out(f, out + 8 * SECTOR, 1, 2);
	assert_int_equal(wait_idle(f, PCTL), ST_READY);

	raises = irq_raises(f, 0);
	task(f, 20, 10, false);
	outb(f, P + 7, 0xc4);                                     /* READ MULTIPLE */
	pio_in(f, in, 2, 4);
	pio_in(f, in + 8 * SECTOR, 1, 2);
	assert_int_equal(wait_idle(f, PCTL), ST_READY);
	assert_int_equal(irq_raises(f, 0), raises + 3);           /* one per DRQ block */
	assert_memory_equal(in, out, sizeof(out));
}

static void test_long_pio_read(void **state)
{
	struct fixture *f = *state;
	enum { N = 300 };                    /* more than one back-end chunk */
	uint8_t *out = malloc(N * SECTOR), *in = malloc(N * SECTOR);

	fill_pattern(out, N * SECTOR, 3);
	assert_int_equal(pwrite(f->fd, out, N * SECTOR, 1000 * SECTOR), N * SECTOR);
	task(f, 1000, N, true);
	outb(f, P + 7, 0x24);                                     /* READ SECTORS EXT */
	pio_in(f, in, N, 1);
	assert_int_equal(wait_idle(f, PCTL), ST_READY);
	assert_memory_equal(in, out, N * SECTOR);
	free(out);
	free(in);
}

static void test_lba48(void **state)
{
	struct fixture *f = *state;
	const uint64_t lba = 0x12345678;     /* above 2^28 */
	uint8_t out[2 * SECTOR], in[2 * SECTOR], disk[2 * SECTOR];
	uint16_t id[256];

	identify(f, id);
	assert_int_equal(id[60] | (uint32_t)id[61] << 16, 0x0fffffff);
	assert_int_equal(id[100] | (uint64_t)id[101] << 16 | (uint64_t)id[102] << 32 |
			 (uint64_t)id[103] << 48, BIG_SECTORS);
	assert_int_equal(id[1], 16383);

	fill_pattern(out, sizeof(out), 4);
	task(f, lba, 2, true);
	outb(f, P + 7, 0x34);                                     /* WRITE SECTORS EXT */
	pio_out(f, out, 2, 1);
	assert_int_equal(wait_idle(f, PCTL), ST_READY);
	assert_int_equal(pread(f->fd, disk, sizeof(disk), (off_t)(lba * SECTOR)),
			 (ssize_t)sizeof(disk));
	assert_memory_equal(disk, out, sizeof(out));

	task(f, lba, 2, true);
	outb(f, P + 7, 0x24);                                     /* READ SECTORS EXT */
	pio_in(f, in, 2, 1);
	assert_int_equal(wait_idle(f, PCTL), ST_READY);
	assert_memory_equal(in, out, sizeof(out));
	/* HOB reads the high-order bytes of the last address. */
	outb(f, PCTL, 0x80);
	assert_int_equal(inb(f, P + 3), (lba + 1) >> 24 & 0xff);
	outb(f, PCTL, 0x00);
	assert_int_equal(inb(f, P + 3), (lba + 1) & 0xff);

	/* The same address without EXT is cut to 28 bits... */
	task(f, lba, 1, false);
	assert_int_equal(command(f, 0x20) & (ST_DRQ | ST_ERR), ST_DRQ);
	pio_in(f, in, 1, 1);
	/* ...and an EXT address past the end is refused. */
	task(f, BIG_SECTORS, 1, true);
	assert_int_equal(command(f, 0x24), ST_READY | ST_ERR);
	assert_int_equal(inb(f, P + 1), ERR_ABRT);
}

static void test_dma_read_write(void **state)
{
	struct fixture *f = *state;
	uint8_t out[3 * SECTOR], disk[2 * SECTOR];
	uint8_t bm;

	fill_pattern(out, sizeof(out), 5);
	assert_int_equal(pwrite(f->fd, out, sizeof(out), 7 * SECTOR), (ssize_t)sizeof(out));
	/* Two regions, the last exactly filled: Active clears. */
	put_prd(f, 0x1000, 0, 0x10000, SECTOR, false);
	put_prd(f, 0x1000, 1, 0x20000, 2 * SECTOR, true);
	task(f, 7, 3, false);
	outb(f, P + 7, 0xc8);                                     /* READ DMA */
	bm = dma(f, 0x1000, true);
	assert_int_equal(bm & (BM_ACTIVE | BM_ERROR | BM_INTR), BM_INTR);
	assert_int_equal(wait_idle(f, PCTL), ST_READY);
	assert_int_equal(irq_level(f, 0), 1);
	assert_memory_equal(f->mem.base + 0x10000, out, SECTOR);
	assert_memory_equal(f->mem.base + 0x20000, out + SECTOR, 2 * SECTOR);
	outb(f, BM_BASE, 0);
	assert_int_equal(inb(f, P + 7), ST_READY);

	/* One 64 KiB region (count 0) for 2 sectors: the table is larger
	 * than the transfer, so Active stays set with the interrupt. */
	fill_pattern(f->mem.base + 0x30000, 2 * SECTOR, 6);
	put_prd(f, 0x1100, 0, 0x30000, 0, true);
	task(f, 50, 2, true);
	outb(f, P + 7, 0x35);                                     /* WRITE DMA EXT */
	bm = dma(f, 0x1100, false);
	assert_int_equal(bm & (BM_ACTIVE | BM_ERROR | BM_INTR), BM_ACTIVE | BM_INTR);
	assert_int_equal(wait_idle(f, PCTL), ST_READY);
	outb(f, BM_BASE, 0);
	assert_int_equal(inb(f, BM_BASE + 2) & BM_ACTIVE, 0);
	assert_int_equal(pread(f->fd, disk, sizeof(disk), 50 * SECTOR), (ssize_t)sizeof(disk));
	assert_memory_equal(disk, f->mem.base + 0x30000, sizeof(disk));

	/* The bus master started first, the command after: the same. */
	outl(f, BM_BASE + 4, 0x1000);
	outb(f, BM_BASE + 2, BM_ERROR | BM_INTR);
	outb(f, BM_BASE, BM_START | BM_TO_MEMORY);
	memset(f->mem.base + 0x10000, 0, SECTOR);
	task(f, 7, 3, false);
	outb(f, P + 7, 0xc8);
	assert_int_equal(dma_wait(f) & (BM_ACTIVE | BM_INTR), BM_INTR);
	assert_int_equal(wait_idle(f, PCTL), ST_READY);
	assert_memory_equal(f->mem.base + 0x10000, out, SECTOR);
	outb(f, BM_BASE, 0);
}

static void test_dma_without_bus_master(void **state)
{
	struct fixture *f = *state;

	/* PCICMD bus master off: nothing moves until it is turned on. */
	ide_set_bus_master(f->ide, false);
	put_prd(f, 0x1000, 0, 0x10000, SECTOR, true);
	memset(f->mem.base + 0x10000, 0xee, SECTOR);
	task(f, 0, 1, false);
	outb(f, P + 7, 0xc8);
	outl(f, BM_BASE + 4, 0x1000);
	outb(f, BM_BASE, BM_START | BM_TO_MEMORY);
	usleep(20000);
	assert_int_equal(inb(f, BM_BASE + 2) & (BM_ACTIVE | BM_INTR), BM_ACTIVE);
	assert_int_equal(inb(f, PCTL) & ST_DRQ, ST_DRQ);
	ide_set_bus_master(f->ide, true);
	assert_int_equal(dma_wait(f) & (BM_ACTIVE | BM_INTR), BM_INTR);
	assert_int_equal(wait_idle(f, PCTL), ST_READY);
	assert_int_equal(f->mem.base[0x10000], 0);
	outb(f, BM_BASE, 0);
}

static void test_dma_bad_prd(void **state)
{
	struct fixture *f = *state;
	uint8_t bm;

	/* A region outside guest RAM: the bus master's error bit, the
	 * command aborted with an interrupt. */
	put_prd(f, 0x1000, 0, (uint32_t)RAM_SIZE - 256, SECTOR, true);
	task(f, 0, 1, false);
	outb(f, P + 7, 0xc8);
	bm = dma(f, 0x1000, true);
	assert_int_equal(bm & (BM_ACTIVE | BM_ERROR | BM_INTR), BM_ERROR | BM_INTR);
	assert_int_equal(wait_idle(f, PCTL), ST_READY | ST_ERR);
	assert_int_equal(inb(f, P + 1), ERR_ABRT);
	outb(f, BM_BASE, 0);

	/* A table outside guest RAM. */
	task(f, 0, 1, false);
	outb(f, P + 7, 0xc8);
	bm = dma(f, 0xfff00000u, true);
	assert_int_equal(bm & (BM_ACTIVE | BM_ERROR), BM_ERROR);
	assert_int_equal(wait_idle(f, PCTL), ST_READY | ST_ERR);
	outb(f, BM_BASE, 0);

	/* A table in the VGA hole (not RAM). */
	task(f, 0, 1, false);
	outb(f, P + 7, 0xc8);
	bm = dma(f, 0xa0000, true);
	assert_int_equal(bm & BM_ERROR, BM_ERROR);
	outb(f, BM_BASE, 0);
	assert_int_equal(wait_idle(f, PCTL), ST_READY | ST_ERR);

	/* A table of 8192 entries without EOT. */
	for (unsigned i = 0; i < 8192; i++)
		put_prd(f, 0x20000, i, 0x10000, 2, false);
	task(f, 0, 128, false);
	outb(f, P + 7, 0xc8);
	bm = dma(f, 0x20000, true);
	assert_int_equal(bm & BM_ERROR, BM_ERROR);
	outb(f, BM_BASE, 0);
	assert_int_equal(wait_idle(f, PCTL), ST_READY | ST_ERR);
}

static void test_dma_short_prd(void **state)
{
	struct fixture *f = *state;
	uint8_t bm;
	int raises = irq_raises(f, 0);

	/* One sector of table for two of transfer: Active clears without
	 * the interrupt (SFF-8038i: the PRDs were smaller than the transfer). */
	put_prd(f, 0x1000, 0, 0x10000, SECTOR, true);
	task(f, 0, 2, false);
	outb(f, P + 7, 0xc8);
	bm = dma(f, 0x1000, true);
	assert_int_equal(bm & (BM_ACTIVE | BM_ERROR | BM_INTR), 0);
	assert_int_equal(irq_raises(f, 0), raises);
	outb(f, BM_BASE, 0);
	assert_int_equal(wait_idle(f, PCTL) & ST_ERR, ST_ERR);
}

static void test_out_of_range(void **state)
{
	struct fixture *f = *state;

	task(f, DISK_SECTORS, 1, false);
	assert_int_equal(command(f, 0x20), ST_READY | ST_ERR);
	assert_int_equal(inb(f, P + 1), ERR_ABRT);
	task(f, DISK_SECTORS - 1, 2, false);
	assert_int_equal(command(f, 0x30), ST_READY | ST_ERR);
	task(f, DISK_SECTORS - 1, 2, false);
	assert_int_equal(command(f, 0xc8), ST_READY | ST_ERR);
	task(f, DISK_SECTORS - 1, 2, false);
	assert_int_equal(command(f, 0x40), ST_READY | ST_ERR);    /* READ VERIFY */
	task(f, DISK_SECTORS - 1, 1, false);
	assert_int_equal(command(f, 0x40), ST_READY);
	/* Count 0 means 256 in 28-bit commands. */
	task(f, DISK_SECTORS - 255, 0, false);
	assert_int_equal(command(f, 0x20), ST_READY | ST_ERR);
	/* The high-order LBA bytes count in EXT commands. */
	outb(f, P + 3, 0x01);
	task(f, 0, 1, false);
	assert_int_equal(command(f, 0x24), ST_READY | ST_ERR);
	/* The last sector itself is fine. */
	task(f, DISK_SECTORS - 1, 1, false);
	assert_int_equal(command(f, 0x20) & (ST_DRQ | ST_ERR), ST_DRQ);
	pio_in(f, (uint8_t[SECTOR]){ 0 }, 1, 1);
	assert_int_equal(wait_idle(f, PCTL), ST_READY);
}

static void test_read_only(void **state)
{
	struct fixture *f = *state;

	task(f, 0, 1, false);
	assert_int_equal(command(f, 0x30), ST_READY | ST_ERR);
	assert_int_equal(inb(f, P + 1), ERR_ABRT);
	task(f, 0, 1, false);
	assert_int_equal(command(f, 0xca), ST_READY | ST_ERR);
	task(f, 0, 1, true);
	assert_int_equal(command(f, 0x34), ST_READY | ST_ERR);
	task(f, 0, 1, false);
	assert_int_equal(command(f, 0x20) & (ST_DRQ | ST_ERR), ST_DRQ);
	pio_in(f, (uint8_t[SECTOR]){ 0 }, 1, 1);
	assert_int_equal(command(f, 0xe7), ST_READY);            /* FLUSH: nothing to do */
}

static void test_flush(void **state)
{
	struct fixture *f = *state;
	uint8_t out[SECTOR];

	assert_int_equal(command(f, 0xe7), ST_READY);            /* FLUSH CACHE */
	assert_int_equal(f->disk->flushes, 1);
	assert_int_equal(command(f, 0xea), ST_READY);            /* FLUSH CACHE EXT */
	assert_int_equal(f->disk->flushes, 2);
	/* With the write cache off every write is flushed. */
	outb(f, P + 1, 0x82);
	assert_int_equal(command(f, 0xef), ST_READY);
	fill_pattern(out, sizeof(out), 8);
	task(f, 3, 1, false);
	outb(f, P + 7, 0x30);
	pio_out(f, out, 1, 1);
	assert_int_equal(wait_idle(f, PCTL), ST_READY);
	assert_int_equal(f->disk->flushes, 3);
	outb(f, P + 1, 0x02);
	assert_int_equal(command(f, 0xef), ST_READY);
}

static void test_nien(void **state)
{
	struct fixture *f = *state;
	uint16_t id[256];

	outb(f, PCTL, 0x02);                                      /* nIEN */
	outb(f, P + 6, 0xa0);
	outb(f, P + 7, 0xec);
	assert_int_equal(wait_idle(f, PCTL) & ST_DRQ, ST_DRQ);
	assert_int_equal(irq_level(f, 0), 0);
	/* Interrupts on again with one pending: INTRQ asserts. */
	outb(f, PCTL, 0x00);
	assert_int_equal(irq_level(f, 0), 1);
	for (int i = 0; i < 256; i++)
		id[i] = inw(f, P);
	assert_int_equal(id[0], 0x0040);
	assert_int_equal(inb(f, P + 7), ST_READY);
	assert_int_equal(irq_level(f, 0), 0);
}

static void test_srst(void **state)
{
	struct fixture *f = *state;

	outb(f, P + 2, 0x55);
	outb(f, P + 3, 0xaa);
	outb(f, P + 6, 0xe3);
	outb(f, PCTL, 0x04);                                      /* SRST */
	assert_int_equal(inb(f, PCTL) & ST_BSY, ST_BSY);
	outb(f, P + 7, 0xec);                                     /* ignored while in reset */
	outb(f, PCTL, 0x00);
	assert_int_equal(wait_idle(f, PCTL), ST_READY);
	assert_int_equal(inb(f, P + 1), 0x01);                    /* diagnostic: passed */
	assert_int_equal(inb(f, P + 2), 1);
	assert_int_equal(inb(f, P + 3), 1);
	assert_int_equal(inb(f, P + 4), 0);
	assert_int_equal(inb(f, P + 5), 0);
	assert_int_equal(inb(f, P + 6), 0);

	/* SRST in the middle of a PIO read abandons it. */
	task(f, 0, 4, false);
	outb(f, P + 7, 0x20);
	assert_int_equal(wait_idle(f, PCTL) & ST_DRQ, ST_DRQ);
	outb(f, PCTL, 0x04);
	outb(f, PCTL, 0x00);
	assert_int_equal(wait_idle(f, PCTL), ST_READY);
	assert_int_equal(inw(f, P), 0xffff);
}

static void test_hob(void **state)
{
	struct fixture *f = *state;

	outb(f, P + 2, 0x12);
	outb(f, P + 2, 0x34);
	outb(f, P + 5, 0x56);
	outb(f, P + 5, 0x78);
	assert_int_equal(inb(f, P + 2), 0x34);
	outb(f, PCTL, 0x80);
	assert_int_equal(inb(f, P + 2), 0x12);
	assert_int_equal(inb(f, P + 5), 0x56);
	/* A Command Block write clears HOB. */
	outb(f, P + 3, 0);
	assert_int_equal(inb(f, P + 2), 0x34);
}

static void test_absent_slave(void **state)
{
	struct fixture *f = *state;
	int raises = irq_raises(f, 0);

	/* SeaBIOS's probe: select, write/read back Sector Count/Number. */
	outb(f, P + 6, 0xb0);
	assert_int_equal(inb(f, P + 6), 0xb0);
	outb(f, P + 2, 0x55);
	outb(f, P + 3, 0xaa);
	assert_int_equal(inb(f, P + 2), 0x55);
	assert_int_equal(inb(f, P + 3), 0xaa);
	/* Status of an absent device 1 reads 0; its commands are ignored. */
	assert_int_equal(inb(f, P + 7), 0);
	assert_int_equal(inb(f, PCTL), 0);
	outb(f, P + 7, 0xa1);
	assert_int_equal(inb(f, P + 7), 0);
	assert_int_equal(irq_raises(f, 0), raises);
	outb(f, P + 6, 0xa0);
	assert_int_equal(inb(f, P + 7), ST_READY);
}

static void test_empty_channel(void **state)
{
	struct fixture *f = *state;

	/* Nothing on the secondary channel: its bus floats. */
	assert_int_equal(inb(f, S + 7), 0xff);
	assert_int_equal(inb(f, SCTL), 0xff);
	outb(f, S + 2, 0x55);
	assert_int_equal(inb(f, S + 2), 0xff);
}

static void test_misc_commands(void **state)
{
	struct fixture *f = *state;
	uint16_t id[256];

	/* IDENTIFY PACKET DEVICE and NOP are aborted by a disk. */
	assert_int_equal(command(f, 0xa1), ST_READY | ST_ERR);
	assert_int_equal(inb(f, P + 1), ERR_ABRT);
	assert_int_equal(command(f, 0x00), ST_READY | ST_ERR);
	assert_int_equal(command(f, 0x08), ST_READY | ST_ERR);   /* DEVICE RESET */
	assert_int_equal(command(f, 0xb0), ST_READY | ST_ERR);   /* SMART: not offered */

	/* Power management. */
	assert_int_equal(command(f, 0xe0), ST_READY);            /* STANDBY IMMEDIATE */
	outb(f, P + 2, 0x12);
	assert_int_equal(command(f, 0xe5), ST_READY);
	assert_int_equal(inb(f, P + 2), 0x00);
	assert_int_equal(command(f, 0xe1), ST_READY);            /* IDLE IMMEDIATE */
	assert_int_equal(command(f, 0xe5), ST_READY);
	assert_int_equal(inb(f, P + 2), 0xff);
	assert_int_equal(command(f, 0x10), ST_READY);            /* RECALIBRATE */

	/* SET FEATURES transfer mode: UDMA 5 shows in word 88. */
	outb(f, P + 1, 0x03);
	outb(f, P + 2, 0x45);
	assert_int_equal(command(f, 0xef), ST_READY);
	identify(f, id);
	assert_int_equal(id[88], 0x203f);
	assert_int_equal(id[63] & 0x0700, 0);
	outb(f, P + 1, 0x03);
	outb(f, P + 2, 0x22);
	assert_int_equal(command(f, 0xef), ST_READY);
	identify(f, id);
	assert_int_equal(id[63], 0x0407);
	outb(f, P + 1, 0x03);
	outb(f, P + 2, 0x46);                                     /* UDMA 6: not offered */
	assert_int_equal(command(f, 0xef), ST_READY | ST_ERR);
	outb(f, P + 1, 0x99);
	assert_int_equal(command(f, 0xef), ST_READY | ST_ERR);

	/* EXECUTE DEVICE DIAGNOSTIC: signature, passed, interrupt. */
	outb(f, P + 2, 0x77);
	assert_int_equal(command(f, 0x90), ST_READY);
	assert_int_equal(inb(f, P + 1), 0x01);
	assert_int_equal(inb(f, P + 2), 1);
	assert_int_equal(irq_level(f, 0), 1);
	inb(f, P + 7);
}

static void test_chs(void **state)
{
	struct fixture *f = *state;
	uint8_t out[SECTOR], in[SECTOR];
	uint16_t id[256];
	/* C/H/S 1/2/3 with the default 16 heads, 63 sectors per track. */
	const unsigned lba = (1 * 16 + 2) * 63 + 3 - 1;

	fill_pattern(out, sizeof(out), 10);
	assert_int_equal(pwrite(f->fd, out, sizeof(out), lba * SECTOR), (ssize_t)sizeof(out));
	outb(f, P + 2, 1);
	outb(f, P + 3, 3);
	outb(f, P + 4, 1);
	outb(f, P + 5, 0);
	outb(f, P + 6, 0xa2);                                     /* CHS, head 2 */
	outb(f, P + 7, 0x20);
	pio_in(f, in, 1, 1);
	assert_memory_equal(in, out, sizeof(out));
	assert_int_equal(wait_idle(f, PCTL), ST_READY);
	/* Sector 0 does not exist in CHS. */
	outb(f, P + 3, 0);
	outb(f, P + 6, 0xa2);
	assert_int_equal(command(f, 0x20), ST_READY | ST_ERR);

	/* INITIALIZE DEVICE PARAMETERS: 4 heads, 32 sectors per track. */
	outb(f, P + 2, 32);
	outb(f, P + 6, 0xa3);
	assert_int_equal(command(f, 0x91), ST_READY);
	identify(f, id);
	assert_int_equal(id[55], 4);
	assert_int_equal(id[56], 32);
	assert_int_equal(id[54], DISK_SECTORS / (4 * 32));
	outb(f, P + 2, 0);
	assert_int_equal(command(f, 0x91), ST_READY | ST_ERR);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_decode_switch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_identify, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pio_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pio_32bit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_multiple, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_pio_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lba48, setup_big, teardown),
		cmocka_unit_test_setup_teardown(test_dma_read_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dma_without_bus_master, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dma_bad_prd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dma_short_prd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_out_of_range, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_only, setup_ro, teardown),
		cmocka_unit_test_setup_teardown(test_flush, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nien, setup, teardown),
		cmocka_unit_test_setup_teardown(test_srst, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hob, setup, teardown),
		cmocka_unit_test_setup_teardown(test_absent_slave, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_channel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_misc_commands, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chs, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
