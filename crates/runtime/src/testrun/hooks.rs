//! Test-runs of the program types whose context is neither a packet nor
//! plain memory: BTF-typed programs (tracing, lsm, struct_ops), the cgroup
//! socket, sockopt, sysctl and device hooks, `sk_lookup`, the flow
//! dissector and netfilter.
//!
//! The kernel test-runs the flow dissector, `sk_lookup` and netfilter
//! programs (`bpf_prog_test_run_flow_dissector`, `_sk_lookup`, `_nf` in
//! net/bpf/test_run.c); those follow it. For the others the kernel has no
//! test-run of the program itself (tracing test-runs call kernel functions
//! an attached program intercepts; cgroup hooks and struct_ops have none):
//! Apiary runs the program on the context given, as documented on each.

use std::sync::Arc;

use apiary_context::{SKB_DATA, SKB_DATA_END, SKB_DATA_META};
use apiary_kernel::types::ProgType;
use apiary_vm::{Region, RegionKind, Runner};

use super::{
    BTF_ARGS_MAX_CTX, LOOPBACK_IFINDEX, TestRunError, TestRunInput, TestRunOutput, context_image,
    finish, invalid,
};
use crate::packet::{ETH_HLEN, ETH_P_IP, ETH_P_IPV6, HostBuf, Packet, SkbSetup, skb_off};
use crate::{Env, ProgId, Runtime};

/// Where the kernel objects a BTF-typed test-run receives in `data_in`
/// appear to start: an address in x86-64's direct map, where kernel
/// objects live. An argument in `ctx_in`, or an aligned u64 inside
/// `data_in`, that falls in `[TEST_OBJECTS_BASE, TEST_OBJECTS_BASE +
/// data_in.len())` points into `data_in`; Apiary relocates it to the host
/// buffer for the run and back for `data_out`.
pub const TEST_OBJECTS_BASE: u64 = 0xffff_8880_0000_0000;

/// Largest object arena a BTF-typed test-run takes.
const MAX_OBJECTS: usize = 1 << 20;

/// `sizeof(struct bpf_flow_keys)`.
const FLOW_KEYS_SIZE: usize = 56;
/// Offsets in `struct bpf_flow_keys`.
mod flow_keys {
    pub const NHOFF: usize = 0;
    pub const THOFF: usize = 2;
    pub const N_PROTO: usize = 10;
    pub const FLAGS: usize = 48;
}
/// `__sk_buff.flow_keys` in the image.
const SKB_FLOW_KEYS: usize = apiary_context::uapi::sk_buff::FLOW_KEYS.off as usize;

/// `sizeof(struct bpf_sk_lookup)` and its offsets, from the layout
/// `apiary-context` checks programs against.
const SK_LOOKUP_SIZE: usize = apiary_context::uapi::sk_lookup::STRUCT.size as usize;
mod sk_lookup_off {
    use apiary_context::uapi::sk_lookup as layout;

    pub const FAMILY: usize = layout::FAMILY.off as usize;
    pub const REMOTE_IP4: usize = layout::REMOTE_IP4.off as usize;
    pub const REMOTE_IP6: usize = layout::REMOTE_IP6.off as usize;
    pub const LOCAL_IP4: usize = layout::LOCAL_IP4.off as usize;
    pub const LOCAL_IP6: usize = layout::LOCAL_IP6.off as usize;
    pub const LOCAL_PORT: usize = layout::LOCAL_PORT.off as usize;
}
const AF_INET: u32 = 2;
const AF_INET6: u32 = 10;
/// `SK_PASS` / `SK_DROP`.
const SK_PASS: u32 = 1;

/// `NFPROTO_IPV4`, `NFPROTO_IPV6`, `NF_INET_LOCAL_OUT`.
const NFPROTO_IPV4: u8 = 2;
const NFPROTO_IPV6: u8 = 10;
const NF_INET_LOCAL_OUT: u8 = 3;
/// `sizeof(struct iphdr)`, `sizeof(struct ipv6hdr)`.
const IPV4_HLEN: usize = 20;
const IPV6_HLEN: usize = 40;

/// A context struct a hook program runs on as given (no kernel test-run):
/// its UAPI name and size, the 8-byte pointer fields a context may not set
/// (they are the runtime's to fill), and the data buffer some point into.
struct HookStruct {
    name: &'static str,
    size: usize,
    pointers: &'static [usize],
    buffer: Option<DataBuffer>,
}

/// `data_in` as a buffer that two pointer fields of the context bound.
struct DataBuffer {
    start: usize,
    end: usize,
    /// A u32 field set to the buffer's length before the run.
    len_field: Option<usize>,
    /// A u32 field that, after the run, cuts `data_out` to its value.
    cut_by: Option<usize>,
}

/// The largest struct a hook program sees (`struct bpf_sock_ops`).
const MAX_HOOK_STRUCT: usize = 224;

fn hook_struct(prog_type: ProgType) -> Option<HookStruct> {
    let plain = |name, size, pointers| HookStruct {
        name,
        size,
        pointers,
        buffer: None,
    };
    Some(match prog_type {
        ProgType::CGROUP_SOCK => plain("bpf_sock", 80, &[]),
        ProgType::CGROUP_SOCK_ADDR => plain("bpf_sock_addr", 72, &[64]),
        ProgType::CGROUP_DEVICE => plain("bpf_cgroup_dev_ctx", 12, &[]),
        ProgType::CGROUP_SOCKOPT => HookStruct {
            name: "bpf_sockopt",
            size: 40,
            pointers: &[0, 8, 16],
            buffer: Some(DataBuffer {
                start: 8,
                end: 16,
                len_field: None,
                cut_by: Some(32),
            }),
        },
        ProgType::SK_MSG => HookStruct {
            name: "sk_msg_md",
            size: 80,
            pointers: &[0, 8, 72],
            buffer: Some(DataBuffer {
                start: 0,
                end: 8,
                len_field: Some(68),
                cut_by: None,
            }),
        },
        ProgType::SOCK_OPS => HookStruct {
            name: "bpf_sock_ops",
            size: MAX_HOOK_STRUCT,
            pointers: &[184, 192, 200],
            buffer: Some(DataBuffer {
                start: 192,
                end: 200,
                len_field: Some(208),
                cut_by: None,
            }),
        },
        _ => return None,
    })
}

/// `sizeof(struct bpf_sysctl)`.
const SYSCTL_CTX_SIZE: usize = 8;

fn put_u64(bytes: &mut [u8], off: usize, value: u64) {
    if let Some(dst) = bytes.get_mut(off..off + 8) {
        dst.copy_from_slice(&value.to_ne_bytes());
    }
}

fn get_u64(bytes: &[u8], off: usize) -> u64 {
    bytes
        .get(off..off + 8)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_ne_bytes)
}

fn get_u16(bytes: &[u8], off: usize) -> u16 {
    bytes
        .get(off..off + 2)
        .map_or(0, |b| u16::from_ne_bytes([b[0], b[1]]))
}

fn put_u16(bytes: &mut [u8], off: usize, value: u16) {
    if let Some(dst) = bytes.get_mut(off..off + 2) {
        dst.copy_from_slice(&value.to_ne_bytes());
    }
}

/// Refuses anything but a context: what `sk_lookup` and the Apiary-only
/// hooks take.
fn no_packet(input: &TestRunInput<'_>, kind: &str) -> Result<(), TestRunError> {
    if input.data_in.is_some() || input.data_size_out.is_some() {
        return Err(invalid(format!(
            "{kind} programs take no data_in or data_out"
        )));
    }
    Ok(())
}

/// `kattr->test.flags || kattr->test.cpu`: refused by every test-run here.
fn no_flags_or_cpu(input: &TestRunInput<'_>, kind: &str) -> Result<(), TestRunError> {
    if input.flags != 0 || input.cpu != 0 {
        return Err(invalid(format!("{kind} programs take no flags and no cpu")));
    }
    Ok(())
}

/// Rewrites every aligned u64 of `words` that lies in `[from, from + len)`
/// to the same offset from `to`.
fn relocate(words: &mut [u8], from: u64, to: u64, len: u64) {
    for chunk in words.chunks_exact_mut(8) {
        let value = u64::from_ne_bytes(chunk.try_into().unwrap_or([0; 8]));
        if value >= from && value - from < len {
            chunk.copy_from_slice(&(to + (value - from)).to_ne_bytes());
        }
    }
}

impl Runtime {
    /// BTF-typed programs (fentry, fexit, fmod_ret, tp_btf, lsm,
    /// struct_ops): `ctx_in` is the u64 argument array (at most 12 slots; for
    /// fexit, fmod_ret and lsm the previous return value follows the
    /// arguments), `data_in` optionally the kernel objects the arguments
    /// point to, addressed from [`TEST_OBJECTS_BASE`]; `data_out` gives
    /// them back after the run (struct_ops programs write through their
    /// arguments). `retval` is the program's `r0`.
    ///
    /// The kernel's tracing test-run instead calls `bpf_fentry_test*` or
    /// `bpf_modify_return_test` and reports what those returned, which only
    /// shows an attached program's effect; struct_ops and lsm programs have
    /// no kernel test-run.
    pub(super) fn test_run_btf_args(
        self: &Arc<Self>,
        runner: &mut Runner<Env>,
        prog: ProgId,
        input: &TestRunInput<'_>,
    ) -> Result<TestRunOutput, TestRunError> {
        let kind = self.program_type(prog).to_string();
        no_flags_or_cpu(input, &kind)?;
        self.context_size_rule(prog, input)?;
        let mut args = input.ctx_in.unwrap_or_default().to_vec();
        if args.len() > BTF_ARGS_MAX_CTX || !args.len().is_multiple_of(8) {
            return Err(invalid(format!(
                "ctx_in is {} bytes; {kind} programs take whole u64 arguments, at most 12 \
                 (96 bytes)",
                args.len()
            )));
        }
        let objects_in = input.data_in.unwrap_or_default();
        if objects_in.len() > MAX_OBJECTS {
            return Err(invalid(format!(
                "data_in is {} bytes, more than the {MAX_OBJECTS}-byte object arena",
                objects_in.len()
            )));
        }
        let mut objects = HostBuf::zeroed(objects_in.len());
        objects.bytes_mut().copy_from_slice(objects_in);
        let host = objects.region(true).addr();
        let len = objects_in.len() as u64;
        relocate(&mut args, TEST_OBJECTS_BASE, host, len);
        relocate(objects.bytes_mut(), TEST_OBJECTS_BASE, host, len);
        let mut env = self.env(prog, input.cpu, Arc::clone(&input.task));
        let regions = [
            Region::readable(&args).with_kind(RegionKind::Context),
            objects.region(true),
        ];
        let result = self.run_repeated(runner, prog, &mut env, &regions, input.repeat)?;
        let data_out = input.data_in.map(|_| {
            let mut out = objects.bytes().to_vec();
            relocate(&mut out, host, TEST_OBJECTS_BASE, len);
            super::data_out(out, input.data_size_out)
        });
        Ok(finish(env, result, data_out, None))
    }

    /// cgroup_sock, cgroup_sock_addr, cgroup_sockopt, cgroup_device,
    /// sk_msg and sock_ops programs, which the kernel does not test-run:
    /// `ctx_in` is the UAPI struct (`bpf_sock`, `bpf_sock_addr`,
    /// `bpf_sockopt`, `bpf_cgroup_dev_ctx`, `sk_msg_md`, `bpf_sock_ops`),
    /// shorter ones zero-filled, with its pointers 0 (Apiary has no
    /// sockets). `data_in` is, for sockopt programs, the option buffer
    /// `optval`..`optval_end`, given back as `data_out` cut to the `optlen`
    /// the program leaves when that is shorter; for sk_msg programs the
    /// message `data`..`data_end` (`size` is set to its length); for
    /// sock_ops programs the packet `skb_data`..`skb_data_end` (`skb_len`
    /// set). `ctx_out` is the struct after the run, pointers 0 again;
    /// `retval` the program's `r0` (cgroup hooks: 1 allows, 0 refuses).
    pub(super) fn test_run_hook(
        self: &Arc<Self>,
        runner: &mut Runner<Env>,
        prog: ProgId,
        input: &TestRunInput<'_>,
        prog_type: ProgType,
    ) -> Result<TestRunOutput, TestRunError> {
        let Some(shape) = hook_struct(prog_type) else {
            return Err(TestRunError::NotSupported { prog_type });
        };
        let (name, size) = (shape.name, shape.size);
        let kind = prog_type.to_string();
        no_flags_or_cpu(input, &kind)?;
        if shape.buffer.is_none() {
            no_packet(input, &kind)?;
        }
        let ctx_in = input.ctx_in.unwrap_or_default();
        let image = context_image::<MAX_HOOK_STRUCT>(ctx_in, name)?;
        if ctx_in.iter().skip(size).any(|b| *b != 0) {
            return Err(invalid(format!(
                "ctx_in has non-zero bytes past the {size}-byte struct {name} (E2BIG)"
            )));
        }
        if let Some(off) = shape
            .pointers
            .iter()
            .find(|off| get_u64(&image, **off) != 0)
        {
            return Err(invalid(format!(
                "{name} has a pointer at offset {off}, which ctx_in must leave 0"
            )));
        }
        let mut ctx = HostBuf::zeroed(size);
        ctx.bytes_mut().copy_from_slice(&image[..size]);
        let data_in = input.data_in.unwrap_or_default();
        let mut data = HostBuf::zeroed(data_in.len());
        data.bytes_mut().copy_from_slice(data_in);
        if let Some(buffer) = &shape.buffer {
            let start = data.region(true).addr();
            let bytes = ctx.bytes_mut();
            put_u64(bytes, buffer.start, start);
            put_u64(bytes, buffer.end, start + data_in.len() as u64);
            if let Some(field) = buffer.len_field {
                let len = u32::try_from(data_in.len()).unwrap_or(u32::MAX);
                bytes[field..field + 4].copy_from_slice(&len.to_ne_bytes());
            }
        }
        let mut env = self.env(prog, input.cpu, Arc::clone(&input.task));
        if prog_type == ProgType::SK_MSG {
            let len = u32::try_from(data_in.len()).unwrap_or(u32::MAX);
            env.message = Some((data.region(true).addr(), len));
        }
        let regions = [ctx.region(true), data.region(true)];
        let result = self.run_repeated(runner, prog, &mut env, &regions, input.repeat)?;
        let mut ctx_out = ctx.bytes().to_vec();
        for off in shape.pointers {
            put_u64(&mut ctx_out, *off, 0);
        }
        let data_out = input.data_in.map(|_| {
            let mut out = data.bytes().to_vec();
            if let Some(field) = shape.buffer.as_ref().and_then(|b| b.cut_by) {
                out.truncate(super::get_u32(&ctx_out, field) as usize);
            }
            super::data_out(out, input.data_size_out)
        });
        Ok(finish(env, result, data_out, input.ctx_in.map(|_| ctx_out)))
    }

    /// cgroup_sysctl programs, which the kernel does not test-run: `ctx_in`
    /// is `struct bpf_sysctl` (`write`, `file_pos`), `data_in` the sysctl:
    /// its name under /proc/sys (`net/ipv4/ip_forward`), then after a NUL
    /// its current value, then after another NUL the value being written
    /// (no first NUL: the current value could not be read). The program
    /// runs on the [`crate::SysctlContext`] image the sysctl helpers read.
    /// `ctx_out` is `struct bpf_sysctl` after the run, `data_out` the value
    /// a write would store (the program's replacement, if it set one);
    /// `retval` 1 allows, 0 refuses.
    pub(super) fn test_run_sysctl(
        self: &Arc<Self>,
        runner: &mut Runner<Env>,
        prog: ProgId,
        input: &TestRunInput<'_>,
    ) -> Result<TestRunOutput, TestRunError> {
        no_flags_or_cpu(input, "cgroup_sysctl")?;
        let header =
            context_image::<SYSCTL_CTX_SIZE>(input.ctx_in.unwrap_or_default(), "bpf_sysctl")?;
        let data = input.data_in.ok_or_else(|| {
            invalid(
                "cgroup_sysctl programs need data_in: the sysctl's name, NUL, its current \
                 value, NUL, the value written",
            )
        })?;
        let mut parts = data.splitn(3, |b| *b == 0);
        let name = parts.next().unwrap_or_default();
        let current_value = parts.next().map(<[u8]>::to_vec);
        let new_value = parts.next().map(<[u8]>::to_vec);
        let sysctl = crate::SysctlContext {
            write: super::get_u32(&header, 0) != 0,
            file_pos: super::get_u32(&header, 4),
            name: String::from_utf8(name.to_vec())
                .map_err(|_| invalid("the sysctl name in data_in is not UTF-8"))?,
            current_value,
            new_value: new_value.clone(),
        };
        let image = sysctl.image().map_err(|e| invalid(e.to_string()))?;
        let mut ctx = HostBuf::zeroed(image.len());
        ctx.bytes_mut().copy_from_slice(&image);
        let mut env = self.env(prog, input.cpu, Arc::clone(&input.task));
        let regions = [ctx.region(true)];
        let result = self.run_repeated(runner, prog, &mut env, &regions, input.repeat)?;
        let outcome = crate::SysctlContext::outcome(ctx.bytes())
            .map_err(|e| invalid(format!("after the run: {e}")))?;
        let mut ctx_out = header.to_vec();
        ctx_out[4..8].copy_from_slice(&outcome.file_pos.to_ne_bytes());
        let stored = outcome.new_value.or(new_value).unwrap_or_default();
        Ok(finish(
            env,
            result,
            Some(super::data_out(stored, input.data_size_out)),
            input.ctx_in.map(|_| ctx_out),
        ))
    }

    /// sk_skb programs (stream parser and verdict), which the kernel does
    /// not test-run: `data_in` is the stream data, which the program sees
    /// from `data` with no link or network header in front (`skb->len` is
    /// its length); `ctx_in` a `struct __sk_buff` with only the fields
    /// `bpf_prog_test_run_skb` accepts. Apiary has no socket behind it, so
    /// the socket fields read 0. `data_out` is the data after the run,
    /// `ctx_out` the context as the skb test-run gives it back.
    pub(super) fn test_run_sk_skb(
        self: &Arc<Self>,
        runner: &mut Runner<Env>,
        prog: ProgId,
        input: &TestRunInput<'_>,
    ) -> Result<TestRunOutput, TestRunError> {
        no_flags_or_cpu(input, "sk_skb")?;
        let data = input.data_in.unwrap_or_default();
        let max =
            super::PAGE_SIZE - super::SKB_HEADROOM - crate::packet::SHARED_INFO_SIZE - ETH_HLEN;
        if data.len() > max {
            return Err(invalid(format!(
                "data_in is {} bytes; sk_skb programs take at most {max}",
                data.len()
            )));
        }
        let image = match input.ctx_in {
            Some(ctx_in) => Some(context_image::<{ skb_off::SIZE }>(ctx_in, "__sk_buff")?),
            None => None,
        };
        if let Some(image) = &image {
            super::skb_ctx_rules(image, data.len())?;
            let ifindex = super::get_u32(image, skb_off::IFINDEX);
            if ifindex > LOOPBACK_IFINDEX {
                return Err(invalid(format!(
                    "ifindex {ifindex}: Apiary knows only the loopback device"
                )));
            }
        }
        // The stream data sits where a network header would: a zeroed
        // link header in front, which the program does not see.
        let mut frame = vec![0u8; ETH_HLEN];
        frame.extend_from_slice(data);
        let setup = SkbSetup {
            image: image.unwrap_or([0; skb_off::SIZE]),
            ifindex: LOOPBACK_IFINDEX,
            has_context: image.is_some(),
        };
        let mut env = self.env(prog, input.cpu, Arc::clone(&input.task));
        env.packet = Some(Box::new(Packet::skb(&frame, false, &setup)));
        let result = self.run_repeated(runner, prog, &mut env, &[], input.repeat)?;
        let packet = env.packet.take().ok_or(TestRunError::NoSuchProgram)?;
        let data_out = super::data_out(packet.bytes().to_vec(), input.data_size_out);
        let ctx_out = image.map(|ctx| super::skb_ctx_out(ctx, &packet));
        Ok(finish(env, result, Some(data_out), ctx_out))
    }

    /// `bpf_prog_test_run_sk_lookup`: `ctx_in` (required) is `struct
    /// bpf_sk_lookup` with `sk`/`cookie` 0 and nothing set after
    /// `local_port` (`ingress_ifindex` included), `local_port` at most
    /// 65535, `family` `AF_INET` or `AF_INET6` (only that family's addresses
    /// are seen). `retval` is `SK_PASS` unless the program returns
    /// `SK_DROP`; `ctx_out` is the context with the selected socket's
    /// cookie, always 0 as Apiary has no sockets to select.
    pub(super) fn test_run_sk_lookup(
        self: &Arc<Self>,
        runner: &mut Runner<Env>,
        prog: ProgId,
        input: &TestRunInput<'_>,
    ) -> Result<TestRunOutput, TestRunError> {
        no_flags_or_cpu(input, "sk_lookup")?;
        no_packet(input, "sk_lookup")?;
        let ctx_in = input
            .ctx_in
            .ok_or_else(|| invalid("sk_lookup programs need a ctx_in (struct bpf_sk_lookup)"))?;
        let user = context_image::<SK_LOOKUP_SIZE>(ctx_in, "bpf_sk_lookup")?;
        if get_u64(&user, 0) != 0 {
            return Err(invalid("bpf_sk_lookup.sk (cookie) must be 0 in ctx_in"));
        }
        if user[sk_lookup_off::LOCAL_PORT + 4..]
            .iter()
            .any(|b| *b != 0)
        {
            return Err(invalid(
                "bpf_sk_lookup fields after local_port (ingress_ifindex) must be 0 in ctx_in",
            ));
        }
        let local_port = super::get_u32(&user, sk_lookup_off::LOCAL_PORT);
        if local_port > u32::from(u16::MAX) {
            return Err(invalid(format!(
                "bpf_sk_lookup.local_port {local_port} is above 65535 (ERANGE)"
            )));
        }
        let mut image = user;
        // The kernel's context holds one family's addresses; the other's
        // read as zero.
        match super::get_u32(&user, sk_lookup_off::FAMILY) {
            AF_INET => {
                image[sk_lookup_off::REMOTE_IP6..sk_lookup_off::REMOTE_IP6 + 16].fill(0);
                image[sk_lookup_off::LOCAL_IP6..sk_lookup_off::LOCAL_IP6 + 16].fill(0);
            }
            AF_INET6 => {
                image[sk_lookup_off::REMOTE_IP4..sk_lookup_off::REMOTE_IP4 + 4].fill(0);
                image[sk_lookup_off::LOCAL_IP4..sk_lookup_off::LOCAL_IP4 + 4].fill(0);
            }
            family => {
                return Err(invalid(format!(
                    "bpf_sk_lookup.family {family} is neither AF_INET nor AF_INET6 (EAFNOSUPPORT)"
                )));
            }
        }
        let mut env = self.env(prog, input.cpu, Arc::clone(&input.task));
        let region = Region::readable(&image).with_kind(RegionKind::Context);
        let (r0, duration) = self.run_repeated(runner, prog, &mut env, &[region], input.repeat)?;
        let verdict = if r0 == 0 { 0 } else { SK_PASS };
        Ok(finish(env, (verdict, duration), None, Some(user.to_vec())))
    }

    /// `bpf_prog_test_run_flow_dissector`: `data_in` is an Ethernet frame
    /// the program sees from its MAC header (read-only, and, as in the
    /// kernel's test-run, not through `bpf_skb_load_bytes`, which fails
    /// with -EFAULT for want of an sk_buff); before each run the keys are
    /// zeroed with `nhoff` = `thoff` = 14, `n_proto` the EtherType and
    /// `flags` from `ctx_in` (a `struct bpf_flow_keys` with nothing else
    /// set); after it `nhoff` and `thoff` are clamped to the frame as the
    /// kernel does. `data_out` is the keys; `ctx_out` the context given.
    pub(super) fn test_run_flow_dissector(
        self: &Arc<Self>,
        runner: &mut Runner<Env>,
        prog: ProgId,
        input: &TestRunInput<'_>,
    ) -> Result<TestRunOutput, TestRunError> {
        no_flags_or_cpu(input, "flow_dissector")?;
        let data = input.data_in.unwrap_or_default();
        if data.len() < ETH_HLEN {
            return Err(invalid(format!(
                "data_in is {} bytes, shorter than an Ethernet header (14)",
                data.len()
            )));
        }
        let max = super::PAGE_SIZE;
        if data.len() > max {
            return Err(invalid(format!(
                "data_in is {} bytes; flow dissector programs take at most {max}",
                data.len()
            )));
        }
        let user = match input.ctx_in {
            Some(ctx_in) => Some(context_image::<FLOW_KEYS_SIZE>(ctx_in, "bpf_flow_keys")?),
            None => None,
        };
        let flags = user.map_or(0, |u| super::get_u32(&u, flow_keys::FLAGS));
        if let Some(user) = &user {
            let mut others = *user;
            others[flow_keys::FLAGS..flow_keys::FLAGS + 4].fill(0);
            if others.iter().any(|b| *b != 0) {
                return Err(invalid("ctx_in (struct bpf_flow_keys) may set only flags"));
            }
        }
        let mut keys = HostBuf::zeroed(FLOW_KEYS_SIZE);
        let mut frame = HostBuf::zeroed(data.len());
        frame.bytes_mut().copy_from_slice(data);
        let frame_start = frame.region(false).addr();
        // The kernel's flow dissector context has the frame (`data`,
        // `data_end`) but no sk_buff, so bpf_skb_load_bytes fails with
        // -EFAULT in its test-runs: the helpers here get an empty skb,
        // which gives them the same answer.
        let setup = SkbSetup {
            image: [0; skb_off::SIZE],
            ifindex: LOOPBACK_IFINDEX,
            has_context: false,
        };
        let mut packet = Packet::skb(&[], true, &setup);
        let image = packet.ctx_mut();
        put_u64(image, SKB_FLOW_KEYS, keys.region(true).addr());
        put_u64(image, SKB_DATA as usize, frame_start);
        put_u64(image, SKB_DATA_META as usize, frame_start);
        put_u64(
            image,
            SKB_DATA_END as usize,
            frame_start + data.len() as u64,
        );
        let mut env = self.env(prog, input.cpu, Arc::clone(&input.task));
        env.packet = Some(Box::new(packet));
        let proto = [data[12], data[13]];
        let hlen = data.len() as u16;
        let nhoff = ETH_HLEN as u16;
        let runs = input.repeat.max(1);
        let (mut retval, mut total) = (0, 0u64);
        for _ in 0..runs {
            let fresh = keys.bytes_mut();
            fresh.fill(0);
            fresh[flow_keys::N_PROTO..flow_keys::N_PROTO + 2].copy_from_slice(&proto);
            put_u16(fresh, flow_keys::NHOFF, nhoff);
            put_u16(fresh, flow_keys::THOFF, nhoff);
            fresh[flow_keys::FLAGS..flow_keys::FLAGS + 4].copy_from_slice(&flags.to_ne_bytes());
            let regions = [keys.region(true), frame.region(false)];
            let (r0, duration) = self.run_repeated(runner, prog, &mut env, &regions, 1)?;
            retval = r0;
            total += u64::from(duration);
            let after = keys.bytes_mut();
            let nh = get_u16(after, flow_keys::NHOFF).clamp(nhoff, hlen);
            let th = get_u16(after, flow_keys::THOFF).clamp(nh, hlen);
            put_u16(after, flow_keys::NHOFF, nh);
            put_u16(after, flow_keys::THOFF, th);
        }
        env.packet = None;
        let mean = u32::try_from(total / u64::from(runs)).unwrap_or(u32::MAX);
        let data_out = super::data_out(keys.bytes().to_vec(), input.data_size_out);
        Ok(finish(
            env,
            (retval, mean),
            Some(data_out),
            user.map(|u| u.to_vec()),
        ))
    }

    /// `bpf_prog_test_run_nf`: `data_in` is the packet (an IP packet for
    /// the default `NF_INET_LOCAL_OUT` hook, an Ethernet frame for the
    /// others), `ctx_in` optionally `struct nf_hook_state` with only `hook`
    /// and `pf` (`NFPROTO_IPV4` or `NFPROTO_IPV6`) set. The program's
    /// `state` and `skb` point at images of the kernel's `struct
    /// nf_hook_state` and `struct sk_buff` laid out as this machine's
    /// vmlinux BTF says, holding `hook`, `pf`, `skb->len` and
    /// `skb->protocol` (other members read as 0). No `data_out`.
    pub(super) fn test_run_netfilter(
        self: &Arc<Self>,
        runner: &mut Runner<Env>,
        prog: ProgId,
        input: &TestRunInput<'_>,
    ) -> Result<TestRunOutput, TestRunError> {
        no_flags_or_cpu(input, "netfilter")?;
        let layout = kernel_layout::nf().map_err(|why| {
            invalid(format!(
                "netfilter test-runs need the kernel's sk_buff layout: {why}"
            ))
        })?;
        let data = input.data_in.unwrap_or_default();
        if data.len() < IPV4_HLEN {
            return Err(invalid(format!(
                "data_in is {} bytes, shorter than an IPv4 header (20)",
                data.len()
            )));
        }
        let max = super::PAGE_SIZE - super::SKB_HEADROOM - crate::packet::SHARED_INFO_SIZE;
        if data.len() > max {
            return Err(invalid(format!(
                "data_in is {} bytes; netfilter programs take at most {max}",
                data.len()
            )));
        }
        let (mut hook, mut pf) = (NF_INET_LOCAL_OUT, NFPROTO_IPV4);
        if let Some(ctx_in) = input.ctx_in {
            let state = context_image::<{ kernel_layout::MAX_STATE }>(ctx_in, "nf_hook_state")?;
            if ctx_in.len() > layout.state_size
                && ctx_in[layout.state_size..].iter().any(|b| *b != 0)
            {
                return Err(invalid(format!(
                    "ctx_in has non-zero bytes past the {}-byte struct nf_hook_state (E2BIG)",
                    layout.state_size
                )));
            }
            let named = [layout.hook, layout.pf];
            if state[..layout.state_size.min(state.len())]
                .iter()
                .enumerate()
                .any(|(i, b)| *b != 0 && !named.contains(&i))
            {
                return Err(invalid(
                    "nf_hook_state may set only hook and pf in ctx_in (in, out, sk, net and \
                     okfn are the kernel's)",
                ));
            }
            (hook, pf) = (state[layout.hook], state[layout.pf]);
            if pf != NFPROTO_IPV4 && pf != NFPROTO_IPV6 {
                return Err(invalid(format!(
                    "nf_hook_state.pf {pf} is neither NFPROTO_IPV4 nor NFPROTO_IPV6"
                )));
            }
        }
        let (len, protocol) = if hook == NF_INET_LOCAL_OUT {
            let proto = if pf == NFPROTO_IPV4 {
                ETH_P_IP
            } else {
                ETH_P_IPV6
            };
            (data.len(), proto)
        } else {
            if data.len() < ETH_HLEN + IPV4_HLEN {
                return Err(invalid(format!(
                    "data_in is {} bytes, shorter than Ethernet and IPv4 headers (34)",
                    data.len()
                )));
            }
            let ethertype = u16::from_be_bytes([data[12], data[13]]);
            match ethertype {
                ETH_P_IP if pf == NFPROTO_IPV4 => {}
                ETH_P_IPV6 if data.len() >= ETH_HLEN + IPV6_HLEN && pf == NFPROTO_IPV6 => {}
                ETH_P_IP | ETH_P_IPV6 => {
                    return Err(invalid(format!(
                        "data_in's EtherType {ethertype:#06x} does not match nf_hook_state.pf \
                         {pf} (or the IPv6 header is cut short)"
                    )));
                }
                _ => {
                    return Err(invalid(format!(
                        "data_in's EtherType {ethertype:#06x} is neither IPv4 nor IPv6 (EPROTO)"
                    )));
                }
            }
            (data.len() - ETH_HLEN, ethertype)
        };
        let mut state = HostBuf::zeroed(layout.state_size);
        state.bytes_mut()[layout.hook] = hook;
        state.bytes_mut()[layout.pf] = pf;
        let mut skb = HostBuf::zeroed(layout.skb_size);
        let len_bytes = (len as u32).to_ne_bytes();
        skb.bytes_mut()[layout.skb_len..layout.skb_len + 4].copy_from_slice(&len_bytes);
        skb.bytes_mut()[layout.skb_protocol..layout.skb_protocol + 2]
            .copy_from_slice(&protocol.to_be_bytes());
        let mut ctx = [0u8; 16];
        put_u64(&mut ctx, 0, state.region(false).addr());
        put_u64(&mut ctx, 8, skb.region(false).addr());
        let mut env = self.env(prog, input.cpu, Arc::clone(&input.task));
        let regions = [
            Region::readable(&ctx).with_kind(RegionKind::Context),
            state.region(false),
            skb.region(false),
        ];
        let result = self.run_repeated(runner, prog, &mut env, &regions, input.repeat)?;
        Ok(finish(env, result, None, None))
    }
}

/// Offsets in the running kernel's structs, from its BTF.
mod kernel_layout {
    use std::sync::OnceLock;

    /// Largest `struct nf_hook_state` accepted.
    pub const MAX_STATE: usize = 256;
    /// Largest `struct sk_buff` built.
    const MAX_SKB: usize = 4096;

    /// What netfilter test-runs need.
    #[derive(Debug, Clone, Copy)]
    pub struct NfLayout {
        pub state_size: usize,
        pub hook: usize,
        pub pf: usize,
        pub skb_size: usize,
        pub skb_len: usize,
        pub skb_protocol: usize,
    }

    /// The layout, read once from `/sys/kernel/btf/vmlinux`.
    pub fn nf() -> Result<NfLayout, String> {
        static LAYOUT: OnceLock<Result<NfLayout, String>> = OnceLock::new();
        LAYOUT.get_or_init(read).clone()
    }

    fn read() -> Result<NfLayout, String> {
        let path = "/sys/kernel/btf/vmlinux";
        let bytes = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
        let btf = apiary_loader::btf_from_file_bytes(&bytes).map_err(|e| format!("{path}: {e}"))?;
        let member = |strukt: &str, name: &str| -> Result<(usize, usize), String> {
            let id = btf
                .find_all_by_name(strukt)
                .into_iter()
                .find(|id| btf.members(*id).is_ok())
                .ok_or_else(|| format!("no struct {strukt} in {path}"))?;
            let size = btf.size_of(id).map_err(|e| e.to_string())? as usize;
            let found = btf
                .flat_members(id)
                .map_err(|e| e.to_string())?
                .into_iter()
                .find(|m| m.name == name)
                .ok_or_else(|| format!("struct {strukt} has no member {name}"))?;
            Ok((size, (found.bit_offset / 8) as usize))
        };
        let (state_size, hook) = member("nf_hook_state", "hook")?;
        let (_, pf) = member("nf_hook_state", "pf")?;
        let (skb_size, skb_len) = member("sk_buff", "len")?;
        let (_, skb_protocol) = member("sk_buff", "protocol")?;
        let layout = NfLayout {
            state_size,
            hook,
            pf,
            skb_size,
            skb_len,
            skb_protocol,
        };
        let fits = state_size <= MAX_STATE
            && hook < state_size
            && pf < state_size
            && skb_size <= MAX_SKB
            && skb_len + 4 <= skb_size
            && skb_protocol + 2 <= skb_size;
        if !fits {
            return Err(format!("implausible layout {layout:?} in {path}"));
        }
        Ok(layout)
    }
}
