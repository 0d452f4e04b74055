/* How a device plugs itself in: each file under vmm/hw/ defines a
 * struct device_desc and names it once with DEVICE_REGISTER at its bottom.
 * The linker collects the descriptors into one section; vm set-up calls
 * every init in `order`, lowest first. No central list knows the devices. */
#ifndef DUET_DEVICE_H
#define DUET_DEVICE_H

struct vm;

struct device_desc {
	const char *name;
	int order;                   /* set-up order: buses before devices */
	int (*init)(struct vm *vm);  /* 0, or -errno with a message logged */
};

/* Set-up order bands. */
#define DEVICE_ORDER_CHIPSET 10
#define DEVICE_ORDER_LEGACY 20
#define DEVICE_ORDER_PCI 30

#define DEVICE_REGISTER(desc)                                                \
	static const struct device_desc *const device_ptr_##desc             \
		__attribute__((used, section("duet_devices"),                 \
			       aligned(sizeof(void *)))) = &(desc)

/* devices_init: run every registered device's init; stops at the first
 * failure and returns it. */
int devices_init(struct vm *vm);

#endif
