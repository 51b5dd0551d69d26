//! The verifier meets hostile programs by design: random instruction
//! sequences (every slot a random opcode byte with random fields, and
//! sequences built from valid instructions of every class) get a verdict,
//! never a panic.

use apiary_isa::RawInsn;
use apiary_kernel::types::{AttachType, MapType, ProgType};
use apiary_verifier::{MapInfo, Program, verify};
use proptest::prelude::*;

fn maps() -> Vec<MapInfo> {
    [
        MapType::ARRAY,
        MapType::HASH,
        MapType::RINGBUF,
        MapType::ARRAY_OF_MAPS,
    ]
    .into_iter()
    .enumerate()
    .map(|(i, map_type)| MapInfo {
        map_type,
        key_size: 4,
        value_size: 16,
        max_entries: 4,
        flags: 0,
        frozen_value: (i == 0).then(|| vec![7; 16]),
        inner: (map_type == MapType::ARRAY_OF_MAPS).then_some(0),
        ..MapInfo::default()
    })
    .collect()
}

/// Opcodes of every class, so that most slots decode.
const CODES: [u8; 40] = [
    0x07, 0x0f, 0x17, 0x1f, 0x27, 0x2f, 0x37, 0x47, 0x4f, 0x57, 0x5f, 0x67, 0x77, 0x87, 0x97, 0xa7,
    0xb7, 0xbf, 0xc7, 0x04, 0xbc, 0xb4, 0xdc, 0x61, 0x69, 0x71, 0x79, 0x62, 0x63, 0x7a, 0x7b, 0x05,
    0x15, 0x1d, 0x25, 0x2d, 0xa5, 0x85, 0x95, 0xdb,
];

fn slot() -> impl Strategy<Value = RawInsn> {
    (
        prop_oneof![3 => prop::sample::select(CODES.to_vec()), 1 => any::<u8>()],
        0u8..11,
        0u8..11,
        prop_oneof![-8i16..8, -64i16..64, any::<i16>()],
        prop_oneof![
            0i32..16,
            -520i32..64,
            any::<i32>(),
            prop::sample::select(vec![1, 2, 3, 6, 12, 25, 130, 131])
        ],
    )
        .prop_map(|(code, dst, src, off, imm)| RawInsn {
            code,
            dst,
            src: if code == 0x85 { src % 2 } else { src },
            off,
            imm,
        })
}

fn prog_type() -> impl Strategy<Value = ProgType> {
    prop::sample::select(vec![
        ProgType::XDP,
        ProgType::SCHED_CLS,
        ProgType::SOCKET_FILTER,
        ProgType::CGROUP_SKB,
        ProgType::KPROBE,
        ProgType::CGROUP_SOCKOPT,
    ])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn random_programs_get_a_verdict(mut insns in prop::collection::vec(slot(), 1..40), t in prog_type()) {
        // Often end with `r0 = 0; exit` so that the walk goes deep.
        if insns.len() % 2 == 0 {
            insns.push(RawInsn { code: 0xb7, ..RawInsn::default() });
            insns.push(RawInsn { code: 0x95, ..RawInsn::default() });
        }
        let maps = maps();
        let program = Program {
            name: "random",
            insns: &insns,
            prog_type: t,
            attach_type: AttachType::default(),
            maps: &maps,
            lines: &[],
            gpl: true,
            ..Program::default()
        };
        let _ = verify(&program);
    }
}
