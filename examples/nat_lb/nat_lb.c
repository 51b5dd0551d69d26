// SPDX-License-Identifier: GPL-2.0
/*
 * nat_lb: an XDP layer-4 load balancer. Packets to a virtual service
 * (VIP address + protocol + port) are sent to one of the service's backends:
 * the IPv4 destination address and the TCP/UDP destination port are
 * rewritten to the backend's, the IPv4 and TCP/UDP checksums are fixed
 * incrementally with bpf_csum_diff, the destination MAC becomes the
 * backend's and the frame goes back out of the same interface (XDP_TX).
 *
 * The service table is configuration, not state: it lives in `.rodata`
 * (`const volatile`), which a loader may overwrite before loading (libbpf
 * skeletons do) and which the verifier then treats as constants. Defaults:
 *   TCP 10.0.0.100:80 -> 10.1.0.1:8080, 10.1.0.2:8080, 10.1.0.3:8080
 *   UDP 10.0.0.100:53 -> 10.1.0.11:5353, 10.1.0.12:5353
 * backend MACs 02:00:00:00:01:NN with NN the backend index + 1.
 *
 * Backend choice: all packets of one flow must reach the same backend, so
 * the choice is a function of the flow's client side only:
 *   hash  = (saddr * 2654435761 + sport * 40503) mod 2^32
 *           (saddr and sport as host-order integers)
 *   index = first_backend + hash % backend_count
 *
 * Verdicts:
 *   - IPv4 TCP/UDP to a service (one 802.1Q tag allowed), not a
 *     non-first fragment                          -> XDP_TX (3), rewritten;
 *                                                    backend_packets[index] += 1
 *   - anything else                               -> XDP_PASS (2), unchanged
 * A UDP checksum of 0 (none, allowed for IPv4) stays 0.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define MAX_SERVICES 4
#define MAX_BACKENDS 8
#define IP_OFFSET_MASK 0x1fff

struct vlan_hdr {
	__be16 tci;
	__be16 encapsulated_proto;
};

struct service {
	__u32 vip;          /* host order; 0 ends the table */
	__u16 port;         /* host order */
	__u8 proto;         /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 backend_count; /* at least 1 */
	__u32 first_backend;
};

struct backend {
	__u32 addr; /* host order */
	__u16 port; /* host order */
	__u8 mac[6];
};

const volatile struct service services[MAX_SERVICES] = {
	{ .vip = 0x0a000064, .port = 80, .proto = IPPROTO_TCP, .backend_count = 3, .first_backend = 0 },
	{ .vip = 0x0a000064, .port = 53, .proto = IPPROTO_UDP, .backend_count = 2, .first_backend = 3 },
};

const volatile struct backend backends[MAX_BACKENDS] = {
	{ .addr = 0x0a010001, .port = 8080, .mac = { 2, 0, 0, 0, 1, 1 } },
	{ .addr = 0x0a010002, .port = 8080, .mac = { 2, 0, 0, 0, 1, 2 } },
	{ .addr = 0x0a010003, .port = 8080, .mac = { 2, 0, 0, 0, 1, 3 } },
	{ .addr = 0x0a01000b, .port = 5353, .mac = { 2, 0, 0, 0, 1, 4 } },
	{ .addr = 0x0a01000c, .port = 5353, .mac = { 2, 0, 0, 0, 1, 5 } },
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32); /* backend index */
	__type(value, __u64);
	__uint(max_entries, MAX_BACKENDS);
} backend_packets SEC(".maps");

/* What the checksums cover of the fields we change: the destination address
 * (IPv4 header and L4 pseudo-header) and the 32-bit word holding both ports
 * (bpf_csum_diff works on multiples of 4 bytes). */
struct l4_rewrite {
	__be32 daddr;
	__be16 sport;
	__be16 dport;
};

static __always_inline __u16 csum_fold(__u64 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return ~sum;
}

/*
 * RFC 1624 incremental update: new = ~(~old + ~m + m'). bpf_csum_diff
 * computes seed + sum(~from) + sum(to) in one's-complement arithmetic, so
 * seeding it with ~old gives the sum to fold. One's-complement sums do not
 * depend on byte order, so the big-endian check field is used as stored.
 */
static __always_inline __u16 csum_update(__u16 old, void *from, void *to, __u32 size)
{
	__s64 sum = bpf_csum_diff(from, size, to, size, (__u16)~old);

	return csum_fold((__u32)sum);
}

static __always_inline int find_service(__u32 vip, __u8 proto, __u16 port)
{
	int i;

#pragma unroll
	for (i = 0; i < MAX_SERVICES; i++) {
		if (services[i].vip == 0)
			break;
		if (services[i].vip == vip && services[i].proto == proto && services[i].port == port)
			return i;
	}
	return -1;
}

SEC("xdp")
int nat_lb(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct l4_rewrite old, new;
	struct iphdr *ip = (void *)(eth + 1);
	__be16 proto;
	__be16 *l4_check;
	__be16 *ports;
	void *l4;
	__u32 hash, index, count;
	__u64 *packets;
	int svc;

	if ((void *)(eth + 1) > data_end)
		return XDP_PASS;
	proto = eth->h_proto;
	if (proto == bpf_htons(ETH_P_8021Q)) {
		struct vlan_hdr *vlan = (void *)(eth + 1);

		if ((void *)(vlan + 1) > data_end)
			return XDP_PASS;
		proto = vlan->encapsulated_proto;
		ip = (void *)(vlan + 1);
	}
	if (proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	if ((void *)(ip + 1) > data_end || ip->ihl < 5)
		return XDP_PASS;
	/* Later fragments carry no ports: they cannot be balanced per flow. */
	if (ip->frag_off & bpf_htons(IP_OFFSET_MASK))
		return XDP_PASS;

	l4 = (void *)ip + ip->ihl * 4;
	if (ip->protocol == IPPROTO_TCP) {
		struct tcphdr *tcp = l4;

		if ((void *)(tcp + 1) > data_end)
			return XDP_PASS;
		l4_check = &tcp->check;
		ports = &tcp->source;
	} else if (ip->protocol == IPPROTO_UDP) {
		struct udphdr *udp = l4;

		if ((void *)(udp + 1) > data_end)
			return XDP_PASS;
		l4_check = &udp->check;
		ports = &udp->source;
	} else {
		return XDP_PASS;
	}

	svc = find_service(bpf_ntohl(ip->daddr), ip->protocol, bpf_ntohs(ports[1]));
	if (svc < 0 || svc >= MAX_SERVICES)
		return XDP_PASS;
	count = services[svc].backend_count;
	if (count == 0)
		return XDP_PASS;
	hash = bpf_ntohl(ip->saddr) * 2654435761u + bpf_ntohs(ports[0]) * 40503u;
	index = services[svc].first_backend + hash % count;
	if (index >= MAX_BACKENDS)
		return XDP_PASS;

	old.daddr = ip->daddr;
	old.sport = ports[0];
	old.dport = ports[1];
	new.daddr = bpf_htonl(backends[index].addr);
	new.sport = ports[0];
	new.dport = bpf_htons(backends[index].port);

	ip->check = csum_update(ip->check, &old.daddr, &new.daddr, sizeof(new.daddr));
	/* The TCP/UDP checksum covers the pseudo-header's destination address
	 * as well as the ports. */
	if (ip->protocol == IPPROTO_TCP || *l4_check != 0) {
		__u16 check = csum_update(*l4_check, &old, &new, sizeof(new));

		/* UDP sends a computed 0 as 0xffff: 0 means "no checksum". */
		if (ip->protocol == IPPROTO_UDP && check == 0)
			check = 0xffff;
		*l4_check = check;
	}
	ip->daddr = new.daddr;
	ports[1] = new.dport;

	/* To the backend's MAC, from the MAC the client sent to (ours). */
	__builtin_memcpy(eth->h_source, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, (const void *)backends[index].mac, ETH_ALEN);

	packets = bpf_map_lookup_elem(&backend_packets, &index);
	if (packets)
		__sync_fetch_and_add(packets, 1);
	return XDP_TX;
}

char LICENSE[] SEC("license") = "GPL";
