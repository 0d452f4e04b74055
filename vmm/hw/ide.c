/* The IDE controller of the PIIX3 (82371SB) IDE function: two channels
 * at the compatibility ports, each with its task-file registers, the
 * Device Control register both devices share, INTRQ to IRQ 14/15, a worker
 * thread for back-end calls, and its half of the bus-master IDE block
 * (SFF-8038i; PIIX4 datasheet 5.2, which the PIIX3 shares). What a device
 * does with a command is ata.c's and atapi.c's; ide_pci.c puts this on
 * the PCI bus. */
#include "hw/ide_internal.h"

#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "block.h"
#include "log.h"

/* Bus-master registers, at BAR4 + 8 * channel (PIIX4 5.2.1-5.2.3). */
#define BM_REG_CMD 0
#define BM_REG_STATUS 2
#define BM_REG_PRD 4
#define BM_CMD_START 0x01      /* SSBM */
#define BM_CMD_WRITE 0x08      /* RWCON: the bus master writes memory */
#define BM_STATUS_ACTIVE 0x01  /* BMIDEA, read-only */
#define BM_STATUS_ERROR 0x02   /* write 1 to clear */
#define BM_STATUS_INTR 0x04    /* IDEINTS, write 1 to clear */
#define BM_STATUS_DMA_CAP 0x60 /* drive 0/1 DMA capable: software's own bits */

/* A PRD entry (SFF-8038i, "Physical Region Descriptor"): the region's
 * address (bit 0 zero), then its byte count in bits 15:1 (0 meaning 64
 * KiB) and EOT in bit 31. A table is dword aligned and may not cross a 64
 * KiB boundary, so it has at most 8192 entries: a table without EOT in
 * that many is broken. */
#define PRD_ENTRY_SIZE 8
#define PRD_EOT 0x80000000u
#define PRD_COUNT_MASK 0xfffeu
#define PRD_MAX_ENTRIES 8192
/* Regions gathered per back-end call. */
#define DMA_IOV_BATCH 256

static struct ide_device *ide_selected(struct ide_channel *ch)
{
	return &ch->dev[ch->select];
}

/* ide_responder: who drives the bus for the selected device: itself, or
 * for an absent device the other one, which answers register reads for it
 * except Status (ATA-6 clause 9, "device 1 not present"). NULL: no device
 * on the channel. */
static struct ide_device *ide_responder(struct ide_channel *ch)
{
	struct ide_device *dev = ide_selected(ch), *other = &ch->dev[!ch->select];

	if (dev->present)
		return dev;
	return other->present ? other : NULL;
}

/* ide_irq_update: INTRQ is driven by the selected device, when it has an
 * interrupt pending and nIEN is clear (ATA-6 clause 5, INTRQ). IDEINTS is
 * set on the line's assertion edge (PIIX4 5.2.2). */
static void ide_irq_update(struct ide_channel *ch)
{
	struct ide_device *dev = ide_selected(ch);
	bool level = dev->present && dev->intrq && !(ch->devctl & ATA_CTL_NIEN);

	if (level == ch->irq_level)
		return;
	ch->irq_level = level;
	if (level)
		ch->bm_status |= BM_STATUS_INTR;
	irq_pin_set(&ch->irq, level);
}

void ide_raise(struct ide_device *dev)
{
	dev->intrq = true;
	ide_irq_update(dev->ch);
}

void ide_log_io_error(struct ide_device *dev, const char *what, uint64_t sector, int rc)
{
	if (dev->io_error_logged)
		return;
	dev->io_error_logged = true;
	log_warn("IDE drive %u: %s at sector %" PRIu64 " failed: %s; the guest sees an "
		 "error (later errors are not logged)", dev->drive, what, sector, strerror(-rc));
}

void ide_signature(struct ide_device *dev)
{
	dev->count = dev->hob_count = 1;
	dev->lbal = dev->hob_lbal = 1;
	dev->lbam = dev->hob_lbam = dev->atapi ? 0x14 : 0;
	dev->lbah = dev->hob_lbah = dev->atapi ? 0xeb : 0;
	dev->device &= ATA_DEV_DEV;
}

/* ---- PIO data blocks ---- */

static void ide_pio_offer(struct ide_device *dev, enum ide_xfer xfer, uint32_t pos, uint32_t len,
			  void (*done)(struct ide_device *dev))
{
	/* Callers stay inside buf; clamped all the same. */
	if (pos > IDE_BUF_SIZE)
		pos = IDE_BUF_SIZE;
	if (len > IDE_BUF_SIZE - pos)
		len = IDE_BUF_SIZE - pos;
	dev->xfer = xfer;
	dev->pos = pos;
	dev->end = pos + len;
	dev->pio_done = done;
	dev->status = (uint8_t)((dev->status & ~ATA_STAT_BSY) | ATA_STAT_DRQ);
}

void ide_pio_in(struct ide_device *dev, uint32_t pos, uint32_t len,
		void (*done)(struct ide_device *dev))
{
	ide_pio_offer(dev, IDE_XFER_PIO_IN, pos, len, done);
}

void ide_pio_out(struct ide_device *dev, uint32_t pos, uint32_t len,
		 void (*done)(struct ide_device *dev))
{
	ide_pio_offer(dev, IDE_XFER_PIO_OUT, pos, len, done);
}

/* ide_pio_moved: the host moved `n` bytes at the data port; the block
 * ends once all of it went. */
static void ide_pio_moved(struct ide_device *dev, uint32_t n)
{
	dev->pos += n;
	if (dev->pos < dev->end)
		return;
	dev->xfer = IDE_XFER_NONE;
	dev->status &= (uint8_t)~ATA_STAT_DRQ;
	dev->pio_done(dev);
}

/* The data register (ATA-6 clause 7, "Data register"): 16 bits wide; a
 * 32-bit access moves two words (the PIIX splits it), a byte access one
 * byte. Past the end of the block the bus reads as padding. */
static void ide_data_read(struct ide_channel *ch, uint8_t *data, unsigned size)
{
	struct ide_device *dev = ide_selected(ch);
	uint32_t n;

	memset(data, 0xff, size);
	if (!dev->present || dev->xfer != IDE_XFER_PIO_IN)
		return;
	n = dev->end - dev->pos < size ? dev->end - dev->pos : size;
	memcpy(data, dev->buf + dev->pos, n);
	memset(data + n, 0, size - n);
	ide_pio_moved(dev, n);
}

static void ide_data_write(struct ide_channel *ch, const uint8_t *data, unsigned size)
{
	struct ide_device *dev = ide_selected(ch);
	uint32_t n;

	if (!dev->present || dev->xfer != IDE_XFER_PIO_OUT)
		return;
	n = dev->end - dev->pos < size ? dev->end - dev->pos : size;
	memcpy(dev->buf + dev->pos, data, n);
	ide_pio_moved(dev, n);
}

/* ---- work for the worker ---- */

void ide_submit(struct ide_device *dev, const struct ide_job *job,
		void (*done)(struct ide_device *dev, const struct ide_job *job))
{
	dev->job = *job;
	dev->job_done = done;
	dev->job_pending = true;
	dev->xfer = IDE_XFER_NONE;
	dev->status = (uint8_t)((dev->status & ~ATA_STAT_DRQ) | ATA_STAT_BSY);
	if (dev->ch->ide->threaded)
		pthread_cond_signal(&dev->ch->work);
}

/* ide_dma_try: hand a device's waiting transfer to the worker once the
 * guest started the bus master (with bus mastering enabled) and no
 * transfer was taken from that start yet. The selected device first. */
static void ide_dma_try(struct ide_channel *ch)
{
	if (!ch->bus_master || !(ch->bm_cmd & BM_CMD_START) || !ch->bm_armed)
		return;
	for (unsigned i = 0; i < 2; i++) {
		struct ide_device *dev = &ch->dev[(ch->select + i) & 1];

		if (!dev->present || dev->xfer != IDE_XFER_DMA || dev->dma_queued)
			continue;
		/* BMIDTP bits 1:0 are reserved: the table is dword aligned. */
		dev->job.prd_table = ch->bm_prd & ~3u;
		dev->dma_queued = true;
		dev->job_pending = true;
		ch->bm_armed = false;
		if (ch->ide->threaded)
			pthread_cond_signal(&ch->work);
		return;
	}
}

void ide_dma_begin(struct ide_device *dev, const struct ide_job *job,
		   void (*done)(struct ide_device *dev, const struct ide_job *job))
{
	dev->job = *job;
	dev->job_done = done;
	dev->xfer = IDE_XFER_DMA;
	dev->dma_queued = false;
	ide_dma_try(dev->ch);
}

/* ide_dma_move: one batch of regions, `done` bytes into the transfer. */
static int ide_dma_move(struct ide_device *dev, const struct ide_job *job,
			const struct iovec *iov, int n, uint64_t done)
{
	if (job->from_buffer) {
		/* A reply atapi.c built in buf (job->len <= IDE_BUF_SIZE). */
		for (int i = 0; i < n; i++) {
			memcpy(iov[i].iov_base, dev->buf + done, iov[i].iov_len);
			done += iov[i].iov_len;
		}
		return 0;
	}
	if (job->to_guest)
		return block_preadv(job->bk, iov, n, job->offset + done);
	return block_pwritev(job->bk, iov, n, job->offset + done);
}

/* ide_dma_run: follow the PRD table from job->prd_table, moving job->len
 * bytes. Each entry is read from guest RAM once and each region must lie
 * wholly in RAM; the transfer stops at the first that does not. */
static void ide_dma_run(const struct ide *ide, struct ide_device *dev, struct ide_job *job)
{
	struct iovec iov[DMA_IOV_BATCH];
	uint64_t left = job->len, done = 0, batch = 0;
	int n = 0;

	job->prd = IDE_PRD_FAULT;
	for (unsigned i = 0; i < PRD_MAX_ENTRIES && left; i++) {
		uint32_t entry[2], bytes, ctl, take;
		void *region;

		if (mem_read(ide->mem, (uint64_t)job->prd_table + (uint64_t)i * PRD_ENTRY_SIZE, entry,
			     sizeof(entry)))
			return;
		ctl = le32toh(entry[1]);
		bytes = ctl & PRD_COUNT_MASK;
		if (!bytes)
			bytes = 0x10000;
		take = left < bytes ? (uint32_t)left : bytes;
		region = mem_ptr(ide->mem, le32toh(entry[0]) & ~1u, take);
		if (!region)
			return;
		iov[n++] = (struct iovec){ region, take };
		batch += take;
		left -= take;
		if (n == DMA_IOV_BATCH || !left || (ctl & PRD_EOT)) {
			job->rc = ide_dma_move(dev, job, iov, n, done);
			if (job->rc) {
				job->prd = IDE_PRD_EXACT;
				return;
			}
			done += batch;
			batch = 0;
			n = 0;
		}
		if (!left) {
			job->prd = (ctl & PRD_EOT) && take == bytes ? IDE_PRD_EXACT : IDE_PRD_MORE;
			if (job->flush && !job->to_guest && !job->from_buffer)
				job->rc = block_flush(job->bk);
			return;
		}
		if (ctl & PRD_EOT) {
			job->prd = IDE_PRD_SHORT;
			return;
		}
	}
}

/* ide_job_run: carry a job out; without the lock when threaded. */
static void ide_job_run(const struct ide *ide, struct ide_device *dev, struct ide_job *job)
{
	struct iovec iov = { dev->buf, (size_t)job->len };

	job->rc = 0;
	switch (job->kind) {
	case IDE_JOB_READ:
		job->rc = block_preadv(job->bk, &iov, 1, job->offset);
		break;
	case IDE_JOB_WRITE:
		job->rc = block_pwritev(job->bk, &iov, 1, job->offset);
		if (!job->rc && job->flush)
			job->rc = block_flush(job->bk);
		break;
	case IDE_JOB_FLUSH:
		job->rc = block_flush(job->bk);
		break;
	case IDE_JOB_DMA:
		ide_dma_run(ide, dev, job);
		break;
	}
}

/* ide_job_take: the next job of the channel, copied, with the back end it
 * works on (the medium of a CD drive may have changed since it was asked
 * for). Checked here once more against the back end's size, so that no
 * call goes past its end whatever happened meanwhile. */
static struct ide_device *ide_job_take(struct ide_channel *ch, struct ide_job *job)
{
	for (unsigned i = 0; i < 2; i++) {
		struct ide_device *dev = &ch->dev[i];
		struct block *bk = dev->bk;
		bool uses_buf, uses_bk;

		if (!dev->job_pending)
			continue;
		*job = dev->job;
		dev->job_pending = false;
		dev->job_running = true;
		job->bk = bk;
		job->rc = 0;
		uses_buf = job->kind != IDE_JOB_FLUSH &&
			   (job->kind != IDE_JOB_DMA || job->from_buffer);
		uses_bk = !(job->kind == IDE_JOB_DMA && job->from_buffer);
		if (uses_buf && job->len > IDE_BUF_SIZE)
			job->rc = -EINVAL;
		else if (uses_bk && !bk)
			job->rc = -ENOMEDIUM;
		else if (uses_bk && job->kind != IDE_JOB_FLUSH &&
			 (job->offset > bk->size || job->len > bk->size - job->offset))
			job->rc = -EIO;
		return dev;
	}
	return NULL;
}

/* ide_dma_finish: the bus master's side of an ended transfer (PIIX4
 * 5.2.2, table 15). */
static void ide_dma_finish(struct ide_channel *ch, struct ide_device *dev,
			   const struct ide_job *job)
{
	dev->dma_queued = false;
	dev->xfer = IDE_XFER_NONE;
	switch (job->prd) {
	case IDE_PRD_MORE:
		break;
	case IDE_PRD_FAULT:
		ch->bm_status |= BM_STATUS_ERROR;
		/* fall through */
	case IDE_PRD_EXACT:
	case IDE_PRD_SHORT:
		ch->bm_status &= (uint8_t)~BM_STATUS_ACTIVE;
		break;
	}
}

static void ide_job_finish(struct ide_channel *ch, struct ide_device *dev, struct ide_job *job)
{
	dev->job_running = false;
	if (job->kind == IDE_JOB_DMA)
		ide_dma_finish(ch, dev, job);
	dev->job_done(dev, job);
	pthread_cond_broadcast(&ch->idle);
}

/* ide_channel_run: without a worker, carry out what the last access
 * asked for before it returns. Each job's completion asks the host for
 * something before it submits another, so this ends. */
static void ide_channel_run(struct ide_channel *ch)
{
	struct ide_device *dev;
	struct ide_job job = { 0 };

	if (ch->ide->threaded)
		return;
	while ((dev = ide_job_take(ch, &job))) {
		if (!job.rc)
			ide_job_run(ch->ide, dev, &job);
		ide_job_finish(ch, dev, &job);
	}
}

static void *ide_worker(void *opaque)
{
	struct ide_channel *ch = opaque;
	char name[16];

	snprintf(name, sizeof(name), "ide%u", ch->index);
	pthread_setname_np(pthread_self(), name);
	pthread_mutex_lock(&ch->lock);
	for (;;) {
		struct ide_job job = { 0 };
		struct ide_device *dev = NULL;

		while (!ch->quit && !(dev = ide_job_take(ch, &job)))
			pthread_cond_wait(&ch->work, &ch->lock);
		if (ch->quit)
			break;
		pthread_mutex_unlock(&ch->lock);
		if (!job.rc)
			ide_job_run(ch->ide, dev, &job);
		pthread_mutex_lock(&ch->lock);
		ide_job_finish(ch, dev, &job);
	}
	pthread_mutex_unlock(&ch->lock);
	return NULL;
}

void ide_device_stop(struct ide_device *dev)
{
	struct ide_channel *ch = dev->ch;

	while (dev->job_running)
		pthread_cond_wait(&ch->idle, &ch->lock);
	dev->job_pending = false;
	dev->dma_queued = false;
	dev->xfer = IDE_XFER_NONE;
}

/* ---- resets ---- */

static void ide_device_reset(struct ide_device *dev, bool power_on)
{
	dev->intrq = false;
	dev->xfer = IDE_XFER_NONE;
	if (dev->atapi)
		atapi_device_reset(dev, power_on);
	else
		ata_device_reset(dev, power_on);
}

/* EXECUTE DEVICE DIAGNOSTIC (ATA-6 clause 8): both devices run it
 * whichever is selected; each reports its signature and "passed". */
static void ide_execute_diagnostic(struct ide_channel *ch)
{
	for (unsigned i = 0; i < 2; i++) {
		struct ide_device *dev = &ch->dev[i];

		if (!dev->present)
			continue;
		ide_device_stop(dev);
		ide_signature(dev);
		dev->error = ATA_DIAG_PASSED;
		dev->status = dev->atapi ? 0 : ATA_STAT_DRDY | ATA_STAT_DSC;
		ide_raise(dev);
	}
}

/* The Device Control register (ATA-6 clause 7; software reset protocol,
 * clause 9): SRST held high keeps both devices busy; its falling edge
 * finishes their reset. */
static void ide_control_write(struct ide_channel *ch, uint8_t v)
{
	uint8_t old = ch->devctl;

	ch->devctl = v;
	if ((v & ATA_CTL_SRST) && !(old & ATA_CTL_SRST)) {
		for (unsigned i = 0; i < 2; i++) {
			struct ide_device *dev = &ch->dev[i];

			if (!dev->present)
				continue;
			ide_device_stop(dev);
			dev->intrq = false;
			dev->status = ATA_STAT_BSY;
		}
	} else if (!(v & ATA_CTL_SRST) && (old & ATA_CTL_SRST)) {
		ch->select = 0;
		for (unsigned i = 0; i < 2; i++)
			if (ch->dev[i].present)
				ide_device_reset(&ch->dev[i], false);
	}
	ide_irq_update(ch);
}

/* ---- the command block ---- */

static void ide_command_write(struct ide_channel *ch, uint8_t cmd)
{
	struct ide_device *dev = ide_selected(ch);

	/* An absent device 1 ignores commands, and device 0 does not run
	 * them for it (ATA-6 clause 9, "device 1 not present"). */
	if (!dev->present || (ch->devctl & ATA_CTL_SRST))
		return;
	/* Only DEVICE RESET is taken while BSY or DRQ is set, and only by a
	 * packet device (ATA-6 clause 8, "DEVICE RESET"). */
	if ((dev->status & (ATA_STAT_BSY | ATA_STAT_DRQ)) &&
	    !(dev->atapi && cmd == ATA_CMD_DEVICE_RESET))
		return;
	dev->intrq = false;
	if (cmd == ATA_CMD_EXECUTE_DIAGNOSTIC)
		ide_execute_diagnostic(ch);
	else if (dev->atapi)
		atapi_command(dev, cmd);
	else
		ata_command(dev, cmd);
	ide_irq_update(ch);
}

/* Writes reach both devices (ATA-6 clause 7: the registers are shared);
 * the 48-bit registers keep the previous value under HOB. */
static void ide_taskfile_write(struct ide_channel *ch, unsigned reg, uint8_t v)
{
	/* A write to any Command Block register clears HOB (ATA-6 clause 7,
	 * Device Control register). */
	ch->devctl &= (uint8_t)~ATA_CTL_HOB;
	if (reg == ATA_REG_COMMAND) {
		ide_command_write(ch, v);
		return;
	}
	for (unsigned i = 0; i < 2; i++) {
		struct ide_device *dev = &ch->dev[i];

		if (!dev->present)
			continue;
		switch (reg) {
		case ATA_REG_FEATURE:
			dev->hob_feature = dev->feature;
			dev->feature = v;
			break;
		case ATA_REG_COUNT:
			dev->hob_count = dev->count;
			dev->count = v;
			break;
		case ATA_REG_LBAL:
			dev->hob_lbal = dev->lbal;
			dev->lbal = v;
			break;
		case ATA_REG_LBAM:
			dev->hob_lbam = dev->lbam;
			dev->lbam = v;
			break;
		case ATA_REG_LBAH:
			dev->hob_lbah = dev->lbah;
			dev->lbah = v;
			break;
		case ATA_REG_DEVICE:
			dev->device = v;
			break;
		}
	}
	if (reg == ATA_REG_DEVICE) {
		ch->select = (v & ATA_DEV_DEV) ? 1 : 0;
		ide_irq_update(ch);
	}
}

static uint8_t ide_taskfile_read(struct ide_channel *ch, unsigned reg)
{
	struct ide_device *dev = ide_selected(ch), *r = ide_responder(ch);
	bool hob = ch->devctl & ATA_CTL_HOB;

	/* Nobody drives an empty channel's bus. */
	if (!r)
		return 0xff;
	switch (reg) {
	case ATA_REG_ERROR:
		return r->error;
	case ATA_REG_COUNT:
		return hob ? r->hob_count : r->count;
	case ATA_REG_LBAL:
		return hob ? r->hob_lbal : r->lbal;
	case ATA_REG_LBAM:
		return hob ? r->hob_lbam : r->lbam;
	case ATA_REG_LBAH:
		return hob ? r->hob_lbah : r->lbah;
	case ATA_REG_DEVICE:
		return r->device;
	case ATA_REG_STATUS:
		if (r != dev)
			return 0;
		/* Reading Status acknowledges the interrupt (ATA-6 clause 7). */
		dev->intrq = false;
		ide_irq_update(ch);
		return dev->status;
	}
	return 0xff;
}

static void ide_cmd_read(void *opaque, uint64_t offset, void *data, unsigned size)
{
	struct ide_channel *ch = opaque;
	uint8_t *out = data;

	pthread_mutex_lock(&ch->lock);
	if (offset == ATA_REG_DATA) {
		ide_data_read(ch, out, size);
	} else {
		for (unsigned i = 0; i < size; i++)
			out[i] = ide_taskfile_read(ch, (unsigned)offset + i);
	}
	ide_channel_run(ch);
	pthread_mutex_unlock(&ch->lock);
}

static void ide_cmd_write(void *opaque, uint64_t offset, const void *data, unsigned size)
{
	struct ide_channel *ch = opaque;
	const uint8_t *in = data;

	pthread_mutex_lock(&ch->lock);
	if (offset == ATA_REG_DATA) {
		ide_data_write(ch, in, size);
	} else {
		for (unsigned i = 0; i < size; i++)
			ide_taskfile_write(ch, (unsigned)offset + i, in[i]);
	}
	ide_channel_run(ch);
	pthread_mutex_unlock(&ch->lock);
}

static const struct bus_ops ide_cmd_ops = {
	.read = ide_cmd_read,
	.write = ide_cmd_write,
};

/* The control block: Alternate Status (read, no acknowledge) and Device
 * Control (write). */
static void ide_ctl_read(void *opaque, uint64_t offset, void *data, unsigned size)
{
	struct ide_channel *ch = opaque;
	struct ide_device *r;
	uint8_t v;

	(void)offset;
	pthread_mutex_lock(&ch->lock);
	r = ide_responder(ch);
	v = !r ? 0xff : r == ide_selected(ch) ? r->status : 0;
	pthread_mutex_unlock(&ch->lock);
	memset(data, 0, size);
	*(uint8_t *)data = v;
}

static void ide_ctl_write(void *opaque, uint64_t offset, const void *data, unsigned size)
{
	struct ide_channel *ch = opaque;

	(void)offset;
	(void)size;
	pthread_mutex_lock(&ch->lock);
	ide_control_write(ch, *(const uint8_t *)data);
	ide_channel_run(ch);
	pthread_mutex_unlock(&ch->lock);
}

static const struct bus_ops ide_ctl_ops = {
	.read = ide_ctl_read,
	.write = ide_ctl_write,
};

/* ---- the bus-master block (PIIX4 5.2): byte, word or dword access ---- */

static uint8_t ide_bm_read_byte(struct ide_channel *ch, unsigned reg)
{
	switch (reg) {
	case BM_REG_CMD:
		return ch->bm_cmd;
	case BM_REG_STATUS:
		return ch->bm_status;
	case BM_REG_PRD:
	case BM_REG_PRD + 1:
	case BM_REG_PRD + 2:
	case BM_REG_PRD + 3:
		return (uint8_t)(ch->bm_prd >> (8 * (reg - BM_REG_PRD)));
	}
	return 0;
}

/* BMICOM: SSBM's rising edge starts the engine (Active set); its falling
 * edge stops it, which loses its state (PIIX4 5.2.1). A transfer under way
 * finishes first: a back-end call cannot be taken back. */
static void ide_bm_command(struct ide_channel *ch, uint8_t v)
{
	v &= BM_CMD_START | BM_CMD_WRITE;
	if ((ch->bm_cmd & BM_CMD_START) && !(v & BM_CMD_START)) {
		for (unsigned i = 0; i < 2; i++) {
			struct ide_device *dev = &ch->dev[i];

			while (dev->job_running)
				pthread_cond_wait(&ch->idle, &ch->lock);
			if (dev->xfer == IDE_XFER_DMA && dev->dma_queued) {
				dev->job_pending = false;
				dev->dma_queued = false;
			}
		}
		ch->bm_status &= (uint8_t)~BM_STATUS_ACTIVE;
		ch->bm_armed = false;
	} else if (!(ch->bm_cmd & BM_CMD_START) && (v & BM_CMD_START)) {
		ch->bm_status |= BM_STATUS_ACTIVE;
		ch->bm_armed = true;
	}
	ch->bm_cmd = v;
	ide_dma_try(ch);
}

static void ide_bm_write_byte(struct ide_channel *ch, unsigned reg, uint8_t v)
{
	unsigned shift;

	switch (reg) {
	case BM_REG_CMD:
		ide_bm_command(ch, v);
		break;
	case BM_REG_STATUS:
		ch->bm_status = (uint8_t)((ch->bm_status & ~(v & (BM_STATUS_ERROR | BM_STATUS_INTR)) &
					   ~BM_STATUS_DMA_CAP) | (v & BM_STATUS_DMA_CAP));
		break;
	case BM_REG_PRD:
	case BM_REG_PRD + 1:
	case BM_REG_PRD + 2:
	case BM_REG_PRD + 3:
		shift = 8 * (reg - BM_REG_PRD);
		ch->bm_prd = (ch->bm_prd & ~(0xffu << shift)) | (uint32_t)v << shift;
		ch->bm_prd &= ~3u;
		break;
	}
}

static void ide_bm_read(void *opaque, uint64_t offset, void *data, unsigned size)
{
	struct ide *ide = opaque;
	uint8_t *out = data;

	for (unsigned i = 0; i < size; i++) {
		uint64_t at = offset + i;
		struct ide_channel *ch = &ide->ch[(at / 8) & 1];

		pthread_mutex_lock(&ch->lock);
		out[i] = at < IDE_BM_SIZE ? ide_bm_read_byte(ch, (unsigned)at % 8) : 0xff;
		pthread_mutex_unlock(&ch->lock);
	}
}

static void ide_bm_write(void *opaque, uint64_t offset, const void *data, unsigned size)
{
	struct ide *ide = opaque;
	const uint8_t *in = data;

	for (unsigned i = 0; i < size; i++) {
		uint64_t at = offset + i;
		struct ide_channel *ch = &ide->ch[(at / 8) & 1];

		if (at >= IDE_BM_SIZE)
			break;
		pthread_mutex_lock(&ch->lock);
		ide_bm_write_byte(ch, (unsigned)at % 8, in[i]);
		ide_channel_run(ch);
		pthread_mutex_unlock(&ch->lock);
	}
}

const struct bus_ops ide_bm_ops = {
	.read = ide_bm_read,
	.write = ide_bm_write,
};

void ide_set_bus_master(struct ide *ide, bool enabled)
{
	for (unsigned c = 0; c < IDE_CHANNELS; c++) {
		struct ide_channel *ch = &ide->ch[c];

		pthread_mutex_lock(&ch->lock);
		ch->bus_master = enabled;
		ide_dma_try(ch);
		ide_channel_run(ch);
		pthread_mutex_unlock(&ch->lock);
	}
}

/* ---- set-up ---- */

void ide_set_legacy_decode(struct ide *ide, unsigned channel, bool decode)
{
	static const char *const names[IDE_CHANNELS][2] = {
		{ "ide-primary", "ide-primary-ctl" }, { "ide-secondary", "ide-secondary-ctl" }
	};
	struct ide_channel *ch;
	int err;

	if (channel >= IDE_CHANNELS)
		return;
	ch = &ide->ch[channel];
	pthread_mutex_lock(&ch->lock);
	if (decode && !ch->decoded) {
		err = bus_register(ide->pio, ch->cmd_base, 8, &ide_cmd_ops, ch, names[channel][0]);
		if (!err) {
			err = bus_register(ide->pio, ch->ctl_base, 1, &ide_ctl_ops, ch,
					   names[channel][1]);
			if (err)
				bus_unregister(ide->pio, ch->cmd_base);
		}
		if (err)
			log_warn("IDE %s channel: its ports %#x/%#x are taken",
				 channel ? "secondary" : "primary", ch->cmd_base, ch->ctl_base);
		ch->decoded = !err;
	} else if (!decode && ch->decoded) {
		bus_unregister(ide->pio, ch->cmd_base);
		bus_unregister(ide->pio, ch->ctl_base);
		ch->decoded = false;
	}
	pthread_mutex_unlock(&ch->lock);
}

static void ide_channel_reset(struct ide_channel *ch)
{
	pthread_mutex_lock(&ch->lock);
	for (unsigned i = 0; i < 2; i++) {
		struct ide_device *dev = &ch->dev[i];

		if (!dev->present)
			continue;
		ide_device_stop(dev);
		ide_device_reset(dev, true);
	}
	ch->select = 0;
	ch->devctl = 0;
	ch->bm_cmd = 0;
	ch->bm_status = 0;
	ch->bm_prd = 0;
	ch->bm_armed = false;
	ide_irq_update(ch);
	pthread_mutex_unlock(&ch->lock);
}

void ide_reset(struct ide *ide)
{
	for (unsigned c = 0; c < IDE_CHANNELS; c++)
		ide_channel_reset(&ide->ch[c]);
}

int ide_cdrom_change(struct ide *ide, unsigned drive, struct block *medium)
{
	struct ide_channel *ch;
	struct ide_device *dev;
	struct block *old;

	if (drive >= IDE_DRIVES)
		return -EINVAL;
	ch = &ide->ch[drive / 2];
	dev = &ch->dev[drive % 2];
	if (!dev->present || !dev->atapi)
		return -EINVAL;
	pthread_mutex_lock(&ch->lock);
	while (dev->job_running)
		pthread_cond_wait(&ch->idle, &ch->lock);
	old = dev->bk;
	dev->bk = medium;
	atapi_medium_changed(dev);
	ide_channel_run(ch);
	pthread_mutex_unlock(&ch->lock);
	block_close(old);
	return 0;
}

/* ide_start_worker: with every signal blocked, so that signals meant for
 * the process or for vCPU threads never land there. */
static int ide_start_worker(struct ide_channel *ch)
{
	sigset_t all, old;
	int rc;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&ch->thread, NULL, ide_worker, ch);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc)
		return -rc;
	ch->thread_started = true;
	return 0;
}

void ide_free(struct ide *ide)
{
	if (!ide)
		return;
	for (unsigned c = 0; c < IDE_CHANNELS; c++) {
		struct ide_channel *ch = &ide->ch[c];

		if (ch->thread_started) {
			pthread_mutex_lock(&ch->lock);
			ch->quit = true;
			pthread_cond_signal(&ch->work);
			pthread_mutex_unlock(&ch->lock);
			pthread_join(ch->thread, NULL);
		}
		ide_set_legacy_decode(ide, c, false);
		for (unsigned u = 0; u < 2; u++) {
			block_close(ch->dev[u].bk);
			free(ch->dev[u].buf);
		}
		pthread_cond_destroy(&ch->idle);
		pthread_cond_destroy(&ch->work);
		pthread_mutex_destroy(&ch->lock);
	}
	free(ide);
}

struct ide *ide_new(struct bus *pio, const struct guest_mem *mem, const struct irq_pin irq[2],
		    struct block *disks[IDE_DRIVES], const int is_cdrom[IDE_DRIVES],
		    bool threaded)
{
	static const uint16_t cmd_base[IDE_CHANNELS] = { IDE_PRIMARY_CMD, IDE_SECONDARY_CMD };
	static const uint16_t ctl_base[IDE_CHANNELS] = { IDE_PRIMARY_CTL, IDE_SECONDARY_CTL };
	struct ide *ide = calloc(1, sizeof(*ide));
	int err = 0;

	if (!ide) {
		for (unsigned i = 0; i < IDE_DRIVES; i++)
			block_close(disks ? disks[i] : NULL);
		errno = ENOMEM;
		return NULL;
	}
	ide->pio = pio;
	ide->mem = mem;
	ide->threaded = threaded;
	for (unsigned c = 0; c < IDE_CHANNELS; c++) {
		struct ide_channel *ch = &ide->ch[c];

		ch->ide = ide;
		ch->index = c;
		ch->cmd_base = cmd_base[c];
		ch->ctl_base = ctl_base[c];
		ch->irq = irq[c];
		pthread_mutex_init(&ch->lock, NULL);
		pthread_cond_init(&ch->work, NULL);
		pthread_cond_init(&ch->idle, NULL);
		for (unsigned u = 0; u < 2; u++) {
			struct ide_device *dev = &ch->dev[u];
			unsigned drive = c * 2 + u;

			dev->ch = ch;
			dev->unit = u;
			dev->drive = drive;
			dev->bk = disks ? disks[drive] : NULL;
			dev->atapi = is_cdrom ? is_cdrom[drive] != 0 : drive == IDE_DEFAULT_CDROM;
			dev->present = dev->atapi || dev->bk;
		}
	}
	/* Every device is known before any is set up: IDENTIFY word 93 of
	 * device 0 says whether device 1 is there. */
	for (unsigned d = 0; d < IDE_DRIVES && !err; d++) {
		struct ide_device *dev = &ide->ch[d / 2].dev[d % 2];

		if (!dev->present)
			continue;
		dev->buf = calloc(1, IDE_BUF_SIZE);
		if (!dev->buf) {
			err = ENOMEM;
			break;
		}
		if (dev->atapi)
			atapi_device_init(dev);
		else
			ata_device_init(dev);
	}
	for (unsigned c = 0; c < IDE_CHANNELS && !err && threaded; c++)
		err = -ide_start_worker(&ide->ch[c]);
	if (err) {
		ide_free(ide);
		errno = err;
		return NULL;
	}
	ide_reset(ide);
	return ide;
}
