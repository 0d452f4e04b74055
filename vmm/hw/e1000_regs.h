/* The Intel 82540EM's registers, bits, descriptors, EEPROM words and PHY
 * registers, named as Intel's "PCI/PCI-X Family of Gigabit Ethernet
 * Controllers Software Developer's Manual" (the 8254x SDM, rev. 4.0) names
 * them. Section numbers are that manual's. Only vmm/hw/e1000.c and its
 * tests include this. */
#ifndef DUET_HW_E1000_REGS_H
#define DUET_HW_E1000_REGS_H

/* ---- PCI identity (4.1, 5.6: the EEPROM words 0Bh-0Eh say the same) ---- */
#define E1000_VENDOR_INTEL 0x8086
#define E1000_DEV_82540EM 0x100e
#define E1000_SUBSYS_ID 0x001e     /* PRO/1000 MT Desktop Adapter */
#define E1000_REVISION 0x03
#define E1000_CLASS_ETHERNET 0x020000

/* ---- Register map (13.1, Table 13-2): offsets in BAR0 ---- */
#define E1000_CTRL 0x0000     /* 13.4.1 Device Control */
#define E1000_STATUS 0x0008   /* 13.4.2 Device Status (RO) */
#define E1000_EECD 0x0010     /* 13.4.3 EEPROM/Flash Control/Data */
#define E1000_EERD 0x0014     /* 13.4.4 EEPROM Read */
#define E1000_CTRL_EXT 0x0018 /* 13.4.6 Extended Device Control */
#define E1000_MDIC 0x0020     /* 13.4.7 MDI Control */
#define E1000_VET 0x0038      /* VLAN EtherType, 8100h */
#define E1000_ICR 0x00c0      /* 13.4.17 Interrupt Cause Read (read clears) */
#define E1000_ITR 0x00c4      /* 13.4.18 Interrupt Throttling */
#define E1000_ICS 0x00c8      /* 13.4.19 Interrupt Cause Set (WO) */
#define E1000_IMS 0x00d0      /* 13.4.20 Interrupt Mask Set/Read */
#define E1000_IMC 0x00d8      /* 13.4.21 Interrupt Mask Clear (WO) */
#define E1000_RCTL 0x0100     /* 13.4.22 Receive Control */
#define E1000_TCTL 0x0400     /* Transmit Control */
#define E1000_PBA 0x1000      /* Packet Buffer Allocation */
#define E1000_RDBAL 0x2800    /* Receive Descriptor Base Low (16-byte aligned) */
#define E1000_RDBAH 0x2804
#define E1000_RDLEN 0x2808    /* bytes, a multiple of 128 */
#define E1000_RDH 0x2810
#define E1000_RDT 0x2818
#define E1000_RDTR 0x2820     /* Receive Delay Timer, 1.024 us units */
#define E1000_RADV 0x282c     /* Receive Absolute Delay, 1.024 us units */
#define E1000_TDBAL 0x3800
#define E1000_TDBAH 0x3804
#define E1000_TDLEN 0x3808
#define E1000_TDH 0x3810
#define E1000_TDT 0x3818
#define E1000_TIDV 0x3820     /* Transmit Interrupt Delay, 1.024 us units */
#define E1000_TADV 0x382c     /* Transmit Absolute Delay, 1.024 us units */
#define E1000_STATS_START 0x4000 /* 13.7: statistics, all read-to-clear */
#define E1000_STATS_END 0x4100
#define E1000_RXCSUM 0x5000   /* Receive Checksum Control */
#define E1000_MTA 0x5200      /* Multicast Table Array, 128 dwords */
#define E1000_MTA_END 0x5400
#define E1000_RA 0x5400       /* Receive Address: 16 RAL/RAH pairs */
#define E1000_RA_END 0x5480
/* Registers this model keeps in its own array: the rest of 0x0000-0x5fff
 * reads back what was written; BAR0 beyond reads 0. */
#define E1000_REG_SPACE 0x6000

/* Statistics kept (13.7); every other one in the range reads 0. */
#define E1000_MPC 0x4010      /* Missed Packets */
#define E1000_PRC64 0x405c    /* Packets Received by size: 64, 65-127, ... */
#define E1000_PRC1522 0x4070
#define E1000_GPRC 0x4074     /* Good Packets Received */
#define E1000_BPRC 0x4078     /* Broadcast Packets Received */
#define E1000_MPRC 0x407c     /* Multicast Packets Received */
#define E1000_GPTC 0x4080     /* Good Packets Transmitted */
#define E1000_GORCL 0x4088    /* Good Octets Received (64-bit) */
#define E1000_GORCH 0x408c
#define E1000_GOTCL 0x4090    /* Good Octets Transmitted (64-bit) */
#define E1000_GOTCH 0x4094
#define E1000_RNBC 0x40a0     /* Receive No Buffers */
#define E1000_ROC 0x40ac      /* Receive Oversize */
#define E1000_TORL 0x40c0     /* Total Octets Received (64-bit) */
#define E1000_TORH 0x40c4
#define E1000_TOTL 0x40c8     /* Total Octets Transmitted (64-bit) */
#define E1000_TOTH 0x40cc
#define E1000_TPR 0x40d0      /* Total Packets Received */
#define E1000_TPT 0x40d4      /* Total Packets Transmitted */
#define E1000_PTC64 0x40d8    /* Packets Transmitted by size */
#define E1000_PTC1522 0x40ec
#define E1000_MPTC 0x40f0     /* Multicast Packets Transmitted */
#define E1000_BPTC 0x40f4     /* Broadcast Packets Transmitted */
#define E1000_TSCTC 0x40f8    /* TCP Segmentation Contexts Transmitted */

/* I/O BAR (13.2.2): a 32-byte window with IOADDR at 0 and IODATA at 4. */
#define E1000_IOADDR 0x00
#define E1000_IODATA 0x04
#define E1000_IOADDR_MASK 0x000fffff /* bits 31:20 read as 0 */

/* CTRL (13.4.1) */
#define E1000_CTRL_FD (1u << 0)
#define E1000_CTRL_ASDE (1u << 5)
#define E1000_CTRL_SLU (1u << 6)     /* set link up */
#define E1000_CTRL_SPEED_1000 (2u << 8)
#define E1000_CTRL_RST (1u << 26)    /* device reset, self-clearing */
#define E1000_CTRL_VME (1u << 30)    /* VLAN mode enable */
#define E1000_CTRL_PHY_RST (1u << 31)

/* STATUS (13.4.2) */
#define E1000_STATUS_FD (1u << 0)
#define E1000_STATUS_LU (1u << 1)
#define E1000_STATUS_SPEED_1000 (2u << 6)
#define E1000_STATUS_ASDV_1000 (2u << 8)

/* EECD (13.4.3): the Microwire EEPROM's pins, and the arbitration. */
#define E1000_EECD_SK (1u << 0)
#define E1000_EECD_CS (1u << 1)
#define E1000_EECD_DI (1u << 2)
#define E1000_EECD_DO (1u << 3)
#define E1000_EECD_FWE_MASK (3u << 4)
#define E1000_EECD_REQ (1u << 6)
#define E1000_EECD_GNT (1u << 7)
#define E1000_EECD_PRES (1u << 8)
/* EE_SIZE (bit 9) clear: a 64-word EEPROM with 6 address bits. */
#define E1000_EECD_WRITABLE (E1000_EECD_SK | E1000_EECD_CS | E1000_EECD_DI | \
			     E1000_EECD_FWE_MASK | E1000_EECD_REQ)

/* EERD (13.4.4), the 82540's layout: address in 15:8, data in 31:16. */
#define E1000_EERD_START (1u << 0)
#define E1000_EERD_DONE (1u << 4)
#define E1000_EERD_ADDR_SHIFT 8
#define E1000_EERD_DATA_SHIFT 16

/* CTRL_EXT (13.4.6) */
#define E1000_CTRL_EXT_EE_RST (1u << 13) /* reload from EEPROM, self-clearing */

/* MDIC (13.4.7) */
#define E1000_MDIC_DATA_MASK 0xffffu
#define E1000_MDIC_REG_SHIFT 16
#define E1000_MDIC_PHY_SHIFT 21
#define E1000_MDIC_OP_WRITE (1u << 26)
#define E1000_MDIC_OP_READ (2u << 26)
#define E1000_MDIC_READY (1u << 28)
#define E1000_MDIC_INT_EN (1u << 29)
#define E1000_MDIC_ERROR (1u << 30)
#define E1000_PHY_ADDRESS 1          /* the internal PHY's MDIO address */

/* Interrupt causes: ICR, ICS, IMS, IMC (13.4.17-21). */
#define E1000_ICR_TXDW (1u << 0)    /* transmit descriptor written back */
#define E1000_ICR_TXQE (1u << 1)    /* transmit queue empty */
#define E1000_ICR_LSC (1u << 2)     /* link status change */
#define E1000_ICR_RXSEQ (1u << 3)   /* receive sequence error */
#define E1000_ICR_RXDMT0 (1u << 4)  /* receive descriptor minimum threshold */
#define E1000_ICR_RXO (1u << 6)     /* receiver overrun */
#define E1000_ICR_RXT0 (1u << 7)    /* receiver timer */
#define E1000_ICR_MDAC (1u << 9)    /* MDI access complete */
#define E1000_ICR_TXD_LOW (1u << 15)
#define E1000_ICR_SRPD (1u << 16)
#define E1000_ICR_VALID 0x0001f6dfu

/* RCTL (13.4.22) */
#define E1000_RCTL_EN (1u << 1)
#define E1000_RCTL_UPE (1u << 3)     /* unicast promiscuous */
#define E1000_RCTL_MPE (1u << 4)     /* multicast promiscuous */
#define E1000_RCTL_LPE (1u << 5)     /* long packets (up to 16384 bytes) */
#define E1000_RCTL_RDMTS_SHIFT 8     /* free-descriptor threshold: 1/2, 1/4, 1/8 */
#define E1000_RCTL_MO_SHIFT 12       /* which 12 address bits index the MTA */
#define E1000_RCTL_BAM (1u << 15)    /* accept broadcast */
#define E1000_RCTL_BSIZE_SHIFT 16
#define E1000_RCTL_BSEX (1u << 25)   /* buffer sizes x16 */
#define E1000_RCTL_SECRC (1u << 26)  /* strip the Ethernet CRC */

/* TCTL */
#define E1000_TCTL_EN (1u << 1)
#define E1000_TCTL_PSP (1u << 3)     /* pad short packets to 64 bytes */

/* RDTR: writing FPD flushes the pending receive interrupt. */
#define E1000_RDTR_FPD (1u << 31)
#define E1000_DELAY_MASK 0xffffu

/* RXCSUM */
#define E1000_RXCSUM_PCSS_MASK 0xffu
#define E1000_RXCSUM_IPOFLD (1u << 8)
#define E1000_RXCSUM_TUOFLD (1u << 9)

/* RAH: the high half of a receive address, and Address Valid. */
#define E1000_RAH_AV (1u << 31)
#define E1000_RAH_MASK 0x8003ffffu

/* ---- Receive descriptor, legacy (3.2.3), 16 bytes ---- */
#define E1000_RXD_SIZE 16
#define E1000_RXD_LENGTH 8    /* le16 */
#define E1000_RXD_CSUM 10     /* le16 packet checksum */
#define E1000_RXD_STATUS 12
#define E1000_RXD_ERRORS 13
#define E1000_RXD_SPECIAL 14  /* le16: the stripped VLAN tag */
/* Status (3.2.3.1) */
#define E1000_RXD_STAT_DD (1u << 0)
#define E1000_RXD_STAT_EOP (1u << 1)
#define E1000_RXD_STAT_IXSM (1u << 2)  /* ignore the checksum indications */
#define E1000_RXD_STAT_VP (1u << 3)    /* 802.1Q tag stripped into special */
#define E1000_RXD_STAT_TCPCS (1u << 5) /* TCP/UDP checksum checked */
#define E1000_RXD_STAT_IPCS (1u << 6)  /* IPv4 header checksum checked */
/* Errors (3.2.3.2) */
#define E1000_RXD_ERR_TCPE (1u << 5)
#define E1000_RXD_ERR_IPE (1u << 6)

/* ---- Transmit descriptors (3.3), 16 bytes ---- */
#define E1000_TXD_SIZE 16
/* Dword 2 of every format: bit 29 DEXT, bits 23:20 DTYP (extended only). */
#define E1000_TXD_DEXT (1u << 29)
#define E1000_TXD_DTYP_SHIFT 20
#define E1000_TXD_DTYP_CONTEXT 0
#define E1000_TXD_DTYP_DATA 1
/* Command byte, bits 31:24 of dword 2 (3.3.3.1, 3.3.6). */
#define E1000_TXD_CMD_EOP (1u << 0)
#define E1000_TXD_CMD_IFCS (1u << 1)
#define E1000_TXD_CMD_IC (1u << 2)     /* legacy: insert checksum */
#define E1000_TXD_CMD_TSE (1u << 2)    /* data/context: TCP segmentation */
#define E1000_TXD_CMD_RS (1u << 3)     /* report status: write DD back */
#define E1000_TXD_CMD_RPS (1u << 4)    /* report packet sent (legacy) */
#define E1000_TXD_CMD_VLE (1u << 6)    /* insert the VLAN tag in special */
#define E1000_TXD_CMD_IDE (1u << 7)    /* delay the interrupt (TIDV) */
/* Context TUCMD, bits 31:24 of dword 2 (3.3.5). */
#define E1000_TUCMD_TCP (1u << 0)      /* TCP, else UDP */
#define E1000_TUCMD_IP (1u << 1)       /* IPv4, else IPv6 */
#define E1000_TUCMD_TSE (1u << 2)
/* Status, bits 3:0 of byte 12 in every format (3.3.3.2). */
#define E1000_TXD_STATUS 12
#define E1000_TXD_STAT_DD (1u << 0)
/* Data descriptor POPTS, bits 15:8 of dword 3 (3.3.6). */
#define E1000_POPTS_IXSM (1u << 0)     /* insert the IP checksum */
#define E1000_POPTS_TXSM (1u << 1)     /* insert the TCP/UDP checksum */

/* ---- EEPROM (5.6): 64 words ---- */
#define E1000_EEPROM_WORDS 64
#define E1000_EEPROM_ADDR_BITS 6
#define E1000_EE_MAC 0x00              /* words 00h-02h, low byte first */
#define E1000_EE_ICW1 0x0a             /* Initialization Control Word 1 */
#define E1000_EE_SUBSYS_ID 0x0b
#define E1000_EE_SUBSYS_VENDOR 0x0c
#define E1000_EE_DEVICE_ID 0x0d
#define E1000_EE_VENDOR_ID 0x0e
#define E1000_EE_ICW2 0x0f
#define E1000_EE_CHECKSUM 0x3f         /* 5.6.35: words 00h-3Fh sum to BABAh */
#define E1000_EE_CHECKSUM_SUM 0xbaba
#define E1000_EE_ICW1_SIGNATURE 0x4000 /* bits 15:14 = 01b: image valid */
#define E1000_EE_ICW1_FD 0x0400
#define E1000_EE_ICW1_LSSID 0x0002     /* load subsystem IDs */
#define E1000_EE_ICW1_LVDID 0x0001     /* load vendor/device IDs */
#define E1000_EE_ICW2_PAUSE 0x3000     /* symmetric and asymmetric pause */
#define E1000_EE_OPCODE_READ 6         /* Microwire start bit + 10b */

/* ---- PHY (the internal M88E1011-compatible PHY): IEEE 802.3 clause 22
 * registers 0-15 and Marvell's 16-31 ---- */
#define E1000_PHY_REGS 32
#define PHY_CTRL 0x00
#define PHY_STATUS 0x01
#define PHY_ID1 0x02
#define PHY_ID2 0x03
#define PHY_AUTONEG_ADV 0x04
#define PHY_LP_ABILITY 0x05
#define PHY_AUTONEG_EXP 0x06
#define PHY_1000T_CTRL 0x09
#define PHY_1000T_STATUS 0x0a
#define PHY_EXT_STATUS 0x0f
#define M88_PHY_SPEC_CTRL 0x10
#define M88_PHY_SPEC_STATUS 0x11
#define M88_EXT_PHY_SPEC_CTRL 0x14

#define PHY_CTRL_RESET 0x8000          /* self-clearing */
#define PHY_CTRL_AN_ENABLE 0x1000
#define PHY_CTRL_RESTART_AN 0x0200     /* self-clearing */
#define PHY_STATUS_LINK 0x0004
#define PHY_STATUS_AN_COMPLETE 0x0020
#define M88_PHY_ID1 0x0141             /* Marvell's OUI */
#define M88E1011_PHY_ID2 0x0c20

#endif
