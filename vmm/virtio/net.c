/* virtio-net, the network card (Virtio 1.2, 5.1): one PCI function per
 * --net, for --kernel guests, in the order given. Queue 0 receives, queue 1
 * transmits; no control queue. Frames go to a back end of vmm/net.c. With
 * a TAP the virtio_net_hdr_v1 before each frame is the TAP's own vnet
 * header, so the guest's checksum and segmentation offloads pass through
 * untranslated and transmit is one writev from guest memory; user mode
 * (libslirp) takes and gives plain frames, so the header is stripped and
 * put back and no offloads are offered. */
#include <endian.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "event.h"
#include "log.h"
#include "net.h"
#include "virtio/virtio_pci.h"
#include "vm.h"

/* Feature bits (5.1.3). */
#define VIRTIO_NET_F_CSUM 0       /* the device finishes partial checksums */
#define VIRTIO_NET_F_GUEST_CSUM 1 /* the driver takes partial checksums */
#define VIRTIO_NET_F_MAC 5        /* config mac is the address to use */
#define VIRTIO_NET_F_GUEST_TSO4 7 /* the driver takes TSOv4 frames */
#define VIRTIO_NET_F_GUEST_TSO6 8
#define VIRTIO_NET_F_HOST_TSO4 11 /* the device segments TSOv4 frames */
#define VIRTIO_NET_F_HOST_TSO6 12
#define VIRTIO_NET_F_MRG_RXBUF 15 /* a received frame may span buffers */
#define VIRTIO_NET_F_STATUS 16    /* config status is valid */
#define F(bit) (1ULL << (bit))

#define VNET_FEATURES_PLAIN (F(VIRTIO_NET_F_MAC) | F(VIRTIO_NET_F_STATUS) | \
			     F(VIRTIO_NET_F_MRG_RXBUF))
#define VNET_FEATURES_OFFLOAD                                                       \
	(VNET_FEATURES_PLAIN | F(VIRTIO_NET_F_CSUM) | F(VIRTIO_NET_F_GUEST_CSUM) |    \
	 F(VIRTIO_NET_F_GUEST_TSO4) | F(VIRTIO_NET_F_GUEST_TSO6) |                    \
	 F(VIRTIO_NET_F_HOST_TSO4) | F(VIRTIO_NET_F_HOST_TSO6))

/* Device configuration (5.1.4 struct virtio_net_config), up to the last
 * field we give a meaning. */
#define VNET_CFG_MAC 0               /* u8 mac[6] */
#define VNET_CFG_STATUS 6            /* le16 */
#define VNET_CFG_MAX_VQ_PAIRS 8      /* le16; 1, there being no MQ */
#define VNET_CFG_SIZE 10
#define VIRTIO_NET_S_LINK_UP 1

#define VNET_RXQ 0
#define VNET_TXQ 1
#define VNET_QUEUE_SIZE 256
#define PCI_CLASS_NETWORK_ETHERNET 0x020000

/* Where one received frame is being placed: the chains taken for it so
 * far. The first stays whole (num_buffers is written into it last); of
 * the others only what vq_push needs is kept. */
struct vnet_rx {
	struct vq_elem first, elem;
	uint16_t heads[VNET_QUEUE_SIZE];
	uint32_t in_lens[VNET_QUEUE_SIZE];
	uint32_t written[VNET_QUEUE_SIZE];
};

struct vnet {
	struct virtio_dev *vd;
	struct net_backend *be;
	struct event_timer *kick;    /* driver_ok's work, on the loop thread */
	unsigned index;
	uint8_t config[VNET_CFG_SIZE];
	bool warned_tx;
	struct vnet_rx rx;
	struct vq_elem tx;
	uint8_t tx_frame[NET_FRAME_MAX]; /* a frame for a back end without headers */
};

/* ---- receive ---- */

/* vnet_rx_hdr_check: a TAP's header for a frame, before the driver sees
 * it. 5.1.6.4.1: without GUEST_CSUM flags must be 0 (the TAP may say
 * DATA_VALID); a frame needing offloads the driver did not take (the TAP
 * had them on for an earlier driver) is dropped: false. */
static bool vnet_rx_hdr_check(struct virtio_net_hdr_v1 *hdr, uint64_t features)
{
	if (!(features & F(VIRTIO_NET_F_GUEST_CSUM))) {
		if (hdr->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)
			return false;
		hdr->flags = 0;
	}
	switch (hdr->gso_type) {
	case VIRTIO_NET_HDR_GSO_NONE:
		return true;
	case VIRTIO_NET_HDR_GSO_TCPV4:
		return features & F(VIRTIO_NET_F_GUEST_TSO4);
	case VIRTIO_NET_HDR_GSO_TCPV6:
		return features & F(VIRTIO_NET_F_GUEST_TSO6);
	default:
		return false; /* UDP, ECN: never asked of the TAP */
	}
}

/* vnet_rx_write: bytes [off, off+len) of header-then-frame into `elem`
 * from its offset `at`; returns how many went in. */
static size_t vnet_rx_write(const struct vq_elem *elem, size_t at, const uint8_t *hdr,
			    const uint8_t *frame, size_t off, size_t len)
{
	size_t done = 0;

	if (off < NET_VNET_HDR_LEN) {
		size_t n = NET_VNET_HDR_LEN - off < len ? NET_VNET_HDR_LEN - off : len;

		done = vq_elem_write(elem, at, hdr + off, n);
		if (done < n)
			return done;
		off += n;
		len -= n;
	}
	return done + vq_elem_write(elem, at + done, frame + off - NET_VNET_HDR_LEN, len);
}

/* vnet_rx_place: put `hdr` and the `len`-byte frame into the receive
 * queue. With MRG_RXBUF the frame may span several buffers, their number
 * in the first one's num_buffers; without it, one buffer holds it all
 * (5.1.6.3.1: a driver taking TSO then gives 65562-byte buffers).
 * Returns the buffers used (> 0; one with length 0 when the driver gave a
 * first buffer too short for the header, and the frame is dropped),
 * -EAGAIN when there are not enough buffers yet (none taken; the driver is
 * asked to notify when it adds some), -EMSGSIZE when the frame can never
 * fit (dropped, none taken), or the error that broke the queue. */
static int vnet_rx_place(struct vnet_rx *rx, struct virtqueue *vq,
			 const struct virtio_net_hdr_v1 *hdr, const uint8_t *frame, size_t len,
			 bool mergeable)
{
	size_t total = NET_VNET_HDR_LEN + len, off = 0;
	unsigned n = 0;
	uint16_t num_buffers;

	while (off < total) {
		struct vq_elem *elem = n ? &rx->elem : &rx->first;
		int rc;

		/* The bound: a frame needing more buffers than the queue has
		 * would wait for ever. */
		if (n == vq->size) {
			vq->last_avail_idx -= (uint16_t)n;
			return -EMSGSIZE;
		}
		rc = vq_pop(vq, elem);
		if (rc < 0)
			return rc;
		if (rc == 0) {
			/* Ask for a notification first, then look again: a
			 * buffer added meanwhile would not announce itself. */
			if (vq_enable_notify(vq))
				continue;
			/* Give the chains back: vq_pop takes them in ring
			 * order, so stepping back returns them (QEMU's
			 * virtqueue_unpop). Nothing was published. */
			vq->last_avail_idx -= (uint16_t)n;
			return -EAGAIN;
		}
		if (n == 0 && elem->in_len < NET_VNET_HDR_LEN) {
			vq_push(vq, elem, 0);
			return 1;
		}
		if (!mergeable && elem->in_len < total) {
			vq->last_avail_idx -= 1;
			return -EMSGSIZE;
		}
		rx->heads[n] = elem->head;
		rx->in_lens[n] = elem->in_len;
		rx->written[n] = (uint32_t)vnet_rx_write(elem, 0, (const uint8_t *)hdr, frame,
							 off, total - off);
		off += rx->written[n];
		n++;
	}
	/* 5.1.6.4: num_buffers is 1 without MRG_RXBUF */
	num_buffers = htole16((uint16_t)n);
	vq_elem_write(&rx->first, offsetof(struct virtio_net_hdr_v1, num_buffers),
		      &num_buffers, sizeof(num_buffers));
	/* vq_push needs a chain's head and writable size, nothing more */
	for (unsigned i = 0; i < n; i++) {
		struct vq_elem *elem = i ? &rx->elem : &rx->first;

		elem->head = rx->heads[i];
		elem->in_len = rx->in_lens[i];
		vq_push(vq, elem, rx->written[i]);
	}
	return (int)n;
}

/* vnet_receive: the back end's frame for the guest (struct net_nic). */
static int vnet_receive(void *opaque, const uint8_t *buf, size_t len)
{
	struct vnet *n = opaque;
	struct virtio_dev *vd = n->vd;
	struct virtio_net_hdr_v1 hdr = { 0 };
	struct virtqueue *vq;
	int rc = 0;

	if (!vd)
		return 0;
	if (n->be->vnet_hdr) {
		if (len < NET_VNET_HDR_LEN)
			return 0;
		memcpy(&hdr, buf, NET_VNET_HDR_LEN);
		buf += NET_VNET_HDR_LEN;
		len -= NET_VNET_HDR_LEN;
	}
	if (len > NET_FRAME_MAX)
		return 0;
	/* The transport resets queues under vd->lock on the vCPU thread that
	 * writes the status; queue work here holds it too. */
	pthread_mutex_lock(&vd->lock);
	vq = virtio_queue(vd, VNET_RXQ);
	/* Before DRIVER_OK, or with no receive queue, frames are dropped. */
	if (vq && vd->status & VIRTIO_STATUS_DRIVER_OK &&
	    (!n->be->vnet_hdr || vnet_rx_hdr_check(&hdr, vd->driver_features)))
		rc = vnet_rx_place(&n->rx, vq, &hdr, buf, len,
				   virtio_has_feature(vd, VIRTIO_NET_F_MRG_RXBUF));
	pthread_mutex_unlock(&vd->lock);
	if (rc > 0)
		virtio_notify(vd, VNET_RXQ);
	else if (rc == -EAGAIN)
		return -EAGAIN;
	else if (rc < 0 && rc != -EMSGSIZE)
		virtio_broken(vd, VNET_RXQ);
	return 0;
}

/* ---- transmit ---- */

/* vnet_tx_frame_len: the frame in a transmit chain, after its header.
 * The bounds: at least a whole header and an Ethernet header, at most
 * NET_FRAME_MAX. -EINVAL or -EMSGSIZE (with `why`) otherwise. */
static int vnet_tx_frame_len(const struct vq_elem *elem, size_t *len, const char **why)
{
	if (elem->out_len < NET_VNET_HDR_LEN) {
		*why = "shorter than its virtio-net header";
		return -EINVAL;
	}
	*len = elem->out_len - NET_VNET_HDR_LEN;
	if (*len < NET_ETH_HLEN) {
		*why = "shorter than an Ethernet header";
		return -EINVAL;
	}
	if (*len > NET_FRAME_MAX) {
		*why = "longer than 65550 bytes";
		return -EMSGSIZE;
	}
	return 0;
}

static void vnet_tx_one(struct vnet *n, const struct vq_elem *elem)
{
	const char *why = "";
	size_t len;

	if (vnet_tx_frame_len(elem, &len, &why)) {
		if (!n->warned_tx)
			log_warn("virtio-net %u: dropped a frame the driver sent: %s (further "
				 "ones not shown)", n->index, why);
		n->warned_tx = true;
		return;
	}
	if (n->be->vnet_hdr) {
		/* the TAP reads the header itself: straight from guest memory */
		net_send(n->be, elem->out, elem->out_num);
	} else {
		struct iovec iov = { n->tx_frame, len };

		vq_elem_read(elem, NET_VNET_HDR_LEN, n->tx_frame, len);
		net_send(n->be, &iov, 1);
	}
}

/* vnet_tx: send every chain the driver made available. Notifications stay
 * off while there is work (2.7.10). */
static void vnet_tx(struct vnet *n)
{
	struct virtio_dev *vd = n->vd;
	struct virtqueue *vq;
	bool pushed = false;
	int rc = 0;

	pthread_mutex_lock(&vd->lock);
	vq = virtio_queue(vd, VNET_TXQ);
	if (vq)
		vq_disable_notify(vq);
	for (;;) {
		if (!vq || !(vd->status & VIRTIO_STATUS_DRIVER_OK))
			break;
		rc = vq_pop(vq, &n->tx);
		if (rc == 0 && vq_enable_notify(vq)) {
			vq_disable_notify(vq);
			continue;
		}
		if (rc <= 0)
			break;
		/* Unlocked while the back end has the frame: user mode may
		 * answer at once (ARP, DHCP), through vnet_receive. */
		pthread_mutex_unlock(&vd->lock);
		vnet_tx_one(n, &n->tx);
		pthread_mutex_lock(&vd->lock);
		vq_push(vq, &n->tx, 0);
		pushed = true;
		vq = virtio_queue(vd, VNET_TXQ);
	}
	pthread_mutex_unlock(&vd->lock);
	if (vq && rc < 0)
		virtio_broken(vd, VNET_TXQ);
	if (pushed)
		virtio_notify(vd, VNET_TXQ);
}

/* ---- the device ---- */

static void vnet_queue_notify(struct virtio_dev *vd, unsigned q)
{
	struct vnet *n = vd->opaque;

	if (q == VNET_TXQ) {
		vnet_tx(n);
		return;
	}
	/* New receive buffers: a frame may be waiting for them. */
	net_rx_ready(n->be);
}

static void vnet_config_read(struct virtio_dev *vd, unsigned offset, void *data, unsigned size)
{
	struct vnet *n = vd->opaque;

	memcpy(data, n->config + offset, size); /* the transport bounds it */
}

/* vnet_kick: after DRIVER_OK, on the loop thread: hand the TAP the
 * offloads the driver took, and start receiving. */
static void vnet_kick(void *opaque)
{
	struct vnet *n = opaque;
	struct virtio_dev *vd = n->vd;
	unsigned offloads = 0;

	if (n->be->offloads) {
		pthread_mutex_lock(&vd->lock);
		/* TSO without checksum offload is no offload (5.1.3.1) */
		if (virtio_has_feature(vd, VIRTIO_NET_F_GUEST_CSUM)) {
			offloads = NET_OFFLOAD_CSUM;
			if (virtio_has_feature(vd, VIRTIO_NET_F_GUEST_TSO4))
				offloads |= NET_OFFLOAD_TSO4;
			if (virtio_has_feature(vd, VIRTIO_NET_F_GUEST_TSO6))
				offloads |= NET_OFFLOAD_TSO6;
		}
		pthread_mutex_unlock(&vd->lock);
		net_set_offloads(n->be, offloads);
	}
	net_rx_ready(n->be);
}

/* vnet_driver_ok: runs on a vCPU thread; back ends are the loop's. */
static void vnet_driver_ok(struct virtio_dev *vd)
{
	struct vnet *n = vd->opaque;

	event_timer_arm(n->kick, 1, 0);
}

static const struct virtio_dev_ops vnet_ops_plain = {
	.name = "virtio-net",
	.device_id = VIRTIO_ID_NET,
	.pci_class = PCI_CLASS_NETWORK_ETHERNET,
	.nqueues = 2,
	.queue_size = VNET_QUEUE_SIZE,
	.features = VNET_FEATURES_PLAIN,
	.config_size = VNET_CFG_SIZE,
	.config_read = vnet_config_read,
	.queue_notify = vnet_queue_notify,
	.driver_ok = vnet_driver_ok,
};

static const struct virtio_dev_ops vnet_ops_offload = {
	.name = "virtio-net",
	.device_id = VIRTIO_ID_NET,
	.pci_class = PCI_CLASS_NETWORK_ETHERNET,
	.nqueues = 2,
	.queue_size = VNET_QUEUE_SIZE,
	.features = VNET_FEATURES_OFFLOAD,
	.config_size = VNET_CFG_SIZE,
	.config_read = vnet_config_read,
	.queue_notify = vnet_queue_notify,
	.driver_ok = vnet_driver_ok,
};

static void vnet_free(void *opaque)
{
	struct vnet *n = opaque;

	event_timer_free(n->kick);
	if (n->be)
		net_close(n->be);
	free(n);
}

static int vnet_create(struct vm *vm, unsigned index)
{
	const char *text = vm->config->nets[index];
	const char *name = vm->config->name ? vm->config->name : "guest";
	struct net_spec spec;
	struct net_nic nic;
	struct vnet *n;
	uint8_t *mac;
	uint16_t status = htole16(VIRTIO_NET_S_LINK_UP), pairs = htole16(1);
	char err[256];
	int rc;

	if (net_spec_parse(text, &spec, err, sizeof(err))) {
		log_error("--net '%s': %s", text, err);
		return -EINVAL;
	}
	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	rc = vm_on_destroy(vm, vnet_free, n);
	if (rc) {
		free(n);
		return rc;
	}
	n->index = index;
	mac = n->config + VNET_CFG_MAC;
	if (spec.has_mac)
		memcpy(mac, spec.mac, NET_MAC_LEN);
	else
		net_mac_default(name, index, mac);
	memcpy(n->config + VNET_CFG_STATUS, &status, sizeof(status));
	memcpy(n->config + VNET_CFG_MAX_VQ_PAIRS, &pairs, sizeof(pairs));
	n->kick = event_timer_create(vm->loop, vnet_kick, n);
	if (!n->kick)
		return -ENOMEM;
	nic = (struct net_nic){ .receive = vnet_receive, .opaque = n, .want_vnet_hdr = true };
	rc = net_backend_open(vm->loop, text, &spec, &nic, &n->be);
	if (rc)
		return rc;
	rc = virtio_pci_create(vm, n->be->offloads ? &vnet_ops_offload : &vnet_ops_plain, n,
			       &n->vd);
	if (rc) {
		log_error("--net '%s': cannot create the virtio-net device (%s)", text,
			  strerror(-rc));
		return rc;
	}
	log_debug("virtio-net %u: %s, MAC %02x:%02x:%02x:%02x:%02x:%02x", index, text, mac[0],
		  mac[1], mac[2], mac[3], mac[4], mac[5]);
	return 0;
}

static int vnet_init(struct vm *vm)
{
	if (!vm->config->kernel)
		return 0;
	for (unsigned i = 0; i < vm->config->nnets; i++) {
		int rc = vnet_create(vm, i);

		if (rc)
			return rc;
	}
	return 0;
}

static const struct device_desc vnet_device = {
	.name = "virtio-net",
	.order = DEVICE_ORDER_PCI,
	.init = vnet_init,
};
DEVICE_REGISTER(vnet_device);
