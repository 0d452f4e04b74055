/* The Intel 82540EM (see e1000.h): its registers, EEPROM and PHY, interrupt
 * causes and moderation, the receive ring with address filtering and
 * checksum status, the transmit ring with checksum offload and TCP
 * segmentation done in software, and the PCI function. Section numbers
 * are the 8254x SDM's (e1000_regs.h).
 *
 * Threading: vCPU threads access the registers; the back end calls
 * e1000_receive, and the timers fire, on the event-loop thread, which also
 * transmits (a TDT write only kicks it). One mutex guards the controller.
 * It is recursive because user-mode networking answers some frames (ARP,
 * DHCP) inside net_send, calling e1000_receive on the thread that is
 * transmitting, and a TAP hands over the frame it held inside
 * net_rx_ready. Lock order: the controller's, then the PCI bus's (through
 * pci_set_irq); the PCI layer calls back only e1000_set_bus_master, which
 * takes no lock. */
#include "hw/e1000.h"

#include <endian.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "event.h"
#include "hw/e1000_regs.h"
#include "log.h"

#define E1000_FCS_LEN 4
#define E1000_VLAN_LEN 4
#define E1000_MIN_FRAME 60         /* without FCS: shorter received frames are padded */
/* The longest frame received (no FCS here): 16384 bytes with RCTL.LPE,
 * else 1522, the longest tagged frame, taken leniently without its FCS. */
#define E1000_RX_MAX_LPE 16384
#define E1000_RX_MAX 1522
#define E1000_TX_BUDGET 256        /* descriptors per turn of the event loop */
/* TSO with a smaller MSS is dropped: a 1 MiB descriptor would otherwise
 * become a million frames on the event-loop thread. Guests use >= 88. */
#define E1000_TSO_MIN_MSS 64
#define E1000_ITR_UNIT_NS 256      /* 13.4.18 */
#define E1000_DELAY_UNIT_NS 1024   /* RDTR, RADV, TIDV, TADV */
/* Auto-negotiation after a PHY restart takes this long, the link down
 * meanwhile, then LSC: what QEMU's model does, which the in-box drivers
 * have long been run against. */
#define E1000_AUTONEG_NS 500000000ULL

#define ETH_TYPE_IPV4 0x0800
#define IP_PROTO_TCP 6
#define IP_PROTO_UDP 17
#define IPV6_HDR_LEN 40
#define TCP_FLAG_FIN 0x01
#define TCP_FLAG_PSH 0x08

#define REG(e, off) ((e)->regs[(off) / 4])

/* 3.3.5: the TCP/IP context descriptor's fields. PAYLEN is not needed:
 * a segmented packet ends at its EOP. */
struct e1000_tx_ctx {
	uint8_t ipcss, ipcso, tucss, tucso, tucmd, hdrlen;
	uint16_t ipcse, tucse, mss;
};

/* The packet being gathered from transmit descriptors. */
struct e1000_tx {
	struct e1000_tx_ctx ctx;  /* the last context descriptor */
	struct e1000_tx_ctx pctx; /* the context this packet started with */
	bool in_packet;           /* descriptors taken, its EOP not yet */
	bool broken;              /* unreadable or too long: dropped at EOP */
	bool tso;                 /* segmented (3.5) */
	bool legacy_ic;           /* legacy IC: checksum CSS..end at CSO */
	uint8_t css, cso;
	uint8_t popts;            /* IXSM, TXSM */
	bool vle;                 /* insert `vlan` after the addresses */
	uint16_t vlan;
	bool hdr_saved;           /* hdr holds the TSO headers */
	unsigned frames;          /* segments sent of this TSO packet */
	uint32_t sent;            /* payload bytes in them */
	size_t size;              /* bytes gathered in the frame */
	uint8_t hdr[256];         /* the TSO headers as the driver wrote them */
	uint8_t buf[E1000_VLAN_LEN + NET_FRAME_MAX]; /* room for a tag, then the frame */
};

/* The Microwire EEPROM's serial interface (EECD bit-banging, 5.3). */
struct e1000_ee {
	unsigned bits;    /* command bits clocked in since the start bit */
	uint32_t cmd;
	bool reading;     /* a READ is shifting data out */
	bool dummy;       /* DO shows the 0 that precedes the data */
	bool ignoring;    /* another command (write, erase): ignored to CS low */
	unsigned pos;     /* the data bit on DO: word * 16 + (15 - bit) */
};

struct e1000 {
	pthread_mutex_t lock;
	const struct guest_mem *mem;
	struct event_loop *loop;
	struct irq_pin irq;
	struct net_backend *be;
	struct event_timer *kick;  /* transmit, and receive restarts */
	struct event_timer *timer; /* ITR, the delay timers, auto-negotiation */
	atomic_bool bus_master;
	atomic_bool dma_enabled;   /* bus mastering came on: the kick retries all */
	uint8_t mac[NET_MAC_LEN];
	uint32_t regs[E1000_REG_SPACE / 4];
	uint16_t eeprom[E1000_EEPROM_WORDS];
	uint16_t phy[E1000_PHY_REGS];
	bool link_up;
	uint32_t ioaddr;
	struct e1000_ee ee;
	int irq_level;
	bool irq_deferred;        /* a cause waits for the ITR interval */
	/* Deadlines on CLOCK_MONOTONIC in ns, 0 for none. */
	uint64_t itr_next;        /* the earliest next assertion */
	uint64_t rx_delay_due, rx_abs_due, tx_delay_due, tx_abs_due, link_due;
	uint64_t timer_due;       /* what `timer` is armed for */
	bool tx_pending;          /* the kick has transmitting to do */
	bool rx_wake;             /* the kick calls net_rx_ready */
	bool rx_stalled;          /* a frame got -EAGAIN */
	bool rxo_signalled;       /* RXO raised for this stall */
	bool warned_tso;
	struct e1000_tx tx;
	uint8_t rx_frame[E1000_RX_MAX_LPE + E1000_FCS_LEN];
};

/* ---- bytes ---- */

static uint16_t get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_le64(const uint8_t *p)
{
	return get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

static void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static uint16_t get_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* Bounded big-endian accessors for headers a guest laid out: an offset
 * whose field does not lie wholly in [0, len) reads 0 and is not written. */
static uint16_t hdr_get16(const uint8_t *p, size_t len, size_t off)
{
	return off + 2 <= len ? get_be16(p + off) : 0;
}

static uint32_t hdr_get32(const uint8_t *p, size_t len, size_t off)
{
	return off + 4 <= len ? (uint32_t)get_be16(p + off) << 16 | get_be16(p + off + 2) : 0;
}

static void hdr_put16(uint8_t *p, size_t len, size_t off, uint16_t v)
{
	if (off + 2 <= len) {
		p[off] = (uint8_t)(v >> 8);
		p[off + 1] = (uint8_t)v;
	}
}

static void hdr_put32(uint8_t *p, size_t len, size_t off, uint32_t v)
{
	if (off + 4 <= len) {
		hdr_put16(p, len, off, (uint16_t)(v >> 16));
		hdr_put16(p, len, off + 2, (uint16_t)v);
	}
}

/* The Internet checksum (RFC 1071): big-endian 16-bit words from p. */
static uint64_t csum_add(uint64_t sum, const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += get_be16(p + i);
	if (len & 1)
		sum += (uint64_t)p[len - 1] << 8;
	return sum;
}

static uint16_t csum_fold(uint64_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* The Ethernet FCS: CRC-32 (IEEE 802.3), reflected, four bits a step. */
static uint32_t e1000_crc32(const uint8_t *p, size_t len)
{
	static const uint32_t nibble[16] = {
		0x00000000, 0x1db71064, 0x3b6e20c8, 0x26d930ac, 0x76dc4190, 0x6b6b51f4,
		0x4db26158, 0x5005713c, 0xedb88320, 0xf00f9344, 0xd6d6a3e8, 0xcb61b38c,
		0x9b64c2b0, 0x86d3d2d4, 0xa00ae278, 0xbdbdf21c,
	};
	uint32_t crc = 0xffffffff;

	for (size_t i = 0; i < len; i++) {
		crc ^= p[i];
		crc = (crc >> 4) ^ nibble[crc & 15];
		crc = (crc >> 4) ^ nibble[crc & 15];
	}
	return ~crc;
}

static uint64_t e1000_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t earliest(uint64_t a, uint64_t b)
{
	return !a ? b : !b ? a : a < b ? a : b;
}

/* ---- statistics (13.7): saturating 32-bit counters, 64-bit octets ---- */

static void stat_inc(struct e1000 *e, uint32_t off)
{
	if (REG(e, off) != UINT32_MAX)
		REG(e, off)++;
}

static void stat_add64(struct e1000 *e, uint32_t low, uint64_t n)
{
	uint64_t v = REG(e, low) | (uint64_t)REG(e, low + 4) << 32;

	v += n;
	REG(e, low) = (uint32_t)v;
	REG(e, low + 4) = (uint32_t)(v >> 32);
}

/* stat_size: PRC64..PRC1522 or PTC64..PTC1522 by length with FCS. */
static void stat_size(struct e1000 *e, uint32_t first, size_t len)
{
	static const size_t upper[] = { 64, 127, 255, 511, 1023, 1522 };

	for (unsigned i = 0; i < sizeof(upper) / sizeof(upper[0]); i++) {
		if (len <= upper[i]) {
			stat_inc(e, first + 4 * i);
			return;
		}
	}
}

/* ---- interrupts (13.4.17-21) and moderation (13.4.18, 3.2.7, 3.4.3) ---- */

/* e1000_timer_update: arm the timer for the earliest deadline. */
static void e1000_timer_update(struct e1000 *e)
{
	uint64_t due = e->irq_deferred ? e->itr_next : 0, now;

	if (!e->loop)
		return;
	due = earliest(due, earliest(e->rx_delay_due, e->rx_abs_due));
	due = earliest(due, earliest(e->tx_delay_due, e->tx_abs_due));
	due = earliest(due, e->link_due);
	if (due == e->timer_due)
		return;
	e->timer_due = due;
	if (!due) {
		event_timer_arm(e->timer, 0, 0);
		return;
	}
	now = e1000_now();
	event_timer_arm(e->timer, due > now ? due - now : 1, 0);
}

/* e1000_update_irq: INTx follows ICR & IMS, except that with ITR set an
 * assertion comes at least ITR * 256 ns after the one before (13.4.18). */
static void e1000_update_irq(struct e1000 *e)
{
	uint32_t itr = REG(e, E1000_ITR) & E1000_DELAY_MASK;
	bool pending = REG(e, E1000_ICR) & REG(e, E1000_IMS);

	e->irq_deferred = false;
	if (!pending && e->irq_level) {
		e->irq_level = 0;
		irq_pin_set(&e->irq, 0);
	} else if (pending && !e->irq_level) {
		uint64_t now = e->loop && itr ? e1000_now() : 0;

		if (now && now < e->itr_next) {
			e->irq_deferred = true;
		} else {
			e->irq_level = 1;
			irq_pin_set(&e->irq, 1);
			if (now)
				e->itr_next = now + (uint64_t)itr * E1000_ITR_UNIT_NS;
		}
	}
	e1000_timer_update(e);
}

static void e1000_set_cause(struct e1000 *e, uint32_t cause)
{
	REG(e, E1000_ICR) |= cause & E1000_ICR_VALID;
	e1000_update_irq(e);
}

/* e1000_rx_interrupt: a frame went in: RXT0 now, or when the receive
 * delay timer (RDTR, restarted by every frame) or the absolute timer
 * (RADV, from the first frame) runs out (3.2.7.1). */
static void e1000_rx_interrupt(struct e1000 *e, uint32_t cause)
{
	uint64_t rdtr = REG(e, E1000_RDTR) & E1000_DELAY_MASK;
	uint64_t radv = REG(e, E1000_RADV) & E1000_DELAY_MASK;
	uint64_t now;

	if (!e->loop || !rdtr) {
		e1000_set_cause(e, cause | E1000_ICR_RXT0);
		return;
	}
	now = e1000_now();
	e->rx_delay_due = now + rdtr * E1000_DELAY_UNIT_NS;
	if (radv && !e->rx_abs_due)
		e->rx_abs_due = now + radv * E1000_DELAY_UNIT_NS;
	e1000_set_cause(e, cause);
}

/* e1000_tx_interrupt: TXDW for descriptors that asked for IDE is delayed
 * by TIDV (restarted) and TADV (absolute) (3.4.3). */
static void e1000_tx_interrupt(struct e1000 *e, uint32_t cause, bool delayed)
{
	uint64_t tidv = REG(e, E1000_TIDV) & E1000_DELAY_MASK;
	uint64_t tadv = REG(e, E1000_TADV) & E1000_DELAY_MASK;
	uint64_t now;

	if (delayed && e->loop && tidv) {
		now = e1000_now();
		e->tx_delay_due = now + tidv * E1000_DELAY_UNIT_NS;
		if (tadv && !e->tx_abs_due)
			e->tx_abs_due = now + tadv * E1000_DELAY_UNIT_NS;
	} else if (delayed) {
		cause |= E1000_ICR_TXDW;
	}
	e1000_set_cause(e, cause);
}

/* ---- link and PHY ---- */

static void e1000_link_set(struct e1000 *e, bool up)
{
	e->link_up = up;
	if (up) {
		e->phy[PHY_STATUS] |= PHY_STATUS_LINK | PHY_STATUS_AN_COMPLETE;
		e->phy[M88_PHY_SPEC_STATUS] |= 0x0400;       /* real-time link */
		e->phy[PHY_LP_ABILITY] = 0x41e0;             /* ack, 10/100 half/full */
	} else {
		e->phy[PHY_STATUS] &= (uint16_t)~(PHY_STATUS_LINK | PHY_STATUS_AN_COMPLETE);
		e->phy[M88_PHY_SPEC_STATUS] &= (uint16_t)~0x0400;
		e->phy[PHY_LP_ABILITY] = 0;
	}
}

/* e1000_phy_reset: an M88E1011 after reset, auto-negotiated at 1000 Mb/s
 * full duplex with the link up (the values QEMU's model gives). */
static void e1000_phy_reset(struct e1000 *e)
{
	memset(e->phy, 0, sizeof(e->phy));
	e->phy[PHY_CTRL] = 0x1140;          /* AN enable, full duplex, 1000 Mb/s */
	e->phy[PHY_STATUS] = 0x794d;        /* 10/100 capable, extended status */
	e->phy[PHY_ID1] = M88_PHY_ID1;
	e->phy[PHY_ID2] = M88E1011_PHY_ID2;
	e->phy[PHY_AUTONEG_ADV] = 0x0de1;
	e->phy[PHY_AUTONEG_EXP] = 0x0001;   /* the partner negotiates */
	e->phy[PHY_1000T_CTRL] = 0x0e00;
	e->phy[PHY_1000T_STATUS] = 0x3c00;  /* partner 1000 half/full, receivers OK */
	e->phy[PHY_EXT_STATUS] = 0x3000;    /* 1000BASE-T half/full */
	e->phy[M88_PHY_SPEC_CTRL] = 0x0360;
	e->phy[M88_PHY_SPEC_STATUS] = 0xa800; /* 1000 Mb/s, full duplex, resolved */
	e->phy[M88_EXT_PHY_SPEC_CTRL] = 0x0d60;
	e1000_link_set(e, true);
}

/* e1000_autoneg_restart: the link drops and comes back with LSC; at
 * once without an event loop. */
static void e1000_autoneg_restart(struct e1000 *e)
{
	if (!e->loop) {
		e1000_link_set(e, true);
		e1000_set_cause(e, E1000_ICR_LSC);
		return;
	}
	e1000_link_set(e, false);
	e->link_due = e1000_now() + E1000_AUTONEG_NS;
	e1000_timer_update(e);
}

static bool phy_reg_read_only(unsigned reg)
{
	return reg == PHY_STATUS || reg == PHY_ID1 || reg == PHY_ID2 || reg == PHY_LP_ABILITY ||
	       reg == PHY_AUTONEG_EXP || reg == PHY_1000T_STATUS || reg == PHY_EXT_STATUS ||
	       reg == M88_PHY_SPEC_STATUS;
}

static void e1000_phy_write(struct e1000 *e, unsigned reg, uint16_t v)
{
	if (phy_reg_read_only(reg))
		return;
	if (reg != PHY_CTRL) {
		e->phy[reg] = v;
		return;
	}
	if (v & PHY_CTRL_RESET) {
		/* back to the defaults, then negotiating afresh */
		e1000_phy_reset(e);
		e1000_autoneg_restart(e);
		return;
	}
	e->phy[PHY_CTRL] = v & (uint16_t)~PHY_CTRL_RESTART_AN;
	if ((v & PHY_CTRL_RESTART_AN) && (v & PHY_CTRL_AN_ENABLE))
		e1000_autoneg_restart(e);
}

/* MDIC (13.4.7): one PHY access, done at once (READY set). Only PHY
 * address 1 answers; others set ERROR. */
static void e1000_mdic_write(struct e1000 *e, uint32_t v)
{
	unsigned phy = (v >> E1000_MDIC_PHY_SHIFT) & 0x1f, reg = (v >> E1000_MDIC_REG_SHIFT) & 0x1f;
	uint32_t op = v & (3u << 26);

	v &= ~(E1000_MDIC_READY | E1000_MDIC_ERROR);
	if (phy != E1000_PHY_ADDRESS || (op != E1000_MDIC_OP_READ && op != E1000_MDIC_OP_WRITE)) {
		v |= E1000_MDIC_ERROR;
	} else if (op == E1000_MDIC_OP_READ) {
		v = (v & ~E1000_MDIC_DATA_MASK) | e->phy[reg];
	} else {
		e1000_phy_write(e, reg, (uint16_t)v);
	}
	REG(e, E1000_MDIC) = v | E1000_MDIC_READY;
	if (v & E1000_MDIC_INT_EN)
		e1000_set_cause(e, E1000_ICR_MDAC);
}

/* ---- EEPROM (5.3, 5.6) ---- */

static void e1000_eeprom_init(struct e1000 *e)
{
	uint16_t *w = e->eeprom, sum = 0;

	memset(e->eeprom, 0, sizeof(e->eeprom));
	for (unsigned i = 0; i < 3; i++)
		w[E1000_EE_MAC + i] = (uint16_t)(e->mac[2 * i] | e->mac[2 * i + 1] << 8);
	w[E1000_EE_ICW1] = E1000_EE_ICW1_SIGNATURE | E1000_EE_ICW1_FD | E1000_EE_ICW1_LSSID |
			   E1000_EE_ICW1_LVDID;
	w[E1000_EE_SUBSYS_ID] = E1000_SUBSYS_ID;
	w[E1000_EE_SUBSYS_VENDOR] = E1000_VENDOR_INTEL;
	w[E1000_EE_DEVICE_ID] = E1000_DEV_82540EM;
	w[E1000_EE_VENDOR_ID] = E1000_VENDOR_INTEL;
	w[E1000_EE_ICW2] = E1000_EE_ICW2_PAUSE;
	for (unsigned i = 0; i < E1000_EE_CHECKSUM; i++)
		sum = (uint16_t)(sum + w[i]);
	w[E1000_EE_CHECKSUM] = (uint16_t)(E1000_EE_CHECKSUM_SUM - sum);
}

/* e1000_ee_do: the EEPROM's DO pin: the data bit of a READ, the 0 before
 * it, or high (ready) otherwise. */
static bool e1000_ee_do(const struct e1000 *e)
{
	if (!e->ee.reading)
		return true;
	if (e->ee.dummy)
		return false;
	return (e->eeprom[e->ee.pos / 16] >> (15 - e->ee.pos % 16)) & 1;
}

/* e1000_eecd_write: software bit-bangs the 93C46-style Microwire EEPROM
 * (64 words): with CS high, a start bit, opcode 10b and six address bits
 * on DI clocked in on rising SK edges, then the words shift out on DO, one
 * bit per rising edge, continuing into the next word. Other commands are
 * clocked in and ignored: the EEPROM is read-only. */
static void e1000_eecd_write(struct e1000 *e, uint32_t v)
{
	uint32_t old = REG(e, E1000_EECD);
	struct e1000_ee *ee = &e->ee;

	REG(e, E1000_EECD) = v & E1000_EECD_WRITABLE;
	if (!(v & E1000_EECD_CS) || !(old & E1000_EECD_CS)) {
		memset(ee, 0, sizeof(*ee));
		return;
	}
	if (!(v & E1000_EECD_SK) || (old & E1000_EECD_SK))
		return;
	if (ee->reading) {
		if (ee->dummy)
			ee->dummy = false;
		else
			ee->pos = (ee->pos + 1) % (E1000_EEPROM_WORDS * 16);
		return;
	}
	if (ee->ignoring || (ee->bits == 0 && !(v & E1000_EECD_DI)))
		return; /* before the start bit, zeros are idle clocks */
	ee->cmd = ee->cmd << 1 | ((v & E1000_EECD_DI) ? 1 : 0);
	if (++ee->bits < 3 + E1000_EEPROM_ADDR_BITS)
		return;
	if (ee->cmd >> E1000_EEPROM_ADDR_BITS == E1000_EE_OPCODE_READ) {
		ee->reading = true;
		ee->dummy = true;
		ee->pos = (ee->cmd & (E1000_EEPROM_WORDS - 1)) * 16;
	} else {
		ee->ignoring = true;
	}
}

static uint32_t e1000_eecd_read(const struct e1000 *e)
{
	uint32_t v = REG(e, E1000_EECD) | E1000_EECD_PRES;

	if (v & E1000_EECD_REQ)
		v |= E1000_EECD_GNT; /* software always gets the EEPROM */
	if (e1000_ee_do(e))
		v |= E1000_EECD_DO;
	return v;
}

/* EERD (13.4.4): a word read at once (START in, DONE and data out);
 * words past the EEPROM read FFFFh. */
static void e1000_eerd_write(struct e1000 *e, uint32_t v)
{
	unsigned addr = (v >> E1000_EERD_ADDR_SHIFT) & 0xff;
	uint16_t data = addr < E1000_EEPROM_WORDS ? e->eeprom[addr] : 0xffff;

	if (!(v & E1000_EERD_START)) {
		REG(e, E1000_EERD) = v & 0xff00;
		return;
	}
	REG(e, E1000_EERD) = (uint32_t)data << E1000_EERD_DATA_SHIFT |
			     addr << E1000_EERD_ADDR_SHIFT | E1000_EERD_DONE;
}

/* ---- work for the event loop ---- */

static void e1000_tx_run(struct e1000 *e);

/* e1000_schedule_tx: transmit what the ring holds, on the loop's thread
 * (back ends are the loop's), or now without a loop. */
static void e1000_schedule_tx(struct e1000 *e)
{
	if (!e->loop) {
		e1000_tx_run(e);
		return;
	}
	e->tx_pending = true;
	event_timer_arm(e->kick, 1, 0);
}

/* e1000_rx_resume: descriptors were added (or the receiver changed): a
 * back end holding a frame we refused may offer it again. */
static void e1000_rx_resume(struct e1000 *e)
{
	if (!e->rx_stalled)
		return;
	e->rx_stalled = false;
	if (!e->loop) {
		if (e->be)
			net_rx_ready(e->be);
		return;
	}
	e->rx_wake = true;
	event_timer_arm(e->kick, 1, 0);
}

static void e1000_kick(void *opaque)
{
	struct e1000 *e = opaque;

	pthread_mutex_lock(&e->lock);
	if (atomic_exchange(&e->dma_enabled, false)) {
		e->tx_pending = true;
		e->rx_wake |= e->rx_stalled;
		e->rx_stalled = false;
	}
	if (e->tx_pending) {
		e->tx_pending = false;
		e1000_tx_run(e);
	}
	if (e->rx_wake) {
		e->rx_wake = false;
		if (e->be)
			net_rx_ready(e->be);
	}
	pthread_mutex_unlock(&e->lock);
}

static void e1000_timer_fired(void *opaque)
{
	struct e1000 *e = opaque;
	uint64_t now = e1000_now(), rx_due, tx_due;
	uint32_t cause = 0;

	pthread_mutex_lock(&e->lock);
	e->timer_due = 0;
	rx_due = earliest(e->rx_delay_due, e->rx_abs_due);
	if (rx_due && now >= rx_due) {
		e->rx_delay_due = e->rx_abs_due = 0;
		cause |= E1000_ICR_RXT0;
	}
	tx_due = earliest(e->tx_delay_due, e->tx_abs_due);
	if (tx_due && now >= tx_due) {
		e->tx_delay_due = e->tx_abs_due = 0;
		cause |= E1000_ICR_TXDW;
	}
	if (e->link_due && now >= e->link_due) {
		e->link_due = 0;
		e1000_link_set(e, true);
		cause |= E1000_ICR_LSC;
	}
	e1000_set_cause(e, cause); /* also delivers an assertion ITR held back */
	pthread_mutex_unlock(&e->lock);
}

/* ---- receive (3.2) ---- */

/* e1000_rx_accept: destination address filtering (3.2.1): broadcast with
 * BAM, any multicast with MPE, any unicast with UPE, the 16 exact
 * addresses with AV, then multicast through the MTA hash, whose 12 bits
 * RCTL.MO picks from the last two address bytes. */
static bool e1000_rx_accept(const struct e1000 *e, const uint8_t *dst, bool *bcast, bool *mcast)
{
	static const uint8_t broadcast[NET_MAC_LEN] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	static const unsigned mo_shift[4] = { 4, 3, 2, 0 };
	uint32_t rctl = REG(e, E1000_RCTL);
	unsigned hash;

	*bcast = !memcmp(dst, broadcast, NET_MAC_LEN);
	*mcast = dst[0] & 1;
	if ((*bcast && (rctl & E1000_RCTL_BAM)) || (*mcast && (rctl & E1000_RCTL_MPE)) ||
	    (!*mcast && (rctl & E1000_RCTL_UPE)))
		return true;
	for (uint32_t ra = E1000_RA; ra < E1000_RA_END; ra += 8) {
		uint32_t lo = REG(e, ra), hi = REG(e, ra + 4);
		uint8_t addr[NET_MAC_LEN] = { (uint8_t)lo, (uint8_t)(lo >> 8), (uint8_t)(lo >> 16),
					      (uint8_t)(lo >> 24), (uint8_t)hi, (uint8_t)(hi >> 8) };

		if ((hi & E1000_RAH_AV) && !memcmp(dst, addr, NET_MAC_LEN))
			return true;
	}
	if (!*mcast)
		return false;
	hash = ((unsigned)(dst[5] << 8 | dst[4]) >> mo_shift[(rctl >> E1000_RCTL_MO_SHIFT) & 3]) & 0xfff;
	return (REG(e, E1000_MTA + 4 * (hash >> 5)) >> (hash & 31)) & 1;
}

/* e1000_rx_csum: receive checksum offload (3.2.9): with IPOFLD the IPv4
 * header checksum, with TUOFLD the TCP or UDP checksum of an unfragmented
 * IPv4 packet, are checked (IPCS/TCPCS, IPE/TCPE on failure); with
 * neither, IXSM tells the driver to ignore the bits. */
static void e1000_rx_csum(const struct e1000 *e, const uint8_t *f, size_t len, uint8_t *status,
			  uint8_t *errors)
{
	uint32_t rxcsum = REG(e, E1000_RXCSUM);
	size_t l3 = NET_ETH_HLEN, ihl, total, l4len;
	uint16_t type = get_be16(f + 12);
	const uint8_t *ip, *l4;
	uint64_t sum;

	if (!(rxcsum & (E1000_RXCSUM_IPOFLD | E1000_RXCSUM_TUOFLD))) {
		*status |= E1000_RXD_STAT_IXSM;
		return;
	}
	if (type == (REG(e, E1000_VET) & 0xffff) && len >= NET_ETH_HLEN + E1000_VLAN_LEN) {
		type = get_be16(f + 16); /* a tag left in place */
		l3 += E1000_VLAN_LEN;
	}
	/* The bounds: a whole IPv4 header inside the frame, and the total
	 * length it claims too; anything else is not checked. */
	if (type != ETH_TYPE_IPV4 || len < l3 + 20)
		return;
	ip = f + l3;
	ihl = (ip[0] & 0xf) * 4u;
	total = get_be16(ip + 2);
	if (ip[0] >> 4 != 4 || ihl < 20 || total < ihl || l3 + total > len)
		return;
	if (rxcsum & E1000_RXCSUM_IPOFLD) {
		*status |= E1000_RXD_STAT_IPCS;
		if (csum_fold(csum_add(0, ip, ihl)) != 0xffff)
			*errors |= E1000_RXD_ERR_IPE;
	}
	if (!(rxcsum & E1000_RXCSUM_TUOFLD) || (get_be16(ip + 6) & 0x3fff))
		return; /* fragments are not checked */
	l4 = ip + ihl;
	l4len = total - ihl;
	if (!((ip[9] == IP_PROTO_TCP && l4len >= 20) ||
	      (ip[9] == IP_PROTO_UDP && l4len >= 8 && get_be16(l4 + 6) != 0)))
		return;
	sum = csum_add(0, ip + 12, 8) + ip[9] + l4len; /* the pseudo-header */
	*status |= E1000_RXD_STAT_TCPCS;
	if (csum_fold(csum_add(sum, l4, l4len)) != 0xffff)
		*errors |= E1000_RXD_ERR_TCPE;
}

/* RCTL.BSIZE/BSEX (13.4.22): 2048, 1024, 512, 256, or x16 for the
 * reserved-free codes (16384, 8192, 4096). */
static size_t e1000_rx_bufsize(uint32_t rctl)
{
	static const size_t normal[4] = { 2048, 1024, 512, 256 };
	static const size_t extended[4] = { 2048, 16384, 8192, 4096 };
	unsigned code = (rctl >> E1000_RCTL_BSIZE_SHIFT) & 3;

	return rctl & E1000_RCTL_BSEX ? extended[code] : normal[code];
}

/* e1000_rx_place: the `total` bytes at e->rx_frame into the receive ring
 * (3.2.3-3.2.6), a buffer per descriptor from RDH on, DD on each, EOP and
 * the checksum status on the last. 1 placed, 0 dropped, -EAGAIN when the
 * free descriptors are too few. */
static int e1000_rx_place(struct e1000 *e, size_t total, uint8_t status, uint8_t errors,
			  uint16_t special, uint16_t csum)
{
	uint64_t base = (uint64_t)REG(e, E1000_RDBAH) << 32 | REG(e, E1000_RDBAL);
	uint32_t ndesc = REG(e, E1000_RDLEN) / E1000_RXD_SIZE;
	uint32_t head = REG(e, E1000_RDH), tail = REG(e, E1000_RDT), avail, free_after;
	size_t bufsize = e1000_rx_bufsize(REG(e, E1000_RCTL)), need, off = 0;
	unsigned rdmts = (REG(e, E1000_RCTL) >> E1000_RCTL_RDMTS_SHIFT) & 3;
	uint8_t *ring = ndesc ? mem_ptr(e->mem, base, (uint64_t)ndesc * E1000_RXD_SIZE) : NULL;
	uint32_t cause = 0;

	/* The bounds: a ring wholly in RAM, head and tail inside it, and a
	 * frame needing fewer descriptors than the ring has (one always
	 * stays empty). A ring outside RAM or too small drops the frame; a
	 * head or tail outside the ring counts as no room. */
	need = (total + bufsize - 1) / bufsize;
	if (!ring || need >= ndesc) {
		stat_inc(e, E1000_MPC);
		return 0;
	}
	avail = head < ndesc && tail < ndesc ? (tail + ndesc - head) % ndesc : 0;
	if (need > avail) {
		stat_inc(e, E1000_RNBC);
		e->rx_stalled = true;
		if (!e->rxo_signalled) {
			e->rxo_signalled = true;
			e1000_set_cause(e, E1000_ICR_RXO);
		}
		return -EAGAIN;
	}
	for (size_t i = 0; i < need; i++) {
		uint8_t *d = ring + (size_t)head * E1000_RXD_SIZE;
		size_t chunk = total - off < bufsize ? total - off : bufsize;
		bool last = i + 1 == need;
		/* A buffer outside RAM takes nothing, as a master abort would. */
		uint8_t *dst = mem_ptr(e->mem, get_le64(d), chunk);

		if (dst)
			memcpy(dst, e->rx_frame + off, chunk);
		put_le16(d + E1000_RXD_LENGTH, (uint16_t)chunk);
		put_le16(d + E1000_RXD_CSUM, csum);
		d[E1000_RXD_ERRORS] = last ? errors : 0;
		put_le16(d + E1000_RXD_SPECIAL, special);
		/* the guest polls DD: everything else first */
		atomic_thread_fence(memory_order_release);
		d[E1000_RXD_STATUS] = (uint8_t)(E1000_RXD_STAT_DD |
						(last ? E1000_RXD_STAT_EOP | status : 0));
		off += chunk;
		head = (head + 1) % ndesc;
	}
	REG(e, E1000_RDH) = head;
	e->rxo_signalled = false;
	/* RXDMT0 when the free descriptors fall to RDMTS's share of the ring */
	free_after = (tail + ndesc - head) % ndesc;
	if (free_after <= ndesc >> (rdmts + 1))
		cause |= E1000_ICR_RXDMT0;
	e1000_rx_interrupt(e, cause);
	return 1;
}

static int e1000_rx_frame(struct e1000 *e, const uint8_t *buf, size_t len)
{
	uint32_t rctl = REG(e, E1000_RCTL);
	size_t max = rctl & E1000_RCTL_LPE ? E1000_RX_MAX_LPE : E1000_RX_MAX;
	uint32_t pcss = REG(e, E1000_RXCSUM) & E1000_RXCSUM_PCSS_MASK;
	uint8_t *f = e->rx_frame, status = 0, errors = 0;
	uint16_t special = 0, csum = 0;
	bool bcast, mcast;
	size_t total;
	int rc;

	if (!(rctl & E1000_RCTL_EN) || !e->link_up || !atomic_load(&e->bus_master))
		return 0;
	/* The bounds: an Ethernet header at least, and no longer than RCTL.LPE
	 * allows (counted as oversize); rx_frame holds the longest. */
	if (len < NET_ETH_HLEN || !e1000_rx_accept(e, buf, &bcast, &mcast))
		return 0;
	if (len > max) {
		stat_inc(e, E1000_ROC);
		return 0;
	}
	/* VLAN mode strips the tag into the descriptor's special field. */
	if ((REG(e, E1000_CTRL) & E1000_CTRL_VME) && len >= NET_ETH_HLEN + E1000_VLAN_LEN &&
	    get_be16(buf + 12) == (REG(e, E1000_VET) & 0xffff)) {
		special = get_be16(buf + 14);
		status |= E1000_RXD_STAT_VP;
		memcpy(f, buf, 12);
		memcpy(f + 12, buf + 16, len - 16);
		len -= E1000_VLAN_LEN;
	} else {
		memcpy(f, buf, len);
	}
	if (len < E1000_MIN_FRAME) {
		memset(f + len, 0, E1000_MIN_FRAME - len);
		len = E1000_MIN_FRAME;
	}
	e1000_rx_csum(e, f, len, &status, &errors);
	if (pcss < len)
		csum = csum_fold(csum_add(0, f + pcss, len - pcss));
	total = len;
	if (!(rctl & E1000_RCTL_SECRC)) {
		uint32_t fcs = e1000_crc32(f, len);

		for (unsigned i = 0; i < E1000_FCS_LEN; i++)
			f[len + i] = (uint8_t)(fcs >> (8 * i));
		total += E1000_FCS_LEN;
	}
	rc = e1000_rx_place(e, total, status, errors, special, csum);
	if (rc > 0) {
		/* counted only when it went in; octets include the FCS */
		stat_inc(e, E1000_GPRC);
		stat_inc(e, E1000_TPR);
		if (bcast)
			stat_inc(e, E1000_BPRC);
		else if (mcast)
			stat_inc(e, E1000_MPRC);
		stat_add64(e, E1000_GORCL, len + E1000_FCS_LEN);
		stat_add64(e, E1000_TORL, len + E1000_FCS_LEN);
		stat_size(e, E1000_PRC64, len + E1000_FCS_LEN);
	}
	return rc < 0 ? rc : 0;
}

int e1000_receive(void *opaque, const uint8_t *buf, size_t len)
{
	struct e1000 *e = opaque;
	int rc;

	pthread_mutex_lock(&e->lock);
	rc = e1000_rx_frame(e, buf, len);
	pthread_mutex_unlock(&e->lock);
	return rc;
}

/* ---- transmit (3.3-3.6) ---- */

static uint8_t *e1000_tx_frame(struct e1000 *e)
{
	return e->tx.buf + E1000_VLAN_LEN;
}

/* e1000_tx_send: one finished frame to the back end: the VLAN tag put in
 * (VLE with CTRL.VME), short frames padded (TCTL.PSP), counted. */
static void e1000_tx_send(struct e1000 *e, uint8_t *frame, size_t len)
{
	static const uint8_t broadcast[NET_MAC_LEN] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	uint8_t *p = frame;
	struct iovec iov;

	if (len < NET_ETH_HLEN)
		return;
	if (e->tx.vle && (REG(e, E1000_CTRL) & E1000_CTRL_VME)) {
		/* the headroom before the frame takes the addresses */
		p = frame - E1000_VLAN_LEN;
		memmove(p, frame, 12);
		hdr_put16(p, 16, 12, (uint16_t)REG(e, E1000_VET));
		hdr_put16(p, 16, 14, e->tx.vlan);
		len += E1000_VLAN_LEN;
	}
	if ((REG(e, E1000_TCTL) & E1000_TCTL_PSP) && len < E1000_MIN_FRAME) {
		memset(p + len, 0, E1000_MIN_FRAME - len);
		len = E1000_MIN_FRAME;
	}
	/* The bound: what a back end takes (a tag may have pushed it over). */
	if (len > NET_FRAME_MAX)
		return;
	stat_inc(e, E1000_GPTC);
	stat_inc(e, E1000_TPT);
	if (!memcmp(p, broadcast, NET_MAC_LEN))
		stat_inc(e, E1000_BPTC);
	else if (p[0] & 1)
		stat_inc(e, E1000_MPTC);
	stat_add64(e, E1000_GOTCL, len + E1000_FCS_LEN);
	stat_add64(e, E1000_TOTL, len + E1000_FCS_LEN);
	stat_size(e, E1000_PTC64, len + E1000_FCS_LEN);
	iov = (struct iovec){ p, len };
	if (e->be)
		net_send(e->be, &iov, 1);
}

/* e1000_tx_insert_csum: the Internet checksum of [start, end) stored at
 * `at`, whatever the field held counted in (the driver's seed). A field or
 * range outside the frame is not touched (3.3.3, 3.3.5). A zero TCP/UDP
 * result goes in as FFFFh, which UDP needs. */
static void e1000_tx_insert_csum(uint8_t *frame, size_t len, size_t start, size_t end, size_t at,
				 bool l4)
{
	uint16_t sum;

	if (end > len)
		end = len;
	if (start >= end || at + 2 > len)
		return;
	sum = (uint16_t)~csum_fold(csum_add(0, frame + start, end - start));
	hdr_put16(frame, len, at, l4 && !sum ? 0xffff : sum);
}

/* e1000_tx_checksums: the offloads this packet asked for, in software:
 * legacy IC (CSS to the end, at CSO), or the context's IP checksum
 * (IPCSS..IPCSE at IPCSO, the field zeroed first) and TCP/UDP checksum
 * (TUCSS..TUCSE at TUCSO); an end of 0 means the end of the frame. */
static void e1000_tx_checksums(struct e1000 *e, uint8_t *frame, size_t len)
{
	const struct e1000_tx *tx = &e->tx;
	const struct e1000_tx_ctx *c = &tx->pctx;

	if (tx->legacy_ic) {
		e1000_tx_insert_csum(frame, len, tx->css, len, tx->cso, true);
		return;
	}
	if (tx->popts & E1000_POPTS_IXSM) {
		hdr_put16(frame, len, c->ipcso, 0);
		e1000_tx_insert_csum(frame, len, c->ipcss, c->ipcse ? c->ipcse + 1u : len, c->ipcso,
				     false);
	}
	if (tx->popts & E1000_POPTS_TXSM)
		e1000_tx_insert_csum(frame, len, c->tucss, c->tucse ? c->tucse + 1u : len, c->tucso,
				     true);
}

/* e1000_tso_segment: send the gathered headers and up to MSS payload
 * bytes as one frame, its headers fixed up as 3.5.9 says: IPv4 total
 * length and identification (+1 a frame), IPv6 payload length, TCP
 * sequence number (+ payload sent so far) with FIN and PSH only on the
 * last frame, UDP length; the TCP/UDP checksum seed (the pseudo-header
 * without length) gets this frame's length added. */
static void e1000_tso_segment(struct e1000 *e, bool last)
{
	struct e1000_tx *tx = &e->tx;
	const struct e1000_tx_ctx *c = &tx->pctx;
	uint8_t *frame = e1000_tx_frame(e);
	size_t hdr = c->hdrlen, len = tx->size;

	memcpy(frame, tx->hdr, hdr);
	if (c->tucmd & E1000_TUCMD_IP) {
		hdr_put16(frame, len, c->ipcss + 2u, (uint16_t)(len - c->ipcss));
		hdr_put16(frame, len, c->ipcss + 4u,
			  (uint16_t)(hdr_get16(tx->hdr, hdr, c->ipcss + 4u) + tx->frames));
	} else if (len >= c->ipcss + (size_t)IPV6_HDR_LEN) {
		hdr_put16(frame, len, c->ipcss + 4u, (uint16_t)(len - c->ipcss - IPV6_HDR_LEN));
	}
	if (c->tucmd & E1000_TUCMD_TCP) {
		hdr_put32(frame, len, c->tucss + 4u, hdr_get32(tx->hdr, hdr, c->tucss + 4u) + tx->sent);
		if (!last && c->tucss + 13u < len)
			frame[c->tucss + 13] &= (uint8_t)~(TCP_FLAG_FIN | TCP_FLAG_PSH);
	} else {
		hdr_put16(frame, len, c->tucss + 4u, (uint16_t)(len - c->tucss));
	}
	if ((tx->popts & E1000_POPTS_TXSM) && c->tucss < len)
		hdr_put16(frame, len, c->tucso,
			  csum_fold((uint64_t)hdr_get16(frame, len, c->tucso) + (len - c->tucss)));
	e1000_tx_checksums(e, frame, len);
	e1000_tx_send(e, frame, len);
	tx->frames++;
	tx->sent += (uint32_t)(len - hdr);
	tx->size = hdr;
}

/* e1000_tx_start: the first descriptor of a packet says how to treat it:
 * a legacy one its IC/CSS/CSO (3.3.3: "CSS must be set in the first
 * descriptor"), a data one its POPTS and TSE; either its VLE and tag. */
static void e1000_tx_start(struct e1000 *e, bool legacy, uint32_t dw2, uint32_t dw3)
{
	struct e1000_tx *tx = &e->tx;
	uint8_t cmd = (uint8_t)(dw2 >> 24);

	tx->in_packet = true;
	tx->broken = false;
	tx->size = 0;
	tx->hdr_saved = false;
	tx->frames = 0;
	tx->sent = 0;
	tx->pctx = tx->ctx;
	tx->legacy_ic = legacy && (cmd & E1000_TXD_CMD_IC);
	tx->css = (uint8_t)(dw3 >> 8);
	tx->cso = (uint8_t)(dw2 >> 16);
	tx->popts = legacy ? 0 : (uint8_t)(dw3 >> 8);
	tx->tso = !legacy && (cmd & E1000_TXD_CMD_TSE) && (tx->pctx.tucmd & E1000_TUCMD_TSE);
	tx->vle = cmd & E1000_TXD_CMD_VLE;
	tx->vlan = (uint16_t)(dw3 >> 16);
	/* The bounds for segmenting: headers of an Ethernet header or more,
	 * an MSS of E1000_TSO_MIN_MSS or more, and a frame that fits. */
	if (tx->tso && (tx->pctx.hdrlen < NET_ETH_HLEN || tx->pctx.mss < E1000_TSO_MIN_MSS ||
			(size_t)tx->pctx.hdrlen + tx->pctx.mss > NET_FRAME_MAX)) {
		tx->broken = true;
		if (!e->warned_tso)
			log_warn("e1000: dropped a TSO packet with headers of %u bytes and MSS %u "
				 "(further ones not shown)", tx->pctx.hdrlen, tx->pctx.mss);
		e->warned_tso = true;
	}
}

/* e1000_tx_gather: a descriptor's buffer into the packet. Segmenting, a
 * frame goes out each time headers plus MSS bytes are there and more
 * follow. */
static void e1000_tx_gather(struct e1000 *e, uint64_t addr, uint32_t len)
{
	struct e1000_tx *tx = &e->tx;
	uint8_t *frame = e1000_tx_frame(e);
	const uint8_t *src;

	if (tx->broken || !len)
		return;
	/* The bounds: the buffer wholly in RAM (else the packet is dropped,
	 * a real card's master abort), the packet within NET_FRAME_MAX
	 * (else dropped at its EOP). */
	src = mem_ptr(e->mem, addr, len);
	if (!src) {
		tx->broken = true;
		return;
	}
	while (len) {
		size_t room, n;

		if (tx->tso) {
			size_t hdr = tx->pctx.hdrlen, limit = hdr + tx->pctx.mss;

			if (tx->size == limit)
				e1000_tso_segment(e, false);
			room = (tx->size < hdr ? hdr : limit) - tx->size;
		} else {
			room = NET_FRAME_MAX - tx->size;
			if (!room) {
				tx->broken = true;
				return;
			}
		}
		n = room < len ? room : len;
		memcpy(frame + tx->size, src, n);
		tx->size += n;
		src += n;
		len -= (uint32_t)n;
		if (tx->tso && !tx->hdr_saved && tx->size == tx->pctx.hdrlen) {
			memcpy(tx->hdr, frame, tx->pctx.hdrlen);
			tx->hdr_saved = true;
		}
	}
}

/* e1000_tx_end: the EOP descriptor: send the packet, or its last
 * segment. */
static void e1000_tx_end(struct e1000 *e)
{
	struct e1000_tx *tx = &e->tx;

	if (!tx->broken && tx->tso) {
		if (tx->hdr_saved && (tx->size > tx->pctx.hdrlen || !tx->frames))
			e1000_tso_segment(e, true);
		stat_inc(e, E1000_TSCTC);
	} else if (!tx->broken) {
		e1000_tx_checksums(e, e1000_tx_frame(e), tx->size);
		e1000_tx_send(e, e1000_tx_frame(e), tx->size);
	}
	tx->in_packet = false;
	tx->size = 0;
}

static void e1000_tx_context(struct e1000 *e, const uint8_t *d)
{
	struct e1000_tx_ctx *c = &e->tx.ctx;

	c->ipcss = d[0];
	c->ipcso = d[1];
	c->ipcse = get_le16(d + 2);
	c->tucss = d[4];
	c->tucso = d[5];
	c->tucse = get_le16(d + 6);
	c->tucmd = d[11];
	c->hdrlen = d[13];
	c->mss = get_le16(d + 14);
}

/* e1000_tx_desc: one descriptor: legacy (3.3.3), context (3.3.5) or data
 * (3.3.6); reserved extended types are skipped. Returns whether its
 * status is to be written back (RS, or RPS for legacy); *ide says the
 * interrupt may be delayed. */
static bool e1000_tx_desc(struct e1000 *e, const uint8_t *d, bool *ide)
{
	uint32_t dw2 = get_le32(d + 8), dw3 = get_le32(d + 12), len;
	uint8_t cmd = (uint8_t)(dw2 >> 24);
	bool legacy = !(dw2 & E1000_TXD_DEXT);

	*ide = cmd & E1000_TXD_CMD_IDE;
	if (!legacy) {
		unsigned dtyp = (dw2 >> E1000_TXD_DTYP_SHIFT) & 0xf;

		if (dtyp == E1000_TXD_DTYP_CONTEXT)
			e1000_tx_context(e, d);
		if (dtyp != E1000_TXD_DTYP_DATA)
			return cmd & E1000_TXD_CMD_RS;
		len = dw2 & 0xfffff;
	} else {
		len = dw2 & 0xffff;
	}
	if (!e->tx.in_packet)
		e1000_tx_start(e, legacy, dw2, dw3);
	e1000_tx_gather(e, get_le64(d), len);
	if (cmd & E1000_TXD_CMD_EOP)
		e1000_tx_end(e);
	return cmd & (E1000_TXD_CMD_RS | (legacy ? E1000_TXD_CMD_RPS : 0));
}

/* e1000_tx_run: process descriptors from TDH to TDT (3.4): DD written
 * back where asked, then TXDW (maybe delayed) and TXQE once the ring is
 * empty. With a loop, at most E1000_TX_BUDGET a turn. */
static void e1000_tx_run(struct e1000 *e)
{
	uint64_t base = (uint64_t)REG(e, E1000_TDBAH) << 32 | REG(e, E1000_TDBAL);
	uint32_t ndesc = REG(e, E1000_TDLEN) / E1000_TXD_SIZE, head = REG(e, E1000_TDH);
	unsigned budget = e->loop ? E1000_TX_BUDGET : UINT_MAX, done = 0;
	bool txdw = false, txdw_now = false;
	uint8_t *ring;

	if (!(REG(e, E1000_TCTL) & E1000_TCTL_EN) || !atomic_load(&e->bus_master) || !ndesc)
		return;
	/* The bounds: the ring wholly in RAM, head and tail inside it;
	 * otherwise nothing moves until the driver sets them right. */
	ring = mem_ptr(e->mem, base, (uint64_t)ndesc * E1000_TXD_SIZE);
	if (!ring)
		return;
	while (head < ndesc && REG(e, E1000_TDT) < ndesc && head != REG(e, E1000_TDT)) {
		uint8_t d[E1000_TXD_SIZE];
		bool ide;

		if (done == budget) {
			e1000_schedule_tx(e);
			break;
		}
		memcpy(d, ring + (size_t)head * E1000_TXD_SIZE, sizeof(d));
		if (e1000_tx_desc(e, d, &ide)) {
			ring[(size_t)head * E1000_TXD_SIZE + E1000_TXD_STATUS] =
				(uint8_t)(d[E1000_TXD_STATUS] | E1000_TXD_STAT_DD);
			txdw = true;
			txdw_now |= !ide;
		}
		head = (head + 1) % ndesc;
		REG(e, E1000_TDH) = head;
		done++;
	}
	if (!done)
		return;
	if (txdw_now)
		e1000_tx_interrupt(e, E1000_ICR_TXDW | (head == REG(e, E1000_TDT) ? E1000_ICR_TXQE : 0),
				   false);
	else
		e1000_tx_interrupt(e, head == REG(e, E1000_TDT) ? E1000_ICR_TXQE : 0, txdw);
}

/* ---- reset ---- */

/* e1000_mac_reset: CTRL.RST (13.4.1): every MAC register to its default,
 * RAL0/RAH0 loaded from the EEPROM, nothing pending; the PHY stays. */
static void e1000_mac_reset(struct e1000 *e)
{
	struct e1000_tx_ctx ctx = { 0 };

	memset(e->regs, 0, sizeof(e->regs));
	REG(e, E1000_CTRL) = E1000_CTRL_FD | E1000_CTRL_ASDE | E1000_CTRL_SLU |
			     E1000_CTRL_SPEED_1000;
	REG(e, E1000_VET) = 0x8100;
	REG(e, E1000_PBA) = 0x30; /* 48 KiB receive, 16 KiB transmit */
	REG(e, E1000_RXCSUM) = E1000_RXCSUM_IPOFLD | E1000_RXCSUM_TUOFLD;
	REG(e, E1000_RA) = (uint32_t)e->mac[0] | (uint32_t)e->mac[1] << 8 |
			   (uint32_t)e->mac[2] << 16 | (uint32_t)e->mac[3] << 24;
	REG(e, E1000_RA + 4) = (uint32_t)e->mac[4] | (uint32_t)e->mac[5] << 8 | E1000_RAH_AV;
	memset(&e->ee, 0, sizeof(e->ee));
	e->tx.ctx = ctx;
	e->tx.in_packet = false;
	e->tx.size = 0;
	e->tx_pending = false;
	e->rx_delay_due = e->rx_abs_due = e->tx_delay_due = e->tx_abs_due = 0;
	e->itr_next = 0;
	e->rxo_signalled = false;
	e1000_update_irq(e);
	/* a back end holding a frame may go on: it is dropped now */
	e1000_rx_resume(e);
}

void e1000_reset(struct e1000 *e)
{
	pthread_mutex_lock(&e->lock);
	e->ioaddr = 0;
	e->link_due = 0;
	e1000_phy_reset(e);
	e1000_mac_reset(e);
	pthread_mutex_unlock(&e->lock);
}

/* ---- registers ---- */

static bool is_stat_high(uint32_t off)
{
	return off == E1000_GORCH || off == E1000_GOTCH || off == E1000_TORH || off == E1000_TOTH;
}

/* e1000_reg_read: the dword register at `off` (4-aligned), with its read
 * side effects. */
static uint32_t e1000_reg_read(struct e1000 *e, uint32_t off)
{
	uint32_t v;

	if (off >= E1000_REG_SPACE)
		return 0;
	switch (off) {
	case E1000_STATUS:
		return (e->link_up ? E1000_STATUS_LU : 0) | E1000_STATUS_FD |
		       E1000_STATUS_SPEED_1000 | E1000_STATUS_ASDV_1000;
	case E1000_EECD:
		return e1000_eecd_read(e);
	case E1000_ICR:
		/* 13.4.17: reading clears every cause */
		v = REG(e, E1000_ICR);
		REG(e, E1000_ICR) = 0;
		e1000_update_irq(e);
		return v;
	case E1000_ICS:
		return REG(e, E1000_ICR); /* write-only; reads as ICR, uncleared */
	case E1000_IMC:
		return 0;
	}
	v = REG(e, off);
	if (off >= E1000_STATS_START && off < E1000_STATS_END) {
		/* read-to-clear; the high half of a 64-bit count clears both */
		REG(e, off) = 0;
		if (is_stat_high(off))
			REG(e, off - 4) = 0;
	}
	return v;
}

/* e1000_reg_write: a dword write to the register at `off` (4-aligned). */
static void e1000_reg_write(struct e1000 *e, uint32_t off, uint32_t v)
{
	uint32_t old;

	if (off >= E1000_REG_SPACE || (off >= E1000_STATS_START && off < E1000_STATS_END))
		return; /* statistics are read-only */
	switch (off) {
	case E1000_CTRL:
		if (v & E1000_CTRL_RST) {
			e1000_mac_reset(e);
			return;
		}
		old = REG(e, E1000_CTRL);
		REG(e, E1000_CTRL) = v;
		if ((v & E1000_CTRL_PHY_RST) && !(old & E1000_CTRL_PHY_RST))
			e1000_phy_reset(e);
		return;
	case E1000_STATUS:
		return;
	case E1000_EECD:
		e1000_eecd_write(e, v);
		return;
	case E1000_EERD:
		e1000_eerd_write(e, v);
		return;
	case E1000_CTRL_EXT:
		REG(e, off) = v & ~E1000_CTRL_EXT_EE_RST;
		return;
	case E1000_MDIC:
		e1000_mdic_write(e, v);
		return;
	case E1000_ICR:
		REG(e, E1000_ICR) &= ~v; /* write 1 to clear */
		e1000_update_irq(e);
		return;
	case E1000_ICS:
		e1000_set_cause(e, v);
		return;
	case E1000_IMS:
		REG(e, E1000_IMS) |= v & E1000_ICR_VALID;
		e1000_update_irq(e);
		return;
	case E1000_IMC:
		REG(e, E1000_IMS) &= ~v;
		e1000_update_irq(e);
		return;
	case E1000_ITR:
	case E1000_RADV:
	case E1000_TIDV:
	case E1000_TADV:
		REG(e, off) = v & E1000_DELAY_MASK;
		return;
	case E1000_RDTR:
		REG(e, off) = v & E1000_DELAY_MASK;
		if ((v & E1000_RDTR_FPD) && (e->rx_delay_due || e->rx_abs_due)) {
			e->rx_delay_due = e->rx_abs_due = 0;
			e1000_set_cause(e, E1000_ICR_RXT0);
		}
		return;
	case E1000_RCTL:
		REG(e, off) = v;
		e1000_rx_resume(e);
		return;
	case E1000_TCTL:
		REG(e, off) = v;
		e1000_schedule_tx(e);
		return;
	case E1000_RDBAL:
	case E1000_TDBAL:
		REG(e, off) = v & ~0xfu; /* 16-byte aligned */
		return;
	case E1000_RDLEN:
	case E1000_TDLEN:
		REG(e, off) = v & 0xfff80; /* 128-byte multiples, bits 19:7 */
		return;
	case E1000_RDH:
	case E1000_TDH:
		REG(e, off) = v & 0xffff;
		return;
	case E1000_RDT:
		REG(e, off) = v & 0xffff;
		e1000_rx_resume(e);
		return;
	case E1000_TDT:
		REG(e, off) = v & 0xffff;
		e1000_schedule_tx(e);
		return;
	case E1000_RXCSUM:
		REG(e, off) = v & (E1000_RXCSUM_PCSS_MASK | E1000_RXCSUM_IPOFLD | E1000_RXCSUM_TUOFLD);
		return;
	}
	if (off >= E1000_RA && off < E1000_RA_END && (off & 4))
		v &= E1000_RAH_MASK;
	REG(e, off) = v;
}

/* A narrow write keeps the register's other bytes, except where a 1 acts
 * (ICR, ICS, IMS, IMC): there they write 0. */
static uint32_t e1000_reg_merge_base(const struct e1000 *e, uint32_t off)
{
	if (off >= E1000_REG_SPACE || off == E1000_ICR || off == E1000_ICS || off == E1000_IMS ||
	    off == E1000_IMC)
		return 0;
	return REG(e, off);
}

/* e1000_access: an access of `size` bytes at `offset`, split into the
 * dwords it touches: each read with its side effects once, each narrow
 * write merged into the register's current value. */
static void e1000_access(struct e1000 *e, uint64_t offset, uint8_t *data, unsigned size,
			 bool write)
{
	uint64_t end = offset + size;

	for (uint64_t dw = offset & ~3ull; dw < end; dw += 4) {
		unsigned lo = dw < offset ? (unsigned)(offset - dw) : 0;
		unsigned hi = end < dw + 4 ? (unsigned)(end - dw) : 4;
		uint8_t *p = data + (dw + lo - offset);
		uint32_t v;

		if (!write) {
			v = e1000_reg_read(e, (uint32_t)dw);
			for (unsigned i = lo; i < hi; i++)
				*p++ = (uint8_t)(v >> (8 * i));
			continue;
		}
		v = lo == 0 && hi == 4 ? 0 : e1000_reg_merge_base(e, (uint32_t)dw);
		for (unsigned i = lo; i < hi; i++) {
			v &= ~(0xffu << (8 * i));
			v |= (uint32_t)*p++ << (8 * i);
		}
		e1000_reg_write(e, (uint32_t)dw, v);
	}
}

/* BAR0: offset < E1000_MMIO_SIZE (the bus bounds it; checked again). */
static void e1000_mmio_read(void *opaque, uint64_t offset, void *data, unsigned size)
{
	struct e1000 *e = opaque;

	memset(data, 0, size);
	if (offset >= E1000_MMIO_SIZE || size > 8)
		return;
	pthread_mutex_lock(&e->lock);
	e1000_access(e, offset, data, size, false);
	pthread_mutex_unlock(&e->lock);
}

static void e1000_mmio_write(void *opaque, uint64_t offset, const void *data, unsigned size)
{
	struct e1000 *e = opaque;
	uint8_t buf[8];

	if (offset >= E1000_MMIO_SIZE || size > 8)
		return;
	memcpy(buf, data, size);
	pthread_mutex_lock(&e->lock);
	e1000_access(e, offset, buf, size, true);
	pthread_mutex_unlock(&e->lock);
}

const struct bus_ops e1000_mmio_ops = {
	.read = e1000_mmio_read,
	.write = e1000_mmio_write,
};

/* BAR1 (13.2.2): IOADDR at 0 picks a register, IODATA at 4 reaches it.
 * IOADDR takes only dword writes; the rest of the window reads 0. */
static void e1000_io_read(void *opaque, uint64_t offset, void *data, unsigned size)
{
	struct e1000 *e = opaque;
	uint8_t *out = data;
	uint32_t v = 0;

	memset(data, 0, size);
	if (offset >= E1000_IO_SIZE || size > 4 || (offset & 3) + size > 4)
		return;
	pthread_mutex_lock(&e->lock);
	if (offset < E1000_IODATA)
		v = e->ioaddr;
	else if (offset < E1000_IODATA + 4 && e->ioaddr < E1000_MMIO_SIZE)
		v = e1000_reg_read(e, e->ioaddr & ~3u);
	pthread_mutex_unlock(&e->lock);
	for (unsigned i = 0; i < size; i++)
		out[i] = (uint8_t)(v >> (8 * ((offset & 3) + i)));
}

static void e1000_io_write(void *opaque, uint64_t offset, const void *data, unsigned size)
{
	struct e1000 *e = opaque;
	uint32_t v;

	if (size != 4 || (offset != E1000_IOADDR && offset != E1000_IODATA))
		return;
	memcpy(&v, data, 4);
	v = le32toh(v);
	pthread_mutex_lock(&e->lock);
	if (offset == E1000_IOADDR)
		e->ioaddr = v & E1000_IOADDR_MASK;
	else if (e->ioaddr < E1000_MMIO_SIZE)
		e1000_reg_write(e, e->ioaddr & ~3u, v);
	pthread_mutex_unlock(&e->lock);
}

const struct bus_ops e1000_io_ops = {
	.read = e1000_io_read,
	.write = e1000_io_write,
};

/* ---- the controller ---- */

struct e1000 *e1000_new(const struct guest_mem *mem, struct event_loop *loop,
			struct irq_pin irq, const uint8_t mac[NET_MAC_LEN])
{
	struct e1000 *e = calloc(1, sizeof(*e));
	pthread_mutexattr_t attr;

	if (!e)
		return NULL;
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&e->lock, &attr);
	pthread_mutexattr_destroy(&attr);
	e->mem = mem;
	e->loop = loop;
	e->irq = irq;
	memcpy(e->mac, mac, NET_MAC_LEN);
	atomic_init(&e->bus_master, false);
	atomic_init(&e->dma_enabled, false);
	if (loop) {
		e->kick = event_timer_create(loop, e1000_kick, e);
		e->timer = event_timer_create(loop, e1000_timer_fired, e);
		if (!e->kick || !e->timer) {
			e1000_free(e);
			return NULL;
		}
	}
	e1000_eeprom_init(e);
	e1000_reset(e);
	return e;
}

void e1000_attach(struct e1000 *e, struct net_backend *be)
{
	pthread_mutex_lock(&e->lock);
	e->be = be;
	pthread_mutex_unlock(&e->lock);
}

void e1000_free(struct e1000 *e)
{
	if (!e)
		return;
	event_timer_free(e->kick);
	event_timer_free(e->timer);
	if (e->be)
		net_close(e->be);
	pthread_mutex_destroy(&e->lock);
	free(e);
}

void e1000_set_bus_master(struct e1000 *e, bool enabled)
{
	bool was = atomic_exchange(&e->bus_master, enabled);

	/* What the driver queued before it enabled DMA can move now; the
	 * kick takes the lock this caller may not. */
	if (enabled && !was && e->loop) {
		atomic_store(&e->dma_enabled, true);
		event_timer_arm(e->kick, 1, 0);
	}
}

/* ---- the PCI function (4.1) ---- */

struct e1000_pci {
	struct pci_device dev;
	struct e1000 *nic;
};

#define PCI_CACHE_LINE_SIZE 0x0c
#define PCI_LATENCY_TIMER 0x0d
#define E1000_MMIO_BAR 0
#define E1000_IO_BAR 1

static void e1000_pci_intx(void *ctx, unsigned gsi, int level)
{
	(void)gsi;
	pci_set_irq(ctx, level);
}

static void e1000_pci_config_write(struct pci_device *dev, unsigned offset, unsigned size,
				   uint32_t value)
{
	struct e1000_pci *p = dev->opaque;

	(void)value;
	if (offset < PCI_COMMAND + 2 && offset + size > PCI_COMMAND)
		e1000_set_bus_master(p->nic, dev->config[PCI_COMMAND] & PCI_COMMAND_MASTER);
}

static const struct pci_device_ops e1000_pci_ops = {
	.config_write = e1000_pci_config_write,
};

/* After the PCI layer's own reset (command register cleared). */
static void e1000_pci_reset(void *opaque)
{
	struct e1000_pci *p = opaque;

	e1000_reset(p->nic);
	e1000_set_bus_master(p->nic, p->dev.config[PCI_COMMAND] & PCI_COMMAND_MASTER);
}

static void e1000_pci_free(void *opaque)
{
	struct e1000_pci *p = opaque;

	e1000_free(p->nic);
	free(p);
}

int e1000_create(struct vm *vm, const char *net_spec, unsigned index)
{
	const char *name = vm->config && vm->config->name ? vm->config->name : "guest";
	struct net_backend *be;
	struct net_spec spec;
	struct net_nic nic;
	struct e1000_pci *p;
	uint8_t mac[NET_MAC_LEN];
	char err[256];
	int rc;

	if (net_spec_parse(net_spec, &spec, err, sizeof(err))) {
		log_error("--net '%s': %s", net_spec, err);
		return -EINVAL;
	}
	if (spec.has_mac)
		memcpy(mac, spec.mac, NET_MAC_LEN);
	else
		net_mac_default(name, index, mac);
	p = calloc(1, sizeof(*p));
	if (!p) {
		log_error("e1000: out of memory");
		return -ENOMEM;
	}
	pci_device_init(&p->dev, "e1000", E1000_VENDOR_INTEL, E1000_DEV_82540EM,
			E1000_CLASS_ETHERNET, E1000_REVISION);
	p->nic = e1000_new(&vm->mem, vm->loop,
			   (struct irq_pin){ .set = e1000_pci_intx, .ctx = &p->dev }, mac);
	if (!p->nic) {
		free(p);
		log_error("e1000: out of memory");
		return -ENOMEM;
	}
	rc = vm_on_destroy(vm, e1000_pci_free, p);
	if (rc) {
		e1000_pci_free(p);
		log_error("e1000: out of memory");
		return rc;
	}
	nic = (struct net_nic){ .receive = e1000_receive, .opaque = p->nic, .want_vnet_hdr = false };
	rc = net_backend_open(vm->loop, net_spec, &spec, &nic, &be);
	if (rc)
		return rc; /* net_backend_open said why */
	e1000_attach(p->nic, be);

	p->dev.ops = &e1000_pci_ops;
	p->dev.opaque = p;
	p->dev.wmask[PCI_CACHE_LINE_SIZE] = 0xff;
	p->dev.wmask[PCI_LATENCY_TIMER] = 0xff;
	pci_set_subsystem(&p->dev, E1000_VENDOR_INTEL, E1000_SUBSYS_ID);
	pci_set_interrupt_pin(&p->dev, 1); /* INTA#; the 82540EM has no MSI */
	pci_bar_init(&p->dev, E1000_MMIO_BAR, PCI_BAR_MEM32, E1000_MMIO_SIZE, 0, &e1000_mmio_ops,
		     p->nic);
	pci_bar_init(&p->dev, E1000_IO_BAR, PCI_BAR_IO, E1000_IO_SIZE, 0, &e1000_io_ops, p->nic);
	/* pci_register says why it failed. */
	rc = pci_register(vm, &p->dev, index == 0 ? E1000_DEVFN : -1);
	if (rc)
		return rc;
	rc = vm_on_reset(vm, e1000_pci_reset, p);
	if (rc) {
		log_error("e1000: out of memory");
		return rc;
	}
	log_debug("e1000 %u: %s at 00:%02x.0, MAC %02x:%02x:%02x:%02x:%02x:%02x", index, net_spec,
		  p->dev.devfn >> 3, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
	return 0;
}
