/* Pins vmm/hw/e1000.c: the 82540EM driven as a guest driver drives it,
 * through BAR0 and BAR1, over a small guest RAM and an in-memory back end
 * (a struct net_backend whose send keeps the frames and whose rx_ready
 * counts the calls). The EEPROM through EERD and EECD bit-banging and its
 * checksum; PHY reads over MDIC; STATUS; CTRL.RST; a legacy transmit with
 * DD and TXDW; checksum offload and TCP segmentation checked against
 * independently computed checksums; receive with EOP/DD, lengths, the FCS,
 * buffers spanning descriptors, checksum status; address filtering; a full
 * ring raising RXO and holding the back end until RDT moves; ICR reads,
 * IMS masking; ITR delaying an interrupt and transmit running on a real
 * event loop; statistics; and hostile rings and registers.
 *
 * Without an event loop the controller works inside each register access,
 * so most tests are synchronous. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "event.h"
#include "hw/e1000.h"
#include "hw/e1000_regs.h"

#define RAM_SIZE (1ULL << 20)
#define TX_RING 0x1000
#define RX_RING 0x2000
#define TX_BUF 0x10000
#define RX_BUF 0x40000           /* descriptor i's buffer at RX_BUF + i * 0x4000 */
#define RING_DESCS 8
#define MAX_FRAMES 16
#define FRAME_CAP 4096

static const uint8_t our_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
static const uint8_t peer_mac[6] = { 0x52, 0x54, 0x00, 0xab, 0xcd, 0xef };

struct fake_be {
	struct net_backend be;
	unsigned nframes;
	size_t lens[MAX_FRAMES];
	uint8_t frames[MAX_FRAMES][FRAME_CAP];
	unsigned rx_ready_calls;
};

struct fixture {
	struct guest_mem mem;
	struct fake_be fb;
	struct e1000 *e;
	struct event_loop *loop;
	int irq_level;
	unsigned irq_edges;
};

static int fake_send(struct net_backend *be, const struct iovec *iov, unsigned iovcnt)
{
	struct fake_be *fb = (struct fake_be *)be;
	size_t len = 0;

	if (fb->nframes == MAX_FRAMES)
		return -ENOBUFS;
	for (unsigned i = 0; i < iovcnt; i++) {
		assert_true(len + iov[i].iov_len <= FRAME_CAP);
		memcpy(fb->frames[fb->nframes] + len, iov[i].iov_base, iov[i].iov_len);
		len += iov[i].iov_len;
	}
	fb->lens[fb->nframes++] = len;
	return 0;
}

static int fake_set_offloads(struct net_backend *be, unsigned offloads)
{
	(void)be;
	return offloads ? -EOPNOTSUPP : 0;
}

static void fake_rx_ready(struct net_backend *be)
{
	((struct fake_be *)be)->rx_ready_calls++;
}

static void fake_close(struct net_backend *be)
{
	(void)be; /* part of the fixture */
}

static const struct net_backend_ops fake_ops = {
	.send = fake_send,
	.set_offloads = fake_set_offloads,
	.rx_ready = fake_rx_ready,
	.close = fake_close,
};

static void irq_set(void *ctx, unsigned gsi, int level)
{
	struct fixture *f = ctx;

	(void)gsi;
	if (level && !f->irq_level)
		f->irq_edges++;
	f->irq_level = level;
}

static int setup_with(void **state, bool with_loop)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f || mem_create(&f->mem, RAM_SIZE)) {
		free(f);
		return -1;
	}
	f->fb.be.ops = &fake_ops;
	if (with_loop && event_loop_create(&f->loop))
		return -1;
	f->e = e1000_new(&f->mem, f->loop, (struct irq_pin){ .set = irq_set, .ctx = f }, our_mac);
	if (!f->e)
		return -1;
	e1000_attach(f->e, &f->fb.be);
	e1000_set_bus_master(f->e, true);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_with(state, false);
}

static int setup_loop(void **state)
{
	return setup_with(state, true);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	e1000_free(f->e);
	if (f->loop)
		event_loop_destroy(f->loop);
	mem_destroy(&f->mem);
	free(f);
	return 0;
}

/* ---- helpers ---- */

static void wr(struct fixture *f, uint32_t off, uint32_t v)
{
	e1000_mmio_ops.write(f->e, off, &v, 4);
}

static uint32_t rd(struct fixture *f, uint32_t off)
{
	uint32_t v;

	e1000_mmio_ops.read(f->e, off, &v, 4);
	return v;
}

static uint8_t *at(struct fixture *f, uint64_t gpa)
{
	return f->mem.base + gpa;
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)be16(p) << 16 | be16(p + 2);
}

static void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* The Internet checksum, written here independently of the model. */
static uint32_t sum16(uint32_t sum, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		sum += i & 1 ? p[i] : (uint32_t)p[i] << 8;
	return sum;
}

static uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* ip_ok / l4_ok: the IPv4 header and its TCP/UDP segment check out. */
static bool ip_ok(const uint8_t *ip)
{
	return fold(sum16(0, ip, (ip[0] & 0xfu) * 4)) == 0xffff;
}

static bool l4_ok(const uint8_t *ip)
{
	size_t ihl = (ip[0] & 0xfu) * 4, len = be16(ip + 2) - ihl;
	uint32_t sum = sum16(0, ip + 12, 8) + ip[9] + (uint32_t)len;

	return fold(sum16(sum, ip + ihl, len)) == 0xffff;
}

/* build_tcp: Ethernet + IPv4 (20) + TCP (20) + payload to `dst`; the
 * checksums left zero. Returns the frame's length. */
static size_t build_tcp(uint8_t *p, const uint8_t *dst, size_t payload, uint8_t flags)
{
	uint8_t *ip = p + 14, *tcp = ip + 20;

	memset(p, 0, 54);
	memcpy(p, dst, 6);
	memcpy(p + 6, peer_mac, 6);
	put_be16(p + 12, 0x0800);
	ip[0] = 0x45;
	put_be16(ip + 2, (uint16_t)(40 + payload));
	put_be16(ip + 4, 0x1234);
	put_be16(ip + 6, 0x4000);
	ip[8] = 64;
	ip[9] = 6;
	memcpy(ip + 12, (const uint8_t[]){ 10, 0, 2, 15, 10, 0, 2, 2 }, 8);
	put_be16(tcp, 40000);
	put_be16(tcp + 2, 80);
	put_be16(tcp + 4, 0);
	put_be16(tcp + 6, 1000); /* seq 1000 */
	tcp[12] = 5 << 4;
	tcp[13] = flags;
	put_be16(tcp + 14, 65535);
	for (size_t i = 0; i < payload; i++)
		tcp[20 + i] = (uint8_t)(i * 7 + 3);
	return 54 + payload;
}

/* ---- rings ---- */

static void tx_setup(struct fixture *f)
{
	wr(f, E1000_TDBAL, TX_RING);
	wr(f, E1000_TDBAH, 0);
	wr(f, E1000_TDLEN, RING_DESCS * 16);
	wr(f, E1000_TDH, 0);
	wr(f, E1000_TDT, 0);
	wr(f, E1000_TCTL, E1000_TCTL_EN | E1000_TCTL_PSP);
}

static void txd_legacy(struct fixture *f, unsigned i, uint64_t addr, uint16_t len, uint8_t cmd)
{
	uint8_t *d = at(f, TX_RING + 16ULL * i);

	put64(d, addr);
	put32(d + 8, len | (uint32_t)cmd << 24);
	put32(d + 12, 0);
}

static void txd_context(struct fixture *f, unsigned i, uint8_t ipcss, uint8_t ipcso,
			uint16_t ipcse, uint8_t tucss, uint8_t tucso, uint8_t tucmd,
			uint32_t paylen, uint8_t hdrlen, uint16_t mss)
{
	uint8_t *d = at(f, TX_RING + 16ULL * i);

	memset(d, 0, 16);
	d[0] = ipcss;
	d[1] = ipcso;
	d[2] = (uint8_t)ipcse;
	d[3] = (uint8_t)(ipcse >> 8);
	d[4] = tucss;
	d[5] = tucso;
	put32(d + 8, paylen | E1000_TXD_DEXT | (uint32_t)tucmd << 24);
	d[13] = hdrlen;
	d[14] = (uint8_t)mss;
	d[15] = (uint8_t)(mss >> 8);
}

static void txd_data(struct fixture *f, unsigned i, uint64_t addr, uint32_t len, uint8_t dcmd,
		     uint8_t popts)
{
	uint8_t *d = at(f, TX_RING + 16ULL * i);

	put64(d, addr);
	put32(d + 8, len | E1000_TXD_DEXT | E1000_TXD_DTYP_DATA << E1000_TXD_DTYP_SHIFT |
			     (uint32_t)dcmd << 24);
	put32(d + 12, (uint32_t)popts << 8);
}

static void rx_setup(struct fixture *f, uint32_t rctl)
{
	for (unsigned i = 0; i < RING_DESCS; i++) {
		memset(at(f, RX_RING + 16ULL * i), 0, 16);
		put64(at(f, RX_RING + 16ULL * i), RX_BUF + 0x4000ULL * i);
	}
	wr(f, E1000_RDBAL, RX_RING);
	wr(f, E1000_RDBAH, 0);
	wr(f, E1000_RDLEN, RING_DESCS * 16);
	wr(f, E1000_RDH, 0);
	wr(f, E1000_RDT, RING_DESCS - 1);
	wr(f, E1000_RCTL, rctl);
}

static uint8_t *rxd(struct fixture *f, unsigned i)
{
	return at(f, RX_RING + 16ULL * i);
}

static uint16_t rxd_len(struct fixture *f, unsigned i)
{
	return (uint16_t)(rxd(f, i)[8] | rxd(f, i)[9] << 8);
}

/* ---- EEPROM ---- */

static uint16_t eerd(struct fixture *f, unsigned word)
{
	uint32_t v;

	wr(f, E1000_EERD, word << E1000_EERD_ADDR_SHIFT | E1000_EERD_START);
	v = rd(f, E1000_EERD);
	assert_true(v & E1000_EERD_DONE);
	return (uint16_t)(v >> E1000_EERD_DATA_SHIFT);
}

static void test_eeprom_eerd(void **state)
{
	struct fixture *f = *state;
	uint16_t sum = 0;

	for (unsigned i = 0; i < 64; i++)
		sum = (uint16_t)(sum + eerd(f, i));
	assert_int_equal(sum, 0xbaba); /* 5.6.35 */
	assert_int_equal(eerd(f, 0), 0x5452);
	assert_int_equal(eerd(f, 1), 0x1200);
	assert_int_equal(eerd(f, 2), 0x5634);
	assert_int_equal(eerd(f, E1000_EE_ICW1) >> 14, 1); /* signature 01b */
	assert_int_equal(eerd(f, E1000_EE_DEVICE_ID), 0x100e);
	assert_int_equal(eerd(f, E1000_EE_VENDOR_ID), 0x8086);
	assert_int_equal(eerd(f, E1000_EE_SUBSYS_VENDOR), 0x8086);
	assert_int_equal(eerd(f, 200), 0xffff);
}

/* The Microwire read Linux's e1000 driver does for an 82540. */
static uint16_t eecd_read_word(struct fixture *f, unsigned word)
{
	uint32_t eecd = rd(f, E1000_EECD) | E1000_EECD_REQ;
	unsigned cmd = E1000_EE_OPCODE_READ << 6 | word;
	uint16_t data = 0;

	wr(f, E1000_EECD, eecd);
	assert_true(rd(f, E1000_EECD) & E1000_EECD_GNT);
	assert_true(rd(f, E1000_EECD) & E1000_EECD_PRES);
	eecd &= ~(E1000_EECD_SK | E1000_EECD_DI);
	eecd |= E1000_EECD_CS;
	wr(f, E1000_EECD, eecd);
	for (int bit = 8; bit >= 0; bit--) {
		eecd = (eecd & ~E1000_EECD_DI) | ((cmd >> bit) & 1 ? E1000_EECD_DI : 0);
		wr(f, E1000_EECD, eecd);
		wr(f, E1000_EECD, eecd | E1000_EECD_SK);
		wr(f, E1000_EECD, eecd);
	}
	eecd &= ~E1000_EECD_DI;
	for (int i = 0; i < 16; i++) {
		wr(f, E1000_EECD, eecd | E1000_EECD_SK);
		data = (uint16_t)(data << 1 | ((rd(f, E1000_EECD) & E1000_EECD_DO) ? 1 : 0));
		wr(f, E1000_EECD, eecd);
	}
	wr(f, E1000_EECD, eecd & ~(E1000_EECD_CS | E1000_EECD_REQ));
	return data;
}

static void test_eeprom_bitbang(void **state)
{
	struct fixture *f = *state;

	for (unsigned w = 0; w < 64; w += 7)
		assert_int_equal(eecd_read_word(f, w), eerd(f, w));
	assert_int_equal(eecd_read_word(f, 63), eerd(f, 63));
	assert_int_equal(eecd_read_word(f, 2), 0x5634);
}

/* ---- PHY, STATUS, reset ---- */

static uint32_t mdic(struct fixture *f, unsigned phy, unsigned reg, uint32_t op, uint16_t data)
{
	wr(f, E1000_MDIC, data | reg << E1000_MDIC_REG_SHIFT | phy << E1000_MDIC_PHY_SHIFT | op);
	return rd(f, E1000_MDIC);
}

static void test_phy_mdic(void **state)
{
	struct fixture *f = *state;
	uint32_t v;

	v = mdic(f, 1, PHY_ID1, E1000_MDIC_OP_READ, 0);
	assert_true(v & E1000_MDIC_READY);
	assert_false(v & E1000_MDIC_ERROR);
	assert_int_equal(v & 0xffff, 0x0141);
	assert_int_equal(mdic(f, 1, PHY_ID2, E1000_MDIC_OP_READ, 0) & 0xffff, 0x0c20);
	v = mdic(f, 1, PHY_STATUS, E1000_MDIC_OP_READ, 0) & 0xffff;
	assert_true(v & PHY_STATUS_LINK);
	assert_true(v & PHY_STATUS_AN_COMPLETE);
	v = mdic(f, 1, M88_PHY_SPEC_STATUS, E1000_MDIC_OP_READ, 0) & 0xffff;
	assert_int_equal(v >> 14, 2);       /* 1000 Mb/s */
	assert_true(v & 0x2000);            /* full duplex */
	assert_true(v & 0x0400);            /* link */
	/* another PHY address: error */
	assert_true(mdic(f, 2, PHY_ID1, E1000_MDIC_OP_READ, 0) & E1000_MDIC_ERROR);
	/* writes stick where writable, not to the IDs */
	mdic(f, 1, PHY_AUTONEG_ADV, E1000_MDIC_OP_WRITE, 0x01e1);
	assert_int_equal(mdic(f, 1, PHY_AUTONEG_ADV, E1000_MDIC_OP_READ, 0) & 0xffff, 0x01e1);
	mdic(f, 1, PHY_ID1, E1000_MDIC_OP_WRITE, 0);
	assert_int_equal(mdic(f, 1, PHY_ID1, E1000_MDIC_OP_READ, 0) & 0xffff, 0x0141);
	/* restarting auto-negotiation: LSC, the link up again; MDAC asked for */
	rd(f, E1000_ICR);
	mdic(f, 1, PHY_CTRL, E1000_MDIC_OP_WRITE, 0x1340);
	assert_int_equal(mdic(f, 1, PHY_CTRL, E1000_MDIC_OP_READ, 0) & 0x0200, 0); /* self-clearing */
	assert_true(rd(f, E1000_ICR) & E1000_ICR_LSC);
	assert_true(rd(f, E1000_STATUS) & E1000_STATUS_LU);
	wr(f, E1000_MDIC, PHY_ID1 << E1000_MDIC_REG_SHIFT | 1 << E1000_MDIC_PHY_SHIFT |
			  E1000_MDIC_OP_READ | E1000_MDIC_INT_EN);
	assert_true(rd(f, E1000_ICR) & E1000_ICR_MDAC);
}

static void test_status_and_reset(void **state)
{
	struct fixture *f = *state;
	uint32_t status = rd(f, E1000_STATUS);

	assert_true(status & E1000_STATUS_LU);
	assert_true(status & E1000_STATUS_FD);
	assert_int_equal((status >> 6) & 3, 2); /* 1000 Mb/s */
	assert_int_equal(rd(f, E1000_RA), 0x12005452);
	assert_int_equal(rd(f, E1000_RA + 4), 0x80005634);

	wr(f, E1000_RA, 0xdeadbeef);
	wr(f, E1000_RCTL, E1000_RCTL_EN);
	wr(f, E1000_IMS, E1000_ICR_TXDW);
	wr(f, E1000_ICS, E1000_ICR_TXDW);
	assert_int_equal(f->irq_level, 1);
	wr(f, E1000_CTRL, rd(f, E1000_CTRL) | E1000_CTRL_RST);
	assert_int_equal(rd(f, E1000_CTRL) & E1000_CTRL_RST, 0); /* self-clearing */
	assert_true(rd(f, E1000_CTRL) & E1000_CTRL_SLU);
	assert_int_equal(f->irq_level, 0);
	assert_int_equal(rd(f, E1000_IMS), 0);
	assert_int_equal(rd(f, E1000_ICR), 0);
	assert_int_equal(rd(f, E1000_RCTL), 0);
	assert_int_equal(rd(f, E1000_RA), 0x12005452); /* reloaded from the EEPROM */
	/* CTRL_EXT.EE_RST self-clears */
	wr(f, E1000_CTRL_EXT, E1000_CTRL_EXT_EE_RST);
	assert_int_equal(rd(f, E1000_CTRL_EXT), 0);
}

/* ---- interrupts ---- */

static void test_icr_and_ims(void **state)
{
	struct fixture *f = *state;

	wr(f, E1000_ICS, E1000_ICR_RXT0 | E1000_ICR_LSC);
	assert_int_equal(f->irq_level, 0); /* masked */
	assert_int_equal(rd(f, E1000_ICS), E1000_ICR_RXT0 | E1000_ICR_LSC);
	wr(f, E1000_IMS, E1000_ICR_LSC);
	assert_int_equal(f->irq_level, 1);
	assert_int_equal(rd(f, E1000_IMS), E1000_ICR_LSC);
	wr(f, E1000_IMC, E1000_ICR_LSC);
	assert_int_equal(f->irq_level, 0);
	wr(f, E1000_IMS, E1000_ICR_RXT0);
	assert_int_equal(f->irq_level, 1);
	/* reading ICR clears it and drops the line */
	assert_int_equal(rd(f, E1000_ICR), E1000_ICR_RXT0 | E1000_ICR_LSC);
	assert_int_equal(f->irq_level, 0);
	assert_int_equal(rd(f, E1000_ICR), 0);
	/* writing 1s to ICR clears those causes only */
	wr(f, E1000_ICS, E1000_ICR_RXT0 | E1000_ICR_TXQE);
	assert_int_equal(f->irq_level, 1);
	wr(f, E1000_ICR, E1000_ICR_RXT0);
	assert_int_equal(f->irq_level, 0);
	assert_int_equal(rd(f, E1000_ICR), E1000_ICR_TXQE);
	/* a byte write to IMS sets only its own bits */
	{
		uint8_t b = E1000_ICR_RXT0;

		e1000_mmio_ops.write(f->e, E1000_IMS, &b, 1);
		assert_int_equal(rd(f, E1000_IMS), E1000_ICR_RXT0);
	}
}

static void quit_cb(void *opaque)
{
	event_loop_quit(opaque);
}

static void run_loop_for(struct fixture *f, uint64_t ns)
{
	struct event_timer *t = event_timer_create(f->loop, quit_cb, f->loop);

	assert_non_null(t);
	event_timer_arm(t, ns, 0);
	event_loop_run(f->loop);
	event_timer_free(t);
}

static void test_itr_delays_interrupt(void **state)
{
	struct fixture *f = *state;

	wr(f, E1000_ITR, 8000);           /* 8000 * 256 ns = 2 ms between interrupts */
	wr(f, E1000_IMS, E1000_ICR_TXDW);
	wr(f, E1000_ICS, E1000_ICR_TXDW);
	assert_int_equal(f->irq_level, 1); /* the first comes at once */
	rd(f, E1000_ICR);
	assert_int_equal(f->irq_level, 0);
	wr(f, E1000_ICS, E1000_ICR_TXDW);
	assert_int_equal(f->irq_level, 0); /* held back by ITR */
	run_loop_for(f, 10000000);
	assert_int_equal(f->irq_level, 1);
	assert_int_equal(f->irq_edges, 2);
}

/* With a loop, transmit runs there, and RDTR holds RXT0 back. (A loop
 * runs once: event_loop_quit is for good.) */
static void test_loop_transmit_and_rdtr(void **state)
{
	struct fixture *f = *state;
	uint8_t *buf = at(f, TX_BUF);

	tx_setup(f);
	memset(buf, 0xab, 60);
	memcpy(buf, peer_mac, 6);
	txd_legacy(f, 0, TX_BUF, 60, E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS);
	wr(f, E1000_TDT, 1);
	assert_int_equal(f->fb.nframes, 0);

	rx_setup(f, E1000_RCTL_EN | E1000_RCTL_SECRC);
	wr(f, E1000_RDTR, 1000); /* ~1 ms */
	wr(f, E1000_IMS, E1000_ICR_RXT0);
	memcpy(buf + 0x100, our_mac, 6);
	assert_int_equal(e1000_receive(f->e, buf + 0x100, 60), 0);
	assert_int_equal(rd(f, E1000_RDH), 1);
	assert_int_equal(rd(f, E1000_ICS) & E1000_ICR_RXT0, 0);
	assert_int_equal(f->irq_level, 0);

	run_loop_for(f, 5000000);
	assert_int_equal(f->fb.nframes, 1);
	assert_int_equal(rd(f, E1000_TDH), 1);
	assert_int_equal(f->irq_level, 1);
	assert_true(rd(f, E1000_ICR) & E1000_ICR_RXT0);
}

/* ---- transmit ---- */

static void test_tx_legacy(void **state)
{
	struct fixture *f = *state;
	uint8_t *buf = at(f, TX_BUF);

	tx_setup(f);
	wr(f, E1000_IMS, E1000_ICR_TXDW);
	for (int i = 0; i < 100; i++)
		buf[i] = (uint8_t)i;
	memcpy(buf, peer_mac, 6);
	/* one frame in two buffers, then a short one padded by PSP */
	txd_legacy(f, 0, TX_BUF, 40, E1000_TXD_CMD_IFCS);
	txd_legacy(f, 1, TX_BUF + 40, 60, E1000_TXD_CMD_EOP | E1000_TXD_CMD_IFCS | E1000_TXD_CMD_RS);
	txd_legacy(f, 2, TX_BUF, 20, E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS);
	wr(f, E1000_TDT, 2);
	assert_int_equal(f->fb.nframes, 1);
	assert_int_equal(f->fb.lens[0], 100);
	assert_memory_equal(f->fb.frames[0], buf, 100);
	assert_int_equal(at(f, TX_RING + 12)[0] & E1000_TXD_STAT_DD, 0); /* no RS */
	assert_true(at(f, TX_RING + 16 + 12)[0] & E1000_TXD_STAT_DD);
	assert_int_equal(rd(f, E1000_TDH), 2);
	assert_int_equal(f->irq_level, 1);
	assert_int_equal(rd(f, E1000_ICR), E1000_ICR_TXDW | E1000_ICR_TXQE);
	assert_int_equal(f->irq_level, 0);

	wr(f, E1000_TDT, 3);
	assert_int_equal(f->fb.nframes, 2);
	assert_int_equal(f->fb.lens[1], 60);
	assert_memory_equal(f->fb.frames[1], buf, 20);
	for (int i = 20; i < 60; i++)
		assert_int_equal(f->fb.frames[1][i], 0);
	assert_int_equal(rd(f, E1000_GPTC), 2);
	assert_int_equal(rd(f, E1000_GPTC), 0); /* read-to-clear */
	assert_int_equal(rd(f, E1000_TPT), 2);
	assert_int_equal(rd(f, E1000_GOTCL), 100 + 4 + 60 + 4);
	assert_int_equal(rd(f, E1000_GOTCH), 0);
	assert_int_equal(rd(f, E1000_GOTCL), 0);
}

static void test_tx_checksum_offload(void **state)
{
	struct fixture *f = *state;
	uint8_t *buf = at(f, TX_BUF), *ip;
	size_t len = build_tcp(buf, peer_mac, 301, 0x18);
	uint32_t pseudo;

	/* the driver's seed: the pseudo-header sum with the length (Linux's
	 * CHECKSUM_PARTIAL), the IP checksum field left as garbage */
	ip = buf + 14;
	pseudo = sum16(0, ip + 12, 8) + 6 + (uint32_t)(len - 34);
	put_be16(buf + 50, fold(pseudo)); /* TCP checksum field */
	put_be16(ip + 10, 0x5555);
	tx_setup(f);
	txd_context(f, 0, 14, 24, 33, 34, 50, E1000_TUCMD_IP | E1000_TUCMD_TCP, 0, 0, 0);
	txd_data(f, 1, TX_BUF, 20, 0, E1000_POPTS_IXSM | E1000_POPTS_TXSM);
	txd_data(f, 2, TX_BUF + 20, (uint32_t)len - 20, E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS, 0);
	wr(f, E1000_TDT, 3);
	assert_int_equal(f->fb.nframes, 1);
	assert_int_equal(f->fb.lens[0], len);
	assert_true(ip_ok(f->fb.frames[0] + 14));
	assert_true(l4_ok(f->fb.frames[0] + 14));
	assert_memory_equal(f->fb.frames[0] + 54, buf + 54, 301);

	/* a legacy descriptor's IC: CSS to the end, at CSO */
	memset(buf, 0, 100);
	memcpy(buf, peer_mac, 6);
	for (int i = 20; i < 81; i++)
		buf[i] = (uint8_t)(i * 3);
	{
		uint8_t *d = at(f, TX_RING + 16 * 3);

		put64(d, TX_BUF);
		put32(d + 8, 81 | 16u << 16 | (uint32_t)(E1000_TXD_CMD_EOP | E1000_TXD_CMD_IC) << 24);
		put32(d + 12, 20u << 8);
	}
	wr(f, E1000_TDT, 4);
	assert_int_equal(f->fb.nframes, 2);
	assert_int_equal(fold(sum16(0, f->fb.frames[1] + 20, 61) +
			      be16(f->fb.frames[1] + 16)), 0xffff);
}

static void test_tx_tso(void **state)
{
	struct fixture *f = *state;
	uint8_t *buf = at(f, TX_BUF), *ip = buf + 14;
	const size_t payload = 4000, mss = 1460;
	size_t len = build_tcp(buf, peer_mac, payload, 0x19); /* FIN PSH ACK */
	uint32_t pseudo = sum16(0, ip + 12, 8) + 6;  /* without the length */

	put_be16(buf + 34 + 16, fold(pseudo));
	put_be16(ip + 2, 0);
	tx_setup(f);
	txd_context(f, 0, 14, 24, 33, 34, 50, E1000_TUCMD_IP | E1000_TUCMD_TCP | E1000_TUCMD_TSE,
		    (uint32_t)payload, 54, (uint16_t)mss);
	/* headers in one buffer, the payload in two */
	txd_data(f, 1, TX_BUF, 54, E1000_TXD_CMD_TSE, E1000_POPTS_IXSM | E1000_POPTS_TXSM);
	txd_data(f, 2, TX_BUF + 54, 2500, E1000_TXD_CMD_TSE, 0);
	txd_data(f, 3, TX_BUF + 54 + 2500, (uint32_t)(len - 54 - 2500),
		 E1000_TXD_CMD_TSE | E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS, 0);
	wr(f, E1000_TDT, 4);
	assert_int_equal(f->fb.nframes, 3);
	for (unsigned i = 0; i < 3; i++) {
		const uint8_t *fr = f->fb.frames[i], *fip = fr + 14, *tcp = fip + 20;
		size_t seg = i < 2 ? mss : payload - 2 * mss;

		assert_int_equal(f->fb.lens[i], 54 + seg);
		assert_int_equal(be16(fip + 2), 40 + seg);
		assert_int_equal(be16(fip + 4), 0x1234 + i);
		assert_true(ip_ok(fip));
		assert_int_equal(be32(tcp + 4), 1000 + i * mss);
		assert_int_equal(tcp[13], i < 2 ? 0x10 : 0x19); /* FIN, PSH only last */
		assert_true(l4_ok(fip));
		assert_memory_equal(tcp + 20, buf + 54 + i * mss, seg);
		assert_memory_equal(fr, buf, 12);
	}
	assert_true(at(f, TX_RING + 3 * 16 + 12)[0] & E1000_TXD_STAT_DD);
	assert_int_equal(rd(f, E1000_TSCTC), 1);
	assert_int_equal(rd(f, E1000_GPTC), 3);
}

/* ---- receive ---- */

/* crc32_ref: bit at a time, to check the model's table-driven FCS. */
static uint32_t crc32_ref(const uint8_t *p, size_t len)
{
	uint32_t crc = 0xffffffff;

	for (size_t i = 0; i < len; i++) {
		crc ^= p[i];
		for (int b = 0; b < 8; b++)
			crc = crc & 1 ? (crc >> 1) ^ 0xedb88320 : crc >> 1;
	}
	return ~crc;
}

static void test_rx_basic(void **state)
{
	struct fixture *f = *state;
	uint8_t frame[100];
	uint8_t *d;
	uint32_t fcs;

	for (int i = 0; i < 100; i++)
		frame[i] = (uint8_t)(i + 1);
	memcpy(frame, our_mac, 6);
	rx_setup(f, E1000_RCTL_EN);
	wr(f, E1000_IMS, E1000_ICR_RXT0);
	assert_int_equal(e1000_receive(f->e, frame, sizeof(frame)), 0);
	d = rxd(f, 0);
	assert_int_equal(d[E1000_RXD_STATUS] & (E1000_RXD_STAT_DD | E1000_RXD_STAT_EOP),
			 E1000_RXD_STAT_DD | E1000_RXD_STAT_EOP);
	/* without SECRC the FCS comes along (Linux takes 4 off) */
	assert_int_equal(rxd_len(f, 0), 104);
	assert_memory_equal(at(f, RX_BUF), frame, 100);
	fcs = crc32_ref(frame, 100);
	assert_int_equal(at(f, RX_BUF)[100] | at(f, RX_BUF)[101] << 8 |
			 at(f, RX_BUF)[102] << 16 | (uint32_t)at(f, RX_BUF)[103] << 24, fcs);
	assert_int_equal(crc32_ref((const uint8_t *)"123456789", 9), 0xcbf43926);
	assert_int_equal(rd(f, E1000_RDH), 1);
	assert_int_equal(f->irq_level, 1);
	assert_true(rd(f, E1000_ICR) & E1000_ICR_RXT0);

	/* SECRC: no FCS; a short frame padded to 60 */
	wr(f, E1000_RCTL, E1000_RCTL_EN | E1000_RCTL_SECRC);
	assert_int_equal(e1000_receive(f->e, frame, 42), 0);
	assert_int_equal(rxd_len(f, 1), 60);
	assert_memory_equal(at(f, RX_BUF + 0x4000), frame, 42);
	assert_int_equal(at(f, RX_BUF + 0x4000)[42], 0);
	assert_int_equal(rd(f, E1000_GPRC), 2);
	assert_int_equal(rd(f, E1000_TPR), 2);
	assert_int_equal(rd(f, E1000_GORCL), 104 + 64);
}

static void test_rx_spanning_buffers(void **state)
{
	struct fixture *f = *state;
	uint8_t frame[600];

	for (int i = 0; i < 600; i++)
		frame[i] = (uint8_t)(i * 5);
	memcpy(frame, our_mac, 6);
	rx_setup(f, E1000_RCTL_EN | E1000_RCTL_SECRC | 3u << E1000_RCTL_BSIZE_SHIFT); /* 256 */
	assert_int_equal(e1000_receive(f->e, frame, sizeof(frame)), 0);
	assert_int_equal(rxd_len(f, 0), 256);
	assert_int_equal(rxd_len(f, 1), 256);
	assert_int_equal(rxd_len(f, 2), 88);
	assert_int_equal(rxd(f, 0)[E1000_RXD_STATUS], E1000_RXD_STAT_DD);
	assert_int_equal(rxd(f, 1)[E1000_RXD_STATUS], E1000_RXD_STAT_DD);
	assert_true(rxd(f, 2)[E1000_RXD_STATUS] & E1000_RXD_STAT_EOP);
	assert_memory_equal(at(f, RX_BUF), frame, 256);
	assert_memory_equal(at(f, RX_BUF + 0x4000), frame + 256, 256);
	assert_memory_equal(at(f, RX_BUF + 0x8000), frame + 512, 88);
	assert_int_equal(rd(f, E1000_RDH), 3);
	/* longer than 1522 without LPE: dropped, counted oversize */
	{
		static uint8_t big[3000];

		memcpy(big, our_mac, 6);
		wr(f, E1000_RCTL, E1000_RCTL_EN | E1000_RCTL_SECRC | E1000_RCTL_BSEX |
					  1u << E1000_RCTL_BSIZE_SHIFT); /* 16384 */
		assert_int_equal(e1000_receive(f->e, big, sizeof(big)), 0);
		assert_int_equal(rd(f, E1000_RDH), 3);
		assert_int_equal(rd(f, E1000_ROC), 1);
		wr(f, E1000_RCTL, rd(f, E1000_RCTL) | E1000_RCTL_LPE);
		assert_int_equal(e1000_receive(f->e, big, sizeof(big)), 0);
		assert_int_equal(rd(f, E1000_RDH), 4);
		assert_int_equal(rxd_len(f, 3), 3000);
	}
}

static void test_rx_checksum_status(void **state)
{
	struct fixture *f = *state;
	uint8_t frame[200];
	size_t len = build_tcp(frame, our_mac, 100, 0x10);
	uint8_t *ip = frame + 14;
	uint32_t pseudo = sum16(0, ip + 12, 8) + 6 + 120;

	put_be16(ip + 10, (uint16_t)~fold(sum16(0, ip, 20)));
	put_be16(frame + 34 + 16, (uint16_t)~fold(sum16(pseudo, frame + 34, 120)));
	rx_setup(f, E1000_RCTL_EN | E1000_RCTL_SECRC);
	assert_int_equal(e1000_receive(f->e, frame, len), 0);
	assert_int_equal(rxd(f, 0)[E1000_RXD_STATUS],
			 E1000_RXD_STAT_DD | E1000_RXD_STAT_EOP | E1000_RXD_STAT_IPCS |
			 E1000_RXD_STAT_TCPCS);
	assert_int_equal(rxd(f, 0)[E1000_RXD_ERRORS], 0);
	frame[60] ^= 0xff; /* corrupt the payload */
	assert_int_equal(e1000_receive(f->e, frame, len), 0);
	assert_int_equal(rxd(f, 1)[E1000_RXD_ERRORS], E1000_RXD_ERR_TCPE);
	/* offload off: IXSM */
	wr(f, E1000_RXCSUM, 0);
	assert_int_equal(e1000_receive(f->e, frame, len), 0);
	assert_int_equal(rxd(f, 2)[E1000_RXD_STATUS],
			 E1000_RXD_STAT_DD | E1000_RXD_STAT_EOP | E1000_RXD_STAT_IXSM);
}

static void test_rx_filtering(void **state)
{
	struct fixture *f = *state;
	uint8_t frame[64] = { 0 };
	uint8_t mcast[6] = { 0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb };
	unsigned hash;

	rx_setup(f, E1000_RCTL_EN | E1000_RCTL_SECRC);
	/* unicast to another MAC: dropped, unless promiscuous */
	memcpy(frame, peer_mac, 6);
	assert_int_equal(e1000_receive(f->e, frame, 60), 0);
	assert_int_equal(rd(f, E1000_RDH), 0);
	wr(f, E1000_RCTL, rd(f, E1000_RCTL) | E1000_RCTL_UPE);
	assert_int_equal(e1000_receive(f->e, frame, 60), 0);
	assert_int_equal(rd(f, E1000_RDH), 1);
	wr(f, E1000_RCTL, rd(f, E1000_RCTL) & ~E1000_RCTL_UPE);
	/* a second exact address in RA[1] */
	wr(f, E1000_RA + 8, 0xab005452);
	wr(f, E1000_RA + 12, 0x8000efcd);
	assert_int_equal(e1000_receive(f->e, frame, 60), 0);
	assert_int_equal(rd(f, E1000_RDH), 2);
	/* broadcast needs BAM */
	memset(frame, 0xff, 6);
	assert_int_equal(e1000_receive(f->e, frame, 60), 0);
	assert_int_equal(rd(f, E1000_RDH), 2);
	wr(f, E1000_RCTL, rd(f, E1000_RCTL) | E1000_RCTL_BAM);
	assert_int_equal(e1000_receive(f->e, frame, 60), 0);
	assert_int_equal(rd(f, E1000_RDH), 3);
	assert_int_equal(rd(f, E1000_BPRC), 1);
	/* multicast: through the MTA hash (MO = 0: address bits 47:36) */
	memcpy(frame, mcast, 6);
	assert_int_equal(e1000_receive(f->e, frame, 60), 0);
	assert_int_equal(rd(f, E1000_RDH), 3);
	hash = ((unsigned)(mcast[5] << 8 | mcast[4]) >> 4) & 0xfff;
	wr(f, E1000_MTA + 4 * (hash >> 5), 1u << (hash & 31));
	assert_int_equal(e1000_receive(f->e, frame, 60), 0);
	assert_int_equal(rd(f, E1000_RDH), 4);
	wr(f, E1000_MTA + 4 * (hash >> 5), 0);
	wr(f, E1000_RCTL, rd(f, E1000_RCTL) | E1000_RCTL_MPE);
	assert_int_equal(e1000_receive(f->e, frame, 60), 0);
	assert_int_equal(rd(f, E1000_RDH), 5);
	assert_int_equal(rd(f, E1000_MPRC), 2);
	/* receiver off, or DMA off: dropped */
	memcpy(frame, our_mac, 6);
	e1000_set_bus_master(f->e, false);
	assert_int_equal(e1000_receive(f->e, frame, 60), 0);
	assert_int_equal(rd(f, E1000_RDH), 5);
}

static void test_rx_overrun_stalls(void **state)
{
	struct fixture *f = *state;
	uint8_t frame[60] = { 0 };

	memcpy(frame, our_mac, 6);
	rx_setup(f, E1000_RCTL_EN | E1000_RCTL_SECRC);
	wr(f, E1000_RDT, 2); /* two free descriptors */
	wr(f, E1000_IMS, E1000_ICR_RXO);
	assert_int_equal(e1000_receive(f->e, frame, 60), 0);
	assert_int_equal(e1000_receive(f->e, frame, 60), 0);
	assert_int_equal(f->irq_level, 0);
	assert_int_equal(e1000_receive(f->e, frame, 60), -EAGAIN);
	assert_int_equal(f->irq_level, 1);
	assert_true(rd(f, E1000_ICR) & E1000_ICR_RXO);
	assert_int_equal(rd(f, E1000_RNBC), 1);
	assert_int_equal(f->fb.rx_ready_calls, 0);
	/* a retry before the driver moved RDT: no second RXO */
	assert_int_equal(e1000_receive(f->e, frame, 60), -EAGAIN);
	assert_int_equal(rd(f, E1000_ICR) & E1000_ICR_RXO, 0);
	/* the driver gives descriptors back: the back end may go on */
	wr(f, E1000_RDT, 5);
	assert_int_equal(f->fb.rx_ready_calls, 1);
	assert_int_equal(e1000_receive(f->e, frame, 60), 0);
	assert_int_equal(rd(f, E1000_RDH), 3);
	wr(f, E1000_RDT, 6);
	assert_int_equal(f->fb.rx_ready_calls, 1); /* not stalled: no call */
}

/* ---- the I/O BAR, statistics ---- */

static void test_io_bar(void **state)
{
	struct fixture *f = *state;
	uint32_t v = E1000_STATUS, out;
	uint16_t narrow = 0;

	e1000_io_ops.write(f->e, E1000_IOADDR, &v, 4);
	e1000_io_ops.read(f->e, E1000_IOADDR, &out, 4);
	assert_int_equal(out, E1000_STATUS);
	e1000_io_ops.read(f->e, E1000_IODATA, &out, 4);
	assert_int_equal(out, rd(f, E1000_STATUS));
	v = E1000_IMS;
	e1000_io_ops.write(f->e, E1000_IOADDR, &v, 4);
	v = E1000_ICR_LSC;
	e1000_io_ops.write(f->e, E1000_IODATA, &v, 4);
	assert_int_equal(rd(f, E1000_IMS), E1000_ICR_LSC);
	/* a narrow IOADDR write is ignored (13.2.2.1) */
	e1000_io_ops.write(f->e, E1000_IOADDR, &narrow, 2);
	e1000_io_ops.read(f->e, E1000_IOADDR, &out, 4);
	assert_int_equal(out, E1000_IMS);
	/* out of range: reads 0 */
	v = 0xfffff0;
	e1000_io_ops.write(f->e, E1000_IOADDR, &v, 4);
	e1000_io_ops.read(f->e, E1000_IODATA, &out, 4);
	assert_int_equal(out, 0);
}

/* ---- hostile guests ---- */

static void test_hostile_rx(void **state)
{
	struct fixture *f = *state;
	uint8_t frame[60] = { 0 };

	memcpy(frame, our_mac, 6);
	rx_setup(f, E1000_RCTL_EN | E1000_RCTL_SECRC);
	/* RDLEN not a multiple of 128: its low bits are not there */
	wr(f, E1000_RDLEN, 100);
	assert_int_equal(rd(f, E1000_RDLEN), 0);
	assert_int_equal(e1000_receive(f->e, frame, 60), 0);
	/* a ring outside RAM, and one running off its end */
	wr(f, E1000_RDLEN, 128);
	wr(f, E1000_RDBAL, 0x40000000);
	assert_int_equal(e1000_receive(f->e, frame, 60), 0);
	wr(f, E1000_RDBAL, (uint32_t)RAM_SIZE - 64);
	assert_int_equal(e1000_receive(f->e, frame, 60), 0);
	wr(f, E1000_RDBAH, 0xffffffff);
	wr(f, E1000_RDBAL, 0xfffffff0);
	assert_int_equal(e1000_receive(f->e, frame, 60), 0);
	wr(f, E1000_RDBAH, 0);
	wr(f, E1000_RDBAL, RX_RING);
	/* head and tail beyond the ring: no room, nothing written */
	wr(f, E1000_RDH, 100);
	assert_int_equal(e1000_receive(f->e, frame, 60), -EAGAIN);
	wr(f, E1000_RDH, 0);
	wr(f, E1000_RDT, 0xffff);
	assert_int_equal(e1000_receive(f->e, frame, 60), -EAGAIN);
	/* a buffer outside RAM (and one wrapping): DD, nothing copied */
	wr(f, E1000_RDT, 3);
	put64(rxd(f, 0), 0xfffffffffffffff0ULL);
	put64(rxd(f, 1), RAM_SIZE - 10);
	assert_int_equal(e1000_receive(f->e, frame, 60), 0);
	assert_int_equal(e1000_receive(f->e, frame, 60), 0);
	assert_true(rxd(f, 0)[E1000_RXD_STATUS] & E1000_RXD_STAT_DD);
	assert_true(rxd(f, 1)[E1000_RXD_STATUS] & E1000_RXD_STAT_DD);
	/* a frame needing more descriptors than the ring has: dropped */
	{
		static uint8_t big[16384];

		memcpy(big, our_mac, 6);
		wr(f, E1000_RCTL, E1000_RCTL_EN | E1000_RCTL_SECRC | E1000_RCTL_LPE |
					  3u << E1000_RCTL_BSIZE_SHIFT);
		assert_int_equal(e1000_receive(f->e, big, sizeof(big)), 0);
		assert_int_equal(e1000_receive(f->e, big, 5), 0); /* runt */
	}
}

static void test_hostile_tx(void **state)
{
	struct fixture *f = *state;
	uint8_t *buf = at(f, TX_BUF);

	memset(buf, 0x11, 2000);
	tx_setup(f);
	/* buffer outside RAM, wrapping, a zero length, a huge one */
	txd_legacy(f, 0, 0xfffffffffffffff0ULL, 100, E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS);
	txd_legacy(f, 1, RAM_SIZE - 50, 100, E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS);
	txd_legacy(f, 2, TX_BUF, 0, E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS);
	txd_data(f, 3, 0, 0xfffff, E1000_TXD_CMD_EOP | E1000_TXD_CMD_RS, 0xff);
	txd_data(f, 4, TX_BUF, 10, E1000_TXD_CMD_EOP, 0); /* shorter than a header */
	wr(f, E1000_TDT, 5);
	assert_int_equal(f->fb.nframes, 0);
	assert_int_equal(rd(f, E1000_TDH), 5);
	for (unsigned i = 0; i < 4; i++)
		assert_true(at(f, TX_RING + 16 * i + 12)[0] & E1000_TXD_STAT_DD);
	/* TSO with MSS 0, headers longer than the data, offsets past it */
	txd_context(f, 5, 250, 255, 0xffff, 255, 255, E1000_TUCMD_TSE | E1000_TUCMD_TCP, 0, 54, 0);
	txd_data(f, 6, TX_BUF, 100, E1000_TXD_CMD_TSE | E1000_TXD_CMD_EOP, 0xff);
	txd_context(f, 7, 250, 255, 0xffff, 255, 255, E1000_TUCMD_TSE | E1000_TUCMD_IP, 0, 255, 64);
	wr(f, E1000_TDT, 0);
	txd_data(f, 0, TX_BUF, 100, E1000_TXD_CMD_TSE | E1000_TXD_CMD_EOP, 0xff);
	txd_data(f, 1, TX_BUF, 1000, E1000_TXD_CMD_TSE | E1000_TXD_CMD_EOP, 0xff);
	txd_legacy(f, 2, TX_BUF, 100, E1000_TXD_CMD_EOP | E1000_TXD_CMD_IC);
	put32(at(f, TX_RING + 2 * 16 + 8), 100 | 255u << 16 |
					   (uint32_t)(E1000_TXD_CMD_EOP | E1000_TXD_CMD_IC) << 24);
	put32(at(f, TX_RING + 2 * 16 + 12), 200u << 8);
	wr(f, E1000_TDT, 3);
	assert_int_equal(rd(f, E1000_TDH), 3);
	/* TDH beyond the ring, TDLEN not a multiple of 128, ring outside RAM */
	wr(f, E1000_TDH, 200);
	wr(f, E1000_TDT, 4);
	assert_int_equal(rd(f, E1000_TDH), 200);
	wr(f, E1000_TDLEN, 0x70);
	assert_int_equal(rd(f, E1000_TDLEN), 0);
	wr(f, E1000_TDH, 0);
	wr(f, E1000_TDLEN, 0xfff80);
	wr(f, E1000_TDT, 1);
	assert_int_equal(rd(f, E1000_TDH), 0);
}

static void test_hostile_registers(void **state)
{
	struct fixture *f = *state;
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	uint8_t data[8];

	rx_setup(f, E1000_RCTL_EN);
	tx_setup(f);
	for (int i = 0; i < 20000; i++) {
		uint64_t off;
		unsigned size;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		off = (x >> 8) % (E1000_MMIO_SIZE + 16);
		size = 1u << ((x >> 40) & 3);
		memcpy(data, &x, sizeof(data));
		if ((x >> 50) & 1)
			e1000_mmio_ops.read(f->e, off, data, size);
		else
			e1000_mmio_ops.write(f->e, off, data, size);
		e1000_io_ops.write(f->e, off % E1000_IO_SIZE, data, size > 4 ? 4 : size);
		e1000_io_ops.read(f->e, off % E1000_IO_SIZE, data, size > 4 ? 4 : size);
		if ((i & 255) == 0) {
			uint8_t frame[80] = { 0 };

			memcpy(frame, our_mac, 6);
			e1000_receive(f->e, frame, sizeof(frame));
		}
	}
	e1000_reset(f->e);
	assert_int_equal(f->irq_level, 0);
	assert_true(rd(f, E1000_STATUS) & E1000_STATUS_LU);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_eeprom_eerd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_eeprom_bitbang, setup, teardown),
		cmocka_unit_test_setup_teardown(test_phy_mdic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_status_and_reset, setup, teardown),
		cmocka_unit_test_setup_teardown(test_icr_and_ims, setup, teardown),
		cmocka_unit_test_setup_teardown(test_itr_delays_interrupt, setup_loop, teardown),
		cmocka_unit_test_setup_teardown(test_loop_transmit_and_rdtr, setup_loop, teardown),
		cmocka_unit_test_setup_teardown(test_tx_legacy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_checksum_offload, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_tso, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_basic, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_spanning_buffers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_checksum_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_filtering, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_overrun_stalls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_io_bar, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_rx, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_tx, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_registers, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
