/* The guest's screen, keyboard and mouse as duet-display sees them: the
 * std-VGA's rendered surface goes to the display over the display
 * protocol (lib/display_client.h) with damage at the refresh rate, and the
 * display's key and pointer events come back to the guest's input devices. */
#ifndef DUET_DISPLAY_LINK_H
#define DUET_DISPLAY_LINK_H

struct vm;

/* How often the VGA is looked at for changes: 30 Hz; an idle guest costs
 * one dirty-log read per tick and nothing else. */
#define DISPLAY_REFRESH_NS (1000000000ULL / 30)

/* display_screendump_fd: bring the picture up to date and write it as a
 * PNG into `fd`, which it takes over (the control socket's screendump: the
 * sandbox lets duet-vmm open no files, so the client passes one).
 * -ENODEV when the guest has no VGA. */
int display_screendump_fd(struct vm *vm, int fd);

#endif
