/* Drives COM1 the way Linux's 8250 driver probes it: scratch register,
 * divisor latch, loopback with modem lines, FIFO and IIR. Each failed check
 * exits with its own number.
 * expect-exit: 0
 * expect-serial: uart: all register checks passed
 */
#include "guest.h"

#define RBR 0
#define IER 1
#define IIR 2
#define FCR 2
#define LCR 3
#define MCR 4
#define LSR 5
#define MSR 6
#define SCR 7

int main(void)
{
	outb(COM1 + SCR, 0xa5);
	if (inb(COM1 + SCR) != 0xa5)
		return 30;
	outb(COM1 + LCR, 0x80);
	outb(COM1 + RBR, 0x01);
	outb(COM1 + IER, 0x00);
	if (inb(COM1 + RBR) != 0x01 || inb(COM1 + IER) != 0x00)
		return 31;
	outb(COM1 + LCR, 0x03);
	if (inb(COM1 + LCR) != 0x03)
		return 32;
	outb(COM1 + FCR, 0x07);
	if ((inb(COM1 + IIR) & 0xc0) != 0xc0)
		return 33;
	/* Loopback: RTS|DTR -> CTS|DSR, and a byte sent comes back. */
	outb(COM1 + MCR, 0x13);
	if ((inb(COM1 + MSR) & 0xf0) != 0x30)
		return 34;
	outb(COM1 + RBR, 'L');
	if (!(inb(COM1 + LSR) & 1) || inb(COM1 + RBR) != 'L')
		return 35;
	if (inb(COM1 + LSR) & 1)
		return 36;
	outb(COM1 + MCR, 0x03);
	/* THRE interrupt: enabling ETBEI with THR empty raises it. */
	outb(COM1 + IER, 0x02);
	if ((inb(COM1 + IIR) & 0x0f) != 0x02)
		return 37;
	if ((inb(COM1 + IIR) & 0x0f) != 0x01)
		return 38;
	outb(COM1 + IER, 0x00);
	puts_serial("uart: all register checks passed\n");
	return 0;
}
