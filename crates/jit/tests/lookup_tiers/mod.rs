//! What the map lookup tests share: a runtime with maps and one verified
//! kprobe program (its context is plain memory: a key and a selector),
//! run by either tier, and the comparison of both tiers' results and map
//! contents over keys, selectors and CPUs.

use std::sync::Arc;

use apiary_kernel::types::ProgType;
use apiary_maps::MapDef;
use apiary_runtime::{MapId, ProgId, Runtime, TaskInfo};
use apiary_verifier::{Accepted, MapInfo, Program, verify};
use apiary_vm::{Engine, Op, Runner};

/// CPUs of every runtime; runs go on each and one past the last.
pub const CPUS: u32 = 3;

/// The maps of a test: their definitions (for the runtime and the
/// verifier) and what fills them before the program loads.
pub struct Maps {
    pub defs: fn() -> Vec<(MapDef, MapInfo)>,
    pub fill: fn(&Runtime, &[MapId]),
}

/// One runtime with the maps and the program, run by one engine.
pub struct Tier {
    pub runtime: Arc<Runtime>,
    pub maps: Vec<MapId>,
    pub prog: ProgId,
    runner: Runner<apiary_runtime::Env>,
}

impl Tier {
    pub fn new(source: &str, engine: Engine, maps: &Maps) -> (Tier, Accepted) {
        Tier::build(source, engine, maps, true)
    }

    /// As [`Tier::new`], compiled as an unverified program unless
    /// `verified_jit` (the verifier still checks the source).
    pub fn build(
        source: &str,
        engine: Engine,
        maps: &Maps,
        verified_jit: bool,
    ) -> (Tier, Accepted) {
        let insns = apiary_asm::assemble_slots(source).expect("assembles");
        let runtime = Runtime::new(CPUS);
        let ids: Vec<MapId> = (maps.defs)()
            .into_iter()
            .map(|(def, _)| runtime.create_map(def).expect("map"))
            .collect();
        (maps.fill)(&runtime, &ids);
        let infos: Vec<MapInfo> = (maps.defs)().into_iter().map(|(_, info)| info).collect();
        let accepted = verify(&Program::bare(&insns, ProgType::KPROBE, &infos))
            .unwrap_or_else(|r| panic!("refused: {r}\n{source}"));
        let prog = runtime
            .load_program("lookup", ProgType::KPROBE, &insns, &ids)
            .expect("loads");
        if engine == Engine::Compiled {
            let program = runtime.program(prog).expect("loaded");
            if verified_jit {
                apiary_jit::compile_verified(&program, &accepted).expect("compiles");
            } else {
                apiary_jit::compile(&program).expect("compiles");
            }
        }
        let mut runner = Runner::new();
        runner.set_engine(engine);
        let tier = Tier {
            runtime,
            maps: ids,
            prog,
            runner,
        };
        (tier, accepted)
    }

    /// A run on `cpu` with the context's first two words `key` and `select`.
    pub fn run(&mut self, key: u32, select: u32, cpu: u32) -> String {
        let mut ctx = [0u8; 168];
        ctx[..4].copy_from_slice(&key.to_ne_bytes());
        ctx[8..12].copy_from_slice(&select.to_ne_bytes());
        let result = self.runtime.run(
            &mut self.runner,
            self.prog,
            &mut ctx,
            cpu,
            &TaskInfo::default(),
        );
        format!("{result:?}")
    }
}

/// How [`tiers_agree`] compares: the keys the runs get, what the host
/// finds in the maps (compared after each key's runs), and what the host
/// does to a tier's maps after them.
pub struct Check<'a> {
    pub keys: &'a [u32],
    pub contents: fn(&Tier) -> Vec<String>,
    pub between: &'a dyn Fn(&Tier, u32),
}

/// Runs `source` in both tiers on every key, selector (0 and 1) and CPU
/// (one past the last included) and compares results and map contents;
/// some run must find a value (return non-zero).
pub fn tiers_agree(source: &str, maps: &Maps, check: &Check<'_>) -> Accepted {
    tiers_agree_jit(source, maps, check, true)
}

/// As [`tiers_agree`], the program compiled as an unverified one unless
/// `verified_jit`.
pub fn tiers_agree_jit(
    source: &str,
    maps: &Maps,
    check: &Check<'_>,
    verified_jit: bool,
) -> Accepted {
    let (mut interp, accepted) = Tier::new(source, Engine::Interpreter, maps);
    let (mut jit, _) = Tier::build(source, Engine::Compiled, maps, verified_jit);
    let mut found = 0;
    for &key in check.keys {
        for select in 0..2 {
            for cpu in 0..=CPUS {
                let expected = interp.run(key, select, cpu);
                assert_eq!(
                    jit.run(key, select, cpu),
                    expected,
                    "key {key} select {select} cpu {cpu}\n{source}"
                );
                found += usize::from(expected != "Ok(0)");
            }
        }
        assert_eq!(
            (check.contents)(&jit),
            (check.contents)(&interp),
            "key {key}\n{source}"
        );
        (check.between)(&interp, key);
        (check.between)(&jit, key);
    }
    assert!(found > 0, "no lookup found a value\n{source}");
    accepted
}

/// The slots of the helper calls whose map the verifier knows.
pub fn call_slots(accepted: &Accepted) -> Vec<usize> {
    (0..accepted.call_maps.len())
        .filter(|&slot| accepted.call_maps.get(slot).is_some())
        .collect()
}

/// Adds 1 to the value's first word and the key (`r6`) to its second and
/// returns the first word (0 when nothing was found).
pub const BUMP: &str = "if r0 == 0 goto +6\nr1 = *(u32 *)(r0 + 0)\nr1 += 1\n\
                        *(u32 *)(r0 + 0) = r1\n*(u32 *)(r0 + 4) = r6\n\
                        r0 = *(u32 *)(r0 + 0)\nexit\nr0 = 0\nexit";

/// After `key` (which sets `r2`, `r6` and the selector `r7`): a bumped
/// lookup in map `a` when the selector is 0, else in map `b`, at one
/// call, whose map the verifier then finds varying.
pub fn varying_map(key: &str, a: u32, b: u32) -> String {
    format!(
        "{key}if r7 == 0 goto +3\nld_pseudo r1, 5, {b}\ngoto +2\nld_pseudo r1, 5, {a}\n\
         call 1\n{BUMP}"
    )
}

/// After `key`: a lookup in map `first` whose value's first word, bumped,
/// is the key of a bumped lookup in map `second` (a key in a map value).
pub fn key_in_value(key: &str, first: u32, second: u32) -> String {
    format!(
        "{key}ld_pseudo r1, 5, {first}\ncall 1\nif r0 == 0 goto +17\n\
         r8 = r0\nr1 = *(u32 *)(r8 + 0)\nr1 += 1\n*(u32 *)(r8 + 0) = r1\n\
         r2 = r8\nld_pseudo r1, 5, {second}\ncall 1\n{BUMP}\nr0 = 0\nexit"
    )
}

/// The operand of the first helper call of `tier`'s program.
pub fn first_helper(tier: &Tier) -> (Arc<apiary_vm::Program<apiary_runtime::Env>>, u32) {
    let program = tier.runtime.program(tier.prog).expect("loaded");
    let index = program
        .ops()
        .iter()
        .find_map(|op| match *op {
            Op::CallHelper { index } => Some(index),
            _ => None,
        })
        .expect("a helper call");
    (program, index)
}
