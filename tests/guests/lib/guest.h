/* The little runtime every C test guest shares: port I/O, COM1 output and
 * the test-exit port. Guests run with no OS, on the stack duet-vmm set up. */
#ifndef DUET_GUEST_H
#define DUET_GUEST_H

#include <stdint.h>

#define COM1 0x3f8
#define TEST_EXIT_PORT 0x501

static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
	uint8_t v;

	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
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

static inline void putc_serial(char c)
{
	while (!(inb(COM1 + 5) & 0x20))
		;
	outb(COM1, (uint8_t)c);
}

static inline void puts_serial(const char *s)
{
	while (*s)
		putc_serial(*s++);
}

static inline void put_hex(uint64_t v)
{
	static const char digits[] = "0123456789abcdef";

	puts_serial("0x");
	for (int shift = 60; shift >= 0; shift -= 4)
		putc_serial(digits[(v >> shift) & 0xf]);
}

static inline __attribute__((noreturn)) void guest_exit(uint8_t status)
{
	outb(TEST_EXIT_PORT, status);
	for (;;)
		__asm__ volatile("cli; hlt");
}

int main(void);

#endif
