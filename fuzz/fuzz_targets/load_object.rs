//! Arbitrary bytes as an ELF object: the loader must answer with an object or
//! a typed error, never a panic, an unbounded allocation or a hang. Whatever
//! loads is also put through the reports the CLI prints, and its BTF through
//! both dump formats, since those walk every type and relocation the loader
//! kept. Each input is opened twice: as libbpf 1.x would, and with a
//! user-chosen type (`--type tc`), which also types the sections whose name
//! says nothing, `.text`-only objects and tc tail-call sections.

#![no_main]

use apiary_loader::{
    Kconfig, Object, ProgramTypeChoice, UserTyping, XlatedOptions, dump_object_xlated, object_json,
    object_listing,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(tc) = ProgramTypeChoice::parse("tc") {
        let typing = UserTyping {
            program_type: Some(tc),
            section: None,
        };
        if let Ok(object) = Object::parse_with(data, "fuzz", &Kconfig::default(), &typing) {
            let _ = object_listing(&object);
            let _ = object_json(&object);
        }
    }
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
