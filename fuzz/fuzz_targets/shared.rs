//! What the execution targets share: the helpers that exercise the
//! helper context (memory reads and writes, callbacks, stop, tail calls)
//! and the input layout (byte 0 = context length, byte 1 = packet length,
//! then the context bytes, the packet bytes and the bytecode, each part
//! truncated to what is available).

use std::sync::Arc;

use apiary_vm::{HelperContext, HelperError, Helpers, Program};

/// Instructions one run may execute, callbacks and tail calls included.
pub const BUDGET: u64 = 20_000;

#[derive(Default)]
pub struct Env {
    /// The program being run, so the tail-call helper can jump to it again.
    pub this_program: Option<Arc<Program<Env>>>,
}

type Ctx<'a> = HelperContext<'a, Env>;

fn add(_: &mut Ctx<'_>, args: [u64; 5]) -> Result<u64, HelperError> {
    Ok(args[0].wrapping_add(args[1]))
}

fn sum_bytes(ctx: &mut Ctx<'_>, args: [u64; 5]) -> Result<u64, HelperError> {
    let bytes = ctx.read(args[0], (args[1] & 0xff) as usize)?;
    Ok(bytes.iter().map(|&b| u64::from(b)).sum())
}

fn fill(ctx: &mut Ctx<'_>, args: [u64; 5]) -> Result<u64, HelperError> {
    let len = (args[1] % 65) as usize;
    let byte = args[2].to_le_bytes()[0];
    ctx.write(args[0], &vec![byte; len])?;
    Ok(len as u64)
}

fn for_each(ctx: &mut Ctx<'_>, args: [u64; 5]) -> Result<u64, HelperError> {
    let rounds = args[2] & 3;
    for i in 0..rounds {
        let r0 = ctx
            .call_function(args[0], [i, args[1], 0, 0, 0])
            .map_err(|e| HelperError::Callback(Box::new(e)))?;
        if r0 != 0 {
            return Ok(i + 1);
        }
    }
    Ok(rounds)
}

fn stop(ctx: &mut Ctx<'_>, args: [u64; 5]) -> Result<u64, HelperError> {
    ctx.stop(args[0]);
    Ok(0)
}

fn tail_call_self(ctx: &mut Ctx<'_>, _: [u64; 5]) -> Result<u64, HelperError> {
    let Some(program) = ctx.env().this_program.clone() else {
        return Ok(u64::MAX);
    };
    // A refused tail call falls through, as in the kernel.
    Ok(match ctx.tail_call(program) {
        Ok(()) => 0,
        Err(_) => u64::MAX,
    })
}

fn string_length(ctx: &mut Ctx<'_>, args: [u64; 5]) -> Result<u64, HelperError> {
    Ok(ctx.read_cstr(args[0], 64)?.len() as u64)
}

pub fn helpers() -> Helpers<Env> {
    let mut table = Helpers::new();
    let entries: [(u32, &'static str, apiary_vm::HelperFn<Env>); 7] = [
        (1, "add", add),
        (2, "sum_bytes", sum_bytes),
        (3, "fill", fill),
        (4, "for_each", for_each),
        (5, "stop", stop),
        (6, "tail_call_self", tail_call_self),
        (7, "string_length", string_length),
    ];
    for (id, name, func) in entries {
        table
            .register(id, name, func)
            .expect("ids below MAX_HELPER_ID");
    }
    table
}

/// Takes the first `len` bytes (or all there are) off `data`.
fn take<'a>(data: &mut &'a [u8], len: usize) -> &'a [u8] {
    let (head, tail) = data.split_at(len.min(data.len()));
    *data = tail;
    head
}

/// An input split into its parts.
pub struct Input {
    /// The context bytes (a writable region, its address in r1).
    pub context: Vec<u8>,
    /// The packet bytes (read-only, for `LD_ABS`/`LD_IND`).
    pub packet: Vec<u8>,
    /// The rest: the bytecode.
    pub bytecode: Vec<u8>,
}

/// Splits `input` as the layout above says.
pub fn split(input: &[u8]) -> Input {
    let mut data = input;
    let lengths = take(&mut data, 2);
    let context_len = lengths.first().copied().unwrap_or(0).into();
    let packet_len = lengths.get(1).copied().unwrap_or(0).into();
    let context = take(&mut data, context_len).to_vec();
    let packet = take(&mut data, packet_len).to_vec();
    Input {
        context,
        packet,
        bytecode: data.to_vec(),
    }
}
