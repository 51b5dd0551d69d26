// SPDX-License-Identifier: GPL-2.0
/*
 * cgroup_skb firewall/accounting: ingress drops IPv4 packets from a
 * blocklisted /24 network, egress counts bytes per IP version.
 *
 * Covers: SEC("cgroup_skb/ingress"), SEC("cgroup_skb/egress"),
 * bpf_skb_load_bytes from the network header (cgroup skbs start at L3),
 * skb->family, skb->len, an LPM trie keyed by a /prefix, a percpu_array.
 * Return value 1 allows, 0 drops.
 *
 * Expected (test-run from L3): an IPv4 packet from a source inside a prefix
 * stored in blocked_nets returns 0, any other packet returns 1; egress always
 * returns 1 and adds skb->len to egress_bytes[4 or 6].
 */
#include <linux/bpf.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct ipv4_lpm_key {
	__u32 prefixlen;
	__u32 addr; /* network byte order */
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__type(key, struct ipv4_lpm_key);
	__type(value, __u32);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 256);
} blocked_nets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 8);
} egress_bytes SEC(".maps");

SEC("cgroup_skb/ingress")
int ingress_blocklist(struct __sk_buff *skb)
{
	struct ipv4_lpm_key key = { .prefixlen = 32 };
	struct iphdr ip;

	if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)))
		return 1;
	if (ip.version != 4)
		return 1;
	key.addr = ip.saddr;
	return bpf_map_lookup_elem(&blocked_nets, &key) ? 0 : 1;
}

SEC("cgroup_skb/egress")
int egress_accounting(struct __sk_buff *skb)
{
	__u8 version_byte = 0;
	__u32 version;
	__u64 *bytes;

	bpf_skb_load_bytes(skb, 0, &version_byte, 1);
	version = version_byte >> 4;
	bytes = bpf_map_lookup_elem(&egress_bytes, &version);
	if (bytes)
		*bytes += skb->len;
	return 1;
}

char LICENSE[] SEC("license") = "GPL";
