/* Network back ends for the NIC models (virtio-net, e1000): where a
 * guest's Ethernet frames go. A TAP device on the host, or user-mode
 * networking through libslirp (a NAT with its own DHCP and DNS), both
 * behind one small struct of callbacks; and the parsing of --net specs and
 * MAC addresses. Back ends run on the event-loop thread: a NIC calls them
 * from there, and they call the NIC's receive callback from there. */
#ifndef DUET_NET_H
#define DUET_NET_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct event_loop;

#define NET_MAC_LEN 6
#define NET_ETH_HLEN 14 /* destination, source, EtherType */
/* The largest frame either way, Ethernet header included (no FCS): the
 * 14-byte header plus the largest packet GSO makes, 64 KiB - 1, rounded
 * up as QEMU's virtio-net does. Every frame longer is dropped. */
#define NET_FRAME_MAX 65550
#define NET_IFNAME_MAX 15   /* IFNAMSIZ - 1 */
#define NET_MAX_HOSTFWDS 16 /* hostfwd= per user-mode NIC */

/* struct virtio_net_hdr_v1 (Virtio 1.2, 5.1.6 "Device Operation"): what a
 * virtio NIC puts before each frame, and what a TAP device opened with a
 * vnet header of this size reads and writes (Linux's <linux/virtio_net.h>
 * layout, little-endian). */
struct virtio_net_hdr_v1 {
	uint8_t flags;        /* VIRTIO_NET_HDR_F_* */
	uint8_t gso_type;     /* VIRTIO_NET_HDR_GSO_* */
	uint16_t hdr_len;     /* bytes of headers to copy into each segment */
	uint16_t gso_size;    /* bytes of payload per segment */
	uint16_t csum_start;  /* where checksumming starts */
	uint16_t csum_offset; /* where the checksum goes, from csum_start */
	uint16_t num_buffers; /* receive buffers this frame spans (5.1.6.4) */
};
_Static_assert(sizeof(struct virtio_net_hdr_v1) == 12, "virtio_net_hdr_v1 is 12 bytes");
#define NET_VNET_HDR_LEN sizeof(struct virtio_net_hdr_v1)

#define VIRTIO_NET_HDR_F_NEEDS_CSUM 1 /* csum_start/offset say what to do */
#define VIRTIO_NET_HDR_F_DATA_VALID 2 /* the checksum was checked */
#define VIRTIO_NET_HDR_GSO_NONE 0
#define VIRTIO_NET_HDR_GSO_TCPV4 1
#define VIRTIO_NET_HDR_GSO_UDP 3
#define VIRTIO_NET_HDR_GSO_TCPV6 4
#define VIRTIO_NET_HDR_GSO_ECN 0x80   /* with TCPV4/6: ECN bits set */

/* Offloads a back end may hand the NIC (TUNSETOFFLOAD's TUN_F_* bits): the
 * guest finishes checksums and takes large segments itself. */
#define NET_OFFLOAD_CSUM 0x01
#define NET_OFFLOAD_TSO4 0x02
#define NET_OFFLOAD_TSO6 0x04

enum net_type { NET_TAP, NET_USER };

/* hostfwd=[tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT */
struct net_hostfwd {
	bool udp;
	struct in_addr host_addr;  /* default 127.0.0.1 */
	uint16_t host_port;
	struct in_addr guest_addr; /* default 10.0.2.15, the DHCP address */
	uint16_t guest_port;
};

/* One --net SPEC, parsed. */
struct net_spec {
	enum net_type type;
	char ifname[NET_IFNAME_MAX + 1];          /* tap= */
	struct net_hostfwd hostfwds[NET_MAX_HOSTFWDS]; /* user */
	unsigned nhostfwds;
	uint8_t mac[NET_MAC_LEN];
	bool has_mac;                             /* mac= given */
};

/* net_spec_parse: "tap=IFNAME[,mac=M]" or
 * "user[,hostfwd=...]...[,mac=M]". -EINVAL with one line in `err` (no
 * prefix: the caller names the spec) when it is not one of those. */
int net_spec_parse(const char *text, struct net_spec *spec, char *err, size_t errlen);

/* net_mac_parse: six two-digit hex bytes separated by ':' (or '-'),
 * unicast and not all zero. -EINVAL otherwise. */
int net_mac_parse(const char *text, uint8_t mac[NET_MAC_LEN]);

/* net_mac_default: 52:54:00:xx:xx:xx, the last three bytes a hash of the
 * guest's name and the NIC's index, so a guest keeps its MAC (and its DHCP
 * lease) across boots. */
void net_mac_default(const char *guest_name, unsigned index, uint8_t mac[NET_MAC_LEN]);

/* What a NIC gives the back end when it opens one. */
struct net_nic {
	/* A frame for the guest: `len` bytes at `buf`, a struct
	 * virtio_net_hdr_v1 first when the back end has vnet_hdr. Returns 0
	 * when the frame was taken (or dropped), -EAGAIN when the NIC has no
	 * room now: a TAP keeps the frame and reads no more until the NIC
	 * calls net_rx_ready; user mode drops it (TCP resends). */
	int (*receive)(void *opaque, const uint8_t *buf, size_t len);
	void *opaque;
	/* The NIC speaks virtio_net_hdr_v1 (only a TAP gives it one). */
	bool want_vnet_hdr;
};

struct net_backend;

struct net_backend_ops {
	/* A frame from the guest, a vnet header first if the back end has one.
	 * 0, or -errno when it was dropped. */
	int (*send)(struct net_backend *be, const struct iovec *iov, unsigned iovcnt);
	/* The guest takes these NET_OFFLOAD_* from now on. */
	int (*set_offloads)(struct net_backend *be, unsigned offloads);
	/* The NIC has room again after a receive returned -EAGAIN. */
	void (*rx_ready)(struct net_backend *be);
	void (*close)(struct net_backend *be);
};

struct net_backend {
	const struct net_backend_ops *ops;
	bool vnet_hdr;      /* frames carry a virtio_net_hdr_v1 both ways */
	bool offloads;      /* set_offloads can hand the guest NET_OFFLOAD_* */
};

/* net_backend_open: the back end `spec` names, its fds on `loop`. -errno
 * with one line logged ("--net 'tap=tap0': ...") when it cannot be had. */
int net_backend_open(struct event_loop *loop, const char *text, const struct net_spec *spec,
		     const struct net_nic *nic, struct net_backend **out);

static inline int net_send(struct net_backend *be, const struct iovec *iov, unsigned iovcnt)
{
	return be->ops->send(be, iov, iovcnt);
}

static inline int net_set_offloads(struct net_backend *be, unsigned offloads)
{
	return be->ops->set_offloads(be, offloads);
}

static inline void net_rx_ready(struct net_backend *be)
{
	be->ops->rx_ready(be);
}

static inline void net_close(struct net_backend *be)
{
	be->ops->close(be);
}

#endif
