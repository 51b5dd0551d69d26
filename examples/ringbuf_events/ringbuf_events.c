// SPDX-License-Identifier: GPL-2.0
/*
 * ringbuf_events: a tc classifier that reports one flow record per packet to
 * user space through a BPF ring buffer, and lets the packet through.
 *
 * Why a ring buffer: records are variable in number and must arrive in
 * order, from every CPU, without per-CPU buffers to merge; a consumer reads
 * them with epoll/mmap (libbpf's ring_buffer__poll, Apiary's ring buffer
 * reader). Reserving space first (bpf_ringbuf_reserve) lets the program
 * fill the record in place and costs nothing when the buffer is full: the
 * record is then counted in `lost_events` instead of being written.
 *
 * Event layout (struct flow_event, 56 bytes; integers in the host's byte
 * order unless marked "network order"):
 *   offset  size  field
 *        0     8  seq         1 for the first packet this program saw, then +1
 *        8     4  len         skb->len: the frame length in bytes
 *       12     2  eth_proto   EtherType after at most one 802.1Q tag; 0 when
 *                             the frame is too short to have one
 *       14     1  ip_proto    IPv4 protocol / IPv6 next header (TCP 6, UDP 17,
 *                             ICMP 1, ICMPv6 58); 0 when not IP
 *       15     1  flags       bit 0: the frame had an 802.1Q tag;
 *                             bit 1: IPv6 (addresses use 16 bytes, else 4)
 *       16    16  saddr       source address, network order; IPv4 uses the
 *                             first 4 bytes, the rest is zero
 *       32    16  daddr       destination address, same encoding
 *       48     2  sport       TCP/UDP source port, 0 otherwise
 *       50     2  dport       TCP/UDP destination port, 0 otherwise
 *       52     4  reserved    0
 * The struct definition below is authoritative; the acceptance tests check
 * these offsets against the object's BTF.
 *
 * Returns TC_ACT_OK (0) for every packet; the packet is not modified.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define FLAG_VLAN 1
#define FLAG_IPV6 2

struct vlan_hdr {
	__be16 tci;
	__be16 encapsulated_proto;
};

struct flow_event {
	__u64 seq;
	__u32 len;
	__u16 eth_proto;
	__u8 ip_proto;
	__u8 flags;
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 sport;
	__u16 dport;
	__u32 reserved;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024); /* bytes; a power of two of pages */
} events SEC(".maps");

/* Never used by the program: a global of the event type puts struct
 * flow_event into the object's BTF, where readers (skeleton generators,
 * bpftool btf dump, the layout test) find its exact layout. */
struct flow_event flow_event_layout = {};

/* Shared by all CPUs: updated atomically. */
__u64 packets_seen = 0;
__u64 lost_events = 0;

/* Fills the ports of TCP/UDP packets whose transport header starts at
 * `l4_off`; other protocols keep 0. */
static __always_inline void read_ports(struct __sk_buff *skb, __u32 l4_off, struct flow_event *e)
{
	__be16 ports[2];

	if (e->ip_proto != IPPROTO_TCP && e->ip_proto != IPPROTO_UDP)
		return;
	if (bpf_skb_load_bytes(skb, l4_off, ports, sizeof(ports)))
		return;
	e->sport = bpf_ntohs(ports[0]);
	e->dport = bpf_ntohs(ports[1]);
}

SEC("tc")
int flow_events(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	void *l3 = eth + 1;
	struct flow_event *e;
	__be16 proto;
	__u64 seq = __sync_fetch_and_add(&packets_seen, 1) + 1;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&lost_events, 1);
		return TC_ACT_OK;
	}
	/* Reserved memory is not zeroed: every byte must be written. */
	__builtin_memset(e, 0, sizeof(*e));
	e->seq = seq;
	e->len = skb->len;

	if (l3 > data_end)
		goto submit;
	proto = eth->h_proto;
	if (proto == bpf_htons(ETH_P_8021Q)) {
		struct vlan_hdr *vlan = l3;

		e->flags |= FLAG_VLAN;
		if ((void *)(vlan + 1) > data_end)
			goto submit;
		proto = vlan->encapsulated_proto;
		l3 = vlan + 1;
	}
	e->eth_proto = bpf_ntohs(proto);

	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = l3;

		if ((void *)(ip + 1) > data_end || ip->ihl < 5)
			goto submit;
		e->ip_proto = ip->protocol;
		__builtin_memcpy(e->saddr, &ip->saddr, 4);
		__builtin_memcpy(e->daddr, &ip->daddr, 4);
		if (!(ip->frag_off & bpf_htons(0x1fff)))
			read_ports(skb, l3 - data + ip->ihl * 4, e);
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = l3;

		e->flags |= FLAG_IPV6;
		if ((void *)(ip6 + 1) > data_end)
			goto submit;
		e->ip_proto = ip6->nexthdr;
		__builtin_memcpy(e->saddr, &ip6->saddr, 16);
		__builtin_memcpy(e->daddr, &ip6->daddr, 16);
		read_ports(skb, (void *)(ip6 + 1) - data, e);
	}
submit:
	bpf_ringbuf_submit(e, 0);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
