/* Pins display/seat.c: hotkeys never reach a guest, each release goes where
 * its press went, held keys and buttons are released at a switch, the
 * pointer is clamped to the screen. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "display_proto.h"
#include "seat.h"

/* What the seat asked for, as text lines: "k SLOT CODE PRESSED",
 * "p SLOT X Y DX DY BUTTONS WHEEL", "h ACTION", "l LEDS". */
static char log_buf[8192];

static void log_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void log_line(const char *fmt, ...)
{
	size_t len = strlen(log_buf);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(log_buf + len, sizeof(log_buf) - len, fmt, ap);
	va_end(ap);
	strncat(log_buf, "\n", sizeof(log_buf) - strlen(log_buf) - 1);
}

static void key_cb(void *opaque, int slot, unsigned code, int pressed)
{
	(void)opaque;
	log_line("k %d %u %d", slot, code, pressed);
}

static void pointer_cb(void *opaque, int slot, int x, int y, int dx, int dy, unsigned buttons,
		       int wheel)
{
	(void)opaque;
	log_line("p %d %d %d %d %d %u %d", slot, x, y, dx, dy, buttons, wheel);
}

static void hotkey_cb(void *opaque, int action)
{
	struct seat *s = *(struct seat **)opaque;

	log_line("h %d", action);
	/* like the display: switch when asked */
	if (action >= 0)
		seat_set_active(s, action);
}

static void leds_cb(void *opaque, unsigned leds)
{
	(void)opaque;
	log_line("l %u", leds);
}

static const struct seat_ops ops = { key_cb, pointer_cb, hotkey_cb, leds_cb };
static struct seat *seat;

static int setup(void **state)
{
	struct hotkeys hk;

	(void)state;
	hotkeys_default(&hk);
	log_buf[0] = 0;
	if (seat_create(&seat, &hk, &ops, &seat))
		return -1;
	seat_set_screen(seat, 640, 400);
	seat_set_active(seat, 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	seat_destroy(seat);
	return 0;
}

static void key(unsigned code, int value)
{
	seat_event(seat, EV_KEY, code, value);
	seat_event(seat, EV_SYN, SYN_REPORT, 0);
}

static void test_plain_keys_go_to_the_active_slot(void **state)
{
	(void)state;
	key(KEY_A, 1);
	key(KEY_A, 2); /* autorepeat: not forwarded */
	key(KEY_A, 0);
	assert_string_equal(log_buf, "k 0 30 1\nk 0 30 0\n");
}

static void test_hotkey_keys_reach_nobody(void **state)
{
	(void)state;
	key(KEY_RIGHTCTRL, 1);
	key(KEY_2, 1);
	key(KEY_2, 2);
	key(KEY_2, 0);
	key(KEY_RIGHTCTRL, 0);
	assert_string_equal(log_buf, "h 1\n");
	assert_int_equal(seat_active(seat), 1);
	log_buf[0] = 0;
	key(KEY_RIGHTCTRL, 1);
	key(KEY_TAB, 1);
	key(KEY_TAB, 0);
	key(KEY_RIGHTCTRL, 0);
	assert_string_equal(log_buf, "h -1\n");
}

static void test_modifier_tap_and_chord_are_ordinary(void **state)
{
	(void)state;
	key(KEY_RIGHTCTRL, 1);
	key(KEY_RIGHTCTRL, 0);
	key(KEY_RIGHTCTRL, 1);
	key(KEY_C, 1);
	key(KEY_C, 0);
	key(KEY_RIGHTCTRL, 0);
	assert_string_equal(log_buf, "k 0 97 1\nk 0 97 0\n"
				     "k 0 97 1\nk 0 46 1\nk 0 46 0\nk 0 97 0\n");
}

static void test_modifier_commits_on_click(void **state)
{
	(void)state;
	key(KEY_RIGHTCTRL, 1);
	seat_event(seat, EV_KEY, BTN_LEFT, 1);
	seat_event(seat, EV_SYN, SYN_REPORT, 0);
	assert_string_equal(log_buf, "k 0 97 1\np 0 320 200 0 0 1 0\n");
}

static void test_switch_releases_held_keys_and_buttons(void **state)
{
	(void)state;
	key(KEY_LEFTSHIFT, 1);
	seat_event(seat, EV_KEY, BTN_RIGHT, 1);
	seat_event(seat, EV_SYN, SYN_REPORT, 0);
	key(KEY_RIGHTCTRL, 1);
	key(KEY_2, 1);
	assert_string_equal(log_buf, "k 0 42 1\np 0 320 200 0 0 2 0\nh 1\n"
				     "k 0 42 0\np 0 320 200 0 0 0 0\n");
	log_buf[0] = 0;
	key(KEY_2, 0);
	key(KEY_RIGHTCTRL, 0);
	key(KEY_LEFTSHIFT, 0); /* its release went to slot 0 already */
	seat_event(seat, EV_REL, REL_X, 3);
	seat_event(seat, EV_SYN, SYN_REPORT, 0); /* button still held: not for slot 1 */
	seat_event(seat, EV_KEY, BTN_RIGHT, 0);
	seat_event(seat, EV_SYN, SYN_REPORT, 0);
	seat_event(seat, EV_KEY, BTN_RIGHT, 1);
	seat_event(seat, EV_SYN, SYN_REPORT, 0); /* a new press is slot 1's */
	assert_string_equal(log_buf, "p 1 323 200 3 0 0 0\np 1 323 200 0 0 0 0\n"
				     "p 1 323 200 0 0 2 0\n");
}

static void test_modifier_held_across_switch_is_released(void **state)
{
	(void)state;
	key(KEY_RIGHTCTRL, 1);
	key(KEY_C, 1);
	key(KEY_C, 0);
	key(KEY_2, 1);
	key(KEY_2, 0);
	key(KEY_RIGHTCTRL, 0);
	assert_string_equal(log_buf, "k 0 97 1\nk 0 46 1\nk 0 46 0\nh 1\nk 0 97 0\n");
}

static void test_slot_gone_forgets_its_keys(void **state)
{
	(void)state;
	key(KEY_A, 1);
	seat_slot_gone(seat, 0);
	key(KEY_A, 0);
	assert_string_equal(log_buf, "k 0 30 1\n");
}

static void test_no_active_slot_swallows(void **state)
{
	(void)state;
	seat_set_active(seat, SEAT_NO_SLOT);
	key(KEY_A, 1);
	seat_set_active(seat, 0);
	key(KEY_A, 0);
	assert_string_equal(log_buf, "");
}

static void test_lock_keys_toggle_leds(void **state)
{
	(void)state;
	key(KEY_CAPSLOCK, 1);
	key(KEY_CAPSLOCK, 0);
	key(KEY_NUMLOCK, 1);
	assert_int_equal(seat_leds(seat), DISPLAY_LED_CAPS_LOCK | DISPLAY_LED_NUM_LOCK);
	key(KEY_CAPSLOCK, 1);
	assert_int_equal(seat_leds(seat), DISPLAY_LED_NUM_LOCK);
}

static void test_pointer_is_clamped(void **state)
{
	(void)state;
	seat_event(seat, EV_REL, REL_X, -100000);
	seat_event(seat, EV_REL, REL_Y, 100000);
	seat_event(seat, EV_REL, REL_WHEEL, -2);
	seat_event(seat, EV_SYN, SYN_REPORT, 0);
	seat_event(seat, EV_ABS, ABS_X, SEAT_ABS_MAX);
	seat_event(seat, EV_ABS, ABS_Y, -5);
	seat_event(seat, EV_SYN, SYN_REPORT, 0);
	seat_event(seat, EV_SYN, SYN_REPORT, 0); /* nothing new: nothing sent */
	assert_string_equal(log_buf, "p 0 0 399 -32767 32767 0 -2\np 0 639 0 0 0 0 0\n");
}

static void test_unknown_events_are_ignored(void **state)
{
	(void)state;
	seat_event(seat, EV_KEY, KEY_CNT + 5, 1);
	seat_event(seat, EV_KEY, 0, 1);
	seat_event(seat, EV_KEY, BTN_JOYSTICK, 1);
	seat_event(seat, EV_MSC, MSC_SCAN, 30);
	seat_event(seat, EV_REL, REL_DIAL, 1);
	seat_event(seat, EV_ABS, ABS_PRESSURE, 1);
	seat_event(seat, EV_SYN, SYN_REPORT, 0);
	seat_event(seat, 0x1f, 0, 0);
	assert_string_equal(log_buf, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_plain_keys_go_to_the_active_slot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hotkey_keys_reach_nobody, setup, teardown),
		cmocka_unit_test_setup_teardown(test_modifier_tap_and_chord_are_ordinary, setup, teardown),
		cmocka_unit_test_setup_teardown(test_modifier_commits_on_click, setup, teardown),
		cmocka_unit_test_setup_teardown(test_switch_releases_held_keys_and_buttons, setup, teardown),
		cmocka_unit_test_setup_teardown(test_modifier_held_across_switch_is_released, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slot_gone_forgets_its_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_active_slot_swallows, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock_keys_toggle_leds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pointer_is_clamped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_events_are_ignored, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
