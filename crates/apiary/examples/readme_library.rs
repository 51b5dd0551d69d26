//! The library example of the README, compiled so that it cannot rot:
//! `tests/readme.rs` checks that the README quotes the lines between the
//! markers exactly. Run it in a directory holding `fw.o` (the compiled
//! examples/xdp_firewall) and a frame in `frame.bin`.

fn main() -> Result<(), apiary::Error> {
    let frame = std::fs::read("frame.bin").unwrap_or_else(|_| vec![0; 64]);
    // README begin
    use apiary::{OpenObject, Xdp, XdpRun};

    let mut open = OpenObject::open("fw.o")?;
    open.set_max_entries("blocklist", 4096)?; // configure before load
    let object = open.load()?;
    let firewall = object.program::<Xdp>("xdp_firewall")?;
    let result = firewall.test_run(&XdpRun::new(&frame))?;
    println!("verdict {}", result.retval); // 1 = XDP_DROP, 2 = XDP_PASS
    let hits: apiary::HashMap<u32, [u64; 2]> = object.map_view("rule_hits")?; // packets, bytes per rule
    // README end
    for entry in hits.iter().flatten() {
        println!(
            "rule {}: {} packets, {} bytes",
            entry.0, entry.1[0], entry.1[1]
        );
    }
    Ok(())
}
