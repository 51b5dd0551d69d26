//! Watching the kernel log while programs load: the verifier reports its
//! internal inconsistencies (`verifier bug: ...`, a `WARNING` with a stack
//! trace) and the kernel its crashes (`BUG:`, `Oops`) only there, never in
//! the result of `bpf(2)`. Such a report is a kernel bug found by the
//! fuzzer, whatever the backends' results.

use apiary_kernel::{KernelLog, KmsgError, LogRecord};

/// Whether a kernel log line starts a report of a kernel bug: a verifier
/// inconsistency, a `WARN*()`, a `BUG*()` or an oops.
pub fn is_kernel_bug_line(text: &str) -> bool {
    text.contains("verifier bug")
        || text.contains("REG INVARIANTS VIOLATION")
        || text.starts_with("WARNING:")
        || text.starts_with("BUG:")
        || text.starts_with("kernel BUG at")
        || text.starts_with("Oops")
}

/// What the kernel logged about one program: the lines that name the bug
/// and the whole report around them (registers, call trace).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelReport {
    /// The lines [`is_kernel_bug_line`] recognises, in order.
    pub headlines: Vec<String>,
    /// Every line logged while the program was loaded and run.
    pub lines: Vec<String>,
    /// Whether records were overwritten before they were read, so that
    /// part of the report may be missing.
    pub overrun: bool,
}

impl KernelReport {
    /// The report in `records`, or `None` when none of them names a bug.
    pub fn from_records(records: &[LogRecord], overrun: bool) -> Option<KernelReport> {
        let headlines: Vec<String> = records
            .iter()
            .filter(|record| is_kernel_bug_line(&record.text))
            .map(|record| record.text.clone())
            .collect();
        (!headlines.is_empty()).then(|| KernelReport {
            headlines,
            lines: records.iter().map(|record| record.text.clone()).collect(),
            overrun,
        })
    }

    /// `verifier bug: WHAT (WHERE)` of the first verifier inconsistency
    /// (its values dropped), which the verifier also writes into the log
    /// of every load of the program: what shrinking keeps.
    pub fn verifier_bug(&self) -> Option<&str> {
        self.headlines.iter().find_map(|line| {
            let start = line.find("verifier bug: ")?;
            let line = &line[start..];
            Some(
                line.split_once("): ")
                    .map_or(line, |(what, _)| &line[..what.len() + 1]),
            )
        })
    }
}

/// The kernel log, read from the moment it was opened.
#[derive(Debug)]
pub struct LogWatch {
    log: KernelLog,
}

impl LogWatch {
    /// Starts watching: only what the kernel logs from now on is seen.
    pub fn start() -> Result<LogWatch, KmsgError> {
        Ok(LogWatch {
            log: KernelLog::open_at_end()?,
        })
    }

    /// The report of a kernel bug among the records logged since the last
    /// call, if any; records that name no bug are read and dropped.
    pub fn new_report(&mut self) -> Result<Option<KernelReport>, KmsgError> {
        let new = self.log.read_new()?;
        Ok(KernelReport::from_records(&new.records, new.overrun))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(texts: &[&str]) -> Vec<LogRecord> {
        texts
            .iter()
            .enumerate()
            .map(|(sequence, text)| LogRecord {
                level: 4,
                facility: 0,
                sequence: sequence as u64,
                timestamp_us: 0,
                continuation: false,
                text: (*text).to_owned(),
            })
            .collect()
    }

    #[test]
    fn recognises_warnings_bugs_and_oopses_but_not_other_lines() {
        for line in [
            "verifier bug: REG INVARIANTS VIOLATION (true_reg1): range bounds violation",
            "WARNING: CPU: 1 PID: 7 at kernel/bpf/verifier.c:2809 reg_bounds_sanity_check+0x17b/0x230",
            "BUG: kernel NULL pointer dereference, address: 0000000000000000",
            "kernel BUG at mm/slub.c:1234!",
            "Oops: 0000 [#1] PREEMPT SMP NOPTI",
        ] {
            assert!(is_kernel_bug_line(line), "{line}");
        }
        for line in [
            "Speculative Return Stack Overflow: WARNING: See https://kernel.org/",
            "------------[ cut here ]------------",
            "Call Trace:",
            "eth0: link up",
        ] {
            assert!(!is_kernel_bug_line(line), "{line}");
        }
    }

    #[test]
    fn a_report_keeps_every_line_and_names_the_verifier_bug() {
        let report = KernelReport::from_records(
            &records(&[
                "------------[ cut here ]------------",
                "verifier bug: REG INVARIANTS VIOLATION (true_reg1): range bounds violation u64=[0x1, 0x0]",
                "WARNING: CPU: 1 PID: 7 at kernel/bpf/verifier.c:2809 reg_bounds_sanity_check+0x17b/0x230",
                "Call Trace:",
            ]),
            false,
        )
        .expect("a report");
        assert_eq!(report.lines.len(), 4);
        assert_eq!(report.headlines.len(), 2);
        assert_eq!(
            report.verifier_bug(),
            Some("verifier bug: REG INVARIANTS VIOLATION (true_reg1)")
        );
        assert_eq!(
            KernelReport::from_records(&records(&["eth0: link up"]), true),
            None
        );
    }
}
