/* The seat (see seat.h): hotkeys, key ownership, the pointer. */
#include "seat.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "display_proto.h"

/* key_owner values besides a slot number */
#define OWNER_NONE (-1)      /* up, or never seen going down */
#define OWNER_NOBODY (-2)    /* down, but its release goes nowhere */

enum modifier_state {
	MOD_UP,
	MOD_PENDING,    /* down, held back: a hotkey may follow */
	MOD_FORWARDED,  /* down, and delivered like any key */
	MOD_CONSUMED,   /* down, and part of a hotkey: never delivered */
};

struct seat {
	struct hotkeys hk;
	const struct seat_ops *ops;
	void *opaque;
	int active;
	int8_t key_owner[KEY_CNT];
	enum modifier_state mod;
	unsigned leds;
	/* pointer */
	int width, height;
	int x, y;
	int dx, dy, wheel;
	unsigned buttons;        /* physically held */
	unsigned buttons_nobody; /* held across a switch: nobody sees them */
	int pointer_dirty;
};

_Static_assert(SEAT_MAX_SLOTS <= 127, "key_owner is an int8_t");

void hotkeys_default(struct hotkeys *hk)
{
	static const unsigned digits[SEAT_MAX_SLOT_KEYS] = {
		KEY_1, KEY_2, KEY_3, KEY_4, KEY_5, KEY_6, KEY_7, KEY_8, KEY_9,
	};

	hk->modifier = KEY_RIGHTCTRL;
	hk->next = KEY_TAB;
	memcpy(hk->slot_keys, digits, sizeof(digits));
	hk->nslot_keys = SEAT_MAX_SLOT_KEYS;
}

int seat_create(struct seat **out, const struct hotkeys *hk, const struct seat_ops *ops,
		void *opaque)
{
	struct seat *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->hk = *hk;
	s->ops = ops;
	s->opaque = opaque;
	s->active = SEAT_NO_SLOT;
	memset(s->key_owner, OWNER_NONE, sizeof(s->key_owner));
	seat_set_screen(s, 1, 1);
	*out = s;
	return 0;
}

void seat_destroy(struct seat *s)
{
	free(s);
}

void seat_set_screen(struct seat *s, int width, int height)
{
	s->width = width > 0 ? width : 1;
	s->height = height > 0 ? height : 1;
	s->x = s->width / 2;
	s->y = s->height / 2;
}

int seat_active(const struct seat *s)
{
	return s->active;
}

unsigned seat_leds(const struct seat *s)
{
	return s->leds;
}

/* hotkey_action: the action of `code` pressed with the modifier, or
 * SEAT_HOTKEY_NEXT - 1 when it is no hotkey. */
#define NOT_A_HOTKEY (SEAT_HOTKEY_NEXT - 1)
static int hotkey_action(const struct seat *s, unsigned code)
{
	if (code == s->hk.next)
		return SEAT_HOTKEY_NEXT;
	for (unsigned i = 0; i < s->hk.nslot_keys; i++)
		if (s->hk.slot_keys[i] == code)
			return (int)i;
	return NOT_A_HOTKEY;
}

static void key_press(struct seat *s, unsigned code)
{
	if (s->key_owner[code] != OWNER_NONE)
		return; /* already down: evdev does not do that, but be safe */
	if (s->active == SEAT_NO_SLOT) {
		s->key_owner[code] = OWNER_NOBODY;
		return;
	}
	s->key_owner[code] = (int8_t)s->active;
	s->ops->key(s->opaque, s->active, code, 1);
}

static void key_release(struct seat *s, unsigned code)
{
	int owner = s->key_owner[code];

	s->key_owner[code] = OWNER_NONE;
	if (owner >= 0)
		s->ops->key(s->opaque, owner, code, 0);
}

/* modifier_commit: something other than a hotkey follows the held-back
 * modifier: it is an ordinary key after all, deliver its press now. */
static void modifier_commit(struct seat *s)
{
	if (s->mod != MOD_PENDING)
		return;
	s->mod = MOD_FORWARDED;
	key_press(s, s->hk.modifier);
}

static void lock_key(struct seat *s, unsigned code)
{
	unsigned bit = code == KEY_NUMLOCK ? DISPLAY_LED_NUM_LOCK
		     : code == KEY_CAPSLOCK ? DISPLAY_LED_CAPS_LOCK
		     : code == KEY_SCROLLLOCK ? DISPLAY_LED_SCROLL_LOCK : 0;

	if (!bit)
		return;
	s->leds ^= bit;
	if (s->ops->leds)
		s->ops->leds(s->opaque, s->leds);
}

static void seat_key(struct seat *s, unsigned code, int pressed)
{
	int action;

	if (code == s->hk.modifier) {
		if (pressed) {
			if (s->mod == MOD_UP)
				s->mod = MOD_PENDING;
			return;
		}
		if (s->mod == MOD_PENDING) {
			/* tapped alone: an ordinary key press and release */
			key_press(s, code);
			key_release(s, code);
		} else if (s->mod == MOD_FORWARDED) {
			key_release(s, code);
		}
		s->mod = MOD_UP;
		return;
	}
	if (!pressed) {
		key_release(s, code);
		return;
	}
	if (s->mod != MOD_UP && (action = hotkey_action(s, code)) != NOT_A_HOTKEY) {
		s->key_owner[code] = OWNER_NOBODY;
		if (s->mod == MOD_PENDING)
			s->mod = MOD_CONSUMED;
		s->ops->hotkey(s->opaque, action);
		return;
	}
	modifier_commit(s);
	key_press(s, code);
	lock_key(s, code);
}

static unsigned button_bit(unsigned code)
{
	switch (code) {
	case BTN_LEFT:
	case BTN_TOUCH: /* a touchscreen's touch clicks */
		return DISPLAY_BUTTON_LEFT;
	case BTN_RIGHT:
		return DISPLAY_BUTTON_RIGHT;
	case BTN_MIDDLE:
		return DISPLAY_BUTTON_MIDDLE;
	case BTN_SIDE:
		return DISPLAY_BUTTON_SIDE;
	case BTN_EXTRA:
		return DISPLAY_BUTTON_EXTRA;
	default:
		return 0;
	}
}

static int clamp(int v, int lo, int hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* Relative motion and wheel are summed up to here; a burst from a fast
 * mouse between two SYN_REPORTs cannot overflow. */
#define SEAT_REL_MAX 32767

static void seat_flush_pointer(struct seat *s)
{
	if (!s->pointer_dirty)
		return;
	if (s->active != SEAT_NO_SLOT)
		s->ops->pointer(s->opaque, s->active, s->x, s->y, s->dx, s->dy,
				s->buttons & ~s->buttons_nobody, s->wheel);
	s->dx = s->dy = s->wheel = 0;
	s->pointer_dirty = 0;
}

void seat_event(struct seat *s, unsigned type, unsigned code, int value)
{
	switch (type) {
	case EV_KEY: {
		unsigned bit;

		if (value != 0 && value != 1)
			return; /* autorepeat (2): guests repeat on their own */
		if (code >= BTN_MISC && code < KEY_OK) {
			bit = button_bit(code);
			if (!bit)
				return;
			if (value) {
				modifier_commit(s);
				s->buttons |= bit;
			} else {
				s->buttons &= ~bit;
				s->buttons_nobody &= ~bit;
			}
			s->pointer_dirty = 1;
			return;
		}
		if (code > DISPLAY_KEY_CODE_MAX || code == 0)
			return;
		seat_key(s, code, value);
		return;
	}
	case EV_REL:
		value = clamp(value, -SEAT_REL_MAX, SEAT_REL_MAX);
		if (code == REL_X) {
			s->dx = clamp(s->dx + value, -SEAT_REL_MAX, SEAT_REL_MAX);
			s->x = clamp(s->x + value, 0, s->width - 1);
		} else if (code == REL_Y) {
			s->dy = clamp(s->dy + value, -SEAT_REL_MAX, SEAT_REL_MAX);
			s->y = clamp(s->y + value, 0, s->height - 1);
		} else if (code == REL_WHEEL) {
			modifier_commit(s);
			s->wheel = clamp(s->wheel + value, -SEAT_REL_MAX, SEAT_REL_MAX);
		} else {
			return;
		}
		s->pointer_dirty = 1;
		return;
	case EV_ABS:
		value = clamp(value, 0, SEAT_ABS_MAX);
		if (code == ABS_X)
			s->x = (int)((int64_t)value * (s->width - 1) / SEAT_ABS_MAX);
		else if (code == ABS_Y)
			s->y = (int)((int64_t)value * (s->height - 1) / SEAT_ABS_MAX);
		else
			return;
		s->pointer_dirty = 1;
		return;
	case EV_SYN:
		if (code == SYN_REPORT)
			seat_flush_pointer(s);
		return;
	default:
		return;
	}
}

void seat_set_active(struct seat *s, int slot)
{
	int old = s->active;

	if (old == slot)
		return;
	seat_flush_pointer(s);
	if (old != SEAT_NO_SLOT) {
		for (unsigned code = 0; code < KEY_CNT; code++) {
			if (s->key_owner[code] == old) {
				s->ops->key(s->opaque, old, code, 0);
				s->key_owner[code] = OWNER_NOBODY;
			}
		}
		if (s->buttons & ~s->buttons_nobody)
			s->ops->pointer(s->opaque, old, s->x, s->y, 0, 0, 0, 0);
	}
	s->buttons_nobody = s->buttons;
	s->active = slot;
}

void seat_slot_gone(struct seat *s, int slot)
{
	for (unsigned code = 0; code < KEY_CNT; code++)
		if (s->key_owner[code] == slot)
			s->key_owner[code] = OWNER_NOBODY;
	if (slot == s->active)
		s->buttons_nobody = s->buttons;
}
