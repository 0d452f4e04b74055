/* The guest side of the display protocol (lib/display_proto.h), for
 * duet-vmm and the test peer: connects to duet-display without blocking,
 * says HELLO, hands over the framebuffer memfd, sends damage, and turns the
 * display's KEY/POINTER/FOCUS/LEDS messages into callbacks. When the display
 * goes away (it restarted) the client reconnects on its own and sends its
 * name, surface and a full damage again.
 *
 * The client owns one epoll fd that never changes: poll it for reading in
 * the caller's loop and call display_client_dispatch when it is ready. Not
 * thread-safe: call every function from one thread. */
#ifndef DUET_DISPLAY_CLIENT_H
#define DUET_DISPLAY_CLIENT_H

#include <stdint.h>

#include "display_proto.h"

struct display_client;

/* Callbacks; any may be NULL. Values are checked before a callback sees
 * them (a message that breaks lib/display_proto.h is logged and skipped). */
struct display_client_ops {
	/* connection: 1 once HELLO went out on a new connection, 0 when it
	 * was lost (a reconnect is then under way). */
	void (*connection)(void *opaque, int connected);
	void (*key)(void *opaque, unsigned code, int pressed);
	void (*pointer)(void *opaque, const struct display_msg_pointer *p);
	void (*focus)(void *opaque, int focused);
	void (*leds)(void *opaque, unsigned leds);
};

/* display_client_create: start connecting to the display at `path` (NULL:
 * DISPLAY_SOCKET_DEFAULT) as guest `name` (see DISPLAY_NAME_SIZE for what a
 * name may hold). Returns 0 or -errno; a display that is not there yet is
 * not an error (the client keeps trying). */
int display_client_create(struct display_client **out, const char *path, const char *name,
			  const struct display_client_ops *ops, void *opaque);
void display_client_destroy(struct display_client *c);

/* display_client_fd: the fd to poll for input (EPOLLIN / POLLIN). */
int display_client_fd(const struct display_client *c);

/* display_client_dispatch: do what is ready: read messages (bounded work
 * per call), send what waits, reconnect when due. Never blocks. */
void display_client_dispatch(struct display_client *c);

/* display_client_set_surface: the framebuffer to show: `fd` is a memfd the
 * client duplicates (the caller keeps its own), sealed with F_SEAL_SHRINK
 * and at least offset + stride * height bytes long. Returns -EINVAL for a
 * surface the display would refuse. Counts as full damage. */
int display_client_set_surface(struct display_client *c, int fd, uint32_t width,
			       uint32_t height, uint32_t stride, uint32_t format,
			       uint32_t offset);

/* display_client_damage: these pixels changed. Clamped to the surface and
 * collected (merged when there are more than a DAMAGE message holds);
 * nothing is sent until display_client_commit. */
void display_client_damage(struct display_client *c, uint32_t x, uint32_t y, uint32_t width,
			   uint32_t height);

/* display_client_commit: send the damage collected since the last commit
 * as one DAMAGE message (Wayland's commit). Call it once per frame of the
 * VMM's display refresh: the display drops a guest that sends more than
 * PEER_MSG_RATE (1000) messages a second. */
void display_client_commit(struct display_client *c);

/* display_client_connected: 1 while a connection is up. */
int display_client_connected(const struct display_client *c);

#endif
