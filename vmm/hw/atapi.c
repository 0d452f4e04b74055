/* An ATAPI CD/DVD-ROM drive on the IDE controller: the PACKET command
 * feature set of ATA/ATAPI-6 carrying 12-byte CDBs (SFF-8020i), with the
 * commands of MMC-3 and SPC-2 that firmware (SeaBIOS's El Torito boot),
 * Windows' cdrom.sys and Linux's sr ask: TEST UNIT READY, REQUEST SENSE,
 * INQUIRY, READ CAPACITY, READ(10)/(12)/CD, READ TOC, MODE SENSE(10), GET
 * CONFIGURATION, GET EVENT STATUS NOTIFICATION, MECHANISM STATUS, START
 * STOP UNIT, PREVENT ALLOW MEDIUM REMOVAL and a few no-ops. The medium is
 * a read-only block back end of 2048-byte sectors; a disc bigger than an
 * 80-minute CD is presented as a DVD-ROM. */
#include "hw/ide_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "block.h"

#define ATAPI_READY ATA_STAT_DRDY
#define ATAPI_CDB_SIZE 12
#define ATAPI_CHUNK_SECTORS (IDE_BUF_SIZE / ATAPI_SECTOR_SIZE)

/* PACKET command Features bits (ATA-6 clause 8, "PACKET"). */
#define PACKET_DMA 0x01
#define PACKET_OVL 0x02

/* Packet commands (MMC-3, SPC-2 opcodes). */
#define GPCMD_TEST_UNIT_READY 0x00
#define GPCMD_REQUEST_SENSE 0x03
#define GPCMD_INQUIRY 0x12
#define GPCMD_START_STOP_UNIT 0x1b
#define GPCMD_PREVENT_ALLOW 0x1e
#define GPCMD_READ_CAPACITY 0x25
#define GPCMD_READ_10 0x28
#define GPCMD_SEEK_10 0x2b
#define GPCMD_READ_TOC 0x43
#define GPCMD_GET_CONFIGURATION 0x46
#define GPCMD_GET_EVENT_STATUS 0x4a
#define GPCMD_READ_DISC_INFO 0x51
#define GPCMD_MODE_SENSE_10 0x5a
#define GPCMD_READ_12 0xa8
#define GPCMD_SET_CD_SPEED 0xbb
#define GPCMD_MECHANISM_STATUS 0xbd
#define GPCMD_READ_CD 0xbe

/* Sense keys and additional sense codes (SPC-2 annex, MMC-3 annex F). */
#define SENSE_NONE 0x0
#define SENSE_NOT_READY 0x2
#define SENSE_MEDIUM_ERROR 0x3
#define SENSE_ILLEGAL_REQUEST 0x5
#define SENSE_UNIT_ATTENTION 0x6
#define SENSE_ABORTED_COMMAND 0xb
#define ASC_UNRECOVERED_READ 0x11
#define ASC_INVALID_OPCODE 0x20
#define ASC_LBA_OUT_OF_RANGE 0x21
#define ASC_INVALID_FIELD 0x24
#define ASC_MEDIUM_CHANGED 0x28      /* not ready to ready change, medium may have changed */
#define ASC_SAVING_NOT_SUPPORTED 0x39
#define ASC_MEDIUM_NOT_PRESENT 0x3a
#define ASCQ_TRAY_CLOSED 0x01
#define ASCQ_TRAY_OPEN 0x02
#define ASC_REMOVAL_PREVENTED 0x53
#define ASCQ_REMOVAL_PREVENTED 0x02

/* GET EVENT STATUS NOTIFICATION: the media class and its event codes
 * (MMC-3, "Media Status Event"). */
#define GESN_POLLED 0x01
#define GESN_NEA 0x80
#define GESN_CLASS_MEDIA 4
#define MEC_NEW_MEDIA 2
#define MEC_MEDIA_REMOVAL 3

/* Profiles (MMC-3, "Profile List"). */
#define PROFILE_CD_ROM 0x0008
#define PROFILE_DVD_ROM 0x0010
/* The largest CD: 80 minutes of 75 sectors a second. */
#define CD_MAX_SECTORS (80u * 60 * 75)
/* MSF addresses count from the start of the lead-in's 2 seconds. */
#define MSF_OFFSET 150

/* What a packet command needs before it runs. */
#define CMD_ALLOW_UA 1u     /* runs, and does not report, with a UNIT ATTENTION pending */
#define CMD_NEED_MEDIUM 2u  /* NOT READY without a disc */

static void be16_put(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void be32_put(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint16_t be16_get(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32_get(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static bool atapi_has_medium(const struct ide_device *dev)
{
	return dev->bk && !dev->tray_open;
}

static bool atapi_is_dvd(const struct ide_device *dev)
{
	return dev->sectors > CD_MAX_SECTORS;
}

/* ---- ending a packet command (ATA-6 clause 9, "PACKET" protocol): the
 * Interrupt Reason says I/O and C/D, and the interrupt is raised ---- */

static void atapi_ok(struct ide_device *dev)
{
	dev->status = ATAPI_READY;
	dev->error = 0;
	dev->count = ATAPI_IR_IO | ATAPI_IR_COD;
	ide_raise(dev);
}

/* atapi_check: CHECK CONDITION: the sense key in the Error register's
 * high nibble, the full sense kept for REQUEST SENSE. atapi_fail also
 * interrupts, as a command's end does. */
static void atapi_check(struct ide_device *dev, uint8_t key, uint8_t asc, uint8_t ascq)
{
	dev->sense_key = key;
	dev->asc = asc;
	dev->ascq = ascq;
	dev->status = ATAPI_READY | ATA_STAT_ERR;
	dev->error = (uint8_t)(key << 4);
	dev->count = ATAPI_IR_IO | ATAPI_IR_COD;
}

static void atapi_fail(struct ide_device *dev, uint8_t key, uint8_t asc, uint8_t ascq)
{
	atapi_check(dev, key, asc, ascq);
	ide_raise(dev);
}

static void atapi_not_ready(struct ide_device *dev)
{
	atapi_fail(dev, SENSE_NOT_READY, ASC_MEDIUM_NOT_PRESENT,
		   dev->tray_open ? ASCQ_TRAY_OPEN : ASCQ_TRAY_CLOSED);
}

static void atapi_invalid_field(struct ide_device *dev)
{
	atapi_fail(dev, SENSE_ILLEGAL_REQUEST, ASC_INVALID_FIELD, 0);
}

/* ---- the data-in phase ---- */

static void atapi_read_chunk(struct ide_device *dev);
static void atapi_pio_block_done(struct ide_device *dev);

/* atapi_pio_block: the next DRQ block of buf[reply_pos, + reply_left): at
 * most the byte count limit, which must then be even (ATA-6 "PACKET": a
 * limit of 0 is taken as the largest even count). Its size goes in the
 * Byte Count registers, with an interrupt. */
static void atapi_pio_block(struct ide_device *dev)
{
	uint32_t limit = dev->byte_limit ? dev->byte_limit : 0xfffe;
	uint32_t n = dev->reply_left;

	if (n > limit) {
		n = limit & ~1u;
		if (!n)
			n = 2;
	}
	dev->drq_bytes = n;
	dev->lbam = (uint8_t)n;
	dev->lbah = (uint8_t)(n >> 8);
	dev->count = ATAPI_IR_IO;
	ide_pio_in(dev, dev->reply_pos, n, atapi_pio_block_done);
	dev->status = ATAPI_READY | ATA_STAT_DRQ;
	ide_raise(dev);
}

static void atapi_pio_block_done(struct ide_device *dev)
{
	dev->reply_pos += dev->drq_bytes;
	dev->reply_left -= dev->drq_bytes;
	if (dev->reply_left)
		atapi_pio_block(dev);
	else if (dev->read_left)
		atapi_read_chunk(dev);
	else
		atapi_ok(dev);
}

static void atapi_dma_done(struct ide_device *dev, const struct ide_job *job)
{
	if (job->prd == IDE_PRD_SHORT) {
		/* The PRD table ended first: no interrupt (SFF-8038i). */
		atapi_check(dev, SENSE_ABORTED_COMMAND, 0, 0);
		return;
	}
	if (job->prd == IDE_PRD_FAULT) {
		atapi_fail(dev, SENSE_ABORTED_COMMAND, 0, 0);
		return;
	}
	if (job->rc == -ENOMEDIUM) {
		atapi_not_ready(dev);
		return;
	}
	if (job->rc) {
		ide_log_io_error(dev, "read", job->offset / ATAPI_SECTOR_SIZE, job->rc);
		atapi_fail(dev, SENSE_MEDIUM_ERROR, ASC_UNRECOVERED_READ, 0);
		return;
	}
	atapi_ok(dev);
}

/* atapi_reply: send buf[0, len), cut to the host's allocation length. */
static void atapi_reply(struct ide_device *dev, uint32_t len, uint32_t alloc)
{
	if (len > alloc)
		len = alloc;
	dev->read_left = 0;
	if (!len) {
		atapi_ok(dev);
		return;
	}
	if (dev->packet_dma) {
		struct ide_job job = {
			.kind = IDE_JOB_DMA, .len = len, .to_guest = true, .from_buffer = true,
		};

		dev->count = ATAPI_IR_IO;
		dev->status = ATAPI_READY | ATA_STAT_DRQ;
		ide_dma_begin(dev, &job, atapi_dma_done);
		return;
	}
	dev->reply_pos = 0;
	dev->reply_left = len;
	atapi_pio_block(dev);
}

static void atapi_read_chunk_done(struct ide_device *dev, const struct ide_job *job)
{
	if (job->rc == -ENOMEDIUM) {
		atapi_not_ready(dev);
		return;
	}
	if (job->rc) {
		ide_log_io_error(dev, "read", dev->read_lba, job->rc);
		atapi_fail(dev, SENSE_MEDIUM_ERROR, ASC_UNRECOVERED_READ, 0);
		return;
	}
	dev->read_lba += dev->chunk;
	dev->read_left -= dev->chunk;
	dev->reply_pos = 0;
	dev->reply_left = dev->chunk * ATAPI_SECTOR_SIZE;
	atapi_pio_block(dev);
}

/* atapi_read_chunk: fetch the next sectors of a PIO READ into buf. The
 * disc may have changed since the command was checked: checked again. */
static void atapi_read_chunk(struct ide_device *dev)
{
	struct ide_job job = { .kind = IDE_JOB_READ };

	dev->chunk = dev->read_left < ATAPI_CHUNK_SECTORS ? (uint32_t)dev->read_left
							  : ATAPI_CHUNK_SECTORS;
	if (!atapi_has_medium(dev)) {
		atapi_not_ready(dev);
		return;
	}
	if (dev->read_lba + dev->chunk > dev->sectors) {
		atapi_fail(dev, SENSE_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE, 0);
		return;
	}
	job.offset = dev->read_lba * ATAPI_SECTOR_SIZE;
	job.len = (uint64_t)dev->chunk * ATAPI_SECTOR_SIZE;
	ide_submit(dev, &job, atapi_read_chunk_done);
}

/* atapi_read: `n` sectors from `lba`, the data phase of READ(10)/(12)/CD. */
static void atapi_read(struct ide_device *dev, uint64_t lba, uint64_t n)
{
	if (lba > dev->sectors || n > dev->sectors - lba) {
		atapi_fail(dev, SENSE_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE, 0);
		return;
	}
	if (!n) {
		atapi_ok(dev);
		return;
	}
	if (dev->packet_dma) {
		struct ide_job job = {
			.kind = IDE_JOB_DMA,
			.offset = lba * ATAPI_SECTOR_SIZE,
			.len = n * ATAPI_SECTOR_SIZE,
			.to_guest = true,
		};

		dev->count = ATAPI_IR_IO;
		dev->status = ATAPI_READY | ATA_STAT_DRQ;
		ide_dma_begin(dev, &job, atapi_dma_done);
		return;
	}
	dev->read_lba = lba;
	dev->read_left = n;
	atapi_read_chunk(dev);
}

/* ---- the packet commands ---- */

static void cmd_test_unit_ready(struct ide_device *dev, const uint8_t *cdb)
{
	(void)cdb;
	atapi_ok(dev);
}

/* REQUEST SENSE (SPC-2): fixed-format sense data, then no sense. A
 * pending UNIT ATTENTION is what it reports, once. */
static void cmd_request_sense(struct ide_device *dev, const uint8_t *cdb)
{
	uint8_t *b = dev->buf;

	memset(b, 0, 18);
	b[0] = 0x70;                     /* current error, fixed format */
	if (dev->unit_attention) {
		dev->unit_attention = false;
		b[2] = SENSE_UNIT_ATTENTION;
		b[12] = dev->ua_asc;
	} else {
		b[2] = dev->sense_key;
		b[12] = dev->asc;
		b[13] = dev->ascq;
	}
	b[7] = 10;                       /* additional sense length */
	dev->sense_key = dev->asc = dev->ascq = 0;
	atapi_reply(dev, 18, cdb[4]);
}

static void inquiry_vpd(struct ide_device *dev, uint8_t page, uint32_t alloc)
{
	static const char vendor[] = "DUET    ";
	uint8_t *b = dev->buf;
	size_t serial_len = strlen(dev->serial);
	uint32_t len;

	memset(b, 0, 64);
	b[0] = 0x05;
	b[1] = page;
	switch (page) {
	case 0x00:                       /* supported pages */
		b[3] = 3;
		b[4] = 0x00;
		b[5] = 0x80;
		b[6] = 0x83;
		len = 7;
		break;
	case 0x80:                       /* unit serial number */
		b[3] = (uint8_t)serial_len;
		memcpy(b + 4, dev->serial, serial_len);
		len = 4 + (uint32_t)serial_len;
		break;
	case 0x83:                       /* device identification: T10 vendor ID */
		b[4] = 0x02;                 /* ASCII */
		b[5] = 0x01;                 /* T10 vendor identification */
		b[7] = (uint8_t)(8 + serial_len);
		memcpy(b + 8, vendor, 8);
		memcpy(b + 16, dev->serial, serial_len);
		b[3] = (uint8_t)(4 + 8 + serial_len);
		len = 4 + b[3];
		break;
	default:
		atapi_invalid_field(dev);
		return;
	}
	atapi_reply(dev, len, alloc);
}

/* INQUIRY (SPC-2; MMC-3 for the values a CD drive gives). */
static void cmd_inquiry(struct ide_device *dev, const uint8_t *cdb)
{
	uint8_t *b = dev->buf;
	/* SPC-3's 16-bit allocation length; SPC-2 hosts leave byte 3 zero. */
	uint32_t alloc = be16_get(cdb + 3);

	if (cdb[1] & 0x01) {
		inquiry_vpd(dev, cdb[2], alloc);
		return;
	}
	if (cdb[2]) {
		atapi_invalid_field(dev);
		return;
	}
	memset(b, 0, 36);
	b[0] = 0x05;                     /* CD/DVD device */
	b[1] = 0x80;                     /* removable */
	b[3] = 0x21;                     /* ATAPI version 2, response format 1 */
	b[4] = 36 - 5;
	memcpy(b + 8, "DUET    ", 8);
	memcpy(b + 16, "DUET DVD-ROM    ", 16);
	memcpy(b + 32, "1.0 ", 4);
	atapi_reply(dev, 36, alloc);
}

/* START STOP UNIT (MMC-3): LoEj with Start clear opens the tray (unless
 * PREVENT ALLOW MEDIUM REMOVAL forbids it), with Start set closes it. */
static void cmd_start_stop_unit(struct ide_device *dev, const uint8_t *cdb)
{
	bool start = cdb[4] & 0x01, loej = cdb[4] & 0x02;

	/* A power condition, or no LoEj: only the spindle, nothing to do. */
	if ((cdb[4] & 0xf0) || !loej) {
		atapi_ok(dev);
		return;
	}
	if (!start) {
		if (dev->locked) {
			atapi_fail(dev, SENSE_ILLEGAL_REQUEST, ASC_REMOVAL_PREVENTED,
				   ASCQ_REMOVAL_PREVENTED);
			return;
		}
		if (!dev->tray_open && dev->bk)
			dev->media_event = MEC_MEDIA_REMOVAL;
		dev->tray_open = true;
	} else if (dev->tray_open) {
		dev->tray_open = false;
		if (dev->bk) {
			dev->unit_attention = true;
			dev->ua_asc = ASC_MEDIUM_CHANGED;
			dev->media_event = MEC_NEW_MEDIA;
		}
	}
	atapi_ok(dev);
}

static void cmd_prevent_allow(struct ide_device *dev, const uint8_t *cdb)
{
	dev->locked = cdb[4] & 0x01;
	atapi_ok(dev);
}

/* READ CAPACITY: the last sector and the sector size. */
static void cmd_read_capacity(struct ide_device *dev, const uint8_t *cdb)
{
	uint64_t last = dev->sectors ? dev->sectors - 1 : 0;

	(void)cdb;
	be32_put(dev->buf, last > 0xffffffffu ? 0xffffffffu : (uint32_t)last);
	be32_put(dev->buf + 4, ATAPI_SECTOR_SIZE);
	atapi_reply(dev, 8, 8);
}

static void cmd_read_10(struct ide_device *dev, const uint8_t *cdb)
{
	atapi_read(dev, be32_get(cdb + 2), be16_get(cdb + 7));
}

static void cmd_read_12(struct ide_device *dev, const uint8_t *cdb)
{
	atapi_read(dev, be32_get(cdb + 2), be32_get(cdb + 6));
}

/* READ CD (MMC-3): user data only (the Mode 1 / Form 1 payload); a
 * request for headers, sync, EDC or sub-channel is refused. */
static void cmd_read_cd(struct ide_device *dev, const uint8_t *cdb)
{
	uint32_t n = (uint32_t)cdb[6] << 16 | (uint32_t)cdb[7] << 8 | cdb[8];

	if ((cdb[9] & 0xf8) == 0x00 && !(cdb[10] & 0x07)) {
		atapi_ok(dev);
		return;
	}
	if ((cdb[9] & 0xf8) != 0x10 || (cdb[10] & 0x07)) {
		atapi_invalid_field(dev);
		return;
	}
	atapi_read(dev, be32_get(cdb + 2), n);
}

static void cmd_ok(struct ide_device *dev, const uint8_t *cdb)
{
	(void)cdb;
	atapi_ok(dev);
}

/* toc_address: an address in a TOC, as LBA or as MSF. */
static void toc_address(uint8_t *p, uint64_t lba, bool msf)
{
	if (msf) {
		lba += MSF_OFFSET;
		p[0] = 0;
		p[1] = (uint8_t)(lba / (60 * 75));
		p[2] = (uint8_t)(lba / 75 % 60);
		p[3] = (uint8_t)(lba % 75);
	} else {
		be32_put(p, (uint32_t)lba);
	}
}

/* toc_raw_entry: an 11-byte entry of the full TOC (format 2). */
static uint32_t toc_raw_entry(uint8_t *p, uint8_t point, uint8_t pmin, uint8_t psec,
			      uint8_t pframe)
{
	memset(p, 0, 11);
	p[0] = 1;                        /* session */
	p[1] = 0x14;                     /* ADR 1, data track */
	p[3] = point;
	p[8] = pmin;
	p[9] = psec;
	p[10] = pframe;
	return 11;
}

/* READ TOC/PMA/ATIP (MMC-3) for a single-session disc with one data
 * track: format 0 (TOC), 1 (session information), 2 (full TOC). */
static void cmd_read_toc(struct ide_device *dev, const uint8_t *cdb)
{
	uint8_t *b = dev->buf, msf_out[4];
	bool msf = cdb[1] & 0x02;
	uint8_t format = cdb[2] & 0x0f, track = cdb[6];
	uint32_t len = 4;

	/* SFF-8020i put the format in the top bits of byte 9. */
	if (!format)
		format = cdb[9] >> 6;
	memset(b, 0, 64);
	b[2] = 1;
	b[3] = 1;
	switch (format) {
	case 0:
		if (track > 1 && track != 0xaa) {
			atapi_invalid_field(dev);
			return;
		}
		if (track <= 1) {
			b[len + 1] = 0x14;
			b[len + 2] = 1;
			toc_address(b + len + 4, 0, msf);
			len += 8;
		}
		b[len + 1] = 0x14;
		b[len + 2] = 0xaa;           /* lead-out */
		toc_address(b + len + 4, dev->sectors, msf);
		len += 8;
		break;
	case 1:
		b[5] = 0x14;
		b[6] = 1;                    /* first track of the last session */
		toc_address(b + 8, 0, msf);
		len = 12;
		break;
	case 2:
		toc_address(msf_out, dev->sectors, true);
		len += toc_raw_entry(b + len, 0xa0, 1, 0x00, 0);     /* first track, CD-ROM */
		len += toc_raw_entry(b + len, 0xa1, 1, 0, 0);        /* last track */
		len += toc_raw_entry(b + len, 0xa2, msf_out[1], msf_out[2], msf_out[3]);
		len += toc_raw_entry(b + len, 1, 0, 2, 0);           /* track 1 at 00:02:00 */
		break;
	default:
		atapi_invalid_field(dev);
		return;
	}
	be16_put(b, (uint16_t)(len - 2));
	atapi_reply(dev, len, be16_get(cdb + 7));
}

/* ---- GET CONFIGURATION (MMC-3) ---- */

struct feature {
	uint16_t code;
	uint8_t version;
	bool persistent;
	bool current;
	uint8_t len;
	uint8_t data[12];
};

static void cmd_get_configuration(struct ide_device *dev, const uint8_t *cdb)
{
	bool disc = atapi_has_medium(dev), dvd = disc && atapi_is_dvd(dev), cd = disc && !dvd;
	uint8_t rt = cdb[1] & 0x03;
	uint16_t start = be16_get(cdb + 2);
	const struct feature features[] = {
		/* Profile List: DVD-ROM and CD-ROM, the current one marked. */
		{ 0x0000, 0, true, true, 8,
		  { PROFILE_DVD_ROM >> 8, PROFILE_DVD_ROM & 0xff, dvd, 0,
		    PROFILE_CD_ROM >> 8, PROFILE_CD_ROM & 0xff, cd, 0 } },
		/* Core: ATAPI physical interface. */
		{ 0x0001, 1, true, true, 8, { 0, 0, 0, 2, 0, 0, 0, 0 } },
		/* Morphing: operational change events through GESN. */
		{ 0x0002, 1, true, true, 4, { 0x02, 0, 0, 0 } },
		/* Removable Medium: tray, eject, lock. */
		{ 0x0003, 0, true, true, 4, { 0x29, 0, 0, 0 } },
		/* Random Readable: 2048-byte blocks. */
		{ 0x0010, 0, false, disc, 8,
		  { 0, 0, ATAPI_SECTOR_SIZE >> 8, 0, 0, dvd ? 16 : 1, 0, 0 } },
		{ 0x001e, 0, false, cd, 4, { 0 } },   /* CD Read */
		{ 0x001f, 0, false, dvd, 0, { 0 } },  /* DVD Read */
	};
	uint8_t *b = dev->buf;
	uint32_t len = 8;

	if (rt == 3) {
		atapi_invalid_field(dev);
		return;
	}
	memset(b, 0, 8);
	be16_put(b + 6, dvd ? PROFILE_DVD_ROM : cd ? PROFILE_CD_ROM : 0);
	for (size_t i = 0; i < sizeof(features) / sizeof(features[0]); i++) {
		const struct feature *f = &features[i];

		/* RT 0: from `start` on; 1: only current ones; 2: only `start`. */
		if (f->code < start || (rt == 1 && !f->current) || (rt == 2 && f->code != start))
			continue;
		be16_put(b + len, f->code);
		b[len + 2] = (uint8_t)(f->version << 2 | f->persistent << 1 | f->current);
		b[len + 3] = f->len;
		memcpy(b + len + 4, f->data, f->len);
		len += 4 + f->len;
	}
	be32_put(b, len - 4);
	atapi_reply(dev, len, be16_get(cdb + 7));
}

/* GET EVENT STATUS NOTIFICATION (MMC-3), polled only: the media class,
 * whose event is reported once. */
static void cmd_get_event_status(struct ide_device *dev, const uint8_t *cdb)
{
	uint8_t *b = dev->buf;
	uint32_t len;

	if (!(cdb[1] & GESN_POLLED)) {
		atapi_invalid_field(dev);
		return;
	}
	memset(b, 0, 8);
	b[3] = 1 << GESN_CLASS_MEDIA;    /* supported event classes */
	if (cdb[4] & (1 << GESN_CLASS_MEDIA)) {
		b[2] = GESN_CLASS_MEDIA;
		b[4] = dev->media_event;
		b[5] = (uint8_t)((atapi_has_medium(dev) ? 0x02 : 0) | (dev->tray_open ? 0x01 : 0));
		dev->media_event = 0;
		len = 8;
	} else {
		b[2] = GESN_NEA;
		len = 4;
	}
	be16_put(b, (uint16_t)(len - 2));
	atapi_reply(dev, len, be16_get(cdb + 7));
}

/* READ DISC INFORMATION (MMC-3): a finalised single-session disc. */
static void cmd_read_disc_info(struct ide_device *dev, const uint8_t *cdb)
{
	uint8_t *b = dev->buf;

	if (cdb[1] & 0x07) {
		atapi_invalid_field(dev);
		return;
	}
	memset(b, 0, 34);
	be16_put(b, 32);
	b[2] = 0x0e;                     /* last session complete, disc finalised */
	b[3] = 1;                        /* first track */
	b[4] = 1;                        /* sessions */
	b[5] = 1;                        /* first and last track of the last session */
	b[6] = 1;
	b[7] = 0x20;                     /* unrestricted use */
	be32_put(b + 16, 0xffffffffu);   /* no next session */
	be32_put(b + 20, 0xffffffffu);
	atapi_reply(dev, 34, be16_get(cdb + 7));
}

/* Mode pages (MMC-3 "Mode Pages"); `changeable` asks for the mask of what
 * MODE SELECT could change: nothing. 0 for a page the drive lacks. */
static uint32_t mode_page(uint8_t *p, uint8_t page, bool changeable, const struct ide_device *dev)
{
	uint32_t len;

	switch (page) {
	case 0x01:                       /* read error recovery */
		len = 12;
		memset(p, 0, len);
		p[3] = 5;                    /* read retry count */
		break;
	case 0x0d:                       /* CD device parameters */
		len = 8;
		memset(p, 0, len);
		be16_put(p + 4, 60);         /* seconds per minute of MSF */
		be16_put(p + 6, 75);         /* frames per second */
		break;
	case 0x0e:                       /* CD audio control */
		len = 16;
		memset(p, 0, len);
		p[2] = 0x04;                 /* Immed */
		p[8] = 1;                    /* port 0: channel 0, full volume */
		p[9] = 0xff;
		p[10] = 2;                   /* port 1: channel 1 */
		p[11] = 0xff;
		break;
	case 0x1a:                       /* power condition */
		len = 12;
		memset(p, 0, len);
		break;
	case 0x2a:                       /* capabilities and mechanical status */
		len = 22;
		memset(p, 0, len);
		p[2] = 0x3b;                 /* reads CD-R, CD-RW, DVD-ROM, DVD-R, DVD-RAM */
		p[4] = 0x71;                 /* audio play, mode 2 form 1/2, multi-session */
		p[6] = (uint8_t)(0x29 | (dev->locked ? 0x02 : 0)); /* tray, eject, lock */
		be16_put(p + 8, 706);        /* maximum speed, kB/s (4x) */
		be16_put(p + 10, 256);       /* volume levels */
		be16_put(p + 12, 512);       /* buffer, KiB */
		be16_put(p + 14, 706);       /* current speed */
		break;
	default:
		return 0;
	}
	p[0] = page;
	p[1] = (uint8_t)(len - 2);
	if (changeable)
		memset(p + 2, 0, len - 2);
	return len;
}

/* MODE SENSE(10): a header without block descriptors, then the page or
 * (3Fh) every page. Saved values do not exist. */
static void cmd_mode_sense(struct ide_device *dev, const uint8_t *cdb)
{
	static const uint8_t pages[] = { 0x01, 0x0d, 0x0e, 0x1a, 0x2a };
	uint8_t pc = cdb[2] >> 6, page = cdb[2] & 0x3f;
	uint8_t *b = dev->buf;
	uint32_t len = 8;

	if (pc == 3) {
		atapi_fail(dev, SENSE_ILLEGAL_REQUEST, ASC_SAVING_NOT_SUPPORTED, 0);
		return;
	}
	memset(b, 0, 8);
	if (page == 0x3f) {
		for (size_t i = 0; i < sizeof(pages); i++)
			len += mode_page(b + len, pages[i], pc == 1, dev);
	} else {
		len += mode_page(b + len, page, pc == 1, dev);
	}
	if (len == 8) {
		atapi_invalid_field(dev);
		return;
	}
	be16_put(b, (uint16_t)(len - 2));
	atapi_reply(dev, len, be16_get(cdb + 7));
}

/* MECHANISM STATUS (MMC-3): no changer, idle, the tray's state. */
static void cmd_mechanism_status(struct ide_device *dev, const uint8_t *cdb)
{
	uint8_t *b = dev->buf;

	memset(b, 0, 8);
	b[1] = dev->tray_open ? 0x10 : 0;
	atapi_reply(dev, 8, be16_get(cdb + 8));
}

struct atapi_cmd {
	uint8_t opcode;
	unsigned flags;
	void (*run)(struct ide_device *dev, const uint8_t *cdb);
};

/* INQUIRY, REQUEST SENSE, GET CONFIGURATION and GET EVENT STATUS
 * NOTIFICATION run with a UNIT ATTENTION pending (SPC-2, MMC-3). */
static const struct atapi_cmd atapi_cmds[] = {
	{ GPCMD_TEST_UNIT_READY, CMD_NEED_MEDIUM, cmd_test_unit_ready },
	{ GPCMD_REQUEST_SENSE, CMD_ALLOW_UA, cmd_request_sense },
	{ GPCMD_INQUIRY, CMD_ALLOW_UA, cmd_inquiry },
	{ GPCMD_START_STOP_UNIT, 0, cmd_start_stop_unit },
	{ GPCMD_PREVENT_ALLOW, 0, cmd_prevent_allow },
	{ GPCMD_READ_CAPACITY, CMD_NEED_MEDIUM, cmd_read_capacity },
	{ GPCMD_READ_10, CMD_NEED_MEDIUM, cmd_read_10 },
	{ GPCMD_SEEK_10, CMD_NEED_MEDIUM, cmd_ok },
	{ GPCMD_READ_TOC, CMD_NEED_MEDIUM, cmd_read_toc },
	{ GPCMD_GET_CONFIGURATION, CMD_ALLOW_UA, cmd_get_configuration },
	{ GPCMD_GET_EVENT_STATUS, CMD_ALLOW_UA, cmd_get_event_status },
	{ GPCMD_READ_DISC_INFO, CMD_NEED_MEDIUM, cmd_read_disc_info },
	{ GPCMD_MODE_SENSE_10, 0, cmd_mode_sense },
	{ GPCMD_READ_12, CMD_NEED_MEDIUM, cmd_read_12 },
	{ GPCMD_SET_CD_SPEED, 0, cmd_ok },
	{ GPCMD_MECHANISM_STATUS, 0, cmd_mechanism_status },
	{ GPCMD_READ_CD, CMD_NEED_MEDIUM, cmd_read_cd },
};

static void atapi_execute(struct ide_device *dev, const uint8_t *cdb)
{
	const struct atapi_cmd *c = NULL;

	for (size_t i = 0; i < sizeof(atapi_cmds) / sizeof(atapi_cmds[0]); i++)
		if (atapi_cmds[i].opcode == cdb[0])
			c = &atapi_cmds[i];
	/* Sense data lasts until the next command (SPC-2 "autosense" absent:
	 * REQUEST SENSE reads it). */
	if (!c || c->opcode != GPCMD_REQUEST_SENSE)
		dev->sense_key = dev->asc = dev->ascq = 0;
	if (!c) {
		atapi_fail(dev, SENSE_ILLEGAL_REQUEST, ASC_INVALID_OPCODE, 0);
		return;
	}
	/* A UNIT ATTENTION is reported to the first other command, once. */
	if (dev->unit_attention && !(c->flags & CMD_ALLOW_UA)) {
		dev->unit_attention = false;
		atapi_fail(dev, SENSE_UNIT_ATTENTION, dev->ua_asc, 0);
		return;
	}
	if ((c->flags & CMD_NEED_MEDIUM) && !atapi_has_medium(dev)) {
		atapi_not_ready(dev);
		return;
	}
	c->run(dev, cdb);
}

static void atapi_cdb_received(struct ide_device *dev)
{
	uint8_t cdb[ATAPI_CDB_SIZE];

	/* Copied: replies are built in buf. */
	memcpy(cdb, dev->buf, sizeof(cdb));
	atapi_execute(dev, cdb);
}

/* PACKET: the device asks for the 12-byte command with DRQ and C/D set,
 * without an interrupt (IDENTIFY PACKET DEVICE word 0 bits 6:5 = 10b,
 * "accelerated DRQ"). Overlap is not offered. */
static void atapi_packet(struct ide_device *dev)
{
	if (dev->feature & PACKET_OVL) {
		ata_abort(dev);
		return;
	}
	dev->packet_dma = dev->feature & PACKET_DMA;
	dev->byte_limit = (uint32_t)dev->lbah << 8 | dev->lbam;
	dev->read_left = 0;
	dev->count = ATAPI_IR_COD;
	ide_pio_out(dev, 0, ATAPI_CDB_SIZE, atapi_cdb_received);
	dev->status = ATAPI_READY | ATA_STAT_DRQ;
}

/* ---- IDENTIFY PACKET DEVICE (ATA-6 clause 8) ---- */

static void atapi_identify_done(struct ide_device *dev)
{
	dev->status = ATAPI_READY;
}

static void atapi_identify(struct ide_device *dev)
{
	uint16_t id[256];

	memset(id, 0, sizeof(id));
	/* ATAPI, CD-ROM device type, removable, DRQ within 50 us, 12-byte
	 * packets. */
	id[0] = 0x8000 | (0x05 << 8) | 0x80 | 0x40;
	ata_id_string(id, 10, 10, dev->serial);
	ata_id_string(id, 23, 4, "1.0");
	ata_id_string(id, 27, 20, "DUET DVD-ROM");
	/* IORDY supported and can be disabled, LBA, DMA. */
	id[49] = (1 << 11) | (1 << 10) | (1 << 9) | (1 << 8);
	id[50] = 0x4000;
	id[53] = 0x0006;                 /* words 64-70 and 88 valid */
	ata_id_dma_modes(dev, id);
	id[71] = 30;                     /* typical PACKET bus release / service, ns */
	id[72] = 30;
	id[80] = 0x007e;
	/* NOP, DEVICE RESET, PACKET, power management. */
	id[82] = (1 << 14) | (1 << 9) | (1 << 4) | (1 << 3);
	id[83] = 0x4000;
	id[84] = 0x4000;
	id[85] = id[82];
	id[87] = 0x4000;
	ata_id_reset_result(dev, id);
	ata_id_finish(id, dev->buf);
	ide_pio_in(dev, 0, IDE_SECTOR_SIZE, atapi_identify_done);
	dev->status = ATAPI_READY | ATA_STAT_DRQ;
	ide_raise(dev);
}

/* ---- the ATA commands a packet device takes ---- */

static void atapi_ata_done(struct ide_device *dev)
{
	dev->status = ATAPI_READY;
	ide_raise(dev);
}

void atapi_command(struct ide_device *dev, uint8_t cmd)
{
	dev->error = 0;
	switch (cmd) {
	case ATA_CMD_PACKET:
		atapi_packet(dev);
		break;
	case ATA_CMD_IDENTIFY_PACKET_DEVICE:
		atapi_identify(dev);
		break;
	case ATA_CMD_DEVICE_RESET:
		/* DEVICE RESET (ATA-6 clause 8): this device only, no
		 * interrupt. */
		ide_device_stop(dev);
		atapi_device_reset(dev, false);
		break;
	case ATA_CMD_SET_FEATURES:
		if (ata_set_features(dev))
			atapi_ata_done(dev);
		else
			ata_abort(dev);
		break;
	case ATA_CMD_CHECK_POWER_MODE:
		dev->count = 0xff;
		atapi_ata_done(dev);
		break;
	case ATA_CMD_IDLE_IMMEDIATE:
	case ATA_CMD_STANDBY_IMMEDIATE:
	case ATA_CMD_SLEEP:
		atapi_ata_done(dev);
		break;
	case ATA_CMD_IDENTIFY_DEVICE:
	case ATA_CMD_READ_SECTORS:
		/* A packet device aborts these with its signature in the task
		 * file: how hosts tell it from a disk (ATA-6 clause 8,
		 * "IDENTIFY DEVICE"). */
		ide_signature(dev);
		ata_abort(dev);
		break;
	default:
		ata_abort(dev);
		break;
	}
}

/* ---- set-up ---- */

void atapi_medium_changed(struct ide_device *dev)
{
	dev->sectors = dev->bk ? dev->bk->size / ATAPI_SECTOR_SIZE : 0;
	if (dev->bk) {
		dev->tray_open = false;
		dev->unit_attention = true;
		dev->ua_asc = ASC_MEDIUM_CHANGED;
		dev->media_event = MEC_NEW_MEDIA;
	} else {
		dev->media_event = MEC_MEDIA_REMOVAL;
	}
}

void atapi_device_init(struct ide_device *dev)
{
	dev->sectors = dev->bk ? dev->bk->size / ATAPI_SECTOR_SIZE : 0;
	snprintf(dev->serial, sizeof(dev->serial), "DUETCD%u", dev->drive);
}

void atapi_device_reset(struct ide_device *dev, bool power_on)
{
	if (power_on) {
		dev->xfer_mode = IDE_XFER_DEFAULT;
		dev->keep_settings = false;
		dev->locked = false;
		dev->unit_attention = false;
		dev->media_event = 0;
		dev->sense_key = dev->asc = dev->ascq = 0;
	}
	dev->read_left = 0;
	dev->reply_left = 0;
	ide_signature(dev);
	dev->device = 0;
	dev->feature = dev->hob_feature = 0;
	dev->status = 0;
	dev->error = ATA_DIAG_PASSED;
}
