/* The CMOS real-time clock of a PC: a Motorola MC146818A at ports
 * 0x70/0x71 (0x72/0x73 for the upper 128 bytes of CMOS RAM), IRQ 8. */
#ifndef DUET_HW_RTC_H
#define DUET_HW_RTC_H

#include <stdint.h>

#include "bus.h"
#include "vm.h"

#define RTC_PORT_BASE 0x70
#define RTC_NR_PORTS 4
#define RTC_IRQ 8
#define RTC_CMOS_SIZE 256

/* CMOS bytes outside the clock that PC firmware reads; the VMM fills them
 * in with rtc_cmos_write (layout of the IBM PC/AT BIOS, as SeaBIOS and
 * QEMU use it). Multi-byte values are little-endian. */
#define RTC_CMOS_FLOPPY_TYPES 0x10  /* drive A in bits 7-4, drive B in 3-0 */
#define RTC_CMOS_EQUIPMENT 0x14     /* the BIOS equipment byte */
#define RTC_CMOS_BASE_MEM_KB 0x15   /* 0x15/0x16: conventional memory, KiB */
#define RTC_CMOS_EXT_MEM_KB 0x17    /* 0x17/0x18: memory above 1 MiB, KiB */
#define RTC_CMOS_EXT_MEM_KB2 0x30   /* 0x30/0x31: the same, up to 63 MiB */
#define RTC_CMOS_CENTURY 0x32       /* kept by the clock, like 0x00-0x09 */
#define RTC_CMOS_MEM_ABOVE_16M 0x34 /* 0x34/0x35: 16 MiB..4 GiB, 64 KiB units */
#define RTC_CMOS_MEM_ABOVE_4G 0x5b  /* 0x5b-0x5d: above 4 GiB, 64 KiB units */

struct rtc;
struct event_loop;

/* A source of wall-clock time: nanoseconds since 1970-01-01 00:00 UTC. */
typedef int64_t (*rtc_clock_fn)(void *opaque);

/* rtc_create: an RTC registered on `pio` at 0x70-0x73 raising `irq`.
 * `loop` (NULL: none) gets a timer so interrupts arrive on time; without
 * one the clock is still exact, but flags are only noticed when the guest
 * reads the chip. `clock` NULL means the host's CLOCK_REALTIME. The time
 * starts equal to the clock's (UTC). NULL if out of memory or the ports
 * are taken. */
struct rtc *rtc_create(struct bus *pio, struct irq_pin irq, struct event_loop *loop,
		       rtc_clock_fn clock, void *clock_opaque);
void rtc_free(struct rtc *rtc);

/* rtc_reset: what the chip's RESET pin does on a machine reset: interrupt
 * enables and flags cleared; time, mode and RAM kept (battery-backed). */
void rtc_reset(struct rtc *rtc);

/* rtc_set_localtime: 1 makes the clock read the host's local time (what
 * Windows expects), 0 UTC (the default). A time the guest set keeps its
 * distance from the host's clock. Call it during set-up: the host's time
 * zone (TZ, /etc/localtime) is read then, before the sandbox forbids
 * opening files; its daylight-saving switches are followed, a change of
 * the zone itself is not. */
void rtc_set_localtime(struct rtc *rtc, int localtime);

/* rtc_cmos_write / rtc_cmos_read: the VMM's access to CMOS bytes 0-255,
 * without the guest-visible side effects. Writes reach RAM bytes only
 * (-EINVAL for the clock registers 0x00-0x0d and the century); reads of a
 * clock register give its current value (register C is not cleared).
 * rtc_cmos_read returns the byte, or -EINVAL for an index above 255. */
int rtc_cmos_write(struct rtc *rtc, unsigned index, uint8_t value);
int rtc_cmos_read(struct rtc *rtc, unsigned index);

#endif
