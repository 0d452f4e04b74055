/* The offscreen output: a "screen" in RAM of --output-size. present()
 * copies the damaged rectangles into it exactly as a scanout back end
 * would copy them to the card, so a screenshot of it shows what damage
 * tracking really delivered (a region the compositor forgot to report
 * would show as stale pixels in the tests). */
#include "output.h"

#include <errno.h>
#include <stdlib.h>

#include "display_options.h"
#include "log.h"

struct output_offscreen {
	struct output base;
	pixman_image_t *frame;
};

static int offscreen_open(struct output **out, struct loop *loop,
			  const struct display_options *opts, const struct output_events *events,
			  void *opaque)
{
	struct output_offscreen *o = calloc(1, sizeof(*o));

	(void)loop;
	(void)events;
	(void)opaque;
	if (!o)
		return -ENOMEM;
	o->base.ops = &output_offscreen_ops;
	o->base.width = opts->output_width;
	o->base.height = opts->output_height;
	o->frame = pixman_image_create_bits(PIXMAN_x8r8g8b8, (int)o->base.width,
					    (int)o->base.height, NULL, 0);
	if (!o->frame) {
		log_error("output offscreen: no memory for a %ux%u frame", o->base.width,
			  o->base.height);
		free(o);
		return -ENOMEM;
	}
	log_info("output offscreen: %ux%u", o->base.width, o->base.height);
	*out = &o->base;
	return 0;
}

static void offscreen_close(struct output *out)
{
	struct output_offscreen *o = (struct output_offscreen *)out;

	pixman_image_unref(o->frame);
	free(o);
}

static int offscreen_present(struct output *out, pixman_image_t *shadow,
			     pixman_region32_t *damage)
{
	struct output_offscreen *o = (struct output_offscreen *)out;
	pixman_box32_t *b;
	int n;

	b = pixman_region32_rectangles(damage, &n);
	for (int i = 0; i < n; i++)
		pixman_blt(pixman_image_get_data(shadow), pixman_image_get_data(o->frame),
			   pixman_image_get_stride(shadow) / 4, pixman_image_get_stride(o->frame) / 4,
			   32, 32, b[i].x1, b[i].y1, b[i].x1, b[i].y1, b[i].x2 - b[i].x1,
			   b[i].y2 - b[i].y1);
	return 0;
}

static pixman_image_t *offscreen_frame(struct output *out)
{
	return ((struct output_offscreen *)out)->frame;
}

const struct output_ops output_offscreen_ops = {
	.name = "offscreen",
	.paced = 0,
	.open = offscreen_open,
	.close = offscreen_close,
	.present = offscreen_present,
	.frame = offscreen_frame,
};
