/* tsline: run a VMM with its stdout (the guest's serial console) on a pipe
 * and timestamp what arrives there; the benchmark harness runs it inside the
 * rig, where there is no python and busybox `date` has no sub-second format.
 *
 *   tsline [-o LOG] [-t SECONDS] [-m MARKER]... [-s STATMARK] [-g GUESTMAP]
 *          [-S SMAPSCOPY] [-k KILLMARK] -- PROGRAM [ARG]...
 *
 * Times are milliseconds (CLOCK_MONOTONIC) since just before fork():
 *   first=   the first complete line on the pipe
 *   mN=      the first line containing the N-th -m MARKER (-1: never seen)
 *   exit=    the program's exit (wait4)
 * Memory, in KiB, of the program's process:
 *   maxrss=  ru_maxrss from wait4 (peak resident set)
 *   hwm= rss= shmem= anon= file=   VmHWM, VmRSS, RssShmem, RssAnon,
 *            RssFile from /proc/PID/status, read when the first line
 *            containing STATMARK arrives (default: the last -m MARKER), or
 *            if that never comes the last of the readings taken every 20 ms
 *            (which may fall into the program's teardown);
 *   guest=   the resident size of the program's guest RAM: the sum of Rss
 *            over the mappings in /proc/PID/smaps whose name contains
 *            GUESTMAP (-g, default "/memfd:"), read with the STATMARK line
 *            (-1 when that never came). duet-vmm's guest RAM is the memfd
 *            "duet-guest-ram", QEMU's memory-backend-memfd one
 *            "memory-backend-memfd". RssShmem is no measure of it in the
 *            rig: the programs and their libraries live in the rig's
 *            initramfs (tmpfs), so their mapped pages count as shmem too.
 *            With -S, /proc/PID/smaps as read then is copied to SMAPSCOPY.
 * Everything the program writes to stdout is copied to LOG (default: nowhere).
 * The program's stdin is /dev/null, its stderr is inherited. With -t it is
 * killed (SIGKILL) when it still runs after SECONDS; with -k, as soon as a
 * line containing KILLMARK arrives (status= is then 137): for runs whose
 * end of interest is a line, not the program's exit.
 * tsline prints one line to stdout:
 *   first=.. m0=.. m1=.. exit=.. status=.. maxrss=.. hwm=.. rss=.. shmem=..
 *   anon=.. file=.. guest=..
 * and exits 0, or 2 when it cannot run the program at all. status= is the
 * exit status, or 128+N when the program died of signal N.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_MARKERS 8
#define LINE_MAX_LEN 4096

struct memstat {
	long hwm, rss, shmem, anon, file;
};

static struct timespec t0;

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0.tv_sec) * 1e3 + (double)(t.tv_nsec - t0.tv_nsec) / 1e6;
}

static long field_kb(const char *buf, const char *name)
{
	const char *p = strstr(buf, name);

	return p ? strtol(p + strlen(name), NULL, 10) : -1;
}

/* Read /proc/PID/status; 0 when it still had the memory fields (a zombie
 * no longer has them). */
static int read_memstat(pid_t pid, struct memstat *m)
{
	char path[64], buf[8192];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	m->hwm = field_kb(buf, "\nVmHWM:");
	m->rss = field_kb(buf, "\nVmRSS:");
	m->shmem = field_kb(buf, "\nRssShmem:");
	m->anon = field_kb(buf, "\nRssAnon:");
	m->file = field_kb(buf, "\nRssFile:");
	return m->hwm < 0 || m->rss < 0 || m->shmem < 0 ? -1 : 0;
}

/* Sum of Rss (KiB) over the mappings whose smaps header line contains
 * `name`; -1 when smaps cannot be read. */
static long guest_rss_kb(pid_t pid, const char *name, const char *copy)
{
	char path[64], buf[1024];
	long sum = 0;
	int match = 0;
	FILE *f, *out = NULL;

	snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	if (copy && !(out = fopen(copy, "we")))
		perror(copy);
	while (fgets(buf, sizeof(buf), f)) {
		if (out)
			fputs(buf, out);
		if (strncmp(buf, "Rss:", 4) == 0) {
			if (match)
				sum += strtol(buf + 4, NULL, 10);
		} else if (strchr(buf, '-') && buf[0] != ' ' && strchr(buf, ' ') &&
			   strchr(buf, '-') < strchr(buf, ' ')) {
			/* a mapping's header: "start-end perms offset dev inode path" */
			match = strstr(buf, name) != NULL;
		}
	}
	fclose(f);
	if (out)
		fclose(out);
	return sum;
}

static void usage(void)
{
	fprintf(stderr, "usage: tsline [-o LOG] [-t SECONDS] [-m MARKER]... [-s STATMARK] "
		"[-g GUESTMAP] [-S SMAPSCOPY] [-k KILLMARK] -- PROGRAM [ARG]...\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *markers[MAX_MARKERS], *statmark = NULL, *logpath = NULL;
	const char *guestmap = "/memfd:", *smapscopy = NULL, *killmark = NULL;
	long guest_kb = -1;
	double mark_ms[MAX_MARKERS], first_ms = -1, exit_ms;
	struct memstat last = { -1, -1, -1, -1, -1 }, cur, mark;
	double next_sample = 0, limit_ms = 0;
	int killed = 0, have_mark = 0;
	char line[LINE_MAX_LEN];
	size_t linelen = 0;
	int nmarkers = 0, opt, pipefd[2], logfd = -1, status, eof = 0;
	struct rusage ru;
	pid_t pid, w;

	while ((opt = getopt(argc, argv, "+o:t:m:s:g:S:k:")) != -1) {
		switch (opt) {
		case 'k':
			killmark = optarg;
			break;
		case 'S':
			smapscopy = optarg;
			break;
		case 'g':
			guestmap = optarg;
			break;
		case 't':
			limit_ms = atof(optarg) * 1e3;
			break;
		case 'o':
			logpath = optarg;
			break;
		case 'm':
			if (nmarkers == MAX_MARKERS)
				usage();
			mark_ms[nmarkers] = -1;
			markers[nmarkers++] = optarg;
			break;
		case 's':
			statmark = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind >= argc)
		usage();
	if (!statmark && nmarkers)
		statmark = markers[nmarkers - 1];
	if (logpath) {
		logfd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (logfd < 0) {
			perror(logpath);
			return 2;
		}
	}
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		perror("pipe");
		return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid = fork();
	if (pid < 0) {
		perror("fork");
		return 2;
	}
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDONLY);

		if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(pipefd[1], 1) < 0)
			_exit(127);
		execvp(argv[optind], argv + optind);
		fprintf(stderr, "tsline: exec %s: %s\n", argv[optind], strerror(errno));
		_exit(127);
	}
	close(pipefd[1]);

	while (!eof) {
		struct pollfd pfd = { .fd = pipefd[0], .events = POLLIN };
		char buf[4096];
		int r = poll(&pfd, 1, 20);
		ssize_t n;

		if (now_ms() >= next_sample && read_memstat(pid, &cur) == 0) {
			next_sample = now_ms() + 20;
			last = cur;
		}
		if (limit_ms > 0 && !killed && now_ms() > limit_ms) {
			fprintf(stderr, "tsline: %s still runs after %.0f s, killing it\n",
				argv[optind], limit_ms / 1e3);
			kill(pid, SIGKILL);
			killed = 1;
			break;
		}
		if (r < 0 && errno != EINTR) {
			perror("poll");
			break;
		}
		if (r <= 0)
			continue;
		n = read(pipefd[0], buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			eof = 1;
			break;
		}
		double t = now_ms();

		if (logfd >= 0 && write(logfd, buf, (size_t)n) != n) {
			perror("tsline: log");
			close(logfd);
			logfd = -1;
		}
		for (ssize_t i = 0; i < n; i++) {
			char c = buf[i];

			if (c != '\n') {
				if (linelen < sizeof(line) - 1)
					line[linelen++] = c;
				continue;
			}
			line[linelen] = '\0';
			linelen = 0;
			if (first_ms < 0)
				first_ms = t;
			for (int k = 0; k < nmarkers; k++)
				if (mark_ms[k] < 0 && strstr(line, markers[k]))
					mark_ms[k] = t;
			if (statmark && !have_mark && strstr(line, statmark) &&
			    read_memstat(pid, &mark) == 0) {
				have_mark = 1;
				guest_kb = guest_rss_kb(pid, guestmap, smapscopy);
			}
			if (killmark && !killed && strstr(line, killmark)) {
				kill(pid, SIGKILL);
				killed = 1;
			}
		}
	}
	w = wait4(pid, &status, WNOHANG, &ru);
	if (w == 0) { /* closed its stdout but still running */
		if (read_memstat(pid, &cur) == 0)
			last = cur;
		w = wait4(pid, &status, 0, &ru);
	}
	if (w < 0) {
		perror("wait4");
		return 2;
	}
	exit_ms = now_ms();
	if (logfd >= 0)
		close(logfd);
	if (!have_mark)
		mark = last;

	printf("first=%.1f", first_ms);
	for (int k = 0; k < nmarkers; k++)
		printf(" m%d=%.1f", k, mark_ms[k]);
	printf(" exit=%.1f status=%d maxrss=%ld hwm=%ld rss=%ld shmem=%ld anon=%ld file=%ld"
	       " guest=%ld\n",
	       exit_ms, WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
	       ru.ru_maxrss, mark.hwm, mark.rss, mark.shmem, mark.anon, mark.file, guest_kb);
	return 0;
}
