/* virtio-blk, the block device (Virtio 1.2, 5.2): one PCI function per
 * --disk, in the order given, for --kernel guests, over a block back end
 * (block.h).
 *
 * Threads: the request queue is driven only on the event-loop thread
 * (queue_notify takes requests into a few slots; the worker's completions
 * come back through an eventfd and are pushed there), while the back-end
 * I/O runs on one worker thread per disk, so a slow disk never stalls the
 * event loop. The worker never touches the ring: a machine reset
 * re-initialises the queue on the event-loop thread and so cannot race it.
 * The reset hook drops requests not yet started and waits for the one in
 * flight, so nothing writes guest RAM after it returns. */
#include "virtio/blk.h"

#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "device.h"
#include "event.h"
#include "log.h"
#include "virtio/virtio_pci.h"
#include "vm.h"

/* As QEMU's virtio-blk-pci: "SCSI storage controller" (Linux binds by ID). */
#define PCI_CLASS_STORAGE_SCSI 0x010000

/* Requests taken off the ring ahead of the worker, so it finds the next
 * one waiting while the event loop answers the last; each slot holds a
 * 32 KiB vq_elem. */
#define BLK_SLOTS 8

/* ---- the request handler ---- */

void virtio_blk_disk_init(struct virtio_blk_disk *disk, struct block *bk, bool discard,
			  unsigned index, const char *name)
{
	char id[VIRTIO_BLK_ID_BYTES + 1] = { 0 }; /* NUL-padded */

	memset(disk, 0, sizeof(*disk));
	disk->bk = bk;
	disk->capacity = bk->size / VIRTIO_BLK_SECTOR_SIZE;
	disk->read_only = bk->read_only;
	disk->discard = discard && !bk->read_only;
	snprintf(id, sizeof(id), "duet-%u", index);
	memcpy(disk->id, id, sizeof(disk->id));
	disk->name = name;
}

uint64_t virtio_blk_features(const struct virtio_blk_disk *disk)
{
	uint64_t f = (1ULL << VIRTIO_BLK_F_SEG_MAX) | (1ULL << VIRTIO_BLK_F_BLK_SIZE) |
		     (1ULL << VIRTIO_BLK_F_FLUSH);

	if (disk->read_only)
		f |= 1ULL << VIRTIO_BLK_F_RO;
	else
		f |= 1ULL << VIRTIO_BLK_F_WRITE_ZEROES;
	if (disk->discard)
		f |= 1ULL << VIRTIO_BLK_F_DISCARD;
	return f;
}

void virtio_blk_config_fill(const struct virtio_blk_disk *disk, struct virtio_blk_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->capacity = htole64(disk->capacity);
	cfg->seg_max = htole32(VIRTIO_BLK_SEG_MAX);
	cfg->blk_size = htole32(VIRTIO_BLK_SECTOR_SIZE);
	cfg->num_queues = htole16(1);
	if (disk->discard) {
		cfg->max_discard_sectors = htole32(VIRTIO_BLK_MAX_DISCARD_SECTORS);
		cfg->max_discard_seg = htole32(VIRTIO_BLK_MAX_DISCARD_SEG);
		cfg->discard_sector_alignment = htole32(VIRTIO_BLK_DISCARD_ALIGNMENT);
	}
	if (!disk->read_only) {
		cfg->max_write_zeroes_sectors = htole32(VIRTIO_BLK_MAX_WRITE_ZEROES_SECTORS);
		cfg->max_write_zeroes_seg = htole32(VIRTIO_BLK_MAX_WRITE_ZEROES_SEG);
		cfg->write_zeroes_may_unmap = disk->discard;
	}
}

/* blk_iov_slice: the `len` bytes of iov[0..n) that start `skip` bytes in,
 * as at most n iovecs in out[]; returns how many. The caller has checked
 * that iov holds skip + len bytes. */
static int blk_iov_slice(const struct iovec *iov, unsigned n, size_t skip, size_t len,
			 struct iovec *out)
{
	int count = 0;

	for (unsigned i = 0; i < n && len; i++) {
		size_t seg = iov[i].iov_len;

		if (skip >= seg) {
			skip -= seg;
			continue;
		}
		seg -= skip;
		if (seg > len)
			seg = len;
		out[count++] = (struct iovec){ (char *)iov[i].iov_base + skip, seg };
		skip = 0;
		len -= seg;
	}
	return count;
}

/* blk_range_ok: `bytes` from sector `sector` lie on the disk. Both come
 * from the guest: compared so that neither can overflow. */
static bool blk_range_ok(const struct virtio_blk_disk *disk, uint64_t sector, uint64_t bytes)
{
	return sector <= disk->capacity &&
	       bytes / VIRTIO_BLK_SECTOR_SIZE <= disk->capacity - sector;
}

/* blk_io_status: a back end's answer as a status; the first failure of a
 * disk is logged (a full host disk, a failing NFS server). */
static uint8_t blk_io_status(struct virtio_blk_disk *disk, int rc, const char *what,
			     uint64_t sector)
{
	if (!rc)
		return VIRTIO_BLK_S_OK;
	if (!disk->io_error_logged) {
		log_warn("%s: %s at sector %" PRIu64 ": %s; the guest sees an I/O error (later "
			 "errors are not logged)", disk->name, what, sector, strerror(-rc));
		disk->io_error_logged = true;
	}
	return VIRTIO_BLK_S_IOERR;
}

/* VIRTIO_BLK_T_IN: the data is the device-writable part but its last byte. */
static uint8_t blk_read(struct virtio_blk_disk *disk, const struct vq_elem *elem,
			uint64_t sector)
{
	struct iovec iov[VQ_ELEM_MAX_SEGS];
	uint32_t len = elem->in_len - 1;
	int n;

	/* 5.2.6.1: whole sectors, all on the disk (5.2.6.2: else IOERR) */
	if (len % VIRTIO_BLK_SECTOR_SIZE || !blk_range_ok(disk, sector, len))
		return VIRTIO_BLK_S_IOERR;
	n = blk_iov_slice(elem->in, elem->in_num, 0, len, iov);
	return blk_io_status(disk, block_preadv(disk->bk, iov, n, sector * VIRTIO_BLK_SECTOR_SIZE),
			     "read", sector);
}

/* VIRTIO_BLK_T_OUT: the data is the device-readable part after the header. */
static uint8_t blk_write(struct virtio_blk_disk *disk, const struct vq_elem *elem,
			 uint64_t sector)
{
	struct iovec iov[VQ_ELEM_MAX_SEGS];
	uint32_t len = elem->out_len - (uint32_t)sizeof(struct virtio_blk_req_hdr);
	int n;

	/* 5.2.6.2: a read-only device fails writes and writes nothing */
	if (disk->read_only)
		return VIRTIO_BLK_S_IOERR;
	if (len % VIRTIO_BLK_SECTOR_SIZE || !blk_range_ok(disk, sector, len))
		return VIRTIO_BLK_S_IOERR;
	n = blk_iov_slice(elem->out, elem->out_num, sizeof(struct virtio_blk_req_hdr), len, iov);
	return blk_io_status(disk, block_pwritev(disk->bk, iov, n, sector * VIRTIO_BLK_SECTOR_SIZE),
			     "write", sector);
}

/* VIRTIO_BLK_T_GET_ID: up to 20 bytes of serial into the data part. */
static uint8_t blk_get_id(const struct virtio_blk_disk *disk, const struct vq_elem *elem)
{
	uint32_t len = elem->in_len - 1;

	vq_elem_write(elem, 0, disk->id, len < sizeof(disk->id) ? len : sizeof(disk->id));
	return VIRTIO_BLK_S_OK;
}

/* VIRTIO_BLK_T_DISCARD and VIRTIO_BLK_T_WRITE_ZEROES: the data is an array
 * of struct virtio_blk_discard_write_zeroes. Every segment is checked
 * before any is carried out. */
static uint8_t blk_discard_write_zeroes(struct virtio_blk_disk *disk, const struct vq_elem *elem,
					bool write_zeroes)
{
	struct virtio_blk_discard_write_zeroes seg[VIRTIO_BLK_MAX_DISCARD_SEG];
	uint32_t max_seg = write_zeroes ? VIRTIO_BLK_MAX_WRITE_ZEROES_SEG : VIRTIO_BLK_MAX_DISCARD_SEG;
	uint32_t max_sectors = write_zeroes ? VIRTIO_BLK_MAX_WRITE_ZEROES_SECTORS
					    : VIRTIO_BLK_MAX_DISCARD_SECTORS;
	uint32_t len = elem->out_len - (uint32_t)sizeof(struct virtio_blk_req_hdr);
	unsigned nseg;

	_Static_assert(VIRTIO_BLK_MAX_WRITE_ZEROES_SEG <= VIRTIO_BLK_MAX_DISCARD_SEG, "seg[] size");
	/* 5.2.6.1: whole segments, at least one, at most max_*_seg */
	if (len == 0 || len % sizeof(seg[0]) || len / sizeof(seg[0]) > max_seg)
		return VIRTIO_BLK_S_IOERR;
	nseg = len / sizeof(seg[0]);
	/* Copied once: the guest may rewrite them while we work. */
	vq_elem_read(elem, sizeof(struct virtio_blk_req_hdr), seg, len);
	for (unsigned i = 0; i < nseg; i++) {
		uint32_t flags = le32toh(seg[i].flags), num = le32toh(seg[i].num_sectors);

		/* 5.2.6.2: an unknown flag, or UNMAP on a discard, is UNSUPP */
		if ((flags & ~(uint32_t)VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP) ||
		    (!write_zeroes && (flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP)))
			return VIRTIO_BLK_S_UNSUPP;
		/* 5.2.6.1: at most max_*_sectors, all on the disk */
		if (num > max_sectors ||
		    !blk_range_ok(disk, le64toh(seg[i].sector),
				  (uint64_t)num * VIRTIO_BLK_SECTOR_SIZE))
			return VIRTIO_BLK_S_IOERR;
	}
	for (unsigned i = 0; i < nseg; i++) {
		uint64_t sector = le64toh(seg[i].sector);
		uint64_t offset = sector * VIRTIO_BLK_SECTOR_SIZE;
		uint64_t bytes = (uint64_t)le32toh(seg[i].num_sectors) * VIRTIO_BLK_SECTOR_SIZE;
		bool unmap = le32toh(seg[i].flags) & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP;
		int rc;

		if (write_zeroes) {
			/* unmap only where the user lets discards through */
			rc = block_write_zeroes(disk->bk, offset, bytes, unmap && disk->discard);
		} else {
			rc = block_discard(disk->bk, offset, bytes);
			/* 5.2.6.2: a discard MAY deallocate; not doing so is fine */
			if (rc == -EOPNOTSUPP)
				rc = 0;
		}
		if (rc)
			return blk_io_status(disk, rc, write_zeroes ? "write zeroes" : "discard",
					     sector);
	}
	return VIRTIO_BLK_S_OK;
}

static uint8_t blk_execute(struct virtio_blk_disk *disk, const struct vq_elem *elem,
			   uint32_t type, uint64_t sector)
{
	switch (type) {
	case VIRTIO_BLK_T_IN:
		return blk_read(disk, elem, sector);
	case VIRTIO_BLK_T_OUT:
		return blk_write(disk, elem, sector);
	case VIRTIO_BLK_T_FLUSH:
		/* Requests run one after another, so every write completed
		 * before this one is covered. */
		return blk_io_status(disk, block_flush(disk->bk), "flush", 0);
	case VIRTIO_BLK_T_GET_ID:
		return blk_get_id(disk, elem);
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		if (disk->read_only)
			return VIRTIO_BLK_S_IOERR;
		if (type == VIRTIO_BLK_T_DISCARD && !disk->discard)
			return VIRTIO_BLK_S_UNSUPP;
		return blk_discard_write_zeroes(disk, elem, type == VIRTIO_BLK_T_WRITE_ZEROES);
	}
	/* GET_LIFETIME, SECURE_ERASE, zoned requests, anything else */
	return VIRTIO_BLK_S_UNSUPP;
}

int virtio_blk_request(struct virtio_blk_disk *disk, const struct vq_elem *elem,
		       uint32_t *used_len)
{
	struct virtio_blk_req_hdr hdr;
	uint8_t status;

	/* 5.2.6: the status is the last device-writable byte */
	if (elem->in_len == 0)
		return -EINVAL;
	/* The header is copied once and checked as a copy. A chain too short
	 * to hold one says nothing we could carry out. */
	if (vq_elem_read(elem, 0, &hdr, sizeof(hdr)) < sizeof(hdr))
		status = VIRTIO_BLK_S_IOERR;
	else
		status = blk_execute(disk, elem, le32toh(hdr.type), le64toh(hdr.sector));
	vq_elem_write(elem, elem->in_len - 1, &status, 1);
	/* The whole device-writable part, as QEMU reports it: the data of a
	 * read and the status; Linux's driver reads only the status. */
	*used_len = elem->in_len;
	return 0;
}

/* ---- the device ---- */

struct blk_slot {
	struct vq_elem elem;
	int result;        /* virtio_blk_request's */
	uint32_t used_len;
};

struct blk {
	struct vm *vm;
	struct virtio_dev *vd;
	struct virtio_dev_ops ops; /* per disk: the features and name differ */
	char name[24];
	struct virtio_blk_disk disk;
	struct virtio_blk_config config;
	int done_fd;               /* eventfd: the worker finished requests */
	bool done_fd_watched;
	pthread_t worker;
	bool worker_started;

	pthread_mutex_t lock;      /* what follows, and driving the queue */
	pthread_cond_t work;       /* to the worker: a request, or quit */
	pthread_cond_t idle;       /* from the worker: it finished one */
	/* Request n sits in slots[n % BLK_SLOTS]. [pushed, popped) were taken
	 * off the ring in ring order; the worker finished [pushed, done) and
	 * is carrying out `done` while busy. */
	unsigned popped, done, pushed;
	bool busy;
	bool quit;
	struct blk_slot slots[BLK_SLOTS];
};

/* blk_take_requests: fill free slots from the ring, waking the worker.
 * Caller holds blk->lock. false: the ring broke. */
static bool blk_take_requests(struct blk *blk, struct virtqueue *vq)
{
	int rc = 0;

	while (blk->popped - blk->pushed < BLK_SLOTS) {
		rc = vq_pop(vq, &blk->slots[blk->popped % BLK_SLOTS].elem);
		if (rc <= 0)
			break;
		blk->popped++;
		pthread_cond_signal(&blk->work);
	}
	return rc >= 0;
}

/* blk_ring_broken: a request without a status byte cannot be answered;
 * the queue stops as if vq_pop had refused the chain (virtqueue.h). */
static void blk_ring_broken(struct virtqueue *vq, uint16_t head)
{
	vq->error = -EINVAL;
	snprintf(vq->why, sizeof(vq->why), "the request at descriptor %u has no "
		 "device-writable byte for its status", head);
}

/* queue_notify: the event-loop thread, or a vCPU thread when no
 * ioeventfd took the notification; blk->lock serialises them. */
static void blk_queue_notify(struct virtio_dev *vd, unsigned q)
{
	struct blk *blk = vd->opaque;
	struct virtqueue *vq = virtio_queue(vd, q);
	bool ok;

	if (!vq)
		return;
	pthread_mutex_lock(&blk->lock);
	ok = blk_take_requests(blk, vq);
	pthread_mutex_unlock(&blk->lock);
	if (!ok)
		virtio_broken(vd, q);
}

/* blk_completed: on the event-loop thread, the worker finished requests:
 * answer them in order and take more into the freed slots. */
static void blk_completed(void *opaque, uint32_t events)
{
	struct blk *blk = opaque;
	struct virtqueue *vq;
	bool pushed = false, ok = true;
	uint64_t n;

	(void)events;
	if (read(blk->done_fd, &n, sizeof(n)) < 0)
		return;
	/* The ring is driven here, outside queue_notify: hold the queues so a
	 * device reset cannot clear them meanwhile. */
	virtio_queues_lock(blk->vd);
	pthread_mutex_lock(&blk->lock);
	/* NULL after a reset or once broken: the answers are dropped. */
	vq = virtio_queue(blk->vd, 0);
	while (blk->pushed != blk->done) {
		struct blk_slot *slot = &blk->slots[blk->pushed++ % BLK_SLOTS];

		if (!vq)
			continue;
		if (slot->result < 0) {
			blk_ring_broken(vq, slot->elem.head);
			ok = false;
			vq = NULL;
			continue;
		}
		vq_push(vq, &slot->elem, slot->used_len);
		pushed = true;
	}
	if (pushed)
		virtio_notify(blk->vd, 0);
	if (vq)
		ok = blk_take_requests(blk, vq);
	pthread_mutex_unlock(&blk->lock);
	virtio_queues_unlock(blk->vd);
	if (!ok)
		virtio_broken(blk->vd, 0);
}

static void *blk_worker(void *opaque)
{
	struct blk *blk = opaque;
	const uint64_t one = 1;

	pthread_setname_np(pthread_self(), blk->name);
	pthread_mutex_lock(&blk->lock);
	for (;;) {
		struct blk_slot *slot;

		while (!blk->quit && blk->done == blk->popped)
			pthread_cond_wait(&blk->work, &blk->lock);
		if (blk->quit)
			break;
		slot = &blk->slots[blk->done % BLK_SLOTS];
		blk->busy = true;
		pthread_mutex_unlock(&blk->lock);
		slot->result = virtio_blk_request(&blk->disk, &slot->elem, &slot->used_len);
		pthread_mutex_lock(&blk->lock);
		blk->busy = false;
		blk->done++;
		pthread_cond_broadcast(&blk->idle);
		/* EAGAIN only if the count would overflow: a wake-up is pending. */
		if (write(blk->done_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			log_warn("%s: cannot wake the event loop: %s", blk->name, strerror(errno));
	}
	pthread_mutex_unlock(&blk->lock);
	return NULL;
}

/* reset: device reset (a vCPU thread) or machine reset (the event-loop
 * thread, vCPUs stopped), with the transport's queue lock held; the
 * transport clears the queue right after.
 * Requests not started are dropped; the one in flight cannot be taken
 * back (a pwritev is under way), so wait for it. */
static void blk_reset(struct virtio_dev *vd)
{
	struct blk *blk = vd->opaque;

	pthread_mutex_lock(&blk->lock);
	blk->popped = blk->done + (blk->busy ? 1 : 0);
	while (blk->busy)
		pthread_cond_wait(&blk->idle, &blk->lock);
	blk->popped = blk->done = blk->pushed = 0;
	pthread_mutex_unlock(&blk->lock);
}

static void blk_config_read(struct virtio_dev *vd, unsigned offset, void *data, unsigned size)
{
	struct blk *blk = vd->opaque;

	/* The transport has bounded offset + size by config_size. */
	memcpy(data, (const uint8_t *)&blk->config + offset, size);
}

static void blk_free(void *opaque)
{
	struct blk *blk = opaque;

	if (blk->worker_started) {
		pthread_mutex_lock(&blk->lock);
		blk->quit = true;
		pthread_cond_signal(&blk->work);
		pthread_mutex_unlock(&blk->lock);
		pthread_join(blk->worker, NULL);
	}
	if (blk->done_fd_watched)
		event_del_fd(blk->vm->loop, blk->done_fd);
	if (blk->done_fd >= 0)
		close(blk->done_fd);
	block_close(blk->disk.bk);
	pthread_cond_destroy(&blk->idle);
	pthread_cond_destroy(&blk->work);
	pthread_mutex_destroy(&blk->lock);
	free(blk);
}

/* blk_start_worker: with every signal blocked, so that signals meant for
 * the process or for vCPU threads never land here. */
static int blk_start_worker(struct blk *blk)
{
	sigset_t all, old;
	int rc;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&blk->worker, NULL, blk_worker, blk);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc)
		return -rc;
	blk->worker_started = true;
	return 0;
}

/* blk_open: the disk `spec` asks for, or -errno with the one line said. */
static int blk_open(struct blk *blk, const char *spec_text, unsigned index)
{
	struct block_spec spec;
	struct block *bk;
	char err[256];
	int rc;

	rc = block_spec_parse(spec_text, &spec, err, sizeof(err));
	if (!rc) {
		rc = block_open(&spec, &bk, err, sizeof(err));
		if (rc)
			block_spec_free(&spec);
	}
	if (rc) {
		log_error("--disk '%s': %s", spec_text, err);
		return rc;
	}
	if (bk->size % VIRTIO_BLK_SECTOR_SIZE)
		log_warn("--disk '%s': the guest does not see the last %u bytes of '%s', which "
			 "are less than a 512-byte sector", spec_text,
			 (unsigned)(bk->size % VIRTIO_BLK_SECTOR_SIZE), spec.file);
	snprintf(blk->name, sizeof(blk->name), "virtio-blk%u", index);
	virtio_blk_disk_init(&blk->disk, bk, spec.discard, index, blk->name);
	block_spec_free(&spec);
	return 0;
}

static int blk_create(struct vm *vm, unsigned index)
{
	const char *spec_text = vm->config->disks[index];
	struct blk *blk = calloc(1, sizeof(*blk));
	int rc;

	if (!blk)
		return -ENOMEM;
	blk->vm = vm;
	blk->done_fd = -1;
	pthread_mutex_init(&blk->lock, NULL);
	pthread_cond_init(&blk->work, NULL);
	pthread_cond_init(&blk->idle, NULL);
	rc = vm_on_destroy(vm, blk_free, blk);
	if (rc) {
		blk_free(blk);
		return rc;
	}
	rc = blk_open(blk, spec_text, index);
	if (rc)
		return rc;
	virtio_blk_config_fill(&blk->disk, &blk->config);
	blk->ops = (struct virtio_dev_ops){
		.name = blk->name,
		.device_id = VIRTIO_ID_BLOCK,
		.pci_class = PCI_CLASS_STORAGE_SCSI,
		.nqueues = 1,
		.queue_size = VIRTIO_BLK_QUEUE_SIZE,
		.features = virtio_blk_features(&blk->disk),
		.config_size = sizeof(blk->config),
		.config_read = blk_config_read,
		.queue_notify = blk_queue_notify,
		.reset = blk_reset,
	};
	blk->done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	rc = blk->done_fd < 0 ? -errno : 0;
	if (!rc)
		rc = event_add_fd(vm->loop, blk->done_fd, EPOLLIN, blk_completed, blk);
	blk->done_fd_watched = !rc;
	if (!rc)
		rc = blk_start_worker(blk);
	if (!rc)
		rc = virtio_pci_create(vm, &blk->ops, blk, &blk->vd);
	if (rc)
		log_error("%s: cannot create the device for --disk '%s' (%s)", blk->name, spec_text,
			  strerror(-rc));
	return rc;
}

static int blk_init(struct vm *vm)
{
	const struct vm_config *c = vm->config;
	int rc;

	/* --bios guests get their disks on IDE (bios_boot.c); --load ones
	 * have no PCI devices to speak of. */
	if (!c->kernel) {
		if (c->ndisks && !c->bios) {
			log_error("--disk '%s': disks are for --kernel and --bios guests",
				  c->disks[0]);
			return -EINVAL;
		}
		return 0;
	}
	for (unsigned i = 0; i < c->ndisks; i++) {
		rc = blk_create(vm, i);
		if (rc)
			return rc;
	}
	return 0;
}

static const struct device_desc blk_device = {
	.name = "virtio-blk",
	.order = DEVICE_ORDER_PCI,
	.init = blk_init,
};
DEVICE_REGISTER(blk_device);
