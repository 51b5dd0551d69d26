//! The helper table and the context helpers run in.

use std::sync::Arc;

use thiserror::Error;

use crate::error::{Access, HelperError, RunError};
use crate::memory::{MAX_CALL_FRAMES, MAX_REGIONS, Region, copy_to_host, host_slice};
use crate::program::Program;
use crate::runner::{Pending, Runner};

/// A helper: receives the context and `r1..r5`, returns `r0`.
pub type HelperFn<E> = fn(&mut HelperContext<'_, E>, [u64; 5]) -> Result<u64, HelperError>;

/// Largest helper id a table accepts (the kernel's ids are below 300).
pub const MAX_HELPER_ID: u32 = 0xffff;

/// The kernel's `MAX_TAIL_CALL_CNT`: tail calls allowed in one run.
pub const MAX_TAIL_CALLS: u32 = 33;

/// A helper id above [`MAX_HELPER_ID`].
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("helper id {id} is above the limit {MAX_HELPER_ID}")]
pub struct HelperIdOutOfRange {
    /// The id refused.
    pub id: u32,
}

/// Why a tail call was refused; the helper should then fall through as the kernel does.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum TailCallError {
    /// The run already made [`MAX_TAIL_CALLS`] tail calls.
    #[error("tail call limit of {MAX_TAIL_CALLS} reached")]
    LimitReached,
    /// Tail calls are only possible from the main function, not from a
    /// bpf-to-bpf callee or a callback (as with the kernel's interpreter).
    #[error("tail call from a subprogram or callback is not supported")]
    NotInMainFrame,
    /// A tail call is already pending.
    #[error("a tail call is already pending")]
    AlreadyPending,
}

/// A helper that needs nothing but its arguments and cannot fail (e.g. a
/// hash or a clock): called directly, without a [`HelperContext`], which
/// makes the call several times cheaper.
pub type PureHelperFn = fn(u64, u64, u64, u64, u64) -> u64;

/// A registered helper's function.
pub enum HelperImpl<E> {
    /// Runs with a [`HelperContext`].
    Full(HelperFn<E>),
    /// Runs on its arguments alone.
    Pure(PureHelperFn),
}

impl<E> Clone for HelperImpl<E> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<E> Copy for HelperImpl<E> {}

struct Entry<E> {
    name: &'static str,
    func: HelperImpl<E>,
    keeps_input: bool,
}

/// Helper functions by the kernel's helper id, filled by the embedder.
pub struct Helpers<E> {
    table: Vec<Option<Entry<E>>>,
}

impl<E> Default for Helpers<E> {
    fn default() -> Self {
        Helpers { table: Vec::new() }
    }
}

impl<E> std::fmt::Debug for Helpers<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(
                self.table
                    .iter()
                    .enumerate()
                    .filter_map(|(id, e)| e.as_ref().map(|e| (id, e.name))),
            )
            .finish()
    }
}

impl<E> Helpers<E> {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers (or replaces) helper `id`.
    pub fn register(
        &mut self,
        id: u32,
        name: &'static str,
        func: HelperFn<E>,
    ) -> Result<&mut Self, HelperIdOutOfRange> {
        self.insert(id, name, HelperImpl::Full(func), false)
    }

    /// Registers (or replaces) helper `id` as one that keeps the run's
    /// input: it changes nothing the embedder derives the input of a run
    /// from (the packet and headers `LD_ABS` reads, the regions it gives),
    /// as the map helpers do. Repeated runs
    /// ([`crate::Runner::run_repeat`]) then go on after a run that called
    /// only such helpers without bringing the input up to date.
    pub fn register_keeping_input(
        &mut self,
        id: u32,
        name: &'static str,
        func: HelperFn<E>,
    ) -> Result<&mut Self, HelperIdOutOfRange> {
        self.insert(id, name, HelperImpl::Full(func), true)
    }

    /// Registers (or replaces) helper `id` as a [`PureHelperFn`].
    pub fn register_pure(
        &mut self,
        id: u32,
        name: &'static str,
        func: PureHelperFn,
    ) -> Result<&mut Self, HelperIdOutOfRange> {
        self.insert(id, name, HelperImpl::Pure(func), true)
    }

    fn insert(
        &mut self,
        id: u32,
        name: &'static str,
        func: HelperImpl<E>,
        keeps_input: bool,
    ) -> Result<&mut Self, HelperIdOutOfRange> {
        if id > MAX_HELPER_ID {
            return Err(HelperIdOutOfRange { id });
        }
        let index = id as usize;
        if self.table.len() <= index {
            self.table.resize_with(index + 1, || None);
        }
        if let Some(slot) = self.table.get_mut(index) {
            *slot = Some(Entry {
                name,
                func,
                keeps_input,
            });
        }
        Ok(self)
    }

    /// Name and function of helper `id`.
    pub fn get(&self, id: u32) -> Option<(&'static str, HelperImpl<E>)> {
        self.table
            .get(id as usize)?
            .as_ref()
            .map(|e| (e.name, e.func))
    }

    /// Whether helper `id` was registered as keeping the run's input
    /// ([`Helpers::register_keeping_input`]; pure helpers do too).
    pub fn keeps_input(&self, id: u32) -> bool {
        self.table
            .get(id as usize)
            .and_then(Option::as_ref)
            .is_some_and(|e| e.keeps_input)
    }
}

/// What a helper can reach while it runs.
pub struct HelperContext<'r, E> {
    pub(crate) env: &'r mut E,
    pub(crate) runner: &'r mut Runner<E>,
    pub(crate) program: &'r Program<E>,
    /// Frame of the function that called the helper.
    pub(crate) depth: usize,
    /// Op index of the call, for errors.
    pub(crate) pc: usize,
}

impl<E> HelperContext<'_, E> {
    /// The embedder's state.
    pub fn env(&mut self) -> &mut E {
        self.env
    }

    /// The running program.
    pub fn program(&self) -> &Program<E> {
        self.program
    }

    #[inline]
    fn check(&self, addr: u64, len: u64, access: Access) -> Result<usize, HelperError> {
        if len == 0 {
            return Ok(addr as usize);
        }
        match self.runner.memory.translate(addr, len, access, self.depth) {
            Some(host) => Ok(host),
            None => Err(self.memory_error(addr, len, access)),
        }
    }

    /// Out of line: helpers check memory on every call, and this is rare.
    #[cold]
    #[inline(never)]
    fn memory_error(&self, addr: u64, len: u64, access: Access) -> HelperError {
        let memory = &self.runner.memory;
        HelperError::Memory {
            addr,
            len,
            access,
            location: memory.locate(addr, None, self.depth),
            read_only: memory.read_only(addr, len, access),
        }
    }

    /// Reads `len` guest bytes at `addr`, which must lie in one accessible region.
    #[inline]
    pub fn read(&self, addr: u64, len: usize) -> Result<&[u8], HelperError> {
        if len == 0 {
            return Ok(&[]);
        }
        let host = self.check(addr, len as u64, Access::Load)?;
        // SAFETY: `translate` checked the whole range; no guest code runs while `self` is borrowed.
        Ok(unsafe { host_slice(host, len) })
    }

    /// Writes `bytes` to guest memory at `addr`, which must lie in one writable region.
    pub fn write(&mut self, addr: u64, bytes: &[u8]) -> Result<(), HelperError> {
        if bytes.is_empty() {
            return Ok(());
        }
        let host = self.check(addr, bytes.len() as u64, Access::Store)?;
        // SAFETY: `translate` checked the whole range for writing.
        unsafe { copy_to_host(host, bytes) };
        Ok(())
    }

    /// Reads a NUL-terminated string at `addr` of at most `max` bytes
    /// (terminator included); returns it without the terminator.
    pub fn read_cstr(&self, addr: u64, max: usize) -> Result<&[u8], HelperError> {
        let mut len = 0usize;
        loop {
            if len >= max {
                return Err(HelperError::UnterminatedString {
                    addr,
                    max: max as u64,
                });
            }
            let byte_addr = addr.wrapping_add(len as u64);
            let byte = self.read(byte_addr, 1)?;
            if byte.first() == Some(&0) {
                return self.read(addr, len);
            }
            len += 1;
        }
    }

    /// Makes `region` accessible for the rest of the run (e.g. a map value a
    /// lookup returns). Exact duplicates are ignored.
    #[inline]
    pub fn add_region(&mut self, region: Region<'static>) -> Result<(), HelperError> {
        if self.runner.memory.add(region.span(), region.kind()) {
            Ok(())
        } else {
            Err(HelperError::TooManyRegions(MAX_REGIONS))
        }
    }

    /// Moves the packet `LD_ABS`/`LD_IND` read to `packet` (`None`: no
    /// packet), for helpers that change the packet's start or length
    /// (`bpf_skb_pull_data`, `bpf_skb_adjust_room`, ...). The span must lie
    /// in memory the run can already read, so that moving it never grants
    /// access to anything new.
    pub fn set_packet(&mut self, packet: Option<Region<'static>>) -> Result<(), HelperError> {
        let span = packet.map(|p| p.span());
        if let Some(span) = span
            && span.len != 0
        {
            self.check(span.start, span.len, Access::Load)?;
        }
        self.runner.memory.packet = span;
        Ok(())
    }

    /// Moves the headers negative `LD_ABS`/`LD_IND` offsets read (see
    /// [`crate::PacketHeaders`]); their bounds must lie in memory the run
    /// can already read.
    pub fn set_packet_headers(
        &mut self,
        headers: Option<crate::PacketHeaders<'static>>,
    ) -> Result<(), HelperError> {
        let spans = headers.map(|h| h.spans());
        if let Some(spans) = spans
            && spans.bounds.len != 0
        {
            self.check(spans.bounds.start, spans.bounds.len, Access::Load)?;
        }
        self.runner.memory.headers = spans;
        Ok(())
    }

    /// Stops the whole program after this helper returns, with `r0 = value`.
    pub fn stop(&mut self, value: u64) {
        self.runner.pending = Some(Pending::Stop(value));
    }

    /// Requests a tail call: after this helper returns, `program` replaces
    /// the running one, starting at its first instruction with the same
    /// stack and `r1` = this helper's first argument; it never returns here.
    pub fn tail_call(&mut self, program: Arc<Program<E>>) -> Result<(), TailCallError> {
        if self.depth != 0 {
            return Err(TailCallError::NotInMainFrame);
        }
        if self.runner.pending.is_some() {
            return Err(TailCallError::AlreadyPending);
        }
        if self.runner.tail_calls >= MAX_TAIL_CALLS {
            return Err(TailCallError::LimitReached);
        }
        self.runner.tail_calls += 1;
        self.runner.pending = Some(Pending::TailCall(program));
        Ok(())
    }

    /// Runs the program's function at `addr` (a value loaded by a `Func`
    /// `lddw`) in a new frame with `r1..r5 = args`; returns its `r0`.
    /// If the program was stopped (see [`HelperContext::stop`]), returns the
    /// stop value without running anything.
    pub fn call_function(&mut self, addr: u64, args: [u64; 5]) -> Result<u64, RunError> {
        if let Some(Pending::Stop(value)) = self.runner.pending {
            return Ok(value);
        }
        let start = self
            .program
            .op_of_address(addr)
            .ok_or(RunError::BadCallback { addr })?;
        let depth = self.depth + 1;
        if depth >= MAX_CALL_FRAMES {
            return Err(RunError::CallDepthExceeded {
                pc: self.program.slot_of(self.pc),
                max: MAX_CALL_FRAMES,
            });
        }
        self.runner.exec(self.program, self.env, start, args, depth)
    }
}
