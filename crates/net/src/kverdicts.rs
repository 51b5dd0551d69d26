//! Verdict counts of an XDP program running in the kernel, for `xdp run
//! --backend kernel`: the kernel counts a program's runs and time
//! (`bpf_stats`) but not what it returned. An fexit program attached to
//! the XDP program's function (as `xdpdump` watches one) reads each run's
//! return value and counts it in a per-CPU array of the five actions,
//! values outside them counted as `XDP_ABORTED` (the kernel drops those
//! frames after `bpf_warn_invalid_xdp_action`, Apiary's numbering).
//!
//! It needs the XDP program's BTF (clang's `-g`): the fexit program is
//! loaded for the BTF id of its function. Dropping the counter detaches it.

use std::os::fd::{AsFd, AsRawFd};

use apiary_btf::{Btf, BtfKind};
use apiary_kernel::types::{AttachType, MapType, ProgType};
use apiary_kernel::{BtfFd, LinkFd, MapCreateAttrs, MapFd, ProgFd, ProgLoadAttrs};

use crate::NetError;
use crate::xskprog::insn;

/// Counts the verdicts of one XDP program in the kernel while it lives.
#[derive(Debug)]
pub struct KernelVerdicts {
    // Drop order: detach, then the program, then its map.
    link: LinkFd,
    prog: ProgFd,
    counts: MapFd,
}

fn kernel(what: &str, error: apiary_kernel::Error) -> NetError {
    NetError::Config(format!("{what}: {error}"))
}

/// The BTF id of function `name` in the BTF the program `prog` was loaded with.
fn func_btf_id(prog: &ProgFd, name: &str) -> Result<u32, NetError> {
    let info = prog
        .info(false)
        .map_err(|e| kernel("reading the program's info", e))?;
    if info.btf_id == 0 {
        return Err(NetError::Config(format!(
            "program {name} was loaded without BTF (build it with clang -g), so its verdicts \
             cannot be watched"
        )));
    }
    let data = BtfFd::from_id(info.btf_id)
        .and_then(|btf| btf.data())
        .map_err(|e| kernel("reading the program's BTF", e))?;
    let btf = Btf::parse(&data)
        .map_err(|e| NetError::Config(format!("the program's BTF from the kernel: {e}")))?;
    btf.find_by_name_kind(name, BtfKind::Func)
        .map(|id| id.0)
        .ok_or_else(|| NetError::Config(format!("no function {name} in the program's BTF")))
}

impl KernelVerdicts {
    /// Starts counting the verdicts of `prog`, whose function is `name`.
    pub fn attach(prog: &ProgFd, name: &str) -> Result<KernelVerdicts, NetError> {
        let btf_id = func_btf_id(prog, name)?;
        let counts = MapFd::create(&MapCreateAttrs {
            map_type: MapType::PERCPU_ARRAY,
            key_size: 4,
            value_size: 8,
            max_entries: 5,
            name: "apiary_verdicts",
            ..MapCreateAttrs::default()
        })
        .map_err(|e| kernel("creating the verdict counters", e))?;
        let code: Vec<u8> = [
            // An XDP function has one argument: its return value is the
            // context's second u64.
            insn(0x79, 2, 1, 8, 0),   // r2 = *(u64 *)(r1 + 8)
            insn(0xbc, 2, 2, 0, 0),   // w2 = w2 (an int)
            insn(0xb5, 2, 0, 1, 4),   // if r2 <= XDP_REDIRECT goto +1
            insn(0xb7, 2, 0, 0, 0),   // r2 = XDP_ABORTED
            insn(0x63, 10, 2, -4, 0), // *(u32 *)(r10 - 4) = r2
            insn(0x18, 1, 1, 0, counts.as_fd().as_raw_fd()), // r1 = counts
            insn(0, 0, 0, 0, 0),
            insn(0xbf, 2, 10, 0, 0), // r2 = r10
            insn(0x07, 2, 0, 0, -4), // r2 += -4
            insn(0x85, 0, 0, 0, 1),  // call bpf_map_lookup_elem
            insn(0x15, 0, 0, 3, 0),  // if r0 == 0 goto +3
            insn(0x79, 1, 0, 0, 0),  // r1 = *(u64 *)(r0 + 0)
            insn(0x07, 1, 0, 0, 1),  // r1 += 1 (this CPU's slot: no atomics)
            insn(0x7b, 0, 1, 0, 0),  // *(u64 *)(r0 + 0) = r1
            insn(0xb7, 0, 0, 0, 0),  // r0 = 0
            insn(0x95, 0, 0, 0, 0),  // exit
        ]
        .concat();
        let watcher = ProgFd::load(&ProgLoadAttrs {
            prog_type: ProgType::TRACING,
            expected_attach_type: Some(AttachType::TRACE_FEXIT),
            insns: &code,
            license: "GPL",
            name: "apiary_verdicts",
            attach_btf_id: btf_id,
            attach_prog_fd: Some(prog.as_fd()),
            ..ProgLoadAttrs::default()
        })
        .map_err(|e| {
            let what = "loading the fexit program that counts verdicts";
            match e.errno() {
                // Root is refused an fexit program only by the host's policy.
                Some(errno) if errno.0 == libc::EPERM => NetError::Refused {
                    what: what.to_owned(),
                    answer: errno.to_string(),
                },
                _ => kernel(what, e),
            }
        })?
        .prog;
        let link = LinkFd::tracing(watcher.as_fd(), AttachType::TRACE_FEXIT)
            .map_err(|e| kernel("attaching the verdict counter", e))?;
        Ok(KernelVerdicts {
            link,
            prog: watcher,
            counts,
        })
    }

    /// Runs so far per action, in the kernel's numbering (`XDP_ABORTED`
    /// first), summed over the CPUs.
    pub fn counts(&self) -> Result<[u64; 5], NetError> {
        let mut counts = [0u64; 5];
        for (action, count) in counts.iter_mut().enumerate() {
            let per_cpu = self
                .counts
                .lookup(&(action as u32).to_ne_bytes(), 0)
                .map_err(|e| kernel("reading the verdict counters", e))?
                .unwrap_or_default();
            *count = per_cpu
                .chunks_exact(8)
                .map(|slot| u64::from_ne_bytes(slot.try_into().unwrap_or_default()))
                .sum();
        }
        Ok(counts)
    }

    /// The fexit program (to check it is attached).
    pub fn prog(&self) -> &ProgFd {
        &self.prog
    }

    /// The link holding the attachment.
    pub fn link(&self) -> &LinkFd {
        &self.link
    }
}
