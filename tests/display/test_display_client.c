/* Pins lib/display_client.c against a fake display: HELLO, SURFACE (with
 * its memfd) and DAMAGE go out in order; input messages come back as
 * callbacks and malformed ones are skipped; damage is merged; a lost
 * connection is re-established with HELLO, SURFACE and full damage. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "display_client.h"

struct fake {
	char path[108];
	int listen_fd;
	int conn;
	struct display_client *client;
	char events[2048];
	int memfd;
};

static void note(struct fake *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct fake *f, const char *fmt, ...)
{
	size_t len = strlen(f->events);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(f->events + len, sizeof(f->events) - len, fmt, ap);
	va_end(ap);
}

static void on_connection(void *o, int up) { note(o, "conn %d;", up); }
static void on_key(void *o, unsigned code, int pressed) { note(o, "key %u %d;", code, pressed); }
static void on_focus(void *o, int focused) { note(o, "focus %d;", focused); }
static void on_leds(void *o, unsigned leds) { note(o, "leds %u;", leds); }
static void on_pointer(void *o, const struct display_msg_pointer *p)
{
	note(o, "ptr %d %d %u;", p->x, p->y, p->buttons);
}

static const struct display_client_ops ops = { on_connection, on_key, on_pointer, on_focus,
					       on_leds };

static int setup(void **state)
{
	struct fake *f = calloc(1, sizeof(*f));
	struct sockaddr_un addr = { .sun_family = AF_UNIX };

	snprintf(f->path, sizeof(f->path), "/tmp/duet-test-client-%d.sock", getpid());
	unlink(f->path);
	strcpy(addr.sun_path, f->path);
	f->listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(f->listen_fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	assert_int_equal(listen(f->listen_fd, 4), 0);
	f->memfd = memfd_create("fb", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	assert_int_equal(ftruncate(f->memfd, 64 * 48 * 4), 0);
	assert_int_equal(fcntl(f->memfd, F_ADD_SEALS, F_SEAL_SHRINK), 0);
	f->conn = -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fake *f = *state;

	display_client_destroy(f->client);
	if (f->conn >= 0)
		close(f->conn);
	close(f->listen_fd);
	close(f->memfd);
	unlink(f->path);
	free(f);
	return 0;
}

/* recv_msg: the next packet from the client, its fd (or -1) in *fd. */
static ssize_t recv_msg(struct fake *f, void *buf, size_t len, int *fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} control;
	struct iovec iov = { buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
			     .msg_controllen = sizeof(control.buf) };
	struct pollfd pfd = { f->conn, POLLIN, 0 };
	struct cmsghdr *cm;
	ssize_t n;

	assert_int_equal(poll(&pfd, 1, 2000), 1);
	n = recvmsg(f->conn, &mh, MSG_CMSG_CLOEXEC);
	*fd = -1;
	cm = CMSG_FIRSTHDR(&mh);
	if (cm && cm->cmsg_type == SCM_RIGHTS)
		memcpy(fd, CMSG_DATA(cm), sizeof(int));
	return n;
}

static void expect_hello_surface_damage(struct fake *f, uint32_t dx, uint32_t dy, uint32_t dw,
					uint32_t dh)
{
	union {
		struct display_msg_hello hello;
		struct display_msg_surface surface;
		struct display_msg_damage damage;
	} m;
	struct stat a, b;
	int fd;

	assert_int_equal(recv_msg(f, &m, sizeof(m), &fd), sizeof(m.hello));
	assert_int_equal(m.hello.hdr.type, DISPLAY_MSG_HELLO);
	assert_int_equal(m.hello.version, DISPLAY_PROTO_VERSION);
	assert_string_equal(m.hello.name, "vm-1");
	assert_true(display_name_is_valid(m.hello.name));
	assert_int_equal(recv_msg(f, &m, sizeof(m), &fd), sizeof(m.surface));
	assert_int_equal(m.surface.hdr.type, DISPLAY_MSG_SURFACE);
	assert_true(m.surface.width == 64 && m.surface.height == 48 && m.surface.stride == 256);
	assert_true(fd >= 0);
	fstat(fd, &a);
	fstat(f->memfd, &b);
	assert_true(a.st_ino == b.st_ino); /* the same memfd */
	close(fd);
	assert_int_equal(recv_msg(f, &m, sizeof(m), &fd), display_damage_length(1));
	assert_int_equal(m.damage.count, 1);
	assert_true(m.damage.rects[0].x == dx && m.damage.rects[0].y == dy &&
		    m.damage.rects[0].width == dw && m.damage.rects[0].height == dh);
}

static void accept_conn(struct fake *f)
{
	struct pollfd pfd = { f->listen_fd, POLLIN, 0 };

	for (int i = 0; i < 50 && poll(&pfd, 1, 100) == 0; i++)
		display_client_dispatch(f->client);
	f->conn = accept4(f->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	assert_true(f->conn >= 0);
}

static void dispatch(struct fake *f)
{
	struct pollfd pfd = { display_client_fd(f->client), POLLIN, 0 };

	while (poll(&pfd, 1, 100) > 0)
		display_client_dispatch(f->client);
}

static void test_hello_surface_damage_in_order(void **state)
{
	struct fake *f = *state;

	assert_int_equal(display_client_create(&f->client, f->path, "vm-1", &ops, f), 0);
	assert_int_equal(display_client_set_surface(f->client, f->memfd, 64, 48, 256,
						    DISPLAY_FORMAT_XRGB8888, 0), 0);
	accept_conn(f);
	expect_hello_surface_damage(f, 0, 0, 64, 48);
	assert_string_equal(f->events, "conn 1;");
}

static void test_input_callbacks_and_bad_messages(void **state)
{
	struct fake *f = *state;
	struct display_msg_key key = { { DISPLAY_MSG_KEY, 16 }, 30, 1 };
	struct display_msg_key bad_key = { { DISPLAY_MSG_KEY, 16 }, 0x300, 1 };
	struct display_msg_pointer ptr = { { DISPLAY_MSG_POINTER, 32 }, 1000, -5, 0, 0, 1, 0 };
	struct display_msg_pointer bad_ptr = { { DISPLAY_MSG_POINTER, 32 }, 0, 0, 0, 0, 64, 0 };
	struct display_msg_focus focus = { { DISPLAY_MSG_FOCUS, 12 }, 1 };
	struct display_msg_leds leds = { { DISPLAY_MSG_LEDS, 12 }, 5 };
	struct display_msg_leds lying = { { DISPLAY_MSG_LEDS, 40 }, 1 };
	uint32_t unknown[2] = { 99, 8 };

	test_hello_surface_damage_in_order(state);
	send(f->conn, &bad_key, sizeof(bad_key), 0);
	send(f->conn, &key, sizeof(key), 0);
	send(f->conn, &bad_ptr, sizeof(bad_ptr), 0);
	send(f->conn, &ptr, sizeof(ptr), 0);
	send(f->conn, &lying, sizeof(lying), 0);
	send(f->conn, unknown, sizeof(unknown), 0);
	send(f->conn, &focus, sizeof(focus), 0);
	send(f->conn, &leds, sizeof(leds), 0);
	dispatch(f);
	/* the pointer is clamped into the 64x48 surface */
	assert_string_equal(f->events, "conn 1;key 30 1;ptr 63 0 1;focus 1;leds 5;");
	assert_true(display_client_connected(f->client));
}

static void test_damage_is_clamped_and_merged(void **state)
{
	struct fake *f = *state;
	struct display_msg_damage m;
	uint8_t covered[48][64] = { { 0 } };
	int fd, idle = 0;

	test_hello_surface_damage_in_order(state);
	display_client_damage(f->client, 60, 40, 100, 100);
	display_client_commit(f->client);
	assert_int_equal(recv_msg(f, &m, sizeof(m), &fd), display_damage_length(1));
	assert_true(m.rects[0].x == 60 && m.rects[0].width == 4 && m.rects[0].height == 8);
	display_client_damage(f->client, 64, 0, 1, 1); /* outside: nothing */
	display_client_commit(f->client);
	/* Far more damage than the socket takes while the display does not
	 * read: what does not fit is merged, never lost. */
	for (uint32_t i = 0; i < 3000; i++) {
		display_client_damage(f->client, (i * 7) % 64, (i / 64) % 48, 1, 1);
		if (i % 5 == 4)
			display_client_commit(f->client);
	}
	while (idle < 5) {
		struct pollfd pfd = { f->conn, POLLIN, 0 };
		ssize_t n;

		display_client_dispatch(f->client);
		if (poll(&pfd, 1, 20) <= 0) {
			idle++;
			continue;
		}
		idle = 0;
		n = recv_msg(f, &m, sizeof(m), &fd);
		assert_true(m.count >= 1 && m.count <= DISPLAY_DAMAGE_MAX_RECTS);
		assert_int_equal(n, display_damage_length(m.count));
		for (unsigned k = 0; k < m.count; k++) {
			const struct display_rect *r = &m.rects[k];

			assert_true(r->x + r->width <= 64 && r->y + r->height <= 48);
			for (uint32_t y = r->y; y < r->y + r->height; y++)
				for (uint32_t x = r->x; x < r->x + r->width; x++)
					covered[y][x] = 1;
		}
	}
	for (uint32_t i = 0; i < 3000; i++)
		assert_true(covered[(i / 64) % 48][(i * 7) % 64]);
}

static void test_reconnects_with_everything(void **state)
{
	struct fake *f = *state;

	test_hello_surface_damage_in_order(state);
	close(f->conn);
	f->conn = -1;
	{
		struct pollfd pfd = { display_client_fd(f->client), POLLIN, 0 };

		assert_int_equal(poll(&pfd, 1, 1000), 1);
		display_client_dispatch(f->client); /* sees the hang-up */
	}
	assert_false(display_client_connected(f->client));
	accept_conn(f);
	expect_hello_surface_damage(f, 0, 0, 64, 48);
	assert_string_equal(f->events, "conn 1;conn 0;conn 1;");
}

static void test_refuses_what_the_display_would(void **state)
{
	struct fake *f = *state;
	struct display_client *c;
	int unsealed = memfd_create("x", MFD_CLOEXEC);

	assert_int_equal(display_client_create(&c, f->path, "screen", &ops, f), -EINVAL);
	assert_int_equal(display_client_create(&c, f->path, "a b", &ops, f), -EINVAL);
	assert_int_equal(display_client_create(&c, f->path, "", &ops, f), -EINVAL);
	assert_int_equal(display_client_create(&c, f->path, "x234567890123456789012345678901x",
					       &ops, f), -EINVAL);
	assert_int_equal(display_client_create(&f->client, f->path, "vm-1", &ops, f), 0);
	assert_int_equal(display_client_set_surface(f->client, f->memfd, 65, 48, 256,
						    DISPLAY_FORMAT_XRGB8888, 0), -EINVAL);
	assert_int_equal(display_client_set_surface(f->client, f->memfd, 64, 49, 256,
						    DISPLAY_FORMAT_XRGB8888, 0), -EINVAL);
	assert_int_equal(display_client_set_surface(f->client, f->memfd, 64, 48, 256, 0, 0),
			 -EINVAL);
	assert_int_equal(ftruncate(unsealed, 64 * 48 * 4), 0);
	assert_int_equal(display_client_set_surface(f->client, unsealed, 64, 48, 256,
						    DISPLAY_FORMAT_XRGB8888, 0), -EINVAL);
	close(unsealed);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_hello_surface_damage_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_input_callbacks_and_bad_messages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damage_is_clamped_and_merged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reconnects_with_everything, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_what_the_display_would, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
