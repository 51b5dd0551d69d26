//! Parsing one line of ubpf / bpf_conformance syntax.

use crate::cursor::{Cursor, PResult};
use crate::error::AsmErrorKind;
use crate::format::{alu_ubpf_name, cond_ubpf_name, endian_name, size_suffix};
use crate::lex::Token;
use crate::parse::{Parsed, call_number, kind_from_src, no_target, with_target};
use apiary_isa::{
    AluOp, AtomicOp, CallTarget, EndianOp, Insn, JmpCond, LdImm64Kind, PacketMode, Reg, Size,
    Source, Width,
};

/// One comma-separated operand: its tokens and where it starts.
struct Operand<'a> {
    toks: &'a [Token],
    end_col: usize,
}

impl<'a> Operand<'a> {
    /// Runs `parse` over the whole operand and requires it to consume all of it.
    fn parse<T>(&self, parse: impl FnOnce(&mut Cursor<'a>) -> PResult<T>) -> PResult<T> {
        let mut cur = Cursor::new(self.toks, self.end_col);
        if cur.at_end() {
            return cur.unexpected("an operand");
        }
        let value = parse(&mut cur)?;
        if !cur.at_end() {
            return cur.unexpected("`,` or end of line");
        }
        Ok(value)
    }

    fn reg(&self) -> PResult<Reg> {
        self.parse(Cursor::ubpf_reg)
    }

    fn is_reg(&self) -> bool {
        self.toks.first().is_some_and(|t| t.text.starts_with('%'))
    }

    fn reg_or_imm(&self) -> PResult<Source> {
        if self.is_reg() {
            Ok(Source::Reg(self.reg()?))
        } else {
            Ok(Source::Imm(self.parse(Cursor::imm32)?))
        }
    }

    /// `[%r1+4]`, `[%r10-8]` or `[%r1]`.
    fn mem(&self) -> PResult<(Reg, i16)> {
        self.parse(|cur| {
            cur.expect_punct("[")?;
            let reg = cur.ubpf_reg()?;
            let off = if cur.is_punct("+") || cur.is_punct("-") {
                cur.off16()?
            } else {
                0
            };
            cur.expect_punct("]")?;
            Ok(off).map(|off| (reg, off))
        })
    }
}

/// Splits the rest of the line at commas.
fn operands<'a>(cur: &Cursor<'a>) -> Vec<Operand<'a>> {
    let rest = cur.rest();
    if rest.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut start = 0;
    for (i, t) in rest.iter().enumerate() {
        if t.text == "," {
            out.push(operand(rest, start, i, t.col));
            start = i + 1;
        }
    }
    out.push(operand(rest, start, rest.len(), cur.end_col()));
    out
}

fn operand(rest: &[Token], start: usize, end: usize, end_col: usize) -> Operand<'_> {
    Operand {
        toks: rest.get(start..end).unwrap_or_default(),
        end_col,
    }
}

fn count(mnemonic: &str, ops: &[Operand<'_>], expected: usize, col: usize) -> PResult<()> {
    if ops.len() == expected {
        Ok(())
    } else {
        Err((
            col,
            AsmErrorKind::OperandCount {
                mnemonic: mnemonic.to_owned(),
                expected,
                found: ops.len(),
            },
        ))
    }
}

fn size_of_suffix(suffix: &str) -> Option<Size> {
    Size::ALL.into_iter().find(|s| size_suffix(*s) == suffix)
}

/// Splits a `32`/`64` width suffix off a mnemonic.
fn split_width(mnemonic: &str) -> (&str, Width) {
    if let Some(base) = mnemonic.strip_suffix("32") {
        (base, Width::W32)
    } else {
        (mnemonic.strip_suffix("64").unwrap_or(mnemonic), Width::W64)
    }
}

/// Parses a whole line (without its labels) in ubpf syntax.
pub(crate) fn parse_line(cur: &mut Cursor<'_>) -> PResult<Parsed> {
    let col = cur.col();
    let Some(mnemonic) = cur.peek_ident() else {
        return cur.unexpected("a mnemonic");
    };
    cur.bump();
    match mnemonic {
        "lock" => return lock(cur, col),
        "call" => return call(cur, col),
        _ => {}
    }
    let ops = operands(cur);
    let unknown = || Err((col, AsmErrorKind::UnknownMnemonic(mnemonic.to_owned())));
    match mnemonic {
        "exit" => {
            count(mnemonic, &ops, 0, col)?;
            return Ok(no_target(Insn::Exit));
        }
        "ja" | "ja32" | "may_goto" => {
            count(mnemonic, &ops, 1, col)?;
            let target = ops[0].parse(Cursor::target)?;
            let insn = match mnemonic {
                "ja" => Insn::Ja { off: 0 },
                "ja32" => Insn::Ja32 { imm: 0 },
                _ => Insn::MayGoto { off: 0 },
            };
            return Ok(with_target(insn, target));
        }
        "lddw" => {
            count(mnemonic, &ops, 2, col)?;
            let dst = ops[0].reg()?;
            let imm = ops[1].parse(|c| c.ranged("immediate", i64::MIN.into(), u64::MAX.into()))?;
            return Ok(no_target(Insn::LoadImm64 {
                dst,
                kind: LdImm64Kind::Imm,
                imm: imm as u64,
            }));
        }
        "ld_pseudo" => {
            count(mnemonic, &ops, 3, col)?;
            let dst = ops[0].reg()?;
            let kind = ops[1].parse(kind_from_src)?;
            if kind == LdImm64Kind::Func
                && ops[2]
                    .toks
                    .first()
                    .is_some_and(|t| matches!(t.tok, crate::lex::Tok::Ident(_)))
            {
                let target = ops[2].parse(Cursor::target)?;
                return Ok(with_target(Insn::LoadImm64 { dst, kind, imm: 0 }, target));
            }
            let imm = ops[2].parse(|c| c.ranged("immediate", i64::MIN.into(), u64::MAX.into()))?;
            return Ok(no_target(Insn::LoadImm64 {
                dst,
                kind,
                imm: imm as u64,
            }));
        }
        "addr_space_cast" => {
            count(mnemonic, &ops, 4, col)?;
            let as_num =
                |op: &Operand<'_>| op.parse(|c| c.ranged("address space", 0, u16::MAX.into()));
            return Ok(no_target(Insn::AddrSpaceCast {
                dst: ops[0].reg()?,
                src: ops[1].reg()?,
                dst_as: as_num(&ops[2])? as u16,
                src_as: as_num(&ops[3])? as u16,
            }));
        }
        _ => {}
    }
    if let Some(parsed) = memory(mnemonic, &ops, col)? {
        return Ok(parsed);
    }
    if let Some(parsed) = endian(mnemonic, &ops, col)? {
        return Ok(parsed);
    }
    let (base, width) = split_width(mnemonic);
    if let Some(cond) = JmpCond::ALL
        .into_iter()
        .find(|c| cond_ubpf_name(*c) == base)
    {
        count(mnemonic, &ops, 3, col)?;
        let dst = ops[0].reg()?;
        let src = ops[1].reg_or_imm()?;
        let target = ops[2].parse(Cursor::target)?;
        return Ok(with_target(
            Insn::Jump {
                width,
                cond,
                dst,
                src,
                off: 0,
            },
            target,
        ));
    }
    if base == "neg" {
        count(mnemonic, &ops, 1, col)?;
        return Ok(no_target(Insn::Neg {
            width,
            dst: ops[0].reg()?,
        }));
    }
    if let Some(from) = base.strip_prefix("movsx") {
        let from = match (from, width) {
            ("8", _) => Size::B,
            ("16", _) => Size::H,
            ("32", Width::W64) => Size::W,
            _ => return unknown(),
        };
        count(mnemonic, &ops, 2, col)?;
        return Ok(no_target(Insn::MovSx {
            width,
            dst: ops[0].reg()?,
            src: ops[1].reg()?,
            from,
        }));
    }
    if let Some(op) = AluOp::ALL.into_iter().find(|o| alu_ubpf_name(*o) == base) {
        count(mnemonic, &ops, 2, col)?;
        return Ok(no_target(Insn::Alu {
            width,
            op,
            dst: ops[0].reg()?,
            src: ops[1].reg_or_imm()?,
        }));
    }
    unknown()
}

fn endian(mnemonic: &str, ops: &[Operand<'_>], col: usize) -> PResult<Option<Parsed>> {
    let ops_and_names = [
        (EndianOp::ToLe, endian_name(EndianOp::ToLe)),
        (EndianOp::ToBe, endian_name(EndianOp::ToBe)),
        (EndianOp::Swap, endian_name(EndianOp::Swap)),
        (EndianOp::Swap, "swap"),
    ];
    for (op, name) in ops_and_names {
        let bits = match mnemonic.strip_prefix(name) {
            Some("16") => 16,
            Some("32") => 32,
            Some("64") => 64,
            _ => continue,
        };
        count(mnemonic, ops, 1, col)?;
        return Ok(Some(no_target(Insn::Endian {
            op,
            bits,
            dst: ops[0].reg()?,
        })));
    }
    Ok(None)
}

/// Loads, stores and packet loads; `None` when `mnemonic` is none of them.
fn memory(mnemonic: &str, ops: &[Operand<'_>], col: usize) -> PResult<Option<Parsed>> {
    let sized = |prefix: &str| mnemonic.strip_prefix(prefix).and_then(size_of_suffix);
    let insn = if let Some(size) = sized("stx") {
        count(mnemonic, ops, 2, col)?;
        let (dst, off) = ops[0].mem()?;
        Insn::Store {
            size,
            dst,
            off,
            src: Source::Reg(ops[1].reg()?),
        }
    } else if let Some(size) = sized("st") {
        count(mnemonic, ops, 2, col)?;
        let (dst, off) = ops[0].mem()?;
        Insn::Store {
            size,
            dst,
            off,
            src: Source::Imm(ops[1].parse(Cursor::imm32)?),
        }
    } else if let Some(size) = sized("strel") {
        count(mnemonic, ops, 2, col)?;
        let (dst, off) = ops[0].mem()?;
        Insn::StoreRelease {
            size,
            dst,
            src: ops[1].reg()?,
            off,
        }
    } else if let Some((size, sign_extend)) = sized("ldx")
        .map(|s| (s, false))
        .or_else(|| sized("ldxs").filter(|s| *s != Size::DW).map(|s| (s, true)))
    {
        count(mnemonic, ops, 2, col)?;
        let dst = ops[0].reg()?;
        let (src, off) = ops[1].mem()?;
        Insn::Load {
            size,
            sign_extend,
            dst,
            src,
            off,
        }
    } else if let Some(size) = sized("ldacq") {
        count(mnemonic, ops, 2, col)?;
        let dst = ops[0].reg()?;
        let (src, off) = ops[1].mem()?;
        Insn::LoadAcquire {
            size,
            dst,
            src,
            off,
        }
    } else if let Some(size) = sized("ldabs").filter(|s| *s != Size::DW) {
        count(mnemonic, ops, 1, col)?;
        Insn::LoadPacket {
            mode: PacketMode::Abs,
            size,
            src: Reg::R0,
            imm: ops[0].parse(Cursor::imm32)?,
        }
    } else if let Some(size) = sized("ldind").filter(|s| *s != Size::DW) {
        count(mnemonic, ops, 2, col)?;
        Insn::LoadPacket {
            mode: PacketMode::Ind,
            size,
            src: ops[0].reg()?,
            imm: ops[1].parse(Cursor::imm32)?,
        }
    } else {
        return Ok(None);
    };
    Ok(Some(no_target(insn)))
}

/// `lock [fetch] add[32] [%r10-8], %r1`.
fn lock(cur: &mut Cursor<'_>, col: usize) -> PResult<Parsed> {
    let fetch = cur.eat_ident("fetch");
    let op_col = cur.col();
    let name = cur.peek_ident().unwrap_or_default();
    if cur.peek_ident().is_some() {
        cur.bump();
    }
    let ops = operands(cur);
    count("lock", &ops, 2, col)?;
    let (base, width) = split_width(name);
    let op = match base {
        "add" => AtomicOp::Add { fetch },
        "or" => AtomicOp::Or { fetch },
        "and" => AtomicOp::And { fetch },
        "xor" => AtomicOp::Xor { fetch },
        "xchg" => AtomicOp::Xchg,
        "cmpxchg" => AtomicOp::CmpXchg,
        _ => {
            return Err((
                op_col,
                AsmErrorKind::UnknownMnemonic(format!("lock {name}")),
            ));
        }
    };
    let (dst, off) = ops[0].mem()?;
    let src = ops[1].reg()?;
    let size = if width == Width::W64 {
        Size::DW
    } else {
        Size::W
    };
    Ok(no_target(Insn::Atomic {
        size,
        op,
        dst,
        src,
        off,
    }))
}

/// `call 5`, `call helper 5`, `call %r2`, `call local func1`, `call runtime 7`.
fn call(cur: &mut Cursor<'_>, col: usize) -> PResult<Parsed> {
    let mode = match cur.peek_ident() {
        Some(m @ ("local" | "helper" | "runtime")) => {
            cur.bump();
            m
        }
        _ => "helper",
    };
    let ops = operands(cur);
    match mode {
        "local" => {
            count("call local", &ops, 1, col)?;
            let target = ops[0].parse(Cursor::target)?;
            Ok(with_target(Insn::Call(CallTarget::Local(0)), target))
        }
        "runtime" => {
            if ops.len() != 1 {
                count("call runtime", &ops, 2, col)?;
            }
            let btf_id = ops[0].parse(call_number)?;
            let module = match ops.get(1) {
                Some(op) => {
                    op.parse(|c| c.ranged("kfunc module", i16::MIN.into(), i16::MAX.into()))? as i16
                }
                None => 0,
            };
            Ok(no_target(Insn::Call(CallTarget::Kfunc { btf_id, module })))
        }
        _ => {
            count("call", &ops, 1, col)?;
            if ops[0].is_reg() {
                Ok(no_target(Insn::Callx { reg: ops[0].reg()? }))
            } else {
                Ok(no_target(Insn::Call(CallTarget::Helper(
                    ops[0].parse(call_number)?,
                ))))
            }
        }
    }
}
