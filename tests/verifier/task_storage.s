# Task local storage and the current task as a BTF object
# (bpf_get_current_task_btf, bpf_task_storage_get, bpf_task_storage_delete;
# kernel/bpf/bpf_task_storage.c, check_map_func_compatibility,
# ARG_PTR_TO_BTF_ID[_OR_NULL], ARG_PTR_TO_MAP_VALUE_OR_NULL). task_struct
# offsets (pid 1264, mm 1136, size 3264) are this machine's kernel's (6.18,
# x86-64), as in btf_ctx.s.

;; case current_task_storage_counter
;; type kprobe
;; map store task_storage key=4 value=8 max=0 flags=1
;; expect accept
	call 158
	r2 = r0
	ld_pseudo r1, 5, 0
	r3 = 0
	r4 = 1
	call 156
	if r0 == 0 goto out
	r1 = *(u64 *)(r0 + 0)
	r1 += 1
	*(u64 *)(r0 + 0) = r1
out:
	r0 = 0
	exit

;; case storage_value_used_without_null_check
;; type kprobe
;; map store task_storage key=4 value=8 max=0 flags=1
;; expect reject: R0 invalid mem access 'map_value_or_null'
	call 158
	r2 = r0
	ld_pseudo r1, 5, 0
	r3 = 0
	r4 = 1
	call 156
	r1 = *(u64 *)(r0 + 0)
	r0 = 0
	exit

;; case storage_value_read_past_its_end
;; type kprobe
;; map store task_storage key=4 value=8 max=0 flags=1
;; expect reject: R0 min value is outside of the allowed memory range
;; detail invalid access to map value, value_size=8 off=8 size=8
	call 158
	r2 = r0
	ld_pseudo r1, 5, 0
	r3 = 0
	r4 = 1
	call 156
	if r0 == 0 goto out
	r1 = *(u64 *)(r0 + 8)
out:
	r0 = 0
	exit

;; case storage_get_null_task
;; type kprobe
;; map store task_storage key=4 value=8 max=0 flags=1
;; expect accept
	ld_pseudo r1, 5, 0
	r2 = 0
	r3 = 0
	r4 = 0
	call 156
	r0 = 0
	exit

;; case storage_get_number_as_task
;; type kprobe
;; map store task_storage key=4 value=8 max=0 flags=1
;; expect reject: R2 type=scalar expected=ptr_, trusted_ptr_, rcu_ptr_
	ld_pseudo r1, 5, 0
	r2 = 1
	r3 = 0
	r4 = 0
	call 156
	r0 = 0
	exit

;; case storage_get_old_current_task_is_a_number
;; type kprobe
;; map store task_storage key=4 value=8 max=0 flags=1
;; expect reject: R2 type=scalar expected=ptr_, trusted_ptr_, rcu_ptr_
	call 35
	r2 = r0
	ld_pseudo r1, 5, 0
	r3 = 0
	r4 = 0
	call 156
	r0 = 0
	exit

;; case storage_get_initial_value_from_stack
;; type kprobe
;; map store task_storage key=4 value=8 max=0 flags=1
;; expect accept
	r1 = 7
	*(u64 *)(r10 - 8) = r1
	call 158
	r2 = r0
	ld_pseudo r1, 5, 0
	r3 = r10
	r3 += -8
	r4 = 1
	call 156
	r0 = 0
	exit

;; case storage_get_initial_value_past_the_frame
;; type kprobe
;; map store task_storage key=4 value=8 max=0 flags=1
;; expect reject: invalid read from stack R3 off=-4 size=8
	call 158
	r2 = r0
	ld_pseudo r1, 5, 0
	r3 = r10
	r3 += -4
	r4 = 1
	call 156
	r0 = 0
	exit

;; case storage_get_initial_value_a_number
;; type kprobe
;; map store task_storage key=4 value=8 max=0 flags=1
;; expect reject: R3 type=scalar expected=fp, pkt, pkt_meta, map_key, map_value, mem, ringbuf_mem, buf, trusted_ptr_
	call 158
	r2 = r0
	ld_pseudo r1, 5, 0
	r3 = 8
	r4 = 1
	call 156
	r0 = 0
	exit

;; case storage_map_passed_to_map_lookup
;; type kprobe
;; map store task_storage key=4 value=8 max=0 flags=1
;; expect reject: cannot pass map_type 29 into func bpf_map_lookup_elem#1
	r1 = 0
	*(u32 *)(r10 - 4) = r1
	ld_pseudo r1, 5, 0
	r2 = r10
	r2 += -4
	call 1
	r0 = 0
	exit

;; case storage_get_of_a_hash_map
;; type kprobe
;; map values hash key=4 value=8 max=4
;; expect reject: cannot pass map_type 1 into func bpf_task_storage_get#156
	call 158
	r2 = r0
	ld_pseudo r1, 5, 0
	r3 = 0
	r4 = 0
	call 156
	r0 = 0
	exit

;; case storage_delete_current_task
;; type kprobe
;; map store task_storage key=4 value=8 max=0 flags=1
;; expect accept
	call 158
	r2 = r0
	ld_pseudo r1, 5, 0
	call 157
	r0 = 0
	exit

# bpf_task_storage_delete takes NULL too, and answers -EINVAL.
;; case storage_delete_null_task
;; type kprobe
;; map store task_storage key=4 value=8 max=0 flags=1
;; expect accept
	ld_pseudo r1, 5, 0
	r2 = 0
	call 157
	r0 = 0
	exit

;; case storage_in_a_socket_filter
;; type socket_filter
;; map store task_storage key=4 value=8 max=0 flags=1
;; expect accept
	call 158
	r2 = r0
	ld_pseudo r1, 5, 0
	r3 = 0
	r4 = 1
	call 156
	r0 = 0
	exit

;; case current_task_read_pid
;; type kprobe
;; expect accept
	call 158
	r0 = *(u32 *)(r0 + 1264)
	r0 = 0
	exit

;; case current_task_read_beyond_struct
;; type kprobe
;; expect reject: access beyond struct task_struct at off 9999 size 8
	call 158
	r0 = *(u64 *)(r0 + 9999)
	r0 = 0
	exit

;; case current_task_write
;; type kprobe
;; expect reject: only read is supported
	call 158
	r1 = 1
	*(u32 *)(r0 + 1264) = r1
	r0 = 0
	exit

;; case current_task_is_not_null
;; type kprobe
;; expect accept
	call 158
	if r0 != 0 goto out
	r0 = *(u64 *)(r10 - 8)
out:
	r0 = 0
	exit

;; case tp_btf_prev_task_storage
;; type tracing
;; attach trace_raw_tp
;; target sched_switch
;; map store task_storage key=4 value=8 max=0 flags=1
;; expect accept
	r2 = *(u64 *)(r1 + 8)
	ld_pseudo r1, 5, 0
	r3 = 0
	r4 = 1
	call 156
	r0 = 0
	exit

# task->mm is not one of the fields the kernel trusts.
;; case tp_btf_walked_mm_is_untrusted
;; type tracing
;; attach trace_raw_tp
;; target sched_switch
;; map store task_storage key=4 value=8 max=0 flags=1
;; expect reject: R2 type=untrusted_ptr_ expected=ptr_, trusted_ptr_, rcu_ptr_
	r2 = *(u64 *)(r1 + 8)
	r2 = *(u64 *)(r2 + 1136)
	ld_pseudo r1, 5, 0
	r3 = 0
	r4 = 1
	call 156
	r0 = 0
	exit

;; case get_task_stack_of_current_task
;; type kprobe
;; expect accept
	call 158
	r1 = r0
	r2 = r10
	r2 += -64
	r3 = 64
	r4 = 0
	call 141
	r0 = 0
	exit

;; case get_task_stack_of_a_number
;; type kprobe
;; expect reject: R1 type=scalar expected=ptr_, trusted_ptr_, rcu_ptr_
	call 35
	r1 = r0
	r2 = r10
	r2 += -64
	r3 = 64
	r4 = 0
	call 141
	r0 = 0
	exit

;; case get_task_stack_buffer_past_the_frame
;; type kprobe
;; expect reject: invalid write to stack R2 off=-64 size=128
	call 158
	r1 = r0
	r2 = r10
	r2 += -64
	r3 = 128
	r4 = 0
	call 141
	r0 = 0
	exit

# Cgroup local storage (kernel/bpf/bpf_cgrp_storage.c), on the cgroup a
# tp_btf/cgroup_mkdir program gets as its first argument.
;; case cgroup_mkdir_cgrp_storage_counter
;; type tracing
;; attach trace_raw_tp
;; target cgroup_mkdir
;; map cgroups cgrp_storage key=4 value=8 max=0 flags=1
;; expect accept
	r2 = *(u64 *)(r1 + 0)
	ld_pseudo r1, 5, 0
	r3 = 0
	r4 = 1
	call 210
	if r0 == 0 goto out
	r1 = *(u64 *)(r0 + 0)
	r1 += 1
	*(u64 *)(r0 + 0) = r1
out:
	r0 = 0
	exit

;; case cgrp_storage_of_the_current_task
;; type kprobe
;; map cgroups cgrp_storage key=4 value=8 max=0 flags=1
;; expect reject: R2 is of type task_struct but cgroup is expected
	call 158
	r2 = r0
	ld_pseudo r1, 5, 0
	r3 = 0
	r4 = 1
	call 210
	r0 = 0
	exit

;; case cgrp_storage_delete_null
;; type kprobe
;; map cgroups cgrp_storage key=4 value=8 max=0 flags=1
;; expect accept
	ld_pseudo r1, 5, 0
	r2 = 0
	call 211
	r0 = 0
	exit

;; case cgrp_storage_map_given_to_task_storage_get
;; type kprobe
;; map cgroups cgrp_storage key=4 value=8 max=0 flags=1
;; expect reject: cannot pass map_type 32 into func bpf_task_storage_get#156
	call 158
	r2 = r0
	ld_pseudo r1, 5, 0
	r3 = 0
	r4 = 1
	call 156
	r0 = 0
	exit
