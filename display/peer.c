/* Guests' connections (see peer.h). Every message is checked against
 * lib/display_proto.h before anything acts on it: the packet size, the
 * header's length, the type's exact size, reserved fields, every limit, and
 * which file descriptors came with it. A peer that fails a check is
 * dropped at once with one log line naming the check; the descriptors it
 * sent are closed. Work per wakeup is bounded (PEER_MSGS_PER_WAKEUP) and so
 * is the rate (PEER_MSG_RATE), so a flooding peer neither starves the
 * others nor keeps the display busy. */
#include "peer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "display.h"
#include "listener.h"
#include "log.h"
#include "loop.h"

/* Descriptors taken from one message; more is a protocol error, and the
 * kernel closes what does not fit (MSG_CTRUNC). */
#define PEER_MAX_FDS 4

struct out_msg {
	uint32_t len;
	union {
		struct display_msg_header hdr;
		struct display_msg_key key;
		struct display_msg_pointer pointer;
		struct display_msg_focus focus;
		struct display_msg_leds leds;
	} u;
};

struct peer {
	struct display *d;
	int fd;                  /* -1 once ended */
	int pid;
	struct guest *guest;     /* after HELLO */
	uint64_t connected_ms;
	uint64_t window_ms;      /* start of the current rate window */
	unsigned window_msgs;
	struct out_msg out[PEER_OUTBOX];
	unsigned out_head, out_count;
	int want_writable;
	struct peer *next;
};

int peer_pid(const struct peer *p)
{
	return p->pid;
}

static void peer_end(struct peer *p, enum log_level level, const char *what, const char *fmt,
		     va_list ap)
{
	struct display *d = p->d;
	char why[256];

	if (p->fd < 0)
		return;
	vsnprintf(why, sizeof(why), fmt, ap);
	if (p->guest)
		log_msg(level, "guest '%s' (pid %d): %s: %s", p->guest->name, p->pid, what, why);
	else
		log_msg(level, "unnamed peer (pid %d): %s: %s", p->pid, what, why);
	loop_del_fd(d->loop, p->fd);
	close(p->fd);
	p->fd = -1;
	d->npeers--;
	if (p->guest) {
		struct guest *g = p->guest;

		p->guest = NULL;
		display_guest_detach(d, g);
	}
}

/* peer_drop: the peer broke a rule: one warning, and it is gone. */
static void peer_drop(struct peer *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void peer_drop(struct peer *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	peer_end(p, LOG_WARN, "dropped", fmt, ap);
	va_end(ap);
}

/* peer_gone: the peer went away by itself. */
static void peer_gone(struct peer *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void peer_gone(struct peer *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	peer_end(p, LOG_INFO, "disconnected", fmt, ap);
	va_end(ap);
}

void peer_reap(struct display *d)
{
	for (struct peer **link = &d->peers; *link;) {
		struct peer *p = *link;

		if (p->fd >= 0) {
			link = &p->next;
			continue;
		}
		*link = p->next;
		free(p);
	}
}

void peer_close_all(struct display *d)
{
	for (struct peer *p = d->peers; p; p = p->next)
		if (p->fd >= 0)
			peer_gone(p, "the display is shutting down");
	peer_reap(d);
	if (d->listener) {
		listener_free(d->listener);
		unlink(d->opts->socket);
		d->listener = NULL;
	}
}

/* ---- what the guest sends ---- */

static void peer_hello(struct peer *p, const struct display_msg_hello *m)
{
	const char *why = NULL;

	if (p->guest) {
		peer_drop(p, "a second HELLO");
		return;
	}
	if (m->version != DISPLAY_PROTO_VERSION) {
		peer_drop(p, "protocol version %u, this display speaks %d", m->version,
			  DISPLAY_PROTO_VERSION);
		return;
	}
	if (m->flags) {
		peer_drop(p, "HELLO flags 0x%x, reserved bits must be 0", m->flags);
		return;
	}
	if (!display_name_is_valid(m->name)) {
		peer_drop(p, "HELLO name is not 1-31 of A-Z a-z 0-9 . _ - NUL-padded (or is 'screen')");
		return;
	}
	p->guest = display_guest_attach(p->d, p, m->name, &why);
	if (!p->guest)
		peer_drop(p, "'%s': %s", m->name, why);
}

/* peer_surface: check a SURFACE and map its memfd read-only. Consumes fd. */
static void peer_surface(struct peer *p, const struct display_msg_surface *m, int fd)
{
	uint64_t bytes = (uint64_t)m->offset + (uint64_t)m->stride * m->height;
	struct stat st;
	void *map;
	int seals;

	if (m->width < 1 || m->width > DISPLAY_MAX_WIDTH || m->height < 1 ||
	    m->height > DISPLAY_MAX_HEIGHT) {
		peer_drop(p, "SURFACE %ux%u is not within 1x1..%dx%d", m->width, m->height,
			  DISPLAY_MAX_WIDTH, DISPLAY_MAX_HEIGHT);
		goto out;
	}
	if (m->format != DISPLAY_FORMAT_XRGB8888) {
		peer_drop(p, "SURFACE format 0x%08x is not XRGB8888", m->format);
		goto out;
	}
	if (m->stride % 4 || m->stride < m->width * 4u || m->stride > DISPLAY_MAX_STRIDE) {
		peer_drop(p, "SURFACE stride %u does not fit width %u (a multiple of 4, %u..%d)",
			  m->stride, m->width, m->width * 4u, DISPLAY_MAX_STRIDE);
		goto out;
	}
	if (m->offset % 4 || m->reserved) {
		peer_drop(p, "SURFACE offset %u not a multiple of 4 or reserved field not 0",
			  m->offset);
		goto out;
	}
	if (bytes > DISPLAY_MAX_SURFACE_BYTES) {
		peer_drop(p, "SURFACE needs %llu bytes, more than %u", (unsigned long long)bytes,
			  DISPLAY_MAX_SURFACE_BYTES);
		goto out;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		peer_drop(p, "SURFACE descriptor is not a memfd");
		goto out;
	}
	if ((uint64_t)st.st_size < bytes) {
		peer_drop(p, "SURFACE memfd has %lld bytes, the surface needs %llu",
			  (long long)st.st_size, (unsigned long long)bytes);
		goto out;
	}
	/* Without F_SEAL_SHRINK the guest could truncate the memfd under our
	 * mapping, and reading it would kill the display with SIGBUS. */
	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0 || !(seals & F_SEAL_SHRINK)) {
		peer_drop(p, "SURFACE memfd is not sealed with F_SEAL_SHRINK");
		goto out;
	}
	map = mmap(NULL, (size_t)bytes, PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		peer_drop(p, "SURFACE memfd cannot be mapped: %s", strerror(errno));
		goto out;
	}
	display_guest_surface(p->d, p->guest, map, (size_t)bytes, m->offset, m->width, m->height,
			      m->stride);
out:
	close(fd);
}

static void peer_damage(struct peer *p, const struct display_msg_damage *m, size_t len)
{
	const struct guest *g = p->guest;

	if (len < display_damage_length(0) || m->count > DISPLAY_DAMAGE_MAX_RECTS ||
	    len != display_damage_length(m->count)) {
		peer_drop(p, "DAMAGE of %zu bytes does not hold %u rectangles", len, m->count);
		return;
	}
	if (m->reserved) {
		peer_drop(p, "DAMAGE reserved field not 0");
		return;
	}
	if (!g->pixels) {
		peer_drop(p, "DAMAGE before any SURFACE");
		return;
	}
	for (unsigned i = 0; i < m->count; i++) {
		const struct display_rect *r = &m->rects[i];

		if ((uint64_t)r->x + r->width > g->width || (uint64_t)r->y + r->height > g->height) {
			peer_drop(p, "DAMAGE rectangle %ux%u+%u+%u is outside the %ux%u surface",
				  r->width, r->height, r->x, r->y, g->width, g->height);
			return;
		}
	}
	display_guest_damage(p->d, p->guest, m->rects, m->count);
}

/* peer_handle: one packet of `len` bytes with `nfds` descriptors, which
 * it closes or hands on. */
static void peer_handle(struct peer *p, const void *buf, size_t len, int *fds, int nfds)
{
	struct display_msg_header hdr;
	size_t want = 0;

	if (len < sizeof(hdr)) {
		peer_drop(p, "a packet of %zu bytes is shorter than a header", len);
		goto close_fds;
	}
	memcpy(&hdr, buf, sizeof(hdr));
	if (hdr.length != len) {
		peer_drop(p, "header length %u but the packet has %zu bytes", hdr.length, len);
		goto close_fds;
	}
	if (!p->guest && hdr.type != DISPLAY_MSG_HELLO) {
		peer_drop(p, "message type %u before HELLO", hdr.type);
		goto close_fds;
	}
	if (nfds && hdr.type != DISPLAY_MSG_SURFACE) {
		peer_drop(p, "%d file descriptor(s) came with message type %u", nfds, hdr.type);
		goto close_fds;
	}
	switch (hdr.type) {
	case DISPLAY_MSG_HELLO:
		want = sizeof(struct display_msg_hello);
		break;
	case DISPLAY_MSG_SURFACE:
		want = sizeof(struct display_msg_surface);
		break;
	case DISPLAY_MSG_DAMAGE:
		peer_damage(p, buf, len);
		return;
	default:
		peer_drop(p, "unknown message type %u", hdr.type);
		goto close_fds;
	}
	if (len != want) {
		peer_drop(p, "message type %u has %zu bytes, not %zu", hdr.type, len, want);
		goto close_fds;
	}
	if (hdr.type == DISPLAY_MSG_HELLO) {
		struct display_msg_hello m;

		memcpy(&m, buf, sizeof(m));
		peer_hello(p, &m);
		return;
	}
	if (nfds != 1) {
		peer_drop(p, "SURFACE came with %d file descriptors, not 1", nfds);
		goto close_fds;
	}
	{
		struct display_msg_surface m;

		memcpy(&m, buf, sizeof(m));
		peer_surface(p, &m, fds[0]);
	}
	return;
close_fds:
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
}

/* peer_over_rate: count one message; 1 when the peer floods. */
static int peer_over_rate(struct peer *p)
{
	uint64_t now = loop_now_ms();

	if (now - p->window_ms >= 1000) {
		p->window_ms = now;
		p->window_msgs = 0;
	}
	return ++p->window_msgs > PEER_MSG_RATE;
}

static void peer_read(struct peer *p)
{
	for (int i = 0; i < PEER_MSGS_PER_WAKEUP && p->fd >= 0; i++) {
		union {
			char buf[CMSG_SPACE(sizeof(int) * PEER_MAX_FDS)];
			struct cmsghdr align;
		} control;
		uint32_t buf[DISPLAY_MSG_MAX_SIZE / 4];
		struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = control.buf,
				     .msg_controllen = sizeof(control.buf) };
		int fds[PEER_MAX_FDS], nfds = 0;
		ssize_t n = recvmsg(p->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				peer_gone(p, "%s", strerror(errno));
			return;
		}
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
			if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
				continue;
			for (size_t off = 0; off + sizeof(int) <= cm->cmsg_len - CMSG_LEN(0);
			     off += sizeof(int)) {
				int fd;

				memcpy(&fd, CMSG_DATA(cm) + off, sizeof(fd));
				if (nfds < PEER_MAX_FDS)
					fds[nfds++] = fd;
				else
					close(fd);
			}
		}
		if (n == 0) {
			/* EOF (or an empty packet, which no message is) */
			for (int k = 0; k < nfds; k++)
				close(fds[k]);
			peer_gone(p, "connection closed");
			return;
		}
		if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
			for (int k = 0; k < nfds; k++)
				close(fds[k]);
			if (mh.msg_flags & MSG_TRUNC)
				peer_drop(p, "a packet longer than %zu bytes", sizeof(buf));
			else
				peer_drop(p, "more than %d file descriptors in one message",
					  PEER_MAX_FDS);
			return;
		}
		if (peer_over_rate(p)) {
			for (int k = 0; k < nfds; k++)
				close(fds[k]);
			peer_drop(p, "flood: more than %d messages in a second", PEER_MSG_RATE);
			return;
		}
		peer_handle(p, buf, (size_t)n, fds, nfds);
	}
}

/* ---- what the display sends ---- */

static void peer_set_writable_interest(struct peer *p, int want)
{
	if (p->want_writable == want || p->fd < 0)
		return;
	if (loop_mod_fd(p->d->loop, p->fd, EPOLLIN | (want ? EPOLLOUT : 0u)) == 0)
		p->want_writable = want;
}

/* peer_try_send: 1 sent, 0 socket full, -1 the peer is gone. */
static int peer_try_send(struct peer *p, const struct out_msg *m)
{
	ssize_t n = send(p->fd, &m->u, m->len, MSG_DONTWAIT | MSG_NOSIGNAL);

	if (n == (ssize_t)m->len)
		return 1;
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	peer_gone(p, "sending: %s", n < 0 ? strerror(errno) : "short send");
	return -1;
}

static void peer_flush(struct peer *p)
{
	while (p->out_count && p->fd >= 0) {
		int r = peer_try_send(p, &p->out[p->out_head]);

		if (r <= 0) {
			if (r == 0)
				peer_set_writable_interest(p, 1);
			return;
		}
		p->out_head = (p->out_head + 1) % PEER_OUTBOX;
		p->out_count--;
	}
	peer_set_writable_interest(p, 0);
}

static int32_t add_clamped(int32_t a, int32_t b)
{
	int64_t sum = (int64_t)a + b;

	return sum > 32767 ? 32767 : sum < -32767 ? -32767 : (int32_t)sum;
}

static void peer_queue(struct peer *p, const struct out_msg *m)
{
	struct out_msg *last;

	if (!p || p->fd < 0)
		return;
	if (!p->out_count) {
		if (peer_try_send(p, m))
			return;
	} else {
		/* Motion waiting behind a slow reader is merged, so a fast
		 * mouse cannot fill the outbox on its own. */
		last = &p->out[(p->out_head + p->out_count - 1) % PEER_OUTBOX];
		if (m->u.hdr.type == DISPLAY_MSG_POINTER && last->u.hdr.type == DISPLAY_MSG_POINTER &&
		    last->u.pointer.buttons == m->u.pointer.buttons) {
			last->u.pointer.x = m->u.pointer.x;
			last->u.pointer.y = m->u.pointer.y;
			last->u.pointer.dx = add_clamped(last->u.pointer.dx, m->u.pointer.dx);
			last->u.pointer.dy = add_clamped(last->u.pointer.dy, m->u.pointer.dy);
			last->u.pointer.wheel = add_clamped(last->u.pointer.wheel, m->u.pointer.wheel);
			return;
		}
	}
	if (p->out_count == PEER_OUTBOX) {
		peer_drop(p, "does not read its input (%d messages waiting)", PEER_OUTBOX);
		return;
	}
	p->out[(p->out_head + p->out_count) % PEER_OUTBOX] = *m;
	p->out_count++;
	peer_set_writable_interest(p, 1);
}

void peer_send_key(struct peer *p, unsigned code, int pressed)
{
	struct out_msg m = { .len = sizeof(struct display_msg_key) };

	m.u.key = (struct display_msg_key){ { DISPLAY_MSG_KEY, m.len }, code, pressed ? 1u : 0u };
	peer_queue(p, &m);
}

void peer_send_pointer(struct peer *p, int32_t x, int32_t y, int32_t dx, int32_t dy,
		       uint32_t buttons, int32_t wheel)
{
	struct out_msg m = { .len = sizeof(struct display_msg_pointer) };

	m.u.pointer = (struct display_msg_pointer){ { DISPLAY_MSG_POINTER, m.len },
						    x, y, dx, dy, buttons, wheel };
	peer_queue(p, &m);
}

void peer_send_focus(struct peer *p, int focused)
{
	struct out_msg m = { .len = sizeof(struct display_msg_focus) };

	m.u.focus = (struct display_msg_focus){ { DISPLAY_MSG_FOCUS, m.len }, focused ? 1u : 0u };
	peer_queue(p, &m);
}

void peer_send_leds(struct peer *p, unsigned leds)
{
	struct out_msg m = { .len = sizeof(struct display_msg_leds) };

	m.u.leds = (struct display_msg_leds){ { DISPLAY_MSG_LEDS, m.len }, leds & DISPLAY_LEDS_ALL };
	peer_queue(p, &m);
}

/* ---- connections ---- */

static void peer_event(void *opaque, uint32_t events)
{
	struct peer *p = opaque;

	if (events & EPOLLIN)
		peer_read(p);
	else if (events & (EPOLLHUP | EPOLLERR))
		peer_gone(p, "hang-up");
	if (p->fd >= 0 && (events & EPOLLOUT))
		peer_flush(p);
}

static void peer_hello_deadline(void *opaque)
{
	struct display *d = opaque;
	uint64_t now = loop_now_ms();
	int waiting = 0;

	for (struct peer *p = d->peers; p; p = p->next) {
		if (p->fd < 0 || p->guest)
			continue;
		if (now - p->connected_ms >= PEER_HELLO_TIMEOUT_MS)
			peer_drop(p, "no HELLO within %d ms", PEER_HELLO_TIMEOUT_MS);
		else
			waiting = 1;
	}
	if (!waiting)
		loop_timer_arm(d->hello_timer, 0, 0);
}

static void peer_accept(void *opaque)
{
	struct display *d = opaque;

	for (int i = 0; i < PEER_ACCEPTS_PER_WAKEUP; i++) {
		struct ucred cred = { .pid = 0 };
		socklen_t credlen = sizeof(cred);
		struct peer *p;
		int fd = listener_accept(d->listener, NULL, NULL);

		if (fd < 0)
			return;
		getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &credlen);
		if (d->npeers >= PEER_MAX_CONNECTIONS) {
			uint64_t now = loop_now_ms();

			/* one line a second at most, however fast they come */
			if (now - d->refused_log_ms >= 1000) {
				log_warn("refused a connection (pid %d): %d are open already",
					 (int)cred.pid, PEER_MAX_CONNECTIONS);
				d->refused_log_ms = now;
			}
			close(fd);
			continue;
		}
		p = calloc(1, sizeof(*p));
		if (!p || loop_add_fd(d->loop, fd, EPOLLIN, peer_event, p)) {
			free(p);
			close(fd);
			continue;
		}
		p->d = d;
		p->fd = fd;
		p->pid = (int)cred.pid;
		p->connected_ms = p->window_ms = loop_now_ms();
		p->next = d->peers;
		d->peers = p;
		d->npeers++;
		log_debug("connection from pid %d", p->pid);
		loop_timer_arm(d->hello_timer, 1000, 1000);
	}
}

int peer_listen(struct display *d)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	const char *path = d->opts->socket;
	struct stat st;
	int fd, err;

	if (strlen(path) >= sizeof(addr.sun_path)) {
		log_error("display socket '%s': path too long", path);
		return -ENAMETOOLONG;
	}
	strcpy(addr.sun_path, path);
	d->hello_timer = loop_timer_create(d->loop, peer_hello_deadline, d);
	if (!d->hello_timer)
		return -ENOMEM;
	/* A socket left by a display that died is replaced; a live one, or
	 * any other file, is not. */
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
		int probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
		int live = probe >= 0 && connect(probe, (struct sockaddr *)&addr, sizeof(addr)) == 0;

		if (probe >= 0)
			close(probe);
		if (live) {
			log_error("display socket '%s': another display is listening there", path);
			return -EADDRINUSE;
		}
		unlink(path);
	}
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 16) < 0) {
		err = -errno;
		log_error("display socket '%s': %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return err;
	}
	chmod(path, 0660);
	err = listener_create(&d->listener, d->loop, fd, "display socket", peer_accept, d);
	if (err)
		close(fd);
	return err;
}
