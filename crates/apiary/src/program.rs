//! Programs typed by their kind, and the test-run options each kind takes.
//!
//! A kind ([`Xdp`], [`Tc`], [`Syscall`], ...) fixes the options a test-run
//! accepts, so that giving a packet to a syscall program or a context to a
//! raw tracepoint in the wrong shape does not compile.

use std::marker::PhantomData;

use apiary_kernel::types::ProgType;
use apiary_loader::ProgramSpec;
use apiary_runtime::{ProgId, TestRunOutput};

use crate::error::{Result, SourceLine};
use crate::object::Object;

/// One kind of program: which `SEC()` types it covers and what a test-run
/// of it takes. Implemented by the marker types of this module only.
pub trait ProgramKind: sealed::Sealed {
    /// Name used in messages (`xdp`, `tc`, ...).
    const NAME: &'static str;
    /// The test-run options of this kind.
    type Options<'a>;
    /// Whether a program of `prog_type` is of this kind.
    fn accepts(prog_type: ProgType) -> bool;
    /// The options as the runtime's test-run input parts.
    #[doc(hidden)]
    fn parts<'a, 'b: 'a>(options: &'a Self::Options<'b>) -> RunParts<'a>;
}

mod sealed {
    pub trait Sealed {}
}

/// What every kind's options boil down to: `BPF_PROG_TEST_RUN`'s fields.
#[doc(hidden)]
#[derive(Debug, Default)]
pub struct RunParts<'a> {
    pub data_in: Option<&'a [u8]>,
    pub ctx_in: Option<Vec<u8>>,
    pub data_size_out: Option<u32>,
    pub repeat: u32,
}

macro_rules! kind {
    ($(#[$doc:meta])* $name:ident, $text:literal, $options:ident, [$($ty:ident),+]) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub struct $name;
        impl sealed::Sealed for $name {}
        impl ProgramKind for $name {
            const NAME: &'static str = $text;
            type Options<'a> = $options<'a>;
            fn accepts(prog_type: ProgType) -> bool {
                [$(ProgType::$ty),+].contains(&prog_type)
            }
            fn parts<'a, 'b: 'a>(options: &'a $options<'b>) -> RunParts<'a> {
                options.parts()
            }
        }
    };
}

kind!(
    /// XDP programs (`SEC("xdp")`): a packet and an optional `struct xdp_md`.
    Xdp, "xdp", XdpRun, [XDP]
);
kind!(
    /// Socket filters (`SEC("socket")`): a packet seen from its network
    /// header, and an optional `struct __sk_buff`.
    SocketFilter, "socket_filter", SkbRun, [SOCKET_FILTER]
);
kind!(
    /// Traffic-control classifiers and actions (`SEC("tc")`,
    /// `SEC("classifier")`, `SEC("action")`).
    Tc, "tc", SkbRun, [SCHED_CLS, SCHED_ACT]
);
kind!(
    /// Raw tracepoints (`SEC("raw_tp/...")`): the tracepoint's arguments.
    RawTracepoint, "raw_tracepoint", RawTracepointRun, [RAW_TRACEPOINT, RAW_TRACEPOINT_WRITABLE]
);
kind!(
    /// Kprobes and uprobes (`SEC("kprobe/...")`, `SEC("uprobe/...")`): the
    /// `struct pt_regs` bytes. The kernel cannot test-run these; Apiary can.
    Kprobe, "kprobe", ContextRun, [KPROBE]
);
kind!(
    /// Tracepoints (`SEC("tp/...")`): the tracepoint record's bytes.
    Tracepoint, "tracepoint", ContextRun, [TRACEPOINT]
);
kind!(
    /// Perf-event programs: `struct bpf_perf_event_data` bytes.
    PerfEvent, "perf_event", ContextRun, [PERF_EVENT]
);
kind!(
    /// Syscall programs (`SEC("syscall")`): caller memory as the context,
    /// written back as `ctx_out`.
    Syscall, "syscall", ContextRun, [SYSCALL]
);
kind!(
    /// Programs of no kernel type, embedded in an application: `r1` points
    /// to the caller's memory, every in-bounds access allowed.
    Embedder, "embedder", ContextRun, [UNSPEC]
);

/// `struct xdp_md` as `ctx_in`: offsets into the test packet, not pointers.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct XdpMd {
    /// Start of the packet data: the metadata length before it.
    pub data: u32,
    /// End of the packet data (the packet's length plus `data`).
    pub data_end: u32,
    /// Start of the metadata (must be 0).
    pub data_meta: u32,
    /// Receiving interface.
    pub ingress_ifindex: u32,
    /// Receive queue.
    pub rx_queue_index: u32,
    /// Must be 0 on input.
    pub egress_ifindex: u32,
}

/// `struct __sk_buff` as the kernel's UAPI lays it out (192 bytes): the
/// `ctx_in`/`ctx_out` of skb programs. Only some fields may be non-zero on
/// input, as in the kernel (mark, priority, ifindex, cb, tstamp, ...).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct SkBuff {
    pub len: u32,
    pub pkt_type: u32,
    pub mark: u32,
    pub queue_mapping: u32,
    pub protocol: u32,
    pub vlan_present: u32,
    pub vlan_tci: u32,
    pub vlan_proto: u32,
    pub priority: u32,
    pub ingress_ifindex: u32,
    pub ifindex: u32,
    pub tc_index: u32,
    pub cb: [u32; 5],
    pub hash: u32,
    pub tc_classid: u32,
    pub data: u32,
    pub data_end: u32,
    pub napi_id: u32,
    pub family: u32,
    pub remote_ip4: u32,
    pub local_ip4: u32,
    pub remote_ip6: [u32; 4],
    pub local_ip6: [u32; 4],
    pub remote_port: u32,
    pub local_port: u32,
    pub data_meta: u32,
    pub flow_keys: u64,
    pub tstamp: u64,
    pub wire_len: u32,
    pub gso_segs: u32,
    pub sk: u64,
    pub gso_size: u32,
    pub tstamp_type: u8,
    /// The kernel's 24 padding bits after `tstamp_type`.
    pub tstamp_type_padding: [u8; 3],
    pub hwtstamp: u64,
}

const _: () = assert!(size_of::<SkBuff>() == 192 && size_of::<XdpMd>() == 24);

// SAFETY: both are repr(C) structs of integers without implicit padding
// (the sizes are asserted above), so every byte pattern is a valid value.
unsafe impl apiary_maps::typed::Pod for SkBuff {}
// SAFETY: as above.
unsafe impl apiary_maps::typed::Pod for XdpMd {}

fn bytes_of<T: apiary_maps::typed::Pod>(value: &T) -> Vec<u8> {
    // SAFETY: T is Pod: its bytes may be read.
    unsafe { std::slice::from_raw_parts(std::ptr::from_ref(value).cast::<u8>(), size_of::<T>()) }
        .to_vec()
}

impl SkBuff {
    /// Reads the struct from `ctx_out` bytes (shorter input is zero-padded).
    pub fn from_bytes(bytes: &[u8]) -> SkBuff {
        from_prefix(bytes)
    }
}

impl XdpMd {
    /// Reads the struct from `ctx_out` bytes (shorter input is zero-padded).
    pub fn from_bytes(bytes: &[u8]) -> XdpMd {
        from_prefix(bytes)
    }
}

fn from_prefix<T: apiary_maps::typed::Pod + Default>(bytes: &[u8]) -> T {
    let mut value = T::default();
    let len = bytes.len().min(size_of::<T>());
    // SAFETY: T is Pod, `len` fits both buffers, and they do not overlap.
    unsafe {
        std::ptr::copy_nonoverlapping(
            bytes.as_ptr(),
            std::ptr::from_mut(&mut value).cast::<u8>(),
            len,
        );
    }
    value
}

/// Test-run options of packet programs: the packet and an optional
/// context of type `C` ([`XdpMd`] or [`SkBuff`]).
///
/// ```
/// let packet = [0u8; 60];
/// let run = apiary::XdpRun::new(&packet).repeat(1000);
/// assert_eq!(run.repeat, 1000);
/// let run = apiary::SkbRun::new(&packet).ctx(apiary::SkBuff { mark: 7, ..Default::default() });
/// assert_eq!(run.ctx.unwrap().mark, 7);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct PacketRun<'a, C> {
    /// The packet (`data_in`), starting with its Ethernet header.
    pub data: &'a [u8],
    /// `ctx_in`.
    pub ctx: Option<C>,
    /// Runs (0 or 1 run once); the duration is their average.
    pub repeat: u32,
    /// Largest `data_out` wanted (`None`: all of it).
    pub data_size_out: Option<u32>,
}

/// Test-run options of [`Xdp`] programs.
pub type XdpRun<'a> = PacketRun<'a, XdpMd>;

/// Test-run options of skb programs ([`SocketFilter`], [`Tc`]).
pub type SkbRun<'a> = PacketRun<'a, SkBuff>;

impl<'a, C: apiary_maps::typed::Pod> PacketRun<'a, C> {
    /// One run on `data`.
    pub fn new(data: &'a [u8]) -> Self {
        PacketRun {
            data,
            ctx: None,
            repeat: 1,
            data_size_out: None,
        }
    }

    /// Sets `ctx_in`.
    pub fn ctx(mut self, ctx: C) -> Self {
        self.ctx = Some(ctx);
        self
    }

    /// Sets the number of runs.
    pub fn repeat(mut self, repeat: u32) -> Self {
        self.repeat = repeat;
        self
    }

    fn parts(&self) -> RunParts<'a> {
        RunParts {
            data_in: Some(self.data),
            ctx_in: self.ctx.as_ref().map(bytes_of),
            data_size_out: self.data_size_out,
            repeat: self.repeat,
        }
    }
}

/// Test-run options of [`RawTracepoint`] programs: the arguments.
///
/// ```
/// let run = apiary::RawTracepointRun { args: &[1, 2, 3] };
/// assert_eq!(run.args.len(), 3);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct RawTracepointRun<'a> {
    /// `ctx->args[]`.
    pub args: &'a [u64],
}

impl<'a> RawTracepointRun<'a> {
    fn parts(&self) -> RunParts<'a> {
        RunParts {
            ctx_in: Some(self.args.iter().flat_map(|a| a.to_ne_bytes()).collect()),
            ..RunParts::default()
        }
    }
}

/// Test-run options of programs whose context is plain bytes
/// ([`Syscall`], [`Kprobe`], [`Tracepoint`], [`PerfEvent`], [`Embedder`]).
///
/// ```
/// let args = 42u64.to_ne_bytes();
/// let run = apiary::ContextRun { ctx: &args };
/// assert_eq!(run.ctx.len(), 8);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct ContextRun<'a> {
    /// The context bytes (`ctx_in`); the result's `ctx_out` holds them
    /// after the run.
    pub ctx: &'a [u8],
}

impl<'a> ContextRun<'a> {
    fn parts(&self) -> RunParts<'a> {
        RunParts {
            ctx_in: Some(self.ctx.to_vec()),
            ..RunParts::default()
        }
    }
}

/// A loaded program of kind `K`, borrowed from its [`Object`].
pub struct Program<'o, K> {
    object: &'o Object,
    spec: &'o ProgramSpec,
    id: ProgId,
    kind: PhantomData<K>,
}

impl<K> std::fmt::Debug for Program<'_, K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Program")
            .field("name", &self.spec.name)
            .field("section", &self.spec.section)
            .finish_non_exhaustive()
    }
}

impl<'o, K: ProgramKind> Program<'o, K> {
    pub(crate) fn new(object: &'o Object, spec: &'o ProgramSpec, id: ProgId) -> Self {
        Program {
            object,
            spec,
            id,
            kind: PhantomData,
        }
    }

    /// The program's name.
    pub fn name(&self) -> &'o str {
        &self.spec.name
    }

    /// Its `SEC()` name.
    pub fn section(&self) -> &'o str {
        &self.spec.section
    }

    /// Its kernel program type.
    pub fn prog_type(&self) -> ProgType {
        self.spec.prog_type
    }

    /// The loader's spec: relocated instructions, func and line info.
    pub fn spec(&self) -> &'o ProgramSpec {
        self.spec
    }

    pub(crate) fn id(&self) -> ProgId {
        self.id
    }

    pub(crate) fn object(&self) -> &'o Object {
        self.object
    }

    /// The source line of instruction `insn`: the last line-info record at
    /// or before it, as bpftool's `linum` listing attributes lines.
    pub fn source_line(&self, insn: usize) -> Option<SourceLine> {
        source_line(self.spec, insn)
    }

    /// Runs the program once per `options.repeat` on CPU 0, as
    /// `BPF_PROG_TEST_RUN` does; use [`Object::runner`] to run from several
    /// threads.
    ///
    /// ```no_run
    /// # let object = apiary::OpenObject::open("prog.o")?.load()?;
    /// let program = object.program::<apiary::Syscall>("handler")?;
    /// let mut args = [0u8; 16];
    /// let out = program.test_run(&apiary::ContextRun { ctx: &args })?;
    /// println!("returned {}, context now {:?}", out.retval, out.ctx_out);
    /// # Ok::<(), apiary::Error>(())
    /// ```
    pub fn test_run(&self, options: &K::Options<'_>) -> Result<TestRunOutput> {
        self.object.runner(0).test_run(self, options)
    }
}

/// The source line of instruction `insn` of `spec`: the last line-info
/// record at or before it, as bpftool's `linum` listing attributes lines.
pub(crate) fn source_line(spec: &ProgramSpec, insn: usize) -> Option<SourceLine> {
    spec.line_info
        .iter()
        .filter(|l| l.insn_index <= insn)
        .max_by_key(|l| l.insn_index)
        .map(|l| SourceLine {
            file: l.file.clone(),
            line: l.line,
            column: l.column,
            text: l.line_text.clone(),
        })
}
