/* The PIIX3 IDE function (Intel 82371SB, 8086:7010, 00:01.1): two ATA
 * channels at the legacy compatibility ports, IRQ 14 and 15, each with a
 * master and a slave that is an ATA disk or an ATAPI CD/DVD-ROM drive, and
 * the bus-master IDE registers (SFF-8038i) behind BAR4 for PRD-table DMA.
 * docs/ide.md says what a guest sees.
 *
 * Two layers: the controller (struct ide), which needs only a port bus,
 * guest RAM and two interrupt pins and is what the unit tests and the
 * fuzzer drive; and ide_create, the PCI function on a real VM. */
#ifndef DUET_HW_IDE_H
#define DUET_HW_IDE_H

#include <stdbool.h>
#include <stdint.h>

#include "bus.h"
#include "mem.h"
#include "pci.h"
#include "vm.h"

struct block;
struct ide;

/* Drives are numbered channel * 2 + unit: 0 primary master, 1 primary
 * slave, 2 secondary master, 3 secondary slave. */
#define IDE_DRIVES 4
#define IDE_CHANNELS 2
/* Where the CD-ROM drive sits unless the caller says otherwise: the
 * secondary master, as on QEMU's and most real PCs. */
#define IDE_DEFAULT_CDROM 2

/* Legacy compatibility ports (82371SB datasheet, "IDE interface": both
 * channels in compatibility mode, prog-if 80h) and their ISA IRQs. */
#define IDE_PRIMARY_CMD 0x1f0
#define IDE_PRIMARY_CTL 0x3f6
#define IDE_PRIMARY_IRQ 14
#define IDE_SECONDARY_CMD 0x170
#define IDE_SECONDARY_CTL 0x376
#define IDE_SECONDARY_IRQ 15
/* The bus-master block (BAR4): 8 bytes per channel. */
#define IDE_BM_SIZE 16

#define PIIX_IDE_DEVFN PCI_DEVFN(1, 1)

/* ---- the PCI function on a VM ---- */

/* ide_create: put the PIIX3 IDE function on `vm` with disks[i] as drive i
 * (NULL: no drive, or for a CD drive an empty tray). is_cdrom[i] makes
 * drive i an ATAPI CD/DVD-ROM; is_cdrom NULL means the default layout:
 * drive IDE_DEFAULT_CDROM is a CD drive, the others are disks. The
 * controller takes the back ends, whatever the outcome: it closes them at
 * vm_destroy, or at once on failure (-errno, one line logged). `out`
 * (may be NULL) receives the controller, for ide_cdrom_change. Legacy
 * ports decode once firmware sets the IDETIM decode bits, as SeaBIOS
 * does. */
int ide_create(struct vm *vm, struct block *disks[IDE_DRIVES], const int is_cdrom[IDE_DRIVES],
	       struct ide **out);

/* ---- the controller alone ---- */

/* ide_new: a controller whose ports go on `pio` (once decoded), doing DMA
 * into `mem` and raising irq[0] / irq[1] for the primary / secondary
 * channel. With `threaded`, back-end calls run on one worker thread per
 * channel while the device shows BSY; without, they run inside the port
 * access that started them (the fuzzer's deterministic mode). Takes the
 * back ends as ide_create does. NULL with errno set on failure. Every
 * device starts in its power-on state; no port decodes yet. */
struct ide *ide_new(struct bus *pio, const struct guest_mem *mem, const struct irq_pin irq[2],
		    struct block *disks[IDE_DRIVES], const int is_cdrom[IDE_DRIVES],
		    bool threaded);
/* ide_free: stop the workers, release the ports, close the back ends. */
void ide_free(struct ide *ide);

/* ide_reset: a hardware reset (RESET-): every device back to its
 * power-on state, the bus-master registers cleared; media stay. Waits
 * for a back-end call under way. */
void ide_reset(struct ide *ide);

/* ide_set_legacy_decode: decode channel `channel`'s compatibility ports or
 * not (IDETIM bit 15 and PCICMD I/O space enable, 82371SB). */
void ide_set_legacy_decode(struct ide *ide, unsigned channel, bool decode);
/* ide_set_bus_master: PCICMD bit 2; without it no DMA moves. */
void ide_set_bus_master(struct ide *ide, bool enabled);
/* The bus-master registers, for a bus range of IDE_BM_SIZE bytes whose
 * opaque is the controller (BAR4). */
extern const struct bus_ops ide_bm_ops;

/* ide_cdrom_change: put `medium` in CD drive `drive` (NULL: take the disc
 * out), as a user swapping discs: the guest sees UNIT ATTENTION and a
 * media event. The old medium is closed. -EINVAL if `drive` is no CD
 * drive (the medium is then not taken). Safe from any thread. */
int ide_cdrom_change(struct ide *ide, unsigned drive, struct block *medium);

#endif
