/* The QEMU side of `make bench-vnc`: a multiboot guest that shows a picture
 * on QEMU's std-VGA, so that QEMU's built-in VNC server serves the same
 * pixels duet-display's does. QEMU loads it with
 *   -kernel bench_vnc_guest.elf -initrd PICTURE
 * where PICTURE is 1920x1080 XRGB8888, the module multiboot hands over.
 * It sets the Bochs VBE mode (the dispi interface at ports 0x1ce/0x1cf,
 * Bochs vbe.h), finds the linear framebuffer in BAR0 of the VGA device
 * (PCI 1234:1111), copies the picture there and halts. */
#include <stdint.h>

#define WIDTH 1920
#define HEIGHT 1080

/* Bochs VBE "dispi" registers (bochs/iodev/vga.h, QEMU hw/display/vga.h) */
#define VBE_DISPI_IOPORT_INDEX 0x01ce
#define VBE_DISPI_IOPORT_DATA 0x01cf
#define VBE_DISPI_INDEX_XRES 1
#define VBE_DISPI_INDEX_YRES 2
#define VBE_DISPI_INDEX_BPP 3
#define VBE_DISPI_INDEX_ENABLE 4
#define VBE_DISPI_ENABLED 0x01
#define VBE_DISPI_LFB_ENABLED 0x40

/* PCI configuration mechanism #1 (PCI Local Bus 3.0, 3.2.2.3.2) */
#define PCI_CONFIG_ADDRESS 0xcf8
#define PCI_CONFIG_DATA 0xcfc
#define PCI_VENDOR_DEVICE_STDVGA 0x11111234u

/* multiboot 0.6.96, 3.3: the information structure, and a module */
#define MULTIBOOT_INFO_MODS 0x08u
struct multiboot_info {
	uint32_t flags, mem_lower, mem_upper, boot_device, cmdline, mods_count, mods_addr;
};
struct multiboot_module {
	uint32_t mod_start, mod_end, string, reserved;
};

/* The header (multiboot 3.1.1: in the first 8 KiB, flags 0: load by the
 * ELF headers) and an entry that hands main the information pointer. */
__asm__(".section .text.multiboot, \"ax\"\n"
	".align 4\n"
	".long 0x1badb002\n"
	".long 0\n"
	".long -0x1badb002\n"
	".text\n"
	".globl _start\n"
	"_start:\n"
	"	cli\n"
	"	movl $stack_top, %esp\n"
	"	pushl %ebx\n"
	"	call guest_main\n"
	"1:	cli\n"
	"	hlt\n"
	"	jmp 1b\n"
	".bss\n"
	".align 16\n"
	".space 8192\n"
	"stack_top:\n"
	".text\n");

void guest_main(const struct multiboot_info *mbi);

static inline void outw(uint16_t port, uint16_t v)
{
	__asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}

static inline void outl(uint16_t port, uint32_t v)
{
	__asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint32_t inl(uint16_t port)
{
	uint32_t v;

	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static void dispi(uint16_t index, uint16_t value)
{
	outw(VBE_DISPI_IOPORT_INDEX, index);
	outw(VBE_DISPI_IOPORT_DATA, value);
}

static uint32_t pci_read(unsigned dev, unsigned reg)
{
	outl(PCI_CONFIG_ADDRESS, 0x80000000u | dev << 11 | reg);
	return inl(PCI_CONFIG_DATA);
}

void guest_main(const struct multiboot_info *mbi)
{
	const struct multiboot_module *mod;
	volatile uint32_t *lfb = 0;
	const uint32_t *src;
	uint32_t n;

	for (unsigned dev = 0; dev < 32 && !lfb; dev++)
		if (pci_read(dev, 0) == PCI_VENDOR_DEVICE_STDVGA)
			lfb = (volatile uint32_t *)(uintptr_t)(pci_read(dev, 0x10) & ~0xfu);
	if (!lfb || !(mbi->flags & MULTIBOOT_INFO_MODS) || !mbi->mods_count)
		return;
	dispi(VBE_DISPI_INDEX_ENABLE, 0);
	dispi(VBE_DISPI_INDEX_XRES, WIDTH);
	dispi(VBE_DISPI_INDEX_YRES, HEIGHT);
	dispi(VBE_DISPI_INDEX_BPP, 32);
	dispi(VBE_DISPI_INDEX_ENABLE, VBE_DISPI_ENABLED | VBE_DISPI_LFB_ENABLED);
	mod = (const struct multiboot_module *)(uintptr_t)mbi->mods_addr;
	src = (const uint32_t *)(uintptr_t)mod->mod_start;
	n = (mod->mod_end - mod->mod_start) / 4;
	if (n > WIDTH * HEIGHT)
		n = WIDTH * HEIGHT;
	for (uint32_t i = 0; i < n; i++)
		lfb[i] = src[i];
}
