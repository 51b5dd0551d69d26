use super::*;

const FILE: &str = "tests/verifier/example.s";

fn parse_text(text: &str) -> Result<Vec<Case>, ParseError> {
    parse(Path::new(FILE), text)
}

#[test]
fn a_case_has_its_header_and_instructions() {
    let cases = parse_text(
        "# a file comment\n\
         ;; case first\n\
         ;; type xdp\n\
         ;; map counters hash key=4 value=8 max=16 flags=0x1\n\
         ;; expect reject: R0 !read_ok\n\
         ;; detail first message\n\
         ;; detail second message\n\
         \texit\n\
         ;; case second\n\
         ;; type socket_filter\n\
         ;; flags sleepable any_alignment\n\
         ;; expect accept\n\
         \tr0 = 0\n\
         ;; raw 0x95 0 0 0 0\n",
    )
    .unwrap();
    assert_eq!(cases.len(), 2);
    let first = &cases[0];
    assert_eq!((first.name.as_str(), first.line), ("first", 2));
    assert_eq!(first.prog_type, ProgType::XDP);
    assert_eq!(first.expect, Expect::Reject(Some("R0 !read_ok".into())));
    assert_eq!(first.expect_line, 5);
    assert_eq!(first.detail, ["first message", "second message"]);
    assert_eq!(
        first.maps,
        [MapDecl {
            name: "counters".into(),
            map_type: MapType::HASH,
            key_size: 4,
            value_size: 8,
            max_entries: 16,
            flags: 1,
            spin_lock: false,
            timer: false,
        }]
    );
    assert_eq!(first.bytecode(), [0x95, 0, 0, 0, 0, 0, 0, 0]);
    let second = &cases[1];
    assert_eq!(second.expect, Expect::Accept);
    assert_eq!(second.prog_flags, 0x12);
    assert_eq!(second.insns.len(), 2);
    assert_eq!(second.insns[1].code, 0x95);
}

#[test]
fn raw_slots_keep_label_offsets() {
    let cases = parse_text(
        ";; case raw\n;; type xdp\n;; expect accept\n\
         \tgoto out\n;; raw 0xff 1 2 -3 0xffffffff\nout:\n\tr0 = 0\n\texit\n",
    )
    .unwrap();
    let slots = &cases[0].insns;
    assert_eq!(slots[0].off, 1);
    assert_eq!(
        slots[1],
        RawInsn {
            code: 0xff,
            dst: 1,
            src: 2,
            off: -3,
            imm: -1
        }
    );
}

#[test]
fn funcs_must_cover_every_function() {
    let text = ";; case calls\n;; type xdp\n;; func main static\n;; expect accept\n\
                \tcall f\n\texit\nf:\n\tr0 = 0\n\texit\n";
    let error = parse_text(text).unwrap_err();
    assert_eq!(error.line, 1);
    assert!(
        error
            .to_string()
            .contains("1 `;; func` lines for 2 functions"),
        "{error}"
    );
    let fixed = text.replace(";; expect", ";; func f global args=1\n;; expect");
    let cases = parse_text(&fixed).unwrap();
    assert_eq!(cases[0].funcs[1].linkage, Linkage::Global);
    assert_eq!(btf::function_starts(&cases[0].insns), [0, 2]);
}

#[test]
fn errors_name_file_and_line() {
    let cases = [
        (";; type xdp\n", 1, "a header before the first `;; case`"),
        (
            ";; case a\n;; type nosuch\n",
            2,
            "unknown program type \"nosuch\"",
        ),
        (
            ";; case a\n;; type xdp\n;; expect maybe\n",
            3,
            "not \"maybe\"",
        ),
        (
            ";; case a\n;; type xdp\n\texit\n",
            1,
            "no `;; expect` header",
        ),
        (
            ";; case a\n;; expect accept\n\texit\n",
            1,
            "no `;; type` header",
        ),
        (";; case a\n;; typo xdp\n", 2, "unknown header `;; typo`"),
        (
            ";; case a\n;; type xdp\n;; expect accept\n\n\tr0 = frob\n",
            5,
            "column",
        ),
        (
            ";; case a\n;; type xdp\n;; map m hash key=x\n",
            3,
            "\"x\" is not a number",
        ),
        (
            ";; case a\n;; type xdp\n;; raw 1 16 0 0 0\n",
            3,
            "does not fit in 4 bits",
        ),
        (
            ";; case a\n;; type xdp\n;; expect accept\n\texit\n;; case a\n",
            5,
            "second case",
        ),
        (
            ";; case a\n;; type xdp\n;; expect accept\n",
            1,
            "no instructions",
        ),
        (
            ";; case a\n;; flags fast\n",
            2,
            "unknown load flag \"fast\"",
        ),
    ];
    for (text, line, problem) in cases {
        let error = parse_text(text).unwrap_err();
        assert_eq!(error.line, line, "{error}");
        let shown = error.to_string();
        assert!(shown.starts_with(&format!("{FILE}:{line}: ")), "{shown}");
        assert!(shown.contains(problem), "{shown} lacks {problem}");
    }
}

#[test]
fn spin_lock_maps_and_funcs_get_btf() {
    let maps = [MapDecl {
        name: "locked".into(),
        map_type: MapType::HASH,
        key_size: 4,
        value_size: 24,
        max_entries: 1,
        flags: 0,
        spin_lock: true,
        timer: true,
    }];
    let funcs = [FuncDecl {
        name: "main".into(),
        linkage: Linkage::Static,
        params: Vec::new(),
    }];
    let built = btf::case_btf(&maps, &funcs).unwrap();
    let parsed = apiary_btf::Btf::parse(&built.bytes).unwrap();
    let (key, value) = built.map_types[0].unwrap();
    assert_eq!(parsed.size_of(apiary_btf::TypeId(key)).unwrap(), 4);
    assert_eq!(parsed.size_of(apiary_btf::TypeId(value)).unwrap(), 24);
    let members = parsed.members(apiary_btf::TypeId(value)).unwrap();
    let names: Vec<&str> = members
        .iter()
        .map(|m| parsed.str_at(m.name_off).unwrap())
        .collect();
    assert_eq!(names, ["lock", "timer"]);
    assert_eq!(members[1].bit_offset, 64);
    assert_eq!(
        parsed.name(apiary_btf::TypeId(built.func_ids[0])).unwrap(),
        "main"
    );
    assert!(btf::case_btf(&[], &[]).is_none());
}
