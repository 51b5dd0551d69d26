//! The benchmark programs both examples run: an `XDP_DROP` program and the
//! firewall example with one /24 blocked, in Apiary (JIT-compiled, so
//! that runners choose the tier) and in the kernel, and the frames: 64-byte
//! UDP frames whose sources cycle through blocked and open ones.

use std::sync::Arc;

use apiary_kernel::ProgFd;
use apiary_kernel::types::ProgType;
use apiary_net::traffic::udp_frame;
use apiary_runtime::{ProgId, Runtime};

/// The two programs, in Apiary and (when `kernel` is asked for) in the
/// kernel: the kernel's object must live as long as its programs.
pub struct Programs {
    pub runtime: Arc<Runtime>,
    pub drop: ProgId,
    pub firewall: ProgId,
    pub kernel: Option<KernelPrograms>,
}

/// The same two programs loaded into the running kernel.
pub struct KernelPrograms {
    pub drop: ProgFd,
    pub object: apiary_backend::KernelObject,
}

impl KernelPrograms {
    /// The kernel's firewall program.
    pub fn firewall(&self) -> &ProgFd {
        self.object.program("xdp_firewall").expect("kernel program")
    }
}

/// `192.0.2.0/24` in the firewall's LPM-trie key layout.
const BLOCKED: [u8; 8] = [24, 0, 0, 0, 192, 0, 2, 0];

/// Loads both programs on a runtime of `cpus` CPUs (and into the kernel
/// when `kernel`), compiling them with the JIT.
pub fn programs(cpus: u32, kernel: bool) -> Programs {
    let example = apiary_corpus::example("xdp_firewall").expect("the firewall example");
    let elf = example.read().expect("read");
    let object = apiary_loader::Object::parse(&elf, "xdp_firewall").expect("parse");
    let runtime = Runtime::new(cpus);
    let loaded = runtime.load_object(&object).expect("load");
    let firewall = loaded.program("xdp_firewall").expect("program");
    let blocklist = runtime
        .map(runtime.map_by_name("blocklist").expect("map"))
        .expect("map");
    blocklist
        .update(&BLOCKED, &1u32.to_ne_bytes(), 0, 0)
        .expect("rule");
    let code = apiary_isa::encode_program(&apiary_asm::assemble("r0 = 1\nexit").expect("asm"));
    let drop = runtime
        .load_program("drop", ProgType::XDP, &code, &[])
        .expect("drop");
    for prog in [drop, firewall] {
        apiary_jit::compile(&runtime.program(prog).expect("loaded")).expect("the JIT");
    }
    let kernel = kernel.then(|| {
        let raw: Vec<u8> = code.iter().flat_map(|i| i.to_le_bytes()).collect();
        let drop = ProgFd::load(&apiary_kernel::ProgLoadAttrs {
            prog_type: ProgType::XDP,
            insns: &raw,
            license: "GPL",
            name: "bench_drop",
            ..Default::default()
        })
        .expect("kernel drop program")
        .prog;
        let object = apiary_backend::load_object(
            &object,
            &apiary_backend::LoadOptions {
                elf: Some(&elf),
                log_level: 0,
                ..Default::default()
            },
        )
        .expect("firewall in the kernel");
        object
            .map("blocklist")
            .expect("kernel blocklist")
            .update(&BLOCKED, &1u32.to_ne_bytes(), 0)
            .expect("kernel rule");
        KernelPrograms { drop, object }
    });
    Programs {
        runtime,
        drop,
        firewall,
        kernel,
    }
}

/// The frames: sources cycling through blocked and open ones.
pub fn frames() -> Vec<Vec<u8>> {
    let sources = [
        [192, 0, 2, 7],
        [198, 51, 100, 5],
        [203, 0, 113, 9],
        [10, 0, 0, 1],
    ];
    (0..64)
        .map(|i| udp_frame(sources[i % 4], i as u32))
        .collect()
}
