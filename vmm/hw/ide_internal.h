/* What the IDE controller (ide.c), the ATA disk (ata.c) and the ATAPI
 * drive (atapi.c) share: the task-file registers and their bits as
 * ATA/ATAPI-6 (T13/1410D) clause 7 names them, a device's state, and the
 * controller's engine that the command sets drive: PIO data blocks, work
 * for the channel's worker, bus-master DMA.
 *
 * Locking: everything in a channel and its two devices is guarded by the
 * channel's lock. Command-set code is only ever called with it held: from
 * a port access, or from the worker when a back-end call finished. */
#ifndef DUET_HW_IDE_INTERNAL_H
#define DUET_HW_IDE_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "hw/ide.h"

#define IDE_SECTOR_SIZE 512u
#define ATAPI_SECTOR_SIZE 2048u
/* A device's data buffer: what one PIO back-end call moves (256 disk or 64
 * CD sectors) and the largest reply a packet command builds. */
#define IDE_BUF_SIZE (128u * 1024)
/* Largest READ/WRITE MULTIPLE block (IDENTIFY word 47). */
#define IDE_MAX_MULTIPLE 16u
/* The transfer mode selected at power-on (SET FEATURES 03h value):
 * multiword DMA mode 2, the fastest the PIIX3 does. */
#define IDE_XFER_DEFAULT 0x22

/* Command block register offsets from the channel's base (ATA-6 clause
 * 7, "I/O register descriptions"). */
#define ATA_REG_DATA 0
#define ATA_REG_ERROR 1      /* read */
#define ATA_REG_FEATURE 1    /* write */
#define ATA_REG_COUNT 2      /* PACKET: Interrupt Reason when read */
#define ATA_REG_LBAL 3
#define ATA_REG_LBAM 4       /* PACKET: Byte Count low */
#define ATA_REG_LBAH 5       /* PACKET: Byte Count high */
#define ATA_REG_DEVICE 6
#define ATA_REG_STATUS 7     /* read */
#define ATA_REG_COMMAND 7    /* write */

/* Status register (ATA-6 clause 7). For packet devices bit 4 is SERV. */
#define ATA_STAT_BSY 0x80
#define ATA_STAT_DRDY 0x40
#define ATA_STAT_DF 0x20
#define ATA_STAT_DSC 0x10
#define ATA_STAT_DRQ 0x08
#define ATA_STAT_ERR 0x01

/* Error register (ATA-6 clause 7). A packet device puts its sense key in bits
 * 7:4 (ATA-6 "PACKET", Error register). */
#define ATA_ERR_ICRC 0x80
#define ATA_ERR_UNC 0x40
#define ATA_ERR_IDNF 0x10
#define ATA_ERR_ABRT 0x04

/* Device register (ATA-6 clause 7). */
#define ATA_DEV_LBA 0x40
#define ATA_DEV_DEV 0x10
#define ATA_DEV_HEAD 0x0f

/* Device Control register (ATA-6 clause 7). */
#define ATA_CTL_HOB 0x80
#define ATA_CTL_SRST 0x04
#define ATA_CTL_NIEN 0x02

/* Interrupt Reason, the Sector Count register of a packet device during
 * a PACKET command (ATA-6 "PACKET"). */
#define ATAPI_IR_COD 0x01
#define ATAPI_IR_IO 0x02

/* Command opcodes (ATA-6 clause 8 and its command code table). */
#define ATA_CMD_NOP 0x00
#define ATA_CMD_DEVICE_RESET 0x08
#define ATA_CMD_RECALIBRATE 0x10         /* 10h-1Fh, obsolete */
#define ATA_CMD_READ_SECTORS 0x20
#define ATA_CMD_READ_SECTORS_NR 0x21     /* "without retry", obsolete */
#define ATA_CMD_READ_SECTORS_EXT 0x24
#define ATA_CMD_READ_DMA_EXT 0x25
#define ATA_CMD_READ_MULTIPLE_EXT 0x29
#define ATA_CMD_WRITE_SECTORS 0x30
#define ATA_CMD_WRITE_SECTORS_NR 0x31
#define ATA_CMD_WRITE_SECTORS_EXT 0x34
#define ATA_CMD_WRITE_DMA_EXT 0x35
#define ATA_CMD_WRITE_MULTIPLE_EXT 0x39
#define ATA_CMD_READ_VERIFY 0x40
#define ATA_CMD_READ_VERIFY_NR 0x41
#define ATA_CMD_READ_VERIFY_EXT 0x42
#define ATA_CMD_SEEK 0x70
#define ATA_CMD_EXECUTE_DIAGNOSTIC 0x90
#define ATA_CMD_INITIALIZE_DEVICE_PARAMETERS 0x91
#define ATA_CMD_PACKET 0xa0
#define ATA_CMD_IDENTIFY_PACKET_DEVICE 0xa1
#define ATA_CMD_READ_MULTIPLE 0xc4
#define ATA_CMD_WRITE_MULTIPLE 0xc5
#define ATA_CMD_SET_MULTIPLE_MODE 0xc6
#define ATA_CMD_READ_DMA 0xc8
#define ATA_CMD_READ_DMA_NR 0xc9
#define ATA_CMD_WRITE_DMA 0xca
#define ATA_CMD_WRITE_DMA_NR 0xcb
#define ATA_CMD_STANDBY_IMMEDIATE 0xe0
#define ATA_CMD_IDLE_IMMEDIATE 0xe1
#define ATA_CMD_STANDBY 0xe2
#define ATA_CMD_IDLE 0xe3
#define ATA_CMD_CHECK_POWER_MODE 0xe5
#define ATA_CMD_SLEEP 0xe6
#define ATA_CMD_FLUSH_CACHE 0xe7
#define ATA_CMD_FLUSH_CACHE_EXT 0xea
#define ATA_CMD_IDENTIFY_DEVICE 0xec
#define ATA_CMD_SET_FEATURES 0xef

/* Diagnostic code in the Error register after a reset or EXECUTE DEVICE
 * DIAGNOSTIC (ATA-6 "EXECUTE DEVICE DIAGNOSTIC", table of codes). */
#define ATA_DIAG_PASSED 0x01

enum ide_xfer {
	IDE_XFER_NONE,    /* no data phase under way */
	IDE_XFER_PIO_IN,  /* buf[pos, end) waits to be read at the data port */
	IDE_XFER_PIO_OUT, /* buf[pos, end) waits to be written at the data port */
	IDE_XFER_DMA,     /* a transfer waits for, or is in, the bus master */
};

/* What the channel's worker does for a device, on a copy of this made
 * when it was asked for, while the device shows BSY (or DRQ for DMA). */
enum ide_job_kind {
	IDE_JOB_READ,   /* back end -> buf[0, len) */
	IDE_JOB_WRITE,  /* buf[0, len) -> back end, then a flush if `flush` */
	IDE_JOB_FLUSH,  /* the back end's flush */
	IDE_JOB_DMA,    /* guest RAM through the PRD table <-> back end or buf */
};

/* How a DMA transfer ended against its PRD table (SFF-8038i; PIIX4
 * datasheet 5.2.2, table 15). */
enum ide_prd_end {
	IDE_PRD_EXACT,  /* all moved, the table's last region filled: Active clears */
	IDE_PRD_MORE,   /* all moved, table left over: Active stays set */
	IDE_PRD_SHORT,  /* the table ended first: Active clears, no interrupt */
	IDE_PRD_FAULT,  /* a table entry or region outside RAM, or no EOT */
};

struct ide_job {
	enum ide_job_kind kind;
	struct block *bk;    /* the device's back end, taken when the worker starts */
	uint64_t offset;     /* on the back end, bytes */
	uint64_t len;        /* bytes */
	bool flush;          /* WRITE: write-through (write cache off) */
	bool to_guest;       /* DMA: device to memory */
	bool from_buffer;    /* DMA: buf to RAM (a packet reply), not the back end */
	uint32_t prd_table;  /* DMA: guest-physical, set when the bus master starts */
	/* results */
	int rc;              /* the back end's, 0 or -errno */
	enum ide_prd_end prd;
};

struct ide_channel;

struct ide_device {
	struct ide_channel *ch;
	unsigned unit;         /* 0 master, 1 slave */
	unsigned drive;        /* channel * 2 + unit */
	bool present;
	bool atapi;
	struct block *bk;      /* the disk; a CD drive's medium, NULL when empty */
	uint64_t sectors;      /* capacity in the device's own sectors */
	char serial[21];

	/* Task file (ATA-6 clause 7). The 48-bit registers are two deep: a
	 * write pushes the old value into hob_* (ATA-6, "48-bit Address feature
	 * set"). */
	uint8_t feature, hob_feature;
	uint8_t count, hob_count;
	uint8_t lbal, hob_lbal, lbam, hob_lbam, lbah, hob_lbah;
	uint8_t device;
	uint8_t status, error;
	bool intrq;            /* interrupt pending (INTRQ while selected and nIEN=0) */

	/* Data phase. */
	enum ide_xfer xfer;
	uint8_t *buf;          /* IDE_BUF_SIZE bytes */
	uint32_t pos, end;
	void (*pio_done)(struct ide_device *dev);  /* the host moved buf[.., end) */
	void (*job_done)(struct ide_device *dev, const struct ide_job *job);
	struct ide_job job;    /* waiting for the worker, or a DMA for the bus master */
	bool job_pending;      /* `job` waits for the worker */
	bool job_running;      /* the worker is carrying it out */
	bool dma_queued;       /* an IDE_XFER_DMA transfer was handed to the worker */

	/* The ATA command under way (ata.c). */
	uint64_t lba;          /* next sector */
	uint64_t left;         /* sectors still to move */
	uint32_t chunk;        /* sectors in buf */
	uint32_t chunk_pos;    /* sectors of buf already moved */
	uint32_t block;        /* sectors in the current DRQ block */
	uint32_t drq_sectors;  /* DRQ block size: 1, or the multiple count */
	bool lba48;
	bool chs;

	/* ATA settings (SET FEATURES, SET MULTIPLE MODE, INITIALIZE DEVICE
	 * PARAMETERS) and power state. */
	uint8_t multiple;
	uint8_t xfer_mode;     /* SET FEATURES 03h value; 0: PIO default */
	bool write_cache;
	bool keep_settings;    /* SET FEATURES 66h: a soft reset keeps them */
	bool standby;
	uint16_t cyls, heads, spt;        /* default CHS geometry */
	uint16_t cur_heads, cur_spt;      /* current (INITIALIZE DEVICE PARAMETERS) */
	bool io_error_logged;

	/* ATAPI (atapi.c). */
	bool packet_dma;       /* Features bit 0 of the PACKET command */
	uint32_t byte_limit;   /* its byte count limit */
	uint32_t reply_pos;    /* PIO reply: buf[reply_pos, + reply_left) still to go */
	uint32_t reply_left;
	uint32_t drq_bytes;    /* bytes in the current DRQ block */
	uint64_t read_lba;     /* READ: next sector, and sectors still to fetch */
	uint64_t read_left;
	uint8_t sense_key, asc, ascq;
	bool unit_attention;
	uint8_t ua_asc;
	bool tray_open;
	bool locked;           /* PREVENT ALLOW MEDIUM REMOVAL */
	uint8_t media_event;   /* GET EVENT STATUS NOTIFICATION media event, 0: none */
};

struct ide_channel {
	struct ide *ide;
	unsigned index;
	uint16_t cmd_base, ctl_base;
	struct irq_pin irq;
	bool irq_level;
	bool decoded;
	pthread_mutex_t lock;
	struct ide_device dev[2];
	unsigned select;       /* DEV of the last Device register write */
	uint8_t devctl;        /* Device Control as last written */

	/* Bus-master IDE registers (PIIX4 datasheet 5.2). */
	uint8_t bm_cmd, bm_status;
	uint32_t bm_prd;
	bool bm_armed;         /* started, and no transfer taken from this start yet */
	bool bus_master;       /* PCICMD bus master enable, as this channel sees it */

	/* The worker. */
	pthread_t thread;
	bool thread_started;
	bool quit;
	pthread_cond_t work;   /* to the worker: a job, or quit */
	pthread_cond_t idle;   /* from the worker: a job finished */
};

struct ide {
	struct bus *pio;
	const struct guest_mem *mem;
	bool threaded;
	struct ide_channel ch[IDE_CHANNELS];
};

/* ---- the engine (ide.c) ---- */

/* ide_raise: the device asserts INTRQ (seen if selected and nIEN=0). */
void ide_raise(struct ide_device *dev);
/* ide_pio_in / ide_pio_out: offer buf[pos, pos + len) at the data port
 * (DRQ set, BSY clear); `done` runs once the host moved it all. The caller
 * sets the rest of the status and raises the interrupt if due. */
void ide_pio_in(struct ide_device *dev, uint32_t pos, uint32_t len,
		void (*done)(struct ide_device *dev));
void ide_pio_out(struct ide_device *dev, uint32_t pos, uint32_t len,
		 void (*done)(struct ide_device *dev));
/* ide_submit: hand `job` to the worker; the device shows BSY until `done`
 * runs (with the lock held) with the results. */
void ide_submit(struct ide_device *dev, const struct ide_job *job,
		void (*done)(struct ide_device *dev, const struct ide_job *job));
/* ide_dma_begin: the device is ready to move `job` (IDE_JOB_DMA) through
 * the bus master; it starts once the guest starts the bus master, and
 * `done` runs when it ended (see job->prd and job->rc). The caller sets
 * the status the device shows meanwhile. */
void ide_dma_begin(struct ide_device *dev, const struct ide_job *job,
		   void (*done)(struct ide_device *dev, const struct ide_job *job));
/* ide_device_stop: end whatever the device is doing: wait for a back-end
 * call under way (its completion runs), drop work not yet started. */
void ide_device_stop(struct ide_device *dev);
/* ide_signature: the reset signature of the device's kind in its task
 * file (ATA-6 clause 9, "Signature and persistence"). */
void ide_signature(struct ide_device *dev);
/* ide_log_io_error: the first back-end failure of a device, once. */
void ide_log_io_error(struct ide_device *dev, const char *what, uint64_t sector, int rc);

/* ---- ATA disks (ata.c) ---- */

void ata_device_init(struct ide_device *dev);
/* ata_device_reset: power-on defaults, or after a soft reset the settings
 * SET FEATURES 66h asked to keep. */
void ata_device_reset(struct ide_device *dev, bool power_on);
void ata_command(struct ide_device *dev, uint8_t cmd);
/* ata_abort: ERR and ABRT, interrupt (the answer to an unknown command). */
void ata_abort(struct ide_device *dev);
/* ata_set_features: SET FEATURES as both device kinds take it; false: abort. */
bool ata_set_features(struct ide_device *dev);
/* IDENTIFY helpers shared with atapi.c. */
void ata_id_string(uint16_t *id, unsigned word, unsigned nwords, const char *s);
void ata_id_dma_modes(const struct ide_device *dev, uint16_t *id);
void ata_id_reset_result(const struct ide_device *dev, uint16_t *id);
void ata_id_finish(uint16_t *id, uint8_t *out);

/* ---- ATAPI drives (atapi.c) ---- */

void atapi_device_init(struct ide_device *dev);
void atapi_device_reset(struct ide_device *dev, bool power_on);
void atapi_command(struct ide_device *dev, uint8_t cmd);
/* atapi_medium_changed: after ide_cdrom_change put a disc in or took it out. */
void atapi_medium_changed(struct ide_device *dev);

#endif
