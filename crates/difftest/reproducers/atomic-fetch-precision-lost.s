; Kernel bug (6.18): the verifier takes the value an atomic cmpxchg fetched from a
; stack slot as the slot's known constant but does not mark the slot precise,
; prunes the path where the slot holds another constant and deletes the code
; only that path reaches (see ../kernel-divergences.txt).
; run as a BPF_PROG_TYPE_SYSCALL program
; ctx (r1 points to it, 16 bytes): 0000000000000000ffffffffffffffff
; RFC 9669: r0 = 0x0, ctx = 00000000000000003e00000000000000
; Linux 6.18.44: r0 = 0x0, ctx = 00000000000000000000000000000000
r9 = r1
r0 = 0x0
r5 = 0xffffffff ll
r3 = -0x8000000000000000 ll
*(u64 *)(r10 - 0x40) = r3
r4 = 0x3e
r1 = 0x6
r3 = *(s8 *)(r9 + 0x0)
if w3 s>= -0x1 goto +0x1
*(u64 *)(r10 - 0x40) = -0x80000000
r1 -= 0x1
if r1 != 0x0 goto -0x2
r0 = cmpxchg_64(r10 - 0x40, r0, r5)
if w0 >= 0x1 goto +0x1
w3 = (s8)w4
*(u64 *)(r9 + 0x8) = r3
r0 = 0x0
exit
