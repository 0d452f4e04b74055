/* The console on COM1 takes input: reads a line from the host (stdin of
 * duet-vmm with --serial stdio), echoes it in capitals and exits 0 when it
 * was "ping". Run by tests/kvm/test_console.sh, which feeds it; the plain
 * runner gives no input and skips it.
 * expect-exit: 0
 * expect-serial: PING
 */
#include "guest.h"

int main(void)
{
	char line[16];
	unsigned n = 0;

	puts_serial("type a line:\n");
	for (;;) {
		char c;

		while (!(inb(COM1 + 5) & 1))
			;
		c = (char)inb(COM1);
		if (c == '\n' || n == sizeof(line) - 1)
			break;
		line[n++] = c;
	}
	line[n] = 0;
	for (unsigned i = 0; i < n; i++)
		putc_serial(line[i] >= 'a' && line[i] <= 'z' ? (char)(line[i] - 32) : line[i]);
	putc_serial('\n');
	return (n == 4 && line[0] == 'p' && line[1] == 'i' && line[2] == 'n' && line[3] == 'g') ? 0 : 1;
}
