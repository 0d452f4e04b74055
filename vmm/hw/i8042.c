/* Intel 8042 keyboard controller, as PCs since the AT have it. Status and
 * command-byte bits, controller commands and the output port from the IBM
 * Personal System/2 Hardware Interface Technical Reference, "Keyboard and
 * Auxiliary Device Controller"; the keyboard and mouse behind it are in
 * vmm/hw/ps2.c.
 *
 * The controller takes every byte at once (IBF never shows) and holds one
 * byte for the guest in its output buffer. Its own answers come first, then
 * keyboard bytes, then mouse bytes; a device whose port is disabled keeps
 * its bytes until it is enabled again. */
#include "hw/i8042.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "hw/ps2.h"
#include "log.h"

/* Status register (read 0x64). */
#define I8042_STR_OBF 0x01     /* output buffer full: a byte waits at 0x60 */
#define I8042_STR_IBF 0x02     /* input buffer full: never, bytes are taken at once */
#define I8042_STR_SYS 0x04     /* system flag, from command byte bit 2 */
#define I8042_STR_A2 0x08      /* 1: the last write went to 0x64 (a command) */
#define I8042_STR_INH 0x10     /* 1: keyboard not inhibited (keylock open) */
#define I8042_STR_AUXB 0x20    /* the output buffer holds mouse data */
#define I8042_STR_TIMEOUT 0x40 /* never: the devices always answer */
#define I8042_STR_PARITY 0x80  /* never */

/* Command byte: byte 0 of the controller's RAM. */
#define I8042_CB_KBDINT 0x01 /* IRQ 1 when keyboard data is in the buffer */
#define I8042_CB_AUXINT 0x02 /* IRQ 12 when mouse data is */
#define I8042_CB_SYS 0x04    /* copied to the status register's SYS */
#define I8042_CB_KBDDIS 0x10 /* keyboard clock held low: its data waits */
#define I8042_CB_AUXDIS 0x20 /* the same for the mouse */
#define I8042_CB_XLAT 0x40   /* translate keyboard set 2 into set 1 */
/* What QEMU (and so SeaBIOS's testing) starts with; firmware rewrites it. */
#define I8042_CB_POWER_ON (I8042_CB_KBDINT | I8042_CB_AUXINT)

/* Output port (commands 0xD0/0xD1). */
#define I8042_OUT_RESET 0x01      /* 0: hold the processor in reset */
#define I8042_OUT_A20 0x02        /* address line 20 gate */
#define I8042_OUT_OBF 0x10        /* the IRQ 1 line */
#define I8042_OUT_AUX_OBF 0x20    /* the IRQ 12 line */
#define I8042_OUT_IDLE_LINES 0xcc /* clock and data of both ports, idle high */

/* Input port (command 0xC0). */
#define I8042_IN_KEYLOCK_OPEN 0x80

/* Controller commands (write 0x64). */
#define I8042_CMD_READ_RAM 0x20  /* 0x20-0x3f: read RAM byte n */
#define I8042_CMD_WRITE_RAM 0x60 /* 0x60-0x7f: write RAM byte n */
#define I8042_CMD_RAM_LAST 0x1f
#define I8042_CMD_PASSWORD_TEST 0xa4
#define I8042_CMD_AUX_DISABLE 0xa7
#define I8042_CMD_AUX_ENABLE 0xa8
#define I8042_CMD_AUX_TEST 0xa9
#define I8042_CMD_SELF_TEST 0xaa
#define I8042_CMD_KBD_TEST 0xab
#define I8042_CMD_KBD_DISABLE 0xad
#define I8042_CMD_KBD_ENABLE 0xae
#define I8042_CMD_READ_INPUT 0xc0
#define I8042_CMD_READ_OUTPUT 0xd0
#define I8042_CMD_WRITE_OUTPUT 0xd1
#define I8042_CMD_WRITE_KBD_BUF 0xd2 /* next data byte reads back as keyboard data */
#define I8042_CMD_WRITE_AUX_BUF 0xd3 /* ... as mouse data (Linux's AUX loop test) */
#define I8042_CMD_WRITE_AUX 0xd4     /* next data byte goes to the mouse */
#define I8042_CMD_A20_OFF 0xdd       /* HP Vectra A20 commands */
#define I8042_CMD_A20_ON 0xdf
#define I8042_CMD_READ_TEST_INPUTS 0xe0
#define I8042_CMD_PULSE_OUTPUT 0xf0  /* 0xf0-0xff: pulse output bits 3-0 given as 0 */

#define I8042_SELF_TEST_OK 0x55
#define I8042_INTERFACE_OK 0x00
#define I8042_NO_PASSWORD 0xf1

#define I8042_RAM_SIZE 32
#define I8042_QUEUE_SIZE 8 /* controller answers not yet read */
#define XLAT_BREAK 0x80

struct i8042_byte {
	uint8_t byte;
	bool aux;
};

struct i8042 {
	pthread_mutex_t lock;
	struct irq_pin kbd_irq, aux_irq;
	int kbd_level, aux_level;
	i8042_reset_fn reset;
	void *reset_opaque;
	i8042_led_fn led_cb;
	void *led_opaque;

	uint8_t ram[I8042_RAM_SIZE]; /* ram[0] is the command byte */
	uint8_t status;
	uint8_t output_port;        /* bits 4 and 5 are computed on reading */
	uint8_t out;                /* the output buffer */
	uint8_t pending;            /* command waiting for its data byte, 0: none */
	bool xlat_break;            /* translating: an F0 came, the next byte breaks */
	struct i8042_byte queue[I8042_QUEUE_SIZE];
	unsigned queue_head, queue_count;

	struct ps2_kbd kbd;
	struct ps2_mouse mouse;
};

/* i8042_answer: a byte from the controller itself; dropped if the guest
 * has let I8042_QUEUE_SIZE answers pile up unread. */
static void i8042_answer(struct i8042 *c, uint8_t byte, bool aux)
{
	if (c->queue_count == I8042_QUEUE_SIZE)
		return;
	c->queue[(c->queue_head + c->queue_count) % I8042_QUEUE_SIZE] =
		(struct i8042_byte){ byte, aux };
	c->queue_count++;
}

/* i8042_kbd_byte: the keyboard's next byte, translated to set 1 when the
 * command byte says so. A break prefix (F0) is swallowed and sets bit 7 of
 * the byte after it. Every byte is translated, replies included, as the
 * real controller does (the ID then reads AB 41, which Linux knows). */
static bool i8042_kbd_byte(struct i8042 *c, uint8_t *byte)
{
	while (ps2_kbd_read(&c->kbd, byte)) {
		if (!(c->ram[0] & I8042_CB_XLAT))
			return true;
		if (*byte == 0xf0) {
			c->xlat_break = true;
			continue;
		}
		*byte = ps2_set2_to_set1(*byte) | (c->xlat_break ? XLAT_BREAK : 0);
		c->xlat_break = false;
		return true;
	}
	return false;
}

/* i8042_fill: load the output buffer if it is empty and a byte waits. */
static void i8042_fill(struct i8042 *c)
{
	uint8_t byte;
	bool aux = false;

	if (c->status & I8042_STR_OBF)
		return;
	if (c->queue_count) {
		byte = c->queue[c->queue_head].byte;
		aux = c->queue[c->queue_head].aux;
		c->queue_head = (c->queue_head + 1) % I8042_QUEUE_SIZE;
		c->queue_count--;
	} else if (!(c->ram[0] & I8042_CB_KBDDIS) && i8042_kbd_byte(c, &byte)) {
		aux = false;
	} else if (!(c->ram[0] & I8042_CB_AUXDIS) && ps2_mouse_read(&c->mouse, &byte)) {
		aux = true;
	} else {
		return;
	}
	c->out = byte;
	c->status |= I8042_STR_OBF;
	if (aux)
		c->status |= I8042_STR_AUXB;
	else
		c->status &= (uint8_t)~I8042_STR_AUXB;
}

/* The IRQ lines follow the output buffer and the command byte's enables.
 * They are ISA edge inputs: reading a byte lowers the line before the next
 * byte raises it, so every byte makes an edge. */
static void i8042_update_irq(struct i8042 *c)
{
	bool full = c->status & I8042_STR_OBF, aux = c->status & I8042_STR_AUXB;
	int kbd = full && !aux && (c->ram[0] & I8042_CB_KBDINT);
	int mouse = full && aux && (c->ram[0] & I8042_CB_AUXINT);

	if (kbd != c->kbd_level) {
		c->kbd_level = kbd;
		irq_pin_set(&c->kbd_irq, kbd);
	}
	if (mouse != c->aux_level) {
		c->aux_level = mouse;
		irq_pin_set(&c->aux_irq, mouse);
	}
}

static void i8042_update(struct i8042 *c)
{
	i8042_fill(c);
	i8042_update_irq(c);
}

static uint8_t i8042_read_output_port(const struct i8042 *c)
{
	uint8_t v = c->output_port & (uint8_t)~(I8042_OUT_OBF | I8042_OUT_AUX_OBF);

	if (c->kbd_level)
		v |= I8042_OUT_OBF;
	if (c->aux_level)
		v |= I8042_OUT_AUX_OBF;
	return v;
}

static void i8042_power_on(struct i8042 *c)
{
	memset(c->ram, 0, sizeof(c->ram));
	c->ram[0] = I8042_CB_POWER_ON;
	c->status = I8042_STR_INH;
	c->output_port = I8042_OUT_RESET | I8042_OUT_A20 | I8042_OUT_IDLE_LINES;
	c->out = 0;
	c->pending = 0;
	c->xlat_break = false;
	c->queue_head = c->queue_count = 0;
	ps2_kbd_reset(&c->kbd);
	ps2_mouse_reset(&c->mouse);
	i8042_update_irq(c);
}

/* i8042_unlock: drop the lock, then make the calls the guest's access
 * asked for: a reset pulse, and the LEDs if they changed. */
static void i8042_unlock(struct i8042 *c, unsigned old_leds, bool reset)
{
	unsigned leds = c->kbd.leds;
	i8042_led_fn led_cb = c->led_cb;
	void *led_opaque = c->led_opaque;

	pthread_mutex_unlock(&c->lock);
	if (reset && c->reset)
		c->reset(c->reset_opaque);
	if (leds != old_leds && led_cb)
		led_cb(led_opaque, leds);
}

/* i8042_command: a write to 0x64; true if it pulses the reset line. Unknown
 * commands are ignored, as real controllers do. */
static bool i8042_command(struct i8042 *c, uint8_t cmd)
{
	c->pending = 0;
	if (cmd >= I8042_CMD_READ_RAM && cmd <= I8042_CMD_READ_RAM + I8042_CMD_RAM_LAST) {
		i8042_answer(c, c->ram[cmd - I8042_CMD_READ_RAM], false);
		return false;
	}
	if (cmd >= I8042_CMD_WRITE_RAM && cmd <= I8042_CMD_WRITE_RAM + I8042_CMD_RAM_LAST) {
		c->pending = cmd;
		return false;
	}
	/* Bit 0 of a pulse command is the reset line: 0 pulses it. */
	if (cmd >= I8042_CMD_PULSE_OUTPUT)
		return !(cmd & I8042_OUT_RESET);
	switch (cmd) {
	case I8042_CMD_PASSWORD_TEST:
		i8042_answer(c, I8042_NO_PASSWORD, false);
		break;
	case I8042_CMD_AUX_DISABLE:
		c->ram[0] |= I8042_CB_AUXDIS;
		break;
	case I8042_CMD_AUX_ENABLE:
		c->ram[0] &= (uint8_t)~I8042_CB_AUXDIS;
		break;
	case I8042_CMD_AUX_TEST:
	case I8042_CMD_KBD_TEST:
		i8042_answer(c, I8042_INTERFACE_OK, false);
		break;
	case I8042_CMD_SELF_TEST:
		c->status |= I8042_STR_SYS;
		i8042_answer(c, I8042_SELF_TEST_OK, false);
		break;
	case I8042_CMD_KBD_DISABLE:
		c->ram[0] |= I8042_CB_KBDDIS;
		break;
	case I8042_CMD_KBD_ENABLE:
		c->ram[0] &= (uint8_t)~I8042_CB_KBDDIS;
		break;
	case I8042_CMD_READ_INPUT:
		i8042_answer(c, I8042_IN_KEYLOCK_OPEN, false);
		break;
	case I8042_CMD_READ_OUTPUT:
		i8042_answer(c, i8042_read_output_port(c), false);
		break;
	case I8042_CMD_WRITE_OUTPUT:
	case I8042_CMD_WRITE_KBD_BUF:
	case I8042_CMD_WRITE_AUX_BUF:
	case I8042_CMD_WRITE_AUX:
		c->pending = cmd;
		break;
	/* A20 is stored so it reads back; KVM cannot mask address line 20,
	 * and guests only check that switching it on worked. */
	case I8042_CMD_A20_OFF:
		c->output_port &= (uint8_t)~I8042_OUT_A20;
		break;
	case I8042_CMD_A20_ON:
		c->output_port |= I8042_OUT_A20;
		break;
	case I8042_CMD_READ_TEST_INPUTS:
		i8042_answer(c, 0, false);
		break;
	default:
		log_debug("i8042: unknown controller command %#x ignored", cmd);
		break;
	}
	return false;
}

/* i8042_data: a write to 0x60: the data byte of a pending controller
 * command, or else a byte for the keyboard. True if it resets. */
static bool i8042_data(struct i8042 *c, uint8_t byte)
{
	uint8_t cmd = c->pending;

	c->pending = 0;
	if (cmd >= I8042_CMD_WRITE_RAM && cmd <= I8042_CMD_WRITE_RAM + I8042_CMD_RAM_LAST) {
		c->ram[cmd - I8042_CMD_WRITE_RAM] = byte;
		if (cmd == I8042_CMD_WRITE_RAM) {
			if (byte & I8042_CB_SYS)
				c->status |= I8042_STR_SYS;
			else
				c->status &= (uint8_t)~I8042_STR_SYS;
			c->xlat_break = false;
		}
		return false;
	}
	switch (cmd) {
	case I8042_CMD_WRITE_OUTPUT:
		/* The reset line pulses and the machine restarts; it reads
		 * back high. */
		c->output_port = byte | I8042_OUT_RESET;
		return !(byte & I8042_OUT_RESET);
	case I8042_CMD_WRITE_KBD_BUF:
		i8042_answer(c, byte, false);
		return false;
	case I8042_CMD_WRITE_AUX_BUF:
		i8042_answer(c, byte, true);
		return false;
	case I8042_CMD_WRITE_AUX:
		/* Sending to a device enables its port again, as QEMU does. */
		c->ram[0] &= (uint8_t)~I8042_CB_AUXDIS;
		ps2_mouse_write(&c->mouse, byte);
		return false;
	default:
		c->ram[0] &= (uint8_t)~I8042_CB_KBDDIS;
		ps2_kbd_write(&c->kbd, byte);
		return false;
	}
}

static void i8042_data_read(void *opaque, uint64_t offset, void *data, unsigned size)
{
	struct i8042 *c = opaque;
	unsigned leds;

	(void)offset;
	pthread_mutex_lock(&c->lock);
	leds = c->kbd.leds;
	memset(data, 0, size);
	*(uint8_t *)data = c->out;
	c->status &= (uint8_t)~(I8042_STR_OBF | I8042_STR_AUXB);
	i8042_update_irq(c); /* lower the line, so the next byte is an edge */
	i8042_update(c);
	i8042_unlock(c, leds, false);
}

static void i8042_data_write(void *opaque, uint64_t offset, const void *data,
			     unsigned size)
{
	struct i8042 *c = opaque;
	unsigned leds;
	bool reset;

	(void)offset;
	(void)size;
	pthread_mutex_lock(&c->lock);
	leds = c->kbd.leds;
	c->status &= (uint8_t)~I8042_STR_A2;
	reset = i8042_data(c, *(const uint8_t *)data);
	i8042_update(c);
	i8042_unlock(c, leds, reset);
}

static void i8042_status_read(void *opaque, uint64_t offset, void *data, unsigned size)
{
	struct i8042 *c = opaque;

	(void)offset;
	pthread_mutex_lock(&c->lock);
	memset(data, 0, size);
	*(uint8_t *)data = c->status;
	pthread_mutex_unlock(&c->lock);
}

static void i8042_command_write(void *opaque, uint64_t offset, const void *data,
				unsigned size)
{
	struct i8042 *c = opaque;
	unsigned leds;
	bool reset;

	(void)offset;
	(void)size;
	pthread_mutex_lock(&c->lock);
	leds = c->kbd.leds;
	c->status |= I8042_STR_A2;
	reset = i8042_command(c, *(const uint8_t *)data);
	i8042_update(c);
	i8042_unlock(c, leds, reset);
}

static const struct bus_ops i8042_data_ops = {
	.read = i8042_data_read,
	.write = i8042_data_write,
};

static const struct bus_ops i8042_command_ops = {
	.read = i8042_status_read,
	.write = i8042_command_write,
};

struct i8042 *i8042_create(struct bus *pio, struct irq_pin kbd_irq,
			   struct irq_pin aux_irq, i8042_reset_fn reset,
			   void *reset_opaque)
{
	struct i8042 *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	pthread_mutex_init(&c->lock, NULL);
	c->kbd_irq = kbd_irq;
	c->aux_irq = aux_irq;
	c->reset = reset;
	c->reset_opaque = reset_opaque;
	i8042_power_on(c);
	if (bus_register(pio, I8042_DATA_PORT, 1, &i8042_data_ops, c, "i8042-data"))
		goto fail;
	if (bus_register(pio, I8042_COMMAND_PORT, 1, &i8042_command_ops, c,
			 "i8042-command")) {
		bus_unregister(pio, I8042_DATA_PORT);
		goto fail;
	}
	return c;
fail:
	pthread_mutex_destroy(&c->lock);
	free(c);
	return NULL;
}

void i8042_free(struct i8042 *c)
{
	if (!c)
		return;
	pthread_mutex_destroy(&c->lock);
	free(c);
}

void i8042_reset(struct i8042 *c)
{
	unsigned leds;

	pthread_mutex_lock(&c->lock);
	leds = c->kbd.leds;
	i8042_power_on(c);
	i8042_unlock(c, leds, false);
}

void i8042_set_led_callback(struct i8042 *c, i8042_led_fn cb, void *opaque)
{
	pthread_mutex_lock(&c->lock);
	c->led_cb = cb;
	c->led_opaque = opaque;
	pthread_mutex_unlock(&c->lock);
}

unsigned i8042_leds(struct i8042 *c)
{
	unsigned leds;

	pthread_mutex_lock(&c->lock);
	leds = c->kbd.leds;
	pthread_mutex_unlock(&c->lock);
	return leds;
}

void i8042_key_event(struct i8042 *c, unsigned evdev_code, int pressed)
{
	pthread_mutex_lock(&c->lock);
	ps2_kbd_key(&c->kbd, evdev_code, pressed != 0);
	i8042_update(c);
	pthread_mutex_unlock(&c->lock);
}

void i8042_mouse_event(struct i8042 *c, int dx, int dy, int dz, unsigned buttons)
{
	pthread_mutex_lock(&c->lock);
	ps2_mouse_event(&c->mouse, dx, dy, dz, buttons);
	i8042_update(c);
	pthread_mutex_unlock(&c->lock);
}

static void i8042_cleanup(void *opaque)
{
	i8042_free(opaque);
}

static void i8042_reset_hook(void *opaque)
{
	i8042_reset(opaque);
}

static void i8042_reset_vm(void *vm)
{
	vm_request_reset(vm);
}

static int i8042_init(struct vm *vm)
{
	struct i8042 *c = i8042_create(&vm->pio, vm_irq_pin(vm, I8042_KBD_IRQ),
				       vm_irq_pin(vm, I8042_AUX_IRQ), i8042_reset_vm, vm);

	if (!c || vm_on_destroy(vm, i8042_cleanup, c)) {
		i8042_free(c);
		log_error("cannot set up the keyboard controller at %#x/%#x",
			  I8042_DATA_PORT, I8042_COMMAND_PORT);
		return -ENOMEM;
	}
	vm->i8042 = c;
	if (vm_on_reset(vm, i8042_reset_hook, c)) {
		log_error("cannot set up the keyboard controller's reset");
		return -ENOMEM;
	}
	return 0;
}

static const struct device_desc i8042_device = {
	.name = "i8042",
	.order = DEVICE_ORDER_LEGACY,
	.init = i8042_init,
};
DEVICE_REGISTER(i8042_device);
