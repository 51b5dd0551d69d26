//! Arbitrary bytes as an ELF object: the loader must answer with an object or
//! a typed error, never a panic, an unbounded allocation or a hang. Whatever
//! loads is also put through the reports the CLI prints, and its BTF through
//! both dump formats, since those walk every type and relocation the loader
//! kept.

#![no_main]

use apiary_loader::{Object, XlatedOptions, dump_object_xlated, object_json, object_listing};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(object) = Object::parse(data, "fuzz") else {
        return;
    };
    let _ = object_listing(&object);
    let _ = object_json(&object);
    let _ = dump_object_xlated(&object, None, XlatedOptions { linum: true });
    if let Some(btf) = &object.btf {
        let _ = apiary_btf::dump_raw(btf, &mut std::io::sink());
        let _ = apiary_btf::dump_c(btf, &mut std::io::sink());
    }
});
