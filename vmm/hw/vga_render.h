/* Rendering of the std-VGA's picture into one XRGB8888 surface: text
 * modes (fonts from plane 2), 16-colour planar modes, the 256-colour
 * chain-4 mode, and Bochs VBE modes at 4 (planar), 8 (paletted), 15, 16,
 * 24 and 32 bpp. It reads the register file and VRAM that vga.c keeps and
 * redraws only what changed.
 *
 * VRAM layout (QEMU's): byte `a * 4 + p` holds plane p at plane address a,
 * so chain-4 and VBE modes see VRAM as plain linear memory. The CRTC's
 * address counter is taken as a plane address directly (the byte, word and
 * doubleword address modes are folded into how vga.c decodes the window:
 * odd/even halves the host address, chain-4 quarters it), and one
 * character row or scan line advances it by twice the Offset register.
 *
 * Register names and bits follow FreeVGA and IBM's VGA Technical
 * Reference ("SR" sequencer, "GR" graphics controller, "AR" attribute
 * controller, "CR" CRTC), and Bochs' vbe.h for DISPI. */
#ifndef DUET_HW_VGA_RENDER_H
#define DUET_HW_VGA_RENDER_H

#include <stddef.h>
#include <stdint.h>

#include "hw/vga.h"

#define VGA_PLANE_SIZE (VGA_VRAM_SIZE / 4)  /* plane addresses */
#define VGA_PAGE_SHIFT 12                   /* dirty tracking: 4 KiB pages */
#define VGA_VRAM_PAGES (VGA_VRAM_SIZE >> VGA_PAGE_SHIFT)
#define VGA_DIRTY_WORDS (VGA_VRAM_PAGES / 64)
#define VGA_WRAP 0x10000u   /* VGA modes: the 16-bit address counter wraps */

/* Register counts (indexes are masked to these by vga.c). */
#define VGA_SR_COUNT 8
#define VGA_GR_COUNT 16
#define VGA_AR_COUNT 0x15
#define VGA_CR_COUNT 256

/* Sequencer (FreeVGA "Sequencer Registers"). */
#define VGA_SR_CLOCKING 0x01
#define VGA_SR01_8DOT 0x01          /* 8-dot characters (else 9) */
#define VGA_SR01_HALF_CLOCK 0x08
#define VGA_SR_MAP_MASK 0x02
#define VGA_SR_CHAR_MAP 0x03
#define VGA_SR_MEMORY_MODE 0x04
#define VGA_SR04_SEQUENTIAL 0x04    /* Odd/Even Host Memory Write Addressing Disable */
#define VGA_SR04_CHAIN4 0x08

/* Graphics controller ("Graphics Registers"). */
#define VGA_GR_SET_RESET 0x00
#define VGA_GR_ENABLE_SET_RESET 0x01
#define VGA_GR_COLOR_COMPARE 0x02
#define VGA_GR_DATA_ROTATE 0x03
#define VGA_GR_READ_MAP 0x04
#define VGA_GR_MODE 0x05
#define VGA_GR05_READ_MODE 0x08
#define VGA_GR05_HOST_OE 0x10
#define VGA_GR05_SHIFT256 0x40
#define VGA_GR_MISC 0x06
#define VGA_GR06_GRAPHICS 0x01
#define VGA_GR_COLOR_DONT_CARE 0x07
#define VGA_GR_BIT_MASK 0x08

/* Attribute controller ("Attribute Controller Registers"). */
#define VGA_AR_MODE 0x10
#define VGA_AR10_LINE_GRAPHICS 0x04
#define VGA_AR10_BLINK 0x08
#define VGA_AR10_P54S 0x80
#define VGA_AR_PLANE_ENABLE 0x12
#define VGA_AR_COLOR_SELECT 0x14
#define VGA_AR_INDEX_PAS 0x20       /* Palette Address Source: 0 blanks */

/* CRTC ("CRT Controller Registers"). */
#define VGA_CR_H_DISPLAY_END 0x01
#define VGA_CR_OVERFLOW 0x07
#define VGA_CR_MAX_SCAN 0x09
#define VGA_CR09_DOUBLE_SCAN 0x80
#define VGA_CR_CURSOR_START 0x0a
#define VGA_CR0A_CURSOR_OFF 0x20
#define VGA_CR_CURSOR_END 0x0b
#define VGA_CR_START_HI 0x0c
#define VGA_CR_START_LO 0x0d
#define VGA_CR_CURSOR_HI 0x0e
#define VGA_CR_CURSOR_LO 0x0f
#define VGA_CR_V_RETRACE_END 0x11
#define VGA_CR11_PROTECT 0x80
#define VGA_CR_V_DISPLAY_END 0x12
#define VGA_CR_OFFSET 0x13
#define VGA_CR_UNDERLINE 0x14

/* Bochs VBE DISPI registers (index at 0x1ce, data at 0x1cf). */
enum vbe_dispi_index {
	VBE_DISPI_INDEX_ID,
	VBE_DISPI_INDEX_XRES,
	VBE_DISPI_INDEX_YRES,
	VBE_DISPI_INDEX_BPP,
	VBE_DISPI_INDEX_ENABLE,
	VBE_DISPI_INDEX_BANK,
	VBE_DISPI_INDEX_VIRT_WIDTH,
	VBE_DISPI_INDEX_VIRT_HEIGHT,
	VBE_DISPI_INDEX_X_OFFSET,
	VBE_DISPI_INDEX_Y_OFFSET,
	VBE_DISPI_INDEX_VIDEO_MEMORY_64K,
	VBE_DISPI_INDEX_NB
};
#define VBE_DISPI_ID0 0xb0c0
#define VBE_DISPI_ID5 0xb0c5
#define VBE_DISPI_ENABLED 0x01
#define VBE_DISPI_GETCAPS 0x02
#define VBE_DISPI_8BIT_DAC 0x20
#define VBE_DISPI_LFB_ENABLED 0x40
#define VBE_DISPI_NOCLEARMEM 0x80
#define VBE_DISPI_MAX_BPP 32

/* The register file the picture depends on. */
struct vga_regs {
	uint8_t misc;
	uint8_t sr[VGA_SR_COUNT];
	uint8_t gr[VGA_GR_COUNT];
	uint8_t ar[VGA_AR_COUNT];
	uint8_t ar_index;               /* with VGA_AR_INDEX_PAS */
	uint8_t cr[VGA_CR_COUNT];
	uint8_t dac[256][3];            /* as written: 6 bits, or 8 with 8BIT_DAC */
	uint8_t pel_mask;
	uint16_t dispi[VBE_DISPI_INDEX_NB];
	int fb_big_endian;              /* QEMU extended register 0x604 */
};

enum vga_kind {
	VGA_KIND_BLANK,     /* nothing displayed (PAS clear, or no usable mode) */
	VGA_KIND_TEXT,
	VGA_KIND_PLANAR,    /* 16 colours from 4 planes (VGA, or VBE 4 bpp) */
	VGA_KIND_CHAIN256,  /* 256 colours, 4 pixels per plane address */
	VGA_KIND_LINEAR,    /* VBE 8/15/16/24/32 bpp */
};

/* What the registers say is on screen. */
struct vga_geometry {
	enum vga_kind kind;
	unsigned width, height;     /* pixels */
	unsigned bpp;               /* LINEAR only */
	uint64_t start;             /* LINEAR: byte offset; else plane address */
	uint64_t line_offset;       /* per scan line (per character row: TEXT) */
	uint64_t wrap;              /* plane addresses wrap here (not LINEAR) */
	unsigned cols, rows;        /* TEXT: cells */
	unsigned cell_width, cell_height;
};

/* vga_decode_geometry: the mode the registers select. A geometry that
 * does not fit VGA_MAX_WIDTH x VGA_MAX_HEIGHT is BLANK; BLANK keeps
 * `blank_width` x `blank_height`. */
void vga_decode_geometry(const struct vga_regs *regs, unsigned blank_width,
			 unsigned blank_height, struct vga_geometry *g);

/* The cursor toggles every 8 frames, blinking characters every 16
 * (FreeVGA: the cursor blinks at 1/16 and characters at 1/32 of the
 * vertical refresh); a frame is 1/60 s. */
#define VGA_FRAME_NS 16666667ULL
#define VGA_CURSOR_PHASE(frame) (((frame) >> 3) & 1)
#define VGA_BLINK_PHASE(frame) (((frame) >> 4) & 1)

struct vga_renderer;

/* vga_renderer_new: a renderer drawing into `pixels`, which holds
 * VGA_MAX_WIDTH * VGA_MAX_HEIGHT pixels. NULL when out of memory. */
struct vga_renderer *vga_renderer_new(uint32_t *pixels);
void vga_renderer_free(struct vga_renderer *r);

/* vga_render_size: the picture's size now (rows are width pixels apart). */
void vga_render_size(const struct vga_renderer *r, unsigned *width, unsigned *height);

/* vga_render_blink_due: would `frame` change the picture with no memory or
 * register change (a text mode whose blink phases moved on)? */
int vga_render_blink_due(const struct vga_renderer *r, unsigned frame);

/* vga_render: bring the picture up to date. `dirty` has one bit per 4 KiB
 * page of VRAM written since the last call; `font_changed` says plane 2
 * may have been written. Register changes are found by comparison with
 * what was drawn. What was redrawn is added to *damage. */
void vga_render(struct vga_renderer *r, const struct vga_regs *regs, const uint8_t *vram,
		const uint64_t *dirty, int font_changed, unsigned frame,
		struct vga_damage *damage);

/* vga_damage_add: add a rectangle to *d, merging as vga.h describes. */
void vga_damage_add(struct vga_damage *d, unsigned x, unsigned y, unsigned width,
		    unsigned height);

#endif
