//! `apiary map COMMAND MAP ...`: bpftool's `map` commands on Apiary's
//! pinned maps (files written by `apiary_maps::pin`) and, through `bpf()`,
//! on kernel maps (`id N`, `name NAME`, pins on a bpffs), with bpftool
//! 7.1's grammar and output: hex and BTF-formatted dumps, `-j`, per-CPU
//! values, its error wording (`Error: ...` on stderr, or `{"error":...}`
//! with `-j`) and exit status (255 for bad arguments, the low byte of
//! `-errno` when a map operation fails). Commands that change an Apiary
//! map save its pin file back, under the directory's lock `mapsource`
//! took; on a map a running `xdp run --pin-maps` serves live, the
//! running process applies them. `show`/`list` are in `mapshow`.
//!
//! It must not implement map semantics or BTF formatting: `apiary-maps`
//! and `apiary-btf` own those; this module owns bpftool's grammar and
//! framing.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use apiary_btf::{BpftoolJson, Btf, TypeId, dump_value};
use apiary_maps::pin::{self, MapBtf};
use apiary_maps::{BPF_ANY, MapType};

use crate::CliResult;
use crate::mapsource::{self, Backing, Errno, Handle, OpenedMap, strerror_of};
use crate::progrun::OutputFormat;

mod elem;
use elem::{Wanted, parse_elem, strtoul};

/// A failed command: the message bpftool prints through `p_err` (if any)
/// and its exit status: 255 for bad arguments (`return -1`), the low byte
/// of `-errno` when a `bpf()` call failed (libbpf's `-errno` returned from
/// `main`).
pub(crate) struct Failure {
    message: Option<String>,
    status: u8,
}

impl Failure {
    /// A syscall failure with bpftool's message.
    fn syscall(message: String, error: Errno) -> Failure {
        Failure {
            message: Some(message),
            status: errno_status(error),
        }
    }

    /// A syscall failure the output already reports.
    fn silent(error: Errno) -> Failure {
        Failure {
            message: None,
            status: errno_status(error),
        }
    }
}

fn errno_status(error: Errno) -> u8 {
    // `main` returns -errno; the status is its low byte.
    error.0.wrapping_neg() as u8
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Failure {
            message: Some(message),
            status: 255,
        }
    }
}

impl From<&str> for Failure {
    fn from(message: &str) -> Self {
        Failure::from(message.to_owned())
    }
}

/// The command's output: bpftool's JSON writer for `-j`, plain text otherwise.
pub(crate) struct Output {
    pub(crate) json: Option<BpftoolJson>,
    pub(crate) text: String,
}

impl Output {
    fn finish(self) -> String {
        match self.json {
            Some(w) => w.finish(),
            None => self.text,
        }
    }
}

/// `apiary map ...` with bpftool's words; `format` is from the global
/// `-j`/`-p`.
pub fn run(words: &[String], format: OutputFormat) -> CliResult {
    let outcome = render(words, format);
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(outcome.stdout.as_bytes());
    let _ = stdout.flush();
    if let Some(line) = &outcome.stderr {
        eprintln!("{line}");
    }
    Ok(ExitCode::from(outcome.status))
}

/// What a command prints and returns, as bpftool would.
struct Outcome {
    stdout: String,
    stderr: Option<String>,
    status: u8,
}

/// bpftool's output options, which its getopt accepts anywhere on the line.
const JSON_OPTIONS: [&str; 2] = ["-j", "--json"];
const PRETTY_OPTIONS: [&str; 2] = ["-p", "--pretty"];

fn render(words: &[String], format: OutputFormat) -> Outcome {
    let given = |options: [&str; 2]| words.iter().any(|w| options.contains(&w.as_str()));
    let format = if format == OutputFormat::PrettyJson || given(PRETTY_OPTIONS) {
        OutputFormat::PrettyJson
    } else if format == OutputFormat::Json || given(JSON_OPTIONS) {
        OutputFormat::Json
    } else {
        OutputFormat::Text
    };
    let words: Vec<&str> = words
        .iter()
        .map(String::as_str)
        .filter(|w| !JSON_OPTIONS.contains(w) && !PRETTY_OPTIONS.contains(w))
        .collect();
    let mut out = Output {
        json: match format {
            OutputFormat::Text => None,
            OutputFormat::Json => Some(BpftoolJson::new(false, false)),
            OutputFormat::PrettyJson => Some(BpftoolJson::new(true, false)),
        },
        text: String::new(),
    };
    let result = execute(&words, &mut out);
    let mut stderr = None;
    if let Err(Failure {
        message: Some(message),
        ..
    }) = &result
    {
        match out.json.as_mut() {
            // `p_err` in JSON mode: the message, quoted but not escaped.
            Some(w) => {
                w.start_object();
                w.name("error");
                w.raw(&format!("\"{message}\""));
                w.end_object();
            }
            None => stderr = Some(format!("Error: {message}")),
        }
    }
    Outcome {
        stdout: out.finish(),
        stderr,
        status: result.map_or_else(|failure| failure.status, |()| 0),
    }
}

/// bpftool's `is_prefix`: `word` abbreviates `keyword`.
fn is_prefix(word: &str, keyword: &str) -> bool {
    keyword.starts_with(word)
}

/// The map commands in bpftool's table order (abbreviations pick the first).
const COMMANDS: [&str; 12] = [
    "show", "list", "dump", "update", "lookup", "getnext", "delete", "peek", "push", "enqueue",
    "pop", "dequeue",
];

fn execute(words: &[&str], out: &mut Output) -> Result<(), Failure> {
    let Some((&command, rest)) = words.split_first() else {
        return Err(usage().into());
    };
    let Some(command) = COMMANDS.iter().find(|c| is_prefix(command, c)) else {
        return Err(format!(
            "unknown map command '{command}' (apiary supports {})",
            COMMANDS.join(", ")
        )
        .into());
    };
    if matches!(*command, "show" | "list") {
        return crate::mapshow::show(rest, out);
    }
    if rest.len() < 2 {
        return Err(usage().into());
    }
    let (handle, args) = parse_map_spec(rest)?;
    if *command == "dump" {
        if !args.is_empty() {
            return Err(usage().into());
        }
        let maps = mapsource::open_all(handle)?;
        return match maps.as_slice() {
            [] => Err(mapsource::no_map_named(handle).into()),
            [map] => dump(&MapView::of(map), out),
            several => dump_several(several, out),
        };
    }
    let opened = mapsource::open(handle)?;
    let view = MapView::of(&opened);
    match *command {
        "lookup" | "peek" => lookup(&view, args, out),
        "getnext" => getnext(&view, args, out),
        _ => {
            match *command {
                "update" | "push" | "enqueue" => update(&view, args, out)?,
                "delete" => delete(&view, args, out)?,
                _ => pop(&view, out)?,
            }
            if let (Backing::Apiary(map), Some(path)) = (&opened.backing, &opened.pin_file) {
                pin::save(path, map, opened.btf.as_ref()).map_err(|e| e.to_string())?;
            }
            Ok(())
        }
    }
}

fn usage() -> &'static str {
    "usage: apiary map { show | list } [MAP | DIR | FILE.o]; \
     apiary map { dump | lookup | peek | getnext } MAP [key [hex] BYTES]; \
     apiary map { update | push | enqueue } MAP [key [hex] BYTES] value [hex] BYTES [any|exist|noexist]; \
     apiary map { delete } MAP key [hex] BYTES; apiary map { pop | dequeue } MAP; \
     MAP := { id ID | name NAME | pinned FILE }"
}

/// bpftool's `MAP := { id MAP_ID | name MAP_NAME | pinned FILE }`, each
/// keyword abbreviable: `id` and `name` address kernel maps, `pinned` an
/// Apiary pin file or a kernel pin on a bpffs.
pub(crate) fn parse_map_spec<'a>(
    words: &'a [&'a str],
) -> Result<(Handle<'a>, &'a [&'a str]), Failure> {
    let [kind, value, rest @ ..] = words else {
        return Err(match words.first() {
            Some(kind) => format!("expected 'id', 'name' or 'pinned', got: '{kind}'?"),
            None => usage().to_owned(),
        }
        .into());
    };
    let handle = if is_prefix(kind, "id") {
        let id = strtoul(value, 0)
            .and_then(|id| u32::try_from(id).ok())
            .ok_or_else(|| format!("can't parse {value} as ID"))?;
        Handle::Id(id)
    } else if is_prefix(kind, "name") {
        // BPF_OBJ_NAME_LEN - 1.
        if value.len() > 15 {
            return Err("can't parse name".into());
        }
        Handle::Name(value)
    } else if is_prefix(kind, "pinned") {
        Handle::Pinned(Path::new(value))
    } else {
        return Err(format!("expected 'id', 'name' or 'pinned', got: '{kind}'?").into());
    };
    Ok((handle, rest))
}

/// A loaded map and its BTF, as `bpf_map_info` and the BTF object describe it.
struct MapView<'a> {
    map: &'a Backing,
    btf: Option<&'a MapBtf>,
}

impl MapView<'_> {
    fn of(opened: &OpenedMap) -> MapView<'_> {
        MapView {
            map: &opened.backing,
            btf: opened.btf.as_ref(),
        }
    }

    fn key_size(&self) -> usize {
        self.map.key_size()
    }

    fn value_size(&self) -> usize {
        self.map.value_size()
    }

    fn percpu(&self) -> bool {
        self.map.map_type().is_percpu()
    }

    fn fd_map(&self) -> bool {
        matches!(
            self.map.map_type(),
            MapType::ArrayOfMaps | MapType::HashOfMaps | MapType::ProgArray
        )
    }

    /// bpftool's `get_map_kv_btf`: the BTF when the map has a value type.
    fn kv_btf(&self) -> Result<Option<Btf>, Failure> {
        match self.btf {
            Some(b) if b.value_type_id != 0 => Btf::parse(&b.blob)
                .map(Some)
                .map_err(|_| "failed to get btf".into()),
            _ => Ok(None),
        }
    }
}

/// The C library's text for an errno, as `strerror` gives it.
fn strerror(errno: i32) -> String {
    strerror_of(&std::io::Error::from_raw_os_error(errno))
}

/// bpftool's `fprint_hex`: bytes in two-digit hex, two spaces every 8 and a
/// newline every 16.
fn hex(bytes: &[u8]) -> String {
    let mut s = String::new();
    for (i, b) in bytes.iter().enumerate() {
        if i != 0 {
            if i % 16 == 0 {
                s.push('\n');
            } else if i % 8 == 0 {
                s.push_str("  ");
            } else {
                s.push(' ');
            }
        }
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// The value size per CPU slot in a host buffer (8-byte padded).
fn cpu_stride(view: &MapView<'_>) -> usize {
    view.value_size().div_ceil(8) * 8
}

/// bpftool's `print_entry_plain`.
fn entry_plain(view: &MapView<'_>, key: &[u8], value: &[u8]) -> String {
    let (ks, vs) = (view.key_size(), view.value_size());
    let mut s = String::new();
    if !view.percpu() {
        let break_names = ks > 16 || vs > 16;
        let single_line = ks + vs <= 24 && !break_names;
        let sep = if break_names { '\n' } else { ' ' };
        if ks != 0 {
            s.push_str(&format!("key:{sep}{}", hex(key)));
            s.push_str(if single_line { "  " } else { "\n" });
        }
        if vs != 0 {
            s.push_str(&format!(
                "value:{sep}{}",
                hex(value.get(..vs).unwrap_or(value))
            ));
        }
        s.push('\n');
    } else {
        if ks != 0 {
            s.push_str(&format!("key:\n{}\n", hex(key)));
        }
        if vs != 0 {
            let sep = if vs > 16 { '\n' } else { ' ' };
            for (cpu, chunk) in value.chunks(cpu_stride(view)).enumerate() {
                let v = chunk.get(..vs).unwrap_or(chunk);
                s.push_str(&format!("value (CPU {cpu:02}):{sep}{}\n", hex(v)));
            }
        }
    }
    s
}

/// bpftool's `do_dump_btf`: the formatted key and value(s). Errors inside
/// a value end it where bpftool ends it; they are not reported.
fn dump_btf(w: &mut BpftoolJson, view: &MapView<'_>, btf: &Btf, key: &[u8], value: &[u8]) {
    let Some(types) = view.btf else { return };
    w.start_object();
    let key_ok = types.key_type_id == 0 || {
        w.name("key");
        dump_value(btf, TypeId(types.key_type_id), key, w).is_ok()
    };
    if key_ok {
        let value_type = TypeId(types.value_type_id);
        if !view.percpu() {
            w.name("value");
            let _ = dump_value(btf, value_type, value, w);
        } else {
            w.name("values");
            w.start_array();
            for (cpu, chunk) in value.chunks(cpu_stride(view)).enumerate() {
                w.start_object();
                w.name("cpu");
                w.raw(&cpu.to_string());
                w.name("value");
                let failed = dump_value(btf, value_type, chunk, w).is_err();
                w.end_object();
                if failed {
                    break;
                }
            }
            w.end_array();
        }
    }
    w.end_object();
}

/// bpftool's `print_entry_json`.
fn entry_json(
    w: &mut BpftoolJson,
    view: &MapView<'_>,
    btf: Option<&Btf>,
    key: &[u8],
    value: &[u8],
) {
    w.start_object();
    w.name("key");
    w.hex_bytes(key);
    if !view.percpu() {
        w.name("value");
        w.hex_bytes(value.get(..view.value_size()).unwrap_or(value));
    } else {
        w.name("values");
        w.start_array();
        for (cpu, chunk) in value.chunks(cpu_stride(view)).enumerate() {
            w.start_object();
            w.name("cpu");
            w.raw(&cpu.to_string());
            w.name("value");
            w.hex_bytes(chunk.get(..view.value_size()).unwrap_or(chunk));
            w.end_object();
        }
        w.end_array();
    }
    if let Some(btf) = btf {
        w.name("formatted");
        dump_btf(w, view, btf, key, value);
    }
    w.end_object();
}

/// bpftool's `print_key_value` (after a successful lookup or pop).
fn print_key_value(
    view: &MapView<'_>,
    key: &[u8],
    value: &[u8],
    out: &mut Output,
) -> Result<(), Failure> {
    let btf = view.kv_btf()?;
    match (out.json.as_mut(), &btf) {
        (Some(w), _) => entry_json(w, view, btf.as_ref(), key, value),
        (None, Some(btf)) => {
            let mut w = BpftoolJson::new(true, true);
            dump_btf(&mut w, view, btf, key, value);
            out.text.push_str(&w.finish());
        }
        (None, None) => out.text.push_str(&entry_plain(view, key, value)),
    }
    Ok(())
}

/// `map dump`: every element in `get_next_key` order.
fn dump(view: &MapView<'_>, out: &mut Output) -> Result<(), Failure> {
    // Plain output of a map with BTF is bpftool's pretty JSON of the
    // formatted elements; a map without a value type prints plain entries
    // inside it.
    let mut pretty =
        (out.json.is_none() && view.btf.is_some()).then(|| BpftoolJson::new(true, true));
    let result = dump_elements(view, out, pretty.as_mut());
    if let Some(w) = pretty {
        out.text.push_str(&w.finish());
    }
    result
}

/// `map dump name NAME` when several kernel maps have the name: bpftool's
/// `do_dump`, each map's elements under its header (in one array of
/// objects with `-j`, or in the pretty BTF output when every map has BTF).
fn dump_several(maps: &[OpenedMap], out: &mut Output) -> Result<(), Failure> {
    let all_btf = maps.iter().all(|m| m.btf.is_some());
    let mut pretty = (out.json.is_none() && all_btf).then(|| BpftoolJson::new(true, true));
    if let Some(w) = out.json.as_mut().or(pretty.as_mut()) {
        w.start_array();
    }
    let mut result = Ok(());
    for (index, map) in maps.iter().enumerate() {
        let (id, map_type, name, flags) = map.kernel_info.as_ref().map_or_else(
            || (None, Default::default(), String::new(), 0),
            |i| (Some(i.id), i.map_type, i.name.clone(), i.map_flags),
        );
        match out.json.as_mut().or(pretty.as_mut()) {
            Some(w) => {
                w.start_object();
                crate::mapshow::header_json(w, id, map_type, &name, flags);
                w.name("elements");
            }
            None => out.text.push_str(&crate::mapshow::header_plain(
                id, None, map_type, &name, flags,
            )),
        }
        result = dump_elements(&MapView::of(map), out, pretty.as_mut());
        match out.json.as_mut().or(pretty.as_mut()) {
            Some(w) => w.end_object(),
            None if index + 1 != maps.len() => out.text.push('\n'),
            None => {}
        }
        if result.is_err() {
            break;
        }
    }
    if let Some(w) = out.json.as_mut() {
        w.end_array();
    } else if let Some(mut w) = pretty {
        w.end_array();
        out.text.push_str(&w.finish());
    }
    result
}

/// bpftool's `map_dump` after the header: every element in
/// `get_next_key` order into `-j`'s writer, else the pretty BTF writer,
/// else plain text ending with `Found N elements`.
fn dump_elements(
    view: &MapView<'_>,
    out: &mut Output,
    mut pretty: Option<&mut BpftoolJson>,
) -> Result<(), Failure> {
    let btf = view.kv_btf()?;
    if let Some(w) = out.json.as_mut().or(pretty.as_deref_mut()) {
        w.start_array();
    }
    let mut count = 0u32;
    let mut failure = None;
    let mut prev: Option<Vec<u8>> = None;
    loop {
        let key = match view.map.next_key(prev.as_deref()) {
            Ok(key) => key,
            Err(e) if e.is_not_found() => break,
            Err(e) => {
                // bpftool stops quietly and returns the errno.
                failure = Some(Failure::silent(e));
                break;
            }
        };
        match view.map.lookup(&key) {
            Ok(value) => {
                count += 1;
                match (out.json.as_mut(), pretty.as_deref_mut(), &btf) {
                    (Some(w), _, _) => entry_json(w, view, btf.as_ref(), &key, &value),
                    (None, Some(w), Some(btf)) => dump_btf(w, view, btf, &key, &value),
                    (None, pretty, _) => emit_plain(out, pretty, &entry_plain(view, &key, &value)),
                }
            }
            Err(e) => entry_error(view, &key, e.0, out, pretty.as_deref_mut()),
        }
        // A map bigger than max_entries would only come from a concurrent writer.
        if count > view.map.max_entries() {
            break;
        }
        prev = Some(key);
    }
    if let Some(w) = out.json.as_mut().or(pretty) {
        w.end_array();
    } else {
        let plural = if count != 1 { "s" } else { "" };
        out.text
            .push_str(&format!("Found {count} element{plural}\n"));
    }
    failure.map_or(Ok(()), Err)
}

/// bpftool's `print_entry_error`: a lookup that failed during a dump.
fn entry_error(
    view: &MapView<'_>,
    key: &[u8],
    errno: i32,
    out: &mut Output,
    pretty: Option<&mut BpftoolJson>,
) {
    if view.fd_map() && errno == libc::ENOENT {
        return;
    }
    if let Some(w) = out.json.as_mut() {
        w.start_object();
        w.name("key");
        w.hex_bytes(key);
        w.name("value");
        w.start_object();
        w.name("error");
        w.string(&strerror(errno));
        w.end_object();
        w.end_object();
        return;
    }
    let message = if errno == libc::ENOENT {
        "<no entry>".to_owned()
    } else {
        strerror(errno)
    };
    let ks = view.key_size();
    let break_names = ks > 16 || message.len() > 16;
    let single_line = ks + message.len() <= 24 && !break_names;
    let sep = if break_names { '\n' } else { ' ' };
    let text = format!(
        "key:{sep}{}{}value:{sep}{message}\n",
        hex(key),
        if single_line { "  " } else { "\n" }
    );
    emit_plain(out, pretty, &text);
}

/// Text bpftool prints with `printf` during a dump: into the pretty BTF
/// writer's stream when there is one (both share stdout there), else the
/// plain output.
fn emit_plain(out: &mut Output, pretty: Option<&mut BpftoolJson>, text: &str) {
    match pretty {
        Some(w) => w.verbatim(text),
        None => out.text.push_str(text),
    }
}

/// The host value buffer for an update: per-CPU maps get the value copied
/// into every CPU's slot (bpftool's `fill_per_cpu_value`).
fn host_value(view: &MapView<'_>, value: &[u8]) -> Vec<u8> {
    if !view.percpu() {
        return value.to_vec();
    }
    let stride = cpu_stride(view);
    let mut buf = vec![0u8; view.map.host_value_size()];
    for slot in buf.chunks_mut(stride) {
        if let Some(dst) = slot.get_mut(..value.len()) {
            dst.copy_from_slice(value);
        }
    }
    buf
}

fn lookup(view: &MapView<'_>, args: &[&str], out: &mut Output) -> Result<(), Failure> {
    let wanted = Wanted {
        key: view.key_size() != 0,
        value: false,
        flags: false,
    };
    let elem = parse_elem(view, args, &wanted)?;
    let key = elem.key.unwrap_or_default();
    let looked_up = if view.map.map_type() == MapType::BloomFilter {
        // The kernel peeks a bloom filter for the value buffer's contents,
        // which bpftool leaves as allocated: zeros.
        let mut probe = vec![0u8; view.value_size()];
        view.map.bloom_peek(&mut probe).map(|()| probe)
    } else {
        view.map.lookup(&key)
    };
    match looked_up {
        Ok(value) => print_key_value(view, &key, &value, out),
        Err(e) if e.is_not_found() => {
            match out.json.as_mut() {
                Some(w) => w.null(),
                None => out
                    .text
                    .push_str(&format!("key:\n{}\n\nNot found\n", hex(&key))),
            }
            Err(Failure::silent(e))
        }
        Err(e) => Err(Failure::syscall(
            format!("lookup failed: {}", strerror(e.0)),
            e,
        )),
    }
}

fn getnext(view: &MapView<'_>, args: &[&str], out: &mut Output) -> Result<(), Failure> {
    let key = if args.is_empty() {
        None
    } else {
        let wanted = Wanted {
            key: true,
            value: false,
            flags: false,
        };
        parse_elem(view, args, &wanted)?.key
    };
    let next = view
        .map
        .next_key(key.as_deref())
        .map_err(|e| Failure::syscall(format!("can't get next key: {}", strerror(e.0)), e))?;
    match out.json.as_mut() {
        Some(w) => {
            w.start_object();
            w.name("key");
            match &key {
                Some(k) => w.hex_bytes(k),
                None => w.null(),
            }
            w.name("next_key");
            w.hex_bytes(&next);
            w.end_object();
        }
        None => {
            match &key {
                Some(k) => out.text.push_str(&format!("key:\n{}\n", hex(k))),
                None => out.text.push_str("key: None\n"),
            }
            out.text.push_str(&format!("next key:\n{}\n", hex(&next)));
        }
    }
    Ok(())
}

fn update(view: &MapView<'_>, args: &[&str], out: &mut Output) -> Result<(), Failure> {
    let wanted = Wanted {
        key: view.key_size() != 0,
        value: view.value_size() != 0,
        flags: true,
    };
    let elem = parse_elem(view, args, &wanted)?;
    let key = elem.key.unwrap_or_default();
    let value = host_value(view, &elem.value.unwrap_or_default());
    view.map
        .update(&key, &value, elem.flags.unwrap_or(BPF_ANY))
        .map_err(|e| Failure::syscall(format!("update failed: {}", strerror(e.0)), e))?;
    if let Some(w) = out.json.as_mut() {
        w.null();
    }
    Ok(())
}

fn delete(view: &MapView<'_>, args: &[&str], out: &mut Output) -> Result<(), Failure> {
    let wanted = Wanted {
        key: true,
        value: false,
        flags: false,
    };
    let key = parse_elem(view, args, &wanted)?.key.unwrap_or_default();
    view.map
        .delete(&key)
        .map_err(|e| Failure::syscall(format!("delete failed: {}", strerror(e.0)), e))?;
    if let Some(w) = out.json.as_mut() {
        w.null();
    }
    Ok(())
}

fn pop(view: &MapView<'_>, out: &mut Output) -> Result<(), Failure> {
    let key = vec![0u8; view.key_size()];
    match view.map.lookup_and_delete(&key) {
        Ok(value) => print_key_value(view, &key, &value, out),
        Err(e) if e.is_not_found() => {
            match out.json.as_mut() {
                Some(w) => w.null(),
                None => out.text.push_str("Error: empty map\n"),
            }
            Err(Failure::silent(e))
        }
        Err(e) => Err(Failure::syscall(
            format!("pop failed: {}", strerror(e.0)),
            e,
        )),
    }
}

#[cfg(test)]
#[path = "mapcmd_tests.rs"]
mod tests;
