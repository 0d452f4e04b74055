/* A test peer for duet-display: a guest without KVM. By default it serves
 * a solid-colour surface through lib/display_client.c (with --animate, a
 * white square runs along its top 16 lines, damaging only what moves) and
 * writes every input event it receives to --record, one line each:
 *   connected 1|0   focus 1|0   key CODE 1|0   leds BITS
 *   pointer X Y DX DY BUTTONS WHEEL
 * With --hostile MODE it is a broken or malicious guest instead: it speaks
 * the protocol by hand, commits the one fault MODE names, and waits for
 * the display to drop it. Exit status: 0 when the display closed the
 * connection (for --hostile: it was dropped), 3 when it did not within
 * 10 s, 2 on a bad command line, 1 on other failures. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "display_client.h"
#include "display_proto.h"
#include "log.h"

#define SQUARE 16
#define HOSTILE_WAIT_MS 10000

struct peer_state {
	const char *socket;
	const char *name;
	uint32_t width, height, stride;
	uint32_t rgb;
	int animate;
	unsigned fps;
	int record_fd;
	int memfd;
	uint32_t *pixels;
	uint32_t square_x;
	struct display_client *client;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void record(struct peer_state *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void record(struct peer_state *s, const char *fmt, ...)
{
	char line[160];
	va_list ap;
	int n;

	if (s->record_fd < 0)
		return;
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	line[n++] = '\n';
	if (write(s->record_fd, line, (size_t)n) != n)
		exit(1);
}

static void on_connection(void *opaque, int connected)
{
	record(opaque, "connected %d", connected);
}

static void on_key(void *opaque, unsigned code, int pressed)
{
	record(opaque, "key %u %d", code, pressed);
}

static void on_pointer(void *opaque, const struct display_msg_pointer *p)
{
	record(opaque, "pointer %d %d %d %d %u %d", p->x, p->y, p->dx, p->dy, p->buttons, p->wheel);
}

static void on_focus(void *opaque, int focused)
{
	record(opaque, "focus %d", focused);
}

static void on_leds(void *opaque, unsigned leds)
{
	record(opaque, "leds %u", leds);
}

static const struct display_client_ops peer_ops = {
	.connection = on_connection,
	.key = on_key,
	.pointer = on_pointer,
	.focus = on_focus,
	.leds = on_leds,
};

/* make_memfd: `size` bytes, sealed against shrinking when `seal`. */
static int make_memfd(size_t size, int seal)
{
	int fd = memfd_create("duet-peer", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0 || ftruncate(fd, (off_t)size) < 0)
		return -1;
	if (seal && fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) < 0)
		return -1;
	return fd;
}

static void fill(struct peer_state *s, uint32_t x, uint32_t y, uint32_t w, uint32_t h,
		 uint32_t rgb)
{
	for (uint32_t j = y; j < y + h && j < s->height; j++)
		for (uint32_t i = x; i < x + w && i < s->width; i++)
			s->pixels[j * (s->stride / 4) + i] = rgb;
}

static void animate_step(struct peer_state *s)
{
	uint32_t old = s->square_x;

	fill(s, old, 0, SQUARE, SQUARE, s->rgb);
	s->square_x = (old + 4) % (s->width > SQUARE ? s->width - SQUARE : 1);
	fill(s, s->square_x, 0, SQUARE, SQUARE, 0xffffff);
	display_client_damage(s->client, old, 0, SQUARE, SQUARE);
	display_client_damage(s->client, s->square_x, 0, SQUARE, SQUARE);
	display_client_commit(s->client);
}

static int serve(struct peer_state *s)
{
	size_t bytes = (size_t)s->stride * s->height;
	struct pollfd pfd[2];
	int timer = -1, err;

	s->memfd = make_memfd(bytes, 1);
	if (s->memfd < 0)
		return 1;
	s->pixels = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, s->memfd, 0);
	if (s->pixels == MAP_FAILED)
		return 1;
	fill(s, 0, 0, s->width, s->height, s->rgb);
	err = display_client_create(&s->client, s->socket, s->name, &peer_ops, s);
	if (err) {
		fprintf(stderr, "peer: display_client_create: %s\n", strerror(-err));
		return 1;
	}
	err = display_client_set_surface(s->client, s->memfd, s->width, s->height, s->stride,
					 DISPLAY_FORMAT_XRGB8888, 0);
	if (err) {
		fprintf(stderr, "peer: display_client_set_surface: %s\n", strerror(-err));
		return 1;
	}
	if (s->animate) {
		struct itimerspec its = { .it_interval = { 0, 1000000000L / s->fps },
					  .it_value = { 0, 1000000000L / s->fps } };

		timer = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
		timerfd_settime(timer, 0, &its, NULL);
	}
	pfd[0] = (struct pollfd){ .fd = display_client_fd(s->client), .events = POLLIN };
	pfd[1] = (struct pollfd){ .fd = timer, .events = POLLIN };
	while (!stop) {
		if (poll(pfd, timer >= 0 ? 2 : 1, -1) < 0)
			continue;
		if (pfd[0].revents)
			display_client_dispatch(s->client);
		if (timer >= 0 && pfd[1].revents) {
			uint64_t n;

			if (read(timer, &n, sizeof(n)) == sizeof(n))
				animate_step(s);
		}
	}
	display_client_destroy(s->client);
	munmap(s->pixels, bytes);
	close(s->memfd);
	if (timer >= 0)
		close(timer);
	return 0;
}

/* ---- hostile peers ---- */

static int raw_connect(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	strncpy(addr.sun_path, path, sizeof(addr.sun_path) - 1);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		perror("peer: connect");
		exit(1);
	}
	return fd;
}

/* raw_send: one packet with `nfds` descriptors; -1 once the display has
 * closed the connection. */
static int raw_send(int sock, const void *buf, size_t len, const int *fds, int nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 4)];
		struct cmsghdr align;
	} control;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (nfds) {
		struct cmsghdr *cm;

		memset(&control, 0, sizeof(control));
		mh.msg_control = control.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)nfds);
	}
	return sendmsg(sock, &mh, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

static void raw_hello(int sock, const char *name, uint32_t version, int fd)
{
	struct display_msg_hello m = { .hdr = { DISPLAY_MSG_HELLO, sizeof(m) }, .version = version };

	strncpy(m.name, name, sizeof(m.name) - 1);
	raw_send(sock, &m, sizeof(m), &fd, fd >= 0 ? 1 : 0);
}

static struct display_msg_surface surface_msg(uint32_t w, uint32_t h, uint32_t stride)
{
	return (struct display_msg_surface){ .hdr = { DISPLAY_MSG_SURFACE, 32 }, .width = w,
					     .height = h, .stride = stride,
					     .format = DISPLAY_FORMAT_XRGB8888 };
}

static void raw_surface(int sock, uint32_t w, uint32_t h)
{
	struct display_msg_surface m = surface_msg(w, h, w * 4);
	int fd = make_memfd((size_t)w * h * 4, 1);

	raw_send(sock, &m, sizeof(m), &fd, 1);
	close(fd);
}

static void raw_damage(int sock, uint32_t x, uint32_t y, uint32_t w, uint32_t h)
{
	struct display_msg_damage m = { .count = 1 };

	m.hdr = (struct display_msg_header){ DISPLAY_MSG_DAMAGE, display_damage_length(1) };
	m.rects[0] = (struct display_rect){ x, y, w, h };
	raw_send(sock, &m, m.hdr.length, NULL, 0);
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* wait_dropped: 0 once the display has closed the connection; reads and
 * discards what it sends unless `read_input` is 0. */
static int wait_dropped(int sock, int read_input)
{
	uint64_t deadline = now_ms() + HOSTILE_WAIT_MS;
	char buf[256];

	while (now_ms() < deadline && !stop) {
		struct pollfd pfd = { .fd = sock, .events = read_input ? POLLIN : 0 };

		if (poll(&pfd, 1, 100) <= 0)
			continue;
		if (pfd.revents & (POLLHUP | POLLERR) && !(pfd.revents & POLLIN))
			return 0;
		if (pfd.revents & POLLIN) {
			ssize_t n = recv(sock, buf, sizeof(buf), MSG_DONTWAIT);

			if (n == 0 || (n < 0 && errno != EAGAIN))
				return 0;
		}
	}
	return 3;
}

static int hostile(struct peer_state *s, const char *mode)
{
	int sock = raw_connect(s->socket);
	uint32_t w = s->width, h = s->height;
	uint8_t junk[1024];
	uint32_t seed = 12345;

	for (size_t i = 0; i < sizeof(junk); i++) {
		seed = seed * 1103515245u + 12345u;
		junk[i] = (uint8_t)(seed >> 16);
	}
	if (!strcmp(mode, "garbage")) {
		raw_send(sock, junk, 200, NULL, 0);
	} else if (!strcmp(mode, "short")) {
		raw_send(sock, junk, 4, NULL, 0);
	} else if (!strcmp(mode, "huge")) {
		static uint8_t big[70000];

		raw_send(sock, big, sizeof(big), NULL, 0);
	} else if (!strcmp(mode, "length-lie")) {
		struct display_msg_hello m = { .hdr = { DISPLAY_MSG_HELLO, 100 }, .version = 1 };

		strcpy(m.name, s->name);
		raw_send(sock, &m, sizeof(m), NULL, 0);
	} else if (!strcmp(mode, "no-hello")) {
		raw_surface(sock, w, h);
	} else if (!strcmp(mode, "wrong-version")) {
		raw_hello(sock, s->name, 99, -1);
	} else if (!strcmp(mode, "bad-name")) {
		raw_hello(sock, "bad name!", DISPLAY_PROTO_VERSION, -1);
	} else if (!strcmp(mode, "fd-on-hello")) {
		raw_hello(sock, s->name, DISPLAY_PROTO_VERSION, make_memfd(4096, 1));
	} else {
		raw_hello(sock, s->name, DISPLAY_PROTO_VERSION, -1);
		if (!strcmp(mode, "hello-twice")) {
			raw_hello(sock, s->name, DISPLAY_PROTO_VERSION, -1);
		} else if (!strcmp(mode, "garbage-after-hello")) {
			raw_send(sock, junk, 300, NULL, 0);
		} else if (!strcmp(mode, "bad-size")) {
			struct display_msg_surface m = surface_msg(100000, 100, 400000);
			int fd = make_memfd(4096, 1);

			raw_send(sock, &m, sizeof(m), &fd, 1);
		} else if (!strcmp(mode, "zero-size")) {
			struct display_msg_surface m = surface_msg(0, h, w * 4);
			int fd = make_memfd((size_t)w * h * 4, 1);

			raw_send(sock, &m, sizeof(m), &fd, 1);
		} else if (!strcmp(mode, "bad-stride")) {
			struct display_msg_surface m = surface_msg(w, h, w * 2);
			int fd = make_memfd((size_t)w * h * 4, 1);

			raw_send(sock, &m, sizeof(m), &fd, 1);
		} else if (!strcmp(mode, "bad-format")) {
			struct display_msg_surface m = surface_msg(w, h, w * 4);
			int fd = make_memfd((size_t)w * h * 4, 1);

			m.format = 0x34325241; /* ARGB8888 */
			raw_send(sock, &m, sizeof(m), &fd, 1);
		} else if (!strcmp(mode, "no-fd")) {
			struct display_msg_surface m = surface_msg(w, h, w * 4);

			raw_send(sock, &m, sizeof(m), NULL, 0);
		} else if (!strcmp(mode, "two-fds")) {
			struct display_msg_surface m = surface_msg(w, h, w * 4);
			int fds[2] = { make_memfd((size_t)w * h * 4, 1), make_memfd(4096, 1) };

			raw_send(sock, &m, sizeof(m), fds, 2);
		} else if (!strcmp(mode, "small-memfd")) {
			struct display_msg_surface m = surface_msg(w, h, w * 4);
			int fd = make_memfd((size_t)w * h * 2, 1);

			raw_send(sock, &m, sizeof(m), &fd, 1);
		} else if (!strcmp(mode, "unsealed")) {
			struct display_msg_surface m = surface_msg(w, h, w * 4);
			int fd = make_memfd((size_t)w * h * 4, 0);

			raw_send(sock, &m, sizeof(m), &fd, 1);
		} else if (!strcmp(mode, "not-memfd")) {
			struct display_msg_surface m = surface_msg(w, h, w * 4);
			int fds[2];

			if (pipe(fds) < 0)
				return 1;
			raw_send(sock, &m, sizeof(m), fds, 1);
		} else if (!strcmp(mode, "damage-first")) {
			raw_damage(sock, 0, 0, 1, 1);
		} else if (!strcmp(mode, "oob-rect")) {
			raw_surface(sock, w, h);
			raw_damage(sock, w - 1, 0, 10, 1);
		} else if (!strcmp(mode, "wrap-rect")) {
			raw_surface(sock, w, h);
			raw_damage(sock, 0xffffffffu, 0, 2, 1);
		} else if (!strcmp(mode, "count-lie")) {
			struct display_msg_damage m = { .count = 10 };

			raw_surface(sock, w, h);
			m.hdr = (struct display_msg_header){ DISPLAY_MSG_DAMAGE, display_damage_length(2) };
			raw_send(sock, &m, m.hdr.length, NULL, 0);
		} else if (!strcmp(mode, "display-type")) {
			struct display_msg_key m = { { DISPLAY_MSG_KEY, sizeof(m) }, 30, 1 };

			raw_send(sock, &m, sizeof(m), NULL, 0);
		} else if (!strcmp(mode, "flood")) {
			uint64_t deadline = now_ms() + HOSTILE_WAIT_MS;
			struct display_msg_damage m = { .count = 1 };

			raw_surface(sock, w, h);
			m.hdr = (struct display_msg_header){ DISPLAY_MSG_DAMAGE, display_damage_length(1) };
			m.rects[0] = (struct display_rect){ 0, 0, w, h };
			while (now_ms() < deadline && !stop)
				if (raw_send(sock, &m, m.hdr.length, NULL, 0) < 0)
					return 0;
			return 3;
		} else if (!strcmp(mode, "no-read")) {
			raw_surface(sock, w, h);
			return wait_dropped(sock, 0);
		} else if (strcmp(mode, "dup-name")) {
			fprintf(stderr, "peer: unknown --hostile mode '%s'\n", mode);
			return 2;
		}
	}
	return wait_dropped(sock, 1);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: peer --socket PATH --name NAME [--size WxH] [--color RRGGBB] [--animate]\n"
		"            [--fps N] [--record FILE] [--hostile MODE]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "name", required_argument, NULL, 'n' },
		{ "size", required_argument, NULL, 'S' },
		{ "color", required_argument, NULL, 'c' },
		{ "animate", no_argument, NULL, 'a' },
		{ "fps", required_argument, NULL, 'f' },
		{ "record", required_argument, NULL, 'r' },
		{ "hostile", required_argument, NULL, 'H' },
		{ NULL, 0, NULL, 0 },
	};
	struct peer_state s = { .name = "peer", .width = 320, .height = 200, .rgb = 0x3060c0,
				.fps = 30, .record_fd = -1 };
	const char *mode = NULL;
	int opt;

	log_init("peer");
	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 's': s.socket = optarg; break;
		case 'n': s.name = optarg; break;
		case 'S':
			if (sscanf(optarg, "%ux%u", &s.width, &s.height) != 2)
				usage();
			break;
		case 'c': s.rgb = (uint32_t)strtoul(optarg, NULL, 16); break;
		case 'a': s.animate = 1; break;
		case 'f': s.fps = (unsigned)atoi(optarg); break;
		case 'r':
			s.record_fd = open(optarg, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
			if (s.record_fd < 0)
				usage();
			break;
		case 'H': mode = optarg; break;
		default: usage();
		}
	}
	if (!s.socket || s.width < 1 || s.height < 1 || s.fps < 1 || s.fps > 1000)
		usage();
	s.stride = s.width * 4;
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGPIPE, SIG_IGN);
	return mode ? hostile(&s, mode) : serve(&s);
}
