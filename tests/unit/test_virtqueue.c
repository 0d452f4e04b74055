/* Pins vmm/virtio/virtqueue.c: queue set-up checks; direct, indirect and
 * mixed chains popped into iovecs; each malformed ring the engine must
 * refuse, one test per rule, and that a broken queue stays broken; the used
 * ring, and notification suppression both ways including EVENT_IDX across
 * the 65535 -> 0 wrap. The test plays the driver, writing rings into a real
 * guest_mem. */
#include <endian.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "virtio/virtqueue.h"

/* Guest layout: the three areas, data buffers, indirect tables. */
#define RAM_SIZE (1ULL << 20)
#define DESC 0x10000
#define AVAIL 0x20000
#define USED 0x30000
#define BUF 0x40000
#define TABLE 0x80000

#define F_INDIRECT (1ULL << VIRTIO_F_INDIRECT_DESC)
#define F_EVENT_IDX (1ULL << VIRTIO_F_EVENT_IDX)

struct fixture {
	struct guest_mem mem;
	struct virtqueue vq;
	struct vq_elem *elem;
	uint16_t avail_idx; /* the driver's next available ring entry */
};

static int setup_with_ram(void **state, uint64_t ram)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->elem = calloc(1, sizeof(*f->elem));
	if (!f->elem || mem_create(&f->mem, ram)) {
		free(f->elem);
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_with_ram(state, RAM_SIZE);
}

/* A sparse 1 GiB guest (not a multiple of 2 MiB, so no huge pages), for
 * chains whose buffers add up past 4 GiB. */
#define BIG_BUF (1ULL << 20)
static int setup_big(void **state)
{
	return setup_with_ram(state, (1ULL << 30) + BIG_BUF + RAM_SIZE);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	mem_destroy(&f->mem);
	free(f->elem);
	free(f);
	return 0;
}

static void put16(struct fixture *f, uint64_t gpa, uint16_t v)
{
	v = htole16(v);
	assert_int_equal(mem_write(&f->mem, gpa, &v, 2), 0);
}

static uint16_t get16(struct fixture *f, uint64_t gpa)
{
	uint16_t v;

	assert_int_equal(mem_read(&f->mem, gpa, &v, 2), 0);
	return le16toh(v);
}

static uint32_t get32(struct fixture *f, uint64_t gpa)
{
	uint32_t v;

	assert_int_equal(mem_read(&f->mem, gpa, &v, 4), 0);
	return le32toh(v);
}

static void put_desc(struct fixture *f, uint64_t table, unsigned i, uint64_t addr,
		     uint32_t len, uint16_t flags, uint16_t next)
{
	struct virtq_desc d = { htole64(addr), htole32(len), htole16(flags),
				htole16(next) };

	assert_int_equal(mem_write(&f->mem, table + 16ULL * i, &d, sizeof(d)), 0);
}

/* offer: the driver makes the chain at `head` available. */
static void offer(struct fixture *f, uint16_t head)
{
	put16(f, AVAIL + VIRTQ_AVAIL_RING(f->avail_idx % f->vq.size), head);
	f->avail_idx++;
	put16(f, AVAIL + VIRTQ_AVAIL_IDX, f->avail_idx);
}

static void start(struct fixture *f, unsigned size, uint64_t features)
{
	assert_int_equal(vq_init(&f->vq, &f->mem, size, features), 0);
	assert_int_equal(vq_set_addresses(&f->vq, DESC, AVAIL, USED), 0);
}

static void *hva(struct fixture *f, uint64_t gpa)
{
	return f->mem.base + gpa;
}

/* expect_broken: the next pop fails with err and a reason naming `what`,
 * and so does the one after. */
static void expect_broken(struct fixture *f, int err, const char *what)
{
	assert_int_equal(vq_pop(&f->vq, f->elem), err);
	assert_true(vq_broken(&f->vq));
	if (!strstr(f->vq.why, what))
		fail_msg("reason '%s' does not mention '%s'", f->vq.why, what);
	assert_int_equal(vq_pop(&f->vq, f->elem), err);
}

static void test_init_refuses_bad_sizes(void **state)
{
	struct fixture *f = *state;
	static const unsigned bad[] = { 0, 3, 6, 100, 32769, 65536, 65535 };
	static const unsigned good[] = { 1, 2, 256, 32768 };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(vq_init(&f->vq, &f->mem, bad[i], 0), -EINVAL);
		assert_int_equal(vq_set_addresses(&f->vq, DESC, AVAIL, USED), -EINVAL);
		assert_false(f->vq.enabled);
	}
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(vq_init(&f->vq, &f->mem, good[i], 0), 0);
}

static void test_set_addresses_checks_alignment_and_ram(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(vq_init(&f->vq, &f->mem, 256, 0), 0);
	assert_int_equal(vq_set_addresses(&f->vq, DESC + 8, AVAIL, USED), -EINVAL);
	assert_int_equal(vq_set_addresses(&f->vq, DESC, AVAIL + 1, USED), -EINVAL);
	assert_int_equal(vq_set_addresses(&f->vq, DESC, AVAIL, USED + 2), -EINVAL);
	/* each area ends past RAM by a little */
	assert_int_equal(vq_set_addresses(&f->vq, RAM_SIZE - 16 * 256 + 16, AVAIL,
					  USED), -EFAULT);
	assert_int_equal(vq_set_addresses(&f->vq, DESC, RAM_SIZE - (6 + 2 * 256) + 2,
					  USED), -EFAULT);
	assert_int_equal(vq_set_addresses(&f->vq, DESC, AVAIL,
					  RAM_SIZE - (6 + 8 * 256) + 2), -EFAULT);
	assert_int_equal(vq_set_addresses(&f->vq, 0xfffffffffffffff0ULL, AVAIL, USED),
			 -EFAULT);
	assert_false(f->vq.enabled);
	assert_int_equal(vq_pop(&f->vq, f->elem), 0);
	/* exactly at the end of RAM is fine */
	assert_int_equal(vq_set_addresses(&f->vq, RAM_SIZE - 16 * 256,
					  RAM_SIZE - 16 * 256 - (6 + 2 * 256),
					  RAM_SIZE - 16 * 256 - 0x1000), 0);
	assert_true(f->vq.enabled);
	assert_ptr_equal(f->vq.desc, hva(f, RAM_SIZE - 16 * 256));
}

static void test_empty_ring_pops_nothing(void **state)
{
	struct fixture *f = *state;

	start(f, 8, 0);
	assert_int_equal(vq_pop(&f->vq, f->elem), 0);
	assert_false(vq_broken(&f->vq));
}

static void test_direct_chain(void **state)
{
	struct fixture *f = *state;

	start(f, 8, 0);
	/* a header and a payload to read, then a status byte to write */
	put_desc(f, DESC, 5, BUF, 16, VIRTQ_DESC_F_NEXT, 2);
	put_desc(f, DESC, 2, BUF + 0x100, 512, VIRTQ_DESC_F_NEXT, 7);
	put_desc(f, DESC, 7, BUF + 0x400, 1, VIRTQ_DESC_F_WRITE, 0);
	offer(f, 5);
	assert_int_equal(vq_pop(&f->vq, f->elem), 1);
	assert_int_equal(f->elem->head, 5);
	assert_int_equal(f->elem->out_num, 2);
	assert_int_equal(f->elem->in_num, 1);
	assert_int_equal(f->elem->out_len, 528);
	assert_int_equal(f->elem->in_len, 1);
	assert_ptr_equal(f->elem->out[0].iov_base, hva(f, BUF));
	assert_int_equal(f->elem->out[0].iov_len, 16);
	assert_ptr_equal(f->elem->out[1].iov_base, hva(f, BUF + 0x100));
	assert_int_equal(f->elem->out[1].iov_len, 512);
	assert_ptr_equal(f->elem->in[0].iov_base, hva(f, BUF + 0x400));
	assert_int_equal(f->elem->in[0].iov_len, 1);
	assert_int_equal(vq_pop(&f->vq, f->elem), 0);
	assert_int_equal(f->vq.last_avail_idx, 1);
}

static void test_chain_as_long_as_the_queue(void **state)
{
	struct fixture *f = *state;

	start(f, 4, 0);
	for (unsigned i = 0; i < 4; i++)
		put_desc(f, DESC, i, BUF + i, 1, i < 3 ? VIRTQ_DESC_F_NEXT : 0, i + 1);
	offer(f, 0);
	assert_int_equal(vq_pop(&f->vq, f->elem), 1);
	assert_int_equal(f->elem->out_num, 4);
}

static void test_indirect_chain(void **state)
{
	struct fixture *f = *state;

	start(f, 8, F_INDIRECT);
	/* The WRITE flag on the table descriptor is ignored (2.7.5.3.2). */
	put_desc(f, DESC, 3, TABLE, 3 * 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_WRITE, 0);
	put_desc(f, TABLE, 0, BUF, 12, VIRTQ_DESC_F_NEXT, 2);
	put_desc(f, TABLE, 2, BUF + 0x100, 100, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
	put_desc(f, TABLE, 1, BUF + 0x200, 200, VIRTQ_DESC_F_WRITE, 0);
	offer(f, 3);
	assert_int_equal(vq_pop(&f->vq, f->elem), 1);
	assert_int_equal(f->elem->head, 3);
	assert_int_equal(f->elem->out_num, 1);
	assert_int_equal(f->elem->in_num, 2);
	assert_int_equal(f->elem->out_len, 12);
	assert_int_equal(f->elem->in_len, 300);
	assert_ptr_equal(f->elem->out[0].iov_base, hva(f, BUF));
	assert_ptr_equal(f->elem->in[0].iov_base, hva(f, BUF + 0x100));
	assert_ptr_equal(f->elem->in[1].iov_base, hva(f, BUF + 0x200));
}

static void test_direct_then_indirect(void **state)
{
	struct fixture *f = *state;

	/* 2.7.5.3.2: zero or more direct descriptors, then one table */
	start(f, 8, F_INDIRECT);
	put_desc(f, DESC, 0, BUF, 10, VIRTQ_DESC_F_NEXT, 1);
	put_desc(f, DESC, 1, TABLE, 2 * 16, VIRTQ_DESC_F_INDIRECT, 0);
	put_desc(f, TABLE, 0, BUF + 0x100, 20, VIRTQ_DESC_F_NEXT, 1);
	put_desc(f, TABLE, 1, BUF + 0x200, 30, VIRTQ_DESC_F_WRITE, 0);
	offer(f, 0);
	assert_int_equal(vq_pop(&f->vq, f->elem), 1);
	assert_int_equal(f->elem->out_num, 2);
	assert_int_equal(f->elem->in_num, 1);
	assert_int_equal(f->elem->out_len, 30);
	assert_int_equal(f->elem->in_len, 30);
	assert_ptr_equal(f->elem->out[1].iov_base, hva(f, BUF + 0x100));
}

static void test_zero_length_buffer_skipped(void **state)
{
	struct fixture *f = *state;

	/* address junk is fine when there is nothing to map */
	start(f, 8, 0);
	put_desc(f, DESC, 0, BUF, 4, VIRTQ_DESC_F_NEXT, 1);
	put_desc(f, DESC, 1, 0xdead00000000ULL, 0, VIRTQ_DESC_F_NEXT, 2);
	put_desc(f, DESC, 2, BUF + 8, 4, VIRTQ_DESC_F_WRITE, 0);
	offer(f, 0);
	assert_int_equal(vq_pop(&f->vq, f->elem), 1);
	assert_int_equal(f->elem->out_num, 1);
	assert_int_equal(f->elem->in_num, 1);
}

static void test_elem_read_write(void **state)
{
	struct fixture *f = *state;
	static const char text[] = "0123456789abcdef";
	char buf[32];

	start(f, 8, 0);
	assert_int_equal(mem_write(&f->mem, BUF, text, 4), 0);
	assert_int_equal(mem_write(&f->mem, BUF + 0x100, text + 4, 12), 0);
	put_desc(f, DESC, 0, BUF, 4, VIRTQ_DESC_F_NEXT, 1);
	put_desc(f, DESC, 1, BUF + 0x100, 12, VIRTQ_DESC_F_NEXT, 2);
	put_desc(f, DESC, 2, BUF + 0x200, 3, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 3);
	put_desc(f, DESC, 3, BUF + 0x300, 5, VIRTQ_DESC_F_WRITE, 0);
	offer(f, 0);
	assert_int_equal(vq_pop(&f->vq, f->elem), 1);

	memset(buf, 0, sizeof(buf));
	assert_int_equal(vq_elem_read(f->elem, 0, buf, sizeof(buf)), 16);
	assert_memory_equal(buf, text, 16);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(vq_elem_read(f->elem, 2, buf, 6), 6);
	assert_memory_equal(buf, "234567", 6);
	assert_int_equal(vq_elem_read(f->elem, 16, buf, 1), 0);
	assert_int_equal(vq_elem_read(f->elem, SIZE_MAX, buf, 1), 0);

	/* writes span the segment boundary and stop at the end */
	assert_int_equal(vq_elem_write(f->elem, 1, "WXYZ", 4), 4);
	assert_int_equal(vq_elem_write(f->elem, 6, "pqrs", 4), 2);
	assert_int_equal(vq_elem_write(f->elem, 8, "x", 1), 0);
	assert_memory_equal(hva(f, BUF + 0x200), "\0WX", 3);
	assert_memory_equal(hva(f, BUF + 0x300), "YZ\0pq", 5);
	/* nothing written before the readable part's bytes */
	assert_memory_equal(hva(f, BUF), "0123", 4);
}

static void test_push_fills_used_ring(void **state)
{
	struct fixture *f = *state;

	start(f, 4, 0);
	put_desc(f, DESC, 1, BUF, 8, VIRTQ_DESC_F_NEXT, 2);
	put_desc(f, DESC, 2, BUF + 0x100, 64, VIRTQ_DESC_F_WRITE, 0);
	for (unsigned round = 0; round < 6; round++) {
		unsigned slot = round % 4;

		offer(f, 1);
		assert_int_equal(vq_pop(&f->vq, f->elem), 1);
		/* more than the writable part is clamped to it */
		vq_push(&f->vq, f->elem, round == 5 ? 1000 : round);
		assert_int_equal(get16(f, USED + VIRTQ_USED_IDX), round + 1);
		assert_int_equal(get32(f, USED + VIRTQ_USED_RING(slot)), 1);
		assert_int_equal(get32(f, USED + VIRTQ_USED_RING(slot) + 4),
				 round == 5 ? 64 : round);
	}
}

static void test_notify_without_event_idx(void **state)
{
	struct fixture *f = *state;

	start(f, 4, 0);
	put_desc(f, DESC, 0, BUF, 8, VIRTQ_DESC_F_WRITE, 0);
	offer(f, 0);
	assert_int_equal(vq_pop(&f->vq, f->elem), 1);
	vq_push(&f->vq, f->elem, 8);
	assert_true(vq_should_notify(&f->vq));
	put16(f, AVAIL + VIRTQ_AVAIL_FLAGS, VIRTQ_AVAIL_F_NO_INTERRUPT);
	assert_false(vq_should_notify(&f->vq));

	/* the device side: VIRTQ_USED_F_NO_NOTIFY, and no avail_event */
	vq_disable_notify(&f->vq);
	assert_int_equal(get16(f, USED + VIRTQ_USED_FLAGS), VIRTQ_USED_F_NO_NOTIFY);
	assert_false(vq_enable_notify(&f->vq));
	assert_int_equal(get16(f, USED + VIRTQ_USED_FLAGS), 0);
	vq_disable_notify(&f->vq);
	offer(f, 0);
	assert_true(vq_enable_notify(&f->vq));
	assert_int_equal(get16(f, USED + VIRTQ_USED_AVAIL_EVENT(4)), 0);
}

/* cycle: the driver offers one writable buffer, the device pops until the
 * ring is empty and gives the buffer back. */
static void cycle(struct fixture *f)
{
	offer(f, 0);
	assert_int_equal(vq_pop(&f->vq, f->elem), 1);
	assert_int_equal(vq_pop(&f->vq, f->elem), 0);
	vq_push(&f->vq, f->elem, 4);
}

static void test_event_idx_wraps(void **state)
{
	struct fixture *f = *state;

	start(f, 4, F_EVENT_IDX);
	put_desc(f, DESC, 0, BUF, 8, VIRTQ_DESC_F_WRITE, 0);
	/* 2.7.7 note: used_event 0 wants a notification for the first buffer
	 * and not the next ones */
	cycle(f);
	assert_true(vq_should_notify(&f->vq));
	cycle(f);
	assert_false(vq_should_notify(&f->vq));
	/* VIRTQ_AVAIL_F_NO_INTERRUPT means nothing with EVENT_IDX */
	put16(f, AVAIL + VIRTQ_AVAIL_FLAGS, VIRTQ_AVAIL_F_NO_INTERRUPT);
	put16(f, AVAIL + VIRTQ_AVAIL_USED_EVENT(4), 2);
	cycle(f);
	assert_true(vq_should_notify(&f->vq));

	while (f->vq.used_idx != 65534)
		cycle(f);
	assert_int_equal(get16(f, AVAIL + VIRTQ_AVAIL_IDX), 65534);
	/* the empty ring asks for a notification of the next entry */
	assert_int_equal(get16(f, USED + VIRTQ_USED_AVAIL_EVENT(4)), 65534);
	vq_should_notify(&f->vq);

	/* notify when entry 65535 is filled: used idx goes 65535 -> 0 */
	put16(f, AVAIL + VIRTQ_AVAIL_USED_EVENT(4), 65535);
	cycle(f);
	assert_false(vq_should_notify(&f->vq));
	assert_int_equal(mem_write(&f->mem, USED + VIRTQ_USED_RING(3),
				   "\xff\xff\xff\xff\0\0\0\0", 8), 0);
	cycle(f);
	assert_int_equal(get16(f, USED + VIRTQ_USED_IDX), 0);
	assert_int_equal(get16(f, AVAIL + VIRTQ_AVAIL_IDX), 0);
	assert_int_equal(get16(f, USED + VIRTQ_USED_AVAIL_EVENT(4)), 0);
	assert_int_equal(get32(f, USED + VIRTQ_USED_RING(3)), 0);
	assert_int_equal(get32(f, USED + VIRTQ_USED_RING(3) + 4), 4);
	assert_true(vq_should_notify(&f->vq));
	cycle(f);
	assert_false(vq_should_notify(&f->vq));

	/* a batch of pushes crossing used_event notifies once */
	put16(f, AVAIL + VIRTQ_AVAIL_USED_EVENT(4), 2);
	cycle(f);
	cycle(f);
	cycle(f);
	assert_true(vq_should_notify(&f->vq));
	assert_false(vq_should_notify(&f->vq));
	/* used_event behind the batch: no notification */
	cycle(f);
	assert_false(vq_should_notify(&f->vq));
}

static void test_event_idx_avail_event(void **state)
{
	struct fixture *f = *state;

	start(f, 4, F_EVENT_IDX);
	put_desc(f, DESC, 0, BUF, 8, VIRTQ_DESC_F_WRITE, 0);
	/* taking a buffer leaves avail_event alone; the empty ring moves it */
	offer(f, 0);
	offer(f, 0);
	assert_int_equal(vq_pop(&f->vq, f->elem), 1);
	assert_int_equal(get16(f, USED + VIRTQ_USED_AVAIL_EVENT(4)), 0);
	assert_int_equal(vq_pop(&f->vq, f->elem), 1);
	assert_int_equal(vq_pop(&f->vq, f->elem), 0);
	assert_int_equal(get16(f, USED + VIRTQ_USED_AVAIL_EVENT(4)), 2);
	/* disabled: flags stay 0 (2.7.10) and avail_event stops moving */
	vq_disable_notify(&f->vq);
	assert_int_equal(get16(f, USED + VIRTQ_USED_FLAGS), 0);
	cycle(f);
	cycle(f);
	assert_int_equal(get16(f, USED + VIRTQ_USED_AVAIL_EVENT(4)), 2);
	assert_false(vq_enable_notify(&f->vq));
	assert_int_equal(get16(f, USED + VIRTQ_USED_AVAIL_EVENT(4)), 4);
	/* buffers that came while disabled are reported */
	vq_disable_notify(&f->vq);
	offer(f, 0);
	offer(f, 0);
	assert_true(vq_enable_notify(&f->vq));
	assert_int_equal(vq_pop(&f->vq, f->elem), 1);
	assert_int_equal(vq_pop(&f->vq, f->elem), 1);
	assert_int_equal(vq_pop(&f->vq, f->elem), 0);
	assert_int_equal(get16(f, USED + VIRTQ_USED_AVAIL_EVENT(4)), 6);
}

/* Malformed rings, one rule each. */

static void test_bad_avail_idx_too_far_ahead(void **state)
{
	struct fixture *f = *state;

	start(f, 8, 0);
	put_desc(f, DESC, 0, BUF, 8, 0, 0);
	put16(f, AVAIL + VIRTQ_AVAIL_IDX, 9);
	expect_broken(f, -EINVAL, "available idx 9");
}

static void test_bad_head(void **state)
{
	struct fixture *f = *state;

	start(f, 8, 0);
	offer(f, 8);
	expect_broken(f, -EINVAL, "head 8");
}

static void test_bad_next(void **state)
{
	struct fixture *f = *state;

	start(f, 8, 0);
	put_desc(f, DESC, 0, BUF, 8, VIRTQ_DESC_F_NEXT, 8);
	offer(f, 0);
	expect_broken(f, -EINVAL, "next 8");
}

static void test_bad_loop(void **state)
{
	struct fixture *f = *state;

	start(f, 8, 0);
	put_desc(f, DESC, 0, BUF, 8, VIRTQ_DESC_F_NEXT, 1);
	put_desc(f, DESC, 1, BUF, 8, VIRTQ_DESC_F_NEXT, 2);
	put_desc(f, DESC, 2, BUF, 8, VIRTQ_DESC_F_NEXT, 1);
	offer(f, 0);
	expect_broken(f, -ELOOP, "loop");
}

static void test_bad_indirect_not_negotiated(void **state)
{
	struct fixture *f = *state;

	start(f, 8, 0);
	put_desc(f, DESC, 0, TABLE, 16, VIRTQ_DESC_F_INDIRECT, 0);
	put_desc(f, TABLE, 0, BUF, 8, 0, 0);
	offer(f, 0);
	expect_broken(f, -EINVAL, "without VIRTIO_F_INDIRECT_DESC");
}

static void test_bad_indirect_len_not_multiple(void **state)
{
	struct fixture *f = *state;

	start(f, 8, F_INDIRECT);
	put_desc(f, DESC, 0, TABLE, 24, VIRTQ_DESC_F_INDIRECT, 0);
	put_desc(f, TABLE, 0, BUF, 8, 0, 0);
	offer(f, 0);
	expect_broken(f, -EINVAL, "not a multiple of 16");
}

static void test_bad_indirect_len_zero(void **state)
{
	struct fixture *f = *state;

	start(f, 8, F_INDIRECT);
	put_desc(f, DESC, 0, TABLE, 0, VIRTQ_DESC_F_INDIRECT, 0);
	offer(f, 0);
	expect_broken(f, -EINVAL, "empty indirect table");
}

static void test_bad_indirect_longer_than_queue(void **state)
{
	struct fixture *f = *state;

	start(f, 8, F_INDIRECT);
	put_desc(f, DESC, 0, TABLE, 9 * 16, VIRTQ_DESC_F_INDIRECT, 0);
	put_desc(f, TABLE, 0, BUF, 8, 0, 0);
	offer(f, 0);
	expect_broken(f, -EINVAL, "more than the queue size");
}

static void test_bad_indirect_nested(void **state)
{
	struct fixture *f = *state;

	start(f, 8, F_INDIRECT);
	put_desc(f, DESC, 0, TABLE, 2 * 16, VIRTQ_DESC_F_INDIRECT, 0);
	put_desc(f, TABLE, 0, BUF, 8, VIRTQ_DESC_F_NEXT, 1);
	put_desc(f, TABLE, 1, TABLE + 0x100, 16, VIRTQ_DESC_F_INDIRECT, 0);
	put_desc(f, TABLE + 0x100, 0, BUF, 8, 0, 0);
	offer(f, 0);
	expect_broken(f, -EINVAL, "nested");
}

static void test_bad_indirect_with_next(void **state)
{
	struct fixture *f = *state;

	start(f, 8, F_INDIRECT);
	put_desc(f, DESC, 0, TABLE, 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1);
	put_desc(f, DESC, 1, BUF, 8, 0, 0);
	put_desc(f, TABLE, 0, BUF, 8, 0, 0);
	offer(f, 0);
	expect_broken(f, -EINVAL, "INDIRECT together with NEXT");
}

static void test_bad_indirect_next(void **state)
{
	struct fixture *f = *state;

	/* next is bounded by the table (2 entries), not the queue (8) */
	start(f, 8, F_INDIRECT);
	put_desc(f, DESC, 0, TABLE, 2 * 16, VIRTQ_DESC_F_INDIRECT, 0);
	put_desc(f, TABLE, 0, BUF, 8, VIRTQ_DESC_F_NEXT, 2);
	offer(f, 0);
	expect_broken(f, -EINVAL, "next 2 is past the indirect table's 2 entries");
}

static void test_bad_indirect_loop(void **state)
{
	struct fixture *f = *state;

	start(f, 8, F_INDIRECT);
	put_desc(f, DESC, 0, TABLE, 2 * 16, VIRTQ_DESC_F_INDIRECT, 0);
	put_desc(f, TABLE, 0, BUF, 8, VIRTQ_DESC_F_NEXT, 1);
	put_desc(f, TABLE, 1, BUF, 8, VIRTQ_DESC_F_NEXT, 0);
	offer(f, 0);
	expect_broken(f, -ELOOP, "in its indirect table");
}

static void test_bad_indirect_table_not_ram(void **state)
{
	struct fixture *f = *state;

	start(f, 8, F_INDIRECT);
	put_desc(f, DESC, 0, RAM_SIZE - 16, 2 * 16, VIRTQ_DESC_F_INDIRECT, 0);
	offer(f, 0);
	expect_broken(f, -EFAULT, "indirect table");
}

static void test_bad_readable_after_writable(void **state)
{
	struct fixture *f = *state;

	start(f, 8, 0);
	put_desc(f, DESC, 0, BUF, 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	put_desc(f, DESC, 1, BUF + 8, 8, 0, 0);
	offer(f, 0);
	expect_broken(f, -EINVAL, "readable after device-writable");
}

static void test_bad_readable_after_writable_in_table(void **state)
{
	struct fixture *f = *state;

	start(f, 8, F_INDIRECT);
	put_desc(f, DESC, 0, BUF, 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	put_desc(f, DESC, 1, TABLE, 16, VIRTQ_DESC_F_INDIRECT, 0);
	put_desc(f, TABLE, 0, BUF + 8, 8, 0, 0);
	offer(f, 0);
	expect_broken(f, -EINVAL, "readable after device-writable");
}

static void test_bad_buffer_not_ram(void **state)
{
	struct fixture *f = *state;

	start(f, 8, 0);
	put_desc(f, DESC, 0, RAM_SIZE - 4, 8, 0, 0);
	offer(f, 0);
	expect_broken(f, -EFAULT, "not guest RAM");
}

static void test_bad_buffer_wraps(void **state)
{
	struct fixture *f = *state;

	start(f, 8, 0);
	put_desc(f, DESC, 0, 0xfffffffffffffff0ULL, 0x20, 0, 0);
	offer(f, 0);
	expect_broken(f, -EFAULT, "wraps");
}

static void test_bad_total_length(void **state)
{
	struct fixture *f = *state;
	const uint32_t gib = 1U << 30;

	start(f, 8, 0);
	/* 4 GiB - 1 in total is the most a chain may hold; the buffers start
	 * at 1 MiB, above the VGA window that RAM leaves out. */
	put_desc(f, DESC, 0, BIG_BUF, gib, VIRTQ_DESC_F_NEXT, 1);
	put_desc(f, DESC, 1, BIG_BUF, gib, VIRTQ_DESC_F_NEXT, 2);
	put_desc(f, DESC, 2, BIG_BUF, gib, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 3);
	put_desc(f, DESC, 3, BIG_BUF, gib - 1, VIRTQ_DESC_F_WRITE, 0);
	offer(f, 0);
	assert_int_equal(vq_pop(&f->vq, f->elem), 1);
	assert_int_equal(f->elem->out_len, 2 * gib);
	assert_int_equal(f->elem->in_len, 2 * gib - 1);
	put_desc(f, DESC, 3, BIG_BUF, gib, VIRTQ_DESC_F_WRITE, 0);
	offer(f, 0);
	expect_broken(f, -EOVERFLOW, "4 GiB");
}

static void test_bad_too_many_segments(void **state)
{
	struct fixture *f = *state;

	/* 1024 readable and 1024 writable fit; one more readable does not */
	start(f, 4096, 0);
	for (unsigned i = 0; i < 2048; i++)
		put_desc(f, DESC, i, BUF + i, 1,
			 VIRTQ_DESC_F_NEXT | (i >= 1024 ? VIRTQ_DESC_F_WRITE : 0),
			 i + 1);
	put_desc(f, DESC, 2047, BUF + 2047, 1, VIRTQ_DESC_F_WRITE, 0);
	offer(f, 0);
	assert_int_equal(vq_pop(&f->vq, f->elem), 1);
	assert_int_equal(f->elem->out_num, VQ_ELEM_MAX_SEGS);
	assert_int_equal(f->elem->in_num, VQ_ELEM_MAX_SEGS);
	put_desc(f, DESC, 3000, BUF, 1, VIRTQ_DESC_F_NEXT, 1);
	put_desc(f, DESC, 1023, BUF, 1, VIRTQ_DESC_F_NEXT, 3001);
	put_desc(f, DESC, 3001, BUF, 1, 0, 0);
	offer(f, 3000);
	expect_broken(f, -E2BIG, "more than 1024 device-readable");
}

static void test_broken_state_sticks(void **state)
{
	struct fixture *f = *state;

	start(f, 8, 0);
	put_desc(f, DESC, 1, BUF, 8, VIRTQ_DESC_F_WRITE, 0);
	offer(f, 1);
	assert_int_equal(vq_pop(&f->vq, f->elem), 1);
	offer(f, 9);
	expect_broken(f, -EINVAL, "head 9");
	/* the driver repairs the entry: the queue stays broken until reset */
	put16(f, AVAIL + VIRTQ_AVAIL_RING(1), 1);
	assert_int_equal(vq_pop(&f->vq, f->elem), -EINVAL);
	/* no more used entries and no notifications */
	vq_push(&f->vq, f->elem, 8);
	assert_int_equal(get16(f, USED + VIRTQ_USED_IDX), 0);
	assert_false(vq_should_notify(&f->vq));
	assert_false(vq_enable_notify(&f->vq));
	/* a device reset (vq_init) clears it */
	start(f, 8, 0);
	assert_false(vq_broken(&f->vq));
	assert_int_equal(vq_pop(&f->vq, f->elem), 1);
	assert_int_equal(f->elem->head, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_init_refuses_bad_sizes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_addresses_checks_alignment_and_ram,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_ring_pops_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_direct_chain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chain_as_long_as_the_queue, setup, teardown),
		cmocka_unit_test_setup_teardown(test_indirect_chain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_direct_then_indirect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_zero_length_buffer_skipped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_elem_read_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_push_fills_used_ring, setup, teardown),
		cmocka_unit_test_setup_teardown(test_notify_without_event_idx, setup, teardown),
		cmocka_unit_test_setup_teardown(test_event_idx_wraps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_event_idx_avail_event, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_avail_idx_too_far_ahead, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_head, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_next, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_loop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_indirect_not_negotiated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_indirect_len_not_multiple, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_indirect_len_zero, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_indirect_longer_than_queue, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_indirect_nested, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_indirect_with_next, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_indirect_next, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_indirect_loop, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_indirect_table_not_ram, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_readable_after_writable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_readable_after_writable_in_table, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bad_buffer_not_ram, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_buffer_wraps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_total_length, setup_big, teardown),
		cmocka_unit_test_setup_teardown(test_bad_too_many_segments, setup, teardown),
		cmocka_unit_test_setup_teardown(test_broken_state_sticks, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
