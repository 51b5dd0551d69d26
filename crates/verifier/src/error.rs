//! Why a program is refused: the instruction, the kernel's own error line,
//! the registers involved, and the same in plain words with a fix.

use std::fmt;

/// A source position from the program's BTF line info.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceLine {
    /// First instruction (slot) the line covers.
    pub insn: usize,
    /// Source file.
    pub file: String,
    /// 1-based line number.
    pub line: u32,
    /// 1-based column, 0 if unknown.
    pub column: u32,
    /// The line's text.
    pub text: String,
}

/// A refused program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// The instruction (slot) the kernel stops at.
    pub insn: usize,
    /// Lines the kernel prints before its final one for this error (for
    /// example `invalid access to packet, ...` before
    /// `R1 offset is outside of the packet`).
    pub kernel_context: Vec<String>,
    /// The kernel's final error line, exactly as its log prints it.
    pub kernel: String,
    /// The registers involved, with their abstract state (`R1=pkt(off=23,r=14)`).
    pub regs: Vec<String>,
    /// What is wrong, in plain words.
    pub cause: String,
    /// How to fix it, when there is an obvious way.
    pub help: Option<String>,
    /// The source line of `insn`, when the program has line info.
    pub source: Option<SourceLine>,
    /// For an access outside the proven part of the packet: what it
    /// touched and what the checks before it proved.
    pub packet: Option<PacketAccess>,
}

/// A packet access the checks before it do not cover.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PacketAccess {
    /// First byte accessed, from the start of the packet data.
    pub start: i32,
    /// One past the last byte accessed.
    pub end: i32,
    /// Whether the access writes.
    pub writes: bool,
    /// Bytes from the start proven inside the packet (0 when none).
    pub proven: i32,
    /// The comparison with `data_end` that proved them, if any.
    pub proven_at: Option<usize>,
    /// That comparison's source line, when the program has line info.
    pub proven_source: Option<SourceLine>,
}

impl PacketAccess {
    /// What the checks before the access proved, and where.
    pub fn proven_note(&self) -> String {
        let proven = format!("data+0..data+{}", self.proven);
        match (self.proven_at, &self.proven_source) {
            (Some(_), Some(line)) => format!(
                "the checks before this line prove {proven} ({}:{}: `{}`)",
                line.file,
                line.line,
                line.text.trim()
            ),
            (Some(at), None) => format!("the checks before this line prove {proven} (insn {at})"),
            (None, _) => "no check before this line compares the packet with data_end".into(),
        }
    }
}

impl Rejection {
    /// A rejection at `insn` with the kernel's line; the plain-words cause
    /// defaults to the kernel's line until [`Rejection::cause`] sets it.
    pub fn new(insn: usize, kernel: impl Into<String>) -> Rejection {
        let kernel = kernel.into();
        Rejection {
            insn,
            kernel_context: Vec::new(),
            cause: kernel.clone(),
            kernel,
            regs: Vec::new(),
            help: None,
            source: None,
            packet: None,
        }
    }

    /// Sets the plain-words cause.
    pub fn cause(mut self, cause: impl Into<String>) -> Rejection {
        self.cause = cause.into();
        self
    }

    /// Sets the suggested fix.
    pub fn help(mut self, help: impl Into<String>) -> Rejection {
        self.help = Some(help.into());
        self
    }

    /// Adds a register and its state.
    pub fn reg(mut self, regno: u8, state: impl fmt::Display) -> Rejection {
        self.regs.push(format!("R{regno}={state}"));
        self
    }

    /// Names source files relative to `dir` (as rustc names them relative
    /// to where it runs) when they are inside it.
    pub fn relative_to(&mut self, dir: &str) {
        let prefix = format!("{}/", dir.trim_end_matches('/'));
        let lines = self.source.iter_mut().chain(
            self.packet
                .iter_mut()
                .flat_map(|p| p.proven_source.as_mut()),
        );
        for line in lines {
            if let Some(rest) = line.file.strip_prefix(&prefix) {
                line.file = rest.to_string();
            }
        }
    }

    /// Records the packet access this rejection is about.
    pub fn packet(mut self, access: PacketAccess) -> Rejection {
        self.packet = Some(access);
        self
    }

    /// Adds a line the kernel prints before the final one.
    pub fn context(mut self, line: impl Into<String>) -> Rejection {
        self.kernel_context.push(line.into());
        self
    }
}

impl Rejection {
    /// The rejection as a compiler diagnostic, the way rustc prints errors:
    /// the cause, the source position and line with the expression
    /// underlined, what the checks before proved (and where), the
    /// registers involved, the fix, and the kernel's own lines.
    pub fn render(&self) -> String {
        let mut out = format!("error: {}\n", self.cause);
        match &self.source {
            Some(src) => {
                let number = src.line.to_string();
                let pad = " ".repeat(number.len());
                let span = crate::diagnostic::expression_span(&src.text, src.column);
                let column = span.map_or(src.column, |(start, _)| start as u32);
                out.push_str(&format!("{pad}--> {}:{}:{column}\n", src.file, src.line));
                out.push_str(&format!("{pad} |\n{number} | {}\n", src.text.trim_end()));
                if let Some((start, len)) = span {
                    let label = self.packet.as_ref().map_or(String::new(), |p| {
                        format!(
                            " {} data+{}..data+{}",
                            if p.writes { "writes" } else { "reads" },
                            p.start,
                            p.end
                        )
                    });
                    // Tabs stay tabs so that the carets line up under the text.
                    let indent: String = src.text[..start - 1]
                        .chars()
                        .map(|c| if c == '\t' { '\t' } else { ' ' })
                        .collect();
                    out.push_str(&format!("{pad} | {indent}{}{label}\n", "^".repeat(len)));
                }
                out.push_str(&format!("{pad} |\n"));
            }
            None => out.push_str(&format!("  --> insn {}\n", self.insn)),
        }
        if let Some(packet) = &self.packet {
            out.push_str(&format!("   = note: {}\n", packet.proven_note()));
        }
        if !self.regs.is_empty() {
            out.push_str(&format!("   = note: {}\n", self.regs.join(" ")));
        }
        if let Some(help) = &self.help {
            out.push_str(&format!("   = help: {help}\n"));
        }
        for line in self.kernel_context.iter().chain([&self.kernel]) {
            out.push_str(&format!("   = kernel: {line}\n"));
        }
        out
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "insn {}: {}", self.insn, self.cause)?;
        if let Some(src) = &self.source {
            write!(f, " ({}:{}:{})", src.file, src.line, src.column)?;
        }
        if !self.regs.is_empty() {
            write!(f, " [{}]", self.regs.join(" "))?;
        }
        if let Some(help) = &self.help {
            write!(f, "; help: {help}")?;
        }
        write!(f, "; kernel: {}", self.kernel)
    }
}

impl std::error::Error for Rejection {}

/// What the walk did, as the kernel's statistics line reports it.
///
/// Its [`Display`](fmt::Display) is that line, `processed N insns (limit
/// 1000000) max_states_per_insn M total_states T peak_states P mark_read
/// R`, with every number from Apiary's own walk but `mark_read`: the
/// kernel's longest register-parentage chain walked to mark reads, which
/// Apiary does not track (its liveness walks no such chains). It prints
/// `mark_read 0` because kernel 6.18 prints 0 there too, for every program
/// of the corpus and the examples (`apiary verify --backend both`), so the
/// line stays the kernel's for tools that parse it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Instructions processed over all paths.
    pub insns_processed: u64,
    /// The most states kept at one instruction.
    pub max_states_per_insn: u32,
    /// States kept for pruning.
    pub total_states: u32,
    /// The most states kept at once.
    pub peak_states: u32,
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "processed {} insns (limit {}) max_states_per_insn {} total_states {} peak_states {} mark_read 0",
            self.insns_processed,
            crate::explore::INSN_LIMIT,
            self.max_states_per_insn,
            self.total_states,
            self.peak_states
        )
    }
}
