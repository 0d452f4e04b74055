/* VNC servers in duet-display's own loop (see vnc.h), with libvncserver
 * 0.9.14 doing the RFB protocol and the encodings.
 *
 * libvncserver was written for a thread per client: its reads and writes
 * block (select() with a timeout) until a whole message is in or out. In
 * one loop shared with the screen that would let any client stall
 * everything, so this file decides *when* libvncserver may touch a client,
 * and only then calls it for that one client:
 *   - accept: we accept, send the server's ProtocolVersion ourselves and
 *     wait in epoll for the client's; only then does libvncserver get the
 *     connection (vnc_handover), so its 100 ms WebSockets sniff never
 *     waits and a silent connection costs nothing;
 *   - reading: rfbProcessClientMessage runs only when the client's next
 *     message is all there (vnc_message_need knows each message's size;
 *     SO_RCVLOWAT makes epoll wait for the rest), one message at a time,
 *     at most VNC_MSGS_PER_WAKEUP per wake-up;
 *   - writing: rfbUpdateClient runs only when the socket has room
 *     (SIOCOUTQ against SO_SNDBUF); the update is cut to the rows that fit
 *     (vnc_display_hook); a client whose socket is full waits for
 *     EPOLLOUT, and one that reads nothing for VNC_STALL_MS is dropped;
 *   - pacing: at most one update per VNC_UPDATE_INTERVAL_MS per client, so
 *     a client asking for full frames in a loop cannot keep the display
 *     encoding.
 * rfbProcessEvents (which would select() over all of a server's clients,
 * reading from ones whose message is half there) is never called, nor
 * rfbRunEventLoop. libvncserver's own wait limit (maxClientWait) is cut to
 * VNC_IO_WAIT_MS as a backstop. */
#include "vnc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <rfb/rfb.h>
#include <rfb/rfbregion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compositor.h"
#include "display.h"
#include "font.h"
#include "listener.h"
#include "log.h"
#include "loop.h"
#include "peer.h"

#define VNC_ACCEPTS_PER_WAKEUP 8
#define VNC_MSGS_PER_WAKEUP 16       /* then the others get their turn */
#define VNC_MSG_RATE 2000            /* messages a second from a client, more is a flood */
#define VNC_INPUT_RATE 200           /* keys, clicks and wheel notches a second: more is a
					flood (plain motion is merged on its way to a guest) */
#define VNC_HANDSHAKE_MS 10000       /* from connect to the normal protocol */
#define VNC_MESSAGE_MS 10000         /* for a message begun to arrive whole */
#define VNC_STALL_MS 15000           /* for a client to read anything we queued */
#define VNC_UPDATE_INTERVAL_MS 33    /* between two updates to one client */
#define VNC_IO_WAIT_MS 200           /* libvncserver's own blocking wait, a backstop */
#define VNC_PAUSE_MS 1000            /* no new connections after a wrong password */
#define VNC_SNDBUF (2 << 20)         /* asked for; the kernel may give less */
#define VNC_MIN_ROOM 16384           /* bytes free in the socket before an update */
#define VNC_CUT_TEXT_MAX (1u << 20)  /* libvncserver refuses longer cut text */
#define VNC_STATUS_W 640             /* a status picture before any surface */
#define VNC_STATUS_H 480
#define VNC_STATUS_MAX_W 1920        /* ... and at most, after a large one */
#define VNC_STATUS_MAX_H 1200
#define VNC_STATUS_BG 0x202020u      /* as the compositor's status screens */
#define VNC_STATUS_TEXT 0xc0c0c0u
#define VNC_WATCH_IN (EPOLLIN | EPOLLRDHUP)
#define VNC_WATCH_OUT (EPOLLOUT | EPOLLET | EPOLLRDHUP)
#define VNC_SCREEN_INDEX SEAT_MAX_SLOTS /* servers[]: the guests' slots, then the screen */

struct vnc;

/* A VNC server: one listening socket and one rfbScreen. */
struct vnc_server {
	struct vnc *v;
	int slot;                        /* SEAT_NO_SLOT: the composed screen */
	char name[DISPLAY_NAME_SIZE];    /* the guest's, or "screen" */
	char desktop[DISPLAY_NAME_SIZE + 8];
	rfbScreenInfoPtr screen;
	struct listener *listener;
	int port;
	int input;                       /* clients may send input */
	unsigned nconns;                 /* handshakes and clients */
	uint64_t refused_log_ms;
	uint32_t *status;                /* the status picture shown, or NULL */
	char status_text[DISPLAY_NAME_SIZE + 16];
};

/* A connection before libvncserver has it: we sent our ProtocolVersion
 * and wait for the client's. */
struct vnc_conn {
	struct vnc_server *srv;
	int fd;
	uint64_t since_ms;
	char host[INET6_ADDRSTRLEN + 8];
	struct vnc_conn *next;
};

/* A client of libvncserver's (rfbClientRec.clientData). */
struct vnc_client {
	struct vnc_server *srv;
	rfbClientPtr cl;
	int fd;                          /* cl->sock, kept after libvncserver closes it */
	uint32_t events;                 /* what the loop waits for */
	int lowat;                       /* SO_RCVLOWAT */
	uint64_t connected_ms;
	uint64_t partial_since_ms;       /* a message half-arrived since then */
	int stalled;                     /* its socket is full: wait for EPOLLOUT */
	uint64_t stuck_since_ms;         /* it has read nothing of what is queued since */
	int queued;                      /* SIOCOUTQ at the last tick */
	uint64_t next_update_ms;
	int clipped;                     /* the last update was cut to fit */
	int clip_y;                      /* ... and where the next cut one starts */
	uint64_t window_ms;              /* the current one-second rate window */
	unsigned window_msgs, window_input;
	const char *drop_reason;
	int msg_type;                    /* of the complete message waiting, or -1 */
	/* input it holds, given back when it goes */
	uint8_t keys[(DISPLAY_KEY_CODE_MAX + 8) / 8];
	unsigned buttons;                /* DISPLAY_BUTTON_* */
	unsigned vnc_mask;               /* the last RFB button mask */
	int x, y, has_pos;
	char host[INET6_ADDRSTRLEN + 8];
	struct vnc_client *next;
};

struct vnc {
	struct display *d;
	struct vnc_server *servers[SEAT_MAX_SLOTS + 1];
	int failed[SEAT_MAX_SLOTS + 1];  /* its port could not be bound: do not retry */
	struct sockaddr_storage addr;
	socklen_t addr_len;
	char *passwords[2];              /* rfbCheckPasswordByList's list */
	struct vnc_conn *conns;
	struct vnc_client *clients;
	struct loop_timer *tick;         /* timeouts, each second while needed */
	int tick_armed;
	struct loop_timer *pace;         /* the next paced update */
	uint64_t pace_due_ms;
	int dirty;                       /* updates may be due: vnc_flush looks */
	int stopping;
	/* vnc_handover -> vnc_new_client: the TCP socket to swap in */
	int handover_fd;
	struct vnc_conn *handover;
};

/* ---- libvncserver's log lines go to ours, at debug level ---- */

static void vnc_rfb_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void vnc_rfb_log(const char *fmt, ...)
{
	char text[1024], *save = NULL;
	va_list ap;

	if (log_get_level() < LOG_DEBUG)
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		log_debug("vnc: libvncserver: %s", line);
}

/* ---- addresses ---- */

int vnc_parse_address(const char *text, struct sockaddr_storage *addr, socklen_t *len)
{
	struct sockaddr_in *a4 = (struct sockaddr_in *)addr;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)addr;

	memset(addr, 0, sizeof(*addr));
	if (inet_pton(AF_INET, text, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		*len = sizeof(*a4);
		return (ntohl(a4->sin_addr.s_addr) >> 24) == 127;
	}
	if (inet_pton(AF_INET6, text, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		*len = sizeof(*a6);
		return IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr) ||
		       (IN6_IS_ADDR_V4MAPPED(&a6->sin6_addr) && a6->sin6_addr.s6_addr[12] == 127);
	}
	return -EINVAL;
}

static void vnc_host_text(const struct sockaddr_storage *a, char *out, size_t n)
{
	char ip[INET6_ADDRSTRLEN] = "?";

	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *a4 = (const struct sockaddr_in *)a;

		inet_ntop(AF_INET, &a4->sin_addr, ip, sizeof(ip));
		snprintf(out, n, "%s:%u", ip, ntohs(a4->sin_port));
	} else if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)a;

		inet_ntop(AF_INET6, &a6->sin6_addr, ip, sizeof(ip));
		snprintf(out, n, "[%s]:%u", ip, ntohs(a6->sin6_port));
	} else {
		snprintf(out, n, "?");
	}
}

/* ---- keys: X keysyms as a US keyboard makes them -> evdev codes ---- */

static const uint16_t vnc_letter_keys[26] = {
	KEY_A, KEY_B, KEY_C, KEY_D, KEY_E, KEY_F, KEY_G, KEY_H, KEY_I, KEY_J, KEY_K, KEY_L, KEY_M,
	KEY_N, KEY_O, KEY_P, KEY_Q, KEY_R, KEY_S, KEY_T, KEY_U, KEY_V, KEY_W, KEY_X, KEY_Y, KEY_Z,
};

static const struct {
	uint32_t keysym;
	uint16_t code;
} vnc_keysyms[] = {
	/* ASCII punctuation and its shifted forms on a US keyboard */
	{ ' ', KEY_SPACE }, { '-', KEY_MINUS }, { '_', KEY_MINUS }, { '=', KEY_EQUAL },
	{ '+', KEY_EQUAL }, { '[', KEY_LEFTBRACE }, { '{', KEY_LEFTBRACE },
	{ ']', KEY_RIGHTBRACE }, { '}', KEY_RIGHTBRACE }, { '\\', KEY_BACKSLASH },
	{ '|', KEY_BACKSLASH }, { ';', KEY_SEMICOLON }, { ':', KEY_SEMICOLON },
	{ '\'', KEY_APOSTROPHE }, { '"', KEY_APOSTROPHE }, { '`', KEY_GRAVE }, { '~', KEY_GRAVE },
	{ ',', KEY_COMMA }, { '<', KEY_COMMA }, { '.', KEY_DOT }, { '>', KEY_DOT },
	{ '/', KEY_SLASH }, { '?', KEY_SLASH }, { '!', KEY_1 }, { '@', KEY_2 }, { '#', KEY_3 },
	{ '$', KEY_4 }, { '%', KEY_5 }, { '^', KEY_6 }, { '&', KEY_7 }, { '*', KEY_8 },
	{ '(', KEY_9 }, { ')', KEY_0 },
	/* X11 keysymdef.h, "TTY function keys", "Cursor control", "Misc" */
	{ 0xff08, KEY_BACKSPACE }, { 0xff09, KEY_TAB }, { 0xfe20, KEY_TAB }, /* ISO_Left_Tab */
	{ 0xff0d, KEY_ENTER }, { 0xff13, KEY_PAUSE }, { 0xff14, KEY_SCROLLLOCK },
	{ 0xff15, KEY_SYSRQ }, { 0xff1b, KEY_ESC }, { 0xffff, KEY_DELETE },
	{ 0xff50, KEY_HOME }, { 0xff51, KEY_LEFT }, { 0xff52, KEY_UP }, { 0xff53, KEY_RIGHT },
	{ 0xff54, KEY_DOWN }, { 0xff55, KEY_PAGEUP }, { 0xff56, KEY_PAGEDOWN }, { 0xff57, KEY_END },
	{ 0xff61, KEY_SYSRQ }, /* Print: PrintScreen is KEY_SYSRQ on a PC keyboard */
	{ 0xff63, KEY_INSERT }, { 0xff67, KEY_COMPOSE }, { 0xff7f, KEY_NUMLOCK },
	/* keypad */
	{ 0xff8d, KEY_KPENTER }, { 0xff95, KEY_KP7 }, { 0xff96, KEY_KP4 }, { 0xff97, KEY_KP8 },
	{ 0xff98, KEY_KP6 }, { 0xff99, KEY_KP2 }, { 0xff9a, KEY_KP9 }, { 0xff9b, KEY_KP3 },
	{ 0xff9c, KEY_KP1 }, { 0xff9d, KEY_KP5 }, { 0xff9e, KEY_KP0 }, { 0xff9f, KEY_KPDOT },
	{ 0xffaa, KEY_KPASTERISK }, { 0xffab, KEY_KPPLUS }, { 0xffad, KEY_KPMINUS },
	{ 0xffae, KEY_KPDOT }, { 0xffaf, KEY_KPSLASH }, { 0xffb0, KEY_KP0 }, { 0xffb1, KEY_KP1 },
	{ 0xffb2, KEY_KP2 }, { 0xffb3, KEY_KP3 }, { 0xffb4, KEY_KP4 }, { 0xffb5, KEY_KP5 },
	{ 0xffb6, KEY_KP6 }, { 0xffb7, KEY_KP7 }, { 0xffb8, KEY_KP8 }, { 0xffb9, KEY_KP9 },
	{ 0xffbd, KEY_KPEQUAL },
	/* modifiers */
	{ 0xffe1, KEY_LEFTSHIFT }, { 0xffe2, KEY_RIGHTSHIFT }, { 0xffe3, KEY_LEFTCTRL },
	{ 0xffe4, KEY_RIGHTCTRL }, { 0xffe5, KEY_CAPSLOCK }, { 0xffe7, KEY_LEFTMETA },
	{ 0xffe8, KEY_RIGHTMETA }, { 0xffe9, KEY_LEFTALT }, { 0xffea, KEY_RIGHTALT },
	{ 0xffeb, KEY_LEFTMETA }, { 0xffec, KEY_RIGHTMETA },
	{ 0xfe03, KEY_RIGHTALT }, /* ISO_Level3_Shift: AltGr */
};

/* vnc_keysym_key: the evdev key that makes `keysym` on a US keyboard; 0
 * for none (such keysyms are dropped). */
static unsigned vnc_keysym_key(uint32_t keysym)
{
	if (keysym >= 'a' && keysym <= 'z')
		return vnc_letter_keys[keysym - 'a'];
	if (keysym >= 'A' && keysym <= 'Z')
		return vnc_letter_keys[keysym - 'A'];
	if (keysym >= '1' && keysym <= '9')
		return KEY_1 + (keysym - '1');
	if (keysym == '0')
		return KEY_0;
	if (keysym >= 0xffbe && keysym <= 0xffc7) /* F1..F10 */
		return KEY_F1 + (keysym - 0xffbe);
	if (keysym == 0xffc8)
		return KEY_F11;
	if (keysym == 0xffc9)
		return KEY_F12;
	for (size_t i = 0; i < sizeof(vnc_keysyms) / sizeof(vnc_keysyms[0]); i++)
		if (vnc_keysyms[i].keysym == keysym)
			return vnc_keysyms[i].code;
	return 0;
}

/* ---- input from clients: to the guest, or for the screen to the seat ---- */

static struct peer *vnc_guest_peer(const struct vnc_server *s)
{
	return s->slot == SEAT_NO_SLOT ? NULL : s->v->d->guests[s->slot].peer;
}

static void vnc_send_key(struct vnc_client *c, unsigned code, int pressed)
{
	struct vnc_server *s = c->srv;

	if (s->slot != SEAT_NO_SLOT) {
		peer_send_key(vnc_guest_peer(s), code, pressed);
		return;
	}
	seat_event(s->v->d->seat, EV_KEY, code, pressed);
	seat_event(s->v->d->seat, EV_SYN, SYN_REPORT, 0);
}

/* vnc_send_pointer: (x, y) in the server's pixels, already clamped. */
static void vnc_send_pointer(struct vnc_client *c, int x, int y, unsigned buttons, int wheel)
{
	static const struct {
		unsigned bit, code;
	} button_keys[] = {
		{ DISPLAY_BUTTON_LEFT, BTN_LEFT },
		{ DISPLAY_BUTTON_RIGHT, BTN_RIGHT },
		{ DISPLAY_BUTTON_MIDDLE, BTN_MIDDLE },
	};
	struct vnc_server *s = c->srv;
	struct seat *seat = s->v->d->seat;
	int dx = c->has_pos ? x - c->x : 0, dy = c->has_pos ? y - c->y : 0;
	int w = s->screen->width, h = s->screen->height;

	if (s->slot != SEAT_NO_SLOT) {
		peer_send_pointer(vnc_guest_peer(s), x, y, dx, dy, buttons, wheel);
	} else {
		/* the screen's pixels as an absolute device's 0..SEAT_ABS_MAX */
		seat_event(seat, EV_ABS, ABS_X, w > 1 ? x * SEAT_ABS_MAX / (w - 1) : 0);
		seat_event(seat, EV_ABS, ABS_Y, h > 1 ? y * SEAT_ABS_MAX / (h - 1) : 0);
		for (size_t i = 0; i < sizeof(button_keys) / sizeof(button_keys[0]); i++)
			if ((buttons ^ c->buttons) & button_keys[i].bit)
				seat_event(seat, EV_KEY, button_keys[i].code,
					   !!(buttons & button_keys[i].bit));
		if (wheel)
			seat_event(seat, EV_REL, REL_WHEEL, wheel);
		seat_event(seat, EV_SYN, SYN_REPORT, 0);
	}
	c->x = x;
	c->y = y;
	c->has_pos = 1;
	c->buttons = buttons;
}

/* vnc_input_counts: one more input event a guest cannot merge with the
 * last; 0 when it is over the rate (the client is closed; libvncserver's
 * caller notices after it returns). */
static int vnc_input_counts(struct vnc_client *c)
{
	if (++c->window_input <= VNC_INPUT_RATE)
		return 1;
	c->drop_reason = "floods input";
	rfbCloseClient(c->cl);
	return 0;
}

static void vnc_kbd_event(rfbBool down, rfbKeySym keysym, rfbClientPtr cl)
{
	struct vnc_client *c = cl->clientData;
	unsigned code = vnc_keysym_key(keysym);
	uint8_t bit;
	int held;

	if (!c || !c->srv->input || !vnc_input_counts(c))
		return;
	if (!code) {
		log_debug("vnc: %s: keysym 0x%x has no key on a US keyboard", c->host,
			  (unsigned)keysym);
		return;
	}
	bit = (uint8_t)(1u << (code % 8));
	held = !!(c->keys[code / 8] & bit);
	/* a release without its press, or a repeated press (guests repeat
	 * on their own, as for the local keyboard), goes nowhere */
	if (!!down == held)
		return;
	c->keys[code / 8] ^= bit;
	vnc_send_key(c, code, !!down);
}


/* RFB button mask (RFB 7.5.5): bit 0 left, 1 middle, 2 right, 3 and 4 the
 * wheel up and down (a press per notch). */
#define RFB_BUTTON_LEFT 0x01u
#define RFB_BUTTON_MIDDLE 0x02u
#define RFB_BUTTON_RIGHT 0x04u
#define RFB_WHEEL_UP 0x08u
#define RFB_WHEEL_DOWN 0x10u

static void vnc_ptr_event(int mask, int x, int y, rfbClientPtr cl)
{
	struct vnc_client *c = cl->clientData;
	rfbScreenInfoPtr scr = cl->screen;
	unsigned m = (unsigned)mask & 0xffu, pressed, buttons = 0;
	int wheel = 0;

	if (!c || !c->srv->input)
		return;
	if (m != c->vnc_mask && !vnc_input_counts(c))
		return;
	pressed = m & ~c->vnc_mask;
	c->vnc_mask = m;
	if (m & RFB_BUTTON_LEFT)
		buttons |= DISPLAY_BUTTON_LEFT;
	if (m & RFB_BUTTON_MIDDLE)
		buttons |= DISPLAY_BUTTON_MIDDLE;
	if (m & RFB_BUTTON_RIGHT)
		buttons |= DISPLAY_BUTTON_RIGHT;
	if (pressed & RFB_WHEEL_UP)
		wheel++;
	if (pressed & RFB_WHEEL_DOWN)
		wheel--;
	/* the client's coordinates are 16-bit and unchecked: clamp */
	if (x < 0)
		x = 0;
	if (y < 0)
		y = 0;
	if (x >= scr->width)
		x = scr->width - 1;
	if (y >= scr->height)
		y = scr->height - 1;
	vnc_send_pointer(c, x, y, buttons, wheel);
}

/* vnc_release_input: what a client still holds goes up when it leaves. */
static void vnc_release_input(struct vnc_client *c)
{
	for (unsigned code = 0; code <= DISPLAY_KEY_CODE_MAX; code++)
		if (c->keys[code / 8] & (1u << (code % 8)))
			vnc_send_key(c, code, 0);
	memset(c->keys, 0, sizeof(c->keys));
	if (c->buttons)
		vnc_send_pointer(c, c->x, c->y, 0, 0);
}

/* ---- timers ---- */

static void vnc_tick_start(struct vnc *v)
{
	if (!v->tick_armed) {
		loop_timer_arm(v->tick, 1000, 1000);
		v->tick_armed = 1;
	}
}

/* vnc_pace_at: come back to send an update at `due`. */
static void vnc_pace_at(struct vnc *v, uint64_t now, uint64_t due)
{
	if (v->pace_due_ms && v->pace_due_ms <= due)
		return;
	v->pace_due_ms = due;
	loop_timer_arm(v->pace, due > now ? due - now : 1, 0);
}

static void vnc_pace_fired(void *opaque)
{
	struct vnc *v = opaque;

	v->pace_due_ms = 0;
	v->dirty = 1;
}

/* ---- clients ---- */

static void vnc_client_watch(struct vnc_client *c, uint32_t events)
{
	if (c->events == events)
		return;
	if (loop_mod_fd(c->srv->v->d->loop, c->fd, events) == 0)
		c->events = events;
}

/* vnc_client_drop: close `c` now (not from inside a libvncserver
 * callback: there, rfbCloseClient and let vnc_client_check finish). */
static void vnc_client_drop(struct vnc_client *c, const char *why)
{
	rfbClientPtr cl = c->cl;

	if (why && !c->drop_reason)
		c->drop_reason = why;
	if (cl->sock != RFB_INVALID_SOCKET)
		rfbCloseClient(cl);
	rfbClientConnectionGone(cl);
}

/* vnc_client_check: after any call into libvncserver for `c`: 1 when it
 * closed the client, which is now freed. */
static int vnc_client_check(struct vnc_client *c)
{
	if (c->cl->sock != RFB_INVALID_SOCKET)
		return 0;
	rfbClientConnectionGone(c->cl);
	return 1;
}

/* libvncserver's clientGoneHook: the last word on a client. */
static void vnc_client_gone(rfbClientPtr cl)
{
	struct vnc_client *c = cl->clientData, **link;
	struct vnc *v;

	if (!c)
		return;
	v = c->srv->v;
	if (!v->stopping)
		vnc_release_input(c);
	/* libvncserver has closed the fd already; nothing opened one since */
	loop_del_fd(v->d->loop, c->fd);
	for (link = &v->clients; *link; link = &(*link)->next)
		if (*link == c) {
			*link = c->next;
			break;
		}
	c->srv->nconns--;
	if (c->drop_reason)
		log_info("vnc %s: client %s dropped: %s", c->srv->name, c->host,
			 c->drop_reason);
	else if (!v->stopping)
		log_info("vnc %s: client %s gone", c->srv->name, c->host);
	cl->clientData = NULL;
	free(c);
}

/* vnc_client_room: bytes the socket takes now without blocking. SO_SNDBUF
 * counts the kernel's own overhead too: about half of it is data. */
static long vnc_client_room(const struct vnc_client *c)
{
	int sndbuf = 0, queued = 0;
	socklen_t len = sizeof(sndbuf);

	if (getsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, &len) < 0 ||
	    ioctl(c->fd, SIOCOUTQ, &queued) < 0)
		return -1;
	return (long)sndbuf / 2 - queued;
}

/* vnc_client_min_room: an update needs room for at least a row of raw
 * pixels (the worst any encoding does). */
static long vnc_client_min_room(const struct vnc_client *c)
{
	long row = (long)c->cl->scaledScreen->width * 4 + 64;

	return row > VNC_MIN_ROOM ? row : VNC_MIN_ROOM;
}

static void vnc_client_stall(struct vnc_client *c)
{
	c->stalled = 1;
	c->partial_since_ms = 0; /* we are not reading now: not its fault */
	/* edge-triggered: woken as the peer acknowledges data, not in a loop
	 * while there is some room but not enough */
	vnc_client_watch(c, VNC_WATCH_OUT);
	vnc_tick_start(c->srv->v);
}

static void vnc_client_lowat(struct vnc_client *c, size_t need)
{
	int lowat = (int)need;

	if (c->lowat == lowat)
		return;
	if (setsockopt(c->fd, SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof(lowat)) == 0)
		c->lowat = lowat;
}

static uint32_t vnc_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* vnc_message_need: the size of the client's next message, from the
 * `have` (up to 8) bytes at its start; 0 with `why` for one we do not
 * take. Sizes from rfbproto.h, and for the variable ones the length field
 * libvncserver 0.9.14 reads (rfbProcessClientNormalMessage). */
static size_t vnc_message_need(const struct vnc_client *c, const uint8_t *h, size_t have,
			       const char **why)
{
	rfbClientPtr cl = c->cl;
	uint32_t len;

	switch (cl->state) {
	case RFB_PROTOCOL_VERSION:
		return sz_rfbProtocolVersionMsg;
	case RFB_SECURITY_TYPE:
		return 1;
	case RFB_AUTHENTICATION:
		return CHALLENGESIZE; /* only VNC authentication is offered */
	case RFB_INITIALISATION:
	case RFB_INITIALISATION_SHARED:
		return sz_rfbClientInitMsg;
	default:
		break;
	}
	if (have < 1)
		return 1;
	switch (h[0]) {
	case rfbSetPixelFormat:
		return sz_rfbSetPixelFormatMsg;
	case rfbFixColourMapEntries:
		return sz_rfbFixColourMapEntriesMsg;
	case rfbSetEncodings:
		if (have < sz_rfbSetEncodingsMsg)
			return sz_rfbSetEncodingsMsg;
		return sz_rfbSetEncodingsMsg + 4u * ((unsigned)h[2] << 8 | h[3]);
	case rfbFramebufferUpdateRequest:
		return sz_rfbFramebufferUpdateRequestMsg;
	case rfbKeyEvent:
		return sz_rfbKeyEventMsg;
	case rfbPointerEvent:
		return sz_rfbPointerEventMsg;
	case rfbClientCutText:
		if (have < sz_rfbClientCutTextMsg)
			return sz_rfbClientCutTextMsg;
		len = vnc_be32(h + 4);
		if (cl->enableExtendedClipboard && (len & 0x80000000u))
			len = 0u - len;
		/* longer: libvncserver closes after the header */
		return sz_rfbClientCutTextMsg + (len > VNC_CUT_TEXT_MAX ? 0 : len);
	case rfbSetScale:
	case rfbPalmVNCSetScaleFactor:
		if (have < sz_rfbSetScaleMsg)
			return sz_rfbSetScaleMsg;
		/* libvncserver divides by it and makes a copy of the screen
		 * that size: keep it at least a pixel */
		if (!h[1] || cl->screen->width / h[1] < 1 || cl->screen->height / h[1] < 1) {
			*why = "asked for a scale the screen does not have";
			return 0;
		}
		return sz_rfbSetScaleMsg;
	case rfbSetServerInput:
		return sz_rfbSetServerInputMsg;
	case rfbSetSW:
		return sz_rfbSetSWMsg;
	case rfbTextChat:
		if (have < sz_rfbTextChatMsg)
			return sz_rfbTextChatMsg;
		len = vnc_be32(h + 4);
		return sz_rfbTextChatMsg + (len > 0 && len < rfbTextMaxSize ? len : 0);
	case rfbXvp:
		return sz_rfbXvpMsg;
	case rfbSetDesktopSize:
		if (have < sz_rfbSetDesktopSizeMsg)
			return sz_rfbSetDesktopSizeMsg;
		return sz_rfbSetDesktopSizeMsg + (size_t)sz_rfbExtDesktopScreen * h[6];
	case rfbFileTransfer:
		*why = "asked for file transfer, which is not offered";
		return 0;
	default:
		*why = "sent a message type this server does not know";
		return 0;
	}
}

/* vnc_client_message_ready: 1 when the client's next message is all in
 * its socket; 0 to wait (epoll wakes us when the rest is there); -1 when
 * the client was dropped. */
static int vnc_client_message_ready(struct vnc_client *c, uint32_t events, uint64_t now)
{
	uint8_t h[8];
	const char *why = NULL;
	ssize_t n = recv(c->fd, h, sizeof(h), MSG_PEEK | MSG_DONTWAIT);
	size_t need;
	int avail = 0;

	if (n == 0) {
		vnc_client_drop(c, NULL);
		return -1;
	}
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		vnc_client_drop(c, strerror(errno));
		return -1;
	}
	need = vnc_message_need(c, h, (size_t)n, &why);
	if (!need) {
		vnc_client_drop(c, why);
		return -1;
	}
	if (ioctl(c->fd, FIONREAD, &avail) < 0)
		avail = (int)n;
	if ((size_t)avail < need) {
		/* the rest will never come (and epoll keeps saying so) */
		if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
			vnc_client_drop(c, "closed in the middle of a message");
			return -1;
		}
		if (!c->partial_since_ms)
			c->partial_since_ms = now;
		vnc_client_lowat(c, need);
		vnc_tick_start(c->srv->v);
		return 0;
	}
	c->partial_since_ms = 0;
	vnc_client_lowat(c, 1);
	c->msg_type = c->cl->state == RFB_NORMAL ? h[0] : -1;
	return 1;
}

/* vnc_client_refresh: all of the screen is news to the client (after a
 * SetScale, which libvncserver 0.9.14 answers with a new size only). */
static void vnc_client_refresh(struct vnc_client *c)
{
	rfbClientPtr cl = c->cl;
	sraRegionPtr all = sraRgnCreateRect(0, 0, cl->screen->width, cl->screen->height);

	sraRgnOr(cl->modifiedRegion, all);
	sraRgnDestroy(all);
}

static void vnc_client_event(void *opaque, uint32_t events)
{
	struct vnc_client *c = opaque;
	struct vnc *v = c->srv->v;
	rfbScreenInfoPtr scr = c->srv->screen;
	uint64_t now = loop_now_ms();

	if (c->stalled) {
		if (vnc_client_room(c) < vnc_client_min_room(c)) {
			if (events & (EPOLLERR | EPOLLHUP | EPOLLRDHUP))
				vnc_client_drop(c, "connection lost");
			return;
		}
		c->stalled = 0;
		vnc_client_watch(c, VNC_WATCH_IN);
		v->dirty = 1;
		return;
	}
	if (now - c->window_ms >= 1000) {
		c->window_ms = now;
		c->window_msgs = c->window_input = 0;
	}
	for (unsigned i = 0; i < VNC_MSGS_PER_WAKEUP; i++) {
		/* replies to messages are small, but do not let even those
		 * block on a full socket */
		if (vnc_client_room(c) < vnc_client_min_room(c)) {
			vnc_client_stall(c);
			return;
		}
		if (vnc_client_message_ready(c, events, now) <= 0)
			return;
		if (++c->window_msgs > VNC_MSG_RATE) {
			vnc_client_drop(c, "floods messages");
			return;
		}
		rfbProcessClientMessage(c->cl);
		if (c->msg_type == rfbSetScale || c->msg_type == rfbPalmVNCSetScaleFactor)
			vnc_client_refresh(c);
		/* libvncserver gives the pointer to whoever holds a button,
		 * view-only clients too: they must not lock out the others */
		if (scr->pointerClient && scr->pointerClient->viewOnly)
			scr->pointerClient = NULL;
		if (vnc_client_check(c))
			return;
		v->dirty = 1;
	}
}

/* vnc_client_wants_update: it asked for an update and there is one. */
static int vnc_client_wants_update(const struct vnc_client *c)
{
	rfbClientPtr cl = c->cl;

	if (cl->state != RFB_NORMAL || sraRgnEmpty(cl->requestedRegion))
		return 0;
	return !sraRgnEmpty(cl->modifiedRegion) || !sraRgnEmpty(cl->copyRegion) ||
	       (cl->useNewFBSize && cl->newFBSizePending);
}

/* vnc_client_push: send `c` its update if one is due and fits. */
static void vnc_client_push(struct vnc_client *c, uint64_t now)
{
	if (c->stalled || !vnc_client_wants_update(c))
		return;
	if (now < c->next_update_ms) {
		vnc_pace_at(c->srv->v, now, c->next_update_ms);
		return;
	}
	if (vnc_client_room(c) < vnc_client_min_room(c)) {
		vnc_client_stall(c);
		return;
	}
	rfbUpdateClient(c->cl);
	vnc_client_check(c);
}

/* displayHook, just before libvncserver builds an update: cut what the
 * client asked for to a band of rows whose raw pixels (the most any
 * encoding sends) fit in its socket now, so the update is written without
 * blocking. The rest stays modified and goes with the next updates; the
 * bands move down the screen, so a client that asks for the whole screen
 * each time still gets all of it. */
static void vnc_display_hook(rfbClientPtr cl)
{
	struct vnc_client *c = cl->clientData;
	sraRegionPtr want, box;
	sraRect r;
	long room, row, rows;
	int y0;

	if (!c)
		return;
	c->clipped = 0;
	room = vnc_client_room(c);
	want = sraRgnCreateRgn(cl->modifiedRegion);
	sraRgnAnd(want, cl->requestedRegion);
	box = sraRgnBBox(want);
	if (sraRgnPopRect(box, &r, 0)) {
		row = (long)(r.x2 - r.x1) * 4 + 16;
		rows = room > 0 ? room / row : 0;
		if (rows < 1)
			rows = 1;
		y0 = c->clip_y > r.y1 && c->clip_y < r.y2 ? c->clip_y : r.y1;
		if (rows < r.y2 - y0 || y0 > r.y1) {
			sraRegionPtr band = sraRgnCreateRect(0, y0, cl->screen->width,
							    y0 + (int)(rows < r.y2 - y0 ? rows : r.y2 - y0));

			sraRgnAnd(cl->requestedRegion, band);
			sraRgnDestroy(band);
			c->clipped = 1;
			c->clip_y = y0 + (int)rows;
		}
	}
	if (!c->clipped)
		c->clip_y = 0;
	sraRgnDestroy(box);
	sraRgnDestroy(want);
}

/* displayFinishedHook: pace this client; the rest of a cut update may
 * follow at once. */
static void vnc_display_finished(rfbClientPtr cl, int result)
{
	struct vnc_client *c = cl->clientData;

	(void)result;
	if (!c)
		return;
	c->next_update_ms = loop_now_ms() + (c->clipped ? 0 : VNC_UPDATE_INTERVAL_MS);
	c->srv->v->dirty = 1;
}

static rfbBool vnc_check_password(rfbClientPtr cl, const char *response, int len)
{
	struct vnc_server *s = cl->screen->screenData;
	struct vnc_client *c = cl->clientData;

	if (rfbCheckPasswordByList(cl, response, len))
		return TRUE;
	/* one guess a second at most */
	listener_pause(s->listener, VNC_PAUSE_MS);
	log_info("vnc %s: client %s gave a wrong password", s->name,
		 c ? c->host : "?");
	return FALSE;
}

/* newClientHook, inside rfbNewClient: swap the TCP socket in for the
 * socketpair libvncserver was handed (see vnc_handover). */
static enum rfbNewClientAction vnc_new_client(rfbClientPtr cl)
{
	struct vnc_server *s = cl->screen->screenData;
	struct vnc *v = s->v;
	struct vnc_client *c;

	if (v->handover_fd < 0 || dup3(v->handover_fd, cl->sock, O_CLOEXEC) < 0)
		return RFB_CLIENT_REFUSE;
	close(v->handover_fd);
	v->handover_fd = -1;
	c = calloc(1, sizeof(*c));
	if (!c)
		return RFB_CLIENT_REFUSE;
	c->srv = s;
	c->cl = cl;
	c->fd = cl->sock;
	c->events = VNC_WATCH_IN;
	c->lowat = 1;
	c->connected_ms = loop_now_ms();
	snprintf(c->host, sizeof(c->host), "%s", v->handover->host);
	if (loop_add_fd(v->d->loop, c->fd, VNC_WATCH_IN, vnc_client_event, c)) {
		free(c);
		return RFB_CLIENT_REFUSE;
	}
	free(cl->host);
	cl->host = strdup(c->host);
	cl->clientData = c;
	cl->clientGoneHook = vnc_client_gone;
	cl->viewOnly = !s->input;
	c->next = v->clients;
	v->clients = c;
	v->handover = NULL; /* taken */
	log_info("vnc %s: client %s connected%s", s->name, c->host,
		 s->input ? "" : " (view-only)");
	return RFB_CLIENT_ACCEPT;
}

/* ---- connections before libvncserver's ---- */

static void vnc_conn_close(struct vnc_conn *k, int fd_too)
{
	struct vnc *v = k->srv->v;

	for (struct vnc_conn **link = &v->conns; *link; link = &(*link)->next)
		if (*link == k) {
			*link = k->next;
			break;
		}
	if (fd_too) {
		loop_del_fd(v->d->loop, k->fd);
		close(k->fd);
	}
	k->srv->nconns--;
	free(k);
}

/* vnc_handover: the client's ProtocolVersion is in its socket: give the
 * connection to libvncserver. rfbNewClient first peeks (up to 100 ms) for
 * a WebSockets or TLS greeting, then writes its own ProtocolVersion, which
 * the client has had from us. So it gets one end of a socketpair holding
 * a ProtocolVersion to find, writes its own into it, and vnc_new_client
 * puts the TCP socket in that end's place (dup3: the same fd number in
 * libvncserver's hands), the client's ProtocolVersion still unread. */
static void vnc_handover(struct vnc_conn *k)
{
	struct vnc_server *s = k->srv;
	struct vnc *v = s->v;
	char version[sz_rfbProtocolVersionMsg + 1];
	int sp[2], one = 1;

	loop_del_fd(v->d->loop, k->fd);
	setsockopt(k->fd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof(one));
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0) {
		log_warn("vnc %s: client %s: socketpair: %s", s->name, k->host,
			 strerror(errno));
		close(k->fd);
		vnc_conn_close(k, 0);
		return;
	}
	/* libvncserver keeps its clients' fds in an fd_set */
	if (sp[0] >= FD_SETSIZE) {
		log_warn("vnc %s: client %s refused: out of low file descriptors",
			 s->name, k->host);
		close(sp[0]);
		close(sp[1]);
		close(k->fd);
		vnc_conn_close(k, 0);
		return;
	}
	snprintf(version, sizeof(version), rfbProtocolVersionFormat,
		 s->screen->protocolMajorVersion, s->screen->protocolMinorVersion);
	if (write(sp[1], version, sz_rfbProtocolVersionMsg) != sz_rfbProtocolVersionMsg) {
		close(sp[0]);
		close(sp[1]);
		close(k->fd);
		vnc_conn_close(k, 0);
		return;
	}
	v->handover_fd = k->fd;
	v->handover = k;
	/* on failure libvncserver closes sp[0] itself */
	rfbNewClient(s->screen, sp[0]);
	close(sp[1]);
	if (v->handover_fd >= 0) /* vnc_new_client did not take it */
		close(v->handover_fd);
	v->handover_fd = -1;
	if (!v->handover)
		s->nconns++; /* a client now: vnc_client_gone counts it out */
	v->handover = NULL;
	vnc_conn_close(k, 0);
	v->dirty = 1;
}

static void vnc_conn_event(void *opaque, uint32_t events)
{
	struct vnc_conn *k = opaque;
	char buf[sz_rfbProtocolVersionMsg];
	ssize_t n = recv(k->fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);
	int lowat = sz_rfbProtocolVersionMsg;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		log_debug("vnc %s: %s closed before its handshake", k->srv->name,
			  k->host);
		vnc_conn_close(k, 1);
		return;
	}
	if (memcmp(buf, "RFB ", (size_t)n < 4 ? (size_t)n : 4)) {
		log_info("vnc %s: %s refused: not a VNC client", k->srv->name,
			 k->host);
		vnc_conn_close(k, 1);
		return;
	}
	if (n < (ssize_t)sizeof(buf)) {
		if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
			vnc_conn_close(k, 1);
			return;
		}
		/* wake when all 12 bytes are there */
		setsockopt(k->fd, SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof(lowat));
		return;
	}
	vnc_handover(k);
}

/* vnc_refused: one log line a second at most. */
static void vnc_refused(struct vnc_server *s, const char *why)
{
	uint64_t now = loop_now_ms();

	if (now - s->refused_log_ms >= 1000) {
		log_warn("vnc %s: refused a connection: %s", s->name, why);
		s->refused_log_ms = now;
	}
}

#define VNC_STR(x) #x
#define VNC_XSTR(x) VNC_STR(x)

static void vnc_accept(void *opaque)
{
	struct vnc_server *s = opaque;
	struct vnc *v = s->v;
	char version[sz_rfbProtocolVersionMsg + 1];
	int one = 1, sndbuf = VNC_SNDBUF;

	snprintf(version, sizeof(version), rfbProtocolVersionFormat,
		 s->screen->protocolMajorVersion, s->screen->protocolMinorVersion);
	for (unsigned i = 0; i < VNC_ACCEPTS_PER_WAKEUP; i++) {
		struct sockaddr_storage a;
		socklen_t alen = sizeof(a);
		struct vnc_conn *k;
		int fd = listener_accept(s->listener, (struct sockaddr *)&a, &alen);

		if (fd < 0)
			return;
		if (s->nconns >= VNC_MAX_CLIENTS) {
			close(fd);
			vnc_refused(s, "it has " VNC_XSTR(VNC_MAX_CLIENTS) " connections already");
			continue;
		}
		k = calloc(1, sizeof(*k));
		if (!k) {
			close(fd);
			return;
		}
		k->srv = s;
		k->fd = fd;
		k->since_ms = loop_now_ms();
		vnc_host_text(&a, k->host, sizeof(k->host));
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		/* a big send buffer lets an update go out in one piece; as root
		 * beyond net.core.wmem_max */
		if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf)) < 0)
			setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
		if (send(fd, version, sz_rfbProtocolVersionMsg, MSG_NOSIGNAL | MSG_DONTWAIT) !=
			    sz_rfbProtocolVersionMsg ||
		    loop_add_fd(v->d->loop, fd, VNC_WATCH_IN, vnc_conn_event, k)) {
			close(fd);
			free(k);
			continue;
		}
		k->next = v->conns;
		v->conns = k;
		s->nconns++;
		vnc_tick_start(v);
	}
}

/* vnc_client_stuck: data waits in its socket and none of it has gone out
 * for VNC_STALL_MS (whether or not more is waiting to be sent). */
static int vnc_client_stuck(struct vnc_client *c, uint64_t now)
{
	int queued = 0;

	if (ioctl(c->fd, SIOCOUTQ, &queued) < 0 || queued == 0 || queued < c->queued)
		c->stuck_since_ms = 0;
	else if (!c->stuck_since_ms)
		c->stuck_since_ms = now;
	c->queued = queued;
	return c->stuck_since_ms && now - c->stuck_since_ms >= VNC_STALL_MS;
}

/* vnc_tick: each second while there are connections: the timeouts. */
static void vnc_tick(void *opaque)
{
	struct vnc *v = opaque;
	uint64_t now = loop_now_ms();

	for (struct vnc_conn *k = v->conns, *next; k; k = next) {
		next = k->next;
		if (now - k->since_ms >= VNC_HANDSHAKE_MS) {
			log_info("vnc %s: %s dropped: no VNC handshake within %d s",
				 k->srv->name, k->host, VNC_HANDSHAKE_MS / 1000);
			vnc_conn_close(k, 1);
		}
	}
	for (struct vnc_client *c = v->clients, *next; c; c = next) {
		next = c->next;
		if (c->cl->state != RFB_NORMAL && now - c->connected_ms >= VNC_HANDSHAKE_MS)
			vnc_client_drop(c, "did not finish its handshake in time");
		else if (c->partial_since_ms && now - c->partial_since_ms >= VNC_MESSAGE_MS)
			vnc_client_drop(c, "sent part of a message and no more");
		else if (vnc_client_stuck(c, now))
			vnc_client_drop(c, "does not read what it is sent");
	}
	if (!v->conns && !v->clients) {
		loop_timer_arm(v->tick, 0, 0);
		v->tick_armed = 0;
	}
}

/* ---- servers ---- */

/* vnc_set_format: our pixels are XRGB8888 (DRM fourcc XR24): a
 * little-endian 32-bit 0x00RRGGBB. rfbGetScreen and rfbNewFramebuffer set
 * red at bit 0; put it right, and redo the clients' translations. */
static void vnc_set_format(struct vnc_server *s)
{
	rfbScreenInfoPtr scr = s->screen;

	scr->serverFormat.bigEndian = FALSE;
	scr->serverFormat.redShift = 16;
	scr->serverFormat.greenShift = 8;
	scr->serverFormat.blueShift = 0;
	for (struct vnc_client *c = s->v->clients; c; c = c->next)
		if (c->srv == s && c->cl->sock != RFB_INVALID_SOCKET)
			rfbSetTranslateFunction(c->cl);
}

/* vnc_server_drop_scaled: before a change of resolution. libvncserver
 * 0.9.14 keeps scaled copies (SetScale) at their old size, which then no
 * longer match the screen (a copy larger than the screen divides by
 * zero): drop the clients using one, and free the copies as
 * rfbScreenCleanup would. */
static void vnc_server_drop_scaled(struct vnc_server *s)
{
	rfbScreenInfoPtr *link = &s->screen->scaledScreenNext;

	for (struct vnc_client *c = s->v->clients, *next; c; c = next) {
		next = c->next;
		if (c->srv == s && c->cl->scaledScreen != s->screen)
			vnc_client_drop(c, "its scaled view ends at a change of resolution");
	}
	while (*link) {
		rfbScreenInfoPtr scaled = *link;

		if (scaled->scaledScreenRefCount > 0) {
			link = &scaled->scaledScreenNext;
			continue;
		}
		*link = scaled->scaledScreenNext;
		free(scaled->frameBuffer);
		free(scaled);
	}
}

/* vnc_server_set_fb: show these pixels from now on. libvncserver never
 * writes to its frameBuffer here (no cursor is drawn into it), so a
 * guest's read-only mapping is fine. */
static void vnc_server_set_fb(struct vnc_server *s, const void *pixels, unsigned w, unsigned h,
			      unsigned stride)
{
	rfbScreenInfoPtr scr = s->screen;

	if ((int)w == scr->width && (int)h == scr->height) {
		scr->frameBuffer = (char *)pixels;
		scr->paddedWidthInBytes = (int)stride;
		rfbMarkRectAsModified(scr, 0, 0, (int)w, (int)h);
	} else {
		vnc_server_drop_scaled(s);
		rfbNewFramebuffer(scr, (char *)pixels, (int)w, (int)h, 8, 3, 4);
		scr->paddedWidthInBytes = (int)stride;
		vnc_set_format(s);
		for (struct vnc_client *c = s->v->clients, *next; c; c = next) {
			next = c->next;
			if (c->srv == s)
				vnc_client_check(c);
		}
	}
	s->v->dirty = 1;
}

/* vnc_status_picture: `text` on the status screens' grey, w x h. */
static uint32_t *vnc_status_picture(const char *text, unsigned w, unsigned h)
{
	uint32_t *pixels = malloc((size_t)w * h * 4);
	pixman_image_t *img;
	unsigned scale = 4;

	if (!pixels)
		return NULL;
	img = pixman_image_create_bits(PIXMAN_x8r8g8b8, (int)w, (int)h, pixels, (int)w * 4);
	if (!img) {
		free(pixels);
		return NULL;
	}
	pixman_fill(pixels, (int)w, 32, 0, 0, (int)w, (int)h, 0xff000000u | VNC_STATUS_BG);
	while (scale > 1 && font_text_width(text, scale) + 16 > w)
		scale--;
	font_draw(img, ((int)w - (int)font_text_width(text, scale)) / 2,
		  ((int)h - FONT_GLYPH_HEIGHT * (int)scale) / 2, text, scale,
		  0xff000000u | VNC_STATUS_TEXT);
	pixman_image_unref(img);
	return pixels;
}

/* vnc_server_show_status: the guest has no surface: show `text` at the
 * size the server has (within VNC_STATUS_MAX_*). */
static void vnc_server_show_status(struct vnc_server *s, const char *text)
{
	unsigned w = (unsigned)s->screen->width, h = (unsigned)s->screen->height;
	uint32_t *pixels, *old = s->status;

	if (w > VNC_STATUS_MAX_W)
		w = VNC_STATUS_MAX_W;
	if (h > VNC_STATUS_MAX_H)
		h = VNC_STATUS_MAX_H;
	if (old && !strcmp(s->status_text, text) && (int)w == s->screen->width &&
	    (int)h == s->screen->height)
		return;
	pixels = vnc_status_picture(text, w, h);
	if (!pixels) {
		log_error("vnc %s: out of memory for a %ux%u status picture",
			  s->name, w, h);
		return;
	}
	vnc_server_set_fb(s, pixels, w, h, w * 4);
	s->status = pixels;
	snprintf(s->status_text, sizeof(s->status_text), "%s", text);
	free(old);
}

static int vnc_input_allowed(const struct vnc_options *o, const char *name)
{
	if (o->input_all)
		return 1;
	for (unsigned i = 0; i < o->ninput; i++)
		if (!strcmp(o->input[i], name))
			return 1;
	return 0;
}

static int vnc_listen(struct vnc *v, int port)
{
	struct sockaddr_storage a = v->addr;
	int fd, one = 1;

	if (a.ss_family == AF_INET)
		((struct sockaddr_in *)&a)->sin_port = htons((uint16_t)port);
	else
		((struct sockaddr_in6 *)&a)->sin6_port = htons((uint16_t)port);
	fd = socket(a.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, v->addr_len) < 0 || listen(fd, 16) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static void vnc_server_destroy(struct vnc_server *s)
{
	if (!s)
		return;
	if (s->screen) {
		rfbShutdownServer(s->screen, TRUE);
		rfbScreenCleanup(s->screen);
	}
	listener_free(s->listener);
	free(s->status);
	free(s);
}

/* vnc_server_create: a server for `slot` (SEAT_NO_SLOT: the screen)
 * showing `pixels` (a status picture for a guest: the server owns it).
 * NULL, logged, when it cannot listen. */
static struct vnc_server *vnc_server_create(struct vnc *v, int slot, const char *name,
					    void *pixels, unsigned w, unsigned h,
					    unsigned stride)
{
	const struct vnc_options *o = &v->d->opts->vnc;
	unsigned index = slot == SEAT_NO_SLOT ? VNC_SCREEN_INDEX : (unsigned)slot;
	struct vnc_server *s = calloc(1, sizeof(*s));
	rfbScreenInfoPtr scr;
	char what[DISPLAY_NAME_SIZE + 8];
	int fd;

	if (!s) {
		free(slot == SEAT_NO_SLOT ? NULL : pixels);
		return NULL;
	}
	s->v = v;
	s->slot = slot;
	snprintf(s->name, sizeof(s->name), "%s", name);
	snprintf(s->desktop, sizeof(s->desktop), "duet: %s", name);
	s->port = (int)o->base_port + (slot == SEAT_NO_SLOT ? 0 : slot + 1);
	s->input = vnc_input_allowed(o, name);
	if (slot != SEAT_NO_SLOT)
		s->status = pixels;
	fd = vnc_listen(v, s->port);
	if (fd < 0) {
		log_error("vnc %s: cannot listen on %s port %d: %s; no VNC for it", name,
			  o->listen, s->port, strerror(-fd));
		v->failed[index] = 1;
		vnc_server_destroy(s);
		return NULL;
	}
	snprintf(what, sizeof(what), "vnc %s", name);
	if (listener_create(&s->listener, v->d->loop, fd, what, vnc_accept, s)) {
		close(fd);
		vnc_server_destroy(s);
		return NULL;
	}
	scr = rfbGetScreen(NULL, NULL, (int)w, (int)h, 8, 3, 4);
	if (!scr) {
		vnc_server_destroy(s);
		return NULL;
	}
	s->screen = scr;
	scr->screenData = s;
	scr->frameBuffer = pixels;
	scr->paddedWidthInBytes = (int)stride;
	scr->desktopName = s->desktop;
	/* we listen and accept; libvncserver opens no socket of its own */
	scr->port = 0;
	scr->ipv6port = 0;
	scr->autoPort = FALSE;
	scr->httpDir = NULL;
	/* nothing may write into frameBuffer (a guest's is read-only) */
	scr->cursor = NULL;
	scr->alwaysShared = TRUE;   /* a client asking for exclusivity kicks no one out */
	scr->deferUpdateTime = 0;   /* pacing is ours (vnc_client_push) */
	scr->deferPtrUpdateTime = 0;
	scr->maxClientWait = VNC_IO_WAIT_MS;
	scr->permitFileTransfer = FALSE;
	scr->newClientHook = vnc_new_client;
	scr->displayHook = vnc_display_hook;
	scr->displayFinishedHook = vnc_display_finished;
	scr->kbdAddEvent = vnc_kbd_event;
	scr->ptrAddEvent = vnc_ptr_event;
	if (v->passwords[0]) {
		scr->authPasswdData = v->passwords;
		scr->authPasswdFirstViewOnly = 1; /* the one password gives full access */
		scr->passwordCheck = vnc_check_password;
	}
	vnc_set_format(s);
	rfbInitServer(scr);
	v->servers[index] = s;
	log_info("vnc %s: listening on %s port %d%s", name, o->listen, s->port,
		 s->input ? ", input allowed" : ", view-only");
	return s;
}

/* vnc_guest_server: the slot's server, made on first use. */
static struct vnc_server *vnc_guest_server(struct vnc *v, const struct guest *g)
{
	char text[DISPLAY_NAME_SIZE + 16];
	uint32_t *pixels;

	if (v->servers[g->slot] || v->failed[g->slot])
		return v->servers[g->slot];
	snprintf(text, sizeof(text), "%s is starting", g->name);
	pixels = vnc_status_picture(text, VNC_STATUS_W, VNC_STATUS_H);
	if (!pixels)
		return NULL;
	if (!vnc_server_create(v, (int)g->slot, g->name, pixels, VNC_STATUS_W, VNC_STATUS_H,
			       VNC_STATUS_W * 4))
		return NULL;
	snprintf(v->servers[g->slot]->status_text, sizeof(v->servers[g->slot]->status_text),
		 "%s", text);
	return v->servers[g->slot];
}

/* ---- the display's hooks ---- */

void vnc_guest_changed(struct vnc *v, const struct guest *g)
{
	struct vnc_server *s;
	char text[DISPLAY_NAME_SIZE + 16];
	uint32_t *old;

	if (!v)
		return;
	s = vnc_guest_server(v, g);
	if (!s)
		return;
	if (g->peer && g->pixels) {
		old = s->status;
		s->status = NULL;
		vnc_server_set_fb(s, g->pixels, g->width, g->height, g->stride);
		free(old);
		return;
	}
	/* as the compositor says it */
	snprintf(text, sizeof(text), "%s %s", g->name,
		 g->ever_connected && !g->peer ? "stopped" : "is starting");
	vnc_server_show_status(s, text);
}

void vnc_guest_damage(struct vnc *v, const struct guest *g, const struct display_rect *rects,
		      unsigned n)
{
	struct vnc_server *s = v ? v->servers[g->slot] : NULL;

	if (!s || s->status)
		return;
	for (unsigned i = 0; i < n; i++)
		rfbMarkRectAsModified(s->screen, (int)rects[i].x, (int)rects[i].y,
				      (int)(rects[i].x + rects[i].width),
				      (int)(rects[i].y + rects[i].height));
	v->dirty = 1;
}

void vnc_screen_damage(struct vnc *v, pixman_region32_t *region)
{
	struct vnc_server *s = v ? v->servers[VNC_SCREEN_INDEX] : NULL;
	pixman_box32_t *b;
	int n;

	if (!s)
		return;
	b = pixman_region32_rectangles(region, &n);
	for (int i = 0; i < n; i++)
		rfbMarkRectAsModified(s->screen, b[i].x1, b[i].y1, b[i].x2, b[i].y2);
	if (n)
		v->dirty = 1;
}

void vnc_screen_changed(struct vnc *v)
{
	struct vnc_server *s = v ? v->servers[VNC_SCREEN_INDEX] : NULL;
	pixman_image_t *shadow;

	if (!s)
		return;
	shadow = compositor_shadow(v->d->comp);
	vnc_server_set_fb(s, pixman_image_get_data(shadow),
			  (unsigned)pixman_image_get_width(shadow),
			  (unsigned)pixman_image_get_height(shadow),
			  (unsigned)pixman_image_get_stride(shadow));
}

void vnc_flush(struct vnc *v)
{
	uint64_t now;

	if (!v || !v->dirty)
		return;
	v->dirty = 0;
	now = loop_now_ms();
	for (struct vnc_client *c = v->clients, *next; c; c = next) {
		next = c->next;
		vnc_client_push(c, now);
	}
}

int vnc_port(const struct vnc *v, int slot)
{
	const struct vnc_server *s;

	if (!v)
		return 0;
	s = v->servers[slot == SEAT_NO_SLOT ? VNC_SCREEN_INDEX : (unsigned)slot];
	return s ? s->port : 0;
}

unsigned vnc_clients(const struct vnc *v, int slot)
{
	const struct vnc_server *s;
	unsigned n = 0;

	if (!v)
		return 0;
	s = v->servers[slot == SEAT_NO_SLOT ? VNC_SCREEN_INDEX : (unsigned)slot];
	for (const struct vnc_client *c = v->clients; c; c = c->next)
		n += c->srv == s;
	return n;
}

/* ---- life cycle ---- */

int vnc_read_password(const char *path, char **out, char *err, size_t errlen)
{
	char line[256];
	struct stat st;
	FILE *f = fopen(path, "r");
	int rc = 0;

	if (!f) {
		rc = -errno;
		snprintf(err, errlen, "vnc-password-file '%s': %s", path, strerror(errno));
		return rc;
	}
	if (!fgets(line, sizeof(line), f))
		line[0] = 0;
	if (out && fstat(fileno(f), &st) == 0 && (st.st_mode & 077))
		log_warn("vnc-password-file '%s' can be read by others (chmod 600 it)", path);
	fclose(f);
	line[strcspn(line, "\r\n")] = 0;
	if (!line[0]) {
		snprintf(err, errlen, "vnc-password-file '%s': the first line (the password) is "
			 "empty", path);
		rc = -EINVAL;
	} else if (out) {
		if (strlen(line) > 8)
			log_warn("vnc-password-file '%s': VNC authentication uses only the first 8 "
				 "characters of the password", path);
		*out = strdup(line);
		rc = *out ? 0 : -ENOMEM;
	}
	explicit_bzero(line, sizeof(line));
	return rc;
}

int vnc_start(struct vnc **out, struct display *d)
{
	const struct vnc_options *o = &d->opts->vnc;
	pixman_image_t *shadow;
	struct vnc *v;
	int err;

	*out = NULL;
	if (!o->listen)
		return 0;
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->d = d;
	v->handover_fd = -1;
	if (vnc_parse_address(o->listen, &v->addr, &v->addr_len) < 0) {
		log_error("vnc-listen '%s': not an IPv4 or IPv6 address", o->listen);
		free(v);
		return -EINVAL;
	}
	if (o->password_file) {
		char why[512];

		err = vnc_read_password(o->password_file, &v->passwords[0], why, sizeof(why));
		if (err) {
			log_error("%s", why);
			free(v);
			return err;
		}
	}
	rfbLog = vnc_rfb_log;
	rfbErr = vnc_rfb_log;
	rfbMaxClientWait = VNC_IO_WAIT_MS;
	v->tick = loop_timer_create(d->loop, vnc_tick, v);
	v->pace = loop_timer_create(d->loop, vnc_pace_fired, v);
	if (!v->tick || !v->pace) {
		vnc_stop(v);
		return -ENOMEM;
	}
	shadow = compositor_shadow(d->comp);
	vnc_server_create(v, SEAT_NO_SLOT, "screen", pixman_image_get_data(shadow),
			  (unsigned)pixman_image_get_width(shadow),
			  (unsigned)pixman_image_get_height(shadow),
			  (unsigned)pixman_image_get_stride(shadow));
	for (unsigned i = 0; i < SEAT_MAX_SLOTS; i++)
		if (d->guests[i].used)
			vnc_guest_changed(v, &d->guests[i]);
	*out = v;
	return 0;
}

void vnc_stop(struct vnc *v)
{
	if (!v)
		return;
	v->stopping = 1;
	while (v->conns)
		vnc_conn_close(v->conns, 1);
	for (unsigned i = 0; i <= SEAT_MAX_SLOTS; i++)
		vnc_server_destroy(v->servers[i]);
	loop_timer_free(v->tick);
	loop_timer_free(v->pace);
	if (v->passwords[0]) {
		explicit_bzero(v->passwords[0], strlen(v->passwords[0]));
		free(v->passwords[0]);
	}
	free(v);
}
