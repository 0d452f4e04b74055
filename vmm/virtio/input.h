/* virtio-input (Virtio 1.2, 5.8): a keyboard and an absolute tablet for
 * --kernel guests, fed with evdev events by duet-display and the control
 * socket. */
#ifndef DUET_VIRTIO_INPUT_H
#define DUET_VIRTIO_INPUT_H

#include <stdint.h>

struct virtio_input;

/* The range of the tablet's ABS_X/ABS_Y axes: positions are given in this
 * range, whatever the guest's screen size. */
#define VIRTIO_INPUT_ABS_MAX 32767

/* virtio_input_send: queue one evdev event (type, code, value) for the
 * guest; an EV_SYN/SYN_REPORT ends a batch. Safe from any thread. Returns
 * 0, or -EAGAIN when the guest has not taken earlier events and the queue
 * is full (the event is dropped). */
int virtio_input_send(struct virtio_input *in, uint16_t type, uint16_t code, int32_t value);

/* virtio_input_ready: the guest driver has set the device up. */
int virtio_input_ready(const struct virtio_input *in);

#endif
