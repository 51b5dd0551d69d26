//! Applying every program's CO-RE relocations against a target BTF, as
//! libbpf's `bpf_object__relocate_core` does at load time: one relocator
//! (one candidate cache) for the whole object, unsatisfiable relocations
//! poisoned rather than refused. The same target resolves kfunc calls
//! (`crate::kfuncs`), as libbpf resolves externs in the same load.

use apiary_btf::{Btf, CoreReloKind};
use apiary_coreloc::{CoreRelocator, OnUnsatisfied};
use apiary_isa::INSN_SIZE;

use crate::{LoadError, Object};

/// What [`Object::relocate_core`] did, per program that had relocations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CoreReport {
    /// Programs with at least one CO-RE relocation, in object order.
    pub programs: Vec<ProgramCoreReport>,
}

/// The CO-RE relocations applied to one program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramCoreReport {
    /// The program's name.
    pub program: String,
    /// One entry per relocation, in record order.
    pub relocations: Vec<AppliedCoreRelo>,
}

impl ProgramCoreReport {
    /// How many relocations were unsatisfiable and poisoned their instruction.
    pub fn poisoned(&self) -> usize {
        self.relocations.iter().filter(|r| r.poisoned).count()
    }
}

/// One applied relocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedCoreRelo {
    /// Slot index of the patched instruction in the program.
    pub insn_index: usize,
    /// The relocation kind.
    pub kind: CoreReloKind,
    /// The local access string.
    pub access_str: String,
    /// The value per the object's own BTF.
    pub local_value: u64,
    /// The value per the target BTF, now in the instruction.
    pub target_value: u64,
    /// The target could not satisfy it; the instruction became libbpf's
    /// `call 0xbad2310`.
    pub poisoned: bool,
}

impl Object {
    /// Applies every loaded program's CO-RE relocations against `target`
    /// (for example `/sys/kernel/btf/vmlinux`), patching
    /// [`crate::ProgramSpec::insns`] and emptying
    /// [`crate::ProgramSpec::core_relos`]. Relocations the target cannot
    /// satisfy poison their instruction as libbpf does; a malformed record
    /// or an instruction that does not fit its record fails with
    /// [`LoadError::Core`], leaving that program's relocations unapplied.
    /// Every kfunc call gets its function's BTF id in `target` first
    /// ([`crate::ProgramSpec::kfunc_calls`]); a strong extern `target` lacks
    /// fails with [`LoadError::Kfunc`].
    pub fn relocate_core(&mut self, target: &Btf) -> Result<CoreReport, LoadError> {
        self.resolve_kfuncs(target)?;
        let mut report = CoreReport::default();
        let Object { programs, btf, .. } = self;
        let mut relocator = None;
        for program in programs.iter_mut().filter_map(|p| p.as_mut().ok()) {
            if program.core_relos.is_empty() {
                continue;
            }
            let Some(local) = btf.as_ref() else {
                return Err(LoadError::CoreWithoutBtf {
                    program: program.name.clone(),
                });
            };
            let relocator = relocator.get_or_insert_with(|| CoreRelocator::new(local, target));
            let failed = |source| LoadError::Core {
                program: program.name.clone(),
                source,
            };
            let records = program
                .core_relos
                .iter()
                .map(|r| {
                    let insn_off = r
                        .insn_index
                        .checked_mul(INSN_SIZE)
                        .and_then(|off| u32::try_from(off).ok())
                        .ok_or(apiary_coreloc::CoreError::Patch {
                            index: r.insn_index,
                            reason: apiary_coreloc::PatchError::OutOfRange {
                                len: program.insns.len(),
                            },
                        })?;
                    Ok(apiary_btf::CoreRelo {
                        insn_off,
                        type_id: r.type_id,
                        access_str_off: r.access_str_off,
                        kind: r.kind,
                    })
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(failed)?;
            let mut insns = program.insns.clone();
            let applied = relocator
                .relocate(&records, &mut insns, OnUnsatisfied::Poison)
                .map_err(failed)?;
            program.insns = insns;
            let relocations = applied
                .into_iter()
                .zip(std::mem::take(&mut program.core_relos))
                .map(|(a, relo)| AppliedCoreRelo {
                    insn_index: a.insn_index,
                    kind: relo.kind,
                    access_str: relo.access_str,
                    local_value: a.resolution.orig,
                    target_value: a.resolution.new,
                    poisoned: a.resolution.poison,
                })
                .collect();
            report.programs.push(ProgramCoreReport {
                program: program.name.clone(),
                relocations,
            });
        }
        Ok(report)
    }
}
