//! The verifier test cases of `tests/verifier/*.s`: programs in
//! `apiary-asm`'s syntax, each with the program type and maps it needs and
//! the verdict of the kernel 6.18 (accept, or reject with the final line of
//! its verifier log), recorded from the kernel.
//!
//! A file is a sequence of cases. A case starts at `;; case NAME`; its
//! `;;` lines (by convention right after `;; case`) are its header, every
//! other line up to the next `;; case` is its assembly:
//!
//! ```text
//! ;; case xdp_read_past_checked_header
//! ;; type xdp
//! ;; expect reject: R2 offset is outside of the packet
//! ;; detail invalid access to packet, off=23 size=1, R2(id=0,off=23,r=14)
//!     r2 = *(u32 *)(r1 + 0)
//!     ...
//! ```
//!
//! Header keys: `type` (bpftool's program type name, required), `attach`
//! (bpftool's attach type name), `target NAME` (a BTF-typed tracing
//! program's attach point in the running kernel's BTF, as its section
//! names it: `sched_switch` for tp_btf, `task` for iter, a function for
//! fentry), `flags NAME...` (load flags:
//! `sleepable`, `strict_alignment`, `any_alignment`), `map NAME TYPE key=N value=N max=N
//! [flags=N] [spin_lock] [timer]` (maps in order are `fd_array` entries 0, 1, ...,
//! which `ld_pseudo rN, 5, INDEX` loads), `func NAME static|global
//! [args=N | params=int|mem|ctx:STRUCT,...]` (BTF func info: the first line describes the program at
//! instruction 0, the next ones its subprograms in address order) and
//! `expect accept` / `expect reject: LINE` (required; `expect reject`
//! without a line is a case whose line is not recorded yet), and after a
//! rejection the `detail LINE`s: the kernel's message lines before the
//! final one, in order (`invalid access to packet, off=23 size=1, ...`
//! before `R2 offset is outside of the packet`). In the
//! assembly, `;; raw CODE DST SRC OFF IMM` is one instruction slot written
//! field by field, for encodings the assembler refuses to produce, and
//! `call kfunc(NAME)` calls a kernel function by name, its BTF id looked up
//! in the running kernel's BTF.
//! Comments are `#` or a single `;`.
//!
//! This module parses and assembles; [`kernel_verdict`] asks the kernel.
//! It must not decide a verdict itself.

mod btf;
mod kernel;

use std::fmt;
use std::path::{Path, PathBuf};

use apiary_isa::{AluOp, Insn, RawInsn, Reg, Source, Width, encode_program};
use apiary_kernel::types::{AttachType, MapType, ProgType};
use thiserror::Error;

pub use btf::function_starts;
pub use kernel::{KernelVerdict, LoadFailure, kernel_verdict, kernel_verdict_logged};

/// A map a case needs, created before the program is loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapDecl {
    /// The map's name (also its kernel object name).
    pub name: String,
    /// The map type.
    pub map_type: MapType,
    /// Key size in bytes.
    pub key_size: u32,
    /// Value size in bytes.
    pub value_size: u32,
    /// `max_entries`.
    pub max_entries: u32,
    /// `map_flags`.
    pub flags: u32,
    /// The value is described by BTF as a struct whose first field is a
    /// `struct bpf_spin_lock` (what `bpf_spin_lock` needs).
    pub spin_lock: bool,
    /// The value is described by BTF as a struct holding a `struct
    /// bpf_timer` (after the lock, at offset 8, or at offset 0).
    pub timer: bool,
}

impl MapDecl {
    /// Whether the map is created with BTF key and value types: maps with
    /// a lock or a timer, and local storage maps, which the kernel creates
    /// only with a 4-byte `int` key type and a value type (a struct of
    /// the value's size here).
    pub fn has_btf(&self) -> bool {
        self.spin_lock
            || self.timer
            || matches!(
                self.map_type,
                MapType::TASK_STORAGE | MapType::SK_STORAGE | MapType::CGRP_STORAGE
            )
    }
}

/// Whether a function is verified with its caller or on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Linkage {
    /// `static`: verified in the context of each call.
    Static,
    /// `global`: verified once, on its own, by its BTF signature.
    Global,
}

/// A parameter's BTF type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Param {
    /// `int`.
    Int,
    /// `int *`: 4 bytes of memory, or NULL.
    Mem,
    /// A pointer to the (empty) struct of this name: the context when it
    /// is the program type's context struct.
    Ctx(String),
}

/// One function's BTF func info: a name, a linkage and its parameters,
/// returning `int`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FuncDecl {
    /// The function's name.
    pub name: String,
    /// Static or global.
    pub linkage: Linkage,
    /// Its parameters.
    pub params: Vec<Param>,
}

/// What the kernel said about a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// The verifier accepts the program.
    Accept,
    /// The verifier rejects the program with this final log line (`None`:
    /// not recorded yet).
    Reject(Option<String>),
}

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expect::Accept => f.write_str("accept"),
            Expect::Reject(Some(line)) => write!(f, "reject: {line}"),
            Expect::Reject(None) => f.write_str("reject"),
        }
    }
}

/// One verifier test case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    /// The file it comes from.
    pub file: PathBuf,
    /// The line of its `;; case` header (1-based).
    pub line: usize,
    /// Its name, unique in the file.
    pub name: String,
    /// The program type it is loaded as.
    pub prog_type: ProgType,
    /// The expected attach type, if the program type needs one.
    pub attach_type: Option<AttachType>,
    /// A BTF-typed tracing program's attach point (`;; target`), looked
    /// up in the running kernel's BTF.
    pub attach_target: Option<String>,
    /// `BPF_F_*` load flags.
    pub prog_flags: u32,
    /// Its maps, in `fd_array` order.
    pub maps: Vec<MapDecl>,
    /// BTF func info, empty when the case loads without BTF.
    pub funcs: Vec<FuncDecl>,
    /// The recorded verdict.
    pub expect: Expect,
    /// The line of its `;; expect` header.
    pub expect_line: usize,
    /// The kernel's message lines before the final one (`;; detail`,
    /// the lines right after `;; expect`).
    pub detail: Vec<String>,
    /// The program's instruction slots.
    pub insns: Vec<RawInsn>,
    /// It calls kernel functions by name (`call kfunc(bpf_iter_num_new)`),
    /// whose BTF ids were looked up in the running kernel's BTF (0 where
    /// the host has none: such a case cannot be checked there).
    pub kfuncs_by_name: bool,
}

impl Case {
    /// `file:line: name`, for messages.
    pub fn location(&self) -> String {
        format!("{}:{}: {}", self.file.display(), self.line, self.name)
    }

    /// The instruction slots as the kernel reads them.
    pub fn bytecode(&self) -> Vec<u8> {
        self.insns.iter().flat_map(|i| i.to_le_bytes()).collect()
    }
}

/// Why a case file could not be read.
#[derive(Debug, Error)]
#[error("{}:{line}: {problem}", file.display())]
pub struct ParseError {
    /// The file.
    pub file: PathBuf,
    /// The 1-based line.
    pub line: usize,
    /// What is wrong there.
    pub problem: String,
}

/// Reads and parses one case file.
pub fn read_file(path: &Path) -> Result<Vec<Case>, ParseError> {
    let text = std::fs::read_to_string(path).map_err(|error| ParseError {
        file: path.to_owned(),
        line: 0,
        problem: format!("cannot read: {error}"),
    })?;
    parse(path, &text)
}

/// The case files under `dir` (`*.s`), sorted by name.
pub fn case_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    files.retain(|path| path.extension().is_some_and(|ext| ext == "s"));
    files.sort();
    Ok(files)
}

/// Parses the text of a case file named `file`.
pub fn parse(file: &Path, text: &str) -> Result<Vec<Case>, ParseError> {
    let mut cases: Vec<Case> = Vec::new();
    let mut current: Option<Draft> = None;
    for (index, line) in text.lines().enumerate() {
        let line_no = index + 1;
        let fail = |problem: String| ParseError {
            file: file.to_owned(),
            line: line_no,
            problem,
        };
        let case_name = header(line).and_then(|h| {
            h.strip_prefix("case")
                .filter(|rest| rest.is_empty() || rest.starts_with(char::is_whitespace))
        });
        if let Some(name) = case_name {
            if let Some(draft) = current.take() {
                cases.push(draft.finish(file)?);
            }
            let name = name.trim();
            if name.is_empty() || name.contains(char::is_whitespace) {
                return Err(fail(format!("a case needs a one-word name, not {name:?}")));
            }
            if cases.iter().any(|c| c.name == name) {
                return Err(fail(format!("a second case named {name}")));
            }
            current = Some(Draft::new(name, line_no));
            continue;
        }
        let Some(draft) = current.as_mut() else {
            if header(line).is_some() {
                return Err(fail("a header before the first `;; case`".into()));
            }
            continue;
        };
        draft.line(line, line_no).map_err(fail)?;
    }
    if let Some(draft) = current {
        cases.push(draft.finish(file)?);
    }
    Ok(cases)
}

/// The text after `;;`, when `line` is a header line.
fn header(line: &str) -> Option<&str> {
    line.trim_start().strip_prefix(";;").map(str::trim)
}

/// A case being read.
struct Draft {
    name: String,
    line: usize,
    prog_type: Option<ProgType>,
    attach_type: Option<AttachType>,
    attach_target: Option<String>,
    prog_flags: u32,
    maps: Vec<MapDecl>,
    funcs: Vec<FuncDecl>,
    expect: Option<(Expect, usize)>,
    detail: Vec<String>,
    /// Assembly lines with their file line numbers; a `;; raw` line is
    /// replaced by a placeholder instruction.
    body: Vec<(usize, String)>,
    raw: Vec<RawInsn>,
}

/// A `mov64 r0, imm` no case writes itself, standing for the `index`th raw slot.
fn placeholder(index: usize) -> Insn {
    Insn::Alu {
        width: Width::W64,
        op: AluOp::Mov,
        dst: Reg::R0,
        src: Source::Imm(0x5eed_0000 + index as i32),
    }
}

impl Draft {
    fn new(name: &str, line: usize) -> Self {
        Draft {
            name: name.to_owned(),
            line,
            prog_type: None,
            attach_type: None,
            attach_target: None,
            prog_flags: 0,
            maps: Vec::new(),
            funcs: Vec::new(),
            expect: None,
            detail: Vec::new(),
            body: Vec::new(),
            raw: Vec::new(),
        }
    }

    fn line(&mut self, line: &str, line_no: usize) -> Result<(), String> {
        let Some(text) = header(line) else {
            self.body.push((line_no, line.to_owned()));
            return Ok(());
        };
        let (key, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
        let rest = rest.trim();
        match key {
            "type" => {
                let prog_type = ProgType::from_name(rest)
                    .ok_or_else(|| format!("unknown program type {rest:?}"))?;
                self.prog_type = Some(prog_type);
            }
            "attach" => {
                let attach = AttachType::from_name(rest)
                    .ok_or_else(|| format!("unknown attach type {rest:?}"))?;
                self.attach_type = Some(attach);
            }
            "target" if !rest.is_empty() && !rest.contains(char::is_whitespace) => {
                self.attach_target = Some(rest.to_owned());
            }
            "flags" => {
                for name in rest.split_whitespace() {
                    self.prog_flags |= prog_flag(name)?;
                }
            }
            "map" => self.maps.push(map_decl(rest)?),
            "func" => self.funcs.push(func_decl(rest)?),
            "expect" => {
                if self.expect.is_some() {
                    return Err("a second `;; expect`".into());
                }
                self.expect = Some((expect(rest)?, line_no));
            }
            "detail" => {
                let follows = match &self.expect {
                    Some((Expect::Reject(Some(_)), at)) => *at + self.detail.len() + 1 == line_no,
                    _ => false,
                };
                if !follows {
                    return Err(
                        "`;; detail` lines come right after `;; expect reject: LINE`".into(),
                    );
                }
                self.detail.push(rest.to_owned());
            }
            "raw" => {
                let raw = raw_slot(rest)?;
                let insn = placeholder(self.raw.len());
                self.raw.push(raw);
                self.body.push((
                    line_no,
                    apiary_asm::format_insn(&insn, apiary_asm::Syntax::Llvm),
                ));
            }
            other => return Err(format!("unknown header `;; {other}`")),
        }
        Ok(())
    }

    fn finish(self, file: &Path) -> Result<Case, ParseError> {
        let fail = |line, problem: String| ParseError {
            file: file.to_owned(),
            line,
            problem: format!("case {}: {problem}", self.name),
        };
        let prog_type = self
            .prog_type
            .ok_or_else(|| fail(self.line, "no `;; type` header".into()))?;
        let (expect, expect_line) = self
            .expect
            .clone()
            .ok_or_else(|| fail(self.line, "no `;; expect` header".into()))?;
        let mut text = String::new();
        let mut kfuncs_by_name = false;
        for (line_no, line) in &self.body {
            let (line, by_name) = kfuncs_named(line).map_err(|problem| fail(*line_no, problem))?;
            kfuncs_by_name |= by_name;
            text.push_str(&line);
            text.push('\n');
        }
        let insns = apiary_asm::assemble(&text).map_err(|error| {
            let line = self.body.get(error.line - 1).map_or(self.line, |(n, _)| *n);
            fail(line, format!("column {}: {}", error.column, error.kind))
        })?;
        if insns.is_empty() {
            return Err(fail(self.line, "no instructions".into()));
        }
        let mut slots = encode_program(&insns);
        for (index, raw) in self.raw.iter().enumerate() {
            let stand_in = encode_program(&[placeholder(index)])[0];
            let mut found = slots.iter_mut().filter(|slot| **slot == stand_in);
            match (found.next(), found.next()) {
                (Some(slot), None) => *slot = *raw,
                _ => {
                    return Err(fail(
                        self.line,
                        format!("the stand-in of raw slot {index} is written by the case itself"),
                    ));
                }
            }
        }
        btf::check_funcs(&self.funcs, &slots).map_err(|problem| fail(self.line, problem))?;
        Ok(Case {
            file: file.to_owned(),
            line: self.line,
            name: self.name,
            prog_type,
            attach_type: self.attach_type,
            attach_target: self.attach_target,
            prog_flags: self.prog_flags,
            maps: self.maps,
            funcs: self.funcs,
            expect,
            expect_line,
            detail: self.detail,
            insns: slots,
            kfuncs_by_name,
        })
    }
}

/// `line` with each `kfunc(NAME)` turned into `kfunc(ID)`, ID being the
/// BTF id of the function NAME in the running kernel's BTF (0 where the
/// host has none), and whether it had any.
fn kfuncs_named(line: &str) -> Result<(String, bool), String> {
    const CALL: &str = "kfunc(";
    let mut out = String::new();
    let mut rest = line;
    let mut named = false;
    while let Some(at) = rest.find(CALL) {
        let (before, after) = rest.split_at(at + CALL.len());
        out.push_str(before);
        let end = after.find([')', ',']).unwrap_or(after.len());
        let name = after[..end].trim();
        rest = &after[end..];
        let is_name = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_');
        if !is_name {
            out.push_str(name);
            continue;
        }
        named = true;
        let id = match apiary_verifier::kernel_btf() {
            Ok(btf) => {
                btf.find_by_name_kind(name, apiary_btf::BtfKind::Func)
                    .ok_or_else(|| format!("the running kernel has no function {name}"))?
                    .0
            }
            Err(_) => 0,
        };
        out.push_str(&id.to_string());
    }
    out.push_str(rest);
    Ok((out, named))
}

/// A number in decimal or `0x` hexadecimal, possibly negative.
fn number(text: &str) -> Result<i64, String> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let value = match digits.strip_prefix("0x") {
        Some(hex) => i64::from_str_radix(hex, 16),
        None => digits.parse(),
    }
    .map_err(|_| format!("{text:?} is not a number"))?;
    Ok(if negative { -value } else { value })
}

fn field<T: TryFrom<i64>>(text: &str, what: &str) -> Result<T, String> {
    T::try_from(number(text)?).map_err(|_| format!("{what} {text} is out of range"))
}

/// One load flag by name.
fn prog_flag(name: &str) -> Result<u32, String> {
    use apiary_kernel::types::prog_flags;
    match name {
        "sleepable" => Ok(prog_flags::SLEEPABLE),
        "strict_alignment" => Ok(prog_flags::STRICT_ALIGNMENT),
        "any_alignment" => Ok(prog_flags::ANY_ALIGNMENT),
        other => Err(format!(
            "unknown load flag {other:?} (sleepable, strict_alignment, any_alignment)"
        )),
    }
}

/// `NAME TYPE key=N value=N max=N [flags=N] [spin_lock] [timer]`.
fn map_decl(text: &str) -> Result<MapDecl, String> {
    let mut words = text.split_whitespace();
    let (Some(name), Some(kind)) = (words.next(), words.next()) else {
        return Err("`;; map NAME TYPE key=N value=N max=N [flags=N] [spin_lock] [timer]`".into());
    };
    let map_type = MapType::from_name(kind).ok_or_else(|| format!("unknown map type {kind:?}"))?;
    let mut decl = MapDecl {
        name: name.to_owned(),
        map_type,
        key_size: 0,
        value_size: 0,
        max_entries: 1,
        flags: 0,
        spin_lock: false,
        timer: false,
    };
    for word in words {
        match word.split_once('=') {
            Some(("key", n)) => decl.key_size = field(n, "key size")?,
            Some(("value", n)) => decl.value_size = field(n, "value size")?,
            Some(("max", n)) => decl.max_entries = field(n, "max entries")?,
            Some(("flags", n)) => decl.flags = field(n, "flags")?,
            None if word == "spin_lock" => decl.spin_lock = true,
            None if word == "timer" => decl.timer = true,
            _ => return Err(format!("unknown map attribute {word:?}")),
        }
    }
    Ok(decl)
}

/// `NAME static|global [args=N]`.
fn func_decl(text: &str) -> Result<FuncDecl, String> {
    const USAGE: &str = "`;; func NAME static|global [args=N | params=int|mem|ctx:STRUCT,...]`";
    let words: Vec<&str> = text.split_whitespace().collect();
    let (name, linkage, params) = match words.as_slice() {
        [name, linkage] => (*name, *linkage, Vec::new()),
        [name, linkage, list] => (*name, *linkage, params(list)?),
        _ => return Err(USAGE.into()),
    };
    let linkage = match linkage {
        "static" => Linkage::Static,
        "global" => Linkage::Global,
        other => return Err(format!("linkage is static or global, not {other:?}")),
    };
    if params.len() > 5 {
        return Err(format!(
            "a function takes at most 5 arguments, not {}",
            params.len()
        ));
    }
    Ok(FuncDecl {
        name: name.to_owned(),
        linkage,
        params,
    })
}

/// `args=N` (`N` ints) or `params=KIND,...`.
fn params(text: &str) -> Result<Vec<Param>, String> {
    if let Some(count) = text.strip_prefix("args=") {
        let count: u32 = field(count, "argument count")?;
        return Ok(vec![Param::Int; count.min(6) as usize]);
    }
    let Some(list) = text.strip_prefix("params=") else {
        return Err(format!("expected args=N or params=..., found {text:?}"));
    };
    list.split(',')
        .map(|kind| match kind {
            "int" => Ok(Param::Int),
            "mem" => Ok(Param::Mem),
            _ => match kind.strip_prefix("ctx:") {
                Some(name) if !name.is_empty() => Ok(Param::Ctx(name.to_owned())),
                _ => Err(format!(
                    "a parameter is int, mem or ctx:STRUCT, not {kind:?}"
                )),
            },
        })
        .collect()
}

/// `accept`, `reject` or `reject: LINE`.
fn expect(text: &str) -> Result<Expect, String> {
    match text {
        "accept" => Ok(Expect::Accept),
        "reject" => Ok(Expect::Reject(None)),
        _ => match text.strip_prefix("reject:") {
            Some(line) if !line.trim().is_empty() => {
                Ok(Expect::Reject(Some(line.trim().to_owned())))
            }
            _ => Err(format!(
                "`;; expect accept` or `;; expect reject: LINE`, not {text:?}"
            )),
        },
    }
}

/// `CODE DST SRC OFF IMM`.
fn raw_slot(text: &str) -> Result<RawInsn, String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let [code, dst, src, off, imm] = words.as_slice() else {
        return Err("`;; raw CODE DST SRC OFF IMM`".into());
    };
    let register = |text: &str, what: &str| -> Result<u8, String> {
        let n: u8 = field(text, what)?;
        if n < 16 {
            Ok(n)
        } else {
            Err(format!("{what} {text} does not fit in 4 bits"))
        }
    };
    let imm = number(imm)?;
    let imm = i32::try_from(imm)
        .or_else(|_| u32::try_from(imm).map(|u| u as i32))
        .map_err(|_| format!("immediate {imm} does not fit in 32 bits"))?;
    Ok(RawInsn {
        code: field(code, "opcode")?,
        dst: register(dst, "dst")?,
        src: register(src, "src")?,
        off: field(off, "offset")?,
        imm,
    })
}

#[cfg(test)]
mod tests;
