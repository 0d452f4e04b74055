/* duet vm: the school's small servers as VMs on this (headless) server:
 * create, start, stop, destroy, list, eject (docs/duet-vm.md). Each VM is
 * a directory of files (vm_store.h) and, while it runs, a supervisor
 * process (vm_supervisor.h) with its duet-display and duet-vmm. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <time.h>
#include <unistd.h>

#include "duet.h"
#include "util.h"
#include "parse.h"
#include "vm_store.h"
#include "vm_supervisor.h"

#define MIN_MEMORY (16ULL << 20)  /* SeaBIOS and the smallest guest */
#define MIN_DISK (1ULL << 20)
#define MAX_TIMEOUT 86400
/* How long `duet vm stop` waits for the supervisor beyond the guest's
 * timeout (it then kills duet-vmm, which takes at most 5 s, and
 * duet-display, as long). */
#define STOP_SLACK_S 20

static const char vm_usage_text[] =
	"Usage: duet vm COMMAND [ARGS...]\n\n"
	"The school's servers as VMs on this server, run by duet-vmm under a\n"
	"supervisor and watched and driven over VNC (a headless duet-display).\n\n"
	"Commands:\n"
	"  create NAME [OPTION]...  a new VM: a new disk and an ISO to install from\n"
	"  start NAME [--foreground]  start its supervisor (the VM keeps running\n"
	"                           after duet exits)\n"
	"  stop NAME [--force] [--timeout S]  ACPI power button, then kill\n"
	"  destroy NAME [--yes]     stop it and remove its directory and disk\n"
	"  list                     every VM, its state, pid and VNC address\n"
	"  eject NAME               take the ISO out and boot from the disk\n\n"
	"`duet vm COMMAND --help` for a command's options. See docs/duet-vm.md.\n";

static const char create_usage[] =
	"Usage: duet vm create NAME [OPTION]...\n"
	"Make a VM: a directory under [server] vms with duet-vmm's and duet-display's\n"
	"configuration and a new sparse raw disk. With --iso it boots the CD first\n"
	"(cdrom,disk) until `duet vm eject NAME`.\n\n"
	"  --memory SIZE            guest RAM, K/M/G/T (default: 1G)\n"
	"  --cpus N                 vCPUs, 1-64 (default: 1)\n"
	"  --disk-size SIZE         size of the new disk (default: 20G)\n"
	"  --disk FILE              use this raw image or block device instead (kept by\n"
	"                           `duet vm destroy`)\n"
	"  --iso FILE               an ISO in the CD-ROM drive to install from\n"
	"  --net user|bridge=BR|none  user-mode NAT (default), a TAP in bridge BR, or\n"
	"                           no NIC\n"
	"  --vnc-port N             where VNC clients see and drive the guest (default:\n"
	"                           the first free of 5901, 5903, ...); N-1 serves the\n"
	"                           display's composed screen, view-only\n"
	"  --vnc-listen ADDR        a numeric IPv4/IPv6 address (default: 127.0.0.1)\n"
	"  --vnc-password-file F    the VNC password (its first line; copied into the VM's\n"
	"                           directory); needed beyond loopback\n"
	"  -h, --help               this help\n";

static const char start_usage[] =
	"Usage: duet vm start NAME [--foreground]\n"
	"Start the VM's supervisor: it runs a headless duet-display and duet-vmm,\n"
	"restarts duet-vmm when it crashes, and stops when asked (duet vm stop) or\n"
	"when the guest powers off. It runs as a daemon unless --foreground (for\n"
	"systemd or runit).\n\n"
	"  --foreground             run the supervisor in this process, logging to\n"
	"                           stderr too\n"
	"  -h, --help               this help\n";

static const char stop_usage[] =
	"Usage: duet vm stop NAME [--force] [--timeout S]\n"
	"Press the VM's ACPI power button and wait for the guest to shut down; after\n"
	"the timeout, kill it. The supervisor does not restart a VM asked to stop.\n\n"
	"  --timeout S              how long the guest gets, 0-86400 s (default: 60)\n"
	"  --force                  kill it at once\n"
	"  -h, --help               this help\n";

static const char destroy_usage[] =
	"Usage: duet vm destroy NAME [--yes]\n"
	"Stop the VM (at once) if it runs and remove its directory, disk included.\n"
	"An ISO and a --disk FILE from elsewhere are kept. Without --yes it asks on\n"
	"the terminal, and refuses without one.\n\n"
	"  -y, --yes                do not ask\n"
	"  -h, --help               this help\n";

static const char list_usage[] =
	"Usage: duet vm list\n"
	"Every VM: NAME, STATE (running, stopped, starting, stopping,\n"
	"crashed-restarting), PID (duet-vmm's), MEMORY, CPUS, VNC (address:port to\n"
	"connect to) and DISK (its size).\n";

static const char eject_usage[] =
	"Usage: duet vm eject NAME\n"
	"Take the ISO out of the VM's CD-ROM drive and boot from its disk, from the\n"
	"VM's next start on (after installing from the ISO).\n";

#define vm_fail(name, ...) fail_named("vm", (name), __VA_ARGS__)

static int usage_error(const char *cmd, const char *usage, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int usage_error(const char *cmd, const char *usage, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "duet vm %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n%s", usage);
	return 2;
}

/* One positional NAME after the options, or a usage error. */
static int take_name(const char *cmd, const char *usage, int argc, char **argv,
		     const char **name)
{
	if (optind >= argc)
		return usage_error(cmd, usage, "which VM? (a NAME is needed)");
	if (optind + 1 < argc)
		return usage_error(cmd, usage, "one NAME only ('%s' is extra)", argv[optind + 1]);
	*name = argv[optind];
	return 0;
}

static int bad_name(const char *name)
{
	return vm_fail(name, "not a valid VM name (1-%d of a-z, 0-9, _ and -, starting with a "
			     "letter or digit; not 'screen')", VM_NAME_MAX);
}

/* load: the VM, or one line saying why not. */
static int load(struct duet_ctx *ctx, const char *name, struct vm_info *vm)
{
	char err[PATH_MAX + 128];

	if (!vm_name_valid(name))
		return bad_name(name);
	int rc = vm_load(ctx->conf, name, vm, err, sizeof err);
	if (rc == -ENOENT)
		return vm_fail(name, "no such VM in %s (duet vm list)", ctx->conf->server.vm_dir);
	if (rc)
		return vm_fail(name, "%s", err);
	return 0;
}

static int parse_uint(const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	if (!isdigit((unsigned char)s[0]))
		return -EINVAL;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static bool is_loopback(const char *addr)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (inet_pton(AF_INET, addr, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	return inet_pton(AF_INET6, addr, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}

static bool is_address(const char *addr)
{
	struct in_addr a4;
	struct in6_addr a6;

	return inet_pton(AF_INET, addr, &a4) == 1 || inet_pton(AF_INET6, addr, &a6) == 1;
}

/* port_owner: the other VM whose ports {p-1, p} meet ours, or NULL. */
static char *port_owner(struct duet_ctx *ctx, const char *self, int port, int *their_port)
{
	char **names;
	size_t count;
	char *owner = NULL;

	if (vm_list_names(ctx->conf, &names, &count))
		return NULL;
	for (size_t i = 0; i < count; i++) {
		struct vm_info other;
		char err[256];
		if (!owner && strcmp(names[i], self) &&
		    vm_load(ctx->conf, names[i], &other, err, sizeof err) == 0 &&
		    abs(other.vnc_port - port) <= 1) {
			owner = strdup(names[i]);
			*their_port = other.vnc_port;
		}
		free(names[i]);
	}
	free(names);
	return owner;
}

static bool ports_bindable(const char *addr, int port)
{
	return vm_port_bindable(addr, port - 1) && vm_port_bindable(addr, port);
}

static int check_file(const char *name, const char *what, const char *arg, bool writable,
		      char resolved[PATH_MAX])
{
	struct stat st;

	if (!realpath(arg, resolved) || stat(resolved, &st) < 0)
		return vm_fail(name, "%s '%s': %s", what, arg,
			       errno == ENOENT ? "no such file" : strerror(errno));
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
		return vm_fail(name, "%s '%s': not a file", what, arg);
	if (access(resolved, writable ? R_OK | W_OK : R_OK) < 0)
		return vm_fail(name, "%s '%s': cannot be %s (%s)", what, arg,
			       writable ? "read and written" : "read", strerror(errno));
	if (strpbrk(resolved, ",\n") || resolved[strlen(resolved) - 1] == ' ')
		return vm_fail(name, "%s '%s': its path may not hold a comma, a newline or end "
				     "in a space", what, arg);
	return 0;
}

static void memory_text(uint64_t bytes, char *buf, size_t size)
{
	if (bytes % (1ULL << 30) == 0)
		snprintf(buf, size, "%lluG", (unsigned long long)(bytes >> 30));
	else
		snprintf(buf, size, "%lluM", (unsigned long long)(bytes >> 20));
}

static void default_boot(struct vm_info *vm)
{
	if (vm->cdrom[0])
		snprintf(vm->boot, sizeof vm->boot, "cdrom,disk");
	else if (vm->net[0])
		snprintf(vm->boot, sizeof vm->boot, "disk,net");
	else
		snprintf(vm->boot, sizeof vm->boot, "disk");
}

static int copy_password(struct vm_info *vm, const char *file)
{
	char *text;
	size_t len;
	int rc = read_file(file, 65536, &text, &len);

	if (rc)
		return vm_fail(vm->name, "VNC password file '%s': %s", file, strerror(-rc));
	text[strcspn(text, "\r\n")] = '\0';
	if (!text[0]) {
		free(text);
		return vm_fail(vm->name, "VNC password file '%s': its first line is empty", file);
	}
	vm_dir_path(vm, "vnc.pass", vm->vnc_password_file, sizeof vm->vnc_password_file);
	size_t n = strlen(text);
	text[n] = '\n';
	rc = write_file_atomic(vm->vnc_password_file, text, n + 1, 0600);
	free(text);
	if (rc)
		return vm_fail(vm->name, "cannot write %s: %s", vm->vnc_password_file,
			       strerror(-rc));
	return 0;
}

struct create_args {
	const char *memory, *cpus, *disk_size, *disk, *iso, *net, *vnc_port, *vnc_listen,
		*vnc_password_file;
};

/* create_validate: everything that can be checked before the directory
 * exists; fills vm except the disk and the password file. */
static int create_validate(struct duet_ctx *ctx, const struct create_args *a, struct vm_info *vm,
			   uint64_t *disk_size)
{
	const char *name = vm->name;
	uint64_t memory;
	unsigned long n;
	struct sysinfo si;

	if (parse_size(a->memory, &memory) || memory < MIN_MEMORY || memory % (1 << 20))
		return vm_fail(name, "--memory '%s': not a size of at least 16M in whole MiB "
				     "(e.g. 512M, 2G)", a->memory);
	if (sysinfo(&si) == 0 &&
	    memory > ((uint64_t)si.totalram + si.totalswap) * si.mem_unit)
		return vm_fail(name, "--memory %s: more than this host has (RAM and swap)",
			       a->memory);
	memory_text(memory, vm->memory, sizeof vm->memory);
	if (parse_uint(a->cpus, 64, &n) || n < 1)
		return vm_fail(name, "--cpus '%s': not a number from 1 to 64", a->cpus);
	vm->cpus = (unsigned)n;

	if (a->disk && a->disk_size)
		return vm_fail(name, "--disk and --disk-size do not go together (a disk of your "
				     "own has its size)");
	if (a->disk) {
		if (check_file(name, "disk", a->disk, true, vm->disk))
			return 1;
		*disk_size = 0;
	} else {
		const char *size = a->disk_size ? a->disk_size : "20G";
		if (parse_size(size, disk_size) || *disk_size < MIN_DISK || *disk_size % 512 ||
		    *disk_size > (1ULL << 46))
			return vm_fail(name, "--disk-size '%s': not a size from 1M to 64T in whole "
					     "512-byte sectors (e.g. 20G)", size);
		vm_dir_path(vm, "disk.raw", vm->disk, sizeof vm->disk);
	}
	if (a->iso && check_file(name, "ISO", a->iso, false, vm->cdrom))
		return 1;

	const char *net = a->net ? a->net : "user";
	if (!strcmp(net, "user")) {
		snprintf(vm->net, sizeof vm->net, "user");
	} else if (!strcmp(net, "none")) {
		vm->net[0] = '\0';
	} else if (!strncmp(net, "bridge=", 7)) {
		const char *br = net + 7;
		char sys[PATH_MAX];
		if (!br[0] || strlen(br) >= IFNAMSIZ || strpbrk(br, "/ \t\n,:") || br[0] == '.')
			return vm_fail(name, "--net '%s': '%s' is not an interface name", net, br);
		snprintf(sys, sizeof sys, "/sys/class/net/%s/bridge", br);
		if (access(sys, F_OK) < 0)
			return vm_fail(name, "--net '%s': there is no bridge '%s' on this host "
					     "(ip link add %s type bridge)", net, br, br);
		char tap[IFNAMSIZ];
		vm_tap_name(name, tap);
		snprintf(vm->bridge, sizeof vm->bridge, "%s", br);
		snprintf(vm->net, sizeof vm->net, "tap=%s", tap);
	} else {
		return vm_fail(name, "--net '%s': expected user, bridge=BRIDGE or none", net);
	}
	default_boot(vm);

	const char *listen = a->vnc_listen ? a->vnc_listen : "127.0.0.1";
	if (!is_address(listen))
		return vm_fail(name, "--vnc-listen '%s': not a numeric IPv4 or IPv6 address", listen);
	if (!is_loopback(listen) && !a->vnc_password_file)
		return vm_fail(name, "VNC on %s reaches beyond this host: give it a password "
				     "(--vnc-password-file FILE)", listen);
	snprintf(vm->vnc_listen, sizeof vm->vnc_listen, "%s", listen);

	int their;
	char *owner;
	if (a->vnc_port) {
		if (parse_uint(a->vnc_port, 65520, &n) || n < 2)
			return vm_fail(name, "--vnc-port '%s': not a port from 2 to 65520",
				       a->vnc_port);
		vm->vnc_port = (int)n;
		if ((owner = port_owner(ctx, name, vm->vnc_port, &their))) {
			vm_fail(name, "VNC port %d is taken: vm '%s' uses ports %d and %d",
				vm->vnc_port, owner, their - 1, their);
			free(owner);
			return 1;
		}
		if (!ports_bindable(listen, vm->vnc_port))
			return vm_fail(name, "VNC port %d (or %d, its composed screen) is in use on %s "
					     "by another program", vm->vnc_port, vm->vnc_port - 1, listen);
	} else {
		for (vm->vnc_port = VM_DEFAULT_VNC_PORT;; vm->vnc_port += 2) {
			if (vm->vnc_port > 65520)
				return vm_fail(name, "no free VNC port pair from %d up; give --vnc-port",
					       VM_DEFAULT_VNC_PORT);
			if ((owner = port_owner(ctx, name, vm->vnc_port, &their))) {
				free(owner);
				continue;
			}
			if (ports_bindable(listen, vm->vnc_port))
				break;
		}
	}
	return 0;
}

static int vm_create(struct duet_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "memory", required_argument, NULL, 'm' },
		{ "cpus", required_argument, NULL, 'c' },
		{ "disk-size", required_argument, NULL, 's' },
		{ "disk", required_argument, NULL, 'd' },
		{ "iso", required_argument, NULL, 'i' },
		{ "net", required_argument, NULL, 'n' },
		{ "vnc-port", required_argument, NULL, 'p' },
		{ "vnc-listen", required_argument, NULL, 'l' },
		{ "vnc-password-file", required_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct create_args a = { .memory = "1G", .cpus = "1" };
	const char *name;
	struct vm_info vm;
	uint64_t disk_size = 0;
	int c, rc;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'm': a.memory = optarg; break;
		case 'c': a.cpus = optarg; break;
		case 's': a.disk_size = optarg; break;
		case 'd': a.disk = optarg; break;
		case 'i': a.iso = optarg; break;
		case 'n': a.net = optarg; break;
		case 'p': a.vnc_port = optarg; break;
		case 'l': a.vnc_listen = optarg; break;
		case 'P': a.vnc_password_file = optarg; break;
		case 'h':
			fputs(create_usage, stdout);
			return 0;
		default:
			fputs(create_usage, stderr);
			return 2;
		}
	}
	if ((rc = take_name("create", create_usage, argc, argv, &name)))
		return rc;
	if (!vm_name_valid(name))
		return bad_name(name);
	if (vm_paths(ctx->conf, name, &vm))
		return vm_fail(name, "its socket paths under '%s' would be too long for a Unix "
				     "socket; set a shorter [server] run", ctx->conf->server.run_dir);
	struct stat st;
	if (lstat(vm.dir, &st) == 0)
		return vm_fail(name, "already exists (%s); duet vm destroy %s first, or pick "
				     "another name", vm.dir, name);
	if (create_validate(ctx, &a, &vm, &disk_size))
		return 1;

	if ((rc = mkdir_p(ctx->conf->server.vm_dir, 0755)))
		return vm_fail(name, "cannot make %s: %s", ctx->conf->server.vm_dir, strerror(-rc));
	if (mkdir(vm.dir, 0750) < 0)
		return vm_fail(name, errno == EEXIST ? "already exists (%s)" : "cannot make %s: %s",
			       vm.dir, strerror(errno));

	char err[PATH_MAX + 128];
	if (a.vnc_password_file && copy_password(&vm, a.vnc_password_file))
		goto undo;
	if (!a.disk) {
		int fd = open(vm.disk, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0 || ftruncate(fd, (off_t)disk_size) < 0) {
			vm_fail(name, "cannot make its disk %s: %s", vm.disk, strerror(errno));
			if (fd >= 0)
				close(fd);
			goto undo;
		}
		close(fd);
	}
	if (vm_write_configs(&vm, err, sizeof err)) {
		vm_fail(name, "%s", err);
		goto undo;
	}

	char size_text[32];
	struct stat dst;
	vm_format_size(stat(vm.disk, &dst) == 0 && S_ISREG(dst.st_mode) ? (uint64_t)dst.st_size : 0,
		       size_text, sizeof size_text);
	printf("vm '%s' created in %s: %s RAM, %u CPU%s, disk %s (%s)%s%s, network %s%s\n", name,
	       vm.dir, vm.memory, vm.cpus, vm.cpus == 1 ? "" : "s", vm.disk, size_text,
	       vm.cdrom[0] ? ", CD " : "", vm.cdrom,
	       vm.bridge[0] ? "bridge " : "",
	       vm.bridge[0] ? vm.bridge : vm.net[0] ? "user (NAT)" : "none");
	printf("start it with `duet vm start %s`; its screen is on VNC %s:%d\n", name,
	       vm.vnc_listen, vm.vnc_port);
	return 0;

undo:
	vm_remove_tree(vm.dir);
	return 1;
}

static void vnc_address(const struct vm_info *vm, char *buf, size_t size)
{
	if (strchr(vm->vnc_listen, ':'))
		snprintf(buf, size, "[%s]:%d", vm->vnc_listen, vm->vnc_port);
	else
		snprintf(buf, size, "%s:%d", vm->vnc_listen, vm->vnc_port);
}

static int vm_start(struct duet_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "foreground", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool foreground = false;
	const char *name;
	struct vm_info vm;
	int c, rc;

	while ((c = getopt_long(argc, argv, "fh", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			foreground = true;
			break;
		case 'h':
			fputs(start_usage, stdout);
			return 0;
		default:
			fputs(start_usage, stderr);
			return 2;
		}
	}
	if ((rc = take_name("start", start_usage, argc, argv, &name)))
		return rc;
	if (load(ctx, name, &vm))
		return 1;
	pid_t sup = vm_supervisor_pid(&vm);
	if (sup) {
		if (foreground)
			return vm_fail(name, "is already running (supervisor pid %d)", (int)sup);
		printf("vm '%s' is already running (supervisor pid %d)\n", name, (int)sup);
		return 0;
	}
	if (access(vm.disk, R_OK | W_OK) < 0)
		return vm_fail(name, "its disk '%s': %s", vm.disk, strerror(errno));
	if (vm.cdrom[0] && access(vm.cdrom, R_OK) < 0)
		return vm_fail(name, "its ISO '%s': %s (put it back, or `duet vm eject %s`)",
			       vm.cdrom, strerror(errno), name);
	if (!ports_bindable(vm.vnc_listen, vm.vnc_port))
		return vm_fail(name, "VNC port %d (or %d, its composed screen) is in use on %s by "
				     "another program", vm.vnc_port, vm.vnc_port - 1, vm.vnc_listen);

	char vnc[96];
	vnc_address(&vm, vnc, sizeof vnc);
	if (foreground)
		return vm_supervise(&vm, ctx->argv0_dir, -1, true);

	char msg[1024];
	if (vm_start_daemon(&vm, ctx->argv0_dir, msg, sizeof msg))
		return vm_fail(name, "%s", msg);
	struct vm_state st;
	vm_state_read(&vm, &st);
	printf("vm '%s' started (supervisor pid %d, duet-vmm pid %d); VNC %s\n", name,
	       (int)vm_supervisor_pid(&vm), (int)st.vmm_pid, vnc);
	return 0;
}

static bool sleep_until_stopped(const struct vm_info *vm, int seconds)
{
	struct timespec tick = { 0, 100 * 1000000L };

	for (long i = 0; i < seconds * 10L; i++) {
		if (!vm_supervisor_pid(vm))
			return true;
		nanosleep(&tick, NULL);
	}
	return !vm_supervisor_pid(vm);
}

/* kill_leftovers: the supervisor did not end in time: SIGKILL it and the
 * children its pid files name (they also get SIGTERM from the kernel as
 * their parent dies). */
static void kill_leftovers(const struct vm_info *vm, pid_t sup)
{
	static const char *const files[] = { "vmm.pid", "display.pid" };
	char path[PATH_MAX];

	kill(sup, SIGKILL);
	for (size_t i = 0; i < 2; i++) {
		char *text;
		size_t len;
		vm_run_path(vm, files[i], path, sizeof path);
		if (read_file(path, 64, &text, &len) == 0) {
			pid_t pid = (pid_t)atoi(text);
			if (pid > 1)
				kill(pid, SIGKILL);
			free(text);
		}
	}
}

/* stop_vm: timeout < 0 kills at once. */
static int stop_vm(const struct vm_info *vm, int timeout, bool quiet)
{
	pid_t sup = vm_supervisor_pid(vm);
	char path[PATH_MAX], reason[512];

	if (!sup) {
		if (!quiet)
			printf("vm '%s' is not running\n", vm->name);
		return 0;
	}
	if (sup < 0)
		return vm_fail(vm->name, "its supervisor runs in another pid namespace (a container?); "
					 "stop it from there");
	vm_dir_path(vm, "last-stop", path, sizeof path);
	unlink(path);
	if (timeout < 0) {
		kill(sup, SIGTERM);
	} else {
		union sigval v = { .sival_int = timeout };
		if (sigqueue(sup, SIGUSR1, v) < 0)
			return vm_fail(vm->name, "cannot signal its supervisor (pid %d): %s", (int)sup,
				       strerror(errno));
		struct vm_state st;
		if (!quiet && timeout > 0 && vm_state_read(vm, &st) == 0 &&
		    !strcmp(st.state, "running")) {
			printf("vm '%s': pressing the power button; waiting up to %d s for the guest "
			       "to shut down\n", vm->name, timeout);
			fflush(stdout);
		}
	}
	if (!sleep_until_stopped(vm, (timeout > 0 ? timeout : 0) + STOP_SLACK_S)) {
		kill_leftovers(vm, sup);
		sleep_until_stopped(vm, 2);
		return vm_fail(vm->name, "its supervisor (pid %d) did not stop; killed it (see %s/"
					 "supervisor.log)", (int)sup, vm->dir);
	}
	vm_last_line(path, reason, sizeof reason);
	if (!quiet)
		printf("vm '%s' stopped%s%s%s\n", vm->name, reason[0] ? " (" : "", reason,
		       reason[0] ? ")" : "");
	return 0;
}

static int vm_stop(struct duet_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "force", no_argument, NULL, 'f' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool force = false;
	unsigned long timeout = VM_STOP_TIMEOUT_DEFAULT;
	const char *name;
	struct vm_info vm;
	int c, rc;

	while ((c = getopt_long(argc, argv, "ft:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'f':
			force = true;
			break;
		case 't':
			if (parse_uint(optarg, MAX_TIMEOUT, &timeout))
				return usage_error("stop", stop_usage,
						   "--timeout '%s': not a number of seconds from 0 to %d",
						   optarg, MAX_TIMEOUT);
			break;
		case 'h':
			fputs(stop_usage, stdout);
			return 0;
		default:
			fputs(stop_usage, stderr);
			return 2;
		}
	}
	if ((rc = take_name("stop", stop_usage, argc, argv, &name)))
		return rc;
	if (load(ctx, name, &vm))
		return 1;
	return stop_vm(&vm, force ? -1 : (int)timeout, false);
}

static int vm_destroy(struct duet_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "yes", no_argument, NULL, 'y' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool yes = false;
	const char *name;
	struct vm_info vm;
	int c, rc;

	while ((c = getopt_long(argc, argv, "yh", longopts, NULL)) != -1) {
		switch (c) {
		case 'y':
			yes = true;
			break;
		case 'h':
			fputs(destroy_usage, stdout);
			return 0;
		default:
			fputs(destroy_usage, stderr);
			return 2;
		}
	}
	if ((rc = take_name("destroy", destroy_usage, argc, argv, &name)))
		return rc;
	if (load(ctx, name, &vm))
		return 1;
	char ours[PATH_MAX];
	vm_dir_path(&vm, "disk.raw", ours, sizeof ours);
	bool own_disk = !strcmp(ours, vm.disk);
	if (!yes) {
		if (!isatty(STDIN_FILENO))
			return vm_fail(name, "destroying it removes %s%s; there is no terminal to "
					     "ask on, so say --yes", vm.dir,
				       own_disk ? " and its disk" : "");
		printf("Destroy vm '%s': stop it and remove %s%s? [y/N] ", name, vm.dir,
		       own_disk ? " with its disk" : "");
		fflush(stdout);
		char answer[16];
		if (!fgets(answer, sizeof answer, stdin) || (answer[0] != 'y' && answer[0] != 'Y')) {
			printf("vm '%s' kept\n", name);
			return 1;
		}
	}
	if (vm_supervisor_pid(&vm) && stop_vm(&vm, -1, true))
		return 1;
	if ((rc = vm_remove_tree(vm.dir)))
		return vm_fail(name, "cannot remove %s: %s", vm.dir, strerror(-rc));
	vm_remove_tree(vm.run);
	printf("vm '%s' destroyed (%s removed", name, vm.dir);
	if (!own_disk)
		printf("; its disk %s is kept", vm.disk);
	if (vm.cdrom[0])
		printf("; the ISO %s is kept", vm.cdrom);
	printf(")\n");
	return 0;
}

static int vm_list(struct duet_ctx *ctx, int argc, char **argv)
{
	char **names;
	size_t count;
	int rc;

	if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		fputs(list_usage, stdout);
		return 0;
	}
	if (argc > 1)
		return usage_error("list", list_usage, "unexpected '%s'", argv[1]);
	if ((rc = vm_list_names(ctx->conf, &names, &count))) {
		fprintf(stderr, "duet: vm list: cannot read %s: %s\n", ctx->conf->server.vm_dir,
			strerror(-rc));
		return 1;
	}
	if (!count) {
		printf("no VMs in %s (duet vm create NAME --iso FILE)\n", ctx->conf->server.vm_dir);
		free(names);
		return 0;
	}
	int width = 4;
	for (size_t i = 0; i < count; i++)
		if ((int)strlen(names[i]) > width)
			width = (int)strlen(names[i]);
	printf("%-*s  %-18s  %7s  %6s  %4s  %-21s  %s\n", width, "NAME", "STATE", "PID", "MEMORY",
	       "CPUS", "VNC", "DISK");
	for (size_t i = 0; i < count; i++) {
		struct vm_info vm;
		char err[PATH_MAX + 128], pid[16] = "-", vnc[96], disk[32] = "?";
		struct vm_state st = { .state = "stopped" };
		if (vm_load(ctx->conf, names[i], &vm, err, sizeof err)) {
			printf("%-*s  %-18s  (%s)\n", width, names[i], "broken", err);
			free(names[i]);
			continue;
		}
		if (vm_supervisor_pid(&vm))
			vm_state_read(&vm, &st);
		if (st.vmm_pid)
			snprintf(pid, sizeof pid, "%d", (int)st.vmm_pid);
		vnc_address(&vm, vnc, sizeof vnc);
		struct stat dst;
		if (stat(vm.disk, &dst) == 0)
			vm_format_size((uint64_t)dst.st_size, disk, sizeof disk);
		printf("%-*s  %-18s  %7s  %6s  %4u  %-21s  %s\n", width, names[i], st.state, pid,
		       vm.memory, vm.cpus, vnc, disk);
		free(names[i]);
	}
	free(names);
	return 0;
}

static int vm_eject(struct duet_ctx *ctx, int argc, char **argv)
{
	const char *name;
	struct vm_info vm;
	char err[PATH_MAX + 128];
	int rc;

	if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		fputs(eject_usage, stdout);
		return 0;
	}
	optind = 1;
	if ((rc = take_name("eject", eject_usage, argc, argv, &name)))
		return rc;
	if (load(ctx, name, &vm))
		return 1;
	if (!vm.cdrom[0]) {
		printf("vm '%s' has no ISO in its CD-ROM drive\n", name);
		return 0;
	}
	vm.cdrom[0] = '\0';
	default_boot(&vm);
	if (vm_write_configs(&vm, err, sizeof err))
		return vm_fail(name, "%s", err);
	printf("vm '%s': ISO taken out; it boots from its disk%s\n", name,
	       vm_supervisor_pid(&vm) ? " from its next start (duet vm stop, then start)" : "");
	return 0;
}

int duet_vm_main(struct duet_ctx *ctx, int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*run)(struct duet_ctx *, int, char **);
	} commands[] = {
		{ "create", vm_create }, { "start", vm_start },     { "stop", vm_stop },
		{ "destroy", vm_destroy }, { "list", vm_list },     { "eject", vm_eject },
	};

	if (argc < 2) {
		fputs(vm_usage_text, stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		fputs(vm_usage_text, stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
		if (!strcmp(argv[1], commands[i].name)) {
			optind = 0;
			return commands[i].run(ctx, argc - 1, argv + 1);
		}
	}
	fprintf(stderr, "duet vm: no command '%s'\n%s", argv[1], vm_usage_text);
	return 2;
}
