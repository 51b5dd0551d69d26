//! Writing a [`Btf`] back to `.BTF` bytes (little-endian, the standard
//! header layout, the original string section), and libbpf's fix-up of
//! data sections (`btf_fixup_datasec`), which clang leaves with size 0 and
//! every variable at offset 0.

use crate::btf::Btf;
use crate::error::BtfError;
use crate::types::{FuncLinkage, FwdKind, IntEncoding, Kind, TypeId, VarLinkage};

const MAGIC: u16 = 0xeb9f;
const HEADER_LEN: u32 = 24;

impl Btf {
    /// The BTF as little-endian `.BTF` bytes: the 24-byte header, every type
    /// in id order, then the string section unchanged (so every name
    /// offset stays valid). Parsing the result gives back the same types.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut types = Vec::new();
        for (id, t) in self.types() {
            encode_type(&mut types, t.name_off, &t.kind, self.is_attribute_tag(id));
        }
        let strings = self.string_section().as_bytes();
        let mut out = Vec::with_capacity(HEADER_LEN as usize + types.len() + strings.len());
        out.extend_from_slice(&MAGIC.to_le_bytes());
        out.extend_from_slice(&[1, 0]);
        // Both sections fit in u32: they came from a parsed blob whose
        // header gave their lengths as u32.
        let type_len = types.len() as u32;
        for word in [HEADER_LEN, 0, type_len, type_len, strings.len() as u32] {
            out.extend_from_slice(&word.to_le_bytes());
        }
        out.extend_from_slice(&types);
        out.extend_from_slice(strings);
        out
    }

    /// libbpf's layout of the `.kconfig` extern section once the externs
    /// have their places in the `.kconfig` map (`bpf_object__collect_externs`):
    /// the section gets the map's value size, each variable the offset
    /// `extern_offset` gives for its name and global-allocated linkage, and
    /// variables are sorted by offset. A variable without an offset is an
    /// error, as in libbpf.
    pub fn layout_kconfig_datasec(
        &mut self,
        id: TypeId,
        size: u32,
        extern_offset: impl Fn(&str) -> Option<u32>,
    ) -> Result<(), BtfError> {
        let name = self.name(id)?.to_owned();
        let Kind::Datasec(sec) = &self.type_by_id(id)?.kind else {
            return Err(BtfError::NotADatasec(id));
        };
        let mut vars = sec.vars.clone();
        for var in &mut vars {
            let var_name = self.name(var.ty)?;
            var.offset = extern_offset(var_name).ok_or_else(|| BtfError::MissingSymbol {
                datasec: name.clone(),
                var: var_name.to_owned(),
            })?;
        }
        vars.sort_by_key(|v| v.offset);
        for var in &vars {
            if let Some(Kind::Var { linkage, .. }) = self.kind_mut(var.ty) {
                *linkage = VarLinkage::Global;
            }
        }
        if let Some(Kind::Datasec(sec)) = self.kind_mut(id) {
            sec.size = size;
            sec.vars = vars;
        }
        Ok(())
    }

    /// libbpf's `btf_fixup_datasec` for the data section `id` of an object
    /// file: a section of size 0 gets `section_size` and every variable the
    /// offset `symbol_offset` gives for its name (the ELF symbol's value);
    /// then variables are sorted by offset. `.kconfig` and `.ksyms` are
    /// only sorted, as libbpf does. A variable without a symbol is an error.
    pub fn fixup_datasec(
        &mut self,
        id: TypeId,
        section_size: u32,
        symbol_offset: impl Fn(&str) -> Option<u32>,
    ) -> Result<(), BtfError> {
        let name = self.name(id)?.to_owned();
        let Kind::Datasec(sec) = &self.type_by_id(id)?.kind else {
            return Err(BtfError::NotADatasec(id));
        };
        let externs = name == ".kconfig" || name == ".ksyms";
        let fixup_offsets = !externs && sec.size == 0;
        let mut vars = sec.vars.clone();
        if fixup_offsets {
            for var in &mut vars {
                let var_name = self.name(var.ty)?;
                var.offset = symbol_offset(var_name).ok_or_else(|| BtfError::MissingSymbol {
                    datasec: name.clone(),
                    var: var_name.to_owned(),
                })?;
            }
        }
        vars.sort_by_key(|v| v.offset);
        if let Some(Kind::Datasec(sec)) = self.kind_mut(id) {
            if fixup_offsets {
                sec.size = section_size;
            }
            sec.vars = vars;
        }
        Ok(())
    }
}

fn word(out: &mut Vec<u8>, w: u32) {
    out.extend_from_slice(&w.to_le_bytes());
}

/// Appends one type; `attribute_tag` is the kind flag of a type or decl tag.
fn encode_type(out: &mut Vec<u8>, name_off: u32, kind: &Kind, attribute_tag: bool) {
    let tag = kind.tag() as u32;
    let head = |out: &mut Vec<u8>, vlen: usize, kflag: bool, size_or_type: u32| {
        // vlen fits in 16 bits: it was read from a 16-bit field.
        let info = (u32::from(kflag) << 31) | (tag << 24) | (vlen as u32 & 0xffff);
        word(out, name_off);
        word(out, info);
        word(out, size_or_type);
    };
    match kind {
        Kind::Void => {}
        Kind::Int(i) => {
            head(out, 0, false, i.size);
            let encoding = match i.encoding {
                IntEncoding::Unsigned => 0,
                IntEncoding::Signed => 1,
                IntEncoding::Char => 2,
                IntEncoding::Bool => 4,
            };
            word(
                out,
                (encoding << 24) | (u32::from(i.offset) << 16) | u32::from(i.bits),
            );
        }
        Kind::Array(a) => {
            head(out, 0, false, 0);
            for w in [a.elem_type.0, a.index_type.0, a.nelems] {
                word(out, w);
            }
        }
        Kind::Struct(c) | Kind::Union(c) => {
            head(out, c.members.len(), c.bitfield_encoding, c.size);
            for m in &c.members {
                let offset = if c.bitfield_encoding {
                    (u32::from(m.bitfield_size) << 24) | m.bit_offset
                } else {
                    m.bit_offset
                };
                for w in [m.name_off, m.ty.0, offset] {
                    word(out, w);
                }
            }
        }
        Kind::Enum(e) => {
            head(out, e.values.len(), e.signed, e.size);
            for v in &e.values {
                word(out, v.name_off);
                word(out, v.raw as u32);
            }
        }
        Kind::Enum64(e) => {
            head(out, e.values.len(), e.signed, e.size);
            for v in &e.values {
                for w in [v.name_off, v.raw as u32, (v.raw >> 32) as u32] {
                    word(out, w);
                }
            }
        }
        Kind::Fwd(f) => head(out, 0, *f == FwdKind::Union, 0),
        Kind::Func { proto, linkage } => {
            let vlen = match linkage {
                FuncLinkage::Static => 0,
                FuncLinkage::Global => 1,
                FuncLinkage::Extern => 2,
            };
            head(out, vlen, false, proto.0);
        }
        Kind::FuncProto(p) => {
            head(out, p.params.len(), false, p.ret_type.0);
            for param in &p.params {
                word(out, param.name_off);
                word(out, param.ty.0);
            }
        }
        Kind::Var { ty, linkage } => {
            head(out, 0, false, ty.0);
            word(
                out,
                match linkage {
                    VarLinkage::Static => 0,
                    VarLinkage::Global => 1,
                    VarLinkage::Extern => 2,
                },
            );
        }
        Kind::Datasec(d) => {
            head(out, d.vars.len(), false, d.size);
            for v in &d.vars {
                for w in [v.ty.0, v.offset, v.size] {
                    word(out, w);
                }
            }
        }
        Kind::Float { size } => head(out, 0, false, *size),
        Kind::DeclTag {
            target,
            component_idx,
        } => {
            head(out, 0, attribute_tag, target.0);
            word(out, *component_idx as u32);
        }
        Kind::TypeTag(t) => head(out, 0, attribute_tag, t.0),
        Kind::Ptr(t)
        | Kind::Typedef(t)
        | Kind::Volatile(t)
        | Kind::Const(t)
        | Kind::Restrict(t) => head(out, 0, false, t.0),
    }
}
