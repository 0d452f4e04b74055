/* virtio-rng, the entropy device (Virtio 1.2, 5.4): every device-writable
 * buffer the driver offers is filled from the host's getrandom(). Given to
 * --kernel guests unless --rng no, so a fresh guest's crng is ready at once
 * instead of waiting for jitter entropy. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "device.h"
#include "log.h"
#include "virtio/virtio_pci.h"
#include "vm.h"

#define RNG_QUEUE_SIZE 64
#define PCI_CLASS_OTHER 0xff0000
/* At most this many bytes per request: a driver asking for more gets a
 * short fill, which 5.4.6.1 allows. */
#define RNG_MAX_FILL 4096

struct rng {
	struct vq_elem elem;
};

static void rng_queue_notify(struct virtio_dev *vd, unsigned q)
{
	struct rng *rng = vd->opaque;
	struct virtqueue *vq = virtio_queue(vd, q);
	int pushed = 0, rc;

	if (!vq)
		return;
	while ((rc = vq_pop(vq, &rng->elem)) == 1) {
		uint8_t buf[RNG_MAX_FILL];
		size_t want = rng->elem.in_len < sizeof(buf) ? rng->elem.in_len : sizeof(buf);
		ssize_t got = getrandom(buf, want, 0);

		if (got < 0)
			got = 0;
		vq_push(vq, &rng->elem, (uint32_t)vq_elem_write(&rng->elem, 0, buf, (size_t)got));
		pushed = 1;
	}
	if (rc < 0)
		virtio_broken(vd, q);
	if (pushed)
		virtio_notify(vd, q);
}

static const struct virtio_dev_ops rng_ops = {
	.name = "virtio-rng",
	.device_id = VIRTIO_ID_ENTROPY,
	.pci_class = PCI_CLASS_OTHER,
	.nqueues = 1,
	.queue_size = RNG_QUEUE_SIZE,
	.queue_notify = rng_queue_notify,
};

static int rng_init(struct vm *vm)
{
	struct virtio_dev *vd;
	struct rng *rng;
	int err;

	if (!vm->config->kernel || !vm->config->rng)
		return 0;
	rng = calloc(1, sizeof(*rng));
	if (!rng)
		return -ENOMEM;
	err = vm_on_destroy(vm, free, rng);
	if (err) {
		free(rng);
		return err;
	}
	err = virtio_pci_create(vm, &rng_ops, rng, &vd);
	if (err)
		log_error("virtio-rng: cannot create the device (%s)", strerror(-err));
	return err;
}

static const struct device_desc rng_device = {
	.name = "virtio-rng",
	.order = DEVICE_ORDER_PCI,
	.init = rng_init,
};
DEVICE_REGISTER(rng_device);
