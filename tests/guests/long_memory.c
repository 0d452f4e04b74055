/* 64-bit long-mode guest (ELF64): checks long mode and the identity map,
 * then writes a pattern across all of guest RAM (the memory size comes from
 * vmm-args) and reads it back.
 * vmm-args: --memory 64M
 * expect-exit: 0
 * expect-serial: long mode: 64 MiB of RAM checked
 */
#include "guest.h"

#define RAM_BYTES (64ULL << 20)
#define START (2ULL << 20)

static uint64_t rdmsr(uint32_t msr)
{
	uint32_t lo, hi;

	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return ((uint64_t)hi << 32) | lo;
}

int main(void)
{
	volatile uint64_t *p;

	if (!(rdmsr(0xc0000080) & (1u << 10))) /* EFER.LMA */
		return 20;
	/* Stride of 4 KiB: one word per page, so the run stays quick even
	 * with kernel-mode code emulated. */
	for (uint64_t a = START; a < RAM_BYTES; a += 4096) {
		p = (volatile uint64_t *)a;
		*p = a ^ 0x5a5a5a5a5a5a5a5aULL;
	}
	for (uint64_t a = START; a < RAM_BYTES; a += 4096) {
		p = (volatile uint64_t *)a;
		if (*p != (a ^ 0x5a5a5a5a5a5a5a5aULL)) {
			puts_serial("memory mismatch at ");
			put_hex(a);
			puts_serial("\n");
			return 21;
		}
	}
	puts_serial("long mode: 64 MiB of RAM checked\n");
	return 0;
}
