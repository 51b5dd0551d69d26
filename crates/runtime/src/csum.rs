//! Ones' complement checksum arithmetic as the kernel computes it on
//! x86-64 (`include/net/checksum.h`, `arch/x86/lib/csum-partial_64.c`),
//! on values as a little-endian load of network-order bytes gives them,
//! and the `skb->ip_summed`/`skb->csum` state the skb helpers keep.

/// `csum_add`: 32-bit ones' complement addition.
pub(crate) fn csum_add(a: u32, b: u32) -> u32 {
    let sum = a.wrapping_add(b);
    sum.wrapping_add(u32::from(sum < b))
}

/// `csum_sub`.
pub(crate) fn csum_sub(a: u32, b: u32) -> u32 {
    csum_add(a, !b)
}

/// `csum_fold`: the 16-bit checksum of a 32-bit partial sum.
pub(crate) fn csum_fold(csum: u32) -> u16 {
    let mut sum = (csum & 0xffff) + (csum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    !(sum as u16)
}

/// `csum_block_add`: adds the partial sum of a block that starts at
/// `offset` (an odd offset swaps its bytes into place).
pub(crate) fn csum_block_add(csum: u32, block: u32, offset: usize) -> u32 {
    let block = if offset & 1 == 1 {
        block.rotate_right(8)
    } else {
        block
    };
    csum_add(csum, block)
}

/// `csum_block_sub`.
pub(crate) fn csum_block_sub(csum: u32, block: u32, offset: usize) -> u32 {
    csum_block_add(csum, !block, offset)
}

/// x86-64's `csum_partial(buff, len, sum)` for a buffer whose address is
/// odd when `odd_address`: 64-bit little-endian words summed with carries,
/// folded to 32 bits.
pub(crate) fn csum_partial(bytes: &[u8], sum: u32, odd_address: bool) -> u32 {
    let mut acc = u64::from(sum);
    let mut rest = bytes;
    let add = |acc: u64, word: u64| {
        let (total, carry) = acc.overflowing_add(word);
        total + u64::from(carry)
    };
    if odd_address {
        let Some((first, tail)) = rest.split_first() else {
            return sum;
        };
        acc = add(u64::from(sum.rotate_right(8)), u64::from(*first) << 8);
        rest = tail;
    }
    let mut words = rest.chunks_exact(8);
    for word in &mut words {
        let mut le = [0u8; 8];
        le.copy_from_slice(word);
        acc = add(acc, u64::from_le_bytes(le));
    }
    let tail = words.remainder();
    if !tail.is_empty() {
        let mut le = [0u8; 8];
        le[..tail.len()].copy_from_slice(tail);
        acc = add(acc, u64::from_le_bytes(le));
    }
    let mut result = csum_add((acc >> 32) as u32, acc as u32);
    if odd_address {
        let folded = (result & 0xffff) + (result >> 16);
        let folded = (folded & 0xffff) + (folded >> 16);
        result = ((folded >> 8) & 0xff) | ((folded & 0xff) << 8);
    }
    result
}

/// `skb->ip_summed` with what goes with it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum IpSummed {
    /// `CHECKSUM_NONE`: test-run's default.
    #[default]
    None,
    /// `CHECKSUM_UNNECESSARY` at `csum_level`.
    Unnecessary(u8),
    /// `CHECKSUM_COMPLETE` (`BPF_F_TEST_SKB_CHECKSUM_COMPLETE`).
    Complete,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_sums_fold_to_the_rfc_1071_checksum() {
        // RFC 1071's example: the bytes 00 01 f2 03 f4 f5 f6 f7 sum to ddf2.
        let example = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(
            u16::from_be(!csum_fold(csum_partial(&example, 0, false))),
            0xddf2
        );
        // Odd lengths sum as if padded with a zero byte.
        let data: Vec<u8> = (0..61u8)
            .map(|i| i.wrapping_mul(37).wrapping_add(5))
            .collect();
        for len in [1, 3, 7, 9, 61] {
            let mut padded = data[..len].to_vec();
            padded.push(0);
            assert_eq!(
                csum_fold(csum_partial(&data[..len], 0, false)),
                csum_fold(csum_partial(&padded, 0, false)),
                "len {len}"
            );
        }
        // A block at an odd offset, placed with csum_block_add, sums like
        // the whole buffer.
        let whole = csum_partial(&data, 0, false);
        let head = csum_partial(&data[..7], 0, false);
        let tail = csum_partial(&data[7..], 0, true);
        assert_eq!(csum_fold(csum_block_add(head, tail, 7)), csum_fold(whole));
    }
}
