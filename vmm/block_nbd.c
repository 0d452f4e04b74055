/* The NBD back end (block.h; `--disk nbd://HOST[:PORT]/EXPORT` or
 * `nbd+unix:///EXPORT?socket=PATH`): a disk whose bytes live in an export
 * of an NBD server, such as the school server's golden image served by
 * nbd-server or qemu-nbd. libnbd speaks the protocol (NBD_OPT_GO,
 * structured replies when the server has them); this file adds what a
 * classroom needs on top: riding out a server restart.
 *
 * Calls are synchronous (block.h) and one at a time (a lock). Each is cut
 * into NBD commands of at most NBD_PIECE_MAX bytes, sent together, and the
 * call returns when every one has its reply. A guest flush becomes
 * NBD_CMD_FLUSH and returns only after the server's reply to it; a server
 * without FLUSH but with FUA gets every write with FUA instead.
 *
 * When the connection drops (the server was restarted, a reset, no reply
 * for `timeout` seconds) the calling thread keeps the guest's request and
 * reconnects with a backoff (NBD_BACKOFF_*), then sends again every command
 * that had no reply. The guest sees nothing but a slow request. Writes are
 * also kept in a journal, in order, from the moment they are sent until the
 * server has flushed them (at most NBD_JOURNAL_MAX bytes: past that this
 * back end sends a flush itself), and the journal is written again first
 * after every reconnect: a server that lost what it had not yet flushed
 * (qemu-nbd killed with qcow2 metadata in its cache, a crashed host) still
 * ends up with every write the guest was told was done.
 *
 * With `timeout=SECONDS` (0, the default: for ever), once the server has
 * been gone that long, the waiting request and every later one fail with
 * -EIO (the guest sees I/O errors) until a reconnect succeeds; reconnecting
 * goes on. The export's size is read at each connect; a different size
 * after a reconnect means a different disk, and every request from then on
 * fails with -EIO (mixing two images would corrupt the guest's file
 * system). One line is logged when the link drops, one when it is back.
 *
 * The server's name is resolved once, when the disk is opened: the
 * sandbox lets a running VMM make sockets and connect them but not open
 * /etc/hosts or /etc/resolv.conf.
 *
 * This file's own names start with nbdbk_: libnbd has nbd_. */
#include "block.h"

#include <errno.h>
#include <inttypes.h>
#include <libnbd.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "parse.h"

#define NBD_DEFAULT_PORT "10809"
/* NBD protocol: "an export name ... MUST NOT exceed 4096 bytes". */
#define NBD_EXPORT_NAME_MAX 4096
#define NBD_MAX_ADDRS 8
/* The largest command, unless the server asks for less. A guest's request
 * of 1 MiB becomes four commands in flight together: the server reads the
 * next from its disk while the last travels back (qemu-nbd works on all
 * four at once), where one 1 MiB command would leave the link idle while
 * the server reads. `make bench` (nbd-read) measures the result. */
#define NBD_PIECE_MAX ((uint64_t)256 << 10)
/* Trim and write-zeroes carry no data: only the 32-bit length bounds them. */
#define NBD_RANGE_MAX ((uint64_t)1 << 30)
/* Commands one batch sends before waiting for replies. */
#define NBD_BATCH 8
/* Writes the server has not flushed, kept for sending again. */
#define NBD_JOURNAL_MAX ((uint64_t)64 << 20)
#define NBD_JOURNAL_MAX_ENTRIES 4096
/* Emulated write-zeroes (a server without it) write from this. */
#define NBD_ZEROES_LEN ((size_t)1 << 20)
/* Reconnecting: the first retry at once, the next after 100 ms, then
 * twice as long each time, at most 2 s apart. One attempt (connect +
 * handshake) may take 30 s: a server that took the connection but answers
 * slowly is starting up or busy, not gone (nbd-server has been seen to take
 * 10 s in the rig), and giving up on it only queues us behind our own dead
 * connection. With timeout= it may take no longer than what is left of
 * the timeout, and 1 s once that has passed. */
#define NBD_BACKOFF_FIRST_MS 100
#define NBD_BACKOFF_MAX_MS 2000
#define NBD_ATTEMPT_MS 30000
#define NBD_ATTEMPT_MIN_MS 1000
/* TCP: a server that stops acknowledging for 30 s, or answers no
 * keepalive probe for 15 + 3 * 5 s when idle, is gone (a pulled cable,
 * a crashed host), where TCP by itself would wait ~15 minutes. */
#define NBD_TCP_USER_TIMEOUT_MS 30000
#define NBD_TCP_KEEPIDLE_S 15
#define NBD_TCP_KEEPINTVL_S 5
#define NBD_TCP_KEEPCNT 3
/* nbdbk_exchange's answer when the connection went away under it. */
#define NBD_LINK_LOST 1

enum nbdbk_op { NBD_OP_READ, NBD_OP_WRITE, NBD_OP_FLUSH, NBD_OP_TRIM, NBD_OP_ZERO };

/* One NBD command of a call: sent, and sent again after a reconnect,
 * until it has its reply. */
struct nbdbk_cmd {
	enum nbdbk_op op;
	void *buf;        /* READ, WRITE: len bytes */
	uint64_t offset, len;
	uint32_t flags;   /* LIBNBD_CMD_FLAG_* */
	int64_t cookie;   /* > 0: in flight on this connection */
	bool done;
};

/* A write, zeroing or trim the server has done but not yet flushed. */
struct nbdbk_journal_entry {
	struct nbdbk_journal_entry *next;
	enum nbdbk_op op;   /* WRITE, ZERO or TRIM */
	uint64_t offset, len;
	uint32_t flags;
	uint8_t data[];   /* WRITE: len bytes */
};

struct nbdbk_addr {
	struct sockaddr_storage sa;
	socklen_t len;
};

struct block_nbd {
	struct block bk;
	char *name;                 /* the URI, for messages */
	char *export;
	struct nbdbk_addr addrs[NBD_MAX_ADDRS];
	unsigned naddrs;
	unsigned timeout_s;         /* 0: wait for the server for ever */
	pthread_mutex_t lock;       /* one call at a time; everything below */
	struct nbd_handle *h;       /* NULL: no connection */
	/* What the connected server offers. */
	bool can_flush, can_fua, can_trim, can_zero;
	uint64_t piece_max;
	/* An outage: since when, and when to try next. */
	bool down;
	uint64_t down_since_ms, next_attempt_ms;
	unsigned backoff_ms;
	unsigned resent;            /* commands sent again in this outage */
	bool timeout_logged;
	bool gone;                  /* the export changed: every call fails */
	/* The journal, oldest first. */
	struct nbdbk_journal_entry *journal, **journal_tail;
	uint64_t journal_bytes;
	unsigned journal_count;
	uint8_t *bounce;            /* reads into scattered buffers */
	uint8_t *zeroes;            /* NBD_ZEROES_LEN zero bytes, made when needed */
};

static struct block_nbd *to_nbd(struct block *bk)
{
	return (struct block_nbd *)bk;
}

__attribute__((format(printf, 4, 5)))
static int nbdbk_fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return code;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(uint64_t ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- the URI (https://github.com/NetworkBlockDevice/nbd/blob/master/doc/uri.md) ---- */

void block_nbd_uri_free(struct block_nbd_uri *uri)
{
	free(uri->host);
	free(uri->port);
	free(uri->socket);
	free(uri->export);
	memset(uri, 0, sizeof(*uri));
}

/* uri_decode: [s, s + len) with its %XX escapes undone, as a new string;
 * NULL with *bad set for a broken escape or a NUL byte, or out of memory. */
static char *uri_decode(const char *s, size_t len, bool *bad)
{
	char *out = malloc(len + 1), *o = out;

	*bad = false;
	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		int hi, lo;

		if (s[i] != '%') {
			*o++ = s[i];
			continue;
		}
		hi = i + 2 < len ? parse_hex_digit(s[i + 1]) : -1;
		lo = i + 2 < len ? parse_hex_digit(s[i + 2]) : -1;
		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
			*bad = true;
			free(out);
			return NULL;
		}
		*o++ = (char)(hi << 4 | lo);
		i += 2;
	}
	*o = '\0';
	return out;
}

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_';
}

/* uri_host_ok: a DNS name or IPv4 address (letters, digits, '-', '.', '_');
 * in brackets, an IPv6 address (hex digits, ':', '.'), perhaps with a zone
 * after "%25" (RFC 6874) such as [fe80::1%25eth0]. */
static bool uri_host_ok(const char *host, size_t len, bool bracketed)
{
	const char *zone = bracketed ? memmem(host, len, "%25", 3) : NULL;
	size_t addr_len = zone ? (size_t)(zone - host) : len;

	if (!addr_len || (zone && addr_len + 3 == len))
		return false;
	for (size_t i = 0; i < addr_len; i++)
		if (bracketed ? parse_hex_digit(host[i]) < 0 && host[i] != ':' && host[i] != '.'
			      : !name_char(host[i]))
			return false;
	for (size_t i = addr_len + 3; zone && i < len; i++)
		if (!name_char(host[i]))
			return false;
	return true;
}

/* uri_port_ok: 1-65535 in plain digits. */
static bool uri_port_ok(const char *port, size_t len)
{
	unsigned long v = 0;

	if (!len || len > 5)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (port[i] < '0' || port[i] > '9')
			return false;
		v = v * 10 + (unsigned long)(port[i] - '0');
	}
	return v >= 1 && v <= 65535;
}

/* uri_authority: HOST[:PORT] of an nbd:// URI, [start, end). */
static int uri_authority(const char *start, const char *end, struct block_nbd_uri *out,
			 char *err, size_t errlen)
{
	const char *host = start, *host_end, *port = NULL;
	bool bracketed = false, bad;

	if (memchr(start, '@', (size_t)(end - start)))
		return nbdbk_fail(err, errlen, -EINVAL, "a user name (USER@) is not supported");
	if (start < end && *start == '[') {
		const char *close = memchr(start, ']', (size_t)(end - start));

		if (!close)
			return nbdbk_fail(err, errlen, -EINVAL,
					  "'[' without ']' around an IPv6 address");
		host = start + 1;
		host_end = close;
		bracketed = true;
		if (close + 1 < end && close[1] != ':')
			return nbdbk_fail(err, errlen, -EINVAL, "'%.*s' is not [IPV6]:PORT",
					  (int)(end - start), start);
		if (close + 1 < end)
			port = close + 2;
	} else {
		host_end = memchr(start, ':', (size_t)(end - start));
		if (host_end)
			port = host_end + 1;
		else
			host_end = end;
	}
	if (host_end == host)
		return nbdbk_fail(err, errlen, -EINVAL, "no host (the form is "
				"nbd://HOST[:PORT]/EXPORT)");
	if (!uri_host_ok(host, (size_t)(host_end - host), bracketed))
		return nbdbk_fail(err, errlen, -EINVAL, "'%.*s' is not a host name or address",
				  (int)(host_end - host), host);
	if (port && !uri_port_ok(port, (size_t)(end - port)))
		return nbdbk_fail(err, errlen, -EINVAL, "port '%.*s' is not a number from 1 to "
				  "65535", (int)(end - port), port);
	/* Valid, so its only escape is a zone's %25. */
	out->host = uri_decode(host, (size_t)(host_end - host), &bad);
	out->port = port ? strndup(port, (size_t)(end - port)) : strdup(NBD_DEFAULT_PORT);
	if (!out->host || !out->port)
		return nbdbk_fail(err, errlen, -ENOMEM, "out of memory");
	return 0;
}

/* uri_query: the KEY=VALUE&... after '?': nbd+unix:// takes socket=PATH,
 * nbd:// nothing. */
static int uri_query(const char *query, bool unix_socket, struct block_nbd_uri *out, char *err,
		     size_t errlen)
{
	while (*query) {
		const char *end = strchr(query, '&'), *eq;
		size_t len;
		bool bad;

		if (!end)
			end = query + strlen(query);
		len = (size_t)(end - query);
		eq = memchr(query, '=', len);
		if (!unix_socket || !eq || (size_t)(eq - query) != 6 || strncmp(query, "socket", 6))
			return nbdbk_fail(err, errlen, -EINVAL,
					  "unknown query parameter '%.*s' (%s)", (int)len, query,
					  unix_socket ? "nbd+unix:// takes socket=PATH"
					  : "nbd:// takes none");
		if (out->socket)
			return nbdbk_fail(err, errlen, -EINVAL, "socket= is given twice");
		out->socket = uri_decode(eq + 1, (size_t)(end - eq - 1), &bad);
		if (!out->socket)
			return bad ? nbdbk_fail(err, errlen, -EINVAL, "socket=: a broken %%-escape")
				   : nbdbk_fail(err, errlen, -ENOMEM, "out of memory");
		query = *end ? end + 1 : end;
	}
	return 0;
}

static int uri_parse(const char *uri, struct block_nbd_uri *out, char *err, size_t errlen)
{
	const char *sep = strstr(uri, "://"), *rest, *auth_end, *path_end;
	bool unix_socket, bad;
	int rc;

	if (!sep)
		return nbdbk_fail(err, errlen, -EINVAL, "not a URI (the form is "
				"nbd://HOST[:PORT]/EXPORT or nbd+unix:///EXPORT?socket=PATH)");
	if ((size_t)(sep - uri) == 3 && !strncmp(uri, "nbd", 3)) {
		unix_socket = false;
	} else if ((size_t)(sep - uri) == 8 && !strncmp(uri, "nbd+unix", 8)) {
		unix_socket = true;
	} else if (!strncmp(uri, "nbds", 4)) {
		return nbdbk_fail(err, errlen, -EINVAL, "TLS (%.*s://) is not supported",
				  (int)(sep - uri), uri);
	} else {
		return nbdbk_fail(err, errlen, -EINVAL, "unknown scheme '%.*s://' (the form is "
				"nbd://HOST[:PORT]/EXPORT or nbd+unix:///EXPORT?socket=PATH)",
				(int)(sep - uri), uri);
	}
	rest = sep + 3;
	if (strchr(rest, '#'))
		return nbdbk_fail(err, errlen, -EINVAL, "a #fragment means nothing here");
	auth_end = rest + strcspn(rest, "/?");
	if (unix_socket && auth_end != rest)
		return nbdbk_fail(err, errlen, -EINVAL, "nbd+unix:// takes no host (the form is "
				"nbd+unix:///EXPORT?socket=PATH)");
	if (!unix_socket) {
		rc = uri_authority(rest, auth_end, out, err, errlen);
		if (rc)
			return rc;
	}
	/* The export is the path without its first '/'; none: "". */
	path_end = auth_end + strcspn(auth_end, "?");
	if (*auth_end == '/')
		out->export = uri_decode(auth_end + 1, (size_t)(path_end - auth_end - 1), &bad);
	else
		out->export = uri_decode("", 0, &bad);
	if (!out->export)
		return bad ? nbdbk_fail(err, errlen, -EINVAL,
					"the export name has a broken %%-escape")
			   : nbdbk_fail(err, errlen, -ENOMEM, "out of memory");
	if (strlen(out->export) > NBD_EXPORT_NAME_MAX)
		return nbdbk_fail(err, errlen, -EINVAL, "the export name is longer than %d bytes",
				  NBD_EXPORT_NAME_MAX);
	if (*path_end == '?') {
		rc = uri_query(path_end + 1, unix_socket, out, err, errlen);
		if (rc)
			return rc;
	}
	if (unix_socket && (!out->socket || !*out->socket))
		return nbdbk_fail(err, errlen, -EINVAL, "nbd+unix:// needs ?socket=PATH");
	if (unix_socket && strlen(out->socket) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return nbdbk_fail(err, errlen, -EINVAL, "the socket path is longer than %zu bytes",
				  sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
	return 0;
}

int block_nbd_uri_parse(const char *uri, struct block_nbd_uri *out, char *err, size_t errlen)
{
	int rc;

	memset(out, 0, sizeof(*out));
	rc = uri_parse(uri, out, err, errlen);
	if (rc)
		block_nbd_uri_free(out);
	return rc;
}

/* ---- connecting ---- */

/* libnbd_reason: libnbd's last error, without the names of the calls
 * ("nbd_poll: ") it starts with. */
static const char *libnbd_reason(void)
{
	const char *e = nbd_get_error(), *colon;

	if (!e)
		return "unknown error";
	while (!strncmp(e, "nbd_", 4) && (colon = strstr(e, ": ")) != NULL)
		e = colon + 2;
	return e;
}

/* nbdbk_resolve: the server's addresses, now, while files may be opened. */
static int nbdbk_resolve(struct block_nbd *n, const struct block_nbd_uri *uri, char *err,
			 size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_protocol = IPPROTO_TCP };
	struct addrinfo *res, *ai;
	int rc;

	if (uri->socket) {
		struct sockaddr_un *sun = (struct sockaddr_un *)&n->addrs[0].sa;

		sun->sun_family = AF_UNIX;
		/* The parser bounded it by sun_path. */
		snprintf(sun->sun_path, sizeof(sun->sun_path), "%s", uri->socket);
		n->addrs[0].len = sizeof(*sun);
		n->naddrs = 1;
		return 0;
	}
	rc = getaddrinfo(uri->host, uri->port, &hints, &res);
	if (rc)
		return nbdbk_fail(err, errlen, -EHOSTUNREACH, "cannot resolve '%s': %s", uri->host,
				  rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
	for (ai = res; ai && n->naddrs < NBD_MAX_ADDRS; ai = ai->ai_next) {
		if (ai->ai_addrlen > sizeof(n->addrs[0].sa))
			continue;
		memcpy(&n->addrs[n->naddrs].sa, ai->ai_addr, ai->ai_addrlen);
		n->addrs[n->naddrs++].len = ai->ai_addrlen;
	}
	freeaddrinfo(res);
	if (!n->naddrs)
		return nbdbk_fail(err, errlen, -EHOSTUNREACH, "'%s' has no address", uri->host);
	return 0;
}

static void nbdbk_tcp_options(int fd)
{
	int on = 1, idle = NBD_TCP_KEEPIDLE_S, intvl = NBD_TCP_KEEPINTVL_S;
	int cnt = NBD_TCP_KEEPCNT;
	unsigned user_timeout = NBD_TCP_USER_TIMEOUT_MS;

	/* Advice: a connection works without any of them. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
	setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout, sizeof(user_timeout));
}

/* nbdbk_socket: a socket connected to addr by `deadline`, or -errno. */
static int nbdbk_socket(const struct nbdbk_addr *addr, uint64_t deadline)
{
	int family = addr->sa.ss_family, fd, e = 0;
	socklen_t elen = sizeof(e);

	fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)&addr->sa, addr->len) < 0) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		uint64_t now;
		int rc;

		if (errno != EINPROGRESS) {
			e = errno;
			close(fd);
			return -e;
		}
		do {
			now = now_ms();
			rc = now < deadline ? poll(&p, 1, (int)(deadline - now)) : 0;
		} while (rc < 0 && errno == EINTR);
		if (rc == 0)
			e = ETIMEDOUT;
		else if (rc < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &elen) < 0)
			e = errno;
		if (e) {
			close(fd);
			return -e;
		}
	}
	if (family != AF_UNIX)
		nbdbk_tcp_options(fd);
	return fd;
}

/* nbdbk_handshake: a libnbd handle on connected fd (taken whatever the
 * outcome), through NBD_OPT_GO by `deadline`; NULL with the reason. */
static struct nbd_handle *nbdbk_handshake(struct block_nbd *n, int fd, uint64_t deadline,
					  char *why, size_t whylen)
{
	struct nbd_handle *h = nbd_create();

	if (!h) {
		close(fd);
		snprintf(why, whylen, "%s", libnbd_reason());
		return NULL;
	}
	if (nbd_set_export_name(h, n->export) < 0 ||
	    nbd_set_request_structured_replies(h, true) < 0 ||
	    nbd_aio_connect_socket(h, fd) < 0) {
		snprintf(why, whylen, "%s", libnbd_reason());
		close(fd);
		nbd_close(h);
		return NULL;
	}
	while (nbd_aio_is_connecting(h)) {
		uint64_t now = now_ms();

		if (now >= deadline) {
			snprintf(why, whylen, "no answer to the handshake");
			nbd_close(h);
			return NULL;
		}
		if (nbd_poll(h, (int)(deadline - now)) < 0)
			break;
	}
	if (!nbd_aio_is_ready(h)) {
		snprintf(why, whylen, "%s", libnbd_reason());
		nbd_close(h);
		return NULL;
	}
	return h;
}

/* nbdbk_take_offer: what the server offers on h, the new connection. */
static void nbdbk_take_offer(struct block_nbd *n, struct nbd_handle *h)
{
	int64_t max = nbd_get_block_size(h, LIBNBD_SIZE_MAXIMUM);

	n->h = h;
	n->can_flush = nbd_can_flush(h) == 1;
	n->can_fua = nbd_can_fua(h) == 1;
	n->can_trim = nbd_can_trim(h) == 1;
	n->can_zero = nbd_can_zero(h) == 1;
	n->piece_max = max > 0 && (uint64_t)max < NBD_PIECE_MAX ? (uint64_t)max : NBD_PIECE_MAX;
	/* A server's maximum below 4 KiB would be odd; not below a sector. */
	if (n->piece_max < 512)
		n->piece_max = 512;
}

/* nbdbk_connect_once: one attempt on each address, all within
 * attempt_ms; the handshaken handle, or NULL with the last reason. */
static struct nbd_handle *nbdbk_connect_once(struct block_nbd *n, unsigned attempt_ms,
					     char *why, size_t whylen)
{
	uint64_t deadline = now_ms() + attempt_ms;

	for (unsigned i = 0; i < n->naddrs; i++) {
		int fd = nbdbk_socket(&n->addrs[i], deadline);
		struct nbd_handle *h;

		if (fd < 0) {
			snprintf(why, whylen, "%s", strerror(-fd));
			continue;
		}
		h = nbdbk_handshake(n, fd, deadline, why, whylen);
		if (h)
			return h;
	}
	return NULL;
}

/* nbdbk_drop: close the connection, if any, without a word to the server. */
static void nbdbk_drop(struct block_nbd *n)
{
	if (n->h)
		nbd_close(n->h);
	n->h = NULL;
}

/* nbdbk_link_lost: the connection is gone (why); waiting starts, counted
 * from `since`. */
static void nbdbk_link_lost(struct block_nbd *n, const char *why, uint64_t since)
{
	nbdbk_drop(n);
	if (n->down)
		return;
	n->down = true;
	n->down_since_ms = since;
	n->next_attempt_ms = now_ms();
	n->backoff_ms = NBD_BACKOFF_FIRST_MS;
	n->resent = 0;
	n->timeout_logged = false;
	log_warn("disk '%s': lost the connection to the server (%s); guest I/O waits while "
		 "duet-vmm reconnects", n->name, why);
}

/* ---- commands ---- */

static int64_t nbdbk_issue(struct block_nbd *n, struct nbdbk_cmd *c)
{
	/* A journaled write may meet a server that lost FUA since. */
	uint32_t flags = c->flags & (n->can_fua ? ~0u : ~LIBNBD_CMD_FLAG_FUA);

	switch (c->op) {
	case NBD_OP_READ:
		return nbd_aio_pread(n->h, c->buf, c->len, c->offset, NBD_NULL_COMPLETION, 0);
	case NBD_OP_WRITE:
		return nbd_aio_pwrite(n->h, c->buf, c->len, c->offset, NBD_NULL_COMPLETION, flags);
	case NBD_OP_FLUSH:
		return nbd_aio_flush(n->h, NBD_NULL_COMPLETION, 0);
	case NBD_OP_TRIM:
		return nbd_aio_trim(n->h, c->len, c->offset, NBD_NULL_COMPLETION, 0);
	case NBD_OP_ZERO:
		return nbd_aio_zero(n->h, c->len, c->offset, NBD_NULL_COMPLETION, flags);
	}
	return -1;
}

static bool nbdbk_alive(struct nbd_handle *h)
{
	return nbd_aio_is_ready(h) || nbd_aio_is_processing(h);
}

/* nbdbk_lost_reason: why the connection h is not alive, in a few words;
 * err: the errno of the receive or send that failed, or 0. */
static void nbdbk_lost_reason(struct nbd_handle *h, int err, char *why, size_t whylen)
{
	if (nbd_aio_is_closed(h))
		snprintf(why, whylen, "the server closed it");
	else if (err)
		snprintf(why, whylen, "%s", strerror(err));
	else
		snprintf(why, whylen, "the server went away");
}

/* nbdbk_exchange: send cmds[0..count) not yet done and wait for their
 * replies, on the connection there is. 0: all done; -errno: the server
 * failed one (the others were waited for); NBD_LINK_LOST: the connection
 * went away (or sent nothing for timeout_s seconds), the commands without
 * a reply are marked to be sent again. */
static int nbdbk_exchange(struct block_nbd *n, struct nbdbk_cmd *cmds, unsigned count)
{
	uint64_t progress = now_ms();
	unsigned pending = 0;
	int rc = 0, err = 0;
	char why[160];

	for (unsigned i = 0; i < count && !rc; i++) {
		if (cmds[i].done)
			continue;
		cmds[i].cookie = nbdbk_issue(n, &cmds[i]);
		if (cmds[i].cookie > 0) {
			pending++;
			continue;
		}
		cmds[i].cookie = 0;
		err = nbd_get_errno();
		/* Refused for the handle's state (EINVAL): the connection was
		 * gone before this call, its reason not known here. */
		if (!nbdbk_alive(n->h)) {
			err = 0;
			goto lost;
		}
		/* libnbd refused it (a bound the server set): no retry. */
		rc = -(err ? err : EIO);
	}
	for (;;) {
		int timeout_ms = -1;

		/* Replies first: one may have come in while sending. */
		for (unsigned i = 0; i < count; i++) {
			int r;

			if (!cmds[i].cookie)
				continue;
			r = nbd_aio_command_completed(n->h, (uint64_t)cmds[i].cookie);
			if (r == 0)
				continue;
			err = r < 0 ? nbd_get_errno() : 0;
			if (r < 0 && !nbdbk_alive(n->h))
				goto lost;
			cmds[i].cookie = 0;
			pending--;
			progress = now_ms();
			if (r == 1)
				cmds[i].done = true;
			else if (!rc)
				rc = -(err ? err : EIO);
		}
		if (!pending)
			return rc;
		if (!nbdbk_alive(n->h))
			goto lost;
		if (n->timeout_s) {
			uint64_t limit = progress + (uint64_t)n->timeout_s * 1000, now = now_ms();

			if (now >= limit) {
				snprintf(why, sizeof(why), "no reply for %u s", n->timeout_s);
				nbdbk_link_lost(n, why, progress);
				goto mark;
			}
			timeout_ms = (int)(limit - now);
		}
		if (nbd_poll(n->h, timeout_ms) < 0) {
			err = nbd_get_errno();
			goto lost;
		}
	}
lost:
	nbdbk_lost_reason(n->h, err, why, sizeof(why));
	nbdbk_link_lost(n, why, now_ms());
mark:
	for (unsigned i = 0; i < count; i++) {
		if (cmds[i].cookie)
			n->resent++;
		cmds[i].cookie = 0;
	}
	return NBD_LINK_LOST;
}

/* nbdbk_plan: commands for op over [offset, offset + len) from buf, at most
 * NBD_BATCH, each within what the server takes; the bytes they cover in
 * *covered. A zeroing the server cannot do becomes writes of zeroes. */
static unsigned nbdbk_plan(struct block_nbd *n, enum nbdbk_op op, uint8_t *buf, uint64_t offset,
			   uint64_t len, uint32_t flags, struct nbdbk_cmd *cmds, uint64_t *covered)
{
	uint64_t piece = op == NBD_OP_TRIM || op == NBD_OP_ZERO ? NBD_RANGE_MAX : n->piece_max;
	bool emulate_zero = op == NBD_OP_ZERO && !n->can_zero;
	unsigned count = 0;

	if (emulate_zero) {
		op = NBD_OP_WRITE;
		flags = n->can_flush || !n->can_fua ? 0 : LIBNBD_CMD_FLAG_FUA;
		piece = n->piece_max < NBD_ZEROES_LEN ? n->piece_max : NBD_ZEROES_LEN;
	}
	*covered = 0;
	while (*covered < len && count < NBD_BATCH) {
		uint64_t part = len - *covered < piece ? len - *covered : piece;

		cmds[count++] = (struct nbdbk_cmd){
			.op = op,
			.buf = emulate_zero ? n->zeroes : buf ? buf + *covered : NULL,
			.offset = offset + *covered,
			.len = part,
			.flags = flags,
		};
		*covered += part;
	}
	return count;
}

static int nbdbk_ready(struct block_nbd *n);

/* nbdbk_run: cmds carried out, waiting for the server as long as allowed. */
static int nbdbk_run(struct block_nbd *n, struct nbdbk_cmd *cmds, unsigned count)
{
	for (;;) {
		int rc = nbdbk_ready(n);

		if (rc)
			return rc;
		rc = nbdbk_exchange(n, cmds, count);
		if (rc != NBD_LINK_LOST)
			return rc;
	}
}

/* nbdbk_do: op over the whole range, batch by batch. */
static int nbdbk_do(struct block_nbd *n, enum nbdbk_op op, uint8_t *buf, uint64_t offset,
		    uint64_t len, uint32_t flags)
{
	struct nbdbk_cmd cmds[NBD_BATCH];

	if (op == NBD_OP_ZERO && !n->can_zero && !n->zeroes) {
		n->zeroes = calloc(1, NBD_ZEROES_LEN);
		if (!n->zeroes)
			return -ENOMEM;
	}
	while (len) {
		uint64_t covered;
		unsigned count = nbdbk_plan(n, op, buf, offset, len, flags, cmds, &covered);
		int rc = nbdbk_run(n, cmds, count);

		if (rc)
			return rc;
		if (buf)
			buf += covered;
		offset += covered;
		len -= covered;
	}
	return 0;
}

/* ---- the journal ---- */

static bool nbdbk_journaling(const struct block_nbd *n)
{
	return n->can_flush;
}

static void nbdbk_journal_clear(struct block_nbd *n)
{
	while (n->journal) {
		struct nbdbk_journal_entry *e = n->journal;

		n->journal = e->next;
		free(e);
	}
	n->journal_tail = &n->journal;
	n->journal_bytes = 0;
	n->journal_count = 0;
}

/* nbdbk_journal_push: e at the end, before it is sent: a reconnect while
 * it is on its way sends it whole again, whatever parts had their reply.
 * Returns where it hangs, for nbdbk_journal_pop. */
static struct nbdbk_journal_entry **nbdbk_journal_push(struct block_nbd *n,
						       struct nbdbk_journal_entry *e)
{
	struct nbdbk_journal_entry **slot = n->journal_tail;

	e->next = NULL;
	*slot = e;
	n->journal_tail = &e->next;
	n->journal_bytes += e->op == NBD_OP_WRITE ? e->len : 0;
	n->journal_count++;
	return slot;
}

/* nbdbk_journal_pop: take back the last push (its call failed) and free it. */
static void nbdbk_journal_pop(struct block_nbd *n, struct nbdbk_journal_entry **slot)
{
	struct nbdbk_journal_entry *e = *slot;

	*slot = NULL;
	n->journal_tail = slot;
	n->journal_bytes -= e->op == NBD_OP_WRITE ? e->len : 0;
	n->journal_count--;
	free(e);
}

/* nbdbk_journal_replay: on a new connection, every journal entry again, in
 * order, one after another (later ones may overwrite earlier ones). */
static int nbdbk_journal_replay(struct block_nbd *n)
{
	for (struct nbdbk_journal_entry *e = n->journal; e; e = e->next) {
		uint8_t *buf = e->op == NBD_OP_WRITE ? e->data : NULL;
		uint64_t offset = e->offset, len = e->len;

		if (e->op == NBD_OP_ZERO && !n->can_zero && !n->zeroes) {
			n->zeroes = calloc(1, NBD_ZEROES_LEN);
			if (!n->zeroes)
				return -ENOMEM;
		}
		if (e->op == NBD_OP_TRIM && !n->can_trim)
			continue;
		while (len) {
			struct nbdbk_cmd cmds[NBD_BATCH];
			uint64_t covered;
			unsigned count = nbdbk_plan(n, e->op, buf, offset, len, e->flags, cmds,
						    &covered);
			int rc = nbdbk_exchange(n, cmds, count);

			if (rc)
				return rc;
			if (buf)
				buf += covered;
			offset += covered;
			len -= covered;
		}
		n->resent++;
	}
	return 0;
}

/* nbdbk_flush_server: NBD_CMD_FLUSH and its reply; then nothing journaled
 * needs sending again. */
static int nbdbk_flush_server(struct block_nbd *n)
{
	struct nbdbk_cmd flush = { .op = NBD_OP_FLUSH };
	int rc;

	if (!n->can_flush) {
		nbdbk_journal_clear(n);
		return 0;
	}
	rc = nbdbk_run(n, &flush, 1);
	if (!rc)
		nbdbk_journal_clear(n);
	return rc;
}

/* nbdbk_journal_bound: past its bounds the journal is flushed away. */
static int nbdbk_journal_bound(struct block_nbd *n)
{
	if (n->journal_bytes <= NBD_JOURNAL_MAX && n->journal_count <= NBD_JOURNAL_MAX_ENTRIES)
		return 0;
	return nbdbk_flush_server(n);
}

/* ---- waiting for the server ---- */

/* nbdbk_connected: a new connection h: the same export? Then the journal
 * goes out again and the outage is over. 0, NBD_LINK_LOST, or -EIO when
 * the export is not the one the guest had. */
static int nbdbk_connected(struct block_nbd *n, struct nbd_handle *h)
{
	int64_t size = nbd_get_size(h);
	bool now_read_only = nbd_is_read_only(h) == 1;
	int rc;

	if (size < 0 || (uint64_t)size != n->bk.size || (now_read_only && !n->bk.read_only)) {
		if (size >= 0 && (uint64_t)size != n->bk.size)
			log_error("disk '%s': after reconnecting, the export's size is %" PRId64
				  " bytes, not %" PRIu64 ": it is not the disk the guest had; "
				  "every request fails from now on (restart the guest to use the "
				  "new one)", n->name, size, n->bk.size);
		else
			log_error("disk '%s': after reconnecting, the export is %s; every request "
				  "fails from now on", n->name, size < 0 ? "of unknown size"
				  : "read-only");
		nbd_close(h);
		n->gone = true;
		return -EIO;
	}
	nbdbk_take_offer(n, h);
	rc = nbdbk_journal_replay(n);
	if (rc && rc != NBD_LINK_LOST) {
		/* The server refused one: try it all again with the next call. */
		log_warn("disk '%s': the server failed a write sent again after reconnecting: %s",
			 n->name, strerror(-rc));
		nbdbk_drop(n);
	}
	if (rc)
		return rc;
	if (n->down) {
		log_info("disk '%s': the server is back after %.1f s; %u requests sent again",
			 n->name, (double)(now_ms() - n->down_since_ms) / 1000, n->resent);
		n->down = false;
	}
	return 0;
}

/* nbdbk_expired: timeout_s has passed without the server: the call fails. */
static int nbdbk_expired(struct block_nbd *n)
{
	if (!n->timeout_logged) {
		log_error("disk '%s': the server has been away for %u s (timeout=%u); the guest "
			  "gets I/O errors until it is back", n->name, n->timeout_s, n->timeout_s);
		n->timeout_logged = true;
	}
	return -EIO;
}

/* nbdbk_attempt_ms: how long the next attempt may take (NBD_ATTEMPT_MS). */
static unsigned nbdbk_attempt_ms(const struct block_nbd *n, uint64_t now, uint64_t deadline)
{
	uint64_t left = deadline > now ? deadline - now : 0;

	if (!n->timeout_s || left >= NBD_ATTEMPT_MS)
		return NBD_ATTEMPT_MS;
	return left > NBD_ATTEMPT_MIN_MS ? (unsigned)left : NBD_ATTEMPT_MIN_MS;
}

/* nbdbk_ready: a connection to send on, reconnecting as long as allowed.
 * 0, or -EIO: the export changed, or timeout_s passed without the server
 * (then each call tries once more when the backoff allows). */
static int nbdbk_ready(struct block_nbd *n)
{
	uint64_t deadline = n->down_since_ms + (uint64_t)n->timeout_s * 1000;
	char why[200];

	while (!n->h) {
		struct nbd_handle *h;
		uint64_t now = now_ms();
		bool expired = n->timeout_s && now >= deadline;
		int rc;

		if (n->gone)
			return -EIO;
		if (now < n->next_attempt_ms) {
			uint64_t wake = n->next_attempt_ms;

			if (expired)
				return nbdbk_expired(n);
			if (n->timeout_s && deadline < wake)
				wake = deadline;
			sleep_ms(wake - now);
			continue;
		}
		h = nbdbk_connect_once(n, nbdbk_attempt_ms(n, now, deadline), why, sizeof(why));
		if (h) {
			rc = nbdbk_connected(n, h);
			if (rc && rc != NBD_LINK_LOST)
				return rc;
			continue;
		}
		log_debug("disk '%s': reconnecting failed: %s", n->name, why);
		n->next_attempt_ms = now_ms() + n->backoff_ms;
		n->backoff_ms = n->backoff_ms * 2 < NBD_BACKOFF_MAX_MS ? n->backoff_ms * 2
								     : NBD_BACKOFF_MAX_MS;
	}
	return n->gone ? -EIO : 0;
}

/* ---- the back end ---- */

/* nbdbk_check: iovcnt as block.h allows and the whole transfer on the disk,
 * its length in *len. Device models checked the guest's values already;
 * this guards the server against a caller's mistake. */
static int nbdbk_check(const struct block_nbd *n, const struct iovec *iov, int iovcnt,
		       uint64_t offset, uint64_t *len)
{
	uint64_t total = 0;

	if (iovcnt < 0 || iovcnt > IOV_MAX)
		return -EINVAL;
	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len > n->bk.size - total)
			return -EINVAL;
		total += iov[i].iov_len;
	}
	if (offset > n->bk.size || total > n->bk.size - offset)
		return -EINVAL;
	*len = total;
	return 0;
}

static bool nbdbk_range_ok(const struct block_nbd *n, uint64_t offset, uint64_t len)
{
	return offset <= n->bk.size && len <= n->bk.size - offset;
}

/* iov_copy: `len` bytes between buf and the iovecs, starting `skip` bytes
 * into them (the caller checked they hold skip + len). */
static void iov_copy(const struct iovec *iov, int iovcnt, uint64_t skip, uint8_t *buf,
		     uint64_t len, bool to_buf)
{
	for (int i = 0; i < iovcnt && len; i++) {
		uint64_t seg = iov[i].iov_len, n;

		if (skip >= seg) {
			skip -= seg;
			continue;
		}
		n = seg - skip < len ? seg - skip : len;
		if (to_buf)
			memcpy(buf, (uint8_t *)iov[i].iov_base + skip, n);
		else
			memcpy((uint8_t *)iov[i].iov_base + skip, buf, n);
		buf += n;
		len -= n;
		skip = 0;
	}
}

/* The batch size times the piece size: what one bounce holds. */
#define NBD_ROUND_MAX (NBD_BATCH * NBD_PIECE_MAX)

static int nbdbk_preadv(struct block *bk, const struct iovec *iov, int iovcnt, uint64_t offset)
{
	struct block_nbd *n = to_nbd(bk);
	uint64_t len, done = 0;
	int rc;

	rc = nbdbk_check(n, iov, iovcnt, offset, &len);
	if (rc || !len)
		return rc;
	pthread_mutex_lock(&n->lock);
	/* One buffer: straight into it; else through the bounce buffer. */
	if (iovcnt == 1) {
		rc = nbdbk_do(n, NBD_OP_READ, iov[0].iov_base, offset, len, 0);
		pthread_mutex_unlock(&n->lock);
		return rc;
	}
	if (!n->bounce)
		n->bounce = malloc(NBD_ROUND_MAX);
	if (!n->bounce)
		rc = -ENOMEM;
	while (!rc && done < len) {
		uint64_t round = len - done < NBD_ROUND_MAX ? len - done : NBD_ROUND_MAX;

		rc = nbdbk_do(n, NBD_OP_READ, n->bounce, offset + done, round, 0);
		if (!rc)
			iov_copy(iov, iovcnt, done, n->bounce, round, false);
		done += round;
	}
	pthread_mutex_unlock(&n->lock);
	return rc;
}

/* nbdbk_journaled_do: the journal entry e carried out (buf: its data),
 * kept in the journal while the server has not flushed it. */
static int nbdbk_journaled_do(struct block_nbd *n, struct nbdbk_journal_entry *e, uint8_t *buf)
{
	struct nbdbk_journal_entry **slot;
	int rc;

	if (!nbdbk_journaling(n)) {
		rc = nbdbk_do(n, e->op, buf, e->offset, e->len, e->flags);
		free(e);
		return rc;
	}
	slot = nbdbk_journal_push(n, e);
	rc = nbdbk_do(n, e->op, buf, e->offset, e->len, e->flags);
	if (rc)
		nbdbk_journal_pop(n, slot);
	return rc;
}

/* nbdbk_write_round: `round` bytes of the iovecs from `skip` on, at offset:
 * copied into a journal entry, which is kept until the server flushes (or
 * dropped at once when nothing is journaled). */
static int nbdbk_write_round(struct block_nbd *n, const struct iovec *iov, int iovcnt,
			     uint64_t skip, uint64_t offset, uint64_t round)
{
	struct nbdbk_journal_entry *e = malloc(sizeof(*e) + round);
	/* No flush, but FUA: every write is durable when answered. */
	uint32_t flags = !n->can_flush && n->can_fua ? LIBNBD_CMD_FLAG_FUA : 0;

	if (!e)
		return -ENOMEM;
	*e = (struct nbdbk_journal_entry){ .op = NBD_OP_WRITE, .offset = offset, .len = round,
					 .flags = flags };
	iov_copy(iov, iovcnt, skip, e->data, round, true);
	return nbdbk_journaled_do(n, e, e->data);
}

static int nbdbk_pwritev(struct block *bk, const struct iovec *iov, int iovcnt, uint64_t offset)
{
	struct block_nbd *n = to_nbd(bk);
	uint64_t len, done = 0;
	int rc;

	rc = nbdbk_check(n, iov, iovcnt, offset, &len);
	if (rc || !len)
		return rc;
	pthread_mutex_lock(&n->lock);
	while (!rc && done < len) {
		uint64_t round = len - done < NBD_ROUND_MAX ? len - done : NBD_ROUND_MAX;

		rc = nbdbk_write_round(n, iov, iovcnt, done, offset + done, round);
		done += round;
	}
	if (!rc)
		rc = nbdbk_journal_bound(n);
	pthread_mutex_unlock(&n->lock);
	return rc;
}

static int nbdbk_flush(struct block *bk)
{
	struct block_nbd *n = to_nbd(bk);
	int rc;

	pthread_mutex_lock(&n->lock);
	rc = n->gone ? -EIO : nbdbk_flush_server(n);
	pthread_mutex_unlock(&n->lock);
	return rc;
}

/* nbdbk_range_op: a trim or zeroing of [offset, offset + len), journaled. */
static int nbdbk_range_op(struct block_nbd *n, enum nbdbk_op op, uint64_t offset, uint64_t len,
			  uint32_t flags)
{
	struct nbdbk_journal_entry *e;
	int rc;

	if (!nbdbk_range_ok(n, offset, len))
		return -EINVAL;
	if (!len)
		return 0;
	e = malloc(sizeof(*e));
	if (!e)
		return -ENOMEM;
	*e = (struct nbdbk_journal_entry){ .op = op, .offset = offset, .len = len, .flags = flags };
	pthread_mutex_lock(&n->lock);
	if (op == NBD_OP_TRIM && !n->can_trim) {
		free(e);
		rc = -EOPNOTSUPP;
	} else {
		rc = nbdbk_journaled_do(n, e, NULL);
		if (!rc)
			rc = nbdbk_journal_bound(n);
	}
	pthread_mutex_unlock(&n->lock);
	return rc;
}

static int nbdbk_discard(struct block *bk, uint64_t offset, uint64_t len)
{
	return nbdbk_range_op(to_nbd(bk), NBD_OP_TRIM, offset, len, 0);
}

/* Without `unmap` the server must not leave a hole (NBD_CMD_FLAG_NO_HOLE). */
static int nbdbk_write_zeroes(struct block *bk, uint64_t offset, uint64_t len, bool unmap)
{
	return nbdbk_range_op(to_nbd(bk), NBD_OP_ZERO, offset, len,
			      unmap ? 0 : LIBNBD_CMD_FLAG_NO_HOLE);
}

static void nbdbk_free(struct block_nbd *n)
{
	nbdbk_drop(n);
	nbdbk_journal_clear(n);
	free(n->bounce);
	free(n->zeroes);
	free(n->export);
	free(n->name);
	pthread_mutex_destroy(&n->lock);
	free(n);
}

/* A clean goodbye (NBD_CMD_DISC) when the server is there; no waiting. */
static void nbdbk_close_disk(struct block *bk)
{
	struct block_nbd *n = to_nbd(bk);

	if (n->h && nbdbk_alive(n->h) && nbd_aio_disconnect(n->h, 0) == 0)
		nbd_poll(n->h, 0);
	nbdbk_free(n);
}

static const struct block_ops block_nbd_ops = {
	.preadv = nbdbk_preadv,
	.pwritev = nbdbk_pwritev,
	.flush = nbdbk_flush,
	.discard = nbdbk_discard,
	.write_zeroes = nbdbk_write_zeroes,
	.close = nbdbk_close_disk,
};

int block_nbd_open(const struct block_spec *spec, bool read_only, struct block **out, char *err,
		   size_t errlen)
{
	struct block_nbd *n = calloc(1, sizeof(*n));
	struct nbd_handle *h;
	char why[200] = "";
	int64_t size;
	int rc;

	if (!n)
		return nbdbk_fail(err, errlen, -ENOMEM, "out of memory");
	pthread_mutex_init(&n->lock, NULL);
	n->journal_tail = &n->journal;
	n->name = strdup(spec->file);
	n->export = strdup(spec->nbd_uri.export ? spec->nbd_uri.export : "");
	if (!n->name || !n->export) {
		rc = nbdbk_fail(err, errlen, -ENOMEM, "out of memory");
		goto fail;
	}
	n->timeout_s = spec->nbd_timeout;
	rc = nbdbk_resolve(n, &spec->nbd_uri, err, errlen);
	if (rc)
		goto fail;
	h = nbdbk_connect_once(n, NBD_ATTEMPT_MS, why, sizeof(why));
	if (!h) {
		rc = nbdbk_fail(err, errlen, -ECONNREFUSED, "cannot connect to the NBD server: %s",
				why);
		goto fail;
	}
	size = nbd_get_size(h);
	if (size < 0) {
		rc = nbdbk_fail(err, errlen, -EIO, "the server gave no export size: %s",
				libnbd_reason());
		nbd_close(h);
		goto fail;
	}
	if (!read_only && nbd_is_read_only(h) == 1) {
		rc = nbdbk_fail(err, errlen, -EROFS, "the export is read-only on the server; add "
				",ro to give it to the guest read-only, or ,overlay=ram");
		nbd_close(h);
		goto fail;
	}
	n->bk = (struct block){ &block_nbd_ops, (uint64_t)size, read_only };
	nbdbk_take_offer(n, h);
	log_debug("disk '%s': %" PRId64 " bytes, %s protocol, %s replies; flush %s, fua %s, "
		  "trim %s, write-zeroes %s", n->name, size, nbd_get_protocol(h),
		  nbd_get_structured_replies_negotiated(h) == 1 ? "structured" : "simple",
		  n->can_flush ? "yes" : "no", n->can_fua ? "yes" : "no",
		  n->can_trim ? "yes" : "no", n->can_zero ? "yes" : "no");
	if (nbd_get_block_size(h, LIBNBD_SIZE_MINIMUM) > 512)
		log_warn("disk '%s': the server takes requests only in multiples of %" PRId64
			 " bytes; the guest's smaller ones will fail", n->name,
			 nbd_get_block_size(h, LIBNBD_SIZE_MINIMUM));
	if (!read_only && !n->can_flush && !n->can_fua)
		log_warn("disk '%s': the server offers neither flush nor FUA: a guest's flush "
			 "cannot make its writes durable", n->name);
	*out = &n->bk;
	return 0;
fail:
	nbdbk_free(n);
	return rc;
}
