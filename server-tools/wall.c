/* duet wall: the classroom at a glance. Every known PC's screen (the
 * composed screen's VNC server of its duet-display, libvncclient) becomes
 * a thumbnail in a grid, labelled with the PC's name and the guest it
 * shows (asked over the remote port when the PC has one), written as one
 * PNG (libpng) and refreshed in place every --interval seconds; with
 * --html, a self-refreshing index.html beside it.
 *
 * Each PC is asked by a child process of its own (up to WALL_CHILDREN at
 * once), which leaves its tile and label in memory shared with the
 * parent. Processes, not threads: libvncclient's VNC authentication keeps
 * its DES state in globals, and a PC's VNC server is not trusted, so a
 * child that hangs past WALL_PC_DEADLINE_MS is killed and one that crashes
 * costs only its own tile. A child may be in a hostile server's hands, so
 * the shared memory holds plain data only (struct wall_result and the
 * tiles' pixels): the parent keeps every pointer in its own memory, and
 * reads a result only after the child is gone, each string cut to its
 * size. A PC that is off is a grey tile and never holds up the others.
 * See docs/duet-wall.md. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pixman.h>
#include <png.h>
#include <rfb/rfbclient.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "display_proto.h"
#include "duet.h"
#include "font.h"
#include "parse.h"
#include "pcs.h"
#include "remote.h"
#include "remote_proto.h"
#include "util.h"

/* Worst case per child: the screen (WALL_MAX_SCREEN_PIXELS, 64 MiB) and a
 * decoder buffer as large; WALL_CHILDREN of them stay well under 1.5 GiB. */
#define WALL_CHILDREN 8
/* duet-display's screen is at most DISPLAY_MAX_WIDTH x DISPLAY_MAX_HEIGHT
 * (lib/display_proto.h), and in pixels at most this: 5K, or two 4K side by
 * side. A server that says more is refused. */
#define WALL_MAX_SCREEN_PIXELS (4096u * 4096u)
/* The encodings asked for, best first. duet-display's libvncserver serves
 * every RFB encoding; of them zlib is the one that is cheap on the LAN
 * and small to decode: one inflate() into a buffer of the rectangle's
 * size, checked against the screen. Tight (palettes, gradient filter,
 * JPEG through libjpeg) and ZRLE (tiles, palettes, runs) are far more
 * parser for a hostile server to aim at, and CopyRect buys nothing for
 * one picture. Raw is the fallback every server has. */
#define WALL_ENCODINGS "zlib raw"
#define WALL_PC_DEADLINE_MS 15000  /* a child's whole job, then SIGKILL */
#define WALL_VNC_TIMEOUT_S 3       /* connect, and each read */
#define WALL_FRAME_TIMEOUT_MS 8000 /* the whole picture of one PC */
#define WALL_REMOTE_TIMEOUT_MS 3000
#define WALL_MAX_PCS 1024

/* The layout (docs/duet-wall.md): tiles in PC order, left to right, top
 * to bottom, WALL_MARGIN around the grid and WALL_GAP between tiles. A
 * tile is the picture (--tile WxH), then a label band of two lines of the
 * 5x7 font at WALL_TEXT_SCALE: the PC's name, and the guest on screen (or
 * what is wrong). */
#define WALL_MARGIN 8
#define WALL_GAP 8
#define WALL_TEXT_SCALE 2
#define WALL_LINE_HEIGHT (FONT_GLYPH_HEIGHT * WALL_TEXT_SCALE)
#define WALL_PAD 4
#define WALL_LABEL_HEIGHT (3 * WALL_PAD + 2 * WALL_LINE_HEIGHT)

#define WALL_BACKGROUND 0xff181818u
#define WALL_LABEL_BG 0xff303030u
#define WALL_NAME_FG 0xffffffffu
#define WALL_STATUS_FG 0xffc0c0c0u
#define WALL_GREY_TILE 0xff606060u
#define WALL_GREY_TEXT 0xffe0e0e0u

#define WALL_STATUS_SIZE 160
#define WALL_DETAIL_SIZE 512

/* What a PC's child leaves in shared memory: plain data, no pointers. The
 * parent reads it once the child is gone, and trusts none of it. */
struct wall_result {
	uint8_t done;         /* nonzero: the child finished */
	uint8_t have_picture; /* nonzero: its tile in wall.bits holds the screen */
	char status[WALL_STATUS_SIZE];
	char detail[WALL_DETAIL_SIZE];
};

/* One PC, in the parent's own memory (the children get a copy at fork). */
struct wall_pc {
	struct pc_id pc;
	char name[256];         /* line 1: hostname, else MAC, else IP */
	const char *address;
	unsigned vnc_port;
	unsigned remote_port;
	bool remote;
	char *password;         /* the first line of vnc-password-file; NULL: none */
	char setup_error[160];  /* not asked: why */
	pixman_image_t *picture; /* over the PC's tile in wall.bits, --tile sized */
	/* one refresh's outcome, from its wall_result */
	bool have_picture;
	char status[WALL_STATUS_SIZE]; /* line 2 */
	char detail[WALL_DETAIL_SIZE]; /* for --once and the HTML */
};

/* One VNC connection, in the child's own memory. */
struct wall_grab {
	const struct wall_pc *p;
	struct wall_result *out;
	bool got_frame;
	pixman_region32_t received; /* of the screen, since its last size */
	uint8_t *framebuffer;       /* libvncclient's, allocated by us */
};

struct wall {
	struct duet_conf *conf;
	unsigned tile_w, tile_h, columns;
	unsigned interval;
	bool once;
	const char *output; /* the PNG */
	const char *html_dir;
	char html_png[PATH_MAX];
	struct remote_key key;
	bool have_key;
	struct wall_pc *pcs;         /* the parent's */
	struct wall_result *results; /* shared with the children, one per PC */
	uint8_t *bits;               /* the tiles' pictures, shared with the children */
	size_t bits_size;
	size_t count;
};

static volatile sig_atomic_t wall_stop;

static void wall_on_signal(int sig)
{
	(void)sig;
	wall_stop = 1;
}

/* ---- one PC's picture over VNC ---- */

static int wall_client_tag;

/* libvncclient logs through two global hooks; each thread keeps its last
 * message, which says why a connection failed. */
static _Thread_local char wall_vnc_message[256];
static _Thread_local bool wall_vnc_connect_failed;

static void wall_vnc_log(const char *format, ...)
{
	va_list ap;

	va_start(ap, format);
	vsnprintf(wall_vnc_message, sizeof(wall_vnc_message), format, ap);
	va_end(ap);
	wall_vnc_message[strcspn(wall_vnc_message, "\n")] = 0;
	if (strstr(wall_vnc_message, "ConnectTo") || strstr(wall_vnc_message, "Unable to connect"))
		wall_vnc_connect_failed = true;
}

static char *wall_get_password(rfbClient *cl)
{
	struct wall_grab *g = rfbClientGetClientData(cl, &wall_client_tag);

	/* libvncclient frees what this returns */
	return strdup(g->p->password ? g->p->password : "");
}

/* wall_alloc_framebuffer: libvncclient's MallocFrameBuffer hook, at the
 * start and at every new size the server announces (NewFBSize). The size
 * is the server's word: at most duet-display's largest screen, and
 * WALL_MAX_SCREEN_PIXELS. What came of the old size no longer counts.
 * The wall frees it: rfbClientCleanup does not, nor rfbInitClient when it
 * fails. */
static rfbBool wall_alloc_framebuffer(rfbClient *cl)
{
	struct wall_grab *g = rfbClientGetClientData(cl, &wall_client_tag);

	free(g->framebuffer);
	g->framebuffer = NULL;
	cl->frameBuffer = NULL;
	g->got_frame = false;
	pixman_region32_clear(&g->received);
	if (cl->width < 1 || cl->height < 1 || cl->width > DISPLAY_MAX_WIDTH ||
	    cl->height > DISPLAY_MAX_HEIGHT ||
	    (uint64_t)cl->width * (uint64_t)cl->height > WALL_MAX_SCREEN_PIXELS ||
	    cl->format.bitsPerPixel != 32)
		return FALSE;
	g->framebuffer = calloc((size_t)cl->width * (size_t)cl->height, 4);
	cl->frameBuffer = g->framebuffer;
	return g->framebuffer != NULL;
}

static void wall_got_rect(rfbClient *cl, int x, int y, int w, int h)
{
	struct wall_grab *g = rfbClientGetClientData(cl, &wall_client_tag);

	pixman_region32_union_rect(&g->received, &g->received, x, y, (unsigned)w, (unsigned)h);
}

/* wall_frame_done: the picture is complete once every pixel came (the
 * first updates may carry only a cursor or a size). */
static void wall_frame_done(rfbClient *cl)
{
	struct wall_grab *g = rfbClientGetClientData(cl, &wall_client_tag);
	pixman_box32_t screen = { 0, 0, cl->width, cl->height };

	if (pixman_region32_contains_rectangle(&g->received, &screen) == PIXMAN_REGION_IN)
		g->got_frame = true;
}

static uint64_t wall_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* wall_scale: the screen, its aspect kept, centred on black in the tile. */
static void wall_scale(const struct wall *w, struct wall_grab *g, rfbClient *cl)
{
	uint64_t sw = (uint64_t)cl->width, sh = (uint64_t)cl->height;
	int dw = (int)w->tile_w, dh = (int)w->tile_h;
	pixman_image_t *src;
	pixman_transform_t t;

	if (sw * w->tile_h > sh * w->tile_w)
		dh = (int)((sh * w->tile_w + sw / 2) / sw); /* wider than the tile */
	else
		dw = (int)((sw * w->tile_h + sh / 2) / sh);

	src = pixman_image_create_bits(PIXMAN_x8r8g8b8, cl->width, cl->height,
				       (uint32_t *)cl->frameBuffer, cl->width * 4);
	if (!src)
		return;
	if (dw < 1)
		dw = 1;
	if (dh < 1)
		dh = 1;
	pixman_transform_init_scale(&t, pixman_double_to_fixed((double)cl->width / dw),
				    pixman_double_to_fixed((double)cl->height / dh));
	pixman_image_set_transform(src, &t);
	pixman_image_set_filter(src, PIXMAN_FILTER_GOOD, NULL, 0);
	pixman_image_composite32(PIXMAN_OP_SRC, src, NULL, g->p->picture, 0, 0, 0, 0,
				 ((int)w->tile_w - dw) / 2, ((int)w->tile_h - dh) / 2, dw, dh);
	pixman_image_unref(src);
	g->out->have_picture = 1;
}

static void wall_grab_vnc(const struct wall *w, struct wall_grab *g)
{
	const struct wall_pc *p = g->p;
	struct wall_result *out = g->out;
	rfbClient *cl = rfbGetClient(8, 3, 4);
	uint64_t deadline;

	wall_vnc_message[0] = 0;
	wall_vnc_connect_failed = false;
	if (!cl) {
		snprintf(out->status, sizeof(out->status), "out of memory");
		return;
	}
	/* x8r8g8b8, as pixman reads it */
	cl->format.redShift = 16;
	cl->format.greenShift = 8;
	cl->format.blueShift = 0;
	free(cl->serverHost); /* rfbGetClient's "" */
	cl->serverHost = strdup(p->address);
	cl->serverPort = (int)p->vnc_port;
	cl->connectTimeout = WALL_VNC_TIMEOUT_S;
	cl->readTimeout = WALL_VNC_TIMEOUT_S;
	cl->GetPassword = wall_get_password;
	cl->MallocFrameBuffer = wall_alloc_framebuffer;
	cl->GotFrameBufferUpdate = wall_got_rect;
	cl->FinishedFrameBufferUpdate = wall_frame_done;
	cl->canHandleNewFBSize = TRUE;
	cl->appData.encodingsString = WALL_ENCODINGS;
	cl->appData.useRemoteCursor = FALSE; /* no cursor shapes to parse */
	rfbClientSetClientData(cl, &wall_client_tag, g);
	g->got_frame = false;
	pixman_region32_init(&g->received);
	/* rfbInitClient frees the client when it fails */
	if (!rfbInitClient(cl, NULL, NULL)) {
		if (wall_vnc_connect_failed) {
			snprintf(out->status, sizeof(out->status), "off or unreachable");
			snprintf(out->detail, sizeof(out->detail),
				 "unreachable: no VNC server at %s:%u", p->address, p->vnc_port);
		} else {
			snprintf(out->status, sizeof(out->status), "VNC refused");
			snprintf(out->detail, sizeof(out->detail), "VNC at %.255s:%u refused: %.200s",
				 p->address, p->vnc_port,
				 wall_vnc_message[0] ? wall_vnc_message : "?");
		}
		pixman_region32_fini(&g->received);
		free(g->framebuffer);
		g->framebuffer = NULL;
		return;
	}
	/* rfbInitClient asked for the whole screen; wait for it */
	deadline = wall_now_ms() + WALL_FRAME_TIMEOUT_MS;
	while (!g->got_frame && wall_now_ms() < deadline) {
		int rc = WaitForMessage(cl, 200000);

		if (rc < 0 || (rc > 0 && !HandleRFBServerMessage(cl)))
			break;
	}
	if (g->got_frame && cl->frameBuffer && cl->width > 0 && cl->height > 0) {
		wall_scale(w, g, cl);
	} else {
		snprintf(out->status, sizeof(out->status), "no picture");
		snprintf(out->detail, sizeof(out->detail), "VNC at %s:%u sent no picture in time",
			 p->address, p->vnc_port);
	}
	rfbClientCleanup(cl);
	pixman_region32_fini(&g->received);
	free(g->framebuffer);
	g->framebuffer = NULL;
}

/* wall_grab_status: the guest on screen, from the remote port. */
static void wall_grab_status(const struct wall *w, const struct wall_pc *p,
			     struct wall_result *out)
{
	char reply[REMOTE_REPLY_MAX], active[64], guests[REMOTE_REPLY_MAX];
	int err = remote_request(p->address, p->remote_port, &w->key, "status",
				 WALL_REMOTE_TIMEOUT_MS, reply, sizeof(reply));

	if (err)
		snprintf(out->status, sizeof(out->status), "guest ? (remote: %s)",
			 err == -EPROTO ? "protocol error" : strerror(-err));
	else if (remote_parse_status(reply, active, sizeof(active), guests, sizeof(guests)))
		snprintf(out->status, sizeof(out->status), "guest ? (remote: %.100s)", reply);
	else
		snprintf(out->status, sizeof(out->status), "%s",
			 active[0] ? active : "nothing shown");
}

/* wall_grab: one PC's tile and label; runs in the PC's child. */
static void wall_grab(const struct wall *w, size_t i)
{
	struct wall_grab g = { .p = &w->pcs[i], .out = &w->results[i] };

	wall_grab_vnc(w, &g);
	if (g.out->have_picture && g.p->remote && w->have_key)
		wall_grab_status(w, g.p, g.out);
	g.out->done = 1;
}

struct wall_child {
	pid_t pid;
	size_t pc;
	uint64_t started_ms;
	bool killed;
};

/* wall_reaped: a child is gone; its PC's outcome is what it left (copied
 * out of the shared memory, strings cut to their size, flags 0 or not),
 * or why it left none. */
static void wall_reaped(struct wall *w, const struct wall_child *c, int status)
{
	struct wall_pc *p = &w->pcs[c->pc];
	const struct wall_result *r = &w->results[c->pc];

	memcpy(p->status, r->status, sizeof(p->status));
	memcpy(p->detail, r->detail, sizeof(p->detail));
	p->status[sizeof(p->status) - 1] = 0;
	p->detail[sizeof(p->detail) - 1] = 0;
	p->have_picture = r->have_picture != 0;
	if (r->done && WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return;
	p->have_picture = false;
	p->detail[0] = 0;
	if (c->killed) {
		snprintf(p->status, sizeof(p->status), "no answer in time");
		snprintf(p->detail, sizeof(p->detail), "no whole picture from %s:%u in %d s",
			 p->address, p->vnc_port, WALL_PC_DEADLINE_MS / 1000);
	} else if (WIFSIGNALED(status)) {
		snprintf(p->status, sizeof(p->status), "VNC client crashed");
		snprintf(p->detail, sizeof(p->detail), "the VNC client for %s:%u died of signal %d",
			 p->address, p->vnc_port, WTERMSIG(status));
	} else {
		snprintf(p->status, sizeof(p->status), "no picture");
	}
}

/* wall_grab_all: every PC's tile, WALL_CHILDREN children at a time. */
static void wall_grab_all(struct wall *w)
{
	struct wall_child children[WALL_CHILDREN];
	unsigned running = 0;
	size_t next = 0;

	fflush(stdout);
	fflush(stderr);
	while (next < w->count || running) {
		while (running < WALL_CHILDREN && next < w->count) {
			struct wall_pc *p = &w->pcs[next];
			pid_t pid;

			memset(&w->results[next], 0, sizeof(w->results[next]));
			p->have_picture = false;
			p->status[0] = p->detail[0] = 0;
			if (p->setup_error[0]) {
				snprintf(p->status, sizeof(p->status), "%s", p->setup_error);
				next++;
				continue;
			}
			pid = fork();
			if (pid == 0) {
				signal(SIGINT, SIG_DFL);
				signal(SIGTERM, SIG_DFL);
				wall_grab(w, next);
				_exit(0);
			}
			if (pid < 0) {
				snprintf(p->status, sizeof(p->status), "not asked (fork: %s)",
					 strerror(errno));
				next++;
				continue;
			}
			children[running++] = (struct wall_child){ pid, next++, wall_now_ms(), false };
		}
		for (;;) {
			int status;
			pid_t pid = waitpid(-1, &status, WNOHANG);
			unsigned k = 0;

			if (pid <= 0)
				break;
			while (k < running && children[k].pid != pid)
				k++;
			if (k == running)
				continue;
			wall_reaped(w, &children[k], status);
			children[k] = children[--running];
		}
		for (unsigned k = 0; k < running; k++) {
			if (!children[k].killed &&
			    wall_now_ms() - children[k].started_ms > WALL_PC_DEADLINE_MS) {
				kill(children[k].pid, SIGKILL);
				children[k].killed = true;
			}
		}
		if (running)
			usleep(20000);
	}
}

/* ---- the grid ---- */

/* wall_text: one line, cut to the width it has. */
static void wall_text(pixman_image_t *img, int x, int y, unsigned width, const char *text,
		      uint32_t argb)
{
	char line[128];
	size_t fit = (width + WALL_TEXT_SCALE) / (FONT_ADVANCE * WALL_TEXT_SCALE);
	size_t len = strnlen(text, sizeof(line) - 1);

	memcpy(line, text, len);
	line[len] = 0;
	if (len > fit) {
		if (fit >= 3)
			strcpy(line + fit - 2, "..");
		else
			line[fit] = 0;
	}
	font_draw(img, x, y, line, WALL_TEXT_SCALE, argb);
}

static void wall_fill(pixman_image_t *img, uint32_t argb, int x, int y, unsigned w, unsigned h)
{
	pixman_color_t c = {
		.red = (uint16_t)(((argb >> 16) & 0xff) * 0x101),
		.green = (uint16_t)(((argb >> 8) & 0xff) * 0x101),
		.blue = (uint16_t)((argb & 0xff) * 0x101),
		.alpha = 0xffff,
	};
	pixman_box32_t box = { x, y, x + (int)w, y + (int)h };

	pixman_image_fill_boxes(PIXMAN_OP_SRC, img, &c, 1, &box);
}

static pixman_image_t *wall_compose(struct wall *w)
{
	unsigned rows = (unsigned)((w->count + w->columns - 1) / w->columns);
	unsigned cell_h = w->tile_h + WALL_LABEL_HEIGHT;
	int width = (int)(2 * WALL_MARGIN + w->columns * w->tile_w + (w->columns - 1) * WALL_GAP);
	int height = (int)(2 * WALL_MARGIN + rows * cell_h + (rows - 1) * WALL_GAP);
	pixman_image_t *img = pixman_image_create_bits(PIXMAN_x8r8g8b8, width, height, NULL, 0);

	if (!img)
		return NULL;
	wall_fill(img, WALL_BACKGROUND, 0, 0, (unsigned)width, (unsigned)height);
	for (size_t i = 0; i < w->count; i++) {
		struct wall_pc *p = &w->pcs[i];
		int x = WALL_MARGIN + (int)((i % w->columns) * (w->tile_w + WALL_GAP));
		int y = WALL_MARGIN + (int)((i / w->columns) * (cell_h + WALL_GAP));
		int ly = y + (int)w->tile_h;

		if (p->have_picture) {
			pixman_image_composite32(PIXMAN_OP_SRC, p->picture, NULL, img, 0, 0, 0, 0,
						 x, y, (int)w->tile_w, (int)w->tile_h);
		} else {
			unsigned tw = font_text_width(p->status, WALL_TEXT_SCALE);

			wall_fill(img, WALL_GREY_TILE, x, y, w->tile_w, w->tile_h);
			wall_text(img, x + (tw < w->tile_w ? (int)(w->tile_w - tw) / 2 : WALL_PAD),
				  y + (int)(w->tile_h - WALL_LINE_HEIGHT) / 2, w->tile_w - 2 * WALL_PAD,
				  p->status, WALL_GREY_TEXT);
		}
		wall_fill(img, WALL_LABEL_BG, x, ly, w->tile_w, WALL_LABEL_HEIGHT);
		wall_text(img, x + WALL_PAD, ly + WALL_PAD, w->tile_w - 2 * WALL_PAD, p->name,
			  WALL_NAME_FG);
		wall_text(img, x + WALL_PAD, ly + 2 * WALL_PAD + WALL_LINE_HEIGHT,
			  w->tile_w - 2 * WALL_PAD, p->status, WALL_STATUS_FG);
	}
	return img;
}

/* wall_write_png: 8-bit RGB, written beside path and renamed over it, so
 * a viewer never sees half a picture. */
static int wall_write_png(pixman_image_t *img, const char *path)
{
	int width = pixman_image_get_width(img), height = pixman_image_get_height(img);
	const uint8_t *bits = (const uint8_t *)pixman_image_get_data(img);
	int stride = pixman_image_get_stride(img);
	char tmp[PATH_MAX];
	png_structp png = NULL;
	png_infop info = NULL;
	uint8_t *row = NULL;
	FILE *f;
	int err = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	f = fopen(tmp, "wb");
	if (!f)
		return -errno;
	row = malloc((size_t)width * 3);
	png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
	info = png ? png_create_info_struct(png) : NULL;
	if (!row || !info) {
		err = -ENOMEM;
		goto out;
	}
	if (setjmp(png_jmpbuf(png))) {
		err = -EIO;
		goto out;
	}
	png_init_io(png, f);
	png_set_compression_level(png, 3);
	png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8, PNG_COLOR_TYPE_RGB,
		     PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	png_write_info(png, info);
	for (int y = 0; y < height; y++) {
		const uint32_t *src = (const uint32_t *)(bits + (size_t)y * (size_t)stride);

		for (int x = 0; x < width; x++) {
			row[3 * x] = (uint8_t)(src[x] >> 16);
			row[3 * x + 1] = (uint8_t)(src[x] >> 8);
			row[3 * x + 2] = (uint8_t)src[x];
		}
		png_write_row(png, row);
	}
	png_write_end(png, NULL);
out:
	png_destroy_write_struct(&png, &info);
	free(row);
	if (fclose(f) != 0 && !err)
		err = -errno;
	if (!err && rename(tmp, path) < 0)
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}

static void html_escape(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '&': fputs("&amp;", f); break;
		case '"': fputs("&quot;", f); break;
		default: fputc(*s, f);
		}
	}
}

/* wall_write_html: DIR/index.html, reloading itself every interval. */
static int wall_write_html(struct wall *w)
{
	char path[PATH_MAX], stamp[64], *text = NULL;
	size_t len = 0;
	time_t now = time(NULL);
	FILE *f = open_memstream(&text, &len);
	int err;

	if (!f)
		return -ENOMEM;
	strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", localtime(&now));
	fprintf(f, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\n"
		   "<meta http-equiv=\"refresh\" content=\"%u\">\n<title>duet wall</title>\n"
		   "<style>body{background:#181818;color:#ddd;font-family:sans-serif}"
		   "td{padding:0 1em}img{max-width:100%%}</style>\n</head><body>\n"
		   "<p>duet wall, %s</p>\n<img src=\"wall.png?%ld\" alt=\"the classroom's screens\">\n"
		   "<table>\n<tr><th>PC</th><th>MAC</th><th>address</th><th>on screen</th></tr>\n",
		w->interval, stamp, (long)now);
	for (size_t i = 0; i < w->count; i++) {
		const struct wall_pc *p = &w->pcs[i];

		fputs("<tr><td>", f);
		html_escape(f, p->name);
		fputs("</td><td>", f);
		html_escape(f, p->pc.mac);
		fputs("</td><td>", f);
		html_escape(f, p->address ? p->address : "");
		fputs("</td><td>", f);
		html_escape(f, p->detail[0] ? p->detail : p->status);
		fputs("</td></tr>\n", f);
	}
	fputs("</table>\n</body></html>\n", f);
	if (fclose(f) != 0) {
		free(text);
		return -ENOMEM;
	}
	snprintf(path, sizeof(path), "%s/index.html", w->html_dir);
	err = write_file_atomic(path, text, len, 0644);
	free(text);
	return err;
}

static int wall_refresh(struct wall *w)
{
	pixman_image_t *img;
	int err;

	for (size_t i = 0; i < w->count; i++)
		wall_fill(w->pcs[i].picture, 0xff000000u, 0, 0, w->tile_w, w->tile_h);
	wall_grab_all(w);
	img = wall_compose(w);
	if (!img) {
		fprintf(stderr, "duet wall: out of memory for the picture\n");
		return -ENOMEM;
	}
	err = wall_write_png(img, w->output);
	pixman_image_unref(img);
	if (err) {
		fprintf(stderr, "duet wall: %s: %s\n", w->output, strerror(-err));
		return err;
	}
	if (w->html_dir) {
		err = wall_write_html(w);
		if (err) {
			fprintf(stderr, "duet wall: %s/index.html: %s\n", w->html_dir, strerror(-err));
			return err;
		}
	}
	return 0;
}

/* ---- set up ---- */

static int wall_read_password(const char *path, char **out, char *why, size_t size)
{
	char line[256];
	FILE *f = fopen(path, "r");

	*out = NULL;
	if (!f) {
		snprintf(why, size, "vnc-password-file: %s", strerror(errno));
		return -errno;
	}
	if (!fgets(line, sizeof(line), f))
		line[0] = 0;
	fclose(f);
	line[strcspn(line, "\r\n")] = 0;
	if (!line[0]) {
		snprintf(why, size, "vnc-password-file: empty first line");
		return -EINVAL;
	}
	*out = strdup(line);
	explicit_bzero(line, sizeof(line));
	return *out ? 0 : -ENOMEM;
}

static void wall_prepare(struct wall *w, struct wall_pc *p)
{
	const char *listen = conf_pc_get(w->conf, &p->pc, "vnc-listen");
	const char *pwfile = conf_pc_get(w->conf, &p->pc, "vnc-password-file");

	snprintf(p->name, sizeof(p->name), "%s",
		 p->pc.hostname[0] ? p->pc.hostname : p->pc.mac[0] ? p->pc.mac : p->pc.ip);
	p->address = pc_address(&p->pc);
	p->remote = pc_remote_on(w->conf, &p->pc);
	if (!p->address)
		snprintf(p->setup_error, sizeof(p->setup_error), "no address");
	else if (listen && !strcmp(listen, "none"))
		snprintf(p->setup_error, sizeof(p->setup_error), "VNC is off");
	else if (pc_port(w->conf, &p->pc, "vnc-base-port", 5900, &p->vnc_port))
		snprintf(p->setup_error, sizeof(p->setup_error), "bad vnc-base-port");
	else if (p->remote &&
		 pc_port(w->conf, &p->pc, "remote-port", REMOTE_PORT_DEFAULT, &p->remote_port))
		snprintf(p->setup_error, sizeof(p->setup_error), "bad remote-port");
	else if (pwfile)
		wall_read_password(pwfile, &p->password, p->setup_error, sizeof(p->setup_error));
}

static void wall_usage(FILE *f)
{
	fprintf(f, "Usage: duet wall [--once] [--interval SECS] [--output FILE.png | --html DIR]\n"
		   "                 [--tile WxH] [--columns N]\n\n"
		   "Thumbnails of every known classroom PC's screen (its duet-display's VNC)\n"
		   "in one PNG, labelled with the PC and the guest it shows, refreshed in\n"
		   "place. A PC that is off gets a grey tile.\n\n"
		   "  -1, --once            one picture, print each PC's state, and exit\n"
		   "  -i, --interval SECS   seconds between pictures, 1-3600 (default 10)\n"
		   "  -o, --output FILE     the PNG (default: wall.png)\n"
		   "      --html DIR        DIR/wall.png and DIR/index.html, which reloads itself\n"
		   "      --tile WxH        each PC's picture, 64x36 to 1920x1200 (default 320x180)\n"
		   "      --columns N       tiles per row (default: a square grid)\n"
		   "  -h, --help            this help\n\n"
		   "See docs/duet-wall.md.\n");
}

static void wall_free(struct wall *w)
{
	for (size_t i = 0; w->pcs && i < w->count; i++) {
		if (w->pcs[i].picture)
			pixman_image_unref(w->pcs[i].picture);
		if (w->pcs[i].password)
			explicit_bzero(w->pcs[i].password, strlen(w->pcs[i].password));
		free(w->pcs[i].password);
	}
	free(w->pcs);
	if (w->results)
		munmap(w->results, w->count * sizeof(*w->results));
	if (w->bits)
		munmap(w->bits, w->bits_size);
	explicit_bzero(&w->key, sizeof(w->key));
}

/* wall_shared: n bytes of zeroes the children write and the parent reads. */
static void *wall_shared(size_t n)
{
	void *m = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE,
		       -1, 0);

	return m == MAP_FAILED ? NULL : m;
}

static int wall_parse(struct wall *w, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "once", no_argument, NULL, '1' },
		{ "interval", required_argument, NULL, 'i' },
		{ "output", required_argument, NULL, 'o' },
		{ "html", required_argument, NULL, 'H' },
		{ "tile", required_argument, NULL, 'T' },
		{ "columns", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t n;
	char tail;
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+1i:o:h", longopts, NULL)) != -1) {
		switch (c) {
		case '1':
			w->once = true;
			break;
		case 'i':
			if (parse_u64(optarg, &n) || n < 1 || n > 3600) {
				fprintf(stderr, "duet wall: --interval: '%s' is not 1-3600 seconds\n",
					optarg);
				return 2;
			}
			w->interval = (unsigned)n;
			break;
		case 'o':
			w->output = optarg;
			break;
		case 'H':
			w->html_dir = optarg;
			break;
		case 'T':
			if (sscanf(optarg, "%ux%u%c", &w->tile_w, &w->tile_h, &tail) != 2 ||
			    w->tile_w < 64 || w->tile_h < 36 || w->tile_w > 1920 || w->tile_h > 1200) {
				fprintf(stderr, "duet wall: --tile: '%s' is not WxH from 64x36 to "
					"1920x1200\n", optarg);
				return 2;
			}
			break;
		case 'c':
			if (parse_u64(optarg, &n) || n < 1 || n > 64) {
				fprintf(stderr, "duet wall: --columns: '%s' is not 1-64\n", optarg);
				return 2;
			}
			w->columns = (unsigned)n;
			break;
		case 'h':
			wall_usage(stdout);
			return 1;
		default:
			fprintf(stderr, "duet wall: unknown option or missing value '%s' (see duet "
				"wall --help)\n", argv[optind - 1]);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "duet wall: unexpected argument '%s' (see duet wall --help)\n",
			argv[optind]);
		return 2;
	}
	if (w->output && w->html_dir) {
		fprintf(stderr, "duet wall: give --output or --html, not both (--html writes "
			"DIR/wall.png)\n");
		return 2;
	}
	return 0;
}

int duet_wall_main(struct duet_ctx *ctx, int argc, char **argv)
{
	struct wall w = { .conf = ctx->conf, .tile_w = 320, .tile_h = 180, .interval = 10,
			  .output = NULL };
	struct pc_id *pcs;
	bool want_key = false;
	size_t n;
	int rc;

	rc = wall_parse(&w, argc, argv);
	if (rc)
		return rc == 1 ? 0 : rc;
	if (w.html_dir) {
		rc = mkdir_p(w.html_dir, 0755);
		if (rc) {
			fprintf(stderr, "duet wall: %s: %s\n", w.html_dir, strerror(-rc));
			return 1;
		}
		snprintf(w.html_png, sizeof(w.html_png), "%s/wall.png", w.html_dir);
		w.output = w.html_png;
	}
	if (!w.output)
		w.output = "wall.png";
	rc = conf_known_pcs(ctx->conf, &pcs, &n);
	if (rc) {
		fprintf(stderr, "duet wall: the known PCs: %s\n", strerror(-rc));
		return 1;
	}
	if (!n) {
		fprintf(stderr, "duet wall: no classroom PC is known (MAC sections in %s, "
			"/etc/ethers or the DHCP leases)\n", ctx->conf->path);
		free(pcs);
		return 1;
	}
	if (n > WALL_MAX_PCS)
		n = WALL_MAX_PCS;
	w.count = n;
	w.bits_size = n * w.tile_w * w.tile_h * 4;
	w.pcs = calloc(n, sizeof(*w.pcs));
	w.results = wall_shared(n * sizeof(*w.results));
	w.bits = wall_shared(w.bits_size);
	if (!w.pcs || !w.results || !w.bits) {
		free(pcs);
		wall_free(&w);
		fprintf(stderr, "duet wall: out of memory\n");
		return 1;
	}
	if (!w.columns) /* a square grid: the least columns with columns^2 >= n */
		while ((size_t)w.columns * w.columns < n)
			w.columns++;
	if (w.columns > n)
		w.columns = (unsigned)n;
	for (size_t i = 0; i < n; i++) {
		w.pcs[i].pc = pcs[i];
		wall_prepare(&w, &w.pcs[i]);
		want_key |= w.pcs[i].remote;
		w.pcs[i].picture = pixman_image_create_bits(
			PIXMAN_x8r8g8b8, (int)w.tile_w, (int)w.tile_h,
			(uint32_t *)(w.bits + i * w.tile_w * w.tile_h * 4), (int)w.tile_w * 4);
		if (!w.pcs[i].picture) {
			fprintf(stderr, "duet wall: out of memory\n");
			free(pcs);
			wall_free(&w);
			return 1;
		}
	}
	free(pcs);
	if (want_key) {
		rc = remote_key_load(ctx->conf->server.key_file, true, &w.key);
		if (rc)
			fprintf(stderr, "duet wall: key %s: %s; guests on screen not shown\n",
				ctx->conf->server.key_file, remote_key_strerror(rc));
		w.have_key = !rc;
	}
	rfbClientLog = wall_vnc_log;
	rfbClientErr = wall_vnc_log;
	signal(SIGINT, wall_on_signal);
	signal(SIGTERM, wall_on_signal);
	signal(SIGPIPE, SIG_IGN);
	do {
		uint64_t next = wall_now_ms() + (uint64_t)w.interval * 1000;

		rc = wall_refresh(&w);
		if (rc)
			break;
		while (!w.once && !wall_stop && wall_now_ms() < next)
			usleep(100000);
	} while (!w.once && !wall_stop);
	if (!rc && w.once) {
		for (size_t i = 0; i < w.count; i++)
			printf("%s: %s\n", w.pcs[i].name,
			       w.pcs[i].detail[0]   ? w.pcs[i].detail
			       : w.pcs[i].status[0] ? w.pcs[i].status
						    : "picture (no remote port for the guest's name)");
	}
	wall_free(&w);
	return rc ? 1 : 0;
}
