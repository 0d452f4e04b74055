/* Listening sockets in the loop (see listener.h). */
#include "listener.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "log.h"

struct listener {
	struct loop *loop;
	int fd;
	char name[48];
	loop_cb accept_cb;
	void *opaque;
	struct loop_timer *rest; /* ends a pause */
	uint64_t warned_ms;      /* the last "not accepting" line */
};

static void listener_ready(void *opaque, uint32_t events)
{
	struct listener *l = opaque;

	(void)events;
	l->accept_cb(l->opaque);
}

static void listener_rested(void *opaque)
{
	struct listener *l = opaque;

	loop_mod_fd(l->loop, l->fd, EPOLLIN);
}

int listener_create(struct listener **out, struct loop *loop, int fd, const char *name,
		    loop_cb accept_cb, void *opaque)
{
	struct listener *l = calloc(1, sizeof(*l));
	int err;

	if (!l)
		return -ENOMEM;
	l->loop = loop;
	l->fd = fd;
	snprintf(l->name, sizeof(l->name), "%s", name);
	l->accept_cb = accept_cb;
	l->opaque = opaque;
	l->rest = loop_timer_create(loop, listener_rested, l);
	if (!l->rest) {
		free(l);
		return -ENOMEM;
	}
	err = loop_add_fd(loop, fd, EPOLLIN, listener_ready, l);
	if (err) {
		loop_timer_free(l->rest);
		free(l);
		return err;
	}
	*out = l;
	return 0;
}

int listener_accept(struct listener *l, struct sockaddr *addr, socklen_t *addr_len)
{
	int fd = accept4(l->fd, addr, addr_len, SOCK_CLOEXEC | SOCK_NONBLOCK);
	int err = errno;
	uint64_t now;

	if (fd >= 0)
		return fd;
	if (err != EMFILE && err != ENFILE && err != ENOBUFS && err != ENOMEM)
		return -1; /* EAGAIN, a connection reset before accept, ... */
	now = loop_now_ms();
	if (now - l->warned_ms >= 1000) {
		log_warn("%s: accept: %s; not accepting for %d ms", l->name, strerror(err),
			 LISTENER_PAUSE_MS);
		l->warned_ms = now;
	}
	listener_pause(l, LISTENER_PAUSE_MS);
	return -1;
}

void listener_pause(struct listener *l, uint64_t ms)
{
	loop_mod_fd(l->loop, l->fd, 0);
	loop_timer_arm(l->rest, ms, 0);
}

void listener_free(struct listener *l)
{
	if (!l)
		return;
	loop_del_fd(l->loop, l->fd);
	loop_timer_free(l->rest);
	close(l->fd);
	free(l);
}
