/* Fuzzes vmm/virtio/virtqueue.c as a hostile driver would: the input is a
 * 12-byte header choosing the queue, then a guest RAM image (64 KiB, the
 * input copied to guest-physical 0, the rest zero) holding whatever rings
 * and descriptors the fuzzer made. The harness pops until the ring is empty
 * or broken, reads and writes every element and pushes it back, and checks
 * that each iovec lies in guest RAM and that a broken queue stays broken.
 *
 * Built with -DFUZZ_SEEDS instead, it is the program that writes the seed
 * corpus (well-formed direct, indirect and mixed chains) into the directory
 * named by its argument. */
#include <endian.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "virtio/virtqueue.h"

#define FUZZ_RAM 0x10000

/* The header, little-endian. */
#define HDR_SIZE_LOG2 0   /* u8: Queue Size is 1 << (v % 16) */
#define HDR_FLAGS 1       /* u8: FLAG_* */
#define HDR_DESC 2        /* le16: descriptor area */
#define HDR_AVAIL 4       /* le16: driver area */
#define HDR_USED 6        /* le16: device area */
#define HDR_START_IDX 8   /* le16: last_avail_idx and used_idx at start */
#define HDR_WRITE_LEN 10  /* le16: bytes the device writes and reports */
#define HDR_LEN 12

#define FLAG_EVENT_IDX 1      /* negotiate VIRTIO_F_EVENT_IDX */
#define FLAG_INDIRECT 2       /* negotiate VIRTIO_F_INDIRECT_DESC */
#define FLAG_UNALIGNED 4      /* keep the addresses' low bits */
#define FLAG_SUPPRESS 8       /* drain with notifications disabled */

#ifndef FUZZ_SEEDS

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct guest_mem mem;
static struct vq_elem elem;
static uint8_t scratch[FUZZ_RAM];

static uint16_t hdr16(const uint8_t *data, unsigned off)
{
	return (uint16_t)(data[off] | data[off + 1] << 8);
}

/* check_elem: every segment is inside guest RAM and the totals add up. */
static void check_elem(const struct virtqueue *vq)
{
	uint64_t out = 0, in = 0;

	if (elem.out_num > VQ_ELEM_MAX_SEGS || elem.in_num > VQ_ELEM_MAX_SEGS ||
	    elem.head >= vq->size)
		abort();
	for (unsigned i = 0; i < elem.out_num + elem.in_num; i++) {
		const struct iovec *v = i < elem.out_num ? &elem.out[i]
							 : &elem.in[i - elem.out_num];
		const uint8_t *p = v->iov_base;

		if (p < mem.base || v->iov_len > FUZZ_RAM ||
		    p + v->iov_len > mem.base + FUZZ_RAM)
			abort();
		*(i < elem.out_num ? &out : &in) += v->iov_len;
	}
	if (out != elem.out_len || in != elem.in_len || out + in > UINT32_MAX)
		abort();
}

/* serve: pop, use and push until the ring is empty; how pop ended. */
static int serve(struct virtqueue *vq, uint16_t write_len, unsigned *budget)
{
	size_t room;
	int r;

	while (*budget > 0) {
		(*budget)--;
		r = vq_pop(vq, &elem);
		if (r <= 0)
			return r;
		check_elem(vq);
		room = elem.out_len < sizeof(scratch) ? elem.out_len : sizeof(scratch);
		if (vq_elem_read(&elem, 0, scratch, sizeof(scratch)) != room)
			abort();
		/* written from byte 1 on, so as much as fits after it */
		room = elem.in_len > 1 ? elem.in_len - 1 : 0;
		if (vq_elem_write(&elem, 1, scratch, write_len) !=
		    (write_len < room ? write_len : room))
			abort();
		vq_push(vq, &elem, write_len);
		vq_should_notify(vq);
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct virtqueue vq;
	uint64_t features = 0;
	uint64_t desc, avail, used;
	unsigned budget;
	uint8_t flags;
	uint16_t write_len;
	int r, again;

	if (size < HDR_LEN)
		return 0;
	if (!mem.base && mem_create(&mem, FUZZ_RAM))
		abort();
	memset(mem.base, 0, FUZZ_RAM);
	memcpy(mem.base, data + HDR_LEN,
	       size - HDR_LEN < FUZZ_RAM ? size - HDR_LEN : FUZZ_RAM);

	flags = data[HDR_FLAGS];
	if (flags & FLAG_EVENT_IDX)
		features |= 1ULL << VIRTIO_F_EVENT_IDX;
	if (flags & FLAG_INDIRECT)
		features |= 1ULL << VIRTIO_F_INDIRECT_DESC;
	desc = hdr16(data, HDR_DESC);
	avail = hdr16(data, HDR_AVAIL);
	used = hdr16(data, HDR_USED);
	if (!(flags & FLAG_UNALIGNED)) {
		desc &= ~(uint64_t)(VIRTQ_DESC_ALIGN - 1);
		avail &= ~(uint64_t)(VIRTQ_AVAIL_ALIGN - 1);
		used &= ~(uint64_t)(VIRTQ_USED_ALIGN - 1);
	}
	if (vq_init(&vq, &mem, 1U << (data[HDR_SIZE_LOG2] % 16), features))
		abort();
	if (vq_set_addresses(&vq, desc, avail, used))
		return 0;
	/* as if the queue had already carried this many buffers */
	vq.last_avail_idx = vq.used_idx = hdr16(data, HDR_START_IDX);
	write_len = hdr16(data, HDR_WRITE_LEN);

	/* the device's loop, as the header's comment describes */
	budget = 2 * vq.size + 2;
	if (flags & FLAG_SUPPRESS)
		vq_disable_notify(&vq);
	do {
		r = serve(&vq, write_len, &budget);
		again = r == 0 && (flags & FLAG_SUPPRESS) && vq_enable_notify(&vq);
		if (again)
			vq_disable_notify(&vq);
	} while (again && budget > 0);

	if (r < 0) {
		/* broken stays broken, and the used ring is left alone */
		uint16_t used_idx = vq.used_idx;

		if (!vq_broken(&vq) || vq_pop(&vq, &elem) != r || !vq.why[0])
			abort();
		vq_push(&vq, &elem, 0);
		if (vq.used_idx != used_idx || vq_should_notify(&vq))
			abort();
	}
	return 0;
}

#else /* FUZZ_SEEDS */

#include <stdio.h>

static uint8_t seed[HDR_LEN + 0x2000];

static void put_hdr16(unsigned off, uint16_t v)
{
	seed[off] = (uint8_t)v;
	seed[off + 1] = (uint8_t)(v >> 8);
}

static void put16(uint64_t gpa, uint16_t v)
{
	v = htole16(v);
	memcpy(seed + HDR_LEN + gpa, &v, 2);
}

static void put_desc(uint64_t table, unsigned i, uint64_t addr, uint32_t len,
		     uint16_t flags, uint16_t next)
{
	struct virtq_desc d = { htole64(addr), htole32(len), htole16(flags),
				htole16(next) };

	memcpy(seed + HDR_LEN + table + 16 * i, &d, sizeof(d));
}

/* begin: an empty image with the queue at desc 0x100, avail 0x400, used
 * 0x600 (room for up to 32 entries). */
static void begin(unsigned size_log2, uint8_t flags, uint16_t start_idx)
{
	memset(seed, 0, sizeof(seed));
	seed[HDR_SIZE_LOG2] = (uint8_t)size_log2;
	seed[HDR_FLAGS] = flags;
	put_hdr16(HDR_DESC, 0x100);
	put_hdr16(HDR_AVAIL, 0x400);
	put_hdr16(HDR_USED, 0x600);
	put_hdr16(HDR_START_IDX, start_idx);
	put_hdr16(HDR_WRITE_LEN, 64);
}

static void offer(uint16_t *idx, unsigned size, uint16_t head)
{
	put16(0x400 + VIRTQ_AVAIL_RING(*idx % size), head);
	(*idx)++;
	put16(0x400 + VIRTQ_AVAIL_IDX, *idx);
}

static int save(const char *dir, const char *name)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(seed, sizeof(seed), 1, f) != 1 || fclose(f)) {
		fprintf(stderr, "fuzz_virtqueue seeds: cannot write %s\n", path);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	uint16_t idx;
	int err = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
		return 2;
	}

	/* Direct chains: header + payload + status, and a lone buffer. */
	begin(3, 0, 0);
	idx = 0;
	put_desc(0x100, 0, 0x1000, 16, VIRTQ_DESC_F_NEXT, 1);
	put_desc(0x100, 1, 0x1100, 512, VIRTQ_DESC_F_NEXT, 2);
	put_desc(0x100, 2, 0x1400, 1, VIRTQ_DESC_F_WRITE, 0);
	put_desc(0x100, 5, 0x1800, 256, VIRTQ_DESC_F_WRITE, 0);
	offer(&idx, 8, 0);
	offer(&idx, 8, 5);
	err |= save(argv[1], "direct");

	/* An indirect table holding readable and writable buffers, after a
	 * direct readable one, with EVENT_IDX, across the idx wrap. */
	begin(3, FLAG_INDIRECT | FLAG_EVENT_IDX | FLAG_SUPPRESS, 65535);
	idx = 65535;
	put_desc(0x100, 0, 0x1000, 8, VIRTQ_DESC_F_NEXT, 1);
	put_desc(0x100, 1, 0x800, 3 * 16, VIRTQ_DESC_F_INDIRECT, 0);
	put_desc(0x800, 0, 0x1100, 32, VIRTQ_DESC_F_NEXT, 2);
	put_desc(0x800, 2, 0x1200, 64, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
	put_desc(0x800, 1, 0x1300, 16, VIRTQ_DESC_F_WRITE, 0);
	put_desc(0x100, 4, 0x900, 16, VIRTQ_DESC_F_INDIRECT, 0);
	put_desc(0x900, 0, 0x1400, 128, VIRTQ_DESC_F_WRITE, 0);
	offer(&idx, 8, 0);
	offer(&idx, 8, 4);
	put16(0x400 + VIRTQ_AVAIL_USED_EVENT(8), 0);
	err |= save(argv[1], "indirect");

	/* A full queue of 32 one-descriptor chains. */
	begin(5, FLAG_EVENT_IDX, 0);
	idx = 0;
	for (unsigned i = 0; i < 32; i++) {
		put_desc(0x100, i, 0x1000 + 0x40 * i, 0x40,
			 i % 2 ? VIRTQ_DESC_F_WRITE : 0, 0);
		offer(&idx, 32, (uint16_t)(31 - i));
	}
	err |= save(argv[1], "full");
	return err;
}

#endif
