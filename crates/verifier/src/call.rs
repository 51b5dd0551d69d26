//! Helper calls (`check_helper_call`, `check_func_arg`): every argument is
//! checked against the helper's prototype (maps, memory and its size,
//! context, references), references are acquired and released, and the
//! registers a call clobbers are reset.

use apiary_kernel::types::MapType;
use apiary_loader::helpers::HELPER_NAMES;

use crate::callbacks::{Callback, LOOP};
use crate::error::Rejection;
use crate::explore::Env;
use crate::helper_access::{HelperAccess, helper_access};
use crate::helpers::{ArgKind, HelperProto, RetKind, helper_proto_for};
use crate::regs::{RegState, RegType};
use crate::stack::MAX_STACK;
use crate::state::{Frame, Reference, State};

/// The kernel's `BPF_MAX_VAR_SIZ`.
const MAX_VAR_SIZE: u64 = 1 << 29;

/// Helpers that may move or resize the packet
/// (`bpf_helper_changes_pkt_data`): packet pointers are stale after them.
pub(crate) const CHANGES_PACKET_DATA: [i32; 22] = [
    9, 10, 11, 13, 18, 19, 31, 38, 39, 43, 44, 50, 54, 63, 65, 73, 74, 75, 76, 90, 91, 143,
];

/// The same for `ARG_PTR_TO_SOCK_COMMON` (`sock_common_types`).
const SOCK_TYPES: &str = "sock_common, sock, tcp_sock, xdp_sock";
/// Helpers whose result is their argument seen as another type
/// (`is_ptr_cast_function`): it keeps the argument's reference.
const PTR_CASTS: [i32; 2] = [95, 96];

/// The pointer types a memory argument may be, as the kernel lists them
/// when it refuses another (`mem_types`).
const MEM_TYPES: &str =
    "fp, pkt, pkt_meta, map_key, map_value, mem, ringbuf_mem, buf, trusted_ptr_";
/// The same for a socket argument (`btf_id_sock_common_types`).
const SOCK_COMMON_TYPES: &str = "sock_common, sock, tcp_sock, xdp_sock, ptr_, trusted_ptr_";

/// Helpers whose returned socket is a new reference.
const SOCKET_LOOKUPS: [i32; 3] = [84, 85, 99];

/// What the arguments checked so far established.
#[derive(Default)]
struct Meta {
    map: Option<u32>,
    /// The last memory argument, waiting for its size: register and whether the helper writes it.
    mem: Option<(u8, bool)>,
    /// A reference the call releases.
    release: Option<u32>,
    /// The key argument's value, when the stack holds a constant.
    const_key: Option<u64>,
    /// The reference of a socket argument, which a pointer cast's result
    /// keeps (`meta.ref_obj_id`).
    sock_ref: u32,
}

/// `bpf_tail_call`.
const TAIL_CALL: i32 = 12;

/// The refusal of a call to helper `id`, which has no prototype here: the
/// kernel's own line when no kernel has such a helper, an honest "not
/// supported" when the kernel has it but Apiary does not model it (the
/// kernel may well accept the call).
fn unmodelled_helper(insn: usize, id: i32) -> Rejection {
    let known = usize::try_from(id)
        .ok()
        .filter(|&i| i > 0)
        .and_then(|i| HELPER_NAMES.get(i));
    match known {
        Some(name) => Rejection::new(
            insn,
            format!("helper bpf_{name}#{id} is not supported by apiary's verifier yet"),
        )
        .cause(format!(
            "Apiary does not model bpf_{name} yet; the kernel may accept this call"
        )),
        None => Rejection::new(insn, format!("invalid func unknown#{id}"))
            .cause(format!("no kernel has a helper numbered {id}")),
    }
}

/// Checks a call to helper `id` and applies its effect on `state`; returns
/// the callback to verify when the helper calls one.
pub(crate) fn helper(
    env: &Env,
    state: &mut State,
    insn: usize,
    id: i32,
) -> Result<Option<Callback>, Rejection> {
    let timer = crate::timer::proto(id);
    if let Some(proto) = timer {
        crate::timer::check_license(env, insn, proto)?;
    }
    let Some(proto) = helper_proto_for(id, env.prog.prog_type).or(timer) else {
        return Err(unmodelled_helper(insn, id));
    };
    match helper_access(env.prog.prog_type, env.prog.attach_type, id) {
        Some(HelperAccess::NotForThisType) => {
            return Err(Rejection::new(
                insn,
                format!(
                    "program of this type cannot use helper bpf_{}#{id}",
                    proto.name
                ),
            )
            .cause(format!(
                "{} programs cannot call bpf_{}",
                env.prog.prog_type, proto.name
            )));
        }
        Some(HelperAccess::GplOnly) if !env.prog.gpl => {
            return Err(Rejection::new(
                insn,
                "cannot call GPL-restricted function from non-GPL compatible program",
            )
            .cause(format!(
                "bpf_{} is only for GPL-compatible programs",
                proto.name
            ))
            .help(
                "declare a GPL-compatible license: `char LICENSE[] SEC(\"license\") = \"GPL\";`",
            ));
        }
        _ => {}
    }
    let mut meta = Meta::default();
    // A reservation's size is its second argument (`ARG_CONST_ALLOC_SIZE_OR_ZERO`).
    let alloc_size = state.frame().regs[2].value;
    for (i, &arg) in proto.args.iter().enumerate() {
        let regno = i as u8 + 1;
        let reg = state.frame().regs[regno as usize];
        if reg.kind == RegType::NotInit {
            return Err(Rejection::new(insn, format!("R{regno} !read_ok"))
                .cause(format!("argument {regno} of {} is never set", proto.name)));
        }
        check_arg(env, state, insn, proto, regno, reg, arg, &mut meta)?;
    }
    let map_type = meta.map.map(|m| env.prog.maps[m as usize].map_type);
    if id == TAIL_CALL && map_type != Some(MapType::PROG_ARRAY) {
        // The kernel prints this line without its newline.
        return Err(
            Rejection::new(insn, "expected prog array map for tail call")
                .cause("bpf_tail_call needs a BPF_MAP_TYPE_PROG_ARRAY map"),
        );
    }
    if let Some(ref_obj_id) = meta.release
        && !state.release(ref_obj_id)
    {
        return Err(Rejection::new(
            insn,
            format!(
                "func {}#{id} reference has not been acquired before",
                proto.name
            ),
        ));
    }
    if id == TAIL_CALL {
        state.check_leak(insn, "tail_call")?;
    }
    if let Some(map_type) = map_type {
        crate::map_funcs::check(insn, map_type, proto)?;
    }
    let r0 = match proto.ret {
        RetKind::Integer => RegState::unknown(),
        RetKind::Void => RegState::NOT_INIT,
        RetKind::PtrToBtfId => RegState::pointer(RegType::BtfId),
        RetKind::TrustedTask => crate::btf_ptr::current_task(env.prog),
        RetKind::PtrToMapValueOrNull => match meta.map {
            Some(map)
                if crate::map_key::lookup_never_null(
                    id,
                    &env.prog.maps[map as usize],
                    meta.const_key,
                ) =>
            {
                // A value with a lock is told apart by its id.
                let locked = env.prog.maps[map as usize].spin_lock_off.is_some();
                RegState {
                    map,
                    id: if locked { state.new_id() } else { 0 },
                    ..RegState::pointer(RegType::MapValue)
                }
            }
            Some(map) => lookup_result(env, state, insn, map),
            None => RegState::unknown(),
        },
        RetKind::PtrToAllocMemOrNull => {
            let id = acquired_id(state);
            state.refs.push(Reference { id, insn });
            RegState {
                maybe_null: true,
                id,
                ref_obj_id: id,
                mem_size: if alloc_size.is_const() {
                    alloc_size.var_off.value as u32
                } else {
                    0
                },
                ..RegState::pointer(RegType::RingbufMem)
            }
        }
        RetKind::PtrToSocketOrNull => {
            let acquires = SOCKET_LOOKUPS.contains(&proto.id);
            let id = if acquires {
                acquired_id(state)
            } else {
                state.new_id()
            };
            let ref_obj_id = if acquires {
                state.refs.push(Reference { id, insn });
                id
            } else {
                0
            };
            RegState {
                maybe_null: true,
                id,
                ref_obj_id: if PTR_CASTS.contains(&proto.id) {
                    meta.sock_ref
                } else {
                    ref_obj_id
                },
                ..RegState::pointer(RegType::Socket)
            }
        }
        RetKind::PtrToTcpSockOrNull => RegState {
            maybe_null: true,
            id: state.new_id(),
            ref_obj_id: meta.sock_ref,
            ..RegState::pointer(RegType::TcpSock)
        },
    };
    if id == LOOP {
        // Whether the call can be inlined depends on its flags
        // (`update_loop_inline_state`), whether the loop runs its
        // callback again on its count.
        env.need_precise(state, 4);
        env.need_precise(state, 1);
    }
    let mut callback = crate::callbacks::iteration(state, insn, id)?;
    if let Some((target, async_state)) = crate::timer::async_callback(env, id, state) {
        callback = Some(Callback {
            target,
            state: async_state,
        });
    }
    if CHANGES_PACKET_DATA.contains(&id) {
        // `clear_all_pkt_pointers`: the packet may have moved; a
        // privileged loader's invalidated pointers become unknown numbers.
        for reg in state.all_regs_mut() {
            if reg.kind.is_packet() {
                *reg = RegState::unknown();
            }
        }
    }
    let regs = &mut state.frame_mut().regs;
    for r in &mut regs[1..=5] {
        *r = RegState::NOT_INIT;
    }
    regs[0] = r0;
    Ok(callback)
}

/// A callback's `r2` and `r3` for an element of `map`: its key and value,
/// the value with the fresh id `value_id` (as the kernel's log shows).
pub(crate) fn set_element_args(frame: &mut Frame, map: u32, value_id: u32) {
    frame.regs[2] = RegState {
        map,
        ..RegState::pointer(RegType::MapKey)
    };
    frame.regs[3] = RegState {
        map,
        id: value_id,
        ..RegState::pointer(RegType::MapValue)
    };
}

/// The id of a reference a helper acquires. The kernel numbers the
/// possibly-NULL result first, then the reference (`acquire_reference`),
/// and gives the register the second: the log's ids count both.
fn acquired_id(state: &mut State) -> u32 {
    state.new_id();
    state.new_id()
}

/// What a map lookup returns, by map type: a value, a socket reference
/// (sockmap, sockhash), or the inner map of a map of maps; NULL until checked.
fn lookup_result(env: &Env, state: &mut State, insn: usize, map: u32) -> RegState {
    let info = &env.prog.maps[map as usize];
    let sockets = matches!(info.map_type, MapType::SOCKMAP | MapType::SOCKHASH);
    let id = if sockets {
        acquired_id(state)
    } else {
        state.new_id()
    };
    let base = RegState {
        maybe_null: true,
        id,
        map,
        ..RegState::pointer(RegType::MapValue)
    };
    match info.map_type {
        MapType::SOCKMAP | MapType::SOCKHASH => {
            state.refs.push(Reference { id, insn });
            RegState {
                kind: RegType::Socket,
                ref_obj_id: id,
                ..base
            }
        }
        MapType::ARRAY_OF_MAPS | MapType::HASH_OF_MAPS => RegState {
            kind: RegType::MapPtr,
            map: info
                .inner
                .filter(|&i| (i as usize) < env.prog.maps.len())
                .unwrap_or(map),
            ..base
        },
        _ => base,
    }
}

fn type_error(
    insn: usize,
    regno: u8,
    reg: RegState,
    expected: &str,
    proto: &HelperProto,
) -> Rejection {
    Rejection::new(
        insn,
        format!("R{regno} type={} expected={expected}", reg.type_name()),
    )
    .reg(regno, reg)
    .cause(format!(
        "argument {regno} of {} must be {expected}, not {}",
        proto.name,
        reg.type_name()
    ))
}

#[allow(clippy::too_many_arguments)]
fn check_arg(
    env: &Env,
    state: &mut State,
    insn: usize,
    proto: &HelperProto,
    regno: u8,
    reg: RegState,
    arg: ArgKind,
    meta: &mut Meta,
) -> Result<(), Rejection> {
    let map = |meta: &Meta| meta.map.map(|m| &env.prog.maps[m as usize]);
    match arg {
        ArgKind::ConstMapPtr => {
            if reg.kind != RegType::MapPtr {
                return Err(type_error(insn, regno, reg, "map_ptr", proto));
            }
            if let Some(timer_map) = meta.map {
                crate::timer::same_map(insn, timer_map, reg.map)?;
            }
            meta.map = Some(reg.map);
        }
        ArgKind::PtrToTimer => {
            if reg.kind != RegType::MapValue || reg.maybe_null {
                return Err(type_error(insn, regno, reg, "map_value", proto));
            }
            meta.map = Some(crate::timer::timer_arg(env, insn, regno, &reg)?);
        }
        ArgKind::PtrToMapKey | ArgKind::PtrToMapValue | ArgKind::PtrToUninitMapValue => {
            let Some(m) = map(meta) else {
                return Err(Rejection::new(insn, "invalid map_ptr to access map->key"));
            };
            let size = if arg == ArgKind::PtrToMapKey {
                m.key_size
            } else {
                m.value_size
            };
            if size == 0 && reg.kind.is_pointer() {
                return Err(Rejection::new(insn, "invalid zero-sized read")
                    .reg(regno, reg)
                    .cause(format!(
                        "{} reads a key or value of a map that has none",
                        proto.name
                    )));
            }
            if arg == ArgKind::PtrToMapKey {
                meta.const_key = crate::map_key::constant_key(state, &reg, size);
            }
            let writes = arg == ArgKind::PtrToUninitMapValue;
            memory(env, state, insn, regno, reg, u64::from(size), writes, proto)?;
        }
        ArgKind::PtrToReadableMem | ArgKind::PtrToMem | ArgKind::PtrToUninitMem => {
            if !(reg.is_null()) && !reg.kind.is_pointer() {
                return Err(type_error(insn, regno, reg, MEM_TYPES, proto));
            }
            meta.mem = Some((regno, arg == ArgKind::PtrToUninitMem));
        }
        ArgKind::PtrToU32 => memory(env, state, insn, regno, reg, 4, true, proto)?,
        ArgKind::ConstSize | ArgKind::ConstSizeOrZero => {
            if !reg.is_scalar() {
                return Err(type_error(insn, regno, reg, "scalar", proto));
            }
            env.need_precise(state, regno);
            let v = reg.value;
            if v.smin < 0 {
                return Err(Rejection::new(
                    insn,
                    format!(
                        "R{regno} min value is negative, either use unsigned or 'var &= const'"
                    ),
                )
                .reg(regno, reg)
                .cause(format!("the size passed to {} may be negative", proto.name)));
            }
            if v.umax == 0 && arg == ArgKind::ConstSize {
                return Err(Rejection::new(
                    insn,
                    format!(
                        "R{regno} invalid zero-sized read: u64=[{},{}]",
                        v.umin as i64, v.umax as i64
                    ),
                )
                .reg(regno, reg));
            }
            if v.umax >= MAX_VAR_SIZE {
                return Err(Rejection::new(
                    insn,
                    format!(
                        "R{regno} unbounded memory access, use 'var &= const' or 'if (var < const)'"
                    ),
                )
                .reg(regno, reg)
                .cause(format!(
                    "the size passed to {} has no upper bound",
                    proto.name
                ))
                .help("bound the size first, e.g. `if (len > sizeof(buf)) return 0;`"));
            }
            if let Some((mem_reg, writes)) = meta.mem.take() {
                let mem = state.frame().regs[mem_reg as usize];
                if !(mem.is_null() && v.umax == 0) {
                    memory(env, state, insn, mem_reg, mem, v.umax, writes, proto)?;
                }
            }
        }
        ArgKind::ConstAllocSizeOrZero if !reg.is_scalar() => {
            return Err(type_error(insn, regno, reg, "scalar", proto));
        }
        ArgKind::ConstAllocSizeOrZero if !reg.value.is_const() => {
            // The kernel's line ends in a stray quote.
            return Err(
                Rejection::new(insn, format!("R{regno} is not a known constant'"))
                    .reg(regno, reg)
                    .cause(format!(
                        "the size passed to {} must be a constant",
                        proto.name
                    ))
                    .help("reserve a fixed size (sizeof of the record type)"),
            );
        }
        // The reservation's size becomes the memory's (`mem_size`).
        ArgKind::ConstAllocSizeOrZero => env.need_precise(state, regno),
        ArgKind::PtrToCtx if reg.kind != RegType::Ctx => {
            return Err(type_error(insn, regno, reg, "ctx", proto));
        }
        ArgKind::PtrToSocket | ArgKind::PtrToAllocMem => {
            let ok = match arg {
                ArgKind::PtrToSocket => is_socket(reg.kind),
                _ => reg.kind == RegType::RingbufMem,
            };
            if !ok || reg.maybe_null {
                let expected = if arg == ArgKind::PtrToSocket {
                    SOCK_COMMON_TYPES
                } else {
                    "ringbuf_mem"
                };
                return Err(type_error(insn, regno, reg, expected, proto));
            }
            // What is released is the object itself (`check_func_arg_reg_off`):
            // the ring buffer finds its record from the sample's start.
            if reg.off != 0 {
                return Err(Rejection::new(
                    insn,
                    format!(
                        "R{regno} must have zero offset when passed to release func or trusted arg to kfunc"
                    ),
                )
                .reg(regno, reg));
            }
            if !reg.value.var_off.is_const() || reg.value.var_off.value != 0 {
                return Err(Rejection::new(
                    insn,
                    format!(
                        "variable {} access var_off={} disallowed",
                        reg.type_name(),
                        reg.value.var_off
                    ),
                )
                .reg(regno, reg));
            }
            if reg.ref_obj_id == 0 {
                return Err(Rejection::new(
                    insn,
                    format!("R{regno} must be referenced when passed to release function"),
                )
                .reg(regno, reg));
            }
            meta.release = Some(reg.ref_obj_id);
        }
        ArgKind::PtrToSocketOrNull => {
            let ok = reg.is_null() || is_socket(reg.kind);
            if !ok {
                return Err(type_error(insn, regno, reg, "sock_or_null", proto));
            }
        }
        ArgKind::PtrToBtfId => {
            crate::btf_ptr::helper_arg(env.prog, insn, regno, &reg, proto, false)?;
        }
        ArgKind::PtrToSockCommon => {
            if reg.maybe_null || !is_socket(reg.kind) {
                return Err(type_error(insn, regno, reg, SOCK_TYPES, proto));
            }
            meta.sock_ref = reg.ref_obj_id;
        }
        ArgKind::PtrToBtfIdSockCommon
            if reg.kind == RegType::BtfId
                && !reg.maybe_null
                && reg.trust != crate::regs::Trust::Untrusted =>
        {
            crate::btf_ptr::helper_arg(env.prog, insn, regno, &reg, proto, false)?;
        }
        ArgKind::PtrToBtfIdSockCommon if reg.maybe_null || !is_socket(reg.kind) => {
            return Err(type_error(insn, regno, reg, SOCK_COMMON_TYPES, proto));
        }
        ArgKind::PtrToBtfIdOrNull if !reg.is_null() => {
            crate::btf_ptr::helper_arg(env.prog, insn, regno, &reg, proto, true)?;
        }
        ArgKind::PtrToMapValueOrNull if !reg.is_null() => {
            let Some(m) = map(meta) else {
                return Err(Rejection::new(insn, "invalid map_ptr to access map->value"));
            };
            memory(
                env,
                state,
                insn,
                regno,
                reg,
                u64::from(m.value_size),
                false,
                proto,
            )?;
        }
        ArgKind::PtrToFunc if reg.kind != RegType::Func => {
            return Err(type_error(insn, regno, reg, "func", proto));
        }
        ArgKind::PtrToStackOrNull if !(reg.is_null() || reg.kind == RegType::Stack) => {
            return Err(type_error(insn, regno, reg, "fp", proto));
        }
        ArgKind::PtrToSpinLock | ArgKind::PtrToConstStr if reg.kind != RegType::MapValue => {
            return Err(type_error(insn, regno, reg, "map_value", proto));
        }
        ArgKind::PtrToSpinLock if reg.maybe_null => {
            return Err(type_error(insn, regno, reg, "map_value", proto));
        }
        ArgKind::PtrToSpinLock => {
            crate::spin_lock::lock_arg(env, state, insn, proto.id, regno, &reg)?;
        }
        _ => {}
    }
    Ok(())
}

/// Whether a register of this type is one of the socket pointers a
/// socket argument takes.
fn is_socket(kind: RegType) -> bool {
    matches!(
        kind,
        RegType::Socket | RegType::SockCommon | RegType::TcpSock
    )
}

/// `size` bytes at the pointer in `regno` that the helper reads (or
/// writes), checked as an access of that size (`check_helper_mem_access`).
#[allow(clippy::too_many_arguments)]
fn memory(
    env: &Env,
    state: &mut State,
    insn: usize,
    regno: u8,
    reg: RegState,
    size: u64,
    writes: bool,
    proto: &HelperProto,
) -> Result<(), Rejection> {
    if reg.maybe_null {
        return Err(Rejection::new(
            insn,
            format!("R{regno} type={} expected={MEM_TYPES}", reg.type_name()),
        )
        .reg(regno, reg)
        .cause(format!("argument {regno} of {} may be NULL", proto.name)));
    }
    let size = size as i64;
    match reg.kind {
        RegType::Stack => {
            let (lo, hi) = stack_span(&reg, size);
            if lo < -i64::from(MAX_STACK) || hi > 0 || size > i64::from(MAX_STACK) {
                let what = if writes { " write to" } else { " read from" };
                return Err(Rejection::new(
                    insn,
                    format!("invalid{what} stack R{regno} off={lo} size={size}"),
                )
                .reg(regno, reg)
                .cause(format!(
                    "{} would touch {size} bytes at fp{lo:+}, outside the stack",
                    proto.name
                )));
            }
            if writes
                && size > 0
                && let Some(frame) = state.frames.get_mut(reg.frameno as usize)
            {
                frame.stack.clobber(lo as i32, (hi - lo) as i32);
            }
            Ok(())
        }
        RegType::BtfId if reg.trust == crate::regs::Trust::Trusted => {
            crate::btf_ptr::helper_memory(env.prog, insn, regno, &reg, size)
        }
        kind if kind.is_memory() => {
            if size == 0 {
                return Ok(());
            }
            crate::mem::sized_access(env, insn, regno, &reg, size as i32, writes)
        }
        _ => Err(type_error(insn, regno, reg, MEM_TYPES, proto)),
    }
}

/// The stack bytes `size` bytes at the stack pointer `reg` may touch, as
/// offsets from its frame pointer: the lowest and one past the highest.
pub(crate) fn stack_span(reg: &RegState, size: i64) -> (i64, i64) {
    let lo = reg.value.smin.saturating_add(reg.off.into());
    let hi = reg
        .value
        .smax
        .saturating_add(reg.off.into())
        .saturating_add(size);
    (lo, hi)
}
