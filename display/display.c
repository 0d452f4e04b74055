/* duet-display's policy (see display.h): guests and their slots, which one
 * is shown and gets the input, the banner, and when to redraw. Redrawing
 * happens in the loop's idle hook, once per batch of events, and no more
 * often than --max-fps on outputs without page flips; with no damage the
 * display sleeps in epoll_wait. */
#include "display.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "backends.h"
#include "compositor.h"
#include "control_socket.h"
#include "log.h"
#include "loop.h"
#include "peer.h"
#include "remote_port.h"
#include "screenshot.h"
#include "vnc.h"

/* Edge colours for guests the configuration gives none, by slot. */
static const uint32_t edge_palette[] = {
	0x2f6fdf, /* blue */
	0xe07a10, /* orange */
	0x2fa84f, /* green */
	0xc03fc0, /* magenta */
	0x20a8b0, /* teal */
	0xd03030, /* red */
	0xc8b400, /* yellow */
	0x8060e0, /* violet */
};

static struct guest *display_active_guest(struct display *d)
{
	return d->active == SEAT_NO_SLOT ? NULL : &d->guests[d->active];
}

const char *display_guest_state(const struct guest *g)
{
	if (g->peer)
		return g->pixels ? "running" : "starting";
	return g->ever_connected ? "stopped" : "absent";
}

/* display_show: give the compositor the scene the active guest calls for. */
static void display_show(struct display *d)
{
	struct guest *g = display_active_guest(d);
	struct scene s = { .kind = SCENE_EMPTY, .edge_rgb = 0x808080u };

	if (g) {
		s.name = g->name;
		s.banner = d->banner_text;
		s.edge_rgb = g->edge_rgb;
		if (g->peer && g->pixels) {
			s.kind = SCENE_GUEST;
			s.pixels = g->pixels;
			s.width = g->width;
			s.height = g->height;
			s.stride = g->stride;
		} else {
			s.kind = g->ever_connected && !g->peer ? SCENE_STOPPED : SCENE_WAITING;
		}
	}
	if (compositor_set_scene(d->comp, &s))
		log_error("out of memory for the screen of '%s'", g ? g->name : "nothing");
	compositor_set_banner(d->comp, d->banner_visible);
}

static void display_banner_off(void *opaque)
{
	struct display *d = opaque;

	d->banner_visible = 0;
	compositor_set_banner(d->comp, 0);
}

void display_switch(struct display *d, int slot)
{
	struct guest *old = display_active_guest(d), *g = &d->guests[slot];

	/* Keys and buttons still held go up in the guest losing focus. */
	seat_set_active(d->seat, slot);
	if (old && old != g && old->peer)
		peer_send_focus(old->peer, 0);
	d->active = slot;
	if (g->peer && old != g) {
		peer_send_focus(g->peer, 1);
		peer_send_leds(g->peer, seat_leds(d->seat));
	}
	snprintf(d->banner_text, sizeof(d->banner_text), "%u: %s", g->slot + 1, g->name);
	d->banner_visible = 1;
	display_show(d);
	loop_timer_arm(d->banner_timer, d->opts->banner_ms, 0);
	log_info("showing guest '%s' (slot %u, %s)", g->name, g->slot + 1, display_guest_state(g));
}

struct guest *display_guest_by_name(struct display *d, const char *name)
{
	for (unsigned i = 0; i < SEAT_MAX_SLOTS; i++)
		if (d->guests[i].used && !strcmp(d->guests[i].name, name))
			return &d->guests[i];
	return NULL;
}

static void guest_unmap(struct guest *g)
{
	if (g->map)
		munmap(g->map, g->map_len);
	g->map = NULL;
	g->map_len = 0;
	g->pixels = NULL;
	g->width = g->height = g->stride = 0;
}

struct guest *display_guest_attach(struct display *d, struct peer *peer, const char *name,
				   const char **why)
{
	struct guest *g = display_guest_by_name(d, name);

	if (g && g->peer) {
		*why = "a guest of that name is connected already";
		return NULL;
	}
	if (!g) {
		for (unsigned i = 0; i < SEAT_MAX_SLOTS && !g; i++)
			if (!d->guests[i].used)
				g = &d->guests[i];
		if (!g) {
			*why = "every guest slot is taken";
			return NULL;
		}
		g->used = 1;
		strcpy(g->name, name);
		g->edge_rgb = edge_palette[g->slot % (sizeof(edge_palette) / sizeof(edge_palette[0]))];
	}
	g->peer = peer;
	g->ever_connected = 1;
	vnc_guest_changed(d->vnc, g);
	log_info("guest '%s' (pid %d) connected: slot %u", g->name, peer_pid(peer), g->slot + 1);
	if (d->active == SEAT_NO_SLOT) {
		display_switch(d, (int)g->slot);
	} else if (d->active == (int)g->slot) {
		/* back after a restart, on screen already */
		peer_send_focus(peer, 1);
		peer_send_leds(peer, seat_leds(d->seat));
		display_show(d);
	}
	return g;
}

void display_guest_detach(struct display *d, struct guest *g)
{
	seat_slot_gone(d->seat, (int)g->slot);
	g->peer = NULL;
	vnc_guest_changed(d->vnc, g); /* before the mapping goes */
	guest_unmap(g);
	if (d->active == (int)g->slot)
		display_show(d);
}

void display_guest_surface(struct display *d, struct guest *g, void *map, size_t map_len,
			   uint32_t offset, uint32_t width, uint32_t height, uint32_t stride)
{
	void *old = g->map;
	size_t old_len = g->map_len;

	g->map = map;
	g->map_len = map_len;
	g->pixels = (const uint8_t *)map + offset;
	g->width = width;
	g->height = height;
	g->stride = stride;
	/* the compositor lets go of the old mapping before it is unmapped */
	if (d->active == (int)g->slot)
		display_show(d);
	vnc_guest_changed(d->vnc, g);
	if (old)
		munmap(old, old_len);
}

void display_guest_damage(struct display *d, struct guest *g, const struct display_rect *rects,
			  unsigned n)
{
	g->damage_msgs++;
	vnc_guest_damage(d->vnc, g, rects, n);
	if (d->active != (int)g->slot)
		return;
	for (unsigned i = 0; i < n; i++)
		compositor_damage_surface(d->comp, &rects[i]);
}

/* ---- the seat's requests ---- */

static void seat_key_cb(void *opaque, int slot, unsigned code, int pressed)
{
	struct display *d = opaque;

	peer_send_key(d->guests[slot].peer, code, pressed);
}

static void seat_pointer_cb(void *opaque, int slot, int x, int y, int dx, int dy,
			    unsigned buttons, int wheel)
{
	struct display *d = opaque;
	int32_t sx = 0, sy = 0;

	if (slot == d->active)
		compositor_to_surface(d->comp, x, y, &sx, &sy);
	peer_send_pointer(d->guests[slot].peer, sx, sy, dx, dy, buttons, wheel);
}

static void seat_hotkey_cb(void *opaque, int action)
{
	struct display *d = opaque;
	int slot = action;

	if (action == SEAT_HOTKEY_NEXT) {
		slot = SEAT_NO_SLOT;
		for (int i = 1; i <= SEAT_MAX_SLOTS && slot == SEAT_NO_SLOT; i++) {
			int s = (d->active + i + SEAT_MAX_SLOTS) % SEAT_MAX_SLOTS;

			if (d->guests[s].used)
				slot = s;
		}
		if (slot == SEAT_NO_SLOT)
			return;
	} else if (!d->guests[slot].used) {
		log_info("hotkey for slot %d: no guest there", slot + 1);
		return;
	}
	display_switch(d, slot);
}

static void seat_leds_cb(void *opaque, unsigned leds)
{
	struct display *d = opaque;
	struct guest *g = display_active_guest(d);

	if (d->input->ops->set_leds)
		d->input->ops->set_leds(d->input, leds);
	if (g)
		peer_send_leds(g->peer, leds);
}

static const struct seat_ops display_seat_ops = {
	.key = seat_key_cb,
	.pointer = seat_pointer_cb,
	.hotkey = seat_hotkey_cb,
	.leds = seat_leds_cb,
};

/* ---- drawing ---- */

static void display_render(struct display *d)
{
	pixman_region32_t done;

	pixman_region32_init(&done);
	compositor_compose(d->comp, &done);
	vnc_screen_damage(d->vnc, &done);
	if (pixman_region32_not_empty(&done)) {
		d->out->ops->present(d->out, compositor_shadow(d->comp), &done);
		d->frames++;
		d->last_present_ms = loop_now_ms();
		d->frame_wait = d->out->ops->paced;
	}
	pixman_region32_fini(&done);
}

/* display_redraw: redraw what the batch damaged when the output may
 * take a frame. */
static void display_redraw(struct display *d)
{
	uint64_t interval, since;

	if (d->frame_wait || !compositor_has_damage(d->comp))
		return;
	if (!d->out->ops->paced) {
		interval = 1000u / d->opts->max_fps;
		since = loop_now_ms() - d->last_present_ms;
		if (since < interval) {
			d->frame_wait = 1;
			loop_timer_arm(d->frame_timer, interval - since, 0);
			return;
		}
	}
	display_render(d);
}

/* display_idle: after every batch of events: reap dropped peers, redraw,
 * send VNC clients what is due. */
static void display_idle(void *opaque)
{
	struct display *d = opaque;

	peer_reap(d);
	display_redraw(d);
	vnc_flush(d->vnc);
}

static void display_frame_timer(void *opaque)
{
	((struct display *)opaque)->frame_wait = 0;
}

static void display_frame_done(void *opaque)
{
	((struct display *)opaque)->frame_wait = 0;
}

/* display_output_resized: another monitor or mode after a hot-plug: a
 * shadow of the new size, drawn whole. */
static void display_output_resized(void *opaque)
{
	struct display *d = opaque;
	struct compositor *comp;

	if (compositor_create(&comp, d->out->width, d->out->height, d->opts->edge_width)) {
		log_error("no memory for a %ux%u screen", d->out->width, d->out->height);
		return;
	}
	compositor_destroy(d->comp);
	d->comp = comp;
	vnc_screen_changed(d->vnc);
	seat_set_screen(d->seat, (int)d->out->width, (int)d->out->height);
	display_show(d);
}

static const struct output_events display_output_events = {
	.frame_done = display_frame_done,
	.resized = display_output_resized,
};

int display_screenshot(struct display *d, const char *name, const char *path, unsigned max_w,
		       unsigned max_h, char *err, size_t errlen)
{
	struct guest *g;
	pixman_image_t *img;
	int rc;

	if (!strcmp(name, "screen")) {
		/* what is on the screen now, pending damage included */
		display_render(d);
		img = d->out->ops->frame ? d->out->ops->frame(d->out) : NULL;
		if (!img)
			img = compositor_shadow(d->comp);
		return screenshot_save(path, img, max_w, max_h, err, errlen);
	}
	g = display_guest_by_name(d, name);
	if (!g) {
		snprintf(err, errlen, "no guest '%s'", name);
		return -ENOENT;
	}
	if (!g->pixels) {
		snprintf(err, errlen, "guest '%s' has no picture (%s)", name, display_guest_state(g));
		return -ENODATA;
	}
	img = pixman_image_create_bits_no_clear(PIXMAN_x8r8g8b8, (int)g->width, (int)g->height,
						(uint32_t *)g->pixels, (int)g->stride);
	if (!img) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	rc = screenshot_save(path, img, max_w, max_h, err, errlen);
	pixman_image_unref(img);
	return rc;
}

/* ---- life cycle ---- */

static void display_signal(void *opaque, uint32_t events)
{
	struct display *d = opaque;
	struct signalfd_siginfo si;

	(void)events;
	if (read(d->signal_fd, &si, sizeof(si)) != sizeof(si))
		return;
	log_info("signal %u: shutting down", si.ssi_signo);
	loop_quit(d->loop);
}

static int display_signals(struct display *d)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	d->signal_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (d->signal_fd < 0)
		return -errno;
	return loop_add_fd(d->loop, d->signal_fd, EPOLLIN, display_signal, d);
}

/* output_auto: "auto" (the default) is what a classroom PC has: DRM/KMS
 * when there is a DRM device, else a framebuffer, else offscreen. */
static const char *output_auto(const char *name)
{
	if (strcmp(name, "auto"))
		return name;
	if (access("/dev/dri/card0", R_OK | W_OK) == 0)
		return "drm";
	if (access("/dev/fb0", R_OK | W_OK) == 0)
		return "fbdev";
	return "offscreen";
}

int display_create(struct display **out, struct display_options *opts)
{
	const struct output_ops *oops = output_find(output_auto(opts->output));
	const struct input_source_ops *iops = input_source_find(opts->input);
	struct display *d;
	int err;

	if (!oops) {
		log_error("output '%s': no such back end (auto, drm, fbdev, offscreen)", opts->output);
		return -EINVAL;
	}
	if (!iops) {
		log_error("input '%s': no such source (evdev, none, synthetic)", opts->input);
		return -EINVAL;
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->opts = opts;
	d->active = SEAT_NO_SLOT;
	d->signal_fd = -1;
	for (unsigned i = 0; i < SEAT_MAX_SLOTS; i++)
		d->guests[i].slot = i;
	for (unsigned i = 0; i < opts->nguests; i++) {
		struct guest *g = &d->guests[i];

		g->used = 1;
		strcpy(g->name, opts->guests[i].name);
		g->edge_rgb = opts->guests[i].has_edge
				      ? opts->guests[i].edge_rgb
				      : edge_palette[i % (sizeof(edge_palette) / sizeof(edge_palette[0]))];
	}
	err = loop_create(&d->loop, display_idle, d);
	if (err)
		goto fail;
	err = display_signals(d);
	if (err)
		goto fail;
	d->banner_timer = loop_timer_create(d->loop, display_banner_off, d);
	d->frame_timer = loop_timer_create(d->loop, display_frame_timer, d);
	if (!d->banner_timer || !d->frame_timer) {
		err = -ENOMEM;
		goto fail;
	}
	err = oops->open(&d->out, d->loop, opts, &display_output_events, d);
	if (err)
		goto fail;
	err = compositor_create(&d->comp, d->out->width, d->out->height, opts->edge_width);
	if (err)
		goto fail;
	err = seat_create(&d->seat, &opts->hotkeys, &display_seat_ops, d);
	if (err)
		goto fail;
	seat_set_screen(d->seat, (int)d->out->width, (int)d->out->height);
	err = iops->open(&d->input, d->loop, opts, d->seat);
	if (err)
		goto fail;
	err = peer_listen(d);
	if (err)
		goto fail;
	err = control_start(&d->control, d);
	if (err)
		goto fail;
	err = vnc_start(&d->vnc, d);
	if (err)
		goto fail;
	err = remote_port_start(&d->remote, d);
	if (err)
		goto fail;
	if (opts->nguests) {
		int first = 0;

		for (unsigned i = 0; opts->start && i < opts->nguests; i++)
			if (!strcmp(opts->guests[i].name, opts->start))
				first = (int)i;
		display_switch(d, first);
	}
	*out = d;
	return 0;
fail:
	display_destroy(d);
	return err;
}

int display_run(struct display *d)
{
	log_info("guests connect at %s; control socket %s", d->opts->socket, d->opts->control);
	return loop_run(d->loop);
}

void display_destroy(struct display *d)
{
	if (!d)
		return;
	remote_port_stop(d->remote);
	d->remote = NULL;
	vnc_stop(d->vnc);
	d->vnc = NULL;
	control_stop(d->control);
	if (d->loop)
		peer_close_all(d);
	for (unsigned i = 0; i < SEAT_MAX_SLOTS; i++)
		guest_unmap(&d->guests[i]);
	if (d->input)
		d->input->ops->close(d->input);
	seat_destroy(d->seat);
	compositor_destroy(d->comp);
	if (d->out)
		d->out->ops->close(d->out);
	loop_timer_free(d->hello_timer);
	loop_timer_free(d->banner_timer);
	loop_timer_free(d->frame_timer);
	if (d->signal_fd >= 0)
		close(d->signal_fd);
	loop_destroy(d->loop);
	free(d);
}
