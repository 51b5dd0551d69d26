//! A cursor over one line's tokens, with the operand parsers both syntaxes share.

use crate::error::AsmErrorKind;
use crate::lex::{Tok, Token};
use apiary_isa::{Reg, Width};

/// A parse failure at a 1-based column.
pub(crate) type PError = (usize, AsmErrorKind);
pub(crate) type PResult<T> = Result<T, PError>;

/// A jump or call target as written: a relative offset or a label.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// Relative slot offset, counted from the next slot.
    Relative(i128),
    /// A label and the column it was written at.
    Label(String, usize),
}

/// The tokens of one line and a position in them.
pub(crate) struct Cursor<'a> {
    toks: &'a [Token],
    pos: usize,
    end_col: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(toks: &'a [Token], end_col: usize) -> Self {
        Cursor {
            toks,
            pos: 0,
            end_col,
        }
    }

    pub(crate) fn peek(&self) -> Option<&'a Token> {
        self.toks.get(self.pos)
    }

    pub(crate) fn peek_at(&self, ahead: usize) -> Option<&'a Token> {
        self.toks.get(self.pos + ahead)
    }

    /// Column of the next token, or just past the line's end.
    pub(crate) fn col(&self) -> usize {
        self.peek().map_or(self.end_col, |t| t.col)
    }

    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.toks.len()
    }

    pub(crate) fn bump(&mut self) -> Option<&'a Token> {
        let t = self.toks.get(self.pos);
        self.pos += usize::from(t.is_some());
        t
    }

    /// An error saying `expected` was wanted where the next token is.
    pub(crate) fn unexpected<T>(&self, expected: &str) -> PResult<T> {
        let found = self
            .peek()
            .map_or_else(|| "end of line".to_owned(), |t| format!("`{}`", t.text));
        Err((
            self.col(),
            AsmErrorKind::Unexpected {
                expected: expected.to_owned(),
                found,
            },
        ))
    }

    pub(crate) fn is_punct(&self, p: &str) -> bool {
        matches!(self.peek(), Some(Token { tok: Tok::Punct(q), .. }) if *q == p)
    }

    pub(crate) fn eat_punct(&mut self, p: &str) -> bool {
        let hit = self.is_punct(p);
        if hit {
            self.pos += 1;
        }
        hit
    }

    pub(crate) fn expect_punct(&mut self, p: &str) -> PResult<()> {
        if self.eat_punct(p) {
            Ok(())
        } else {
            self.unexpected(&format!("`{p}`"))
        }
    }

    /// The next word, if it is one, without consuming it.
    pub(crate) fn peek_ident(&self) -> Option<&'a str> {
        match self.peek() {
            Some(Token {
                tok: Tok::Ident(s), ..
            }) => Some(s.as_str()),
            _ => None,
        }
    }

    pub(crate) fn eat_ident(&mut self, word: &str) -> bool {
        let hit = self.peek_ident() == Some(word);
        if hit {
            self.pos += 1;
        }
        hit
    }

    pub(crate) fn expect_ident(&mut self, word: &str) -> PResult<()> {
        if self.eat_ident(word) {
            Ok(())
        } else {
            self.unexpected(&format!("`{word}`"))
        }
    }

    pub(crate) fn expect_end(&self) -> PResult<()> {
        if self.at_end() {
            Ok(())
        } else {
            self.unexpected("end of line")
        }
    }

    /// A register in LLVM syntax: `r0`-`r10` or `w0`-`w10`.
    pub(crate) fn llvm_reg(&mut self) -> PResult<(Reg, Width)> {
        let col = self.col();
        let Some(word) = self.peek_ident() else {
            return self.unexpected("a register");
        };
        let parsed = match word.as_bytes().first() {
            Some(b'r') => register_number(&word[1..]).map(|r| (r, Width::W64)),
            Some(b'w') => register_number(&word[1..]).map(|r| (r, Width::W32)),
            _ => None,
        };
        match parsed {
            Some(found) => {
                self.pos += 1;
                Ok(found)
            }
            None => Err((col, AsmErrorKind::BadRegister(word.to_owned()))),
        }
    }

    /// A register of the given width in LLVM syntax.
    pub(crate) fn llvm_reg_of(&mut self, width: Width, insn: &str) -> PResult<Reg> {
        let col = self.col();
        let (reg, found) = self.llvm_reg()?;
        if found == width {
            Ok(reg)
        } else {
            Err((col, AsmErrorKind::MixedWidth(insn.to_owned())))
        }
    }

    /// A register in ubpf syntax: `%r0`-`%r10`.
    pub(crate) fn ubpf_reg(&mut self) -> PResult<Reg> {
        let col = self.col();
        let Some(tok) = self.peek() else {
            return self.unexpected("a register");
        };
        match tok.text.strip_prefix("%r").and_then(register_number) {
            Some(reg) => {
                self.pos += 1;
                Ok(reg)
            }
            None => Err((col, AsmErrorKind::BadRegister(tok.text.clone()))),
        }
    }

    /// An optionally signed number, with the text it was written as.
    pub(crate) fn signed(&mut self) -> PResult<(i128, String)> {
        let mut negative = false;
        let mut text = String::new();
        if self.eat_punct("-") {
            negative = true;
            text.push('-');
        } else if self.eat_punct("+") {
            text.push('+');
        }
        match self.peek() {
            Some(Token {
                tok: Tok::Num(n), ..
            }) => {
                let n = i128::try_from(*n).unwrap_or(i128::MAX);
                text.push_str(&self.toks[self.pos].text);
                self.pos += 1;
                Ok((if negative { -n } else { n }, text))
            }
            _ => self.unexpected("a number"),
        }
    }

    /// A number that must fit `min..=max`.
    pub(crate) fn ranged(&mut self, what: &'static str, min: i128, max: i128) -> PResult<i128> {
        let col = self.col();
        let (value, text) = self.signed()?;
        check_range(col, what, value, &text, min, max)
    }

    /// A 32-bit immediate: signed decimal, or hexadecimal up to `0xffffffff`
    /// taken as a bit pattern (the bpf_conformance assembler's rule).
    pub(crate) fn imm32(&mut self) -> PResult<i32> {
        let col = self.col();
        let (value, text) = self.signed()?;
        imm32_value(col, value, &text)
    }

    /// A 16-bit memory offset: signed decimal, or hexadecimal up to `0xffff`.
    pub(crate) fn off16(&mut self) -> PResult<i16> {
        let col = self.col();
        let (value, text) = self.signed()?;
        let max = if is_hex(&text) {
            u16::MAX.into()
        } else {
            i16::MAX.into()
        };
        Ok(check_range(col, "offset", value, &text, i16::MIN.into(), max)? as u16 as i16)
    }

    /// A jump target: `+5`, `-0x3`, `pc+5`, `5` or a label.
    pub(crate) fn target(&mut self) -> PResult<Target> {
        let col = self.col();
        if let Some(word) = self.peek_ident() {
            let is_pc = word == "pc"
                && (self
                    .peek_at(1)
                    .is_some_and(|t| t.text == "+" || t.text == "-"));
            self.pos += 1;
            if !is_pc {
                return Ok(Target::Label(word.to_owned(), col));
            }
        }
        let (value, _) = self.signed()?;
        Ok(Target::Relative(value))
    }
}

fn is_hex(text: &str) -> bool {
    text.contains("0x") || text.contains("0X")
}

/// Range-checks a 32-bit immediate by the rule of [`Cursor::imm32`].
pub(crate) fn imm32_value(col: usize, value: i128, text: &str) -> PResult<i32> {
    let max = if is_hex(text) {
        u32::MAX.into()
    } else {
        i32::MAX.into()
    };
    Ok(check_range(col, "immediate", value, text, i32::MIN.into(), max)? as u32 as i32)
}

/// Checks a value against a field's range, naming the value as written.
pub(crate) fn check_range(
    col: usize,
    what: &'static str,
    value: i128,
    text: &str,
    min: i128,
    max: i128,
) -> PResult<i128> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err((
            col,
            AsmErrorKind::OutOfRange {
                what,
                value: text.to_owned(),
                range: format!("{min}..={max}"),
            },
        ))
    }
}

fn register_number(digits: &str) -> Option<Reg> {
    if digits.is_empty() || digits.len() > 2 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().and_then(Reg::new)
}

impl<'a> Cursor<'a> {
    /// The tokens not consumed yet.
    pub(crate) fn rest(&self) -> &'a [Token] {
        self.toks.get(self.pos..).unwrap_or_default()
    }

    /// Column just past the line's end.
    pub(crate) fn end_col(&self) -> usize {
        self.end_col
    }
}
