/* Routing of host input to the guest's keyboard and pointer, and key
 * names for "sendkey" (the names QEMU's monitor uses, so admins who know
 * `sendkey ctrl-alt-delete` need learn nothing new). */
#include "input.h"

#include <errno.h>
#include <linux/input-event-codes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "hw/i8042.h"
#include "virtio/input.h"
#include "vm.h"

/* The longest combination sendkey takes. */
#define INPUT_COMBO_MAX 8

void input_key(struct vm *vm, unsigned evdev_code, int pressed)
{
	if (virtio_input_ready(vm->input_keyboard)) {
		virtio_input_send(vm->input_keyboard, EV_KEY, (uint16_t)evdev_code, pressed ? 1 : 0);
		virtio_input_send(vm->input_keyboard, EV_SYN, SYN_REPORT, 0);
	} else if (vm->i8042) {
		i8042_key_event(vm->i8042, evdev_code, pressed);
	}
}

void input_pointer_abs(struct vm *vm, int x, int y, int wheel, unsigned buttons)
{
	static const uint16_t button_codes[3] = { BTN_LEFT, BTN_RIGHT, BTN_MIDDLE };
	struct virtio_input *t = vm->input_tablet;

	if (x < 0)
		x = 0;
	if (y < 0)
		y = 0;
	if (x > VIRTIO_INPUT_ABS_MAX)
		x = VIRTIO_INPUT_ABS_MAX;
	if (y > VIRTIO_INPUT_ABS_MAX)
		y = VIRTIO_INPUT_ABS_MAX;
	if (virtio_input_ready(t)) {
		virtio_input_send(t, EV_ABS, ABS_X, x);
		virtio_input_send(t, EV_ABS, ABS_Y, y);
		for (unsigned i = 0; i < 3; i++)
			virtio_input_send(t, EV_KEY, button_codes[i], (buttons >> i) & 1);
		if (wheel)
			virtio_input_send(t, EV_REL, REL_WHEEL, wheel);
		virtio_input_send(t, EV_SYN, SYN_REPORT, 0);
	} else if (vm->i8042) {
		/* A PS/2 mouse is relative: move by the difference from the
		 * last position we sent, in mouse units (about 1/16 of the
		 * absolute range per 2048 units). */
		static int last_x = -1, last_y = -1;
		int dx = last_x < 0 ? 0 : (x - last_x) / 16, dy = last_y < 0 ? 0 : (y - last_y) / 16;

		last_x = x;
		last_y = y;
		i8042_mouse_event(vm->i8042, dx, -dy, wheel, buttons);
	}
}

struct key_name {
	const char *name;
	unsigned code;
};

static const struct key_name key_names[] = {
	{ "ctrl", KEY_LEFTCTRL }, { "ctrl_r", KEY_RIGHTCTRL }, { "alt", KEY_LEFTALT },
	{ "alt_r", KEY_RIGHTALT }, { "altgr", KEY_RIGHTALT }, { "shift", KEY_LEFTSHIFT },
	{ "shift_r", KEY_RIGHTSHIFT }, { "meta_l", KEY_LEFTMETA }, { "meta_r", KEY_RIGHTMETA },
	{ "win", KEY_LEFTMETA }, { "menu", KEY_COMPOSE }, { "delete", KEY_DELETE },
	{ "del", KEY_DELETE }, { "insert", KEY_INSERT }, { "home", KEY_HOME }, { "end", KEY_END },
	{ "pgup", KEY_PAGEUP }, { "pgdn", KEY_PAGEDOWN }, { "esc", KEY_ESC }, { "tab", KEY_TAB },
	{ "ret", KEY_ENTER }, { "enter", KEY_ENTER }, { "spc", KEY_SPACE }, { "space", KEY_SPACE },
	{ "backspace", KEY_BACKSPACE }, { "up", KEY_UP }, { "down", KEY_DOWN },
	{ "left", KEY_LEFT }, { "right", KEY_RIGHT }, { "caps_lock", KEY_CAPSLOCK },
	{ "num_lock", KEY_NUMLOCK }, { "scroll_lock", KEY_SCROLLLOCK }, { "print", KEY_SYSRQ },
	{ "sysrq", KEY_SYSRQ }, { "pause", KEY_PAUSE }, { "minus", KEY_MINUS },
	{ "equal", KEY_EQUAL }, { "comma", KEY_COMMA }, { "dot", KEY_DOT }, { "slash", KEY_SLASH },
	{ "f1", KEY_F1 }, { "f2", KEY_F2 }, { "f3", KEY_F3 }, { "f4", KEY_F4 }, { "f5", KEY_F5 },
	{ "f6", KEY_F6 }, { "f7", KEY_F7 }, { "f8", KEY_F8 }, { "f9", KEY_F9 }, { "f10", KEY_F10 },
	{ "f11", KEY_F11 }, { "f12", KEY_F12 },
};

static const unsigned letter_codes[26] = {
	KEY_A, KEY_B, KEY_C, KEY_D, KEY_E, KEY_F, KEY_G, KEY_H, KEY_I, KEY_J, KEY_K, KEY_L, KEY_M,
	KEY_N, KEY_O, KEY_P, KEY_Q, KEY_R, KEY_S, KEY_T, KEY_U, KEY_V, KEY_W, KEY_X, KEY_Y, KEY_Z,
};

static const unsigned digit_codes[10] = {
	KEY_0, KEY_1, KEY_2, KEY_3, KEY_4, KEY_5, KEY_6, KEY_7, KEY_8, KEY_9,
};

static int key_lookup(const char *name, size_t len, unsigned *code)
{
	if (len == 1 && name[0] >= 'a' && name[0] <= 'z') {
		*code = letter_codes[name[0] - 'a'];
		return 0;
	}
	if (len == 1 && name[0] >= '0' && name[0] <= '9') {
		*code = digit_codes[name[0] - '0'];
		return 0;
	}
	for (size_t i = 0; i < sizeof(key_names) / sizeof(key_names[0]); i++) {
		if (strlen(key_names[i].name) == len && !strncasecmp(key_names[i].name, name, len)) {
			*code = key_names[i].code;
			return 0;
		}
	}
	return -EINVAL;
}

int input_sendkey(struct vm *vm, const char *combo, char *err, size_t errlen)
{
	unsigned codes[INPUT_COMBO_MAX], n = 0;
	const char *p = combo;

	while (*p) {
		size_t len = strcspn(p, "-");

		if (len == 0 || n == INPUT_COMBO_MAX || key_lookup(p, len, &codes[n])) {
			snprintf(err, errlen, len == 0 ? "empty key name in '%s'" :
				 n == INPUT_COMBO_MAX ? "too many keys in '%s'" : "unknown key in '%s'",
				 combo);
			return -EINVAL;
		}
		n++;
		p += len;
		if (*p == '-')
			p++;
	}
	if (n == 0) {
		snprintf(err, errlen, "no keys given");
		return -EINVAL;
	}
	for (unsigned i = 0; i < n; i++)
		input_key(vm, codes[i], 1);
	for (unsigned i = n; i-- > 0;)
		input_key(vm, codes[i], 0);
	return 0;
}
