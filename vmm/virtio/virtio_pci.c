/* virtio-pci modern transport (Virtio 1.2, 4.1.4 "Virtio Structure PCI
 * Capabilities"). BAR 4 (64-bit memory, 16 KiB) holds the structures:
 *   0x0000 common configuration (4.1.4.3)
 *   0x1000 ISR status (4.1.4.5)
 *   0x2000 device configuration (4.1.4.6)
 *   0x3000 notifications, queue q at 0x3000 + 4 * q (4.1.4.4)
 * BAR 1 (32-bit memory, 4 KiB) holds the MSI-X table at 0 and PBA at 0x800. */
#include "virtio/virtio_pci.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "event.h"
#include "log.h"
#include "vm.h"

#define VIRTIO_BAR_MSIX 1
#define VIRTIO_BAR_CFG 4
#define VIRTIO_BAR_CFG_SIZE 0x4000
#define VIRTIO_BAR_MSIX_SIZE 0x1000
#define VIRTIO_MSIX_PBA 0x800

#define VIRTIO_OFF_COMMON 0x0000
#define VIRTIO_OFF_ISR 0x1000
#define VIRTIO_OFF_DEVICE 0x2000
#define VIRTIO_OFF_NOTIFY 0x3000
#define VIRTIO_NOTIFY_MULT 4
#define VIRTIO_REGION_SIZE 0x1000

/* Features the transport itself offers on every device. */
#define VIRTIO_TRANSPORT_FEATURES                                           \
	((1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_F_EVENT_IDX) |       \
	 (1ULL << VIRTIO_F_INDIRECT_DESC))

static uint64_t virtio_offered(const struct virtio_dev *vd)
{
	return vd->ops->features | VIRTIO_TRANSPORT_FEATURES;
}

/* ---- interrupts ---- */

void virtio_notify(struct virtio_dev *vd, unsigned q)
{
	uint16_t vector;

	if (q >= vd->ops->nqueues)
		return;
	if (!vq_should_notify(&vd->queues[q].vq))
		return;
	vector = vd->queues[q].msix_vector;
	if (pci_msix_enabled(&vd->pci)) {
		if (vector != VIRTIO_MSI_NO_VECTOR)
			pci_msix_notify(&vd->pci, vector);
		return;
	}
	pthread_mutex_lock(&vd->lock);
	vd->isr |= VIRTIO_PCI_ISR_QUEUE;
	pthread_mutex_unlock(&vd->lock);
	pci_set_irq(&vd->pci, 1);
}

void virtio_config_changed(struct virtio_dev *vd)
{
	pthread_mutex_lock(&vd->lock);
	vd->config_generation++;
	vd->isr |= VIRTIO_PCI_ISR_CONFIG;
	pthread_mutex_unlock(&vd->lock);
	if (pci_msix_enabled(&vd->pci)) {
		if (vd->msix_config != VIRTIO_MSI_NO_VECTOR)
			pci_msix_notify(&vd->pci, vd->msix_config);
		return;
	}
	pci_set_irq(&vd->pci, 1);
}

void virtio_broken(struct virtio_dev *vd, unsigned q)
{
	int first;

	pthread_mutex_lock(&vd->lock);
	first = !(vd->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	vd->status |= VIRTIO_STATUS_DEVICE_NEEDS_RESET;
	pthread_mutex_unlock(&vd->lock);
	if (first) {
		log_warn("%s: queue %u: %s; the device needs a reset", vd->ops->name, q,
			 vd->queues[q].vq.why[0] ? vd->queues[q].vq.why : "driver error");
		virtio_config_changed(vd);
	}
}

struct virtqueue *virtio_queue(struct virtio_dev *vd, unsigned q)
{
	if (q >= vd->ops->nqueues || !vd->queues[q].vq.enabled || vq_broken(&vd->queues[q].vq))
		return NULL;
	return &vd->queues[q].vq;
}

/* ---- notifications ---- */

static void virtio_ioeventfd_fired(void *opaque, uint32_t events);

struct virtio_notify_ctx {
	struct virtio_dev *vd;
	unsigned q;
};

void virtio_queues_lock(struct virtio_dev *vd)
{
	pthread_mutex_lock(&vd->queue_lock);
}

void virtio_queues_unlock(struct virtio_dev *vd)
{
	pthread_mutex_unlock(&vd->queue_lock);
}

static void virtio_queue_kick(struct virtio_dev *vd, unsigned q)
{
	pthread_mutex_lock(&vd->queue_lock);
	if ((vd->status & VIRTIO_STATUS_DRIVER_OK) && virtio_queue(vd, q) &&
	    vd->ops->queue_notify)
		vd->ops->queue_notify(vd, q);
	pthread_mutex_unlock(&vd->queue_lock);
}

static void virtio_ioeventfd_fired(void *opaque, uint32_t events)
{
	struct virtio_dev *vd = opaque;
	uint64_t n;

	(void)events;
	/* One eventfd per queue; find which fired by draining them all. */
	for (unsigned q = 0; q < vd->ops->nqueues; q++) {
		if (read(vd->queues[q].ioeventfd, &n, sizeof(n)) == sizeof(n))
			virtio_queue_kick(vd, q);
	}
}

static void virtio_ioeventfd_assign(struct virtio_dev *vd, uint64_t bar_addr, int assign)
{
	for (unsigned q = 0; q < vd->ops->nqueues; q++) {
		struct virtio_queue_state *qs = &vd->queues[q];
		struct kvm_ioeventfd io = { 0 };

		if (assign == qs->ioeventfd_assigned)
			continue;
		io.addr = assign ? bar_addr + VIRTIO_OFF_NOTIFY + VIRTIO_NOTIFY_MULT * q
				 : qs->ioeventfd_addr;
		io.len = 0; /* any width: drivers write 16 bits, some 32 */
		io.fd = qs->ioeventfd;
		io.flags = assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN;
		if (ioctl(vd->vm->vm_fd, KVM_IOEVENTFD, &io) < 0) {
			log_warn("%s: ioeventfd for queue %u: %s (notifications go through "
				 "the VMM)", vd->ops->name, q, strerror(errno));
			continue;
		}
		qs->ioeventfd_assigned = assign;
		qs->ioeventfd_addr = io.addr;
	}
}

static void virtio_bar_moved(struct pci_device *dev, unsigned bar, uint64_t addr, int mapped)
{
	struct virtio_dev *vd = (struct virtio_dev *)dev;

	if (bar == VIRTIO_BAR_CFG)
		virtio_ioeventfd_assign(vd, addr, mapped);
}

static const struct pci_device_ops virtio_pci_ops = {
	.bar_moved = virtio_bar_moved,
};

/* ---- reset ---- */

/* virtio_reset_locked: device reset (4.1.4.3.1: writing 0 to
 * device_status), also the machine reset. Caller holds vd->lock. */
static void virtio_reset_locked(struct virtio_dev *vd)
{
	vd->status = 0;
	vd->driver_features = 0;
	vd->device_feature_select = vd->driver_feature_select = 0;
	vd->msix_config = VIRTIO_MSI_NO_VECTOR;
	vd->queue_select = 0;
	vd->isr = 0;
	for (unsigned q = 0; q < vd->ops->nqueues; q++) {
		struct virtio_queue_state *qs = &vd->queues[q];

		vq_init(&qs->vq, &vd->vm->mem, vd->ops->queue_size, 0);
		qs->vq.enabled = false;
		qs->size = (uint16_t)vd->ops->queue_size;
		qs->msix_vector = VIRTIO_MSI_NO_VECTOR;
		qs->enable = 0;
		qs->desc = qs->driver = qs->device = 0;
	}
}

/* virtio_device_reset: quiesce the device model first, then clear the
 * transport's queue state, with no queue being driven meanwhile. */
static void virtio_device_reset(struct virtio_dev *vd)
{
	pthread_mutex_lock(&vd->queue_lock);
	if (vd->ops->reset)
		vd->ops->reset(vd);
	pthread_mutex_lock(&vd->lock);
	virtio_reset_locked(vd);
	pthread_mutex_unlock(&vd->lock);
	pthread_mutex_unlock(&vd->queue_lock);
	pci_set_irq(&vd->pci, 0);
}

static void virtio_machine_reset(void *opaque)
{
	virtio_device_reset(opaque);
}

/* ---- common configuration ---- */

static uint64_t common_read(struct virtio_dev *vd, unsigned off)
{
	struct virtio_queue_state *qs =
		vd->queue_select < vd->ops->nqueues ? &vd->queues[vd->queue_select] : NULL;

	switch (off) {
	case VIRTIO_PCI_COMMON_DEVICE_FEATURE_SELECT:
		return vd->device_feature_select;
	case VIRTIO_PCI_COMMON_DEVICE_FEATURE:
		return vd->device_feature_select < 2
			       ? (uint32_t)(virtio_offered(vd) >> (32 * vd->device_feature_select))
			       : 0;
	case VIRTIO_PCI_COMMON_DRIVER_FEATURE_SELECT:
		return vd->driver_feature_select;
	case VIRTIO_PCI_COMMON_DRIVER_FEATURE:
		return vd->driver_feature_select < 2
			       ? (uint32_t)(vd->driver_features >> (32 * vd->driver_feature_select))
			       : 0;
	case VIRTIO_PCI_COMMON_CONFIG_MSIX_VECTOR:
		return vd->msix_config;
	case VIRTIO_PCI_COMMON_NUM_QUEUES:
		return vd->ops->nqueues;
	case VIRTIO_PCI_COMMON_DEVICE_STATUS:
		return vd->status;
	case VIRTIO_PCI_COMMON_CONFIG_GENERATION:
		return vd->config_generation;
	case VIRTIO_PCI_COMMON_QUEUE_SELECT:
		return vd->queue_select;
	}
	/* Per-queue fields read 0 for a queue that does not exist (4.1.4.3.2:
	 * queue_size 0 tells the driver so). */
	if (!qs)
		return 0;
	switch (off) {
	case VIRTIO_PCI_COMMON_QUEUE_SIZE:
		return qs->size;
	case VIRTIO_PCI_COMMON_QUEUE_MSIX_VECTOR:
		return qs->msix_vector;
	case VIRTIO_PCI_COMMON_QUEUE_ENABLE:
		return qs->enable;
	case VIRTIO_PCI_COMMON_QUEUE_NOTIFY_OFF:
		return vd->queue_select;
	case VIRTIO_PCI_COMMON_QUEUE_DESC:
		return qs->desc;
	case VIRTIO_PCI_COMMON_QUEUE_DRIVER:
		return qs->driver;
	case VIRTIO_PCI_COMMON_QUEUE_DEVICE:
		return qs->device;
	case VIRTIO_PCI_COMMON_QUEUE_NOTIFY_DATA:
		return vd->queue_select;
	}
	return 0;
}

/* common_set64_half: the 64-bit queue addresses are written as two
 * 32-bit halves (4.1.3.1). */
static void common_set64(uint64_t *field, unsigned half_off, unsigned size, uint64_t v)
{
	if (size == 8) {
		*field = v;
	} else if (half_off == 0) {
		*field = (*field & ~0xffffffffULL) | (uint32_t)v;
	} else {
		*field = (*field & 0xffffffffULL) | (uint64_t)(uint32_t)v << 32;
	}
}

/* Returns a queue to kick after the lock is dropped, or -1. */
static void common_write(struct virtio_dev *vd, unsigned off, unsigned size, uint64_t v,
			 int *reset, int *driver_ok)
{
	struct virtio_queue_state *qs =
		vd->queue_select < vd->ops->nqueues ? &vd->queues[vd->queue_select] : NULL;
	unsigned base = off & ~7u;

	switch (off) {
	case VIRTIO_PCI_COMMON_DEVICE_FEATURE_SELECT:
		vd->device_feature_select = (uint32_t)v;
		return;
	case VIRTIO_PCI_COMMON_DRIVER_FEATURE_SELECT:
		vd->driver_feature_select = (uint32_t)v;
		return;
	case VIRTIO_PCI_COMMON_DRIVER_FEATURE:
		/* Features can only change before FEATURES_OK (3.1.1). */
		if (vd->status & VIRTIO_STATUS_FEATURES_OK || vd->driver_feature_select >= 2)
			return;
		{
			unsigned shift = 32 * vd->driver_feature_select;

			vd->driver_features &= ~(0xffffffffULL << shift);
			vd->driver_features |= ((uint64_t)(uint32_t)v << shift) & virtio_offered(vd);
		}
		return;
	case VIRTIO_PCI_COMMON_CONFIG_MSIX_VECTOR:
		vd->msix_config = (uint16_t)v < vd->ops->nqueues + 1 ? (uint16_t)v
								    : VIRTIO_MSI_NO_VECTOR;
		return;
	case VIRTIO_PCI_COMMON_DEVICE_STATUS:
		if ((v & 0xff) == 0) {
			*reset = 1;
			return;
		}
		/* FEATURES_OK only sticks when the features are acceptable: we
		 * are a modern-only device, so VERSION_1 is required (6.1). */
		if ((v & VIRTIO_STATUS_FEATURES_OK) && !(vd->status & VIRTIO_STATUS_FEATURES_OK) &&
		    !virtio_has_feature(vd, VIRTIO_F_VERSION_1))
			v &= ~(uint64_t)VIRTIO_STATUS_FEATURES_OK;
		if ((v & VIRTIO_STATUS_DRIVER_OK) && !(vd->status & VIRTIO_STATUS_DRIVER_OK))
			*driver_ok = 1;
		vd->status = (uint8_t)(v | (vd->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET));
		return;
	case VIRTIO_PCI_COMMON_QUEUE_SELECT:
		vd->queue_select = (uint16_t)v;
		return;
	}
	if (!qs)
		return;
	switch (base == VIRTIO_PCI_COMMON_QUEUE_DESC || base == VIRTIO_PCI_COMMON_QUEUE_DRIVER ||
				base == VIRTIO_PCI_COMMON_QUEUE_DEVICE
			? base
			: off) {
	case VIRTIO_PCI_COMMON_QUEUE_SIZE:
		/* Any power of two up to the maximum (4.1.4.3.2); the queue
		 * stays unusable otherwise and vq_init refuses it. */
		if (!qs->enable && v >= 1 && v <= vd->ops->queue_size)
			qs->size = (uint16_t)v;
		return;
	case VIRTIO_PCI_COMMON_QUEUE_MSIX_VECTOR:
		qs->msix_vector = (uint16_t)v < vd->ops->nqueues + 1 ? (uint16_t)v
								     : VIRTIO_MSI_NO_VECTOR;
		return;
	case VIRTIO_PCI_COMMON_QUEUE_ENABLE:
		if (v != 1 || qs->enable)
			return; /* 0 is not a way to disable (4.1.4.3.2) */
		if (vq_init(&qs->vq, &vd->vm->mem, qs->size, vd->driver_features) ||
		    vq_set_addresses(&qs->vq, qs->desc, qs->driver, qs->device)) {
			log_warn("%s: queue %u: the driver gave a size or addresses that are "
				 "not usable", vd->ops->name, vd->queue_select);
			vd->status |= VIRTIO_STATUS_DEVICE_NEEDS_RESET;
			return;
		}
		qs->enable = 1;
		return;
	case VIRTIO_PCI_COMMON_QUEUE_DESC:
		if (!qs->enable)
			common_set64(&qs->desc, off - base, size, v);
		return;
	case VIRTIO_PCI_COMMON_QUEUE_DRIVER:
		if (!qs->enable)
			common_set64(&qs->driver, off - base, size, v);
		return;
	case VIRTIO_PCI_COMMON_QUEUE_DEVICE:
		if (!qs->enable)
			common_set64(&qs->device, off - base, size, v);
		return;
	}
}

/* ---- BAR 4 ---- */

static void virtio_bar_read(void *opaque, uint64_t offset, void *data, unsigned size)
{
	struct virtio_dev *vd = opaque;
	uint64_t v = 0;

	memset(data, 0, size);
	if (offset < VIRTIO_OFF_COMMON + VIRTIO_PCI_COMMON_CFG_SIZE) {
		unsigned off = (unsigned)offset, base = off & ~7u;

		pthread_mutex_lock(&vd->lock);
		if (base == VIRTIO_PCI_COMMON_QUEUE_DESC || base == VIRTIO_PCI_COMMON_QUEUE_DRIVER ||
		    base == VIRTIO_PCI_COMMON_QUEUE_DEVICE)
			v = common_read(vd, base) >> (8 * (off - base));
		else
			v = common_read(vd, off);
		pthread_mutex_unlock(&vd->lock);
		memcpy(data, &v, size);
	} else if (offset == VIRTIO_OFF_ISR) {
		/* Reading ISR clears it and deasserts INTx (4.1.4.5.1). */
		pthread_mutex_lock(&vd->lock);
		*(uint8_t *)data = vd->isr;
		vd->isr = 0;
		pthread_mutex_unlock(&vd->lock);
		pci_set_irq(&vd->pci, 0);
	} else if (offset >= VIRTIO_OFF_DEVICE && offset < VIRTIO_OFF_DEVICE + VIRTIO_REGION_SIZE) {
		unsigned off = (unsigned)(offset - VIRTIO_OFF_DEVICE);

		/* The bound: the device's configuration size. */
		if (off + size <= vd->ops->config_size && vd->ops->config_read)
			vd->ops->config_read(vd, off, data, size);
	}
}

static void virtio_bar_write(void *opaque, uint64_t offset, const void *data, unsigned size)
{
	struct virtio_dev *vd = opaque;
	uint64_t v = 0;
	int reset = 0, driver_ok = 0;

	memcpy(&v, data, size);
	if (offset < VIRTIO_OFF_COMMON + VIRTIO_PCI_COMMON_CFG_SIZE) {
		pthread_mutex_lock(&vd->lock);
		common_write(vd, (unsigned)offset, size, v, &reset, &driver_ok);
		pthread_mutex_unlock(&vd->lock);
		if (reset)
			virtio_device_reset(vd);
		if (driver_ok && vd->ops->driver_ok)
			vd->ops->driver_ok(vd);
	} else if (offset >= VIRTIO_OFF_DEVICE && offset < VIRTIO_OFF_DEVICE + VIRTIO_REGION_SIZE) {
		unsigned off = (unsigned)(offset - VIRTIO_OFF_DEVICE);

		if (off + size <= vd->ops->config_size && vd->ops->config_write)
			vd->ops->config_write(vd, off, data, size);
	} else if (offset >= VIRTIO_OFF_NOTIFY &&
		   offset < VIRTIO_OFF_NOTIFY + VIRTIO_NOTIFY_MULT * vd->ops->nqueues) {
		/* Reached only when no ioeventfd took the write. */
		virtio_queue_kick(vd, (unsigned)(offset - VIRTIO_OFF_NOTIFY) / VIRTIO_NOTIFY_MULT);
	}
}

static const struct bus_ops virtio_bar_ops = {
	.read = virtio_bar_read,
	.write = virtio_bar_write,
};

static void virtio_msix_bar_read(void *opaque, uint64_t offset, void *data, unsigned size)
{
	struct virtio_dev *vd = opaque;

	if (!pci_msix_read(&vd->pci, offset, data, size))
		memset(data, 0, size);
}

static void virtio_msix_bar_write(void *opaque, uint64_t offset, const void *data, unsigned size)
{
	struct virtio_dev *vd = opaque;

	pci_msix_write(&vd->pci, offset, data, size);
}

static const struct bus_ops virtio_msix_bar_ops = {
	.read = virtio_msix_bar_read,
	.write = virtio_msix_bar_write,
};

/* ---- set-up ---- */

static void virtio_add_cap(struct pci_device *dev, uint8_t type, uint32_t offset,
			   uint32_t length, uint8_t cap_len)
{
	uint8_t at = pci_add_capability(dev, PCI_CAP_ID_VNDR, cap_len);

	if (!at)
		return;
	dev->config[at + VIRTIO_PCI_CAP_LEN] = cap_len;
	dev->config[at + VIRTIO_PCI_CAP_CFG_TYPE] = type;
	dev->config[at + VIRTIO_PCI_CAP_BAR] = VIRTIO_BAR_CFG;
	memcpy(&dev->config[at + VIRTIO_PCI_CAP_OFFSET], &offset, 4);
	memcpy(&dev->config[at + VIRTIO_PCI_CAP_LENGTH], &length, 4);
	if (type == VIRTIO_PCI_CAP_NOTIFY_CFG) {
		uint32_t mult = VIRTIO_NOTIFY_MULT;

		memcpy(&dev->config[at + VIRTIO_PCI_NOTIFY_CAP_MULT], &mult, 4);
	}
}

static void virtio_free(void *opaque)
{
	struct virtio_dev *vd = opaque;

	for (unsigned q = 0; q < vd->ops->nqueues; q++) {
		if (vd->queues[q].ioeventfd >= 0) {
			event_del_fd(vd->vm->loop, vd->queues[q].ioeventfd);
			close(vd->queues[q].ioeventfd);
		}
	}
	pthread_mutex_destroy(&vd->lock);
	pthread_mutex_destroy(&vd->queue_lock);
	free(vd);
}

int virtio_pci_create(struct vm *vm, const struct virtio_dev_ops *ops, void *opaque,
		      struct virtio_dev **out)
{
	struct virtio_dev *vd;
	int err;

	if (ops->nqueues > VIRTIO_MAX_QUEUES || ops->config_size > VIRTIO_REGION_SIZE)
		return -EINVAL;
	vd = calloc(1, sizeof(*vd));
	if (!vd)
		return -ENOMEM;
	vd->vm = vm;
	vd->ops = ops;
	vd->opaque = opaque;
	pthread_mutex_init(&vd->lock, NULL);
	pthread_mutex_init(&vd->queue_lock, NULL);
	for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
		vd->queues[q].ioeventfd = -1;
	err = vm_on_destroy(vm, virtio_free, vd);
	if (err) {
		pthread_mutex_destroy(&vd->lock);
		pthread_mutex_destroy(&vd->queue_lock);
		free(vd);
		return err;
	}
	for (unsigned q = 0; q < ops->nqueues; q++) {
		vd->queues[q].ioeventfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (vd->queues[q].ioeventfd < 0)
			return -errno;
		err = event_add_fd(vm->loop, vd->queues[q].ioeventfd, EPOLLIN,
				   virtio_ioeventfd_fired, vd);
		if (err)
			return err;
	}
	virtio_reset_locked(vd);

	pci_device_init(&vd->pci, ops->name, VIRTIO_PCI_VENDOR_ID,
			(uint16_t)(VIRTIO_PCI_DEVICE_ID_BASE + ops->device_id), ops->pci_class,
			VIRTIO_PCI_REVISION);
	pci_set_subsystem(&vd->pci, VIRTIO_PCI_VENDOR_ID, VIRTIO_PCI_SUBSYSTEM_MIN);
	pci_set_interrupt_pin(&vd->pci, 1);
	vd->pci.ops = &virtio_pci_ops;
	vd->pci.opaque = vd;
	pci_bar_init(&vd->pci, VIRTIO_BAR_MSIX, PCI_BAR_MEM32, VIRTIO_BAR_MSIX_SIZE, 0,
		     &virtio_msix_bar_ops, vd);
	pci_bar_init(&vd->pci, VIRTIO_BAR_CFG, PCI_BAR_MEM64, VIRTIO_BAR_CFG_SIZE, 0,
		     &virtio_bar_ops, vd);
	virtio_add_cap(&vd->pci, VIRTIO_PCI_CAP_COMMON_CFG, VIRTIO_OFF_COMMON,
		       VIRTIO_PCI_COMMON_CFG_SIZE, VIRTIO_PCI_CAP_SIZE);
	virtio_add_cap(&vd->pci, VIRTIO_PCI_CAP_ISR_CFG, VIRTIO_OFF_ISR, 1, VIRTIO_PCI_CAP_SIZE);
	if (ops->config_size)
		virtio_add_cap(&vd->pci, VIRTIO_PCI_CAP_DEVICE_CFG, VIRTIO_OFF_DEVICE,
			       ops->config_size, VIRTIO_PCI_CAP_SIZE);
	virtio_add_cap(&vd->pci, VIRTIO_PCI_CAP_NOTIFY_CFG, VIRTIO_OFF_NOTIFY,
		       VIRTIO_NOTIFY_MULT * ops->nqueues, VIRTIO_PCI_NOTIFY_CAP_SIZE);
	err = pci_msix_init(&vd->pci, ops->nqueues + 1, VIRTIO_BAR_MSIX, 0, VIRTIO_MSIX_PBA);
	if (err)
		return err;
	err = pci_register(vm, &vd->pci, -1);
	if (err)
		return err;
	err = vm_on_reset(vm, virtio_machine_reset, vd);
	if (err)
		return err;
	*out = vd;
	return 0;
}
