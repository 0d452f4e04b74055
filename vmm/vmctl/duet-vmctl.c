/* duet-vmctl: send one command to a duet-vmm control socket and print the
 * reply, e.g. `duet-vmctl /run/duet/vmm-ltsp.sock powerdown` or
 * `duet-vmctl SOCK sendkey keys=ctrl-alt-delete`. Exit status 0 when the
 * VMM answered ok, 1 when it answered an error, 2 when it could not be
 * asked. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"

#define VMCTL_TIMEOUT_S 10
#define VMCTL_REPLY_MAX 65536

static void usage(FILE *to)
{
	fputs("Usage: duet-vmctl SOCKET COMMAND [KEY=VALUE]...\n"
	      "Send COMMAND to the duet-vmm listening on SOCKET (its --control) and print\n"
	      "its reply (one JSON line).\n\n"
	      "Commands: status, pause, resume, reset, powerdown, sendkey keys=COMBO,\n"
	      "screendump file=PNG (the file is opened here and handed over), cpus (each\n"
	      "vCPU's mode, RIP, halted or not, APIC timer, exit counts), quit.\n"
	      "Exit status: 0 ok, 1 the VMM refused, 2 it could not be reached.\n", to);
}

/* send_request: the line and its newline in one message, with `pass_fd`
 * attached (SCM_RIGHTS) when there is one. */
static int send_request(int sock, const char *line, int pass_fd)
{
	struct iovec iov[2] = { { (void *)line, strlen(line) }, { "\n", 1 } };
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} cbuf;
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 2 };

	if (pass_fd >= 0) {
		struct cmsghdr *cm;

		memset(&cbuf, 0, sizeof(cbuf));
		msg.msg_control = cbuf.buf;
		msg.msg_controllen = sizeof(cbuf.buf);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &pass_fd, sizeof(int));
	}
	return sendmsg(sock, &msg, MSG_NOSIGNAL) < 0 ? -1 : 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct timeval tv = { VMCTL_TIMEOUT_S, 0 };
	char *line, reply[VMCTL_REPLY_MAX];
	size_t got = 0;
	json_t *req, *res;
	int fd, ok, pass_fd = -1;

	log_init("duet-vmctl");
	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		usage(stdout);
		return 0;
	}
	if (argc < 3) {
		usage(stderr);
		return 2;
	}
	req = json_pack("{s:s}", "command", argv[2]);
	for (int i = 3; i < argc; i++) {
		char *eq = strchr(argv[i], '=');

		if (!eq || eq == argv[i]) {
			log_error("'%s' is not KEY=VALUE", argv[i]);
			return 2;
		}
		*eq = 0;
		/* file=PATH is opened here: duet-vmm itself may open no files. */
		if (!strcmp(argv[i], "file")) {
			pass_fd = open(eq + 1, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
			if (pass_fd < 0) {
				log_error("%s: %s", eq + 1, strerror(errno));
				return 2;
			}
			continue;
		}
		json_object_set_new(req, argv[i], json_string(eq + 1));
	}
	line = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (strlen(argv[1]) >= sizeof(addr.sun_path)) {
		log_error("socket path too long: %s", argv[1]);
		return 2;
	}
	strcpy(addr.sun_path, argv[1]);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		log_error("%s: %s (is duet-vmm running with --control there?)", argv[1],
			  strerror(errno));
		return 2;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (send_request(fd, line, pass_fd) < 0) {
		log_error("%s: %s", argv[1], strerror(errno));
		return 2;
	}
	free(line);
	while (got < sizeof(reply) - 1 && !memchr(reply, '\n', got)) {
		ssize_t n = read(fd, reply + got, sizeof(reply) - 1 - got);

		if (n <= 0) {
			log_error("%s: no reply", argv[1]);
			return 2;
		}
		got += (size_t)n;
	}
	close(fd);
	reply[got] = 0;
	fputs(reply, stdout);
	res = json_loads(reply, 0, NULL);
	ok = res && json_is_true(json_object_get(res, "ok"));
	json_decref(res);
	return ok ? 0 : 1;
}
