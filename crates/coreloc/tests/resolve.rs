//! Resolution of every relocation kind on hand-built local/target BTF pairs.
//! Expected values come from the C layout rules the BTF describes (byte
//! offsets of members, sizes, enumerator values), and bitfield relocations
//! are checked by actually extracting a field from a byte buffer the way
//! `BPF_CORE_READ_BITFIELD` does.

mod common;

use apiary_btf::{CoreReloKind as K, TypeId};
use apiary_coreloc::{
    CoreError, CoreRelocator, CoreResolution, essential_name, essential_name_len, find_candidates,
    resolve, types_are_compat, types_match,
};
use common::BtfBuilder;

/// Local `struct s { int a; int b; }` and a relocation on it.
fn local_s(access: &str, kind: K, name: &str) -> (apiary_btf::Btf, apiary_btf::CoreRelo) {
    let mut b = BtfBuilder::new();
    let int = b.int("int", 4, true);
    let s = b.structure(name, 8, &[("a", int, 0, 0), ("b", int, 32, 0)]);
    let relo = b.relo(s, access, kind);
    (b.build(), relo)
}

/// Target `struct s { int x; int a; long c; int b; }`: a at 4, b at 16.
fn target_s(name: &str) -> apiary_btf::Btf {
    let mut b = BtfBuilder::new();
    let int = b.int("int", 4, true);
    let long = b.int("long", 8, true);
    b.structure(
        name,
        24,
        &[
            ("x", int, 0, 0),
            ("a", int, 32, 0),
            ("c", long, 64, 0),
            ("b", int, 128, 0),
        ],
    );
    b.build()
}

fn res(access: &str, kind: K) -> CoreResolution {
    let (local, relo) = local_s(access, kind, "s");
    resolve(&local, &relo, &target_s("s")).expect("resolves")
}

#[test]
fn flavor_suffixes_are_stripped_like_libbpf() {
    assert_eq!(essential_name("task_struct___old"), "task_struct");
    assert_eq!(essential_name("task_struct___a___b"), "task_struct___a");
    assert_eq!(
        essential_name("a____b"),
        "a____b",
        "four underscores are no separator"
    );
    assert_eq!(essential_name("___x"), "___x");
    assert_eq!(essential_name("x___"), "x___");
    assert_eq!(essential_name_len("s___1"), 1);
    assert_eq!(essential_name("plain"), "plain");
}

#[test]
fn field_byte_offset_follows_the_target_layout() {
    let r = res("0:1", K::FieldByteOffset);
    assert_eq!((r.orig, r.new, r.poison), (4, 16, false));
    assert_eq!(
        (r.orig_size, r.new_size, r.fail_memsz_adjust),
        (4, 4, false)
    );
    assert_eq!(r.target_access, vec![0, 3]);
    let r = res("0:0", K::FieldByteOffset);
    assert_eq!((r.orig, r.new), (0, 4));
}

#[test]
fn field_size_exists_and_signedness() {
    let r = res("0:1", K::FieldByteSize);
    assert_eq!((r.orig, r.new), (4, 4));
    let r = res("0:1", K::FieldExists);
    assert_eq!((r.orig, r.new, r.poison), (1, 1, false));
    let r = res("0:1", K::FieldSigned);
    assert_eq!((r.orig, r.new), (1, 1));
    let r = res("0:1", K::FieldRShiftU64);
    assert_eq!((r.orig, r.new), (32, 32));
    let r = res("0:1", K::FieldLShiftU64);
    assert_eq!((r.orig, r.new), (32, 32));
}

#[test]
fn missing_field_poisons_except_existence() {
    let mut b = BtfBuilder::new();
    let int = b.int("int", 4, true);
    let s = b.structure("s", 12, &[("a", int, 0, 0), ("gone", int, 32, 0)]);
    let off = b.relo(s, "0:1", K::FieldByteOffset);
    let exists = b.relo(s, "0:1", K::FieldExists);
    let local = b.build();
    let target = target_s("s");
    let r = resolve(&local, &off, &target).unwrap();
    assert!(r.poison);
    assert_eq!(r.orig, 4);
    let r = resolve(&local, &exists, &target).unwrap();
    assert_eq!((r.orig, r.new, r.poison), (1, 0, false));
}

#[test]
fn flavored_local_type_finds_the_plain_target_and_vice_versa() {
    let (local, relo) = local_s("0:1", K::FieldByteOffset, "s___old");
    let r = resolve(&local, &relo, &target_s("s")).unwrap();
    assert_eq!(r.new, 16);
    let (local, relo) = local_s("0:1", K::FieldByteOffset, "s");
    let r = resolve(&local, &relo, &target_s("s___v2")).unwrap();
    assert_eq!(r.new, 16);
    // A different essential name is no candidate.
    let (local, relo) = local_s("0:1", K::FieldByteOffset, "s2___old");
    assert!(resolve(&local, &relo, &target_s("s")).unwrap().poison);
}

#[test]
fn candidates_agreeing_are_fine_disagreeing_are_ambiguous() {
    let (local, relo) = local_s("0:1", K::FieldByteOffset, "s");
    let mut b = BtfBuilder::new();
    let int = b.int("int", 4, true);
    let first = b.structure("s", 8, &[("b", int, 32, 0)]);
    b.structure("s___dup", 8, &[("b", int, 32, 0)]);
    let target = b.build();
    let r = resolve(&local, &relo, &target).unwrap();
    assert_eq!((r.new, r.target_type), (4, Some(TypeId(first))));

    let mut b = BtfBuilder::new();
    let int = b.int("int", 4, true);
    b.structure("s", 8, &[("b", int, 32, 0)]);
    b.structure("s___other", 8, &[("b", int, 0, 0)]);
    let err = resolve(&local, &relo, &b.build()).unwrap_err();
    assert!(
        matches!(
            err,
            CoreError::AmbiguousOffset {
                first_bit_offset: 32,
                second_bit_offset: 0,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn size_change_resizes_unsigned_and_refuses_signed() {
    let build_local = |signed: bool| {
        let mut b = BtfBuilder::new();
        let u64t = b.int("long long", 8, signed);
        let s = b.structure("s", 8, &[("flags", u64t, 0, 0)]);
        let relo = b.relo(s, "0:0", K::FieldByteOffset);
        (b.build(), relo)
    };
    let build_target = |signed: bool| {
        let mut b = BtfBuilder::new();
        let u32t = b.int("int", 4, signed);
        b.structure("s", 8, &[("pad", u32t, 0, 0), ("flags", u32t, 32, 0)]);
        b.build()
    };
    let (local, relo) = build_local(false);
    let r = resolve(&local, &relo, &build_target(false)).unwrap();
    assert_eq!((r.orig, r.new, r.orig_size, r.new_size), (0, 4, 8, 4));
    assert!(!r.fail_memsz_adjust);
    let r = resolve(&local, &relo, &build_target(true)).unwrap();
    assert!(r.fail_memsz_adjust);
    let (local, relo) = build_local(true);
    assert!(
        resolve(&local, &relo, &build_target(true))
            .unwrap()
            .fail_memsz_adjust
    );
}

/// Writes `value` into bits `[bit_off, bit_off + bits)` of `buf`
/// (little-endian bit numbering, as C lays out bitfields on x86/BPF).
fn put_bits(buf: &mut [u8], bit_off: u32, bits: u32, value: u64) {
    for i in 0..bits {
        let bit = (value >> i) & 1;
        let pos = (bit_off + i) as usize;
        buf[pos / 8] = (buf[pos / 8] & !(1 << (pos % 8))) | ((bit as u8) << (pos % 8));
    }
}

/// What `BPF_CORE_READ_BITFIELD` computes from the four relocated values.
fn read_bitfield(
    buf: &[u8],
    byte_off: u64,
    byte_size: u64,
    lshift: u64,
    rshift: u64,
    signed: bool,
) -> u64 {
    let mut raw = [0u8; 8];
    let start = byte_off as usize;
    raw[..byte_size as usize].copy_from_slice(&buf[start..start + byte_size as usize]);
    let v = u64::from_le_bytes(raw) << lshift;
    if signed {
        ((v as i64) >> rshift) as u64
    } else {
        v >> rshift
    }
}

#[test]
fn bitfields_extract_the_right_bits_from_the_target_layout() {
    let mut b = BtfBuilder::new();
    let uint = b.int("unsigned int", 4, false);
    let int = b.int("int", 4, true);
    let s = b.structure(
        "bf",
        4,
        &[("a", uint, 0, 3), ("b", uint, 3, 5), ("c", int, 8, 4)],
    );
    let fields = ["0:0", "0:1", "0:2"];
    let kinds = [
        K::FieldByteOffset,
        K::FieldByteSize,
        K::FieldLShiftU64,
        K::FieldRShiftU64,
        K::FieldSigned,
    ];
    let relos: Vec<Vec<_>> = fields
        .iter()
        .map(|f| kinds.iter().map(|k| b.relo(s, f, *k)).collect())
        .collect();
    let local = b.build();

    // Target: a 64-bit field first, then the bitfields at odd positions,
    // `b` straddling a 4-byte boundary (bits 94..99).
    let mut t = BtfBuilder::new();
    let uint = t.int("unsigned int", 4, false);
    let int = t.int("int", 4, true);
    let u64t = t.int("unsigned long", 8, false);
    let layout = [(74u32, 3u32), (94, 5), (100, 4)];
    t.structure(
        "bf",
        16,
        &[
            ("y", u64t, 0, 0),
            ("a", uint, 74, 3),
            ("b", uint, 94, 5),
            ("c", int, 100, 4),
        ],
    );
    let target = t.build();

    let mut relocator = CoreRelocator::new(&local, &target);
    let values = [5u64, 0x1b, 0xa];
    for ((field_relos, (bit_off, bits)), value) in relos.iter().zip(layout).zip(values) {
        let v: Vec<u64> = field_relos
            .iter()
            .map(|r| relocator.resolve(r).unwrap().new)
            .collect();
        let mut buf = [0xffu8; 16];
        put_bits(&mut buf, bit_off, bits, value);
        let signed = v[4] == 1;
        let got = read_bitfield(&buf, v[0], v[1], v[2], v[3], signed);
        let want = if signed {
            // sign-extend the 4-bit value 0xa = -6
            ((value << (64 - bits)) as i64 >> (64 - bits)) as u64
        } else {
            value
        };
        assert_eq!(got, want, "field at bit {bit_off}: relocated values {v:?}");
        assert!(v[0] + v[1] <= 16, "load stays inside the struct: {v:?}");
    }
    // The straddling field needs an 8-byte load at offset 8.
    let straddle: Vec<u64> = relos[1][..2]
        .iter()
        .map(|r| relocator.resolve(r).unwrap().new)
        .collect();
    assert_eq!(straddle, vec![8, 8]);
}

#[test]
fn arrays_index_check_and_flexible_arrays() {
    let mut b = BtfBuilder::new();
    let int = b.int("int", 4, true);
    let idx = b.int("__ARRAY_SIZE_TYPE__", 4, false);
    let arr = b.array(int, idx, 4);
    let s = b.structure("arr", 16, &[("n", arr, 0, 0)]);
    let elem = b.relo(s, "0:0:2", K::FieldByteOffset);
    let size = b.relo(s, "0:0", K::FieldByteSize);
    let local = b.build();

    let target_with = |nelems: u32| {
        let mut t = BtfBuilder::new();
        let int = t.int("int", 4, true);
        let long = t.int("long", 8, true);
        let arr = t.array(int, int, nelems);
        t.structure(
            "arr",
            8 + 4 * nelems,
            &[("pad", long, 0, 0), ("n", arr, 64, 0)],
        );
        t.build()
    };
    let r = resolve(&local, &elem, &target_with(8)).unwrap();
    assert_eq!((r.orig, r.new, r.orig_size, r.new_size), (8, 16, 4, 4));
    assert_eq!(resolve(&local, &size, &target_with(8)).unwrap().new, 32);
    assert!(
        resolve(&local, &elem, &target_with(2)).unwrap().poison,
        "index 2 of int[2]"
    );
    let r = resolve(&local, &elem, &target_with(0)).unwrap();
    assert_eq!(
        (r.new, r.poison),
        (16, false),
        "flexible array member accepts any index"
    );
}

#[test]
fn fields_inside_anonymous_members_are_found() {
    let (local, relo) = local_s("0:1", K::FieldByteOffset, "s");
    let mut t = BtfBuilder::new();
    let int = t.int("int", 4, true);
    let inner = t.union("", 4, &[("other", int, 0, 0), ("b", int, 0, 0)]);
    let anon = t.structure("", 8, &[("z", int, 0, 0), ("", inner, 32, 0)]);
    t.structure("s", 16, &[("x", int, 0, 0), ("", anon, 64, 0)]);
    let r = resolve(&local, &relo, &t.build()).unwrap();
    assert_eq!(r.new, 12);
    assert_eq!(r.target_access, vec![0, 1, 1, 1]);
}

#[test]
fn incompatible_field_type_is_no_match() {
    let (local, relo) = local_s("0:1", K::FieldByteOffset, "s");
    let mut t = BtfBuilder::new();
    let int = t.int("int", 4, true);
    let inner = t.structure("inner", 4, &[("q", int, 0, 0)]);
    t.structure("s", 8, &[("b", inner, 0, 0)]);
    assert!(resolve(&local, &relo, &t.build()).unwrap().poison);
}

#[test]
fn type_based_relocations() {
    let mut b = BtfBuilder::new();
    let int = b.int("int", 4, true);
    let t_local = b.structure("t", 4, &[("a", int, 0, 0)]);
    let td = b.typedef("t_t", t_local);
    let kinds = [
        K::TypeExists,
        K::TypeSize,
        K::TypeIdTarget,
        K::TypeIdLocal,
        K::TypeMatches,
    ];
    let relos: Vec<_> = kinds.iter().map(|k| b.relo(t_local, "0", *k)).collect();
    let td_size = b.relo(td, "0", K::TypeSize);
    let local = b.build();

    let mut t = BtfBuilder::new();
    let int = t.int("int", 4, true);
    t.structure("unrelated", 4, &[]);
    let t_target = t.structure("t", 8, &[("b", int, 0, 0), ("a", int, 32, 0)]);
    t.typedef("t_t", t_target);
    let target = t.build();
    let got: Vec<(u64, u64)> = relos
        .iter()
        .map(|r| {
            let r = resolve(&local, r, &target).unwrap();
            (r.orig, r.new)
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (1, 1),
            (4, 8),
            (u64::from(t_local), u64::from(t_target)),
            (u64::from(t_local), u64::from(t_local)),
            (1, 1)
        ]
    );
    assert_eq!(resolve(&local, &td_size, &target).unwrap().new, 8);
    assert!(!resolve(&local, &relos[2], &target).unwrap().validate);

    // Absent type: existence and size are 0, nothing is poisoned.
    let empty = BtfBuilder::new().build();
    for r in &relos[..3] {
        let res = resolve(&local, r, &empty).unwrap();
        assert_eq!((res.new, res.poison), (0, false));
    }
}

#[test]
fn type_matches_rules() {
    let mut l = BtfBuilder::new();
    let int = l.int("int", 4, true);
    let fwd = l.fwd("node", false);
    let pfwd = l.ptr(fwd);
    let s = l.structure("m", 16, &[("a", int, 0, 0), ("next", pfwd, 64, 0)]);
    let local = l.build();

    let target_with = |signed: bool, union_node: bool| {
        let mut t = BtfBuilder::new();
        let int = t.int("int", 4, signed);
        let node = if union_node {
            t.union("node", 4, &[])
        } else {
            t.structure("node", 4, &[])
        };
        let pnode = t.ptr(node);
        let m = t.structure(
            "m",
            24,
            &[("z", int, 0, 0), ("next", pnode, 64, 0), ("a", int, 128, 0)],
        );
        (t.build(), m)
    };
    let (target, m) = target_with(true, false);
    assert!(types_match(&local, TypeId(s), &target, TypeId(m)).unwrap());
    assert!(types_are_compat(&local, TypeId(s), &target, TypeId(m)).unwrap());
    let (target, m) = target_with(false, false);
    assert!(
        !types_match(&local, TypeId(s), &target, TypeId(m)).unwrap(),
        "signedness differs"
    );
    let (target, m) = target_with(true, true);
    assert!(
        !types_match(&local, TypeId(s), &target, TypeId(m)).unwrap(),
        "fwd struct vs union"
    );
    assert!(types_are_compat(&local, TypeId(s), &target, TypeId(m)).unwrap());
}

#[test]
fn enum_values_32_and_64_bit() {
    let mut b = BtfBuilder::new();
    let e = b.enumeration("e", 4, false, &[("A", 1), ("B", 2), ("Z", 9)]);
    let exists_a = b.relo(e, "0:0", K::EnumvalExists);
    let value_a = b.relo(e, "0", K::EnumvalValue);
    let value_b = b.relo(e, "1", K::EnumvalValue);
    let exists_z = b.relo(e, "2", K::EnumvalExists);
    let value_z = b.relo(e, "2", K::EnumvalValue);
    let local = b.build();

    let mut t = BtfBuilder::new();
    t.enumeration("e", 4, true, &[("B___x", 20), ("A", -5)]);
    let target = t.build();
    let r = resolve(&local, &value_a, &target).unwrap();
    assert_eq!(
        (r.orig, r.new),
        (1, (-5i64) as u64),
        "32-bit enumerators are sign-extended"
    );
    assert_eq!(
        resolve(&local, &value_b, &target).unwrap().new,
        20,
        "enumerator flavors are stripped"
    );
    assert_eq!(resolve(&local, &exists_z, &target).unwrap().new, 0);
    assert!(resolve(&local, &value_z, &target).unwrap().poison);
    assert!(matches!(
        resolve(&local, &exists_a, &target),
        Err(CoreError::BadAccessString { .. })
    ));

    let mut t = BtfBuilder::new();
    t.enum64("e", 8, false, &[("A", 1 << 40), ("B", u64::MAX)]);
    let target = t.build();
    assert_eq!(resolve(&local, &value_a, &target).unwrap().new, 1 << 40);
    assert_eq!(resolve(&local, &value_b, &target).unwrap().new, u64::MAX);
}

#[test]
fn candidate_search_uses_kind_and_essential_name() {
    let mut b = BtfBuilder::new();
    let s = b.structure("task___mine", 0, &[]);
    let local = b.build();
    let mut t = BtfBuilder::new();
    let a = t.structure("task", 0, &[]);
    t.union("task", 0, &[]);
    let c = t.structure("task___2", 0, &[]);
    t.structure("tasks", 0, &[]);
    let target = t.build();
    assert_eq!(
        find_candidates(&local, TypeId(s), &target).unwrap(),
        vec![TypeId(a), TypeId(c)]
    );
}

#[test]
fn malformed_records_are_typed_errors() {
    let mut b = BtfBuilder::new();
    let int = b.int("int", 4, true);
    let s = b.structure("s", 8, &[("a", int, 0, 0)]);
    let anon = b.structure("", 4, &[("a", int, 0, 0)]);
    let deep = "0".to_owned() + &":0".repeat(64);
    let cases = [
        b.relo(s, "0:x", K::FieldByteOffset),
        b.relo(s, "", K::FieldByteOffset),
        b.relo(s, ":0", K::FieldByteOffset),
        b.relo(s, "0:5", K::FieldByteOffset),
        b.relo(s, "1", K::TypeSize),
        b.relo(int, "0:0", K::FieldByteOffset),
        b.relo(int, "0", K::EnumvalValue),
        b.relo(anon, "0:0", K::FieldByteOffset),
        b.relo(s, &deep, K::FieldByteOffset),
        b.relo(s, "0:99999999999", K::FieldByteOffset),
        b.relo(77, "0", K::TypeSize),
    ];
    let local = b.build();
    let target = target_s("s");
    for relo in &cases {
        let err = resolve(&local, relo, &target).expect_err("malformed record must fail");
        assert!(!err.to_string().is_empty());
    }
}

#[test]
fn typedef_loops_do_not_hang() {
    let mut b = BtfBuilder::new();
    // [1] typedef a -> [2], [2] typedef b -> [1]
    b.typedef("a", 2);
    b.typedef("b", 1);
    let relo = b.relo(1, "0:0", K::FieldByteOffset);
    let size = b.relo(1, "0", K::TypeSize);
    let local = b.build();
    let target = b.build();
    assert!(resolve(&local, &relo, &target).is_err());
    assert!(resolve(&local, &size, &target).is_err());
}
