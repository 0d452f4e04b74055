/* The virtio 1.x PCI transport, modern only (Virtio 1.2, 4.1): a virtio
 * device model fills a struct virtio_dev_ops and gets a PCI function with
 * the common, notify, ISR and device configuration structures in BAR 4, an
 * MSI-X table in BAR 1, ioeventfd queue notifications and irqfd
 * interrupts. */
#ifndef DUET_VIRTIO_VIRTIO_PCI_H
#define DUET_VIRTIO_VIRTIO_PCI_H

#include <pthread.h>
#include <stdint.h>

#include "pci.h"
#include "virtio/virtqueue.h"

struct vm;
struct virtio_dev;

#define VIRTIO_MAX_QUEUES 8

struct virtio_dev_ops {
	const char *name;
	uint16_t device_id;           /* VIRTIO_ID_* */
	uint32_t pci_class;           /* class << 16 | subclass << 8 | prog-if */
	unsigned nqueues;
	unsigned queue_size;          /* the largest size the driver may pick */
	uint64_t features;            /* device-specific feature bits offered */
	unsigned config_size;         /* bytes of device configuration */
	/* Device configuration space: the device's own layout. */
	void (*config_read)(struct virtio_dev *vd, unsigned offset, void *data, unsigned size);
	void (*config_write)(struct virtio_dev *vd, unsigned offset, const void *data,
			     unsigned size);
	/* The driver notified queue q; runs on the event-loop thread. */
	void (*queue_notify)(struct virtio_dev *vd, unsigned q);
	/* The driver set DRIVER_OK: queues are live. */
	void (*driver_ok)(struct virtio_dev *vd);
	/* Device reset (status 0 or machine reset): drop all queue work. */
	void (*reset)(struct virtio_dev *vd);
};

struct virtio_queue_state {
	struct virtqueue vq;
	uint16_t size;
	uint16_t msix_vector;
	uint16_t enable;
	uint64_t desc, driver, device;
	int ioeventfd;
	int ioeventfd_assigned;
	uint64_t ioeventfd_addr;
};

struct virtio_dev {
	struct pci_device pci;
	struct vm *vm;
	const struct virtio_dev_ops *ops;
	void *opaque;                 /* the device model's state */
	pthread_mutex_t lock;         /* transport registers */
	/* Held while a queue is driven (queue_notify) and while the device
	 * resets, so a reset never pulls a ring from under a running pop or
	 * push. Devices that push from other threads take it too
	 * (virtio_queues_lock); it nests outside the device's own locks. */
	pthread_mutex_t queue_lock;
	uint64_t driver_features;
	uint32_t device_feature_select, driver_feature_select;
	uint8_t status;
	uint8_t config_generation;
	uint8_t isr;
	uint16_t msix_config;
	uint16_t queue_select;
	struct virtio_queue_state queues[VIRTIO_MAX_QUEUES];
};

/* virtio_pci_create: a virtio device on the PCI bus; -errno on failure
 * (logged). The device lives until the VM is destroyed. */
int virtio_pci_create(struct vm *vm, const struct virtio_dev_ops *ops, void *opaque,
		      struct virtio_dev **out);

/* virtio_queue: the live virtqueue q, or NULL when the driver has not
 * enabled it (or it broke). */
struct virtqueue *virtio_queue(struct virtio_dev *vd, unsigned q);

/* virtio_notify: used buffers were added to queue q; interrupt the driver
 * if it wants one. Safe from any thread. */
void virtio_notify(struct virtio_dev *vd, unsigned q);
/* virtio_config_changed: the device configuration changed. */
void virtio_config_changed(struct virtio_dev *vd);
/* virtio_broken: a queue broke the rules: set DEVICE_NEEDS_RESET, log once. */
void virtio_broken(struct virtio_dev *vd, unsigned q);

void virtio_queues_lock(struct virtio_dev *vd);
void virtio_queues_unlock(struct virtio_dev *vd);

static inline int virtio_has_feature(const struct virtio_dev *vd, unsigned bit)
{
	return (vd->driver_features >> bit) & 1;
}

#endif
