/* PCI bus 0: configuration mechanism #1 (ports 0xcf8/0xcfc), BAR
 * placement on the port-I/O and MMIO buses, INTx routing through the
 * PIIX PIRQ links, and MSI-X through KVM GSI routes and irqfds.
 * Register names and offsets follow the PCI Local Bus Specification 3.0,
 * chapter 6 ("Configuration Space"), and PCI 3.0 section 6.8.2 (MSI-X).
 *
 * A device is a struct pci_device with its config space and BARs; the PCI
 * layer owns config space, BAR placement and interrupt routing, and calls
 * the device back only for what is its own (bhyve's way). */
#ifndef DUET_PCI_H
#define DUET_PCI_H

#include <stdint.h>

#include "bus.h"

struct vm;
struct pci_device;

/* Config space registers (PCI 3.0, 6.1). */
#define PCI_VENDOR_ID 0x00
#define PCI_DEVICE_ID 0x02
#define PCI_COMMAND 0x04
#define PCI_COMMAND_IO 0x0001
#define PCI_COMMAND_MEMORY 0x0002
#define PCI_COMMAND_MASTER 0x0004
#define PCI_COMMAND_INTX_DISABLE 0x0400
#define PCI_STATUS 0x06
#define PCI_STATUS_INTERRUPT 0x0008
#define PCI_STATUS_CAP_LIST 0x0010
#define PCI_REVISION_ID 0x08
#define PCI_CLASS_PROG 0x09
#define PCI_CLASS_DEVICE 0x0a
#define PCI_HEADER_TYPE 0x0e
#define PCI_HEADER_TYPE_MULTI 0x80
#define PCI_BASE_ADDRESS_0 0x10
#define PCI_SUBSYSTEM_VENDOR_ID 0x2c
#define PCI_SUBSYSTEM_ID 0x2e
#define PCI_ROM_ADDRESS 0x30
#define PCI_CAPABILITY_LIST 0x34
#define PCI_INTERRUPT_LINE 0x3c
#define PCI_INTERRUPT_PIN 0x3d

#define PCI_BASE_ADDRESS_SPACE_IO 0x01
#define PCI_BASE_ADDRESS_MEM_TYPE_64 0x04
#define PCI_BASE_ADDRESS_MEM_PREFETCH 0x08

#define PCI_CAP_ID_VNDR 0x09
#define PCI_CAP_ID_MSIX 0x11

#define PCI_CONFIG_SIZE 256
#define PCI_NUM_BARS 6
#define PCI_MAX_DEVFN 256

#define PCI_DEVFN(slot, fn) ((uint8_t)(((slot) << 3) | (fn)))

enum pci_bar_type { PCI_BAR_NONE, PCI_BAR_IO, PCI_BAR_MEM32, PCI_BAR_MEM64 };

struct pci_bar {
	enum pci_bar_type type;
	uint64_t size;           /* a power of two */
	int prefetchable;
	const struct bus_ops *ops;
	void *opaque;
	uint64_t mapped_at;      /* where it is on its bus now, if mapped */
	int mapped;
};

/* What a device may do beyond what the PCI layer handles itself. */
struct pci_device_ops {
	/* A config write the device must see (after the generic handling);
	 * offset and size as the guest wrote them. */
	void (*config_write)(struct pci_device *dev, unsigned offset, unsigned size,
			     uint32_t value);
	/* A BAR was mapped at `addr` (or unmapped when `mapped` is 0): for
	 * ioeventfds that must follow the BAR. */
	void (*bar_moved)(struct pci_device *dev, unsigned bar, uint64_t addr, int mapped);
};

struct pci_msix;

struct pci_device {
	const char *name;
	struct vm *vm;
	uint8_t devfn;
	const struct pci_device_ops *ops;
	void *opaque;                       /* the device model's own state */

	uint8_t config[PCI_CONFIG_SIZE];
	uint8_t wmask[PCI_CONFIG_SIZE];     /* bits the guest may change */
	uint8_t w1cmask[PCI_CONFIG_SIZE];   /* bits a guest 1 clears */
	uint8_t power_on[PCI_CONFIG_SIZE];  /* config as registered: what a reset puts back */
	uint8_t cap_next;                   /* where the next capability goes */
	uint8_t *cap_link;                  /* the last capability's next field */
	struct pci_bar bars[PCI_NUM_BARS];
	int intx_level;
	struct pci_msix *msix;
};

/* pci_device_init: an endpoint (header type 0) with IDs and class code
 * (class << 16 | subclass << 8 | prog-if). */
void pci_device_init(struct pci_device *dev, const char *name, uint16_t vendor,
		     uint16_t device, uint32_t class_code, uint8_t revision);
void pci_set_subsystem(struct pci_device *dev, uint16_t vendor, uint16_t id);
/* pci_set_interrupt_pin: 1 = INTA# .. 4 = INTD#. */
void pci_set_interrupt_pin(struct pci_device *dev, uint8_t pin);
/* pci_bar_init: declare BAR `index` (a MEM64 BAR takes index and index+1). */
void pci_bar_init(struct pci_device *dev, unsigned index, enum pci_bar_type type,
		  uint64_t size, int prefetchable, const struct bus_ops *ops, void *opaque);
/* pci_add_capability: reserve `len` bytes for capability `id`, linked into
 * the list; returns its offset, or 0 when config space is full. */
uint8_t pci_add_capability(struct pci_device *dev, uint8_t id, uint8_t len);

/* pci_register: put the device on bus 0 at `devfn`, or at the first free
 * slot (function 0) when devfn < 0. -EEXIST / -ENOSPC. */
int pci_register(struct vm *vm, struct pci_device *dev, int devfn);

/* pci_bar_place: give a BAR an address and turn on decoding, as firmware
 * would (used when no BIOS runs, i.e. Linux direct boot). */
void pci_bar_place(struct pci_device *dev, unsigned index, uint64_t addr);
/* pci_assign_resources: place every BAR of every device in the standard
 * windows and enable decoding and bus mastering; the kernel boot path. */
void pci_assign_resources(struct vm *vm);

/* INTx: assert (1) or deassert (0) the device's interrupt pin. */
void pci_set_irq(struct pci_device *dev, int level);

/* MSI-X (PCI 3.0, 6.8.2): a table of `nvectors` entries in BAR `bar` at
 * `table_offset`, PBA at `pba_offset` in the same BAR. The BAR's ops must
 * hand table/PBA accesses to pci_msix_read/pci_msix_write. */
int pci_msix_init(struct pci_device *dev, unsigned nvectors, unsigned bar,
		  uint32_t table_offset, uint32_t pba_offset);
int pci_msix_enabled(const struct pci_device *dev);
/* pci_msix_notify: deliver vector `v` now, or mark it pending while it is
 * masked. Safe from any thread. */
void pci_msix_notify(struct pci_device *dev, unsigned v);
/* pci_msix_irqfd: an eventfd whose writes deliver vector v without the
 * VMM (back ends on other threads write it); -1 when v is out of range. */
int pci_msix_irqfd(struct pci_device *dev, unsigned v);
/* For BAR handlers: table/PBA accesses at `offset` within the BAR. Return
 * 1 when the access was MSI-X's. */
int pci_msix_read(struct pci_device *dev, uint64_t offset, void *data, unsigned size);
int pci_msix_write(struct pci_device *dev, uint64_t offset, const void *data,
		   unsigned size);

/* The PIRQ router (PIIX ISA bridge): maps PIRQ A-D to an ISA IRQ, or -1. */
void pci_set_pirq_router(struct vm *vm, int (*route)(void *opaque, unsigned pirq),
			 void *opaque);
/* pci_pirq_changed: the router's table changed; re-drive the lines. */
void pci_pirq_changed(struct vm *vm);

/* Raw config access for chipset code and tests. */
uint32_t pci_config_read(struct vm *vm, uint8_t devfn, unsigned offset, unsigned size);
void pci_config_write(struct vm *vm, uint8_t devfn, unsigned offset, unsigned size,
		      uint32_t value);

/* Windows for BARs when duet-vmm places them itself. */
#define PCI_IO_WINDOW_START 0xc000
#define PCI_IO_WINDOW_END 0x10000
#define PCI_MMIO_WINDOW_END 0xfec00000ULL

#endif
