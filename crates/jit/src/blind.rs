//! Constant blinding (optional, as the kernel's `bpf_jit_harden`): no
//! immediate a program supplies appears in the machine code as written.
//! Each one is materialised in the scratch register r10 as `(v ^ k)`
//! followed by `xor k`, with a fresh random `k` per instruction, and the op
//! then uses the register (eBPF register number [`BLINDED`], which maps to
//! r10). Shift counts are left alone, as the kernel leaves them.

use apiary_vm::Op;

use crate::compile::{Emitter, R10};
use crate::x64;

/// The register number a blinded op reads its operand from (r10).
pub(crate) const BLINDED: u8 = 11;

/// A xorshift generator for the blinding keys, seeded by the kernel.
pub(crate) struct Keys(u64);

impl Keys {
    pub(crate) fn new() -> Keys {
        let mut seed = [0u8; 8];
        // SAFETY: writes at most 8 bytes into `seed`.
        let filled = unsafe { libc::getrandom(seed.as_mut_ptr().cast(), seed.len(), 0) };
        let seed = if filled == 8 {
            u64::from_ne_bytes(seed)
        } else {
            // No entropy: still different per compilation.
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
        };
        Keys(seed | 1)
    }

    fn next(&mut self) -> i32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        // Never 0, which would leave the value as it is.
        (self.0 as i32) | 1
    }
}

/// r10 = `v`, written as two constants neither of which is `v`.
pub(crate) fn materialize(e: &mut Emitter, v: u64) {
    let key = match e.keys.as_mut() {
        Some(keys) => keys.next(),
        None => {
            x64!(e; mov Rq(R10), QWORD v as i64);
            return;
        }
    };
    let masked = v ^ (i64::from(key) as u64);
    x64!(e; mov Rq(R10), QWORD masked as i64; xor Rq(R10), key);
}

/// When blinding, emits the materialisation of `op`'s immediate and
/// returns the op reading it from [`BLINDED`] instead; otherwise `op`.
/// Stores of immediates are blinded where they are emitted, after their
/// access check (which uses r10).
pub(crate) fn blind(e: &mut Emitter, op: Op) -> Op {
    if e.keys.is_none() {
        return op;
    }
    let s = BLINDED;
    macro_rules! reg {
        ($v:expr, $op:expr) => {{
            materialize(e, u64::from($v));
            $op
        }};
    }
    match op {
        Op::Add64I { d, v } => reg!(v, Op::Add64R { d, s }),
        Op::Sub64I { d, v } => reg!(v, Op::Sub64R { d, s }),
        Op::Mul64I { d, v } => reg!(v, Op::Mul64R { d, s }),
        Op::Div64I { d, v } => reg!(v, Op::Div64R { d, s }),
        Op::SDiv64I { d, v } => reg!(v, Op::SDiv64R { d, s }),
        Op::Mod64I { d, v } => reg!(v, Op::Mod64R { d, s }),
        Op::SMod64I { d, v } => reg!(v, Op::SMod64R { d, s }),
        Op::Or64I { d, v } => reg!(v, Op::Or64R { d, s }),
        Op::And64I { d, v } => reg!(v, Op::And64R { d, s }),
        Op::Xor64I { d, v } => reg!(v, Op::Xor64R { d, s }),
        Op::Mov64I { d, v } => reg!(v, Op::Mov64R { d, s }),
        Op::Add32I { d, v } => reg!(v, Op::Add32R { d, s }),
        Op::Sub32I { d, v } => reg!(v, Op::Sub32R { d, s }),
        Op::Mul32I { d, v } => reg!(v, Op::Mul32R { d, s }),
        Op::Div32I { d, v } => reg!(v, Op::Div32R { d, s }),
        Op::SDiv32I { d, v } => reg!(v, Op::SDiv32R { d, s }),
        Op::Mod32I { d, v } => reg!(v, Op::Mod32R { d, s }),
        Op::SMod32I { d, v } => reg!(v, Op::SMod32R { d, s }),
        Op::Or32I { d, v } => reg!(v, Op::Or32R { d, s }),
        Op::And32I { d, v } => reg!(v, Op::And32R { d, s }),
        Op::Xor32I { d, v } => reg!(v, Op::Xor32R { d, s }),
        Op::Mov32I { d, v } => reg!(v, Op::Mov32R { d, s }),
        Op::Jeq64I { d, v, t } => reg!(v, Op::Jeq64R { d, s, t }),
        Op::Jne64I { d, v, t } => reg!(v, Op::Jne64R { d, s, t }),
        Op::Jgt64I { d, v, t } => reg!(v, Op::Jgt64R { d, s, t }),
        Op::Jge64I { d, v, t } => reg!(v, Op::Jge64R { d, s, t }),
        Op::Jlt64I { d, v, t } => reg!(v, Op::Jlt64R { d, s, t }),
        Op::Jle64I { d, v, t } => reg!(v, Op::Jle64R { d, s, t }),
        Op::Jsgt64I { d, v, t } => reg!(v, Op::Jsgt64R { d, s, t }),
        Op::Jsge64I { d, v, t } => reg!(v, Op::Jsge64R { d, s, t }),
        Op::Jslt64I { d, v, t } => reg!(v, Op::Jslt64R { d, s, t }),
        Op::Jsle64I { d, v, t } => reg!(v, Op::Jsle64R { d, s, t }),
        Op::Jset64I { d, v, t } => reg!(v, Op::Jset64R { d, s, t }),
        Op::Jeq32I { d, v, t } => reg!(v, Op::Jeq32R { d, s, t }),
        Op::Jne32I { d, v, t } => reg!(v, Op::Jne32R { d, s, t }),
        Op::Jgt32I { d, v, t } => reg!(v, Op::Jgt32R { d, s, t }),
        Op::Jge32I { d, v, t } => reg!(v, Op::Jge32R { d, s, t }),
        Op::Jlt32I { d, v, t } => reg!(v, Op::Jlt32R { d, s, t }),
        Op::Jle32I { d, v, t } => reg!(v, Op::Jle32R { d, s, t }),
        Op::Jsgt32I { d, v, t } => reg!(v, Op::Jsgt32R { d, s, t }),
        Op::Jsge32I { d, v, t } => reg!(v, Op::Jsge32R { d, s, t }),
        Op::Jslt32I { d, v, t } => reg!(v, Op::Jslt32R { d, s, t }),
        Op::Jsle32I { d, v, t } => reg!(v, Op::Jsle32R { d, s, t }),
        Op::Jset32I { d, v, t } => reg!(v, Op::Jset32R { d, s, t }),
        other => other,
    }
}
