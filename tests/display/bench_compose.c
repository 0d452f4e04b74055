/* Benchmark of duet-display's compositor (display/compositor.c) on a
 * 1920x1080 screen, against memcpy of one frame (shared/notes/display.md:
 * memory bandwidth is the limit):
 *   bench display-compose-1080p-1to1: duet=X ms memcpy=Y ms ratio=R
 *   bench display-compose-1080p-from-1024x768: ...   (bilinear upscale)
 *   bench display-compose-1080p-from-1280x1024: ...
 *   bench display-compose-1080p-cursor-64x64: ...    (a small damage, 1:1)
 * Sources rotate among four buffers so each compose reads RAM, not cache;
 * each figure is the median of 60 runs. Then idle CPU: a real duet-display
 * (offscreen 1920x1080) with two still peers, measured from
 * /proc/PID/schedstat over 5 s:
 *   bench display-idle-cpu: duet=X% (5 s, 2 guests, no damage)
 * Then flip latency: a real duet-display (offscreen 1920x1080, --input
 * synthetic) with two still 1920x1080 peers of different colours; the
 * control socket's test-only `inject` types Right-Ctrl+2 / Right-Ctrl+1 in
 * turn, and the time runs from sending the hotkey to `list` reporting a
 * frame presented after it (`frames` grows: the offscreen output has
 * copied the new guest's picture into its screen). The same request that
 * carries the hotkey first asks `list` for `frames`, so no frame can slip
 * in between; the peers are still and the banner is re-armed by every
 * switch, so the switch's frame is the only one. Hotkeys are 30 ms apart,
 * so --max-fps (60) never holds a frame back. Includes one control-socket
 * round trip of polling (its median goes to stderr). A few switches are
 * checked by a screenshot of the screen (its centre is the new guest's
 * colour). Median and p95 of FLIP_RUNS hotkeys, against memcpy of one
 * frame (the physical limit: the new picture must be copied once):
 *   bench display-flip-latency: duet=X ms memcpy=Y ms ratio=R
 *   bench display-flip-latency-p95: duet=X ms memcpy=Y ms ratio=R
 * Usage: bench_compose DUET_DISPLAY PEER */
#include <errno.h>
#include <png.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "compositor.h"

#define SCREEN_W 1920
#define SCREEN_H 1080
#define RUNS 60
#define BUFFERS 4
#define IDLE_SECONDS 5
#define FLIP_RUNS 300
#define FLIP_WARMUP 10
#define FLIP_GAP_US 30000
#define FLIP_TIMEOUT_MS 2000.0

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return v[n / 2];
}

static uint32_t *pattern(uint32_t w, uint32_t h, uint32_t seed)
{
	uint32_t *p = malloc((size_t)w * h * 4);

	if (!p)
		exit(1);
	for (size_t i = 0; i < (size_t)w * h; i++)
		p[i] = (uint32_t)(i * 2654435761u) ^ seed;
	return p;
}

/* memcpy_ms: one 1080p frame from RAM */
static double memcpy_ms(void)
{
	size_t bytes = (size_t)SCREEN_W * SCREEN_H * 4;
	uint32_t *src[BUFFERS], *dst = pattern(SCREEN_W, SCREEN_H, 7);
	double t[RUNS];

	for (int i = 0; i < BUFFERS; i++)
		src[i] = pattern(SCREEN_W, SCREEN_H, (uint32_t)i);
	for (int r = 0; r < RUNS; r++) {
		double t0 = now_ms();

		memcpy(dst, src[r % BUFFERS], bytes);
		t[r] = now_ms() - t0;
	}
	for (int i = 0; i < BUFFERS; i++)
		free(src[i]);
	free(dst);
	return median(t, RUNS);
}

/* compose_ms: compose a frame of a w x h guest; `dmg` NULL for all of it. */
static double compose_ms(uint32_t w, uint32_t h, const struct display_rect *dmg)
{
	struct compositor *c[BUFFERS];
	uint32_t *src[BUFFERS];
	double t[RUNS];

	for (int i = 0; i < BUFFERS; i++) {
		struct scene s = { .kind = SCENE_GUEST, .name = "bench", .edge_rgb = 0x2f6fdf,
				   .width = w, .height = h, .stride = w * 4 };
		pixman_region32_t done;

		src[i] = pattern(w, h, (uint32_t)i);
		s.pixels = src[i];
		if (compositor_create(&c[i], SCREEN_W, SCREEN_H, 4) ||
		    compositor_set_scene(c[i], &s))
			exit(1);
		pixman_region32_init(&done);
		compositor_compose(c[i], &done);
		pixman_region32_fini(&done);
	}
	for (int r = 0; r < RUNS; r++) {
		struct compositor *cc = c[r % BUFFERS];
		pixman_region32_t done;
		double t0;

		pixman_region32_init(&done);
		t0 = now_ms();
		if (dmg)
			compositor_damage_surface(cc, dmg);
		else
			compositor_damage_all(cc);
		compositor_compose(cc, &done);
		t[r] = now_ms() - t0;
		pixman_region32_fini(&done);
	}
	for (int i = 0; i < BUFFERS; i++) {
		compositor_destroy(c[i]);
		free(src[i]);
	}
	return median(t, RUNS);
}

static void report(const char *name, double duet, double copy)
{
	printf("bench %s: duet=%.4f ms memcpy=%.4f ms ratio=%.3f\n", name, duet, copy, duet / copy);
}

static uint64_t cpu_ns(pid_t pid)
{
	char path[64];
	unsigned long long ns = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/schedstat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fscanf(f, "%llu", &ns) != 1)
		ns = 0;
	fclose(f);
	return ns;
}

static pid_t spawn(char *const argv[])
{
	pid_t pid = fork();

	if (pid == 0) {
		if (!freopen("/dev/null", "w", stderr))
			_exit(127);
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

static int idle_cpu(const char *display, const char *peer)
{
	char dir[] = "/tmp/duet-bench-XXXXXX", sock[128], ctl[128];
	pid_t d, p1, p2;
	uint64_t c0, c1;
	double t0, t1;
	struct stat st;

	if (!mkdtemp(dir))
		return 1;
	snprintf(sock, sizeof(sock), "%s/d.sock", dir);
	snprintf(ctl, sizeof(ctl), "%s/c.sock", dir);
	d = spawn((char *const[]){ (char *)display, "--socket", sock, "--control", ctl,
				   "--output-size", "1920x1080", "--banner-time", "500", NULL });
	for (int i = 0; i < 100 && stat(ctl, &st); i++)
		usleep(20000);
	p1 = spawn((char *const[]){ (char *)peer, "--socket", sock, "--name", "one", "--size",
				    "1024x768", NULL });
	p2 = spawn((char *const[]){ (char *)peer, "--socket", sock, "--name", "two", "--size",
				    "1280x1024", NULL });
	sleep(2); /* connected, first frames and the banner come and go */
	c0 = cpu_ns(d);
	t0 = now_ms();
	sleep(IDLE_SECONDS);
	c1 = cpu_ns(d);
	t1 = now_ms();
	printf("bench display-idle-cpu: duet=%.3f%% (%d s, 2 guests, no damage)\n",
	       (double)(c1 - c0) / 1e6 / (t1 - t0) * 100.0, IDLE_SECONDS);
	kill(p1, SIGTERM);
	kill(p2, SIGTERM);
	kill(d, SIGTERM);
	waitpid(p1, NULL, 0);
	waitpid(p2, NULL, 0);
	waitpid(d, NULL, 0);
	rmdir(dir);
	return c0 && c1 ? 0 : 1;
}

/* ---- flip latency ---- */

struct ctl {
	int fd;
	size_t len;
	char buf[65536];
};

static int ctl_connect(struct ctl *c, const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };

	c->len = 0;
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (strlen(path) >= sizeof(addr.sun_path))
		return -1;
	memcpy(addr.sun_path, path, strlen(path) + 1);
	return c->fd < 0 || connect(c->fd, (struct sockaddr *)&addr, sizeof(addr)) ? -1 : 0;
}

static int ctl_send(struct ctl *c, const char *text)
{
	size_t len = strlen(text), done = 0;

	while (done < len) {
		ssize_t n = send(c->fd, text + done, len - done, MSG_NOSIGNAL);

		if (n <= 0)
			return -1;
		done += (size_t)n;
	}
	return 0;
}

/* ctl_reply: the next reply line into `line` (NUL-terminated). */
static int ctl_reply(struct ctl *c, char *line, size_t size)
{
	char *nl;

	while (!(nl = memchr(c->buf, '\n', c->len))) {
		ssize_t n;

		if (c->len == sizeof(c->buf))
			return -1;
		n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
		if (n <= 0)
			return -1;
		c->len += (size_t)n;
	}
	*nl = 0;
	snprintf(line, size, "%s", c->buf);
	c->len -= (size_t)(nl + 1 - c->buf);
	memmove(c->buf, nl + 1, c->len);
	return 0;
}

/* list_frames: `frames` of a `list` reply (-1: none); the active guest's
 * name into `active`. */
static long long list_frames(const char *reply, char *active, size_t size)
{
	const char *f = strstr(reply, "\"frames\":"), *a = strstr(reply, "\"active\":\"");

	active[0] = 0;
	if (a) {
		a += strlen("\"active\":\"");
		snprintf(active, size, "%.*s", (int)strcspn(a, "\""), a);
	}
	return f ? strtoll(f + strlen("\"frames\":"), NULL, 10) : -1;
}

/* screen_centre: the centre pixel (0xRRGGBB) of a screenshot of the
 * screen, or -1. */
static long screen_centre(struct ctl *c, const char *dir)
{
	char req[512], line[65536], path[256];
	png_image img = { .version = PNG_IMAGE_VERSION };
	uint8_t *px;
	long rgb = -1;

	snprintf(path, sizeof(path), "%s/shot.png", dir);
	snprintf(req, sizeof(req),
		 "{\"command\": \"screenshot\", \"target\": \"screen\", \"file\": \"%s\", "
		 "\"width\": 192, \"height\": 108}\n", path);
	if (ctl_send(c, req) || ctl_reply(c, line, sizeof(line)) || !strstr(line, "\"ok\":true") ||
	    !png_image_begin_read_from_file(&img, path))
		return -1;
	img.format = PNG_FORMAT_RGB;
	px = malloc(PNG_IMAGE_SIZE(img));
	if (px && png_image_finish_read(&img, NULL, px, 0, NULL)) {
		const uint8_t *p = px + ((size_t)(img.height / 2) * img.width + img.width / 2) * 3;

		rgb = (long)p[0] << 16 | (long)p[1] << 8 | p[2];
	}
	png_image_free(&img);
	free(px);
	unlink(path);
	return rgb;
}

static int wait_running(struct ctl *c)
{
	char line[65536];

	for (int i = 0; i < 250; i++) {
		const char *r1, *r2;

		if (ctl_send(c, "{\"command\": \"list\"}\n") || ctl_reply(c, line, sizeof(line)))
			return -1;
		r1 = strstr(line, "\"state\":\"running\"");
		r2 = r1 ? strstr(r1 + 1, "\"state\":\"running\"") : NULL;
		if (r2)
			return 0;
		usleep(20000);
	}
	return -1;
}

static double percentile(double *v, int n, double p)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return v[(int)(p * (n - 1) + 0.5)];
}

static int flip_latency(const char *display, const char *peer, double copy)
{
	static const char *names[2] = { "one", "two" };
	static const long colours[2] = { 0x2040ff, 0x20c040 };
	char dir[] = "/tmp/duet-bench-XXXXXX", sock[128], ctl_path[128], line[65536], active[64];
	double t[FLIP_RUNS], rtt[FLIP_RUNS];
	int n = 0, checked = 0, bad = 0;
	struct ctl *c = calloc(1, sizeof(*c));
	pid_t d, p[2];
	struct stat st;

	if (!c || !mkdtemp(dir))
		return 1;
	snprintf(sock, sizeof(sock), "%s/d.sock", dir);
	snprintf(ctl_path, sizeof(ctl_path), "%s/c.sock", dir);
	d = spawn((char *const[]){ (char *)display, "--socket", sock, "--control", ctl_path,
				   "--output", "offscreen", "--output-size", "1920x1080",
				   "--input", "synthetic", "--vnc-listen", "none",
				   "--guest", "one=#2040ff", "--guest", "two=#20c040", NULL });
	for (int i = 0; i < 100 && stat(ctl_path, &st); i++)
		usleep(20000);
	p[0] = spawn((char *const[]){ (char *)peer, "--socket", sock, "--name", "one", "--size",
				      "1920x1080", "--color", "2040ff", NULL });
	p[1] = spawn((char *const[]){ (char *)peer, "--socket", sock, "--name", "two", "--size",
				      "1920x1080", "--color", "20c040", NULL });
	if (ctl_connect(c, ctl_path) || wait_running(c)) {
		fprintf(stderr, "bench display-flip-latency: the display or its peers did not start\n");
		bad = 1;
		goto out;
	}
	for (int r = 0; r < FLIP_WARMUP + FLIP_RUNS && !bad; r++) {
		int to = (r + 1) % 2; /* slot 2, then 1, ... (slot 1 is shown first) */
		char req[512];
		long long before, now = -1;
		double t0, t1 = 0, p0 = 0;

		usleep(FLIP_GAP_US);
		snprintf(req, sizeof(req),
			 "{\"command\": \"list\"}\n"
			 "{\"command\": \"inject\", \"events\": ["
			 "[\"EV_KEY\", \"KEY_RIGHTCTRL\", 1], [\"EV_SYN\", \"SYN_REPORT\", 0], "
			 "[\"EV_KEY\", \"KEY_%d\", 1], [\"EV_SYN\", \"SYN_REPORT\", 0], "
			 "[\"EV_KEY\", \"KEY_%d\", 0], [\"EV_SYN\", \"SYN_REPORT\", 0], "
			 "[\"EV_KEY\", \"KEY_RIGHTCTRL\", 0], [\"EV_SYN\", \"SYN_REPORT\", 0]]}\n",
			 to + 1, to + 1);
		t0 = now_ms();
		if (ctl_send(c, req) || ctl_reply(c, line, sizeof(line)) ||
		    (before = list_frames(line, active, sizeof(active))) < 0 ||
		    ctl_reply(c, line, sizeof(line)) || !strstr(line, "\"ok\":true")) {
			bad = 1;
			break;
		}
		do {
			p0 = now_ms();
			if (ctl_send(c, "{\"command\": \"list\"}\n") ||
			    ctl_reply(c, line, sizeof(line))) {
				bad = 1;
				break;
			}
			t1 = now_ms();
			now = list_frames(line, active, sizeof(active));
		} while (!bad && now <= before && t1 - t0 < FLIP_TIMEOUT_MS);
		if (bad || now <= before || strcmp(active, names[to])) {
			fprintf(stderr, "bench display-flip-latency: run %d: no frame of '%s' (frames "
				"%lld -> %lld, active '%s')\n", r, names[to], before, now, active);
			bad = 1;
			break;
		}
		if (r >= FLIP_WARMUP) {
			t[n] = t1 - t0;
			rtt[n++] = t1 - p0;
		}
		/* what the output shows now is the new guest (a few runs) */
		if (r < FLIP_WARMUP + 2 || r >= FLIP_WARMUP + FLIP_RUNS - 2) {
			long rgb = screen_centre(c, dir);

			checked++;
			if (rgb != colours[to]) {
				fprintf(stderr, "bench display-flip-latency: run %d: the screen's centre "
					"is %06lx, not '%s' (%06lx)\n", r, rgb, names[to], colours[to]);
				bad = 1;
			}
		}
	}
	if (!bad) {
		double med = median(t, n), p95 = percentile(t, n, 0.95);

		report("display-flip-latency", med, copy);
		report("display-flip-latency-p95", p95, copy);
		fprintf(stderr, "(%d hotkeys, %d checked by screenshot; a list round trip, which "
			"the figures include once: median %.4f ms)\n", n, checked, median(rtt, n));
	}
out:
	if (c->fd >= 0)
		close(c->fd);
	free(c);
	for (int i = 0; i < 2; i++)
		kill(p[i], SIGTERM);
	kill(d, SIGTERM);
	for (int i = 0; i < 2; i++)
		waitpid(p[i], NULL, 0);
	waitpid(d, NULL, 0);
	unlink(sock);
	unlink(ctl_path);
	rmdir(dir);
	return bad;
}

int main(int argc, char **argv)
{
	struct display_rect cursor = { 960, 540, 64, 64 };
	double copy;

	setvbuf(stdout, NULL, _IOLBF, 0);
	copy = memcpy_ms();

	report("display-compose-1080p-1to1", compose_ms(SCREEN_W, SCREEN_H, NULL), copy);
	report("display-compose-1080p-from-1024x768", compose_ms(1024, 768, NULL), copy);
	report("display-compose-1080p-from-1280x1024", compose_ms(1280, 1024, NULL), copy);
	report("display-compose-1080p-cursor-64x64", compose_ms(SCREEN_W, SCREEN_H, &cursor), copy);
	if (argc == 3)
		return idle_cpu(argv[1], argv[2]) | flip_latency(argv[1], argv[2], copy);
	return 0;
}
