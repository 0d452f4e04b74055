/* A built-in 5x7 bitmap font (plus a descender row) for the banner and the status screens, so the
 * display needs no font files or font libraries. Printable ASCII only;
 * anything else is drawn as '?'. */
#ifndef DUET_DISPLAY_FONT_H
#define DUET_DISPLAY_FONT_H

#include <pixman.h>
#include <stdint.h>

#define FONT_GLYPH_WIDTH 5
#define FONT_GLYPH_HEIGHT 8
#define FONT_ADVANCE 6 /* glyph plus one column of space */

/* font_text_width: pixels `text` takes at `scale` (each font pixel becomes
 * scale x scale), without the space after the last glyph. */
unsigned font_text_width(const char *text, unsigned scale);

/* font_draw: draw `text` with its top-left corner at x, y into a 32-bit
 * image (a8r8g8b8 or x8r8g8b8), clipped to the image. */
void font_draw(pixman_image_t *img, int x, int y, const char *text, unsigned scale,
	       uint32_t argb);

#endif
