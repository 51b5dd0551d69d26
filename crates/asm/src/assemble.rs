//! The two-pass assembler: parse every line, then resolve labels.

use std::collections::HashMap;

use crate::cursor::{Cursor, Target};
use crate::error::{AsmError, AsmErrorKind};
use crate::format::Syntax;
use crate::lex::{Tok, Token, lex, strip_comment};
use crate::parse::{Parsed, apply_offset};
use crate::{llvm, ubpf};
use apiary_isa::{Insn, RawInsn, encode_program};

/// Assembles `text`, detecting the syntax of each line (see [`assemble_with`]).
pub fn assemble(text: &str) -> Result<Vec<Insn>, AsmError> {
    assemble_with(text, None)
}

/// Assembles `text` into raw slots (an `lddw` takes two).
pub fn assemble_slots(text: &str) -> Result<Vec<RawInsn>, AsmError> {
    Ok(encode_program(&assemble(text)?))
}

/// Assembles `text` in `syntax`, or with `None` detecting each line's syntax:
/// a line is LLVM syntax when it has an assignment or comparison operator or
/// starts with `if`, `goto`, `gotol`, `callx`, `store_release` or `lock *`;
/// `exit`, `call`, `may_goto` and `ld_pseudo` lines are ubpf syntax when they
/// name a `%r` register or a `local`/`helper`/`runtime` call mode, and every
/// other line is ubpf syntax.
///
/// Labels are `name:` at the start of a line (several may precede an
/// instruction). Jump and local-call operands may name a label; as in the
/// bpf_conformance assembler, the label `exit` means the first `exit`
/// instruction unless it is defined explicitly. Comments start with `;`,
/// `//`, or `#` at the start of a line or after whitespace. A leading
/// verifier-log prefix such as `12: (bf) ` is ignored.
pub fn assemble_with(text: &str, syntax: Option<Syntax>) -> Result<Vec<Insn>, AsmError> {
    let mut labels: HashMap<String, usize> = HashMap::new();
    let mut pending: Vec<(usize, Parsed, usize, &str)> = Vec::new();
    let mut first_exit = None;
    let mut slot = 0usize;
    for (index, source_line) in text.lines().enumerate() {
        let line_no = index + 1;
        let fail = |(column, kind): (usize, AsmErrorKind)| AsmError {
            line: line_no,
            column,
            source_line: source_line.to_owned(),
            kind,
        };
        let code = strip_verifier_prefix(strip_comment(source_line));
        let toks =
            lex(code).map_err(|(col, kind)| fail((col + prefix_chars(source_line, code), kind)))?;
        let shift = prefix_chars(source_line, code);
        let toks: Vec<Token> = toks
            .into_iter()
            .map(|mut t| {
                t.col += shift;
                t
            })
            .collect();
        let mut start = 0;
        while let [
            Token {
                tok: Tok::Ident(name),
                col,
                ..
            },
            Token {
                tok: Tok::Punct(":"),
                ..
            },
            ..,
        ] = &toks[start..]
        {
            if labels.insert(name.clone(), slot).is_some() {
                return Err(fail((*col, AsmErrorKind::DuplicateLabel(name.clone()))));
            }
            start += 2;
        }
        let rest = &toks[start..];
        if rest.is_empty() {
            continue;
        }
        let end_col = shift + code.chars().count() + 1;
        let mut cur = Cursor::new(rest, end_col);
        let parsed = match syntax.unwrap_or_else(|| detect(rest)) {
            Syntax::Llvm => llvm::parse_line(&mut cur),
            Syntax::Ubpf => ubpf::parse_line(&mut cur),
        }
        .map_err(fail)?;
        if parsed.insn == Insn::Exit && first_exit.is_none() {
            first_exit = Some(slot);
        }
        let slots = parsed.insn.slots();
        pending.push((slot, parsed, line_no, source_line));
        slot += slots;
    }
    pending
        .into_iter()
        .map(|(slot, parsed, line, source_line)| {
            let fail = |column, kind| AsmError {
                line,
                column,
                source_line: source_line.to_owned(),
                kind,
            };
            let (rel, col, written) = match parsed.target {
                None => return Ok(parsed.insn),
                Some(Target::Relative(rel)) => (rel, 1, rel.to_string()),
                Some(Target::Label(name, col)) => {
                    let target = labels
                        .get(&name)
                        .copied()
                        .or(if name == "exit" { first_exit } else { None })
                        .ok_or_else(|| fail(col, AsmErrorKind::UndefinedLabel(name.clone())))?;
                    (target as i128 - slot as i128 - 1, col, name)
                }
            };
            apply_offset(parsed.insn, rel).map_err(|(min, max)| {
                fail(
                    col,
                    AsmErrorKind::OutOfRange {
                        what: "jump offset",
                        value: format!("{written} (relative {rel})"),
                        range: format!("{min}..={max}"),
                    },
                )
            })
        })
        .collect()
}

/// Characters of `line` before `code`, which is a suffix-trimmed slice of it.
fn prefix_chars(line: &str, code: &str) -> usize {
    let offset = code.as_ptr() as usize - line.as_ptr() as usize;
    line.get(..offset).map_or(0, |p| p.chars().count())
}

/// Drops a verifier-log prefix `12: (bf) `.
fn strip_verifier_prefix(code: &str) -> &str {
    let trimmed = code.trim_start();
    let digits = trimmed.bytes().take_while(u8::is_ascii_digit).count();
    let Some(after) = trimmed.get(digits..).and_then(|s| s.strip_prefix(':')) else {
        return code;
    };
    let after = after.trim_start();
    match after.as_bytes() {
        [b'(', a, b, b')', ..] if digits > 0 && a.is_ascii_hexdigit() && b.is_ascii_hexdigit() => {
            after.get(4..).unwrap_or_default()
        }
        _ => code,
    }
}

fn detect(toks: &[Token]) -> Syntax {
    let has_assign = toks
        .iter()
        .any(|t| matches!(t.tok, Tok::Punct(p) if p.ends_with('=')));
    let first = toks.first().map(|t| t.text.as_str()).unwrap_or_default();
    let second = toks.get(1).map(|t| t.text.as_str()).unwrap_or_default();
    let llvm_start = matches!(first, "if" | "goto" | "gotol" | "callx" | "store_release")
        || (first == "lock" && second == "*");
    if has_assign || llvm_start {
        return Syntax::Llvm;
    }
    if matches!(first, "exit" | "call" | "may_goto" | "ld_pseudo") {
        let ubpf_marked = toks.iter().any(|t| {
            t.text.starts_with('%') || matches!(t.text.as_str(), "local" | "helper" | "runtime")
        });
        return if ubpf_marked {
            Syntax::Ubpf
        } else {
            Syntax::Llvm
        };
    }
    Syntax::Ubpf
}
