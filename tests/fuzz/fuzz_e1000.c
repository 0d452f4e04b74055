/* Fuzzes vmm/hw/e1000.c as a hostile guest and a hostile network would:
 * the input is a program of BAR0 and BAR1 accesses of every size and
 * alignment, guest RAM writes, transmit and receive rings set up and
 * filled with arbitrary descriptors, TDT and RDT kicks, frames from the
 * network with arbitrary headers, bus-master switches and resets, run
 * against a 64 KiB guest RAM. The controller runs without an event loop,
 * so every piece of work happens inside the access that caused it and a
 * run is repeatable. The back end reads every byte it is handed and checks
 * the frame's bounds; ASan and UBSan do the rest.
 *
 * The PCI, VM and back-end calls e1000_create makes are stubbed here; it is
 * never called.
 *
 * Built with -DFUZZ_SEEDS instead, it is the program that writes the seed
 * corpus (a legacy transmit, checksum offload, TSO, receive into a ring,
 * an EEPROM bit-bang read) into the directory named by its argument. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "hw/e1000_regs.h"

/* One operation: an opcode byte (mod OP_COUNT), then its operands. A
 * program that runs out of bytes mid-operation ends there. */
enum fuzz_op {
	OP_MMIO_WRITE,   /* le24 offset (mod 128 KiB + 8), size code, value bytes */
	OP_MMIO_READ,    /* le24 offset, size code */
	OP_IO_WRITE,     /* u8 offset (mod 32), size code, le32 */
	OP_IO_READ,      /* u8 offset, size code */
	OP_RAM,          /* le16 address, u8 length, bytes */
	OP_TX_RING,      /* le16 base/16, u8 descriptors/8: TDBAL, TDLEN, TDH = TDT = 0, TCTL.EN */
	OP_TXD,          /* u8 index, 16 bytes: a descriptor into the transmit ring */
	OP_TDT,          /* u8 tail */
	OP_RX_RING,      /* le16 base/16, u8 descriptors/8, le32 RCTL, le16 buffer base/16:
			  * each descriptor's buffer 2 KiB further, RDH = 0, RDT = last */
	OP_RDT,          /* u8 tail */
	OP_RECEIVE,      /* u8 destination (0 as given, 1 ours, 2 broadcast), le16 length,
			  * then up to that many frame bytes (the rest zero) */
	OP_BUS_MASTER,   /* u8 on */
	OP_RESET,
	OP_COUNT
};
/* A size code's low 2 bits choose 1, 2, 4 or 8 bytes. */

#define FUZZ_RAM 0x10000u
#define FUZZ_MAC { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 }

#ifndef FUZZ_SEEDS

#include <errno.h>
#include <stdlib.h>

#include "hw/e1000.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- what e1000_create needs from pci.c, vm.c and net.c (never called) ---- */

void pci_device_init(struct pci_device *dev, const char *name, uint16_t vendor,
		     uint16_t device, uint32_t class_code, uint8_t revision)
{
	(void)vendor;
	(void)device;
	(void)class_code;
	(void)revision;
	memset(dev, 0, sizeof(*dev));
	dev->name = name;
}

void pci_set_subsystem(struct pci_device *dev, uint16_t vendor, uint16_t id)
{
	(void)dev;
	(void)vendor;
	(void)id;
}

void pci_set_interrupt_pin(struct pci_device *dev, uint8_t pin)
{
	(void)dev;
	(void)pin;
}

void pci_bar_init(struct pci_device *dev, unsigned index, enum pci_bar_type type,
		  uint64_t size, int prefetchable, const struct bus_ops *ops, void *opaque)
{
	dev->bars[index] = (struct pci_bar){ type, size, prefetchable, ops, opaque, 0, 0 };
}

int pci_register(struct vm *vm, struct pci_device *dev, int devfn)
{
	(void)vm;
	(void)dev;
	(void)devfn;
	return -ENOSYS;
}

void pci_set_irq(struct pci_device *dev, int level)
{
	(void)dev;
	(void)level;
}

int vm_on_destroy(struct vm *vm, void (*fn)(void *opaque), void *opaque)
{
	(void)vm;
	(void)fn;
	(void)opaque;
	return -ENOSYS;
}

int vm_on_reset(struct vm *vm, void (*fn)(void *opaque), void *opaque)
{
	(void)vm;
	(void)fn;
	(void)opaque;
	return -ENOSYS;
}

int net_spec_parse(const char *text, struct net_spec *spec, char *err, size_t errlen)
{
	(void)text;
	(void)spec;
	(void)err;
	(void)errlen;
	return -EINVAL;
}

void net_mac_default(const char *guest_name, unsigned index, uint8_t mac[NET_MAC_LEN])
{
	(void)guest_name;
	(void)index;
	memset(mac, 0, NET_MAC_LEN);
}

int net_backend_open(struct event_loop *loop, const char *text, const struct net_spec *spec,
		     const struct net_nic *nic, struct net_backend **out)
{
	(void)loop;
	(void)text;
	(void)spec;
	(void)nic;
	(void)out;
	return -ENOSYS;
}

/* ---- a back end that touches every byte ---- */

static volatile uint8_t sink;

static int check_send(struct net_backend *be, const struct iovec *iov, unsigned iovcnt)
{
	uint8_t x = 0;

	(void)be;
	/* one contiguous frame, at least a header, at most NET_FRAME_MAX */
	if (iovcnt != 1 || iov[0].iov_len < NET_ETH_HLEN || iov[0].iov_len > NET_FRAME_MAX)
		abort();
	for (size_t i = 0; i < iov[0].iov_len; i++)
		x ^= ((const uint8_t *)iov[0].iov_base)[i];
	sink = x;
	return 0;
}

static int check_set_offloads(struct net_backend *be, unsigned offloads)
{
	(void)be;
	return offloads ? -EOPNOTSUPP : 0;
}

static void check_rx_ready(struct net_backend *be)
{
	(void)be;
}

static void check_close(struct net_backend *be)
{
	(void)be;
}

static const struct net_backend_ops check_ops = {
	.send = check_send,
	.set_offloads = check_set_offloads,
	.rx_ready = check_rx_ready,
	.close = check_close,
};

static struct net_backend check_be = { .ops = &check_ops };

static int irq_level;

static void irq_set(void *ctx, unsigned gsi, int level)
{
	(void)ctx;
	(void)gsi;
	if (level != 0 && level != 1)
		abort();
	irq_level = level;
}

/* ---- the harness ---- */

static struct guest_mem mem;
/* longer than RCTL.LPE's 16384, to be refused too */
static uint8_t frame[17000];

struct cursor {
	const uint8_t *p;
	size_t left;
};

static uint64_t take(struct cursor *c, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n && c->left; i++, c->p++, c->left--)
		v |= (uint64_t)*c->p << (8 * i);
	return v;
}

static void mmio_write(struct e1000 *e, uint32_t off, uint32_t v)
{
	e1000_mmio_ops.write(e, off, &v, 4);
}

static uint32_t mmio_read(struct e1000 *e, uint32_t off)
{
	uint32_t v;

	e1000_mmio_ops.read(e, off, &v, 4);
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t mac[NET_MAC_LEN] = FUZZ_MAC;
	struct cursor c = { data, size };
	struct e1000 *e;
	uint8_t buf[8];

	if (!mem.base && mem_create(&mem, FUZZ_RAM))
		abort();
	memset(mem.base, 0, FUZZ_RAM);
	irq_level = 0;
	e = e1000_new(&mem, NULL, (struct irq_pin){ .set = irq_set }, mac);
	if (!e)
		abort();
	e1000_attach(e, &check_be);
	e1000_set_bus_master(e, true);
	while (c.left) {
		unsigned op = (unsigned)take(&c, 1) % OP_COUNT, n;
		uint64_t off, base;

		switch (op) {
		case OP_MMIO_WRITE:
		case OP_MMIO_READ:
			off = take(&c, 3) % (E1000_MMIO_SIZE + 8);
			n = 1u << (take(&c, 1) & 3);
			if (off + n > E1000_MMIO_SIZE)
				off = E1000_MMIO_SIZE - n;
			if (op == OP_MMIO_WRITE) {
				for (unsigned i = 0; i < n; i++)
					buf[i] = (uint8_t)take(&c, 1);
				e1000_mmio_ops.write(e, off, buf, n);
			} else {
				e1000_mmio_ops.read(e, off, buf, n);
			}
			break;
		case OP_IO_WRITE:
		case OP_IO_READ:
			off = take(&c, 1) % E1000_IO_SIZE;
			n = 1u << (take(&c, 1) % 3);
			if (off + n > E1000_IO_SIZE)
				off = E1000_IO_SIZE - n;
			if (op == OP_IO_WRITE) {
				uint32_t v = (uint32_t)take(&c, 4);

				e1000_io_ops.write(e, off, &v, n);
			} else {
				e1000_io_ops.read(e, off, buf, n);
			}
			break;
		case OP_RAM:
			off = take(&c, 2);
			n = (unsigned)take(&c, 1);
			for (unsigned i = 0; i < n && c.left; i++)
				mem.base[(off + i) % FUZZ_RAM] = (uint8_t)take(&c, 1);
			break;
		case OP_TX_RING:
			mmio_write(e, E1000_TDBAL, (uint32_t)take(&c, 2) * 16);
			mmio_write(e, E1000_TDBAH, 0);
			mmio_write(e, E1000_TDLEN, (uint32_t)(take(&c, 1) + 1) * 128);
			mmio_write(e, E1000_TDH, 0);
			mmio_write(e, E1000_TDT, 0);
			mmio_write(e, E1000_TCTL, E1000_TCTL_EN | E1000_TCTL_PSP);
			break;
		case OP_TXD:
			n = (unsigned)take(&c, 1);
			base = mmio_read(e, E1000_TDBAL);
			if (mmio_read(e, E1000_TDLEN))
				base += 16ULL * (n % (mmio_read(e, E1000_TDLEN) / 16));
			for (unsigned i = 0; i < 16; i++)
				mem.base[(base + i) % FUZZ_RAM] = (uint8_t)take(&c, 1);
			break;
		case OP_TDT:
			mmio_write(e, E1000_TDT, (uint32_t)take(&c, 1));
			break;
		case OP_RX_RING: {
			uint32_t ring = (uint32_t)take(&c, 2) * 16, ndesc = ((unsigned)take(&c, 1) + 1) * 8;
			uint32_t rctl = (uint32_t)take(&c, 4) | E1000_RCTL_EN;
			uint64_t bufs = take(&c, 2) * 16;

			for (uint32_t i = 0; i < ndesc; i++)
				for (unsigned b = 0; b < 8; b++)
					mem.base[(ring + 16 * i + b) % FUZZ_RAM] =
						(uint8_t)((bufs + 2048ULL * i) >> (8 * b));
			mmio_write(e, E1000_RDBAL, ring);
			mmio_write(e, E1000_RDBAH, 0);
			mmio_write(e, E1000_RDLEN, ndesc * 16);
			mmio_write(e, E1000_RDH, 0);
			mmio_write(e, E1000_RDT, ndesc - 1);
			mmio_write(e, E1000_RCTL, rctl);
			break;
		}
		case OP_RDT:
			mmio_write(e, E1000_RDT, (uint32_t)take(&c, 1));
			break;
		case OP_RECEIVE: {
			unsigned dst = (unsigned)take(&c, 1) % 3;
			size_t len = take(&c, 2) % (sizeof(frame) + 1);

			memset(frame, 0, len);
			for (size_t i = 0; i < len && c.left; i++)
				frame[i] = (uint8_t)take(&c, 1);
			if (dst == 1 && len >= NET_MAC_LEN)
				memcpy(frame, mac, NET_MAC_LEN);
			else if (dst == 2 && len >= NET_MAC_LEN)
				memset(frame, 0xff, NET_MAC_LEN);
			e1000_receive(e, frame, len);
			break;
		}
		case OP_BUS_MASTER:
			e1000_set_bus_master(e, take(&c, 1) & 1);
			break;
		case OP_RESET:
			e1000_reset(e);
			if (irq_level)
				abort(); /* a reset lowers the line */
			break;
		}
	}
	e1000_free(e);
	return 0;
}

#else /* FUZZ_SEEDS */

#include <stdio.h>

static uint8_t seed[16384];
static size_t seed_len;

static void put(unsigned n, uint64_t v)
{
	for (unsigned i = 0; i < n && seed_len < sizeof(seed); i++)
		seed[seed_len++] = (uint8_t)(v >> (8 * i));
}

static void reg(uint32_t off, uint32_t v)
{
	put(1, OP_MMIO_WRITE);
	put(3, off);
	put(1, 2); /* 4 bytes */
	put(4, v);
}

static void ram(uint16_t addr, const uint8_t *bytes, unsigned len)
{
	put(1, OP_RAM);
	put(2, addr);
	put(1, len);
	for (unsigned i = 0; i < len; i++)
		put(1, bytes[i]);
}

static void txd(unsigned index, uint64_t addr, uint32_t dw2, uint32_t dw3)
{
	put(1, OP_TXD);
	put(1, index);
	put(8, addr);
	put(4, dw2);
	put(4, dw3);
}

/* tcp_frame: Ethernet, IPv4 and TCP headers, then `payload` bytes. */
static unsigned tcp_frame(uint8_t *p, unsigned payload)
{
	static const uint8_t hdr[54] = {
		0x52, 0x54, 0x00, 0xab, 0xcd, 0xef, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x08, 0x00,
		0x45, 0x00, 0x00, 0x00, 0x12, 0x34, 0x40, 0x00, 0x40, 0x06, 0x00, 0x00,
		10, 0, 2, 15, 10, 0, 2, 2,
		0x9c, 0x40, 0x00, 0x50, 0x00, 0x00, 0x03, 0xe8, 0x00, 0x00, 0x00, 0x00,
		0x50, 0x19, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00,
	};

	memcpy(p, hdr, sizeof(hdr));
	p[16] = (uint8_t)((40 + payload) >> 8);
	p[17] = (uint8_t)(40 + payload);
	for (unsigned i = 0; i < payload; i++)
		p[54 + i] = (uint8_t)(i * 7);
	return 54 + payload;
}

static int save(const char *dir, const char *name)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(seed, seed_len, 1, f) != 1 || fclose(f)) {
		fprintf(stderr, "fuzz_e1000 seeds: cannot write %s\n", path);
		return 1;
	}
	seed_len = 0;
	return 0;
}

int main(int argc, char **argv)
{
	static const uint8_t mac[6] = FUZZ_MAC;
	uint8_t pkt[256];
	unsigned len;
	int err = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
		return 2;
	}

	/* A legacy transmit of a 100-byte frame, RS, interrupts on. */
	reg(E1000_IMS, E1000_ICR_TXDW | E1000_ICR_RXT0);
	put(1, OP_TX_RING);
	put(2, 0x100);        /* ring at 0x1000 */
	put(1, 0);            /* 8 descriptors */
	len = tcp_frame(pkt, 46);
	ram(0x4000, pkt, len);
	txd(0, 0x4000, len | (uint32_t)(E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS) << 24, 0);
	put(1, OP_TDT);
	put(1, 1);
	err |= save(argv[1], "tx-legacy");

	/* Checksum offload: a context, then two data descriptors. */
	put(1, OP_TX_RING);
	put(2, 0x100);
	put(1, 0);
	len = tcp_frame(pkt, 120);
	ram(0x4000, pkt, len);
	txd(0, ((uint64_t)33 << 16 | 24 << 8 | 14) | (uint64_t)(50 << 8 | 34) << 32,
	    E1000_TXD_DEXT | (uint32_t)(E1000_TUCMD_IP | E1000_TUCMD_TCP) << 24, 0);
	txd(1, 0x4000, 20 | E1000_TXD_DEXT | E1000_TXD_DTYP_DATA << E1000_TXD_DTYP_SHIFT,
	    (E1000_POPTS_IXSM | E1000_POPTS_TXSM) << 8);
	txd(2, 0x4014, (len - 20) | E1000_TXD_DEXT | E1000_TXD_DTYP_DATA << E1000_TXD_DTYP_SHIFT |
			       (uint32_t)(E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS) << 24, 0);
	put(1, OP_TDT);
	put(1, 3);
	err |= save(argv[1], "tx-csum");

	/* TSO: headers 54, MSS 64, 200 bytes of payload. */
	put(1, OP_TX_RING);
	put(2, 0x100);
	put(1, 0);
	len = tcp_frame(pkt, 200);
	ram(0x4000, pkt, len);
	txd(0, ((uint64_t)33 << 16 | 24 << 8 | 14) | (uint64_t)(50 << 8 | 34) << 32,
	    200 | E1000_TXD_DEXT |
		    (uint32_t)(E1000_TUCMD_IP | E1000_TUCMD_TCP | E1000_TUCMD_TSE) << 24,
	    54u << 8 | 64u << 16);
	txd(1, 0x4000, 54 | E1000_TXD_DEXT | E1000_TXD_DTYP_DATA << E1000_TXD_DTYP_SHIFT |
			       (uint32_t)E1000_TXD_CMD_TSE << 24,
	    (E1000_POPTS_IXSM | E1000_POPTS_TXSM) << 8);
	txd(2, 0x4036, 200 | E1000_TXD_DEXT | E1000_TXD_DTYP_DATA << E1000_TXD_DTYP_SHIFT |
			       (uint32_t)(E1000_TXD_CMD_TSE | E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS)
				       << 24, 0);
	put(1, OP_TDT);
	put(1, 3);
	err |= save(argv[1], "tx-tso");

	/* Receive: a ring of 8 with 256-byte buffers, a TCP frame to us, a
	 * broadcast, and a frame spanning buffers. */
	put(1, OP_RX_RING);
	put(2, 0x200);        /* ring at 0x2000 */
	put(1, 0);
	put(4, E1000_RCTL_BAM | E1000_RCTL_SECRC | 3u << E1000_RCTL_BSIZE_SHIFT);
	put(2, 0x600);        /* buffers from 0x6000 */
	len = tcp_frame(pkt, 100);
	memcpy(pkt, mac, 6);
	put(1, OP_RECEIVE);
	put(1, 0);
	put(2, len);
	for (unsigned i = 0; i < len; i++)
		put(1, pkt[i]);
	put(1, OP_RECEIVE);
	put(1, 2);
	put(2, 60);
	put(1, OP_RECEIVE);
	put(1, 1);
	put(2, 700);
	put(1, OP_RDT);
	put(1, 2);
	put(1, OP_RECEIVE);
	put(1, 1);
	put(2, 60);
	err |= save(argv[1], "rx");

	/* An EEPROM read through EECD: CS, then 110b and address 3. */
	reg(E1000_EECD, E1000_EECD_REQ | E1000_EECD_CS);
	for (int bit = 8; bit >= 0; bit--) {
		uint32_t di = ((E1000_EE_OPCODE_READ << 6 | 3) >> bit) & 1 ? E1000_EECD_DI : 0;

		reg(E1000_EECD, E1000_EECD_REQ | E1000_EECD_CS | di);
		reg(E1000_EECD, E1000_EECD_REQ | E1000_EECD_CS | di | E1000_EECD_SK);
	}
	for (int i = 0; i < 20; i++) {
		reg(E1000_EECD, E1000_EECD_REQ | E1000_EECD_CS);
		reg(E1000_EECD, E1000_EECD_REQ | E1000_EECD_CS | E1000_EECD_SK);
		put(1, OP_MMIO_READ);
		put(3, E1000_EECD);
		put(1, 2);
	}
	err |= save(argv[1], "eecd");
	return err;
}

#endif
