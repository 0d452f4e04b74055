/* Waits for the ACPI power button: maps the PIIX4 PM block at 0x600,
 * enables PWRBTN_EN, prints a dot now and then so a test can see it run
 * (and see it stop while paused), and exits with 0x22 once PWRBTN_STS is
 * set by the control socket's "powerdown". Run by tests/kvm/test_control.py,
 * not the plain runner: vmm-args name no control socket, so alone it would
 * wait forever.
 * expect-exit: 34
 */
#include "guest.h"

#define PM_BASE 0x600

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

int main(void)
{
	unsigned long spins = 0;

	outl(0xcf8, 0x80000000u | 1 << 11 | 3 << 8 | 0x40);
	outl(0xcfc, PM_BASE | 1);
	outl(0xcf8, 0x80000000u | 1 << 11 | 3 << 8 | 0x80);
	outl(0xcfc, 1);
	outw(PM_BASE + 2, 0x0100); /* PWRBTN_EN */
	puts_serial("waiting for the power button\n");
	while (!(inw(PM_BASE) & 0x0100)) {
		if (++spins % 200 == 0)
			putc_serial('.');
	}
	outw(PM_BASE, 0x0100); /* acknowledge: write-one-to-clear */
	puts_serial("\npower button pressed\n");
	return 0x22;
}
