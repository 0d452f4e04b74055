/* The firmware debug console: port 0x402, where SeaBIOS (a CONFIG_QEMU
 * build) writes its log one byte at a time, as QEMU's isa-debugcon takes
 * it. With --debugcon FILE those bytes go to FILE; reads return 0xe9, the
 * value SeaBIOS checks to find the port (QEMU's readback). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "device.h"
#include "log.h"
#include "vm.h"

#define DEBUGCON_PORT 0x402
#define DEBUGCON_READBACK 0xe9

static void debugcon_read(void *opaque, uint64_t offset, void *data, unsigned size)
{
	(void)opaque;
	(void)offset;
	memset(data, 0, size);
	*(uint8_t *)data = DEBUGCON_READBACK;
}

static void debugcon_write(void *opaque, uint64_t offset, const void *data, unsigned size)
{
	int fd = (int)(intptr_t)opaque;

	(void)offset;
	(void)size;
	if (write(fd, data, 1) < 0)
		return; /* a full disk loses firmware chatter, nothing else */
}

static const struct bus_ops debugcon_ops = {
	.read = debugcon_read,
	.write = debugcon_write,
};

static void debugcon_close(void *opaque)
{
	close((int)(intptr_t)opaque);
}

static int debugcon_init(struct vm *vm)
{
	const char *path = vm->config->debugcon;
	int fd, err;

	if (!path)
		return 0;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		err = -errno;
		log_error("debug console '%s': %s", path, strerror(errno));
		return err;
	}
	err = vm_on_destroy(vm, debugcon_close, (void *)(intptr_t)fd);
	if (err) {
		close(fd);
		return err;
	}
	return bus_register(&vm->pio, DEBUGCON_PORT, 1, &debugcon_ops, (void *)(intptr_t)fd,
			    "debugcon");
}

static const struct device_desc debugcon_device = {
	.name = "debugcon",
	.order = DEVICE_ORDER_LEGACY,
	.init = debugcon_init,
};
DEVICE_REGISTER(debugcon_device);
