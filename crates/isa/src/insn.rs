//! The typed instruction.

use std::fmt;

/// A register, `r0` to `r10`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reg(u8);

impl Reg {
    /// Return value and scratch.
    pub const R0: Reg = Reg(0);
    /// First argument, and the context pointer at entry.
    pub const R1: Reg = Reg(1);
    /// Second argument.
    pub const R2: Reg = Reg(2);
    /// Third argument.
    pub const R3: Reg = Reg(3);
    /// Fourth argument.
    pub const R4: Reg = Reg(4);
    /// Fifth argument.
    pub const R5: Reg = Reg(5);
    /// Callee-saved.
    pub const R6: Reg = Reg(6);
    /// Callee-saved.
    pub const R7: Reg = Reg(7);
    /// Callee-saved.
    pub const R8: Reg = Reg(8);
    /// Callee-saved.
    pub const R9: Reg = Reg(9);
    /// Read-only frame pointer.
    pub const R10: Reg = Reg(10);

    /// The register numbered `n`, if `n <= 10`.
    pub const fn new(n: u8) -> Option<Reg> {
        if n <= 10 { Some(Reg(n)) } else { None }
    }

    /// The register's number.
    pub const fn index(self) -> u8 {
        self.0
    }
}

impl fmt::Display for Reg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "r{}", self.0)
    }
}

/// Operand width of arithmetic and jumps: the `ALU`/`JMP32` classes work on
/// the low 32 bits, `ALU64`/`JMP` on all 64.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Width {
    /// 32-bit (`BPF_ALU`, `BPF_JMP32`).
    W32,
    /// 64-bit (`BPF_ALU64`, `BPF_JMP`).
    W64,
}

/// Second operand of arithmetic, stores and jumps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// A register (`BPF_X`).
    Reg(Reg),
    /// The 32-bit immediate, sign-extended where 64 bits are needed (`BPF_K`).
    Imm(i32),
}

/// Two-operand arithmetic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AluOp {
    /// `dst += src`
    Add,
    /// `dst -= src`
    Sub,
    /// `dst *= src`
    Mul,
    /// Unsigned division; division by zero gives 0.
    Div,
    /// Signed division (cpu v4); division by zero gives 0.
    SDiv,
    /// `dst |= src`
    Or,
    /// `dst &= src`
    And,
    /// Left shift, count masked to the width.
    Lsh,
    /// Logical right shift, count masked to the width.
    Rsh,
    /// Unsigned modulo; modulo by zero leaves `dst` unchanged.
    Mod,
    /// Signed modulo (cpu v4); modulo by zero leaves `dst` unchanged.
    SMod,
    /// `dst ^= src`
    Xor,
    /// `dst = src`
    Mov,
    /// Arithmetic right shift, count masked to the width.
    Arsh,
}

impl AluOp {
    /// Every operation, in opcode order.
    pub const ALL: [AluOp; 14] = [
        AluOp::Add,
        AluOp::Sub,
        AluOp::Mul,
        AluOp::Div,
        AluOp::SDiv,
        AluOp::Or,
        AluOp::And,
        AluOp::Lsh,
        AluOp::Rsh,
        AluOp::Mod,
        AluOp::SMod,
        AluOp::Xor,
        AluOp::Mov,
        AluOp::Arsh,
    ];
}

/// Memory access size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Size {
    /// 1 byte (`BPF_B`).
    B,
    /// 2 bytes (`BPF_H`).
    H,
    /// 4 bytes (`BPF_W`).
    W,
    /// 8 bytes (`BPF_DW`).
    DW,
}

impl Size {
    /// Every size, smallest first.
    pub const ALL: [Size; 4] = [Size::B, Size::H, Size::W, Size::DW];

    /// Size in bytes.
    pub const fn bytes(self) -> usize {
        match self {
            Size::B => 1,
            Size::H => 2,
            Size::W => 4,
            Size::DW => 8,
        }
    }

    /// Size in bits.
    pub const fn bits(self) -> u32 {
        self.bytes() as u32 * 8
    }
}

/// Byte-order operations (`BPF_END`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EndianOp {
    /// Convert host order to little endian (`le16/32/64`); truncates to the width.
    ToLe,
    /// Convert host order to big endian (`be16/32/64`); swaps and truncates.
    ToBe,
    /// Unconditional byte swap (cpu v4 `bswap16/32/64`).
    Swap,
}

/// Conditions of conditional jumps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum JmpCond {
    /// `==`
    Eq,
    /// unsigned `>`
    Gt,
    /// unsigned `>=`
    Ge,
    /// `dst & src != 0`
    Set,
    /// `!=`
    Ne,
    /// signed `>`
    Sgt,
    /// signed `>=`
    Sge,
    /// unsigned `<`
    Lt,
    /// unsigned `<=`
    Le,
    /// signed `<`
    Slt,
    /// signed `<=`
    Sle,
}

impl JmpCond {
    /// Every condition, in opcode order.
    pub const ALL: [JmpCond; 11] = [
        JmpCond::Eq,
        JmpCond::Gt,
        JmpCond::Ge,
        JmpCond::Set,
        JmpCond::Ne,
        JmpCond::Sgt,
        JmpCond::Sge,
        JmpCond::Lt,
        JmpCond::Le,
        JmpCond::Slt,
        JmpCond::Sle,
    ];
}

/// Read-modify-write operations of `BPF_ATOMIC`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AtomicOp {
    /// `*addr += src`; with fetch, `src` receives the old value.
    Add { fetch: bool },
    /// `*addr |= src`; with fetch, `src` receives the old value.
    Or { fetch: bool },
    /// `*addr &= src`; with fetch, `src` receives the old value.
    And { fetch: bool },
    /// `*addr ^= src`; with fetch, `src` receives the old value.
    Xor { fetch: bool },
    /// Exchange: `src` receives the old value.
    Xchg,
    /// Compare `r0` with `*addr`; store `src` if equal; `r0` receives the old value.
    CmpXchg,
}

/// What the 64-bit immediate of `lddw` means (its `src_reg`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LdImm64Kind {
    /// A plain constant (src 0).
    Imm,
    /// Address of a map, `imm` = map fd (src 1, `BPF_PSEUDO_MAP_FD`).
    MapFd,
    /// Address in a map's value: low half map fd, high half offset (src 2).
    MapValue,
    /// Address of a kernel variable by BTF id (src 3).
    BtfId,
    /// Address of a subprogram, `imm` = relative slot offset (src 4).
    Func,
    /// Address of a map by index into `fd_array` (src 5).
    MapIdx,
    /// Address in a map value by `fd_array` index and offset (src 6).
    MapIdxValue,
}

impl LdImm64Kind {
    /// Every kind, in `src_reg` order.
    pub const ALL: [LdImm64Kind; 7] = [
        LdImm64Kind::Imm,
        LdImm64Kind::MapFd,
        LdImm64Kind::MapValue,
        LdImm64Kind::BtfId,
        LdImm64Kind::Func,
        LdImm64Kind::MapIdx,
        LdImm64Kind::MapIdxValue,
    ];

    /// The `src_reg` value.
    pub const fn src(self) -> u8 {
        match self {
            LdImm64Kind::Imm => 0,
            LdImm64Kind::MapFd => 1,
            LdImm64Kind::MapValue => 2,
            LdImm64Kind::BtfId => 3,
            LdImm64Kind::Func => 4,
            LdImm64Kind::MapIdx => 5,
            LdImm64Kind::MapIdxValue => 6,
        }
    }

    /// The kind for `src_reg`, if it is one.
    pub const fn from_src(src: u8) -> Option<Self> {
        match src {
            0 => Some(LdImm64Kind::Imm),
            1 => Some(LdImm64Kind::MapFd),
            2 => Some(LdImm64Kind::MapValue),
            3 => Some(LdImm64Kind::BtfId),
            4 => Some(LdImm64Kind::Func),
            5 => Some(LdImm64Kind::MapIdx),
            6 => Some(LdImm64Kind::MapIdxValue),
            _ => None,
        }
    }
}

/// Addressing mode of the legacy packet loads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PacketMode {
    /// `BPF_ABS`: offset `imm`.
    Abs,
    /// `BPF_IND`: offset `src + imm`.
    Ind,
}

/// Target of a `call`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CallTarget {
    /// A helper by the kernel's helper id (src 0).
    Helper(i32),
    /// A local function, `imm` slots after the next instruction (src 1).
    Local(i32),
    /// A kernel function by BTF id; `off` selects a module BTF in `fd_array` (src 2).
    Kfunc {
        /// The function's BTF id.
        btf_id: i32,
        /// Index of the module BTF fd, 0 for vmlinux.
        module: i16,
    },
}

/// One eBPF instruction. `LoadImm64` takes two slots; every other one takes one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Insn {
    /// Two-operand arithmetic, `ALU`/`ALU64` class.
    Alu {
        /// 32 or 64 bit.
        width: Width,
        /// The operation.
        op: AluOp,
        /// Destination and first operand.
        dst: Reg,
        /// Second operand.
        src: Source,
    },
    /// `dst = -dst`.
    Neg {
        /// 32 or 64 bit.
        width: Width,
        /// The register.
        dst: Reg,
    },
    /// Sign-extending move (cpu v4): `dst = (s8/s16/s32)src`.
    MovSx {
        /// 32 or 64 bit result (32-bit allows only `B` and `H`).
        width: Width,
        /// Destination.
        dst: Reg,
        /// Source.
        src: Reg,
        /// Width of the value to extend.
        from: Size,
    },
    /// Arena address-space cast (`ALU64 MOV X`, off 1).
    AddrSpaceCast {
        /// Destination.
        dst: Reg,
        /// Source.
        src: Reg,
        /// Address space of the result.
        dst_as: u16,
        /// Address space of the source.
        src_as: u16,
    },
    /// Byte-order conversion of `dst`'s low `bits` bits.
    Endian {
        /// Which conversion.
        op: EndianOp,
        /// 16, 32 or 64.
        bits: u8,
        /// The register.
        dst: Reg,
    },
    /// `dst = *(size *)(src + off)`, zero- or sign-extended.
    Load {
        /// Access size.
        size: Size,
        /// Whether to sign-extend (`BPF_MEMSX`, cpu v4).
        sign_extend: bool,
        /// Destination.
        dst: Reg,
        /// Base address register.
        src: Reg,
        /// Offset from the base.
        off: i16,
    },
    /// `*(size *)(dst + off) = src` (`STX` for a register, `ST` for an immediate).
    Store {
        /// Access size.
        size: Size,
        /// Base address register.
        dst: Reg,
        /// Offset from the base.
        off: i16,
        /// The value.
        src: Source,
    },
    /// Atomic read-modify-write on `*(size *)(dst + off)`; size is `W` or `DW`.
    Atomic {
        /// Access size.
        size: Size,
        /// The operation.
        op: AtomicOp,
        /// Base address register.
        dst: Reg,
        /// Operand (and fetch destination).
        src: Reg,
        /// Offset from the base.
        off: i16,
    },
    /// `dst = load_acquire((size *)(src + off))`.
    LoadAcquire {
        /// Access size.
        size: Size,
        /// Destination.
        dst: Reg,
        /// Base address register.
        src: Reg,
        /// Offset from the base.
        off: i16,
    },
    /// `store_release((size *)(dst + off), src)`.
    StoreRelease {
        /// Access size.
        size: Size,
        /// Base address register.
        dst: Reg,
        /// The value.
        src: Reg,
        /// Offset from the base.
        off: i16,
    },
    /// `lddw`: a 64-bit immediate, or a pseudo address the loader resolves.
    LoadImm64 {
        /// Destination.
        dst: Reg,
        /// What the immediate means.
        kind: LdImm64Kind,
        /// First slot's `imm` in the low half, second slot's in the high half.
        imm: u64,
    },
    /// Legacy packet load into `r0` (`LD_ABS`/`LD_IND`); size `B`, `H` or `W`.
    LoadPacket {
        /// Absolute or indirect.
        mode: PacketMode,
        /// Access size.
        size: Size,
        /// Index register of `LD_IND` (`r0` for `LD_ABS`).
        src: Reg,
        /// Offset.
        imm: i32,
    },
    /// Conditional jump by `off` slots.
    Jump {
        /// Compare 32 or 64 bits.
        width: Width,
        /// The condition.
        cond: JmpCond,
        /// First operand.
        dst: Reg,
        /// Second operand.
        src: Source,
        /// Relative target.
        off: i16,
    },
    /// Unconditional jump by `off` slots (`JMP` class).
    Ja {
        /// Relative target.
        off: i16,
    },
    /// Unconditional long jump by `imm` slots (`gotol`, `JMP32` class, cpu v4).
    Ja32 {
        /// Relative target.
        imm: i32,
    },
    /// `may_goto`: jumps by `off` once the implicit loop budget is spent.
    MayGoto {
        /// Relative target.
        off: i16,
    },
    /// A call to a helper, a local function or a kfunc.
    Call(CallTarget),
    /// An indirect call through a register (`0x8d`; unknown to Linux).
    Callx {
        /// The register holding the target.
        reg: Reg,
    },
    /// Return `r0` from the current function.
    Exit,
}

impl Insn {
    /// `dst op= src` on 64 bits (`BPF_ALU64`), the form generated code uses most.
    pub const fn alu64(op: AluOp, dst: Reg, src: Source) -> Insn {
        Insn::Alu {
            width: Width::W64,
            op,
            dst,
            src,
        }
    }

    /// `dst = src` on 64 bits.
    pub const fn mov64(dst: Reg, src: Source) -> Insn {
        Insn::alu64(AluOp::Mov, dst, src)
    }

    /// Number of 8-byte slots the instruction takes.
    pub const fn slots(&self) -> usize {
        match self {
            Insn::LoadImm64 { .. } => 2,
            _ => 1,
        }
    }

    /// The relative slot offset of a jump or local call or function address,
    /// counted from the next slot, if the instruction has one.
    pub fn branch_offset(&self) -> Option<i64> {
        match *self {
            Insn::Jump { off, .. } | Insn::Ja { off } | Insn::MayGoto { off } => Some(off.into()),
            Insn::Ja32 { imm } => Some(imm.into()),
            Insn::Call(CallTarget::Local(imm)) => Some(imm.into()),
            Insn::LoadImm64 {
                kind: LdImm64Kind::Func,
                imm,
                ..
            } => Some((imm as u32 as i32).into()),
            _ => None,
        }
    }
}
