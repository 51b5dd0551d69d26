//! The kernel-compatible verifier log (`BPF_LOG_LEVEL1` and `2`): each
//! instruction walked in the kernel's syntax ([`insn_text`]), the source
//! line it starts (`; if (ip->protocol == 6) @ bad.c:19`), the registers
//! and stack slots it touched after it ([`state_text`]), the frames at
//! calls and returns, global functions assumed valid then validated,
//! where each waiting path starts (`from 4 to 7: ...`, level 2), pruned
//! paths (`7: safe`), then the kernel's error lines and the statistics
//! line.
//!
//! The walk calls it at a few points (a path starts or waits, an
//! instruction is checked, a path is pruned, a function's walk ends);
//! at [`LogLevel::Off`] each returns at once, so an unlogged verification
//! pays nothing else. As the kernel's, the level-1 log forgets a path
//! that ended well when the next one starts, and a function's walk once
//! it is found safe, keeping the path to an error; level 2 keeps all.
//! The whole log is not always the kernel's (the walks differ in what
//! they know and in how they prune), but whatever both print is printed
//! alike, and a rejection's last line before the statistics is the
//! kernel's error line (but for a loop that never ends, followed by its
//! state now and the one it repeats, `P` marking the precise scalars).

mod insn_text;
mod state_text;

pub use insn_text::{insn_text, insn_text_in};
use state_text::marked_frame_text;
pub use state_text::{Names, Scratch, frame_text, reg_text, state_text};

use apiary_isa::RawInsn;

use crate::error::{Rejection, Stats};
use crate::precision::Marks;
use crate::program::Program;
use crate::regs::RegType;
use crate::state::State;

/// How much the log says (the kernel's `log_level` bits 1 and 2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// No log: nothing is recorded.
    #[default]
    Off,
    /// Level 1: the path to the verdict, with the state the instructions
    /// touched.
    Basic,
    /// Level 2: every path, with the full state where each starts.
    Verbose,
}

impl LogLevel {
    /// The level for the kernel's `log_level` number (1 or 2; 0 is off).
    pub fn from_number(n: u32) -> Option<LogLevel> {
        match n {
            0 => Some(LogLevel::Off),
            1 => Some(LogLevel::Basic),
            2 => Some(LogLevel::Verbose),
            _ => None,
        }
    }
}

/// The most log kept, in bytes: past it the oldest lines go, as the
/// kernel's rotating log keeps the end of what it wrote (the part with
/// the error) when its buffer fills.
const MAX_LOG: usize = 16 << 20;

/// The kernel's `BPF_LOG_MIN_ALIGNMENT` and `BPF_LOG_ALIGNMENT`: the state
/// after an instruction starts at column 40 or, after a longer line, at
/// the next multiple of 8 at least 4 columns on (`vlog_alignment`).
const MIN_ALIGNMENT: usize = 8;
const ALIGNMENT: usize = 40;

/// The log being written by one verification.
pub(crate) struct Log<'p> {
    level: LogLevel,
    text: String,
    /// Bytes dropped from the front of `text` (positions below count
    /// them, so that they stay valid).
    dropped: usize,
    prog: Option<&'p Program<'p>>,
    /// What to print of the state before the next instruction.
    scratch: Scratch,
    /// End and length (newline included) of the last instruction's line,
    /// to put the state after it on the same line while nothing followed.
    insn_line: Option<(usize, usize)>,
    /// The line info record last printed (an index into the lines).
    source: Option<usize>,
    /// Per waiting path, innermost last: the instruction it branched
    /// from and the log's length then.
    waiting: Vec<(usize, usize)>,
    /// The instruction walked last (the kernel's `prev_insn_idx`).
    prev_pc: usize,
    /// A path just started from the queue (`do_print_state`).
    from_queue: bool,
    /// The stack slots the instruction being checked accesses.
    accessed: u64,
    /// The frames before the instruction being checked.
    depth: usize,
    /// At a callee's exit: its frame as printed, and where it returns.
    leaving: Option<(String, usize)>,
    /// At a helper call: which of `r1`-`r5` hold numbers.
    call_args: Option<[bool; 5]>,
    /// The callbacks (by start) whose BTF parameters a call did not match.
    unreliable: Vec<usize>,
    /// Per argument slot of a BTF-typed context, the line a load typing
    /// it logs.
    typed_args: Vec<Option<String>>,
    /// The argument slot the instruction being checked loads from the
    /// context, if it does.
    ctx_load: Option<usize>,
    /// Where the log ended before a conditional jump's state was printed
    /// (where the branch it queues takes the log up).
    fork_at: Option<usize>,
    /// Lines the kernel prints after its error line (the states of a
    /// loop that never ends).
    trailer: String,
}

impl<'p> Log<'p> {
    /// A log of `prog`'s verification at `level`.
    pub fn new(level: LogLevel, prog: &'p Program<'p>) -> Log<'p> {
        Log {
            level,
            text: String::new(),
            dropped: 0,
            prog: (level != LogLevel::Off).then_some(prog),
            scratch: Scratch::ALL,
            insn_line: None,
            source: None,
            waiting: Vec::new(),
            prev_pc: 0,
            from_queue: false,
            accessed: 0,
            depth: 0,
            leaving: None,
            call_args: None,
            unreliable: Vec::new(),
            typed_args: Vec::new(),
            ctx_load: None,
            fork_at: None,
            trailer: String::new(),
        }
    }

    /// The program's context is typed from BTF as `ctx` says.
    pub(crate) fn typed_ctx(&mut self, ctx: &crate::btf_ctx::BtfCtx) {
        if self.on().is_some() {
            self.typed_args = ctx.typed_lines();
        }
    }

    fn on(&self) -> Option<&'p Program<'p>> {
        self.prog
    }

    /// Where the log ends, counting what was dropped.
    fn end(&self) -> usize {
        self.dropped + self.text.len()
    }

    /// Drops the oldest lines once the log holds twice [`MAX_LOG`],
    /// keeping the last [`MAX_LOG`] bytes from a line's start.
    fn bound(&mut self) {
        if self.text.len() <= 2 * MAX_LOG {
            return;
        }
        let cut = self.text.len() - MAX_LOG;
        let cut = self.text[cut..].find('\n').map_or(cut, |i| cut + i + 1);
        self.text.drain(..cut);
        self.dropped += cut;
    }

    fn print_state(&mut self, state: &State, scratch: Scratch) {
        let names = self.prog.map(Names::of).unwrap_or_default();
        self.text.push_str(&state_text(state, scratch, names));
        self.text.push('\n');
    }

    /// A path waits at `to`, branching from the instruction at `from`.
    pub fn queued(&mut self, from: usize, to: usize) {
        let Some(prog) = self.on() else {
            return;
        };
        if let Some(scalars) = self.call_args.take()
            && !self.unreliable.contains(&to)
            && let Some(line) = callback_args(prog, to, scalars)
        {
            // The kernel marks the callback's BTF unreliable then, and
            // checks it no more (`btf_check_subprog_call`).
            self.text.push_str(&line);
            self.unreliable.push(to);
        }
        let end = self.fork_at.take().unwrap_or_else(|| self.end());
        self.waiting.push((from, end));
    }

    /// The path last queued is one too many (`push_stack` fails): the
    /// kernel printed nothing after the line of the jump queueing it.
    pub fn queue_full(&mut self) {
        let Some(&(_, end)) = self.waiting.last() else {
            return;
        };
        self.text.truncate(end.saturating_sub(self.dropped));
        // The jump's line ends as it was before its state was put on it.
        if !self.text.is_empty() && !self.text.ends_with('\n') {
            self.text.pop();
            self.text.push('\n');
        }
    }

    /// A path starts: the program's (or a global function's) first, or
    /// the last one queued.
    pub fn path(&mut self) {
        if self.on().is_none() {
            return;
        }
        self.scratch = Scratch::ALL;
        if let Some((from, len)) = self.waiting.pop() {
            if self.level == LogLevel::Basic {
                // Level 1 keeps only the path being walked (`pop_stack`).
                // As `bpf_vlog_reset`, which keeps what overwrote the
                // newline there (the state after the jump): the path's
                // first state goes back on that line.
                self.text.truncate(len.saturating_sub(self.dropped));
            }
            self.prev_pc = from;
            self.from_queue = true;
        }
    }

    /// The path reached `pc` in a state a verified one covers.
    pub fn pruned(&mut self, pc: usize) {
        if self.on().is_none() {
            return;
        }
        let line = if self.from_queue {
            format!("\nfrom {} to {pc}: safe\n", self.prev_pc)
        } else {
            format!("{pc}: safe\n")
        };
        self.text.push_str(&line);
    }

    /// The instruction at `pc` is about to be checked in `state`.
    #[inline]
    pub fn insn(&mut self, state: &State, pc: usize) {
        // Inlined: without a log, one test per instruction walked.
        if let Some(prog) = self.on() {
            self.insn_logged(prog, state, pc);
        }
    }

    fn insn_logged(&mut self, prog: &'p Program<'p>, state: &State, pc: usize) {
        if self.level == LogLevel::Verbose && self.from_queue {
            self.text
                .push_str(&format!("\nfrom {} to {pc}:", self.prev_pc));
            self.print_state(state, Scratch::ALL);
            self.from_queue = false;
        }
        self.fork_at = None;
        if !self.scratch.is_empty() {
            self.print_touched(state, pc);
        }
        self.source_line(prog, pc);
        self.bound();
        let start = self.text.len();
        self.text.push_str(&format!(
            "{pc}: {}\n",
            insn_text_in(prog.insns, pc, prog.kernel_btf)
        ));
        self.insn_line = Some((self.end(), self.text.len() - start));
        self.prev_pc = pc;
        self.accessed = stack_access(prog.insns[pc], state);
        self.depth = state.frames.len();
        let frame = state.frame();
        let raw = prog.insns[pc];
        // A load from the unmodified context (the only kind accepted).
        self.ctx_load = (raw.code & 0xe7 == 0x61
            && frame.regs.get(usize::from(raw.src)).map(|r| r.kind) == Some(RegType::Ctx))
        .then(|| usize::try_from(raw.off / 8).ok())
        .flatten();
        self.call_args = (raw.code == 0x85 && raw.src == 0)
            .then(|| std::array::from_fn(|i| frame.regs[i + 1].is_scalar()));
        // A callback returns to the helper's call, which may call it again.
        self.leaving = match frame.callsite {
            Some(call) if prog.insns[pc].code == 0x95 && !frame.async_cb => Some((
                state_text(state, Scratch::ALL, Names::of(prog)),
                if frame.callback { call } else { call + 1 },
            )),
            _ => None,
        };
    }

    /// The registers and slots the last instruction touched, in `state`
    /// (`print_insn_state`): after its line while nothing followed it,
    /// else on a line of their own headed `pc:`.
    fn print_touched(&mut self, state: &State, pc: usize) {
        match self.insn_line {
            Some((end, len)) if end == self.end() => {
                self.text.pop();
                let width = (len + MIN_ALIGNMENT / 2)
                    .max(ALIGNMENT)
                    .next_multiple_of(MIN_ALIGNMENT)
                    .saturating_sub(len + 1);
                self.text.push_str(&" ".repeat(width));
                self.text.push(';');
            }
            _ => self.text.push_str(&format!("{pc}:")),
        }
        self.print_state(state, self.scratch);
        self.scratch = Scratch::default();
    }

    /// `; TEXT @ FILE:LINE` when `pc` starts another source line
    /// (`verbose_linfo`: records for the same line are printed once).
    fn source_line(&mut self, prog: &Program, pc: usize) {
        let Some(at) = prog.lines.iter().rposition(|l| l.insn <= pc) else {
            return;
        };
        if self.source == Some(at) {
            return;
        }
        let line = &prog.lines[at];
        if let Some(prev) = self.source.map(|p| &prog.lines[p])
            && prev.file == line.file
            && prev.line == line.line
        {
            return;
        }
        let file = line.file.rsplit('/').next().unwrap_or_default();
        self.text.push_str(&format!(
            "; {} @ {file}:{}\n",
            line.text.trim_start(),
            line.line
        ));
        self.source = Some(at);
    }

    /// The instruction at `pc` was checked; `state` is the state after
    /// it (after the return, for a callee's exit). A call into a function
    /// prints both frames (`check_func_call`), a return both too
    /// (`prepare_func_exit`), the caller's path then going on as a path
    /// that starts (`from 3 to 1:` at level 2).
    #[inline]
    pub fn after(&mut self, state: &State, pc: usize) {
        // Inlined: without a log, one test per instruction walked.
        if let Some(prog) = self.on() {
            self.after_logged(prog, state, pc);
        }
    }

    fn after_logged(&mut self, prog: &'p Program<'p>, state: &State, pc: usize) {
        let depth = state.frames.len();
        let frame_text = |index| frame_text(state, index, Scratch::ALL, Names::of(prog));
        if depth > self.depth && !state.frame().callback && !state.frame().async_cb {
            let text = format!(
                "caller:\n{}\ncallee:\n{}\n",
                frame_text(depth - 2),
                frame_text(depth - 1)
            );
            self.text.push_str(&text);
            self.scratch = Scratch::ALL;
            return;
        }
        if let Some((callee, to)) = self.leaving.take()
            && depth < self.depth
        {
            let text = format!(
                "returning from callee:\n{callee}\nto caller at {to}:\n{}\n",
                frame_text(depth - 1)
            );
            self.text.push_str(&text);
            self.scratch = Scratch::default();
            self.from_queue = true;
            return;
        }
        if let Some(line) = self
            .ctx_load
            .take()
            .and_then(|slot| self.typed_args.get(slot))
            .and_then(Option::as_ref)
        {
            // Logged during the load: the state after it then starts a
            // line of its own.
            self.text.push_str(line);
            self.text.push('\n');
        }
        let raw = prog.insns[pc];
        if raw.code == 0x85 && raw.src == 1 {
            // A call that entered no frame: a global function, verified
            // on its own later.
            let target = (pc as i64 + 1 + i64::from(raw.imm)) as usize;
            if let Some((index, name)) = func_name(prog, target) {
                self.text.push_str(&format!(
                    "Func#{index} ('{name}') is global and assumed valid.\n"
                ));
            }
        }
        self.scratch = Scratch {
            regs: named_regs(raw),
            slots: self.accessed,
        };
        // A conditional jump prints the state the walk goes on in at once
        // (`check_cond_jmp_op`), after queueing the other branch, whose
        // log ends before it.
        if matches!(raw.code & 0x07, 0x05 | 0x06) && !matches!(raw.code >> 4, 0x0 | 0x8 | 0x9 | 0xe)
        {
            self.fork_at = Some(self.end());
            self.print_touched(state, pc);
        }
    }

    /// The global function starting at `start` is verified on its own
    /// (`do_check_subprogs`), from now on.
    pub fn global_start(&mut self, start: usize) {
        if let Some((index, name)) = self.on().and_then(|p| func_name(p, start)) {
            self.text
                .push_str(&format!("Validating {name}() func#{index}...\n"));
        }
    }

    /// `bpf_loop`, called from frame `frame`, stops calling its callback
    /// (level 2 only).
    pub fn loop_limit(&mut self, frame: usize) {
        if self.on().is_some() && self.level == LogLevel::Verbose {
            self.text
                .push_str(&format!("frame{frame} bpf_loop iteration limit reached\n"));
        }
    }

    /// The global function starting at `start` was found safe.
    pub fn global_safe(&mut self, start: usize) {
        if let Some((index, name)) = self.on().and_then(|p| func_name(p, start)) {
            self.text.push_str(&format!(
                "Func#{index} ('{name}') is safe for any args that match its prototype\n"
            ));
        }
    }

    /// Verification stopped on `rejection`.
    pub fn rejected(&mut self, rejection: &Rejection) {
        let Some(prog) = self.on() else {
            return;
        };
        // The kernel resolves the maps `lddw` refers to before it walks
        // (`resolve_pseudo_ldimm64`): a refusal there comes alone.
        if prog
            .insns
            .get(rejection.insn)
            .is_some_and(|raw| raw.code == 0x18 && matches!(raw.src, 1 | 2 | 5 | 6))
        {
            self.forget_walks();
        }
        for line in rejection.kernel_context.iter().chain([&rejection.kernel]) {
            self.text.push_str(line);
            self.text.push('\n');
        }
        self.text.push_str(&std::mem::take(&mut self.trailer));
    }

    /// The path came back in `cur` to where it had been in `old` (a
    /// checkpoint, with the scalars `precise` per frame that paths from
    /// it relied on): the refusal is followed by both states, whole, old
    /// with its `P` marks.
    pub(crate) fn looping(&mut self, cur: &State, old: &State, precise: &[Marks]) {
        let Some(prog) = self.on() else {
            return;
        };
        let index = cur.frames.len() - 1;
        let marks = precise.get(index).map_or(Scratch::default(), |m| Scratch {
            regs: m.regs,
            slots: m.slots,
        });
        let names = Names::of(prog);
        self.trailer = format!(
            "cur state:{}\nold state:{}\n",
            state_text(cur, Scratch::ALL, names),
            marked_frame_text(old, index, Scratch::ALL, marks, names)
        );
    }

    /// A function's walk (the program's, or a global function's) found
    /// every path safe: level 1 forgets it, as the kernel's does, being
    /// for finding why a program is refused.
    pub fn walked(&mut self) {
        if self.level == LogLevel::Basic {
            self.forget_walks();
        }
    }

    /// Forgets everything logged so far: the kernel refuses some programs
    /// (a call graph too deep) before it walks them.
    pub fn forget_walks(&mut self) {
        self.dropped += self.text.len();
        self.text.clear();
    }

    /// The log, ended with the statistics line (empty when off).
    pub fn finish(mut self, stats: &Stats) -> String {
        if self.on().is_some() {
            self.text.push_str(&format!("{stats}\n"));
        }
        self.text
    }
}

/// A helper call handing a callback starting at `start` to run: the
/// kernel matches the call's registers against the callback's BTF
/// parameters (`btf_check_subprog_call`), logging the first number
/// parameter given something else (the line returned), and goes on
/// whatever it found.
fn callback_args(prog: &Program, start: usize, scalars: [bool; 5]) -> Option<String> {
    let func = prog.funcs.iter().find(|f| f.insn == start)?;
    for (i, arg) in func.args.iter().enumerate().take(5) {
        // Other parameters are checked otherwise: not logged here.
        if *arg != crate::program::FuncArg::Scalar {
            return None;
        }
        if !scalars[i] {
            return Some(format!("R{} is not a scalar\n", i + 1));
        }
    }
    None
}

/// The kernel's number (`func#N`, by start) and the name of the function
/// starting at `start`, from the program's BTF func info.
fn func_name<'a>(prog: &'a Program, start: usize) -> Option<(usize, &'a str)> {
    let index = prog.funcs.iter().position(|f| f.insn == start)?;
    Some((index, prog.funcs[index].name.as_str()))
}

/// The registers the instruction `raw` names, which the kernel's checks
/// of it read or write (its "scratched" registers).
fn named_regs(raw: RawInsn) -> u16 {
    let class = raw.code & 0x07;
    let mode = raw.code & 0xe0;
    let x = raw.code & 0x08 != 0;
    let (d, s) = (1u16 << (raw.dst & 0xf), 1u16 << (raw.src & 0xf));
    match class {
        // ALU: the source register only when it is one; in a byte swap
        // the bit says big-endian, and no source is read.
        0x04 | 0x07 if raw.code & 0xf0 == 0xd0 => d,
        0x04 | 0x07 => d | if x { s } else { 0 },
        // lddw, or the legacy packet loads (r0, the context in r6).
        0x00 if mode == 0x00 => d,
        0x00 => 1 | 1 << 6 | if mode == 0x40 { s } else { 0 },
        0x01 => d | s,
        0x02 => d,
        // cmpxchg compares with r0.
        0x03 if raw.imm == 0xf1 => d | s | 1,
        0x03 => d | s,
        // Calls: the result and the arguments (cleared, so not printed).
        0x05 | 0x06 if raw.code >> 4 == 0x8 => 0b11_1111,
        0x05 | 0x06 if raw.code >> 4 == 0x9 => 1,
        0x05 | 0x06 if matches!(raw.code >> 4, 0x0 | 0xe) => 0,
        _ => d | if x { s } else { 0 },
    }
}

/// The stack slots of the innermost frame that the load or store `raw`
/// may access through a stack pointer, in `state` before it runs: those
/// at its offset, or in its range of offsets when the pointer's is
/// variable (`check_stack_range_initialized` marks them all).
fn stack_access(raw: RawInsn, state: &State) -> u64 {
    let base = match raw.code & 0x07 {
        // A load-acquire reads through its source register.
        0x03 if raw.code & 0xe0 == 0xc0 && raw.imm == 0x100 => raw.src,
        0x01 => raw.src,
        0x02 | 0x03 => raw.dst,
        _ => return 0,
    };
    let frame = state.frame();
    let Some(reg) = frame.regs.get(usize::from(base)) else {
        return 0;
    };
    if reg.kind != RegType::Stack || reg.frameno != frame.frameno {
        return 0;
    }
    let size = [4, 2, 1, 8][usize::from((raw.code >> 3) & 3)];
    let fixed = i64::from(reg.off) + i64::from(raw.off);
    let (Some(low), Some(high)) = (
        fixed.checked_add(reg.value.smin),
        fixed.checked_add(reg.value.smax),
    ) else {
        return 0;
    };
    let (low, high) = (low.max(-512), (high + size - 1).min(-1));
    let mut slots = 0u64;
    let mut at = low;
    while at <= high {
        slots |= 1u64.checked_shl(((-at - 1) / 8) as u32).unwrap_or(0);
        at += 1;
    }
    slots
}
