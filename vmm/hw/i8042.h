/* The PC's keyboard controller, an Intel 8042 (i8042) at ports
 * 0x60/0x64, with a PS/2 keyboard on IRQ 1 and a PS/2 mouse on IRQ 12. */
#ifndef DUET_HW_I8042_H
#define DUET_HW_I8042_H

#include "bus.h"
#include "vm.h"

#define I8042_DATA_PORT 0x60    /* data, both ways */
#define I8042_COMMAND_PORT 0x64 /* status (read), command (write) */
#define I8042_KBD_IRQ 1
#define I8042_AUX_IRQ 12

/* Keyboard LEDs, as the Set/Reset Indicators (0xED) command orders them. */
#define I8042_LED_SCROLL_LOCK 0x01
#define I8042_LED_NUM_LOCK 0x02
#define I8042_LED_CAPS_LOCK 0x04

/* Mouse buttons for i8042_mouse_event. */
#define I8042_BUTTON_LEFT 0x01
#define I8042_BUTTON_RIGHT 0x02
#define I8042_BUTTON_MIDDLE 0x04

struct i8042;

/* Called without the controller's lock held, so they may call back in. */
typedef void (*i8042_reset_fn)(void *opaque);
typedef void (*i8042_led_fn)(void *opaque, unsigned leds);

/* i8042_create: a controller registered on `pio` at 0x60 and 0x64. It calls
 * reset(reset_opaque) when the guest pulses the CPU reset line (command
 * 0xFE, or output port bit 0 written low). NULL if out of memory or the
 * ports are taken. */
struct i8042 *i8042_create(struct bus *pio, struct irq_pin kbd_irq,
			   struct irq_pin aux_irq, i8042_reset_fn reset,
			   void *reset_opaque);
void i8042_free(struct i8042 *i8042);

/* i8042_reset: the power-on state of the controller and both devices. */
void i8042_reset(struct i8042 *i8042);

/* i8042_set_led_callback: call cb(opaque, I8042_LED_* bits) whenever the
 * guest changes the keyboard LEDs (a display mirrors them on the real
 * keyboard). i8042_leds: the LEDs as the guest last set them. */
void i8042_set_led_callback(struct i8042 *i8042, i8042_led_fn cb, void *opaque);
unsigned i8042_leds(struct i8042 *i8042);

/* i8042_key_event: a key of the host's keyboard, as a Linux evdev KEY_*
 * code (linux/input-event-codes.h), pressed (1) or released (0). Repeat is
 * the host's business: send a press again to repeat. */
void i8042_key_event(struct i8042 *i8042, unsigned evdev_code, int pressed);

/* i8042_mouse_event: relative motion in evdev's axes (REL_X right, REL_Y
 * down, REL_WHEEL clicks away from the user) and the I8042_BUTTON_* bits
 * held now. */
void i8042_mouse_event(struct i8042 *i8042, int dx, int dy, int dz,
		       unsigned buttons);

#endif
