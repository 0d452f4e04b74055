/* duet vm: a server VM's files, names, sizes and locks (see vm_store.h). */
#include "vm_store.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <ini.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "util.h"

/* The longest file name under RUN/vm-NAME that is a socket. */
#define VM_LONGEST_SOCKET "display-control.sock"

bool vm_name_valid(const char *name)
{
	size_t len = strlen(name);

	if (len < 1 || len > VM_NAME_MAX || !strcmp(name, "screen"))
		return false;
	if (!islower((unsigned char)name[0]) && !isdigit((unsigned char)name[0]))
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (!(c >= 'a' && c <= 'z') && !isdigit(c) && c != '_' && c != '-')
			return false;
	}
	return true;
}

void vm_format_size(uint64_t bytes, char *buf, size_t size)
{
	static const char units[] = "KMGT";
	int u = -1;
	uint64_t unit = 1;

	while (u < 3 && bytes >= unit * 1024) {
		unit *= 1024;
		u++;
	}
	if (u < 0)
		snprintf(buf, size, "%llu", (unsigned long long)bytes);
	else if (bytes % unit == 0)
		snprintf(buf, size, "%llu%c", (unsigned long long)(bytes / unit), units[u]);
	else
		snprintf(buf, size, "%.1f%c", (double)bytes / (double)unit, units[u]);
}

static int path_join(char *buf, size_t size, const char *a, const char *b)
{
	int n = snprintf(buf, size, "%s/%s", a, b);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int vm_paths(const struct duet_conf *conf, const char *name, struct vm_info *vm)
{
	char sub[VM_NAME_MAX + 8];

	memset(vm, 0, sizeof *vm);
	snprintf(vm->name, sizeof vm->name, "%s", name);
	snprintf(sub, sizeof sub, "vm-%s", name);
	if (path_join(vm->dir, sizeof vm->dir - 64, conf->server.vm_dir, name) ||
	    path_join(vm->run, sizeof vm->run - 64, conf->server.run_dir, sub))
		return -ENAMETOOLONG;
	if (strlen(vm->run) + 1 + strlen(VM_LONGEST_SOCKET) >= sizeof ((struct sockaddr_un *)0)->sun_path)
		return -ENAMETOOLONG;
	return 0;
}

/* vm_paths made sure that dir and run leave room for our file names. */
void vm_run_path(const struct vm_info *vm, const char *file, char *buf, size_t size)
{
	if (path_join(buf, size, vm->run, file))
		buf[0] = '\0';
}

void vm_dir_path(const struct vm_info *vm, const char *file, char *buf, size_t size)
{
	if (path_join(buf, size, vm->dir, file))
		buf[0] = '\0';
}

struct load_ctx {
	struct vm_info *vm;
	char *err;
	size_t errlen;
	const char *file;
};

static int vmm_conf_key(void *user, const char *section, const char *key, const char *value)
{
	struct load_ctx *c = user;
	struct vm_info *vm = c->vm;

	(void)section;
	if (!strcmp(key, "memory"))
		snprintf(vm->memory, sizeof vm->memory, "%s", value);
	else if (!strcmp(key, "cpus"))
		vm->cpus = (unsigned)strtoul(value, NULL, 10);
	else if (!strcmp(key, "disk") && !vm->disk[0]) {
		const char *file = strncmp(value, "file=", 5) ? value : value + 5;
		size_t n = strcspn(file, ",");
		if (n >= sizeof vm->disk)
			n = sizeof vm->disk - 1;
		memcpy(vm->disk, file, n);
		vm->disk[n] = '\0';
	} else if (!strcmp(key, "cdrom"))
		snprintf(vm->cdrom, sizeof vm->cdrom, "%s", value);
	else if (!strcmp(key, "boot"))
		snprintf(vm->boot, sizeof vm->boot, "%s", value);
	else if (!strcmp(key, "net"))
		snprintf(vm->net, sizeof vm->net, "%s", value);
	return 1;
}

static int display_conf_key(void *user, const char *section, const char *key, const char *value)
{
	struct load_ctx *c = user;
	struct vm_info *vm = c->vm;

	(void)section;
	if (!strcmp(key, "vnc-listen"))
		snprintf(vm->vnc_listen, sizeof vm->vnc_listen, "%s", value);
	else if (!strcmp(key, "vnc-base-port"))
		vm->vnc_port = atoi(value) + 1;
	else if (!strcmp(key, "vnc-password-file"))
		snprintf(vm->vnc_password_file, sizeof vm->vnc_password_file, "%s", value);
	return 1;
}

static int supervisor_conf_key(void *user, const char *section, const char *key,
			       const char *value)
{
	struct load_ctx *c = user;

	(void)section;
	if (!strcmp(key, "bridge"))
		snprintf(c->vm->bridge, sizeof c->vm->bridge, "%s", value);
	return 1;
}

static int load_ini(struct load_ctx *c, const char *file, bool optional,
		    int (*handler)(void *, const char *, const char *, const char *))
{
	char path[PATH_MAX];

	vm_dir_path(c->vm, file, path, sizeof path);
	int rc = ini_parse(path, handler, c);
	if (rc == -1) {
		if (optional && errno == ENOENT)
			return 0;
		snprintf(c->err, c->errlen, "cannot read %s: %s", path, strerror(errno));
		return -EIO;
	}
	if (rc != 0) {
		snprintf(c->err, c->errlen, "%s:%d: cannot parse this line", path, rc);
		return -EINVAL;
	}
	return 0;
}

int vm_load(const struct duet_conf *conf, const char *name, struct vm_info *vm,
	    char *err, size_t errlen)
{
	char path[PATH_MAX];
	struct stat st;
	struct load_ctx c = { .vm = vm, .err = err, .errlen = errlen };
	int rc;

	err[0] = '\0';
	if (!vm_name_valid(name))
		return -ENOENT;
	rc = vm_paths(conf, name, vm);
	if (rc) {
		snprintf(err, errlen, "its run-time socket paths under '%s' are too long",
			 conf->server.run_dir);
		return rc;
	}
	vm_dir_path(vm, "vm.conf", path, sizeof path);
	if (stat(path, &st) < 0)
		return -ENOENT;
	vm->cpus = 1;
	snprintf(vm->memory, sizeof vm->memory, "128M");
	snprintf(vm->vnc_listen, sizeof vm->vnc_listen, "127.0.0.1");
	vm->vnc_port = 5901;
	if ((rc = load_ini(&c, "vm.conf", false, vmm_conf_key)) ||
	    (rc = load_ini(&c, "display.conf", false, display_conf_key)) ||
	    (rc = load_ini(&c, "supervisor.conf", true, supervisor_conf_key)))
		return rc;
	return 0;
}

static int append(char *buf, size_t size, size_t *len, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int append(char *buf, size_t size, size_t *len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(buf + *len, size - *len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= size - *len)
		return -ENAMETOOLONG;
	*len += (size_t)n;
	return 0;
}

static int write_conf(const struct vm_info *vm, const char *file, const char *text,
		      size_t len, char *err, size_t errlen)
{
	char path[PATH_MAX];

	vm_dir_path(vm, file, path, sizeof path);
	int rc = write_file_atomic(path, text, len, 0640);
	if (rc)
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(-rc));
	return rc;
}

int vm_write_configs(const struct vm_info *vm, char *err, size_t errlen)
{
	char text[4 * PATH_MAX + 1024];
	size_t len = 0;
	int rc;

	rc = append(text, sizeof text, &len,
		    "# duet vm '%s': duet-vmm's guest file (docs/vmm.md), written by\n"
		    "# `duet vm create`. Its supervisor adds --display, --control and\n"
		    "# --serial when it starts duet-vmm (docs/duet-vm.md).\n"
		    "[vm]\nname = %s\nmemory = %s\ncpus = %u\nbios = yes\nboot = %s\n"
		    "disk = file=%s\n",
		    vm->name, vm->name, vm->memory, vm->cpus, vm->boot, vm->disk);
	if (!rc && vm->cdrom[0])
		rc = append(text, sizeof text, &len, "cdrom = %s\n", vm->cdrom);
	if (!rc && vm->net[0])
		rc = append(text, sizeof text, &len, "net = %s\n", vm->net);
	if (rc || (rc = write_conf(vm, "vm.conf", text, len, err, errlen)))
		return rc;

	len = 0;
	rc = append(text, sizeof text, &len,
		    "# duet vm '%s': its headless duet-display (docs/display.md), written\n"
		    "# by `duet vm create`. VNC clients connect to the guest's own view on\n"
		    "# port %d (vnc-base-port + 1, keyboard and mouse allowed); the\n"
		    "# composed screen on %d is view-only.\n"
		    "[display]\noutput = offscreen\noutput-size = 1024x768\ninput = none\n"
		    "guest = %s\nedge-width = 0\nbanner-time = 500\nmax-fps = 30\n"
		    "vnc-listen = %s\nvnc-base-port = %d\nvnc-input = %s\n",
		    vm->name, vm->vnc_port, vm->vnc_port - 1, vm->name, vm->vnc_listen,
		    vm->vnc_port - 1, vm->name);
	if (!rc && vm->vnc_password_file[0])
		rc = append(text, sizeof text, &len, "vnc-password-file = %s\n",
			    vm->vnc_password_file);
	if (rc || (rc = write_conf(vm, "display.conf", text, len, err, errlen)))
		return rc;

	if (!vm->bridge[0])
		return 0;
	len = 0;
	char tap[IFNAMSIZ];
	vm_tap_name(vm->name, tap);
	rc = append(text, sizeof text, &len,
		    "# duet vm '%s': how its supervisor wires it (docs/duet-vm.md).\n"
		    "# The supervisor creates TAP %s (vm.conf's net) in this bridge\n"
		    "# before it starts duet-vmm, and removes it when the VM stops.\n"
		    "[supervisor]\nbridge = %s\n",
		    vm->name, tap, vm->bridge);
	if (rc)
		return rc;
	return write_conf(vm, "supervisor.conf", text, len, err, errlen);
}

void vm_tap_name(const char *name, char out[IFNAMSIZ])
{
	if (strlen(name) <= IFNAMSIZ - 1 - 3) {
		snprintf(out, IFNAMSIZ, "dv-%s", name);
		return;
	}
	uint32_t h = 2166136261u; /* FNV-1a */
	for (const char *p = name; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	snprintf(out, IFNAMSIZ, "dv-%.7s%04x", name, (unsigned)(h & 0xffff));
}

pid_t vm_supervisor_pid(const struct vm_info *vm)
{
	char path[PATH_MAX];
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };

	vm_run_path(vm, "supervisor.pid", path, sizeof path);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	int rc = fcntl(fd, F_GETLK, &fl);
	close(fd);
	if (rc < 0 || fl.l_type == F_UNLCK)
		return 0;
	/* l_pid is 0 when the holder is in another pid namespace: it runs,
	 * but it is no pid of ours to signal. */
	return fl.l_pid > 0 ? fl.l_pid : -1;
}

int vm_state_read(const struct vm_info *vm, struct vm_state *st)
{
	char path[PATH_MAX];
	char *text;
	size_t len;

	memset(st, 0, sizeof *st);
	snprintf(st->state, sizeof st->state, "starting");
	vm_run_path(vm, "state", path, sizeof path);
	int rc = read_file(path, 4096, &text, &len);
	if (rc)
		return rc;
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		char *eq = strchr(line, '=');
		if (!eq)
			continue;
		*eq = '\0';
		if (!strcmp(line, "state"))
			snprintf(st->state, sizeof st->state, "%s", eq + 1);
		else if (!strcmp(line, "vmm-pid"))
			st->vmm_pid = (pid_t)atoi(eq + 1);
		else if (!strcmp(line, "restarts"))
			st->restarts = (unsigned)strtoul(eq + 1, NULL, 10);
	}
	free(text);
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int vm_list_names(const struct duet_conf *conf, char ***names, size_t *count)
{
	DIR *d = opendir(conf->server.vm_dir);
	char **list = NULL;
	size_t n = 0;
	struct dirent *e;

	*names = NULL;
	*count = 0;
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((e = readdir(d))) {
		char path[PATH_MAX];
		struct stat st;
		if (!vm_name_valid(e->d_name))
			continue;
		if (snprintf(path, sizeof path, "%s/%s/vm.conf", conf->server.vm_dir, e->d_name) >=
			    (int)sizeof path ||
		    stat(path, &st) < 0)
			continue;
		char **grown = realloc(list, (n + 1) * sizeof *list);
		if (!grown || !(grown[n] = strdup(e->d_name))) {
			list = grown ? grown : list;
			for (size_t i = 0; i < n; i++)
				free(list[i]);
			free(list);
			closedir(d);
			return -ENOMEM;
		}
		list = grown;
		n++;
	}
	closedir(d);
	if (n)
		qsort(list, n, sizeof *list, cmp_names);
	*names = list;
	*count = n;
	return 0;
}

bool vm_port_bindable(const char *addr, int port)
{
	struct sockaddr_in in4 = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port) };
	struct sockaddr *sa;
	socklen_t salen;
	int one = 1;

	if (inet_pton(AF_INET, addr, &in4.sin_addr) == 1) {
		sa = (struct sockaddr *)&in4;
		salen = sizeof in4;
	} else if (inet_pton(AF_INET6, addr, &in6.sin6_addr) == 1) {
		sa = (struct sockaddr *)&in6;
		salen = sizeof in6;
	} else {
		return false;
	}
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	bool ok = bind(fd, sa, salen) == 0;
	close(fd);
	return ok;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if ((type == FTW_DP ? rmdir(path) : unlink(path)) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

int vm_remove_tree(const char *path)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	int rc = nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	return rc > 0 ? -EIO : rc;
}

void vm_last_line(const char *path, char *buf, size_t size)
{
	char tail[4096];

	buf[0] = '\0';
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	off_t end = lseek(fd, 0, SEEK_END);
	off_t from = end > (off_t)sizeof tail - 1 ? end - (off_t)sizeof tail + 1 : 0;
	ssize_t n = end > 0 ? pread(fd, tail, (size_t)(end - from), from) : 0;
	close(fd);
	if (n <= 0)
		return;
	tail[n] = '\0';
	while (n && (tail[n - 1] == '\n' || tail[n - 1] == '\r' || tail[n - 1] == ' '))
		tail[--n] = '\0';
	char *start = strrchr(tail, '\n');
	snprintf(buf, size, "%s", start ? start + 1 : tail);
}
