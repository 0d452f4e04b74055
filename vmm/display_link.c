/* The link between the std-VGA and duet-display (see display_link.h). The
 * VGA exists for --kernel and --bios guests (at 00:02.0, where a PC's
 * on-board VGA sits in QEMU's layout too); with --display PATH its picture
 * goes to duet-display. The refresh timer runs on the event-loop thread,
 * which also owns the display client. */
#include "display_link.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "device.h"
#include "display_client.h"
#include "event.h"
#include "hw/vga.h"
#include "input.h"
#include "log.h"
#include "pci.h"
#include "vm.h"

#define DISPLAY_VGA_DEVFN PCI_DEVFN(2, 0)

struct display_link {
	struct vm *vm;
	struct vga *vga;
	struct display_client *client;
	struct event_timer *refresh;
	unsigned width, height;  /* the surface size the display was told */
};

static struct display_link *display_link_of;

static void link_key(void *opaque, unsigned code, int pressed)
{
	struct display_link *l = opaque;

	input_key(l->vm, code, pressed);
}

static void link_pointer(void *opaque, const struct display_msg_pointer *p)
{
	struct display_link *l = opaque;
	int x = 0, y = 0;

	/* Surface coordinates to the tablet's 0..32767 (the client library
	 * has already clamped them to the surface). */
	if (l->width > 1)
		x = (int)((uint64_t)p->x * 32767 / (l->width - 1));
	if (l->height > 1)
		y = (int)((uint64_t)p->y * 32767 / (l->height - 1));
	input_pointer_abs(l->vm, x, y, p->wheel, p->buttons);
}

static const struct display_client_ops link_ops = {
	.key = link_key,
	.pointer = link_pointer,
};

static void link_client_ready(void *opaque, uint32_t events)
{
	struct display_link *l = opaque;

	(void)events;
	display_client_dispatch(l->client);
}

/* link_refresh: render what the guest changed; tell the display. */
static void link_refresh(void *opaque)
{
	struct display_link *l = opaque;
	struct vga_damage damage;
	struct vga_surface s;
	int n = vga_update(l->vga, &damage);

	display_client_dispatch(l->client); /* reconnects when due */
	if (n <= 0)
		return;
	if (damage.resized || !l->width) {
		vga_surface(l->vga, &s);
		if (display_client_set_surface(l->client, s.fd, s.width, s.height, s.stride,
					       DISPLAY_FORMAT_XRGB8888, 0) == 0) {
			l->width = s.width;
			l->height = s.height;
		}
	}
	for (int i = 0; i < n; i++)
		display_client_damage(l->client, damage.rects[i].x, damage.rects[i].y,
				      damage.rects[i].width, damage.rects[i].height);
	display_client_commit(l->client);
}

static void link_free(void *opaque)
{
	struct display_link *l = opaque;

	event_timer_free(l->refresh);
	if (l->client) {
		event_del_fd(l->vm->loop, display_client_fd(l->client));
		display_client_destroy(l->client);
	}
	if (display_link_of == l)
		display_link_of = NULL;
	free(l);
}

int display_screendump_fd(struct vm *vm, int fd)
{
	if (!display_link_of || display_link_of->vm != vm) {
		close(fd);
		return -ENODEV;
	}
	return vga_screendump_fd(display_link_of->vga, fd);
}

static int display_link_init(struct vm *vm)
{
	const struct vm_config *c = vm->config;
	struct display_link *l;
	int err;

	if (!c->kernel && !c->bios)
		return 0;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->vm = vm;
	err = vm_on_destroy(vm, link_free, l);
	if (err) {
		free(l);
		return err;
	}
	display_link_of = l;
	l->vga = vga_create(vm, DISPLAY_VGA_DEVFN);
	if (!l->vga)
		return -ENOMEM;
	if (!c->display)
		return 0;
	err = display_client_create(&l->client, c->display, c->name, &link_ops, l);
	if (err) {
		log_error("display '%s': %s", c->display, strerror(-err));
		return err;
	}
	err = event_add_fd(vm->loop, display_client_fd(l->client), EPOLLIN, link_client_ready, l);
	if (err)
		return err;
	l->refresh = event_timer_create(vm->loop, link_refresh, l);
	if (!l->refresh)
		return -ENOMEM;
	event_timer_arm(l->refresh, DISPLAY_REFRESH_NS, DISPLAY_REFRESH_NS);
	return 0;
}

static const struct device_desc display_link_device = {
	.name = "vga+display",
	.order = DEVICE_ORDER_PCI - 1, /* before virtio: the VGA takes slot 2 */
	.init = display_link_init,
};
DEVICE_REGISTER(display_link_device);
