/* The synthetic input source, for tests only: events come from the control
 * socket's "inject" command and go to the seat exactly as an evdev device's
 * would, so the tests drive the real hotkey and routing code. Also the
 * "none" source: no input at all (a display that only shows). */
#include "input_source.h"

#include <errno.h>
#include <stdlib.h>

#include "log.h"
#include "seat.h"

struct input_synthetic {
	struct input_source base;
	struct seat *seat;
};

static int synthetic_open(struct input_source **out, struct loop *loop,
			  const struct display_options *opts, struct seat *seat)
{
	struct input_synthetic *s = calloc(1, sizeof(*s));

	(void)loop;
	(void)opts;
	if (!s)
		return -ENOMEM;
	s->base.ops = &input_synthetic_ops;
	s->seat = seat;
	log_warn("input synthetic: events come only from the control socket (tests)");
	*out = &s->base;
	return 0;
}

static void synthetic_close(struct input_source *src)
{
	free(src);
}

static void synthetic_inject(struct input_source *src, unsigned type, unsigned code, int value)
{
	seat_event(((struct input_synthetic *)src)->seat, type, code, value);
}

const struct input_source_ops input_synthetic_ops = {
	.name = "synthetic",
	.open = synthetic_open,
	.close = synthetic_close,
	.inject = synthetic_inject,
};

static int none_open(struct input_source **out, struct loop *loop,
		     const struct display_options *opts, struct seat *seat)
{
	struct input_source *src = calloc(1, sizeof(*src));

	(void)loop;
	(void)opts;
	(void)seat;
	if (!src)
		return -ENOMEM;
	src->ops = &input_none_ops;
	*out = src;
	return 0;
}

static void none_close(struct input_source *src)
{
	free(src);
}

const struct input_source_ops input_none_ops = {
	.name = "none",
	.open = none_open,
	.close = none_close,
};
