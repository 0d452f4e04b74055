/* A real VNC client (libvncclient) for tests/display/test_vnc.py.
 *
 *   vnc_client [OPTION]... HOST PORT
 * connects, waits until it has every pixel of the remote screen (however
 * many updates that takes), writes it with --out as a binary PPM, then
 * sends the --key and --pointer events given, and with --hold keeps
 * taking updates for that many seconds, printing
 *   updates N max-gap MS
 * at the end. Options: --password PW, --encodings "tight zrle ..."
 * (libvncclient's list; JPEG is never asked for, so pictures are exact),
 * --scale N (ask the server to scale down by N), --timeout S (default 10).
 * Exit status: 0 done, 3 the server refused the password, 1 any other
 * failure (one line on stderr says which).
 *
 * Two helpers for the tests, as the Debian tools want their files:
 *   vnc_client --store-password PW FILE   a vncpasswd file (vncsnapshot -passwd)
 *   vnc_client --jpeg-to-ppm IN.jpg OUT.ppm   (vncsnapshot writes JPEG) */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jpeglib.h> /* after stdio.h: it uses FILE and size_t */
#include <rfb/rfb.h>
#include <rfb/rfbclient.h>

#define MAX_EVENTS 64

static const char *password;
static int auth_failed;
static unsigned char *covered;  /* a byte per pixel: sent at least once */
static size_t covered_count;
static int cover_w, cover_h;
static unsigned updates;
static double last_update_ms, max_gap_ms;

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "vnc_client: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(auth_failed ? 3 : 1);
}

/* libvncclient's log lines: kept quiet, but a refused password noted. */
static void client_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void client_log(const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (strstr(line, "uthentication failed") || strstr(line, "password check failed") ||
	    strstr(line, "too many tries"))
		auth_failed = 1;
	if (getenv("VNC_CLIENT_DEBUG"))
		fputs(line, stderr);
}

static char *get_password(rfbClient *client)
{
	(void)client;
	return strdup(password ? password : "");
}

static rfbBool malloc_framebuffer(rfbClient *client)
{
	size_t n = (size_t)client->width * (size_t)client->height;

	free(client->frameBuffer);
	free(covered);
	client->frameBuffer = calloc(n ? n : 1, 4);
	covered = calloc(n ? n : 1, 1);
	covered_count = 0;
	cover_w = client->width;
	cover_h = client->height;
	return client->frameBuffer && covered;
}

static void got_update(rfbClient *client, int x, int y, int w, int h)
{
	(void)client;
	for (int j = y; j < y + h && j < cover_h; j++)
		for (int i = x; i < x + w && i < cover_w; i++)
			if (j >= 0 && i >= 0 && !covered[(size_t)j * cover_w + i]) {
				covered[(size_t)j * cover_w + i] = 1;
				covered_count++;
			}
}

static void finished_update(rfbClient *client)
{
	double t = now_ms();

	(void)client;
	if (updates && t - last_update_ms > max_gap_ms)
		max_gap_ms = t - last_update_ms;
	last_update_ms = t;
	updates++;
}

static void pump(rfbClient *client, double until_ms)
{
	while (now_ms() < until_ms) {
		int n = WaitForMessage(client, 50000);

		if (n < 0)
			die("connection lost");
		if (n > 0 && !HandleRFBServerMessage(client))
			die("connection lost while reading a message");
	}
}

/* wait_for_all: until every pixel of the screen has come. */
static void wait_for_all(rfbClient *client, double deadline)
{
	while (!cover_w || covered_count < (size_t)cover_w * (size_t)cover_h) {
		if (now_ms() > deadline)
			die("timed out with %zu of %d x %d pixels", covered_count, cover_w, cover_h);
		pump(client, now_ms() + 50);
	}
}

static void write_ppm(rfbClient *client, const char *path)
{
	FILE *f = fopen(path, "wb");
	const unsigned char *p = client->frameBuffer;

	if (!f)
		die("%s: %s", path, strerror(errno));
	/* rfbGetClient(8, 3, 4): red in the lowest byte */
	fprintf(f, "P6\n%d %d\n255\n", client->width, client->height);
	for (size_t i = 0; i < (size_t)client->width * (size_t)client->height; i++)
		fwrite(p + 4 * i, 1, 3, f);
	if (fclose(f))
		die("%s: %s", path, strerror(errno));
}

static int store_password(const char *pw, const char *path)
{
	if (rfbEncryptAndStorePasswd((char *)pw, (char *)path)) {
		fprintf(stderr, "vnc_client: cannot write %s\n", path);
		return 1;
	}
	return 0;
}

static int jpeg_to_ppm(const char *in, const char *out)
{
	struct jpeg_decompress_struct cinfo;
	struct jpeg_error_mgr jerr;
	FILE *fin = fopen(in, "rb"), *fout;
	JSAMPROW row;

	if (!fin) {
		fprintf(stderr, "vnc_client: %s: %s\n", in, strerror(errno));
		return 1;
	}
	fout = fopen(out, "wb");
	if (!fout) {
		fprintf(stderr, "vnc_client: %s: %s\n", out, strerror(errno));
		fclose(fin);
		return 1;
	}
	cinfo.err = jpeg_std_error(&jerr);
	jpeg_create_decompress(&cinfo);
	jpeg_stdio_src(&cinfo, fin);
	jpeg_read_header(&cinfo, TRUE);
	cinfo.out_color_space = JCS_RGB;
	jpeg_start_decompress(&cinfo);
	fprintf(fout, "P6\n%u %u\n255\n", cinfo.output_width, cinfo.output_height);
	row = malloc((size_t)cinfo.output_width * 3);
	while (row && cinfo.output_scanline < cinfo.output_height) {
		jpeg_read_scanlines(&cinfo, &row, 1);
		fwrite(row, 3, cinfo.output_width, fout);
	}
	free(row);
	jpeg_finish_decompress(&cinfo);
	jpeg_destroy_decompress(&cinfo);
	fclose(fin);
	return fclose(fout) ? 1 : 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "password", required_argument, NULL, 'p' },
		{ "encodings", required_argument, NULL, 'e' },
		{ "out", required_argument, NULL, 'o' },
		{ "key", required_argument, NULL, 'k' },
		{ "pointer", required_argument, NULL, 'm' },
		{ "hold", required_argument, NULL, 'H' },
		{ "scale", required_argument, NULL, 's' },
		{ "timeout", required_argument, NULL, 't' },
		{ "store-password", no_argument, NULL, 'S' },
		{ "jpeg-to-ppm", no_argument, NULL, 'J' },
		{ NULL, 0, NULL, 0 },
	};
	const char *encodings = "tight zrle hextile raw", *out = NULL;
	unsigned long keys[MAX_EVENTS];
	int pointers[MAX_EVENTS][3];
	unsigned nkeys = 0, npointers = 0;
	double hold = 0, timeout = 10, deadline;
	int scale = 0, opt;
	rfbClient *client;

	while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (opt) {
		case 'p':
			password = optarg;
			break;
		case 'e':
			encodings = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case 'k':
			if (nkeys == MAX_EVENTS)
				die("too many --key");
			keys[nkeys++] = strtoul(optarg, NULL, 0);
			break;
		case 'm':
			if (npointers == MAX_EVENTS ||
			    sscanf(optarg, "%d,%d,%d", &pointers[npointers][0],
				   &pointers[npointers][1], &pointers[npointers][2]) != 3)
				die("--pointer X,Y,BUTTONMASK");
			npointers++;
			break;
		case 'H':
			hold = atof(optarg);
			break;
		case 's':
			scale = atoi(optarg);
			break;
		case 't':
			timeout = atof(optarg);
			break;
		case 'S':
			if (argc - optind != 2)
				die("--store-password PASSWORD FILE");
			return store_password(argv[optind], argv[optind + 1]);
		case 'J':
			if (argc - optind != 2)
				die("--jpeg-to-ppm IN OUT");
			return jpeg_to_ppm(argv[optind], argv[optind + 1]);
		default:
			die("usage: vnc_client [--password PW] [--out FILE.ppm] [--key KEYSYM]... "
			    "[--pointer X,Y,MASK]... [--hold S] HOST PORT");
		}
	}
	if (argc - optind != 2)
		die("usage: vnc_client [OPTION]... HOST PORT");

	rfbClientLog = client_log;
	rfbClientErr = client_log;
	client = rfbGetClient(8, 3, 4);
	if (!client)
		die("out of memory");
	free(client->serverHost);
	client->serverHost = strdup(argv[optind]);
	client->serverPort = atoi(argv[optind + 1]);
	client->appData.encodingsString = encodings;
	client->appData.enableJPEG = FALSE;
	client->GetPassword = get_password;
	client->MallocFrameBuffer = malloc_framebuffer;
	client->GotFrameBufferUpdate = got_update;
	client->FinishedFrameBufferUpdate = finished_update;
	if (!rfbInitClient(client, NULL, NULL))
		die("cannot connect to %s port %s%s", argv[optind], argv[optind + 1],
		    auth_failed ? ": the password was refused" : "");

	/* every pixel, however many updates it takes */
	deadline = now_ms() + timeout * 1e3;
	wait_for_all(client, deadline);
	if (scale > 1) {
		/* a libvncserver server says it takes SetScale in its first
		 * update (SupportedMessages), so ask only now */
		int w = client->width / scale, h = client->height / scale;

		if (!SendScaleSetting(client, scale))
			die("cannot send SetScale");
		while (client->width != w || client->height != h) {
			if (now_ms() > deadline)
				die("timed out waiting for a %d x %d screen", w, h);
			pump(client, now_ms() + 50);
		}
		wait_for_all(client, deadline);
	}
	if (out)
		write_ppm(client, out);
	for (unsigned i = 0; i < nkeys; i++)
		if (!SendKeyEvent(client, (uint32_t)keys[i], TRUE) ||
		    !SendKeyEvent(client, (uint32_t)keys[i], FALSE))
			die("cannot send a key event");
	for (unsigned i = 0; i < npointers; i++)
		if (!SendPointerEvent(client, pointers[i][0], pointers[i][1], pointers[i][2]))
			die("cannot send a pointer event");
	if (hold > 0) {
		updates = 0;
		max_gap_ms = 0;
		last_update_ms = now_ms();
		pump(client, now_ms() + hold * 1e3);
		if (now_ms() - last_update_ms > max_gap_ms)
			max_gap_ms = now_ms() - last_update_ms;
		printf("updates %u max-gap %.0f\n", updates, max_gap_ms);
	} else if (nkeys || npointers) {
		pump(client, now_ms() + 200); /* let them go out before we close */
	}
	printf("size %d %d\n", client->width, client->height);
	free(client->frameBuffer);
	client->frameBuffer = NULL;
	rfbClientCleanup(client);
	free(covered);
	return 0;
}
