//! Declarators: C's inside-out syntax for a name of a type (pointers,
//! arrays, function prototypes and their modifiers).

use std::fmt::Write as _;

use super::{CDumper, MAX_NESTING, Namespace};
use crate::types::{Kind, TypeId};

impl<'a> CDumper<'a> {
    /// Emits a declaration of `fname` with type `id` in C declarator syntax.
    pub(super) fn emit_type_decl(&mut self, id: TypeId, fname: &str, lvl: usize) {
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

    pub(super) fn top_kind(&self, chain: &[TypeId]) -> Option<&'a Kind> {
        let id = *chain.last()?;
        self.ty(id).ok().map(|t| &t.kind)
    }

    /// Writes `const `/`volatile `/`restrict ` for qualifiers that precede
    /// a base type.
    pub(super) fn emit_prefix_mods(&mut self, chain: &mut Vec<TypeId>) {
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
    pub(super) fn drop_mods(&self, chain: &mut Vec<TypeId>) {
        while self.top_kind(chain).is_some_and(Kind::is_modifier) {
            chain.pop();
        }
    }

    pub(super) fn emit_name(&mut self, name: &str, last_was_ptr: bool) {
        if !name.is_empty() && !last_was_ptr {
            self.out.push(' ');
        }
        self.out.push_str(name);
    }

    /// Pops the declarator chain from the base type outwards, writing C's
    /// inside-out syntax; arrays and function prototypes recurse for their
    /// parenthesised inner declarators.
    pub(super) fn emit_type_chain(&mut self, chain: &mut Vec<TypeId>, fname: &str, lvl: usize) {
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
