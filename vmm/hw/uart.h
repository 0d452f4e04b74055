/* A 16550A UART (National Semiconductor PC16550D), as PCs have at
 * 0x3f8/IRQ 4 (COM1). */
#ifndef DUET_HW_UART_H
#define DUET_HW_UART_H

#include <stddef.h>
#include <stdint.h>

#include "bus.h"
#include "vm.h"

#define UART_COM1_BASE 0x3f8
#define UART_COM1_IRQ 4
#define UART_NR_PORTS 8
#define UART_RX_FIFO 16

struct uart;

/* uart_create: a UART whose transmitter writes to out_fd (-1: nowhere),
 * registered on `pio` at `base`. */
struct uart *uart_create(struct bus *pio, uint16_t base, struct irq_pin irq,
			 int out_fd);
void uart_free(struct uart *uart);

struct event_loop;

/* uart_attach_input: bytes readable on fd (the console) go to the
 * receiver as the guest makes room for them. */
int uart_attach_input(struct uart *uart, int fd, struct event_loop *loop);

/* uart_receive: feed bytes from the host side into the receiver; returns how
 * many fit in the FIFO (the rest must be offered again later). */
size_t uart_receive(struct uart *uart, const uint8_t *buf, size_t len);

#endif
