//! Random corruptions of corpus objects give errors, never panics or hangs.

use proptest::prelude::*;

fn objects() -> Vec<Vec<u8>> {
    match apiary_corpus::objects() {
        Ok(objects) => objects
            .iter()
            .map(|o| o.read().expect("read corpus object"))
            .collect(),
        Err(e) => {
            eprintln!("SKIPPED: corruption proptest because {e}");
            Vec::new()
        }
    }
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
