/* Processes for `duet image` (see image_run.h). */
#include "image_run.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

struct sink {
	int fd;
	char *buf;
	size_t size, len;
};

/* sink_read: one read from the pipe into the buffer (the excess is
 * dropped); false at EOF or on an error. */
static bool sink_read(struct sink *s)
{
	char scratch[4096];
	char *dst = s->len + 1 < s->size ? s->buf + s->len : scratch;
	size_t room = s->len + 1 < s->size ? s->size - 1 - s->len : sizeof scratch;
	ssize_t n = read(s->fd, dst, room);

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return true;
	if (n <= 0)
		return false;
	if (dst != scratch) {
		s->len += (size_t)n;
		s->buf[s->len] = '\0';
	}
	return true;
}

/* start_child: forks argv with the given fds as its stdin, stdout and
 * stderr (-1: inherited); the child gets SIGKILL when we die. exec_pipe
 * (close-on-exec) carries the child's errno when exec fails. */
static pid_t start_child(char *const argv[], int in_fd, int out_fd, int err_fd, int exec_pipe)
{
	pid_t parent = getpid();
	pid_t pid = fork();

	if (pid != 0)
		return pid < 0 ? -errno : pid;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);
	if (in_fd >= 0)
		dup2(in_fd, STDIN_FILENO);
	if (out_fd >= 0)
		dup2(out_fd, STDOUT_FILENO);
	if (err_fd >= 0)
		dup2(err_fd, STDERR_FILENO);
	/* `duet image serve` blocks the signals it reads from a signalfd. */
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	execvp(argv[0], argv);
	int e = errno;
	if (write(exec_pipe, &e, sizeof e) < 0)
		_exit(127);
	_exit(127);
}

/* finish_child: reaps pid; -errno when its exec failed (exec_pipe says). */
static int finish_child(pid_t pid, int exec_pipe)
{
	int child_errno = 0;
	ssize_t n;

	while ((n = read(exec_pipe, &child_errno, sizeof child_errno)) < 0 && errno == EINTR)
		;
	close(exec_pipe);
	int status = wait_status(pid);
	if (n == (ssize_t)sizeof child_errno)
		return -child_errno;
	return status;
}

static void close_pair(int fds[2])
{
	for (int i = 0; i < 2; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

int image_run(char *const argv[], char *out, size_t out_size, char *err, size_t err_size)
{
	int out_pipe[2] = { -1, -1 }, err_pipe[2] = { -1, -1 }, exec_pipe[2] = { -1, -1 };

	if (out && out_size)
		out[0] = '\0';
	if (err && err_size)
		err[0] = '\0';
	if (pipe2(exec_pipe, O_CLOEXEC) < 0 || (out && pipe2(out_pipe, O_CLOEXEC) < 0) ||
	    (err && pipe2(err_pipe, O_CLOEXEC) < 0)) {
		int e = -errno;
		close_pair(out_pipe);
		close_pair(err_pipe);
		close_pair(exec_pipe);
		return e;
	}
	pid_t pid = start_child(argv, -1, out_pipe[1], err_pipe[1], exec_pipe[1]);
	close(exec_pipe[1]);
	if (out)
		close(out_pipe[1]);
	if (err)
		close(err_pipe[1]);
	if (pid < 0) {
		if (out)
			close(out_pipe[0]);
		if (err)
			close(err_pipe[0]);
		close(exec_pipe[0]);
		return (int)pid;
	}
	struct sink sinks[2] = {
		{ out ? out_pipe[0] : -1, out, out_size, 0 },
		{ err ? err_pipe[0] : -1, err, err_size, 0 },
	};
	for (;;) {
		struct pollfd pfd[2];
		int n = 0;
		for (int i = 0; i < 2; i++)
			if (sinks[i].fd >= 0)
				pfd[n++] = (struct pollfd){ .fd = sinks[i].fd, .events = POLLIN };
		if (n == 0)
			break;
		if (poll(pfd, (nfds_t)n, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (int i = 0; i < n; i++) {
			if (!pfd[i].revents)
				continue;
			struct sink *s = sinks[0].fd == pfd[i].fd ? &sinks[0] : &sinks[1];
			if (!sink_read(s)) {
				close(s->fd);
				s->fd = -1;
			}
		}
	}
	for (int i = 0; i < 2; i++)
		if (sinks[i].fd >= 0)
			close(sinks[i].fd);
	return finish_child(pid, exec_pipe[0]);
}

/* Past this size a daemon's log starts again from empty. */
#define DAEMON_LOG_MAX (1 << 20)

int image_run_daemon(char *const argv[], const char *log_path, char *err, size_t err_size)
{
	int exec_pipe[2] = { -1, -1 };

	if (err && err_size)
		err[0] = '\0';
	int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (null_fd < 0)
		return -errno;
	int log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (log_fd < 0) {
		int e = -errno;
		close(null_fd);
		return e;
	}
	struct stat st;
	if (fstat(log_fd, &st) == 0 && st.st_size > DAEMON_LOG_MAX && ftruncate(log_fd, 0) == 0)
		st.st_size = 0;
	off_t start = st.st_size;
	if (pipe2(exec_pipe, O_CLOEXEC) < 0) {
		int e = -errno;
		close(null_fd);
		close(log_fd);
		return e;
	}
	pid_t pid = start_child(argv, null_fd, log_fd, log_fd, exec_pipe[1]);
	close(exec_pipe[1]);
	close(null_fd);
	if (pid < 0) {
		close(exec_pipe[0]);
		close(log_fd);
		return (int)pid;
	}
	/* Only the direct child's exit is waited for: the daemon it forks may
	 * keep the log open for its whole life. */
	int status = finish_child(pid, exec_pipe[0]);
	close(log_fd);
	if (!err || err_size < 2)
		return status;
	int fd = open(log_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return status;
	size_t len = 0;
	ssize_t n;
	while (len + 1 < err_size &&
	       (n = pread(fd, err + len, err_size - 1 - len, start + (off_t)len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		len += (size_t)n;
	}
	err[len] = '\0';
	close(fd);
	return status;
}

const char *image_last_line(char *text)
{
	size_t len = strlen(text);

	while (len && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' '))
		text[--len] = '\0';
	char *start = text + len;
	while (start > text && start[-1] != '\n' && start[-1] != '\r')
		start--;
	return start;
}

bool image_cmdline_has(pid_t pid, const char *want)
{
	char path[64], buf[8192];

	snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	for (char *arg = buf; arg < buf + n; arg += strlen(arg) + 1)
		if (strstr(arg, want))
			return true;
	return false;
}

bool image_pid_alive(pid_t pid)
{
	char path[64], buf[512];

	if (pid <= 0)
		return false;
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	/* "PID (comm) STATE ...": comm may hold spaces and parentheses. */
	char *paren = strrchr(buf, ')');
	return paren && paren[1] == ' ' && paren[2] != 'Z' && paren[2] != 'X';
}

pid_t image_pid_read(const char *pid_file, const char *want)
{
	char *text;

	if (read_file(pid_file, 64, &text, NULL) < 0)
		return 0;
	char *end;
	long pid = strtol(text, &end, 10);
	bool ok = end != text && pid > 0 && pid < INT_MAX;
	free(text);
	if (!ok || !image_pid_alive((pid_t)pid))
		return 0;
	if (want && !image_cmdline_has((pid_t)pid, want))
		return 0;
	return (pid_t)pid;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int image_pid_stop(pid_t pid, int timeout_ms)
{
	if (!image_pid_alive(pid))
		return 0;
	if (kill(pid, SIGTERM) < 0 && errno != ESRCH)
		return -errno;
	for (int waited = 0;; waited += 20) {
		waitpid(pid, NULL, WNOHANG);
		if (!image_pid_alive(pid))
			return 0;
		if (waited >= timeout_ms)
			break;
		sleep_ms(20);
	}
	kill(pid, SIGKILL);
	for (int waited = 0; waited < 5000; waited += 20) {
		waitpid(pid, NULL, WNOHANG);
		if (!image_pid_alive(pid))
			return 0;
		sleep_ms(20);
	}
	return -ETIMEDOUT;
}

bool image_file_in_use(const char *path)
{
	DIR *proc = opendir("/proc");
	bool used = false;

	if (!proc)
		return false;
	struct dirent *p;
	while (!used && (p = readdir(proc))) {
		if (p->d_name[0] < '0' || p->d_name[0] > '9')
			continue;
		char fd_dir[300];
		snprintf(fd_dir, sizeof fd_dir, "/proc/%s/fd", p->d_name);
		DIR *fds = opendir(fd_dir);
		if (!fds) {
			/* Another user's process, when we are not root: it
			 * may be an NBD server reading the file. */
			used = errno == EACCES || errno == EPERM;
			continue;
		}
		struct dirent *f;
		while (!used && (f = readdir(fds))) {
			if (f->d_name[0] == '.')
				continue;
			char link[PATH_MAX], target[PATH_MAX];
			if (snprintf(link, sizeof link, "%s/%s", fd_dir, f->d_name) >= (int)sizeof link)
				continue;
			ssize_t n = readlink(link, target, sizeof target - 1);
			if (n <= 0)
				continue;
			target[n] = '\0';
			used = !strcmp(target, path);
		}
		closedir(fds);
	}
	closedir(proc);
	return used;
}
