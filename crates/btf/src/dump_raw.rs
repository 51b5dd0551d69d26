//! The default `bpftool btf dump` output: one line per type, members on
//! tab-indented continuation lines.

use std::io::{self, Write};

use crate::btf::Btf;
use crate::types::{FuncLinkage, FwdKind, IntEncoding, Kind, Type, TypeId, VarLinkage};

/// Writes every type of `btf` exactly as `bpftool btf dump file FILE` does.
pub fn dump_raw(btf: &Btf, out: &mut impl Write) -> io::Result<()> {
    for (id, t) in btf.types() {
        dump_raw_type(btf, id, t, out)?;
    }
    Ok(())
}

/// bpftool's `btf_str`: `(anon)` for offset 0, the string otherwise.
fn quoted_name(btf: &Btf, name_off: u32) -> &str {
    if name_off == 0 {
        "(anon)"
    } else {
        btf.str_at(name_off).unwrap_or("(invalid)")
    }
}

/// Writes one type as bpftool's `dump_btf_type` does, with its newline.
pub fn dump_raw_type(btf: &Btf, id: TypeId, t: &Type, out: &mut impl Write) -> io::Result<()> {
    write!(
        out,
        "[{}] {} '{}'",
        id,
        t.kind_tag().bpftool_name(),
        quoted_name(btf, t.name_off)
    )?;
    match &t.kind {
        Kind::Void => {}
        Kind::Int(i) => {
            let encoding = match i.encoding {
                IntEncoding::Unsigned => "(none)",
                IntEncoding::Signed => "SIGNED",
                IntEncoding::Char => "CHAR",
                IntEncoding::Bool => "BOOL",
            };
            write!(
                out,
                " size={} bits_offset={} nr_bits={} encoding={}",
                i.size, i.offset, i.bits, encoding
            )?;
        }
        Kind::Ptr(target)
        | Kind::Const(target)
        | Kind::Volatile(target)
        | Kind::Restrict(target)
        | Kind::Typedef(target)
        | Kind::TypeTag(target) => write!(out, " type_id={target}")?,
        Kind::Array(a) => write!(
            out,
            " type_id={} index_type_id={} nr_elems={}",
            a.elem_type, a.index_type, a.nelems
        )?,
        Kind::Struct(c) | Kind::Union(c) => {
            write!(out, " size={} vlen={}", c.size, c.members.len())?;
            for m in &c.members {
                write!(
                    out,
                    "\n\t'{}' type_id={} bits_offset={}",
                    quoted_name(btf, m.name_off),
                    m.ty,
                    m.bit_offset
                )?;
                if m.bitfield_size != 0 {
                    write!(out, " bitfield_size={}", m.bitfield_size)?;
                }
            }
        }
        Kind::Enum(e) | Kind::Enum64(e) => {
            let is_64 = matches!(t.kind, Kind::Enum64(_));
            let encoding = if e.signed { "SIGNED" } else { "UNSIGNED" };
            write!(
                out,
                " encoding={} size={} vlen={}",
                encoding,
                e.size,
                e.values.len()
            )?;
            for v in &e.values {
                let name = quoted_name(btf, v.name_off);
                match (is_64, e.signed) {
                    (false, false) => write!(out, "\n\t'{name}' val={}", v.raw as u32)?,
                    (false, true) => write!(out, "\n\t'{name}' val={}", v.raw as u32 as i32)?,
                    (true, false) => write!(out, "\n\t'{name}' val={}ULL", v.raw)?,
                    (true, true) => write!(out, "\n\t'{name}' val={}LL", v.raw as i64)?,
                }
            }
        }
        Kind::Fwd(kind) => {
            let keyword = match kind {
                FwdKind::Struct => "struct",
                FwdKind::Union => "union",
            };
            write!(out, " fwd_kind={keyword}")?;
        }
        Kind::Func { proto, linkage } => {
            let linkage = match linkage {
                FuncLinkage::Static => "static",
                FuncLinkage::Global => "global",
                FuncLinkage::Extern => "extern",
            };
            write!(out, " type_id={proto} linkage={linkage}")?;
        }
        Kind::FuncProto(p) => {
            write!(out, " ret_type_id={} vlen={}", p.ret_type, p.params.len())?;
            for param in &p.params {
                write!(
                    out,
                    "\n\t'{}' type_id={}",
                    quoted_name(btf, param.name_off),
                    param.ty
                )?;
            }
        }
        Kind::Var { ty, linkage } => {
            let linkage = match linkage {
                VarLinkage::Static => "static",
                VarLinkage::Global => "global",
                VarLinkage::Extern => "extern",
            };
            write!(out, " type_id={ty}, linkage={linkage}")?;
        }
        Kind::Datasec(d) => {
            write!(out, " size={} vlen={}", d.size, d.vars.len())?;
            for v in &d.vars {
                write!(
                    out,
                    "\n\ttype_id={} offset={} size={}",
                    v.ty, v.offset, v.size
                )?;
                if let Ok(var) = btf.type_by_id(v.ty) {
                    write!(
                        out,
                        " ({} '{}')",
                        var.kind_tag().bpftool_name(),
                        quoted_name(btf, var.name_off)
                    )?;
                }
            }
        }
        Kind::Float { size } => write!(out, " size={size}")?,
        Kind::DeclTag {
            target,
            component_idx,
        } => write!(out, " type_id={target} component_idx={component_idx}")?,
    }
    writeln!(out)
}
