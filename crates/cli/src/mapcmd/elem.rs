//! bpftool's element grammar: `key [hex] BYTES`, `value [hex] BYTES` and
//! the update flags, with its `strtoul` number rules and error messages.

use super::{Failure, MapView, is_prefix};
use apiary_maps::{BPF_ANY, BPF_EXIST, BPF_NOEXIST};

/// What `parse_elem` collected.
#[derive(Default)]
pub(super) struct Elem {
    pub(super) key: Option<Vec<u8>>,
    pub(super) value: Option<Vec<u8>>,
    pub(super) flags: Option<u64>,
}

/// Which parts a command takes (bpftool passes NULL for the others).
pub(super) struct Wanted {
    pub(super) key: bool,
    pub(super) value: bool,
    pub(super) flags: bool,
}

/// bpftool's `parse_elem`: `[key [hex] BYTES] [value [hex] BYTES] [any|exist|noexist]`
/// in any order, each at most once, with its error messages.
pub(super) fn parse_elem(
    view: &MapView<'_>,
    words: &[&str],
    wanted: &Wanted,
) -> Result<Elem, Failure> {
    let (ks, vs) = (view.key_size(), view.value_size());
    let mut elem = Elem::default();
    let mut rest = words;
    loop {
        let need_key = wanted.key && elem.key.is_none();
        let need_value = wanted.value && elem.value.is_none();
        let Some((&word, tail)) = rest.split_first() else {
            if !need_key && !need_value {
                return Ok(elem);
            }
            let missing = if need_key { "key" } else { "value" };
            return Err(format!("did not find {missing}").into());
        };
        if is_prefix(word, "key") {
            if !need_key {
                let problem = if wanted.key {
                    "duplicate key"
                } else {
                    "unnecessary key"
                };
                return Err(problem.into());
            }
            let (bytes, after) = parse_bytes(tail, "key", ks)?;
            elem.key = Some(bytes);
            rest = after;
        } else if is_prefix(word, "value") {
            if !need_value {
                let problem = if wanted.value {
                    "duplicate value"
                } else {
                    "unnecessary value"
                };
                return Err(problem.into());
            }
            if view.fd_map() {
                return Err("apiary pinned maps of maps and program arrays hold ids of this process only; their values cannot be set from the command line".into());
            }
            let (bytes, after) = parse_bytes(tail, "value", vs)?;
            elem.value = Some(bytes);
            rest = after;
        } else if ["any", "noexist", "exist"]
            .iter()
            .any(|f| is_prefix(word, f))
        {
            if !wanted.flags || elem.flags.is_some() {
                return Err(format!("flags specified multiple times: {word}").into());
            }
            elem.flags = Some(if is_prefix(word, "any") {
                BPF_ANY
            } else if is_prefix(word, "noexist") {
                BPF_NOEXIST
            } else {
                BPF_EXIST
            });
            rest = tail;
        } else {
            return Err(format!("expected key or value, got: {word}").into());
        }
    }
}

/// bpftool's `parse_bytes`: `n` bytes, `strtoul` base 0 (decimal, `0x` hex,
/// `0` octal) or 16 after `hex`.
fn parse_bytes<'a>(
    words: &'a [&'a str],
    name: &str,
    n: usize,
) -> Result<(Vec<u8>, &'a [&'a str]), Failure> {
    let (base, words) = match words.split_first() {
        Some((first, rest)) if is_prefix(first, "hex") => (16, rest),
        _ => (0, words),
    };
    let mut bytes = Vec::with_capacity(n.min(words.len()));
    for word in words.iter().take(n) {
        let value = strtoul(word, base).ok_or_else(|| format!("error parsing byte: {word}"))?;
        bytes.push(value as u8);
    }
    if bytes.len() != n {
        return Err(format!("{name} expected {n} bytes got {}", bytes.len()).into());
    }
    Ok((bytes, words.get(n..).unwrap_or(&[])))
}

/// C's `strtoul(text, &end, base)` requiring `*end == '\0'`: leading
/// whitespace, a sign, the base prefix; out of range saturates; no digits
/// parses as 0 only when nothing follows.
pub(super) fn strtoul(text: &str, base: u32) -> Option<u64> {
    let trimmed = text.trim_start_matches([' ', '\t', '\n', '\r', '\u{b}', '\u{c}']);
    let (negative, unsigned) = match trimmed.as_bytes().first() {
        Some(b'-') => (true, &trimmed[1..]),
        Some(b'+') => (false, &trimmed[1..]),
        _ => (false, trimmed),
    };
    let lower = unsigned.to_ascii_lowercase();
    let has_hex_prefix = lower.starts_with("0x")
        && lower[2..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_hexdigit());
    let (radix, digits) = match base {
        16 if has_hex_prefix => (16, &unsigned[2..]),
        16 => (16, unsigned),
        _ if has_hex_prefix => (16, &unsigned[2..]),
        _ if unsigned.starts_with('0') => (8, unsigned),
        _ => (10, unsigned),
    };
    if digits.is_empty() {
        // strtoul("") is 0 with nothing left over; "-" or "0x" leave text.
        return text.is_empty().then_some(0);
    }
    if !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = digits.chars().try_fold(0u64, |acc, c| {
        acc.checked_mul(u64::from(radix))
            .and_then(|v| v.checked_add(u64::from(c.to_digit(radix).unwrap_or(0))))
    });
    let magnitude = magnitude.unwrap_or(u64::MAX);
    Some(if negative {
        magnitude.wrapping_neg()
    } else {
        magnitude
    })
}
