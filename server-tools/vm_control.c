/* duet vm: a client for the JSON-lines control sockets (see vm_control.h). */
#include "vm_control.h"

#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* A reply is one line; duet-vmm's `status` is well under this. */
#define REPLY_MAX 8192

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int fail(char *err, size_t errlen, int rc, const char *what)
{
	snprintf(err, errlen, "%s: %s", what, strerror(-rc));
	return rc;
}

int vm_control_request(const char *path, const char *request, int timeout_ms,
		       char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char reply[REPLY_MAX];
	size_t len = 0;
	int rc;

	err[0] = '\0';
	if (strlen(path) >= sizeof sa.sun_path)
		return fail(err, errlen, -ENAMETOOLONG, "control socket");
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return fail(err, errlen, -errno, "socket");
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		rc = fail(err, errlen, -errno, "cannot connect to the control socket");
		close(fd);
		return rc;
	}
	size_t rlen = strlen(request);
	char line[1024];
	if (rlen + 2 > sizeof line) {
		close(fd);
		return fail(err, errlen, -EMSGSIZE, "request");
	}
	memcpy(line, request, rlen);
	line[rlen++] = '\n';
	if (send(fd, line, rlen, MSG_NOSIGNAL) != (ssize_t)rlen) {
		rc = fail(err, errlen, -errno, "cannot send to the control socket");
		close(fd);
		return rc;
	}
	long long deadline = now_ms() + timeout_ms;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		long long left = deadline - now_ms();
		if (left <= 0) {
			close(fd);
			return fail(err, errlen, -ETIMEDOUT, "no reply on the control socket");
		}
		int n = poll(&p, 1, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = fail(err, errlen, -errno, "poll");
			close(fd);
			return rc;
		}
		if (n == 0)
			continue;
		ssize_t got = recv(fd, reply + len, sizeof reply - 1 - len, 0);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			close(fd);
			return fail(err, errlen, got < 0 ? -errno : -ECONNRESET,
				    "the control socket closed without a reply");
		}
		len += (size_t)got;
		reply[len] = '\0';
		if (strchr(reply, '\n'))
			break;
		if (len == sizeof reply - 1) {
			close(fd);
			return fail(err, errlen, -EMSGSIZE, "reply too long");
		}
	}
	close(fd);

	json_error_t jerr;
	json_t *obj = json_loads(reply, JSON_DISABLE_EOF_CHECK, &jerr);
	if (!json_is_object(obj)) {
		json_decref(obj);
		return fail(err, errlen, -EPROTO, "the reply is not a JSON object");
	}
	rc = 0;
	if (!json_is_true(json_object_get(obj, "ok"))) {
		const char *why = json_string_value(json_object_get(obj, "error"));
		snprintf(err, errlen, "%s", why ? why : "refused");
		rc = -EPROTO;
	}
	json_decref(obj);
	return rc;
}
