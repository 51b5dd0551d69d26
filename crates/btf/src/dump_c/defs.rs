//! Definitions: structs and unions (with the padding and packing their
//! layout needs), enums, typedefs and forward declarations.

use std::fmt::Write as _;

use super::{CDumper, Namespace, indent, round_up};
use crate::types::{Composite, Enum, FwdKind, Kind, Type, TypeId};

impl CDumper<'_> {
    pub(super) fn emit_struct_fwd(&mut self, id: TypeId, t: &Type) {
        let keyword = if matches!(t.kind, Kind::Struct(_)) {
            "struct"
        } else {
            "union"
        };
        let name = self.unique_name(id, Namespace::Tags);
        let sep = if t.name_off != 0 { " " } else { "" };
        let _ = write!(self.out, "{keyword}{sep}{name}");
    }

    pub(super) fn emit_fwd_def(&mut self, id: TypeId, kind: FwdKind) {
        let name = self.unique_name(id, Namespace::Tags);
        let keyword = match kind {
            FwdKind::Struct => "struct",
            FwdKind::Union => "union",
        };
        let _ = write!(self.out, "{keyword} {name}");
    }

    pub(super) fn align_or_zero(&self, id: TypeId) -> i64 {
        self.btf.align_of(id).map_or(0, i64::from)
    }

    /// Whether a struct's layout needs `__attribute__((packed))`.
    pub(super) fn is_packed(&self, c: &Composite) -> bool {
        let mut max_align = 1;
        for m in &c.members {
            let align = self.align_or_zero(m.ty);
            if align != 0 && m.bitfield_size == 0 && i64::from(m.bit_offset) % (8 * align) != 0 {
                return true;
            }
            max_align = max_align.max(align);
        }
        i64::from(c.size) % max_align != 0
    }

    /// Explicit anonymous bitfields reproducing a gap between `cur_off` and
    /// `next_off` (in bits) that natural alignment would not create.
    pub(super) fn emit_bit_padding(
        &mut self,
        id: TypeId,
        cur_off: i64,
        next_off: i64,
        next_align: i64,
        in_bitfield: bool,
        lvl: usize,
    ) {
        let ptr_bits = i64::from(self.btf.pointer_size()) * 8;
        let pads = [("long", ptr_bits), ("int", 32), ("short", 16), ("char", 8)];
        if cur_off >= next_off {
            return;
        }
        let mut cur = cur_off;
        let (mut pad_type, mut pad_bits) = pads[pads.len() - 1];
        let mut new_off = round_up(cur, pad_bits);
        for &(name, bits) in &pads {
            pad_type = name;
            pad_bits = bits;
            new_off = round_up(cur, bits);
            if new_off <= next_off {
                break;
            }
        }
        if new_off > cur && new_off <= next_off {
            if in_bitfield
                || (new_off == next_off && round_up(cur, next_align * 8) != new_off)
                || (new_off != next_off && next_off - new_off <= new_off - cur)
            {
                let width = if in_bitfield { new_off - cur } else { 0 };
                let _ = write!(self.out, "\n{}{pad_type}: {width};", indent(lvl));
            }
            cur = new_off;
        }
        while cur != next_off && !self.out_of_budget(id) {
            let bits = (next_off - cur).min(pad_bits);
            if bits == pad_bits {
                let _ = write!(self.out, "\n{}{pad_type}: {pad_bits};", indent(lvl));
                cur += bits;
                continue;
            }
            // The remainder gets the smallest type that holds it.
            match pads.iter().rev().find(|(_, b)| *b >= bits) {
                Some(&(name, b)) => {
                    pad_type = name;
                    pad_bits = b;
                    let _ = write!(self.out, "\n{}{pad_type}: {bits};", indent(lvl));
                    cur += bits;
                }
                None => break,
            }
        }
    }

    pub(super) fn emit_struct_def(&mut self, id: TypeId, t: &Type, c: &Composite, lvl: usize) {
        let is_struct = matches!(t.kind, Kind::Struct(_));
        let align = self.align_or_zero(id);
        let packed = is_struct && self.is_packed(c);
        self.emit_struct_fwd(id, t);
        self.out.push_str(" {");
        let mut off: i64 = 0;
        let mut prev_bitfield = false;
        for m in &c.members {
            let fname = self.str_at(m.name_off);
            let m_off = i64::from(m.bit_offset);
            let m_align = if packed { 1 } else { self.align_or_zero(m.ty) };
            let in_bitfield = prev_bitfield && m.bitfield_size != 0;
            if self.out_of_budget(id) {
                break;
            }
            self.emit_bit_padding(id, off, m_off, m_align, in_bitfield, lvl + 1);
            let _ = write!(self.out, "\n{}", indent(lvl + 1));
            self.emit_type_decl(m.ty, fname, lvl + 1);
            if m.bitfield_size != 0 {
                let _ = write!(self.out, ": {}", m.bitfield_size);
                off = m_off + i64::from(m.bitfield_size);
                prev_bitfield = true;
            } else {
                let size = self.btf.size_of(m.ty).map_or(0, i64::from);
                off = m_off + size * 8;
                prev_bitfield = false;
            }
            self.out.push(';');
        }
        if is_struct {
            self.emit_bit_padding(id, off, i64::from(c.size) * 8, align, false, lvl + 1);
        }
        // `struct empty {}` stays on one line.
        if !c.members.is_empty() || c.size != 0 {
            let _ = write!(self.out, "\n{}}}", indent(lvl));
        } else {
            self.out.push('}');
        }
        if packed {
            self.out.push_str(" __attribute__((packed))");
        }
    }

    pub(super) fn emit_enum_def(&mut self, id: TypeId, t: &Type, e: &Enum, lvl: usize) {
        let is_64 = matches!(t.kind, Kind::Enum64(_));
        let name = self.unique_name(id, Namespace::Tags);
        let sep = if t.name_off != 0 { " " } else { "" };
        let _ = write!(self.out, "enum{sep}{name}");
        if e.values.is_empty() {
            return;
        }
        self.out.push_str(" {");
        for v in &e.values {
            let vname = self.str_at(v.name_off);
            // Enumerators share the ordinary identifier namespace.
            let count = self.name_occurrence(Namespace::Idents, vname);
            let suffix = if count > 1 {
                format!("___{count}")
            } else {
                String::new()
            };
            let value = match (is_64, e.signed) {
                (false, false) => (v.raw as u32).to_string(),
                (false, true) => (v.raw as u32 as i32).to_string(),
                (true, false) => format!("{}ULL", v.raw),
                (true, true) => format!("{}LL", v.raw as i64),
            };
            let _ = write!(self.out, "\n{}{vname}{suffix} = {value},", indent(lvl + 1));
        }
        // bpftool 7.1 (kernel 6.1 libbpf) writes no `mode(byte)` /
        // `mode(word)` attribute for odd-sized enums.
        let _ = write!(self.out, "\n{}}}", indent(lvl));
    }

    pub(super) fn emit_typedef_def(&mut self, id: TypeId, t: &Type, lvl: usize) {
        let name = self.unique_name(id, Namespace::Idents);
        let target = t.kind.referenced_type().unwrap_or(TypeId::VOID);
        // Old GCC emits __gnuc_va_list as a typedef of void.
        if target == TypeId::VOID && name == "__gnuc_va_list" {
            self.out
                .push_str("typedef __builtin_va_list __gnuc_va_list");
            return;
        }
        self.out.push_str("typedef ");
        self.emit_type_decl(target, &name, lvl);
    }
}
