/* Pins vmm/block_overlay.c, the copy-on-write RAM overlay, and its
 * --disk keys in vmm/block.c: the base is opened O_RDONLY and its bytes
 * never change; a random workload of reads, writes, discards and
 * write-zeroes (byte offsets, split iovecs) reads back exactly what an
 * in-memory model holds; partial-cluster writes and writes across cluster
 * boundaries keep the base's bytes around them; a read of untouched
 * clusters is one straight read from the base with the caller's iovecs;
 * discard and write-zeroes free memory and read as zeroes; overlay-limit
 * refuses new clusters and changes nothing; a failing base read leaves the
 * overlay as it was; two threads at once; virtio-blk sees a writable
 * disk. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
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

#define CLUSTER 4096
/* Not a whole number of clusters: the last one is short. */
#define DISK_SIZE (2 * 1024 * 1024 + 3 * 512 + 100)

/* ---- a base that counts and can fail: the overlay sees only a struct block ---- */

struct counting_base {
	struct block bk;
	struct block *inner;
	int preadv_calls;
	const struct iovec *last_iov; /* the array the last preadv got */
	int last_iovcnt;
	int fail_reads_after;         /* -1: never */
};

static int counting_preadv(struct block *bk, const struct iovec *iov, int iovcnt,
			   uint64_t offset)
{
	struct counting_base *c = (struct counting_base *)bk;

	c->preadv_calls++;
	c->last_iov = iov;
	c->last_iovcnt = iovcnt;
	if (c->fail_reads_after >= 0 && c->preadv_calls > c->fail_reads_after)
		return -EIO;
	return block_preadv(c->inner, iov, iovcnt, offset);
}

static int counting_never(void)
{
	fail_msg("the overlay wrote to, flushed or discarded its base");
	return -EIO;
}

static int counting_pwritev(struct block *bk, const struct iovec *iov, int iovcnt,
			    uint64_t offset)
{
	(void)bk, (void)iov, (void)iovcnt, (void)offset;
	return counting_never();
}

static int counting_flush(struct block *bk)
{
	(void)bk;
	return counting_never();
}

static int counting_discard(struct block *bk, uint64_t offset, uint64_t len)
{
	(void)bk, (void)offset, (void)len;
	return counting_never();
}

static int counting_write_zeroes(struct block *bk, uint64_t offset, uint64_t len, bool unmap)
{
	(void)bk, (void)offset, (void)len, (void)unmap;
	return counting_never();
}

static void counting_close(struct block *bk)
{
	struct counting_base *c = (struct counting_base *)bk;

	block_close(c->inner);
	free(c);
}

static const struct block_ops counting_ops = {
	.preadv = counting_preadv,
	.pwritev = counting_pwritev,
	.flush = counting_flush,
	.discard = counting_discard,
	.write_zeroes = counting_write_zeroes,
	.close = counting_close,
};

/* ---- the fixture: a temporary base file full of known bytes ---- */

struct fixture {
	char path[64];
	uint8_t *original;   /* the base file's bytes as written */
	uint8_t *model;      /* what the disk must read as */
	struct block *bk;    /* the overlay */
	struct counting_base *base; /* set when the overlay is over one */
};

static uint64_t rng_state;

/* xorshift64: reproducible from the seed printed on failure. */
static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static uint64_t rng_below(uint64_t n)
{
	return n ? rng() % n : 0;
}

static void fill_random(uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)rng();
}

static struct fixture *make_base(void)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR");
	int fd;

	assert_non_null(f);
	rng_state = 0x9e3779b97f4a7c15ULL;
	f->original = malloc(DISK_SIZE);
	f->model = malloc(DISK_SIZE);
	assert_non_null(f->original);
	assert_non_null(f->model);
	fill_random(f->original, DISK_SIZE);
	memcpy(f->model, f->original, DISK_SIZE);
	snprintf(f->path, sizeof(f->path), "%s/duet-overlay-XXXXXX", tmp ? tmp : "/tmp");
	fd = mkstemp(f->path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, f->original, DISK_SIZE), DISK_SIZE);
	close(fd);
	return f;
}

/* open_overlay: the fixture's file through the --disk spec, as duet-vmm
 * opens it; `extra` is appended to file=PATH. */
static void open_overlay(struct fixture *f, const char *extra)
{
	struct block_spec spec;
	char text[192], err[256] = "";

	snprintf(text, sizeof(text), "file=%s,overlay=ram%s", f->path, extra);
	assert_int_equal(block_spec_parse(text, &spec, err, sizeof(err)), 0);
	if (block_open(&spec, &f->bk, err, sizeof(err)))
		fail_msg("opening '%s': %s", text, err);
	block_spec_free(&spec);
}

/* open_counted: an overlay over a counting base over the file. */
static void open_counted(struct fixture *f, uint64_t limit)
{
	struct block_spec spec;
	char text[128], err[256] = "";

	f->base = calloc(1, sizeof(*f->base));
	assert_non_null(f->base);
	snprintf(text, sizeof(text), "file=%s,ro", f->path);
	assert_int_equal(block_spec_parse(text, &spec, err, sizeof(err)), 0);
	assert_int_equal(block_open(&spec, &f->base->inner, err, sizeof(err)), 0);
	block_spec_free(&spec);
	f->base->bk = (struct block){ &counting_ops, f->base->inner->size, true };
	f->base->fail_reads_after = -1;
	if (block_overlay_new(&f->base->bk, "counted", limit, &f->bk, err, sizeof(err)))
		fail_msg("block_overlay_new: %s", err);
}

static int setup(void **state)
{
	struct fixture *f = make_base();

	open_overlay(f, "");
	*state = f;
	return 0;
}

static int setup_counted(void **state)
{
	struct fixture *f = make_base();

	open_counted(f, 0);
	*state = f;
	return 0;
}

static int setup_plain(void **state)
{
	*state = make_base();
	return 0;
}

/* base_unchanged: the file holds exactly the bytes it was made with. */
static void base_unchanged(struct fixture *f)
{
	uint8_t *now = malloc(DISK_SIZE + 1);
	int fd = open(f->path, O_RDONLY);
	ssize_t n;

	assert_non_null(now);
	assert_true(fd >= 0);
	n = pread(fd, now, DISK_SIZE + 1, 0);
	close(fd);
	assert_int_equal(n, DISK_SIZE);
	if (memcmp(now, f->original, DISK_SIZE))
		fail_msg("the base file changed");
	free(now);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	block_close(f->bk);
	base_unchanged(f);
	unlink(f->path);
	free(f->original);
	free(f->model);
	free(f);
	return 0;
}

/* ---- helpers: transfers through split iovecs, checked against the model ---- */

/* split: buf as up to `max` iovecs of random lengths, some empty. */
static int split(uint8_t *buf, size_t len, struct iovec *iov, int max)
{
	int n = 0;

	while (len && n < max - 1) {
		size_t piece = rng_below(4) == 0 ? 0 : rng_below(len + 1);

		iov[n++] = (struct iovec){ buf, piece };
		buf += piece;
		len -= piece;
	}
	iov[n++] = (struct iovec){ buf, len };
	return n;
}

static void disk_write(struct fixture *f, uint64_t offset, const uint8_t *data, size_t len)
{
	struct iovec iov[8];
	uint8_t *copy = malloc(len + 1);
	int n;

	assert_non_null(copy);
	memcpy(copy, data, len);
	n = split(copy, len, iov, 8);
	assert_int_equal(block_pwritev(f->bk, iov, n, offset), 0);
	memcpy(f->model + offset, data, len);
	free(copy);
}

/* expect_read: the disk's [offset, offset + len) reads as the model's. */
static void expect_read(struct fixture *f, uint64_t offset, size_t len)
{
	uint8_t *buf = malloc(len + 1);
	struct iovec iov[8];
	int n = split(buf, len, iov, 8);

	assert_non_null(buf);
	memset(buf, 0xa5, len);
	assert_int_equal(block_preadv(f->bk, iov, n, offset), 0);
	for (size_t i = 0; i < len; i++)
		if (buf[i] != f->model[offset + i])
			fail_msg("byte %llu reads 0x%02x, not 0x%02x",
				 (unsigned long long)(offset + i), buf[i], f->model[offset + i]);
	free(buf);
}

static void model_zero(struct fixture *f, uint64_t offset, uint64_t len)
{
	memset(f->model + offset, 0, len);
}

/* model_discard: a discard zeroes the clusters it covers whole (the
 * disk's short last one included when it reaches the end). */
static void model_discard(struct fixture *f, uint64_t offset, uint64_t len)
{
	uint64_t from = (offset + CLUSTER - 1) / CLUSTER * CLUSTER;
	uint64_t to = offset + len == DISK_SIZE ? DISK_SIZE : (offset + len) / CLUSTER * CLUSTER;

	if (to > from)
		model_zero(f, from, to - from);
}

/* base_fd_flags: the flags of the descriptor duet has open on the file. */
static int base_fd_flags(const char *path)
{
	char want[PATH_MAX], link[64], got[PATH_MAX];
	int flags = -1;

	assert_non_null(realpath(path, want));
	for (int fd = 0; fd < 1024; fd++) {
		ssize_t n;

		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		n = readlink(link, got, sizeof(got) - 1);
		if (n < 0)
			continue;
		got[n] = '\0';
		if (!strcmp(got, want)) {
			assert_int_equal(flags, -1);
			flags = fcntl(fd, F_GETFL);
		}
	}
	return flags;
}

/* ---- the spec ---- */

static void expect_spec_error(const char *text, const char *what)
{
	struct block_spec spec;
	char err[256] = "";

	assert_int_equal(block_spec_parse(text, &spec, err, sizeof(err)), -EINVAL);
	if (!strstr(err, what))
		fail_msg("--disk '%s': error '%s' does not say '%s'", text, err, what);
	assert_null(spec.file);
}

static void test_spec_overlay_keys(void **state)
{
	struct block_spec spec;
	char err[256];

	(void)state;
	assert_int_equal(block_spec_parse("file=win.img,overlay=ram", &spec, err, sizeof(err)), 0);
	assert_true(spec.overlay);
	assert_false(spec.read_only);
	assert_int_equal(spec.overlay_limit, 0);
	block_spec_free(&spec);
	assert_int_equal(block_spec_parse("overlay-limit=2G,file=win.img,overlay=ram", &spec, err,
					  sizeof(err)), 0);
	assert_true(spec.overlay);
	assert_int_equal(spec.overlay_limit, 2ULL << 30);
	block_spec_free(&spec);
	assert_int_equal(block_spec_parse("file=win.img", &spec, err, sizeof(err)), 0);
	assert_false(spec.overlay);
	block_spec_free(&spec);

	expect_spec_error("file=a.img,overlay=a.cow", "overlay= takes ram, not 'a.cow'");
	expect_spec_error("file=a.img,overlay", "overlay= takes ram");
	expect_spec_error("file=a.img,ro,overlay=ram", "ro and overlay= do not go together");
	expect_spec_error("file=a.img,overlay-limit=1G", "overlay-limit= needs overlay=ram");
	expect_spec_error("file=a.img,overlay=ram,overlay-limit=lots", "not 'lots'");
	expect_spec_error("file=a.img,overlay=ram,overlay-limit=0", "overlay-limit= takes a size");
	expect_spec_error("file=a.img,cache=none", "overlay=ram[,overlay-limit=SIZE]");
}

/* ---- opening ---- */

static void test_base_opened_read_only_guest_sees_writable(void **state)
{
	struct fixture *f = *state;
	struct block_spec spec;
	struct block *writer = NULL, *second = NULL;
	struct virtio_blk_disk disk;
	char text[128], err[256] = "";
	int flags = base_fd_flags(f->path);

	assert_true(flags >= 0);
	assert_int_equal(flags & O_ACCMODE, O_RDONLY);
	assert_int_equal(f->bk->size, DISK_SIZE);
	assert_false(f->bk->read_only);
	virtio_blk_disk_init(&disk, f->bk, true, 0, "test-disk");
	assert_int_equal(virtio_blk_features(&disk) & (1ULL << VIRTIO_BLK_F_RO), 0);
	assert_true(virtio_blk_features(&disk) & (1ULL << VIRTIO_BLK_F_DISCARD));

	/* Shared lock: a second overlay may share the base, a writer not. */
	snprintf(text, sizeof(text), "file=%s", f->path);
	assert_int_equal(block_spec_parse(text, &spec, err, sizeof(err)), 0);
	assert_int_equal(block_open(&spec, &writer, err, sizeof(err)), -EBUSY);
	block_spec_free(&spec);
	snprintf(text, sizeof(text), "file=%s,overlay=ram", f->path);
	assert_int_equal(block_spec_parse(text, &spec, err, sizeof(err)), 0);
	assert_int_equal(block_open(&spec, &second, err, sizeof(err)), 0);
	block_spec_free(&spec);
	block_close(second);
}

static void test_missing_base_says_so(void **state)
{
	struct block_spec spec;
	struct block *bk = NULL;
	char err[256] = "";

	(void)state;
	assert_int_equal(block_spec_parse("file=/nonexistent/win.img,overlay=ram", &spec, err,
					  sizeof(err)), 0);
	assert_int_equal(block_open(&spec, &bk, err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "'/nonexistent/win.img': no such file");
	block_spec_free(&spec);
}

/* ---- reads and writes ---- */

static void test_untouched_read_is_one_base_read(void **state)
{
	struct fixture *f = *state;
	uint8_t a[1000], b[3000];
	struct iovec iov[2] = { { a, sizeof(a) }, { b, sizeof(b) } };

	assert_int_equal(block_preadv(f->bk, iov, 2, 5000), 0);
	assert_int_equal(f->base->preadv_calls, 1);
	assert_ptr_equal(f->base->last_iov, iov);
	assert_int_equal(f->base->last_iovcnt, 2);
	assert_memory_equal(a, f->model + 5000, sizeof(a));
	assert_memory_equal(b, f->model + 6000, sizeof(b));
	assert_int_equal(block_overlay_bytes(f->bk), 0);

	/* Written whole: read back with no base call at all. */
	disk_write(f, 8192, f->original + 100000, 8192);
	f->base->preadv_calls = 0;
	expect_read(f, 8192, 8192);
	assert_int_equal(f->base->preadv_calls, 0);
	/* Across: base, overlay, base; the base parts are two reads. */
	expect_read(f, 4000, 12500);
	assert_int_equal(f->base->preadv_calls, 2);
}

static void test_partial_cluster_write_keeps_base_around_it(void **state)
{
	struct fixture *f = *state;
	uint8_t data[512];

	memset(data, 0x5a, sizeof(data));
	disk_write(f, 4096 + 1000, data, sizeof(data));
	/* The cluster's head and tail came from the base, once. */
	assert_int_equal(f->base->preadv_calls, 2);
	assert_int_equal(block_overlay_bytes(f->bk), CLUSTER);
	expect_read(f, 0, 3 * CLUSTER);
	/* Again into the same cluster: no copy-on-write this time. */
	f->base->preadv_calls = 0;
	disk_write(f, 4096 + 3000, data, 100);
	assert_int_equal(f->base->preadv_calls, 0);
	assert_int_equal(block_overlay_bytes(f->bk), CLUSTER);
	expect_read(f, 4096, CLUSTER);
	/* One byte at the very end: the short last cluster. */
	disk_write(f, DISK_SIZE - 1, data, 1);
	expect_read(f, DISK_SIZE - 2 * CLUSTER, 2 * CLUSTER);
}

static void test_write_across_cluster_boundaries(void **state)
{
	struct fixture *f = *state;
	uint8_t data[3 * CLUSTER + 200];

	memset(data, 0xc3, sizeof(data));
	/* cluster 0's last 96 bytes, 1..3 whole, 4's first 104 bytes */
	disk_write(f, CLUSTER - 96, data, sizeof(data));
	assert_int_equal(block_overlay_bytes(f->bk), 5 * CLUSTER);
	/* the base's parts: cluster 0's head and cluster 4's tail */
	assert_int_equal(f->base->preadv_calls, 2);
	expect_read(f, 0, 6 * CLUSTER);
	expect_read(f, CLUSTER - 97, 2);
	expect_read(f, 4 * CLUSTER + 104 - 1, 2);
}

/* ---- discard and write-zeroes ---- */

static void test_discard_frees_and_reads_zero(void **state)
{
	struct fixture *f = *state;
	uint8_t data[16 * CLUSTER];

	memset(data, 0x77, sizeof(data));
	disk_write(f, 0, data, sizeof(data));
	assert_int_equal(block_overlay_bytes(f->bk), 16 * CLUSTER);
	/* Clusters 2..5 whole, parts of 1 and 6 kept. */
	assert_int_equal(block_discard(f->bk, CLUSTER + 512, 5 * CLUSTER), 0);
	model_discard(f, CLUSTER + 512, 5 * CLUSTER);
	assert_int_equal(block_overlay_bytes(f->bk), 12 * CLUSTER);
	expect_read(f, 0, 16 * CLUSTER);
	/* Untouched clusters: zeroes, not the base, and no memory. */
	assert_int_equal(block_discard(f->bk, 64 * CLUSTER, 8 * CLUSTER), 0);
	model_discard(f, 64 * CLUSTER, 8 * CLUSTER);
	expect_read(f, 63 * CLUSTER, 10 * CLUSTER);
	assert_int_equal(block_overlay_bytes(f->bk), 12 * CLUSTER);
	/* The whole disk: everything zero, nothing held. */
	assert_int_equal(block_discard(f->bk, 0, DISK_SIZE), 0);
	model_discard(f, 0, DISK_SIZE);
	assert_int_equal(block_overlay_bytes(f->bk), 0);
	expect_read(f, 0, DISK_SIZE);
	/* A partly zeroed cluster written again: the rest stays zero. */
	disk_write(f, 3 * CLUSTER + 10, data, 20);
	expect_read(f, 3 * CLUSTER, CLUSTER);
}

static void test_write_zeroes(void **state)
{
	struct fixture *f = *state;
	uint8_t data[8 * CLUSTER];

	memset(data, 0x11, sizeof(data));
	disk_write(f, 0, data, sizeof(data));
	/* Whole clusters 1..4 dropped; 0 and 5 zeroed in part. */
	assert_int_equal(block_write_zeroes(f->bk, 1000, 5 * CLUSTER, true), 0);
	model_zero(f, 1000, 5 * CLUSTER);
	assert_int_equal(block_overlay_bytes(f->bk), 4 * CLUSTER);
	expect_read(f, 0, 10 * CLUSTER);
	/* Inside one untouched cluster: copy-on-write, then zeroes. */
	assert_int_equal(block_write_zeroes(f->bk, 20 * CLUSTER + 7, 300, false), 0);
	model_zero(f, 20 * CLUSTER + 7, 300);
	expect_read(f, 19 * CLUSTER, 3 * CLUSTER);
	/* Up to the end of the disk, the short last cluster included. */
	assert_int_equal(block_write_zeroes(f->bk, DISK_SIZE - 2 * CLUSTER - 5, 2 * CLUSTER + 5,
					    false), 0);
	model_zero(f, DISK_SIZE - 2 * CLUSTER - 5, 2 * CLUSTER + 5);
	expect_read(f, DISK_SIZE - 4 * CLUSTER, 4 * CLUSTER);
}

static void test_flush_does_nothing(void **state)
{
	struct fixture *f = *state;
	uint8_t data[512] = { 1 };

	disk_write(f, 0, data, sizeof(data));
	assert_int_equal(block_flush(f->bk), 0);
	expect_read(f, 0, CLUSTER);
}

/* ---- the limit ---- */

static void test_limit_refuses_new_clusters(void **state)
{
	struct fixture *f = *state;
	uint8_t data[2 * CLUSTER];
	struct iovec iov = { data, sizeof(data) };

	memset(data, 0x42, sizeof(data));
	disk_write(f, 0, data, sizeof(data));
	disk_write(f, 10 * CLUSTER, data, sizeof(data));
	assert_int_equal(block_overlay_bytes(f->bk), 4 * CLUSTER);
	/* A fifth and sixth cluster: refused whole, nothing written. */
	assert_int_equal(block_pwritev(f->bk, &iov, 1, 20 * CLUSTER - 100), -ENOSPC);
	assert_int_equal(block_write_zeroes(f->bk, 30 * CLUSTER + 1, 10, false), -ENOSPC);
	expect_read(f, 19 * CLUSTER, 3 * CLUSTER);
	expect_read(f, 30 * CLUSTER, CLUSTER);
	assert_int_equal(block_overlay_bytes(f->bk), 4 * CLUSTER);
	/* What is held can still be rewritten, across clusters. */
	memset(data, 0x43, sizeof(data));
	disk_write(f, CLUSTER / 2, data, sizeof(data) - CLUSTER);
	/* Freed memory takes new writes again. */
	assert_int_equal(block_discard(f->bk, 10 * CLUSTER, 2 * CLUSTER), 0);
	model_discard(f, 10 * CLUSTER, 2 * CLUSTER);
	disk_write(f, 20 * CLUSTER - 100, data, 200);
	assert_int_equal(block_overlay_bytes(f->bk), 4 * CLUSTER);
	expect_read(f, 0, 32 * CLUSTER);
}

static int setup_limited(void **state)
{
	struct fixture *f = make_base();

	open_overlay(f, ",overlay-limit=16K");
	*state = f;
	return 0;
}

/* ---- a failing base ---- */

static void test_base_read_error_changes_nothing(void **state)
{
	struct fixture *f = *state;
	uint8_t data[100];
	struct iovec iov = { data, sizeof(data) };

	memset(data, 0xee, sizeof(data));
	/* The copy-on-write read of the head works, the tail's fails. */
	f->base->fail_reads_after = 1;
	assert_int_equal(block_pwritev(f->bk, &iov, 1, 5 * CLUSTER + 10), -EIO);
	assert_int_equal(block_overlay_bytes(f->bk), 0);
	f->base->fail_reads_after = -1;
	expect_read(f, 5 * CLUSTER, CLUSTER);
	/* and the same write works once the base does */
	disk_write(f, 5 * CLUSTER + 10, data, sizeof(data));
	expect_read(f, 5 * CLUSTER, CLUSTER);
	/* A failing read of untouched clusters is the caller's error. */
	f->base->fail_reads_after = 0;
	f->base->preadv_calls = 0;
	assert_int_equal(block_preadv(f->bk, &iov, 1, 0), -EIO);
}

/* ---- the random workload ---- */

static void test_random_workload_matches_model(void **state)
{
	struct fixture *f = *state;
	uint8_t *data = malloc(256 * 1024);
	unsigned writes = 0, reads = 0, discards = 0, zeroes = 0;

	assert_non_null(data);
	for (int op = 0; op < 4000; op++) {
		/* Mostly sector-aligned, as device models ask; some not. */
		bool sectors = rng_below(4) != 0;
		uint64_t max = rng_below(8) == 0 ? 256 * 1024 : 3 * CLUSTER;
		uint64_t len = 1 + rng_below(max);
		uint64_t offset;

		if (sectors)
			len = (len + 511) / 512 * 512;
		if (len > DISK_SIZE)
			len = DISK_SIZE;
		offset = rng_below(DISK_SIZE - len + 1);
		if (sectors)
			offset = offset / 512 * 512;
		switch (rng_below(10)) {
		case 0: case 1: case 2: case 3:
			fill_random(data, len);
			disk_write(f, offset, data, len);
			writes++;
			break;
		case 4: case 5: case 6: case 7:
			expect_read(f, offset, len);
			reads++;
			break;
		case 8:
			assert_int_equal(block_discard(f->bk, offset, len), 0);
			model_discard(f, offset, len);
			discards++;
			break;
		default:
			assert_int_equal(block_write_zeroes(f->bk, offset, len, rng_below(2)), 0);
			model_zero(f, offset, len);
			zeroes++;
			break;
		}
	}
	expect_read(f, 0, DISK_SIZE);
	assert_true(writes && reads && discards && zeroes);
	assert_true(block_overlay_bytes(f->bk) <= ((uint64_t)DISK_SIZE + CLUSTER - 1) / CLUSTER * CLUSTER);
	free(data);
	/* teardown compares the base file with what it was made with */
}

/* ---- two threads ---- */

struct worker_arg {
	struct fixture *f;
	uint64_t first; /* this thread's clusters: first, first + 2, ... */
	int failures;
};

static void *worker(void *opaque)
{
	struct worker_arg *w = opaque;
	uint8_t out[CLUSTER + 512], in[CLUSTER + 512];

	for (int round = 0; round < 200; round++) {
		uint64_t c = w->first + 2 * (uint64_t)(round % 100);
		struct iovec wv = { out, CLUSTER }, rv = { in, CLUSTER };

		memset(out, (int)(c + (uint64_t)round), sizeof(out));
		if (block_pwritev(w->f->bk, &wv, 1, c * CLUSTER) ||
		    block_preadv(w->f->bk, &rv, 1, c * CLUSTER) || memcmp(in, out, CLUSTER))
			w->failures++;
		if (round % 7 == 0 && block_discard(w->f->bk, c * CLUSTER, CLUSTER))
			w->failures++;
	}
	return NULL;
}

static void test_two_threads(void **state)
{
	struct fixture *f = *state;
	struct worker_arg args[2] = { { f, 0, 0 }, { f, 1, 0 } };
	pthread_t threads[2];

	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&threads[i], NULL, worker, &args[i]), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_join(threads[i], NULL), 0);
	assert_int_equal(args[0].failures, 0);
	assert_int_equal(args[1].failures, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_overlay_keys),
		cmocka_unit_test_setup_teardown(test_base_opened_read_only_guest_sees_writable, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_missing_base_says_so, setup_plain, teardown),
		cmocka_unit_test_setup_teardown(test_untouched_read_is_one_base_read, setup_counted,
						teardown),
		cmocka_unit_test_setup_teardown(test_partial_cluster_write_keeps_base_around_it,
						setup_counted, teardown),
		cmocka_unit_test_setup_teardown(test_write_across_cluster_boundaries, setup_counted,
						teardown),
		cmocka_unit_test_setup_teardown(test_discard_frees_and_reads_zero, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_zeroes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flush_does_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limit_refuses_new_clusters, setup_limited,
						teardown),
		cmocka_unit_test_setup_teardown(test_base_read_error_changes_nothing, setup_counted,
						teardown),
		cmocka_unit_test_setup_teardown(test_random_workload_matches_model, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_threads, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
