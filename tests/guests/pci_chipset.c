/* Walks PCI bus 0 through configuration mechanism #1 and drives the PIIX4
 * power management function the way firmware and an ACPI OS do: the
 * i440FX and PIIX functions answer with their IDs, an empty slot reads all
 * ones, BAR-less PMBA maps the PM block, the PM timer runs at 3.58 MHz,
 * and SLP_TYP=0 + SLP_EN switches the machine off (exit status 0).
 * expect-exit: 0
 * expect-serial: pci: 00:00.0 8086:1237 00:01.0 8086:7000 00:01.3 8086:7113
 * expect-serial: pm: timer runs; entering S5
 */
#include "guest.h"

static uint32_t cfg_read(unsigned dev, unsigned fn, unsigned reg)
{
	outl(0xcf8, 0x80000000u | dev << 11 | fn << 8 | (reg & 0xfc));
	return inl(0xcfc);
}

static void cfg_write(unsigned dev, unsigned fn, unsigned reg, uint32_t v)
{
	outl(0xcf8, 0x80000000u | dev << 11 | fn << 8 | (reg & 0xfc));
	outl(0xcfc, v);
}

static inline uint16_t inw(uint16_t port)
{
	uint16_t v;

	__asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline void outw(uint16_t port, uint16_t v)
{
	__asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}

static void put_id(unsigned dev, unsigned fn)
{
	uint32_t id = cfg_read(dev, fn, 0);

	puts_serial(" 00:0");
	putc_serial((char)('0' + dev));
	putc_serial('.');
	putc_serial((char)('0' + fn));
	putc_serial(' ');
	for (int shift = 12; shift >= 0; shift -= 4)
		putc_serial("0123456789abcdef"[(id >> shift) & 0xf]);
	putc_serial(':');
	for (int shift = 28; shift >= 16; shift -= 4)
		putc_serial("0123456789abcdef"[(id >> shift) & 0xf]);
}

int main(void)
{
	const uint16_t pm = 0xb000;
	uint32_t t0, t1;

	if (cfg_read(0, 0, 0) != 0x12378086u || cfg_read(1, 0, 0) != 0x70008086u ||
	    cfg_read(1, 3, 0) != 0x71138086u)
		return 40;
	if (cfg_read(31, 0, 0) != 0xffffffffu)
		return 41;
	/* Config address register reads back what was written. */
	outl(0xcf8, 0x80000810u);
	if (inl(0xcf8) != 0x80000810u)
		return 42;
	puts_serial("pci:");
	put_id(0, 0);
	put_id(1, 0);
	put_id(1, 3);
	puts_serial("\n");

	/* PIRQ route control: writable, low nibble the IRQ. */
	cfg_write(1, 0, 0x60, 0x0b0b0a0a);
	if (cfg_read(1, 0, 0x60) != 0x0b0b0a0a)
		return 43;

	/* PM block at 0xb000 (SeaBIOS's choice without ACPI tables). */
	cfg_write(1, 3, 0x40, pm | 1);
	cfg_write(1, 3, 0x80, 1);
	t0 = inl(pm + 8) & 0xffffff;
	for (volatile int i = 0; i < 100000; i++)
		;
	t1 = inl(pm + 8) & 0xffffff;
	if (t0 == t1)
		return 44;
	if (!(inw(pm + 4) & 1)) /* SCI_EN set: ACPI mode from power-on */
		return 45;
	puts_serial("pm: timer runs; entering S5\n");
	outw(pm + 4, (0 << 10) | (1 << 13) | 1);
	for (volatile int i = 0; i < 1000000; i++)
		;
	return 46; /* still running: S5 did not switch us off */
}
