/* Pins vmm/hw/rtc.c: the time in BCD and binary, 24- and 12-hour, the
 * guest setting the time (SET, then an offset from the host's clock),
 * divider reset, UIP, register D's VRT, the update-ended, alarm (with
 * don't-care bytes) and periodic flags and their rates, register C
 * clearing IRQ 8, local time, CMOS RAM in both banks, the VMM's CMOS
 * access and a machine reset. The clock is a variable the tests step. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "hw/rtc.h"

#define NS_PER_S 1000000000LL
#define NS_PER_MS 1000000LL

#define SECONDS 0x00
#define SECONDS_ALARM 0x01
#define MINUTES 0x02
#define MINUTES_ALARM 0x03
#define HOURS 0x04
#define HOURS_ALARM 0x05
#define DAY_OF_WEEK 0x06
#define DATE 0x07
#define MONTH 0x08
#define YEAR 0x09
#define REG_A 0x0a
#define REG_B 0x0b
#define REG_C 0x0c
#define REG_D 0x0d
#define CENTURY 0x32

#define B_SET 0x80
#define B_PIE 0x40
#define B_AIE 0x20
#define B_UIE 0x10
#define B_DM 0x04
#define B_24H 0x02

#define C_IRQF 0x80
#define C_PF 0x40
#define C_AF 0x20
#define C_UF 0x10

struct fixture {
	struct bus bus;
	struct rtc *rtc;
	int64_t now;  /* the wall clock the RTC sees */
	int level;    /* IRQ 8 */
	int raises;
};

static int64_t fake_clock(void *opaque)
{
	return ((struct fixture *)opaque)->now;
}

static void irq_record(void *ctx, unsigned gsi, int level)
{
	struct fixture *f = ctx;

	assert_int_equal(gsi, RTC_IRQ);
	if (level && !f->level)
		f->raises++;
	f->level = level;
}

/* utc: nanoseconds of a UTC date and time. */
static int64_t utc(int year, int mon, int day, int h, int m, int s)
{
	struct tm tm = { .tm_year = year - 1900, .tm_mon = mon - 1, .tm_mday = day,
			 .tm_hour = h, .tm_min = m, .tm_sec = s };

	return (int64_t)timegm(&tm) * NS_PER_S;
}

static int setup(void **state)
{
	static struct fixture f;

	memset(&f, 0, sizeof(f));
	/* Thursday 2024-02-29 13:45:56.25 UTC */
	f.now = utc(2024, 2, 29, 13, 45, 56) + 250 * NS_PER_MS;
	bus_init(&f.bus, "pio");
	f.rtc = rtc_create(&f.bus, (struct irq_pin){ irq_record, &f, RTC_IRQ }, NULL,
			   fake_clock, &f);
	*state = &f;
	return f.rtc ? 0 : -1;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	rtc_free(f->rtc);
	bus_destroy(&f->bus);
	return 0;
}

static uint8_t in(struct fixture *f, uint16_t port)
{
	uint8_t v;

	assert_int_equal(bus_read(&f->bus, port, &v, 1), 1);
	return v;
}

static void out(struct fixture *f, uint16_t port, uint8_t v)
{
	assert_int_equal(bus_write(&f->bus, port, &v, 1), 1);
}

static uint8_t cmos(struct fixture *f, uint8_t index)
{
	out(f, 0x70, index);
	return in(f, 0x71);
}

static void cmos_set(struct fixture *f, uint8_t index, uint8_t v)
{
	out(f, 0x70, index);
	out(f, 0x71, v);
}

static void test_power_on_and_bcd(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(cmos(f, REG_A), 0x26);
	assert_int_equal(cmos(f, REG_B), B_24H);
	assert_int_equal(cmos(f, REG_D), 0x80); /* VRT */
	assert_int_equal(cmos(f, SECONDS), 0x56);
	assert_int_equal(cmos(f, MINUTES), 0x45);
	assert_int_equal(cmos(f, HOURS), 0x13);
	assert_int_equal(cmos(f, DAY_OF_WEEK), 5); /* Sunday is 1 */
	assert_int_equal(cmos(f, DATE), 0x29);
	assert_int_equal(cmos(f, MONTH), 0x02);
	assert_int_equal(cmos(f, YEAR), 0x24);
	assert_int_equal(cmos(f, CENTURY), 0x20);
	/* The clock runs: a leap day rolls into March. */
	f->now += (int64_t)(10 * 3600 + 14 * 60 + 4) * NS_PER_S;
	assert_int_equal(cmos(f, HOURS), 0x00);
	assert_int_equal(cmos(f, DATE), 0x01);
	assert_int_equal(cmos(f, MONTH), 0x03);
}

static void test_binary(void **state)
{
	struct fixture *f = *state;

	cmos_set(f, REG_B, B_24H | B_DM);
	assert_int_equal(cmos(f, SECONDS), 56);
	assert_int_equal(cmos(f, MINUTES), 45);
	assert_int_equal(cmos(f, HOURS), 13);
	assert_int_equal(cmos(f, DATE), 29);
	assert_int_equal(cmos(f, YEAR), 24);
	assert_int_equal(cmos(f, CENTURY), 20);
}

static void test_12_hour(void **state)
{
	struct fixture *f = *state;

	cmos_set(f, REG_B, 0);                  /* 12-hour, BCD */
	assert_int_equal(cmos(f, HOURS), 0x81); /* 1 PM */
	cmos_set(f, REG_B, B_DM);               /* 12-hour, binary */
	assert_int_equal(cmos(f, HOURS), 0x81);
	f->now = utc(2024, 3, 1, 0, 30, 0);
	assert_int_equal(cmos(f, HOURS), 12); /* 12 AM */
	f->now = utc(2024, 3, 1, 12, 30, 0);
	cmos_set(f, REG_B, 0);
	assert_int_equal(cmos(f, HOURS), 0x92); /* 12 PM */
	f->now = utc(2024, 3, 1, 23, 59, 59);
	assert_int_equal(cmos(f, HOURS), 0x91); /* 11 PM */
}

static void test_set_keeps_offset(void **state)
{
	struct fixture *f = *state;

	cmos_set(f, REG_B, B_SET | B_24H | B_UIE);
	assert_int_equal(cmos(f, REG_B), B_SET | B_24H); /* SET clears UIE */
	/* While SET is up the time stands still and takes the writes. */
	f->now += 5 * NS_PER_S;
	assert_int_equal(cmos(f, SECONDS), 0x56);
	cmos_set(f, SECONDS, 0x59);
	cmos_set(f, MINUTES, 0x59);
	cmos_set(f, HOURS, 0x23);
	cmos_set(f, DATE, 0x31);
	cmos_set(f, MONTH, 0x12);
	cmos_set(f, YEAR, 0x99);
	cmos_set(f, CENTURY, 0x19);
	assert_int_equal(cmos(f, YEAR), 0x99);
	assert_int_equal(cmos(f, REG_A) & 0x80, 0); /* no UIP while set */
	cmos_set(f, REG_B, B_24H);
	/* Runs from there; the host's clock is not touched. */
	f->now += 2 * NS_PER_S;
	assert_int_equal(cmos(f, SECONDS), 0x01);
	assert_int_equal(cmos(f, YEAR), 0x00);
	assert_int_equal(cmos(f, CENTURY), 0x20);
	assert_int_equal(cmos(f, MONTH), 0x01);
	f->now += 86400 * NS_PER_S;
	assert_int_equal(cmos(f, DATE), 0x02);
	/* A single byte written while running moves the time at once. */
	cmos_set(f, YEAR, 0x30);
	assert_int_equal(cmos(f, YEAR), 0x30);
	assert_int_equal(cmos(f, CENTURY), 0x20);
	assert_int_equal(cmos(f, DATE), 0x02);
	/* Garbage dates do not upset it (clamped to 1900..2199). */
	cmos_set(f, REG_B, B_SET | B_24H);
	cmos_set(f, CENTURY, 0xff);
	cmos_set(f, MONTH, 0xff);
	cmos_set(f, REG_B, B_24H);
	assert_int_equal(cmos(f, CENTURY), 0x21);
	assert_int_equal(cmos(f, YEAR), 0x99);
}

static void test_divider_reset(void **state)
{
	struct fixture *f = *state;

	cmos_set(f, REG_A, 0x70); /* divider held in reset */
	f->now += 10 * NS_PER_S;
	assert_int_equal(cmos(f, SECONDS), 0x56);
	assert_int_equal(cmos(f, REG_A), 0x70);
	cmos_set(f, REG_A, 0x26);
	/* The first update comes half a second after the release. */
	f->now += 499 * NS_PER_MS;
	assert_int_equal(cmos(f, SECONDS), 0x56);
	f->now += 1 * NS_PER_MS;
	assert_int_equal(cmos(f, SECONDS), 0x57);
}

static void test_uip(void **state)
{
	struct fixture *f = *state;
	int64_t second = utc(2024, 2, 29, 13, 45, 57);

	f->now = second - 300000; /* 300 us before an update */
	assert_int_equal(cmos(f, REG_A), 0x26);
	f->now = second - 200000; /* within 244 us */
	assert_int_equal(cmos(f, REG_A), 0xa6);
	f->now = second + 1000000; /* during the 1984 us update */
	assert_int_equal(cmos(f, REG_A), 0xa6);
	f->now = second + 2000000;
	assert_int_equal(cmos(f, REG_A), 0x26);
	cmos_set(f, REG_A, 0xa6); /* UIP is read-only */
	assert_int_equal(cmos(f, REG_A), 0x26);
}

static void test_update_irq_and_register_c(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(cmos(f, REG_C), 0);
	cmos_set(f, REG_A, 0x20); /* no periodic flag in the way */
	cmos_set(f, REG_B, B_24H | B_UIE);
	f->now += 800 * NS_PER_MS; /* crosses a second */
	assert_int_equal(cmos(f, REG_A) & 0x7f, 0x20); /* any access catches up */
	assert_int_equal(f->level, 1);
	assert_int_equal(cmos(f, REG_C), C_IRQF | C_UF);
	assert_int_equal(f->level, 0);
	assert_int_equal(cmos(f, REG_C), 0);
	f->now += 1 * NS_PER_S;
	assert_int_equal(cmos(f, REG_C), C_IRQF | C_UF);
	assert_int_equal(f->raises, 2);
	/* With the interrupt off, the flag still shows but IRQF and the line
	 * do not. */
	cmos_set(f, REG_B, B_24H);
	f->now += 1 * NS_PER_S;
	assert_int_equal(cmos(f, REG_C), C_UF);
	assert_int_equal(f->level, 0);
	assert_int_equal(f->raises, 2);
	/* Enabling it with the flag already up raises the line at once. */
	f->now += 1 * NS_PER_S;
	cmos_set(f, REG_B, B_24H | B_UIE);
	assert_int_equal(f->level, 1);
	/* The VMM's read does not clear register C. */
	assert_int_equal(rtc_cmos_read(f->rtc, REG_C), C_IRQF | C_UF);
	assert_int_equal(f->level, 1);
}

static void test_alarm(void **state)
{
	struct fixture *f = *state;

	f->now = utc(2024, 2, 29, 11, 59, 58);
	cmos_set(f, REG_A, 0x20); /* no periodic flag in the way */
	cmos_set(f, REG_C, 0xff); /* read-only: ignored */
	cmos(f, REG_C);
	cmos_set(f, HOURS_ALARM, 0x12);
	cmos_set(f, MINUTES_ALARM, 0x00);
	cmos_set(f, SECONDS_ALARM, 0x05);
	cmos_set(f, REG_B, B_24H | B_AIE);
	f->now += 6 * NS_PER_S; /* 12:00:04 */
	assert_int_equal(cmos(f, REG_C), C_UF);
	assert_int_equal(f->level, 0);
	f->now += 1 * NS_PER_S; /* 12:00:05 */
	assert_int_equal(f->level, 0);
	assert_int_equal(cmos(f, REG_C), C_IRQF | C_AF | C_UF);
	/* Gone by unread: still flagged once seen. */
	f->now += 3600 * NS_PER_S;
	assert_int_equal(cmos(f, REG_C), C_UF);
	f->now += 86400 * NS_PER_S;
	assert_int_equal(cmos(f, REG_C), C_IRQF | C_AF | C_UF);
	/* Don't-care hours and minutes: every minute at second 30. */
	cmos_set(f, HOURS_ALARM, 0xc0);
	cmos_set(f, MINUTES_ALARM, 0xff);
	cmos_set(f, SECONDS_ALARM, 0x30);
	f->now = utc(2024, 3, 1, 7, 13, 29);
	cmos(f, REG_C);
	f->now += 1 * NS_PER_S;
	assert_int_equal(cmos(f, REG_C), C_IRQF | C_AF | C_UF);
	f->now += 59 * NS_PER_S;
	assert_int_equal(cmos(f, REG_C) & C_AF, 0);
	f->now += 1 * NS_PER_S;
	assert_int_equal(cmos(f, REG_C) & C_AF, C_AF);
	/* An alarm in 12-hour mode compares against the PM bit. */
	cmos_set(f, REG_B, B_AIE); /* 12-hour BCD */
	cmos_set(f, HOURS_ALARM, 0x87); /* 7 PM */
	cmos_set(f, MINUTES_ALARM, 0x00);
	cmos_set(f, SECONDS_ALARM, 0x00);
	f->now = utc(2024, 3, 1, 18, 59, 59);
	cmos(f, REG_C);
	f->now += 1 * NS_PER_S;
	assert_int_equal(cmos(f, REG_C), C_IRQF | C_AF | C_UF);
}

static void test_periodic_rate(void **state)
{
	struct fixture *f = *state;

	f->now = utc(2024, 2, 29, 13, 0, 0) + 1;
	cmos_set(f, REG_A, 0x2f); /* 2 Hz */
	cmos_set(f, REG_B, B_24H | B_PIE);
	cmos(f, REG_C);
	f->now += 499 * NS_PER_MS;
	assert_int_equal(cmos(f, REG_C), 0);
	assert_int_equal(f->level, 0);
	f->now += 1 * NS_PER_MS;
	assert_int_equal(f->level, 0); /* noticed on the next access */
	assert_int_equal(cmos(f, REG_C), C_IRQF | C_PF);
	f->now += 500 * NS_PER_MS;
	assert_int_equal(cmos(f, REG_C), C_IRQF | C_UF | C_PF);
	/* 1024 Hz, the power-on rate: 976.5625 us. */
	cmos_set(f, REG_A, 0x26);
	f->now = utc(2024, 2, 29, 13, 0, 2) + 1;
	cmos(f, REG_C);
	f->now += 976000;
	assert_int_equal(cmos(f, REG_C), 0);
	f->now += 1000;
	assert_int_equal(cmos(f, REG_C), C_IRQF | C_PF);
	/* Rates 1 and 2 are 256 and 128 Hz. */
	cmos_set(f, REG_A, 0x21);
	f->now = utc(2024, 2, 29, 13, 0, 3) + 1;
	cmos(f, REG_C);
	f->now += 3906000;
	assert_int_equal(cmos(f, REG_C), 0);
	f->now += 1000;
	assert_int_equal(cmos(f, REG_C), C_IRQF | C_PF);
	/* Rate 0 and divider reset: no periodic interrupt. */
	cmos_set(f, REG_A, 0x20);
	cmos(f, REG_C);
	f->now += 600 * NS_PER_MS;
	assert_int_equal(cmos(f, REG_C) & C_PF, 0);
	cmos_set(f, REG_A, 0x6f);
	cmos(f, REG_C);
	f->now += 600 * NS_PER_MS;
	assert_int_equal(cmos(f, REG_C), 0);
}

static void test_localtime(void **state)
{
	struct fixture *f = *state;

	setenv("TZ", "UTC-2", 1); /* two hours east of Greenwich */
	tzset();
	rtc_set_localtime(f->rtc, 1);
	assert_int_equal(cmos(f, HOURS), 0x15);
	assert_int_equal(cmos(f, MINUTES), 0x45);
	/* No update cycle came from the jump. */
	assert_int_equal(cmos(f, REG_C), 0);
	rtc_set_localtime(f->rtc, 0);
	assert_int_equal(cmos(f, HOURS), 0x13);
	unsetenv("TZ");
	tzset();
}

static void test_cmos_ram(void **state)
{
	struct fixture *f = *state;
	uint16_t word = 0x3412, back;

	assert_int_equal(rtc_cmos_write(f->rtc, RTC_CMOS_MEM_ABOVE_16M, 0x00), 0);
	assert_int_equal(rtc_cmos_write(f->rtc, RTC_CMOS_MEM_ABOVE_16M + 1, 0x3f), 0);
	assert_int_equal(cmos(f, 0x35), 0x3f);
	assert_int_equal(rtc_cmos_write(f->rtc, SECONDS, 1), -EINVAL);
	assert_int_equal(rtc_cmos_write(f->rtc, CENTURY, 1), -EINVAL);
	assert_int_equal(rtc_cmos_write(f->rtc, 256, 1), -EINVAL);
	assert_int_equal(rtc_cmos_read(f->rtc, 256), -EINVAL);
	assert_int_equal(rtc_cmos_read(f->rtc, CENTURY), 0x20);
	cmos_set(f, 0x40, 0xa5);
	assert_int_equal(rtc_cmos_read(f->rtc, 0x40), 0xa5);
	/* Bit 7 of the index masks NMI, selects nothing, and reads back. */
	out(f, 0x70, 0x80 | 0x40);
	assert_int_equal(in(f, 0x71), 0xa5);
	assert_int_equal(in(f, 0x70), 0xc0);
	/* The upper bank through 0x72/0x73. */
	out(f, 0x72, 0x05);
	out(f, 0x73, 0x77);
	assert_int_equal(rtc_cmos_read(f->rtc, 0x85), 0x77);
	assert_int_equal(rtc_cmos_write(f->rtc, 0xff, 0x12), 0);
	out(f, 0x72, 0x7f);
	assert_int_equal(in(f, 0x73), 0x12);
	assert_int_equal(cmos(f, HOURS_ALARM), 0x00); /* the lower bank's 0x05 */
	/* A 16-bit write reaches index then data. */
	assert_int_equal(bus_write(&f->bus, 0x70, &word, 2), 1);
	assert_int_equal(rtc_cmos_read(f->rtc, 0x12), 0x34);
	assert_int_equal(bus_read(&f->bus, 0x70, &back, 2), 1);
	assert_int_equal(back, 0x3412);
}

static void test_reset(void **state)
{
	struct fixture *f = *state;

	cmos_set(f, REG_B, B_24H | B_DM | B_PIE | B_AIE | B_UIE);
	f->now += 2 * NS_PER_S;
	cmos(f, REG_A);
	assert_int_equal(f->level, 1);
	cmos_set(f, 0x50, 0x42);
	rtc_reset(f->rtc);
	assert_int_equal(f->level, 0);
	assert_int_equal(cmos(f, REG_B), B_24H | B_DM);
	assert_int_equal(cmos(f, REG_C), 0);
	assert_int_equal(cmos(f, 0x50), 0x42);   /* RAM is battery-backed */
	assert_int_equal(cmos(f, SECONDS), 58);  /* and so is the time */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_power_on_and_bcd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_binary, setup, teardown),
		cmocka_unit_test_setup_teardown(test_12_hour, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_keeps_offset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_divider_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_update_irq_and_register_c, setup, teardown),
		cmocka_unit_test_setup_teardown(test_alarm, setup, teardown),
		cmocka_unit_test_setup_teardown(test_periodic_rate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_localtime, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cmos_ram, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
