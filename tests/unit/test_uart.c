/* Pins vmm/hw/uart.c: transmit to the output fd, divisor latch, scratch,
 * LSR, the THRE and receive interrupts and their IIR codes, loopback, the
 * receive FIFO and its overrun. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "hw/uart.h"

#define BASE 0x3f8

struct irq_log {
	int level;
	int raises;
};

static void irq_record(void *ctx, unsigned gsi, int level)
{
	struct irq_log *log = ctx;

	assert_int_equal(gsi, 4);
	if (level && !log->level)
		log->raises++;
	log->level = level;
}

struct fixture {
	struct bus bus;
	struct uart *uart;
	struct irq_log irq;
	int pipe[2];
};

static int setup(void **state)
{
	static struct fixture f;

	memset(&f, 0, sizeof(f));
	bus_init(&f.bus, "pio");
	if (pipe(f.pipe))
		return -1;
	f.uart = uart_create(&f.bus, BASE, (struct irq_pin){ irq_record, &f.irq, 4 },
			     f.pipe[1]);
	*state = &f;
	return f.uart ? 0 : -1;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	uart_free(f->uart);
	bus_destroy(&f->bus);
	close(f->pipe[0]);
	close(f->pipe[1]);
	return 0;
}

static uint8_t in(struct fixture *f, unsigned reg)
{
	uint8_t v;

	assert_int_equal(bus_read(&f->bus, BASE + reg, &v, 1), 1);
	return v;
}

static void out(struct fixture *f, unsigned reg, uint8_t v)
{
	assert_int_equal(bus_write(&f->bus, BASE + reg, &v, 1), 1);
}

static void test_transmit(void **state)
{
	struct fixture *f = *state;
	char buf[8] = { 0 };

	assert_int_equal(in(f, 5) & 0x60, 0x60); /* THRE | TEMT */
	out(f, 0, 'h');
	out(f, 0, 'i');
	assert_int_equal(read(f->pipe[0], buf, sizeof(buf)), 2);
	assert_string_equal(buf, "hi");
	assert_int_equal(in(f, 5) & 0x60, 0x60);
}

static void test_divisor_and_scratch(void **state)
{
	struct fixture *f = *state;
	char c;

	out(f, 3, 0x83); /* DLAB, 8N1 */
	out(f, 0, 0x01); /* 115200 */
	out(f, 1, 0x00);
	assert_int_equal(in(f, 0), 0x01);
	assert_int_equal(in(f, 1), 0x00);
	out(f, 3, 0x03);
	assert_int_equal(in(f, 3), 0x03);
	out(f, 1, 0x00); /* IER, not DLM, now */
	assert_int_equal(in(f, 1), 0x00);
	out(f, 7, 0x5a);
	assert_int_equal(in(f, 7), 0x5a);
	/* Nothing reached the output while DLAB was set. */
	out(f, 0, 'x');
	assert_int_equal(read(f->pipe[0], &c, 1), 1);
	assert_int_equal(c, 'x');
}

static void test_thre_interrupt(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(in(f, 2) & 0x0f, 0x01); /* none pending */
	out(f, 1, 0x02);                          /* ETBEI */
	assert_int_equal(f->irq.level, 1);
	assert_int_equal(in(f, 2) & 0x0f, 0x02); /* THRE; reading clears it */
	assert_int_equal(f->irq.level, 0);
	assert_int_equal(in(f, 2) & 0x0f, 0x01);
	out(f, 0, 'a');
	assert_int_equal(f->irq.level, 1);
	assert_int_equal(f->irq.raises, 2);
	out(f, 1, 0x00);
	assert_int_equal(f->irq.level, 0);
}

static void test_receive_and_overrun(void **state)
{
	struct fixture *f = *state;
	uint8_t data[UART_RX_FIFO + 4];

	for (unsigned i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)('A' + i);
	out(f, 1, 0x05); /* ERBFI | ELSI */
	assert_int_equal(uart_receive(f->uart, data, sizeof(data)), UART_RX_FIFO);
	assert_int_equal(f->irq.level, 1);
	assert_int_equal(in(f, 2) & 0x0f, 0x04);
	for (unsigned i = 0; i < UART_RX_FIFO; i++) {
		assert_int_equal(in(f, 5) & 0x01, 0x01);
		assert_int_equal(in(f, 0), 'A' + i);
	}
	assert_int_equal(in(f, 5) & 0x01, 0);
	assert_int_equal(f->irq.level, 0);
	/* Loopback: a full FIFO plus one more byte is an overrun. */
	out(f, 4, 0x10);
	for (unsigned i = 0; i <= UART_RX_FIFO; i++)
		out(f, 0, 'z');
	assert_int_equal(in(f, 2) & 0x0f, 0x06); /* line status first */
	assert_int_equal(in(f, 5) & 0x03, 0x03); /* DR | OE */
	assert_int_equal(in(f, 5) & 0x02, 0);    /* OE cleared by reading */
	assert_int_equal(in(f, 2) & 0x0f, 0x04);
}

static void test_loopback_modem_lines(void **state)
{
	struct fixture *f = *state;

	out(f, 4, 0x10 | 0x01 | 0x02); /* LOOP, DTR, RTS */
	assert_int_equal(in(f, 6) & 0xf0, 0x30); /* DSR | CTS */
	out(f, 4, 0x10 | 0x08); /* LOOP, OUT2 */
	assert_int_equal(in(f, 6) & 0xf0, 0x80); /* DCD */
	out(f, 4, 0x00);
	assert_int_equal(in(f, 6) & 0xb0, 0xb0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_transmit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_divisor_and_scratch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_thre_interrupt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_receive_and_overrun, setup, teardown),
		cmocka_unit_test_setup_teardown(test_loopback_modem_lines, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
