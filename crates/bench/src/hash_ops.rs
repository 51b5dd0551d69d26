//! Hash map lookups and updates from inside a program, run by Apiary
//! (`apiary-runtime` over `apiary-maps`) and by the kernel (an XDP program
//! through `BPF_PROG_TEST_RUN` with `repeat`), on maps of the same
//! definition holding the same entries.
//!
//! Each program is one counted loop of `ops` operations on keys
//! `i & (entries - 1)` of a preallocated hash map whose `entries` keys all
//! exist ([`Shape`]), so the figure per operation is a run's time divided
//! by `ops` (loop and key arithmetic included, the same in both).

use std::os::fd::AsFd;

use apiary_isa::{
    AluOp, CallTarget, Insn, JmpCond, LdImm64Kind, RawInsn, Reg, Size, Source, Width,
    encode_program, slots_to_bytes,
};
use apiary_kernel::types::{MapType as KernelMapType, ProgType};
use apiary_kernel::{MapCreateAttrs, MapFd, ProgFd, ProgLoadAttrs, TestRunAttrs};
use apiary_maps::{MapDef, MapType};
use apiary_runtime::{Env, MapId, ProgId, Runtime, TaskInfo};
use apiary_vm::Runner;

/// The size of a benchmark: map entries and operations per run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Keys in the map, all present; a power of two so that `i & (entries - 1)` is a key.
    pub entries: u32,
    /// Operations one run performs.
    pub ops: u32,
}

/// The benchmark's shape: 4096 operations over 1024 keys.
pub const BENCH: Shape = Shape {
    entries: 1024,
    ops: 4096,
};
/// The packet the kernel's XDP test run gets (the program ignores it).
const PACKET: [u8; 64] = [0; 64];
/// Apiary's internal `xdp_md` size (the program does not read it).
const XDP_CONTEXT: usize = 48;
const KEY_SLOT: i16 = -4;
const VALUE_SLOT: i16 = -16;

/// Which map operation the loop performs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashOp {
    /// `bpf_map_lookup_elem`, summing the values found.
    Lookup,
    /// `bpf_map_update_elem(key, i, BPF_ANY)`, summing the return codes.
    Update,
}

impl HashOp {
    /// Both operations, in report order.
    pub const ALL: [HashOp; 2] = [HashOp::Lookup, HashOp::Update];

    /// Short name, used as the criterion group name.
    pub fn name(self) -> &'static str {
        match self {
            HashOp::Lookup => "hash_lookup",
            HashOp::Update => "hash_update",
        }
    }

    fn helper(self) -> i32 {
        match self {
            HashOp::Lookup => 1,
            HashOp::Update => 2,
        }
    }
}

/// The value key `key` holds before a run.
pub fn initial_value(key: u32) -> u64 {
    u64::from(key) * 3 + 1
}

/// r0 of one run from the initial entries, as the model computes it (low
/// 32 bits, all the kernel reports): the sum of the values looked up, or
/// of `map_update_elem`'s return codes (all 0).
pub fn expected_r0(op: HashOp, shape: Shape) -> u32 {
    match op {
        HashOp::Lookup => (0..shape.ops)
            .map(|i| initial_value(i & (shape.entries - 1)))
            .fold(0u64, u64::wrapping_add) as u32,
        HashOp::Update => 0,
    }
}

/// The value of `key` after one update run: the last `i` stored under it
/// (`shape.ops` must be at least `shape.entries`).
pub fn value_after_update(key: u32, shape: Shape) -> u64 {
    let last_round = (shape.ops - 1 - key) / shape.entries;
    u64::from(key + last_round * shape.entries)
}

/// The loop: r7 counts, r6 accumulates, map 0 is the hash map.
pub fn program(op: HashOp, shape: Shape) -> Vec<Insn> {
    let (r0, r1, r2, r3, r4, r6, r7, r10) = (
        Reg::R0,
        Reg::R1,
        Reg::R2,
        Reg::R3,
        Reg::R4,
        Reg::R6,
        Reg::R7,
        Reg::R10,
    );
    let mut body = vec![
        Insn::mov64(r1, Source::Reg(r7)),
        Insn::alu64(AluOp::And, r1, Source::Imm(shape.entries as i32 - 1)),
        Insn::Store {
            size: Size::W,
            dst: r10,
            off: KEY_SLOT,
            src: Source::Reg(r1),
        },
    ];
    if op == HashOp::Update {
        body.push(Insn::Store {
            size: Size::DW,
            dst: r10,
            off: VALUE_SLOT,
            src: Source::Reg(r7),
        });
    }
    body.push(Insn::LoadImm64 {
        dst: r1,
        kind: LdImm64Kind::MapIdx,
        imm: 0,
    });
    body.push(Insn::mov64(r2, Source::Reg(r10)));
    body.push(Insn::alu64(AluOp::Add, r2, Source::Imm(KEY_SLOT.into())));
    if op == HashOp::Update {
        body.push(Insn::mov64(r3, Source::Reg(r10)));
        body.push(Insn::alu64(AluOp::Add, r3, Source::Imm(VALUE_SLOT.into())));
        body.push(Insn::mov64(r4, Source::Imm(0)));
    }
    body.push(Insn::Call(CallTarget::Helper(op.helper())));
    match op {
        HashOp::Lookup => {
            body.push(Insn::Jump {
                width: Width::W64,
                cond: JmpCond::Eq,
                dst: r0,
                src: Source::Imm(0),
                off: 2,
            });
            body.push(Insn::Load {
                size: Size::DW,
                sign_extend: false,
                dst: r1,
                src: r0,
                off: 0,
            });
            body.push(Insn::alu64(AluOp::Add, r6, Source::Reg(r1)));
        }
        HashOp::Update => body.push(Insn::alu64(AluOp::Add, r6, Source::Reg(r0))),
    }
    body.push(Insn::alu64(AluOp::Add, r7, Source::Imm(1)));
    let body_slots: usize = body.iter().map(Insn::slots).sum();
    // Back to the body's first instruction from past this jump.
    let back = -(body_slots as i16) - 1;
    body.push(Insn::Jump {
        width: Width::W64,
        cond: JmpCond::Lt,
        dst: r7,
        src: Source::Imm(shape.ops as i32),
        off: back,
    });
    let mut insns = vec![
        Insn::mov64(r6, Source::Imm(0)),
        Insn::mov64(r7, Source::Imm(0)),
    ];
    insns.extend(body);
    insns.push(Insn::mov64(r0, Source::Reg(r6)));
    insns.push(Insn::Exit);
    insns
}

fn slots(op: HashOp, shape: Shape) -> Vec<RawInsn> {
    encode_program(&program(op, shape))
}

/// Why a side could not be set up or run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// Apiary refused the map or the program.
    #[error("apiary: {0}")]
    Apiary(String),
    /// The kernel refused or failed.
    #[error("kernel: {0}")]
    Kernel(#[from] apiary_kernel::Error),
}

fn key_bytes(key: u32) -> [u8; 4] {
    key.to_ne_bytes()
}

/// The program loaded in an Apiary runtime with its map filled.
pub struct ApiaryHash {
    runtime: std::sync::Arc<Runtime>,
    map: MapId,
    prog: ProgId,
    runner: Runner<Env>,
    ctx: Vec<u8>,
}

impl ApiaryHash {
    /// A runtime holding the filled map and `op`'s program (as XDP, like the kernel's).
    pub fn new(op: HashOp, shape: Shape) -> Result<ApiaryHash, BenchError> {
        let runtime = Runtime::new(1);
        let apiary = |e: &dyn std::fmt::Display| BenchError::Apiary(e.to_string());
        let map = runtime
            .create_map(MapDef::new(MapType::Hash, 4, 8, shape.entries))
            .map_err(|e| apiary(&e))?;
        let handle = runtime
            .map(map)
            .ok_or_else(|| BenchError::Apiary("the map vanished".into()))?;
        for key in 0..shape.entries {
            handle
                .sys_update(&key_bytes(key), &initial_value(key).to_ne_bytes(), 0)
                .map_err(|e| apiary(&e))?;
        }
        let prog = runtime
            .load_program(op.name(), ProgType::XDP, &slots(op, shape), &[map])
            .map_err(|e| apiary(&e))?;
        Ok(ApiaryHash {
            runtime,
            map,
            prog,
            runner: Runner::new(),
            ctx: vec![0; XDP_CONTEXT],
        })
    }

    /// One run; its r0.
    pub fn run(&mut self) -> Result<u64, BenchError> {
        self.runtime
            .run(
                &mut self.runner,
                self.prog,
                &mut self.ctx,
                0,
                &TaskInfo::default(),
            )
            .map_err(|e| BenchError::Apiary(e.to_string()))
    }

    /// The value under `key`.
    pub fn value(&self, key: u32) -> Option<u64> {
        let map = self.runtime.map(self.map)?;
        let bytes = map.sys_lookup(&key_bytes(key), 0).ok()?;
        Some(u64::from_ne_bytes(bytes.try_into().ok()?))
    }
}

/// The program loaded in the kernel as XDP with its map filled.
pub struct KernelHash {
    map: MapFd,
    prog: ProgFd,
}

impl KernelHash {
    /// A kernel hash map of the same definition, filled, and `op`'s program.
    pub fn new(op: HashOp, shape: Shape) -> Result<KernelHash, BenchError> {
        let map = MapFd::create(&MapCreateAttrs {
            map_type: KernelMapType::HASH,
            key_size: 4,
            value_size: 8,
            max_entries: shape.entries,
            name: "bench_hash",
            ..MapCreateAttrs::default()
        })?;
        for key in 0..shape.entries {
            map.update(&key_bytes(key), &initial_value(key).to_ne_bytes(), 0)?;
        }
        let bytecode = slots_to_bytes(&slots(op, shape));
        let fds = [map.as_fd()];
        let prog = ProgFd::load(&ProgLoadAttrs {
            prog_type: ProgType::XDP,
            insns: &bytecode,
            license: "GPL",
            fd_array: &fds,
            ..ProgLoadAttrs::default()
        })?
        .prog;
        Ok(KernelHash { map, prog })
    }

    /// `repeat` runs in the kernel: the last run's r0 (low 32 bits) and
    /// the kernel's mean time per run in nanoseconds.
    pub fn run(&self, repeat: u32) -> Result<(u32, u32), BenchError> {
        let out = self.prog.test_run(&TestRunAttrs {
            data_in: &PACKET,
            repeat,
            ..TestRunAttrs::default()
        })?;
        Ok((out.retval, out.duration_ns))
    }

    /// The value under `key`.
    pub fn value(&self, key: u32) -> Option<u64> {
        let bytes = self.map.lookup(&key_bytes(key), 0).ok()??;
        Some(u64::from_ne_bytes(bytes.try_into().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_values(op: HashOp, shape: Shape, value: impl Fn(u32) -> Option<u64>, side: &str) {
        for key in 0..shape.entries {
            let expected = match op {
                HashOp::Lookup => initial_value(key),
                HashOp::Update => value_after_update(key, shape),
            };
            assert_eq!(value(key), Some(expected), "{side} {op:?}: key {key}");
        }
    }

    fn apiary_matches_the_model(shape: Shape) {
        for op in HashOp::ALL {
            let mut apiary = ApiaryHash::new(op, shape).expect("apiary loads");
            let r0 = apiary.run().expect("apiary runs");
            assert_eq!(r0 as u32, expected_r0(op, shape), "{op:?}");
            check_values(op, shape, |key| apiary.value(key), "apiary");
        }
    }

    fn kernel_matches_the_model(test: &str, shape: Shape) {
        if let Err(reason) = apiary_kernel::probe() {
            return apiary_testskip::missing(test, format!("bpf() is unavailable: {reason}"));
        }
        for op in HashOp::ALL {
            let kernel = KernelHash::new(op, shape).expect("the kernel loads the program");
            let (r0, _) = kernel.run(1).expect("the kernel runs it");
            assert_eq!(r0, expected_r0(op, shape), "{op:?}");
            check_values(op, shape, |key| kernel.value(key), "kernel");
        }
    }

    #[test]
    fn apiary_runs_match_the_model() {
        apiary_matches_the_model(BENCH);
    }

    #[test]
    fn kernel_runs_match_the_model() {
        kernel_matches_the_model("kernel_runs_match_the_model", BENCH);
    }

    /// More distinct values than apiary-vm's region table holds (4096).
    const MANY_VALUES: Shape = Shape {
        entries: 8192,
        ops: 8192,
    };

    #[test]
    fn the_kernel_looks_up_more_than_4096_distinct_values_in_one_run() {
        kernel_matches_the_model(
            "the_kernel_looks_up_more_than_4096_distinct_values_in_one_run",
            MANY_VALUES,
        );
    }

    /// Regression: apiary-vm once kept helper-registered regions in a
    /// 4096-entry list, so the 4097th distinct lookup failed (fixed in 6203456).
    #[test]
    fn apiary_looks_up_more_than_4096_distinct_values_in_one_run() {
        apiary_matches_the_model(MANY_VALUES);
    }

    #[test]
    fn the_update_model_keeps_the_last_value_stored() {
        // Key 0 is written at i = 0, 1024, 2048, 3072; key 1023 at 1023 .. 4095.
        assert_eq!(value_after_update(0, BENCH), 3072);
        assert_eq!(
            value_after_update(BENCH.entries - 1, BENCH),
            u64::from(BENCH.ops - 1)
        );
    }
}
