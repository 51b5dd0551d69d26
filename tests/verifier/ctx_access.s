# Context accesses: each program type allows reads (and a few writes) of
# its context fields at their offsets and sizes only; narrow loads are
# allowed for some fields; data/data_end must be whole u32 loads.
# Selftests: verifier_ctx.c, verifier_ctx_sk_msg.c, verifier/ctx_skb.c,
# verifier_xdp.c, verifier_sock.c.

;; case xdp_read_ingress_ifindex
;; type xdp
;; expect accept
	r0 = *(u32 *)(r1 + 12)
	r0 = 2
	exit

;; case xdp_data_read_as_u64
;; type xdp
;; expect reject: invalid bpf_context access off=0 size=8
	r2 = *(u64 *)(r1 + 0)
	r0 = 2
	exit

;; case xdp_data_narrow_load
;; type xdp
;; expect reject: invalid bpf_context access off=0 size=2
	r2 = *(u16 *)(r1 + 0)
	r0 = 2
	exit

;; case xdp_write_to_data
;; type xdp
;; expect reject: invalid bpf_context access off=0 size=4
	*(u32 *)(r1 + 0) = 0
	r0 = 2
	exit

;; case xdp_read_past_the_context
;; type xdp
;; expect reject: invalid bpf_context access off=24 size=4
	r0 = *(u32 *)(r1 + 24)
	r0 = 2
	exit

;; case xdp_egress_ifindex_needs_devmap_attach
;; type xdp
;; expect reject: invalid bpf_context access off=20 size=4
	r0 = *(u32 *)(r1 + 20)
	r0 = 2
	exit

;; case xdp_devmap_reads_egress_ifindex
;; type xdp
;; attach xdp_devmap
;; expect accept
	r0 = *(u32 *)(r1 + 20)
	r0 = 2
	exit

;; case skb_read_len
;; type socket_filter
;; expect accept
	r0 = *(u32 *)(r1 + 0)
	exit

;; case skb_narrow_read_of_len
;; type socket_filter
;; expect accept
	r0 = *(u8 *)(r1 + 0)
	exit

;; case skb_misaligned_read
;; type socket_filter
;; expect reject: invalid bpf_context access off=2 size=4
	r0 = *(u32 *)(r1 + 2)
	exit

;; case socket_filter_writes_cb
;; type socket_filter
;; expect accept
	*(u32 *)(r1 + 48) = 1
	r0 = 0
	exit

;; case socket_filter_writes_mark
;; type socket_filter
;; expect reject: invalid bpf_context access off=8 size=4
	*(u32 *)(r1 + 8) = 1
	r0 = 0
	exit

;; case tc_writes_mark
;; type sched_cls
;; expect accept
	*(u32 *)(r1 + 8) = 1
	r0 = 0
	exit

;; case tc_writes_len
;; type sched_cls
;; expect reject: invalid bpf_context access off=0 size=4
	*(u32 *)(r1 + 0) = 1
	r0 = 0
	exit

;; case tc_reads_tstamp
;; type sched_cls
;; expect accept
	r0 = *(u64 *)(r1 + 152)
	r0 = 0
	exit

;; case socket_filter_reads_tstamp_as_u32
;; type socket_filter
;; expect reject: invalid bpf_context access off=152 size=4
	r0 = *(u32 *)(r1 + 152)
	r0 = 0
	exit

;; case skb_read_past_the_context
;; type sched_cls
;; expect reject: invalid bpf_context access off=256 size=4
	r0 = *(u32 *)(r1 + 256)
	r0 = 0
	exit

;; case kprobe_reads_registers
;; type kprobe
;; expect accept
	r0 = *(u64 *)(r1 + 0)
	r0 = 0
	exit

;; case kprobe_writes_registers
;; type kprobe
;; expect reject: invalid bpf_context access off=0 size=8
	*(u64 *)(r1 + 0) = 0
	r0 = 0
	exit

;; case kprobe_reads_past_pt_regs
;; type kprobe
;; expect reject: invalid bpf_context access off=168 size=8
	r0 = *(u64 *)(r1 + 168)
	r0 = 0
	exit

;; case tracepoint_reads_field
;; type tracepoint
;; expect accept
	r0 = *(u64 *)(r1 + 8)
	r0 = 0
	exit

;; case tracepoint_misaligned_read
;; type tracepoint
;; expect reject: invalid bpf_context access off=4 size=8
	r0 = *(u64 *)(r1 + 4)
	r0 = 0
	exit

;; case raw_tracepoint_reads_argument
;; type raw_tracepoint
;; expect accept
	r0 = *(u64 *)(r1 + 0)
	r0 = 0
	exit

;; case raw_tracepoint_writes_argument
;; type raw_tracepoint
;; expect reject: invalid bpf_context access off=0 size=8
	*(u64 *)(r1 + 0) = 0
	r0 = 0
	exit

;; case perf_event_reads_sample_period
;; type perf_event
;; expect accept
	r0 = *(u64 *)(r1 + 168)
	r0 = 0
	exit

;; case syscall_program_must_be_sleepable
;; type syscall
;; expect reject: Syscall programs can only be sleepable
	r0 = 0
	exit

;; case syscall_reads_its_context
;; type syscall
;; flags sleepable
;; expect accept
	r0 = *(u64 *)(r1 + 0)
	r0 = 0
	exit

;; case negative_context_offset
;; type socket_filter
;; expect reject: invalid bpf_context access off=-4 size=4
	r0 = *(u32 *)(r1 - 4)
	exit
