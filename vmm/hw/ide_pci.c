/* The PIIX3 IDE function on the PCI bus, 00:01.1 (82371SB datasheet,
 * "PCI configuration registers, IDE interface"): 8086:7010, class 010180h
 * (IDE, both channels fixed in compatibility mode, bus-master capable),
 * no INTx pin (the channels use IRQ 14 and 15), the bus-master block in
 * BMIBA (BAR4, 16 bytes of I/O), and IDETIM at 40h/42h whose bit 15
 * decodes each channel's legacy ports (SeaBIOS's piix_ide_setup sets it).
 * Not a DEVICE_REGISTER device: only the BIOS boot path creates it. */
#include "hw/ide.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "block.h"
#include "log.h"
#include "pci.h"
#include "vm.h"

#define INTEL_VENDOR 0x8086
#define PIIX3_IDE_DEVICE 0x7010
#define PCI_CLASS_IDE_COMPAT_BM 0x010180
#define PIIX_IDE_BMIBA_BAR 4
#define PCI_LATENCY_TIMER 0x0d
/* IDE timing: primary at 40h-41h, secondary at 42h-43h; bit 15 (IDE)
 * enables the channel's decode. SIDETIM (44h) holds slave timings. */
#define PIIX_IDETIM 0x40
#define PIIX_IDETIM_IDE 0x8000
#define PIIX_SIDETIM 0x44

struct ide_pci {
	struct vm *vm;
	struct pci_device dev;
	struct ide *ide;
};

static uint16_t ide_pci_cfg16(const struct ide_pci *p, unsigned offset)
{
	return (uint16_t)(p->dev.config[offset] | p->dev.config[offset + 1] << 8);
}

/* ide_pci_update: a channel's legacy ports decode when both PCICMD's I/O
 * space enable and its IDETIM decode bit are set; DMA needs PCICMD's bus
 * master enable. */
static void ide_pci_update(struct ide_pci *p)
{
	uint16_t cmd = ide_pci_cfg16(p, PCI_COMMAND);

	for (unsigned c = 0; c < IDE_CHANNELS; c++)
		ide_set_legacy_decode(p->ide, c, (cmd & PCI_COMMAND_IO) &&
				      (ide_pci_cfg16(p, PIIX_IDETIM + 2 * c) & PIIX_IDETIM_IDE));
	ide_set_bus_master(p->ide, cmd & PCI_COMMAND_MASTER);
}

static bool overlaps(unsigned offset, unsigned size, unsigned start, unsigned len)
{
	return offset < start + len && offset + size > start;
}

static void ide_pci_config_write(struct pci_device *dev, unsigned offset, unsigned size,
				 uint32_t value)
{
	(void)value;
	if (overlaps(offset, size, PCI_COMMAND, 2) || overlaps(offset, size, PIIX_IDETIM, 4))
		ide_pci_update(dev->opaque);
}

static const struct pci_device_ops ide_pci_ops = {
	.config_write = ide_pci_config_write,
};

/* After the PCI layer's own reset (command register and BARs cleared):
 * IDETIM and SIDETIM back to 0, so nothing decodes until firmware says. */
static void ide_pci_reset(void *opaque)
{
	struct ide_pci *p = opaque;

	memset(&p->dev.config[PIIX_IDETIM], 0, PIIX_SIDETIM + 1 - PIIX_IDETIM);
	ide_pci_update(p);
	ide_reset(p->ide);
}

static void ide_pci_free(void *opaque)
{
	struct ide_pci *p = opaque;

	ide_free(p->ide);
	free(p);
}

int ide_create(struct vm *vm, struct block *disks[IDE_DRIVES], const int is_cdrom[IDE_DRIVES],
	       struct ide **out)
{
	const struct irq_pin irq[IDE_CHANNELS] = {
		vm_irq_pin(vm, IDE_PRIMARY_IRQ), vm_irq_pin(vm, IDE_SECONDARY_IRQ)
	};
	struct ide_pci *p = calloc(1, sizeof(*p));
	int err;

	if (!p) {
		for (unsigned i = 0; i < IDE_DRIVES; i++)
			block_close(disks ? disks[i] : NULL);
		log_error("IDE: out of memory");
		return -ENOMEM;
	}
	p->vm = vm;
	p->ide = ide_new(&vm->pio, &vm->mem, irq, disks, is_cdrom, true);
	if (!p->ide) {
		err = -errno;
		free(p);
		log_error("IDE: cannot set up the controller: %s", strerror(-err));
		return err;
	}
	err = vm_on_destroy(vm, ide_pci_free, p);
	if (err) {
		ide_pci_free(p);
		log_error("IDE: out of memory");
		return err;
	}

	pci_device_init(&p->dev, "piix3-ide", INTEL_VENDOR, PIIX3_IDE_DEVICE,
			PCI_CLASS_IDE_COMPAT_BM, 0);
	p->dev.ops = &ide_pci_ops;
	p->dev.opaque = p;
	/* PCISTS: fast back-to-back capable, medium DEVSEL timing. */
	p->dev.config[PCI_STATUS] = 0x80;
	p->dev.config[PCI_STATUS + 1] = 0x02;
	p->dev.wmask[PCI_LATENCY_TIMER] = 0xf0;
	memset(&p->dev.wmask[PIIX_IDETIM], 0xff, PIIX_SIDETIM + 1 - PIIX_IDETIM);
	pci_bar_init(&p->dev, PIIX_IDE_BMIBA_BAR, PCI_BAR_IO, IDE_BM_SIZE, 0, &ide_bm_ops,
		     p->ide);
	/* pci_register says why it failed. */
	err = pci_register(vm, &p->dev, PIIX_IDE_DEVFN);
	if (err)
		return err;
	err = vm_on_reset(vm, ide_pci_reset, p);
	if (err) {
		log_error("IDE: out of memory");
		return err;
	}
	if (out)
		*out = p->ide;
	return 0;
}
