/* PS/2 keyboard and mouse. Commands and replies from the IBM Personal
 * System/2 Hardware Interface Technical Reference ("Keyboard and Auxiliary
 * Device Controller", "101/102-Key Keyboard", "Mouse"); set-2 codes of the
 * extended and multimedia keys from Microsoft's "Keyboard Scan Code
 * Specification" (rev. 1.3a); the wheel from Microsoft's IntelliMouse
 * protocol. */
#include "hw/ps2.h"

#include <linux/input-event-codes.h>
#include <stdint.h>
#include <string.h>

/* Replies. */
#define PS2_ACK 0xfa
#define PS2_RESEND 0xfe     /* also what an unknown command gets */
#define PS2_BAT_OK 0xaa     /* basic assurance test passed */
#define PS2_ECHO 0xee
#define PS2_OVERRUN_SET2 0x00 /* sets 2 and 3; set 1 uses 0xff */
#define PS2_OVERRUN_SET1 0xff
#define PS2_KBD_ID1 0xab    /* MF II keyboard: AB 83 */
#define PS2_KBD_ID2 0x83

/* Scancode prefixes. */
#define PS2_EXTENDED 0xe0
#define PS2_EXTENDED1 0xe1  /* Pause */
#define PS2_BREAK 0xf0

/* Keyboard commands (host to keyboard). */
#define KBD_CMD_SET_LEDS 0xed
#define KBD_CMD_ECHO 0xee
#define KBD_CMD_SCANCODE_SET 0xf0
#define KBD_CMD_IDENTIFY 0xf2
#define KBD_CMD_TYPEMATIC 0xf3
#define KBD_CMD_ENABLE 0xf4
#define KBD_CMD_DEFAULT_DISABLE 0xf5
#define KBD_CMD_SET_DEFAULT 0xf6
#define KBD_CMD_SET_ALL_TYPEMATIC 0xf7 /* set 3: key types for all keys */
#define KBD_CMD_SET_ALL_MB 0xf8
#define KBD_CMD_SET_ALL_MAKE 0xf9
#define KBD_CMD_SET_ALL_TMB 0xfa
#define KBD_CMD_SET_KEY_TYPEMATIC 0xfb /* set 3: the same for a key list */
#define KBD_CMD_SET_KEY_MB 0xfc
#define KBD_CMD_SET_KEY_MAKE 0xfd
#define KBD_CMD_RESEND 0xfe
#define KBD_CMD_RESET 0xff
#define KBD_FIRST_COMMAND KBD_CMD_SET_LEDS /* lower bytes are parameters */

#define KBD_LED_MASK 0x07
#define KBD_TYPEMATIC_DEFAULT 0x2b /* 10.9 characters/s after 500 ms */
#define KBD_TYPEMATIC_MASK 0x7f

/* Mouse commands (host to mouse). */
#define AUX_CMD_SCALING_1TO1 0xe6
#define AUX_CMD_SCALING_2TO1 0xe7
#define AUX_CMD_SET_RESOLUTION 0xe8
#define AUX_CMD_STATUS_REQUEST 0xe9
#define AUX_CMD_SET_STREAM 0xea
#define AUX_CMD_READ_DATA 0xeb
#define AUX_CMD_RESET_WRAP 0xec
#define AUX_CMD_SET_WRAP 0xee
#define AUX_CMD_SET_REMOTE 0xf0
#define AUX_CMD_GET_ID 0xf2
#define AUX_CMD_SET_RATE 0xf3
#define AUX_CMD_ENABLE 0xf4
#define AUX_CMD_DISABLE 0xf5
#define AUX_CMD_SET_DEFAULT 0xf6
#define AUX_CMD_RESEND 0xfe
#define AUX_CMD_RESET 0xff
#define AUX_FIRST_COMMAND AUX_CMD_SCALING_1TO1 /* lower bytes: parameters */

#define AUX_ID_PS2 0x00
#define AUX_ID_INTELLIMOUSE 0x03
#define AUX_RATE_DEFAULT 100
#define AUX_RESOLUTION_DEFAULT 2 /* 4 counts/mm */
#define AUX_RESOLUTION_MASK 0x03

/* Movement packet, byte 0. */
#define AUX_PKT_ALWAYS1 0x08
#define AUX_PKT_X_SIGN 0x10
#define AUX_PKT_Y_SIGN 0x20
#define AUX_PKT_X_OVERFLOW 0x40
#define AUX_PKT_Y_OVERFLOW 0x80
#define AUX_BUTTONS 0x07

/* Status request, byte 0. */
#define AUX_STATUS_RIGHT 0x01
#define AUX_STATUS_MIDDLE 0x02
#define AUX_STATUS_LEFT 0x04
#define AUX_STATUS_SCALING_2TO1 0x10
#define AUX_STATUS_ENABLED 0x20
#define AUX_STATUS_REMOTE 0x40

/* A packet carries 9-bit two's-complement x and y and, with the wheel, a
 * z of -8..7. Motion beyond a packet waits for the next; beyond
 * AUX_MOTION_MAX (16 packets' worth) it is lost and the overflow bit says
 * so. */
#define AUX_XY_MIN (-256)
#define AUX_XY_MAX 255
#define AUX_Z_MIN (-8)
#define AUX_Z_MAX 7
#define AUX_MOTION_MAX 4096

/* Held modifiers, which change what Print Screen and Pause send. */
#define MOD_CTRL_L 0x01
#define MOD_CTRL_R 0x02
#define MOD_SHIFT_L 0x04
#define MOD_SHIFT_R 0x08
#define MOD_ALT_L 0x10
#define MOD_ALT_R 0x20
#define MOD_CTRL (MOD_CTRL_L | MOD_CTRL_R)
#define MOD_SHIFT (MOD_SHIFT_L | MOD_SHIFT_R)
#define MOD_ALT (MOD_ALT_L | MOD_ALT_R)

/* Longest key sequence: Pause, E1 14 77 E1 F0 14 F0 77. */
#define KEY_SEQ_MAX 8

static void queue_clear(struct ps2_queue *q)
{
	q->head = q->count = 0;
}

static unsigned queue_free(const struct ps2_queue *q)
{
	return PS2_QUEUE_SIZE - q->count;
}

/* queue_push: a byte that does not fit is dropped (the callers make room
 * first where a loss would matter). */
static void queue_push(struct ps2_queue *q, uint8_t byte)
{
	if (q->count == PS2_QUEUE_SIZE)
		return;
	q->data[(q->head + q->count) % PS2_QUEUE_SIZE] = byte;
	q->count++;
}

static bool queue_pop(struct ps2_queue *q, uint8_t *byte)
{
	if (!q->count)
		return false;
	*byte = q->data[q->head];
	q->head = (q->head + 1) % PS2_QUEUE_SIZE;
	q->count--;
	return true;
}

/* The 8042's set-2 to set-1 table, the one every PC's controller has: codes
 * above 0x84 (prefixes, replies) pass unchanged. */
static const uint8_t set2_to_set1[0x85] = {
	0xff, 0x43, 0x41, 0x3f, 0x3d, 0x3b, 0x3c, 0x58,
	0x64, 0x44, 0x42, 0x40, 0x3e, 0x0f, 0x29, 0x59,
	0x65, 0x38, 0x2a, 0x70, 0x1d, 0x10, 0x02, 0x5a,
	0x66, 0x71, 0x2c, 0x1f, 0x1e, 0x11, 0x03, 0x5b,
	0x67, 0x2e, 0x2d, 0x20, 0x12, 0x05, 0x04, 0x5c,
	0x68, 0x39, 0x2f, 0x21, 0x14, 0x13, 0x06, 0x5d,
	0x69, 0x31, 0x30, 0x23, 0x22, 0x15, 0x07, 0x5e,
	0x6a, 0x72, 0x32, 0x24, 0x16, 0x08, 0x09, 0x5f,
	0x6b, 0x33, 0x25, 0x17, 0x18, 0x0b, 0x0a, 0x60,
	0x6c, 0x34, 0x35, 0x26, 0x27, 0x19, 0x0c, 0x61,
	0x6d, 0x73, 0x28, 0x74, 0x1a, 0x0d, 0x62, 0x6e,
	0x3a, 0x36, 0x1c, 0x1b, 0x75, 0x2b, 0x63, 0x76,
	0x55, 0x56, 0x77, 0x78, 0x79, 0x7a, 0x0e, 0x7b,
	0x7c, 0x4f, 0x7d, 0x4b, 0x47, 0x7e, 0x7f, 0x6f,
	0x52, 0x53, 0x50, 0x4c, 0x4d, 0x48, 0x01, 0x45,
	0x57, 0x4e, 0x51, 0x4a, 0x37, 0x49, 0x46, 0x54,
	0x80, 0x81, 0x82, 0x41, 0x54,
};

uint8_t ps2_set2_to_set1(uint8_t code)
{
	return code < sizeof(set2_to_set1) ? set2_to_set1[code] : code;
}

/* A key's codes: set 2 (with or without the E0 prefix) and set 3 (which
 * has no prefixes); 0 where the key has none. Print Screen and Pause are
 * sequences of their own, built in kbd_set2_sequence. */
struct ps2_key {
	uint8_t set2;
	uint8_t e0;
	uint8_t set3;
};

#define K(set2, set3) { set2, 0, set3 }
#define E(set2, set3) { set2, 1, set3 }

static const struct ps2_key keys[] = {
	[KEY_ESC] = K(0x76, 0x08),
	[KEY_1] = K(0x16, 0x16),
	[KEY_2] = K(0x1e, 0x1e),
	[KEY_3] = K(0x26, 0x26),
	[KEY_4] = K(0x25, 0x25),
	[KEY_5] = K(0x2e, 0x2e),
	[KEY_6] = K(0x36, 0x36),
	[KEY_7] = K(0x3d, 0x3d),
	[KEY_8] = K(0x3e, 0x3e),
	[KEY_9] = K(0x46, 0x46),
	[KEY_0] = K(0x45, 0x45),
	[KEY_MINUS] = K(0x4e, 0x4e),
	[KEY_EQUAL] = K(0x55, 0x55),
	[KEY_BACKSPACE] = K(0x66, 0x66),
	[KEY_TAB] = K(0x0d, 0x0d),
	[KEY_Q] = K(0x15, 0x15),
	[KEY_W] = K(0x1d, 0x1d),
	[KEY_E] = K(0x24, 0x24),
	[KEY_R] = K(0x2d, 0x2d),
	[KEY_T] = K(0x2c, 0x2c),
	[KEY_Y] = K(0x35, 0x35),
	[KEY_U] = K(0x3c, 0x3c),
	[KEY_I] = K(0x43, 0x43),
	[KEY_O] = K(0x44, 0x44),
	[KEY_P] = K(0x4d, 0x4d),
	[KEY_LEFTBRACE] = K(0x54, 0x54),
	[KEY_RIGHTBRACE] = K(0x5b, 0x5b),
	[KEY_ENTER] = K(0x5a, 0x5a),
	[KEY_LEFTCTRL] = K(0x14, 0x11),
	[KEY_A] = K(0x1c, 0x1c),
	[KEY_S] = K(0x1b, 0x1b),
	[KEY_D] = K(0x23, 0x23),
	[KEY_F] = K(0x2b, 0x2b),
	[KEY_G] = K(0x34, 0x34),
	[KEY_H] = K(0x33, 0x33),
	[KEY_J] = K(0x3b, 0x3b),
	[KEY_K] = K(0x42, 0x42),
	[KEY_L] = K(0x4b, 0x4b),
	[KEY_SEMICOLON] = K(0x4c, 0x4c),
	[KEY_APOSTROPHE] = K(0x52, 0x52),
	[KEY_GRAVE] = K(0x0e, 0x0e),
	[KEY_LEFTSHIFT] = K(0x12, 0x12),
	[KEY_BACKSLASH] = K(0x5d, 0x5d),
	[KEY_Z] = K(0x1a, 0x1a),
	[KEY_X] = K(0x22, 0x22),
	[KEY_C] = K(0x21, 0x21),
	[KEY_V] = K(0x2a, 0x2a),
	[KEY_B] = K(0x32, 0x32),
	[KEY_N] = K(0x31, 0x31),
	[KEY_M] = K(0x3a, 0x3a),
	[KEY_COMMA] = K(0x41, 0x41),
	[KEY_DOT] = K(0x49, 0x49),
	[KEY_SLASH] = K(0x4a, 0x4a),
	[KEY_RIGHTSHIFT] = K(0x59, 0x59),
	[KEY_KPASTERISK] = K(0x7c, 0x7e),
	[KEY_LEFTALT] = K(0x11, 0x19),
	[KEY_SPACE] = K(0x29, 0x29),
	[KEY_CAPSLOCK] = K(0x58, 0x14),
	[KEY_F1] = K(0x05, 0x07),
	[KEY_F2] = K(0x06, 0x0f),
	[KEY_F3] = K(0x04, 0x17),
	[KEY_F4] = K(0x0c, 0x1f),
	[KEY_F5] = K(0x03, 0x27),
	[KEY_F6] = K(0x0b, 0x2f),
	[KEY_F7] = K(0x83, 0x37),
	[KEY_F8] = K(0x0a, 0x3f),
	[KEY_F9] = K(0x01, 0x47),
	[KEY_F10] = K(0x09, 0x4f),
	[KEY_NUMLOCK] = K(0x77, 0x76),
	[KEY_SCROLLLOCK] = K(0x7e, 0x5f),
	[KEY_KP7] = K(0x6c, 0x6c),
	[KEY_KP8] = K(0x75, 0x75),
	[KEY_KP9] = K(0x7d, 0x7d),
	[KEY_KPMINUS] = K(0x7b, 0x84),
	[KEY_KP4] = K(0x6b, 0x6b),
	[KEY_KP5] = K(0x73, 0x73),
	[KEY_KP6] = K(0x74, 0x74),
	[KEY_KPPLUS] = K(0x79, 0x7c),
	[KEY_KP1] = K(0x69, 0x69),
	[KEY_KP2] = K(0x72, 0x72),
	[KEY_KP3] = K(0x7a, 0x7a),
	[KEY_KP0] = K(0x70, 0x70),
	[KEY_KPDOT] = K(0x71, 0x71),
	[KEY_102ND] = K(0x61, 0x13), /* the extra key of the 105-key ISO layout */
	[KEY_F11] = K(0x78, 0x56),
	[KEY_F12] = K(0x07, 0x5e),
	[KEY_RO] = K(0x51, 0),       /* Japanese 106/109-key and Brazilian keys */
	[KEY_HENKAN] = K(0x64, 0x86),
	[KEY_KATAKANAHIRAGANA] = K(0x13, 0x87),
	[KEY_MUHENKAN] = K(0x67, 0x85),
	[KEY_YEN] = K(0x6a, 0),
	[KEY_KPCOMMA] = K(0x6d, 0),
	[KEY_KPEQUAL] = K(0x0f, 0),
	[KEY_KPENTER] = E(0x5a, 0x79),
	[KEY_RIGHTCTRL] = E(0x14, 0x58),
	[KEY_KPSLASH] = E(0x4a, 0x77),
	[KEY_SYSRQ] = K(0, 0x57), /* Print Screen */
	[KEY_RIGHTALT] = E(0x11, 0x39),
	[KEY_HOME] = E(0x6c, 0x6e),
	[KEY_UP] = E(0x75, 0x63),
	[KEY_PAGEUP] = E(0x7d, 0x6f),
	[KEY_LEFT] = E(0x6b, 0x61),
	[KEY_RIGHT] = E(0x74, 0x6a),
	[KEY_END] = E(0x69, 0x65),
	[KEY_DOWN] = E(0x72, 0x60),
	[KEY_PAGEDOWN] = E(0x7a, 0x6d),
	[KEY_INSERT] = E(0x70, 0x67),
	[KEY_DELETE] = E(0x71, 0x64),
	[KEY_PAUSE] = K(0, 0x62),
	[KEY_LEFTMETA] = E(0x1f, 0x8b),
	[KEY_RIGHTMETA] = E(0x27, 0x8c),
	[KEY_COMPOSE] = E(0x2f, 0x8d), /* the Menu (Application) key */
	/* ACPI and multimedia keys: E0-prefixed, set 2 only. */
	[KEY_POWER] = E(0x37, 0),
	[KEY_SLEEP] = E(0x3f, 0),
	[KEY_WAKEUP] = E(0x5e, 0),
	[KEY_MUTE] = E(0x23, 0),
	[KEY_VOLUMEDOWN] = E(0x21, 0),
	[KEY_VOLUMEUP] = E(0x32, 0),
	[KEY_NEXTSONG] = E(0x4d, 0),
	[KEY_PREVIOUSSONG] = E(0x15, 0),
	[KEY_STOPCD] = E(0x3b, 0),
	[KEY_PLAYPAUSE] = E(0x34, 0),
	[KEY_MEDIA] = E(0x50, 0),
	[KEY_MAIL] = E(0x48, 0),
	[KEY_CALC] = E(0x2b, 0),
	[KEY_COMPUTER] = E(0x40, 0),
	[KEY_SEARCH] = E(0x10, 0),
	[KEY_HOMEPAGE] = E(0x3a, 0),
	[KEY_BACK] = E(0x38, 0),
	[KEY_FORWARD] = E(0x30, 0),
	[KEY_STOP] = E(0x28, 0),
	[KEY_REFRESH] = E(0x20, 0),
	[KEY_BOOKMARKS] = E(0x18, 0),
};

#undef K
#undef E

static unsigned kbd_modifier(unsigned code)
{
	switch (code) {
	case KEY_LEFTCTRL:
		return MOD_CTRL_L;
	case KEY_RIGHTCTRL:
		return MOD_CTRL_R;
	case KEY_LEFTSHIFT:
		return MOD_SHIFT_L;
	case KEY_RIGHTSHIFT:
		return MOD_SHIFT_R;
	case KEY_LEFTALT:
		return MOD_ALT_L;
	case KEY_RIGHTALT:
		return MOD_ALT_R;
	default:
		return 0;
	}
}

static unsigned seq(uint8_t *out, const uint8_t *bytes, unsigned n)
{
	memcpy(out, bytes, n);
	return n;
}

/* kbd_set2_sequence: the set-2 bytes for a key event; 0 if none. Print
 * Screen and Pause depend on the modifiers held, as on a real keyboard:
 * Alt+Print Screen is SysRq (84), Ctrl or Shift drop the fake shift, and
 * Ctrl+Pause is Break. Pause sends nothing on release. */
static unsigned kbd_set2_sequence(const struct ps2_kbd *k, unsigned code, bool pressed,
				  uint8_t *out)
{
	const struct ps2_key *key;
	unsigned n = 0;

	if (code == KEY_SYSRQ) {
		if (k->modifiers & MOD_ALT)
			return pressed ? seq(out, (const uint8_t[]){ 0x84 }, 1)
				       : seq(out, (const uint8_t[]){ 0xf0, 0x84 }, 2);
		if (k->modifiers & (MOD_CTRL | MOD_SHIFT))
			return pressed ? seq(out, (const uint8_t[]){ 0xe0, 0x7c }, 2)
				       : seq(out, (const uint8_t[]){ 0xe0, 0xf0, 0x7c }, 3);
		return pressed ? seq(out, (const uint8_t[]){ 0xe0, 0x12, 0xe0, 0x7c }, 4)
			       : seq(out, (const uint8_t[]){ 0xe0, 0xf0, 0x7c, 0xe0, 0xf0, 0x12 }, 6);
	}
	if (code == KEY_PAUSE) {
		if (!pressed)
			return 0;
		if (k->modifiers & MOD_CTRL)
			return seq(out, (const uint8_t[]){ 0xe0, 0x7e, 0xe0, 0xf0, 0x7e }, 5);
		return seq(out, (const uint8_t[]){ 0xe1, 0x14, 0x77, 0xe1, 0xf0, 0x14, 0xf0, 0x77 }, 8);
	}
	if (code >= sizeof(keys) / sizeof(keys[0]) || !keys[code].set2)
		return 0;
	key = &keys[code];
	if (key->e0)
		out[n++] = PS2_EXTENDED;
	if (!pressed)
		out[n++] = PS2_BREAK;
	out[n++] = key->set2;
	return n;
}

/* kbd_sequence: the bytes for a key event in the keyboard's current set.
 * Set 1 is set 2 through the 8042's table; in set 3 every key is
 * make/break, as Linux sets it (its 0xF8). */
static unsigned kbd_sequence(const struct ps2_kbd *k, unsigned code, bool pressed,
			     uint8_t *out)
{
	uint8_t set2[KEY_SEQ_MAX];
	unsigned n, m = 0;
	uint8_t brk = 0;

	if (k->scancode_set == 3) {
		if (code >= sizeof(keys) / sizeof(keys[0]) || !keys[code].set3)
			return 0;
		if (!pressed)
			out[m++] = PS2_BREAK;
		out[m++] = keys[code].set3;
		return m;
	}
	n = kbd_set2_sequence(k, code, pressed, set2);
	if (k->scancode_set == 2)
		return seq(out, set2, n);
	for (unsigned i = 0; i < n; i++) {
		if (set2[i] == PS2_BREAK) {
			brk = 0x80;
			continue;
		}
		out[m++] = ps2_set2_to_set1(set2[i]) | brk;
		brk = 0;
	}
	return m;
}

static void kbd_reply(struct ps2_kbd *k, uint8_t byte)
{
	queue_push(&k->reply, byte);
}

static void kbd_defaults(struct ps2_kbd *k)
{
	k->typematic = KBD_TYPEMATIC_DEFAULT;
	queue_clear(&k->keys);
	k->overrun = false;
}

void ps2_kbd_reset(struct ps2_kbd *k)
{
	unsigned modifiers = k->modifiers; /* the host's keys stay held */

	memset(k, 0, sizeof(*k));
	k->modifiers = modifiers;
	k->scancode_set = 2;
	k->scanning = true;
	kbd_defaults(k);
}

/* kbd_parameter: the byte after Set LEDs, Set Scancode Set, Set Typematic,
 * or one of a set-3 key list. */
static void kbd_parameter(struct ps2_kbd *k, uint8_t byte)
{
	switch (k->pending) {
	case KBD_CMD_SET_LEDS:
		k->leds = byte & KBD_LED_MASK;
		kbd_reply(k, PS2_ACK);
		break;
	case KBD_CMD_SCANCODE_SET:
		if (byte > 3) {
			kbd_reply(k, PS2_RESEND);
			break;
		}
		kbd_reply(k, PS2_ACK);
		if (byte == 0)
			kbd_reply(k, k->scancode_set);
		else
			k->scancode_set = byte;
		break;
	case KBD_CMD_TYPEMATIC:
		k->typematic = byte & KBD_TYPEMATIC_MASK;
		kbd_reply(k, PS2_ACK);
		break;
	default: /* a key of a set-3 key list: the list goes on */
		kbd_reply(k, PS2_ACK);
		return;
	}
	k->pending = 0;
}

void ps2_kbd_write(struct ps2_kbd *k, uint8_t byte)
{
	if (k->pending && byte < KBD_FIRST_COMMAND) {
		kbd_parameter(k, byte);
		return;
	}
	k->pending = 0; /* a command cancels one waiting for its parameter */
	switch (byte) {
	case KBD_CMD_SET_LEDS:
	case KBD_CMD_SCANCODE_SET:
	case KBD_CMD_TYPEMATIC:
		kbd_reply(k, PS2_ACK);
		k->pending = byte;
		break;
	case KBD_CMD_ECHO:
		kbd_reply(k, PS2_ECHO);
		break;
	case KBD_CMD_IDENTIFY:
		kbd_reply(k, PS2_ACK);
		kbd_reply(k, PS2_KBD_ID1);
		kbd_reply(k, PS2_KBD_ID2);
		break;
	case KBD_CMD_ENABLE:
		queue_clear(&k->keys);
		k->overrun = false;
		k->scanning = true;
		kbd_reply(k, PS2_ACK);
		break;
	case KBD_CMD_DEFAULT_DISABLE:
		kbd_defaults(k);
		k->scanning = false;
		kbd_reply(k, PS2_ACK);
		break;
	case KBD_CMD_SET_DEFAULT:
		kbd_defaults(k);
		kbd_reply(k, PS2_ACK);
		break;
	case KBD_CMD_SET_ALL_TYPEMATIC:
	case KBD_CMD_SET_ALL_MB:
	case KBD_CMD_SET_ALL_MAKE:
	case KBD_CMD_SET_ALL_TMB:
		kbd_reply(k, PS2_ACK); /* set-3 key types: all stay make/break */
		break;
	case KBD_CMD_SET_KEY_TYPEMATIC:
	case KBD_CMD_SET_KEY_MB:
	case KBD_CMD_SET_KEY_MAKE:
		kbd_reply(k, PS2_ACK);
		k->pending = byte;
		break;
	case KBD_CMD_RESEND:
		kbd_reply(k, k->last_sent);
		break;
	case KBD_CMD_RESET:
		ps2_kbd_reset(k);
		kbd_reply(k, PS2_ACK);
		kbd_reply(k, PS2_BAT_OK);
		break;
	default:
		kbd_reply(k, PS2_RESEND);
		break;
	}
}

bool ps2_kbd_read(struct ps2_kbd *k, uint8_t *byte)
{
	if (!queue_pop(&k->reply, byte) && !queue_pop(&k->keys, byte))
		return false;
	k->last_sent = *byte;
	return true;
}

/* A key event goes in whole or not at all; one byte is kept free for the
 * overrun code, which replaces the first event that does not fit. */
void ps2_kbd_key(struct ps2_kbd *k, unsigned code, bool pressed)
{
	uint8_t bytes[KEY_SEQ_MAX];
	unsigned n;

	if (pressed)
		k->modifiers |= kbd_modifier(code);
	else
		k->modifiers &= ~kbd_modifier(code);
	if (!k->scanning)
		return;
	n = kbd_sequence(k, code, pressed, bytes);
	if (!n)
		return;
	if (queue_free(&k->keys) > n) {
		for (unsigned i = 0; i < n; i++)
			queue_push(&k->keys, bytes[i]);
		k->overrun = false;
	} else if (!k->overrun) {
		queue_push(&k->keys, k->scancode_set == 1 ? PS2_OVERRUN_SET1 : PS2_OVERRUN_SET2);
		k->overrun = true;
	}
}

static int clamp(int v, int lo, int hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* aux_add: add host motion to an axis, bounded; true if some was lost. */
static bool aux_add(int *acc, int64_t delta)
{
	int64_t v = *acc + delta;

	*acc = (int)(v < -AUX_MOTION_MAX ? -AUX_MOTION_MAX
					 : v > AUX_MOTION_MAX ? AUX_MOTION_MAX : v);
	return v != *acc;
}

/* 2:1 scaling, stream mode only (IBM: 1->1, 2->1, 3->3, 4->6, 5->9,
 * beyond that twice the count). */
static int aux_scale(int v)
{
	static const int small[] = { 0, 1, 1, 3, 6, 9 };
	int a = v < 0 ? -v : v;
	int s = a < 6 ? small[a] : 2 * a;

	return v < 0 ? -s : s;
}

static unsigned aux_packet_len(const struct ps2_mouse *m)
{
	return m->id == AUX_ID_INTELLIMOUSE ? 4 : 3;
}

/* aux_packet: one movement packet into `q`, taking as much of the
 * accumulated motion as it carries. */
static void aux_packet(struct ps2_mouse *m, struct ps2_queue *q, bool scaled)
{
	int x = clamp(m->dx, AUX_XY_MIN, AUX_XY_MAX);
	int y = clamp(m->dy, AUX_XY_MIN, AUX_XY_MAX);
	int z = clamp(m->dz, AUX_Z_MIN, AUX_Z_MAX);
	uint8_t b0 = AUX_PKT_ALWAYS1 | m->buttons;

	m->dx -= x;
	m->dy -= y;
	m->dz -= z;
	if (scaled) {
		x = aux_scale(x);
		y = aux_scale(y);
		m->x_overflow |= x != clamp(x, AUX_XY_MIN, AUX_XY_MAX);
		m->y_overflow |= y != clamp(y, AUX_XY_MIN, AUX_XY_MAX);
		x = clamp(x, AUX_XY_MIN, AUX_XY_MAX);
		y = clamp(y, AUX_XY_MIN, AUX_XY_MAX);
	}
	if (x < 0)
		b0 |= AUX_PKT_X_SIGN;
	if (y < 0)
		b0 |= AUX_PKT_Y_SIGN;
	if (m->x_overflow)
		b0 |= AUX_PKT_X_OVERFLOW;
	if (m->y_overflow)
		b0 |= AUX_PKT_Y_OVERFLOW;
	m->x_overflow = m->y_overflow = false;
	queue_push(q, b0);
	queue_push(q, (uint8_t)x);
	queue_push(q, (uint8_t)y);
	if (m->id == AUX_ID_INTELLIMOUSE)
		queue_push(q, (uint8_t)z);
	m->sent_buttons = m->buttons;
}

static bool aux_has_news(const struct ps2_mouse *m)
{
	return m->dx || m->dy || m->dz || m->x_overflow || m->y_overflow ||
	       m->buttons != m->sent_buttons;
}

/* aux_stream: in stream mode, packets for whatever has not been sent,
 * as far as the queue has room; the rest goes out as it drains. */
static void aux_stream(struct ps2_mouse *m)
{
	if (m->remote || m->wrap || !m->reporting)
		return;
	while (aux_has_news(m) && queue_free(&m->packets) >= aux_packet_len(m))
		aux_packet(m, &m->packets, m->scaling_2to1);
}

static void aux_reply(struct ps2_mouse *m, uint8_t byte)
{
	queue_push(&m->reply, byte);
}

static void aux_forget_motion(struct ps2_mouse *m)
{
	queue_clear(&m->packets);
	m->dx = m->dy = m->dz = 0;
	m->x_overflow = m->y_overflow = false;
	m->sent_buttons = m->buttons;
}

static void aux_defaults(struct ps2_mouse *m)
{
	m->rate = AUX_RATE_DEFAULT;
	m->resolution = AUX_RESOLUTION_DEFAULT;
	m->scaling_2to1 = false;
	m->reporting = false;
	aux_forget_motion(m);
}

void ps2_mouse_reset(struct ps2_mouse *m)
{
	uint8_t buttons = m->buttons; /* the host's buttons stay held */

	memset(m, 0, sizeof(*m));
	m->buttons = buttons;
	m->id = AUX_ID_PS2;
	aux_defaults(m);
}

static void aux_set_rate(struct ps2_mouse *m, uint8_t rate)
{
	m->rate = rate;
	m->rates[0] = m->rates[1];
	m->rates[1] = m->rates[2];
	m->rates[2] = rate;
	/* The IntelliMouse knock: rates 200, 100, 80 switch the wheel on. */
	if (m->rates[0] == 200 && m->rates[1] == 100 && m->rates[2] == 80)
		m->id = AUX_ID_INTELLIMOUSE;
}

static void aux_status(struct ps2_mouse *m)
{
	uint8_t s = 0;

	if (m->remote)
		s |= AUX_STATUS_REMOTE;
	if (m->reporting)
		s |= AUX_STATUS_ENABLED;
	if (m->scaling_2to1)
		s |= AUX_STATUS_SCALING_2TO1;
	if (m->buttons & 0x01)
		s |= AUX_STATUS_LEFT;
	if (m->buttons & 0x04)
		s |= AUX_STATUS_MIDDLE;
	if (m->buttons & 0x02)
		s |= AUX_STATUS_RIGHT;
	aux_reply(m, PS2_ACK);
	aux_reply(m, s);
	aux_reply(m, m->resolution);
	aux_reply(m, m->rate);
}

void ps2_mouse_write(struct ps2_mouse *m, uint8_t byte)
{
	/* Wrap (echo) mode sends every byte back but these two. */
	if (m->wrap && byte != AUX_CMD_RESET_WRAP && byte != AUX_CMD_RESET) {
		aux_reply(m, byte);
		return;
	}
	if (m->pending && byte < AUX_FIRST_COMMAND) {
		if (m->pending == AUX_CMD_SET_RATE)
			aux_set_rate(m, byte);
		else
			m->resolution = byte & AUX_RESOLUTION_MASK;
		m->pending = 0;
		aux_reply(m, PS2_ACK);
		return;
	}
	m->pending = 0;
	switch (byte) {
	case AUX_CMD_SCALING_1TO1:
	case AUX_CMD_SCALING_2TO1:
		m->scaling_2to1 = byte == AUX_CMD_SCALING_2TO1;
		aux_reply(m, PS2_ACK);
		break;
	case AUX_CMD_SET_RESOLUTION:
	case AUX_CMD_SET_RATE:
		m->pending = byte;
		aux_reply(m, PS2_ACK);
		break;
	case AUX_CMD_STATUS_REQUEST:
		aux_status(m);
		break;
	case AUX_CMD_SET_STREAM:
	case AUX_CMD_SET_REMOTE:
		m->remote = byte == AUX_CMD_SET_REMOTE;
		aux_forget_motion(m);
		aux_reply(m, PS2_ACK);
		break;
	case AUX_CMD_READ_DATA:
		aux_reply(m, PS2_ACK);
		aux_packet(m, &m->reply, false);
		break;
	case AUX_CMD_RESET_WRAP:
	case AUX_CMD_SET_WRAP:
		m->wrap = byte == AUX_CMD_SET_WRAP;
		aux_forget_motion(m);
		aux_reply(m, PS2_ACK);
		break;
	case AUX_CMD_GET_ID:
		aux_reply(m, PS2_ACK);
		aux_reply(m, m->id);
		break;
	case AUX_CMD_ENABLE:
		m->reporting = true;
		aux_reply(m, PS2_ACK);
		break;
	case AUX_CMD_DISABLE:
		m->reporting = false;
		aux_forget_motion(m);
		aux_reply(m, PS2_ACK);
		break;
	case AUX_CMD_SET_DEFAULT:
		aux_defaults(m);
		aux_reply(m, PS2_ACK);
		break;
	case AUX_CMD_RESEND:
		aux_reply(m, m->last_sent);
		break;
	case AUX_CMD_RESET:
		ps2_mouse_reset(m);
		aux_reply(m, PS2_ACK);
		aux_reply(m, PS2_BAT_OK);
		aux_reply(m, AUX_ID_PS2);
		break;
	default:
		aux_reply(m, PS2_RESEND);
		break;
	}
}

bool ps2_mouse_read(struct ps2_mouse *m, uint8_t *byte)
{
	if (queue_pop(&m->reply, byte)) {
		m->last_sent = *byte;
		return true;
	}
	if (!queue_pop(&m->packets, byte))
		return false;
	m->last_sent = *byte;
	aux_stream(m);
	return true;
}

void ps2_mouse_event(struct ps2_mouse *m, int dx, int dy, int dz, unsigned buttons)
{
	m->buttons = (uint8_t)(buttons & AUX_BUTTONS);
	if (m->wrap || (!m->remote && !m->reporting)) {
		m->sent_buttons = m->buttons; /* a disabled mouse reports nothing */
		return;
	}
	/* PS/2 y counts up and the wheel towards the user: both flip. */
	m->x_overflow |= aux_add(&m->dx, dx);
	m->y_overflow |= aux_add(&m->dy, -(int64_t)dy);
	if (m->id == AUX_ID_INTELLIMOUSE)
		aux_add(&m->dz, -(int64_t)dz);
	aux_stream(m);
}
