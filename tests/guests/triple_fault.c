/* A guest that triple-faults (no IDT, then an exception). With
 * --no-reboot duet-vmm ends with status 1 and says where it happened.
 * vmm-args: --no-reboot
 * expect-exit: 1
 * expect-serial: about to triple-fault
 */
#include "guest.h"

int main(void)
{
	struct {
		uint16_t limit;
		uint64_t base;
	} __attribute__((packed)) idt = { 0, 0 };

	puts_serial("about to triple-fault\n");
	__asm__ volatile("lidt %0; int3" : : "m"(idt));
	return 99;
}
