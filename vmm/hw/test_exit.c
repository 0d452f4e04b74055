/* The test-exit port: a guest write to port 0x501 (any width) ends
 * duet-vmm with the written value's low 8 bits as exit status. Test guests
 * use it to report pass or fail; no real hardware decodes this port. */
#include <stdint.h>

#include "device.h"
#include "log.h"
#include "vm.h"

#define TEST_EXIT_PORT 0x501
#define TEST_EXIT_LEN 4 /* so outw/outl to 0x501 count too */

static void test_exit_write(void *opaque, uint64_t offset, const void *data,
			    unsigned size)
{
	struct vm *vm = opaque;
	uint8_t status = *(const uint8_t *)data;

	(void)size;
	if (offset != 0)
		return;
	log_debug("guest wrote %u to the test-exit port", status);
	vm_stop(vm, VM_STOP_TEST_EXIT, status);
}

static const struct bus_ops test_exit_ops = {
	.write = test_exit_write,
};

static int test_exit_init(struct vm *vm)
{
	return bus_register(&vm->pio, TEST_EXIT_PORT, TEST_EXIT_LEN, &test_exit_ops, vm,
			    "test-exit");
}

static const struct device_desc test_exit_device = {
	.name = "test-exit",
	.order = DEVICE_ORDER_LEGACY,
	.init = test_exit_init,
};
DEVICE_REGISTER(test_exit_device);
