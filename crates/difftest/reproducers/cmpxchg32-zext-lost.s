; Kernel bug (6.18, x86-64): no zero extension after a successful 32-bit cmpxchg whose
; 64-bit use of r0 lies behind a pruned verifier state (see ../kernel-divergences.txt).
; run as a BPF_PROG_TYPE_SYSCALL program
; ctx (r1 points to it, 8 bytes): 0000000000000000
; RFC 9669: ctx = 0500000000000000
; Linux 6.18.44 (x86-64 JIT): ctx = 05000000efbeadde
r9 = r1
r0 = 0xdeadbeef00000005 ll
r2 = 0x5
*(u64 *)(r10 - 0x8) = r2
r1 = 0x7
r3 = *(u32 *)(r9 + 0x0)
if r3 > 0x64 goto +0x0
r5 = 0x0
r5 = 0x0
r5 = 0x0
if r3 > 0x64 goto +0x0
r5 = 0x0
r5 = 0x0
r5 = 0x0
if r3 > 0x64 goto +0x0
r5 = 0x0
r5 = 0x0
r5 = 0x0
w0 = cmpxchg32_32(r10 - 0x8, w0, w1)
if r3 == 0x0 goto +0x1
r0 = 0x1
*(u64 *)(r9 + 0x0) = r0
r0 = 0x0
exit
