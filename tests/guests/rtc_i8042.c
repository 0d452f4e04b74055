/* The CMOS clock and the keyboard controller, driven the way firmware and
 * Linux's rtc-cmos and i8042 drivers do: register D's VRT, waiting for UIP
 * to clear, a plausible date; the controller's self-test, its command byte
 * and a keyboard reset. Then a reset pulse from the i8042 (command 0xFE)
 * must restart the guest with the controller back in its power-on state
 * and the clock still running. Each failed check exits with its own number.
 * expect-exit: 0
 * expect-serial: rtc: VRT set, UIP clears, date plausible
 * expect-serial: i8042: self-test 55, keyboard reset FA AA
 * expect-serial: i8042: reset pulse restarted the machine
 */
#include "guest.h"

#define RTC_INDEX 0x70
#define RTC_DATA 0x71
#define RTC_YEAR 0x09
#define RTC_MONTH 0x08
#define RTC_DATE 0x07
#define RTC_REG_A 0x0a
#define RTC_REG_B 0x0b
#define RTC_REG_D 0x0d
#define RTC_CENTURY 0x32
#define REG_A_UIP 0x80
#define REG_B_DM 0x04
#define REG_D_VRT 0x80

#define I8042_DATA 0x60
#define I8042_STATUS 0x64
#define STR_OBF 0x01
#define STR_SYS 0x04

#define SPIN 100000 /* polls before a wait counts as failed */
#define MARK_ADDR 0x80100
#define MARK 0x3234303869385254ULL

static uint8_t cmos(uint8_t index)
{
	outb(RTC_INDEX, index);
	return inb(RTC_DATA);
}

static unsigned from_bcd(uint8_t v)
{
	return (v >> 4) * 10u + (v & 0x0f);
}

static void put_dec(unsigned v)
{
	char buf[12];
	int n = 0;

	do {
		buf[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		putc_serial(buf[--n]);
}

static int check_rtc(void)
{
	unsigned year, century, month, date;
	int i;

	if (!(cmos(RTC_REG_D) & REG_D_VRT))
		return 40;
	for (i = 0; i < SPIN && (cmos(RTC_REG_A) & REG_A_UIP); i++)
		;
	if (i == SPIN)
		return 41;
	year = cmos(RTC_YEAR);
	century = cmos(RTC_CENTURY);
	month = cmos(RTC_MONTH);
	date = cmos(RTC_DATE);
	if (!(cmos(RTC_REG_B) & REG_B_DM)) {
		year = from_bcd((uint8_t)year);
		century = from_bcd((uint8_t)century);
		month = from_bcd((uint8_t)month);
		date = from_bcd((uint8_t)date);
	}
	year += century * 100;
	if (year < 2024 || year > 2199)
		return 42;
	if (month < 1 || month > 12 || date < 1 || date > 31)
		return 43;
	puts_serial("rtc: today is ");
	put_dec(year);
	putc_serial('-');
	put_dec(month);
	putc_serial('-');
	put_dec(date);
	puts_serial("\nrtc: VRT set, UIP clears, date plausible\n");
	return 0;
}

/* read_data: the next byte from the controller; -1 if none comes. */
static int read_data(void)
{
	for (int i = 0; i < SPIN; i++)
		if (inb(I8042_STATUS) & STR_OBF)
			return inb(I8042_DATA);
	return -1;
}

static void flush(void)
{
	for (int i = 0; i < 64 && (inb(I8042_STATUS) & STR_OBF); i++)
		inb(I8042_DATA);
}

static int check_i8042(void)
{
	flush();
	outb(I8042_STATUS, 0xaa);
	if (read_data() != 0x55)
		return 50;
	if (!(inb(I8042_STATUS) & STR_SYS))
		return 51;
	/* Interrupts off for the rest: this guest has no handlers. */
	outb(I8042_STATUS, 0x60);
	outb(I8042_DATA, 0x44);
	outb(I8042_STATUS, 0x20);
	if (read_data() != 0x44)
		return 52;
	outb(I8042_DATA, 0xff);
	if (read_data() != 0xfa)
		return 53;
	if (read_data() != 0xaa)
		return 54;
	if (inb(I8042_STATUS) & STR_OBF)
		return 55;
	puts_serial("i8042: self-test 55, keyboard reset FA AA\n");
	return 0;
}

int main(void)
{
	volatile uint64_t *mark = (volatile uint64_t *)MARK_ADDR;
	int err;

	if (*mark != MARK) {
		err = check_rtc();
		if (!err)
			err = check_i8042();
		if (err)
			return err;
		*mark = MARK;
		outb(I8042_STATUS, 0xfe);
		for (;;)
			__asm__ volatile("pause");
	}
	*mark = 0;
	/* Power-on state again: SYS clear, the power-on command byte. */
	if (inb(I8042_STATUS) & (STR_SYS | STR_OBF))
		return 60;
	outb(I8042_STATUS, 0x20);
	if (read_data() != 0x03)
		return 61;
	if (!(cmos(RTC_REG_D) & REG_D_VRT) || (cmos(RTC_REG_A) & 0x7f) != 0x26)
		return 62;
	puts_serial("i8042: reset pulse restarted the machine\n");
	return 0;
}
