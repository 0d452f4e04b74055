/* virtio-blk (Virtio 1.2, 5.2): the numbers of the block device type, and
 * its request handler, kept apart from the device model's threads so that
 * unit tests drive it against any block back end. */
#ifndef DUET_VIRTIO_BLK_H
#define DUET_VIRTIO_BLK_H

#include <stdbool.h>
#include <stdint.h>

#include "block.h"
#include "virtio/virtqueue.h"

/* Feature bits (5.2.3). */
#define VIRTIO_BLK_F_SIZE_MAX 1     /* size_max: the largest segment */
#define VIRTIO_BLK_F_SEG_MAX 2      /* seg_max: most segments in a request */
#define VIRTIO_BLK_F_GEOMETRY 4
#define VIRTIO_BLK_F_RO 5           /* the device is read-only */
#define VIRTIO_BLK_F_BLK_SIZE 6     /* blk_size: the optimal block size */
#define VIRTIO_BLK_F_FLUSH 9        /* VIRTIO_BLK_T_FLUSH (the cache is write-back) */
#define VIRTIO_BLK_F_TOPOLOGY 10
#define VIRTIO_BLK_F_CONFIG_WCE 11
#define VIRTIO_BLK_F_MQ 12          /* num_queues */
#define VIRTIO_BLK_F_DISCARD 13     /* VIRTIO_BLK_T_DISCARD */
#define VIRTIO_BLK_F_WRITE_ZEROES 14 /* VIRTIO_BLK_T_WRITE_ZEROES */

/* Device configuration (5.2.4 struct virtio_blk_config), little-endian,
 * through the write-zeroes fields: the secure-erase and zoned fields that
 * 1.2 adds after them belong to features duet does not offer. */
struct virtio_blk_config {
	uint64_t capacity;          /* in 512-byte sectors */
	uint32_t size_max;
	uint32_t seg_max;
	uint16_t cylinders;         /* geometry */
	uint8_t heads;
	uint8_t sectors;
	uint32_t blk_size;
	uint8_t physical_block_exp; /* topology */
	uint8_t alignment_offset;
	uint16_t min_io_size;
	uint32_t opt_io_size;
	uint8_t writeback;
	uint8_t unused0;
	uint16_t num_queues;
	uint32_t max_discard_sectors;
	uint32_t max_discard_seg;
	uint32_t discard_sector_alignment;
	uint32_t max_write_zeroes_sectors;
	uint32_t max_write_zeroes_seg;
	uint8_t write_zeroes_may_unmap;
	uint8_t unused1[3];
} __attribute__((packed));
_Static_assert(sizeof(struct virtio_blk_config) == 60, "virtio_blk_config through unused1");

/* A request (5.2.6): this header in the device-readable part, the data,
 * then one status byte, the last byte of the device-writable part. */
struct virtio_blk_req_hdr {
	uint32_t type;     /* VIRTIO_BLK_T_* */
	uint32_t reserved;
	uint64_t sector;   /* 512-byte units, whatever blk_size says */
};
_Static_assert(sizeof(struct virtio_blk_req_hdr) == 16, "virtio_blk_req_hdr is 16 bytes");

#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_T_GET_LIFETIME 10
#define VIRTIO_BLK_T_DISCARD 11
#define VIRTIO_BLK_T_WRITE_ZEROES 13
#define VIRTIO_BLK_T_SECURE_ERASE 14

#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define VIRTIO_BLK_S_UNSUPP 2

#define VIRTIO_BLK_SECTOR_SIZE 512
#define VIRTIO_BLK_ID_BYTES 20 /* GET_ID: a NUL-padded string */

/* The data of DISCARD and WRITE_ZEROES: one or more of these (5.2.6). */
struct virtio_blk_discard_write_zeroes {
	uint64_t sector;
	uint32_t num_sectors;
	uint32_t flags; /* VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP; no others defined */
};
_Static_assert(sizeof(struct virtio_blk_discard_write_zeroes) == 16, "a segment is 16 bytes");
#define VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP 1

/* What duet's device offers. seg_max: a chain is at most the queue size
 * (2.7.5.3.1), header and status take two. */
#define VIRTIO_BLK_QUEUE_SIZE 256
#define VIRTIO_BLK_SEG_MAX (VIRTIO_BLK_QUEUE_SIZE - 2)
#define VIRTIO_BLK_MAX_DISCARD_SECTORS (1u << 22)      /* 2 GiB per segment */
#define VIRTIO_BLK_MAX_DISCARD_SEG 32
#define VIRTIO_BLK_DISCARD_ALIGNMENT 8                 /* 4 KiB: a host page */
#define VIRTIO_BLK_MAX_WRITE_ZEROES_SECTORS (1u << 16) /* 32 MiB per segment */
#define VIRTIO_BLK_MAX_WRITE_ZEROES_SEG 1

/* One disk, as the request handler sees it. */
struct virtio_blk_disk {
	struct block *bk;
	uint64_t capacity;   /* 512-byte sectors: the back end's size, rounded down */
	bool read_only;      /* VIRTIO_BLK_F_RO offered; WRITE_ZEROES is not */
	bool discard;        /* VIRTIO_BLK_F_DISCARD offered */
	char id[VIRTIO_BLK_ID_BYTES]; /* the GET_ID answer */
	const char *name;    /* for the one log line of a failing back end */
	bool io_error_logged;
};

/* virtio_blk_disk_init: a disk over `bk`, discards passed on when
 * `discard` and the disk is writable, serial "duet-<index>". */
void virtio_blk_disk_init(struct virtio_blk_disk *disk, struct block *bk, bool discard,
			  unsigned index, const char *name);

/* virtio_blk_features: the VIRTIO_BLK_F_* bits (as 1ULL << bit) to offer. */
uint64_t virtio_blk_features(const struct virtio_blk_disk *disk);

/* virtio_blk_config_fill: the device configuration, little-endian. */
void virtio_blk_config_fill(const struct virtio_blk_disk *disk, struct virtio_blk_config *cfg);

/* virtio_blk_request: carry out the request in `elem`, a chain popped from
 * the request queue, against the disk's back end, blocking for the I/O,
 * and write its status byte; *used_len is then the length for the used
 * ring. -EINVAL: the chain has no device-writable byte for a status, so it
 * cannot be answered and the queue is broken (nothing was done). */
int virtio_blk_request(struct virtio_blk_disk *disk, const struct vq_elem *elem,
		       uint32_t *used_len);

#endif
