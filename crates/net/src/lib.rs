//! `apiary-net`: XDP programs on live interfaces from user space.
//!
//! It owns the packet I/O of Apiary's data plane: receiving the frames of
//! an interface's queues, handing each to a program runner, carrying out
//! the verdict as the kernel's XDP would ([`verdict`]: drop frees, `XDP_TX`
//! sends back out of the interface, redirects through `bpf_redirect` or a
//! devmap send out of the target interface, aborted is counted), and
//! counting per queue ([`stats`]). Workers ([`worker`]) run one per queue.
//!
//! Modes:
//! - `packet` ([`afpacket`]): an `AF_PACKET` socket per queue with a
//!   TPACKET_V3 memory-mapped receive ring ([`ring`]), joined in a
//!   `PACKET_FANOUT_QM` group, sending through a packet socket. **A packet
//!   socket observes a copy**: the kernel's stack gets every frame
//!   whatever the program says, so `XDP_PASS` needs no action and
//!   **`XDP_DROP` cannot drop the kernel's copy** (it is counted, the frame
//!   still reaches the host). Use it to observe, count, answer (`XDP_TX`)
//!   or forward (redirect); enforcing a drop needs AF_XDP, where the
//!   kernel's copy is redirected away before the stack sees it.
//! - `afxdp` ([`xsk`]): an AF_XDP socket per queue with its UMEM
//!   ([`umem`]) and fill/completion/RX/TX rings, fed by a five-instruction
//!   XDP program attached through a BPF link ([`xskprog`]) that redirects
//!   each queue into its socket: the frames leave the stack, so verdicts
//!   are enforced. `XDP_PASS` hands the frame back to the host through a
//!   TAP device with the interface's address ([`tap`]).
//!
//! The system interface is `libc` directly: the socket options and the
//! kernel's ring layouts (`tpacket_req3`, `tpacket3_hdr`, block
//! descriptors, `sockaddr_ll`; `xdp_umem_reg`, `xdp_mmap_offsets`,
//! `xdp_desc`, `sockaddr_xdp`, `xdp_statistics`) are all in it, the unsafe
//! code is a handful of syscalls and reads and writes of the shared rings
//! behind their status words and indexes, and no maintained crate covers
//! TPACKET_V3 and AF_XDP without pulling in a C library (libxdp/libbpf)
//! that Apiary replaces; `nix` wraps neither ring ABI.
//!
//! The program is run through [`FrameProgram`]; [`RuntimeProgram`] runs
//! it with `apiary-runtime` on the runner it is given, whose engine is the
//! execution tier, so a compiled tier plugs in without changing this crate.
//! [`mod@replay`] runs frames held in memory through the program on one
//! worker per CPU, without I/O: the data plane's ceiling. [`netns`]
//! creates namespaces and veth pairs for tests, [`traffic`] sends frames
//! over them.
//!
//! [`kverdicts`] counts the verdicts of an XDP program running in the
//! kernel (an fexit program on it), so that both backends of `xdp run`
//! report the same counters.
//!
//! It must not load objects or create the program's maps, parse arguments
//! or print: that is the embedder's (the CLI's `xdp run`). The only kernel
//! objects it makes are afxdp mode's own redirect program and XSKMAP, and
//! the verdict counter's fexit program and per-CPU array.

#![warn(missing_docs)]

pub mod afpacket;
mod error;
pub mod ethtool;
pub mod iface;
pub mod kverdicts;
pub mod netns;
pub mod port;
pub mod program;
pub mod replay;
pub mod ring;
pub mod socket;
pub mod stats;
pub mod tap;
pub mod traffic;
pub mod umem;
pub mod verdict;
pub mod worker;
pub mod xsk;
pub mod xskprog;
mod xskring;

pub use afpacket::PacketPort;
pub use error::NetError;
pub use ethtool::{DriverXdpCounts, driver_xdp_counts};
pub use iface::Interface;
pub use kverdicts::KernelVerdicts;
pub use port::Port;
pub use program::{FrameProgram, RuntimeProgram};
pub use replay::{Replayed, WorkerReplay, replay};
pub use ring::RingGeometry;
pub use socket::{PacketReceiver, PacketSender, SendFailure};
pub use stats::{QueueStats, Snapshot, Tally};
pub use tap::Tap;
pub use verdict::{Action, Fate};
pub use worker::{Control, pin_to_cpu, run_queue, usable_cpus};
pub use xsk::{XskOptions, XskPort};
pub use xskprog::XskRedirect;
