//! `BPF_PROG_TEST_RUN` for Apiary programs, following the kernel's
//! `net/bpf/test_run.c` as measured on Linux 6.18: the packet and context
//! a program type gets, which inputs are refused (the kernel's `EINVAL`
//! cases, reported as [`TestRunError::Invalid`] with the rule broken),
//! repeated runs on the same packet, and what is copied back out.

use std::sync::Arc;

use apiary_kernel::types::ProgType;
use apiary_vm::{Region, RegionKind, RunError, RunInput, Runner};
use thiserror::Error;

use crate::packet::{
    ETH_HLEN, ETH_P_IP, ETH_P_IPV6, MAX_SKB_FRAGS, Packet, SHARED_INFO_SIZE, SkbSetup,
    XDP_FRAG_SIZE, XDP_FRAME_HEADER, XDP_PACKET_HEADROOM, XdpSetup, get_u32, skb_off, xdp_off,
};
use crate::skb_helpers::{checksum_complete_holds, make_checksum_complete};
use crate::xdp_helpers::XDP_META_MAX;
use crate::{Env, Event, ProgId, Runtime, TaskInfo, helpers};

mod hooks;

pub use hooks::TEST_OBJECTS_BASE;

/// `BPF_F_TEST_RUN_ON_CPU`.
pub const BPF_F_TEST_RUN_ON_CPU: u32 = 1;
/// `BPF_F_TEST_XDP_LIVE_FRAMES`.
pub const BPF_F_TEST_XDP_LIVE_FRAMES: u32 = 2;
/// `BPF_F_TEST_SKB_CHECKSUM_COMPLETE`.
pub const BPF_F_TEST_SKB_CHECKSUM_COMPLETE: u32 = 4;

/// `XDP_TX`.
const XDP_TX: u32 = 3;
/// `PAGE_SIZE`.
const PAGE_SIZE: usize = 4096;
/// `NET_SKB_PAD + NET_IP_ALIGN` on x86-64.
const SKB_HEADROOM: usize = 64;
/// `GSO_LEGACY_MAX_SIZE`: the largest `wire_len` a context may claim.
const GSO_LEGACY_MAX_SIZE: u32 = 65536;
/// `GSO_MAX_SEGS`.
const GSO_MAX_SEGS: u32 = 65535;
/// `MAX_BPF_FUNC_ARGS * sizeof(u64)`: the largest raw tracepoint context.
const RAW_TP_MAX_CTX: usize = 12 * 8;
/// `MAX_BPF_FUNC_ARGS * sizeof(u64)`: the largest BTF-typed program context.
const BTF_ARGS_MAX_CTX: usize = 12 * 8;
/// `U16_MAX`: the largest syscall program context.
const SYSCALL_MAX_CTX: usize = 0xffff;
/// The loopback device's ifindex: test-run's device.
const LOOPBACK_IFINDEX: u32 = 1;

/// What a test run is given (the input half of `BPF_PROG_TEST_RUN`).
#[derive(Debug, Clone, Default)]
pub struct TestRunInput<'a> {
    /// The packet (`data_in`), for xdp and skb programs.
    pub data_in: Option<&'a [u8]>,
    /// The context (`ctx_in`): `struct xdp_md`, `struct __sk_buff`, raw
    /// tracepoint arguments, a syscall program's argument block, ...
    pub ctx_in: Option<&'a [u8]>,
    /// Room for the packet after the run (`data_size_out`): `Some` means a
    /// `data_out` buffer was given (refused by raw tracepoint and syscall
    /// programs); `Some(n)` with `n > 0` copies at most `n` bytes (the
    /// kernel would then also answer `ENOSPC`); `None` or `Some(0)` copies
    /// the whole packet.
    pub data_size_out: Option<u32>,
    /// Nobody reads the packet after the run: `data_out` comes back `None`
    /// instead of a copy (which, per packet of a replayed capture, costs
    /// about as much as a short program's run).
    pub skip_data_out: bool,
    /// Number of runs; 0 counts as 1.
    pub repeat: u32,
    /// CPU to run on (with [`BPF_F_TEST_RUN_ON_CPU`] for raw tracepoints).
    pub cpu: u32,
    /// `BPF_F_TEST_*` flags.
    pub flags: u32,
    /// The task the run pretends to happen in (shared: each run's
    /// environment holds it, and cloning its strings per run cost more than
    /// a short program's run).
    pub task: Arc<TaskInfo>,
}

/// What a test run gives back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestRunOutput {
    /// `r0` of the last run, truncated to 32 bits as the kernel reports it.
    pub retval: u32,
    /// Mean time of one run, in nanoseconds: of this thread's CPU time for
    /// repeated runs (as the kernel's figure, which leaves out the time the
    /// runs were rescheduled), of the monotonic clock for a single run.
    pub duration_ns: u32,
    /// The packet after the runs, as the kernel copies it out: XDP from
    /// `data_meta`, skbs from the MAC header (socket filters get a zeroed
    /// Ethernet header in front of the network header they start at).
    pub data_out: Option<Vec<u8>>,
    /// The context after the runs, when a context was given (syscall
    /// programs: the argument block the program may have written).
    pub ctx_out: Option<Vec<u8>>,
    /// `bpf_trace_printk` lines, in order.
    pub trace: Vec<TraceLine>,
    /// Redirects, clones, signals and `XDP_TX` verdicts, in order.
    pub events: Vec<Event>,
}

/// Why a test run did not happen or did not finish.
#[derive(Debug, Error)]
pub enum TestRunError {
    /// The kernel would refuse the input with `EINVAL` (or `E2BIG`,
    /// `ENODEV`, `ENOMEM`, `ENXIO` where the reason says so), or Apiary
    /// cannot do what it asks (live XDP frames, devices other than the
    /// loopback), which the reason also says.
    #[error("invalid test-run input: {reason}")]
    Invalid {
        /// Which rule the input breaks.
        reason: String,
    },
    /// Test-run has no meaning for this program type in Apiary.
    #[error("test-run is not supported for {prog_type} programs")]
    NotSupported {
        /// The program's type.
        prog_type: ProgType,
    },
    /// With `BPF_F_TEST_SKB_CHECKSUM_COMPLETE`, the program changed the
    /// packet without keeping `skb->csum` in step (the kernel answers
    /// `EBADMSG`).
    #[error(
        "skb->csum no longer matches the packet: it changed without a checksum update (EBADMSG)"
    )]
    ChecksumMismatch,
    /// The program failed at run time.
    #[error("{0}")]
    Run(#[from] RunError),
    /// No program has that id.
    #[error("no such program")]
    NoSuchProgram,
}

fn invalid(reason: impl Into<String>) -> TestRunError {
    TestRunError::Invalid {
        reason: reason.into(),
    }
}

/// One `bpf_trace_printk` line as `/sys/kernel/tracing/trace_pipe` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceLine {
    /// The task's command name.
    pub comm: String,
    /// The task's thread id.
    pub pid: u32,
    /// The CPU the program ran on.
    pub cpu: u32,
    /// trace_pipe's context flags (irqs-off, need-resched,
    /// hardirq/softirq, preempt depth, migrate-disable): `b..11` for xdp and
    /// skb test-runs, as the kernel shows them (softirqs disabled);
    /// `...11` for other runs (not measured).
    pub flags: &'static str,
    /// `CLOCK_MONOTONIC` time of the call, in nanoseconds.
    pub timestamp_ns: u64,
    /// The formatted text, as the program produced it (usually ending in `\n`).
    pub text: String,
}

impl TraceLine {
    pub(crate) fn now(task: &TaskInfo, cpu: u32, packet: bool, text: &[u8]) -> TraceLine {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid timespec to write.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
        TraceLine {
            comm: task.comm.chars().take(15).collect(),
            pid: task.pid,
            cpu,
            flags: if packet { "b..11" } else { "...11" },
            timestamp_ns: (ts.tv_sec as u64)
                .wrapping_mul(1_000_000_000)
                .wrapping_add(ts.tv_nsec as u64),
            text: String::from_utf8_lossy(text).into_owned(),
        }
    }
}

impl std::fmt::Display for TraceLine {
    /// `<comm>-<pid> [<cpu>] <flags> <secs>.<usecs>: bpf_trace_printk: <text>`,
    /// padded as trace_pipe pads it, without the text's final newline.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = self.timestamp_ns / 1_000_000_000;
        let usecs = self.timestamp_ns % 1_000_000_000 / 1000;
        let text = self.text.strip_suffix('\n').unwrap_or(&self.text);
        write!(
            f,
            "{:>16}-{:<7} [{:03}] {} {:5}.{:06}: bpf_trace_printk: {}",
            self.comm, self.pid, self.cpu, self.flags, secs, usecs, text
        )
    }
}

/// Copies `ctx_in` into a zeroed `size`-byte context, refusing bytes past
/// `size` that are not zero (`bpf_ctx_init`: `E2BIG`).
fn context_image<const N: usize>(ctx_in: &[u8], name: &str) -> Result<[u8; N], TestRunError> {
    if ctx_in.iter().skip(N).any(|b| *b != 0) {
        return Err(invalid(format!(
            "ctx_in has non-zero bytes past the {N}-byte struct {name} (E2BIG)"
        )));
    }
    let mut image = [0u8; N];
    let take = ctx_in.len().min(N);
    image[..take].copy_from_slice(&ctx_in[..take]);
    Ok(image)
}

/// Fields of `struct __sk_buff` by offset and size, for naming what a
/// context sets: `apiary-context`'s layout with each field stretched to the
/// next, so that the padding after `tstamp_type` counts as part of it, as
/// the kernel's zero-range checks of a context treat it.
fn skb_fields() -> impl Iterator<Item = (usize, usize, &'static str)> {
    let layout = apiary_context::uapi::sk_buff::STRUCT;
    layout.fields.iter().enumerate().map(move |(i, field)| {
        let end = layout
            .fields
            .get(i + 1)
            .map_or(layout.size, |next| next.off);
        (field.off as usize, (end - field.off) as usize, field.name)
    })
}

/// Fields `convert___skb_to_skb` takes from a context; the rest must be zero.
const SKB_CTX_IN_FIELDS: &[&str] = &[
    "mark",
    "priority",
    "ingress_ifindex",
    "ifindex",
    "cb",
    "tstamp",
    "wire_len",
    "gso_segs",
    "gso_size",
    "hwtstamp",
];

/// Fields `convert_skb_to___skb` writes back into the context.
const SKB_CTX_OUT_FIELDS: &[&str] = &[
    "mark",
    "priority",
    "ingress_ifindex",
    "ifindex",
    "tstamp",
    "cb",
    "wire_len",
    "gso_segs",
    "hwtstamp",
];

fn skb_field(name: &str) -> Option<(usize, usize)> {
    skb_fields()
        .find(|(_, _, n)| *n == name)
        .map(|(off, size, _)| (off, size))
}

/// `convert_skb_to___skb`: the context given, with the fields the skb
/// reports back taken from the packet after the run.
fn skb_ctx_out(mut ctx: [u8; skb_off::SIZE], packet: &Packet) -> Vec<u8> {
    let now = packet.ctx();
    for name in SKB_CTX_OUT_FIELDS {
        if let Some((off, size)) = skb_field(name) {
            ctx[off..off + size].copy_from_slice(&now[off..off + size]);
        }
    }
    ctx.to_vec()
}

/// Program types `bpf_prog_test_run_skb` serves, and whether `data`
/// starts at the MAC header for them.
fn skb_program(prog_type: ProgType) -> Option<bool> {
    match prog_type {
        ProgType::SCHED_CLS | ProgType::SCHED_ACT => Some(true),
        ProgType::SOCKET_FILTER
        | ProgType::CGROUP_SKB
        | ProgType::LWT_IN
        | ProgType::LWT_OUT
        | ProgType::LWT_XMIT
        | ProgType::LWT_SEG6LOCAL => Some(false),
        _ => None,
    }
}

/// The frame kept for the next test run of its kind.
fn spare_frame(
    spare: &std::sync::Mutex<Option<Box<Packet>>>,
) -> std::sync::MutexGuard<'_, Option<Box<Packet>>> {
    spare
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Copies the packet out, at most `limit` bytes when one is given.
fn data_out(bytes: Vec<u8>, limit: Option<u32>) -> Vec<u8> {
    let mut bytes = bytes;
    if let Some(limit) = limit.filter(|l| *l != 0) {
        bytes.truncate(limit as usize);
    }
    bytes
}

impl Runtime {
    /// Runs program `prog` as `BPF_PROG_TEST_RUN` would.
    ///
    /// - `xdp`: `data_in` (at least 14 bytes) in a 4096-byte frame after
    ///   256 bytes of headroom, up to 3520 bytes; the rest (or what lies
    ///   past `xdp_md.data_end`) in up to 17 page-sized fragments of a
    ///   multi-buffer frame. `ctx_in` as `struct xdp_md` with the kernel's
    ///   rules (`data_meta` 0, `data_end` at most the input's length,
    ///   `data` the metadata length: a multiple of 4 up to 216 leaving 14
    ///   bytes; `egress_ifindex` 0; `ingress_ifindex` 0 or the loopback
    ///   device, the only one Apiary knows). `data_out` runs from
    ///   `data_meta` through the fragments.
    /// - skb types (socket_filter, sched_cls, sched_act, cgroup_skb, lwt):
    ///   the frame goes through `eth_type_trans` on the loopback device
    ///   (all-zero address); tc programs start at the MAC header, the others
    ///   at the network header and get the Ethernet header back zeroed in
    ///   `data_out`. `ctx_in` may set only mark, priority,
    ///   ingress_ifindex, ifindex (0 or 1), cb, tstamp, wire_len, gso_segs,
    ///   gso_size and hwtstamp.
    /// - `raw_tracepoint`, `syscall`: `ctx_in` only, no repeat; a syscall
    ///   program's context comes back as `ctx_out`.
    /// - `kprobe`, `tracepoint`, `perf_event`, and the embedder type
    ///   (`unspec`): the kernel refuses to test-run them; Apiary runs them
    ///   on `ctx_in` as given (`pt_regs`, the record, `bpf_perf_event_data`,
    ///   or any memory), read-only except for `unspec`, and returns it as
    ///   `ctx_out`.
    /// - `tracing` (fentry, fexit, fmod_ret, tp_btf), `lsm`, `struct_ops`:
    ///   `ctx_in` the u64 arguments, `data_in` the kernel objects they point
    ///   to from [`TEST_OBJECTS_BASE`], given back as `data_out`; `retval` the
    ///   program's own (the kernel's tracing test-run reports what the
    ///   traced test function returned instead). A load through a pointer
    ///   that points nowhere fails the run, where the kernel's probe load
    ///   would read 0.
    /// - `cgroup_sock`, `cgroup_sock_addr`, `cgroup_sockopt` (option buffer
    ///   in `data_in`), `cgroup_sysctl` (the sysctl in `data_in`),
    ///   `cgroup_device`: no kernel test-run; the UAPI struct in `ctx_in`
    ///   and back in `ctx_out`, `retval` 1 allows, 0 refuses.
    /// - `sk_skb` (stream data in `data_in`), `sk_msg` (the message in
    ///   `data_in`), `sock_ops` (`bpf_sock_ops` in `ctx_in`, the packet in
    ///   `data_in`): no kernel test-run; Apiary has no socket behind them.
    /// - `sk_lookup`, `flow_dissector`, `netfilter`: as the kernel's
    ///   `bpf_prog_test_run_sk_lookup`, `_flow_dissector` and `_nf`.
    ///
    /// With `repeat` > 1 the program runs that many times on the same
    /// packet and context, which keep what earlier runs did to them, as in
    /// the kernel; `duration_ns` is the mean.
    pub fn test_run(
        self: &Arc<Self>,
        runner: &mut Runner<Env>,
        prog: ProgId,
        input: &TestRunInput<'_>,
    ) -> Result<TestRunOutput, TestRunError> {
        if self.program(prog).is_none() {
            return Err(TestRunError::NoSuchProgram);
        }
        let prog_type = self.program_type(prog);
        let output = match prog_type {
            ProgType::XDP => self.test_run_xdp(runner, prog, input),
            ProgType::RAW_TRACEPOINT | ProgType::RAW_TRACEPOINT_WRITABLE => {
                self.test_run_raw_tp(runner, prog, input)
            }
            ProgType::SYSCALL => self.test_run_syscall(runner, prog, input),
            ProgType::KPROBE | ProgType::TRACEPOINT | ProgType::PERF_EVENT | ProgType::UNSPEC => {
                let writable = prog_type == ProgType::UNSPEC;
                self.test_run_memory(runner, prog, input, writable)
            }
            ProgType::TRACING | ProgType::LSM | ProgType::STRUCT_OPS => {
                self.test_run_btf_args(runner, prog, input)
            }
            ProgType::CGROUP_SOCK
            | ProgType::CGROUP_SOCK_ADDR
            | ProgType::CGROUP_SOCKOPT
            | ProgType::CGROUP_DEVICE
            | ProgType::SK_MSG
            | ProgType::SOCK_OPS => self.test_run_hook(runner, prog, input, prog_type),
            ProgType::SK_SKB => self.test_run_sk_skb(runner, prog, input),
            ProgType::CGROUP_SYSCTL => self.test_run_sysctl(runner, prog, input),
            ProgType::SK_LOOKUP => self.test_run_sk_lookup(runner, prog, input),
            ProgType::FLOW_DISSECTOR => self.test_run_flow_dissector(runner, prog, input),
            ProgType::NETFILTER => self.test_run_netfilter(runner, prog, input),
            other => match skb_program(other) {
                Some(l2) => self.test_run_skb(runner, prog, input, l2),
                None => Err(TestRunError::NotSupported { prog_type: other }),
            },
        };
        // Packet programs do not even make the copy; the others' packets
        // are built anyway.
        output.map(|output| TestRunOutput {
            data_out: output.data_out.filter(|_| !input.skip_data_out),
            ..output
        })
    }

    /// Runs `repeat` times (at least once) on the env's packet, or with
    /// `r1` at the first of `given` (0 when there is none or it is empty);
    /// `given` are reachable too. Returns the last `r0` and the mean
    /// duration.
    fn run_repeated(
        self: &Arc<Self>,
        runner: &mut Runner<Env>,
        prog: ProgId,
        env: &mut Env,
        given: &[Region<'_>],
        repeat: u32,
    ) -> Result<(u32, u32), TestRunError> {
        let program = self.program(prog).ok_or(TestRunError::NoSuchProgram)?;
        let runs = repeat.max(1);
        // The frame and context never move, so the regions are set up once;
        // only the span LD_ABS reads follows the packet from run to run.
        let ctx_addr = match (&env.packet, given.first()) {
            (Some(packet), _) => packet.ctx_addr(),
            (None, Some(region)) if !region.is_empty() => region.addr(),
            (None, _) => 0,
        };
        let packet_regions = env.packet.as_deref().map(Packet::regions);
        let packet_regions = packet_regions.as_ref().map_or(&[][..], |r| &r[..]);
        let regions = self.with_data_regions(
            packet_regions
                .iter()
                .chain(given.iter().filter(|r| !r.is_empty()))
                .copied(),
        );
        let clock = run_clock(runs);
        let start = helpers::clock(clock);
        let ld_abs = |env: &Env| {
            let packet = env.packet.as_deref();
            (
                packet.and_then(Packet::ld_abs_region),
                packet.and_then(Packet::ld_abs_headers),
            )
        };
        let (packet, headers) = ld_abs(env);
        let mut input = RunInput {
            args: [ctx_addr, 0, 0, 0, 0],
            regions: &regions,
            packet,
            headers,
        };
        // Set up once, as the kernel's loop does; a run after one whose
        // helpers moved the packet reads it where it went.
        let retval = runner
            .set_cpu(env.cpu)
            .run_repeat(&program, env, &mut input, u64::from(runs), |env, input| {
                env.release_locks();
                // Rewritten only when it moved: the vm reads the input right
                // away, and reading what was just written costs more than a
                // short program's run (a store-forwarding stall).
                let (packet, headers) = ld_abs(env);
                if (packet, headers) != (input.packet, input.headers) {
                    (input.packet, input.headers) = (packet, headers);
                }
            })
            .map_err(|error| self.name_fault(error, env));
        env.release_locks();
        let retval = retval? as u32;
        let mean = u128::from(helpers::clock(clock).saturating_sub(start)) / u128::from(runs);
        Ok((retval, u32::try_from(mean).unwrap_or(u32::MAX)))
    }

    fn test_run_xdp(
        self: &Arc<Self>,
        runner: &mut Runner<Env>,
        prog: ProgId,
        input: &TestRunInput<'_>,
    ) -> Result<TestRunOutput, TestRunError> {
        if input.flags & !BPF_F_TEST_XDP_LIVE_FRAMES != 0 {
            return Err(invalid(format!(
                "flags {:#x}: xdp programs take only BPF_F_TEST_XDP_LIVE_FRAMES",
                input.flags
            )));
        }
        if input.flags & BPF_F_TEST_XDP_LIVE_FRAMES != 0 {
            return Err(invalid(
                "BPF_F_TEST_XDP_LIVE_FRAMES (transmitting frames) is not supported by Apiary",
            ));
        }
        let data = input.data_in.unwrap_or_default();
        if data.len() < ETH_HLEN {
            return Err(invalid(format!(
                "data_in is {} bytes, shorter than an Ethernet header (14)",
                data.len()
            )));
        }
        let mut setup = XdpSetup {
            meta_len: 0,
            ingress_ifindex: LOOPBACK_IFINDEX,
            rx_queue_index: 0,
        };
        // The linear part: up to xdp_md.data_end when a context says so.
        let mut linear = data.len();
        let ctx_in = match input.ctx_in {
            Some(ctx_in) => {
                let md = context_image::<{ xdp_off::SIZE }>(ctx_in, "xdp_md")?;
                setup.meta_len = xdp_md_rules(&md, data.len())?;
                let (ingress, queue) = (
                    get_u32(&md, xdp_off::INGRESS_IFINDEX),
                    get_u32(&md, xdp_off::RX_QUEUE_INDEX),
                );
                if ingress != 0 {
                    setup.ingress_ifindex = ingress;
                    setup.rx_queue_index = queue;
                }
                linear = get_u32(&md, xdp_off::DATA_END) as usize;
                Some(md)
            }
            None => None,
        };
        // What does not fit in the frame goes into page-sized fragments.
        let headroom = XDP_PACKET_HEADROOM - setup.meta_len;
        let linear = linear.min(PAGE_SIZE - headroom - SHARED_INFO_SIZE);
        let frags = (data.len() - linear).div_ceil(XDP_FRAG_SIZE);
        if frags > MAX_SKB_FRAGS {
            return Err(invalid(format!(
                "data_in needs {frags} fragments after the {linear}-byte frame, more than \
                 MAX_SKB_FRAGS ({MAX_SKB_FRAGS}; the kernel answers ENOMEM)"
            )));
        }
        let mut env = self.env(prog, input.cpu, Arc::clone(&input.task));
        let spare = spare_frame(&self.spare_xdp_frame).take();
        env.packet = Some(match spare {
            Some(mut packet) => {
                packet.refill_xdp(data, linear, &setup);
                packet
            }
            None => Box::new(Packet::xdp(data, linear, &setup)),
        });
        let (retval, duration_ns) = self.run_repeated(runner, prog, &mut env, &[], input.repeat)?;
        if retval == XDP_TX {
            env.record(Event::XdpTx {
                ifindex: setup.ingress_ifindex,
            });
        }
        let packet = env.packet.take().ok_or(TestRunError::NoSuchProgram)?;
        let ctx_out = ctx_in.map(|mut md| {
            // xdp_convert_buff_to_md: only the offsets are written back.
            let image = packet.ctx();
            md[xdp_off::DATA..xdp_off::DATA + 4]
                .copy_from_slice(&image[xdp_off::DATA..xdp_off::DATA + 4]);
            md[xdp_off::DATA_END..xdp_off::DATA_END + 4]
                .copy_from_slice(&image[xdp_off::DATA_END..xdp_off::DATA_END + 4]);
            md.to_vec()
        });
        let data =
            (!input.skip_data_out).then(|| data_out(packet.meta_and_data(), input.data_size_out));
        *spare_frame(&self.spare_xdp_frame) = Some(packet);
        Ok(finish(env, (retval, duration_ns), data, ctx_out))
    }

    fn test_run_skb(
        self: &Arc<Self>,
        runner: &mut Runner<Env>,
        prog: ProgId,
        input: &TestRunInput<'_>,
        l2: bool,
    ) -> Result<TestRunOutput, TestRunError> {
        if input.flags & !BPF_F_TEST_SKB_CHECKSUM_COMPLETE != 0 {
            return Err(invalid(format!(
                "flags {:#x}: skb programs take only BPF_F_TEST_SKB_CHECKSUM_COMPLETE",
                input.flags
            )));
        }
        if input.cpu != 0 {
            return Err(invalid("skb programs cannot be run on a chosen CPU"));
        }
        let data = input.data_in.unwrap_or_default();
        let max = PAGE_SIZE - SKB_HEADROOM - SHARED_INFO_SIZE;
        if data.len() < ETH_HLEN || data.len() > max {
            return Err(invalid(format!(
                "data_in is {} bytes; skb programs take 14 to {max}",
                data.len()
            )));
        }
        let image = match input.ctx_in {
            Some(ctx_in) => Some(context_image::<{ skb_off::SIZE }>(ctx_in, "__sk_buff")?),
            None => None,
        };
        let ifindex = image.map_or(0, |i| get_u32(&i, skb_off::IFINDEX));
        if ifindex > LOOPBACK_IFINDEX {
            return Err(invalid(format!(
                "ifindex {ifindex}: Apiary knows only the loopback device (the kernel answers \
                 ENODEV for a missing one)"
            )));
        }
        let ethertype = u16::from_be_bytes([data[12], data[13]]);
        let l3_len = data.len() - ETH_HLEN;
        let header = match ethertype {
            ETH_P_IP => 20,
            ETH_P_IPV6 => 40,
            _ => 0,
        };
        if l3_len < header {
            return Err(invalid(format!(
                "data_in holds a partial {} header ({l3_len} of {header} bytes)",
                if header == 20 { "IPv4" } else { "IPv6" }
            )));
        }
        let skb_len = if l2 { data.len() } else { l3_len };
        if let Some(image) = &image {
            skb_ctx_rules(image, skb_len)?;
        }
        let setup = SkbSetup {
            image: image.unwrap_or([0; skb_off::SIZE]),
            ifindex: LOOPBACK_IFINDEX,
            has_context: image.is_some(),
        };
        let spare = spare_frame(&self.spare_skb_frame).take();
        let mut packet = match spare {
            Some(mut packet) => {
                packet.refill_skb(data, l2, &setup);
                packet
            }
            None => Box::new(Packet::skb(data, l2, &setup)),
        };
        let checksum_complete = input.flags & BPF_F_TEST_SKB_CHECKSUM_COMPLETE != 0;
        if checksum_complete {
            make_checksum_complete(&mut packet);
        }
        let mut env = self.env(prog, input.cpu, Arc::clone(&input.task));
        env.packet = Some(packet);
        let (retval, duration_ns) = self.run_repeated(runner, prog, &mut env, &[], input.repeat)?;
        let packet = env.packet.take().ok_or(TestRunError::NoSuchProgram)?;
        if checksum_complete && !checksum_complete_holds(&packet) {
            *spare_frame(&self.spare_skb_frame) = Some(packet);
            return Err(TestRunError::ChecksumMismatch);
        }
        let bytes = || {
            if l2 {
                packet.bytes().to_vec()
            } else {
                // The Ethernet header is pushed back and zeroed.
                let mut bytes = vec![0u8; ETH_HLEN];
                bytes.extend_from_slice(packet.bytes());
                bytes
            }
        };
        let data = (!input.skip_data_out).then(|| data_out(bytes(), input.data_size_out));
        let ctx_out = image.map(|ctx| skb_ctx_out(ctx, &packet));
        *spare_frame(&self.spare_skb_frame) = Some(packet);
        Ok(finish(env, (retval, duration_ns), data, ctx_out))
    }

    /// `ctx_size_in < prog->aux->max_ctx_offset`: the context must cover
    /// every byte the program reads or writes.
    fn context_size_rule(
        &self,
        prog: ProgId,
        input: &TestRunInput<'_>,
    ) -> Result<(), TestRunError> {
        let given = input.ctx_in.map_or(0, <[u8]>::len);
        let needed = self.max_ctx_offset(prog) as usize;
        if given < needed {
            return Err(invalid(format!(
                "ctx_in is {given} bytes but the program accesses the context up to byte {needed}"
            )));
        }
        Ok(())
    }

    fn test_run_raw_tp(
        self: &Arc<Self>,
        runner: &mut Runner<Env>,
        prog: ProgId,
        input: &TestRunInput<'_>,
    ) -> Result<TestRunOutput, TestRunError> {
        context_only_rules(input, "raw_tracepoint")?;
        self.context_size_rule(prog, input)?;
        if input.flags & !BPF_F_TEST_RUN_ON_CPU != 0 {
            return Err(invalid(format!(
                "flags {:#x}: raw_tracepoint programs take only BPF_F_TEST_RUN_ON_CPU",
                input.flags
            )));
        }
        if input.flags & BPF_F_TEST_RUN_ON_CPU == 0 && input.cpu != 0 {
            return Err(invalid("cpu is set without BPF_F_TEST_RUN_ON_CPU"));
        }
        if input.cpu >= self.nr_cpus {
            return Err(invalid(format!("cpu {} is not online (ENXIO)", input.cpu)));
        }
        let ctx = input.ctx_in.unwrap_or_default().to_vec();
        if ctx.len() > RAW_TP_MAX_CTX {
            return Err(invalid(format!(
                "ctx_in is {} bytes, more than 12 arguments (96 bytes)",
                ctx.len()
            )));
        }
        let mut env = self.env(prog, input.cpu, Arc::clone(&input.task));
        let region = Region::readable(&ctx).with_kind(RegionKind::Context);
        let (retval, duration_ns) = self.run_repeated(runner, prog, &mut env, &[region], 0)?;
        Ok(finish(env, (retval, duration_ns), None, None))
    }

    fn test_run_syscall(
        self: &Arc<Self>,
        runner: &mut Runner<Env>,
        prog: ProgId,
        input: &TestRunInput<'_>,
    ) -> Result<TestRunOutput, TestRunError> {
        context_only_rules(input, "syscall")?;
        self.context_size_rule(prog, input)?;
        if input.flags != 0 {
            return Err(invalid("syscall programs take no flags"));
        }
        let mut ctx = input.ctx_in.unwrap_or_default().to_vec();
        if ctx.len() > SYSCALL_MAX_CTX {
            return Err(invalid(format!(
                "ctx_in is {} bytes, more than 65535",
                ctx.len()
            )));
        }
        let mut env = self.env(prog, input.cpu, Arc::clone(&input.task));
        let region = Region::writable(&mut ctx).with_kind(RegionKind::Context);
        let (retval, duration_ns) = self.run_repeated(runner, prog, &mut env, &[region], 0)?;
        Ok(finish(
            env,
            (retval, duration_ns),
            None,
            input.ctx_in.map(|_| ctx),
        ))
    }

    fn test_run_memory(
        self: &Arc<Self>,
        runner: &mut Runner<Env>,
        prog: ProgId,
        input: &TestRunInput<'_>,
        writable: bool,
    ) -> Result<TestRunOutput, TestRunError> {
        if input.data_in.is_some() || input.data_size_out.is_some() {
            return Err(invalid(
                "this program type takes a context (ctx_in), not a packet",
            ));
        }
        // A context shorter than what the program reads would fault in the
        // middle of the run; say what is missing before running instead.
        self.context_size_rule(prog, input)?;
        let mut ctx = input.ctx_in.unwrap_or_default().to_vec();
        let mut env = self.env(prog, input.cpu, Arc::clone(&input.task));
        let region = if writable {
            Region::writable(&mut ctx).with_kind(RegionKind::Context)
        } else {
            Region::readable(&ctx).with_kind(RegionKind::Context)
        };
        let (retval, duration_ns) =
            self.run_repeated(runner, prog, &mut env, &[region], input.repeat)?;
        Ok(finish(
            env,
            (retval, duration_ns),
            None,
            input.ctx_in.map(|_| ctx),
        ))
    }
}

/// The output of a finished run.
fn finish(
    mut env: Env,
    (retval, duration_ns): (u32, u32),
    data_out: Option<Vec<u8>>,
    ctx_out: Option<Vec<u8>>,
) -> TestRunOutput {
    TestRunOutput {
        retval,
        duration_ns,
        data_out,
        ctx_out,
        trace: std::mem::take(&mut env.trace),
        events: std::mem::take(&mut env.events),
    }
}

/// `xdp_md` rules of `bpf_prog_test_run_xdp` and `xdp_convert_md_to_buff`;
/// returns the metadata length.
fn xdp_md_rules(md: &[u8; xdp_off::SIZE], size: usize) -> Result<usize, TestRunError> {
    let field = |off| get_u32(md, off);
    let (data, data_end, data_meta) = (
        field(xdp_off::DATA),
        field(xdp_off::DATA_END),
        field(xdp_off::DATA_META),
    );
    if data_meta != 0 {
        return Err(invalid("xdp_md.data_meta must be 0"));
    }
    if data_end as usize > size {
        return Err(invalid(format!(
            "xdp_md.data_end ({data_end}) is past the data_in length {size}"
        )));
    }
    if data > data_end {
        return Err(invalid(format!(
            "xdp_md.data ({data}) is past data_end ({data_end})"
        )));
    }
    if data_end - data < ETH_HLEN as u32 {
        return Err(invalid(format!(
            "xdp_md.data ({data}) leaves less than an Ethernet header before data_end ({data_end})"
        )));
    }
    let meta_len = data as usize;
    // The metadata comes out of the headroom, which must keep room for
    // the struct xdp_frame at the frame's start.
    let meta_max = XDP_META_MAX.min(XDP_PACKET_HEADROOM - XDP_FRAME_HEADER);
    if !meta_len.is_multiple_of(4) || meta_len > meta_max {
        return Err(invalid(format!(
            "xdp_md.data ({data}) is not a metadata length (a multiple of 4 up to {meta_max})"
        )));
    }
    if field(xdp_off::EGRESS_IFINDEX) != 0 {
        return Err(invalid("xdp_md.egress_ifindex must be 0"));
    }
    let (ingress, queue) = (
        field(xdp_off::INGRESS_IFINDEX),
        field(xdp_off::RX_QUEUE_INDEX),
    );
    if ingress == 0 && queue != 0 {
        return Err(invalid(
            "xdp_md.rx_queue_index is set without ingress_ifindex",
        ));
    }
    if ingress > LOOPBACK_IFINDEX {
        return Err(invalid(format!(
            "xdp_md.ingress_ifindex {ingress}: Apiary knows only the loopback device \
             (the kernel answers ENODEV for a missing one)"
        )));
    }
    if ingress == LOOPBACK_IFINDEX && queue != 0 {
        return Err(invalid(format!(
            "xdp_md.rx_queue_index {queue}: the loopback device has one queue"
        )));
    }
    Ok(meta_len)
}

/// `convert___skb_to_skb`'s rules for a `__sk_buff` context.
fn skb_ctx_rules(image: &[u8; skb_off::SIZE], skb_len: usize) -> Result<(), TestRunError> {
    for (off, size, name) in skb_fields() {
        if SKB_CTX_IN_FIELDS.contains(&name) {
            continue;
        }
        if image[off..off + size].iter().any(|b| *b != 0) {
            return Err(invalid(format!(
                "__sk_buff.{name} (offset {off}) must be 0 in ctx_in"
            )));
        }
    }
    let wire_len = get_u32(image, skb_off::WIRE_LEN);
    if wire_len != 0 && ((wire_len as usize) < skb_len || wire_len > GSO_LEGACY_MAX_SIZE) {
        return Err(invalid(format!(
            "__sk_buff.wire_len {wire_len} is below the packet length {skb_len} or above 65536"
        )));
    }
    let gso_segs = get_u32(image, skb_off::GSO_SEGS);
    if gso_segs > GSO_MAX_SEGS {
        return Err(invalid(format!(
            "__sk_buff.gso_segs {gso_segs} is above 65535"
        )));
    }
    Ok(())
}

/// What raw tracepoint and syscall programs refuse: anything but a context.
fn context_only_rules(input: &TestRunInput<'_>, kind: &str) -> Result<(), TestRunError> {
    if input.data_in.is_some() {
        return Err(invalid(format!("{kind} programs take no data_in")));
    }
    if input.data_size_out.is_some() {
        return Err(invalid(format!("{kind} programs take no data_out")));
    }
    if input.repeat != 0 {
        return Err(invalid(format!("{kind} programs take no repeat")));
    }
    Ok(())
}

/// The clock a test run of `runs` runs is timed on.
///
/// Repeated runs: this thread's CPU time, not the wall clock. The kernel's
/// test run stops its timer while it is rescheduled between runs
/// (`bpf_test_timer_continue`), so on a loaded machine the wall clock would
/// also count the time other processes had the core, which the kernel's
/// figure leaves out.
///
/// A single run: the monotonic clock, the kernel's own (`ktime_get_ns`,
/// with preemption off for packet programs). This thread's CPU clock is a
/// system call, about 0.9 us a read on a VM against 40 ns for the
/// monotonic clock's vDSO read: twice per packet it cost several times a
/// short program's run, and most of the time replaying a capture took.
fn run_clock(runs: u32) -> libc::clockid_t {
    if runs > 1 {
        libc::CLOCK_THREAD_CPUTIME_ID
    } else {
        libc::CLOCK_MONOTONIC
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_line_prints_like_trace_pipe() {
        let line = TraceLine {
            comm: "apiary".into(),
            pid: 4242,
            cpu: 1,
            flags: "b..11",
            timestamp_ns: 12_345_678_901,
            text: "hello 7\n".into(),
        };
        assert_eq!(
            line.to_string(),
            "          apiary-4242    [001] b..11    12.345678: bpf_trace_printk: hello 7"
        );
    }

    #[test]
    fn skb_fields_tile_the_struct() {
        let mut next = 0;
        for (off, size, _) in skb_fields() {
            assert_eq!(off, next);
            next = off + size;
        }
        assert_eq!(next, skb_off::SIZE);
    }
}
