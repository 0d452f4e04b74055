/* Helpers for the `duet` subcommands (see util.h). */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <nettle/sha2.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int wait_status(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

/* spawn: fork and exec argv with stdout on out_fd (-1: inherited) and,
 * when quiet, stderr on /dev/null. 127 from the child means exec failed;
 * the pipe below tells that apart from a program that exits 127. */
static int spawn(char *const argv[], int out_fd, bool quiet, pid_t *pid_out)
{
	int errpipe[2];

	if (pipe2(errpipe, O_CLOEXEC) < 0)
		return -errno;
	pid_t pid = fork();
	if (pid < 0) {
		int err = -errno;
		close(errpipe[0]);
		close(errpipe[1]);
		return err;
	}
	if (pid == 0) {
		close(errpipe[0]);
		if (out_fd >= 0)
			dup2(out_fd, STDOUT_FILENO);
		if (quiet) {
			int null = open("/dev/null", O_WRONLY);
			if (null >= 0) {
				if (out_fd < 0)
					dup2(null, STDOUT_FILENO);
				dup2(null, STDERR_FILENO);
			}
		}
		signal(SIGPIPE, SIG_DFL);
		execvp(argv[0], argv);
		int err = errno;
		if (write(errpipe[1], &err, sizeof err) < 0)
			_exit(127);
		_exit(127);
	}
	close(errpipe[1]);
	int child_errno = 0;
	ssize_t n;
	while ((n = read(errpipe[0], &child_errno, sizeof child_errno)) < 0 && errno == EINTR)
		;
	close(errpipe[0]);
	if (n == (ssize_t)sizeof child_errno) {
		wait_status(pid);
		return -child_errno;
	}
	*pid_out = pid;
	return 0;
}

int run_program(char *const argv[], bool quiet)
{
	pid_t pid;
	int err = spawn(argv, -1, quiet, &pid);

	return err < 0 ? err : wait_status(pid);
}

int run_program_output(char *const argv[], char *out, size_t size)
{
	int fds[2];
	pid_t pid;

	if (size == 0)
		return -EINVAL;
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	int err = spawn(argv, fds[1], false, &pid);
	close(fds[1]);
	if (err < 0) {
		close(fds[0]);
		return err;
	}
	size_t len = 0;
	for (;;) {
		char sink[4096];
		char *dst = len < size - 1 ? out + len : sink;
		size_t room = len < size - 1 ? size - 1 - len : sizeof sink;
		ssize_t n = read(fds[0], dst, room);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (dst != sink)
			len += (size_t)n;
	}
	out[len] = '\0';
	close(fds[0]);
	return wait_status(pid);
}

int mkdir_p(const char *path, mode_t mode)
{
	char buf[PATH_MAX];

	if (strlen(path) >= sizeof buf)
		return -ENAMETOOLONG;
	strcpy(buf, path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST)
		return -errno;
	struct stat st;
	if (stat(buf, &st) < 0)
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

int fsync_parent_dir(const char *path)
{
	char buf[PATH_MAX];

	if (strlen(path) >= sizeof buf)
		return -ENAMETOOLONG;
	strcpy(buf, path);
	int fd = open(dirname(buf), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int err = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return err;
}

int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
	char tmp[PATH_MAX];

	if (snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", path) >= (int)sizeof tmp)
		return -ENAMETOOLONG;
	int fd = mkstemp(tmp);
	if (fd < 0)
		return -errno;
	int err = 0;
	const char *p = data;
	for (size_t done = 0; done < len && !err;) {
		ssize_t n = write(fd, p + done, len - done);
		if (n < 0 && errno != EINTR)
			err = -errno;
		else if (n > 0)
			done += (size_t)n;
	}
	if (!err && fchmod(fd, mode) < 0)
		err = -errno;
	if (!err && fsync(fd) < 0)
		err = -errno;
	if (close(fd) < 0 && !err)
		err = -errno;
	if (!err && rename(tmp, path) < 0)
		err = -errno;
	if (err) {
		unlink(tmp);
		return err;
	}
	return fsync_parent_dir(path);
}

int read_file(const char *path, size_t max, char **out, size_t *len_out)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) < 0 || (size_t)st.st_size > max) {
		int err = (size_t)st.st_size > max ? -EFBIG : -errno;
		close(fd);
		return err;
	}
	size_t cap = (size_t)st.st_size + 1, len = 0;
	char *buf = malloc(cap);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	for (;;) {
		if (len + 1 >= cap) {
			if (cap > max + 1) {
				free(buf);
				close(fd);
				return -EFBIG;
			}
			char *bigger = realloc(buf, cap * 2);
			if (!bigger) {
				free(buf);
				close(fd);
				return -ENOMEM;
			}
			buf = bigger;
			cap *= 2;
		}
		ssize_t n = read(fd, buf + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int err = -errno;
			free(buf);
			close(fd);
			return err;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	*out = buf;
	if (len_out)
		*len_out = len;
	return 0;
}

int file_has_content(const char *path, const void *data, size_t len)
{
	char *buf;
	size_t have;
	int err = read_file(path, len + 1, &buf, &have);

	if (err == -ENOENT || err == -EFBIG)
		return 0;
	if (err < 0)
		return err;
	int same = have == len && memcmp(buf, data, len) == 0;
	free(buf);
	return same;
}

int sha256_file_hex(const char *path, char hex[65])
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct sha256_ctx ctx;
	sha256_init(&ctx);
	static unsigned char buf[1 << 16];
	for (;;) {
		ssize_t n = read(fd, buf, sizeof buf);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int err = -errno;
			close(fd);
			return err;
		}
		if (n == 0)
			break;
		sha256_update(&ctx, (size_t)n, buf);
	}
	close(fd);
	uint8_t digest[SHA256_DIGEST_SIZE];
	sha256_digest(&ctx, sizeof digest, digest);
	for (size_t i = 0; i < sizeof digest; i++)
		sprintf(hex + 2 * i, "%02x", digest[i]);
	return 0;
}

int path_fmt(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int fail_named(const char *kind, const char *name, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "duet: %s '%s': ", kind, name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}
