//! rbpf 0.4's JIT running an XDP program of a clang-built object.
//!
//! An XDP program reads `ctx->data` and `ctx->data_end` as 32-bit fields
//! (the kernel rewrites those loads into 64-bit pointer loads; rbpf
//! rewrites nothing). So the context and the packet are placed in one
//! mapping below 4 GiB (`MAP_32BIT`), where a 32-bit `xdp_md` field can
//! hold a real address, and rbpf's `EbpfVmRaw` gets the context's address
//! in `r1`. rbpf's JIT checks no memory access: callers run it only on
//! programs the kernel's verifier accepted ([`RbpfXdp::new`] says so).

use apiary_isa::RawInsn;
use apiary_isa::opcode::{BPF_CALL, BPF_DW, BPF_IMM, BPF_JMP, BPF_LD};
use thiserror::Error;

use crate::cpu_clock::cpu_ns_per_run;

/// Where the context sits in the mapping, and where the packet starts.
const CTX_OFFSET: usize = 0;
/// The kernel's `XDP_PACKET_HEADROOM`, kept so that the packet starts as far
/// into its buffer as in the kernel's test run.
const PACKET_OFFSET: usize = 256;
/// `sizeof(struct xdp_md)`.
const XDP_MD_LEN: usize = 24;
/// The loopback device's ifindex: the kernel's test run reports it as
/// `ingress_ifindex` when no context is given.
const LOOPBACK_IFINDEX: u32 = 1;

/// Why rbpf's JIT cannot run a program.
#[derive(Debug, Error)]
pub enum RbpfXdpError {
    /// The program calls helpers or other functions, which rbpf's JIT would
    /// need registered by number with the kernel's semantics.
    #[error("the program makes calls (helpers or bpf-to-bpf), which rbpf does not have")]
    Calls,
    /// The program refers to maps or global data through `ld_imm64`.
    #[error("the program uses maps or global data, which rbpf does not have")]
    Maps,
    /// rbpf's verifier or JIT refused the program.
    #[error("rbpf refused the program: {0}")]
    Refused(std::io::Error),
    /// No memory below 4 GiB could be mapped for the packet.
    #[error("cannot map the packet below 4 GiB: {0}")]
    Mmap(std::io::Error),
}

/// Whether rbpf can run these instructions: no calls of any kind and no
/// `ld_imm64` that names a map, a map value or a function.
pub fn check_runnable(insns: &[RawInsn]) -> Result<(), RbpfXdpError> {
    let mut slots = insns.iter();
    while let Some(insn) = slots.next() {
        if insn.code == BPF_JMP | BPF_CALL {
            return Err(RbpfXdpError::Calls);
        }
        if insn.code == LD_IMM64 {
            if insn.src != 0 {
                return Err(RbpfXdpError::Maps);
            }
            slots.next();
        }
    }
    Ok(())
}

/// `BPF_LD | BPF_IMM | BPF_DW`.
const LD_IMM64: u8 = BPF_LD | BPF_IMM | BPF_DW;

/// The context and packet, in one private anonymous mapping below 4 GiB.
struct LowMemory {
    base: *mut u8,
    len: usize,
    packet_len: usize,
}

impl LowMemory {
    fn new(packet: &[u8]) -> Result<LowMemory, RbpfXdpError> {
        let len = (PACKET_OFFSET + packet.len()).next_multiple_of(4096);
        // SAFETY: a fresh anonymous mapping; nothing else refers to it.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_32BIT,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(RbpfXdpError::Mmap(std::io::Error::last_os_error()));
        }
        let mut memory = LowMemory {
            base: base.cast(),
            len,
            packet_len: packet.len(),
        };
        memory.bytes()[PACKET_OFFSET..PACKET_OFFSET + packet.len()].copy_from_slice(packet);
        let data = memory.address(PACKET_OFFSET);
        let end = memory.address(PACKET_OFFSET + packet.len());
        let fields = [data, end, data, LOOPBACK_IFINDEX, 0, 0];
        let ctx = &mut memory.bytes()[CTX_OFFSET..CTX_OFFSET + XDP_MD_LEN];
        for (slot, value) in ctx.chunks_exact_mut(4).zip(fields) {
            slot.copy_from_slice(&value.to_ne_bytes());
        }
        Ok(memory)
    }

    /// The 32-bit address of byte `offset` (MAP_32BIT keeps it below 2 GiB).
    fn address(&self, offset: usize) -> u32 {
        u32::try_from(self.base as usize + offset).expect("MAP_32BIT maps below 4 GiB")
    }

    fn bytes(&mut self) -> &mut [u8] {
        // SAFETY: the mapping is `len` bytes, readable and writable, and
        // owned by `self` until drop.
        unsafe { std::slice::from_raw_parts_mut(self.base, self.len) }
    }

    fn packet(&mut self) -> Vec<u8> {
        let len = self.packet_len;
        self.bytes()[PACKET_OFFSET..PACKET_OFFSET + len].to_vec()
    }
}

impl Drop for LowMemory {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly what `new` mapped; no slice outlives `self`.
        unsafe {
            libc::munmap(self.base.cast(), self.len);
        }
    }
}

/// An XDP program compiled by rbpf's JIT, with its packet in place.
pub struct RbpfXdp<'a> {
    vm: rbpf::EbpfVmRaw<'a>,
    memory: LowMemory,
}

impl<'a> RbpfXdp<'a> {
    /// Compiles `bytecode` (the program's instructions, as `insns`) with
    /// rbpf's JIT and places `packet` below 4 GiB.
    ///
    /// # Safety
    /// rbpf's JIT code checks no access: the program must be one the
    /// kernel's verifier accepted as an XDP program, so that it touches only
    /// its context, its stack and the packet between `data` and `data_end`.
    pub unsafe fn new(
        insns: &[RawInsn],
        bytecode: &'a [u8],
        packet: &[u8],
    ) -> Result<Self, RbpfXdpError> {
        check_runnable(insns)?;
        let mut vm = rbpf::EbpfVmRaw::new(Some(bytecode)).map_err(RbpfXdpError::Refused)?;
        vm.jit_compile().map_err(RbpfXdpError::Refused)?;
        let memory = LowMemory::new(packet)?;
        Ok(RbpfXdp { vm, memory })
    }

    /// Runs once; `r0` truncated to 32 bits, as the kernel reports it.
    pub fn run(&mut self) -> Result<u32, std::io::Error> {
        // SAFETY: the context is the first XDP_MD_LEN bytes of the mapping,
        // which lives as long as `self`; the program was verified by the
        // kernel (the contract of `new`), so it stays inside the mapping
        // and its stack.
        let r0 = unsafe {
            let ctx = std::slice::from_raw_parts_mut(self.memory.base.add(CTX_OFFSET), XDP_MD_LEN);
            self.vm.execute_program_jit(ctx)?
        };
        Ok(r0 as u32)
    }

    /// The packet as the runs left it.
    pub fn packet(&mut self) -> Vec<u8> {
        self.memory.packet()
    }

    /// Runs `repeat` times; the mean nanoseconds per run, in this thread's CPU time.
    pub fn time(&mut self, repeat: u32) -> Result<f64, std::io::Error> {
        let (result, ns) = cpu_ns_per_run(repeat, || {
            (0..repeat).try_for_each(|_| self.run().map(drop))
        });
        result.map(|()| ns)
    }
}
