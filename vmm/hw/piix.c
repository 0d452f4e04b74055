/* PIIX3 ISA bridge and PIIX4 power management, the parts of Intel's
 * 82371AB (PIIX4) datasheet a PC guest uses: PIRQ route control
 * (4.1.10, PIRQRC[A:D] at 0x60-0x63), the PM base (PMBA, 11.1.13 at 0x40),
 * PM I/O enable (PMREGMISC 0x80 bit 0), and the PM1 registers in I/O space
 * (11.2: PMSTS, PMEN, PMCNTRL, PMTMR). System control port A (0x92) gives
 * the fast reset. */
#include "hw/piix.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "device.h"
#include "log.h"
#include "pci.h"
#include "vm.h"

#define PIIX3_ISA_DEVICE 0x7000
#define PIIX4_PM_DEVICE 0x7113
#define INTEL_VENDOR 0x8086
#define PCI_CLASS_ISA_BRIDGE 0x060100
#define PCI_CLASS_BRIDGE_OTHER 0x068000

/* ISA bridge config (4.1). */
#define PIIX_PIRQRC 0x60
#define PIIX_PIRQRC_DISABLE 0x80
#define PIIX_PIRQRC_IRQ_MASK 0x0f

/* PM function config (11.1). */
#define PIIX_PMBA 0x40
#define PIIX_PMREGMISC 0x80
#define PIIX_PMIOSE 0x01
#define PIIX_SMBBA 0x90
#define PIIX_SMBHSTCFG 0xd2
/* DEVACTB (11.1.10) byte 3, bit 25 of the dword: APMC_EN, SMI on writes to
 * the APM control port 0xb2. duet has no SMM: the bit reads as already set,
 * which tells SeaBIOS SMM set-up was done (QEMU does the same with SMM
 * off) instead of it waiting forever for an SMI handler to answer. */
#define PIIX_DEVACTB_BYTE3 0x5b
#define PIIX_DEVACTB_APMC_EN 0x02

/* PM I/O registers (11.2), offsets from PMBA. */
#define PM_PMSTS 0x00
#define PM_PMEN 0x02
#define PM_PMCNTRL 0x04
#define PM_PMTMR 0x08
#define PM_GPSTS 0x0c
#define PM_GPEN 0x0e

#define PMSTS_TMROF 0x0001
#define PMSTS_GBL 0x0020
#define PMSTS_PWRBTN 0x0100
#define PMSTS_RTC 0x0400
#define PMSTS_WAK 0x8000
#define PMSTS_W1C (PMSTS_TMROF | PMSTS_GBL | PMSTS_PWRBTN | PMSTS_RTC | PMSTS_WAK | 0x0010)
#define PMEN_MASK (PMSTS_TMROF | PMSTS_GBL | PMSTS_PWRBTN | PMSTS_RTC)

#define PMCNTRL_SCI_EN 0x0001
#define PMCNTRL_SUS_TYP_SHIFT 10
#define PMCNTRL_SUS_TYP_MASK (7 << 10)
#define PMCNTRL_SUS_EN 0x2000
/* SUS_TYP 0 is soft-off on PIIX4 (11.2.3); the DSDT's _S5 says the same. */
#define PMCNTRL_SUS_TYP_SOFT_OFF 0

/* The ACPI PM timer runs at 3.579545 MHz and is 24 bits wide. */
#define PM_TIMER_HZ 3579545ULL
#define PM_TIMER_MASK 0xffffff

/* System control port A (PIIX4 4.4.5). */
#define PORT_A 0x92
#define PORT_A_FAST_RESET 0x01
#define PORT_A_A20 0x02

struct piix {
	struct vm *vm;
	struct pci_device isa;
	struct pci_device pm;
	pthread_mutex_t lock;
	uint16_t pmsts, pmen, pmcntrl;
	uint16_t gpsts, gpen;
	uint64_t pm_base;  /* where the PM block is on the I/O bus, if mapped */
	int pm_mapped;
	int sci_level;
	uint8_t port_a;
	struct timespec timer_epoch;
};

/* ---- ISA bridge: PIRQ routing ---- */

static int piix_route(void *opaque, unsigned pirq)
{
	struct piix *p = opaque;
	uint8_t r = p->isa.config[PIIX_PIRQRC + pirq];

	if (r & PIIX_PIRQRC_DISABLE)
		return -1;
	r &= PIIX_PIRQRC_IRQ_MASK;
	/* IRQs 0-2, 8 and 13 are reserved values (4.1.10). */
	if (r < 3 || r == 8 || r == 13)
		return -1;
	return r;
}

static void piix_isa_config_write(struct pci_device *dev, unsigned offset, unsigned size,
				  uint32_t value)
{
	(void)value;
	if (offset < PIIX_PIRQRC + 4 && offset + size > PIIX_PIRQRC)
		pci_pirq_changed(dev->vm);
}

static const struct pci_device_ops piix_isa_ops = {
	.config_write = piix_isa_config_write,
};

/* ---- PM ---- */

static void piix_sci_update(struct piix *p)
{
	int level = (p->pmcntrl & PMCNTRL_SCI_EN) &&
		    ((p->pmsts & p->pmen & PMEN_MASK) || (p->gpsts & p->gpen));

	if (level != p->sci_level) {
		p->sci_level = level;
		vm_irq_set(p->vm, PIIX_PM_SCI_IRQ, level);
	}
}

static uint32_t piix_pm_timer(struct piix *p)
{
	struct timespec now;
	uint64_t ns;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ns = (uint64_t)(now.tv_sec - p->timer_epoch.tv_sec) * 1000000000ULL +
	     (uint64_t)now.tv_nsec - (uint64_t)p->timer_epoch.tv_nsec;
	/* ns * 3579545 / 1e9 without overflow for centuries of uptime. */
	return (uint32_t)(((ns / 1000) * PM_TIMER_HZ / 1000000 +
			   (ns % 1000) * PM_TIMER_HZ / 1000000000) & PM_TIMER_MASK);
}

static void piix_pm_read(void *opaque, uint64_t offset, void *data, unsigned size)
{
	struct piix *p = opaque;
	uint8_t regs[16];
	uint32_t tmr;

	pthread_mutex_lock(&p->lock);
	memset(regs, 0, sizeof(regs));
	memcpy(&regs[PM_PMSTS], &p->pmsts, 2);
	memcpy(&regs[PM_PMEN], &p->pmen, 2);
	memcpy(&regs[PM_PMCNTRL], &p->pmcntrl, 2);
	tmr = piix_pm_timer(p);
	memcpy(&regs[PM_PMTMR], &tmr, 4);
	memcpy(&regs[PM_GPSTS], &p->gpsts, 2);
	memcpy(&regs[PM_GPEN], &p->gpen, 2);
	pthread_mutex_unlock(&p->lock);
	memset(data, 0, size);
	if (offset + size <= sizeof(regs))
		memcpy(data, &regs[offset], size);
}

static void piix_pm_write(void *opaque, uint64_t offset, const void *data, unsigned size)
{
	struct piix *p = opaque;
	uint32_t v = 0;
	int off = 0;

	memcpy(&v, data, size);
	pthread_mutex_lock(&p->lock);
	/* Byte accesses to the upper half of a 16-bit register shift in. */
	switch (offset & ~1ULL) {
	case PM_PMSTS:
		v <<= 8 * (offset & 1);
		p->pmsts &= (uint16_t)~(v & PMSTS_W1C);
		break;
	case PM_PMEN:
		v <<= 8 * (offset & 1);
		if (size == 1)
			v |= p->pmen & (offset & 1 ? 0x00ff : 0xff00);
		p->pmen = (uint16_t)(v & PMEN_MASK);
		break;
	case PM_PMCNTRL:
		v <<= 8 * (offset & 1);
		if (size == 1)
			v |= p->pmcntrl & (offset & 1 ? 0x00ff : 0xff00);
		if ((v & PMCNTRL_SUS_EN) &&
		    ((v & PMCNTRL_SUS_TYP_MASK) >> PMCNTRL_SUS_TYP_SHIFT) == PMCNTRL_SUS_TYP_SOFT_OFF)
			off = 1;
		p->pmcntrl = (uint16_t)(v & ~PMCNTRL_SUS_EN);
		break;
	case PM_GPSTS:
		p->gpsts &= (uint16_t)~v;
		break;
	case PM_GPEN:
		p->gpen = (uint16_t)v;
		break;
	default:
		break;
	}
	piix_sci_update(p);
	pthread_mutex_unlock(&p->lock);
	if (off) {
		log_info("guest entered S5 (soft off)");
		vm_request_poweroff(p->vm);
	}
}

static const struct bus_ops piix_pm_io_ops = {
	.read = piix_pm_read,
	.write = piix_pm_write,
};

/* piix_pm_map: follow PMBA and PMIOSE, as the chipset decodes them. */
static void piix_pm_map(struct piix *p)
{
	uint32_t pmba = (uint32_t)p->pm.config[PIIX_PMBA] |
			(uint32_t)p->pm.config[PIIX_PMBA + 1] << 8;
	uint64_t base = pmba & 0xffc0;
	int want = (p->pm.config[PIIX_PMREGMISC] & PIIX_PMIOSE) && base != 0;

	if (p->pm_mapped && (!want || base != p->pm_base)) {
		bus_unregister(&p->vm->pio, p->pm_base);
		p->pm_mapped = 0;
	}
	if (want && !p->pm_mapped) {
		if (bus_register(&p->vm->pio, base, PIIX_PM_SIZE, &piix_pm_io_ops, p, "piix-pm")) {
			log_warn("PIIX4 PM: I/O base %#llx is taken", (unsigned long long)base);
			return;
		}
		p->pm_base = base;
		p->pm_mapped = 1;
	}
}

static void piix_pm_config_write(struct pci_device *dev, unsigned offset, unsigned size,
				 uint32_t value)
{
	(void)value;
	if ((offset < PIIX_PMBA + 4 && offset + size > PIIX_PMBA) ||
	    (offset <= PIIX_PMREGMISC && offset + size > PIIX_PMREGMISC))
		piix_pm_map(dev->opaque);
}

static const struct pci_device_ops piix_pm_ops = {
	.config_write = piix_pm_config_write,
};

void piix_power_button(struct vm *vm)
{
	struct piix *p = vm->piix;

	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->pmsts |= PMSTS_PWRBTN;
	piix_sci_update(p);
	pthread_mutex_unlock(&p->lock);
}

/* ---- port 0x92 ---- */

static void piix_port_a_read(void *opaque, uint64_t offset, void *data, unsigned size)
{
	struct piix *p = opaque;

	(void)offset;
	memset(data, 0, size);
	*(uint8_t *)data = p->port_a;
}

static void piix_port_a_write(void *opaque, uint64_t offset, const void *data, unsigned size)
{
	struct piix *p = opaque;
	uint8_t v = *(const uint8_t *)data;

	(void)offset;
	(void)size;
	p->port_a = v & PORT_A_A20;
	if (v & PORT_A_FAST_RESET)
		vm_request_reset(p->vm);
}

static const struct bus_ops piix_port_a_ops = {
	.read = piix_port_a_read,
	.write = piix_port_a_write,
};

/* ---- set-up ---- */

static void piix_reset(void *opaque)
{
	struct piix *p = opaque;

	pthread_mutex_lock(&p->lock);
	for (unsigned i = 0; i < 4; i++)
		p->isa.config[PIIX_PIRQRC + i] = PIIX_PIRQRC_DISABLE;
	p->pmsts = p->pmen = p->gpsts = p->gpen = 0;
	/* ACPI mode from power-on: the FADT has no SMI command port, which
	 * tells the OS that SCI_EN is already set (ACPI 6.4, 5.2.9). */
	p->pmcntrl = PMCNTRL_SCI_EN;
	p->pm.config[PIIX_PMBA] = 0x01; /* I/O space indicator */
	p->pm.config[PIIX_PMBA + 1] = 0;
	p->pm.config[PIIX_PMREGMISC] = 0;
	p->port_a = PORT_A_A20;
	clock_gettime(CLOCK_MONOTONIC, &p->timer_epoch);
	if (p->sci_level) {
		p->sci_level = 0;
		vm_irq_set(p->vm, PIIX_PM_SCI_IRQ, 0);
	}
	piix_pm_map(p);
	pthread_mutex_unlock(&p->lock);
	pci_pirq_changed(p->vm);
}

void piix_firmware_setup(struct vm *vm)
{
	static const uint8_t pirq_irqs[4] = { 10, 10, 11, 11 };

	for (unsigned i = 0; i < 4; i++)
		pci_config_write(vm, PIIX_ISA_DEVFN, PIIX_PIRQRC + i, 1, pirq_irqs[i]);
	pci_config_write(vm, PIIX_PM_DEVFN, PIIX_PMBA, 4, PIIX_PM_DEFAULT_BASE | 1);
	pci_config_write(vm, PIIX_PM_DEVFN, PIIX_PMREGMISC, 1, PIIX_PMIOSE);
}

static void piix_free(void *opaque)
{
	struct piix *p = opaque;

	p->vm->piix = NULL;
	pthread_mutex_destroy(&p->lock);
	free(p);
}

static int piix_init(struct vm *vm)
{
	struct piix *p = calloc(1, sizeof(*p));
	int err;

	if (!p)
		return -ENOMEM;
	p->vm = vm;
	pthread_mutex_init(&p->lock, NULL);
	err = vm_on_destroy(vm, piix_free, p);
	if (err) {
		piix_free(p);
		return err;
	}

	pci_device_init(&p->isa, "piix3-isa", INTEL_VENDOR, PIIX3_ISA_DEVICE,
			PCI_CLASS_ISA_BRIDGE, 0);
	p->isa.config[PCI_HEADER_TYPE] = PCI_HEADER_TYPE_MULTI;
	p->isa.ops = &piix_isa_ops;
	p->isa.opaque = p;
	for (unsigned i = 0; i < 4; i++)
		p->isa.wmask[PIIX_PIRQRC + i] = PIIX_PIRQRC_DISABLE | PIIX_PIRQRC_IRQ_MASK;

	pci_device_init(&p->pm, "piix4-pm", INTEL_VENDOR, PIIX4_PM_DEVICE,
			PCI_CLASS_BRIDGE_OTHER, 3);
	p->pm.ops = &piix_pm_ops;
	p->pm.opaque = p;
	pci_set_interrupt_pin(&p->pm, 1);
	p->pm.wmask[PIIX_PMBA] = 0xc0;
	p->pm.wmask[PIIX_PMBA + 1] = 0xff;
	p->pm.wmask[PIIX_PMREGMISC] = PIIX_PMIOSE;
	p->pm.wmask[PIIX_SMBBA] = 0xf0;
	p->pm.wmask[PIIX_SMBBA + 1] = 0xff;
	p->pm.wmask[PIIX_SMBHSTCFG] = 0x0f;
	p->pm.config[PIIX_SMBBA] = 0x01;
	p->pm.config[PIIX_DEVACTB_BYTE3] = PIIX_DEVACTB_APMC_EN;

	if ((err = pci_register(vm, &p->isa, PIIX_ISA_DEVFN)) ||
	    (err = pci_register(vm, &p->pm, PIIX_PM_DEVFN)))
		return err;
	pci_set_pirq_router(vm, piix_route, p);
	err = bus_register(&vm->pio, PORT_A, 1, &piix_port_a_ops, p, "port-92");
	if (err)
		return err;
	vm->piix = p;
	piix_reset(p);
	return vm_on_reset(vm, piix_reset, p);
}

static const struct device_desc piix_device = {
	.name = "piix",
	.order = DEVICE_ORDER_CHIPSET,
	.init = piix_init,
};
DEVICE_REGISTER(piix_device);
