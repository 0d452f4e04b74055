/* PNG files from XRGB8888 pixels (see png_write.h). libpng reports errors
 * by longjmp, so png_encode keeps nothing it needs afterwards in local
 * variables it changes after setjmp. */
#include "png_write.h"

#include <errno.h>
#include <limits.h>
#include <png.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void png_write_error(png_structp png, png_const_charp msg)
{
	(void)msg;
	png_longjmp(png, 1);
}

static void png_write_warning(png_structp png, png_const_charp msg)
{
	(void)png;
	(void)msg;
}

/* png_encode: 0, or -EIO when libpng gave up, -ENOMEM. */
static int png_encode(FILE *file, const uint32_t *pixels, unsigned width, unsigned height,
		      size_t stride)
{
	png_structp png;
	png_infop info;

	png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, png_write_error,
				      png_write_warning);
	if (!png)
		return -ENOMEM;
	info = png_create_info_struct(png);
	if (!info) {
		png_destroy_write_struct(&png, NULL);
		return -ENOMEM;
	}
	if (setjmp(png_jmpbuf(png))) {
		png_destroy_write_struct(&png, &info);
		return -EIO;
	}
	png_init_io(png, file);
	png_set_compression_level(png, 1);
	png_set_filter(png, PNG_FILTER_TYPE_BASE, PNG_FILTER_SUB);
	png_set_IHDR(png, info, width, height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
		     PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	png_write_info(png, info);
	/* XRGB8888 lies in (little-endian) memory as B, G, R, X */
	png_set_bgr(png);
	png_set_filler(png, 0, PNG_FILLER_AFTER);
	for (unsigned y = 0; y < height; y++)
		png_write_row(png, (png_const_bytep)pixels + (size_t)y * stride);
	png_write_end(png, info);
	png_destroy_write_struct(&png, &info);
	return 0;
}

static int png_check(unsigned width, unsigned height, size_t stride)
{
	if (width == 0 || height == 0 || stride < (size_t)width * 4 || width > PNG_UINT_31_MAX ||
	    height > PNG_UINT_31_MAX)
		return -EINVAL;
	return 0;
}

int png_write_xrgb8888_fd(int fd, const uint32_t *pixels, unsigned width, unsigned height,
			  size_t stride)
{
	FILE *file;
	int err = png_check(width, height, stride);

	if (err) {
		close(fd);
		return err;
	}
	file = fdopen(fd, "wb");
	if (!file) {
		err = -errno;
		close(fd);
		return err;
	}
	err = png_encode(file, pixels, width, height, stride);
	if (fclose(file) != 0 && !err)
		err = -errno;
	return err;
}

int png_write_xrgb8888(const char *path, const uint32_t *pixels, unsigned width,
		       unsigned height, size_t stride)
{
	char tmp[PATH_MAX];
	FILE *file;
	int err;

	err = png_check(width, height, stride);
	if (err)
		return err;
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	file = fopen(tmp, "wb");
	if (!file)
		return -errno;
	err = png_encode(file, pixels, width, height, stride);
	if (fclose(file) != 0 && !err)
		err = -errno;
	if (!err && rename(tmp, path) != 0)
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}
