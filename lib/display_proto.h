/* The display protocol: what a VMM (the guest side) and duet-display say to
 * each other over one SOCK_SEQPACKET Unix socket. One message is one packet:
 * a header {type, length} and a fixed-size body, little-endian, laid out
 * here with explicit sizes and no implicit padding so that this header is
 * the whole wire format. docs/display.md describes the conversation.
 *
 * The receiver of a message trusts none of its fields: every value below
 * that has a limit says so next to it, and a peer that breaks one is
 * dropped. Reserved fields are zero on the wire and checked to be zero, so
 * that a later version can give them a meaning. */
#ifndef DUET_DISPLAY_PROTO_H
#define DUET_DISPLAY_PROTO_H

#include <stdint.h>

/* The wire is little-endian and these structs are sent as they lie in
 * memory; duet runs on x86 only. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
	       "the display protocol is sent in host order, which must be little-endian");

/* A HELLO with another version is refused: the display drops the peer. */
#define DISPLAY_PROTO_VERSION 1

#define DISPLAY_SOCKET_DEFAULT "/run/duet/display.sock"

/* ---- limits (each enforced by the receiver) ---- */

/* A guest name: 1..31 bytes of [A-Za-z0-9._-], NUL-padded to 32 bytes.
 * "screen" is reserved (the control socket's name for the composed screen). */
#define DISPLAY_NAME_SIZE 32
/* Surface: 1..8192 pixels each way; stride a multiple of 4, at least
 * width * 4, at most 32768 bytes; offset a multiple of 4; offset + stride *
 * height within the memfd and at most 256 MiB. */
#define DISPLAY_MAX_WIDTH 8192
#define DISPLAY_MAX_HEIGHT 8192
#define DISPLAY_MAX_STRIDE 32768
#define DISPLAY_MAX_SURFACE_BYTES (256u << 20)
/* Rectangles in one DAMAGE message: 0..64. */
#define DISPLAY_DAMAGE_MAX_RECTS 64

/* Surface formats are DRM fourcc codes. Only XRGB8888 for now: 32 bits per
 * pixel, B, G, R, X in memory order (pixman's x8r8g8b8). */
#define DISPLAY_FORMAT_XRGB8888 0x34325258u /* 'X' 'R' '2' '4' */

/* ---- message types ---- */
enum display_msg_type {
	/* guest -> display */
	DISPLAY_MSG_HELLO = 1,
	DISPLAY_MSG_SURFACE = 2,
	DISPLAY_MSG_DAMAGE = 3,
	/* display -> guest */
	DISPLAY_MSG_KEY = 16,
	DISPLAY_MSG_POINTER = 17,
	DISPLAY_MSG_FOCUS = 18,
	DISPLAY_MSG_LEDS = 19,
};

/* length: bytes of the whole message, header included; it must equal both
 * the packet's size and the size its type calls for. */
struct display_msg_header {
	uint32_t type;
	uint32_t length;
};

/* HELLO: the first message of a guest, exactly once. */
struct display_msg_hello {
	struct display_msg_header hdr;
	uint32_t version;      /* DISPLAY_PROTO_VERSION */
	uint32_t flags;        /* reserved, 0 */
	char name[DISPLAY_NAME_SIZE]; /* NUL-terminated, NUL-padded */
};

/* SURFACE: the guest's framebuffer, replacing any earlier one. Exactly one
 * file descriptor travels with it (SCM_RIGHTS): a memfd sealed with
 * F_SEAL_SHRINK (so it cannot shrink under the display's read-only
 * mapping), at least offset + stride * height bytes long. The whole
 * surface counts as damaged. */
struct display_msg_surface {
	struct display_msg_header hdr;
	uint32_t width;
	uint32_t height;
	uint32_t stride;       /* bytes from one line to the next */
	uint32_t format;       /* DISPLAY_FORMAT_* */
	uint32_t offset;       /* byte offset of the first line in the memfd,
				* a multiple of 4 */
	uint32_t reserved;     /* 0 */
};

struct display_rect {
	uint32_t x, y, width, height;
};

/* DAMAGE: these rectangles of the current surface changed. Only after a
 * SURFACE; each rectangle must lie inside the surface (x + width <= surface
 * width, y + height <= surface height); empty ones are allowed. length =
 * sizeof(struct display_msg_damage) - (DISPLAY_DAMAGE_MAX_RECTS - count) *
 * sizeof(struct display_rect): only `count` rectangles travel. */
struct display_msg_damage {
	struct display_msg_header hdr;
	uint32_t count;        /* 0..DISPLAY_DAMAGE_MAX_RECTS */
	uint32_t reserved;     /* 0 */
	struct display_rect rects[DISPLAY_DAMAGE_MAX_RECTS];
};

/* KEY: a key of the PC's keyboard went down or up, as a Linux evdev code
 * (KEY_*, < 0x300; mouse buttons travel in POINTER, not here). The display
 * sends no autorepeat: the guest repeats on its own. */
#define DISPLAY_KEY_CODE_MAX 0x2ff
struct display_msg_key {
	struct display_msg_header hdr;
	uint32_t code;
	uint32_t pressed;      /* 0 or 1 */
};

/* POINTER buttons. */
#define DISPLAY_BUTTON_LEFT 1u
#define DISPLAY_BUTTON_RIGHT 2u
#define DISPLAY_BUTTON_MIDDLE 4u
#define DISPLAY_BUTTON_SIDE 8u
#define DISPLAY_BUTTON_EXTRA 16u
#define DISPLAY_BUTTONS_ALL 31u

/* POINTER: the pointer's state after a change. x, y: absolute position in
 * the guest's surface coordinates, 0..width-1 and 0..height-1 (for a tablet
 * device); dx, dy: relative motion in screen pixels since the last POINTER
 * (for a mouse device); buttons: the DISPLAY_BUTTON_* held; wheel: notches
 * turned since the last POINTER (positive: away from the user). */
struct display_msg_pointer {
	struct display_msg_header hdr;
	int32_t x, y;
	int32_t dx, dy;
	uint32_t buttons;
	int32_t wheel;
};

/* FOCUS: the guest now gets (1) or no longer gets (0) the keyboard and
 * mouse. Every key still held in a guest is released (KEY pressed=0) and
 * its buttons are cleared (POINTER buttons=0) before FOCUS 0 is sent. */
struct display_msg_focus {
	struct display_msg_header hdr;
	uint32_t focused;      /* 0 or 1 */
};

/* LEDS: the lock state of the PC's keyboard, sent with FOCUS 1 and on every
 * change while focused, so that a VMM can bring its guest's Caps/Num/Scroll
 * Lock in line (the SPICE way: the physical keyboard is authoritative). */
#define DISPLAY_LED_NUM_LOCK 1u
#define DISPLAY_LED_CAPS_LOCK 2u
#define DISPLAY_LED_SCROLL_LOCK 4u
#define DISPLAY_LEDS_ALL 7u
struct display_msg_leds {
	struct display_msg_header hdr;
	uint32_t leds;
};

_Static_assert(sizeof(struct display_msg_header) == 8, "wire layout");
_Static_assert(sizeof(struct display_msg_hello) == 48, "wire layout");
_Static_assert(sizeof(struct display_msg_surface) == 32, "wire layout");
_Static_assert(sizeof(struct display_rect) == 16, "wire layout");
_Static_assert(sizeof(struct display_msg_damage) == 16 + 16 * DISPLAY_DAMAGE_MAX_RECTS,
	       "wire layout");
_Static_assert(sizeof(struct display_msg_key) == 16, "wire layout");
_Static_assert(sizeof(struct display_msg_pointer) == 32, "wire layout");
_Static_assert(sizeof(struct display_msg_focus) == 12, "wire layout");
_Static_assert(sizeof(struct display_msg_leds) == 12, "wire layout");

/* The largest message either side sends; a packet longer than this is
 * refused. */
#define DISPLAY_MSG_MAX_SIZE sizeof(struct display_msg_damage)

/* display_name_is_valid: `name` (DISPLAY_NAME_SIZE bytes, as in HELLO)
 * holds 1..31 of [A-Za-z0-9._-], then NULs only, and is not "screen". */
static inline int display_name_is_valid(const char name[DISPLAY_NAME_SIZE])
{
	unsigned len = 0;

	while (len < DISPLAY_NAME_SIZE && name[len])
		len++;
	if (len == 0 || len == DISPLAY_NAME_SIZE)
		return 0;
	for (unsigned i = 0; i < len; i++) {
		char ch = name[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-'))
			return 0;
	}
	for (unsigned i = len; i < DISPLAY_NAME_SIZE; i++)
		if (name[i])
			return 0;
	return !(len == 6 && name[0] == 's' && name[1] == 'c' && name[2] == 'r' &&
		 name[3] == 'e' && name[4] == 'e' && name[5] == 'n');
}

/* display_damage_length: the length of a DAMAGE message with `count`
 * rectangles. */
static inline uint32_t display_damage_length(uint32_t count)
{
	return (uint32_t)(sizeof(struct display_msg_damage) -
			  (DISPLAY_DAMAGE_MAX_RECTS - count) * sizeof(struct display_rect));
}

#endif
