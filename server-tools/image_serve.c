/* `duet image serve` (see image_serve.h): one nbd-server with a
 * read-only export per image, whose file is the image's symlink, and one
 * per version file (the exports PCs' configs name).
 *
 * nbd-server forks a process per client, and that process opens the
 * export's file: a client keeps the version it connected to, a new client
 * gets the current one, and a commit needs nothing from us. Its only
 * foreground mode (-d) serves one client at a time, so nbd-server runs as
 * the daemon it wants to be and we are its child subreaper: the daemon is
 * re-parented to us, we reap it when it dies and start it again.
 *
 * When the set of images changes the listener is restarted with the new
 * config. It is killed with SIGKILL: on SIGTERM nbd-server takes its
 * clients down with it, and its SIGHUP reload breaks new connections
 * (3.24). The per-client processes live on (re-parented to us) and keep
 * serving open connections. */
#include "image_serve.h"

#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "image_run.h"
#include "image_store.h"
#include "util.h"

struct serve {
	const struct duet_conf *conf;
	char conf_file[PATH_MAX];    /* RUN_DIR/nbd-server.conf */
	char pid_file[PATH_MAX];     /* RUN_DIR/nbd-server.pid */
	char exports_file[PATH_MAX]; /* RUN_DIR/image-serve.exports: what list shows */
	struct image_strv running;   /* the exports the listener has */
	pid_t server;                /* the nbd-server listener, 0 when none */
	double restart_at;           /* monotonic seconds; 0: no restart pending */
	double started_at;
	int backoff;                 /* seconds to wait after a quick death */
};

static void serve_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void serve_log(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "duet image serve: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

bool image_is_served(const struct duet_conf *conf, const char *name)
{
	char path[PATH_MAX], *text;

	if (image_serve_pid(conf) <= 0 || image_run_path(conf, "image-serve.exports", path) < 0 ||
	    read_file(path, 1 << 20, &text, NULL) < 0)
		return false;
	bool found = false;
	char *save;
	for (char *line = strtok_r(text, "\n", &save); line && !found;
	     line = strtok_r(NULL, "\n", &save))
		found = !strcmp(line, name);
	free(text);
	return found;
}

static bool same_names(const struct image_strv *a, const struct image_strv *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->v[i], b->v[i]))
			return false;
	return true;
}

static int write_config(struct serve *s, const struct image_strv *names)
{
	const struct conf_server *sv = &s->conf->server;
	size_t cap = 512 + names->n * (2 * PATH_MAX + 128), len = 0;
	char *text = malloc(cap);

	if (!text)
		return -ENOMEM;
	len += (size_t)snprintf(text + len, cap - len,
				"# Written by duet image serve; changes are overwritten.\n"
				"[generic]\nport = %d\nallowlist = true\n",
				sv->nbd_port);
	if (sv->address[0])
		len += (size_t)snprintf(text + len, cap - len, "listenaddr = %s\n", sv->address);
	for (size_t i = 0; i < names->n; i++)
		len += (size_t)snprintf(text + len, cap - len,
					"\n[%s]\nexportname = %s/%s\nreadonly = true\n",
					names->v[i], sv->image_dir, names->v[i]);
	int err = write_file_atomic(s->conf_file, text, len, 0644);
	free(text);
	return err;
}

static void write_exports(struct serve *s, bool serving)
{
	size_t len = 0;

	for (size_t i = 0; serving && i < s->running.n; i++)
		len += strlen(s->running.v[i]) + 1;
	char *text = malloc(len + 1), *p = text;
	if (!text)
		return;
	*p = '\0';
	for (size_t i = 0; serving && i < s->running.n; i++)
		p += sprintf(p, "%s\n", s->running.v[i]);
	write_file_atomic(s->exports_file, text, len, 0644);
	free(text);
}

static pid_t parent_of(pid_t pid)
{
	char path[64], *text;

	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	if (read_file(path, 1 << 16, &text, NULL) < 0)
		return 0;
	char *ppid = strstr(text, "\nPPid:");
	pid_t parent = ppid ? (pid_t)atoi(ppid + 6) : 0;
	free(text);
	return parent;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* start_server: nbd-server with names; 0 once its daemon runs. */
static int start_server(struct serve *s, const struct image_strv *names)
{
	int err = write_config(s, names);

	if (err < 0) {
		serve_log("cannot write %s: %s", s->conf_file, strerror(-err));
		return err;
	}
	unlink(s->pid_file);
	char *argv[] = { "nbd-server", "-C", s->conf_file, "-p", s->pid_file, NULL };
	char errbuf[4096] = "", log_path[PATH_MAX];
	int status = image_run_path(s->conf, "nbd-server.log", log_path);
	if (status == 0)
		status = image_run_daemon(argv, log_path, errbuf, sizeof errbuf);
	if (status != 0) {
		serve_log("nbd-server did not start: %s",
		     status == -ENOENT ? "nbd-server is not installed"
		     : *errbuf	       ? image_last_line(errbuf)
				       : "it failed");
		return status < 0 ? status : -EIO;
	}
	for (int waited = 0; waited < 10000; waited += 20) {
		pid_t pid = image_pid_read(s->pid_file, "nbd-server");
		if (pid > 0) {
			s->server = pid;
			if (parent_of(pid) != getpid())
				serve_log("nbd-server (pid %d) is not our child; watching it by its pid",
				     (int)pid);
			return 0;
		}
		sleep_ms(20);
	}
	serve_log("nbd-server started but wrote no pid to %s (port %d in use?)", s->pid_file,
	     s->conf->server.nbd_port);
	return -EIO;
}

/* stop_listener: the listener goes; its per-client processes stay. */
static void stop_listener(struct serve *s)
{
	if (s->server <= 0)
		return;
	kill(s->server, SIGKILL);
	for (int waited = 0; waited < 5000 && image_pid_alive(s->server); waited += 10) {
		waitpid(s->server, NULL, WNOHANG);
		sleep_ms(10);
	}
	waitpid(s->server, NULL, WNOHANG);
	s->server = 0;
}

/* export_names: one export per image (NAME: its symlink, the current
 * version) and one per version file (NAME-DATE.raw: what a PC's published
 * config names, so that a PC reconnecting after a commit or rollback gets
 * the version it booted with, never a mix of two). Sorted: image names
 * first, then versions. */
static int export_names(const struct duet_conf *conf, struct image_strv *out)
{
	struct image_strv images;
	int err = image_names(conf, &images);

	if (err < 0)
		return err;
	size_t count = images.n;
	*out = images; /* out->v moves as versions are pushed: index it anew */
	for (size_t i = 0; i < count && !err; i++) {
		struct image_strv versions;
		err = image_versions(conf, out->v[i], &versions);
		if (err < 0)
			break;
		for (size_t j = 0; !err && j < versions.n; j++)
			err = image_strv_push(out, versions.v[j]);
		image_strv_free(&versions);
	}
	if (err < 0)
		image_strv_free(out);
	return err;
}

/* converge: the listener runs with the exports export_names lists. */
static void converge(struct serve *s)
{
	struct image_strv names;

	if (export_names(s->conf, &names) < 0)
		return;
	bool changed = !same_names(&names, &s->running);
	if (!changed && (s->server > 0 || s->restart_at == 0 || now() < s->restart_at)) {
		image_strv_free(&names);
		return;
	}
	if (changed && s->server > 0)
		serve_log("exports now: %zu; restarting nbd-server's listener (open connections stay)",
		     names.n);
	stop_listener(s);
	image_strv_free(&s->running);
	s->running = names;
	s->restart_at = 0;
	if (names.n == 0) {
		serve_log("no images in %s yet; waiting for duet image import", s->conf->server.image_dir);
		write_exports(s, false);
		return;
	}
	if (start_server(s, &names) < 0) {
		s->backoff = s->backoff ? (s->backoff * 2 > 30 ? 30 : s->backoff * 2) : 1;
		s->restart_at = now() + s->backoff;
		serve_log("trying again in %d s", s->backoff);
		write_exports(s, false);
		return;
	}
	s->started_at = now();
	serve_log("nbd-server (pid %d) serves %zu export%s read-only on port %d (each image and each "
		  "of its versions)", (int)s->server, names.n, names.n == 1 ? "" : "s",
		  s->conf->server.nbd_port);
	write_exports(s, true);
}

/* reap: collects dead children; notices the listener's death. */
static void reap(struct serve *s)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (pid != s->server)
			continue;
		if (WIFSIGNALED(status))
			serve_log("nbd-server (pid %d) was killed by signal %d; restarting it", (int)pid,
			     WTERMSIG(status));
		else
			serve_log("nbd-server (pid %d) exited with status %d; restarting it", (int)pid,
			     WEXITSTATUS(status));
		s->server = 0;
	}
	/* A listener we could not adopt is watched by its pid. */
	if (s->server > 0 && !image_pid_alive(s->server)) {
		serve_log("nbd-server (pid %d) is gone; restarting it", (int)s->server);
		s->server = 0;
	}
	if (s->server == 0 && s->running.n && s->restart_at == 0) {
		bool quick = now() - s->started_at < 10;
		s->backoff = quick ? (s->backoff ? (s->backoff * 2 > 30 ? 30 : s->backoff * 2) : 1)
				   : 0;
		s->restart_at = now() + s->backoff + 0.001;
		write_exports(s, false);
	}
}

/* stop_all: the listener (with its clients) and the per-client processes
 * of earlier listeners. */
static void stop_all(struct serve *s)
{
	if (s->server > 0)
		kill(s->server, SIGTERM);
	DIR *proc = opendir("/proc");
	struct dirent *e;
	while (proc && (e = readdir(proc)))
		if (e->d_name[0] >= '1' && e->d_name[0] <= '9' &&
		    parent_of((pid_t)atoi(e->d_name)) == getpid())
			kill((pid_t)atoi(e->d_name), SIGTERM);
	if (proc)
		closedir(proc);
	for (int waited = 0; waited < 5000; waited += 20) {
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		if (s->server > 0 && !image_pid_alive(s->server))
			s->server = 0;
		if (s->server == 0 && waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD)
			break;
		sleep_ms(20);
	}
	if (s->server > 0) {
		kill(s->server, SIGKILL);
		waitpid(s->server, NULL, 0);
	}
	unlink(s->pid_file);
}

/* kill_stale: an nbd-server a killed `duet image serve` left running. */
static void kill_stale(struct serve *s)
{
	pid_t pid = image_pid_read(s->pid_file, "nbd-server");

	if (pid > 0 && image_cmdline_has(pid, s->conf_file)) {
		serve_log("stopping nbd-server (pid %d) left by an earlier duet image serve", (int)pid);
		image_pid_stop(pid, 5000);
	}
}

int image_serve_main(const struct duet_conf *conf, int argc, char **argv)
{
	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		printf("Usage: duet image serve\n\n"
		       "Serves every golden image read-only over NBD on [server] nbd-port\n"
		       "(export NAME: nbd://SERVER:PORT/NAME), in the foreground, for systemd\n"
		       "or runit. Runs nbd-server, restarts it when it dies, and adds\n"
		       "exports as images are imported. SIGHUP: look at the images again.\n"
		       "SIGTERM: stop serving. See docs/duet-image.md.\n");
		return 0;
	}
	if (argc != 1) {
		fprintf(stderr, "Usage: duet image serve\n");
		return 2;
	}
	struct serve s = { .conf = conf };
	char serve_pid_file[PATH_MAX];
	int err = mkdir_p(conf->server.run_dir, 0755);
	if (err < 0 || (err = mkdir_p(conf->server.image_dir, 0755)) < 0) {
		fprintf(stderr, "duet: image serve: cannot create %s: %s\n", conf->server.run_dir,
			strerror(-err));
		return 1;
	}
	if (image_run_path(conf, "nbd-server.conf", s.conf_file) < 0 ||
	    image_run_path(conf, "nbd-server.pid", s.pid_file) < 0 ||
	    image_run_path(conf, "image-serve.exports", s.exports_file) < 0 ||
	    image_run_path(conf, "image-serve.pid", serve_pid_file) < 0) {
		fprintf(stderr, "duet: image serve: %s: path too long\n", conf->server.run_dir);
		return 1;
	}
	int pid_fd = open(serve_pid_file, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (pid_fd < 0 || flock(pid_fd, LOCK_EX | LOCK_NB) < 0) {
		fprintf(stderr, "duet: image serve: already running (pid %d; %s)\n",
			(int)image_serve_pid(conf), serve_pid_file);
		return 1;
	}
	char pid_text[32];
	int len = snprintf(pid_text, sizeof pid_text, "%d\n", (int)getpid());
	if (ftruncate(pid_fd, 0) < 0 || pwrite(pid_fd, pid_text, (size_t)len, 0) != len) {
		fprintf(stderr, "duet: image serve: cannot write %s: %s\n", serve_pid_file,
			strerror(errno));
		return 1;
	}
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
		serve_log("cannot become a child subreaper (%s); watching nbd-server by its pid",
		     strerror(errno));

	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		fprintf(stderr, "duet: image serve: signalfd: %s\n", strerror(errno));
		return 1;
	}
	kill_stale(&s);
	serve_log("serving %s on port %d (pid %d)", conf->server.image_dir, conf->server.nbd_port,
	     (int)getpid());
	bool running = true;
	while (running) {
		reap(&s);
		converge(&s);
		struct pollfd pfd = { .fd = sfd, .events = POLLIN };
		int timeout = 2000;
		if (s.restart_at > 0) {
			double left = s.restart_at - now();
			timeout = left <= 0 ? 0 : left < 2 ? (int)(left * 1000) + 1 : 2000;
		}
		if (poll(&pfd, 1, timeout) <= 0)
			continue;
		struct signalfd_siginfo si;
		while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
			if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
				running = false;
		}
	}
	serve_log("stopping");
	stop_all(&s);
	write_exports(&s, false);
	image_strv_free(&s.running);
	unlink(serve_pid_file);
	close(pid_fd);
	return 0;
}
