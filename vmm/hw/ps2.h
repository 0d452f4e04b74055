/* The two devices behind the i8042: a PS/2 (MF II) keyboard and a PS/2
 * mouse with the IntelliMouse wheel. They only trade bytes with the
 * controller (vmm/hw/i8042.c), which embeds them and whose lock covers
 * them; nothing here locks or touches the bus. */
#ifndef DUET_HW_PS2_H
#define DUET_HW_PS2_H

#include <stdbool.h>
#include <stdint.h>

/* Bytes a device holds for the controller, per queue. A real keyboard
 * buffers 16; a key event is at most 8 (Pause). */
#define PS2_QUEUE_SIZE 32

struct ps2_queue {
	uint8_t data[PS2_QUEUE_SIZE];
	unsigned head, count;
};

struct ps2_kbd {
	struct ps2_queue reply; /* answers to commands: sent before keys */
	struct ps2_queue keys;  /* scancodes */
	uint8_t pending;        /* command waiting for its parameter, 0: none */
	uint8_t last_sent;      /* for Resend */
	uint8_t scancode_set;   /* 1, 2 or 3 */
	uint8_t leds;           /* I8042_LED_* */
	uint8_t typematic;      /* stored only: repeat is the host's business */
	bool scanning;
	bool overrun;           /* the overrun code is queued; keys are dropped */
	unsigned modifiers;     /* Ctrl, Shift, Alt held (Print Screen, Pause) */
};

struct ps2_mouse {
	struct ps2_queue reply;   /* answers to commands: sent before packets */
	struct ps2_queue packets; /* stream-mode movement packets */
	uint8_t pending;          /* command waiting for its parameter, 0: none */
	uint8_t last_sent;
	uint8_t id;               /* 0, or 3 once the wheel is switched on */
	uint8_t rate;             /* samples/s, stored only */
	uint8_t resolution;       /* 0-3, stored only */
	uint8_t rates[3];         /* the last three rates set, newest last */
	bool scaling_2to1, remote, wrap, reporting;
	int dx, dy, dz;           /* motion not yet sent (PS/2 axes: y up) */
	bool x_overflow, y_overflow; /* motion was lost beyond the bound */
	uint8_t buttons, sent_buttons; /* bit 0 left, 1 right, 2 middle */
};

/* ps2_kbd_reset / ps2_mouse_reset: the power-on state. */
void ps2_kbd_reset(struct ps2_kbd *kbd);
void ps2_mouse_reset(struct ps2_mouse *mouse);

/* ps2_*_write: a byte from the controller (a command or its parameter). */
void ps2_kbd_write(struct ps2_kbd *kbd, uint8_t byte);
void ps2_mouse_write(struct ps2_mouse *mouse, uint8_t byte);

/* ps2_*_read: the next byte for the controller; false if none. */
bool ps2_kbd_read(struct ps2_kbd *kbd, uint8_t *byte);
bool ps2_mouse_read(struct ps2_mouse *mouse, uint8_t *byte);

/* ps2_kbd_key: a Linux evdev KEY_* code pressed or released; keys the PC
 * keyboard does not have are ignored. */
void ps2_kbd_key(struct ps2_kbd *kbd, unsigned evdev_code, bool pressed);

/* ps2_mouse_event: relative motion in evdev's axes (x right, y down,
 * wheel positive away from the user) and the buttons now held. */
void ps2_mouse_event(struct ps2_mouse *mouse, int dx, int dy, int dz,
		     unsigned buttons);

/* ps2_set2_to_set1: the 8042's translation of one set-2 byte to set 1
 * (the F0 break prefix is the caller's: it sets bit 7 of the next byte). */
uint8_t ps2_set2_to_set1(uint8_t code);

#endif
