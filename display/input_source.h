/* Where keyboard and mouse events come from: one back end per file behind
 * this table of callbacks, picked by name with --input.
 *   synthetic  events injected through the control socket's test-only
 *              "inject" command: the test back end
 *   none       no input at all
 *   evdev      every keyboard, mouse and tablet under /dev/input, grabbed
 *              with EVIOCGRAB, with hot-plug (input_evdev.c)
 *
 * A source hands the seat evdev events (seat_event) as the kernel reports
 * them, with absolute axes already scaled to 0..SEAT_ABS_MAX. */
#ifndef DUET_DISPLAY_INPUT_SOURCE_H
#define DUET_DISPLAY_INPUT_SOURCE_H

struct loop;
struct seat;
struct display_options;
struct input_source;

struct input_source_ops {
	const char *name;
	/* open: start delivering events to `seat`. One clear log line and
	 * -errno when it cannot. */
	int (*open)(struct input_source **out, struct loop *loop,
		    const struct display_options *opts, struct seat *seat);
	void (*close)(struct input_source *src);
	/* set_leds: light the keyboards' lock LEDs (DISPLAY_LED_* bits);
	 * NULL where there are none. */
	void (*set_leds)(struct input_source *src, unsigned leds);
	/* inject: one event from the control socket; NULL except for the
	 * synthetic source (tests only). */
	void (*inject)(struct input_source *src, unsigned type, unsigned code, int value);
};

/* Every source's state starts with this. */
struct input_source {
	const struct input_source_ops *ops;
};

extern const struct input_source_ops input_evdev_ops;
extern const struct input_source_ops input_synthetic_ops;
extern const struct input_source_ops input_none_ops;

#endif
