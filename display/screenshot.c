/* PNG writing (see screenshot.h). libpng reports errors by longjmp: the
 * function that calls setjmp keeps every variable it needs afterwards in
 * memory that longjmp does not clobber (its arguments, read only). */
#include "screenshot.h"

#include <errno.h>
#include <fcntl.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct png_job {
	FILE *file;
	const uint8_t *pixels;
	int width, height, stride;
	const char *error;      /* set by the error callback */
};

static void png_job_error(png_structp png, png_const_charp msg)
{
	struct png_job *job = png_get_error_ptr(png);

	job->error = msg;
	png_longjmp(png, 1);
}

static void png_job_warning(png_structp png, png_const_charp msg)
{
	(void)png;
	(void)msg;
}

/* png_encode: 0, or -1 with job->error set. */
static int png_encode(struct png_job *job)
{
	png_structp png;
	png_infop info;

	png = png_create_write_struct(PNG_LIBPNG_VER_STRING, job, png_job_error, png_job_warning);
	if (!png) {
		job->error = "out of memory";
		return -1;
	}
	info = png_create_info_struct(png);
	if (!info) {
		png_destroy_write_struct(&png, NULL);
		job->error = "out of memory";
		return -1;
	}
	if (setjmp(png_jmpbuf(png))) {
		png_destroy_write_struct(&png, &info);
		return -1;
	}
	png_init_io(png, job->file);
	png_set_compression_level(png, 1);
	png_set_filter(png, PNG_FILTER_TYPE_BASE, PNG_FILTER_SUB);
	png_set_IHDR(png, info, (png_uint_32)job->width, (png_uint_32)job->height, 8,
		     PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
		     PNG_FILTER_TYPE_DEFAULT);
	png_write_info(png, info);
	/* x8r8g8b8 lies in memory as B, G, R, X */
	png_set_bgr(png);
	png_set_filler(png, 0, PNG_FILLER_AFTER);
	for (int y = 0; y < job->height; y++)
		png_write_row(png, job->pixels + (size_t)y * (size_t)job->stride);
	png_write_end(png, info);
	png_destroy_write_struct(&png, &info);
	return 0;
}

/* fit: the largest size with the aspect of w x h inside max_w x max_h. */
static void fit(int w, int h, unsigned max_w, unsigned max_h, int *ow, int *oh)
{
	*ow = w;
	*oh = h;
	if (max_w && *ow > (int)max_w) {
		*oh = (int)((int64_t)*oh * max_w / *ow);
		*ow = (int)max_w;
	}
	if (max_h && *oh > (int)max_h) {
		*ow = (int)((int64_t)*ow * max_h / *oh);
		*oh = (int)max_h;
	}
	if (*ow < 1)
		*ow = 1;
	if (*oh < 1)
		*oh = 1;
}

static pixman_image_t *scaled_copy(pixman_image_t *img, int w, int h)
{
	int sw = pixman_image_get_width(img), sh = pixman_image_get_height(img);
	pixman_image_t *dst = pixman_image_create_bits(PIXMAN_x8r8g8b8, w, h, NULL, 0);
	/* a second view of the same pixels, so the caller's image keeps its
	 * own transform and filter */
	pixman_image_t *src = pixman_image_create_bits_no_clear(
		PIXMAN_x8r8g8b8, sw, sh, pixman_image_get_data(img), pixman_image_get_stride(img));
	pixman_transform_t t;

	if (!dst || !src) {
		if (dst)
			pixman_image_unref(dst);
		if (src)
			pixman_image_unref(src);
		return NULL;
	}
	pixman_transform_init_scale(&t, pixman_double_to_fixed((double)sw / w),
				    pixman_double_to_fixed((double)sh / h));
	pixman_image_set_transform(src, &t);
	pixman_image_set_filter(src, PIXMAN_FILTER_BILINEAR, NULL, 0);
	pixman_image_set_repeat(src, PIXMAN_REPEAT_PAD);
	pixman_image_composite32(PIXMAN_OP_SRC, src, NULL, dst, 0, 0, 0, 0, 0, 0, w, h);
	pixman_image_unref(src);
	return dst;
}

int screenshot_save(const char *path, pixman_image_t *img, unsigned max_width,
		    unsigned max_height, char *err, size_t errlen)
{
	struct png_job job = { 0 };
	pixman_image_t *scaled = NULL;
	char tmp[4096];
	int w = pixman_image_get_width(img), h = pixman_image_get_height(img), fd, rc;

	fit(w, h, max_width, max_height, &job.width, &job.height);
	if (job.width != w || job.height != h) {
		scaled = scaled_copy(img, job.width, job.height);
		if (!scaled) {
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
		img = scaled;
	}
	job.pixels = (const uint8_t *)pixman_image_get_data(img);
	job.stride = pixman_image_get_stride(img);
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
		if (scaled)
			pixman_image_unref(scaled);
		snprintf(err, errlen, "path too long");
		return -ENAMETOOLONG;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0 || !(job.file = fdopen(fd, "wb"))) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		if (scaled)
			pixman_image_unref(scaled);
		return rc;
	}
	rc = png_encode(&job);
	if (scaled)
		pixman_image_unref(scaled);
	if (fclose(job.file) != 0 && rc == 0) {
		rc = -1;
		job.error = strerror(errno);
	}
	if (rc == 0 && rename(tmp, path) < 0) {
		rc = -1;
		job.error = strerror(errno);
	}
	if (rc) {
		unlink(tmp);
		snprintf(err, errlen, "%s: %s", path, job.error ? job.error : "write failed");
		return -EIO;
	}
	return 0;
}
