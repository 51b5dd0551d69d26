//! Splitting one line into tokens with their columns.

use crate::error::AsmErrorKind;

/// One token of a line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Tok {
    /// A word: mnemonic, register (`r1`, `w1`, `%r1`), label, type name.
    Ident(String),
    /// An unsigned number as written (the sign is a separate token).
    Num(u128),
    /// Punctuation or an operator such as `s>>=`.
    Punct(&'static str),
}

/// A token and its 1-based column.
#[derive(Clone, Debug)]
pub(crate) struct Token {
    pub tok: Tok,
    pub col: usize,
    pub text: String,
}

/// Operators and punctuation, longest first so that the first match wins.
const PUNCTS: [&str; 36] = [
    "s>>=", "<<=", ">>=", "s/=", "s%=", "s<=", "s>=", "+=", "-=", "*=", "/=", "%=", "&=", "|=",
    "^=", "==", "!=", "<=", ">=", "s<", "s>", "<", ">", "=", "+", "-", "*", "&", "(", ")", "[",
    "]", ",", ":", "#", "/",
];

/// Removes a comment: `//` or `;` anywhere, `#` at the start of the line or
/// after whitespace (so `call bpf_map_lookup_elem#1` keeps its `#1`).
pub(crate) fn strip_comment(line: &str) -> &str {
    let mut prev_space = true;
    for (i, c) in line.char_indices() {
        let rest = &line[i..];
        if c == ';' || rest.starts_with("//") || (c == '#' && prev_space) {
            return &line[..i];
        }
        prev_space = c.is_whitespace();
    }
    line
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '$'
}

/// Tokenizes a comment-free line. Errors carry the 1-based column.
pub(crate) fn lex(line: &str) -> Result<Vec<Token>, (usize, AsmErrorKind)> {
    let chars: Vec<char> = line.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let col = i + 1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let rest: String = chars[i..].iter().take(4).collect();
        let starts_signed_op = c == 's'
            && chars
                .get(i + 1)
                .is_some_and(|n| matches!(n, '<' | '>' | '/' | '%'));
        if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && is_ident_char(chars[i]) {
                i += 1;
            }
            let text: String = chars[start..i].iter().collect();
            let value = parse_number(&text).ok_or_else(|| {
                (
                    col,
                    AsmErrorKind::Unexpected {
                        expected: "a number".into(),
                        found: format!("`{text}`"),
                    },
                )
            })?;
            out.push(Token {
                tok: Tok::Num(value),
                col,
                text,
            });
        } else if !starts_signed_op
            && (is_ident_char(c)
                || (c == '%' && chars.get(i + 1).is_some_and(|n| n.is_ascii_alphabetic())))
        {
            let start = i;
            i += 1;
            while i < chars.len() && is_ident_char(chars[i]) {
                i += 1;
            }
            let text: String = chars[start..i].iter().collect();
            out.push(Token {
                tok: Tok::Ident(text.clone()),
                col,
                text,
            });
        } else if let Some(p) = PUNCTS.iter().find(|p| rest.starts_with(**p)) {
            i += p.chars().count();
            out.push(Token {
                tok: Tok::Punct(p),
                col,
                text: (*p).to_owned(),
            });
        } else {
            return Err((col, AsmErrorKind::BadCharacter(c)));
        }
    }
    Ok(out)
}

/// Decimal or `0x` hexadecimal, at most 128 bits.
fn parse_number(text: &str) -> Option<u128> {
    let lower = text.to_ascii_lowercase();
    match lower.strip_prefix("0x") {
        Some(hex) => u128::from_str_radix(hex, 16).ok(),
        None => lower.parse().ok(),
    }
}
