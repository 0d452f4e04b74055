/* The control socket (see control_socket.h). Every byte a client sends is
 * untrusted: lines are bounded, JSON is parsed by jansson, and only known
 * commands with the right types act. Clients are few and local (the
 * socket is 0600); a client that will not read its replies loses them
 * rather than stalling the display. */
#include "control_socket.h"

#include <errno.h>
#include <jansson.h>
#include <libevdev/libevdev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "display.h"
#include "input_source.h"
#include "listener.h"
#include "log.h"
#include "loop.h"
#include "output.h"
#include "peer.h"
#include "vnc.h"

#define CONTROL_LINE_MAX 4096
#define CONTROL_MAX_CLIENTS 8
/* events in one inject request */
#define CONTROL_INJECT_MAX 256

struct control;

struct control_client {
	struct control *ctl;
	int fd;
	size_t len;
	char buf[CONTROL_LINE_MAX];
};

struct control {
	struct display *d;
	struct listener *listener;
	struct control_client *clients[CONTROL_MAX_CLIENTS];
};

static void control_send(struct control_client *c, json_t *reply)
{
	char *text = json_dumps(reply, JSON_COMPACT);
	size_t len, done = 0;

	json_decref(reply);
	if (!text)
		return;
	len = strlen(text);
	text[len++] = '\n'; /* json_dumps leaves room: we replace the NUL */
	while (done < len) {
		ssize_t n = send(c->fd, text + done, len - done, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n <= 0)
			break;
		done += (size_t)n;
	}
	free(text);
}

static json_t *control_error(const char *fmt, const char *arg)
{
	char msg[512];

	snprintf(msg, sizeof(msg), fmt, arg);
	return json_pack("{s:b, s:s}", "ok", 0, "error", msg);
}

/* control_vnc: a VNC server's port (0: it has none) and its clients. */
static json_t *control_vnc(struct display *d, int slot)
{
	return json_pack("{s:i, s:i}", "port", vnc_port(d->vnc, slot), "clients",
			 (int)vnc_clients(d->vnc, slot));
}

static json_t *control_list(struct display *d)
{
	json_t *guests = json_array(), *reply;

	for (unsigned i = 0; i < SEAT_MAX_SLOTS; i++) {
		const struct guest *g = &d->guests[i];
		char edge[8];

		if (!g->used)
			continue;
		snprintf(edge, sizeof(edge), "#%06x", g->edge_rgb);
		json_array_append_new(
			guests, json_pack("{s:i, s:s, s:s, s:b, s:i, s:i, s:I, s:s, s:i}", "slot",
					  (int)g->slot + 1, "name", g->name, "state",
					  display_guest_state(g), "active", d->active == (int)i,
					  "width", (int)g->width, "height", (int)g->height,
					  "damage", (json_int_t)g->damage_msgs, "edge", edge, "pid",
					  g->peer ? peer_pid(g->peer) : 0));
		json_object_set_new(json_array_get(guests, json_array_size(guests) - 1), "vnc",
				    control_vnc(d, (int)i));
	}
	reply = json_pack("{s:b, s:o, s:I, s:I, s:i}", "ok", 1, "guests", guests, "frames",
			  (json_int_t)d->frames, "flips", (json_int_t)d->out->flips, "connections",
			  (int)d->npeers);
	if (reply)
		json_object_set_new(reply, "vnc", control_vnc(d, SEAT_NO_SLOT));
	if (reply)
		json_object_set_new(reply, "active",
				    d->active == SEAT_NO_SLOT
					    ? json_null()
					    : json_string(d->guests[d->active].name));
	return reply;
}

static json_t *control_switch(struct display *d, json_t *req)
{
	json_t *name = json_object_get(req, "guest");
	struct guest *g;

	if (!json_is_string(name))
		return control_error("%s", "switch needs \"guest\": a name");
	g = display_guest_by_name(d, json_string_value(name));
	if (!g)
		return control_error("no guest '%s'", json_string_value(name));
	display_switch(d, (int)g->slot);
	return json_pack("{s:b}", "ok", 1);
}

static int json_size(json_t *req, const char *key, unsigned *out)
{
	json_t *v = json_object_get(req, key);

	*out = 0;
	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 1 ||
	    json_integer_value(v) > DISPLAY_MAX_WIDTH)
		return -EINVAL;
	*out = (unsigned)json_integer_value(v);
	return 0;
}

static json_t *control_screenshot(struct display *d, json_t *req)
{
	json_t *target = json_object_get(req, "target"), *file = json_object_get(req, "file");
	unsigned w, h;
	char err[512];

	if (!json_is_string(target) || !json_is_string(file))
		return control_error("%s", "screenshot needs \"target\": a guest or \"screen\", "
				     "and \"file\": a path");
	if (json_size(req, "width", &w) || json_size(req, "height", &h))
		return control_error("%s", "width and height are numbers from 1 to 8192");
	if (display_screenshot(d, json_string_value(target), json_string_value(file), w, h, err,
			       sizeof(err)))
		return control_error("%s", err);
	return json_pack("{s:b}", "ok", 1);
}

/* event_number: an evdev type or code given as a name or a number. */
static int event_number(json_t *v, int type, int *out)
{
	if (json_is_integer(v)) {
		if (json_integer_value(v) < 0 || json_integer_value(v) > 0xffff)
			return -EINVAL;
		*out = (int)json_integer_value(v);
		return 0;
	}
	if (!json_is_string(v))
		return -EINVAL;
	*out = type < 0 ? libevdev_event_type_from_name(json_string_value(v))
			: libevdev_event_code_from_name((unsigned)type, json_string_value(v));
	return *out < 0 ? -EINVAL : 0;
}

/* control_inject: test only (see control_socket.h). All events are
 * checked before any is delivered. */
static json_t *control_inject(struct display *d, json_t *req)
{
	json_t *events = json_object_get(req, "events");
	int triples[CONTROL_INJECT_MAX][3];
	size_t n;

	if (!d->input->ops->inject)
		return control_error("%s", "inject is for tests: it needs --input synthetic");
	if (!json_is_array(events) || json_array_size(events) > CONTROL_INJECT_MAX)
		return control_error("%s", "inject needs \"events\": up to 256 [TYPE, CODE, VALUE]");
	n = json_array_size(events);
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(events, i);

		if (!json_is_array(e) || json_array_size(e) != 3 ||
		    event_number(json_array_get(e, 0), -1, &triples[i][0]) ||
		    event_number(json_array_get(e, 1), triples[i][0], &triples[i][1]) ||
		    !json_is_integer(json_array_get(e, 2)) ||
		    json_integer_value(json_array_get(e, 2)) < -65536 ||
		    json_integer_value(json_array_get(e, 2)) > 65536)
			return control_error("%s", "an event is [TYPE, CODE, VALUE]: evdev names or "
					     "numbers, e.g. [\"EV_KEY\", \"KEY_A\", 1]");
		triples[i][2] = (int)json_integer_value(json_array_get(e, 2));
	}
	for (size_t i = 0; i < n; i++)
		d->input->ops->inject(d->input, (unsigned)triples[i][0], (unsigned)triples[i][1],
				      triples[i][2]);
	return json_pack("{s:b}", "ok", 1);
}

static json_t *control_execute(struct display *d, const char *line)
{
	json_error_t jerr;
	json_t *req = json_loads(line, JSON_REJECT_DUPLICATES, &jerr), *cmd, *reply;
	const char *name;

	if (!req)
		return control_error("not JSON: %s", jerr.text);
	if (!json_is_object(req)) {
		json_decref(req);
		return control_error("%s", "a request is a JSON object");
	}
	cmd = json_object_get(req, "command");
	if (!json_is_string(cmd)) {
		json_decref(req);
		return control_error("%s", "a request needs \"command\": a string");
	}
	name = json_string_value(cmd);
	if (!strcmp(name, "list"))
		reply = control_list(d);
	else if (!strcmp(name, "switch"))
		reply = control_switch(d, req);
	else if (!strcmp(name, "screenshot"))
		reply = control_screenshot(d, req);
	else if (!strcmp(name, "inject"))
		reply = control_inject(d, req);
	else
		reply = control_error("unknown command '%s' (list, switch, screenshot, inject)", name);
	json_decref(req);
	return reply;
}

static void control_client_close(struct control_client *c)
{
	struct control *ctl = c->ctl;

	for (unsigned i = 0; i < CONTROL_MAX_CLIENTS; i++)
		if (ctl->clients[i] == c)
			ctl->clients[i] = NULL;
	loop_del_fd(ctl->d->loop, c->fd);
	close(c->fd);
	free(c);
}

static void control_client_readable(void *opaque, uint32_t events)
{
	struct control_client *c = opaque;
	ssize_t n;
	char *nl;

	(void)events;
	n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, MSG_DONTWAIT);
	if (n <= 0) {
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		control_client_close(c);
		return;
	}
	c->len += (size_t)n;
	while ((nl = memchr(c->buf, '\n', c->len)) != NULL) {
		size_t line_len = (size_t)(nl - c->buf);

		*nl = 0;
		if (line_len > 0 && strspn(c->buf, " \t\r") != line_len)
			control_send(c, control_execute(c->ctl->d, c->buf));
		memmove(c->buf, nl + 1, c->len - line_len - 1);
		c->len -= line_len + 1;
	}
	if (c->len == sizeof(c->buf)) {
		control_send(c, control_error("%s", "request line too long"));
		control_client_close(c);
	}
}

static void control_accept(void *opaque)
{
	struct control *ctl = opaque;
	struct control_client *c;
	unsigned slot;
	int fd;

	fd = listener_accept(ctl->listener, NULL, NULL);
	if (fd < 0)
		return;
	for (slot = 0; slot < CONTROL_MAX_CLIENTS && ctl->clients[slot]; slot++)
		;
	c = slot < CONTROL_MAX_CLIENTS ? calloc(1, sizeof(*c)) : NULL;
	if (!c) {
		close(fd); /* too many clients: the newest one goes */
		return;
	}
	c->ctl = ctl;
	c->fd = fd;
	if (loop_add_fd(ctl->d->loop, fd, EPOLLIN, control_client_readable, c)) {
		close(fd);
		free(c);
		return;
	}
	ctl->clients[slot] = c;
}

void control_stop(struct control *ctl)
{
	if (!ctl)
		return;
	for (unsigned i = 0; i < CONTROL_MAX_CLIENTS; i++)
		if (ctl->clients[i])
			control_client_close(ctl->clients[i]);
	listener_free(ctl->listener);
	unlink(ctl->d->opts->control);
	free(ctl);
}

int control_start(struct control **out, struct display *d)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	const char *path = d->opts->control;
	struct control *ctl;
	struct stat st;
	int fd, err;

	if (strlen(path) >= sizeof(addr.sun_path)) {
		log_error("control socket '%s': path too long", path);
		return -ENAMETOOLONG;
	}
	strcpy(addr.sun_path, path);
	ctl = calloc(1, sizeof(*ctl));
	if (!ctl)
		return -ENOMEM;
	ctl->d = d;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 8) < 0) {
		err = -errno;
		log_error("control socket '%s': %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		free(ctl);
		return err;
	}
	chmod(path, 0600);
	err = listener_create(&ctl->listener, d->loop, fd, "control socket", control_accept, ctl);
	if (err) {
		close(fd);
		unlink(path);
		free(ctl);
		return err;
	}
	*out = ctl;
	return 0;
}
