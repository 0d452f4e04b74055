/* KVM's GSI routing table: the default ISA/IOAPIC routes plus one MSI route
 * per MSI-X vector in use. KVM_SET_GSI_ROUTING replaces the whole table, so
 * this file owns it and rewrites it on every change. */
#ifndef DUET_IRQROUTE_H
#define DUET_IRQROUTE_H

#include <stdint.h>

struct vm;

/* GSIs 0-23 are the IOAPIC pins (0-15 also the PICs); MSI routes follow. */
#define IRQROUTE_IOAPIC_PINS 24

int irqroute_init(struct vm *vm);
/* irqroute_alloc_msi: reserve a GSI for an MSI route (not yet valid). */
int irqroute_alloc_msi(struct vm *vm, uint32_t *gsi);
/* irqroute_set_msi: point `gsi` at an MSI address/data pair and commit. */
int irqroute_set_msi(struct vm *vm, uint32_t gsi, uint64_t addr, uint32_t data);
void irqroute_free(struct vm *vm);

#endif
