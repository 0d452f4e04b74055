/* Intel 82441FX PMC (i440FX host bridge, 8086:1237) at 00:00.0. Firmware
 * reads it to recognise the board and writes the PAM registers to shadow
 * the BIOS in RAM (82441FX datasheet, 3.2.10 "PAM - Programmable Attribute
 * Map Registers", 0x59-0x5f). duet keeps the BIOS area as RAM that it
 * fills itself, so PAM settings are stored and read back but decode
 * nothing. */
#include <errno.h>
#include <stdlib.h>

#include "device.h"
#include "log.h"
#include "pci.h"
#include "vm.h"

#define I440FX_VENDOR 0x8086
#define I440FX_DEVICE 0x1237
#define I440FX_CLASS 0x060000 /* host bridge */
#define I440FX_REVISION 0x02

#define I440FX_PAM0 0x59
#define I440FX_PAM_COUNT 7
#define I440FX_PAM_MASK 0x33 /* RE/WE for each of two ranges */
#define I440FX_SMRAM 0x72

static int i440fx_init(struct vm *vm)
{
	struct pci_device *dev = calloc(1, sizeof(*dev));
	int err;

	if (!dev)
		return -ENOMEM;
	pci_device_init(dev, "i440fx", I440FX_VENDOR, I440FX_DEVICE, I440FX_CLASS,
			I440FX_REVISION);
	for (unsigned i = 0; i < I440FX_PAM_COUNT; i++)
		dev->wmask[I440FX_PAM0 + i] = I440FX_PAM_MASK;
	dev->wmask[I440FX_SMRAM] = 0x78; /* D_OPEN..G_SMRAME, never locking */
	dev->config[I440FX_SMRAM] = 0x02;
	err = vm_on_destroy(vm, free, dev);
	if (err) {
		free(dev);
		return err;
	}
	return pci_register(vm, dev, PCI_DEVFN(0, 0));
}

static const struct device_desc i440fx_device = {
	.name = "i440fx",
	.order = DEVICE_ORDER_CHIPSET,
	.init = i440fx_init,
};
DEVICE_REGISTER(i440fx_device);
