/* The control socket (see control.h). Runs on the event-loop thread; every
 * byte a client sends is untrusted: lines are bounded, JSON is parsed by
 * jansson, and only known commands with the right types act. */
#include "control.h"

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "event.h"
#include "display_link.h"
#include "hw/piix.h"
#include "input.h"
#include "log.h"
#include "vcpu.h"
#include "vm.h"

/* A request line longer than this is refused and the client dropped. */
#define CONTROL_LINE_MAX 4096
#define CONTROL_MAX_CLIENTS 16
/* How long pause and cpus wait for the vCPUs to leave the guest: a vCPU in
 * a device call that does not return (a disk waiting for its server) must
 * not stop the control socket, nor the rest of the VMM, with it. */
#define CONTROL_PAUSE_MS 2000

struct control;

struct control_client {
	struct control *ctl;
	int fd;
	int passed_fd;  /* a file the client sent with SCM_RIGHTS, or -1 */
	size_t len;
	char buf[CONTROL_LINE_MAX];
};

struct control {
	struct vm *vm;
	int listen_fd;
	char *path;
	struct timespec started;
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
	/* Replies are small; a client that will not read them loses them
	 * rather than stalling the VMM (the socket is non-blocking). */
	while (done < len) {
		ssize_t n = send(c->fd, text + done, len - done, MSG_NOSIGNAL);

		if (n <= 0)
			break;
		done += (size_t)n;
	}
	free(text);
}

static json_t *control_error(const char *fmt, const char *arg)
{
	char msg[256];

	snprintf(msg, sizeof(msg), fmt, arg);
	return json_pack("{s:b, s:s}", "ok", 0, "error", msg);
}

/* control_cpus: what each vCPU is doing (vcpu_read_state), the VM paused
 * for the moment it takes to read them and running again afterwards unless
 * it was paused already. */
static json_t *control_cpus(struct vm *vm)
{
	bool was_paused = atomic_load(&vm->paused);
	json_t *list = json_array();

	if (atomic_load(&vm->stopping))
		return control_error("%s", "the guest is stopping");
	if (!was_paused)
		vm_pause(vm, CONTROL_PAUSE_MS);
	for (unsigned i = 0; i < vm->ncpus; i++) {
		struct vcpu *vcpu = &vm->vcpus[i];
		struct vcpu_state st;
		char rip[24], rsp[24], cr3[24], mmio[24], code[2 * sizeof(st.code) + 1];
		json_t *one;
		int err;

		if (!vm_vcpu_parked(vm, i)) {
			/* its thread is in duet-vmm, not in the guest: the exit
			 * counts and the last port say which device it called */
			snprintf(mmio, sizeof(mmio), "%#llx",
				 (unsigned long long)atomic_load(&vcpu->last_mmio_addr));
			json_array_append_new(
				list, json_pack("{s:i, s:s, s:{s:I, s:I, s:I, s:i, s:s}}", "cpu", (int)i,
						"state", "in a device call",
						"exits", "total", (json_int_t)atomic_load(&vcpu->exits),
						"io", (json_int_t)atomic_load(&vcpu->io_exits),
						"mmio", (json_int_t)atomic_load(&vcpu->mmio_exits),
						"last_io_port", (int)atomic_load(&vcpu->last_io_port),
						"last_mmio", mmio));
			continue;
		}
		err = vcpu_read_state(vcpu, &st);
		if (err) {
			json_array_append_new(list, json_pack("{s:i, s:s}", "cpu", (int)i, "error",
							      strerror(-err)));
			continue;
		}
		snprintf(rip, sizeof(rip), "%#llx", (unsigned long long)st.rip);
		snprintf(rsp, sizeof(rsp), "%#llx", (unsigned long long)st.rsp);
		snprintf(cr3, sizeof(cr3), "%#llx", (unsigned long long)st.cr3);
		snprintf(mmio, sizeof(mmio), "%#llx", (unsigned long long)st.last_mmio_addr);
		for (unsigned b = 0; b < sizeof(st.code); b++)
			snprintf(code + 2 * b, sizeof(code) - 2 * b, "%02x", st.code[b]);
		one = json_pack("{s:i, s:s, s:s, s:i, s:s, s:s, s:s, s:b, s:b, "
				  "s:{s:I, s:I, s:b, s:I, s:I}, s:i, s:i, s:b, s:b, "
				  "s:{s:I, s:I, s:I, s:i, s:s}}",
				  "cpu", (int)i, "state", st.mp_state, "mode", st.mode,
				  "cs", (int)st.cs, "rip", rip, "rsp", rsp, "cr3", cr3,
				  "paging", st.paging, "interrupts_on", st.interrupts_on,
				  "apic_timer", "lvt", (json_int_t)st.lvt_timer,
				  "vector", (json_int_t)(st.lvt_timer & 0xff),
				  "masked", !!(st.lvt_timer & (1u << 16)),
				  "initial", (json_int_t)st.timer_initial,
				  "current", (json_int_t)st.timer_current,
				  "irr_top", st.irr_top, "isr_top", st.isr_top,
				  "interrupt_pending", st.interrupt_pending, "nmi_pending", st.nmi_pending,
				  "exits", "total", (json_int_t)st.exits, "io", (json_int_t)st.io_exits,
				  "mmio", (json_int_t)st.mmio_exits, "last_io_port",
				  (int)st.last_io_port, "last_mmio", mmio);
		if (one && st.has_code)
			json_object_set_new(one, "code", json_string(code));
		json_array_append_new(list, one);
	}
	if (!was_paused)
		vm_resume(vm);
	return json_pack("{s:b, s:o}", "ok", 1, "cpus", list);
}

static json_t *control_status(struct control *ctl)
{
	struct vm *vm = ctl->vm;
	struct timespec now;
	double uptime;

	clock_gettime(CLOCK_MONOTONIC, &now);
	uptime = (double)(now.tv_sec - ctl->started.tv_sec) +
		 (double)(now.tv_nsec - ctl->started.tv_nsec) / 1e9;
	return json_pack("{s:b, s:s, s:s, s:i, s:I, s:i, s:f}", "ok", 1, "name",
			 vm->config->name, "state", atomic_load(&vm->paused) ? "paused" : "running",
			 "cpus", (int)vm->ncpus, "memory", (json_int_t)vm->config->memory,
			 "restarts", (int)vm->restarts, "uptime", uptime);
}

static json_t *control_execute(struct control *ctl, const char *line, int *passed_fd)
{
	struct vm *vm = ctl->vm;
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
	if (!strcmp(name, "status")) {
		reply = control_status(ctl);
	} else if (!strcmp(name, "pause")) {
		reply = vm_pause(vm, CONTROL_PAUSE_MS)
				? control_error("%s", "a vCPU is still in a device call (see cpus); it "
						      "stops when the call returns")
				: control_status(ctl);
	} else if (!strcmp(name, "resume")) {
		vm_resume(vm);
		reply = control_status(ctl);
	} else if (!strcmp(name, "reset")) {
		log_info("reset requested on the control socket");
		vm_request_reset(vm);
		reply = json_pack("{s:b}", "ok", 1);
	} else if (!strcmp(name, "powerdown")) {
		if (!vm->piix) {
			reply = control_error("%s", "this machine has no ACPI power button");
		} else {
			piix_power_button(vm);
			reply = json_pack("{s:b}", "ok", 1);
		}
	} else if (!strcmp(name, "sendkey")) {
		json_t *keys = json_object_get(req, "keys");
		char why[160];

		if (!json_is_string(keys))
			reply = control_error("%s", "sendkey needs \"keys\": e.g. \"ctrl-alt-delete\"");
		else if (input_sendkey(vm, json_string_value(keys), why, sizeof(why)))
			reply = control_error("%s", why);
		else
			reply = json_pack("{s:b}", "ok", 1);
	} else if (!strcmp(name, "screendump")) {
		int err;

		if (*passed_fd < 0) {
			reply = control_error("%s", "screendump needs a file: send its descriptor "
					      "with the request (duet-vmctl SOCK screendump file=X.png)");
		} else {
			err = display_screendump_fd(vm, *passed_fd);
			*passed_fd = -1; /* taken over, closed */
			reply = err ? control_error("screendump: %s", strerror(-err))
				    : json_pack("{s:b}", "ok", 1);
		}
	} else if (!strcmp(name, "cpus")) {
		reply = control_cpus(vm);
	} else if (!strcmp(name, "quit")) {
		log_info("quit requested on the control socket");
		vm_stop(vm, VM_STOP_POWEROFF, 0);
		reply = json_pack("{s:b}", "ok", 1);
	} else {
		reply = control_error("unknown command '%s' (status, pause, resume, reset, "
				      "powerdown, sendkey, screendump, cpus, quit)", name);
	}
	json_decref(req);
	return reply;
}

static void control_client_close(struct control_client *c)
{
	struct control *ctl = c->ctl;

	for (unsigned i = 0; i < CONTROL_MAX_CLIENTS; i++)
		if (ctl->clients[i] == c)
			ctl->clients[i] = NULL;
	event_del_fd(ctl->vm->loop, c->fd);
	close(c->fd);
	if (c->passed_fd >= 0)
		close(c->passed_fd);
	free(c);
}

static void control_client_readable(void *opaque, uint32_t events)
{
	struct control_client *c = opaque;
	ssize_t n;
	char *nl;

	struct iovec iov = { c->buf + c->len, sizeof(c->buf) - c->len };
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} cbuf;
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf.buf,
			      .msg_controllen = sizeof(cbuf.buf) };
	struct cmsghdr *cm;

	(void)events;
	n = recvmsg(c->fd, &msg, MSG_CMSG_CLOEXEC);
	/* At most one descriptor is kept (for the next request); any other
	 * is closed at once. A truncated control message is ignored. */
	for (cm = n > 0 ? CMSG_FIRSTHDR(&msg) : NULL; cm; cm = CMSG_NXTHDR(&msg, cm)) {
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
		    cm->cmsg_len == CMSG_LEN(sizeof(int))) {
			int fd;

			memcpy(&fd, CMSG_DATA(cm), sizeof(fd));
			if (c->passed_fd >= 0)
				close(c->passed_fd);
			c->passed_fd = fd;
		}
	}
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
			control_send(c, control_execute(c->ctl, c->buf, &c->passed_fd));
		memmove(c->buf, nl + 1, c->len - line_len - 1);
		c->len -= line_len + 1;
	}
	if (c->len == sizeof(c->buf)) {
		control_send(c, control_error("%s", "request line too long"));
		control_client_close(c);
	}
}

static void control_accept(void *opaque, uint32_t events)
{
	struct control *ctl = opaque;
	struct control_client *c;
	int fd;
	unsigned slot;

	(void)events;
	fd = accept4(ctl->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
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
	c->passed_fd = -1;
	if (event_add_fd(ctl->vm->loop, fd, EPOLLIN, control_client_readable, c)) {
		close(fd);
		free(c);
		return;
	}
	ctl->clients[slot] = c;
}

static void control_free(void *opaque)
{
	struct control *ctl = opaque;

	for (unsigned i = 0; i < CONTROL_MAX_CLIENTS; i++)
		if (ctl->clients[i])
			control_client_close(ctl->clients[i]);
	event_del_fd(ctl->vm->loop, ctl->listen_fd);
	close(ctl->listen_fd);
	unlink(ctl->path);
	free(ctl->path);
	free(ctl);
}

int control_start(struct vm *vm, const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct control *ctl;
	struct stat st;
	int err;

	if (strlen(path) >= sizeof(addr.sun_path)) {
		log_error("control socket '%s': path too long", path);
		return -ENAMETOOLONG;
	}
	strcpy(addr.sun_path, path);
	ctl = calloc(1, sizeof(*ctl));
	if (!ctl || !(ctl->path = strdup(path))) {
		free(ctl);
		return -ENOMEM;
	}
	ctl->vm = vm;
	clock_gettime(CLOCK_MONOTONIC, &ctl->started);
	/* jansson seeds its hash tables from /dev/urandom on first use: do it
	 * now, the sandbox allows no opening of files later. */
	json_object_seed(0);
	ctl->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	/* A socket left by a VMM that died is replaced; any other file is not. */
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	if (ctl->listen_fd < 0 || bind(ctl->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    listen(ctl->listen_fd, 8) < 0) {
		err = -errno;
		log_error("control socket '%s': %s", path, strerror(errno));
		if (ctl->listen_fd >= 0)
			close(ctl->listen_fd);
		free(ctl->path);
		free(ctl);
		return err;
	}
	chmod(path, 0600);
	err = event_add_fd(vm->loop, ctl->listen_fd, EPOLLIN, control_accept, ctl);
	if (!err)
		err = vm_on_destroy(vm, control_free, ctl);
	if (err) {
		close(ctl->listen_fd);
		free(ctl->path);
		free(ctl);
	}
	return err;
}
