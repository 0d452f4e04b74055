/* Fuzzes vmm/hw/vga.c and vmm/hw/vga_render.c as a hostile guest would:
 * the input is a sequence of operations — VGA port reads and writes (bytes
 * and words, 0x3b0-0x3df), DISPI index/data accesses, legacy-window reads
 * and writes of 1-8 bytes, BAR2 (MMIO registers) and BAR0 (VRAM) accesses,
 * and renders in between — then a last render. Every register value, mode,
 * bpp, offset and bank combination must stay inside VRAM and the surface:
 * ASan catches a stray access, and every damage rectangle must lie inside
 * the surface, which must fit VGA_MAX_WIDTH x VGA_MAX_HEIGHT.
 *
 * The device runs on a VM with buses only; the PCI and KVM calls vga.c
 * makes are stubbed here (it gets no PCI bus, so it never maps VRAM).
 *
 * Built with -DFUZZ_SEEDS instead, it is the program that writes the seed
 * corpus (mode 3 text, mode 12h, mode 13h, VBE 32 bpp, VBE at the largest
 * size with panning) into the directory named by its argument. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* One operation: an opcode byte, then its operands. */
enum fuzz_op {
	OP_PORT_WRITE,    /* port (0x3b0 + b % 0x30), value */
	OP_PORT_READ,     /* port */
	OP_PORT_WRITEW,   /* port, le16 */
	OP_DISPI_WRITE,   /* index, le16 */
	OP_DISPI_READ,    /* index */
	OP_WINDOW_WRITE,  /* le24 offset (mod 128 KiB), size code, value bytes */
	OP_WINDOW_READ,   /* le24 offset, size code */
	OP_BAR2_WRITE,    /* le16 offset (mod 4 KiB), size code, value bytes */
	OP_BAR2_READ,     /* le16 offset, size code */
	OP_BAR0_WRITE,    /* le24 offset, size code, value bytes */
	OP_RENDER,
	OP_COUNT
};
/* A size code's low 2 bits choose 1, 2, 4 or 8 bytes. */

#define FUZZ_BAR0 0xe0000000ULL
#define FUZZ_BAR2 0xe1000000ULL
#define FUZZ_WINDOW 0xa0000ULL

#ifndef FUZZ_SEEDS

#include <errno.h>
#include <stdlib.h>

#include "bus.h"
#include "hw/vga.h"
#include "pci.h"
#include "vm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- what vga.c needs from pci.c and vm.c ---- */

void pci_device_init(struct pci_device *dev, const char *name, uint16_t vendor,
		     uint16_t device, uint32_t class_code, uint8_t revision)
{
	(void)vendor;
	(void)device;
	(void)class_code;
	(void)revision;
	memset(dev, 0, sizeof(*dev));
	dev->name = name;
}

void pci_set_subsystem(struct pci_device *dev, uint16_t vendor, uint16_t id)
{
	(void)dev;
	(void)vendor;
	(void)id;
}

void pci_bar_init(struct pci_device *dev, unsigned index, enum pci_bar_type type,
		  uint64_t size, int prefetchable, const struct bus_ops *ops, void *opaque)
{
	dev->bars[index] = (struct pci_bar){ type, size, prefetchable, ops, opaque, 0, 0 };
}

int pci_register(struct vm *vm, struct pci_device *dev, int devfn)
{
	(void)vm;
	(void)dev;
	(void)devfn;
	return -ENOSYS;
}

int vm_map(struct vm *vm, uint64_t gpa, uint64_t size, void *hva, unsigned flags)
{
	(void)vm;
	(void)gpa;
	(void)size;
	(void)hva;
	(void)flags;
	return -ENOSYS;
}

void vm_unmap(struct vm *vm, int slot)
{
	(void)vm;
	(void)slot;
}

int vm_map_dirty(struct vm *vm, int slot, uint64_t *bitmap)
{
	(void)vm;
	(void)slot;
	(void)bitmap;
	return -ENOSYS;
}

int vm_on_destroy(struct vm *vm, void (*fn)(void *opaque), void *opaque)
{
	(void)vm;
	(void)fn;
	(void)opaque;
	return 0;
}

int vm_on_reset(struct vm *vm, void (*fn)(void *opaque), void *opaque)
{
	(void)vm;
	(void)fn;
	(void)opaque;
	return 0;
}

/* ---- the harness ---- */

static struct vm vm;
static struct vga *vga;

static void fuzz_init(void)
{
	struct pci_device *dev;

	bus_init(&vm.pio, "pio");
	bus_init(&vm.mmio, "mmio");
	vga = vga_create(&vm, -1);
	if (!vga)
		abort();
	dev = vga_pci_device(vga);
	if (bus_register(&vm.mmio, FUZZ_BAR0, VGA_VRAM_SIZE, dev->bars[VGA_VRAM_BAR].ops,
			 dev->bars[VGA_VRAM_BAR].opaque, "bar0") ||
	    bus_register(&vm.mmio, FUZZ_BAR2, VGA_MMIO_SIZE, dev->bars[VGA_MMIO_BAR].ops,
			 dev->bars[VGA_MMIO_BAR].opaque, "bar2"))
		abort();
}

/* render: vga_update, and its answer must describe the surface. */
static void render(void)
{
	struct vga_damage d;
	struct vga_surface s;
	int n = vga_update(vga, &d);

	vga_surface(vga, &s);
	if (n < 0 || (unsigned)n != d.nrects || d.nrects > VGA_DAMAGE_MAX_RECTS ||
	    s.width == 0 || s.height == 0 || s.width > VGA_MAX_WIDTH ||
	    s.height > VGA_MAX_HEIGHT || s.stride != s.width * 4)
		abort();
	for (unsigned i = 0; i < d.nrects; i++) {
		const struct vga_rect *r = &d.rects[i];

		if (r->width == 0 || r->height == 0 || r->x + r->width > s.width ||
		    r->y + r->height > s.height)
			abort();
	}
}

struct cursor {
	const uint8_t *p;
	size_t left;
};

static unsigned take(struct cursor *c, unsigned n)
{
	unsigned v = 0;

	for (unsigned i = 0; i < n && c->left; i++, c->p++, c->left--)
		v |= (unsigned)*c->p << (8 * i);
	return v;
}

static unsigned take_size(struct cursor *c)
{
	return 1u << (take(c, 1) & 3);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cursor c = { data, size };
	uint8_t buf[8];
	unsigned renders = 0;

	if (!vga)
		fuzz_init();
	vga_reset(vga);
	while (c.left) {
		unsigned op = take(&c, 1) % OP_COUNT, n;
		uint64_t off;
		uint16_t w;

		switch (op) {
		case OP_PORT_WRITE:
			off = 0x3b0 + take(&c, 1) % 0x30;
			buf[0] = (uint8_t)take(&c, 1);
			bus_write(&vm.pio, off, buf, 1);
			break;
		case OP_PORT_READ:
			bus_read(&vm.pio, 0x3b0 + take(&c, 1) % 0x30, buf, 1);
			break;
		case OP_PORT_WRITEW:
			off = 0x3b0 + take(&c, 1) % 0x2f;
			w = (uint16_t)take(&c, 2);
			bus_write(&vm.pio, off, &w, 2);
			break;
		case OP_DISPI_WRITE:
			w = (uint16_t)take(&c, 1);
			bus_write(&vm.pio, 0x1ce, &w, 2);
			w = (uint16_t)take(&c, 2);
			bus_write(&vm.pio, 0x1cf, &w, 2);
			break;
		case OP_DISPI_READ:
			w = (uint16_t)take(&c, 1);
			bus_write(&vm.pio, 0x1ce, &w, 2);
			bus_read(&vm.pio, 0x1cf, &w, 2);
			break;
		case OP_WINDOW_WRITE:
		case OP_WINDOW_READ:
			off = take(&c, 3) % 0x20000;
			n = take_size(&c);
			if (off + n > 0x20000)
				off = 0x20000 - n;
			if (op == OP_WINDOW_WRITE) {
				memset(buf, 0, sizeof(buf));
				for (unsigned i = 0; i < n; i++)
					buf[i] = (uint8_t)take(&c, 1);
				bus_write(&vm.mmio, FUZZ_WINDOW + off, buf, n);
			} else {
				bus_read(&vm.mmio, FUZZ_WINDOW + off, buf, n);
			}
			break;
		case OP_BAR2_WRITE:
		case OP_BAR2_READ:
			off = take(&c, 2) % VGA_MMIO_SIZE;
			n = take_size(&c);
			if (off + n > VGA_MMIO_SIZE)
				off = VGA_MMIO_SIZE - n;
			if (op == OP_BAR2_WRITE) {
				for (unsigned i = 0; i < n; i++)
					buf[i] = (uint8_t)take(&c, 1);
				bus_write(&vm.mmio, FUZZ_BAR2 + off, buf, n);
			} else {
				bus_read(&vm.mmio, FUZZ_BAR2 + off, buf, n);
			}
			break;
		case OP_BAR0_WRITE:
			off = take(&c, 3);
			n = take_size(&c);
			if (off + n > VGA_VRAM_SIZE)
				off = VGA_VRAM_SIZE - n;
			for (unsigned i = 0; i < n; i++)
				buf[i] = (uint8_t)take(&c, 1);
			bus_write(&vm.mmio, FUZZ_BAR0 + off, buf, n);
			break;
		case OP_RENDER:
			/* a few per input: a render can cost milliseconds */
			if (renders++ < 4)
				render();
			break;
		}
	}
	render();
	return 0;
}

#else /* FUZZ_SEEDS */

#include <stdio.h>

static uint8_t seed[16384];
static size_t seed_len;

static void put(unsigned n, unsigned v)
{
	for (unsigned i = 0; i < n && seed_len < sizeof(seed); i++)
		seed[seed_len++] = (uint8_t)(v >> (8 * i));
}

static void port(unsigned p, unsigned v)
{
	put(1, OP_PORT_WRITE);
	put(1, p - 0x3b0);
	put(1, v);
}

static void indexed(unsigned p, unsigned i, unsigned v)
{
	port(p, i);
	port(p + 1, v);
}

static void attr(unsigned i, unsigned v)
{
	put(1, OP_PORT_READ);
	put(1, 0x3da - 0x3b0);
	port(0x3c0, i);
	port(0x3c0, v);
}

static void unblank(void)
{
	put(1, OP_PORT_READ);
	put(1, 0x3da - 0x3b0);
	port(0x3c0, 0x20);
}

static void dispi(unsigned i, unsigned v)
{
	put(1, OP_DISPI_WRITE);
	put(1, i);
	put(2, v);
}

static void window(unsigned off, unsigned v)
{
	put(1, OP_WINDOW_WRITE);
	put(3, off);
	put(1, 0);      /* 1 byte */
	put(1, v);
}

static void bar0(unsigned off, uint32_t v)
{
	put(1, OP_BAR0_WRITE);
	put(3, off);
	put(1, 2);      /* 4 bytes */
	put(4, v);
}

static void palette(void)
{
	for (unsigned i = 0; i < 16; i++)
		attr(i, i);
	port(0x3c8, 0);
	for (unsigned i = 0; i < 48; i++)
		port(0x3c9, i * 5 % 64);
}

static void crtc(const uint8_t regs[25])
{
	indexed(0x3d4, 0x11, 0);
	for (unsigned i = 0; i < 25; i++)
		indexed(0x3d4, i, regs[i]);
}

static int save(const char *dir, const char *name)
{
	char path[4096];
	FILE *f;

	put(1, OP_RENDER);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(seed, seed_len, 1, f) != 1 || fclose(f)) {
		fprintf(stderr, "fuzz_vga seeds: cannot write %s\n", path);
		return 1;
	}
	seed_len = 0;
	return 0;
}

int main(int argc, char **argv)
{
	/* SeaVGABIOS's CRTC tables for modes 3, 12h and 13h */
	static const uint8_t crtc3[25] = {
		0x5f, 0x4f, 0x50, 0x82, 0x55, 0x81, 0xbf, 0x1f, 0x00, 0x4f, 0x0d, 0x0e,
		0x00, 0x00, 0x00, 0x00, 0x9c, 0x8e, 0x8f, 0x28, 0x1f, 0x96, 0xb9, 0xa3, 0xff,
	};
	static const uint8_t crtc12[25] = {
		0x5f, 0x4f, 0x50, 0x82, 0x54, 0x80, 0x0b, 0x3e, 0x00, 0x40, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0xea, 0x8c, 0xdf, 0x28, 0x00, 0xe7, 0x04, 0xe3, 0xff,
	};
	static const uint8_t crtc13[25] = {
		0x5f, 0x4f, 0x50, 0x82, 0x54, 0x80, 0xbf, 0x1f, 0x00, 0x41, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x9c, 0x8e, 0x8f, 0x28, 0x40, 0x96, 0xb9, 0xa3, 0xff,
	};
	int err = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
		return 2;
	}

	/* Mode 3 with a glyph in plane 2 and text through odd/even. */
	port(0x3c2, 0x67);
	indexed(0x3c4, 4, 0x06);
	indexed(0x3c4, 2, 0x04);
	indexed(0x3ce, 6, 0x04);
	indexed(0x3ce, 8, 0xff);
	for (unsigned i = 0; i < 16; i++)
		window('A' * 32 + i, 0x3c ^ i);
	indexed(0x3c4, 2, 0x03);
	indexed(0x3c4, 4, 0x02);
	indexed(0x3ce, 5, 0x10);
	indexed(0x3ce, 6, 0x0e);
	crtc(crtc3);
	palette();
	attr(0x10, 0x0c);
	unblank();
	for (unsigned i = 0; i < 40; i++)
		window(0x18000 + i, i & 1 ? 0x9e : 'A');
	err |= save(argv[1], "text");

	/* Mode 12h, write mode 2 and a colour-compare read. */
	port(0x3c2, 0xe3);
	indexed(0x3c4, 1, 0x01);
	indexed(0x3c4, 2, 0x0f);
	indexed(0x3c4, 4, 0x06);
	indexed(0x3ce, 5, 0x02);
	indexed(0x3ce, 6, 0x05);
	indexed(0x3ce, 8, 0x81);
	crtc(crtc12);
	palette();
	attr(0x10, 0x01);
	attr(0x12, 0x0f);
	unblank();
	for (unsigned i = 0; i < 64; i++)
		window(i * 81, i);
	indexed(0x3ce, 5, 0x08);
	put(1, OP_WINDOW_READ);
	put(3, 81);
	put(1, 2);
	err |= save(argv[1], "mode12");

	/* Mode 13h. */
	port(0x3c2, 0x63);
	indexed(0x3c4, 4, 0x0e);
	indexed(0x3ce, 5, 0x40);
	indexed(0x3ce, 6, 0x05);
	crtc(crtc13);
	attr(0x10, 0x41);
	unblank();
	for (unsigned i = 0; i < 64; i++)
		window(i * 331, i * 4);
	err |= save(argv[1], "mode13");

	/* VBE 640x480x32 through BAR0 and the banked window, bochs-drm style
	 * blanking through BAR2. */
	port(0x3c2, 0x01);
	dispi(4, 0);
	dispi(3, 32);
	dispi(1, 640);
	dispi(2, 480);
	dispi(6, 640);
	dispi(4, 0x41);
	for (unsigned i = 0; i < 32; i++)
		bar0(i * 9973 * 4, 0x00ff8040u + i);
	indexed(0x3ce, 6, 0x05);
	indexed(0x3c4, 4, 0x0e);
	dispi(5, 3);
	window(0x1234, 0x7f);
	put(1, OP_BAR2_WRITE);
	put(2, 0x400);
	put(1, 0);
	put(1, 0x20);
	err |= save(argv[1], "vbe32");

	/* The largest mode, panned, 24 bpp, big-endian byte order. */
	dispi(4, 0);
	dispi(3, 24);
	dispi(1, 2560);
	dispi(2, 1600);
	dispi(6, 2600);
	dispi(8, 13);
	dispi(9, 40);
	dispi(4, 0xc1);
	put(1, OP_BAR2_WRITE);
	put(2, 0x604);
	put(1, 2);
	put(4, 0xbebebebe);
	unblank();
	bar0(0xfffff0, 0x12345678);
	err |= save(argv[1], "vbe_max");
	return err;
}

#endif
