/* Where host input goes: to the virtio keyboard/tablet once the guest's
 * driver has set them up, else to the PS/2 keyboard and mouse on the i8042
 * (firmware, boot loaders, and guests without virtio drivers). Events are
 * Linux evdev codes, as duet-display reads them. */
#ifndef DUET_INPUT_H
#define DUET_INPUT_H

#include <stddef.h>

struct vm;

/* Buttons: bit 0 left, 1 right, 2 middle. */
#define INPUT_BUTTON_LEFT 1u
#define INPUT_BUTTON_RIGHT 2u
#define INPUT_BUTTON_MIDDLE 4u

void input_key(struct vm *vm, unsigned evdev_code, int pressed);
/* input_pointer_abs: x, y in 0..32767 across the guest's screen. */
void input_pointer_abs(struct vm *vm, int x, int y, int wheel, unsigned buttons);

/* input_sendkey: press the keys of a combination such as
 * "ctrl-alt-delete" in order and release them in reverse. -EINVAL with
 * `err` naming the unknown key. */
int input_sendkey(struct vm *vm, const char *combo, char *err, size_t errlen);

#endif
