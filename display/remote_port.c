/* The remote port (see remote_port.h and remote_proto.h). Every byte a
 * client sends is untrusted: a request is one line of at most
 * REMOTE_REQUEST_MAX bytes of printable ASCII; nothing in it acts before
 * its signature checks out against the server's public key over this
 * connection's nonce and this PC's own address and port (getsockname of
 * the accepted socket), so a signature relayed from another PC fails.
 * One command per connection: after the reply the display shuts its side,
 * discards what else comes, and closes at the client's end or the
 * timeout, so a reply is not lost to a reset.
 *
 * Nobody on the LAN can keep the server out: a source address has one
 * connection waiting for its request at most (a newer one replaces it),
 * when every slot is taken the oldest connection still waiting makes
 * room, and one that says nothing is gone after REMOTE_REQUEST_TIMEOUT_MS.
 * Signature checks are limited per source address, and out of file
 * descriptors the listener rests a second (listener.h) instead of spinning. */
#include "remote_port.h"

#include <arpa/inet.h>
#include <errno.h>
#include <nettle/eddsa.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "display.h"
#include "listener.h"
#include "log.h"
#include "loop.h"
#include "vnc.h"

/* after the reply: how long a client may take to close its end */
#define REMOTE_LINGER_MS 1000
/* refusals logged per second at most; the rest are counted */
#define REMOTE_REFUSED_LOG_PER_S 10
/* source addresses whose signature checks are counted; the least recent
 * gives way to a new one */
#define REMOTE_RATE_SOURCES 16

struct remote_port;

struct remote_client {
	struct remote_port *r;
	int fd;
	int replied; /* draining until the client closes */
	struct loop_timer *timer;
	uint64_t accepted_ms;
	char addr[REMOTE_ADDRESS_MAX];       /* the client's */
	char local_addr[REMOTE_ADDRESS_MAX]; /* ours, as the signature names it */
	unsigned local_port;
	char nonce_hex[2 * REMOTE_NONCE_SIZE + 1];
	size_t len;
	char buf[REMOTE_REQUEST_MAX];
};

/* signature checks from one source address in the current second */
struct remote_rate {
	char addr[REMOTE_ADDRESS_MAX];
	uint64_t second_ms; /* when its second began */
	unsigned count;
};

struct remote_port {
	struct display *d;
	struct listener *listener;
	uint8_t public_key[REMOTE_KEY_SIZE];
	struct remote_client *clients[REMOTE_PORT_MAX_CLIENTS];
	struct remote_rate rates[REMOTE_RATE_SOURCES];
	uint64_t full_log_ms;    /* last "too many connections" line */
	uint64_t refused_log_ms; /* the second refusals are counted in */
	unsigned refused_logged, refused_unlogged;
};

int remote_read_public_key(const char *path, uint8_t pub[REMOTE_KEY_SIZE], char *err,
			   size_t errlen)
{
	char line[256];
	uint8_t key[REMOTE_KEY_SIZE];
	FILE *f = fopen(path, "r");
	size_t len;

	if (!f) {
		int rc = -errno;

		snprintf(err, errlen, "remote-public-key-file '%s': %s", path, strerror(errno));
		return rc;
	}
	if (!fgets(line, sizeof(line), f))
		line[0] = 0;
	fclose(f);
	len = strcspn(line, " \t\r\n");
	if (len != 2 * REMOTE_KEY_SIZE || remote_hex_decode(line, REMOTE_KEY_SIZE, key)) {
		snprintf(err, errlen, "remote-public-key-file '%s': the first line is not an Ed25519 "
			 "public key (64 hex digits, as `duet config` publishes it)", path);
		return -EINVAL;
	}
	if (pub)
		memcpy(pub, key, sizeof(key));
	return 0;
}

/* remote_refused: log a refusal, at most REMOTE_REFUSED_LOG_PER_S a
 * second, so a flood of garbage cannot fill the log. */
static void remote_refused(struct remote_client *c, const char *why)
{
	struct remote_port *r = c->r;
	uint64_t now = loop_now_ms();

	if (now - r->refused_log_ms >= 1000) {
		if (r->refused_unlogged)
			log_warn("remote port: %u more refusals not logged", r->refused_unlogged);
		r->refused_log_ms = now;
		r->refused_logged = 0;
		r->refused_unlogged = 0;
	}
	if (r->refused_logged++ < REMOTE_REFUSED_LOG_PER_S)
		log_warn("remote %s: refused: %s", c->addr, why);
	else
		r->refused_unlogged++;
}

static void remote_client_close(struct remote_client *c)
{
	struct remote_port *r = c->r;

	for (unsigned i = 0; i < REMOTE_PORT_MAX_CLIENTS; i++)
		if (r->clients[i] == c)
			r->clients[i] = NULL;
	loop_del_fd(r->d->loop, c->fd);
	loop_timer_free(c->timer);
	close(c->fd);
	explicit_bzero(c, sizeof(*c));
	free(c);
}

/* remote_reply: the one reply line; then the client gets a moment to
 * read it and close its end. */
static void remote_reply(struct remote_client *c, const char *fmt, const char *arg)
{
	char line[REMOTE_REPLY_MAX];
	int n = snprintf(line, sizeof(line) - 1, fmt, arg);

	if (n < 0 || (size_t)n >= sizeof(line) - 1)
		n = snprintf(line, sizeof(line) - 1, "error: reply too long");
	line[n++] = '\n';
	/* a fresh connection's socket buffer holds a line: no partial sends */
	if (send(c->fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) != n) {
		remote_client_close(c);
		return;
	}
	shutdown(c->fd, SHUT_WR);
	c->replied = 1;
	c->len = 0;
	loop_timer_arm(c->timer, REMOTE_LINGER_MS, 0);
}

static void remote_status(struct remote_client *c)
{
	struct display *d = c->r->d;
	char text[REMOTE_REPLY_MAX];
	size_t len;

	len = (size_t)snprintf(text, sizeof(text), "ok active=%s guests=",
			       d->active == SEAT_NO_SLOT ? "" : d->guests[d->active].name);
	for (unsigned i = 0; i < SEAT_MAX_SLOTS; i++) {
		if (!d->guests[i].used)
			continue;
		/* 16 names of at most 31 characters fit REMOTE_REPLY_MAX */
		len += (size_t)snprintf(text + len, sizeof(text) - len, "%s%s",
					text[len - 1] == '=' ? "" : ",", d->guests[i].name);
	}
	log_debug("remote %s: status", c->addr);
	remote_reply(c, "%s", text);
}

static void remote_switch(struct remote_client *c, const char *name)
{
	struct display *d = c->r->d;
	char padded[DISPLAY_NAME_SIZE] = { 0 };
	struct guest *g = NULL;

	if (strlen(name) < sizeof(padded)) {
		strcpy(padded, name);
		if (display_name_is_valid(padded))
			g = display_guest_by_name(d, padded);
	}
	if (!g) {
		log_info("remote %s: switch %s: no such guest", c->addr, name);
		remote_reply(c, "error: no guest '%s'", name);
		return;
	}
	log_info("remote %s: switch %s", c->addr, name);
	display_switch(d, (int)g->slot);
	remote_reply(c, "%s", "ok");
}

/* remote_rate_ok: whether c's source address may have one more signature
 * checked this second (REMOTE_VERIFY_PER_S). */
static bool remote_rate_ok(struct remote_client *c)
{
	struct remote_port *r = c->r;
	struct remote_rate *rate = &r->rates[0];
	uint64_t now = loop_now_ms();

	for (unsigned i = 0; i < REMOTE_RATE_SOURCES; i++) {
		if (!strcmp(r->rates[i].addr, c->addr)) {
			rate = &r->rates[i];
			break;
		}
		if (r->rates[i].second_ms < rate->second_ms)
			rate = &r->rates[i];
	}
	if (strcmp(rate->addr, c->addr) || now - rate->second_ms >= 1000) {
		snprintf(rate->addr, sizeof(rate->addr), "%s", c->addr);
		rate->second_ms = now;
		rate->count = 0;
	}
	return rate->count++ < REMOTE_VERIFY_PER_S;
}

/* remote_request: one line, NUL-terminated without its "\n" or "\r". */
static void remote_request(struct remote_client *c, const char *line, size_t len)
{
	uint8_t sig[REMOTE_SIG_SIZE];
	char message[REMOTE_MESSAGE_MAX];
	const char *command = line + 2 * REMOTE_SIG_SIZE + 1;
	size_t command_len;
	int message_len;

	for (size_t i = 0; i < len; i++) {
		if (line[i] < 0x20 || line[i] > 0x7e) {
			remote_refused(c, "not a request line");
			remote_reply(c, "%s", "error: not a request line");
			return;
		}
	}
	if (len <= 2 * REMOTE_SIG_SIZE + 1 || line[2 * REMOTE_SIG_SIZE] != ' ' ||
	    remote_hex_decode(line, REMOTE_SIG_SIZE, sig)) {
		remote_refused(c, "not a request line");
		remote_reply(c, "%s", "error: not a request line (SIGNATURE COMMAND)");
		return;
	}
	command_len = len - (2 * REMOTE_SIG_SIZE + 1);
	if (command_len > REMOTE_COMMAND_MAX) {
		remote_refused(c, "command too long");
		remote_reply(c, "%s", "error: command too long");
		return;
	}
	if (!remote_rate_ok(c)) {
		remote_refused(c, "too many requests from this address");
		remote_reply(c, "%s", "error: busy (too many requests), try again in a second");
		return;
	}
	message_len = remote_signed_message(message, c->local_addr, c->local_port, c->nonce_hex,
					    command);
	if (message_len < 0 ||
	    !ed25519_sha512_verify(c->r->public_key, (size_t)message_len,
				   (const uint8_t *)message, sig)) {
		remote_refused(c, "not authenticated (bad signature)");
		remote_reply(c, "%s", "error: not authenticated");
		return;
	}
	if (!strcmp(command, "status"))
		remote_status(c);
	else if (!strncmp(command, "switch ", 7))
		remote_switch(c, command + 7);
	else {
		log_info("remote %s: unknown command '%s'", c->addr, command);
		remote_reply(c, "%s", "error: unknown command (status, switch NAME)");
	}
}

static void remote_client_readable(void *opaque, uint32_t events)
{
	struct remote_client *c = opaque;
	char *nl;
	ssize_t n;

	(void)events;
	if (c->replied) {
		char sink[512];

		n = recv(c->fd, sink, sizeof(sink), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			remote_client_close(c);
		return;
	}
	n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, MSG_DONTWAIT);
	if (n <= 0) {
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (c->len)
			remote_refused(c, "closed in the middle of a line");
		remote_client_close(c);
		return;
	}
	c->len += (size_t)n;
	nl = memchr(c->buf, '\n', c->len);
	if (!nl) {
		if (c->len == sizeof(c->buf)) {
			remote_refused(c, "line too long");
			remote_reply(c, "%s", "error: line too long");
		}
		return;
	}
	*nl = 0;
	if (nl > c->buf && nl[-1] == '\r')
		*--nl = 0;
	remote_request(c, c->buf, (size_t)(nl - c->buf));
}

static void remote_client_timeout(void *opaque)
{
	struct remote_client *c = opaque;

	if (!c->replied)
		remote_refused(c, "timed out before a request");
	remote_client_close(c);
}

/* remote_make_room: a free slot for a connection from addr, or -1. A
 * connection from the same address still waiting for its request gives
 * way to the new one; with every slot taken, the oldest one still waiting
 * does. Connections that were answered (draining, at most
 * REMOTE_LINGER_MS) are left alone. */
static int remote_make_room(struct remote_port *r, const char *addr)
{
	struct remote_client *oldest = NULL;
	int slot = -1;

	for (unsigned i = 0; i < REMOTE_PORT_MAX_CLIENTS; i++) {
		struct remote_client *c = r->clients[i];

		if (c && !c->replied && !strcmp(c->addr, addr)) {
			remote_refused(c, "replaced by a newer connection from the same address");
			remote_client_close(c);
			c = NULL;
		}
		if (!c && slot < 0)
			slot = (int)i;
		else if (c && !c->replied && (!oldest || c->accepted_ms < oldest->accepted_ms))
			oldest = c;
	}
	if (slot >= 0)
		return slot;
	if (!oldest)
		return -1;
	for (unsigned i = 0; i < REMOTE_PORT_MAX_CLIENTS; i++)
		if (r->clients[i] == oldest)
			slot = (int)i;
	remote_refused(oldest, "dropped for a newer connection (every slot taken)");
	remote_client_close(oldest);
	return slot;
}

static void remote_accept(void *opaque)
{
	struct remote_port *r = opaque;
	struct sockaddr_storage peer, local;
	socklen_t peer_len = sizeof(peer), local_len = sizeof(local);
	uint8_t nonce[REMOTE_NONCE_SIZE];
	char greeting[sizeof(REMOTE_GREETING) + 2 * REMOTE_NONCE_SIZE + 1];
	char addr[REMOTE_ADDRESS_MAX];
	struct remote_client *c;
	unsigned peer_port;
	int fd, n, slot;

	fd = listener_accept(r->listener, (struct sockaddr *)&peer, &peer_len);
	if (fd < 0)
		return;
	if (getsockname(fd, (struct sockaddr *)&local, &local_len) < 0 ||
	    remote_sockaddr_text(&peer, addr, &peer_port)) {
		close(fd);
		return;
	}
	slot = remote_make_room(r, addr);
	if (slot < 0) {
		uint64_t now = loop_now_ms();

		if (now - r->full_log_ms >= 1000) {
			log_warn("remote port: refused a connection: %d are open already",
				 REMOTE_PORT_MAX_CLIENTS);
			r->full_log_ms = now;
		}
		close(fd);
		return;
	}
	if (getrandom(nonce, sizeof(nonce), GRND_NONBLOCK) != (ssize_t)sizeof(nonce)) {
		log_warn("remote port: no random numbers for a nonce yet: connection closed");
		close(fd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	c->r = r;
	c->fd = fd;
	c->accepted_ms = loop_now_ms();
	memcpy(c->addr, addr, sizeof(addr));
	if (remote_sockaddr_text(&local, c->local_addr, &c->local_port)) {
		close(fd);
		free(c);
		return;
	}
	remote_hex_encode(nonce, sizeof(nonce), c->nonce_hex);
	n = snprintf(greeting, sizeof(greeting), REMOTE_GREETING "%s\n", c->nonce_hex);
	c->timer = loop_timer_create(r->d->loop, remote_client_timeout, c);
	if (!c->timer || send(fd, greeting, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) != n ||
	    loop_add_fd(r->d->loop, fd, EPOLLIN, remote_client_readable, c)) {
		loop_timer_free(c->timer);
		close(fd);
		free(c);
		return;
	}
	loop_timer_arm(c->timer, REMOTE_REQUEST_TIMEOUT_MS, 0);
	r->clients[slot] = c;
}

void remote_port_stop(struct remote_port *r)
{
	if (!r)
		return;
	for (unsigned i = 0; i < REMOTE_PORT_MAX_CLIENTS; i++)
		if (r->clients[i])
			remote_client_close(r->clients[i]);
	listener_free(r->listener);
	free(r);
}

int remote_port_start(struct remote_port **out, struct display *d)
{
	const struct remote_options *o = &d->opts->remote;
	struct sockaddr_storage addr;
	socklen_t addr_len;
	struct remote_port *r;
	char why[512];
	int fd, err, one = 1;

	*out = NULL;
	if (!o->listen)
		return 0;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->d = d;
	err = remote_read_public_key(o->public_key_file, r->public_key, why, sizeof(why));
	if (err) {
		log_error("%s", why);
		free(r);
		return err;
	}
	if (vnc_parse_address(o->listen, &addr, &addr_len) < 0) {
		log_error("remote-listen '%s': not an IPv4 or IPv6 address", o->listen);
		free(r);
		return -EINVAL;
	}
	if (addr.ss_family == AF_INET)
		((struct sockaddr_in *)&addr)->sin_port = htons((uint16_t)o->port);
	else
		((struct sockaddr_in6 *)&addr)->sin6_port = htons((uint16_t)o->port);
	fd = socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&addr, addr_len) < 0 || listen(fd, 8) < 0)
		err = -errno;
	else
		err = listener_create(&r->listener, d->loop, fd, "remote port", remote_accept, r);
	if (err) {
		/* like a VNC port: the screen matters more than remote control */
		log_error("remote port %s:%u: %s; running without it", o->listen, o->port,
			  strerror(-err));
		if (fd >= 0)
			close(fd);
		free(r);
		return 0;
	}
	log_info("remote port on %s:%u (commands signed with the key in %s)", o->listen, o->port,
		 o->public_key_file);
	*out = r;
	return 0;
}
