//! The C commits ([`SUBMIT`], [`DISCARD`]), which find the ring from the
//! sample's header alone, against the map's own submit and discard: two
//! rings of several pages, driven alike through both, give the same
//! records, positions and wakeups, with samples in every page of the data
//! area, across the wrap, released out of order, with every flag.

use apiary_maps::typed::RingBuf;
use apiary_maps::*;

/// Data pages of each ring.
const PAGES: usize = 4;

/// Whether a wakeup was signalled on `ring`'s eventfd since the last call.
fn woken(ring: &mut RingBuf<&Map>) -> bool {
    let mut pfd = libc::pollfd {
        fd: ring.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, no wait.
    let ready = unsafe { libc::poll(&mut pfd, 1, 0) } == 1;
    ring.clear_ready();
    ready
}

/// One step of both rings: reserve two samples of `size` bytes, fill
/// them, release the second, then the first, with `flags`, discarding
/// those `discard` says; what the step changed on the ring, as seen by the
/// consumer and the queries, with its records read when `read`.
fn step(
    map: &Map,
    ring: &mut RingBuf<&Map>,
    size: u64,
    flags: u64,
    discard: [bool; 2],
    read: bool,
    direct: bool,
) -> Vec<String> {
    let samples = [0u8, 1].map(|i| {
        let sample = map.ringbuf_reserve(size, 0).expect("room");
        // SAFETY: the sample is `size` bytes of the ring's data area.
        unsafe { std::ptr::write_bytes(sample.as_ptr(), i + size as u8, size as usize) };
        sample.addr()
    });
    for (sample, discard) in samples.into_iter().zip(discard).rev() {
        if direct {
            let commit = if discard { DISCARD } else { SUBMIT };
            // SAFETY: a sample just reserved and not yet released.
            assert_eq!(unsafe { commit(sample as u64, flags) }, 0);
        } else if discard {
            map.ringbuf_discard(sample, flags).expect("discards");
        } else {
            map.ringbuf_submit(sample, flags).expect("submits");
        }
    }
    let query = |q| map.ringbuf_query(q).expect("query");
    let mut seen = vec![format!(
        "cons {} prod {} woken {}",
        query(BPF_RB_CONS_POS),
        query(BPF_RB_PROD_POS),
        woken(ring)
    )];
    if read {
        while let Some(record) = ring.next() {
            seen.push(format!("{:?}", &*record));
        }
    }
    seen
}

#[test]
fn direct_commits_match_the_maps_own() {
    let size = (PAGES * page_size()) as u32;
    let rings = [0, 1].map(|_| Map::create(MapDef::new(MapType::Ringbuf, 0, 0, size), 1).unwrap());
    let [mut by_map, mut direct] =
        [&rings[0], &rings[1]].map(|map| RingBuf::new(map).expect("a ring buffer"));
    for round in 0..600u64 {
        let sample = 8 + round % 200;
        let flags = round % 3;
        let discard = [round % 5 == 0, round % 7 == 0];
        let read = round % 4 == 3;
        let expected = step(&rings[0], &mut by_map, sample, flags, discard, read, false);
        let found = step(&rings[1], &mut direct, sample, flags, discard, read, true);
        assert_eq!(found, expected, "round {round}");
    }
    // The positions went round the ring more than once.
    assert!(rings[1].ringbuf_query(BPF_RB_PROD_POS).unwrap() > 2 * u64::from(size));
}
