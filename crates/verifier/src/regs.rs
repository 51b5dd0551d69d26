//! Register states: what each register holds, as the kernel's
//! `struct bpf_reg_state` (type, fixed offset, variable offset, ids, packet
//! range) and the names its log gives the types (`reg_type_str`).

use std::fmt;

use crate::scalar::Scalar;

/// What a register holds (the kernel's `enum bpf_reg_type` base types).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum RegType {
    /// Never written, or clobbered by a call (`NOT_INIT`).
    NotInit,
    /// A number (`SCALAR_VALUE`).
    Scalar,
    /// The program's context (`PTR_TO_CTX`).
    Ctx,
    /// A frame's stack (`PTR_TO_STACK`, printed `fp`).
    Stack,
    /// A map (`CONST_PTR_TO_MAP`).
    MapPtr,
    /// A map value (`PTR_TO_MAP_VALUE`).
    MapValue,
    /// A map key passed to a callback (`PTR_TO_MAP_KEY`).
    MapKey,
    /// Packet data (`PTR_TO_PACKET`).
    Packet,
    /// Packet metadata (`PTR_TO_PACKET_META`).
    PacketMeta,
    /// One past the packet (`PTR_TO_PACKET_END`).
    PacketEnd,
    /// Helper-provided memory of a known size (`PTR_TO_MEM`).
    Mem,
    /// A ring buffer sample (`PTR_TO_MEM | MEM_RINGBUF`).
    RingbufMem,
    /// A kernel object by BTF type (`PTR_TO_BTF_ID`).
    BtfId,
    /// A subprogram (`PTR_TO_FUNC`).
    Func,
    /// A full socket (`PTR_TO_SOCKET`).
    Socket,
    /// A socket's common part (`PTR_TO_SOCK_COMMON`).
    SockCommon,
    /// A TCP socket (`PTR_TO_TCP_SOCK`).
    TcpSock,
    /// Flow dissector keys (`PTR_TO_FLOW_KEYS`).
    FlowKeys,
}

impl RegType {
    /// The kernel log's name of the type.
    pub fn name(self) -> &'static str {
        match self {
            RegType::NotInit => "?",
            RegType::Scalar => "scalar",
            RegType::Ctx => "ctx",
            RegType::Stack => "fp",
            RegType::MapPtr => "map_ptr",
            RegType::MapValue => "map_value",
            RegType::MapKey => "map_key",
            RegType::Packet => "pkt",
            RegType::PacketMeta => "pkt_meta",
            RegType::PacketEnd => "pkt_end",
            RegType::Mem => "mem",
            RegType::RingbufMem => "ringbuf_mem",
            RegType::BtfId => "ptr_",
            RegType::Func => "func",
            RegType::Socket => "sock",
            RegType::SockCommon => "sock_common",
            RegType::TcpSock => "tcp_sock",
            RegType::FlowKeys => "flow_keys",
        }
    }

    /// Whether the type is one of the three packet pointers.
    pub fn is_packet(self) -> bool {
        matches!(
            self,
            RegType::Packet | RegType::PacketMeta | RegType::PacketEnd
        )
    }

    /// Whether the type points to bytes a helper may read or write by a
    /// size (`mem_types` without the stack).
    pub fn is_memory(self) -> bool {
        matches!(
            self,
            RegType::Packet
                | RegType::PacketMeta
                | RegType::MapValue
                | RegType::MapKey
                | RegType::Mem
                | RegType::RingbufMem
        )
    }

    /// Whether the type is a pointer.
    pub fn is_pointer(self) -> bool {
        !matches!(self, RegType::NotInit | RegType::Scalar)
    }
}

/// How far the kernel trusts a `BtfId` pointer (the `PTR_TRUSTED`,
/// `MEM_RCU` and `PTR_UNTRUSTED` flags): what it may be passed to, and what
/// pointers loaded through it are.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum Trust {
    /// No flag: the old, deprecated kind that helpers still take.
    #[default]
    Plain,
    /// Valid for the whole program (`trusted_`): tracing arguments.
    Trusted,
    /// Valid inside an RCU read section (`rcu_`).
    Rcu,
    /// Read only by probing (`untrusted_`): from a walk through a union.
    Untrusted,
}

impl Trust {
    /// The prefix the kernel's log gives the flag.
    pub fn prefix(self) -> &'static str {
        match self {
            Trust::Plain => "",
            Trust::Trusted => "trusted_",
            Trust::Rcu => "rcu_",
            Trust::Untrusted => "untrusted_",
        }
    }
}

/// A packet pointer's range when comparisons showed it at or past the end
/// (the kernel's `AT_PKT_END` and `BEYOND_PKT_END`, negative ranges).
pub const AT_PKT_END: i32 = -1;
/// See [`AT_PKT_END`].
pub const BEYOND_PKT_END: i32 = -2;

/// One register's state.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct RegState {
    /// What it holds.
    pub kind: RegType,
    /// May be NULL until checked (`PTR_MAYBE_NULL`, printed `_or_null`).
    pub maybe_null: bool,
    /// A scalar's value, or a pointer's variable offset.
    pub value: Scalar,
    /// A pointer's fixed offset.
    pub off: i32,
    /// Links copies: pointers from one lookup (for NULL checks), packet
    /// pointers with one variable offset (for ranges), scalar copies.
    pub id: u32,
    /// The reference this pointer must be released through, 0 if none.
    pub ref_obj_id: u32,
    /// Bytes of packet known readable past the pointer (packet pointers).
    pub range: i32,
    /// The comparison with `data_end` (its instruction) that last grew
    /// `range`: for diagnostics only, pruning ignores it.
    pub range_from: Option<u32>,
    /// The map (index into the program's maps) of map pointers, values and keys.
    pub map: u32,
    /// Size of the memory behind `Mem`/`RingbufMem` pointers.
    pub mem_size: u32,
    /// The frame a stack pointer points into.
    pub frameno: u8,
    /// The first instruction of the function a `Func` pointer names.
    pub subprog: u32,
    /// The kernel BTF struct a `BtfId` pointer points to (0: a type the
    /// verifier does not know, whose loads give numbers).
    pub btf_id: u32,
    /// How far a `BtfId` pointer (or the memory a struct walk gives) is
    /// trusted.
    pub trust: Trust,
    /// Memory the program may only read (`MEM_RDONLY`, printed `rdonly_`):
    /// an iterator's current number.
    pub rdonly: bool,
}

impl RegState {
    /// A register never written.
    pub const NOT_INIT: RegState = RegState {
        kind: RegType::NotInit,
        maybe_null: false,
        value: Scalar::UNKNOWN,
        off: 0,
        id: 0,
        ref_obj_id: 0,
        range: 0,
        range_from: None,
        map: 0,
        mem_size: 0,
        frameno: 0,
        subprog: 0,
        btf_id: 0,
        trust: Trust::Plain,
        rdonly: false,
    };

    /// A scalar with this abstract value.
    pub fn scalar(value: Scalar) -> RegState {
        RegState {
            kind: RegType::Scalar,
            value,
            ..RegState::NOT_INIT
        }
    }

    /// Any number.
    pub fn unknown() -> RegState {
        RegState::scalar(Scalar::UNKNOWN)
    }

    /// A pointer of `kind` at offset 0 with no variable part.
    pub fn pointer(kind: RegType) -> RegState {
        RegState {
            kind,
            value: Scalar::constant(0),
            ..RegState::NOT_INIT
        }
    }

    /// Whether the register is a scalar.
    pub fn is_scalar(&self) -> bool {
        self.kind == RegType::Scalar
    }

    /// Whether the register holds the known scalar 0.
    pub fn is_null(&self) -> bool {
        self.is_scalar() && self.value.var_off.equals_const(0)
    }

    /// Whether the kernel knows the pointer is not NULL (`reg_not_null`),
    /// so that comparing it with 0 decides the branch: not for the
    /// context, stack or packet pointers, nor kernel objects it does not
    /// trust (a pointer read from a struct may be NULL).
    pub fn known_not_null(&self) -> bool {
        !self.maybe_null
            && match self.kind {
                RegType::Socket
                | RegType::TcpSock
                | RegType::SockCommon
                | RegType::MapValue
                | RegType::MapKey
                | RegType::MapPtr => true,
                RegType::BtfId => self.trust == Trust::Trusted || self.ref_obj_id != 0,
                RegType::Mem | RegType::RingbufMem => self.trust != Trust::Untrusted,
                _ => false,
            }
    }

    /// The name the kernel's log gives the type, with `_or_null`
    /// (`reg_type_str`; a BTF pointer's flags are a prefix and its
    /// `or_null_` a suffix: `trusted_ptr_or_null_`).
    pub fn type_name(&self) -> String {
        match (self.kind, self.maybe_null) {
            (RegType::BtfId, null) => {
                let null = if null { "or_null_" } else { "" };
                format!("{}ptr_{null}", self.trust.prefix())
            }
            (kind, null) => {
                let rdonly = if self.rdonly { "rdonly_" } else { "" };
                let null = if null { "_or_null" } else { "" };
                format!("{rdonly}{}{null}", kind.name())
            }
        }
    }
}

/// As the kernel's log prints a register: `P`-less, e.g. `pkt(off=14,r=14)`,
/// `fp-8`, `map_value_or_null(id=1,off=0,ks=4,vs=8)`, or a scalar.
impl fmt::Display for RegState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            RegType::NotInit => f.write_str("?"),
            RegType::Scalar => write!(f, "{}", self.value),
            RegType::Stack if self.value.is_const() => write!(f, "fp{}", self.off),
            _ => {
                let mut parts = Vec::new();
                if self.id != 0 {
                    parts.push(format!("id={}", self.id));
                }
                if self.ref_obj_id != 0 {
                    parts.push(format!("ref_obj_id={}", self.ref_obj_id));
                }
                parts.push(format!("off={}", self.off));
                if self.kind.is_packet() && self.kind != RegType::PacketEnd {
                    parts.push(format!("r={}", self.range));
                }
                if matches!(self.kind, RegType::Mem | RegType::RingbufMem) {
                    parts.push(format!("sz={}", self.mem_size));
                }
                if !self.value.is_const() {
                    parts.push(format!("var={}", self.value));
                }
                write!(f, "{}({})", self.type_name(), parts.join(","))
            }
        }
    }
}
