/* Where the composed picture goes: one back end per file behind this
 * table of callbacks (the bhyve way), picked by name with --output.
 *   drm        the monitor through DRM/KMS: dumb buffers, page flips,
 *              hot-plug (output_drm.c)
 *   fbdev      the monitor through /dev/fb0, where there is no KMS
 *              (output_fbdev.c)
 *   offscreen  frames in memory, PNG on request: the test back end
 *
 * A back end copies damaged rectangles from the display's shadow buffer
 * (RAM) to its scanout memory; it never reads scanout memory back. */
#ifndef DUET_DISPLAY_OUTPUT_H
#define DUET_DISPLAY_OUTPUT_H

#include <pixman.h>
#include <stdint.h>

struct loop;
struct display_options;
struct output;

/* What a back end tells the display. */
struct output_events {
	/* the frame handed to present() is on the screen: the next may come
	 * (only for back ends with `paced`) */
	void (*frame_done)(void *opaque);
	/* the screen's size changed (another monitor or mode after a
	 * hot-plug): width and height of the output are new, and the next
	 * present() should cover all of it */
	void (*resized)(void *opaque);
};

struct output_ops {
	const char *name;
	/* paced: present() completes later with frame_done (page flips);
	 * otherwise the display paces frames itself (--max-fps). */
	int paced;
	/* open: find the screen and its size. One clear log line and
	 * -errno when it cannot. */
	int (*open)(struct output **out, struct loop *loop, const struct display_options *opts,
		    const struct output_events *events, void *opaque);
	void (*close)(struct output *out);
	/* present: show `shadow`, of which only `damage` changed since the
	 * last present. */
	int (*present)(struct output *out, pixman_image_t *shadow, pixman_region32_t *damage);
	/* frame: what is on the screen, for a screenshot; NULL where reading
	 * it back is slow (scanout memory): the display then uses its shadow. */
	pixman_image_t *(*frame)(struct output *out);
};

/* Every back end's state starts with this. */
struct output {
	const struct output_ops *ops;
	unsigned width, height;
	uint64_t flips;          /* page flips completed, for `list` */
};

extern const struct output_ops output_drm_ops;
extern const struct output_ops output_fbdev_ops;
extern const struct output_ops output_offscreen_ops;

#endif
