/* Processes for `duet image`: qemu-img and friends run with their stderr
 * kept for the one error line, tied to our life (a `duet image` killed -9
 * takes its qemu-img along), and the daemons (nbd-server, qemu-nbd) started
 * with their output in a log and found again through their pid files. */
#ifndef DUET_IMAGE_RUN_H
#define DUET_IMAGE_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* image_run: runs argv (PATH lookup), stdout into out (NULL: inherited, so
 * qemu-img -p shows its progress), stderr into err (NULL: inherited). The
 * child gets SIGKILL when we die. Returns the exit status, 128+N for signal
 * N, or -errno when it could not start (-ENOENT: not installed). */
int image_run(char *const argv[], char *out, size_t out_size, char *err, size_t err_size);

/* image_run_daemon: runs a command that daemonises (qemu-nbd --fork,
 * nbd-server) with stdin on /dev/null and stdout and stderr appended to
 * log_path, and waits only for the command itself to exit, not for the
 * daemon it leaves (which may hold the log open for its life: qemu-nbd
 * before 8.1 keeps the caller's stderr). What this run wrote to the log
 * goes into err. Returns as image_run does. */
int image_run_daemon(char *const argv[], const char *log_path, char *err, size_t err_size);

/* image_last_line: the last non-empty line of text (trimmed), in place. */
const char *image_last_line(char *text);

/* image_pid_read: the pid in a pid file, if that process is alive (not a
 * zombie) and its command line contains want (NULL: any). 0 otherwise. */
pid_t image_pid_read(const char *pid_file, const char *want);

/* image_pid_alive: whether pid runs (zombies do not count). */
bool image_pid_alive(pid_t pid);

/* image_pid_stop: SIGTERM, then wait up to timeout_ms for it to go (reaping
 * it if it is our child); SIGKILL after that. 0 once it is gone. */
int image_pid_stop(pid_t pid, int timeout_ms);

/* image_cmdline_has: whether /proc/PID/cmdline holds want in one argument. */
bool image_cmdline_has(pid_t pid, const char *want);

/* image_file_in_use: whether any process holds path open (/proc/PID/fd);
 * a process whose fds cannot be read (EACCES) counts as holding it. */
bool image_file_in_use(const char *path);

#endif
