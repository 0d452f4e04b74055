/* The Intel 82540EM Gigabit Ethernet controller (8086:100E, "e1000"), the
 * network card Windows from Vista on and every PC firmware's PXE stack
 * drive with in-box code. docs/e1000.md says what a guest sees.
 *
 * Two layers: the controller (struct e1000), which needs only guest RAM,
 * an interrupt pin and a network back end, and is what the unit tests and
 * the fuzzer drive; and e1000_create, the PCI function on a real VM. */
#ifndef DUET_HW_E1000_H
#define DUET_HW_E1000_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus.h"
#include "mem.h"
#include "net.h"
#include "pci.h"
#include "vm.h"

struct e1000;
struct event_loop;

#define E1000_MMIO_SIZE 0x20000  /* BAR0: the register space, 128 KiB */
#define E1000_IO_SIZE 0x20       /* BAR1: IOADDR/IODATA (SDM 13.2.2) */
/* The first NIC's place: the bootorder names /pci@i0cf8/ethernet@3. */
#define E1000_DEVFN PCI_DEVFN(3, 0)

/* ---- the PCI function on a VM ---- */

/* e1000_create: an 82540EM on `vm` for --net `net_spec` (tap=... or user),
 * the index'th NIC: index 0 at 00:03.0, the others at the first free
 * slot. Its MAC is the spec's mac= or net_mac_default(name, index). -errno
 * with one line logged on failure. Not a DEVICE_REGISTER device: the BIOS
 * boot path calls it. */
int e1000_create(struct vm *vm, const char *net_spec, unsigned index);

/* ---- the controller alone ---- */

/* e1000_new: a controller doing DMA into `mem`, driving `irq` (INTx: level
 * 1 asserted), with `mac` in its EEPROM, in its power-on state. With a
 * `loop`, transmit, receive restarts and the interrupt moderation timers
 * (ITR, RDTR/RADV, TIDV/TADV) and auto-negotiation run on that loop's
 * thread, as a back end wants; with NULL every piece of work runs inside
 * the register access that caused it and no interrupt is delayed (the
 * tests' and the fuzzer's deterministic mode). Bus mastering starts off.
 * NULL when out of memory. */
struct e1000 *e1000_new(const struct guest_mem *mem, struct event_loop *loop,
			struct irq_pin irq, const uint8_t mac[NET_MAC_LEN]);
/* e1000_attach: the back end frames go to, opened with e1000_receive and
 * the controller as its struct net_nic (plain frames, no vnet header).
 * The controller closes it in e1000_free. */
void e1000_attach(struct e1000 *e, struct net_backend *be);
/* e1000_free: close the back end, free the timers and the controller. */
void e1000_free(struct e1000 *e);

/* e1000_reset: power-on reset (PCI RST#): registers, PHY and EEPROM
 * interface back to their defaults, the interrupt line low. */
void e1000_reset(struct e1000 *e);
/* e1000_set_bus_master: PCI command bit 2; without it no DMA happens.
 * Takes no lock, so the PCI layer may call it under its own. */
void e1000_set_bus_master(struct e1000 *e, bool enabled);

/* e1000_receive: struct net_nic's receive: a frame for the guest (no
 * vnet header, no FCS). 0 when it was placed or dropped, -EAGAIN when the
 * receive ring had too few free descriptors: the back end holds the frame
 * until net_rx_ready, which the controller calls once the driver moves
 * RDT (or turns the receiver off or on again). */
int e1000_receive(void *opaque, const uint8_t *buf, size_t len);

/* BAR0 (E1000_MMIO_SIZE) and BAR1 (E1000_IO_SIZE); opaque is the
 * controller. Accesses of any size and alignment are taken. */
extern const struct bus_ops e1000_mmio_ops;
extern const struct bus_ops e1000_io_ops;

#endif
