/* The compositor (see compositor.h). Damage is kept as a pixman region in
 * screen coordinates; composing walks its rectangles once per layer:
 * picture (scaled or copied straight from the guest's mapping), letterbox,
 * status text, edge, banner. Nothing outside the damage is touched, so an
 * idle guest costs nothing and a blinking cursor costs a few hundred
 * pixels. */
#include "compositor.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "font.h"

/* The edge is at most a quarter of the screen's smaller side. */
#define EDGE_MAX_FRACTION 4
#define BANNER_SCALE 3
#define BANNER_PAD 10
#define BANNER_TOP_GAP 12
#define BANNER_ALPHA 0xe0u
#define STATUS_SCALE_MAX 4
#define STATUS_BACKGROUND 0x202020u
#define STATUS_TEXT 0xc0c0c0u
#define LETTERBOX 0x000000u
#define EMPTY_EDGE 0x808080u

struct overlay {
	pixman_image_t *img;    /* a8r8g8b8; NULL: none */
	int x, y, w, h;
};

struct compositor {
	pixman_image_t *shadow;
	int width, height;
	int edge;
	struct scene scene;
	pixman_image_t *src;    /* wraps scene.pixels */
	/* where the picture lands on the screen, and whether it is scaled */
	int px, py, pw, ph;
	int scaled;
	pixman_region32_t frame; /* the edge's pixels */
	struct overlay banner;
	int banner_visible;
	struct overlay status;  /* the status screens' text */
	pixman_region32_t damage;
};

static void fill_region(struct compositor *c, pixman_region32_t *r, uint32_t rgb)
{
	int n;
	pixman_box32_t *b = pixman_region32_rectangles(r, &n);

	for (int i = 0; i < n; i++)
		pixman_fill(pixman_image_get_data(c->shadow), pixman_image_get_stride(c->shadow) / 4,
			    32, b[i].x1, b[i].y1, b[i].x2 - b[i].x1, b[i].y2 - b[i].y1,
			    0xff000000u | rgb);
}

/* overlay_over: blend `o` over the shadow where it meets `clip`. */
static void overlay_over(struct compositor *c, const struct overlay *o, pixman_region32_t *clip)
{
	pixman_region32_t r;
	pixman_box32_t *b;
	int n;

	if (!o->img)
		return;
	pixman_region32_init_rect(&r, o->x, o->y, (unsigned)o->w, (unsigned)o->h);
	pixman_region32_intersect(&r, &r, clip);
	b = pixman_region32_rectangles(&r, &n);
	for (int i = 0; i < n; i++)
		pixman_image_composite32(PIXMAN_OP_OVER, o->img, NULL, c->shadow, b[i].x1 - o->x,
					 b[i].y1 - o->y, 0, 0, b[i].x1, b[i].y1, b[i].x2 - b[i].x1,
					 b[i].y2 - b[i].y1);
	pixman_region32_fini(&r);
}

static void overlay_clear(struct overlay *o)
{
	if (o->img)
		pixman_image_unref(o->img);
	memset(o, 0, sizeof(*o));
}

/* text_overlay: `text` in `rgb` on a background of `bg_argb` with `pad`
 * pixels around it, at the largest scale up to `scale` that fits in
 * max_w pixels. */
static int text_overlay(struct overlay *o, const char *text, unsigned scale, int pad,
			uint32_t rgb, uint32_t bg_argb, int max_w)
{
	while (scale > 1 && (int)font_text_width(text, scale) + 2 * pad > max_w)
		scale--;
	o->w = (int)font_text_width(text, scale) + 2 * pad;
	o->h = FONT_GLYPH_HEIGHT * (int)scale + 2 * pad;
	o->img = pixman_image_create_bits(PIXMAN_a8r8g8b8, o->w, o->h, NULL, 0);
	if (!o->img)
		return -ENOMEM;
	if (bg_argb) {
		pixman_color_t bg = {
			.red = (uint16_t)((bg_argb >> 16 & 0xff) * 0x101),
			.green = (uint16_t)((bg_argb >> 8 & 0xff) * 0x101),
			.blue = (uint16_t)((bg_argb & 0xff) * 0x101),
			.alpha = (uint16_t)((bg_argb >> 24) * 0x101),
		};
		pixman_box32_t all = { 0, 0, o->w, o->h };

		/* premultiplied, as pixman wants it */
		bg.red = (uint16_t)((uint32_t)bg.red * bg.alpha / 0xffff);
		bg.green = (uint16_t)((uint32_t)bg.green * bg.alpha / 0xffff);
		bg.blue = (uint16_t)((uint32_t)bg.blue * bg.alpha / 0xffff);
		pixman_image_fill_boxes(PIXMAN_OP_SRC, o->img, &bg, 1, &all);
	}
	font_draw(o->img, pad, pad, text, scale, 0xff000000u | rgb);
	return 0;
}

/* readable_on: black or white text, whichever reads better on `rgb`. */
static uint32_t readable_on(uint32_t rgb)
{
	unsigned luma = (299 * (rgb >> 16 & 0xff) + 587 * (rgb >> 8 & 0xff) + 114 * (rgb & 0xff)) / 1000;

	return luma > 150 ? 0x000000u : 0xffffffu;
}

static void compositor_layout(struct compositor *c)
{
	int inner_w = c->width - 2 * c->edge, inner_h = c->height - 2 * c->edge;

	pixman_region32_fini(&c->frame);
	pixman_region32_init_rect(&c->frame, 0, 0, (unsigned)c->width, (unsigned)c->height);
	if (inner_w > 0 && inner_h > 0) {
		pixman_region32_t inner;

		pixman_region32_init_rect(&inner, c->edge, c->edge, (unsigned)inner_w,
					  (unsigned)inner_h);
		pixman_region32_subtract(&c->frame, &c->frame, &inner);
		pixman_region32_fini(&inner);
	}
	if (c->scene.kind != SCENE_GUEST) {
		c->px = c->py = c->pw = c->ph = 0;
		c->scaled = 0;
		return;
	}
	/* Fit: the smaller of the two scale factors, compared exactly
	 * (w * H <= h * W) so that equal sizes give exactly 1:1. */
	if ((uint64_t)c->scene.width * (uint64_t)c->height <=
	    (uint64_t)c->scene.height * (uint64_t)c->width) {
		c->ph = c->height;
		c->pw = (int)(((uint64_t)c->scene.width * (uint64_t)c->height +
			       c->scene.height / 2) / c->scene.height);
	} else {
		c->pw = c->width;
		c->ph = (int)(((uint64_t)c->scene.height * (uint64_t)c->width +
			       c->scene.width / 2) / c->scene.width);
	}
	if (c->pw < 1)
		c->pw = 1;
	if (c->ph < 1)
		c->ph = 1;
	c->px = (c->width - c->pw) / 2;
	c->py = (c->height - c->ph) / 2;
	c->scaled = c->pw != (int)c->scene.width || c->ph != (int)c->scene.height;
}

int compositor_create(struct compositor **out, unsigned width, unsigned height,
		      unsigned edge_width)
{
	struct compositor *c;
	unsigned smaller = width < height ? width : height;

	if (width < 1 || height < 1 || width > DISPLAY_MAX_WIDTH || height > DISPLAY_MAX_HEIGHT)
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->width = (int)width;
	c->height = (int)height;
	c->edge = (int)(edge_width < smaller / EDGE_MAX_FRACTION ? edge_width
								 : smaller / EDGE_MAX_FRACTION);
	c->shadow = pixman_image_create_bits(PIXMAN_x8r8g8b8, c->width, c->height, NULL, 0);
	if (!c->shadow) {
		free(c);
		return -ENOMEM;
	}
	pixman_region32_init(&c->damage);
	pixman_region32_init(&c->frame);
	if (compositor_set_scene(c, &(struct scene){ .kind = SCENE_EMPTY,
						      .edge_rgb = EMPTY_EDGE })) {
		compositor_destroy(c);
		return -ENOMEM;
	}
	*out = c;
	return 0;
}

void compositor_destroy(struct compositor *c)
{
	if (!c)
		return;
	if (c->src)
		pixman_image_unref(c->src);
	overlay_clear(&c->banner);
	overlay_clear(&c->status);
	pixman_region32_fini(&c->damage);
	pixman_region32_fini(&c->frame);
	pixman_image_unref(c->shadow);
	free(c);
}

int compositor_set_scene(struct compositor *c, const struct scene *s)
{
	pixman_image_t *src = NULL;
	struct overlay banner = { 0 }, status = { 0 };
	char text[96];

	if (s->kind == SCENE_GUEST) {
		/* pixman never writes to a source image; the mapping is
		 * read-only, so a mistake would fault rather than write. */
		src = pixman_image_create_bits_no_clear(PIXMAN_x8r8g8b8, (int)s->width,
							(int)s->height, (uint32_t *)s->pixels,
							(int)s->stride);
		if (!src)
			return -ENOMEM;
	} else {
		if (s->kind == SCENE_EMPTY)
			snprintf(text, sizeof(text), "no guest yet");
		else
			snprintf(text, sizeof(text), "%s %s", s->name,
				 s->kind == SCENE_STOPPED ? "stopped" : "is starting");
		if (text_overlay(&status, text, STATUS_SCALE_MAX, 0, STATUS_TEXT, 0,
				 c->width - 2 * c->edge))
			return -ENOMEM;
		status.x = (c->width - status.w) / 2;
		status.y = (c->height - status.h) / 2;
	}
	if (s->banner && s->banner[0] &&
	    text_overlay(&banner, s->banner, BANNER_SCALE, BANNER_PAD, readable_on(s->edge_rgb),
			 BANNER_ALPHA << 24 | s->edge_rgb, c->width - 2 * c->edge) == 0) {
		banner.x = (c->width - banner.w) / 2;
		banner.y = c->edge + BANNER_TOP_GAP;
	}
	if (c->src)
		pixman_image_unref(c->src);
	c->src = src;
	overlay_clear(&c->banner);
	overlay_clear(&c->status);
	c->banner = banner;
	c->status = status;
	c->scene = *s;
	compositor_layout(c);
	if (src) {
		pixman_image_set_repeat(src, PIXMAN_REPEAT_PAD);
		if (c->scaled) {
			pixman_transform_t t;

			pixman_transform_init_scale(
				&t, pixman_double_to_fixed((double)s->width / c->pw),
				pixman_double_to_fixed((double)s->height / c->ph));
			pixman_image_set_transform(src, &t);
			pixman_image_set_filter(src, PIXMAN_FILTER_BILINEAR, NULL, 0);
		} else {
			pixman_image_set_filter(src, PIXMAN_FILTER_NEAREST, NULL, 0);
		}
	}
	compositor_damage_all(c);
	return 0;
}

static void damage_overlay(struct compositor *c, const struct overlay *o)
{
	if (o->img)
		pixman_region32_union_rect(&c->damage, &c->damage, o->x, o->y, (unsigned)o->w,
					   (unsigned)o->h);
}

void compositor_set_banner(struct compositor *c, int visible)
{
	if (c->banner_visible == !!visible)
		return;
	c->banner_visible = !!visible;
	damage_overlay(c, &c->banner);
}

void compositor_damage_all(struct compositor *c)
{
	pixman_region32_fini(&c->damage);
	pixman_region32_init_rect(&c->damage, 0, 0, (unsigned)c->width, (unsigned)c->height);
}

int compositor_has_damage(const struct compositor *c)
{
	return pixman_region32_not_empty((pixman_region32_t *)&c->damage);
}

void compositor_damage_surface(struct compositor *c, const struct display_rect *r)
{
	int64_t x0, y0, x1, y1;
	uint64_t w = c->scene.width, h = c->scene.height;

	if (c->scene.kind != SCENE_GUEST || !r->width || !r->height)
		return;
	if (!c->scaled) {
		x0 = c->px + (int64_t)r->x;
		y0 = c->py + (int64_t)r->y;
		x1 = x0 + r->width;
		y1 = y0 + r->height;
	} else {
		/* Bilinear filtering reaches one source pixel further each
		 * way: widen by one screen pixel. */
		x0 = c->px + (int64_t)((uint64_t)r->x * (uint64_t)c->pw / w) - 1;
		y0 = c->py + (int64_t)((uint64_t)r->y * (uint64_t)c->ph / h) - 1;
		x1 = c->px + (int64_t)(((uint64_t)r->x + r->width) * (uint64_t)c->pw + w - 1) / (int64_t)w + 1;
		y1 = c->py + (int64_t)(((uint64_t)r->y + r->height) * (uint64_t)c->ph + h - 1) / (int64_t)h + 1;
	}
	if (x0 < c->px)
		x0 = c->px;
	if (y0 < c->py)
		y0 = c->py;
	if (x1 > c->px + c->pw)
		x1 = c->px + c->pw;
	if (y1 > c->py + c->ph)
		y1 = c->py + c->ph;
	if (x1 <= x0 || y1 <= y0)
		return;
	pixman_region32_union_rect(&c->damage, &c->damage, (int)x0, (int)y0,
				   (unsigned)(x1 - x0), (unsigned)(y1 - y0));
}

static void compose_picture(struct compositor *c, pixman_region32_t *clip)
{
	pixman_region32_t pic, box;
	pixman_box32_t *b;
	int n;

	pixman_region32_init_rect(&pic, c->px, c->py, (unsigned)c->pw, (unsigned)c->ph);
	pixman_region32_intersect(&pic, &pic, clip);
	b = pixman_region32_rectangles(&pic, &n);
	for (int i = 0; i < n; i++) {
		int w = b[i].x2 - b[i].x1, h = b[i].y2 - b[i].y1;

		/* 1:1 is a plain copy: pixman_blt skips composite's set-up */
		if (!c->scaled &&
		    pixman_blt((uint32_t *)c->scene.pixels, pixman_image_get_data(c->shadow),
			       (int)c->scene.stride / 4, pixman_image_get_stride(c->shadow) / 4, 32,
			       32, b[i].x1 - c->px, b[i].y1 - c->py, b[i].x1, b[i].y1, w, h))
			continue;
		pixman_image_composite32(PIXMAN_OP_SRC, c->src, NULL, c->shadow, b[i].x1 - c->px,
					 b[i].y1 - c->py, 0, 0, b[i].x1, b[i].y1, w, h);
	}
	/* the letterbox: the rest of the clip */
	pixman_region32_init_rect(&box, c->px, c->py, (unsigned)c->pw, (unsigned)c->ph);
	pixman_region32_subtract(&pic, clip, &box);
	fill_region(c, &pic, LETTERBOX);
	pixman_region32_fini(&box);
	pixman_region32_fini(&pic);
}

void compositor_compose(struct compositor *c, pixman_region32_t *done)
{
	pixman_region32_t clip, edge;

	pixman_region32_init(&clip);
	pixman_region32_intersect_rect(&clip, &c->damage, 0, 0, (unsigned)c->width,
				       (unsigned)c->height);
	pixman_region32_clear(&c->damage);
	pixman_region32_copy(done, &clip);
	if (!pixman_region32_not_empty(&clip)) {
		pixman_region32_fini(&clip);
		return;
	}
	/* The edge covers what is under it: draw it, and nothing beneath. */
	pixman_region32_init(&edge);
	pixman_region32_intersect(&edge, &clip, &c->frame);
	fill_region(c, &edge, c->scene.edge_rgb);
	pixman_region32_subtract(&clip, &clip, &c->frame);
	if (c->scene.kind == SCENE_GUEST) {
		compose_picture(c, &clip);
	} else {
		fill_region(c, &clip, STATUS_BACKGROUND);
		overlay_over(c, &c->status, &clip);
	}
	if (c->banner_visible) {
		pixman_region32_union(&clip, &clip, &edge);
		overlay_over(c, &c->banner, &clip);
	}
	pixman_region32_fini(&edge);
	pixman_region32_fini(&clip);
}

pixman_image_t *compositor_shadow(const struct compositor *c)
{
	return c->shadow;
}

void compositor_to_surface(const struct compositor *c, int x, int y, int32_t *sx, int32_t *sy)
{
	int64_t vx, vy;

	if (c->scene.kind != SCENE_GUEST) {
		*sx = *sy = 0;
		return;
	}
	vx = ((int64_t)x - c->px) * (int64_t)c->scene.width / c->pw;
	vy = ((int64_t)y - c->py) * (int64_t)c->scene.height / c->ph;
	if (vx < 0)
		vx = 0;
	if (vy < 0)
		vy = 0;
	if (vx >= (int64_t)c->scene.width)
		vx = c->scene.width - 1;
	if (vy >= (int64_t)c->scene.height)
		vy = c->scene.height - 1;
	*sx = (int32_t)vx;
	*sy = (int32_t)vy;
}
