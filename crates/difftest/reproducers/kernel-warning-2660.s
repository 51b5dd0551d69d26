; apiary fuzz diff, seed 2660: run as a BPF_PROG_TYPE_SYSCALL program
; ctx (r1 points to it, 128 bytes): a3ffffffffffffff0100000000000000ffffffffffffffff3b000000000000000000000000000000ffffffff0000000000000000000000800000008000000000ffffffff00000000000000000000000000000000000000808bfc7ce8ea65b6f52aa609c41b730883ffffffffffffffff00000080000000000000000000000000
; map 0: 00000000=01000000000000000000000000000000 01000000=ffffffff000000008c3364cbec4b81cf 02000000=70000000000000008fffffffffffffff 03000000=01000000000000000000000000000080
; map 1: 02000000=00000000000000800000000000000000 05000000=ffffffffffffffff0000000000000000
; map 2: 01000000=ffffffff00000000f6b17fe993384c49 03000000=ffffffffffffffff0000000000000000
; shrunk while the verifier's log (log_level 2) still says: verifier bug: REG INVARIANTS VIOLATION (true_reg1)
; the kernel logged, loading seed 2660's program:
; kmsg: ------------[ cut here ]------------
; kmsg: verifier bug: REG INVARIANTS VIOLATION (true_reg1): range bounds violation u64=[0x7fffffff, 0xffffffff7ffffffe] s64=[0x800000007fffffff, 0x7fffffff7ffffffe] u32=[0x7fffffff, 0x7ffffffe] s32=[0x7fffffff, 0x7ffffffe] var_off=(0x7fffffff, 0xffffffff00000000)
; kmsg: WARNING: CPU: 1 PID: 20419 at kernel/bpf/verifier.c:2809 reg_bounds_sanity_check+0x17b/0x230
; kmsg: CPU: 1 UID: 0 PID: 20419 Comm: scan Not tainted 6.18.44-fc-v1300 #1 PREEMPT(none) 
; kmsg: RIP: 0010:reg_bounds_sanity_check+0x17b/0x230
; kmsg: Code: ff c6 05 97 14 b3 01 01 48 c7 c7 c8 44 7a 82 41 57 41 53 41 56 41 55 56 52 4c 89 d2 50 48 8b 75 c8 4c 89 55 c0 e8 75 a0 e6 ff <0f> 0b 4c 8b 7b 20 4c 8b 5b 18 48 83 c4 38 44 8b 73 4c 44 8b 6b 48
; kmsg: RSP: 0018:ffffc90008667770 EFLAGS: 00010246
; kmsg: RAX: 0000000000000000 RBX: ffff888104924380 RCX: 0000000000000000
; kmsg: RDX: 0000000000000000 RSI: 0000000000000000 RDI: 0000000000000000
; kmsg: RBP: ffffc900086677e8 R08: 0000000000000000 R09: 0000000000000000
; kmsg: R10: 0000000000000000 R11: 0000000000000000 R12: ffff88857be30000
; kmsg: R13: 000000007fffffff R14: 000000007ffffffe R15: ffffffff00000000
; kmsg: FS:  00007f9b1caf56c0(0000) GS:ffff8886a4417000(0000) knlGS:0000000000000000
; kmsg: CS:  0010 DS: 0000 ES: 0000 CR0: 0000000080050033
; kmsg: CR2: 00007f9b1c8f4000 CR3: 0000000620634003 CR4: 0000000000370eb0
; kmsg: Call Trace:
; kmsg:  <TASK>
; kmsg:  reg_set_min_max+0x107/0x210
; kmsg:  check_cond_jmp_op+0x6bb/0x1770
; kmsg:  ? verbose+0xa9/0xb0
; kmsg:  ? do_check_common+0x26b9/0x2f60
; kmsg:  ? srso_alias_return_thunk+0x5/0xfbef5
; kmsg:  do_check_common+0x26b9/0x2f60
; kmsg:  ? __pfx_verbose+0x10/0x10
; kmsg:  ? __pfx_disasm_kfunc_name+0x10/0x10
; kmsg:  bpf_check+0x289c/0x3000
; kmsg:  ? srso_alias_return_thunk+0x5/0xfbef5
; kmsg:  ? pcpu_alloc_area+0x18a/0x280
; kmsg:  ? pcpu_alloc_noprof+0x512/0x8d0
; kmsg:  bpf_prog_load+0x713/0x1110
; kmsg:  ? __memcg_slab_free_hook+0xcf/0x140
; kmsg:  ? srso_alias_return_thunk+0x5/0xfbef5
; kmsg:  ? devkmsg_read+0xc5/0x240
; kmsg:  0xffffffffc0022b49
; kmsg:  ? srso_alias_return_thunk+0x5/0xfbef5
; kmsg:  ? __x64_sys_fcntl+0x9d/0x120
; kmsg:  bpf_prog_load+0x5/0x1110
; kmsg:  __sys_bpf+0x498/0x28b0
; kmsg:  ? ksys_read+0xd1/0xf0
; kmsg:  ? srso_alias_return_thunk+0x5/0xfbef5
; kmsg:  ? __slab_free+0x102/0x330
; kmsg:  __x64_sys_bpf+0x21/0xb0
; kmsg:  do_syscall_64+0x71/0x290
; kmsg:  ? srso_alias_return_thunk+0x5/0xfbef5
; kmsg:  ? __rseq_handle_notify_resume+0xa2/0x490
; kmsg:  ? srso_alias_return_thunk+0x5/0xfbef5
; kmsg:  ? srso_alias_return_thunk+0x5/0xfbef5
; kmsg:  ? irqentry_exit_to_user_mode+0x175/0x1b0
; kmsg:  entry_SYSCALL_64_after_hwframe+0x76/0x7e
; kmsg: RIP: 0033:0x7f9b1cbfa829
; kmsg: Code: 08 89 e8 5b 5d c3 66 2e 0f 1f 84 00 00 00 00 00 90 48 89 f8 48 89 f7 48 89 d6 48 89 ca 4d 89 c2 4d 89 c8 4c 8b 4c 24 08 0f 05 <48> 3d 01 f0 ff ff 73 01 c3 48 8b 0d a7 15 0d 00 f7 d8 64 89 01 48
; kmsg: RSP: 002b:00007f9b1caf2c48 EFLAGS: 00000206 ORIG_RAX: 0000000000000141
; kmsg: RAX: ffffffffffffffda RBX: 0000000000000000 RCX: 00007f9b1cbfa829
; kmsg: RDX: 0000000000000098 RSI: 00007f9b1caf2d20 RDI: 0000000000000005
; kmsg: RBP: 0000000000000010 R08: 0000000000000000 R09: 00007f9b18027480
; kmsg: R10: 0000000000000000 R11: 0000000000000206 R12: 000000000000001f
; kmsg: R13: 7fffffffffffffff R14: 0000000000000000 R15: 0000000000000000
; kmsg:  </TASK>
; kmsg: ---[ end trace 0000000000000000 ]---
r9 = r1
r0 = 0xffffffff ll
r2 = 0x5074253380517169 ll
r3 = 0x1 ll
r4 = -0x2dbc303e252959be ll
r5 = 0xea ll
r6 = -0x8000000000000000 ll
r7 = -0x1 ll
r8 = -0x1 ll
*(u64 *)(r10 - 0x8) = r6
*(u64 *)(r10 - 0x10) = r8
*(u64 *)(r10 - 0x18) = r2
*(u64 *)(r10 - 0x20) = r5
*(u64 *)(r10 - 0x28) = r4
*(u64 *)(r10 - 0x30) = r0
*(u64 *)(r10 - 0x38) = r2
*(u64 *)(r10 - 0x40) = r6
*(u64 *)(r10 - 0x48) = r7
*(u64 *)(r10 - 0x60) = r8
*(u64 *)(r10 - 0x58) = r3
r2 = r10
r2 += -0x48
r8 ^= -0x80000000
ld_pseudo r1, 0x5, 0x1
call 0x3
r7 = (s32)r0
r8 |= r7
if w8 s> w8 goto +0x0
exit
