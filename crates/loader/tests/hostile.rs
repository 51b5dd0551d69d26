//! Random corruptions of corpus objects (legacy-style ones included, also
//! opened with a user-chosen type) give errors, never panics or hangs.

use proptest::prelude::*;

/// The corpus and the legacy-style objects (whose NOTYPE symbols, `maps`
/// entries and tail-call sections take other paths), read once (and the
/// skip said once) for all the proptest's cases.
fn objects() -> &'static [Vec<u8>] {
    static OBJECTS: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
    OBJECTS.get_or_init(
        || match (apiary_corpus::objects(), apiary_corpus::legacy()) {
            (Ok(objects), Ok(legacy)) => objects
                .iter()
                .chain(legacy)
                .map(|o| o.read().expect("read corpus object"))
                .collect(),
            (Err(e), _) | (_, Err(e)) => {
                apiary_testskip::missing("corrupted_objects_never_panic", e)
            }
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn corrupted_objects_never_panic(
        pick in any::<prop::sample::Index>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..16),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let all = objects();
        if all.is_empty() {
            return Ok(());
        }
        let mut bytes = all[pick.index(all.len())].clone();
        for (at, value) in &edits {
            let i = at.index(bytes.len());
            bytes[i] = *value;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len()));
        }
        let _ = apiary_loader::Object::parse(&bytes, "fuzz");
        let typing = apiary_loader::UserTyping {
            program_type: apiary_loader::ProgramTypeChoice::parse("tc").ok(),
            section: None,
        };
        let _ = apiary_loader::Object::parse_with(
            &bytes,
            "fuzz",
            &apiary_loader::Kconfig::default(),
            &typing,
        );
    }
}

#[test]
fn truncated_and_empty_inputs_are_typed_errors() {
    assert!(matches!(
        apiary_loader::Object::parse(&[], "x"),
        Err(apiary_loader::LoadError::Elf(_))
    ));
    assert!(apiary_loader::Object::parse(b"\x7fELF\x02\x01\x01", "x").is_err());
}

/// Parses a file the load_object fuzz target found and puts whatever loads
/// through every report and BTF dump the target exercises; each must return.
fn replay_fuzz_regression(name: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/regressions/load_object")
        .join(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let Ok(object) = apiary_loader::Object::parse(&bytes, "fuzz") else {
        return;
    };
    let _ = apiary_loader::object_listing(&object);
    let _ = apiary_loader::object_json(&object);
    let _ = apiary_loader::dump_object_xlated(
        &object,
        None,
        apiary_loader::XlatedOptions { linum: true },
    );
    if let Some(btf) = &object.btf {
        let _ = apiary_btf::dump_raw(btf, &mut std::io::sink());
        let _ = apiary_btf::dump_c(btf, &mut std::io::sink());
    }
}

/// A symbol value near `i64::MAX` plus an lddw imm overflowed the
/// global-data offset (relocs.rs).
#[test]
fn fuzz_symbol_value_plus_imm_overflow() {
    replay_fuzz_regression("crash-db33f9071f3be3b6e7771dc4b933e29eece8e727");
}

/// A struct whose BTF size is gigabytes made the C dump print hundreds of
/// millions of padding lines (apiary-btf dump_c).
#[test]
fn fuzz_huge_struct_padding_in_c_dump() {
    replay_fuzz_regression("slow-unit-2e8ab5f0b7329b039484c95cec0f4fb30e9a6010");
}

/// Weak `.kconfig` externs whose BTF sizes add up to gigabytes were
/// zero-filled one after another (3.4 GB RSS); the kernel caps a map value
/// at 4 MiB, so the loader now refuses them before allocating.
#[test]
fn fuzz_gigabyte_kconfig_externs() {
    replay_fuzz_regression("oom-kconfig-1d29187dd2debd8a17d4c975ea9bf2a5d136cd58");
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(
        "../../fuzz/regressions/load_object/oom-kconfig-1d29187dd2debd8a17d4c975ea9bf2a5d136cd58",
    );
    let bytes = std::fs::read(path).expect("regression file");
    assert!(matches!(
        apiary_loader::Object::parse(&bytes, "fuzz"),
        Err(apiary_loader::LoadError::Kconfig { .. })
    ));
}
