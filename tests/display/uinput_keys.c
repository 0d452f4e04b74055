/* uinput_keys: real input devices for testing duet-display's evdev source
 * (in the rig, whose kernel has uinput). It creates, with libevdev's
 * uinput API, a keyboard (every key, the three lock LEDs, kernel
 * autorepeat), a relative mouse and an absolute tablet (0..4095), prints
 * one line per device ("keyboard /dev/input/event4"), then reads commands
 * from stdin, one per line, each followed by SYN_REPORT:
 *   key NAME 0|1         a key (KEY_A) on the keyboard, or a button
 *                        (BTN_LEFT) on the mouse
 *   tap NAME+NAME...     press them in order, release them in reverse
 *   rel DX DY [WHEEL]    mouse motion
 *   abs X Y              tablet position, 0..4095
 *   sleep MS
 *   check-grab           record "leaked N": the events a reader that did
 *                        not grab the devices got (0 when another program
 *                        holds an EVIOCGRAB on them)
 * and records to --record FILE, one line each, "led CODE VALUE" for every
 * LED the keyboard is told to light, "done" after each command, and
 * "leaked N". At the end of stdin the devices go away. Exit status 0, 1 on
 * failure, 2 on a bad command line or command. */
#include <errno.h>
#include <fcntl.h>
#include <libevdev/libevdev-uinput.h>
#include <libevdev/libevdev.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TABLET_MAX 4095
#define KEYBOARD_KEYS 255 /* keyboard keys: 1..KEYBOARD_KEYS */
#define TAP_MAX 8

enum { KEYBOARD, MOUSE, TABLET, NDEV };
static const char *const dev_names[NDEV] = { "keyboard", "mouse", "tablet" };

static struct libevdev_uinput *uidev[NDEV];
static int reader[NDEV] = { -1, -1, -1 };   /* non-grabbing readers */
static FILE *rec;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("uinput_keys: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static void record(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void record(const char *fmt, ...)
{
	va_list ap;

	if (!rec)
		return;
	va_start(ap, fmt);
	vfprintf(rec, fmt, ap);
	va_end(ap);
	fputc('\n', rec);
	fflush(rec);
}

static struct libevdev_uinput *create(int which)
{
	struct libevdev *dev = libevdev_new();
	struct libevdev_uinput *ui;
	char name[64];
	int err;

	snprintf(name, sizeof(name), "duet-test %s", dev_names[which]);
	libevdev_set_name(dev, name);
	libevdev_set_id_bustype(dev, BUS_VIRTUAL);
	if (which == KEYBOARD) {
		for (unsigned k = 1; k <= KEYBOARD_KEYS; k++)
			libevdev_enable_event_code(dev, EV_KEY, k, NULL);
		libevdev_enable_event_code(dev, EV_LED, LED_NUML, NULL);
		libevdev_enable_event_code(dev, EV_LED, LED_CAPSL, NULL);
		libevdev_enable_event_code(dev, EV_LED, LED_SCROLLL, NULL);
		libevdev_enable_event_type(dev, EV_REP); /* the kernel repeats held keys */
	} else if (which == MOUSE) {
		libevdev_enable_event_code(dev, EV_REL, REL_X, NULL);
		libevdev_enable_event_code(dev, EV_REL, REL_Y, NULL);
		libevdev_enable_event_code(dev, EV_REL, REL_WHEEL, NULL);
		libevdev_enable_event_code(dev, EV_KEY, BTN_LEFT, NULL);
		libevdev_enable_event_code(dev, EV_KEY, BTN_RIGHT, NULL);
		libevdev_enable_event_code(dev, EV_KEY, BTN_MIDDLE, NULL);
	} else {
		struct input_absinfo abs = { .minimum = 0, .maximum = TABLET_MAX };

		libevdev_enable_event_code(dev, EV_ABS, ABS_X, &abs);
		libevdev_enable_event_code(dev, EV_ABS, ABS_Y, &abs);
		libevdev_enable_event_code(dev, EV_KEY, BTN_LEFT, NULL);
	}
	err = libevdev_uinput_create_from_device(dev, LIBEVDEV_UINPUT_OPEN_MANAGED, &ui);
	libevdev_free(dev);
	if (err)
		die("cannot create the %s: %s (is uinput loaded?)", dev_names[which],
		    strerror(-err));
	return ui;
}

static void emit(int which, unsigned type, unsigned code, int value)
{
	int err = libevdev_uinput_write_event(uidev[which], type, code, value);

	if (!err)
		err = libevdev_uinput_write_event(uidev[which], EV_SYN, SYN_REPORT, 0);
	if (err)
		die("writing an event: %s", strerror(-err));
}

static int key_code(const char *name, int *which)
{
	int code = libevdev_event_code_from_name(EV_KEY, name);

	if (code <= 0)
		return -1;
	*which = code >= BTN_MISC && code < KEY_OK ? MOUSE : KEYBOARD;
	return code;
}

/* drain_leds: what duet-display asked the keyboard to light. */
static void drain_leds(void)
{
	struct input_event ev;
	int fd = libevdev_uinput_get_fd(uidev[KEYBOARD]);
	struct pollfd p = { fd, POLLIN, 0 };

	while (poll(&p, 1, 0) == 1 && read(fd, &ev, sizeof(ev)) == sizeof(ev))
		if (ev.type == EV_LED)
			record("led %u %d", ev.code, ev.value);
}

static int check_grab(void)
{
	struct input_event ev;
	int leaked = 0;

	for (int i = 0; i < NDEV; i++)
		while (read(reader[i], &ev, sizeof(ev)) == sizeof(ev))
			if (ev.type != EV_SYN)
				leaked++;
	return leaked;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* command: one line; 0, or -1 when it is not a command. */
static int command(char *line)
{
	char *argv[4], *save = NULL;
	int argc = 0, which, code, x, y, wheel;

	for (char *t = strtok_r(line, " \t", &save); t && argc < 4; t = strtok_r(NULL, " \t", &save))
		argv[argc++] = t;
	if (argc == 0)
		return 0;
	if (!strcmp(argv[0], "key") && argc == 3) {
		if ((code = key_code(argv[1], &which)) < 0)
			return -1;
		emit(which, EV_KEY, (unsigned)code, atoi(argv[2]));
	} else if (!strcmp(argv[0], "tap") && argc == 2) {
		int codes[TAP_MAX], whiches[TAP_MAX], n = 0;

		for (char *s2 = NULL, *k = strtok_r(argv[1], "+", &s2); k; k = strtok_r(NULL, "+", &s2)) {
			if (n == TAP_MAX || (codes[n] = key_code(k, &whiches[n])) < 0)
				return -1;
			n++;
		}
		for (int i = 0; i < n; i++)
			emit(whiches[i], EV_KEY, (unsigned)codes[i], 1);
		for (int i = n - 1; i >= 0; i--)
			emit(whiches[i], EV_KEY, (unsigned)codes[i], 0);
	} else if (!strcmp(argv[0], "rel") && (argc == 3 || argc == 4)) {
		x = atoi(argv[1]);
		y = atoi(argv[2]);
		wheel = argc == 4 ? atoi(argv[3]) : 0;
		libevdev_uinput_write_event(uidev[MOUSE], EV_REL, REL_X, x);
		libevdev_uinput_write_event(uidev[MOUSE], EV_REL, REL_Y, y);
		if (wheel)
			libevdev_uinput_write_event(uidev[MOUSE], EV_REL, REL_WHEEL, wheel);
		libevdev_uinput_write_event(uidev[MOUSE], EV_SYN, SYN_REPORT, 0);
	} else if (!strcmp(argv[0], "abs") && argc == 3) {
		libevdev_uinput_write_event(uidev[TABLET], EV_ABS, ABS_X, atoi(argv[1]));
		libevdev_uinput_write_event(uidev[TABLET], EV_ABS, ABS_Y, atoi(argv[2]));
		libevdev_uinput_write_event(uidev[TABLET], EV_SYN, SYN_REPORT, 0);
	} else if (!strcmp(argv[0], "sleep") && argc == 2) {
		sleep_ms(atol(argv[1]));
	} else if (!strcmp(argv[0], "check-grab") && argc == 1) {
		record("leaked %d", check_grab());
	} else {
		return -1;
	}
	record("done");
	return 0;
}

int main(int argc, char **argv)
{
	char line[256];
	size_t len = 0;

	if (argc == 3 && !strcmp(argv[1], "--record")) {
		rec = fopen(argv[2], "a");
		if (!rec)
			die("%s: %s", argv[2], strerror(errno));
	} else if (argc != 1) {
		fprintf(stderr, "usage: uinput_keys [--record FILE] < COMMANDS\n");
		return 2;
	}
	for (int i = 0; i < NDEV; i++) {
		uidev[i] = create(i);
		reader[i] = open(libevdev_uinput_get_devnode(uidev[i]), O_RDONLY | O_NONBLOCK);
		if (reader[i] < 0)
			die("%s: %s", libevdev_uinput_get_devnode(uidev[i]), strerror(errno));
		printf("%s %s\n", dev_names[i], libevdev_uinput_get_devnode(uidev[i]));
	}
	fflush(stdout);
	for (;;) {
		struct pollfd p[2] = { { 0, POLLIN, 0 },
				       { libevdev_uinput_get_fd(uidev[KEYBOARD]), POLLIN, 0 } };
		ssize_t n;
		char *nl;

		if (poll(p, 2, -1) < 0 && errno != EINTR)
			die("poll: %s", strerror(errno));
		drain_leds();
		if (!(p[0].revents & (POLLIN | POLLHUP)))
			continue;
		n = read(0, line + len, sizeof(line) - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		while ((nl = memchr(line, '\n', len)) != NULL) {
			size_t used = (size_t)(nl - line) + 1;

			*nl = 0;
			if (command(line)) {
				fprintf(stderr, "uinput_keys: not a command: '%s'\n", line);
				return 2;
			}
			drain_leds();
			memmove(line, line + used, len - used);
			len -= used;
		}
		if (len == sizeof(line) - 1)
			die("a line longer than %zu bytes", sizeof(line) - 2);
	}
	drain_leds();
	for (int i = 0; i < NDEV; i++) {
		close(reader[i]);
		libevdev_uinput_destroy(uidev[i]);
	}
	return 0;
}
