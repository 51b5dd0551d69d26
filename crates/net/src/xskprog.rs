//! The in-kernel half of `afxdp` mode: an XSKMAP holding one AF_XDP
//! socket per queue, and a five-instruction XDP program, attached to the
//! interface through a BPF link, as a frags program (so that multi-buffer
//! frames reach the sockets too), that redirects each frame to the socket
//! of the queue it arrived on (`bpf_redirect_map(&xsks, rx_queue_index,
//! XDP_PASS)`: a queue without a socket keeps going to the stack). Dropping
//! it detaches the program.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use apiary_kernel::types::{MapType, ProgType};
use apiary_kernel::{LinkFd, MapCreateAttrs, MapFd, ProgFd, ProgLoadAttrs};

use crate::NetError;

/// The redirect program attached to an interface, with its socket map.
#[derive(Debug)]
pub struct XskRedirect {
    // Field order is drop order: the attachment goes first, then the
    // program, then the map it redirects into.
    link: LinkFd,
    prog: ProgFd,
    map: MapFd,
}

/// One `struct bpf_insn`: opcode, registers, offset, immediate.
pub(crate) fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> [u8; 8] {
    let mut slot = [0u8; 8];
    slot[0] = code;
    slot[1] = (src << 4) | (dst & 0x0f);
    slot[2..4].copy_from_slice(&off.to_ne_bytes());
    slot[4..8].copy_from_slice(&imm.to_ne_bytes());
    slot
}

/// `xdp_md.rx_queue_index`.
const RX_QUEUE_INDEX: i16 = 16;
/// `BPF_FUNC_redirect_map`.
const REDIRECT_MAP: i32 = 51;
/// `BPF_PSEUDO_MAP_FD`.
const PSEUDO_MAP_FD: u8 = 1;
/// `XDP_PASS`, the action when the queue has no socket.
const XDP_PASS: i32 = 2;

fn kernel(what: &str, error: apiary_kernel::Error) -> NetError {
    NetError::Config(format!("{what}: {error}"))
}

impl XskRedirect {
    /// Creates the map for `queues` queues, loads the program and attaches
    /// it to `ifindex` with `XDP_FLAGS_*` `flags` (0: native when the
    /// driver has it).
    pub fn attach(ifindex: u32, queues: u32, flags: u32) -> Result<XskRedirect, NetError> {
        let map = MapFd::create(&MapCreateAttrs {
            map_type: MapType::XSKMAP,
            key_size: 4,
            value_size: 4,
            max_entries: queues,
            name: "apiary_xsks",
            ..MapCreateAttrs::default()
        })
        .map_err(|e| kernel("creating the XSKMAP", e))?;
        let code: Vec<u8> = [
            insn(0x61, 2, 1, RX_QUEUE_INDEX, 0), // r2 = *(u32 *)(r1 + 16)
            insn(0x18, 1, PSEUDO_MAP_FD, 0, map.as_fd().as_raw_fd()), // r1 = xsks
            insn(0, 0, 0, 0, 0),
            insn(0xb7, 3, 0, 0, XDP_PASS),     // r3 = XDP_PASS
            insn(0x85, 0, 0, 0, REDIRECT_MAP), // call bpf_redirect_map
            insn(0x95, 0, 0, 0, 0),            // exit
        ]
        .concat();
        let load = |prog_flags| {
            ProgFd::load(&ProgLoadAttrs {
                prog_type: ProgType::XDP,
                insns: &code,
                license: "GPL",
                name: "apiary_xsk",
                prog_flags,
                ..ProgLoadAttrs::default()
            })
        };
        // Multi-buffer frames (jumbo) reach the socket, in pieces; kernels
        // before 5.18 know no frags programs and get the frames that fit.
        let prog = load(apiary_kernel::types::prog_flags::XDP_HAS_FRAGS)
            .or_else(|_| load(0))
            .map_err(|e| kernel("loading the AF_XDP redirect program", e))?
            .prog;
        let link = LinkFd::xdp(prog.as_fd(), ifindex, flags)
            .map_err(|e| kernel(&format!("attaching XDP to interface {ifindex}"), e))?;
        Ok(XskRedirect { link, prog, map })
    }

    /// Sends the frames of queue `queue` to the AF_XDP socket `socket`.
    pub(crate) fn insert(&self, queue: u32, socket: BorrowedFd<'_>) -> Result<(), NetError> {
        let fd = socket.as_raw_fd() as u32;
        self.map
            .update(&queue.to_ne_bytes(), &fd.to_ne_bytes(), 0)
            .map_err(|e| kernel(&format!("adding the socket of queue {queue}"), e))
    }

    /// The program (to check it is attached).
    pub fn prog(&self) -> &ProgFd {
        &self.prog
    }

    /// The link holding the attachment.
    pub fn link(&self) -> &LinkFd {
        &self.link
    }
}
