/* Virtio 1.x numbers every duet virtio device shares: device IDs, feature
 * bits, device status bits, the split-virtqueue layout (descriptor flags,
 * ring offsets) and the virtio-pci modern register map. Section numbers are
 * those of "Virtual I/O Device (VIRTIO) Version 1.2" (OASIS, 2022). All
 * multi-byte fields in guest memory and in these registers are
 * little-endian. */
#ifndef DUET_VIRTIO_VIRTIO_H
#define DUET_VIRTIO_VIRTIO_H

#include <stdint.h>

/* Device IDs (5 "Device Types"). */
#define VIRTIO_ID_NET 1
#define VIRTIO_ID_BLOCK 2
#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_ID_ENTROPY 4
#define VIRTIO_ID_BALLOON 5
#define VIRTIO_ID_SCSI 8
#define VIRTIO_ID_9P 9
#define VIRTIO_ID_GPU 16
#define VIRTIO_ID_INPUT 18
#define VIRTIO_ID_VSOCK 19
#define VIRTIO_ID_SOUND 25
#define VIRTIO_ID_FS 26

/* Device status bits (2.1 "Device Status Field"). */
#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER 2
#define VIRTIO_STATUS_DRIVER_OK 4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_DEVICE_NEEDS_RESET 64
#define VIRTIO_STATUS_FAILED 128

/* Feature bit numbers shared by all device types (6 "Reserved Feature
 * Bits"); device-specific bits are 0-23. Use as (1ULL << VIRTIO_F_...). */
#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX 29
#define VIRTIO_F_VERSION_1 32
#define VIRTIO_F_ACCESS_PLATFORM 33
#define VIRTIO_F_RING_PACKED 34
#define VIRTIO_F_IN_ORDER 35
#define VIRTIO_F_ORDER_PLATFORM 36
#define VIRTIO_F_SR_IOV 37
#define VIRTIO_F_NOTIFICATION_DATA 38
#define VIRTIO_F_NOTIF_CONFIG_DATA 39
#define VIRTIO_F_RING_RESET 40

/* Split virtqueue (2.7). Queue Size is a power of two, at most 32768. */
#define VIRTQ_MAX_SIZE 32768

/* Descriptor table (2.7.5): Queue Size entries of 16 bytes, 16-aligned. */
struct virtq_desc {
	uint64_t addr;  /* guest-physical */
	uint32_t len;
	uint16_t flags; /* VIRTQ_DESC_F_* */
	uint16_t next;  /* valid when flags has VIRTQ_DESC_F_NEXT */
};
_Static_assert(sizeof(struct virtq_desc) == 16, "virtq_desc is 16 bytes");

#define VIRTQ_DESC_F_NEXT 1     /* the buffer continues at `next` */
#define VIRTQ_DESC_F_WRITE 2    /* device write-only (else read-only) */
#define VIRTQ_DESC_F_INDIRECT 4 /* the buffer is a table of descriptors (2.7.5.3) */

#define VIRTQ_DESC_ALIGN 16
#define VIRTQ_DESC_SIZE(qsz) (16ULL * (qsz))

/* Available ring, the "driver area" (2.7.6): le16 flags, le16 idx,
 * le16 ring[Queue Size], le16 used_event; 2-aligned. */
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_AVAIL_FLAGS 0
#define VIRTQ_AVAIL_IDX 2
#define VIRTQ_AVAIL_RING(i) (4 + 2ULL * (i))
#define VIRTQ_AVAIL_USED_EVENT(qsz) VIRTQ_AVAIL_RING(qsz) /* 2.7.7 */
#define VIRTQ_AVAIL_ALIGN 2
#define VIRTQ_AVAIL_SIZE(qsz) (6 + 2ULL * (qsz))

/* Used ring, the "device area" (2.7.8): le16 flags, le16 idx,
 * struct virtq_used_elem ring[Queue Size], le16 avail_event; 4-aligned. */
struct virtq_used_elem {
	uint32_t id;  /* head of the descriptor chain */
	uint32_t len; /* bytes written into its device-writable part */
};
_Static_assert(sizeof(struct virtq_used_elem) == 8, "virtq_used_elem is 8 bytes");

#define VIRTQ_USED_F_NO_NOTIFY 1
#define VIRTQ_USED_FLAGS 0
#define VIRTQ_USED_IDX 2
#define VIRTQ_USED_RING(i) (4 + 8ULL * (i))
#define VIRTQ_USED_AVAIL_EVENT(qsz) VIRTQ_USED_RING(qsz) /* 2.7.10 */
#define VIRTQ_USED_ALIGN 4
#define VIRTQ_USED_SIZE(qsz) (6 + 8ULL * (qsz))

/* Virtio over PCI, modern (non-transitional) interface (4.1). */
#define VIRTIO_PCI_VENDOR_ID 0x1af4
#define VIRTIO_PCI_DEVICE_ID_BASE 0x1040 /* + the virtio device ID (4.1.2) */
#define VIRTIO_PCI_REVISION 1            /* "1 or higher" for non-transitional */
#define VIRTIO_PCI_SUBSYSTEM_MIN 0x40    /* subsystem device ID "0x40 or higher" */

/* Vendor-specific capability (4.1.4 struct virtio_pci_cap): byte offsets
 * within the capability, and its cfg_type values. */
#define VIRTIO_PCI_CAP_VNDR 0     /* u8 0x09, PCI_CAP_ID_VNDR */
#define VIRTIO_PCI_CAP_NEXT 1     /* u8 */
#define VIRTIO_PCI_CAP_LEN 2      /* u8 */
#define VIRTIO_PCI_CAP_CFG_TYPE 3 /* u8 */
#define VIRTIO_PCI_CAP_BAR 4      /* u8 */
#define VIRTIO_PCI_CAP_ID 5       /* u8 */
#define VIRTIO_PCI_CAP_OFFSET 8   /* le32, within the BAR */
#define VIRTIO_PCI_CAP_LENGTH 12  /* le32 */
#define VIRTIO_PCI_CAP_SIZE 16
#define VIRTIO_PCI_NOTIFY_CAP_MULT 16 /* le32 notify_off_multiplier (4.1.4.4) */
#define VIRTIO_PCI_NOTIFY_CAP_SIZE 20

#define VIRTIO_PCI_CAP_COMMON_CFG 1
#define VIRTIO_PCI_CAP_NOTIFY_CFG 2
#define VIRTIO_PCI_CAP_ISR_CFG 3
#define VIRTIO_PCI_CAP_DEVICE_CFG 4
#define VIRTIO_PCI_CAP_PCI_CFG 5
#define VIRTIO_PCI_CAP_SHARED_MEMORY_CFG 8
#define VIRTIO_PCI_CAP_VENDOR_CFG 9

/* Common configuration structure (4.1.4.3 struct virtio_pci_common_cfg):
 * byte offsets, named as the spec names the fields. The 64-bit queue
 * addresses are accessed as two 32-bit halves, low first. */
#define VIRTIO_PCI_COMMON_DEVICE_FEATURE_SELECT 0x00 /* le32 rw */
#define VIRTIO_PCI_COMMON_DEVICE_FEATURE 0x04        /* le32 ro */
#define VIRTIO_PCI_COMMON_DRIVER_FEATURE_SELECT 0x08 /* le32 rw */
#define VIRTIO_PCI_COMMON_DRIVER_FEATURE 0x0c        /* le32 rw */
#define VIRTIO_PCI_COMMON_CONFIG_MSIX_VECTOR 0x10    /* le16 rw (1.1: msix_config) */
#define VIRTIO_PCI_COMMON_NUM_QUEUES 0x12            /* le16 ro */
#define VIRTIO_PCI_COMMON_DEVICE_STATUS 0x14         /* u8 rw; 0 resets */
#define VIRTIO_PCI_COMMON_CONFIG_GENERATION 0x15     /* u8 ro */
#define VIRTIO_PCI_COMMON_QUEUE_SELECT 0x16          /* le16 rw */
#define VIRTIO_PCI_COMMON_QUEUE_SIZE 0x18            /* le16 rw */
#define VIRTIO_PCI_COMMON_QUEUE_MSIX_VECTOR 0x1a     /* le16 rw */
#define VIRTIO_PCI_COMMON_QUEUE_ENABLE 0x1c          /* le16 rw */
#define VIRTIO_PCI_COMMON_QUEUE_NOTIFY_OFF 0x1e      /* le16 ro */
#define VIRTIO_PCI_COMMON_QUEUE_DESC 0x20            /* le64 rw: descriptor area */
#define VIRTIO_PCI_COMMON_QUEUE_DRIVER 0x28          /* le64 rw: driver area */
#define VIRTIO_PCI_COMMON_QUEUE_DEVICE 0x30          /* le64 rw: device area */
#define VIRTIO_PCI_COMMON_QUEUE_NOTIFY_DATA 0x38     /* le16 ro (1.2) */
#define VIRTIO_PCI_COMMON_QUEUE_RESET 0x3a           /* le16 rw (1.2) */
#define VIRTIO_PCI_COMMON_CFG_SIZE 0x3c

#define VIRTIO_MSI_NO_VECTOR 0xffff /* 4.1.4.3: no MSI-X vector assigned */

/* ISR status (4.1.4.5): one byte, cleared when read. */
#define VIRTIO_PCI_ISR_QUEUE 1  /* a used buffer notification */
#define VIRTIO_PCI_ISR_CONFIG 2 /* a configuration change notification */

#endif
