//! BTF to compilable C, as `bpftool btf dump file FILE format c` prints it.
//!
//! The algorithm follows the behaviour of libbpf's `btf_dump.c` (which
//! bpftool uses): a topological ordering pass decides which definitions must
//! precede which (embedding needs a full definition, a pointer only a forward
//! declaration), then an emission pass writes definitions, forward
//! declarations, and declarators with C's inside-out syntax. Duplicate names
//! get `___N` suffixes, anonymous types are written inline, and structs whose
//! layout cannot come from natural alignment get explicit padding or
//! `__attribute__((packed))`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{self, Write};

use crate::btf::Btf;
use crate::error::BtfError;
use crate::types::{Composite, Enum, FwdKind, Kind, Type, TypeId};

/// Nesting limit for the recursive passes; real BTF nests a few dozen
/// levels, hostile BTF could otherwise exhaust the stack.
const MAX_NESTING: usize = 512;
/// libbpf indents with at most this many tabs.
const MAX_INDENT: usize = 13;
/// Output allowance every dump gets, whatever its size.
const BASE_OUTPUT_BUDGET: usize = 1 << 20;
/// Output allowance per type. vmlinux averages about 20 bytes of C per type;
/// without a cap a single struct's `size` (up to 4 GiB, i.e. hundreds of
/// millions of padding lines) or anonymous types inlined into each other
/// could make a few bytes of BTF print gigabytes.
const OUTPUT_BUDGET_PER_TYPE: usize = 1 << 10;

/// Why a C dump stopped.
#[derive(Debug, thiserror::Error)]
pub enum DumpError {
    /// Writing the output failed.
    #[error("writing the C dump failed: {0}")]
    Io(#[from] io::Error),
    /// A cycle of types that C cannot express (libbpf's `-ELOOP`).
    #[error("unsatisfiable type cycle through type [{0}]")]
    TypeCycle(TypeId),
    /// Types nest deeper than the dumper follows.
    #[error("types nest deeper than {MAX_NESTING} levels at type [{0}]")]
    TooDeep(TypeId),
    /// The dump would exceed the work allowance for this many types, counted
    /// as bytes written plus types visited (padding for an absurd struct
    /// size, or anonymous types inlined into each other many times).
    #[error("C dump would exceed {limit} bytes written plus types visited, at type [{id}]")]
    TooLarge {
        /// Type being emitted when the allowance ran out.
        id: TypeId,
        /// The allowance, in bytes.
        limit: usize,
    },
    /// A type the dumper cannot place (such as a reference to an id that
    /// does not exist).
    #[error(transparent)]
    Btf(#[from] BtfError),
}

/// Writes the whole of `btf` as a C header, exactly as
/// `bpftool btf dump file FILE format c` does, including the
/// `__VMLINUX_H__` guard and the `preserve_access_index` pragma.
pub fn dump_c(btf: &Btf, out: &mut impl Write) -> Result<(), DumpError> {
    out.write_all(
        b"#ifndef __VMLINUX_H__\n#define __VMLINUX_H__\n\n\
          #ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n\
          #pragma clang attribute push (__attribute__((preserve_access_index)), apply_to = record)\n\
          #endif\n\n",
    )?;
    let mut dumper = CDumper::new(btf);
    for id in 1..btf.type_count() {
        dumper.dump_type(TypeId(id))?;
        out.write_all(dumper.out.as_bytes())?;
        dumper.flushed += dumper.out.len();
        dumper.out.clear();
    }
    out.write_all(
        b"#ifndef BPF_NO_PRESERVE_ACCESS_INDEX\n#pragma clang attribute pop\n#endif\n\n\
          #endif /* __VMLINUX_H__ */\n",
    )?;
    Ok(())
}

/// Writes the C definitions needed for type `id` (and the types it
/// depends on) without the header and footer: libbpf's
/// `btf_dump__dump_type` for a single root.
pub fn dump_c_type(btf: &Btf, id: TypeId, out: &mut impl Write) -> Result<(), DumpError> {
    let mut dumper = CDumper::new(btf);
    dumper.dump_type(id)?;
    out.write_all(dumper.out.as_bytes())?;
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Progress {
    #[default]
    Not,
    Ongoing,
    Done,
}

#[derive(Debug, Clone, Copy, Default)]
struct TypeState {
    order: Progress,
    emit: Progress,
    fwd_emitted: bool,
    name_resolved: bool,
    referenced: bool,
}

/// Which namespace a name is deduplicated in: struct/union/enum tags, or
/// ordinary identifiers (typedefs and enumerators).
#[derive(Debug, Clone, Copy)]
enum Namespace {
    Tags,
    Idents,
}

struct CDumper<'a> {
    btf: &'a Btf,
    states: Vec<TypeState>,
    unique_names: Vec<Option<String>>,
    tag_counts: HashMap<String, usize>,
    ident_counts: HashMap<String, usize>,
    emit_queue: Vec<TypeId>,
    out: String,
    /// Current recursion depth of the emission pass.
    depth: usize,
    /// First nesting overflow seen while emitting (emission otherwise
    /// proceeds best-effort, as libbpf's does).
    too_deep: Option<TypeId>,
    /// Bytes already moved from `out` to the writer.
    flushed: usize,
    /// Calls of `emit_type` so far: anonymous types are revisited at every
    /// use, which costs time even where nothing is written.
    visits: usize,
    /// Most bytes written plus types visited the whole dump may cost.
    output_limit: usize,
    /// Type being emitted when the output passed `output_limit`.
    too_large: Option<TypeId>,
}

fn indent(lvl: usize) -> &'static str {
    const TABS: &str = "\t\t\t\t\t\t\t\t\t\t\t\t\t";
    &TABS[..lvl.min(MAX_INDENT)]
}

/// `roundup(x, y)` of libbpf, tolerating a zero alignment.
fn round_up(x: i64, y: i64) -> i64 {
    if y <= 0 { x } else { (x + y - 1) / y * y }
}

impl<'a> CDumper<'a> {
    fn new(btf: &'a Btf) -> Self {
        let count = btf.type_count() as usize;
        let mut states = vec![TypeState::default(); count];
        states[0].order = Progress::Done;
        states[0].emit = Progress::Done;
        for (_, t) in btf.types() {
            // As libbpf, a prototype's return type does not count: only
            // parameters can hold an inline anonymous enum.
            let refs = match &t.kind {
                Kind::FuncProto(p) => p.params.iter().map(|p| p.ty).collect(),
                other => other.references(),
            };
            for r in refs {
                // Parse-time validation guarantees every reference is in range.
                if let Some(s) = states.get_mut(r.index()) {
                    s.referenced = true;
                }
            }
        }
        CDumper {
            btf,
            states,
            unique_names: vec![None; count],
            tag_counts: HashMap::new(),
            ident_counts: HashMap::new(),
            emit_queue: Vec::new(),
            out: String::new(),
            depth: 0,
            too_deep: None,
            flushed: 0,
            visits: 0,
            output_limit: BASE_OUTPUT_BUDGET
                .saturating_add(count.saturating_mul(OUTPUT_BUDGET_PER_TYPE)),
            too_large: None,
        }
    }

    fn ty(&self, id: TypeId) -> Result<&'a Type, BtfError> {
        self.btf.type_by_id(id)
    }

    fn state(&mut self, id: TypeId) -> &mut TypeState {
        // Ids reaching here were looked up with `ty` first.
        let index = id.index().min(self.states.len() - 1);
        &mut self.states[index]
    }

    fn str_at(&self, off: u32) -> &'a str {
        self.btf.str_at(off).unwrap_or("")
    }

    fn dump_type(&mut self, id: TypeId) -> Result<(), DumpError> {
        self.ty(id)?;
        self.emit_queue.clear();
        self.order_type(id, false, 0)?;
        let queue = std::mem::take(&mut self.emit_queue);
        for &queued in &queue {
            self.emit_type(queued, TypeId::VOID)?;
        }
        self.emit_queue = queue;
        if let Some(id) = self.too_large {
            return Err(DumpError::TooLarge {
                id,
                limit: self.output_limit,
            });
        }
        match self.too_deep.take() {
            Some(deep) => Err(DumpError::TooDeep(deep)),
            None => Ok(()),
        }
    }

    /// Whether the dump has used up its output allowance (recording `id`
    /// as the culprit the first time): emission loops stop when it has.
    fn out_of_budget(&mut self, id: TypeId) -> bool {
        if self.too_large.is_some() {
            return true;
        }
        let spent = self
            .flushed
            .saturating_add(self.out.len())
            .saturating_add(self.visits);
        if spent > self.output_limit {
            self.too_large = Some(id);
            return true;
        }
        false
    }

    /// Topological ordering: queues the named definitions `id` needs and
    /// returns whether `id` is a strong dependency (needs a full definition
    /// first) rather than a weak one (a forward declaration is enough).
    fn order_type(
        &mut self,
        id: TypeId,
        through_ptr: bool,
        depth: usize,
    ) -> Result<bool, DumpError> {
        if depth > MAX_NESTING {
            return Err(DumpError::TooDeep(id));
        }
        let t = self.ty(id)?;
        match self.state(id).order {
            Progress::Done => return Ok(true),
            Progress::Ongoing => {
                let composite = matches!(t.kind, Kind::Struct(_) | Kind::Union(_));
                if composite && through_ptr && t.name_off != 0 {
                    return Ok(false);
                }
                return Err(DumpError::TypeCycle(id));
            }
            Progress::Not => {}
        }
        let next = depth + 1;
        match &t.kind {
            Kind::Void | Kind::Int(_) | Kind::Float { .. } => {
                self.state(id).order = Progress::Done;
                Ok(false)
            }
            Kind::Ptr(target) => {
                let strong = self.order_type(*target, true, next);
                self.state(id).order = Progress::Done;
                strong
            }
            Kind::Array(a) => self.order_type(a.elem_type, false, next),
            Kind::Struct(c) | Kind::Union(c) => {
                // Only embedded or anonymous (inline-defined) aggregates
                // form strong links.
                if through_ptr && t.name_off != 0 {
                    return Ok(false);
                }
                self.state(id).order = Progress::Ongoing;
                for m in &c.members {
                    self.order_type(m.ty, false, next)?;
                }
                if t.name_off != 0 {
                    self.emit_queue.push(id);
                }
                self.state(id).order = Progress::Done;
                Ok(true)
            }
            Kind::Enum(_) | Kind::Enum64(_) | Kind::Fwd(_) => {
                // Named or unreferenced (top-level constant) enums are
                // definitions of their own.
                if t.name_off != 0 || !self.state(id).referenced {
                    self.emit_queue.push(id);
                }
                self.state(id).order = Progress::Done;
                Ok(true)
            }
            Kind::Typedef(target) => {
                let strong = self.order_type(*target, through_ptr, next)?;
                if through_ptr && !strong {
                    return Ok(false);
                }
                self.emit_queue.push(id);
                self.state(id).order = Progress::Done;
                Ok(true)
            }
            Kind::Volatile(target)
            | Kind::Const(target)
            | Kind::Restrict(target)
            | Kind::TypeTag(target) => self.order_type(*target, through_ptr, next),
            Kind::FuncProto(p) => {
                let mut strong = self.order_type(p.ret_type, through_ptr, next)?;
                for param in &p.params {
                    strong |= self.order_type(param.ty, through_ptr, next)?;
                }
                Ok(strong)
            }
            Kind::Func { .. } | Kind::Var { .. } | Kind::Datasec(_) | Kind::DeclTag { .. } => {
                self.state(id).order = Progress::Done;
                Ok(false)
            }
        }
    }

    /// Enters one level of emission recursion; false (and the error noted)
    /// when nesting is too deep.
    fn enter(&mut self, id: TypeId) -> bool {
        if self.depth >= MAX_NESTING {
            self.too_deep.get_or_insert(id);
            return false;
        }
        self.depth += 1;
        true
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    /// Emits the definition of `id` (and forward declarations it needs);
    /// `cont_id` is the aggregate being defined around it, or void at top
    /// level.
    fn emit_type(&mut self, id: TypeId, cont_id: TypeId) -> Result<(), DumpError> {
        self.visits += 1;
        if self.out_of_budget(id) || !self.enter(id) {
            return Ok(());
        }
        let result = self.emit_type_inner(id, cont_id);
        self.leave();
        result
    }

    fn emit_type_inner(&mut self, id: TypeId, cont_id: TypeId) -> Result<(), DumpError> {
        let top_level = cont_id == TypeId::VOID;
        let t = self.ty(id)?;
        let state = *self.state(id);
        if state.emit == Progress::Done {
            return Ok(());
        }
        if state.emit == Progress::Ongoing {
            if state.fwd_emitted {
                return Ok(());
            }
            match &t.kind {
                Kind::Struct(_) | Kind::Union(_) => {
                    // A member referring back to its own aggregate, or an
                    // anonymous loop: no forward declaration possible/needed.
                    if id == cont_id || t.name_off == 0 {
                        return Ok(());
                    }
                    self.emit_struct_fwd(id, t);
                    self.out.push_str(";\n\n");
                    self.state(id).fwd_emitted = true;
                }
                Kind::Typedef(_) => {
                    if !self.is_builtin(t) {
                        self.emit_typedef_def(id, t, 0);
                        self.out.push_str(";\n\n");
                    }
                    self.state(id).fwd_emitted = true;
                }
                _ => {}
            }
            return Ok(());
        }
        match &t.kind {
            Kind::Int(_) => {
                self.emit_missing_alias(id);
                self.state(id).emit = Progress::Done;
            }
            Kind::Enum(e) | Kind::Enum64(e) => {
                if top_level {
                    self.emit_enum_def(id, t, e, 0);
                    self.out.push_str(";\n\n");
                }
                self.state(id).emit = Progress::Done;
            }
            Kind::Ptr(target)
            | Kind::Volatile(target)
            | Kind::Const(target)
            | Kind::Restrict(target)
            | Kind::TypeTag(target) => {
                self.emit_type(*target, cont_id)?;
            }
            Kind::Array(a) => self.emit_type(a.elem_type, cont_id)?,
            Kind::Fwd(kind) => {
                self.emit_fwd_def(id, *kind);
                self.out.push_str(";\n\n");
                self.state(id).emit = Progress::Done;
            }
            Kind::Typedef(target) => {
                self.state(id).emit = Progress::Ongoing;
                self.emit_type(*target, id)?;
                // The typedef may already have been written as a forward
                // declaration while its target was being emitted.
                if !self.state(id).fwd_emitted && !self.is_builtin(t) {
                    self.emit_typedef_def(id, t, 0);
                    self.out.push_str(";\n\n");
                }
                self.state(id).emit = Progress::Done;
            }
            Kind::Struct(c) | Kind::Union(c) => {
                self.state(id).emit = Progress::Ongoing;
                // Members are written out in full for top-level and inline
                // (anonymous) definitions, so their types need declaring.
                if top_level || t.name_off == 0 {
                    let new_cont = if t.name_off == 0 { cont_id } else { id };
                    for m in &c.members {
                        self.emit_type(m.ty, new_cont)?;
                    }
                } else if !self.state(id).fwd_emitted && id != cont_id {
                    self.emit_struct_fwd(id, t);
                    self.out.push_str(";\n\n");
                    self.state(id).fwd_emitted = true;
                }
                if top_level {
                    self.emit_struct_def(id, t, c, 0);
                    self.out.push_str(";\n\n");
                    self.state(id).emit = Progress::Done;
                } else {
                    self.state(id).emit = Progress::Not;
                }
            }
            Kind::FuncProto(p) => {
                self.emit_type(p.ret_type, cont_id)?;
                for param in &p.params {
                    self.emit_type(param.ty, cont_id)?;
                }
            }
            Kind::Void
            | Kind::Func { .. }
            | Kind::Var { .. }
            | Kind::Datasec(_)
            | Kind::Float { .. }
            | Kind::DeclTag { .. } => {}
        }
        Ok(())
    }

    /// `__builtin_va_list` is the compiler's own and must not be redefined.
    fn is_builtin(&self, t: &Type) -> bool {
        t.name_off != 0 && self.str_at(t.name_off) == "__builtin_va_list"
    }

    /// GCC's ARM SIMD polynomial types, which clang lacks.
    fn emit_missing_alias(&mut self, id: TypeId) {
        const ALIASES: [(&str, &str); 4] = [
            ("__Poly8_t", "unsigned char"),
            ("__Poly16_t", "unsigned short"),
            ("__Poly64_t", "unsigned long long"),
            ("__Poly128_t", "unsigned __int128"),
        ];
        let name = self.unique_name(id, Namespace::Tags);
        if let Some((_, base)) = ALIASES.iter().find(|(alias, _)| *alias == name) {
            let _ = write!(self.out, "typedef {base} {name};\n\n");
        }
    }

    fn name_occurrence(&mut self, namespace: Namespace, name: &str) -> usize {
        let counts = match namespace {
            Namespace::Tags => &mut self.tag_counts,
            Namespace::Idents => &mut self.ident_counts,
        };
        let count = counts.entry(name.to_owned()).or_insert(0);
        *count += 1;
        *count
    }

    /// The C name of `id`: the BTF name, with `___N` appended for the Nth
    /// distinct type of that name in the namespace.
    fn unique_name(&mut self, id: TypeId, namespace: Namespace) -> String {
        let Ok(t) = self.ty(id) else {
            return String::new();
        };
        if t.name_off == 0 {
            return String::new();
        }
        let orig = self.str_at(t.name_off);
        let index = id.index();
        if self.states[index].name_resolved {
            return self.unique_names[index]
                .clone()
                .unwrap_or_else(|| orig.to_owned());
        }
        self.states[index].name_resolved = true;
        let forward_only = match &t.kind {
            Kind::Fwd(_) => true,
            Kind::Enum(e) => e.values.is_empty(),
            _ => false,
        };
        if forward_only {
            return orig.to_owned();
        }
        let count = self.name_occurrence(namespace, orig);
        if count > 1 {
            let mut unique = format!("{orig}___{count}");
            // libbpf formats into a 256-byte buffer.
            truncate_to_boundary(&mut unique, 255);
            self.unique_names[index] = Some(unique.clone());
            unique
        } else {
            orig.to_owned()
        }
    }

    fn emit_struct_fwd(&mut self, id: TypeId, t: &Type) {
        let keyword = if matches!(t.kind, Kind::Struct(_)) {
            "struct"
        } else {
            "union"
        };
        let name = self.unique_name(id, Namespace::Tags);
        let sep = if t.name_off != 0 { " " } else { "" };
        let _ = write!(self.out, "{keyword}{sep}{name}");
    }

    fn emit_fwd_def(&mut self, id: TypeId, kind: FwdKind) {
        let name = self.unique_name(id, Namespace::Tags);
        let keyword = match kind {
            FwdKind::Struct => "struct",
            FwdKind::Union => "union",
        };
        let _ = write!(self.out, "{keyword} {name}");
    }

    fn align_or_zero(&self, id: TypeId) -> i64 {
        self.btf.align_of(id).map_or(0, i64::from)
    }

    /// Whether a struct's layout needs `__attribute__((packed))`.
    fn is_packed(&self, c: &Composite) -> bool {
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
    fn emit_bit_padding(
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

    fn emit_struct_def(&mut self, id: TypeId, t: &Type, c: &Composite, lvl: usize) {
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

    fn emit_enum_def(&mut self, id: TypeId, t: &Type, e: &Enum, lvl: usize) {
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

    fn emit_typedef_def(&mut self, id: TypeId, t: &Type, lvl: usize) {
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

    /// Emits a declaration of `fname` with type `id` in C declarator syntax.
    fn emit_type_decl(&mut self, id: TypeId, fname: &str, lvl: usize) {
        if !self.enter(id) {
            return;
        }
        // The chain from the outermost declarator down to the base type.
        let mut chain = Vec::new();
        let mut current = id;
        loop {
            chain.push(current);
            if current == TypeId::VOID || chain.len() > MAX_NESTING {
                break;
            }
            let Ok(t) = self.ty(current) else { break };
            current = match &t.kind {
                Kind::Ptr(next)
                | Kind::Volatile(next)
                | Kind::Const(next)
                | Kind::Restrict(next)
                | Kind::TypeTag(next) => *next,
                Kind::FuncProto(p) => p.ret_type,
                Kind::Array(a) => a.elem_type,
                _ => break,
            };
        }
        if chain.len() > MAX_NESTING {
            self.too_deep.get_or_insert(id);
        } else {
            self.emit_type_chain(&mut chain, fname, lvl);
        }
        self.leave();
    }

    fn top_kind(&self, chain: &[TypeId]) -> Option<&'a Kind> {
        let id = *chain.last()?;
        self.ty(id).ok().map(|t| &t.kind)
    }

    /// Writes `const `/`volatile `/`restrict ` for qualifiers that precede
    /// a base type.
    fn emit_prefix_mods(&mut self, chain: &mut Vec<TypeId>) {
        while let Some(kind) = self.top_kind(chain) {
            let word = match kind {
                Kind::Volatile(_) => "volatile ",
                Kind::Const(_) => "const ",
                Kind::Restrict(_) => "restrict ",
                _ => return,
            };
            self.out.push_str(word);
            chain.pop();
        }
    }

    /// Drops qualifiers C cannot express at this position (on arrays and
    /// functions; GCC emits them).
    fn drop_mods(&self, chain: &mut Vec<TypeId>) {
        while self.top_kind(chain).is_some_and(Kind::is_modifier) {
            chain.pop();
        }
    }

    fn emit_name(&mut self, name: &str, last_was_ptr: bool) {
        if !name.is_empty() && !last_was_ptr {
            self.out.push(' ');
        }
        self.out.push_str(name);
    }

    /// Pops the declarator chain from the base type outwards, writing C's
    /// inside-out syntax; arrays and function prototypes recurse for their
    /// parenthesised inner declarators.
    fn emit_type_chain(&mut self, chain: &mut Vec<TypeId>, fname: &str, lvl: usize) {
        // True initially so a lone pointer inside `(*name)` gets no space.
        let mut last_was_ptr = true;
        while let Some(id) = chain.pop() {
            if id == TypeId::VOID {
                self.emit_prefix_mods(chain);
                self.out.push_str("void");
                last_was_ptr = false;
                continue;
            }
            let Ok(t) = self.ty(id) else { return };
            match &t.kind {
                Kind::Int(_) | Kind::Float { .. } => {
                    self.emit_prefix_mods(chain);
                    self.out.push_str(self.str_at(t.name_off));
                }
                Kind::Struct(c) | Kind::Union(c) => {
                    self.emit_prefix_mods(chain);
                    if t.name_off == 0 {
                        if self.enter(id) {
                            self.emit_struct_def(id, t, c, lvl);
                            self.leave();
                        }
                    } else {
                        self.emit_struct_fwd(id, t);
                    }
                }
                Kind::Enum(e) | Kind::Enum64(e) => {
                    self.emit_prefix_mods(chain);
                    if t.name_off == 0 {
                        self.emit_enum_def(id, t, e, lvl);
                    } else {
                        let name = self.unique_name(id, Namespace::Tags);
                        let _ = write!(self.out, "enum {name}");
                    }
                }
                Kind::Fwd(kind) => {
                    self.emit_prefix_mods(chain);
                    self.emit_fwd_def(id, *kind);
                }
                Kind::Typedef(_) => {
                    self.emit_prefix_mods(chain);
                    let name = self.unique_name(id, Namespace::Idents);
                    self.out.push_str(&name);
                }
                Kind::Ptr(_) => self.out.push_str(if last_was_ptr { "*" } else { " *" }),
                Kind::Volatile(_) => self.out.push_str(" volatile"),
                Kind::Const(_) => self.out.push_str(" const"),
                Kind::Restrict(_) => self.out.push_str(" restrict"),
                Kind::TypeTag(_) => {
                    self.emit_prefix_mods(chain);
                    let tag = self.str_at(t.name_off);
                    let _ = write!(self.out, " __attribute__((btf_type_tag(\"{tag}\")))");
                }
                Kind::Array(a) => {
                    self.drop_mods(chain);
                    if chain.is_empty() {
                        self.emit_name(fname, last_was_ptr);
                        let _ = write!(self.out, "[{}]", a.nelems);
                        return;
                    }
                    let multidim = matches!(self.top_kind(chain), Some(Kind::Array(_)));
                    if !fname.is_empty() && !last_was_ptr {
                        self.out.push(' ');
                    }
                    if !multidim {
                        self.out.push('(');
                    }
                    self.emit_type_chain(chain, fname, lvl);
                    if !multidim {
                        self.out.push(')');
                    }
                    let _ = write!(self.out, "[{}]", a.nelems);
                    return;
                }
                Kind::FuncProto(p) => {
                    self.drop_mods(chain);
                    if chain.is_empty() {
                        self.emit_name(fname, last_was_ptr);
                    } else {
                        self.out.push_str(" (");
                        self.emit_type_chain(chain, fname, lvl);
                        self.out.push(')');
                    }
                    self.out.push('(');
                    // No parameters is `(void)`; clang encodes it as one
                    // void parameter, pahole as none.
                    let no_params = match p.params[..] {
                        [] => true,
                        [only] => only.ty == TypeId::VOID,
                        _ => false,
                    };
                    if no_params {
                        self.out.push_str("void)");
                        return;
                    }
                    let count = p.params.len();
                    for (i, param) in p.params.iter().enumerate() {
                        if i > 0 {
                            self.out.push_str(", ");
                        }
                        // A trailing void parameter means varargs.
                        if i + 1 == count && param.ty == TypeId::VOID {
                            self.out.push_str("...");
                            break;
                        }
                        let pname = self.str_at(param.name_off);
                        self.emit_type_decl(param.ty, pname, lvl);
                    }
                    self.out.push(')');
                    return;
                }
                Kind::Void
                | Kind::Func { .. }
                | Kind::Var { .. }
                | Kind::Datasec(_)
                | Kind::DeclTag { .. } => {
                    return;
                }
            }
            last_was_ptr = matches!(t.kind, Kind::Ptr(_));
        }
        self.emit_name(fname, last_was_ptr);
    }
}

fn truncate_to_boundary(s: &mut String, max: usize) {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
}
