//! Object BTF as the running kernel accepts it: [`Btf::to_bytes`] with the
//! changes libbpf makes between open and `BPF_BTF_LOAD` that the loader
//! does not make (it already fixed data DATASECs at open), plus the
//! line-info strings programs point at.
//!
//! apiary-btf offers no way to change a type's linkage or kind, so the
//! changes are made on the encoded type records, which keep their ids.

use std::collections::{HashMap, HashSet};

use apiary_btf::{Btf, FuncLinkage, Kind, Type, TypeId, VarLinkage};

use crate::Error;

/// `struct btf_header` length.
const HEADER_LEN: usize = 24;
/// `struct btf_type`: name offset, info, size or type.
const COMMON_LEN: usize = 12;
/// `BTF_KIND_STRUCT`.
const KIND_STRUCT: u32 = 4;
/// `struct btf_param`: name offset, type.
const PARAM_LEN: usize = 8;
/// The name libbpf gives the unnamed parameters of kfunc declarations
/// (that of its `.ksyms` placeholder variable).
const KFUNC_PARAM_NAME: &str = "dummy_ksym";

/// What one type record becomes for the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    /// A FUNC with this linkage (static or global).
    Func(FuncLinkage),
    /// A VAR with this linkage (static or global).
    Var(VarLinkage),
    /// An empty anonymous struct, keeping the type id.
    Emptied,
    /// A FUNC_PROTO whose unnamed parameters get [`KFUNC_PARAM_NAME`].
    NamedParams,
}

/// What [`change_for`] decides by, besides the type.
struct Facts<'a> {
    /// Hidden and internal symbols of the object.
    hidden: &'a HashSet<String>,
    /// Prototypes of extern FUNCs (kfunc declarations).
    kfunc_protos: HashSet<TypeId>,
}

impl Facts<'_> {
    fn new<'a>(btf: &Btf, hidden: &'a HashSet<String>) -> Facts<'a> {
        let kfunc_protos = btf
            .types()
            .filter_map(|(_, t)| match t.kind {
                Kind::Func {
                    proto,
                    linkage: FuncLinkage::Extern,
                } => Some(proto),
                _ => None,
            })
            .collect();
        Facts {
            hidden,
            kfunc_protos,
        }
    }
}

/// The kernel accepts only static and global FUNCs and VARs, and DATASECs
/// of VARs with a size. libbpf gives hidden (`STV_HIDDEN`/`STV_INTERNAL`)
/// symbols static linkage, so the verifier checks `__hidden` subprograms
/// with their caller's context, and allocates extern VARs (`.kconfig` map)
/// or resolves them away (`.ksyms`), so they become global. Extern FUNCs
/// (kfunc declarations) become global, as libbpf makes them after naming
/// their unnamed parameters, which the kernel demands of global functions
/// only. The extern DATASECs `.kconfig` and `.ksyms` (FUNC
/// entries), which libbpf lays out itself and the loader leaves at size 0,
/// are emptied instead: no map takes them as value type. The kernel wants
/// every typed parameter of every FUNC named, and clang leaves those of
/// kfunc declarations unnamed: they get libbpf's placeholder name.
fn change_for(btf: &Btf, id: TypeId, t: &Type, facts: &Facts<'_>) -> Result<Option<Change>, Error> {
    let name = btf
        .str_at(t.name_off)
        .map_err(|e| Error::Btf(e.to_string()))?;
    let is_hidden = facts.hidden.contains(name);
    Ok(match &t.kind {
        Kind::Func { linkage, .. } => match linkage {
            FuncLinkage::Global if !is_hidden => None,
            FuncLinkage::Static => None,
            // Its parameters are named below, as libbpf names them.
            FuncLinkage::Extern => Some(Change::Func(FuncLinkage::Global)),
            FuncLinkage::Global => Some(Change::Func(FuncLinkage::Static)),
        },
        Kind::Var { linkage, .. } => match linkage {
            VarLinkage::Static => None,
            VarLinkage::Global if !is_hidden => None,
            VarLinkage::Extern if !is_hidden => Some(Change::Var(VarLinkage::Global)),
            VarLinkage::Global | VarLinkage::Extern => Some(Change::Var(VarLinkage::Static)),
        },
        Kind::Datasec(sec)
            if sec.size == 0
                || sec.vars.iter().any(|v| {
                    !matches!(btf.type_by_id(v.ty).map(|t| &t.kind), Ok(Kind::Var { .. }))
                }) =>
        {
            Some(Change::Emptied)
        }
        Kind::FuncProto(proto)
            if facts.kfunc_protos.contains(&id)
                && proto.params.iter().any(|p| p.name_off == 0 && p.ty.0 != 0) =>
        {
            Some(Change::NamedParams)
        }
        _ => None,
    })
}

/// Bytes after the common part of a type record, from its `info` word.
fn extra_len(info: u32) -> usize {
    let vlen = (info & 0xffff) as usize;
    match (info >> 24) & 0x1f {
        // INT, VAR and DECL_TAG: one word.
        1 | 14 | 17 => 4,
        // ARRAY: element type, index type, count.
        3 => 12,
        // STRUCT, UNION members; DATASEC variables; ENUM64 values.
        4 | 5 | 15 | 19 => 12 * vlen,
        // ENUM values, FUNC_PROTO parameters.
        6 | 13 => 8 * vlen,
        _ => 0,
    }
}

fn le_word(bytes: &[u8], at: usize) -> Option<u32> {
    let word = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes(word.try_into().ok()?))
}

/// Object BTF ready for `BPF_BTF_LOAD`, its string table still open for
/// the line-info strings.
pub(crate) struct KernelBtfBytes {
    types: Vec<u8>,
    strings: Vec<u8>,
    string_offsets: HashMap<String, u32>,
    /// DATASECs sent as empty structs: no longer a map's value type.
    pub(crate) emptied: HashSet<u32>,
}

impl KernelBtfBytes {
    /// Encodes `btf` with the kernel's changes (see [`change_for`]);
    /// `hidden` names the object's hidden and internal symbols.
    pub(crate) fn new(btf: &Btf, hidden: &HashSet<String>) -> Result<KernelBtfBytes, Error> {
        if cfg!(target_endian = "big") {
            return Err(Error::Btf(
                "apiary-btf encodes little-endian BTF; this big-endian kernel needs its own byte order"
                    .to_owned(),
            ));
        }
        let encoded = btf.to_bytes();
        let disagree = |what: &str| Error::Btf(format!("Btf::to_bytes output: {what}"));
        let section = |len_at: usize, off_at: usize| {
            let len = le_word(&encoded, len_at)? as usize;
            let start = HEADER_LEN.checked_add(le_word(&encoded, off_at)? as usize)?;
            encoded.get(start..start.checked_add(len)?)
        };
        let type_section = section(12, 8).ok_or_else(|| disagree("bad type section bounds"))?;
        let strings = section(20, 16).ok_or_else(|| disagree("bad string section bounds"))?;

        let mut out = KernelBtfBytes {
            types: Vec::with_capacity(type_section.len()),
            strings: strings.to_vec(),
            string_offsets: HashMap::new(),
            emptied: HashSet::new(),
        };
        let mut start = 0;
        for text in strings.split(|&b| b == 0) {
            if let (Ok(text), Ok(offset)) = (std::str::from_utf8(text), u32::try_from(start)) {
                out.string_offsets.entry(text.to_owned()).or_insert(offset);
            }
            start += text.len() + 1;
        }

        let facts = Facts::new(btf, hidden);
        let mut rest = type_section;
        for (id, t) in btf.types() {
            let info =
                le_word(rest, 4).ok_or_else(|| disagree(&format!("type {} is cut short", id.0)))?;
            let (record, tail) = rest
                .split_at_checked(COMMON_LEN + extra_len(info))
                .ok_or_else(|| disagree(&format!("type {} is cut short", id.0)))?;
            rest = tail;
            let (common, extra) = record.split_at(COMMON_LEN);
            let types = &mut out.types;
            match change_for(btf, id, t, &facts)? {
                None => types.extend_from_slice(record),
                Some(Change::Func(linkage)) => {
                    // BTF_FUNC_STATIC, BTF_FUNC_GLOBAL: the info word's vlen.
                    let vlen = u32::from(linkage == FuncLinkage::Global);
                    types.extend_from_slice(&common[..4]);
                    types.extend_from_slice(&((info & !0xffff) | vlen).to_le_bytes());
                    types.extend_from_slice(&common[8..]);
                    types.extend_from_slice(extra);
                }
                Some(Change::Var(linkage)) => {
                    // BTF_VAR_STATIC, BTF_VAR_GLOBAL_ALLOCATED.
                    let word = u32::from(linkage == VarLinkage::Global);
                    types.extend_from_slice(common);
                    types.extend_from_slice(&word.to_le_bytes());
                }
                Some(Change::Emptied) => {
                    out.emptied.insert(id.0);
                    for word in [0, KIND_STRUCT << 24, 0] {
                        types.extend_from_slice(&u32::to_le_bytes(word));
                    }
                }
                Some(Change::NamedParams) => {
                    let placeholder = out.intern(KFUNC_PARAM_NAME)?;
                    out.types.extend_from_slice(common);
                    for param in extra.chunks(PARAM_LEN) {
                        let (name_off, ty) = (le_word(param, 0), le_word(param, 4));
                        match (name_off, ty) {
                            (Some(0), Some(ty)) if ty != 0 => {
                                out.types.extend_from_slice(&placeholder.to_le_bytes());
                                out.types.extend_from_slice(&ty.to_le_bytes());
                            }
                            _ => out.types.extend_from_slice(param),
                        }
                    }
                }
            }
        }
        if !rest.is_empty() {
            return Err(disagree("bytes after the last type"));
        }
        Ok(out)
    }

    /// The string table offset of `text`, appending it if the object's
    /// strings lack it.
    pub(crate) fn intern(&mut self, text: &str) -> Result<u32, Error> {
        if let Some(&offset) = self.string_offsets.get(text) {
            return Ok(offset);
        }
        if text.contains('\0') {
            return Err(Error::Btf(format!("string {text:?} contains a NUL byte")));
        }
        let offset = u32::try_from(self.strings.len())
            .map_err(|_| Error::Btf("string table exceeds 4 GiB".to_owned()))?;
        self.strings.extend_from_slice(text.as_bytes());
        self.strings.push(0);
        self.string_offsets.insert(text.to_owned(), offset);
        Ok(offset)
    }

    /// The finished blob.
    pub(crate) fn finish(&self) -> Result<Vec<u8>, Error> {
        let too_big = |_| Error::Btf("BTF exceeds 4 GiB".to_owned());
        let type_len = u32::try_from(self.types.len()).map_err(too_big)?;
        let str_len = u32::try_from(self.strings.len()).map_err(too_big)?;
        let mut out = Vec::with_capacity(HEADER_LEN + self.types.len() + self.strings.len());
        out.extend_from_slice(&0xeb9f_u16.to_le_bytes());
        // Version 1, no flags.
        out.extend_from_slice(&[1, 0]);
        for word in [HEADER_LEN as u32, 0, type_len, type_len, str_len] {
            out.extend_from_slice(&word.to_le_bytes());
        }
        out.extend_from_slice(&self.types);
        out.extend_from_slice(&self.strings);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use apiary_corpus::CorpusObject;

    /// Corpus and example objects with BTF, or `None` after skipping `test`.
    fn objects_with_btf(test: &str) -> Option<Vec<(&'static CorpusObject, Vec<u8>, Btf)>> {
        if let Err(reason) = apiary_kernel::probe() {
            return apiary_testskip::missing(test, reason);
        }
        let (objects, examples) = match (apiary_corpus::objects(), apiary_corpus::examples()) {
            (Ok(objects), Ok(examples)) => (objects, examples),
            (Err(reason), _) | (_, Err(reason)) => return apiary_testskip::missing(test, reason),
        };
        let with_btf: Vec<_> = objects
            .iter()
            .chain(examples)
            .filter_map(|corpus| {
                let bytes = corpus.read().expect("read corpus object");
                let object = apiary_loader::Object::parse(&bytes, corpus.name).expect("parse");
                Some((corpus, bytes, object.btf?))
            })
            .collect();
        assert!(!with_btf.is_empty(), "no corpus object has BTF");
        Some(with_btf)
    }

    fn sanitized(bytes: &[u8], btf: &Btf) -> KernelBtfBytes {
        let hidden = crate::visibility::hidden_symbols(bytes).expect("ELF symbols");
        KernelBtfBytes::new(btf, &hidden).expect("sanitize")
    }

    /// Every corpus object's BTF (data DATASECs fixed by the loader) passes
    /// the kernel's BTF checker once sanitized, including objects whose
    /// programs the kernel refuses (`.ksyms` externs).
    #[test]
    fn every_corpus_btf_passes_the_kernel_checker() {
        let Some(objects) = objects_with_btf("every_corpus_btf_passes_the_kernel_checker") else {
            return;
        };
        for (corpus, bytes, btf) in &objects {
            let blob = sanitized(bytes, btf).finish().expect("finish");
            if let Err(error) = apiary_kernel::BtfFd::load(&blob, 1) {
                panic!("{}: kernel refused sanitized BTF: {error}", corpus.name);
            }
        }
    }

    /// The kernel refuses extern linkage and size-0 DATASECs: BTF with
    /// `.kconfig` externs as clang wrote it does not load. The loader lays
    /// `.kconfig` out at open as libbpf does, which is what makes the
    /// loader's BTF acceptable; checked rather than assumed, both ways.
    #[test]
    fn clang_extern_btf_is_refused_and_the_loaders_layout_accepted() {
        let Some(objects) =
            objects_with_btf("clang_extern_btf_is_refused_and_the_loaders_layout_accepted")
        else {
            return;
        };
        let (corpus, bytes, btf) = objects
            .iter()
            .find(|(corpus, _, _)| corpus.covers("extern:kconfig"))
            .expect("a corpus object with .kconfig externs");
        if let Err(error) = apiary_kernel::BtfFd::load(&btf.to_bytes(), 1) {
            panic!(
                "{}: the loader's .kconfig layout is refused: {error}",
                corpus.name
            );
        }
        let as_clang_wrote_it = apiary_loader::btf_from_file_bytes(bytes).expect(".BTF");
        match apiary_kernel::BtfFd::load(&as_clang_wrote_it.to_bytes(), 1) {
            Err(apiary_kernel::Error::BtfLoad { log, .. }) => assert!(
                log.contains("linkage=2 Linkage not supported"),
                "{}: refused for another reason: {log}",
                corpus.name
            ),
            other => panic!(
                "{}: expected a BTF checker refusal, got {other:?}",
                corpus.name
            ),
        }
    }

    /// Parsed back, the sanitized BTF of `bytes` has every type of `btf` at
    /// its id, changed only as [`change_for`] says; returns how many
    /// changed.
    fn assert_only_listed_changes(name: &str, bytes: &[u8], btf: &Btf) -> usize {
        let hidden = crate::visibility::hidden_symbols(bytes).expect("ELF symbols");
        let encoded = KernelBtfBytes::new(btf, &hidden).expect("sanitize");
        let back = Btf::parse(&encoded.finish().expect("finish")).expect("parse back");
        let facts = Facts::new(btf, &hidden);
        let mut changed = 0;
        assert_eq!(back.type_count(), btf.type_count(), "{name}");
        for ((id, before), (_, after)) in btf.types().zip(back.types()) {
            let Some(change) = change_for(btf, id, before, &facts).expect("change") else {
                assert_eq!(after, before, "{name}: type {}", id.0);
                continue;
            };
            changed += 1;
            let mut expected = before.clone();
            match (change, &mut expected.kind) {
                (Change::Func(to), Kind::Func { linkage, .. }) => *linkage = to,
                (Change::Var(to), Kind::Var { linkage, .. }) => *linkage = to,
                (Change::Emptied, Kind::Datasec(_)) => {
                    assert!(encoded.emptied.contains(&id.0));
                    expected = Type {
                        name_off: 0,
                        kind: Kind::Struct(apiary_btf::Composite {
                            size: 0,
                            bitfield_encoding: false,
                            members: Vec::new(),
                        }),
                    };
                }
                (Change::NamedParams, Kind::FuncProto(proto)) => {
                    let placeholder = encoded.string_offsets[KFUNC_PARAM_NAME];
                    for param in proto.params.iter_mut().filter(|p| p.ty.0 != 0) {
                        if param.name_off == 0 {
                            param.name_off = placeholder;
                        }
                    }
                }
                other => panic!("{name}: type {}: change {other:?}", id.0),
            }
            assert_eq!(after, &expected, "{name}: type {}", id.0);
        }
        changed
    }

    /// Every corpus object's BTF changes only as [`change_for`] says.
    #[test]
    fn sanitized_btf_keeps_every_type_but_the_changed_ones() {
        let Some(objects) = objects_with_btf("sanitized_btf_keeps_every_type_but_the_changed_ones")
        else {
            return;
        };
        let changed: usize = objects
            .iter()
            .map(|(corpus, bytes, btf)| assert_only_listed_changes(corpus.name, bytes, btf))
            .sum();
        assert_ne!(changed, 0, "the corpus exercises no change");
    }

    /// kfunc declarations (extern FUNCs listed in a `.ksyms` DATASEC) and a
    /// hidden variable, which the corpus lacks: compiled here with clang.
    const KFUNC_AND_HIDDEN_VAR_SOURCE: &str = r#"
#define SEC(name) __attribute__((section(name), used))
#define __ksym __attribute__((section(".ksyms")))
struct task_struct;
extern void bpf_rcu_read_lock(void) __ksym;
extern struct task_struct *bpf_task_acquire(struct task_struct *p) __ksym;
extern void bpf_task_release(struct task_struct *p) __ksym;
__attribute__((visibility("hidden"))) int hidden_counter;
SEC("tc") int use_kfunc(void *ctx)
{
	struct task_struct *task = bpf_task_acquire(ctx);

	bpf_rcu_read_lock();
	if (task)
		bpf_task_release(task);
	return hidden_counter;
}
char LICENSE[] SEC("license") = "GPL";
"#;

    /// The kfunc snippet's object bytes, or why it cannot be built here.
    fn compile_kfunc_snippet() -> Result<Vec<u8>, String> {
        let dir = std::env::temp_dir().join(format!("apiary-backend-kfunc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let source = dir.join("kfunc.c");
        let object = dir.join("kfunc.o");
        std::fs::write(&source, KFUNC_AND_HIDDEN_VAR_SOURCE)
            .map_err(|e| format!("writing {}: {e}", source.display()))?;
        let clang = std::env::var("APIARY_CLANG").unwrap_or_else(|_| "clang-19".to_owned());
        let output = std::process::Command::new(&clang)
            .args(["-target", "bpf", "-O2", "-g", "-c"])
            .arg(&source)
            .arg("-o")
            .arg(&object)
            .output()
            .map_err(|e| format!("cannot run {clang}: {e}"))?;
        let bytes = std::fs::read(&object);
        let _ = std::fs::remove_dir_all(&dir);
        assert!(
            output.status.success(),
            "{clang} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        bytes.map_err(|e| format!("reading the object: {e}"))
    }

    /// The kernel refuses a `.ksyms` DATASEC of FUNCs, extern FUNCs and
    /// unnamed parameters: the DATASEC is emptied, the declarations become
    /// static with named parameters, the hidden variable static, and the
    /// kernel's checker accepts the result.
    #[test]
    fn kfunc_declarations_and_hidden_variables_pass_the_kernel_checker() {
        const TEST: &str = "kfunc_declarations_and_hidden_variables_pass_the_kernel_checker";
        if let Err(reason) = apiary_kernel::probe() {
            return apiary_testskip::missing(TEST, reason);
        }
        let bytes = match compile_kfunc_snippet() {
            Ok(bytes) => bytes,
            Err(reason) => return apiary_testskip::missing(TEST, reason),
        };
        let object = apiary_loader::Object::parse(&bytes, "kfunc").expect("parse");
        let btf = object.btf.expect("object BTF");
        let encoded = sanitized(&bytes, &btf);
        let blob = encoded.finish().expect("finish");
        if let Err(error) = apiary_kernel::BtfFd::load(&blob, 1) {
            panic!("kernel refused sanitized kfunc BTF: {error}");
        }
        let back = Btf::parse(&blob).expect("parse back");
        assert_ne!(assert_only_listed_changes("kfunc", &bytes, &btf), 0);
        let release = btf.find_by_name("bpf_task_release").expect("declared");
        let params = |btf: &Btf| -> Vec<String> {
            let Kind::Func { proto, .. } = btf.type_by_id(release).expect("FUNC").kind else {
                panic!("bpf_task_release is not a FUNC");
            };
            let Kind::FuncProto(proto) = &btf.type_by_id(proto).expect("proto").kind else {
                panic!("bpf_task_release has no FUNC_PROTO");
            };
            let names = proto.params.iter().map(|p| btf.str_at(p.name_off));
            names.map(|n| n.expect("name").to_owned()).collect()
        };
        assert_eq!(params(&btf), [""], "clang leaves kfunc parameters unnamed");
        assert_eq!(params(&back), [KFUNC_PARAM_NAME]);
        let ksyms = btf
            .find_by_name_kind(".ksyms", apiary_btf::BtfKind::Datasec)
            .expect(".ksyms DATASEC");
        assert!(encoded.emptied.contains(&ksyms.0));
        let kind_of = |name: &str| {
            let id = btf.find_by_name(name).expect(name);
            back.type_by_id(id).expect("same id").kind.clone()
        };
        for kfunc in ["bpf_rcu_read_lock", "bpf_task_acquire", "bpf_task_release"] {
            assert!(
                matches!(
                    kind_of(kfunc),
                    Kind::Func {
                        linkage: FuncLinkage::Global,
                        ..
                    }
                ),
                "{kfunc}"
            );
        }
        assert!(matches!(
            kind_of("use_kfunc"),
            Kind::Func {
                linkage: FuncLinkage::Global,
                ..
            }
        ));
        assert!(matches!(
            kind_of("hidden_counter"),
            Kind::Var {
                linkage: VarLinkage::Static,
                ..
            }
        ));
        assert!(matches!(
            kind_of("LICENSE"),
            Kind::Var {
                linkage: VarLinkage::Global,
                ..
            }
        ));
    }

    /// Line-info strings the object has keep their offsets; new ones are
    /// appended and found again.
    #[test]
    fn interning_reuses_object_strings_and_appends_new_ones() {
        let Some(objects) =
            objects_with_btf("interning_reuses_object_strings_and_appends_new_ones")
        else {
            return;
        };
        let (_, bytes, btf) = &objects[0];
        let mut encoded = sanitized(bytes, btf);
        let (_, named) = btf
            .types()
            .find(|(_, t)| t.name_off != 0)
            .expect("a named type");
        let name = btf.str_at(named.name_off).expect("name");
        assert_eq!(encoded.intern(name).expect("intern"), named.name_off);
        let fresh = "not a string any object has \u{1f41d}";
        let offset = encoded.intern(fresh).expect("intern");
        assert_eq!(encoded.intern(fresh).expect("intern"), offset);
        let back = Btf::parse(&encoded.finish().expect("finish")).expect("parse back");
        assert_eq!(back.str_at(offset).expect("appended string"), fresh);
        assert!(matches!(encoded.intern("a\0b"), Err(Error::Btf(_))));
    }
}
