/* The port-I/O and MMIO buses: devices register the address ranges they
 * decode; the vCPU loop hands each guest access to the one device that owns
 * the address. The bus only dispatches; it knows no device.
 *
 * Lookups take no lock: a registration publishes a new sorted snapshot and
 * keeps the old one until bus_destroy (registrations are rare: set-up and
 * PCI BAR moves), so a device handler may itself (un)register ranges, as a
 * PCI config write that moves a BAR does. */
#ifndef DUET_BUS_H
#define DUET_BUS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* A device's handlers. `offset` is relative to the registered base; `size`
 * is 1, 2, 4 or 8. read fills `data` (little-endian, `size` bytes). */
struct bus_ops {
	void (*read)(void *opaque, uint64_t offset, void *data, unsigned size);
	void (*write)(void *opaque, uint64_t offset, const void *data, unsigned size);
};

struct bus_range {
	uint64_t base;
	uint64_t len;
	const struct bus_ops *ops;
	void *opaque;
	const char *name;
};

/* One immutable snapshot of the bus's ranges, sorted by base, never
 * overlapping. */
struct bus_table {
	struct bus_table *retired_next;
	size_t count;
	struct bus_range ranges[];
};

struct bus {
	const char *name;
	pthread_mutex_t update_lock;     /* serialises register/unregister */
	struct bus_table *_Atomic table; /* what guest accesses search */
	struct bus_table *retired;       /* older snapshots, freed at destroy */
};

void bus_init(struct bus *bus, const char *name);
void bus_destroy(struct bus *bus);

/* bus_register: claim [base, base + len); -EEXIST when it overlaps a range
 * already claimed, -EINVAL for an empty or wrapping range. */
int bus_register(struct bus *bus, uint64_t base, uint64_t len,
		 const struct bus_ops *ops, void *opaque, const char *name);
/* bus_unregister: release the range that starts at base (PCI BARs move). */
int bus_unregister(struct bus *bus, uint64_t base);

/* bus_read / bus_write: dispatch one access. An address no device owns
 * reads as all ones and swallows writes, as on a real ISA/PCI bus; the
 * return value says whether a device took it (1) or not (0). */
int bus_read(struct bus *bus, uint64_t addr, void *data, unsigned size);
int bus_write(struct bus *bus, uint64_t addr, const void *data, unsigned size);

#endif
