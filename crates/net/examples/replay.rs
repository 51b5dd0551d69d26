//! Replay: 64-byte frames held in memory through an `XDP_DROP` program and
//! the firewall example, on the JIT and the interpreter, on one core and
//! on two (one pinned worker per core, each its CPU for per-CPU maps),
//! without I/O: the data plane's ceiling. Needs no privileges.
//!
//! ```sh
//! cargo run --release -p apiary-net --example replay -- 5000000 [drop|firewall] [jit|interp]
//! ```
//!
//! `Mf/s wall` is frames over the slowest worker's wall time; `Mf/s/core
//! CPU` is frames per second of CPU time per worker (what a core does when
//! nothing else runs on it: this machine is shared).

// The kernel's copies of the programs are the veth example's only.
#[allow(dead_code)]
mod common;

use apiary_net::{RuntimeProgram, replay, usable_cpus};
use apiary_vm::{Engine, Runner};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let per_worker: u64 = args
        .first()
        .and_then(|a| a.parse().ok())
        .unwrap_or(2_000_000);
    // Further arguments pick programs and tiers (all by default).
    let picked = |name: &str| args.len() < 2 || args[1..].iter().any(|a| a == name);
    let cpus = usable_cpus().expect("affinity");
    let programs = common::programs(cpus.len().max(1) as u32, false);
    let frames = common::frames();
    println!("{per_worker} frames of 64 bytes per worker, in memory");
    let progs = [("drop", programs.drop), ("firewall", programs.firewall)];
    let tiers = [("jit", Engine::Compiled), ("interp", Engine::Interpreter)];
    let any_prog = progs.iter().any(|(name, _)| picked(name));
    let any_tier = tiers.iter().any(|(name, _)| picked(name));
    for (name, prog) in progs.into_iter().filter(|(n, _)| !any_prog || picked(n)) {
        for (tier, engine) in tiers.into_iter().filter(|(n, _)| !any_tier || picked(n)) {
            for cores in [1, 2].into_iter().filter(|&n| n <= cpus.len()) {
                let replayed = replay(&frames, per_worker, &cpus[..cores], 2, |cpu| {
                    let mut runner = Runner::new();
                    runner.set_engine(engine);
                    RuntimeProgram::new(&programs.runtime, prog, runner, cpu)
                })
                .expect("replay");
                let per_core: Vec<String> = replayed
                    .workers
                    .iter()
                    .map(|w| format!("{:.2}", w.frames_per_cpu_second() / 1e6))
                    .collect();
                println!(
                    "{name:<9} {tier:<7} {cores} core(s): {:>6.2} Mf/s wall  {:>6.1} ns/frame CPU  \
                     Mf/s/core CPU [{}]  drop {} pass {} abort {}",
                    replayed.frames_per_second() / 1e6,
                    replayed.cpu_ns_per_frame(),
                    per_core.join(", "),
                    replayed.actions[1],
                    replayed.actions[2],
                    replayed.actions[0],
                );
            }
        }
    }
}
