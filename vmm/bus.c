/* The port-I/O and MMIO buses: immutable sorted snapshots searched by
 * binary search without locks; updates copy the snapshot. */
#include "bus.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void bus_init(struct bus *bus, const char *name)
{
	memset(bus, 0, sizeof(*bus));
	bus->name = name;
	pthread_mutex_init(&bus->update_lock, NULL);
	atomic_store(&bus->table, NULL);
}

void bus_destroy(struct bus *bus)
{
	struct bus_table *t = atomic_load(&bus->table), *next;

	free(t);
	for (t = bus->retired; t; t = next) {
		next = t->retired_next;
		free(t);
	}
	pthread_mutex_destroy(&bus->update_lock);
	memset(bus, 0, sizeof(*bus));
}

/* bus_slot: index of the first range whose base is greater than addr. */
static size_t bus_slot(const struct bus_table *t, uint64_t addr)
{
	size_t lo = 0, hi = t ? t->count : 0;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (t->ranges[mid].base <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* bus_publish: make `next` the table lookups see; keep the old one alive. */
static void bus_publish(struct bus *bus, struct bus_table *next)
{
	struct bus_table *old = atomic_exchange(&bus->table, next);

	if (old) {
		old->retired_next = bus->retired;
		bus->retired = old;
	}
}

int bus_register(struct bus *bus, uint64_t base, uint64_t len,
		 const struct bus_ops *ops, void *opaque, const char *name)
{
	struct bus_table *cur, *next;
	size_t slot, count;
	int err = 0;

	if (len == 0 || base + len - 1 < base)
		return -EINVAL;
	pthread_mutex_lock(&bus->update_lock);
	cur = atomic_load(&bus->table);
	count = cur ? cur->count : 0;
	slot = bus_slot(cur, base);
	if (slot > 0) {
		const struct bus_range *prev = &cur->ranges[slot - 1];

		if (prev->base + prev->len - 1 >= base)
			err = -EEXIST;
	}
	if (!err && slot < count && cur->ranges[slot].base <= base + len - 1)
		err = -EEXIST;
	if (!err) {
		next = malloc(sizeof(*next) + (count + 1) * sizeof(next->ranges[0]));
		if (!next) {
			err = -ENOMEM;
		} else {
			next->retired_next = NULL;
			next->count = count + 1;
			if (slot)
				memcpy(next->ranges, cur->ranges, slot * sizeof(next->ranges[0]));
			next->ranges[slot] = (struct bus_range){ base, len, ops, opaque, name };
			if (count > slot)
				memcpy(&next->ranges[slot + 1], &cur->ranges[slot],
				       (count - slot) * sizeof(next->ranges[0]));
			bus_publish(bus, next);
		}
	}
	pthread_mutex_unlock(&bus->update_lock);
	return err;
}

int bus_unregister(struct bus *bus, uint64_t base)
{
	struct bus_table *cur, *next;
	size_t slot;
	int err = -ENOENT;

	pthread_mutex_lock(&bus->update_lock);
	cur = atomic_load(&bus->table);
	slot = bus_slot(cur, base);
	if (slot > 0 && cur->ranges[slot - 1].base == base) {
		slot--;
		next = malloc(sizeof(*next) + (cur->count - 1) * sizeof(next->ranges[0]));
		if (!next) {
			err = -ENOMEM;
		} else {
			next->retired_next = NULL;
			next->count = cur->count - 1;
			memcpy(next->ranges, cur->ranges, slot * sizeof(next->ranges[0]));
			memcpy(&next->ranges[slot], &cur->ranges[slot + 1],
			       (cur->count - slot - 1) * sizeof(next->ranges[0]));
			bus_publish(bus, next);
			err = 0;
		}
	}
	pthread_mutex_unlock(&bus->update_lock);
	return err;
}

/* bus_find: the range holding [addr, addr + size), or NULL. An access that
 * straddles the end of a range belongs to no device. */
static const struct bus_range *bus_find(struct bus *bus, uint64_t addr,
					unsigned size)
{
	const struct bus_table *t = atomic_load_explicit(&bus->table,
							 memory_order_acquire);
	size_t slot = bus_slot(t, addr);
	const struct bus_range *r;

	if (slot == 0)
		return NULL;
	r = &t->ranges[slot - 1];
	if (addr - r->base >= r->len || size > r->len - (addr - r->base))
		return NULL;
	return r;
}

int bus_read(struct bus *bus, uint64_t addr, void *data, unsigned size)
{
	const struct bus_range *r = bus_find(bus, addr, size);

	if (r && r->ops->read) {
		r->ops->read(r->opaque, addr - r->base, data, size);
		return 1;
	}
	memset(data, 0xff, size);
	return r != NULL;
}

int bus_write(struct bus *bus, uint64_t addr, const void *data, unsigned size)
{
	const struct bus_range *r = bus_find(bus, addr, size);

	if (!r)
		return 0;
	if (r->ops->write)
		r->ops->write(r->opaque, addr - r->base, data, size);
	return 1;
}
