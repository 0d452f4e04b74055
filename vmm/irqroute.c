/* KVM GSI routing: the default PIC/IOAPIC routes exactly as KVM sets them
 * up before any KVM_SET_GSI_ROUTING (GSI 0-15 to a PIC pin and the IOAPIC
 * pin of the same number, 16-23 to the IOAPIC only), plus MSI routes. */
#include "irqroute.h"

#include <errno.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "log.h"
#include "vm.h"

/* Enough for every MSI-X vector of a handful of devices. */
#define IRQROUTE_MAX_MSI 256

struct irqroute {
	pthread_mutex_t lock;
	unsigned nmsi;
	struct {
		uint64_t addr;
		uint32_t data;
		int valid;
	} msi[IRQROUTE_MAX_MSI];
};

static int irqroute_commit(struct vm *vm)
{
	struct irqroute *r = vm->irqroute;
	struct kvm_irq_routing *table;
	unsigned n = 0;
	int err = 0;

	table = calloc(1, sizeof(*table) + (16 + IRQROUTE_IOAPIC_PINS + IRQROUTE_MAX_MSI) *
					     sizeof(table->entries[0]));
	if (!table)
		return -ENOMEM;
	for (unsigned i = 0; i < 16; i++) {
		table->entries[n].gsi = i;
		table->entries[n].type = KVM_IRQ_ROUTING_IRQCHIP;
		table->entries[n].u.irqchip.irqchip = i < 8 ? KVM_IRQCHIP_PIC_MASTER
							     : KVM_IRQCHIP_PIC_SLAVE;
		table->entries[n].u.irqchip.pin = i % 8;
		n++;
	}
	for (unsigned i = 0; i < IRQROUTE_IOAPIC_PINS; i++) {
		table->entries[n].gsi = i;
		table->entries[n].type = KVM_IRQ_ROUTING_IRQCHIP;
		table->entries[n].u.irqchip.irqchip = KVM_IRQCHIP_IOAPIC;
		table->entries[n].u.irqchip.pin = i;
		n++;
	}
	for (unsigned i = 0; i < r->nmsi; i++) {
		if (!r->msi[i].valid)
			continue;
		table->entries[n].gsi = IRQROUTE_IOAPIC_PINS + i;
		table->entries[n].type = KVM_IRQ_ROUTING_MSI;
		table->entries[n].u.msi.address_lo = (uint32_t)r->msi[i].addr;
		table->entries[n].u.msi.address_hi = (uint32_t)(r->msi[i].addr >> 32);
		table->entries[n].u.msi.data = r->msi[i].data;
		n++;
	}
	table->nr = n;
	if (ioctl(vm->vm_fd, KVM_SET_GSI_ROUTING, table) < 0) {
		err = -errno;
		log_error("KVM refused the interrupt routing table: %s", strerror(errno));
	}
	free(table);
	return err;
}

int irqroute_init(struct vm *vm)
{
	struct irqroute *r = calloc(1, sizeof(*r));

	if (!r)
		return -ENOMEM;
	pthread_mutex_init(&r->lock, NULL);
	vm->irqroute = r;
	return irqroute_commit(vm);
}

void irqroute_free(struct vm *vm)
{
	struct irqroute *r = vm->irqroute;

	if (!r)
		return;
	pthread_mutex_destroy(&r->lock);
	free(r);
	vm->irqroute = NULL;
}

int irqroute_alloc_msi(struct vm *vm, uint32_t *gsi)
{
	struct irqroute *r = vm->irqroute;
	int err = 0;

	pthread_mutex_lock(&r->lock);
	if (r->nmsi == IRQROUTE_MAX_MSI)
		err = -ENOSPC;
	else
		*gsi = IRQROUTE_IOAPIC_PINS + r->nmsi++;
	pthread_mutex_unlock(&r->lock);
	return err;
}

int irqroute_set_msi(struct vm *vm, uint32_t gsi, uint64_t addr, uint32_t data)
{
	struct irqroute *r = vm->irqroute;
	unsigned i = gsi - IRQROUTE_IOAPIC_PINS;
	int err;

	if (gsi < IRQROUTE_IOAPIC_PINS || i >= r->nmsi)
		return -EINVAL;
	pthread_mutex_lock(&r->lock);
	if (r->msi[i].valid && r->msi[i].addr == addr && r->msi[i].data == data) {
		pthread_mutex_unlock(&r->lock);
		return 0;
	}
	r->msi[i].addr = addr;
	r->msi[i].data = data;
	r->msi[i].valid = 1;
	err = irqroute_commit(vm);
	pthread_mutex_unlock(&r->lock);
	return err;
}
