/* vmm-pio-exits guest: PIO_COUNT one-byte writes to port 0x80 (QEMU: its
 * dummy "ioport80" device; duet-vmm: an unclaimed port), each one a VM exit
 * to the VMM's user space, then exit through port 0x501 (crt_mb.S).
 * Built once per count (-DPIO_COUNT=N); the harness subtracts the N=0 run. */
#include "guest.h"

#ifndef PIO_COUNT
#error "build with -DPIO_COUNT=N"
#endif

uint32_t pio_count = PIO_COUNT; /* a variable: no "always false" for N=0 */

int main(void)
{
	for (uint32_t i = 0; i < pio_count; i++)
		outb(0x80, (uint8_t)i);
	return 0;
}
