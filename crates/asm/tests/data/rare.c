// Rare eBPF instructions for the llvm-objdump agreement test
// (tests/llvm_objdump.rs compiles this with clang-19 -target bpf -mcpu=v4).
// Encodings clang's assembler cannot spell are written as raw `.quad` slots.

__attribute__((section("tc"), used)) int rare(void *ctx)
{
	asm volatile(
		"r0 = -r0\n w1 = -w1\n"
		"r0 = be16 r0\n r0 = be32 r0\n r1 = be64 r1\n"
		"r0 = le16 r0\n r0 = le32 r0\n r0 = le64 r0\n"
		"r0 = bswap16 r0\n r0 = bswap32 r0\n r0 = bswap64 r0\n"
		"r0 = *(u8 *)skb[23]\n r0 = *(u16 *)skb[-1]\n r0 = *(u32 *)skb[0x7fffffff]\n"
		"r0 = *(u8 *)skb[r1]\n r0 = *(u16 *)skb[r1]\n r0 = *(u32 *)skb[r2]\n"
		"lock *(u64 *)(r0 + 0) += r6\n lock *(u32 *)(r0 + 8) += w6\n"
		"lock *(u64 *)(r0 + 0) |= r6\n lock *(u64 *)(r0 + 0) &= r6\n lock *(u64 *)(r0 - 16) ^= r6\n"
		"lock *(u32 *)(r0 + 0) |= w6\n lock *(u32 *)(r0 + 0) &= w6\n lock *(u32 *)(r0 + 0) ^= w6\n"
		"r1 = atomic_fetch_add((u64 *)(r10 - 8), r1)\n w1 = atomic_fetch_add((u32 *)(r10 - 8), w1)\n"
		"r1 = atomic_fetch_or((u64 *)(r10 - 8), r1)\n w2 = atomic_fetch_or((u32 *)(r3 + 4), w2)\n"
		"r1 = atomic_fetch_and((u64 *)(r10 - 8), r1)\n w2 = atomic_fetch_and((u32 *)(r3 + 4), w2)\n"
		"r1 = atomic_fetch_xor((u64 *)(r10 - 8), r1)\n w2 = atomic_fetch_xor((u32 *)(r3 + 4), w2)\n"
		"r1 = xchg_64(r10 - 8, r1)\n w1 = xchg32_32(r10 - 8, w1)\n"
		"r0 = cmpxchg_64(r10 - 8, r0, r1)\n w0 = cmpxchg32_32(r10 - 8, w0, w1)\n"
		"r0 = (s8)r1\n r0 = (s16)r1\n r0 = (s32)r1\n w0 = (s8)w1\n w0 = (s16)w1\n"
		"r0 = *(s8 *)(r1 - 2)\n r0 = *(s16 *)(r1 + 2)\n r0 = *(s32 *)(r1 + 32767)\n"
		"r0 = *(u8 *)(r1 - 32768)\n r0 = *(u16 *)(r1 + 2)\n r0 = *(u32 *)(r1 + 2)\n r0 = *(u64 *)(r1 + 2)\n"
		"r1 s/= r2\n r1 s%%= r2\n w1 s/= w2\n w1 s%%= 3\n r1 s/= -3\n w1 s%%= w2\n"
		"w1 s>>= 3\n r1 s>>= r2\n w1 <<= w2\n r1 >>= 63\n w1 >>= w3\n r1 <<= 1\n"
		"r1 = 0x123456789abcdef0 ll\n r1 = -1 ll\n r2 = 0 ll\n"
		"*(u32 *)(r10 - 8) = 5\n *(u64 *)(r10 - 8) = -5\n *(u8 *)(r10 - 8) = 255\n *(u16 *)(r10 + 8) = -2\n"
		"*(u16 *)(r10 - 8) = w1\n *(u8 *)(r1 + 0) = r2\n *(u64 *)(r1 + 0) = r2\n"
		"r0 = 0xffffffff\n w0 = -1\n r0 = -2147483648\n r0 += -1\n w0 += 0x7fffffff\n w0 = w1\n"
		"r0 *= 3\n w0 /= 3\n r0 %%= r1\n w0 %%= 7\n r0 ^= 1\n w0 ^= w1\n r0 &= -1\n w0 &= 1\n"
		"r0 |= 8\n w0 |= w2\n r0 -= r1\n w0 -= 1\n r0 += r1\n w0 *= w1\n r0 /= r1\n"
		"if r1 > r2 goto +1\n if w1 s< 5 goto -3\n if r1 & 4 goto +1\n if w1 & w2 goto +1\n"
		"if r1 != -1 goto +0\n if r1 == 0 goto +1\n if r1 s<= r2 goto +1\n if w1 s>= -7 goto +2\n"
		"if r1 >= r2 goto +1\n if w1 < 5 goto +1\n if r1 <= 4 goto +1\n if w1 s> w2 goto +1\n"
		"if r1 s< r2 goto -1\n if w1 == w2 goto +1\n if w1 != 0 goto +1\n if r1 s> 9 goto +1\n"
		"goto +5\n gotol +3\n may_goto +3\n"
		"call 1\n callx r2\n"
		"r1 = addr_space_cast(r2, 1, 0)\n r3 = addr_space_cast(r3, 0, 1)\n"
		// gotol with an offset beyond 16 bits.
		".quad 0x000186a000000006\n"
		// ld_pseudo of every source: map fd, map value (offset 0 and 16), btf id, func, map idx, map idx value.
		".quad 0x0000000300001118\n .quad 0\n"
		".quad 0x0000000300002118\n .quad 0\n"
		".quad 0x0000000300002118\n .quad 0x0000001000000000\n"
		".quad 0x0000000300003118\n .quad 0\n"
		".quad 0xfffffffd00004118\n .quad 0\n"
		".quad 0x0000000300005118\n .quad 0\n"
		".quad 0x0000000300006118\n .quad 0\n"
		// kfunc calls (vmlinux and module 1) and local calls.
		".quad 0x0000001200002085\n"
		".quad 0x0000001200012085\n"
		".quad 0x0000000100001085\n"
		".quad 0xfffffffd00001085\n"
		// ld_ind with a non-zero immediate.
		".quad 0x0000000400001050\n"
		::: "memory");
	return 0;
}
