//! The kernel's BPF printf (`bpf_bprintf_prepare` + `bstr_printf`): the
//! format checks of `bpf_trace_printk`/`bpf_snprintf` and the formatting
//! of the conversions they accept.

/// `-EINVAL`.
const EINVAL: i64 = -22;

/// A string argument's bytes (read by the caller), or `None` when it could
/// not be read (the kernel then prints an empty string).
pub(crate) type StrReader<'a> = dyn FnMut(u64) -> Option<Vec<u8>> + 'a;

#[derive(Default, Clone, Copy)]
struct Spec {
    left: bool,
    zero: bool,
    plus: bool,
    space: bool,
    alt: bool,
    width: usize,
    precision: Option<usize>,
}

fn pad(out: &mut Vec<u8>, body: &[u8], spec: Spec, numeric_prefix: usize) {
    let fill = spec.width.saturating_sub(body.len());
    if spec.left {
        out.extend_from_slice(body);
        out.extend(std::iter::repeat_n(b' ', fill));
    } else if spec.zero && spec.precision.is_none() {
        let (prefix, digits) = body.split_at(numeric_prefix.min(body.len()));
        out.extend_from_slice(prefix);
        out.extend(std::iter::repeat_n(b'0', fill));
        out.extend_from_slice(digits);
    } else {
        out.extend(std::iter::repeat_n(b' ', fill));
        out.extend_from_slice(body);
    }
}

fn number(out: &mut Vec<u8>, spec: Spec, conv: u8, value: u64, bits: u32) {
    let mask = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    let value = value & mask;
    let (negative, magnitude) = if matches!(conv, b'd' | b'i') {
        let signed = if bits == 64 {
            value as i64
        } else {
            i64::from(value as u32 as i32)
        };
        (signed < 0, signed.unsigned_abs())
    } else {
        (false, value)
    };
    let mut digits = match conv {
        b'x' => format!("{magnitude:x}"),
        b'X' => format!("{magnitude:X}"),
        _ => magnitude.to_string(),
    };
    if let Some(p) = spec.precision {
        if p == 0 && magnitude == 0 {
            digits.clear();
        } else if digits.len() < p {
            digits = format!("{}{digits}", "0".repeat(p - digits.len()));
        }
    }
    let prefix = match conv {
        b'x' if spec.alt && magnitude != 0 => "0x",
        b'X' if spec.alt && magnitude != 0 => "0X",
        b'd' | b'i' if negative => "-",
        b'd' | b'i' if spec.plus => "+",
        b'd' | b'i' if spec.space => " ",
        _ => "",
    };
    let body = format!("{prefix}{digits}");
    pad(out, body.as_bytes(), spec, prefix.len());
}

/// Formats `fmt` (without its NUL) with `args` as the kernel does; returns
/// the text or `-EINVAL` for a format the kernel refuses (an unsupported
/// conversion, more conversions than `args`, a non-printable byte).
pub(crate) fn format(
    fmt: &[u8],
    args: &[u64],
    read_str: &mut StrReader<'_>,
) -> Result<Vec<u8>, i64> {
    let mut out = Vec::new();
    let mut next_arg = args.iter().copied();
    let mut i = 0usize;
    let at = |i: usize| fmt.get(i).copied().unwrap_or(0);
    while i < fmt.len() {
        let c = at(i);
        if !c.is_ascii() || (!c.is_ascii_graphic() && !c.is_ascii_whitespace() && c != b' ') {
            return Err(EINVAL);
        }
        if c != b'%' {
            out.push(c);
            i += 1;
            continue;
        }
        i += 1;
        if at(i) == b'%' {
            out.push(b'%');
            i += 1;
            continue;
        }
        let mut spec = Spec::default();
        loop {
            match at(i) {
                b'-' => spec.left = true,
                b'0' => spec.zero = true,
                b'+' => spec.plus = true,
                b' ' => spec.space = true,
                b'#' => spec.alt = true,
                _ => break,
            }
            i += 1;
        }
        while at(i).is_ascii_digit() {
            spec.width = spec
                .width
                .saturating_mul(10)
                .saturating_add(usize::from(at(i) - b'0'));
            i += 1;
        }
        if at(i) == b'.' {
            i += 1;
            let mut p = 0usize;
            while at(i).is_ascii_digit() {
                p = p
                    .saturating_mul(10)
                    .saturating_add(usize::from(at(i) - b'0'));
                i += 1;
            }
            spec.precision = Some(p);
        }
        // The kernel caps widths at what fits its 512-byte buffer anyway.
        spec.width = spec.width.min(1024);
        let Some(arg) = next_arg.next() else {
            return Err(EINVAL);
        };
        match at(i) {
            b'c' => {
                pad(&mut out, &[arg as u8], spec, 0);
                i += 1;
            }
            b's' => {
                let mut text = read_str(arg).unwrap_or_default();
                if let Some(p) = spec.precision {
                    text.truncate(p);
                }
                pad(&mut out, &text, spec, 0);
                i += 1;
            }
            b'p' => {
                i += 1;
                // %pK and %px print the raw value; plain %p is hashed by the
                // kernel, which Apiary cannot reproduce, so it prints raw too.
                if matches!(at(i), b'K' | b'x') {
                    i += 1;
                } else if at(i) != 0 && at(i).is_ascii_alphanumeric() {
                    return Err(EINVAL);
                }
                let body = format!("{arg:016x}");
                pad(&mut out, body.as_bytes(), spec, 0);
            }
            _ => {
                let mut bits = 32;
                if at(i) == b'l' {
                    bits = 64;
                    i += 1;
                }
                if at(i) == b'l' {
                    i += 1;
                }
                let conv = at(i);
                if !matches!(conv, b'i' | b'd' | b'u' | b'x' | b'X') {
                    return Err(EINVAL);
                }
                number(&mut out, spec, conv, arg, bits);
                i += 1;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::format;

    fn fmt(f: &str, args: &[u64]) -> Result<String, i64> {
        let mut strings = |_: u64| Some(b"str".to_vec());
        format(f.as_bytes(), args, &mut strings).map(|v| String::from_utf8(v).unwrap())
    }

    #[test]
    fn conversions_match_vsnprintf() {
        // Expectations are what C's printf gives for the same formats.
        assert_eq!(
            fmt("%d %i %u", &[u64::MAX, 5, u64::MAX]).unwrap(),
            "-1 5 4294967295"
        );
        assert_eq!(
            fmt("%ld %lu %llx", &[u64::MAX, u64::MAX, 255]).unwrap(),
            "-1 18446744073709551615 ff"
        );
        assert_eq!(
            fmt("%5d|%-5d|%05d", &[42, 42, 42]).unwrap(),
            "   42|42   |00042"
        );
        assert_eq!(
            fmt("%#x %X %s %c", &[255, 255, 0, 0]).unwrap(),
            "0xff FF str \0"
        );
        assert_eq!(fmt("%%%.2s", &[0]).unwrap(), "%st");
        assert_eq!(fmt("%05d", &[(-42i64) as u64]).unwrap(), "-0042");
    }

    #[test]
    fn kernel_refusals() {
        assert_eq!(fmt("%d %d", &[1]), Err(-22));
        assert_eq!(fmt("%f", &[1]), Err(-22));
        assert_eq!(fmt("%hd", &[1]), Err(-22));
        assert_eq!(fmt("\x01", &[]), Err(-22));
    }
}
