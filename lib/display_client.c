/* The guest side of the display protocol (see display_client.h). What has
 * to go out is kept as state, not as a queue: "HELLO not sent yet",
 * "SURFACE not sent yet", and a short list of damaged rectangles. Whatever
 * the socket cannot take now goes out when it turns writable, so a slow
 * display costs the VMM nothing but merged damage. */
#include "display_client.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"

/* Reconnect attempts start 100 ms apart and back off to 2 s. */
#define CLIENT_RETRY_MIN_MS 100u
#define CLIENT_RETRY_MAX_MS 2000u
/* Messages read per display_client_dispatch: the VMM's loop gets its turn
 * even when the display sends a burst. */
#define CLIENT_MSGS_PER_DISPATCH 64

struct display_client {
	char *path;
	char name[DISPLAY_NAME_SIZE];
	const struct display_client_ops *ops;
	void *opaque;
	int epfd;
	int timerfd;
	int sock;               /* -1 while not connected */
	int want_writable;      /* EPOLLOUT is armed on sock */
	int announced;          /* ops->connection(1) was called */
	int need_hello;
	int need_surface;
	int committed;          /* pending damage may go out */
	int surface_fd;         /* our dup of the memfd, -1: none yet */
	struct display_msg_surface surface;
	unsigned npending;
	struct display_rect pending[DISPLAY_DAMAGE_MAX_RECTS];
	unsigned retry_ms;
	int warned;             /* one log line per connection about bad input */
};

/* epoll data tags for the two fds */
#define TAG_SOCKET 1u
#define TAG_TIMER 2u

static void client_arm_retry(struct display_client *c)
{
	struct itimerspec its = { 0 };

	its.it_value.tv_sec = c->retry_ms / 1000;
	its.it_value.tv_nsec = (long)(c->retry_ms % 1000) * 1000000L;
	timerfd_settime(c->timerfd, 0, &its, NULL);
	c->retry_ms *= 2;
	if (c->retry_ms > CLIENT_RETRY_MAX_MS)
		c->retry_ms = CLIENT_RETRY_MAX_MS;
}

static void client_set_writable_interest(struct display_client *c, int want)
{
	struct epoll_event ev = { .events = EPOLLIN | (want ? EPOLLOUT : 0u),
				  .data.u32 = TAG_SOCKET };

	if (c->sock < 0 || c->want_writable == want)
		return;
	if (epoll_ctl(c->epfd, EPOLL_CTL_MOD, c->sock, &ev) == 0)
		c->want_writable = want;
}

static void client_disconnect(struct display_client *c, const char *why)
{
	if (c->sock < 0)
		return;
	epoll_ctl(c->epfd, EPOLL_CTL_DEL, c->sock, NULL);
	close(c->sock);
	c->sock = -1;
	c->want_writable = 0;
	c->npending = 0;
	c->committed = 0;
	log_warn("display: connection lost (%s), reconnecting", why);
	if (c->announced && c->ops && c->ops->connection)
		c->ops->connection(c->opaque, 0);
	c->announced = 0;
	c->retry_ms = CLIENT_RETRY_MIN_MS;
	client_arm_retry(c);
}

/* client_send: one message, with `fd` attached when >= 0. 0 when sent,
 * -EAGAIN when the socket is full, another -errno when the connection
 * broke. */
static int client_send(struct display_client *c, const void *msg, size_t len, int fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} control;
	struct iovec iov = { .iov_base = (void *)msg, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (fd >= 0) {
		struct cmsghdr *cm;

		memset(&control, 0, sizeof(control));
		mh.msg_control = control.buf;
		mh.msg_controllen = sizeof(control.buf);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	n = sendmsg(c->sock, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n == (ssize_t)len)
		return 0;
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return -EAGAIN;
	return n < 0 ? -errno : -EIO;
}

/* client_flush: send what waits, in protocol order. */
static void client_flush(struct display_client *c)
{
	int err = 0;

	if (c->sock < 0)
		return;
	if (c->need_hello) {
		struct display_msg_hello hello = {
			.hdr = { DISPLAY_MSG_HELLO, sizeof(hello) },
			.version = DISPLAY_PROTO_VERSION,
		};

		memcpy(hello.name, c->name, sizeof(hello.name));
		err = client_send(c, &hello, sizeof(hello), -1);
		if (!err)
			c->need_hello = 0;
	}
	if (!err && !c->announced) {
		c->announced = 1;
		if (c->ops && c->ops->connection)
			c->ops->connection(c->opaque, 1);
		if (c->sock < 0)
			return;
	}
	if (!err && c->need_surface && c->surface_fd >= 0) {
		err = client_send(c, &c->surface, sizeof(c->surface), c->surface_fd);
		if (!err)
			c->need_surface = 0;
	}
	if (!err && c->npending && c->committed && !c->need_surface) {
		struct display_msg_damage msg = { .count = c->npending };

		msg.hdr.type = DISPLAY_MSG_DAMAGE;
		msg.hdr.length = display_damage_length(c->npending);
		memcpy(msg.rects, c->pending, c->npending * sizeof(msg.rects[0]));
		err = client_send(c, &msg, msg.hdr.length, -1);
		if (!err) {
			c->npending = 0;
			c->committed = 0;
		}
	}
	if (err == -EAGAIN) {
		client_set_writable_interest(c, 1);
	} else if (err) {
		client_disconnect(c, strerror(-err));
	} else {
		client_set_writable_interest(c, 0);
	}
}

static void client_damage_all(struct display_client *c)
{
	if (c->surface_fd < 0)
		return;
	c->pending[0] = (struct display_rect){ 0, 0, c->surface.width, c->surface.height };
	c->npending = 1;
	c->committed = 1;
}

static void client_connect(struct display_client *c)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = TAG_SOCKET };
	int fd;

	strcpy(addr.sun_path, c->path); /* length checked at create */
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		client_arm_retry(c);
		return;
	}
	/* A Unix socket connects at once or fails at once (EAGAIN when the
	 * display's backlog is full): either way no waiting here. */
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    epoll_ctl(c->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		close(fd);
		client_arm_retry(c);
		return;
	}
	c->sock = fd;
	c->warned = 0;
	c->need_hello = 1;
	c->need_surface = c->surface_fd >= 0;
	client_damage_all(c);
	client_flush(c);
}

/* client_bad_message: a message from the display that breaks the protocol
 * is skipped; the first one per connection is logged. */
static void client_bad_message(struct display_client *c, const char *what)
{
	if (!c->warned)
		log_warn("display: ignoring a malformed message from the display (%s)", what);
	c->warned = 1;
}

static int32_t clamp_coord(int32_t v, uint32_t size)
{
	if (v < 0 || size == 0)
		return 0;
	if ((uint32_t)v >= size)
		return (int32_t)(size - 1);
	return v;
}

/* client_handle: check one message from the display and pass it on. */
static void client_handle(struct display_client *c, const void *buf, size_t len)
{
	struct display_msg_header hdr;

	if (len < sizeof(hdr)) {
		client_bad_message(c, "short message");
		return;
	}
	memcpy(&hdr, buf, sizeof(hdr));
	if (hdr.length != len) {
		client_bad_message(c, "length field does not match the packet");
		return;
	}
	switch (hdr.type) {
	case DISPLAY_MSG_KEY: {
		struct display_msg_key m;

		if (len != sizeof(m))
			break;
		memcpy(&m, buf, sizeof(m));
		if (m.code > DISPLAY_KEY_CODE_MAX || m.pressed > 1) {
			client_bad_message(c, "KEY out of range");
			return;
		}
		if (c->ops && c->ops->key)
			c->ops->key(c->opaque, m.code, (int)m.pressed);
		return;
	}
	case DISPLAY_MSG_POINTER: {
		struct display_msg_pointer m;

		if (len != sizeof(m))
			break;
		memcpy(&m, buf, sizeof(m));
		if (m.buttons & ~DISPLAY_BUTTONS_ALL) {
			client_bad_message(c, "POINTER buttons out of range");
			return;
		}
		/* The display may still be pointing into a surface we have
		 * since replaced: clamp rather than refuse. */
		m.x = clamp_coord(m.x, c->surface_fd >= 0 ? c->surface.width : 0);
		m.y = clamp_coord(m.y, c->surface_fd >= 0 ? c->surface.height : 0);
		if (c->ops && c->ops->pointer)
			c->ops->pointer(c->opaque, &m);
		return;
	}
	case DISPLAY_MSG_FOCUS: {
		struct display_msg_focus m;

		if (len != sizeof(m))
			break;
		memcpy(&m, buf, sizeof(m));
		if (m.focused > 1) {
			client_bad_message(c, "FOCUS out of range");
			return;
		}
		if (c->ops && c->ops->focus)
			c->ops->focus(c->opaque, (int)m.focused);
		return;
	}
	case DISPLAY_MSG_LEDS: {
		struct display_msg_leds m;

		if (len != sizeof(m))
			break;
		memcpy(&m, buf, sizeof(m));
		if (m.leds & ~DISPLAY_LEDS_ALL) {
			client_bad_message(c, "LEDS out of range");
			return;
		}
		if (c->ops && c->ops->leds)
			c->ops->leds(c->opaque, m.leds);
		return;
	}
	default:
		client_bad_message(c, "unknown message type");
		return;
	}
	client_bad_message(c, "wrong length for its type");
}

static void client_read(struct display_client *c)
{
	for (int i = 0; i < CLIENT_MSGS_PER_DISPATCH && c->sock >= 0; i++) {
		union {
			char buf[CMSG_SPACE(sizeof(int) * 4)];
			struct cmsghdr align;
		} control;
		uint32_t buf[DISPLAY_MSG_MAX_SIZE / 4 + 1];
		struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = control.buf,
				     .msg_controllen = sizeof(control.buf) };
		ssize_t n = recvmsg(c->sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return;
		if (n <= 0) {
			client_disconnect(c, n == 0 ? "the display closed it" : strerror(errno));
			return;
		}
		/* The display never sends descriptors: close any that came. */
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
			if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
				continue;
			for (size_t off = 0; off + sizeof(int) <= cm->cmsg_len - CMSG_LEN(0);
			     off += sizeof(int)) {
				int fd;

				memcpy(&fd, CMSG_DATA(cm) + off, sizeof(fd));
				close(fd);
			}
		}
		if (mh.msg_flags & MSG_TRUNC) {
			client_bad_message(c, "message too long");
			continue;
		}
		client_handle(c, buf, (size_t)n);
	}
}

void display_client_dispatch(struct display_client *c)
{
	struct epoll_event evs[2];
	int n = epoll_wait(c->epfd, evs, 2, 0);

	for (int i = 0; i < n; i++) {
		if (evs[i].data.u32 == TAG_TIMER) {
			uint64_t expirations;

			if (read(c->timerfd, &expirations, sizeof(expirations)) < 0)
				continue;
			if (c->sock < 0)
				client_connect(c);
		} else if (evs[i].data.u32 == TAG_SOCKET && c->sock >= 0) {
			if (evs[i].events & EPOLLIN)
				client_read(c);
			if (c->sock >= 0 && (evs[i].events & (EPOLLHUP | EPOLLERR)) &&
			    !(evs[i].events & EPOLLIN))
				client_disconnect(c, "hang-up");
			if (c->sock >= 0 && (evs[i].events & EPOLLOUT))
				client_flush(c);
		}
	}
}

int display_client_create(struct display_client **out, const char *path, const char *name,
			  const struct display_client_ops *ops, void *opaque)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = TAG_TIMER };
	struct sockaddr_un addr;
	struct display_client *c;

	if (!path)
		path = DISPLAY_SOCKET_DEFAULT;
	if (strlen(path) >= sizeof(addr.sun_path) || strlen(name) >= DISPLAY_NAME_SIZE)
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	strcpy(c->name, name); /* the rest stays NUL, as HELLO wants it */
	if (!display_name_is_valid(c->name)) {
		free(c);
		return -EINVAL;
	}
	c->path = strdup(path);
	c->ops = ops;
	c->opaque = opaque;
	c->sock = -1;
	c->surface_fd = -1;
	c->retry_ms = CLIENT_RETRY_MIN_MS;
	c->epfd = epoll_create1(EPOLL_CLOEXEC);
	c->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (!c->path || c->epfd < 0 || c->timerfd < 0 ||
	    epoll_ctl(c->epfd, EPOLL_CTL_ADD, c->timerfd, &ev) < 0) {
		int err = errno ? -errno : -ENOMEM;

		display_client_destroy(c);
		return err;
	}
	client_connect(c);
	*out = c;
	return 0;
}

void display_client_destroy(struct display_client *c)
{
	if (!c)
		return;
	if (c->sock >= 0)
		close(c->sock);
	if (c->surface_fd >= 0)
		close(c->surface_fd);
	if (c->timerfd >= 0)
		close(c->timerfd);
	if (c->epfd >= 0)
		close(c->epfd);
	free(c->path);
	free(c);
}

int display_client_fd(const struct display_client *c)
{
	return c->epfd;
}

int display_client_connected(const struct display_client *c)
{
	return c->sock >= 0 && c->announced;
}

int display_client_set_surface(struct display_client *c, int fd, uint32_t width,
			       uint32_t height, uint32_t stride, uint32_t format,
			       uint32_t offset)
{
	uint64_t bytes = (uint64_t)offset + (uint64_t)stride * height;
	struct stat st;
	int seals, copy;

	if (width < 1 || width > DISPLAY_MAX_WIDTH || height < 1 ||
	    height > DISPLAY_MAX_HEIGHT || stride % 4 || stride < width * 4u ||
	    stride > DISPLAY_MAX_STRIDE || format != DISPLAY_FORMAT_XRGB8888 || offset % 4 ||
	    bytes > DISPLAY_MAX_SURFACE_BYTES)
		return -EINVAL;
	if (fstat(fd, &st) < 0 || (uint64_t)st.st_size < bytes)
		return -EINVAL;
	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0 || !(seals & F_SEAL_SHRINK))
		return -EINVAL;
	copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (copy < 0)
		return -errno;
	if (c->surface_fd >= 0)
		close(c->surface_fd);
	c->surface_fd = copy;
	c->surface = (struct display_msg_surface){
		.hdr = { DISPLAY_MSG_SURFACE, sizeof(c->surface) },
		.width = width, .height = height, .stride = stride,
		.format = format, .offset = offset,
	};
	c->need_surface = 1;
	client_damage_all(c);
	client_flush(c);
	return 0;
}

static int rect_contains(const struct display_rect *a, const struct display_rect *b)
{
	return b->x >= a->x && b->y >= a->y && b->x + b->width <= a->x + a->width &&
	       b->y + b->height <= a->y + a->height;
}

void display_client_damage(struct display_client *c, uint32_t x, uint32_t y, uint32_t width,
			   uint32_t height)
{
	struct display_rect r;

	if (c->surface_fd < 0 || c->sock < 0 || x >= c->surface.width || y >= c->surface.height)
		return;
	if (width > c->surface.width - x)
		width = c->surface.width - x;
	if (height > c->surface.height - y)
		height = c->surface.height - y;
	if (!width || !height)
		return;
	r = (struct display_rect){ x, y, width, height };
	for (unsigned i = 0; i < c->npending; i++) {
		if (rect_contains(&c->pending[i], &r))
			return;
		if (rect_contains(&r, &c->pending[i])) {
			c->pending[i] = c->pending[--c->npending];
			i--;
		}
	}
	if (c->npending == DISPLAY_DAMAGE_MAX_RECTS) {
		/* Full: everything pending becomes its bounding box. */
		uint32_t x1 = r.x + r.width, y1 = r.y + r.height;

		for (unsigned i = 0; i < c->npending; i++) {
			const struct display_rect *p = &c->pending[i];

			if (p->x < r.x)
				r.x = p->x;
			if (p->y < r.y)
				r.y = p->y;
			if (p->x + p->width > x1)
				x1 = p->x + p->width;
			if (p->y + p->height > y1)
				y1 = p->y + p->height;
		}
		r.width = x1 - r.x;
		r.height = y1 - r.y;
		c->npending = 0;
	}
	c->pending[c->npending++] = r;
}

void display_client_commit(struct display_client *c)
{
	if (!c->npending || c->sock < 0)
		return;
	c->committed = 1;
	if (!c->want_writable) /* else it goes when the socket drains */
		client_flush(c);
}
