/* duet-display's configuration surface: one table of keys, used both as
 * command-line options (--edge-width 4) and as keys of an INI file read
 * with inih (edge-width = 4), so the two never drift apart. --help is
 * printed from the same table. */
#include "display_options.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <ini.h>
#include <libevdev/libevdev.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"
#include "remote_port.h"
#include "vnc.h"

#define DISPLAY_VERSION "0.1"

struct option_desc {
	const char *name;
	int short_name;            /* 0: none */
	const char *arg;           /* NULL: a flag */
	const char *help;
	int (*set)(struct display_options *o, const char *value, char *err, size_t errlen);
};

static int fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

int parse_key_name(const char *s, unsigned *code)
{
	char name[64];
	uint64_t n;
	int c;

	if (parse_u64(s, &n) == 0) {
		if (n == 0 || n > DISPLAY_KEY_CODE_MAX)
			return -EINVAL;
		*code = (unsigned)n;
		return 0;
	}
	if (strlen(s) + 5 > sizeof(name))
		return -EINVAL;
	snprintf(name, sizeof(name), "%s%s", strncasecmp(s, "KEY_", 4) ? "KEY_" : "", s);
	for (char *p = name; *p; p++)
		*p = (char)toupper((unsigned char)*p);
	c = libevdev_event_code_from_name(EV_KEY, name);
	if (c <= 0 || c > DISPLAY_KEY_CODE_MAX)
		return -EINVAL;
	*code = (unsigned)c;
	return 0;
}

/* hotkeys_check: the modifier and the keys used with it are all different. */
static int hotkeys_check(const struct hotkeys *hk, char *err, size_t n)
{
	unsigned keys[SEAT_MAX_SLOT_KEYS + 2], nkeys = 0;

	keys[nkeys++] = hk->modifier;
	keys[nkeys++] = hk->next;
	for (unsigned i = 0; i < hk->nslot_keys; i++)
		keys[nkeys++] = hk->slot_keys[i];
	for (unsigned i = 0; i < nkeys; i++)
		for (unsigned j = i + 1; j < nkeys; j++)
			if (keys[i] == keys[j])
				return fail(err, n, "hotkeys: key %u is used twice (modifier, next "
					    "and slot keys must differ)", keys[i]);
	return 0;
}

static int set_string(char **slot, const char *key, const char *value, char *err,
		      size_t errlen)
{
	char *copy;

	if (!value || !*value)
		return fail(err, errlen, "%s: empty value", key);
	copy = strdup(value);
	if (!copy)
		return fail(err, errlen, "%s: out of memory", key);
	free(*slot);
	*slot = copy;
	return 0;
}

static int parse_uint(const char *key, const char *v, unsigned lo, unsigned hi, unsigned *out,
		      char *err, size_t n)
{
	uint64_t value;

	if (parse_u64(v, &value) || value < lo || value > hi)
		return fail(err, n, "%s: '%s' is not a number from %u to %u", key, v, lo, hi);
	*out = (unsigned)value;
	return 0;
}

static int parse_rgb(const char *v, uint32_t *rgb)
{
	char *end;
	unsigned long value;

	if (*v == '#')
		v++;
	if (strlen(v) != 6 || !isxdigit((unsigned char)*v))
		return -EINVAL;
	value = strtoul(v, &end, 16);
	if (*end)
		return -EINVAL;
	*rgb = (uint32_t)value;
	return 0;
}

static int set_socket(struct display_options *o, const char *v, char *err, size_t n)
{
	return set_string(&o->socket, "socket", v, err, n);
}

static int set_control(struct display_options *o, const char *v, char *err, size_t n)
{
	return set_string(&o->control, "control", v, err, n);
}

static int set_output(struct display_options *o, const char *v, char *err, size_t n)
{
	return set_string(&o->output, "output", v, err, n);
}

static int set_input(struct display_options *o, const char *v, char *err, size_t n)
{
	return set_string(&o->input, "input", v, err, n);
}

static int set_output_device(struct display_options *o, const char *v, char *err, size_t n)
{
	return set_string(&o->output_device, "output-device", v, err, n);
}

static int set_output_size(struct display_options *o, const char *v, char *err, size_t n)
{
	unsigned w, h;
	char tail;

	if (sscanf(v, "%ux%u%c", &w, &h, &tail) != 2 || w < 64 || h < 64 ||
	    w > DISPLAY_MAX_WIDTH || h > DISPLAY_MAX_HEIGHT)
		return fail(err, n, "output-size: '%s' is not WIDTHxHEIGHT from 64x64 to %ux%u", v,
			    DISPLAY_MAX_WIDTH, DISPLAY_MAX_HEIGHT);
	o->output_width = w;
	o->output_height = h;
	return 0;
}

static int set_hotkey_modifier(struct display_options *o, const char *v, char *err, size_t n)
{
	if (parse_key_name(v, &o->hotkeys.modifier))
		return fail(err, n, "hotkey-modifier: '%s' is not a key (e.g. KEY_RIGHTCTRL)", v);
	return 0;
}

static int set_hotkey_next(struct display_options *o, const char *v, char *err, size_t n)
{
	if (parse_key_name(v, &o->hotkeys.next))
		return fail(err, n, "hotkey-next: '%s' is not a key (e.g. KEY_TAB)", v);
	return 0;
}

/* set_hotkey_slots: KEY,KEY,...: with the modifier, the first picks slot
 * 1, the second slot 2... */
static int set_hotkey_slots(struct display_options *o, const char *v, char *err, size_t n)
{
	struct hotkeys hk = o->hotkeys;
	char buf[512], *save = NULL;

	if (strlen(v) >= sizeof(buf))
		return fail(err, n, "hotkey-slots: too long");
	strcpy(buf, v);
	hk.nslot_keys = 0;
	for (char *tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
		if (hk.nslot_keys == SEAT_MAX_SLOT_KEYS)
			return fail(err, n, "hotkey-slots: at most %d keys", SEAT_MAX_SLOT_KEYS);
		if (parse_key_name(tok, &hk.slot_keys[hk.nslot_keys++]))
			return fail(err, n, "hotkey-slots: '%s' is not a key (e.g. KEY_1)", tok);
	}
	o->hotkeys = hk;
	return 0;
}

static int set_banner_time(struct display_options *o, const char *v, char *err, size_t n)
{
	return parse_uint("banner-time", v, 500, 60000, &o->banner_ms, err, n);
}

static int set_edge_width(struct display_options *o, const char *v, char *err, size_t n)
{
	return parse_uint("edge-width", v, 0, 64, &o->edge_width, err, n);
}

static int set_max_fps(struct display_options *o, const char *v, char *err, size_t n)
{
	return parse_uint("max-fps", v, 1, 240, &o->max_fps, err, n);
}

/* set_guest: NAME[=#RRGGBB]; the order of these gives the slots. */
static int set_guest(struct display_options *o, const char *v, char *err, size_t n)
{
	struct guest_config g = { 0 };
	const char *eq = strchr(v, '=');
	size_t len = eq ? (size_t)(eq - v) : strlen(v);

	if (o->nguests == SEAT_MAX_SLOTS)
		return fail(err, n, "guest: at most %d guests", SEAT_MAX_SLOTS);
	if (len >= sizeof(g.name))
		return fail(err, n, "guest: '%s': the name is too long", v);
	memcpy(g.name, v, len);
	if (!display_name_is_valid(g.name)) /* g.name is NUL-padded */
		return fail(err, n, "guest: '%s' is not a guest name (1-31 of A-Z a-z 0-9 . _ -, "
			    "not 'screen')", g.name);
	for (unsigned i = 0; i < o->nguests; i++)
		if (!strcmp(o->guests[i].name, g.name))
			return fail(err, n, "guest: '%s' is named twice", g.name);
	if (eq) {
		if (parse_rgb(eq + 1, &g.edge_rgb))
			return fail(err, n, "guest: '%s' is not a colour (#RRGGBB)", eq + 1);
		g.has_edge = 1;
	}
	o->guests[o->nguests++] = g;
	return 0;
}

static int set_start(struct display_options *o, const char *v, char *err, size_t n)
{
	return set_string(&o->start, "start", v, err, n);
}

/* vnc_check: nobody beyond this machine watches without a password. */
static int vnc_check(const struct vnc_options *v, char *err, size_t n)
{
	struct sockaddr_storage addr;
	socklen_t len;

	if (v->listen && !v->password_file && vnc_parse_address(v->listen, &addr, &len) != 1)
		return fail(err, n, "vnc-listen %s reaches beyond this machine: give "
			    "vnc-password-file too (or listen on 127.0.0.1)", v->listen);
	if (v->listen && v->password_file && vnc_read_password(v->password_file, NULL, err, n))
		return -EINVAL;
	return 0;
}

/* set_vnc_listen: a numeric address, or none: no VNC at all. */
static int set_vnc_listen(struct display_options *o, const char *v, char *err, size_t n)
{
	struct sockaddr_storage addr;
	socklen_t len;

	if (!strcmp(v, "none")) {
		free(o->vnc.listen);
		o->vnc.listen = NULL;
		return 0;
	}
	if (vnc_parse_address(v, &addr, &len) < 0)
		return fail(err, n, "vnc-listen: '%s' is not an IPv4 or IPv6 address (or none)", v);
	return set_string(&o->vnc.listen, "vnc-listen", v, err, n);
}

static int set_vnc_base_port(struct display_options *o, const char *v, char *err, size_t n)
{
	return parse_uint("vnc-base-port", v, 1, 65535 - SEAT_MAX_SLOTS, &o->vnc.base_port, err, n);
}

static int set_vnc_password_file(struct display_options *o, const char *v, char *err, size_t n)
{
	return set_string(&o->vnc.password_file, "vnc-password-file", v, err, n);
}

/* set_vnc_input: yes, no, or the names (guests, "screen") whose servers
 * take input. */
static int set_vnc_input(struct display_options *o, const char *v, char *err, size_t n)
{
	struct vnc_options vo = o->vnc;
	char buf[1024], *save = NULL;

	vo.input_all = !strcmp(v, "yes");
	vo.ninput = 0;
	if (vo.input_all || !strcmp(v, "no")) {
		o->vnc = vo;
		return 0;
	}
	if (strlen(v) >= sizeof(buf))
		return fail(err, n, "vnc-input: too long");
	strcpy(buf, v);
	for (char *tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
		char name[DISPLAY_NAME_SIZE] = { 0 };

		if (vo.ninput == SEAT_MAX_SLOTS + 1)
			return fail(err, n, "vnc-input: at most %d names", SEAT_MAX_SLOTS + 1);
		if (strlen(tok) >= sizeof(name))
			return fail(err, n, "vnc-input: '%s': the name is too long", tok);
		strcpy(name, tok);
		if (strcmp(name, "screen") && !display_name_is_valid(name))
			return fail(err, n, "vnc-input: '%s' is not a guest name or screen", tok);
		memcpy(vo.input[vo.ninput++], name, sizeof(name));
	}
	o->vnc = vo;
	return 0;
}

/* set_remote_listen: a numeric address, or none: no remote port. */
static int set_remote_listen(struct display_options *o, const char *v, char *err, size_t n)
{
	struct sockaddr_storage addr;
	socklen_t len;

	if (!strcmp(v, "none")) {
		free(o->remote.listen);
		o->remote.listen = NULL;
		return 0;
	}
	if (vnc_parse_address(v, &addr, &len) < 0)
		return fail(err, n, "remote-listen: '%s' is not an IPv4 or IPv6 address (or none)", v);
	return set_string(&o->remote.listen, "remote-listen", v, err, n);
}

static int set_remote_port(struct display_options *o, const char *v, char *err, size_t n)
{
	return parse_uint("remote-port", v, 1, 65535, &o->remote.port, err, n);
}

static int set_remote_public_key_file(struct display_options *o, const char *v, char *err,
				      size_t n)
{
	return set_string(&o->remote.public_key_file, "remote-public-key-file", v, err, n);
}

/* remote_check: the remote port never takes unsigned commands. */
static int remote_check(const struct remote_options *r, char *err, size_t n)
{
	if (!r->listen)
		return 0;
	if (!r->public_key_file)
		return fail(err, n, "remote-listen needs remote-public-key-file (the server's "
			    "public key): the remote port takes signed commands only");
	return remote_read_public_key(r->public_key_file, NULL, err, n) ? -EINVAL : 0;
}

static int set_verbose(struct display_options *o, const char *v, char *err, size_t n)
{
	(void)v;
	(void)err;
	(void)n;
	o->verbose = 1;
	return 0;
}

static int set_config(struct display_options *o, const char *v, char *err, size_t n);

static const struct option_desc option_table[] = {
	{ "config", 'f', "FILE", "read options from an INI file (keys as below, without\n"
	  "the dashes); later options override it", set_config },
	{ "socket", 's', "PATH", "where guests connect (default: " DISPLAY_SOCKET_DEFAULT ")",
	  set_socket },
	{ "control", 'C', "PATH", "the control socket, JSON lines (default:\n"
	  DISPLAY_CONTROL_DEFAULT ")", set_control },
	{ "output", 'o', "NAME", "where the picture goes: drm, fbdev, offscreen (tests) or\n"
	  "auto: drm, else fbdev, else offscreen (default: auto)", set_output },
	{ "output-device", 0, "PATH", "the drm or fbdev output's device (default:\n"
	  "/dev/dri/card0, /dev/fb0)", set_output_device },
	{ "output-size", 0, "WxH", "the offscreen output's size (default: 1920x1080)",
	  set_output_size },
	{ "input", 'i', "NAME", "where keys and pointer come from: evdev (every keyboard\n"
	  "and mouse, grabbed), none, or synthetic (tests: the\n"
	  "control socket's inject command) (default: none)", set_input },
	{ "hotkey-modifier", 0, "KEY", "held for a hotkey (default: KEY_RIGHTCTRL)",
	  set_hotkey_modifier },
	{ "hotkey-next", 0, "KEY", "with the modifier: the next guest (default: KEY_TAB)",
	  set_hotkey_next },
	{ "hotkey-slots", 0, "KEY,...", "with the modifier: guest 1, 2... (default:\n"
	  "KEY_1,...,KEY_9)", set_hotkey_slots },
	{ "guest", 'g', "NAME[=#RRGGBB]", "a guest's slot (in the order given) and edge\n"
	  "colour; may be repeated (up to 16)", set_guest },
	{ "start", 0, "NAME", "the guest on screen at start (default: the first)", set_start },
	{ "edge-width", 0, "PIXELS", "the coloured edge naming the active guest, 0-64\n"
	  "(default: 4)", set_edge_width },
	{ "banner-time", 0, "MS", "how long the banner shows after a switch, 500-60000\n"
	  "(default: 2500)", set_banner_time },
	{ "max-fps", 0, "N", "frames per second at most, for outputs without page flips\n"
	  "(default: 60)", set_max_fps },
	{ "vnc-listen", 0, "ADDRESS", "where the VNC servers listen: an IPv4 or IPv6\n"
	  "address, or none (default: " VNC_LISTEN_DEFAULT ")", set_vnc_listen },
	{ "vnc-base-port", 0, "PORT", "the screen's VNC port; guest N's is PORT+N\n"
	  "(default: 5900)", set_vnc_base_port },
	{ "vnc-password-file", 0, "FILE", "VNC password: the file's first line (VNC uses\n"
	  "8 characters); needed beyond loopback", set_vnc_password_file },
	{ "vnc-input", 0, "no|yes|NAME,...", "whose VNC clients may send keys and pointer:\n"
	  "guests by name, screen (to the shown guest)\n(default: no, view-only)",
	  set_vnc_input },
	{ "remote-listen", 0, "ADDRESS", "where the remote port for `duet switch` listens:\n"
	  "an IPv4 or IPv6 address, or none (default: none)", set_remote_listen },
	{ "remote-port", 0, "PORT", "the remote port (default: 5899)", set_remote_port },
	{ "remote-public-key-file", 0, "FILE", "the server's Ed25519 public key (64 hex\n"
	  "digits); needed with remote-listen", set_remote_public_key_file },
	{ "verbose", 'v', NULL, "log more", set_verbose },
};
#define OPTION_COUNT (sizeof(option_table) / sizeof(option_table[0]))
#define OPTION_HELP 'h'
#define OPTION_VERSION 'V'

static const struct option_desc *option_find(const char *name)
{
	for (unsigned i = 0; i < OPTION_COUNT; i++)
		if (!strcmp(option_table[i].name, name))
			return &option_table[i];
	return NULL;
}

static void print_help(void)
{
	printf("Usage: duet-display [OPTION]...\n"
	       "Show one guest at a time on this PC's screen; switch with a hotkey.\n\n");
	for (unsigned i = 0; i < OPTION_COUNT; i++) {
		const struct option_desc *o = &option_table[i];
		char head[48];
		const char *h = o->help;

		snprintf(head, sizeof(head), "%s%c%s--%s%s%s",
			 o->short_name ? "-" : "  ", o->short_name ? o->short_name : ' ',
			 o->short_name ? ", " : "  ", o->name, o->arg ? " " : "",
			 o->arg ? o->arg : "");
		printf("  %-30s", head);
		if (strlen(head) > 30)
			printf("\n  %-30s", "");
		for (const char *nl; (nl = strchr(h, '\n')) != NULL; h = nl + 1)
			printf(" %.*s\n  %-30s", (int)(nl - h), h, "");
		printf(" %s\n", h);
	}
	printf("  -h, --help                     print this help and exit\n"
	       "  -V, --version                  print the version and exit\n\n"
	       "See docs/display.md.\n");
}

/* ---- INI files ---- */

struct ini_context {
	struct display_options *options;
	const char *path;
	char *err;
	size_t errlen;
	int failed;
	FILE *file;
	int lineno;
};

static char *options_ini_reader(char *str, int num, void *stream)
{
	struct ini_context *ctx = stream;
	char *line = fgets(str, num, ctx->file);

	if (line)
		ctx->lineno++;
	return line;
}

static int options_ini_handler(void *user, const char *section, const char *name,
			       const char *value)
{
	struct ini_context *ctx = user;
	const struct option_desc *o;
	char why[256];

	if (section[0] && strcmp(section, "display")) {
		snprintf(ctx->err, ctx->errlen, "%s:%d: unknown section [%s] (use [display] or none)",
			 ctx->path, ctx->lineno, section);
		ctx->failed = 1;
		return 0;
	}
	o = option_find(name);
	if (!o || !strcmp(name, "config")) {
		snprintf(ctx->err, ctx->errlen, "%s:%d: unknown key '%s' (see duet-display --help)",
			 ctx->path, ctx->lineno, name);
		ctx->failed = 1;
		return 0;
	}
	if (!o->arg && strcmp(value, "yes") && strcmp(value, "no")) {
		snprintf(ctx->err, ctx->errlen, "%s:%d: %s: use yes or no", ctx->path, ctx->lineno,
			 name);
		ctx->failed = 1;
		return 0;
	}
	if (!o->arg && !strcmp(value, "no"))
		return 1;
	if (o->set(ctx->options, value, why, sizeof(why))) {
		snprintf(ctx->err, ctx->errlen, "%s:%d: %s", ctx->path, ctx->lineno, why);
		ctx->failed = 1;
		return 0;
	}
	return 1;
}

static struct ini_context *current_ini;

static int set_config(struct display_options *o, const char *v, char *err, size_t n)
{
	struct ini_context ctx = { o, v, err, n, 0, NULL, 0 };
	int rc;

	if (current_ini)
		return fail(err, n, "config: a config file cannot include another");
	ctx.file = fopen(v, "r");
	if (!ctx.file)
		return fail(err, n, "config '%s': %s", v, strerror(errno));
	current_ini = &ctx;
	rc = ini_parse_stream(options_ini_reader, &ctx, options_ini_handler, &ctx);
	current_ini = NULL;
	fclose(ctx.file);
	if (ctx.failed)
		return -EINVAL;
	if (rc > 0)
		return fail(err, n, "%s:%d: not a key = value line", v, rc);
	return 0;
}

/* ---- command line ---- */

void display_options_free(struct display_options *o)
{
	free(o->socket);
	free(o->control);
	free(o->output);
	free(o->output_device);
	free(o->input);
	free(o->vnc.listen);
	free(o->vnc.password_file);
	free(o->remote.listen);
	free(o->remote.public_key_file);
	free(o->start);
	memset(o, 0, sizeof(*o));
}

int display_options_parse(int argc, char **argv, struct display_options *o, char *err,
			  size_t errlen)
{
	struct option longopts[OPTION_COUNT + 3];
	char shortopts[3 * OPTION_COUNT + 8];
	size_t s = 0;
	int opt, idx;

	memset(o, 0, sizeof(*o));
	o->output_width = 1920;
	o->output_height = 1080;
	o->banner_ms = 2500;
	o->edge_width = 4;
	o->max_fps = 60;
	o->vnc.base_port = VNC_BASE_PORT_DEFAULT;
	o->remote.port = REMOTE_PORT_DEFAULT;
	hotkeys_default(&o->hotkeys);
	err[0] = 0;
	if (set_string(&o->socket, "socket", DISPLAY_SOCKET_DEFAULT, err, errlen) ||
	    set_string(&o->control, "control", DISPLAY_CONTROL_DEFAULT, err, errlen) ||
	    set_string(&o->output, "output", "auto", err, errlen) ||
	    set_string(&o->input, "input", "none", err, errlen) ||
	    set_string(&o->vnc.listen, "vnc-listen", VNC_LISTEN_DEFAULT, err, errlen))
		return -ENOMEM;

	shortopts[s++] = ':';
	for (unsigned i = 0; i < OPTION_COUNT; i++) {
		const struct option_desc *d = &option_table[i];

		longopts[i] = (struct option){ d->name, d->arg ? required_argument : no_argument,
					       NULL, 0x100 + (int)i };
		if (d->short_name) {
			shortopts[s++] = (char)d->short_name;
			if (d->arg)
				shortopts[s++] = ':';
		}
	}
	longopts[OPTION_COUNT] = (struct option){ "help", no_argument, NULL, OPTION_HELP };
	longopts[OPTION_COUNT + 1] = (struct option){ "version", no_argument, NULL, OPTION_VERSION };
	longopts[OPTION_COUNT + 2] = (struct option){ NULL, 0, NULL, 0 };
	shortopts[s++] = 'h';
	shortopts[s++] = 'V';
	shortopts[s] = 0;

	optind = 0;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, shortopts, longopts, &idx)) != -1) {
		const struct option_desc *d = NULL;

		if (opt == OPTION_HELP) {
			print_help();
			return 1;
		}
		if (opt == OPTION_VERSION) {
			printf("duet-display " DISPLAY_VERSION " (protocol %d)\n",
			       DISPLAY_PROTO_VERSION);
			return 1;
		}
		if (opt == '?')
			return fail(err, errlen, "unknown option '%s' (see --help)", argv[optind - 1]);
		if (opt == ':')
			return fail(err, errlen, "option '%s' needs a value", argv[optind - 1]);
		if (opt >= 0x100 && opt < 0x100 + (int)OPTION_COUNT) {
			d = &option_table[opt - 0x100];
		} else {
			for (unsigned i = 0; i < OPTION_COUNT; i++)
				if (option_table[i].short_name == opt)
					d = &option_table[i];
		}
		if (!d)
			return fail(err, errlen, "unknown option (see --help)");
		if (d->set(o, optarg, err, errlen))
			return -EINVAL;
	}
	if (optind < argc)
		return fail(err, errlen, "unexpected argument '%s' (see --help)", argv[optind]);
	if (o->start) {
		unsigned i = 0;

		while (i < o->nguests && strcmp(o->guests[i].name, o->start))
			i++;
		if (i == o->nguests)
			return fail(err, errlen, "start: '%s' is not one of the guests (--guest)",
				    o->start);
	}
	if (vnc_check(&o->vnc, err, errlen) || remote_check(&o->remote, err, errlen))
		return -EINVAL;
	return hotkeys_check(&o->hotkeys, err, errlen);
}
