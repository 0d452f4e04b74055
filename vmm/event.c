/* The event loop: epoll, with timerfds for timers and an eventfd to quit. */
#include "event.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "log.h"

#define EVENT_MAX_WATCHES 256
#define EVENT_BATCH 32

struct event_watch {
	int fd;
	event_fd_cb cb;
	void *opaque;
	int live;
};

struct event_loop {
	int epfd;
	int quit_fd;
	int quitting;
	pthread_mutex_t lock;
	struct event_watch watches[EVENT_MAX_WATCHES];
};

struct event_timer {
	struct event_loop *loop;
	int fd;
	event_timer_cb cb;
	void *opaque;
};

int event_loop_create(struct event_loop **out)
{
	struct event_loop *loop = calloc(1, sizeof(*loop));
	struct epoll_event ev = { .events = EPOLLIN };

	if (!loop)
		return -ENOMEM;
	pthread_mutex_init(&loop->lock, NULL);
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	loop->quit_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (loop->epfd < 0 || loop->quit_fd < 0)
		goto fail;
	ev.data.ptr = NULL; /* NULL marks the quit eventfd */
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, loop->quit_fd, &ev) < 0)
		goto fail;
	*out = loop;
	return 0;
fail:
	{
		int err = -errno;

		event_loop_destroy(loop);
		return err;
	}
}

void event_loop_destroy(struct event_loop *loop)
{
	if (!loop)
		return;
	if (loop->epfd >= 0)
		close(loop->epfd);
	if (loop->quit_fd >= 0)
		close(loop->quit_fd);
	pthread_mutex_destroy(&loop->lock);
	free(loop);
}

void event_loop_quit(struct event_loop *loop)
{
	uint64_t one = 1;

	loop->quitting = 1;
	if (write(loop->quit_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("event loop: cannot signal quit: %s", strerror(errno));
}

int event_loop_run(struct event_loop *loop)
{
	struct epoll_event evs[EVENT_BATCH];

	while (!__atomic_load_n(&loop->quitting, __ATOMIC_ACQUIRE)) {
		int n = epoll_wait(loop->epfd, evs, EVENT_BATCH, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_error("event loop: epoll_wait: %s", strerror(errno));
			return -errno;
		}
		for (int i = 0; i < n; i++) {
			struct event_watch *w = evs[i].data.ptr;
			event_fd_cb cb;
			void *opaque;

			if (!w)
				continue;
			pthread_mutex_lock(&loop->lock);
			cb = w->live ? w->cb : NULL;
			opaque = w->opaque;
			pthread_mutex_unlock(&loop->lock);
			if (cb)
				cb(opaque, evs[i].events);
		}
	}
	return 0;
}

int event_add_fd(struct event_loop *loop, int fd, uint32_t events, event_fd_cb cb,
		 void *opaque)
{
	struct event_watch *w = NULL;
	struct epoll_event ev;
	int err = 0;

	pthread_mutex_lock(&loop->lock);
	for (unsigned i = 0; i < EVENT_MAX_WATCHES; i++) {
		if (!loop->watches[i].live) {
			w = &loop->watches[i];
			break;
		}
	}
	if (!w) {
		err = -ENOSPC;
	} else {
		*w = (struct event_watch){ fd, cb, opaque, 1 };
		ev.events = events;
		ev.data.ptr = w;
		if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			err = -errno;
			w->live = 0;
		}
	}
	pthread_mutex_unlock(&loop->lock);
	return err;
}

static struct event_watch *event_find(struct event_loop *loop, int fd)
{
	for (unsigned i = 0; i < EVENT_MAX_WATCHES; i++)
		if (loop->watches[i].live && loop->watches[i].fd == fd)
			return &loop->watches[i];
	return NULL;
}

int event_mod_fd(struct event_loop *loop, int fd, uint32_t events)
{
	struct event_watch *w;
	int err = -ENOENT;

	pthread_mutex_lock(&loop->lock);
	w = event_find(loop, fd);
	if (w) {
		struct epoll_event ev = { .events = events, .data.ptr = w };

		err = epoll_ctl(loop->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
	}
	pthread_mutex_unlock(&loop->lock);
	return err;
}

void event_del_fd(struct event_loop *loop, int fd)
{
	struct event_watch *w;

	pthread_mutex_lock(&loop->lock);
	w = event_find(loop, fd);
	if (w) {
		epoll_ctl(loop->epfd, EPOLL_CTL_DEL, fd, NULL);
		w->live = 0;
	}
	pthread_mutex_unlock(&loop->lock);
}

static void event_timer_fired(void *opaque, uint32_t events)
{
	struct event_timer *t = opaque;
	uint64_t expirations;

	(void)events;
	if (read(t->fd, &expirations, sizeof(expirations)) != sizeof(expirations))
		return;
	t->cb(t->opaque);
}

struct event_timer *event_timer_create(struct event_loop *loop, event_timer_cb cb,
				       void *opaque)
{
	struct event_timer *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->loop = loop;
	t->cb = cb;
	t->opaque = opaque;
	t->fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (t->fd < 0 || event_add_fd(loop, t->fd, EPOLLIN, event_timer_fired, t)) {
		if (t->fd >= 0)
			close(t->fd);
		free(t);
		return NULL;
	}
	return t;
}

void event_timer_arm(struct event_timer *t, uint64_t delay_ns, uint64_t period_ns)
{
	struct itimerspec its = {
		.it_value = { (time_t)(delay_ns / 1000000000u), (long)(delay_ns % 1000000000u) },
		.it_interval = { (time_t)(period_ns / 1000000000u), (long)(period_ns % 1000000000u) },
	};

	timerfd_settime(t->fd, 0, &its, NULL);
}

void event_timer_free(struct event_timer *t)
{
	if (!t)
		return;
	event_del_fd(t->loop, t->fd);
	close(t->fd);
	free(t);
}
