/* duet-display's state, shared by its parts: the guests (slots), the
 * connections to them (peers), the compositor, the output, the input
 * source and the seat. display.c owns the policy that ties them together:
 * which guest is shown and gets the input, and when to redraw. */
#ifndef DUET_DISPLAY_DISPLAY_H
#define DUET_DISPLAY_DISPLAY_H

#include <stddef.h>
#include <stdint.h>

#include "display_options.h"
#include "display_proto.h"
#include "seat.h"

struct peer;
struct loop;
struct loop_timer;
struct listener;
struct compositor;
struct output;
struct input_source;
struct control;
struct vnc;
struct remote_port;

/* A guest as the display remembers it: a slot that outlives the guest's
 * connection, so a VMM that restarts finds its slot, hotkey and colour
 * again (matched by name). */
struct guest {
	int used;
	unsigned slot;           /* 0-based: Right-Ctrl+1 is slot 0 */
	char name[DISPLAY_NAME_SIZE];
	uint32_t edge_rgb;
	int ever_connected;
	struct peer *peer;       /* NULL: not connected */
	/* the surface: a read-only mapping of the guest's memfd */
	void *map;
	size_t map_len;
	const uint8_t *pixels;
	uint32_t width, height, stride;
	uint64_t damage_msgs;    /* DAMAGE messages taken, for `list` */
};

struct display {
	struct display_options *opts;
	struct loop *loop;
	struct compositor *comp;
	struct output *out;
	struct input_source *input;
	struct seat *seat;
	struct control *control;
	struct vnc *vnc;         /* NULL: no VNC */
	struct remote_port *remote; /* NULL: no remote port */
	struct guest guests[SEAT_MAX_SLOTS];
	int active;              /* slot shown and fed, or SEAT_NO_SLOT */
	/* connections */
	struct listener *listener; /* the display socket */
	struct peer *peers;
	unsigned npeers;
	uint64_t refused_log_ms; /* last "too many connections" line */
	struct loop_timer *hello_timer;
	/* drawing */
	struct loop_timer *banner_timer;
	struct loop_timer *frame_timer;
	int banner_visible;
	char banner_text[64];
	int frame_wait;          /* waiting for frame_timer or a page flip */
	uint64_t last_present_ms;
	uint64_t frames;
	int signal_fd;
};

int display_create(struct display **out, struct display_options *opts);
int display_run(struct display *d);
void display_destroy(struct display *d);

/* ---- for peer.c: what a guest's connection reports ---- */

/* display_guest_attach: `peer` said HELLO with `name`: its slot, or NULL
 * with the reason in `why`. */
struct guest *display_guest_attach(struct display *d, struct peer *peer, const char *name,
				   const char **why);
/* display_guest_detach: the guest's connection is gone. */
void display_guest_detach(struct display *d, struct guest *g);
/* display_guest_surface: a new surface, already checked and mapped; the
 * display owns the mapping from now on. */
void display_guest_surface(struct display *d, struct guest *g, void *map, size_t map_len,
			   uint32_t offset, uint32_t width, uint32_t height, uint32_t stride);
/* display_guest_damage: checked rectangles of the guest's surface. */
void display_guest_damage(struct display *d, struct guest *g, const struct display_rect *rects,
			  unsigned n);

/* ---- for the control socket ---- */

/* display_switch: show `slot` and give it the input; banner. */
void display_switch(struct display *d, int slot);
struct guest *display_guest_by_name(struct display *d, const char *name);
const char *display_guest_state(const struct guest *g);
/* display_screenshot: `name` a guest, or "screen"; max_* 0 for full size. */
int display_screenshot(struct display *d, const char *name, const char *path, unsigned max_w,
		       unsigned max_h, char *err, size_t errlen);

#endif
