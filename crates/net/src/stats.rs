//! Per-queue counters a worker updates and a reporter reads while it
//! runs, and their rendering as a status line and as JSON.

use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::verdict::Action;

/// The counters of one queue; the worker writes, anyone reads. Aligned
/// so that two queues' counters never share a cache line.
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct QueueStats {
    frames: AtomicU64,
    bytes: AtomicU64,
    actions: [AtomicU64; 5],
    sent: AtomicU64,
    send_failed: AtomicU64,
    unsupported: AtomicU64,
    faults: AtomicU64,
    refused: AtomicU64,
    lost: AtomicU64,
    run_ns: AtomicU64,
    last_problem: Mutex<Option<String>>,
    trace: Mutex<TraceBuffer>,
}

/// `bpf_trace_printk` lines waiting to be shown, bounded as the kernel's
/// trace buffer is: lines past [`MAX_TRACE_WAITING`] are counted, not kept.
#[derive(Debug, Default)]
struct TraceBuffer {
    lines: Vec<String>,
    dropped: u64,
}

/// Most trace lines a queue keeps between two readers' visits.
pub const MAX_TRACE_WAITING: usize = 4096;

/// A copy of a queue's counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Frames received and run.
    pub frames: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Frames per action, in the kernel's numbering ([`Action::ALL`]).
    pub actions: [u64; 5],
    /// Frames sent out (`XDP_TX`, redirects).
    pub sent: u64,
    /// Frames that could not be sent or handed to the host (queue full,
    /// device gone).
    pub send_failed: u64,
    /// Redirects the data plane cannot carry out (freed).
    pub unsupported: u64,
    /// Runs that faulted (counted as `XDP_ABORTED` too).
    pub faults: u64,
    /// Frames not run: cut by the ring or too short for Ethernet.
    pub refused: u64,
    /// Frames the kernel dropped before the port saw them.
    pub lost: u64,
    /// Nanoseconds the worker spent on the received frames: reading them
    /// off the ring, running the program and sorting the verdicts, timed
    /// per batch (sending and handing frames to the host excluded).
    pub run_ns: u64,
}

fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

/// The frames of one batch, counted by the worker alone and added to the
/// shared counters once per batch: an atomic add per counter per frame
/// would cost more than running a small program.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    frames: u64,
    bytes: u64,
    actions: [u64; 5],
}

impl Tally {
    /// One frame of `bytes` ran and ended with `action`.
    pub fn ran(&mut self, bytes: usize, action: Action) {
        self.frames += 1;
        self.bytes += bytes as u64;
        self.actions[action.index()] += 1;
    }
}

impl QueueStats {
    /// The frames of `tally` ran, taking `run_ns` in all; `tally` starts
    /// over.
    pub fn ran(&self, tally: &mut Tally, run_ns: u64) {
        let tally = std::mem::take(tally);
        if tally.frames == 0 {
            return;
        }
        add(&self.frames, tally.frames);
        add(&self.bytes, tally.bytes);
        for (counter, n) in self.actions.iter().zip(tally.actions) {
            if n > 0 {
                add(counter, n);
            }
        }
        add(&self.run_ns, run_ns);
    }

    /// A frame was sent out.
    pub fn sent(&self) {
        add(&self.sent, 1);
    }

    /// A frame could not be sent.
    pub fn send_failed(&self, why: String) {
        add(&self.send_failed, 1);
        self.problem(why);
    }

    /// A redirect could not be carried out.
    pub fn unsupported(&self, why: &str) {
        add(&self.unsupported, 1);
        self.problem(why.to_owned());
    }

    /// The program faulted on a frame (which also counts as aborted).
    pub fn fault(&self, why: String) {
        add(&self.faults, 1);
        self.problem(why);
    }

    /// A frame was not run.
    pub fn refused(&self, why: String) {
        add(&self.refused, 1);
        self.problem(why);
    }

    /// The kernel has dropped `total` frames of this queue so far; a new
    /// loss is reported once.
    pub fn lost(&self, total: u64) {
        let before = self.lost.swap(total, Ordering::Relaxed);
        if total > before {
            self.problem(format!(
                "the kernel dropped {} frame(s) before Apiary saw them (a full ring: the \
                 workers do not keep up)",
                total - before
            ));
        }
    }

    /// Something worth a line (an `XDP_ABORTED` verdict), counted
    /// elsewhere; `why` is only built when no line is waiting already, so
    /// a flood of such frames costs no formatting.
    pub fn note(&self, why: impl FnOnce() -> String) {
        let mut last = self
            .last_problem
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if last.is_none() {
            *last = Some(why());
        }
    }

    fn problem(&self, why: String) {
        let mut last = self
            .last_problem
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *last = Some(why);
    }

    /// Keeps the program's `bpf_trace_printk` lines of one frame.
    pub fn trace(&self, lines: impl ExactSizeIterator<Item = String>) {
        if lines.len() == 0 {
            return;
        }
        let mut buffer = self
            .trace
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for line in lines {
            if buffer.lines.len() < MAX_TRACE_WAITING {
                buffer.lines.push(line);
            } else {
                buffer.dropped += 1;
            }
        }
    }

    /// Takes the waiting trace lines and how many were dropped since the
    /// last call.
    pub fn take_trace(&self) -> (Vec<String>, u64) {
        let mut buffer = self
            .trace
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        (
            std::mem::take(&mut buffer.lines),
            std::mem::take(&mut buffer.dropped),
        )
    }

    /// Takes the latest problem reported since the last call, to be shown once.
    pub fn take_problem(&self) -> Option<String> {
        self.last_problem
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }

    /// The counters now.
    pub fn snapshot(&self) -> Snapshot {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Snapshot {
            frames: load(&self.frames),
            bytes: load(&self.bytes),
            actions: std::array::from_fn(|i| load(&self.actions[i])),
            sent: load(&self.sent),
            send_failed: load(&self.send_failed),
            unsupported: load(&self.unsupported),
            faults: load(&self.faults),
            refused: load(&self.refused),
            lost: load(&self.lost),
            run_ns: load(&self.run_ns),
        }
    }
}

impl Snapshot {
    /// The sum of several queues' counters.
    pub fn total(snapshots: &[Snapshot]) -> Snapshot {
        let mut sum = Snapshot::default();
        for s in snapshots {
            sum.frames += s.frames;
            sum.bytes += s.bytes;
            for (total, n) in sum.actions.iter_mut().zip(s.actions) {
                *total += n;
            }
            sum.sent += s.sent;
            sum.send_failed += s.send_failed;
            sum.unsupported += s.unsupported;
            sum.faults += s.faults;
            sum.refused += s.refused;
            sum.lost += s.lost;
            sum.run_ns += s.run_ns;
        }
        sum
    }

    /// Frames of `action`.
    pub fn action(&self, action: Action) -> u64 {
        self.actions[action.index()]
    }

    /// Mean nanoseconds per frame in the worker (0 without frames).
    pub fn ns_per_frame(&self) -> u64 {
        self.run_ns.checked_div(self.frames).unwrap_or(0)
    }

    /// What happened between `earlier` and `self`.
    pub fn since(&self, earlier: &Snapshot) -> Snapshot {
        Snapshot {
            frames: self.frames - earlier.frames,
            bytes: self.bytes - earlier.bytes,
            actions: std::array::from_fn(|i| self.actions[i] - earlier.actions[i]),
            sent: self.sent - earlier.sent,
            send_failed: self.send_failed - earlier.send_failed,
            unsupported: self.unsupported - earlier.unsupported,
            faults: self.faults - earlier.faults,
            refused: self.refused - earlier.refused,
            lost: self.lost - earlier.lost,
            run_ns: self.run_ns - earlier.run_ns,
        }
    }

    /// `q0 1234 f/s 812 ns/f  drop 10 pass 1224 tx 0 redir 0 abort 0`:
    /// `self` is an interval of `seconds`.
    pub fn rate_line(&self, label: &str, seconds: f64) -> String {
        let rate = if seconds > 0.0 {
            self.frames as f64 / seconds
        } else {
            0.0
        };
        let mut line = format!("{label} {rate:.0} f/s {} ns/f ", self.ns_per_frame());
        self.write_actions(&mut line);
        line
    }

    /// The counters as text: `frames 10 drop 2 pass 8 tx 0 redir 0 abort 0 ...`.
    pub fn summary_line(&self, label: &str) -> String {
        let mut line = format!(
            "{label} frames {} bytes {} ns/frame {} ",
            self.frames,
            self.bytes,
            self.ns_per_frame()
        );
        self.write_actions(&mut line);
        let _ = write!(
            line,
            " sent {} send_failed {} unsupported {} faults {} refused {} lost {}",
            self.sent, self.send_failed, self.unsupported, self.faults, self.refused, self.lost
        );
        line
    }

    fn write_actions(&self, line: &mut String) {
        let short = ["abort", "drop", "pass", "tx", "redir"];
        for (i, name) in short.iter().enumerate() {
            let sep = if i == 0 { "" } else { " " };
            let _ = write!(line, "{sep}{name} {}", self.actions[i]);
        }
    }

    /// The counters as one JSON object (no trailing newline), with the
    /// frames per second of an interval of `seconds` when given.
    pub fn json(&self, queue: Option<u32>, seconds: Option<f64>) -> String {
        let mut out = String::from("{");
        if let Some(queue) = queue {
            let _ = write!(out, "\"queue\":{queue},");
        }
        if let Some(seconds) = seconds.filter(|s| *s > 0.0) {
            let _ = write!(
                out,
                "\"frames_per_sec\":{:.1},",
                self.frames as f64 / seconds
            );
        }
        let _ = write!(
            out,
            "\"frames\":{},\"bytes\":{},\"ns_per_frame\":{},",
            self.frames,
            self.bytes,
            self.ns_per_frame()
        );
        for action in Action::ALL {
            let _ = write!(out, "\"{}\":{},", action.name(), self.action(action));
        }
        let _ = write!(
            out,
            "\"sent\":{},\"send_failed\":{},\"unsupported\":{},\"faults\":{},\"refused\":{},\"lost\":{}}}",
            self.sent, self.send_failed, self.unsupported, self.faults, self.refused, self.lost
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_add_up_and_render() {
        let stats = QueueStats::default();
        let mut tally = Tally::default();
        tally.ran(60, Action::Drop);
        tally.ran(100, Action::Pass);
        stats.ran(&mut tally, 400);
        assert_eq!(tally, Tally::default(), "a tally starts over");
        stats.fault("boom".into());
        let first = stats.snapshot();
        tally.ran(40, Action::Pass);
        stats.ran(&mut tally, 200);
        let now = stats.snapshot();
        assert_eq!(now.frames, 3);
        assert_eq!(now.bytes, 200);
        assert_eq!(now.ns_per_frame(), 200);
        assert_eq!(now.since(&first).frames, 1);
        assert_eq!(stats.take_problem().as_deref(), Some("boom"));
        assert_eq!(stats.take_problem(), None);
        let total = Snapshot::total(&[now, now]);
        assert_eq!(total.action(Action::Pass), 4);
        assert_eq!(
            now.rate_line("q0", 2.0),
            "q0 2 f/s 200 ns/f abort 0 drop 1 pass 2 tx 0 redir 0"
        );
        let json = now.json(Some(0), Some(1.0));
        assert!(json.starts_with("{\"queue\":0,\"frames_per_sec\":3.0,\"frames\":3,"));
        assert!(json.contains("\"XDP_DROP\":1,\"XDP_PASS\":2,"), "{json}");
        assert!(
            json.ends_with("\"faults\":1,\"refused\":0,\"lost\":0}"),
            "{json}"
        );
        stats.lost(3);
        stats.lost(3);
        assert!(
            stats
                .take_problem()
                .is_some_and(|p| p.contains("dropped 3 frame"))
        );
        assert_eq!(stats.take_problem(), None, "a loss is reported once");
        stats.trace((0..MAX_TRACE_WAITING + 2).map(|i| i.to_string()));
        let (lines, dropped) = stats.take_trace();
        assert_eq!((lines.len(), dropped), (MAX_TRACE_WAITING, 2));
        assert_eq!(stats.take_trace(), (Vec::new(), 0));
    }
}
