/* The device side of a split virtqueue (Virtio 1.2, 2.7 "Split
 * Virtqueues"), shared by every virtio device: take the driver's available
 * descriptor chains as host iovecs, give them back through the used ring,
 * and decide when either side needs a notification. The guest owns the
 * rings and may write anything into them at any time, so every value read
 * from them is checked before use; a ring that breaks a rule leaves the
 * queue "broken" and the device should set DEVICE_NEEDS_RESET. One thread
 * at a time drives a queue. */
#ifndef DUET_VIRTIO_VIRTQUEUE_H
#define DUET_VIRTIO_VIRTQUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "mem.h"
#include "virtio/virtio.h"

/* Segments per direction in one element: Linux's IOV_MAX, so each array
 * can go to one preadv/pwritev. 2.7.4.1 lets a device limit a chain's
 * descriptors; Linux drivers stay far below this. */
#define VQ_ELEM_MAX_SEGS 1024

/* One descriptor chain taken from the available ring. The iovecs point into
 * guest RAM, which the guest may change at any time: copy a header out
 * (vq_elem_read) before checking it. */
struct vq_elem {
	uint16_t head;    /* the chain's first descriptor, named in the used ring */
	unsigned out_num; /* device-readable segments in out[] */
	unsigned in_num;  /* device-writable segments in in[] */
	uint32_t out_len; /* bytes in out[] */
	uint32_t in_len;  /* bytes in in[] */
	struct iovec out[VQ_ELEM_MAX_SEGS];
	struct iovec in[VQ_ELEM_MAX_SEGS];
};

struct virtqueue {
	const struct guest_mem *mem;
	unsigned size;         /* Queue Size: a power of two, 1..VIRTQ_MAX_SIZE */
	uint64_t desc_gpa;     /* descriptor area (queue_desc) */
	uint64_t avail_gpa;    /* driver area: the available ring (queue_driver) */
	uint64_t used_gpa;     /* device area: the used ring (queue_device) */
	uint8_t *desc;         /* host addresses of those three */
	uint8_t *avail;
	uint8_t *used;
	bool enabled;          /* the areas are set and checked */
	bool event_idx;        /* VIRTIO_F_EVENT_IDX negotiated */
	bool indirect_desc;    /* VIRTIO_F_INDIRECT_DESC negotiated */
	bool notify;           /* the device wants available buffer notifications */
	uint16_t last_avail_idx; /* next available ring entry to take */
	uint16_t used_idx;     /* next used ring entry to fill */
	uint16_t signalled_used; /* used_idx when vq_should_notify last ran */
	bool signalled_used_valid;
	int error;             /* 0, or the -errno that broke the queue */
	char why[128];         /* what broke it, for the device's one log line */
};

/* vq_init: a disabled queue of `size` entries over `mem`, with the
 * negotiated `features` (1ULL << VIRTIO_F_* bits; EVENT_IDX and
 * INDIRECT_DESC matter here). Also what a device reset does. -EINVAL (and a
 * queue that stays disabled) unless size is a power of two, 1..32768. */
int vq_init(struct virtqueue *vq, const struct guest_mem *mem, unsigned size,
	    uint64_t features);

/* vq_set_addresses: the three areas' guest-physical addresses; on success
 * the queue is enabled. For the transport to call when the driver writes 1
 * to queue_enable. -EINVAL when an area is misaligned (2.7: desc 16, avail
 * 2, used 4) or the queue has no size, -EFAULT when one is not wholly
 * guest RAM; the queue then stays disabled. */
int vq_set_addresses(struct virtqueue *vq, uint64_t desc, uint64_t avail,
		     uint64_t used);

/* vq_pop: take the next available chain into `elem`. 1: took one; 0: none
 * available (or the queue is disabled); -errno: the ring breaks a rule, the
 * queue is now broken (vq->why says how) and every later call returns the
 * same error. */
int vq_pop(struct virtqueue *vq, struct vq_elem *elem);

/* vq_push: give `elem` back through the used ring, `written` bytes of its
 * device-writable part filled (clamped to in_len), and publish it. Does
 * nothing on a disabled or broken queue. */
void vq_push(struct virtqueue *vq, const struct vq_elem *elem, uint32_t written);

/* vq_should_notify: after one or more vq_push, whether the driver wants a
 * used buffer notification (2.7.7: VIRTQ_AVAIL_F_NO_INTERRUPT, or with
 * EVENT_IDX whether used_event was passed since the last call). */
bool vq_should_notify(struct virtqueue *vq);

/* Available buffer notification suppression (2.7.10), the device's side.
 * Notifications start enabled, and a device may simply pop until vq_pop
 * returns 0 on each one. To take fewer while it works: vq_disable_notify,
 * pop until 0, then if vq_enable_notify returns true go round again.
 * vq_disable_notify: ask the driver not to notify (VIRTQ_USED_F_NO_NOTIFY,
 * or with EVENT_IDX stop moving avail_event). vq_enable_notify: ask again;
 * returns true when buffers arrived meanwhile, which no notification will
 * announce. vq_set_avail_event: with EVENT_IDX, ask to be notified when the
 * driver fills available ring entry `idx`; vq_pop (on finding the ring
 * empty) and vq_enable_notify call it. */
void vq_disable_notify(struct virtqueue *vq);
bool vq_enable_notify(struct virtqueue *vq);
void vq_set_avail_event(struct virtqueue *vq, uint16_t idx);

/* vq_elem_read: copy up to `len` bytes from the device-readable part,
 * starting `offset` bytes in; returns how many it copied (short when the
 * part ends first). vq_elem_write: the same into the device-writable part. */
size_t vq_elem_read(const struct vq_elem *elem, size_t offset, void *buf, size_t len);
size_t vq_elem_write(const struct vq_elem *elem, size_t offset, const void *buf,
		     size_t len);

static inline bool vq_broken(const struct virtqueue *vq)
{
	return vq->error != 0;
}

#endif
