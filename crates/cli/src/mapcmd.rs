//! `apiary map COMMAND pinned FILE ...`: bpftool's `map` commands on
//! Apiary's pinned maps (files written by `apiary_maps::pin`), with
//! bpftool 7.1's grammar and output: hex and BTF-formatted dumps, `-j`,
//! per-CPU values, its error wording (`Error: ...` on stderr, or
//! `{"error":...}` with `-j`) and exit status (255 for bad arguments, the
//! low byte of `-errno` when a map operation fails). Commands that change
//! the map save its pin file back.
//!
//! It must not implement map semantics or BTF formatting: `apiary-maps`
//! and `apiary-btf` own those; this module owns bpftool's grammar and
//! framing.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use apiary_btf::{BpftoolJson, Btf, TypeId, dump_value};
use apiary_maps::pin::{self, MapBtf};
use apiary_maps::{BPF_ANY, BPF_EXIST, BPF_NOEXIST, Map, MapError, MapType};

use crate::CliResult;
use crate::progrun::OutputFormat;

/// A failed command: the message bpftool prints through `p_err` (if any)
/// and its exit status: 255 for bad arguments (`return -1`), the low byte
/// of `-errno` when a `bpf()` call failed (libbpf's `-errno` returned from
/// `main`).
struct Failure {
    message: Option<String>,
    status: u8,
}

impl Failure {
    /// A syscall failure with bpftool's message.
    fn syscall(message: String, error: &MapError) -> Failure {
        Failure {
            message: Some(message),
            status: errno_status(error),
        }
    }

    /// A syscall failure the output already reports.
    fn silent(error: &MapError) -> Failure {
        Failure {
            message: None,
            status: errno_status(error),
        }
    }
}

fn errno_status(error: &MapError) -> u8 {
    // `main` returns -errno; the status is its low byte.
    errno_of(error).wrapping_neg() as u8
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
struct Output {
    json: Option<BpftoolJson>,
    text: String,
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
const COMMANDS: [&str; 10] = [
    "dump", "update", "lookup", "getnext", "delete", "peek", "push", "enqueue", "pop", "dequeue",
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
    if rest.len() < 2 {
        return Err(usage().into());
    }
    let (path, args) = parse_map_spec(rest)?;
    // Held until the command is done: a running `xdp run --pin-maps` takes
    // the same lock to merge and rewrite the files.
    let _lock = pin::lock_dir_of(path).map_err(|e| e.to_string())?;
    let pinned = pin::load(path).map_err(|e| match e {
        pin::PinError::Io { source, .. } => {
            format!("bpf obj get ({}): {}", path.display(), strerror_of(&source))
        }
        other => format!(
            "{}: not a usable apiary pinned map: {other}",
            path.display()
        ),
    })?;
    let view = MapView {
        map: &pinned.map,
        btf: pinned.btf.as_ref(),
    };
    match *command {
        "dump" => {
            if !args.is_empty() {
                return Err(usage().into());
            }
            dump(&view, out)
        }
        "lookup" | "peek" => lookup(&view, args, out),
        "getnext" => getnext(&view, args, out),
        _ => {
            match *command {
                "update" | "push" | "enqueue" => update(&view, args, out)?,
                "delete" => delete(&view, args, out)?,
                _ => pop(&view, out)?,
            }
            pin::save(path, &pinned.map, pinned.btf.as_ref()).map_err(|e| e.to_string())?;
            Ok(())
        }
    }
}

fn usage() -> &'static str {
    "usage: apiary map { dump | lookup | peek | getnext } pinned FILE [key [hex] BYTES]; \
     apiary map { update | push | enqueue } pinned FILE [key [hex] BYTES] value [hex] BYTES [any|exist|noexist]; \
     apiary map { delete } pinned FILE key [hex] BYTES; apiary map { pop | dequeue } pinned FILE"
}

/// `MAP := pinned FILE` (Apiary maps live in pin files; bpftool's `id` and
/// `name` forms name kernel objects).
fn parse_map_spec<'a>(words: &'a [&'a str]) -> Result<(&'a Path, &'a [&'a str]), Failure> {
    match words {
        [kind, path, rest @ ..] if is_prefix(kind, "pinned") => Ok((Path::new(path), rest)),
        [kind, ..] => Err(format!("expected 'id', 'name' or 'pinned', got: '{kind}'?").into()),
        [] => Err(usage().into()),
    }
}

/// A loaded map and its BTF, as `bpf_map_info` and the BTF object describe it.
struct MapView<'a> {
    map: &'a Map,
    btf: Option<&'a MapBtf>,
}

impl MapView<'_> {
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

fn strerror_of(error: &std::io::Error) -> String {
    let text = error.to_string();
    match text.rfind(" (os error ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

fn errno_of(error: &MapError) -> i32 {
    -error.errno()
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
    let btf = view.kv_btf()?;
    let mut pretty = match (&out.json, view.btf.is_some()) {
        (None, true) => Some(BpftoolJson::new(true, true)),
        _ => None,
    };
    if let Some(w) = out.json.as_mut().or(pretty.as_mut()) {
        w.start_array();
    }
    let mut count = 0u32;
    let mut failure = None;
    let mut prev: Option<Vec<u8>> = None;
    loop {
        let key = match view.map.sys_get_next_key(prev.as_deref()) {
            Ok(key) => key,
            Err(MapError::NotFound) => break,
            Err(e) => {
                // bpftool stops quietly and returns the errno.
                failure = Some(Failure::silent(&e));
                break;
            }
        };
        match view.map.sys_lookup(&key, 0) {
            Ok(value) => {
                count += 1;
                match (out.json.as_mut(), pretty.as_mut(), &btf) {
                    (Some(w), _, _) => entry_json(w, view, btf.as_ref(), &key, &value),
                    (None, Some(w), Some(btf)) => dump_btf(w, view, btf, &key, &value),
                    (None, pretty, _) => emit_plain(out, pretty, &entry_plain(view, &key, &value)),
                }
            }
            Err(e) => entry_error(view, &key, errno_of(&e), out, pretty.as_mut()),
        }
        // A map bigger than max_entries would only come from a concurrent writer.
        if count > view.map.max_entries() {
            break;
        }
        prev = Some(key);
    }
    if let Some(w) = out.json.as_mut() {
        w.end_array();
    } else if let Some(mut w) = pretty {
        w.end_array();
        out.text.push_str(&w.finish());
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

/// What `parse_elem` collected.
#[derive(Default)]
struct Elem {
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    flags: Option<u64>,
}

/// Which parts a command takes (bpftool passes NULL for the others).
struct Wanted {
    key: bool,
    value: bool,
    flags: bool,
}

/// bpftool's `parse_elem`: `[key [hex] BYTES] [value [hex] BYTES] [any|exist|noexist]`
/// in any order, each at most once, with its error messages.
fn parse_elem(view: &MapView<'_>, words: &[&str], wanted: &Wanted) -> Result<Elem, Failure> {
    let (ks, vs) = (view.key_size(), view.value_size());
    let mut elem = Elem::default();
    let mut rest = words;
    loop {
        let need_key = wanted.key && elem.key.is_none();
        let need_value = wanted.value && elem.value.is_none();
        let Some((&word, tail)) = rest.split_first() else {
            if !need_key && !need_value {
                return Ok(elem);
            }
            let missing = if need_key { "key" } else { "value" };
            return Err(format!("did not find {missing}").into());
        };
        if is_prefix(word, "key") {
            if !need_key {
                let problem = if wanted.key {
                    "duplicate key"
                } else {
                    "unnecessary key"
                };
                return Err(problem.into());
            }
            let (bytes, after) = parse_bytes(tail, "key", ks)?;
            elem.key = Some(bytes);
            rest = after;
        } else if is_prefix(word, "value") {
            if !need_value {
                let problem = if wanted.value {
                    "duplicate value"
                } else {
                    "unnecessary value"
                };
                return Err(problem.into());
            }
            if view.fd_map() {
                return Err("apiary pinned maps of maps and program arrays hold ids of this process only; their values cannot be set from the command line".into());
            }
            let (bytes, after) = parse_bytes(tail, "value", vs)?;
            elem.value = Some(bytes);
            rest = after;
        } else if ["any", "noexist", "exist"]
            .iter()
            .any(|f| is_prefix(word, f))
        {
            if !wanted.flags || elem.flags.is_some() {
                return Err(format!("flags specified multiple times: {word}").into());
            }
            elem.flags = Some(if is_prefix(word, "any") {
                BPF_ANY
            } else if is_prefix(word, "noexist") {
                BPF_NOEXIST
            } else {
                BPF_EXIST
            });
            rest = tail;
        } else {
            return Err(format!("expected key or value, got: {word}").into());
        }
    }
}

/// bpftool's `parse_bytes`: `n` bytes, `strtoul` base 0 (decimal, `0x` hex,
/// `0` octal) or 16 after `hex`.
fn parse_bytes<'a>(
    words: &'a [&'a str],
    name: &str,
    n: usize,
) -> Result<(Vec<u8>, &'a [&'a str]), Failure> {
    let (base, words) = match words.split_first() {
        Some((first, rest)) if is_prefix(first, "hex") => (16, rest),
        _ => (0, words),
    };
    let mut bytes = Vec::with_capacity(n.min(words.len()));
    for word in words.iter().take(n) {
        let value = strtoul(word, base).ok_or_else(|| format!("error parsing byte: {word}"))?;
        bytes.push(value as u8);
    }
    if bytes.len() != n {
        return Err(format!("{name} expected {n} bytes got {}", bytes.len()).into());
    }
    Ok((bytes, words.get(n..).unwrap_or(&[])))
}

/// C's `strtoul(text, &end, base)` requiring `*end == '\0'`: leading
/// whitespace, a sign, the base prefix; out of range saturates; no digits
/// parses as 0 only when nothing follows.
fn strtoul(text: &str, base: u32) -> Option<u64> {
    let trimmed = text.trim_start_matches([' ', '\t', '\n', '\r', '\u{b}', '\u{c}']);
    let (negative, unsigned) = match trimmed.as_bytes().first() {
        Some(b'-') => (true, &trimmed[1..]),
        Some(b'+') => (false, &trimmed[1..]),
        _ => (false, trimmed),
    };
    let lower = unsigned.to_ascii_lowercase();
    let has_hex_prefix = lower.starts_with("0x")
        && lower[2..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_hexdigit());
    let (radix, digits) = match base {
        16 if has_hex_prefix => (16, &unsigned[2..]),
        16 => (16, unsigned),
        _ if has_hex_prefix => (16, &unsigned[2..]),
        _ if unsigned.starts_with('0') => (8, unsigned),
        _ => (10, unsigned),
    };
    if digits.is_empty() {
        // strtoul("") is 0 with nothing left over; "-" or "0x" leave text.
        return text.is_empty().then_some(0);
    }
    if !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = digits.chars().try_fold(0u64, |acc, c| {
        acc.checked_mul(u64::from(radix))
            .and_then(|v| v.checked_add(u64::from(c.to_digit(radix).unwrap_or(0))))
    });
    let magnitude = magnitude.unwrap_or(u64::MAX);
    Some(if negative {
        magnitude.wrapping_neg()
    } else {
        magnitude
    })
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
        view.map.peek(&mut probe).map(|()| probe)
    } else {
        view.map.sys_lookup(&key, 0)
    };
    match looked_up {
        Ok(value) => print_key_value(view, &key, &value, out),
        Err(MapError::NotFound) => {
            match out.json.as_mut() {
                Some(w) => w.null(),
                None => out
                    .text
                    .push_str(&format!("key:\n{}\n\nNot found\n", hex(&key))),
            }
            Err(Failure::silent(&MapError::NotFound))
        }
        Err(e) => Err(Failure::syscall(
            format!("lookup failed: {}", strerror(errno_of(&e))),
            &e,
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
    let next = view.map.sys_get_next_key(key.as_deref()).map_err(|e| {
        Failure::syscall(
            format!("can't get next key: {}", strerror(errno_of(&e))),
            &e,
        )
    })?;
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
        .sys_update(&key, &value, elem.flags.unwrap_or(BPF_ANY))
        .map_err(|e| Failure::syscall(format!("update failed: {}", strerror(errno_of(&e))), &e))?;
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
        .sys_delete(&key)
        .map_err(|e| Failure::syscall(format!("delete failed: {}", strerror(errno_of(&e))), &e))?;
    if let Some(w) = out.json.as_mut() {
        w.null();
    }
    Ok(())
}

fn pop(view: &MapView<'_>, out: &mut Output) -> Result<(), Failure> {
    let key = vec![0u8; view.key_size()];
    match view.map.sys_lookup_and_delete(&key, 0) {
        Ok(value) => print_key_value(view, &key, &value, out),
        Err(MapError::NotFound) => {
            match out.json.as_mut() {
                Some(w) => w.null(),
                None => out.text.push_str("Error: empty map\n"),
            }
            Err(Failure::silent(&MapError::NotFound))
        }
        Err(e) => Err(Failure::syscall(
            format!("pop failed: {}", strerror(errno_of(&e))),
            &e,
        )),
    }
}

#[cfg(test)]
mod tests {
    //! Every command against bpftool 7.1 on kernel maps: both sides get the
    //! same map (kernel pinned in bpffs, Apiary pinned in a temporary
    //! directory under the same file name) and the same commands, and must
    //! print the same stdout and stderr and exit with the same status.

    use std::path::{Path, PathBuf};
    use std::process::Command;

    use apiary_maps::pin::{self, MapBtf};
    use apiary_maps::{Map, MapDef, MapType};

    use super::render;
    use crate::progrun::OutputFormat;

    /// A bpffs directory for the kernel's pins and a plain one for Apiary's,
    /// both removed at the end.
    struct Dirs {
        kernel: PathBuf,
        apiary: PathBuf,
    }

    impl Drop for Dirs {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.kernel);
            let _ = std::fs::remove_dir_all(&self.apiary);
        }
    }

    fn dirs(test: &str) -> Option<Dirs> {
        if let Err(e) = apiary_kernel::probe() {
            eprintln!("SKIPPED: apiary map vs bpftool ({test}) because bpf() is unavailable: {e}");
            return None;
        }
        if Command::new("bpftool").arg("version").output().is_err() {
            eprintln!("SKIPPED: apiary map vs bpftool ({test}) because bpftool is not installed");
            return None;
        }
        let id = std::process::id();
        let dirs = Dirs {
            kernel: PathBuf::from(format!("/sys/fs/bpf/apiary-mapcmd-{test}-{id}")),
            apiary: std::env::temp_dir().join(format!("apiary-mapcmd-{test}-{id}")),
        };
        std::fs::create_dir_all(&dirs.kernel).expect("bpffs directory");
        std::fs::create_dir_all(&dirs.apiary).expect("temporary directory");
        Some(dirs)
    }

    fn cpus() -> u32 {
        apiary_kernel::possible_cpus().expect("possible CPUs") as u32
    }

    /// (stdout, stderr, exit status) of one side.
    type Printed = (String, String, u8);

    fn bpftool(args: &[&str]) -> Printed {
        let out = Command::new("bpftool")
            .args(args)
            .output()
            .expect("bpftool runs");
        let status = out.status.code().unwrap_or(-1) as u8;
        let text = |b: Vec<u8>| String::from_utf8(b).expect("UTF-8 output");
        (text(out.stdout), text(out.stderr), status)
    }

    /// Runs `map COMMAND pinned <pin> ARGS` on both sides and compares.
    fn both(
        dirs: &Dirs,
        pin_name: &str,
        command: &str,
        args: &[&str],
        format: OutputFormat,
    ) -> Printed {
        let kernel_pin = dirs.kernel.join(pin_name);
        let apiary_pin = dirs.apiary.join(pin_name);
        let mut kernel_args = match format {
            OutputFormat::Text => vec![],
            OutputFormat::Json => vec!["-j"],
            OutputFormat::PrettyJson => vec!["-p"],
        };
        kernel_args.extend(["map", command, "pinned", kernel_pin.to_str().expect("path")]);
        kernel_args.extend(args);
        let expected = bpftool(&kernel_args);
        let mut words = vec![command.to_owned(), "pinned".to_owned()];
        words.push(apiary_pin.to_str().expect("path").to_owned());
        words.extend(args.iter().map(|a| a.to_string()));
        let outcome = render(&words, format);
        let fix = |s: &str| {
            s.replace(
                dirs.apiary.to_str().expect("path"),
                dirs.kernel.to_str().expect("path"),
            )
        };
        let got = (
            fix(&outcome.stdout),
            outcome.stderr.map(|l| fix(&l) + "\n").unwrap_or_default(),
            outcome.status,
        );
        assert_eq!(got, expected, "map {command} {args:?} ({format:?})");
        expected
    }

    /// Runs a command in plain, `-j` and `-p` form.
    fn both_forms(dirs: &Dirs, pin_name: &str, command: &str, args: &[&str]) {
        both(dirs, pin_name, command, args, OutputFormat::Text);
        both(dirs, pin_name, command, args, OutputFormat::Json);
        both(dirs, pin_name, command, args, OutputFormat::PrettyJson);
    }

    /// A kernel map made by `bpftool map create` (of bpftool's type name
    /// `kind`) and the same Apiary map, both pinned under the map's name.
    fn create_pair(dirs: &Dirs, kind: &str, def: MapDef) {
        let kernel_pin = dirs.kernel.join(&def.name);
        let numbers = [def.key_size, def.value_size, def.max_entries].map(|n| n.to_string());
        let flags = format!("{:#x}", def.map_flags);
        let mut args = vec![
            "map",
            "create",
            kernel_pin.to_str().expect("path"),
            "type",
            kind,
            "key",
            &numbers[0],
            "value",
            &numbers[1],
            "entries",
            &numbers[2],
            "name",
            &def.name,
            "flags",
            &flags,
        ];
        // A map of maps gets an inner array made and pinned first.
        let inner_pin = dirs.kernel.join(format!("{}_inner", def.name));
        if let Some(inner) = &def.inner {
            let sizes =
                [inner.key_size, inner.value_size, inner.max_entries].map(|n| n.to_string());
            let (_, stderr, status) = bpftool(&[
                "map",
                "create",
                inner_pin.to_str().expect("path"),
                "type",
                "array",
                "key",
                &sizes[0],
                "value",
                &sizes[1],
                "entries",
                &sizes[2],
                "name",
                "inner",
            ]);
            assert_eq!(status, 0, "bpftool map create (inner): {stderr}");
            args.extend(["inner_map", "pinned", inner_pin.to_str().expect("path")]);
        }
        let (_, stderr, status) = bpftool(&args);
        assert_eq!(status, 0, "bpftool map create: {stderr}");
        let apiary_pin = dirs.apiary.join(&def.name);
        let map = Map::create(def, cpus()).expect("apiary map");
        pin::save(&apiary_pin, &map, None).expect("apiary pin");
    }

    #[test]
    fn hostile_pin_files_give_one_error_line() {
        let dir =
            std::env::temp_dir().join(format!("apiary-mapcmd-hostile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temporary directory");
        let map = Map::create(MapDef::new(MapType::Hash, 4, 4, 4).with_name("h"), 1).expect("map");
        map.sys_update(&[1, 0, 0, 0], &[2, 0, 0, 0], 0)
            .expect("update");
        let good = pin::encode(&map, None).expect("encode");
        let cases: [(&str, Vec<u8>); 3] = [
            ("garbage", b"not a pin".to_vec()),
            ("truncated", good[..good.len() - 3].to_vec()),
            ("empty", Vec::new()),
        ];
        for (name, bytes) in cases {
            let path = dir.join(name);
            std::fs::write(&path, bytes).expect("write");
            let words = [
                "dump".to_owned(),
                "pinned".to_owned(),
                path.display().to_string(),
            ];
            let plain = render(&words, OutputFormat::Text);
            assert_eq!(plain.status, 255, "{name}");
            assert_eq!(plain.stdout, "", "{name}");
            let line = plain.stderr.expect("an error line");
            assert!(
                line.starts_with("Error: ") && !line.contains('\n'),
                "{name}: {line}"
            );
            assert!(
                line.contains("not a usable apiary pinned map"),
                "{name}: {line}"
            );
            let json = render(&words, OutputFormat::Json);
            let parsed: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON error");
            assert!(
                parsed["error"].as_str().is_some_and(|e| e.contains(name)),
                "{name}"
            );
            assert_eq!((json.stderr, json.status), (None, 255));
        }
        // A write to an unchanged, valid pin keeps it loadable.
        let path = dir.join("good");
        std::fs::write(&path, &good).expect("write");
        let words = |w: &[&str]| {
            let mut v = vec![
                "update".to_owned(),
                "pinned".to_owned(),
                path.display().to_string(),
            ];
            v.extend(w.iter().map(|s| s.to_string()));
            v
        };
        let outcome = render(
            &words(&["key", "3", "0", "0", "0", "value", "4", "0", "0", "0"]),
            OutputFormat::Text,
        );
        assert_eq!(outcome.status, 0);
        let back = pin::load(&path).expect("saved back");
        assert_eq!(back.map.sys_lookup(&[3, 0, 0, 0], 0), Ok(vec![4, 0, 0, 0]));
        assert_eq!(back.map.sys_lookup(&[1, 0, 0, 0], 0), Ok(vec![2, 0, 0, 0]));
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn array_commands_match_bpftool() {
        let Some(dirs) = dirs("array") else { return };
        create_pair(
            &dirs,
            "array",
            MapDef::new(MapType::Array, 4, 8, 4)
                .with_flags(0)
                .with_name("arr"),
        );
        let steps: &[(&str, &[&str])] = &[
            ("dump", &[]),
            (
                "update",
                &[
                    "key", "1", "0", "0", "0", "value", "1", "2", "3", "4", "5", "6", "7", "8",
                ],
            ),
            (
                "update",
                &[
                    "key", "hex", "02", "00", "00", "00", "value", "hex", "ff", "ee", "dd", "cc",
                    "bb", "aa", "99", "88", "exist",
                ],
            ),
            (
                "update",
                &[
                    "value", "0x10", "010", "0377", "0x1ff", "", "+7", "9", "10", "key", "3", "0",
                    "0", "0",
                ],
            ),
            (
                "update",
                &[
                    "key", "4", "0", "0", "0", "value", "0", "0", "0", "0", "0", "0", "0", "0",
                ],
            ),
            (
                "update",
                &[
                    "key", "1", "0", "0", "0", "value", "1", "2", "3", "4", "5", "6", "7", "8",
                    "noexist",
                ],
            ),
            ("update", &["key", "1", "0", "0", "0"]),
            (
                "update",
                &[
                    "key", "1", "0", "0", "0", "value", "1", "2", "3", "4", "5", "6", "7", "8",
                    "any", "exist",
                ],
            ),
            (
                "update",
                &[
                    "key", "1", "0", "0", "0", "value", "1", "2", "3", "4", "5", "6", "7", "0x1g",
                ],
            ),
            ("update", &["key", "1", "0", "0", "0", "valeur", "1"]),
            ("delete", &["key", "1", "0", "0", "0"]),
            ("lookup", &["key", "2", "0", "0", "0"]),
            ("lookup", &["key", "9", "0", "0", "0"]),
            ("lookup", &["key", "1", "0", "0"]),
            ("lookup", &["key", "1", "0", "0", "0", "value", "1"]),
            ("lookup", &["key", "1", "0", "0", "0", "key", "1"]),
            ("getnext", &[]),
            ("getnext", &["key", "1", "0", "0", "0"]),
            ("getnext", &["key", "3", "0", "0", "0"]),
            ("getnext", &["key", "7", "0", "0", "0"]),
            ("dump", &[]),
            ("pop", &[]),
        ];
        for (command, args) in steps {
            both_forms(&dirs, "arr", command, args);
        }
        // Unknown pins fail the same way.
        both_forms(&dirs, "missing", "lookup", &["key", "1", "0", "0", "0"]);

        create_pair(
            &dirs,
            "array",
            MapDef::new(MapType::Array, 4, 20, 2)
                .with_flags(0)
                .with_name("wide"),
        );
        let value: Vec<String> = (0..20).map(|i| (i * 13).to_string()).collect();
        let mut args = vec!["key", "1", "0", "0", "0", "value"];
        args.extend(value.iter().map(String::as_str));
        both_forms(&dirs, "wide", "update", &args);
        both_forms(&dirs, "wide", "dump", &[]);
        both_forms(&dirs, "wide", "lookup", &["key", "1", "0", "0", "0"]);
    }

    #[test]
    fn hash_commands_match_bpftool() {
        let Some(dirs) = dirs("hash") else { return };
        // BPF_F_ZERO_SEED: both sides put keys in the same buckets.
        create_pair(
            &dirs,
            "hash",
            MapDef::new(MapType::Hash, 4, 4, 16)
                .with_flags(0x40)
                .with_name("h"),
        );
        for k in [7u8, 1, 200, 33, 64, 5] {
            let k = k.to_string();
            both(
                &dirs,
                "h",
                "update",
                &["key", &k, "0", "0", "1", "value", &k, "1", "2", "3"],
                OutputFormat::Text,
            );
        }
        let steps: &[(&str, &[&str])] = &[
            ("dump", &[]),
            ("delete", &["key", "33", "0", "0", "1"]),
            ("delete", &["key", "33", "0", "0", "1"]),
            (
                "update",
                &[
                    "key", "9", "9", "9", "9", "value", "1", "1", "1", "1", "exist",
                ],
            ),
            (
                "update",
                &[
                    "key", "7", "0", "0", "1", "value", "1", "1", "1", "1", "noexist",
                ],
            ),
            (
                "update",
                &[
                    "key", "7", "0", "0", "1", "value", "2", "2", "2", "2", "exist",
                ],
            ),
            ("lookup", &["key", "7", "0", "0", "1"]),
            ("lookup", &["key", "8", "0", "0", "1"]),
            ("getnext", &[]),
            ("getnext", &["key", "200", "0", "0", "1"]),
            ("getnext", &["key", "8", "8", "8", "8"]),
            ("dump", &[]),
        ];
        for (command, args) in steps {
            both_forms(&dirs, "h", command, args);
        }

        // Long keys and values: bpftool's line breaking.
        create_pair(
            &dirs,
            "hash",
            MapDef::new(MapType::Hash, 20, 40, 4)
                .with_flags(0x40)
                .with_name("long"),
        );
        let key: Vec<String> = (0..20).map(|i| i.to_string()).collect();
        let value: Vec<String> = (0..40).map(|i| (255 - i).to_string()).collect();
        let mut args = vec!["key"];
        args.extend(key.iter().map(String::as_str));
        args.push("value");
        args.extend(value.iter().map(String::as_str));
        both_forms(&dirs, "long", "update", &args);
        both_forms(&dirs, "long", "dump", &[]);
        let mut lookup = vec!["key"];
        lookup.extend(key.iter().map(String::as_str));
        both_forms(&dirs, "long", "lookup", &lookup);
        both_forms(&dirs, "long", "getnext", &lookup);
    }

    #[test]
    fn lpm_trie_and_lru_commands_match_bpftool() {
        let Some(dirs) = dirs("lpm") else { return };
        // BPF_F_NO_PREALLOC, which the kernel requires of tries.
        create_pair(
            &dirs,
            "lpm_trie",
            MapDef::new(MapType::LpmTrie, 8, 4, 8)
                .with_flags(1)
                .with_name("trie"),
        );
        for (prefix, a, b) in [
            ("24", "10", "1"),
            ("8", "10", "2"),
            ("32", "192", "3"),
            ("16", "10", "4"),
        ] {
            let key = ["key", prefix, "0", "0", "0", a, "0", "7", "0"];
            let mut args = key.to_vec();
            args.extend(["value", b, "0", "0", "0"]);
            both(&dirs, "trie", "update", &args, OutputFormat::Text);
        }
        both_forms(&dirs, "trie", "dump", &[]);
        both_forms(&dirs, "trie", "getnext", &[]);
        both_forms(
            &dirs,
            "trie",
            "getnext",
            &["key", "8", "0", "0", "0", "10", "0", "7", "0"],
        );
        both_forms(
            &dirs,
            "trie",
            "lookup",
            &["key", "32", "0", "0", "0", "10", "0", "7", "9"],
        );
        both_forms(
            &dirs,
            "trie",
            "delete",
            &["key", "24", "0", "0", "0", "10", "0", "7", "0"],
        );
        both_forms(
            &dirs,
            "trie",
            "delete",
            &["key", "24", "0", "0", "0", "10", "0", "7", "0"],
        );
        both_forms(&dirs, "trie", "dump", &[]);

        create_pair(
            &dirs,
            "lru_hash",
            MapDef::new(MapType::LruHash, 4, 4, 8)
                .with_flags(0x40)
                .with_name("lru"),
        );
        for k in ["1", "2", "3", "250"] {
            both(
                &dirs,
                "lru",
                "update",
                &["key", k, "0", "0", "0", "value", k, "0", "0", "0"],
                OutputFormat::Text,
            );
        }
        both_forms(&dirs, "lru", "dump", &[]);
        both_forms(&dirs, "lru", "delete", &["key", "2", "0", "0", "0"]);
        both_forms(&dirs, "lru", "dump", &[]);
    }

    #[test]
    fn keyless_and_fd_maps_match_bpftool() {
        let Some(dirs) = dirs("special") else { return };
        create_pair(
            &dirs,
            "perf_event_array",
            MapDef::new(MapType::PerfEventArray, 4, 4, 2).with_name("pe"),
        );
        both_forms(&dirs, "pe", "dump", &[]);
        create_pair(
            &dirs,
            "ringbuf",
            MapDef::new(MapType::Ringbuf, 0, 0, 4096).with_name("rb"),
        );
        both_forms(&dirs, "rb", "dump", &[]);
        create_pair(
            &dirs,
            "bloom_filter",
            MapDef::new(MapType::BloomFilter, 0, 4, 16).with_name("bf"),
        );
        both_forms(&dirs, "bf", "push", &["value", "1", "2", "3", "4"]);
        both_forms(&dirs, "bf", "peek", &[]);
        both_forms(&dirs, "bf", "dump", &[]);
        create_pair(
            &dirs,
            "devmap",
            MapDef::new(MapType::Devmap, 4, 4, 2).with_name("dm"),
        );
        both_forms(&dirs, "dm", "dump", &[]);
        // ifindex 1 is the loopback device.
        both_forms(
            &dirs,
            "dm",
            "update",
            &["key", "1", "0", "0", "0", "value", "1", "0", "0", "0"],
        );
        both_forms(&dirs, "dm", "dump", &[]);
        create_pair(
            &dirs,
            "cpumap",
            MapDef::new(MapType::Cpumap, 4, 4, 2).with_name("cm"),
        );
        both_forms(
            &dirs,
            "cm",
            "update",
            &["key", "1", "0", "0", "0", "value", "0", "1", "0", "0"],
        );
        both_forms(&dirs, "cm", "dump", &[]);
        create_pair(
            &dirs,
            "xskmap",
            MapDef::new(MapType::Xskmap, 4, 4, 2).with_name("xs"),
        );
        both_forms(&dirs, "xs", "dump", &[]);
        for (kind, ty, name) in [
            ("array_of_maps", MapType::ArrayOfMaps, "aom"),
            ("hash_of_maps", MapType::HashOfMaps, "hom"),
        ] {
            let mut def = MapDef::new(ty, 4, 4, 2).with_name(name);
            def.inner = Some(Box::new(MapDef::new(MapType::Array, 4, 4, 1)));
            create_pair(&dirs, kind, def);
            both_forms(&dirs, name, "dump", &[]);
            both_forms(&dirs, name, "lookup", &["key", "0", "0", "0", "0"]);
        }
        create_pair(
            &dirs,
            "prog_array",
            MapDef::new(MapType::ProgArray, 4, 4, 2).with_name("pa"),
        );
        both_forms(&dirs, "pa", "dump", &[]);
        both_forms(&dirs, "pa", "lookup", &["key", "0", "0", "0", "0"]);
        both_forms(&dirs, "pa", "getnext", &[]);
    }

    #[test]
    fn percpu_commands_match_bpftool() {
        let Some(dirs) = dirs("percpu") else { return };
        let def = MapDef::new(MapType::PercpuArray, 4, 4, 2).with_name("pa");
        create_pair(&dirs, "percpu_array", def);
        both_forms(
            &dirs,
            "pa",
            "update",
            &["key", "1", "0", "0", "0", "value", "1", "2", "3", "4"],
        );
        both_forms(&dirs, "pa", "dump", &[]);
        both_forms(&dirs, "pa", "lookup", &["key", "1", "0", "0", "0"]);
        let def = MapDef::new(MapType::PercpuHash, 4, 20, 4)
            .with_flags(0x40)
            .with_name("ph");
        create_pair(&dirs, "percpu_hash", def);
        let value: Vec<String> = (0..20).map(|i| i.to_string()).collect();
        let mut args = vec!["key", "1", "2", "3", "4", "value"];
        args.extend(value.iter().map(String::as_str));
        both_forms(&dirs, "ph", "update", &args);
        both_forms(&dirs, "ph", "dump", &[]);
        both_forms(&dirs, "ph", "lookup", &["key", "1", "2", "3", "4"]);
        both_forms(&dirs, "ph", "lookup", &["key", "1", "2", "3", "5"]);
    }

    #[test]
    fn queue_and_stack_commands_match_bpftool() {
        let Some(dirs) = dirs("queue") else { return };
        for (name, ty, kind) in [
            ("q", MapType::Queue, "queue"),
            ("s", MapType::Stack, "stack"),
        ] {
            create_pair(&dirs, kind, MapDef::new(ty, 0, 4, 3).with_name(name));
            let steps: &[(&str, &[&str])] = &[
                ("peek", &[]),
                ("pop", &[]),
                ("push", &["value", "1", "0", "0", "0"]),
                ("enqueue", &["value", "2", "0", "0", "0"]),
                ("push", &["value", "3", "0", "0", "0"]),
                ("push", &["value", "4", "0", "0", "0"]),
                ("push", &["value", "5", "0", "0", "0", "exist"]),
                ("push", &["key", "1", "value", "5", "0", "0", "0"]),
                ("peek", &[]),
                ("dump", &[]),
                ("pop", &[]),
                ("dequeue", &[]),
                ("pop", &[]),
                ("pop", &[]),
            ];
            for (command, args) in steps {
                both(&dirs, name, command, args, OutputFormat::Text);
            }
            both(
                &dirs,
                name,
                "push",
                &["value", "9", "0", "0", "0"],
                OutputFormat::Json,
            );
            both(&dirs, name, "peek", &[], OutputFormat::Json);
            both(&dirs, name, "pop", &[], OutputFormat::Json);
            both(&dirs, name, "pop", &[], OutputFormat::Json);
        }
    }

    /// Loads a corpus object into the kernel with `bpftool prog loadall ...
    /// pinmaps` and makes the Apiary pin of map `map` from the loader's spec
    /// and the object's BTF.
    fn corpus_pair(dirs: &Dirs, object: &'static str, map: &str) -> Option<String> {
        let corpus = match apiary_corpus::object(object) {
            Ok(o) => o,
            Err(e) => {
                eprintln!("SKIPPED: {object} vs bpftool because the corpus is unavailable: {e}");
                return None;
            }
        };
        let path = corpus.path();
        let progs = dirs.kernel.join("progs");
        let (_, stderr, status) = bpftool(&[
            "prog",
            "loadall",
            path.to_str()?,
            progs.to_str()?,
            "pinmaps",
            dirs.kernel.to_str()?,
        ]);
        assert_eq!(status, 0, "bpftool prog loadall {object}: {stderr}");
        let (apiary_map, btf) = corpus_spec(object, map);
        let spec_name = apiary_map.def().name.clone();
        let file = pin::pin_file_name(&spec_name).expect("pin name");
        assert!(
            Path::new(&dirs.kernel.join(&file)).exists(),
            "bpftool pinned {file}"
        );
        pin::save(&dirs.apiary.join(&file), &apiary_map, btf.as_ref()).expect("apiary pin");
        Some(file)
    }

    #[test]
    fn btf_percpu_and_struct_key_maps_match_bpftool() {
        let Some(dirs) = dirs("btfpercpu") else {
            return;
        };
        let Some(counts) = corpus_pair(&dirs, "xdp_firewall", "verdict_count") else {
            return;
        };
        both_forms(&dirs, &counts, "dump", &[]);
        let update = [
            "key", "2", "0", "0", "0", "value", "7", "0", "0", "0", "0", "0", "0", "1",
        ];
        both_forms(&dirs, &counts, "update", &update);
        both_forms(&dirs, &counts, "lookup", &["key", "2", "0", "0", "0"]);
        both_forms(&dirs, &counts, "lookup", &["key", "9", "0", "0", "0"]);
        both_forms(&dirs, &counts, "dump", &[]);

        // struct rule_key { u8 proto; u8 pad; u16 dport; } -> u32 action
        let rules = pin::pin_file_name("rules").expect("pin name");
        let (kernel_rules, apiary_rules) = (dirs.kernel.join(&rules), dirs.apiary.join(&rules));
        assert!(kernel_rules.exists(), "bpftool pinned {rules}");
        let rules_spec = corpus_spec("xdp_firewall", "rules");
        pin::save(&apiary_rules, &rules_spec.0, rules_spec.1.as_ref()).expect("apiary pin");
        let update = ["key", "6", "0", "0x50", "0", "value", "1", "0", "0", "0"];
        both_forms(&dirs, &rules, "update", &update);
        both_forms(&dirs, &rules, "dump", &[]);
        both_forms(&dirs, &rules, "lookup", &["key", "6", "0", "0x50", "0"]);
        both_forms(&dirs, &rules, "getnext", &[]);
    }

    #[test]
    fn global_data_maps_match_bpftool() {
        let Some(dirs) = dirs("globaldata") else {
            return;
        };
        let names = [
            "global_d.bss",
            "global_d.data",
            "global_d.rodata",
            ".data.counters",
            ".rodata.limits",
            ".rodata.str1.1",
        ];
        let Some(first) = corpus_pair(&dirs, "global_data", names[0]) else {
            return;
        };
        both_forms(&dirs, &first, "dump", &[]);
        for name in &names[1..] {
            let file = pin::pin_file_name(name).expect("pin name");
            let (map, btf) = corpus_spec("global_data", name);
            pin::save(&dirs.apiary.join(&file), &map, btf.as_ref()).expect("apiary pin");
            both_forms(&dirs, &file, "dump", &[]);
            both_forms(&dirs, &file, "lookup", &["key", "0", "0", "0", "0"]);
        }
        let update = [
            "key", "0", "0", "0", "0", "value", "7", "0", "0", "0", "0", "0", "0", "0",
        ];
        let mut update = update.to_vec();
        update.extend(["5", "0", "0", "0"]);
        both_forms(&dirs, &first, "update", &update);
        both_forms(&dirs, &first, "dump", &[]);
    }

    #[test]
    fn pin_file_names_are_those_of_bpftool_pinmaps() {
        for object in [
            "global_data",
            "xdp_firewall",
            "map_in_map",
            "cgroup_sock_addr",
        ] {
            let Some(dirs) = dirs(object) else { return };
            let corpus = match apiary_corpus::object(object) {
                Ok(o) => o,
                Err(e) => {
                    eprintln!(
                        "SKIPPED: pin names of {object} because the corpus is unavailable: {e}"
                    );
                    return;
                }
            };
            let progs = dirs.kernel.join("progs");
            let maps = dirs.kernel.join("maps");
            let (_, stderr, status) = bpftool(&[
                "prog",
                "loadall",
                corpus.path().to_str().expect("path"),
                progs.to_str().expect("path"),
                "pinmaps",
                maps.to_str().expect("path"),
            ]);
            assert_eq!(status, 0, "bpftool prog loadall {object}: {stderr}");
            let mut kernel: Vec<String> = std::fs::read_dir(&maps)
                .expect("pinmaps directory")
                .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                .collect();
            kernel.sort();
            let loaded = apiary_loader::Object::open(corpus.path()).expect("loader");
            let mut ours: Vec<String> = loaded
                .maps
                .iter()
                .map(|m| pin::pin_file_name(&m.name).expect("pin name"))
                .collect();
            ours.sort();
            assert_eq!(ours, kernel, "{object}");
        }
    }

    /// An Apiary map made from the loader's spec of `map` in a corpus
    /// object, as the runtime creates it (with its initial data), and the
    /// BTF `prog run --pin-maps` saves with it.
    fn corpus_spec(object: &'static str, map: &str) -> (Map, Option<MapBtf>) {
        let path = apiary_corpus::object(object).expect("corpus object").path();
        let loaded = apiary_loader::Object::open(path).expect("loader opens the corpus object");
        let spec = loaded
            .maps
            .iter()
            .find(|m| m.name == map)
            .expect("map in object");
        let created =
            Map::create(apiary_runtime::map_def_for(spec, cpus()), cpus()).expect("apiary map");
        if !spec.initial_data.is_empty() {
            created
                .sys_update(&0u32.to_ne_bytes(), &spec.initial_data, 0)
                .expect("initial data");
        }
        (created, crate::pinning::map_btf(&loaded, spec))
    }

    /// `-j map dump` elements sorted, for maps whose hash seed is random.
    fn sorted_dump(dirs: &Dirs, file: &str) {
        let kernel = bpftool(&[
            "-j",
            "map",
            "dump",
            "pinned",
            dirs.kernel.join(file).to_str().expect("path"),
        ]);
        let apiary = render(
            &[
                "dump".into(),
                "pinned".into(),
                dirs.apiary.join(file).to_str().expect("path").into(),
            ],
            OutputFormat::Json,
        );
        let sorted = |text: &str| {
            let mut v: Vec<serde_json::Value> = serde_json::from_str(text).expect("JSON array");
            v.sort_by_key(|e| e.to_string());
            v
        };
        assert_eq!(sorted(&apiary.stdout), sorted(&kernel.0));
    }

    #[test]
    fn btf_struct_maps_from_corpus_objects_match_bpftool() {
        let Some(dirs) = dirs("btf") else { return };
        let Some(buckets) = corpus_pair(&dirs, "spin_lock", "buckets") else {
            return;
        };
        // struct bucket { bpf_spin_lock lock; u32 tokens, burst, rate_per_sec; u64 last_refill_ns; }
        let mut value = vec!["9", "9", "9", "9"];
        value.extend([
            "100", "0", "0", "0", "200", "0", "0", "0", "0xff", "0xff", "0", "0",
        ]);
        value.extend(["1", "2", "3", "4", "5", "6", "7", "0x80"]);
        let mut update = vec!["key", "5", "0", "0", "0", "value"];
        update.extend(&value);
        both_forms(&dirs, &buckets, "update", &update);
        both_forms(&dirs, &buckets, "dump", &[]);
        both_forms(&dirs, &buckets, "lookup", &["key", "5", "0", "0", "0"]);
        both_forms(&dirs, &buckets, "lookup", &["key", "6", "0", "0", "0"]);
        both_forms(&dirs, &buckets, "getnext", &[]);
        update[1] = "6";
        both_forms(&dirs, &buckets, "update", &update);
        sorted_dump(&dirs, &buckets);
        both_forms(&dirs, &buckets, "delete", &["key", "5", "0", "0", "0"]);
        both_forms(&dirs, &buckets, "dump", &[]);

        let Some(redirects) = corpus_pair(&dirs, "cgroup_sock_addr", "redirects") else {
            return;
        };
        let endpoint = ["10", "0", "0", "1", "0x1f", "0x90", "0", "0"];
        let mut update = vec!["key"];
        update.extend(endpoint);
        update.push("value");
        update.extend(["127", "0", "0", "1", "0", "80", "0", "0"]);
        both_forms(&dirs, &redirects, "update", &update);
        both_forms(&dirs, &redirects, "dump", &[]);
        let mut lookup = vec!["key"];
        lookup.extend(endpoint);
        both_forms(&dirs, &redirects, "lookup", &lookup);
        lookup[1] = "11";
        both_forms(&dirs, &redirects, "lookup", &lookup);
    }
}
