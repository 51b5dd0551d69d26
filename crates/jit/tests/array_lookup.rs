//! `bpf_map_lookup_elem` on arrays and per-CPU arrays, which compiled code
//! does inline where the verifier found the map the same on every path
//! (`emit_lookup`): the same results and map contents as the interpreter's
//! helper for keys below, at and past `max_entries` and on every CPU (and
//! past the last, which finds the last one's copy); the helper where the
//! map varies by path or the key does not lie on the stack.

use std::sync::Arc;

use apiary_kernel::types::{MapType as KernelMapType, ProgType};
use apiary_maps::{MapDef, MapType};
use apiary_runtime::{MapId, ProgId, Runtime, TaskInfo};
use apiary_verifier::{Accepted, MapInfo, Program, verify};
use apiary_vm::{Engine, Op, Runner};

const CPUS: u32 = 3;
const ARRAY_ENTRIES: u32 = 4;
const PERCPU_ENTRIES: u32 = 3;
/// Not a multiple of 8: per-CPU copies are padded to 16 bytes.
const PERCPU_VALUE: u32 = 12;

/// Map 0: an array of `u64`; map 1: a per-CPU array of 12-byte values.
fn map_defs() -> [(MapDef, MapInfo); 2] {
    let info = |map_type, value_size, max_entries| MapInfo {
        map_type,
        key_size: 4,
        value_size,
        max_entries,
        ..MapInfo::default()
    };
    [
        (
            MapDef::new(MapType::Array, 4, 8, ARRAY_ENTRIES),
            info(KernelMapType::ARRAY, 8, ARRAY_ENTRIES),
        ),
        (
            MapDef::new(MapType::PercpuArray, 4, PERCPU_VALUE, PERCPU_ENTRIES),
            info(KernelMapType::PERCPU_ARRAY, PERCPU_VALUE, PERCPU_ENTRIES),
        ),
    ]
}

/// One runtime with both maps and `source` loaded (a kprobe: its context
/// is plain memory), run by `engine`.
struct Tier {
    runtime: Arc<Runtime>,
    maps: Vec<MapId>,
    prog: ProgId,
    runner: Runner<apiary_runtime::Env>,
}

impl Tier {
    fn new(source: &str, engine: Engine) -> (Tier, Accepted) {
        let insns = apiary_asm::assemble_slots(source).expect("assembles");
        let runtime = Runtime::new(CPUS);
        let maps: Vec<MapId> = map_defs()
            .into_iter()
            .map(|(def, _)| runtime.create_map(def).expect("map"))
            .collect();
        let infos: Vec<MapInfo> = map_defs().into_iter().map(|(_, info)| info).collect();
        let accepted = verify(&Program::bare(&insns, ProgType::KPROBE, &infos))
            .unwrap_or_else(|r| panic!("refused: {r}\n{source}"));
        let prog = runtime
            .load_program("lookup", ProgType::KPROBE, &insns, &maps)
            .expect("loads");
        if engine == Engine::Compiled {
            let program = runtime.program(prog).expect("loaded");
            apiary_jit::compile_verified(&program, &accepted).expect("compiles");
        }
        let mut runner = Runner::new();
        runner.set_engine(engine);
        let tier = Tier {
            runtime,
            maps,
            prog,
            runner,
        };
        (tier, accepted)
    }

    /// A run on `cpu` with the context's first two words `key` and `select`.
    fn run(&mut self, key: u32, select: u32, cpu: u32) -> String {
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

    /// Every value of both maps, every CPU's.
    fn contents(&self) -> Vec<Vec<u8>> {
        self.maps
            .iter()
            .flat_map(|&id| {
                let map = self.runtime.map(id).expect("map");
                (0..map.max_entries())
                    .map(move |k| map.sys_lookup(&k.to_ne_bytes(), 0).expect("value"))
            })
            .collect()
    }
}

/// Keys below, at and past both maps' `max_entries`, and huge ones.
fn keys() -> impl Iterator<Item = u32> {
    (0..=ARRAY_ENTRIES + 1).chain([0x8000_0000, u32::MAX])
}

/// Runs `source` in both tiers on every key, selector and CPU (one past
/// the last included) and compares results and map contents.
fn tiers_agree(source: &str) -> Accepted {
    let (mut interp, accepted) = Tier::new(source, Engine::Interpreter);
    let (mut jit, _) = Tier::new(source, Engine::Compiled);
    let mut found = 0;
    for key in keys() {
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
    }
    assert_eq!(jit.contents(), interp.contents(), "{source}");
    assert!(found > 0, "no lookup found a value\n{source}");
    accepted
}

/// The key from the context on the stack at `r10 - 4`, its address in `r2`,
/// the selector in `r7`.
const KEY: &str = "r6 = *(u32 *)(r1 + 0)\nr7 = *(u32 *)(r1 + 8)\n\
                   *(u32 *)(r10 - 4) = r6\nr2 = r10\nr2 += -4\n";

/// Adds 1 to the value's first word and the key to its last 4 bytes and
/// returns the first word (0 when nothing was found).
const BUMP: &str = "if r0 == 0 goto +6\nr1 = *(u32 *)(r0 + 0)\nr1 += 1\n\
                    *(u32 *)(r0 + 0) = r1\n*(u32 *)(r0 + 4) = r6\n\
                    r0 = *(u32 *)(r0 + 0)\nexit\nr0 = 0\nexit";

/// The slots of the helper calls whose map the verifier knows.
fn call_slots(accepted: &Accepted) -> Vec<usize> {
    (0..accepted.call_maps.len())
        .filter(|&slot| accepted.call_maps.get(slot).is_some())
        .collect()
}

#[test]
fn array_lookups_agree_below_at_and_past_max_entries() {
    let accepted = tiers_agree(&format!("{KEY}ld_pseudo r1, 5, 0\ncall 1\n{BUMP}"));
    assert_eq!(
        call_slots(&accepted).len(),
        1,
        "the map is known at the call"
    );
}

#[test]
fn percpu_array_lookups_agree_on_every_cpu() {
    let accepted = tiers_agree(&format!("{KEY}ld_pseudo r1, 5, 1\ncall 1\n{BUMP}"));
    assert_eq!(
        call_slots(&accepted).len(),
        1,
        "the map is known at the call"
    );
}

#[test]
fn a_map_that_varies_by_path_takes_the_helper() {
    let accepted = tiers_agree(&format!(
        "{KEY}if r7 == 0 goto +3\nld_pseudo r1, 5, 0\ngoto +2\nld_pseudo r1, 5, 1\n\
         call 1\n{BUMP}"
    ));
    assert!(
        call_slots(&accepted).is_empty(),
        "the map varies at the call"
    );
}

#[test]
fn a_key_in_a_map_value_takes_the_helper() {
    // The array's value at the context's key holds the key of the per-CPU
    // array's lookup (the first run stores it there, through the stack).
    let accepted = tiers_agree(&format!(
        "{KEY}ld_pseudo r1, 5, 0\ncall 1\nif r0 == 0 goto +17\n\
         r8 = r0\nr1 = *(u32 *)(r8 + 0)\nr1 += 1\n*(u32 *)(r8 + 0) = r1\n\
         r2 = r8\nld_pseudo r1, 5, 1\ncall 1\n{BUMP}\nr0 = 0\nexit"
    ));
    assert_eq!(call_slots(&accepted).len(), 2, "both maps are known");
}

#[test]
fn the_lookup_helper_is_called_directly_where_inlined() {
    // What the tests above rely on: the inlined call is a helper call op.
    let (tier, _) = Tier::new(
        &format!("{KEY}ld_pseudo r1, 5, 0\ncall 1\n{BUMP}"),
        Engine::Compiled,
    );
    let program = tier.runtime.program(tier.prog).expect("loaded");
    let index = program
        .ops()
        .iter()
        .find_map(|op| match *op {
            Op::CallHelper { index } => Some(index),
            _ => None,
        })
        .expect("a helper call");
    let lookup = program.array_lookup(index, 0).expect("array 0 described");
    assert_eq!(lookup.max_entries, ARRAY_ENTRIES);
    assert_eq!(
        program.array_lookup(index, 1).map(|l| l.last_cpu),
        Some(CPUS - 1)
    );
}
