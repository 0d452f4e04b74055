/* Writes an XRGB8888 picture to a PNG file with libpng, at zlib level 1
 * (speed over size: shared/notes/display.md measured 32 ms for 1080p).
 * Named png_write.h, not png.h, so that `#include <png.h>` keeps finding
 * libpng for everything built with -Ivmm. */
#ifndef DUET_PNG_WRITE_H
#define DUET_PNG_WRITE_H

#include <stddef.h>
#include <stdint.h>

/* png_write_xrgb8888: `width` x `height` pixels of XRGB8888 in host byte
 * order, `stride` bytes apart, as an 8-bit RGB PNG at `path`. The file is
 * written beside `path` and renamed over it, so a reader never sees half a
 * PNG. 0, or -errno (-EINVAL for an empty picture or one wider than its
 * stride, -EIO when libpng fails). */
int png_write_xrgb8888(const char *path, const uint32_t *pixels, unsigned width,
		       unsigned height, size_t stride);

/* png_write_xrgb8888_fd: the same, written to `fd`, which it takes over
 * (closed when done, also on failure). For callers that may not open files
 * themselves (duet-vmm under its sandbox is handed one). */
int png_write_xrgb8888_fd(int fd, const uint32_t *pixels, unsigned width, unsigned height,
			  size_t stride);

#endif
