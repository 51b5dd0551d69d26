# BTF-typed contexts and btf_id pointers (btf_ctx_access, btf_struct_walk,
# check_ptr_to_btf_access): tp_btf, iter and fentry programs whose context
# is an array of u64 arguments typed by the attach point's prototype in the
# running kernel's BTF. Offsets into task_struct (pid 1264, mm 1136, comm
# 1752, se 128, size 3264) and mm_struct (mmap_base 80, size 1472) are
# this machine's kernel's (6.18, x86-64); on another kernel they move and
# these cases must be recorded again. sched_switch's arguments are
# preempt, prev, next, prev_state. (fentry programs are refused with
# EPERM by this host, so none is recorded.)

;; case tp_btf_read_field
;; type tracing
;; attach trace_raw_tp
;; target sched_switch
;; expect accept
	r2 = *(u64 *)(r1 + 16)
	r0 = *(u32 *)(r2 + 1264)
	r0 = 0
	exit

;; case tp_btf_read_beyond_struct
;; type tracing
;; attach trace_raw_tp
;; target sched_switch
;; expect reject: access beyond struct task_struct at off 9999 size 8
	r2 = *(u64 *)(r1 + 8)
	r0 = *(u64 *)(r2 + 9999)
	r0 = 0
	exit

;; case tp_btf_read_padding_at_the_end
;; type tracing
;; attach trace_raw_tp
;; target sched_switch
;; expect reject: struct task_struct doesn't have field at offset 3256
	r2 = *(u64 *)(r1 + 8)
	r0 = *(u64 *)(r2 + 3256)
	r0 = 0
	exit

;; case tp_btf_read_negative_offset
;; type tracing
;; attach trace_raw_tp
;; target sched_switch
;; expect reject: R2 is ptr_task_struct invalid negative access: off=-8
	r2 = *(u64 *)(r1 + 8)
	r0 = *(u32 *)(r2 - 8)
	r0 = 0
	exit

;; case tp_btf_write_field
;; type tracing
;; attach trace_raw_tp
;; target sched_switch
;; expect reject: only read is supported
	r2 = *(u64 *)(r1 + 8)
	r3 = 1
	*(u32 *)(r2 + 1264) = r3
	r0 = 0
	exit

;; case tp_btf_write_context
;; type tracing
;; attach trace_raw_tp
;; target sched_switch
;; expect reject: invalid bpf_context access off=8 size=8
	r3 = 1
	*(u64 *)(r1 + 8) = r3
	r0 = 0
	exit

;; case tp_btf_narrow_pointer_argument
;; type tracing
;; attach trace_raw_tp
;; target sched_switch
;; expect reject: invalid bpf_context access off=8 size=4
;; detail func 'sched_switch' size 4 must be 8
	r2 = *(u32 *)(r1 + 8)
	r0 = 0
	exit

;; case tp_btf_argument_past_the_last
;; type tracing
;; attach trace_raw_tp
;; target sched_switch
;; expect reject: invalid bpf_context access off=32 size=8
;; detail func 'sched_switch' doesn't have 5-th argument
	r2 = *(u64 *)(r1 + 32)
	r0 = 0
	exit

;; case tp_btf_integer_argument_is_a_number
;; type tracing
;; attach trace_raw_tp
;; target sched_switch
;; expect reject: R2 invalid mem access 'scalar'
	r2 = *(u64 *)(r1 + 24)
	r0 = *(u32 *)(r2 + 0)
	r0 = 0
	exit

;; case tp_btf_walk_to_mm
;; type tracing
;; attach trace_raw_tp
;; target sched_switch
;; expect accept
	r2 = *(u64 *)(r1 + 16)
	r3 = *(u64 *)(r2 + 1136)
	r0 = *(u64 *)(r3 + 80)
	r0 = 0
	exit

;; case tp_btf_walk_to_mm_flexible_array
;; type tracing
;; attach trace_raw_tp
;; target sched_switch
;; expect accept
	r2 = *(u64 *)(r1 + 16)
	r3 = *(u64 *)(r2 + 1136)
	r0 = *(u64 *)(r3 + 1472)
	r0 = 0
	exit

;; case tp_btf_walk_to_mm_beyond
;; type tracing
;; attach trace_raw_tp
;; target sched_switch
;; expect reject: access beyond struct mm_struct at off 1468 size 8
	r2 = *(u64 *)(r1 + 16)
	r3 = *(u64 *)(r2 + 1136)
	r0 = *(u64 *)(r3 + 1468)
	r0 = 0
	exit

;; case tp_btf_pointer_member_read_narrow
;; type tracing
;; attach trace_raw_tp
;; target sched_switch
;; expect reject: cannot access ptr member mm with moff 1136 in struct task_struct with off 1136 size 4
	r2 = *(u64 *)(r1 + 16)
	r3 = *(u32 *)(r2 + 1136)
	r0 = 0
	exit

;; case tp_btf_nested_struct_field
;; type tracing
;; attach trace_raw_tp
;; target sched_switch
;; expect accept
	r2 = *(u64 *)(r1 + 16)
	r0 = *(u64 *)(r2 + 168)
	r0 = 0
	exit

;; case tp_btf_char_array_as_scratch
;; type tracing
;; attach trace_raw_tp
;; target sched_switch
;; expect accept
	r2 = *(u64 *)(r1 + 16)
	r0 = *(u64 *)(r2 + 1760)
	r0 = 0
	exit

;; case tp_btf_char_array_crossing_its_end
;; type tracing
;; attach trace_raw_tp
;; target sched_switch
;; expect reject: access beyond the end of member comm (mend:1768) in struct task_struct with off 1764 size 8
	r2 = *(u64 *)(r1 + 16)
	r0 = *(u64 *)(r2 + 1764)
	r0 = 0
	exit

;; case tp_btf_variable_offset
;; type tracing
;; attach trace_raw_tp
;; target sched_switch
;; expect reject: R2 is ptr_task_struct invalid variable offset: off=1264, var_off=(0x0; 0x4)
	r2 = *(u64 *)(r1 + 16)
	r4 = *(u64 *)(r1 + 24)
	r4 &= 4
	r2 += r4
	r0 = *(u32 *)(r2 + 1264)
	r0 = 0
	exit

;; case tp_btf_constant_offset_then_read
;; type tracing
;; attach trace_raw_tp
;; target sched_switch
;; expect accept
	r2 = *(u64 *)(r1 + 16)
	r2 += 1264
	r0 = *(u32 *)(r2 + 0)
	r0 = 0
	exit

;; case iter_task_unchecked
;; type tracing
;; attach trace_iter
;; target task
;; expect reject: R2 invalid mem access 'trusted_ptr_or_null_'
	r2 = *(u64 *)(r1 + 8)
	r0 = *(u32 *)(r2 + 1264)
	r0 = 0
	exit

;; case iter_task_checked
;; type tracing
;; attach trace_iter
;; target task
;; expect accept
	r2 = *(u64 *)(r1 + 8)
	if r2 == 0 goto out
	r0 = *(u32 *)(r2 + 1264)
out:
	r0 = 0
	exit

;; case iter_task_arithmetic_before_check
;; type tracing
;; attach trace_iter
;; target task
;; expect reject: R2 pointer arithmetic on trusted_ptr_or_null_ prohibited, null-check it first
	r2 = *(u64 *)(r1 + 8)
	r2 += 8
	if r2 == 0 goto out
	r0 = *(u32 *)(r2 + 1256)
out:
	r0 = 0
	exit

;; case iter_meta_seq_write
;; type tracing
;; attach trace_iter
;; target task
;; expect accept
	r2 = *(u64 *)(r1 + 0)
	r1 = *(u64 *)(r2 + 0)
	r3 = 0
	*(u64 *)(r10 - 8) = r3
	r2 = r10
	r2 += -8
	r3 = 8
	call 127
	r0 = 0
	exit

;; case iter_seq_write_unchecked_task
;; type tracing
;; attach trace_iter
;; target task
;; expect reject: R1 type=trusted_ptr_or_null_ expected=ptr_, trusted_ptr_, rcu_ptr_
	r1 = *(u64 *)(r1 + 8)
	r3 = 0
	*(u64 *)(r10 - 8) = r3
	r2 = r10
	r2 += -8
	r3 = 8
	call 127
	r0 = 0
	exit

;; case iter_seq_write_task_for_seq_file
;; type tracing
;; attach trace_iter
;; target task
;; expect reject: R1 is of type task_struct but seq_file is expected
	r1 = *(u64 *)(r1 + 8)
	if r1 == 0 goto out
	r3 = 0
	*(u64 *)(r10 - 8) = r3
	r2 = r10
	r2 += -8
	r3 = 8
	call 127
out:
	r0 = 0
	exit

;; case iter_seq_write_number
;; type tracing
;; attach trace_iter
;; target task
;; expect reject: R1 type=scalar expected=ptr_, trusted_ptr_, rcu_ptr_
	r1 = 0
	r3 = 0
	*(u64 *)(r10 - 8) = r3
	r2 = r10
	r2 += -8
	r3 = 8
	call 127
	r0 = 0
	exit

;; case tracing_without_attach_point
;; type tracing
;; attach trace_raw_tp
;; expect reject: Tracing programs must provide btf_id
	r0 = 0
	exit

;; case tp_btf_walked_pointer_may_be_null
;; type tracing
;; attach trace_raw_tp
;; target sched_switch
;; expect reject: R5 !read_ok
	r2 = *(u64 *)(r1 + 16)
	r3 = *(u64 *)(r2 + 1136)
	if r3 == 0 goto bad
	r0 = 0
	exit
bad:
	r0 = *(u32 *)(r5 + 0)
	exit

;; case tp_btf_trusted_argument_is_not_null
;; type tracing
;; attach trace_raw_tp
;; target sched_switch
;; expect accept
	r2 = *(u64 *)(r1 + 16)
	if r2 == 0 goto bad
	r0 = 0
	exit
bad:
	r0 = *(u32 *)(r5 + 0)
	exit

;; case iter_seq_write_task_comm
;; type tracing
;; attach trace_iter
;; target task
;; expect accept
	r2 = *(u64 *)(r1 + 8)
	if r2 == 0 goto out
	r3 = *(u64 *)(r1 + 0)
	r1 = *(u64 *)(r3 + 0)
	r2 += 1752
	r3 = 16
	call 127
out:
	r0 = 0
	exit

;; case iter_seq_write_past_comm
;; type tracing
;; attach trace_iter
;; target task
;; expect reject: access beyond the end of member comm (mend:1768) in struct task_struct with off 1752 size 24
	r2 = *(u64 *)(r1 + 8)
	if r2 == 0 goto out
	r3 = *(u64 *)(r1 + 0)
	r1 = *(u64 *)(r3 + 0)
	r2 += 1752
	r3 = 24
	call 127
out:
	r0 = 0
	exit

;; case iter_seq_write_untrusted_memory
;; type tracing
;; attach trace_iter
;; target task
;; expect reject: R2 type=untrusted_ptr_ expected=fp, pkt, pkt_meta, map_key, map_value, mem, ringbuf_mem, buf, trusted_ptr_
	r2 = *(u64 *)(r1 + 8)
	if r2 == 0 goto out
	r2 = *(u64 *)(r2 + 1136)
	r3 = *(u64 *)(r1 + 0)
	r1 = *(u64 *)(r3 + 0)
	r3 = 8
	call 127
out:
	r0 = 0
	exit

;; case tp_btf_listed_rcu_field_is_rcu
;; type tracing
;; attach trace_raw_tp
;; target sched_switch
;; expect reject: R1 type=rcu_ptr_ expected=fp, pkt, pkt_meta, map_key, map_value, mem, ringbuf_mem, buf, trusted_ptr_
	r2 = *(u64 *)(r1 + 16)
	r1 = *(u64 *)(r2 + 1280)
	r2 = 8
	call 6
	r0 = 0
	exit

;; case tp_btf_trusted_argument_as_memory
;; type tracing
;; attach trace_raw_tp
;; target sched_switch
;; expect accept
	r1 = *(u64 *)(r1 + 16)
	r2 = 8
	call 6
	r0 = 0
	exit

;; case iter_meta_seq_is_trusted
;; type tracing
;; attach trace_iter
;; target task
;; expect accept
	r2 = *(u64 *)(r1 + 0)
	r1 = *(u64 *)(r2 + 0)
	r2 = 8
	call 6
	r0 = 0
	exit

;; case tp_btf_listed_nullable_argument_unchecked
;; type tracing
;; attach trace_raw_tp
;; target sched_pi_setprio
;; expect reject: R2 invalid mem access 'trusted_ptr_or_null_'
	r2 = *(u64 *)(r1 + 8)
	r0 = *(u32 *)(r2 + 1264)
	r0 = 0
	exit

;; case tp_btf_listed_nullable_argument_checked
;; type tracing
;; attach trace_raw_tp
;; target sched_pi_setprio
;; expect accept
	r2 = *(u64 *)(r1 + 8)
	if r2 == 0 goto out
	r0 = *(u32 *)(r2 + 1264)
out:
	r0 = 0
	exit

;; case tp_btf_other_argument_of_a_listed_tracepoint
;; type tracing
;; attach trace_raw_tp
;; target sched_pi_setprio
;; expect accept
	r2 = *(u64 *)(r1 + 0)
	r0 = *(u32 *)(r2 + 1264)
	r0 = 0
	exit
