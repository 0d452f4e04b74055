/* Runs the init of every device that registered itself with
 * DEVICE_REGISTER, in order. */
#include "device.h"

#include <stddef.h>

#include "log.h"

extern const struct device_desc *const __start_duet_devices[] __attribute__((weak));
extern const struct device_desc *const __stop_duet_devices[] __attribute__((weak));

int devices_init(struct vm *vm)
{
	const struct device_desc *const *d;
	int order = -1;

	/* A handful of devices: walk the set once per order band present. */
	for (;;) {
		int next = -1;

		for (d = __start_duet_devices; d < __stop_duet_devices; d++)
			if ((*d)->order > order && (next < 0 || (*d)->order < next))
				next = (*d)->order;
		if (next < 0)
			return 0;
		for (d = __start_duet_devices; d < __stop_duet_devices; d++) {
			int err;

			if ((*d)->order != next)
				continue;
			err = (*d)->init(vm);
			if (err) {
				log_debug("device %s: init failed (%d)", (*d)->name, err);
				return err;
			}
		}
		order = next;
	}
}
