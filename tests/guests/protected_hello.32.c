/* 32-bit protected-mode guest (ELF32): checks it runs in flat protected
 * mode with paging off, with the GDT duet-vmm documents, then prints.
 * expect-exit: 0
 * expect-serial: hello from protected mode
 */
#include "guest.h"

int main(void)
{
	uint32_t cr0;
	uint16_t cs;

	__asm__ volatile("mov %%cr0, %0" : "=r"(cr0));
	__asm__ volatile("mov %%cs, %0" : "=r"(cs));
	if (!(cr0 & 1) || (cr0 & 0x80000000u))
		return 10;
	if (cs != 0x08)
		return 11;
	puts_serial("hello from protected mode\n");
	return 0;
}
