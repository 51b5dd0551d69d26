//! `bpf_ringbuf_reserve`, which compiled code calls directly on a ring
//! buffer the verifier knows (`emit_reserve`): the same results, records,
//! positions and wakeups as the interpreter's helper while the ring has
//! room, once it is full, after the consumer frees it, with samples
//! submitted and discarded with every wakeup flag, with flags the
//! reservation refuses and a size larger than the ring. Where every
//! reservation is direct, compiled code submits and discards itself
//! (`emit_commit`): two samples live at once released out of order, a
//! discard then a reservation, a consumer reading between runs; an
//! unverified program keeps the helpers.

// Only the harness: its lookup programs are not used here.
#[allow(dead_code)]
mod lookup_tiers;

use apiary_kernel::types::{MapType as KernelMapType, ProgType};
use apiary_maps::typed::RingBuf;
use apiary_maps::{BPF_RB_AVAIL_DATA, BPF_RB_CONS_POS, BPF_RB_PROD_POS, MapDef, MapType};
use apiary_runtime::{MapId, Runtime};
use apiary_verifier::MapInfo;
use apiary_vm::Engine;
use lookup_tiers::{Check, Maps, Tier, call_slots, first_helper, tiers_agree_jit};

/// Bytes of the ring: a page, 85 of the programs' 48-byte records.
const RING: u32 = 4096;
/// Bytes the programs reserve, and with the header, of each record.
const SAMPLE: u32 = 40;
const RECORD: u64 = 48;

fn map_defs() -> Vec<(MapDef, MapInfo)> {
    let info = MapInfo {
        map_type: KernelMapType::RINGBUF,
        max_entries: RING,
        ..MapInfo::default()
    };
    vec![(MapDef::new(MapType::Ringbuf, 0, 0, RING), info)]
}

fn fill(_: &Runtime, _: &[MapId]) {}

const MAPS: Maps = Maps {
    defs: map_defs,
    fill,
};

/// Keys the runs get (8 runs each): the ring fills up every 11th.
const KEYS: [u32; 40] = {
    let mut keys = [0; 40];
    let mut i = 0;
    while i < keys.len() {
        keys[i] = i as u32;
        i += 1;
    }
    keys
};

/// The ring's positions and whether a wakeup was signalled (then
/// cleared); when the ring has no room for another record, the records
/// too, read by the consumer, which frees the ring.
fn contents(tier: &Tier) -> Vec<String> {
    let map = tier.runtime.map(tier.maps[0]).expect("ring");
    let mut ring = RingBuf::new(&*map).expect("a ring buffer");
    let mut pfd = libc::pollfd {
        fd: ring.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, no wait.
    let woken = unsafe { libc::poll(&mut pfd, 1, 0) } == 1;
    ring.clear_ready();
    let query = |flags| map.ringbuf_query(flags).expect("query");
    let avail = query(BPF_RB_AVAIL_DATA);
    let mut found = vec![format!(
        "avail {avail} cons {} prod {} woken {woken}",
        query(BPF_RB_CONS_POS),
        query(BPF_RB_PROD_POS)
    )];
    if avail + RECORD > u64::from(RING) {
        while let Some(record) = ring.next() {
            found.push(format!("{:?}", &*record));
        }
        assert!(found.len() > 1, "a full ring with no records");
    }
    found
}

/// A program that reserves `size` bytes with `flags`, returns 1000 when
/// the reservation fails, and otherwise writes the key, the selector and
/// a pattern into the sample's 40 bytes, submits it with `submit_flags`
/// when the selector is 0 and discards it otherwise, and returns the
/// key + 1.
fn program(size: u32, flags: u32, submit_flags: u32) -> String {
    format!(
        "r6 = *(u32 *)(r1 + 0)\nr7 = *(u32 *)(r1 + 8)\n\
         ld_pseudo r1, 5, 0\nr2 = {size}\nr3 = {flags}\ncall 131\n\
         if r0 != 0 goto +2\nr0 = 1000\nexit\n\
         *(u64 *)(r0 + 0) = r6\n*(u64 *)(r0 + 8) = r7\n\
         r1 = 0x5a5a5a5a5a5a5a5a ll\n*(u64 *)(r0 + 16) = r1\n\
         *(u64 *)(r0 + 24) = r1\n*(u64 *)(r0 + 32) = r1\n\
         r1 = r0\nr2 = {submit_flags}\nif r7 != 0 goto +2\ncall 132\ngoto +1\ncall 133\n\
         r0 = r6\nr0 += 1\nexit"
    )
}

/// The first ring's records the consumer reads, freeing their room, after
/// every third key.
fn consume(tier: &Tier, key: u32) {
    if key % 3 != 2 {
        return;
    }
    let map = tier.runtime.map(tier.maps[0]).expect("ring");
    let mut ring = RingBuf::new(&*map).expect("a ring buffer");
    while ring.next().is_some() {}
}

fn tiers_agree_as(source: &str, between: &dyn Fn(&Tier, u32), verified_jit: bool) {
    let check = Check {
        keys: &KEYS,
        contents,
        between,
    };
    let accepted = tiers_agree_jit(source, &MAPS, &check, verified_jit);
    assert!(
        !call_slots(&accepted).is_empty(),
        "the verifier knows no call's map\n{source}"
    );
}

fn tiers_agree(source: &str) {
    tiers_agree_as(source, &|_, _| {}, true);
}

/// A program that reserves two samples, writes the key and selector into
/// both, submits the second with `submit_flags`, then submits the first
/// (selector 0) or discards it; returns the key + 1, 1000 when the first
/// reservation fails, 2000 when the second does (the first discarded).
fn two_live(submit_flags: u32) -> String {
    format!(
        "r6 = *(u32 *)(r1 + 0)\nr7 = *(u32 *)(r1 + 8)\n\
         ld_pseudo r1, 5, 0\nr2 = {SAMPLE}\nr3 = 0\ncall 131\n\
         if r0 != 0 goto +2\nr0 = 1000\nexit\n\
         r8 = r0\n*(u64 *)(r8 + 0) = r6\n\
         ld_pseudo r1, 5, 0\nr2 = {SAMPLE}\nr3 = 0\ncall 131\n\
         if r0 != 0 goto +5\nr1 = r8\nr2 = 0\ncall 133\nr0 = 2000\nexit\n\
         r9 = r0\n*(u64 *)(r9 + 0) = r7\n*(u64 *)(r9 + 8) = r6\n*(u64 *)(r8 + 8) = r7\n\
         r1 = r9\nr2 = {submit_flags}\ncall 132\n\
         r1 = r8\nr2 = {submit_flags}\nif r7 != 0 goto +2\ncall 132\ngoto +1\ncall 133\n\
         r0 = r6\nr0 += 1\nexit"
    )
}

/// A program that reserves a sample, discards it with `submit_flags`,
/// reserves another, fills it with the key and selector and submits it;
/// returns the key + 1, 1000 or 2000 when the first or second
/// reservation fails.
fn discard_then_reserve(submit_flags: u32) -> String {
    format!(
        "r6 = *(u32 *)(r1 + 0)\nr7 = *(u32 *)(r1 + 8)\n\
         ld_pseudo r1, 5, 0\nr2 = {SAMPLE}\nr3 = 0\ncall 131\n\
         if r0 != 0 goto +2\nr0 = 1000\nexit\n\
         *(u64 *)(r0 + 0) = r6\nr1 = r0\nr2 = {submit_flags}\ncall 133\n\
         ld_pseudo r1, 5, 0\nr2 = {SAMPLE}\nr3 = 0\ncall 131\n\
         if r0 != 0 goto +2\nr0 = 2000\nexit\n\
         *(u64 *)(r0 + 0) = r6\n*(u64 *)(r0 + 8) = r7\n\
         r1 = r0\nr2 = {submit_flags}\ncall 132\n\
         r0 = r6\nr0 += 1\nexit"
    )
}

#[test]
fn reservations_agree_while_the_ring_has_room_and_when_it_is_full() {
    // No flags, BPF_RB_NO_WAKEUP and BPF_RB_FORCE_WAKEUP.
    for submit_flags in [0, 1, 2] {
        tiers_agree(&program(SAMPLE, 0, submit_flags));
    }
}

#[test]
fn refused_reservations_agree() {
    // Reserve takes no flags; a record larger than the ring does not fit.
    tiers_agree(&program(SAMPLE, 1, 0));
    tiers_agree(&program(RING, 0, 0));
}

#[test]
fn the_reservation_is_called_directly() {
    let (tier, _) = Tier::new(&program(SAMPLE, 0, 0), Engine::Compiled, &MAPS);
    let (program, index) = first_helper(&tier);
    assert!(program.ringbuf_reserve(index, 0).is_some());
}

#[test]
fn samples_live_at_once_released_out_of_order_agree() {
    for submit_flags in [0, 1, 2] {
        tiers_agree(&two_live(submit_flags));
    }
}

#[test]
fn a_discard_then_a_reservation_agree() {
    for submit_flags in [0, 1, 2] {
        tiers_agree(&discard_then_reserve(submit_flags));
    }
}

#[test]
fn releases_agree_with_a_consumer_reading_between_runs() {
    for submit_flags in [0, 1, 2] {
        tiers_agree_as(&program(SAMPLE, 0, submit_flags), &consume, true);
        tiers_agree_as(&two_live(submit_flags), &consume, true);
    }
}

#[test]
fn an_unverified_program_releases_through_the_helpers_alike() {
    for submit_flags in [0, 1, 2] {
        tiers_agree_as(&program(SAMPLE, 0, submit_flags), &|_, _| {}, false);
        tiers_agree_as(&two_live(submit_flags), &consume, false);
    }
}

#[test]
fn the_submit_and_discard_are_called_directly() {
    let (tier, _) = Tier::new(&program(SAMPLE, 0, 0), Engine::Compiled, &MAPS);
    let program = tier.runtime.program(tier.prog).expect("loaded");
    let commits: Vec<bool> = program
        .ops()
        .iter()
        .filter_map(|op| match *op {
            apiary_vm::Op::CallHelper { index } if !program.reserves_samples(index) => {
                Some(program.ringbuf_commit(index).is_some())
            }
            _ => None,
        })
        .collect();
    assert_eq!(commits, [true, true], "submit and discard");
}

#[test]
fn only_a_samples_start_is_released() {
    // The commit finds the record from the sample's start: the verifier
    // refuses any other pointer into it, as the kernel does
    // (`check_func_arg_reg_off`), fixed or variable.
    let offsets = [
        (
            "r1 += 8",
            "R1 must have zero offset when passed to release func",
        ),
        (
            "r2 = *(u32 *)(r10 - 8)\nr2 &= 8\nr1 += r2",
            "variable ringbuf_mem access var_off=",
        ),
    ];
    for (moved, message) in offsets {
        let source = format!(
            "r6 = *(u32 *)(r1 + 0)\nld_pseudo r1, 5, 0\nr2 = {SAMPLE}\nr3 = 0\ncall 131\n\
             if r0 != 0 goto +2\nr0 = 0\nexit\nr1 = r0\n{moved}\nr2 = 0\ncall 132\nr0 = 0\nexit"
        );
        let insns = apiary_asm::assemble_slots(&source).expect("assembles");
        let infos: Vec<MapInfo> = map_defs().into_iter().map(|(_, info)| info).collect();
        let program = apiary_verifier::Program::bare(&insns, ProgType::KPROBE, &infos);
        let refused = apiary_verifier::verify(&program).expect_err("refused");
        assert!(refused.to_string().contains(message), "{refused}\n{source}");
    }
}
