//! The library example of the README, compiled so that it cannot rot:
//! `tests/readme.rs` checks that the README quotes the lines between the
//! markers exactly, and `crates/cli/tests/readme.rs` runs it in
//! `scratch/quickstart/`, where the quick start left `fw.o` (the compiled
//! examples/xdp_firewall) and the README makes `frame.bin`.

// README begin
use std::error::Error;
use std::process::ExitCode;

use apiary::{OpenObject, Xdp, XdpRun};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn Error>> {
    let frame = std::fs::read("frame.bin").map_err(|e| format!("frame.bin: {e}"))?;
    let mut open = OpenObject::open("fw.o")?;
    open.set_max_entries("blocklist", 4096)?; // configure before load
    let object = open.load()?;
    let firewall = object.program::<Xdp>("xdp_firewall")?;
    let result = firewall.test_run(&XdpRun::new(&frame))?;
    println!("verdict {}", result.retval); // 1 = XDP_DROP, 2 = XDP_PASS
    let hits: apiary::HashMap<u32, [u64; 2]> = object.map_view("rule_hits")?;
    for hit in hits.iter() {
        let (rule, [packets, bytes]) = hit?;
        println!("rule {rule}: {packets} packets, {bytes} bytes");
    }
    Ok(())
}
// README end
