/* virtio-input devices (Virtio 1.2, 5.8): "duet keyboard" and "duet
 * tablet". The device configuration answers the driver's select/subsel
 * queries (5.8.4) with the event types and codes each device sends; events
 * go to the guest through eventq as struct virtio_input_event (5.8.6), and
 * the guest's LED changes come back through statusq. */
#include "virtio/input.h"

#include <errno.h>
#include <linux/input-event-codes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "log.h"
#include "virtio/virtio_pci.h"
#include "vm.h"

#define INPUT_QUEUE_SIZE 64
#define INPUT_EVENTQ 0
#define INPUT_STATUSQ 1
#define PCI_CLASS_INPUT_OTHER 0x098000

/* Config selectors (5.8.4). */
#define VIRTIO_INPUT_CFG_UNSET 0x00
#define VIRTIO_INPUT_CFG_ID_NAME 0x01
#define VIRTIO_INPUT_CFG_ID_SERIAL 0x02
#define VIRTIO_INPUT_CFG_ID_DEVIDS 0x03
#define VIRTIO_INPUT_CFG_PROP_BITS 0x10
#define VIRTIO_INPUT_CFG_EV_BITS 0x11
#define VIRTIO_INPUT_CFG_ABS_INFO 0x12

#define INPUT_CFG_SELECT 0
#define INPUT_CFG_SUBSEL 1
#define INPUT_CFG_SIZE 2
#define INPUT_CFG_UNION 8
#define INPUT_CFG_UNION_SIZE 128
#define INPUT_CFG_TOTAL (INPUT_CFG_UNION + INPUT_CFG_UNION_SIZE)

/* Events waiting for the guest to offer buffers; beyond this the newest
 * are dropped (a guest that takes no input loses input, nothing else). */
#define INPUT_PENDING_MAX 256
#define INPUT_EVENT_SIZE 8

enum input_kind { INPUT_KEYBOARD, INPUT_TABLET };

struct virtio_input {
	struct virtio_dev *vd;
	enum input_kind kind;
	pthread_mutex_t lock;          /* pending events and queue driving */
	uint8_t cfg[INPUT_CFG_TOTAL];  /* select, subsel, then the answer */
	uint8_t pending[INPUT_PENDING_MAX][INPUT_EVENT_SIZE];
	unsigned pending_head, pending_count;
	struct vq_elem elem;
	unsigned leds;
};

static void bit_set(uint8_t *bitmap, unsigned bit)
{
	bitmap[bit / 8] |= (uint8_t)(1u << (bit % 8));
}

/* input_cfg_answer: fill the union for the current select/subsel and set
 * `size` (0: no such information). */
static void input_cfg_answer(struct virtio_input *in)
{
	uint8_t select = in->cfg[INPUT_CFG_SELECT], subsel = in->cfg[INPUT_CFG_SUBSEL];
	uint8_t *u = &in->cfg[INPUT_CFG_UNION];
	unsigned size = 0;

	memset(u, 0, INPUT_CFG_UNION_SIZE);
	switch (select) {
	case VIRTIO_INPUT_CFG_ID_NAME: {
		const char *name = in->kind == INPUT_KEYBOARD ? "duet keyboard" : "duet tablet";

		size = (unsigned)strlen(name);
		memcpy(u, name, size);
		break;
	}
	case VIRTIO_INPUT_CFG_ID_SERIAL:
		size = 4;
		memcpy(u, "duet", 4);
		break;
	case VIRTIO_INPUT_CFG_ID_DEVIDS: {
		/* bustype BUS_VIRTUAL, vendor/product of our own. */
		uint16_t ids[4] = { 0x06, 0x1af4, in->kind == INPUT_KEYBOARD ? 1 : 2, 1 };

		memcpy(u, ids, sizeof(ids));
		size = sizeof(ids);
		break;
	}
	case VIRTIO_INPUT_CFG_EV_BITS:
		if (in->kind == INPUT_KEYBOARD) {
			if (subsel == EV_KEY) {
				/* Every key of a PC keyboard and more: codes 1..248. */
				for (unsigned k = KEY_ESC; k < 249; k++)
					bit_set(u, k);
				size = 249 / 8 + 1;
			} else if (subsel == EV_REP) {
				size = 1;
			} else if (subsel == EV_LED) {
				bit_set(u, LED_NUML);
				bit_set(u, LED_CAPSL);
				bit_set(u, LED_SCROLLL);
				size = 1;
			}
		} else {
			if (subsel == EV_KEY) {
				bit_set(u, BTN_LEFT);
				bit_set(u, BTN_RIGHT);
				bit_set(u, BTN_MIDDLE);
				size = BTN_MIDDLE / 8 + 1;
			} else if (subsel == EV_ABS) {
				bit_set(u, ABS_X);
				bit_set(u, ABS_Y);
				size = 1;
			} else if (subsel == EV_REL) {
				bit_set(u, REL_WHEEL);
				size = REL_WHEEL / 8 + 1;
			}
		}
		break;
	case VIRTIO_INPUT_CFG_ABS_INFO:
		if (in->kind == INPUT_TABLET && (subsel == ABS_X || subsel == ABS_Y)) {
			uint32_t abs[5] = { 0, VIRTIO_INPUT_ABS_MAX, 0, 0, 0 };

			memcpy(u, abs, sizeof(abs));
			size = sizeof(abs);
		}
		break;
	default:
		break;
	}
	in->cfg[INPUT_CFG_SIZE] = (uint8_t)size;
}

static void input_config_read(struct virtio_dev *vd, unsigned offset, void *data, unsigned size)
{
	struct virtio_input *in = vd->opaque;

	pthread_mutex_lock(&in->lock);
	memcpy(data, &in->cfg[offset], size); /* the transport bounds offset+size */
	pthread_mutex_unlock(&in->lock);
}

static void input_config_write(struct virtio_dev *vd, unsigned offset, const void *data,
			       unsigned size)
{
	struct virtio_input *in = vd->opaque;

	pthread_mutex_lock(&in->lock);
	/* Only select and subsel are the driver's to write (5.8.4). */
	for (unsigned i = 0; i < size; i++)
		if (offset + i == INPUT_CFG_SELECT || offset + i == INPUT_CFG_SUBSEL)
			in->cfg[offset + i] = ((const uint8_t *)data)[i];
	input_cfg_answer(in);
	pthread_mutex_unlock(&in->lock);
}

/* input_flush: hand pending events to the guest while it has buffers.
 * Caller holds in->lock. */
static void input_flush(struct virtio_input *in)
{
	struct virtqueue *vq = virtio_queue(in->vd, INPUT_EVENTQ);
	int pushed = 0, rc = 0;

	if (!vq || !(in->vd->status & VIRTIO_STATUS_DRIVER_OK))
		return;
	while (in->pending_count && (rc = vq_pop(vq, &in->elem)) == 1) {
		uint32_t n = (uint32_t)vq_elem_write(&in->elem, 0, in->pending[in->pending_head],
						     INPUT_EVENT_SIZE);

		vq_push(vq, &in->elem, n);
		in->pending_head = (in->pending_head + 1) % INPUT_PENDING_MAX;
		in->pending_count--;
		pushed = 1;
	}
	if (rc < 0)
		virtio_broken(in->vd, INPUT_EVENTQ);
	if (pushed)
		virtio_notify(in->vd, INPUT_EVENTQ);
}

/* input_status: LED events from the guest (statusq). */
static void input_status(struct virtio_input *in)
{
	struct virtqueue *vq = virtio_queue(in->vd, INPUT_STATUSQ);
	int pushed = 0, rc;

	if (!vq)
		return;
	while ((rc = vq_pop(vq, &in->elem)) == 1) {
		uint8_t ev[INPUT_EVENT_SIZE];
		uint16_t type, code;
		uint32_t value;

		if (vq_elem_read(&in->elem, 0, ev, sizeof(ev)) == sizeof(ev)) {
			memcpy(&type, ev, 2);
			memcpy(&code, ev + 2, 2);
			memcpy(&value, ev + 4, 4);
			if (type == EV_LED && code < 8) {
				if (value)
					in->leds |= 1u << code;
				else
					in->leds &= ~(1u << code);
			}
		}
		vq_push(vq, &in->elem, 0);
		pushed = 1;
	}
	if (rc < 0)
		virtio_broken(in->vd, INPUT_STATUSQ);
	if (pushed)
		virtio_notify(in->vd, INPUT_STATUSQ);
}

static void input_queue_notify(struct virtio_dev *vd, unsigned q)
{
	struct virtio_input *in = vd->opaque;

	pthread_mutex_lock(&in->lock);
	if (q == INPUT_EVENTQ)
		input_flush(in);
	else
		input_status(in);
	pthread_mutex_unlock(&in->lock);
}

static void input_reset(struct virtio_dev *vd)
{
	struct virtio_input *in = vd->opaque;

	pthread_mutex_lock(&in->lock);
	in->pending_count = 0;
	in->pending_head = 0;
	in->leds = 0;
	memset(in->cfg, 0, sizeof(in->cfg));
	pthread_mutex_unlock(&in->lock);
}

int virtio_input_send(struct virtio_input *in, uint16_t type, uint16_t code, int32_t value)
{
	uint8_t *ev;
	int err = 0;

	/* This pushes from the caller's thread: hold the queues like
	 * queue_notify does. */
	virtio_queues_lock(in->vd);
	pthread_mutex_lock(&in->lock);
	if (in->pending_count == INPUT_PENDING_MAX) {
		err = -EAGAIN;
	} else {
		ev = in->pending[(in->pending_head + in->pending_count) % INPUT_PENDING_MAX];
		memcpy(ev, &type, 2);
		memcpy(ev + 2, &code, 2);
		memcpy(ev + 4, &value, 4);
		in->pending_count++;
		if (type == EV_SYN)
			input_flush(in);
	}
	pthread_mutex_unlock(&in->lock);
	virtio_queues_unlock(in->vd);
	return err;
}

int virtio_input_ready(const struct virtio_input *in)
{
	return in && (in->vd->status & VIRTIO_STATUS_DRIVER_OK) &&
	       virtio_queue(in->vd, INPUT_EVENTQ) != NULL;
}

static const struct virtio_dev_ops input_ops = {
	.name = "virtio-input",
	.device_id = VIRTIO_ID_INPUT,
	.pci_class = PCI_CLASS_INPUT_OTHER,
	.nqueues = 2,
	.queue_size = INPUT_QUEUE_SIZE,
	.config_size = INPUT_CFG_TOTAL,
	.config_read = input_config_read,
	.config_write = input_config_write,
	.queue_notify = input_queue_notify,
	.reset = input_reset,
};

static void input_free(void *opaque)
{
	struct virtio_input *in = opaque;

	pthread_mutex_destroy(&in->lock);
	free(in);
}

static int input_create(struct vm *vm, enum input_kind kind, struct virtio_input **out)
{
	struct virtio_input *in = calloc(1, sizeof(*in));
	int err;

	if (!in)
		return -ENOMEM;
	in->kind = kind;
	pthread_mutex_init(&in->lock, NULL);
	err = vm_on_destroy(vm, input_free, in);
	if (err) {
		input_free(in);
		return err;
	}
	err = virtio_pci_create(vm, &input_ops, in, &in->vd);
	if (err) {
		log_error("virtio-input: cannot create the device (%s)", strerror(-err));
		return err;
	}
	*out = in;
	return 0;
}

static int input_init(struct vm *vm)
{
	int err;

	if (!vm->config->kernel || !vm->config->input)
		return 0;
	err = input_create(vm, INPUT_KEYBOARD, &vm->input_keyboard);
	if (!err)
		err = input_create(vm, INPUT_TABLET, &vm->input_tablet);
	return err;
}

static const struct device_desc input_device = {
	.name = "virtio-input",
	.order = DEVICE_ORDER_PCI,
	.init = input_init,
};
DEVICE_REGISTER(input_device);
