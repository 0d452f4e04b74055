/* duet-display's main loop: one thread waiting in epoll for guests, the
 * control socket, input devices, the output and timers. Every callback runs
 * on that thread. After each batch of events the loop calls its `idle`
 * hook, where the display composes what the batch damaged. */
#ifndef DUET_DISPLAY_LOOP_H
#define DUET_DISPLAY_LOOP_H

#include <stdint.h>

struct loop;
struct loop_timer;

typedef void (*loop_fd_cb)(void *opaque, uint32_t events);
typedef void (*loop_cb)(void *opaque);

int loop_create(struct loop **out, loop_cb idle, void *opaque);
void loop_destroy(struct loop *loop);

/* loop_run: dispatch until loop_quit; returns 0 or -errno. */
int loop_run(struct loop *loop);
void loop_quit(struct loop *loop);

/* loop_add_fd: call cb(opaque, epoll events) while fd is ready for
 * `events` (level-triggered). loop_del_fd may be called from any callback,
 * also for an fd whose event is pending in the same batch: its callback
 * will not run again. */
int loop_add_fd(struct loop *loop, int fd, uint32_t events, loop_fd_cb cb, void *opaque);
int loop_mod_fd(struct loop *loop, int fd, uint32_t events);
void loop_del_fd(struct loop *loop, int fd);

/* Timers on CLOCK_MONOTONIC. loop_timer_arm: first expiry after delay_ms
 * (0 disarms), then every period_ms (0: once). */
struct loop_timer *loop_timer_create(struct loop *loop, loop_cb cb, void *opaque);
void loop_timer_arm(struct loop_timer *t, uint64_t delay_ms, uint64_t period_ms);
void loop_timer_free(struct loop_timer *t);

/* loop_now_ms: CLOCK_MONOTONIC in milliseconds. */
uint64_t loop_now_ms(void);

#endif
