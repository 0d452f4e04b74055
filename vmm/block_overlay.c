/* The copy-on-write RAM overlay (block.h; `--disk file=PATH,overlay=ram`):
 * a writable disk stacked on a base back end that is never written. Every
 * write lands in RAM; reads of what was never written go straight to the
 * base. Nothing is kept when duet-vmm ends, so each run of a classroom
 * guest starts from the same image. It knows the base only as a struct
 * block, so an NBD export can be the base as well as a file.
 *
 * The disk is cut into 4 KiB clusters, one x86 page each. The store is one
 * anonymous mapping as large as the disk, reserved (MAP_NORESERVE) but not
 * backed: the kernel's page tables are the sparse map from cluster to
 * memory. A page gets memory when the guest first writes its cluster and
 * gives it back on a discard (MADV_DONTNEED), with no allocator of ours in
 * between to fragment. Two bitmaps tell the three states of a cluster:
 *
 *   owned  resident
 *     0       0      BASE  never written: the base answers
 *     1       1      DATA  its page holds the guest's data
 *     1       0      ZERO  discarded or zeroed: reads as zeroes, no memory
 *
 * A BASE or ZERO cluster's page is untouched or dropped, so it reads as
 * zeroes; a partial write into one fills the rest from the base (BASE) or
 * leaves it zero (ZERO). `resident` clusters are what overlay-limit bounds.
 *
 * One lock per overlay covers each whole call: device models make one call
 * at a time per disk (block.h), the lock only keeps a second caller
 * correct. */
#include "block.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "log.h"

#define OVERLAY_CLUSTER ((uint64_t)4096)
#define MIB ((uint64_t)1 << 20)

enum cluster_state { CLUSTER_BASE, CLUSTER_DATA, CLUSTER_ZERO };

struct block_overlay {
	struct block bk;
	struct block *base;
	char *name;              /* the base's file, for messages */
	pthread_mutex_t lock;    /* everything below */
	uint8_t *store;          /* the mapping: byte N of the disk at store[N] */
	size_t store_len;
	uint64_t nclusters;
	uint64_t *owned, *resident;
	uint64_t resident_count;
	uint64_t peak_count;
	uint64_t limit_count;    /* most resident clusters; 0: no limit */
	bool limit_logged;
	struct iovec slice[IOV_MAX]; /* part of a caller's iovecs, for the base */
};

static struct block_overlay *to_overlay(struct block *bk)
{
	return (struct block_overlay *)bk;
}

/* ---- the cluster map ---- */

static bool bit_test(const uint64_t *map, uint64_t i)
{
	return map[i / 64] >> (i % 64) & 1;
}

static void bit_set(uint64_t *map, uint64_t i)
{
	map[i / 64] |= 1ULL << (i % 64);
}

static void bit_clear(uint64_t *map, uint64_t i)
{
	map[i / 64] &= ~(1ULL << (i % 64));
}

static enum cluster_state cluster_state(const struct block_overlay *o, uint64_t c)
{
	if (!bit_test(o->owned, c))
		return CLUSTER_BASE;
	return bit_test(o->resident, c) ? CLUSTER_DATA : CLUSTER_ZERO;
}

/* cluster_end: where cluster c ends on the disk; the last one may be
 * short when the size is not a whole number of clusters. */
static uint64_t cluster_end(const struct block_overlay *o, uint64_t c)
{
	uint64_t end = (c + 1) * OVERLAY_CLUSTER;

	return end < o->bk.size ? end : o->bk.size;
}

/* state_run: how many of the len bytes from offset lie in clusters that
 * are all in the state of the first. */
static uint64_t state_run(const struct block_overlay *o, uint64_t offset, uint64_t len,
			  enum cluster_state *state)
{
	uint64_t c = offset / OVERLAY_CLUSTER, end = offset + len;
	uint64_t run_end = cluster_end(o, c);

	*state = cluster_state(o, c);
	while (run_end < end && cluster_state(o, ++c) == *state)
		run_end = cluster_end(o, c);
	return (run_end < end ? run_end : end) - offset;
}

/* ---- walking a caller's iovecs ---- */

struct iov_pos {
	const struct iovec *iov;
	int left;    /* segments from iov on */
	size_t skip; /* bytes of iov[0] already used */
};

/* iov_next: the next contiguous piece, at most max bytes; advances. The
 * caller never asks for more than the iovecs hold (overlay_check). */
static size_t iov_next(struct iov_pos *p, size_t max, char **piece)
{
	size_t n;

	while (p->left && p->skip == p->iov->iov_len) {
		p->iov++;
		p->left--;
		p->skip = 0;
	}
	if (!p->left)
		return 0;
	n = p->iov->iov_len - p->skip;
	if (n > max)
		n = max;
	*piece = (char *)p->iov->iov_base + p->skip;
	p->skip += n;
	return n;
}

/* iov_take: the next len bytes as iovecs in out[] (never more than the
 * caller's count); returns how many. */
static int iov_take(struct iov_pos *p, size_t len, struct iovec *out)
{
	int count = 0;
	char *piece;

	while (len) {
		size_t n = iov_next(p, len, &piece);

		out[count++] = (struct iovec){ piece, n };
		len -= n;
	}
	return count;
}

static void iov_to_store(struct iov_pos *p, uint8_t *dst, size_t len)
{
	char *piece;

	while (len) {
		size_t n = iov_next(p, len, &piece);

		memcpy(dst, piece, n);
		dst += n;
		len -= n;
	}
}

/* iov_from_store: the store's bytes into the iovecs, or zeroes with src
 * NULL. */
static void iov_from_store(struct iov_pos *p, const uint8_t *src, size_t len)
{
	char *piece;

	while (len) {
		size_t n = iov_next(p, len, &piece);

		if (src) {
			memcpy(piece, src, n);
			src += n;
		} else {
			memset(piece, 0, n);
		}
		len -= n;
	}
}

/* overlay_check: iovcnt as block.h allows and the whole transfer on the
 * disk, its length in *len. The device models checked the guest's values
 * already; this guards the store and bitmaps against a caller's mistake. */
static int overlay_check(const struct block_overlay *o, const struct iovec *iov, int iovcnt,
			 uint64_t offset, uint64_t *len)
{
	uint64_t total = 0;

	if (iovcnt < 0 || iovcnt > IOV_MAX)
		return -EINVAL;
	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len > o->bk.size - total)
			return -EINVAL;
		total += iov[i].iov_len;
	}
	if (offset > o->bk.size || total > o->bk.size - offset)
		return -EINVAL;
	*len = total;
	return 0;
}

static bool range_ok(const struct block_overlay *o, uint64_t offset, uint64_t len)
{
	return offset <= o->bk.size && len <= o->bk.size - offset;
}

/* ---- reads ---- */

static int overlay_preadv(struct block *bk, const struct iovec *iov, int iovcnt, uint64_t offset)
{
	struct block_overlay *o = to_overlay(bk);
	struct iov_pos pos = { iov, iovcnt, 0 };
	enum cluster_state state;
	uint64_t len, run;
	int rc;

	rc = overlay_check(o, iov, iovcnt, offset, &len);
	if (rc || !len)
		return rc;
	pthread_mutex_lock(&o->lock);
	run = state_run(o, offset, len, &state);
	/* Nothing of it written: one straight read from the base. */
	if (run == len && state == CLUSTER_BASE) {
		pthread_mutex_unlock(&o->lock);
		return block_preadv(o->base, iov, iovcnt, offset);
	}
	for (;;) {
		if (state == CLUSTER_BASE) {
			int n = iov_take(&pos, run, o->slice);

			rc = block_preadv(o->base, o->slice, n, offset);
		} else {
			iov_from_store(&pos, state == CLUSTER_DATA ? o->store + offset : NULL, run);
		}
		offset += run;
		len -= run;
		if (rc || !len)
			break;
		run = state_run(o, offset, len, &state);
	}
	pthread_mutex_unlock(&o->lock);
	return rc;
}

/* ---- writes ---- */

/* overlay_drop_pages: give clusters [first, first + count) their memory
 * back; they read as zeroes afterwards. */
static int overlay_drop_pages(struct block_overlay *o, uint64_t first, uint64_t count)
{
	if (madvise(o->store + first * OVERLAY_CLUSTER, count * OVERLAY_CLUSTER, MADV_DONTNEED))
		return -errno;
	return 0;
}

/* overlay_fill_from_base: copy-on-write for a BASE cluster c that a write
 * of [start, end) covers only in part: the base's bytes for the rest of
 * it go into the store first. */
static int overlay_fill_from_base(struct block_overlay *o, uint64_t c, uint64_t start,
				  uint64_t end)
{
	uint64_t from = c * OVERLAY_CLUSTER, to = cluster_end(o, c);
	int rc = 0;

	if (cluster_state(o, c) != CLUSTER_BASE)
		return 0;
	if (start > from) {
		struct iovec head = { o->store + from, start - from };

		rc = block_preadv(o->base, &head, 1, from);
	}
	if (!rc && end < to) {
		struct iovec tail = { o->store + end, to - end };

		rc = block_preadv(o->base, &tail, 1, end);
	}
	return rc;
}

/* clusters_text: a count of clusters as a size people read: KiB below
 * 10 MiB, else MiB (rounded down). */
static const char *clusters_text(char *buf, size_t len, uint64_t clusters)
{
	uint64_t bytes = clusters * OVERLAY_CLUSTER;

	if (bytes < 10 * MIB)
		snprintf(buf, len, "%" PRIu64 " KiB", bytes / 1024);
	else
		snprintf(buf, len, "%" PRIu64 " MiB", bytes / MIB);
	return buf;
}

/* overlay_full: whether `fresh` more resident clusters pass the limit;
 * says so once. */
static bool overlay_full(struct block_overlay *o, uint64_t fresh)
{
	char held[32];

	if (!o->limit_count || o->resident_count + fresh <= o->limit_count)
		return false;
	if (!o->limit_logged) {
		log_warn("disk '%s': the RAM overlay is full (%s, its overlay-limit); from now on "
			 "the guest gets an error for every write to a block it has not written "
			 "before", o->name, clusters_text(held, sizeof(held), o->resident_count));
		o->limit_logged = true;
	}
	return true;
}

/* overlay_write: [offset, offset + len) gets the next len bytes of src,
 * or zeroes with src NULL. Checks the limit before it changes anything;
 * if the base fails a copy-on-write read, nothing changes either. */
static int overlay_write(struct block_overlay *o, struct iov_pos *src, uint64_t offset,
			 uint64_t len)
{
	uint64_t first = offset / OVERLAY_CLUSTER, last = (offset + len - 1) / OVERLAY_CLUSTER;
	uint64_t fresh = 0;
	int rc;

	for (uint64_t c = first; c <= last; c++)
		fresh += !bit_test(o->resident, c);
	if (overlay_full(o, fresh))
		return -ENOSPC;
	rc = overlay_fill_from_base(o, first, offset, offset + len);
	if (!rc && last != first)
		rc = overlay_fill_from_base(o, last, offset, offset + len);
	if (rc) {
		/* A page filled in part belongs to no cluster: free it. */
		if (cluster_state(o, first) == CLUSTER_BASE)
			overlay_drop_pages(o, first, 1);
		if (cluster_state(o, last) == CLUSTER_BASE)
			overlay_drop_pages(o, last, 1);
		return rc;
	}
	if (src)
		iov_to_store(src, o->store + offset, len);
	else
		memset(o->store + offset, 0, len);
	for (uint64_t c = first; c <= last; c++) {
		bit_set(o->owned, c);
		bit_set(o->resident, c);
	}
	o->resident_count += fresh;
	if (o->resident_count > o->peak_count)
		o->peak_count = o->resident_count;
	return 0;
}

static int overlay_pwritev(struct block *bk, const struct iovec *iov, int iovcnt,
			   uint64_t offset)
{
	struct block_overlay *o = to_overlay(bk);
	struct iov_pos pos = { iov, iovcnt, 0 };
	uint64_t len;
	int rc;

	rc = overlay_check(o, iov, iovcnt, offset, &len);
	if (rc || !len)
		return rc;
	pthread_mutex_lock(&o->lock);
	rc = overlay_write(o, &pos, offset, len);
	pthread_mutex_unlock(&o->lock);
	return rc;
}

/* overlay_zero_clusters: clusters [first, first + count) become ZERO:
 * owned, so the base never shows through again, and without memory. */
static int overlay_zero_clusters(struct block_overlay *o, uint64_t first, uint64_t count)
{
	int rc = overlay_drop_pages(o, first, count);

	if (rc)
		return rc;
	for (uint64_t c = first; c < first + count; c++) {
		bit_set(o->owned, c);
		if (bit_test(o->resident, c)) {
			bit_clear(o->resident, c);
			o->resident_count--;
		}
	}
	return 0;
}

/* whole_clusters: the clusters [offset, offset + len) covers entirely,
 * as [*first, *first + *count); the disk's short last cluster counts as
 * covered when the range reaches the end of the disk. */
static void whole_clusters(const struct block_overlay *o, uint64_t offset, uint64_t len,
			   uint64_t *first, uint64_t *count)
{
	uint64_t end = offset + len;
	uint64_t stop = end == o->bk.size ? o->nclusters : end / OVERLAY_CLUSTER;

	*first = (offset + OVERLAY_CLUSTER - 1) / OVERLAY_CLUSTER;
	*count = stop > *first ? stop - *first : 0;
}

/* A discard zeroes the clusters it covers whole, as a write-zeroes would:
 * the guest gave the data up, and handing back the base's older data
 * instead would be a surprise. Partly covered clusters keep their data
 * (block.h allows either). */
static int overlay_discard(struct block *bk, uint64_t offset, uint64_t len)
{
	struct block_overlay *o = to_overlay(bk);
	uint64_t first, count;
	int rc = 0;

	if (!range_ok(o, offset, len))
		return -EINVAL;
	if (!len)
		return 0;
	whole_clusters(o, offset, len, &first, &count);
	pthread_mutex_lock(&o->lock);
	if (count)
		rc = overlay_zero_clusters(o, first, count);
	pthread_mutex_unlock(&o->lock);
	return rc;
}

/* Whole clusters become ZERO, unmap or not (either way they hold no
 * memory); the pieces of clusters at either end are written with zeroes. */
static int overlay_write_zeroes(struct block *bk, uint64_t offset, uint64_t len, bool unmap)
{
	struct block_overlay *o = to_overlay(bk);
	uint64_t first, count, from, to, end = offset + len;
	int rc = 0;

	(void)unmap;
	if (!range_ok(o, offset, len))
		return -EINVAL;
	if (!len)
		return 0;
	whole_clusters(o, offset, len, &first, &count);
	pthread_mutex_lock(&o->lock);
	if (!count) {
		rc = overlay_write(o, NULL, offset, len);
	} else {
		/* Dropping first frees memory for the two ends. */
		from = first * OVERLAY_CLUSTER;
		to = cluster_end(o, first + count - 1);
		rc = overlay_zero_clusters(o, first, count);
		if (!rc && offset < from)
			rc = overlay_write(o, NULL, offset, from - offset);
		if (!rc && to < end)
			rc = overlay_write(o, NULL, to, end - to);
	}
	pthread_mutex_unlock(&o->lock);
	return rc;
}

/* Nothing in RAM survives the process, so nothing can be made durable;
 * the base is never written, so it has nothing to flush either. */
static int overlay_flush(struct block *bk)
{
	(void)bk;
	return 0;
}

static void overlay_free(struct block_overlay *o)
{
	if (o->store)
		munmap(o->store, o->store_len);
	free(o->owned);
	free(o->resident);
	free(o->name);
	pthread_mutex_destroy(&o->lock);
	free(o);
}

static void overlay_close(struct block *bk)
{
	struct block_overlay *o = to_overlay(bk);
	char held[32], peak[32];

	if (o->peak_count)
		log_info("disk '%s': the RAM overlay is dropped; it held %s (at most %s)", o->name,
			 clusters_text(held, sizeof(held), o->resident_count),
			 clusters_text(peak, sizeof(peak), o->peak_count));
	block_close(o->base);
	overlay_free(o);
}

static const struct block_ops block_overlay_ops = {
	.preadv = overlay_preadv,
	.pwritev = overlay_pwritev,
	.flush = overlay_flush,
	.discard = overlay_discard,
	.write_zeroes = overlay_write_zeroes,
	.close = overlay_close,
};

__attribute__((format(printf, 4, 5)))
static int overlay_fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return code;
}

int block_overlay_new(struct block *base, const char *name, uint64_t limit, struct block **out,
		      char *err, size_t errlen)
{
	struct block_overlay *o = calloc(1, sizeof(*o));
	uint64_t words;
	int rc;

	if (!o) {
		block_close(base);
		return overlay_fail(err, errlen, -ENOMEM, "out of memory");
	}
	pthread_mutex_init(&o->lock, NULL);
	o->name = strdup(name);
	if (!o->name) {
		rc = overlay_fail(err, errlen, -ENOMEM, "out of memory");
		goto fail;
	}
	/* At least one cluster, so that an empty disk needs no special case. */
	o->nclusters = base->size ? (base->size + OVERLAY_CLUSTER - 1) / OVERLAY_CLUSTER : 1;
	o->store_len = o->nclusters * OVERLAY_CLUSTER;
	o->store = mmap(NULL, o->store_len, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (o->store == MAP_FAILED) {
		o->store = NULL;
		rc = overlay_fail(err, errlen, -errno, "cannot reserve %" PRIu64 " MiB of address "
				  "space for the RAM overlay of '%s': %s", o->store_len / MIB, name,
				  strerror(errno));
		goto fail;
	}
	/* A huge page would charge 2 MiB for a 4 KiB write; and a core dump
	 * need not hold the guest's disk. Both are advice: a kernel without
	 * transparent huge pages refuses the first, harmlessly. */
	madvise(o->store, o->store_len, MADV_NOHUGEPAGE);
	madvise(o->store, o->store_len, MADV_DONTDUMP);
	words = (o->nclusters + 63) / 64;
	o->owned = calloc(words, sizeof(uint64_t));
	o->resident = calloc(words, sizeof(uint64_t));
	if (!o->owned || !o->resident) {
		rc = overlay_fail(err, errlen, -ENOMEM, "out of memory");
		goto fail;
	}
	o->limit_count = limit / OVERLAY_CLUSTER;
	if (limit && !o->limit_count)
		o->limit_count = 1;
	o->base = base;
	o->bk = (struct block){ &block_overlay_ops, base->size, false };
	*out = &o->bk;
	return 0;
fail:
	overlay_free(o);
	block_close(base);
	return rc;
}

uint64_t block_overlay_bytes(struct block *bk)
{
	struct block_overlay *o;
	uint64_t bytes;

	if (bk->ops != &block_overlay_ops)
		return 0;
	o = to_overlay(bk);
	pthread_mutex_lock(&o->lock);
	bytes = o->resident_count * OVERLAY_CLUSTER;
	pthread_mutex_unlock(&o->lock);
	return bytes;
}
