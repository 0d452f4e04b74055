/* A listening socket in duet-display's loop. accept4 can fail for want of
 * file descriptors or memory with the connection still waiting; the
 * listener is level-triggered, so the loop would wake again at once for
 * that same connection, for ever. A listener then rests LISTENER_PAUSE_MS
 * (one warning a second at most) and tries again. */
#ifndef DUET_DISPLAY_LISTENER_H
#define DUET_DISPLAY_LISTENER_H

#include <sys/socket.h>

#include "loop.h"

#define LISTENER_PAUSE_MS 1000

struct listener;

/* listener_create: call accept_cb(opaque) while a connection waits on fd,
 * a bound and listening non-blocking socket. `name` begins its log lines
 * ("control socket"). The fd is the listener's from then on; on failure
 * (-errno) it is still the caller's. */
int listener_create(struct listener **out, struct loop *loop, int fd, const char *name,
		    loop_cb accept_cb, void *opaque);

/* listener_accept: a connection, non-blocking and close-on-exec, with the
 * peer's address in addr when that is not NULL; or -1: none waiting, one
 * reset before it was accepted, or none to be had (the listener rests). */
int listener_accept(struct listener *l, struct sockaddr *addr, socklen_t *addr_len);

/* listener_pause: take no connection for ms (they wait in the backlog). */
void listener_pause(struct listener *l, uint64_t ms);

/* listener_free: stop listening and close the fd. */
void listener_free(struct listener *l);

#endif
