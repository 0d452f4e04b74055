/* Pins vmm/virtio/blk.c's request handler and vmm/block.c: --disk specs
 * and their errors; the configuration and features offered; reads and
 * writes straight between guest buffers and a temporary image, however the
 * driver splits the chain; every guest value that must be refused (short
 * header, a range off the disk or overflowing, a write to a read-only
 * disk, a bad discard segment, an unknown type, no status byte); flush,
 * GET_ID, discard punching a hole and write-zeroes. The test plays the
 * driver, laying requests out in a real guest_mem and popping them with
 * the virtqueue engine as the device does. */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "block.h"
#include "virtio/blk.h"
#include "virtio/virtqueue.h"

/* Guest layout: the rings, a request header, discard segments, the status
 * byte, then data. */
#define RAM_SIZE (4ULL << 20)
#define QSIZE 256
#define DESC 0x10000
#define AVAIL 0x20000
#define USED 0x30000
#define HDR 0x40000
#define SEGS 0x41000
#define STATUS 0x42000
#define DATA 0x100000

#define DISK_SECTORS 2048 /* a 1 MiB image */
#define SECTOR 512
#define NO_STATUS 0xee    /* what the status byte holds before the device answers */

struct fixture {
	struct guest_mem mem;
	struct virtqueue vq;
	struct vq_elem *elem;
	uint16_t avail_idx;
	char path[64];
	int fd;             /* the test's own view of the image */
	struct block *bk;
	struct virtio_blk_disk disk;
	uint32_t used_len;
};

/* A driver's buffer: guest address, length, device-writable or not. */
struct seg {
	uint64_t gpa;
	uint32_t len;
	int writable;
};

static struct block *open_spec(const char *fmt, const char *path, char *err, size_t errlen,
			       int *rc)
{
	struct block_spec spec;
	struct block *bk = NULL;
	char text[256];

	snprintf(text, sizeof(text), fmt, path);
	*rc = block_spec_parse(text, &spec, err, errlen);
	if (*rc)
		return NULL;
	*rc = block_open(&spec, &bk, err, errlen);
	block_spec_free(&spec);
	return *rc ? NULL : bk;
}

/* open_disk: the fixture's image as a disk, opened with spec `fmt`. */
static void open_disk(struct fixture *f, const char *fmt)
{
	char err[256] = "";
	int rc;

	f->bk = open_spec(fmt, f->path, err, sizeof(err), &rc);
	if (!f->bk)
		fail_msg("opening '%s': %s", f->path, err);
	virtio_blk_disk_init(&f->disk, f->bk, true, 3, "test-disk");
}

static int setup_image(void **state, off_t size)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR");

	if (!f)
		return -1;
	f->elem = calloc(1, sizeof(*f->elem));
	if (!f->elem || mem_create(&f->mem, RAM_SIZE))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/duet-blk-XXXXXX", tmp ? tmp : "/tmp");
	f->fd = mkstemp(f->path);
	if (f->fd < 0 || ftruncate(f->fd, size) < 0)
		return -1;
	if (vq_init(&f->vq, &f->mem, QSIZE, 1ULL << VIRTIO_F_INDIRECT_DESC) ||
	    vq_set_addresses(&f->vq, DESC, AVAIL, USED))
		return -1;
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_image(state, DISK_SECTORS * SECTOR);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	block_close(f->bk);
	close(f->fd);
	unlink(f->path);
	mem_destroy(&f->mem);
	free(f->elem);
	free(f);
	return 0;
}

static void *hva(struct fixture *f, uint64_t gpa)
{
	return f->mem.base + gpa;
}

static void put_desc(struct fixture *f, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	struct virtq_desc d = { htole64(addr), htole32(len), htole16(flags), htole16(next) };

	assert_int_equal(mem_write(&f->mem, DESC + 16ULL * i, &d, sizeof(d)), 0);
}

/* submit: the driver offers segs[] as one chain; the device pops it. */
static void submit(struct fixture *f, const struct seg *segs, unsigned n)
{
	uint16_t v;

	for (unsigned i = 0; i < n; i++)
		put_desc(f, i, segs[i].gpa, segs[i].len,
			 (uint16_t)((segs[i].writable ? VIRTQ_DESC_F_WRITE : 0) |
				    (i + 1 < n ? VIRTQ_DESC_F_NEXT : 0)),
			 (uint16_t)(i + 1));
	v = htole16(0);
	assert_int_equal(mem_write(&f->mem, AVAIL + VIRTQ_AVAIL_RING(f->avail_idx % QSIZE), &v, 2),
			 0);
	f->avail_idx++;
	v = htole16(f->avail_idx);
	assert_int_equal(mem_write(&f->mem, AVAIL + VIRTQ_AVAIL_IDX, &v, 2), 0);
	assert_int_equal(vq_pop(&f->vq, f->elem), 1);
}

static void put_hdr(struct fixture *f, uint32_t type, uint64_t sector)
{
	struct virtio_blk_req_hdr h = { htole32(type), 0, htole64(sector) };

	assert_int_equal(mem_write(&f->mem, HDR, &h, sizeof(h)), 0);
	*(uint8_t *)hva(f, STATUS) = NO_STATUS;
}

/* handle: the device answers the popped request; returns the status. */
static uint8_t handle(struct fixture *f)
{
	assert_int_equal(virtio_blk_request(&f->disk, f->elem, &f->used_len), 0);
	assert_int_equal(f->used_len, f->elem->in_len);
	return *(uint8_t *)hva(f, STATUS);
}

/* request: header, `len` bytes of data at DATA (device-writable for
 * IN), status: the layout Linux uses. */
static uint8_t request(struct fixture *f, uint32_t type, uint64_t sector, uint32_t len)
{
	struct seg segs[3] = { { HDR, 16, 0 } };
	unsigned n = 1;

	put_hdr(f, type, sector);
	if (len)
		segs[n++] = (struct seg){ DATA, len, type == VIRTIO_BLK_T_IN || type == VIRTIO_BLK_T_GET_ID };
	segs[n++] = (struct seg){ STATUS, 1, 1 };
	submit(f, segs, n);
	return handle(f);
}

static void fill_pattern(uint8_t *p, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 31 + seed + (i >> 9));
}

static void file_read(struct fixture *f, uint64_t offset, void *buf, size_t len)
{
	assert_int_equal(pread(f->fd, buf, len, (off_t)offset), (ssize_t)len);
}

static void file_write(struct fixture *f, uint64_t offset, const void *buf, size_t len)
{
	assert_int_equal(pwrite(f->fd, buf, len, (off_t)offset), (ssize_t)len);
}

static int all_zero(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return 0;
	return 1;
}

/* ---- --disk specs and opening ---- */

static void expect_spec_error(const char *text, const char *what)
{
	struct block_spec spec;
	char err[256] = "";

	assert_int_equal(block_spec_parse(text, &spec, err, sizeof(err)), -EINVAL);
	if (!strstr(err, what))
		fail_msg("--disk '%s': error '%s' does not say '%s'", text, err, what);
	assert_null(spec.file);
}

static void test_spec_parses_every_option(void **state)
{
	struct block_spec spec;
	char err[256];

	(void)state;
	assert_int_equal(block_spec_parse("file=/a/b.img", &spec, err, sizeof(err)), 0);
	assert_string_equal(spec.file, "/a/b.img");
	assert_false(spec.read_only);
	assert_true(spec.discard);
	block_spec_free(&spec);
	assert_int_equal(block_spec_parse("ro,discard=off,file=x=y.img", &spec, err, sizeof(err)), 0);
	assert_string_equal(spec.file, "x=y.img");
	assert_true(spec.read_only);
	assert_false(spec.discard);
	block_spec_free(&spec);
	assert_int_equal(block_spec_parse("file=c.img,discard=on", &spec, err, sizeof(err)), 0);
	assert_true(spec.discard);
	block_spec_free(&spec);
}

static void test_spec_errors_say_what_is_wrong(void **state)
{
	(void)state;
	expect_spec_error("file=a.img,cache=none", "unknown option 'cache'");
	expect_spec_error("a.img", "unknown option 'a.img'");
	expect_spec_error("ro", "no file=");
	expect_spec_error("", "no file=");
	expect_spec_error("file=", "file= needs a path");
	expect_spec_error("file=a.img,file=b.img", "given twice");
	expect_spec_error("file=a.img,ro=yes", "ro takes no value");
	expect_spec_error("file=a.img,discard=maybe", "discard= takes on or off, not 'maybe'");
	expect_spec_error("file=a.img,discard", "discard= takes on or off");
	expect_spec_error("file=a.img,,ro", "empty option");
}

static void test_open_errors_name_the_file(void **state)
{
	struct fixture *f = *state;
	char err[256] = "";
	int rc;

	assert_null(open_spec("file=%s", "/nonexistent/disk.img", err, sizeof(err), &rc));
	assert_int_equal(rc, -ENOENT);
	assert_non_null(strstr(err, "'/nonexistent/disk.img': no such file"));
	assert_null(open_spec("file=%s,ro", "/tmp", err, sizeof(err), &rc));
	assert_non_null(strstr(err, "'/tmp' is not a regular file or block device"));
	/* one writer at a time, or any number of readers */
	open_disk(f, "file=%s");
	assert_null(open_spec("file=%s", f->path, err, sizeof(err), &rc));
	assert_int_equal(rc, -EBUSY);
	assert_non_null(strstr(err, "in use"));
	assert_null(open_spec("file=%s,ro", f->path, err, sizeof(err), &rc));
	assert_int_equal(rc, -EBUSY);
}

static void test_open_read_only_file_needs_ro(void **state)
{
	struct fixture *f = *state;
	const char *path = f->path;
	struct block *bk;
	char err[256] = "";
	int rc;

	/* root writes a mode-0444 file anyway; sysfs refuses even root */
	if (geteuid() == 0)
		path = "/sys/kernel/notes";
	else
		assert_int_equal(chmod(f->path, 0444), 0);
	if (access(path, R_OK)) {
		skip();
		return;
	}
	assert_null(open_spec("file=%s", path, err, sizeof(err), &rc));
	if (!strstr(err, "cannot be written") || !strstr(err, "add ,ro"))
		fail_msg("error '%s' does not say to add ,ro", err);
	bk = open_spec("file=%s,ro", path, err, sizeof(err), &rc);
	assert_non_null(bk);
	assert_true(bk->read_only);
	block_close(bk);
}

/* ---- configuration ---- */

static void test_config_and_features(void **state)
{
	struct fixture *f = *state;
	struct virtio_blk_config cfg;
	uint64_t features;

	open_disk(f, "file=%s");
	features = virtio_blk_features(&f->disk);
	assert_true(features & (1ULL << VIRTIO_BLK_F_SEG_MAX));
	assert_true(features & (1ULL << VIRTIO_BLK_F_BLK_SIZE));
	assert_true(features & (1ULL << VIRTIO_BLK_F_FLUSH));
	assert_true(features & (1ULL << VIRTIO_BLK_F_DISCARD));
	assert_true(features & (1ULL << VIRTIO_BLK_F_WRITE_ZEROES));
	assert_false(features & (1ULL << VIRTIO_BLK_F_RO));
	virtio_blk_config_fill(&f->disk, &cfg);
	assert_int_equal(le64toh(cfg.capacity), DISK_SECTORS);
	assert_int_equal(le32toh(cfg.seg_max), QSIZE - 2);
	assert_int_equal(le32toh(cfg.blk_size), 512);
	assert_int_equal(le16toh(cfg.num_queues), 1);
	assert_true(le32toh(cfg.max_discard_sectors) > 0);
	assert_true(le32toh(cfg.max_discard_seg) >= 1);
	assert_int_equal(le32toh(cfg.discard_sector_alignment), 8);
	assert_true(le32toh(cfg.max_write_zeroes_sectors) > 0);
	assert_int_equal(cfg.write_zeroes_may_unmap, 1);
	/* the offsets of 5.2.4 */
	assert_int_equal(offsetof(struct virtio_blk_config, blk_size), 20);
	assert_int_equal(offsetof(struct virtio_blk_config, num_queues), 34);
	assert_int_equal(offsetof(struct virtio_blk_config, max_discard_sectors), 36);
	assert_int_equal(offsetof(struct virtio_blk_config, write_zeroes_may_unmap), 56);
}

static void test_config_read_only_and_no_discard(void **state)
{
	struct fixture *f = *state;
	struct virtio_blk_config cfg;
	struct block *bk;
	char err[256];
	int rc;

	open_disk(f, "file=%s,ro");
	assert_true(virtio_blk_features(&f->disk) & (1ULL << VIRTIO_BLK_F_RO));
	assert_false(virtio_blk_features(&f->disk) & (1ULL << VIRTIO_BLK_F_DISCARD));
	assert_false(virtio_blk_features(&f->disk) & (1ULL << VIRTIO_BLK_F_WRITE_ZEROES));
	virtio_blk_config_fill(&f->disk, &cfg);
	assert_int_equal(cfg.max_discard_sectors, 0);
	assert_int_equal(cfg.max_write_zeroes_sectors, 0);
	block_close(f->bk);
	/* discard=off: no DISCARD, and write-zeroes may not unmap */
	bk = open_spec("file=%s,discard=off", f->path, err, sizeof(err), &rc);
	assert_non_null(bk);
	f->bk = bk;
	virtio_blk_disk_init(&f->disk, bk, false, 0, "test-disk");
	assert_false(virtio_blk_features(&f->disk) & (1ULL << VIRTIO_BLK_F_DISCARD));
	assert_true(virtio_blk_features(&f->disk) & (1ULL << VIRTIO_BLK_F_WRITE_ZEROES));
	virtio_blk_config_fill(&f->disk, &cfg);
	assert_int_equal(cfg.write_zeroes_may_unmap, 0);
}

static int setup_odd_size(void **state)
{
	return setup_image(state, 10 * SECTOR + 100);
}

static void test_capacity_rounds_down(void **state)
{
	struct fixture *f = *state;

	open_disk(f, "file=%s");
	assert_int_equal(f->disk.capacity, 10);
	assert_int_equal(request(f, VIRTIO_BLK_T_IN, 9, SECTOR), VIRTIO_BLK_S_OK);
	assert_int_equal(request(f, VIRTIO_BLK_T_IN, 10, SECTOR), VIRTIO_BLK_S_IOERR);
}

/* ---- reads and writes ---- */

static void test_write_then_read_round_trip(void **state)
{
	struct fixture *f = *state;
	uint8_t want[4 * SECTOR], got[4 * SECTOR];

	open_disk(f, "file=%s");
	fill_pattern(want, sizeof(want), 1);
	memcpy(hva(f, DATA), want, sizeof(want));
	assert_int_equal(request(f, VIRTIO_BLK_T_OUT, 100, sizeof(want)), VIRTIO_BLK_S_OK);
	assert_int_equal(f->used_len, 1);
	file_read(f, 100 * SECTOR, got, sizeof(got));
	assert_memory_equal(got, want, sizeof(want));

	memset(hva(f, DATA), 0, sizeof(want));
	assert_int_equal(request(f, VIRTIO_BLK_T_IN, 100, sizeof(want)), VIRTIO_BLK_S_OK);
	assert_int_equal(f->used_len, sizeof(want) + 1);
	assert_memory_equal(hva(f, DATA), want, sizeof(want));
}

/* Any layout (Virtio 1.x has no framing): the header shares a buffer with
 * the data, data segments split a sector, the status shares the last
 * writable buffer with data. */
static void test_any_layout(void **state)
{
	struct fixture *f = *state;
	uint8_t want[3 * SECTOR], got[3 * SECTOR];
	struct virtio_blk_req_hdr h = { htole32(VIRTIO_BLK_T_OUT), 0, htole64(7) };

	open_disk(f, "file=%s");
	fill_pattern(want, sizeof(want), 2);
	/* OUT: [hdr + 100 bytes] [700 bytes] [the rest]; then status */
	assert_int_equal(mem_write(&f->mem, DATA, &h, sizeof(h)), 0);
	assert_int_equal(mem_write(&f->mem, DATA + 16, want, 100), 0);
	assert_int_equal(mem_write(&f->mem, DATA + 0x1000, want + 100, 700), 0);
	assert_int_equal(mem_write(&f->mem, DATA + 0x2000, want + 800, sizeof(want) - 800), 0);
	*(uint8_t *)hva(f, STATUS) = NO_STATUS;
	submit(f, (struct seg[]){ { DATA, 116, 0 }, { DATA + 0x1000, 700, 0 },
				  { DATA + 0x2000, sizeof(want) - 800, 0 }, { STATUS, 1, 1 } }, 4);
	assert_int_equal(handle(f), VIRTIO_BLK_S_OK);
	file_read(f, 7 * SECTOR, got, sizeof(got));
	assert_memory_equal(got, want, sizeof(want));

	/* IN: [hdr] then [1000 bytes] [the rest + status] */
	put_hdr(f, VIRTIO_BLK_T_IN, 7);
	memset(hva(f, DATA + 0x4000), 0, 0x2000);
	submit(f, (struct seg[]){ { HDR, 16, 0 }, { DATA + 0x4000, 1000, 1 },
				  { DATA + 0x5000, sizeof(want) - 1000 + 1, 1 } }, 3);
	assert_int_equal(virtio_blk_request(&f->disk, f->elem, &f->used_len), 0);
	assert_memory_equal(hva(f, DATA + 0x4000), want, 1000);
	assert_memory_equal(hva(f, DATA + 0x5000), want + 1000, sizeof(want) - 1000);
	/* the status is the last writable byte, right after the data */
	assert_int_equal(*(uint8_t *)hva(f, DATA + 0x5000 + sizeof(want) - 1000), VIRTIO_BLK_S_OK);
}

static void test_read_at_the_last_sector(void **state)
{
	struct fixture *f = *state;
	uint8_t want[SECTOR];

	open_disk(f, "file=%s");
	fill_pattern(want, sizeof(want), 3);
	file_write(f, (DISK_SECTORS - 1) * SECTOR, want, sizeof(want));
	assert_int_equal(request(f, VIRTIO_BLK_T_IN, DISK_SECTORS - 1, SECTOR), VIRTIO_BLK_S_OK);
	assert_memory_equal(hva(f, DATA), want, sizeof(want));
}

static void test_out_of_range_is_ioerr(void **state)
{
	struct fixture *f = *state;
	uint8_t before[2 * SECTOR], after[2 * SECTOR];

	open_disk(f, "file=%s");
	file_read(f, (DISK_SECTORS - 2) * SECTOR, before, sizeof(before));
	memset(hva(f, DATA), 0x5a, 4 * SECTOR);
	/* starts past the end, or runs past it */
	assert_int_equal(request(f, VIRTIO_BLK_T_IN, DISK_SECTORS, SECTOR), VIRTIO_BLK_S_IOERR);
	assert_int_equal(request(f, VIRTIO_BLK_T_OUT, DISK_SECTORS, SECTOR), VIRTIO_BLK_S_IOERR);
	assert_int_equal(request(f, VIRTIO_BLK_T_OUT, DISK_SECTORS - 1, 2 * SECTOR),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(request(f, VIRTIO_BLK_T_IN, DISK_SECTORS - 1, 2 * SECTOR),
			 VIRTIO_BLK_S_IOERR);
	/* sector * 512 and sector + length would overflow 64 bits */
	assert_int_equal(request(f, VIRTIO_BLK_T_OUT, UINT64_MAX, SECTOR), VIRTIO_BLK_S_IOERR);
	assert_int_equal(request(f, VIRTIO_BLK_T_IN, 1ULL << 55, SECTOR), VIRTIO_BLK_S_IOERR);
	assert_int_equal(request(f, VIRTIO_BLK_T_IN, UINT64_MAX - 1, 4 * SECTOR),
			 VIRTIO_BLK_S_IOERR);
	/* not whole sectors */
	assert_int_equal(request(f, VIRTIO_BLK_T_OUT, 0, 100), VIRTIO_BLK_S_IOERR);
	assert_int_equal(request(f, VIRTIO_BLK_T_IN, 0, SECTOR + 1), VIRTIO_BLK_S_IOERR);
	/* nothing was written, nothing read */
	file_read(f, (DISK_SECTORS - 2) * SECTOR, after, sizeof(after));
	assert_memory_equal(before, after, sizeof(before));
	assert_int_equal(*(uint8_t *)hva(f, DATA), 0x5a);
}

/* An image cut short under a running guest: the read that runs into the
 * new end (after a short transfer) fails instead of returning stale data. */
static void test_image_shrunk_is_ioerr(void **state)
{
	struct fixture *f = *state;

	open_disk(f, "file=%s");
	assert_int_equal(ftruncate(f->fd, DISK_SECTORS * SECTOR - 256), 0);
	put_hdr(f, VIRTIO_BLK_T_IN, DISK_SECTORS - 2);
	submit(f, (struct seg[]){ { HDR, 16, 0 }, { DATA, 300, 1 }, { DATA + 0x1000, 300, 1 },
				  { DATA + 0x2000, 2 * SECTOR - 600, 1 }, { STATUS, 1, 1 } }, 5);
	assert_int_equal(handle(f), VIRTIO_BLK_S_IOERR);
	assert_int_equal(request(f, VIRTIO_BLK_T_IN, DISK_SECTORS - 3, SECTOR), VIRTIO_BLK_S_OK);
}

static void test_write_to_read_only_is_ioerr(void **state)
{
	struct fixture *f = *state;
	uint8_t want[SECTOR], got[SECTOR];

	fill_pattern(want, sizeof(want), 4);
	file_write(f, 0, want, sizeof(want));
	open_disk(f, "file=%s,ro");
	memset(hva(f, DATA), 0xab, SECTOR);
	assert_int_equal(request(f, VIRTIO_BLK_T_OUT, 0, SECTOR), VIRTIO_BLK_S_IOERR);
	assert_int_equal(request(f, VIRTIO_BLK_T_WRITE_ZEROES, 0, 0), VIRTIO_BLK_S_IOERR);
	assert_int_equal(request(f, VIRTIO_BLK_T_DISCARD, 0, 0), VIRTIO_BLK_S_IOERR);
	file_read(f, 0, got, sizeof(got));
	assert_memory_equal(got, want, sizeof(want));
	/* reads and flushes still work */
	assert_int_equal(request(f, VIRTIO_BLK_T_IN, 0, SECTOR), VIRTIO_BLK_S_OK);
	assert_memory_equal(hva(f, DATA), want, sizeof(want));
	assert_int_equal(request(f, VIRTIO_BLK_T_FLUSH, 0, 0), VIRTIO_BLK_S_OK);
}

static void test_flush_and_get_id(void **state)
{
	struct fixture *f = *state;
	char want[VIRTIO_BLK_ID_BYTES] = "duet-3";

	open_disk(f, "file=%s");
	assert_int_equal(request(f, VIRTIO_BLK_T_FLUSH, 0, 0), VIRTIO_BLK_S_OK);
	memset(hva(f, DATA), 0xff, 64);
	assert_int_equal(request(f, VIRTIO_BLK_T_GET_ID, 0, VIRTIO_BLK_ID_BYTES), VIRTIO_BLK_S_OK);
	assert_memory_equal(hva(f, DATA), want, sizeof(want));
	/* a shorter buffer gets what fits */
	memset(hva(f, DATA), 0xff, 64);
	assert_int_equal(request(f, VIRTIO_BLK_T_GET_ID, 0, 4), VIRTIO_BLK_S_OK);
	assert_memory_equal(hva(f, DATA), "duet", 4);
	assert_int_equal(*(uint8_t *)hva(f, DATA + 4), 0xff);
}

/* ---- malformed requests ---- */

static void test_unknown_type_is_unsupp(void **state)
{
	struct fixture *f = *state;

	open_disk(f, "file=%s");
	assert_int_equal(request(f, 2, 0, 0), VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(request(f, VIRTIO_BLK_T_GET_LIFETIME, 0, 0), VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(request(f, VIRTIO_BLK_T_SECURE_ERASE, 0, 0), VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(request(f, 0xffffffff, 0, 0), VIRTIO_BLK_S_UNSUPP);
}

static void test_short_header_is_ioerr(void **state)
{
	struct fixture *f = *state;

	open_disk(f, "file=%s");
	memset(hva(f, DATA), 0x11, SECTOR);
	put_hdr(f, VIRTIO_BLK_T_OUT, 0);
	submit(f, (struct seg[]){ { HDR, 15, 0 }, { STATUS, 1, 1 } }, 2);
	assert_int_equal(handle(f), VIRTIO_BLK_S_IOERR);
	/* no device-readable part at all */
	*(uint8_t *)hva(f, STATUS) = NO_STATUS;
	submit(f, (struct seg[]){ { DATA, SECTOR, 1 }, { STATUS, 1, 1 } }, 2);
	assert_int_equal(handle(f), VIRTIO_BLK_S_IOERR);
	assert_int_equal(*(uint8_t *)hva(f, DATA), 0x11);
}

static void test_no_status_byte_breaks_the_queue(void **state)
{
	struct fixture *f = *state;
	uint32_t used = 12345;

	open_disk(f, "file=%s");
	put_hdr(f, VIRTIO_BLK_T_OUT, 0);
	submit(f, (struct seg[]){ { HDR, 16, 0 }, { DATA, SECTOR, 0 } }, 2);
	assert_int_equal(virtio_blk_request(&f->disk, f->elem, &used), -EINVAL);
	assert_int_equal(used, 12345);
	submit(f, (struct seg[]){ { HDR, 16, 0 } }, 1);
	assert_int_equal(virtio_blk_request(&f->disk, f->elem, &used), -EINVAL);
}

/* The status is the last writable byte even when a write offers more. */
static void test_status_is_the_last_writable_byte(void **state)
{
	struct fixture *f = *state;

	open_disk(f, "file=%s");
	put_hdr(f, VIRTIO_BLK_T_FLUSH, 0);
	memset(hva(f, DATA), 0x77, 8);
	submit(f, (struct seg[]){ { HDR, 16, 0 }, { DATA, 8, 1 } }, 2);
	assert_int_equal(virtio_blk_request(&f->disk, f->elem, &f->used_len), 0);
	assert_int_equal(*(uint8_t *)hva(f, DATA + 7), VIRTIO_BLK_S_OK);
	assert_int_equal(*(uint8_t *)hva(f, DATA), 0x77);
}

/* ---- discard and write zeroes ---- */

static void put_segment(struct fixture *f, unsigned i, uint64_t sector, uint32_t num,
			uint32_t flags)
{
	struct virtio_blk_discard_write_zeroes s = { htole64(sector), htole32(num),
						     htole32(flags) };

	assert_int_equal(mem_write(&f->mem, SEGS + 16ULL * i, &s, sizeof(s)), 0);
}

/* range_request: DISCARD or WRITE_ZEROES with `bytes` of segments. */
static uint8_t range_request(struct fixture *f, uint32_t type, uint32_t bytes)
{
	put_hdr(f, type, 0);
	submit(f, (struct seg[]){ { HDR, 16, 0 }, { SEGS, bytes, 0 }, { STATUS, 1, 1 } }, 3);
	return handle(f);
}

/* fill_file: every byte of the image written, so every block allocated. */
static void fill_file(struct fixture *f)
{
	static uint8_t buf[DISK_SECTORS * SECTOR];

	fill_pattern(buf, sizeof(buf), 5);
	file_write(f, 0, buf, sizeof(buf));
	assert_int_equal(fsync(f->fd), 0);
}

static void test_discard_punches_a_hole(void **state)
{
	struct fixture *f = *state;
	static uint8_t got[128 * 1024];
	struct stat before, after;

	open_disk(f, "file=%s");
	fill_file(f);
	assert_int_equal(fstat(f->fd, &before), 0);
	/* 128 KiB at 256 KiB, and 64 KiB at 640 KiB, in one request */
	put_segment(f, 0, 512, 256, 0);
	put_segment(f, 1, 1280, 128, 0);
	assert_int_equal(range_request(f, VIRTIO_BLK_T_DISCARD, 32), VIRTIO_BLK_S_OK);
	assert_int_equal(fstat(f->fd, &after), 0);
	assert_int_equal(after.st_size, before.st_size);
	if (after.st_blocks > before.st_blocks - (192 * 1024) / 512)
		fail_msg("st_blocks went from %lld to %lld: no hole punched",
			 (long long)before.st_blocks, (long long)after.st_blocks);
	assert_int_equal(lseek(f->fd, 256 * 1024, SEEK_HOLE), 256 * 1024);
	file_read(f, 256 * 1024, got, sizeof(got));
	assert_true(all_zero(got, sizeof(got)));
	/* the neighbours are untouched */
	file_read(f, 255 * 1024, got, 1024);
	assert_false(all_zero(got, 1024));
}

static void test_discard_segments_are_checked(void **state)
{
	struct fixture *f = *state;
	struct stat before, after;

	open_disk(f, "file=%s");
	fill_file(f);
	assert_int_equal(fstat(f->fd, &before), 0);
	/* 5.2.6.2: UNMAP on a discard, or an unknown flag, is UNSUPP */
	put_segment(f, 0, 0, 8, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
	assert_int_equal(range_request(f, VIRTIO_BLK_T_DISCARD, 16), VIRTIO_BLK_S_UNSUPP);
	put_segment(f, 0, 0, 8, 2);
	assert_int_equal(range_request(f, VIRTIO_BLK_T_DISCARD, 16), VIRTIO_BLK_S_UNSUPP);
	/* off the disk, overflowing, or longer than max_discard_sectors */
	put_segment(f, 0, DISK_SECTORS - 4, 8, 0);
	assert_int_equal(range_request(f, VIRTIO_BLK_T_DISCARD, 16), VIRTIO_BLK_S_IOERR);
	put_segment(f, 0, UINT64_MAX - 2, 8, 0);
	assert_int_equal(range_request(f, VIRTIO_BLK_T_DISCARD, 16), VIRTIO_BLK_S_IOERR);
	put_segment(f, 0, 0, VIRTIO_BLK_MAX_DISCARD_SECTORS + 1, 0);
	assert_int_equal(range_request(f, VIRTIO_BLK_T_DISCARD, 16), VIRTIO_BLK_S_IOERR);
	/* a good segment then a bad one: nothing is done */
	put_segment(f, 0, 0, 256, 0);
	put_segment(f, 1, DISK_SECTORS, 1, 0);
	assert_int_equal(range_request(f, VIRTIO_BLK_T_DISCARD, 32), VIRTIO_BLK_S_IOERR);
	/* not whole segments, none, or more than max_discard_seg */
	assert_int_equal(range_request(f, VIRTIO_BLK_T_DISCARD, 24), VIRTIO_BLK_S_IOERR);
	assert_int_equal(request(f, VIRTIO_BLK_T_DISCARD, 0, 0), VIRTIO_BLK_S_IOERR);
	for (unsigned i = 0; i <= VIRTIO_BLK_MAX_DISCARD_SEG; i++)
		put_segment(f, i, 8ULL * i, 8, 0);
	assert_int_equal(range_request(f, VIRTIO_BLK_T_DISCARD, 16 * (VIRTIO_BLK_MAX_DISCARD_SEG + 1)),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(fstat(f->fd, &after), 0);
	assert_int_equal(after.st_blocks, before.st_blocks);
}

static void test_discard_off_is_unsupp(void **state)
{
	struct fixture *f = *state;
	struct block *bk;
	char err[256];
	int rc;

	bk = open_spec("file=%s,discard=off", f->path, err, sizeof(err), &rc);
	assert_non_null(bk);
	f->bk = bk;
	virtio_blk_disk_init(&f->disk, bk, false, 0, "test-disk");
	put_segment(f, 0, 0, 8, 0);
	assert_int_equal(range_request(f, VIRTIO_BLK_T_DISCARD, 16), VIRTIO_BLK_S_UNSUPP);
}

static void test_write_zeroes(void **state)
{
	struct fixture *f = *state;
	static uint8_t got[64 * 1024];

	open_disk(f, "file=%s");
	fill_file(f);
	/* 64 KiB at 64 KiB, kept allocated */
	put_segment(f, 0, 128, 128, 0);
	assert_int_equal(range_request(f, VIRTIO_BLK_T_WRITE_ZEROES, 16), VIRTIO_BLK_S_OK);
	file_read(f, 64 * 1024, got, sizeof(got));
	assert_true(all_zero(got, sizeof(got)));
	/* with UNMAP: a hole */
	put_segment(f, 0, 512, 128, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
	assert_int_equal(range_request(f, VIRTIO_BLK_T_WRITE_ZEROES, 16), VIRTIO_BLK_S_OK);
	file_read(f, 256 * 1024, got, sizeof(got));
	assert_true(all_zero(got, sizeof(got)));
	assert_int_equal(lseek(f->fd, 256 * 1024, SEEK_HOLE), 256 * 1024);
	/* neighbours untouched; bad segments refused */
	file_read(f, 128 * 1024, got, 512);
	assert_false(all_zero(got, 512));
	put_segment(f, 0, 0, 8, 4);
	assert_int_equal(range_request(f, VIRTIO_BLK_T_WRITE_ZEROES, 16), VIRTIO_BLK_S_UNSUPP);
	put_segment(f, 0, 0, VIRTIO_BLK_MAX_WRITE_ZEROES_SECTORS + 1, 0);
	assert_int_equal(range_request(f, VIRTIO_BLK_T_WRITE_ZEROES, 16), VIRTIO_BLK_S_IOERR);
	put_segment(f, 1, 0, 8, 0);
	assert_int_equal(range_request(f, VIRTIO_BLK_T_WRITE_ZEROES, 32), VIRTIO_BLK_S_IOERR);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_parses_every_option),
		cmocka_unit_test(test_spec_errors_say_what_is_wrong),
		cmocka_unit_test_setup_teardown(test_open_errors_name_the_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_read_only_file_needs_ro, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_and_features, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_read_only_and_no_discard, setup, teardown),
		cmocka_unit_test_setup_teardown(test_capacity_rounds_down, setup_odd_size, teardown),
		cmocka_unit_test_setup_teardown(test_write_then_read_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_any_layout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_at_the_last_sector, setup, teardown),
		cmocka_unit_test_setup_teardown(test_out_of_range_is_ioerr, setup, teardown),
		cmocka_unit_test_setup_teardown(test_image_shrunk_is_ioerr, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_to_read_only_is_ioerr, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flush_and_get_id, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_type_is_unsupp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_short_header_is_ioerr, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_status_byte_breaks_the_queue, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_is_the_last_writable_byte, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_discard_punches_a_hole, setup, teardown),
		cmocka_unit_test_setup_teardown(test_discard_segments_are_checked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_discard_off_is_unsupp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_zeroes, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
