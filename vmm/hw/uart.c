/* 16550A UART. Register map and bits from the PC16550D datasheet (National
 * Semiconductor, June 1995), section 8 "Registers", Table II. The
 * transmitter is infinitely fast: a byte written to THR leaves at once, so
 * THR and the shift register are always empty again by the next access. */
#include "hw/uart.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "device.h"
#include "event.h"
#include "log.h"

#include <sys/epoll.h>

/* Register offsets (Table II). DLAB is LCR bit 7. */
#define UART_RBR 0 /* receiver buffer (read, DLAB=0) */
#define UART_THR 0 /* transmitter holding (write, DLAB=0) */
#define UART_DLL 0 /* divisor latch LSB (DLAB=1) */
#define UART_IER 1 /* interrupt enable (DLAB=0) */
#define UART_DLM 1 /* divisor latch MSB (DLAB=1) */
#define UART_IIR 2 /* interrupt identification (read) */
#define UART_FCR 2 /* FIFO control (write) */
#define UART_LCR 3 /* line control */
#define UART_MCR 4 /* modem control */
#define UART_LSR 5 /* line status */
#define UART_MSR 6 /* modem status */
#define UART_SCR 7 /* scratch */

#define IER_ERBFI 0x01 /* received data available */
#define IER_ETBEI 0x02 /* transmitter holding register empty */
#define IER_ELSI 0x04  /* receiver line status */
#define IER_EDSSI 0x08 /* modem status */
#define IER_MASK 0x0f

#define IIR_NO_INT 0x01
#define IIR_MSI 0x00
#define IIR_THRI 0x02
#define IIR_RDI 0x04
#define IIR_RLSI 0x06
#define IIR_FIFO_ENABLED 0xc0

#define FCR_ENABLE 0x01
#define FCR_CLEAR_RX 0x02
#define FCR_CLEAR_TX 0x04

#define LCR_DLAB 0x80

#define MCR_DTR 0x01
#define MCR_RTS 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10
#define MCR_MASK 0x1f

#define LSR_DR 0x01   /* data ready */
#define LSR_OE 0x02   /* overrun error */
#define LSR_THRE 0x20 /* THR empty */
#define LSR_TEMT 0x40 /* transmitter empty */

#define MSR_DCTS 0x01
#define MSR_DDSR 0x02
#define MSR_TERI 0x04
#define MSR_DDCD 0x08
#define MSR_CTS 0x10
#define MSR_DSR 0x20
#define MSR_RI 0x40
#define MSR_DCD 0x80
#define MSR_DELTA_MASK 0x0f

struct uart {
	pthread_mutex_t lock;
	struct irq_pin irq;
	int out_fd;
	int irq_level;

	uint8_t ier, lcr, mcr, lsr, msr, scr, fcr;
	uint8_t dll, dlm;
	int thr_ipending; /* THRE interrupt latched, cleared by IIR read/THR write */

	uint8_t rx[UART_RX_FIFO];
	unsigned rx_head, rx_count;

	/* Host input (the console): bytes read from in_fd wait in inbuf until
	 * the FIFO has room; while they wait, in_fd is not polled. */
	int in_fd;
	struct event_loop *loop;
	uint8_t inbuf[256];
	unsigned in_head, in_len;
	int in_paused;
};

/* uart_iir: the highest-priority pending interrupt (datasheet Table IV). */
static uint8_t uart_iir(const struct uart *u)
{
	uint8_t fifo = (u->fcr & FCR_ENABLE) ? IIR_FIFO_ENABLED : 0;

	if ((u->ier & IER_ELSI) && (u->lsr & LSR_OE))
		return fifo | IIR_RLSI;
	if ((u->ier & IER_ERBFI) && (u->lsr & LSR_DR))
		return fifo | IIR_RDI;
	if ((u->ier & IER_ETBEI) && u->thr_ipending)
		return fifo | IIR_THRI;
	if ((u->ier & IER_EDSSI) && (u->msr & MSR_DELTA_MASK))
		return fifo | IIR_MSI;
	return fifo | IIR_NO_INT;
}

static void uart_update_irq(struct uart *u)
{
	int level = !(uart_iir(u) & IIR_NO_INT);

	if (level != u->irq_level) {
		u->irq_level = level;
		irq_pin_set(&u->irq, level);
	}
}

static void uart_rx_push(struct uart *u, uint8_t byte)
{
	if (u->rx_count == UART_RX_FIFO) {
		u->lsr |= LSR_OE;
		return;
	}
	u->rx[(u->rx_head + u->rx_count) % UART_RX_FIFO] = byte;
	u->rx_count++;
	u->lsr |= LSR_DR;
}

/* uart_input_fill: move waiting host input into the FIFO while it has
 * room; poll the input again once nothing waits. Caller holds the lock. */
static void uart_input_fill(struct uart *u)
{
	while (u->in_len && u->rx_count < UART_RX_FIFO) {
		uart_rx_push(u, u->inbuf[u->in_head++]);
		u->in_len--;
	}
	if (!u->in_len && u->in_paused) {
		u->in_paused = 0;
		event_mod_fd(u->loop, u->in_fd, EPOLLIN);
	}
}

static uint8_t uart_rx_pop(struct uart *u)
{
	uint8_t byte;

	if (!u->rx_count)
		return 0;
	byte = u->rx[u->rx_head];
	u->rx_head = (u->rx_head + 1) % UART_RX_FIFO;
	if (--u->rx_count == 0)
		u->lsr &= (uint8_t)~LSR_DR;
	uart_input_fill(u);
	return byte;
}

static void uart_transmit(struct uart *u, uint8_t byte)
{
	if (u->mcr & MCR_LOOP) {
		uart_rx_push(u, byte);
	} else if (u->out_fd >= 0) {
		while (write(u->out_fd, &byte, 1) < 0 && errno == EINTR)
			;
	}
	u->thr_ipending = 1;
}

/* In loopback, the modem inputs follow the modem outputs (datasheet 8.6):
 * RTS->CTS, DTR->DSR, OUT1->RI, OUT2->DCD. */
static uint8_t uart_msr(const struct uart *u)
{
	uint8_t msr = u->msr & MSR_DELTA_MASK;

	if (u->mcr & MCR_LOOP) {
		if (u->mcr & MCR_RTS)
			msr |= MSR_CTS;
		if (u->mcr & MCR_DTR)
			msr |= MSR_DSR;
		if (u->mcr & MCR_OUT1)
			msr |= MSR_RI;
		if (u->mcr & MCR_OUT2)
			msr |= MSR_DCD;
		return msr;
	}
	return msr | MSR_DCD | MSR_DSR | MSR_CTS;
}

static void uart_read(void *opaque, uint64_t offset, void *data, unsigned size)
{
	struct uart *u = opaque;
	uint8_t v = 0xff;

	pthread_mutex_lock(&u->lock);
	switch (offset) {
	case UART_RBR:
		v = (u->lcr & LCR_DLAB) ? u->dll : uart_rx_pop(u);
		break;
	case UART_IER:
		v = (u->lcr & LCR_DLAB) ? u->dlm : u->ier;
		break;
	case UART_IIR:
		v = uart_iir(u);
		/* Reading IIR while it reports THRE clears that source. */
		if ((v & 0x0f) == IIR_THRI)
			u->thr_ipending = 0;
		break;
	case UART_LCR:
		v = u->lcr;
		break;
	case UART_MCR:
		v = u->mcr;
		break;
	case UART_LSR:
		v = u->lsr;
		u->lsr &= (uint8_t)~LSR_OE; /* error bits clear on read */
		break;
	case UART_MSR:
		v = uart_msr(u);
		u->msr &= (uint8_t)~MSR_DELTA_MASK;
		break;
	case UART_SCR:
		v = u->scr;
		break;
	}
	uart_update_irq(u);
	pthread_mutex_unlock(&u->lock);
	memset(data, 0, size);
	*(uint8_t *)data = v;
}

static void uart_write(void *opaque, uint64_t offset, const void *data, unsigned size)
{
	struct uart *u = opaque;
	uint8_t v = *(const uint8_t *)data;

	(void)size;
	pthread_mutex_lock(&u->lock);
	switch (offset) {
	case UART_THR:
		if (u->lcr & LCR_DLAB)
			u->dll = v;
		else
			uart_transmit(u, v);
		break;
	case UART_IER:
		if (u->lcr & LCR_DLAB) {
			u->dlm = v;
		} else {
			/* Enabling ETBEI while THR is empty raises THRE at once
			 * (the 8250 driver's UART_BUG_THRE probe relies on it). */
			if (!(u->ier & IER_ETBEI) && (v & IER_ETBEI))
				u->thr_ipending = 1;
			u->ier = v & IER_MASK;
		}
		break;
	case UART_FCR:
		if (v & FCR_CLEAR_RX) {
			u->rx_count = 0;
			u->lsr &= (uint8_t)~LSR_DR;
		}
		u->fcr = v & (FCR_ENABLE | 0xc0);
		break;
	case UART_LCR:
		u->lcr = v;
		break;
	case UART_MCR:
		u->mcr = v & MCR_MASK;
		break;
	case UART_SCR:
		u->scr = v;
		break;
	default: /* LSR and MSR are read-only */
		break;
	}
	uart_update_irq(u);
	pthread_mutex_unlock(&u->lock);
}

static const struct bus_ops uart_ops = {
	.read = uart_read,
	.write = uart_write,
};

struct uart *uart_create(struct bus *pio, uint16_t base, struct irq_pin irq, int out_fd)
{
	struct uart *u = calloc(1, sizeof(*u));

	if (!u)
		return NULL;
	pthread_mutex_init(&u->lock, NULL);
	u->irq = irq;
	u->out_fd = out_fd;
	u->lsr = LSR_THRE | LSR_TEMT;
	u->dll = 12; /* 9600 baud, the power-on divisor */
	if (bus_register(pio, base, UART_NR_PORTS, &uart_ops, u, "uart")) {
		pthread_mutex_destroy(&u->lock);
		free(u);
		return NULL;
	}
	return u;
}

void uart_free(struct uart *u)
{
	if (!u)
		return;
	pthread_mutex_destroy(&u->lock);
	free(u);
}

size_t uart_receive(struct uart *u, const uint8_t *buf, size_t len)
{
	size_t n = 0;

	pthread_mutex_lock(&u->lock);
	while (n < len && u->rx_count < UART_RX_FIFO)
		uart_rx_push(u, buf[n++]);
	uart_update_irq(u);
	pthread_mutex_unlock(&u->lock);
	return n;
}

static void uart_cleanup(void *opaque)
{
	struct uart *u = opaque;

	if (u->loop)
		event_del_fd(u->loop, u->in_fd);
	uart_free(u);
}

static void uart_input_ready(void *opaque, uint32_t events)
{
	struct uart *u = opaque;
	ssize_t n;

	(void)events;
	pthread_mutex_lock(&u->lock);
	if (!u->in_len) {
		n = read(u->in_fd, u->inbuf, sizeof(u->inbuf));
		if (n <= 0) {
			if (n == 0 || (errno != EAGAIN && errno != EINTR))
				event_del_fd(u->loop, u->in_fd); /* end of input */
			pthread_mutex_unlock(&u->lock);
			return;
		}
		u->in_head = 0;
		u->in_len = (unsigned)n;
	}
	uart_input_fill(u);
	if (u->in_len && !u->in_paused) {
		u->in_paused = 1;
		event_mod_fd(u->loop, u->in_fd, 0);
	}
	uart_update_irq(u);
	pthread_mutex_unlock(&u->lock);
}

int uart_attach_input(struct uart *u, int fd, struct event_loop *loop)
{
	u->in_fd = fd;
	u->loop = loop;
	return event_add_fd(loop, fd, EPOLLIN, uart_input_ready, u);
}

static int uart_com1_init(struct vm *vm)
{
	struct uart *u = uart_create(&vm->pio, UART_COM1_BASE,
				     vm_irq_pin(vm, UART_COM1_IRQ), vm->serial_fd);

	if (!u || vm_on_destroy(vm, uart_cleanup, u)) {
		uart_free(u);
		log_error("cannot set up COM1 at %#x", UART_COM1_BASE);
		return -ENOMEM;
	}
	/* With the console on stdio, what the user types goes to the guest. */
	if (!strcmp(vm->config->serial, "stdio") && uart_attach_input(u, STDIN_FILENO, vm->loop))
		log_debug("COM1: standard input cannot be polled; no console input");
	return 0;
}

static const struct device_desc uart_com1_device = {
	.name = "uart-com1",
	.order = DEVICE_ORDER_LEGACY,
	.init = uart_com1_init,
};
DEVICE_REGISTER(uart_com1_device);
