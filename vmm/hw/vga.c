/* The std-VGA: PCI function, VGA registers, the legacy memory window with
 * the graphics controller's read and write modes, the Bochs DISPI
 * interface, and the bookkeeping of what changed for vga_render.c.
 *
 * Facts from QEMU's docs/specs/standard-vga.rst (BARs, ports, the MMIO
 * BAR's layout), FreeVGA and IBM's VGA Technical Reference (registers,
 * read/write modes, latches), Bochs' vbe.h (DISPI), and the two guests
 * that drive it: SeaVGABIOS's bochsvga.c and Linux's bochs-drm. */
#include "hw/vga.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "bus.h"
#include "hw/vga_render.h"
#include "log.h"
#include "pci.h"
#include "png_write.h"
#include "vm.h"

/* ---- where the device decodes ---- */

#define VGA_PORT_BASE 0x3b0            /* 0x3b0-0x3df */
#define VGA_PORT_COUNT 0x30
#define VGA_WINDOW_BASE 0xa0000        /* 0xa0000-0xbffff, MMIO: every access exits */
#define VGA_WINDOW_SIZE 0x20000
#define VBE_DISPI_IOPORT_INDEX 0x1ce   /* index; data at 0x1cf (x86) and 0x1d0 */
#define VBE_DISPI_IOPORT_COUNT 4       /* so a 16-bit access at 0x1d0 fits */

/* VGA ports (FreeVGA "VGA I/O ports"). The CRTC and input status 1 sit at
 * 0x3bx or 0x3dx as Miscellaneous Output bit 0 selects. */
#define VGA_CRT_IM 0x3b4
#define VGA_CRT_DM 0x3b5
#define VGA_IS1_RM 0x3ba       /* read: input status 1; write: feature control */
#define VGA_ATT_W 0x3c0        /* attribute index/data, by the flip-flop */
#define VGA_ATT_R 0x3c1
#define VGA_MIS_W 0x3c2        /* write: misc output; read: input status 0 */
#define VGA_SEQ_I 0x3c4
#define VGA_SEQ_D 0x3c5
#define VGA_PEL_MSK 0x3c6
#define VGA_PEL_IR 0x3c7       /* write: DAC read index; read: DAC state */
#define VGA_PEL_IW 0x3c8
#define VGA_PEL_D 0x3c9
#define VGA_FTC_R 0x3ca
#define VGA_MIS_R 0x3cc
#define VGA_GFX_I 0x3ce
#define VGA_GFX_D 0x3cf
#define VGA_CRT_IC 0x3d4
#define VGA_CRT_DC 0x3d5
#define VGA_IS1_RC 0x3da

#define VGA_MISC_COLOR 0x01         /* I/O Address Select: CRTC at 0x3dx */
#define VGA_IS1_DISPLAY_DISABLED 0x01
#define VGA_IS1_V_RETRACE 0x08
#define VGA_DAC_STATE_READ 0x03

/* BAR2 (standard-vga.rst, "MMIO area spec"). */
#define VGA_MMIO_PORTS 0x400        /* 0x3c0-0x3df, 1:1 */
#define VGA_MMIO_PORTS_SIZE 0x20
#define VGA_MMIO_DISPI 0x500        /* DISPI register i at 0x500 + 2i */
#define VGA_MMIO_QEXT 0x600         /* QEMU extended registers (revision 2) */
#define VGA_QEXT_SIZE 8             /* 0x600: the region's size */
#define VGA_QEXT_BYTEORDER 4        /* 0x604 */
#define VGA_QEXT_LITTLE_ENDIAN 0x1e1e1e1eu
#define VGA_QEXT_BIG_ENDIAN 0xbebebebeu

#define PCI_CLASS_DISPLAY_VGA 0x030000
#define VGA_PCI_REVISION 2          /* says the QEMU extended registers exist */
#define VGA_SUBSYSTEM_VENDOR 0x1af4 /* what QEMU's std-VGA reports */
#define VGA_SUBSYSTEM_ID 0x1100

#define VBE_BANK_SIZE 0x10000       /* 64 KiB banks in the A0000 window */

/* Bits each register implements (FreeVGA's register descriptions;
 * the rest read back as 0). */
static const uint8_t vga_sr_mask[VGA_SR_COUNT] = { 0x03, 0x3d, 0x0f, 0x3f, 0x0e };
static const uint8_t vga_gr_mask[VGA_GR_COUNT] = { 0x0f, 0x0f, 0x0f, 0x1f, 0x03,
						    0x7b, 0x0f, 0x0f, 0xff };
static const uint8_t vga_ar_mask[VGA_AR_COUNT] = {
	0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f,
	0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f, 0x3f,
	0xef, 0xff, 0x3f, 0x0f, 0x0f,
};

struct vga {
	struct vm *vm;
	pthread_mutex_t lock;       /* everything below */
	struct pci_device pci;

	struct vga_regs regs;
	uint8_t sr_index, gr_index, cr_index;
	int ar_flip_flop;           /* 0: the next 0x3c0 write is an index */
	uint8_t dac_read_index, dac_write_index, dac_sub, dac_state;
	uint8_t dac_latch[3];
	uint8_t feature;
	uint32_t latch;             /* the graphics controller's 4 plane latches */
	unsigned status_reads;
	uint16_t dispi_index;

	uint8_t *vram;
	int vram_fd;
	int vram_slot;              /* vm_map slot of BAR0, or -1 */
	int dirty_log_warned;
	uint64_t dirty[VGA_DIRTY_WORDS];      /* pages written since the last render */
	uint64_t kvm_dirty[VGA_DIRTY_WORDS];
	int font_changed, regs_changed;

	struct vga_renderer *renderer;
	uint32_t *surface;
	int surface_fd;
	struct vga_damage pending;  /* rendered, not yet handed out */
	struct timespec epoch;

	int ports_claimed, dispi_claimed, window_claimed;
};

/* ---- dirty tracking ---- */

static void vga_mark_dirty(struct vga *v, uint64_t offset, uint64_t len)
{
	for (uint64_t p = offset >> VGA_PAGE_SHIFT; p <= (offset + len - 1) >> VGA_PAGE_SHIFT; p++)
		v->dirty[p / 64] |= 1ULL << (p % 64);
}

static void vga_mark_all_dirty(struct vga *v)
{
	memset(v->dirty, 0xff, sizeof(v->dirty));
	v->font_changed = 1;
}

/* ---- the legacy window: graphics controller and sequencer ---- */

/* vga_expand: bit p of `bits` set -> byte p all ones (one byte per plane). */
static uint32_t vga_expand(unsigned bits)
{
	uint32_t v = 0;

	for (unsigned p = 0; p < 4; p++)
		if (bits & (1u << p))
			v |= 0xffu << (8 * p);
	return v;
}

/* vga_window_decode: the address a window offset reaches, by the Memory
 * Map Select field (GR06 bits 3-2); map 1 adds the DISPI bank. 0 when the
 * selected map does not cover the offset. */
static int vga_window_decode(const struct vga *v, uint64_t offset, uint64_t *addr)
{
	static const uint32_t base[4] = { 0, 0, 0x10000, 0x18000 };
	static const uint32_t size[4] = { 0x20000, 0x10000, 0x8000, 0x8000 };
	unsigned map = (v->regs.gr[VGA_GR_MISC] >> 2) & 3;

	if (offset < base[map] || offset >= base[map] + size[map])
		return 0;
	*addr = offset - base[map];
	if (map == 1)
		*addr += (uint64_t)v->regs.dispi[VBE_DISPI_INDEX_BANK] * VBE_BANK_SIZE;
	return 1;
}

static uint32_t vga_load_latch(const struct vga *v, uint64_t pa)
{
	const uint8_t *p = v->vram + pa * 4;

	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* vga_write_data: the four plane bytes a CPU write of `val` produces
 * (FreeVGA "Graphics Controller": write modes 0-3, Data Rotate, Logical
 * Operation, Enable Set/Reset, Bit Mask). */
static uint32_t vga_write_data(const struct vga *v, uint8_t val)
{
	const uint8_t *gr = v->regs.gr;
	unsigned rotate = gr[VGA_GR_DATA_ROTATE] & 7;
	uint8_t rotated = (uint8_t)(val >> rotate | val << ((8 - rotate) & 7));
	uint32_t set_reset = vga_expand(gr[VGA_GR_SET_RESET]);
	uint32_t bit_mask = gr[VGA_GR_BIT_MASK], data, esr;

	switch (gr[VGA_GR_MODE] & 3) {
	case 0:
		esr = vga_expand(gr[VGA_GR_ENABLE_SET_RESET]);
		data = (rotated * 0x01010101u & ~esr) | (set_reset & esr);
		break;
	case 1:
		return v->latch;
	case 2:
		data = vga_expand(val & 0x0f);
		break;
	default:
		bit_mask &= rotated;
		data = set_reset;
		break;
	}
	switch ((gr[VGA_GR_DATA_ROTATE] >> 3) & 3) {
	case 1:
		data &= v->latch;
		break;
	case 2:
		data |= v->latch;
		break;
	case 3:
		data ^= v->latch;
		break;
	}
	bit_mask *= 0x01010101u;
	return (data & bit_mask) | (v->latch & ~bit_mask);
}

/* vga_mem_write: a CPU write to the window. The guest picks the bank (up
 * to 255 x 64 KiB) and the addressing mode: the byte must fall inside
 * VRAM (chain-4) or the plane address inside a plane, else it is dropped. */
static void vga_mem_write(struct vga *v, uint64_t offset, uint8_t val)
{
	uint8_t map_mask = v->regs.sr[VGA_SR_MAP_MASK] & 0x0f;
	uint8_t mode = v->regs.sr[VGA_SR_MEMORY_MODE];
	uint64_t a, pa;
	unsigned planes;
	uint32_t data;

	if (!vga_window_decode(v, offset, &a))
		return;
	if (mode & VGA_SR04_CHAIN4) {
		/* Address bits 1-0 pick the plane: VRAM is linear here. */
		if (a >= VGA_VRAM_SIZE || !(map_mask & (1u << (a & 3))))
			return;
		v->vram[a] = val;
		vga_mark_dirty(v, a, 1);
		if ((a & 3) == 2)
			v->font_changed = 1;
		return;
	}
	if (!(mode & VGA_SR04_SEQUENTIAL)) {
		/* Odd/even: even addresses reach planes 0 and 2, odd 1 and 3. */
		planes = map_mask & ((a & 1) ? 0x0a : 0x05);
		pa = a >> 1;
	} else {
		planes = map_mask;
		pa = a;
	}
	if (pa >= VGA_PLANE_SIZE || !planes)
		return;
	data = vga_write_data(v, val);
	for (unsigned p = 0; p < 4; p++)
		if (planes & (1u << p))
			v->vram[pa * 4 + p] = (uint8_t)(data >> (8 * p));
	vga_mark_dirty(v, pa * 4, 4);
	if (planes & 4)
		v->font_changed = 1;
}

/* vga_mem_read: a CPU read of the window, with the same bounds as
 * vga_mem_write; outside them it reads 0xff and leaves the latches. */
static uint8_t vga_mem_read(struct vga *v, uint64_t offset)
{
	const uint8_t *gr = v->regs.gr;
	uint64_t a, pa;
	unsigned plane;
	uint32_t diff;

	if (!vga_window_decode(v, offset, &a))
		return 0xff;
	if (v->regs.sr[VGA_SR_MEMORY_MODE] & VGA_SR04_CHAIN4) {
		if (a >= VGA_VRAM_SIZE)
			return 0xff;
		v->latch = vga_load_latch(v, a >> 2);
		return v->vram[a];
	}
	if (gr[VGA_GR_MODE] & VGA_GR05_HOST_OE) {
		pa = a >> 1;
		plane = (gr[VGA_GR_READ_MAP] & 2) | (a & 1);
	} else {
		pa = a;
		plane = gr[VGA_GR_READ_MAP] & 3;
	}
	if (pa >= VGA_PLANE_SIZE)
		return 0xff;
	v->latch = vga_load_latch(v, pa);
	if (!(gr[VGA_GR_MODE] & VGA_GR05_READ_MODE))
		return (uint8_t)(v->latch >> (8 * plane));
	/* Read mode 1: a 1 where every plane not "don't care" matches the
	 * Color Compare register. */
	diff = (v->latch ^ vga_expand(gr[VGA_GR_COLOR_COMPARE])) &
	       vga_expand(gr[VGA_GR_COLOR_DONT_CARE]);
	return (uint8_t)~(diff | diff >> 8 | diff >> 16 | diff >> 24);
}

/* ---- Bochs DISPI ---- */

/* vga_dispi_clear: what enabling a mode without NOCLEARMEM clears: the
 * frame the DISPI registers describe, as far as VRAM goes. */
static void vga_dispi_clear(struct vga *v)
{
	const uint16_t *d = v->regs.dispi;
	uint64_t virt = d[VBE_DISPI_INDEX_VIRT_WIDTH] > d[VBE_DISPI_INDEX_XRES]
				? d[VBE_DISPI_INDEX_VIRT_WIDTH] : d[VBE_DISPI_INDEX_XRES];
	unsigned bpp = d[VBE_DISPI_INDEX_BPP];
	uint64_t line = bpp == 4 ? (virt + 7) / 8 * 4 : virt * ((bpp + 7) / 8);
	uint64_t len = line * d[VBE_DISPI_INDEX_YRES];

	if (len > VGA_VRAM_SIZE)
		len = VGA_VRAM_SIZE;
	if (len) {
		memset(v->vram, 0, len);
		vga_mark_dirty(v, 0, len);
	}
}

static uint16_t vga_dispi_read(const struct vga *v, unsigned index)
{
	const uint16_t *d = v->regs.dispi;

	if (index >= VBE_DISPI_INDEX_NB)
		return 0;
	/* GETCAPS turns XRES, YRES and BPP into the maximums (SeaVGABIOS
	 * reads them to drop modes the card cannot show). */
	if (d[VBE_DISPI_INDEX_ENABLE] & VBE_DISPI_GETCAPS) {
		if (index == VBE_DISPI_INDEX_XRES)
			return VGA_MAX_WIDTH;
		if (index == VBE_DISPI_INDEX_YRES)
			return VGA_MAX_HEIGHT;
		if (index == VBE_DISPI_INDEX_BPP)
			return VBE_DISPI_MAX_BPP;
	}
	if (index == VBE_DISPI_INDEX_VIDEO_MEMORY_64K)
		return VGA_VRAM_SIZE / 0x10000;
	return d[index];
}

static void vga_dispi_write(struct vga *v, unsigned index, uint16_t val)
{
	uint16_t *d = v->regs.dispi;

	switch (index) {
	case VBE_DISPI_INDEX_ID:
		if (val >= VBE_DISPI_ID0 && val <= VBE_DISPI_ID5)
			d[index] = val;
		break;
	case VBE_DISPI_INDEX_XRES:
		if (val <= VGA_MAX_WIDTH)
			d[index] = val;
		break;
	case VBE_DISPI_INDEX_YRES:
		if (val <= VGA_MAX_HEIGHT)
			d[index] = val;
		break;
	case VBE_DISPI_INDEX_BPP:
		if (val == 0)
			val = 8;
		if (val == 4 || val == 8 || val == 15 || val == 16 || val == 24 || val == 32)
			d[index] = val;
		break;
	case VBE_DISPI_INDEX_BANK:
		d[index] = val & (VGA_VRAM_SIZE / VBE_BANK_SIZE - 1);
		break;
	case VBE_DISPI_INDEX_ENABLE:
		if ((val & VBE_DISPI_ENABLED) && !(d[index] & VBE_DISPI_ENABLED) &&
		    !(val & VBE_DISPI_NOCLEARMEM))
			vga_dispi_clear(v);
		d[index] = val & (VBE_DISPI_ENABLED | VBE_DISPI_GETCAPS | VBE_DISPI_8BIT_DAC |
				  VBE_DISPI_LFB_ENABLED | VBE_DISPI_NOCLEARMEM);
		break;
	case VBE_DISPI_INDEX_VIRT_WIDTH:
	case VBE_DISPI_INDEX_VIRT_HEIGHT:
	case VBE_DISPI_INDEX_X_OFFSET:
	case VBE_DISPI_INDEX_Y_OFFSET:
		d[index] = val;
		break;
	default:
		return;
	}
	v->regs_changed = 1;
}

/* ---- VGA ports ---- */

/* vga_port_live: the CRTC and input status 1 answer only at the address
 * Miscellaneous Output bit 0 selects (0x3dx colour, 0x3bx mono). */
static int vga_port_live(const struct vga *v, unsigned port)
{
	if ((port & 0xfff0) == 0x3b0)
		return !(v->regs.misc & VGA_MISC_COLOR);
	if ((port & 0xfff0) == 0x3d0)
		return (v->regs.misc & VGA_MISC_COLOR) != 0;
	return 1;
}

static void vga_crtc_write(struct vga *v, uint8_t val)
{
	uint8_t *cr = v->regs.cr;

	/* CR11 bit 7 write-protects CR00-CR07, all but CR07's line compare
	 * bit 8 (bit 4). */
	if (v->cr_index <= VGA_CR_OVERFLOW && (cr[VGA_CR_V_RETRACE_END] & VGA_CR11_PROTECT)) {
		if (v->cr_index == VGA_CR_OVERFLOW)
			cr[VGA_CR_OVERFLOW] = (uint8_t)((cr[VGA_CR_OVERFLOW] & ~0x10) | (val & 0x10));
		return;
	}
	cr[v->cr_index] = val;
}

static uint8_t vga_port_read(struct vga *v, unsigned port)
{
	struct vga_regs *r = &v->regs;
	uint8_t val = 0xff;

	if (!vga_port_live(v, port))
		return 0xff;
	switch (port) {
	case VGA_CRT_IM:
	case VGA_CRT_IC:
		val = v->cr_index;
		break;
	case VGA_CRT_DM:
	case VGA_CRT_DC:
		val = r->cr[v->cr_index];
		break;
	case VGA_IS1_RM:
	case VGA_IS1_RC:
		/* Reading it resets the attribute flip-flop. Retrace and
		 * display-disabled toggle on every read, so a guest polling
		 * for vertical retrace (start, then end) always gets on. */
		v->ar_flip_flop = 0;
		val = (v->status_reads++ & 1) ? VGA_IS1_V_RETRACE | VGA_IS1_DISPLAY_DISABLED : 0;
		break;
	case VGA_ATT_W:
		val = r->ar_index;
		break;
	case VGA_ATT_R:
		val = (r->ar_index & 0x1f) < VGA_AR_COUNT ? r->ar[r->ar_index & 0x1f] : 0;
		break;
	case VGA_MIS_W:
		val = 0; /* input status 0 */
		break;
	case VGA_SEQ_I:
		val = v->sr_index;
		break;
	case VGA_SEQ_D:
		val = r->sr[v->sr_index];
		break;
	case VGA_PEL_MSK:
		val = r->pel_mask;
		break;
	case VGA_PEL_IR:
		val = v->dac_state;
		break;
	case VGA_PEL_IW:
		val = v->dac_write_index;
		break;
	case VGA_PEL_D:
		val = r->dac[v->dac_read_index][v->dac_sub];
		if (++v->dac_sub == 3) {
			v->dac_sub = 0;
			v->dac_read_index++;
		}
		break;
	case VGA_FTC_R:
		val = v->feature;
		break;
	case VGA_MIS_R:
		val = r->misc;
		break;
	case VGA_GFX_I:
		val = v->gr_index;
		break;
	case VGA_GFX_D:
		val = r->gr[v->gr_index];
		break;
	default:
		break;
	}
	return val;
}

static void vga_port_write(struct vga *v, unsigned port, uint8_t val)
{
	struct vga_regs *r = &v->regs;
	unsigned i;

	if (!vga_port_live(v, port))
		return;
	switch (port) {
	case VGA_CRT_IM:
	case VGA_CRT_IC:
		v->cr_index = val;
		return;
	case VGA_CRT_DM:
	case VGA_CRT_DC:
		vga_crtc_write(v, val);
		break;
	case VGA_IS1_RM:
	case VGA_IS1_RC:
		v->feature = val;
		return;
	case VGA_ATT_W:
		if (!v->ar_flip_flop) {
			r->ar_index = val & 0x3f;
		} else {
			i = r->ar_index & 0x1f;
			if (i < VGA_AR_COUNT)
				r->ar[i] = val & vga_ar_mask[i];
		}
		v->ar_flip_flop ^= 1;
		break;
	case VGA_MIS_W:
		r->misc = val;
		break;
	case VGA_SEQ_I:
		v->sr_index = val & (VGA_SR_COUNT - 1);
		return;
	case VGA_SEQ_D:
		r->sr[v->sr_index] = val & vga_sr_mask[v->sr_index];
		break;
	case VGA_PEL_MSK:
		r->pel_mask = val;
		break;
	case VGA_PEL_IR:
		v->dac_read_index = val;
		v->dac_sub = 0;
		v->dac_state = VGA_DAC_STATE_READ;
		return;
	case VGA_PEL_IW:
		v->dac_write_index = val;
		v->dac_sub = 0;
		v->dac_state = 0;
		return;
	case VGA_PEL_D:
		/* The DAC takes a colour when its third component arrives. */
		v->dac_latch[v->dac_sub++] =
			(r->dispi[VBE_DISPI_INDEX_ENABLE] & VBE_DISPI_8BIT_DAC) ? val : val & 0x3f;
		if (v->dac_sub == 3) {
			memcpy(r->dac[v->dac_write_index], v->dac_latch, 3);
			v->dac_sub = 0;
			v->dac_write_index++;
		}
		break;
	case VGA_GFX_I:
		v->gr_index = val & (VGA_GR_COUNT - 1);
		return;
	case VGA_GFX_D:
		r->gr[v->gr_index] = val & vga_gr_mask[v->gr_index];
		break;
	default:
		return;
	}
	v->regs_changed = 1;
}

/* ---- bus handlers ---- */

static void vga_ports_read(void *opaque, uint64_t offset, void *data, unsigned size)
{
	struct vga *v = opaque;
	uint8_t *out = data;

	pthread_mutex_lock(&v->lock);
	/* A word access is its bytes in turn, low port first. */
	for (unsigned i = 0; i < size; i++)
		out[i] = vga_port_read(v, VGA_PORT_BASE + (unsigned)offset + i);
	pthread_mutex_unlock(&v->lock);
}

static void vga_ports_write(void *opaque, uint64_t offset, const void *data, unsigned size)
{
	struct vga *v = opaque;
	const uint8_t *in = data;

	pthread_mutex_lock(&v->lock);
	for (unsigned i = 0; i < size; i++)
		vga_port_write(v, VGA_PORT_BASE + (unsigned)offset + i, in[i]);
	pthread_mutex_unlock(&v->lock);
}

static const struct bus_ops vga_ports_ops = {
	.read = vga_ports_read,
	.write = vga_ports_write,
};

static void vga_dispi_port_read(void *opaque, uint64_t offset, void *data, unsigned size)
{
	struct vga *v = opaque;
	uint16_t val = 0xffff;

	pthread_mutex_lock(&v->lock);
	if (offset == 0)
		val = v->dispi_index;
	else if (offset <= 2)
		val = vga_dispi_read(v, v->dispi_index);
	pthread_mutex_unlock(&v->lock);
	memset(data, 0, size);
	memcpy(data, &val, size < 2 ? size : 2);
}

static void vga_dispi_port_write(void *opaque, uint64_t offset, const void *data,
				 unsigned size)
{
	struct vga *v = opaque;
	uint16_t val = 0;

	memcpy(&val, data, size < 2 ? size : 2);
	pthread_mutex_lock(&v->lock);
	if (offset == 0)
		v->dispi_index = val;
	else if (offset <= 2)
		vga_dispi_write(v, v->dispi_index, val);
	pthread_mutex_unlock(&v->lock);
}

static const struct bus_ops vga_dispi_ops = {
	.read = vga_dispi_port_read,
	.write = vga_dispi_port_write,
};

static void vga_window_read(void *opaque, uint64_t offset, void *data, unsigned size)
{
	struct vga *v = opaque;
	uint8_t *out = data;

	pthread_mutex_lock(&v->lock);
	for (unsigned i = 0; i < size; i++)
		out[i] = vga_mem_read(v, offset + i);
	pthread_mutex_unlock(&v->lock);
}

static void vga_window_write(void *opaque, uint64_t offset, const void *data, unsigned size)
{
	struct vga *v = opaque;
	const uint8_t *in = data;

	pthread_mutex_lock(&v->lock);
	for (unsigned i = 0; i < size; i++)
		vga_mem_write(v, offset + i, in[i]);
	pthread_mutex_unlock(&v->lock);
}

static const struct bus_ops vga_window_ops = {
	.read = vga_window_read,
	.write = vga_window_write,
};

/* BAR0 on the MMIO bus: only reached when VRAM is not a memory slot. The
 * bus keeps every access inside the BAR. */
static void vga_vram_read(void *opaque, uint64_t offset, void *data, unsigned size)
{
	struct vga *v = opaque;

	memcpy(data, v->vram + offset, size);
}

static void vga_vram_write(void *opaque, uint64_t offset, const void *data, unsigned size)
{
	struct vga *v = opaque;

	pthread_mutex_lock(&v->lock);
	memcpy(v->vram + offset, data, size);
	vga_mark_dirty(v, offset, size);
	if (offset < VGA_WRAP * 4)
		v->font_changed = 1;
	pthread_mutex_unlock(&v->lock);
}

static const struct bus_ops vga_vram_ops = {
	.read = vga_vram_read,
	.write = vga_vram_write,
};

static void vga_mmio_read(void *opaque, uint64_t offset, void *data, unsigned size)
{
	struct vga *v = opaque;
	uint8_t *out = data;

	memset(data, 0, size);
	pthread_mutex_lock(&v->lock);
	for (unsigned i = 0; i < size; i++) {
		uint64_t off = offset + i;

		if (off >= VGA_MMIO_PORTS && off < VGA_MMIO_PORTS + VGA_MMIO_PORTS_SIZE) {
			out[i] = vga_port_read(v, 0x3c0 + (unsigned)(off - VGA_MMIO_PORTS));
		} else if (off >= VGA_MMIO_DISPI && off < VGA_MMIO_DISPI + 2 * VBE_DISPI_INDEX_NB) {
			unsigned reg = (unsigned)(off - VGA_MMIO_DISPI) / 2;

			out[i] = (uint8_t)(vga_dispi_read(v, reg) >> (8 * (off & 1)));
		} else if (off >= VGA_MMIO_QEXT && off < VGA_MMIO_QEXT + VGA_QEXT_SIZE) {
			uint32_t q[2] = { VGA_QEXT_SIZE, v->regs.fb_big_endian ? VGA_QEXT_BIG_ENDIAN
									  : VGA_QEXT_LITTLE_ENDIAN };

			out[i] = ((const uint8_t *)q)[off - VGA_MMIO_QEXT];
		}
		/* 0x000-0x3ff would hold an EDID blob: none, so bochs-drm
		 * falls back to its own mode list. */
	}
	pthread_mutex_unlock(&v->lock);
}

/* vga_mmio_dispi_write: bytes [off, off + size) of the flat DISPI
 * registers (off relative to 0x500); a register partly written keeps its
 * other byte. */
static void vga_mmio_dispi_write(struct vga *v, uint64_t off, const uint8_t *in,
				 unsigned size)
{
	for (uint64_t reg = off / 2; reg * 2 < off + size; reg++) {
		uint16_t val = v->regs.dispi[reg];

		for (unsigned b = 0; b < 2; b++) {
			uint64_t at = reg * 2 + b;

			if (at >= off && at < off + size)
				val = (uint16_t)((val & ~(0xffu << (8 * b))) | in[at - off] << (8 * b));
		}
		vga_dispi_write(v, (unsigned)reg, val);
	}
}

static void vga_mmio_write(void *opaque, uint64_t offset, const void *data, unsigned size)
{
	struct vga *v = opaque;
	const uint8_t *in = data;
	uint64_t lo, hi;

	pthread_mutex_lock(&v->lock);
	for (unsigned i = 0; i < size; i++)
		if (offset + i >= VGA_MMIO_PORTS && offset + i < VGA_MMIO_PORTS + VGA_MMIO_PORTS_SIZE)
			vga_port_write(v, 0x3c0 + (unsigned)(offset + i - VGA_MMIO_PORTS), in[i]);
	lo = offset > VGA_MMIO_DISPI ? offset : VGA_MMIO_DISPI;
	hi = offset + size < VGA_MMIO_DISPI + 2 * VBE_DISPI_INDEX_NB
		     ? offset + size : VGA_MMIO_DISPI + 2 * VBE_DISPI_INDEX_NB;
	if (lo < hi)
		vga_mmio_dispi_write(v, lo - VGA_MMIO_DISPI, in + (lo - offset), (unsigned)(hi - lo));
	if (offset == VGA_MMIO_QEXT + VGA_QEXT_BYTEORDER && size == 4) {
		uint32_t val;

		memcpy(&val, data, 4);
		if (val == VGA_QEXT_BIG_ENDIAN || val == VGA_QEXT_LITTLE_ENDIAN) {
			v->regs.fb_big_endian = val == VGA_QEXT_BIG_ENDIAN;
			v->regs_changed = 1;
		}
	}
	pthread_mutex_unlock(&v->lock);
}

static const struct bus_ops vga_mmio_ops = {
	.read = vga_mmio_read,
	.write = vga_mmio_write,
};

/* ---- PCI ---- */

/* vga_bar_moved: VRAM follows BAR0 as a dirty-logged memory slot. */
static void vga_bar_moved(struct pci_device *dev, unsigned bar, uint64_t addr, int mapped)
{
	struct vga *v = dev->opaque;
	int slot;

	if (bar != VGA_VRAM_BAR)
		return;
	pthread_mutex_lock(&v->lock);
	if (v->vram_slot >= 0) {
		vm_unmap(v->vm, v->vram_slot);
		v->vram_slot = -1;
	}
	if (mapped) {
		slot = vm_map(v->vm, addr, VGA_VRAM_SIZE, v->vram, VM_MAP_LOG_DIRTY);
		if (slot < 0)
			log_warn("vga: cannot map VRAM at %#llx (%s); framebuffer writes will be slow",
				 (unsigned long long)addr, strerror(-slot));
		else
			v->vram_slot = slot;
	}
	/* Writes logged in the old slot are gone with it. */
	vga_mark_all_dirty(v);
	pthread_mutex_unlock(&v->lock);
}

static const struct pci_device_ops vga_pci_ops = {
	.bar_moved = vga_bar_moved,
};

/* ---- rendering ---- */

static unsigned vga_frame(const struct vga *v)
{
	struct timespec now;
	uint64_t ns;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ns = (uint64_t)(now.tv_sec - v->epoch.tv_sec) * 1000000000ULL +
	     (uint64_t)now.tv_nsec - (uint64_t)v->epoch.tv_nsec;
	return (unsigned)(ns / VGA_FRAME_NS);
}

/* vga_refresh: render what changed into the surface, adding to pending. */
static void vga_refresh(struct vga *v)
{
	unsigned frame = vga_frame(v);
	uint64_t any = 0;
	int err;

	if (v->vram_slot >= 0) {
		err = vm_map_dirty(v->vm, v->vram_slot, v->kvm_dirty);
		if (err) {
			if (!v->dirty_log_warned)
				log_warn("vga: cannot read VRAM's dirty log (%s)", strerror(-err));
			v->dirty_log_warned = 1;
			vga_mark_all_dirty(v);
		} else {
			/* The first 256 KiB hold the fonts of plane 2. */
			if (v->kvm_dirty[0])
				v->font_changed = 1;
			for (unsigned i = 0; i < VGA_DIRTY_WORDS; i++)
				v->dirty[i] |= v->kvm_dirty[i];
		}
	}
	for (unsigned i = 0; i < VGA_DIRTY_WORDS; i++)
		any |= v->dirty[i];
	if (!any && !v->regs_changed && !v->font_changed &&
	    !vga_render_blink_due(v->renderer, frame))
		return;
	vga_render(v->renderer, &v->regs, v->vram, v->dirty, v->font_changed, frame, &v->pending);
	memset(v->dirty, 0, sizeof(v->dirty));
	v->font_changed = 0;
	v->regs_changed = 0;
}

int vga_update(struct vga *v, struct vga_damage *out)
{
	pthread_mutex_lock(&v->lock);
	vga_refresh(v);
	*out = v->pending;
	memset(&v->pending, 0, sizeof(v->pending));
	pthread_mutex_unlock(&v->lock);
	return (int)out->nrects;
}

void vga_surface(struct vga *v, struct vga_surface *out)
{
	pthread_mutex_lock(&v->lock);
	out->fd = v->surface_fd;
	out->pixels = v->surface;
	vga_render_size(v->renderer, &out->width, &out->height);
	out->stride = out->width * 4;
	pthread_mutex_unlock(&v->lock);
}

int vga_vram_fd(struct vga *v)
{
	return v->vram_fd;
}

/* vga_snapshot: an up-to-date copy of the picture, taken under the lock so
 * the encoding (tens of ms) happens outside it. */
static uint32_t *vga_snapshot(struct vga *v, unsigned *width, unsigned *height)
{
	uint32_t *copy;

	pthread_mutex_lock(&v->lock);
	vga_refresh(v);
	vga_render_size(v->renderer, width, height);
	copy = malloc((size_t)*width * *height * 4);
	if (copy)
		memcpy(copy, v->surface, (size_t)*width * *height * 4);
	pthread_mutex_unlock(&v->lock);
	return copy;
}

int vga_screendump(struct vga *v, const char *png_path)
{
	unsigned width, height;
	uint32_t *copy = vga_snapshot(v, &width, &height);
	int err;

	if (!copy)
		return -ENOMEM;
	err = png_write_xrgb8888(png_path, copy, width, height, (size_t)width * 4);
	free(copy);
	return err;
}

int vga_screendump_fd(struct vga *v, int fd)
{
	unsigned width, height;
	uint32_t *copy = vga_snapshot(v, &width, &height);
	int err;

	if (!copy) {
		close(fd);
		return -ENOMEM;
	}
	err = png_write_xrgb8888_fd(fd, copy, width, height, (size_t)width * 4);
	free(copy);
	return err;
}

/* ---- set-up ---- */

struct pci_device *vga_pci_device(struct vga *v)
{
	return &v->pci;
}

void vga_reset(struct vga *v)
{
	pthread_mutex_lock(&v->lock);
	memset(&v->regs, 0, sizeof(v->regs));
	v->regs.dispi[VBE_DISPI_INDEX_ID] = VBE_DISPI_ID5;
	v->regs.pel_mask = 0xff;
	v->sr_index = v->gr_index = v->cr_index = 0;
	v->ar_flip_flop = 0;
	v->dac_read_index = v->dac_write_index = v->dac_sub = v->dac_state = 0;
	v->feature = 0;
	v->latch = 0;
	v->dispi_index = 0;
	v->regs_changed = 1;
	pthread_mutex_unlock(&v->lock);
}

static void vga_reset_hook(void *opaque)
{
	vga_reset(opaque);
}

/* vga_memfd: a sealed memfd of `size` bytes mapped here, or NULL. */
static void *vga_memfd(const char *name, uint64_t size, int *fd)
{
	void *p;

	*fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (*fd < 0)
		return NULL;
	/* Sealed size: whoever maps it (duet-display) cannot be cut short. */
	if (ftruncate(*fd, (off_t)size) < 0 ||
	    fcntl(*fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		close(*fd);
		*fd = -1;
		return NULL;
	}
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
	if (p == MAP_FAILED) {
		close(*fd);
		*fd = -1;
		return NULL;
	}
	return p;
}

static void vga_free(void *opaque)
{
	struct vga *v = opaque;

	if (v->vram_slot >= 0)
		vm_unmap(v->vm, v->vram_slot);
	if (v->ports_claimed)
		bus_unregister(&v->vm->pio, VGA_PORT_BASE);
	if (v->dispi_claimed)
		bus_unregister(&v->vm->pio, VBE_DISPI_IOPORT_INDEX);
	if (v->window_claimed)
		bus_unregister(&v->vm->mmio, VGA_WINDOW_BASE);
	vga_renderer_free(v->renderer);
	if (v->surface)
		munmap(v->surface, VGA_SURFACE_BYTES);
	if (v->surface_fd >= 0)
		close(v->surface_fd);
	if (v->vram)
		munmap(v->vram, VGA_VRAM_SIZE);
	if (v->vram_fd >= 0)
		close(v->vram_fd);
	pthread_mutex_destroy(&v->lock);
	free(v);
}

struct vga *vga_create(struct vm *vm, int devfn)
{
	struct vga *v = calloc(1, sizeof(*v));
	const char *what = NULL;
	int err;

	if (!v) {
		log_error("vga: out of memory");
		return NULL;
	}
	v->vm = vm;
	v->vram_fd = v->surface_fd = -1;
	v->vram_slot = -1;
	pthread_mutex_init(&v->lock, NULL);
	clock_gettime(CLOCK_MONOTONIC, &v->epoch);

	v->vram = vga_memfd("duet-vga-vram", VGA_VRAM_SIZE, &v->vram_fd);
	v->surface = vga_memfd("duet-vga-surface", VGA_SURFACE_BYTES, &v->surface_fd);
	if (!v->vram || !v->surface) {
		log_error("vga: cannot create its memory: %s", strerror(errno));
		vga_free(v);
		return NULL;
	}
	v->renderer = vga_renderer_new(v->surface);
	if (!v->renderer) {
		log_error("vga: out of memory");
		vga_free(v);
		return NULL;
	}

	if (bus_register(&vm->pio, VGA_PORT_BASE, VGA_PORT_COUNT, &vga_ports_ops, v, "vga"))
		what = "ports 0x3b0-0x3df";
	else
		v->ports_claimed = 1;
	if (!what && bus_register(&vm->pio, VBE_DISPI_IOPORT_INDEX, VBE_DISPI_IOPORT_COUNT,
				  &vga_dispi_ops, v, "vga-dispi"))
		what = "ports 0x1ce-0x1d1";
	else if (!what)
		v->dispi_claimed = 1;
	if (!what && bus_register(&vm->mmio, VGA_WINDOW_BASE, VGA_WINDOW_SIZE, &vga_window_ops,
				  v, "vga-window"))
		what = "memory 0xa0000-0xbffff";
	else if (!what)
		v->window_claimed = 1;
	if (what) {
		log_error("vga: %s are taken by another device", what);
		vga_free(v);
		return NULL;
	}

	pci_device_init(&v->pci, "vga", VGA_VENDOR_ID, VGA_DEVICE_ID, PCI_CLASS_DISPLAY_VGA,
			VGA_PCI_REVISION);
	pci_set_subsystem(&v->pci, VGA_SUBSYSTEM_VENDOR, VGA_SUBSYSTEM_ID);
	pci_bar_init(&v->pci, VGA_VRAM_BAR, PCI_BAR_MEM32, VGA_VRAM_SIZE, 1, &vga_vram_ops, v);
	pci_bar_init(&v->pci, VGA_MMIO_BAR, PCI_BAR_MEM32, VGA_MMIO_SIZE, 0, &vga_mmio_ops, v);
	v->pci.ops = &vga_pci_ops;
	v->pci.opaque = v;
	vga_reset(v);

	if (vm_on_destroy(vm, vga_free, v)) {
		log_error("vga: out of memory");
		vga_free(v);
		return NULL;
	}
	/* From here on vm_destroy frees it, whatever happens. */
	err = vm_on_reset(vm, vga_reset_hook, v);
	if (err) {
		log_error("vga: out of memory");
		return NULL;
	}
	if (vm->pci && pci_register(vm, &v->pci, devfn))
		return NULL; /* pci_register said why */
	return v;
}
