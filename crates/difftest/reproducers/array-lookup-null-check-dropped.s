; Kernel bug (6.18): the verifier takes the key an atomic fetched from a stack slot for a
; constant, elides the array lookup's null check, and a pruned path has an out-of-range key.
; Found as a kernel oops (NULL store after the lookup, fuzz seed 604823 of the generator of
; commit 832bfc0); shrunk without ever running it in the kernel to this program, which does not
; dereference the pointer: the kernel returns 0 (check gone, r0 = NULL), RFC 9669 0x80000000.
; ctx (r1 points to it, 128 bytes): ffffffffffffffff0000000000000000ffffffff00000000794966c6354e85c9ffffffffffffffff6600000000000000dfffffffffffffff00000000000000800000000000000080ffffffffffffffff0000000000000080ffffffffffffffff0000000000000000ffffffff000000005b00000000000000ffffffffffffffff
; map 0: 00000000=00000000000000000100000000000000 01000000=4baf0ce9aceb8baa0000000000000000 02000000=2516fd772df570d40000008000000000 03000000=00000000000000004eaa0592923e42eb
; map 1: 03000000=3d9e4fda44b524760000008000000000
r9 = r1
r0 = 0x8c ll
r2 = -0x37267937ea96d955 ll
r3 = 0x35 ll
r4 = 0x619864c5eaf34471 ll
r5 = -0x45a36fc90671da8d ll
r6 = 0x1 ll
r7 = -0x1a21e402a2c5ab9e ll
r8 = -0x8000000000000000 ll
*(u64 *)(r10 - 0x8) = r0
*(u64 *)(r10 - 0x10) = r6
*(u64 *)(r10 - 0x18) = r8
*(u64 *)(r10 - 0x20) = r3
*(u64 *)(r10 - 0x28) = r3
*(u64 *)(r10 - 0x30) = r6
*(u64 *)(r10 - 0x38) = r2
*(u64 *)(r10 - 0x40) = r5
*(u64 *)(r10 - 0x48) = r0
*(u64 *)(r10 - 0x60) = r8
*(u64 *)(r10 - 0x58) = r2
may_goto +0x1
w3 = atomic_fetch_or((u32 *)(r10 - 0x40), w3)
r3 = r2
may_goto +0x1
r3 = atomic_fetch_add((u64 *)(r10 - 0x40), r3)
r1 = r3
r1 &= 0x7
*(u32 *)(r10 - 0x48) = r1
ld_pseudo r1, 0x5, 0x0
r2 = r10
r2 += -0x48
call 0x1
if r0 == 0x0 goto +0x1
goto +0x1
r0 = -0x80000000
r2 = r10
exit
