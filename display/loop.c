/* duet-display's epoll loop (see loop.h). A watched fd is a heap entry the
 * epoll event points at; deleting one only marks it dead and frees it after
 * the batch, so an event already fetched for it is skipped, not followed
 * into freed memory. */
#include "loop.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

/* Events fetched per epoll_wait: every ready fd gets a turn before any
 * gets a second one. */
#define LOOP_BATCH 64

struct loop_watch {
	int fd;
	int dead;
	loop_fd_cb cb;
	void *opaque;
	struct loop_watch *next;
};

struct loop {
	int epfd;
	int quit;
	loop_cb idle;
	void *idle_opaque;
	struct loop_watch *watches;
	struct loop_watch *graveyard;
};

struct loop_timer {
	struct loop *loop;
	int fd;
	loop_cb cb;
	void *opaque;
};

uint64_t loop_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int loop_create(struct loop **out, loop_cb idle, void *opaque)
{
	struct loop *loop = calloc(1, sizeof(*loop));

	if (!loop)
		return -ENOMEM;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0) {
		int err = -errno;

		free(loop);
		return err;
	}
	loop->idle = idle;
	loop->idle_opaque = opaque;
	*out = loop;
	return 0;
}

static void loop_bury(struct loop *loop)
{
	while (loop->graveyard) {
		struct loop_watch *w = loop->graveyard;

		loop->graveyard = w->next;
		free(w);
	}
}

void loop_destroy(struct loop *loop)
{
	if (!loop)
		return;
	while (loop->watches) {
		struct loop_watch *w = loop->watches;

		loop->watches = w->next;
		free(w);
	}
	loop_bury(loop);
	close(loop->epfd);
	free(loop);
}

int loop_add_fd(struct loop *loop, int fd, uint32_t events, loop_fd_cb cb, void *opaque)
{
	struct loop_watch *w = calloc(1, sizeof(*w));
	struct epoll_event ev = { .events = events };

	if (!w)
		return -ENOMEM;
	w->fd = fd;
	w->cb = cb;
	w->opaque = opaque;
	ev.data.ptr = w;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int err = -errno;

		free(w);
		return err;
	}
	w->next = loop->watches;
	loop->watches = w;
	return 0;
}

static struct loop_watch *loop_find(struct loop *loop, int fd, struct loop_watch ***link)
{
	for (struct loop_watch **p = &loop->watches; *p; p = &(*p)->next) {
		if ((*p)->fd == fd) {
			if (link)
				*link = p;
			return *p;
		}
	}
	return NULL;
}

int loop_mod_fd(struct loop *loop, int fd, uint32_t events)
{
	struct loop_watch *w = loop_find(loop, fd, NULL);
	struct epoll_event ev = { .events = events };

	if (!w)
		return -ENOENT;
	ev.data.ptr = w;
	return epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
}

void loop_del_fd(struct loop *loop, int fd)
{
	struct loop_watch **link, *w = loop_find(loop, fd, &link);

	if (!w)
		return;
	epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
	*link = w->next;
	w->dead = 1;
	w->next = loop->graveyard;
	loop->graveyard = w;
}

int loop_run(struct loop *loop)
{
	struct epoll_event evs[LOOP_BATCH];

	loop->quit = 0;
	while (!loop->quit) {
		int n = epoll_wait(loop->epfd, evs, LOOP_BATCH, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (int i = 0; i < n && !loop->quit; i++) {
			struct loop_watch *w = evs[i].data.ptr;

			if (!w->dead)
				w->cb(w->opaque, evs[i].events);
		}
		loop_bury(loop);
		if (loop->idle && !loop->quit)
			loop->idle(loop->idle_opaque);
		loop_bury(loop);
	}
	return 0;
}

void loop_quit(struct loop *loop)
{
	loop->quit = 1;
}

static void loop_timer_fired(void *opaque, uint32_t events)
{
	struct loop_timer *t = opaque;
	uint64_t expirations;

	(void)events;
	if (read(t->fd, &expirations, sizeof(expirations)) != sizeof(expirations))
		return;
	t->cb(t->opaque);
}

struct loop_timer *loop_timer_create(struct loop *loop, loop_cb cb, void *opaque)
{
	struct loop_timer *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->loop = loop;
	t->cb = cb;
	t->opaque = opaque;
	t->fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (t->fd < 0 || loop_add_fd(loop, t->fd, EPOLLIN, loop_timer_fired, t)) {
		if (t->fd >= 0)
			close(t->fd);
		free(t);
		return NULL;
	}
	return t;
}

void loop_timer_arm(struct loop_timer *t, uint64_t delay_ms, uint64_t period_ms)
{
	struct itimerspec its = {
		.it_value = { (time_t)(delay_ms / 1000), (long)(delay_ms % 1000) * 1000000L },
		.it_interval = { (time_t)(period_ms / 1000), (long)(period_ms % 1000) * 1000000L },
	};

	timerfd_settime(t->fd, 0, &its, NULL);
}

void loop_timer_free(struct loop_timer *t)
{
	if (!t)
		return;
	loop_del_fd(t->loop, t->fd);
	close(t->fd);
	free(t);
}
