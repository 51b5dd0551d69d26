//! Hex text as the conformance suite and `--mem` use it.

/// Decodes hex digits, ignoring whitespace; `Err` names the first bad character's position.
pub fn decode_hex(text: &str) -> Result<Vec<u8>, String> {
    let digits: Vec<(usize, char)> = text
        .char_indices()
        .filter(|(_, c)| !c.is_whitespace())
        .collect();
    if !digits.len().is_multiple_of(2) {
        return Err(format!("odd number of hex digits ({})", digits.len()));
    }
    digits
        .chunks_exact(2)
        .map(|pair| match pair {
            [(_, high), (_, low)] => {
                let nibble = |(position, c): (usize, char)| {
                    c.to_digit(16)
                        .ok_or_else(|| format!("bad hex digit {c:?} at offset {position}"))
                };
                Ok((nibble((pair[0].0, *high))? << 4 | nibble((pair[1].0, *low))?) as u8)
            }
            _ => Err("odd number of hex digits".to_string()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::decode_hex;

    #[test]
    fn decodes_and_rejects() {
        assert_eq!(decode_hex("01 ff\nA0"), Ok(vec![0x01, 0xff, 0xa0]));
        assert_eq!(decode_hex(""), Ok(vec![]));
        assert_eq!(decode_hex("0"), Err("odd number of hex digits (1)".into()));
        assert_eq!(
            decode_hex("0g"),
            Err("bad hex digit 'g' at offset 1".into())
        );
    }
}
