//! Loads, stores and atomics (`check_mem_access`): each pointer type has
//! its own bounds (the stack's 512 bytes, the packet range proven by
//! comparisons, a map's value size, helper memory's size, the context's
//! field rules), and anything else may not be dereferenced at all.

use apiary_context::{AccessKind, Loaded};
use apiary_isa::Size;
use apiary_kernel::types::{ProgType, map_flags};

use crate::error::{PacketAccess, Rejection};
use crate::explore::Env;
use crate::regs::{RegState, RegType};
use crate::scalar::Scalar;
use crate::stack::{MAX_STACK, Stored};
use crate::state::State;

/// `sizeof(struct bpf_flow_keys)`.
const FLOW_KEYS_SIZE: i32 = 56;

/// How an instruction touches memory.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Access {
    /// A load, sign-extending or not.
    Read { sign_extend: bool },
    /// A store of a register or an immediate.
    Write(Stored),
    /// An atomic read-modify-write (reads and writes).
    Atomic,
}

impl Access {
    fn writes(self) -> bool {
        !matches!(self, Access::Read { .. })
    }

    fn context_kind(self) -> AccessKind {
        match self {
            Access::Read { sign_extend: false } => AccessKind::Read,
            Access::Read { sign_extend: true } => AccessKind::ReadSignExtend,
            Access::Write(Stored::Reg(_)) => AccessKind::Write,
            Access::Write(Stored::Imm(_)) => AccessKind::WriteImm,
            Access::Atomic => AccessKind::Atomic,
        }
    }
}

/// Refuses an atomic store (read-modify-write or `store_release`) through
/// `reg` into memory the kernel does not let atomics touch.
pub(crate) fn atomic_store_target(insn: usize, regno: u8, reg: &RegState) -> Result<(), Rejection> {
    if !matches!(
        reg.kind,
        RegType::Ctx | RegType::Packet | RegType::PacketMeta | RegType::FlowKeys | RegType::Socket
    ) {
        return Ok(());
    }
    Err(Rejection::new(
        insn,
        format!(
            "BPF_ATOMIC stores into R{regno} {} is not allowed",
            reg.kind.name()
        ),
    )
    .reg(regno, *reg)
    .cause(format!(
        "atomic stores cannot target {} memory",
        reg.kind.name()
    )))
}

/// One memory access through register `regno` at `off`: checks it and
/// returns what a load gives (the caller writes it to the destination).
pub(crate) fn access(
    env: &Env,
    state: &mut State,
    insn: usize,
    regno: u8,
    off: i16,
    size: Size,
    access: Access,
) -> Result<RegState, Rejection> {
    let reg = state.frame().regs[regno as usize];
    let bytes = size.bytes() as i32;
    let total = reg.off + i32::from(off);
    let invalid = || {
        let name = reg.type_name();
        Err(
            Rejection::new(insn, format!("R{regno} invalid mem access '{name}'"))
                .reg(regno, reg)
                .cause(if reg.maybe_null {
                    format!(
                        "R{regno} may be NULL ({name}) and is dereferenced without a NULL check"
                    )
                } else {
                    format!("R{regno} is a {name}, which cannot be dereferenced")
                }),
        )
    };
    if reg.maybe_null {
        return invalid();
    }
    if matches!(access, Access::Atomic) {
        atomic_store_target(insn, regno, &reg)?;
    }
    // Atomics must be aligned on every architecture (`strict_alignment_once`),
    // and stack accesses always (spill tracking relies on it).
    if matches!(access, Access::Atomic) || reg.kind == RegType::Stack {
        aligned(insn, regno, &reg, off.into(), bytes)?;
    }
    let loaded = match reg.kind {
        RegType::Stack => stack_access(state, insn, regno, &reg, total, bytes, access)?,
        RegType::Ctx => ctx_access(
            env,
            insn,
            regno,
            &reg,
            off,
            bytes,
            access,
            &mut state.next_id,
        )?,
        RegType::Packet | RegType::PacketMeta => {
            packet_access(env, insn, regno, &reg, total, bytes, access)?
        }
        RegType::MapValue => {
            let map = &env.prog.maps[reg.map as usize];
            if access.writes() && map.flags & map_flags::RDONLY_PROG != 0 {
                return Err(Rejection::new(
                    insn,
                    format!(
                        "write into map forbidden, value_size={} off={total} size={bytes}",
                        map.value_size
                    ),
                )
                .reg(regno, reg)
                .cause("the map is read-only for programs"));
            }
            region_access(insn, regno, &reg, total, bytes, map.value_size, "map value")?;
            crate::map_fields::check(insn, map, regno, &reg, total, bytes)?;
            match (&map.frozen_value, access, reg.value.is_const()) {
                (Some(data), Access::Read { .. }, true) => {
                    direct_read(data, total as i64 + reg.value.var_off.value as i64, bytes)
                }
                _ => RegState::unknown(),
            }
        }
        RegType::MapKey if !access.writes() => {
            let map = &env.prog.maps[reg.map as usize];
            region_access(insn, regno, &reg, total, bytes, map.key_size, "map key")?;
            RegState::unknown()
        }
        RegType::Mem if reg.rdonly && access.writes() => {
            return Err(Rejection::new(
                insn,
                format!("R{regno} cannot write into {}", reg.type_name()),
            )
            .reg(regno, reg)
            .cause("the memory is read-only: an iterator's current value")
            .help("copy the value into a local variable and change the copy"));
        }
        RegType::Mem | RegType::RingbufMem => {
            region_access(insn, regno, &reg, total, bytes, reg.mem_size, "memory")?;
            RegState::unknown()
        }
        RegType::FlowKeys => {
            if total < 0 || total + bytes > FLOW_KEYS_SIZE {
                return Err(Rejection::new(
                    insn,
                    format!("invalid access to flow keys off={total} size={bytes}"),
                )
                .reg(regno, reg)
                .cause(format!("struct bpf_flow_keys has {FLOW_KEYS_SIZE} bytes")));
            }
            RegState::unknown()
        }
        RegType::BtfId | RegType::MapPtr => {
            let field = crate::btf_ptr::StructAccess {
                prog: env.prog,
                insn,
                regno,
                reg: &reg,
                off: total,
                bytes,
                writes: access.writes(),
            };
            let read = if reg.kind == RegType::BtfId {
                Some(crate::btf_ptr::access(&field, &mut state.next_id))
            } else {
                crate::map_struct::access(&field, &mut state.next_id)
            };
            match read {
                Some(read) => read?,
                None => return invalid(),
            }
        }
        RegType::Socket | RegType::SockCommon | RegType::TcpSock => {
            crate::sock_access::check(insn, regno, &reg, total, bytes, access.writes())?;
            RegState::unknown()
        }
        _ => return invalid(),
    };
    Ok(match access {
        Access::Read { sign_extend } if loaded.is_scalar() && bytes < 8 => {
            narrow(loaded, bytes, sign_extend)
        }
        _ => loaded,
    })
}

/// A scalar loaded in `bytes` (fewer than 8), truncated or sign-extended
/// to them (`coerce_reg_to_size`, `coerce_reg_to_size_sx`). A fill keeps
/// the link to its spilled register, unless a sign extension changes the
/// value.
pub(crate) fn narrow(loaded: RegState, bytes: i32, sign_extend: bool) -> RegState {
    let mut value = loaded.value;
    let unchanged = !sign_extend || value.umax < 1 << (8 * bytes - 1);
    if sign_extend {
        value.coerce_to_size_sx(bytes as u8);
    } else {
        value.coerce_to_size(bytes as u8);
    }
    let mut out = RegState::scalar(value);
    if unchanged {
        out.id = loaded.id;
    }
    out
}

/// A helper's access to `bytes` bytes at the pointer in `regno` (packet,
/// map value or key, helper memory), bounds-checked as a load or store of
/// that size would be.
pub(crate) fn sized_access(
    env: &Env,
    insn: usize,
    regno: u8,
    reg: &RegState,
    bytes: i32,
    writes: bool,
) -> Result<(), Rejection> {
    let access = if writes {
        Access::Write(Stored::Reg(RegState::unknown()))
    } else {
        Access::Read { sign_extend: false }
    };
    let total = reg.off;
    let maps = env.prog.maps;
    match reg.kind {
        RegType::Packet | RegType::PacketMeta => {
            packet_access(env, insn, regno, reg, total, bytes, access).map(drop)
        }
        RegType::MapValue => {
            let map = &maps[reg.map as usize];
            region_access(insn, regno, reg, total, bytes, map.value_size, "map value")?;
            crate::map_fields::check(insn, map, regno, reg, total, bytes)
        }
        RegType::MapKey => region_access(
            insn,
            regno,
            reg,
            total,
            bytes,
            maps[reg.map as usize].key_size,
            "map key",
        ),
        _ => region_access(insn, regno, reg, total, bytes, reg.mem_size, "memory"),
    }
}

fn stack_access(
    state: &mut State,
    insn: usize,
    regno: u8,
    reg: &RegState,
    total: i32,
    bytes: i32,
    access: Access,
) -> Result<RegState, Rejection> {
    let what = if access.writes() {
        " write to"
    } else {
        " read from"
    };
    if !reg.value.is_const() {
        return var_stack_access(state, insn, regno, reg, total, bytes, access);
    }
    if total < -MAX_STACK || total + bytes > 0 {
        return Err(Rejection::new(
            insn,
            format!("invalid{what} stack R{regno} off={total} size={bytes}"),
        )
        .reg(regno, reg)
        .cause(format!(
            "the access at fp{total:+} of {bytes} bytes is outside the 512-byte stack"
        )));
    }
    aligned(insn, regno, reg, total - reg.off, bytes)?;
    let frame = reg.frameno as usize;
    let current = state.frames.len() - 1;
    if let Access::Write(Stored::Reg(value)) = access
        && value.kind == RegType::Stack
        && frame != current
    {
        return Err(Rejection::new(
            insn,
            "cannot spill pointers to stack into stack frame of the caller",
        )
        .reg(regno, reg)
        .cause("a function stores a pointer to a stack into its caller's stack, where it could outlive the frame"));
    }
    let Some(stack) = state.frames.get_mut(frame).map(|f| &mut f.stack) else {
        return Err(
            Rejection::new(insn, format!("R{regno} invalid mem access 'fp'"))
                .reg(regno, reg)
                .cause("the stack this pointer points into no longer exists"),
        );
    };
    let fail = |e: crate::stack::StackError| Rejection::new(insn, e.message()).reg(regno, reg);
    match access {
        Access::Read { .. } => stack.read(total, bytes).map_err(fail),
        Access::Write(value) => stack
            .write(total, bytes, value)
            .map_err(fail)
            .map(|()| RegState::NOT_INIT),
        Access::Atomic => {
            // The fetch is a fill (`check_atomic_rmw` reads into the
            // fetching register as a load does): a spilled constant, or the
            // zero of a spilled zero, stays known.
            let old = stack.read(total, bytes).map_err(fail)?;
            if !old.is_scalar() && bytes == 8 {
                stack
                    .write(total, bytes, Stored::Reg(RegState::unknown()))
                    .map_err(fail)?;
            } else {
                stack.clobber(total, bytes);
            }
            Ok(old)
        }
    }
}

/// Whether `fp`/`ptr + reg.off + off` is a multiple of `bytes` for every
/// variable offset (`check_generic_ptr_alignment`).
fn aligned(insn: usize, regno: u8, reg: &RegState, off: i32, bytes: i32) -> Result<(), Rejection> {
    let at = reg
        .value
        .var_off
        .add(crate::tnum::Tnum::constant((reg.off + off) as i64 as u64));
    if at.is_aligned(bytes as u64) {
        return Ok(());
    }
    let desc = match reg.kind {
        RegType::Stack => "stack ",
        RegType::MapValue => "value ",
        RegType::Ctx => "context ",
        RegType::FlowKeys => "flow keys ",
        RegType::Socket | RegType::SockCommon => "sock ",
        RegType::TcpSock => "tcp_sock ",
        _ => "",
    };
    Err(Rejection::new(
        insn,
        format!(
            "misaligned {desc}access off {}+{}+{off} size {bytes}",
            reg.value.var_off, reg.off
        ),
    )
    .reg(regno, reg)
    .cause(format!(
        "the {bytes}-byte access is not aligned to {bytes} bytes, which {} requires",
        if desc == "stack " {
            "the stack"
        } else {
            "an atomic operation"
        }
    )))
}

/// A stack access at a variable offset: every byte it may touch must be
/// inside the stack; a write makes them all misc, a read gives a number.
fn var_stack_access(
    state: &mut State,
    insn: usize,
    regno: u8,
    reg: &RegState,
    total: i32,
    bytes: i32,
    access: Access,
) -> Result<RegState, Rejection> {
    /// The kernel's `BPF_MAX_VAR_OFF`.
    const MAX_VAR_OFF: i64 = 1 << 29;
    let what = if access.writes() {
        " write to"
    } else {
        " read from"
    };
    if reg.value.smax >= MAX_VAR_OFF || reg.value.smin <= -MAX_VAR_OFF {
        return Err(Rejection::new(
            insn,
            format!("invalid unbounded variable-offset{what} stack R{regno}"),
        )
        .reg(regno, reg)
        .cause("the variable offset has no useful bound")
        .help("bound the offset first, e.g. `idx &= 7;` or `if (idx >= N) return 0;`"));
    }
    let min = reg.value.smin.saturating_add(total.into());
    let max = reg.value.smax.saturating_add(total.into());
    if min < -i64::from(MAX_STACK) || max + i64::from(bytes) > 0 {
        return Err(Rejection::new(
            insn,
            format!(
                "invalid variable-offset{what} stack R{regno} var_off={} off={total} size={bytes}",
                reg.value.var_off
            ),
        )
        .reg(regno, reg)
        .cause("the variable offset may reach outside the 512-byte stack"));
    }
    let Some(stack) = state
        .frames
        .get_mut(reg.frameno as usize)
        .map(|f| &mut f.stack)
    else {
        return Err(
            Rejection::new(insn, format!("R{regno} invalid mem access 'fp'")).reg(regno, reg),
        );
    };
    if access.writes() {
        stack.clobber(min as i32, (max - min) as i32 + bytes);
    }
    Ok(RegState::unknown())
}

#[allow(clippy::too_many_arguments)]
fn ctx_access(
    env: &Env,
    insn: usize,
    regno: u8,
    reg: &RegState,
    off: i16,
    bytes: i32,
    access: Access,
    next_id: &mut u32,
) -> Result<RegState, Rejection> {
    if !reg.value.var_off.equals_const(0) {
        return Err(Rejection::new(
            insn,
            format!(
                "variable ctx access var_off={} disallowed",
                reg.value.var_off
            ),
        )
        .reg(regno, reg)
        .cause("the context pointer was moved by a variable amount"));
    }
    if reg.off != 0 {
        return Err(Rejection::new(
            insn,
            format!(
                "dereference of modified ctx ptr R{regno} off={} disallowed",
                reg.off
            ),
        )
        .reg(regno, reg)
        .cause("context fields must be read through the unmodified context pointer plus a constant")
        .help("use the context pointer itself with the field's offset in the instruction"));
    }
    let prog = env.prog;
    let loaded = apiary_context::check_access(
        prog.prog_type,
        prog.attach_type,
        env.btf_ctx.as_ref().map(|c| c.args),
        off.into(),
        bytes as u32,
        access.context_kind(),
    )
    .map_err(|rule| {
        let detail = env
            .btf_ctx
            .as_ref()
            .and_then(|c| c.refusal_line(rule, off, bytes));
        let refusal = Rejection::new(
            insn,
            format!("invalid bpf_context access off={off} size={bytes}"),
        );
        match detail {
            Some(line) => refusal.context(line),
            None => refusal,
        }
        .reg(regno, reg)
        .cause(format!(
            "{} of {bytes} bytes at offset {off} of the {} context: {rule}",
            access.context_kind(),
            apiary_context::layout(prog.prog_type).name
        ))
    })?;
    Ok(match loaded {
        Loaded::Scalar => match &env.btf_ctx {
            Some(typed) => typed
                .load(insn, off, bytes, next_id)
                .map_err(|r| r.reg(regno, reg))?,
            None => RegState::unknown(),
        },
        Loaded::PacketStart => RegState::pointer(RegType::Packet),
        Loaded::PacketEnd => RegState::pointer(RegType::PacketEnd),
        Loaded::PacketMeta => RegState::pointer(RegType::PacketMeta),
        Loaded::FlowKeys => RegState::pointer(RegType::FlowKeys),
        Loaded::Socket => RegState::pointer(RegType::Socket),
        Loaded::SocketOrNull => {
            let kind = if apiary_context::layout(prog.prog_type).name == "__sk_buff" {
                RegType::SockCommon
            } else {
                RegType::Socket
            };
            RegState {
                maybe_null: true,
                id: {
                    *next_id += 1;
                    *next_id
                },
                ..RegState::pointer(kind)
            }
        }
    })
}

/// Program types that may write packet data directly (`may_access_direct_pkt_data`).
fn may_write_packet(prog_type: ProgType) -> bool {
    matches!(
        prog_type,
        ProgType::SCHED_CLS
            | ProgType::SCHED_ACT
            | ProgType::XDP
            | ProgType::LWT_XMIT
            | ProgType::SK_SKB
            | ProgType::SK_MSG
            | ProgType::CGROUP_SOCKOPT
    )
}

fn packet_access(
    env: &Env,
    insn: usize,
    regno: u8,
    reg: &RegState,
    total: i32,
    bytes: i32,
    access: Access,
) -> Result<RegState, Rejection> {
    if access.writes() && !may_write_packet(env.prog.prog_type) {
        return Err(Rejection::new(insn, "cannot write into packet")
            .reg(regno, reg)
            .cause(format!(
                "{} programs may not write packet data",
                env.prog.prog_type
            )));
    }
    if reg.value.smin < 0 {
        return Err(Rejection::new(
            insn,
            format!("R{regno} min value is negative, either use unsigned index or do a if (index >=0) check."),
        )
        .reg(regno, reg)
        .cause("the variable offset added to the packet pointer may be negative"));
    }
    if reg.range >= 0 && total >= 0 && total + bytes <= reg.range {
        return Ok(RegState::unknown());
    }
    let end = total + bytes;
    let proven = reg.range.max(0);
    Err(Rejection::new(insn, format!("R{regno} offset is outside of the packet"))
        .context(format!(
            "invalid access to packet, off={total} size={bytes}, R{regno}(id={},off={total},r={})",
            reg.id, reg.range
        ))
        .reg(regno, reg)
        .packet(PacketAccess {
            start: total,
            end,
            writes: access.writes(),
            proven,
            proven_at: reg.range_from.map(|at| at as usize),
            proven_source: None,
        })
        .cause(format!(
            "packet {} of {bytes} byte{} at data+{total} is not proven to be inside the packet",
            if access.writes() { "write" } else { "read" },
            if bytes == 1 { "" } else { "s" },
        ))
        .help(format!(
            "the checks so far prove data+0..data+{proven}; compare data+{end} with data_end before this access"
        )))
}

/// A map value, key or helper memory of `size` bytes accessed at `total`
/// plus the pointer's variable part (`check_mem_region_access`).
fn region_access(
    insn: usize,
    regno: u8,
    reg: &RegState,
    total: i32,
    bytes: i32,
    size: u32,
    what: &str,
) -> Result<(), Rejection> {
    let v = &reg.value;
    let total = i64::from(total);
    let fits = |at: i64| at >= 0 && at + i64::from(bytes) <= i64::from(size);
    let detail = |at: i64| match what {
        "map value" => {
            format!("invalid access to map value, value_size={size} off={at} size={bytes}")
        }
        "map key" => format!("invalid access to map key, key_size={size} off={at} size={bytes}"),
        _ => format!("invalid access to memory, mem_size={size} off={at} size={bytes}"),
    };
    let refuse = |line: String, context: Option<String>, cause: String| {
        let mut r = Rejection::new(insn, line).reg(regno, reg).cause(cause);
        if let Some(c) = context {
            r = r.context(c);
        }
        Err(r)
    };
    if v.smin < 0 && (v.smin == i64::MIN || v.smin + total < 0) {
        return refuse(
            format!(
                "R{regno} min value is negative, either use unsigned index or do a if (index >=0) check."
            ),
            None,
            format!("the index into the {what} may be negative"),
        );
    }
    if !fits(v.smin + total) {
        return refuse(
            format!("R{regno} min value is outside of the allowed memory range"),
            Some(detail(v.smin + total)),
            format!("the smallest offset into the {what} is out of bounds"),
        );
    }
    if v.umax >= super::arith::MAX_VAR_OFF as u64 {
        return refuse(
            format!("R{regno} unbounded memory access, make sure to bounds check any such access"),
            None,
            format!("the index into the {what} has no upper bound"),
        );
    }
    let at = v.umax as i64 + total;
    if !fits(at) {
        return refuse(
            format!("R{regno} max value is outside of the allowed memory range"),
            Some(detail(at)),
            format!(
                "the largest offset into the {what} ({at}) plus {bytes} bytes passes its {size} bytes"
            ),
        );
    }
    Ok(())
}

/// A load from a frozen read-only map at a known offset: the bytes are
/// known (`bpf_map_direct_read`); the caller truncates or extends.
fn direct_read(data: &[u8], at: i64, bytes: i32) -> RegState {
    let mut word = [0u8; 8];
    let bytes = usize::try_from(at)
        .ok()
        .and_then(|at| data.get(at..at.checked_add(bytes as usize)?));
    match bytes {
        Some(b) => word[..b.len()].copy_from_slice(b),
        None => return RegState::unknown(),
    }
    RegState::scalar(Scalar::constant(u64::from_le_bytes(word)))
}
