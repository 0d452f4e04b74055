/* Remote viewing over VNC (libvncserver 0.9.14): one server per guest
 * slot, showing that guest's own surface, and one for the composed screen.
 * The servers live in duet-display's epoll loop; libvncserver starts no
 * thread. Ports: the screen on --vnc-base-port, the guest in slot N on
 * base + N. Clients are view-only unless --vnc-input names their server.
 * A client that floods, stalls, half-sends or garbles its messages is
 * dropped or held back without costing the display or the other clients
 * more than one bounded step (see vnc.c for how). */
#ifndef DUET_DISPLAY_VNC_H
#define DUET_DISPLAY_VNC_H

#include <pixman.h>
#include <stddef.h>
#include <sys/socket.h>

#include "display_proto.h"

struct display;
struct guest;
struct vnc;

/* Limits on a VNC server (each enforced in vnc.c). */
#define VNC_MAX_CLIENTS 8           /* per server, handshakes included */
#define VNC_BASE_PORT_DEFAULT 5900
#define VNC_LISTEN_DEFAULT "127.0.0.1"

/* vnc_start: the screen's server and one per configured guest, listening
 * on opts->vnc.listen. *out stays NULL when VNC is off (vnc-listen none).
 * A password file that cannot be read is an error (-errno, one log line);
 * a port that cannot be bound is logged and that server left out. */
int vnc_start(struct vnc **out, struct display *d);
void vnc_stop(struct vnc *v);

/* vnc_guest_changed: the guest connected, went away, or sent a new
 * surface: its server shows the surface, or a status picture ("NAME is
 * starting", "NAME stopped") of the last size. Call it before an old
 * mapping is unmapped. Creates the slot's server on first use. */
void vnc_guest_changed(struct vnc *v, const struct guest *g);
/* vnc_guest_damage: checked rectangles of the guest's surface changed. */
void vnc_guest_damage(struct vnc *v, const struct guest *g, const struct display_rect *rects,
		      unsigned n);

/* vnc_screen_damage: the compositor redrew `region` of its shadow. */
void vnc_screen_damage(struct vnc *v, pixman_region32_t *region);
/* vnc_screen_changed: the compositor (and its shadow) was replaced. */
void vnc_screen_changed(struct vnc *v);

/* vnc_flush: after each batch of events: send the updates that are due. */
void vnc_flush(struct vnc *v);

/* For `list`: the port of a slot's server (SEAT_NO_SLOT: the screen's),
 * 0 when it has none, and how many clients it has. */
int vnc_port(const struct vnc *v, int slot);
unsigned vnc_clients(const struct vnc *v, int slot);

/* vnc_read_password: the first line of `path` (VNC authentication, RFB
 * 7.2.2, uses its first 8 characters) into *out, or with out NULL only
 * checked; -errno with a sentence in `err`. */
int vnc_read_password(const char *path, char **out, char *err, size_t errlen);

/* vnc_parse_address: a numeric IPv4 or IPv6 address; 1 when it is a
 * loopback address, 0 when not, -EINVAL when it is no address. */
int vnc_parse_address(const char *text, struct sockaddr_storage *addr, socklen_t *len);

#endif
