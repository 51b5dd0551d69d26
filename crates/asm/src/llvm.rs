//! Parsing one line of LLVM/kernel syntax.

use crate::cursor::{Cursor, PResult, Target};
use crate::error::AsmErrorKind;
use crate::format::{alu_llvm_op, cond_llvm_op, endian_name};
use crate::parse::{Parsed, call_number, kind_from_src, no_target, with_target};
use apiary_isa::{
    AluOp, AtomicOp, CallTarget, EndianOp, Insn, JmpCond, LdImm64Kind, PacketMode, Reg, Size,
    Source, Width,
};

/// Parses a whole line (without its labels) in LLVM syntax.
pub(crate) fn parse_line(cur: &mut Cursor<'_>) -> PResult<Parsed> {
    let col = cur.col();
    let parsed = match cur.peek_ident() {
        Some("exit") => {
            cur.bump();
            no_target(Insn::Exit)
        }
        Some("goto") => {
            cur.bump();
            with_target(Insn::Ja { off: 0 }, branch_target(cur)?)
        }
        Some("gotol") => {
            cur.bump();
            with_target(Insn::Ja32 { imm: 0 }, branch_target(cur)?)
        }
        Some("may_goto") => {
            cur.bump();
            with_target(Insn::MayGoto { off: 0 }, branch_target(cur)?)
        }
        Some("call") => {
            cur.bump();
            call(cur)?
        }
        Some("callx") => {
            cur.bump();
            let (reg, _) = cur.llvm_reg()?;
            no_target(Insn::Callx { reg })
        }
        Some("lock") => {
            cur.bump();
            lock(cur)?
        }
        Some("if") => {
            cur.bump();
            jump(cur)?
        }
        Some("ld_pseudo") => {
            cur.bump();
            ld_pseudo(cur)?
        }
        Some("store_release") => {
            cur.bump();
            cur.expect_punct("(")?;
            let (size, dst, off) = typed_addr(cur)?;
            cur.expect_punct(",")?;
            let src = cur.llvm_reg_of(atomic_width(size), "store_release")?;
            cur.expect_punct(")")?;
            no_target(Insn::StoreRelease {
                size,
                dst,
                src,
                off,
            })
        }
        Some(word) if word.starts_with(['r', 'w']) && cur.peek_at(1).is_some() => reg_stmt(cur)?,
        Some(word) => return Err((col, AsmErrorKind::UnknownMnemonic(word.to_owned()))),
        None if cur.is_punct("*") => store(cur)?,
        None => return cur.unexpected("an instruction"),
    };
    cur.expect_end()?;
    Ok(parsed)
}

/// A branch target, ignoring llvm-objdump's trailing `<sym+0x10>` annotation.
fn branch_target(cur: &mut Cursor<'_>) -> PResult<Target> {
    let target = cur.target()?;
    if cur.eat_punct("<") {
        while cur.bump().is_some_and(|t| t.text != ">") {}
    }
    Ok(target)
}

fn call(cur: &mut Cursor<'_>) -> PResult<Parsed> {
    if cur.peek_ident() == Some("kfunc") && cur.peek_at(1).is_some_and(|t| t.text == "(") {
        cur.bump();
        cur.bump();
        let btf_id = cur.imm32()?;
        let module = if cur.eat_punct(",") {
            cur.ranged("kfunc module", i16::MIN.into(), i16::MAX.into())? as i16
        } else {
            0
        };
        cur.expect_punct(")")?;
        return Ok(no_target(Insn::Call(CallTarget::Kfunc { btf_id, module })));
    }
    let is_pc = cur.peek_ident() == Some("pc");
    let is_label = cur.peek_ident().is_some() && cur.peek_at(1).is_none_or(|t| t.text == "<");
    if is_pc || is_label {
        return Ok(with_target(
            Insn::Call(CallTarget::Local(0)),
            branch_target(cur)?,
        ));
    }
    // `call bpf_map_lookup_elem#1`, as the verifier log prints helpers.
    if cur.peek_ident().is_some() && cur.peek_at(1).is_some_and(|t| t.text == "#") {
        cur.bump();
        cur.bump();
    }
    let id = call_number(cur)?;
    if cur.eat_punct("<") {
        while cur.bump().is_some_and(|t| t.text != ">") {}
    }
    Ok(no_target(Insn::Call(CallTarget::Helper(id))))
}

fn size_of_name(name: &str) -> Option<(Size, bool)> {
    Some(match name {
        "u8" => (Size::B, false),
        "u16" => (Size::H, false),
        "u32" => (Size::W, false),
        "u64" => (Size::DW, false),
        "s8" => (Size::B, true),
        "s16" => (Size::H, true),
        "s32" => (Size::W, true),
        "s64" => (Size::DW, true),
        _ => return None,
    })
}

/// `u32 *)` after an opening parenthesis: the access size and signedness.
fn type_cast(cur: &mut Cursor<'_>) -> PResult<(Size, bool)> {
    let found = cur.peek_ident().and_then(size_of_name);
    let Some(found) = found else {
        return cur.unexpected("a size such as `u32`");
    };
    cur.bump();
    cur.expect_punct("*")?;
    cur.expect_punct(")")?;
    Ok(found)
}

/// `r10 - 0x8` inside parentheses.
fn addr(cur: &mut Cursor<'_>) -> PResult<(Reg, i16)> {
    let (base, _) = cur.llvm_reg()?;
    let off = if cur.is_punct("+") || cur.is_punct("-") {
        let col = cur.col();
        let (value, text) = cur.signed()?;
        crate::cursor::check_range(
            col,
            "offset",
            value,
            &text,
            i16::MIN.into(),
            i16::MAX.into(),
        )? as i16
    } else {
        0
    };
    Ok((base, off))
}

/// `(u64 *)(r10 - 0x8)`: an unsigned size and an address.
fn typed_addr(cur: &mut Cursor<'_>) -> PResult<(Size, Reg, i16)> {
    cur.expect_punct("(")?;
    let col = cur.col();
    let (size, signed) = type_cast(cur)?;
    if signed {
        return Err((
            col,
            AsmErrorKind::InvalidOperands("this access takes an unsigned size".into()),
        ));
    }
    cur.expect_punct("(")?;
    let (base, off) = addr(cur)?;
    cur.expect_punct(")")?;
    Ok((size, base, off))
}

fn atomic_width(size: Size) -> Width {
    if size == Size::DW {
        Width::W64
    } else {
        Width::W32
    }
}

fn check_atomic_size(col: usize, size: Size) -> PResult<()> {
    if matches!(size, Size::W | Size::DW) {
        Ok(())
    } else {
        Err((
            col,
            AsmErrorKind::InvalidOperands("atomic operations take u32 or u64".into()),
        ))
    }
}

fn store(cur: &mut Cursor<'_>) -> PResult<Parsed> {
    cur.expect_punct("*")?;
    let (size, dst, off) = typed_addr(cur)?;
    cur.expect_punct("=")?;
    let src = if cur.peek_ident().is_some() {
        Source::Reg(cur.llvm_reg()?.0)
    } else {
        Source::Imm(cur.imm32()?)
    };
    Ok(no_target(Insn::Store {
        size,
        dst,
        off,
        src,
    }))
}

fn lock(cur: &mut Cursor<'_>) -> PResult<Parsed> {
    cur.expect_punct("*")?;
    let col = cur.col();
    let (size, dst, off) = typed_addr(cur)?;
    check_atomic_size(col, size)?;
    let op = match cur.bump().map(|t| t.text.as_str()) {
        Some("+=") => AtomicOp::Add { fetch: false },
        Some("|=") => AtomicOp::Or { fetch: false },
        Some("&=") => AtomicOp::And { fetch: false },
        Some("^=") => AtomicOp::Xor { fetch: false },
        _ => {
            return Err((
                col,
                AsmErrorKind::InvalidOperands("`lock` takes `+=`, `|=`, `&=` or `^=`".into()),
            ));
        }
    };
    // llvm-objdump-19 names the register of a 32-bit add with `r`: accept both.
    let (src, _) = cur.llvm_reg()?;
    Ok(no_target(Insn::Atomic {
        size,
        op,
        dst,
        src,
        off,
    }))
}

fn jump(cur: &mut Cursor<'_>) -> PResult<Parsed> {
    let (dst, width) = cur.llvm_reg()?;
    let col = cur.col();
    let op = cur.bump().map(|t| t.text.clone()).unwrap_or_default();
    let Some(cond) = JmpCond::ALL.into_iter().find(|c| cond_llvm_op(*c) == op) else {
        return Err((
            col,
            AsmErrorKind::Unexpected {
                expected: "a comparison such as `==` or `s<`".into(),
                found: format!("`{op}`"),
            },
        ));
    };
    let src = if cur.peek_ident().is_some() {
        Source::Reg(cur.llvm_reg_of(width, "if")?)
    } else {
        Source::Imm(cur.imm32()?)
    };
    cur.expect_ident("goto")?;
    let target = branch_target(cur)?;
    Ok(with_target(
        Insn::Jump {
            width,
            cond,
            dst,
            src,
            off: 0,
        },
        target,
    ))
}

fn ld_pseudo(cur: &mut Cursor<'_>) -> PResult<Parsed> {
    let (dst, _) = cur.llvm_reg()?;
    cur.expect_punct(",")?;
    let kind = kind_from_src(cur)?;
    cur.expect_punct(",")?;
    if kind == LdImm64Kind::Func && cur.peek_ident().is_some() {
        let target = cur.target()?;
        return Ok(with_target(Insn::LoadImm64 { dst, kind, imm: 0 }, target));
    }
    let imm = cur.ranged("immediate", i64::MIN.into(), u64::MAX.into())? as u64;
    Ok(no_target(Insn::LoadImm64 { dst, kind, imm }))
}

fn reg_stmt(cur: &mut Cursor<'_>) -> PResult<Parsed> {
    let (dst, width) = cur.llvm_reg()?;
    let col = cur.col();
    let op = cur.bump().map(|t| t.text.clone()).unwrap_or_default();
    if op == "=" {
        return assign(cur, dst, width);
    }
    let Some(op) = AluOp::ALL
        .into_iter()
        .find(|o| *o != AluOp::Mov && alu_llvm_op(*o) == op)
    else {
        return Err((
            col,
            AsmErrorKind::Unexpected {
                expected: "an assignment such as `=`, `+=` or `s>>=`".into(),
                found: format!("`{op}`"),
            },
        ));
    };
    let src = alu_source(cur, width)?;
    Ok(no_target(Insn::Alu {
        width,
        op,
        dst,
        src,
    }))
}

fn alu_source(cur: &mut Cursor<'_>, width: Width) -> PResult<Source> {
    if cur.peek_ident().is_some() {
        Ok(Source::Reg(cur.llvm_reg_of(width, "arithmetic")?))
    } else {
        Ok(Source::Imm(cur.imm32()?))
    }
}

fn same_reg(cur: &mut Cursor<'_>, dst: Reg, width: Width, what: &str) -> PResult<()> {
    let col = cur.col();
    let src = cur.llvm_reg_of(width, what)?;
    if src == dst {
        Ok(())
    } else {
        Err((
            col,
            AsmErrorKind::InvalidOperands(format!(
                "{what} must name the same register on both sides"
            )),
        ))
    }
}

/// Everything of the form `rN = ...`.
fn assign(cur: &mut Cursor<'_>, dst: Reg, width: Width) -> PResult<Parsed> {
    let col = cur.col();
    // `r1 = -r1` (neg) versus `r1 = -0x1` (mov).
    if cur.is_punct("-")
        && cur
            .peek_at(1)
            .is_some_and(|t| matches!(t.tok, crate::lex::Tok::Ident(_)))
    {
        cur.bump();
        same_reg(cur, dst, width, "neg")?;
        return Ok(no_target(Insn::Neg { width, dst }));
    }
    if cur.eat_punct("(") {
        let Some((from, signed)) = cur.peek_ident().and_then(size_of_name) else {
            return cur.unexpected("a size such as `s8`");
        };
        cur.bump();
        cur.expect_punct(")")?;
        if !signed || from == Size::DW || (width == Width::W32 && from == Size::W) {
            return Err((
                col,
                AsmErrorKind::InvalidOperands(
                    "sign-extending moves take (s8), (s16) or (s32 into r)".into(),
                ),
            ));
        }
        let src = cur.llvm_reg_of(width, "movsx")?;
        return Ok(no_target(Insn::MovSx {
            width,
            dst,
            src,
            from,
        }));
    }
    if cur.eat_punct("*") {
        return load(cur, dst, width, col);
    }
    if let Some(word) = cur.peek_ident() {
        if let Some(parsed) = assign_call_form(cur, word, dst, width, col)? {
            return Ok(parsed);
        }
        let src = cur.llvm_reg_of(width, "mov")?;
        return Ok(no_target(Insn::Alu {
            width,
            op: AluOp::Mov,
            dst,
            src: Source::Reg(src),
        }));
    }
    let num_col = cur.col();
    let (value, text) = cur.signed()?;
    if cur.eat_ident("ll") {
        if width == Width::W32 {
            return Err((col, AsmErrorKind::MixedWidth("lddw".into())));
        }
        let imm = crate::cursor::check_range(
            num_col,
            "immediate",
            value,
            &text,
            i64::MIN.into(),
            u64::MAX.into(),
        )?;
        return Ok(no_target(Insn::LoadImm64 {
            dst,
            kind: LdImm64Kind::Imm,
            imm: imm as u64,
        }));
    }
    let imm = crate::cursor::imm32_value(num_col, value, &text)?;
    Ok(no_target(Insn::Alu {
        width,
        op: AluOp::Mov,
        dst,
        src: Source::Imm(imm),
    }))
}

fn load(cur: &mut Cursor<'_>, dst: Reg, width: Width, col: usize) -> PResult<Parsed> {
    if width == Width::W32 {
        return Err((col, AsmErrorKind::MixedWidth("load".into())));
    }
    cur.expect_punct("(")?;
    let (size, sign_extend) = type_cast(cur)?;
    if cur.eat_ident("skb") {
        if dst != Reg::R0 || sign_extend || size == Size::DW {
            return Err((
                col,
                AsmErrorKind::InvalidOperands(
                    "packet loads write r0 and take u8, u16 or u32".into(),
                ),
            ));
        }
        cur.expect_punct("[")?;
        let parsed = if cur.peek_ident().is_some() {
            let (src, _) = cur.llvm_reg()?;
            let imm = if cur.is_punct("+") || cur.is_punct("-") {
                cur.ranged("immediate", i32::MIN.into(), i32::MAX.into())? as i32
            } else {
                0
            };
            Insn::LoadPacket {
                mode: PacketMode::Ind,
                size,
                src,
                imm,
            }
        } else {
            Insn::LoadPacket {
                mode: PacketMode::Abs,
                size,
                src: Reg::R0,
                imm: cur.imm32()?,
            }
        };
        cur.expect_punct("]")?;
        return Ok(no_target(parsed));
    }
    if sign_extend && size == Size::DW {
        return Err((
            col,
            AsmErrorKind::InvalidOperands("there is no s64 load".into()),
        ));
    }
    cur.expect_punct("(")?;
    let (src, off) = addr(cur)?;
    cur.expect_punct(")")?;
    Ok(no_target(Insn::Load {
        size,
        sign_extend,
        dst,
        src,
        off,
    }))
}

/// The function-call-shaped right-hand sides: endianness, atomics,
/// `addr_space_cast`, `load_acquire`. `None` when `word` is none of them.
fn assign_call_form(
    cur: &mut Cursor<'_>,
    word: &str,
    dst: Reg,
    width: Width,
    col: usize,
) -> PResult<Option<Parsed>> {
    for op in [EndianOp::ToLe, EndianOp::ToBe, EndianOp::Swap] {
        let Some(bits) = word.strip_prefix(endian_name(op)) else {
            continue;
        };
        let bits = match bits {
            "16" => 16,
            "32" => 32,
            "64" => 64,
            _ => continue,
        };
        cur.bump();
        same_reg(cur, dst, Width::W64, "byte swap")?;
        return Ok(Some(no_target(Insn::Endian { op, bits, dst })));
    }
    let fetch_op = match word {
        "atomic_fetch_add" => Some(AtomicOp::Add { fetch: true }),
        "atomic_fetch_or" => Some(AtomicOp::Or { fetch: true }),
        "atomic_fetch_and" => Some(AtomicOp::And { fetch: true }),
        "atomic_fetch_xor" => Some(AtomicOp::Xor { fetch: true }),
        _ => None,
    };
    if let Some(op) = fetch_op {
        cur.bump();
        cur.expect_punct("(")?;
        let (size, base, off) = typed_addr(cur)?;
        check_atomic_size(col, size)?;
        cur.expect_punct(",")?;
        same_reg(cur, dst, width, word)?;
        cur.expect_punct(")")?;
        return Ok(Some(no_target(Insn::Atomic {
            size,
            op,
            dst: base,
            src: dst,
            off,
        })));
    }
    let (xchg_size, is_cmpxchg) = match word {
        "xchg_64" => (Size::DW, false),
        "xchg32_32" => (Size::W, false),
        "cmpxchg_64" => (Size::DW, true),
        "cmpxchg32_32" => (Size::W, true),
        _ => (Size::B, false),
    };
    if xchg_size != Size::B {
        cur.bump();
        if atomic_width(xchg_size) != width {
            return Err((col, AsmErrorKind::MixedWidth(word.to_owned())));
        }
        cur.expect_punct("(")?;
        let (base, off) = addr(cur)?;
        cur.expect_punct(",")?;
        let (op, src) = if is_cmpxchg {
            if dst != Reg::R0 {
                return Err((
                    col,
                    AsmErrorKind::InvalidOperands("cmpxchg writes r0".into()),
                ));
            }
            same_reg(cur, Reg::R0, width, word)?;
            cur.expect_punct(",")?;
            (AtomicOp::CmpXchg, cur.llvm_reg_of(width, word)?)
        } else {
            same_reg(cur, dst, width, word)?;
            (AtomicOp::Xchg, dst)
        };
        cur.expect_punct(")")?;
        return Ok(Some(no_target(Insn::Atomic {
            size: xchg_size,
            op,
            dst: base,
            src,
            off,
        })));
    }
    match word {
        "addr_space_cast" => {
            cur.bump();
            if width == Width::W32 {
                return Err((col, AsmErrorKind::MixedWidth(word.to_owned())));
            }
            cur.expect_punct("(")?;
            let src = cur.llvm_reg_of(Width::W64, word)?;
            cur.expect_punct(",")?;
            let dst_as = cur.ranged("address space", 0, u16::MAX.into())? as u16;
            cur.expect_punct(",")?;
            let src_as = cur.ranged("address space", 0, u16::MAX.into())? as u16;
            cur.expect_punct(")")?;
            Ok(Some(no_target(Insn::AddrSpaceCast {
                dst,
                src,
                dst_as,
                src_as,
            })))
        }
        "load_acquire" => {
            cur.bump();
            cur.expect_punct("(")?;
            let (size, src, off) = typed_addr(cur)?;
            if atomic_width(size) != width {
                return Err((col, AsmErrorKind::MixedWidth(word.to_owned())));
            }
            cur.expect_punct(")")?;
            Ok(Some(no_target(Insn::LoadAcquire {
                size,
                dst,
                src,
                off,
            })))
        }
        _ => Ok(None),
    }
}
