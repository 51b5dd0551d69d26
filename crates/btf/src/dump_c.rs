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
use crate::types::{Kind, Type, TypeId};

mod declarator;
mod defs;

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
