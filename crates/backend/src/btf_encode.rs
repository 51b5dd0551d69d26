//! Re-encodes parsed object BTF for `BPF_BTF_LOAD`, with the fixes libbpf
//! applies before the kernel sees it (`btf_fixup_datasec` and extern
//! sanitizing), and interns the line-info strings programs refer to.

use std::collections::{HashMap, HashSet};

use apiary_btf::{Btf, FuncLinkage, FwdKind, IntEncoding, Kind, VarLinkage};

use crate::Error;

/// The real layout of one data section, read from the ELF object.
#[derive(Debug, Clone, Default)]
pub(crate) struct SectionLayout {
    /// Section size in bytes.
    pub(crate) size: u32,
    /// Symbol name to offset within the section.
    pub(crate) symbols: HashMap<String, u32>,
}

/// Builds BTF bytes: header, types, then an interned string table.
pub(crate) struct BtfWriter {
    types: Vec<u8>,
    strings: Vec<u8>,
    offsets: HashMap<String, u32>,
}

impl BtfWriter {
    fn new() -> BtfWriter {
        BtfWriter {
            types: Vec::new(),
            strings: vec![0],
            offsets: HashMap::from([(String::new(), 0)]),
        }
    }

    /// The string table offset of `text`, adding it if new.
    pub(crate) fn intern(&mut self, text: &str) -> Result<u32, Error> {
        if let Some(&off) = self.offsets.get(text) {
            return Ok(off);
        }
        if text.contains('\0') {
            return Err(Error::Btf(format!("string {text:?} contains a NUL byte")));
        }
        let off = u32::try_from(self.strings.len())
            .map_err(|_| Error::Btf("string table exceeds 4 GiB".to_owned()))?;
        self.strings.extend_from_slice(text.as_bytes());
        self.strings.push(0);
        self.offsets.insert(text.to_owned(), off);
        Ok(off)
    }

    fn word(&mut self, value: u32) {
        self.types.extend_from_slice(&value.to_ne_bytes());
    }

    /// The finished blob in host byte order.
    pub(crate) fn finish(&self) -> Result<Vec<u8>, Error> {
        let too_big = |_| Error::Btf("BTF exceeds 4 GiB".to_owned());
        let type_len = u32::try_from(self.types.len()).map_err(too_big)?;
        let str_len = u32::try_from(self.strings.len()).map_err(too_big)?;
        let mut out = Vec::with_capacity(24 + self.types.len() + self.strings.len());
        out.extend_from_slice(&0xeb9f_u16.to_ne_bytes());
        out.extend_from_slice(&[1, 0]);
        for word in [24, 0, type_len, type_len, str_len] {
            out.extend_from_slice(&u32::to_ne_bytes(word));
        }
        out.extend_from_slice(&self.types);
        out.extend_from_slice(&self.strings);
        Ok(out)
    }
}

fn info(kind: u32, vlen: usize, kind_flag: bool) -> Result<u32, Error> {
    let vlen = u16::try_from(vlen).map_err(|_| Error::Btf(format!("vlen {vlen} exceeds 65535")))?;
    Ok(u32::from(vlen) | (kind << 24) | (u32::from(kind_flag) << 31))
}

/// What [`encode`] produced besides the bytes.
pub(crate) struct Encoded {
    /// The writer, still open for line-info strings.
    pub(crate) writer: BtfWriter,
    /// DATASECs whose layout was fixed (their ids are usable as map value types).
    pub(crate) fixed_datasecs: Vec<u32>,
}

/// Encodes `btf`. DATASECs whose section `layouts` knows get libbpf's fixed
/// size and variable offsets; others (externs, or no ELF given) become
/// empty anonymous structs so the kernel accepts them. Extern variables and
/// functions get linkages the kernel accepts, and `hidden` symbols static
/// linkage, as libbpf does.
pub(crate) fn encode(
    btf: &Btf,
    layouts: &HashMap<String, SectionLayout>,
    hidden: &HashSet<String>,
) -> Result<Encoded, Error> {
    let mut w = BtfWriter::new();
    let mut fixed_datasecs = Vec::new();
    let bad = |e: apiary_btf::BtfError| Error::Btf(e.to_string());
    for (id, t) in btf.types() {
        let type_name = btf.str_at(t.name_off).map_err(bad)?;
        let is_hidden = hidden.contains(type_name);
        let name = w.intern(type_name)?;
        let name_of = |w: &mut BtfWriter, off: u32| -> Result<u32, Error> {
            w.intern(btf.str_at(off).map_err(bad)?)
        };
        match &t.kind {
            Kind::Void => return Err(Error::Btf(format!("type {} is void", id.0))),
            Kind::Int(int) => {
                w.word(name);
                w.word(info(1, 0, false)?);
                w.word(int.size);
                let encoding: u32 = match int.encoding {
                    IntEncoding::Unsigned => 0,
                    IntEncoding::Signed => 1,
                    IntEncoding::Char => 2,
                    IntEncoding::Bool => 4,
                };
                w.word((encoding << 24) | (u32::from(int.offset) << 16) | u32::from(int.bits));
            }
            Kind::Ptr(to)
            | Kind::Typedef(to)
            | Kind::Volatile(to)
            | Kind::Const(to)
            | Kind::Restrict(to)
            | Kind::TypeTag(to) => {
                let kind = match t.kind {
                    Kind::Ptr(_) => 2,
                    Kind::Typedef(_) => 8,
                    Kind::Volatile(_) => 9,
                    Kind::Const(_) => 10,
                    Kind::Restrict(_) => 11,
                    _ => 18,
                };
                w.word(name);
                w.word(info(kind, 0, false)?);
                w.word(to.0);
            }
            Kind::Array(array) => {
                w.word(name);
                w.word(info(3, 0, false)?);
                w.word(0);
                w.word(array.elem_type.0);
                w.word(array.index_type.0);
                w.word(array.nelems);
            }
            Kind::Struct(c) | Kind::Union(c) => {
                let kind = if matches!(t.kind, Kind::Struct(_)) {
                    4
                } else {
                    5
                };
                w.word(name);
                w.word(info(kind, c.members.len(), c.bitfield_encoding)?);
                w.word(c.size);
                for m in &c.members {
                    let member_name = name_of(&mut w, m.name_off)?;
                    w.word(member_name);
                    w.word(m.ty.0);
                    w.word(if c.bitfield_encoding {
                        (u32::from(m.bitfield_size) << 24) | m.bit_offset
                    } else {
                        m.bit_offset
                    });
                }
            }
            Kind::Enum(e) | Kind::Enum64(e) => {
                let is64 = matches!(t.kind, Kind::Enum64(_));
                w.word(name);
                w.word(info(if is64 { 19 } else { 6 }, e.values.len(), e.signed)?);
                w.word(e.size);
                for v in &e.values {
                    let value_name = name_of(&mut w, v.name_off)?;
                    w.word(value_name);
                    // Truncation to the low word is the encoding of both kinds.
                    w.word(v.raw as u32);
                    if is64 {
                        w.word((v.raw >> 32) as u32);
                    }
                }
            }
            Kind::Fwd(kind) => {
                w.word(name);
                w.word(info(7, 0, *kind == FwdKind::Union)?);
                w.word(0);
            }
            Kind::Func { proto, linkage } => {
                // The kernel accepts only static and global functions;
                // libbpf likewise demotes extern (kfunc) declarations.
                let vlen = match linkage {
                    FuncLinkage::Global if !is_hidden => 1,
                    FuncLinkage::Global => 0,
                    FuncLinkage::Static | FuncLinkage::Extern => 0,
                };
                w.word(name);
                w.word(info(12, vlen, false)?);
                w.word(proto.0);
            }
            Kind::FuncProto(p) => {
                w.word(name);
                w.word(info(13, p.params.len(), false)?);
                w.word(p.ret_type.0);
                for param in &p.params {
                    let param_name = name_of(&mut w, param.name_off)?;
                    w.word(param_name);
                    w.word(param.ty.0);
                }
            }
            Kind::Var { ty, linkage } => {
                w.word(name);
                w.word(info(14, 0, false)?);
                w.word(ty.0);
                // Externs are allocated by the loader (.kconfig map) or
                // resolved away (.ksyms), so libbpf presents them as globals.
                w.word(match linkage {
                    VarLinkage::Global | VarLinkage::Extern if !is_hidden => 1,
                    _ => 0,
                });
            }
            Kind::Datasec(d) => {
                let section = btf.str_at(t.name_off).map_err(bad)?;
                let placed = layouts.get(section).and_then(|layout| {
                    let mut vars = Vec::with_capacity(d.vars.len());
                    for v in &d.vars {
                        let var_name = btf.name(v.ty).ok()?;
                        vars.push((v.ty.0, *layout.symbols.get(var_name)?, v.size));
                    }
                    // The kernel wants variables in ascending, non-overlapping order.
                    vars.sort_by_key(|&(_, offset, _)| offset);
                    Some((layout.size, vars))
                });
                match placed {
                    Some((size, vars)) => {
                        fixed_datasecs.push(id.0);
                        w.word(name);
                        w.word(info(15, vars.len(), false)?);
                        w.word(size);
                        for (ty, offset, var_size) in vars {
                            w.word(ty);
                            w.word(offset);
                            w.word(var_size);
                        }
                    }
                    None => {
                        let size = layouts.get(section).map_or(0, |l| l.size);
                        w.word(0);
                        w.word(info(4, 0, false)?);
                        w.word(size);
                    }
                }
            }
            Kind::Float { size } => {
                w.word(name);
                w.word(info(16, 0, false)?);
                w.word(*size);
            }
            Kind::DeclTag {
                target,
                component_idx,
            } => {
                w.word(name);
                w.word(info(17, 0, false)?);
                w.word(target.0);
                w.word(component_idx.cast_unsigned());
            }
        }
    }
    Ok(Encoded {
        writer: w,
        fixed_datasecs,
    })
}
