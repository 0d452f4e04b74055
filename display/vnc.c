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
 *     (vnc_display_hook), and a client whose socket is full waits for
 *     EPOLLOUT and is dropped after VNC_STALL_MS;
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
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <rfb/rfb.h>
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
#include "log.h"
#include "loop.h"
#include "peer.h"

#define VNC_ACCEPTS_PER_WAKEUP 8
#define VNC_MSGS_PER_WAKEUP 16       /* then the others get their turn */
#define VNC_MSG_RATE 2000            /* messages a second from a client, more is a flood */
#define VNC_INPUT_RATE 500           /* key and pointer events a second, more is a flood */
#define VNC_HANDSHAKE_MS 10000       /* from connect to the normal protocol */
#define VNC_MESSAGE_MS 10000         /* for a message begun to arrive whole */
#define VNC_STALL_MS 30000           /* for a full socket to take data again */
#define VNC_UPDATE_INTERVAL_MS 33    /* between two updates to one client */
#define VNC_IO_WAIT_MS 200           /* libvncserver's own blocking wait, a backstop */
#define VNC_PAUSE_MS 1000            /* no new connections after a wrong password */
#define VNC_SNDBUF (4 << 20)         /* asked for; the kernel may give less */
#define VNC_MIN_ROOM 16384           /* bytes free in the socket before an update */
#define VNC_CUT_TEXT_MAX (1u << 20)  /* libvncserver refuses longer cut text */
#define VNC_STATUS_W 640             /* a status picture before any surface */
#define VNC_STATUS_H 480
#define VNC_STATUS_MAX_W 1920        /* ... and at most, after a large one */
#define VNC_STATUS_MAX_H 1200
#define VNC_STATUS_BG 0x202020u      /* as the compositor's status screens */
#define VNC_STATUS_TEXT 0xc0c0c0u
#define VNC_SCREEN_INDEX SEAT_MAX_SLOTS /* servers[]: the guests' slots, then the screen */

struct vnc;

/* A VNC server: one listening socket and one rfbScreen. */
struct vnc_server {
	struct vnc *v;
	int slot;                        /* SEAT_NO_SLOT: the composed screen */
	char name[DISPLAY_NAME_SIZE];    /* the guest's, or "screen" */
	char desktop[DISPLAY_NAME_SIZE + 8];
	rfbScreenInfoPtr screen;
	int listen_fd;
	int port;
	int input;                       /* clients may send input */
	unsigned nconns;                 /* handshakes and clients */
	uint64_t paused_until_ms;        /* 0, or no accepting until then */
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
	uint64_t stalled_since_ms;       /* its socket has been full since then */
	uint64_t next_update_ms;
	int clipped;                     /* the last update was cut to fit */
	uint64_t window_ms;              /* the current one-second rate window */
	unsigned window_msgs, window_input;
	const char *drop_reason;
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
	char line[512];
	va_list ap;
	size_t n;

	if (log_get_level() < LOG_DEBUG)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	n = strlen(line);
	while (n && (line[n - 1] == '\n' || line[n - 1] == ' '))
		line[--n] = 0;
	log_debug("vnc: libvncserver: %s", line);
}

static const char *vnc_server_label(const struct vnc_server *s)
{
	return s->slot == SEAT_NO_SLOT ? "screen" : s->name;
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

/* vnc_input_counts: one more input event; 0 when it is over the rate (the
 * client is closed; libvncserver's caller notices after it returns). */
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

