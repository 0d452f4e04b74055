/* The DRM/KMS output: the PC's monitor through the kernel's mode setting,
 * the minimal way (dvdhrm's "drm-howto" modeset-vsync.c):
 *   - the first connected connector, its preferred mode, a CRTC its
 *     encoders can drive;
 *   - two dumb buffers (DRM_CAP_DUMB_BUFFER), drmModeSetCrtc once, then a
 *     drmModePageFlip per frame whose event (drmHandleEvent on the card's
 *     fd, in the display's epoll loop) reports frame_done;
 *   - each buffer remembers what it lacks since it was last shown, so only
 *     damaged rectangles are copied from the RAM shadow into the back
 *     buffer; dumb buffers are often write-combined: they are written,
 *     never read;
 *   - a driver that refuses page flips gets its front buffer drawn into,
 *     with drmModeDirtyFB for drivers that need to be told (paced then by
 *     a timer at --max-fps);
 *   - monitor hot-plug: the kernel's uevents (netlink) for this card make
 *     it probe again: another monitor or mode gets new buffers and the
 *     display a new screen size (`resized`); a monitor plugged back in
 *     gets its mode set again;
 *   - on exit the CRTC gets back what it showed before (the console). */
#include "output.h"

#include <errno.h>
#include <fcntl.h>
#include <drm_fourcc.h>
#include <linux/netlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <xf86drm.h>
#include <xf86drmMode.h>

#include "display_options.h"
#include "log.h"
#include "loop.h"

#define DRM_DEVICE_DEFAULT "/dev/dri/card0"
/* how soon a page flip the kernel refused for now (EBUSY, or not DRM
 * master) is tried again */
#define DRM_RETRY_MS 100
/* DRM_MODE_FB_DIRTY_MAX_CLIPS in the kernel: more goes as "everything" */
#define DRM_DIRTY_MAX_CLIPS 256
/* a uevent is a few hundred bytes; the kernel caps one at 2 KiB */
#define UEVENT_BUFFER 4096

struct drm_buffer {
	uint32_t handle, fb_id, pitch;
	uint64_t size;
	void *map;                 /* MAP_FAILED when not mapped */
	pixman_region32_t stale;   /* where it differs from the shadow */
};

struct output_drm {
	struct output base;
	struct loop *loop;
	const struct output_events *events;
	void *opaque;
	const char *path;
	int fd;
	dev_t rdev;
	/* what is shown */
	uint32_t connector_id, crtc_id;
	drmModeModeInfo mode;
	char connector_name[32];
	int monitor_connected;
	struct drm_buffer buf[2];
	int front;                 /* the buffer being scanned out */
	int can_flip;              /* 0: the driver refused a page flip */
	int flip_pending;          /* a flip to buf[front ^ 1] is queued */
	int flip_retry;            /* the retry timer will try that flip again */
	int reprobe;               /* a hot-plug came during a pending flip */
	unsigned frame_ms;
	struct loop_timer *timer;
	/* what the CRTC showed before, given back on exit */
	drmModeCrtc *saved_crtc;
	uint32_t saved_connector_id;
	int uevent_fd;
};

/* ---- finding the monitor ---- */

struct drm_choice {
	uint32_t connector_id, crtc_id;
	drmModeModeInfo mode;
	char name[32];
};

/* drm_pick_crtc: the CRTC the connector drives now, or the first one one
 * of its encoders can drive. 0 when there is none. */
static uint32_t drm_pick_crtc(int fd, drmModeRes *res, drmModeConnector *conn)
{
	drmModeEncoder *enc;
	uint32_t crtc = 0;

	if (conn->encoder_id && (enc = drmModeGetEncoder(fd, conn->encoder_id)) != NULL) {
		crtc = enc->crtc_id;
		drmModeFreeEncoder(enc);
		if (crtc)
			return crtc;
	}
	for (int i = 0; i < conn->count_encoders && !crtc; i++) {
		enc = drmModeGetEncoder(fd, conn->encoders[i]);
		if (!enc)
			continue;
		for (int j = 0; j < res->count_crtcs && j < 32 && !crtc; j++)
			if (enc->possible_crtcs & (1u << j))
				crtc = res->crtcs[j];
		drmModeFreeEncoder(enc);
	}
	return crtc;
}

/* drm_probe: the first connected connector with a mode and a CRTC, and
 * its preferred mode (else its first). -ENODEV when no monitor is
 * connected. */
static int drm_probe(int fd, struct drm_choice *c)
{
	drmModeRes *res = drmModeGetResources(fd);
	int err = -ENODEV;

	if (!res)
		return -errno;
	for (int i = 0; i < res->count_connectors && err; i++) {
		drmModeConnector *conn = drmModeGetConnector(fd, res->connectors[i]);
		int pick = 0;

		if (!conn)
			continue;
		if (conn->connection == DRM_MODE_CONNECTED && conn->count_modes > 0) {
			for (int m = 0; m < conn->count_modes; m++)
				if (conn->modes[m].type & DRM_MODE_TYPE_PREFERRED) {
					pick = m;
					break;
				}
			c->crtc_id = drm_pick_crtc(fd, res, conn);
			if (c->crtc_id && conn->modes[pick].hdisplay <= DISPLAY_MAX_WIDTH &&
			    conn->modes[pick].vdisplay <= DISPLAY_MAX_HEIGHT) {
				c->connector_id = conn->connector_id;
				c->mode = conn->modes[pick];
				snprintf(c->name, sizeof(c->name), "%s-%u",
					 drmModeGetConnectorTypeName(conn->connector_type)
						 ? drmModeGetConnectorTypeName(conn->connector_type)
						 : "connector",
					 conn->connector_type_id);
				err = 0;
			}
		}
		drmModeFreeConnector(conn);
	}
	drmModeFreeResources(res);
	return err;
}

/* ---- buffers ---- */

static void drm_buffer_destroy(struct output_drm *o, struct drm_buffer *b)
{
	if (b->map != MAP_FAILED)
		munmap(b->map, b->size);
	if (b->fb_id)
		drmModeRmFB(o->fd, b->fb_id);
	if (b->handle)
		drmModeDestroyDumbBuffer(o->fd, b->handle);
	b->map = MAP_FAILED;
	b->fb_id = b->handle = 0;
}

static int drm_buffer_create(struct output_drm *o, struct drm_buffer *b, unsigned w, unsigned h)
{
	uint32_t handles[4] = { 0 }, pitches[4] = { 0 }, offsets[4] = { 0 };
	pixman_box32_t all = { 0, 0, (int32_t)w, (int32_t)h };
	uint64_t offset;
	int err;

	pixman_region32_reset(&b->stale, &all);
	err = drmModeCreateDumbBuffer(o->fd, w, h, 32, 0, &b->handle, &b->pitch, &b->size);
	if (err)
		return err;
	handles[0] = b->handle;
	pitches[0] = b->pitch;
	err = drmModeAddFB2(o->fd, w, h, DRM_FORMAT_XRGB8888, handles, pitches, offsets, &b->fb_id,
			    0);
	if (err)
		return err;
	err = drmModeMapDumbBuffer(o->fd, b->handle, &offset);
	if (err)
		return err;
	b->map = mmap(NULL, b->size, PROT_WRITE, MAP_SHARED, o->fd, (off_t)offset);
	if (b->map == MAP_FAILED)
		return -errno;
	memset(b->map, 0, b->size); /* black until the first frame */
	return 0;
}

static void drm_buffers_destroy(struct output_drm *o)
{
	drm_buffer_destroy(o, &o->buf[0]);
	drm_buffer_destroy(o, &o->buf[1]);
}

static int drm_buffers_create(struct output_drm *o)
{
	unsigned w = o->mode.hdisplay, h = o->mode.vdisplay;
	int err;

	err = drm_buffer_create(o, &o->buf[0], w, h);
	if (!err)
		err = drm_buffer_create(o, &o->buf[1], w, h);
	if (err) {
		log_error("output drm '%s': no %ux%u dumb buffer: %s", o->path, w, h,
			  strerror(-err));
		drm_buffers_destroy(o);
		return err;
	}
	o->front = 0;
	o->base.width = w;
	o->base.height = h;
	return 0;
}

static int drm_modeset(struct output_drm *o)
{
	int err = drmModeSetCrtc(o->fd, o->crtc_id, o->buf[o->front].fb_id, 0, 0, &o->connector_id,
				 1, &o->mode);

	if (err)
		log_error("output drm '%s': cannot set mode %s on %s: %s", o->path, o->mode.name,
			  o->connector_name, strerror(-err));
	return err;
}

/* ---- frames ---- */

static void drm_flip(struct output_drm *o)
{
	int back = o->front ^ 1, err;

	err = drmModePageFlip(o->fd, o->crtc_id, o->buf[back].fb_id, DRM_MODE_PAGE_FLIP_EVENT, o);
	if (!err) {
		o->flip_pending = 1;
		o->flip_retry = 0;
		return;
	}
	if (err == -EINVAL || err == -ENOSYS || err == -EOPNOTSUPP) {
		/* this driver does not flip: show the up-to-date back buffer
		 * and draw into it from now on */
		log_warn("output drm '%s': no page flips (%s): drawing into the shown buffer",
			 o->path, strerror(-err));
		o->can_flip = 0;
		o->flip_retry = 0;
		o->front = back;
		drm_modeset(o);
		loop_timer_arm(o->timer, o->frame_ms, 0);
		return;
	}
	/* for now (another commit in flight, not DRM master): later */
	if (!o->flip_retry)
		log_warn("output drm '%s': page flip refused (%s): retrying", o->path,
			 strerror(-err));
	o->flip_retry = 1;
	loop_timer_arm(o->timer, DRM_RETRY_MS, 0);
}

/* drm_timer: a refused flip's retry, or the pace of a driver without
 * page flips. */
static void drm_timer(void *opaque)
{
	struct output_drm *o = opaque;

	if (o->flip_retry)
		drm_flip(o);
	else
		o->events->frame_done(o->opaque);
}

/* drm_dirty: tell a driver that needs it which part of the shown buffer
 * changed (-ENOSYS from drivers that scan it out directly). */
static void drm_dirty(struct output_drm *o, pixman_region32_t *region)
{
	drmModeClip clips[DRM_DIRTY_MAX_CLIPS];
	pixman_box32_t *b;
	int n;

	b = pixman_region32_rectangles(region, &n);
	if (n > DRM_DIRTY_MAX_CLIPS)
		n = 0; /* the whole buffer */
	for (int i = 0; i < n; i++)
		clips[i] = (drmModeClip){ (uint16_t)b[i].x1, (uint16_t)b[i].y1, (uint16_t)b[i].x2,
					  (uint16_t)b[i].y2 };
	drmModeDirtyFB(o->fd, o->buf[o->front].fb_id, n ? clips : NULL, (uint32_t)n);
}

static int drm_present(struct output *out, pixman_image_t *shadow, pixman_region32_t *damage)
{
	struct output_drm *o = (struct output_drm *)out;
	int target = o->can_flip ? o->front ^ 1 : o->front;
	struct drm_buffer *b = &o->buf[target];
	int sw = pixman_image_get_width(shadow), sh = pixman_image_get_height(shadow);
	pixman_box32_t *box;
	int n;

	for (int i = 0; i < (o->can_flip ? 2 : 1); i++)
		pixman_region32_union(&o->buf[(o->front + i) % 2].stale,
				      &o->buf[(o->front + i) % 2].stale, damage);
	/* the display waits for frame_done, so this is only to be safe: the
	 * damage is kept for the next frame */
	if (o->flip_pending || o->flip_retry)
		return -EBUSY;
	if (b->map == MAP_FAILED) {
		/* no buffers after a failed hot-plug: frames go nowhere */
		loop_timer_arm(o->timer, o->frame_ms, 0);
		return -ENODEV;
	}
	/* a shadow of another size (during a resize) draws only what fits */
	pixman_region32_intersect_rect(&b->stale, &b->stale, 0, 0,
				       (unsigned)(sw < (int)o->base.width ? sw : (int)o->base.width),
				       (unsigned)(sh < (int)o->base.height ? sh : (int)o->base.height));
	box = pixman_region32_rectangles(&b->stale, &n);
	for (int i = 0; i < n; i++)
		pixman_blt(pixman_image_get_data(shadow), b->map,
			   pixman_image_get_stride(shadow) / 4, (int)(b->pitch / 4), 32, 32,
			   box[i].x1, box[i].y1, box[i].x1, box[i].y1, box[i].x2 - box[i].x1,
			   box[i].y2 - box[i].y1);
	if (o->can_flip) {
		pixman_region32_clear(&b->stale);
		drm_flip(o);
	} else {
		drm_dirty(o, &b->stale);
		pixman_region32_clear(&b->stale);
		loop_timer_arm(o->timer, o->frame_ms, 0);
	}
	return 0;
}

/* ---- hot-plug ---- */

/* drm_reprobe: a monitor came, went or changed. */
static void drm_reprobe(struct output_drm *o)
{
	struct drm_choice c;

	o->reprobe = 0;
	if (drm_probe(o->fd, &c)) {
		if (o->monitor_connected)
			log_warn("output drm '%s': no monitor connected; keeping %s %s", o->path,
				 o->connector_name, o->mode.name);
		o->monitor_connected = 0;
		return;
	}
	if (c.connector_id == o->connector_id && c.mode.hdisplay == o->mode.hdisplay &&
	    c.mode.vdisplay == o->mode.vdisplay) {
		if (!o->monitor_connected) {
			log_info("output drm '%s': monitor on %s again: %s", o->path, c.name,
				 c.mode.name);
			o->monitor_connected = 1;
			o->crtc_id = c.crtc_id;
			o->mode = c.mode;
			drm_modeset(o);
		}
		return;
	}
	log_info("output drm '%s': monitor changed: %s %s (was %s %s)", o->path, c.name,
		 c.mode.name, o->connector_name, o->mode.name);
	drm_buffers_destroy(o);
	o->connector_id = c.connector_id;
	o->crtc_id = c.crtc_id;
	o->mode = c.mode;
	memcpy(o->connector_name, c.name, sizeof(c.name));
	o->monitor_connected = 1;
	if (drm_buffers_create(o))
		return; /* nothing to show on; the next hot-plug tries again */
	drm_modeset(o);
	if (o->events->resized)
		o->events->resized(o->opaque);
}

/* uevent_value: the value of KEY= in a uevent's NUL-separated fields. */
static const char *uevent_value(const char *msg, size_t len, const char *key)
{
	size_t klen = strlen(key);

	for (size_t i = 0; i < len; i += strlen(msg + i) + 1)
		if (!strncmp(msg + i, key, klen) && msg[i + klen] == '=')
			return msg + i + klen + 1;
	return NULL;
}

/* drm_uevent: the kernel's uevents; a "change" of this card (HOTPLUG=1
 * after a connector changed) makes it probe again. Only the kernel's own
 * messages (sender port 0) count. */
static void drm_uevent(void *opaque, uint32_t events)
{
	struct output_drm *o = opaque;
	char msg[UEVENT_BUFFER];
	struct sockaddr_nl from;
	struct iovec iov = { msg, sizeof(msg) - 1 };
	struct msghdr mh = { .msg_name = &from, .msg_namelen = sizeof(from), .msg_iov = &iov,
			     .msg_iovlen = 1 };
	const char *action, *subsystem, *major, *minor;
	ssize_t n;

	(void)events;
	n = recvmsg(o->uevent_fd, &mh, MSG_DONTWAIT);
	if (n <= 0 || from.nl_pid != 0)
		return;
	msg[n] = 0;
	action = uevent_value(msg, (size_t)n, "ACTION");
	subsystem = uevent_value(msg, (size_t)n, "SUBSYSTEM");
	major = uevent_value(msg, (size_t)n, "MAJOR");
	minor = uevent_value(msg, (size_t)n, "MINOR");
	if (!action || !subsystem || !major || !minor || strcmp(action, "change") ||
	    strcmp(subsystem, "drm") || strtoul(major, NULL, 10) != major(o->rdev) ||
	    strtoul(minor, NULL, 10) != minor(o->rdev))
		return;
	log_debug("output drm '%s': hot-plug event", o->path);
	if (o->flip_pending || o->flip_retry)
		o->reprobe = 1;
	else
		drm_reprobe(o);
}

/* uevent_open: the kernel's uevent broadcast; without it hot-plug is
 * missed, which is worth a warning, not a failure. */
static void uevent_open(struct output_drm *o)
{
	struct sockaddr_nl addr = { .nl_family = AF_NETLINK, .nl_groups = 1 };
	int fd, err;

	fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_KOBJECT_UEVENT);
	if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		err = -errno;
	else
		err = loop_add_fd(o->loop, fd, EPOLLIN, drm_uevent, o);
	if (err) {
		log_warn("output drm '%s': no uevents (%s): monitor hot-plug goes unnoticed",
			 o->path, strerror(-err));
		if (fd >= 0)
			close(fd);
		return;
	}
	o->uevent_fd = fd;
}

/* ---- the card's events ---- */

static void drm_page_flip_done(int fd, unsigned sequence, unsigned sec, unsigned usec, void *data)
{
	struct output_drm *o = data;

	(void)fd;
	(void)sequence;
	(void)sec;
	(void)usec;
	o->flip_pending = 0;
	o->front ^= 1;
	o->base.flips++;
	if (o->reprobe)
		drm_reprobe(o);
	o->events->frame_done(o->opaque);
}

static void drm_readable(void *opaque, uint32_t events)
{
	struct output_drm *o = opaque;
	drmEventContext ctx = { .version = 2, .page_flip_handler = drm_page_flip_done };

	(void)events;
	if (drmHandleEvent(o->fd, &ctx))
		log_debug("output drm '%s': reading its events: %s", o->path, strerror(errno));
}

/* ---- life cycle ---- */

static void drm_close(struct output *out)
{
	struct output_drm *o = (struct output_drm *)out;
	drmModeCrtc *s = o->saved_crtc;

	if (s && s->mode_valid &&
	    drmModeSetCrtc(o->fd, s->crtc_id, s->buffer_id, s->x, s->y, &o->saved_connector_id, 1,
			   &s->mode))
		log_warn("output drm '%s': could not give the screen back", o->path);
	drmModeFreeCrtc(s);
	if (o->uevent_fd >= 0) {
		loop_del_fd(o->loop, o->uevent_fd);
		close(o->uevent_fd);
	}
	loop_timer_free(o->timer);
	drm_buffers_destroy(o);
	pixman_region32_fini(&o->buf[0].stale);
	pixman_region32_fini(&o->buf[1].stale);
	loop_del_fd(o->loop, o->fd);
	close(o->fd);
	free(o);
}

static int drm_open(struct output **out, struct loop *loop, const struct display_options *opts,
		    const struct output_events *events, void *opaque)
{
	struct output_drm *o = calloc(1, sizeof(*o));
	struct drm_choice c;
	uint64_t dumb = 0;
	struct stat st;
	int err;

	if (!o)
		return -ENOMEM;
	o->base.ops = &output_drm_ops;
	o->loop = loop;
	o->events = events;
	o->opaque = opaque;
	o->path = opts->output_device ? opts->output_device : DRM_DEVICE_DEFAULT;
	o->can_flip = 1;
	o->frame_ms = 1000u / opts->max_fps;
	o->uevent_fd = -1;
	o->buf[0].map = o->buf[1].map = MAP_FAILED;
	pixman_region32_init(&o->buf[0].stale);
	pixman_region32_init(&o->buf[1].stale);
	o->fd = open(o->path, O_RDWR | O_CLOEXEC);
	if (o->fd < 0) {
		err = -errno;
		log_error("output drm '%s': %s", o->path, strerror(errno));
		goto fail_free;
	}
	if (fstat(o->fd, &st) < 0 || !S_ISCHR(st.st_mode) || drmGetCap(o->fd, DRM_CAP_DUMB_BUFFER,
								      &dumb) || !dumb) {
		err = -ENODEV;
		log_error("output drm '%s': not a DRM/KMS device with dumb buffers", o->path);
		goto fail_fd;
	}
	o->rdev = st.st_rdev;
	err = drm_probe(o->fd, &c);
	if (err) {
		log_error("output drm '%s': %s", o->path,
			  err == -ENODEV ? "no monitor connected" : strerror(-err));
		goto fail_fd;
	}
	o->connector_id = o->saved_connector_id = c.connector_id;
	o->crtc_id = c.crtc_id;
	o->mode = c.mode;
	memcpy(o->connector_name, c.name, sizeof(c.name));
	o->monitor_connected = 1;
	o->saved_crtc = drmModeGetCrtc(o->fd, o->crtc_id);
	err = drm_buffers_create(o);
	if (err)
		goto fail_fd;
	o->timer = loop_timer_create(loop, drm_timer, o);
	if (!o->timer) {
		err = -ENOMEM;
		goto fail_buffers;
	}
	err = loop_add_fd(loop, o->fd, EPOLLIN, drm_readable, o);
	if (err)
		goto fail_timer;
	err = drm_modeset(o);
	if (err) {
		loop_del_fd(loop, o->fd);
		goto fail_timer;
	}
	uevent_open(o);
	log_info("output drm '%s': %s %s (%ux%u), page flips", o->path, o->connector_name,
		 o->mode.name, o->base.width, o->base.height);
	*out = &o->base;
	return 0;
fail_timer:
	loop_timer_free(o->timer);
fail_buffers:
	drm_buffers_destroy(o);
fail_fd:
	drmModeFreeCrtc(o->saved_crtc);
	close(o->fd);
fail_free:
	pixman_region32_fini(&o->buf[0].stale);
	pixman_region32_fini(&o->buf[1].stale);
	free(o);
	return err;
}

/* frame: NULL, the display uses its shadow: scanout memory is never read */
const struct output_ops output_drm_ops = {
	.name = "drm",
	.paced = 1,
	.open = drm_open,
	.close = drm_close,
	.present = drm_present,
};
