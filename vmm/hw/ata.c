/* An ATA disk on the IDE controller: the General, 48-bit Address, Power
 * Management and write-cache parts of ATA/ATAPI-6 (T13/1410D) that PC
 * firmware and operating systems use. IDENTIFY DEVICE describes a plain
 * fixed disk (LBA28 and LBA48, PIO 0-4, multiword DMA 0-2, Ultra DMA
 * 0-5); reads and writes go to the block back end through the channel's
 * worker, by PIO data blocks or bus-master DMA. */
#include "hw/ide_internal.h"

#include <stdio.h>
#include <string.h>

#include "block.h"
#include "log.h"

#define ATA_READY (ATA_STAT_DRDY | ATA_STAT_DSC)

/* Default translation for CHS addressing (ATA-6 annex, "Device
 * geometry"): 16 heads, 63 sectors, at most 16383 cylinders. */
#define ATA_HEADS 16
#define ATA_SPT 63
#define ATA_MAX_CYLS 16383
#define ATA_LBA28_MAX 0x0fffffffULL

/* Sectors one PIO back-end call moves. */
#define ATA_CHUNK_SECTORS (IDE_BUF_SIZE / IDE_SECTOR_SIZE)

/* SET FEATURES subcommands (ATA-6 clause 8, "SET FEATURES"). */
#define SETF_WCACHE_ON 0x02
#define SETF_XFER_MODE 0x03
#define SETF_LOOKAHEAD_OFF 0x55
#define SETF_REVERT_OFF 0x66
#define SETF_WCACHE_OFF 0x82
#define SETF_LOOKAHEAD_ON 0xaa
#define SETF_REVERT_ON 0xcc
/* Transfer mode values in the Sector Count register. */
#define XFER_PIO_DEFAULT 0x00
#define XFER_PIO_NO_IORDY 0x01
#define XFER_PIO_0 0x08
#define XFER_PIO_4 0x0c
#define XFER_MWDMA_0 0x20
#define XFER_MWDMA_2 0x22
#define XFER_UDMA_0 0x40
#define XFER_UDMA_5 0x45
#define XFER_MODE_MASK 0xf8


/* ---- IDENTIFY helpers (shared with atapi.c) ---- */

/* ata_id_string: an ATA string, two characters per word with the first
 * in the high byte, padded with spaces (ATA-6 clause 3, "byte ordering"). */
void ata_id_string(uint16_t *id, unsigned word, unsigned nwords, const char *s)
{
	size_t len = strlen(s);

	for (unsigned i = 0; i < nwords; i++) {
		uint8_t hi = 2 * i < len ? (uint8_t)s[2 * i] : ' ';
		uint8_t lo = 2 * i + 1 < len ? (uint8_t)s[2 * i + 1] : ' ';

		id[word + i] = (uint16_t)(hi << 8 | lo);
	}
}

/* Words 63 and 88: modes supported in the low byte, the one selected by
 * SET FEATURES in the high byte. */
void ata_id_dma_modes(const struct ide_device *dev, uint16_t *id)
{
	id[63] = 0x0007;  /* multiword DMA 0-2 */
	id[88] = 0x003f;  /* Ultra DMA 0-5 */
	if ((dev->xfer_mode & XFER_MODE_MASK) == XFER_MWDMA_0)
		id[63] |= (uint16_t)(0x100 << (dev->xfer_mode & 7));
	else if ((dev->xfer_mode & XFER_MODE_MASK) == XFER_UDMA_0)
		id[88] |= (uint16_t)(0x100 << (dev->xfer_mode & 7));
	id[64] = 0x0003;  /* PIO 3 and 4 */
	id[65] = 120;     /* minimum multiword DMA cycle time, ns */
	id[66] = 120;     /* recommended */
	id[67] = 120;     /* minimum PIO cycle without flow control */
	id[68] = 120;     /* with IORDY */
}

/* Word 93, hardware reset results: what each device saw on the cable
 * (jumpered, diagnostics passed, 80-conductor cable). Device 0 sets bit 6
 * when it answers for an absent device 1, which tells firmware not to
 * probe for it (SeaBIOS's ata_detect does exactly that). */
void ata_id_reset_result(const struct ide_device *dev, uint16_t *id)
{
	const struct ide_device *other = &dev->ch->dev[!dev->unit];
	uint16_t v = 0x4000 | 0x2000;

	if (dev->unit == 0) {
		v |= 0x0001 | 0x0002 | 0x0008;
		v |= other->present ? 0x0010 | 0x0020 : 0x0040;
	} else {
		v |= 0x0100 | 0x0200 | 0x0800;
	}
	id[93] = v;
}

/* ata_id_finish: the integrity word (255: A5h and a checksum making the
 * 512 bytes sum to zero), then the words little-endian into `out`. */
void ata_id_finish(uint16_t *id, uint8_t *out)
{
	uint8_t sum = 0xa5;

	id[255] = 0x00a5;
	for (unsigned i = 0; i < 255; i++)
		sum = (uint8_t)(sum + (id[i] & 0xff) + (id[i] >> 8));
	id[255] |= (uint16_t)((uint8_t)-sum << 8);
	for (unsigned i = 0; i < 256; i++) {
		out[2 * i] = (uint8_t)id[i];
		out[2 * i + 1] = (uint8_t)(id[i] >> 8);
	}
}

/* ---- status ---- */

static void ata_done(struct ide_device *dev)
{
	dev->status = ATA_READY;
	ide_raise(dev);
}

void ata_abort(struct ide_device *dev)
{
	dev->status = (dev->atapi ? ATA_STAT_DRDY : ATA_READY) | ATA_STAT_ERR;
	dev->error = ATA_ERR_ABRT;
	ide_raise(dev);
}

/* ---- addresses ---- */

/* ata_range: the command's first sector and count, from the task file:
 * LBA48, LBA28 or CHS through the current translation. false when the
 * address does not exist or the range leaves the disk. */
static bool ata_range(struct ide_device *dev, bool lba48, uint64_t *lba, uint64_t *count)
{
	dev->lba48 = lba48;
	dev->chs = false;
	if (lba48) {
		*lba = (uint64_t)dev->hob_lbah << 40 | (uint64_t)dev->hob_lbam << 32 |
		       (uint64_t)dev->hob_lbal << 24 | (uint64_t)dev->lbah << 16 |
		       (uint64_t)dev->lbam << 8 | dev->lbal;
		*count = (uint32_t)dev->hob_count << 8 | dev->count;
		if (!*count)
			*count = 65536;
	} else {
		*count = dev->count ? dev->count : 256;
		if (dev->device & ATA_DEV_LBA) {
			*lba = (uint64_t)(dev->device & ATA_DEV_HEAD) << 24 |
			       (uint64_t)dev->lbah << 16 | (uint64_t)dev->lbam << 8 | dev->lbal;
		} else {
			unsigned cyl = (unsigned)dev->lbah << 8 | dev->lbam;
			unsigned head = dev->device & ATA_DEV_HEAD, sect = dev->lbal;

			if (!sect || sect > dev->cur_spt || head >= dev->cur_heads)
				return false;
			dev->chs = true;
			*lba = ((uint64_t)cyl * dev->cur_heads + head) * dev->cur_spt + sect - 1;
		}
	}
	return *lba <= dev->sectors && *count <= dev->sectors - *lba;
}

/* ata_put_address: leave `lba` in the task file in the command's own
 * addressing, as drives report the last sector moved or the one that
 * failed. */
static void ata_put_address(struct ide_device *dev, uint64_t lba)
{
	if (dev->lba48) {
		dev->lbal = (uint8_t)lba;
		dev->lbam = (uint8_t)(lba >> 8);
		dev->lbah = (uint8_t)(lba >> 16);
		dev->hob_lbal = (uint8_t)(lba >> 24);
		dev->hob_lbam = (uint8_t)(lba >> 32);
		dev->hob_lbah = (uint8_t)(lba >> 40);
	} else if (!dev->chs) {
		dev->lbal = (uint8_t)lba;
		dev->lbam = (uint8_t)(lba >> 8);
		dev->lbah = (uint8_t)(lba >> 16);
		dev->device = (uint8_t)((dev->device & ~ATA_DEV_HEAD) | ((lba >> 24) & ATA_DEV_HEAD));
	} else {
		uint64_t per_cyl = (uint64_t)dev->cur_heads * dev->cur_spt;
		uint64_t cyl = lba / per_cyl, rest = lba % per_cyl;

		dev->lbam = (uint8_t)cyl;
		dev->lbah = (uint8_t)(cyl >> 8);
		dev->device = (uint8_t)((dev->device & ~ATA_DEV_HEAD) | (rest / dev->cur_spt));
		dev->lbal = (uint8_t)(rest % dev->cur_spt + 1);
	}
}

/* ata_io_error: the back end failed: ERR with `err`, the failing sector's
 * address in the task file, interrupt. */
static void ata_io_error(struct ide_device *dev, const char *what, uint8_t err, int rc)
{
	ide_log_io_error(dev, what, dev->lba, rc);
	ata_put_address(dev, dev->lba);
	dev->status = ATA_READY | ATA_STAT_ERR;
	dev->error = err;
	ide_raise(dev);
}

/* ---- PIO reads (ATA-6 clause 9, "PIO data-in"): an interrupt as each
 * DRQ block is ready, none after the last is read ---- */

static void ata_read_chunk(struct ide_device *dev);
static void ata_read_block_done(struct ide_device *dev);

static void ata_read_block(struct ide_device *dev)
{
	uint32_t n = dev->chunk - dev->chunk_pos;

	if (n > dev->drq_sectors)
		n = dev->drq_sectors;
	dev->block = n;
	ide_pio_in(dev, dev->chunk_pos * IDE_SECTOR_SIZE, n * IDE_SECTOR_SIZE,
		   ata_read_block_done);
	dev->status = ATA_READY | ATA_STAT_DRQ;
	ide_raise(dev);
}

static void ata_read_block_done(struct ide_device *dev)
{
	dev->chunk_pos += dev->block;
	dev->lba += dev->block;
	dev->left -= dev->block;
	ata_put_address(dev, dev->lba - 1);
	if (!dev->left)
		dev->status = ATA_READY;
	else if (dev->chunk_pos < dev->chunk)
		ata_read_block(dev);
	else
		ata_read_chunk(dev);
}

static void ata_read_chunk_done(struct ide_device *dev, const struct ide_job *job)
{
	if (job->rc) {
		ata_io_error(dev, "read", ATA_ERR_UNC, job->rc);
		return;
	}
	dev->chunk_pos = 0;
	ata_read_block(dev);
}

static void ata_read_chunk(struct ide_device *dev)
{
	struct ide_job job = { .kind = IDE_JOB_READ };

	dev->chunk = dev->left < ATA_CHUNK_SECTORS ? (uint32_t)dev->left : ATA_CHUNK_SECTORS;
	job.offset = dev->lba * IDE_SECTOR_SIZE;
	job.len = (uint64_t)dev->chunk * IDE_SECTOR_SIZE;
	ide_submit(dev, &job, ata_read_chunk_done);
}

/* ---- PIO writes (ATA-6 clause 9, "PIO data-out"): the first DRQ block
 * without an interrupt, one after every block moved. Blocks gather in buf
 * and go to the back end a chunk at a time. ---- */

static void ata_write_block_done(struct ide_device *dev);

static void ata_write_block(struct ide_device *dev, bool irq)
{
	uint32_t n = dev->chunk - dev->chunk_pos;

	if (n > dev->drq_sectors)
		n = dev->drq_sectors;
	dev->block = n;
	ide_pio_out(dev, dev->chunk_pos * IDE_SECTOR_SIZE, n * IDE_SECTOR_SIZE,
		    ata_write_block_done);
	dev->status = ATA_READY | ATA_STAT_DRQ;
	if (irq)
		ide_raise(dev);
}

static void ata_write_chunk_start(struct ide_device *dev, bool irq)
{
	dev->chunk = dev->left < ATA_CHUNK_SECTORS ? (uint32_t)dev->left : ATA_CHUNK_SECTORS;
	dev->chunk_pos = 0;
	ata_write_block(dev, irq);
}

static void ata_write_chunk_done(struct ide_device *dev, const struct ide_job *job)
{
	if (job->rc) {
		ata_io_error(dev, "write", ATA_ERR_ABRT, job->rc);
		return;
	}
	dev->lba += dev->chunk;
	dev->left -= dev->chunk;
	ata_put_address(dev, dev->lba - 1);
	if (dev->left)
		ata_write_chunk_start(dev, true);
	else
		ata_done(dev);
}

static void ata_write_block_done(struct ide_device *dev)
{
	struct ide_job job = { .kind = IDE_JOB_WRITE };

	dev->chunk_pos += dev->block;
	if (dev->chunk_pos < dev->chunk) {
		ata_write_block(dev, true);
		return;
	}
	job.offset = dev->lba * IDE_SECTOR_SIZE;
	job.len = (uint64_t)dev->chunk * IDE_SECTOR_SIZE;
	/* Write cache off: done means on stable storage. */
	job.flush = !dev->write_cache;
	ide_submit(dev, &job, ata_write_chunk_done);
}

/* ---- DMA (ATA-6 clause 9, "DMA"): one transfer through the bus master,
 * one interrupt at the end ---- */

static void ata_dma_done(struct ide_device *dev, const struct ide_job *job)
{
	if (job->prd == IDE_PRD_FAULT || job->prd == IDE_PRD_SHORT) {
		/* The bus master could not move it all. Only a broken table
		 * ends with an interrupt; a short one leaves the host to time
		 * out, as on real hardware (SFF-8038i: Interrupt 0, Active 0). */
		ata_put_address(dev, dev->lba);
		dev->status = ATA_READY | ATA_STAT_ERR;
		dev->error = ATA_ERR_ABRT;
		if (job->prd == IDE_PRD_FAULT)
			ide_raise(dev);
		return;
	}
	if (job->rc) {
		ata_io_error(dev, job->to_guest ? "read" : "write",
			     job->to_guest ? ATA_ERR_UNC : ATA_ERR_ABRT, job->rc);
		return;
	}
	dev->lba += dev->left;
	dev->left = 0;
	ata_put_address(dev, dev->lba - 1);
	ata_done(dev);
}

enum ata_rw_mode { RW_PIO, RW_MULTIPLE, RW_DMA };

static void ata_rw(struct ide_device *dev, bool write, enum ata_rw_mode mode, bool lba48)
{
	uint64_t lba, count;

	/* READ/WRITE MULTIPLE before SET MULTIPLE MODE are aborted. */
	if (mode == RW_MULTIPLE && !dev->multiple) {
		ata_abort(dev);
		return;
	}
	/* Out of range: ABRT (ATA-6 allows it in place of IDNF). */
	if (!ata_range(dev, lba48, &lba, &count) || (write && dev->bk->read_only)) {
		ata_abort(dev);
		return;
	}
	dev->lba = lba;
	dev->left = count;
	dev->standby = false;
	dev->drq_sectors = mode == RW_MULTIPLE ? dev->multiple : 1;
	if (mode == RW_DMA) {
		struct ide_job job = {
			.kind = IDE_JOB_DMA,
			.offset = lba * IDE_SECTOR_SIZE,
			.len = count * IDE_SECTOR_SIZE,
			.to_guest = !write,
			.flush = write && !dev->write_cache,
		};

		dev->status = ATA_READY | ATA_STAT_DRQ;
		ide_dma_begin(dev, &job, ata_dma_done);
	} else if (write) {
		ata_write_chunk_start(dev, false);
	} else {
		ata_read_chunk(dev);
	}
}

/* READ VERIFY SECTORS: the range is checked, nothing moves. */
static void ata_verify(struct ide_device *dev, bool lba48)
{
	uint64_t lba, count;

	if (!ata_range(dev, lba48, &lba, &count)) {
		ata_abort(dev);
		return;
	}
	dev->standby = false;
	ata_put_address(dev, lba + count - 1);
	ata_done(dev);
}

static void ata_flush_done(struct ide_device *dev, const struct ide_job *job)
{
	if (job->rc) {
		ide_log_io_error(dev, "flush", 0, job->rc);
		dev->status = ATA_READY | ATA_STAT_ERR;
		dev->error = ATA_ERR_ABRT;
		ide_raise(dev);
		return;
	}
	ata_done(dev);
}

/* ---- IDENTIFY DEVICE (ATA-6 clause 8) ---- */

static void ata_identify(struct ide_device *dev, uint16_t *id)
{
	uint64_t lba28 = dev->sectors < ATA_LBA28_MAX ? dev->sectors : ATA_LBA28_MAX;
	uint64_t per_cyl = (uint64_t)dev->cur_heads * dev->cur_spt;
	uint64_t cur_cyls = dev->sectors / per_cyl, cur_total;

	if (cur_cyls > 65535)
		cur_cyls = 65535;
	cur_total = cur_cyls * per_cyl;
	memset(id, 0, 512);
	id[0] = 0x0040;                       /* fixed device, ATA */
	id[1] = dev->cyls;
	id[3] = dev->heads;
	id[6] = dev->spt;
	ata_id_string(id, 10, 10, dev->serial);
	ata_id_string(id, 23, 4, "1.0");
	ata_id_string(id, 27, 20, "DUET HARDDISK");
	id[47] = 0x8000 | IDE_MAX_MULTIPLE;
	/* IORDY supported and can be disabled, LBA, DMA. */
	id[49] = (1 << 11) | (1 << 10) | (1 << 9) | (1 << 8);
	id[50] = 0x4000;
	id[51] = 0x0200;                      /* obsolete PIO timing: mode 2 */
	id[53] = 0x0007;                      /* words 54-58, 64-70, 88 valid */
	id[54] = (uint16_t)cur_cyls;
	id[55] = dev->cur_heads;
	id[56] = dev->cur_spt;
	id[57] = (uint16_t)cur_total;
	id[58] = (uint16_t)(cur_total >> 16);
	id[59] = dev->multiple ? 0x0100 | dev->multiple : 0;
	id[60] = (uint16_t)lba28;
	id[61] = (uint16_t)(lba28 >> 16);
	ata_id_dma_modes(dev, id);
	id[80] = 0x007e;                      /* ATA-1 to ATA/ATAPI-6 */
	/* Supported: NOP, write cache, power management; FLUSH CACHE (EXT)
	 * and the 48-bit Address feature set. */
	id[82] = (1 << 14) | (1 << 5) | (1 << 3);
	id[83] = 0x4000 | (1 << 13) | (1 << 12) | (1 << 10);
	id[84] = 0x4000;
	id[85] = (uint16_t)((1 << 14) | (dev->write_cache ? 1 << 5 : 0) | (1 << 3));
	id[86] = (1 << 13) | (1 << 12) | (1 << 10);
	id[87] = 0x4000;
	ata_id_reset_result(dev, id);
	id[100] = (uint16_t)dev->sectors;
	id[101] = (uint16_t)(dev->sectors >> 16);
	id[102] = (uint16_t)(dev->sectors >> 32);
	id[103] = (uint16_t)(dev->sectors >> 48);
	ata_id_finish(id, dev->buf);
}

static void ata_pio_last_done(struct ide_device *dev)
{
	dev->status = ATA_READY;
}

/* ---- SET FEATURES, shared with packet devices ---- */

bool ata_set_features(struct ide_device *dev)
{
	uint8_t mode = dev->count;

	switch (dev->feature) {
	case SETF_XFER_MODE:
		/* PIO modes leave the DMA mode alone. */
		if (mode == XFER_PIO_DEFAULT || mode == XFER_PIO_NO_IORDY ||
		    (mode >= XFER_PIO_0 && mode <= XFER_PIO_4))
			return true;
		if ((mode >= XFER_MWDMA_0 && mode <= XFER_MWDMA_2) ||
		    (mode >= XFER_UDMA_0 && mode <= XFER_UDMA_5)) {
			dev->xfer_mode = mode;
			return true;
		}
		return false;
	case SETF_WCACHE_ON:
	case SETF_WCACHE_OFF:
		dev->write_cache = dev->feature == SETF_WCACHE_ON;
		return true;
	case SETF_LOOKAHEAD_ON:
	case SETF_LOOKAHEAD_OFF:
		return true;
	case SETF_REVERT_OFF:
	case SETF_REVERT_ON:
		dev->keep_settings = dev->feature == SETF_REVERT_OFF;
		return true;
	}
	return false;
}

/* ---- the command register ---- */

void ata_command(struct ide_device *dev, uint8_t cmd)
{
	dev->error = 0;
	switch (cmd) {
	case ATA_CMD_READ_SECTORS:
	case ATA_CMD_READ_SECTORS_NR:
		ata_rw(dev, false, RW_PIO, false);
		break;
	case ATA_CMD_READ_SECTORS_EXT:
		ata_rw(dev, false, RW_PIO, true);
		break;
	case ATA_CMD_READ_MULTIPLE:
		ata_rw(dev, false, RW_MULTIPLE, false);
		break;
	case ATA_CMD_READ_MULTIPLE_EXT:
		ata_rw(dev, false, RW_MULTIPLE, true);
		break;
	case ATA_CMD_READ_DMA:
	case ATA_CMD_READ_DMA_NR:
		ata_rw(dev, false, RW_DMA, false);
		break;
	case ATA_CMD_READ_DMA_EXT:
		ata_rw(dev, false, RW_DMA, true);
		break;
	case ATA_CMD_WRITE_SECTORS:
	case ATA_CMD_WRITE_SECTORS_NR:
		ata_rw(dev, true, RW_PIO, false);
		break;
	case ATA_CMD_WRITE_SECTORS_EXT:
		ata_rw(dev, true, RW_PIO, true);
		break;
	case ATA_CMD_WRITE_MULTIPLE:
		ata_rw(dev, true, RW_MULTIPLE, false);
		break;
	case ATA_CMD_WRITE_MULTIPLE_EXT:
		ata_rw(dev, true, RW_MULTIPLE, true);
		break;
	case ATA_CMD_WRITE_DMA:
	case ATA_CMD_WRITE_DMA_NR:
		ata_rw(dev, true, RW_DMA, false);
		break;
	case ATA_CMD_WRITE_DMA_EXT:
		ata_rw(dev, true, RW_DMA, true);
		break;
	case ATA_CMD_READ_VERIFY:
	case ATA_CMD_READ_VERIFY_NR:
		ata_verify(dev, false);
		break;
	case ATA_CMD_READ_VERIFY_EXT:
		ata_verify(dev, true);
		break;
	case ATA_CMD_IDENTIFY_DEVICE:
		ata_identify(dev, (uint16_t[256]){ 0 });
		ide_pio_in(dev, 0, IDE_SECTOR_SIZE, ata_pio_last_done);
		dev->status = ATA_READY | ATA_STAT_DRQ;
		ide_raise(dev);
		break;
	case ATA_CMD_FLUSH_CACHE:
	case ATA_CMD_FLUSH_CACHE_EXT:
		ide_submit(dev, &(struct ide_job){ .kind = IDE_JOB_FLUSH }, ata_flush_done);
		break;
	case ATA_CMD_SET_FEATURES:
		if (ata_set_features(dev))
			ata_done(dev);
		else
			ata_abort(dev);
		break;
	case ATA_CMD_SET_MULTIPLE_MODE:
		/* A power of two up to word 47's maximum; 0 turns it off. */
		if (dev->count > IDE_MAX_MULTIPLE || (dev->count & (dev->count - 1))) {
			ata_abort(dev);
		} else {
			dev->multiple = dev->count;
			ata_done(dev);
		}
		break;
	case ATA_CMD_INITIALIZE_DEVICE_PARAMETERS:
		/* The CHS translation: heads from the Device register, sectors
		 * per track from Sector Count. */
		if (!dev->count) {
			ata_abort(dev);
		} else {
			dev->cur_heads = (uint16_t)((dev->device & ATA_DEV_HEAD) + 1);
			dev->cur_spt = dev->count;
			ata_done(dev);
		}
		break;
	case ATA_CMD_CHECK_POWER_MODE:
		dev->count = dev->standby ? 0x00 : 0xff;
		ata_done(dev);
		break;
	case ATA_CMD_IDLE:
	case ATA_CMD_IDLE_IMMEDIATE:
		dev->standby = false;
		ata_done(dev);
		break;
	case ATA_CMD_STANDBY:
	case ATA_CMD_STANDBY_IMMEDIATE:
	case ATA_CMD_SLEEP:
		dev->standby = true;
		ata_done(dev);
		break;
	case ATA_CMD_SEEK:
		ata_done(dev);
		break;
	default:
		/* RECALIBRATE (10h-1Fh, obsolete) still completes: DOS-era
		 * code issues it after a reset. */
		if ((cmd & 0xf0) == ATA_CMD_RECALIBRATE) {
			ata_done(dev);
			break;
		}
		/* NOP, IDENTIFY PACKET DEVICE, PACKET, DEVICE RESET and
		 * everything not implemented (ATA-6: ABRT for unsupported
		 * commands). */
		ata_abort(dev);
		break;
	}
}

/* ---- set-up ---- */

void ata_device_init(struct ide_device *dev)
{
	uint64_t cyls;

	dev->sectors = dev->bk->size / IDE_SECTOR_SIZE;
	if (dev->bk->size % IDE_SECTOR_SIZE)
		log_warn("IDE drive %u: the guest does not see the last %u bytes of the disk, "
			 "less than a 512-byte sector", dev->drive,
			 (unsigned)(dev->bk->size % IDE_SECTOR_SIZE));
	cyls = dev->sectors / (ATA_HEADS * ATA_SPT);
	dev->cyls = (uint16_t)(cyls > ATA_MAX_CYLS ? ATA_MAX_CYLS : cyls ? cyls : 1);
	dev->heads = ATA_HEADS;
	dev->spt = ATA_SPT;
	snprintf(dev->serial, sizeof(dev->serial), "DUETHD%u", dev->drive);
}

void ata_device_reset(struct ide_device *dev, bool power_on)
{
	/* A soft reset keeps the settings only after SET FEATURES 66h. */
	if (power_on || !dev->keep_settings) {
		dev->multiple = IDE_MAX_MULTIPLE;
		dev->xfer_mode = IDE_XFER_DEFAULT;
		dev->write_cache = true;
		dev->cur_heads = dev->heads;
		dev->cur_spt = dev->spt;
	}
	if (power_on)
		dev->keep_settings = false;
	dev->standby = false;
	ide_signature(dev);
	dev->device = 0;
	dev->feature = dev->hob_feature = 0;
	dev->status = ATA_READY;
	dev->error = ATA_DIAG_PASSED;
}
