/* Small helpers every `duet` subcommand uses: running programs, files
 * written atomically, directories, SHA-256 of files. Errors are -errno
 * values; the caller prints the one line the admin sees. */
#ifndef DUET_UTIL_H
#define DUET_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* run_program: runs argv[0] (looked up in PATH) with argv, waits, and
 * returns its exit status (0-255), 128+N when signal N killed it, or
 * -errno when it could not start (-ENOENT: not installed). With quiet,
 * its stdout and stderr go to /dev/null. */
int run_program(char *const argv[], bool quiet);

/* wait_status: waits for child pid (through EINTR): its exit status,
 * 128+N when signal N killed it, or -errno. */
int wait_status(pid_t pid);

/* run_program_output: as run_program, but its stdout (at most size-1
 * bytes, NUL-terminated) lands in out. */
int run_program_output(char *const argv[], char *out, size_t size);

/* mkdir_p: creates path and its missing parents with mode (existing
 * directories are fine). */
int mkdir_p(const char *path, mode_t mode);

/* write_file_atomic: path holds exactly data afterwards, or is unchanged:
 * written to a temporary file beside it, fsync'd, renamed over path, and
 * the directory fsync'd. */
int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode);

/* read_file: the whole file into a new NUL-terminated buffer (free it);
 * files larger than max are refused with -EFBIG. */
int read_file(const char *path, size_t max, char **out, size_t *len);

/* file_has_content: 1 when path holds exactly data, 0 when it differs or is
 * missing, -errno on other errors. */
int file_has_content(const char *path, const void *data, size_t len);

/* sha256_file_hex: the file's SHA-256 as 64 lower-case hex digits + NUL. */
int sha256_file_hex(const char *path, char hex[65]);

/* fsync_dir: fsync the directory holding path's last component. */
int fsync_parent_dir(const char *path);

/* fail_named: "duet: KIND 'NAME': <message>" on stderr, the one line the
 * admin sees; returns 1, the exit status. */
int fail_named(const char *kind, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* path_fmt: snprintf into buf; -ENAMETOOLONG when it did not fit. */
int path_fmt(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
