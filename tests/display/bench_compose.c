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
 * Usage: bench_compose DUET_DISPLAY PEER */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "compositor.h"

#define SCREEN_W 1920
#define SCREEN_H 1080
#define RUNS 60
#define BUFFERS 4
#define IDLE_SECONDS 5

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
		return idle_cpu(argv[1], argv[2]);
	return 0;
}
