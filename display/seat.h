/* The seat: the PC's keyboard and mouse as one stream of evdev events,
 * routed to the active guest. It owns the policy a user relies on:
 *   - hotkeys (a modifier plus a key) switch guests, and none of the
 *     hotkey's own key events reach any guest: the modifier's press is held
 *     back until the next key shows whether it starts a hotkey;
 *   - each key's release goes where its press went; at a switch, keys and
 *     buttons still held are released in the guest that loses focus, and
 *     their later physical release reaches nobody (no stuck Ctrl);
 *   - the pointer lives in screen coordinates, relative and absolute
 *     devices alike, and is reported once per SYN_REPORT.
 * It knows guests only as slot numbers; the display acts on what it asks. */
#ifndef DUET_DISPLAY_SEAT_H
#define DUET_DISPLAY_SEAT_H

#include <linux/input-event-codes.h>
#include <stdint.h>

#define SEAT_MAX_SLOTS 16
#define SEAT_NO_SLOT (-1)
/* Absolute axes reach the seat scaled to 0..SEAT_ABS_MAX by their source. */
#define SEAT_ABS_MAX 32767
#define SEAT_MAX_SLOT_KEYS 9

struct hotkeys {
	unsigned modifier;                  /* evdev code: KEY_RIGHTCTRL */
	unsigned next;                      /* with the modifier: next guest */
	unsigned slot_keys[SEAT_MAX_SLOT_KEYS]; /* with the modifier: slot i */
	unsigned nslot_keys;
};

/* hotkey actions passed to seat_ops.hotkey */
#define SEAT_HOTKEY_NEXT (-1)

struct seat_ops {
	/* a key event for the guest in `slot` */
	void (*key)(void *opaque, int slot, unsigned code, int pressed);
	/* pointer state for the guest in `slot`: x, y on the screen */
	void (*pointer)(void *opaque, int slot, int x, int y, int dx, int dy, unsigned buttons,
			int wheel);
	/* a hotkey: switch to slot `action` (0-based) or SEAT_HOTKEY_NEXT;
	 * the display calls seat_set_active if it does switch */
	void (*hotkey)(void *opaque, int action);
	/* the lock LEDs changed (DISPLAY_LED_* bits) */
	void (*leds)(void *opaque, unsigned leds);
};

struct seat;

int seat_create(struct seat **out, const struct hotkeys *hk, const struct seat_ops *ops,
		void *opaque);
void seat_destroy(struct seat *s);

/* seat_set_screen: the pointer's range; it moves to the centre. */
void seat_set_screen(struct seat *s, int width, int height);

/* seat_event: one evdev event (type, code, value) from an input source. */
void seat_event(struct seat *s, unsigned type, unsigned code, int value);

/* seat_set_active: input goes to `slot` (or nowhere: SEAT_NO_SLOT) from
 * now on; what the old slot holds is released there first. */
void seat_set_active(struct seat *s, int slot);
int seat_active(const struct seat *s);

/* seat_slot_gone: the guest in `slot` disconnected: forget what it holds. */
void seat_slot_gone(struct seat *s, int slot);

unsigned seat_leds(const struct seat *s);

/* hotkeys_default: Right-Ctrl + 1..9, Right-Ctrl + Tab. */
void hotkeys_default(struct hotkeys *hk);

#endif
