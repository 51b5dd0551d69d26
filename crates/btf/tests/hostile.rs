//! Hand-built BTF and BTF.ext blobs: valid ones with known meaning, broken
//! ones that must give typed errors, and random corruption that must never
//! panic or hang.

use apiary_btf::{
    Btf, BtfError, BtfExt, BtfExtError, BtfKind, CoreReloKind, DumpError, Endianness, Kind, TypeId,
    dump_c, dump_raw,
};
use proptest::prelude::*;

mod common;
use common::*;

/// A blob using every kind, with known sizes.
fn every_kind(big_endian: bool) -> Vec<u8> {
    let mut b = Builder::new();
    b.big_endian = big_endian;
    let [int, s, a, bf, e, one, f, x, sec, dbl, tag, td] = [
        "int", "s", "a", "bf", "e", "ONE", "f", "x", ".data", "double", "tag", "s_t",
    ]
    .map(|name| b.str(name));
    b.ty(int, INT, 0, false, 4, &[(1 << 24) | 32]); // [1] int
    b.ty(0, PTR, 0, false, 1, &[]); // [2] int *
    b.ty(0, ARRAY, 0, false, 0, &[1, 1, 3]); // [3] int[3]
    // [4] struct s { int a; int bf:4; int[3] (anon) } with kind flag
    b.ty(
        s,
        STRUCT,
        3,
        true,
        20,
        &[a, 1, 0, bf, 1, (4 << 24) | 32, 0, 3, 64],
    );
    b.ty(0, UNION, 1, false, 4, &[a, 1, 0]); // [5]
    b.ty(e, ENUM, 1, true, 4, &[one, (-1i32) as u32]); // [6] signed
    b.ty(s, FWD, 0, true, 0, &[]); // [7] union fwd
    b.ty(td, TYPEDEF, 0, false, 4, &[]); // [8]
    b.ty(0, CONST, 0, false, 8, &[]); // [9]
    b.ty(0, FUNC_PROTO, 1, false, 1, &[x, 2]); // [10] int (int *x)
    b.ty(f, FUNC, 1, false, 10, &[]); // [11] global
    b.ty(x, VAR, 0, false, 9, &[1]); // [12]
    b.ty(sec, DATASEC, 1, false, 20, &[12, 0, 20]); // [13]
    b.ty(dbl, FLOAT, 0, false, 8, &[]); // [14]
    b.ty(tag, DECL_TAG, 0, false, 4, &[1]); // [15] on member 1 of s
    b.ty(tag, TYPE_TAG, 0, false, 1, &[]); // [16]
    b.ty(e, ENUM64, 1, false, 8, &[one, 1, 2]); // [17] value 0x2_0000_0001
    b.build()
}

fn parse_err(data: &[u8]) -> BtfError {
    Btf::parse(data).expect_err("must be rejected")
}

#[test]
fn every_kind_parses_with_its_meaning() {
    let btf = Btf::parse(&every_kind(false)).expect("valid");
    assert_eq!(btf.type_count(), 18);
    assert_eq!(btf.endianness(), Endianness::Little);
    let s = btf
        .find_by_name_kind("s", BtfKind::Struct)
        .expect("struct s");
    assert_eq!(s, TypeId(4));
    assert_eq!(btf.find_by_name_kind("s", BtfKind::Fwd), Some(TypeId(7)));
    assert_eq!(btf.find_by_name("s"), Some(TypeId(4)));
    assert_eq!(btf.find_by_name("void"), Some(TypeId::VOID));
    let members = btf.members(s).expect("members");
    assert_eq!(members[1].bit_offset, 32);
    assert_eq!(members[1].bitfield_size, 4);
    let flat = btf.flat_members(s).expect("flat");
    assert_eq!(
        flat.len(),
        2,
        "the anonymous array member is not an aggregate"
    );
    assert_eq!(btf.size_of(TypeId(3)).expect("array"), 12);
    assert_eq!(btf.size_of(TypeId(9)).expect("const typedef struct"), 20);
    assert_eq!(btf.size_of(TypeId(12)).expect("var"), 20);
    assert_eq!(btf.align_of(s).expect("align"), 4);
    assert_eq!(btf.skip_modifiers_and_typedefs(TypeId(9)).expect("skip"), s);
    assert_eq!(btf.skip_modifiers(TypeId(16)).expect("skip tag"), TypeId(1));
    assert!(matches!(
        btf.size_of(TypeId(10)),
        Err(BtfError::NoSize {
            kind: BtfKind::FuncProto,
            ..
        })
    ));
    match &btf.type_by_id(TypeId(17)).expect("enum64").kind {
        Kind::Enum64(e) => assert_eq!(e.values[0].raw, 0x2_0000_0001),
        other => panic!("{other:?}"),
    }
    let mut raw = Vec::new();
    dump_raw(&btf, &mut raw).expect("dump");
    let raw = String::from_utf8(raw).expect("utf8");
    // Lines as bpftool's dump_btf_type formats them.
    assert!(raw.starts_with("[1] INT 'int' size=4 bits_offset=0 nr_bits=32 encoding=SIGNED\n"));
    assert!(raw.contains("\n\t'bf' type_id=1 bits_offset=32 bitfield_size=4\n"));
    assert!(raw.contains("[6] ENUM 'e' encoding=SIGNED size=4 vlen=1\n\t'ONE' val=-1\n"));
    assert!(raw.contains("[12] VAR 'x' type_id=9, linkage=global\n"));
    assert!(raw.contains("\ttype_id=12 offset=0 size=20 (VAR 'x')\n"));
    assert!(raw.contains("[15] DECL_TAG 'tag' type_id=4 component_idx=1\n"));
    assert!(raw.contains("\t'ONE' val=8589934593ULL\n"));
    let mut c = Vec::new();
    dump_c(&btf, &mut c).expect("C dump");
    let c = String::from_utf8(c).expect("utf8");
    assert!(
        c.contains("struct s {\n\tint a;\n\tint bf: 4;\n\tint[3];\n};\n"),
        "{c}"
    );
    assert!(c.contains("typedef struct s s_t;\n"));
}

#[test]
fn big_endian_blob_parses_to_the_same_types() {
    let little = Btf::parse(&every_kind(false)).expect("LE");
    let big = Btf::parse(&every_kind(true)).expect("BE");
    assert_eq!(big.endianness(), Endianness::Big);
    let l: Vec<_> = little.types().map(|(_, t)| t.clone()).collect();
    let b: Vec<_> = big.types().map(|(_, t)| t.clone()).collect();
    assert_eq!(l, b);
}

#[test]
fn header_errors_are_typed() {
    let good = every_kind(false);
    assert!(matches!(
        parse_err(&good[..10]),
        BtfError::TruncatedHeader { .. }
    ));
    let mut bad = good.clone();
    bad[0] = 0;
    assert!(matches!(parse_err(&bad), BtfError::BadMagic(_)));
    let mut bad = good.clone();
    bad[2] = 2;
    assert_eq!(parse_err(&bad), BtfError::UnsupportedVersion(2));
    let mut bad = good.clone();
    bad[3] = 1;
    assert_eq!(parse_err(&bad), BtfError::UnsupportedFlags(1));
    let mut bad = good.clone();
    bad[4..8].copy_from_slice(&16u32.to_le_bytes());
    assert!(matches!(parse_err(&bad), BtfError::BadHeaderLength { .. }));
    let mut bad = good.clone();
    bad[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(parse_err(&bad), BtfError::BadHeaderLength { .. }));
    // String section length pointing past the end, with u32 overflow.
    let mut bad = good.clone();
    bad[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        parse_err(&bad),
        BtfError::SectionOutOfBounds { .. }
    ));
    // Type section running into the strings.
    let mut bad = good.clone();
    let type_len = u32::from_le_bytes(bad[12..16].try_into().expect("4 bytes"));
    bad[12..16].copy_from_slice(&(type_len + 4).to_le_bytes());
    assert!(matches!(parse_err(&bad), BtfError::SectionsOverlap { .. }));
    let mut bad = good.clone();
    bad[8..12].copy_from_slice(&2u32.to_le_bytes());
    bad[12..16].copy_from_slice(&0u32.to_le_bytes());
    assert_eq!(parse_err(&bad), BtfError::MisalignedTypeSection(2));
}

#[test]
fn string_section_errors_are_typed() {
    let mut good = every_kind(false);
    let last = good.len() - 1;
    good[last] = b'x';
    assert!(matches!(parse_err(&good), BtfError::BadStringSection(_)));
    let mut b = Builder::new();
    b.strings = vec![b'a', 0];
    assert!(matches!(
        parse_err(&b.build()),
        BtfError::BadStringSection(_)
    ));
    b.strings = vec![0, 0xff, 0];
    assert!(matches!(parse_err(&b.build()), BtfError::InvalidUtf8(1)));
    b.strings.clear();
    assert!(matches!(
        parse_err(&b.build()),
        BtfError::BadStringSection(_)
    ));
}

#[test]
fn type_errors_are_typed() {
    let mut b = Builder::new();
    b.ty(0, PTR, 0, false, 5, &[]);
    assert_eq!(
        parse_err(&b.build()),
        BtfError::TypeIdOutOfRange {
            id: 1,
            target: 5,
            count: 2
        }
    );

    let mut b = Builder::new();
    b.ty(1000, INT, 0, false, 4, &[32]);
    assert!(matches!(
        parse_err(&b.build()),
        BtfError::StringOffsetOutOfRange { off: 1000, .. }
    ));

    let mut b = Builder::new();
    b.ty(0, 0, 0, false, 0, &[]);
    assert_eq!(
        parse_err(&b.build()),
        BtfError::UnknownKind { id: 1, kind: 0 }
    );
    let mut b = Builder::new();
    b.ty(0, 20, 0, false, 0, &[]);
    assert_eq!(
        parse_err(&b.build()),
        BtfError::UnknownKind { id: 1, kind: 20 }
    );

    // 65535 members announced, none present.
    let mut b = Builder::new();
    b.ty(0, STRUCT, 0xffff, false, 4, &[]);
    assert_eq!(parse_err(&b.build()), BtfError::TruncatedType { id: 1 });

    // Two stray bytes after the last type.
    let mut b = Builder::new();
    b.ty(0, PTR, 0, false, 0, &[]);
    let mut blob = b.build();
    let type_len = 14u32;
    blob[12..16].copy_from_slice(&type_len.to_le_bytes());
    blob[16..20].copy_from_slice(&(type_len + 2).to_le_bytes());
    blob.splice(36..36, [0u8; 4]);
    assert_eq!(parse_err(&blob), BtfError::TruncatedType { id: 2 });

    let mut b = Builder::new();
    b.ty(0, INT, 0, false, 4, &[32]);
    b.ty(0, FUNC, 0, false, 1, &[]);
    assert!(matches!(
        parse_err(&b.build()),
        BtfError::FuncNotProto { id: 2, .. }
    ));

    let mut b = Builder::new();
    b.ty(0, FUNC_PROTO, 0, false, 0, &[]);
    b.ty(0, FUNC, 7, false, 1, &[]);
    assert!(matches!(
        parse_err(&b.build()),
        BtfError::BadLinkage { linkage: 7, .. }
    ));

    let mut b = Builder::new();
    b.ty(0, INT, 0, false, 3, &[24]);
    assert!(matches!(parse_err(&b.build()), BtfError::BadInt { .. }));
    let mut b = Builder::new();
    b.ty(0, INT, 0, false, 4, &[(3 << 24) | 32]);
    assert!(matches!(parse_err(&b.build()), BtfError::BadInt { .. }));
    let mut b = Builder::new();
    b.ty(0, INT, 0, false, 4, &[33]);
    assert!(matches!(parse_err(&b.build()), BtfError::BadInt { .. }));

    let btf = Btf::parse(&every_kind(false)).expect("valid");
    assert!(matches!(
        btf.type_by_id(TypeId(99)),
        Err(BtfError::TypeIdOutOfRange { .. })
    ));
    assert!(matches!(
        btf.members(TypeId(1)),
        Err(BtfError::NotComposite { .. })
    ));
    assert!(btf.str_at(1 << 30).is_err());
}

#[test]
fn loops_and_overflows_end_in_errors() {
    // [1] typedef -> [2] typedef -> [1]
    let mut b = Builder::new();
    let a = b.str("a");
    let c = b.str("c");
    b.ty(a, TYPEDEF, 0, false, 2, &[]);
    b.ty(c, TYPEDEF, 0, false, 1, &[]);
    b.ty(0, PTR, 0, false, 3, &[]); // [3] pointer to itself
    b.ty(0, CONST, 0, false, 4, &[]); // [4] const of itself
    let btf = Btf::parse(&b.build()).expect("loops are structurally valid");
    assert_eq!(
        btf.size_of(TypeId(1)),
        Err(BtfError::ResolveDepthExceeded(TypeId(1)))
    );
    assert!(btf.skip_modifiers_and_typedefs(TypeId(2)).is_err());
    assert!(btf.skip_modifiers(TypeId(4)).is_err());
    assert!(btf.align_of(TypeId(1)).is_err());
    assert!(matches!(
        dump_c(&btf, &mut Vec::new()),
        Err(DumpError::TooDeep(_) | DumpError::TypeCycle(_))
    ));
    dump_raw(&btf, &mut Vec::new()).expect("raw dump needs no resolution");

    // A struct embedding itself cannot be written in C.
    let mut b = Builder::new();
    let s = b.str("s");
    b.ty(s, STRUCT, 1, false, 4, &[s, 1, 0]);
    let btf = Btf::parse(&b.build()).expect("valid layout-wise");
    assert!(matches!(
        dump_c(&btf, &mut Vec::new()),
        Err(DumpError::TypeCycle(TypeId(1)))
    ));

    // int[0xffffffff][0xffffffff]
    let mut b = Builder::new();
    b.ty(0, INT, 0, false, 4, &[32]);
    b.ty(0, ARRAY, 0, false, 0, &[1, 1, u32::MAX]);
    b.ty(0, ARRAY, 0, false, 0, &[2, 1, u32::MAX]);
    let btf = Btf::parse(&b.build()).expect("valid");
    assert_eq!(
        btf.size_of(TypeId(3)),
        Err(BtfError::SizeOverflow(TypeId(3)))
    );
    assert_eq!(
        btf.size_of(TypeId(2)),
        Err(BtfError::SizeOverflow(TypeId(2)))
    );
}

/// A `.BTF.ext` with one func_info, one line_info and one CO-RE record.
fn ext_blob(kind: u32) -> Vec<u8> {
    let mut words = vec![0u32; 0];
    // func_info: rec_size 8, one section (name 1) with 1 record
    let func = [8, 1, 1, 0, 11];
    let line = [16, 1, 1, 0, 2, 3, (7 << 10) | 5];
    let core = [16, 1, 1, 8, 4, 3, kind];
    let func_len = func.len() as u32 * 4;
    let line_len = line.len() as u32 * 4;
    let core_len = core.len() as u32 * 4;
    words.extend_from_slice(&[
        0,
        func_len,
        func_len,
        line_len,
        func_len + line_len,
        core_len,
    ]);
    words.extend_from_slice(&func);
    words.extend_from_slice(&line);
    words.extend_from_slice(&core);
    let mut out = vec![0x9f, 0xeb, 1, 0];
    out.extend_from_slice(&32u32.to_le_bytes());
    for w in words {
        out.extend_from_slice(&w.to_le_bytes());
    }
    out
}

#[test]
fn btf_ext_records_decode_and_resolve() {
    let ext = BtfExt::parse(&ext_blob(12)).expect("valid");
    assert_eq!(ext.func_info[0].records[0].type_id, TypeId(11));
    let li = ext.line_info[0].records[0];
    assert_eq!((li.line, li.column), (7, 5));
    assert_eq!(ext.core_relos[0].records[0].kind, CoreReloKind::TypeMatches);
    // String offsets 1..=3 of every_kind's strings are "int", "nt", "t".
    let btf = Btf::parse(&every_kind(false)).expect("btf");
    let sections = ext.resolve(&btf).expect("resolve");
    assert_eq!(sections.len(), 1);
    assert_eq!(sections[0].name, "int");
    assert_eq!(sections[0].line_info[0].file_name, "nt");
    assert_eq!(sections[0].line_info[0].line_text, "t");
    assert_eq!(sections[0].core_relos[0].access_str, "t");
}

#[test]
fn btf_ext_errors_are_typed() {
    assert!(matches!(
        BtfExt::parse(&[0x9f]),
        Err(BtfExtError::TruncatedHeader { .. })
    ));
    assert_eq!(
        BtfExt::parse(&ext_blob(13)),
        Err(BtfExtError::UnknownCoreReloKind(13))
    );
    let mut bad = ext_blob(0);
    bad[0] = 0;
    assert!(matches!(BtfExt::parse(&bad), Err(BtfExtError::BadMagic(_))));
    // Record size below the minimum.
    let mut bad = ext_blob(0);
    bad[32..36].copy_from_slice(&4u32.to_le_bytes());
    assert!(matches!(
        BtfExt::parse(&bad),
        Err(BtfExtError::BadInfo {
            section: "func_info",
            ..
        })
    ));
    // A record count that would overflow.
    let mut bad = ext_blob(0);
    bad[40..44].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        BtfExt::parse(&bad),
        Err(BtfExtError::BadInfo {
            section: "func_info",
            ..
        })
    ));
    // Zero records.
    let mut bad = ext_blob(0);
    bad[40..44].copy_from_slice(&0u32.to_le_bytes());
    assert!(matches!(
        BtfExt::parse(&bad),
        Err(BtfExtError::BadInfo { .. })
    ));
    // A section name offset outside the strings fails at resolution.
    let mut bad = ext_blob(0);
    bad[36..40].copy_from_slice(&9999u32.to_le_bytes());
    let btf = Btf::parse(&every_kind(false)).expect("btf");
    let ext = BtfExt::parse(&bad).expect("structurally valid");
    assert!(matches!(ext.resolve(&btf), Err(BtfExtError::BadString(_))));
    assert!(matches!(
        BtfExt::parse(&ext_blob(0)[..32]),
        Err(BtfExtError::NoData)
    ));
}

/// Parses, queries and dumps whatever parses; must never panic.
fn exercise(data: &[u8]) {
    if let Ok(btf) = Btf::parse(data) {
        for (id, _) in btf.types() {
            let _ = btf.size_of(id);
            let _ = btf.align_of(id);
            let _ = btf.skip_modifiers_and_typedefs(id);
            let _ = btf.flat_members(id);
        }
        dump_raw(&btf, &mut Vec::new()).expect("raw dump of parsed BTF");
        let again = Btf::parse(&btf.to_bytes()).expect("re-encoded BTF parses");
        assert!(
            btf.types().eq(again.types()),
            "re-encoded BTF has the same types"
        );
        let _ = dump_c(&btf, &mut Vec::new());
        // Values of every type over short, odd and patterned bytes.
        let pattern: Vec<u8> = (0..96u8).map(|i| i.wrapping_mul(151)).collect();
        for (id, _) in btf.types() {
            for data in [&[][..], &pattern[..5], &pattern[..]] {
                let _ = apiary_btf::value_to_json(&btf, id, data);
                for (pretty, plain) in [(true, true), (false, false)] {
                    let mut w = apiary_btf::BpftoolJson::new(pretty, plain);
                    let _ = apiary_btf::dump_value(&btf, id, data, &mut w);
                }
            }
        }
    }
    let _ = BtfExt::parse(data);
}

proptest! {
    #[test]
    fn byte_flips_never_panic(flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
        let mut data = every_kind(false);
        for (pos, value) in flips {
            let len = data.len();
            data[pos % len] = value;
        }
        exercise(&data);
    }

    #[test]
    fn ext_byte_flips_never_panic(flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
        let mut data = ext_blob(3);
        for (pos, value) in flips {
            let len = data.len();
            data[pos % len] = value;
        }
        if let Ok(ext) = BtfExt::parse(&data) {
            let btf = Btf::parse(&every_kind(false)).expect("btf");
            let _ = ext.resolve(&btf);
        }
    }

    #[test]
    fn truncations_never_panic(cut in 0usize..400) {
        let data = every_kind(false);
        exercise(&data[..cut.min(data.len())]);
        let ext = ext_blob(1);
        let _ = BtfExt::parse(&ext[..cut.min(ext.len())]);
    }

    #[test]
    fn random_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..256)) {
        exercise(&data);
    }
}

#[test]
fn deep_nesting_is_refused_without_stack_overflow() {
    const DEPTH: u32 = 5000;
    // Anonymous structs each embedding the next, then an int.
    let mut b = Builder::new();
    let m = b.str("m");
    for id in 1..DEPTH {
        b.ty(0, STRUCT, 1, false, 4, &[m, id + 1, 0]);
    }
    b.ty(0, INT, 0, false, 4, &[32]);
    // A named struct holding the outermost one, so it is dumped inline.
    let outer = b.str("outer");
    b.ty(outer, STRUCT, 1, false, 4, &[m, 1, 0]);
    let btf = Btf::parse(&b.build()).expect("valid");
    assert!(matches!(
        dump_c(&btf, &mut Vec::new()),
        Err(DumpError::TooDeep(_))
    ));
    assert!(btf.align_of(TypeId(DEPTH + 1)).is_err());

    // A long chain of consts and typedefs.
    let mut b = Builder::new();
    let t = b.str("t");
    for id in 1..DEPTH {
        b.ty(
            if id % 2 == 0 { t } else { 0 },
            if id % 2 == 0 { TYPEDEF } else { CONST },
            0,
            false,
            id + 1,
            &[],
        );
    }
    b.ty(0, INT, 0, false, 4, &[32]);
    let btf = Btf::parse(&b.build()).expect("valid");
    assert!(dump_c(&btf, &mut Vec::new()).is_err());
    assert!(btf.size_of(TypeId(2)).is_err());
}

#[test]
fn absurd_struct_sizes_and_inlining_stop_at_the_output_budget() {
    // A 4 GiB struct holding one int: libbpf's padding algorithm would print
    // about 537 million `long: 64;` lines.
    let mut b = Builder::new();
    b.ty(0, INT, 0, false, 4, &[32]);
    let (big, m) = (b.str("big"), b.str("m"));
    b.ty(big, STRUCT, 1, false, u32::MAX, &[m, 1, 0]);
    let btf = Btf::parse(&b.build()).expect("valid");
    let mut out = Vec::new();
    match dump_c(&btf, &mut out) {
        Err(DumpError::TooLarge { id, limit }) => {
            assert_eq!(id, TypeId(2));
            assert!(
                out.len() <= limit,
                "{} bytes written over {limit}",
                out.len()
            );
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }

    // Anonymous structs are written inline at every use: 40 levels of
    // "two members of the next level" would be 2^40 copies of the innermost.
    const LEVELS: u32 = 40;
    let mut b = Builder::new();
    let (a, c) = (b.str("a"), b.str("c"));
    for id in 1..LEVELS {
        b.ty(0, STRUCT, 2, false, 8, &[a, id + 1, 0, c, id + 1, 0]);
    }
    b.ty(0, INT, 0, false, 4, &[32]);
    let top = b.str("top");
    b.ty(top, STRUCT, 1, false, 8, &[a, 1, 0]);
    let btf = Btf::parse(&b.build()).expect("valid");
    assert!(matches!(
        dump_c(&btf, &mut std::io::sink()),
        Err(DumpError::TooLarge { .. })
    ));
}

#[test]
fn realistic_padding_is_still_printed() {
    // struct s { int x; } with size 64: 60 bytes of tail padding, which
    // libbpf prints as `int: 32;` then seven `long: 64;`.
    let mut b = Builder::new();
    b.ty(0, INT, 0, false, 4, &[32]);
    let (s, x) = (b.str("s"), b.str("x"));
    b.ty(s, STRUCT, 1, false, 64, &[x, 1, 0]);
    let btf = Btf::parse(&b.build()).expect("valid");
    let mut out = Vec::new();
    dump_c(&btf, &mut out).expect("small padding fits the budget");
    let text = String::from_utf8(out).expect("utf-8");
    assert_eq!(text.matches("long: 64;").count(), 7, "{text}");
}
