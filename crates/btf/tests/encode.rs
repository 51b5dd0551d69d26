//! `Btf::to_bytes` gives back the bytes it was parsed from (the kernel's
//! vmlinux BTF, a hand-built blob of every kind), and `fixup_datasec` does
//! libbpf's data section fix-up.

use apiary_btf::{Btf, BtfError, Kind, TypeId};

mod common;
use common::{Builder, DATASEC, INT, VAR};

#[test]
fn vmlinux_round_trips_byte_for_byte() {
    let raw = match apiary_testskip::vmlinux_btf() {
        Ok(raw) => raw,
        Err(reason) => return apiary_testskip::skip("vmlinux_round_trips_byte_for_byte", reason),
    };
    let btf = Btf::parse(&raw).expect("vmlinux parses");
    let encoded = btf.to_bytes();
    let first_difference = encoded.iter().zip(&raw).position(|(a, b)| a != b);
    assert_eq!(
        (first_difference, encoded.len()),
        (None, raw.len()),
        "re-encoded vmlinux BTF differs (first differing byte, length)"
    );
}

/// `.bss` holding `int b` and `int a`, as clang leaves it: size 0, offsets 0.
fn unfixed_bss() -> Vec<u8> {
    let mut b = Builder::new();
    let [int, a, bname, bss] = ["int", "a", "b", ".bss"].map(|s| b.str(s));
    b.ty(int, INT, 0, false, 4, &[(1 << 24) | 32]); // [1]
    b.ty(bname, VAR, 0, false, 1, &[1]); // [2] b
    b.ty(a, VAR, 0, false, 1, &[1]); // [3] a
    b.ty(bss, DATASEC, 2, false, 0, &[2, 0, 4, 3, 0, 4]); // [4]
    b.build()
}

#[test]
fn hand_built_blob_round_trips() {
    let raw = unfixed_bss();
    assert_eq!(Btf::parse(&raw).expect("parses").to_bytes(), raw);
}

#[test]
fn datasec_fixup_sets_size_offsets_and_order_as_libbpf() {
    let mut btf = Btf::parse(&unfixed_bss()).expect("parses");
    // ELF symbols: a at 0, b at 4; section size 8.
    btf.fixup_datasec(TypeId(4), 8, |name| match name {
        "a" => Some(0),
        "b" => Some(4),
        _ => None,
    })
    .expect("fixup");
    let Kind::Datasec(sec) = &btf.type_by_id(TypeId(4)).expect("type").kind else {
        panic!("not a datasec");
    };
    assert_eq!(sec.size, 8);
    let vars: Vec<(u32, u32)> = sec.vars.iter().map(|v| (v.ty.0, v.offset)).collect();
    assert_eq!(vars, vec![(3, 0), (2, 4)], "sorted by offset: a, then b");
    // The fixed BTF survives a round trip through bytes.
    let again = Btf::parse(&btf.to_bytes()).expect("re-parses");
    assert_eq!(
        again.type_by_id(TypeId(4)).expect("type"),
        btf.type_by_id(TypeId(4)).expect("type")
    );

    let mut missing = Btf::parse(&unfixed_bss()).expect("parses");
    assert!(matches!(
        missing.fixup_datasec(TypeId(4), 8, |_| None),
        Err(BtfError::MissingSymbol { .. })
    ));
    assert!(matches!(
        missing.fixup_datasec(TypeId(1), 8, |_| None),
        Err(BtfError::NotADatasec(TypeId(1)))
    ));
}
