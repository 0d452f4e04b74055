/* Network back ends: --net specs and MAC addresses, the TAP back end
 * (/dev/net/tun, optionally with a virtio_net_hdr_v1 before each frame so
 * checksum and segmentation offloads pass straight between the guest and
 * the host's stack) and the user-mode back end (libslirp on 10.0.2.0/24:
 * the host is 10.0.2.2, DNS 10.0.2.3, the guest gets 10.0.2.15 by DHCP).
 * All of it runs on the event-loop thread. */
#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libslirp.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "event.h"
#include "log.h"
#include "parse.h"

/* ---- --net specs ---- */

#define USER_NET "10.0.2.0"
#define USER_NETMASK "255.255.255.0"
#define USER_HOST "10.0.2.2"   /* the host, as the guest sees it */
#define USER_DNS "10.0.2.3"
#define USER_GUEST "10.0.2.15" /* the first (and only) DHCP address */
#define HOSTFWD_HOST_DEFAULT "127.0.0.1"

__attribute__((format(printf, 3, 4)))
static int spec_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

int net_mac_parse(const char *text, uint8_t mac[NET_MAC_LEN])
{
	uint8_t m[NET_MAC_LEN];
	char sep = text[0] && text[1] ? text[2] : 0;

	if (strlen(text) != 3 * NET_MAC_LEN - 1 || (sep != ':' && sep != '-'))
		return -EINVAL;
	for (unsigned i = 0; i < NET_MAC_LEN; i++) {
		int hi = parse_hex_digit(text[3 * i]), lo = parse_hex_digit(text[3 * i + 1]);

		if (hi < 0 || lo < 0 || (i + 1 < NET_MAC_LEN && text[3 * i + 2] != sep))
			return -EINVAL;
		m[i] = (uint8_t)(hi << 4 | lo);
	}
	/* A NIC's own address is unicast (I/G bit, the low bit of the first
	 * byte, clear) and not 00:00:00:00:00:00. */
	if (m[0] & 1 || !(m[0] | m[1] | m[2] | m[3] | m[4] | m[5]))
		return -EADDRNOTAVAIL;
	memcpy(mac, m, NET_MAC_LEN);
	return 0;
}

void net_mac_default(const char *guest_name, unsigned index, uint8_t mac[NET_MAC_LEN])
{
	/* FNV-1a over the name, a NUL, then the index */
	uint32_t h = 2166136261u;

	for (const char *p = guest_name ? guest_name : ""; ; p++) {
		h = (h ^ (uint8_t)*p) * 16777619u;
		if (!*p)
			break;
	}
	for (unsigned i = 0; i < 4; i++)
		h = (h ^ ((index >> (8 * i)) & 0xff)) * 16777619u;
	mac[0] = 0x52; /* QEMU/KVM's locally administered 52:54:00 prefix */
	mac[1] = 0x54;
	mac[2] = 0x00;
	mac[3] = (uint8_t)(h >> 16);
	mac[4] = (uint8_t)(h >> 8);
	mac[5] = (uint8_t)h;
}

/* parse_port: a decimal port 1-65535, the whole of [s, s+len). */
static int parse_port(const char *s, size_t len, uint16_t *port)
{
	unsigned v = 0;

	if (len == 0 || len > 5)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v == 0 || v > 65535)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

/* parse_endpoint: "[ADDR]:PORT", ADDR an IPv4 address, `def` if empty. */
static int parse_endpoint(const char *s, size_t len, const char *def, struct in_addr *addr,
			  uint16_t *port)
{
	const char *colon = memrchr(s, ':', len);
	char a[INET_ADDRSTRLEN];
	size_t alen;

	if (!colon)
		return -EINVAL;
	alen = (size_t)(colon - s);
	if (alen >= sizeof(a))
		return -EINVAL;
	memcpy(a, s, alen);
	a[alen] = 0;
	if (inet_pton(AF_INET, alen ? a : def, addr) != 1)
		return -EINVAL;
	return parse_port(colon + 1, len - alen - 1, port);
}

/* parse_hostfwd: "[tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT"
 * (QEMU's syntax). */
static int parse_hostfwd(const char *v, struct net_hostfwd *fwd)
{
	const char *colon = strchr(v, ':'), *dash;

	if (!colon)
		return -EINVAL;
	if (colon - v == 3 && !strncmp(v, "udp", 3))
		fwd->udp = true;
	else if (colon != v && !(colon - v == 3 && !strncmp(v, "tcp", 3)))
		return -EINVAL;
	v = colon + 1;
	dash = strchr(v, '-');
	if (!dash)
		return -EINVAL;
	if (parse_endpoint(v, (size_t)(dash - v), HOSTFWD_HOST_DEFAULT, &fwd->host_addr,
			   &fwd->host_port) ||
	    parse_endpoint(dash + 1, strlen(dash + 1), USER_GUEST, &fwd->guest_addr,
			   &fwd->guest_port))
		return -EINVAL;
	return 0;
}

/* parse_ifname: what Linux's dev_valid_name takes: 1-15 bytes, not "."
 * or "..", no '/', ':' or white space. */
static int parse_ifname(const char *v, char *out, char *err, size_t errlen)
{
	size_t len = strlen(v);

	if (len == 0)
		return spec_fail(err, errlen, "tap= needs an interface name");
	if (len > NET_IFNAME_MAX)
		return spec_fail(err, errlen, "interface name '%s' is longer than %d characters",
				 v, NET_IFNAME_MAX);
	if (!strcmp(v, ".") || !strcmp(v, "..") || strpbrk(v, "/: \t\n\r\v\f"))
		return spec_fail(err, errlen, "'%s' is not a valid interface name", v);
	memcpy(out, v, len + 1);
	return 0;
}

static int parse_option(const char *opt, struct net_spec *spec, char *err, size_t errlen)
{
	if (!strncmp(opt, "mac=", 4)) {
		int rc;

		if (spec->has_mac)
			return spec_fail(err, errlen, "mac= given twice");
		rc = net_mac_parse(opt + 4, spec->mac);
		if (rc == -EADDRNOTAVAIL)
			return spec_fail(err, errlen, "mac=%s: a NIC needs a unicast, non-zero "
					 "address (the first byte even)", opt + 4);
		if (rc)
			return spec_fail(err, errlen, "mac=%s: not a MAC address (expected six "
					 "hex bytes, e.g. 52:54:00:12:34:56)", opt + 4);
		spec->has_mac = true;
		return 0;
	}
	if (!strncmp(opt, "hostfwd=", 8)) {
		if (spec->type != NET_USER)
			return spec_fail(err, errlen, "hostfwd= is for user networking only");
		if (spec->nhostfwds == NET_MAX_HOSTFWDS)
			return spec_fail(err, errlen, "at most %d hostfwd=", NET_MAX_HOSTFWDS);
		if (parse_hostfwd(opt + 8, &spec->hostfwds[spec->nhostfwds]))
			return spec_fail(err, errlen, "%s: expected hostfwd=[tcp|udp]:[HOSTADDR]:"
					 "HOSTPORT-[GUESTADDR]:GUESTPORT, ports 1-65535", opt);
		spec->nhostfwds++;
		return 0;
	}
	return spec_fail(err, errlen, "unknown option '%s' (expected mac=%s)", opt,
			 spec->type == NET_USER ? " or hostfwd=" : "");
}

int net_spec_parse(const char *text, struct net_spec *spec, char *err, size_t errlen)
{
	char *copy, *save = NULL, *tok;
	int rc = 0;

	memset(spec, 0, sizeof(*spec));
	copy = strdup(text);
	if (!copy)
		return spec_fail(err, errlen, "out of memory");
	/* strtok_r would skip empty fields; ",," should be an error */
	for (char *p = copy; *p; p++)
		if (*p == ',' && (p == copy || p[1] == ',' || p[1] == 0))
			rc = spec_fail(err, errlen, "an empty option (stray ',')");
	tok = rc ? NULL : strtok_r(copy, ",", &save);
	if (!rc && !tok) {
		rc = spec_fail(err, errlen, "empty; expected tap=IFNAME or user");
	} else if (!rc && !strncmp(tok, "tap=", 4)) {
		spec->type = NET_TAP;
		rc = parse_ifname(tok + 4, spec->ifname, err, errlen);
	} else if (!rc && !strcmp(tok, "user")) {
		spec->type = NET_USER;
	} else if (!rc) {
		rc = spec_fail(err, errlen, "'%s': expected tap=IFNAME or user first", tok);
	}
	while (!rc && (tok = strtok_r(NULL, ",", &save)))
		rc = parse_option(tok, spec, err, errlen);
	free(copy);
	return rc;
}

/* ---- TAP ---- */

/* Frames read per wake-up, so one busy TAP does not starve the loop. */
#define TAP_READ_BATCH 64

struct tap {
	struct net_backend be;
	struct net_nic nic;
	struct event_loop *loop;
	int fd;
	bool paused;       /* reading stopped: the NIC had no room */
	size_t pending;    /* bytes in buf of a frame the NIC has not taken */
	bool warned;       /* one line per TAP for unexpected I/O errors */
	char name[NET_IFNAME_MAX + 1];
	/* one frame and its vnet header, plus a byte to see oversized ones */
	uint8_t buf[NET_VNET_HDR_LEN + NET_FRAME_MAX + 1];
};

static void tap_warn(struct tap *t, const char *what, int err)
{
	if (t->warned)
		return;
	t->warned = true;
	log_warn("tap %s: %s: %s (further errors not shown)", t->name, what, strerror(err));
}

static void tap_pause(struct tap *t, bool pause)
{
	if (t->paused == pause)
		return;
	t->paused = pause;
	event_mod_fd(t->loop, t->fd, pause ? 0 : EPOLLIN);
}

/* tap_deliver: offer the pending frame; false if the NIC had no room. */
static bool tap_deliver(struct tap *t)
{
	if (t->nic.receive(t->nic.opaque, t->buf, t->pending) == -EAGAIN) {
		tap_pause(t, true);
		return false;
	}
	t->pending = 0;
	return true;
}

static void tap_readable(void *opaque, uint32_t events)
{
	struct tap *t = opaque;
	size_t hdr = t->be.vnet_hdr ? NET_VNET_HDR_LEN : 0;

	(void)events;
	if (t->paused)
		return;
	for (unsigned i = 0; i < TAP_READ_BATCH; i++) {
		ssize_t n = read(t->fd, t->buf, sizeof(t->buf));

		if (n < 0) {
			if (errno != EAGAIN && errno != EINTR)
				tap_warn(t, "read", errno);
			return;
		}
		/* The bound: a header, an Ethernet header, at most NET_FRAME_MAX. */
		if ((size_t)n < hdr + NET_ETH_HLEN || (size_t)n > hdr + NET_FRAME_MAX)
			continue;
		t->pending = (size_t)n;
		if (!tap_deliver(t))
			return;
	}
}

static int tap_send(struct net_backend *be, const struct iovec *iov, unsigned iovcnt)
{
	struct tap *t = (struct tap *)be;
	ssize_t n = writev(t->fd, iov, (int)iovcnt);

	if (n >= 0)
		return 0;
	/* Full (EAGAIN, ENOBUFS) or down (EIO): the frame is lost, as on a
	 * wire; the guest's TCP sends it again. */
	if (errno != EAGAIN && errno != ENOBUFS && errno != EIO)
		tap_warn(t, "write", errno);
	return -errno;
}

static int tap_set_offloads(struct net_backend *be, unsigned offloads)
{
	struct tap *t = (struct tap *)be;
	unsigned flags = 0;

	if (offloads & NET_OFFLOAD_CSUM)
		flags |= TUN_F_CSUM;
	if (offloads & NET_OFFLOAD_TSO4)
		flags |= TUN_F_TSO4;
	if (offloads & NET_OFFLOAD_TSO6)
		flags |= TUN_F_TSO6;
	if (ioctl(t->fd, TUNSETOFFLOAD, flags) < 0) {
		tap_warn(t, "cannot set offloads", errno);
		return -errno;
	}
	return 0;
}

static void tap_rx_ready(struct net_backend *be)
{
	struct tap *t = (struct tap *)be;

	if (t->pending && !tap_deliver(t))
		return;
	tap_pause(t, false);
}

static void tap_close(struct net_backend *be)
{
	struct tap *t = (struct tap *)be;

	event_del_fd(t->loop, t->fd);
	close(t->fd);
	free(t);
}

static const struct net_backend_ops tap_ops = {
	.send = tap_send,
	.set_offloads = tap_set_offloads,
	.rx_ready = tap_rx_ready,
	.close = tap_close,
};

/* tap_attach: TUNSETIFF and the vnet header; -errno with a line logged. */
static int tap_attach(struct tap *t, const char *text)
{
	struct ifreq ifr = { 0 };
	unsigned features = 0;
	int hdr_len = NET_VNET_HDR_LEN;
	bool exists = if_nametoindex(t->name) != 0;

	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	if (t->be.vnet_hdr) {
		if (ioctl(t->fd, TUNGETFEATURES, &features) < 0 || !(features & IFF_VNET_HDR)) {
			log_error("--net '%s': this kernel's TAP has no virtio-net headers "
				  "(IFF_VNET_HDR)", text);
			return -EOPNOTSUPP;
		}
		ifr.ifr_flags |= IFF_VNET_HDR;
	}
	memcpy(ifr.ifr_name, t->name, sizeof(t->name));
	if (ioctl(t->fd, TUNSETIFF, &ifr) < 0) {
		int err = errno;

		if (err == EPERM || err == EACCES)
			log_error("--net '%s': no permission to %s %s (create it for this user "
				  "first: ip tuntap add %s mode tap user $USER)", text,
				  exists ? "use" : "create", t->name, t->name);
		else if (err == EBUSY)
			log_error("--net '%s': %s is in use by another process", text, t->name);
		else if (err == EINVAL)
			log_error("--net '%s': %s exists but is not a single-queue TAP device "
				  "(a TUN device, or multi-queue?)", text, t->name);
		else
			log_error("--net '%s': cannot attach to %s: %s", text, t->name,
				  strerror(err));
		return -err;
	}
	if (!exists)
		log_info("--net '%s': created %s; it goes away when duet-vmm ends. Bring it "
			 "up and give it an address on the host", text, t->name);
	if (t->be.vnet_hdr && (ioctl(t->fd, TUNSETVNETHDRSZ, &hdr_len) < 0 ||
			       ioctl(t->fd, TUNSETOFFLOAD, 0) < 0)) {
		int err = errno;

		log_error("--net '%s': cannot set up virtio-net headers on %s: %s", text,
			  t->name, strerror(err));
		return -err;
	}
	return 0;
}

static int tap_open(struct event_loop *loop, const char *text, const struct net_spec *spec,
		    const struct net_nic *nic, struct net_backend **out)
{
	struct tap *t = calloc(1, sizeof(*t));
	int err;

	if (!t)
		return -ENOMEM;
	t->be.ops = &tap_ops;
	t->be.vnet_hdr = nic->want_vnet_hdr;
	t->be.offloads = nic->want_vnet_hdr;
	t->nic = *nic;
	t->loop = loop;
	memcpy(t->name, spec->ifname, sizeof(t->name));
	t->fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (t->fd < 0) {
		err = -errno;
		log_error("--net '%s': cannot open /dev/net/tun: %s%s", text, strerror(errno),
			  errno == ENOENT ? " (is the tun module loaded?)" : "");
		free(t);
		return err;
	}
	err = tap_attach(t, text);
	if (!err) {
		err = event_add_fd(loop, t->fd, EPOLLIN, tap_readable, t);
		if (err)
			log_error("--net '%s': cannot watch the TAP: %s", text, strerror(-err));
	}
	if (err) {
		close(t->fd);
		free(t);
		return err;
	}
	*out = &t->be;
	return 0;
}

/* ---- user mode (libslirp) ----
 *
 * libslirp owns host sockets (connections it makes for the guest, hostfwd
 * listeners) and says before each sleep which ones it wants polled
 * (slirp_pollfds_fill). Here they go into an epoll set of their own, kept
 * in step with every fill, whose one fd sits in duet-vmm's loop; when it is
 * readable the ready sockets go back to slirp_pollfds_poll. After every
 * call into libslirp the set is brought up to date again, and a timer
 * covers slirp's TCP timers (the fill's timeout, at most 1 s). */

/* Sockets handed to libslirp at once when the set reports many. */
#define USER_EVENT_BATCH 64

struct user_fd {
	bool watched;     /* in the epoll set */
	uint32_t events;  /* EPOLL* it is watched for */
	uint32_t revents; /* what the set reported, for slirp_pollfds_poll */
	unsigned fill;    /* the last fill that asked for it */
};

struct user {
	struct net_backend be;
	struct net_nic nic;
	struct event_loop *loop;
	Slirp *slirp;
	SlirpCb cb;
	int epfd;
	struct event_timer *poll_timer;
	int64_t poll_due;      /* when poll_timer fires (ns), 0: not armed */
	struct user_fd *fds;   /* indexed by fd */
	unsigned nfds;
	int *polled;           /* the fill's indexes -> fds */
	unsigned npolled, polled_cap;
	unsigned fill;
	bool failed;           /* out of memory in a fill: warned once */
};

struct user_timer {
	struct user *u;
	SlirpTimerCb cb;
	void *cb_opaque;
	struct event_timer *t;
};

static int64_t user_clock_ns(void *opaque)
{
	struct timespec ts;

	(void)opaque;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static uint32_t slirp_to_epoll(int events)
{
	return (events & SLIRP_POLL_IN ? EPOLLIN : 0) | (events & SLIRP_POLL_OUT ? EPOLLOUT : 0) |
	       (events & SLIRP_POLL_PRI ? EPOLLPRI : 0);
}

static int epoll_to_slirp(uint32_t events)
{
	return (events & EPOLLIN ? SLIRP_POLL_IN : 0) | (events & EPOLLOUT ? SLIRP_POLL_OUT : 0) |
	       (events & EPOLLPRI ? SLIRP_POLL_PRI : 0) | (events & EPOLLERR ? SLIRP_POLL_ERR : 0) |
	       (events & EPOLLHUP ? SLIRP_POLL_HUP : 0);
}

/* user_fd_slot: the state of `fd`, growing the table; NULL if out of memory. */
static struct user_fd *user_fd_slot(struct user *u, int fd)
{
	if (fd < 0)
		return NULL;
	if ((unsigned)fd >= u->nfds) {
		unsigned n = (unsigned)fd + 64;
		struct user_fd *fds = realloc(u->fds, n * sizeof(*fds));

		if (!fds)
			return NULL;
		memset(fds + u->nfds, 0, (n - u->nfds) * sizeof(*fds));
		u->fds = fds;
		u->nfds = n;
	}
	return &u->fds[fd];
}

static void user_unwatch(struct user *u, int fd)
{
	if ((unsigned)fd < u->nfds && u->fds[fd].watched) {
		epoll_ctl(u->epfd, EPOLL_CTL_DEL, fd, NULL);
		u->fds[fd] = (struct user_fd){ 0 };
	}
}

/* user_add_poll: slirp_pollfds_fill's callback: watch fd for `events`;
 * returns the index slirp_pollfds_poll will ask about (-1: none). */
static int user_add_poll(int fd, int events, void *opaque)
{
	struct user *u = opaque;
	struct user_fd *f = user_fd_slot(u, fd);
	struct epoll_event ev = { .events = slirp_to_epoll(events), .data.fd = fd };

	if (u->npolled == u->polled_cap) {
		unsigned cap = u->polled_cap ? 2 * u->polled_cap : 64;
		int *p = realloc(u->polled, cap * sizeof(*p));

		if (!p)
			f = NULL;
		else {
			u->polled = p;
			u->polled_cap = cap;
		}
	}
	if (!f) {
		if (!u->failed)
			log_warn("user networking: out of memory; some connections stall");
		u->failed = true;
		return -1;
	}
	/* A socket closed without slirp's unregister_poll_fd left the set by
	 * itself, and its number may be back: ENOENT from MOD means add. */
	if (!f->watched || f->events != ev.events) {
		int op = f->watched ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;

		if (epoll_ctl(u->epfd, op, fd, &ev) < 0) {
			op = errno == ENOENT ? EPOLL_CTL_ADD : errno == EEXIST ? EPOLL_CTL_MOD : -1;
			if (op < 0 || epoll_ctl(u->epfd, op, fd, &ev) < 0)
				return -1;
		}
		f->watched = true;
		f->events = ev.events;
	}
	f->fill = u->fill;
	f->revents = 0;
	u->polled[u->npolled] = fd;
	return (int)u->npolled++;
}

static int user_get_revents(int idx, void *opaque)
{
	struct user *u = opaque;

	if (idx < 0 || (unsigned)idx >= u->npolled)
		return 0;
	return epoll_to_slirp(u->fds[u->polled[idx]].revents);
}

/* user_sync: after any call into libslirp, watch what it now wants. */
static void user_sync(struct user *u)
{
	uint32_t timeout = UINT32_MAX;
	int64_t now, due;

	u->fill++;
	u->npolled = 0;
	slirp_pollfds_fill(u->slirp, &timeout, user_add_poll, u);
	for (unsigned fd = 0; fd < u->nfds; fd++)
		if (u->fds[fd].watched && u->fds[fd].fill != u->fill)
			user_unwatch(u, (int)fd);
	/* The fill caps the timeout at 1 s. Only ever move the timer earlier:
	 * a guest sending steadily must not keep postponing TCP's timers. */
	now = user_clock_ns(NULL);
	due = now + (int64_t)(timeout ? timeout : 1) * 1000000;
	if (!u->poll_due || due < u->poll_due) {
		u->poll_due = due;
		event_timer_arm(u->poll_timer, (uint64_t)(due - now), 0);
	}
}

/* user_poll: hand the ready sockets (or only the passing of time) to
 * libslirp. */
static void user_poll(struct user *u)
{
	struct epoll_event evs[USER_EVENT_BATCH];
	int n = epoll_wait(u->epfd, evs, USER_EVENT_BATCH, 0);

	for (int i = 0; i < n; i++)
		if ((unsigned)evs[i].data.fd < u->nfds)
			u->fds[evs[i].data.fd].revents |= evs[i].events;
	slirp_pollfds_poll(u->slirp, 0, user_get_revents, u);
	user_sync(u);
}

static void user_sockets_ready(void *opaque, uint32_t events)
{
	(void)events;
	user_poll(opaque);
}

static void user_poll_timer(void *opaque)
{
	struct user *u = opaque;

	u->poll_due = 0;
	user_poll(u);
}

static ssize_t user_send_packet(const void *buf, size_t len, void *opaque)
{
	struct user *u = opaque;

	/* No room in the NIC: drop, as libslirp allows; TCP resends. */
	u->nic.receive(u->nic.opaque, buf, len);
	return (ssize_t)len;
}

static void user_guest_error(const char *msg, void *opaque)
{
	(void)opaque;
	log_debug("user networking: the guest sent something odd: %s", msg);
}

static void user_timer_fired(void *opaque)
{
	struct user_timer *ut = opaque;

	ut->cb(ut->cb_opaque);
	user_sync(ut->u);
}

static void *user_timer_new(SlirpTimerCb cb, void *cb_opaque, void *opaque)
{
	struct user_timer *ut = calloc(1, sizeof(*ut));

	if (!ut)
		return NULL;
	*ut = (struct user_timer){ opaque, cb, cb_opaque, NULL };
	ut->t = event_timer_create(ut->u->loop, user_timer_fired, ut);
	if (!ut->t) {
		free(ut);
		return NULL;
	}
	return ut;
}

static void user_timer_free(void *timer, void *opaque)
{
	struct user_timer *ut = timer;

	(void)opaque;
	if (!ut)
		return;
	event_timer_free(ut->t);
	free(ut);
}

/* user_timer_mod: expire at `expire_ms` on user_clock_ns's clock. */
static void user_timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
	struct user_timer *ut = timer;
	int64_t delay = expire_ms * 1000000 - user_clock_ns(opaque);

	if (ut)
		event_timer_arm(ut->t, delay > 0 ? (uint64_t)delay : 1, 0);
}

static void user_register_poll_fd(int fd, void *opaque)
{
	/* watched from the next fill on */
	(void)fd;
	(void)opaque;
}

static void user_unregister_poll_fd(int fd, void *opaque)
{
	/* about to be closed: forget it before its number comes back */
	user_unwatch(opaque, fd);
}

static void user_notify(void *opaque)
{
	/* "poll again": every call into libslirp ends with user_sync */
	(void)opaque;
}

static int user_send(struct net_backend *be, const struct iovec *iov, unsigned iovcnt)
{
	struct user *u = (struct user *)be;

	/* The NIC hands over one contiguous frame, at most NET_FRAME_MAX. */
	if (iovcnt != 1 || iov[0].iov_len > NET_FRAME_MAX)
		return -EINVAL;
	slirp_input(u->slirp, iov[0].iov_base, (int)iov[0].iov_len);
	user_sync(u);
	return 0;
}

static int user_set_offloads(struct net_backend *be, unsigned offloads)
{
	(void)be;
	return offloads ? -EOPNOTSUPP : 0;
}

static void user_rx_ready(struct net_backend *be)
{
	(void)be;
}

static void user_close(struct net_backend *be)
{
	struct user *u = (struct user *)be;

	if (u->slirp)
		slirp_cleanup(u->slirp);
	if (u->epfd >= 0) {
		event_del_fd(u->loop, u->epfd);
		close(u->epfd);
	}
	event_timer_free(u->poll_timer);
	free(u->fds);
	free(u->polled);
	free(u);
}

static const struct net_backend_ops user_ops = {
	.send = user_send,
	.set_offloads = user_set_offloads,
	.rx_ready = user_rx_ready,
	.close = user_close,
};

static int user_open(struct event_loop *loop, const char *text, const struct net_spec *spec,
		     const struct net_nic *nic, struct net_backend **out)
{
	struct user *u = calloc(1, sizeof(*u));
	SlirpConfig cfg = {
		.version = 1,
		.in_enabled = true,
		.if_mtu = 0, /* libslirp's default, 1500 */
	};
	int err = 0;

	if (!u)
		return -ENOMEM;
	u->be.ops = &user_ops;
	u->nic = *nic;
	u->loop = loop;
	u->epfd = -1;
	u->cb = (SlirpCb){
		.send_packet = user_send_packet,
		.guest_error = user_guest_error,
		.clock_get_ns = user_clock_ns,
		.timer_new = user_timer_new,
		.timer_free = user_timer_free,
		.timer_mod = user_timer_mod,
		.register_poll_fd = user_register_poll_fd,
		.unregister_poll_fd = user_unregister_poll_fd,
		.notify = user_notify,
	};
	inet_pton(AF_INET, USER_NET, &cfg.vnetwork);
	inet_pton(AF_INET, USER_NETMASK, &cfg.vnetmask);
	inet_pton(AF_INET, USER_HOST, &cfg.vhost);
	inet_pton(AF_INET, USER_GUEST, &cfg.vdhcp_start);
	inet_pton(AF_INET, USER_DNS, &cfg.vnameserver);

	u->epfd = epoll_create1(EPOLL_CLOEXEC);
	u->poll_timer = event_timer_create(loop, user_poll_timer, u);
	if (u->epfd < 0 || !u->poll_timer) {
		err = u->epfd < 0 ? -errno : -ENOMEM;
	} else {
		err = event_add_fd(loop, u->epfd, EPOLLIN, user_sockets_ready, u);
		if (err) {
			close(u->epfd);
			u->epfd = -1;
		}
	}
	if (!err) {
		u->slirp = slirp_new(&cfg, &u->cb, u);
		if (!u->slirp)
			err = -ENOMEM;
	}
	if (err) {
		log_error("--net '%s': cannot set up user networking: %s", text, strerror(-err));
		user_close(&u->be);
		return err;
	}
	for (unsigned i = 0; i < spec->nhostfwds; i++) {
		const struct net_hostfwd *f = &spec->hostfwds[i];
		char host[INET_ADDRSTRLEN];

		errno = 0;
		if (slirp_add_hostfwd(u->slirp, f->udp, f->host_addr, f->host_port, f->guest_addr,
				      f->guest_port) < 0) {
			err = errno ? -errno : -EADDRINUSE;
			inet_ntop(AF_INET, &f->host_addr, host, sizeof(host));
			log_error("--net '%s': cannot forward %s %s:%u: %s", text,
				  f->udp ? "udp" : "tcp", host, f->host_port, strerror(-err));
			user_close(&u->be);
			return err;
		}
	}
	user_sync(u);
	*out = &u->be;
	return 0;
}

int net_backend_open(struct event_loop *loop, const char *text, const struct net_spec *spec,
		     const struct net_nic *nic, struct net_backend **out)
{
	return spec->type == NET_TAP ? tap_open(loop, text, spec, nic, out)
				     : user_open(loop, text, spec, nic, out);
}
