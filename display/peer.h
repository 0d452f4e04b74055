/* A guest's connection to the display socket: accepting it, reading and
 * checking every message (lib/display_proto.h), mapping the surface, and
 * a bounded outbox for the input events sent back. A peer that breaks the
 * protocol, floods, or stops reading its input is dropped with one log
 * line; nothing it sends can stall or crash the display. */
#ifndef DUET_DISPLAY_PEER_H
#define DUET_DISPLAY_PEER_H

#include <stdint.h>

#include "display_proto.h"

struct display;
struct peer;

/* Limits on a peer (each enforced in peer.c). */
#define PEER_MAX_CONNECTIONS 32      /* connected at once, named or not */
#define PEER_ACCEPTS_PER_WAKEUP 16
#define PEER_MSGS_PER_WAKEUP 16      /* then the others get their turn */
#define PEER_MSG_RATE 1000           /* messages per second, more is a flood */
#define PEER_HELLO_TIMEOUT_MS 5000   /* to say HELLO after connecting */
#define PEER_OUTBOX 256              /* input messages not yet read */

/* peer_listen: bind the display socket at opts->socket. */
int peer_listen(struct display *d);
void peer_close_all(struct display *d);

/* peer_reap: free peers dropped since the last call (their memory stays
 * valid until then, so a drop deep inside a callback chain is safe). */
void peer_reap(struct display *d);

/* Input for the guest; queued when the socket is full. */
void peer_send_key(struct peer *p, unsigned code, int pressed);
void peer_send_pointer(struct peer *p, int32_t x, int32_t y, int32_t dx, int32_t dy,
		       uint32_t buttons, int32_t wheel);
void peer_send_focus(struct peer *p, int focused);
void peer_send_leds(struct peer *p, unsigned leds);

/* peer_pid: the peer's process, from SO_PEERCRED (for `list`). */
int peer_pid(const struct peer *p);

#endif
