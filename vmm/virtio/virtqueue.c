/* Split virtqueues, device side (Virtio 1.2, 2.7). The driver writes the
 * descriptor table and the available ring, the device writes the used ring
 * (2.7); all three live in guest RAM, which the guest can rewrite while we
 * read it. So each descriptor is copied out once and checked as a copy,
 * every index is bounded before it indexes anything, and every buffer goes
 * through mem_ptr. Fields are little-endian (2.7.3 is legacy only). */
#include "virtio/virtqueue.h"

#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

/* The rings' 16-bit fields are naturally aligned (the areas are 2- and
 * 4-aligned, 2.7), so they can be loaded and stored as single accesses. */
static uint16_t ring_load(const uint8_t *area, uint64_t offset, int order)
{
	return le16toh(__atomic_load_n((const uint16_t *)(area + offset), order));
}

static void ring_store(uint8_t *area, uint64_t offset, uint16_t v, int order)
{
	__atomic_store_n((uint16_t *)(area + offset), htole16(v), order);
}

__attribute__((format(printf, 3, 4)))
static int vq_fail(struct virtqueue *vq, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(vq->why, sizeof(vq->why), fmt, ap);
	va_end(ap);
	vq->error = err;
	return err;
}

int vq_init(struct virtqueue *vq, const struct guest_mem *mem, unsigned size,
	    uint64_t features)
{
	memset(vq, 0, sizeof(*vq));
	vq->mem = mem;
	vq->notify = true;
	/* 2.7: "Queue Size value is always a power of 2 ... maximum 32768" */
	if (size == 0 || size > VIRTQ_MAX_SIZE || (size & (size - 1)))
		return -EINVAL;
	vq->size = size;
	vq->event_idx = features & (1ULL << VIRTIO_F_EVENT_IDX);
	vq->indirect_desc = features & (1ULL << VIRTIO_F_INDIRECT_DESC);
	return 0;
}

int vq_set_addresses(struct virtqueue *vq, uint64_t desc, uint64_t avail,
		     uint64_t used)
{
	uint8_t *desc_hva, *avail_hva, *used_hva;

	vq->enabled = false;
	if (!vq->size)
		return -EINVAL;
	/* 2.7 (alignment table): descriptor table 16, available ring 2,
	 * used ring 4 */
	if (desc % VIRTQ_DESC_ALIGN || avail % VIRTQ_AVAIL_ALIGN ||
	    used % VIRTQ_USED_ALIGN)
		return -EINVAL;
	/* each area, at its full size for this Queue Size, is guest RAM */
	desc_hva = mem_ptr(vq->mem, desc, VIRTQ_DESC_SIZE(vq->size));
	avail_hva = mem_ptr(vq->mem, avail, VIRTQ_AVAIL_SIZE(vq->size));
	used_hva = mem_ptr(vq->mem, used, VIRTQ_USED_SIZE(vq->size));
	if (!desc_hva || !avail_hva || !used_hva)
		return -EFAULT;
	vq->desc_gpa = desc;
	vq->avail_gpa = avail;
	vq->used_gpa = used;
	vq->desc = desc_hva;
	vq->avail = avail_hva;
	vq->used = used_hva;
	vq->enabled = true;
	return 0;
}

/* One descriptor, copied out of guest memory and converted. */
struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

static void desc_read(const uint8_t *table, unsigned i, struct desc *d)
{
	struct virtq_desc raw;

	memcpy(&raw, table + (size_t)i * sizeof(raw), sizeof(raw));
	d->addr = le64toh(raw.addr);
	d->len = le32toh(raw.len);
	d->flags = le16toh(raw.flags);
	d->next = le16toh(raw.next);
}

/* Where a chain walk is: which table, how many entries it has, how many
 * descriptors of it we have visited, and the chain's totals so far. */
struct walk {
	const uint8_t *table;
	unsigned entries;
	unsigned visited;
	bool in_indirect;
	bool seen_writable;
	uint64_t total;
};

/* vq_walk_indirect: switch the walk to the table descriptor `d` (at index i)
 * names (2.7.5.3). */
static int vq_walk_indirect(struct virtqueue *vq, struct walk *w,
			    const struct desc *d, unsigned i)
{
	const uint8_t *table;

	/* 2.7.5.3.1: INDIRECT only when VIRTIO_F_INDIRECT_DESC was negotiated */
	if (!vq->indirect_desc)
		return vq_fail(vq, -EINVAL, "descriptor %u: INDIRECT without "
			       "VIRTIO_F_INDIRECT_DESC", i);
	/* 2.7.5.3.1: one table per chain, no INDIRECT inside a table */
	if (w->in_indirect)
		return vq_fail(vq, -EINVAL, "indirect descriptor %u: nested "
			       "INDIRECT", i);
	/* 2.7.5.3.1: INDIRECT and NEXT are never set together */
	if (d->flags & VIRTQ_DESC_F_NEXT)
		return vq_fail(vq, -EINVAL, "descriptor %u: INDIRECT together "
			       "with NEXT", i);
	/* 2.7.5.3: the table is len / 16 descriptors, so at least one */
	if (d->len == 0)
		return vq_fail(vq, -EINVAL, "descriptor %u: empty indirect "
			       "table", i);
	/* 2.7.5.3: len is a whole number of 16-byte descriptors */
	if (d->len % sizeof(struct virtq_desc))
		return vq_fail(vq, -EINVAL, "descriptor %u: indirect table "
			       "length %" PRIu32 " is not a multiple of 16",
			       i, d->len);
	/* 2.7.5.3.1: no chain is longer than the Queue Size, so neither is
	 * a table */
	if (d->len / sizeof(struct virtq_desc) > vq->size)
		return vq_fail(vq, -EINVAL, "descriptor %u: indirect table of "
			       "%zu descriptors, more than the queue size %u",
			       i, d->len / sizeof(struct virtq_desc), vq->size);
	/* the whole table is guest RAM (mem_ptr also refuses a wrap) */
	table = mem_ptr(vq->mem, d->addr, d->len);
	if (!table)
		return vq_fail(vq, -EFAULT, "descriptor %u: indirect table "
			       "%#" PRIx64 "+%" PRIu32 " is not guest RAM",
			       i, d->addr, d->len);
	w->table = table;
	w->entries = d->len / sizeof(struct virtq_desc);
	w->visited = 0;
	w->in_indirect = true;
	return 0;
}

/* vq_walk_buffer: add the buffer descriptor `d` (at index i) names to elem. */
static int vq_walk_buffer(struct virtqueue *vq, struct walk *w,
			  const struct desc *d, unsigned i, struct vq_elem *elem)
{
	bool writable = d->flags & VIRTQ_DESC_F_WRITE;
	struct iovec *iov;
	unsigned *num;
	void *hva;

	/* 2.7.4.2: device-writable descriptors come after all readable ones */
	if (!writable && w->seen_writable)
		return vq_fail(vq, -EINVAL, "descriptor %u: device-readable "
			       "after device-writable", i);
	w->seen_writable |= writable;
	/* a zero-length buffer holds nothing to map; skip it */
	if (d->len == 0)
		return 0;
	/* 2.7.5.2: a chain holds at most 2^32 bytes; the used ring's le32 len
	 * caps what we accept at 2^32 - 1 */
	if (w->total + d->len > UINT32_MAX)
		return vq_fail(vq, -EOVERFLOW, "descriptor %u: chain longer "
			       "than 4 GiB", i);
	/* the buffer does not run past the end of the address space */
	if (d->addr + d->len < d->addr)
		return vq_fail(vq, -EFAULT, "descriptor %u: buffer %#" PRIx64
			       "+%" PRIu32 " wraps", i, d->addr, d->len);
	/* the whole buffer is guest RAM */
	hva = mem_ptr(vq->mem, d->addr, d->len);
	if (!hva)
		return vq_fail(vq, -EFAULT, "descriptor %u: buffer %#" PRIx64
			       "+%" PRIu32 " is not guest RAM", i, d->addr,
			       d->len);
	iov = writable ? elem->in : elem->out;
	num = writable ? &elem->in_num : &elem->out_num;
	/* each direction's iovec array holds VQ_ELEM_MAX_SEGS (2.7.4.1: the
	 * device MAY limit a chain's descriptors) */
	if (*num == VQ_ELEM_MAX_SEGS)
		return vq_fail(vq, -E2BIG, "descriptor %u: more than %u "
			       "device-%s segments", i, VQ_ELEM_MAX_SEGS,
			       writable ? "writable" : "readable");
	iov[*num] = (struct iovec){ hva, d->len };
	(*num)++;
	if (writable)
		elem->in_len += d->len;
	else
		elem->out_len += d->len;
	w->total += d->len;
	return 0;
}

/* vq_walk: follow the chain from `head` (< size) into elem (2.7.5). */
static int vq_walk(struct virtqueue *vq, uint16_t head, struct vq_elem *elem)
{
	struct walk w = { vq->desc, vq->size, 0, false, false, 0 };
	unsigned i = head;
	struct desc d;
	int err;

	elem->head = head;
	elem->out_num = elem->in_num = 0;
	elem->out_len = elem->in_len = 0;
	for (;;) {
		/* 2.7.5.3.1: a chain is at most Queue Size descriptors, and
		 * within a table at most its length; more means `next`
		 * loops */
		if (++w.visited > w.entries)
			return vq_fail(vq, -ELOOP, "chain from head %u: more "
				       "than %u descriptors%s (a loop)", head,
				       w.entries,
				       w.in_indirect ? " in its indirect table" : "");
		desc_read(w.table, i, &d);
		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			/* 2.7.5.3.2: the WRITE flag of a table descriptor is
			 * ignored */
			err = vq_walk_indirect(vq, &w, &d, i);
			if (err)
				return err;
			i = 0;
			continue;
		}
		err = vq_walk_buffer(vq, &w, &d, i, elem);
		if (err)
			return err;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return 0;
		/* 2.7.5: `next` names an entry of the same table */
		if (d.next >= w.entries)
			return vq_fail(vq, -EINVAL, "descriptor %u: next %u is "
				       "past the %s's %u entries", i, d.next,
				       w.in_indirect ? "indirect table" : "queue",
				       w.entries);
		i = d.next;
	}
}

int vq_pop(struct virtqueue *vq, struct vq_elem *elem)
{
	uint16_t avail_idx, head;
	int err;

	if (vq->error)
		return vq->error;
	if (!vq->enabled)
		return 0;
	/* Acquire: the ring entry and the descriptors it leads to are read
	 * after idx, so we see what the driver wrote before its barrier and
	 * idx update (2.7.13.3 "Updating idx"). */
	avail_idx = ring_load(vq->avail, VIRTQ_AVAIL_IDX, __ATOMIC_ACQUIRE);
	if (avail_idx == vq->last_avail_idx) {
		if (!vq->notify || !vq->event_idx)
			return 0;
		/* With EVENT_IDX the driver notifies only when it fills entry
		 * avail_event (2.7.10): ask for the one we now wait on, then
		 * look once more, with a full barrier between for the reason
		 * given in vq_enable_notify. Only here, on an empty ring: while
		 * there is work we find new entries without notifications. */
		vq_set_avail_event(vq, vq->last_avail_idx);
		atomic_thread_fence(memory_order_seq_cst);
		avail_idx = ring_load(vq->avail, VIRTQ_AVAIL_IDX, __ATOMIC_ACQUIRE);
		if (avail_idx == vq->last_avail_idx)
			return 0;
	}
	/* 2.7.13: the driver cannot have more than Queue Size chains
	 * outstanding, so idx is at most size ahead of what we took */
	if ((uint16_t)(avail_idx - vq->last_avail_idx) > vq->size)
		return vq_fail(vq, -EINVAL, "available idx %u is more than %u "
			       "ahead of %u", avail_idx, vq->size,
			       vq->last_avail_idx);
	head = ring_load(vq->avail,
			 VIRTQ_AVAIL_RING(vq->last_avail_idx & (vq->size - 1)),
			 __ATOMIC_RELAXED);
	/* 2.7.6: a ring entry is the index of a descriptor in the table */
	if (head >= vq->size)
		return vq_fail(vq, -EINVAL, "available ring entry %u: head %u "
			       "is past the queue's %u entries",
			       vq->last_avail_idx, head, vq->size);
	err = vq_walk(vq, head, elem);
	if (err)
		return err;
	vq->last_avail_idx++;
	return 1;
}

void vq_push(struct virtqueue *vq, const struct vq_elem *elem, uint32_t written)
{
	struct virtq_used_elem used;

	if (!vq->enabled || vq->error)
		return;
	/* len counts bytes written into the device-writable part (2.7.8) */
	if (written > elem->in_len)
		written = elem->in_len;
	used.id = htole32(elem->head);
	used.len = htole32(written);
	memcpy(vq->used + VIRTQ_USED_RING(vq->used_idx & (vq->size - 1)), &used,
	       sizeof(used));
	vq->used_idx++;
	/* Release: the driver must see the element, and the data written into
	 * its buffers, no later than the new idx (2.7.8: "The device MUST set
	 * len prior to updating the used idx"); pairs with the driver's read
	 * barrier after it reads idx. */
	ring_store(vq->used, VIRTQ_USED_IDX, vq->used_idx, __ATOMIC_RELEASE);
}

bool vq_should_notify(struct virtqueue *vq)
{
	uint16_t old, new, event;
	bool valid;

	if (!vq->enabled || vq->error)
		return false;
	/* Full barrier: our used idx store must be visible before we read the
	 * driver's flags/used_event. The driver does the mirror image (writes
	 * used_event, barrier, rereads used idx: 2.7.14); without both
	 * barriers a store-load reordering, which even x86 does, lets each
	 * side read the other's old value and the notification is lost. */
	atomic_thread_fence(memory_order_seq_cst);
	if (!vq->event_idx)
		return !(ring_load(vq->avail, VIRTQ_AVAIL_FLAGS, __ATOMIC_RELAXED) &
			 VIRTQ_AVAIL_F_NO_INTERRUPT);
	/* 2.7.7 with EVENT_IDX: notify when the entries filled since the last
	 * call, old..new-1 (mod 2^16), include used_event. */
	valid = vq->signalled_used_valid;
	old = vq->signalled_used;
	new = vq->used_idx;
	vq->signalled_used = new;
	vq->signalled_used_valid = true;
	event = ring_load(vq->avail, VIRTQ_AVAIL_USED_EVENT(vq->size),
			  __ATOMIC_RELAXED);
	return !valid || (uint16_t)(new - event - 1) < (uint16_t)(new - old);
}

void vq_set_avail_event(struct virtqueue *vq, uint16_t idx)
{
	if (!vq->enabled || !vq->event_idx)
		return;
	ring_store(vq->used, VIRTQ_USED_AVAIL_EVENT(vq->size), idx,
		   __ATOMIC_RELAXED);
}

static void vq_set_used_flags(struct virtqueue *vq, uint16_t flags)
{
	ring_store(vq->used, VIRTQ_USED_FLAGS, flags, __ATOMIC_RELAXED);
}

void vq_disable_notify(struct virtqueue *vq)
{
	vq->notify = false;
	/* 2.7.10: with EVENT_IDX flags stay 0; avail_event stops moving and,
	 * once the driver's idx has passed it, suppresses notifications */
	if (vq->enabled && !vq->event_idx)
		vq_set_used_flags(vq, VIRTQ_USED_F_NO_NOTIFY);
}

bool vq_enable_notify(struct virtqueue *vq)
{
	uint16_t avail_idx;

	vq->notify = true;
	if (!vq->enabled || vq->error)
		return false;
	if (vq->event_idx)
		vq_set_avail_event(vq, vq->last_avail_idx);
	else
		vq_set_used_flags(vq, 0);
	/* Full barrier: the request must be visible before we look for
	 * buffers, or a driver that added one meanwhile and read our old
	 * request (so did not notify) would wait forever (2.7.13.4 "Notifying
	 * The Device" is the driver's half). */
	atomic_thread_fence(memory_order_seq_cst);
	avail_idx = ring_load(vq->avail, VIRTQ_AVAIL_IDX, __ATOMIC_ACQUIRE);
	return avail_idx != vq->last_avail_idx;
}

size_t vq_elem_read(const struct vq_elem *elem, size_t offset, void *buf, size_t len)
{
	uint8_t *dst = buf;
	size_t done = 0;

	for (unsigned i = 0; i < elem->out_num && done < len; i++) {
		size_t n = elem->out[i].iov_len;

		if (offset >= n) {
			offset -= n;
			continue;
		}
		n -= offset;
		if (n > len - done)
			n = len - done;
		memcpy(dst + done, (uint8_t *)elem->out[i].iov_base + offset, n);
		done += n;
		offset = 0;
	}
	return done;
}

size_t vq_elem_write(const struct vq_elem *elem, size_t offset, const void *buf,
		     size_t len)
{
	const uint8_t *src = buf;
	size_t done = 0;

	for (unsigned i = 0; i < elem->in_num && done < len; i++) {
		size_t n = elem->in[i].iov_len;

		if (offset >= n) {
			offset -= n;
			continue;
		}
		n -= offset;
		if (n > len - done)
			n = len - done;
		memcpy((uint8_t *)elem->in[i].iov_base + offset, src + done, n);
		done += n;
		offset = 0;
	}
	return done;
}
