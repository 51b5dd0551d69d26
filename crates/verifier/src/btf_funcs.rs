//! A loaded program's BTF func info as the verifier reads it: each
//! function's name, linkage and, for a global function, what its
//! parameters are (`btf_prepare_func_args`): numbers, the context, or
//! memory of the pointee's size, as their types and their `arg:ctx` /
//! `arg:nonnull` declaration tags say.

use std::collections::BTreeSet;

use apiary_btf::{Btf, Kind, TypeId};
use apiary_kernel::types::ProgType;
use apiary_loader::{Object, ProgramSpec};

use crate::program::{FuncArg, FuncInfo};

/// Whether `pointee` (a pointer's target) is the program's context.
fn is_ctx(btf: &Btf, prog_type: ProgType, pointee: TypeId) -> bool {
    let resolved = btf.skip_modifiers_and_typedefs(pointee).unwrap_or(pointee);
    // Raw tracepoints may also take their arguments as `u64 *`.
    let raw_tp = matches!(
        prog_type,
        ProgType::RAW_TRACEPOINT | ProgType::RAW_TRACEPOINT_WRITABLE
    );
    if raw_tp
        && matches!(
            btf.type_by_id(resolved).map(|t| &t.kind),
            Ok(Kind::Int(int)) if int.size == 8
        )
    {
        return true;
    }
    // The kernel compares names (`btf_is_prog_ctx_type`), not layouts;
    // kprobes' `bpf_user_pt_regs_t` is a typedef of `struct pt_regs`.
    let want = apiary_context::layout(prog_type).name;
    let mut id = btf.skip_modifiers(pointee).unwrap_or(pointee);
    // A typedef's own name counts, then what it names.
    for _ in 0..=apiary_btf::MAX_RESOLVE_DEPTH {
        if btf.name(id) == Ok(want) {
            return true;
        }
        match btf.type_by_id(id).map(|t| &t.kind) {
            Ok(Kind::Typedef(next)) => id = btf.skip_modifiers(*next).unwrap_or(*next),
            _ => return false,
        }
    }
    false
}

/// The `arg:` declaration tags of a global function's parameter, which
/// take precedence over its type (`btf_prepare_func_args`).
#[derive(Clone, Copy, Default, PartialEq, Eq)]
struct ArgTags {
    /// `arg:ctx` (`__arg_ctx`): the program's context, whatever the type.
    ctx: bool,
    /// `arg:nonnull` (`__arg_nonnull`): callers pass a non-NULL pointer.
    nonnull: bool,
    /// `arg:nullable`, which no memory or context parameter may have.
    nullable: bool,
}

/// The `arg:` tags on parameter `index` of function `func`: the kernel's
/// refusal of an unknown tag, Apiary's of one it does not model.
fn arg_tags(btf: &Btf, func: TypeId, index: usize) -> Result<ArgTags, String> {
    let mut tags = ArgTags::default();
    for (id, ty) in btf.types() {
        let Kind::DeclTag {
            target,
            component_idx,
        } = ty.kind
        else {
            continue;
        };
        if target != func || usize::try_from(component_idx).ok() != Some(index) {
            continue;
        }
        let Some(tag) = btf.name(id).ok().and_then(|n| n.strip_prefix("arg:")) else {
            continue;
        };
        match tag {
            "ctx" => tags.ctx = true,
            "nonnull" => tags.nonnull = true,
            "nullable" => tags.nullable = true,
            "trusted" | "untrusted" | "arena" => {
                return Err(format!(
                    "arg#{index} tag arg:{tag} is not supported by apiary's verifier yet"
                ));
            }
            _ => return Err(format!("arg#{index} has unsupported set of tags")),
        }
    }
    Ok(tags)
}

/// A global function's parameter `index` of type `ty` with its `tags`, or
/// the kernel's refusal of it.
fn func_arg(
    btf: &Btf,
    prog_type: ProgType,
    func: &str,
    index: usize,
    ty: TypeId,
    tags: ArgTags,
) -> Result<FuncArg, String> {
    let resolved = btf.skip_modifiers_and_typedefs(ty).unwrap_or(ty);
    let pointee = match btf.type_by_id(resolved).map(|t| &t.kind) {
        Ok(Kind::Ptr(pointee)) => *pointee,
        _ if tags != ArgTags::default() => {
            return Err(format!(
                "arg#{index} has pointer tag, but is not a pointer type"
            ));
        }
        Ok(Kind::Int(_) | Kind::Enum(_) | Kind::Enum64(_)) => return Ok(FuncArg::Scalar),
        _ => {
            return Err(format!(
                "Arg#{index} type in {func}() is not supported yet."
            ));
        }
    };
    let void = btf.skip_modifiers(pointee).unwrap_or(pointee) == TypeId::VOID;
    if tags.ctx || is_ctx(btf, prog_type, pointee) {
        if tags.nonnull || tags.nullable {
            return Err(format!("arg#{index} has invalid combination of tags"));
        }
        if tags.ctx && !void && !is_ctx(btf, prog_type, pointee) {
            return Err(format!(
                "arg#{index} tagged arg:ctx points to a type other than void or the \
                 context, which apiary's verifier does not check yet"
            ));
        }
        return Ok(FuncArg::Ctx);
    }
    if tags.nullable {
        return Err(format!("arg#{index} has invalid combination of tags"));
    }
    match btf.size_of(pointee) {
        Ok(size) if size > 0 => Ok(FuncArg::Mem {
            size,
            nonnull: tags.nonnull,
        }),
        _ => Err(format!(
            "arg#{index} reference type('{}') size cannot be determined: -22",
            btf.name(pointee).unwrap_or("")
        )),
    }
}

/// One function of `spec` from its `FUNC` type; `hidden` functions are
/// static whatever their BTF says, as libbpf loads them.
fn func_info(
    btf: &Btf,
    prog_type: ProgType,
    insn: usize,
    func: TypeId,
    hidden: &BTreeSet<String>,
) -> FuncInfo {
    let name = btf.name(func).unwrap_or("").to_string();
    let mut info = FuncInfo {
        insn,
        name,
        ..FuncInfo::default()
    };
    let Ok(Kind::Func { proto, linkage }) = btf.type_by_id(func).map(|t| &t.kind) else {
        return info;
    };
    info.global = *linkage == apiary_btf::FuncLinkage::Global && !hidden.contains(&info.name);
    let Ok(Kind::FuncProto(proto)) = btf.type_by_id(*proto).map(|t| &t.kind) else {
        return info;
    };
    if !info.global {
        return info;
    }
    let ret = btf
        .skip_modifiers_and_typedefs(proto.ret_type)
        .unwrap_or(proto.ret_type);
    let scalar_return = matches!(
        btf.type_by_id(ret).map(|t| &t.kind),
        Ok(Kind::Int(_) | Kind::Enum(_) | Kind::Enum64(_))
    );
    if !scalar_return {
        info.unsupported = Some(format!(
            "Global function {}() doesn't return scalar. Only those are supported.",
            info.name
        ));
        return info;
    }
    for (index, param) in proto.params.iter().enumerate() {
        let arg = arg_tags(btf, func, index)
            .and_then(|tags| func_arg(btf, prog_type, &info.name, index, param.ty, tags));
        match arg {
            Ok(arg) => info.args.push(arg),
            Err(refusal) => {
                info.unsupported = Some(refusal);
                break;
            }
        }
    }
    info
}

/// The func info of `spec`, by ascending instruction; empty without BTF.
pub(crate) fn func_infos(object: &Object, spec: &ProgramSpec) -> Vec<FuncInfo> {
    let Some(btf) = &object.btf else {
        return Vec::new();
    };
    let hidden = &object.hidden_functions;
    let mut funcs: Vec<FuncInfo> = spec
        .func_info
        .iter()
        .map(|f| func_info(btf, spec.prog_type, f.insn_index, f.type_id, hidden))
        .collect();
    funcs.sort_by_key(|f| f.insn);
    funcs
}
