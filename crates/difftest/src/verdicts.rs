//! Verdicts compared: generated programs, most made unsafe by a
//! [`Mutation`], verified by Apiary and loaded in the kernel (as `syscall`
//! programs with the harness's maps). Apiary accepting what the kernel
//! refuses is a soundness bug; refusing what it accepts, a usability bug.

use apiary_isa::RawInsn;
use apiary_kernel::types::{MapType, ProgType};
use apiary_maps::MapDef;
use apiary_verifier::{Accepted, MapInfo, Rejection, verify};

use crate::backend::{KernelMaps, MAPS, RunFailure, kernel_load};
use crate::generate::generate;
use crate::program::Program;
use crate::rng::Rng;
use crate::unsafe_mutation::{Mutation, mutate};

/// The harness's maps ([`MAPS`]) as the verifier sees them.
pub fn verifier_maps() -> Vec<MapInfo> {
    MAPS.iter()
        .map(|shape| verifier_map(&shape.def()))
        .collect()
}

/// The verifier's view of the map `def` creates.
pub(crate) fn verifier_map(def: &MapDef) -> MapInfo {
    MapInfo {
        map_type: MapType(def.map_type),
        key_size: def.key_size,
        value_size: def.value_size,
        max_entries: def.max_entries,
        flags: def.map_flags,
        ..MapInfo::default()
    }
}

/// Apiary's verdict on generated program `slots`, loaded as the kernel
/// side loads it: a GPL, sleepable `syscall` program whose maps are `maps`
/// ([`verifier_maps`]).
pub fn apiary_verify(slots: &[RawInsn], maps: &[MapInfo]) -> Result<Accepted, Box<Rejection>> {
    verify(&apiary_verifier::Program::bare(
        slots,
        ProgType::SYSCALL,
        maps,
    ))
}

/// One program on which the verdicts differ.
#[derive(Debug, Clone)]
pub struct VerdictDisagreement {
    /// The seed that generated it.
    pub seed: u64,
    /// How it was made unsafe.
    pub mutation: Mutation,
    /// The program.
    pub program: Program,
    /// Apiary's verdict: accepted, or its kernel-style error line.
    pub apiary: Result<(), String>,
    /// The kernel's: accepted, or its verifier's final error line.
    pub kernel: Result<(), String>,
}

/// The counts of a run of [`compare_verdicts`].
#[derive(Debug, Clone, Default)]
pub struct VerdictSummary {
    /// Programs compared.
    pub programs: u64,
    /// Programs on which both verifiers agree.
    pub agree: u64,
    /// Programs both accepted.
    pub both_accept: u64,
    /// Accepted by Apiary, refused by the kernel (soundness bugs).
    pub unsound: Vec<VerdictDisagreement>,
    /// Refused by Apiary, accepted by the kernel (usability bugs).
    pub strict: Vec<VerdictDisagreement>,
    /// Per mutation: programs, and how many of them the kernel refused.
    pub by_mutation: std::collections::BTreeMap<Mutation, (u64, u64)>,
}

impl VerdictSummary {
    /// `N programs, A agree, U accepted by apiary but rejected by the
    /// kernel, S rejected by apiary but accepted by the kernel`.
    pub fn line(&self) -> String {
        format!(
            "{} programs, {} agree, {} accepted by apiary but rejected by the kernel, \
             {} rejected by apiary but accepted by the kernel",
            self.programs,
            self.agree,
            self.unsound.len(),
            self.strict.len()
        )
    }
}

/// Generates `count` programs from `seed` (program i from `seed + i`),
/// mutates each with a mutation drawn from its own seed, and compares
/// Apiary's verdict with the kernel's; `progress` sees the summary after
/// each program. Fails only when the kernel's maps cannot be created.
pub fn compare_verdicts(
    seed: u64,
    count: u64,
    mut progress: impl FnMut(&VerdictSummary),
) -> Result<VerdictSummary, RunFailure> {
    let kernel_maps = KernelMaps::create()?;
    let fds = kernel_maps.fds();
    let maps = verifier_maps();
    let mut summary = VerdictSummary::default();
    for seed in seed..seed.saturating_add(count) {
        let case = generate(seed);
        let (program, mutation) = mutate(&case, &mut Rng::new(seed ^ 0x756e_7361_6665));
        let slots = apiary_isa::encode_program(&program.insns());
        let apiary = apiary_verify(&slots, &maps)
            .map(|_| ())
            .map_err(|rejection| rejection.kernel);
        let kernel = kernel_load(&apiary_isa::slots_to_bytes(&slots), &fds)
            .map(|_| ())
            .map_err(|failure| match failure {
                RunFailure::Rejected(line) => line,
                other => other.to_string(),
            });
        summary.programs += 1;
        let counts = summary.by_mutation.entry(mutation).or_default();
        counts.0 += 1;
        counts.1 += u64::from(kernel.is_err());
        let disagreement = |apiary, kernel| VerdictDisagreement {
            seed,
            mutation,
            program,
            apiary,
            kernel,
        };
        match (apiary.is_ok(), kernel.is_ok()) {
            (true, true) => {
                summary.agree += 1;
                summary.both_accept += 1;
            }
            (false, false) => summary.agree += 1,
            (true, false) => summary.unsound.push(disagreement(apiary, kernel)),
            (false, true) => summary.strict.push(disagreement(apiary, kernel)),
        }
        progress(&summary);
    }
    Ok(summary)
}
