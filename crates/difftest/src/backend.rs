//! Running one program with one context and one set of map contents in
//! each backend: the kernel as a `syscall` program through
//! `BPF_PROG_TEST_RUN`, Apiary through `apiary-runtime` (its maps and
//! helpers over `apiary-vm`).

use std::os::fd::{AsFd, BorrowedFd};

use apiary_kernel::types::{MapType as KernelMapType, ProgType, prog_flags};
use apiary_kernel::{
    Error as KernelError, LoadedProg, MapCreateAttrs, MapFd, ProgFd, ProgLoadAttrs, TestRunAttrs,
};
use apiary_maps::{MapDef, MapError, MapType};
use apiary_runtime::{Env, MapId, Runtime, TaskInfo};
use apiary_vm::Runner;
use thiserror::Error;

/// One map's entries, sorted by key: `(key, value)`.
pub type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// What a run produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// r0 at exit (the kernel reports only its low 32 bits).
    pub r0: u64,
    /// The context after the run.
    pub ctx: Vec<u8>,
    /// Every map's entries after the run, in [`MAPS`] order.
    pub maps: Vec<Entries>,
}

impl Outcome {
    /// Whether the kernel's outcome `self` equals Apiary's `apiary`
    /// (r0 compared on the 32 bits the kernel reports).
    pub fn agrees_with(&self, apiary: &Outcome) -> bool {
        self.r0 == apiary.r0 & 0xffff_ffff && self.ctx == apiary.ctx && self.maps == apiary.maps
    }
}

/// Why a backend produced no outcome.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RunFailure {
    /// The verifier refused the program; the reason is its log's verdict line.
    #[error("kernel rejected the program: {0}")]
    Rejected(String),
    /// The kernel loaded the program but `BPF_PROG_TEST_RUN` failed.
    #[error("kernel test run failed: {0}")]
    TestRun(String),
    /// A kernel map could not be set up or read.
    #[error("kernel map {map}: {reason}")]
    KernelMap {
        /// Index in [`MAPS`].
        map: usize,
        /// The syscall's error.
        reason: String,
    },
    /// The verifier accepted the program but translated it into one that
    /// can crash the kernel, so it was not run there (see `null_check_elided`).
    #[error("not run in the kernel, which would crash: {0}")]
    KernelUnsafe(String),
    /// Apiary refused to create a map or load the program.
    #[error("apiary refused the program: {0}")]
    ApiaryLoad(String),
    /// Apiary's interpreter stopped abnormally.
    #[error("apiary run failed: {0}")]
    ApiaryRun(apiary_vm::RunError),
}

/// The kind of a map generated programs use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapKind {
    /// `BPF_MAP_TYPE_ARRAY`: every index below `max_entries` exists.
    Array,
    /// `BPF_MAP_TYPE_HASH`, preallocated.
    Hash,
}

/// The shape of one map generated programs use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapShape {
    /// Array or hash.
    pub kind: MapKind,
    /// `max_entries`.
    pub max_entries: u32,
    /// `map_flags`.
    pub map_flags: u32,
}

/// Keys are `u32`.
pub const KEY_SIZE: u32 = 4;
/// Values are 16 bytes.
pub const VALUE_SIZE: u32 = 16;
/// The maps every case has, referred to by `BPF_PSEUDO_MAP_IDX` index:
/// an array, a preallocated hash and a hash allocating on update.
/// Small, so that programs fill them (`E2BIG`) and miss them (`ENOENT`).
pub const MAPS: [MapShape; 3] = [
    MapShape {
        kind: MapKind::Array,
        max_entries: 4,
        map_flags: 0,
    },
    MapShape {
        kind: MapKind::Hash,
        max_entries: 4,
        map_flags: 0,
    },
    MapShape {
        kind: MapKind::Hash,
        max_entries: 4,
        map_flags: apiary_kernel::types::map_flags::NO_PREALLOC,
    },
];

/// The line of a verifier log that says why it refused: the last line of
/// [`rejection_lines`], or `no verifier log`.
pub fn rejection_reason(log: &str) -> String {
    rejection_lines(log)
        .pop()
        .unwrap_or_else(|| "no verifier log".to_string())
}

/// The message lines of a verifier log that say why it refused, ending with
/// the last line before the statistics (`processed N insns ...`) that is not
/// a dump of the two states an infinite loop compared (`cur state:`, `old
/// state:`), and starting after the instruction or state line before it:
/// `invalid access to packet, off=23 size=1, R2(id=0,off=23,r=14)` and `R2
/// offset is outside of the packet`. Some messages lack their newline, so
/// the statistics follow them on the same line (`expected prog array map
/// for tail callprocessed 3 insns`); they are cut off. Empty when the log
/// has no such line.
pub fn rejection_lines(log: &str) -> Vec<String> {
    let lines: Vec<&str> = log
        .lines()
        .map(|line| match line.find("processed ") {
            Some(at) if at > 0 && line[at..].contains(" insns (limit ") => line[..at].trim(),
            _ => line.trim(),
        })
        .collect();
    let Some(last) = lines.iter().rposition(|line| {
        !line.is_empty()
            && !line.starts_with("processed ")
            && !line.starts_with("verification time")
            && !line.starts_with("stack depth")
            && !line.starts_with("cur state:")
            && !line.starts_with("old state:")
    }) else {
        return Vec::new();
    };
    let first = lines[..last]
        .iter()
        .rposition(|line| !is_message(line))
        .map_or(0, |at| at + 1);
    lines[first..=last]
        .iter()
        .map(|line| line.to_string())
        .collect()
}

/// Whether a log line is a message rather than an instruction (`5: (71)
/// r0 = ...`), a state (`0: R1=ctx() R10=fp0`, `from 4 to 6: ...`) or empty.
fn is_message(line: &str) -> bool {
    let digits = line.bytes().take_while(u8::is_ascii_digit).count();
    let numbered = digits > 0 && line[digits..].starts_with(':');
    !(line.is_empty() || numbered || line.starts_with("from "))
}

/// Loads `bytecode` as a privileged, sleepable `syscall` program, with a
/// first log buffer of `log_size` bytes (0: `apiary-kernel`'s default).
fn load_logged(
    bytecode: &[u8],
    maps: &[BorrowedFd<'_>],
    log_level: u32,
    log_size: usize,
) -> Result<LoadedProg, KernelError> {
    ProgFd::load(&ProgLoadAttrs {
        prog_type: ProgType::SYSCALL,
        prog_flags: prog_flags::SLEEPABLE,
        insns: bytecode,
        license: "GPL",
        log_level,
        log_size,
        fd_array: maps,
        ..ProgLoadAttrs::default()
    })
}

/// The verifier's whole log (every instruction it processed) for
/// `bytecode`, whether the kernel accepts it or not. The verifier writes
/// its internal inconsistencies there (`verifier bug: ...`) on every load,
/// while the kernel log warns only once per boot; so this is how a
/// program is checked to still trigger one.
pub fn kernel_verifier_log(bytecode: &[u8], maps: &[BorrowedFd<'_>]) -> String {
    match load_logged(bytecode, maps, apiary_kernel::log_level::VERBOSE, 0) {
        Ok(loaded) => loaded.log,
        Err(KernelError::ProgLoad { log, .. }) => log,
        Err(other) => other.to_string(),
    }
}

/// The log buffer of a load at [`log_level::STATS`](apiary_kernel::log_level::STATS):
/// room for its three lines of totals.
const STATS_LOG_SIZE: usize = 1024;

/// Loads `bytecode` as [`kernel_load`] does, for the verdict alone: the
/// program, or the load's error (whose log holds only the totals).
///
/// The log level is the statistics one, not 0, because `apiary-kernel`
/// retries a failed level-0 load at level 1 for the reason; and not 1,
/// because at level 1 the kernel formats every instruction it processes
/// (keeping only the failing path's), which makes a program that runs into
/// the 1,000,000-instruction limit load about 7 times slower.
pub fn kernel_verdict(bytecode: &[u8], maps: &[BorrowedFd<'_>]) -> Result<ProgFd, KernelError> {
    load_logged(
        bytecode,
        maps,
        apiary_kernel::log_level::STATS,
        STATS_LOG_SIZE,
    )
    .map(|loaded| loaded.prog)
}

/// Loads `bytecode` in the kernel as a `syscall` program whose
/// `BPF_PSEUDO_MAP_IDX` loads index `maps`, or says why the verifier refused.
pub fn kernel_load(bytecode: &[u8], maps: &[BorrowedFd<'_>]) -> Result<ProgFd, RunFailure> {
    // The fast load decides; the log, slow to write, is only wanted for the reason.
    kernel_verdict(bytecode, maps).or_else(|_| {
        match load_logged(bytecode, maps, apiary_kernel::log_level::BASIC, 0) {
            Ok(loaded) => Ok(loaded.prog),
            Err(KernelError::ProgLoad { log, errno }) if log.trim().is_empty() => Err(
                RunFailure::Rejected(format!("{errno} without a verifier log")),
            ),
            Err(KernelError::ProgLoad { log, .. }) => {
                Err(RunFailure::Rejected(rejection_reason(&log)))
            }
            Err(other) => Err(RunFailure::Rejected(other.to_string())),
        }
    })
}

/// Runs a loaded `syscall` program on `ctx`; the kernel copies the context
/// back. Map contents are the caller's business ([`KernelMaps`]).
pub fn kernel_run(prog: &ProgFd, ctx: &[u8]) -> Result<(u64, Vec<u8>), RunFailure> {
    let mut buffer = ctx.to_vec();
    let out = prog
        .test_run(&TestRunAttrs {
            ctx_in: &buffer,
            ..TestRunAttrs::default()
        })
        .map_err(|e| RunFailure::TestRun(e.to_string()))?;
    // The kernel wrote the context back into `buffer` behind the shared
    // borrow (apiary-kernel takes `ctx_in` as `&[u8]`); black_box keeps the
    // compiler from assuming the bytes are unchanged.
    let ctx = std::hint::black_box(buffer.as_mut_slice()).to_vec();
    Ok((u64::from(out.retval), ctx))
}

/// The kernel maps of [`MAPS`], created once and reset before each run.
#[derive(Debug)]
pub struct KernelMaps {
    maps: Vec<MapFd>,
}

impl KernelMaps {
    /// Creates the maps of [`MAPS`].
    pub fn create() -> Result<KernelMaps, RunFailure> {
        let maps = MAPS
            .iter()
            .enumerate()
            .map(|(index, shape)| {
                MapFd::create(&MapCreateAttrs {
                    map_type: match shape.kind {
                        MapKind::Array => KernelMapType::ARRAY,
                        MapKind::Hash => KernelMapType::HASH,
                    },
                    key_size: KEY_SIZE,
                    value_size: VALUE_SIZE,
                    max_entries: shape.max_entries,
                    map_flags: shape.map_flags,
                    name: "difftest",
                    ..MapCreateAttrs::default()
                })
                .map_err(|e| kernel_map_failure(index, &e))
            })
            .collect::<Result<_, _>>()?;
        Ok(KernelMaps { maps })
    }

    /// The maps' fds, for the program's `fd_array`.
    pub fn fds(&self) -> Vec<BorrowedFd<'_>> {
        self.maps.iter().map(AsFd::as_fd).collect()
    }

    /// Makes each map hold exactly `initial[i]` (array slots not named hold zeros).
    pub fn reset(&self, initial: &[Entries]) -> Result<(), RunFailure> {
        for (index, (map, shape)) in self.maps.iter().zip(MAPS).enumerate() {
            let fail = |e: KernelError| kernel_map_failure(index, &e);
            let entries = initial.get(index).map_or(&[][..], Vec::as_slice);
            match shape.kind {
                MapKind::Array => {
                    for slot in 0..shape.max_entries {
                        let key = slot.to_ne_bytes();
                        let value = entries
                            .iter()
                            .find(|(k, _)| k.as_slice() == key)
                            .map_or(vec![0; VALUE_SIZE as usize], |(_, v)| v.clone());
                        map.update(&key, &value, 0).map_err(fail)?;
                    }
                }
                MapKind::Hash => {
                    let present: Vec<Vec<u8>> =
                        map.keys().collect::<Result<_, _>>().map_err(fail)?;
                    for key in present {
                        map.delete(&key).map_err(fail)?;
                    }
                    for (key, value) in entries {
                        map.update(key, value, 0).map_err(fail)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Every map's entries, sorted by key.
    pub fn entries(&self) -> Result<Vec<Entries>, RunFailure> {
        self.maps
            .iter()
            .enumerate()
            .map(|(index, map)| {
                let fail = |e: KernelError| kernel_map_failure(index, &e);
                let keys: Vec<Vec<u8>> = map.keys().collect::<Result<_, _>>().map_err(fail)?;
                let mut entries = Vec::with_capacity(keys.len());
                for key in keys {
                    if let Some(value) = map.lookup(&key, 0).map_err(fail)? {
                        entries.push((key, value));
                    }
                }
                entries.sort();
                Ok(entries)
            })
            .collect()
    }
}

fn kernel_map_failure(map: usize, error: &KernelError) -> RunFailure {
    RunFailure::KernelMap {
        map,
        reason: error.to_string(),
    }
}

/// The array lookups the kernel inlined in its translated program
/// (`xlated_prog_insns`): `(inlined, unchecked)`, where unchecked ones lost
/// the null check generated programs put after every lookup. The inlined
/// lookup ends `r0 <<= 4; r0 += r1; goto +1; r0 = 0` (16-byte values); the
/// check is an `if r0 ... goto` right after. Linux 6.18 drops it when it
/// wrongly takes the key for an in-range constant, and running the program
/// then dereferences NULL inside the kernel.
pub fn inlined_array_lookups(xlated: &[u8]) -> (usize, usize) {
    const SHIFT_R0_BY_4: [u8; 8] = [0x67, 0x00, 0, 0, 4, 0, 0, 0];
    const ADD_R1_TO_R0: [u8; 8] = [0x0f, 0x10, 0, 0, 0, 0, 0, 0];
    const GOTO_PLUS_1: [u8; 8] = [0x05, 0x00, 1, 0, 0, 0, 0, 0];
    const R0_IS_0: [u8; 8] = [0xb7, 0x00, 0, 0, 0, 0, 0, 0];
    let slots: Vec<&[u8]> = xlated.chunks_exact(8).collect();
    let mut counts = (0, 0);
    for window in slots.windows(5) {
        let [shift, add, goto, zero, next] = window else {
            continue;
        };
        if !(*shift == SHIFT_R0_BY_4
            && *add == ADD_R1_TO_R0
            && *goto == GOTO_PLUS_1
            && *zero == R0_IS_0)
        {
            continue;
        }
        // A conditional jump (class JMP or JMP32, not ja/call/exit) on r0.
        let checks_r0 = matches!(next.first().map(|code| (code & 0x07, code & 0xf0)),
            Some((0x05 | 0x06, op)) if !matches!(op, 0x00 | 0x80 | 0x90))
            && next.get(1).is_some_and(|regs| regs & 0x0f == 0);
        counts.0 += 1;
        if !checks_r0 {
            counts.1 += 1;
        }
    }
    counts
}

/// [`kernel_load`], refusing with [`RunFailure::KernelUnsafe`] a program
/// whose translation would crash the kernel ([`inlined_array_lookups`]).
pub fn kernel_load_runnable(
    bytecode: &[u8],
    maps: &[BorrowedFd<'_>],
) -> Result<ProgFd, RunFailure> {
    let prog = kernel_load(bytecode, maps)?;
    let xlated = prog
        .info(true)
        .map_err(|e| RunFailure::TestRun(format!("reading the translated program: {e}")))?
        .xlated_insns
        .unwrap_or_default();
    if inlined_array_lookups(&xlated).1 > 0 {
        return Err(RunFailure::KernelUnsafe(
            "the verifier removed the null check after an array map lookup".into(),
        ));
    }
    Ok(prog)
}

/// Loads and runs `bytecode` in the kernel with the maps reset to `initial`.
pub fn kernel_outcome(
    maps: &KernelMaps,
    bytecode: &[u8],
    ctx: &[u8],
    initial: &[Entries],
) -> Result<Outcome, RunFailure> {
    let prog = kernel_load_runnable(bytecode, &maps.fds())?;
    maps.reset(initial)?;
    let (r0, ctx) = kernel_run(&prog, ctx)?;
    Ok(Outcome {
        r0,
        ctx,
        maps: maps.entries()?,
    })
}

fn apiary_map_failure(map: usize, error: &MapError) -> RunFailure {
    RunFailure::ApiaryLoad(format!("map {map}: {error}"))
}

/// Runs `bytecode` in Apiary: a fresh runtime with the maps of [`MAPS`]
/// holding `initial`, the program loaded as a `syscall` program, r1 = the
/// context. `budget` bounds the instructions executed.
pub fn apiary_outcome(
    bytecode: &[u8],
    ctx: &[u8],
    initial: &[Entries],
    budget: Option<u64>,
) -> Result<Outcome, RunFailure> {
    apiary_outcome_on(bytecode, ctx, initial, budget, None)
}

/// Readies a loaded program for the tier that runs it (the JIT compiles
/// it); without one, Apiary's interpreter runs it.
pub type PrepareProgram = fn(&apiary_vm::Program<Env>) -> Result<(), String>;

/// [`apiary_outcome`] on the tier `prepare` readies the program for.
pub fn apiary_outcome_on(
    bytecode: &[u8],
    ctx: &[u8],
    initial: &[Entries],
    budget: Option<u64>,
    prepare: Option<PrepareProgram>,
) -> Result<Outcome, RunFailure> {
    let slots = apiary_isa::slots_from_bytes(bytecode)
        .map_err(|e| RunFailure::ApiaryLoad(e.to_string()))?;
    let runtime = Runtime::new(1);
    let defs: Vec<MapDef> = MAPS.iter().map(MapShape::def).collect();
    let ids = create_maps(&runtime, &defs, initial)?;
    let prog = runtime
        .load_program("difftest", ProgType::SYSCALL, &slots, &ids)
        .map_err(|e| RunFailure::ApiaryLoad(e.to_string()))?;
    if let Some(prepare) = prepare {
        let program = runtime
            .program(prog)
            .ok_or_else(|| RunFailure::ApiaryLoad("the loaded program vanished".into()))?;
        prepare(&program).map_err(RunFailure::ApiaryLoad)?;
    }
    let mut buffer = ctx.to_vec();
    let mut runner = Runner::new();
    runner.set_budget(budget);
    let r0 = runtime
        .run(&mut runner, prog, &mut buffer, 0, &TaskInfo::default())
        .map_err(RunFailure::ApiaryRun)?;
    Ok(Outcome {
        r0,
        ctx: buffer,
        maps: map_contents(&runtime, &ids)?,
    })
}

impl MapShape {
    /// The map's definition in Apiary.
    pub(crate) fn def(&self) -> MapDef {
        let map_type = match self.kind {
            MapKind::Array => MapType::Array,
            MapKind::Hash => MapType::Hash,
        };
        MapDef {
            map_flags: self.map_flags,
            ..MapDef::new(map_type, KEY_SIZE, VALUE_SIZE, self.max_entries)
        }
    }
}

/// Creates the maps `defs` in `runtime`, each holding its `initial` entries.
pub(crate) fn create_maps(
    runtime: &Runtime,
    defs: &[MapDef],
    initial: &[Entries],
) -> Result<Vec<MapId>, RunFailure> {
    let mut ids = Vec::with_capacity(defs.len());
    for (index, def) in defs.iter().enumerate() {
        let id = runtime
            .create_map(def.clone())
            .map_err(|e| RunFailure::ApiaryLoad(e.to_string()))?;
        let map = runtime
            .map(id)
            .ok_or_else(|| RunFailure::ApiaryLoad(format!("map {index} vanished")))?;
        for (key, value) in initial.get(index).map_or(&[][..], Vec::as_slice) {
            map.sys_update(key, value, 0)
                .map_err(|e| apiary_map_failure(index, &e))?;
        }
        ids.push(id);
    }
    Ok(ids)
}

/// Every entry of each of `ids`' maps, sorted by key.
pub(crate) fn map_contents(runtime: &Runtime, ids: &[MapId]) -> Result<Vec<Entries>, RunFailure> {
    let mut maps = Vec::with_capacity(ids.len());
    for (index, &id) in ids.iter().enumerate() {
        let map = runtime
            .map(id)
            .ok_or_else(|| RunFailure::ApiaryLoad(format!("map {index} vanished")))?;
        let mut entries = Vec::new();
        let mut key: Option<Vec<u8>> = None;
        // A map never yields more keys than it holds; the bound only guards
        // against a next-key walk that fails to end.
        for _ in 0..=map.max_entries() {
            let next = match map.sys_get_next_key(key.as_deref()) {
                Ok(next) => next,
                Err(MapError::NotFound) => break,
                Err(e) => return Err(apiary_map_failure(index, &e)),
            };
            let value = map
                .sys_lookup(&next, 0)
                .map_err(|e| apiary_map_failure(index, &e))?;
            entries.push((next.clone(), value));
            key = Some(next);
        }
        entries.sort();
        maps.push(entries);
    }
    Ok(maps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use apiary_isa::{AluOp, Insn, JmpCond, Reg, Source, Width, encode_program, slots_to_bytes};

    fn bytes(insns: &[Insn]) -> Vec<u8> {
        slots_to_bytes(&encode_program(insns))
    }

    #[test]
    fn an_inlined_array_lookup_without_its_null_check_is_spotted() {
        let lookup = [
            Insn::alu64(AluOp::Lsh, Reg::R0, Source::Imm(4)),
            Insn::alu64(AluOp::Add, Reg::R0, Source::Reg(Reg::R1)),
            Insn::Ja { off: 1 },
            Insn::alu64(AluOp::Mov, Reg::R0, Source::Imm(0)),
        ];
        let checked = Insn::Jump {
            width: Width::W64,
            cond: JmpCond::Eq,
            dst: Reg::R0,
            src: Source::Imm(0),
            off: 2,
        };
        let store_through_r0 = Insn::Store {
            size: apiary_isa::Size::DW,
            dst: Reg::R0,
            off: 0,
            src: Source::Imm(7),
        };
        assert_eq!(
            inlined_array_lookups(&bytes(&[&lookup[..], &[checked, Insn::Exit]].concat())),
            (1, 0)
        );
        assert_eq!(
            inlined_array_lookups(&bytes(
                &[&lookup[..], &[store_through_r0, Insn::Exit]].concat()
            )),
            (1, 1)
        );
        assert_eq!(inlined_array_lookups(&bytes(&[Insn::Exit])), (0, 0));
    }

    #[test]
    fn the_rejection_reason_skips_statistics_and_state_dumps() {
        let log = "0: (05) goto pc-1\ninfinite loop detected at insn 1\n\
                   cur state: R0=0 R10=fp0\nold state: R0=0 R10=fp0\n\
                   processed 2 insns (limit 1000000) max_states_per_insn 0\n";
        assert_eq!(rejection_reason(log), "infinite loop detected at insn 1");
        assert_eq!(rejection_lines(log), ["infinite loop detected at insn 1"]);
        let packet = "5: (71) r0 = *(u8 *)(r2 +23)\n\
                      invalid access to packet, off=23 size=1, R2(id=0,off=23,r=14)\n\
                      R2 offset is outside of the packet\n\
                      processed 6 insns (limit 1000000) max_states_per_insn 0\n";
        assert_eq!(
            rejection_lines(packet),
            [
                "invalid access to packet, off=23 size=1, R2(id=0,off=23,r=14)",
                "R2 offset is outside of the packet"
            ]
        );
        let glued = "2: (85) call bpf_tail_call#12\nexpected prog array map for tail call\
                     processed 3 insns (limit 1000000) max_states_per_insn 0\n";
        assert_eq!(
            rejection_reason(glued),
            "expected prog array map for tail call"
        );
        assert_eq!(rejection_reason(""), "no verifier log");
    }
}
