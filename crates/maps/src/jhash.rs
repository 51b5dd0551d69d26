//! Bob Jenkins' lookup3 hash as the kernel's `<linux/jhash.h>` computes it,
//! so bucket order (and with it `get_next_key` order) can match the kernel
//! bit for bit when a map is created with `BPF_F_ZERO_SEED`.

const JHASH_INITVAL: u32 = 0xdead_beef;

#[inline(always)]
fn mix(a: &mut u32, b: &mut u32, c: &mut u32) {
    *a = a.wrapping_sub(*c);
    *a ^= c.rotate_left(4);
    *c = c.wrapping_add(*b);
    *b = b.wrapping_sub(*a);
    *b ^= a.rotate_left(6);
    *a = a.wrapping_add(*c);
    *c = c.wrapping_sub(*b);
    *c ^= b.rotate_left(8);
    *b = b.wrapping_add(*a);
    *a = a.wrapping_sub(*c);
    *a ^= c.rotate_left(16);
    *c = c.wrapping_add(*b);
    *b = b.wrapping_sub(*a);
    *b ^= a.rotate_left(19);
    *a = a.wrapping_add(*c);
    *c = c.wrapping_sub(*b);
    *c ^= b.rotate_left(4);
    *b = b.wrapping_add(*a);
}

#[inline(always)]
fn final_mix(a: &mut u32, b: &mut u32, c: &mut u32) {
    *c ^= *b;
    *c = c.wrapping_sub(b.rotate_left(14));
    *a ^= *c;
    *a = a.wrapping_sub(c.rotate_left(11));
    *b ^= *a;
    *b = b.wrapping_sub(a.rotate_left(25));
    *c ^= *b;
    *c = c.wrapping_sub(b.rotate_left(16));
    *a ^= *c;
    *a = a.wrapping_sub(c.rotate_left(4));
    *b ^= *a;
    *b = b.wrapping_sub(a.rotate_left(14));
    *c ^= *b;
    *c = c.wrapping_sub(b.rotate_left(24));
}

fn word(bytes: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    if let Some(src) = bytes.get(at..at + 4) {
        w.copy_from_slice(src);
    }
    u32::from_le_bytes(w)
}

/// `jhash(key, length, initval)` over arbitrary bytes.
pub fn jhash(key: &[u8], initval: u32) -> u32 {
    let init = JHASH_INITVAL
        .wrapping_add(key.len() as u32)
        .wrapping_add(initval);
    let (mut a, mut b, mut c) = (init, init, init);
    let mut rest = key;
    while rest.len() > 12 {
        a = a.wrapping_add(word(rest, 0));
        b = b.wrapping_add(word(rest, 4));
        c = c.wrapping_add(word(rest, 8));
        mix(&mut a, &mut b, &mut c);
        rest = &rest[12..];
    }
    if rest.is_empty() {
        return c;
    }
    let mut tail = [0u8; 12];
    tail[..rest.len()].copy_from_slice(rest);
    a = a.wrapping_add(word(&tail, 0));
    b = b.wrapping_add(word(&tail, 4));
    c = c.wrapping_add(word(&tail, 8));
    final_mix(&mut a, &mut b, &mut c);
    c
}

/// `jhash2(words, length / 4, initval)`: the kernel's choice for keys whose
/// length is a multiple of four.
pub fn jhash2(key: &[u8], initval: u32) -> u32 {
    let words = key.len() / 4;
    let init = JHASH_INITVAL
        .wrapping_add((words as u32) << 2)
        .wrapping_add(initval);
    let (mut a, mut b, mut c) = (init, init, init);
    let mut i = 0;
    let mut left = words;
    while left > 3 {
        a = a.wrapping_add(word(key, i));
        b = b.wrapping_add(word(key, i + 4));
        c = c.wrapping_add(word(key, i + 8));
        mix(&mut a, &mut b, &mut c);
        left -= 3;
        i += 12;
    }
    if left == 0 {
        return c;
    }
    if left >= 3 {
        c = c.wrapping_add(word(key, i + 8));
    }
    if left >= 2 {
        b = b.wrapping_add(word(key, i + 4));
    }
    a = a.wrapping_add(word(key, i));
    final_mix(&mut a, &mut b, &mut c);
    c
}

/// The kernel's `htab_map_hash`: `jhash2` for word-multiple keys, else `jhash`.
pub fn htab_hash(key: &[u8], seed: u32) -> u32 {
    if key.len().is_multiple_of(4) {
        jhash2(key, seed)
    } else {
        jhash(key, seed)
    }
}

/// A per-map random seed, as the kernel's `get_random_u32()`.
pub(crate) fn random_seed() -> u32 {
    let mut buf = [0u8; 4];
    // SAFETY: getrandom writes at most buf.len() bytes into buf.
    let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n == 4 {
        u32::from_ne_bytes(buf)
    } else {
        // getrandom cannot fail for 4 bytes after boot; fall back to ASLR entropy.
        (&buf as *const _ as usize as u64 >> 4) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference values of lookup3 (Bob Jenkins' published test vectors for
    /// `hashlittle`, which is what the kernel's jhash computes on little endian).
    #[test]
    fn matches_lookup3_vectors() {
        assert_eq!(jhash(b"", 0), 0xdeadbeef);
        assert_eq!(jhash(b"", 0xdeadbeef), 0xbd5b7dde);
        assert_eq!(jhash(b"Four score and seven years ago", 0), 0x17770551);
        assert_eq!(jhash(b"Four score and seven years ago", 1), 0xcd628161);
    }

    #[test]
    fn jhash2_equals_jhash_on_word_multiples() {
        // jhash2 and jhash agree for whole words: both mix 12-byte blocks and
        // finish the same way. (Their initial values both add the byte length.)
        for len in [4usize, 8, 12, 16, 20, 24, 36] {
            let key: Vec<u8> = (0..len as u8).map(|b| b.wrapping_mul(37)).collect();
            assert_eq!(jhash2(&key, 7), jhash(&key, 7), "len {len}");
        }
    }
}
