/* The server's end of the remote port (see remote.h, and
 * lib/remote_proto.h for the protocol): the key file, and one signed
 * command to one PC (signed over its nonce and the PC's address and port
 * as this socket reached them) with every wait bounded by a deadline. What a PC
 * sends back is untrusted: lines are bounded and checked before use. */
#include "remote.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <netdb.h>
#include <nettle/eddsa.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "remote_proto.h"
#include "util.h"

_Static_assert(sizeof(((struct remote_key *)0)->priv) == REMOTE_KEY_SIZE &&
		       sizeof(((struct remote_key *)0)->pub) == REMOTE_KEY_SIZE,
	       "remote.h's key sizes are Ed25519's");

/* ---- the key ---- */

static int remote_key_create(const char *key_file)
{
	uint8_t seed[REMOTE_KEY_SIZE];
	char hex[2 * REMOTE_KEY_SIZE + 2], tmp[PATH_MAX], dir[PATH_MAX];
	int fd, err = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.new.%d", key_file, (int)getpid()) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	snprintf(dir, sizeof(dir), "%s", key_file);
	err = mkdir_p(dirname(dir), 0755);
	if (err)
		return err;
	if (getrandom(seed, sizeof(seed), 0) != (ssize_t)sizeof(seed))
		return -EIO;
	remote_hex_encode(seed, sizeof(seed), hex);
	explicit_bzero(seed, sizeof(seed));
	strcat(hex, "\n");
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		explicit_bzero(hex, sizeof(hex));
		return -errno;
	}
	if (write(fd, hex, strlen(hex)) != (ssize_t)strlen(hex) || fsync(fd) < 0)
		err = errno ? -errno : -EIO;
	explicit_bzero(hex, sizeof(hex));
	close(fd);
	/* link, not rename: a key someone made meanwhile is never replaced */
	if (!err && link(tmp, key_file) < 0 && errno != EEXIST)
		err = -errno;
	unlink(tmp);
	if (!err)
		fsync_parent_dir(key_file);
	return err;
}

int remote_key_load(const char *key_file, bool create, struct remote_key *key)
{
	char text[256];
	struct stat st;
	ssize_t n;
	int fd, err;

	fd = open(key_file, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && create) {
		err = remote_key_create(key_file);
		if (err)
			return err;
		fd = open(key_file, O_RDONLY | O_CLOEXEC);
	}
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	if (st.st_mode & 077) {
		close(fd);
		return -EPERM;
	}
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n < 0)
		return -errno;
	text[n] = 0;
	err = 0;
	if (strcspn(text, " \t\r\n") != 2 * REMOTE_KEY_SIZE ||
	    remote_hex_decode(text, REMOTE_KEY_SIZE, key->priv))
		err = -EINVAL;
	explicit_bzero(text, sizeof(text));
	if (!err)
		ed25519_sha512_public_key(key->pub, key->priv);
	return err;
}

int remote_public_key_hex(const char *key_file, bool create, char out[65])
{
	struct remote_key key;
	int err = remote_key_load(key_file, create, &key);

	if (!err)
		remote_hex_encode(key.pub, sizeof(key.pub), out);
	explicit_bzero(&key, sizeof(key));
	return err;
}

const char *remote_key_strerror(int err)
{
	switch (err) {
	case -ENOENT:
		return "no such file (make one with `duet switch --init-key`)";
	case -EINVAL:
		return "not a duet key (its first line is 64 hex digits: an Ed25519 private key)";
	case -EPERM:
		return "group or others may read it: chmod 600 it (it is the private key)";
	default:
		return strerror(-err);
	}
}

/* ---- one command ---- */

struct remote_conn {
	int fd;
	struct timespec deadline;
	size_t len;
	char buf[REMOTE_REPLY_MAX];
};

static int remote_ms_left(const struct remote_conn *c)
{
	struct timespec now;
	long long ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (long long)(c->deadline.tv_sec - now.tv_sec) * 1000 +
	     (c->deadline.tv_nsec - now.tv_nsec) / 1000000;
	return ms < 0 ? 0 : ms > INT_MAX ? INT_MAX : (int)ms;
}

static int remote_wait(const struct remote_conn *c, short events)
{
	struct pollfd p = { .fd = c->fd, .events = events };
	int left, rc;

	for (;;) {
		left = remote_ms_left(c);
		if (left == 0)
			return -ETIMEDOUT;
		rc = poll(&p, 1, left);
		if (rc > 0)
			return 0;
		if (rc == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

static int remote_connect_one(struct remote_conn *c, const struct addrinfo *ai)
{
	socklen_t len = sizeof(int);
	int err, soerr = 0;

	c->fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		       ai->ai_protocol);
	if (c->fd < 0)
		return -errno;
	if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return 0;
	err = errno == EINPROGRESS ? remote_wait(c, POLLOUT) : -errno;
	if (!err && getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
		err = -errno;
	if (!err && soerr)
		err = -soerr;
	if (err) {
		close(c->fd);
		c->fd = -1;
	}
	return err;
}

static int remote_connect(struct remote_conn *c, const char *host, unsigned port)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
	struct addrinfo *list;
	char service[8];
	int rc, err = -EHOSTUNREACH;

	snprintf(service, sizeof(service), "%u", port);
	rc = getaddrinfo(host, service, &hints, &list);
	if (rc)
		return rc == EAI_NONAME || rc == EAI_NODATA ? -ENOENT : -EHOSTUNREACH;
	for (struct addrinfo *ai = list; ai; ai = ai->ai_next) {
		err = remote_connect_one(c, ai);
		if (!err || err == -ETIMEDOUT)
			break;
	}
	freeaddrinfo(list);
	return err;
}

/* remote_read_line: the next line (NUL-terminated, without "\r\n") into
 * line; what came after it stays buffered. */
static int remote_read_line(struct remote_conn *c, char *line, size_t size)
{
	for (;;) {
		char *nl = memchr(c->buf, '\n', c->len);
		ssize_t n;
		int err;

		if (nl) {
			size_t len = (size_t)(nl - c->buf);

			if (len >= size)
				return -EPROTO;
			memcpy(line, c->buf, len);
			line[len] = 0;
			if (len && line[len - 1] == '\r')
				line[len - 1] = 0;
			memmove(c->buf, nl + 1, c->len - len - 1);
			c->len -= len + 1;
			return 0;
		}
		if (c->len == sizeof(c->buf))
			return -EPROTO; /* a line longer than any the display sends */
		err = remote_wait(c, POLLIN);
		if (err)
			return err;
		n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
		if (n == 0)
			return -EPROTO;
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		if (n > 0)
			c->len += (size_t)n;
	}
}

static int remote_send_all(struct remote_conn *c, const char *data, size_t len)
{
	while (len) {
		ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
		int err;

		if (n > 0) {
			data += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		err = remote_wait(c, POLLOUT);
		if (err)
			return err;
	}
	return 0;
}

static int remote_exchange(struct remote_conn *c, const struct remote_key *key,
			   const char *command, char *reply, size_t size)
{
	char line[REMOTE_REPLY_MAX];
	char message[REMOTE_MESSAGE_MAX], address[REMOTE_ADDRESS_MAX];
	char request[REMOTE_REQUEST_MAX + 1];
	uint8_t nonce[REMOTE_NONCE_SIZE], sig[REMOTE_SIG_SIZE];
	const char *nonce_hex = line + strlen(REMOTE_GREETING);
	struct sockaddr_storage peer;
	socklen_t peer_len = sizeof(peer);
	unsigned port;
	int err, len;

	err = remote_read_line(c, line, sizeof(line));
	if (err)
		return err == -EPROTO || err == -ECONNRESET ? -EPROTO : err;
	if (strncmp(line, REMOTE_GREETING, strlen(REMOTE_GREETING)) ||
	    strlen(nonce_hex) != 2 * REMOTE_NONCE_SIZE ||
	    remote_hex_decode(nonce_hex, REMOTE_NONCE_SIZE, nonce))
		return -EPROTO;
	/* the signature names the PC this socket reached: relayed to another
	 * PC, it is worthless there */
	if (getpeername(c->fd, (struct sockaddr *)&peer, &peer_len) < 0)
		return -errno;
	err = remote_sockaddr_text(&peer, address, &port);
	if (err)
		return err;
	len = remote_signed_message(message, address, port, nonce_hex, command);
	if (len < 0)
		return -EPROTO;
	ed25519_sha512_sign(key->pub, key->priv, (size_t)len, (const uint8_t *)message, sig);
	remote_hex_encode(sig, sizeof(sig), request);
	snprintf(request + 2 * REMOTE_SIG_SIZE, sizeof(request) - 2 * REMOTE_SIG_SIZE, " %s\n",
		 command);
	err = remote_send_all(c, request, strlen(request));
	if (err)
		return err;
	err = remote_read_line(c, line, sizeof(line));
	if (err)
		return err;
	if (strlen(line) >= size)
		return -EPROTO;
	for (const char *p = line; *p; p++)
		if (*p < 0x20 || *p > 0x7e)
			return -EPROTO;
	strcpy(reply, line);
	return 0;
}

int remote_request(const char *host, unsigned port, const struct remote_key *key,
		   const char *command, unsigned timeout_ms, char *reply, size_t size)
{
	struct remote_conn c = { .fd = -1 };
	int err;

	if (strlen(command) > REMOTE_COMMAND_MAX || !*command)
		return -EINVAL;
	for (const char *p = command; *p; p++)
		if (*p < 0x20 || *p > 0x7e)
			return -EINVAL;
	clock_gettime(CLOCK_MONOTONIC, &c.deadline);
	c.deadline.tv_sec += timeout_ms / 1000;
	c.deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (c.deadline.tv_nsec >= 1000000000) {
		c.deadline.tv_sec++;
		c.deadline.tv_nsec -= 1000000000;
	}
	err = remote_connect(&c, host, port);
	if (!err)
		err = remote_exchange(&c, key, command, reply, size);
	if (c.fd >= 0)
		close(c.fd);
	return err;
}

int remote_parse_status(const char *reply, char *active, size_t active_size, char *guests,
			size_t guests_size)
{
	const char *a = "ok active=", *g = strstr(reply, " guests=");
	size_t alen;

	if (strncmp(reply, a, strlen(a)) || !g)
		return -EPROTO;
	alen = (size_t)(g - reply) - strlen(a);
	if (alen >= active_size || strlen(g + 8) >= guests_size)
		return -EPROTO;
	memcpy(active, reply + strlen(a), alen);
	active[alen] = 0;
	strcpy(guests, g + 8);
	return 0;
}
