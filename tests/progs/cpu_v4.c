// SPDX-License-Identifier: GPL-2.0
/*
 * Instructions that only -mcpu=v4 emits: sign-extending loads (LDSX),
 * sign-extending moves (MOVSX), signed division and modulo (SDIV/SMOD),
 * unconditional byte swaps (BSWAP) and the 32-bit-offset jump (JA with imm,
 * `gotol`, emitted here from inline assembly because clang only picks it
 * for jumps beyond +-32767 instructions).
 *
 * Covers: insn:ldsx, insn:movsx, insn:sdiv, insn:bswap, insn:gotol,
 * bpf_ntohl/bpf_htons lowering to bswap under v4, SEC("xdp").
 *
 * Expected for an XDP test-run of a frame whose bytes 14..17 are
 * 0xfe 0xff 0x80 0x7f and byte 18 is 0x81: returns XDP_PASS (2);
 * s8_byte = -2, s16_half = -2 (bytes fe ff, little-endian), s32_word =
 * 0x7f80fffe,
 * movsx_byte = -127 (0x81 as s8), quotient = -7 / 2 = -3, modulo = -1,
 * swapped = bpf_ntohl(0x7f80fffe) = 0xfeff807f, gotol_ran = 1.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

__s64 s8_byte;
__s64 s16_half;
__s64 s32_word;
__s64 movsx_byte;
__s64 quotient;
__s64 modulo;
__u32 swapped;
__u32 gotol_ran;
volatile __s64 dividend = -7;
volatile __s64 divisor = 2;

SEC("xdp")
int xdp_cpu_v4(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u8 *p = data + 14;
	__u8 raw;

	if ((void *)(p + 5) > data_end)
		return XDP_PASS;
	s8_byte = *(__s8 *)p;
	s16_half = *(__s16 *)p;
	s32_word = *(__s32 *)p;
	raw = p[4];
	/* Keep the byte in a register, then sign-extend it: MOVSX. */
	asm volatile("" : "+r"(raw));
	movsx_byte = (__s8)raw;
	quotient = dividend / divisor;
	modulo = dividend % divisor;
	swapped = bpf_ntohl(*(__u32 *)p);
	asm volatile("gotol +0" ::: "memory");
	gotol_ran = 1;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
