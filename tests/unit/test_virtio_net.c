/* Pins vmm/virtio/net.c and vmm/net.c: how a received frame and its
 * virtio_net_hdr_v1 are placed in the driver's buffers (one buffer, merged
 * buffers with num_buffers, a header split across descriptors, waiting for
 * buffers and giving back the ones taken, frames that can never fit, a
 * first buffer too short for the header, a broken ring); which TAP headers
 * a driver may see; the bounds on a transmitted chain; --net spec and MAC
 * parsing with their messages; and the user-mode back end answering ARP
 * and accepting on a hostfwd= port through the event loop.
 *
 * The virtio-net model keeps its functions static, so this file includes
 * it whole (its DEVICE_REGISTER entry is a second, unused copy here). The
 * test plays the driver, writing rings into a real guest_mem. */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "virtio/net.c"

#define RAM_SIZE (1ULL << 20)
#define DESC 0x10000
#define AVAIL 0x20000
#define USED 0x30000
#define BUF 0x40000
#define HDR_LEN ((size_t)NET_VNET_HDR_LEN)

struct fixture {
	struct guest_mem mem;
	struct virtqueue vq;
	struct vnet_rx *rx;
	uint16_t avail_idx;
	uint8_t frame[NET_FRAME_MAX];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->rx = calloc(1, sizeof(*f->rx));
	if (!f->rx || mem_create(&f->mem, RAM_SIZE)) {
		free(f->rx);
		free(f);
		return -1;
	}
	for (size_t i = 0; i < sizeof(f->frame); i++)
		f->frame[i] = (uint8_t)(i * 13 + 1);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	mem_destroy(&f->mem);
	free(f->rx);
	free(f);
	return 0;
}

static void put16(struct fixture *f, uint64_t gpa, uint16_t v)
{
	v = htole16(v);
	assert_int_equal(mem_write(&f->mem, gpa, &v, 2), 0);
}

static uint16_t get16(struct fixture *f, uint64_t gpa)
{
	uint16_t v;

	assert_int_equal(mem_read(&f->mem, gpa, &v, 2), 0);
	return le16toh(v);
}

static uint32_t get32(struct fixture *f, uint64_t gpa)
{
	uint32_t v;

	assert_int_equal(mem_read(&f->mem, gpa, &v, 4), 0);
	return le32toh(v);
}

static void put_desc(struct fixture *f, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	struct virtq_desc d = { htole64(addr), htole32(len), htole16(flags), htole16(next) };

	assert_int_equal(mem_write(&f->mem, DESC + 16ULL * i, &d, sizeof(d)), 0);
}

static void offer(struct fixture *f, uint16_t head)
{
	put16(f, AVAIL + VIRTQ_AVAIL_RING(f->avail_idx % f->vq.size), head);
	f->avail_idx++;
	put16(f, AVAIL + VIRTQ_AVAIL_IDX, f->avail_idx);
}

/* offer_buffer: descriptor i, `len` device-writable bytes at BUF + i * 4K. */
static void offer_buffer(struct fixture *f, unsigned i, uint32_t len)
{
	put_desc(f, i, BUF + 0x1000ULL * i, len, VIRTQ_DESC_F_WRITE, 0);
	offer(f, (uint16_t)i);
}

static void start(struct fixture *f, unsigned size, uint64_t features)
{
	assert_int_equal(vq_init(&f->vq, &f->mem, size, features), 0);
	assert_int_equal(vq_set_addresses(&f->vq, DESC, AVAIL, USED), 0);
}

static uint16_t used_idx(struct fixture *f)
{
	return get16(f, USED + VIRTQ_USED_IDX);
}

static void expect_used(struct fixture *f, unsigned i, uint32_t id, uint32_t len)
{
	assert_int_equal(get32(f, USED + VIRTQ_USED_RING(i)), id);
	assert_int_equal(get32(f, USED + VIRTQ_USED_RING(i) + 4), len);
}

static uint8_t *at(struct fixture *f, uint64_t gpa)
{
	return f->mem.base + gpa;
}

static int place(struct fixture *f, const struct virtio_net_hdr_v1 *hdr, size_t len,
		 bool mergeable)
{
	static const struct virtio_net_hdr_v1 zero;

	return vnet_rx_place(f->rx, &f->vq, hdr ? hdr : &zero, f->frame, len, mergeable);
}

/* ---- receive ---- */

static void test_rx_one_buffer(void **state)
{
	struct fixture *f = *state;
	struct virtio_net_hdr_v1 got;

	start(f, 8, 0);
	offer_buffer(f, 3, 2048);
	assert_int_equal(place(f, NULL, 60, false), 1);
	assert_int_equal(used_idx(f), 1);
	expect_used(f, 0, 3, HDR_LEN + 60);
	memcpy(&got, at(f, BUF + 0x3000), HDR_LEN);
	assert_int_equal(got.flags, 0);
	assert_int_equal(got.gso_type, VIRTIO_NET_HDR_GSO_NONE);
	assert_int_equal(le16toh(got.num_buffers), 1); /* 5.1.6.4: 1 without MRG_RXBUF */
	assert_memory_equal(at(f, BUF + 0x3000 + HDR_LEN), f->frame, 60);
}

static void test_rx_merged_buffers(void **state)
{
	struct fixture *f = *state;
	struct virtio_net_hdr_v1 hdr = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
					 .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
					 .hdr_len = htole16(54), .gso_size = htole16(1448),
					 .csum_start = htole16(34), .csum_offset = htole16(16) };
	uint8_t want[HDR_LEN + 2500];

	start(f, 8, 0);
	for (unsigned i = 0; i < 4; i++)
		offer_buffer(f, i, 1000);
	assert_int_equal(place(f, &hdr, 2500, true), 3);
	assert_int_equal(used_idx(f), 3);
	expect_used(f, 0, 0, 1000);
	expect_used(f, 1, 1, 1000);
	expect_used(f, 2, 2, HDR_LEN + 2500 - 2000);
	hdr.num_buffers = htole16(3);
	memcpy(want, &hdr, HDR_LEN);
	memcpy(want + HDR_LEN, f->frame, 2500);
	assert_memory_equal(at(f, BUF), want, 1000);
	assert_memory_equal(at(f, BUF + 0x1000), want + 1000, 1000);
	assert_memory_equal(at(f, BUF + 0x2000), want + 2000, sizeof(want) - 2000);
	assert_int_equal(f->vq.last_avail_idx, 3); /* the fourth stays for later */
}

static void test_rx_header_split_across_descriptors(void **state)
{
	struct fixture *f = *state;
	struct virtio_net_hdr_v1 hdr = { .flags = VIRTIO_NET_HDR_F_DATA_VALID,
					 .csum_start = htole16(0x1234) };
	uint8_t want[HDR_LEN];

	start(f, 8, 0);
	put_desc(f, 0, BUF, 5, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
	put_desc(f, 1, BUF + 0x1000, 2000, VIRTQ_DESC_F_WRITE, 0);
	offer(f, 0);
	assert_int_equal(place(f, &hdr, 100, true), 1);
	expect_used(f, 0, 0, HDR_LEN + 100);
	hdr.num_buffers = htole16(1);
	memcpy(want, &hdr, HDR_LEN);
	assert_memory_equal(at(f, BUF), want, 5);
	assert_memory_equal(at(f, BUF + 0x1000), want + 5, HDR_LEN - 5);
	assert_memory_equal(at(f, BUF + 0x1000 + HDR_LEN - 5), f->frame, 100);
}

static void test_rx_waits_for_enough_buffers(void **state)
{
	struct fixture *f = *state;

	start(f, 8, 0);
	offer_buffer(f, 0, 1000);
	offer_buffer(f, 1, 1000);
	/* Not enough: nothing taken, nothing published, and the driver is
	 * asked to notify (used flags without NO_NOTIFY). */
	vq_disable_notify(&f->vq);
	assert_int_equal(place(f, NULL, 2500, true), -EAGAIN);
	assert_int_equal(f->vq.last_avail_idx, 0);
	assert_int_equal(used_idx(f), 0);
	assert_int_equal(get16(f, USED + VIRTQ_USED_FLAGS), 0);
	/* One more and the same buffers are used, in order. */
	offer_buffer(f, 2, 1000);
	assert_int_equal(place(f, NULL, 2500, true), 3);
	expect_used(f, 0, 0, 1000);
	expect_used(f, 1, 1, 1000);
	expect_used(f, 2, 2, HDR_LEN + 500);
	assert_int_equal(le16toh(*(uint16_t *)at(f, BUF + 10)), 3);
}

static void test_rx_event_idx_asks_for_the_next_buffer(void **state)
{
	struct fixture *f = *state;

	start(f, 8, 1ULL << VIRTIO_F_EVENT_IDX);
	offer_buffer(f, 0, 1000);
	offer_buffer(f, 1, 1000);
	assert_int_equal(place(f, NULL, 2500, true), -EAGAIN);
	/* 2.7.10: notify when the driver fills entry 2, the first new one */
	assert_int_equal(get16(f, USED + VIRTQ_USED_AVAIL_EVENT(8)), 2);
	assert_int_equal(f->vq.last_avail_idx, 0);
}

static void test_rx_too_big_for_one_buffer_keeps_it(void **state)
{
	struct fixture *f = *state;

	start(f, 8, 0);
	offer_buffer(f, 0, 100);
	assert_int_equal(place(f, NULL, 200, false), -EMSGSIZE);
	assert_int_equal(f->vq.last_avail_idx, 0);
	assert_int_equal(used_idx(f), 0);
	assert_int_equal(place(f, NULL, 50, false), 1);
	expect_used(f, 0, 0, HDR_LEN + 50);
}

static void test_rx_frame_bigger_than_the_whole_queue(void **state)
{
	struct fixture *f = *state;

	start(f, 2, 0);
	offer_buffer(f, 0, 100);
	offer_buffer(f, 1, 100);
	assert_int_equal(place(f, NULL, 1000, true), -EMSGSIZE);
	assert_int_equal(f->vq.last_avail_idx, 0);
	assert_int_equal(used_idx(f), 0);
}

static void test_rx_first_buffer_shorter_than_header(void **state)
{
	struct fixture *f = *state;

	start(f, 8, 0);
	offer_buffer(f, 0, HDR_LEN - 1);
	offer_buffer(f, 1, 2000);
	/* the frame is dropped; the driver gets the buffer back, empty */
	assert_int_equal(place(f, NULL, 60, true), 1);
	assert_int_equal(used_idx(f), 1);
	expect_used(f, 0, 0, 0);
	assert_int_equal(f->vq.last_avail_idx, 1);
}

static void test_rx_largest_frame(void **state)
{
	struct fixture *f = *state;
	unsigned n = (HDR_LEN + NET_FRAME_MAX + 4095) / 4096;

	start(f, 32, 0);
	for (unsigned i = 0; i < n; i++)
		offer_buffer(f, i, 4096);
	assert_int_equal(place(f, NULL, NET_FRAME_MAX, true), (int)n);
	assert_memory_equal(at(f, BUF + 0x1000ULL * (n - 1)),
			    f->frame + 4096 * (n - 1) - HDR_LEN,
			    HDR_LEN + NET_FRAME_MAX - 4096 * (n - 1));
}

static void test_rx_broken_ring(void **state)
{
	struct fixture *f = *state;

	start(f, 8, 0);
	put16(f, AVAIL + VIRTQ_AVAIL_IDX, 100); /* 100 ahead of 0 in an 8-entry queue */
	assert_int_equal(place(f, NULL, 60, true), -EINVAL);
	assert_true(vq_broken(&f->vq));
}

static void test_rx_header_check(void **state)
{
	const uint64_t csum = F(VIRTIO_NET_F_GUEST_CSUM);
	struct virtio_net_hdr_v1 h;

	(void)state;
	/* without GUEST_CSUM flags are 0, and a partial checksum is dropped */
	h = (struct virtio_net_hdr_v1){ .flags = VIRTIO_NET_HDR_F_DATA_VALID };
	assert_true(vnet_rx_hdr_check(&h, 0));
	assert_int_equal(h.flags, 0);
	h = (struct virtio_net_hdr_v1){ .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM };
	assert_false(vnet_rx_hdr_check(&h, 0));
	h = (struct virtio_net_hdr_v1){ .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM };
	assert_true(vnet_rx_hdr_check(&h, csum));
	assert_int_equal(h.flags, VIRTIO_NET_HDR_F_NEEDS_CSUM);
	/* segmentation only as the driver took it */
	h = (struct virtio_net_hdr_v1){ .gso_type = VIRTIO_NET_HDR_GSO_TCPV4 };
	assert_false(vnet_rx_hdr_check(&h, csum));
	assert_true(vnet_rx_hdr_check(&h, csum | F(VIRTIO_NET_F_GUEST_TSO4)));
	h = (struct virtio_net_hdr_v1){ .gso_type = VIRTIO_NET_HDR_GSO_TCPV6 };
	assert_false(vnet_rx_hdr_check(&h, csum | F(VIRTIO_NET_F_GUEST_TSO4)));
	assert_true(vnet_rx_hdr_check(&h, csum | F(VIRTIO_NET_F_GUEST_TSO6)));
	h = (struct virtio_net_hdr_v1){ .gso_type = VIRTIO_NET_HDR_GSO_UDP };
	assert_false(vnet_rx_hdr_check(&h, VNET_FEATURES_OFFLOAD));
	h = (struct virtio_net_hdr_v1){ .gso_type = VIRTIO_NET_HDR_GSO_TCPV4 |
						    VIRTIO_NET_HDR_GSO_ECN };
	assert_false(vnet_rx_hdr_check(&h, VNET_FEATURES_OFFLOAD));
}

/* ---- transmit ---- */

static void test_tx_frame_bounds(void **state)
{
	static const struct {
		uint32_t out_len;
		int rc;
		size_t len;
	} cases[] = {
		{ 0, -EINVAL, 0 },
		{ HDR_LEN - 1, -EINVAL, 0 },            /* not even a header */
		{ HDR_LEN + NET_ETH_HLEN - 1, -EINVAL, 0 },
		{ HDR_LEN + NET_ETH_HLEN, 0, NET_ETH_HLEN },
		{ HDR_LEN + 1514, 0, 1514 },
		{ HDR_LEN + NET_FRAME_MAX, 0, NET_FRAME_MAX },
		{ HDR_LEN + NET_FRAME_MAX + 1, -EMSGSIZE, 0 },
		{ UINT32_MAX, -EMSGSIZE, 0 },
	};
	struct vq_elem *elem = calloc(1, sizeof(*elem));

	(void)state;
	assert_non_null(elem);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *why = NULL;
		size_t len = 0;

		elem->out_len = cases[i].out_len;
		assert_int_equal(vnet_tx_frame_len(elem, &len, &why), cases[i].rc);
		if (cases[i].rc)
			assert_non_null(why);
		else
			assert_int_equal(len, cases[i].len);
	}
	free(elem);
}

/* ---- --net specs and MACs ---- */

static void test_spec_tap(void **state)
{
	static const uint8_t mac[] = { 0x52, 0x54, 0x00, 0xab, 0xcd, 0xef };
	struct net_spec s;
	char err[256];

	(void)state;
	assert_int_equal(net_spec_parse("tap=tap0", &s, err, sizeof(err)), 0);
	assert_int_equal(s.type, NET_TAP);
	assert_string_equal(s.ifname, "tap0");
	assert_false(s.has_mac);
	assert_int_equal(net_spec_parse("tap=duet-guest-01,mac=52:54:00:AB:cd:ef", &s, err,
					sizeof(err)), 0);
	assert_string_equal(s.ifname, "duet-guest-01");
	assert_true(s.has_mac);
	assert_memory_equal(s.mac, mac, 6);
}

static void test_spec_user(void **state)
{
	struct net_spec s;
	char err[256], a[INET_ADDRSTRLEN];

	(void)state;
	assert_int_equal(net_spec_parse("user", &s, err, sizeof(err)), 0);
	assert_int_equal(s.type, NET_USER);
	assert_int_equal(s.nhostfwds, 0);
	assert_int_equal(net_spec_parse("user,hostfwd=tcp::2222-:22,mac=02:00:00:00:00:01,"
					"hostfwd=udp:0.0.0.0:5353-10.0.2.16:53,hostfwd=::80-:8080",
					&s, err, sizeof(err)), 0);
	assert_int_equal(s.nhostfwds, 3);
	assert_true(s.has_mac);
	assert_false(s.hostfwds[0].udp);
	assert_int_equal(s.hostfwds[0].host_port, 2222);
	assert_int_equal(s.hostfwds[0].guest_port, 22);
	assert_string_equal(inet_ntop(AF_INET, &s.hostfwds[0].host_addr, a, sizeof(a)),
			    "127.0.0.1");
	assert_string_equal(inet_ntop(AF_INET, &s.hostfwds[0].guest_addr, a, sizeof(a)),
			    "10.0.2.15");
	assert_true(s.hostfwds[1].udp);
	assert_string_equal(inet_ntop(AF_INET, &s.hostfwds[1].host_addr, a, sizeof(a)),
			    "0.0.0.0");
	assert_string_equal(inet_ntop(AF_INET, &s.hostfwds[1].guest_addr, a, sizeof(a)),
			    "10.0.2.16");
	assert_int_equal(s.hostfwds[1].guest_port, 53);
	assert_false(s.hostfwds[2].udp);
	assert_int_equal(s.hostfwds[2].host_port, 80);
	assert_int_equal(s.hostfwds[2].guest_port, 8080);
}

static void test_spec_errors(void **state)
{
	static const struct {
		const char *spec, *says;
	} cases[] = {
		{ "", "expected tap=IFNAME or user" },
		{ "tap", "expected tap=IFNAME or user first" },
		{ "bridge=br0", "expected tap=IFNAME or user first" },
		{ "mac=52:54:00:00:00:01,user", "expected tap=IFNAME or user first" },
		{ "tap=", "needs an interface name" },
		{ "tap=a-very-long-ifname", "longer than 15 characters" },
		{ "tap=a/b", "not a valid interface name" },
		{ "tap=..", "not a valid interface name" },
		{ "tap=t0,hostfwd=tcp::1-:2", "for user networking only" },
		{ "user,", "stray ','" },
		{ "user,,mac=52:54:00:00:00:01", "stray ','" },
		{ ",user", "stray ','" },
		{ "user,speed=fast", "unknown option 'speed=fast' (expected mac= or hostfwd=)" },
		{ "tap=t0,vhost=on", "unknown option 'vhost=on' (expected mac=)" },
		{ "user,mac=52:54:00:00:00", "not a MAC address" },
		{ "user,mac=52:54:00:00:00:0g", "not a MAC address" },
		{ "user,mac=52:54:00-00:00:01", "not a MAC address" },
		{ "user,mac=01:00:5e:00:00:01", "unicast" },
		{ "user,mac=00:00:00:00:00:00", "unicast" },
		{ "user,mac=52:54:00:00:00:01,mac=52:54:00:00:00:02", "mac= given twice" },
		{ "user,hostfwd=tcp::0-:22", "ports 1-65535" },
		{ "user,hostfwd=tcp::65536-:22", "ports 1-65535" },
		{ "user,hostfwd=tcp::22-:0", "ports 1-65535" },
		{ "user,hostfwd=sctp::1-:2", "expected hostfwd=[tcp|udp]" },
		{ "user,hostfwd=tcp::22", "expected hostfwd=[tcp|udp]" },
		{ "user,hostfwd=tcp:localhost:22-:22", "expected hostfwd=[tcp|udp]" },
		{ "user,hostfwd=tcp::+22-:22", "expected hostfwd=[tcp|udp]" },
		{ "user,hostfwd=22-:22", "expected hostfwd=[tcp|udp]" },
	};
	struct net_spec s;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = 0;
		if (net_spec_parse(cases[i].spec, &s, err, sizeof(err)) != -EINVAL)
			fail_msg("'%s' was accepted", cases[i].spec);
		if (!strstr(err, cases[i].says))
			fail_msg("'%s': message '%s' does not say '%s'", cases[i].spec, err,
				 cases[i].says);
	}
}

static void test_spec_hostfwd_limit(void **state)
{
	char text[1024] = "user", err[256];
	struct net_spec s;

	(void)state;
	for (unsigned i = 0; i < NET_MAX_HOSTFWDS; i++)
		snprintf(text + strlen(text), sizeof(text) - strlen(text),
			 ",hostfwd=tcp::%u-:22", 2000 + i);
	assert_int_equal(net_spec_parse(text, &s, err, sizeof(err)), 0);
	assert_int_equal(s.nhostfwds, NET_MAX_HOSTFWDS);
	strcat(text, ",hostfwd=tcp::3000-:22");
	assert_int_equal(net_spec_parse(text, &s, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "at most 16 hostfwd="));
}

static void test_mac_parse(void **state)
{
	static const uint8_t want[] = { 0x02, 0xab, 0x00, 0xff, 0x10, 0x9a };
	uint8_t mac[6];

	(void)state;
	assert_int_equal(net_mac_parse("02:ab:00:ff:10:9a", mac), 0);
	assert_memory_equal(mac, want, 6);
	assert_int_equal(net_mac_parse("02-AB-00-FF-10-9A", mac), 0);
	assert_memory_equal(mac, want, 6);
	assert_int_equal(net_mac_parse("", mac), -EINVAL);
	assert_int_equal(net_mac_parse("02:ab:00:ff:10", mac), -EINVAL);
	assert_int_equal(net_mac_parse("02:ab:00:ff:10:9a:", mac), -EINVAL);
	assert_int_equal(net_mac_parse("02:ab:00:ff:10:9", mac), -EINVAL);
	assert_int_equal(net_mac_parse("2:ab:00:ff:10:9ab", mac), -EINVAL);
	assert_int_equal(net_mac_parse("02ab00ff109a", mac), -EINVAL);
	assert_int_equal(net_mac_parse("02.ab.00.ff.10.9a", mac), -EINVAL);
	assert_int_equal(net_mac_parse("ff:ff:ff:ff:ff:ff", mac), -EADDRNOTAVAIL);
	assert_int_equal(net_mac_parse("00:00:00:00:00:00", mac), -EADDRNOTAVAIL);
	assert_memory_equal(mac, want, 6); /* untouched by failures */
}

static void test_mac_default_is_stable_per_name_and_index(void **state)
{
	uint8_t a[6], b[6], c[6], d[6];

	(void)state;
	net_mac_default("win10", 0, a);
	net_mac_default("win10", 0, b);
	net_mac_default("win10", 1, c);
	net_mac_default("win11", 0, d);
	assert_memory_equal(a, b, 6);
	assert_memory_equal(a, "\x52\x54\x00", 3);
	assert_memory_equal(c, "\x52\x54\x00", 3);
	assert_memory_not_equal(a, c, 6);
	assert_memory_not_equal(a, d, 6);
	/* "ab" + index 0 and "a" + ... must not collide by construction */
	net_mac_default("a", 0x62, b);
	net_mac_default("ab", 0, c);
	assert_memory_not_equal(b, c, 6);
}

/* ---- the user-mode back end ---- */

static const uint8_t guest_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

struct catcher {
	struct event_loop *loop;
	uint8_t frames[8][1600];
	size_t lens[8];
	unsigned n;
	bool quit_on_arp_request;
};

static int catch_frame(void *opaque, const uint8_t *buf, size_t len)
{
	struct catcher *c = opaque;

	if (c->n < 8 && len <= sizeof(c->frames[0])) {
		memcpy(c->frames[c->n], buf, len);
		c->lens[c->n++] = len;
	}
	if (c->quit_on_arp_request && len >= 22 && buf[12] == 0x08 && buf[13] == 0x06 &&
	    buf[21] == 1)
		event_loop_quit(c->loop);
	return 0;
}

static void quit_loop(void *opaque)
{
	event_loop_quit(opaque);
}

/* arp_request: who has `target`, from the guest at 10.0.2.15 (42 bytes). */
static size_t arp_request(uint8_t *p, const char *target)
{
	static const uint8_t head[] = { 0, 1, 8, 0, 6, 4, 0, 1 };

	memset(p, 0xff, 6);
	memcpy(p + 6, guest_mac, 6);
	p[12] = 0x08;
	p[13] = 0x06;
	memcpy(p + 14, head, sizeof(head));
	memcpy(p + 22, guest_mac, 6);
	inet_pton(AF_INET, "10.0.2.15", p + 28);
	memset(p + 32, 0, 6);
	inet_pton(AF_INET, target, p + 38);
	return 42;
}

static struct net_backend *open_user(struct catcher *c, const char *text)
{
	struct net_nic nic = { .receive = catch_frame, .opaque = c, .want_vnet_hdr = true };
	struct net_backend *be = NULL;
	struct net_spec spec;
	char err[256];

	assert_int_equal(event_loop_create(&c->loop), 0);
	assert_int_equal(net_spec_parse(text, &spec, err, sizeof(err)), 0);
	if (net_backend_open(c->loop, text, &spec, &nic, &be))
		return NULL;
	return be;
}

static void test_user_answers_arp_for_host_and_dns(void **state)
{
	static const uint8_t slirp_mac[] = { 0x52, 0x55, 0x0a, 0x00, 0x02, 0x02 };
	struct catcher *c = calloc(1, sizeof(*c));
	struct net_backend *be;
	uint8_t req[64], ip[4];
	struct iovec iov = { req, 0 };

	(void)state;
	be = open_user(c, "user");
	assert_non_null(be);
	/* plain frames, whatever the NIC would like */
	assert_false(be->vnet_hdr);
	assert_false(be->offloads);
	assert_int_equal(net_set_offloads(be, NET_OFFLOAD_CSUM), -EOPNOTSUPP);
	iov.iov_len = arp_request(req, "10.0.2.2");
	assert_int_equal(net_send(be, &iov, 1), 0);
	assert_int_equal(c->n, 1);
	assert_true(c->lens[0] >= 42);
	assert_memory_equal(c->frames[0], guest_mac, 6);        /* to the guest */
	assert_int_equal(c->frames[0][21], 2);                  /* a reply */
	assert_memory_equal(c->frames[0] + 22, slirp_mac, 6);
	inet_pton(AF_INET, "10.0.2.2", ip);
	assert_memory_equal(c->frames[0] + 28, ip, 4);
	iov.iov_len = arp_request(req, "10.0.2.3");
	assert_int_equal(net_send(be, &iov, 1), 0);
	assert_int_equal(c->n, 2);
	inet_pton(AF_INET, "10.0.2.3", ip);
	assert_memory_equal(c->frames[1] + 28, ip, 4);
	/* not a frame: two pieces, or past the bound */
	assert_int_equal(net_send(be, (struct iovec[]){ { req, 20 }, { req + 20, 22 } }, 2),
			 -EINVAL);
	iov.iov_len = NET_FRAME_MAX + 1;
	assert_int_equal(net_send(be, &iov, 1), -EINVAL);
	net_close(be);
	event_loop_destroy(c->loop);
	free(c);
}

/* free_port: a TCP port on 127.0.0.1 nobody listens on just now. */
static uint16_t free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int s = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(s >= 0);
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&a, &len), 0);
	close(s);
	return ntohs(a.sin_port);
}

static void test_user_hostfwd_accepts_through_the_loop(void **state)
{
	struct catcher *c = calloc(1, sizeof(*c));
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct event_timer *deadline;
	struct net_backend *be;
	uint16_t port = free_port();
	uint8_t ip[4];
	char text[64];
	int s;

	(void)state;
	snprintf(text, sizeof(text), "user,hostfwd=tcp::%u-:22", port);
	be = open_user(c, text);
	assert_non_null(be);
	/* A connection to the forward: libslirp accepts it from the loop and,
	 * not knowing the guest's MAC yet, asks for 10.0.2.15 by ARP. */
	s = socket(AF_INET, SOCK_STREAM, 0);
	a.sin_port = htons(port);
	assert_int_equal(connect(s, (struct sockaddr *)&a, sizeof(a)), 0);
	c->quit_on_arp_request = true;
	deadline = event_timer_create(c->loop, quit_loop, c->loop);
	assert_non_null(deadline);
	event_timer_arm(deadline, 5000000000ULL, 0);
	event_loop_run(c->loop);
	assert_true(c->n >= 1);
	assert_int_equal(c->frames[c->n - 1][21], 1);
	inet_pton(AF_INET, "10.0.2.15", ip);
	assert_memory_equal(c->frames[c->n - 1] + 38, ip, 4);
	close(s);
	event_timer_free(deadline);
	net_close(be);
	event_loop_destroy(c->loop);
	free(c);
}

static void test_user_hostfwd_port_taken(void **state)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct catcher *c = calloc(1, sizeof(*c));
	socklen_t len = sizeof(a);
	char text[64];
	int s = socket(AF_INET, SOCK_STREAM, 0);

	(void)state;
	assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(s, 1), 0);
	assert_int_equal(getsockname(s, (struct sockaddr *)&a, &len), 0);
	snprintf(text, sizeof(text), "user,hostfwd=tcp::%u-:22", ntohs(a.sin_port));
	assert_null(open_user(c, text));
	close(s);
	event_loop_destroy(c->loop);
	free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rx_one_buffer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_merged_buffers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_header_split_across_descriptors, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_rx_waits_for_enough_buffers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_event_idx_asks_for_the_next_buffer, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_rx_too_big_for_one_buffer_keeps_it, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_rx_frame_bigger_than_the_whole_queue, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_rx_first_buffer_shorter_than_header, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_rx_largest_frame, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rx_broken_ring, setup, teardown),
		cmocka_unit_test(test_rx_header_check),
		cmocka_unit_test(test_tx_frame_bounds),
		cmocka_unit_test(test_spec_tap),
		cmocka_unit_test(test_spec_user),
		cmocka_unit_test(test_spec_errors),
		cmocka_unit_test(test_spec_hostfwd_limit),
		cmocka_unit_test(test_mac_parse),
		cmocka_unit_test(test_mac_default_is_stable_per_name_and_index),
		cmocka_unit_test(test_user_answers_arp_for_host_and_dns),
		cmocka_unit_test(test_user_hostfwd_accepts_through_the_loop),
		cmocka_unit_test(test_user_hostfwd_port_taken),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
