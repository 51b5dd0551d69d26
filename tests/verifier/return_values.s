# What a program may return: program types whose caller acts on the
# return value (cgroup, socket address, sk_lookup, sysctl hooks) have a
# range checked at the main program's exit, for some depending on the
# attach type; others take any scalar. Selftests: verifier_cgroup_skb.c,
# verifier_cgroup_inv_retcode.c, verifier_sock_addr.c,
# verifier_netfilter_retcode.c, verifier/ctx_sk_lookup (test_verifier).

;; case cgroup_skb_returns_one
;; type cgroup_skb
;; expect accept
	r0 = 1
	exit

;; case cgroup_skb_ingress_returns_two
;; type cgroup_skb
;; attach cgroup_inet_ingress
;; expect reject: At program exit the register R0 has smin=2 smax=2 should have been in [0, 1]
	r0 = 2
	exit

;; case cgroup_skb_egress_returns_two
;; type cgroup_skb
;; attach cgroup_inet_egress
;; expect accept
	r0 = 2
	exit

;; case cgroup_skb_returns_unknown
;; type cgroup_skb
;; expect reject: At program exit the register R0 has smin=0 smax=4294967295 should have been in [0, 1]
	r0 = *(u32 *)(r1 + 0)
	exit

;; case cgroup_skb_returns_masked_unknown
;; type cgroup_skb
;; expect accept
	r0 = *(u32 *)(r1 + 0)
	r0 &= 1
	exit

;; case cgroup_skb_returns_unknown_32bit_masked
;; type cgroup_skb
;; expect accept
	r0 = *(u32 *)(r1 + 0)
	w0 &= 1
	exit

;; case sock_addr_connect4_returns_one
;; type cgroup_sock_addr
;; attach cgroup_inet4_connect
;; expect accept
	r0 = 1
	exit

;; case sock_addr_connect4_returns_two
;; type cgroup_sock_addr
;; attach cgroup_inet4_connect
;; expect reject: At program exit the register R0 has smin=2 smax=2 should have been in [0, 1]
	r0 = 2
	exit

;; case sock_addr_connect4_writes_user_ip4
;; type cgroup_sock_addr
;; attach cgroup_inet4_connect
;; expect accept
	*(u32 *)(r1 + 4) = 0
	r0 = 1
	exit

;; case sock_addr_connect6_reads_user_ip4
;; type cgroup_sock_addr
;; attach cgroup_inet6_connect
;; expect reject: invalid bpf_context access off=4 size=4
	r0 = *(u32 *)(r1 + 4)
	r0 = 1
	exit

;; case sock_addr_without_attach_type
;; type cgroup_sock_addr
;; expect reject: EINVAL without a verifier log
	r0 = 1
	exit

;; case sk_lookup_returns_pass
;; type sk_lookup
;; attach sk_lookup
;; expect accept
	r0 = 1
	exit

;; case sk_lookup_returns_two
;; type sk_lookup
;; attach sk_lookup
;; expect reject: At program exit the register R0 has smin=2 smax=2 should have been in [0, 1]
	r0 = 2
	exit

;; case cgroup_sysctl_returns_two
;; type cgroup_sysctl
;; attach cgroup_sysctl
;; expect reject: At program exit the register R0 has smin=2 smax=2 should have been in [0, 1]
	r0 = 2
	exit

;; case cgroup_sock_create_returns_one
;; type cgroup_sock
;; attach cgroup_inet_sock_create
;; expect accept
	r0 = 1
	exit

;; case xdp_returns_unknown
;; type xdp
;; expect accept
	r0 = *(u32 *)(r1 + 12)
	exit

;; case kprobe_returns_large_constant
;; type kprobe
;; expect accept
	r0 = 0x7fffffff
	exit

;; case socket_filter_returns_unknown
;; type socket_filter
;; expect accept
	r0 = *(u32 *)(r1 + 0)
	exit

;; case cgroup_skb_returns_pointer
;; type cgroup_skb
;; expect reject: At program exit the register R0 is not a known value (ctx)
	r0 = r1
	exit

;; case subprogram_may_return_any_value
;; type cgroup_skb
;; expect accept
	call f
	r0 = 1
	exit
f:
	r0 = 7
	exit
