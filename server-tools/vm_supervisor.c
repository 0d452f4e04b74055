/* duet vm: the supervisor of one server VM (see vm_supervisor.h). */
#include "vm_supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util.h"
#include "vm_control.h"

#define BACKOFF_MIN_S 1
#define BACKOFF_MAX_S 60
/* A child that ran this long before dying starts the backoff over. */
#define BACKOFF_RESET_S 60
#define DISPLAY_READY_MS 10000
#define VMM_READY_MS 20000
/* After SIGTERM, how long a child gets before SIGKILL. */
#define TERM_GRACE_MS 5000

struct child {
	const char *what;      /* "duet-vmm", "duet-display" */
	char path[PATH_MAX];   /* the binary */
	char log[PATH_MAX];    /* its stdout and stderr */
	pid_t pid;             /* 0 when not running */
	long long started_ms;
	unsigned backoff_s;
	long long restart_at;  /* 0: no restart due */
	unsigned restarts;
};

struct supervisor {
	const struct vm_info *vm;
	bool foreground;
	int log_fd;
	int lock_fd;
	struct child vmm, display;
	char tap[IFNAMSIZ];
	bool tap_made;
	bool stopping;
	long long stop_deadline; /* 0: none */
	int stop_timeout;
	char reason[512];        /* why it stopped, for last-stop */
};

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void sup_log(struct supervisor *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void sup_log(struct supervisor *s, const char *fmt, ...)
{
	char msg[1024], stamp[32], line[1200];
	time_t t = time(NULL);
	struct tm tm;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", localtime_r(&t, &tm));
	int n = snprintf(line, sizeof line, "%s duet vm '%s': %s\n", stamp, s->vm->name, msg);
	if (n > (int)sizeof line - 1)
		n = (int)sizeof line - 1;
	if (s->log_fd >= 0 && write(s->log_fd, line, (size_t)n) < 0)
		s->log_fd = -1;
	if (s->foreground)
		fprintf(stderr, "duet: vm '%s': %s\n", s->vm->name, msg);
}

static void write_state(struct supervisor *s, const char *state)
{
	char path[PATH_MAX], text[256];

	vm_run_path(s->vm, "state", path, sizeof path);
	int n = snprintf(text, sizeof text, "state=%s\nvmm-pid=%d\nrestarts=%u\nsupervisor-pid=%d\n",
			 state, (int)s->vmm.pid, s->vmm.restarts, (int)getpid());
	write_file_atomic(path, text, (size_t)n, 0644);
}

static void write_pid_file(struct supervisor *s, const char *file, pid_t pid)
{
	char path[PATH_MAX], text[32];

	vm_run_path(s->vm, file, path, sizeof path);
	if (!pid) {
		unlink(path);
		return;
	}
	int n = snprintf(text, sizeof text, "%d\n", (int)pid);
	write_file_atomic(path, text, (size_t)n, 0644);
}

static void find_binary(struct child *c, const char *bin_dir, const char *name)
{
	c->what = name;
	if (bin_dir && snprintf(c->path, sizeof c->path, "%s/%s", bin_dir, name) < (int)sizeof c->path &&
	    access(c->path, X_OK) == 0)
		return;
	snprintf(c->path, sizeof c->path, "%s", name);
}

/* spawn: starts argv with stdin on /dev/null and stdout/stderr appended to
 * the child's log, in its own process group (the terminal's ^C reaches
 * only the supervisor, which stops the children in order), and with
 * SIGTERM as its parent-death signal so that a supervisor killed with
 * SIGKILL leaves no guest behind. */
static int spawn(struct supervisor *s, struct child *c, char *const argv[])
{
	int log = open(c->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (log < 0) {
		int err = -errno;
		sup_log(s, "cannot open %s: %s", c->log, strerror(errno));
		return err;
	}
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		int err = -errno;
		close(log);
		sup_log(s, "cannot start %s: %s", c->what, strerror(errno));
		return err;
	}
	if (pid == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(1);
		int null = open("/dev/null", O_RDONLY);
		if (null >= 0)
			dup2(null, STDIN_FILENO);
		dup2(log, STDOUT_FILENO);
		dup2(log, STDERR_FILENO);
		execvp(argv[0], argv);
		dprintf(STDERR_FILENO, "duet vm: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(log);
	c->pid = pid;
	c->started_ms = now_ms();
	c->restart_at = 0;
	return 0;
}

static int start_display(struct supervisor *s)
{
	char conf[PATH_MAX], sock[PATH_MAX], control[PATH_MAX];

	vm_dir_path(s->vm, "display.conf", conf, sizeof conf);
	vm_run_path(s->vm, "display.sock", sock, sizeof sock);
	vm_run_path(s->vm, "display-control.sock", control, sizeof control);
	unlink(sock);
	unlink(control);
	char *argv[] = { s->display.path, "--config", conf, "--socket", sock,
			 "--control", control, NULL };
	int rc = spawn(s, &s->display, argv);
	if (!rc)
		write_pid_file(s, "display.pid", s->display.pid);
	return rc;
}

static int start_vmm(struct supervisor *s)
{
	char conf[PATH_MAX], display[PATH_MAX], control[PATH_MAX], serial[PATH_MAX];
	char old[PATH_MAX + 4];

	vm_dir_path(s->vm, "vm.conf", conf, sizeof conf);
	vm_run_path(s->vm, "display.sock", display, sizeof display);
	vm_run_path(s->vm, "vmm.sock", control, sizeof control);
	vm_dir_path(s->vm, "serial.log", serial, sizeof serial);
	/* duet-vmm truncates its serial file: keep the last run's (a crash's). */
	snprintf(old, sizeof old, "%s.1", serial);
	rename(serial, old);
	unlink(control);
	char *argv[] = { s->vmm.path, "--config", conf, "--display", display, "--control", control,
			 "--serial", serial, NULL };
	int rc = spawn(s, &s->vmm, argv);
	write_pid_file(s, "vmm.pid", s->vmm.pid);
	write_state(s, "running");
	return rc;
}

/* describe_exit: "exit status 1" / "killed by signal 9 (Killed)". */
static void describe_exit(int status, char *buf, size_t size)
{
	if (WIFSIGNALED(status))
		snprintf(buf, size, "killed by signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
	else
		snprintf(buf, size, "exit status %d", WEXITSTATUS(status));
}

/* wait_ready: polls the child's control socket with request until it
 * answers, the child dies (its status in *status) or timeout_ms passes. */
static int wait_ready(struct supervisor *s, struct child *c, const char *socket_file,
		      const char *request, int timeout_ms, int *status)
{
	char path[PATH_MAX], err[256];
	long long deadline = now_ms() + timeout_ms;

	vm_run_path(s->vm, socket_file, path, sizeof path);
	for (;;) {
		if (waitpid(c->pid, status, WNOHANG) == c->pid) {
			c->pid = 0;
			return -ECHILD;
		}
		if (vm_control_request(path, request, 2000, err, sizeof err) == 0)
			return 0;
		if (now_ms() > deadline)
			return -ETIMEDOUT;
		sleep_ms(100);
	}
}

static void kill_child(struct supervisor *s, struct child *c)
{
	int status;

	if (!c->pid)
		return;
	kill(c->pid, SIGTERM);
	long long deadline = now_ms() + TERM_GRACE_MS;
	for (;;) {
		pid_t r = waitpid(c->pid, &status, WNOHANG);
		if (r == c->pid || (r < 0 && errno == ECHILD))
			break;
		if (now_ms() > deadline) {
			sup_log(s, "%s (pid %d) did not end on SIGTERM; killing it", c->what,
				(int)c->pid);
			kill(c->pid, SIGKILL);
			waitpid(c->pid, &status, 0);
			break;
		}
		sleep_ms(20);
	}
	c->pid = 0;
}

static int run_ip(struct supervisor *s, char *const argv[])
{
	int rc = run_program(argv, true);

	if (rc) {
		char cmd[256] = "";
		for (int i = 0; argv[i]; i++) {
			strncat(cmd, argv[i], sizeof cmd - strlen(cmd) - 2);
			strcat(cmd, argv[i + 1] ? " " : "");
		}
		sup_log(s, "'%s' failed (%s)", cmd,
			rc < 0 ? strerror(-rc) : rc == 2 ? "no permission, or no such bridge?" : "see ip");
	}
	return rc ? -EIO : 0;
}

/* make_tap: a bridged VM's TAP, created for this run and put in its bridge. */
static int make_tap(struct supervisor *s)
{
	char sys[PATH_MAX];

	if (!s->vm->bridge[0])
		return 0;
	vm_tap_name(s->vm->name, s->tap);
	snprintf(sys, sizeof sys, "/sys/class/net/%s", s->tap);
	if (access(sys, F_OK) != 0) {
		char *add[] = { "ip", "tuntap", "add", "dev", s->tap, "mode", "tap", NULL };
		if (run_ip(s, add))
			return -EIO;
		s->tap_made = true;
	}
	char *master[] = { "ip", "link", "set", "dev", s->tap, "master", (char *)s->vm->bridge,
			   "up", NULL };
	return run_ip(s, master);
}

static void remove_tap(struct supervisor *s)
{
	if (!s->tap_made)
		return;
	char *del[] = { "ip", "link", "del", "dev", s->tap, NULL };
	run_ip(s, del);
	s->tap_made = false;
}

static void cleanup(struct supervisor *s)
{
	static const char *const files[] = { "vmm.sock", "display.sock", "display-control.sock",
					     "vmm.pid", "display.pid", "state" };
	char path[PATH_MAX];

	kill_child(s, &s->vmm);
	kill_child(s, &s->display);
	remove_tap(s);
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		vm_run_path(s->vm, files[i], path, sizeof path);
		unlink(path);
	}
	if (s->reason[0]) {
		char text[sizeof s->reason + 2];
		int n = snprintf(text, sizeof text, "%s\n", s->reason);
		vm_dir_path(s->vm, "last-stop", path, sizeof path);
		write_file_atomic(path, text, (size_t)n, 0644);
	}
	vm_run_path(s->vm, "supervisor.pid", path, sizeof path);
	unlink(path);
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	s->lock_fd = -1;
	rmdir(s->vm->run);
}

static void ready(int *ready_fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void ready(int *ready_fd, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (*ready_fd < 0)
		return;
	va_start(ap, fmt);
	int n = vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof msg - 1)
		n = (int)sizeof msg - 1;
	if (write(*ready_fd, msg, (size_t)n) < 0)
		n = 0;
	close(*ready_fd);
	*ready_fd = -1;
}

/* take_lock: the lock on supervisor.pid says "a supervisor runs this VM";
 * readers see it with F_GETLK (vm_supervisor_pid). A POSIX lock goes away
 * when this process closes any descriptor of the file: only this one is
 * ever opened here. */
static int take_lock(struct supervisor *s)
{
	char path[PATH_MAX], pid[32];
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };

	vm_run_path(s->vm, "supervisor.pid", path, sizeof path);
	s->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (s->lock_fd < 0)
		return -errno;
	if (fcntl(s->lock_fd, F_SETLK, &fl) < 0) {
		int err = errno == EACCES ? -EAGAIN : -errno;
		close(s->lock_fd);
		s->lock_fd = -1;
		return err;
	}
	int n = snprintf(pid, sizeof pid, "%d\n", (int)getpid());
	if (ftruncate(s->lock_fd, 0) < 0 || pwrite(s->lock_fd, pid, (size_t)n, 0) != n)
		return -errno;
	return 0;
}

static void child_died(struct supervisor *s, struct child *c, int status)
{
	char how[128], last[512];
	long long ran = now_ms() - c->started_ms;

	c->pid = 0;
	describe_exit(status, how, sizeof how);
	vm_last_line(c->log, last, sizeof last);
	if (c == &s->vmm)
		write_pid_file(s, "vmm.pid", 0);
	else
		write_pid_file(s, "display.pid", 0);
	if (s->stopping) {
		if (c == &s->vmm && !s->reason[0] && s->stop_deadline && WIFEXITED(status) &&
		    WEXITSTATUS(status) == 0)
			snprintf(s->reason, sizeof s->reason,
				 "the guest shut down on the power button");
		else if (c == &s->vmm && !s->reason[0])
			snprintf(s->reason, sizeof s->reason, "duet-vmm ended (%s)", how);
		return;
	}
	if (c == &s->vmm && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		snprintf(s->reason, sizeof s->reason,
			 "the guest powered off; it stays off until `duet vm start %s`", s->vm->name);
		s->stopping = true;
		return;
	}
	if (c == &s->vmm && WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM) {
		snprintf(s->reason, sizeof s->reason,
			 "duet-vmm was ended with SIGTERM; the VM stays off");
		s->stopping = true;
		return;
	}
	if (ran >= BACKOFF_RESET_S * 1000LL || !c->backoff_s)
		c->backoff_s = BACKOFF_MIN_S;
	else if (c->backoff_s * 2 <= BACKOFF_MAX_S)
		c->backoff_s *= 2;
	else
		c->backoff_s = BACKOFF_MAX_S;
	c->restarts++;
	c->restart_at = now_ms() + c->backoff_s * 1000LL;
	sup_log(s, "%s died after %lld s (%s%s%s); restarting it in %u s (restart %u)", c->what,
		ran / 1000, how, last[0] ? ": " : "", last, c->backoff_s, c->restarts);
	if (c == &s->vmm)
		write_state(s, "crashed-restarting");
}

static void reap(struct supervisor *s)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (pid == s->vmm.pid)
			child_died(s, &s->vmm, status);
		else if (pid == s->display.pid)
			child_died(s, &s->display, status);
	}
}

static void begin_stop(struct supervisor *s, int timeout_s)
{
	char path[PATH_MAX], err[256];

	if (s->stopping)
		return;
	s->stopping = true;
	write_state(s, "stopping");
	if (!s->vmm.pid) {
		snprintf(s->reason, sizeof s->reason, "stopped while duet-vmm was waiting to be restarted");
		return;
	}
	if (timeout_s < 0) {
		snprintf(s->reason, sizeof s->reason, "killed at once: --force");
		sup_log(s, "stopping now");
		kill_child(s, &s->vmm);
		return;
	}
	vm_run_path(s->vm, "vmm.sock", path, sizeof path);
	if (vm_control_request(path, "{\"command\": \"powerdown\"}", 3000, err, sizeof err)) {
		snprintf(s->reason, sizeof s->reason,
			 "killed: duet-vmm did not take the power button (%s)", err);
		kill_child(s, &s->vmm);
		return;
	}
	sup_log(s, "pressed the power button; waiting up to %d s for the guest to shut down",
		timeout_s);
	s->stop_timeout = timeout_s;
	s->stop_deadline = now_ms() + timeout_s * 1000LL;
}

static long long earliest(long long a, long long b)
{
	if (!a)
		return b;
	if (!b)
		return a;
	return a < b ? a : b;
}

static void run_loop(struct supervisor *s, const sigset_t *set)
{
	while (!(s->stopping && !s->vmm.pid)) {
		long long due = earliest(earliest(s->vmm.restart_at, s->display.restart_at),
					 s->stop_deadline);
		long long wait = due ? due - now_ms() : 3600 * 1000LL;
		if (wait < 0)
			wait = 0;
		struct timespec ts = { .tv_sec = wait / 1000, .tv_nsec = (long)(wait % 1000) * 1000000 };
		siginfo_t si;
		int sig = sigtimedwait(set, &si, &ts);

		/* Take every pending signal before acting: a stop request that
		 * arrives with a child's death wins over restarting it. */
		while (sig > 0) {
			if (sig == SIGUSR1)
				begin_stop(s, si.si_code == SI_QUEUE ? si.si_value.sival_int
								   : VM_STOP_TIMEOUT_DEFAULT);
			else if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP)
				begin_stop(s, -1);
			else if (sig == SIGCHLD)
				reap(s);
			struct timespec zero = { 0, 0 };
			sig = sigtimedwait(set, &si, &zero);
		}
		long long now = now_ms();
		if (s->stopping) {
			if (s->vmm.pid && s->stop_deadline && now >= s->stop_deadline) {
				snprintf(s->reason, sizeof s->reason,
					 "killed after %d s: the guest did not shut down on the power button",
					 s->stop_timeout);
				s->stop_deadline = 0;
				kill_child(s, &s->vmm);
			}
			continue;
		}
		/* A start that fails (no log file, fork's EAGAIN) waits
		 * like a crash does, rather than trying again at once. */
		if (s->display.restart_at && now >= s->display.restart_at && start_display(s) != 0)
			s->display.restart_at = now + BACKOFF_MAX_S * 1000LL;
		if (s->vmm.restart_at && now >= s->vmm.restart_at) {
			if (start_vmm(s) == 0)
				sup_log(s, "duet-vmm restarted (pid %d)", (int)s->vmm.pid);
			else
				s->vmm.restart_at = now + BACKOFF_MAX_S * 1000LL;
		}
	}
}

int vm_supervise(const struct vm_info *vm, const char *bin_dir, int ready_fd, bool foreground)
{
	struct supervisor sup = { .vm = vm, .foreground = foreground, .log_fd = -1, .lock_fd = -1 };
	struct supervisor *s = &sup;
	char path[PATH_MAX], last[512], how[128];
	sigset_t set;
	int status, rc;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	if ((rc = mkdir_p(vm->run, 0700))) {
		if (foreground)
			fprintf(stderr, "duet: vm '%s': cannot make %s: %s\n", vm->name, vm->run,
				strerror(-rc));
		ready(&ready_fd, "error: cannot make %s: %s\n", vm->run, strerror(-rc));
		return 1;
	}
	if ((rc = take_lock(s))) {
		const char *why = rc == -EAGAIN ? "is already running" : strerror(-rc);
		if (foreground)
			fprintf(stderr, "duet: vm '%s': %s\n", vm->name, why);
		ready(&ready_fd, "error: %s\n", why);
		return 1;
	}
	vm_dir_path(vm, "supervisor.log", path, sizeof path);
	s->log_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	find_binary(&s->vmm, bin_dir, "duet-vmm");
	find_binary(&s->display, bin_dir, "duet-display");
	vm_dir_path(vm, "vmm.log", s->vmm.log, sizeof s->vmm.log);
	vm_dir_path(vm, "display.log", s->display.log, sizeof s->display.log);
	sup_log(s, "supervisor %d starting (%s, %s)", (int)getpid(), s->vmm.path, s->display.path);
	write_state(s, "starting");

	if (make_tap(s)) {
		ready(&ready_fd, "error: cannot put TAP %s in bridge %s (see %s)\n", s->tap,
		      vm->bridge, path);
		goto failed;
	}
	if (start_display(s) ||
	    (rc = wait_ready(s, &s->display, "display-control.sock", "{\"command\": \"list\"}",
			     DISPLAY_READY_MS, &status))) {
		vm_last_line(s->display.log, last, sizeof last);
		sup_log(s, "duet-display did not start: %s", last[0] ? last : "no reason given");
		ready(&ready_fd, "error: duet-display did not start: %s (more in %s)\n",
		      last[0] ? last : "no reason given", s->display.log);
		goto failed;
	}
	if (start_vmm(s) ||
	    (rc = wait_ready(s, &s->vmm, "vmm.sock", "{\"command\": \"status\"}", VMM_READY_MS,
			     &status))) {
		vm_last_line(s->vmm.log, last, sizeof last);
		if (rc == -ECHILD)
			describe_exit(status, how, sizeof how);
		else
			snprintf(how, sizeof how, "no answer on its control socket");
		sup_log(s, "duet-vmm did not start (%s): %s", how, last);
		ready(&ready_fd, "error: duet-vmm did not start (%s): %s (more in %s)\n", how,
		      last[0] ? last : "no reason given", s->vmm.log);
		goto failed;
	}
	sup_log(s, "running: duet-vmm pid %d, duet-display pid %d, VNC %s:%d", (int)s->vmm.pid,
		(int)s->display.pid, vm->vnc_listen, vm->vnc_port);
	ready(&ready_fd, "ok\n");

	run_loop(s, &set);
	sup_log(s, "stopped: %s", s->reason);
	cleanup(s);
	if (s->log_fd >= 0)
		close(s->log_fd);
	return 0;

failed:
	snprintf(s->reason, sizeof s->reason, "it could not start");
	cleanup(s);
	if (s->log_fd >= 0)
		close(s->log_fd);
	return 1;
}

int vm_start_daemon(const struct vm_info *vm, const char *bin_dir, char *msg, size_t msglen)
{
	int p[2];
	int status;

	msg[0] = '\0';
	if (pipe2(p, O_CLOEXEC) < 0) {
		snprintf(msg, msglen, "pipe: %s", strerror(errno));
		return -errno;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(msg, msglen, "fork: %s", strerror(errno));
		close(p[0]);
		close(p[1]);
		return -EAGAIN;
	}
	if (pid == 0) {
		close(p[0]);
		if (setsid() < 0)
			_exit(1);
		pid_t daemon = fork();
		if (daemon != 0)
			_exit(daemon < 0);
		if (chdir("/") < 0)
			_exit(1);
		umask(027);
		int null = open("/dev/null", O_RDWR);
		if (null >= 0) {
			dup2(null, STDIN_FILENO);
			dup2(null, STDOUT_FILENO);
			dup2(null, STDERR_FILENO);
			if (null > STDERR_FILENO)
				close(null);
		}
		_exit(vm_supervise(vm, bin_dir, p[1], false));
	}
	close(p[1]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	size_t len = 0;
	char buf[1024];
	for (;;) {
		ssize_t n = read(p[0], buf + len, sizeof buf - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len == sizeof buf - 1)
			break;
	}
	close(p[0]);
	buf[len] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	if (!strcmp(buf, "ok"))
		return 0;
	if (!strncmp(buf, "error: ", 7))
		snprintf(msg, msglen, "%s", buf + 7);
	else
		snprintf(msg, msglen, "the supervisor ended before the VM ran (see %s/supervisor.log)",
			 vm->dir);
	return -EIO;
}
