/* duet-display's control socket: JSON lines, one request object per line
 * and one reply object per line, like duet-vmm's. Commands:
 *   {"command": "list"}
 *   {"command": "switch", "guest": NAME}
 *   {"command": "screenshot", "target": NAME|"screen", "file": PATH,
 *    "width": N, "height": N}          (width/height: optional thumbnail box)
 *   {"command": "inject", "events": [[TYPE, CODE, VALUE], ...]}
 *        test only: needs --input synthetic; TYPE and CODE are evdev
 *        names ("EV_KEY", "KEY_A") or numbers
 * Replies carry "ok": true, or "ok": false and "error". See docs/display.md. */
#ifndef DUET_DISPLAY_CONTROL_SOCKET_H
#define DUET_DISPLAY_CONTROL_SOCKET_H

struct control;
struct display;

/* control_start: listen at d->opts->control. */
int control_start(struct control **out, struct display *d);
void control_stop(struct control *ctl);

#endif
