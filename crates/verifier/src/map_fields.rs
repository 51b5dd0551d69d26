//! The special fields of a map value (`struct bpf_spin_lock`, `struct
//! bpf_timer`), which only their helpers may touch: a load, store or
//! helper access overlapping one is refused (`check_map_access`).

use crate::error::Rejection;
use crate::program::MapInfo;
use crate::regs::RegState;

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
        (map.spin_lock_off, SPIN_LOCK_SIZE, "bpf_spin_lock"),
        (map.timer_off, TIMER_SIZE, "bpf_timer"),
    ];
    let lo = reg.value.smin.saturating_add(off.into());
    let hi = (reg.value.umax as i64)
        .saturating_add(off.into())
        .saturating_add(size.into());
    for (at, field_size, name) in fields {
        let Some(at) = at.map(i64::from) else {
            continue;
        };
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
