/* Motorola MC146818A real-time clock plus RAM. Registers and bits are named
 * as in the MC146818A data sheet (Motorola, "Address Map" and "Registers");
 * the PC wiring (index port 0x70 with the NMI mask in bit 7, IRQ 8, the
 * century in byte 0x32, the upper 128 bytes at 0x72/0x73) follows the
 * IBM PC/AT and the Intel PIIX4/ICH.
 *
 * Nothing counts here: the time is computed when it is asked for, from a
 * wall clock plus the offset the guest's last setting left behind, and
 * the interrupt flags are brought up to date at every access (and by one
 * timer armed for whichever enabled interrupt is due next). */
#include "hw/rtc.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "device.h"
#include "event.h"
#include "log.h"

/* Ports, as offsets from 0x70. */
#define RTC_INDEX 0     /* bits 6-0 select a byte; bit 7 masks NMI */
#define RTC_DATA 1
#define RTC_EXT_INDEX 2 /* bits 6-0 select byte 0x80 + n (upper bank) */
#define RTC_EXT_DATA 3
#define RTC_INDEX_MASK 0x7f
#define RTC_UPPER_BANK 0x80

/* Address map: the time, calendar and alarm bytes, then registers A-D. */
#define RTC_SECONDS 0x00
#define RTC_SECONDS_ALARM 0x01
#define RTC_MINUTES 0x02
#define RTC_MINUTES_ALARM 0x03
#define RTC_HOURS 0x04
#define RTC_HOURS_ALARM 0x05
#define RTC_DAY_OF_WEEK 0x06
#define RTC_DATE_OF_MONTH 0x07
#define RTC_MONTH 0x08
#define RTC_YEAR 0x09
#define RTC_REG_A 0x0a
#define RTC_REG_B 0x0b
#define RTC_REG_C 0x0c
#define RTC_REG_D 0x0d
#define RTC_NVRAM 0x0e /* the first byte of plain RAM */

/* Register A ("Register A ($0A)"). */
#define REG_A_UIP 0x80     /* update in progress, read-only */
#define REG_A_DV_MASK 0x70 /* DV2-DV0: time base / divider reset (Table 4) */
#define REG_A_DV_32KHZ 0x20
#define REG_A_RS_MASK 0x0f /* RS3-RS0: periodic interrupt rate */
#define REG_A_POWER_ON 0x26 /* 32.768 kHz, 1024 Hz: what PC firmware sets */

/* Register B ("Register B ($0B)"). */
#define REG_B_SET 0x80   /* stop updates while the time is written */
#define REG_B_PIE 0x40   /* periodic interrupt enable */
#define REG_B_AIE 0x20   /* alarm interrupt enable */
#define REG_B_UIE 0x10   /* update-ended interrupt enable */
#define REG_B_SQWE 0x08  /* square-wave enable (no pin here) */
#define REG_B_DM 0x04    /* data mode: 1 binary, 0 BCD */
#define REG_B_24_12 0x02 /* 1: 24-hour, 0: 12-hour with PM in bit 7 */
#define REG_B_DSE 0x01   /* daylight savings enable (stored, see below) */
#define REG_B_POWER_ON REG_B_24_12

/* Register C ("Register C ($0C)"): read-only, cleared by reading. */
#define REG_C_IRQF 0x80
#define REG_C_PF 0x40
#define REG_C_AF 0x20
#define REG_C_UF 0x10
#define REG_C_FLAGS (REG_C_PF | REG_C_AF | REG_C_UF)
/* Each flag lines up with its enable bit in register B. */
#define REG_B_ENABLES (REG_B_PIE | REG_B_AIE | REG_B_UIE)

/* Register D ("Register D ($0D)"): valid RAM and time. */
#define REG_D_VRT 0x80

#define RTC_HOUR_PM 0x80
#define RTC_ALARM_DONT_CARE 0xc0 /* "don't care" alarm bytes are 11xxxxxx */

#define NS_PER_S 1000000000LL
#define SECONDS_PER_DAY 86400
#define RTC_TIMEBASE_HZ 32768
/* Table 6, "Update Cycle Times", 32.768 kHz time base: UIP rises 244 us
 * before an update, which lasts 1984 us. */
#define RTC_UIP_LEAD_NS 244141
#define RTC_UPDATE_CYCLE_NS 1984000
#define RTC_NEVER INT64_MAX

/* Whatever a guest writes, the clock stays within 1900-01-01 and
 * 2199-12-31 (seconds since 1970): a century byte and a year byte hold
 * more, but nanoseconds in an int64 do not. */
#define RTC_TIME_MIN (-2208988800LL)
#define RTC_TIME_MAX 7258118399LL

struct rtc {
	pthread_mutex_t lock;
	struct irq_pin irq;
	int irq_level;
	struct event_timer *timer; /* NULL without an event loop */
	rtc_clock_fn clock;
	void *clock_opaque;
	int localtime;

	uint8_t index;     /* last write to 0x70, NMI mask bit included */
	uint8_t ext_index; /* last write to 0x72 */
	/* The RAM, registers A-D, and the time bytes while the clock stands
	 * still (SET, divider reset); while it runs they are computed. */
	uint8_t cmos[RTC_CMOS_SIZE];

	int64_t offset_ns;     /* guest time minus host time */
	int64_t last_update_s; /* guest second of the last update cycle seen */
	int64_t next_alarm_s;  /* first second after that the alarm matches */
	int64_t last_period;   /* periodic-interrupt tick last seen */
};

static int64_t floor_div(int64_t a, int64_t b)
{
	return a / b - (a % b < 0);
}

static int64_t floor_mod(int64_t a, int64_t b)
{
	return a % b + (a % b < 0 ? b : 0);
}

static int64_t rtc_host_clock(void *opaque)
{
	struct timespec ts;

	(void)opaque;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

static int64_t rtc_now(const struct rtc *r)
{
	return r->clock(r->clock_opaque);
}

/* rtc_zone_ns: how far the host's local time is ahead of UTC, when the
 * clock keeps local time. */
static int64_t rtc_zone_ns(const struct rtc *r, int64_t host_ns)
{
	time_t t = (time_t)floor_div(host_ns, NS_PER_S);
	struct tm tm;

	if (!r->localtime || !localtime_r(&t, &tm))
		return 0;
	return (int64_t)tm.tm_gmtoff * NS_PER_S;
}

static int64_t rtc_guest_ns(const struct rtc *r, int64_t host_ns)
{
	return host_ns + rtc_zone_ns(r, host_ns) + r->offset_ns;
}

/* The divider runs for the three time bases of Table 4 (DV 000, 001,
 * 010); a PC's crystal is always the 32.768 kHz one, so, as QEMU does, the
 * clock runs at that rate for all three. 011-101 are factory test modes
 * and 11x holds the divider in reset: the clock stands still. */
static bool rtc_divider_running(const struct rtc *r)
{
	return (r->cmos[RTC_REG_A] & REG_A_DV_MASK) <= REG_A_DV_32KHZ;
}

/* SET inhibits update cycles: the time stands still while it is set. */
static bool rtc_clock_running(const struct rtc *r)
{
	return rtc_divider_running(r) && !(r->cmos[RTC_REG_B] & REG_B_SET);
}

/* rtc_period_ticks: the periodic interrupt's period in 32.768 kHz ticks
 * (the data sheet's periodic interrupt rate table): RS 0 is off, 1 and 2
 * repeat 8 and 9 (256 and 128 Hz), 3-15 run from 8192 Hz down to 2 Hz. */
static int64_t rtc_period_ticks(const struct rtc *r)
{
	unsigned rs = r->cmos[RTC_REG_A] & REG_A_RS_MASK;

	if (!rs)
		return 0;
	if (rs <= 2)
		rs += 7;
	return 1LL << (rs - 1);
}

/* rtc_ticks: 32.768 kHz ticks in `ns`; rtc_tick_ns: the first nanosecond
 * by which `ticks` ticks have passed. */
static int64_t rtc_ticks(int64_t ns)
{
	return floor_div(ns, NS_PER_S) * RTC_TIMEBASE_HZ +
	       floor_mod(ns, NS_PER_S) * RTC_TIMEBASE_HZ / NS_PER_S;
}

static int64_t rtc_tick_ns(int64_t ticks)
{
	return floor_div(ticks, RTC_TIMEBASE_HZ) * NS_PER_S +
	       (floor_mod(ticks, RTC_TIMEBASE_HZ) * NS_PER_S + RTC_TIMEBASE_HZ - 1) /
		       RTC_TIMEBASE_HZ;
}

/* Time, calendar and alarm bytes are BCD or binary by register B's DM
 * (the data sheet's "Time, Calendar, and Alarm Data Modes" table). */
static uint8_t rtc_to_reg(const struct rtc *r, unsigned v)
{
	if (r->cmos[RTC_REG_B] & REG_B_DM)
		return (uint8_t)v;
	return (uint8_t)((v / 10) << 4 | v % 10);
}

/* A byte that is not valid BCD decodes to up to 165; the time it makes is
 * normalised by timegm and clamped, so any byte is safe. */
static unsigned rtc_from_reg(const struct rtc *r, uint8_t v)
{
	if (r->cmos[RTC_REG_B] & REG_B_DM)
		return v;
	return (v >> 4) * 10u + (v & 0x0f);
}

static uint8_t rtc_hour_to_reg(const struct rtc *r, unsigned hour)
{
	unsigned h12 = hour % 12 ? hour % 12 : 12;

	if (r->cmos[RTC_REG_B] & REG_B_24_12)
		return rtc_to_reg(r, hour);
	return rtc_to_reg(r, h12) | (hour >= 12 ? RTC_HOUR_PM : 0);
}

static unsigned rtc_hour_from_reg(const struct rtc *r, uint8_t v)
{
	if (r->cmos[RTC_REG_B] & REG_B_24_12)
		return rtc_from_reg(r, v);
	return rtc_from_reg(r, v & ~RTC_HOUR_PM) % 12 + (v & RTC_HOUR_PM ? 12 : 0);
}

static bool rtc_is_time_reg(unsigned index)
{
	switch (index) {
	case RTC_SECONDS:
	case RTC_MINUTES:
	case RTC_HOURS:
	case RTC_DAY_OF_WEEK:
	case RTC_DATE_OF_MONTH:
	case RTC_MONTH:
	case RTC_YEAR:
	case RTC_CMOS_CENTURY:
		return true;
	default:
		return false;
	}
}

/* rtc_time_to_regs: fill the time bytes of `regs` (indexed like CMOS)
 * for guest second `s`, in the current data mode. */
static void rtc_time_to_regs(const struct rtc *r, int64_t s, uint8_t *regs)
{
	time_t t = (time_t)s;
	struct tm tm;
	unsigned year;

	gmtime_r(&t, &tm);
	year = (unsigned)tm.tm_year + 1900;
	regs[RTC_SECONDS] = rtc_to_reg(r, (unsigned)tm.tm_sec);
	regs[RTC_MINUTES] = rtc_to_reg(r, (unsigned)tm.tm_min);
	regs[RTC_HOURS] = rtc_hour_to_reg(r, (unsigned)tm.tm_hour);
	regs[RTC_DAY_OF_WEEK] = rtc_to_reg(r, (unsigned)tm.tm_wday + 1); /* Sunday=1 */
	regs[RTC_DATE_OF_MONTH] = rtc_to_reg(r, (unsigned)tm.tm_mday);
	regs[RTC_MONTH] = rtc_to_reg(r, (unsigned)tm.tm_mon + 1);
	regs[RTC_YEAR] = rtc_to_reg(r, year % 100);
	regs[RTC_CMOS_CENTURY] = rtc_to_reg(r, year / 100);
}

/* rtc_regs_to_time: the guest second the stored time bytes name. The day
 * of the week is ignored: the date decides it. */
static int64_t rtc_regs_to_time(const struct rtc *r)
{
	const uint8_t *c = r->cmos;
	struct tm tm = {
		.tm_sec = (int)rtc_from_reg(r, c[RTC_SECONDS]),
		.tm_min = (int)rtc_from_reg(r, c[RTC_MINUTES]),
		.tm_hour = (int)rtc_hour_from_reg(r, c[RTC_HOURS]),
		.tm_mday = (int)rtc_from_reg(r, c[RTC_DATE_OF_MONTH]),
		.tm_mon = (int)rtc_from_reg(r, c[RTC_MONTH]) - 1,
		.tm_year = (int)(rtc_from_reg(r, c[RTC_CMOS_CENTURY]) * 100 +
				 rtc_from_reg(r, c[RTC_YEAR])) - 1900,
	};
	int64_t t = (int64_t)timegm(&tm);

	if (t < RTC_TIME_MIN)
		return RTC_TIME_MIN;
	return t > RTC_TIME_MAX ? RTC_TIME_MAX : t;
}

static bool rtc_alarm_matches(uint8_t alarm, uint8_t now)
{
	return (alarm & RTC_ALARM_DONT_CARE) == RTC_ALARM_DONT_CARE || alarm == now;
}

/* rtc_next_alarm: the first guest second after `after` whose hours,
 * minutes and seconds match the alarm bytes ("Alarm Interrupt"). They
 * repeat every day, so one day is searched; hours and minutes that cannot
 * match are skipped whole. */
static int64_t rtc_next_alarm(const struct rtc *r, int64_t after)
{
	int64_t t = after + 1, end = t + SECONDS_PER_DAY;

	while (t < end) {
		int64_t sod = floor_mod(t, SECONDS_PER_DAY);
		unsigned h = (unsigned)(sod / 3600), m = (unsigned)(sod / 60 % 60);
		unsigned s = (unsigned)(sod % 60);

		if (!rtc_alarm_matches(r->cmos[RTC_HOURS_ALARM], rtc_hour_to_reg(r, h)))
			t += 3600 - sod % 3600;
		else if (!rtc_alarm_matches(r->cmos[RTC_MINUTES_ALARM], rtc_to_reg(r, m)))
			t += 60 - s;
		else if (!rtc_alarm_matches(r->cmos[RTC_SECONDS_ALARM], rtc_to_reg(r, s)))
			t++;
		else
			return t;
	}
	return RTC_NEVER;
}

/* rtc_update_irq: IRQF = PF·PIE + AF·AIE + UF·UIE ("Register C"); the
 * IRQ line follows IRQF, so it stays up until the guest reads register C,
 * as Linux's rtc-cmos and Windows' HAL both do in their handlers. The line
 * is an ISA edge input: lowering it on that read lets the next flag make
 * a new edge. */
static void rtc_update_irq(struct rtc *r)
{
	uint8_t c = r->cmos[RTC_REG_C] & REG_C_FLAGS;
	int level;

	if (c & r->cmos[RTC_REG_B] & REG_B_ENABLES)
		c |= REG_C_IRQF;
	r->cmos[RTC_REG_C] = c;
	level = !!(c & REG_C_IRQF);
	if (level != r->irq_level) {
		r->irq_level = level;
		irq_pin_set(&r->irq, level);
	}
}

/* rtc_catch_up: set the flags for every periodic tick, update cycle and
 * alarm that has come since the last look. Flags are set whether or not
 * their interrupt is enabled. */
static void rtc_catch_up(struct rtc *r, int64_t host_ns)
{
	int64_t period = rtc_period_ticks(r);

	if (period && rtc_divider_running(r)) {
		int64_t tick = floor_div(rtc_ticks(host_ns), period);

		if (tick != r->last_period) {
			r->cmos[RTC_REG_C] |= REG_C_PF;
			r->last_period = tick;
		}
	}
	if (rtc_clock_running(r)) {
		int64_t s = floor_div(rtc_guest_ns(r, host_ns), NS_PER_S);

		if (s > r->last_update_s) {
			r->cmos[RTC_REG_C] |= REG_C_UF;
			if (r->next_alarm_s <= s)
				r->cmos[RTC_REG_C] |= REG_C_AF;
		}
		/* (s can go back when the host's clock is stepped back.) */
		if (s != r->last_update_s) {
			if (s < r->last_update_s || r->next_alarm_s <= s)
				r->next_alarm_s = rtc_next_alarm(r, s);
			r->last_update_s = s;
		}
	}
	rtc_update_irq(r);
}

static void rtc_restart_periodic(struct rtc *r, int64_t host_ns)
{
	int64_t period = rtc_period_ticks(r);

	r->last_period = period ? floor_div(rtc_ticks(host_ns), period) : 0;
}

/* rtc_schedule: arm the timer for the next interrupt that is enabled and
 * not already pending (while IRQF is up, the next comes after register C
 * is read, which reschedules). */
static void rtc_schedule(struct rtc *r, int64_t host_ns)
{
	uint8_t b = r->cmos[RTC_REG_B];
	int64_t period = rtc_period_ticks(r), due = RTC_NEVER;

	if (!r->timer)
		return;
	if (!r->irq_level) {
		if ((b & REG_B_PIE) && period && rtc_divider_running(r))
			due = rtc_tick_ns((r->last_period + 1) * period);
		if (rtc_clock_running(r)) {
			int64_t guest_to_host = host_ns - rtc_guest_ns(r, host_ns);
			int64_t update = (r->last_update_s + 1) * NS_PER_S + guest_to_host;

			if ((b & REG_B_UIE) && update < due)
				due = update;
			if ((b & REG_B_AIE) && r->next_alarm_s != RTC_NEVER &&
			    r->next_alarm_s * NS_PER_S + guest_to_host < due)
				due = r->next_alarm_s * NS_PER_S + guest_to_host;
		}
	}
	if (due == RTC_NEVER)
		event_timer_arm(r->timer, 0, 0);
	else
		event_timer_arm(r->timer, due > host_ns ? (uint64_t)(due - host_ns) : 1, 0);
}

/* rtc_freeze: the clock stops; its time goes into the time bytes, where
 * the guest can read and rewrite it. */
static void rtc_freeze(struct rtc *r, int64_t host_ns)
{
	rtc_time_to_regs(r, floor_div(rtc_guest_ns(r, host_ns), NS_PER_S), r->cmos);
}

/* rtc_thaw: the clock runs again from the time bytes. SET does not stop
 * the divider, so the fraction of a second carries on; out of divider
 * reset the first update comes half a second later (register A, DV). */
static void rtc_thaw(struct rtc *r, int64_t host_ns, bool divider_restarted)
{
	int64_t s = rtc_regs_to_time(r);
	int64_t frac = divider_restarted ? NS_PER_S / 2
					 : floor_mod(rtc_guest_ns(r, host_ns), NS_PER_S);

	r->offset_ns = s * NS_PER_S + frac - host_ns - rtc_zone_ns(r, host_ns);
	r->last_update_s = s;
	r->next_alarm_s = rtc_next_alarm(r, s);
}

/* UIP is up from 244 us before an update to the end of it (Table 6). */
static bool rtc_update_in_progress(const struct rtc *r, int64_t host_ns)
{
	int64_t frac;

	if (!rtc_clock_running(r))
		return false;
	frac = floor_mod(rtc_guest_ns(r, host_ns), NS_PER_S);
	return frac >= NS_PER_S - RTC_UIP_LEAD_NS || frac < RTC_UPDATE_CYCLE_NS;
}

static uint8_t rtc_reg_read(struct rtc *r, unsigned index, int64_t host_ns,
			    bool clear_flags)
{
	uint8_t regs[RTC_CMOS_CENTURY + 1], v;

	switch (index) {
	case RTC_REG_A:
		return r->cmos[RTC_REG_A] |
		       (rtc_update_in_progress(r, host_ns) ? REG_A_UIP : 0);
	case RTC_REG_C:
		v = r->cmos[RTC_REG_C];
		if (clear_flags) {
			r->cmos[RTC_REG_C] = 0;
			rtc_update_irq(r);
		}
		return v;
	case RTC_REG_D:
		return REG_D_VRT;
	}
	if (!rtc_is_time_reg(index) || !rtc_clock_running(r))
		return r->cmos[index];
	rtc_time_to_regs(r, floor_div(rtc_guest_ns(r, host_ns), NS_PER_S), regs);
	return regs[index];
}

static void rtc_reg_write(struct rtc *r, unsigned index, uint8_t v, int64_t host_ns)
{
	bool was_dividing = rtc_divider_running(r), was_running = rtc_clock_running(r);
	uint8_t old_a = r->cmos[RTC_REG_A];

	switch (index) {
	case RTC_REG_A:
		r->cmos[RTC_REG_A] = v & (uint8_t)~REG_A_UIP;
		break;
	case RTC_REG_B:
		/* "UIE ... is cleared when the SET bit goes high." DSE is kept
		 * but not acted on: PC firmware leaves it clear and guests
		 * (Windows included) apply daylight saving themselves. */
		if (v & REG_B_SET)
			v &= (uint8_t)~REG_B_UIE;
		r->cmos[RTC_REG_B] = v;
		break;
	case RTC_REG_C:
	case RTC_REG_D:
		return; /* read-only */
	default:
		if (rtc_is_time_reg(index) && was_running) {
			/* Written while running: takes effect at once. */
			rtc_freeze(r, host_ns);
			r->cmos[index] = v;
			rtc_thaw(r, host_ns, false);
		} else {
			/* An alarm byte, RAM, or time bytes of a stopped clock;
			 * `index` is below 256 (masked by the port handlers). */
			r->cmos[index] = v;
			if (was_running && index <= RTC_HOURS_ALARM)
				r->next_alarm_s = rtc_next_alarm(r, r->last_update_s);
		}
		return;
	}
	/* Register A or B: the clock may have stopped or started, the data
	 * mode (which alarm bytes are compared in) or the rate changed. */
	if (was_running && !rtc_clock_running(r))
		rtc_freeze(r, host_ns);
	else if (!was_running && rtc_clock_running(r))
		rtc_thaw(r, host_ns, !was_dividing);
	else if (was_running)
		r->next_alarm_s = rtc_next_alarm(r, r->last_update_s);
	if ((!was_dividing && rtc_divider_running(r)) ||
	    ((old_a ^ r->cmos[RTC_REG_A]) & REG_A_RS_MASK))
		rtc_restart_periodic(r, host_ns);
}

static uint8_t rtc_port_read(struct rtc *r, unsigned port, int64_t host_ns)
{
	switch (port) {
	case RTC_INDEX:
		return r->index;
	case RTC_DATA:
		return rtc_reg_read(r, r->index & RTC_INDEX_MASK, host_ns, true);
	case RTC_EXT_INDEX:
		return r->ext_index;
	default:
		return r->cmos[RTC_UPPER_BANK | (r->ext_index & RTC_INDEX_MASK)];
	}
}

static void rtc_port_write(struct rtc *r, unsigned port, uint8_t v, int64_t host_ns)
{
	switch (port) {
	case RTC_INDEX:
		/* The NMI mask bit is kept so it reads back; nothing in the
		 * VMM raises the NMIs (parity, I/O check) it would mask. */
		r->index = v;
		break;
	case RTC_DATA:
		rtc_reg_write(r, r->index & RTC_INDEX_MASK, v, host_ns);
		break;
	case RTC_EXT_INDEX:
		r->ext_index = v;
		break;
	default:
		r->cmos[RTC_UPPER_BANK | (r->ext_index & RTC_INDEX_MASK)] = v;
		break;
	}
}

/* A wider access (outw 0x70) reaches consecutive ports, one byte each;
 * the bus keeps it within the four ports. */
static void rtc_io_read(void *opaque, uint64_t offset, void *data, unsigned size)
{
	struct rtc *r = opaque;
	uint8_t *out = data;
	int64_t now;

	pthread_mutex_lock(&r->lock);
	now = rtc_now(r);
	rtc_catch_up(r, now);
	for (unsigned i = 0; i < size; i++)
		out[i] = rtc_port_read(r, (unsigned)(offset + i) % RTC_NR_PORTS, now);
	rtc_schedule(r, now);
	pthread_mutex_unlock(&r->lock);
}

static void rtc_io_write(void *opaque, uint64_t offset, const void *data, unsigned size)
{
	struct rtc *r = opaque;
	const uint8_t *in = data;
	int64_t now;

	pthread_mutex_lock(&r->lock);
	now = rtc_now(r);
	rtc_catch_up(r, now);
	for (unsigned i = 0; i < size; i++)
		rtc_port_write(r, (unsigned)(offset + i) % RTC_NR_PORTS, in[i], now);
	rtc_update_irq(r);
	rtc_schedule(r, now);
	pthread_mutex_unlock(&r->lock);
}

static const struct bus_ops rtc_ops = {
	.read = rtc_io_read,
	.write = rtc_io_write,
};

static void rtc_timer_fired(void *opaque)
{
	struct rtc *r = opaque;
	int64_t now;

	pthread_mutex_lock(&r->lock);
	now = rtc_now(r);
	rtc_catch_up(r, now);
	rtc_schedule(r, now);
	pthread_mutex_unlock(&r->lock);
}

struct rtc *rtc_create(struct bus *pio, struct irq_pin irq, struct event_loop *loop,
		       rtc_clock_fn clock, void *clock_opaque)
{
	struct rtc *r = calloc(1, sizeof(*r));
	int64_t now;

	if (!r)
		return NULL;
	pthread_mutex_init(&r->lock, NULL);
	r->irq = irq;
	r->clock = clock ? clock : rtc_host_clock;
	r->clock_opaque = clock_opaque;
	r->cmos[RTC_REG_A] = REG_A_POWER_ON;
	r->cmos[RTC_REG_B] = REG_B_POWER_ON;
	r->cmos[RTC_REG_D] = REG_D_VRT;
	/* glibc reads the zone file on its first time conversion, gmtime_r
	 * included: have it do so now, during set-up, not later inside the
	 * seccomp sandbox, which forbids opening files. */
	tzset();
	now = rtc_now(r);
	r->last_update_s = floor_div(rtc_guest_ns(r, now), NS_PER_S);
	r->next_alarm_s = rtc_next_alarm(r, r->last_update_s);
	rtc_restart_periodic(r, now);
	if (loop) {
		r->timer = event_timer_create(loop, rtc_timer_fired, r);
		if (!r->timer)
			goto fail;
	}
	if (bus_register(pio, RTC_PORT_BASE, RTC_NR_PORTS, &rtc_ops, r, "rtc"))
		goto fail;
	return r;
fail:
	rtc_free(r);
	return NULL;
}

void rtc_free(struct rtc *r)
{
	if (!r)
		return;
	event_timer_free(r->timer);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

void rtc_reset(struct rtc *r)
{
	int64_t now;

	pthread_mutex_lock(&r->lock);
	now = rtc_now(r);
	rtc_catch_up(r, now);
	r->cmos[RTC_REG_B] &= (uint8_t)~(REG_B_ENABLES | REG_B_SQWE);
	r->cmos[RTC_REG_C] = 0;
	r->index = 0;
	r->ext_index = 0;
	rtc_update_irq(r);
	rtc_schedule(r, now);
	pthread_mutex_unlock(&r->lock);
}

void rtc_set_localtime(struct rtc *r, int localtime)
{
	int64_t now;

	tzset(); /* the host's zone as it is now (see rtc_create) */
	pthread_mutex_lock(&r->lock);
	now = rtc_now(r);
	rtc_catch_up(r, now);
	r->localtime = !!localtime;
	/* The time jumps by the zone's offset: no update cycle happened. */
	r->last_update_s = floor_div(rtc_guest_ns(r, now), NS_PER_S);
	r->next_alarm_s = rtc_next_alarm(r, r->last_update_s);
	rtc_schedule(r, now);
	pthread_mutex_unlock(&r->lock);
}

int rtc_cmos_write(struct rtc *r, unsigned index, uint8_t value)
{
	if (index >= RTC_CMOS_SIZE || index < RTC_NVRAM || index == RTC_CMOS_CENTURY)
		return -EINVAL;
	pthread_mutex_lock(&r->lock);
	r->cmos[index] = value;
	pthread_mutex_unlock(&r->lock);
	return 0;
}

int rtc_cmos_read(struct rtc *r, unsigned index)
{
	int64_t now;
	uint8_t v;

	if (index >= RTC_CMOS_SIZE)
		return -EINVAL;
	pthread_mutex_lock(&r->lock);
	now = rtc_now(r);
	rtc_catch_up(r, now);
	v = rtc_reg_read(r, index, now, false);
	rtc_schedule(r, now);
	pthread_mutex_unlock(&r->lock);
	return v;
}

static void rtc_cleanup(void *opaque)
{
	rtc_free(opaque);
}

static void rtc_reset_hook(void *opaque)
{
	rtc_reset(opaque);
}

static int rtc_init(struct vm *vm)
{
	struct rtc *r = rtc_create(&vm->pio, vm_irq_pin(vm, RTC_IRQ), vm->loop, NULL, NULL);

	if (!r || vm_on_destroy(vm, rtc_cleanup, r)) {
		rtc_free(r);
		log_error("cannot set up the CMOS clock at %#x", RTC_PORT_BASE);
		return -ENOMEM;
	}
	vm->rtc = r;
	if (vm_on_reset(vm, rtc_reset_hook, r)) {
		log_error("cannot set up the CMOS clock's reset");
		return -ENOMEM;
	}
	return 0;
}

static const struct device_desc rtc_device = {
	.name = "rtc",
	.order = DEVICE_ORDER_LEGACY,
	.init = rtc_init,
};
DEVICE_REGISTER(rtc_device);
