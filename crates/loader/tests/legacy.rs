//! Objects of every era (issue 11): the legacy-style corpus of
//! `tests/progs/legacy/` against what its C sources say, with and without a
//! user-chosen type, and hostile variants of it (odd map entries, symbols
//! past their section, relocation kinds clang never emits) against the
//! typed error each must give.

mod common;

use apiary_kernel::types::{MapType, ProgType};
use apiary_loader::{
    ElfMapIds, InitialSlot, InitialSlotTarget, Kconfig, LoadError, MapOrigin, NameSource, Object,
    ProgramSpec, ProgramTypeChoice, SectionOutcome, TypeSource, UserTyping,
};

/// The legacy object `name`'s bytes, or `None` after skipping.
fn legacy(name: &'static str) -> Option<Vec<u8>> {
    match apiary_corpus::legacy_object(name) {
        Ok(object) => Some(object.read().expect("read legacy object")),
        Err(e) => apiary_testskip::missing(&format!("legacy object {name}"), e),
    }
}

fn typed(prog_type: &str, section: Option<&str>) -> UserTyping {
    UserTyping {
        program_type: Some(ProgramTypeChoice::parse(prog_type).expect("type")),
        section: section.map(str::to_owned),
    }
}

fn open(bytes: &[u8], typing: &UserTyping) -> Result<Object, LoadError> {
    Object::parse_with(bytes, "legacy", &Kconfig::default(), typing)
}

fn loaded(object: &Object) -> Vec<&ProgramSpec> {
    object
        .programs
        .iter()
        .filter_map(|p| p.as_ref().ok())
        .collect()
}

fn outcome<'o>(object: &'o Object, section: &str) -> &'o SectionOutcome {
    &object
        .sections
        .iter()
        .find(|s| s.name == section)
        .unwrap_or_else(|| panic!("no section report for {section:?}"))
        .outcome
}

/// Each map's name, type, key size, value size, max entries and origin.
fn map_shapes(object: &Object) -> Vec<(&str, MapType, u32, u32, u32, &MapOrigin)> {
    object
        .maps
        .iter()
        .map(|m| {
            (
                m.name.as_str(),
                m.map_type,
                m.key_size,
                m.value_size,
                m.max_entries,
                &m.origin,
            )
        })
        .collect()
}

const EXIT: u8 = 0x95;

#[test]
fn samples_era_notype_programs_split_and_type_by_libbpf_0x_prefixes() {
    let Some(bytes) = legacy("samples_socket") else {
        return;
    };
    let object = open(&bytes, &UserTyping::default()).expect("opens");
    let programs = loaded(&object);
    let summary: Vec<(&str, ProgType, TypeSource, NameSource)> = programs
        .iter()
        .map(|p| (p.name.as_str(), p.prog_type, p.type_source, p.name_source))
        .collect();
    let socket = TypeSource::Libbpf0Prefix { prefix: "socket" };
    assert_eq!(
        summary,
        [
            (
                "count_protocols",
                ProgType::SOCKET_FILTER,
                socket,
                NameSource::NoTypeSymbol
            ),
            (
                "sum_lengths",
                ProgType::SOCKET_FILTER,
                socket,
                NameSource::NoTypeSymbol
            ),
            (
                "drop_small",
                ProgType::XDP,
                TypeSource::Libbpf0Prefix { prefix: "xdp" },
                NameSource::NoTypeSymbol
            ),
            (
                "trace_write",
                ProgType::KPROBE,
                TypeSource::SectionName,
                NameSource::NoTypeSymbol
            ),
        ]
    );
    // The two programs of "socket1" split at the second symbol: together
    // they are the section, and each ends with its own exit.
    assert_eq!(
        outcome(&object, "socket1"),
        &SectionOutcome::Programs {
            programs: vec![0, 1],
            tail_call: None
        }
    );
    let size = object
        .sections
        .iter()
        .find(|s| s.name == "socket1")
        .map(|s| s.size);
    let (first, second) = (programs[0], programs[1]);
    assert_eq!(
        Some(((first.insns.len() + second.insns.len()) * 8) as u64),
        size
    );
    for p in [first, second] {
        assert_eq!(p.insns.last().map(|i| i.code), Some(EXIT), "{}", p.name);
    }
    assert_eq!(programs[3].attach_target.as_deref(), Some("ksys_write"));
    assert_eq!(
        map_shapes(&object),
        [
            ("proto_count", MapType::HASH, 4, 8, 64, &MapOrigin::Legacy),
            ("lengths", MapType::ARRAY, 4, 8, 2, &MapOrigin::Legacy),
        ]
    );
    assert_eq!(object.kern_version, Some(0x050400));
}

#[test]
fn tc_era_maps_carry_ids_and_link_maps_of_maps_by_id() {
    let Some(bytes) = legacy("tc_elf_maps") else {
        return;
    };
    let object = open(&bytes, &UserTyping::default()).expect("opens");
    let ids = |name: &str| match object.map(name).map(|m| &m.origin) {
        Some(MapOrigin::Iproute2(ids)) => *ids,
        other => panic!("{name}: {other:?}"),
    };
    let elf_map = |id, pinning, inner_id, inner_idx| ElfMapIds {
        id,
        pinning,
        inner_id,
        inner_idx,
    };
    assert_eq!(ids("jmp_map"), elf_map(2, 2, 0, u32::MAX));
    assert_eq!(ids("counters"), elf_map(0, 2, 0, 0));
    assert_eq!(ids("inner"), elf_map(7, 0, 0, 0));
    assert_eq!(ids("outer"), elf_map(0, 0, 7, 0));
    let outer = object.map("outer").expect("outer");
    assert_eq!(outer.map_type, MapType::ARRAY_OF_MAPS);
    assert_eq!(outer.inner.as_deref(), object.map("inner"));
    let inner_index = object
        .maps
        .iter()
        .position(|m| m.name == "inner")
        .expect("inner");
    assert_eq!(
        outer.initial_slots,
        [InitialSlot {
            index: 0,
            target: InitialSlotTarget::Map(inner_index)
        }]
    );
}

#[test]
fn bpf_load_era_maps_and_calls_across_sections_to_notype_functions() {
    let Some(bytes) = legacy("bpf_load_calls") else {
        return;
    };
    let object = open(&bytes, &UserTyping::default()).expect("opens");
    let stats = object.map("stats").expect("stats");
    let outer = object.map("outer").expect("outer");
    assert_eq!(
        (outer.map_type, outer.value_size, &outer.origin),
        (MapType::ARRAY_OF_MAPS, 4, &MapOrigin::Legacy)
    );
    assert_eq!(outer.inner.as_deref(), Some(stats));
    assert!(outer.initial_slots.is_empty());
    assert_eq!(
        outcome(&object, "helpers"),
        &SectionOutcome::Subprograms(vec!["verdict".to_owned()])
    );
    assert_eq!(
        outcome(&object, ".text"),
        &SectionOutcome::Subprograms(vec!["is_odd".to_owned(), "low_bit".to_owned()])
    );
    let program = object.program("len_parity").expect("len_parity");
    let subprograms: Vec<&str> = program
        .subprograms
        .iter()
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(subprograms, ["verdict", "is_odd", "low_bit"]);
    // Left at 0 in the object, filled in as cilium/ebpf does.
    let events = object.map("events").expect("events");
    assert_eq!((events.key_size, events.value_size), (4, 4));
    // Every BPF-to-BPF call lands on the start of an appended function, and
    // each of them is reached.
    let starts: Vec<usize> = program.subprograms.iter().map(|(_, at)| *at).collect();
    let targets: Vec<usize> = program
        .insns
        .iter()
        .enumerate()
        .filter(|(_, i)| i.code == 0x85 && i.src == 1)
        .map(|(at, i)| (at as i64 + i64::from(i.imm) + 1) as usize)
        .collect();
    assert!(
        targets.iter().all(|t| starts.contains(t)),
        "{targets:?} {starts:?}"
    );
    assert!(
        starts.iter().all(|s| targets.contains(s)),
        "{targets:?} {starts:?}"
    );
    // With --type, the section of subprograms stays one.
    let typed = open(&bytes, &typed("xdp", None)).expect("opens");
    assert_eq!(
        outcome(&typed, "helpers"),
        &SectionOutcome::Subprograms(vec!["verdict".to_owned()])
    );
}

#[test]
fn first_era_elf_maps_of_28_bytes_zero_extend_and_type_the_prog_section() {
    let Some(bytes) = legacy("xdp_prog_section") else {
        return;
    };
    let untyped = open(&bytes, &UserTyping::default()).expect("opens");
    assert!(untyped.programs.is_empty());
    assert!(matches!(
        outcome(&untyped, "prog"),
        SectionOutcome::Skipped { reason, .. } if reason.starts_with("iproute2's default section")
    ));
    let jumps = untyped.map("xdp_jumps").expect("xdp_jumps");
    assert_eq!(
        (jumps.map_type, jumps.max_entries, &jumps.origin),
        (
            MapType::PROG_ARRAY,
            2,
            &MapOrigin::Iproute2(ElfMapIds {
                id: 1,
                pinning: 2,
                inner_id: 0,
                inner_idx: 0
            })
        )
    );
    let xdp = open(&bytes, &typed("xdp", Some("prog"))).expect("opens");
    let main = xdp.program("xdp_main").expect("xdp_main");
    assert_eq!(
        (main.prog_type, main.type_source),
        (ProgType::XDP, TypeSource::UserTypeForSection)
    );
    assert_eq!(
        xdp.map("xdp_jumps").expect("xdp_jumps").initial_slots,
        [InitialSlot {
            index: 0,
            target: InitialSlotTarget::Program("xdp_drop_all".to_owned())
        }]
    );
}

/// A tail-call section takes its caller's type: the hint names the type
/// of the sections that load its prog array, not tc's.
#[test]
fn tail_call_hints_name_the_type_of_their_callers() {
    let (Some(xdp), Some(prog)) = (legacy("xdp_tail_calls"), legacy("xdp_prog_section")) else {
        return;
    };
    let hint = |object: &Object, section: &str| match outcome(object, section) {
        SectionOutcome::Skipped { hint, .. } => hint.clone(),
        other => panic!("{section}: {other:?}"),
    };
    let untyped = open(&xdp, &UserTyping::default()).expect("opens");
    // The object also holds a socket filter: only the caller decides.
    let names: Vec<&str> = loaded(&untyped).iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["xdp_entry", "keep_all"]);
    assert_eq!(hint(&untyped, "1/0").as_deref(), Some("--type xdp"));
    // Following the hint loads it as XDP into slot 0 of xdp_calls.
    let typed = open(&xdp, &typed("xdp", None)).expect("opens with --type xdp");
    let tail = typed.program("xdp_tail").expect("xdp_tail");
    assert_eq!(
        (tail.prog_type, tail.type_source),
        (ProgType::XDP, TypeSource::UserType)
    );
    assert_eq!(
        typed.map("xdp_calls").expect("xdp_calls").initial_slots,
        [InitialSlot {
            index: 0,
            target: InitialSlotTarget::Program("xdp_tail".to_owned())
        }]
    );
    // The prog array is pinned in the object's namespace, and says so.
    let listing = apiary_loader::object_listing(&untyped);
    assert!(
        listing.contains("pinning: object (tc/<SHA-1 of the object file>/xdp_calls)"),
        "{listing}"
    );
    // Nothing in an `ip link ... sec prog` object is typed: the hint is
    // the command's type, which the object does not say.
    let untyped = open(&prog, &UserTyping::default()).expect("opens");
    assert_eq!(hint(&untyped, "1/0").as_deref(), Some("--type TYPE"));
}

#[test]
fn tc_sections_wait_for_a_type_and_tail_calls_fill_their_prog_array() {
    let Some(bytes) = legacy("tc_elf_maps") else {
        return;
    };
    let untyped = open(&bytes, &UserTyping::default()).expect("opens");
    let names: Vec<&str> = loaded(&untyped).iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["cls_entry"]);
    let listing = apiary_loader::object_listing(&untyped);
    for pinned in ["jmp_map", "counters"] {
        let place = format!("pinning: global (tc/globals/{pinned})");
        assert!(listing.contains(&place), "{listing}");
    }
    assert_eq!(listing.matches("pinning: ").count(), 2, "{listing}");
    let skipped = |object: &Object, section: &str| match outcome(object, section) {
        SectionOutcome::Skipped { reason, hint } => (reason.clone(), hint.clone()),
        other => panic!("{section}: {other:?}"),
    };
    assert_eq!(
        skipped(&untyped, "2/1"),
        (
            "tail call slot 1 of prog array id 2".to_owned(),
            Some("--type tc".to_owned())
        )
    );
    assert_eq!(
        skipped(&untyped, "from-netdev").1.as_deref(),
        Some("--type TYPE")
    );
    let (orphan, hint) = skipped(&untyped, "3/0");
    assert!(
        orphan.contains("no prog array in \"maps\" has id 3"),
        "{orphan}"
    );
    assert_eq!(hint, None);
    assert!(
        untyped
            .map("jmp_map")
            .expect("jmp_map")
            .initial_slots
            .is_empty()
    );

    let tc = open(&bytes, &typed("tc", None)).expect("opens with --type tc");
    let summary: Vec<(&str, ProgType, TypeSource, NameSource)> = loaded(&tc)
        .iter()
        .map(|p| (p.name.as_str(), p.prog_type, p.type_source, p.name_source))
        .collect();
    assert_eq!(
        summary,
        [
            (
                "cls_entry",
                ProgType::SCHED_CLS,
                TypeSource::SectionName,
                NameSource::FuncSymbol
            ),
            (
                "2/1",
                ProgType::SCHED_CLS,
                TypeSource::UserType,
                NameSource::Section
            ),
            (
                "from_netdev",
                ProgType::SCHED_CLS,
                TypeSource::UserType,
                NameSource::NoTypeSymbol
            ),
        ]
    );
    assert_eq!(
        tc.map("jmp_map").expect("jmp_map").initial_slots,
        [InitialSlot {
            index: 1,
            target: InitialSlotTarget::Program("2/1".to_owned())
        }]
    );
    assert_eq!(
        outcome(&tc, "2/1"),
        &SectionOutcome::Programs {
            programs: vec![1],
            tail_call: Some(("jmp_map".to_owned(), 1))
        }
    );
    assert!(matches!(
        outcome(&tc, "3/0"),
        SectionOutcome::Skipped { .. }
    ));

    // tc's `sec NAME`: the type goes to that section whatever its name says.
    let xdp = open(&bytes, &typed("xdp", Some("from-netdev"))).expect("opens");
    let from_netdev = xdp.program("from_netdev").expect("from_netdev");
    assert_eq!(
        (from_netdev.prog_type, from_netdev.type_source),
        (ProgType::XDP, TypeSource::UserTypeForSection)
    );
    let forced = open(&bytes, &typed("action", Some("classifier"))).expect("opens");
    assert_eq!(
        forced.program("cls_entry").map(|p| p.prog_type),
        Some(ProgType::SCHED_ACT)
    );
    match open(&bytes, &typed("tc", Some("to-netdev"))) {
        Err(LoadError::Section { section, reason }) => {
            assert_eq!(section, "to-netdev");
            assert!(
                reason.contains("classifier, 2/1, 3/0, from-netdev"),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn text_only_objects_become_programs_with_a_type() {
    let Some(bytes) = legacy("text_only") else {
        return;
    };
    let untyped = open(&bytes, &UserTyping::default()).expect("opens");
    assert!(untyped.programs.is_empty());
    assert!(matches!(
        outcome(&untyped, ".text"),
        SectionOutcome::Skipped { hint: Some(hint), .. } if hint == "--type TYPE"
    ));
    let xdp = open(&bytes, &typed("xdp", None)).expect("opens");
    let names: Vec<&str> = loaded(&xdp).iter().map(|p| p.name.as_str()).collect();
    // The static helper is not a program but the program's subprogram.
    assert_eq!(names, ["xdp_parity"]);
    let program = xdp.program("xdp_parity").expect("xdp_parity");
    assert_eq!(program.prog_type, ProgType::XDP);
    assert_eq!(
        program
            .subprograms
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>(),
        ["is_odd"]
    );
}

/// An ELF64 little-endian object to damage in place: section headers and
/// symbols found by name.
struct Elf(Vec<u8>);

impl Elf {
    fn u16_at(&self, at: usize) -> usize {
        usize::from(u16::from_le_bytes([self.0[at], self.0[at + 1]]))
    }

    fn u64_at(&self, at: usize) -> u64 {
        u64::from_le_bytes(self.0[at..at + 8].try_into().expect("8 bytes"))
    }

    fn put_u64(&mut self, at: usize, value: u64) {
        self.0[at..at + 8].copy_from_slice(&value.to_le_bytes());
    }

    fn c_string(&self, at: usize) -> &str {
        let end = self.0[at..].iter().position(|b| *b == 0).expect("NUL") + at;
        std::str::from_utf8(&self.0[at..end]).expect("utf8")
    }

    /// File offset of section header `index`.
    fn header(&self, index: usize) -> usize {
        self.u64_at(0x28) as usize + index * self.u16_at(0x3a)
    }

    /// File offset of the header of the section named `name`.
    fn section(&self, name: &str) -> usize {
        let strings = self.u64_at(self.header(self.u16_at(0x3e)) + 0x18) as usize;
        (0..self.u16_at(0x3c))
            .map(|i| self.header(i))
            .find(|&h| {
                let name_off = u32::from_le_bytes(self.0[h..h + 4].try_into().expect("4"));
                self.c_string(strings + name_off as usize) == name
            })
            .unwrap_or_else(|| panic!("no section {name}"))
    }

    /// File offset of the symbol named `name`.
    fn symbol(&self, name: &str) -> usize {
        let symtab = self.section(".symtab");
        let strtab_index =
            u32::from_le_bytes(self.0[symtab + 0x28..symtab + 0x2c].try_into().expect("4"));
        let strings = self.u64_at(self.header(strtab_index as usize) + 0x18) as usize;
        let (start, size) = (
            self.u64_at(symtab + 0x18) as usize,
            self.u64_at(symtab + 0x20) as usize,
        );
        (start..start + size)
            .step_by(24)
            .find(|&s| {
                let name_off = u32::from_le_bytes(self.0[s..s + 4].try_into().expect("4"));
                self.c_string(strings + name_off as usize) == name
            })
            .unwrap_or_else(|| panic!("no symbol {name}"))
    }

    fn set_symbol_value(&mut self, name: &str, value: u64) {
        let at = self.symbol(name) + 8;
        self.put_u64(at, value);
    }

    fn set_symbol_size(&mut self, name: &str, size: u64) {
        let at = self.symbol(name) + 16;
        self.put_u64(at, size);
    }

    fn data_offset(&self, section: &str) -> usize {
        self.u64_at(self.section(section) + 0x18) as usize
    }
}

fn damaged(name: &'static str, damage: impl FnOnce(&mut Elf)) -> Option<Result<Object, LoadError>> {
    let mut elf = Elf(legacy(name)?);
    damage(&mut elf);
    Some(open(&elf.0, &typed("tc", None)))
}

#[test]
fn program_symbols_past_or_inside_instructions_are_typed_errors() {
    for (value, needle) in [(0x1000, "offset 0x1000"), (3, "offset 0x3")] {
        let Some(result) = damaged("tc_elf_maps", |elf| {
            elf.set_symbol_value("from_netdev", value)
        }) else {
            return;
        };
        match result {
            Err(LoadError::Symbol { symbol, reason }) => {
                assert_eq!(symbol, "from_netdev");
                assert!(
                    reason.contains(needle) && reason.contains("from-netdev"),
                    "{reason}"
                );
            }
            other => panic!("{value:#x}: {other:?}"),
        }
    }
}

#[test]
fn map_sections_of_odd_shapes_are_typed_errors() {
    // 144 bytes of four 36-byte entries, cut to 140: no whole split.
    let Some(result) = damaged("tc_elf_maps", |elf| {
        let size = elf.section("maps") + 0x20;
        let cut = elf.u64_at(size) - 4;
        elf.put_u64(size, cut);
    }) else {
        return;
    };
    assert!(
        matches!(&result, Err(LoadError::Map { map, reason }) if map == "outer" && reason.contains("definition at offset 0x6c runs past the 140-byte section")),
        "{result:?}"
    );
    // A map symbol away from its entry's start: with sized symbols the
    // definitions overlap; without sizes (older clang) the section no
    // longer splits evenly at the symbols.
    let result = damaged("tc_elf_maps", |elf| elf.set_symbol_value("counters", 0x20));
    assert!(
        matches!(&result, Some(Err(LoadError::Section { reason, .. })) if reason.contains("jmp_map at 0x0 and counters at 0x20 overlap")),
        "{result:?}"
    );
    let result = damaged("tc_elf_maps", |elf| {
        for map in ["jmp_map", "counters", "inner", "outer"] {
            elf.set_symbol_size(map, 0);
        }
        elf.set_symbol_value("counters", 0x20);
    });
    assert!(
        matches!(&result, Some(Err(LoadError::Section { reason, .. })) if reason.contains("counters is at offset 0x20, expected one at 0x24")),
        "{result:?}"
    );
    // A map of maps naming an inner id nobody has.
    let result = damaged("tc_elf_maps", |elf| {
        let outer_inner_id =
            elf.data_offset("maps") + elf.u64_at(elf.symbol("outer") + 8) as usize + 28;
        elf.0[outer_inner_id] = 9;
    });
    assert!(
        matches!(&result, Some(Err(LoadError::Map { map, reason })) if map == "outer" && reason.contains("inner map id 9")),
        "{result:?}"
    );
}

#[test]
fn relocation_kinds_clang_never_emits_into_code_fail_the_program() {
    let Some(result) = damaged("tc_elf_maps", |elf| {
        let relocations = elf.data_offset(".relclassifier");
        // r_info: symbol in the high half, type in the low one.
        let info = elf.u64_at(relocations + 8);
        elf.put_u64(relocations + 8, (info & !0xffff_ffff) | 7);
    }) else {
        return;
    };
    let object = result.expect("the object still opens");
    let error = object.programs[0].as_ref().expect_err("cls_entry fails");
    let text = error.to_string();
    assert!(
        text.contains("cls_entry")
            && text.contains("relocation type 7 at offset")
            && text.contains("\"classifier\""),
        "{text}"
    );
    // The other programs are unaffected.
    assert!(object.program("from_netdev").is_some());
}

/// Maps of fds in BTF `.maps` with no key or value size (Cilium, clang
/// 14+) get the 4-byte sizes the kernel requires, as in `maps`.
#[test]
fn btf_fd_maps_without_sizes_get_four_byte_keys_and_values() {
    let test = "btf_fd_maps_without_sizes_get_four_byte_keys_and_values";
    let Some(path) = common::compile_test_object(test, "unsized_fd_maps") else {
        return;
    };
    let bytes = std::fs::read(&path).expect("read object");
    let object = open(&bytes, &UserTyping::default()).expect("opens");
    let btf = MapOrigin::BtfDefined;
    assert_eq!(
        map_shapes(&object),
        [
            ("events", MapType::PERF_EVENT_ARRAY, 4, 4, 4, &btf),
            ("jumps", MapType::PROG_ARRAY, 4, 4, 2, &btf),
        ]
    );
}

/// A map of maps whose definition names no inner map is refused when the
/// object is opened, naming the map, rather than by map creation later.
#[test]
fn maps_of_maps_without_an_inner_definition_are_refused_by_name() {
    let test = "maps_of_maps_without_an_inner_definition_are_refused_by_name";
    let Some(path) = common::compile_test_object(test, "legacy_map_of_maps") else {
        return;
    };
    let bytes = std::fs::read(&path).expect("read object");
    match open(&bytes, &UserTyping::default()) {
        Err(LoadError::Map { map, reason }) => {
            assert_eq!(map, "outer");
            assert!(
                reason.starts_with("map of maps at offset 0x0 has no inner map definition"),
                "{reason}"
            );
            assert!(
                reason.contains("20-byte struct bpf_map_def cannot name one"),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
}

/// A `-target bpfeb` object is refused with its own error, as libbpf
/// refuses to load objects not of the host's byte order.
#[test]
fn big_endian_objects_are_refused_as_such() {
    let test = "big_endian_objects_are_refused_as_such";
    let Some(path) = common::compile_test_object_for(test, "unsized_fd_maps", "bpfeb") else {
        return;
    };
    let bytes = std::fs::read(&path).expect("read object");
    // The ELF header says so independently of the loader.
    assert_eq!(bytes.get(5), Some(&2), "EI_DATA is not ELFDATA2MSB");
    let error = open(&bytes, &UserTyping::default()).expect_err("big-endian");
    assert_eq!(error, LoadError::BigEndian);
    assert!(error.to_string().contains("-target bpfeb"), "{error}");
}
