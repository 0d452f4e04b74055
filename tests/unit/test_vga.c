/* Pins vmm/hw/vga.c, vmm/hw/vga_render.c and vmm/png_write.c: the DISPI
 * registers (ID, GETCAPS, resolution, BPP and bank round trips, through
 * the ports and through BAR2), the DAC's auto-increment and 6-bit values,
 * the attribute flip-flop and input status 1, CRTC write protection, the
 * graphics controller's write modes 0-3 and read modes 0-1 with latches,
 * map mask, odd/even and memory map select; and the picture: a text cell
 * drawn from a font loaded into plane 2 (9th column, line graphics),
 * cursor and blink by frame, mode 12h and 13h pixels, VBE frames at
 * 32/24/16/8 bpp drawn 1:1, damage only where written, resizes, and a
 * screendump read back as PNG. The device runs on a VM with buses but no
 * KVM and no PCI bus; its BARs are put on the test's MMIO bus by hand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <png.h>

#include "bus.h"
#include "hw/vga.h"
#include "hw/vga_render.h"
#include "pci.h"
#include "vm.h"

#define BAR0 0xe0000000ULL
#define BAR2 0xfebf0000ULL
#define WINDOW 0xa0000ULL

static struct vm vm;
static struct vga *vga;

/* ---- guest side ---- */

static void outb(uint16_t port, uint8_t v)
{
	bus_write(&vm.pio, port, &v, 1);
}

static uint8_t inb(uint16_t port)
{
	uint8_t v;

	bus_read(&vm.pio, port, &v, 1);
	return v;
}

static void outw(uint16_t port, uint16_t v)
{
	bus_write(&vm.pio, port, &v, 2);
}

static uint16_t inw(uint16_t port)
{
	uint16_t v;

	bus_read(&vm.pio, port, &v, 2);
	return v;
}

static void writeb(uint64_t addr, uint8_t v)
{
	bus_write(&vm.mmio, addr, &v, 1);
}

static uint8_t readb(uint64_t addr)
{
	uint8_t v;

	bus_read(&vm.mmio, addr, &v, 1);
	return v;
}

static void writel(uint64_t addr, uint32_t v)
{
	bus_write(&vm.mmio, addr, &v, 4);
}

static void dispi_write(uint16_t index, uint16_t v)
{
	outw(0x1ce, index);
	outw(0x1cf, v);
}

static uint16_t dispi_read(uint16_t index)
{
	outw(0x1ce, index);
	return inw(0x1cf);
}

static void sr(uint8_t i, uint8_t v)
{
	outb(0x3c4, i);
	outb(0x3c5, v);
}

static void gr(uint8_t i, uint8_t v)
{
	outb(0x3ce, i);
	outb(0x3cf, v);
}

static void cr(uint8_t i, uint8_t v)
{
	outb(0x3d4, i);
	outb(0x3d5, v);
}

static void ar(uint8_t i, uint8_t v)
{
	inb(0x3da);
	outb(0x3c0, i);
	outb(0x3c0, v);
}

static void unblank(void)
{
	inb(0x3da);
	outb(0x3c0, 0x20);
}

static void dac(uint8_t i, uint8_t r, uint8_t g, uint8_t b)
{
	outb(0x3c8, i);
	outb(0x3c9, r);
	outb(0x3c9, g);
	outb(0x3c9, b);
}

static uint32_t rgb6(uint8_t r, uint8_t g, uint8_t b)
{
	return (uint32_t)(r << 2 | r >> 4) << 16 | (uint32_t)(g << 2 | g >> 4) << 8 |
	       (uint32_t)(b << 2 | b >> 4);
}

/* The 16 colours tests use: DAC entry i = (i*4, 63-i*4, i*2). */
static uint32_t color(unsigned i)
{
	return rgb6((uint8_t)(i * 4), (uint8_t)(63 - i * 4), (uint8_t)(i * 2));
}

static void palette16(void)
{
	for (unsigned i = 0; i < 16; i++) {
		ar((uint8_t)i, (uint8_t)i);
		dac((uint8_t)i, (uint8_t)(i * 4), (uint8_t)(63 - i * 4), (uint8_t)(i * 2));
	}
	ar(0x12, 0x0f);
	ar(0x14, 0x00);
}

static uint32_t pixel(unsigned x, unsigned y)
{
	struct vga_surface s;

	vga_surface(vga, &s);
	assert_true(x < s.width && y < s.height);
	return s.pixels[(size_t)y * (s.stride / 4) + x];
}

static void surface_size(unsigned *w, unsigned *h)
{
	struct vga_surface s;

	vga_surface(vga, &s);
	*w = s.width;
	*h = s.height;
}

/* ---- modes, set up as SeaVGABIOS's tables do ---- */

/* Mode 3: 80x25 text, 9x16 cells, colour addressing, B8000. */
static void mode_text(void)
{
	outb(0x3c2, 0x67);
	sr(1, 0x00);
	sr(2, 0x03);
	sr(3, 0x00);
	sr(4, 0x02);
	for (uint8_t i = 0; i < 4; i++)
		gr(i, 0x00);
	gr(4, 0x00);
	gr(5, 0x10);
	gr(6, 0x0e);
	gr(7, 0x00);
	gr(8, 0xff);
	cr(0x11, 0x00);
	cr(0x01, 0x4f);
	cr(0x07, 0x1f);
	cr(0x09, 0x4f);
	cr(0x0a, 0x20);
	cr(0x0c, 0);
	cr(0x0d, 0);
	cr(0x12, 0x8f);
	cr(0x13, 0x28);
	cr(0x14, 0x1f);
	cr(0x17, 0xa3);
	palette16();
	ar(0x10, 0x0c);
	unblank();
}

/* load_glyph: put a 16-line glyph for `ch` into font map 0 in plane 2, as
 * the VGA BIOS does (sequential addressing, plane 2 only). */
static void load_glyph(uint8_t ch, const uint8_t glyph[16])
{
	sr(2, 0x04);
	sr(4, 0x06);
	gr(4, 0x02);
	gr(5, 0x00);
	gr(6, 0x04);
	for (unsigned i = 0; i < 16; i++)
		writeb(WINDOW + ch * 32u + i, glyph[i]);
	sr(2, 0x03);
	sr(4, 0x02);
	gr(4, 0x00);
	gr(5, 0x10);
	gr(6, 0x0e);
}

/* Mode 12h: 640x480, 16 colours, planar. */
static void mode_12h(void)
{
	outb(0x3c2, 0xe3);
	sr(1, 0x01);
	sr(2, 0x0f);
	sr(4, 0x06);
	gr(0, 0);
	gr(1, 0);
	gr(3, 0);
	gr(5, 0x00);
	gr(6, 0x05);
	gr(8, 0xff);
	cr(0x11, 0x00);
	cr(0x01, 0x4f);
	cr(0x07, 0x3e);
	cr(0x09, 0x40);
	cr(0x0c, 0);
	cr(0x0d, 0);
	cr(0x12, 0xdf);
	cr(0x13, 0x28);
	cr(0x17, 0xe3);
	palette16();
	ar(0x10, 0x01);
	unblank();
}

/* Mode 13h: 320x200, 256 colours, chain-4. */
static void mode_13h(void)
{
	outb(0x3c2, 0x63);
	sr(1, 0x01);
	sr(2, 0x0f);
	sr(4, 0x0e);
	gr(5, 0x40);
	gr(6, 0x05);
	gr(8, 0xff);
	cr(0x11, 0x00);
	cr(0x01, 0x4f);
	cr(0x07, 0x1f);
	cr(0x09, 0x41);
	cr(0x0c, 0);
	cr(0x0d, 0);
	cr(0x12, 0x8f);
	cr(0x13, 0x28);
	cr(0x14, 0x40);
	cr(0x17, 0xa3);
	ar(0x10, 0x41);
	unblank();
}

static void mode_vbe(uint16_t w, uint16_t h, uint16_t bpp)
{
	dispi_write(VBE_DISPI_INDEX_ENABLE, 0);
	dispi_write(VBE_DISPI_INDEX_BPP, bpp);
	dispi_write(VBE_DISPI_INDEX_XRES, w);
	dispi_write(VBE_DISPI_INDEX_YRES, h);
	dispi_write(VBE_DISPI_INDEX_BANK, 0);
	dispi_write(VBE_DISPI_INDEX_VIRT_WIDTH, w);
	dispi_write(VBE_DISPI_INDEX_X_OFFSET, 0);
	dispi_write(VBE_DISPI_INDEX_Y_OFFSET, 0);
	dispi_write(VBE_DISPI_INDEX_ENABLE, VBE_DISPI_ENABLED | VBE_DISPI_LFB_ENABLED);
	unblank();
}

static int update(struct vga_damage *d)
{
	int n = vga_update(vga, d);

	assert_true(n >= 0);
	return n;
}

/* ---- fixture ---- */

static int setup(void **state)
{
	struct pci_device *dev;

	(void)state;
	memset(&vm, 0, sizeof(vm));
	bus_init(&vm.pio, "pio");
	bus_init(&vm.mmio, "mmio");
	vga = vga_create(&vm, -1);
	if (!vga)
		return -1;
	dev = vga_pci_device(vga);
	/* where firmware would place the BARs */
	if (bus_register(&vm.mmio, BAR0, VGA_VRAM_SIZE, dev->bars[VGA_VRAM_BAR].ops,
			 dev->bars[VGA_VRAM_BAR].opaque, "bar0") ||
	    bus_register(&vm.mmio, BAR2, VGA_MMIO_SIZE, dev->bars[VGA_MMIO_BAR].ops,
			 dev->bars[VGA_MMIO_BAR].opaque, "bar2"))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	struct vm_cleanup *c, *next;

	(void)state;
	for (c = vm.cleanups; c; c = next) {
		next = c->next;
		c->fn(c->opaque);
		free(c);
	}
	for (c = vm.resets; c; c = next) {
		next = c->next;
		free(c);
	}
	bus_destroy(&vm.pio);
	bus_destroy(&vm.mmio);
	return 0;
}

/* ---- registers ---- */

static void test_pci_identity(void **state)
{
	struct pci_device *dev = vga_pci_device(vga);

	(void)state;
	assert_int_equal(dev->config[PCI_VENDOR_ID] | dev->config[PCI_VENDOR_ID + 1] << 8, 0x1234);
	assert_int_equal(dev->config[PCI_DEVICE_ID] | dev->config[PCI_DEVICE_ID + 1] << 8, 0x1111);
	assert_int_equal(dev->config[PCI_CLASS_DEVICE + 1], 0x03);
	assert_int_equal(dev->config[PCI_CLASS_DEVICE], 0x00);
	assert_int_equal(dev->config[PCI_REVISION_ID], 2);
	assert_int_equal(dev->bars[0].size, 16u << 20);
	assert_true(dev->bars[0].prefetchable);
	assert_int_equal(dev->config[PCI_BASE_ADDRESS_0] & 0x0f, PCI_BASE_ADDRESS_MEM_PREFETCH);
	assert_int_equal(dev->bars[2].size, 4096);
	assert_int_equal(dev->bars[2].type, PCI_BAR_MEM32);
	assert_int_equal(dev->config[PCI_INTERRUPT_PIN], 0);
}

static void test_dispi_registers(void **state)
{
	(void)state;
	/* bochs-drm reads the ID without writing one first */
	assert_int_equal(dispi_read(VBE_DISPI_INDEX_ID), 0xb0c5);
	dispi_write(VBE_DISPI_INDEX_ID, 0xb0c0);
	assert_int_equal(dispi_read(VBE_DISPI_INDEX_ID), 0xb0c0);
	dispi_write(VBE_DISPI_INDEX_ID, 0x1234);
	assert_int_equal(dispi_read(VBE_DISPI_INDEX_ID), 0xb0c0);
	assert_int_equal(inw(0x1ce), VBE_DISPI_INDEX_ID);
	assert_int_equal(dispi_read(VBE_DISPI_INDEX_VIDEO_MEMORY_64K), 256);

	dispi_write(VBE_DISPI_INDEX_XRES, 1024);
	dispi_write(VBE_DISPI_INDEX_YRES, 768);
	dispi_write(VBE_DISPI_INDEX_BPP, 32);
	assert_int_equal(dispi_read(VBE_DISPI_INDEX_XRES), 1024);
	assert_int_equal(dispi_read(VBE_DISPI_INDEX_YRES), 768);
	assert_int_equal(dispi_read(VBE_DISPI_INDEX_BPP), 32);
	/* out of range values are ignored; BPP 0 means 8 */
	dispi_write(VBE_DISPI_INDEX_XRES, VGA_MAX_WIDTH + 8);
	dispi_write(VBE_DISPI_INDEX_YRES, VGA_MAX_HEIGHT + 1);
	dispi_write(VBE_DISPI_INDEX_BPP, 7);
	assert_int_equal(dispi_read(VBE_DISPI_INDEX_XRES), 1024);
	assert_int_equal(dispi_read(VBE_DISPI_INDEX_YRES), 768);
	assert_int_equal(dispi_read(VBE_DISPI_INDEX_BPP), 32);
	dispi_write(VBE_DISPI_INDEX_BPP, 0);
	assert_int_equal(dispi_read(VBE_DISPI_INDEX_BPP), 8);
	for (unsigned i = 0; i < 5; i++) {
		static const uint16_t bpps[] = { 4, 15, 16, 24, 32 };

		dispi_write(VBE_DISPI_INDEX_BPP, bpps[i]);
		assert_int_equal(dispi_read(VBE_DISPI_INDEX_BPP), bpps[i]);
	}

	/* GETCAPS: the maximums, as SeaVGABIOS reads them */
	dispi_write(VBE_DISPI_INDEX_ENABLE, VBE_DISPI_GETCAPS);
	assert_int_equal(dispi_read(VBE_DISPI_INDEX_XRES), VGA_MAX_WIDTH);
	assert_int_equal(dispi_read(VBE_DISPI_INDEX_YRES), VGA_MAX_HEIGHT);
	assert_int_equal(dispi_read(VBE_DISPI_INDEX_BPP), 32);
	dispi_write(VBE_DISPI_INDEX_ENABLE, 0);
	assert_int_equal(dispi_read(VBE_DISPI_INDEX_XRES), 1024);

	dispi_write(VBE_DISPI_INDEX_ENABLE, VBE_DISPI_ENABLED | VBE_DISPI_LFB_ENABLED |
						    VBE_DISPI_NOCLEARMEM);
	assert_int_equal(dispi_read(VBE_DISPI_INDEX_ENABLE),
			 VBE_DISPI_ENABLED | VBE_DISPI_LFB_ENABLED | VBE_DISPI_NOCLEARMEM);
	/* the bank reads back as written while it fits (SeaVGABIOS checks) */
	dispi_write(VBE_DISPI_INDEX_BANK, 0x2a);
	assert_int_equal(dispi_read(VBE_DISPI_INDEX_BANK), 0x2a);
	dispi_write(VBE_DISPI_INDEX_BANK, 0x1ff);
	assert_int_equal(dispi_read(VBE_DISPI_INDEX_BANK), 0xff);
	for (uint16_t i = VBE_DISPI_INDEX_VIRT_WIDTH; i <= VBE_DISPI_INDEX_Y_OFFSET; i++) {
		dispi_write(i, (uint16_t)(0x100 + i));
		assert_int_equal(dispi_read(i), 0x100 + i);
	}
	assert_int_equal(dispi_read(0x0b), 0);
	/* 0x1d0 is a data port too */
	outw(0x1ce, VBE_DISPI_INDEX_XRES);
	outw(0x1d0, 800);
	assert_int_equal(inw(0x1d0), 800);
}

static void test_mmio_bar(void **state)
{
	uint16_t w;
	uint32_t l;

	(void)state;
	/* DISPI flat at 0x500 + 2 * index, as bochs-drm uses it */
	bus_read(&vm.mmio, BAR2 + 0x500, &w, 2);
	assert_int_equal(w, 0xb0c5);
	w = 640;
	bus_write(&vm.mmio, BAR2 + 0x500 + 2 * VBE_DISPI_INDEX_XRES, &w, 2);
	assert_int_equal(dispi_read(VBE_DISPI_INDEX_XRES), 640);
	/* a byte write keeps the other byte */
	writeb(BAR2 + 0x500 + 2 * VBE_DISPI_INDEX_XRES + 1, 0x03);
	assert_int_equal(dispi_read(VBE_DISPI_INDEX_XRES), 0x380);
	bus_read(&vm.mmio, BAR2 + 0x500 + 2 * VBE_DISPI_INDEX_VIDEO_MEMORY_64K, &w, 2);
	assert_int_equal(w, 256);

	/* VGA ports at 0x400: one word write sets index and data */
	w = 0x0f02;
	bus_write(&vm.mmio, BAR2 + 0x400 + 4, &w, 2);
	outb(0x3c4, 0x02);
	assert_int_equal(inb(0x3c5), 0x0f);
	outb(0x3ce, 0x08);
	outb(0x3cf, 0x5a);
	assert_int_equal(readb(BAR2 + 0x40f), 0x5a);

	/* QEMU extended registers: size 8, then the byte order */
	bus_read(&vm.mmio, BAR2 + 0x600, &l, 4);
	assert_int_equal(l, 8);
	bus_read(&vm.mmio, BAR2 + 0x604, &l, 4);
	assert_int_equal(l, 0x1e1e1e1e);
	writel(BAR2 + 0x604, 0xbebebebe);
	bus_read(&vm.mmio, BAR2 + 0x604, &l, 4);
	assert_int_equal(l, 0xbebebebe);
	writel(BAR2 + 0x604, 0x12345678);
	bus_read(&vm.mmio, BAR2 + 0x604, &l, 4);
	assert_int_equal(l, 0xbebebebe);
	/* no EDID */
	assert_int_equal(readb(BAR2), 0);
}

static void test_dac_palette(void **state)
{
	(void)state;
	outb(0x3c8, 5);
	for (unsigned i = 0; i < 6; i++)
		outb(0x3c9, (uint8_t)(0x10 + i));
	assert_int_equal(inb(0x3c8), 7);   /* two colours later */
	assert_int_equal(inb(0x3c7), 0);   /* DAC state: writing */
	outb(0x3c7, 5);
	assert_int_equal(inb(0x3c7), 3);   /* reading */
	for (unsigned i = 0; i < 6; i++)
		assert_int_equal(inb(0x3c9), 0x10 + i);
	/* the read index moved on to entry 7 */
	outb(0x3c8, 7);
	outb(0x3c9, 1);
	outb(0x3c9, 2);
	outb(0x3c9, 3);
	outb(0x3c7, 6);
	for (unsigned i = 0; i < 3; i++)
		inb(0x3c9);
	assert_int_equal(inb(0x3c9), 1);
	/* 6 bits wide, the index wraps at 256 */
	outb(0x3c8, 255);
	outb(0x3c9, 0xff);
	outb(0x3c9, 0x40);
	outb(0x3c9, 0x3f);
	assert_int_equal(inb(0x3c8), 0);
	outb(0x3c7, 255);
	assert_int_equal(inb(0x3c9), 0x3f);
	assert_int_equal(inb(0x3c9), 0x00);
	assert_int_equal(inb(0x3c9), 0x3f);
	/* with the 8-bit DAC (VBE function 08h), 8 bits */
	dispi_write(VBE_DISPI_INDEX_ENABLE, VBE_DISPI_8BIT_DAC);
	dac(9, 0xff, 0x80, 0x41);
	outb(0x3c7, 9);
	assert_int_equal(inb(0x3c9), 0xff);
	assert_int_equal(inb(0x3c9), 0x80);
	assert_int_equal(inb(0x3c9), 0x41);
	outb(0x3c6, 0x0f);
	assert_int_equal(inb(0x3c6), 0x0f);
}

static void test_attribute_flip_flop(void **state)
{
	(void)state;
	outb(0x3c2, 0x01);          /* colour: input status 1 at 0x3da */
	inb(0x3da);
	outb(0x3c0, 0x10);          /* index */
	outb(0x3c0, 0x41);          /* data */
	outb(0x3c0, 0x32);          /* index again, PAS set */
	assert_int_equal(inb(0x3c0), 0x32);
	outb(0x3c0, 0x0f);          /* data of 0x12 */
	outb(0x3c0, 0x10);
	assert_int_equal(inb(0x3c1), 0x41);
	/* a read of input status 1 puts the flip-flop back to "index" */
	outb(0x3c0, 0x13);          /* flip-flop now at data... */
	inb(0x3da);                 /* ...reset */
	outb(0x3c0, 0x12);          /* an index, not data for 0x10 */
	assert_int_equal(inb(0x3c1), 0x0f);
	outb(0x3c0, 0x10);          /* that was data: AR12 = 0x10 */
	assert_int_equal(inb(0x3c1), 0x10);
	/* in colour mode 0x3ba is not decoded and does not reset it */
	outb(0x3c0, 0x12);
	assert_int_equal(inb(0x3ba), 0xff);
	outb(0x3c0, 0x05);          /* still data: AR12 = 5 */
	inb(0x3da);
	outb(0x3c0, 0x12);
	assert_int_equal(inb(0x3c1), 0x05);
	/* mono addressing moves it to 0x3ba */
	outb(0x3c2, 0x00);
	outb(0x3c0, 0x00);          /* data */
	inb(0x3ba);
	outb(0x3c0, 0x11);          /* index */
	assert_int_equal(inb(0x3c0), 0x11);
	/* the 3dx CRTC is gone too */
	assert_int_equal(inb(0x3d5), 0xff);
}

static void test_input_status_toggles(void **state)
{
	uint8_t a, b;

	(void)state;
	outb(0x3c2, 0x01);
	a = inb(0x3da);
	b = inb(0x3da);
	assert_int_equal((a ^ b) & 0x09, 0x09);
	assert_int_equal(inb(0x3da) & 0x08, a & 0x08);
}

static void test_register_masks_and_protect(void **state)
{
	(void)state;
	outb(0x3c2, 0x01);
	sr(4, 0xff);
	outb(0x3c4, 4);
	assert_int_equal(inb(0x3c5), 0x0e);
	gr(5, 0xff);
	outb(0x3ce, 5);
	assert_int_equal(inb(0x3cf), 0x7b);
	cr(0x01, 0x4f);
	cr(0x07, 0x00);
	cr(0x11, 0x80);             /* protect CR0-7 */
	cr(0x01, 0x27);
	cr(0x07, 0xff);
	outb(0x3d4, 0x01);
	assert_int_equal(inb(0x3d5), 0x4f);
	outb(0x3d4, 0x07);
	assert_int_equal(inb(0x3d5), 0x10);  /* only line compare bit 8 */
	cr(0x11, 0x00);
	cr(0x01, 0x27);
	outb(0x3d4, 0x01);
	assert_int_equal(inb(0x3d5), 0x27);
	/* a word write to the index port sets index and data */
	outw(0x3d4, 0x5513);
	outb(0x3d4, 0x13);
	assert_int_equal(inb(0x3d5), 0x55);
}

/* ---- the legacy window ---- */

/* planes_at: plane bytes at plane address `a` through read mode 0. */
static void planes_at(uint64_t a, uint8_t out[4])
{
	outb(0x3ce, 5);
	outb(0x3cf, (uint8_t)(inb(0x3cf) & ~0x08));
	for (unsigned p = 0; p < 4; p++) {
		gr(4, (uint8_t)p);
		out[p] = readb(WINDOW + a);
	}
}

static void expect_planes(uint64_t a, uint8_t p0, uint8_t p1, uint8_t p2, uint8_t p3)
{
	uint8_t got[4];

	planes_at(a, got);
	assert_int_equal(got[0], p0);
	assert_int_equal(got[1], p1);
	assert_int_equal(got[2], p2);
	assert_int_equal(got[3], p3);
}

static void test_write_mode_0(void **state)
{
	(void)state;
	mode_12h();
	/* set/reset on planes 0 and 2 */
	gr(1, 0x0f);
	gr(0, 0x05);
	writeb(WINDOW + 0, 0x12);
	expect_planes(0, 0xff, 0x00, 0xff, 0x00);
	/* CPU data, rotated right by 1 */
	gr(1, 0x00);
	gr(3, 0x01);
	writeb(WINDOW + 1, 0x01);
	expect_planes(1, 0x80, 0x80, 0x80, 0x80);
	/* bit mask keeps the latches' bits: latches loaded from address 0 */
	gr(3, 0x00);
	gr(8, 0xf0);
	readb(WINDOW + 0);
	writeb(WINDOW + 2, 0xaa);
	expect_planes(2, 0xaf, 0xa0, 0xaf, 0xa0);
	/* logical ops with the latches (address 0's): AND, OR, XOR */
	gr(8, 0xff);
	gr(3, 0x08);
	readb(WINDOW + 0);
	writeb(WINDOW + 3, 0x3c);
	expect_planes(3, 0x3c, 0x00, 0x3c, 0x00);
	gr(3, 0x10);
	readb(WINDOW + 0);
	writeb(WINDOW + 4, 0x3c);
	expect_planes(4, 0xff, 0x3c, 0xff, 0x3c);
	gr(3, 0x18);
	readb(WINDOW + 0);
	writeb(WINDOW + 5, 0x3c);
	expect_planes(5, 0xc3, 0x3c, 0xc3, 0x3c);
	/* the map mask keeps planes out */
	gr(3, 0x00);
	sr(2, 0x02);
	writeb(WINDOW + 6, 0x77);
	sr(2, 0x0f);
	expect_planes(6, 0x00, 0x77, 0x00, 0x00);
}

static void test_write_modes_1_2_3(void **state)
{
	(void)state;
	mode_12h();
	gr(1, 0x0f);
	gr(0, 0x09);
	writeb(WINDOW + 10, 0);
	gr(1, 0x00);
	expect_planes(10, 0xff, 0x00, 0x00, 0xff);
	/* mode 1: the latches, whatever the data and bit mask */
	gr(5, 0x01);
	gr(8, 0x0f);
	readb(WINDOW + 10);
	writeb(WINDOW + 11, 0x00);
	gr(8, 0xff);
	expect_planes(11, 0xff, 0x00, 0x00, 0xff);
	/* mode 2: data bits 3-0 are the colour of every masked pixel */
	gr(5, 0x02);
	gr(8, 0x3c);
	readb(WINDOW + 12);       /* latches: zeros */
	writeb(WINDOW + 12, 0x06);
	gr(8, 0xff);
	expect_planes(12, 0x00, 0x3c, 0x3c, 0x00);
	/* mode 3: set/reset colour, rotated data ANDed into the bit mask */
	gr(5, 0x03);
	gr(0, 0x0c);
	gr(8, 0xf0);
	readb(WINDOW + 13);
	writeb(WINDOW + 13, 0x3c);
	gr(8, 0xff);
	expect_planes(13, 0x00, 0x00, 0x30, 0x30);
}

static void test_read_mode_1(void **state)
{
	(void)state;
	mode_12h();
	/* pixels 0-7 of address 20 get colours 0..7 with write mode 2 */
	gr(5, 0x02);
	for (unsigned px = 0; px < 8; px++) {
		gr(8, (uint8_t)(0x80 >> px));
		readb(WINDOW + 20);
		writeb(WINDOW + 20, (uint8_t)px);
	}
	gr(8, 0xff);
	/* colour compare: which pixels are colour 5 */
	gr(5, 0x08);
	gr(2, 0x05);
	gr(7, 0x0f);
	assert_int_equal(readb(WINDOW + 20), 0x04);
	/* planes 2 and 0 only: colours 5 and 7 (and 1-less: x1x1) match */
	gr(7, 0x05);
	assert_int_equal(readb(WINDOW + 20), 0x05);
	/* no plane cared about: everything matches */
	gr(7, 0x00);
	assert_int_equal(readb(WINDOW + 20), 0xff);
	/* read mode 0 picks the plane by Read Map Select */
	gr(5, 0x00);
	gr(4, 0x01);
	assert_int_equal(readb(WINDOW + 20), 0x33);
}

static void test_odd_even_and_maps(void **state)
{
	(void)state;
	mode_text();
	writeb(0xb8000, 'H');
	writeb(0xb8001, 0x1f);
	writeb(0xb8002, 'i');
	/* planar view: plane 0 holds characters, plane 1 attributes */
	sr(4, 0x06);
	gr(5, 0x00);
	gr(6, 0x04);
	expect_planes(0, 'H', 0x1f, 0, 0);
	expect_planes(1, 'i', 0, 0, 0);
	/* and back through odd/even reads */
	gr(5, 0x10);
	gr(4, 0x00);
	gr(6, 0x0e);
	assert_int_equal(readb(0xb8000), 'H');
	assert_int_equal(readb(0xb8001), 0x1f);
	/* B8000 map: A0000 is not decoded */
	assert_int_equal(readb(WINDOW), 0xff);
	writeb(WINDOW, 0x99);
	gr(6, 0x06);        /* A0000, 64 KiB */
	sr(4, 0x06);
	gr(5, 0x00);
	expect_planes(0, 'H', 0x1f, 0, 0);
	assert_int_equal(readb(0xb8000), 0xff);
}

static void test_chain4_and_bank(void **state)
{
	uint8_t b;

	(void)state;
	mode_13h();
	writeb(WINDOW + 0x1234, 0x5a);
	bus_read(&vm.mmio, BAR0 + 0x1234, &b, 1);
	assert_int_equal(b, 0x5a);
	/* VBE banks move the 64 KiB window over VRAM */
	dispi_write(VBE_DISPI_INDEX_BANK, 3);
	writeb(WINDOW + 0x10, 0xa5);
	bus_read(&vm.mmio, BAR0 + 3 * 0x10000 + 0x10, &b, 1);
	assert_int_equal(b, 0xa5);
	assert_int_equal(readb(WINDOW + 0x10), 0xa5);
	/* past 64 KiB of map 1: not decoded */
	assert_int_equal(readb(WINDOW + 0x10010), 0xff);
}

/* ---- the picture ---- */

static const uint8_t glyph_a[16] = {
	0x00, 0x18, 0x3c, 0x66, 0xc3, 0xc3, 0xff, 0xc3,
	0xc3, 0xc3, 0x81, 0x01, 0x00, 0xff, 0x00, 0x80,
};

static void test_text_glyph(void **state)
{
	struct vga_damage d;
	unsigned w, h;

	(void)state;
	mode_text();
	load_glyph('A', glyph_a);
	load_glyph(0xc4, glyph_a);
	/* yellow (14) on blue (1) at row 0 col 0; line graphics at row 2 col 3 */
	writeb(0xb8000, 'A');
	writeb(0xb8001, 0x1e);
	writeb(0xb8000 + 2 * (2 * 80 + 3), 0xc4);
	writeb(0xb8000 + 2 * (2 * 80 + 3) + 1, 0x1e);
	update(&d);
	assert_true(d.resized);
	surface_size(&w, &h);
	assert_int_equal(w, 720);
	assert_int_equal(h, 400);
	for (unsigned line = 0; line < 16; line++) {
		for (unsigned x = 0; x < 8; x++)
			assert_int_equal(pixel(x, line),
					 color((glyph_a[line] & (0x80 >> x)) ? 14 : 1));
		/* the 9th column is background for 'A'... */
		assert_int_equal(pixel(8, line), color(1));
		/* ...and repeats column 8 for 0xC0-0xDF */
		assert_int_equal(pixel(3 * 9 + 8, 2 * 16 + line),
				 color((glyph_a[line] & 1) ? 14 : 1));
	}
	/* an empty cell: character 0 (blank glyph), attribute 0: colour 0 */
	assert_int_equal(pixel(719, 399), color(0));

	/* 8-dot characters */
	sr(1, 0x01);
	update(&d);
	assert_true(d.resized);
	surface_size(&w, &h);
	assert_int_equal(w, 640);
	for (unsigned line = 0; line < 16; line++)
		assert_int_equal(pixel(7, line), color((glyph_a[line] & 1) ? 14 : 1));
	assert_int_equal(pixel(8, 6), color(0));   /* column 1 is an empty cell */
}

static void test_text_damage_one_cell(void **state)
{
	struct vga_damage d;

	(void)state;
	mode_text();
	load_glyph('A', glyph_a);
	update(&d);
	assert_int_equal(update(&d), 0);
	writeb(0xb8000 + 2 * (10 * 80 + 40), 'A');
	assert_int_equal(update(&d), 1);
	assert_false(d.resized);
	assert_int_equal(d.rects[0].x, 40 * 9);
	assert_int_equal(d.rects[0].y, 10 * 16);
	assert_int_equal(d.rects[0].width, 9);
	assert_int_equal(d.rects[0].height, 16);
	/* the same value again changes nothing */
	writeb(0xb8000 + 2 * (10 * 80 + 40), 'A');
	assert_int_equal(update(&d), 0);
	/* a palette change redraws everything */
	dac(7, 1, 2, 3);
	assert_int_equal(update(&d), 1);
	assert_int_equal(d.rects[0].width, 720);
	assert_int_equal(d.rects[0].height, 400);
}

/* Cursor and blink, through the renderer with chosen frames. */
static void test_text_cursor_blink(void **state)
{
	struct vga_regs regs;
	uint8_t *vram = calloc(1, VGA_VRAM_SIZE);
	uint32_t *px = calloc((size_t)VGA_MAX_WIDTH * VGA_MAX_HEIGHT, 4);
	uint64_t dirty[VGA_DIRTY_WORDS];
	struct vga_renderer *r = vga_renderer_new(px);
	struct vga_damage d;
	uint32_t fg, bg;

	(void)state;
	assert_non_null(vram);
	assert_non_null(px);
	assert_non_null(r);
	memset(dirty, 0, sizeof(dirty));
	memset(&regs, 0, sizeof(regs));
	regs.pel_mask = 0xff;
	regs.ar_index = VGA_AR_INDEX_PAS;
	regs.cr[VGA_CR_H_DISPLAY_END] = 79;
	regs.cr[VGA_CR_V_DISPLAY_END] = 199;  /* 200 lines: 25 rows of 8 */
	regs.cr[VGA_CR_MAX_SCAN] = 7;
	regs.cr[VGA_CR_OFFSET] = 40;
	regs.cr[VGA_CR_CURSOR_START] = 6;
	regs.cr[VGA_CR_CURSOR_END] = 7;
	regs.cr[VGA_CR_CURSOR_LO] = 81;       /* row 1, col 1 */
	regs.cr[VGA_CR_UNDERLINE] = 0x1f;
	regs.sr[VGA_SR_CLOCKING] = VGA_SR01_8DOT;
	regs.ar[VGA_AR_MODE] = VGA_AR10_BLINK;
	for (unsigned i = 0; i < 16; i++) {
		regs.ar[i] = (uint8_t)i;
		regs.dac[i][0] = (uint8_t)(i * 4);
	}
	fg = rgb6(15 * 4, 0, 0);
	bg = rgb6(1 * 4, 0, 0);
	/* 'X' (a full block in plane 2) blinking at row 0 col 2; cursor cell 1,1 */
	for (unsigned l = 0; l < 8; l++)
		vram[(size_t)('X' * 32 + l) * 4 + 2] = 0xff;
	vram[2 * 4] = 'X';
	vram[2 * 4 + 1] = 0x9f;   /* blink, bg 1, fg 15 */
	vram[81 * 4 + 1] = 0x1f;  /* blank character, bg 1, fg 15 */

	memset(&d, 0, sizeof(d));
	vga_render(r, &regs, vram, dirty, 0, 0, &d);          /* frame 0: blink off, cursor off */
	assert_int_equal(px[0 * 640 + 2 * 8], bg);
	assert_int_equal(px[(8 + 7) * 640 + 8], bg);
	assert_false(vga_render_blink_due(r, 7));
	assert_true(vga_render_blink_due(r, 8));

	memset(&d, 0, sizeof(d));
	vga_render(r, &regs, vram, dirty, 0, 8, &d);          /* cursor on */
	assert_int_equal(d.nrects, 1);
	assert_int_equal(d.rects[0].x, 8);
	assert_int_equal(d.rects[0].y, 8);
	assert_int_equal(px[(8 + 6) * 640 + 8], fg);
	assert_int_equal(px[(8 + 7) * 640 + 15], fg);
	assert_int_equal(px[(8 + 5) * 640 + 8], bg);
	assert_int_equal(px[0 * 640 + 2 * 8], bg);            /* still blinked off */

	memset(&d, 0, sizeof(d));
	vga_render(r, &regs, vram, dirty, 0, 16, &d);         /* blink on, cursor off */
	assert_int_equal(d.nrects, 2);
	assert_int_equal(px[0 * 640 + 2 * 8], fg);
	assert_int_equal(px[(8 + 7) * 640 + 8], bg);

	/* blink disabled: attribute bit 7 is background intensity */
	regs.ar[VGA_AR_MODE] = 0;
	regs.dac[9][0] = 0x3f;
	memset(&d, 0, sizeof(d));
	vga_render(r, &regs, vram, dirty, 0, 0, &d);
	assert_int_equal(px[0 * 640 + 2 * 8], fg);
	vram[(size_t)('X' * 32 + 3) * 4 + 2] = 0x7f;
	vga_render(r, &regs, vram, dirty, 1, 0, &d);          /* font changed */
	assert_int_equal(px[3 * 640 + 2 * 8], rgb6(0x3f, 0, 0));

	vga_renderer_free(r);
	free(px);
	free(vram);
}

static void test_mode_12h_pixels(void **state)
{
	struct vga_damage d;
	unsigned w, h;

	(void)state;
	mode_12h();
	gr(5, 0x02);
	/* pixel (9, 3): colour 9; pixel (639, 479): colour 14 */
	gr(8, 0x80 >> 1);
	readb(WINDOW + 3 * 80 + 1);
	writeb(WINDOW + 3 * 80 + 1, 9);
	gr(8, 0x01);
	readb(WINDOW + 479 * 80 + 79);
	writeb(WINDOW + 479 * 80 + 79, 14);
	update(&d);
	surface_size(&w, &h);
	assert_int_equal(w, 640);
	assert_int_equal(h, 480);
	assert_int_equal(pixel(9, 3), color(9));
	assert_int_equal(pixel(8, 3), color(0));
	assert_int_equal(pixel(10, 3), color(0));
	assert_int_equal(pixel(639, 479), color(14));
	/* the colour plane enable register masks planes */
	ar(0x12, 0x07);
	unblank();
	update(&d);
	assert_int_equal(pixel(9, 3), color(1));
	assert_int_equal(pixel(639, 479), color(6));
}

static void test_mode_0dh(void **state)
{
	struct vga_damage d;
	unsigned w, h;

	(void)state;
	mode_12h();
	sr(1, 0x09);
	cr(0x01, 0x27);
	cr(0x07, 0x1f);
	cr(0x09, 0xc0);
	cr(0x12, 0x8f);
	cr(0x13, 0x14);
	gr(5, 0x02);
	gr(8, 0x01);
	writeb(WINDOW + 199 * 40 + 39, 12);
	update(&d);
	surface_size(&w, &h);
	assert_int_equal(w, 320);
	assert_int_equal(h, 200);
	assert_int_equal(pixel(319, 199), color(12));
}

static void test_mode_13h_pixel(void **state)
{
	struct vga_damage d;
	unsigned w, h;

	(void)state;
	mode_13h();
	dac(0x2a, 63, 0, 0);
	dac(0x80, 0, 63, 1);
	writeb(WINDOW + 3 * 320 + 5, 0x2a);
	writeb(WINDOW + 199 * 320 + 319, 0x80);
	update(&d);
	surface_size(&w, &h);
	assert_int_equal(w, 320);
	assert_int_equal(h, 200);
	assert_int_equal(pixel(5, 3), 0xff0000);
	assert_int_equal(pixel(4, 3), 0);
	assert_int_equal(pixel(6, 3), 0);
	assert_int_equal(pixel(319, 199), rgb6(0, 63, 1));
	/* damage: only the lines of the 4 KiB page written (12.8 lines) */
	assert_int_equal(update(&d), 0);
	writeb(WINDOW + 100 * 320 + 7, 0x2a);
	assert_int_equal(update(&d), 1);
	assert_true(d.rects[0].y <= 100 && d.rects[0].y + d.rects[0].height > 100);
	assert_true(d.rects[0].height <= 14);
	assert_int_equal(pixel(7, 100), 0xff0000);
	/* the PEL mask applies to the index */
	outb(0x3c6, 0x0f);
	update(&d);
	assert_int_equal(pixel(5, 3), 0);           /* 0x2a & 0x0f: entry 0x0a */
	assert_int_equal(d.rects[0].width, 320);
}

static uint32_t pattern(unsigned x, unsigned y)
{
	return (uint32_t)((x * 7) & 0xff) << 16 | (uint32_t)((y * 13) & 0xff) << 8 |
	       (uint32_t)((x ^ y) & 0xff);
}

static void test_vbe_32bpp_1to1(void **state)
{
	struct vga_damage d;
	unsigned w, h;

	(void)state;
	mode_vbe(200, 150, 32);
	for (unsigned y = 0; y < 150; y++)
		for (unsigned x = 0; x < 200; x++)
			writel(BAR0 + (y * 200 + x) * 4, pattern(x, y) | 0xff000000u);
	update(&d);
	assert_true(d.resized);
	assert_int_equal(d.nrects, 1);
	assert_int_equal(d.rects[0].width, 200);
	assert_int_equal(d.rects[0].height, 150);
	surface_size(&w, &h);
	assert_int_equal(w, 200);
	assert_int_equal(h, 150);
	for (unsigned y = 0; y < 150; y++)
		for (unsigned x = 0; x < 200; x++)
			if (pixel(x, y) != pattern(x, y))
				fail_msg("pixel %u,%u is %#x, not %#x", x, y, pixel(x, y),
					 pattern(x, y));
	/* panning with the offsets; a virtual width wider than the screen */
	dispi_write(VBE_DISPI_INDEX_VIRT_WIDTH, 100);    /* less than XRES: XRES wins */
	dispi_write(VBE_DISPI_INDEX_Y_OFFSET, 1);
	dispi_write(VBE_DISPI_INDEX_X_OFFSET, 2);
	update(&d);
	assert_int_equal(pixel(0, 0), pattern(2, 1));
	/* bochs-drm's BGRX8888: big-endian framebuffer */
	dispi_write(VBE_DISPI_INDEX_Y_OFFSET, 0);
	dispi_write(VBE_DISPI_INDEX_X_OFFSET, 0);
	writel(BAR2 + 0x604, 0xbebebebe);
	writel(BAR0, 0x11223344);
	update(&d);
	assert_int_equal(pixel(0, 0), 0x332211);    /* bytes 44 33 22 11: X R G B */
}

static void test_vbe_other_depths(void **state)
{
	struct vga_damage d;
	uint16_t w16;
	uint8_t rgb[3] = { 0x30, 0x20, 0x10 };

	(void)state;
	mode_vbe(64, 8, 16);
	w16 = 0xf81f;     /* r5g6b5 magenta */
	bus_write(&vm.mmio, BAR0 + 2 * 3, &w16, 2);
	update(&d);
	assert_int_equal(pixel(3, 0), 0xff00ff);
	assert_int_equal(pixel(2, 0), 0);

	mode_vbe(64, 8, 15);
	w16 = 0x03e0;     /* x1r5g5b5 green */
	bus_write(&vm.mmio, BAR0 + 64 * 2 + 2 * 5, &w16, 2);
	update(&d);
	assert_int_equal(pixel(5, 1), 0x00ff00);

	mode_vbe(64, 8, 24);
	bus_write(&vm.mmio, BAR0 + 64 * 3 * 2 + 3 * 7, rgb, 3);  /* B, G, R in memory */
	update(&d);
	assert_int_equal(pixel(7, 2), 0x102030);

	dac(0x30, 63, 63, 63);
	mode_vbe(64, 8, 8);
	dac(0x42, 63, 32, 0);
	writeb(BAR0 + 64 * 4 + 9, 0x42);
	update(&d);
	assert_int_equal(pixel(9, 4), rgb6(63, 32, 0));
	/* enabling a mode without NOCLEARMEM cleared the frame: the 24-bpp
	 * pixel's blue byte (0x30, a white entry) is gone */
	assert_int_equal(pixel(21, 6), 0);
	/* 8-bit DAC */
	dispi_write(VBE_DISPI_INDEX_ENABLE, VBE_DISPI_ENABLED | VBE_DISPI_LFB_ENABLED |
						    VBE_DISPI_8BIT_DAC);
	dac(0x42, 0x12, 0x34, 0x56);
	update(&d);
	assert_int_equal(pixel(9, 4), 0x123456);
}

static void test_vbe_planar_4bpp(void **state)
{
	struct vga_damage d;
	unsigned w, h;

	(void)state;
	/* SeaVGABIOS mode 0x102: VGA 16-colour registers, DISPI at 4 bpp */
	mode_12h();
	mode_vbe(800, 600, 4);
	gr(5, 0x02);
	gr(8, 0x80);
	readb(WINDOW + 599 * 100 + 99);
	writeb(WINDOW + 599 * 100 + 99, 5);
	update(&d);
	surface_size(&w, &h);
	assert_int_equal(w, 800);
	assert_int_equal(h, 600);
	assert_int_equal(pixel(792, 599), color(5));
}

static void test_damage_only_where_written(void **state)
{
	struct vga_damage d;
	uint32_t v = 0x00abcdef;

	(void)state;
	/* 2048 x 32 bpp: a line is two 4 KiB pages */
	mode_vbe(2048, 16, 32);
	update(&d);
	assert_int_equal(update(&d), 0);
	assert_int_equal(update(&d), 0);
	bus_write(&vm.mmio, BAR0 + (5 * 2048 + 1500) * 4, &v, 4);
	assert_int_equal(update(&d), 1);
	assert_false(d.resized);
	assert_int_equal(d.rects[0].x, 1024);
	assert_int_equal(d.rects[0].width, 1024);
	assert_int_equal(d.rects[0].y, 5);
	assert_int_equal(d.rects[0].height, 1);
	assert_int_equal(pixel(1500, 5), 0xabcdef);
	/* two places far apart: two rectangles */
	bus_write(&vm.mmio, BAR0 + (1 * 2048 + 10) * 4, &v, 4);
	bus_write(&vm.mmio, BAR0 + (12 * 2048 + 2000) * 4, &v, 4);
	assert_int_equal(update(&d), 2);
	/* writes outside the visible frame: nothing */
	bus_write(&vm.mmio, BAR0 + (8u << 20), &v, 4);
	assert_int_equal(update(&d), 0);
	/* a resolution change: resized, all of it */
	dispi_write(VBE_DISPI_INDEX_XRES, 1024);
	assert_int_equal(update(&d), 1);
	assert_true(d.resized);
	assert_int_equal(d.rects[0].width, 1024);
	assert_int_equal(d.rects[0].height, 16);
}

static void test_blank(void **state)
{
	struct vga_damage d;

	(void)state;
	outb(0x3c2, 0x01);          /* bochs-drm: colour, so 0x3da resets the flip-flop */
	mode_vbe(32, 32, 32);
	writel(BAR0, 0xffffff);
	update(&d);
	assert_int_equal(pixel(0, 0), 0xffffff);
	/* bochs-drm blanks by writing 0 to the attribute index */
	inb(0x3da);
	outb(0x3c0, 0x00);
	update(&d);
	assert_int_equal(pixel(0, 0), 0);
	unblank();
	update(&d);
	assert_int_equal(pixel(0, 0), 0xffffff);
}

static void test_screendump(void **state)
{
	char path[] = "/tmp/duet-test-vga-XXXXXX";
	char file[64];
	png_image img;
	uint8_t *rgb;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	unlink(path);
	snprintf(file, sizeof(file), "%s.png", path);

	mode_vbe(40, 30, 32);
	writel(BAR0 + (7 * 40 + 3) * 4, 0x00112233);
	assert_int_equal(vga_screendump(vga, file), 0);
	memset(&img, 0, sizeof(img));
	img.version = PNG_IMAGE_VERSION;
	assert_true(png_image_begin_read_from_file(&img, file));
	assert_int_equal(img.width, 40);
	assert_int_equal(img.height, 30);
	img.format = PNG_FORMAT_RGB;
	rgb = malloc(PNG_IMAGE_SIZE(img));
	assert_non_null(rgb);
	assert_true(png_image_finish_read(&img, NULL, rgb, 0, NULL));
	assert_int_equal(rgb[(7 * 40 + 3) * 3 + 0], 0x11);
	assert_int_equal(rgb[(7 * 40 + 3) * 3 + 1], 0x22);
	assert_int_equal(rgb[(7 * 40 + 3) * 3 + 2], 0x33);
	assert_int_equal(rgb[0], 0);
	free(rgb);
	unlink(file);
	assert_true(vga_screendump(vga, "/nonexistent-dir/x.png") < 0);
}

static void test_reset(void **state)
{
	(void)state;
	mode_vbe(64, 64, 32);
	dac(1, 1, 2, 3);
	vga_reset(vga);
	assert_int_equal(dispi_read(VBE_DISPI_INDEX_ENABLE), 0);
	assert_int_equal(dispi_read(VBE_DISPI_INDEX_ID), 0xb0c5);
	assert_int_equal(inb(0x3c6), 0xff);
	outb(0x3c7, 1);
	assert_int_equal(inb(0x3c9), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
		T(test_pci_identity),
		T(test_dispi_registers),
		T(test_mmio_bar),
		T(test_dac_palette),
		T(test_attribute_flip_flop),
		T(test_input_status_toggles),
		T(test_register_masks_and_protect),
		T(test_write_mode_0),
		T(test_write_modes_1_2_3),
		T(test_read_mode_1),
		T(test_odd_even_and_maps),
		T(test_chain4_and_bank),
		T(test_text_glyph),
		T(test_text_damage_one_cell),
		T(test_text_cursor_blink),
		T(test_mode_12h_pixels),
		T(test_mode_0dh),
		T(test_mode_13h_pixel),
		T(test_vbe_32bpp_1to1),
		T(test_vbe_other_depths),
		T(test_vbe_planar_4bpp),
		T(test_damage_only_where_written),
		T(test_blank),
		T(test_screendump),
		T(test_reset),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
