/* duet-display's configuration: command-line options and the same keys in
 * an INI file (--config), from one table, as duet-vmm does. */
#ifndef DUET_DISPLAY_OPTIONS_H
#define DUET_DISPLAY_OPTIONS_H

#include <stddef.h>
#include <stdint.h>

#include "display_proto.h"
#include "seat.h"

#define DISPLAY_CONTROL_DEFAULT "/run/duet/display-control.sock"

/* A guest named in the configuration: its slot is its place in the list
 * (the first is slot 1, Right-Ctrl+1), its edge colour is given or taken
 * from a palette. */
struct guest_config {
	char name[DISPLAY_NAME_SIZE];
	uint32_t edge_rgb;
	int has_edge;
};

/* VNC (display/vnc.h): where the servers listen, and who may type. */
struct vnc_options {
	char *listen;             /* a numeric IP address; NULL: no VNC */
	unsigned base_port;       /* the screen's; slot N's is base + N */
	char *password_file;      /* NULL: no password (loopback only) */
	int input_all;            /* vnc-input yes */
	char input[SEAT_MAX_SLOTS + 1][DISPLAY_NAME_SIZE]; /* or these (and "screen") */
	unsigned ninput;
};

/* The remote port (display/remote_port.h): `duet switch` from the server. */
struct remote_options {
	char *listen;          /* a numeric IP address; NULL: off */
	unsigned port;         /* REMOTE_PORT_DEFAULT */
	char *public_key_file; /* the server's Ed25519 public key; needed with listen */
};

struct display_options {
	char *socket;
	char *control;
	char *output;
	unsigned output_width, output_height; /* the offscreen output's size */
	char *output_device;  /* drm/fbdev: the device; NULL for its default */
	char *input;
	struct hotkeys hotkeys;
	unsigned banner_ms;
	unsigned edge_width;
	unsigned max_fps;
	struct guest_config guests[SEAT_MAX_SLOTS];
	unsigned nguests;
	char *start;           /* the guest on screen at start; NULL: the first */
	struct vnc_options vnc;
	struct remote_options remote;
	int verbose;
};

/* display_options_parse: fill `o` from argv. 0 to run, 1 when --help or
 * --version was answered, -EINVAL with a sentence for the user in `err`. */
int display_options_parse(int argc, char **argv, struct display_options *o, char *err,
			  size_t errlen);
void display_options_free(struct display_options *o);

/* parse_key_name: an evdev key code from "KEY_RIGHTCTRL", "rightctrl" or a
 * number; -EINVAL when it is none. */
int parse_key_name(const char *s, unsigned *code);

#endif
