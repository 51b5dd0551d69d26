//! Verdicts compared: generated programs, most made unsafe by a
//! [`Mutation`], verified by Apiary and loaded in the kernel (as `syscall`
//! programs with the harness's maps, created once for the whole run).
//! Apiary accepting what the kernel refuses is a soundness bug; refusing
//! what it accepts, a usability bug. Programs are judged by worker
//! threads, each verifying and loading whole programs, so a run uses every
//! core; the kernel is asked for its log only when it is wanted, for the
//! reason of a refusal Apiary disagrees with.

use apiary_isa::RawInsn;
use apiary_kernel::types::{MapType, ProgType};
use apiary_maps::MapDef;
use apiary_verifier::{Accepted, MapInfo, Rejection, verify};

use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::backend::{KernelMaps, MAPS, RunFailure, kernel_load, kernel_verdict};
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
    /// Accepted by Apiary, refused by the kernel (soundness bugs), by seed.
    pub unsound: Vec<VerdictDisagreement>,
    /// Refused by Apiary, accepted by the kernel (usability bugs), by seed.
    pub strict: Vec<VerdictDisagreement>,
    /// Per mutation: programs, and how many of them the kernel refused.
    pub by_mutation: std::collections::BTreeMap<Mutation, (u64, u64)>,
    /// Time spent in Apiary's verifier, summed over the workers.
    pub apiary_time: Duration,
    /// Time spent in the kernel's loads, summed over the workers.
    pub kernel_time: Duration,
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

    /// Counts one judged program in.
    fn add(&mut self, judged: Judged) {
        self.programs += 1;
        self.apiary_time += judged.apiary_time;
        self.kernel_time += judged.kernel_time;
        let d = judged.verdicts;
        let counts = self.by_mutation.entry(d.mutation).or_default();
        counts.0 += 1;
        counts.1 += u64::from(d.kernel.is_err());
        match (d.apiary.is_ok(), d.kernel.is_ok()) {
            (true, true) => {
                self.agree += 1;
                self.both_accept += 1;
            }
            (false, false) => self.agree += 1,
            (true, false) => insert_by_seed(&mut self.unsound, d),
            (false, true) => insert_by_seed(&mut self.strict, d),
        }
    }
}

/// Workers finish programs out of order; lists stay sorted by seed.
fn insert_by_seed(list: &mut Vec<VerdictDisagreement>, d: VerdictDisagreement) {
    let at = list.partition_point(|other| other.seed < d.seed);
    list.insert(at, d);
}

/// One program's verdicts and what they cost.
struct Judged {
    /// The program and both verdicts (agreeing or not).
    verdicts: VerdictDisagreement,
    apiary_time: Duration,
    kernel_time: Duration,
}

/// Generates program `seed`, mutates it with a mutation drawn from its own
/// seed, and asks both verifiers. The kernel's refusal carries its reason
/// only when Apiary accepted (the disagreement that is reported); otherwise
/// only the load's errno, which costs no log.
fn judge(seed: u64, maps: &[MapInfo], fds: &[BorrowedFd<'_>]) -> Judged {
    let case = generate(seed);
    let (program, mutation) = mutate(&case, &mut Rng::new(seed ^ 0x756e_7361_6665));
    let slots = apiary_isa::encode_program(&program.insns());
    let started = Instant::now();
    let apiary = apiary_verify(&slots, maps)
        .map(|_| ())
        .map_err(|rejection| rejection.kernel);
    let apiary_time = started.elapsed();
    let bytecode = apiary_isa::slots_to_bytes(&slots);
    let started = Instant::now();
    let kernel = match kernel_verdict(&bytecode, fds) {
        Ok(_) => Ok(()),
        Err(_) if apiary.is_ok() => {
            kernel_load(&bytecode, fds)
                .map(|_| ())
                .map_err(|failure| match failure {
                    RunFailure::Rejected(line) => line,
                    other => other.to_string(),
                })
        }
        Err(apiary_kernel::Error::ProgLoad { errno, .. }) => Err(errno.to_string()),
        Err(other) => Err(other.to_string()),
    };
    let kernel_time = started.elapsed();
    Judged {
        verdicts: VerdictDisagreement {
            seed,
            mutation,
            program,
            apiary,
            kernel,
        },
        apiary_time,
        kernel_time,
    }
}

/// Generates `count` programs from `seed` (program i from `seed + i`),
/// mutates each with a mutation drawn from its own seed, and compares
/// Apiary's verdict with the kernel's on `jobs` threads (at least one);
/// `progress` sees the summary after each program. Fails only when the
/// kernel's maps cannot be created.
pub fn compare_verdicts(
    seed: u64,
    count: u64,
    jobs: usize,
    mut progress: impl FnMut(&VerdictSummary),
) -> Result<VerdictSummary, RunFailure> {
    let kernel_maps = KernelMaps::create()?;
    let fds = kernel_maps.fds();
    let maps = verifier_maps();
    let end = seed.saturating_add(count);
    let next = AtomicU64::new(seed);
    let mut summary = VerdictSummary::default();
    std::thread::scope(|scope| {
        let (sender, receiver) = mpsc::channel();
        for _ in 0..jobs.max(1) {
            let sender = sender.clone();
            let (next, maps, fds) = (&next, &maps, &fds);
            scope.spawn(move || {
                // Seeds are handed out once each, up to `end`; a closed
                // channel means nobody counts any more.
                while let Ok(seed) = next.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |s| {
                    (s < end).then_some(s + 1)
                }) {
                    if sender.send(judge(seed, maps, fds)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(sender);
        for judged in receiver {
            summary.add(judged);
            progress(&summary);
        }
    });
    Ok(summary)
}
