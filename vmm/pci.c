/* PCI bus 0: configuration mechanism #1, BARs, INTx through PIRQ links,
 * MSI-X. See pci.h. */
#include "pci.h"

#include <errno.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "device.h"
#include "irqroute.h"
#include "log.h"
#include "vm.h"

/* Configuration mechanism #1 (PCI 3.0, 3.2.2.3.2). */
#define PCI_CONFIG_ADDRESS 0xcf8
#define PCI_CONFIG_DATA 0xcfc
#define PCI_CONFIG_ENABLE 0x80000000u
/* The PIIX reset control register shares the dword at 0xcf8 (PIIX4
 * datasheet 4.1.13, RC at 0xcf9): bit 1 SRST, bit 2 RCPU. */
#define PIIX_RC_OFFSET 1
#define PIIX_RC_RCPU 0x04

#define PCI_PIRQS 4

struct pci_bus {
	struct vm *vm;
	pthread_mutex_t lock;          /* config space and routing */
	uint32_t config_address;
	uint8_t reset_control;
	struct pci_device *devices[PCI_MAX_DEVFN];
	int (*route)(void *opaque, unsigned pirq);
	void *route_opaque;
	unsigned pirq_asserted[PCI_PIRQS]; /* devices asserting each PIRQ */
	int pirq_irq[PCI_PIRQS];           /* ISA IRQ each PIRQ drives now */
};

/* MSI-X table entry layout (PCI 3.0, 6.8.2.6-9). */
#define MSIX_ENTRY_SIZE 16
#define MSIX_ENTRY_ADDR_LO 0
#define MSIX_ENTRY_ADDR_HI 4
#define MSIX_ENTRY_DATA 8
#define MSIX_ENTRY_CTRL 12
#define MSIX_ENTRY_CTRL_MASKBIT 0x1
/* Message control in the capability (6.8.2.3). */
#define MSIX_CAP_FLAGS 2
#define MSIX_FLAGS_ENABLE 0x8000
#define MSIX_FLAGS_MASKALL 0x4000
#define MSIX_CAP_TABLE 4
#define MSIX_CAP_PBA 8
#define MSIX_CAP_LEN 12
#define MSIX_MAX_VECTORS 64

struct pci_msix_vector {
	uint32_t addr_lo, addr_hi, data, ctrl;
	uint32_t gsi;
	int irqfd;
	int pending;
};

struct pci_msix {
	pthread_mutex_t lock;
	unsigned nvectors;
	unsigned bar;
	uint32_t table_offset, pba_offset;
	uint8_t cap;
	struct pci_msix_vector vec[MSIX_MAX_VECTORS];
};

/* ---- config space helpers ---- */

static void cfg_set16(uint8_t *c, unsigned off, uint16_t v)
{
	c[off] = (uint8_t)v;
	c[off + 1] = (uint8_t)(v >> 8);
}

static void cfg_set32(uint8_t *c, unsigned off, uint32_t v)
{
	for (unsigned i = 0; i < 4; i++)
		c[off + i] = (uint8_t)(v >> (8 * i));
}

static uint16_t cfg_get16(const uint8_t *c, unsigned off)
{
	return (uint16_t)(c[off] | c[off + 1] << 8);
}

static uint32_t cfg_get32(const uint8_t *c, unsigned off)
{
	return (uint32_t)c[off] | (uint32_t)c[off + 1] << 8 |
	       (uint32_t)c[off + 2] << 16 | (uint32_t)c[off + 3] << 24;
}

void pci_device_init(struct pci_device *dev, const char *name, uint16_t vendor,
		     uint16_t device, uint32_t class_code, uint8_t revision)
{
	memset(dev, 0, sizeof(*dev));
	dev->name = name;
	cfg_set16(dev->config, PCI_VENDOR_ID, vendor);
	cfg_set16(dev->config, PCI_DEVICE_ID, device);
	dev->config[PCI_REVISION_ID] = revision;
	dev->config[PCI_CLASS_PROG] = (uint8_t)class_code;
	cfg_set16(dev->config, PCI_CLASS_DEVICE, (uint16_t)(class_code >> 8));
	/* Command: I/O, memory, bus master, INTx disable are the guest's. */
	cfg_set16(dev->wmask, PCI_COMMAND,
		  PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER |
			  PCI_COMMAND_INTX_DISABLE);
	dev->wmask[PCI_INTERRUPT_LINE] = 0xff;
	dev->cap_next = 0x40;
}

void pci_set_subsystem(struct pci_device *dev, uint16_t vendor, uint16_t id)
{
	cfg_set16(dev->config, PCI_SUBSYSTEM_VENDOR_ID, vendor);
	cfg_set16(dev->config, PCI_SUBSYSTEM_ID, id);
}

void pci_set_interrupt_pin(struct pci_device *dev, uint8_t pin)
{
	dev->config[PCI_INTERRUPT_PIN] = pin;
}

void pci_bar_init(struct pci_device *dev, unsigned index, enum pci_bar_type type,
		  uint64_t size, int prefetchable, const struct bus_ops *ops, void *opaque)
{
	struct pci_bar *bar = &dev->bars[index];
	unsigned off = PCI_BASE_ADDRESS_0 + 4 * index;
	uint64_t mask = ~(size - 1);
	uint32_t low_bits = 0;

	*bar = (struct pci_bar){ type, size, prefetchable, ops, opaque, 0, 0 };
	if (type == PCI_BAR_IO) {
		low_bits = PCI_BASE_ADDRESS_SPACE_IO;
	} else {
		if (type == PCI_BAR_MEM64)
			low_bits |= PCI_BASE_ADDRESS_MEM_TYPE_64;
		if (prefetchable)
			low_bits |= PCI_BASE_ADDRESS_MEM_PREFETCH;
	}
	cfg_set32(dev->config, off, low_bits);
	cfg_set32(dev->wmask, off, (uint32_t)mask & (type == PCI_BAR_IO ? ~3u : ~15u));
	if (type == PCI_BAR_MEM64)
		cfg_set32(dev->wmask, off + 4, (uint32_t)(mask >> 32));
}

uint8_t pci_add_capability(struct pci_device *dev, uint8_t id, uint8_t len)
{
	uint8_t off = dev->cap_next;

	if (off == 0 || (unsigned)off + len > PCI_CONFIG_SIZE)
		return 0;
	dev->config[off] = id;
	dev->config[off + 1] = 0;
	if (dev->cap_link)
		*dev->cap_link = off;
	else
		dev->config[PCI_CAPABILITY_LIST] = off;
	dev->cap_link = &dev->config[off + 1];
	dev->config[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
	dev->cap_next = (uint8_t)((off + len + 3) & ~3u);
	if ((unsigned)off + len + 3 >= PCI_CONFIG_SIZE)
		dev->cap_next = 0;
	return off;
}

/* ---- BAR mapping ---- */

static uint64_t pci_bar_address(const struct pci_device *dev, unsigned i)
{
	const struct pci_bar *bar = &dev->bars[i];
	unsigned off = PCI_BASE_ADDRESS_0 + 4 * i;
	uint64_t addr = cfg_get32(dev->config, off);

	if (bar->type == PCI_BAR_IO)
		return addr & ~3ULL;
	addr &= ~15ULL;
	if (bar->type == PCI_BAR_MEM64)
		addr |= (uint64_t)cfg_get32(dev->config, off + 4) << 32;
	return addr;
}

/* pci_bar_update: map the BAR where its register points, if decoding is
 * on and the address is usable; otherwise unmap it. */
static void pci_bar_update(struct pci_device *dev, unsigned i)
{
	struct pci_bar *bar = &dev->bars[i];
	struct bus *bus = bar->type == PCI_BAR_IO ? &dev->vm->pio : &dev->vm->mmio;
	uint16_t cmd = cfg_get16(dev->config, PCI_COMMAND);
	int enabled = bar->type == PCI_BAR_IO ? (cmd & PCI_COMMAND_IO) != 0
					       : (cmd & PCI_COMMAND_MEMORY) != 0;
	uint64_t addr = pci_bar_address(dev, i);
	uint64_t limit = bar->type == PCI_BAR_IO ? 0x10000 : (bar->type == PCI_BAR_MEM32 ? 1ULL << 32 : 1ULL << 48);
	int want = enabled && addr != 0 && addr + bar->size <= limit &&
		   addr + bar->size > addr;

	if (bar->mapped && (!want || addr != bar->mapped_at)) {
		bus_unregister(bus, bar->mapped_at);
		bar->mapped = 0;
		if (dev->ops && dev->ops->bar_moved)
			dev->ops->bar_moved(dev, i, bar->mapped_at, 0);
	}
	if (want && !bar->mapped) {
		if (bus_register(bus, addr, bar->size, bar->ops, bar->opaque, dev->name)) {
			log_debug("pci %s: BAR%u at %#llx overlaps another device; left off",
				  dev->name, i, (unsigned long long)addr);
			return;
		}
		bar->mapped = 1;
		bar->mapped_at = addr;
		if (dev->ops && dev->ops->bar_moved)
			dev->ops->bar_moved(dev, i, addr, 1);
	}
}

static void pci_bars_update(struct pci_device *dev)
{
	for (unsigned i = 0; i < PCI_NUM_BARS; i++)
		if (dev->bars[i].type != PCI_BAR_NONE)
			pci_bar_update(dev, i);
}

void pci_bar_place(struct pci_device *dev, unsigned index, uint64_t addr)
{
	unsigned off = PCI_BASE_ADDRESS_0 + 4 * index;
	struct pci_bar *bar = &dev->bars[index];
	uint16_t cmd = cfg_get16(dev->config, PCI_COMMAND);

	cfg_set32(dev->config, off, (cfg_get32(dev->config, off) & (bar->type == PCI_BAR_IO ? 3u : 15u)) |
					    (uint32_t)addr);
	if (bar->type == PCI_BAR_MEM64)
		cfg_set32(dev->config, off + 4, (uint32_t)(addr >> 32));
	cmd |= bar->type == PCI_BAR_IO ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY;
	cfg_set16(dev->config, PCI_COMMAND, cmd);
	pci_bar_update(dev, index);
}

void pci_assign_resources(struct vm *vm)
{
	struct pci_bus *pb = vm->pci;
	uint64_t io = PCI_IO_WINDOW_START;
	uint64_t mmio = mem_low_end(&vm->mem);

	/* Place the largest BARs first so alignment wastes least. */
	for (int pass = 0; pass < 2; pass++) {
		for (unsigned devfn = 0; devfn < PCI_MAX_DEVFN; devfn++) {
			struct pci_device *dev = pb->devices[devfn];

			for (unsigned i = 0; dev && i < PCI_NUM_BARS; i++) {
				struct pci_bar *bar = &dev->bars[i];
				uint64_t *next;

				if (bar->type == PCI_BAR_NONE || bar->mapped)
					continue;
				if ((pass == 0) != (bar->size >= 0x100000))
					continue;
				next = bar->type == PCI_BAR_IO ? &io : &mmio;
				*next = (*next + bar->size - 1) & ~(bar->size - 1);
				if (bar->type == PCI_BAR_IO ? *next + bar->size > PCI_IO_WINDOW_END
							    : *next + bar->size > PCI_MMIO_WINDOW_END) {
					log_warn("pci %s: no room for BAR%u", dev->name, i);
					continue;
				}
				pci_bar_place(dev, i, *next);
				*next += bar->size;
			}
			if (dev)
				dev->config[PCI_COMMAND] |= PCI_COMMAND_MASTER;
		}
	}
}

/* ---- INTx ---- */

/* pci_pirq_of: the PIRQ line a device's pin lands on: PIRQ = (slot +
 * pin - 2) mod 4 with INTA# = 1, so slot 1 INTA# is PIRQA, the board
 * wiring SeaBIOS and QEMU's PC assume, and what the DSDT's _PRT says. */
static unsigned pci_pirq_of(const struct pci_device *dev)
{
	unsigned slot = dev->devfn >> 3, pin = dev->config[PCI_INTERRUPT_PIN];

	return (slot + pin + 2) & 3;
}

static void pci_drive_pirq(struct pci_bus *pb, unsigned pirq)
{
	int irq = pb->route ? pb->route(pb->route_opaque, pirq) : -1;
	int level = pb->pirq_asserted[pirq] > 0;

	if (pb->pirq_irq[pirq] >= 0 && pb->pirq_irq[pirq] != irq)
		vm_irq_set(pb->vm, (unsigned)pb->pirq_irq[pirq], 0);
	pb->pirq_irq[pirq] = irq;
	if (irq >= 0)
		vm_irq_set(pb->vm, (unsigned)irq, level);
}

void pci_set_irq(struct pci_device *dev, int level)
{
	struct pci_bus *pb = dev->vm->pci;
	unsigned pirq;
	int effective;

	if (!dev->config[PCI_INTERRUPT_PIN])
		return;
	pthread_mutex_lock(&pb->lock);
	if (level)
		dev->config[PCI_STATUS] |= PCI_STATUS_INTERRUPT;
	else
		dev->config[PCI_STATUS] &= (uint8_t)~PCI_STATUS_INTERRUPT;
	effective = level && !(cfg_get16(dev->config, PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE);
	if (effective != dev->intx_level) {
		pirq = pci_pirq_of(dev);
		dev->intx_level = effective;
		if (effective)
			pb->pirq_asserted[pirq]++;
		else
			pb->pirq_asserted[pirq]--;
		pci_drive_pirq(pb, pirq);
	}
	pthread_mutex_unlock(&pb->lock);
}

void pci_set_pirq_router(struct vm *vm, int (*route)(void *opaque, unsigned pirq),
			 void *opaque)
{
	vm->pci->route = route;
	vm->pci->route_opaque = opaque;
}

/* Called with pb->lock held (from a config write) or at set-up. */
static void pci_pirq_redrive(struct pci_bus *pb)
{
	for (unsigned i = 0; i < PCI_PIRQS; i++)
		pci_drive_pirq(pb, i);
}

void pci_pirq_changed(struct vm *vm)
{
	pci_pirq_redrive(vm->pci);
}

/* ---- MSI-X ---- */

static int msix_masked(const struct pci_device *dev, const struct pci_msix_vector *v)
{
	uint16_t flags = cfg_get16(dev->config, dev->msix->cap + MSIX_CAP_FLAGS);

	return !(flags & MSIX_FLAGS_ENABLE) || (flags & MSIX_FLAGS_MASKALL) ||
	       (v->ctrl & MSIX_ENTRY_CTRL_MASKBIT);
}

static void msix_fire(struct pci_msix_vector *v)
{
	uint64_t one = 1;

	if (write(v->irqfd, &one, sizeof(one)) < 0)
		log_warn("MSI-X: irqfd write failed: %s", strerror(errno));
}

/* msix_update: after any change to the table or the control bits, send
 * what became deliverable and refresh routes. Caller holds msix->lock. */
static void msix_update(struct pci_device *dev, unsigned i)
{
	struct pci_msix_vector *v = &dev->msix->vec[i];

	if (msix_masked(dev, v))
		return;
	irqroute_set_msi(dev->vm, v->gsi, (uint64_t)v->addr_hi << 32 | v->addr_lo, v->data);
	if (v->pending) {
		v->pending = 0;
		msix_fire(v);
	}
}

int pci_msix_init(struct pci_device *dev, unsigned nvectors, unsigned bar,
		  uint32_t table_offset, uint32_t pba_offset)
{
	struct pci_msix *m;
	uint8_t cap;

	if (nvectors == 0 || nvectors > MSIX_MAX_VECTORS)
		return -EINVAL;
	cap = pci_add_capability(dev, PCI_CAP_ID_MSIX, MSIX_CAP_LEN);
	if (!cap)
		return -ENOSPC;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	pthread_mutex_init(&m->lock, NULL);
	m->nvectors = nvectors;
	m->bar = bar;
	m->table_offset = table_offset;
	m->pba_offset = pba_offset;
	m->cap = cap;
	for (unsigned i = 0; i < nvectors; i++) {
		m->vec[i].ctrl = MSIX_ENTRY_CTRL_MASKBIT;
		m->vec[i].irqfd = -1;
	}
	cfg_set16(dev->config, cap + MSIX_CAP_FLAGS, (uint16_t)(nvectors - 1));
	cfg_set16(dev->wmask, cap + MSIX_CAP_FLAGS, MSIX_FLAGS_ENABLE | MSIX_FLAGS_MASKALL);
	cfg_set32(dev->config, cap + MSIX_CAP_TABLE, table_offset | bar);
	cfg_set32(dev->config, cap + MSIX_CAP_PBA, pba_offset | bar);
	dev->msix = m;
	return 0;
}

/* msix_connect: give every vector a GSI and an irqfd (at registration,
 * once the device has its VM). */
static int msix_connect(struct pci_device *dev)
{
	struct pci_msix *m = dev->msix;

	for (unsigned i = 0; i < m->nvectors; i++) {
		struct pci_msix_vector *v = &m->vec[i];
		struct kvm_irqfd irqfd = { 0 };
		int err = irqroute_alloc_msi(dev->vm, &v->gsi);

		if (err)
			return err;
		v->irqfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (v->irqfd < 0)
			return -errno;
		irqfd.fd = (uint32_t)v->irqfd;
		irqfd.gsi = v->gsi;
		if (ioctl(dev->vm->vm_fd, KVM_IRQFD, &irqfd) < 0) {
			log_error("pci %s: KVM refused an irqfd: %s", dev->name, strerror(errno));
			return -errno;
		}
	}
	return 0;
}

int pci_msix_enabled(const struct pci_device *dev)
{
	return dev->msix &&
	       (cfg_get16(dev->config, dev->msix->cap + MSIX_CAP_FLAGS) & MSIX_FLAGS_ENABLE);
}

void pci_msix_notify(struct pci_device *dev, unsigned i)
{
	struct pci_msix *m = dev->msix;
	struct pci_msix_vector *v;

	if (!m || i >= m->nvectors)
		return;
	v = &m->vec[i];
	pthread_mutex_lock(&m->lock);
	if (msix_masked(dev, v))
		v->pending = 1;
	else
		msix_fire(v);
	pthread_mutex_unlock(&m->lock);
}

int pci_msix_irqfd(struct pci_device *dev, unsigned i)
{
	if (!dev->msix || i >= dev->msix->nvectors)
		return -1;
	return dev->msix->vec[i].irqfd;
}

int pci_msix_read(struct pci_device *dev, uint64_t offset, void *data, unsigned size)
{
	struct pci_msix *m = dev->msix;
	uint64_t table_end, pba_end;

	if (!m)
		return 0;
	table_end = m->table_offset + (uint64_t)m->nvectors * MSIX_ENTRY_SIZE;
	pba_end = m->pba_offset + ((m->nvectors + 63) / 64) * 8;
	memset(data, 0, size);
	pthread_mutex_lock(&m->lock);
	if (offset >= m->table_offset && offset + size <= table_end) {
		uint64_t rel = offset - m->table_offset;
		const struct pci_msix_vector *v = &m->vec[rel / MSIX_ENTRY_SIZE];
		uint32_t words[4] = { v->addr_lo, v->addr_hi, v->data, v->ctrl };
		uint8_t bytes[16];

		memcpy(bytes, words, sizeof(bytes));
		/* An access may not cross an entry (6.8.2: aligned DWORD or QWORD). */
		if ((rel % MSIX_ENTRY_SIZE) + size <= MSIX_ENTRY_SIZE)
			memcpy(data, bytes + rel % MSIX_ENTRY_SIZE, size);
		pthread_mutex_unlock(&m->lock);
		return 1;
	}
	if (offset >= m->pba_offset && offset + size <= pba_end) {
		uint64_t bits = 0;
		unsigned first = (unsigned)(offset - m->pba_offset) * 8;

		for (unsigned b = 0; b < size * 8 && first + b < m->nvectors; b++)
			if (m->vec[first + b].pending)
				bits |= 1ULL << b;
		memcpy(data, &bits, size);
		pthread_mutex_unlock(&m->lock);
		return 1;
	}
	pthread_mutex_unlock(&m->lock);
	return 0;
}

int pci_msix_write(struct pci_device *dev, uint64_t offset, const void *data,
		   unsigned size)
{
	struct pci_msix *m = dev->msix;
	uint64_t table_end;

	if (!m)
		return 0;
	table_end = m->table_offset + (uint64_t)m->nvectors * MSIX_ENTRY_SIZE;
	if (offset >= m->table_offset && offset + size <= table_end) {
		uint64_t rel = offset - m->table_offset;
		unsigned idx = (unsigned)(rel / MSIX_ENTRY_SIZE), in = rel % MSIX_ENTRY_SIZE;
		struct pci_msix_vector *v = &m->vec[idx];
		uint32_t words[4];
		uint8_t bytes[16];

		if (in + size > MSIX_ENTRY_SIZE)
			return 1;
		pthread_mutex_lock(&m->lock);
		words[0] = v->addr_lo;
		words[1] = v->addr_hi;
		words[2] = v->data;
		words[3] = v->ctrl;
		memcpy(bytes, words, sizeof(bytes));
		memcpy(bytes + in, data, size);
		memcpy(words, bytes, sizeof(bytes));
		v->addr_lo = words[0];
		v->addr_hi = words[1];
		v->data = words[2];
		v->ctrl = words[3] & MSIX_ENTRY_CTRL_MASKBIT;
		msix_update(dev, idx);
		pthread_mutex_unlock(&m->lock);
		return 1;
	}
	/* The PBA is read-only (6.8.2.10). */
	return offset >= m->pba_offset && offset < m->pba_offset + ((m->nvectors + 63) / 64) * 8;
}

/* ---- config space access ---- */

static struct pci_device *pci_find(struct pci_bus *pb, uint8_t devfn)
{
	struct pci_device *dev = pb->devices[devfn];

	/* A function other than 0 only answers when function 0 says the
	 * device is multi-function (PCI 3.0, 6.2.1). */
	if (dev && (devfn & 7)) {
		struct pci_device *f0 = pb->devices[devfn & ~7];

		if (!f0 || !(f0->config[PCI_HEADER_TYPE] & PCI_HEADER_TYPE_MULTI))
			return NULL;
	}
	return dev;
}

static uint32_t pci_config_read_locked(struct pci_bus *pb, uint8_t devfn,
				       unsigned offset, unsigned size)
{
	struct pci_device *dev = pci_find(pb, devfn);
	uint32_t v = 0;

	if (!dev || offset + size > PCI_CONFIG_SIZE)
		return size == 4 ? 0xffffffffu : (1u << (8 * size)) - 1;
	for (unsigned i = 0; i < size; i++)
		v |= (uint32_t)dev->config[offset + i] << (8 * i);
	return v;
}

static void pci_config_write_locked(struct pci_bus *pb, uint8_t devfn, unsigned offset,
				    unsigned size, uint32_t value)
{
	struct pci_device *dev = pci_find(pb, devfn);
	uint16_t old_cmd;
	int bars_touched = 0, msix_touched = 0;

	if (!dev || offset + size > PCI_CONFIG_SIZE)
		return;
	old_cmd = cfg_get16(dev->config, PCI_COMMAND);
	for (unsigned i = 0; i < size; i++) {
		unsigned off = offset + i;
		uint8_t b = (uint8_t)(value >> (8 * i));

		dev->config[off] = (uint8_t)((dev->config[off] & ~dev->wmask[off]) |
					     (b & dev->wmask[off]));
		dev->config[off] &= (uint8_t)~(b & dev->w1cmask[off]);
		if (off >= PCI_BASE_ADDRESS_0 && off < PCI_BASE_ADDRESS_0 + 24)
			bars_touched = 1;
		if (dev->msix && off >= dev->msix->cap && off < (unsigned)dev->msix->cap + MSIX_CAP_LEN)
			msix_touched = 1;
	}
	if (bars_touched || cfg_get16(dev->config, PCI_COMMAND) != old_cmd)
		pci_bars_update(dev);
	if ((cfg_get16(dev->config, PCI_COMMAND) ^ old_cmd) & PCI_COMMAND_INTX_DISABLE) {
		int level = (dev->config[PCI_STATUS] & PCI_STATUS_INTERRUPT) != 0;

		pthread_mutex_unlock(&pb->lock);
		pci_set_irq(dev, level);
		pthread_mutex_lock(&pb->lock);
	}
	if (msix_touched) {
		pthread_mutex_lock(&dev->msix->lock);
		for (unsigned i = 0; i < dev->msix->nvectors; i++)
			msix_update(dev, i);
		pthread_mutex_unlock(&dev->msix->lock);
	}
	if (dev->ops && dev->ops->config_write)
		dev->ops->config_write(dev, offset, size, value);
}

uint32_t pci_config_read(struct vm *vm, uint8_t devfn, unsigned offset, unsigned size)
{
	uint32_t v;

	pthread_mutex_lock(&vm->pci->lock);
	v = pci_config_read_locked(vm->pci, devfn, offset, size);
	pthread_mutex_unlock(&vm->pci->lock);
	return v;
}

void pci_config_write(struct vm *vm, uint8_t devfn, unsigned offset, unsigned size,
		      uint32_t value)
{
	pthread_mutex_lock(&vm->pci->lock);
	pci_config_write_locked(vm->pci, devfn, offset, size, value);
	pthread_mutex_unlock(&vm->pci->lock);
}

/* ---- mechanism #1 ports ---- */

static int pci_address_decode(uint32_t address, uint8_t *devfn, unsigned *reg)
{
	if (!(address & PCI_CONFIG_ENABLE) || ((address >> 16) & 0xff) != 0)
		return 0; /* disabled, or a bus behind no bridge of ours */
	*devfn = (uint8_t)(address >> 8);
	*reg = address & 0xfc;
	return 1;
}

static void pci_io_read(void *opaque, uint64_t offset, void *data, unsigned size)
{
	struct pci_bus *pb = opaque;
	uint32_t v = 0xffffffffu;
	uint8_t devfn;
	unsigned reg;

	pthread_mutex_lock(&pb->lock);
	if (offset < 4) {
		if (offset == 0 && size == 4)
			v = pb->config_address;
		else if (offset == PIIX_RC_OFFSET && size == 1)
			v = pb->reset_control;
	} else if (pci_address_decode(pb->config_address, &devfn, &reg)) {
		unsigned in = (unsigned)offset - 4;

		if (in + size <= 4)
			v = pci_config_read_locked(pb, devfn, reg + in, size);
	}
	pthread_mutex_unlock(&pb->lock);
	memcpy(data, &v, size);
}

static void pci_io_write(void *opaque, uint64_t offset, const void *data, unsigned size)
{
	struct pci_bus *pb = opaque;
	uint32_t v = 0;
	uint8_t devfn;
	unsigned reg;
	int reset = 0;

	memcpy(&v, data, size);
	pthread_mutex_lock(&pb->lock);
	if (offset < 4) {
		if (offset == 0 && size == 4) {
			pb->config_address = v & 0x80fffffcu;
		} else if (offset == PIIX_RC_OFFSET && size == 1) {
			/* RCPU going 0->1 resets the machine (0x06 hard, 0x04 soft). */
			reset = (v & PIIX_RC_RCPU) && !(pb->reset_control & PIIX_RC_RCPU);
			pb->reset_control = (uint8_t)(v & ~PIIX_RC_RCPU);
		}
	} else if (pci_address_decode(pb->config_address, &devfn, &reg)) {
		unsigned in = (unsigned)offset - 4;

		if (in + size <= 4)
			pci_config_write_locked(pb, devfn, reg + in, size, v);
	}
	pthread_mutex_unlock(&pb->lock);
	if (reset)
		vm_request_reset(pb->vm);
}

static const struct bus_ops pci_io_ops = {
	.read = pci_io_read,
	.write = pci_io_write,
};

static void pci_msix_free(void *opaque);

int pci_register(struct vm *vm, struct pci_device *dev, int devfn)
{
	struct pci_bus *pb = vm->pci;
	int err = 0;

	pthread_mutex_lock(&pb->lock);
	if (devfn < 0) {
		for (int slot = 1; slot < 32 && devfn < 0; slot++)
			if (!pb->devices[PCI_DEVFN(slot, 0)])
				devfn = PCI_DEVFN(slot, 0);
		if (devfn < 0)
			err = -ENOSPC;
	} else if (devfn >= PCI_MAX_DEVFN || pb->devices[devfn]) {
		err = -EEXIST;
	}
	if (!err) {
		dev->vm = vm;
		dev->devfn = (uint8_t)devfn;
		memcpy(dev->power_on, dev->config, sizeof(dev->power_on));
		pb->devices[devfn] = dev;
	}
	pthread_mutex_unlock(&pb->lock);
	if (!err && dev->msix) {
		err = vm_on_destroy(vm, pci_msix_free, dev);
		if (!err)
			err = msix_connect(dev);
	}
	if (err)
		log_error("pci %s: cannot put it on the bus (%s)", dev->name, strerror(-err));
	return err;
}

static void pci_bus_reset(void *opaque)
{
	struct pci_bus *pb = opaque;

	pthread_mutex_lock(&pb->lock);
	pb->config_address = 0;
	pb->reset_control = 0;
	for (unsigned devfn = 0; devfn < PCI_MAX_DEVFN; devfn++) {
		struct pci_device *dev = pb->devices[devfn];

		if (!dev)
			continue;
		/* Every register as at power-on: decoding off, BARs cleared,
		 * and the chipset's own, such as the i440FX's PAM registers
		 * (SeaBIOS copies itself into shadow RAM only when PAM says
		 * it is not there yet). The device model resets the state
		 * behind its registers in its own hook. */
		memcpy(dev->config, dev->power_on, sizeof(dev->config));
		pci_bars_update(dev);
		if (dev->msix) {
			cfg_set16(dev->config, dev->msix->cap + MSIX_CAP_FLAGS,
				  (uint16_t)(dev->msix->nvectors - 1));
			for (unsigned i = 0; i < dev->msix->nvectors; i++) {
				dev->msix->vec[i].ctrl = MSIX_ENTRY_CTRL_MASKBIT;
				dev->msix->vec[i].pending = 0;
			}
		}
	}
	pthread_mutex_unlock(&pb->lock);
}

static void pci_bus_free(void *opaque)
{
	struct pci_bus *pb = opaque;

	pthread_mutex_destroy(&pb->lock);
	pb->vm->pci = NULL;
	free(pb);
}

/* pci_msix_free: release a device's MSI-X state. Registered by
 * pci_register, so it runs before the device model's own free hook. */
static void pci_msix_free(void *opaque)
{
	struct pci_device *dev = opaque;

	for (unsigned i = 0; i < dev->msix->nvectors; i++)
		if (dev->msix->vec[i].irqfd >= 0)
			close(dev->msix->vec[i].irqfd);
	pthread_mutex_destroy(&dev->msix->lock);
	free(dev->msix);
	dev->msix = NULL;
}

static int pci_bus_init(struct vm *vm)
{
	struct pci_bus *pb = calloc(1, sizeof(*pb));
	int err;

	if (!pb)
		return -ENOMEM;
	pthread_mutex_init(&pb->lock, NULL);
	pb->vm = vm;
	for (unsigned i = 0; i < PCI_PIRQS; i++)
		pb->pirq_irq[i] = -1;
	vm->pci = pb;
	if ((err = vm_on_destroy(vm, pci_bus_free, pb)) ||
	    (err = vm_on_reset(vm, pci_bus_reset, pb)) ||
	    (err = irqroute_init(vm)))
		return err;
	err = bus_register(&vm->pio, PCI_CONFIG_ADDRESS, 8, &pci_io_ops, pb, "pci-config");
	if (err)
		log_error("cannot claim the PCI configuration ports");
	return err;
}

static const struct device_desc pci_bus_device = {
	.name = "pci-bus",
	.order = DEVICE_ORDER_CHIPSET - 5,
	.init = pci_bus_init,
};
DEVICE_REGISTER(pci_bus_device);
