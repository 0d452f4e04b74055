/* Pins vmm/block_nbd.c, the NBD back end, and its --disk keys in
 * vmm/block.c, against a small NBD server in this file (fixed newstyle
 * handshake, NBD_OPT_GO, simple replies; on a Unix socket, reached
 * through nbd+unix://) that can misbehave on cue:
 * - the URI parser: every form the docs give, and one clear reason for
 *   each broken one; the spec keys (timeout=, URI with file=, ...);
 * - opening: size, read-only export refused without ro, a missing export
 *   and a missing server say so;
 * - reads and writes, split iovecs included, match a model; a flush
 *   reaches the server (its reply comes before the call returns);
 * - a connection dropped before a reply: the call returns the right data
 *   after a reconnect, the outage counted;
 * - a server that lost what it had not flushed (a crash): the writes the
 *   guest was told were done are there after the reconnect (the journal);
 *   a flush empties the journal, and a long run of writes flushes itself;
 * - timeout=: a server gone longer fails calls with -EIO, quickly after
 *   the first, and calls work again once it is back; a server that stops
 *   answering is left and reconnected;
 * - a different export size after a reconnect fails every call;
 * - a random workload with random drops and crashes matches the model. */
#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "block.h"

#define DISK_SIZE (8u << 20)

/* ---- NBD protocol constants (doc/proto.md of the nbd project) ---- */

#define NBDMAGIC 0x4e42444d41474943ULL
#define IHAVEOPT 0x49484156454F5054ULL
#define REPLY_MAGIC_OPT 0x3e889045565a9ULL
#define REQUEST_MAGIC 0x25609513u
#define SIMPLE_REPLY_MAGIC 0x67446698u
#define FLAG_FIXED_NEWSTYLE 1
#define FLAG_NO_ZEROES 2
#define OPT_ABORT 2
#define OPT_INFO 6
#define OPT_GO 7
#define REP_ACK 1
#define REP_INFO 3
#define REP_ERR_UNSUP 0x80000001u
#define REP_ERR_UNKNOWN 0x80000006u
#define INFO_EXPORT 0
#define TFLAG_HAS_FLAGS 0x1
#define TFLAG_READ_ONLY 0x2
#define TFLAG_SEND_FLUSH 0x4
#define TFLAG_SEND_FUA 0x8
#define TFLAG_SEND_TRIM 0x20
#define TFLAG_SEND_WRITE_ZEROES 0x40
#define CMD_READ 0
#define CMD_WRITE 1
#define CMD_DISC 2
#define CMD_FLUSH 3
#define CMD_TRIM 4
#define CMD_WRITE_ZEROES 6

/* ---- the server ---- */

struct server {
	char path[64];
	char export[32];
	int listen_fd;
	pthread_t thread;
	pthread_mutex_t lock;   /* everything below */
	uint64_t size;          /* what it announces */
	bool read_only;
	uint8_t *cache;         /* what reads see */
	uint8_t *durable;       /* what survives a crash: the last flush's */
	/* Faults, each for one connection: at command number drop_at (0:
	 * none) the connection closes without a reply; with `crash` the cache
	 * falls back to the durable bytes; the socket stays away outage_ms. */
	unsigned drop_at;
	bool crash;
	unsigned outage_ms;
	unsigned stall_at;      /* at this command, stop answering until dropped */
	unsigned conn_commands; /* commands on this connection */
	/* What happened. */
	unsigned connections, commands, flushes, writes;
	bool stop;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static bool read_full(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = read(fd, p, len);

		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

static bool write_full(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

static int server_listen(struct server *s)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", s->path);
	unlink(s->path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(fd, 4), 0);
	return fd;
}

static bool opt_reply(int fd, uint32_t opt, uint32_t type, const void *data, uint32_t len)
{
	struct __attribute__((packed)) {
		uint64_t magic;
		uint32_t opt, type, len;
	} h = { htobe64(REPLY_MAGIC_OPT), htobe32(opt), htobe32(type), htobe32(len) };

	return write_full(fd, &h, sizeof(h)) && (!len || write_full(fd, data, len));
}

/* handshake: the fixed newstyle negotiation up to NBD_OPT_GO; false when
 * the client went away or asked for another export. */
static bool handshake(struct server *s, int fd)
{
	struct __attribute__((packed)) {
		uint64_t magic, opt_magic;
		uint16_t flags;
	} hello = { htobe64(NBDMAGIC), htobe64(IHAVEOPT),
		    htobe16(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES) };
	uint32_t client_flags;

	if (!write_full(fd, &hello, sizeof(hello)) ||
	    !read_full(fd, &client_flags, sizeof(client_flags)))
		return false;
	for (;;) {
		struct __attribute__((packed)) {
			uint64_t magic;
			uint32_t opt, len;
		} o;
		uint8_t data[4096 + 64];
		uint32_t opt, len, namelen;

		if (!read_full(fd, &o, sizeof(o)) || be64toh(o.magic) != IHAVEOPT)
			return false;
		opt = be32toh(o.opt);
		len = be32toh(o.len);
		if (len > sizeof(data) || !read_full(fd, data, len))
			return false;
		if (opt == OPT_ABORT)
			return false;
		if (opt != OPT_GO && opt != OPT_INFO) {
			if (!opt_reply(fd, opt, REP_ERR_UNSUP, NULL, 0))
				return false;
			continue;
		}
		memcpy(&namelen, data, 4);
		namelen = be32toh(namelen);
		if (namelen > len - 4 || namelen != strlen(s->export) ||
		    memcmp(data + 4, s->export, namelen)) {
			if (!opt_reply(fd, opt, REP_ERR_UNKNOWN, NULL, 0))
				return false;
			continue;
		}
		pthread_mutex_lock(&s->lock);
		struct __attribute__((packed)) {
			uint16_t type;
			uint64_t size;
			uint16_t flags;
		} info = { htobe16(INFO_EXPORT), htobe64(s->size),
			   htobe16(TFLAG_HAS_FLAGS | TFLAG_SEND_FLUSH | TFLAG_SEND_FUA |
				   TFLAG_SEND_TRIM | TFLAG_SEND_WRITE_ZEROES |
				   (s->read_only ? TFLAG_READ_ONLY : 0)) };
		pthread_mutex_unlock(&s->lock);
		if (!opt_reply(fd, opt, REP_INFO, &info, sizeof(info)) ||
		    !opt_reply(fd, opt, REP_ACK, NULL, 0))
			return false;
		if (opt == OPT_GO)
			return true;
	}
}

/* serve: commands until the client leaves or a fault ends the connection. */
static void serve(struct server *s, int fd)
{
	static uint8_t buf[33 << 20];

	for (;;) {
		struct __attribute__((packed)) {
			uint32_t magic;
			uint16_t flags, type;
			uint64_t handle, offset;
			uint32_t len;
		} rq;
		struct __attribute__((packed)) {
			uint32_t magic, error;
			uint64_t handle;
		} rp;
		uint64_t offset;
		uint32_t len, error = 0;
		uint16_t type;
		bool drop, stall;

		if (!read_full(fd, &rq, sizeof(rq)) || be32toh(rq.magic) != REQUEST_MAGIC)
			return;
		type = be16toh(rq.type);
		offset = be64toh(rq.offset);
		len = be32toh(rq.len);
		if (type == CMD_DISC)
			return;
		if (type == CMD_WRITE && (len > sizeof(buf) || !read_full(fd, buf, len)))
			return;
		pthread_mutex_lock(&s->lock);
		s->commands++;
		s->conn_commands++;
		drop = s->drop_at && s->conn_commands == s->drop_at;
		stall = s->stall_at && s->conn_commands == s->stall_at;
		if (drop) {
			s->drop_at = 0;
			if (s->crash)
				memcpy(s->cache, s->durable, s->size);
			s->crash = false;
		}
		if (stall)
			s->stall_at = 0;
		if (!drop && !stall && offset + len > s->size && type != CMD_FLUSH)
			error = EINVAL;
		if (!drop && !stall && !error) {
			switch (type) {
			case CMD_READ:
				memcpy(buf, s->cache + offset, len);
				break;
			case CMD_WRITE:
				memcpy(s->cache + offset, buf, len);
				s->writes++;
				break;
			case CMD_FLUSH:
				memcpy(s->durable, s->cache, s->size);
				s->flushes++;
				break;
			case CMD_TRIM:
			case CMD_WRITE_ZEROES:
				memset(s->cache + offset, 0, len);
				break;
			default:
				error = EINVAL;
			}
		}
		pthread_mutex_unlock(&s->lock);
		if (drop)
			return;
		if (stall) {
			/* Until the client gives up on us. */
			char c;

			while (read(fd, &c, 1) > 0)
				;
			return;
		}
		rp.magic = htobe32(SIMPLE_REPLY_MAGIC);
		rp.error = htobe32(error);
		rp.handle = rq.handle;
		if (!write_full(fd, &rp, sizeof(rp)))
			return;
		if (type == CMD_READ && !error && !write_full(fd, buf, len))
			return;
	}
}

static void *server_main(void *opaque)
{
	struct server *s = opaque;

	for (;;) {
		struct pollfd p = { .fd = s->listen_fd, .events = POLLIN };
		unsigned outage;
		int fd;

		pthread_mutex_lock(&s->lock);
		if (s->stop) {
			pthread_mutex_unlock(&s->lock);
			break;
		}
		pthread_mutex_unlock(&s->lock);
		if (poll(&p, 1, 50) <= 0)
			continue;
		fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		pthread_mutex_lock(&s->lock);
		s->connections++;
		s->conn_commands = 0;
		pthread_mutex_unlock(&s->lock);
		if (handshake(s, fd))
			serve(s, fd);
		close(fd);
		pthread_mutex_lock(&s->lock);
		outage = s->outage_ms;
		s->outage_ms = 0;
		pthread_mutex_unlock(&s->lock);
		if (outage) {
			/* Gone: nobody listens, the socket file is not there. */
			close(s->listen_fd);
			unlink(s->path);
			usleep(outage * 1000);
			s->listen_fd = server_listen(s);
		}
	}
	return NULL;
}

static struct server *server_start(uint64_t size)
{
	struct server *s = calloc(1, sizeof(*s));

	assert_non_null(s);
	snprintf(s->path, sizeof(s->path), "/tmp/duet-nbd-test.%d.sock", (int)getpid());
	snprintf(s->export, sizeof(s->export), "golden");
	s->size = size;
	s->cache = calloc(1, size);
	s->durable = calloc(1, size);
	assert_non_null(s->cache);
	assert_non_null(s->durable);
	for (uint64_t i = 0; i < size; i++)
		s->cache[i] = s->durable[i] = (uint8_t)(i * 7 + i / 4096);
	pthread_mutex_init(&s->lock, NULL);
	s->listen_fd = server_listen(s);
	assert_int_equal(pthread_create(&s->thread, NULL, server_main, s), 0);
	return s;
}

static void server_stop(struct server *s)
{
	pthread_mutex_lock(&s->lock);
	s->stop = true;
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->thread, NULL);
	close(s->listen_fd);
	unlink(s->path);
	pthread_mutex_destroy(&s->lock);
	free(s->cache);
	free(s->durable);
	free(s);
}

/* server_fault: the next connection-ending fault, set under the lock. */
static void server_fault(struct server *s, unsigned drop_at, bool crash, unsigned outage_ms)
{
	pthread_mutex_lock(&s->lock);
	s->drop_at = s->conn_commands + drop_at;
	s->crash = crash;
	s->outage_ms = outage_ms;
	pthread_mutex_unlock(&s->lock);
}

static unsigned server_count(struct server *s, unsigned *what)
{
	unsigned v;

	pthread_mutex_lock(&s->lock);
	v = *what;
	pthread_mutex_unlock(&s->lock);
	return v;
}

/* ---- opening disks on it ---- */

static int open_disk(struct server *s, const char *extra, struct block **bk, char *err,
		     size_t errlen)
{
	char text[256];
	struct block_spec spec;
	int rc;

	snprintf(text, sizeof(text), "nbd+unix:///%s?socket=%s%s", s->export, s->path, extra);
	rc = block_spec_parse(text, &spec, err, errlen);
	if (rc)
		return rc;
	rc = block_open(&spec, bk, err, errlen);
	block_spec_free(&spec);
	return rc;
}

static struct block *open_ok(struct server *s, const char *extra)
{
	struct block *bk = NULL;
	char err[256] = "";

	if (open_disk(s, extra, &bk, err, sizeof(err)))
		fail_msg("open: %s", err);
	return bk;
}

static int read_at(struct block *bk, void *buf, size_t len, uint64_t offset)
{
	struct iovec iov = { buf, len };

	return block_preadv(bk, &iov, 1, offset);
}

static int write_at(struct block *bk, const void *buf, size_t len, uint64_t offset)
{
	struct iovec iov = { (void *)buf, len };

	return block_pwritev(bk, &iov, 1, offset);
}

static void fill(uint8_t *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(seed + i * 13 + (i >> 9));
}

/* ---- the URI ---- */

static void expect_uri(const char *text, const char *host, const char *port, const char *socket,
		       const char *export)
{
	struct block_nbd_uri u;
	char err[256] = "";

	if (block_nbd_uri_parse(text, &u, err, sizeof(err)))
		fail_msg("'%s': %s", text, err);
	if (host)
		assert_string_equal(u.host, host);
	else
		assert_null(u.host);
	if (port)
		assert_string_equal(u.port, port);
	else
		assert_null(u.port);
	if (socket)
		assert_string_equal(u.socket, socket);
	else
		assert_null(u.socket);
	assert_string_equal(u.export, export);
	block_nbd_uri_free(&u);
}

static void expect_uri_error(const char *text, const char *what)
{
	struct block_nbd_uri u;
	char err[256] = "";

	assert_int_equal(block_nbd_uri_parse(text, &u, err, sizeof(err)), -EINVAL);
	if (!strstr(err, what))
		fail_msg("'%s': error '%s' does not say '%s'", text, err, what);
	assert_null(u.host);
	assert_null(u.export);
}

static void test_uri_forms(void **state)
{
	(void)state;
	expect_uri("nbd://server/win", "server", "10809", NULL, "win");
	expect_uri("nbd://server:1234/win-2026-11-23", "server", "1234", NULL, "win-2026-11-23");
	expect_uri("nbd://10.0.0.1", "10.0.0.1", "10809", NULL, "");
	expect_uri("nbd://10.0.0.1/", "10.0.0.1", "10809", NULL, "");
	expect_uri("nbd://[::1]:10810/a/b", "::1", "10810", NULL, "a/b");
	expect_uri("nbd://[fe80::1%25eth0]/x", "fe80::1%eth0", "10809", NULL, "x");
	expect_uri("nbd://srv.school.lan//abs", "srv.school.lan", "10809", NULL, "/abs");
	expect_uri("nbd://srv/with%20space%2Ccomma", "srv", "10809", NULL, "with space,comma");
	expect_uri("nbd+unix:///golden?socket=/run/nbd.sock", NULL, NULL, "/run/nbd.sock",
		   "golden");
	expect_uri("nbd+unix://?socket=/tmp/a%20b", NULL, NULL, "/tmp/a b", "");
}

static void test_uri_errors(void **state)
{
	char longname[5000];

	(void)state;
	expect_uri_error("server/win", "not a URI");
	expect_uri_error("http://server/win", "unknown scheme 'http://'");
	expect_uri_error("nbds://server/win", "TLS (nbds://) is not supported");
	expect_uri_error("nbds+unix:///x?socket=/s", "TLS");
	expect_uri_error("nbd+vsock://2/x", "unknown scheme");
	expect_uri_error("nbd:///win", "no host");
	expect_uri_error("nbd://:10809/win", "no host");
	expect_uri_error("nbd://server:0/win", "port '0' is not a number from 1 to 65535");
	expect_uri_error("nbd://server:65536/win", "port '65536'");
	expect_uri_error("nbd://server:http/win", "port 'http'");
	expect_uri_error("nbd://server:/win", "port ''");
	expect_uri_error("nbd://user@server/win", "user name");
	expect_uri_error("nbd://ser ver/win", "'ser ver' is not a host name");
	expect_uri_error("nbd://[::1/win", "without ']'");
	expect_uri_error("nbd://[::1]x/win", "is not [IPV6]:PORT");
	expect_uri_error("nbd://[zz]/win", "'zz' is not a host name");
	expect_uri_error("nbd://[fe80::1%eth0]/win", "is not a host name");
	expect_uri_error("nbd://[fe80::1%25]/win", "is not a host name");
	expect_uri_error("nbd://server/win#frag", "#fragment");
	expect_uri_error("nbd://server/win?tls=on", "unknown query parameter 'tls=on' (nbd:// "
			 "takes none)");
	expect_uri_error("nbd://server/bad%2", "broken %-escape");
	expect_uri_error("nbd://server/bad%zz", "broken %-escape");
	expect_uri_error("nbd://server/nul%00", "broken %-escape");
	expect_uri_error("nbd+unix://host/x?socket=/s", "takes no host");
	expect_uri_error("nbd+unix:///x", "needs ?socket=PATH");
	expect_uri_error("nbd+unix:///x?socket=", "needs ?socket=PATH");
	expect_uri_error("nbd+unix:///x?sock=/s", "unknown query parameter 'sock=/s'");
	expect_uri_error("nbd+unix:///x?socket=/a&socket=/b", "socket= is given twice");
	expect_uri_error("nbd+unix:///x?socket=/a%", "broken %-escape");
	expect_uri_error("nbd+unix:///x?socket=/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
			 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "longer than");
	memset(longname, 'e', sizeof(longname));
	memcpy(longname, "nbd://s/", 8);
	longname[sizeof(longname) - 1] = '\0';
	expect_uri_error(longname, "longer than 4096 bytes");
}

static void expect_spec_error(const char *text, const char *what)
{
	struct block_spec spec;
	char err[256] = "";

	assert_int_equal(block_spec_parse(text, &spec, err, sizeof(err)), -EINVAL);
	if (!strstr(err, what))
		fail_msg("--disk '%s': error '%s' does not say '%s'", text, err, what);
	assert_null(spec.file);
}

static void test_spec_keys(void **state)
{
	struct block_spec spec;
	char err[256];

	(void)state;
	assert_int_equal(block_spec_parse("nbd://srv/win,overlay=ram,timeout=60", &spec, err,
					  sizeof(err)), 0);
	assert_true(spec.nbd);
	assert_string_equal(spec.file, "nbd://srv/win");
	assert_string_equal(spec.nbd_uri.host, "srv");
	assert_string_equal(spec.nbd_uri.export, "win");
	assert_true(spec.overlay);
	assert_int_equal(spec.nbd_timeout, 60);
	block_spec_free(&spec);
	assert_null(spec.nbd_uri.host);
	assert_int_equal(block_spec_parse("ro,nbd+unix:///g?socket=/s", &spec, err, sizeof(err)),
			 0);
	assert_true(spec.nbd);
	assert_true(spec.read_only);
	assert_int_equal(spec.nbd_timeout, 0);
	block_spec_free(&spec);
	assert_int_equal(block_spec_parse("file=/a/b.img", &spec, err, sizeof(err)), 0);
	assert_false(spec.nbd);
	block_spec_free(&spec);

	expect_spec_error("nbd://srv/win,file=a.img", "file= and an nbd:// URI do not go together");
	expect_spec_error("file=a.img,nbd://srv/win", "file= and an nbd:// URI do not go together");
	expect_spec_error("nbd://a/x,nbd://b/y", "two nbd:// URIs");
	expect_spec_error("nbd://srv:99999/win", "port '99999'");
	expect_spec_error("iscsi://srv/win", "unknown scheme 'iscsi://'");
	expect_spec_error("file=a.img,timeout=5", "timeout= is for nbd:// disks");
	expect_spec_error("nbd://srv/win,timeout=soon", "timeout= takes whole seconds");
	expect_spec_error("nbd://srv/win,timeout=86401", "timeout= takes whole seconds");
	expect_spec_error("nbd://srv/win,ro,overlay=ram", "ro and overlay= do not go together");
	expect_spec_error("ro", "no file= or nbd:// URI");
}

/* ---- opening ---- */

static void test_open_reads_size_and_says_why_not(void **state)
{
	struct server *s = server_start(DISK_SIZE + 512);
	struct block *bk = NULL;
	struct block_spec spec;
	char err[256] = "", text[256];

	(void)state;
	bk = open_ok(s, "");
	assert_int_equal(bk->size, DISK_SIZE + 512);
	assert_false(bk->read_only);
	block_close(bk);

	/* a read-only export: only with ro or an overlay */
	pthread_mutex_lock(&s->lock);
	s->read_only = true;
	pthread_mutex_unlock(&s->lock);
	assert_int_equal(open_disk(s, "", &bk, err, sizeof(err)), -EROFS);
	assert_non_null(strstr(err, "read-only on the server; add ,ro"));
	bk = open_ok(s, ",ro");
	assert_true(bk->read_only);
	block_close(bk);
	bk = open_ok(s, ",overlay=ram");
	assert_false(bk->read_only);
	block_close(bk);

	/* no server there; an export the server does not have */
	assert_int_equal(block_spec_parse("nbd+unix:///golden?socket=/nonexistent/nbd.sock",
					  &spec, err, sizeof(err)), 0);
	assert_int_equal(block_open(&spec, &bk, err, sizeof(err)), -ECONNREFUSED);
	assert_non_null(strstr(err, "cannot connect to the NBD server: No such file"));
	block_spec_free(&spec);
	snprintf(text, sizeof(text), "nbd+unix:///nope?socket=%s", s->path);
	assert_int_equal(block_spec_parse(text, &spec, err, sizeof(err)), 0);
	assert_int_equal(block_open(&spec, &bk, err, sizeof(err)), -ECONNREFUSED);
	assert_non_null(strstr(err, "server has no export named 'nope'"));
	block_spec_free(&spec);
	server_stop(s);
}

/* ---- I/O ---- */

static void test_io_matches_server_and_flush_reaches_it(void **state)
{
	struct server *s = server_start(DISK_SIZE);
	struct block *bk = open_ok(s, "");
	static uint8_t buf[1 << 20], back[1 << 20];
	struct iovec iov[3];

	(void)state;
	assert_int_equal(read_at(bk, back, 65536, 12345 * 512), 0);
	assert_memory_equal(back, s->cache + 12345 * 512, 65536);
	fill(buf, sizeof(buf), 1);
	assert_int_equal(write_at(bk, buf, sizeof(buf), 3 << 20), 0);
	assert_memory_equal(s->cache + (3 << 20), buf, sizeof(buf));
	/* not flushed yet: the durable copy is the old one */
	assert_memory_not_equal(s->durable + (3 << 20), buf, sizeof(buf));
	assert_int_equal(block_flush(bk), 0);
	assert_int_equal(server_count(s, &s->flushes), 1);
	assert_memory_equal(s->durable + (3 << 20), buf, sizeof(buf));

	/* split iovecs, odd lengths: written and read through a bounce */
	fill(buf, 3000, 9);
	iov[0] = (struct iovec){ buf, 512 };
	iov[1] = (struct iovec){ buf + 512, 1000 };
	iov[2] = (struct iovec){ buf + 1512, 1488 };
	assert_int_equal(block_pwritev(bk, iov, 3, 777), 0);
	assert_memory_equal(s->cache + 777, buf, 3000);
	memset(back, 0, 3000);
	iov[0] = (struct iovec){ back, 7 };
	iov[1] = (struct iovec){ back + 7, 2000 };
	iov[2] = (struct iovec){ back + 2007, 993 };
	assert_int_equal(block_preadv(bk, iov, 3, 777), 0);
	assert_memory_equal(back, buf, 3000);

	/* zeroes and discard */
	assert_int_equal(block_write_zeroes(bk, 4096, 8192, false), 0);
	assert_int_equal(read_at(bk, back, 8192, 4096), 0);
	memset(buf, 0, 8192);
	assert_memory_equal(back, buf, 8192);
	assert_int_equal(block_discard(bk, 1 << 20, 65536), 0);

	/* a range off the disk never reaches the server */
	assert_int_equal(read_at(bk, back, 1024, DISK_SIZE - 512), -EINVAL);
	assert_int_equal(block_write_zeroes(bk, DISK_SIZE, 512, false), -EINVAL);
	block_close(bk);

	/* read-only: writes refused before the server sees them */
	bk = open_ok(s, ",ro");
	{
		unsigned before = server_count(s, &s->writes);

		assert_int_equal(write_at(bk, buf, 512, 0), -EROFS);
		assert_int_equal(server_count(s, &s->writes), before);
	}
	block_close(bk);
	server_stop(s);
}

static void test_dropped_connection_is_ridden_out(void **state)
{
	struct server *s = server_start(DISK_SIZE);
	struct block *bk = open_ok(s, "");
	static uint8_t back[4 << 20];

	(void)state;
	/* the next command gets no reply; nobody listens for 300 ms */
	server_fault(s, 1, false, 300);
	assert_int_equal(read_at(bk, back, sizeof(back), 1 << 20), 0);
	assert_memory_equal(back, s->cache + (1 << 20), sizeof(back));
	assert_int_equal(server_count(s, &s->connections), 2);
	/* and once more, while writing */
	fill(back, sizeof(back), 3);
	server_fault(s, 1, false, 100);
	assert_int_equal(write_at(bk, back, sizeof(back), 0), 0);
	assert_memory_equal(s->cache, back, sizeof(back));
	assert_int_equal(server_count(s, &s->connections), 3);
	block_close(bk);
	server_stop(s);
}

static void test_crashed_server_gets_unflushed_writes_again(void **state)
{
	struct server *s = server_start(DISK_SIZE);
	struct block *bk = open_ok(s, "");
	static uint8_t a[1 << 20], b[1 << 20], back[1 << 20];

	(void)state;
	fill(a, sizeof(a), 5);
	fill(b, sizeof(b), 6);
	assert_int_equal(write_at(bk, a, sizeof(a), 0), 0);
	assert_int_equal(block_write_zeroes(bk, 2 << 20, 4096, true), 0);
	assert_int_equal(write_at(bk, b, sizeof(b), 512), 0); /* overlaps a */
	/* the server crashes at the next command, losing all three */
	server_fault(s, 1, true, 200);
	assert_int_equal(read_at(bk, back, sizeof(back), 4 << 20), 0);
	assert_memory_equal(s->cache, a, 512);
	assert_memory_equal(s->cache + 512, b, sizeof(b));
	memset(back, 0, 4096);
	assert_memory_equal(s->cache + (2 << 20), back, 4096);
	/* a flush makes them durable and empties the journal: a crash now
	 * loses nothing, and nothing is sent again */
	assert_int_equal(block_flush(bk), 0);
	{
		unsigned writes = server_count(s, &s->writes);

		server_fault(s, 1, true, 0);
		assert_int_equal(read_at(bk, back, 512, 0), 0);
		assert_int_equal(server_count(s, &s->writes), writes);
		assert_memory_equal(back, a, 512);
	}
	block_close(bk);
	server_stop(s);
}

static void test_long_write_run_flushes_itself(void **state)
{
	struct server *s = server_start(DISK_SIZE);
	struct block *bk = open_ok(s, "");
	static uint8_t buf[1 << 20];

	(void)state;
	fill(buf, sizeof(buf), 8);
	/* 72 MiB without a flush: past the journal's 64 MiB */
	for (int i = 0; i < 72; i++)
		assert_int_equal(write_at(bk, buf, sizeof(buf), (uint64_t)(i % 8) << 20), 0);
	assert_true(server_count(s, &s->flushes) >= 1);
	block_close(bk);
	server_stop(s);
}

static void test_timeout_fails_then_recovers(void **state)
{
	struct server *s = server_start(DISK_SIZE);
	struct block *bk = open_ok(s, ",timeout=1");
	uint8_t back[4096];
	uint64_t t0, t1;

	(void)state;
	/* gone for 2.5 s: the first call fails after ~1 s, the next at once */
	server_fault(s, 1, false, 2500);
	t0 = now_ms();
	assert_int_equal(read_at(bk, back, sizeof(back), 0), -EIO);
	t1 = now_ms();
	assert_true(t1 - t0 >= 900 && t1 - t0 < 2400);
	assert_int_equal(read_at(bk, back, sizeof(back), 0), -EIO);
	assert_true(now_ms() - t1 < 500);
	/* back: calls work again (the retry pace is at most 2 s) */
	usleep(2500 * 1000);
	for (int i = 0; i < 30 && read_at(bk, back, sizeof(back), 0); i++)
		usleep(100 * 1000);
	assert_int_equal(read_at(bk, back, sizeof(back), 0), 0);
	assert_memory_equal(back, s->cache, sizeof(back));

	/* a server that stops answering: left after 1 s, reconnected, answered */
	pthread_mutex_lock(&s->lock);
	s->stall_at = s->conn_commands + 1;
	pthread_mutex_unlock(&s->lock);
	t0 = now_ms();
	assert_int_equal(read_at(bk, back, sizeof(back), 4096), 0);
	assert_true(now_ms() - t0 >= 900);
	assert_memory_equal(back, s->cache + 4096, sizeof(back));
	block_close(bk);
	server_stop(s);
}

static void test_size_change_fails_every_call(void **state)
{
	struct server *s = server_start(DISK_SIZE);
	struct block *bk = open_ok(s, "");
	uint8_t back[512];

	(void)state;
	pthread_mutex_lock(&s->lock);
	s->size = DISK_SIZE / 2;
	pthread_mutex_unlock(&s->lock);
	server_fault(s, 1, false, 0);
	assert_int_equal(read_at(bk, back, sizeof(back), 0), -EIO);
	pthread_mutex_lock(&s->lock);
	s->size = DISK_SIZE;
	pthread_mutex_unlock(&s->lock);
	assert_int_equal(read_at(bk, back, sizeof(back), 0), -EIO);
	assert_int_equal(block_flush(bk), -EIO);
	block_close(bk);
	server_stop(s);
}

/* ---- everything at once ---- */

static uint64_t rng_state;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void test_random_workload_with_faults(void **state)
{
	struct server *s = server_start(DISK_SIZE);
	struct block *bk = open_ok(s, "");
	uint8_t *model = malloc(DISK_SIZE), *buf = malloc(1 << 20);
	uint64_t seed = (uint64_t)time(NULL);

	(void)state;
	assert_non_null(model);
	assert_non_null(buf);
	memcpy(model, s->cache, DISK_SIZE);
	rng_state = seed | 1;
	print_message("seed %llu\n", (unsigned long long)seed);
	for (int step = 0; step < 400; step++) {
		uint64_t len = 512 * (1 + rng() % 512), offset = 512 * (rng() % (DISK_SIZE / 512));
		unsigned what = (unsigned)(rng() % 10);
		struct iovec iov[4];
		int n = 1 + (int)(rng() % 4);
		uint64_t cut[4] = { 0 };

		if (offset + len > DISK_SIZE)
			len = DISK_SIZE - offset;
		if (rng() % 25 == 0)
			server_fault(s, 1 + (unsigned)(rng() % 3), rng() % 2, (unsigned)(rng() % 150));
		for (int i = 1; i < n; i++)
			cut[i] = rng() % (len + 1);
		/* iovecs of the random cut points, sorted */
		for (int i = 1; i < n; i++)
			for (int j = i + 1; j < n; j++)
				if (cut[j] < cut[i]) {
					uint64_t t = cut[i];

					cut[i] = cut[j];
					cut[j] = t;
				}
		for (int i = 0; i < n; i++)
			iov[i] = (struct iovec){ buf + cut[i], (i + 1 < n ? cut[i + 1] : len) - cut[i] };
		if (what < 4) {
			fill(buf, len, (unsigned)step);
			assert_int_equal(block_pwritev(bk, iov, n, offset), 0);
			memcpy(model + offset, buf, len);
		} else if (what < 5) {
			assert_int_equal(block_write_zeroes(bk, offset, len, rng() % 2), 0);
			memset(model + offset, 0, len);
		} else if (what < 6) {
			assert_int_equal(block_flush(bk), 0);
		} else {
			assert_int_equal(block_preadv(bk, iov, n, offset), 0);
			if (memcmp(buf, model + offset, len))
				fail_msg("step %d: read of %llu at %llu differs (seed %llu)", step,
					 (unsigned long long)len, (unsigned long long)offset,
					 (unsigned long long)seed);
		}
	}
	/* whatever crashed on the way, the server ends with the model */
	assert_int_equal(block_flush(bk), 0);
	assert_memory_equal(s->durable, model, DISK_SIZE);
	block_close(bk);
	free(model);
	free(buf);
	server_stop(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uri_forms),
		cmocka_unit_test(test_uri_errors),
		cmocka_unit_test(test_spec_keys),
		cmocka_unit_test(test_open_reads_size_and_says_why_not),
		cmocka_unit_test(test_io_matches_server_and_flush_reaches_it),
		cmocka_unit_test(test_dropped_connection_is_ridden_out),
		cmocka_unit_test(test_crashed_server_gets_unflushed_writes_again),
		cmocka_unit_test(test_long_write_run_flushes_itself),
		cmocka_unit_test(test_timeout_fails_then_recovers),
		cmocka_unit_test(test_size_change_fails_every_call),
		cmocka_unit_test(test_random_workload_with_faults),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
