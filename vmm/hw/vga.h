/* The std-VGA (PCI 1234:1111, class 0x030000) as QEMU's
 * docs/specs/standard-vga.rst describes it: a VGA (sequencer, graphics
 * controller, attribute controller, CRTC, DAC at 0x3b0-0x3df, the legacy
 * window at 0xa0000-0xbffff) with the Bochs VBE "DISPI" interface at
 * 0x1ce/0x1cf, 16 MiB of VRAM in BAR0 and a 4 KiB MMIO BAR2 (VGA ports at
 * 0x400, DISPI registers at 0x500, QEMU extended registers at 0x600).
 * SeaVGABIOS (vgabios-stdvga.bin) and Windows drive it through the ports;
 * Linux's bochs-drm through BAR2.
 *
 * The VMM renders every mode into one XRGB8888 surface (a memfd the display
 * maps), so the display only ever sees pixels. docs/vga.md has the details.
 * Not a DEVICE_REGISTER device: both boot paths create it. */
#ifndef DUET_HW_VGA_H
#define DUET_HW_VGA_H

#include <stdint.h>

struct vm;
struct vga;
struct pci_device;

#define VGA_VENDOR_ID 0x1234
#define VGA_DEVICE_ID 0x1111
#define VGA_VRAM_SIZE (16u << 20)  /* BAR0 */
#define VGA_MMIO_SIZE 0x1000u      /* BAR2 */
#define VGA_VRAM_BAR 0
#define VGA_MMIO_BAR 2

/* The largest picture: VBE modes up to this (2560x1600x32 fills 16 MiB);
 * every VGA mode fits too. The surface memfd is always this big. */
#define VGA_MAX_WIDTH 2560
#define VGA_MAX_HEIGHT 1600
#define VGA_SURFACE_BYTES ((uint64_t)VGA_MAX_WIDTH * VGA_MAX_HEIGHT * 4)

/* A rectangle of the surface, in pixels. */
struct vga_rect {
	unsigned x, y, width, height;
};

/* What changed on the surface. Touching or overlapping rectangles are
 * merged; past VGA_DAMAGE_MAX_RECTS the last one grows to hold the rest. */
#define VGA_DAMAGE_MAX_RECTS 16
struct vga_damage {
	int resized;         /* the surface's size changed: rects[0] is all of it */
	unsigned nrects;
	struct vga_rect rects[VGA_DAMAGE_MAX_RECTS];
};

/* The surface: XRGB8888 pixels in host byte order (the top byte is 0),
 * `stride` bytes per row, `width` x `height` of them in use. */
struct vga_surface {
	int fd;             /* memfd, VGA_SURFACE_BYTES long, for the display */
	uint32_t *pixels;   /* the same memory, mapped here */
	unsigned width, height;
	unsigned stride;
};

/* vga_create: the std-VGA of `vm`: on its PCI bus at `devfn` (the first
 * free slot when devfn < 0), its ports on vm->pio and the legacy window on
 * vm->mmio. Wherever the guest puts BAR0, VRAM is mapped there as a KVM
 * memory slot with dirty logging, so framebuffer writes cost no exits.
 * vm_destroy frees it and guest resets put its registers back (VRAM is
 * kept). With no PCI bus (vm->pci NULL: a test's VM) the device has only
 * its legacy ports and window; vga_pci_device gives the BARs' handlers.
 * NULL, with a line logged, when memory, the memfds or the ports fail. */
struct vga *vga_create(struct vm *vm, int devfn);

/* vga_pci_device: the PCI function (for pci_bar_place, and for tests that
 * reach BAR0/BAR2 through bars[i].ops). */
struct pci_device *vga_pci_device(struct vga *vga);

/* vga_reset: the registers' power-on state. */
void vga_reset(struct vga *vga);

/* vga_update: render into the surface what changed since the last call
 * (guest writes to VRAM through any path, register changes, text blink)
 * and say where in *out. An idle guest costs one KVM_GET_DIRTY_LOG and no
 * drawing. Returns out->nrects (0: nothing changed) or -errno. */
int vga_update(struct vga *vga, struct vga_damage *out);

/* vga_surface: where the picture is and its current size. The size holds
 * until the next vga_update that reports `resized`. */
void vga_surface(struct vga *vga, struct vga_surface *out);

/* vga_vram_fd: the VRAM memfd (VGA_VRAM_SIZE bytes). */
int vga_vram_fd(struct vga *vga);

/* vga_screendump: bring the surface up to date (the damage is kept for
 * the next vga_update) and write it to `png_path` as a PNG. 0 or -errno. */
int vga_screendump(struct vga *vga, const char *png_path);
/* vga_screendump_fd: the same into `fd`, which it takes over. */
int vga_screendump_fd(struct vga *vga, int fd);

#endif
