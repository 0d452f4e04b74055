/* The evdev input source: every keyboard, mouse and tablet under
 * /dev/input, read with libevdev and grabbed (EVIOCGRAB), so the console
 * and any other reader get nothing while the display runs.
 *   - Devices come and go: /dev/input is watched with inotify (IN_CREATE,
 *     and IN_ATTRIB for a node whose permissions udev fixes after it
 *     appeared); a device that is unplugged reads ENODEV and is dropped,
 *     its keys and buttons still down released first (no stuck Ctrl).
 *   - What is taken: a keyboard (letters and Enter), a relative mouse
 *     (X, Y and a left button) or an absolute tablet or touchscreen (X, Y
 *     and a button or touch). Touchpads (INPUT_PROP_POINTER), joysticks,
 *     power buttons and the like are left alone.
 *   - Events go to the seat as the kernel reports them, absolute X and Y
 *     scaled from the device's range to 0..SEAT_ABS_MAX; the seat drops
 *     autorepeat. After SYN_DROPPED libevdev's resync deltas go the same
 *     way.
 *   - The lock LEDs (the seat's Num/Caps/Scroll state, which the active
 *     guest is told) are written back to every keyboard (EV_LED). */
#include "input_source.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libevdev/libevdev.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "display_proto.h"
#include "log.h"
#include "loop.h"
#include "seat.h"

#define EVDEV_DIR "/dev/input"
/* devices open at once; more are logged and left alone */
#define EVDEV_MAX_DEVICES 64

enum evdev_kind {
	EVDEV_KEYBOARD = 1,
	EVDEV_MOUSE = 2,
	EVDEV_TABLET = 4,
};

struct input_evdev;

struct evdev_device {
	struct input_evdev *src;
	struct evdev_device *next;
	char node[16];            /* "event3" */
	int fd;
	struct libevdev *dev;
	unsigned kinds;
};

struct input_evdev {
	struct input_source base;
	struct loop *loop;
	struct seat *seat;
	int inotify_fd;
	struct evdev_device *devices;
	unsigned ndevices;
	int full_logged;
	unsigned leds;
};

/* evdev_node_name: "event" and a number, the only nodes looked at. */
static int evdev_node_name(const char *name)
{
	size_t digits;

	if (strncmp(name, "event", 5))
		return 0;
	digits = strspn(name + 5, "0123456789");
	return digits > 0 && digits < 8 && name[5 + digits] == 0;
}

static unsigned evdev_kinds(const struct libevdev *dev)
{
	unsigned kinds = 0;

	if (libevdev_has_event_code(dev, EV_KEY, KEY_A) &&
	    libevdev_has_event_code(dev, EV_KEY, KEY_ENTER))
		kinds |= EVDEV_KEYBOARD;
	if (libevdev_has_event_code(dev, EV_REL, REL_X) &&
	    libevdev_has_event_code(dev, EV_REL, REL_Y) &&
	    libevdev_has_event_code(dev, EV_KEY, BTN_LEFT))
		kinds |= EVDEV_MOUSE;
	if (libevdev_has_event_code(dev, EV_ABS, ABS_X) &&
	    libevdev_has_event_code(dev, EV_ABS, ABS_Y) &&
	    (libevdev_has_event_code(dev, EV_KEY, BTN_LEFT) ||
	     libevdev_has_event_code(dev, EV_KEY, BTN_TOUCH)) &&
	    !libevdev_has_property(dev, INPUT_PROP_POINTER) &&
	    !libevdev_has_event_code(dev, EV_KEY, BTN_TOOL_FINGER))
		kinds |= EVDEV_TABLET;
	return kinds;
}

static void evdev_set_leds(struct evdev_device *d, unsigned leds)
{
	int err;

	if (!(d->kinds & EVDEV_KEYBOARD) || !libevdev_has_event_type(d->dev, EV_LED))
		return;
	err = libevdev_kernel_set_led_values(
		d->dev,
		LED_NUML, leds & DISPLAY_LED_NUM_LOCK ? LIBEVDEV_LED_ON : LIBEVDEV_LED_OFF,
		LED_CAPSL, leds & DISPLAY_LED_CAPS_LOCK ? LIBEVDEV_LED_ON : LIBEVDEV_LED_OFF,
		LED_SCROLLL, leds & DISPLAY_LED_SCROLL_LOCK ? LIBEVDEV_LED_ON : LIBEVDEV_LED_OFF,
		-1);
	if (err)
		log_debug("input evdev: %s: cannot set its LEDs: %s", d->node, strerror(-err));
}

/* evdev_deliver: one event to the seat; absolute X and Y scaled from the
 * device's range (clamped into it) to 0..SEAT_ABS_MAX. */
static void evdev_deliver(struct evdev_device *d, const struct input_event *ev)
{
	int min, max, v;

	switch (ev->type) {
	case EV_KEY:
	case EV_REL:
	case EV_SYN:
		seat_event(d->src->seat, ev->type, ev->code, ev->value);
		return;
	case EV_ABS:
		if (ev->code != ABS_X && ev->code != ABS_Y)
			return;
		min = libevdev_get_abs_minimum(d->dev, ev->code);
		max = libevdev_get_abs_maximum(d->dev, ev->code);
		if (max <= min)
			return;
		v = ev->value < min ? min : ev->value > max ? max : ev->value;
		seat_event(d->src->seat, EV_ABS, ev->code,
			   (int)((int64_t)(v - min) * SEAT_ABS_MAX / ((int64_t)max - min)));
		return;
	default:
		return;
	}
}

/* evdev_remove: forget a device; with `release`, what it held goes up
 * first, as it would had it been let go. */
static void evdev_remove(struct evdev_device *d, int release)
{
	struct input_evdev *src = d->src;
	int released = 0;

	for (unsigned code = 0; release && code < KEY_CNT; code++) {
		if (libevdev_has_event_code(d->dev, EV_KEY, code) &&
		    libevdev_get_event_value(d->dev, EV_KEY, code)) {
			seat_event(src->seat, EV_KEY, code, 0);
			released = 1;
		}
	}
	if (released)
		seat_event(src->seat, EV_SYN, SYN_REPORT, 0);
	for (struct evdev_device **p = &src->devices; *p; p = &(*p)->next) {
		if (*p == d) {
			*p = d->next;
			break;
		}
	}
	src->ndevices--;
	loop_del_fd(src->loop, d->fd);
	libevdev_free(d->dev);
	close(d->fd);
	free(d);
}

static void evdev_readable(void *opaque, uint32_t events)
{
	struct evdev_device *d = opaque;
	unsigned flags = LIBEVDEV_READ_FLAG_NORMAL;
	struct input_event ev;
	int rc;

	(void)events;
	for (;;) {
		rc = libevdev_next_event(d->dev, flags, &ev);
		if (rc == LIBEVDEV_READ_STATUS_SYNC) {
			/* SYN_DROPPED: take the resync deltas until -EAGAIN */
			flags = LIBEVDEV_READ_FLAG_SYNC;
			evdev_deliver(d, &ev);
		} else if (rc == LIBEVDEV_READ_STATUS_SUCCESS) {
			evdev_deliver(d, &ev);
		} else if (rc == -EAGAIN && flags == LIBEVDEV_READ_FLAG_SYNC) {
			flags = LIBEVDEV_READ_FLAG_NORMAL;
		} else {
			break;
		}
	}
	if (rc == -EAGAIN)
		return;
	if (rc == -ENODEV)
		log_info("input evdev: %s '%s' is gone", d->node, libevdev_get_name(d->dev));
	else
		log_warn("input evdev: %s '%s': %s: dropped", d->node, libevdev_get_name(d->dev),
			 strerror(-rc));
	evdev_remove(d, 1);
}

static const char *evdev_kind_names(unsigned kinds)
{
	static const char *const names[] = {
		"", "keyboard", "mouse", "keyboard and mouse", "tablet", "keyboard and tablet",
		"mouse and tablet", "keyboard, mouse and tablet",
	};

	return names[kinds & 7];
}

/* evdev_add: open, check and grab /dev/input/NODE, unless it is open
 * already or is not a keyboard or pointer. Failures to open are quiet
 * (debug): a node can vanish or lack permissions for a moment. */
static void evdev_add(struct input_evdev *src, const char *node)
{
	struct evdev_device *d;
	struct libevdev *dev;
	char path[sizeof(EVDEV_DIR) + 16];
	unsigned kinds;
	int fd, err;

	if (!evdev_node_name(node))
		return;
	for (d = src->devices; d; d = d->next)
		if (!strcmp(d->node, node))
			return;
	snprintf(path, sizeof(path), "%s/%s", EVDEV_DIR, node);
	/* read-write for the LEDs; read-only still gives input */
	fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 && errno == EACCES)
		fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		log_debug("input evdev: %s: %s", path, strerror(errno));
		return;
	}
	err = libevdev_new_from_fd(fd, &dev);
	if (err) {
		log_debug("input evdev: %s: %s", path, strerror(-err));
		close(fd);
		return;
	}
	kinds = evdev_kinds(dev);
	if (!kinds) {
		log_debug("input evdev: %s '%s': not a keyboard or pointer, left alone", node,
			  libevdev_get_name(dev));
		goto drop;
	}
	if (src->ndevices == EVDEV_MAX_DEVICES) {
		if (!src->full_logged)
			log_warn("input evdev: %u devices open already: %s '%s' left alone",
				 EVDEV_MAX_DEVICES, node, libevdev_get_name(dev));
		src->full_logged = 1;
		goto drop;
	}
	err = libevdev_grab(dev, LIBEVDEV_GRAB);
	if (err) {
		log_warn("input evdev: %s '%s': cannot grab it (%s): left alone", node,
			 libevdev_get_name(dev), strerror(-err));
		goto drop;
	}
	d = calloc(1, sizeof(*d));
	if (!d || loop_add_fd(src->loop, fd, EPOLLIN, evdev_readable, d)) {
		log_error("input evdev: %s: out of memory", node);
		free(d);
		goto drop;
	}
	d->src = src;
	snprintf(d->node, sizeof(d->node), "%s", node);
	d->fd = fd;
	d->dev = dev;
	d->kinds = kinds;
	d->next = src->devices;
	src->devices = d;
	src->ndevices++;
	evdev_set_leds(d, src->leds);
	log_info("input evdev: %s '%s': %s, grabbed", node, libevdev_get_name(dev),
		 evdev_kind_names(kinds));
	return;
drop:
	libevdev_free(dev);
	close(fd);
}

static void evdev_scan(struct input_evdev *src)
{
	DIR *dir = opendir(EVDEV_DIR);
	struct dirent *e;

	if (!dir)
		return;
	while ((e = readdir(dir)) != NULL)
		evdev_add(src, e->d_name);
	closedir(dir);
}

/* evdev_dir_changed: a node appeared or its permissions changed. */
static void evdev_dir_changed(void *opaque, uint32_t events)
{
	struct input_evdev *src = opaque;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	const struct inotify_event *ev;
	ssize_t n;

	(void)events;
	while ((n = read(src->inotify_fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n; p += sizeof(*ev) + ev->len) {
			ev = (const struct inotify_event *)p;
			if (ev->mask & IN_Q_OVERFLOW)
				evdev_scan(src);
			else if (ev->len)
				evdev_add(src, ev->name);
		}
	}
}

static void evdev_close(struct input_source *base)
{
	struct input_evdev *src = (struct input_evdev *)base;

	while (src->devices)
		evdev_remove(src->devices, 0);
	if (src->inotify_fd >= 0) {
		loop_del_fd(src->loop, src->inotify_fd);
		close(src->inotify_fd);
	}
	free(src);
}

static int evdev_open(struct input_source **out, struct loop *loop,
		      const struct display_options *opts, struct seat *seat)
{
	struct input_evdev *src = calloc(1, sizeof(*src));
	int err;

	(void)opts;
	if (!src)
		return -ENOMEM;
	src->base.ops = &input_evdev_ops;
	src->loop = loop;
	src->seat = seat;
	src->leds = seat_leds(seat);
	/* devtmpfs makes /dev/input with the first input device: make it
	 * now so that the first keyboard plugged in is seen */
	if (mkdir(EVDEV_DIR, 0755) < 0 && errno != EEXIST)
		log_debug("input evdev: mkdir %s: %s", EVDEV_DIR, strerror(errno));
	src->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (src->inotify_fd < 0 ||
	    inotify_add_watch(src->inotify_fd, EVDEV_DIR, IN_CREATE | IN_ATTRIB | IN_MOVED_TO) < 0) {
		err = -errno;
		log_error("input evdev: cannot watch %s: %s", EVDEV_DIR, strerror(errno));
		goto fail;
	}
	err = loop_add_fd(loop, src->inotify_fd, EPOLLIN, evdev_dir_changed, src);
	if (err)
		goto fail;
	evdev_scan(src);
	if (!src->devices)
		log_warn("input evdev: no keyboard or mouse yet; waiting for one");
	*out = &src->base;
	return 0;
fail:
	if (src->inotify_fd >= 0)
		close(src->inotify_fd);
	free(src);
	return err;
}

static void evdev_set_leds_all(struct input_source *base, unsigned leds)
{
	struct input_evdev *src = (struct input_evdev *)base;

	src->leds = leds;
	for (struct evdev_device *d = src->devices; d; d = d->next)
		evdev_set_leds(d, leds);
}

const struct input_source_ops input_evdev_ops = {
	.name = "evdev",
	.open = evdev_open,
	.close = evdev_close,
	.set_leds = evdev_set_leds_all,
};
