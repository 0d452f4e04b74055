/* The VMM's event loop: one thread waiting in epoll for device back ends
 * (TAP, stdin, sockets), timers and the control socket. Callbacks run on
 * that thread; devices that vCPUs also touch take their own locks. */
#ifndef DUET_EVENT_H
#define DUET_EVENT_H

#include <stdint.h>

struct event_loop;
struct event_timer;

typedef void (*event_fd_cb)(void *opaque, uint32_t events);
typedef void (*event_timer_cb)(void *opaque);

int event_loop_create(struct event_loop **loop);
void event_loop_destroy(struct event_loop *loop);

/* event_loop_run: dispatch until event_loop_quit; returns 0. */
int event_loop_run(struct event_loop *loop);
/* event_loop_quit: make event_loop_run return; safe from any thread. */
void event_loop_quit(struct event_loop *loop);

/* event_add_fd: call cb(opaque, epoll events) when fd is ready for `events`
 * (EPOLLIN, EPOLLOUT...). Level-triggered. -errno on failure. */
int event_add_fd(struct event_loop *loop, int fd, uint32_t events, event_fd_cb cb,
		 void *opaque);
int event_mod_fd(struct event_loop *loop, int fd, uint32_t events);
/* event_del_fd: stop watching fd; its callback will not run again once
 * this returns (when called on the loop thread). */
void event_del_fd(struct event_loop *loop, int fd);

/* Timers on CLOCK_MONOTONIC, each a timerfd. */
struct event_timer *event_timer_create(struct event_loop *loop, event_timer_cb cb,
				       void *opaque);
/* event_timer_arm: first expiry `delay_ns` from now (0 disarms), then every
 * `period_ns` (0: once). Safe from any thread. */
void event_timer_arm(struct event_timer *t, uint64_t delay_ns, uint64_t period_ns);
void event_timer_free(struct event_timer *t);

#endif
