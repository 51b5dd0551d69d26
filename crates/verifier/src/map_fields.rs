//! The special fields of a map value (`struct bpf_spin_lock`, `struct
//! bpf_timer`), which only their helpers may touch: a load, store or
//! helper access overlapping one is refused (`check_map_access`), and a
//! helper's argument for one must point exactly at it, in a map with BTF
//! (`process_spin_lock`, `process_timer_func`).

use crate::error::Rejection;
use crate::explore::Env;
use crate::program::MapInfo;
use crate::regs::RegState;

/// A special field a helper takes a pointer to.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Field {
    /// `struct bpf_spin_lock`.
    SpinLock,
    /// `struct bpf_timer`.
    Timer,
}

impl Field {
    fn name(self) -> &'static str {
        match self {
            Field::SpinLock => "bpf_spin_lock",
            Field::Timer => "bpf_timer",
        }
    }

    fn offset(self, map: &MapInfo) -> Option<u32> {
        match self {
            Field::SpinLock => map.spin_lock_off,
            Field::Timer => map.timer_off,
        }
    }
}

/// A helper's pointer `reg` (in `regno`) to the `field` of a map value:
/// at a constant offset, in a map with BTF whose value has the field
/// there.
pub(crate) fn field_arg(
    env: &Env,
    insn: usize,
    regno: u8,
    reg: &RegState,
    field: Field,
) -> Result<(), Rejection> {
    let name = field.name();
    if !reg.value.is_const() {
        return Err(Rejection::new(
            insn,
            format!(
                "R{regno} doesn't have constant offset. {name} has to be at the constant offset"
            ),
        )
        .reg(regno, *reg));
    }
    let map = &env.prog.maps[reg.map as usize];
    if !map.btf {
        return Err(Rejection::new(
            insn,
            format!("map '{}' has to have BTF in order to use {name}", map.name),
        )
        .cause(format!(
            "the kernel finds the {name} in the map value through the map's BTF"
        ))
        .help("declare the map with BTF (`__type(value, struct ...)` in a SEC(\".maps\") map)"));
    }
    let Some(field_off) = field.offset(map) else {
        return Err(
            Rejection::new(insn, format!("map '{}' has no valid {name}", map.name))
                .cause(format!("the map value has no `struct {name}` field")),
        );
    };
    let at = reg.value.var_off.value as i64 + i64::from(reg.off);
    if at != i64::from(field_off) {
        return Err(Rejection::new(
            insn,
            format!("off {at} doesn't point to 'struct {name}' that is at {field_off}"),
        )
        .reg(regno, *reg));
    }
    Ok(())
}

/// `sizeof(struct bpf_spin_lock)`.
const SPIN_LOCK_SIZE: i64 = 4;
/// `sizeof(struct bpf_timer)`.
const TIMER_SIZE: i64 = 16;

/// Refuses an access of `size` bytes at `off` past the map value pointer
/// `reg` (in `regno`) that may touch a special field of `map`'s value.
pub(crate) fn check(
    insn: usize,
    map: &MapInfo,
    regno: u8,
    reg: &RegState,
    off: i32,
    size: i32,
) -> Result<(), Rejection> {
    let fields = [
        (Field::SpinLock, SPIN_LOCK_SIZE),
        (Field::Timer, TIMER_SIZE),
    ];
    let lo = reg.value.smin.saturating_add(off.into());
    let hi = (reg.value.umax as i64)
        .saturating_add(off.into())
        .saturating_add(size.into());
    for (field, field_size) in fields {
        let Some(at) = field.offset(map).map(i64::from) else {
            continue;
        };
        let name = field.name();
        if lo < at + field_size && at < hi {
            return Err(Rejection::new(
                insn,
                format!("{name} cannot be accessed directly by load/store"),
            )
            .reg(regno, *reg)
            .cause(format!(
                "the access may touch the map value's struct {name} at offset {at}, which only its helpers may use"
            ))
            .help(format!("read and write the other fields; use the bpf_{}* helpers for the {name}", name.trim_start_matches("bpf_"))));
        }
    }
    Ok(())
}
