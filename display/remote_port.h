/* duet-display's remote port: the LTSP server's `duet switch` and `duet
 * wall` ask it, over TCP, which guest is shown and to show another. Every
 * command is signed with the server's Ed25519 key over a fresh nonce
 * (lib/remote_proto.h, docs/duet-wall.md); the display holds only the
 * public key. Off unless --remote-listen is given, and then never without
 * --remote-public-key-file. It lives in the display's epoll loop and never
 * blocks it: at most REMOTE_PORT_MAX_CLIENTS connections, one waiting
 * for its request per source address, each closed after one command or
 * REMOTE_REQUEST_TIMEOUT_MS without one. */
#ifndef DUET_DISPLAY_REMOTE_PORT_H
#define DUET_DISPLAY_REMOTE_PORT_H

#include <stddef.h>
#include <stdint.h>

#include "remote_proto.h"

#define REMOTE_PORT_MAX_CLIENTS 4
/* from the greeting to the request line: the server's client answers at
 * once, so a connection that says nothing is soon gone */
#define REMOTE_REQUEST_TIMEOUT_MS 1500
/* signature checks per source address a second, at most (the wall asks
 * once a refresh, a teacher switches now and then) */
#define REMOTE_VERIFY_PER_S 10

struct display;
struct remote_port;

/* remote_port_start: listen on opts->remote.listen; *out stays NULL when
 * the remote port is off. A public key that cannot be read is an error
 * (-errno, one log line); an address that cannot be bound is logged and
 * the display runs on without the remote port. */
int remote_port_start(struct remote_port **out, struct display *d);
void remote_port_stop(struct remote_port *r);

/* remote_read_public_key: the file's first line, 64 hex digits (an
 * Ed25519 public key), into pub (or only checked when pub is NULL);
 * -errno with a sentence in err. */
int remote_read_public_key(const char *path, uint8_t pub[REMOTE_KEY_SIZE], char *err,
			   size_t errlen);

#endif
