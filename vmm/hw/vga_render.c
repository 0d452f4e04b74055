/* Draws the std-VGA's picture into the XRGB8888 surface: decodes the
 * geometry from the registers, then redraws what changed — text cells
 * whose character, attribute, cursor or blink state differ from what was
 * drawn, and scan lines of graphics modes that cover written VRAM pages.
 * See vga_render.h for the VRAM layout. */
#include "hw/vga_render.h"

#include <stdlib.h>
#include <string.h>

/* Text cells a CRTC can describe: 256 columns (CR01 is 8 bits) by 1024
 * rows (the vertical display end is 10 bits, a row at least 1 line). */
#define VGA_TEXT_MAX_CELLS (256u * 1024u)

#define VGA_BLANK_WIDTH 640
#define VGA_BLANK_HEIGHT 480

/* Everything besides memory and geometry that the picture depends on, for
 * the kind of mode shown; a difference means redrawing everything. */
struct vga_look {
	uint32_t pal16[16];      /* through the attribute controller */
	uint32_t pal256[256];    /* straight to the DAC */
	uint8_t plane_enable;
	uint8_t ar_mode;
	uint8_t cursor_start, cursor_end, underline;
	uint8_t char_map;
	uint8_t big_endian;
};

struct vga_renderer {
	uint32_t *pixels;
	int drawn;                  /* pixels show geom and look */
	struct vga_geometry geom;
	struct vga_look look;
	unsigned cursor_phase, blink_phase;
	uint32_t *cells;            /* TEXT: the key of each cell as drawn */
};

/* ---- geometry ---- */

static int vga_decode_vbe(const struct vga_regs *regs, struct vga_geometry *g)
{
	const uint16_t *d = regs->dispi;
	uint64_t xres = d[VBE_DISPI_INDEX_XRES], yres = d[VBE_DISPI_INDEX_YRES];
	uint64_t virt = d[VBE_DISPI_INDEX_VIRT_WIDTH] > xres ? d[VBE_DISPI_INDEX_VIRT_WIDTH] : xres;
	uint64_t x = d[VBE_DISPI_INDEX_X_OFFSET], y = d[VBE_DISPI_INDEX_Y_OFFSET];
	unsigned bpp = d[VBE_DISPI_INDEX_BPP], bytes;

	if (xres == 0 || yres == 0 || xres > VGA_MAX_WIDTH || yres > VGA_MAX_HEIGHT)
		return 0;
	g->width = (unsigned)xres;
	g->height = (unsigned)yres;
	if (bpp == 4) {
		/* SeaVGABIOS's planar VBE modes (0x102, 0x6a): one plane
		 * address holds 8 pixels. */
		g->kind = VGA_KIND_PLANAR;
		g->line_offset = (virt + 7) / 8;
		g->start = y * g->line_offset + x / 8;
		g->wrap = VGA_PLANE_SIZE;
		return 1;
	}
	switch (bpp) {
	case 8: case 15: case 16: case 24: case 32:
		break;
	default:
		return 0;
	}
	bytes = (bpp + 7) / 8;
	g->kind = VGA_KIND_LINEAR;
	g->bpp = bpp;
	g->line_offset = virt * bytes;
	g->start = y * g->line_offset + x * bytes;
	return 1;
}

static int vga_decode_vga(const struct vga_regs *regs, struct vga_geometry *g)
{
	const uint8_t *cr = regs->cr;
	unsigned hchars = cr[VGA_CR_H_DISPLAY_END] + 1u;
	unsigned lines = (cr[VGA_CR_V_DISPLAY_END] | (cr[VGA_CR_OVERFLOW] & 0x02) << 7 |
			  (cr[VGA_CR_OVERFLOW] & 0x40) << 3) + 1u;
	unsigned max_scan = (cr[VGA_CR_MAX_SCAN] & 0x1f) + 1u;
	unsigned scans = max_scan << ((cr[VGA_CR_MAX_SCAN] & VGA_CR09_DOUBLE_SCAN) ? 1 : 0);

	g->start = (uint64_t)cr[VGA_CR_START_HI] << 8 | cr[VGA_CR_START_LO];
	g->line_offset = 2u * cr[VGA_CR_OFFSET];
	g->wrap = VGA_WRAP;
	if (!(regs->gr[VGA_GR_MISC] & VGA_GR06_GRAPHICS)) {
		g->kind = VGA_KIND_TEXT;
		g->cols = hchars;
		g->rows = lines / scans;
		g->cell_width = (regs->sr[VGA_SR_CLOCKING] & VGA_SR01_8DOT) ? 8 : 9;
		g->cell_height = max_scan;
		g->width = g->cols * g->cell_width;
		g->height = g->rows * g->cell_height;
	} else if (regs->gr[VGA_GR_MODE] & VGA_GR05_SHIFT256) {
		/* Two dot clocks per pixel: 4 pixels per character clock. */
		g->kind = VGA_KIND_CHAIN256;
		g->width = hchars * 4;
		g->height = lines / scans;
	} else {
		g->kind = VGA_KIND_PLANAR;
		g->width = hchars * 8;
		g->height = lines / scans;
	}
	return g->width > 0 && g->height > 0 && g->width <= VGA_MAX_WIDTH &&
	       g->height <= VGA_MAX_HEIGHT;
}

void vga_decode_geometry(const struct vga_regs *regs, unsigned blank_width,
			 unsigned blank_height, struct vga_geometry *g)
{
	struct vga_geometry d;
	int ok;

	memset(g, 0, sizeof(*g));
	g->kind = VGA_KIND_BLANK;
	g->width = blank_width;
	g->height = blank_height;
	if (!(regs->ar_index & VGA_AR_INDEX_PAS))
		return;
	memset(&d, 0, sizeof(d));
	if (regs->dispi[VBE_DISPI_INDEX_ENABLE] & VBE_DISPI_ENABLED)
		ok = vga_decode_vbe(regs, &d);
	else
		ok = vga_decode_vga(regs, &d);
	if (ok)
		*g = d;
}

static int vga_geometry_equal(const struct vga_geometry *a, const struct vga_geometry *b)
{
	return a->kind == b->kind && a->width == b->width && a->height == b->height &&
	       a->bpp == b->bpp && a->start == b->start && a->line_offset == b->line_offset &&
	       a->wrap == b->wrap && a->cols == b->cols && a->rows == b->rows &&
	       a->cell_width == b->cell_width && a->cell_height == b->cell_height;
}

/* ---- colours ---- */

static uint32_t vga_dac_rgb(const struct vga_regs *regs, unsigned index)
{
	const uint8_t *c = regs->dac[index & regs->pel_mask];
	uint32_t rgb = 0;

	for (unsigned i = 0; i < 3; i++) {
		uint32_t v = c[i];

		/* A 6-bit DAC value spreads over 8 bits: 0x3f is 0xff. */
		if (!(regs->dispi[VBE_DISPI_INDEX_ENABLE] & VBE_DISPI_8BIT_DAC))
			v = (v & 0x3f) << 2 | (v & 0x3f) >> 4;
		rgb = rgb << 8 | v;
	}
	return rgb;
}

/* vga_attr_color: a 4-bit colour through the palette registers and the
 * colour select register to a DAC index (FreeVGA, "Attribute Controller
 * Registers": P54S, Color Select 5-4 and 7-6). */
static unsigned vga_attr_color(const struct vga_regs *regs, unsigned color)
{
	unsigned v = regs->ar[color & 0x0f] & 0x3f;

	if (regs->ar[VGA_AR_MODE] & VGA_AR10_P54S)
		v = (v & 0x0f) | (regs->ar[VGA_AR_COLOR_SELECT] & 0x03) << 4;
	return v | (regs->ar[VGA_AR_COLOR_SELECT] & 0x0c) << 4;
}

static void vga_make_look(const struct vga_regs *regs, const struct vga_geometry *g,
			  struct vga_look *l)
{
	memset(l, 0, sizeof(*l));
	switch (g->kind) {
	case VGA_KIND_TEXT:
		l->ar_mode = regs->ar[VGA_AR_MODE];
		l->cursor_start = regs->cr[VGA_CR_CURSOR_START];
		l->cursor_end = regs->cr[VGA_CR_CURSOR_END];
		l->underline = regs->cr[VGA_CR_UNDERLINE] & 0x1f;
		l->char_map = regs->sr[VGA_SR_CHAR_MAP];
		for (unsigned i = 0; i < 16; i++)
			l->pal16[i] = vga_dac_rgb(regs, vga_attr_color(regs, i));
		break;
	case VGA_KIND_PLANAR:
		l->plane_enable = regs->ar[VGA_AR_PLANE_ENABLE] & 0x0f;
		for (unsigned i = 0; i < 16; i++)
			l->pal16[i] = vga_dac_rgb(regs, vga_attr_color(regs, i));
		break;
	case VGA_KIND_CHAIN256:
		for (unsigned i = 0; i < 256; i++)
			l->pal256[i] = vga_dac_rgb(regs, i);
		break;
	case VGA_KIND_LINEAR:
		if (g->bpp == 8)
			for (unsigned i = 0; i < 256; i++)
				l->pal256[i] = vga_dac_rgb(regs, i);
		l->big_endian = regs->fb_big_endian != 0;
		break;
	case VGA_KIND_BLANK:
		break;
	}
}

/* ---- damage ---- */

/* vga_rects_touch: do the rectangles overlap, or share an edge (not just
 * a corner)? Then their union wastes nothing. */
static int vga_rects_touch(const struct vga_rect *a, unsigned x, unsigned y, unsigned w,
			   unsigned h)
{
	int tx = x <= a->x + a->width && x + w >= a->x;
	int ty = y <= a->y + a->height && y + h >= a->y;
	int ox = x < a->x + a->width && x + w > a->x;
	int oy = y < a->y + a->height && y + h > a->y;

	return (tx && oy) || (ox && ty);
}

static void vga_rect_union(struct vga_rect *a, unsigned x, unsigned y, unsigned w, unsigned h)
{
	unsigned x1 = a->x + a->width > x + w ? a->x + a->width : x + w;
	unsigned y1 = a->y + a->height > y + h ? a->y + a->height : y + h;

	a->x = a->x < x ? a->x : x;
	a->y = a->y < y ? a->y : y;
	a->width = x1 - a->x;
	a->height = y1 - a->y;
}

void vga_damage_add(struct vga_damage *d, unsigned x, unsigned y, unsigned width,
		    unsigned height)
{
	if (width == 0 || height == 0)
		return;
	for (unsigned i = 0; i < d->nrects; i++) {
		if (vga_rects_touch(&d->rects[i], x, y, width, height)) {
			vga_rect_union(&d->rects[i], x, y, width, height);
			return;
		}
	}
	if (d->nrects < VGA_DAMAGE_MAX_RECTS)
		d->rects[d->nrects++] = (struct vga_rect){ x, y, width, height };
	else
		vga_rect_union(&d->rects[VGA_DAMAGE_MAX_RECTS - 1], x, y, width, height);
}

/* ---- text ---- */

/* vga_font_base: where character map `m` (0-7) starts in plane 2: maps
 * 0-3 at 16 KiB steps, 4-7 8 KiB after them (Character Map Select). */
static unsigned vga_font_base(unsigned m)
{
	return (m & 3) * 0x4000 + ((m & 4) ? 0x2000 : 0);
}

#define CELL_CURSOR (1u << 16)
#define CELL_HIDDEN (1u << 17)

static void vga_draw_cell(struct vga_renderer *r, const uint8_t *vram,
			  const struct vga_geometry *g, unsigned row, unsigned col,
			  uint32_t key)
{
	const struct vga_look *l = &r->look;
	unsigned ch = key & 0xff, attr = (key >> 8) & 0xff;
	unsigned fg = attr & 0x0f, bg = attr >> 4;
	unsigned map_a = ((l->char_map >> 2) & 3) | ((l->char_map >> 3) & 4);
	unsigned map_b = (l->char_map & 3) | ((l->char_map >> 2) & 4);
	unsigned font = vga_font_base((attr & 0x08) ? map_a : map_b) + ch * 32;
	unsigned cs = l->cursor_start & 0x1f, ce = l->cursor_end & 0x1f;
	int line_graphics = (l->ar_mode & VGA_AR10_LINE_GRAPHICS) && ch >= 0xc0 && ch <= 0xdf;
	uint32_t *row_px = r->pixels + (size_t)row * g->cell_height * g->width +
			   (size_t)col * g->cell_width;

	if (l->ar_mode & VGA_AR10_BLINK)
		bg &= 7;
	for (unsigned line = 0; line < g->cell_height; line++) {
		/* font + 31 stays inside the 64 KiB of plane 2 a font lives in */
		unsigned bits = vram[(size_t)(font + line) * 4 + 2];
		unsigned ninth;
		uint32_t *px = row_px + (size_t)line * g->width;

		if (key & CELL_HIDDEN)
			bits = 0;
		ninth = line_graphics ? bits & 1 : 0;
		if ((attr & 0x77) == 0x01 && line == l->underline && !(key & CELL_HIDDEN))
			bits = 0xff, ninth = 1;
		if ((key & CELL_CURSOR) && line >= cs && line <= ce)
			bits = 0xff, ninth = 1;
		for (unsigned x = 0; x < 8; x++)
			px[x] = l->pal16[(bits & (0x80 >> x)) ? fg : bg];
		if (g->cell_width == 9)
			px[8] = l->pal16[ninth ? fg : bg];
	}
}

static void vga_render_text(struct vga_renderer *r, const uint8_t *vram,
			    const struct vga_geometry *g, const struct vga_regs *regs,
			    unsigned frame, int full, struct vga_damage *damage)
{
	const struct vga_look *l = &r->look;
	uint64_t mask = g->wrap - 1;
	uint64_t loc = (uint64_t)regs->cr[VGA_CR_CURSOR_HI] << 8 | regs->cr[VGA_CR_CURSOR_LO];
	uint64_t cursor = (loc - g->start) & mask;
	unsigned crow = UINT32_MAX, ccol = UINT32_MAX;
	int blink = (l->ar_mode & VGA_AR10_BLINK) != 0;

	if (!(l->cursor_start & VGA_CR0A_CURSOR_OFF) &&
	    (l->cursor_start & 0x1f) <= (l->cursor_end & 0x1f) && VGA_CURSOR_PHASE(frame)) {
		crow = g->line_offset ? (unsigned)(cursor / g->line_offset) : 0;
		ccol = g->line_offset ? (unsigned)(cursor % g->line_offset) : (unsigned)cursor;
	}
	for (unsigned row = 0; row < g->rows; row++) {
		for (unsigned col = 0; col < g->cols; col++) {
			uint64_t pa = (g->start + row * g->line_offset + col) & mask;
			uint32_t key = vram[pa * 4] | (uint32_t)vram[pa * 4 + 1] << 8;
			uint32_t *cell = &r->cells[row * g->cols + col];

			if (row == crow && col == ccol)
				key |= CELL_CURSOR;
			if (blink && (key & 0x8000) && !VGA_BLINK_PHASE(frame))
				key |= CELL_HIDDEN;
			if (!full && *cell == key)
				continue;
			*cell = key;
			vga_draw_cell(r, vram, g, row, col, key);
			vga_damage_add(damage, col * g->cell_width, row * g->cell_height,
				       g->cell_width, g->cell_height);
		}
	}
}

/* ---- graphics ---- */

/* vga_dirty_span: the written part of units [u0, u0 + n), `shift` the log2
 * of units per page, relative to u0 in [*lo, *hi). 0 if none was written. */
static int vga_dirty_span(const uint64_t *dirty, uint64_t u0, uint64_t n, unsigned shift,
			  uint64_t *lo, uint64_t *hi)
{
	uint64_t first = u0 >> shift, last = (u0 + n - 1) >> shift, p, q;

	for (p = first; p <= last && !(dirty[p / 64] >> (p % 64) & 1); p++)
		;
	if (p > last)
		return 0;
	for (q = last; !(dirty[q / 64] >> (q % 64) & 1); q--)
		;
	*lo = (p << shift > u0 ? p << shift : u0) - u0;
	*hi = ((q + 1) << shift < u0 + n ? (q + 1) << shift : u0 + n) - u0;
	return 1;
}

/* vga_line_span: the pixels [*x0, *x1) of line y that cover written VRAM;
 * 0 if the line is clean. */
static int vga_line_span(const struct vga_geometry *g, unsigned y, const uint64_t *dirty,
			 unsigned *x0, unsigned *x1)
{
	uint64_t lo, hi;

	if (g->kind == VGA_KIND_LINEAR) {
		unsigned bytes = (g->bpp + 7) / 8;
		uint64_t b0 = g->start + y * g->line_offset, len = (uint64_t)g->width * bytes;

		if (b0 + len > VGA_VRAM_SIZE ||
		    !vga_dirty_span(dirty, b0, len, VGA_PAGE_SHIFT, &lo, &hi))
			return 0;
		*x0 = (unsigned)(lo / bytes);
		*x1 = (unsigned)((hi + bytes - 1) / bytes);
		return 1;
	} else {
		/* Plane addresses: 1024 to a page; 8 or 4 pixels to one. */
		unsigned px = g->kind == VGA_KIND_PLANAR ? 8 : 4;
		uint64_t n = (g->width + px - 1) / px;
		uint64_t pa0 = (g->start + y * g->line_offset) & (g->wrap - 1);
		uint64_t first = pa0 + n > g->wrap ? g->wrap - pa0 : n;
		int any = 0;

		*x0 = g->width;
		*x1 = 0;
		if (vga_dirty_span(dirty, pa0, first, VGA_PAGE_SHIFT - 2, &lo, &hi)) {
			*x0 = (unsigned)(lo * px);
			*x1 = (unsigned)(hi * px);
			any = 1;
		}
		if (first < n && vga_dirty_span(dirty, 0, n - first, VGA_PAGE_SHIFT - 2, &lo, &hi)) {
			*x0 = any ? *x0 : (unsigned)((first + lo) * px);
			*x1 = (unsigned)((first + hi) * px);
			any = 1;
		}
		if (*x1 > g->width)
			*x1 = g->width;
		return any;
	}
}

static void vga_draw_planar(const struct vga_renderer *r, const uint8_t *vram,
			    const struct vga_geometry *g, uint64_t pa0, uint32_t *out)
{
	const struct vga_look *l = &r->look;

	for (unsigned x = 0; x < g->width; x += 8) {
		const uint8_t *p = vram + ((pa0 + x / 8) & (g->wrap - 1)) * 4;

		for (unsigned bit = 0; bit < 8 && x + bit < g->width; bit++) {
			unsigned s = 7 - bit;
			unsigned v = (p[0] >> s & 1) | (p[1] >> s & 1) << 1 |
				     (p[2] >> s & 1) << 2 | (p[3] >> s & 1) << 3;

			out[x + bit] = l->pal16[v & l->plane_enable];
		}
	}
}

static void vga_draw_linear(const struct vga_renderer *r, const uint8_t *src,
			    const struct vga_geometry *g, uint32_t *out)
{
	const struct vga_look *l = &r->look;
	int be = l->big_endian;

	switch (g->bpp) {
	case 8:
		for (unsigned x = 0; x < g->width; x++)
			out[x] = l->pal256[src[x]];
		break;
	case 15:
	case 16:
		for (unsigned x = 0; x < g->width; x++, src += 2) {
			unsigned v = be ? (unsigned)src[0] << 8 | src[1] : (unsigned)src[1] << 8 | src[0];
			unsigned rr, gg, bb;

			/* x1r5g5b5 or r5g6b5, each channel widened to 8 bits */
			if (g->bpp == 15) {
				rr = v >> 10 & 31, gg = v >> 5 & 31, bb = v & 31;
				gg = gg << 3 | gg >> 2;
			} else {
				rr = v >> 11, gg = v >> 5 & 63, bb = v & 31;
				gg = gg << 2 | gg >> 4;
			}
			out[x] = (rr << 3 | rr >> 2) << 16 | gg << 8 | (bb << 3 | bb >> 2);
		}
		break;
	case 24:
		for (unsigned x = 0; x < g->width; x++, src += 3)
			out[x] = be ? (uint32_t)src[0] << 16 | src[1] << 8 | src[2]
				    : (uint32_t)src[2] << 16 | src[1] << 8 | src[0];
		break;
	case 32:
		for (unsigned x = 0; x < g->width; x++, src += 4)
			out[x] = be ? (uint32_t)src[1] << 16 | src[2] << 8 | src[3]
				    : (uint32_t)src[2] << 16 | src[1] << 8 | src[0];
		break;
	}
}

static void vga_draw_line(const struct vga_renderer *r, const uint8_t *vram,
			  const struct vga_geometry *g, unsigned y)
{
	uint32_t *out = r->pixels + (size_t)y * g->width;
	uint64_t at = g->start + y * g->line_offset;

	switch (g->kind) {
	case VGA_KIND_PLANAR:
		vga_draw_planar(r, vram, g, at & (g->wrap - 1), out);
		break;
	case VGA_KIND_CHAIN256:
		at &= g->wrap - 1;
		for (unsigned x = 0; x < g->width; x++)
			out[x] = r->look.pal256[vram[((at + x / 4) & (g->wrap - 1)) * 4 + (x & 3)]];
		break;
	case VGA_KIND_LINEAR:
		/* A line past the end of VRAM shows black. */
		if (at + (uint64_t)g->width * ((g->bpp + 7) / 8) > VGA_VRAM_SIZE)
			memset(out, 0, (size_t)g->width * 4);
		else
			vga_draw_linear(r, vram + at, g, out);
		break;
	default:
		break;
	}
}

static void vga_render_graphics(struct vga_renderer *r, const uint8_t *vram,
				const struct vga_geometry *g, const uint64_t *dirty, int full,
				struct vga_damage *damage)
{
	for (unsigned y = 0; y < g->height; y++) {
		unsigned x0 = 0, x1 = g->width;

		if (!full && !vga_line_span(g, y, dirty, &x0, &x1))
			continue;
		vga_draw_line(r, vram, g, y);
		vga_damage_add(damage, x0, y, x1 - x0, 1);
	}
}

/* ---- the renderer ---- */

struct vga_renderer *vga_renderer_new(uint32_t *pixels)
{
	struct vga_renderer *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->cells = calloc(VGA_TEXT_MAX_CELLS, sizeof(*r->cells));
	if (!r->cells) {
		free(r);
		return NULL;
	}
	r->pixels = pixels;
	r->geom.kind = VGA_KIND_BLANK;
	r->geom.width = VGA_BLANK_WIDTH;
	r->geom.height = VGA_BLANK_HEIGHT;
	return r;
}

void vga_renderer_free(struct vga_renderer *r)
{
	if (!r)
		return;
	free(r->cells);
	free(r);
}

void vga_render_size(const struct vga_renderer *r, unsigned *width, unsigned *height)
{
	*width = r->geom.width;
	*height = r->geom.height;
}

int vga_render_blink_due(const struct vga_renderer *r, unsigned frame)
{
	const struct vga_look *l = &r->look;
	int cursor = !(l->cursor_start & VGA_CR0A_CURSOR_OFF);

	if (!r->drawn || r->geom.kind != VGA_KIND_TEXT)
		return 0;
	return (cursor && VGA_CURSOR_PHASE(frame) != r->cursor_phase) ||
	       ((l->ar_mode & VGA_AR10_BLINK) && VGA_BLINK_PHASE(frame) != r->blink_phase);
}

void vga_render(struct vga_renderer *r, const struct vga_regs *regs, const uint8_t *vram,
		const uint64_t *dirty, int font_changed, unsigned frame,
		struct vga_damage *damage)
{
	struct vga_geometry g;
	struct vga_look look;
	int full;

	vga_decode_geometry(regs, r->geom.width, r->geom.height, &g);
	vga_make_look(regs, &g, &look);
	full = !r->drawn || !vga_geometry_equal(&g, &r->geom) ||
	       memcmp(&look, &r->look, sizeof(look)) != 0 ||
	       (g.kind == VGA_KIND_TEXT && font_changed);
	if (!r->drawn || g.width != r->geom.width || g.height != r->geom.height) {
		damage->resized = 1;
		damage->nrects = 0;
	}
	r->geom = g;
	r->look = look;
	r->drawn = 1;
	r->cursor_phase = VGA_CURSOR_PHASE(frame);
	r->blink_phase = VGA_BLINK_PHASE(frame);
	if (full)
		vga_damage_add(damage, 0, 0, g.width, g.height);

	switch (g.kind) {
	case VGA_KIND_BLANK:
		if (full)
			memset(r->pixels, 0, (size_t)g.width * g.height * 4);
		break;
	case VGA_KIND_TEXT:
		vga_render_text(r, vram, &g, regs, frame, full, damage);
		break;
	default:
		vga_render_graphics(r, vram, &g, dirty, full, damage);
		break;
	}
}
