//! The helpers the conformance suites expect: uBPF's test helpers
//! (`ubpf_plugin/test_helpers.h` in iovisor/ubpf), whose helper 5 ("unwind")
//! is also what bpf_conformance's `call_unwind_fail.data` expects.

use std::sync::Arc;

use apiary_vm::{HelperContext, HelperError, Helpers};

/// uBPF's bound on `memfrob`'s length is the region; ours keeps one call's copy small.
const MAX_FROB_BYTES: u64 = 1 << 20;
/// Longest string `strcmp_ext` compares.
const MAX_STRING_BYTES: usize = 1 << 16;

/// Helper 0: packs the low byte of each argument into one number.
fn gather_bytes(_: &mut HelperContext<'_, ()>, args: [u64; 5]) -> Result<u64, HelperError> {
    Ok(args.iter().fold(0, |acc, arg| (acc << 8) | (arg & 0xff)))
}

/// Helper 1: XORs `len` bytes at `ptr` with 42, as glibc's `memfrob`.
fn memfrob(ctx: &mut HelperContext<'_, ()>, [ptr, len, ..]: [u64; 5]) -> Result<u64, HelperError> {
    if len > MAX_FROB_BYTES {
        return Err(HelperError::Other(format!(
            "memfrob length {len} exceeds {MAX_FROB_BYTES}"
        )));
    }
    let frobbed: Vec<u8> = ctx
        .read(ptr, len as usize)?
        .iter()
        .map(|b| b ^ 42)
        .collect();
    ctx.write(ptr, &frobbed)?;
    Ok(0)
}

/// Helper 2: does nothing.
fn no_op(_: &mut HelperContext<'_, ()>, _: [u64; 5]) -> Result<u64, HelperError> {
    Ok(0)
}

/// Helper 3: integer square root, as uBPF's `(uint64_t)sqrt((double)a)`.
fn sqrti(_: &mut HelperContext<'_, ()>, [a, ..]: [u64; 5]) -> Result<u64, HelperError> {
    Ok((a as f64).sqrt() as u64)
}

/// Helper 4: `strcmp` of two NUL-terminated strings; the sign is what matters.
fn strcmp_ext(ctx: &mut HelperContext<'_, ()>, [a, b, ..]: [u64; 5]) -> Result<u64, HelperError> {
    let left = ctx.read_cstr(a, MAX_STRING_BYTES)?.to_vec();
    let right = ctx.read_cstr(b, MAX_STRING_BYTES)?;
    Ok(match left.as_slice().cmp(right) {
        std::cmp::Ordering::Less => -1i64 as u64,
        std::cmp::Ordering::Equal => 0,
        std::cmp::Ordering::Greater => 1,
    })
}

/// Helper 5: returns its argument, and stops the program (r0 = 0) when it is 0.
fn unwind(ctx: &mut HelperContext<'_, ()>, [a, ..]: [u64; 5]) -> Result<u64, HelperError> {
    if a == 0 {
        ctx.stop(0);
    }
    Ok(a)
}

/// The conformance helper table: ids 0-5 as uBPF's test plugin registers them.
pub fn conformance_helpers() -> Arc<Helpers<()>> {
    let table: [(u32, &'static str, apiary_vm::HelperFn<()>); 6] = [
        (0, "gather_bytes", gather_bytes),
        (1, "memfrob", memfrob),
        (2, "no_op", no_op),
        (3, "sqrti", sqrti),
        (4, "strcmp_ext", strcmp_ext),
        (5, "unwind", unwind),
    ];
    let mut helpers = Helpers::new();
    for (id, name, func) in table {
        // Ids 0-5 are far below the table's maximum id, so registration cannot fail.
        let _ = helpers.register(id, name, func);
    }
    Arc::new(helpers)
}
