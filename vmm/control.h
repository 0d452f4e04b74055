/* The control socket: a Unix stream socket speaking JSON lines. Each line
 * is one request {"command": NAME, ...}; each gets one reply line,
 * {"ok": true, ...} or {"ok": false, "error": "..."}. Commands: status,
 * pause, resume, reset, powerdown (ACPI power button),
 * sendkey {"keys": "ctrl-alt-delete"}, quit. A malformed
 * request gets an error reply and changes nothing. */
#ifndef DUET_CONTROL_H
#define DUET_CONTROL_H

struct vm;

/* control_start: listen on `path` (replacing a stale socket there);
 * -errno after one logged line. */
int control_start(struct vm *vm, const char *path);

#endif
