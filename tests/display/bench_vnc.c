/* Benchmark of duet-display's VNC (display/vnc.c): one full-frame update
 * of a typical 1920x1080 desktop picture (wallpaper gradient, taskbar,
 * icons, three windows of text, a spreadsheet grid and a photo-like
 * area), Tight and ZRLE, against QEMU's built-in VNC server showing the
 * same pixels:
 *   bench vnc-full-frame-tight-cpu: duet=X ms qemu=Y ms ratio=R
 *   bench vnc-full-frame-tight-bytes: duet=X KiB qemu=Y KiB ratio=R
 *   (and the same for zrle; R = duet/qemu)
 * duet-display (optimised, offscreen) gets the picture from this program
 * acting as a guest (lib/display_client); QEMU (TCG) from
 * bench_vnc_guest.elf, which copies it to the std-VGA framebuffer. Both
 * are checked pixel for pixel over Raw before anything is timed.
 *
 * The same bare RFB client reads both: it asks for the whole screen
 * (non-incremental, then incremental until every pixel came: duet sends a
 * full frame in bands that fit the socket) and counts the bytes of the
 * updates. Encode time is the server's CPU time over that exchange, all
 * threads (/proc/PID/task/N/schedstat), less its idle rate measured
 * beforehand; QEMU encodes in a worker thread and only at its refresh
 * timer, so wall-clock time would measure that timer, not the encoder.
 * Each figure is the median of RUNS frames on one connection. Neither
 * side is asked for JPEG (both encode losslessly); both are asked for
 * compression level 6.
 *
 * Usage: bench_vnc DUET_DISPLAY GUEST_ELF [QEMU] */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <pixman.h>

#include "display_client.h"
#include "font.h"

#define W 1920
#define H 1080
#define RUNS 9
#define ENC_RAW 0
#define ENC_TIGHT 7
#define ENC_ZRLE 16
#define ENC_LASTRECT (-224)
#define READ_TIMEOUT_MS 15000

static uint32_t *picture;

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

/* ---- the picture ---- */

static uint32_t lcg_state = 12345;

static uint32_t lcg(void)
{
	lcg_state = lcg_state * 1103515245u + 12345u;
	return lcg_state >> 16;
}

static void rect(pixman_image_t *img, int x, int y, int w, int h, uint32_t rgb)
{
	pixman_fill(pixman_image_get_data(img), W, 32, x, y, w, h, 0xff000000u | rgb);
}

static void text(pixman_image_t *img, int x, int y, const char *s, uint32_t rgb)
{
	font_draw(img, x, y, s, 1, 0xff000000u | rgb);
}

/* window: a frame, a title bar, and a body of `kind`: 0 text, 1 a
 * spreadsheet grid, 2 a photo-like smooth picture with grain */
static void window(pixman_image_t *img, int x, int y, int w, int h, const char *title, int kind)
{
	static const char *const words[] = { "the", "school", "network", "is", "a", "shared",
					     "resource", "please", "save", "your", "work",
					     "often", "lesson", "plan", "for", "monday" };
	uint32_t *p = pixman_image_get_data(img);

	rect(img, x - 1, y - 1, w + 2, h + 2, 0x505050);
	rect(img, x, y, w, 28, 0x2b579a);
	text(img, x + 10, y + 10, title, 0xffffff);
	rect(img, x + w - 24, y + 6, 16, 16, 0xc42b1c);
	rect(img, x, y + 28, w, h - 28, 0xffffff);
	if (kind == 0) {
		for (int ty = y + 40; ty < y + h - 12; ty += 12) {
			char line[256] = "";
			size_t len = 0;

			while (len < (size_t)(w - 30) / 6 - 12) {
				const char *word = words[lcg() % 16];

				len += (size_t)snprintf(line + len, sizeof(line) - len, "%s ", word);
			}
			text(img, x + 12, ty, line, 0x202020);
		}
	} else if (kind == 1) {
		for (int gy = y + 28; gy < y + h; gy += 20)
			rect(img, x, gy, w, 1, 0xd0d0d0);
		for (int gx = x + 60; gx < x + w; gx += 90)
			rect(img, gx, y + 28, 1, h - 28, 0xd0d0d0);
		for (int gy = y + 34; gy < y + h - 14; gy += 20)
			for (int gx = x + 66; gx < x + w - 80; gx += 90) {
				char cell[16];

				snprintf(cell, sizeof(cell), "%u.%02u", lcg() % 1000, lcg() % 100);
				text(img, gx, gy, cell, 0x000000);
			}
	} else {
		for (int py = y + 28; py < y + h; py++)
			for (int px = x; px < x + w; px++) {
				double u = (px - x) / (double)w, v = (py - y) / (double)h;
				int r = (int)(120 + 100 * sin(u * 5 + v * 2)) + (int)(lcg() % 9) - 4;
				int g = (int)(140 + 80 * sin(v * 6 - u)) + (int)(lcg() % 9) - 4;
				int b = (int)(90 + 60 * cos(u * 3 + v * 4)) + (int)(lcg() % 9) - 4;

				p[py * W + px] = (uint32_t)(r & 255) << 16 | (uint32_t)(g & 255) << 8 |
						 (uint32_t)(b & 255);
			}
	}
}

static void make_picture(void)
{
	pixman_image_t *img;

	picture = calloc((size_t)W * H, 4);
	img = pixman_image_create_bits(PIXMAN_x8r8g8b8, W, H, picture, W * 4);
	if (!picture || !img)
		exit(1);
	for (int y = 0; y < H; y++) /* wallpaper: a vertical gradient */
		rect(img, 0, y, W, 1, (uint32_t)(20 + y * 40 / H) << 16 |
				      (uint32_t)(60 + y * 80 / H) << 8 | (uint32_t)(110 + y * 90 / H));
	for (int i = 0; i < 6; i++) { /* desktop icons */
		rect(img, 30, 30 + i * 90, 48, 48, 0xf0c040 - (uint32_t)i * 0x201008);
		text(img, 24, 84 + i * 90, i % 2 ? "Documents" : "Browser", 0xffffff);
	}
	window(img, 160, 80, 900, 620, "Report.odt - LibreOffice Writer", 0);
	window(img, 700, 300, 1000, 560, "Marks.ods - LibreOffice Calc", 1);
	window(img, 1250, 60, 560, 380, "holiday.jpg - Image Viewer", 2);
	rect(img, 0, H - 40, W, 40, 0x1f1f1f); /* the taskbar */
	for (int i = 0; i < 8; i++)
		rect(img, 60 + i * 52, H - 34, 28, 28, 0x3080e0 + (uint32_t)i * 0x101010);
	text(img, W - 60, H - 24, "10:42", 0xffffff);
	pixman_image_unref(img);
}

/* ---- processes ---- */

static pid_t spawn(char *const argv[], const char *log)
{
	pid_t pid = fork();

	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	return pid;
}

static void stop(pid_t pid)
{
	if (pid > 0) {
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
	}
}

/* guest: serve the picture to duet-display as guest "desktop" */
static pid_t start_guest(const char *socket_path)
{
	pid_t pid = fork();
	size_t bytes = (size_t)W * H * 4;
	struct display_client *c;
	uint32_t *pixels;
	int fd;

	if (pid)
		return pid;
	fd = memfd_create("bench-vnc", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0 || ftruncate(fd, (off_t)bytes) < 0 || fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) < 0)
		_exit(1);
	pixels = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (pixels == MAP_FAILED)
		_exit(1);
	memcpy(pixels, picture, bytes);
	if (display_client_create(&c, socket_path, "desktop", &(struct display_client_ops){ 0 },
				  NULL) ||
	    display_client_set_surface(c, fd, W, H, W * 4, DISPLAY_FORMAT_XRGB8888, 0))
		_exit(1);
	for (;;) {
		struct pollfd p = { .fd = display_client_fd(c), .events = POLLIN };

		if (poll(&p, 1, -1) > 0)
			display_client_dispatch(c);
	}
}

/* cpu_ns: CPU time of all of a process's threads. */
static uint64_t cpu_ns(pid_t pid)
{
	char path[64];
	struct dirent *e;
	uint64_t sum = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	dir = opendir(path);
	if (!dir)
		return 0;
	while ((e = readdir(dir))) {
		char stat_path[400];
		unsigned long long ns;
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(stat_path, sizeof(stat_path), "%s/%s/schedstat", path, e->d_name);
		f = fopen(stat_path, "r");
		if (f && fscanf(f, "%llu", &ns) == 1)
			sum += ns;
		if (f)
			fclose(f);
	}
	closedir(dir);
	return sum;
}

static int free_port(void)
{
	for (int tries = 0; tries < 200; tries++) {
		int port = 20000 + (int)(lcg() % 30000), ok = 1;

		for (int i = 0; i < 3 && ok; i++) {
			struct sockaddr_in a = { .sin_family = AF_INET,
						 .sin_port = htons((uint16_t)(port + i)),
						 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
			int s = socket(AF_INET, SOCK_STREAM, 0);

			ok = s >= 0 && bind(s, (struct sockaddr *)&a, sizeof(a)) == 0;
			if (s >= 0)
				close(s);
		}
		if (ok)
			return port;
	}
	return -1;
}

/* ---- a bare RFB client ---- */

struct rfb {
	int fd;
	int w, h;
	uint64_t bytes;             /* read so far */
	uint8_t *covered;           /* a byte per pixel */
	size_t ncovered;
	uint32_t *raw;              /* Raw rectangles land here */
};

static int rfb_read(struct rfb *r, void *buf, size_t n)
{
	uint8_t *p = buf;

	while (n) {
		struct pollfd pfd = { .fd = r->fd, .events = POLLIN };
		ssize_t got;

		if (poll(&pfd, 1, READ_TIMEOUT_MS) <= 0)
			return -1;
		got = recv(r->fd, p, n, 0);
		if (got <= 0)
			return -1;
		p += got;
		n -= (size_t)got;
		r->bytes += (uint64_t)got;
	}
	return 0;
}

static int rfb_skip(struct rfb *r, size_t n)
{
	uint8_t buf[65536];

	while (n) {
		size_t k = n < sizeof(buf) ? n : sizeof(buf);

		if (rfb_read(r, buf, k))
			return -1;
		n -= k;
	}
	return 0;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void rfb_close(struct rfb *r)
{
	if (r->fd >= 0)
		close(r->fd);
	free(r->covered);
	r->fd = -1;
	r->covered = NULL;
}

/* rfb_open: connect, no authentication, our pixel format (32 bpp,
 * 0x00RRGGBB little-endian, as both servers hold it) and one encoding. */
static int rfb_open(struct rfb *r, int port, int32_t encoding)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	uint8_t buf[64], n;
	uint8_t fmt[20] = { 0, 0, 0, 0, 32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0 };
	/* the encoding, and compression level 6 (RFB 7.8.2; libvncserver's
	 * default, QEMU's is 9) so that both do the same work */
	uint8_t enc[12] = { 2, 0, 0, 2, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x06 };
	int one = 1;

	memset(r, 0, sizeof(*r));
	r->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (r->fd < 0 || connect(r->fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		goto fail;
	setsockopt(r->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (rfb_read(r, buf, 12) || memcmp(buf, "RFB 003.00", 10) ||
	    send(r->fd, "RFB 003.008\n", 12, 0) != 12 || rfb_read(r, &n, 1) || !n ||
	    rfb_read(r, buf, n) || !memchr(buf, 1, n) || send(r->fd, "\x01", 1, 0) != 1 ||
	    rfb_read(r, buf, 4) || be32(buf) != 0 || send(r->fd, "\x01", 1, 0) != 1 ||
	    rfb_read(r, buf, 24) || rfb_skip(r, be32(buf + 20)))
		goto fail;
	r->w = buf[0] << 8 | buf[1];
	r->h = buf[2] << 8 | buf[3];
	enc[4] = (uint8_t)((uint32_t)encoding >> 24);
	enc[5] = (uint8_t)((uint32_t)encoding >> 16);
	enc[6] = (uint8_t)((uint32_t)encoding >> 8);
	enc[7] = (uint8_t)encoding;
	r->covered = calloc((size_t)r->w * (size_t)r->h, 1);
	if (!r->covered || send(r->fd, fmt, sizeof(fmt), 0) != sizeof(fmt) ||
	    send(r->fd, enc, sizeof(enc), 0) != sizeof(enc))
		goto fail;
	return 0;
fail:
	rfb_close(r);
	return -1;
}

static int rfb_request(struct rfb *r, int incremental)
{
	uint8_t m[10] = { 3, (uint8_t)incremental, 0, 0, 0, 0, (uint8_t)(r->w >> 8),
			  (uint8_t)r->w, (uint8_t)(r->h >> 8), (uint8_t)r->h };

	return send(r->fd, m, sizeof(m), 0) == sizeof(m) ? 0 : -1;
}

/* tight_length: the "compact length" of RFB 7.7.6 */
static int tight_length(struct rfb *r, size_t *len)
{
	uint8_t b;

	*len = 0;
	for (int i = 0; i < 3; i++) {
		if (rfb_read(r, &b, 1))
			return -1;
		*len |= (size_t)(i == 2 ? b : b & 0x7f) << (7 * i);
		if (!(b & 0x80))
			break;
	}
	return 0;
}

/* tight_rect: skip one Tight rectangle (RFB 7.7.6; TPIXEL is 3 bytes for
 * our pixel format) */
static int tight_rect(struct rfb *r, int w, int h)
{
	uint8_t ctl, filter = 0, colours;
	size_t row = (size_t)w * 3, len;

	if (rfb_read(r, &ctl, 1))
		return -1;
	switch (ctl >> 4) {
	case 8: /* fill */
		return rfb_skip(r, 3);
	case 9: /* JPEG */
		return tight_length(r, &len) || rfb_skip(r, len);
	default:
		if ((ctl >> 4) > 9)
			return -1;
		if ((ctl & 0x40) && rfb_read(r, &filter, 1))
			return -1;
		if (filter == 1) { /* palette */
			if (rfb_read(r, &colours, 1) || rfb_skip(r, ((size_t)colours + 1) * 3))
				return -1;
			row = colours == 1 ? ((size_t)w + 7) / 8 : (size_t)w;
		}
		if (row * (size_t)h < 12)
			return rfb_skip(r, row * (size_t)h);
		return tight_length(r, &len) || rfb_skip(r, len);
	}
}

/* rfb_update: read messages up to the end of one FramebufferUpdate */
static int rfb_update(struct rfb *r)
{
	uint8_t hdr[12];
	unsigned nrects;

	for (;;) {
		if (rfb_read(r, hdr, 1))
			return -1;
		if (hdr[0] == 0)
			break;
		if (hdr[0] == 2) /* bell */
			continue;
		if (hdr[0] != 3 || rfb_read(r, hdr + 1, 7) || rfb_skip(r, be32(hdr + 4)))
			return -1; /* only server cut text is expected besides */
	}
	if (rfb_read(r, hdr + 1, 3))
		return -1;
	nrects = (unsigned)hdr[2] << 8 | hdr[3];
	for (unsigned i = 0; i < nrects; i++) {
		int x, y, w, h;
		int32_t enc;

		if (rfb_read(r, hdr, 12))
			return -1;
		x = hdr[0] << 8 | hdr[1];
		y = hdr[2] << 8 | hdr[3];
		w = hdr[4] << 8 | hdr[5];
		h = hdr[6] << 8 | hdr[7];
		enc = (int32_t)be32(hdr + 8);
		if (enc == ENC_LASTRECT)
			break;
		if (x + w > r->w || y + h > r->h)
			return -1;
		if (enc == ENC_RAW) {
			for (int j = 0; j < h; j++)
				if (r->raw ? rfb_read(r, r->raw + (size_t)(y + j) * r->w + x,
						      (size_t)w * 4)
					   : rfb_skip(r, (size_t)w * 4))
					return -1;
		} else if (enc == ENC_ZRLE) {
			if (rfb_read(r, hdr, 4) || rfb_skip(r, be32(hdr)))
				return -1;
		} else if (enc == ENC_TIGHT) {
			if (tight_rect(r, w, h))
				return -1;
		} else {
			return -1;
		}
		for (int j = y; j < y + h; j++)
			for (int k = x; k < x + w; k++)
				if (!r->covered[(size_t)j * r->w + k]) {
					r->covered[(size_t)j * r->w + k] = 1;
					r->ncovered++;
				}
	}
	return 0;
}

/* rfb_frame: ask for the whole screen and read until every pixel came */
static int rfb_frame(struct rfb *r)
{
	memset(r->covered, 0, (size_t)r->w * (size_t)r->h);
	r->ncovered = 0;
	if (rfb_request(r, 0))
		return -1;
	for (;;) {
		if (rfb_update(r))
			return -1;
		if (r->ncovered == (size_t)r->w * (size_t)r->h)
			return 0;
		if (rfb_request(r, 1))
			return -1;
	}
}

/* rfb_shows_picture: the server shows our picture, pixel for pixel. */
static int rfb_shows_picture(int port)
{
	struct rfb r;
	uint32_t *raw = malloc((size_t)W * H * 4);
	int same = 0;

	if (raw && rfb_open(&r, port, ENC_RAW) == 0) {
		r.raw = raw;
		if (r.w == W && r.h == H && rfb_frame(&r) == 0) {
			same = 1;
			for (size_t i = 0; i < (size_t)W * H && same; i++)
				same = ((raw[i] ^ picture[i]) & 0xffffff) == 0;
		}
		rfb_close(&r);
	}
	free(raw);
	return same;
}

struct result {
	double cpu_ms, kib;
};

/* measure: RUNS full frames in `encoding` from the server on `port`. */
static int measure(int port, pid_t server, int32_t encoding, struct result *out)
{
	double cpu[RUNS], kib[RUNS], idle_rate, t0, t1;
	uint64_t c0, c1;
	struct rfb r;

	if (rfb_open(&r, port, encoding))
		return -1;
	if (rfb_frame(&r)) /* the first, with the zlib streams' set-up */
		goto fail;
	usleep(200000);
	c0 = cpu_ns(server);
	t0 = now_ms();
	usleep(1000000);
	idle_rate = (double)(cpu_ns(server) - c0) / 1e6 / (now_ms() - t0);
	for (int i = 0; i < RUNS; i++) {
		uint64_t b0 = r.bytes;

		c0 = cpu_ns(server);
		t0 = now_ms();
		if (rfb_frame(&r))
			goto fail;
		c1 = cpu_ns(server);
		t1 = now_ms();
		cpu[i] = (double)(c1 - c0) / 1e6 - idle_rate * (t1 - t0);
		kib[i] = (double)(r.bytes - b0) / 1024.0;
	}
	rfb_close(&r);
	out->cpu_ms = median(cpu, RUNS);
	out->kib = median(kib, RUNS);
	return 0;
fail:
	rfb_close(&r);
	return -1;
}

static int wait_until(int (*ready)(int), int port, double timeout_ms)
{
	double end = now_ms() + timeout_ms;

	while (now_ms() < end) {
		if (ready(port))
			return 1;
		usleep(200000);
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int32_t encoding;
	} encodings[] = { { "tight", ENC_TIGHT }, { "zrle", ENC_ZRLE } };
	char dir[] = "/tmp/duet-bench-vnc-XXXXXX", sock[128], ctl[128], pic[128], port_arg[16];
	char qemu_vnc[64], logd[160], logq[160];
	struct result duet[2], qemu[2];
	int base, qport, have_qemu = 0;
	const char *why_no_qemu = NULL;
	pid_t display, guest, q = -1;
	FILE *f;

	if (argc < 3) {
		fprintf(stderr, "usage: bench_vnc DUET_DISPLAY GUEST_ELF [QEMU]\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	lcg_state = (uint32_t)getpid();
	base = free_port();
	qport = free_port();
	lcg_state = 12345; /* the same picture every time */
	make_picture();
	if (!mkdtemp(dir) || base < 0 || qport < 0)
		return 1;
	snprintf(sock, sizeof(sock), "%s/d.sock", dir);
	snprintf(ctl, sizeof(ctl), "%s/c.sock", dir);
	snprintf(pic, sizeof(pic), "%s/picture.raw", dir);
	snprintf(port_arg, sizeof(port_arg), "%d", base);
	snprintf(logd, sizeof(logd), "%s/display.log", dir);
	snprintf(logq, sizeof(logq), "%s/qemu.log", dir);
	f = fopen(pic, "wb");
	if (!f || fwrite(picture, 4, (size_t)W * H, f) != (size_t)W * H || fclose(f))
		return 1;
	printf("# picture: a %dx%d desktop, raw %.0f KiB\n", W, H, (double)W * H * 4 / 1024);

	display = spawn((char *const[]){ argv[1], "--socket", sock, "--control", ctl,
					 "--output-size", "1920x1080", "--vnc-base-port", port_arg,
					 NULL }, logd);
	usleep(300000);
	guest = start_guest(sock);
	if (!wait_until(rfb_shows_picture, base + 1, 10000)) {
		fprintf(stderr, "bench_vnc: duet-display does not show the picture (see %s)\n", logd);
		stop(guest);
		stop(display);
		return 1;
	}
	for (int i = 0; i < 2; i++)
		if (measure(base + 1, display, encodings[i].encoding, &duet[i])) {
			fprintf(stderr, "bench_vnc: duet-display %s failed\n", encodings[i].name);
			return 1;
		}
	stop(guest);
	stop(display);

	if (argc < 4 || access(argv[3], X_OK)) {
		why_no_qemu = "no qemu-system-x86_64";
	} else if (access(argv[2], R_OK)) {
		why_no_qemu = "no guest ELF";
	} else {
		snprintf(qemu_vnc, sizeof(qemu_vnc), "127.0.0.1:%d", qport - 5900);
		q = spawn((char *const[]){ argv[3], "-accel", "tcg", "-m", "64", "-vga", "std",
					   "-display", "none", "-vnc", qemu_vnc, "-nic", "none",
					   "-monitor", "none", "-serial", "none", "-kernel", argv[2],
					   "-initrd", pic, NULL }, logq);
		have_qemu = wait_until(rfb_shows_picture, qport, 60000);
		for (int i = 0; i < 2 && have_qemu; i++)
			have_qemu = measure(qport, q, encodings[i].encoding, &qemu[i]) == 0;
		if (!have_qemu)
			why_no_qemu = "QEMU did not show the picture over VNC";
		stop(q);
	}
	for (int i = 0; i < 2; i++) {
		if (have_qemu) {
			printf("bench vnc-full-frame-%s-cpu: duet=%.1f ms qemu=%.1f ms ratio=%.2f\n",
			       encodings[i].name, duet[i].cpu_ms, qemu[i].cpu_ms,
			       duet[i].cpu_ms / qemu[i].cpu_ms);
			printf("bench vnc-full-frame-%s-bytes: duet=%.0f KiB qemu=%.0f KiB ratio=%.2f\n",
			       encodings[i].name, duet[i].kib, qemu[i].kib, duet[i].kib / qemu[i].kib);
		} else {
			printf("bench vnc-full-frame-%s-cpu: duet=%.1f ms qemu=n/a (%s)\n",
			       encodings[i].name, duet[i].cpu_ms, why_no_qemu);
			printf("bench vnc-full-frame-%s-bytes: duet=%.0f KiB raw=%.0f KiB ratio=%.3f\n",
			       encodings[i].name, duet[i].kib, (double)W * H * 4 / 1024,
			       duet[i].kib / ((double)W * H * 4 / 1024));
		}
	}
	unlink(pic);
	unlink(logd);
	unlink(logq);
	rmdir(dir);
	return 0;
}
