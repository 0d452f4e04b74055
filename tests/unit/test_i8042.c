/* Pins vmm/hw/i8042.c and vmm/hw/ps2.c: the controller's self-tests,
 * command byte and RAM, status bits, IRQ 1 and 12, translation to set 1
 * (an E0 key, F7, key releases), the reset pulse and output port, the
 * keyboard's commands (reset, ID, echo, LEDs and their callback, scancode
 * sets, resend, enable/disable), Print Screen and Pause, the mouse's
 * commands, the IntelliMouse knock and its 4-byte packets, motion split
 * over packets and its overflow, queue overflow, and garbage. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <linux/input-event-codes.h>

#include "hw/i8042.h"

#define DATA 0x60
#define STATUS 0x64

#define STR_OBF 0x01
#define STR_SYS 0x04
#define STR_A2 0x08
#define STR_INH 0x10
#define STR_AUXB 0x20

#define CB_KBDINT 0x01
#define CB_AUXINT 0x02
#define CB_SYS 0x04
#define CB_KBDDIS 0x10
#define CB_AUXDIS 0x20
#define CB_XLAT 0x40

struct fixture {
	struct bus bus;
	struct i8042 *c;
	int irq[16];
	int irq_raises[16];
	int resets;
	int led_calls;
	unsigned leds;
};

static void irq_record(void *ctx, unsigned gsi, int level)
{
	struct fixture *f = ctx;

	assert_true(gsi == I8042_KBD_IRQ || gsi == I8042_AUX_IRQ);
	if (level && !f->irq[gsi])
		f->irq_raises[gsi]++;
	f->irq[gsi] = level;
}

static void reset_record(void *opaque)
{
	((struct fixture *)opaque)->resets++;
}

static void led_record(void *opaque, unsigned leds)
{
	struct fixture *f = opaque;

	f->led_calls++;
	f->leds = leds;
}

static int setup(void **state)
{
	static struct fixture f;

	memset(&f, 0, sizeof(f));
	bus_init(&f.bus, "pio");
	f.c = i8042_create(&f.bus, (struct irq_pin){ irq_record, &f, I8042_KBD_IRQ },
			   (struct irq_pin){ irq_record, &f, I8042_AUX_IRQ }, reset_record, &f);
	if (!f.c)
		return -1;
	i8042_set_led_callback(f.c, led_record, &f);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	i8042_free(f->c);
	bus_destroy(&f->bus);
	return 0;
}

static uint8_t in(struct fixture *f, uint16_t port)
{
	uint8_t v;

	assert_int_equal(bus_read(&f->bus, port, &v, 1), 1);
	return v;
}

static void out(struct fixture *f, uint16_t port, uint8_t v)
{
	assert_int_equal(bus_write(&f->bus, port, &v, 1), 1);
}

static void command(struct fixture *f, uint8_t cmd)
{
	out(f, STATUS, cmd);
}

static void command_byte(struct fixture *f, uint8_t cb)
{
	out(f, STATUS, 0x60);
	out(f, DATA, cb);
}

static void to_mouse(struct fixture *f, uint8_t byte)
{
	out(f, STATUS, 0xd4);
	out(f, DATA, byte);
}

/* expect: the next bytes in the output buffer, each flagged as keyboard
 * (aux false) or mouse data, and then nothing. */
static void expect(struct fixture *f, bool aux, const uint8_t *bytes, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		uint8_t st = in(f, STATUS);

		assert_true(st & STR_OBF);
		assert_int_equal(!!(st & STR_AUXB), aux);
		assert_int_equal(in(f, DATA), bytes[i]);
	}
	assert_false(in(f, STATUS) & STR_OBF);
}

#define EXPECT_KBD(f, ...)                                                   \
	expect(f, false, (const uint8_t[]){ __VA_ARGS__ },                   \
	       sizeof((const uint8_t[]){ __VA_ARGS__ }))
#define EXPECT_AUX(f, ...)                                                   \
	expect(f, true, (const uint8_t[]){ __VA_ARGS__ },                    \
	       sizeof((const uint8_t[]){ __VA_ARGS__ }))

static void expect_nothing(struct fixture *f)
{
	assert_false(in(f, STATUS) & STR_OBF);
}

static void key(struct fixture *f, unsigned code, int pressed)
{
	i8042_key_event(f->c, code, pressed);
}

static void test_self_tests(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(in(f, STATUS), STR_INH);
	command(f, 0xaa);
	assert_int_equal(in(f, STATUS), STR_OBF | STR_SYS | STR_A2 | STR_INH);
	assert_int_equal(in(f, DATA), 0x55);
	assert_int_equal(in(f, STATUS), STR_SYS | STR_A2 | STR_INH);
	command(f, 0xab); /* keyboard interface test */
	EXPECT_KBD(f, 0x00);
	command(f, 0xa9); /* aux interface test */
	EXPECT_KBD(f, 0x00);
	command(f, 0xa4); /* no password installed */
	EXPECT_KBD(f, 0xf1);
	command(f, 0xc0); /* input port: keylock open */
	EXPECT_KBD(f, 0x80);
	command(f, 0xe0);
	EXPECT_KBD(f, 0x00);
	out(f, DATA, 0xee); /* a data write clears A2 */
	assert_false(in(f, STATUS) & STR_A2);
	EXPECT_KBD(f, 0xee);
}

static void test_command_byte_and_ram(void **state)
{
	struct fixture *f = *state;

	command(f, 0x20);
	EXPECT_KBD(f, CB_KBDINT | CB_AUXINT);
	command_byte(f, CB_KBDINT | CB_AUXINT | CB_SYS | CB_XLAT);
	assert_true(in(f, STATUS) & STR_SYS);
	command(f, 0x20);
	EXPECT_KBD(f, 0x47);
	command(f, 0xad);
	command(f, 0x20);
	EXPECT_KBD(f, 0x47 | CB_KBDDIS);
	command(f, 0xae);
	command(f, 0xa7);
	command(f, 0x20);
	EXPECT_KBD(f, 0x47 | CB_AUXDIS);
	command(f, 0xa8);
	command(f, 0x20);
	EXPECT_KBD(f, 0x47);
	command_byte(f, CB_KBDINT);
	assert_false(in(f, STATUS) & STR_SYS);
	/* The other 31 bytes of RAM. */
	command(f, 0x7f);
	out(f, DATA, 0x99);
	command(f, 0x3f);
	EXPECT_KBD(f, 0x99);
	command(f, 0x20);
	EXPECT_KBD(f, CB_KBDINT);
}

static void test_irqs(void **state)
{
	struct fixture *f = *state;

	command_byte(f, 0);
	key(f, KEY_A, 1);
	assert_true(in(f, STATUS) & STR_OBF);
	assert_int_equal(f->irq[1], 0);
	command_byte(f, CB_KBDINT); /* enabling with data waiting raises it */
	assert_int_equal(f->irq[1], 1);
	in(f, DATA);
	assert_int_equal(f->irq[1], 0);
	/* Two bytes: the line drops between them, so each is an edge. */
	key(f, KEY_A, 0);
	assert_int_equal(f->irq[1], 1);
	in(f, DATA);
	assert_int_equal(f->irq[1], 1);
	in(f, DATA);
	assert_int_equal(f->irq[1], 0);
	assert_int_equal(f->irq_raises[1], 3);
	assert_int_equal(f->irq[12], 0);
	/* Aux loopback (Linux's AUX probe): mouse data, IRQ 12. */
	command_byte(f, CB_KBDINT | CB_AUXINT);
	command(f, 0xd3);
	out(f, DATA, 0x5a);
	assert_int_equal(f->irq[12], 1);
	assert_int_equal(f->irq[1], 0);
	EXPECT_AUX(f, 0x5a);
	assert_int_equal(f->irq[12], 0);
	command(f, 0xd2);
	out(f, DATA, 0xa5);
	assert_int_equal(f->irq[1], 1);
	EXPECT_KBD(f, 0xa5);
	/* The output port shows the IRQ lines in bits 4 and 5. */
	key(f, KEY_B, 1);
	command(f, 0xd0);
	EXPECT_KBD(f, 0x32, 0xdf);
}

static void test_translation(void **state)
{
	struct fixture *f = *state;

	command_byte(f, CB_KBDINT | CB_XLAT);
	key(f, KEY_A, 1);
	EXPECT_KBD(f, 0x1e);
	key(f, KEY_A, 0);
	EXPECT_KBD(f, 0x9e);
	key(f, KEY_RIGHTCTRL, 1);
	EXPECT_KBD(f, 0xe0, 0x1d);
	key(f, KEY_RIGHTCTRL, 0);
	EXPECT_KBD(f, 0xe0, 0x9d);
	key(f, KEY_F7, 1); /* set 2's one code above 0x7f */
	EXPECT_KBD(f, 0x41);
	key(f, KEY_F7, 0);
	EXPECT_KBD(f, 0xc1);
	key(f, KEY_UP, 1);
	EXPECT_KBD(f, 0xe0, 0x48);
	/* Off: set 2 as the keyboard sends it. */
	command_byte(f, CB_KBDINT);
	key(f, KEY_A, 1);
	EXPECT_KBD(f, 0x1c);
	key(f, KEY_A, 0);
	EXPECT_KBD(f, 0xf0, 0x1c);
	key(f, KEY_RIGHTCTRL, 1);
	EXPECT_KBD(f, 0xe0, 0x14);
	key(f, KEY_RIGHTCTRL, 0);
	EXPECT_KBD(f, 0xe0, 0xf0, 0x14);
	key(f, KEY_102ND, 1);
	EXPECT_KBD(f, 0x61);
	/* Keys a PC keyboard lacks, or past the table, send nothing. */
	key(f, KEY_RESERVED, 1);
	key(f, KEY_FN, 1);
	key(f, 100000, 1);
	expect_nothing(f);
}

static void test_print_screen_and_pause(void **state)
{
	struct fixture *f = *state;

	command_byte(f, CB_KBDINT);
	key(f, KEY_SYSRQ, 1);
	EXPECT_KBD(f, 0xe0, 0x12, 0xe0, 0x7c);
	key(f, KEY_SYSRQ, 0);
	EXPECT_KBD(f, 0xe0, 0xf0, 0x7c, 0xe0, 0xf0, 0x12);
	key(f, KEY_LEFTALT, 1);
	key(f, KEY_SYSRQ, 1);
	key(f, KEY_SYSRQ, 0);
	key(f, KEY_LEFTALT, 0);
	EXPECT_KBD(f, 0x11, 0x84, 0xf0, 0x84, 0xf0, 0x11);
	key(f, KEY_PAUSE, 1);
	key(f, KEY_PAUSE, 0);
	EXPECT_KBD(f, 0xe1, 0x14, 0x77, 0xe1, 0xf0, 0x14, 0xf0, 0x77);
	key(f, KEY_RIGHTCTRL, 1);
	key(f, KEY_PAUSE, 1); /* Ctrl+Pause is Break */
	EXPECT_KBD(f, 0xe0, 0x14, 0xe0, 0x7e, 0xe0, 0xf0, 0x7e);
	key(f, KEY_RIGHTCTRL, 0);
	EXPECT_KBD(f, 0xe0, 0xf0, 0x14);
	command_byte(f, CB_KBDINT | CB_XLAT);
	key(f, KEY_PAUSE, 1);
	EXPECT_KBD(f, 0xe1, 0x1d, 0x45, 0xe1, 0x9d, 0xc5);
	key(f, KEY_SYSRQ, 1);
	EXPECT_KBD(f, 0xe0, 0x2a, 0xe0, 0x37);
}

static void test_keyboard_commands(void **state)
{
	struct fixture *f = *state;

	command_byte(f, CB_KBDINT);
	out(f, DATA, 0xff);
	EXPECT_KBD(f, 0xfa, 0xaa);
	out(f, DATA, 0xf2);
	EXPECT_KBD(f, 0xfa, 0xab, 0x83);
	out(f, DATA, 0xee);
	EXPECT_KBD(f, 0xee);
	out(f, DATA, 0xfe); /* resend */
	EXPECT_KBD(f, 0xee);
	out(f, DATA, 0xf3); /* typematic */
	out(f, DATA, 0x20);
	EXPECT_KBD(f, 0xfa, 0xfa);
	/* Disabled, keys are dropped; enabled again, they come. */
	out(f, DATA, 0xf5);
	EXPECT_KBD(f, 0xfa);
	key(f, KEY_Q, 1);
	expect_nothing(f);
	out(f, DATA, 0xf4);
	EXPECT_KBD(f, 0xfa);
	key(f, KEY_Q, 1);
	EXPECT_KBD(f, 0x15);
	out(f, DATA, 0xf6);
	EXPECT_KBD(f, 0xfa);
	/* Translated, the ID reads AB 41, as on real controllers. */
	command_byte(f, CB_KBDINT | CB_XLAT);
	out(f, DATA, 0xf2);
	EXPECT_KBD(f, 0xfa, 0xab, 0x41);
	/* A command while a key waits: the key stays first in the buffer,
	 * the reply comes before later keys. */
	command_byte(f, CB_KBDINT);
	key(f, KEY_W, 1);
	key(f, KEY_E, 1);
	out(f, DATA, 0xee);
	EXPECT_KBD(f, 0x1d, 0xee, 0x24);
}

static void test_scancode_sets(void **state)
{
	struct fixture *f = *state;

	command_byte(f, CB_KBDINT);
	out(f, DATA, 0xf0);
	out(f, DATA, 0x00);
	EXPECT_KBD(f, 0xfa, 0xfa, 0x02);
	out(f, DATA, 0xf0);
	out(f, DATA, 0x01);
	EXPECT_KBD(f, 0xfa, 0xfa);
	out(f, DATA, 0xf0);
	out(f, DATA, 0x00);
	EXPECT_KBD(f, 0xfa, 0xfa, 0x01);
	key(f, KEY_A, 1);
	key(f, KEY_A, 0);
	key(f, KEY_HOME, 1);
	EXPECT_KBD(f, 0x1e, 0x9e, 0xe0, 0x47);
	out(f, DATA, 0xf0);
	out(f, DATA, 0x03);
	out(f, DATA, 0xf8); /* set 3: all keys make/break */
	EXPECT_KBD(f, 0xfa, 0xfa, 0xfa);
	out(f, DATA, 0xf0);
	out(f, DATA, 0x00);
	EXPECT_KBD(f, 0xfa, 0xfa, 0x03);
	key(f, KEY_A, 1);
	key(f, KEY_A, 0);
	key(f, KEY_F1, 1);
	key(f, KEY_HOME, 1);
	EXPECT_KBD(f, 0x1c, 0xf0, 0x1c, 0x07, 0x6e);
	/* A set-3 key list: the keys are acknowledged until a command. */
	out(f, DATA, 0xfc);
	out(f, DATA, 0x1c);
	out(f, DATA, 0x07);
	out(f, DATA, 0xee);
	EXPECT_KBD(f, 0xfa, 0xfa, 0xfa, 0xee);
	/* No set 4. */
	out(f, DATA, 0xf0);
	out(f, DATA, 0x04);
	EXPECT_KBD(f, 0xfa, 0xfe);
	/* Reset goes back to set 2. */
	out(f, DATA, 0xff);
	EXPECT_KBD(f, 0xfa, 0xaa);
	key(f, KEY_A, 1);
	EXPECT_KBD(f, 0x1c);
}

static void test_leds(void **state)
{
	struct fixture *f = *state;

	command_byte(f, CB_KBDINT);
	out(f, DATA, 0xed);
	EXPECT_KBD(f, 0xfa);
	assert_int_equal(f->led_calls, 0);
	out(f, DATA, I8042_LED_CAPS_LOCK | I8042_LED_NUM_LOCK | I8042_LED_SCROLL_LOCK);
	EXPECT_KBD(f, 0xfa);
	assert_int_equal(f->led_calls, 1);
	assert_int_equal(f->leds, 7);
	assert_int_equal(i8042_leds(f->c), 7);
	out(f, DATA, 0xed);
	out(f, DATA, I8042_LED_NUM_LOCK);
	assert_int_equal(f->led_calls, 2);
	assert_int_equal(f->leds, I8042_LED_NUM_LOCK);
	out(f, DATA, 0xed); /* unchanged: no call */
	out(f, DATA, I8042_LED_NUM_LOCK);
	assert_int_equal(f->led_calls, 2);
	/* A command instead of the parameter is taken as a command. */
	out(f, DATA, 0xed);
	out(f, DATA, 0xee);
	EXPECT_KBD(f, 0xfa, 0xfa, 0xfa, 0xfa, 0xfa, 0xee);
	assert_int_equal(i8042_leds(f->c), I8042_LED_NUM_LOCK);
	/* Keyboard reset and controller reset turn them off. */
	out(f, DATA, 0xff);
	assert_int_equal(f->led_calls, 3);
	assert_int_equal(f->leds, 0);
	out(f, DATA, 0xed);
	out(f, DATA, I8042_LED_CAPS_LOCK);
	i8042_reset(f->c);
	assert_int_equal(f->led_calls, 5);
	assert_int_equal(f->leds, 0);
	expect_nothing(f);
	command(f, 0x20);
	EXPECT_KBD(f, CB_KBDINT | CB_AUXINT);
}

static void test_reset_pulse_and_output_port(void **state)
{
	struct fixture *f = *state;

	command(f, 0xfe);
	assert_int_equal(f->resets, 1);
	command(f, 0xff); /* pulses nothing */
	command(f, 0xf1);
	assert_int_equal(f->resets, 1);
	command(f, 0xf0); /* pulses all four, reset among them */
	assert_int_equal(f->resets, 2);
	command(f, 0xd0);
	EXPECT_KBD(f, 0xcf); /* reset high, A20 on, lines idle */
	command(f, 0xd1);
	out(f, DATA, 0xcd); /* A20 off */
	assert_int_equal(f->resets, 2);
	command(f, 0xd0);
	EXPECT_KBD(f, 0xcd);
	command(f, 0xdf);
	command(f, 0xd0);
	EXPECT_KBD(f, 0xcf);
	command(f, 0xdd);
	command(f, 0xd0);
	EXPECT_KBD(f, 0xcd);
	command(f, 0xd1);
	out(f, DATA, 0xce); /* bit 0 low: reset */
	assert_int_equal(f->resets, 3);
	command(f, 0xd0);
	EXPECT_KBD(f, 0xcf);
}

static void test_intellimouse(void **state)
{
	struct fixture *f = *state;

	to_mouse(f, 0xf2);
	assert_int_equal(f->irq[12], 1);
	EXPECT_AUX(f, 0xfa, 0x00);
	to_mouse(f, 0xf3);
	to_mouse(f, 200);
	to_mouse(f, 0xf3);
	to_mouse(f, 100);
	to_mouse(f, 0xf3);
	to_mouse(f, 80);
	EXPECT_AUX(f, 0xfa, 0xfa, 0xfa, 0xfa, 0xfa, 0xfa);
	to_mouse(f, 0xf2);
	EXPECT_AUX(f, 0xfa, 0x03);
	/* Explorer's knock (200, 200, 80) does not make it a 5-button one. */
	to_mouse(f, 0xf3);
	to_mouse(f, 200);
	to_mouse(f, 0xf3);
	to_mouse(f, 200);
	to_mouse(f, 0xf3);
	to_mouse(f, 80);
	to_mouse(f, 0xf2);
	EXPECT_AUX(f, 0xfa, 0xfa, 0xfa, 0xfa, 0xfa, 0xfa, 0xfa, 0x03);
	/* Not reporting yet: motion is dropped. */
	i8042_mouse_event(f->c, 10, 10, 0, 0);
	expect_nothing(f);
	to_mouse(f, 0xf4);
	EXPECT_AUX(f, 0xfa);
	/* Left, 5 left, 3 down, one wheel click away from the user. */
	i8042_mouse_event(f->c, -5, 3, 1, I8042_BUTTON_LEFT);
	assert_int_equal(f->irq[12], 1);
	assert_int_equal(f->irq[1], 0);
	EXPECT_AUX(f, 0x08 | 0x01 | 0x10 | 0x20, 0xfb, 0xfd, 0xff);
	i8042_mouse_event(f->c, 0, 0, -2, I8042_BUTTON_LEFT);
	EXPECT_AUX(f, 0x09, 0x00, 0x00, 0x02);
	i8042_mouse_event(f->c, 0, 0, 0, 0); /* a button change alone */
	EXPECT_AUX(f, 0x08, 0x00, 0x00, 0x00);
	i8042_mouse_event(f->c, 0, 0, 0, 0); /* nothing new */
	expect_nothing(f);
	/* Reset: AA 00 and back to ID 0, 3-byte packets. */
	to_mouse(f, 0xff);
	EXPECT_AUX(f, 0xfa, 0xaa, 0x00);
	to_mouse(f, 0xf2);
	to_mouse(f, 0xf4);
	EXPECT_AUX(f, 0xfa, 0x00, 0xfa);
	i8042_mouse_event(f->c, 1, -1, 3, I8042_BUTTON_RIGHT | I8042_BUTTON_MIDDLE);
	EXPECT_AUX(f, 0x08 | 0x02 | 0x04, 0x01, 0x01);
}

static void test_mouse_motion_split(void **state)
{
	struct fixture *f = *state;
	int sum = 0, packets = 0;

	to_mouse(f, 0xf4);
	EXPECT_AUX(f, 0xfa);
	i8042_mouse_event(f->c, 600, -300, 0, 0);
	EXPECT_AUX(f, 0x08, 0xff, 0xff, 0x08, 0xff, 0x2d, 0x08, 0x5a, 0x00);
	i8042_mouse_event(f->c, -256, 256, 0, 0);
	EXPECT_AUX(f, 0x38, 0x00, 0x00);
	/* Beyond 4096 counts motion is lost, and the first packet says so. */
	i8042_mouse_event(f->c, 10000, 0, 0, 0);
	while (in(f, STATUS) & STR_OBF) {
		uint8_t b0 = in(f, DATA), x = in(f, DATA);

		assert_int_equal(in(f, DATA), 0);
		assert_int_equal(b0, packets ? 0x08 : 0x48);
		sum += x;
		packets++;
	}
	assert_int_equal(sum, 4096);
	assert_int_equal(packets, 17);
	/* 2:1 scaling in stream mode. */
	to_mouse(f, 0xe7);
	EXPECT_AUX(f, 0xfa);
	i8042_mouse_event(f->c, 4, 0, 0, 0);
	EXPECT_AUX(f, 0x08, 0x06, 0x00);
	i8042_mouse_event(f->c, 200, 0, 0, 0);
	EXPECT_AUX(f, 0x48, 0xff, 0x00);
	/* Host extremes do not overflow anything. */
	to_mouse(f, 0xe6);
	EXPECT_AUX(f, 0xfa);
	i8042_mouse_event(f->c, INT32_MIN, INT32_MIN, INT32_MIN, 0);
	packets = 0;
	while (in(f, STATUS) & STR_OBF) {
		in(f, DATA);
		packets++;
	}
	assert_int_equal(packets, 17 * 3); /* x: 16 of -256, y: 17 up to 4096 */
}

static void test_mouse_status_remote_wrap(void **state)
{
	struct fixture *f = *state;

	to_mouse(f, 0xe9);
	EXPECT_AUX(f, 0xfa, 0x00, 0x02, 100);
	to_mouse(f, 0xe8);
	to_mouse(f, 0x03);
	to_mouse(f, 0xf3);
	to_mouse(f, 40);
	to_mouse(f, 0xe7);
	to_mouse(f, 0xf4);
	EXPECT_AUX(f, 0xfa, 0xfa, 0xfa, 0xfa, 0xfa, 0xfa);
	i8042_mouse_event(f->c, 0, 0, 0, I8042_BUTTON_LEFT | I8042_BUTTON_RIGHT);
	EXPECT_AUX(f, 0x0b, 0x00, 0x00);
	to_mouse(f, 0xe9);
	EXPECT_AUX(f, 0xfa, 0x20 | 0x10 | 0x04 | 0x01, 0x03, 40);
	/* Remote mode: motion waits for Read Data. */
	to_mouse(f, 0xf0);
	EXPECT_AUX(f, 0xfa);
	i8042_mouse_event(f->c, 7, -2, 0, 0);
	i8042_mouse_event(f->c, 1, 0, 0, 0);
	expect_nothing(f);
	to_mouse(f, 0xeb);
	EXPECT_AUX(f, 0xfa, 0x08, 0x08, 0x02);
	to_mouse(f, 0xeb);
	EXPECT_AUX(f, 0xfa, 0x08, 0x00, 0x00);
	to_mouse(f, 0xe9);
	EXPECT_AUX(f, 0xfa, 0x40 | 0x20 | 0x10, 0x03, 40);
	to_mouse(f, 0xea);
	EXPECT_AUX(f, 0xfa);
	/* Wrap mode echoes all but EC and FF. */
	to_mouse(f, 0xee);
	to_mouse(f, 0x12);
	to_mouse(f, 0xf2);
	to_mouse(f, 0xec);
	EXPECT_AUX(f, 0xfa, 0x12, 0xf2, 0xfa);
	to_mouse(f, 0xfe); /* resend */
	EXPECT_AUX(f, 0xfa);
	to_mouse(f, 0x42); /* not a command */
	EXPECT_AUX(f, 0xfe);
	to_mouse(f, 0xf6); /* defaults */
	to_mouse(f, 0xe9);
	EXPECT_AUX(f, 0xfa, 0xfa, 0x00, 0x02, 100);
}

static void test_disabled_port_holds_data(void **state)
{
	struct fixture *f = *state;

	command_byte(f, CB_KBDINT | CB_AUXINT);
	to_mouse(f, 0xf4);
	EXPECT_AUX(f, 0xfa);
	command(f, 0xad);
	key(f, KEY_Z, 1);
	expect_nothing(f);
	i8042_mouse_event(f->c, 1, 0, 0, 0);
	EXPECT_AUX(f, 0x08, 0x01, 0x00); /* the mouse still talks */
	command(f, 0xae);
	EXPECT_KBD(f, 0x1a);
	command(f, 0xa7);
	i8042_mouse_event(f->c, 2, 0, 0, 0);
	key(f, KEY_X, 1);
	EXPECT_KBD(f, 0x22);
	command(f, 0xa8);
	EXPECT_AUX(f, 0x08, 0x02, 0x00);
	/* Writing to the keyboard enables its port again. */
	command(f, 0xad);
	out(f, DATA, 0xee);
	EXPECT_KBD(f, 0xee);
	command(f, 0x20);
	EXPECT_KBD(f, CB_KBDINT | CB_AUXINT);
}

static void test_queue_overflow(void **state)
{
	struct fixture *f = *state;
	unsigned n = 0, sum = 0;
	uint8_t last = 0xff;

	command_byte(f, CB_KBDINT);
	for (int i = 0; i < 100; i++)
		key(f, KEY_A, 1);
	while (in(f, STATUS) & STR_OBF) {
		last = in(f, DATA);
		n++;
		assert_true(last == 0x1c || (last == 0x00 && !(in(f, STATUS) & STR_OBF)));
		assert_true(n <= 40);
	}
	assert_int_equal(last, 0x00); /* overrun code last */
	key(f, KEY_A, 1);
	EXPECT_KBD(f, 0x1c);
	/* Translated, the overrun code is set 1's FF. */
	command_byte(f, CB_KBDINT | CB_XLAT);
	for (int i = 0; i < 100; i++)
		key(f, KEY_PAUSE, 1);
	while (in(f, STATUS) & STR_OBF)
		last = in(f, DATA);
	assert_int_equal(last, 0xff);
	/* The mouse keeps motion that did not fit and sends it later. */
	to_mouse(f, 0xf4);
	EXPECT_AUX(f, 0xfa);
	for (int i = 0; i < 200; i++)
		i8042_mouse_event(f->c, 1, 0, 0, 0);
	while (in(f, STATUS) & STR_OBF) {
		assert_int_equal(in(f, DATA), 0x08);
		sum += in(f, DATA);
		assert_int_equal(in(f, DATA), 0x00);
	}
	assert_int_equal(sum, 200);
	/* Unread controller answers pile up to a bound, then drop. */
	for (int i = 0; i < 100; i++)
		command(f, 0xaa);
	n = 0;
	while (in(f, STATUS) & STR_OBF) {
		assert_int_equal(in(f, DATA), 0x55);
		n++;
	}
	assert_true(n >= 8 && n < 100);
}

static void test_garbage(void **state)
{
	struct fixture *f = *state;

	/* Every command with every kind of data byte after it, reads mixed
	 * in; nothing may crash or hang, whatever state it leaves. */
	for (unsigned cmd = 0; cmd < 256; cmd++) {
		command(f, (uint8_t)cmd);
		out(f, DATA, (uint8_t)(cmd * 7));
		in(f, STATUS);
		if (cmd & 1)
			in(f, DATA);
		to_mouse(f, (uint8_t)(cmd * 13));
		key(f, cmd, cmd & 2);
		i8042_mouse_event(f->c, (int)cmd - 128, 128 - (int)cmd, 1, cmd);
	}
	assert_true(f->resets > 0);
	/* Unknown keyboard commands are refused, unknown controller
	 * commands ignored. */
	command_byte(f, CB_KBDINT);
	to_mouse(f, 0xf5);
	out(f, DATA, 0xf4);
	while (in(f, STATUS) & STR_OBF)
		in(f, DATA);
	out(f, DATA, 0x01);
	EXPECT_KBD(f, 0xfe);
	out(f, DATA, 0xef);
	EXPECT_KBD(f, 0xfe);
	command(f, 0x00);
	command(f, 0xc1);
	expect_nothing(f);
	command(f, 0xaa);
	EXPECT_KBD(f, 0x55);
	out(f, DATA, 0xff);
	EXPECT_KBD(f, 0xfa, 0xaa);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_self_tests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_command_byte_and_ram, setup, teardown),
		cmocka_unit_test_setup_teardown(test_irqs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_translation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_print_screen_and_pause, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keyboard_commands, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scancode_sets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_leds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_pulse_and_output_port, setup, teardown),
		cmocka_unit_test_setup_teardown(test_intellimouse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mouse_motion_split, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mouse_status_remote_wrap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disabled_port_holds_data, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_overflow, setup, teardown),
		cmocka_unit_test_setup_teardown(test_garbage, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
