//! A case of `tests/verifier/*.s` as the verifier's input, loaded as the
//! recorder loads it in the kernel: as root, GPL, its maps as `fd_array`
//! entries in order, its `;; func` lines as BTF func info.

use apiary_difftest::verifier_cases::{Case, Linkage, MapDecl, Param, function_starts};
use apiary_kernel::types::prog_flags;
use apiary_verifier::{FuncArg, FuncInfo, MapInfo, Program};

fn map_info(decl: &MapDecl) -> MapInfo {
    MapInfo {
        name: decl.name.clone(),
        map_type: decl.map_type,
        key_size: decl.key_size,
        value_size: decl.value_size,
        max_entries: decl.max_entries,
        flags: decl.flags,
        frozen_value: None,
        inner: None,
        // The recorder gives BTF to the maps with a lock or a timer (the
        // lock at 0, the timer after it) and to local storage maps (see
        // tests/verifier/README.md).
        btf: decl.has_btf(),
        spin_lock_off: decl.spin_lock.then_some(0),
        timer_off: decl.timer.then_some(if decl.spin_lock { 8 } else { 0 }),
    }
}

/// A parameter as the verifier reads its BTF: a pointer to the program
/// type's context struct is the context, another pointer is 4 bytes of
/// memory.
fn func_arg(case: &Case, param: &Param) -> FuncArg {
    match param {
        Param::Int => FuncArg::Scalar,
        Param::Ctx(name) if *name == apiary_context::layout(case.prog_type).name => FuncArg::Ctx,
        Param::Ctx(_) => FuncArg::Mem {
            size: 0,
            nonnull: false,
        },
        Param::Mem => FuncArg::Mem {
            size: 4,
            nonnull: false,
        },
    }
}

/// The case's `;; func` lines as func info: one per function start.
fn func_infos(case: &Case) -> Vec<FuncInfo> {
    function_starts(&case.insns)
        .into_iter()
        .zip(&case.funcs)
        .map(|(start, decl)| FuncInfo {
            insn: start as usize,
            name: decl.name.clone(),
            global: decl.linkage == Linkage::Global,
            args: decl.params.iter().map(|p| func_arg(case, p)).collect(),
            unsupported: None,
        })
        .collect()
}

/// What a case's [`Program`] borrows besides the case.
pub struct CaseInputs {
    maps: Vec<MapInfo>,
    funcs: Vec<FuncInfo>,
}

impl CaseInputs {
    /// The maps and func info of `case`.
    pub fn of(case: &Case) -> CaseInputs {
        CaseInputs {
            maps: case.maps.iter().map(map_info).collect(),
            funcs: func_infos(case),
        }
    }

    /// `case` as the verifier's input.
    pub fn program<'a>(&'a self, case: &'a Case) -> Program<'a> {
        Program {
            name: &case.name,
            insns: &case.insns,
            prog_type: case.prog_type,
            attach_type: case.attach_type.unwrap_or_default(),
            maps: &self.maps,
            lines: &[],
            gpl: true,
            funcs: &self.funcs,
            sleepable: case.prog_flags & prog_flags::SLEEPABLE != 0,
            attach_target: case.attach_target.as_deref(),
            kernel_btf: (case.attach_target.is_some()
                || apiary_verifier::needs_kernel_btf(&case.insns))
            .then(apiary_verifier::kernel_btf)
            .and_then(Result::ok),
        }
    }
}
