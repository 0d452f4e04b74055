/* Reset through port 0xcf9 restarts the guest in place: RAM survives, the
 * image is loaded again and the vCPU starts at the entry once more. The
 * first boot leaves a mark in RAM and resets; the second finds it.
 * expect-exit: 0
 * expect-serial: first boot: resetting through 0xcf9
 * expect-serial: second boot: came back after the reset
 */
#include "guest.h"

#define MARK_ADDR 0x80000
#define MARK 0x6475657452535421ULL

int main(void)
{
	volatile uint64_t *mark = (volatile uint64_t *)MARK_ADDR;

	if (*mark != MARK) {
		*mark = MARK;
		puts_serial("first boot: resetting through 0xcf9\n");
		outb(0xcf9, 0x06);
		for (;;)
			__asm__ volatile("pause");
	}
	puts_serial("second boot: came back after the reset\n");
	*mark = 0;
	return 0;
}
