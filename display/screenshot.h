/* Screenshots and thumbnails as PNG files (libpng, zlib level 1: speed
 * over size, see shared/notes/display.md). */
#ifndef DUET_DISPLAY_SCREENSHOT_H
#define DUET_DISPLAY_SCREENSHOT_H

#include <pixman.h>
#include <stddef.h>

/* screenshot_save: save `img` (x8r8g8b8 or a8r8g8b8; alpha is dropped) to
 * `path`, scaled down with its aspect kept to fit max_width x max_height
 * when those are non-zero and smaller. The file is written beside `path`
 * and renamed over it, so a reader never sees half a PNG. 0 or -errno
 * with a sentence in `err`. */
int screenshot_save(const char *path, pixman_image_t *img, unsigned max_width,
		    unsigned max_height, char *err, size_t errlen);

#endif
