/* The fbdev output: the monitor through /dev/fb0, for machines whose
 * graphics have no KMS driver (fbdev is deprecated and has no page flips
 * or vsync: the display paces frames itself, --max-fps). The screen is
 * the framebuffer's visible area in the mode it is in; damaged
 * rectangles of the RAM shadow are converted into its pixel format by
 * pixman and written, never read back. The console's text is kept off the
 * screen by putting the VT in graphics mode (KDSETMODE) while we own it. */
#include "output.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fb.h>
#include <linux/kd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "display_options.h"
#include "log.h"

#define FBDEV_DEVICE_DEFAULT "/dev/fb0"
#define FBDEV_CONSOLE "/dev/tty0"

struct output_fbdev {
	struct output base;
	const char *path;
	int fd;
	void *map;
	size_t map_len;
	pixman_image_t *screen;   /* over the visible part of the mapping */
	int tty_fd;               /* the console, in KD_GRAPHICS; -1 if none */
	int tty_mode;             /* its mode before */
};

/* fbdev_format: the pixman format of a true-colour framebuffer, 0 when
 * pixman has none for it. */
static pixman_format_code_t fbdev_format(const struct fb_var_screeninfo *v)
{
	unsigned r = v->red.offset, g = v->green.offset, b = v->blue.offset;

	if (v->bits_per_pixel >= 24 &&
	    (v->red.length != 8 || v->green.length != 8 || v->blue.length != 8))
		return 0;
	switch (v->bits_per_pixel) {
	case 32:
		if (r == 16 && g == 8 && b == 0)
			return PIXMAN_x8r8g8b8;
		if (r == 0 && g == 8 && b == 16)
			return PIXMAN_x8b8g8r8;
		if (r == 8 && g == 16 && b == 24)
			return PIXMAN_b8g8r8x8;
		return 0;
	case 24:
		if (r == 16 && g == 8 && b == 0)
			return PIXMAN_r8g8b8;
		if (r == 0 && g == 8 && b == 16)
			return PIXMAN_b8g8r8;
		return 0;
	case 16:
		if (r == 11 && g == 5 && b == 0 && v->green.length == 6)
			return PIXMAN_r5g6b5;
		if (r == 0 && g == 5 && b == 11 && v->green.length == 6)
			return PIXMAN_b5g6r5;
		if (r == 10 && g == 5 && b == 0 && v->green.length == 5)
			return PIXMAN_x1r5g5b5;
		return 0;
	default:
		return 0;
	}
}

/* fbdev_console_graphics: stop the console drawing text over us. */
static void fbdev_console_graphics(struct output_fbdev *o)
{
	int mode;

	o->tty_fd = open(FBDEV_CONSOLE, O_RDWR | O_CLOEXEC | O_NOCTTY);
	if (o->tty_fd < 0 || ioctl(o->tty_fd, KDGETMODE, &mode) < 0 ||
	    ioctl(o->tty_fd, KDSETMODE, KD_GRAPHICS) < 0) {
		log_warn("output fbdev: console %s stays in text mode (%s): its text may show",
			 FBDEV_CONSOLE, strerror(errno));
		if (o->tty_fd >= 0)
			close(o->tty_fd);
		o->tty_fd = -1;
		return;
	}
	o->tty_mode = mode;
}

static void fbdev_close(struct output *out)
{
	struct output_fbdev *o = (struct output_fbdev *)out;

	if (o->tty_fd >= 0) {
		ioctl(o->tty_fd, KDSETMODE, o->tty_mode);
		close(o->tty_fd);
	}
	if (o->screen)
		pixman_image_unref(o->screen);
	if (o->map)
		munmap(o->map, o->map_len);
	close(o->fd);
	free(o);
}

static int fbdev_open(struct output **out, struct loop *loop, const struct display_options *opts,
		      const struct output_events *events, void *opaque)
{
	struct output_fbdev *o = calloc(1, sizeof(*o));
	struct fb_fix_screeninfo fix;
	struct fb_var_screeninfo var;
	pixman_format_code_t format;
	size_t offset, bytes_pp;
	void *map;

	(void)loop;
	(void)events;
	(void)opaque;
	if (!o)
		return -ENOMEM;
	o->base.ops = &output_fbdev_ops;
	o->path = opts->output_device ? opts->output_device : FBDEV_DEVICE_DEFAULT;
	o->tty_fd = -1;
	o->fd = open(o->path, O_RDWR | O_CLOEXEC);
	if (o->fd < 0) {
		int err = -errno;

		log_error("output fbdev '%s': %s", o->path, strerror(errno));
		free(o);
		return err;
	}
	if (ioctl(o->fd, FBIOGET_FSCREENINFO, &fix) < 0 ||
	    ioctl(o->fd, FBIOGET_VSCREENINFO, &var) < 0) {
		log_error("output fbdev '%s': not a framebuffer (%s)", o->path, strerror(errno));
		fbdev_close(&o->base);
		return -ENODEV;
	}
	format = fbdev_format(&var);
	if (fix.type != FB_TYPE_PACKED_PIXELS || fix.visual != FB_VISUAL_TRUECOLOR || !format) {
		log_error("output fbdev '%s': %u bpp, type %u, visual %u: not a true-colour "
			  "format this display writes", o->path, var.bits_per_pixel, fix.type,
			  fix.visual);
		fbdev_close(&o->base);
		return -ENOTSUP;
	}
	/* the visible area, with its pan offset, lies inside the memory and
	 * starts and has rows where pixman can address them (multiples of 4
	 * bytes) */
	bytes_pp = var.bits_per_pixel / 8;
	offset = (size_t)var.yoffset * fix.line_length + (size_t)var.xoffset * bytes_pp;
	if (var.xres < 1 || var.yres < 1 || var.xres > DISPLAY_MAX_WIDTH ||
	    var.yres > DISPLAY_MAX_HEIGHT || fix.line_length % 4 || offset % 4 ||
	    fix.line_length < var.xres * bytes_pp ||
	    offset + (size_t)fix.line_length * var.yres > fix.smem_len) {
		log_error("output fbdev '%s': a %ux%u screen at offset %zu with %u-byte rows: "
			  "not in its %u bytes, or not aligned", o->path, var.xres, var.yres, offset,
			  fix.line_length, fix.smem_len);
		fbdev_close(&o->base);
		return -ENOTSUP;
	}
	map = mmap(NULL, fix.smem_len, PROT_READ | PROT_WRITE, MAP_SHARED, o->fd, 0);
	if (map == MAP_FAILED) {
		int err = -errno;

		log_error("output fbdev '%s': mmap: %s", o->path, strerror(errno));
		fbdev_close(&o->base);
		return err;
	}
	o->map = map;
	o->map_len = fix.smem_len;
	o->screen = pixman_image_create_bits_no_clear(format, (int)var.xres, (int)var.yres,
						      (uint32_t *)((uint8_t *)map + offset),
						      (int)fix.line_length);
	if (!o->screen) {
		fbdev_close(&o->base);
		return -ENOMEM;
	}
	o->base.width = var.xres;
	o->base.height = var.yres;
	ioctl(o->fd, FBIOBLANK, FB_BLANK_UNBLANK);
	fbdev_console_graphics(o);
	log_info("output fbdev '%s': %.16s %ux%u, %u bpp", o->path, fix.id, var.xres, var.yres,
		 var.bits_per_pixel);
	*out = &o->base;
	return 0;
}

static int fbdev_present(struct output *out, pixman_image_t *shadow, pixman_region32_t *damage)
{
	struct output_fbdev *o = (struct output_fbdev *)out;
	pixman_region32_t clip;
	pixman_box32_t *b;
	int n;

	pixman_region32_init_rect(&clip, 0, 0, o->base.width, o->base.height);
	pixman_region32_intersect(&clip, &clip, damage);
	b = pixman_region32_rectangles(&clip, &n);
	for (int i = 0; i < n; i++)
		pixman_image_composite32(PIXMAN_OP_SRC, shadow, NULL, o->screen, b[i].x1, b[i].y1,
					 0, 0, b[i].x1, b[i].y1, b[i].x2 - b[i].x1,
					 b[i].y2 - b[i].y1);
	pixman_region32_fini(&clip);
	return 0;
}

/* frame: NULL, the display uses its shadow: framebuffer memory is never
 * read */
const struct output_ops output_fbdev_ops = {
	.name = "fbdev",
	.paced = 0,
	.open = fbdev_open,
	.close = fbdev_close,
	.present = fbdev_present,
};
