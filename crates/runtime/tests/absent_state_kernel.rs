//! Helpers over state Apiary does not have (sockets, call chains) against
//! the kernel, where `BPF_PROG_TEST_RUN` can run the same program: each
//! program records helper results in an array map, in the kernel (test-run)
//! and in Apiary (`Runtime::run`), and the records must be identical.
//!
//! Only answers that do not depend on the missing state are compared: a
//! kernel test-run does have a call chain, so the stack helpers are checked
//! on the flag and size errors they give before taking one.

use std::os::fd::{AsFd, AsRawFd};

use apiary_isa::{RawInsn, encode_program, slots_to_bytes};
use apiary_kernel::types::{AttachType, MapType as KernelMapType, ProgType};
use apiary_kernel::{MapCreateAttrs, MapFd, ProgLoadAttrs, TestRunAttrs};
use apiary_maps::{MapDef, MapType};
use apiary_runtime::{Runtime, TaskInfo};
use apiary_testskip::Reason;
use apiary_vm::Runner;

mod records;

/// Each record: r0 of the call, then 56 bytes of the stack buffer.
const RECORD: u32 = 64;
const RECORDS: u32 = 16;

fn code(text: &str) -> Vec<RawInsn> {
    encode_program(&apiary_asm::assemble(text).expect("test program assembles"))
}

/// Instructions that store r0 and the buffer at r10-56 as record `index`
/// (`{records}` stands for the map load).
fn record(index: u32) -> String {
    format!(
        " *(u64 *)(r10 - 64) = r0\n r1 = {index}\n *(u32 *)(r10 - 72) = r1\n {{records}}\n \
         r2 = r10\n r2 += -72\n r3 = r10\n r3 += -64\n r4 = 0\n call 2\n"
    )
}

/// Fills the 56-byte buffer at r10-56 with 0xff bytes (with `r1 = 0`
/// instead, zeroes it).
const DIRTY_BUFFER: &str = " r1 = -1\n *(u64 *)(r10 - 8) = r1\n *(u64 *)(r10 - 16) = r1\n \
     *(u64 *)(r10 - 24) = r1\n *(u64 *)(r10 - 32) = r1\n *(u64 *)(r10 - 40) = r1\n \
     *(u64 *)(r10 - 48) = r1\n *(u64 *)(r10 - 56) = r1\n";

/// A program, its type and context, and the maps it refers to (the record
/// array first, then an empty map of each extra definition).
struct Case {
    prog_type: ProgType,
    attach: Option<AttachType>,
    body: String,
    ctx: Vec<u8>,
    extra: Vec<MapDef>,
}

fn map_load(reg: &str, src: u32, imm: i32) -> String {
    format!("ld_pseudo {reg}, {src}, {imm}")
}

/// Replaces `{records}` and `{map1}`.. with loads of the right handles.
fn resolve(body: &str, src: u32, handles: &[i32]) -> String {
    let mut text = body.replace("{records}", &map_load("r1", src, handles[0]));
    for (i, h) in handles.iter().enumerate().skip(1) {
        text = text.replace(&format!("{{map{i}}}"), &map_load("r1", src, *h));
    }
    format!("r6 = r1\n{text} r0 = 1\n exit")
}

fn kernel_records(case: &Case) -> Result<Vec<Vec<u8>>, Reason> {
    apiary_kernel::probe().map_err(|e| Reason::missing(format!("bpf() is unavailable: {e}")))?;
    let create = |def: &MapDef| {
        MapFd::create(&MapCreateAttrs {
            map_type: KernelMapType(def.map_type),
            key_size: def.key_size,
            value_size: def.value_size,
            max_entries: def.max_entries,
            name: "m",
            ..MapCreateAttrs::default()
        })
        .unwrap_or_else(|e| panic!("map {def:?}: {e}"))
    };
    let records = create(&MapDef::new(MapType::Array, 4, RECORD, RECORDS));
    let extra: Vec<_> = case.extra.iter().map(create).collect();
    let mut handles = vec![records.as_fd().as_raw_fd()];
    handles.extend(extra.iter().map(|m| m.as_fd().as_raw_fd()));
    let insns = slots_to_bytes(&code(&resolve(&case.body, 1, &handles)));
    let prog = records::load(&ProgLoadAttrs {
        prog_type: case.prog_type,
        expected_attach_type: case.attach,
        insns: &insns,
        license: "GPL",
        name: "rec",
        ..ProgLoadAttrs::default()
    })?;
    let out = prog
        .test_run(&TestRunAttrs {
            ctx_in: &case.ctx,
            ..TestRunAttrs::default()
        })
        .expect("the kernel test-runs the program");
    assert_eq!(out.retval, 1, "the kernel ran the program to its end");
    Ok(records::kernel(&records, RECORDS))
}

fn apiary_records(case: &Case) -> Vec<Vec<u8>> {
    let rt = Runtime::new(1);
    let mut maps = vec![
        rt.create_map(MapDef::new(MapType::Array, 4, RECORD, RECORDS))
            .unwrap(),
    ];
    for def in &case.extra {
        maps.push(rt.create_map(def.clone()).unwrap());
    }
    let handles: Vec<i32> = (0..maps.len() as i32).collect();
    let prog = rt
        .load_program_for(
            "rec",
            case.prog_type,
            case.attach.unwrap_or_default(),
            &code(&resolve(&case.body, 5, &handles)),
            &maps,
            &[],
        )
        .expect("apiary loads the program");
    let mut ctx = case.ctx.clone();
    let r0 = rt
        .run(&mut Runner::new(), prog, &mut ctx, 0, &TaskInfo::current())
        .expect("apiary runs the program");
    assert_eq!(r0, 1);
    records::apiary(&rt.map(maps[0]).unwrap(), RECORDS)
}

/// Runs `case` in both; returns the records, or `None` after a skip.
fn same_records(test: &str, case: &Case) -> Option<Vec<Vec<u8>>> {
    let kernel = match kernel_records(case) {
        Ok(records) => records,
        Err(reason) => return apiary_testskip::skip(test, reason),
    };
    let ours = apiary_records(case);
    for (key, (o, k)) in ours.iter().zip(&kernel).enumerate() {
        assert_eq!(o, k, "{test}: record {key}, apiary (left) vs kernel");
    }
    Some(kernel)
}

fn ret(record: &[u8]) -> i64 {
    i64::from_ne_bytes(record[..8].try_into().unwrap())
}

/// `struct bpf_sk_lookup` for a TCP/IPv4 lookup of port 80.
fn sk_lookup_ctx() -> Vec<u8> {
    let mut ctx = vec![0u8; 72];
    ctx[8..12].copy_from_slice(&2u32.to_ne_bytes()); // AF_INET
    ctx[12..16].copy_from_slice(&6u32.to_ne_bytes()); // IPPROTO_TCP
    ctx[16..20].copy_from_slice(&[10, 0, 0, 1]); // remote_ip4
    ctx[36..38].copy_from_slice(&4242u16.to_be_bytes()); // remote_port
    ctx[40..44].copy_from_slice(&[10, 0, 0, 2]); // local_ip4
    ctx[60..64].copy_from_slice(&80u32.to_ne_bytes()); // local_port
    ctx
}

#[test]
fn sk_lookup_with_empty_sockmap_matches_kernel() {
    // The buffer is not used: zero it so records hold no stale stack.
    let mut body = DIRTY_BUFFER.replace("r1 = -1", "r1 = 0");
    for (index, flags) in [0u64, 1, 2, 3, 4, 0x80].into_iter().enumerate() {
        body.push_str(&format!(
            " r1 = r6\n r2 = 0\n r3 = {flags}\n call 124\n{}",
            record(index as u32)
        ));
    }
    // bpf_map_lookup_elem on the empty sockmap: NULL (released if not).
    body.push_str(
        " r1 = 0\n *(u32 *)(r10 - 76) = r1\n {map1}\n r2 = r10\n r2 += -76\n call 1\n \
         if r0 == 0 goto empty\n r1 = r0\n call 86\n r0 = 1\n empty:\n",
    );
    body.push_str(&record(6));
    let case = Case {
        prog_type: ProgType::SK_LOOKUP,
        attach: Some(AttachType::SK_LOOKUP),
        body,
        ctx: sk_lookup_ctx(),
        extra: vec![MapDef::new(MapType::Sockmap, 4, 8, 2)],
    };
    let Some(records) = same_records("sk_lookup_with_empty_sockmap_matches_kernel", &case) else {
        return;
    };
    let rets: Vec<i64> = records.iter().take(7).map(|r| ret(r)).collect();
    assert_eq!(rets, [0, 0, 0, 0, -22, -22, 0]);
}

#[test]
fn stack_helper_refusals_match_kernel() {
    // Records 0-2 copy r10-56..r10 before any call below writes there: zero
    // it first (as the sk_lookup test does), or they would compare what an
    // earlier kernel function left on the stack (kernel pointers) with
    // Apiary's fresh zeroed stack.
    let mut body = DIRTY_BUFFER.replace("r1 = -1", "r1 = 0");
    // bpf_get_stackid with flags it refuses.
    for (index, flags) in [1u64 << 11, 1 << 12, 1 << 40].into_iter().enumerate() {
        body.push_str(&format!(
            " {{map1}}\n r2 = r1\n r1 = r6\n r3 = {flags:#x} ll\n call 27\n{}",
            record(index as u32)
        ));
    }
    // bpf_get_stack: bad flags, build ids of a kernel stack, partial frames;
    // the buffer comes back zeroed in every case.
    let stack_cases = [
        (56u32, 1u64 << 12),
        (56, 1 << 11),
        (20, 0),
        (40, (1 << 8) | (1 << 11)),
    ];
    for (index, (size, flags)) in stack_cases.into_iter().enumerate() {
        body.push_str(DIRTY_BUFFER);
        body.push_str(&format!(
            " r1 = r6\n r2 = r10\n r2 += -56\n r3 = {size}\n r4 = {flags:#x} ll\n call 67\n{}",
            record(3 + index as u32)
        ));
    }
    let case = Case {
        prog_type: ProgType::RAW_TRACEPOINT,
        attach: None,
        body,
        ctx: vec![0; 16],
        extra: vec![MapDef::new(MapType::StackTrace, 4, 64, 16)],
    };
    let Some(records) = same_records("stack_helper_refusals_match_kernel", &case) else {
        return;
    };
    for record in records.iter().take(7) {
        assert_eq!(ret(record), -22);
    }
    // 20 bytes zeroed, the rest of the dirty buffer left alone.
    assert_eq!(&records[5][8..28], &[0; 20]);
    assert_eq!(&records[5][28..36], &[0xff; 8]);
}
